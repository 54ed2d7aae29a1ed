/*
 * jobctl: the command-line client of jobd.
 *
 *     jobctl [--addr URL] [--json] [--timeout SEC] [--token-file FILE]
 *            [--tls-ca FILE ...] COMMAND [ARGS...]
 *
 * Commands live in one table, `cmds`, one function each, in the manner of
 * git's builtins. Each command parses its own arguments (options may come
 * before or after the others), checks them all before it connects, and
 * returns the process's exit status, so usage errors and --help never touch
 * the network. The table and the first commands are here; the commands of
 * scheduling (retry, pause, resume, schedules; submit's --at, --in and
 * --after) are in jobctl_sched.c, how jobs and kinds are printed in
 * jobctl_print.c, and what they share in jobctl.h.
 *
 * Exit status (printed by --help as well):
 *   0 success; 1 the job failed or was cancelled; 2 usage error or
 *   INVALID_ARGUMENT; 3 unreachable or deadline passed; 4 NOT_FOUND;
 *   5 any other error.
 *
 * Security: the token (--token-file, JOBD_TOKEN, JOBD_TOKEN_FILE) goes in
 * every request's "authorization" metadata and nowhere else: it is never
 * printed. TLS settings have variables of their own, JOBD_CLIENT_TLS_*, so
 * that jobd's JOBD_TLS_* (its own certificate, the CA of its clients) in
 * the same environment are never taken for the client's.
 *
 * Replies are treated as untrusted: every optional submessage is checked,
 * strings from the daemon are printed with control characters replaced, and
 * --json prints the reply's proto message in protobuf's canonical JSON
 * mapping (common/pbjson; jansson escapes everything it must).
 */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "jobctl.h"
#include "jobctl_time.h"
#include "jobd_client.h"
#include "pbjson.h"

#ifndef JOBD_VERSION
#define JOBD_VERSION "unknown"
#endif

#define INPUT_MAX       (1024u * 1024u) /* the most input jobd accepts */
#define WAIT_CHUNK_MS   250u            /* redraw interval while waiting */
#define CALL_TIMEOUT_MS 10000u          /* the client's default timeout */
#define BAR_WIDTH       20
#define LIST_LIMIT      20u   /* jobs `list` prints by default */
#define LIST_PAGE       1000u /* the most jobd returns in one page */
#define MAX_SECONDS_MS  UINT32_MAX

/* Where the token sent came from, for the hint after UNAUTHENTICATED; NULL
 * when none was sent. */
static const char *token_source;

static void print_help(void);
static const struct cmd *find_cmd(const char *name);
static const char *getenv_set(const char *name);

/* ---- messages ---- */

void
ctl_errorf(const char *fmt, ...)
{
	va_list ap;

	fputs("jobctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The exit status for a status code of a call. */
static int
exit_code(int rv)
{
	switch (rv) {
	case JOBD_OK:
		return (0);
	case JOBD_INVALID_ARGUMENT:
		return (EXIT_USAGE);
	case JOBD_UNAVAILABLE:
	case JOBD_DEADLINE_EXCEEDED:
		return (EXIT_UNAVAIL);
	case JOBD_NOT_FOUND:
		return (EXIT_NOTFOUND);
	default:
		return (EXIT_OTHER);
	}
}

/* "jobctl: WHAT failed: CODE: message"; returns the exit status. */
int
ctl_call_failed(int rv, const char *fmt, ...)
{
	static bool hinted; /* once, though cancel may fail for each id */
	va_list ap;

	fputs("jobctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " failed: %s: %s\n", jobd_status_name(rv),
	        jobd_client_errmsg());
	if (rv == JOBD_UNAUTHENTICATED && !hinted) {
		hinted = true;
		if (token_source == NULL)
			ctl_errorf("this jobd needs a token: give it with "
			           "--token-file FILE, JOBD_TOKEN or "
			           "JOBD_TOKEN_FILE");
		else
			ctl_errorf("the token from %s is not this jobd's",
			           token_source);
	}
	return (exit_code(rv));
}

static void
print_usage_line(FILE *f, const struct cmd *cmd)
{
	if (cmd == NULL)
		fprintf(f,
		        "usage: jobctl [--addr URL] [--json] [--timeout SEC] "
		        "[--token-file FILE]\n"
		        "              [--tls-ca FILE] [--tls-cert FILE "
		        "--tls-key FILE]\n"
		        "              [--tls-server-name NAME] COMMAND "
		        "[ARGS...]\n");
	else
		fprintf(f, "usage: jobctl %s %s\n", cmd->name, cmd->args);
}

int
ctl_usage_error(const struct cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("jobctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_usage_line(stderr, cmd);
	if (cmd != NULL)
		fprintf(stderr, "Try 'jobctl %s --help' for more.\n",
		        cmd->name);
	else
		fprintf(stderr, "Try 'jobctl --help' for more.\n");
	return (EXIT_USAGE);
}

static int
print_cmd_help(const struct cmd *cmd)
{
	print_usage_line(stdout, cmd);
	printf("\n%s", cmd->help);
	return (0);
}

/* ---- argument parsing ---- */

/*
 * The next option (its index in specs, with p->val its value), P_ARG for an
 * argument (p->val), P_END, or P_ERR after printing a usage error. Options
 * are "--name VALUE", "--name=VALUE" or "--name"; "-h" is "--help".
 */
static int
next_opt(struct parser *p, const struct optspec *specs)
{
	const char *a;
	const char *name;
	const char *eq;
	size_t n;
	int k;

	if (p->i >= p->argc)
		return (P_END);
	a = p->argv[p->i];
	/* "-" and negative numbers are arguments, not options. */
	if (p->rest || a[0] != '-' || a[1] == '\0' ||
	    (a[1] >= '0' && a[1] <= '9')) {
		p->val = a;
		if (!p->stop)
			p->i++;
		return (P_ARG);
	}
	if (strcmp(a, "--") == 0) {
		p->rest = true;
		p->i++;
		return (next_opt(p, specs));
	}
	name = strcmp(a, "-h") == 0 ? "-help" : a + 1;
	if (name[0] != '-') {
		ctl_usage_error(p->cmd, "unknown option '%s'", a);
		return (P_ERR);
	}
	name++;
	eq = strchr(name, '=');
	n = eq != NULL ? (size_t) (eq - name) : strlen(name);
	for (k = 0; specs[k].name != NULL; k++) {
		if (strlen(specs[k].name) == n &&
		    strncmp(specs[k].name, name, n) == 0)
			break;
	}
	if (specs[k].name == NULL) {
		ctl_usage_error(p->cmd, "unknown option '--%.*s'", (int) n,
		                name);
		return (P_ERR);
	}
	p->i++;
	if (!specs[k].arg) {
		if (eq != NULL) {
			ctl_usage_error(p->cmd, "option '--%s' takes no value",
			                specs[k].name);
			return (P_ERR);
		}
		p->val = NULL;
	} else if (eq != NULL) {
		p->val = eq + 1;
	} else if (p->i < p->argc) {
		p->val = p->argv[p->i++];
	} else {
		ctl_usage_error(p->cmd, "option '--%s' needs a value",
		                specs[k].name);
		return (P_ERR);
	}
	return (k);
}

/*
 * next_opt() for a command's own arguments, taking the options every
 * command has: --json is recorded, --help printed. P_STOP means the command
 * returns: *stop is -1 after --help, EXIT_USAGE after a usage error.
 */
int
ctl_next_cmd_opt(struct jobctl *g, struct parser *p,
                 const struct optspec *specs, int *stop)
{
	for (;;) {
		int k = next_opt(p, specs);
		if (k == O_JSON) {
			g->json = true;
			continue;
		}
		if (k == O_HELP) {
			print_cmd_help(g->cmd);
			*stop = -1;
			return (P_STOP);
		}
		if (k == P_ERR) {
			*stop = EXIT_USAGE;
			return (P_STOP);
		}
		return (k);
	}
}

bool
ctl_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return (false);
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return (false);
		if (v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
			return (false);
		v = v * 10 + (uint64_t) (*s - '0');
	}
	*out = v;
	return (true);
}

static bool
parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	uint64_t u;
	bool neg = false;

	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (!ctl_parse_u64(s, &u))
		return (false);
	if (neg) {
		if (u > (uint64_t) INT64_MAX + 1)
			return (false);
		*out = u == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) u;
	} else {
		if (u > (uint64_t) INT64_MAX)
			return (false);
		*out = (int64_t) u;
	}
	return (*out >= min && *out <= max);
}

/*
 * Seconds as decimal digits with at most one '.', to whole milliseconds
 * (rounded up, so 0.0001 is 1 ms). At most UINT32_MAX ms.
 */
static bool
parse_seconds(const char *s, uint32_t *ms)
{
	uint64_t whole = 0;
	uint64_t frac = 0;
	int fdigits = 0;
	bool round_up = false;
	bool digits = false;
	bool dot = false;

	for (; *s != '\0'; s++) {
		if (*s == '.' && !dot) {
			dot = true;
		} else if (*s >= '0' && *s <= '9') {
			digits = true;
			if (!dot) {
				whole = whole * 10 + (uint64_t) (*s - '0');
				if (whole > UINT32_MAX / 1000u + 1)
					return (false);
			} else if (fdigits < 3) {
				frac = frac * 10 + (uint64_t) (*s - '0');
				fdigits++;
			} else if (*s != '0') {
				round_up = true;
			}
		} else {
			return (false);
		}
	}
	if (!digits)
		return (false);
	for (; fdigits < 3; fdigits++)
		frac *= 10;
	whole = whole * 1000 + frac + (round_up ? 1 : 0);
	if (whole > MAX_SECONDS_MS)
		return (false);
	*ms = (uint32_t) whole;
	return (true);
}

bool
ctl_parse_id(const char *s, uint64_t *id)
{
	return (ctl_parse_u64(s, id) && *id > 0);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* ---- talking to the daemon ---- */

/* The token in `path` into *tokp (malloc'd): the file's first line, a
 * trailing LF or CRLF taken off. 0 or an exit status (message printed). */
static int
read_token(const char *path, char **tokp)
{
	char buf[4100];
	size_t n;
	FILE *f;

	*tokp = NULL;
	if ((f = fopen(path, "re")) == NULL) {
		ctl_errorf("cannot read token file '%s': %s", path,
		           strerror(errno));
		return (EXIT_USAGE);
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (ferror(f)) {
		ctl_errorf("cannot read token file '%s': %s", path,
		           strerror(errno));
		fclose(f);
		return (EXIT_USAGE);
	}
	fclose(f);
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	if (n == 0 || strlen(buf) != n || strchr(buf, '\n') != NULL) {
		ctl_errorf("token file '%s' %s", path,
		           n == 0 ? "is empty"
		                  : "is not one line of text (or is too long)");
		explicit_bzero(buf, sizeof(buf));
		return (EXIT_USAGE);
	}
	*tokp = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (*tokp == NULL) {
		ctl_errorf("out of memory");
		return (EXIT_OTHER);
	}
	return (0);
}

/* Sends the token, if one is given, with every call. 0 or an exit status
 * (message printed). */
static int
set_token(struct jobctl *g)
{
	const char *env = getenv_set("JOBD_TOKEN");
	const char *path = g->token_file;
	char *tok = NULL;
	int rc;

	if (path == NULL && env != NULL) {
		token_source = "JOBD_TOKEN";
		rc = jobd_client_set_token(g->client, env) == JOBD_OK
		         ? 0
		         : EXIT_OTHER;
		goto out;
	}
	if (path == NULL)
		path = getenv_set("JOBD_TOKEN_FILE");
	if (path == NULL)
		return (0);
	if ((rc = read_token(path, &tok)) != 0)
		return (rc);
	token_source =
	    path == g->token_file ? "--token-file" : "JOBD_TOKEN_FILE";
	rc = jobd_client_set_token(g->client, tok) == JOBD_OK ? 0 : EXIT_OTHER;
	explicit_bzero(tok, strlen(tok));
	free(tok);
out:
	if (rc != 0)
		ctl_errorf("%s", jobd_client_errmsg());
	return (rc);
}

/* Opens the client on first use; 0 or an exit status (message printed). */
int
ctl_connect(struct jobctl *g)
{
	int rv;

	if (g->client != NULL)
		return (0);
	rv = jobd_client_open_tls(&g->client, g->addr, &g->tls);
	if (rv != JOBD_OK) {
		g->open_failed = true;
		ctl_errorf("%s", jobd_client_errmsg());
		return (exit_code(rv));
	}
	if (g->timeout_ms != 0)
		jobd_client_set_timeout(g->client, g->timeout_ms);
	/* Only informative; a failure here is not worth stopping for. */
	(void) jobd_client_set_metadata(g->client, "user-agent",
	                                "jobctl/" JOBD_VERSION);
	return (set_token(g));
}

/* The job with `id` in a list of jobs, or NULL. */
static Jobd__V1__Job *
find_job(Jobd__V1__Job **jobs, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++) {
		if (jobs != NULL && jobs[i] != NULL && jobs[i]->id == id)
			return (jobs[i]);
	}
	return (NULL);
}

/* Whether a Get reply lists `id` as missing. An id that a reply has
 * neither as a job nor as missing makes the reply malformed. */
static bool
listed_missing(const Jobd__V1__GetReply *rep, uint64_t id)
{
	for (size_t i = 0; rep->missing != NULL && i < rep->n_missing; i++) {
		if (rep->missing[i] == id)
			return (true);
	}
	return (false);
}

/* "job N not found" (EXIT_NOTFOUND) if the reply says so, else "WHAT
 * failed: malformed reply" (EXIT_OTHER). */
static int
not_in_reply(const Jobd__V1__GetReply *rep, uint64_t id, const char *what)
{
	fflush(stdout);
	if (listed_missing(rep, id)) {
		ctl_errorf("job %" PRIu64 " not found", id);
		return (EXIT_NOTFOUND);
	}
	return (ctl_malformed("%s failed: malformed reply: job %" PRIu64
	                      " is neither among the jobs nor missing",
	                      what, id));
}

/*
 * Says how an ended (or not) job came out: the result on stdout, or why
 * not on stderr; with --json the job as JSON. Returns the exit status.
 */
static int
report_outcome(struct jobctl *g, Jobd__V1__Job *j)
{
	int rc;

	switch (j->state) {
	case JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED:
		rc = 0;
		break;
	case JOBD__V1__JOB_STATE__JOB_STATE_FAILED:
	case JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED:
		rc = EXIT_JOB;
		break;
	default:
		rc = EXIT_OTHER;
		break;
	}
	if (g->json)
		return (ctl_json_msg(&j->base) != 0 ? EXIT_OTHER : rc);
	switch (j->state) {
	case JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED:
		/* the result's bytes exactly (a binary result redirected to
		 * a file stays whole); a newline only for a terminal */
		if (j->result.len > 0 && j->result.data != NULL)
			fwrite(j->result.data, 1, j->result.len, stdout);
		if (isatty(STDOUT_FILENO) &&
		    (j->result.len == 0 || j->result.data == NULL ||
		     j->result.data[j->result.len - 1] != '\n'))
			putchar('\n');
		break;
	case JOBD__V1__JOB_STATE__JOB_STATE_FAILED:
	case JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED:
		if (j->error != NULL && *j->error != '\0')
			ctl_errorf("job %" PRIu64 " %s: %s", j->id,
			           ctl_state_name(j->state), ctl_tx(j->error));
		else
			ctl_errorf("job %" PRIu64 " %s", j->id,
			           ctl_state_name(j->state));
		break;
	default:
		ctl_errorf("job %" PRIu64 " has not finished (%s)", j->id,
		           ctl_state_name(j->state));
		break;
	}
	return (rc);
}

/* Draws "[#####.....]  37%  count #42  3.2s" over the current line. */
static void
draw_bar(Jobd__V1__Job *j, uint64_t id)
{
	char age[64];
	int pct = ctl_percent(j);
	int fill = pct * BAR_WIDTH / 100;

	if (j->state == JOBD__V1__JOB_STATE__JOB_STATE_RUNNING) {
		ctl_fmt_dur(age, sizeof(age),
		            ctl_diff_ms(ctl_now_ms(), j->started_at_ms != 0
		                                          ? j->started_at_ms
		                                          : j->created_at_ms));
	} else {
		ctl_fmt_age(age, sizeof(age), j, ctl_now_ms());
	}
	fputc('\r', stderr);
	fputc('[', stderr);
	for (int i = 0; i < BAR_WIDTH; i++)
		fputc(i < fill ? '#' : '.', stderr);
	fprintf(stderr, "] %3d%%  %s #%" PRIu64 "  %s\033[K", pct,
	        ctl_tx(j->kind), id, age);
	fflush(stderr);
}

static void
clear_bar(bool *drawn)
{
	if (*drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		*drawn = false;
	}
}

/*
 * Gets job `id` for wait_job. With a wait timeout, the call's deadline is
 * cut to what is left of it plus a second, so that a daemon that stopped
 * answering does not hold the wait long past its timeout.
 */
static int
get_one(struct jobctl *g, uint64_t id, uint32_t timeout_ms, int64_t start,
        Jobd__V1__GetReply **reply)
{
	Jobd__V1__GetRequest req = JOBD__V1__GET_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	uint32_t deadline =
	    g->timeout_ms != 0 ? g->timeout_ms : CALL_TIMEOUT_MS;
	int64_t left;
	int rv;

	if (timeout_ms != 0) {
		left = (int64_t) timeout_ms - (mono_ms() - start);
		if (left < 0)
			left = 0;
		if (left + 1000 < (int64_t) deadline)
			deadline = (uint32_t) (left + 1000);
	}
	req.n_ids = 1;
	req.ids = &id;
	rv = jobd_call(g->client, "Get", &req.base,
	               &jobd__v1__get_reply__descriptor, &m, deadline);
	*reply = (Jobd__V1__GetReply *) m;
	return (rv);
}

/*
 * Waits for job `id` to end, at most timeout_ms (0 = forever), in chunks so
 * that a progress bar can be redrawn. Returns the exit status.
 */
static int
wait_job(struct jobctl *g, uint64_t id, uint32_t timeout_ms)
{
	Jobd__V1__WaitReply *wr;
	Jobd__V1__GetReply *gr;
	Jobd__V1__Job *j;
	int64_t start = mono_ms();
	int64_t t0;
	int last = JOBD__V1__JOB_STATE__JOB_STATE_UNSPECIFIED;
	bool tty = isatty(STDERR_FILENO);
	bool drawn = false;
	uint32_t chunk;
	int rc;
	int rv;

	if ((rc = ctl_connect(g)) != 0)
		return (rc);
	for (;;) {
		chunk = WAIT_CHUNK_MS;
		if (timeout_ms != 0) {
			int64_t left =
			    (int64_t) timeout_ms - (mono_ms() - start);
			if (left <= 0)
				break;
			if (left < (int64_t) chunk)
				chunk = (uint32_t) left;
		}
		t0 = mono_ms();
		rv = jobd_wait(g->client, id, chunk, &wr);
		if (rv == JOBD_OK) {
			clear_bar(&drawn);
			if (wr->job == NULL)
				rc = ctl_malformed(
				    "wait for job %" PRIu64
				    " failed: malformed reply: no job",
				    id);
			else if (!ctl_state_ended(wr->job->state))
				rc = ctl_malformed(
				    "wait for job %" PRIu64
				    " failed: malformed reply: job is "
				    "%s",
				    id, ctl_state_name(wr->job->state));
			else
				rc = report_outcome(g, wr->job);
			jobd__v1__wait_reply__free_unpacked(wr, NULL);
			return (rc);
		}
		if (rv != JOBD_DEADLINE_EXCEEDED) {
			clear_bar(&drawn);
			return (
			    ctl_call_failed(rv, "wait for job %" PRIu64, id));
		}
		/* The chunk passed: look at the job (and at the daemon). */
		if ((rv = get_one(g, id, timeout_ms, start, &gr)) != JOBD_OK) {
			clear_bar(&drawn);
			return (ctl_call_failed(rv, "get job %" PRIu64, id));
		}
		if ((j = find_job(gr->jobs, gr->n_jobs, id)) == NULL) {
			clear_bar(&drawn);
			rc = not_in_reply(gr, id, "wait");
			jobd__v1__get_reply__free_unpacked(gr, NULL);
			return (rc);
		}
		if (ctl_state_ended(j->state)) {
			clear_bar(&drawn);
			rc = report_outcome(g, j);
			jobd__v1__get_reply__free_unpacked(gr, NULL);
			return (rc);
		}
		last = j->state;
		if (tty) {
			draw_bar(j, id);
			drawn = true;
		}
		jobd__v1__get_reply__free_unpacked(gr, NULL);
		/* A daemon that answers at once must not make this spin. */
		if (mono_ms() - t0 < (int64_t) chunk / 2) {
			struct timespec ts = {0, 100 * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	clear_bar(&drawn);
	ctl_errorf("timed out waiting for job %" PRIu64 " (still %s)", id,
	           last != JOBD__V1__JOB_STATE__JOB_STATE_UNSPECIFIED
	               ? ctl_state_name(last)
	               : "not finished");
	return (EXIT_UNAVAIL);
}

/* ---- commands ---- */

/* Reads all of path ("-": stdin), at most INPUT_MAX bytes. */
static int
read_input(const char *path, uint8_t **bufp, size_t *lenp)
{
	FILE *f;
	uint8_t *buf = NULL;
	uint8_t *nb;
	size_t cap = 0;
	size_t len = 0;
	size_t n;
	int rc = 0;

	if (strcmp(path, "-") == 0)
		f = stdin;
	else if ((f = fopen(path, "rb")) == NULL) {
		ctl_errorf("cannot open input '%s': %s", path, strerror(errno));
		return (EXIT_USAGE);
	}
	for (;;) {
		if (len == cap) {
			if (cap > INPUT_MAX) {
				ctl_errorf(
				    "input '%s' is larger than %u bytes, "
				    "the most jobd accepts",
				    path, INPUT_MAX);
				rc = EXIT_USAGE;
				break;
			}
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > INPUT_MAX + 1)
				cap = INPUT_MAX + 1;
			if ((nb = realloc(buf, cap)) == NULL) {
				ctl_errorf(
				    "cannot read input '%s': out of memory",
				    path);
				rc = EXIT_OTHER;
				break;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f)) {
				ctl_errorf("cannot read input '%s': %s", path,
				           strerror(errno));
				rc = EXIT_USAGE;
			}
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (rc != 0) {
		free(buf);
		return (rc);
	}
	*bufp = buf;
	*lenp = len;
	return (0);
}

static int
cmd_submit(struct jobctl *g, int argc, char **argv)
{
	enum {
		O_INPUT = O_FIRST,
		O_PRIORITY,
		O_TIMEOUT,
		O_RETRIES,
		O_KEY,
		O_WAIT,
		O_AT,
		O_IN,
		O_AFTER,
		O_UNIQUE
	};
	static const struct optspec opts[] = {
	    COMMON_OPTS,       {"input", true},   {"priority", true},
	    {"timeout", true}, {"retries", true}, {"key", true},
	    {"wait", false},   {"at", true},      {"in", true},
	    {"after", true},   {"unique", true},  {NULL, false}};
	struct parser p = {argc, argv, 1, false, false, NULL, g->cmd};
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry *ents = NULL;
	Jobd__V1__SubmitRequest__ParamsEntry **ptrs = NULL;
	Jobd__V1__SubmitReply *rep = NULL;
	const char *kind = NULL;
	const char *input = NULL;
	const char *key = NULL;
	char keybuf[33];
	uint8_t *data = NULL;
	size_t dlen = 0;
	size_t np = 0;
	bool wait = false;
	const char *at = NULL; /* --at or --in as given, for the message */
	const char *in = NULL;
	int64_t v;
	uint64_t id;
	int rc = 0;
	int rv;
	int k;

	ents = calloc((size_t) argc, sizeof(*ents));
	ptrs = calloc((size_t) argc, sizeof(*ptrs));
	if (ents == NULL || ptrs == NULL) {
		ctl_errorf("out of memory");
		rc = EXIT_OTHER;
		goto done;
	}
	while ((k = ctl_next_cmd_opt(g, &p, opts, &rc)) != P_END) {
		switch (k) {
		case P_STOP:
			if (rc < 0)
				rc = 0; /* --help */
			goto done;
		case O_INPUT:
			input = p.val;
			break;
		case O_PRIORITY:
			if (!parse_i64(p.val, INT32_MIN, INT32_MAX, &v)) {
				rc = ctl_usage_error(
				    g->cmd,
				    "invalid priority '%s' (expected an "
				    "integer)",
				    p.val);
				goto done;
			}
			req.priority = (int32_t) v;
			break;
		case O_TIMEOUT:
			if (!parse_seconds(p.val, &req.timeout_ms)) {
				rc = ctl_usage_error(
				    g->cmd,
				    "invalid timeout '%s' (expected seconds)",
				    p.val);
				goto done;
			}
			break;
		case O_RETRIES:
			if (!parse_i64(p.val, 0, UINT32_MAX - 1, &v)) {
				rc = ctl_usage_error(
				    g->cmd,
				    "invalid retries '%s' (expected a count)",
				    p.val);
				goto done;
			}
			req.max_attempts = (uint32_t) v + 1;
			break;
		case O_KEY:
			if (*p.val == '\0') {
				rc = ctl_usage_error(g->cmd, "empty --key");
				goto done;
			}
			key = p.val;
			break;
		case O_WAIT:
			wait = true;
			break;
		case O_AT:
			at = p.val;
			if ((rc = ctl_opt_at(g->cmd, p.val, &req.run_at_ms)) !=
			    0)
				goto done;
			break;
		case O_IN:
			in = p.val;
			if ((rc = ctl_opt_in(g->cmd, p.val, &req.delay_ms)) !=
			    0)
				goto done;
			break;
		case O_AFTER:
			if ((rc = ctl_opt_after(g->cmd, p.val, &req.after,
			                        &req.n_after)) != 0)
				goto done;
			break;
		case O_UNIQUE:
			if (*p.val == '\0') {
				rc = ctl_usage_error(g->cmd, "empty --unique");
				goto done;
			}
			req.unique_key = (char *) p.val;
			break;
		case P_ARG: {
			char *eq;
			if (kind == NULL) {
				if (*p.val == '\0') {
					rc = ctl_usage_error(g->cmd,
					                     "empty KIND");
					goto done;
				}
				kind = p.val;
				break;
			}
			eq = strchr(p.val, '=');
			if (eq == NULL || eq == p.val) {
				rc = ctl_usage_error(
				    g->cmd,
				    "invalid parameter '%s' (expected "
				    "NAME=VALUE)",
				    p.val);
				goto done;
			}
			jobd__v1__submit_request__params_entry__init(&ents[np]);
			/* argv is ours to cut at the '='. */
			*eq = '\0';
			ents[np].key = (char *) p.val;
			ents[np].value = eq + 1;
			ptrs[np] = &ents[np];
			np++;
			break;
		}
		default:
			break;
		}
	}
	if (kind == NULL) {
		rc = ctl_usage_error(g->cmd, "missing KIND");
		goto done;
	}
	if (at != NULL && in != NULL) {
		rc = ctl_usage_error(g->cmd,
		                     "give --at or --in, not both (--at '%s', "
		                     "--in '%s')",
		                     at, in);
		goto done;
	}
	if (input != NULL && (rc = read_input(input, &data, &dlen)) != 0)
		goto done;
	if (key == NULL) {
		jobd_new_key(keybuf);
		key = keybuf;
	}
	req.kind = (char *) kind;
	req.n_params = np;
	req.params = ptrs;
	req.input.data = data;
	req.input.len = dlen;
	req.idempotency_key = (char *) key;

	if ((rc = ctl_connect(g)) != 0)
		goto done;
	if ((rv = jobd_submit(g->client, &req, &rep)) != JOBD_OK) {
		rc = ctl_call_failed(rv, "submit '%s'", kind);
		goto done;
	}
	if (rep->job == NULL || rep->job->id == 0) {
		rc = ctl_malformed(
		    "submit '%s' failed: malformed reply: no job", kind);
		goto done;
	}
	id = rep->job->id;
	if (g->json) {
		if (!wait && (rc = ctl_json_msg(&rep->base)) != 0)
			goto done;
	} else {
		/* with --wait, standard output is the result alone, so that
		 * `--wait > file` keeps a binary result whole: the id goes to
		 * standard error */
		fprintf(wait ? stderr : stdout, "%" PRIu64 "\n", id);
	}
	if (wait) {
		fflush(stdout);
		rc = wait_job(g, id, 0);
	}
done:
	if (rep != NULL)
		jobd__v1__submit_reply__free_unpacked(rep, NULL);
	free(data);
	free(ptrs);
	free(ents);
	free(req.after);
	return (rc);
}

/* Collects the job ids of a command's arguments; 0 or an exit status. */
static int
parse_ids(struct jobctl *g, struct parser *p, uint64_t **idsp, size_t *np)
{
	static const struct optspec opts[] = {COMMON_OPTS, {NULL, false}};
	uint64_t *ids;
	size_t n = 0;
	int k;

	*idsp = NULL;
	if ((ids = calloc((size_t) p->argc, sizeof(*ids))) == NULL) {
		ctl_errorf("out of memory");
		return (EXIT_OTHER);
	}
	while ((k = next_opt(p, opts)) != P_END) {
		if (k == P_ERR) {
			free(ids);
			return (EXIT_USAGE);
		}
		if (k == O_HELP) {
			free(ids);
			print_cmd_help(g->cmd);
			return (-1);
		}
		if (k == O_JSON) {
			g->json = true;
			continue;
		}
		if (!ctl_parse_id(p->val, &ids[n])) {
			free(ids);
			return (ctl_usage_error(g->cmd, "invalid job id '%s'",
			                        p->val));
		}
		n++;
	}
	if (n == 0) {
		free(ids);
		return (ctl_usage_error(g->cmd, "missing job id"));
	}
	*idsp = ids;
	*np = n;
	return (0);
}

static int
cmd_status(struct jobctl *g, int argc, char **argv)
{
	struct parser p = {argc, argv, 1, false, false, NULL, g->cmd};
	Jobd__V1__GetReply *rep;
	Jobd__V1__Job *j;
	uint64_t *ids;
	size_t n;
	int64_t now;
	int rc;
	int rv;

	if ((rc = parse_ids(g, &p, &ids, &n)) != 0)
		return (rc < 0 ? 0 : rc);
	if ((rc = ctl_connect(g)) != 0) {
		free(ids);
		return (rc);
	}
	if ((rv = jobd_get(g->client, ids, n, &rep)) != JOBD_OK) {
		free(ids);
		return (ctl_call_failed(rv, "status"));
	}
	now = ctl_now_ms();
	for (size_t i = 0; i < n; i++) {
		if ((j = find_job(rep->jobs, rep->n_jobs, ids[i])) == NULL) {
			/* a malformed reply outweighs a job not found */
			int r = not_in_reply(rep, ids[i], "status");
			if (rc != EXIT_OTHER)
				rc = r;
		} else if (g->json) {
			if (ctl_json_msg(&j->base) != 0)
				rc = EXIT_OTHER;
		} else {
			ctl_print_job_line(j, now);
			ctl_print_job_detail(j);
		}
	}
	jobd__v1__get_reply__free_unpacked(rep, NULL);
	free(ids);
	return (rc);
}

/* One id and the given options; 0, -1 after --help, or an exit status. */
int
ctl_parse_one_id(struct jobctl *g, int argc, char **argv, uint64_t *id,
                 uint32_t *timeout_ms)
{
	static const struct optspec opts[] = {
	    COMMON_OPTS, {"timeout", true}, {NULL, false}};
	const struct optspec *o = opts;
	struct parser p = {argc, argv, 1, false, false, NULL, g->cmd};
	static const struct optspec no_timeout[] = {COMMON_OPTS, {NULL, false}};
	bool have = false;
	int k, stop;

	if (timeout_ms == NULL)
		o = no_timeout;
	while ((k = ctl_next_cmd_opt(g, &p, o, &stop)) != P_END) {
		switch (k) {
		case P_STOP:
			return (stop);
		case O_FIRST: /* --timeout */
			if (!parse_seconds(p.val, timeout_ms) ||
			    *timeout_ms == 0)
				return (ctl_usage_error(
				    g->cmd,
				    "invalid timeout '%s' (expected seconds "
				    "> 0)",
				    p.val));
			break;
		case P_ARG:
			if (have)
				return (ctl_usage_error(
				    g->cmd, "unexpected argument '%s'", p.val));
			if (!ctl_parse_id(p.val, id))
				return (ctl_usage_error(
				    g->cmd, "invalid job id '%s'", p.val));
			have = true;
			break;
		default:
			break;
		}
	}
	if (!have)
		return (ctl_usage_error(g->cmd, "missing job id"));
	return (0);
}

static int
cmd_wait(struct jobctl *g, int argc, char **argv)
{
	uint32_t timeout_ms = 0;
	uint64_t id;
	int rc;

	if ((rc = ctl_parse_one_id(g, argc, argv, &id, &timeout_ms)) != 0)
		return (rc < 0 ? 0 : rc);
	return (wait_job(g, id, timeout_ms));
}

static int
cmd_result(struct jobctl *g, int argc, char **argv)
{
	Jobd__V1__GetReply *rep;
	Jobd__V1__Job *j;
	uint64_t id;
	int rc;
	int rv;

	if ((rc = ctl_parse_one_id(g, argc, argv, &id, NULL)) != 0)
		return (rc < 0 ? 0 : rc);
	if ((rc = ctl_connect(g)) != 0)
		return (rc);
	if ((rv = jobd_get(g->client, &id, 1, &rep)) != JOBD_OK)
		return (ctl_call_failed(rv, "get job %" PRIu64, id));
	if ((j = find_job(rep->jobs, rep->n_jobs, id)) == NULL)
		rc = not_in_reply(rep, id, "result");
	else
		rc = report_outcome(g, j);
	jobd__v1__get_reply__free_unpacked(rep, NULL);
	return (rc);
}

static int
cmd_cancel(struct jobctl *g, int argc, char **argv)
{
	struct parser p = {argc, argv, 1, false, false, NULL, g->cmd};
	Jobd__V1__CancelReply *rep;
	uint64_t *ids;
	size_t n;
	int rc;
	int rv;
	int first = 0;

	if ((rc = parse_ids(g, &p, &ids, &n)) != 0)
		return (rc < 0 ? 0 : rc);
	if ((rc = ctl_connect(g)) != 0) {
		free(ids);
		return (rc);
	}
	for (size_t i = 0; i < n; i++) {
		rv = jobd_cancel(g->client, ids[i], &rep);
		if (rv != JOBD_OK) {
			fflush(stdout);
			rc = ctl_call_failed(rv, "cancel job %" PRIu64, ids[i]);
			if (first == 0)
				first = rc;
			/* With the daemon gone, the others would only wait. */
			if (rc == EXIT_UNAVAIL)
				break;
			continue;
		}
		if (rep->job == NULL) {
			fflush(stdout);
			rc = ctl_malformed("cancel job %" PRIu64
			                   " failed: malformed reply: no job",
			                   ids[i]);
			if (first == 0)
				first = rc;
		} else if (g->json) {
			if (ctl_json_msg(&rep->job->base) != 0 && first == 0)
				first = EXIT_OTHER;
		} else if (rep->job->state ==
		           JOBD__V1__JOB_STATE__JOB_STATE_RUNNING) {
			printf("%" PRIu64 " running (cancel requested)\n",
			       ids[i]);
		} else {
			printf("%" PRIu64 " %s\n", ids[i],
			       ctl_state_name(rep->job->state));
		}
		jobd__v1__cancel_reply__free_unpacked(rep, NULL);
	}
	free(ids);
	return (first);
}

static int
cmd_list(struct jobctl *g, int argc, char **argv)
{
	enum { O_STATE = O_FIRST, O_KIND, O_LIMIT };
	static const struct optspec opts[] = {COMMON_OPTS,
	                                      {"state", true},
	                                      {"kind", true},
	                                      {"limit", true},
	                                      {NULL, false}};
	struct parser p = {argc, argv, 1, false, false, NULL, g->cmd};
	Jobd__V1__ListRequest req = JOBD__V1__LIST_REQUEST__INIT;
	Jobd__V1__ListReply *rep;
	uint64_t limit = LIST_LIMIT;
	uint64_t printed = 0;
	int64_t now;
	int st;
	int rc;
	int rv;
	int k, stop;

	while ((k = ctl_next_cmd_opt(g, &p, opts, &stop)) != P_END) {
		switch (k) {
		case P_STOP:
			return (stop < 0 ? 0 : stop);
		case O_STATE:
			if ((st = ctl_parse_state(p.val)) < 0)
				return (ctl_usage_error(
				    g->cmd,
				    "invalid state '%s' (expected scheduled, "
				    "queued, running, succeeded, failed or "
				    "cancelled)",
				    p.val));
			req.state = (Jobd__V1__JobState) st;
			break;
		case O_KIND:
			req.kind = (char *) p.val;
			break;
		case O_LIMIT:
			if (!ctl_parse_u64(p.val, &limit))
				return (ctl_usage_error(
				    g->cmd,
				    "invalid limit '%s' (expected a count; 0 "
				    "for all)",
				    p.val));
			break;
		case P_ARG:
			return (ctl_usage_error(
			    g->cmd, "unexpected argument '%s'", p.val));
		default:
			break;
		}
	}
	if ((rc = ctl_connect(g)) != 0)
		return (rc);
	for (;;) {
		uint64_t want = limit == 0 ? LIST_PAGE : limit - printed;
		req.limit = (uint32_t) (want < LIST_PAGE ? want : LIST_PAGE);
		if ((rv = jobd_list(g->client, &req, &rep)) != JOBD_OK)
			return (ctl_call_failed(rv, "list"));
		now = ctl_now_ms();
		for (size_t i = 0; i < rep->n_jobs; i++) {
			if (limit != 0 && printed >= limit)
				break;
			if (rep->jobs == NULL || rep->jobs[i] == NULL)
				continue;
			if (g->json) {
				if (ctl_json_msg(&rep->jobs[i]->base) != 0) {
					jobd__v1__list_reply__free_unpacked(
					    rep, NULL);
					return (EXIT_OTHER);
				}
			} else
				ctl_print_job_line(rep->jobs[i], now);
			printed++;
		}
		/* Stop at the end, and on a cursor that goes nowhere. */
		bool more = rep->n_jobs > 0 && rep->next_cursor != 0 &&
		            rep->next_cursor != req.cursor &&
		            (limit == 0 || printed < limit);
		req.cursor = rep->next_cursor;
		jobd__v1__list_reply__free_unpacked(rep, NULL);
		if (!more)
			break;
	}
	return (0);
}

/* A command that takes only the common options: parses them and connects.
 * 0 to go on, -1 after --help, or an exit status. */
int
ctl_start_plain(struct jobctl *g, int argc, char **argv)
{
	static const struct optspec opts[] = {COMMON_OPTS, {NULL, false}};
	struct parser p = {argc, argv, 1, false, false, NULL, g->cmd};
	int k, stop;

	while ((k = ctl_next_cmd_opt(g, &p, opts, &stop)) != P_END) {
		switch (k) {
		case P_STOP:
			return (stop);
		case P_ARG:
			return (ctl_usage_error(
			    g->cmd, "unexpected argument '%s'", p.val));
		default:
			break;
		}
	}
	return (ctl_connect(g));
}

static int
cmd_stats(struct jobctl *g, int argc, char **argv)
{
	Jobd__V1__StatsReply *s;
	char up[32];
	int rc;
	int rv;

	if ((rc = ctl_start_plain(g, argc, argv)) != 0)
		return (rc < 0 ? 0 : rc);
	if ((rv = jobd_stats(g->client, &s)) != JOBD_OK)
		return (ctl_call_failed(rv, "stats"));
	if (g->json) {
		rc = ctl_json_msg(&s->base);
	} else {
		ctl_fmt_dur(up, sizeof(up), s->uptime_ms);
		printf("workers: %" PRIu32 "\n", s->workers);
		printf("busy: %" PRIu32 "\n", s->busy_workers);
		printf("scheduled: %" PRIu64 "\n", s->scheduled);
		printf("queued: %" PRIu64 "\n", s->queued);
		printf("running: %" PRIu64 "\n", s->running);
		printf("succeeded: %" PRIu64 "\n", s->succeeded);
		printf("failed: %" PRIu64 "\n", s->failed);
		printf("cancelled: %" PRIu64 "\n", s->cancelled);
		printf("submitted: %" PRIu64 "\n", s->submitted);
		printf("retried: %" PRIu64 "\n", s->retried);
		printf("recovered: %" PRIu64 "\n", s->recovered);
		if (s->max_queue == 0)
			printf("max_queue: unlimited\n");
		else
			printf("max_queue: %" PRIu64 "\n", s->max_queue);
		printf("waiting for a kind: %" PRIu64 "\n", s->waiting_kind);
		printf("connections: %" PRIu32 "\n", s->connections);
		printf("parked calls: %" PRIu64 "\n", s->parked_calls);
		printf("dropped replies: %" PRIu64 "\n", s->dropped_replies);
		printf("refused calls: %" PRIu64 "\n", s->refused_calls);
		printf("commits: %" PRIu64 "\n", s->commits);
		printf("paused kinds:");
		for (size_t i = 0;
		     s->paused_kinds != NULL && i < s->n_paused_kinds; i++)
			printf("%s %s", i > 0 ? "," : "",
			       ctl_tx(s->paused_kinds[i]));
		printf("%s\n", s->n_paused_kinds == 0 ? " none" : "");
		printf("uptime: %s\n", up);
		printf("version: %s\n", ctl_tx(s->version));
	}
	jobd__v1__stats_reply__free_unpacked(s, NULL);
	return (rc);
}

static int
cmd_kinds(struct jobctl *g, int argc, char **argv)
{
	Jobd__V1__KindsReply *rep;
	int rc;
	int rv;

	if ((rc = ctl_start_plain(g, argc, argv)) != 0)
		return (rc < 0 ? 0 : rc);
	if ((rv = jobd_kinds(g->client, &rep)) != JOBD_OK)
		return (ctl_call_failed(rv, "kinds"));
	for (size_t i = 0; i < rep->n_kinds; i++) {
		if (rep->kinds == NULL || rep->kinds[i] == NULL)
			continue;
		if (g->json) {
			if ((rc = ctl_json_msg(&rep->kinds[i]->base)) != 0)
				break;
		} else {
			ctl_print_kind(rep->kinds[i]);
		}
	}
	jobd__v1__kinds_reply__free_unpacked(rep, NULL);
	return (rc);
}

static int
cmd_ping(struct jobctl *g, int argc, char **argv)
{
	Jobd__V1__PingReply *rep;
	struct timespec t0;
	struct timespec t1;
	double ms;
	int rc;
	int rv;

	if ((rc = ctl_start_plain(g, argc, argv)) != 0)
		return (rc < 0 ? 0 : rc);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rv = jobd_ping(g->client, &rep);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rv != JOBD_OK)
		return (ctl_call_failed(rv, "ping"));
	ms = (double) (t1.tv_sec - t0.tv_sec) * 1e3 +
	     (double) (t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (g->json) {
		/* the PingReply and "rttMs", in ms to the microsecond (nine
		 * digits print it exactly) */
		json_t *o = pbjson_encode(&rep->base);
		if (o != NULL &&
		    json_object_set_new(
		        o, "rttMs", json_real(round(ms * 1000) / 1000)) != 0) {
			json_decref(o);
			o = NULL;
		}
		rc = ctl_json_put(o, JSON_REAL_PRECISION(9));
	} else {
		printf("pong from jobd %s in %.3f ms\n",
		       rep->version != NULL && *rep->version != '\0'
		           ? ctl_tx(rep->version)
		           : "(unknown version)",
		       ms);
	}
	jobd__v1__ping_reply__free_unpacked(rep, NULL);
	return (rc);
}

static int
cmd_help(struct jobctl *g, int argc, char **argv)
{
	static const struct optspec opts[] = {COMMON_OPTS, {NULL, false}};
	struct parser p = {argc, argv, 1, false, false, NULL, g->cmd};
	const struct cmd *c = NULL;
	int k;

	while ((k = next_opt(&p, opts)) != P_END) {
		switch (k) {
		case P_ERR:
			return (EXIT_USAGE);
		case O_HELP:
			return (print_cmd_help(g->cmd));
		case P_ARG:
			if (c != NULL)
				return (ctl_usage_error(
				    g->cmd, "unexpected argument '%s'", p.val));
			if ((c = find_cmd(p.val)) == NULL)
				return (ctl_usage_error(
				    g->cmd, "unknown command '%s'", p.val));
			break;
		default:
			break;
		}
	}
	if (c == NULL)
		print_help();
	else
		print_cmd_help(c);
	return (0);
}

static const struct cmd cmds[] = {
    {"submit", cmd_submit,
     "KIND [NAME=VALUE ...] [--input FILE|-] [--priority N]\n"
     "                     [--timeout SEC] [--retries N] [--key KEY] "
     "[--wait]\n"
     "                     [--at TIME | --in DURATION] [--after "
     "ID[,ID...]]\n"
     "                     [--unique KEY]",
     "submit a job and print its id",
     "Submits a job of kind KIND with parameters NAME=VALUE and prints "
     "its id.\n"
     "Run 'jobctl kinds' for the kinds and their parameters. Options "
     "may come\n"
     "before or after the parameters.\n"
     "\n"
     "Options:\n"
     "  --input FILE   send FILE as the job's input; '-' reads standard "
     "input\n"
     "                 (at most 1 MiB)\n"
     "  --priority N   higher runs first (default 0)\n"
     "  --timeout SEC  stop the job when a run takes longer than SEC "
     "seconds\n"
     "                 (default: no limit)\n"
     "  --retries N    run the job again up to N times when it fails "
     "(default 0)\n"
     "  --key KEY      idempotency key: submitting the same key again "
     "returns the\n"
     "                 first job instead of a new one (default: a fresh "
     "random key)\n"
     "  --at TIME      do not start it before TIME; until then it is "
     "scheduled.\n"
     "                 TIME is 2026-12-06T10:00:00Z or "
     "2026-12-06T10:00:00+01:00\n"
     "                 (RFC 3339), 2026-12-06T10:00 or '2026-12-06 "
     "10:00:30' (local\n"
     "                 time), or @UNIXSECONDS. A time past runs it now\n"
     "  --in DURATION  do not start it before DURATION from now: 500ms, "
     "90s, 10m,\n"
     "                 2h, 1d, 1h30m (parts are added up). Not with --at\n"
     "  --after ID[,ID...]\n"
     "                 run it only once each of these jobs has "
     "succeeded; if one\n"
     "                 fails or is cancelled, this one is cancelled. "
     "May be given\n"
     "                 more than once\n"
     "  --unique KEY   while a job with this unique key is scheduled, "
     "queued or\n"
     "                 running, return that job instead of a new one\n"
     "  --wait         then wait for the job to end and exit like "
     "'jobctl wait';\n"
     "                 the id goes to standard error, so that standard\n"
     "                 output is the result alone\n"
     "  --json         print the reply as JSON instead of the id:\n"
     "                 {\"job\":{...},\"existing\":false}\n"},
    {"status", cmd_status, "[--json] ID...", "show jobs",
     "Shows one line per job: id, state, progress, kind, and how long "
     "it has been\n"
     "queued or running, how long it took, or when it runs; the error "
     "of a failed\n"
     "or cancelled job. Under it, when they apply: the time it runs at "
     "(local and\n"
     "UTC), the jobs it runs after, its unique key, how many times "
     "'jobctl retry'\n"
     "put it back, and each earlier run. Exits 4 if a job is not "
     "found.\n"
     "\n"
     "Options:\n"
     "  --json  print one JSON object per job\n"},
    {"wait", cmd_wait, "ID [--timeout SEC] [--json]",
     "wait for a job to end and print its result",
     "Waits for job ID to end. If it succeeded, prints its result and "
     "exits 0;\n"
     "if it failed or was cancelled, says so and exits 1. Shows a "
     "progress bar\n"
     "on standard error when that is a terminal.\n"
     "\n"
     "Options:\n"
     "  --timeout SEC  give up after SEC seconds and exit 3 "
     "(default: wait forever)\n"
     "  --json         print the job, with its result (base64), as "
     "JSON\n"},
    {"result", cmd_result, "ID [--json]", "print the result of a finished job",
     "Prints the result of job ID if it succeeded (exit 0); says why "
     "not if it\n"
     "failed or was cancelled (exit 1) or has not finished yet (exit "
     "5).\n"
     "\n"
     "Options:\n"
     "  --json  print the job, with its result (base64), as JSON\n"},
    {"cancel", cmd_cancel, "[--json] ID...", "cancel jobs",
     "Cancels each job and prints its id and state. A queued job ends "
     "at once; a\n"
     "running one is asked to stop. A job that already succeeded or "
     "failed cannot\n"
     "be cancelled (exit 5, after trying the others).\n"
     "\n"
     "Options:\n"
     "  --json  print one JSON object per job\n"},
    {"list", cmd_list, "[--state STATE] [--kind KIND] [--limit N] [--json]",
     "list recent jobs",
     "Lists jobs, newest first, one line each as 'jobctl status' "
     "prints them.\n"
     "'--state failed' is the dead-letter view, each job with its "
     "error; rerun\n"
     "one with 'jobctl retry ID'.\n"
     "\n"
     "Options:\n"
     "  --state STATE  only jobs in STATE: scheduled, queued, running, "
     "succeeded,\n"
     "                 failed or cancelled\n"
     "  --kind KIND    only jobs of kind KIND\n"
     "  --limit N      at most N jobs (default 20; 0 for all)\n"
     "  --json         print one JSON object per job\n"},
    {"retry", ctl_cmd_retry, "ID [--json]",
     "run a failed or cancelled job again",
     "Puts failed or cancelled job ID back in the queue as a new run "
     "with the same\n"
     "id, its attempts counted from 0 again; the run that ended is kept "
     "in its\n"
     "history ('jobctl status ID'). Prints the id, its state and how "
     "many times it\n"
     "was rerun. A job that succeeded or has not ended is refused "
     "(exit 5,\n"
     "FAILED_PRECONDITION); an unknown one is exit 4.\n"
     "\n"
     "Options:\n"
     "  --json  print the job as JSON\n"},
    {"pause", ctl_cmd_pause, "KIND [--json]", "hold the queued jobs of a kind",
     "Pauses kind KIND: its queued jobs wait ('jobctl status' says so), "
     "new jobs are\n"
     "still accepted, running jobs finish. The pause lasts across "
     "restarts of jobd\n"
     "until 'jobctl resume KIND'. Says whether the kind was paused "
     "already; an\n"
     "unknown kind is exit 4.\n"
     "\n"
     "Options:\n"
     "  --json  print {\"kind\", \"paused\", \"changed\"}\n"},
    {"resume", ctl_cmd_resume, "KIND [--json]", "let a paused kind run again",
     "Resumes kind KIND: its queued jobs start again. Says whether it "
     "was paused.\n"
     "\n"
     "Options:\n"
     "  --json  print {\"kind\", \"paused\", \"changed\"}\n"},
    {"schedules", ctl_cmd_schedules, "[--json]", "list the periodic jobs",
     "Lists the periodic jobs declared in *.schedule files beside the "
     "kind files:\n"
     "name, kind, spec ('cron 30 3 * * *' or 'every 5m'), the time zone "
     "of a cron\n"
     "spec, the next firing (local time) and how soon, the last firing "
     "and the\n"
     "job it made.\n"
     "\n"
     "Options:\n"
     "  --json  print one JSON object per schedule\n"},
    {"stats", cmd_stats, "[--json]", "show the daemon's counters",
     "Prints the daemon's workers, job counts per state, counters and "
     "version,\n"
     "and the kinds that are paused.\n"
     "\n"
     "Options:\n"
     "  --json  print one JSON object\n"},
    {"kinds", cmd_kinds, "[--json]",
     "list the kinds of job and their parameters",
     "Lists each kind of job the daemon runs, with its parameters: "
     "name, type,\n"
     "whether required or its default, bounds, and description; and "
     "whether it is\n"
     "paused ('jobctl pause').\n"
     "\n"
     "Options:\n"
     "  --json  print one JSON object per kind\n"},
    {"ping", cmd_ping, "[--json]", "check that the daemon answers",
     "Asks the daemon for its version and prints the round trip "
     "time.\n"
     "\n"
     "Options:\n"
     "  --json  print one JSON object: the reply and \"rttMs\"\n"},
    {"help", cmd_help, "[COMMAND]", "show help for jobctl or a command",
     "Prints jobctl's help, or the help of COMMAND.\n"},
    {NULL, NULL, NULL, NULL, NULL},
};

static void
print_help(void)
{
	print_usage_line(stdout, NULL);
	printf("\n"
	       "Submits, watches and cancels jobs of jobd, the job server.\n"
	       "\n"
	       "Commands:\n");
	for (const struct cmd *c = cmds; c->name != NULL; c++)
		printf("  %-9s %s\n", c->name, c->summary);
	printf("\n"
	       "Options:\n"
	       "  --addr URL     the daemon's address, tcp:// or ipc:// "
	       "(default: $JOBD_ADDR,\n"
	       "                 else " JOBD_DEFAULT_ADDR ")\n"
	       "  --json         print JSON, one object per line: the reply's "
	       "message (or\n"
	       "                 its jobs) in protobuf's JSON mapping: "
	       "camelCase names,\n"
	       "                 64-bit numbers and times (Unix ms) as "
	       "strings, states as\n"
	       "                 \"JOB_STATE_SUCCEEDED\", a result in "
	       "base64\n"
	       "  --timeout SEC  how long each call to the daemon may take, "
	       "in seconds\n"
	       "                 (default 10; fractions like 0.5 are fine)\n"
	       "  --token-file FILE\n"
	       "                 send the token in FILE (its first line) "
	       "with every call,\n"
	       "                 for a jobd run with --auth-token-file "
	       "(default: $JOBD_TOKEN,\n"
	       "                 the token itself, else the file "
	       "$JOBD_TOKEN_FILE)\n"
	       "  --tls-ca FILE  for a tls+tcp:// address: the PEM CA that "
	       "signed jobd's\n"
	       "                 certificate; required "
	       "($JOBD_CLIENT_TLS_CA)\n"
	       "  --tls-cert FILE, --tls-key FILE\n"
	       "                 a PEM client certificate and its key, for a "
	       "jobd that asks\n"
	       "                 for one ($JOBD_CLIENT_TLS_CERT, "
	       "$JOBD_CLIENT_TLS_KEY)\n"
	       "  --tls-server-name NAME\n"
	       "                 the name jobd's certificate must carry "
	       "(default: the\n"
	       "                 address's host; needed when that is an IP "
	       "address)\n"
	       "                 ($JOBD_CLIENT_TLS_SERVER_NAME)\n"
	       "  --help         print this help\n"
	       "  --version      print jobctl's version\n"
	       "\n"
	       "Run 'jobctl COMMAND --help' for the arguments of a command.\n"
	       "\n"
	       "Exit status:\n"
	       "  0  success\n"
	       "  1  the job failed or was cancelled\n"
	       "  2  usage error (bad arguments, or the daemon rejected the "
	       "request as\n"
	       "     INVALID_ARGUMENT)\n"
	       "  3  the daemon is unreachable or a deadline passed "
	       "(UNAVAILABLE,\n"
	       "     DEADLINE_EXCEEDED)\n"
	       "  4  not found (NOT_FOUND)\n"
	       "  5  any other error from the daemon (UNAUTHENTICATED: no "
	       "token or a wrong\n"
	       "     one; RESOURCE_EXHAUSTED, FAILED_PRECONDITION, "
	       "INTERNAL, ...)\n");
}

/* The variable's value, or NULL when it is unset or empty. */
static const char *
getenv_set(const char *name)
{
	const char *v = getenv(name);

	return (v != NULL && *v != '\0' ? v : NULL);
}

static const struct cmd *
find_cmd(const char *name)
{
	for (const struct cmd *c = cmds; c->name != NULL; c++) {
		if (strcmp(c->name, name) == 0)
			return (c);
	}
	return (NULL);
}

int
main(int argc, char **argv)
{
	enum {
		G_ADDR = O_FIRST,
		G_TIMEOUT,
		G_VERSION,
		G_TOKEN_FILE,
		G_TLS_CA,
		G_TLS_CERT,
		G_TLS_KEY,
		G_TLS_NAME,
	};
	static const struct optspec opts[] = {
	    COMMON_OPTS,        {"addr", true},       {"timeout", true},
	    {"version", false}, {"token-file", true}, {"tls-ca", true},
	    {"tls-cert", true}, {"tls-key", true},    {"tls-server-name", true},
	    {NULL, false}};
	struct jobctl g = {0};
	struct parser p = {argc, argv, 1, false, true, NULL, NULL};
	const char *env = getenv("JOBD_ADDR");
	const char *name = NULL;
	int rc;
	int k;

	g.addr = env != NULL && *env != '\0' ? env : JOBD_DEFAULT_ADDR;
	g.tls.ca_file = getenv_set("JOBD_CLIENT_TLS_CA");
	g.tls.cert_file = getenv_set("JOBD_CLIENT_TLS_CERT");
	g.tls.key_file = getenv_set("JOBD_CLIENT_TLS_KEY");
	g.tls.server_name = getenv_set("JOBD_CLIENT_TLS_SERVER_NAME");
	while (name == NULL && (k = next_opt(&p, opts)) != P_END) {
		if (k >= G_TOKEN_FILE && *p.val == '\0')
			return (
			    ctl_usage_error(NULL, "empty --%s", opts[k].name));
		switch (k) {
		case P_ERR:
			return (EXIT_USAGE);
		case O_HELP:
			print_help();
			return (0);
		case O_JSON:
			g.json = true;
			break;
		case G_ADDR:
			if (*p.val == '\0')
				return (ctl_usage_error(NULL, "empty --addr"));
			g.addr = p.val;
			break;
		case G_TIMEOUT:
			if (!parse_seconds(p.val, &g.timeout_ms) ||
			    g.timeout_ms == 0)
				return (ctl_usage_error(
				    NULL,
				    "invalid timeout '%s' (expected seconds "
				    "> 0)",
				    p.val));
			break;
		case G_VERSION:
			printf("jobctl %s\n", JOBD_VERSION);
			return (0);
		case G_TOKEN_FILE:
			g.token_file = p.val;
			break;
		case G_TLS_CA:
			g.tls.ca_file = p.val;
			break;
		case G_TLS_CERT:
			g.tls.cert_file = p.val;
			break;
		case G_TLS_KEY:
			g.tls.key_file = p.val;
			break;
		case G_TLS_NAME:
			g.tls.server_name = p.val;
			break;
		case P_ARG:
			name = p.val;
			break;
		default:
			break;
		}
	}
	if (name == NULL)
		return (ctl_usage_error(NULL, "missing command"));
	if ((g.cmd = find_cmd(name)) == NULL)
		return (ctl_usage_error(NULL, "unknown command '%s'", name));

	rc = g.cmd->fn(&g, argc - p.i, argv + p.i);
	jobd_client_close(g.client);
	/*
	 * nng's threads and tables would otherwise outlive us, and memory
	 * checkers report them; nothing uses nng after this. But not after a
	 * failed dial: nng 1.5.2 reports a failed TLS handshake to the dialer
	 * before its own task has closed the connection, and nng_fini() then
	 * destroys a lock that task is about to take (it panics: "pthread_
	 * mutex_lock: Invalid argument"). The process ends anyway.
	 */
	if (!g.open_failed)
		nng_fini();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_errorf("cannot write to standard output: %s",
		           strerror(errno));
		if (rc == 0)
			rc = EXIT_OTHER;
	}
	return (rc);
}

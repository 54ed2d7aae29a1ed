/*
 * test_conformance: the C client library runs the clients' conformance
 * suite, clients/conformance/scenarios.json, as clients/conformance/
 * README.md lays it down, against the real jobd. The Python and Node.js
 * clients run the same table; a scenario that passes here passes there
 * with the same answers.
 *
 * For each scenario the runner makes a temporary directory D, starts a
 * fresh jobd there with the scenario's daemon profile (the harness's
 * jd_spawn(), so that under -DJOBD_VALGRIND=ON jobd runs under
 * $JOBD_WRAPPER; make-certs.sh's openssl and holdproxy are started
 * directly, never under valgrind), waits until a Ping over a connection
 * of its own answers, makes the one client of the scenario, runs the
 * steps, closes the client, and stops jobd with SIGTERM, which must end it
 * with 0 and leave no sanitizer or valgrind report in D/jobd.log. On any
 * failure it prints the step, what was expected and what came, and the
 * daemon's log.
 *
 * Calls go through the library's public API only (client/jobd_client.h):
 * the typed calls (jobd_submit, jobd_get, ...) when the step gives no
 * deadline, jobd_call() with the step's deadline_ms when it does (only
 * jobd_wait takes a deadline of its own), and jobd_call() for a Ping with
 * a payload, which jobd_ping() does not send, and for Retry, Pause, Resume
 * and Schedules (the generic call is the library's public API too; the
 * typed jobd_retry() and the like come with jobctl's helper). A Wait without a
 * deadline gets a long one (60 s), as the library has no "none"; every other
 * call without one the library's default (10 s). The library's jobd_submit()
 * sends the request as given and adds no idempotency key: the key is the
 * caller's to set (jobd_new_key() makes one), so the runner gives every
 * submit, and every job of a batch, that has none a fresh key, as the
 * README asks of a client; the library re-sends a request, key and all,
 * after a reconnect. An
 * `async` step runs its call on a thread of its own (the library is safe
 * to share between threads); `await` joins that thread. In the `none`
 * profile jobd_client_open() itself fails (UNAVAILABLE): its status and
 * message are the answer of every call of the scenario.
 *
 * The replies become plain JSON values, and the expectations are matched,
 * in tests/conformance_json.c. JSON is jansson (Debian's libjansson-dev):
 * a small, well-kept C library that parses strictly, keeps the order of an
 * object's members and names the line and column of an error in the
 * table; issue 15's JSON gateway uses the same library.
 *
 * Under valgrind (JOBD_WRAPPER set) the runner's own waits (readiness,
 * wait_state, holdproxy's lines, the default call timeout and Wait's long
 * deadline) are SLOW times longer; the deadlines a scenario names are
 * left as they are, since they are what is tested.
 *
 * With $JOBD_TEST_DB_URL set (ctest's test_conformance_pg) each scenario's
 * jobd runs on a PostgreSQL database of its own (tests/harness.h).
 *
 *   test_conformance [NAME...]   runs the scenarios NAME (default: all)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <jansson.h>

#include "conformance.h"
#include "harness.h"

#define SLOW 6 /* under valgrind */
/* A daemon answers Ping within this. The README's runner tries for 10 s;
 * this one waits longer (it stops early if jobd exits), since a sanitizer
 * build on a loaded two-core machine was seen to take 10 s to start jobd.
 * It changes no answer, only how soon a daemon that never comes up fails. */
#define READY_MS        60000
#define LONG_WAIT_MS    60000 /* a Wait without deadline_ms */
#define DEFAULT_CALL_MS 10000 /* the library's default timeout */
#define MAX_ASYNC       16

static const char token_good[] = "conformance-token-4f1d2a7c9e";
static const char token_wrong[] = "not-the-token-at-all";

/* One scenario's world: its daemon, its proxy, its client. */
struct scen {
	const char *profile;
	const char *cdir; /* $JOBD_CONFORMANCE_DIR */
	struct jd d;      /* dir, db, url (where jobd listens), log, pid */
	char client_url[160];
	char kinds[512];
	char tokfile[160], cert[160], key[160], ca[160];
	bool tls, token;
	pid_t proxy_pid;
	int proxy_fd;   /* holdproxy's stdout */
	int proxy_port; /* where it listens */
	char pbuf[256];
	size_t plen;
	jobd_client *c;
	int open_status; /* jobd_client_open's, when c is NULL */
	char *open_msg;
	json_t *vars;
	struct async {
		char name[64];
		pthread_t th;
		bool running;
		jobd_client *c;
		const char *method;
		json_t *args;
		uint32_t deadline_ms;
		bool has_deadline;
		struct cf_answer ans;
	} async[MAX_ASYNC];
	size_t n_async;
	char why[1024]; /* what went wrong */
};

static int
slow(void)
{
	return jd_wrapped() ? SLOW : 1;
}

/* ---- the daemon, its proxy and its clients ---- */

/* A client of url with the scenario's TLS settings and `token` (NULL:
 * none); the open's status, with *cp NULL on failure. */
static int
client_open(struct scen *s, const char *url, const char *token,
            jobd_client **cp)
{
	struct jobd_client_tls tls = {.ca_file = s->ca,
	                              .server_name = "localhost"};
	int st = jobd_client_open_tls(cp, url, s->tls ? &tls : NULL);

	if (st == JOBD_OK && token != NULL &&
	    (st = jobd_client_set_token(*cp, token)) != JOBD_OK) {
		jobd_client_close(*cp);
		*cp = NULL;
	}
	return st;
}

/* Starts jobd on the scenario's directory and address and waits until a
 * Ping over a connection of its own answers. 0, or -1 with why. */
static int
daemon_start(struct scen *s)
{
	const char *argv[32];
	int n = 0;
	int64_t end;

	argv[n++] = "--db";
	argv[n++] = s->d.db;
	argv[n++] = "--listen";
	argv[n++] = s->d.url;
	argv[n++] = "--workers";
	argv[n++] = "2";
	argv[n++] = "--kinds-dir";
	argv[n++] = s->kinds;
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	if (s->token) {
		argv[n++] = "--auth-token-file";
		argv[n++] = s->tokfile;
	}
	if (s->tls) {
		argv[n++] = "--tls-cert";
		argv[n++] = s->cert;
		argv[n++] = "--tls-key";
		argv[n++] = s->key;
	}
	if (strcmp(s->profile, "small") == 0) {
		argv[n++] = "--workers";
		argv[n++] = "1";
		argv[n++] = "--max-queue";
		argv[n++] = "1";
	}
	argv[n] = NULL;
	if ((s->d.pid = jd_spawn(argv, s->d.log, "a")) < 0) {
		s->d.pid = 0;
		snprintf(s->why, sizeof(s->why), "cannot start jobd");
		return -1;
	}
	end = h_now_ms() + READY_MS * slow();
	for (;;) {
		jobd_client *probe = NULL;
		Jobd__V1__PingReply *rep = NULL;
		int st;

		if (waitpid(s->d.pid, &st, WNOHANG) == s->d.pid) {
			s->d.pid = 0;
			snprintf(s->why, sizeof(s->why),
			         "jobd exited at start (wait status %d)", st);
			return -1;
		}
		if (client_open(s, s->d.url, s->token ? token_good : NULL,
		                &probe) == JOBD_OK) {
			jobd_client_set_timeout(probe,
			                        1000 * (uint32_t) slow());
			st = jobd_ping(probe, &rep);
			jobd__v1__ping_reply__free_unpacked(rep, NULL);
			jobd_client_close(probe);
			if (st == JOBD_OK)
				return 0;
		}
		if (h_now_ms() > end) {
			snprintf(s->why, sizeof(s->why),
			         "jobd did not answer Ping within %d ms",
			         READY_MS * slow());
			return -1;
		}
		usleep(50000);
	}
}

/* Sends sig to jobd and waits for it: 0 if it ended as it should (exit 0
 * after TERM; killed, or 137, after KILL), -1 with why. */
static int
daemon_signal(struct scen *s, int sig)
{
	int st;

	if (s->d.pid <= 0) {
		snprintf(s->why, sizeof(s->why), "jobd is not running");
		return -1;
	}
	st = sig == SIGTERM ? jd_stop(&s->d) : jd_kill(&s->d, sig);
	if (sig == SIGTERM && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		snprintf(s->why, sizeof(s->why),
		         "jobd did not exit 0 after SIGTERM (wait status %d)",
		         st);
		return -1;
	}
	if (sig == SIGKILL && !((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
	                        (WIFEXITED(st) && WEXITSTATUS(st) == 137))) {
		snprintf(s->why, sizeof(s->why),
		         "jobd did not end killed after SIGKILL (wait status "
		         "%d)",
		         st);
		return -1;
	}
	return 0;
}

/* One line of holdproxy's stdout in line (without its newline), waiting at
 * most ms; false if none came. */
static bool
proxy_line(struct scen *s, char *line, size_t len, int ms)
{
	int64_t end = h_now_ms() + ms;

	for (;;) {
		char *nl = memchr(s->pbuf, '\n', s->plen);
		if (nl != NULL) {
			size_t n = (size_t) (nl - s->pbuf);
			snprintf(line, len, "%.*s", (int) n, s->pbuf);
			memmove(s->pbuf, nl + 1, s->plen - n - 1);
			s->plen -= n + 1;
			return true;
		}
		struct pollfd p = {.fd = s->proxy_fd, .events = POLLIN};
		int64_t left = end - h_now_ms();
		if (left <= 0 || s->plen == sizeof(s->pbuf))
			return false;
		if (poll(&p, 1, (int) left) <= 0)
			continue;
		ssize_t r = read(s->proxy_fd, s->pbuf + s->plen,
		                 sizeof(s->pbuf) - s->plen);
		if (r <= 0)
			return false;
		s->plen += (size_t) r;
	}
}

/* Starts holdproxy in front of jobd's port (run directly, never under
 * valgrind) and points the client at it. 0, or -1 with why. */
static int
proxy_start(struct scen *s, int port)
{
	const char *bin = getenv("JOBD_PROXY_BIN");
	char arg[16], line[128];
	int fds[2], pport;

	if (bin == NULL) {
		snprintf(s->why, sizeof(s->why), "JOBD_PROXY_BIN is not set");
		return -1;
	}
	if (pipe(fds) != 0)
		return -1;
	snprintf(arg, sizeof(arg), "%d", port);
	fflush(NULL);
	if ((s->proxy_pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(bin, bin, arg, (char *) NULL);
		_exit(127);
	}
	close(fds[1]);
	s->proxy_fd = fds[0];
	if (s->proxy_pid < 0 || !proxy_line(s, line, sizeof(line), 10000) ||
	    sscanf(line, "port %d", &pport) != 1) {
		snprintf(s->why, sizeof(s->why), "holdproxy did not start");
		return -1;
	}
	snprintf(s->client_url, sizeof(s->client_url), "tcp://127.0.0.1:%d",
	         pport);
	s->proxy_port = pport;
	return 0;
}

/*
 * Makes sure holdproxy has taken the SIGUSR1 just sent before the step
 * after proxy_hold sends its request: a connection through it, held until
 * jobd's 8-byte SP header comes back, then closed. Its main thread has
 * then returned from accept(), and a thread of it has run since the
 * signal. Needed under ThreadSanitizer, which runs a signal's handler
 * only when the thread it interrupted leaves the blocking call it is in:
 * holdproxy's main thread sits in accept() until the next connection, so
 * without this the Submit's reply went through unheld. This connection
 * never carries more than jobd's header, which holdproxy always passes
 * on, so it cannot take the hold meant for the client's reply.
 */
static bool
proxy_poke(struct scen *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t) s->proxy_port)};
	char hdr[8];
	size_t got = 0;
	int64_t end = h_now_ms() + 10000 * slow();
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
		while (got < sizeof(hdr) && h_now_ms() < end) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			if (poll(&p, 1, 100) <= 0)
				continue;
			ssize_t r = read(fd, hdr + got, sizeof(hdr) - got);
			if (r <= 0)
				break;
			got += (size_t) r;
		}
	if (fd >= 0)
		close(fd);
	if (got < sizeof(hdr))
		snprintf(
		    s->why, sizeof(s->why),
		    "proxy_hold: no SP header from jobd through holdproxy");
	return got == sizeof(hdr);
}

static void
proxy_stop(struct scen *s)
{
	if (s->proxy_pid > 0) {
		kill(s->proxy_pid, SIGTERM);
		waitpid(s->proxy_pid, NULL, 0);
		s->proxy_pid = 0;
	}
	if (s->proxy_fd >= 0)
		close(s->proxy_fd);
	s->proxy_fd = -1;
}

/* The scenario's directory, certificates, token file, daemon, proxy and
 * client, as its profile says. 0, or -1 with why. */
static int
scen_setup(struct scen *s, json_t *client)
{
	const char *p = s->profile;
	const char *tok = json_string_value(json_object_get(client, "token"));
	char cmd[1024];
	int port = 0;

	if (jd_init_in(&s->d, "jobd-conf") != 0) {
		snprintf(s->why, sizeof(s->why), "cannot make a directory");
		return -1;
	}
	snprintf(s->kinds, sizeof(s->kinds), "%s/kinds", s->cdir);
	snprintf(s->tokfile, sizeof(s->tokfile), "%s/token", s->d.dir);
	snprintf(s->cert, sizeof(s->cert), "%s/server.pem", s->d.dir);
	snprintf(s->key, sizeof(s->key), "%s/server.key", s->d.dir);
	snprintf(s->ca, sizeof(s->ca), "%s/ca.pem", s->d.dir);
	s->tls = strcmp(p, "tls") == 0;
	s->token = strcmp(p, "token") == 0;
	if (strcmp(p, "plain") != 0 && strcmp(p, "token") != 0 && !s->tls &&
	    strcmp(p, "ipc") != 0 && strcmp(p, "small") != 0 &&
	    strcmp(p, "proxy") != 0 && strcmp(p, "none") != 0) {
		snprintf(s->why, sizeof(s->why), "unknown daemon profile '%s'",
		         p);
		return -1;
	}
	if (strcmp(p, "ipc") != 0) {
		if ((port = jd_free_port()) == 0) {
			snprintf(s->why, sizeof(s->why), "no free port");
			return -1;
		}
		snprintf(s->d.url, sizeof(s->d.url), "%s://127.0.0.1:%d",
		         s->tls ? "tls+tcp" : "tcp", port);
	}
	snprintf(s->client_url, sizeof(s->client_url), "%s", s->d.url);
	if (s->token) {
		FILE *f = fopen(s->tokfile, "w");
		if (f == NULL || fprintf(f, "%s\n", token_good) < 0 ||
		    fclose(f) != 0) {
			snprintf(s->why, sizeof(s->why), "cannot write %s",
			         s->tokfile);
			return -1;
		}
		chmod(s->tokfile, 0600);
	}
	if (s->tls) {
		snprintf(cmd, sizeof(cmd), "sh '%s/make-certs.sh' '%s' >&2",
		         s->cdir, s->d.dir);
		if (system(cmd) != 0) {
			snprintf(s->why, sizeof(s->why),
			         "make-certs.sh failed");
			return -1;
		}
	}
	if (strcmp(p, "none") != 0 && daemon_start(s) != 0)
		return -1;
	if (strcmp(p, "proxy") == 0 && proxy_start(s, port) != 0)
		return -1;

	if (tok != NULL && strcmp(tok, "good") != 0 &&
	    strcmp(tok, "wrong") != 0) {
		snprintf(s->why, sizeof(s->why), "unknown client token '%s'",
		         tok);
		return -1;
	}
	s->open_status = client_open(s, s->client_url,
	                             tok == NULL                ? NULL
	                             : strcmp(tok, "good") == 0 ? token_good
	                                                        : token_wrong,
	                             &s->c);
	if (s->c == NULL) {
		s->open_msg = strdup(jobd_client_errmsg());
		if (strcmp(p, "none") != 0) {
			snprintf(s->why, sizeof(s->why),
			         "cannot open the client: %s: %s",
			         jobd_status_name(s->open_status), s->open_msg);
			return -1;
		}
	} else if (jd_wrapped()) {
		jobd_client_set_timeout(s->c, DEFAULT_CALL_MS * SLOW);
	}
	return 0;
}

static void *
async_main(void *arg)
{
	struct async *a = arg;
	cf_call(a->c, a->method, a->args, a->has_deadline, a->deadline_ms,
	        LONG_WAIT_MS * (uint32_t) slow(), &a->ans);
	return NULL;
}

/* Joins every async call still running (a scenario that failed). */
static void
async_join_all(struct scen *s)
{
	for (size_t i = 0; i < s->n_async; i++) {
		struct async *a = &s->async[i];
		if (a->running)
			pthread_join(a->th, NULL);
		a->running = false;
		cf_answer_free(&a->ans);
		json_decref(a->args);
		a->args = NULL;
	}
	s->n_async = 0;
}

/* ---- steps ---- */

/* Checks an answer against a step's expect, and saves what the step's save
 * names. true, or false with why. */
static bool
check(struct scen *s, const struct cf_answer *ans, json_t *expect, json_t *save)
{
	const char *code = json_string_value(json_object_get(expect, "code"));
	json_t *value = json_object_get(expect, "value");
	json_t *message = json_object_get(expect, "message");
	const char *path;
	json_t *m;
	char why[700];

	if (ans->status < 0) {
		snprintf(s->why, sizeof(s->why), "cannot send the call: %s",
		         ans->msg);
		return false;
	}
	if (code == NULL || strcmp(code, jobd_status_name(ans->status)) != 0) {
		snprintf(s->why, sizeof(s->why),
		         "expected code %s, got %s (message '%s')",
		         code ? code : "?", jobd_status_name(ans->status),
		         ans->msg ? ans->msg : "");
		return false;
	}
	if (message != NULL) {
		json_t *got = json_string(ans->msg ? ans->msg : "");
		bool ok = cf_match(got, message, s->vars, why, sizeof(why));
		json_decref(got);
		if (!ok) {
			snprintf(s->why, sizeof(s->why), "message: %s", why);
			return false;
		}
	}
	json_object_foreach(value, path, m)
	{
		json_t *got = ans->value ? cf_lookup(ans->value, path) : NULL;
		bool ok = cf_match(got, m, s->vars, why, sizeof(why));
		json_decref(got);
		if (!ok) {
			snprintf(s->why, sizeof(s->why), "%s: %s", path, why);
			return false;
		}
	}
	json_object_foreach(save, path, m)
	{
		const char *at = json_string_value(m);
		json_t *got =
		    ans->value && at ? cf_lookup(ans->value, at) : NULL;
		if (got == NULL) {
			snprintf(s->why, sizeof(s->why),
			         "save %s: nothing at '%s' in the answer", path,
			         at ? at : "?");
			return false;
		}
		json_object_set_new(s->vars, path, got);
	}
	return true;
}

static struct async *
async_find(struct scen *s, const char *name)
{
	for (size_t i = 0; i < s->n_async; i++)
		if (strcmp(s->async[i].name, name) == 0)
			return &s->async[i];
	return NULL;
}

/* A call step: at once, or on a thread of its own with `async`. */
static bool
step_call(struct scen *s, json_t *step)
{
	const char *method = json_string_value(json_object_get(step, "call"));
	const char *handle = json_string_value(json_object_get(step, "async"));
	json_t *dl = json_object_get(step, "deadline_ms");
	json_t *args;
	struct cf_answer ans;
	bool ok;

	args = cf_resolve(json_object_get(step, "args"), s->vars, s->why,
	                  sizeof(s->why));
	if (args == NULL)
		return false;
	if (s->c == NULL) { /* the `none` profile: the open's answer */
		memset(&ans, 0, sizeof(ans));
		ans.status = s->open_status;
		ans.msg = strdup(s->open_msg ? s->open_msg : "");
		json_decref(args);
		if (handle != NULL) {
			snprintf(s->why, sizeof(s->why),
			         "async call without a client");
			cf_answer_free(&ans);
			return false;
		}
		ok = check(s, &ans, json_object_get(step, "expect"),
		           json_object_get(step, "save"));
		cf_answer_free(&ans);
		return ok;
	}
	if (handle != NULL) {
		struct async *a;
		if (s->n_async == MAX_ASYNC || async_find(s, handle) != NULL) {
			snprintf(s->why, sizeof(s->why),
			         "too many async calls, or '%s' twice", handle);
			json_decref(args);
			return false;
		}
		a = &s->async[s->n_async++];
		memset(a, 0, sizeof(*a));
		snprintf(a->name, sizeof(a->name), "%s", handle);
		a->c = s->c;
		a->method = method;
		a->args = args;
		a->has_deadline = dl != NULL;
		a->deadline_ms = (uint32_t) json_integer_value(dl);
		if (pthread_create(&a->th, NULL, async_main, a) != 0) {
			snprintf(s->why, sizeof(s->why),
			         "pthread_create failed");
			return false;
		}
		a->running = true;
		return true;
	}
	cf_call(s->c, method, args, dl != NULL,
	        (uint32_t) json_integer_value(dl),
	        LONG_WAIT_MS * (uint32_t) slow(), &ans);
	json_decref(args);
	ok = check(s, &ans, json_object_get(step, "expect"),
	           json_object_get(step, "save"));
	cf_answer_free(&ans);
	return ok;
}

static bool
step_await(struct scen *s, json_t *step)
{
	const char *handle = json_string_value(json_object_get(step, "await"));
	struct async *a = async_find(s, handle ? handle : "");

	if (a == NULL || !a->running) {
		snprintf(s->why, sizeof(s->why), "no async call '%s' to await",
		         handle ? handle : "?");
		return false;
	}
	pthread_join(a->th, NULL);
	a->running = false;
	return check(s, &a->ans, json_object_get(step, "expect"),
	             json_object_get(step, "save"));
}

/* Gets the job every 20 ms until its state is the step's. */
static bool
step_wait_state(struct scen *s, json_t *step)
{
	const char *want = json_string_value(json_object_get(step, "state"));
	json_t *idv = cf_resolve(json_object_get(step, "id"), s->vars, s->why,
	                         sizeof(s->why));
	int64_t within = json_integer_value(json_object_get(step, "within_ms"));
	int64_t end = h_now_ms() + within * slow();
	char last[64] = "nothing";
	uint64_t id;

	if (idv == NULL)
		return false;
	id = (uint64_t) json_integer_value(idv);
	json_decref(idv);
	if (s->c == NULL || want == NULL) {
		snprintf(s->why, sizeof(s->why), "wait_state without a client");
		return false;
	}
	for (;;) {
		Jobd__V1__GetReply *rep = NULL;
		int st = jobd_get(s->c, &id, 1, &rep);
		if (st == JOBD_OK && rep->n_jobs == 1) {
			json_t *v = cf_from_message(&rep->jobs[0]->base);
			const char *got =
			    json_string_value(json_object_get(v, "state"));
			snprintf(last, sizeof(last), "%s", got ? got : "?");
			json_decref(v);
		} else {
			snprintf(last, sizeof(last), "%s",
			         st == JOBD_OK ? "no job"
			                       : jobd_status_name(st));
		}
		jobd__v1__get_reply__free_unpacked(rep, NULL);
		if (strcmp(last, want) == 0)
			return true;
		if (h_now_ms() > end) {
			snprintf(s->why, sizeof(s->why),
			         "expected state %s within %lld ms, got %s",
			         want, (long long) within * slow(), last);
			return false;
		}
		usleep(20000);
	}
}

static bool
step_op(struct scen *s, json_t *step)
{
	const char *op = json_string_value(json_object_get(step, "op"));
	char line[128];

	if (strcmp(op, "wait_state") == 0)
		return step_wait_state(s, step);
	if (strcmp(op, "restart") == 0) {
		const char *sig =
		    json_string_value(json_object_get(step, "signal"));
		if (sig == NULL ||
		    (strcmp(sig, "KILL") != 0 && strcmp(sig, "TERM") != 0)) {
			snprintf(s->why, sizeof(s->why), "restart: bad signal");
			return false;
		}
		return daemon_signal(s, strcmp(sig, "KILL") == 0
		                            ? SIGKILL
		                            : SIGTERM) == 0 &&
		       daemon_start(s) == 0;
	}
	if (strcmp(op, "stop") == 0)
		return daemon_signal(s, SIGTERM) == 0;
	if (strcmp(op, "proxy_hold") == 0) {
		if (s->proxy_pid <= 0 || kill(s->proxy_pid, SIGUSR1) != 0) {
			snprintf(s->why, sizeof(s->why), "no holdproxy to arm");
			return false;
		}
		return proxy_poke(s);
	}
	if (strcmp(op, "proxy_wait_held") == 0) {
		while (s->proxy_pid > 0 &&
		       proxy_line(s, line, sizeof(line), 10000 * slow()))
			if (strncmp(line, "held ", 5) == 0)
				return true;
		snprintf(s->why, sizeof(s->why),
		         "holdproxy said no 'held N' within %d ms",
		         10000 * slow());
		return false;
	}
	snprintf(s->why, sizeof(s->why), "unknown op '%s'", op);
	return false;
}

/* Runs one scenario; prints its line (and, on failure, jobd's log). */
static bool
run_scenario(const char *cdir, json_t *sc)
{
	const char *name = json_string_value(json_object_get(sc, "name"));
	json_t *steps = json_object_get(sc, "steps");
	struct scen s;
	json_t *step;
	size_t k, failed_at = 0;
	bool ok = true;
	int64_t t0 = h_now_ms();

	memset(&s, 0, sizeof(s));
	s.cdir = cdir;
	s.proxy_fd = -1;
	s.profile = json_string_value(json_object_get(sc, "daemon"));
	s.vars = json_object();
	if (s.profile == NULL || name == NULL || !json_is_array(steps)) {
		snprintf(s.why, sizeof(s.why),
		         "a scenario needs name, daemon, steps");
		ok = false;
	} else if (scen_setup(&s, json_object_get(sc, "client")) != 0) {
		ok = false;
	}
	json_array_foreach(steps, k, step)
	{
		if (!ok)
			break;
		if (json_object_get(step, "call") != NULL)
			ok = step_call(&s, step);
		else if (json_object_get(step, "await") != NULL)
			ok = step_await(&s, step);
		else if (json_is_string(json_object_get(step, "op")))
			ok = step_op(&s, step);
		else {
			snprintf(s.why, sizeof(s.why),
			         "a step of no known kind");
			ok = false;
		}
		if (!ok)
			failed_at = k + 1;
	}

	/* the end: the client closed after the last step, then jobd stopped
	 * with SIGTERM; after a failure jobd first, so that calls still in
	 * flight end */
	if (ok) {
		async_join_all(&s);
		jobd_client_close(s.c);
		s.c = NULL;
	}
	if (s.d.pid > 0) {
		int st = jd_stop(&s.d);
		if (ok && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
			snprintf(s.why, sizeof(s.why),
			         "jobd did not exit 0 after SIGTERM at the end "
			         "(wait status %d)",
			         st);
			ok = false;
		}
	}
	async_join_all(&s);
	jobd_client_close(s.c);
	proxy_stop(&s);
	if (ok && jd_log_has_report(&s.d)) {
		snprintf(s.why, sizeof(s.why),
		         "jobd's log has a sanitizer or valgrind report");
		ok = false;
	}

	if (ok) {
		printf("conformance: %s ok (%lld ms)\n", name,
		       (long long) (h_now_ms() - t0));
	} else {
		if (failed_at > 0)
			printf("conformance: %s FAIL: step %zu: %s\n",
			       name ? name : "?", failed_at, s.why);
		else
			printf("conformance: %s FAIL: %s\n", name ? name : "?",
			       s.why);
		fflush(stdout);
		if (s.d.dir[0] != '\0') {
			fprintf(stderr, "--- jobd log of %s (%s):\n",
			        name ? name : "?", s.d.dir);
			jd_dump_log(&s.d);
		}
	}
	fflush(stdout);
	if (s.d.dir[0] != '\0' && getenv("JOBD_KEEP") == NULL) {
		char cmd[160];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s.d.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", s.d.dir);
		if (s.d.pgname[0] != '\0')
			jd_pg_dropdb(s.d.pgname);
	}
	free(s.open_msg);
	json_decref(s.vars);
	return ok;
}

int
main(int argc, char **argv)
{
	const char *cdir = getenv("JOBD_CONFORMANCE_DIR");
	char path[512];
	json_error_t jerr;
	json_t *root, *list, *sc;
	size_t i, ran = 0, passed = 0;

	if (cdir == NULL || getenv("JOBD_BIN") == NULL) {
		fprintf(stderr, "test_conformance: JOBD_CONFORMANCE_DIR and "
		                "JOBD_BIN must be set (ctest sets them)\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/scenarios.json", cdir);
	if ((root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		fprintf(stderr, "test_conformance: %s:%d:%d: %s\n", path,
		        jerr.line, jerr.column, jerr.text);
		return 2;
	}
	list = json_object_get(root, "scenarios");
	if (!json_is_array(list) ||
	    json_integer_value(json_object_get(root, "version")) != 1) {
		fprintf(stderr,
		        "test_conformance: %s: no \"scenarios\" of "
		        "version 1\n",
		        path);
		json_decref(root);
		return 2;
	}
	json_array_foreach(list, i, sc)
	{
		const char *name =
		    json_string_value(json_object_get(sc, "name"));
		bool chosen = argc < 2;
		for (int a = 1; a < argc && name != NULL; a++)
			chosen = chosen || strcmp(argv[a], name) == 0;
		if (!chosen)
			continue;
		ran++;
		if (run_scenario(cdir, sc))
			passed++;
	}
	printf("conformance: %zu scenarios, %zu passed\n", ran, passed);
	json_decref(root);
	return ran > 0 && passed == ran ? 0 : 1;
}

/*
 * exec: program kinds, one run of one program (exec.h).
 *
 * A run is: the argument words expanded (template.h), each into exactly one
 * argument, with no shell anywhere; an environment built from nothing
 * (PATH, the job's identity, its parameters, the kind file's own
 * variables), never jobd's; a fresh private working directory
 * (workdir.h); the program started in its own process group, registered
 * with the reaper (launch.h, reaper.h); then one poll loop until it ends.
 *
 * The loop pumps stdin, stdout, stderr and the progress descriptor
 * together over non-blocking pipes, so that a program that writes much
 * before reading all its input never deadlocks against jobd. It also
 * watches the program's end through a pidfd (or, without pidfds, a
 * waitid() poll each tick), and every EXEC_TICK_MS it calls
 * host->progress() even when the program said nothing, because that call
 * is how the scheduler says "stop". Stop means SIGTERM to the group, up to
 * spec->grace_ms to end, then SIGKILL to the group.
 *
 * The end of a run, in this order: the leader has exited (seen without
 * reaping it, so its pid, the group's id, stays ours); SIGKILL to the
 * group, so that no child of the program outlives its run; the pipes
 * drained (a straggler outside the group cannot hold the run beyond
 * EXEC_DRAIN_MS); the group unregistered from the reaper; the leader
 * reaped; the working directory removed. Only then is the outcome decided:
 * stopped, output over the cap, or the exit status (0: the result is
 * stdout; EXEC_NO_RETRY_EXIT: failed for good; a signal named), with the
 * tail of stderr as the error. A run that succeeded but whose directory
 * cannot be removed fails, saying so: nothing may be left behind unseen.
 *
 * Process-wide state (the base of the working directories, the reaper) is
 * set by exec_init() before any thread and only read afterwards; a run
 * touches nothing else shared, so runs on many worker threads need no
 * lock.
 */
#include "exec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobd_status.h"
#include "reaper.h"
#include "launch.h"
#include "template.h"
#include "workdir.h"

#define EXEC_TICK_MS    10   /* host->progress() at least this often */
#define EXEC_DRAIN_MS   1000 /* reading pipes after the group was killed */
#define EXEC_LINE_MAX   64   /* a progress line, newline included */
#define EXEC_READ_CHUNK 65536

static char *exec_run_dir; /* set by exec_init(), read-only afterwards */
/* the soft RLIMIT_NOFILE at exec_init(), before jobd raised its own: what
 * programs get (launch_req.nofile_soft); likewise read-only afterwards */
static uint64_t exec_nofile_soft;

static const char *
errstr(int e)
{
	const char *s = strerrordesc_np(e);

	return s != NULL ? s : "unknown error";
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int
exec_init(const char *run_dir, char *err, size_t errlen)
{
	struct sigaction sa;
	struct stat st;

	if (exec_run_dir != NULL) {
		snprintf(err, errlen, "program kinds are already set up");
		return JOBD_FAILED_PRECONDITION;
	}
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur != RLIM_INFINITY)
		exec_nofile_soft = (uint64_t) nofile.rlim_cur;
	if (run_dir == NULL || run_dir[0] == '\0') {
		run_dir = getenv("TMPDIR");
		if (run_dir == NULL || run_dir[0] != '/')
			run_dir = "/tmp";
	}
	/* made by the first run (workdir_create); if it is there, what a
	 * killed jobd left in it goes (its programs are gone: the reaper) */
	if (stat(run_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen,
			         "run directory '%s' is no directory", run_dir);
			return JOBD_FAILED_PRECONDITION;
		}
		if (workdir_sweep(run_dir, err, errlen) < 0)
			return JOBD_FAILED_PRECONDITION;
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "cannot use the run directory '%s': %s",
		         run_dir, errstr(errno));
		return JOBD_FAILED_PRECONDITION;
	}
	/* A write to a program that closed its stdin must be EPIPE, not the
	 * end of jobd; and a program must stay jobd's child to be waited
	 * for: SIGCHLD ignored would reap it behind the run's back. */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		sa.sa_handler = SIG_IGN;
		(void) sigaction(SIGPIPE, &sa, NULL);
	}
	if (sigaction(SIGCHLD, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
		sa.sa_handler = SIG_DFL;
		(void) sigaction(SIGCHLD, &sa, NULL);
	}
	if ((exec_run_dir = strdup(run_dir)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	if (reaper_start(err, errlen) != 0) {
		free(exec_run_dir);
		exec_run_dir = NULL;
		return JOBD_INTERNAL;
	}
	return JOBD_OK;
}

void
exec_fini(void)
{
	reaper_stop();
	free(exec_run_dir);
	exec_run_dir = NULL;
}

void
exec_spec_free(struct exec_spec *s)
{
	if (s == NULL)
		return;
	free(s->program);
	for (size_t i = 0; s->args != NULL && i < s->nargs; i++)
		free(s->args[i]);
	free(s->args);
	for (size_t i = 0; s->env != NULL && i < s->nenv; i++)
		free(s->env[i]);
	free(s->env);
	free(s->kind_dir);
	free(s);
}

/* A NULL-terminated vector of malloc'd strings. */
struct vec {
	char **v;
	size_t n, cap;
};

static void
vec_free(struct vec *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = v->cap = 0;
}

/* Appends s (taken, even on failure). 0, or -1 out of memory. */
static int
vec_take(struct vec *v, char *s)
{
	if (s == NULL)
		return -1;
	if (v->n + 2 > v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		char **p = realloc(v->v, cap * sizeof(*p));
		if (p == NULL) {
			free(s);
			return -1;
		}
		v->v = p;
		v->cap = cap;
	}
	v->v[v->n++] = s;
	v->v[v->n] = NULL;
	return 0;
}

static int vec_printf(struct vec *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
vec_printf(struct vec *v, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? -1 : vec_take(v, s);
}

/* Sets "NAME=VALUE" in an environment, replacing an earlier NAME. */
static int
env_set(struct vec *env, const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t len = eq != NULL ? (size_t) (eq - entry) + 1 : strlen(entry);
	char *s = strdup(entry);

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], entry, len) == 0) {
			free(env->v[i]);
			env->v[i] = s;
			return 0;
		}
	return vec_take(env, s);
}

static int
build_argv(struct vec *argv, const struct exec_spec *spec, jobd_job *job,
           const struct jobd_host *host)
{
	struct tmpl_vars tv = {host->job_id(job), host->attempt(job),
	                       spec->kind_dir != NULL ? spec->kind_dir : ""};

	if (vec_take(argv, strdup(spec->program)) != 0)
		return -1;
	for (size_t i = 0; i < spec->nargs; i++)
		if (vec_take(argv,
		             tmpl_expand(spec->args[i], job, host, &tv)) != 0)
			return -1;
	return 0;
}

static int
build_env(struct vec *env, const struct exec_spec *spec, jobd_job *job,
          const struct jobd_host *host)
{
	const struct jobd_kind *k = host->kind(job);

	if (vec_printf(env, "PATH=%s", EXEC_PATH) != 0 ||
	    vec_printf(env, "JOBD_JOB_ID=%" PRIu64, host->job_id(job)) != 0 ||
	    vec_printf(env, "JOBD_ATTEMPT=%" PRIu32, host->attempt(job)) != 0 ||
	    vec_printf(env, "JOBD_KIND=%s", k->name) != 0 ||
	    vec_printf(env, "JOBD_PROGRESS_FD=%d", EXEC_PROGRESS_FD) != 0)
		return -1;
	for (size_t i = 0; i < k->nparams; i++) {
		const char *name = k->params[i].name;
		const char *val = host->param(job, name);
		char *s;
		if (val == NULL)
			continue;
		if (asprintf(&s, "JOBD_PARAM_%s=%s", name, val) < 0)
			return -1;
		for (char *p = s + strlen("JOBD_PARAM_"); *p != '='; p++)
			*p = (char) toupper((unsigned char) *p);
		if (vec_take(env, s) != 0)
			return -1;
	}
	for (size_t i = 0; i < spec->nenv; i++)
		if (env_set(env, spec->env[i]) != 0)
			return -1;
	return 0;
}

/* One run's state. The pipes are jobd's ends, non-blocking; -1 once
 * closed. */
struct run {
	const struct exec_spec *spec;
	jobd_job *job;
	const struct jobd_host *host;
	pid_t pid; /* the leader, and the group's id */
	int pidfd; /* -1: waitid() polled instead */
	int in, out, err, prog;

	const uint8_t *input;
	size_t input_len, input_off;

	uint8_t *res; /* stdout, up to max_output bytes */
	size_t res_len, res_cap;
	uint64_t max_output;
	bool over; /* stdout went past max_output */

	char tail[EXEC_STDERR_TAIL]; /* a ring of the last bytes of stderr */
	size_t tail_total;

	char line[EXEC_LINE_MAX]; /* the progress line being read */
	size_t line_len;
	bool line_long; /* the current line is too long: skipped */
	uint64_t done, total;
	bool new_progress;

	bool exited;      /* the leader has exited (not yet reaped) */
	bool stopping;    /* SIGTERM sent on the host's word */
	bool killed;      /* SIGKILL sent to the group */
	uint64_t kill_at; /* stopping: when SIGKILL follows */
	char ierr[256];   /* an internal error, which ends the run */
};

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		(void) close(*fd);
		*fd = -1;
	}
}

static void
group_kill(struct run *r)
{
	(void) kill(-r->pid, SIGKILL);
	r->killed = true;
}

static void
internal_error(struct run *r, const char *what, int e)
{
	if (r->ierr[0] == '\0')
		snprintf(r->ierr, sizeof(r->ierr), "%s: %s", what, errstr(e));
	group_kill(r);
}

/* A complete progress line: "DONE" or "DONE TOTAL", decimal. */
static void
progress_line(struct run *r)
{
	char *p = r->line, *end;
	uint64_t done, total = 0;

	r->line[r->line_len] = '\0';
	if (!isdigit((unsigned char) *p))
		return;
	errno = 0;
	done = strtoull(p, &end, 10);
	if (errno != 0)
		return;
	p = end;
	if (*p == ' ' || *p == '\t') {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!isdigit((unsigned char) *p))
			return;
		total = strtoull(p, &end, 10);
		if (errno != 0)
			return;
		p = end;
	}
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	if (*p != '\0')
		return;
	r->done = done;
	r->total = total;
	r->new_progress = true;
}

static void
progress_bytes(struct run *r, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\n') {
			if (!r->line_long)
				progress_line(r);
			r->line_len = 0;
			r->line_long = false;
		} else if (r->line_len + 1 < sizeof(r->line)) {
			r->line[r->line_len++] = b[i];
		} else {
			r->line_long = true;
		}
	}
}

static void
stdout_bytes(struct run *r, const char *b, size_t n)
{
	if (r->over)
		return;
	if (r->res_len + n > r->max_output) {
		r->over = true;
		group_kill(r);
		return;
	}
	if (r->res_len + n > r->res_cap) {
		size_t cap = r->res_cap ? r->res_cap : EXEC_READ_CHUNK;
		while (cap < r->res_len + n)
			cap *= 2;
		if (cap > r->max_output)
			cap = r->max_output;
		uint8_t *p = realloc(r->res, cap);
		if (p == NULL) {
			internal_error(r, "cannot keep the output", ENOMEM);
			return;
		}
		r->res = p;
		r->res_cap = cap;
	}
	memcpy(r->res + r->res_len, b, n);
	r->res_len += n;
}

static void
stderr_bytes(struct run *r, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		r->tail[(r->tail_total + i) % sizeof(r->tail)] = b[i];
	r->tail_total += n;
}

/* Reads what fd has; closes it at end of file. */
static void
pump_read(struct run *r, int *fd, char *buf,
          void (*sink)(struct run *, const char *, size_t))
{
	for (;;) {
		ssize_t n = read(*fd, buf, EXEC_READ_CHUNK);
		if (n > 0) {
			sink(r, buf, (size_t) n);
			if (n < EXEC_READ_CHUNK)
				return;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0)
			internal_error(r, "cannot read from the program",
			               errno);
		close_fd(fd);
		return;
	}
}

static void
pump_write(struct run *r)
{
	while (r->input_off < r->input_len) {
		ssize_t n = write(r->in, r->input + r->input_off,
		                  r->input_len - r->input_off);
		if (n > 0) {
			r->input_off += (size_t) n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* EPIPE: the program does not want the rest; not an error */
		if (n < 0 && errno != EPIPE)
			internal_error(r, "cannot write to the program", errno);
		break;
	}
	close_fd(&r->in);
}

/* Has the leader exited? Seen without reaping it. */
static bool
leader_exited(struct run *r, bool pidfd_ready)
{
	siginfo_t si;

	if (r->pidfd >= 0)
		return pidfd_ready;
	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t) r->pid, &si, WEXITED | WNOHANG | WNOWAIT) <
	       0) {
		if (errno != EINTR) {
			internal_error(r, "cannot watch the program", errno);
			return false;
		}
	}
	return si.si_pid == r->pid;
}

/* The poll loop, until the leader has exited and the pipes are drained. */
static void
pump(struct run *r)
{
	char *buf = malloc(EXEC_READ_CHUNK);
	uint64_t next_tick = now_ms() + EXEC_TICK_MS, drain_until = 0;

	if (buf == NULL) {
		internal_error(r, "cannot pump the program's pipes", ENOMEM);
		return;
	}
	if (r->input_len == 0)
		close_fd(&r->in);
	for (;;) {
		struct pollfd pf[5];
		int *fds[4] = {&r->in, &r->out, &r->err, &r->prog};
		int npf = 0, idx[5];
		uint64_t now = now_ms(), until;

		if (r->exited && ((r->out < 0 && r->err < 0 && r->prog < 0) ||
		                  now >= drain_until))
			break;
		for (int i = 0; i < 4; i++)
			if (*fds[i] >= 0) {
				pf[npf].fd = *fds[i];
				pf[npf].events = i == 0 ? POLLOUT : POLLIN;
				idx[npf++] = i;
			}
		if (!r->exited && r->pidfd >= 0) {
			pf[npf].fd = r->pidfd;
			pf[npf].events = POLLIN;
			idx[npf++] = 4;
		}
		until = r->exited ? drain_until : next_tick;
		if (r->stopping && !r->killed && r->kill_at < until)
			until = r->kill_at;
		int timeout = until > now ? (int) (until - now) : 0;
		int n = poll(pf, (nfds_t) npf, timeout);
		if (n < 0 && errno != EINTR) {
			internal_error(r, "cannot poll the program's pipes",
			               errno);
			break;
		}
		bool pidfd_ready = false;
		for (int i = 0; n > 0 && i < npf; i++) {
			if (pf[i].revents == 0)
				continue;
			switch (idx[i]) {
			case 0:
				pump_write(r);
				break;
			case 1:
				pump_read(r, &r->out, buf, stdout_bytes);
				break;
			case 2:
				pump_read(r, &r->err, buf, stderr_bytes);
				break;
			case 3:
				pump_read(r, &r->prog, buf, progress_bytes);
				break;
			case 4:
				pidfd_ready = true;
				break;
			}
		}
		now = now_ms();
		if (!r->exited && leader_exited(r, pidfd_ready)) {
			/* no child of the program outlives its run */
			r->exited = true;
			group_kill(r);
			close_fd(&r->in);
			drain_until = now + EXEC_DRAIN_MS;
			continue;
		}
		if (r->exited || r->killed)
			continue;
		if (r->stopping) {
			if (now >= r->kill_at)
				group_kill(r);
			continue;
		}
		if (r->new_progress || now >= next_tick) {
			r->new_progress = false;
			next_tick = now + EXEC_TICK_MS;
			if (r->host->progress(r->job, r->done, r->total) != 0) {
				r->stopping = true;
				r->kill_at = now + r->spec->grace_ms;
				(void) kill(-r->pid, SIGTERM);
			}
		}
	}
	free(buf);
}

/* Ends the group and reaps the leader: *status as from waitpid(). The
 * group is unregistered while the leader is unreaped, so its id is still
 * ours. */
static int
reap(struct run *r, int *status)
{
	siginfo_t si;

	if (!r->exited) {
		group_kill(r);
		while (waitid(P_PID, (id_t) r->pid, &si, WEXITED | WNOWAIT) < 0)
			if (errno != EINTR)
				return -1;
	}
	(void) kill(-r->pid, SIGKILL);
	/* the group is dead: the reaper can only forget it */
	(void) reaper_del(r->pid);
	while (waitpid(r->pid, status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* The last bytes of stderr, whitespace trimmed, starting at a whole UTF-8
 * character; into s (at least EXEC_STDERR_TAIL + 1 bytes). */
static void
tail_text(const struct run *r, char *s)
{
	size_t n =
	    r->tail_total < sizeof(r->tail) ? r->tail_total : sizeof(r->tail);
	size_t start = r->tail_total - n, i = 0;

	for (size_t k = 0; k < n; k++)
		s[k] = r->tail[(start + k) % sizeof(r->tail)];
	s[n] = '\0';
	if (r->tail_total > n)
		while (i < n && ((unsigned char) s[i] & 0xc0) == 0x80)
			i++;
	while (i < n && isspace((unsigned char) s[i]))
		i++;
	while (n > i && isspace((unsigned char) s[n - 1]))
		n--;
	memmove(s, s + i, n - i);
	s[n - i] = '\0';
}

static int
outcome(struct run *r, int status)
{
	const struct jobd_host *h = r->host;
	char tail[EXEC_STDERR_TAIL + 1], what[96];
	const char *sep;

	if (r->ierr[0] != '\0')
		return h->fail(r->job, "%s", r->ierr);
	if (r->stopping)
		return JOBD_RUN_STOPPED;
	if (r->over)
		return h->fail(r->job, "the output exceeded %" PRIu64 " bytes",
		               r->max_output);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (h->set_result(r->job, r->res != NULL ? r->res : (void *) "",
		                  r->res_len) != 0)
			return h->fail(r->job, "out of memory for the result");
		return JOBD_RUN_OK;
	}
	if (WIFEXITED(status)) {
		snprintf(what, sizeof(what), "exit status %d",
		         WEXITSTATUS(status));
	} else {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));
		snprintf(what, sizeof(what), "killed by signal %d (SIG%s)",
		         WTERMSIG(status), abbrev != NULL ? abbrev : "?");
	}
	tail_text(r, tail);
	sep = tail[0] != '\0' ? ": " : "";
	(void) h->fail(r->job, "%s%s%s", what, sep, tail);
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXEC_NO_RETRY_EXIT)
		return JOBD_RUN_FAILED_FINAL;
	return JOBD_RUN_FAILED;
}

/* The four pipes: jobd's ends in r (non-blocking), the program's in child
 * (0-3). */
static int
make_pipes(struct run *r, int child[4])
{
	int p[2];
	int *mine[4] = {&r->in, &r->out, &r->err, &r->prog};

	for (int i = 0; i < 4; i++) {
		if (launch_pipe(p) != 0)
			return -1;
		/* stdin: the program reads p[0]; the rest it writes p[1] */
		*mine[i] = i == 0 ? p[1] : p[0];
		child[i] = i == 0 ? p[0] : p[1];
		if (fcntl(*mine[i], F_SETFL, O_NONBLOCK) != 0)
			return -1;
	}
	return 0;
}

int
exec_run(jobd_job *job, const struct jobd_host *host)
{
	const struct exec_spec *spec = host->kind(job)->data;
	struct vec argv = {NULL, 0, 0}, env = {NULL, 0, 0};
	struct run *r;
	char *dir = NULL, err[512];
	int child[4] = {-1, -1, -1, -1};
	int status = 0, rv;

	if (exec_run_dir == NULL || reaper_fd() < 0)
		return host->fail(job, "program kinds are not set up "
		                       "(exec_init)");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return host->fail(job, "out of memory");
	r->spec = spec;
	r->job = job;
	r->host = host;
	r->pid = -1;
	r->pidfd = r->in = r->out = r->err = r->prog = -1;
	host->input(job, &r->input, &r->input_len);
	r->max_output =
	    spec->max_output != 0 ? spec->max_output : EXEC_DEFAULT_MAX_OUTPUT;
	if (r->max_output > EXEC_MAX_OUTPUT)
		r->max_output = EXEC_MAX_OUTPUT;

	if (build_argv(&argv, spec, job, host) != 0 ||
	    build_env(&env, spec, job, host) != 0) {
		rv = host->fail(job, "out of memory");
		goto fail_args;
	}
	dir = workdir_create(exec_run_dir, host->job_id(job),
	                     host->attempt(job), err, sizeof(err));
	if (dir == NULL) {
		rv = host->fail(job, "%s", err);
		goto fail_args;
	}
	if (make_pipes(r, child) != 0) {
		rv = host->fail(job, "cannot make pipes for '%s': %s",
		                spec->program, errstr(errno));
		goto fail_pipes;
	}

	struct launch_req req = {
	    .path = spec->program,
	    .argv = argv.v,
	    .envp = env.v,
	    .cwd = dir,
	    .fd = {child[0], child[1], child[2], child[3]},
	    .lim = &spec->lim,
	    .reaper_fd = reaper_fd(),
	    .nofile_soft = exec_nofile_soft,
	};
	if (launch_start(&req, &r->pid, err, sizeof(err)) != 0) {
		rv = host->fail(job, "%s", err);
		goto fail_pipes;
	}
	for (int i = 0; i < 4; i++)
		close_fd(&child[i]);
	if ((r->pidfd = pidfd_open(r->pid, 0)) < 0 && errno != ENOSYS)
		internal_error(r, "cannot watch the program", errno);

	if (r->ierr[0] == '\0')
		pump(r);
	if (reap(r, &status) != 0 && r->ierr[0] == '\0')
		snprintf(r->ierr, sizeof(r->ierr), "cannot wait for '%s': %s",
		         spec->program, errstr(errno));
	close_fd(&r->pidfd);
	rv = outcome(r, status);

fail_pipes:
	for (int i = 0; i < 4; i++)
		close_fd(&child[i]);
	close_fd(&r->in);
	close_fd(&r->out);
	close_fd(&r->err);
	close_fd(&r->prog);
	if (workdir_remove(dir, err, sizeof(err)) != 0 && rv == JOBD_RUN_OK)
		rv = host->fail(job, "%s", err);
	free(dir);
fail_args:
	vec_free(&argv);
	vec_free(&env);
	free(r->res);
	free(r);
	return rv;
}

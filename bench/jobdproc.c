/*
 * jobdproc: the benchmark's own jobd, as a child process.
 *
 * The child's environment is the benchmark's without its JOBD_* variables
 * (jobd reads its settings from them: a JOBD_AUTH_TOKEN_FILE or
 * JOBD_RETENTION of the caller's must not change what is measured). It is
 * built before fork(), so that the child only calls async-signal-safe
 * functions between fork() and exec(). An exec that fails sends its errno
 * through a close-on-exec pipe, so the parent can say why.
 *
 * Every running child's pid is kept in `live`, which the signal handler
 * reads: on SIGINT, SIGTERM or SIGHUP it SIGKILLs them and dies of the
 * signal. Children are started from the main thread only, since
 * PR_SET_PDEATHSIG fires when the thread that forked exits.
 */
#include "jobdproc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MAX_LIVE       8
#define MAX_ARGS       32
#define STOP_WAIT_MS   60000
#define START_WAIT_MS  60000
#define PING_TIMEOUT   200 /* ms, one Ping while waiting for jobd */
#define LOG_TAIL_BYTES 1500

extern char **environ;

static volatile pid_t live[MAX_LIVE];
static char interrupted[PATH_MAX + 96]; /* what the handler says */
static size_t interrupted_len;

static void
live_add(pid_t pid)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == 0) {
			live[i] = pid;
			return;
		}
}

static void
live_del(pid_t pid)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == pid)
			live[i] = 0;
}

static void
on_signal(int sig)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] > 0)
			kill(live[i], SIGKILL);
	if (write(STDERR_FILENO, interrupted, interrupted_len) < 0) {
		/* nothing to be done */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void
jobdproc_signals(const char *datadir)
{
	struct sigaction sa;

	if (*datadir != '\0')
		snprintf(interrupted, sizeof(interrupted),
		         "jobd-bench: interrupted: killed its jobd; '%s' is "
		         "left\n",
		         datadir);
	else
		snprintf(interrupted, sizeof(interrupted),
		         "jobd-bench: interrupted\n");
	interrupted_len = strlen(interrupted);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int
jobdproc_free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd, port = 0;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		bench_errorf("cannot open a socket: %s", strerror(errno));
		return 0;
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *) &a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *) &a, &len) != 0)
		bench_errorf("cannot find a free port on 127.0.0.1: %s",
		             strerror(errno));
	else
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* The environment without JOBD_* (a malloc'd array of borrowed strings). */
static char **
child_env(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "JOBD_", 5) != 0)
			env[k++] = environ[i];
	return env;
}

/* The last lines of p's log on stderr, to show why it failed. */
static void
show_log_tail(const struct jobdproc *p)
{
	char buf[LOG_TAIL_BYTES + 1];
	ssize_t n;
	off_t end;
	int fd;

	if ((fd = open(p->log, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end > LOG_TAIL_BYTES)
		lseek(fd, end - LOG_TAIL_BYTES, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, LOG_TAIL_BYTES);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	char *s = buf;
	if (end > LOG_TAIL_BYTES && (s = strchr(buf, '\n')) != NULL)
		s++; /* from the first whole line */
	else
		s = buf;
	fprintf(stderr, "jobd-bench: the end of %s:\n", p->log);
	for (char *line = strtok(s, "\n"); line != NULL;
	     line = strtok(NULL, "\n"))
		fprintf(stderr, "    %s\n", line);
}

/* How a child ended, for messages. */
static void
describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(st),
		         strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "ended with wait status %d", st);
}

int
jobdproc_spawn(struct jobdproc *p, const char *jobd, const char *dir,
               const char *const *extra)
{
	return (jobdproc_spawn_db(p, jobd, dir, NULL, extra));
}

int
jobdproc_spawn_db(struct jobdproc *p, const char *jobd, const char *dir,
                  const char *db, const char *const *extra)
{
	const char *argv[MAX_ARGS];
	char **env;
	int n = 0, port, pfd[2], logfd, err = 0;
	pid_t parent = getpid();

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	if (db != NULL)
		snprintf(p->db, sizeof(p->db), "%s", db);
	else
		snprintf(p->db, sizeof(p->db), "%s/jobd.db", dir);
	snprintf(p->log, sizeof(p->log), "%s/jobd.log", dir);
	snprintf(p->runs, sizeof(p->runs), "%s/jobd.runs", dir);
	if ((port = jobdproc_free_port()) == 0)
		return (-1);
	snprintf(p->url, sizeof(p->url), "tcp://127.0.0.1:%d", port);

	argv[n++] = jobd;
	argv[n++] = "--db";
	argv[n++] = p->db;
	argv[n++] = "--listen";
	argv[n++] = p->url;
	if (db != NULL) {
		/* not the database's path: the default is beside it, or in
		 * the working directory for a URL, which others share */
		argv[n++] = "--run-dir";
		argv[n++] = p->runs;
	}
	for (; extra != NULL && *extra != NULL && n < MAX_ARGS - 1; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;

	logfd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		bench_errorf("cannot open '%s': %s", p->log, strerror(errno));
		return (-1);
	}
	if ((env = child_env()) == NULL) {
		bench_errorf("out of memory");
		close(logfd);
		return (-1);
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		bench_errorf("cannot make a pipe: %s", strerror(errno));
		free(env);
		close(logfd);
		return (-1);
	}
	fflush(NULL);
	if ((p->pid = fork()) < 0) {
		bench_errorf("cannot start jobd '%s': fork: %s", jobd,
		             strerror(errno));
		p->pid = 0;
		close(pfd[0]);
		close(pfd[1]);
		free(env);
		close(logfd);
		return (-1);
	}
	if (p->pid == 0) {
		sigset_t none;
		int nullfd;

		/* dies with the benchmark: never a jobd left behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if ((nullfd = open("/dev/null", O_RDONLY)) < 0 ||
		    dup2(nullfd, STDIN_FILENO) < 0 ||
		    dup2(logfd, STDOUT_FILENO) < 0 ||
		    dup2(logfd, STDERR_FILENO) < 0)
			err = errno;
		else
			execve(jobd, (char *const *) argv, env);
		if (err == 0)
			err = errno;
		if (write(pfd[1], &err, sizeof(err)) < 0) {
			/* the parent sees no errno and says so */
		}
		_exit(127);
	}
	live_add(p->pid);
	close(pfd[1]);
	close(logfd);
	free(env);
	/* 0 bytes: the exec worked and closed the pipe */
	ssize_t r;
	while ((r = read(pfd[0], &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (r > 0) {
		waitpid(p->pid, NULL, 0);
		live_del(p->pid);
		p->pid = 0;
		bench_errorf("cannot start jobd '%s': %s", jobd, strerror(err));
		return (-1);
	}
	return (0);
}

/* Reaps p if it has exited: true, with *st its wait status. */
static bool
exited(struct jobdproc *p, int *st)
{
	if (waitpid(p->pid, st, WNOHANG) != p->pid)
		return (false);
	live_del(p->pid);
	p->pid = 0;
	return (true);
}

int
jobdproc_ready(struct jobdproc *p, uint32_t timeout_ms, int64_t *ready_ns)
{
	int64_t end = bench_now_ns() + (int64_t) timeout_ms * 1000000;
	char how[128];
	int st;

	for (;;) {
		jobd_client *c;
		Jobd__V1__PingReply *pong;

		if (jobd_client_open(&c, p->url) == JOBD_OK) {
			jobd_client_set_timeout(c, PING_TIMEOUT);
			int rv = jobd_ping(c, &pong);
			int64_t t = bench_now_ns();
			jobd_client_close(c);
			if (rv == JOBD_OK) {
				jobd__v1__ping_reply__free_unpacked(pong, NULL);
				if (ready_ns != NULL)
					*ready_ns = t;
				return (0);
			}
		}
		if (exited(p, &st)) {
			describe_status(st, how, sizeof(how));
			bench_errorf("jobd at '%s' %s before it answered Ping",
			             p->url, how);
			show_log_tail(p);
			return (-1);
		}
		if (bench_now_ns() > end) {
			bench_errorf("jobd at '%s' did not answer Ping within "
			             "%u ms",
			             p->url, (unsigned) timeout_ms);
			jobdproc_kill(p);
			show_log_tail(p);
			return (-1);
		}
		bench_sleep_us(1000);
	}
}

int
jobdproc_start(struct jobdproc *p, const char *jobd, const char *dir,
               const char *const *extra)
{
	return (jobdproc_start_db(p, jobd, dir, NULL, extra));
}

int
jobdproc_start_db(struct jobdproc *p, const char *jobd, const char *dir,
                  const char *db, const char *const *extra)
{
	if (jobdproc_spawn_db(p, jobd, dir, db, extra) != 0)
		return (-1);
	return (jobdproc_ready(p, START_WAIT_MS, NULL));
}

int
jobdproc_stop(struct jobdproc *p)
{
	char how[128];
	int st;

	if (p->pid <= 0)
		return (0);
	if (kill(p->pid, SIGTERM) != 0) {
		bench_errorf("cannot stop jobd %d: %s", (int) p->pid,
		             strerror(errno));
		jobdproc_kill(p);
		return (-1);
	}
	for (int i = 0; i < STOP_WAIT_MS; i++) {
		if (exited(p, &st)) {
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
				return (0);
			describe_status(st, how, sizeof(how));
			bench_errorf("jobd at '%s' %s after SIGTERM", p->url,
			             how);
			show_log_tail(p);
			return (-1);
		}
		bench_sleep_us(1000);
	}
	bench_errorf("jobd at '%s' did not stop within %d s of SIGTERM: "
	             "killed",
	             p->url, STOP_WAIT_MS / 1000);
	jobdproc_kill(p);
	show_log_tail(p);
	return (-1);
}

void
jobdproc_kill(struct jobdproc *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
		;
	live_del(p->pid);
	p->pid = 0;
}

int
jobdproc_rss(const struct jobdproc *p, uint64_t *bytes)
{
	char path[64], line[256];
	unsigned long long kb;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) p->pid);
	if ((f = fopen(path, "re")) == NULL) {
		bench_errorf("cannot open '%s': %s", path, strerror(errno));
		return (-1);
	}
	while (!found && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			found = true;
	fclose(f);
	if (!found) {
		bench_errorf("no VmRSS in '%s'", path);
		return (-1);
	}
	*bytes = (uint64_t) kb * 1024;
	return (0);
}

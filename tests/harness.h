#ifndef JOBD_HARNESS_H
#define JOBD_HARNESS_H

/*
 * harness: starts the real jobd (the binary in $JOBD_BIN) on a temporary
 * directory and an ipc:// address, for integration tests; a client of it;
 * and raw requests on a REQ socket of their own, for what the client
 * library would not send.
 *
 * $JOBD_WRAPPER, when set, is a command line that every jobd started here
 * runs under (words split at spaces), e.g. valgrind with its options
 * (-DJOBD_VALGRIND=ON sets it). jd_fini() stops the daemon gracefully and
 * fails the test if it did not exit 0 or if its log holds a sanitizer's or
 * valgrind's report, so an error in the daemon fails the test that caused
 * it even when no reply showed it.
 *
 * The PostgreSQL run (ctest label `postgres`): with $JOBD_TEST_DB_URL set
 * (tests/pg_cluster.sh's wrapper sets it to its server's URL) jd_init()
 * makes a database of its own on that server, named as the daemon's
 * directory, and d->db is its URL, so every daemon a test starts is a
 * --db postgresql://... daemon with a fresh queue, and tests run in
 * parallel on one server; jd_fini() drops it. jd_spawn() gives each such
 * jobd the node name of its directory (JOBD_NODE, when not set already):
 * stable across its restarts, as a deployment with --node has it, so a
 * restarted daemon recovers its own leases at once. TEST_SKIP_IF(jd_pg(),
 * why) skips a test whose subject is the SQLite file itself.
 */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "jobd_client.h"
#include "test.h"

struct jd {
	char dir[64];
	char db[128];    /* the file, or the URL of the PostgreSQL database */
	char pgname[64]; /* that database's name, "" for SQLite */
	char url[128];
	char log[128];
	char token[128]; /* jobd requires it when not "" (jd_set_token) */
	pid_t pid;
};

/* True when jobd and the tests run under $JOBD_WRAPPER (valgrind): much
 * slower. */
static inline bool
jd_wrapped(void)
{
	const char *w = getenv("JOBD_WRAPPER");
	return w != NULL && *w != '\0';
}

static inline int64_t
h_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A TCP port on 127.0.0.1 that was free a moment ago (bound, read,
 * released); 0 if none could be had. */
static inline int
jd_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd, port = 0;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 0;
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *) &sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static inline double
h_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

/* The URL of the PostgreSQL server of the PostgreSQL run
 * ($JOBD_TEST_DB_URL), NULL in the SQLite run. */
static inline const char *
jd_pg_url(void)
{
	const char *u = getenv("JOBD_TEST_DB_URL");
	return u != NULL && *u != '\0' ? u : NULL;
}

/* True in the PostgreSQL run. */
static inline bool
jd_pg(void)
{
	return jd_pg_url() != NULL;
}

/* Runs `sql` through psql ($JOBD_TEST_PSQL, or psql) on the server's
 * administrative database; 0 on success, else says why on stderr. */
static inline int
jd_pg_admin(const char *sql)
{
	const char *psql = getenv("JOBD_TEST_PSQL");
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	         "'%s' -X -q -v ON_ERROR_STOP=1 -d '%s' -c '%s' >/dev/null",
	         psql != NULL && *psql != '\0' ? psql : "psql", jd_pg_url(),
	         sql);
	if (system(cmd) != 0) {
		fprintf(stderr, "psql failed: %s\n", sql);
		return -1;
	}
	return 0;
}

/* Makes database `name` on the server of $JOBD_TEST_DB_URL and writes its
 * URL (the server's, with the database replaced) to url. 0 or -1. */
static inline int
jd_pg_createdb(const char *name, char *url, size_t size)
{
	const char *base = jd_pg_url(), *auth, *path, *query;
	char sql[160];

	if ((auth = strstr(base, "://")) == NULL) {
		fprintf(stderr, "JOBD_TEST_DB_URL '%s' is not a URL\n", base);
		return -1;
	}
	if ((query = strchr(auth + 3, '?')) == NULL)
		query = base + strlen(base);
	for (path = auth + 3; path < query && *path != '/'; path++)
		;
	if ((size_t) snprintf(url, size, "%.*s/%s%s", (int) (path - base), base,
	                      name, query) >= size)
		return -1;
	snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
	return jd_pg_admin(sql);
}

/* Drops database `name` (its connections closed by force). */
static inline void
jd_pg_dropdb(const char *name)
{
	char sql[160];
	snprintf(sql, sizeof(sql),
	         "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
	(void) jd_pg_admin(sql);
}

/* Makes a fresh directory /tmp/<prefix>-XXXXXX for a daemon, and in the
 * PostgreSQL run a database of the same name. */
static inline int
jd_init_in(struct jd *d, const char *prefix)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/%.40s-XXXXXX", prefix);
	if (mkdtemp(d->dir) == NULL)
		return -1;
	snprintf(d->db, sizeof(d->db), "%s/jobd.db", d->dir);
	if (jd_pg()) {
		snprintf(d->pgname, sizeof(d->pgname), "%s", d->dir + 5);
		if (jd_pg_createdb(d->pgname, d->db, sizeof(d->db)) != 0) {
			d->pgname[0] = '\0';
			return -1;
		}
	}
	snprintf(d->url, sizeof(d->url), "ipc://%s/jobd.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/jobd.log", d->dir);
	return 0;
}

/* Makes a fresh directory /tmp/jobd-it-XXXXXX for a daemon. */
static inline int
jd_init(struct jd *d)
{
	return jd_init_in(d, "jobd-it");
}

/* Makes d's jobd require `token`: writes it to <dir>/token (mode 0600),
 * which jd_start() passes as --auth-token-file; the harness's clients of d
 * (its probe, jd_connect) send it. Before jd_start; 0 or -1. */
static inline int
jd_set_token(struct jd *d, const char *token)
{
	char path[160];
	size_t n = strlen(token);
	bool ok;
	int fd;

	if (n >= sizeof(d->token))
		return -1;
	snprintf(path, sizeof(path), "%s/token", d->dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return -1;
	ok = write(fd, token, n) == (ssize_t) n && write(fd, "\n", 1) == 1;
	close(fd);
	if (ok)
		memcpy(d->token, token, n + 1);
	return ok ? 0 : -1;
}

/* Forks and execs jobd with `args` (NULL-terminated, after the program's
 * name) under $JOBD_WRAPPER, its stderr to `log` opened with `mode` ("a",
 * "w"), its stdout to /dev/null; it dies with the test. Its pid, -1 on
 * failure. */
static inline pid_t
jd_spawn(const char *const *args, const char *log, const char *mode)
{
	const char *bin = getenv("JOBD_BIN");
	const char *wrap = getenv("JOBD_WRAPPER");
	char words[1024];
	const char *argv[64];
	int n = 0;
	pid_t pid;

	if (bin == NULL) {
		fprintf(stderr, "JOBD_BIN is not set\n");
		return -1;
	}
	if (jd_wrapped()) {
		snprintf(words, sizeof(words), "%s", wrap);
		for (char *w = strtok(words, " "); w != NULL && n < 32;
		     w = strtok(NULL, " "))
			argv[n++] = w;
	}
	argv[n++] = bin;
	for (; args != NULL && *args != NULL && n < 63; args++)
		argv[n++] = *args;
	argv[n] = NULL;

	static int fini_at_exit;
	if (!fini_at_exit++)
		atexit(nng_fini); /* nng's threads, for leak checkers */
	fflush(NULL);
	if ((pid = fork()) != 0)
		return pid;
	/* dies with the test, and keeps none of its output pipes: a crashed
	 * test must not leave a daemon holding ctest's pipe */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (jd_pg() && getenv("JOBD_NODE") == NULL) {
		/* the node: the name of the daemon's directory, its log's */
		char node[128];
		const char *slash = strrchr(log, '/');
		size_t len = slash != NULL ? (size_t) (slash - log) : 0;
		snprintf(node, sizeof(node), "%.*s", (int) len, log);
		slash = strrchr(node, '/');
		setenv("JOBD_NODE", slash != NULL ? slash + 1 : node, 1);
	}
	if (freopen(log, mode, stderr) == NULL ||
	    freopen("/dev/null", "w", stdout) == NULL)
		_exit(126);
	execvp(argv[0], (char *const *) argv);
	_exit(127);
}

/* Runs jobd with `args` (NULL-terminated: its whole command line, no
 * --listen or --db added) as jd_spawn(), its stderr to `log` (truncated),
 * and waits up to ms for it to exit: its wait status, or -1 if it did not
 * (then it is killed). */
static inline int
jd_run(const char *const *args, const char *log, int ms)
{
	pid_t pid = jd_spawn(args, log, "w");
	int st;

	if (pid < 0)
		return -1;
	for (int64_t end = h_now_ms() + ms; h_now_ms() < end;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* A client of d's jobd, with its token if it has one; NULL (saying why on
 * stderr) on failure. */
static inline jobd_client *
jd_connect(struct jd *d)
{
	jobd_client *c = NULL;
	if (jobd_client_open(&c, d->url) != JOBD_OK) {
		fprintf(stderr, "connect: %s\n", jobd_client_errmsg());
		return NULL;
	}
	if (d->token[0] != '\0' &&
	    jobd_client_set_token(c, d->token) != JOBD_OK) {
		fprintf(stderr, "token: %s\n", jobd_client_errmsg());
		jobd_client_close(c);
		return NULL;
	}
	return c;
}

/* Starts jobd on d (--listen d->url --db d->db --grace 200ms, and
 * --auth-token-file if jd_set_token() was called) with extra arguments
 * (NULL-terminated) and waits until it answers Ping. 0 on success. */
static inline int
jd_start(struct jd *d, const char *const *extra)
{
	char token_file[160];
	const char *argv[64];
	int n = 0;

	argv[n++] = "--listen";
	argv[n++] = d->url;
	argv[n++] = "--db";
	argv[n++] = d->db;
	/* so that jd_fini's graceful stop is quick; `extra` may override */
	argv[n++] = "--grace";
	argv[n++] = "200ms";
	if (d->token[0] != '\0') {
		snprintf(token_file, sizeof(token_file), "%s/token", d->dir);
		argv[n++] = "--auth-token-file";
		argv[n++] = token_file;
	}
	for (; extra != NULL && *extra != NULL && n < 63; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;

	if ((d->pid = jd_spawn(argv, d->log, "a")) < 0)
		return -1;
	/* 5 s, or 60 s under a wrapper such as valgrind */
	for (int i = 0; i < (jd_wrapped() ? 6000 : 500); i++) {
		jobd_client *c;
		Jobd__V1__PingReply *pong;
		if (jobd_client_open(&c, d->url) == JOBD_OK) {
			if (d->token[0] != '\0')
				jobd_client_set_token(c, d->token);
			jobd_client_set_timeout(c, 1000);
			int rv = jobd_ping(c, &pong);
			if (rv == JOBD_OK)
				jobd__v1__ping_reply__free_unpacked(pong, NULL);
			jobd_client_close(c);
			if (rv == JOBD_OK)
				return 0;
		}
		int st;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return -1; /* it exited */
		}
		usleep(10000);
	}
	return -1;
}

/* Sends sig and waits for the daemon to exit; returns its wait status. */
static inline int
jd_kill(struct jd *d, int sig)
{
	int st = -1;
	if (d->pid > 0) {
		kill(d->pid, sig);
		waitpid(d->pid, &st, 0);
		d->pid = 0;
	}
	return st;
}

/* Copies the file at path (a log) to stderr. */
static inline void
jd_dump_file(const char *path)
{
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "cat '%s' >&2", path);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
}

static inline void
jd_dump_log(const struct jd *d)
{
	jd_dump_file(d->log);
}

/* How many lines of the file at path (a log) hold `what`; -1 if it cannot
 * be read. */
static inline int
jd_count_lines(const char *path, const char *what)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, what) != NULL)
			n++;
	fclose(f);
	return n;
}

/* Sends SIGTERM and waits up to 60 s for the daemon to exit, then SIGKILL.
 * Returns its wait status. */
static inline int
jd_stop(struct jd *d)
{
	int st = -1;
	if (d->pid <= 0)
		return st;
	kill(d->pid, SIGTERM);
	for (int i = 0; i < 6000; i++) {
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return st;
		}
		if (i == 1000)
			fprintf(stderr,
			        "jobd %d has not stopped 10 s after "
			        "SIGTERM; waiting up to 60 s\n",
			        (int) d->pid);
		usleep(10000);
	}
	fprintf(stderr, "jobd %d did not stop 60 s after SIGTERM: SIGKILL\n",
	        (int) d->pid);
	return jd_kill(d, SIGKILL);
}

/* True when the daemon's log holds a report of AddressSanitizer,
 * LeakSanitizer, UBSan, ThreadSanitizer or valgrind (whose lines start
 * "==PID=="). */
static inline bool
jd_log_has_report(const struct jd *d)
{
	static const char *const marks[] = {
	    "ERROR: AddressSanitizer",
	    "ERROR: LeakSanitizer",
	    "runtime error:",
	    "WARNING: ThreadSanitizer",
	    "ThreadSanitizer: reported",
	};
	char line[1024];
	bool found = false;
	FILE *f = fopen(d->log, "r");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
			if (strstr(line, marks[i]) != NULL)
				found = true;
		size_t k = 2;
		while (line[0] == '=' && line[1] == '=' && line[k] >= '0' &&
		       line[k] <= '9')
			k++;
		if (k > 2 && line[k] == '=' && line[k + 1] == '=')
			found = true;
	}
	fclose(f);
	return found;
}

/* Stops the daemon gracefully (SIGKILL after 60 s), checks that it exited
 * 0 with no sanitizer or valgrind report in its log, and removes the dir. */
static inline void
jd_fini(struct jd *d)
{
	char cmd[160];
	if (d->pid > 0) {
		int st = jd_stop(d);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			TEST_FAIL_("jobd did not exit 0 at the end of the test "
			           "(wait status %d)",
			           st);
	}
	if (jd_log_has_report(d))
		TEST_FAIL_("jobd's log has a sanitizer or valgrind report");
	if (test_failures > 0) {
		fprintf(stderr, "--- jobd log of %s:\n", d->dir);
		jd_dump_log(d);
	}
	if (getenv("JOBD_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", d->dir);
		if (d->pgname[0] != '\0')
			jd_pg_dropdb(d->pgname);
	}
}

/* A fresh daemon with `args`, and a client of it; NULL on failure. */
static inline jobd_client *
jd_up(struct jd *d, const char *const *args)
{
	if (jd_init(d) != 0 || jd_start(d, args) != 0) {
		jd_dump_log(d);
		return NULL;
	}
	return jd_connect(d);
}

static inline void
jd_down(struct jd *d, jobd_client *c)
{
	jobd_client_close(c);
	jd_fini(d);
}

/* Sends raw bytes on a REQ socket of its own and returns the decoded
 * Response (caller frees); NULL when none came within timeout_ms or it
 * does not decode. */
static inline Jobd__V1__Response *
jd_raw_call(const char *url, const void *buf, size_t len, int timeout_ms)
{
	nng_socket s;
	nng_msg *m;
	Jobd__V1__Response *resp = NULL;
	if (nng_req0_open(&s) != 0)
		return NULL;
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
	if (nng_dial(s, url, NULL, 0) == 0 && nng_msg_alloc(&m, 0) == 0) {
		nng_msg_append(m, buf, len);
		if (nng_sendmsg(s, m, 0) != 0)
			nng_msg_free(m);
		else if (nng_recvmsg(s, &m, 0) == 0) {
			resp = jobd__v1__response__unpack(NULL, nng_msg_len(m),
			                                  nng_msg_body(m));
			nng_msg_free(m);
		}
	}
	nng_close(s);
	return resp;
}

/* Sends an envelope for `method` around `body` (a message, or NULL) with
 * `deadline_ms`; the decoded Response as jd_raw_call. */
static inline Jobd__V1__Response *
jd_raw_request(const char *url, const char *method,
               const ProtobufCMessage *body, uint32_t deadline_ms,
               int timeout_ms)
{
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	Jobd__V1__Response *resp = NULL;
	uint8_t *b = NULL, *buf;
	size_t n;

	req.method = (char *) method;
	req.deadline_ms = deadline_ms;
	if (body != NULL) {
		if ((b = malloc(protobuf_c_message_get_packed_size(body) +
		                1)) == NULL)
			return NULL;
		req.body.len = protobuf_c_message_pack(body, b);
		req.body.data = b;
	}
	n = jobd__v1__request__get_packed_size(&req);
	if ((buf = malloc(n + 1)) != NULL) {
		jobd__v1__request__pack(&req, buf);
		resp = jd_raw_call(url, buf, n, timeout_ms);
		free(buf);
	}
	free(b);
	return resp;
}

/* The code of the Response to raw bytes; -1 if none came within 5 s. */
static inline int
jd_raw_code(const char *url, const void *buf, size_t len)
{
	Jobd__V1__Response *r = jd_raw_call(url, buf, len, 5000);
	if (r == NULL)
		return -1;
	int code = r->code;
	jobd__v1__response__free_unpacked(r, NULL);
	return code;
}

/* The code of the Response to an envelope for `method` around raw `body`
 * (deadline 0); -1 if none came. */
static inline int
jd_raw_method(const char *url, const char *method, const void *body,
              size_t blen)
{
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	req.method = (char *) method;
	req.body.data = (uint8_t *) body;
	req.body.len = blen;
	size_t n = jobd__v1__request__get_packed_size(&req);
	uint8_t *buf = malloc(n + 1);
	if (buf == NULL)
		return -1;
	jobd__v1__request__pack(&req, buf);
	int code = jd_raw_code(url, buf, n);
	free(buf);
	return code;
}

/* The job's state now (0 if it cannot be read). */
static inline int
state_of(jobd_client *c, uint64_t id)
{
	Jobd__V1__GetReply *rep;
	int st = 0;
	if (jobd_get(c, &id, 1, &rep) != JOBD_OK)
		return 0;
	if (rep->n_jobs == 1)
		st = rep->jobs[0]->state;
	jobd__v1__get_reply__free_unpacked(rep, NULL);
	return st;
}

#endif

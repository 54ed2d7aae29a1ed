/*
 * The ipc:// listener against raw clients that close early in every way,
 * and against a second server on the same path: jobd must go on accepting.
 * (nng 1.5.2's own ipc listener stops accepting for good after a single
 * early close; jobd puts its gate in front of it, daemon/ipcgate.c.) Raw
 * unix sockets, every wait bounded.
 *
 * The limits are the gate's (daemon/ipcgate.h); a change there must change
 * this file and the README.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <mbedtls/sha256.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "harness.h"
#include "test.h"

#define HANDSHAKE_MS   10000 /* to send the SP header */
#define MAX_HANDSHAKES 128   /* without their header; the oldest goes */
#define ROUNDS         5     /* of each kind of early close */

static const char *const args[] = {"--workers", "1", NULL};
static const uint8_t req_head[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
static const uint8_t rep_head[8] = {0, 'S', 'P', 0, 0, 0x31, 0, 0};

/* Waits are ten times longer under a wrapper such as valgrind. */
static int
slow(int ms)
{
	const char *w = getenv("JOBD_WRAPPER");
	return w != NULL && *w != '\0' ? ms * 10 : ms;
}

static const char *
path_of(const struct jd *d)
{
	return d->url + strlen("ipc://");
}

/* A unix socket connected to path, with receive and send timeouts; -1 if
 * it cannot connect. */
static int
uconnect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = slow(5000) / 1000};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static bool
send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t) n;
	}
	return true;
}

static bool
recv_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t) n;
	}
	return true;
}

/* Whether the other side closes fd within ms (reads and drops anything
 * before the end of file). */
static bool
closed_within(int fd, int ms)
{
	int64_t end = h_now_ms() + ms;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint8_t buf[256];

	while (h_now_ms() < end) {
		if (poll(&p, 1, (int) (end - h_now_ms())) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
	return false;
}

/* A client of the client library that did not exist before gets Ping
 * answered within a few seconds. */
static bool
fresh_ping(const char *url)
{
	jobd_client *c;
	Jobd__V1__PingReply *p = NULL;
	int rv;

	if (jobd_client_open(&c, url) != JOBD_OK)
		return false;
	jobd_client_set_timeout(c, (uint32_t) slow(3000));
	rv = jobd_ping(c, &p);
	if (p != NULL)
		jobd__v1__ping_reply__free_unpacked(p, NULL);
	jobd_client_close(c);
	return rv == JOBD_OK;
}

enum early {
	E_CLOSE,       /* connect, close */
	E_RESET,       /* connect, close with SO_LINGER 0 */
	E_HALF,        /* half a header, close */
	E_GARBAGE,     /* 8 bytes that are no header: jobd closes */
	E_WRONG,       /* a REP's header, not a REQ's: jobd closes */
	E_HEAD_CLOSE,  /* a good header, close at once */
	E_HEAD_REPLY,  /* a good header, jobd's header read, close */
	E_SEND_CLOSE,  /* a good header and half a request, close */
	E_EARLY_COUNT, /* the number of kinds */
};

static const char *const early_names[] = {
    "connect and close",       "reset (SO_LINGER 0)",
    "half a header",           "8 bytes of garbage",
    "a REP's header",          "a good header, then close",
    "header and reply, close", "half a request, then close",
};

/* Does one early close of kind `how` on path; false if something that
 * must hold did not (the connection was not closed by jobd, say). */
static bool
early_close(const char *path, enum early how)
{
	static const struct linger lin = {1, 0};
	static const uint8_t garbage[8] = "GET / HT";
	static const uint8_t half_req[5] = {1, 0, 0, 0, 0};
	uint8_t head[8];
	bool ok = true;
	int fd = uconnect(path);

	if (fd < 0)
		return false;
	switch (how) {
	case E_CLOSE:
	case E_EARLY_COUNT:
		break;
	case E_RESET:
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
		break;
	case E_HALF:
		ok = send_all(fd, req_head, 3);
		break;
	case E_GARBAGE:
		ok = send_all(fd, garbage, sizeof(garbage)) &&
		     closed_within(fd, slow(5000));
		break;
	case E_WRONG:
		ok = send_all(fd, rep_head, sizeof(rep_head)) &&
		     closed_within(fd, slow(5000));
		break;
	case E_HEAD_CLOSE:
		ok = send_all(fd, req_head, sizeof(req_head));
		break;
	case E_HEAD_REPLY:
		ok = send_all(fd, req_head, sizeof(req_head)) &&
		     recv_all(fd, head, sizeof(head)) &&
		     memcmp(head, rep_head, sizeof(head)) == 0;
		break;
	case E_SEND_CLOSE:
		ok = send_all(fd, req_head, sizeof(req_head)) &&
		     send_all(fd, half_req, sizeof(half_req));
		break;
	}
	close(fd);
	return ok;
}

/* Each kind of early close, ROUNDS times; after each, a new client is
 * served. */
static void
test_early_closes(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	for (int how = 0; how < E_EARLY_COUNT; how++)
		for (int i = 0; i < ROUNDS; i++) {
			if (!early_close(path_of(&d), (enum early) how))
				TEST_FAIL_("%s (round %d): not as expected",
				           early_names[how], i);
			if (!fresh_ping(d.url)) {
				TEST_FAIL_(
				    "after '%s' (round %d), a new client "
				    "is not answered",
				    early_names[how], i);
				goto out;
			}
		}
	/* and so is the client connected before */
	Jobd__V1__PingReply *p = NULL;
	CHECK_EQ_INT(jobd_ping(c, &p), JOBD_OK);
	if (p != NULL)
		jobd__v1__ping_reply__free_unpacked(p, NULL);
out:
	jd_down(&d, c);
}

/* Hundreds of early closes of every kind back to back, then a new client
 * is served. */
static void
test_burst(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	int failed = 0;
	REQUIRE(c != NULL);
	for (int i = 0; i < 400; i++)
		if (!early_close(path_of(&d), (enum early)(i % E_EARLY_COUNT)))
			failed++;
	CHECK_EQ_INT(failed, 0);
	CHECK(fresh_ping(d.url));
	jd_down(&d, c);
}

/* The SP exchange through the gate, byte for byte: jobd's header comes
 * back, and a Ping sent in pieces is answered. */
static void
test_raw_exchange(void)
{
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	Jobd__V1__Response *resp = NULL;
	Jobd__V1__PingReply *pong = NULL;
	uint8_t head[8], body[256], frame[9 + 4 + 256], rhead[9], rbody[512];
	size_t blen, n;
	uint64_t len = 0;
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	int fd = -1;

	REQUIRE(c != NULL);
	ping.payload.data = (uint8_t *) "hello";
	ping.payload.len = 5;
	req.method = "Ping";
	req.body.len = jobd__v1__ping_request__pack(&ping, body);
	req.body.data = body;
	REQUIRE(jobd__v1__request__get_packed_size(&req) <= 256);
	blen = jobd__v1__request__pack(&req, frame + 13);
	/* ipc framing: type 1, a 64-bit length; then REQ's request id */
	n = blen + 4;
	frame[0] = 1;
	for (int i = 0; i < 8; i++)
		frame[1 + i] = (uint8_t) (n >> (56 - 8 * i));
	frame[9] = 0x80, frame[10] = 0, frame[11] = 0, frame[12] = 7;

	fd = uconnect(path_of(&d));
	REQUIRE(fd >= 0);
	REQUIRE(send_all(fd, req_head, 3));
	usleep(20000);
	REQUIRE(send_all(fd, req_head + 3, 5));
	REQUIRE(recv_all(fd, head, 8));
	CHECK(memcmp(head, rep_head, 8) == 0);
	REQUIRE(send_all(fd, frame, 5));
	usleep(20000);
	REQUIRE(send_all(fd, frame + 5, 9 + n - 5));
	REQUIRE(recv_all(fd, rhead, 9));
	CHECK_EQ_INT(rhead[0], 1);
	for (int i = 1; i < 9; i++)
		len = len << 8 | rhead[i];
	REQUIRE(len >= 4 && len <= sizeof(rbody));
	REQUIRE(recv_all(fd, rbody, (size_t) len));
	CHECK(rbody[0] == 0x80 && rbody[1] == 0 && rbody[2] == 0 &&
	      rbody[3] == 7);
	resp = jobd__v1__response__unpack(NULL, (size_t) len - 4, rbody + 4);
	REQUIRE(resp != NULL);
	CHECK_EQ_INT(resp->code, JOBD_OK);
	pong =
	    jobd__v1__ping_reply__unpack(NULL, resp->body.len, resp->body.data);
	CHECK(pong != NULL && pong->payload.len == 5 &&
	      memcmp(pong->payload.data, "hello", 5) == 0);
	if (pong != NULL)
		jobd__v1__ping_reply__free_unpacked(pong, NULL);
	jobd__v1__response__free_unpacked(resp, NULL);
	close(fd);
	jd_down(&d, c);
}

/* Messages much larger than the gate's buffers, both ways: Pings of the
 * largest payload jobd takes (64 KiB, four buffers), and a 1 MiB input
 * whose SHA-256 jobd computes. */
static void
test_large(void)
{
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	Jobd__V1__SubmitRequest sub = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__PingReply *pong = NULL;
	Jobd__V1__SubmitReply *sr = NULL;
	Jobd__V1__WaitReply *wr = NULL;
	size_t n = 1024 * 1024, np = 64 * 1024;
	unsigned char digest[32];
	char hex[65];
	uint8_t *buf = malloc(n);
	struct jd d;
	jobd_client *c = jd_up(&d, args);

	REQUIRE(c != NULL && buf != NULL);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t) (i * 7 + i / 251);
	ping.payload.data = buf;
	ping.payload.len = np;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(jobd_call(c, "Ping", &ping.base,
		                       &jobd__v1__ping_reply__descriptor,
		                       (ProtobufCMessage **) &pong, 0),
		             JOBD_OK);
		CHECK(pong != NULL && pong->payload.len == np &&
		      memcmp(pong->payload.data, buf, np) == 0);
		if (pong != NULL)
			jobd__v1__ping_reply__free_unpacked(pong, NULL);
		pong = NULL;
	}
	sub.kind = "sha256";
	sub.input.data = buf;
	sub.input.len = n;
	REQUIRE(jobd_submit(c, &sub, &sr) == JOBD_OK && sr != NULL &&
	        sr->job != NULL);
	CHECK_EQ_INT(jobd_wait(c, sr->job->id, 20000, &wr), JOBD_OK);
	mbedtls_sha256_ret(buf, n, digest, 0);
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	CHECK(wr != NULL && wr->job != NULL && wr->job->result.len == 64 &&
	      memcmp(wr->job->result.data, hex, 64) == 0);
	if (wr != NULL)
		jobd__v1__wait_reply__free_unpacked(wr, NULL);
	jobd__v1__submit_reply__free_unpacked(sr, NULL);
	free(buf);
	jd_down(&d, c);
}

/* Connections that never send their header: others are served meanwhile;
 * past MAX_HANDSHAKES the oldest are closed; the rest are closed after
 * HANDSHAKE_MS. */
static void
test_silent(void)
{
	enum { N = MAX_HANDSHAKES + 8 };
	int fds[N];
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	int evicted = 0;

	REQUIRE(c != NULL);
	for (int i = 0; i < N; i++)
		fds[i] = uconnect(path_of(&d));
	for (int i = 0; i < N; i++)
		REQUIRE(fds[i] >= 0);
	CHECK(fresh_ping(d.url));
	/* the first 8 made room for the last 8 */
	for (int i = 0; i < 8; i++)
		evicted += closed_within(fds[i], slow(5000));
	CHECK_EQ_INT(evicted, 8);
	/* and the newest is closed once its time is up */
	CHECK(closed_within(fds[N - 1], HANDSHAKE_MS + slow(20000)));
	for (int i = 0; i < N; i++)
		close(fds[i]);
	CHECK(fresh_ping(d.url));
	jd_down(&d, c);
}

/* Runs jobd with argv (wrapped as the harness does), its stderr to log;
 * its wait status, or -1 if it did not exit within ms (then killed). */
static int
run_jobd(const char *const *extra, const char *log, int ms)
{
	const char *bin = getenv("JOBD_BIN");
	const char *wrap = getenv("JOBD_WRAPPER");
	char words[1024];
	const char *argv[64];
	int n = 0, st;
	pid_t pid;

	if (bin == NULL)
		return -1;
	if (wrap != NULL) {
		snprintf(words, sizeof(words), "%s", wrap);
		for (char *w = strtok(words, " "); w != NULL && n < 32;
		     w = strtok(NULL, " "))
			argv[n++] = w;
	}
	argv[n++] = bin;
	while (*extra != NULL && n < 63)
		argv[n++] = *extra++;
	argv[n] = NULL;
	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (freopen(log, "w", stderr) == NULL ||
		    freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execvp(argv[0], (char *const *) argv);
		_exit(127);
	}
	for (int64_t end = h_now_ms() + ms; h_now_ms() < end;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* Whether file holds text. */
static bool
file_has(const char *file, const char *text)
{
	char buf[8192];
	FILE *f = fopen(file, "r");
	size_t n;

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

/* A second jobd on the same path (another database) refuses to start and
 * says why; the first goes on serving. */
static void
test_second_jobd(void)
{
	char db[160], log[160], want[200];
	struct jd d;
	jobd_client *c = jd_up(&d, args);

	REQUIRE(c != NULL);
	snprintf(db, sizeof(db), "%s/second.db", d.dir);
	snprintf(log, sizeof(log), "%s/second.log", d.dir);
	const char *const second[] = {"--listen", d.url, "--db", db, NULL};
	for (int i = 0; i < 3; i++) {
		int st = run_jobd(second, log, slow(10000));
		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
		snprintf(want, sizeof(want), "another process serves '%s'",
		         path_of(&d));
		if (!file_has(log, want))
			TEST_FAIL_("the second jobd's log does not say '%s'",
			           want);
		CHECK(fresh_ping(d.url));
	}
	jd_down(&d, c);
}

/* What a jobd killed with SIGKILL leaves (its socket file and private
 * directory) does not stop the next; a clean stop leaves nothing. */
static void
test_restart_after_kill(void)
{
	char gate[200];
	struct stat st;
	struct jd d;

	REQUIRE(jd_init(&d) == 0);
	snprintf(gate, sizeof(gate), "%s.gate", path_of(&d));
	REQUIRE(jd_start(&d, args) == 0);
	jd_kill(&d, SIGKILL);
	CHECK(lstat(path_of(&d), &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK(lstat(gate, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(jd_start(&d, args) == 0);
	CHECK(fresh_ping(d.url));
	CHECK_EQ_INT(jd_stop(&d), 0);
	CHECK(lstat(path_of(&d), &st) != 0 && errno == ENOENT);
	CHECK(lstat(gate, &st) != 0 && errno == ENOENT);
	jd_fini(&d);
}

/* A file at the path that is not a socket is refused and left alone. */
static void
test_not_a_socket(void)
{
	char log[160], db[160];
	struct jd d;
	FILE *f;

	REQUIRE(jd_init(&d) == 0);
	snprintf(log, sizeof(log), "%s/refused.log", d.dir);
	snprintf(db, sizeof(db), "%s/jobd.db", d.dir);
	REQUIRE((f = fopen(path_of(&d), "w")) != NULL);
	fputs("precious\n", f);
	fclose(f);
	const char *const argv[] = {"--listen", d.url, "--db", db, NULL};
	int st = run_jobd(argv, log, slow(10000));
	CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	CHECK(file_has(log, "exists and is not a socket"));
	CHECK(file_has(path_of(&d), "precious"));
	jd_fini(&d);
}

/* Another SP server (plain nng, with no gate) on the path: jobd refuses to
 * start, and its check of the path does not break that server's listener
 * (nng 1.5.2's dies of one early close). */
struct echo {
	nng_socket s;
	atomic_bool stop;
};

static void *
echo_main(void *arg)
{
	struct echo *e = arg;
	nng_msg *m;
	while (!atomic_load(&e->stop)) {
		if (nng_recvmsg(e->s, &m, 0) != 0)
			continue;
		if (nng_sendmsg(e->s, m, 0) != 0)
			nng_msg_free(m);
	}
	return NULL;
}

static bool
echo_answers(const char *url)
{
	nng_socket s;
	nng_msg *m;
	bool ok = false;

	if (nng_req0_open(&s) != 0)
		return false;
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, slow(3000));
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, slow(3000));
	if (nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK) == 0 &&
	    nng_msg_alloc(&m, 0) == 0) {
		nng_msg_append(m, "hi", 2);
		if (nng_sendmsg(s, m, 0) != 0)
			nng_msg_free(m);
		else if (nng_recvmsg(s, &m, 0) == 0) {
			ok = nng_msg_len(m) == 2;
			nng_msg_free(m);
		}
	}
	nng_close(s);
	return ok;
}

static void
test_other_server(void)
{
	char url[200], log[160], db[160];
	struct echo e;
	pthread_t t;
	struct jd d;

	REQUIRE(jd_init(&d) == 0);
	snprintf(url, sizeof(url), "ipc://%s/echo.sock", d.dir);
	snprintf(log, sizeof(log), "%s/refused.log", d.dir);
	snprintf(db, sizeof(db), "%s/jobd.db", d.dir);
	REQUIRE(nng_rep0_open(&e.s) == 0);
	nng_socket_set_ms(e.s, NNG_OPT_RECVTIMEO, 100);
	atomic_init(&e.stop, false);
	REQUIRE(nng_listen(e.s, url, NULL, 0) == 0);
	REQUIRE(pthread_create(&t, NULL, echo_main, &e) == 0);
	CHECK(echo_answers(url));
	const char *const argv[] = {"--listen", url, "--db", db, NULL};
	for (int i = 0; i < 3; i++) {
		int st = run_jobd(argv, log, slow(10000));
		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
		CHECK(file_has(log, "another process serves"));
		CHECK(echo_answers(url));
	}
	atomic_store(&e.stop, true);
	pthread_join(t, NULL);
	nng_close(e.s);
	jd_fini(&d);
}

TEST_MAIN({"early_closes", test_early_closes}, {"burst", test_burst},
          {"raw_exchange", test_raw_exchange}, {"large", test_large},
          {"silent", test_silent}, {"second_jobd", test_second_jobd},
          {"restart_after_kill", test_restart_after_kill},
          {"not_a_socket", test_not_a_socket},
          {"other_server", test_other_server})

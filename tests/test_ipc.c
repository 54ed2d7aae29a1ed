/*
 * The ipc:// listener against raw clients that close early in every way,
 * and against a second server on the same path: jobd must go on accepting.
 * (nng 1.5.2's own ipc listener stops accepting for good after a single
 * early close; jobd puts its gate in front of it, daemon/ipcgate.c.) Raw
 * unix sockets (tests/spraw.h), every wait bounded.
 *
 * The limits are the gate's (daemon/ipcgate.h); a change there must change
 * this file and the README.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include <mbedtls/sha256.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "harness.h"
#include "spraw.h"
#include "test.h"

#define HANDSHAKE_MS   10000 /* to send the SP header */
#define MAX_HANDSHAKES 128   /* without their header; the oldest goes */
#define ROUNDS         5     /* of each kind of early close */

static const char *const args[] = {"--workers", "1", NULL};

/* Waits are ten times longer under a wrapper such as valgrind. */
static int
slow(int ms)
{
	return jd_wrapped() ? ms * 10 : ms;
}

static const char *
path_of(const struct jd *d)
{
	return d->url + strlen("ipc://");
}

/* A raw connection to url (no header sent yet), with receive and send
 * timeouts; -1 if it cannot connect. */
static int
uconnect(struct spraw *s, const char *url)
{
	return spraw_connect(s, url, slow(5000));
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

/* Does one early close of kind `how` on url; false if something that
 * must hold did not (the connection was not closed by jobd, say). */
static bool
early_close(const char *url, enum early how)
{
	static const uint8_t garbage[8] = "GET / HT";
	static const uint8_t half_req[5] = {1, 0, 0, 0, 0};
	uint8_t req_head[8], rep_head[8], head[8];
	bool ok = true;
	struct spraw s;

	if (uconnect(&s, url) != 0)
		return false;
	spraw_header(SPRAW_REQ0, req_head);
	spraw_header(SPRAW_REP0, rep_head);
	switch (how) {
	case E_CLOSE:
	case E_EARLY_COUNT:
		break;
	case E_RESET:
		spraw_reset(&s);
		break;
	case E_HALF:
		ok = spraw_write(&s, req_head, 3, NULL) == 0;
		break;
	case E_GARBAGE:
		ok = spraw_write(&s, garbage, sizeof(garbage), NULL) == 0 &&
		     spraw_wait_closed(&s, slow(5000));
		break;
	case E_WRONG:
		ok = spraw_write(&s, rep_head, sizeof(rep_head), NULL) == 0 &&
		     spraw_wait_closed(&s, slow(5000));
		break;
	case E_HEAD_CLOSE:
		ok = spraw_write(&s, req_head, sizeof(req_head), NULL) == 0;
		break;
	case E_HEAD_REPLY:
		ok = spraw_write(&s, req_head, sizeof(req_head), NULL) == 0 &&
		     spraw_read(&s, head, sizeof(head)) == 0 &&
		     memcmp(head, rep_head, sizeof(head)) == 0;
		break;
	case E_SEND_CLOSE:
		ok = spraw_write(&s, req_head, sizeof(req_head), NULL) == 0 &&
		     spraw_write(&s, half_req, sizeof(half_req), NULL) == 0;
		break;
	}
	spraw_close(&s);
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
			if (!early_close(d.url, (enum early) how))
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
		if (!early_close(d.url, (enum early)(i % E_EARLY_COUNT)))
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
	uint8_t req_head[8], rep_head[8], head[8], *body, *msg;
	size_t blen, n;
	uint32_t id = 0;
	struct spraw s;
	struct jd d;
	jobd_client *c = jd_up(&d, args);

	REQUIRE(c != NULL);
	ping.payload.data = (uint8_t *) "hello";
	ping.payload.len = 5;
	req.method = "Ping";
	REQUIRE((body = spraw_envelope(&req, &ping.base, &blen)) != NULL);
	REQUIRE(uconnect(&s, d.url) == 0);
	/* ipc framing: type 1, a 64-bit length; then REQ's request id */
	REQUIRE((msg = spraw_message(&s, 7, body, blen, &n)) != NULL);
	spraw_header(SPRAW_REQ0, req_head);
	spraw_header(SPRAW_REP0, rep_head);

	REQUIRE(spraw_write(&s, req_head, 3, NULL) == 0);
	usleep(20000);
	REQUIRE(spraw_write(&s, req_head + 3, 5, NULL) == 0);
	REQUIRE(spraw_read(&s, head, 8) == 0);
	CHECK(memcmp(head, rep_head, 8) == 0);
	REQUIRE(spraw_write(&s, msg, 5, NULL) == 0);
	usleep(20000);
	REQUIRE(spraw_write(&s, msg + 5, n - 5, NULL) == 0);
	/* the reply's frame and request id (high bit set) checked there */
	REQUIRE(spraw_recv(&s, &id, &resp) == 0);
	CHECK_EQ_INT(id, 7);
	CHECK_EQ_INT(resp->code, JOBD_OK);
	pong =
	    jobd__v1__ping_reply__unpack(NULL, resp->body.len, resp->body.data);
	CHECK(pong != NULL && pong->payload.len == 5 &&
	      memcmp(pong->payload.data, "hello", 5) == 0);
	if (pong != NULL)
		jobd__v1__ping_reply__free_unpacked(pong, NULL);
	jobd__v1__response__free_unpacked(resp, NULL);
	free(msg);
	free(body);
	spraw_close(&s);
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
	struct spraw conns[N];
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	int evicted = 0;

	REQUIRE(c != NULL);
	for (int i = 0; i < N; i++)
		uconnect(&conns[i], d.url);
	for (int i = 0; i < N; i++)
		REQUIRE(conns[i].fd >= 0);
	CHECK(fresh_ping(d.url));
	/* the first 8 made room for the last 8 */
	for (int i = 0; i < 8; i++)
		evicted += spraw_wait_closed(&conns[i], slow(5000));
	CHECK_EQ_INT(evicted, 8);
	/* and the newest is closed once its time is up */
	CHECK(spraw_wait_closed(&conns[N - 1], HANDSHAKE_MS + slow(20000)));
	for (int i = 0; i < N; i++)
		spraw_close(&conns[i]);
	CHECK(fresh_ping(d.url));
	jd_down(&d, c);
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
		int st = jd_run(second, log, slow(10000));
		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
		snprintf(want, sizeof(want), "another process serves '%s'",
		         path_of(&d));
		if (jd_count_lines(log, want) <= 0)
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
	int st = jd_run(argv, log, slow(10000));
	CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	CHECK(jd_count_lines(log, "exists and is not a socket") > 0);
	CHECK(jd_count_lines(path_of(&d), "precious") > 0);
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
		int st = jd_run(argv, log, slow(10000));
		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
		CHECK(jd_count_lines(log, "another process serves") > 0);
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

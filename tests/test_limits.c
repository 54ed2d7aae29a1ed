/*
 * Every limit a client controls, against the real jobd: one test each, at
 * the limit (accepted) and past it (the exact status code, and a message
 * that says which limit), and each time the daemon still serves the next
 * request. The numbers are the documented ones (docs/protocol.md, "The wire
 * contract"); a change of a limit must change this file and that page.
 *
 * Malformed bytes (not an envelope, a body of the wrong type) are in
 * test_daemon's bad_wire_input; what any input does to the request path, in
 * the fuzz target (tests/fuzz_request.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "harness.h"
#include "test.h"

#define MAX_REQUEST   (2u << 20) /* bytes of one request */
#define MAX_TRANSPORT (8u << 20) /* nng drops larger messages */
#define MAX_PARAMS    64         /* parameters of a Submit */
#define MAX_INT_LEN   20         /* characters of an integer parameter */
#define MAX_FAIL_MSG  1024       /* bytes of fail's message parameter */
#define MAX_JOB_INPUT (1u << 20) /* bytes of a job's input */
#define MAX_KEY       128        /* bytes of an idempotency key */
#define MAX_ATTEMPTS  100        /* max_attempts of a Submit */
#define MAX_IDS       1000       /* ids of one Get */
#define MAX_LIST      1000       /* limit of one List */
#define DEFAULT_LIST  100        /* a List's page when limit is 0 */
#define MAX_KIND      64         /* bytes of a List's kind filter */
#define MAX_DEADLINE  86400000u  /* ms, of an envelope's deadline */

static const char *const args[] = {"--workers", "1", NULL};

/* The daemon answers the next request. */
static void
check_serves(jobd_client *c)
{
	Jobd__V1__PingReply *p = NULL;
	CHECK_EQ_INT(jobd_ping(c, &p), JOBD_OK);
	if (p != NULL)
		jobd__v1__ping_reply__free_unpacked(p, NULL);
}

/* The last call's message contains `what`. */
static void
check_msg(const char *what)
{
	const char *m = jobd_client_errmsg();
	if (strstr(m, what) == NULL)
		TEST_FAIL_("message '%s' does not say '%s'", m, what);
}

/*
 * Submits `kind` with n parameters names[i]=values[i], input and key (NULL:
 * none). Returns the code; *id the job's on JOBD_OK.
 */
static int
submit(jobd_client *c, const char *kind, char **names, char **values, size_t n,
       const uint8_t *input, size_t ilen, const char *key, uint32_t attempts,
       uint64_t *id)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry *ents, **ptrs;
	Jobd__V1__SubmitReply *rep = NULL;
	int rv;

	ents = calloc(n + 1, sizeof(*ents));
	ptrs = calloc(n + 1, sizeof(*ptrs));
	if (ents == NULL || ptrs == NULL) {
		free(ents);
		free(ptrs);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		jobd__v1__submit_request__params_entry__init(&ents[i]);
		ents[i].key = names[i];
		ents[i].value = values[i];
		ptrs[i] = &ents[i];
	}
	req.kind = (char *) kind;
	req.n_params = n;
	req.params = ptrs;
	req.input.data = (uint8_t *) input;
	req.input.len = ilen;
	req.idempotency_key = (char *) (key != NULL ? key : "");
	req.max_attempts = attempts;
	rv = jobd_submit(c, &req, &rep);
	if (rv == JOBD_OK && id != NULL)
		*id = rep->job != NULL ? rep->job->id : 0;
	if (rep != NULL)
		jobd__v1__submit_reply__free_unpacked(rep, NULL);
	free(ents);
	free(ptrs);
	return rv;
}

/* Submits kind with the one parameter name=value. */
static int
submit1(jobd_client *c, const char *kind, const char *name, const char *value)
{
	char *n = (char *) name, *v = (char *) value;
	return submit(c, kind, &n, &v, 1, NULL, 0, NULL, 0, NULL);
}

/* A string of n copies of ch (caller frees). */
static char *
repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);
	if (s != NULL) {
		memset(s, ch, n);
		s[n] = '\0';
	}
	return s;
}

/* A packed Ping request of exactly `size` bytes (caller frees), or NULL. */
static uint8_t *
ping_of_size(size_t size)
{
	Jobd__V1__Request env = JOBD__V1__REQUEST__INIT;
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	uint8_t *payload = calloc(1, size), *body = malloc(size), *out = NULL;
	size_t p = size - 32, n = 0;

	if (payload == NULL || body == NULL)
		goto out;
	env.method = "Ping";
	ping.payload.data = payload;
	/* the lengths' varints make the size a step function: converge */
	for (int i = 0; i < 8 && n != size; i++) {
		ping.payload.len = p;
		env.body.len = jobd__v1__ping_request__pack(&ping, body);
		env.body.data = body;
		n = jobd__v1__request__get_packed_size(&env);
		p += size - n; /* may wrap below; fixed on the next round */
	}
	if (n == size && (out = malloc(size)) != NULL)
		jobd__v1__request__pack(&env, out);
out:
	free(payload);
	free(body);
	return out;
}

/*
 * Announces a message of `size` bytes on nng's ipc transport at `path` and
 * starts sending it, with a plain Unix socket; true when jobd closes the
 * connection without a reply. Not with an nng REQ socket: nng 1.5.2's
 * nng_close() can hang in the sender after the peer dropped such a message
 * (seen under TSan and ASan in CI).
 */
static bool
dropped_at_transport(const char *path, uint64_t size)
{
	/* SP header: 0, 'S', 'P', 0, protocol (req0 = 0x30), reserved */
	static const uint8_t hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint8_t head[9] = {1}, buf[4096] = {0}, peer[8];
	struct timeval tv = {10, 0};
	bool closed = false;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* message: type 1, then the length, 8 bytes big-endian */
	for (int i = 0; i < 8; i++)
		head[1 + i] = (uint8_t) (size >> (56 - 8 * i));
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 ||
	    write(fd, hello, sizeof(hello)) != sizeof(hello) ||
	    recv(fd, peer, sizeof(peer), MSG_WAITALL) != sizeof(peer) ||
	    write(fd, head, sizeof(head)) != sizeof(head))
		goto out;
	/* a little of the body; jobd may already have closed */
	for (int i = 0; i < 64; i++)
		if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) < 0)
			break;
	/* then nothing comes back but the end of the connection */
	closed = recv(fd, buf, sizeof(buf), 0) == 0 || errno == ECONNRESET ||
	         errno == EPIPE;
out:
	close(fd);
	return closed;
}

/* ---- the limits ---- */

/* A request of 2 MiB is served; one byte more is RESOURCE_EXHAUSTED; over
 * 8 MiB nng drops it at the transport and no reply comes. */
static void
test_request_size(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);

	uint8_t *at = ping_of_size(MAX_REQUEST);
	REQUIRE(at != NULL);
	Jobd__V1__Response *r = jd_raw_call(d.url, at, MAX_REQUEST, 10000);
	free(at);
	REQUIRE(r != NULL);
	CHECK_EQ_INT(r->code, JOBD_OK);
	jobd__v1__response__free_unpacked(r, NULL);

	uint8_t *over = ping_of_size(MAX_REQUEST + 1);
	REQUIRE(over != NULL);
	r = jd_raw_call(d.url, over, MAX_REQUEST + 1, 10000);
	free(over);
	REQUIRE(r != NULL);
	CHECK_EQ_INT(r->code, JOBD_RESOURCE_EXHAUSTED);
	CHECK(strstr(r->message, "larger than the limit of 2097152") != NULL);
	jobd__v1__response__free_unpacked(r, NULL);
	check_serves(c);

	CHECK(dropped_at_transport(d.url + strlen("ipc://"),
	                           MAX_TRANSPORT + 1024));
	check_serves(c);
	jd_down(&d, c);
}

/* 64 parameters are looked at one by one; 65 are refused as too many. */
static void
test_param_count(void)
{
	char *names[MAX_PARAMS + 1], *values[MAX_PARAMS + 1];
	char bufs[MAX_PARAMS + 1][16];
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);

	for (int i = 0; i <= MAX_PARAMS; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "p%d", i);
		names[i] = bufs[i];
		values[i] = "1";
	}
	names[0] = "n"; /* count's own; the others are unknown */
	CHECK_EQ_INT(submit(c, "count", names, values, MAX_PARAMS, NULL, 0,
	                    NULL, 0, NULL),
	             JOBD_INVALID_ARGUMENT);
	check_msg("unknown parameter 'p1' for kind 'count'");
	CHECK_EQ_INT(submit(c, "count", names, values, MAX_PARAMS + 1, NULL, 0,
	                    NULL, 0, NULL),
	             JOBD_INVALID_ARGUMENT);
	check_msg("too many parameters: 65, at most 64");
	check_serves(c);
	jd_down(&d, c);
}

/* Names: only a kind's own, so a long one is an unknown one, quoted short.
 * Values: an integer has at most 20 characters (leading zeros allowed), a
 * string its parameter's maximum (fail's message: 1024 bytes). */
static void
test_param_length(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);

	char *name = repeat('x', 100000);
	REQUIRE(name != NULL);
	CHECK_EQ_INT(submit1(c, "count", name, "1"), JOBD_INVALID_ARGUMENT);
	check_msg("unknown parameter 'xxxxxxxxxxxxxxxxxxxx");
	check_msg("...' for kind 'count'");
	CHECK(strlen(jobd_client_errmsg()) < 200);
	free(name);

	char *zeros = repeat('0', MAX_INT_LEN + 1);
	REQUIRE(zeros != NULL);
	zeros[MAX_INT_LEN] = '7';
	CHECK_EQ_INT(submit1(c, "count", "n", zeros + 1), JOBD_OK);
	CHECK_EQ_INT(submit1(c, "count", "n", zeros), JOBD_INVALID_ARGUMENT);
	check_msg("parameter 'n' of kind 'count' must be an integer of at most "
	          "20 characters, not 21");
	free(zeros);

	char *msg = repeat('m', MAX_FAIL_MSG + 1);
	REQUIRE(msg != NULL);
	CHECK_EQ_INT(submit1(c, "fail", "message", msg), JOBD_INVALID_ARGUMENT);
	check_msg("parameter 'message' of kind 'fail' must be at most 1024 "
	          "bytes long, not 1025");
	msg[MAX_FAIL_MSG] = '\0';
	CHECK_EQ_INT(submit1(c, "fail", "message", msg), JOBD_OK);
	free(msg);
	check_serves(c);
	jd_down(&d, c);
}

/* An input of 1 MiB is taken; one byte more is refused. */
static void
test_input_size(void)
{
	struct jd d;
	uint64_t id = 0;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);

	uint8_t *in = calloc(1, MAX_JOB_INPUT + 1);
	REQUIRE(in != NULL);
	CHECK_EQ_INT(submit(c, "sha256", NULL, NULL, 0, in, MAX_JOB_INPUT + 1,
	                    NULL, 0, NULL),
	             JOBD_INVALID_ARGUMENT);
	check_msg("input of kind 'sha256' is 1048577 bytes, more than the "
	          "limit of 1048576");
	CHECK_EQ_INT(
	    submit(c, "sha256", NULL, NULL, 0, in, MAX_JOB_INPUT, NULL, 0, &id),
	    JOBD_OK);
	free(in);
	Jobd__V1__WaitReply *w = NULL;
	CHECK_EQ_INT(jobd_wait(c, id, 20000, &w), JOBD_OK);
	if (w != NULL) {
		CHECK(w->job != NULL && w->job->input_size == MAX_JOB_INPUT);
		jobd__v1__wait_reply__free_unpacked(w, NULL);
	}
	check_serves(c);
	jd_down(&d, c);
}

/* A key of 128 bytes is taken; 129 are refused. */
static void
test_key_length(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	char *n = "n", *v = "1";
	char *key = repeat('k', MAX_KEY + 1);
	REQUIRE(key != NULL);

	CHECK_EQ_INT(submit(c, "count", &n, &v, 1, NULL, 0, key, 0, NULL),
	             JOBD_INVALID_ARGUMENT);
	check_msg(
	    "idempotency key must be 1 to 128 printable ASCII characters");
	key[MAX_KEY] = '\0';
	CHECK_EQ_INT(submit(c, "count", &n, &v, 1, NULL, 0, key, 0, NULL),
	             JOBD_OK);
	free(key);
	check_serves(c);
	jd_down(&d, c);
}

/* max_attempts up to 100. */
static void
test_attempts(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	char *n = "n", *v = "1";

	CHECK_EQ_INT(submit(c, "count", &n, &v, 1, NULL, 0, NULL,
	                    MAX_ATTEMPTS + 1, NULL),
	             JOBD_INVALID_ARGUMENT);
	check_msg("max_attempts must be at most 100, not 101");
	CHECK_EQ_INT(
	    submit(c, "count", &n, &v, 1, NULL, 0, NULL, MAX_ATTEMPTS, NULL),
	    JOBD_OK);
	check_serves(c);
	jd_down(&d, c);
}

/* A List's limit: 0 is a page of 100, at most 1000, more is refused (not
 * cut down); a kind filter of more than 64 bytes is refused. */
static void
test_list_limit(void)
{
	Jobd__V1__ListRequest req = JOBD__V1__LIST_REQUEST__INIT;
	Jobd__V1__ListReply *rep = NULL;
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);

	for (int i = 0; i < DEFAULT_LIST + 1; i++)
		REQUIRE(submit1(c, "count", "n", "1") == JOBD_OK);
	req.limit = 0;
	REQUIRE(jobd_list(c, &req, &rep) == JOBD_OK);
	CHECK_EQ_INT(rep->n_jobs, DEFAULT_LIST);
	CHECK(rep->next_cursor != 0);
	jobd__v1__list_reply__free_unpacked(rep, NULL);
	req.limit = MAX_LIST;
	REQUIRE(jobd_list(c, &req, &rep) == JOBD_OK);
	CHECK_EQ_INT(rep->n_jobs, DEFAULT_LIST + 1);
	CHECK_EQ_INT(rep->next_cursor, 0);
	jobd__v1__list_reply__free_unpacked(rep, NULL);
	req.limit = MAX_LIST + 1;
	CHECK_EQ_INT(jobd_list(c, &req, &rep), JOBD_INVALID_ARGUMENT);
	check_msg("limit must be at most 1000, not 1001");

	char *kind = repeat('k', MAX_KIND + 1);
	REQUIRE(kind != NULL);
	req.limit = 0;
	req.kind = kind;
	CHECK_EQ_INT(jobd_list(c, &req, &rep), JOBD_INVALID_ARGUMENT);
	check_msg("is too long");
	kind[MAX_KIND] = '\0';
	REQUIRE(jobd_list(c, &req, &rep) == JOBD_OK);
	CHECK_EQ_INT(rep->n_jobs, 0);
	jobd__v1__list_reply__free_unpacked(rep, NULL);
	free(kind);
	check_serves(c);
	jd_down(&d, c);
}

/* An envelope's deadline: up to 24 h. */
static void
test_deadline_range(void)
{
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	Jobd__V1__Response *r;
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);

	r = jd_raw_request(d.url, "Ping", &ping.base, MAX_DEADLINE, 5000);
	REQUIRE(r != NULL);
	CHECK_EQ_INT(r->code, JOBD_OK);
	jobd__v1__response__free_unpacked(r, NULL);
	r = jd_raw_request(d.url, "Ping", &ping.base, MAX_DEADLINE + 1, 5000);
	REQUIRE(r != NULL);
	CHECK_EQ_INT(r->code, JOBD_INVALID_ARGUMENT);
	CHECK_EQ_STR(r->message, "deadline of 86400001 ms is beyond the limit "
	                         "of 86400000 ms");
	jobd__v1__response__free_unpacked(r, NULL);
	check_serves(c);
	jd_down(&d, c);
}

/* Ids that do not exist (0 included): Get lists them as missing, Wait and
 * Cancel answer NOT_FOUND. */
static void
test_missing_ids(void)
{
	static const uint64_t ids[] = {0, 999, UINT64_MAX};
	Jobd__V1__GetReply *g = NULL;
	Jobd__V1__WaitReply *w = NULL;
	Jobd__V1__CancelReply *cr = NULL;
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);

	REQUIRE(jobd_get(c, ids, 3, &g) == JOBD_OK);
	CHECK_EQ_INT(g->n_jobs, 0);
	REQUIRE(g->n_missing == 3);
	for (size_t i = 0; i < 3; i++)
		CHECK(g->missing[i] == ids[i]);
	jobd__v1__get_reply__free_unpacked(g, NULL);
	for (size_t i = 0; i < 3; i++) {
		CHECK_EQ_INT(jobd_wait(c, ids[i], 5000, &w), JOBD_NOT_FOUND);
		check_msg("not found");
		CHECK_EQ_INT(jobd_cancel(c, ids[i], &cr), JOBD_NOT_FOUND);
		check_msg("not found");
	}
	check_serves(c);
	jd_down(&d, c);
}

/* Get takes up to 1000 ids. */
static void
test_get_many_ids(void)
{
	static uint64_t ids[MAX_IDS + 1];
	Jobd__V1__GetReply *g = NULL;
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);

	for (size_t i = 0; i <= MAX_IDS; i++)
		ids[i] = 1000000 + i;
	REQUIRE(jobd_get(c, ids, MAX_IDS, &g) == JOBD_OK);
	CHECK_EQ_INT(g->n_missing, MAX_IDS);
	jobd__v1__get_reply__free_unpacked(g, NULL);
	CHECK_EQ_INT(jobd_get(c, ids, MAX_IDS + 1, &g), JOBD_INVALID_ARGUMENT);
	check_msg("too many ids: 1001, at most 1000");
	check_serves(c);
	jd_down(&d, c);
}

/* A method jobd does not have, in either form, or of another service:
 * UNIMPLEMENTED, with the name quoted short and printable. */
static void
test_unknown_method(void)
{
	static const char *const bad[] = {"Explode", "/jobd.v1.Jobs/Explode",
	                                  "/other.Svc/Ping", "ping", ""};
	Jobd__V1__Response *r;
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(jd_raw_method(d.url, bad[i], NULL, 0),
		             JOBD_UNIMPLEMENTED);
	char *name = repeat('\x1b', 5000);
	REQUIRE(name != NULL);
	r = jd_raw_request(d.url, name, NULL, 0, 5000);
	free(name);
	REQUIRE(r != NULL);
	CHECK_EQ_INT(r->code, JOBD_UNIMPLEMENTED);
	CHECK(strstr(r->message, "unknown method '????") != NULL);
	CHECK(strlen(r->message) < 200);
	jobd__v1__response__free_unpacked(r, NULL);
	check_serves(c);
	jd_down(&d, c);
}

/* A kind jobd does not have: INVALID_ARGUMENT, quoted short. */
static void
test_unknown_kind(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);

	CHECK_EQ_INT(submit1(c, "no-such-kind", "n", "1"),
	             JOBD_INVALID_ARGUMENT);
	check_msg("unknown kind 'no-such-kind'");
	char *kind = repeat('q', 100000);
	REQUIRE(kind != NULL);
	CHECK_EQ_INT(submit1(c, kind, "n", "1"), JOBD_INVALID_ARGUMENT);
	check_msg("unknown kind 'qqqqqqqqqq");
	CHECK(strlen(jobd_client_errmsg()) < 200);
	free(kind);
	check_serves(c);
	jd_down(&d, c);
}

TEST_MAIN({"request_size", test_request_size},
          {"param_count", test_param_count},
          {"param_length", test_param_length}, {"input_size", test_input_size},
          {"key_length", test_key_length}, {"attempts", test_attempts},
          {"list_limit", test_list_limit},
          {"deadline_range", test_deadline_range},
          {"missing_ids", test_missing_ids},
          {"get_many_ids", test_get_many_ids},
          {"unknown_method", test_unknown_method},
          {"unknown_kind", test_unknown_kind})

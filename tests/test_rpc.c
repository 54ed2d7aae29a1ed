/*
 * Tests of the envelope codec and the dispatch through the generated service
 * descriptor, against a service of test handlers (the real handlers are
 * exercised end to end by test_daemon).
 */
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "jobd.pb-c.h"
#include "rpc.h"
#include "test.h"

/* ---- test handlers ---- */

static int ncalls;
static Jobd__V1__WaitReply_Closure parked_closure;
static void *parked_arg;
static char seen_token[64];

static void
fake_submit(Jobd__V1__Jobs_Service *svc, const Jobd__V1__SubmitRequest *in,
            Jobd__V1__SubmitReply_Closure closure, void *arg)
{
	(void) svc;
	(void) closure;
	ncalls++;
	rpc_fail(arg, JOBD_INVALID_ARGUMENT, "unknown kind '%s'", in->kind);
}

static void
fake_get(Jobd__V1__Jobs_Service *svc, const Jobd__V1__GetRequest *in,
         Jobd__V1__GetReply_Closure closure, void *arg)
{
	Jobd__V1__GetReply rep = JOBD__V1__GET_REPLY__INIT;
	(void) svc;
	ncalls++;
	rep.n_missing = in->n_ids;
	rep.missing = in->ids;
	closure(&rep, arg);
}

static void
fake_wait(Jobd__V1__Jobs_Service *svc, const Jobd__V1__WaitRequest *in,
          Jobd__V1__WaitReply_Closure closure, void *arg)
{
	(void) svc;
	(void) in;
	ncalls++;
	parked_closure = closure; /* answered later */
	parked_arg = arg;
}

static void
fake_ping(Jobd__V1__Jobs_Service *svc, const Jobd__V1__PingRequest *in,
          Jobd__V1__PingReply_Closure closure, void *arg)
{
	Jobd__V1__PingReply rep = JOBD__V1__PING_REPLY__INIT;
	const char *tok = rpc_metadata(arg, "token");
	(void) svc;
	ncalls++;
	snprintf(seen_token, sizeof(seen_token), "%s", tok ? tok : "");
	rep.payload = in->payload;
	rep.version = "test";
	closure(&rep, arg);
}

#define fake_cancel       NULL
#define fake_list         NULL
#define fake_stats        NULL
#define fake_kinds        NULL
#define fake_submit_batch NULL

static Jobd__V1__Jobs_Service fake = JOBD__V1__JOBS__INIT(fake_);

/* ---- helpers ---- */

/* Packs an envelope for `method` with `body` (a message, or NULL). */
static uint8_t *
envelope(const char *method, const ProtobufCMessage *body, uint32_t deadline,
         size_t *len)
{
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	Jobd__V1__Request__MetadataEntry md =
	    JOBD__V1__REQUEST__METADATA_ENTRY__INIT;
	Jobd__V1__Request__MetadataEntry *mds[1] = {&md};
	uint8_t *b = NULL, *out;

	md.key = "token";
	md.value = "s3cret";
	req.n_metadata = 1;
	req.metadata = mds;
	req.method = (char *) method;
	req.deadline_ms = deadline;
	if (body != NULL) {
		b = malloc(protobuf_c_message_get_packed_size(body) + 1);
		req.body.len = protobuf_c_message_pack(body, b);
		req.body.data = b;
	}
	out = malloc(jobd__v1__request__get_packed_size(&req) + 1);
	*len = jobd__v1__request__pack(&req, out);
	free(b);
	return out;
}

static void
call(struct sent *s, const uint8_t *buf, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->call.send = capture;
	s->call.can_park = true;
	rpc_dispatch(&fake.base, &s->call, buf, len);
}

static void
call_method(struct sent *s, const char *method, const ProtobufCMessage *body)
{
	size_t len;
	uint8_t *buf = envelope(method, body, 0, &len);
	call(s, buf, len);
	free(buf);
}

/* ---- tests ---- */

static void
test_ping_by_name(void)
{
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	struct sent s;
	ping.payload.data = (uint8_t *) "hello";
	ping.payload.len = 5;

	const char *names[] = {"Ping", "/jobd.v1.Jobs/Ping"};
	for (int i = 0; i < 2; i++) {
		call_method(&s, names[i], &ping.base);
		CHECK_EQ_INT(s.nsent, 1);
		REQUIRE(s.resp != NULL);
		CHECK_EQ_INT(s.resp->code, JOBD_OK);
		Jobd__V1__PingReply *rep = jobd__v1__ping_reply__unpack(
		    NULL, s.resp->body.len, s.resp->body.data);
		REQUIRE(rep != NULL);
		CHECK_EQ_INT(rep->payload.len, 5);
		CHECK(memcmp(rep->payload.data, "hello", 5) == 0);
		CHECK_EQ_STR(rep->version, "test");
		CHECK_EQ_STR(seen_token, "s3cret");
		jobd__v1__ping_reply__free_unpacked(rep, NULL);
		sent_fini(&s);
	}
}

static void
test_method_index_routes(void)
{
	/* Get echoes its ids as missing: proves the Get handler ran with a
	 * GetRequest body */
	Jobd__V1__GetRequest get = JOBD__V1__GET_REQUEST__INIT;
	uint64_t ids[] = {7, 9};
	struct sent s;
	get.n_ids = 2;
	get.ids = ids;
	call_method(&s, "Get", &get.base);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_OK);
	Jobd__V1__GetReply *rep = jobd__v1__get_reply__unpack(
	    NULL, s.resp->body.len, s.resp->body.data);
	REQUIRE(rep != NULL);
	CHECK_EQ_INT(rep->n_missing, 2);
	CHECK_EQ_INT(rep->missing[1], 9);
	jobd__v1__get_reply__free_unpacked(rep, NULL);
	sent_fini(&s);
}

static void
test_garbage(void)
{
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	struct sent s;
	int before = ncalls;
	call(&s, junk, sizeof(junk));
	CHECK_EQ_INT(s.nsent, 1);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_INVALID_ARGUMENT);
	CHECK(strstr(s.resp->message, "envelope") != NULL);
	CHECK_EQ_INT(ncalls, before);
	sent_fini(&s);

	/* random inputs: always exactly one reply, never a crash */
	srand(42);
	for (int i = 0; i < 2000; i++) {
		uint8_t buf[64];
		size_t n = (size_t) (rand() % (int) sizeof(buf));
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t) rand();
		call(&s, buf, n);
		CHECK_EQ_INT(s.nsent, 1);
		REQUIRE(s.resp != NULL);
		sent_fini(&s);
		if (parked_arg != NULL) {
			/* a random Wait parked: answer it */
			rpc_fail(parked_arg, JOBD_CANCELLED, "x");
			parked_arg = NULL;
		}
	}
}

static void
test_unknown_method(void)
{
	struct sent s;
	const char *bad[] = {"Nope", "/other.Svc/Ping", "/jobd.v1.Jobs/", "",
	                     "ping"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call_method(&s, bad[i], NULL);
		REQUIRE(s.resp != NULL);
		CHECK_EQ_INT(s.resp->code, JOBD_UNIMPLEMENTED);
		CHECK(strstr(s.resp->message, "unknown method") != NULL);
		sent_fini(&s);
	}
}

static void
test_wrong_body(void)
{
	/* a body that is not a WaitRequest: field 1 must be a varint */
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	struct sent s;
	int before = ncalls;
	ping.payload.data = (uint8_t *) "abc";
	ping.payload.len = 3;
	call_method(&s, "Wait", &ping.base);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_INVALID_ARGUMENT);
	CHECK(strstr(s.resp->message, "jobd.v1.WaitRequest") != NULL);
	CHECK_EQ_INT(ncalls, before);
	sent_fini(&s);
}

static void
test_oversized(void)
{
	size_t n = RPC_MAX_REQUEST + 1;
	uint8_t *big = calloc(1, n);
	struct sent s;
	call(&s, big, n);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_RESOURCE_EXHAUSTED);
	sent_fini(&s);
	free(big);
}

static void
test_deadline_range(void)
{
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	struct sent s;
	size_t len;
	uint8_t *buf =
	    envelope("Ping", &ping.base, RPC_MAX_DEADLINE_MS + 1, &len);
	call(&s, buf, len);
	free(buf);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_INVALID_ARGUMENT);
	CHECK(strstr(s.resp->message, "deadline") != NULL);
	sent_fini(&s);
}

static void
test_handler_error(void)
{
	Jobd__V1__SubmitRequest sub = JOBD__V1__SUBMIT_REQUEST__INIT;
	struct sent s;
	sub.kind = "bogus";
	call_method(&s, "Submit", &sub.base);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_INVALID_ARGUMENT);
	CHECK_EQ_STR(s.resp->message, "unknown kind 'bogus'");
	CHECK_EQ_INT(s.resp->body.len, 0);
	sent_fini(&s);
}

static void
test_parked_reply(void)
{
	Jobd__V1__WaitRequest w = JOBD__V1__WAIT_REQUEST__INIT;
	Jobd__V1__WaitReply rep = JOBD__V1__WAIT_REPLY__INIT;
	Jobd__V1__Job job = JOBD__V1__JOB__INIT;
	struct sent s;

	w.id = 5;
	parked_arg = NULL;
	call_method(&s, "Wait", &w.base);
	CHECK_EQ_INT(s.nsent, 0); /* parked: no reply yet */
	REQUIRE(parked_arg == &s.call);
	job.id = 5;
	job.state = JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED;
	rep.job = &job;
	parked_closure(&rep, parked_arg); /* later, from anywhere */
	parked_arg = NULL;
	CHECK_EQ_INT(s.nsent, 1);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_OK);
	Jobd__V1__WaitReply *got = jobd__v1__wait_reply__unpack(
	    NULL, s.resp->body.len, s.resp->body.data);
	REQUIRE(got != NULL && got->job != NULL);
	CHECK_EQ_INT(got->job->id, 5);
	jobd__v1__wait_reply__free_unpacked(got, NULL);
	sent_fini(&s);
}

static void
test_status_names(void)
{
	CHECK_EQ_STR(jobd_status_name(JOBD_OK), "OK");
	CHECK_EQ_STR(jobd_status_name(JOBD_NOT_FOUND), "NOT_FOUND");
	CHECK_EQ_STR(jobd_status_name(JOBD_UNAUTHENTICATED), "UNAUTHENTICATED");
	CHECK_EQ_STR(jobd_status_name(99), "UNKNOWN");
	/* the C enum and the wire enum agree */
	CHECK_EQ_INT(JOBD__V1__CODE__RESOURCE_EXHAUSTED,
	             JOBD_RESOURCE_EXHAUSTED);
	CHECK_EQ_INT(JOBD__V1__CODE__UNAUTHENTICATED, JOBD_UNAUTHENTICATED);
}

TEST_MAIN({"ping_by_name", test_ping_by_name},
          {"method_index_routes", test_method_index_routes},
          {"garbage", test_garbage}, {"unknown_method", test_unknown_method},
          {"wrong_body", test_wrong_body}, {"oversized", test_oversized},
          {"deadline_range", test_deadline_range},
          {"handler_error", test_handler_error},
          {"parked_reply", test_parked_reply},
          {"status_names", test_status_names})

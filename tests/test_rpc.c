/*
 * Tests of the envelope codec and the dispatch through the generated service
 * descriptor, against a service of test handlers (the real handlers are
 * exercised end to end by test_daemon), of the wire check that comes before
 * any decoding (wire.c), and of parking (rpc_park, rpc_release).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "capture.h"
#include "jobd.pb-c.h"
#include "rpc.h"
#include "test.h"
#include "wire.h"
#include "wirebuf.h"

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
#define fake_retry        NULL
#define fake_pause        NULL
#define fake_resume       NULL
#define fake_schedules    NULL

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

/* ---- the wire check ---- */

/* An envelope for `method` whose metadata is one authorization entry of
 * the n bytes of value (NULL: none), with body `body` (NULL: empty). */
static void
raw_envelope(struct wbuf *b, const char *method, const char *value, size_t n,
             const struct wbuf *body)
{
	struct wbuf e = {0};

	wb_str(b, 1, method, strlen(method));
	wb_str(b, 2, body != NULL ? body->p : NULL, body != NULL ? body->n : 0);
	if (value != NULL) {
		wb_str(&e, 1, "authorization", strlen("authorization"));
		wb_str(&e, 2, value, n);
		wb_str(b, 4, e.p, e.n);
	}
	wb_free(&e);
}

static void
call_raw(struct sent *s, const struct auth *a, const struct wbuf *b)
{
	memset(s, 0, sizeof(*s));
	s->call.send = capture;
	s->call.auth = a;
	rpc_dispatch(&fake.base, &s->call, b->p, b->n);
}

/* "Bearer TOKEN\0junk" is not the token: protobuf-c would decode it as
 * "Bearer TOKEN". Refused before auth, and the handler never runs. */
static void
test_nul_token(void)
{
	char dir[] = "/tmp/jobd-rpc-XXXXXX", path[64], err[256];
	static const char good[] = "Bearer tok-123";
	static const char bad[] = "Bearer tok-123\0junk";
	struct auth a;
	struct wbuf b = {0};
	struct sent s;
	FILE *f;
	int before = ncalls;

	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/token", dir);
	REQUIRE((f = fopen(path, "w")) != NULL);
	fputs("tok-123\n", f);
	fclose(f);
	chmod(path, 0600);
	REQUIRE(auth_load(&a, path, err, sizeof(err)) == 0);
	unlink(path);
	rmdir(dir);

	raw_envelope(&b, "Ping", good, sizeof(good) - 1, NULL);
	REQUIRE(!b.oom);
	call_raw(&s, &a, &b);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_OK);
	CHECK_EQ_INT(ncalls, before + 1);
	sent_fini(&s);
	wb_free(&b);

	raw_envelope(&b, "Ping", bad, sizeof(bad) - 1, NULL);
	REQUIRE(!b.oom);
	call_raw(&s, &a, &b);
	CHECK_EQ_INT(s.nsent, 1);
	REQUIRE(s.resp != NULL);
	CHECK((int) s.resp->code != JOBD_OK);
	CHECK_EQ_INT(s.resp->code, JOBD_INVALID_ARGUMENT);
	CHECK(strstr(s.resp->message, "field 'value' of "
	                              "jobd.v1.Request.MetadataEntry holds a "
	                              "NUL byte") != NULL);
	CHECK_EQ_INT(ncalls, before + 1);
	sent_fini(&s);
	wb_free(&b);
}

/* A NUL byte in any string, the body's included: refused before the
 * handler; bytes fields may hold any byte. */
static void
test_nul_in_body(void)
{
	static const char kind[] = "bogus\0x";
	struct wbuf body = {0}, b = {0};
	struct sent s;
	int before = ncalls;

	wb_str(&body, 1, kind, sizeof(kind) - 1);
	raw_envelope(&b, "Submit", NULL, 0, &body);
	REQUIRE(!b.oom && !body.oom);
	call_raw(&s, NULL, &b);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_INVALID_ARGUMENT);
	CHECK(strstr(s.resp->message, "field 'kind' of jobd.v1.SubmitRequest "
	                              "holds a NUL byte") != NULL);
	CHECK_EQ_INT(ncalls, before);
	sent_fini(&s);
	wb_free(&b);
	wb_free(&body);

	wb_str(&body, 1, "p\0ng", 5); /* PingRequest.payload: bytes */
	raw_envelope(&b, "Ping", NULL, 0, &body);
	REQUIRE(!b.oom && !body.oom);
	call_raw(&s, NULL, &b);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_OK);
	CHECK_EQ_INT(ncalls, before + 1);
	sent_fini(&s);
	wb_free(&b);
	wb_free(&body);
}

/* Unknown fields and repeats of a singular field: 64 in one message are
 * decoded, 65 refused. */
static void
test_extra_fields(void)
{
	struct wbuf b = {0};
	struct sent s;

	for (int extra = 64; extra <= 65; extra++) {
		raw_envelope(&b, "Ping", NULL, 0, NULL);
		for (int i = 0; i < extra; i++)
			wb_varint_field(&b, 100 + (unsigned) (i % 2), 7);
		REQUIRE(!b.oom);
		call_raw(&s, NULL, &b);
		REQUIRE(s.resp != NULL);
		if (extra == 64) {
			CHECK_EQ_INT(s.resp->code, JOBD_OK);
		} else {
			CHECK_EQ_INT(s.resp->code, JOBD_INVALID_ARGUMENT);
			CHECK_EQ_STR(
			    s.resp->message,
			    "too many unknown or repeated fields in one "
			    "message: 65, at most 64");
		}
		sent_fini(&s);
		wb_free(&b);
	}
	/* the method 65 times: one field, 64 repeats of it */
	for (int i = 0; i < 65; i++)
		wb_str(&b, 1, "Ping", 4);
	REQUIRE(!b.oom);
	call_raw(&s, NULL, &b);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_OK);
	sent_fini(&s);
	wb_str(&b, 1, "Ping", 4);
	REQUIRE(!b.oom);
	call_raw(&s, NULL, &b);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_INVALID_ARGUMENT);
	sent_fini(&s);
	wb_free(&b);

	/* a field of the wrong wire type is no envelope at all */
	wb_str(&b, 3, "x", 1); /* deadline_ms is a varint */
	REQUIRE(!b.oom);
	call_raw(&s, NULL, &b);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_INVALID_ARGUMENT);
	CHECK(strstr(s.resp->message, "envelope") != NULL);
	sent_fini(&s);
	wb_free(&b);
}

/* Get's ids are counted packed or not, before they are decoded. */
static void
test_count_ids(void)
{
	struct wbuf body = {0}, packed = {0}, b = {0};
	struct sent s;

	for (int n = 1000; n <= 1001; n++) {
		for (int packing = 0; packing < 2; packing++) {
			int before = ncalls;
			for (int i = 0; i < n; i++) {
				if (packing)
					wb_varint(&packed, (uint64_t) i + 1);
				else
					wb_varint_field(&body, 1,
					                (uint64_t) i + 1);
			}
			if (packing)
				wb_str(&body, 1, packed.p, packed.n);
			raw_envelope(&b, "Get", NULL, 0, &body);
			REQUIRE(!b.oom && !body.oom && !packed.oom);
			call_raw(&s, NULL, &b);
			REQUIRE(s.resp != NULL);
			if (n == 1000) {
				CHECK_EQ_INT(s.resp->code, JOBD_OK);
				CHECK_EQ_INT(ncalls, before + 1);
			} else {
				CHECK_EQ_INT(s.resp->code,
				             JOBD_INVALID_ARGUMENT);
				CHECK_EQ_STR(
				    s.resp->message,
				    "too many ids: 1001, at most 1000");
				CHECK_EQ_INT(ncalls, before);
			}
			sent_fini(&s);
			wb_free(&b);
			wb_free(&body);
			wb_free(&packed);
		}
	}
}

/* Every string, bytes, message and repeated field of every request has a
 * bound in wire.c's table: a field added to jobd.proto without one fails
 * here. */
static void
test_all_bounded(void)
{
	const ProtobufCServiceDescriptor *sd = fake.base.descriptor;
	char err[200];

	CHECK(
	    wire_all_bounded(&jobd__v1__request__descriptor, err, sizeof(err)));
	for (size_t i = 0; i < sd->n_methods; i++) {
		if (!wire_all_bounded(sd->methods[i].input, err, sizeof(err)))
			TEST_FAIL_("%s: %s", sd->methods[i].name, err);
	}
	/* and a message of replies is not: the check is real */
	CHECK(!wire_all_bounded(&jobd__v1__job__descriptor, err, sizeof(err)));
	CHECK(strstr(err, "has no bound") != NULL);
}

/* Nesting: a batch's job's parameter is three levels deep. */
static void
test_depth(void)
{
	struct wbuf entry = {0}, job = {0}, batch = {0};
	char err[200];

	wb_str(&entry, 1, "n", 1);
	wb_str(&entry, 2, "1", 1);
	wb_str(&job, 1, "count", 5);
	wb_str(&job, 2, entry.p, entry.n);
	wb_str(&batch, 1, job.p, job.n);
	REQUIRE(!entry.oom && !job.oom && !batch.oom);
	CHECK_EQ_INT(wire_check(&jobd__v1__submit_batch_request__descriptor,
	                        batch.p, batch.n, 3, err, sizeof(err)),
	             WIRE_OK);
	CHECK_EQ_INT(wire_check(&jobd__v1__submit_batch_request__descriptor,
	                        batch.p, batch.n, 2, err, sizeof(err)),
	             WIRE_REFUSED);
	CHECK_EQ_STR(err, "jobs[0]: params[0]: messages nested deeper than 2 "
	                  "levels");
	wb_free(&entry);
	wb_free(&job);
	wb_free(&batch);
}

/* ---- parking ---- */

struct park_probe {
	int holds, releases;
};

static void
probe_hold(void *arg)
{
	((struct park_probe *) arg)->holds++;
}

static void
probe_release(void *arg)
{
	((struct park_probe *) arg)->releases++;
}

static const struct rpc_park_ops probe_ops = {probe_hold, probe_release};

/* rpc_release() reaches a parked call once it is held, and a call that
 * was unparked (its answer on its way) not at all. */
static void
test_park_release(void)
{
	struct park_probe pr = {0, 0};
	struct sent s;

	memset(&s, 0, sizeof(s));
	rpc_release(&s.call); /* never parked */
	rpc_park(&s.call, &probe_ops, &pr);
	rpc_release(&s.call);
	CHECK_EQ_INT(pr.holds, 1);
	CHECK_EQ_INT(pr.releases, 1);
	rpc_unpark(&s.call);
	rpc_release(&s.call);
	CHECK_EQ_INT(pr.holds, 1);
	CHECK_EQ_INT(pr.releases, 1);
}

static int
refuse_room(struct rpc_call *c, int kind, char *msg, size_t len)
{
	(void) c;
	snprintf(msg, len, "no room for %s",
	         kind == RPC_PARK_WAIT ? "a Wait" : "a call");
	return JOBD_RESOURCE_EXHAUSTED;
}

/* The transport's refusal becomes the call's error, ready to send. */
static void
test_park_room(void)
{
	static const struct rpc_transport none = {NULL, NULL};
	static const struct rpc_transport full = {refuse_room, NULL};
	struct rpc_front_stats st;
	struct sent s;

	memset(&s, 0, sizeof(s));
	s.call.send = capture;
	CHECK_EQ_INT(rpc_park_room(&s.call, RPC_PARK_WAIT), JOBD_OK);
	s.call.ops = &none;
	CHECK_EQ_INT(rpc_park_room(&s.call, RPC_PARK_WAIT), JOBD_OK);
	rpc_front_stats(&s.call, &st);
	CHECK_EQ_INT(st.connections, 0);
	s.call.ops = &full;
	CHECK_EQ_INT(rpc_park_room(&s.call, RPC_PARK_WAIT),
	             JOBD_RESOURCE_EXHAUSTED);
	rpc_closure(NULL, &s.call);
	REQUIRE(s.resp != NULL);
	CHECK_EQ_INT(s.resp->code, JOBD_RESOURCE_EXHAUSTED);
	CHECK_EQ_STR(s.resp->message, "no room for a Wait");
	sent_fini(&s);
}

TEST_MAIN({"ping_by_name", test_ping_by_name},
          {"method_index_routes", test_method_index_routes},
          {"garbage", test_garbage}, {"unknown_method", test_unknown_method},
          {"wrong_body", test_wrong_body}, {"oversized", test_oversized},
          {"deadline_range", test_deadline_range},
          {"handler_error", test_handler_error},
          {"parked_reply", test_parked_reply},
          {"status_names", test_status_names}, {"nul_token", test_nul_token},
          {"nul_in_body", test_nul_in_body},
          {"extra_fields", test_extra_fields}, {"count_ids", test_count_ids},
          {"all_bounded", test_all_bounded}, {"depth", test_depth},
          {"park_release", test_park_release}, {"park_room", test_park_room})

/*
 * pbjson (common/pbjson_*.c): round trips of every message of jobd.proto with
 * every field set (filled by reflection, so a field added later is covered
 * without a change here), the exact JSON of a Job and a StatsReply, each
 * rule of the mapping, every refusal with its exact message, and hostile
 * input. tests/pbjson_test.proto and pbjson_test2.proto give what
 * jobd.proto lacks: every scalar type, maps with every kind of key, a
 * oneof, recursion, proto2 has_ flags.
 */

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobd.pb-c.h"
#include "pbjson.h"
#include "pbjson_test.pb-c.h"
#include "pbjson_test2.pb-c.h"
#include "test.h"

/* ---- helpers ---- */

/* m as compact JSON text (malloc'd). */
static char *
dumps(const ProtobufCMessage *m)
{
	json_t *j = pbjson_encode(m);
	if (j == NULL)
		return NULL;
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* Decodes text as d; NULL with err set on failure. */
static ProtobufCMessage *
decode(const ProtobufCMessageDescriptor *d, const char *text, char *err,
       size_t errlen)
{
	ProtobufCMessage *m = NULL;
	if (pbjson_decode_text(d, text, strlen(text), &m, err, errlen) != 0) {
		CHECK(m == NULL);
		return NULL;
	}
	return m;
}

/* Decoding text as d fails with exactly want. */
#define CHECK_REFUSED(d, text, want)                                           \
	do {                                                                   \
		char err_[1024] = "";                                          \
		ProtobufCMessage *m_ =                                         \
		    decode((d), (text), err_, sizeof(err_));                   \
		CHECK(m_ == NULL);                                             \
		if (m_ != NULL)                                                \
			protobuf_c_message_free_unpacked(m_, NULL);            \
		CHECK_EQ_STR(err_, (want));                                    \
	} while (0)

/* Decodes text as d, re-encodes it: the JSON text is want. */
#define CHECK_RECODE(d, text, want)                                            \
	do {                                                                   \
		char err_[256] = "";                                           \
		ProtobufCMessage *m_ =                                         \
		    decode((d), (text), err_, sizeof(err_));                   \
		if (m_ == NULL)                                                \
			TEST_FAIL_("%s: %s", (text), err_);                    \
		else {                                                         \
			char *s_ = dumps(m_);                                  \
			CHECK_EQ_STR(s_, (want));                              \
			free(s_);                                              \
			protobuf_c_message_free_unpacked(m_, NULL);            \
		}                                                              \
	} while (0)

static void *
xmalloc(size_t n)
{
	void *p = malloc(n);
	REQUIRE(p != NULL);
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p = xmalloc(strlen(s) + 1);
	strcpy(p, s);
	return p;
}

/* ---- filling a message by reflection ---- */

static ProtobufCMessage *fill_new(const ProtobufCMessageDescriptor *d,
                                  int variant, int depth);

/* One value of field f's type at p, the i-th of its field (or map). */
static void
fill_value(const ProtobufCFieldDescriptor *f, void *p, int variant, int depth,
           unsigned i)
{
	static const char *strs[] = {
	    "h\xc3\xa9llo \"q\" \\ / \n\t\x01 \xe2\x9c\x93 \xf0\x9f\x98\x80",
	    "",
	    "plain",
	};
	static const uint8_t raw[] = {0, 1, 2, 0xff, 0xfe, 0x80, 0x3e, 0x3f};
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		*(int32_t *) p =
		    variant == 1 ? INT32_MIN + (int32_t) i : -123 - (int32_t) i;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *) p = variant == 1 ? UINT32_MAX - i : 123 + i;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *) p =
		    variant == 1 ? INT64_MIN + i : -1234567890123456789 + i;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *) p =
		    variant == 1 ? UINT64_MAX - i : 12345678901234567890u + i;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *) p = variant == 1   ? (i ? -INFINITY : FLT_MAX)
		               : variant == 2 ? NAN
		                              : 1.5f + (float) i;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *) p = variant == 1   ? (i ? 5e-324 : INFINITY)
		                : variant == 2 ? -DBL_MAX
		                               : -2.25e10 + i;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *) p = variant == 0 || (i % 2) == 1;
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *e = f->descriptor;
		/* variant 1: a number the enum does not know */
		*(int *) p = variant == 1
		                 ? 99 + (int) i
		                 : e->values[(1 + i) % e->n_values].value;
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char b[80];
		snprintf(b, sizeof(b), "%s%u", strs[variant % 3], i);
		*(char **) p = xstrdup(b);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		/* lengths 8, 1, 2 (+i): no padding, "==", "=" */
		size_t n = (variant == 0 ? 8 : variant == 1 ? 1 : 2) + i;
		ProtobufCBinaryData *b = p;
		b->data = xmalloc(n);
		for (size_t k = 0; k < n; k++)
			b->data[k] = raw[(k + i) % sizeof(raw)];
		b->len = n;
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **) p =
		    fill_new(f->descriptor, variant, depth + 1);
		break;
	}
}

static size_t
elt_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

/* Map entries: distinct keys (the i-th), values filled. */
static ProtobufCMessage *
fill_entry(const ProtobufCMessageDescriptor *e, int variant, int depth,
           unsigned i)
{
	ProtobufCMessage *m = xmalloc(e->sizeof_message);
	protobuf_c_message_init(e, m);
	fill_value(&e->fields[0], (char *) m + e->fields[0].offset, variant,
	           depth, i);
	if (e->fields[0].type == PROTOBUF_C_TYPE_BOOL)
		*(protobuf_c_boolean *) ((char *) m + e->fields[0].offset) =
		    i % 2;
	fill_value(&e->fields[1], (char *) m + e->fields[1].offset, variant,
	           depth, i);
	return m;
}

/* A message of type d with every field set (variant 0: ordinary values,
 * 1: extremes, 2: others), nested messages to a depth of 3. */
static ProtobufCMessage *
fill_new(const ProtobufCMessageDescriptor *d, int variant, int depth)
{
	ProtobufCMessage *m = xmalloc(d->sizeof_message);
	protobuf_c_message_init(d, m);
	bool oneof_done = false;
	for (unsigned k = 0; k < d->n_fields; k++) {
		const ProtobufCFieldDescriptor *f = &d->fields[k];
		char *p = (char *) m + f->offset;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth >= 2)
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			/* one member, the variant-th (All's oneof: fields
			 * 26, 27, 28; jobd.proto has none) */
			if (oneof_done || (f->id - 26) != (unsigned) variant)
				continue;
			oneof_done = true;
			*(uint32_t *) ((char *) m + f->quantifier_offset) =
			    f->id;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			const ProtobufCMessageDescriptor *e = f->descriptor;
			bool map = e && e->n_fields == 2 &&
			           strstr(e->short_name, "Entry") != NULL;
			unsigned n = 2 + (unsigned) variant;
			/* a bool key has two values only */
			if (map && e->fields[0].type == PROTOBUF_C_TYPE_BOOL)
				n = 2;
			size_t sz = elt_size(f->type);
			char *arr = calloc(n, sz);
			REQUIRE(arr != NULL);
			*(void **) p = arr;
			*(size_t *) ((char *) m + f->quantifier_offset) = n;
			for (unsigned i = 0; i < n; i++) {
				if (map)
					((ProtobufCMessage **) arr)[i] =
					    fill_entry(e, variant, depth, i);
				else
					fill_value(f, arr + i * sz, variant,
					           depth, i);
			}
			continue;
		}
		fill_value(f, p, variant, depth, k);
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
		    f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE &&
		    !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			*(protobuf_c_boolean *) ((char *) m +
			                         f->quantifier_offset) = 1;
	}
	return m;
}

/* m -> JSON text -> message -> packed: the same bytes as m packed, and
 * the same JSON text again. */
static void
check_round_trip(const ProtobufCMessage *m)
{
	char *text = dumps(m);
	REQUIRE(text != NULL);
	char err[256] = "";
	ProtobufCMessage *back = decode(m->descriptor, text, err, sizeof(err));
	if (back == NULL) {
		TEST_FAIL_("%s: %s\n%s", m->descriptor->name, err, text);
		free(text);
		return;
	}
	size_t n1 = protobuf_c_message_get_packed_size(m);
	size_t n2 = protobuf_c_message_get_packed_size(back);
	uint8_t *b1 = xmalloc(n1 + 1), *b2 = xmalloc(n2 + 1);
	protobuf_c_message_pack(m, b1);
	protobuf_c_message_pack(back, b2);
	if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
		size_t at = 0;
		while (at < n1 && at < n2 && b1[at] == b2[at])
			at++;
		TEST_FAIL_("%s: packed differs after JSON (%zu, %zu bytes; "
		           "from byte %zu):\n%.2000s",
		           m->descriptor->name, n1, n2, at, text);
	}
	char *again = dumps(back);
	CHECK_EQ_STR(again, text);
	free(again);
	free(b1);
	free(b2);
	free(text);
	protobuf_c_message_free_unpacked(back, NULL);
}

/* Every message descriptor reachable from d, added to set (no repeats). */
static void
collect(const ProtobufCMessageDescriptor *d,
        const ProtobufCMessageDescriptor **set, size_t *n, size_t cap)
{
	for (size_t i = 0; i < *n; i++)
		if (set[i] == d)
			return;
	REQUIRE(*n < cap);
	set[(*n)++] = d;
	for (unsigned k = 0; k < d->n_fields; k++)
		if (d->fields[k].type == PROTOBUF_C_TYPE_MESSAGE)
			collect(d->fields[k].descriptor, set, n, cap);
}

/* ---- tests ---- */

static void
test_round_trip_jobd(void)
{
	const ProtobufCMessageDescriptor *set[128];
	size_t n = 0;
	collect(&jobd__v1__request__descriptor, set, &n, 128);
	collect(&jobd__v1__response__descriptor, set, &n, 128);
	const ProtobufCServiceDescriptor *s = &jobd__v1__jobs__descriptor;
	for (unsigned i = 0; i < s->n_methods; i++) {
		collect(s->methods[i].input, set, &n, 128);
		collect(s->methods[i].output, set, &n, 128);
	}
	/* every message of jobd.proto is reachable (38 when written) */
	CHECK(n >= 38);
	for (size_t i = 0; i < n; i++) {
		for (int v = 0; v < 3; v++) {
			ProtobufCMessage *m = fill_new(set[i], v, 0);
			check_round_trip(m);
			protobuf_c_message_free_unpacked(m, NULL);
		}
		/* and with every field at its default */
		ProtobufCMessage *m = xmalloc(set[i]->sizeof_message);
		protobuf_c_message_init(set[i], m);
		check_round_trip(m);
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

static void
test_round_trip_all_types(void)
{
	for (int v = 0; v < 3; v++) {
		ProtobufCMessage *m =
		    fill_new(&pbjson__test__all__descriptor, v, 0);
		check_round_trip(m);
		protobuf_c_message_free_unpacked(m, NULL);
		m = fill_new(&pbjson__test2__opt__descriptor, v, 0);
		check_round_trip(m);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	Pbjson__Test2__Opt o = PBJSON__TEST2__OPT__INIT;
	check_round_trip(&o.base);
}

static void
test_job_text(void)
{
	Jobd__V1__Job__ParamsEntry e1 = JOBD__V1__JOB__PARAMS_ENTRY__INIT;
	Jobd__V1__Job__ParamsEntry e2 = JOBD__V1__JOB__PARAMS_ENTRY__INIT;
	e1.key = "n";
	e1.value = "10";
	e2.key = "mode";
	e2.value = "fast \"x\"";
	Jobd__V1__Job__ParamsEntry *params[] = {&e1, &e2};
	Jobd__V1__Run run = JOBD__V1__RUN__INIT;
	run.state = JOBD__V1__JOB_STATE__JOB_STATE_FAILED;
	run.error = "exit 1";
	run.attempts = 2;
	run.started_at_ms = 1700000000000;
	run.finished_at_ms = 1700000001000;
	Jobd__V1__Run *hist[] = {&run};
	uint64_t after[] = {3, 18446744073709551615u};
	uint8_t res[] = {'h', 'i', '!', 0xff};
	Jobd__V1__Job j = JOBD__V1__JOB__INIT;
	j.id = 42;
	j.kind = "fib";
	j.n_params = 2;
	j.params = params;
	j.priority = -5;
	j.state = JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED;
	j.attempts = 1;
	j.max_attempts = 3;
	j.timeout_ms = 60000;
	j.progress_done = 7;
	j.progress_total = 9;
	j.result.data = res;
	j.result.len = sizeof(res);
	j.created_at_ms = 1700000000000;
	j.started_at_ms = -1;
	j.n_after = 2;
	j.after = after;
	j.reruns = 1;
	j.n_history = 1;
	j.history = hist;
	j.unique_key = "u-1";
	char *s = dumps(&j.base);
	CHECK_EQ_STR(
	    s,
	    "{\"id\":\"42\",\"kind\":\"fib\",\"params\":{\"n\":\"10\","
	    "\"mode\":\"fast \\\"x\\\"\"},\"priority\":-5,"
	    "\"state\":\"JOB_STATE_SUCCEEDED\",\"attempts\":1,"
	    "\"maxAttempts\":3,\"timeoutMs\":60000,\"progressDone\":\"7\","
	    "\"progressTotal\":\"9\",\"result\":\"aGkh/w==\",\"error\":\"\","
	    "\"createdAtMs\":\"1700000000000\",\"startedAtMs\":\"-1\","
	    "\"finishedAtMs\":\"0\",\"idempotencyKey\":\"\",\"inputSize\":0,"
	    "\"waiting\":\"\",\"runAtMs\":\"0\","
	    "\"after\":[\"3\",\"18446744073709551615\"],\"reruns\":1,"
	    "\"history\":[{\"state\":\"JOB_STATE_FAILED\",\"error\":\"exit 1\","
	    "\"attempts\":2,\"startedAtMs\":\"1700000000000\","
	    "\"finishedAtMs\":\"1700000001000\"}],\"uniqueKey\":\"u-1\"}");
	check_round_trip(&j.base);
	free(s);

	/* an empty Job: every field, at its default */
	Jobd__V1__Job e = JOBD__V1__JOB__INIT;
	s = dumps(&e.base);
	CHECK_EQ_STR(
	    s, "{\"id\":\"0\",\"kind\":\"\",\"params\":{},\"priority\":0,"
	       "\"state\":\"JOB_STATE_UNSPECIFIED\",\"attempts\":0,"
	       "\"maxAttempts\":0,\"timeoutMs\":0,\"progressDone\":\"0\","
	       "\"progressTotal\":\"0\",\"result\":\"\",\"error\":\"\","
	       "\"createdAtMs\":\"0\",\"startedAtMs\":\"0\","
	       "\"finishedAtMs\":\"0\",\"idempotencyKey\":\"\","
	       "\"inputSize\":0,\"waiting\":\"\",\"runAtMs\":\"0\","
	       "\"after\":[],\"reruns\":0,\"history\":[],\"uniqueKey\":\"\"}");
	free(s);

	/* an unset nested message is left out; a set one is an object */
	Jobd__V1__WaitReply w = JOBD__V1__WAIT_REPLY__INIT;
	s = dumps(&w.base);
	CHECK_EQ_STR(s, "{}");
	free(s);
	Jobd__V1__SubmitReply sr = JOBD__V1__SUBMIT_REPLY__INIT;
	Jobd__V1__Job sj = JOBD__V1__JOB__INIT;
	sj.state = 77; /* a state this build does not know: the number */
	sr.job = &sj;
	sr.existing = 1;
	s = dumps(&sr.base);
	CHECK(s != NULL && strstr(s, "{\"job\":{\"id\":\"0\",") == s);
	CHECK(s != NULL && strstr(s, "\"state\":77,") != NULL);
	CHECK(s != NULL && strstr(s, "},\"existing\":true}") != NULL);
	free(s);
}

static void
test_stats_text(void)
{
	Jobd__V1__StatsReply r = JOBD__V1__STATS_REPLY__INIT;
	char *paused[] = {"a", "b c"};
	uint32_t recent[] = {0, 4294967295u, 3};
	r.workers = 4;
	r.busy_workers = 2;
	r.queued = 10;
	r.running = 2;
	r.succeeded = 100;
	r.failed = 1;
	r.cancelled = 0;
	r.max_queue = 1000;
	r.uptime_ms = 5000;
	r.submitted = 113;
	r.version = "0.1.0";
	r.n_paused_kinds = 2;
	r.paused_kinds = paused;
	r.n_finished_recent = 3;
	r.finished_recent = recent;
	r.finished_recent_step_ms = 10000;
	char *s = dumps(&r.base);
	CHECK_EQ_STR(
	    s, "{\"workers\":4,\"busyWorkers\":2,\"queued\":\"10\","
	       "\"running\":\"2\",\"succeeded\":\"100\",\"failed\":\"1\","
	       "\"cancelled\":\"0\",\"maxQueue\":\"1000\","
	       "\"uptimeMs\":\"5000\",\"submitted\":\"113\",\"retried\":\"0\","
	       "\"recovered\":\"0\",\"version\":\"0.1.0\","
	       "\"waitingKind\":\"0\",\"connections\":0,\"parkedCalls\":\"0\","
	       "\"droppedReplies\":\"0\",\"refusedCalls\":\"0\","
	       "\"commits\":\"0\",\"scheduled\":\"0\","
	       "\"pausedKinds\":[\"a\",\"b c\"],"
	       "\"finishedRecent\":[0,4294967295,3],"
	       "\"finishedRecentStepMs\":10000}");
	free(s);
	check_round_trip(&r.base);
}

static void
test_names(void)
{
	const ProtobufCMessageDescriptor *d =
	    &jobd__v1__list_request__descriptor;
	/* the json name and the proto name; enum by name or number */
	CHECK_RECODE(d, "{\"state\":\"JOB_STATE_FAILED\",\"limit\":5}",
	             "{\"state\":\"JOB_STATE_FAILED\",\"kind\":\"\","
	             "\"limit\":5,\"cursor\":\"0\"}");
	CHECK_RECODE(&jobd__v1__submit_request__descriptor,
	             "{\"max_attempts\":3,\"timeoutMs\":7,"
	             "\"idempotency_key\":\"k\",\"runAtMs\":\"-5\"}",
	             "{\"kind\":\"\",\"params\":{},\"input\":\"\","
	             "\"priority\":0,\"timeoutMs\":7,\"maxAttempts\":3,"
	             "\"idempotencyKey\":\"k\",\"runAtMs\":\"-5\","
	             "\"delayMs\":\"0\",\"after\":[],\"uniqueKey\":\"\"}");
	CHECK_REFUSED(&jobd__v1__submit_request__descriptor,
	              "{\"max_attempts\":3,\"maxAttempts\":3}",
	              "maxAttempts: given twice, by its json and its proto "
	              "name");
	/* the json name is derived as protoc does: not "Max_attempts" */
	CHECK_REFUSED(&jobd__v1__submit_request__descriptor,
	              "{\"MaxAttempts\":3}", "unknown field \"MaxAttempts\"");
	CHECK_REFUSED(&jobd__v1__submit_request__descriptor,
	              "{\"maxattempts\":3}", "unknown field \"maxattempts\"");
}

static void
test_integers(void)
{
	const ProtobufCMessageDescriptor *a = &pbjson__test__all__descriptor;
	const ProtobufCMessageDescriptor *w =
	    &jobd__v1__wait_request__descriptor;
	CHECK_RECODE(w, "{\"id\":\"18446744073709551615\"}",
	             "{\"id\":\"18446744073709551615\"}");
	CHECK_RECODE(w, "{\"id\":9223372036854775807}",
	             "{\"id\":\"9223372036854775807\"}");
	CHECK_RECODE(w, "{\"id\":\"007\"}", "{\"id\":\"7\"}");
	CHECK_RECODE(w, "{\"id\":null}", "{\"id\":\"0\"}");
	CHECK_REFUSED(w, "{\"id\":\"18446744073709551616\"}",
	              "id: \"18446744073709551616\" is not an unsigned 64-bit "
	              "integer");
	CHECK_REFUSED(w, "{\"id\":\"12x\"}",
	              "id: \"12x\" is not an unsigned 64-bit integer");
	CHECK_REFUSED(w, "{\"id\":\"-0\"}",
	              "id: \"-0\" is not an unsigned 64-bit integer");
	CHECK_REFUSED(w, "{\"id\":-1}",
	              "id: -1 is not an unsigned 64-bit integer");
	CHECK_REFUSED(w, "{\"id\":\"+1\"}",
	              "id: \"+1\" is not an unsigned 64-bit integer");
	CHECK_REFUSED(w, "{\"id\":\" 1\"}",
	              "id: \" 1\" is not an unsigned 64-bit integer");
	CHECK_REFUSED(w, "{\"id\":\"1 \"}",
	              "id: \"1 \" is not an unsigned 64-bit integer");
	CHECK_REFUSED(w, "{\"id\":\"\"}",
	              "id: \"\" is not an unsigned 64-bit integer");
	CHECK_REFUSED(w, "{\"id\":\"1e3\"}",
	              "id: \"1e3\" is not an unsigned 64-bit integer");
	CHECK_REFUSED(w, "{\"id\":1e3}",
	              "id: expected an integer, got a real number");
	CHECK_REFUSED(w, "{\"id\":1.0}",
	              "id: expected an integer, got a real number");
	CHECK_REFUSED(w, "{\"id\":true}",
	              "id: expected an integer or a decimal string, got a "
	              "boolean");
	CHECK_REFUSED(w, "{\"id\":[1]}",
	              "id: expected an integer or a decimal string, got an "
	              "array");
	/* jansson refuses an integer above its 64 bits */
	char err[256];
	CHECK(decode(w, "{\"id\":18446744073709551615}", err, sizeof(err)) ==
	      NULL);
	CHECK(strncmp(err, "invalid JSON at line 1 column", 29) == 0);

	/* signed 64 and 32, the extremes */
	Pbjson__Test__All *m = (Pbjson__Test__All *) decode(
	    a,
	    "{\"i64\":\"-9223372036854775808\",\"s64\":\"-0\","
	    "\"sf64\":-9223372036854775808,\"i32\":\"-2147483648\","
	    "\"s32\":2147483647,\"u32\":\"4294967295\",\"f32\":4294967295}",
	    err, sizeof(err));
	REQUIRE(m != NULL);
	CHECK(m->i64 == INT64_MIN);
	CHECK(m->s64 == 0);
	CHECK(m->sf64 == INT64_MIN);
	CHECK(m->i32 == INT32_MIN);
	CHECK(m->s32 == INT32_MAX);
	CHECK(m->u32 == UINT32_MAX);
	CHECK(m->f32 == UINT32_MAX);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	CHECK_REFUSED(a, "{\"i64\":\"9223372036854775808\"}",
	              "i64: \"9223372036854775808\" is not a 64-bit integer");
	CHECK_REFUSED(a, "{\"i64\":\"-9223372036854775809\"}",
	              "i64: \"-9223372036854775809\" is not a 64-bit integer");
	CHECK_REFUSED(a, "{\"i64\":\"--1\"}",
	              "i64: \"--1\" is not a 64-bit integer");
	CHECK_REFUSED(a, "{\"i64\":\"-\"}",
	              "i64: \"-\" is not a 64-bit integer");
	CHECK_REFUSED(a, "{\"i32\":2147483648}",
	              "i32: 2147483648 is not a 32-bit integer");
	CHECK_REFUSED(a, "{\"s32\":\"-2147483649\"}",
	              "s32: \"-2147483649\" is not a 32-bit integer");
	CHECK_REFUSED(a, "{\"u32\":4294967296}",
	              "u32: 4294967296 is not an unsigned 32-bit integer");
	CHECK_REFUSED(a, "{\"f32\":-1}",
	              "f32: -1 is not an unsigned 32-bit integer");
	CHECK_REFUSED(a, "{\"u32\":\"0x10\"}",
	              "u32: \"0x10\" is not an unsigned 32-bit integer");
	/* a long string is cut in the message, bytes not printable are '?' */
	CHECK_REFUSED(a,
	              "{\"u32\":\"1234567890123456789012345678901234567890"
	              "12345\"}",
	              "u32: \"1234567890123456789012345678901234567890...\" is "
	              "not an unsigned 32-bit integer");
	CHECK_REFUSED(a, "{\"u32\":\"1\\n\\u00e9\"}",
	              "u32: \"1???\" is not an unsigned 32-bit integer");
}

static void
test_floats_bools(void)
{
	const ProtobufCMessageDescriptor *a = &pbjson__test__all__descriptor;
	char err[256];
	Pbjson__Test__All *m = (Pbjson__Test__All *) decode(
	    a,
	    "{\"fl\":\"-Infinity\",\"db\":\"NaN\",\"dbs\":[1,2.5,\"1e3\","
	    "\"Infinity\",-0.0],\"fls\":[3.4028234663852886e38],\"b\":true}",
	    err, sizeof(err));
	REQUIRE(m != NULL);
	CHECK(isinf(m->fl) && m->fl < 0);
	CHECK(isnan(m->db));
	REQUIRE(m->n_dbs == 5);
	CHECK(m->dbs[0] == 1 && m->dbs[1] == 2.5 && m->dbs[2] == 1000);
	CHECK(isinf(m->dbs[3]) && m->dbs[4] == 0 && signbit(m->dbs[4]));
	CHECK(m->n_fls == 1 && m->fls[0] == FLT_MAX);
	CHECK(m->b);
	char *s = dumps(&m->base);
	CHECK(s != NULL &&
	      strstr(s, "\"fl\":\"-Infinity\",\"db\":\"NaN\"") != NULL);
	CHECK(s != NULL &&
	      strstr(s, "\"dbs\":[1.0,2.5,1000.0,\"Infinity\",-0.0]") != NULL);
	free(s);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	CHECK_REFUSED(a, "{\"fl\":1e39}",
	              "fl: 1e+39 is out of range for a float");
	CHECK_REFUSED(a, "{\"fl\":\"1e39\"}",
	              "fl: \"1e39\" is out of range for a float");
	CHECK_REFUSED(a, "{\"db\":\"1e999\"}", "db: \"1e999\" is not a number");
	CHECK_REFUSED(a, "{\"db\":\"inf\"}", "db: \"inf\" is not a number");
	CHECK_REFUSED(a, "{\"db\":\"0x1p3\"}", "db: \"0x1p3\" is not a number");
	CHECK_REFUSED(a, "{\"db\":\" 1\"}", "db: \" 1\" is not a number");
	CHECK_REFUSED(a, "{\"db\":\"\"}", "db: \"\" is not a number");
	CHECK_REFUSED(a, "{\"db\":true}",
	              "db: expected a number, got a boolean");
	CHECK_REFUSED(a, "{\"b\":\"true\"}",
	              "b: expected true or false, got a string");
	CHECK_REFUSED(a, "{\"b\":1}",
	              "b: expected true or false, got a number");
	CHECK_REFUSED(a, "{\"bs\":[true,null]}",
	              "bs[1]: expected true or false, got null");
}

static void
test_enums(void)
{
	const ProtobufCMessageDescriptor *l =
	    &jobd__v1__list_request__descriptor;
	CHECK_RECODE(l, "{\"state\":2}",
	             "{\"state\":\"JOB_STATE_RUNNING\",\"kind\":\"\","
	             "\"limit\":0,\"cursor\":\"0\"}");
	CHECK_RECODE(
	    l, "{\"state\":-7}",
	    "{\"state\":-7,\"kind\":\"\",\"limit\":0,\"cursor\":\"0\"}");
	CHECK_REFUSED(l, "{\"state\":\"RUNNING\"}",
	              "state: \"RUNNING\" is not a value of jobd.v1.JobState");
	CHECK_REFUSED(l, "{\"state\":\"job_state_running\"}",
	              "state: \"job_state_running\" is not a value of "
	              "jobd.v1.JobState");
	CHECK_REFUSED(l, "{\"state\":\"2\"}",
	              "state: \"2\" is not a value of jobd.v1.JobState");
	CHECK_REFUSED(l, "{\"state\":2147483648}",
	              "state: 2147483648 is not a 32-bit integer");
	CHECK_REFUSED(l, "{\"state\":1.5}",
	              "state: expected an enum name or number, got a number");
	CHECK_REFUSED(l, "{\"state\":{}}",
	              "state: expected an enum name or number, got an object");
	CHECK_REFUSED(&jobd__v1__kinds_reply__descriptor,
	              "{\"kinds\":[{\"params\":[{\"type\":\"TYPE_INT\"},"
	              "{\"type\":\"JOB_STATE_RUNNING\"}]}]}",
	              "kinds[0].params[1].type: \"JOB_STATE_RUNNING\" is not a "
	              "value of jobd.v1.Param.Type");
}

static void
test_bytes(void)
{
	const ProtobufCMessageDescriptor *p =
	    &jobd__v1__ping_request__descriptor;
	/* out: standard, padded */
	CHECK_RECODE(p, "{\"payload\":\"+/+/\"}", "{\"payload\":\"+/+/\"}");
	/* in: URL-safe, padding optional */
	CHECK_RECODE(p, "{\"payload\":\"-_-_\"}", "{\"payload\":\"+/+/\"}");
	CHECK_RECODE(p, "{\"payload\":\"aGk\"}", "{\"payload\":\"aGk=\"}");
	CHECK_RECODE(p, "{\"payload\":\"aGk=\"}", "{\"payload\":\"aGk=\"}");
	CHECK_RECODE(p, "{\"payload\":\"aA\"}", "{\"payload\":\"aA==\"}");
	CHECK_RECODE(p, "{\"payload\":\"aA==\"}", "{\"payload\":\"aA==\"}");
	CHECK_RECODE(p, "{\"payload\":\"\"}", "{\"payload\":\"\"}");
	CHECK_RECODE(p, "{\"payload\":null}", "{\"payload\":\"\"}");
	const char *bad[] = {"a",    "aGk==",  "aA=",  "a===", "aGk=aGk=",
	                     "aG k", "aGk\\n", "aG.k", "=",    "===="};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[64];
		snprintf(text, sizeof(text), "{\"payload\":\"%s\"}", bad[i]);
		CHECK_REFUSED(p, text, "payload: not valid base64");
	}
	CHECK_REFUSED(p, "{\"payload\":[1]}",
	              "payload: expected a base64 string, got an array");
	/* every length, every byte value */
	Jobd__V1__PingRequest r = JOBD__V1__PING_REQUEST__INIT;
	uint8_t buf[300];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t) (i * 7 + 3);
	for (size_t n = 0; n <= sizeof(buf); n += (n < 10 ? 1 : 37)) {
		r.payload.data = n ? buf : NULL;
		r.payload.len = n;
		check_round_trip(&r.base);
	}
}

static void
test_strings(void)
{
	const ProtobufCMessageDescriptor *sub =
	    &jobd__v1__submit_request__descriptor;
	CHECK_REFUSED(sub, "{\"kind\":5}",
	              "kind: expected a string, got a number");
	CHECK_REFUSED(sub, "{\"kind\":{}}",
	              "kind: expected a string, got an object");
	/* a NUL inside: jansson refuses it unless asked; pbjson always */
	json_t *j = json_pack("{s:s%}", "kind", "a\0b", (size_t) 3);
	REQUIRE(j != NULL);
	ProtobufCMessage *m = NULL;
	char err[256];
	CHECK(pbjson_decode(sub, j, &m, err, sizeof(err)) == -1);
	CHECK(m == NULL);
	CHECK_EQ_STR(err, "kind: a string with a NUL character");
	json_decref(j);
	/* invalid UTF-8 coming in (jansson checks its own input; a json_t
	 * built without that check, or a query parameter, is pbjson's) */
	j = json_object();
	REQUIRE(j != NULL);
	json_object_set_new(j, "kind", json_stringn_nocheck("a\xff", 2));
	CHECK(pbjson_decode(sub, j, &m, err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "kind: a string that is not valid UTF-8");
	json_decref(j);
	Jobd__V1__SubmitRequest *r = xmalloc(sizeof(*r));
	jobd__v1__submit_request__init(r);
	CHECK(pbjson_set_text(&r->base, "kind", "\xed\xa0\x80", err,
	                      sizeof(err)) == -1);
	CHECK_EQ_STR(err, "kind: a string that is not valid UTF-8");
	CHECK(pbjson_set_text(&r->base, "kind", "\xc3\xa9", err, sizeof(err)) ==
	      0);
	CHECK_EQ_STR(r->kind, "\xc3\xa9");
	protobuf_c_message_free_unpacked(&r->base, NULL);
	/* invalid UTF-8 going out becomes U+FFFD, in values and map keys */
	Jobd__V1__Job__ParamsEntry e = JOBD__V1__JOB__PARAMS_ENTRY__INIT;
	Jobd__V1__Job__ParamsEntry *pe[] = {&e};
	e.key = "k\xff";
	e.value = "\xc3(";
	Jobd__V1__Job job = JOBD__V1__JOB__INIT;
	job.error = "bad \xe0\x80\x80 \xed\xa0\x80!";
	job.n_params = 1;
	job.params = pe;
	char *s = dumps(&job.base);
	REQUIRE(s != NULL);
	CHECK(strstr(s, "\"params\":{\"k\xef\xbf\xbd\":\"\xef\xbf\xbd(\"}") !=
	      NULL);
	CHECK(strstr(s, "\"error\":\"bad \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
	                "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!\"") != NULL);
	free(s);
}

static void
test_maps(void)
{
	const ProtobufCMessageDescriptor *sub =
	    &jobd__v1__submit_request__descriptor;
	CHECK_RECODE(sub, "{\"params\":{\"b\":\"2\",\"a\":\"1\"}}",
	             "{\"kind\":\"\",\"params\":{\"b\":\"2\",\"a\":\"1\"},"
	             "\"input\":\"\",\"priority\":0,\"timeoutMs\":0,"
	             "\"maxAttempts\":0,\"idempotencyKey\":\"\","
	             "\"runAtMs\":\"0\",\"delayMs\":\"0\",\"after\":[],"
	             "\"uniqueKey\":\"\"}");
	CHECK_REFUSED(sub, "{\"params\":[]}",
	              "params: expected an object, got an array");
	CHECK_REFUSED(sub, "{\"params\":{\"limit\":5}}",
	              "params.limit: expected a string, got a number");
	CHECK_REFUSED(&jobd__v1__submit_batch_request__descriptor,
	              "{\"jobs\":[{},{},{\"params\":{\"limit\":\"5\"}},"
	              "{\"params\":{\"x\":\"1\",\"limit\":5}}]}",
	              "jobs[3].params.limit: expected a string, got a number");
	/* a null value: the default */
	Jobd__V1__SubmitRequest *r = (Jobd__V1__SubmitRequest *) decode(
	    sub, "{\"params\":{\"a\":null}}", NULL, 0);
	REQUIRE(r != NULL);
	CHECK(r->n_params == 1 && strcmp(r->params[0]->key, "a") == 0 &&
	      strcmp(r->params[0]->value, "") == 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);

	/* keys of every kind */
	const ProtobufCMessageDescriptor *a = &pbjson__test__all__descriptor;
	Pbjson__Test__All *m = (Pbjson__Test__All *) decode(
	    a,
	    "{\"byInt\":{\"-5\":\"x\",\"7\":\"y\"},\"by_bool\":{\"true\":"
	    "\"COLOR_RED\",\"false\":2},\"byU64\":{\"18446744073709551615\":"
	    "\"AQ==\"},\"byName\":{\"n\":{\"i32\":3},\"m\":null}}",
	    NULL, 0);
	REQUIRE(m != NULL);
	REQUIRE(m->n_by_int == 2 && m->n_by_bool == 2 && m->n_by_u64 == 1 &&
	        m->n_by_name == 2);
	CHECK(m->by_int[0]->key == -5 && strcmp(m->by_int[0]->value, "x") == 0);
	CHECK(m->by_bool[0]->key == 1 && m->by_bool[0]->value == 1);
	CHECK(m->by_bool[1]->key == 0 && m->by_bool[1]->value == 2);
	CHECK(m->by_u64[0]->key == UINT64_MAX && m->by_u64[0]->value.len == 1);
	CHECK(m->by_name[0]->value != NULL && m->by_name[0]->value->i32 == 3);
	CHECK(m->by_name[1]->value == NULL);
	char *s = dumps(&m->base);
	/* an unset message value goes out as the empty message */
	CHECK(s != NULL && strstr(s, "\"byName\":{\"n\":{\"i32\":3,") != NULL);
	CHECK(s != NULL && strstr(s, "},\"m\":{\"i32\":0,") != NULL);
	CHECK(s != NULL && strstr(s, "\"byBool\":{\"true\":\"COLOR_RED\","
	                             "\"false\":\"COLOR_BLUE\"}") != NULL);
	free(s);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	CHECK_REFUSED(a, "{\"byInt\":{\"x\":\"y\"}}",
	              "byInt.x: \"x\" is not a 32-bit integer");
	CHECK_REFUSED(a, "{\"byBool\":{\"yes\":1}}",
	              "byBool.yes: \"yes\" is not true or false");
	CHECK_REFUSED(a, "{\"byName\":{\"k\":{\"nope\":1}}}",
	              "byName.k: unknown field \"nope\"");
	CHECK_REFUSED(a, "{\"byName\":{\"k\":5}}",
	              "byName.k: expected an object, got a number");
}

static void
test_messages(void)
{
	const ProtobufCMessageDescriptor *g = &jobd__v1__get_reply__descriptor;
	CHECK_REFUSED(g, "[]", "expected an object, got an array");
	CHECK_REFUSED(g, "\"x\"", "expected an object, got a string");
	CHECK_REFUSED(g, "null", "expected an object, got null");
	CHECK_REFUSED(g, "{\"foo\":1}", "unknown field \"foo\"");
	CHECK_REFUSED(g, "{\"jobs\":{}}",
	              "jobs: expected an array, got an object");
	CHECK_REFUSED(g, "{\"jobs\":[{},5]}",
	              "jobs[1]: expected an object, got a number");
	CHECK_REFUSED(g, "{\"jobs\":[{\"history\":[{\"state\":1,\"x\":2}]}]}",
	              "jobs[0].history[0]: unknown field \"x\"");
	CHECK_REFUSED(g, "{\"missing\":[\"1\",\"2\",\"x\"]}",
	              "missing[2]: \"x\" is not an unsigned 64-bit integer");
	CHECK_REFUSED(g, "{\"jobs\":[{\"id\":\"1\",\"id\":\"2\"}]}",
	              "invalid JSON at line 1 column 23: duplicate object key "
	              "near '\"id\"'");
	CHECK_REFUSED(g, "{\"jobs\":",
	              "invalid JSON at line 1 column 8: unexpected token near "
	              "end of file");
	CHECK_REFUSED(g, "",
	              "invalid JSON at line 1 column 0: unexpected token "
	              "near end of file");
	CHECK_REFUSED(g, " 5 ", "expected an object, got a number");
	CHECK_REFUSED(g, "{\"jobs\":null,\"missing\":null,\"a\\u00e9\":1}",
	              "unknown field \"a??\"");
	/* null: the default, for messages and arrays too */
	CHECK_RECODE(g, "{\"jobs\":null,\"missing\":null}",
	             "{\"jobs\":[],\"missing\":[]}");
	CHECK_RECODE(&jobd__v1__wait_reply__descriptor, "{\"job\":null}", "{}");
	CHECK_RECODE(&jobd__v1__wait_reply__descriptor, "{\"job\":{}}",
	             "{\"job\":{\"id\":\"0\",\"kind\":\"\",\"params\":{},"
	             "\"priority\":0,\"state\":\"JOB_STATE_UNSPECIFIED\","
	             "\"attempts\":0,\"maxAttempts\":0,\"timeoutMs\":0,"
	             "\"progressDone\":\"0\",\"progressTotal\":\"0\","
	             "\"result\":\"\",\"error\":\"\",\"createdAtMs\":\"0\","
	             "\"startedAtMs\":\"0\",\"finishedAtMs\":\"0\","
	             "\"idempotencyKey\":\"\",\"inputSize\":0,\"waiting\":\"\","
	             "\"runAtMs\":\"0\",\"after\":[],\"reruns\":0,"
	             "\"history\":[],\"uniqueKey\":\"\"}}");
	/* an empty message */
	CHECK_RECODE(&jobd__v1__stats_request__descriptor, "{}", "{}");
	CHECK_REFUSED(&jobd__v1__stats_request__descriptor, "{\"x\":null}",
	              "unknown field \"x\"");
	/* err may be small, or absent */
	char small[8];
	ProtobufCMessage *m = (ProtobufCMessage *) 1;
	CHECK(pbjson_decode_text(g, "{\"foo\":1}", 9, &m, small,
	                         sizeof(small)) == -1);
	CHECK(m == NULL);
	CHECK_EQ_STR(small, "unknown");
	CHECK(pbjson_decode_text(g, "{\"jobs\":[5]}", 12, &m, NULL, 0) == -1);
	CHECK(pbjson_decode(g, NULL, &m, small, sizeof(small)) == -1);
}

static void
test_oneof(void)
{
	const ProtobufCMessageDescriptor *a = &pbjson__test__all__descriptor;
	char err[256];
	Pbjson__Test__All *m = (Pbjson__Test__All *) decode(
	    a, "{\"oneS\":\"x\",\"one_msg\":null}", err, sizeof(err));
	REQUIRE(m != NULL);
	CHECK(m->choice_case == PBJSON__TEST__ALL__CHOICE_ONE_S);
	CHECK_EQ_STR(m->one_s, "x");
	char *s = dumps(&m->base);
	CHECK(s != NULL && strstr(s, "\"oneS\":\"x\"") != NULL &&
	      strstr(s, "oneI") == NULL && strstr(s, "oneMsg") == NULL);
	free(s);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	CHECK_REFUSED(a, "{\"oneS\":\"x\",\"oneI\":\"5\"}",
	              "oneI: another field of its oneof is set already");
	CHECK_REFUSED(a, "{\"oneMsg\":{\"s\":\"y\"},\"oneS\":\"x\"}",
	              "oneS: another field of its oneof is set already");
	/* nothing set: none of them out */
	Pbjson__Test__All e = PBJSON__TEST__ALL__INIT;
	s = dumps(&e.base);
	CHECK(s != NULL && strstr(s, "one") == NULL);
	free(s);
}

static void
test_optional(void)
{
	const ProtobufCMessageDescriptor *o = &pbjson__test2__opt__descriptor;
	CHECK_RECODE(o, "{}", "{}");
	CHECK_RECODE(o, "{\"i\":0,\"b\":false,\"by\":\"\",\"s\":\"\",\"o\":{}}",
	             "{\"i\":0,\"by\":\"\",\"b\":false,\"s\":\"\",\"o\":{}}");
	CHECK_RECODE(o, "{\"i\":null,\"s\":null}", "{}");
}

static void
test_depth(void)
{
	const ProtobufCMessageDescriptor *a = &pbjson__test__all__descriptor;
	/* PBJSON_MAX_DEPTH messages: the top one and 63 children */
	char text[2048], want[1024];
	size_t k = 0;
	for (int i = 0; i < PBJSON_MAX_DEPTH - 1; i++)
		k += (size_t) snprintf(text + k, sizeof(text) - k,
		                       "{\"child\":");
	k += (size_t) snprintf(text + k, sizeof(text) - k, "{}");
	for (int i = 0; i < PBJSON_MAX_DEPTH - 1; i++)
		text[k++] = '}';
	text[k] = '\0';
	char err[1024];
	ProtobufCMessage *m = decode(a, text, err, sizeof(err));
	CHECK(m != NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	/* one more */
	k = 0;
	for (int i = 0; i < PBJSON_MAX_DEPTH; i++)
		k += (size_t) snprintf(text + k, sizeof(text) - k,
		                       "{\"child\":");
	k += (size_t) snprintf(text + k, sizeof(text) - k, "{}");
	for (int i = 0; i < PBJSON_MAX_DEPTH; i++)
		text[k++] = '}';
	text[k] = '\0';
	size_t w = 0;
	for (int i = 0; i < PBJSON_MAX_DEPTH; i++)
		w += (size_t) snprintf(want + w, sizeof(want) - w, "%schild",
		                       i ? "." : "");
	snprintf(want + w, sizeof(want) - w,
	         ": nested more than %d messages "
	         "deep",
	         PBJSON_MAX_DEPTH);
	CHECK_REFUSED(a, text, want);

	/* JSON nested deeper than jansson takes */
	size_t n = 100000;
	char *deep = xmalloc(2 * n + 32);
	k = (size_t) sprintf(deep, "{\"kind\":");
	memset(deep + k, '[', n);
	memset(deep + k + n, ']', n);
	strcpy(deep + k + 2 * n, "}");
	m = NULL;
	CHECK(pbjson_decode_text(&jobd__v1__submit_request__descriptor, deep,
	                         strlen(deep), &m, err, sizeof(err)) == -1);
	CHECK(strstr(err, "maximum parsing depth") != NULL);
	/* deep, but within jansson's limit, in a field of the wrong type */
	n = 1000;
	k = (size_t) sprintf(deep, "{\"kind\":");
	memset(deep + k, '[', n);
	memset(deep + k + n, ']', n);
	strcpy(deep + k + 2 * n, "}");
	CHECK_REFUSED(&jobd__v1__submit_request__descriptor, deep,
	              "kind: expected a string, got an array");
	free(deep);
}

static void
test_big_array(void)
{
	/* large arrays are bounded by memory only */
	size_t n = 200000;
	char *text = xmalloc(n * 4 + 32);
	size_t k = (size_t) sprintf(text, "{\"ids\":[");
	for (size_t i = 0; i < n; i++)
		k += (size_t) sprintf(text + k, "%s%zu", i ? "," : "", i % 10);
	strcpy(text + k, "]}");
	char err[256];
	Jobd__V1__GetRequest *g = (Jobd__V1__GetRequest *) decode(
	    &jobd__v1__get_request__descriptor, text, err, sizeof(err));
	REQUIRE(g != NULL);
	CHECK(g->n_ids == n && g->ids[n - 1] == (n - 1) % 10);
	protobuf_c_message_free_unpacked(&g->base, NULL);
	/* an error at its end frees all before it */
	k = (size_t) sprintf(text, "{\"ids\":[");
	for (size_t i = 0; i + 1 < n; i++)
		k += (size_t) sprintf(text + k, "%zu,", i % 10);
	strcpy(text + k, "\"x\"]}");
	char want[64];
	snprintf(want, sizeof(want),
	         "ids[%zu]: \"x\" is not an unsigned 64-bit integer", n - 1);
	CHECK_REFUSED(&jobd__v1__get_request__descriptor, text, want);
	free(text);
}

static void
test_set_text(void)
{
	char err[256];
	Jobd__V1__ListRequest *l = xmalloc(sizeof(*l));
	jobd__v1__list_request__init(l);
	ProtobufCMessage *m = &l->base;
	CHECK(pbjson_set_text(m, "state", "JOB_STATE_FAILED", err,
	                      sizeof(err)) == 0);
	CHECK(l->state == JOBD__V1__JOB_STATE__JOB_STATE_FAILED);
	CHECK(pbjson_set_text(m, "state", "2", err, sizeof(err)) == 0);
	CHECK(l->state == JOBD__V1__JOB_STATE__JOB_STATE_RUNNING);
	CHECK(pbjson_set_text(m, "kind", "fib", err, sizeof(err)) == 0);
	CHECK(pbjson_set_text(m, "kind", "sha256", err, sizeof(err)) == 0);
	CHECK_EQ_STR(l->kind, "sha256");
	CHECK(pbjson_set_text(m, "limit", "10", err, sizeof(err)) == 0);
	CHECK(l->limit == 10);
	CHECK(pbjson_set_text(m, "cursor", "18446744073709551615", err,
	                      sizeof(err)) == 0);
	CHECK(l->cursor == UINT64_MAX);
	CHECK(pbjson_set_text(m, "limit", "-1", err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "limit: \"-1\" is not an unsigned 32-bit integer");
	CHECK(l->limit == 10);
	CHECK(pbjson_set_text(m, "limit", "", err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "limit: \"\" is not an unsigned 32-bit integer");
	CHECK(pbjson_set_text(m, "state", "NOPE", err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "state: \"NOPE\" is not a value of jobd.v1.JobState");
	CHECK(pbjson_set_text(m, "foo", "1", err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "unknown parameter \"foo\"");
	protobuf_c_message_free_unpacked(m, NULL);

	/* repeated fields append; json and proto names */
	Pbjson__Test__All *a = xmalloc(sizeof(*a));
	pbjson__test__all__init(a);
	m = &a->base;
	CHECK(pbjson_set_text(m, "s64s", "-1", err, sizeof(err)) == 0);
	CHECK(pbjson_set_text(m, "s64s", "5", err, sizeof(err)) == 0);
	CHECK(a->n_s64s == 2 && a->s64s[0] == -1 && a->s64s[1] == 5);
	CHECK(pbjson_set_text(m, "ss", "x", err, sizeof(err)) == 0);
	CHECK(pbjson_set_text(m, "ss", "y", err, sizeof(err)) == 0);
	CHECK(a->n_ss == 2 && strcmp(a->ss[1], "y") == 0);
	CHECK(pbjson_set_text(m, "bys", "aGk", err, sizeof(err)) == 0);
	CHECK(a->n_bys == 1 && a->bys[0].len == 2);
	CHECK(pbjson_set_text(m, "bys", "a", err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "bys: not valid base64");
	CHECK(a->n_bys == 1);
	CHECK(pbjson_set_text(m, "by", "aGk", err, sizeof(err)) == 0);
	CHECK(pbjson_set_text(m, "by", "aGkh", err, sizeof(err)) == 0);
	CHECK(a->by.len == 3);
	CHECK(pbjson_set_text(m, "b", "true", err, sizeof(err)) == 0);
	CHECK(a->b == 1);
	CHECK(pbjson_set_text(m, "b", "1", err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "b: \"1\" is not true or false");
	CHECK(pbjson_set_text(m, "colors", "COLOR_BLUE", err, sizeof(err)) ==
	      0);
	CHECK(a->n_colors == 1 &&
	      a->colors[0] == PBJSON__TEST__COLOR__COLOR_BLUE);
	CHECK(pbjson_set_text(m, "db", "-2.5", err, sizeof(err)) == 0);
	CHECK(a->db == -2.5);
	CHECK(pbjson_set_text(m, "fl", "1e39", err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "fl: \"1e39\" is out of range for a float");
	CHECK(pbjson_set_text(m, "child", "x", err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "child: not a scalar field");
	CHECK(pbjson_set_text(m, "by_int", "x", err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "by_int: not a scalar field");
	CHECK(pbjson_set_text(m, "one_s", "q", err, sizeof(err)) == 0);
	CHECK(pbjson_set_text(m, "oneS", "r", err, sizeof(err)) == 0);
	CHECK_EQ_STR(a->one_s, "r");
	CHECK(pbjson_set_text(m, "oneI", "3", err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "oneI: another field of its oneof is set already");
	CHECK(pbjson_set_text(m, "u32", "4294967295", err, sizeof(err)) == 0);
	CHECK(a->u32 == UINT32_MAX);
	check_round_trip(m);
	protobuf_c_message_free_unpacked(m, NULL);

	/* on a message from protobuf-c's unpack */
	Jobd__V1__GetRequest g = JOBD__V1__GET_REQUEST__INIT;
	uint64_t ids[] = {1, 2};
	g.n_ids = 2;
	g.ids = ids;
	uint8_t buf[64];
	size_t n = jobd__v1__get_request__pack(&g, buf);
	Jobd__V1__GetRequest *u = jobd__v1__get_request__unpack(NULL, n, buf);
	REQUIRE(u != NULL);
	CHECK(pbjson_set_text(&u->base, "ids", "3", err, sizeof(err)) == 0);
	CHECK(u->n_ids == 3 && u->ids[2] == 3);
	jobd__v1__get_request__free_unpacked(u, NULL);
}

TEST_MAIN({"round_trip_jobd", test_round_trip_jobd},
          {"round_trip_all_types", test_round_trip_all_types},
          {"job_text", test_job_text}, {"stats_text", test_stats_text},
          {"names", test_names}, {"integers", test_integers},
          {"floats_bools", test_floats_bools}, {"enums", test_enums},
          {"bytes", test_bytes}, {"strings", test_strings}, {"maps", test_maps},
          {"messages", test_messages}, {"oneof", test_oneof},
          {"optional", test_optional}, {"depth", test_depth},
          {"big_array", test_big_array}, {"set_text", test_set_text})

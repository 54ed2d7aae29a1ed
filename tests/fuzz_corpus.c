/*
 * fuzz_corpus: writes the seed corpus of fuzz_request into a directory:
 *
 *     fuzz_corpus DIR
 *
 * One file per request, each a whole wire request (a packed
 * jobd.v1.Request), made with the project's own protobuf-c types: every
 * method with real bodies (Submit of every kind, with input, key, priority,
 * timeout and retries; Get, Wait, Cancel of ended, live and missing jobs;
 * List with every filter and a cursor; Stats, Kinds, Ping), then malformed
 * and over-the-limit ones. The ids are those fuzz_request sets up: 1-3
 * ended (keys done-1..3), 4 and 5 live (keys live-1, live-2).
 *
 * The output depends on nothing but this file, so tests/fuzz/corpus is
 * exactly what it writes; the test fuzz_corpus_current checks that.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobd.pb-c.h"

static const char *outdir;
static int nfiles;

static void
write_file(const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%02d-%s", outdir, ++nfiles, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(buf, 1, len, f) != len ||
	    fclose(f) != 0) {
		fprintf(stderr, "fuzz_corpus: cannot write '%s'\n", path);
		exit(1);
	}
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "fuzz_corpus: out of memory\n");
		exit(1);
	}
	return p;
}

/* A request envelope for `method` around `body` (NULL: no body). */
static void
put(const char *name, const char *method, const ProtobufCMessage *body,
    uint32_t deadline_ms)
{
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	Jobd__V1__Request__MetadataEntry md =
	    JOBD__V1__REQUEST__METADATA_ENTRY__INIT;
	Jobd__V1__Request__MetadataEntry *mds[1] = {&md};
	uint8_t *b = NULL, *out;
	size_t n;

	md.key = "user-agent";
	md.value = "jobctl/0.1.0";
	req.n_metadata = 1;
	req.metadata = mds;
	req.method = (char *) method;
	req.deadline_ms = deadline_ms;
	if (body != NULL) {
		b = xmalloc(protobuf_c_message_get_packed_size(body));
		req.body.len = protobuf_c_message_pack(body, b);
		req.body.data = b;
	}
	n = jobd__v1__request__get_packed_size(&req);
	out = xmalloc(n);
	jobd__v1__request__pack(&req, out);
	write_file(name, out, n);
	free(out);
	free(b);
}

/* A Submit of `kind` with "name=value" parameters (NULL-terminated). */
static void
put_submit(const char *name, const char *kind, const char *key,
           int32_t priority, uint32_t timeout_ms, uint32_t attempts,
           const char *input, ...)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry ents[8], *ptrs[8];
	char bufs[8][128];
	const char *p;
	size_t n = 0;
	va_list ap;

	va_start(ap, input);
	while ((p = va_arg(ap, const char *)) != NULL && n < 8) {
		jobd__v1__submit_request__params_entry__init(&ents[n]);
		snprintf(bufs[n], sizeof(bufs[n]), "%s", p);
		char *eq = strchr(bufs[n], '=');
		*eq = '\0';
		ents[n].key = bufs[n];
		ents[n].value = eq + 1;
		ptrs[n] = &ents[n];
		n++;
	}
	va_end(ap);
	req.kind = (char *) kind;
	req.n_params = n;
	req.params = ptrs;
	req.priority = priority;
	req.timeout_ms = timeout_ms;
	req.max_attempts = attempts;
	req.idempotency_key = (char *) (key ? key : "");
	if (input != NULL) {
		req.input.data = (uint8_t *) input;
		req.input.len = strlen(input);
	}
	put(name, "Submit", &req.base, 10000);
}

/* A SubmitBatch of n count jobs (n=1000), with keys[i] (NULL: none) and
 * kind "nope" for job `bad` (n or more: none). */
static void
put_batch(const char *name, size_t n, const char *const *keys, size_t bad)
{
	Jobd__V1__SubmitBatchRequest req = JOBD__V1__SUBMIT_BATCH_REQUEST__INIT;
	Jobd__V1__SubmitRequest subs[8], *ptrs[8];
	Jobd__V1__SubmitRequest__ParamsEntry ent =
	    JOBD__V1__SUBMIT_REQUEST__PARAMS_ENTRY__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry *ents[] = {&ent};

	ent.key = "n";
	ent.value = "1000";
	for (size_t i = 0; i < n && i < 8; i++) {
		jobd__v1__submit_request__init(&subs[i]);
		subs[i].kind = i == bad ? "nope" : "count";
		subs[i].n_params = 1;
		subs[i].params = ents;
		subs[i].idempotency_key =
		    (char *) (keys != NULL && keys[i] ? keys[i] : "");
		ptrs[i] = &subs[i];
	}
	req.n_jobs = n < 8 ? n : 8;
	req.jobs = ptrs;
	put(name, "SubmitBatch", &req.base, 10000);
}

static void
put_get(const char *name, const uint64_t *ids, size_t n)
{
	Jobd__V1__GetRequest req = JOBD__V1__GET_REQUEST__INIT;
	req.n_ids = n;
	req.ids = (uint64_t *) ids;
	put(name, "Get", &req.base, 10000);
}

static void
put_wait(const char *name, uint64_t id, uint32_t deadline_ms)
{
	Jobd__V1__WaitRequest req = JOBD__V1__WAIT_REQUEST__INIT;
	req.id = id;
	put(name, "Wait", &req.base, deadline_ms);
}

static void
put_cancel(const char *name, uint64_t id)
{
	Jobd__V1__CancelRequest req = JOBD__V1__CANCEL_REQUEST__INIT;
	req.id = id;
	put(name, "Cancel", &req.base, 10000);
}

static void
put_list(const char *name, int state, const char *kind, uint32_t limit,
         uint64_t cursor)
{
	Jobd__V1__ListRequest req = JOBD__V1__LIST_REQUEST__INIT;
	req.state = (Jobd__V1__JobState) state;
	req.kind = (char *) kind;
	req.limit = limit;
	req.cursor = cursor;
	put(name, "List", &req.base, 10000);
}

#define END ((const char *) NULL)

int
main(int argc, char **argv)
{
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	Jobd__V1__StatsRequest stats = JOBD__V1__STATS_REQUEST__INIT;
	Jobd__V1__KindsRequest kinds = JOBD__V1__KINDS_REQUEST__INIT;
	static const uint64_t some[] = {1, 2, 3, 4, 5, 999};
	static uint64_t many[1001];
	char params[65][16], longkey[130];

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_corpus DIR\n");
		return 2;
	}
	outdir = argv[1];

	/* every method, as jobctl sends it */
	ping.payload.data = (uint8_t *) "hello";
	ping.payload.len = 5;
	put("ping", "Ping", &ping.base, 10000);
	put("ping-full-name", "/jobd.v1.Jobs/Ping", &ping.base, 0);
	put("stats", "Stats", &stats.base, 10000);
	put("kinds", "Kinds", &kinds.base, 10000);
	put_submit("submit-count", "count", "k-count", 0, 0, 0, NULL, "n=1000",
	           END);
	put_submit("submit-primes", "primes", "k-primes", 5, 2000, 3, NULL,
	           "limit=100000", END);
	put_submit("submit-sha256-input", "sha256", "k-sha", -3, 0, 1, "abc",
	           "rounds=2", END);
	put_submit("submit-sha256-default", "sha256", NULL, 0, 0, 0, "", END);
	put_submit("submit-sleep", "sleep", "k-sleep", 0, 100, 0, NULL, "ms=10",
	           END);
	put_submit("submit-fail", "fail", "k-fail", 0, 0, 2, NULL,
	           "message=oops\tand a tab", END);
	put_submit("submit-fail-default", "fail", NULL, 0, 0, 0, NULL, END);
	put_submit("submit-key-of-ended", "count", "done-1", 0, 0, 0, NULL,
	           "n=1000", END);
	put_submit("submit-key-of-live", "sleep", "live-1", 0, 0, 0, NULL,
	           "ms=60000", END);
	static const char *const bkeys[] = {"k-b1", NULL, "done-1", "k-b1"};
	put_batch("submit-batch", 4, bkeys, 8);
	put_batch("submit-batch-one", 1, NULL, 8);
	put_get("get-some", some, 6);
	put_get("get-none", NULL, 0);
	put_wait("wait-ended", 1, 10000);
	put_wait("wait-live-deadline", 4, 5);
	put_wait("wait-live", 5, 0);
	put_wait("wait-missing", 999, 10000);
	put_cancel("cancel-cancelled", 3);
	put_cancel("cancel-succeeded", 1);
	put_cancel("cancel-live", 4);
	put_cancel("cancel-missing", 999);
	put_list("list-all", 0, "", 0, 0);
	put_list("list-queued", 1, "", 20, 0);
	put_list("list-kind", 0, "count", 20, 0);
	put_list("list-page", 0, "", 2, 5);
	put_list("list-state-kind", 5, "sleep", 1000, 0);
	put_list("list-one", 0, "", 1, 0);
	put_list("list-scheduled", 6, "", 20, 0);

	/* the scheduling features: a delay, a time, after, a unique key;
	 * Retry of the ended jobs, Pause and Resume, Schedules */
	{
		Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
		Jobd__V1__SubmitRequest__ParamsEntry ent, *ptr = &ent;
		static uint64_t after[] = {1, 4};
		jobd__v1__submit_request__params_entry__init(&ent);
		ent.key = "n";
		ent.value = "1000";
		req.kind = "count";
		req.n_params = 1;
		req.params = &ptr;
		req.delay_ms = 60000;
		req.unique_key = "u-1";
		put("submit-delay-unique", "Submit", &req.base, 10000);
		req.delay_ms = 0;
		req.unique_key = "";
		req.run_at_ms = 4102444800000LL; /* 2100-01-01 */
		put("submit-run-at", "Submit", &req.base, 10000);
		req.run_at_ms = 0;
		req.n_after = 2;
		req.after = after;
		put("submit-after", "Submit", &req.base, 10000);
	}
	{
		Jobd__V1__RetryRequest rr = JOBD__V1__RETRY_REQUEST__INIT;
		Jobd__V1__PauseRequest pr = JOBD__V1__PAUSE_REQUEST__INIT;
		Jobd__V1__ResumeRequest rs = JOBD__V1__RESUME_REQUEST__INIT;
		Jobd__V1__SchedulesRequest sr =
		    JOBD__V1__SCHEDULES_REQUEST__INIT;
		rr.id = 3; /* cancelled */
		put("retry-cancelled", "Retry", &rr.base, 10000);
		rr.id = 1; /* succeeded */
		put("retry-succeeded", "Retry", &rr.base, 10000);
		pr.kind = "count";
		put("pause", "Pause", &pr.base, 10000);
		rs.kind = "count";
		put("resume", "Resume", &rs.base, 10000);
		put("schedules", "Schedules", &sr.base, 10000);
	}

	/* malformed, and over the limits */
	static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
	write_file("bad-envelope", junk, sizeof(junk));
	write_file("bad-empty", (const uint8_t *) "", 0);
	put("bad-method", "Explode", NULL, 0);
	put("bad-service", "/other.Svc/Ping", &ping.base, 0);
	put("bad-body", "Wait", &ping.base, 1000); /* bytes where a varint is */
	put("bad-deadline", "Ping", &ping.base, 24u * 3600 * 1000 + 1);
	put_list("bad-list-limit", 0, "", 1001, 0);
	put_batch("bad-batch-empty", 0, NULL, 8);
	put_batch("bad-batch-kind", 3, NULL, 1);
	put_batch("bad-batch-full", 8, NULL, 8); /* the queue holds 8 */
	put_list("bad-list-state", 9, "", 0, 0);
	for (size_t i = 0; i < 1001; i++)
		many[i] = i + 1;
	put_get("bad-get-many", many, 1001);
	put_submit("bad-kind", "nope", NULL, 0, 0, 0, NULL, "n=1", END);
	put_submit("bad-kind-long",
	           "a-kind-whose-name-is-much-longer-than-any-message-quotes-"
	           "in-full",
	           NULL, 0, 0, 0, NULL, END);
	put_list(
	    "bad-list-kind-long", 0,
	    "a-kind-whose-name-is-much-longer-than-any-kind-that-this-jobd-"
	    "knows-of",
	    0, 0);
	put_submit("bad-param-value", "count", NULL, 0, 0, 0, NULL, "n=x", END);
	put_submit("bad-param-name", "count", NULL, 0, 0, 0, NULL, "n=1", "m=2",
	           END);
	put_submit("bad-param-int-long", "count", NULL, 0, 0, 0, NULL,
	           "n=000000000000000000001", END);
	put_submit("bad-param-twice", "count", NULL, 0, 0, 0, NULL, "n=1",
	           "n=2", END);
	put_submit("bad-input", "count", NULL, 0, 0, 0, "abc", "n=1", END);
	put_submit("bad-attempts", "count", NULL, 0, 0, 101, NULL, "n=1", END);
	memset(longkey, 'k', 129);
	longkey[129] = '\0';
	put_submit("bad-key-long", "count", longkey, 0, 0, 0, NULL, "n=1", END);
	put_submit("bad-key-space", "count", "a key", 0, 0, 0, NULL, "n=1",
	           END);
	{
		Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
		Jobd__V1__SubmitRequest__ParamsEntry ents[65], *ptrs[65];
		for (int i = 0; i < 65; i++) {
			jobd__v1__submit_request__params_entry__init(&ents[i]);
			snprintf(params[i], sizeof(params[i]), "p%d", i);
			ents[i].key = params[i];
			ents[i].value = "1";
			ptrs[i] = &ents[i];
		}
		req.kind = "count";
		req.n_params = 65;
		req.params = ptrs;
		put("bad-params-many", "Submit", &req.base, 10000);
	}
	printf("fuzz_corpus: %d requests in %s\n", nfiles, outdir);
	return 0;
}

/*
 * Integration tests: the real jobd binary on a temporary directory and an
 * ipc:// address, driven through the client library (and a raw nng socket
 * for malformed requests).
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "harness.h"
#include "test.h"

static const char *const fast[] = {"--workers", "2",     "--backoff", "50ms",
                                   "--grace",   "200ms", NULL};

/* Submits kind with "name=value" params (NULL-terminated); returns the id,
 * 0 on failure (code in *code if given). */
static uint64_t
submitv(jobd_client *c, const char *kind, const char *key, uint32_t attempts,
        uint32_t timeout_ms, int *code, ...)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry ents[8], *ptrs[8];
	char bufs[8][128];
	Jobd__V1__SubmitReply *rep = NULL;
	va_list ap;
	const char *p;
	size_t n = 0;

	va_start(ap, code);
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
	req.max_attempts = attempts;
	req.timeout_ms = timeout_ms;
	req.idempotency_key = (char *) (key ? key : "");
	int rv = jobd_submit(c, &req, &rep);
	if (code != NULL)
		*code = rv;
	if (rv != JOBD_OK)
		return 0;
	uint64_t id = rep->job ? rep->job->id : 0;
	jobd__v1__submit_reply__free_unpacked(rep, NULL);
	return id;
}

#define SUBMIT(c, kind, ...)                                                   \
	submitv(c, kind, NULL, 0, 0, NULL, __VA_ARGS__, (const char *) NULL)

/* Polls until job id is in `state` (up to 10 s). */
static int
await_state(jobd_client *c, uint64_t id, int state)
{
	for (int i = 0; i < 1000; i++) {
		if (state_of(c, id) == state)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* Waits for the job to end; returns the Wait reply (caller frees). */
static Jobd__V1__WaitReply *
wait_job(jobd_client *c, uint64_t id)
{
	Jobd__V1__WaitReply *rep = NULL;
	if (jobd_wait(c, id, 20000, &rep) != JOBD_OK) {
		fprintf(stderr, "wait %llu: %s\n", (unsigned long long) id,
		        jobd_client_errmsg());
		return NULL;
	}
	return rep;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;
	return x < y ? -1 : x > y;
}

/* The seed's experiment: every worker busy on a long count, and status
 * queries still answered at once. */
static void
test_seed_experiment(void)
{
	struct jd d;
	double lat[200];
	uint64_t ids[2];

	jobd_client *c = jd_up(&d, fast);
	REQUIRE(c != NULL);
	for (int i = 0; i < 2; i++) {
		ids[i] = SUBMIT(c, "count", "n=100000000000");
		REQUIRE(ids[i] != 0);
	}
	for (int i = 0; i < 2; i++)
		REQUIRE(await_state(c, ids[i],
		                    JOBD__V1__JOB_STATE__JOB_STATE_RUNNING));

	int64_t t0 = h_now_ms();
	for (int i = 0; i < 200; i++) {
		Jobd__V1__GetReply *rep;
		uint64_t id = ids[i % 2];
		double s = h_now_us();
		REQUIRE(jobd_get(c, &id, 1, &rep) == JOBD_OK);
		lat[i] = (h_now_us() - s) / 1000.0;
		CHECK_EQ_INT(rep->n_jobs, 1);
		CHECK_EQ_INT(rep->jobs[0]->state,
		             JOBD__V1__JOB_STATE__JOB_STATE_RUNNING);
		jobd__v1__get_reply__free_unpacked(rep, NULL);
	}
	int64_t took = h_now_ms() - t0;
	/* both jobs were busy throughout */
	CHECK_EQ_INT(state_of(c, ids[0]),
	             JOBD__V1__JOB_STATE__JOB_STATE_RUNNING);
	CHECK_EQ_INT(state_of(c, ids[1]),
	             JOBD__V1__JOB_STATE__JOB_STATE_RUNNING);
	Jobd__V1__StatsReply *st;
	REQUIRE(jobd_stats(c, &st) == JOBD_OK);
	CHECK_EQ_INT(st->busy_workers, 2);
	jobd__v1__stats_reply__free_unpacked(st, NULL);

	qsort(lat, 200, sizeof(lat[0]), cmp_double);
	printf("seed experiment: 200 status queries with 2 of 2 workers busy "
	       "on count n=1e11: p50 %.3f ms, p99 %.3f ms, max %.3f ms "
	       "(all in %lld ms)\n",
	       lat[100], lat[197], lat[199], (long long) took);
	/* a count of 1e11 runs for tens of seconds; a front blocked by the
	 * workers would answer in seconds. This checks that behaviour, not a
	 * speed: the 99th percentile must be far below that, and the two
	 * slowest may be anything a loaded machine does to a process (CI
	 * once saw one of 527 ms with p99 0.6 ms); jobd-bench measures the
	 * latency. Not under a wrapper such as valgrind, which runs one
	 * thread at a time: there the figures are only shown. */
	const char *wrap = getenv("JOBD_WRAPPER");
	if (wrap == NULL || *wrap == '\0')
		CHECK(lat[197] < 250.0);
	for (int i = 0; i < 2; i++) {
		Jobd__V1__CancelReply *cr;
		CHECK_EQ_INT(jobd_cancel(c, ids[i], &cr), JOBD_OK);
		if (cr)
			jobd__v1__cancel_reply__free_unpacked(cr, NULL);
	}
	jobd_client_close(c);
	CHECK(WIFEXITED(jd_kill(&d, SIGTERM)));
	jd_fini(&d);
}

static void
check_result(jobd_client *c, uint64_t id, int state, const char *result,
             const char *error)
{
	Jobd__V1__WaitReply *w = wait_job(c, id);
	REQUIRE(w != NULL && w->job != NULL);
	CHECK_EQ_INT(w->job->state, state);
	if (result != NULL) {
		CHECK_EQ_INT(w->job->result.len, strlen(result));
		CHECK(strlen(result) == 0 ||
		      memcmp(w->job->result.data, result, strlen(result)) == 0);
	}
	if (error != NULL)
		CHECK_EQ_STR(w->job->error, error);
	jobd__v1__wait_reply__free_unpacked(w, NULL);
}

static void
test_every_kind(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	REQUIRE(c != NULL);

	uint64_t count = SUBMIT(c, "count", "n=1000");
	uint64_t primes = SUBMIT(c, "primes", "limit=10000000");
	uint64_t sleep = SUBMIT(c, "sleep", "ms=20");
	uint64_t fail = SUBMIT(c, "fail", "message=on purpose");

	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitReply *rep;
	req.kind = "sha256";
	req.input.data = (uint8_t *) "abc";
	req.input.len = 3;
	REQUIRE(jobd_submit(c, &req, &rep) == JOBD_OK);
	uint64_t sha = rep->job->id;
	CHECK_EQ_INT(rep->job->input_size, 3);
	jobd__v1__submit_reply__free_unpacked(rep, NULL);

	check_result(c, count, JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED, "1000",
	             "");
	check_result(c, primes, JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED,
	             "664579", "");
	check_result(
	    c, sha, JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "");
	check_result(c, sleep, JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED, "",
	             "");
	check_result(c, fail, JOBD__V1__JOB_STATE__JOB_STATE_FAILED, NULL,
	             "on purpose");

	/* the result stays readable after the job left memory */
	uint64_t ids[2] = {primes, 999999};
	Jobd__V1__GetReply *g;
	REQUIRE(jobd_get(c, ids, 2, &g) == JOBD_OK);
	REQUIRE(g->n_jobs == 1);
	CHECK_EQ_INT(g->jobs[0]->result.len, 6);
	CHECK_EQ_INT(g->jobs[0]->progress_done, g->jobs[0]->progress_total);
	CHECK_EQ_INT(g->n_missing, 1);
	CHECK_EQ_INT(g->missing[0], 999999);
	jobd__v1__get_reply__free_unpacked(g, NULL);

	Jobd__V1__KindsReply *k;
	REQUIRE(jobd_kinds(c, &k) == JOBD_OK);
	CHECK_EQ_INT(k->n_kinds, 5);
	CHECK_EQ_STR(k->kinds[0]->name, "count");
	CHECK_EQ_STR(k->kinds[0]->params[0]->name, "n");
	jobd__v1__kinds_reply__free_unpacked(k, NULL);
	jd_down(&d, c);
}

static void
test_cancel(void)
{
	struct jd d;
	Jobd__V1__CancelReply *cr = NULL;
	jobd_client *c = jd_up(&d, fast);
	REQUIRE(c != NULL);

	uint64_t id = SUBMIT(c, "count", "n=100000000000");
	REQUIRE(await_state(c, id, JOBD__V1__JOB_STATE__JOB_STATE_RUNNING));
	int64_t t0 = h_now_ms();
	REQUIRE(jobd_cancel(c, id, &cr) == JOBD_OK);
	CHECK(h_now_ms() - t0 < 2000);
	CHECK_EQ_INT(cr->job->state, JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED);
	jobd__v1__cancel_reply__free_unpacked(cr, NULL);
	check_result(c, id, JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED, NULL,
	             "cancelled");
	/* again: still cancelled, OK */
	REQUIRE(jobd_cancel(c, id, &cr) == JOBD_OK);
	jobd__v1__cancel_reply__free_unpacked(cr, NULL);

	uint64_t done = SUBMIT(c, "count", "n=1");
	check_result(c, done, JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED, "1",
	             NULL);
	CHECK_EQ_INT(jobd_cancel(c, done, &cr), JOBD_FAILED_PRECONDITION);
	CHECK(strstr(jobd_client_errmsg(), "already succeeded") != NULL);
	CHECK_EQ_INT(jobd_cancel(c, 424242, &cr), JOBD_NOT_FOUND);
	jd_down(&d, c);
}

static void
test_timeout_and_retry(void)
{
	struct jd d;
	int code;
	jobd_client *c = jd_up(&d, fast);
	REQUIRE(c != NULL);

	uint64_t t = submitv(c, "count", NULL, 1, 200, &code, "n=100000000000",
	                     (const char *) NULL);
	REQUIRE(t != 0);
	Jobd__V1__WaitReply *w = wait_job(c, t);
	REQUIRE(w != NULL);
	CHECK_EQ_INT(w->job->state, JOBD__V1__JOB_STATE__JOB_STATE_FAILED);
	CHECK_EQ_STR(w->job->error, "timed out after 200 ms");
	jobd__v1__wait_reply__free_unpacked(w, NULL);

	uint64_t f = submitv(c, "fail", NULL, 3, 0, &code, "message=nope",
	                     (const char *) NULL);
	REQUIRE(f != 0);
	w = wait_job(c, f);
	REQUIRE(w != NULL);
	CHECK_EQ_INT(w->job->state, JOBD__V1__JOB_STATE__JOB_STATE_FAILED);
	CHECK_EQ_INT(w->job->attempts, 3);
	CHECK_EQ_INT(w->job->max_attempts, 3);
	CHECK_EQ_STR(w->job->error, "nope");
	jobd__v1__wait_reply__free_unpacked(w, NULL);

	Jobd__V1__StatsReply *st;
	REQUIRE(jobd_stats(c, &st) == JOBD_OK);
	CHECK_EQ_INT(st->retried, 2);
	CHECK_EQ_INT(st->failed, 2);
	jobd__v1__stats_reply__free_unpacked(st, NULL);

	/* Wait with a deadline on a job that outlives it */
	uint64_t s = SUBMIT(c, "sleep", "ms=3000");
	Jobd__V1__WaitReply *wr = NULL;
	int64_t t0 = h_now_ms();
	CHECK_EQ_INT(jobd_wait(c, s, 200, &wr), JOBD_DEADLINE_EXCEEDED);
	CHECK(h_now_ms() - t0 < 1500);
	jd_down(&d, c);
}

static void
test_idempotency(void)
{
	struct jd d;
	int code;
	jobd_client *c = jd_up(&d, fast);
	REQUIRE(c != NULL);

	uint64_t a = submitv(c, "sleep", "key-1", 1, 0, &code, "ms=100",
	                     (const char *) NULL);
	uint64_t b = submitv(c, "sleep", "key-1", 1, 0, &code, "ms=100",
	                     (const char *) NULL);
	REQUIRE(a != 0);
	CHECK_EQ_INT(a, b);
	check_result(c, a, JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED, NULL,
	             NULL);
	/* after it ended and left memory: still the same job */
	uint64_t e = submitv(c, "sleep", "key-1", 1, 0, &code, "ms=100",
	                     (const char *) NULL);
	CHECK_EQ_INT(a, e);
	uint64_t other = submitv(c, "sleep", "key-2", 1, 0, &code, "ms=1",
	                         (const char *) NULL);
	CHECK(other != 0 && other != a);
	/* a bad key */
	CHECK_EQ_INT(submitv(c, "sleep", "has space", 1, 0, &code, "ms=1",
	                     (const char *) NULL),
	             0);
	CHECK_EQ_INT(code, JOBD_INVALID_ARGUMENT);

	Jobd__V1__StatsReply *st;
	REQUIRE(jobd_stats(c, &st) == JOBD_OK);
	CHECK_EQ_INT(st->submitted, 2);
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	jd_down(&d, c);
}

/* kill -9 with jobs queued and running; restart; every acknowledged job is
 * there and finishes. */
static void
test_kill9_recovery(void)
{
	static const char *const one[] = {"--workers", "1", NULL};
	struct jd d;
	uint64_t ids[6];
	jobd_client *c = jd_up(&d, one);
	REQUIRE(c != NULL);
	/* about a second; under valgrind, about 50 times fewer */
	const char *wrap = getenv("JOBD_WRAPPER");
	ids[0] = SUBMIT(c, "count",
	                wrap != NULL && *wrap != '\0' ? "n=40000000"
	                                              : "n=2000000000");
	REQUIRE(await_state(c, ids[0], JOBD__V1__JOB_STATE__JOB_STATE_RUNNING));
	for (int i = 1; i < 6; i++)
		REQUIRE((ids[i] = SUBMIT(c, "sleep", "ms=10")) != 0);
	/* the job running when the daemon dies (the count, unless a slow
	 * machine already finished it) */
	int running = -1;
	for (int i = 0; i < 6; i++)
		if (state_of(c, ids[i]) ==
		    JOBD__V1__JOB_STATE__JOB_STATE_RUNNING)
			running = i;
	jobd_client_close(c);
	int st = jd_kill(&d, SIGKILL);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	REQUIRE(jd_start(&d, one) == 0);
	c = jd_connect(&d);
	REQUIRE(c != NULL);
	Jobd__V1__StatsReply *sr;
	REQUIRE(jobd_stats(c, &sr) == JOBD_OK);
	CHECK_EQ_INT(sr->recovered, running >= 0 ? 1 : 0);
	jobd__v1__stats_reply__free_unpacked(sr, NULL);
	for (int i = 0; i < 6; i++) {
		Jobd__V1__WaitReply *w = wait_job(c, ids[i]);
		REQUIRE(w != NULL);
		CHECK_EQ_INT(w->job->state,
		             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
		if (i == running) /* it ran twice: at least once */
			CHECK_EQ_INT(w->job->attempts, 2);
		jobd__v1__wait_reply__free_unpacked(w, NULL);
	}
	jd_down(&d, c);
}

/* SIGTERM: running jobs get the grace period, then go back to queued. */
static void
test_graceful_shutdown(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	REQUIRE(c != NULL);
	uint64_t id = SUBMIT(c, "count", "n=100000000000");
	REQUIRE(await_state(c, id, JOBD__V1__JOB_STATE__JOB_STATE_RUNNING));
	jobd_client_close(c);
	int64_t t0 = h_now_ms();
	int st = jd_kill(&d, SIGTERM);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(h_now_ms() - t0 < 5000);

	REQUIRE(jd_start(&d, fast) == 0);
	c = jd_connect(&d);
	REQUIRE(c != NULL);
	Jobd__V1__GetReply *g;
	REQUIRE(jobd_get(c, &id, 1, &g) == JOBD_OK);
	REQUIRE(g->n_jobs == 1);
	/* queued again (and maybe already running), the attempt not held
	 * against it */
	CHECK(g->jobs[0]->state == JOBD__V1__JOB_STATE__JOB_STATE_QUEUED ||
	      g->jobs[0]->state == JOBD__V1__JOB_STATE__JOB_STATE_RUNNING);
	CHECK(g->jobs[0]->attempts <= 1);
	jobd__v1__get_reply__free_unpacked(g, NULL);
	Jobd__V1__StatsReply *sr;
	REQUIRE(jobd_stats(c, &sr) == JOBD_OK);
	CHECK_EQ_INT(sr->recovered, 0); /* it was a clean stop */
	jobd__v1__stats_reply__free_unpacked(sr, NULL);
	jd_down(&d, c);
}

static void
test_bad_wire_input(void)
{
	struct jd d;
	int code;
	REQUIRE(jd_init(&d) == 0);
	REQUIRE(jd_start(&d, fast) == 0);

	static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
	CHECK_EQ_INT(jd_raw_code(d.url, junk, sizeof(junk)),
	             JOBD_INVALID_ARGUMENT);
	/* an empty message is an envelope with no method */
	CHECK_EQ_INT(jd_raw_code(d.url, "", 0), JOBD_UNIMPLEMENTED);
	/* a Ping body (field 1: bytes) where a Wait (field 1: varint) goes */
	static const uint8_t ping_body[] = {0x0a, 0x03, 'a', 'b', 'c'};
	CHECK_EQ_INT(jd_raw_method(d.url, "Wait", ping_body, sizeof(ping_body)),
	             JOBD_INVALID_ARGUMENT);
	/* (the size limit, an unknown method or kind: test_limits) */

	jobd_client *c = jd_connect(&d);
	REQUIRE(c != NULL);
	SUBMIT(c, "count", "n=-5");
	CHECK(strstr(jobd_client_errmsg(), "parameter 'n'") != NULL);
	submitv(c, "count", NULL, 0, 0, &code, "bogus=1", (const char *) NULL);
	CHECK_EQ_INT(code, JOBD_INVALID_ARGUMENT);
	CHECK(strstr(jobd_client_errmsg(), "'bogus'") != NULL);
	submitv(c, "count", NULL, 0, 0, &code, (const char *) NULL);
	CHECK_EQ_INT(code, JOBD_INVALID_ARGUMENT);

	/* and it still serves */
	Jobd__V1__PingReply *p;
	CHECK_EQ_INT(jobd_ping(c, &p), JOBD_OK);
	if (p)
		jobd__v1__ping_reply__free_unpacked(p, NULL);
	uint64_t id = SUBMIT(c, "count", "n=10");
	check_result(c, id, JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED, "10",
	             NULL);
	jd_down(&d, c);
}

static void
test_list_paging(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	REQUIRE(c != NULL);
	uint64_t last = 0;
	for (int i = 0; i < 25; i++)
		REQUIRE((last = SUBMIT(c, i % 5 ? "count" : "sleep",
		                       i % 5 ? "n=1" : "ms=1")) != 0);
	check_result(c, last, JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED, NULL,
	             NULL);
	usleep(100000);

	Jobd__V1__ListRequest req = JOBD__V1__LIST_REQUEST__INIT;
	uint64_t prev = UINT64_MAX;
	int seen = 0, pages = 0;
	req.limit = 10;
	do {
		Jobd__V1__ListReply *rep;
		int rv = jobd_list(c, &req, &rep);
		if (rv != JOBD_OK)
			fprintf(stderr, "list: %s\n", jobd_client_errmsg());
		REQUIRE(rv == JOBD_OK);
		for (size_t i = 0; i < rep->n_jobs; i++) {
			CHECK(rep->jobs[i]->id < prev); /* newest first */
			prev = rep->jobs[i]->id;
			seen++;
		}
		req.cursor = rep->next_cursor;
		jobd__v1__list_reply__free_unpacked(rep, NULL);
		pages++;
	} while (req.cursor != 0 && pages < 10);
	CHECK_EQ_INT(seen, 25);
	CHECK_EQ_INT(pages, 3);

	Jobd__V1__ListReply *rep;
	req.cursor = 0;
	req.limit = 100;
	req.kind = "sleep";
	REQUIRE(jobd_list(c, &req, &rep) == JOBD_OK);
	CHECK_EQ_INT(rep->n_jobs, 5);
	jobd__v1__list_reply__free_unpacked(rep, NULL);
	req.kind = "";
	req.state = JOBD__V1__JOB_STATE__JOB_STATE_FAILED;
	REQUIRE(jobd_list(c, &req, &rep) == JOBD_OK);
	CHECK_EQ_INT(rep->n_jobs, 0);
	jobd__v1__list_reply__free_unpacked(rep, NULL);
	req.state = 0;
	req.limit = 100000;
	CHECK_EQ_INT(jobd_list(c, &req, &rep), JOBD_INVALID_ARGUMENT);
	jd_down(&d, c);
}

struct burst {
	jobd_client *c;
	int n;
	uint64_t ids[50];
	int ok;
};

static void *
burst_main(void *arg)
{
	struct burst *b = arg;
	for (int i = 0; i < b->n; i++) {
		b->ids[i] = SUBMIT(b->c, "count", "n=1000");
		if (b->ids[i] != 0)
			b->ok++;
	}
	return NULL;
}

/* Many clients submitting at once: every one acknowledged, distinct ids,
 * every job succeeds (the group-commit path). */
static void
test_concurrent_submits(void)
{
	struct jd d;
	struct burst b[8];
	pthread_t t[8];
	jobd_client *c = jd_up(&d, fast);
	REQUIRE(c != NULL);
	for (int i = 0; i < 8; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		b[i].c = c; /* one client shared by threads */
		b[i].n = 50;
		pthread_create(&t[i], NULL, burst_main, &b[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	int ok = 0;
	for (int i = 0; i < 8; i++)
		ok += b[i].ok;
	CHECK_EQ_INT(ok, 400);
	for (int i = 0; i < 8; i++)
		for (int k = 0; k < b[i].n; k++)
			check_result(c, b[i].ids[k],
			             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED,
			             "1000", NULL);
	Jobd__V1__StatsReply *st;
	REQUIRE(jobd_stats(c, &st) == JOBD_OK);
	CHECK_EQ_INT(st->submitted, 400);
	CHECK_EQ_INT(st->succeeded, 400);
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	jd_down(&d, c);
}

/* Many Waits parked on one job hold no thread and no receiver: the daemon
 * keeps answering, and every Wait is answered when the job ends. */
static void
test_many_parked_waits(void)
{
	enum { N = 300 };
	struct jd d;
	nng_socket s;
	nng_ctx ctx[N];
	nng_aio *aio[N];
	jobd_client *c = jd_up(&d, fast);
	REQUIRE(c != NULL);
	uint64_t id = SUBMIT(c, "count", "n=100000000000");
	REQUIRE(await_state(c, id, JOBD__V1__JOB_STATE__JOB_STATE_RUNNING));

	Jobd__V1__WaitRequest w = JOBD__V1__WAIT_REQUEST__INIT;
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	uint8_t body[32], buf[128];
	w.id = id;
	req.method = "Wait";
	req.deadline_ms = 60000;
	req.body.data = body;
	req.body.len = jobd__v1__wait_request__pack(&w, body);
	size_t len = jobd__v1__request__pack(&req, buf);

	REQUIRE(nng_req0_open(&s) == 0);
	REQUIRE(nng_dial(s, d.url, NULL, 0) == 0);
	for (int i = 0; i < N; i++) {
		nng_msg *m;
		REQUIRE(nng_ctx_open(&ctx[i], s) == 0);
		REQUIRE(nng_aio_alloc(&aio[i], NULL, NULL) == 0);
		nng_aio_set_timeout(aio[i], 20000);
		REQUIRE(nng_msg_alloc(&m, 0) == 0);
		nng_msg_append(m, buf, len);
		nng_aio_set_msg(aio[i], m);
		nng_ctx_send(ctx[i], aio[i]);
	}
	for (int i = 0; i < N; i++) {
		nng_aio_wait(aio[i]);
		CHECK_EQ_INT(nng_aio_result(aio[i]), 0);
		nng_ctx_recv(ctx[i], aio[i]); /* the reply, later */
	}
	usleep(200000); /* let them all park */

	/* quick queries still answered at once */
	for (int i = 0; i < 20; i++) {
		Jobd__V1__PingReply *p;
		double t0 = h_now_us();
		CHECK_EQ_INT(jobd_ping(c, &p), JOBD_OK);
		if (p != NULL)
			jobd__v1__ping_reply__free_unpacked(p, NULL);
		CHECK(h_now_us() - t0 < 250000.0);
	}
	Jobd__V1__CancelReply *cr;
	REQUIRE(jobd_cancel(c, id, &cr) == JOBD_OK);
	jobd__v1__cancel_reply__free_unpacked(cr, NULL);

	int answered = 0;
	for (int i = 0; i < N; i++) {
		nng_aio_wait(aio[i]);
		if (nng_aio_result(aio[i]) == 0) {
			nng_msg *m = nng_aio_get_msg(aio[i]);
			Jobd__V1__Response *r = jobd__v1__response__unpack(
			    NULL, nng_msg_len(m), nng_msg_body(m));
			Jobd__V1__WaitReply *wr =
			    r ? jobd__v1__wait_reply__unpack(NULL, r->body.len,
			                                     r->body.data)
			      : NULL;
			if (r != NULL && (int) r->code == JOBD_OK &&
			    wr != NULL && wr->job != NULL &&
			    wr->job->state ==
			        JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED)
				answered++;
			if (wr != NULL)
				jobd__v1__wait_reply__free_unpacked(wr, NULL);
			if (r != NULL)
				jobd__v1__response__free_unpacked(r, NULL);
			nng_msg_free(m);
		}
		nng_aio_free(aio[i]);
		nng_ctx_close(ctx[i]);
	}
	CHECK_EQ_INT(answered, N);
	nng_close(s);
	jd_down(&d, c);
}

/* Finished jobs past --retention are purged (the first purge runs 2 s
 * after start); live ones are kept. */
static void
test_retention(void)
{
	static const char *const args[] = {"--retention", "1ms", NULL};
	struct jd d;
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	uint64_t done = SUBMIT(c, "count", "n=1");
	check_result(c, done, JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED, "1",
	             NULL);
	uint64_t live = SUBMIT(c, "sleep", "ms=60000");
	REQUIRE(live != 0);
	int gone = 0;
	for (int i = 0; i < 100 && !gone; i++) {
		usleep(100000);
		gone = state_of(c, done) == 0;
	}
	CHECK(gone);
	CHECK_EQ_INT(state_of(c, live), JOBD__V1__JOB_STATE__JOB_STATE_RUNNING);
	Jobd__V1__StatsReply *st;
	REQUIRE(jobd_stats(c, &st) == JOBD_OK);
	CHECK_EQ_INT(st->succeeded, 0);
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	jd_down(&d, c);
}

/* Submits n count jobs (n=1) in one SubmitBatch, keys[i] as idempotency
 * keys (NULL: none), kind "nope" where bad == i. The reply's ids go to
 * ids[] and its existing flags to existing[] (if given). */
static int
batch(jobd_client *c, size_t n, const char *const *keys, size_t bad,
      uint64_t *ids, bool *existing)
{
	Jobd__V1__SubmitBatchRequest req = JOBD__V1__SUBMIT_BATCH_REQUEST__INIT;
	Jobd__V1__SubmitRequest *subs = calloc(n + 1, sizeof(*subs));
	Jobd__V1__SubmitRequest **ptrs = calloc(n + 1, sizeof(*ptrs));
	Jobd__V1__SubmitRequest__ParamsEntry ent =
	    JOBD__V1__SUBMIT_REQUEST__PARAMS_ENTRY__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry *ents[] = {&ent};
	Jobd__V1__SubmitBatchReply *rep = NULL;

	ent.key = "n";
	ent.value = "1";
	for (size_t i = 0; i < n; i++) {
		jobd__v1__submit_request__init(&subs[i]);
		subs[i].kind = i == bad ? "nope" : "count";
		subs[i].n_params = 1;
		subs[i].params = ents;
		subs[i].idempotency_key =
		    (char *) (keys != NULL && keys[i] ? keys[i] : "");
		ptrs[i] = &subs[i];
	}
	req.n_jobs = n;
	req.jobs = ptrs;
	int rv = jobd_submit_batch(c, &req, &rep);
	if (rv == JOBD_OK) {
		CHECK_EQ_INT(rep->n_jobs, n);
		for (size_t i = 0; i < rep->n_jobs && i < n; i++) {
			ids[i] = rep->jobs[i]->job->id;
			CHECK_EQ_STR(rep->jobs[i]->job->kind, "count");
			if (existing != NULL)
				existing[i] = rep->jobs[i]->existing;
		}
		jobd__v1__submit_batch_reply__free_unpacked(rep, NULL);
	}
	free(subs);
	free(ptrs);
	return rv;
}

static uint64_t
queued(jobd_client *c)
{
	Jobd__V1__StatsReply *st;
	if (jobd_stats(c, &st) != JOBD_OK)
		return UINT64_MAX;
	uint64_t n = st->queued;
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	return n;
}

/* SubmitBatch: all or none, keys as in Submit, on disk when answered.
 * --workers 0 keeps every job queued. */
static void
test_submit_batch(void)
{
	static const char *const args[] = {"--workers", "0", "--max-queue", "6",
	                                   NULL};
	static const char *const ka[] = {"key-a", "key-a", NULL};
	static const char *const kb[] = {NULL, "key-a", NULL};
	uint64_t ids[8] = {0}, more[8] = {0};
	bool ex[8] = {false};
	struct jd d;

	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	REQUIRE(batch(c, 3, NULL, SIZE_MAX, ids, ex) == JOBD_OK);
	CHECK(ids[0] != 0 && ids[1] == ids[0] + 1 && ids[2] == ids[1] + 1);
	CHECK(!ex[0] && !ex[1] && !ex[2]);
	CHECK_EQ_INT(queued(c), 3);

	/* a bad job refuses the whole batch */
	CHECK_EQ_INT(batch(c, 3, NULL, 1, more, NULL), JOBD_INVALID_ARGUMENT);
	CHECK(strstr(jobd_client_errmsg(), "jobs[1]: unknown kind") != NULL);
	/* no room for all: none is taken */
	CHECK_EQ_INT(batch(c, 4, NULL, SIZE_MAX, more, NULL),
	             JOBD_RESOURCE_EXHAUSTED);
	CHECK_EQ_INT(batch(c, 0, NULL, SIZE_MAX, more, NULL),
	             JOBD_INVALID_ARGUMENT);
	CHECK_EQ_INT(batch(c, 1001, NULL, SIZE_MAX, more, NULL),
	             JOBD_INVALID_ARGUMENT);
	CHECK_EQ_INT(queued(c), 3);

	/* a key twice in one batch: one job; then again, before others */
	REQUIRE(batch(c, 2, ka, SIZE_MAX, more, ex) == JOBD_OK);
	CHECK(more[0] == ids[2] + 1 && more[1] == more[0]);
	CHECK(!ex[0] && ex[1]);
	REQUIRE(batch(c, 3, kb, SIZE_MAX, &more[2], ex) == JOBD_OK);
	CHECK(more[3] == more[0] && !ex[0] && ex[1] && !ex[2]);
	CHECK_EQ_INT(queued(c), 6);
	/* the queue is full now, but a batch of known keys takes no room */
	REQUIRE(batch(c, 1, &ka[1], SIZE_MAX, &more[5], ex) == JOBD_OK);
	CHECK(more[5] == more[0] && ex[0]);

	/* acknowledged means on disk: all there after kill -9, queued */
	jobd_client_close(c);
	int st = jd_kill(&d, SIGKILL);
	CHECK(WIFSIGNALED(st));
	REQUIRE(jd_start(&d, args) == 0);
	c = jd_connect(&d);
	REQUIRE(c != NULL);
	CHECK_EQ_INT(queued(c), 6);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(state_of(c, ids[i]),
		             JOBD__V1__JOB_STATE__JOB_STATE_QUEUED);
	Jobd__V1__StatsReply *sr;
	REQUIRE(jobd_stats(c, &sr) == JOBD_OK);
	CHECK_EQ_INT(sr->workers, 0);
	CHECK_EQ_INT(sr->busy_workers, 0);
	jobd__v1__stats_reply__free_unpacked(sr, NULL);
	jd_down(&d, c);
}

/* Stats.commits, or UINT64_MAX if it cannot be read. */
static uint64_t
commits_of(jobd_client *c)
{
	Jobd__V1__StatsReply *sr;
	if (jobd_stats(c, &sr) != JOBD_OK)
		return UINT64_MAX;
	uint64_t n = sr->commits;
	jobd__v1__stats_reply__free_unpacked(sr, NULL);
	return n;
}

/*
 * --commit-hold: the end of a job nobody waits for is held (Get shows it
 * from memory, it is not committed), a Wait that comes meanwhile has it
 * committed at once (answered well inside a deadline shorter than the
 * hold), and a graceful stop commits what is held.
 */
static void
test_commit_hold(void)
{
	static const char *const hold[] = {"--commit-hold", "1s", NULL};
	struct jd d;
	TEST_SKIP_IF(jd_pg(), "--commit-hold holds ends in the SQLite writer; "
	                      "the PostgreSQL back end commits every end in "
	                      "its next group commit, and holds none");
	jobd_client *c = jd_up(&d, hold);
	REQUIRE(c != NULL);

	uint64_t id = SUBMIT(c, "count", "n=1");
	REQUIRE(id != 0);
	uint64_t c0 = commits_of(c);
	REQUIRE(await_state(c, id, JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED));
	/* the Wait's deadline is half the hold: only a hurried commit
	 * answers it with the job */
	Jobd__V1__WaitReply *w = NULL;
	CHECK_EQ_INT(jobd_wait(c, id, 500, &w), JOBD_OK);
	if (w != NULL) {
		CHECK_EQ_INT(w->job->state,
		             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
		jobd__v1__wait_reply__free_unpacked(w, NULL);
	}
	CHECK(commits_of(c) > c0);

	/* ended, held, then a graceful stop: on disk after the restart */
	uint64_t id2 = SUBMIT(c, "count", "n=1");
	REQUIRE(await_state(c, id2, JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED));
	jobd_client_close(c);
	int st = jd_kill(&d, SIGTERM);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	REQUIRE(jd_start(&d, hold) == 0);
	c = jd_connect(&d);
	REQUIRE(c != NULL);
	Jobd__V1__GetReply *g;
	REQUIRE(jobd_get(c, &id2, 1, &g) == JOBD_OK);
	REQUIRE(g->n_jobs == 1);
	CHECK_EQ_INT(g->jobs[0]->state,
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	CHECK_EQ_INT(g->jobs[0]->attempts, 1); /* not run again */
	jobd__v1__get_reply__free_unpacked(g, NULL);
	jd_down(&d, c);
}

TEST_MAIN({"seed_experiment", test_seed_experiment},
          {"commit_hold", test_commit_hold}, {"every_kind", test_every_kind},
          {"cancel", test_cancel},
          {"timeout_and_retry", test_timeout_and_retry},
          {"idempotency", test_idempotency},
          {"kill9_recovery", test_kill9_recovery},
          {"graceful_shutdown", test_graceful_shutdown},
          {"bad_wire_input", test_bad_wire_input},
          {"list_paging", test_list_paging},
          {"concurrent_submits", test_concurrent_submits},
          {"many_parked_waits", test_many_parked_waits},
          {"retention", test_retention}, {"submit_batch", test_submit_batch})

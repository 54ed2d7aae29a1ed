/*
 * Integration tests of what users expect of a job queue: delayed jobs
 * (run_at, delay, the scheduled state, a retry's backoff), dependencies
 * (after), pause and resume of a kind, rerun of failed jobs (Retry) with
 * their history, unique keys, and each one's errors; each durable across
 * a SIGKILL. The real jobd, through the C client library.
 *
 * Times are checked with generous bounds: a delayed job must not start
 * before its time, and must start within seconds of it.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "harness.h"
#include "test.h"

static const char *const fast[] = {"--workers", "2", "--backoff", "1s", NULL};

static int64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A Submit's options beyond kind and params. */
struct opts {
	int64_t run_at_ms;
	uint64_t delay_ms;
	const uint64_t *after;
	size_t nafter;
	const char *unique;
	uint32_t attempts;
};

/* Submits kind with one param "name=value" (or none); the reply job (the
 * caller frees the reply) or NULL, the code in *code. */
static Jobd__V1__SubmitReply *
submit(jobd_client *c, const char *kind, const char *param,
       const struct opts *o, int *code)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry ent, *ptr = &ent;
	Jobd__V1__SubmitReply *rep = NULL;
	char buf[128];

	req.kind = (char *) kind;
	if (param != NULL) {
		jobd__v1__submit_request__params_entry__init(&ent);
		snprintf(buf, sizeof(buf), "%s", param);
		char *eq = strchr(buf, '=');
		*eq = '\0';
		ent.key = buf;
		ent.value = eq + 1;
		req.n_params = 1;
		req.params = &ptr;
	}
	if (o != NULL) {
		req.run_at_ms = o->run_at_ms;
		req.delay_ms = o->delay_ms;
		req.after = (uint64_t *) o->after;
		req.n_after = o->nafter;
		req.unique_key = (char *) (o->unique ? o->unique : "");
		req.max_attempts = o->attempts;
	}
	*code = jobd_submit(c, &req, &rep);
	return *code == JOBD_OK ? rep : NULL;
}

/* The id of a job submitted with o, which must be accepted. */
static uint64_t
submit_ok(jobd_client *c, const char *kind, const char *param,
          const struct opts *o)
{
	int code;
	Jobd__V1__SubmitReply *rep = submit(c, kind, param, o, &code);
	if (rep == NULL)
		fprintf(stderr, "submit %s: %s\n", kind, jobd_client_errmsg());
	REQUIRE(rep != NULL);
	uint64_t id = rep->job->id;
	jobd__v1__submit_reply__free_unpacked(rep, NULL);
	return id;
}

/* The code of a Submit that must be refused; its message must hold
 * `msg`. */
static void
submit_refused(jobd_client *c, const char *kind, const struct opts *o, int want,
               const char *msg)
{
	int code;
	Jobd__V1__SubmitReply *rep = submit(c, kind, "ms=1", o, &code);
	CHECK_EQ_INT(code, want);
	if (rep != NULL)
		jobd__v1__submit_reply__free_unpacked(rep, NULL);
	if (strstr(jobd_client_errmsg(), msg) == NULL)
		fprintf(stderr, "message: %s (want %s)\n", jobd_client_errmsg(),
		        msg);
	CHECK(strstr(jobd_client_errmsg(), msg) != NULL);
}

/* Job id now (the caller frees with jobd__v1__get_reply__free_unpacked:
 * the reply is returned through *hold). */
static Jobd__V1__Job *
get(jobd_client *c, uint64_t id, Jobd__V1__GetReply **hold)
{
	REQUIRE(jobd_get(c, &id, 1, hold) == JOBD_OK);
	REQUIRE((*hold)->n_jobs == 1);
	return (*hold)->jobs[0];
}

/* Waits (up to 20 s) for job id to end; its state. */
static int
wait_end(jobd_client *c, uint64_t id, Jobd__V1__WaitReply **hold)
{
	int rv = jobd_wait(c, id, 60000, hold);
	if (rv != JOBD_OK)
		fprintf(stderr, "wait %llu: %s\n", (unsigned long long) id,
		        jobd_client_errmsg());
	REQUIRE(rv == JOBD_OK);
	return (*hold)->job->state;
}

/* Polls (up to ms) until job id is in `state`; true if it got there. */
static bool
until_state(jobd_client *c, uint64_t id, int state, int ms)
{
	for (int i = 0; i < ms / 20; i++) {
		if (state_of(c, id) == state)
			return true;
		usleep(20000);
	}
	return state_of(c, id) == state;
}

static int
call(jobd_client *c, const char *method, const ProtobufCMessage *req,
     const ProtobufCMessageDescriptor *desc, ProtobufCMessage **rep)
{
	*rep = NULL;
	return jobd_call(c, method, req, desc, rep, 10000);
}

/* Pause (or Resume) kind: the code, *changed. */
static int
pause_kind(jobd_client *c, const char *kind, bool pause, bool *changed)
{
	ProtobufCMessage *rep;
	int rv;

	if (pause) {
		Jobd__V1__PauseRequest req = JOBD__V1__PAUSE_REQUEST__INIT;
		req.kind = (char *) kind;
		rv = call(c, "Pause", &req.base,
		          &jobd__v1__pause_reply__descriptor, &rep);
		if (rv == JOBD_OK)
			*changed = ((Jobd__V1__PauseReply *) rep)->changed;
	} else {
		Jobd__V1__ResumeRequest req = JOBD__V1__RESUME_REQUEST__INIT;
		req.kind = (char *) kind;
		rv = call(c, "Resume", &req.base,
		          &jobd__v1__resume_reply__descriptor, &rep);
		if (rv == JOBD_OK)
			*changed = ((Jobd__V1__ResumeReply *) rep)->changed;
	}
	if (rep != NULL)
		protobuf_c_message_free_unpacked(rep, NULL);
	return rv;
}

/* Retry of job id: the code; the job in *out (freed by the caller via
 * *hold) when OK. */
static int
retry(jobd_client *c, uint64_t id, Jobd__V1__RetryReply **hold)
{
	Jobd__V1__RetryRequest req = JOBD__V1__RETRY_REQUEST__INIT;
	req.id = id;
	return call(c, "Retry", &req.base, &jobd__v1__retry_reply__descriptor,
	            (ProtobufCMessage **) hold);
}

static Jobd__V1__StatsReply *
stats(jobd_client *c)
{
	Jobd__V1__StatsReply *st = NULL;
	REQUIRE(jobd_stats(c, &st) == JOBD_OK);
	return st;
}

static bool
listed(jobd_client *c, int state, uint64_t id, const char *error)
{
	Jobd__V1__ListRequest req = JOBD__V1__LIST_REQUEST__INIT;
	Jobd__V1__ListReply *rep = NULL;
	bool found = false;

	req.state = (Jobd__V1__JobState) state;
	REQUIRE(jobd_list(c, &req, &rep) == JOBD_OK);
	for (size_t i = 0; i < rep->n_jobs; i++)
		if (rep->jobs[i]->id == id &&
		    (error == NULL || strstr(rep->jobs[i]->error, error)))
			found = true;
	jobd__v1__list_reply__free_unpacked(rep, NULL);
	return found;
}

/* ---- delayed jobs ----------------------------------------------------- */

static void
test_delayed(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	Jobd__V1__GetReply *g;
	Jobd__V1__WaitReply *w;
	REQUIRE(c != NULL);

	int64_t t0 = wall_ms();
	struct opts o = {.delay_ms = 1500};
	int code;
	Jobd__V1__SubmitReply *rep = submit(c, "sleep", "ms=1", &o, &code);
	REQUIRE(rep != NULL);
	uint64_t id = rep->job->id;
	CHECK_EQ_INT(rep->job->state, JOBD__V1__JOB_STATE__JOB_STATE_SCHEDULED);
	int64_t run_at = rep->job->run_at_ms;
	CHECK(run_at >= t0 + 1500 && run_at <= wall_ms() + 1500);
	jobd__v1__submit_reply__free_unpacked(rep, NULL);

	Jobd__V1__Job *j = get(c, id, &g);
	CHECK_EQ_INT(j->state, JOBD__V1__JOB_STATE__JOB_STATE_SCHEDULED);
	CHECK(j->run_at_ms == run_at);
	jobd__v1__get_reply__free_unpacked(g, NULL);
	Jobd__V1__StatsReply *st = stats(c);
	CHECK_EQ_INT(st->scheduled, 1);
	CHECK_EQ_INT(st->queued, 0);
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	CHECK(listed(c, JOBD__V1__JOB_STATE__JOB_STATE_SCHEDULED, id, NULL));
	CHECK(!listed(c, JOBD__V1__JOB_STATE__JOB_STATE_QUEUED, id, NULL));

	/* it starts at its time, not before, and within seconds of it */
	CHECK_EQ_INT(wait_end(c, id, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	CHECK(w->job->started_at_ms >= run_at);
	CHECK(w->job->started_at_ms < run_at + 5000);
	jobd__v1__wait_reply__free_unpacked(w, NULL);

	/* run_at: a time ahead is scheduled; one past runs now */
	o = (struct opts){.run_at_ms = wall_ms() + 60000};
	uint64_t later = submit_ok(c, "sleep", "ms=1", &o);
	CHECK_EQ_INT(state_of(c, later),
	             JOBD__V1__JOB_STATE__JOB_STATE_SCHEDULED);
	o = (struct opts){.run_at_ms = wall_ms() - 60000};
	uint64_t past = submit_ok(c, "sleep", "ms=1", &o);
	CHECK_EQ_INT(wait_end(c, past, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	jobd__v1__wait_reply__free_unpacked(w, NULL);

	/* a scheduled job is cancelled at once */
	Jobd__V1__CancelReply *cr = NULL;
	CHECK_EQ_INT(jobd_cancel(c, later, &cr), JOBD_OK);
	if (cr != NULL) {
		CHECK_EQ_INT(cr->job->state,
		             JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED);
		jobd__v1__cancel_reply__free_unpacked(cr, NULL);
	}
	jd_down(&d, c);
}

static void
test_delayed_errors(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	REQUIRE(c != NULL);

	struct opts o = {.run_at_ms = wall_ms() + 1000, .delay_ms = 1000};
	submit_refused(c, "sleep", &o, JOBD_INVALID_ARGUMENT,
	               "give run_at_ms or delay_ms, not both");
	o = (struct opts){.run_at_ms = -5};
	submit_refused(c, "sleep", &o, JOBD_INVALID_ARGUMENT,
	               "run_at_ms must be a Unix time");
	o = (struct opts){.run_at_ms = wall_ms() + 11LL * 366 * 86400 * 1000};
	submit_refused(c, "sleep", &o, JOBD_INVALID_ARGUMENT,
	               "at most 10 years ahead");
	o = (struct opts){.delay_ms = 11ULL * 366 * 86400 * 1000};
	submit_refused(c, "sleep", &o, JOBD_INVALID_ARGUMENT,
	               "at most 10 years ahead");
	jd_down(&d, c);
}

/* A failed attempt waiting out its backoff is scheduled, with the time
 * of the next attempt. */
static void
test_backoff_scheduled(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	Jobd__V1__GetReply *g;
	REQUIRE(c != NULL);

	struct opts o = {.attempts = 2};
	uint64_t id = submit_ok(c, "fail", "message=boom", &o);
	CHECK(
	    until_state(c, id, JOBD__V1__JOB_STATE__JOB_STATE_SCHEDULED, 5000));
	Jobd__V1__Job *j = get(c, id, &g);
	CHECK_EQ_INT(j->attempts, 1);
	CHECK(j->run_at_ms > j->finished_at_ms || j->run_at_ms > 0);
	CHECK_EQ_STR(j->error, "boom");
	jobd__v1__get_reply__free_unpacked(g, NULL);
	CHECK(until_state(c, id, JOBD__V1__JOB_STATE__JOB_STATE_FAILED, 10000));
	jd_down(&d, c);
}

/* ---- dependencies ----------------------------------------------------- */

static void
test_after(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	Jobd__V1__GetReply *g;
	Jobd__V1__WaitReply *w;
	REQUIRE(c != NULL);

	uint64_t a = submit_ok(c, "sleep", "ms=400", NULL);
	struct opts o = {.after = &a, .nafter = 1};
	uint64_t b = submit_ok(c, "sleep", "ms=1", &o);
	uint64_t ab[2] = {a, b};
	o = (struct opts){.after = ab, .nafter = 2};
	uint64_t cc = submit_ok(c, "sleep", "ms=1", &o);

	Jobd__V1__Job *j = get(c, b, &g);
	CHECK_EQ_INT(j->state, JOBD__V1__JOB_STATE__JOB_STATE_QUEUED);
	CHECK(j->n_after == 1 && j->after[0] == a);
	char want[64];
	snprintf(want, sizeof(want), "after job %llu", (unsigned long long) a);
	CHECK_EQ_STR(j->waiting, want);
	jobd__v1__get_reply__free_unpacked(g, NULL);

	CHECK_EQ_INT(wait_end(c, cc, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	int64_t c_start = w->job->started_at_ms;
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	CHECK_EQ_INT(wait_end(c, b, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	int64_t b_end = w->job->finished_at_ms, b_start = w->job->started_at_ms;
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	CHECK_EQ_INT(wait_end(c, a, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	CHECK(b_start >= w->job->finished_at_ms);
	CHECK(c_start >= b_end);
	jobd__v1__wait_reply__free_unpacked(w, NULL);

	/* after a job that has succeeded: runs now */
	o = (struct opts){.after = &a, .nafter = 1};
	uint64_t e = submit_ok(c, "sleep", "ms=1", &o);
	CHECK_EQ_INT(wait_end(c, e, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	jd_down(&d, c);
}

/* A job that fails cancels those after it, and theirs in turn. */
static void
test_after_failed(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	Jobd__V1__WaitReply *w;
	REQUIRE(c != NULL);

	struct opts o = {.delay_ms = 300};
	uint64_t a = submit_ok(c, "fail", "message=no", &o);
	o = (struct opts){.after = &a, .nafter = 1};
	uint64_t b = submit_ok(c, "sleep", "ms=1", &o);
	o = (struct opts){.after = &b, .nafter = 1};
	uint64_t cc = submit_ok(c, "sleep", "ms=1", &o);
	char want[64];

	CHECK_EQ_INT(wait_end(c, cc, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED);
	snprintf(want, sizeof(want), "job %llu was cancelled",
	         (unsigned long long) b);
	CHECK_EQ_STR(w->job->error, want);
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	CHECK_EQ_INT(wait_end(c, b, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED);
	snprintf(want, sizeof(want), "job %llu failed", (unsigned long long) a);
	CHECK_EQ_STR(w->job->error, want);
	jobd__v1__wait_reply__free_unpacked(w, NULL);

	/* after a job that failed, or was cancelled: refused */
	o = (struct opts){.after = &a, .nafter = 1};
	snprintf(want, sizeof(want), "after: job %llu failed",
	         (unsigned long long) a);
	submit_refused(c, "sleep", &o, JOBD_FAILED_PRECONDITION, want);
	o = (struct opts){.after = &b, .nafter = 1};
	snprintf(want, sizeof(want), "after: job %llu was cancelled",
	         (unsigned long long) b);
	submit_refused(c, "sleep", &o, JOBD_FAILED_PRECONDITION, want);

	/* Retry of the failed one; then of the one after it, which waits
	 * for it again and runs */
	Jobd__V1__RetryReply *rr = NULL;
	CHECK_EQ_INT(retry(c, b, &rr), JOBD_FAILED_PRECONDITION);
	CHECK(strstr(jobd_client_errmsg(), "failed") != NULL);
	jd_down(&d, c);
}

static void
test_after_errors(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	REQUIRE(c != NULL);

	uint64_t a = submit_ok(c, "sleep", "ms=1", NULL);
	/* a cycle would need a job that does not exist yet */
	uint64_t next = a + 1;
	struct opts o = {.after = &next, .nafter = 1};
	char want[64];
	snprintf(want, sizeof(want), "after: no job %llu",
	         (unsigned long long) next);
	submit_refused(c, "sleep", &o, JOBD_NOT_FOUND, want);
	uint64_t zero = 0;
	o = (struct opts){.after = &zero, .nafter = 1};
	submit_refused(c, "sleep", &o, JOBD_INVALID_ARGUMENT,
	               "after: no job 0");
	uint64_t many[65];
	for (int i = 0; i < 65; i++)
		many[i] = a;
	o = (struct opts){.after = many, .nafter = 65};
	submit_refused(c, "sleep", &o, JOBD_INVALID_ARGUMENT, "after");
	jd_down(&d, c);
}

/* ---- pause and resume ------------------------------------------------- */

static void
test_pause(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	Jobd__V1__GetReply *g;
	Jobd__V1__WaitReply *w;
	bool changed = false;
	REQUIRE(c != NULL);

	CHECK_EQ_INT(pause_kind(c, "sleep", true, &changed), JOBD_OK);
	CHECK(changed);
	CHECK_EQ_INT(pause_kind(c, "sleep", true, &changed), JOBD_OK);
	CHECK(!changed);
	uint64_t id = submit_ok(c, "sleep", "ms=1", NULL);
	uint64_t other = submit_ok(c, "count", "n=10", NULL);
	CHECK_EQ_INT(wait_end(c, other, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	usleep(300 * 1000);
	Jobd__V1__Job *j = get(c, id, &g);
	CHECK_EQ_INT(j->state, JOBD__V1__JOB_STATE__JOB_STATE_QUEUED);
	CHECK(strstr(j->waiting, "paused") != NULL);
	jobd__v1__get_reply__free_unpacked(g, NULL);
	Jobd__V1__StatsReply *st = stats(c);
	CHECK(st->n_paused_kinds == 1 &&
	      strcmp(st->paused_kinds[0], "sleep") == 0);
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	Jobd__V1__KindsReply *k = NULL;
	REQUIRE(jobd_kinds(c, &k) == JOBD_OK);
	for (size_t i = 0; i < k->n_kinds; i++)
		CHECK(k->kinds[i]->paused ==
		      (strcmp(k->kinds[i]->name, "sleep") == 0));
	jobd__v1__kinds_reply__free_unpacked(k, NULL);

	/* the pause survives a SIGKILL */
	jobd_client_close(c);
	jd_kill(&d, SIGKILL);
	REQUIRE(jd_start(&d, fast) == 0);
	REQUIRE((c = jd_connect(&d)) != NULL);
	usleep(300 * 1000);
	CHECK_EQ_INT(state_of(c, id), JOBD__V1__JOB_STATE__JOB_STATE_QUEUED);
	st = stats(c);
	CHECK_EQ_INT(st->n_paused_kinds, 1);
	jobd__v1__stats_reply__free_unpacked(st, NULL);

	CHECK_EQ_INT(pause_kind(c, "sleep", false, &changed), JOBD_OK);
	CHECK(changed);
	CHECK_EQ_INT(pause_kind(c, "sleep", false, &changed), JOBD_OK);
	CHECK(!changed);
	CHECK_EQ_INT(wait_end(c, id, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	jobd__v1__wait_reply__free_unpacked(w, NULL);

	CHECK_EQ_INT(pause_kind(c, "no-such-kind", true, &changed),
	             JOBD_NOT_FOUND);
	CHECK(strstr(jobd_client_errmsg(), "unknown kind 'no-such-kind'"));
	CHECK_EQ_INT(pause_kind(c, "no-such-kind", false, &changed),
	             JOBD_NOT_FOUND);
	jd_down(&d, c);
}

/* ---- rerun ------------------------------------------------------------ */

static void
test_retry(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	Jobd__V1__WaitReply *w;
	Jobd__V1__GetReply *g;
	Jobd__V1__RetryReply *rr = NULL;
	REQUIRE(c != NULL);

	uint64_t id = submit_ok(c, "fail", "message=first", NULL);
	CHECK_EQ_INT(wait_end(c, id, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_FAILED);
	int64_t started = w->job->started_at_ms;
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	CHECK(listed(c, JOBD__V1__JOB_STATE__JOB_STATE_FAILED, id, "first"));

	REQUIRE(retry(c, id, &rr) == JOBD_OK);
	CHECK_EQ_INT(rr->job->id, id);
	CHECK_EQ_INT(rr->job->reruns, 1);
	CHECK_EQ_INT(rr->job->attempts, 0);
	CHECK_EQ_STR(rr->job->error, "");
	CHECK_EQ_INT(rr->job->n_history, 1);
	if (rr->job->n_history == 1) {
		CHECK_EQ_INT(rr->job->history[0]->state,
		             JOBD__V1__JOB_STATE__JOB_STATE_FAILED);
		CHECK_EQ_STR(rr->job->history[0]->error, "first");
		CHECK_EQ_INT(rr->job->history[0]->attempts, 1);
		CHECK(rr->job->history[0]->started_at_ms == started);
	}
	jobd__v1__retry_reply__free_unpacked(rr, NULL);
	CHECK_EQ_INT(wait_end(c, id, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_FAILED);
	CHECK_EQ_INT(w->job->attempts, 1);
	CHECK_EQ_STR(w->job->error, "first"); /* it ran again */
	CHECK_EQ_INT(w->job->n_history, 1);
	jobd__v1__wait_reply__free_unpacked(w, NULL);

	/* a second rerun: two runs in its history, after a restart too */
	REQUIRE(retry(c, id, &rr) == JOBD_OK);
	jobd__v1__retry_reply__free_unpacked(rr, NULL);
	CHECK_EQ_INT(wait_end(c, id, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_FAILED);
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	jobd_client_close(c);
	jd_kill(&d, SIGKILL);
	REQUIRE(jd_start(&d, fast) == 0);
	REQUIRE((c = jd_connect(&d)) != NULL);
	Jobd__V1__Job *j = get(c, id, &g);
	CHECK_EQ_INT(j->reruns, 2);
	CHECK_EQ_INT(j->n_history, 2);
	jobd__v1__get_reply__free_unpacked(g, NULL);

	/* errors */
	uint64_t ok = submit_ok(c, "sleep", "ms=1", NULL);
	CHECK_EQ_INT(wait_end(c, ok, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	CHECK_EQ_INT(retry(c, ok, &rr), JOBD_FAILED_PRECONDITION);
	CHECK(strstr(jobd_client_errmsg(), "succeeded: only a failed or "
	                                   "cancelled job is retried"));
	struct opts o = {.delay_ms = 60000};
	uint64_t later = submit_ok(c, "sleep", "ms=1", &o);
	CHECK_EQ_INT(retry(c, later, &rr), JOBD_FAILED_PRECONDITION);
	CHECK(strstr(jobd_client_errmsg(), "has not ended"));
	CHECK_EQ_INT(retry(c, 999999, &rr), JOBD_NOT_FOUND);
	CHECK(strstr(jobd_client_errmsg(), "no job 999999"));

	/* a cancelled job runs again */
	Jobd__V1__CancelReply *cr = NULL;
	CHECK_EQ_INT(jobd_cancel(c, later, &cr), JOBD_OK);
	if (cr != NULL)
		jobd__v1__cancel_reply__free_unpacked(cr, NULL);
	REQUIRE(retry(c, later, &rr) == JOBD_OK);
	CHECK_EQ_INT(rr->job->state, JOBD__V1__JOB_STATE__JOB_STATE_QUEUED);
	jobd__v1__retry_reply__free_unpacked(rr, NULL);
	CHECK_EQ_INT(wait_end(c, later, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	REQUIRE(w->job->n_history == 1);
	CHECK_EQ_INT(w->job->history[0]->state,
	             JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED);
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	jd_down(&d, c);
}

/* Retry of a job cancelled because the job it ran after failed: refused
 * until that one is retried; then it waits for it again. */
static void
test_retry_after(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	Jobd__V1__WaitReply *w;
	Jobd__V1__RetryReply *rr = NULL;
	REQUIRE(c != NULL);

	struct opts o = {.delay_ms = 300};
	uint64_t a = submit_ok(c, "fail", NULL, &o);
	o = (struct opts){.after = &a, .nafter = 1};
	uint64_t b = submit_ok(c, "sleep", "ms=1", &o);
	CHECK_EQ_INT(wait_end(c, b, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED);
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	CHECK_EQ_INT(retry(c, b, &rr), JOBD_FAILED_PRECONDITION);
	REQUIRE(pause_kind(c, "fail", true, &(bool){false}) == JOBD_OK);
	REQUIRE(retry(c, a, &rr) == JOBD_OK);
	jobd__v1__retry_reply__free_unpacked(rr, NULL);
	REQUIRE(retry(c, b, &rr) == JOBD_OK);
	char want[64];
	snprintf(want, sizeof(want), "after job %llu", (unsigned long long) a);
	CHECK_EQ_STR(rr->job->waiting, want);
	jobd__v1__retry_reply__free_unpacked(rr, NULL);
	jd_down(&d, c);
}

/* ---- unique keys ------------------------------------------------------ */

static void
test_unique(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	Jobd__V1__WaitReply *w;
	int code;
	REQUIRE(c != NULL);

	struct opts o = {.unique = "report-1", .delay_ms = 400};
	uint64_t a = submit_ok(c, "sleep", "ms=1", &o);
	Jobd__V1__SubmitReply *rep = submit(c, "sleep", "ms=1", &o, &code);
	REQUIRE(rep != NULL);
	CHECK_EQ_INT(rep->job->id, a);
	CHECK(rep->existing);
	CHECK_EQ_STR(rep->job->unique_key, "report-1");
	jobd__v1__submit_reply__free_unpacked(rep, NULL);
	CHECK_EQ_INT(wait_end(c, a, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	/* ended: the key is free */
	rep = submit(c, "sleep", "ms=1", &o, &code);
	REQUIRE(rep != NULL);
	CHECK(rep->job->id != a);
	CHECK(!rep->existing);
	jobd__v1__submit_reply__free_unpacked(rep, NULL);

	o = (struct opts){.unique = "has space"};
	submit_refused(c, "sleep", &o, JOBD_INVALID_ARGUMENT, "unique key");
	jd_down(&d, c);
}

/* ---- durability -------------------------------------------------------- */

/* A scheduled job, one waiting for it and a unique key survive a
 * SIGKILL; then all run. */
static void
test_kill_restart(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	Jobd__V1__GetReply *g;
	Jobd__V1__WaitReply *w;
	int code;
	REQUIRE(c != NULL);

	/* still scheduled after the restart: jobd under valgrind takes
	 * seconds to start */
	struct opts o = {.delay_ms = jd_wrapped() ? 20000 : 3000,
	                 .unique = "u1"};
	uint64_t a = submit_ok(c, "sleep", "ms=1", &o);
	Jobd__V1__Job *j = get(c, a, &g);
	int64_t run_at = j->run_at_ms;
	jobd__v1__get_reply__free_unpacked(g, NULL);
	o = (struct opts){.after = &a, .nafter = 1};
	uint64_t b = submit_ok(c, "sleep", "ms=1", &o);

	jobd_client_close(c);
	jd_kill(&d, SIGKILL);
	REQUIRE(jd_start(&d, fast) == 0);
	REQUIRE((c = jd_connect(&d)) != NULL);

	j = get(c, a, &g);
	CHECK_EQ_INT(j->state, JOBD__V1__JOB_STATE__JOB_STATE_SCHEDULED);
	CHECK(j->run_at_ms == run_at);
	CHECK_EQ_STR(j->unique_key, "u1");
	jobd__v1__get_reply__free_unpacked(g, NULL);
	o = (struct opts){.unique = "u1"};
	Jobd__V1__SubmitReply *rep = submit(c, "sleep", "ms=1", &o, &code);
	REQUIRE(rep != NULL);
	CHECK_EQ_INT(rep->job->id, a);
	jobd__v1__submit_reply__free_unpacked(rep, NULL);
	CHECK_EQ_INT(wait_end(c, b, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	CHECK(w->job->started_at_ms >= run_at);
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	jd_down(&d, c);
}

/* A job whose dependency failed while jobd was down is cancelled at the
 * next start. Made by a SIGKILL before the cancel was written: the
 * dependency fails in one batch with the kill right after it. */
static void
test_load_settles(void)
{
	struct jd d;
	jobd_client *c = jd_up(&d, fast);
	Jobd__V1__WaitReply *w;
	REQUIRE(c != NULL);

	/* paused: b stays queued while a fails and the daemon dies */
	bool changed;
	REQUIRE(pause_kind(c, "sleep", true, &changed) == JOBD_OK);
	uint64_t a = submit_ok(c, "sleep", "ms=1", NULL);
	struct opts o = {.after = &a, .nafter = 1};
	uint64_t b = submit_ok(c, "count", "n=10", &o);
	Jobd__V1__CancelReply *cr = NULL;
	REQUIRE(jobd_cancel(c, a, &cr) == JOBD_OK);
	jobd__v1__cancel_reply__free_unpacked(cr, NULL);
	CHECK_EQ_INT(wait_end(c, b, &w),
	             JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED);
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	jobd_client_close(c);
	jd_kill(&d, SIGKILL);
	REQUIRE(jd_start(&d, fast) == 0);
	REQUIRE((c = jd_connect(&d)) != NULL);
	CHECK_EQ_INT(state_of(c, b), JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED);
	jd_down(&d, c);
}

TEST_MAIN({"delayed", test_delayed}, {"delayed_errors", test_delayed_errors},
          {"backoff_scheduled", test_backoff_scheduled}, {"after", test_after},
          {"after_failed", test_after_failed},
          {"after_errors", test_after_errors}, {"pause", test_pause},
          {"retry", test_retry}, {"retry_after", test_retry_after},
          {"unique", test_unique}, {"kill_restart", test_kill_restart},
          {"load_settles", test_load_settles})

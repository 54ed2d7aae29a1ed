/*
 * Tests of the scheduler's parked calls and of List, on a real database
 * and writer: List page by page against a reference built from Get, with
 * every filter, before and after state changes and while jobs run; many
 * calls parked on one job, answered once each when it ends, when their
 * deadline passes all at once, when they are released, or at shutdown.
 * With no worker, the test moves jobs itself (sched_take, sched_finish).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "schedenv.h"
#include "test.h"

/* A retry's backoff of backoff_ms: the job is scheduled that long. */
static void
env_start_backoff(struct env *e, uint32_t workers, uint32_t backoff_ms)
{
	struct sched_config cfg = {
	    .workers = workers, .backoff_ms = backoff_ms, .max_recoveries = 3};

	log_set_level(LOG_WARN); /* failing jobs are logged */
	env_dir(e, "jobd-test-sched");
	env_open(e, &cfg, NULL);
}

static void
env_start(struct env *e, uint32_t workers)
{
	env_start_backoff(e, workers, 20);
}

/* ---- waiters that count --------------------------------------------- */

static atomic_int nfired; /* every tw's fires, for waiting */

struct tw {
	struct waiter w;
	atomic_int fired;
	int status;
	int state;
	uint64_t id;
	bool result; /* the job came with the result "42" */
	char msg[64];
};

static void
tw_fire(struct waiter *w, int status, const struct jobrec *job,
        uint64_t existing, const char *msg)
{
	struct tw *t = (struct tw *) w;
	(void) existing;
	t->status = status;
	t->state = job->state;
	t->id = job->id;
	t->result = job->result_len == 2 && memcmp(job->result, "42", 2) == 0;
	snprintf(t->msg, sizeof(t->msg), "%s", msg);
	atomic_fetch_add(&t->fired, 1);
	atomic_fetch_add(&nfired, 1);
}

static void
tw_init(struct tw *t, int until, int64_t deadline)
{
	memset(t, 0, sizeof(*t));
	t->w.until = until;
	t->w.deadline = deadline;
	t->w.fire = tw_fire;
}

/* Waits up to 20 s for nfired to reach n; true if it did. */
static bool
await_fired(int n)
{
	for (int i = 0; i < 20000 && atomic_load(&nfired) < n; i++)
		usleep(1000);
	return atomic_load(&nfired) >= n;
}

/* Submits kind with one parameter and waits for the commit; the id. */
static uint64_t
submit(struct env *e, const char *kind, const char *pname, const char *pval,
       uint32_t max_attempts)
{
	struct jobrec r = env_rec(kind, pname, pval, max_attempts);
	struct tw t;
	char err[256];
	int base = atomic_load(&nfired);

	tw_init(&t, WAIT_COMMIT, 0);
	if (sched_submit(e->s, &r, kindset_find(e->ks, kind), &t.w, err,
	                 sizeof(err)) != JOBD_OK ||
	    !await_fired(base + 1) || t.status != JOBD_OK) {
		jobrec_clear(&r);
		return 0;
	}
	return t.id;
}

/* ---- List against a reference ----------------------------------------- */

#define NJOBS 240

static const char *const kinds[] = {"count", "sleep", "fail"};

struct ref {
	bool live;
	int state;
	char kind[16];
};

/* The reference: every job's state and kind as Get tells them. */
static void
ref_build(struct env *e, struct ref *ref)
{
	for (uint64_t id = 1; id <= NJOBS; id++) {
		struct jobrec r = {0};
		ref[id].live = sched_get(e->s, id, &r) == JOBD_OK;
		if (ref[id].live) {
			ref[id].state = r.state;
			snprintf(ref[id].kind, sizeof(ref[id].kind), "%s",
			         r.kind);
		}
		jobrec_clear(&r);
	}
}

static bool
ref_match(const struct ref *r, int state, const char *kind)
{
	return r->live && (state == 0 || r->state == state) &&
	       (kind == NULL || strcmp(r->kind, kind) == 0);
}

/* Pages through List with the filter (state, kind) and `limit`, from
 * `before` down, and compares every page with the reference; the number
 * of differences. */
static int
pages_differ(struct env *e, const struct ref *ref, int state, const char *kind,
             size_t limit, uint64_t before)
{
	struct store_filter f = {state, kind, before, limit};
	uint64_t next = before == 0 ? NJOBS : before - 1; /* reference */
	int bad = 0, pages = 0;

	for (;;) {
		struct jobrec *v = NULL;
		size_t n = 0, want = 0;
		if (sched_list(e->s, &f, &v, &n) != JOBD_OK)
			return bad + 1;
		pages++;
		for (size_t i = 0; i < n; i++) {
			while (next > 0 && !ref_match(&ref[next], state, kind))
				next--;
			if (next == 0 || v[i].id != next ||
			    v[i].state != ref[next].state ||
			    strcmp(v[i].kind, ref[next].kind) != 0 ||
			    v[i].result != NULL)
				bad++;
			if (next > 0)
				next--;
			want++;
		}
		for (size_t i = 0; i < n; i++)
			jobrec_clear(&v[i]);
		free(v);
		/* a page shorter than the limit is the last one */
		if (limit == 0 || n < limit) {
			while (next > 0 && !ref_match(&ref[next], state, kind))
				next--;
			if (next != 0)
				bad++; /* jobs left out */
			return bad;
		}
		if (n > 0)
			f.before = next + 1;
		(void) want;
		if (pages > NJOBS + 2)
			return bad + 1;
	}
}

/* Every filter, several page sizes, from the top and from the middle. */
static int
list_differs(struct env *e)
{
	static const char *const kf[] = {NULL, "count", "sleep", "fail",
	                                 "nope"};
	static const size_t limits[] = {1, 7, 64, 1000, 0};
	struct ref ref[NJOBS + 1];
	int bad = 0;

	ref_build(e, ref);
	for (int st = 0; st <= JOB_STATE_MAX; st++)
		for (size_t k = 0; k < sizeof(kf) / sizeof(kf[0]); k++) {
			for (size_t l = 0; l < sizeof(limits) / sizeof(*limits);
			     l++)
				bad += pages_differ(e, ref, st, kf[k],
				                    limits[l], 0);
			bad += pages_differ(e, ref, st, kf[k], 5, NJOBS / 2);
			bad += pages_differ(e, ref, st, kf[k], 3, 1);
		}
	return bad;
}

/* Takes the next job to run (the oldest queued with no worker); finishes it
 * with outcome, and waits until its end is on disk if it ends. */
static void
finish(struct env *e, struct job *j, int outcome)
{
	struct sched_work wk;
	struct tw t;
	int base = atomic_load(&nfired);
	bool ends;
	uint8_t *res = NULL;

	sched_job_work(j, &wk);
	tw_init(&t, WAIT_END, 0);
	REQUIRE(sched_wait(e->s, wk.id, &t.w) == JOBD_OK);
	if (outcome == JOBD_RUN_OK) {
		res = malloc(2);
		memcpy(res, "42", 2);
	}
	ends = outcome != JOBD_RUN_FAILED || wk.attempt >= 3;
	sched_finish(e->s, j, outcome, res, res ? 2 : 0,
	             outcome == JOBD_RUN_OK ? NULL : "no");
	if (ends) {
		REQUIRE(await_fired(base + 1));
		CHECK_EQ_INT(t.status, JOBD_OK);
	} else {
		CHECK(sched_release(e->s, &t.w, JOBD_CANCELLED, "gone"));
	}
	CHECK_EQ_INT(atomic_load(&t.fired), 1);
}

/* A writer op whose done() holds up the writer's completer until opened:
 * the ends committed meanwhile stay in memory, listed. */
struct gate {
	struct writer_op op;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	bool open;
	atomic_bool entered;
};

static void
gate_done(struct writer_op *op)
{
	struct gate *g = (struct gate *) op;
	atomic_store(&g->entered, true);
	pthread_mutex_lock(&g->mtx);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mtx);
	pthread_mutex_unlock(&g->mtx);
}

static void
gate_close(struct env *e, struct gate *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mtx, NULL);
	pthread_cond_init(&g->cv, NULL);
	atomic_init(&g->entered, false);
	g->op.type = WOP_PURGE; /* of nothing: purge_before 0 */
	g->op.done = gate_done;
	writer_submit(e->w, &g->op);
	for (int i = 0; i < 10000 && !atomic_load(&g->entered); i++)
		usleep(1000);
	REQUIRE(atomic_load(&g->entered));
}

static void
gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mtx);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mtx);
}

static void
test_list_pages(void)
{
	struct env e;
	struct job *run[30];

	/* the jobs retried below stay scheduled while the lists are
	 * compared with what Get says */
	env_start_backoff(&e, 0, 600000);
	for (int i = 0; i < NJOBS; i++) {
		const char *k = kinds[i % 3];
		REQUIRE(submit(&e, k,
		               i % 3 == 0   ? "n"
		               : i % 3 == 1 ? "ms"
		                            : "message",
		               i % 3 == 2 ? "x" : "1", 3) == (uint64_t) i + 1);
	}
	CHECK_EQ_INT(list_differs(&e), 0);

	/* 30 running */
	for (int i = 0; i < 30; i++)
		REQUIRE((run[i] = sched_take(e.s)) != NULL);
	CHECK_EQ_INT(list_differs(&e), 0);

	/* of those: 10 succeed (and leave memory), 10 fail and are queued
	 * again for a retry, 5 fail for good, 5 go on running */
	for (int i = 0; i < 25; i++)
		finish(&e, run[i],
		       i < 10   ? JOBD_RUN_OK
		       : i < 20 ? JOBD_RUN_FAILED
		                : JOBD_RUN_FAILED_FINAL);
	CHECK_EQ_INT(list_differs(&e), 0);

	/* 10 queued ones cancelled */
	for (uint64_t id = 100; id < 110; id++) {
		struct tw t;
		int base = atomic_load(&nfired);
		tw_init(&t, WAIT_END, 0);
		REQUIRE(sched_cancel(e.s, id, &t.w) == JOBD_OK);
		REQUIRE(await_fired(base + 1));
		CHECK(t.status == JOBD_OK && t.state == JOB_CANCELLED);
	}
	CHECK_EQ_INT(list_differs(&e), 0);

	/* ends in memory whose commit is not done: listed, in their end
	 * state, until it is */
	struct gate g;
	struct tw t[6];
	int base = atomic_load(&nfired);
	gate_close(&e, &g);
	for (int i = 0; i < 6; i++) {
		tw_init(&t[i], WAIT_END, 0);
		uint64_t id = i < 3 ? 120 + (uint64_t) i : 0;
		if (i >= 3) {
			struct sched_work wk;
			REQUIRE((run[i] = sched_take(e.s)) != NULL);
			sched_job_work(run[i], &wk);
			id = wk.id;
		}
		REQUIRE(sched_cancel(e.s, id, &t[i].w) == JOBD_OK);
	}
	sched_finish(e.s, run[3], JOBD_RUN_OK, NULL, 0, NULL);
	sched_finish(e.s, run[4], JOBD_RUN_FAILED_FINAL, NULL, 0, "no");
	CHECK_EQ_INT(list_differs(&e), 0);
	struct store_filter f = {JOB_CANCELLED, NULL, 0, 0};
	struct jobrec *v = NULL;
	size_t n = 0;
	REQUIRE(sched_list(e.s, &f, &v, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 3); /* 120 to 122 */
	for (size_t i = 0; i < n; i++)
		jobrec_clear(&v[i]);
	free(v);
	gate_open(&g);
	sched_finish(e.s, run[5], JOBD_RUN_STOPPED, NULL, 0, NULL);
	REQUIRE(await_fired(base + 6));
	CHECK(t[3].state == JOB_SUCCEEDED && t[4].state == JOB_FAILED &&
	      t[5].state == JOB_CANCELLED && t[0].state == JOB_CANCELLED);
	CHECK_EQ_INT(list_differs(&e), 0);

	/* the rest run and end */
	for (int i = 25; i < 30; i++)
		finish(&e, run[i], JOBD_RUN_OK);
	CHECK_EQ_INT(list_differs(&e), 0);
	env_stop(&e);
}

/* ---- List while jobs change state ------------------------------------ */

struct lister {
	struct env *e;
	atomic_bool stop;
	int pages;
	int bad;
};

static void *
lister_main(void *arg)
{
	struct lister *l = arg;
	static const char *const kf[] = {NULL, "count", "sleep"};
	int round = 0;

	while (!atomic_load(&l->stop)) {
		int state = round % (JOB_STATE_MAX + 1);
		const char *kind = kf[(round / 6) % 3];
		struct store_filter f = {state, kind, 0, 1 + round % 50};
		uint64_t prev = UINT64_MAX;
		round++;
		for (int p = 0; p < 5; p++) {
			struct jobrec *v = NULL;
			size_t n = 0;
			if (sched_list(l->e->s, &f, &v, &n) != JOBD_OK) {
				l->bad++;
				break;
			}
			l->pages++;
			if (n > f.limit)
				l->bad++;
			for (size_t i = 0; i < n; i++) {
				if (v[i].id >= prev ||
				    (f.before && v[i].id >= f.before) ||
				    (state && v[i].state != state) ||
				    (kind && strcmp(v[i].kind, kind) != 0))
					l->bad++;
				prev = v[i].id;
			}
			for (size_t i = 0; i < n; i++)
				jobrec_clear(&v[i]);
			free(v);
			if (n < f.limit)
				break;
			f.before = prev;
		}
	}
	return NULL;
}

static void
test_list_while_running(void)
{
	struct env e;
	struct lister l = {0};
	pthread_t t;
	uint64_t last = 0;

	env_start(&e, 2);
	l.e = &e;
	atomic_init(&l.stop, false);
	REQUIRE(pthread_create(&t, NULL, lister_main, &l) == 0);
	for (int i = 0; i < 400; i++)
		REQUIRE((last = submit(&e, i % 2 ? "count" : "sleep",
		                       i % 2 ? "n" : "ms", "1", 1)) != 0);
	/* until the last one ended */
	for (int i = 0; i < 10000; i++) {
		struct jobrec r = {0};
		if (sched_get(e.s, last, &r) != JOBD_OK)
			break;
		jobrec_clear(&r);
		usleep(1000);
	}
	atomic_store(&l.stop, true);
	pthread_join(t, NULL);
	CHECK(l.pages > 0);
	CHECK_EQ_INT(l.bad, 0);
	/* nothing left to list */
	struct store_filter f = {0, NULL, 0, 0};
	struct jobrec *v = NULL;
	size_t n = 1;
	for (int i = 0; i < 1000 && n > 0; i++) {
		for (size_t k = 0; k < n && v != NULL; k++)
			jobrec_clear(&v[k]);
		free(v);
		v = NULL;
		REQUIRE(sched_list(e.s, &f, &v, &n) == JOBD_OK);
		if (n > 0)
			usleep(10000);
	}
	CHECK_EQ_INT(n, 0);
	free(v);
	env_stop(&e);
}

/* ---- many parked calls ------------------------------------------------ */

#define NWAIT 20000

/* One job's end answers every Wait parked on it once, all with the one
 * copy of the job (result included); the released ones were answered
 * already, with their own status, and only once. */
static void
test_end_answers_many(void)
{
	struct env e;
	struct tw *t = calloc(NWAIT, sizeof(*t));
	int released = 0, base;
	uint64_t id;

	REQUIRE(t != NULL);
	env_start(&e, 0);
	REQUIRE((id = submit(&e, "count", "n", "5", 1)) != 0);
	base = atomic_load(&nfired);
	for (int i = 0; i < NWAIT; i++) {
		/* half with a deadline far away: they are in the heap too */
		tw_init(&t[i], WAIT_END, i % 2 ? sched_mono_ms() + 600000 : 0);
		REQUIRE(sched_wait(e.s, id, &t[i].w) == JOBD_OK);
	}
	for (int i = 0; i < NWAIT; i += 7) {
		CHECK(sched_release(e.s, &t[i].w, JOBD_CANCELLED, "closed"));
		released++;
	}
	CHECK_EQ_INT(atomic_load(&nfired) - base, released);
	/* a released waiter is no longer parked */
	CHECK(!sched_release(e.s, &t[0].w, JOBD_CANCELLED, "again"));

	struct job *j = sched_take(e.s);
	REQUIRE(j != NULL);
	uint8_t *res = malloc(2);
	memcpy(res, "42", 2);
	sched_finish(e.s, j, JOBD_RUN_OK, res, 2, NULL);
	REQUIRE(await_fired(base + NWAIT));
	int bad = 0;
	for (int i = 0; i < NWAIT; i++) {
		bool rel = i % 7 == 0;
		if (atomic_load(&t[i].fired) != 1 || t[i].id != id)
			bad++;
		else if (rel && (t[i].status != JOBD_CANCELLED ||
		                 strcmp(t[i].msg, "closed") != 0))
			bad++;
		else if (!rel && (t[i].status != JOBD_OK ||
		                  t[i].state != JOB_SUCCEEDED || !t[i].result))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(!sched_release(e.s, &t[1].w, JOBD_CANCELLED, "late"));
	CHECK_EQ_INT(atomic_load(&nfired), base + NWAIT);
	env_stop(&e);
	free(t);
}

/* Many Waits whose deadline is the same moment: each answered once with
 * DEADLINE_EXCEEDED and the job's state; the job is untouched. */
static void
test_deadlines_together(void)
{
	struct env e;
	struct tw *t = calloc(NWAIT, sizeof(*t));
	struct jobrec r = {0};
	int base;
	uint64_t id;

	REQUIRE(t != NULL);
	env_start(&e, 0);
	REQUIRE((id = submit(&e, "count", "n", "5", 1)) != 0);
	base = atomic_load(&nfired);
	int64_t at = sched_mono_ms() + 300;
	for (int i = 0; i < NWAIT; i++) {
		tw_init(&t[i], WAIT_END, at);
		REQUIRE(sched_wait(e.s, id, &t[i].w) == JOBD_OK);
	}
	REQUIRE(await_fired(base + NWAIT));
	int bad = 0;
	for (int i = 0; i < NWAIT; i++)
		if (atomic_load(&t[i].fired) != 1 ||
		    t[i].status != JOBD_DEADLINE_EXCEEDED || t[i].id != id ||
		    t[i].state != JOB_QUEUED)
			bad++;
	CHECK_EQ_INT(bad, 0);
	CHECK(!sched_release(e.s, &t[0].w, JOBD_CANCELLED, "late"));
	REQUIRE(sched_get(e.s, id, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_QUEUED);
	jobrec_clear(&r);
	/* and it still ends, answering a Wait parked now */
	tw_init(&t[0], WAIT_END, 0);
	REQUIRE(sched_wait(e.s, id, &t[0].w) == JOBD_OK);
	struct job *j = sched_take(e.s);
	REQUIRE(j != NULL);
	sched_finish(e.s, j, JOBD_RUN_OK, NULL, 0, NULL);
	REQUIRE(await_fired(base + NWAIT + 1));
	CHECK(t[0].status == JOBD_OK && t[0].state == JOB_SUCCEEDED);
	env_stop(&e);
	free(t);
}

/* A release takes a call out of the deadline heap: its deadline passing
 * later answers nothing more. */
static void
test_release_then_deadline(void)
{
	struct env e;
	struct tw a, b;
	uint64_t id;
	int base;

	env_start(&e, 0);
	REQUIRE((id = submit(&e, "count", "n", "5", 1)) != 0);
	base = atomic_load(&nfired);
	tw_init(&a, WAIT_END, sched_mono_ms() + 100);
	tw_init(&b, WAIT_END, sched_mono_ms() + 150);
	REQUIRE(sched_wait(e.s, id, &a.w) == JOBD_OK);
	REQUIRE(sched_cancel(e.s, 999999, &b.w) == JOBD_NOT_FOUND);
	REQUIRE(sched_wait(e.s, id, &b.w) == JOBD_OK);
	CHECK(sched_release(e.s, &a.w, JOBD_UNAVAILABLE, "connection closed"));
	CHECK_EQ_INT(atomic_load(&a.fired), 1);
	CHECK_EQ_INT(a.status, JOBD_UNAVAILABLE);
	CHECK_EQ_STR(a.msg, "connection closed");
	CHECK_EQ_INT(a.id, id);
	REQUIRE(await_fired(base + 2)); /* b's deadline */
	CHECK_EQ_INT(b.status, JOBD_DEADLINE_EXCEEDED);
	usleep(100000);
	CHECK_EQ_INT(atomic_load(&a.fired), 1);
	CHECK_EQ_INT(atomic_load(&b.fired), 1);
	env_stop(&e);
}

/* A stop answers every parked Wait and Cancel, on several jobs, once. */
static void
test_drain_answers_parked(void)
{
	enum { N = 3000 };
	struct env e;
	struct tw *t = calloc(N, sizeof(*t));
	uint64_t ids[3];
	int base;

	REQUIRE(t != NULL);
	env_start(&e, 0);
	for (int k = 0; k < 3; k++)
		REQUIRE((ids[k] = submit(&e, "count", "n", "5", 1)) != 0);
	base = atomic_load(&nfired);
	for (int i = 0; i < N; i++) {
		tw_init(&t[i], WAIT_END, i % 2 ? sched_mono_ms() + 600000 : 0);
		REQUIRE(sched_wait(e.s, ids[i % 3], &t[i].w) == JOBD_OK);
	}
	sched_drain(e.s, 0);
	CHECK_EQ_INT(atomic_load(&nfired) - base, N);
	int bad = 0;
	for (int i = 0; i < N; i++)
		if (atomic_load(&t[i].fired) != 1 ||
		    t[i].status != JOBD_UNAVAILABLE ||
		    strcmp(t[i].msg, "jobd is shutting down") != 0 ||
		    t[i].id != ids[i % 3])
			bad++;
	CHECK_EQ_INT(bad, 0);
	/* and no call parks any more */
	tw_init(&t[0], WAIT_END, 0);
	CHECK_EQ_INT(sched_wait(e.s, ids[0], &t[0].w), JOBD_UNAVAILABLE);
	env_stop(&e);
	free(t);
}

TEST_MAIN({"list_pages", test_list_pages},
          {"list_while_running", test_list_while_running},
          {"end_answers_many", test_end_answers_many},
          {"deadlines_together", test_deadlines_together},
          {"release_then_deadline", test_release_then_deadline},
          {"drain_answers_parked", test_drain_answers_parked})

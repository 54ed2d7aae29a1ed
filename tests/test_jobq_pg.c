/*
 * test_jobq_pg: the shared queue (daemon/jobq_pg*.c) on a real PostgreSQL
 * server that the test starts itself through tests/pg_cluster.sh
 * (tests/pgtest.h): it stops and starts the server for the fault test, so
 * it never shares one. It drives two or three jobq instances on one
 * database as several daemons would: workers are the test's own calls of
 * take/progress/finish.
 *
 * Each test makes its own database. A kind is given to an instance only
 * when it is to claim jobs: an instance without kinds claims nothing, so
 * which instance runs a job is the test's choice, not a race.
 *
 * Without PostgreSQL (PG_BIN, see tests/pg_cluster.sh), the test says so
 * and skips (exit 77).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobq.h"
#include "pgtest.h"
#include "test.h"

/* ---- the server ---------------------------------------------------------- */

/* A fresh database `name` on the test's own server (started at the first
 * call); its URL in url. */
static void
database(const char *name, char *url, size_t len)
{
	REQUIRE(pgtest_start() != NULL);
	REQUIRE(pgtest_createdb(name, url, len) == 0);
}

/* ---- calls parked, and their answers --------------------------------------
 */

struct tw {
	struct waiter w; /* first */
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	bool fired;
	int status;
	uint64_t existing;
	struct jobrec rec;
	char msg[300];
};

static void
tw_fire(struct waiter *w, int status, const struct jobrec *job,
        uint64_t existing_id, const char *msg)
{
	struct tw *t = (struct tw *) w;
	pthread_mutex_lock(&t->mtx);
	CHECK(!t->fired); /* exactly once */
	t->fired = true;
	t->status = status;
	t->existing = existing_id;
	if (job != NULL)
		CHECK(jobrec_copy(&t->rec, job) == JOBD_OK);
	snprintf(t->msg, sizeof(t->msg), "%s", msg ? msg : "");
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mtx);
}

static void
tw_init(struct tw *t, int64_t deadline)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mtx, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->w.fire = tw_fire;
	t->w.deadline = deadline;
}

static void
tw_fini(struct tw *t)
{
	jobrec_clear(&t->rec);
	pthread_mutex_destroy(&t->mtx);
	pthread_cond_destroy(&t->cv);
}

/* Whether t fired within ms. */
static bool
tw_wait(struct tw *t, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&t->mtx);
	while (!t->fired)
		if (pthread_cond_timedwait(&t->cv, &t->mtx, &ts) == ETIMEDOUT)
			break;
	bool yes = t->fired;
	pthread_mutex_unlock(&t->mtx);
	return yes;
}

/* ---- instances -------------------------------------------------------------
 */

static int
run_nothing(jobd_job *job, const struct jobd_host *host)
{
	(void) job;
	(void) host;
	return JOBD_RUN_OK;
}

static const struct jobd_kind kind_t = {
    .name = "t", .desc = "test", .uses_input = 1, .run = run_nothing};

static kindset *
kinds_with_t(void)
{
	kindset *ks = kindset_new();
	char err[256];
	REQUIRE(ks != NULL);
	REQUIRE(kindset_add(ks, &kind_t, KIND_BUILTIN, NULL, NULL, NULL, err,
	                    sizeof(err)) == JOBD_OK);
	return ks;
}

static const struct kind_def *
def_t(jobq *q)
{
	kindset *ks = q->ops->kinds(q);
	const struct kind_def *d = ks ? kindset_find(ks, "t") : NULL;
	kindset_unref(ks); /* the test's sets live to the end */
	return d;
}

static kindset *all_t; /* the set with kind t, for the definitions */

/* An instance named node on url; with kind t if `runs`. */
static jobq *
instance(const char *url, const char *node, bool runs, uint32_t lease_ms)
{
	struct jobq_config cfg = {0};
	char err[512];
	uint64_t recovered;
	jobq *q;

	cfg.db = url;
	cfg.node = node;
	cfg.lease_ms = lease_ms;
	cfg.sched.workers = 2;
	cfg.sched.backoff_ms = 100;
	REQUIRE(jobq_pg_open(&q, &cfg, err, sizeof(err)) == JOBD_OK);
	if (all_t == NULL)
		all_t = kinds_with_t();
	kindset *none = kindset_new();
	q->ops->set_kinds(q, runs ? all_t : none);
	kindset_unref(none);
	int rv = q->ops->start(q, &recovered, err, sizeof(err));
	if (rv != JOBD_OK)
		fprintf(stderr, "start: %s\n", err);
	REQUIRE(rv == JOBD_OK);
	return q;
}

static void
finish_instance(jobq *q)
{
	q->ops->drain(q, 0);
	q->ops->stop(q);
	q->ops->destroy(q);
}

/* Submits one job of kind t with key (may be NULL) on q; waits for its
 * answer into t (initialised here). Returns submit's own status. */
static int
submit(jobq *q, const char *key, const char *input, struct tw *t)
{
	struct jobrec rec = {0};
	char err[300];

	tw_init(t, 0);
	rec.kind = strdup("t");
	rec.max_attempts = 3;
	if (key != NULL)
		rec.idem_key = strdup(key);
	if (input != NULL) {
		rec.input_len = strlen(input);
		rec.input = (uint8_t *) strdup(input);
	}
	struct batch_job b = {&rec,
	                      def_t(q) ? def_t(q) : kindset_find(all_t, "t"),
	                      &t->w, NULL, 0};
	int rv = q->ops->submit_batch(q, &b, 1, err, sizeof(err));
	if (rv != JOBD_OK) {
		jobrec_clear(&rec);
		snprintf(t->msg, sizeof(t->msg), "%s", err);
	}
	return rv;
}

/* Submits and requires it acknowledged; returns the id. */
static uint64_t
submit_ok(jobq *q, const char *key, const char *input)
{
	struct tw t;
	REQUIRE(submit(q, key, input, &t) == JOBD_OK);
	REQUIRE(tw_wait(&t, 20000));
	if (t.status != JOBD_OK)
		fprintf(stderr, "submit: %d %s\n", t.status, t.msg);
	REQUIRE(t.status == JOBD_OK);
	CHECK_EQ_INT(t.rec.state, JOB_QUEUED);
	uint64_t id = t.rec.id;
	tw_fini(&t);
	return id;
}

/* Waits until q has claimed job id (bounded), then takes it. */
static struct job *
take_id(jobq *q, uint64_t id)
{
	struct jobrec r = {0};
	for (int i = 0; i < 2000; i++) {
		if (q->ops->get_live(q, id, &r) == JOBD_OK) {
			jobrec_clear(&r);
			struct job *j = q->ops->take(q);
			REQUIRE(j != NULL);
			CHECK_EQ_INT(q->ops->job_id(j), id);
			return j;
		}
		usleep(10000);
	}
	fprintf(stderr, "job %llu never claimed\n", (unsigned long long) id);
	REQUIRE(false);
	return NULL;
}

/* ---- tests -----------------------------------------------------------------
 */

/* Ids from the sequence, and an idempotency key unique across instances. */
static void
test_submit_keys(void)
{
	char url[400];
	struct tw t;

	database("t_keys", url, sizeof(url));
	jobq *a = instance(url, "a", false, 30000);
	jobq *b = instance(url, "b", false, 30000);

	uint64_t id1 = submit_ok(a, "key-1", "in");
	REQUIRE(submit(b, "key-1", NULL, &t) == JOBD_OK);
	REQUIRE(tw_wait(&t, 20000));
	CHECK_EQ_INT(t.status, JOBD_OK);
	CHECK_EQ_INT(t.existing, id1);
	CHECK_EQ_INT(t.rec.id, id1);
	tw_fini(&t);

	/* a batch of three on b: new ids, above id1, distinct */
	struct jobrec recs[3] = {{0}};
	struct tw ts[3];
	struct batch_job bj[3];
	char err[300];
	for (int i = 0; i < 3; i++) {
		tw_init(&ts[i], 0);
		recs[i].kind = strdup("t");
		recs[i].max_attempts = 1;
		bj[i] = (struct batch_job){&recs[i], kindset_find(all_t, "t"),
		                           &ts[i].w, NULL, 0};
	}
	recs[2].idem_key = strdup("key-1"); /* a's, again */
	REQUIRE(b->ops->submit_batch(b, bj, 3, err, sizeof(err)) == JOBD_OK);
	for (int i = 0; i < 3; i++) {
		REQUIRE(tw_wait(&ts[i], 20000));
		CHECK_EQ_INT(ts[i].status, JOBD_OK);
	}
	CHECK(ts[0].rec.id > id1);
	CHECK(ts[1].rec.id > id1);
	CHECK(ts[0].rec.id != ts[1].rec.id);
	CHECK_EQ_INT(ts[2].rec.id, id1);
	CHECK_EQ_INT(ts[2].existing, id1);
	for (int i = 0; i < 3; i++)
		tw_fini(&ts[i]);

	/* and the database has them: a lookup and a key from either */
	struct jobrec r = {0};
	CHECK_EQ_INT(a->ops->find_key(a, "key-1", &r, err, sizeof(err)),
	             JOBD_OK);
	CHECK_EQ_INT(r.id, id1);
	jobrec_clear(&r);
	CHECK_EQ_INT(b->ops->lookup(b, id1, &r, err, sizeof(err)), JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_QUEUED);
	jobrec_clear(&r);
	CHECK_EQ_INT(b->ops->lookup(b, 999999, &r, err, sizeof(err)),
	             JOBD_NOT_FOUND);

	/* a Wait for a job that never was: NOT_FOUND */
	tw_init(&t, 0);
	REQUIRE(b->ops->wait(b, 999999, &t.w) == JOBD_OK);
	REQUIRE(tw_wait(&t, 20000));
	CHECK_EQ_INT(t.status, JOBD_NOT_FOUND);
	tw_fini(&t);

	finish_instance(a);
	finish_instance(b);
}

/* A job runs on a while b Waits for it; b's Wait answers with its end. */
static void
test_wait_across(void)
{
	char url[400], err[300];
	struct sched_work w;
	struct tw t;
	uint8_t *in = NULL;
	size_t inlen = 0;
	void *conn = NULL;

	database("t_wait", url, sizeof(url));
	jobq *a = instance(url, "a", true, 30000);
	jobq *b = instance(url, "b", false, 30000);

	uint64_t id = submit_ok(b, NULL, "hello");
	tw_init(&t, 0);
	REQUIRE(b->ops->wait(b, id, &t.w) == JOBD_OK);

	struct job *j = take_id(a, id);
	a->ops->job_work(j, &w);
	CHECK_EQ_INT(w.attempt, 1);
	CHECK_EQ_INT(w.input_len, 5);
	REQUIRE(a->ops->read_input(a, &conn, &w, &in, &inlen, err,
	                           sizeof(err)) == JOBD_OK);
	CHECK(inlen == 5 && memcmp(in, "hello", 5) == 0);
	free(in);
	a->ops->close_conn(a, conn);
	CHECK_EQ_INT(a->ops->progress(w.progress_arg, 1, 2), 0);

	struct jobrec r = {0};
	CHECK_EQ_INT(a->ops->get_live(a, id, &r), JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_RUNNING);
	CHECK_EQ_INT(r.progress_done, 1);
	jobrec_clear(&r);
	CHECK(!tw_wait(&t, 200)); /* still running */

	uint8_t *res = malloc(2);
	memcpy(res, "ok", 2);
	a->ops->finish(a, j, JOBD_RUN_OK, res, 2, NULL);
	REQUIRE(tw_wait(&t, 20000));
	CHECK_EQ_INT(t.status, JOBD_OK);
	CHECK_EQ_INT(t.rec.state, JOB_SUCCEEDED);
	CHECK(t.rec.result_len == 2 && memcmp(t.rec.result, "ok", 2) == 0);
	tw_fini(&t);

	/* a Wait parked after the end answers at once from the database */
	tw_init(&t, 0);
	REQUIRE(a->ops->wait(a, id, &t.w) == JOBD_OK);
	REQUIRE(tw_wait(&t, 20000));
	CHECK_EQ_INT(t.status, JOBD_OK);
	CHECK_EQ_INT(t.rec.state, JOB_SUCCEEDED);
	tw_fini(&t);

	/* a Wait with a deadline on a job nobody runs */
	uint64_t id2 = submit_ok(b, NULL, NULL);
	tw_init(&t, 0);
	/* b has no kinds: a takes it... so park on b, a's workers busy? no:
	 * a claims it; take it and hold it for the deadline */
	struct job *j2 = take_id(a, id2);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	t.w.deadline =
	    (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000 + 300;
	REQUIRE(b->ops->wait(b, id2, &t.w) == JOBD_OK);
	REQUIRE(tw_wait(&t, 20000));
	CHECK_EQ_INT(t.status, JOBD_DEADLINE_EXCEEDED);
	CHECK_EQ_INT(t.rec.state, JOB_RUNNING);
	tw_fini(&t);

	/* a Wait released (its caller gone) fires once, with the status */
	tw_init(&t, 0);
	REQUIRE(b->ops->wait(b, id2, &t.w) == JOBD_OK);
	CHECK(b->ops->release(b, &t.w, JOBD_CANCELLED, "gone"));
	CHECK(tw_wait(&t, 0));
	CHECK_EQ_INT(t.status, JOBD_CANCELLED);
	CHECK(!b->ops->release(b, &t.w, JOBD_CANCELLED, "gone"));
	tw_fini(&t);

	a->ops->finish(a, j2, JOBD_RUN_FAILED_FINAL, NULL, 0, "no");
	tw_init(&t, 0);
	REQUIRE(b->ops->wait(b, id2, &t.w) == JOBD_OK);
	REQUIRE(tw_wait(&t, 20000));
	CHECK_EQ_INT(t.status, JOBD_OK);
	CHECK_EQ_INT(t.rec.state, JOB_FAILED);
	CHECK_EQ_STR(t.rec.error, "no");
	tw_fini(&t);

	finish_instance(a);
	finish_instance(b);
}

struct runner {
	jobq *q;
	struct job *j;
	atomic_bool stopped;
	pthread_t th;
};

/* A worker's loop: progress until told to stop (at most 30 s). */
static void *
runner_main(void *arg)
{
	struct runner *r = arg;
	struct sched_work w;
	r->q->ops->job_work(r->j, &w);
	for (int i = 0; i < 3000; i++) {
		if (r->q->ops->progress(w.progress_arg, (uint64_t) i, 0) != 0) {
			atomic_store(&r->stopped, true);
			break;
		}
		usleep(10000);
	}
	r->q->ops->finish(r->q, r->j, JOBD_RUN_STOPPED, NULL, 0, NULL);
	return NULL;
}

/* Cancel on b of a job running on a: a stops it at its next progress. */
static void
test_cancel_remote(void)
{
	char url[400];
	struct runner r = {0};
	struct tw t;

	database("t_cancel", url, sizeof(url));
	jobq *a = instance(url, "a", false, 30000);
	jobq *b = instance(url, "b", false, 30000);

	/* queued (nobody runs kind t yet): cancelled at once, from either */
	uint64_t id0 = submit_ok(b, NULL, NULL);
	tw_init(&t, 0);
	REQUIRE(a->ops->cancel(a, id0, &t.w) == JOBD_OK);
	REQUIRE(tw_wait(&t, 20000));
	CHECK_EQ_INT(t.status, JOBD_OK);
	CHECK_EQ_INT(t.rec.state, JOB_CANCELLED);
	tw_fini(&t);

	/* running on a, cancelled on b */
	a->ops->set_kinds(a, all_t);
	uint64_t id = submit_ok(b, NULL, NULL);
	r.q = a;
	r.j = take_id(a, id);
	REQUIRE(pthread_create(&r.th, NULL, runner_main, &r) == 0);
	tw_init(&t, 0);
	REQUIRE(b->ops->cancel(b, id, &t.w) == JOBD_OK);
	REQUIRE(tw_wait(&t, 30000));
	pthread_join(r.th, NULL);
	CHECK(atomic_load(&r.stopped));
	CHECK_EQ_INT(t.status, JOBD_OK);
	CHECK_EQ_INT(t.rec.state, JOB_CANCELLED);
	tw_fini(&t);

	/* a Cancel of an ended job answers with its end */
	tw_init(&t, 0);
	REQUIRE(b->ops->cancel(b, id0, &t.w) == JOBD_OK);
	REQUIRE(tw_wait(&t, 20000));
	CHECK_EQ_INT(t.status, JOBD_OK);
	CHECK_EQ_INT(t.rec.state, JOB_CANCELLED);
	tw_fini(&t);

	finish_instance(a);
	finish_instance(b);
}

/* An instance gone without finishing its job: once the lease expires, the
 * job runs on another, its attempt counted. */
static void
test_lease_rescue(void)
{
	char url[400], err[300];
	struct sched_work w;
	struct tw t;

	database("t_lease", url, sizeof(url));
	jobq *a = instance(url, "a", false, 1500);
	jobq *c = instance(url, "c", true, 1500);

	uint64_t id = submit_ok(a, NULL, NULL);
	struct job *j = take_id(c, id);
	c->ops->job_work(j, &w);
	CHECK_EQ_INT(w.attempt, 1);
	/* c "dies": its threads stop, its job stays running in the
	 * database under its lease */
	c->ops->stop(c);
	c->ops->destroy(c);

	a->ops->set_kinds(a, all_t);
	tw_init(&t, 0);
	REQUIRE(a->ops->wait(a, id, &t.w) == JOBD_OK);
	j = take_id(a, id); /* after the rescue */
	a->ops->job_work(j, &w);
	CHECK_EQ_INT(w.attempt, 2);
	a->ops->finish(a, j, JOBD_RUN_OK, NULL, 0, NULL);
	REQUIRE(tw_wait(&t, 20000));
	CHECK_EQ_INT(t.status, JOBD_OK);
	CHECK_EQ_INT(t.rec.state, JOB_SUCCEEDED);
	CHECK_EQ_INT(t.rec.attempts, 2);
	CHECK_EQ_INT(t.rec.recoveries, 1);
	tw_fini(&t);

	/* c again, same name: recovers only its own (none left) */
	struct jobq_config cfg = {0};
	uint64_t recovered = 99;
	cfg.db = url;
	cfg.node = "c";
	cfg.lease_ms = 1500;
	cfg.sched.workers = 1;
	REQUIRE(jobq_pg_open(&c, &cfg, err, sizeof(err)) == JOBD_OK);
	REQUIRE(c->ops->start(c, &recovered, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(recovered, 0);
	finish_instance(c);
	finish_instance(a);
}

/* The server stopped: Submit answers UNAVAILABLE, a running job goes on
 * and get_live answers; the server back: Submits are acknowledged again
 * and the end written meanwhile is written. */
static void
test_db_down(void)
{
	char url[400];
	struct tw t;
	bool refused = false, back = false;

	database("t_down", url, sizeof(url));
	jobq *a = instance(url, "a", true, 30000);
	jobq *b = instance(url, "b", false, 30000);

	uint64_t id = submit_ok(b, NULL, NULL);
	struct job *j = take_id(a, id);

	REQUIRE(pgtest_down() == 0);
	for (int i = 0; i < 100 && !refused; i++) {
		int rv = submit(a, NULL, NULL, &t);
		if (rv == JOBD_UNAVAILABLE)
			refused = true;
		else if (rv == JOBD_OK && tw_wait(&t, 20000))
			refused = t.status == JOBD_UNAVAILABLE;
		tw_fini(&t);
		if (!refused)
			usleep(100000);
	}
	CHECK(refused);
	struct jobrec r = {0};
	CHECK_EQ_INT(a->ops->get_live(a, id, &r), JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_RUNNING);
	jobrec_clear(&r);
	a->ops->finish(a, j, JOBD_RUN_OK, NULL, 0, NULL);

	REQUIRE(pgtest_up() == 0);
	uint64_t id2 = 0;
	for (int i = 0; i < 300 && !back; i++) {
		int rv = submit(a, "after-restart", NULL, &t);
		if (rv == JOBD_OK && tw_wait(&t, 20000) &&
		    t.status == JOBD_OK) {
			back = true;
			id2 = t.rec.id;
		}
		tw_fini(&t);
		if (!back)
			usleep(100000);
	}
	CHECK(back);
	CHECK(id2 > id);
	/* the end kept across the outage is written */
	tw_init(&t, 0);
	REQUIRE(b->ops->wait(b, id, &t.w) == JOBD_OK);
	REQUIRE(tw_wait(&t, 30000));
	CHECK_EQ_INT(t.status, JOBD_OK);
	CHECK_EQ_INT(t.rec.state, JOB_SUCCEEDED);
	tw_fini(&t);

	finish_instance(a);
	finish_instance(b);
}

struct pdone {
	pthread_mutex_t mtx;
	bool done;
	int status;
};

static void
pause_done(void *arg, int status, const char *msg)
{
	struct pdone *p = arg;
	(void) msg;
	pthread_mutex_lock(&p->mtx);
	p->done = true;
	p->status = status;
	pthread_mutex_unlock(&p->mtx);
}

static int
tick_seen(const char *name, int64_t at, uint64_t job_id, void *arg)
{
	int *seen = arg;
	if (strcmp(name, "nightly") == 0 && at == 1234 && job_id == 7)
		(*seen)++;
	return 0;
}

/* Pause on one instance holds the kind on every one; Retry puts a failed
 * job back; a schedule's firing is recorded for all; one leader. */
static void
test_control(void)
{
	char url[400], err[300];
	struct pdone pd = {PTHREAD_MUTEX_INITIALIZER, false, 0};
	struct tw t;
	bool changed = false, seen_b = false;

	database("t_control", url, sizeof(url));
	jobq *a = instance(url, "a", false, 30000);
	jobq *b = instance(url, "b", false, 30000);

	REQUIRE(a->ops->pause(a, "t", true, &changed, pause_done, &pd) ==
	        JOBD_OK);
	CHECK(changed);
	CHECK(a->ops->paused(a, "t"));
	for (int i = 0; i < 100 && !seen_b; i++) {
		seen_b = b->ops->paused(b, "t"); /* at b's next poll */
		if (!seen_b)
			usleep(100000);
	}
	CHECK(seen_b);
	pthread_mutex_lock(&pd.mtx);
	CHECK(pd.done && pd.status == JOBD_OK);
	pthread_mutex_unlock(&pd.mtx);
	/* b pauses it again: not a change, as the database says (whatever
	 * b's own cache knew) */
	struct pdone pd2 = {PTHREAD_MUTEX_INITIALIZER, false, 0};
	bool changed2 = true, done2 = false;
	REQUIRE(b->ops->pause(b, "t", true, &changed2, pause_done, &pd2) ==
	        JOBD_OK);
	for (int i = 0; i < 200 && !done2; i++) {
		pthread_mutex_lock(&pd2.mtx);
		done2 = pd2.done;
		pthread_mutex_unlock(&pd2.mtx);
		if (!done2)
			usleep(50000);
	}
	CHECK(done2);
	CHECK(!changed2);
	char **names = NULL;
	size_t n = 0;
	CHECK_EQ_INT(b->ops->paused_kinds(b, &names, &n), JOBD_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_STR(names[0], "t");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);

	/* paused: a, given the kind, claims nothing */
	uint64_t id = submit_ok(b, NULL, NULL);
	a->ops->set_kinds(a, all_t);
	usleep(1500000);
	struct jobrec r = {0};
	CHECK_EQ_INT(a->ops->get_live(a, id, &r), JOBD_NOT_FOUND);
	/* resumed: it runs; it fails for good; a Retry puts it back */
	pthread_mutex_lock(&pd.mtx);
	pd.done = false;
	pthread_mutex_unlock(&pd.mtx);
	changed = false;
	REQUIRE(b->ops->pause(b, "t", false, &changed, pause_done, &pd) ==
	        JOBD_OK);
	struct job *j = take_id(a, id);
	bool resumed = false;
	for (int i = 0; i < 200 && !resumed; i++) {
		pthread_mutex_lock(&pd.mtx);
		resumed = pd.done;
		CHECK(!pd.done || pd.status == JOBD_OK);
		pthread_mutex_unlock(&pd.mtx);
		if (!resumed)
			usleep(50000);
	}
	CHECK(resumed);
	CHECK(changed);
	a->ops->finish(a, j, JOBD_RUN_FAILED_FINAL, NULL, 0, "broken");
	tw_init(&t, 0);
	REQUIRE(b->ops->wait(b, id, &t.w) == JOBD_OK);
	REQUIRE(tw_wait(&t, 20000));
	CHECK_EQ_INT(t.rec.state, JOB_FAILED);
	REQUIRE(b->ops->lookup(b, id, &r, err, sizeof(err)) == JOBD_OK);
	tw_fini(&t);
	kindset *none = kindset_new(); /* a runs nothing again */
	a->ops->set_kinds(a, none);
	kindset_unref(none);
	tw_init(&t, 0);
	REQUIRE(b->ops->rerun(b, &r, NULL, 0, &t.w, err, sizeof(err)) ==
	        JOBD_OK);
	jobrec_clear(&r);
	REQUIRE(tw_wait(&t, 20000));
	CHECK_EQ_INT(t.status, JOBD_OK);
	CHECK_EQ_INT(t.rec.state, JOB_QUEUED);
	CHECK_EQ_INT(t.rec.reruns, 1);
	tw_fini(&t);
	REQUIRE(b->ops->lookup(b, id, &r, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_QUEUED);
	CHECK_EQ_INT(r.nhistory, 1);
	jobrec_clear(&r);

	/* a firing recorded on a is seen from b */
	a->ops->tick(a, "nightly", 1234, 7);
	int seen = 0;
	for (int i = 0; i < 100 && seen == 0; i++) {
		CHECK_EQ_INT(
		    b->ops->ticks_load(b, tick_seen, &seen, err, sizeof(err)),
		    JOBD_OK);
		if (seen == 0)
			usleep(50000);
	}
	CHECK_EQ_INT(seen, 1);

	/* exactly one leads (a started first: within a few seconds) */
	bool one = false;
	for (int i = 0; i < 100 && !one; i++) {
		one = a->ops->leads(a) != b->ops->leads(b);
		if (!one)
			usleep(100000);
	}
	CHECK(one);

	finish_instance(a);
	finish_instance(b);
}

TEST_MAIN({"submit_keys", test_submit_keys}, {"wait_across", test_wait_across},
          {"cancel_remote", test_cancel_remote},
          {"lease_rescue", test_lease_rescue}, {"control", test_control},
          {"db_down", test_db_down})

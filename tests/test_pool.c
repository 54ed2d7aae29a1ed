/*
 * Tests of the scheduler and the worker pool together, on a real database:
 * priority order, FIFO within a priority, cancellation of queued and running
 * jobs, timeouts, retries with backoff, Wait deadlines, backpressure, and
 * the shutdown path that re-queues interrupted jobs.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "schedenv.h"
#include "test.h"

/* A waiter the test can block on. */
struct twait {
	struct waiter w;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int fired;
	int status;
	struct jobrec job;
};

static void
twait_fire(struct waiter *w, int status, const struct jobrec *job,
           uint64_t existing, const char *msg)
{
	struct twait *t = (struct twait *) w;
	(void) existing;
	(void) msg;
	pthread_mutex_lock(&t->mtx);
	t->status = status;
	jobrec_clear(&t->job);
	if (job != NULL)
		(void) jobrec_copy(&t->job, job);
	t->fired = 1;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mtx);
}

static struct twait *
twait_new(int until, int64_t deadline)
{
	struct twait *t = calloc(1, sizeof(*t));
	t->w.until = until;
	t->w.deadline = deadline;
	t->w.fire = twait_fire;
	pthread_mutex_init(&t->mtx, NULL);
	pthread_cond_init(&t->cv, NULL);
	return t;
}

/* Waits up to 10 s for t to fire; returns its status. */
static int
twait_get(struct twait *t)
{
	int64_t until = sched_mono_ms() + 10000;
	pthread_mutex_lock(&t->mtx);
	while (!t->fired && sched_mono_ms() < until) {
		pthread_mutex_unlock(&t->mtx);
		usleep(1000);
		pthread_mutex_lock(&t->mtx);
	}
	int st = t->fired ? t->status : -1;
	pthread_mutex_unlock(&t->mtx);
	return st;
}

static void
twait_free(struct twait *t)
{
	jobrec_clear(&t->job);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mtx);
	free(t);
}

static void
env_start_cfg(struct env *e, const struct sched_config *cfg)
{
	env_dir(e, "jobd-test-pool");
	env_open(e, cfg, NULL);
}

static void
env_start(struct env *e, uint32_t workers, uint64_t max_queue)
{
	struct sched_config cfg = {workers, max_queue, 20, 0, 0};
	env_start_cfg(e, &cfg);
}

/* Submits r (cleared) and waits for its commit; the id, 0 on failure. */
static uint64_t
submit_rec(struct env *e, struct jobrec *r)
{
	struct twait *t = twait_new(WAIT_COMMIT, 0);
	char err[256];
	uint64_t id = 0;

	if (sched_submit(e->s, r, kindset_find(e->ks, r->kind), &t->w, err,
	                 sizeof(err)) == JOBD_OK &&
	    twait_get(t) == JOBD_OK)
		id = t->job.id;
	jobrec_clear(r);
	twait_free(t);
	return id;
}

/* Submits kind with one parameter; returns the id (0 on failure). */
static uint64_t
submit(struct env *e, const char *kind, const char *pname, const char *pval,
       int32_t prio, uint32_t max_attempts, uint32_t timeout_ms)
{
	struct jobrec r = env_rec(kind, pname, pval, max_attempts);
	r.priority = prio;
	r.timeout_ms = timeout_ms;
	return submit_rec(e, &r);
}

/* Submits kind with one parameter and input bytes; returns the id. */
static uint64_t
submit_input(struct env *e, const char *kind, const char *pname,
             const char *pval, const char *input, uint32_t max_attempts)
{
	struct jobrec r = env_rec(kind, pname, pval, max_attempts);
	r.input = (uint8_t *) strdup(input);
	r.input_len = strlen(input);
	return submit_rec(e, &r);
}

/* Runs sql on the database behind the scheduler's back. */
static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Waits for job id to end; returns its final record in *out. */
static int
wait_end(struct env *e, uint64_t id, struct jobrec *out)
{
	struct twait *t = twait_new(WAIT_END, 0);
	int rv = sched_wait(e->s, id, &t->w);
	if (rv == JOBD_OK) {
		rv = twait_get(t);
		*out = t->job;
		memset(&t->job, 0, sizeof(t->job));
		twait_free(t);
		return rv;
	}
	twait_free(t);
	/* already ended and gone from memory: read the database */
	store *db;
	char err[256];
	if (store_open(&db, e->db, err, sizeof(err)) != JOBD_OK)
		return -1;
	rv = store_get(db, id, 0, out);
	store_close(db);
	return rv;
}

/* Cancels live job id and waits for it to end; its final record in *out. */
static int
cancel_end(struct env *e, uint64_t id, struct jobrec *out)
{
	struct twait *t = twait_new(WAIT_END, 0);
	int rv = sched_cancel(e->s, id, &t->w);
	if (rv == JOBD_OK) {
		rv = twait_get(t);
		*out = t->job;
		memset(&t->job, 0, sizeof(t->job));
	}
	twait_free(t);
	return rv;
}

static void
test_priority_order(void)
{
	struct env e;
	struct jobrec r[4] = {{0}};
	uint64_t ids[4];

	env_start(&e, 1, 0);
	/* occupy the only worker, then queue three priorities */
	uint64_t blocker = submit(&e, "sleep", "ms", "200", 0, 1, 0);
	REQUIRE(blocker != 0);
	usleep(50000);
	ids[0] = submit(&e, "sleep", "ms", "30", 1, 1, 0);
	ids[1] = submit(&e, "sleep", "ms", "30", 5, 1, 0);
	ids[2] = submit(&e, "sleep", "ms", "30", 3, 1, 0);
	ids[3] = submit(&e, "sleep", "ms", "30", 5, 1, 0); /* FIFO after 1 */
	for (int i = 0; i < 4; i++)
		REQUIRE(wait_end(&e, ids[i], &r[i]) == JOBD_OK);
	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT(r[i].state, JOB_SUCCEEDED);
	/* start order: prio 5 (first), prio 5 (second), prio 3, prio 1 */
	CHECK(r[1].started_at <= r[3].started_at);
	CHECK(r[3].started_at <= r[2].started_at);
	CHECK(r[2].started_at <= r[0].started_at);
	CHECK(r[1].started_at + 25 <= r[2].started_at);
	for (int i = 0; i < 4; i++)
		jobrec_clear(&r[i]);
	env_stop(&e);
}

static void
test_cancel_running_and_queued(void)
{
	struct env e;
	struct jobrec r = {0};

	env_start(&e, 1, 0);
	uint64_t running = submit(&e, "count", "n", "100000000000", 0, 1, 0);
	uint64_t queued = submit(&e, "count", "n", "5", 0, 1, 0);
	usleep(50000);
	REQUIRE(sched_get(e.s, running, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_RUNNING);
	jobrec_clear(&r);

	REQUIRE(cancel_end(&e, queued, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_CANCELLED);
	CHECK_EQ_INT(r.attempts, 0); /* never ran */
	jobrec_clear(&r);

	int64_t t0 = sched_mono_ms();
	REQUIRE(cancel_end(&e, running, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_CANCELLED);
	CHECK(sched_mono_ms() - t0 < 2000);
	jobrec_clear(&r);

	/* cancelling it again: it is no longer live */
	struct twait *t3 = twait_new(WAIT_END, 0);
	CHECK_EQ_INT(sched_cancel(e.s, running, &t3->w), JOBD_NOT_FOUND);
	twait_free(t3);
	env_stop(&e);
}

static void
test_timeout(void)
{
	struct env e;
	struct jobrec r = {0};

	env_start(&e, 1, 0);
	uint64_t id = submit(&e, "count", "n", "100000000000", 0, 1, 100);
	REQUIRE(wait_end(&e, id, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_FAILED);
	CHECK(r.error != NULL && strstr(r.error, "timed out") != NULL);
	CHECK(r.finished_at - r.started_at >= 98); /* ms rounding */
	CHECK(r.finished_at - r.started_at < 2000);
	jobrec_clear(&r);
	env_stop(&e);
}

static void
test_retry_then_fail(void)
{
	struct env e;
	struct jobrec r = {0};
	struct sched_stats st;

	env_start(&e, 2, 0);
	int64_t t0 = sched_wall_ms();
	uint64_t id = submit(&e, "fail", "message", "broken", 0, 3, 0);
	REQUIRE(wait_end(&e, id, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_FAILED);
	CHECK_EQ_INT(r.attempts, 3);
	CHECK_EQ_STR(r.error, "broken");
	/* backoff 20 ms, then 40 ms */
	CHECK(r.finished_at - t0 >= 60);
	sched_stats(e.s, &st);
	CHECK_EQ_INT(st.retried, 2);
	CHECK_EQ_INT(st.counts[JOB_FAILED], 1);
	jobrec_clear(&r);
	env_stop(&e);
}

static void
test_wait_deadline(void)
{
	struct env e;
	env_start(&e, 1, 0);
	uint64_t id = submit(&e, "sleep", "ms", "2000", 0, 1, 0);
	struct twait *t = twait_new(WAIT_END, sched_mono_ms() + 100);
	REQUIRE(sched_wait(e.s, id, &t->w) == JOBD_OK);
	int64_t t0 = sched_mono_ms();
	CHECK_EQ_INT(twait_get(t), JOBD_DEADLINE_EXCEEDED);
	CHECK(sched_mono_ms() - t0 < 1500);
	CHECK_EQ_INT(t->job.id, id);
	twait_free(t);
	env_stop(&e);
}

static void
test_backpressure(void)
{
	struct env e;
	struct jobrec r = {0};
	struct twait *t = twait_new(WAIT_COMMIT, 0);
	char err[256];

	env_start(&e, 0, 2); /* no workers: everything stays queued */
	CHECK(submit(&e, "count", "n", "1", 0, 1, 0) != 0);
	CHECK(submit(&e, "count", "n", "1", 0, 1, 0) != 0);
	r.kind = strdup("count");
	CHECK_EQ_INT(sched_submit(e.s, &r, kindset_find(e.ks, "count"), &t->w,
	                          err, sizeof(err)),
	             JOBD_RESOURCE_EXHAUSTED);
	CHECK(strstr(err, "queue is full") != NULL);
	jobrec_clear(&r);
	twait_free(t);
	env_stop(&e);
}

static void
test_shutdown_requeues(void)
{
	struct env e;
	struct jobrec r = {0};
	char err[256];
	store *db;

	env_start(&e, 1, 0);
	uint64_t id = submit(&e, "count", "n", "100000000000", 0, 1, 0);
	usleep(50000);
	sched_drain(e.s, 10); /* grace over at once: the job is stopped */
	pool_stop(e.p);
	writer_stop(e.w);
	sched_destroy(e.s);
	e.q->ops->destroy(e.q);
	kindset_unref(e.ks);
	REQUIRE(store_open(&db, e.db, err, sizeof(err)) == JOBD_OK);
	REQUIRE(store_get(db, id, 0, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_QUEUED);
	CHECK_EQ_INT(r.attempts, 0); /* not the job's fault */
	jobrec_clear(&r);
	store_close(db);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e.dir);
	CHECK(system(cmd) == 0);
}

static void
test_idempotent_live(void)
{
	struct env e;
	char err[256];
	env_start(&e, 0, 0);
	uint64_t ids[2];
	for (int i = 0; i < 2; i++) {
		struct jobrec r = {0};
		struct twait *t = twait_new(WAIT_COMMIT, 0);
		r.kind = strdup("count");
		r.idem_key = strdup("same-key");
		r.max_attempts = 1;
		REQUIRE(sched_submit(e.s, &r, kindset_find(e.ks, "count"),
		                     &t->w, err, sizeof(err)) == JOBD_OK);
		CHECK_EQ_INT(twait_get(t), JOBD_OK);
		ids[i] = t->job.id;
		jobrec_clear(&r);
		twait_free(t);
	}
	CHECK(ids[0] != 0);
	CHECK_EQ_INT(ids[0], ids[1]);
	struct sched_stats st;
	sched_stats(e.s, &st);
	CHECK_EQ_INT(st.submitted, 1);
	env_stop(&e);
}

/*
 * With no backoff a failed attempt goes back to the run queue and another
 * worker may take it, run it and end it at once. The writes of the job must
 * still reach the disk in the order they were made: a re-queue that came
 * late would overwrite the job's end, leaving it `queued` on disk and gone
 * from memory (found by test_stress).
 */
static void
test_retry_writes_in_order(void)
{
	enum { N = 1000 };
	struct sched_config cfg = {4, 0, 0, 0, 0};
	static uint64_t ids[N];
	uint64_t counts[JOB_STATE_MAX + 1];
	char err[256], cmd[128];
	struct env e;
	store *db;
	int ended_failed = 0;

	log_set_level(LOG_WARN); /* not a line per failed job */
	env_start_cfg(&e, &cfg);
	for (int i = 0; i < N; i++) {
		struct jobrec r = {0};
		struct twait *t = twait_new(WAIT_COMMIT, 0);
		r.kind = strdup("fail");
		r.max_attempts = 3;
		REQUIRE(sched_submit(e.s, &r, kindset_find(e.ks, "fail"), &t->w,
		                     err, sizeof(err)) == JOBD_OK);
		REQUIRE(twait_get(t) == JOBD_OK);
		ids[i] = t->job.id;
		twait_free(t);
	}
	for (int i = 0; i < N; i++) {
		struct jobrec r = {0};
		if (wait_end(&e, ids[i], &r) == JOBD_OK &&
		    r.state == JOB_FAILED && r.attempts == 3)
			ended_failed++;
		jobrec_clear(&r);
	}
	CHECK_EQ_INT(ended_failed, N);
	sched_drain(e.s, 0);
	pool_stop(e.p);
	writer_stop(e.w);
	sched_destroy(e.s);
	e.q->ops->destroy(e.q);
	kindset_unref(e.ks);
	REQUIRE(store_open(&db, e.db, err, sizeof(err)) == JOBD_OK);
	REQUIRE(store_counts(db, counts) == JOBD_OK);
	CHECK_EQ_INT(counts[JOB_FAILED], N);
	CHECK_EQ_INT(counts[JOB_QUEUED], 0);
	CHECK_EQ_INT(counts[JOB_RUNNING], 0);
	store_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e.dir);
	CHECK(system(cmd) == 0);
	log_set_level(LOG_INFO);
}

/* A queued job keeps no input in memory: Get still tells its length, and
 * the worker that runs it reads the bytes from the database. */
static void
test_input_from_database(void)
{
	struct env e;
	struct jobrec r = {0};
	char err[256];

	env_start(&e, 0, 0);
	uint64_t id = submit_input(&e, "sha256", "rounds", "1", "abc", 1);
	REQUIRE(id != 0);
	REQUIRE(sched_get(e.s, id, &r) == JOBD_OK);
	CHECK_EQ_INT(r.input_len, 3);
	CHECK(r.input == NULL);
	CHECK_EQ_STR(r.kind, "sha256");
	CHECK(r.nparams == 1 && strcmp(r.params[0].value, "1") == 0);
	jobrec_clear(&r);
	REQUIRE(pool_start(&e.p, e.q, 1, err, sizeof(err)) == JOBD_OK);
	REQUIRE(wait_end(&e, id, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_SUCCEEDED);
	CHECK_EQ_INT(r.input_len, 3);
	CHECK(r.result_len == 64 &&
	      memcmp(r.result,
	             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f"
	             "20015ad",
	             64) == 0);
	jobrec_clear(&r);
	env_stop(&e);
}

/* An input lost from the database is damage the checksum shows: the job
 * fails at once and says so, not run without its input, and not retried
 * (a retry would read the same row). */
static void
test_input_unreadable(void)
{
	struct env e;
	struct jobrec r = {0};
	char err[256], sql[128], want[128];

	log_set_level(LOG_WARN);
	env_start(&e, 0, 0);
	uint64_t id = submit_input(&e, "sha256", "rounds", "1", "abc", 2);
	REQUIRE(id != 0);
	snprintf(sql, sizeof(sql),
	         "UPDATE jobs SET input = NULL WHERE id = %llu",
	         (unsigned long long) id);
	raw_exec(e.db, sql);
	REQUIRE(pool_start(&e.p, e.q, 1, err, sizeof(err)) == JOBD_OK);
	REQUIRE(wait_end(&e, id, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_FAILED);
	CHECK_EQ_INT(r.attempts, 1);
	snprintf(want, sizeof(want),
	         "the stored input of job %llu is damaged (checksum "
	         "mismatch): not run",
	         (unsigned long long) id);
	CHECK(r.error != NULL && strcmp(r.error, want) == 0);
	CHECK(r.result == NULL);
	jobrec_clear(&r);
	env_stop(&e);
	log_set_level(LOG_INFO);
}

/* Inserts job `id` into db as `state`. */
static void
put_job(store *db, uint64_t id, int state, const char *kind, const char *n,
        int32_t prio)
{
	struct job_param p = {
	    (char *) (strcmp(kind, "fail") == 0 ? "message" : "n"), (char *) n};
	char key[32];
	struct jobrec r = {0};

	snprintf(key, sizeof(key), "k%llu", (unsigned long long) id);
	r.id = id;
	r.kind = (char *) kind;
	r.params = &p;
	r.nparams = 1;
	r.priority = prio;
	r.state = state;
	r.max_attempts = 1;
	r.created_at = 1000 + (int64_t) id;
	r.idem_key = key;
	REQUIRE(store_insert(db, &r) == JOBD_OK);
}

/*
 * Start-up with enough queued jobs to be read in two threads: every one
 * comes back with its fields, in priority order across the two halves;
 * the ones this jobd cannot run are failed on disk instead; traces of an
 * earlier attempt are kept; keys still find their jobs.
 */
static void
test_load(void)
{
	enum { N = 12000 };
	struct sched_config cfg = {0, 0, 20, 0, 0};
	struct sched_stats st;
	struct store_filter f = {0};
	struct jobrec r = {0}, *v = NULL;
	struct sched_work w;
	char err[256], num[24];
	uint64_t recovered;
	struct env e;
	size_t n;
	store *db;

	env_dir(&e, "jobd-test-pool");
	REQUIRE(store_open(&db, e.db, err, sizeof(err)) == JOBD_OK);
	REQUIRE(store_begin(db) == JOBD_OK);
	for (uint64_t id = 1; id <= N; id++) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long) id);
		put_job(db, id, JOB_QUEUED, "count", num,
		        id == 100     ? 8
		        : id == 11000 ? 9
		                      : 0);
	}
	put_job(db, N + 1, JOB_QUEUED, "nope", "1", 0);
	put_job(db, N + 2, JOB_QUEUED, "count", "x", 0);
	put_job(db, N + 3, JOB_QUEUED, "fail", "m", 0);
	put_job(db, N + 4, JOB_RUNNING, "count", "5", 0);
	put_job(db, N + 5, JOB_SUCCEEDED, "count", "5", 0);
	r.id = N + 3;
	r.state = JOB_QUEUED;
	r.attempts = 1;
	r.progress_done = 5;
	r.progress_total = 10;
	r.error = "earlier";
	r.started_at = 1234;
	r.not_before = 1; /* long past */
	REQUIRE(store_update(db, &r) == JOBD_OK);
	REQUIRE(store_commit(db) == JOBD_OK);
	store_close(db);

	log_set_level(LOG_ERROR);
	env_open(&e, &cfg, &recovered);
	log_set_level(LOG_INFO);
	CHECK_EQ_INT(recovered, 1);
	sched_stats(e.s, &st);
	/* a kind not defined, parameters its kind refuses: they wait, and
	 * are counted */
	CHECK_EQ_INT(st.counts[JOB_QUEUED], N + 4);
	CHECK_EQ_INT(st.counts[JOB_FAILED], 0);
	CHECK_EQ_INT(st.waiting_kind, 1);
	CHECK_EQ_INT(st.counts[JOB_SUCCEEDED], 1);

	/* a job from each half, with all it had */
	for (uint64_t id = 2; id <= N; id += N - 3) {
		REQUIRE(sched_get(e.s, id, &r) == JOBD_OK);
		snprintf(num, sizeof(num), "%llu", (unsigned long long) id);
		CHECK_EQ_INT(r.state, JOB_QUEUED);
		CHECK_EQ_STR(r.kind, "count");
		CHECK(r.nparams == 1 && strcmp(r.params[0].name, "n") == 0 &&
		      strcmp(r.params[0].value, num) == 0);
		CHECK(r.idem_key != NULL && strcmp(r.idem_key + 1, num) == 0);
		CHECK_EQ_INT(r.created_at, 1000 + (int64_t) id);
		CHECK_EQ_INT(r.max_attempts, 1);
		jobrec_clear(&r);
	}
	REQUIRE(sched_get(e.s, N + 3, &r) == JOBD_OK);
	CHECK_EQ_STR(r.error, "earlier");
	CHECK_EQ_INT(r.attempts, 1);
	CHECK_EQ_INT(r.started_at, 1234);
	CHECK(r.progress_done == 5 && r.progress_total == 10);
	jobrec_clear(&r);
	REQUIRE(sched_get(e.s, N + 4, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_QUEUED);
	jobrec_clear(&r);

	/* queued in memory, the one of a kind not defined saying why */
	REQUIRE(sched_get(e.s, N + 1, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_QUEUED);
	CHECK_EQ_STR(r.kind, "nope");
	CHECK_EQ_INT(r.waiting, JOB_WAIT_KIND_UNDEFINED);
	jobrec_clear(&r);
	REQUIRE(sched_get(e.s, N + 2, &r) == JOBD_OK);
	CHECK_EQ_INT(r.state, JOB_QUEUED);
	CHECK_EQ_INT(r.waiting, JOB_WAIT_NONE);
	jobrec_clear(&r);

	/* the same key again finds the loaded job */
	struct twait *t = twait_new(WAIT_COMMIT, 0);
	r.kind = strdup("count");
	r.idem_key = strdup("k11999");
	REQUIRE(sched_submit(e.s, &r, kindset_find(e.ks, "count"), &t->w, err,
	                     sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(twait_get(t), JOBD_OK);
	CHECK_EQ_INT(t->job.id, 11999);
	twait_free(t);
	jobrec_clear(&r);

	/* newest first, a page at a time */
	f.state = JOB_QUEUED;
	f.limit = 3;
	REQUIRE(sched_list(e.s, &f, &v, &n) == JOBD_OK);
	REQUIRE(n == 3);
	CHECK(v[0].id == N + 4 && v[1].id == N + 3 && v[2].id == N + 2);
	for (size_t i = 0; i < n; i++)
		jobrec_clear(&v[i]);
	free(v);
	f.before = 5;
	f.limit = 10;
	REQUIRE(sched_list(e.s, &f, &v, &n) == JOBD_OK);
	REQUIRE(n == 4);
	CHECK(v[0].id == 4 && v[3].id == 1);
	for (size_t i = 0; i < n; i++)
		jobrec_clear(&v[i]);
	free(v);

	/* priority first, whichever half a job was read in; then FIFO */
	static const uint64_t order[] = {11000, 100, 1, 2};
	for (size_t i = 0; i < 4; i++) {
		struct job *j = sched_take(e.s);
		REQUIRE(j != NULL);
		sched_job_work(j, &w);
		CHECK_EQ_INT(w.id, order[i]);
		snprintf(num, sizeof(num), "%llu", (unsigned long long) w.id);
		CHECK(w.nparams == 1 && strcmp(w.params[0].value, num) == 0);
		CHECK_EQ_STR(w.kind->k->name, "count");
		CHECK_EQ_INT(w.input_len, 0);
		sched_finish(e.s, j, JOBD_RUN_OK, NULL, 0, NULL);
	}
	env_stop(&e);
}

static double
cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double) ru.ru_utime.tv_sec + (double) ru.ru_stime.tv_sec +
	       ((double) ru.ru_utime.tv_usec + (double) ru.ru_stime.tv_usec) /
	           1e6;
}

/* An idle scheduler sleeps: no thread spins, past the first purge time
 * (2 s) too. */
static void
test_idle_sleeps(void)
{
	struct env e;
	env_start(&e, 2, 0);
	double c0 = cpu_seconds();
	usleep(2500000);
	double used = cpu_seconds() - c0;
	CHECK(used < 0.25);
	/* and it still answers */
	CHECK(submit(&e, "count", "n", "1", 0, 1, 0) != 0);
	env_stop(&e);
}

TEST_MAIN({"priority_order", test_priority_order},
          {"cancel_running_and_queued", test_cancel_running_and_queued},
          {"timeout", test_timeout}, {"retry_then_fail", test_retry_then_fail},
          {"wait_deadline", test_wait_deadline},
          {"backpressure", test_backpressure},
          {"shutdown_requeues", test_shutdown_requeues},
          {"idempotent_live", test_idempotent_live},
          {"idle_sleeps", test_idle_sleeps},
          {"input_from_database", test_input_from_database},
          {"input_unreadable", test_input_unreadable}, {"load", test_load},
          {"retry_writes_in_order", test_retry_writes_in_order})

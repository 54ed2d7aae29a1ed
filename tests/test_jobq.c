/*
 * Tests of the job-queue interface (jobq.h): which queue a --db value
 * names, and the local queue through its table of functions alone, on a
 * real database, as the daemon drives it: open, kinds, start, Submit,
 * a worker's take/read_input/finish, Wait, the reads, the ticks, a
 * restart that finds its jobs, and the stop.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobq.h"
#include "log.h"
#include "test.h"

/* A waiter the test can block on. */
struct twait {
	struct waiter w;
	pthread_mutex_t mtx;
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
	pthread_mutex_unlock(&t->mtx);
}

static void
twait_init(struct twait *t, int until)
{
	memset(t, 0, sizeof(*t));
	t->w.until = until;
	t->w.fire = twait_fire;
	pthread_mutex_init(&t->mtx, NULL);
}

/* Waits up to 10 s for t to fire; returns its status, -1 if it did not. */
static int
twait_get(struct twait *t)
{
	int64_t until = sched_mono_ms() + 10000;
	int st;

	pthread_mutex_lock(&t->mtx);
	while (!t->fired && sched_mono_ms() < until) {
		pthread_mutex_unlock(&t->mtx);
		usleep(1000);
		pthread_mutex_lock(&t->mtx);
	}
	st = t->fired ? t->status : -1;
	pthread_mutex_unlock(&t->mtx);
	return st;
}

static void
twait_fini(struct twait *t)
{
	jobrec_clear(&t->job);
	pthread_mutex_destroy(&t->mtx);
}

static void
test_file(void)
{
	CHECK_EQ_STR(jobq_file("jobd.db"), "jobd.db");
	CHECK_EQ_STR(jobq_file("/var/lib/jobd/jobd.db"),
	             "/var/lib/jobd/jobd.db");
	CHECK_EQ_STR(jobq_file("sqlite:/tmp/x.db"), "/tmp/x.db");
	CHECK_EQ_STR(jobq_file("sqlite:rel.db"), "rel.db");
	/* a colon in a plain path is a path, as --db always took it */
	CHECK_EQ_STR(jobq_file("a:b.db"), "a:b.db");
	CHECK(jobq_file("postgresql://jobd@db1/jobd") == NULL);
	CHECK(jobq_file("postgres://db1/jobd") == NULL);
	CHECK(jobq_file("mysql://db1/jobd") == NULL);
}

static void
test_redact(void)
{
	char b[128];

	jobq_redact("postgresql://jobd:secret@db1:5432/jobd", b, sizeof(b));
	CHECK_EQ_STR(b, "postgresql://jobd:***@db1:5432/jobd");
	jobq_redact("postgresql://jobd@db1/jobd", b, sizeof(b));
	CHECK_EQ_STR(b, "postgresql://jobd@db1/jobd");
	jobq_redact("/tmp/x.db", b, sizeof(b));
	CHECK_EQ_STR(b, "/tmp/x.db");
}

static void
test_open_refused(void)
{
	struct jobq_config cfg = {0};
	char err[256];
	jobq *q = NULL;

	cfg.db = "mysql://db1/jobd";
	CHECK_EQ_INT(jobq_open(&q, &cfg, err, sizeof(err)),
	             JOBD_INVALID_ARGUMENT);
	CHECK(q == NULL);
	CHECK(strstr(err, "unknown scheme 'mysql:'") != NULL);
	cfg.db = "sqlite:";
	CHECK_EQ_INT(jobq_open(&q, &cfg, err, sizeof(err)),
	             JOBD_INVALID_ARGUMENT);
	CHECK(strstr(err, "names no file") != NULL);
#ifndef JOBD_HAVE_PG
	cfg.db = "postgresql://jobd:secret@db1/jobd";
	CHECK_EQ_INT(jobq_open(&q, &cfg, err, sizeof(err)), JOBD_UNIMPLEMENTED);
	CHECK(strstr(err, "built without PostgreSQL") != NULL);
	CHECK(strstr(err, "secret") == NULL);
#endif
}

struct tickseen {
	int n;
	int64_t at;
};

static int
tick_row(const char *name, int64_t at, uint64_t job_id, void *arg)
{
	struct tickseen *t = arg;
	(void) job_id;
	if (strcmp(name, "nightly") == 0) {
		t->n++;
		t->at = at;
	}
	return 0;
}

/* The local queue through q->ops only: one job end to end, twice
 * started on the same file. */
static void
test_local(void)
{
	char dir[] = "/tmp/jobd-test-jobq-XXXXXX", db[96], cmd[128], err[256];
	struct jobq_config cfg = {0};
	struct jobrec rec = {0}, got = {0}, *v = NULL;
	struct twait sub, end;
	struct sched_work w;
	struct job *j;
	kindset *ks;
	jobq *q;
	uint64_t recovered, floor, id;
	uint8_t *in = NULL;
	size_t n = 0, inlen = 0;
	void *conn = NULL;

	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(db, sizeof(db), "sqlite:%s/jobd.db", dir);
	cfg.db = db;
	cfg.sched.workers = 1;
	cfg.sched.backoff_ms = 1000;
	cfg.commit_hold_ms = 10;
	REQUIRE(kindset_load(&ks, NULL, err, sizeof(err)) == JOBD_OK);

	REQUIRE(jobq_open(&q, &cfg, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_STR(q->ops->name, "sqlite");
	CHECK_EQ_INT(q->ops->abi, JOBQ_ABI);
	CHECK(!q->ops->reads_block);
	q->ops->set_kinds(q, ks);
	REQUIRE(q->ops->start(q, &recovered, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(recovered, 0);
	CHECK(q->ops->leads(q));
	CHECK(!q->ops->failing(q));

	/* Submit: acknowledged once committed */
	rec.kind = strdup("sha256");
	rec.max_attempts = 1;
	rec.idem_key = strdup("k1");
	rec.input = (uint8_t *) strdup("abc");
	rec.input_len = 3;
	kindset *cur = q->ops->kinds(q);
	struct batch_job b = {&rec, kindset_find(cur, "sha256"), &sub.w, NULL,
	                      0};
	twait_init(&sub, WAIT_COMMIT);
	REQUIRE(q->ops->submit_batch(q, &b, 1, err, sizeof(err)) == JOBD_OK);
	kindset_unref(cur);
	REQUIRE(twait_get(&sub) == JOBD_OK);
	id = sub.job.id;
	CHECK(id != 0);
	CHECK(q->ops->get_live(q, id, &got) == JOBD_OK);
	CHECK_EQ_INT(got.state, JOB_QUEUED);
	jobrec_clear(&got);

	/* a worker: take, its input from the database, the end */
	twait_init(&end, WAIT_END);
	REQUIRE(q->ops->wait(q, id, &end.w) == JOBD_OK);
	REQUIRE((j = q->ops->take(q)) != NULL);
	CHECK_EQ_INT(q->ops->job_id(j), id);
	q->ops->mark(q, 0, id);
	q->ops->job_work(j, &w);
	REQUIRE(q->ops->read_input(q, &conn, &w, &in, &inlen, err,
	                           sizeof(err)) == JOBD_OK);
	CHECK(inlen == 3 && memcmp(in, "abc", 3) == 0);
	free(in);
	CHECK_EQ_INT(q->ops->progress(w.progress_arg, 1, 2), 0);
	q->ops->finish(q, j, JOBD_RUN_OK, (uint8_t *) strdup("r"), 1, NULL);
	q->ops->mark(q, 0, 0);
	q->ops->close_conn(q, conn);
	REQUIRE(twait_get(&end) == JOBD_OK);
	CHECK_EQ_INT(end.job.state, JOB_SUCCEEDED);

	/* the reads: from the database once it left memory */
	int64_t until = sched_mono_ms() + 10000;
	int live = 1;
	while (live && sched_mono_ms() < until) {
		int st;
		live = q->ops->is_live(q, id, &st);
		CHECK_EQ_INT(st, JOBD_OK);
		if (live)
			usleep(1000);
	}
	CHECK(!live);
	REQUIRE(q->ops->lookup(q, id, &got, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(got.state, JOB_SUCCEEDED);
	CHECK(got.result_len == 1 && got.result[0] == 'r');
	jobrec_clear(&got);
	REQUIRE(q->ops->find_key(q, "k1", &got, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(got.id, id);
	jobrec_clear(&got);
	CHECK_EQ_INT(q->ops->find_key(q, "k2", &got, err, sizeof(err)),
	             JOBD_NOT_FOUND);
	CHECK_EQ_INT(q->ops->lookup(q, id + 1, &got, err, sizeof(err)),
	             JOBD_NOT_FOUND);
	struct store_filter f = {0, NULL, 0, 10};
	REQUIRE(q->ops->list(q, &f, &v, &n, &floor, err, sizeof(err)) ==
	        JOBD_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(floor, 0);
	CHECK(n == 1 && v[0].id == id && v[0].state == JOB_SUCCEEDED);
	for (size_t i = 0; i < n; i++)
		jobrec_clear(&v[i]);
	free(v);

	q->ops->tick(q, "nightly", 60000, id);
	q->ops->drain(q, 0);
	q->ops->stop(q); /* the tick is committed */
	q->ops->destroy(q);
	twait_fini(&sub);
	twait_fini(&end);

	/* started again: the job and the tick are there */
	REQUIRE(jobq_open(&q, &cfg, err, sizeof(err)) == JOBD_OK);
	q->ops->set_kinds(q, ks);
	REQUIRE(q->ops->start(q, &recovered, err, sizeof(err)) == JOBD_OK);
	REQUIRE(q->ops->lookup(q, id, &got, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(got.state, JOB_SUCCEEDED);
	jobrec_clear(&got);
	struct tickseen seen = {0, 0};
	REQUIRE(q->ops->ticks_load(q, tick_row, &seen, err, sizeof(err)) ==
	        JOBD_OK);
	CHECK_EQ_INT(seen.n, 1);
	CHECK_EQ_INT(seen.at, 60000);
	q->ops->drain(q, 0);
	q->ops->stop(q);
	q->ops->destroy(q);

	kindset_unref(ks);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

TEST_MAIN({"file", test_file}, {"redact", test_redact},
          {"open_refused", test_open_refused}, {"local", test_local})

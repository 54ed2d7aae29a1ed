/*
 * test_pgstore_control: the control calls of the store (storage/postgres):
 * cancel (queued and running, told through a notice), dependents doomed
 * and a job rerun, pausing a kind, the ticks of periodic jobs, purge;
 * notices sent at commit and the one leader among daemons.
 */

#include "test_pgstore.h"

void
test_cancel(void)
{
	const char *url = db_create();
	pgstore *s = open_db(url), *l = open_db(url);
	uint64_t q = add(s, "count", 0), r = add(s, "count", 5), ids[2], req,
	         failed, *ended;
	struct notes nt = {0};
	struct jobrec g = {0};
	bool cancel = false;
	size_t n;
	int st = 0;

	REQUIRE(pgstore_listen(l, PGSTORE_CHAN_CANCEL) == JOBD_OK);
	REQUIRE(claim_ids(s, "A", 1, 1, ids) == 1 && ids[0] == r);

	/* queued: cancelled at once; its kind said */
	char kind[65] = "";
	REQUIRE(pgstore_cancel(s, q, &st, kind, sizeof(kind)) == JOBD_OK);
	CHECK_EQ_INT(st, JOB_CANCELLED);
	CHECK_EQ_STR(kind, "count");
	REQUIRE(pgstore_get(s, q, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.state, JOB_CANCELLED);
	CHECK(g.finished_at > 0);
	jobrec_clear(&g);
	/* ended: its state, and no kind (nothing changed) */
	REQUIRE(pgstore_cancel(s, q, &st, kind, sizeof(kind)) == JOBD_OK);
	CHECK_EQ_INT(st, JOB_CANCELLED);
	CHECK_EQ_STR(kind, "");
	CHECK_EQ_INT(pgstore_cancel(s, 999999, &st, NULL, 0), JOBD_NOT_FOUND);

	/* running: flagged, and its daemon is told */
	REQUIRE(pgstore_cancel(s, r, &st, NULL, 0) == JOBD_OK);
	CHECK_EQ_INT(st, JOB_RUNNING);
	REQUIRE(pgstore_wait(l, 10000, on_note, &nt, &n) == JOBD_OK);
	CHECK_EQ_INT(nt.n, 1);
	CHECK_EQ_STR(nt.channel, PGSTORE_CHAN_CANCEL);
	char want[32];
	snprintf(want, sizeof(want), "%" PRIu64, r);
	CHECK_EQ_STR(nt.payload, want);
	CHECK_EQ_INT(pgstore_progress(s, "A", r, 1, 2, &cancel), JOBD_OK);
	CHECK(cancel);

	/* its daemon dies: the rescue ends it cancelled, not re-run */
	REQUIRE(pgstore_get(s, r, 0, &g) == JOBD_OK);
	wait_server_past(s, g.started_at + 1);
	jobrec_clear(&g);
	REQUIRE(pgstore_rescue(s, 0, &req, &failed, &ended, &n, NULL, NULL) ==
	        JOBD_OK);
	CHECK_EQ_INT(failed, 1);
	CHECK_EQ_INT(n, 1);
	free(ended);
	CHECK_EQ_INT(state_of(s, r), JOB_CANCELLED);
	pgstore_close(l);
	pgstore_close(s);
	db_drop();
}

/* pgstore_doom's fn: counts the kinds that are "count" */
static void
kinds_counted(const char *kind, void *arg)
{
	if (strcmp(kind, "count") == 0)
		(*(int *) arg)++;
}

void
test_doom_rerun(void)
{
	pgstore *s = open_db(db_create());
	uint64_t a = add(s, "count", 0), b, c, ids[2], *doomed;
	struct jobrec r, g = {0};
	size_t n;

	mkjob(&r, "count", 0);
	r.after = &a;
	r.nafter = 1;
	b = insert1(s, &r);
	r.after = &b;
	c = insert1(s, &r);
	REQUIRE(pgstore_doom(s, &doomed, &n, NULL, NULL) == JOBD_OK);
	CHECK_EQ_INT(n, 0);
	REQUIRE(claim_ids(s, "A", 60000, 2, ids) == 1 && ids[0] == a);
	CHECK_EQ_INT(end_job(s, "A", a, JOB_FAILED), JOBD_OK);
	/* a failed: b is cancelled, then c */
	int kinds = 0;
	REQUIRE(pgstore_doom(s, &doomed, &n, kinds_counted, &kinds) == JOBD_OK);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(kinds, 2); /* each "count" */
	free(doomed);
	REQUIRE(pgstore_get(s, b, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.state, JOB_CANCELLED);
	char want[64];
	snprintf(want, sizeof(want), "job %" PRIu64 " failed", a);
	CHECK_EQ_STR(g.error, want);
	jobrec_clear(&g);
	REQUIRE(pgstore_get(s, c, 0, &g) == JOBD_OK);
	snprintf(want, sizeof(want), "job %" PRIu64 " was cancelled", b);
	CHECK_EQ_STR(g.error, want);
	jobrec_clear(&g);

	/* Retry of a: a new run, the failed one in its history */
	REQUIRE(pgstore_rerun(s, a, 0, NULL, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.state, JOB_QUEUED);
	CHECK_EQ_INT(g.reruns, 1);
	CHECK_EQ_INT(g.attempts, 0);
	CHECK(g.error == NULL);
	CHECK_EQ_INT(g.nhistory, 1);
	if (g.nhistory == 1) {
		CHECK_EQ_INT(g.history[0].state, JOB_FAILED);
		CHECK_EQ_STR(g.history[0].error, "boom");
		CHECK_EQ_INT(g.history[0].attempts, 1);
	}
	jobrec_clear(&g);
	/* a queued job cannot be retried */
	CHECK_EQ_INT(pgstore_rerun(s, a, 0, NULL, 0, NULL),
	             JOBD_FAILED_PRECONDITION);
	/* b again, after a (live now) */
	REQUIRE(pgstore_rerun(s, b, 0, &a, 1, NULL) == JOBD_OK);
	REQUIRE(claim_ids(s, "A", 60000, 2, ids) == 1 && ids[0] == a);
	CHECK_EQ_INT(end_job(s, "A", a, JOB_SUCCEEDED), JOBD_OK);
	REQUIRE(claim_ids(s, "A", 60000, 2, ids) == 1 && ids[0] == b);
	CHECK_EQ_INT(end_job(s, "A", b, JOB_SUCCEEDED), JOBD_OK);
	REQUIRE(pgstore_get(s, a, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.nhistory, 1);
	CHECK_EQ_INT(g.state, JOB_SUCCEEDED);
	jobrec_clear(&g);
	pgstore_close(s);
	db_drop();
}

static int
load_kind(const char *kind, void *arg)
{
	snprintf(arg, 32, "%s", kind);
	return 0;
}

struct tick {
	char name[32];
	int64_t at;
	uint64_t job;
	int n;
};

static int
load_tick(const char *name, int64_t at, uint64_t job, void *arg)
{
	struct tick *t = arg;

	snprintf(t->name, sizeof(t->name), "%s", name);
	t->at = at;
	t->job = job;
	t->n++;
	return 0;
}

void
test_pause_ticks_purge(void)
{
	pgstore *s = open_db(db_create());
	char kind[32] = "";
	struct tick t = {0};
	bool changed = false;
	uint64_t ids[8], n = 0;
	int64_t now;

	REQUIRE(pgstore_set_paused(s, "primes", true, 0, &changed) == JOBD_OK);
	CHECK(changed);
	REQUIRE(pgstore_set_paused(s, "primes", true, 0, &changed) == JOBD_OK);
	CHECK(!changed);
	REQUIRE(pgstore_paused_load(s, load_kind, kind) == JOBD_OK);
	CHECK_EQ_STR(kind, "primes");
	REQUIRE(pgstore_set_paused(s, "primes", false, 0, &changed) == JOBD_OK);
	CHECK(changed);
	REQUIRE(pgstore_set_paused(s, "primes", false, 0, &changed) == JOBD_OK);
	CHECK(!changed);

	REQUIRE(pgstore_set_tick(s, "nightly", 2000, 7) == JOBD_OK);
	REQUIRE(pgstore_set_tick(s, "nightly", 1000, 8) == JOBD_OK);
	REQUIRE(pgstore_ticks_load(s, load_tick, &t) == JOBD_OK);
	CHECK_EQ_INT(t.n, 1);
	CHECK_EQ_STR(t.name, "nightly");
	CHECK_EQ_INT(t.at, 2000);
	CHECK_EQ_INT(t.job, 7);
	REQUIRE(pgstore_set_tick(s, "nightly", 3000, 9) == JOBD_OK);
	t.n = 0;
	REQUIRE(pgstore_ticks_load(s, load_tick, &t) == JOBD_OK);
	CHECK_EQ_INT(t.at, 3000);
	CHECK_EQ_INT(t.job, 9);

	/* purge: ended before the time only, with their history */
	for (int i = 0; i < 5; i++)
		add(s, "count", 0);
	REQUIRE(claim_ids(s, "A", 60000, 3, ids) == 3);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(end_job(s, "A", ids[i], JOB_FAILED), JOBD_OK);
	REQUIRE(pgstore_rerun(s, ids[0], 0, NULL, 0, NULL) == JOBD_OK);
	REQUIRE(claim_ids(s, "A", 60000, 1, &ids[0]) == 1);
	CHECK_EQ_INT(end_job(s, "A", ids[0], JOB_SUCCEEDED), JOBD_OK);
	REQUIRE(pgstore_purge(s, 1, 0, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 0);
	REQUIRE(pgstore_now(s, &now) == JOBD_OK);
	wait_server_past(s, now);
	REQUIRE(pgstore_now(s, &now) == JOBD_OK);
	REQUIRE(pgstore_purge(s, now, 2, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 2);
	REQUIRE(pgstore_purge(s, now, 2, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 1);
	REQUIRE(pgstore_purge(s, now, 2, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 0);
	uint64_t counts[JOB_STATE_MAX + 1];
	REQUIRE(pgstore_counts(s, counts) == JOBD_OK);
	CHECK_EQ_INT(counts[JOB_QUEUED], 2);
	CHECK_EQ_INT(counts[JOB_FAILED] + counts[JOB_SUCCEEDED], 0);
	PGconn *c = raw(db_url);
	REQUIRE(c != NULL);
	CHECK_EQ_INT(sql_num(c, "SELECT count(*) FROM job_runs"), 0);
	PQfinish(c);
	pgstore_close(s);
	db_drop();
}

void
test_notify_lead(void)
{
	const char *url = db_create();
	pgstore *a = open_db(url), *b = open_db(url);
	struct notes nt = {0};
	bool lead = false;
	size_t n = 9;

	REQUIRE(pgstore_listen(b, PGSTORE_CHAN_NEW) == JOBD_OK);
	REQUIRE(pgstore_listen(b, PGSTORE_CHAN_END) == JOBD_OK);
	/* nothing yet: the wait times out */
	CHECK_EQ_INT(pgstore_wait(b, 20, on_note, &nt, &n), JOBD_OK);
	CHECK_EQ_INT(n, 0);
	/* sent at commit, not before */
	REQUIRE(pgstore_begin(a) == JOBD_OK);
	REQUIRE(pgstore_notify(a, PGSTORE_CHAN_NEW, "") == JOBD_OK);
	REQUIRE(pgstore_notify(a, PGSTORE_CHAN_END, "1,2,3") == JOBD_OK);
	CHECK_EQ_INT(pgstore_wait(b, 50, on_note, &nt, &n), JOBD_OK);
	CHECK_EQ_INT(nt.n, 0);
	REQUIRE(pgstore_commit(a) == JOBD_OK);
	for (int i = 0; i < 10 && nt.n < 2; i++)
		REQUIRE(pgstore_wait(b, 1000, on_note, &nt, &n) == JOBD_OK);
	CHECK_EQ_INT(nt.n, 2);
	CHECK_EQ_STR(nt.channel, PGSTORE_CHAN_END);
	CHECK_EQ_STR(nt.payload, "1,2,3");

	/* one leader at a time; it leads until it lets go or its session
	 * ends */
	REQUIRE(pgstore_try_lead(a, &lead) == JOBD_OK);
	CHECK(lead);
	REQUIRE(pgstore_try_lead(a, &lead) == JOBD_OK);
	CHECK(lead);
	REQUIRE(pgstore_try_lead(b, &lead) == JOBD_OK);
	CHECK(!lead);
	REQUIRE(pgstore_unlead(a) == JOBD_OK);
	REQUIRE(pgstore_try_lead(b, &lead) == JOBD_OK);
	CHECK(lead);
	REQUIRE(pgstore_try_lead(a, &lead) == JOBD_OK);
	CHECK(!lead);
	pgstore_close(b);
	/* the server releases the lock of a closed session soon after */
	for (int i = 0; i < 500 && !lead; i++) {
		REQUIRE(pgstore_try_lead(a, &lead) == JOBD_OK);
		if (!lead)
			usleep(10000);
	}
	CHECK(lead);
	pgstore_close(a);
	db_drop();
}

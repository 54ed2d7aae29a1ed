/*
 * test_pgstore_claim: claiming jobs (storage/postgres): the order by
 * priority and age, the kinds asked for and their caps, paused kinds,
 * delayed jobs, dependencies, the running counts by kind; two claimers at
 * once taking every job exactly once; leases (progress, expiry and the
 * attempt it counts, the cap, renewal, a retry); the recovery of a
 * restarted daemon's own jobs.
 */

#include "test_pgstore.h"

static int
count_kind(const char *kind, uint64_t n, void *arg)
{
	if (strcmp(kind, "sleep") == 0)
		*(uint64_t *) arg = n;
	return 0;
}

void
test_claim_order(void)
{
	pgstore *s = open_db(db_create());
	uint64_t lo = add(s, "count", 0), hi = add(s, "count", 10),
	         lo2 = add(s, "count", 0), sl = add(s, "sleep", 0),
	         sl2 = add(s, "sleep", 0), sl3 = add(s, "sleep", -1);
	uint64_t ids[16], running = 0;
	struct jobrec *v, r;
	size_t n;
	bool changed;

	(void) sl3;
	/* priority first, then oldest */
	REQUIRE(pgstore_claim(s, "A", 60000, NULL, 0, NULL, 0, 2, &v, &n) ==
	        JOBD_OK);
	REQUIRE(n == 2);
	CHECK_EQ_INT(v[0].id, hi);
	CHECK_EQ_INT(v[1].id, lo);
	CHECK_EQ_INT(v[0].state, JOB_RUNNING);
	CHECK_EQ_INT(v[0].attempts, 1);
	CHECK(v[0].started_at > 0);
	CHECK(v[0].input != NULL && v[0].input_len == 6 &&
	      memcmp(v[0].input, "input!", 6) == 0);
	CHECK_EQ_INT(v[0].nparams, 2);
	free_recs(v, n);

	/* only the kinds allowed here */
	const char *kinds[] = {"sleep"};
	REQUIRE(pgstore_claim(s, "A", 60000, kinds, 1, NULL, 0, 1, &v, &n) ==
	        JOBD_OK);
	REQUIRE(n == 1);
	CHECK_EQ_INT(v[0].id, sl);
	free_recs(v, n);
	REQUIRE(pgstore_running_by_kind(s, count_kind, &running) == JOBD_OK);
	CHECK_EQ_INT(running, 1);

	/* a cap: sleep may take no more; count is not capped */
	struct pgstore_cap cap = {"sleep", 0};
	REQUIRE(pgstore_claim(s, "A", 60000, NULL, 0, &cap, 1, 5, &v, &n) ==
	        JOBD_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_INT(v[0].id, lo2);
	free_recs(v, n);
	/* a cap of one of two */
	cap.more = 1;
	REQUIRE(pgstore_claim(s, "A", 60000, NULL, 0, &cap, 1, 5, &v, &n) ==
	        JOBD_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_INT(v[0].id, sl2);
	free_recs(v, n);

	/* the same through the walk of each kind run here (a kind named
	 * twice is walked once) */
	uint64_t k1 = add(s, "sleep", 3), k2 = add(s, "sleep", 3),
	         k3 = add(s, "count", 1);
	const char *both[] = {"sleep", "count", "sleep", "nosuch"};
	cap.more = 1;
	REQUIRE(pgstore_claim(s, "A", 60000, both, 4, &cap, 1, 5, &v, &n) ==
	        JOBD_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_INT(v[0].id, k1);
		CHECK_EQ_INT(v[1].id, k3);
	}
	free_recs(v, n);
	REQUIRE(pgstore_set_paused(s, "sleep", true, 0, &changed) == JOBD_OK);
	REQUIRE(pgstore_claim(s, "A", 60000, both, 4, NULL, 0, 5, &v, &n) ==
	        JOBD_OK);
	CHECK_EQ_INT(n, 0);
	free_recs(v, n);
	REQUIRE(pgstore_set_paused(s, "sleep", false, 0, &changed) == JOBD_OK);
	REQUIRE(pgstore_claim(s, "A", 60000, both, 4, NULL, 0, 1, &v, &n) ==
	        JOBD_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_INT(v[0].id, k2);
	free_recs(v, n);

	/* paused kinds are not claimed, cluster-wide */
	REQUIRE(pgstore_set_paused(s, "sleep", true, 0, &changed) == JOBD_OK);
	CHECK(changed);
	CHECK_EQ_INT(claim_ids(s, "A", 60000, 5, ids), 0);
	struct jobrec pg = {0};
	REQUIRE(pgstore_get(s, sl3, 0, &pg) == JOBD_OK);
	CHECK_EQ_INT(pg.waiting, JOB_WAIT_PAUSED);
	jobrec_clear(&pg);
	REQUIRE(pgstore_set_paused(s, "sleep", false, 0, &changed) == JOBD_OK);
	CHECK(changed);
	CHECK_EQ_INT(claim_ids(s, "A", 60000, 5, ids), 1);

	/* delayed jobs wait for their time */
	mkjob(&r, "count", 100);
	r.not_before = INT64_C(4102444800000);
	insert1(s, &r);
	int64_t now;
	REQUIRE(pgstore_now(s, &now) == JOBD_OK);
	mkjob(&r, "count", 50);
	r.not_before = now - 1;
	uint64_t due = insert1(s, &r);
	CHECK_EQ_INT(claim_ids(s, "A", 60000, 5, ids), 1);
	CHECK_EQ_INT(ids[0], due);

	/* dependencies: b after a runs once a succeeded */
	uint64_t a = add(s, "count", 0), b;
	mkjob(&r, "count", 0);
	r.after = &a;
	r.nafter = 1;
	b = insert1(s, &r);
	struct jobrec g = {0};
	REQUIRE(pgstore_get(s, b, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.waiting, JOB_WAIT_AFTER);
	CHECK_EQ_INT(g.waiting_for, a);
	jobrec_clear(&g);
	CHECK_EQ_INT(claim_ids(s, "A", 60000, 5, ids), 1);
	CHECK_EQ_INT(ids[0], a);
	CHECK_EQ_INT(claim_ids(s, "A", 60000, 5, ids), 0);
	CHECK_EQ_INT(end_job(s, "A", a, JOB_SUCCEEDED), JOBD_OK);
	CHECK_EQ_INT(claim_ids(s, "A", 60000, 5, ids), 1);
	CHECK_EQ_INT(ids[0], b);
	CHECK_EQ_INT(pgstore_claim(s, "A", 60000, NULL, 0, NULL, 0, 0, &v, &n),
	             JOBD_OK);
	CHECK_EQ_INT(n, 0);
	pgstore_close(s);
	db_drop();
}

#define CONC_JOBS 3000

struct claimer {
	const char *url;
	const char *owner;
	uint64_t *ids;
	size_t n;
	int rv;
};

static void *
claimer_thread(void *p)
{
	struct claimer *c = p;
	char err[256];
	pgstore *s;

	if ((c->rv = pgstore_open(&s, c->url, err, sizeof(err))) != JOBD_OK)
		return NULL;
	for (;;) {
		struct jobrec *v;
		size_t n;
		/* A claims any kind, B the kinds it runs: both walks */
		const char *kinds[] = {"count", "sleep"};
		bool any = strcmp(c->owner, "A") == 0;
		if ((c->rv = pgstore_claim(s, c->owner, 60000,
		                           any ? NULL : kinds, any ? 0 : 2,
		                           NULL, 0, 7, &v, &n)) != JOBD_OK)
			break;
		if (n == 0)
			break;
		for (size_t i = 0; i < n && c->n < CONC_JOBS; i++) {
			c->ids[c->n++] = v[i].id;
			v[i].state = JOB_SUCCEEDED;
			if ((c->rv = pgstore_finish(s, c->owner, &v[i])) !=
			    JOBD_OK)
				break;
		}
		free_recs(v, n);
		if (c->rv != JOBD_OK)
			break;
	}
	pgstore_close(s);
	return NULL;
}

static int
cmp_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

void
test_claim_concurrent(void)
{
	const char *url = db_create();
	pgstore *s = open_db(url);
	struct jobrec *r = calloc(CONC_JOBS, sizeof(*r));
	struct pgstore_ins *res = calloc(CONC_JOBS, sizeof(*res));
	uint64_t *all = calloc(CONC_JOBS * 2, sizeof(*all)),
	         counts[JOB_STATE_MAX + 1];
	struct claimer c[2] = {{url, "A", NULL, 0, 0}, {url, "B", NULL, 0, 0}};
	pthread_t t[2];
	size_t n = 0;

	REQUIRE(r != NULL && res != NULL && all != NULL);
	for (int i = 0; i < CONC_JOBS; i++)
		mkjob(&r[i], i % 2 ? "count" : "sleep", i % 3);
	REQUIRE(pgstore_insert_batch(s, r, CONC_JOBS, res) == JOBD_OK);
	for (int i = 0; i < 2; i++) {
		c[i].ids = calloc(CONC_JOBS, sizeof(uint64_t));
		REQUIRE(c[i].ids != NULL);
		REQUIRE(pthread_create(&t[i], NULL, claimer_thread, &c[i]) ==
		        0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(c[i].rv, JOBD_OK);
		memcpy(all + n, c[i].ids, c[i].n * sizeof(uint64_t));
		n += c[i].n;
	}
	fprintf(stderr, "claimed: A %zu, B %zu\n", c[0].n, c[1].n);
	/* every job exactly once */
	CHECK_EQ_INT(n, CONC_JOBS);
	qsort(all, n, sizeof(*all), cmp_id);
	for (size_t i = 1; i < n; i++)
		if (all[i] == all[i - 1]) {
			TEST_FAIL_("job %" PRIu64 " claimed twice", all[i]);
			break;
		}
	REQUIRE(pgstore_counts(s, counts) == JOBD_OK);
	CHECK_EQ_INT(counts[JOB_SUCCEEDED], CONC_JOBS);
	CHECK_EQ_INT(counts[JOB_QUEUED] + counts[JOB_RUNNING], 0);
	free(c[0].ids);
	free(c[1].ids);
	free(all);
	free(r);
	free(res);
	pgstore_close(s);
	db_drop();
}

/* pgstore_rescue's and pgstore_recover_own's fn: the jobs they ended */
struct seen_end {
	int n, state;
	char kind[65];
};

static void
end_seen(const char *kind, int state, void *arg)
{
	struct seen_end *e = arg;
	e->n++;
	e->state = state;
	snprintf(e->kind, sizeof(e->kind), "%s", kind != NULL ? kind : "");
}

void
test_lease(void)
{
	pgstore *s = open_db(db_create());
	uint64_t id = add(s, "count", 0), ids[4], req, failed, *ended;
	uint64_t other = add(s, "count", -1);
	size_t n;
	bool cancel = true;
	struct jobrec g = {0};

	REQUIRE(claim_ids(s, "A", 1, 1, ids) == 1);
	CHECK_EQ_INT(ids[0], id);
	CHECK_EQ_INT(pgstore_progress(s, "A", id, 5, 10, &cancel), JOBD_OK);
	CHECK(!cancel);
	CHECK_EQ_INT(pgstore_progress(s, "B", id, 5, 10, &cancel),
	             JOBD_NOT_FOUND);
	CHECK_EQ_INT(end_job(s, "B", id, JOB_SUCCEEDED), JOBD_NOT_FOUND);
	REQUIRE(pgstore_get(s, id, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.progress_done, 5);
	CHECK_EQ_INT(g.progress_total, 10);
	int64_t until = g.started_at + 1;
	jobrec_clear(&g);

	/* the lease (1 ms) expires: the job goes back, its attempt counted */
	wait_server_past(s, until);
	REQUIRE(pgstore_rescue(s, 0, &req, &failed, &ended, &n, NULL, NULL) ==
	        JOBD_OK);
	CHECK_EQ_INT(req, 1);
	CHECK_EQ_INT(failed, 0);
	CHECK_EQ_INT(n, 0);
	free(ended);
	CHECK_EQ_INT(state_of(s, id), JOB_QUEUED);
	/* the old owner lost it */
	CHECK_EQ_INT(end_job(s, "A", id, JOB_SUCCEEDED), JOBD_NOT_FOUND);
	CHECK(strstr(pgstore_errmsg(s), "lease") != NULL);
	CHECK_EQ_INT(pgstore_progress(s, "A", id, 6, 10, NULL), JOBD_NOT_FOUND);

	/* another daemon takes it: second attempt, one recovery */
	REQUIRE(claim_ids(s, "B", 1, 1, ids) == 1);
	CHECK_EQ_INT(ids[0], id);
	REQUIRE(pgstore_get(s, id, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.attempts, 2);
	CHECK_EQ_INT(g.recoveries, 1);
	CHECK_EQ_INT(g.progress_done, 0);
	until = g.started_at + 1;
	jobrec_clear(&g);

	/* at the cap (2), the next expiry fails it */
	wait_server_past(s, until);
	struct seen_end seen = {0};
	REQUIRE(pgstore_rescue(s, 2, &req, &failed, &ended, &n, end_seen,
	                       &seen) == JOBD_OK);
	CHECK_EQ_INT(req, 0);
	CHECK_EQ_INT(failed, 1);
	CHECK_EQ_INT(seen.n, 1); /* its kind and state, for /metrics */
	CHECK_EQ_STR(seen.kind, "count");
	CHECK_EQ_INT(seen.state, JOB_FAILED);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_INT(ended[0], id);
	free(ended);
	REQUIRE(pgstore_get(s, id, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.state, JOB_FAILED);
	CHECK(g.error != NULL && strstr(g.error, "2 times") != NULL);
	CHECK(g.finished_at > 0);
	jobrec_clear(&g);

	/* renewal keeps a lease alive */
	REQUIRE(claim_ids(s, "C", 1, 1, ids) == 1);
	CHECK_EQ_INT(ids[0], other);
	uint64_t *renewed;
	REQUIRE(pgstore_renew(s, "C", 600000, &renewed, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_INT(renewed[0], other);
	free(renewed);
	REQUIRE(pgstore_renew(s, "nobody", 600000, &renewed, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 0);
	CHECK(renewed == NULL);
	wait_server_past(s, until + 5);
	REQUIRE(pgstore_rescue(s, 0, &req, &failed, &ended, &n, NULL, NULL) ==
	        JOBD_OK);
	CHECK_EQ_INT(req + failed, 0);
	free(ended);
	CHECK_EQ_INT(end_job(s, "C", other, JOB_SUCCEEDED), JOBD_OK);
	REQUIRE(pgstore_get(s, other, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.state, JOB_SUCCEEDED);
	CHECK(g.result_len == 2 && memcmp(g.result, "ok", 2) == 0);
	jobrec_clear(&g);

	/* a retry: back to queued with its not_before */
	uint64_t rt = add(s, "count", 0);
	struct jobrec e = {0};
	REQUIRE(claim_ids(s, "C", 60000, 1, ids) == 1);
	e.id = rt;
	e.state = JOB_QUEUED;
	e.attempts = 1;
	e.error = (char *) "first try failed";
	e.not_before = INT64_C(4102444800000);
	CHECK_EQ_INT(pgstore_finish(s, "C", &e), JOBD_OK);
	CHECK_EQ_INT(state_of(s, rt), JOB_SCHEDULED);
	e.state = JOB_RUNNING;
	CHECK_EQ_INT(pgstore_finish(s, "C", &e), JOBD_INVALID_ARGUMENT);
	pgstore_close(s);
	db_drop();
}

void
test_recover_own(void)
{
	pgstore *s = open_db(db_create());
	uint64_t a = add(s, "count", 1), b = add(s, "count", 0), ids[2], req,
	         failed, *ended;
	size_t n;

	REQUIRE(claim_ids(s, "A", 600000, 1, ids) == 1 && ids[0] == a);
	REQUIRE(claim_ids(s, "B", 600000, 1, ids) == 1 && ids[0] == b);
	/* A restarts: its job goes back, B's is untouched */
	REQUIRE(pgstore_recover_own(s, "A", 0, &req, &failed, &ended, &n, NULL,
	                            NULL) == JOBD_OK);
	CHECK_EQ_INT(req, 1);
	CHECK_EQ_INT(failed, 0);
	free(ended);
	CHECK_EQ_INT(state_of(s, a), JOB_QUEUED);
	CHECK_EQ_INT(state_of(s, b), JOB_RUNNING);
	CHECK_EQ_INT(end_job(s, "B", b, JOB_SUCCEEDED), JOBD_OK);
	/* with a cap of 1, the first recovery fails it */
	REQUIRE(claim_ids(s, "A", 600000, 1, ids) == 1 && ids[0] == a);
	struct seen_end seen = {0};
	REQUIRE(pgstore_recover_own(s, "A", 1, &req, &failed, &ended, &n,
	                            end_seen, &seen) == JOBD_OK);
	CHECK_EQ_INT(req, 0);
	CHECK_EQ_INT(failed, 1);
	CHECK_EQ_INT(seen.n, 1);
	CHECK_EQ_INT(seen.state, JOB_FAILED);
	CHECK_EQ_INT(n, 1);
	free(ended);
	CHECK_EQ_INT(state_of(s, a), JOB_FAILED);
	pgstore_close(s);
	db_drop();
}

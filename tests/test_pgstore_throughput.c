/*
 * test_pgstore_throughput: the store (storage/postgres) with many rows.
 * It prints the batch insert's rate (jobs/s) and the claim's cost with
 * many ended rows; it asserts behaviour (every job inserted, the claim's
 * plan on its partial index, a claim behind a paused kind's many jobs),
 * never a time.
 */

#include "pgstore_int.h" /* pg_stmt_sql: the claim's text, to EXPLAIN it */
#include "test_pgstore.h"

/* Monotonic seconds. */
static double
secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Jobs of a paused kind at the head of the queue (test_throughput). */
#define PAUSED_HEAD 50000

struct inserter {
	const char *url;
	int batch, batches, rv;
};

/* Inserts batches of jobs, a transaction each, on a connection of its
 * own. */
static void *
inserter_thread(void *p)
{
	struct inserter *in = p;
	struct jobrec *r = calloc((size_t) in->batch, sizeof(*r));
	struct pgstore_ins *res = calloc((size_t) in->batch, sizeof(*res));
	char err[256];
	pgstore *s = NULL;

	in->rv = JOBD_RESOURCE_EXHAUSTED;
	if (r != NULL && res != NULL &&
	    (in->rv = pgstore_open(&s, in->url, err, sizeof(err))) == JOBD_OK)
		for (int b = 0; b < in->batches && in->rv == JOBD_OK; b++) {
			for (int i = 0; i < in->batch; i++)
				mkjob(&r[i], "count", 0);
			if ((in->rv = pgstore_begin(s)) != JOBD_OK ||
			    (in->rv = pgstore_insert_batch(s, r, in->batch,
			                                   res)) != JOBD_OK ||
			    (in->rv = pgstore_commit(s)) != JOBD_OK)
				break;
		}
	pgstore_close(s);
	free(r);
	free(res);
	return NULL;
}

/* Whether the plan of `exec` (an EXPLAIN EXECUTE on c) walks `index`
 * and never the whole table; prints it with `label`. */
static bool
claim_plan_ok(PGconn *c, const char *exec, const char *index, const char *label)
{
	char q[256];
	PGresult *r;
	bool walks = false, seq = false;

	snprintf(q, sizeof(q), "EXPLAIN (ANALYZE, BUFFERS) EXECUTE %s", exec);
	r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "explain: %s\n", PQerrorMessage(c));
		PQclear(r);
		return false;
	}
	fprintf(stderr, "claim plan (%s):\n", label);
	for (int i = 0; i < PQntuples(r); i++) {
		const char *line = PQgetvalue(r, i, 0);
		fprintf(stderr, "  %s\n", line);
		walks = walks || strstr(line, index) != NULL;
		seq = seq || strstr(line, "Seq Scan on jobs") != NULL;
	}
	PQclear(r);
	return walks && !seq;
}

/* Prepares statement st on c as `name`. */
static bool
prepare_as(PGconn *c, enum pg_stmt st, const char *name)
{
	int np;
	const Oid *types;
	const char *text = pg_stmt_sql(st, &np, &types);
	PGresult *p = PQprepare(c, name, text, np, types);
	bool ok = PQresultStatus(p) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "prepare %s: %s\n", name, PQerrorMessage(c));
	PQclear(p);
	return ok;
}

void
test_throughput(void)
{
	const char *url = db_create();
	pgstore *s = open_db(url);
	const char *e = getenv("JOBD_PGSTORE_ENDED"),
	           *bs = getenv("JOBD_PGSTORE_BATCH");
	long ended = e != NULL ? atol(e) : 200000;
	int BATCH =
	    bs != NULL && atoi(bs) > 0 && atoi(bs) <= 5000 ? atoi(bs) : 500;
	int BATCHES = 50000 / BATCH;
	struct jobrec *r = calloc((size_t) BATCH, sizeof(*r));
	struct pgstore_ins *res = calloc((size_t) BATCH, sizeof(*res));
	uint64_t counts[JOB_STATE_MAX + 1];
	double t0, dt;
	PGconn *c;
	char q[256];

	/* batches of 500 in a transaction each, as the group commit does */
	REQUIRE(r != NULL && res != NULL);
	t0 = secs();
	for (int b = 0; b < BATCHES; b++) {
		for (int i = 0; i < BATCH; i++) {
			mkjob(&r[i], "count", 0);
			r[i].created_at = 1;
		}
		REQUIRE(pgstore_begin(s) == JOBD_OK);
		REQUIRE(pgstore_insert_batch(s, r, BATCH, res) == JOBD_OK);
		REQUIRE(pgstore_notify(s, PGSTORE_CHAN_NEW, "") == JOBD_OK);
		REQUIRE(pgstore_commit(s) == JOBD_OK);
	}
	dt = secs() - t0;
	printf("insert: %d jobs in batches of %d: %.2f s, %.0f jobs/s\n",
	       BATCH * BATCHES, BATCH, dt, BATCH * BATCHES / dt);
	REQUIRE(pgstore_counts(s, counts) == JOBD_OK);
	CHECK_EQ_INT(counts[JOB_QUEUED], BATCH * BATCHES);

	/* two daemons inserting at once */
	struct inserter ins[2] = {{url, BATCH, BATCHES / 2, 0},
	                          {url, BATCH, BATCHES / 2, 0}};
	pthread_t th[2];
	t0 = secs();
	for (int i = 0; i < 2; i++)
		REQUIRE(pthread_create(&th[i], NULL, inserter_thread,
		                       &ins[i]) == 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(ins[i].rv, JOBD_OK);
	}
	dt = secs() - t0;
	printf("insert: 2 connections at once, %d jobs each in batches of "
	       "%d: %.2f s, %.0f jobs/s\n",
	       BATCH * (BATCHES / 2), BATCH, dt,
	       2.0 * BATCH * (BATCHES / 2) / dt);
	REQUIRE(pgstore_counts_live(s, counts) == JOBD_OK);
	CHECK_EQ_INT(counts[JOB_QUEUED],
	             BATCH * BATCHES + 2 * BATCH * (BATCHES / 2));

	/* single-job inserts, one transaction each */
	t0 = secs();
	for (int i = 0; i < 500; i++)
		add(s, "count", 0);
	dt = secs() - t0;
	printf("insert: 500 single jobs: %.2f s, %.0f jobs/s\n", dt, 500 / dt);

	/* many ended rows: the claim stays on the queue's index */
	REQUIRE(r != NULL && res != NULL);
	REQUIRE((c = raw(url)) != NULL);
	REQUIRE(sql(c, "UPDATE jobs SET state = 3, finished_at = 1"));
	snprintf(q, sizeof(q),
	         "INSERT INTO jobs (id, kind, params, state, created_at,"
	         " finished_at, input_crc, result_crc)"
	         " SELECT nextval('jobs_id_seq'), 'count', '\\x00000000', 3,"
	         " 1, 1, 0, 0 FROM generate_series(1, %ld)",
	         ended);
	REQUIRE(sql(c, q));
	REQUIRE(sql(c, "VACUUM ANALYZE jobs"));
	for (int i = 0; i < 100; i++)
		add(s, "count", i % 5);
	/* 10 claimed by each EXPLAIN ANALYZE */
	REQUIRE(prepare_as(c, PGS_CLAIM, "claim"));
	REQUIRE(prepare_as(c, PGS_CLAIM_KINDS, "claim_kinds"));
	const char *any = "claim('X', 60000, '{}', '{}', 10)",
	           *kinds = "claim_kinds('X', 60000, '{count,sleep}', '{}',"
	                    " '{}', 10)";
	CHECK(claim_plan_ok(c, any, "jobs_ready ", "any kind, custom"));
	CHECK(claim_plan_ok(c, kinds, "jobs_ready_kind", "kinds, custom"));
	REQUIRE(sql(c, "SET plan_cache_mode = force_generic_plan"));
	CHECK(claim_plan_ok(c, any, "jobs_ready ", "any kind, generic"));
	CHECK(claim_plan_ok(c, kinds, "jobs_ready_kind", "kinds, generic"));
	PQfinish(c);

	t0 = secs();
	size_t claimed = 0;
	uint64_t ids[10];
	for (size_t n; (n = claim_ids(s, "A", 60000, 10, ids)) > 0;)
		for (size_t i = 0; i < n; i++, claimed++)
			CHECK_EQ_INT(end_job(s, "A", ids[i], JOB_SUCCEEDED),
			             JOBD_OK);
	dt = secs() - t0;
	printf("claim+finish with %ld + %d ended rows: %zu jobs, %.3f s, "
	       "%.0f jobs/s\n",
	       ended, BATCH * BATCHES, claimed, dt, claimed / dt);
	CHECK_EQ_INT(claimed, 100 - 40); /* 40 claimed by the EXPLAINs */

	/* the reads of Stats and List, with all those rows */
	struct store_filter f = {.state = JOB_SUCCEEDED, .limit = 100};
	struct jobrec *list;
	size_t nl;
	t0 = secs();
	REQUIRE(pgstore_counts(s, counts) == JOBD_OK);
	dt = secs() - t0;
	CHECK_EQ_INT(counts[JOB_SUCCEEDED],
	             ended + 2 * BATCH * BATCHES + 500 + 60);
	printf("counts: %.3f s; ", dt);
	t0 = secs();
	REQUIRE(pgstore_list(s, &f, &list, &nl) == JOBD_OK);
	printf("list of 100 succeeded: %.4f s\n", secs() - t0);
	CHECK_EQ_INT(nl, 100);
	free_recs(list, nl);

	/* a paused kind's many jobs at the head of the queue: a claim of
	 * the kinds run here does not walk them */
	REQUIRE((c = raw(url)) != NULL);
	snprintf(q, sizeof(q),
	         "INSERT INTO jobs (id, kind, params, priority, state,"
	         " created_at, input_crc, result_crc)"
	         " SELECT nextval('jobs_id_seq'), 'sleep', '\\x00000000', 9,"
	         " 1, 1, 0, 0 FROM generate_series(1, %d)",
	         PAUSED_HEAD);
	REQUIRE(sql(c, q));
	REQUIRE(sql(c, "ANALYZE jobs"));
	PQfinish(c);
	bool changed;
	REQUIRE(pgstore_set_paused(s, "sleep", true, 0, &changed) == JOBD_OK);
	uint64_t want[2] = {add(s, "count", 0), add(s, "count", 0)};
	const char *names[] = {"count", "sleep", "primes"};
	struct jobrec *v;
	size_t nv;
	t0 = secs();
	REQUIRE(pgstore_claim(s, "A", 60000, names, 3, NULL, 0, 1, &v, &nv) ==
	        JOBD_OK);
	dt = secs() - t0;
	CHECK_EQ_INT(nv, 1);
	if (nv == 1)
		CHECK_EQ_INT(v[0].id, want[0]);
	free_recs(v, nv);
	t0 = secs();
	REQUIRE(pgstore_claim(s, "A", 60000, NULL, 0, NULL, 0, 1, &v, &nv) ==
	        JOBD_OK);
	CHECK_EQ_INT(nv, 1);
	if (nv == 1)
		CHECK_EQ_INT(v[0].id, want[1]);
	free_recs(v, nv);
	printf("claim behind %d jobs of a paused kind: of the kinds run here "
	       "%.4f s, of any kind %.4f s\n",
	       PAUSED_HEAD, dt, secs() - t0);
	free(r);
	free(res);
	pgstore_close(s);
	db_drop();
}

/*
 * test_pgstore_fault: faults under the store (storage/postgres): its
 * session killed by the server (between calls, inside a transaction,
 * between claim and finish) and reconnected; rows damaged behind its back
 * (result, input, params), read as DATA_LOSS and failed, never handed
 * over.
 */

#include "test_pgstore.h"

/* Terminates every other session of this test's database. */
static void
kill_sessions(void)
{
	PGconn *c = raw(db_url);
	char q[256];

	REQUIRE(c != NULL);
	snprintf(q, sizeof(q),
	         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
	         " WHERE datname = '%s' AND pid <> pg_backend_pid()",
	         db_name);
	CHECK(sql(c, q));
	PQfinish(c);
}

void
test_killed_connection(void)
{
	pgstore *s = open_db(db_create());
	uint64_t id = add(s, "count", 0), got, ids[1];
	struct jobrec r;
	struct pgstore_ins res;
	bool lead;

	REQUIRE(pgstore_try_lead(s, &lead) == JOBD_OK && lead);
	kill_sessions();
	CHECK_EQ_INT(pgstore_find_key(s, "x", &got), JOBD_UNAVAILABLE);
	CHECK(!pgstore_connected(s));
	CHECK_EQ_INT(pgstore_socket(s), -1);
	fprintf(stderr, "message: %s\n", pgstore_errmsg(s));
	CHECK(strstr(pgstore_errmsg(s), "cannot find") != NULL);
	CHECK_EQ_INT(pgstore_find_key(s, "x", &got), JOBD_UNAVAILABLE);
	CHECK_EQ_INT(pgstore_wait(s, 0, on_note, NULL, NULL), JOBD_UNAVAILABLE);

	/* back: statements prepared again, leadership to be taken again */
	REQUIRE(pgstore_reconnect(s) == JOBD_OK);
	CHECK(pgstore_connected(s));
	CHECK_EQ_INT(state_of(s, id), JOB_QUEUED);
	REQUIRE(pgstore_try_lead(s, &lead) == JOBD_OK);
	CHECK(lead);

	/* lost inside a transaction: nothing of it is committed */
	REQUIRE(pgstore_begin(s) == JOBD_OK);
	mkjob(&r, "count", 0);
	r.idem_key = (char *) "lost";
	REQUIRE(pgstore_insert_batch(s, &r, 1, &res) == JOBD_OK);
	kill_sessions();
	CHECK_EQ_INT(pgstore_commit(s), JOBD_UNAVAILABLE);
	CHECK_EQ_INT(pgstore_rollback(s), JOBD_OK);
	REQUIRE(pgstore_reconnect(s) == JOBD_OK);
	CHECK_EQ_INT(pgstore_find_key(s, "lost", &got), JOBD_NOT_FOUND);

	/* killed between claim and finish: the job stays ours until the
	 * lease goes */
	REQUIRE(claim_ids(s, "A", 600000, 1, ids) == 1);
	kill_sessions();
	CHECK_EQ_INT(end_job(s, "A", ids[0], JOB_SUCCEEDED), JOBD_UNAVAILABLE);
	REQUIRE(pgstore_reconnect(s) == JOBD_OK);
	CHECK_EQ_INT(end_job(s, "A", ids[0], JOB_SUCCEEDED), JOBD_OK);
	CHECK_EQ_INT(state_of(s, ids[0]), JOB_SUCCEEDED);
	pgstore_close(s);
	db_drop();
}

void
test_damage(void)
{
	pgstore *s = open_db(db_create());
	uint64_t id = add(s, "count", 0), done = add(s, "count", -1), ids[1];
	struct jobrec g = {0}, *v;
	PGconn *c = raw(db_url);
	char q[128];
	size_t n;

	REQUIRE(c != NULL);
	REQUIRE(claim_ids(s, "A", 60000, 1, ids) == 1 && ids[0] == id);
	CHECK_EQ_INT(end_job(s, "A", id, JOB_SUCCEEDED), JOBD_OK);
	(void) done;
	snprintf(q, sizeof(q),
	         "UPDATE jobs SET result = 'xx' WHERE id = %" PRIu64, id);
	REQUIRE(sql(c, q));
	CHECK_EQ_INT(pgstore_get(s, id, 0, &g), JOBD_DATA_LOSS);
	CHECK(strstr(pgstore_errmsg(s), "result") != NULL);
	CHECK(strstr(pgstore_errmsg(s), "checksum mismatch") != NULL);

	snprintf(q, sizeof(q),
	         "UPDATE jobs SET input = 'tampered' WHERE id = %" PRIu64,
	         done);
	REQUIRE(sql(c, q));
	CHECK_EQ_INT(pgstore_get(s, done, STORE_INPUT, &g), JOBD_DATA_LOSS);
	CHECK(strstr(pgstore_errmsg(s), "input") != NULL);
	/* without the input, the job reads */
	REQUIRE(pgstore_get(s, done, 0, &g) == JOBD_OK);
	jobrec_clear(&g);
	/* claimed: reported failed, not handed over */
	REQUIRE(pgstore_claim(s, "A", 60000, NULL, 0, NULL, 0, 1, &v, &n) ==
	        JOBD_OK);
	REQUIRE(n == 1);
	CHECK_EQ_INT(v[0].state, JOB_FAILED);
	CHECK(v[0].input == NULL);
	CHECK(v[0].error != NULL &&
	      strstr(v[0].error, "checksum mismatch") != NULL);
	CHECK_EQ_INT(pgstore_finish(s, "A", &v[0]), JOBD_OK);
	free_recs(v, n);
	CHECK_EQ_INT(state_of(s, done), JOB_FAILED);

	/* damaged params */
	snprintf(q, sizeof(q),
	         "UPDATE jobs SET params = '\\x0500' WHERE id = %" PRIu64,
	         done);
	REQUIRE(sql(c, q));
	CHECK_EQ_INT(pgstore_get(s, done, 0, &g), JOBD_DATA_LOSS);
	PQfinish(c);
	pgstore_close(s);
	db_drop();
}

/*
 * test_pgstore_insert: inserting jobs (storage/postgres) and reading back
 * what was written: batches, delays, dependencies, get, list with its
 * filters and paging, counts; values that cannot be stored; idempotency
 * and unique keys, and two daemons inserting the same keys at once in
 * opposite orders.
 */

#include "test_pgstore.h"

void
test_insert_get(void)
{
	pgstore *s = open_db(db_create());
	struct jobrec r[3], g = {0}, *list;
	struct pgstore_ins res[3];
	uint64_t after[1], counts[JOB_STATE_MAX + 1], id;
	int states[4];
	uint64_t ids[4];
	size_t n;
	struct store_filter f = {0};

	mkjob(&r[0], "primes", 5);
	mkjob(&r[1], "sleep", 0);
	r[1].nparams = 0;
	r[1].params = NULL;
	r[1].input = NULL;
	r[1].input_len = 0;
	r[1].idem_key = (char *) "key-1";
	r[1].unique_key = (char *) "uniq-1";
	r[1].created_at = 1234;
	mkjob(&r[2], "count", -3);
	r[2].not_before = INT64_C(4102444800000); /* 2100 */
	REQUIRE(pgstore_insert_batch(s, r, 3, res) == JOBD_OK);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(res[i].outcome, PGSTORE_INS_NEW);
		CHECK_EQ_INT(res[i].id, r[i].id);
		CHECK(r[i].created_at > 0);
	}
	CHECK(res[0].id < res[1].id && res[1].id < res[2].id);
	CHECK_EQ_INT(r[1].created_at, 1234);

	/* a job after another */
	after[0] = res[0].id;
	struct jobrec d;
	mkjob(&d, "count", 0);
	d.after = after;
	d.nafter = 1;
	id = insert1(s, &d);

	REQUIRE(pgstore_get(s, res[0].id, STORE_INPUT, &g) == JOBD_OK);
	CHECK_EQ_STR(g.kind, "primes");
	CHECK_EQ_INT(g.priority, 5);
	CHECK_EQ_INT(g.state, JOB_QUEUED);
	CHECK_EQ_INT(g.nparams, 2);
	if (g.nparams == 2) {
		CHECK_EQ_STR(g.params[0].name, "limit");
		CHECK_EQ_STR(g.params[0].value, "1000");
		CHECK_EQ_STR(g.params[1].name, "n");
	}
	CHECK_EQ_INT(g.input_len, 6);
	CHECK(g.input != NULL && memcmp(g.input, "input!", 6) == 0);
	CHECK_EQ_INT(g.max_attempts, 3);
	CHECK_EQ_INT(g.timeout_ms, 5000);
	CHECK(g.idem_key == NULL && g.unique_key == NULL);
	jobrec_clear(&g);

	REQUIRE(pgstore_get(s, res[1].id, 0, &g) == JOBD_OK);
	CHECK_EQ_STR(g.idem_key, "key-1");
	CHECK_EQ_STR(g.unique_key, "uniq-1");
	CHECK_EQ_INT(g.nparams, 0);
	CHECK_EQ_INT(g.input_len, 0);
	CHECK(g.input == NULL);
	jobrec_clear(&g);

	/* delayed: shown as scheduled */
	REQUIRE(pgstore_get(s, res[2].id, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.state, JOB_SCHEDULED);
	CHECK_EQ_INT(g.input_len, 6);
	CHECK(g.input == NULL);
	jobrec_clear(&g);

	REQUIRE(pgstore_get(s, id, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.nafter, 1);
	if (g.nafter == 1)
		CHECK_EQ_INT(g.after[0], res[0].id);
	jobrec_clear(&g);

	CHECK_EQ_INT(pgstore_get(s, 999999, 0, &g), JOBD_NOT_FOUND);

	REQUIRE(pgstore_find_key(s, "key-1", &id) == JOBD_OK);
	CHECK_EQ_INT(id, res[1].id);
	CHECK_EQ_INT(pgstore_find_key(s, "key-2", &id), JOBD_NOT_FOUND);

	ids[0] = res[0].id;
	ids[1] = 999999;
	ids[2] = res[2].id;
	ids[3] = res[1].id;
	REQUIRE(pgstore_states(s, ids, 4, states) == JOBD_OK);
	CHECK_EQ_INT(states[0], JOB_QUEUED);
	CHECK_EQ_INT(states[1], 0);
	CHECK_EQ_INT(states[2], JOB_SCHEDULED);
	CHECK_EQ_INT(states[3], JOB_QUEUED);

	REQUIRE(pgstore_counts(s, counts) == JOBD_OK);
	CHECK_EQ_INT(counts[JOB_QUEUED], 3);
	CHECK_EQ_INT(counts[JOB_SCHEDULED], 1);
	CHECK_EQ_INT(counts[JOB_RUNNING], 0);
	REQUIRE(claim_ids(s, "A", 60000, 1, ids) == 1);
	REQUIRE(pgstore_counts_live(s, counts) == JOBD_OK);
	CHECK_EQ_INT(counts[JOB_QUEUED], 2);
	CHECK_EQ_INT(counts[JOB_SCHEDULED], 1);
	CHECK_EQ_INT(counts[JOB_RUNNING], 1);
	CHECK_EQ_INT(counts[JOB_SUCCEEDED], 0);
	REQUIRE(pgstore_counts(s, counts) == JOBD_OK);
	CHECK_EQ_INT(counts[JOB_QUEUED], 2);
	CHECK_EQ_INT(counts[JOB_RUNNING], 1);

	/* lists: newest first, filters, paging */
	REQUIRE(pgstore_list(s, &f, &list, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 4);
	if (n == 4)
		CHECK(list[0].id > list[1].id && list[1].id > list[3].id);
	free_recs(list, n);
	f.kind = "count";
	REQUIRE(pgstore_list(s, &f, &list, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 2);
	free_recs(list, n);
	f.state = JOB_SCHEDULED;
	REQUIRE(pgstore_list(s, &f, &list, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_INT(list[0].id, res[2].id);
	free_recs(list, n);
	f.state = JOB_QUEUED;
	REQUIRE(pgstore_list(s, &f, &list, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1) /* the job after the one now running */
		CHECK_EQ_INT(list[0].waiting, JOB_WAIT_AFTER);
	free_recs(list, n);
	f.kind = NULL;
	f.state = JOB_RUNNING;
	f.limit = 1;
	f.before = res[1].id;
	REQUIRE(pgstore_list(s, &f, &list, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1) {
		CHECK_EQ_INT(list[0].id, res[0].id);
		CHECK_EQ_INT(list[0].state, JOB_RUNNING);
		CHECK_EQ_INT(list[0].waiting, JOB_WAIT_NONE);
	}
	free_recs(list, n);
	f.state = 0;
	REQUIRE(pgstore_list(s, &f, &list, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 1);
	free_recs(list, n);
	f.state = JOB_SUCCEEDED;
	f.limit = 0;
	f.before = 0;
	REQUIRE(pgstore_list(s, &f, &list, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 0);
	free_recs(list, n);

	/* what cannot be stored fails its job, not the batch: a param
	 * without a value, keys that are not UTF-8 */
	struct job_param bad[] = {{"x", NULL}};
	struct jobrec v[4];
	struct pgstore_ins vres[4];
	for (int i = 0; i < 4; i++)
		mkjob(&v[i], "count", 0);
	v[0].params = bad;
	v[0].nparams = 1;
	v[1].idem_key = (char *) "caf\xe9";
	v[2].unique_key = (char *) "\xed\xa0\x80"; /* a surrogate */
	v[3].idem_key = (char *) "caf\xc3\xa9";
	REQUIRE(pgstore_insert_batch(s, v, 4, vres) == JOBD_OK);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(vres[i].outcome, PGSTORE_INS_INVALID);
		CHECK_EQ_INT(vres[i].id, 0);
	}
	CHECK_EQ_INT(vres[3].outcome, PGSTORE_INS_NEW);
	CHECK_EQ_INT(pgstore_find_key(s, "caf\xc3\xa9", &id), JOBD_OK);
	CHECK_EQ_INT(id, vres[3].id);
	CHECK_EQ_INT(pgstore_find_key(s, "caf\xe9", &id), JOBD_NOT_FOUND);
	REQUIRE(pgstore_insert_batch(s, v, 3, vres) == JOBD_OK);
	CHECK_EQ_INT(vres[2].outcome, PGSTORE_INS_INVALID);

	/* an error text that is not UTF-8 does not lose the end */
	struct jobrec e = {0};
	REQUIRE(claim_ids(s, "A", 60000, 1, ids) == 1);
	e.id = ids[0];
	e.state = JOB_FAILED;
	e.error = (char *) "bad \xff byte";
	CHECK_EQ_INT(pgstore_finish(s, "A", &e), JOBD_OK);
	REQUIRE(pgstore_get(s, ids[0], 0, &g) == JOBD_OK);
	CHECK_EQ_STR(g.error, "bad \xef\xbf\xbd byte");
	jobrec_clear(&g);
	pgstore_close(s);
	db_drop();
}

void
test_idempotency(void)
{
	pgstore *s = open_db(db_create());
	struct jobrec r[4];
	struct pgstore_ins res[4];
	uint64_t first, holder, ids[4];
	struct jobrec g = {0};

	mkjob(&r[0], "count", 0);
	r[0].idem_key = (char *) "k1";
	first = insert1(s, &r[0]);

	/* taken before, new, new, the one just before in the batch */
	for (int i = 0; i < 4; i++)
		mkjob(&r[i], "count", 0);
	r[0].idem_key = (char *) "k1";
	r[1].idem_key = (char *) "k2";
	r[2].idem_key = (char *) ""; /* no key */
	r[3].idem_key = (char *) "k2";
	REQUIRE(pgstore_insert_batch(s, r, 4, res) == JOBD_OK);
	CHECK_EQ_INT(res[0].outcome, PGSTORE_INS_KEY);
	CHECK_EQ_INT(res[0].id, first);
	CHECK_EQ_INT(res[1].outcome, PGSTORE_INS_NEW);
	CHECK_EQ_INT(res[2].outcome, PGSTORE_INS_NEW);
	CHECK_EQ_INT(res[3].outcome, PGSTORE_INS_KEY);
	CHECK_EQ_INT(res[3].id, res[1].id);
	REQUIRE(pgstore_get(s, res[2].id, 0, &g) == JOBD_OK);
	CHECK(g.idem_key == NULL);
	jobrec_clear(&g);

	/* unique keys: held while queued or running */
	mkjob(&r[0], "count", 0);
	r[0].unique_key = (char *) "u";
	holder = insert1(s, &r[0]);
	mkjob(&r[1], "count", 0);
	r[1].unique_key = (char *) "u";
	REQUIRE(pgstore_insert_batch(s, &r[1], 1, res) == JOBD_OK);
	CHECK_EQ_INT(res[0].outcome, PGSTORE_INS_UNIQUE);
	CHECK_EQ_INT(res[0].id, holder);

	/* inside a transaction: a conflict does not abort it */
	REQUIRE(pgstore_begin(s) == JOBD_OK);
	mkjob(&r[0], "count", 0);
	r[0].idem_key = (char *) "k1";
	mkjob(&r[1], "count", 0);
	r[1].idem_key = (char *) "k3";
	REQUIRE(pgstore_insert_batch(s, r, 2, res) == JOBD_OK);
	CHECK_EQ_INT(res[0].outcome, PGSTORE_INS_KEY);
	CHECK_EQ_INT(res[1].outcome, PGSTORE_INS_NEW);
	mkjob(&r[2], "count", 0);
	r[2].idem_key = (char *) "k4";
	REQUIRE(pgstore_insert_batch(s, &r[2], 1, &res[2]) == JOBD_OK);
	CHECK_EQ_INT(pgstore_commit(s), JOBD_OK);
	uint64_t id;
	CHECK_EQ_INT(pgstore_find_key(s, "k3", &id), JOBD_OK);
	CHECK_EQ_INT(pgstore_find_key(s, "k4", &id), JOBD_OK);

	/* a rolled back insert leaves its key free */
	REQUIRE(pgstore_begin(s) == JOBD_OK);
	mkjob(&r[0], "count", 0);
	r[0].idem_key = (char *) "k5";
	insert1(s, &r[0]);
	REQUIRE(pgstore_rollback(s) == JOBD_OK);
	CHECK_EQ_INT(pgstore_find_key(s, "k5", &id), JOBD_NOT_FOUND);

	/* the holder ends: the unique key is free again (claim takes the
	 * oldest first: the holder is among them) */
	size_t n = claim_ids(s, "A", 60000, 4, ids);
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ_INT(end_job(s, "A", ids[i], JOB_SUCCEEDED), JOBD_OK);
		found = found || ids[i] == holder;
	}
	while (!found && (n = claim_ids(s, "A", 60000, 4, ids)) > 0)
		for (size_t i = 0; i < n; i++) {
			CHECK_EQ_INT(end_job(s, "A", ids[i], JOB_SUCCEEDED),
			             JOBD_OK);
			found = found || ids[i] == holder;
		}
	CHECK(found);
	mkjob(&r[0], "count", 0);
	r[0].unique_key = (char *) "u";
	CHECK(insert1(s, &r[0]) > holder);
	pgstore_close(s);
	db_drop();
}

#define CROSS_KEYS   40
#define CROSS_ROUNDS 15

struct crosser {
	const char *url;
	bool down; /* its batches list the keys in descending order */
	uint64_t id[CROSS_ROUNDS][CROSS_KEYS]; /* by key */
	int outcome[CROSS_ROUNDS][CROSS_KEYS];
	int rv;
	pthread_barrier_t *bar;
};

/* Inserts the same keys as its twin, in the opposite order, each batch
 * in a transaction held open a little. */
static void *
crosser_thread(void *p)
{
	struct crosser *c = p;
	struct jobrec r[CROSS_KEYS];
	struct pgstore_ins res[CROSS_KEYS];
	char keys[CROSS_KEYS][32], err[256];
	pgstore *s;

	int round;

	if ((c->rv = pgstore_open(&s, c->url, err, sizeof(err))) != JOBD_OK)
		s = NULL;
	for (round = 0; round < CROSS_ROUNDS && c->rv == JOBD_OK; round++) {
		for (int i = 0; i < CROSS_KEYS; i++) {
			int k = c->down ? CROSS_KEYS - 1 - i : i;
			snprintf(keys[i], sizeof(keys[i]), "r%d-k%02d", round,
			         k);
			mkjob(&r[i], "count", 0);
			r[i].idem_key = keys[i];
		}
		pthread_barrier_wait(c->bar);
		if ((c->rv = pgstore_begin(s)) != JOBD_OK ||
		    (c->rv = pgstore_insert_batch(s, r, CROSS_KEYS, res)) !=
		        JOBD_OK) {
			fprintf(stderr, "cross insert: %s\n",
			        pgstore_errmsg(s));
			pgstore_rollback(s);
			break;
		}
		usleep(3000);
		if ((c->rv = pgstore_commit(s)) != JOBD_OK)
			break;
		for (int i = 0; i < CROSS_KEYS; i++) {
			int k = c->down ? CROSS_KEYS - 1 - i : i;
			c->id[round][k] = res[i].id;
			c->outcome[round][k] = res[i].outcome;
		}
	}
	/* the twin must not wait at the barrier for ever: meet it at the
	 * rounds left (a failed round has passed its barrier) */
	if (c->rv != JOBD_OK)
		for (int left = CROSS_ROUNDS - round - (s != NULL); left > 0;
		     left--)
			pthread_barrier_wait(c->bar);
	pgstore_close(s);
	return NULL;
}

/* Two daemons submit the same idempotency keys at once, in opposite
 * orders: no deadlock, each key one job, the other told its id. */
void
test_idempotency_crossed(void)
{
	const char *url = db_create();
	pgstore *s = open_db(url);
	static struct crosser c[2];
	pthread_barrier_t bar;
	pthread_t t[2];
	uint64_t counts[JOB_STATE_MAX + 1];

	pthread_barrier_init(&bar, NULL, 2);
	for (int i = 0; i < 2; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].url = url;
		c[i].down = i == 1;
		c[i].bar = &bar;
		REQUIRE(pthread_create(&t[i], NULL, crosser_thread, &c[i]) ==
		        0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(c[i].rv, JOBD_OK);
	}
	pthread_barrier_destroy(&bar);
	for (int round = 0; round < CROSS_ROUNDS; round++)
		for (int k = 0; k < CROSS_KEYS; k++) {
			int a = c[0].outcome[round][k],
			    b = c[1].outcome[round][k];
			CHECK(a + b == PGSTORE_INS_KEY); /* one NEW, one KEY */
			CHECK_EQ_INT(c[0].id[round][k], c[1].id[round][k]);
		}
	REQUIRE(pgstore_counts_live(s, counts) == JOBD_OK);
	CHECK_EQ_INT(counts[JOB_QUEUED], CROSS_ROUNDS * CROSS_KEYS);
	pgstore_close(s);
	db_drop();
}

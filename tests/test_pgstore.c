/*
 * test_pgstore: the PostgreSQL SQL layer (storage/postgres) against a real
 * server. With JOBD_TEST_DB_URL set (ctest's fixture `postgres`) it uses
 * that server; otherwise it starts its own throwaway one, stopped and
 * removed at exit: both through tests/pg_cluster.sh (tests/pgtest.h).
 * Each test makes a database of its own and drops it after.
 *
 * test_throughput prints the batch insert's rate (jobs/s) and the claim's
 * cost with many ended rows; it asserts behaviour (every job inserted,
 * the claim's plan on its partial index), never a time.
 */

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgstore.h"
#include "pgstore_int.h" /* pg_stmt_sql: the claim's text, to EXPLAIN it */
#include "pgtest.h"
#include "test.h"

/* ---- the server -------------------------------------------------------- */

/* A free loopback port: one that nothing listens on (test_open_errors). */
static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *) &a, &l) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static PGconn *
raw(const char *url)
{
	PGconn *c = PQconnectdb(url);

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "connect %s: %s\n", url, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* Runs q on c; true when it worked. */
static bool
sql(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
	          PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "%s: %s\n", q, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* The first value of q's first row as a number (-1 on failure). */
static long long
sql_num(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	long long v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
	    !PQgetisnull(r, 0, 0))
		v = atoll(PQgetvalue(r, 0, 0));
	else
		fprintf(stderr, "%s: %s\n", q, PQerrorMessage(c));
	PQclear(r);
	return v;
}

/* A fresh database of this test's: its URL (static). */
static char db_url[256];
static char db_name[64];

static const char *
db_create(void)
{
	static int seq;
	const char *base = pgtest_url();
	PGconn *c;
	char q[128];
	const char *slash;

	REQUIRE(base != NULL);
	snprintf(db_name, sizeof(db_name), "pgstore_%d_%d", (int) getpid(),
	         ++seq);
	REQUIRE((c = raw(base)) != NULL);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", db_name);
	REQUIRE(sql(c, q));
	PQfinish(c);
	slash = strrchr(base, '/');
	REQUIRE(slash != NULL);
	snprintf(db_url, sizeof(db_url), "%.*s/%s", (int) (slash - base), base,
	         db_name);
	return db_url;
}

static void
db_drop(void)
{
	PGconn *c = raw(pgtest_url());
	char q[128];

	if (c == NULL)
		return;
	if (getenv("JOBD_PGSTORE_KEEP") != NULL) { /* to look at it after */
		fprintf(stderr, "kept database %s\n", db_name);
		PQfinish(c);
		return;
	}
	snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	         db_name);
	sql(c, q);
	PQfinish(c);
}

static pgstore *
open_db(const char *url)
{
	char err[256];
	pgstore *s = NULL;
	int rv = pgstore_open(&s, url, err, sizeof(err));

	if (rv != JOBD_OK)
		fprintf(stderr, "pgstore_open: %s\n", err);
	REQUIRE(rv == JOBD_OK && s != NULL);
	rv = pgstore_migrate(s, NULL, err, sizeof(err));
	if (rv != JOBD_OK)
		fprintf(stderr, "pgstore_migrate: %s\n", err);
	REQUIRE(rv == JOBD_OK);
	return s;
}

/* ---- jobs ---------------------------------------------------------------- */

static struct job_param test_params[] = {{"limit", "1000"}, {"n", "7"}};

static void
mkjob(struct jobrec *r, const char *kind, int32_t priority)
{
	memset(r, 0, sizeof(*r));
	r->kind = (char *) kind;
	r->priority = priority;
	r->params = test_params;
	r->nparams = 2;
	r->input = (uint8_t *) "input!";
	r->input_len = 6;
	r->max_attempts = 3;
	r->timeout_ms = 5000;
}

/* Inserts one job; its id. */
static uint64_t
insert1(pgstore *s, struct jobrec *r)
{
	struct pgstore_ins res;
	int rv = pgstore_insert_batch(s, r, 1, &res);

	if (rv != JOBD_OK)
		fprintf(stderr, "insert: %s\n", pgstore_errmsg(s));
	REQUIRE(rv == JOBD_OK);
	REQUIRE(res.outcome == PGSTORE_INS_NEW);
	return res.id;
}

static uint64_t
add(pgstore *s, const char *kind, int32_t priority)
{
	struct jobrec r;

	mkjob(&r, kind, priority);
	return insert1(s, &r);
}

static void
free_recs(struct jobrec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jobrec_clear(&v[i]);
	free(v);
}

/* Claims at most max of any kind as owner; their ids into ids[]. */
static size_t
claim_ids(pgstore *s, const char *owner, uint32_t lease, size_t max,
          uint64_t *ids)
{
	struct jobrec *v;
	size_t n;
	int rv = pgstore_claim(s, owner, lease, NULL, 0, NULL, 0, max, &v, &n);

	if (rv != JOBD_OK)
		fprintf(stderr, "claim: %s\n", pgstore_errmsg(s));
	REQUIRE(rv == JOBD_OK);
	for (size_t i = 0; i < n; i++)
		ids[i] = v[i].id;
	free_recs(v, n);
	return n;
}

static int
end_job(pgstore *s, const char *owner, uint64_t id, int state)
{
	struct jobrec r = {0};

	r.id = id;
	r.state = state;
	r.attempts = 1;
	r.result = state == JOB_SUCCEEDED ? (uint8_t *) "ok" : NULL;
	r.result_len = state == JOB_SUCCEEDED ? 2 : 0;
	r.error = state == JOB_FAILED ? (char *) "boom" : NULL;
	return pgstore_finish(s, owner, &r);
}

static int
state_of(pgstore *s, uint64_t id)
{
	int st = -1;

	REQUIRE(pgstore_states(s, &id, 1, &st) == JOBD_OK);
	return st;
}

/* Waits (bounded) until the server's clock passes `at`. */
static void
wait_server_past(pgstore *s, int64_t at)
{
	int64_t now = 0;

	for (int i = 0; i < 1000; i++) {
		REQUIRE(pgstore_now(s, &now) == JOBD_OK);
		if (now > at)
			return;
		usleep(2000);
	}
	REQUIRE(!"the server's clock did not move");
}

/* ---- tests -----------------------------------------------------------------
 */

static void
test_open_errors(void)
{
	char err[256], url[128];
	pgstore *s = (pgstore *) 1;
	const char *base = pgtest_url();
	int port = free_port();

	REQUIRE(base != NULL);
	CHECK_EQ_INT(
	    pgstore_open(&s, "postgresql://jobd@[::1/x", err, sizeof(err)),
	    JOBD_INVALID_ARGUMENT);
	CHECK(s == NULL);
	CHECK(strstr(err, "bad PostgreSQL URL") != NULL);

	/* nothing listens there */
	snprintf(url, sizeof(url),
	         "postgresql://jobd@127.0.0.1:%d/postgres?connect_timeout=2",
	         port);
	CHECK_EQ_INT(pgstore_open(&s, url, err, sizeof(err)), JOBD_UNAVAILABLE);
	CHECK(s == NULL);
	CHECK(strstr(err, "cannot connect to PostgreSQL") != NULL);

	/* a database that does not exist */
	snprintf(url, sizeof(url), "%.*s/no_such_db_here",
	         (int) (strrchr(base, '/') - base), base);
	CHECK_EQ_INT(pgstore_open(&s, url, err, sizeof(err)),
	             JOBD_FAILED_PRECONDITION);
	CHECK(strstr(err, "no_such_db_here") != NULL);

	/* no schema: a call says so */
	pgstore *t = NULL;
	uint64_t id;
	db_create();
	REQUIRE(pgstore_open(&t, db_url, err, sizeof(err)) == JOBD_OK);
	CHECK(pgstore_connected(t));
	CHECK(pgstore_socket(t) >= 0);
	/* its session is named jobd (pg_stat_activity) */
	PGconn *c = raw(db_url);
	char q[256];
	REQUIRE(c != NULL);
	snprintf(q, sizeof(q),
	         "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'"
	         " AND application_name = 'jobd'",
	         db_name);
	CHECK_EQ_INT(sql_num(c, q), 1);
	PQfinish(c);
	CHECK_EQ_INT(pgstore_find_key(t, "x", &id), JOBD_FAILED_PRECONDITION);
	CHECK(strstr(pgstore_errmsg(t), "jobs") != NULL);
	pgstore_close(t);
	pgstore_close(NULL);
	db_drop();
}

struct mig_arg {
	const char *url;
	int rv;
};

static void *
mig_thread(void *p)
{
	struct mig_arg *m = p;
	char err[256];
	pgstore *s;

	m->rv = pgstore_open(&s, m->url, err, sizeof(err));
	if (m->rv == JOBD_OK) {
		m->rv = pgstore_migrate(s, NULL, err, sizeof(err));
		if (m->rv != JOBD_OK)
			fprintf(stderr, "migrate: %s\n", err);
		pgstore_close(s);
	}
	return NULL;
}

static void
test_migrate(void)
{
	const char *url = db_create();
	struct mig_arg m[4];
	pthread_t t[4];
	char err[256];
	pgstore *s;
	PGconn *c;
	int v = -1;

	/* four daemons starting at once: one migrates, all succeed */
	for (int i = 0; i < 4; i++) {
		m[i].url = url;
		REQUIRE(pthread_create(&t[i], NULL, mig_thread, &m[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(m[i].rv, JOBD_OK);
	}
	REQUIRE(pgstore_open(&s, url, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(pgstore_migrate(s, &v, err, sizeof(err)), JOBD_OK);
	CHECK_EQ_INT(v, PGSTORE_SCHEMA_VERSION);
	REQUIRE((c = raw(url)) != NULL);
	CHECK_EQ_INT(sql_num(c, "SELECT count(*) FROM jobd_schema"),
	             PGSTORE_SCHEMA_VERSION);

	/* a newer jobd's database is refused, untouched */
	REQUIRE(sql(c, "INSERT INTO jobd_schema (version) VALUES (99)"));
	CHECK_EQ_INT(pgstore_migrate(s, &v, err, sizeof(err)),
	             JOBD_FAILED_PRECONDITION);
	CHECK(strstr(err, "newer") != NULL);
	CHECK(strstr(err, "99") != NULL);
	CHECK_EQ_INT(sql_num(c, "SELECT count(*) FROM jobd_schema"),
	             PGSTORE_SCHEMA_VERSION + 1);
	PQfinish(c);
	pgstore_close(s);
	db_drop();
}

static void
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

static void
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
static void
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

static int
count_kind(const char *kind, uint64_t n, void *arg)
{
	if (strcmp(kind, "sleep") == 0)
		*(uint64_t *) arg = n;
	return 0;
}

static void
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

static void
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

static void
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
	REQUIRE(pgstore_rescue(s, 0, &req, &failed, &ended, &n) == JOBD_OK);
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
	REQUIRE(pgstore_rescue(s, 2, &req, &failed, &ended, &n) == JOBD_OK);
	CHECK_EQ_INT(req, 0);
	CHECK_EQ_INT(failed, 1);
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
	REQUIRE(pgstore_rescue(s, 0, &req, &failed, &ended, &n) == JOBD_OK);
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

static void
test_recover_own(void)
{
	pgstore *s = open_db(db_create());
	uint64_t a = add(s, "count", 1), b = add(s, "count", 0), ids[2], req,
	         failed, *ended;
	size_t n;

	REQUIRE(claim_ids(s, "A", 600000, 1, ids) == 1 && ids[0] == a);
	REQUIRE(claim_ids(s, "B", 600000, 1, ids) == 1 && ids[0] == b);
	/* A restarts: its job goes back, B's is untouched */
	REQUIRE(pgstore_recover_own(s, "A", 0, &req, &failed, &ended, &n) ==
	        JOBD_OK);
	CHECK_EQ_INT(req, 1);
	CHECK_EQ_INT(failed, 0);
	free(ended);
	CHECK_EQ_INT(state_of(s, a), JOB_QUEUED);
	CHECK_EQ_INT(state_of(s, b), JOB_RUNNING);
	CHECK_EQ_INT(end_job(s, "B", b, JOB_SUCCEEDED), JOBD_OK);
	/* with a cap of 1, the first recovery fails it */
	REQUIRE(claim_ids(s, "A", 600000, 1, ids) == 1 && ids[0] == a);
	REQUIRE(pgstore_recover_own(s, "A", 1, &req, &failed, &ended, &n) ==
	        JOBD_OK);
	CHECK_EQ_INT(req, 0);
	CHECK_EQ_INT(failed, 1);
	CHECK_EQ_INT(n, 1);
	free(ended);
	CHECK_EQ_INT(state_of(s, a), JOB_FAILED);
	pgstore_close(s);
	db_drop();
}

struct notes {
	int n;
	char channel[32];
	char payload[64];
};

static void
on_note(const char *channel, const char *payload, void *arg)
{
	struct notes *nt = arg;

	nt->n++;
	snprintf(nt->channel, sizeof(nt->channel), "%s", channel);
	snprintf(nt->payload, sizeof(nt->payload), "%s", payload);
}

static void
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

	/* queued: cancelled at once */
	REQUIRE(pgstore_cancel(s, q, &st) == JOBD_OK);
	CHECK_EQ_INT(st, JOB_CANCELLED);
	REQUIRE(pgstore_get(s, q, 0, &g) == JOBD_OK);
	CHECK_EQ_INT(g.state, JOB_CANCELLED);
	CHECK(g.finished_at > 0);
	jobrec_clear(&g);
	/* ended: its state */
	REQUIRE(pgstore_cancel(s, q, &st) == JOBD_OK);
	CHECK_EQ_INT(st, JOB_CANCELLED);
	CHECK_EQ_INT(pgstore_cancel(s, 999999, &st), JOBD_NOT_FOUND);

	/* running: flagged, and its daemon is told */
	REQUIRE(pgstore_cancel(s, r, &st) == JOBD_OK);
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
	REQUIRE(pgstore_rescue(s, 0, &req, &failed, &ended, &n) == JOBD_OK);
	CHECK_EQ_INT(failed, 1);
	CHECK_EQ_INT(n, 1);
	free(ended);
	CHECK_EQ_INT(state_of(s, r), JOB_CANCELLED);
	pgstore_close(l);
	pgstore_close(s);
	db_drop();
}

static void
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
	REQUIRE(pgstore_doom(s, &doomed, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 0);
	REQUIRE(claim_ids(s, "A", 60000, 2, ids) == 1 && ids[0] == a);
	CHECK_EQ_INT(end_job(s, "A", a, JOB_FAILED), JOBD_OK);
	/* a failed: b is cancelled, then c */
	REQUIRE(pgstore_doom(s, &doomed, &n) == JOBD_OK);
	CHECK_EQ_INT(n, 2);
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

static void
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

static void
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

static void
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

static void
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

static void
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

TEST_MAIN({"open_errors", test_open_errors}, {"migrate", test_migrate},
          {"insert_get", test_insert_get}, {"idempotency", test_idempotency},
          {"idempotency_crossed", test_idempotency_crossed},
          {"claim_order", test_claim_order},
          {"claim_concurrent", test_claim_concurrent}, {"lease", test_lease},
          {"recover_own", test_recover_own}, {"cancel", test_cancel},
          {"doom_rerun", test_doom_rerun},
          {"pause_ticks_purge", test_pause_ticks_purge},
          {"notify_lead", test_notify_lead},
          {"killed_connection", test_killed_connection},
          {"damage", test_damage}, {"throughput", test_throughput})

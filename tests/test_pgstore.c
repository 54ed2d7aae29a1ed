/*
 * test_pgstore: the PostgreSQL SQL layer (storage/postgres) against a real
 * server. With JOBD_TEST_DB_URL set (ctest's fixture `postgres`) it uses
 * that server; otherwise it starts its own throwaway one, stopped and
 * removed at exit: both through tests/pg_cluster.sh (tests/pgtest.h).
 * Each test makes a database of its own and drops it after.
 *
 * One program, a file a concern; this one holds the table of tests and
 * the set-up they share (tests/test_pgstore.h):
 *   test_pgstore_open.c        opening: bad URLs, no server, no database,
 *                              no schema; the migration, four at once
 *   test_pgstore_insert.c      inserts and the reads of what they wrote
 *                              (get, list, counts); idempotency keys,
 *                              also two daemons crossing them
 *   test_pgstore_claim.c       the claim's order and kinds, many claimers
 *                              at once, leases, a daemon's recovery
 *   test_pgstore_control.c     cancel, dependents doomed and rerun, pause,
 *                              ticks, purge; notices and the leader
 *   test_pgstore_fault.c       a connection killed (in and out of a
 *                              transaction), damaged rows
 *   test_pgstore_throughput.c  rates and the claim's plan with many rows
 */

#include "pgtest.h"
#include "test_pgstore.h"

/* ---- the server and its databases -------------------------------------- */

const char *
server(void)
{
	return pgtest_url();
}

PGconn *
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
bool
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
long long
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

char db_url[256];
char db_name[64];

const char *
db_create(void)
{
	static int seq;
	const char *base = server();
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

void
db_drop(void)
{
	PGconn *c = raw(server());
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

pgstore *
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

void
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
uint64_t
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

uint64_t
add(pgstore *s, const char *kind, int32_t priority)
{
	struct jobrec r;

	mkjob(&r, kind, priority);
	return insert1(s, &r);
}

void
free_recs(struct jobrec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jobrec_clear(&v[i]);
	free(v);
}

/* Claims at most max of any kind as owner; their ids into ids[]. */
size_t
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

int
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

int
state_of(pgstore *s, uint64_t id)
{
	int st = -1;

	REQUIRE(pgstore_states(s, &id, 1, &st) == JOBD_OK);
	return st;
}

/* Waits (bounded) until the server's clock passes `at`. */
void
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

void
on_note(const char *channel, const char *payload, void *arg)
{
	struct notes *nt = arg;

	nt->n++;
	snprintf(nt->channel, sizeof(nt->channel), "%s", channel);
	snprintf(nt->payload, sizeof(nt->payload), "%s", payload);
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

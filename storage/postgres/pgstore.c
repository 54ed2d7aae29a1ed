/*
 * pgstore.c: the durable record of jobs in PostgreSQL, shared by several
 * jobd daemons: the connection, the conversion of errors, arguments and
 * results, transactions, notifications and leadership. pgschema.c holds
 * the schema and its migrations, pgsql.c the statements, pgjobs.c submit
 * and the workers' calls, pgread.c the reads and the control calls.
 *
 * The connection. A `pgstore` is one libpq connection, used by one thread
 * at a time, synchronously (PQexecPrepared). Every statement is prepared
 * once per connection, on its first use (pg_exec), so a connection made
 * again after a loss prepares again by itself, and a daemon that only
 * listens never prepares the claim. Arguments and results travel in
 * binary format: no escaping of the inputs and results (bytea), no
 * parsing of numbers, and the arrays that carry a batch (insert) are
 * built directly. Defaults the URL may override: application_name jobd
 * (pg_stat_activity shows which sessions are jobd's), connect_timeout
 * 5 s, TCP keepalives on both ends (a dead server or network is noticed
 * within about 25 s even by a connection that only listens, and the
 * server notices a vanished daemon as soon: its session's locks, the
 * leader's lock among them, are not held for the kernel's default two
 * hours), idle_in_transaction_session_timeout 60 s (a daemon stuck inside
 * a transaction does not hold its row locks for ever), statement_timeout
 * 30 s (a statement stuck behind a lock becomes an error the caller
 * retries, not a thread lost), jit off (every statement here is short:
 * compiling one costs more than running it, and the planner's estimate for a
 * claim with a LIMIT it cannot see can pass jit_above_cost). The URL is the
 * last keyword given to libpq, so what it says wins.
 *
 * Errors. libpq's are converted here, in pg_status(), by SQLSTATE: a lost
 * or refused connection and a server shutting down or starting (class 08,
 * 57P01..03, too many connections) JOBD_UNAVAILABLE; serialization
 * failure, deadlock, a statement in a transaction already failed
 * JOBD_ABORTED; unique violation JOBD_ALREADY_EXISTS; a value refused
 * (class 22: data exception) JOBD_INVALID_ARGUMENT; query canceled
 * (statement_timeout) JOBD_DEADLINE_EXCEEDED; out of memory, disk full
 * JOBD_RESOURCE_EXHAUSTED; an undefined table (no schema: migrate first)
 * JOBD_FAILED_PRECONDITION; anything else JOBD_INTERNAL. A connection
 * libpq sees as bad is JOBD_UNAVAILABLE whatever the statement said. The
 * message says what could not be done, then PostgreSQL's reason: "cannot
 * claim jobs: terminating connection due to administrator command".
 *
 * Text. PostgreSQL's text holds valid UTF-8 only, and refuses anything
 * else with an error that would abort the whole transaction, a group
 * commit's other jobs with it. So what a client sent is checked first: a
 * job whose kind or keys are not valid UTF-8 is refused alone
 * (PGSTORE_INS_INVALID), an idempotency key that is not cannot be found,
 * and a job's error text (a program's stderr may hold any bytes) is
 * stored with U+FFFD for each invalid byte: an end is never refused.
 * Params are bytea (job.h's blob), any bytes.
 *
 * Clocks. Every time pgstore decides by (a lease, a delayed job's
 * not_before against now, the start of a claimed job) is the server's
 * statement time, jobd_now() in SQL: daemons whose clocks disagree still
 * agree on which lease expired. Times the caller writes (created_at,
 * finished_at) are taken as given when not 0.
 *
 * Schema (version 1; pgschema.c has the text and the procedure to change
 * it):
 *
 *   jobs            one row per job: every field of struct jobrec, the
 *                   params as one bytea in job.h's format (the same
 *                   bytes the input checksum covers), `after` as bigint[],
 *                   state as smallint (enum job_state; a delayed job is
 *                   queued with not_before ahead, shown as JOB_SCHEDULED
 *                   by reads), owner and lease_until (ms, server clock) of
 *                   a running job, cancel_requested; input and result
 *                   with their CRC-32C (store.c "Checksums"). Ids come
 *                   from the sequence jobs_id_seq, so every daemon draws
 *                   distinct ids without asking the others.
 *   job_runs        the earlier runs of a job a Retry put back
 *   paused_kinds    one row per paused kind, cluster-wide
 *   schedule_ticks  the last firing of each periodic schedule
 *   jobd_schema     the versions applied
 *
 * Indexes, and why. The table grows by every job ever submitted until
 * retention purges it, so with a busy cluster it holds millions of ended
 * rows and a few thousand live ones. Every statement a worker or a Submit
 * runs must cost what the LIVE jobs cost, never the ended ones: the
 * indexes on live jobs are partial, so they hold only live rows, stay
 * small and hot in memory however big the table grows, and an ended row
 * leaves them at its end (PostgreSQL's partial indexes are maintained only
 * for rows matching their WHERE).
 *
 *   jobs_pkey (id)                         get, finish, progress, states,
 *                                          dependencies, list newest first
 *   jobs_ready (priority DESC, id)         the claim of any kind: walked in
 *       WHERE state = 1                    claim order, so the first
 *                                          runnable rows are the first
 *                                          read; the LIMIT stops the walk
 *   jobs_ready_kind (kind, priority DESC, id)
 *       WHERE state = 1                    the claim of the kinds a daemon
 *                                          runs (one walk per kind), and
 *                                          List of queued jobs of a kind
 *   jobs_running_lease (lease_until)       rescue: expired leases are
 *       WHERE state = 2                    the front of the index
 *   jobs_running_owner (owner)             renew, recover_own, counts of
 *       WHERE state = 2                    running jobs by kind
 *   jobs_waiting (id) WHERE state = 1      doom: queued jobs that run
 *       AND after <> '{}'                  after others, a small set
 *   jobs_idem_key UNIQUE (idem_key)        idempotency, cluster-wide: the
 *       WHERE idem_key IS NOT NULL         insert's ON CONFLICT DO NOTHING
 *   jobs_unique_key UNIQUE (unique_key)    a unique key is held while the
 *       WHERE state IN (1, 2)              job is queued or running
 *       AND unique_key IS NOT NULL
 *   jobs_ended (finished_at)               purge, oldest first
 *       WHERE state >= 3
 *   jobs_state_id (state, id)              List by state (and kind) newest
 *                                          first; counts (index-only)
 *   jobs_kind_id (kind, id)                List by kind newest first
 *
 * The last two are full indexes, for List and Stats; they cost every
 * insert two index entries more, which the insert's figure includes. The
 * claim never reads them: it walks the ready indexes, whose size is the
 * queue's. Ended rows are dead weight only for autovacuum (the table is
 * vacuumed at 5% of its rows; README: autovacuum).
 *
 * Claiming. One statement: the candidate rows are locked with FOR UPDATE
 * SKIP LOCKED while they are walked (another daemon's concurrent claim
 * skips them instead of waiting, walks on to the next, and neither takes
 * a job the other took), then updated to running with this owner and
 * lease. A daemon names the kinds it runs (the usual call): each of them
 * not paused is walked on its own in jobs_ready_kind, in claim order, up
 * to the room its concurrency cap leaves; the union is ordered and cut to
 * the number asked. So a paused kind, or one this daemon does not run,
 * costs a claim nothing however many jobs it has queued. What the walk
 * still passes over row by row, in claim order within a kind, are the
 * queued jobs that cannot run yet: delayed ones (not_before ahead) and
 * ones waiting for a job they run after; a kind with very many of those
 * ahead of its runnable jobs makes each claim of it cost them. The claim
 * of any kind (no list given) walks jobs_ready once and filters paused
 * kinds row by row. Rows locked but not taken are released at the end
 * of the statement's transaction: call it outside a long transaction.
 *
 * Idempotency. The batch insert draws its ids from the sequence (one
 * statement), then inserts every row with one INSERT ... SELECT FROM
 * unnest(arrays) ON CONFLICT DO NOTHING RETURNING id: one round trip and
 * one statement for the batch, and a taken key never aborts the
 * transaction (a unique violation would abort the whole group commit).
 * The rows not inserted are looked up by key in one more statement. A key
 * another transaction is inserting makes the insert wait for that one's
 * end; so the rows go in in key order (their ids keep the batch's order),
 * and two daemons given the same keys at once wait for each other instead
 * of deadlocking.
 *
 * Leadership and migrations use advisory locks on the key pair
 * (PGSTORE_LOCK_NS, 1) and (PGSTORE_LOCK_NS, 2): the leader's is
 * session-level (whoever's connection holds it leads; it is released when
 * that connection ends), the migration's transaction-level.
 */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgstore_int.h"

/* ---- errors ---------------------------------------------------------- */

int
pg_seterr(pgstore *s, int rv, const char *fmt, ...)
{
	va_list ap;
	size_t l;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	/* libpq's messages end with a newline, some have more lines of
	 * advice ("This probably means..."): keep the first */
	s->errmsg[strcspn(s->errmsg, "\n")] = '\0';
	l = strlen(s->errmsg);
	while (l > 0 && s->errmsg[l - 1] == ' ')
		s->errmsg[--l] = '\0';
	return rv;
}

/* The status of a failed statement (see "Errors" at the top). */
static int
pg_status(PGconn *c, const PGresult *r)
{
	const char *st =
	    r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (c == NULL || PQstatus(c) != CONNECTION_OK)
		return JOBD_UNAVAILABLE;
	if (st == NULL)
		return r == NULL ? JOBD_RESOURCE_EXHAUSTED : JOBD_INTERNAL;
	if (strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 ||
	    strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0 ||
	    strcmp(st, "53300") == 0)
		return JOBD_UNAVAILABLE;
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
	    strcmp(st, "25P02") == 0)
		return JOBD_ABORTED;
	if (strcmp(st, "23505") == 0)
		return JOBD_ALREADY_EXISTS;
	if (strncmp(st, "22", 2) == 0) /* data exception: a value refused */
		return JOBD_INVALID_ARGUMENT;
	if (strcmp(st, "57014") == 0)
		return JOBD_DEADLINE_EXCEEDED;
	if (strncmp(st, "53", 2) == 0)
		return JOBD_RESOURCE_EXHAUSTED;
	if (strcmp(st, "42P01") == 0 || strcmp(st, "42883") == 0 ||
	    strcmp(st, "42P07") == 0)
		return JOBD_FAILED_PRECONDITION;
	if (strncmp(st, "28", 2) == 0)
		return JOBD_UNAUTHENTICATED;
	return JOBD_INTERNAL;
}

/* Records the error of r (may be NULL) for `what`; returns its status. */
static int
pg_fail(pgstore *s, const PGresult *r, const char *what)
{
	int rv = pg_status(s->conn, r);
	const char *m = r != NULL ? PQresultErrorMessage(r) : "";

	if (m == NULL || *m == '\0')
		m = s->conn != NULL ? PQerrorMessage(s->conn) : "";
	if (m == NULL || *m == '\0')
		m = rv == JOBD_RESOURCE_EXHAUSTED ? "out of memory"
		                                  : "connection lost";
	/* "ERROR:  x" from the server: keep x */
	if (strncmp(m, "ERROR:  ", 8) == 0)
		m += 8;
	else if (strncmp(m, "FATAL:  ", 8) == 0)
		m += 8;
	return pg_seterr(s, rv, "cannot %s: %s", what, m);
}

const char *
pgstore_errmsg(pgstore *s)
{
	return s->errmsg;
}

/* ---- connection -------------------------------------------------------- */

static PGconn *
pg_connect(const char *url)
{
	/* the URL last: what it says overrides these */
	const char *const keys[] = {"application_name",
	                            "connect_timeout",
	                            "keepalives",
	                            "keepalives_idle",
	                            "keepalives_interval",
	                            "keepalives_count",
	                            "client_encoding",
	                            "options",
	                            "dbname",
	                            NULL};
	const char *const vals[] = {
	    "jobd",
	    "5",
	    "1",
	    "10",
	    "5",
	    "3",
	    "UTF8",
	    "-c statement_timeout=30000 -c client_min_messages=warning"
	    " -c jit=off -c idle_in_transaction_session_timeout=60000"
	    " -c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5"
	    " -c tcp_keepalives_count=3",
	    url,
	    NULL};

	return PQconnectdbParams(keys, vals, 1);
}

/* The status of a failed connection, from libpq's message. */
static int
pg_connect_status(const char *msg)
{
	if (strstr(msg, "authentication failed") != NULL ||
	    strstr(msg, "no password supplied") != NULL ||
	    strstr(msg, "no pg_hba.conf entry") != NULL)
		return JOBD_UNAUTHENTICATED;
	if (strstr(msg, "does not exist") != NULL)
		return JOBD_FAILED_PRECONDITION;
	return JOBD_UNAVAILABLE;
}

/* Notices (NOTICE, WARNING from the server) are not errors: a daemon's
 * log is not libpq's stderr. */
static void
pg_notice(void *arg, const char *msg)
{
	(void) arg;
	(void) msg;
}

/* Connects s->conn; on failure the message is in s->errmsg. */
static int
pg_open_conn(pgstore *s)
{
	int rv;

	memset(s->prepared, 0, sizeof(s->prepared));
	s->leading = false;
	if ((s->conn = pg_connect(s->url)) == NULL)
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot connect to PostgreSQL: out of memory");
	if (PQstatus(s->conn) == CONNECTION_OK) {
		PQsetNoticeProcessor(s->conn, pg_notice, NULL);
		return JOBD_OK;
	}
	rv = pg_connect_status(PQerrorMessage(s->conn));
	pg_seterr(s, rv, "cannot connect to PostgreSQL: %s",
	          PQerrorMessage(s->conn));
	PQfinish(s->conn);
	s->conn = NULL;
	return rv;
}

int
pgstore_open(pgstore **sp, const char *url, char *err, size_t errlen)
{
	PQconninfoOption *opts;
	char *perr = NULL;
	pgstore *s;
	int rv;

	*sp = NULL;
	if ((opts = PQconninfoParse(url, &perr)) == NULL) {
		size_t l;
		snprintf(err, errlen, "bad PostgreSQL URL: %s",
		         perr != NULL ? perr : "out of memory");
		PQfreemem(perr);
		l = strlen(err);
		while (l > 0 && err[l - 1] == '\n')
			err[--l] = '\0';
		return JOBD_INVALID_ARGUMENT;
	}
	PQconninfoFree(opts);
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->url = strdup(url)) == NULL) {
		free(s);
		snprintf(err, errlen,
		         "cannot connect to PostgreSQL: out of "
		         "memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	if ((rv = pg_open_conn(s)) != JOBD_OK) {
		snprintf(err, errlen, "%s", s->errmsg);
		pgstore_close(s);
		return rv;
	}
	*sp = s;
	return JOBD_OK;
}

void
pgstore_close(pgstore *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL)
		PQfinish(s->conn);
	free(s->url);
	free(s);
}

int
pgstore_reconnect(pgstore *s)
{
	if (s->conn != NULL) {
		PQfinish(s->conn);
		s->conn = NULL;
	}
	return pg_open_conn(s);
}

bool
pgstore_connected(pgstore *s)
{
	return s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK;
}

int
pgstore_socket(pgstore *s)
{
	return pgstore_connected(s) ? PQsocket(s->conn) : -1;
}

/* ---- statements ---------------------------------------------------------- */

static int
pg_noconn(pgstore *s, const char *what)
{
	return pg_seterr(s, JOBD_UNAVAILABLE,
	                 "cannot %s: not connected to "
	                 "PostgreSQL",
	                 what);
}

PGresult *
pg_exec(pgstore *s, enum pg_stmt st, struct pgargs *a, const char *what,
        int *rv)
{
	static const int fmts[PG_MAX_ARGS] = {1, 1, 1, 1, 1, 1, 1, 1,
	                                      1, 1, 1, 1, 1, 1, 1, 1};
	PGresult *r;
	ExecStatusType es;

	if (a->oom) {
		pga_free(a);
		*rv = pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                "cannot %s: out of memory", what);
		return NULL;
	}
	if (s->conn == NULL) {
		pga_free(a);
		*rv = pg_noconn(s, what);
		return NULL;
	}
	if (!s->prepared[st]) {
		int np;
		const Oid *types;
		const char *sql = pg_stmt_sql(st, &np, &types);

		r = PQprepare(s->conn, pg_stmt_name(st), sql, np, types);
		if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
			*rv = pg_fail(s, r, what);
			PQclear(r);
			pga_free(a);
			return NULL;
		}
		PQclear(r);
		s->prepared[st] = true;
	}
	r = PQexecPrepared(s->conn, pg_stmt_name(st), a->n, a->v, a->len, fmts,
	                   1);
	pga_free(a);
	es = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK) {
		*rv = pg_fail(s, r, what);
		PQclear(r);
		return NULL;
	}
	*rv = JOBD_OK;
	return r;
}

int
pg_run(pgstore *s, const char *sql, const char *what)
{
	PGresult *r;
	int rv = JOBD_OK;

	if (s->conn == NULL)
		return pg_noconn(s, what);
	r = PQexec(s->conn, sql);
	if (r == NULL || (PQresultStatus(r) != PGRES_COMMAND_OK &&
	                  PQresultStatus(r) != PGRES_TUPLES_OK))
		rv = pg_fail(s, r, what);
	PQclear(r);
	return rv;
}

PGresult *
pg_query(pgstore *s, const char *sql, const char *what, int *rv)
{
	PGresult *r;

	if (s->conn == NULL) {
		*rv = pg_noconn(s, what);
		return NULL;
	}
	r = PQexec(s->conn, sql);
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
		*rv = pg_fail(s, r, what);
		PQclear(r);
		return NULL;
	}
	if (PQntuples(r) < 1) {
		PQclear(r);
		*rv = pg_seterr(s, JOBD_INTERNAL, "cannot %s: no row", what);
		return NULL;
	}
	*rv = JOBD_OK;
	return r;
}

/* ---- arguments ------------------------------------------------------------
 */

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t) (v >> 32));
	put32(p + 4, (uint32_t) v);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
	       (uint32_t) p[2] << 8 | p[3];
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t) get32(p) << 32 | get32(p + 4);
}

/* The next argument slot, holding a buffer of len bytes of its own (NULL:
 * none, or out of memory: a->oom). */
static uint8_t *
pga_slot(struct pgargs *a, size_t len)
{
	uint8_t *b = NULL;
	int i;

	if (a->n >= PG_MAX_ARGS) {
		a->oom = true;
		return NULL;
	}
	i = a->n++;
	a->v[i] = NULL;
	a->len[i] = 0;
	a->own[i] = NULL;
	if (len == 0)
		return NULL;
	if (len > INT32_MAX || (b = malloc(len)) == NULL) {
		a->oom = true;
		return NULL;
	}
	a->own[i] = (char *) b;
	a->v[i] = (char *) b;
	a->len[i] = (int) len;
	return b;
}

void
pga_i64(struct pgargs *a, int64_t v)
{
	uint8_t *b = pga_slot(a, 8);

	if (b != NULL)
		put64(b, (uint64_t) v);
}

void
pga_i32(struct pgargs *a, int32_t v)
{
	uint8_t *b = pga_slot(a, 4);

	if (b != NULL)
		put32(b, (uint32_t) v);
}

void
pga_bool(struct pgargs *a, bool v)
{
	uint8_t *b = pga_slot(a, 1);

	if (b != NULL)
		b[0] = v ? 1 : 0;
}

void
pga_text(struct pgargs *a, const char *str, bool empty_null)
{
	size_t l = str != NULL ? strlen(str) : 0;

	pga_slot(a, 0);
	if (a->oom || str == NULL || (empty_null && l == 0))
		return;
	if (l > INT32_MAX) {
		a->oom = true;
		return;
	}
	a->v[a->n - 1] = str;
	a->len[a->n - 1] = (int) l;
}

void
pga_bytes(struct pgargs *a, const void *p, size_t len)
{
	pga_slot(a, 0);
	if (a->oom || len == 0)
		return;
	if (len > INT32_MAX) {
		a->oom = true;
		return;
	}
	a->v[a->n - 1] = p;
	a->len[a->n - 1] = (int) len;
}

/* A binary one-dimensional array of n elements of type oid, whose
 * elements (with their 4-byte length words) take `body` bytes: the
 * header written, *p at the first element. NULL when out of memory. */
static uint8_t *
pga_array(struct pgargs *a, Oid oid, size_t n, size_t body, bool hasnull,
          uint8_t **p)
{
	size_t hdr = n > 0 ? 20 : 12;
	uint8_t *b;

	if (body > SIZE_MAX - hdr || (b = pga_slot(a, hdr + body)) == NULL)
		return NULL;
	put32(b, n > 0 ? 1 : 0);
	put32(b + 4, hasnull ? 1 : 0);
	put32(b + 8, oid);
	if (n > 0) {
		put32(b + 12, (uint32_t) n);
		put32(b + 16, 1);
	}
	*p = b + hdr;
	return b;
}

void
pga_i64_array(struct pgargs *a, const int64_t *v, size_t n)
{
	uint8_t *p;

	if (pga_array(a, 20, n, n * 12, false, &p) == NULL)
		return;
	for (size_t i = 0; i < n; i++, p += 12) {
		put32(p, 8);
		put64(p + 4, (uint64_t) v[i]);
	}
}

void
pga_i32_array(struct pgargs *a, const int32_t *v, size_t n)
{
	uint8_t *p;

	if (pga_array(a, 23, n, n * 8, false, &p) == NULL)
		return;
	for (size_t i = 0; i < n; i++, p += 8) {
		put32(p, 4);
		put32(p + 4, (uint32_t) v[i]);
	}
}

void
pga_text_array(struct pgargs *a, const char *const *s, size_t n,
               bool empty_null)
{
	size_t body = 0;
	bool hasnull = false;
	uint8_t *p;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == NULL || (empty_null && s[i][0] == '\0'))
			hasnull = true;
		else
			body += strlen(s[i]);
		body += 4;
	}
	if (pga_array(a, 25, n, body, hasnull, &p) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == NULL || (empty_null && s[i][0] == '\0')) {
			put32(p, UINT32_MAX); /* -1: NULL */
			p += 4;
			continue;
		}
		size_t l = strlen(s[i]);
		put32(p, (uint32_t) l);
		memcpy(p + 4, s[i], l);
		p += 4 + l;
	}
}

void
pga_bytea_array(struct pgargs *a, const void *const *ptr, const size_t *len,
                size_t n)
{
	size_t body = 0;
	bool hasnull = false;
	uint8_t *p;

	for (size_t i = 0; i < n; i++) {
		if (len[i] > INT32_MAX || body > SIZE_MAX / 2) {
			a->oom = true;
			pga_slot(a, 0);
			return;
		}
		body += 4 + len[i];
		if (len[i] == 0)
			hasnull = true;
	}
	if (pga_array(a, 17, n, body, hasnull, &p) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (len[i] == 0) {
			put32(p, UINT32_MAX);
			p += 4;
			continue;
		}
		put32(p, (uint32_t) len[i]);
		memcpy(p + 4, ptr[i], len[i]);
		p += 4 + len[i];
	}
}

void
pga_free(struct pgargs *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->own[i]);
	a->n = 0;
}

/* ---- values ---------------------------------------------------------------
 */

int64_t
pgv_i64(const PGresult *r, int row, int col)
{
	const uint8_t *p;

	if (PQgetisnull(r, row, col))
		return 0;
	p = (const uint8_t *) PQgetvalue(r, row, col);
	switch (PQgetlength(r, row, col)) {
	case 8:
		return (int64_t) get64(p);
	case 4:
		return (int32_t) get32(p);
	case 2:
		return (int16_t) ((uint16_t) p[0] << 8 | p[1]);
	case 1:
		return p[0];
	default:
		return 0;
	}
}

bool
pgv_bool(const PGresult *r, int row, int col)
{
	return !PQgetisnull(r, row, col) && PQgetlength(r, row, col) == 1 &&
	       PQgetvalue(r, row, col)[0] != 0;
}

const char *
pgv_text(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

char *
pgv_strdup(const PGresult *r, int row, int col, bool *oom)
{
	const char *t = pgv_text(r, row, col);
	char *c;

	if (t == NULL)
		return NULL;
	if ((c = strdup(t)) == NULL)
		*oom = true;
	return c;
}

int
pgv_i64_array(const PGresult *r, int row, int col, uint64_t **v, size_t *n)
{
	const uint8_t *p;
	size_t len, cnt;
	uint64_t *out;

	*v = NULL;
	*n = 0;
	if (PQgetisnull(r, row, col))
		return 0;
	p = (const uint8_t *) PQgetvalue(r, row, col);
	len = (size_t) PQgetlength(r, row, col);
	if (len < 12 || get32(p + 8) != 20)
		return -1;
	if (get32(p) == 0)
		return 0;
	if (get32(p) != 1 || len < 20 || get32(p + 4) != 0)
		return -1;
	cnt = get32(p + 12);
	if (cnt == 0)
		return 0;
	if (cnt > (len - 20) / 12 || (out = calloc(cnt, sizeof(*out))) == NULL)
		return -1;
	p += 20;
	for (size_t i = 0; i < cnt; i++, p += 12) {
		if (get32(p) != 8) {
			free(out);
			return -1;
		}
		out[i] = get64(p + 4);
	}
	*v = out;
	*n = cnt;
	return 0;
}

/* ---- params ---------------------------------------------------------------
 */

int
pg_params_encode(pgstore *s, const struct jobrec *r, uint8_t **bp, size_t *lenp)
{
	const char *why = NULL;
	size_t bad = 0;
	int rv = job_params_encode(r->params, r->nparams, bp, lenp, &bad, &why);

	if (rv == JOBD_RESOURCE_EXHAUSTED)
		return pg_seterr(s, rv, "cannot insert job: out of memory");
	if (rv != JOBD_OK)
		return pg_seterr(s, rv, "cannot insert job: %s",
		                 why != NULL ? why : "bad params");
	return JOBD_OK;
}

/* ---- text ---------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at p, or 0 (pg_utf8_islegal's
 * rules). */
static size_t
utf8_seq(const unsigned char *p)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80,
		              hi = c == 0xed ? 0x9f : 0xbf;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3
		                                                         : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80,
		              hi = c == 0xf4 ? 0x8f : 0xbf;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
		               (p[3] & 0xc0) == 0x80
		           ? 4
		           : 0;
	}
	return 0;
}

bool
pg_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p != 0) {
		size_t l = utf8_seq(p);
		if (l == 0)
			return false;
		p += l;
	}
	return true;
}

const char *
pg_utf8_fix(const char *s, char **own)
{
	const unsigned char *p = (const unsigned char *) s;
	char *out, *o;

	*own = NULL;
	if (s == NULL || pg_utf8_valid(s))
		return s;
	if ((out = malloc(strlen(s) * 3 + 1)) == NULL)
		return NULL;
	for (o = out; *p != 0;) {
		size_t l = utf8_seq(p);
		if (l == 0) {
			memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD */
			o += 3;
			p++;
			continue;
		}
		memcpy(o, p, l);
		o += l;
		p += l;
	}
	*o = '\0';
	*own = out;
	return out;
}

/* ---- transactions, clock
 * ----------------------------------------------------- */

int
pgstore_begin(pgstore *s)
{
	return pg_run(s, "BEGIN", "begin a transaction");
}

int
pgstore_commit(pgstore *s)
{
	PGresult *r;
	int rv = JOBD_OK;

	if (s->conn == NULL)
		return pg_noconn(s, "commit");
	r = PQexec(s->conn, "COMMIT");
	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
		rv = pg_fail(s, r, "commit");
	else if (strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
		/* a statement in it had failed: nothing was committed */
		rv = pg_seterr(s, JOBD_ABORTED,
		               "cannot commit: the transaction had failed and "
		               "was rolled back");
	PQclear(r);
	return rv;
}

int
pgstore_rollback(pgstore *s)
{
	if (!pgstore_connected(s))
		return JOBD_OK; /* the server rolled it back */
	return pg_run(s, "ROLLBACK", "roll back");
}

int
pgstore_now(pgstore *s, int64_t *now)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if ((r = pg_exec(s, PGS_NOW, &a, "read the server's clock", &rv)) ==
	    NULL)
		return rv;
	*now = pgv_i64(r, 0, 0);
	PQclear(r);
	return JOBD_OK;
}

/* ---- notifications
 * ----------------------------------------------------------- */

int
pgstore_notify(pgstore *s, const char *channel, const char *payload)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	pga_text(&a, channel, false);
	pga_text(&a, payload != NULL ? payload : "", false);
	if ((r = pg_exec(s, PGS_NOTIFY, &a, "notify", &rv)) == NULL)
		return rv;
	PQclear(r);
	return JOBD_OK;
}

int
pgstore_listen(pgstore *s, const char *channel)
{
	char sql[128];
	char *q;
	int rv;

	if (s->conn == NULL)
		return pg_noconn(s, "listen");
	if ((q = PQescapeIdentifier(s->conn, channel, strlen(channel))) == NULL)
		return pg_fail(s, NULL, "listen");
	if (strlen(q) + 8 > sizeof(sql)) {
		PQfreemem(q);
		return pg_seterr(s, JOBD_INVALID_ARGUMENT,
		                 "cannot listen: channel name too long");
	}
	snprintf(sql, sizeof(sql), "LISTEN %s", q);
	PQfreemem(q);
	rv = pg_run(s, sql, "listen");
	return rv;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
pgstore_wait(pgstore *s, int timeout_ms,
             void (*fn)(const char *channel, const char *payload, void *arg),
             void *arg, size_t *np)
{
	int64_t deadline = timeout_ms > 0 ? mono_ms() + timeout_ms : 0;
	size_t n = 0;

	if (np != NULL)
		*np = 0;
	if (!pgstore_connected(s))
		return pg_noconn(s, "wait for notifications");
	for (;;) {
		PGnotify *nf;
		struct pollfd pfd;
		int wait;

		if (!PQconsumeInput(s->conn) || !pgstore_connected(s))
			return pg_fail(s, NULL, "wait for notifications");
		while ((nf = PQnotifies(s->conn)) != NULL) {
			fn(nf->relname, nf->extra, arg);
			PQfreemem(nf);
			n++;
		}
		if (np != NULL)
			*np = n;
		if (n > 0 || timeout_ms == 0)
			return JOBD_OK;
		if (timeout_ms < 0)
			wait = -1;
		else {
			int64_t left = deadline - mono_ms();
			if (left <= 0)
				return JOBD_OK;
			wait = left > INT32_MAX ? INT32_MAX : (int) left;
		}
		pfd.fd = PQsocket(s->conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			return pg_seterr(s, JOBD_INTERNAL,
			                 "cannot wait for notifications: %s",
			                 strerror(errno));
	}
}

/* ---- leadership
 * ---------------------------------------------------------------- */

int
pgstore_try_lead(pgstore *s, bool *leading)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	*leading = false;
	/* the lock stacks: take it once, then only ask whether we hold it */
	r = pg_exec(s, s->leading ? PGS_LEADING : PGS_LEAD, &a,
	            "take the leader lock", &rv);
	if (r == NULL)
		return rv;
	*leading = s->leading = pgv_bool(r, 0, 0);
	PQclear(r);
	return JOBD_OK;
}

int
pgstore_unlead(pgstore *s)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if (!s->leading)
		return JOBD_OK;
	if ((r = pg_exec(s, PGS_UNLEAD, &a, "release the leader lock", &rv)) ==
	    NULL)
		return rv;
	PQclear(r);
	s->leading = false;
	return JOBD_OK;
}

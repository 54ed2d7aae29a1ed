/*
 * pgschema.c: pgstore's schema and its migrations (pgstore.c's opening
 * comment describes the tables and their indexes).
 *
 * The version applied is the highest row of table jobd_schema; version N
 * is what pg_migrations[0..N-1] build, and PGSTORE_SCHEMA_VERSION is the
 * length of that table. Each step runs in its own transaction, which
 * first takes pg_advisory_xact_lock(PGSTORE_LOCK_NS, 2): daemons starting
 * together run the steps one at a time, and the second finds them done.
 * A crash leaves the old version or the new, never half (PostgreSQL's DDL
 * is transactional).
 *
 * To change the schema:
 *   1. Append one entry to pg_migrations: the SQL that turns version N-1
 *      into version N. PGSTORE_SCHEMA_VERSION (pgstore.h) follows.
 *   2. Never edit or reorder an entry that has shipped.
 *   3. Mind the daemons of the old version still running against the
 *      database during a rolling upgrade: add columns with defaults, keep
 *      the old ones until no old daemon is left; a change the old code
 *      cannot live with needs all daemons stopped (say so in the README).
 *   4. Update the statements in pgsql.c and add a test that migrates a
 *      database of version N-1 with data in it.
 * A database at a higher version than this build's belongs to a newer
 * jobd and is refused, not touched.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgstore_int.h"

/* The namespace of jobd's advisory locks ("jobd"); key 1 leader, key 2
 * migrations. */
#define PGSTORE_LOCK_NS "1785684580"

static const char *const pg_migrations[] = {
    /* 0 -> 1 */
    "CREATE FUNCTION jobd_now() RETURNS bigint LANGUAGE sql STABLE"
    " AS $$ SELECT floor(extract(epoch FROM statement_timestamp())"
    " * 1000)::bigint $$;"
    "CREATE SEQUENCE jobs_id_seq AS bigint;"
    "CREATE TABLE jobs ("
    " id bigint PRIMARY KEY,"
    " kind text NOT NULL,"
    " params bytea NOT NULL,"
    " priority integer NOT NULL DEFAULT 0,"
    " state smallint NOT NULL CHECK (state BETWEEN 1 AND 5),"
    " attempts bigint NOT NULL DEFAULT 0,"
    " max_attempts bigint NOT NULL DEFAULT 0,"
    " timeout_ms bigint NOT NULL DEFAULT 0,"
    " progress_done bigint NOT NULL DEFAULT 0,"
    " progress_total bigint NOT NULL DEFAULT 0,"
    " error text,"
    " idem_key text,"
    " unique_key text,"
    " after bigint[] NOT NULL DEFAULT '{}',"
    " created_at bigint NOT NULL,"
    " started_at bigint NOT NULL DEFAULT 0,"
    " finished_at bigint NOT NULL DEFAULT 0,"
    " not_before bigint NOT NULL DEFAULT 0,"
    " recoveries bigint NOT NULL DEFAULT 0,"
    " reruns bigint NOT NULL DEFAULT 0,"
    " owner text,"
    " lease_until bigint NOT NULL DEFAULT 0,"
    " cancel_requested boolean NOT NULL DEFAULT false,"
    " input_crc bigint NOT NULL,"
    " result_crc bigint NOT NULL,"
    " input bytea,"
    " result bytea);"
    "ALTER SEQUENCE jobs_id_seq OWNED BY jobs.id;"
    /* every job leaves two dead row versions (its claim, its end) and
     * dead entries in the partial indexes the claim walks: vacuum at 5%
     * of the table, not 20%, so a table of millions is not left for
     * hundreds of thousands of jobs (README: autovacuum) */
    "ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.05,"
    " autovacuum_analyze_scale_factor = 0.02);"
    "CREATE INDEX jobs_ready ON jobs (priority DESC, id)"
    " WHERE state = 1;"
    "CREATE INDEX jobs_ready_kind ON jobs (kind, priority DESC, id)"
    " WHERE state = 1;"
    "CREATE INDEX jobs_running_lease ON jobs (lease_until)"
    " WHERE state = 2;"
    "CREATE INDEX jobs_running_owner ON jobs (owner) WHERE state = 2;"
    "CREATE INDEX jobs_waiting ON jobs (id)"
    " WHERE state = 1 AND after <> '{}';"
    "CREATE UNIQUE INDEX jobs_idem_key ON jobs (idem_key)"
    " WHERE idem_key IS NOT NULL;"
    "CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)"
    " WHERE state IN (1, 2) AND unique_key IS NOT NULL;"
    "CREATE INDEX jobs_ended ON jobs (finished_at) WHERE state >= 3;"
    "CREATE INDEX jobs_state_id ON jobs (state, id);"
    "CREATE INDEX jobs_kind_id ON jobs (kind, id);"
    "CREATE TABLE job_runs ("
    " job_id bigint NOT NULL,"
    " seq bigint NOT NULL,"
    " state smallint NOT NULL,"
    " error text,"
    " attempts bigint NOT NULL,"
    " started_at bigint NOT NULL,"
    " finished_at bigint NOT NULL,"
    " PRIMARY KEY (job_id, seq));"
    "CREATE TABLE paused_kinds ("
    " kind text PRIMARY KEY,"
    " paused_at bigint NOT NULL);"
    "CREATE TABLE schedule_ticks ("
    " name text PRIMARY KEY,"
    " at bigint NOT NULL,"
    " job_id bigint NOT NULL);",
};

_Static_assert(sizeof(pg_migrations) / sizeof(pg_migrations[0]) ==
                   PGSTORE_SCHEMA_VERSION,
               "one migration per schema version");

/* The version applied, under the migration lock (in a transaction). */
static int
pg_version(pgstore *s, int *version)
{
	PGresult *r;
	int rv;

	if ((rv = pg_run(s,
	                 "SELECT pg_advisory_xact_lock(" PGSTORE_LOCK_NS ", 2)",
	                 "lock the schema")) != JOBD_OK ||
	    (rv = pg_run(s,
	                 "CREATE TABLE IF NOT EXISTS jobd_schema ("
	                 " version integer PRIMARY KEY,"
	                 " applied_at timestamptz NOT NULL DEFAULT now())",
	                 "create table jobd_schema")) != JOBD_OK)
		return rv;
	if ((r = pg_query(s,
	                  "SELECT coalesce(max(version), 0) FROM jobd_schema",
	                  "read the schema version", &rv)) == NULL)
		return rv;
	*version = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return JOBD_OK;
}

int
pgstore_migrate(pgstore *s, int *version, char *err, size_t errlen)
{
	int v = 0, first = -1, rv;

	/* sequences AS bigint (10); the rest is older */
	if (pgstore_connected(s) && PQserverVersion(s->conn) < 100000) {
		rv = pg_seterr(s, JOBD_FAILED_PRECONDITION,
		               "PostgreSQL %d.%d is too old: jobd needs 10 or "
		               "later",
		               PQserverVersion(s->conn) / 10000,
		               PQserverVersion(s->conn) / 100 % 100);
		goto fail;
	}
	for (;;) {
		char sql[64];

		if ((rv = pgstore_begin(s)) != JOBD_OK)
			goto fail;
		if ((rv = pg_version(s, &v)) != JOBD_OK)
			goto fail_tx;
		if (first < 0)
			first = v;
		if (v > PGSTORE_SCHEMA_VERSION) {
			pgstore_rollback(s);
			rv = pg_seterr(s, JOBD_FAILED_PRECONDITION,
			               "database schema version %d is newer "
			               "than this jobd's (%d); upgrade jobd",
			               v, PGSTORE_SCHEMA_VERSION);
			goto fail;
		}
		if (v == PGSTORE_SCHEMA_VERSION) {
			if ((rv = pgstore_commit(s)) != JOBD_OK)
				goto fail;
			break;
		}
		snprintf(sql, sizeof(sql),
		         "INSERT INTO jobd_schema (version) VALUES (%d)",
		         v + 1);
		if ((rv = pg_run(s, pg_migrations[v], "migrate the schema")) !=
		        JOBD_OK ||
		    (rv = pg_run(s, sql, "migrate the schema")) != JOBD_OK)
			goto fail_tx;
		if ((rv = pgstore_commit(s)) != JOBD_OK)
			goto fail;
	}
	if (version != NULL)
		*version = first;
	return JOBD_OK;

fail_tx:
	pgstore_rollback(s);
fail:
	snprintf(err, errlen, "%s", pgstore_errmsg(s));
	return rv;
}

/*
 * store.c: the durable record of jobs, in SQLite: the connection, the
 * schema and its migrations, every statement, and the `jobs` table
 * (store_runs.c: the smaller tables of version 3 beside it).
 *
 * A `store` is one connection and the statements it runs, all prepared once
 * in store_open() with SQLITE_PREPARE_PERSISTENT and reset after every use,
 * so a failed call never leaves a statement half-run. The connection runs in
 * WAL mode with synchronous=FULL (a COMMIT that returned is on disk) and
 * waits up to STORE_BUSY_MS for a lock, because the daemon's writer thread
 * and its reader threads each hold their own connection to the same file.
 * Since a store is used by one thread at a time, the connection is opened
 * in SQLite's multi-thread mode (SQLITE_OPEN_NOMUTEX), which asks exactly
 * that, and spares a mutex in every sqlite3_column_*() call: a sixth of
 * the time of a scan.
 *
 * Opening. A file we are given may be anything: a new file, a jobd database,
 * another program's SQLite database, a newer jobd's database, a text file, a
 * device. We look before we touch: a path that is not a regular file (a
 * device, a FIFO, a directory, a socket) is refused before SQLite opens it
 * (it would create -wal and -shm files beside it), and the first thing
 * store_open() runs on a file is a read of
 * PRAGMA user_version and of the number of objects in sqlite_schema, which
 * fails with SQLITE_NOTADB on a file that is not a database. Only when that
 * read says the file is ours (or empty) does anything write to it: setting
 * journal_mode=WAL writes the header, so it comes after the checks; a
 * current-version database also has its statements prepared before that, so
 * one that says it is ours but lacks our table is refused untouched too.
 * Two things would still write to a file we refuse, and are avoided:
 * reading a WAL database creates its -wal and -shm files (so a read-only
 * file is refused before the first read), and the last connection to close
 * checkpoints the WAL into the file (so a refused database whose -wal was
 * there before closes without: a -wal file of another database next to
 * ours would otherwise be written into it).
 *
 * A store opened by store_open_readonly() (the daemon's readers) writes no
 * row (PRAGMA query_only) and works on a read-only file or filesystem. It
 * is opened read-write all the same when the file allows (SQLite falls
 * back to read-only by itself when it does not): a read-only connection
 * that is the last to close leaves the WAL as it is, while a read-write
 * one checkpoints it into the file and removes it, so that after a clean
 * stop the database is the one file.
 * Schema objects are not trusted to run functions with side effects
 * (SQLITE_DBCONFIG_TRUSTED_SCHEMA off) and SQL cannot corrupt the file on
 * purpose (SQLITE_DBCONFIG_DEFENSIVE).
 *
 * Schema (version 3). One STRICT table `jobs`, one row per job, with a
 * column for every field of struct jobrec and the two checksums. The state
 * is stored as its name ('queued', 'running', ...) so the file reads well
 * in the sqlite3 shell; a scheduled job is a `queued` row whose not_before
 * is ahead (JOB_SCHEDULED is a state of memory only). `reruns` counts the
 * times Retry put the job back, `unique_key` is held while the job has not
 * ended (by the scheduler; no index), `after` holds the ids it runs after
 * (u64, little-endian, one after the other; NULL: none). The big blobs, result
 * and input, are the last columns: SQLite keeps the tail of a long row in
 * overflow pages, and what lists and scans read (the checksums too) is then all
 * in the row's first page. An empty input or result is NULL, and so is an empty
 * idempotency key (the wire's "no key"). `recoveries` counts the starts of jobd
 * that found the job `running`, each after jobd stopped uncleanly while it ran
 * (store_recover(): at the cap the job is failed instead of re-queued, so
 * that a job that crashes jobd is not run again at every start). Indexes:
 *
 *   jobs_state (state)             list by state newest first, scan by state
 *                                  oldest first, recover, counts
 *   jobs_kind (kind)               list by kind newest first
 *   jobs_state_kind (state, kind)  list by state and kind newest first
 *   jobs_finished (finished_at)    purge; partial, terminal jobs only
 *
 * (every index ends with the rowid, so "state = ? ORDER BY id" walks it in
 * order) and the implicit unique index on idem_key. EXPLAIN QUERY PLAN shows
 * each statement on its index, none sorting; the purge names its index
 * (INDEXED BY), which the planner otherwise passes over for jobs_state. The
 * state tests are spelled with OR, not IN: SQLite builds a temporary b-tree
 * for an IN list of more than two values, each time the CHECK or the partial
 * index's WHERE is evaluated, which made every insert a third slower.
 *
 * The params of a job are one BLOB in a format of our own, little-endian:
 *
 *   u32 count, then count times: u32 name length, name, u32 value length, value
 *
 * without NUL terminators. The file may be hostile, so decoding checks every
 * length against what is left of the blob before using it, refuses a count
 * that the blob is too short to hold (before allocating for it), a NUL
 * inside a name or value and bytes after the last param: any of these, or a
 * state name we do not know, or a number out of its field's range, is
 * JOBD_DATA_LOSS naming the job.
 *
 * Checksums. SQLite does not checksum its pages, so a damaged file can
 * hand back wrong bytes without an error. Each row carries two CRC-32C
 * (crc32c.c), written with the row and checked wherever a blob is read:
 *
 *   input_crc   the job's id (8 bytes, little-endian), its kind name and a
 *               NUL, its params blob, its input bytes: all that makes the
 *               result, written at insert
 *   result_crc  the job's id and the result bytes, written with the result
 *
 * The id makes a row's blobs that turn up in another row a mismatch too.
 * The input checksum is checked against the kind and params a worker is
 * about to run (store_get_input(), from the params in memory), or those of
 * the row (store_get(STORE_INPUT), store_scan()); the result checksum by
 * every read that returns the result (store_get(), store_scan()). A
 * mismatch is JOBD_DATA_LOSS, "the stored result of job N is damaged
 * (checksum mismatch)", and the bytes are not returned. A checksum is 32
 * bits: random damage goes unseen once in 2^32. Rows of schema version 1
 * have no checksums (NULL) and are read unchecked; a result written to
 * such a row since gets its checksum. A row with an input checksum and no
 * result checksum is damaged, as is a checksum out of 0..2^32-1; like a
 * mismatch, this fails the read of a blob, not a list or the start-up
 * load, which read none: a damaged checksum costs its job, not jobd.
 *
 * Changing the schema. The schema's version is PRAGMA user_version; version
 * N is what store_migrations[0..N-1] build, and STORE_VERSION is the length
 * of that table. To change the schema:
 *   1. Append one entry to store_migrations: the SQL that turns version N-1
 *      into version N (ALTER TABLE, CREATE INDEX, a new table and an
 *      INSERT ... SELECT to fill it, ...). STORE_VERSION follows.
 *   2. Never edit or reorder an entry that has shipped: databases in the
 *      field are at every old version and are brought up to date by running
 *      the steps after theirs, in order.
 *   3. Update the statements in store_sql and the column numbers (COL_*).
 *   4. Append to store_probes the probe of version N-1: a SELECT of every
 *      column that version's table has.
 *   5. Add a test that opens a database of version N-1 (built by running
 *      only the old steps) and finds the data intact.
 * store_open() runs the missing steps and sets user_version in one
 * transaction, so a crash leaves the old version or the new, never half.
 * Before that, and before anything is written, it prepares the probe of
 * the version the file claims: a file that says it is ours but lacks our
 * table is refused untouched.
 * A database whose version is higher than STORE_VERSION belongs to a newer
 * jobd and is refused, not downgraded.
 *
 * Errors. Every SQLite result is converted here, in store_status(): a full
 * disk, a read-only, unreachable or locked file become JOBD_UNAVAILABLE, a
 * corrupt file JOBD_DATA_LOSS, a taken id or idempotency key
 * JOBD_ALREADY_EXISTS, no memory JOBD_RESOURCE_EXHAUSTED, anything else
 * JOBD_INTERNAL. The message, kept in the store for store_errmsg(), says
 * what could not be done, then why: "cannot insert job 42: database or disk
 * is full"; for an I/O error or a file that cannot be opened, with the
 * system's reason: "cannot commit transaction: disk I/O error (Read-only
 * file system)".
 *
 * Transactions. store_begin() is BEGIN IMMEDIATE: it takes the write lock at
 * once (waiting for it like any other lock) instead of failing at the first
 * write when another connection wrote in between. A store_commit() that
 * fails rolls the transaction back, so whatever it returns the transaction
 * is over and the next store_begin() works; store_rollback() without a
 * transaction (SQLite ends some on an I/O error by itself) is a success.
 * Calls made outside store_begin()/store_commit() are each a transaction of
 * their own; store_purge() is a single statement and store_recover() a
 * savepoint, so each is atomic either way.
 */

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "crc32c.h"
#include "store_int.h"

#if SQLITE_VERSION_NUMBER < 3037000
#error "store.c needs SQLite 3.37 or newer (STRICT tables)"
#endif

#define STORE_BUSY_MS 5000

/*
 * The migrations: entry N-1 turns a database of version N-1 into version N.
 * Append only; see the top of the file.
 */
static const char *const store_migrations[] = {
    /* 0 -> 1: the jobs table. */
    "CREATE TABLE jobs ("
    " id INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " params BLOB NOT NULL,"
    " priority INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state = 'queued' OR state = 'running'"
    "  OR state = 'succeeded' OR state = 'failed' OR state = 'cancelled'),"
    " attempts INTEGER NOT NULL,"
    " max_attempts INTEGER NOT NULL,"
    " timeout_ms INTEGER NOT NULL,"
    " progress_done INTEGER NOT NULL,"
    " progress_total INTEGER NOT NULL,"
    " error TEXT,"
    " idem_key TEXT UNIQUE,"
    " created_at INTEGER NOT NULL,"
    " started_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL,"
    " not_before INTEGER NOT NULL,"
    " result BLOB,"
    " input BLOB"
    ") STRICT;"
    "CREATE INDEX jobs_state ON jobs (state);"
    "CREATE INDEX jobs_kind ON jobs (kind);"
    "CREATE INDEX jobs_state_kind ON jobs (state, kind);"
    "CREATE INDEX jobs_finished ON jobs (finished_at)"
    " WHERE state = 'succeeded' OR state = 'failed' OR state = 'cancelled';",

    /* 1 -> 2: checksums of the input and the result, and the count of
     * unclean stops a job was running at. The table is built anew rather
     * than altered, since ADD COLUMN would put the new columns after the
     * blobs, in their overflow pages: every read of a checksum would then
     * walk the whole input. Rows of version 1 have no checksums (NULL). */
    "CREATE TABLE jobs2 ("
    " id INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " params BLOB NOT NULL,"
    " priority INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state = 'queued' OR state = 'running'"
    "  OR state = 'succeeded' OR state = 'failed' OR state = 'cancelled'),"
    " attempts INTEGER NOT NULL,"
    " max_attempts INTEGER NOT NULL,"
    " timeout_ms INTEGER NOT NULL,"
    " progress_done INTEGER NOT NULL,"
    " progress_total INTEGER NOT NULL,"
    " error TEXT,"
    " idem_key TEXT UNIQUE,"
    " created_at INTEGER NOT NULL,"
    " started_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL,"
    " not_before INTEGER NOT NULL,"
    " recoveries INTEGER NOT NULL DEFAULT 0,"
    " input_crc INTEGER,"
    " result_crc INTEGER,"
    " result BLOB,"
    " input BLOB"
    ") STRICT;"
    "INSERT INTO jobs2 (id, kind, params, priority, state, attempts,"
    " max_attempts, timeout_ms, progress_done, progress_total, error,"
    " idem_key, created_at, started_at, finished_at, not_before, result,"
    " input)"
    " SELECT id, kind, params, priority, state, attempts, max_attempts,"
    " timeout_ms, progress_done, progress_total, error, idem_key,"
    " created_at, started_at, finished_at, not_before, result, input"
    " FROM jobs ORDER BY id;"
    "DROP TABLE jobs;"
    "ALTER TABLE jobs2 RENAME TO jobs;"
    "CREATE INDEX jobs_state ON jobs (state);"
    "CREATE INDEX jobs_kind ON jobs (kind);"
    "CREATE INDEX jobs_state_kind ON jobs (state, kind);"
    "CREATE INDEX jobs_finished ON jobs (finished_at)"
    " WHERE state = 'succeeded' OR state = 'failed' OR state = 'cancelled';",

    /* 2 -> 3: the scheduling features. In `jobs`, the count of reruns
     * (Retry), the key unique while the job has not ended, and the jobs it
     * runs after (u64 ids, little-endian, one after the other), before the
     * blobs for the reason above; then the earlier runs of rerun jobs, the
     * paused kinds and the last firing of each periodic schedule, one
     * table each. */
    "CREATE TABLE jobs3 ("
    " id INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " params BLOB NOT NULL,"
    " priority INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state = 'queued' OR state = 'running'"
    "  OR state = 'succeeded' OR state = 'failed' OR state = 'cancelled'),"
    " attempts INTEGER NOT NULL,"
    " max_attempts INTEGER NOT NULL,"
    " timeout_ms INTEGER NOT NULL,"
    " progress_done INTEGER NOT NULL,"
    " progress_total INTEGER NOT NULL,"
    " error TEXT,"
    " idem_key TEXT UNIQUE,"
    " created_at INTEGER NOT NULL,"
    " started_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL,"
    " not_before INTEGER NOT NULL,"
    " recoveries INTEGER NOT NULL DEFAULT 0,"
    " reruns INTEGER NOT NULL DEFAULT 0,"
    " unique_key TEXT,"
    " after BLOB,"
    " input_crc INTEGER,"
    " result_crc INTEGER,"
    " result BLOB,"
    " input BLOB"
    ") STRICT;"
    "INSERT INTO jobs3 (id, kind, params, priority, state, attempts,"
    " max_attempts, timeout_ms, progress_done, progress_total, error,"
    " idem_key, created_at, started_at, finished_at, not_before,"
    " recoveries, input_crc, result_crc, result, input)"
    " SELECT id, kind, params, priority, state, attempts, max_attempts,"
    " timeout_ms, progress_done, progress_total, error, idem_key,"
    " created_at, started_at, finished_at, not_before, recoveries,"
    " input_crc, result_crc, result, input FROM jobs ORDER BY id;"
    "DROP TABLE jobs;"
    "ALTER TABLE jobs3 RENAME TO jobs;"
    "CREATE INDEX jobs_state ON jobs (state);"
    "CREATE INDEX jobs_kind ON jobs (kind);"
    "CREATE INDEX jobs_state_kind ON jobs (state, kind);"
    "CREATE INDEX jobs_finished ON jobs (finished_at)"
    " WHERE state = 'succeeded' OR state = 'failed' OR state = 'cancelled';"
    "CREATE TABLE job_runs ("
    " job_id INTEGER NOT NULL,"
    " run INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state = 'failed' OR state = 'cancelled'),"
    " error TEXT,"
    " attempts INTEGER NOT NULL,"
    " started_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL,"
    " PRIMARY KEY (job_id, run)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE paused_kinds ("
    " kind TEXT PRIMARY KEY,"
    " paused_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE schedule_ticks ("
    " name TEXT PRIMARY KEY,"
    " last_at INTEGER NOT NULL,"
    " job_id INTEGER NOT NULL"
    ") STRICT;",
};
#define STORE_VERSION                                                          \
	((int) (sizeof(store_migrations) / sizeof(store_migrations[0])))

/*
 * The probes: entry N-1 prepares only on a database of version N, for the
 * versions before STORE_VERSION (whose own check is preparing store_sql).
 * Append only.
 */
static const char *const store_probes[] = {
    /* 1 */
    "SELECT id, kind, params, priority, state, attempts, max_attempts,"
    " timeout_ms, progress_done, progress_total, error, idem_key,"
    " created_at, started_at, finished_at, not_before, result, input"
    " FROM jobs",
    /* 2 */
    "SELECT id, kind, params, priority, state, attempts, max_attempts,"
    " timeout_ms, progress_done, progress_total, error, idem_key,"
    " created_at, started_at, finished_at, not_before, recoveries,"
    " input_crc, result_crc, result, input FROM jobs",
};
_Static_assert(sizeof(store_probes) / sizeof(store_probes[0]) ==
                   STORE_VERSION - 1,
               "one probe for each version before STORE_VERSION");

enum store_col {
	COL_ID,
	COL_KIND,
	COL_PARAMS,
	COL_PRIORITY,
	COL_STATE,
	COL_ATTEMPTS,
	COL_MAX_ATTEMPTS,
	COL_TIMEOUT_MS,
	COL_PROGRESS_DONE,
	COL_PROGRESS_TOTAL,
	COL_ERROR,
	COL_IDEM_KEY,
	COL_CREATED_AT,
	COL_STARTED_AT,
	COL_FINISHED_AT,
	COL_NOT_BEFORE,
	COL_RECOVERIES,
	COL_RERUNS,
	COL_UNIQUE_KEY,
	COL_AFTER,
	COL_INPUT_CRC,
	COL_RESULT_CRC,
	COL_INPUT_LEN,
	COL_INPUT,
	COL_RESULT,
};

#define STORE_COLS                                                             \
	"id, kind, params, priority, state, attempts, max_attempts, "          \
	"timeout_ms, progress_done, progress_total, error, idem_key, "         \
	"created_at, started_at, finished_at, not_before, recoveries, "        \
	"reruns, unique_key, after, input_crc, result_crc, length(input)"

/* Lists: ?1 state, ?2 kind, ?3 the highest id wanted, ?4 the limit. */
#define STORE_LIST(where)                                                      \
	"SELECT " STORE_COLS ", NULL, NULL FROM jobs WHERE " where             \
	"id <= ?3 ORDER BY id DESC LIMIT ?4"

static const char *const store_sql[STMT_NUM] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_INSERT] = "INSERT INTO jobs (id, kind, params, priority, state,"
                    " attempts, max_attempts, timeout_ms, progress_done,"
                    " progress_total, error, idem_key, created_at,"
                    " started_at, finished_at, not_before, result, input,"
                    " recoveries, input_crc, result_crc, reruns, unique_key,"
                    " after)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                    " ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,"
                    " ?22, ?23, ?24)",
    [STMT_UPDATE] = "UPDATE jobs SET state = ?2, attempts = ?3,"
                    " progress_done = ?4, progress_total = ?5, result = ?6,"
                    " error = ?7, started_at = ?8, finished_at = ?9,"
                    " not_before = ?10, result_crc = ?11 WHERE id = ?1",
    [STMT_GET] = "SELECT " STORE_COLS ", NULL, result FROM jobs WHERE id = ?1",
    [STMT_GET_INPUT] =
        "SELECT " STORE_COLS ", input, result FROM jobs WHERE id = ?1",
    [STMT_FIND_KEY] = "SELECT id FROM jobs WHERE idem_key = ?1",
    [STMT_LIST] = STORE_LIST(""),
    [STMT_LIST_STATE] = STORE_LIST("state = ?1 AND "),
    [STMT_LIST_KIND] = STORE_LIST("kind = ?2 AND "),
    [STMT_LIST_STATE_KIND] = STORE_LIST("state = ?1 AND kind = ?2 AND "),
    [STMT_SCAN] = "SELECT " STORE_COLS ", input, result FROM jobs"
                  " WHERE state = ?1 ORDER BY id",
    [STMT_SCAN_BRIEF] = "SELECT " STORE_COLS ", NULL, NULL FROM jobs"
                        " WHERE state = ?1 AND id >= ?2 AND id <= ?3"
                        " ORDER BY id",
    [STMT_ID_RANGE] = "SELECT (SELECT min(id) FROM jobs WHERE state = ?1),"
                      " (SELECT max(id) FROM jobs WHERE state = ?1)",
    [STMT_INPUT] =
        "SELECT input, input_crc, result_crc FROM jobs WHERE id = ?1",
    [STMT_MARK_RUNNING] = "UPDATE jobs SET state = 'running'"
                          " WHERE id = ?1 AND state = 'queued'",
    /* ?1 the cap, ?2 now; the count in the message is the new one */
    [STMT_RECOVER_CAP] =
        "UPDATE jobs SET state = 'failed', recoveries = recoveries + 1,"
        " finished_at = ?2, error = printf('jobd stopped uncleanly while"
        " running this job %d times; not run again', recoveries + 1)"
        " WHERE state = 'running' AND recoveries + 1 >= ?1",
    [STMT_RECOVER] = "UPDATE jobs SET state = 'queued',"
                     " recoveries = recoveries + 1, progress_done = 0,"
                     " progress_total = 0 WHERE state = 'running'",
    /* Left to itself the planner walks jobs_state: every terminal job. */
    [STMT_PURGE] = "DELETE FROM jobs INDEXED BY jobs_finished"
                   " WHERE (state = 'succeeded' OR state = 'failed'"
                   " OR state = 'cancelled') AND finished_at < ?1",
    /* the earlier runs of the jobs purged: few rows, reruns only */
    [STMT_RUNS_PURGE] = "DELETE FROM job_runs WHERE job_id NOT IN"
                        " (SELECT id FROM jobs)",
    [STMT_COUNTS] = "SELECT state, count(*) FROM jobs GROUP BY state",
    [STMT_MAX_ID] = "SELECT max(id) FROM jobs",
    [STMT_CHECK] = "PRAGMA integrity_check",
    /* ?1 id, ?2 not_before, ?3 reruns, ?4 the checksum of no result */
    [STMT_RERUN] = "UPDATE jobs SET state = 'queued', attempts = 0,"
                   " progress_done = 0, progress_total = 0, result = NULL,"
                   " result_crc = ?4, error = NULL, started_at = 0,"
                   " finished_at = 0, not_before = ?2, reruns = ?3,"
                   " recoveries = 0 WHERE id = ?1"
                   " AND (state = 'failed' OR state = 'cancelled')",
    [STMT_RUN_ADD] = "INSERT INTO job_runs (job_id, run, state, error,"
                     " attempts, started_at, finished_at)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [STMT_RUNS] = "SELECT state, error, attempts, started_at, finished_at"
                  " FROM job_runs WHERE job_id = ?1 ORDER BY run",
    [STMT_PAUSE] = "INSERT INTO paused_kinds (kind, paused_at)"
                   " VALUES (?1, ?2) ON CONFLICT (kind) DO NOTHING",
    [STMT_RESUME] = "DELETE FROM paused_kinds WHERE kind = ?1",
    [STMT_PAUSED] = "SELECT kind FROM paused_kinds ORDER BY kind",
    [STMT_TICK] = "INSERT INTO schedule_ticks (name, last_at, job_id)"
                  " VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE"
                  " SET last_at = excluded.last_at, job_id = excluded.job_id"
                  " WHERE excluded.last_at >= last_at",
    [STMT_TICKS] = "SELECT name, last_at, job_id FROM schedule_ticks"
                   " ORDER BY name",
};

/* Scratch buffers above this size are given back after use. */
#define STORE_SCRATCH_KEEP 65536

/* The state as the row stores it: a scheduled job is a queued row with
 * its not_before (see JOB_SCHEDULED). */
const char *
store_state_text(int state)
{
	return job_state_name(state == JOB_SCHEDULED ? JOB_QUEUED : state);
}

/* The jobd status of a SQLite result code. */
static int
store_status(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return JOBD_OK;
	case SQLITE_FULL:
	case SQLITE_READONLY:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_PERM:
		return JOBD_UNAVAILABLE;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return JOBD_DATA_LOSS;
	case SQLITE_NOMEM:
		return JOBD_RESOURCE_EXHAUSTED;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
		    rc == SQLITE_CONSTRAINT_UNIQUE)
			return JOBD_ALREADY_EXISTS;
		return JOBD_INTERNAL;
	default:
		return JOBD_INTERNAL;
	}
}

/* Sets the message to the formatted text and returns `status`. */
int __attribute__((format(printf, 3, 4)))
store_seterr(store *s, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	return status;
}

/*
 * The system's error behind the last I/O error, 0 if unknown. SQLite keeps
 * it for some calls (sqlite3_system_errno), and otherwise in the handle of
 * the file that failed: in a failed COMMIT, the WAL's.
 */
static int
store_os_errno(store *s)
{
	sqlite3_file *f = NULL;
	int e = sqlite3_system_errno(s->db);

	if (e == 0 &&
	    sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER,
	                         &f) == SQLITE_OK &&
	    f != NULL && f->pMethods != NULL)
		f->pMethods->xFileControl(f, SQLITE_FCNTL_LAST_ERRNO, &e);
	if (e == 0)
		sqlite3_file_control(s->db, "main", SQLITE_FCNTL_LAST_ERRNO,
		                     &e);
	return e;
}

/*
 * Sets the message to the formatted text, a colon and SQLite's message for
 * the failed call, and returns the jobd status of `rc`. Call it before the
 * statement is reset.
 */
int __attribute__((format(printf, 3, 4)))
store_fail(store *s, int rc, const char *fmt, ...)
{
	va_list ap;
	int n, e;

	va_start(ap, fmt);
	n = vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t) n < sizeof(s->errmsg))
		n += snprintf(
		    s->errmsg + n, sizeof(s->errmsg) - (size_t) n, ": %s",
		    s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	/* "disk I/O error" alone does not say what to fix */
	if (s->db != NULL &&
	    ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN) &&
	    (e = store_os_errno(s)) != 0 && n >= 0 &&
	    (size_t) n < sizeof(s->errmsg))
		snprintf(s->errmsg + n, sizeof(s->errmsg) - (size_t) n, " (%s)",
		         strerror(e));
	return store_status(rc);
}

/* Readies a statement for its next use. */
void
store_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows, for store_begin() and friends. */
static int
store_exec(store *s, int which, const char *what)
{
	sqlite3_stmt *st = s->stmt[which];
	int rc, rv = JOBD_OK;

	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot %s", what);
	store_done(st);
	return rv;
}

/* A checksum column: 0 and *v its value, or *v = -1 for NULL (a row of
 * schema version 1); -1 if it holds anything else. */
static int
store_col_crc(sqlite3_stmt *st, int col, int64_t *v)
{
	*v = -1;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return 0;
	if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
		return -1;
	*v = sqlite3_column_int64(st, col);
	return *v >= 0 && *v <= UINT32_MAX ? 0 : -1;
}

/* Both checksum columns of a row: each in range, and a result checksum
 * wherever there is an input checksum (a row is inserted with both; one of
 * schema version 1 has neither, and gets a result checksum when its result
 * is written). On failure *why says what is wrong. */
static int
store_col_crcs(sqlite3_stmt *st, int icol, int rcol, int64_t *in, int64_t *res,
               const char **why)
{
	if (store_col_crc(st, icol, in) != 0 ||
	    store_col_crc(st, rcol, res) != 0) {
		*why = "checksum out of range";
		return -1;
	}
	if (*in >= 0 && *res < 0) {
		*why = "result checksum missing";
		return -1;
	}
	return 0;
}

/*
 * Encodes the params of `r` into a new blob (see the top of the file).
 * JOBD_INVALID_ARGUMENT for a param without a name or value, or params too
 * big for the database; the message names `op` and the job.
 */
static int
store_params_encode(store *s, const struct jobrec *r, const char *op,
                    uint8_t **bp, size_t *lenp)
{
	const char *why = NULL;
	size_t bad = 0;
	int rv = job_params_encode(r->params, r->nparams, bp, lenp, &bad, &why);

	if (rv == JOBD_OK)
		return rv;
	if (rv == JOBD_INVALID_ARGUMENT &&
	    strcmp(why, "has no name or value") == 0)
		return store_seterr(s, rv,
		                    "cannot %s job %" PRIu64
		                    ": param %zu has no name or value",
		                    op, r->id, bad);
	return store_seterr(s, rv, "cannot %s job %" PRIu64 ": %s", op, r->id,
	                    why);
}

/*
 * Decodes a params blob into r->params and r->nparams without allocating
 * for each param: the array and the NUL-terminated names and values are in
 * the store's scratch buffers, valid until the next decode on s.
 * JOBD_DATA_LOSS with *why set if the blob is malformed (r->params is then
 * NULL), JOBD_RESOURCE_EXHAUSTED if the scratch cannot grow.
 */
static int
store_params_view(store *s, const uint8_t *b, size_t len, struct jobrec *r,
                  const char **why)
{
	size_t off = 4, toff = 0;
	uint32_t count;

	r->params = NULL;
	r->nparams = 0;
	if (len < 4) {
		*why = "params blob shorter than its count";
		return JOBD_DATA_LOSS;
	}
	count = job_get32(b);
	/* Every param takes at least its two lengths. */
	if (count > (len - 4) / 8) {
		*why = "params count larger than the blob";
		return JOBD_DATA_LOSS;
	}
	if (count > s->vparams_cap) {
		struct job_param *v = realloc(s->vparams, count * sizeof(*v));
		if (v == NULL) {
			*why = "out of memory";
			return JOBD_RESOURCE_EXHAUSTED;
		}
		s->vparams = v;
		s->vparams_cap = count;
	}
	/* The names and values with their NULs take 4 + 6 * count bytes
	 * less than the blob. */
	if (len > s->vtext_cap) {
		char *t = realloc(s->vtext, len);
		if (t == NULL) {
			*why = "out of memory";
			return JOBD_RESOURCE_EXHAUSTED;
		}
		s->vtext = t;
		s->vtext_cap = len;
	}
	for (uint32_t i = 0; i < count; i++) {
		char **f[2] = {&s->vparams[i].name, &s->vparams[i].value};
		for (int j = 0; j < 2; j++) {
			uint32_t l;

			if (len - off < 4) {
				*why = "params blob truncated";
				return JOBD_DATA_LOSS;
			}
			l = job_get32(b + off);
			off += 4;
			if (l > len - off) {
				*why = "params length past the end of the blob";
				return JOBD_DATA_LOSS;
			}
			if (memchr(b + off, 0, l) != NULL) {
				*why = "NUL byte in a param";
				return JOBD_DATA_LOSS;
			}
			*f[j] = s->vtext + toff;
			memcpy(*f[j], b + off, l);
			(*f[j])[l] = '\0';
			toff += (size_t) l + 1;
			off += l;
		}
	}
	if (off != len) {
		*why = "bytes after the last param";
		return JOBD_DATA_LOSS;
	}
	r->params = count > 0 ? s->vparams : NULL;
	r->nparams = count;
	return JOBD_OK;
}

/* Gives back scratch buffers that a big record made big. */
static void
store_scratch_trim(store *s)
{
	if (s->vtext_cap > STORE_SCRATCH_KEEP) {
		free(s->vtext);
		s->vtext = NULL;
		s->vtext_cap = 0;
	}
	if (s->vparams_cap * sizeof(*s->vparams) > STORE_SCRATCH_KEEP) {
		free(s->vparams);
		s->vparams = NULL;
		s->vparams_cap = 0;
	}
}

/* A TEXT column as a pointer into the statement's row (NULL for SQL NULL),
 * valid until the next step or reset. -1 if out of memory. */
static int
store_col_view(sqlite3_stmt *st, int col, char **out)
{
	/* NULL for SQL NULL, or when out of memory: asked only then */
	*out = (char *) sqlite3_column_text(st, col);
	return *out != NULL || sqlite3_column_type(st, col) == SQLITE_NULL ? 0
	                                                                   : -1;
}

/* Copies a BLOB column into *out and *len (NULL and 0 for NULL or empty). */
static int
store_col_blob(sqlite3_stmt *st, int col, uint8_t **out, size_t *len)
{
	const void *b;
	size_t n;

	*len = 0;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return 0;
	b = sqlite3_column_blob(st, col);
	if ((n = (size_t) sqlite3_column_bytes(st, col)) == 0)
		return 0;
	if (b == NULL || (*out = malloc(n)) == NULL)
		return -1;
	memcpy(*out, b, n);
	*len = n;
	return 0;
}

/* An integer column that must lie in [lo, hi]. */
static int
store_col_int(sqlite3_stmt *st, int col, int64_t lo, int64_t hi, int64_t *v)
{
	*v = sqlite3_column_int64(st, col);
	return *v >= lo && *v <= hi ? 0 : -1;
}

static int64_t
store_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The after column (u64 ids, little-endian) into s->vafter, r->after
 * pointing there; -1 with why if it is not whole ids, too many or 0s. */
static int
store_after_view(store *s, sqlite3_stmt *st, struct jobrec *r, const char **why)
{
	const uint8_t *b;
	size_t n;

	if (sqlite3_column_type(st, COL_AFTER) == SQLITE_NULL)
		return 0;
	b = sqlite3_column_blob(st, COL_AFTER);
	n = (size_t) sqlite3_column_bytes(st, COL_AFTER);
	if (n == 0 || n % 8 != 0 || n / 8 > JOB_MAX_AFTER || b == NULL) {
		*why = "after list damaged";
		return -1;
	}
	for (size_t i = 0; i < n / 8; i++) {
		uint64_t v = 0;
		for (int k = 7; k >= 0; k--)
			v = v << 8 | b[i * 8 + (size_t) k];
		if (v == 0 || v > INT64_MAX) {
			*why = "after list damaged";
			return -1;
		}
		s->vafter[i] = v;
	}
	r->after = s->vafter;
	r->nafter = n / 8;
	return 0;
}

/*
 * Reads the current row of a job statement into *r, which it overwrites,
 * without allocating: kind, error and key point into the row, params into
 * the store's scratch (store_params_view), all valid until the next step,
 * reset or decode on s. input and result are left NULL (input_len is set).
 * Every field is checked: a file written by something else is
 * JOBD_DATA_LOSS naming the job. On failure *r is left zeroed.
 */
static int
store_row_view(store *s, sqlite3_stmt *st, struct jobrec *r)
{
	int64_t id = sqlite3_column_int64(st, COL_ID), v;
	const char *why = "out of memory";
	const unsigned char *state;
	int rv = JOBD_DATA_LOSS;

	memset(r, 0, sizeof(*r));
	r->id = (uint64_t) id;
	if (id <= 0) {
		why = "id not positive";
		goto fail;
	}
	if (sqlite3_column_type(st, COL_STATE) != SQLITE_TEXT ||
	    (state = sqlite3_column_text(st, COL_STATE)) == NULL ||
	    (r->state = job_state_parse((const char *) state)) == 0) {
		why = "unknown state";
		goto fail;
	}
	if (sqlite3_column_type(st, COL_KIND) != SQLITE_TEXT) {
		why = "kind missing";
		goto fail;
	}
	if (store_col_view(st, COL_KIND, &r->kind) != 0 ||
	    store_col_view(st, COL_ERROR, &r->error) != 0 ||
	    store_col_view(st, COL_IDEM_KEY, &r->idem_key) != 0 ||
	    store_col_view(st, COL_UNIQUE_KEY, &r->unique_key) != 0)
		goto nomem;
	if (store_after_view(s, st, r, &why) != 0)
		goto fail;
	if (store_col_int(st, COL_INPUT_LEN, 0, INT64_MAX, &v) != 0) {
		why = "input length out of range";
		goto fail;
	}
	r->input_len = (size_t) v;

	/* Out-of-range numbers: the file was written by something else. */
	if (store_col_int(st, COL_PRIORITY, INT32_MIN, INT32_MAX, &v) != 0) {
		why = "priority out of range";
		goto fail;
	}
	r->priority = (int32_t) v;
	if (store_col_int(st, COL_ATTEMPTS, 0, UINT32_MAX, &v) != 0) {
		why = "attempts out of range";
		goto fail;
	}
	r->attempts = (uint32_t) v;
	if (store_col_int(st, COL_MAX_ATTEMPTS, 0, UINT32_MAX, &v) != 0) {
		why = "max_attempts out of range";
		goto fail;
	}
	r->max_attempts = (uint32_t) v;
	if (store_col_int(st, COL_TIMEOUT_MS, 0, UINT32_MAX, &v) != 0) {
		why = "timeout_ms out of range";
		goto fail;
	}
	r->timeout_ms = (uint32_t) v;
	if (store_col_int(st, COL_RECOVERIES, 0, UINT32_MAX, &v) != 0) {
		why = "recoveries out of range";
		goto fail;
	}
	r->recoveries = (uint32_t) v;
	if (store_col_int(st, COL_RERUNS, 0, UINT32_MAX, &v) != 0) {
		why = "reruns out of range";
		goto fail;
	}
	r->reruns = (uint32_t) v;
	/* uint64 progress is stored as its int64 bit pattern. */
	r->progress_done =
	    (uint64_t) sqlite3_column_int64(st, COL_PROGRESS_DONE);
	r->progress_total =
	    (uint64_t) sqlite3_column_int64(st, COL_PROGRESS_TOTAL);
	r->created_at = sqlite3_column_int64(st, COL_CREATED_AT);
	r->started_at = sqlite3_column_int64(st, COL_STARTED_AT);
	r->finished_at = sqlite3_column_int64(st, COL_FINISHED_AT);
	r->not_before = sqlite3_column_int64(st, COL_NOT_BEFORE);
	if (r->state == JOB_QUEUED && r->not_before > store_wall_ms())
		r->state = JOB_SCHEDULED;

	if (sqlite3_column_type(st, COL_PARAMS) != SQLITE_BLOB) {
		why = "params missing";
		goto fail;
	}
	rv = store_params_view(s, sqlite3_column_blob(st, COL_PARAMS),
	                       (size_t) sqlite3_column_bytes(st, COL_PARAMS), r,
	                       &why);
	if (rv != JOBD_OK)
		goto fail;
	return JOBD_OK;

nomem:
	rv = JOBD_RESOURCE_EXHAUSTED;
fail:
	memset(r, 0, sizeof(*r));
	if (rv == JOBD_DATA_LOSS)
		return store_seterr(
		    s, rv, "cannot read job %" PRId64 ": corrupt record (%s)",
		    id, why);
	return store_seterr(s, rv, "cannot read job %" PRId64 ": out of memory",
	                    id);
}

/* What a statement reads besides the columns of STORE_COLS, for
 * store_row() to check against the checksums. */
enum store_sel {
	SEL_INPUT = 1,
	SEL_RESULT = 2,
};

/*
 * Checks the blobs the statement read (sel) against the row's checksums;
 * r is the row as store_row() read it. A row without checksums is taken as
 * it is. JOBD_DATA_LOSS on a mismatch.
 */
static int
store_row_verify(store *s, sqlite3_stmt *st, const struct jobrec *r, int sel)
{
	int64_t in, res;
	const char *why;

	if (sel == 0)
		return JOBD_OK;
	if (store_col_crcs(st, COL_INPUT_CRC, COL_RESULT_CRC, &in, &res,
	                   &why) != 0)
		return store_seterr(s, JOBD_DATA_LOSS,
		                    "cannot read job %" PRIu64
		                    ": corrupt record (%s)",
		                    r->id, why);
	if ((sel & SEL_RESULT) && res >= 0 &&
	    job_result_crc(r->id, r->result, r->result_len) != (uint32_t) res)
		return store_seterr(s, JOBD_DATA_LOSS,
		                    "the stored result of job %" PRIu64
		                    " is damaged (checksum mismatch)",
		                    r->id);
	if ((sel & SEL_INPUT) && in >= 0 &&
	    job_input_crc(r->id, r->kind, sqlite3_column_blob(st, COL_PARAMS),
	                  (size_t) sqlite3_column_bytes(st, COL_PARAMS),
	                  r->input, r->input_len) != (uint32_t) in)
		return store_seterr(s, JOBD_DATA_LOSS,
		                    "the stored input of job %" PRIu64
		                    " is damaged (checksum mismatch)",
		                    r->id);
	return JOBD_OK;
}

/*
 * Reads the current row of a job statement into *r, which it overwrites and
 * which owns its memory afterwards (input and result too, where the
 * statement selects them: sel), and checks what it read against the row's
 * checksums. On failure *r is left cleared.
 */
static int
store_row(store *s, sqlite3_stmt *st, struct jobrec *r, int sel)
{
	struct jobrec v;
	int rv;

	memset(r, 0, sizeof(*r));
	if ((rv = store_row_view(s, st, &v)) != JOBD_OK)
		return rv;
	if (jobrec_copy(r, &v) != JOBD_OK ||
	    (sqlite3_column_type(st, COL_INPUT) != SQLITE_NULL &&
	     store_col_blob(st, COL_INPUT, &r->input, &r->input_len) != 0) ||
	    store_col_blob(st, COL_RESULT, &r->result, &r->result_len) != 0) {
		jobrec_clear(r);
		rv = store_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                  "cannot read job %" PRIu64 ": out of memory",
		                  v.id);
	} else if ((rv = store_row_verify(s, st, r, sel)) != JOBD_OK) {
		jobrec_clear(r);
	}
	store_scratch_trim(s);
	return rv;
}

/* Runs one query returning one integer; for store_open(). Returns the SQLite
 * result; the connection's message tells why. */
static int
store_query_int(store *s, const char *sql, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*v = 0;
	if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) == SQLITE_OK &&
	    (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	/* sqlite3_finalize() repeats the error and keeps the message. */
	sqlite3_finalize(st);
	return rc;
}

/*
 * Reads the schema version and checks that the database is ours: empty, or
 * of a version we know. Runs before anything writes to the file.
 */
static int
store_version(store *s, int *version)
{
	int64_t v, n;
	int rc;

	if ((rc = store_query_int(s, "PRAGMA user_version", &v)) != SQLITE_OK ||
	    (rc = store_query_int(s, "SELECT count(*) FROM sqlite_schema",
	                          &n)) != SQLITE_OK) {
		if (store_status(rc) == JOBD_DATA_LOSS)
			return store_fail(
			    s, rc,
			    "database '%s' is corrupt or not a SQLite database",
			    s->path);
		return store_fail(s, rc, "cannot read database '%s'", s->path);
	}
	if (v < 0)
		return store_seterr(
		    s, JOBD_FAILED_PRECONDITION,
		    "database '%s' is not a jobd database (schema version "
		    "%" PRId64 ")",
		    s->path, v);
	if (v == 0 && n > 0)
		return store_seterr(
		    s, JOBD_FAILED_PRECONDITION,
		    "database '%s' is not a jobd database (it has other "
		    "tables)",
		    s->path);
	if (v > STORE_VERSION)
		return store_seterr(s, JOBD_FAILED_PRECONDITION,
		                    "database '%s' has schema version %" PRId64
		                    ", newer than this jobd (%d)",
		                    s->path, v, STORE_VERSION);
	*version = (int) v;
	return JOBD_OK;
}

/* Brings the schema from its version up to STORE_VERSION, in one
 * transaction. */
static int
store_migrate(store *s)
{
	char sql[64];
	int rv, rc, v;

	if ((rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) !=
	    SQLITE_OK)
		return store_fail(
		    s, rc, "cannot create schema in database '%s'", s->path);
	/* Read again under the lock: another process may have been first. */
	if ((rv = store_version(s, &v)) != JOBD_OK)
		goto fail;
	for (; v < STORE_VERSION; v++) {
		if ((rc = sqlite3_exec(s->db, store_migrations[v], NULL, NULL,
		                       NULL)) != SQLITE_OK) {
			rv = store_fail(
			    s, rc,
			    "cannot upgrade database '%s' to schema version %d",
			    s->path, v + 1);
			goto fail;
		}
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_VERSION);
	if ((rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) !=
	        SQLITE_OK) {
		rv = store_fail(s, rc, "cannot create schema in database '%s'",
		                s->path);
		goto fail;
	}
	return JOBD_OK;

fail:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rv;
}

static int
store_prepare(store *s)
{
	for (int i = 0; i < STMT_NUM; i++) {
		int rc = sqlite3_prepare_v3(s->db, store_sql[i], -1,
		                            SQLITE_PREPARE_PERSISTENT,
		                            &s->stmt[i], NULL);
		if (rc == SQLITE_ERROR) {
			/* No such table or column: not our schema. */
			store_fail(s, rc,
			           "database '%s' is not a jobd database",
			           s->path);
			return JOBD_FAILED_PRECONDITION;
		}
		if (rc != SQLITE_OK)
			return store_fail(
			    s, rc,
			    "cannot prepare statements for database '%s'",
			    s->path);
	}
	return JOBD_OK;
}

/* Checks that a database of an older version than ours has that version's
 * table (store_probes), before anything writes to it. */
static int
store_probe(store *s, int version)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (version < 1 || version >= STORE_VERSION)
		return JOBD_OK;
	rc =
	    sqlite3_prepare_v2(s->db, store_probes[version - 1], -1, &st, NULL);
	sqlite3_finalize(st);
	if (rc == SQLITE_ERROR) {
		store_fail(s, rc, "database '%s' is not a jobd database",
		           s->path);
		return JOBD_FAILED_PRECONDITION;
	}
	if (rc != SQLITE_OK)
		return store_fail(s, rc, "cannot read database '%s'", s->path);
	return JOBD_OK;
}

/* Sets the connection's pragmas; the first write to the file. */
static int
store_pragmas(store *s)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int rc, rv = JOBD_OK;

	if ((rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1,
	                             &st, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_step(st)) != SQLITE_ROW) {
		rv = store_fail(s, rc, "cannot set WAL mode on database '%s'",
		                s->path);
		goto out;
	}
	mode = sqlite3_column_text(st, 0);
	if (mode == NULL || strcasecmp((const char *) mode, "wal") != 0) {
		rv = store_seterr(
		    s, JOBD_UNAVAILABLE,
		    "cannot set WAL mode on database '%s': journal mode "
		    "stays '%s'",
		    s->path, mode != NULL ? (const char *) mode : "?");
		goto out;
	}
	if ((rc = sqlite3_exec(
	         s->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
	         NULL, NULL, NULL)) != SQLITE_OK)
		rv = store_fail(s, rc, "cannot set pragmas on database '%s'",
		                s->path);
out:
	sqlite3_finalize(st);
	return rv;
}

/* What a file that is not a regular file is, for messages. */
static const char *
store_file_type(mode_t m)
{
	return S_ISDIR(m)    ? "a directory"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISSOCK(m) ? "a socket"
	                     : "not a regular file";
}

int
store_check_file(const char *path, char *err, size_t errlen)
{
	struct stat st;

	/* missing: it is made; unreachable: the open says why */
	if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
		return JOBD_OK;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "database '%s' is %s, not a regular file",
		         path, store_file_type(st.st_mode));
	return JOBD_FAILED_PRECONDITION;
}

/* store_open() and store_open_readonly(). */
static int
store_open_mode(store **sp, const char *path, bool readonly, char *err,
                size_t errlen)
{
	char wal[4096];
	struct stat st;
	bool had_wal;
	store *s;
	int rv, rc, version, flags;

	*sp = NULL;
	/* before SQLite opens it, and makes its -wal and -shm beside it */
	if ((rv = store_check_file(path, err, errlen)) != JOBD_OK)
		return rv;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->path = strdup(path)) == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen,
			         "cannot open database '%s': out of memory",
			         path);
		free(s);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	snprintf(wal, sizeof(wal), "%s-wal", path);
	had_wal = stat(wal, &st) == 0;
	flags = readonly ? SQLITE_OPEN_READWRITE
	                 : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(
	    path, &s->db, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
	    NULL);
	if (rc != SQLITE_OK) {
		rv = store_fail(s, rc, "cannot open database '%s'", path);
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

	/* Before the first read: reading a WAL database creates its -wal and
	 * -shm files, which a file we refuse should not get. */
	if (!readonly && sqlite3_db_readonly(s->db, "main") == 1) {
		rv = store_seterr(
		    s, JOBD_UNAVAILABLE,
		    "cannot open database '%s' for writing: read-only file",
		    path);
		goto fail;
	}
	/* Look before writing anything: see the top of the file. */
	if ((rv = store_version(s, &version)) != JOBD_OK)
		goto fail;
	if (readonly && version != STORE_VERSION) {
		rv = store_seterr(s, JOBD_FAILED_PRECONDITION,
		                  "database '%s' has schema version %d, not %d",
		                  path, version, STORE_VERSION);
		goto fail;
	}
	if (readonly && (rc = sqlite3_exec(s->db, "PRAGMA query_only = 1", NULL,
	                                   NULL, NULL)) != SQLITE_OK) {
		rv = store_fail(s, rc, "cannot open database '%s' for reading",
		                path);
		goto fail;
	}
	if (version == STORE_VERSION && (rv = store_prepare(s)) != JOBD_OK)
		goto fail;
	if ((rv = store_probe(s, version)) != JOBD_OK)
		goto fail;
	if (!readonly && (rv = store_pragmas(s)) != JOBD_OK)
		goto fail;
	if (version < STORE_VERSION && ((rv = store_migrate(s)) != JOBD_OK ||
	                                (rv = store_prepare(s)) != JOBD_OK))
		goto fail;
	snprintf(s->errmsg, sizeof(s->errmsg), "no error");
	*sp = s;
	return JOBD_OK;

fail:
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", s->errmsg);
	/* The last connection to close checkpoints the WAL into the file:
	 * a refused database keeps the bytes it had, its WAL included (one
	 * that is not jobd's would otherwise be written into it). A -wal we
	 * made is empty, and the close removes it. */
	if (s->db != NULL && had_wal)
		sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
		                  (int *) NULL);
	store_close(s);
	return rv;
}

int
store_open(store **sp, const char *path, char *err, size_t errlen)
{
	return store_open_mode(sp, path, false, err, errlen);
}

int
store_open_readonly(store **sp, const char *path, char *err, size_t errlen)
{
	return store_open_mode(sp, path, true, err, errlen);
}

void
store_close(store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < STMT_NUM; i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_close(s->db);
	free(s->vparams);
	free(s->vtext);
	free(s->path);
	free(s);
}

const char *
store_path(store *s)
{
	return s->path;
}

const char *
store_errmsg(store *s)
{
	return s != NULL ? s->errmsg : "no store";
}

uint64_t
store_changes(store *s)
{
	return (uint64_t) sqlite3_total_changes64(s->db);
}

int
store_begin(store *s)
{
	return store_exec(s, STMT_BEGIN, "begin transaction");
}

int
store_commit(store *s)
{
	int rv;

	if ((rv = store_exec(s, STMT_COMMIT, "commit transaction")) !=
	        JOBD_OK &&
	    !sqlite3_get_autocommit(s->db)) {
		/* Keep the commit's message: that is what went wrong. */
		sqlite3_step(s->stmt[STMT_ROLLBACK]);
		store_done(s->stmt[STMT_ROLLBACK]);
	}
	return rv;
}

int
store_rollback(store *s)
{
	/* SQLite ends a transaction by itself on some errors. */
	if (sqlite3_get_autocommit(s->db))
		return JOBD_OK;
	return store_exec(s, STMT_ROLLBACK, "roll back transaction");
}

/* Checks what insert and update write; `op` names the call. */
static int
store_valid(store *s, const struct jobrec *r, const char *op)
{
	if (r->id == 0 || r->id > INT64_MAX)
		return store_seterr(
		    s, JOBD_INVALID_ARGUMENT,
		    "cannot %s job %" PRIu64 ": id out of range", op, r->id);
	if (r->state < 1 || r->state > JOB_STATE_MAX)
		return store_seterr(s, JOBD_INVALID_ARGUMENT,
		                    "cannot %s job %" PRIu64
		                    ": invalid state %d",
		                    op, r->id, r->state);
	if ((r->result == NULL && r->result_len > 0) ||
	    (r->input == NULL && r->input_len > 0))
		return store_seterr(s, JOBD_INVALID_ARGUMENT,
		                    "cannot %s job %" PRIu64
		                    ": length without bytes",
		                    op, r->id);
	return JOBD_OK;
}

/* Binds a blob, NULL when empty. */
static int
store_bind_blob(sqlite3_stmt *st, int i, const uint8_t *b, size_t len)
{
	if (len == 0)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_blob64(st, i, b, len, SQLITE_STATIC);
}

/* Binds a string, NULL when NULL or empty. */
int
store_bind_opt_text(sqlite3_stmt *st, int i, const char *t)
{
	if (t == NULL || *t == '\0')
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text64(st, i, t, strlen(t), SQLITE_STATIC,
	                           SQLITE_UTF8);
}

int
store_insert(store *s, const struct jobrec *r)
{
	sqlite3_stmt *st = s->stmt[STMT_INSERT];
	uint8_t after[JOB_MAX_AFTER * 8];
	uint8_t *params = NULL;
	size_t plen = 0;
	int rc, rv;

	if ((rv = store_valid(s, r, "insert")) != JOBD_OK)
		return rv;
	if (r->kind == NULL)
		return store_seterr(s, JOBD_INVALID_ARGUMENT,
		                    "cannot insert job %" PRIu64 ": no kind",
		                    r->id);
	if (r->nafter > JOB_MAX_AFTER)
		return store_seterr(s, JOBD_INVALID_ARGUMENT,
		                    "cannot insert job %" PRIu64
		                    ": runs after more than %d jobs",
		                    r->id, JOB_MAX_AFTER);
	if ((rv = store_params_encode(s, r, "insert", &params, &plen)) !=
	    JOBD_OK)
		return rv;
	for (size_t i = 0; i < r->nafter; i++)
		for (int k = 0; k < 8; k++)
			after[i * 8 + (size_t) k] =
			    (uint8_t) (r->after[i] >> (8 * k));

	if ((rc = sqlite3_bind_int64(st, 1, (sqlite3_int64) r->id)) != 0 ||
	    (rc = sqlite3_bind_text64(st, 2, r->kind, strlen(r->kind),
	                              SQLITE_STATIC, SQLITE_UTF8)) != 0 ||
	    (rc = sqlite3_bind_blob64(st, 3, params, plen, SQLITE_STATIC)) !=
	        0 ||
	    (rc = sqlite3_bind_int64(st, 4, r->priority)) != 0 ||
	    (rc = sqlite3_bind_text(st, 5, store_state_text(r->state), -1,
	                            SQLITE_STATIC)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 6, r->attempts)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 7, r->max_attempts)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 8, r->timeout_ms)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 9,
	                             (sqlite3_int64) r->progress_done)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 10,
	                             (sqlite3_int64) r->progress_total)) != 0 ||
	    (rc = store_bind_opt_text(st, 11, r->error)) != 0 ||
	    (rc = store_bind_opt_text(st, 12, r->idem_key)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 13, r->created_at)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 14, r->started_at)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 15, r->finished_at)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 16, r->not_before)) != 0 ||
	    (rc = store_bind_blob(st, 17, r->result, r->result_len)) != 0 ||
	    (rc = store_bind_blob(st, 18, r->input, r->input_len)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 19, r->recoveries)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 22, r->reruns)) != 0 ||
	    (rc = store_bind_opt_text(st, 23, r->unique_key)) != 0 ||
	    (rc = store_bind_blob(st, 24, after, r->nafter * 8)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 20,
	                             job_input_crc(r->id, r->kind, params, plen,
	                                           r->input, r->input_len))) !=
	        0 ||
	    (rc = sqlite3_bind_int64(
	         st, 21, job_result_crc(r->id, r->result, r->result_len))) !=
	        0 ||
	    (rc = sqlite3_step(st)) != SQLITE_DONE) {
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			rv = store_seterr(
			    s, JOBD_ALREADY_EXISTS,
			    "cannot insert job %" PRIu64 ": id taken", r->id);
		else if (rc == SQLITE_CONSTRAINT_UNIQUE)
			rv = store_seterr(s, JOBD_ALREADY_EXISTS,
			                  "cannot insert job %" PRIu64
			                  ": idempotency key '%s' taken",
			                  r->id, r->idem_key);
		else
			rv = store_fail(s, rc, "cannot insert job %" PRIu64,
			                r->id);
	}
	store_done(st);
	free(params);
	return rv;
}

int
store_update(store *s, const struct jobrec *r)
{
	sqlite3_stmt *st = s->stmt[STMT_UPDATE];
	int rc, rv;

	if ((rv = store_valid(s, r, "update")) != JOBD_OK)
		return rv;
	if ((rc = sqlite3_bind_int64(st, 1, (sqlite3_int64) r->id)) != 0 ||
	    (rc = sqlite3_bind_text(st, 2, store_state_text(r->state), -1,
	                            SQLITE_STATIC)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 3, r->attempts)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 4,
	                             (sqlite3_int64) r->progress_done)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 5,
	                             (sqlite3_int64) r->progress_total)) != 0 ||
	    (rc = store_bind_blob(st, 6, r->result, r->result_len)) != 0 ||
	    (rc = store_bind_opt_text(st, 7, r->error)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 8, r->started_at)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 9, r->finished_at)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 10, r->not_before)) != 0 ||
	    (rc = sqlite3_bind_int64(
	         st, 11, job_result_crc(r->id, r->result, r->result_len))) !=
	        0 ||
	    (rc = sqlite3_step(st)) != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot update job %" PRIu64, r->id);
	else if (sqlite3_changes64(s->db) == 0)
		rv = store_seterr(s, JOBD_NOT_FOUND,
		                  "cannot update job %" PRIu64 ": no such job",
		                  r->id);
	store_done(st);
	return rv;
}

int
store_get(store *s, uint64_t id, int flags, struct jobrec *out)
{
	sqlite3_stmt *st =
	    s->stmt[(flags & STORE_INPUT) ? STMT_GET_INPUT : STMT_GET];
	int rc, rv;

	memset(out, 0, sizeof(*out));
	if (id > INT64_MAX)
		return store_seterr(s, JOBD_NOT_FOUND,
		                    "cannot get job %" PRIu64 ": no such job",
		                    id);
	if ((rc = sqlite3_bind_int64(st, 1, (sqlite3_int64) id)) != 0 ||
	    (rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			rv = store_seterr(
			    s, JOBD_NOT_FOUND,
			    "cannot get job %" PRIu64 ": no such job", id);
		else
			rv = store_fail(s, rc, "cannot get job %" PRIu64, id);
	} else {
		rv = store_row(s, st, out,
		               SEL_RESULT |
		                   ((flags & STORE_INPUT) ? SEL_INPUT : 0));
	}
	store_done(st);
	return rv;
}

int
store_find_key(store *s, const char *key, uint64_t *id)
{
	sqlite3_stmt *st = s->stmt[STMT_FIND_KEY];
	int rc, rv = JOBD_OK;

	*id = 0;
	if (key == NULL || *key == '\0') /* stored as no key */
		return store_seterr(
		    s, JOBD_NOT_FOUND,
		    "cannot find idempotency key '': no such key");
	if ((rc = store_bind_opt_text(st, 1, key)) != 0 ||
	    (rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			rv = store_seterr(
			    s, JOBD_NOT_FOUND,
			    "cannot find idempotency key '%s': no such key",
			    key);
		else
			rv = store_fail(
			    s, rc, "cannot find idempotency key '%s'", key);
	} else {
		*id = (uint64_t) sqlite3_column_int64(st, 0);
	}
	store_done(st);
	return rv;
}

int
store_list(store *s, const struct store_filter *f, struct jobrec **out,
           size_t *n)
{
	sqlite3_stmt *st;
	struct jobrec *recs = NULL;
	size_t nrecs = 0, cap = 0;
	int64_t hi, limit;
	int rc, rv = JOBD_OK;

	*out = NULL;
	*n = 0;
	if (f->state < 0 || f->state > JOB_STATE_MAX)
		return store_seterr(s, JOBD_INVALID_ARGUMENT,
		                    "cannot list jobs: invalid state %d",
		                    f->state);
	st = s->stmt[STMT_LIST + (f->state != 0) + 2 * (f->kind != NULL)];
	/* "id < before" as "id <= before - 1", so that no bound is a number
	 * too. */
	hi = f->before == 0 || f->before > INT64_MAX ? INT64_MAX
	                                             : (int64_t) f->before - 1;
	limit = f->limit == 0 || f->limit > INT64_MAX ? -1 : (int64_t) f->limit;

	if ((f->state != 0 &&
	     (rc = sqlite3_bind_text(st, 1, store_state_text(f->state), -1,
	                             SQLITE_STATIC)) != 0) ||
	    (f->kind != NULL && (rc = sqlite3_bind_text(st, 2, f->kind, -1,
	                                                SQLITE_STATIC)) != 0) ||
	    (rc = sqlite3_bind_int64(st, 3, hi)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 4, limit)) != 0) {
		rv = store_fail(s, rc, "cannot list jobs");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (nrecs == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct jobrec *nr =
			    ncap > SIZE_MAX / sizeof(*nr)
			        ? NULL
			        : realloc(recs, ncap * sizeof(*nr));
			if (nr == NULL) {
				rv = store_seterr(
				    s, JOBD_RESOURCE_EXHAUSTED,
				    "cannot list jobs: out of memory");
				goto out;
			}
			recs = nr;
			cap = ncap;
		}
		if ((rv = store_row(s, st, &recs[nrecs], 0)) != JOBD_OK)
			goto out;
		nrecs++;
	}
	if (rc != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot list jobs");
out:
	store_done(st);
	if (rv != JOBD_OK) {
		for (size_t i = 0; i < nrecs; i++)
			jobrec_clear(&recs[i]);
		free(recs);
		return rv;
	}
	*out = recs;
	*n = nrecs;
	return JOBD_OK;
}

/* store_scan() (owned records) and store_scan_brief() (views). */
static int
store_scan_with(store *s, int which, int state, uint64_t from, uint64_t to,
                int (*fn)(const struct jobrec *, void *), void *arg)
{
	sqlite3_stmt *st = s->stmt[which];
	bool brief = which == STMT_SCAN_BRIEF;
	struct jobrec r;
	int rc, rv = JOBD_OK;

	memset(&r, 0, sizeof(r));
	if (state < 1 || state > JOB_STATE_MAX)
		return store_seterr(s, JOBD_INVALID_ARGUMENT,
		                    "cannot scan jobs: invalid state %d",
		                    state);
	if (from > INT64_MAX)
		goto out; /* no id is that high */
	if (to > INT64_MAX)
		to = INT64_MAX;
	if ((rc = sqlite3_bind_text(st, 1, store_state_text(state), -1,
	                            SQLITE_STATIC)) != 0 ||
	    (brief && ((rc = sqlite3_bind_int64(st, 2, (int64_t) from)) != 0 ||
	               (rc = sqlite3_bind_int64(st, 3, (int64_t) to)) != 0))) {
		rv = store_fail(s, rc, "cannot scan %s jobs",
		                job_state_name(state));
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rv = brief ? store_row_view(s, st, &r)
		           : store_row(s, st, &r, SEL_INPUT | SEL_RESULT);
		if (rv != JOBD_OK)
			goto out;
		rv = fn(&r, arg);
		if (!brief)
			jobrec_clear(&r);
		if (rv != 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot scan %s jobs",
		                job_state_name(state));
out:
	store_done(st);
	store_scratch_trim(s);
	return rv;
}

int
store_scan(store *s, int state, int (*fn)(const struct jobrec *, void *),
           void *arg)
{
	return store_scan_with(s, STMT_SCAN, state, 0, UINT64_MAX, fn, arg);
}

int
store_scan_brief(store *s, int state, uint64_t from, uint64_t to,
                 int (*fn)(const struct jobrec *, void *), void *arg)
{
	return store_scan_with(s, STMT_SCAN_BRIEF, state, from, to, fn, arg);
}

int
store_id_range(store *s, int state, uint64_t *lo, uint64_t *hi)
{
	sqlite3_stmt *st = s->stmt[STMT_ID_RANGE];
	int rc, rv = JOBD_OK;

	*lo = *hi = 0;
	if (state < 1 || state > JOB_STATE_MAX)
		return store_seterr(s, JOBD_INVALID_ARGUMENT,
		                    "cannot read job ids: invalid state %d",
		                    state);
	if ((rc = sqlite3_bind_text(st, 1, store_state_text(state), -1,
	                            SQLITE_STATIC)) != 0 ||
	    (rc = sqlite3_step(st)) != SQLITE_ROW) {
		rv = store_fail(s, rc, "cannot read the ids of %s jobs",
		                job_state_name(state));
	} else if (sqlite3_column_int64(st, 0) > 0 &&
	           sqlite3_column_int64(st, 1) > 0) {
		*lo = (uint64_t) sqlite3_column_int64(st, 0);
		*hi = (uint64_t) sqlite3_column_int64(st, 1);
	}
	store_done(st);
	return rv;
}

int
store_get_input(store *s, uint64_t id, const char *kind,
                const struct job_param *params, size_t nparams, uint8_t **buf,
                size_t *len)
{
	sqlite3_stmt *st = s->stmt[STMT_INPUT];
	int64_t in, res;
	const char *why;
	int rc, rv = JOBD_OK;

	*buf = NULL;
	*len = 0;
	if (id > INT64_MAX)
		return store_seterr(s, JOBD_NOT_FOUND,
		                    "cannot read the input of job %" PRIu64
		                    ": no such job",
		                    id);
	if ((rc = sqlite3_bind_int64(st, 1, (sqlite3_int64) id)) != 0 ||
	    (rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			rv =
			    store_seterr(s, JOBD_NOT_FOUND,
			                 "cannot read the input of job %" PRIu64
			                 ": no such job",
			                 id);
		else
			rv = store_fail(
			    s, rc, "cannot read the input of job %" PRIu64, id);
	} else if (store_col_crcs(st, 1, 2, &in, &res, &why) != 0) {
		rv = store_seterr(s, JOBD_DATA_LOSS,
		                  "cannot read the input of job %" PRIu64
		                  ": corrupt record (%s)",
		                  id, why);
	} else if (store_col_blob(st, 0, buf, len) != 0) {
		rv = store_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                  "cannot read the input of job %" PRIu64
		                  ": out of memory",
		                  id);
	} else if (in >= 0) {
		uint32_t crc = job_crc_id(id);
		crc = crc32c(crc, kind, strlen(kind) + 1);
		crc = job_crc_params(crc, params, nparams);
		if (crc32c(crc, *buf, *len) != (uint32_t) in)
			rv = store_seterr(s, JOBD_DATA_LOSS,
			                  "the stored input of job %" PRIu64
			                  " is damaged (checksum mismatch)",
			                  id);
	}
	if (rv != JOBD_OK) {
		free(*buf);
		*buf = NULL;
		*len = 0;
	}
	store_done(st);
	return rv;
}

int
store_mark_running(store *s, const uint64_t *ids, size_t n, uint64_t *marked)
{
	sqlite3_stmt *st = s->stmt[STMT_MARK_RUNNING];
	int rc, rv = JOBD_OK;

	*marked = 0;
	for (size_t i = 0; i < n && rv == JOBD_OK; i++) {
		if (ids[i] > INT64_MAX)
			continue; /* no job's id */
		if ((rc = sqlite3_bind_int64(st, 1, (int64_t) ids[i])) != 0 ||
		    (rc = sqlite3_step(st)) != SQLITE_DONE)
			rv = store_fail(s, rc, "cannot mark running jobs");
		else
			*marked += (uint64_t) sqlite3_changes64(s->db);
		store_done(st);
	}
	return rv;
}

int
store_recover(store *s, uint32_t max_recoveries, int64_t now,
              uint64_t *requeued, uint64_t *failed)
{
	sqlite3_stmt *cap = s->stmt[STMT_RECOVER_CAP];
	int rc, rv = JOBD_OK;

	*requeued = *failed = 0;
	/* atomic inside a transaction or out of one */
	if ((rc = sqlite3_exec(s->db, "SAVEPOINT recover", NULL, NULL, NULL)) !=
	    SQLITE_OK)
		return store_fail(s, rc, "cannot recover running jobs");
	if (max_recoveries > 0) {
		if ((rc = sqlite3_bind_int64(cap, 1, max_recoveries)) != 0 ||
		    (rc = sqlite3_bind_int64(cap, 2, now)) != 0 ||
		    (rc = sqlite3_step(cap)) != SQLITE_DONE)
			rv = store_fail(s, rc, "cannot recover running jobs");
		else
			*failed = (uint64_t) sqlite3_changes64(s->db);
		store_done(cap);
		if (rv != JOBD_OK)
			goto fail;
	}
	if ((rv = store_exec(s, STMT_RECOVER, "recover running jobs")) !=
	    JOBD_OK)
		goto fail;
	*requeued = (uint64_t) sqlite3_changes64(s->db);
	if ((rc = sqlite3_exec(s->db, "RELEASE recover", NULL, NULL, NULL)) !=
	    SQLITE_OK) {
		rv = store_fail(s, rc, "cannot recover running jobs");
		goto fail;
	}
	return JOBD_OK;

fail:
	sqlite3_exec(s->db, "ROLLBACK TO recover; RELEASE recover", NULL, NULL,
	             NULL);
	*requeued = *failed = 0;
	return rv;
}

int
store_purge(store *s, int64_t before, uint64_t *n)
{
	sqlite3_stmt *st = s->stmt[STMT_PURGE];
	int rc, rv = JOBD_OK;

	*n = 0;
	if ((rc = sqlite3_bind_int64(st, 1, before)) != 0 ||
	    (rc = sqlite3_step(st)) != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot purge jobs");
	else
		*n = (uint64_t) sqlite3_changes64(s->db);
	store_done(st);
	if (rv == JOBD_OK && *n > 0 &&
	    (rc = sqlite3_step(s->stmt[STMT_RUNS_PURGE])) != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot purge the runs of jobs");
	store_done(s->stmt[STMT_RUNS_PURGE]);
	return rv;
}

int
store_counts(store *s, uint64_t counts[JOB_STATE_MAX + 1])
{
	sqlite3_stmt *st = s->stmt[STMT_COUNTS];
	int rc, rv = JOBD_OK;

	memset(counts, 0, sizeof(counts[0]) * (JOB_STATE_MAX + 1));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		int state = t != NULL ? job_state_parse((const char *) t) : 0;
		if (state == 0) {
			rv = store_seterr(
			    s, JOBD_DATA_LOSS,
			    "cannot count jobs: unknown state '%s'",
			    t != NULL ? (const char *) t : "");
			goto out;
		}
		counts[state] = (uint64_t) sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot count jobs");
out:
	store_done(st);
	if (rv != JOBD_OK)
		memset(counts, 0, sizeof(counts[0]) * (JOB_STATE_MAX + 1));
	return rv;
}

int
store_max_id(store *s, uint64_t *id)
{
	sqlite3_stmt *st = s->stmt[STMT_MAX_ID];
	int rc, rv = JOBD_OK;

	*id = 0;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		rv = store_fail(s, rc, "cannot read the highest job id");
	else if (sqlite3_column_int64(st, 0) > 0)
		*id = (uint64_t) sqlite3_column_int64(st, 0);
	store_done(st);
	return rv;
}

int
store_check(store *s)
{
	sqlite3_stmt *st = s->stmt[STMT_CHECK];
	const unsigned char *t;
	int rc, rv = JOBD_OK;

	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		rv = store_fail(s, rc, "cannot check database '%s'", s->path);
	else if ((t = sqlite3_column_text(st, 0)) == NULL ||
	         strcmp((const char *) t, "ok") != 0)
		rv = store_seterr(s, JOBD_DATA_LOSS,
		                  "database '%s' is corrupt: %s", s->path,
		                  t != NULL ? (const char *) t : "no answer");
	store_done(st);
	return rv;
}

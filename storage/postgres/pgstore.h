#ifndef JOBD_PGSTORE_H
#define JOBD_PGSTORE_H

/*
 * pgstore: the durable record of jobs in PostgreSQL, shared by several
 * jobd daemons (the SQL layer of the shared back end; daemon/jobq_pg.c is
 * the runtime above it). The design, the schema and the index choices are
 * in pgstore.c's opening comment.
 *
 * One `pgstore` is one libpq connection with its prepared statements
 * (each prepared once per connection, on first use). Every call is
 * synchronous and blocking; one thread at a time uses a pgstore (give each
 * thread its own). Outside pgstore_begin/commit every call is its own
 * transaction.
 *
 * Every function returns a jobd_status code, converted here from libpq:
 *   connection lost, refused, server shutting down or starting
 *                                            JOBD_UNAVAILABLE
 *   serialization failure, deadlock, a call inside a failed transaction
 *                                            JOBD_ABORTED
 *   unique violation                         JOBD_ALREADY_EXISTS
 *   statement_timeout                        JOBD_DEADLINE_EXCEEDED
 *   out of memory / disk full on the server  JOBD_RESOURCE_EXHAUSTED
 *   anything else                            JOBD_INTERNAL
 * and the text of the last error is in pgstore_errmsg(). After
 * JOBD_UNAVAILABLE the connection is gone: pgstore_reconnect (or close and
 * open again); a transaction open then was rolled back by the server, so
 * nothing of it is committed.
 *
 * Times are Unix milliseconds. Leases (lease_until) and the times the
 * claim and rescue write (started_at, finished_at of rescued jobs) use
 * the SERVER's clock, so that daemons with skewed clocks agree; times the
 * caller passes in records are written as given (0 = the server's now
 * where the function says so).
 *
 * Inputs and results are stored with the same CRC-32C checksums as the
 * SQLite store (store.c "Checksums"): a mismatch on reading is
 * JOBD_DATA_LOSS "the stored input (result) of job N is damaged (checksum
 * mismatch)", never the damaged bytes.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobd_status.h"
#include "store.h" /* store_filter, STORE_INPUT; struct jobrec (job.h) */

typedef struct pgstore pgstore;

/* The schema version this build writes (table jobd_schema). */
#define PGSTORE_SCHEMA_VERSION 1

/* NOTIFY channels. jobd_cancel's payload is the job id in decimal; the
 * others' payloads are the runtime's (pgstore_notify). */
#define PGSTORE_CHAN_NEW    "jobd_new"
#define PGSTORE_CHAN_END    "jobd_end"
#define PGSTORE_CHAN_CANCEL "jobd_cancel"

/* ---- connection ---------------------------------------------------- */

/*
 * Connects to `url` (postgresql://... or postgres://..., or any libpq
 * connection string). Defaults the URL may override: application_name
 * jobd, connect_timeout 5 s, TCP keepalives (idle 10 s, interval 5 s,
 * count 3; the server's too), statement_timeout 30 s,
 * idle_in_transaction_session_timeout 60 s, jit off (an `options` in the
 * URL replaces the server settings among these). Does not touch the
 * schema (see pgstore_migrate). On failure *sp is NULL, the status is
 * JOBD_UNAVAILABLE (cannot reach or refused), JOBD_UNAUTHENTICATED
 * (password/authentication failed), JOBD_FAILED_PRECONDITION (no such
 * database or role) or JOBD_INVALID_ARGUMENT (a bad URL), and err holds
 * the message (never the password).
 */
int pgstore_open(pgstore **sp, const char *url, char *err, size_t errlen);
/* Closes the connection. Accepts NULL. */
void pgstore_close(pgstore *s);
/* Drops the connection (if any) and connects again with the same URL;
 * statements are prepared again on first use. JOBD_OK or as pgstore_open
 * (the message in pgstore_errmsg). */
int pgstore_reconnect(pgstore *s);
/* True while the connection is up as far as libpq knows. */
bool pgstore_connected(pgstore *s);
/* The connection's socket, for poll() (readable: notifications may have
 * arrived; call pgstore_wait with timeout 0). -1 if not connected. */
int pgstore_socket(pgstore *s);
/* The message of the last failed call on this pgstore. */
const char *pgstore_errmsg(pgstore *s);
/* The server's clock, Unix ms. */
int pgstore_now(pgstore *s, int64_t *now);

/*
 * Brings the schema up to PGSTORE_SCHEMA_VERSION: every migration step not
 * yet applied, each in its own transaction under pg_advisory_xact_lock (a
 * daemon starting at the same time waits for the first, then finds
 * nothing to do). *version (may be NULL) gets the version found before.
 * A database at a newer version is refused, untouched:
 * JOBD_FAILED_PRECONDITION, "database schema version N is newer than this
 * jobd's (1); upgrade jobd"; so is a server older than PostgreSQL 10. Call once
 * before any other call on a fresh database (calls on a connection that did not
 * migrate work if the schema is current).
 */
int pgstore_migrate(pgstore *s, int *version, char *err, size_t errlen);

/* ---- transactions and notifications --------------------------------- */

/* One transaction (READ COMMITTED) over several calls. pgstore_commit
 * returns once PostgreSQL has committed (durable as the server's
 * synchronous_commit says). After an error inside, call pgstore_rollback
 * (harmless when there is no transaction). A pgstore_commit that fails
 * with JOBD_UNAVAILABLE (the connection lost during the COMMIT) leaves
 * the outcome unknown: it may have committed. Acknowledge nothing of it;
 * a Submit retried with its idempotency key finds its job if it did. */
int pgstore_begin(pgstore *s);
int pgstore_commit(pgstore *s);
int pgstore_rollback(pgstore *s);
/* Inside a transaction: marks the point pgstore_savepoint_undo goes back
 * to (one at a time, not nested); pgstore_savepoint_keep forgets it,
 * keeping what was done since. */
int pgstore_savepoint(pgstore *s);
int pgstore_savepoint_keep(pgstore *s);
int pgstore_savepoint_undo(pgstore *s);
/* pg_notify(channel, payload): inside a transaction, sent at its commit
 * (identical ones coalesced by the server); payload < 8000 bytes. */
int pgstore_notify(pgstore *s, const char *channel, const char *payload);
/* LISTEN channel on this connection (kept until closed or reconnected:
 * listen again after pgstore_reconnect). */
int pgstore_listen(pgstore *s, const char *channel);
/*
 * Waits up to timeout_ms (0: only what has arrived; -1: forever) for
 * notifications, and calls fn(channel, payload, arg) for each that has
 * arrived (all of them, at least one unless the time ran out). *n (may be
 * NULL) = how many. JOBD_OK (also when none came in time), or
 * JOBD_UNAVAILABLE if the connection was lost. fn must not call into s.
 * Not inside a transaction.
 */
int pgstore_wait(pgstore *s, int timeout_ms,
                 void (*fn)(const char *channel, const char *payload,
                            void *arg),
                 void *arg, size_t *n);
/* Leadership (periodic schedules, retention): pg_try_advisory_lock on a
 * fixed key, held by this connection's session until pgstore_unlead or
 * the connection ends. *leading = whether this connection holds it now
 * (true again if it already did). */
int pgstore_try_lead(pgstore *s, bool *leading);
int pgstore_unlead(pgstore *s);

/* ---- submit ----------------------------------------------------------- */

/* What happened to one job of pgstore_insert_batch. */
enum pgstore_ins_outcome {
	PGSTORE_INS_NEW = 0,     /* inserted with a new id */
	PGSTORE_INS_KEY = 1,     /* idempotency key already taken: id is the
	                            job holding it (nothing inserted) */
	PGSTORE_INS_UNIQUE = 2,  /* unique_key held by a queued or running
	                            job: id is that job (nothing inserted) */
	PGSTORE_INS_INVALID = 3, /* (appended) its kind, idempotency key or
	                            unique key is not valid UTF-8, which
	                            PostgreSQL's text cannot hold: nothing
	                            inserted, id 0; answer it
	                            JOBD_INVALID_ARGUMENT */
};
struct pgstore_ins {
	uint64_t id;
	int outcome; /* enum pgstore_ins_outcome */
};

/*
 * Inserts the jobs recs[0..n) in one multi-row statement: ids come from
 * the sequence (recs[i].id is ignored, and set for a new job), state
 * queued (whatever recs[i].state says), created_at as given (0 = the
 * server's now), not_before, after, priority, max_attempts, timeout_ms,
 * params, keys, attempts 0, input with its checksum. An idempotency key
 * already taken, by an earlier job or by an earlier one of this batch, is
 * not an error: that job is PGSTORE_INS_KEY with the holder's id; a
 * unique_key held by a live job is PGSTORE_INS_UNIQUE (the runtime answers
 * JOBD_ALREADY_EXISTS naming res[i].id). Neither aborts the transaction.
 * A job that cannot be stored (no kind, a param without name or value,
 * a text not valid UTF-8) is PGSTORE_INS_INVALID, and the others go in.
 * res[0..n) is the caller's.
 */
int pgstore_insert_batch(pgstore *s, struct jobrec *recs, size_t n,
                         struct pgstore_ins *res);

/* ---- workers ------------------------------------------------------------ */

/* "kind may start at most `more` jobs now" (its concurrency limit minus
 * what runs cluster-wide: pgstore_running_by_kind). */
struct pgstore_cap {
	const char *kind;
	uint32_t more;
};

/*
 * Claims up to `max` runnable jobs for `owner`, in one statement: queued,
 * not_before <= the server's now, kind in kinds[0..nkinds) (kinds NULL =
 * any kind), its kind not paused (table paused_kinds), every job it runs
 * after succeeded (or purged), at most caps[i].more of caps[i].kind (a kind
 * not in caps is unlimited), priority first (highest), then oldest id;
 * rows other daemons hold locked are skipped (FOR UPDATE SKIP LOCKED).
 * Give the kinds this daemon runs: each is then walked on its own, and a
 * paused kind's queue costs nothing (kinds NULL walks all queued jobs in
 * order). Call it outside a long transaction: rows looked at but not
 * taken stay locked until the transaction ends.
 * Each becomes running: owner, lease_until = now + lease_ms, attempts + 1,
 * started_at = now, cancel_requested false, progress 0. *out: a malloc'd
 * array of *n records WITH input (free each with jobrec_clear, then the
 * array). A record whose stored input fails its checksum comes back with
 * state JOB_FAILED, input NULL and error "the stored input of job N is
 * damaged (checksum mismatch)": the caller finishes it failed with that
 * error (it is running, owned, in the database). Every other record has
 * state JOB_RUNNING.
 */
int pgstore_claim(pgstore *s, const char *owner, uint32_t lease_ms,
                  const char *const *kinds, size_t nkinds,
                  const struct pgstore_cap *caps, size_t ncaps, size_t max,
                  struct jobrec **out, size_t *n);
/*
 * The end (or a retry's return to the queue) of job r->id, written only
 * if it is running and owned by `owner`: state (terminal, or JOB_QUEUED
 * with r->not_before for a retry), attempts, progress, result with its
 * checksum, error, finished_at (0 = the server's now); owner, lease and
 * cancel_requested cleared. JOBD_NOT_FOUND if it is not running as
 * owner's (its lease was lost: another daemon may run it now).
 */
int pgstore_finish(pgstore *s, const char *owner, const struct jobrec *r);
/* Progress of running job id as owner's: JOBD_OK and *cancel (may be
 * NULL) = whether a Cancel was requested; JOBD_NOT_FOUND if it is not
 * running as owner's. */
int pgstore_progress(pgstore *s, const char *owner, uint64_t id, uint64_t done,
                     uint64_t total, bool *cancel);
/* Extends the lease of every job running as owner's to the server's now +
 * lease_ms. *ids (malloc'd, the caller's; may be NULL when *n is 0) and
 * *n: the jobs renewed; a job the caller runs and is not among them has
 * lost its lease. */
int pgstore_renew(pgstore *s, const char *owner, uint32_t lease_ms,
                  uint64_t **ids, size_t *n);
/*
 * Rescue: every running job whose lease expired (lease_until < the
 * server's now) has its recoveries counted up and goes back to queued (its
 * attempt stays counted; *requeued); one that reaches max_recoveries
 * (0 = no cap) ends failed, "its daemon stopped or lost the database while
 * running this job N times; not run again" (*failed); one whose Cancel was
 * requested ends cancelled (counted in *failed). Ids of the jobs that
 * ended: *ended (malloc'd; NULL when none), *nended, to notify their
 * waiters; fn (unless NULL) is called with each one's kind and end state
 * (JOB_FAILED, JOB_CANCELLED). pgstore_recover_own is the same for the
 * jobs running as owner's whatever their lease (a daemon's start with a
 * stable name). Each is one statement of its own (committed on return
 * outside a transaction).
 */
int pgstore_rescue(pgstore *s, uint32_t max_recoveries, uint64_t *requeued,
                   uint64_t *failed, uint64_t **ended, size_t *nended,
                   void (*fn)(const char *kind, int state, void *arg),
                   void *arg);
int pgstore_recover_own(pgstore *s, const char *owner, uint32_t max_recoveries,
                        uint64_t *requeued, uint64_t *failed, uint64_t **ended,
                        size_t *nended,
                        void (*fn)(const char *kind, int state, void *arg),
                        void *arg);
/*
 * Dependencies: every queued job that runs after a job that failed or was
 * cancelled ends cancelled with the error "job N failed" / "job N was
 * cancelled", at the server's now; repeated until none is left (a chain
 * cancels in one call). *ids (malloc'd, NULL when none), *n: the jobs
 * cancelled; fn (unless NULL) is called with each one's kind. Call in the
 * transaction that ended a job failed or cancelled, or that inserted jobs
 * with `after`.
 */
int pgstore_doom(pgstore *s, uint64_t **ids, size_t *n,
                 void (*fn)(const char *kind, void *arg), void *arg);

/* ---- control ------------------------------------------------------------- */

/*
 * Cancel job id: queued → cancelled at once (finished_at the server's now,
 * error NULL); running → cancel_requested set and NOTIFY jobd_cancel with
 * the id (sent at commit), state stays running (its owner stops it);
 * ended → nothing. *state = the job's state after (JOB_CANCELLED,
 * JOB_RUNNING, or the terminal state it had). JOBD_NOT_FOUND if none.
 * kind (unless NULL; kindlen bytes): the job's kind when this call
 * changed it (cancelled a queued job, flagged a running one), else "":
 * a job that had ended already is not counted twice.
 */
int pgstore_cancel(pgstore *s, uint64_t id, int *state, char *kind,
                   size_t kindlen);
/*
 * Retry: job id, failed or cancelled, goes back to queued as a new run:
 * the run that ended (state, error, attempts, started_at, finished_at)
 * appended to its history (job_runs); attempts 0, reruns + 1, progress,
 * result, error, times and recoveries cleared, not_before as given, after
 * = after[0..nafter) (the jobs it is to wait for; NULL/0 for none).
 * JOBD_FAILED_PRECONDITION "no such job, or it has not failed or been
 * cancelled" otherwise. out (may be NULL) gets the job as it is now,
 * without input.
 */
int pgstore_rerun(pgstore *s, uint64_t id, int64_t not_before,
                  const uint64_t *after, size_t nafter, struct jobrec *out);
/* Pause (paused true) or resume kind: *changed (may be NULL) = whether it
 * was not so before. now: the time recorded (0 = the server's now). */
int pgstore_set_paused(pgstore *s, const char *kind, bool paused, int64_t now,
                       bool *changed);
/* Calls fn for each paused kind; fn returning non-zero stops and is
 * returned. */
int pgstore_paused_load(pgstore *s, int (*fn)(const char *kind, void *arg),
                        void *arg);
/* The last firing of each periodic schedule: upserted, never moving `at`
 * backwards (store_set_tick / store_ticks_load). */
int pgstore_set_tick(pgstore *s, const char *name, int64_t at, uint64_t job_id);
int pgstore_ticks_load(pgstore *s,
                       int (*fn)(const char *name, int64_t at, uint64_t job_id,
                                 void *arg),
                       void *arg);
/* Deletes up to `limit` (0 = 10000) terminal jobs that finished before
 * `before`, with their history; *n = how many (call again while
 * *n == limit: each call is a short transaction). */
int pgstore_purge(pgstore *s, int64_t before, size_t limit, uint64_t *n);

/* ---- reads ----------------------------------------------------------------
 */

/* Job id into *out (the caller clears it), with its history
 * (pgstore_runs) and, with flags STORE_INPUT, its input (else input NULL,
 * input_len set). JOBD_NOT_FOUND if none; JOBD_DATA_LOSS on a checksum
 * mismatch. A queued job's `waiting` is JOB_WAIT_AFTER (waiting_for: the
 * first job it runs after that has not succeeded) or JOB_WAIT_PAUSED, as
 * the database says; the reasons only the runtime knows (kind undefined,
 * kind at its limit) are its to add. pgstore_list's records too. */
int pgstore_get(pgstore *s, uint64_t id, int flags, struct jobrec *out);
/* The earlier runs of job id, oldest first, into r->history/nhistory. */
int pgstore_runs(pgstore *s, uint64_t id, struct jobrec *r);
/* The id of the job with idempotency key `key`; JOBD_NOT_FOUND if none. */
int pgstore_find_key(pgstore *s, const char *key, uint64_t *id);
/* Jobs matching f, newest first, without input or result, as store_list
 * (*out malloc'd: jobrec_clear each, then free). */
int pgstore_list(pgstore *s, const struct store_filter *f, struct jobrec **out,
                 size_t *n);
/* states[i] = state of job ids[i], 0 if there is no such job (one
 * statement for the batch). */
int pgstore_states(pgstore *s, const uint64_t *ids, size_t n, int *states);
/* counts[state] = jobs in each state (index 1..JOB_STATE_MAX; 0 unused;
 * JOB_SCHEDULED: queued jobs whose not_before is in the future, which
 * are also not in counts[JOB_QUEUED]). It reads every row's state (an
 * index-only scan of the whole table, about 0.3 s for 2 million rows):
 * for a periodic refresh, not per call (see pgstore_counts_live). */
int pgstore_counts(pgstore *s, uint64_t counts[JOB_STATE_MAX + 1]);
/* Calls fn for each kind with jobs running cluster-wide and their count. */
int pgstore_running_by_kind(pgstore *s,
                            int (*fn)(const char *kind, uint64_t n, void *arg),
                            void *arg);

/* ---- appended after publication (/work/issue16/pgstore-changes.md) ---- */

/* As pgstore_counts for the live states only (queued, running,
 * scheduled), from the partial indexes: costs the live jobs, not the
 * table. The ended states' counts are left 0. */
int pgstore_counts_live(pgstore *s, uint64_t counts[JOB_STATE_MAX + 1]);
/* *bytes = the size on disk of the whole database jobd's URL names
 * (pg_database_size: its tables, indexes and TOAST, not the WAL). It
 * lists the database's files: for a periodic read, not per call. */
int pgstore_db_size(pgstore *s, uint64_t *bytes);

#endif

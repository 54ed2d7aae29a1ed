#ifndef JOBD_STORE_H
#define JOBD_STORE_H

/*
 * store: the durable record of jobs, in SQLite.
 *
 * One `store` is one SQLite connection with its prepared statements. SQLite's
 * threading rule applies: a store is used by one thread at a time; every
 * thread that touches the database opens its own.
 *
 * The database runs in WAL mode with synchronous=FULL, so a COMMIT that
 * returned has reached the disk. The schema is versioned with
 * PRAGMA user_version; see store.c for the procedure to change it.
 *
 * A job's input and result are stored with checksums (CRC-32C), checked
 * wherever they are read back: a mismatch is JOBD_DATA_LOSS, "the stored
 * input (result) of job N is damaged (checksum mismatch)", never the
 * damaged bytes. Rows written before schema version 2 have none and are
 * read unchecked.
 *
 * Every function returns a jobd_status code (JOBD_OK on success). SQLite
 * errors are converted here: a full disk, a read-only or unreachable file
 * become JOBD_UNAVAILABLE, a corrupt file JOBD_DATA_LOSS, a foreign or newer
 * database JOBD_FAILED_PRECONDITION, anything else JOBD_INTERNAL. The text of
 * the last error is in store_errmsg().
 */

#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "jobd_status.h"

typedef struct store store;

/*
 * Opens (creating if missing) the database at `path` and brings its schema
 * up to date. A file that is not a SQLite database, is corrupt, or is a
 * SQLite database of some other program (tables that are not jobd's, or a
 * user_version this build does not know) is refused with a message naming
 * the file, and never modified; so is a path that is not a regular file (a
 * device, a FIFO, a directory), before anything is created beside it. On
 * failure *sp is NULL and `err` holds the message.
 */
int store_open(store **sp, const char *path, char *err, size_t errlen);
/* Opens an existing database of this jobd's schema version for reading
 * only: no row is written through it (calls that write fail with
 * JOBD_UNAVAILABLE), and a read-only file or filesystem is no obstacle. */
int store_open_readonly(store **sp, const char *path, char *err, size_t errlen);
/* JOBD_OK if `path` is a regular file or does not exist; else
 * JOBD_FAILED_PRECONDITION and "database 'x' is a character device, not a
 * regular file" (a directory, a FIFO, ...) in err. Opens nothing. */
int store_check_file(const char *path, char *err, size_t errlen);
/* Finalizes the statements and closes the connection. Accepts NULL. */
void store_close(store *s);
/* The path the store was opened with. */
const char *store_path(store *s);
/* The message of the last failed call on this store. */
const char *store_errmsg(store *s);
/* Rows inserted, updated or deleted through this store since it opened:
 * a transaction that changed none wrote nothing to the disk. */
uint64_t store_changes(store *s);

/* One write transaction (BEGIN IMMEDIATE: readers must not use it);
 * store_commit returns only once it is on disk. After a failed commit the
 * transaction is over (rolled back). After any other error inside a
 * transaction call store_rollback, which is harmless if SQLite already
 * rolled back. */
int store_begin(store *s);
int store_commit(store *s);
int store_rollback(store *s);

/* Inserts a new job with r->id (1..INT64_MAX). JOBD_ALREADY_EXISTS if the
 * id or the idempotency key is taken. */
int store_insert(store *s, const struct jobrec *r);
/* Writes the mutable fields (state, attempts, progress, result, error,
 * started_at, finished_at, not_before) of job r->id. JOBD_NOT_FOUND if none. */
int store_update(store *s, const struct jobrec *r);
/*
 * Retry: job r->id, which must be failed or cancelled in the database, is
 * put back as r says (state queued, attempts 0, r->reruns, r->not_before;
 * progress, result, error and times cleared, recoveries 0), and the run
 * that ended, `run`, is appended to its history: one transaction's worth,
 * inside the caller's. JOBD_FAILED_PRECONDITION if there is no such
 * job, or it is not failed or cancelled (one statement tells neither
 * apart: "no such job, or it has not failed or been cancelled").
 */
int store_rerun(store *s, const struct jobrec *r, const struct job_run *run);
/* The earlier runs of job `id`, oldest first, into r->history and
 * r->nhistory (r owns them: jobrec_clear frees them). */
int store_runs(store *s, uint64_t id, struct jobrec *r);

/* Paused kinds (Pause/Resume): durable, one row per kind. */
int store_set_paused(store *s, const char *kind, int paused, int64_t now);
int store_paused_load(store *s, int (*fn)(const char *kind, void *arg),
                      void *arg);
/* The last firing of each periodic schedule (periodic.c): upserted, never
 * moving `at` backwards. */
int store_set_tick(store *s, const char *name, int64_t at, uint64_t job_id);
int store_ticks_load(store *s,
                     int (*fn)(const char *name, int64_t at, uint64_t job_id,
                               void *arg),
                     void *arg);

/* Reads job `id` into *out (which the caller clears). Flags: STORE_INPUT to
 * read the input bytes too (otherwise input is NULL but input_len is set).
 * JOBD_NOT_FOUND if there is no such job; JOBD_DATA_LOSS if the result (or
 * the input, when read) does not match its checksum. */
#define STORE_INPUT 1
int store_get(store *s, uint64_t id, int flags, struct jobrec *out);
/* The input bytes of job `id` into *buf (malloc'd, the caller's; NULL when
 * there are none) and *len, checked against the input checksum, which
 * covers the job's id, kind and params too: kind and params are the ones
 * it is to run with. JOBD_NOT_FOUND if there is no such job;
 * JOBD_DATA_LOSS, *buf NULL, if they do not match the checksum ("the
 * stored input of job N is damaged (checksum mismatch)"). */
int store_get_input(store *s, uint64_t id, const char *kind,
                    const struct job_param *params, size_t nparams,
                    uint8_t **buf, size_t *len);
/* The id of the job with idempotency key `key`; JOBD_NOT_FOUND if none. */
int store_find_key(store *s, const char *key, uint64_t *id);

struct store_filter {
	int state;        /* 0 = any */
	const char *kind; /* NULL = any */
	uint64_t before;  /* only ids below this; 0 = no bound */
	size_t limit;     /* at most this many; 0 = no limit */
};
/* Jobs matching `f`, newest (highest id) first, without input or result.
 * *out is a malloc'd array of *n records: free each with jobrec_clear, then
 * the array with free. */
int store_list(store *s, const struct store_filter *f, struct jobrec **out,
               size_t *n);

/* Calls fn for every job in `state` (1..JOB_STATE_MAX), oldest first, with
 * input. fn may use other store functions of s, but not store_scan. The record
 * is only valid during the call (fn may jobrec_copy it). fn returning non-zero
 * stops the scan and becomes the return value. */
int store_scan(store *s, int state, int (*fn)(const struct jobrec *, void *),
               void *arg);
/* As store_scan, for the jobs whose id lies in [from, to], but reads
 * neither the input (input is NULL, input_len is set) nor the result, and
 * allocates nothing for a row: every pointer in the record points into the
 * store's own memory and is valid only during the call (fn copies what it
 * keeps). For loading many jobs at start. */
int store_scan_brief(store *s, int state, uint64_t from, uint64_t to,
                     int (*fn)(const struct jobrec *, void *), void *arg);
/* The lowest and highest id of the jobs in `state`; both 0 if none. */
int store_id_range(store *s, int state, uint64_t *lo, uint64_t *hi);

/* Crash recovery, atomic: every job left `running` has its recoveries
 * counted up; one that reaches max_recoveries (0 = no cap) ends `failed`
 * at `now` (Unix ms) with the error "jobd stopped uncleanly while running
 * this job N times; not run again" (*failed = how many), every other goes
 * back to `queued` (its attempt stays counted; *requeued = how many). */
/* Jobs that were running when jobd died (runmark.h) and that the database
 * still has `queued` (their move to running had not been written) are put
 * back to `running`, so that store_recover() counts them. *marked: how
 * many. Ids of no job, or of jobs in any other state, are passed over. */
int store_mark_running(store *s, const uint64_t *ids, size_t n,
                       uint64_t *marked);
int store_recover(store *s, uint32_t max_recoveries, int64_t now,
                  uint64_t *requeued, uint64_t *failed);
/* Deletes terminal jobs that finished before `before` (Unix ms). *n = how
 * many. */
int store_purge(store *s, int64_t before, uint64_t *n);
/* counts[state] = number of jobs in each state (index 1..JOB_STATE_MAX;
 * counts[0] is unused). */
int store_counts(store *s, uint64_t counts[JOB_STATE_MAX + 1]);
/* The highest id in use, 0 if there are no jobs. */
int store_max_id(store *s, uint64_t *id);
/* PRAGMA integrity_check; JOBD_DATA_LOSS with the first problem in the
 * message if it is not "ok". */
int store_check(store *s);

#endif

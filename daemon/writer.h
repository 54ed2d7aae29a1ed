#ifndef JOBD_WRITER_H
#define JOBD_WRITER_H

/*
 * writer: the storage thread. Every change to the database goes through it,
 * so only this thread ever runs COMMIT, and changes queued while one commit
 * is on its way to the disk share the next one (group commit): a batch is
 * whatever is waiting when the previous commit returns, in one transaction.
 *
 * A commit nobody waits for never delays one that somebody does: changes
 * that no caller waits for (a job's move to running, the end of a job no
 * Wait or Cancel is parked on, a retry's re-queue, a purge) are held until
 * a change somebody waits for arrives (an insert: a Submit's reply; an
 * update marked `awaited`: a parked Wait's or Cancel's; see writer_hurry)
 * and join its commit; held at most WRITER_HOLD_MS, or until
 * WRITER_HOLD_OPS of them wait. So a client's Submit costs one fsync, not
 * the fsync of the ends before it as well.
 *
 * An op's done() is called on the writer's completer thread, in order, after
 * its batch committed (op->status JOBD_OK) or failed; never on the thread
 * that submitted it, which may hold a lock that done() takes (lock order:
 * a caller's locks, then writer.mtx, then writer.dmtx). A failed insert or
 * rerun reports the error (not acknowledged); a failed update, purge,
 * pause or tick is retried
 * until it succeeds or the writer stops, so no acknowledged state change is
 * dropped while the daemon lives. While the database cannot be written, the
 * writer tries again every 500 ms and refuses new inserts at once in between,
 * with the last error (JOBD_UNAVAILABLE for a full disk, a read-only
 * filesystem, an I/O error).
 */

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* The longest a change nobody waits for is held, by default (jobd
 * --commit-hold). */
#define WRITER_HOLD_MS 10

enum writer_op_type {
	WOP_INSERT = 1, /* a new job: rec */
	WOP_UPDATE = 2, /* the mutable fields of rec */
	WOP_PURGE = 3,  /* finished jobs older than purge_before */
	WOP_RERUN = 4,  /* Retry: rec as store_rerun() takes it, with `run` */
	WOP_PAUSE = 5,  /* kind `name` paused (`paused`) or resumed */
	WOP_TICK = 6,   /* schedule `name` fired at `at`: job ref_id */
};

struct writer_op {
	struct writer_op *next;
	int type;
	struct jobrec rec;    /* owned by the op's creator */
	int64_t purge_before; /* WOP_PURGE */
	struct job_run run;   /* WOP_RERUN: the run that ended */
	const char *name;     /* WOP_PAUSE, WOP_TICK: owned by the creator */
	int64_t at;           /* WOP_PAUSE: now; WOP_TICK: the firing */
	uint64_t ref_id;      /* WOP_TICK: the job it made (0: none) */
	bool paused;          /* WOP_PAUSE */
	int status; /* out: jobd_status; WOP_RERUN: FAILED_PRECONDITION when
	               the row is not failed or cancelled (nothing written) */
	char errmsg[160];     /* out: when status != JOBD_OK */
	uint64_t existing_id; /* out: WOP_INSERT whose key was taken */
	uint64_t purged;      /* out: WOP_PURGE: jobs deleted */
	uint64_t counts[JOB_STATE_MAX + 1]; /* out: WOP_PURGE: jobs left */
	bool awaited;    /* somebody waits for this commit: committed at
	                    once (an insert always is) */
	bool superseded; /* private: not written, a later op has it */
	bool with_next;  /* writer_submit_group: the next op is in the
	                    same transaction */
	void (*done)(struct writer_op *op);
	void *arg;
};

typedef struct writer writer;

/* Opens its own connection to `dbpath` and starts the thread. */
int writer_start(writer **wp, const char *dbpath, char *err, size_t errlen);
/* Queues op; its done() will be called exactly once, on the completer
 * thread. Once writer_stop() has begun, op fails with JOBD_UNAVAILABLE
 * ("jobd is shutting down"), and done() is still called on the completer.
 * Not to be called once writer_stop() may have returned. */
void writer_submit(writer *w, struct writer_op *op);
/* Queues the ops of the list `ops` (linked by next) so that they are
 * applied in one transaction: they all commit or all fail together. Each
 * op's done() is called as for writer_submit(). */
void writer_submit_group(writer *w, struct writer_op *ops);
/* Somebody now waits for an op already queued (a Wait parked on a job
 * whose end is on its way): what is queued is committed at once. */
void writer_hurry(writer *w);
/* Commits what is queued, stops the thread, then the completer once it has
 * called every done() it was handed, and closes. Accepts NULL. */
void writer_stop(writer *w);
/* True once writer_stop() has begun (for tests). */
bool writer_stopping(writer *w);
/* How long ops nobody waits for may be held, in ms (WRITER_HOLD_MS until
 * set); 0: never held. */
void writer_set_hold(writer *w, int ms);
/* Commits run since the start, each one fsync (for Stats and tests). */
uint64_t writer_commits(writer *w);
/* Ops queued and not yet done (for Stats and tests). */
uint64_t writer_backlog(writer *w);
/* True while the last commit failed (disk full, read-only, ...). */
int writer_failing(writer *w);

#endif

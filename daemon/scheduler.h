#ifndef JOBD_SCHED_H
#define JOBD_SCHED_H

/*
 * scheduler (sched_): the live jobs, in memory.
 *
 * Every job that is queued or running (and, briefly, one whose end is on its
 * way to the disk) lives here: a table by id and by idempotency key, a
 * priority run queue, a queue of jobs waiting out a retry backoff, and the
 * calls parked on a job (a Submit waiting for its commit, a Wait or Cancel
 * waiting for the job to end). SQLite is the durable record, written through
 * the writer; a job leaves memory once its end is committed, and from then on
 * it is read from the database.
 *
 * Calls never block on a job or on the disk: a call that must wait parks a
 * `waiter`, and the waiter's fire() runs later on the writer's completer
 * thread or the timer thread (or on sched_release's or sched_drain's
 * caller). fire() runs without any sched lock held.
 */

#include <stdbool.h>
#include <stdint.h>

#include "registry.h"
#include "store.h"
#include "writer.h"

typedef struct sched sched;
struct job;
struct wq;
struct shot;

enum waiter_until {
	WAIT_COMMIT = 1, /* the job's Submit is on disk */
	WAIT_END = 2,    /* the job ended and that is on disk */
};

/*
 * A parked call. The caller allocates it and sets until, deadline, fire and
 * arg (a Submit's waiter, WAIT_COMMIT, has no deadline: it is not read);
 * fire() is called exactly once, then the waiter belongs to the caller
 * again. status: JOBD_OK (job is the job's state then, result included,
 * valid during the call only), JOBD_DEADLINE_EXCEEDED (job holds only its
 * id and its current state), JOBD_ALREADY_EXISTS (a Submit whose key turned
 * out to be taken: existing_id), JOBD_UNAVAILABLE (shutting down, or the
 * insert failed: msg), or the status given to sched_release (job holds
 * only id and state).
 *
 * Every park, expiry, release and unpark costs O(log n) under the
 * scheduler's lock (n parked calls); no hold of the lock does more than a
 * bounded number of them.
 */
struct waiter {
	int until;
	int64_t deadline; /* CLOCK_MONOTONIC ms; 0 = none */
	void (*fire)(struct waiter *w, int status, const struct jobrec *job,
	             uint64_t existing_id, const char *msg);
	void *arg;
	/* private */
	struct waiter *next, **pprev;   /* its queue; then a list to fire */
	struct waiter *anext, **apprev; /* every parked WAIT_END waiter */
	struct wq *q;                   /* where it is parked; NULL after */
	size_t hpos;                    /* in the deadline heap */
	struct shot *shot; /* what it fires with; NULL: id and state */
	const char *msg;   /* valid until it has fired */
	uint64_t id;
	uint64_t existing_id;
	int status;
	int state;
};

struct sched_config {
	uint32_t workers;
	uint64_t max_queue;   /* queued jobs; 0 = unlimited */
	uint32_t backoff_ms;  /* first retry delay; doubles, capped */
	int64_t retention_ms; /* finished jobs older than this are purged */
	/* a job found running at this many starts (each after an unclean
	 * stop while it ran) fails instead of running again; 0 = no cap */
	uint32_t max_recoveries;
};

struct sched_stats {
	uint64_t counts[JOB_STATE_MAX + 1];
	uint64_t submitted;
	uint64_t retried;
	uint64_t recovered;
	uint64_t waiting_kind; /* queued, ready, of a kind not defined now */
	uint64_t commits;      /* the writer's, since start */
	uint32_t busy;
};

/* Monotonic and wall clocks, in milliseconds. */
int64_t sched_mono_ms(void);
int64_t sched_wall_ms(void);

/* Creates the scheduler and its timer thread. */
int sched_create(sched **sp, writer *w, const struct sched_config *cfg);
/*
 * Start-up, before any call: re-queues jobs left running by a crash (or
 * fails those that reached cfg.max_recoveries) and loads the queued ones
 * from `db` into memory (without their inputs), whatever their kind: a job
 * of a kind not defined waits for it. Call sched_set_kinds first.
 * *recovered = jobs re-queued. A refusal's message names the database.
 */
int sched_load(sched *s, store *db, uint64_t *recovered, char *err,
               size_t errlen);
/* Makes ks (a reference is taken) the kinds that jobs start with from now
 * on; jobs running keep theirs. Logs the kinds queued jobs wait for. */
void sched_set_kinds(sched *s, kindset *ks);
/* A reference to the current kinds (kindset_unref it), or NULL before
 * sched_set_kinds. */
kindset *sched_kinds(sched *s);
/* Frees everything. Call after sched_drain and writer_stop. */
void sched_destroy(sched *s);

/*
 * Submit: takes ownership of *rec's fields on JOBD_OK (rec is zeroed), and
 * fires w once the job is on disk. If rec's idempotency key belongs to a
 * live job, w fires for that job instead (existing). Errors (returned, w not
 * parked): JOBD_RESOURCE_EXHAUSTED (queue full), JOBD_UNAVAILABLE (stopping),
 * JOBD_INVALID_ARGUMENT (k NULL, more than 255 params or an input of 4 GiB:
 * nothing that kind_validate() lets through).
 */
int sched_submit(sched *s, struct jobrec *rec, const struct kind_def *k,
                 struct waiter *w, char *err, size_t errlen);
/* One job of sched_submit_batch: as sched_submit's arguments. */
struct batch_job {
	struct jobrec *rec;
	const struct kind_def *kind;
	struct waiter *w;
	/* of rec->after, the jobs the caller found live (not ended): the
	 * job waits for them; the others it found succeeded */
	const uint64_t *wait_for;
	size_t nwait_for;
};

/*
 * sched_submit for n jobs at once, all or none: on JOBD_OK every rec was
 * taken and every waiter parked, and the new jobs' inserts go to the writer
 * as one group (one transaction). On an error nothing was taken or parked:
 * JOBD_RESOURCE_EXHAUSTED (no room in the queue for all the new jobs, or
 * out of memory), JOBD_UNAVAILABLE (stopping), JOBD_INVALID_ARGUMENT (as
 * sched_submit's). A key given twice: the second job is answered with the
 * first.
 */
int sched_submit_batch(sched *s, struct batch_job *b, size_t n, char *err,
                       size_t errlen);
/*
 * Retry: rec (read from the database, the caller's: its error is taken)
 * is a failed or cancelled job that goes back in the queue as a new run,
 * attempts from 0, waiting for wait_for (of rec->after, the jobs the
 * caller found live: as struct batch_job's) if any; w fires once that and
 * the run that ended, written to its history, are on disk (WAIT_COMMIT,
 * as a Submit's). Errors (w not parked): JOBD_FAILED_PRECONDITION (the
 * job is live: "job N has not ended"; or not failed or cancelled),
 * JOBD_ABORTED (a job it waits for ended meanwhile: look again),
 * JOBD_RESOURCE_EXHAUSTED, JOBD_UNAVAILABLE. w may also fire with
 * JOBD_FAILED_PRECONDITION when the database no longer had the job
 * failed or cancelled.
 */
int sched_rerun(sched *s, struct jobrec *rec, const uint64_t *wait_for,
                size_t nwait_for, struct waiter *w, char *err, size_t errlen);
/*
 * Pause (pause true) or Resume kind `kind` (a name; the caller checks that
 * it is one): from now on no job of it starts, or they may again. *changed
 * says whether it was not so before. done(arg, status, msg) is called
 * once the change is on disk, on the writer's completer thread, never on
 * the calling thread; a write that fails is retried until it succeeds or
 * jobd stops (status JOBD_UNAVAILABLE then). Returns JOBD_OK, or
 * JOBD_RESOURCE_EXHAUSTED (nothing changed, done not called).
 */
int sched_pause(sched *s, const char *kind, bool pause, bool *changed,
                void (*done)(void *arg, int status, const char *msg),
                void *arg);
/* Whether kind `kind` is paused. */
bool sched_paused(sched *s, const char *kind);
/* The names of the paused kinds (*names malloc'd, each name too), in the
 * order their names were first seen. */
int sched_paused_kinds(sched *s, char ***names, size_t *n);
/* The live, acknowledged job `id` copied into *out (without input);
 * JOBD_NOT_FOUND if it is not live (look in the database). */
int sched_get(sched *s, uint64_t id, struct jobrec *out);
/* True if job `id` is live: its state is the one in memory, not the
 * database's. */
bool sched_is_live(sched *s, uint64_t id);
/* Parks w until job `id` ends (WAIT_END). JOBD_NOT_FOUND if not live. */
int sched_wait(sched *s, uint64_t id, struct waiter *w);
/* Cancels live job `id` (a queued job at once, a running one when it next
 * reports progress) and parks w until it ended. JOBD_NOT_FOUND if not
 * live. */
int sched_cancel(sched *s, uint64_t id, struct waiter *w);
/*
 * Takes back a parked waiter whose caller has gone (its connection closed):
 * if w is still parked it is unparked and fired at once, on the calling
 * thread, with `status` and `msg` (no sched lock is held while it fires),
 * and true is returned; false if w has fired already or is firing now
 * (its fire() runs, or ran, exactly once either way). The job itself is
 * left alone: a Cancel already asked for goes on, a Submit still commits.
 */
bool sched_release(sched *s, struct waiter *w, int status, const char *msg);
/* Live acknowledged jobs matching f (f->before and f->limit honoured),
 * newest first, as store_list returns them. A page costs O(k + page log n),
 * k the kinds and states the filter lets through: never a walk of every
 * live job. */
int sched_list(sched *s, const struct store_filter *f, struct jobrec **out,
               size_t *n);
void sched_stats(sched *s, struct sched_stats *st);

/* Workers. sched_take blocks until a job is to run and returns it marked
 * running, or NULL once the scheduler is draining. */
struct job *sched_take(sched *s);
/* What a worker needs to run a job it took; valid until sched_finish. */
struct sched_work {
	uint64_t id;
	uint32_t attempt;               /* 1 for the first */
	const struct kind_def *kind;    /* as defined when it started */
	const struct job_param *params; /* validated */
	size_t nparams;
	size_t input_len; /* the bytes are in the database: store_get_input */
	bool loaded; /* kind and params were read from the database at start:
	                the input checksum checks them even without input */
	void *progress_arg; /* for sched_progress */
};
void sched_job_work(const struct job *j, struct sched_work *out);
/* The id of a job a worker took (valid until sched_finish). */
uint64_t sched_job_id(const struct job *j);
/* The database the jobs were loaded from (sched_load), where a worker reads
 * a job's input with a connection of its own; NULL before sched_load. */
const char *sched_db_path(sched *s);
/* Records progress (arg: sched_work's progress_arg); non-zero means stop
 * now (cancel, timeout, shutdown). */
int sched_progress(void *arg, uint64_t done, uint64_t total);
/* The run ended with outcome (enum jobd_run_outcome); result is taken. */
void sched_finish(sched *s, struct job *j, int outcome, uint8_t *result,
                  size_t result_len, const char *error);

/*
 * Shutdown: no job starts any more; fires every parked Wait/Cancel with
 * JOBD_UNAVAILABLE; gives running jobs grace_ms to end, then asks them to
 * stop (they go back to queued). Returns once no job runs, and with the
 * timer thread stopped, so that nothing reaches the writer afterwards.
 */
void sched_drain(sched *s, uint32_t grace_ms);
/* Cuts sched_drain's grace period short, whether it has begun or not:
 * running jobs are asked to stop at once (they go back to queued). Any
 * thread, until sched_destroy. */
void sched_hurry(sched *s);

#endif

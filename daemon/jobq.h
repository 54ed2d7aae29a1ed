#ifndef JOBD_JOBQ_H
#define JOBD_JOBQ_H

/*
 * jobq: the job-queue interface. The service's handlers, the worker pool,
 * the periodic engine and the daemon's start and stop call a queue only
 * through this table of functions; two implementations exist, chosen by
 * the --db URL (jobq_open):
 *
 *   local   (jobq_local.c)  today's scheduler, writer and SQLite file:
 *                           one daemon is the authority for its jobs.
 *   shared  (jobq_pg.c)     PostgreSQL: several daemons share one queue;
 *                           the database is the authority, each daemon
 *                           holds only the jobs it has claimed.
 *
 * The table is versioned (JOBQ_ABI): a function added goes at the end and
 * bumps the version; an implementation fills every entry.
 *
 * Threads. A call that parks a waiter (submit_batch, rerun, wait, cancel)
 * never waits on the database: its waiter fires later, on a thread of the
 * queue's, with no lock of the queue held (scheduler.h's waiter rules).
 * The "read" calls (lookup, find_key, list, paused_kinds, counts) may
 * wait on the database when ops->reads_block is true (PostgreSQL): the
 * service then runs the handlers that make them on its own database
 * threads (rpc_defer), never on an nng thread; with reads_block false
 * (SQLite) they run where the handler runs, as they always did.
 * get_live never waits on anything but the queue's own lock: a Get of a
 * job this daemon runs is answered from memory on any back end.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"
#include "scheduler.h" /* struct waiter, batch_job, sched_work, sched_stats */
#include "job.h"       /* struct jobrec */
#include "store.h"     /* struct store_filter */

#define JOBQ_ABI 2

typedef struct jobq jobq;
struct job; /* a job a worker took: the implementation's */

/* What a queue is made with: the daemon's options that concern it. */
struct jobq_config {
	const char *db; /* the --db value: a path, sqlite:PATH, or a
	                   postgresql:// or postgres:// URL */
	struct sched_config sched;
	uint32_t lease_ms;       /* shared: a claimed job's lease */
	const char *node;        /* shared: this daemon's name in the cluster
	                            (owner of its leases); NULL: host:pid */
	uint32_t commit_hold_ms; /* --commit-hold: the longest a change no
	                            call waits for waits for a commit */
	bool defer_reads;        /* tests (JOBD_DEFER_READS=1): the local queue
	                            says reads_block, so that the service's
	                            deferred path runs on SQLite too */
};

struct jobq_ops {
	uint32_t abi;     /* JOBQ_ABI */
	const char *name; /* "sqlite", "postgresql" */
	bool reads_block; /* see above */

	/* ---- life ---- */
	/* Start-up before any call: recovery of this daemon's own jobs
	 * (local: every running row; shared: the leases it owned), load,
	 * threads. *recovered: jobs put back in the queue. */
	int (*start)(jobq *q, uint64_t *recovered, char *err, size_t errlen);
	/* As sched_set_kinds / sched_kinds. */
	void (*set_kinds)(jobq *q, kindset *ks);
	kindset *(*kinds)(jobq *q);
	/* As sched_drain / sched_hurry; then stop (no waiter fires after
	 * it returns), then destroy. */
	void (*drain)(jobq *q, uint32_t grace_ms);
	void (*hurry)(jobq *q);
	void (*stop)(jobq *q);
	void (*destroy)(jobq *q);

	/* ---- calls (as the sched_ functions of the same name) ---- */
	int (*submit_batch)(jobq *q, struct batch_job *b, size_t n, char *err,
	                    size_t errlen);
	int (*rerun)(jobq *q, struct jobrec *rec, const uint64_t *wait_for,
	             size_t nwait_for, struct waiter *w, char *err,
	             size_t errlen);
	int (*wait)(jobq *q, uint64_t id, struct waiter *w);
	int (*cancel)(jobq *q, uint64_t id, struct waiter *w);
	bool (*release)(jobq *q, struct waiter *w, int status, const char *msg);
	int (*pause)(jobq *q, const char *kind, bool pause, bool *changed,
	             void (*done)(void *arg, int status, const char *msg),
	             void *arg);
	bool (*paused)(jobq *q, const char *kind);
	void (*stats)(jobq *q, struct sched_stats *st);

	/* A job running or queued that this daemon holds in memory: JOBD_OK
	 * (copied, without input), or JOBD_NOT_FOUND (ask lookup). Never
	 * waits on the database. */
	int (*get_live)(jobq *q, uint64_t id, struct jobrec *out);
	/* True if job id has not ended (shared: as the database says; may
	 * block). *live_err set to a status != OK when it cannot tell. */
	bool (*is_live)(jobq *q, uint64_t id, int *status);

	/* ---- reads (may block when reads_block) ---- */
	/* Job id, wherever it is, with its history: JOBD_OK, JOBD_NOT_FOUND,
	 * or an error with its message in err. */
	int (*lookup)(jobq *q, uint64_t id, struct jobrec *out, char *err,
	              size_t errlen);
	/* The job holding idempotency key `key`, current state: as lookup. */
	int (*find_key)(jobq *q, const char *key, struct jobrec *out, char *err,
	                size_t errlen);
	/* Jobs matching f, newest first, live and ended merged: as
	 * store_list's result. *floor: 0, or (when it merges sources that
	 * each gave at most f->limit rows) the id below which nothing was
	 * looked at: the page ends there, and the next one resumes from it. */
	int (*list)(jobq *q, const struct store_filter *f, struct jobrec **out,
	            size_t *n, uint64_t *floor, char *err, size_t errlen);
	int (*paused_kinds)(jobq *q, char ***names, size_t *n);

	/* ---- workers ---- */
	/* Blocks until a job is to run here; NULL once draining. */
	struct job *(*take)(jobq *q);
	void (*job_work)(const struct job *j, struct sched_work *out);
	uint64_t (*job_id)(const struct job *j);
	/* The job's input: *buf malloc'd (NULL when none); checked. `conn`
	 * is the worker's slot for a connection of its own (NULL at first;
	 * close_conn frees it when the worker ends). */
	int (*read_input)(jobq *q, void **conn, const struct sched_work *w,
	                  uint8_t **buf, size_t *len, char *err, size_t errlen);
	void (*close_conn)(jobq *q, void *conn);
	/* sched_progress's contract; arg is sched_work.progress_arg. */
	int (*progress)(void *arg, uint64_t done, uint64_t total);
	void (*finish)(jobq *q, struct job *j, int outcome, uint8_t *result,
	               size_t result_len, const char *error);

	/* ---- periodic schedules ---- */
	/* Whether this daemon fires the schedules now (local: always;
	 * shared: the one daemon holding the leader lock). */
	bool (*leads)(jobq *q);
	/* The last firings recorded (store_ticks_load's contract). */
	int (*ticks_load)(jobq *q,
	                  int (*fn)(const char *name, int64_t at,
	                            uint64_t job_id, void *arg),
	                  void *arg, char *err, size_t errlen);
	/* Records a firing (durably, in the background; never blocks). */
	void (*tick)(jobq *q, const char *name, int64_t at, uint64_t job_id);

	/* ---- added by the callers' port (jobq-changes.md) ---- */
	/* Worker `worker` (0..workers-1) now runs job `id` (0: none):
	 * local, the crash marks of DB.running (runmark.h); shared, nothing. */
	void (*mark)(jobq *q, uint32_t worker, uint64_t id);
	/* True while the queue refuses new jobs because its storage fails
	 * (local: the last commit failed; shared: the database unreachable):
	 * /readyz answers 503. Never blocks. */
	bool (*failing)(jobq *q);
	/* Brings what stats() reports up to date before a Stats reply: a
	 * read (may block when reads_block). Local: nothing (its counts are
	 * exact). Shared: the cluster's counts read again when that is cheap
	 * (a table whose last full count took PGQ_COUNTS_FRESH_MS at most),
	 * else the live counts only. */
	void (*refresh)(jobq *q);

	/* ---- added in ABI 2 ---- */
	/* The database's size on disk in bytes for /metrics, 0 if unknown.
	 * Never blocks. Local: the SQLite file and its write-ahead log, now.
	 * Shared: the whole PostgreSQL database (pg_database_size), as the
	 * listener last read it (every PGQ_SIZE_MS). */
	uint64_t (*db_bytes)(jobq *q);
};

struct jobq {
	const struct jobq_ops *ops;
};

/* Creates the queue the --db value names (not yet started). An unknown
 * scheme, a bad URL, or a back end not built in is an error naming it. */
int jobq_open(jobq **qp, const struct jobq_config *cfg, char *err,
              size_t errlen);

/* The SQLite file a --db value names (a path, or sqlite:PATH: the
 * path), or NULL for a URL of another scheme. Points into db. */
const char *jobq_file(const char *db);
/* The --db value for a log line: a URL's password replaced by "***". */
void jobq_redact(const char *db, char *buf, size_t len);

/* The implementations' constructors (jobq_open picks one). */
int jobq_local_open(jobq **qp, const struct jobq_config *cfg, char *err,
                    size_t errlen);
/* A local queue around a scheduler its caller made and loaded (tests):
 * start, stop and destroy leave the scheduler and its writer alone. */
int jobq_local_wrap(jobq **qp, sched *s, bool defer_reads);
int jobq_pg_open(jobq **qp, const struct jobq_config *cfg, char *err,
                 size_t errlen);

#endif

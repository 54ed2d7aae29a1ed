#ifndef JOBD_JOBQ_PG_IMPL_H
#define JOBD_JOBQ_PG_IMPL_H

/*
 * jobq_pg_impl: the shared queue's own types and the functions its files
 * share (jobq_pg.c: the calls, the workers and the parked calls;
 * jobq_pg_writer.c: the writer thread; jobq_pg_listen.c: the listener
 * thread and its timers). Not for other modules: they see jobq.h.
 *
 * One mutex, pgq.mtx, guards every field below that is not an atomic or
 * said to be one thread's. No pgstore call is ever made with mtx held, and
 * no waiter fires with it held.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"
#include "jobq.h"
#include "pgstore.h"

#define PGQ_BUCKETS           1024 /* parked Waits and Cancels, by id */
#define PGQ_POLL_MS           1000 /* fallback poll: claims, parked ids, progress */
#define PGQ_SIZE_MS           10000  /* the database's size, for /metrics */
#define PGQ_LEAD_MS           5000   /* leader lock tried this often */
#define PGQ_COUNTS_FRESH_ROWS 100000 /* Stats counts afresh up to this */
#define PGQ_COUNTS_FRESH_MS   100    /* Stats counts afresh below this cost */
#define PGQ_COUNTS_SCALE      100    /* ended counts: 1% of the time scanning */
#define PGQ_COUNTS_ASKED_MS                                                    \
	60000 /* counts kept fresh this long after                             \
	         Stats asked */
#define PGQ_PURGE_MS       (10 * 60 * 1000)
#define PGQ_FIRST_PURGE_MS 2000
#define PGQ_BACKOFF_MIN_MS 100
#define PGQ_BACKOFF_MAX_MS 5000
#define PGQ_BACKOFF_CAP_MS (5 * 60 * 1000) /* a retry's delay, at most */

enum pgq_stop { PGQ_RUN = 0, PGQ_CANCEL, PGQ_TIMEOUT, PGQ_SHUTDOWN, PGQ_LOST };

/* A job claimed by this daemon: in the ready list until a worker takes
 * it, running, then ending until its end is committed. */
struct job {
	struct job *next, *prev; /* the live list */
	struct job *rnext;       /* the ready list, then the ends to write */
	struct pgq *q;
	struct jobrec rec; /* as claimed (input until read_input) */
	kindset *ks;       /* running: the kinds it started with */
	const struct kind_def *def;
	atomic_int stop; /* enum pgq_stop */
	atomic_uint_fast64_t done, total;
	uint64_t sent_done, sent_total; /* writer's: last written */
	int64_t deadline;               /* CLOCK_MONOTONIC ms; 0 = none */
	int64_t started_ns;             /* metrics_now_ns() at its start */
	bool running;                   /* a worker has it */
	bool ending;                    /* its end is with the writer */
	bool lost;                      /* its lease was lost: end dropped */
};

/* A Submit's jobs, handed to the writer as one group. */
struct pgq_subs {
	struct pgq_subs *next;
	size_t n;
	bool after; /* some job has `after`: doom in the same transaction */
	/* refused by max_queue in the writer's transaction: the jobs that
	 * were waiting then (the writer's) */
	bool full;
	uint64_t waiting;
	struct jobrec *recs;     /* [n], owned */
	struct pgstore_ins *res; /* [n]: the writer's */
	struct waiter *w[];      /* [n]; NULL once released */
};

enum pgq_ctl_type { CTL_CANCEL = 1, CTL_PAUSE, CTL_TICK, CTL_RERUN };

/* A control op for the writer. */
struct pgq_ctl {
	struct pgq_ctl *next;
	int type;
	uint64_t id; /* cancel, rerun: the job; tick: its job */
	/* pause */
	bool paused;
	bool *changed; /* the caller's, set from the database's answer */
	bool was;      /* the writer's: what the database answered */
	void (*done)(void *arg, int status, const char *msg);
	void *arg;
	/* tick */
	int64_t at;
	/* rerun */
	struct waiter *w; /* NULL once released */
	uint64_t *after;
	size_t nafter;
	/* the writer's: what it came to */
	int status;
	int state;
	struct jobrec out;
	char name[]; /* pause: the kind; tick: the schedule */
};

struct pgq {
	jobq base;
	struct jobq_config cfg;
	char *url;
	char *node;
	uint32_t lease_ms;

	pthread_mutex_t mtx;
	pthread_cond_t work_cv;   /* workers: the ready list, draining */
	pthread_cond_t writer_cv; /* writer: work, or stop */
	pthread_cond_t idle_cv;   /* drain: a running job ended */
	pthread_t writer, listener;
	bool threads;
	/* each the one thread's: start opens them, destroy closes them */
	pgstore *wconn; /* the writer's */
	pgstore *lconn; /* the listener's */

	kindset *ks;

	/* the jobs claimed here */
	struct job *live;
	struct job *ready, **ready_tail;
	size_t nready;
	uint32_t busy;

	/* the writer's work */
	struct pgq_subs *subs, **subs_tail;
	struct job *ends, **ends_tail;
	struct pgq_ctl *ctls, **ctls_tail;
	bool want_claim;
	bool writer_stop;
	bool writer_idle;          /* nothing pending, none being written */
	atomic_bool db_down;       /* the writer has no connection */
	_Atomic uint64_t db_bytes; /* the database's size, as last read */
	char down_msg[256];        /* why, under mtx */

	/* parked Waits and Cancels (WAIT_END) */
	struct waiter *byid[PGQ_BUCKETS];
	struct waiter *parked; /* all of them, by anext */
	size_t nparked;
	struct heap deadlines;
	uint64_t *checks; /* ids to look at soon (new parks, local ends) */
	size_t nchecks, capchecks;
	int wake[2]; /* the listener's wake-up pipe */
	bool listener_stop;

	/* what the listener keeps */
	uint64_t counts[JOB_STATE_MAX + 1];
	int64_t counts_asked; /* when Stats last read them (mono ms) */
	int64_t counts_cost;  /* what the last full count took (ms) */
	int64_t counts_t0;    /* when the read of the counts kept began */
	bool leading;
	char **paused; /* paused kinds, as last read or set */
	size_t npaused;

	/* readers: connections for the calls that read */
	pgstore **readers;
	size_t nreaders, capreaders;

	struct sched_stats st;
	bool draining, hurry, started;
};

#define PGQ(jq) ((struct pgq *) (jq))

/* A marker for a waiter's q field: parked on an id (WAIT_END). */
extern char pgq_parked_mark;
#define PGQ_MARK ((struct wq *) (void *) &pgq_parked_mark)

/* jobq_pg.c: pgstore_rescue's and pgstore_recover_own's fn: a job the
 * database ended (its lease expired: failed past max_recoveries, or its
 * Cancel requested) counted in /metrics as this daemon's. */
void pgq_count_end(const char *kind, int state, void *arg);

/* jobq_pg_park.c: */
int64_t pgq_wall_ms(void);
int64_t pgq_mono_ms(void);
/* Fires w with status, job (NULL: id and state only) and msg, without
 * mtx. */
void pgq_fire(struct waiter *w, int status, const struct jobrec *job,
              uint64_t existing_id, const char *msg);
/* Fires the list (by next) with status, job and msg, without mtx. */
void pgq_fire_list(struct waiter *list, int status, const struct jobrec *job,
                   const char *msg);
/* Under mtx: parks w on id (WAIT_END); JOBD_OK or out of memory. */
int pgq_park_id(struct pgq *q, uint64_t id, struct waiter *w);
/* The deadline heap's order and position. */
int pgq_wait_less(const void *a, const void *b);
void pgq_wait_setpos(void *e, size_t pos);
/* Under mtx: whether kind is paused (as last read or set); *at its
 * place (may be NULL). */
bool pgq_paused_has(struct pgq *q, const char *kind, size_t *at);
/* Under mtx: unlinks every waiter parked on id into *list (by next);
 * returns how many. */
size_t pgq_detach_id(struct pgq *q, uint64_t id, struct waiter **list);
/* Under mtx: unlinks waiter w (parked on an id). */
void pgq_unpark(struct pgq *q, struct waiter *w);
/* Looks at the jobs ids[0..n) on s and answers the calls parked on
 * those that ended (or never were). Without mtx. JOBD_OK or the
 * connection's failure. */
int pgq_settle(struct pgq *q, pgstore *s, const uint64_t *ids, size_t n);
/* Under mtx: asks for the ids to be looked at soon (the listener). */
void pgq_check_locked(struct pgq *q, const uint64_t *ids, size_t n);
/* Wakes the listener (any thread, with or without mtx). */
void pgq_wake_listener(struct pgq *q);
/* Under mtx: the job claimed here with id, or NULL. */
struct job *pgq_live_find(struct pgq *q, uint64_t id);
/* Under mtx: job j leaves the live list and is freed. */
void pgq_live_drop(struct pgq *q, struct job *j);
/* Under mtx: a job claimed here, new, into the live list (and the ready
 * list: pgq_ready_add). */
void pgq_live_add(struct pgq *q, struct job *j);
void pgq_ready_add(struct pgq *q, struct job *j);
/* Under mtx: hands j's end to the writer. */
void pgq_end_locked(struct pgq *q, struct job *j);
/* Under mtx: j, claimed and not started, goes back to the queue (its
 * attempt not counted). */
void pgq_give_back(struct pgq *q, struct job *j);
/* NOTIFY chan with ids, comma-separated, in as few payloads as fit. */
int pgq_notify_ids(pgstore *s, const char *chan, const uint64_t *ids, size_t n);
/* The paused cache (under mtx). */
void pgq_paused_set(struct pgq *q, const char *kind, bool paused);
/* Takes a reader connection (opening one if none is free); NULL with
 * the message in err. pgq_reader_put gives it back (closed if it failed
 * with `rv` JOBD_UNAVAILABLE). */
/* Counts read from the database (counts[state]; all: the ended ones too)
 * by a read that began at t0 (mono ms) and took cost ms, kept unless a
 * read that began later was kept already. Takes mtx. */
void pgq_counts_keep(struct pgq *q, const uint64_t *counts, bool all,
                     int64_t t0, int64_t cost);
/* A list of names that pgstore_paused_load fills (pgq_names_add: its
 * callback; v and each name malloc'd, the caller's). */
struct pgq_names {
	char **v;
	size_t n;
};
int pgq_names_add(const char *name, void *arg);
pgstore *pgq_reader_get(struct pgq *q, char *err, size_t errlen);
void pgq_reader_put(struct pgq *q, pgstore *s, int rv);

/* jobq_pg_work.c: the ops of the same names (jobq.h). */
bool pgq_is_live(jobq *jq, uint64_t id, int *status);
int pgq_lookup(jobq *jq, uint64_t id, struct jobrec *out, char *err,
               size_t errlen);
int pgq_find_key(jobq *jq, const char *key, struct jobrec *out, char *err,
                 size_t errlen);
int pgq_list(jobq *jq, const struct store_filter *f, struct jobrec **out,
             size_t *n, uint64_t *floor, char *err, size_t errlen);
int pgq_paused_kinds(jobq *jq, char ***names, size_t *n);
struct job *pgq_take(jobq *jq);
void pgq_job_work(const struct job *j, struct sched_work *out);
uint64_t pgq_job_id(const struct job *j);
int pgq_read_input(jobq *jq, void **conn, const struct sched_work *w,
                   uint8_t **buf, size_t *len, char *err, size_t errlen);
void pgq_close_conn(jobq *jq, void *conn);
int pgq_progress(void *arg, uint64_t done, uint64_t total);
void pgq_finish(jobq *jq, struct job *j, int outcome, uint8_t *result,
                size_t result_len, const char *error);
bool pgq_leads(jobq *jq);
int pgq_ticks_load(jobq *jq,
                   int (*fn)(const char *name, int64_t at, uint64_t job_id,
                             void *arg),
                   void *arg, char *err, size_t errlen);

/* jobq_pg_writer.c: the writer thread (arg: the pgq; its own connection
 * `wconn`, opened by start). */
void *pgq_writer_main(void *arg);
/* jobq_pg_listen.c: the listener thread. */
void *pgq_listener_main(void *arg);

#endif

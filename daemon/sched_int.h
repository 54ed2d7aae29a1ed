#ifndef JOBD_SCHED_INT_H
#define JOBD_SCHED_INT_H

/*
 * sched_int: the scheduler's own types and the functions its files share,
 * not for other modules (they see scheduler.h). scheduler.c holds the life
 * of jobs (see the top of it); schedload.c the start-up load from the
 * database; schedctl.c the calls that act on a job or kind from outside
 * its life: Retry, Pause and Resume. Every function here is called under
 * sched.mtx unless it says otherwise.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deps.h"
#include "heap.h"
#include "ukeys.h"
#include "idtree.h"
#include "scheduler.h"

#define JOB_NOPOS      UINT32_MAX /* struct job's hpos: in no heap */
#define JOB_MAX_PARAMS UINT8_MAX  /* struct job's nparams */

enum stop_reason { STOP_NONE = 0, STOP_CANCEL, STOP_TIMEOUT, STOP_SHUTDOWN };
enum job_where { IN_NONE = 0, IN_RUNQ, IN_DELAYED };
enum job_flags {
	JOB_COMMITTED = 1,   /* its insert is on disk */
	JOB_ENDED = 2,       /* its terminal state is on disk */
	JOB_HAS_KEY = 4,     /* data starts with the idempotency key */
	JOB_LOADED = 8,      /* its kind and params were read from the disk */
	JOB_DOOMED = 16,     /* pending, and a job it runs after failed: it is
	                        cancelled once acknowledged (run->error says
	                        why) */
	JOB_RERUN = 32,      /* pending: a Retry's, not a Submit's */
	JOB_HAS_UNIQUE = 64, /* data holds a unique key (after the key) */
};

/* What a job has once it has run, or ended without running. */
struct jobrun {
	atomic_int stop;
	atomic_uint_fast64_t done; /* progress; after a run, its last */
	atomic_uint_fast64_t total;
	int64_t deadline; /* running: CLOCK_MONOTONIC ms, 0 = none */
	int64_t started_at;
	int64_t finished_at;
	int64_t started_ns; /* running: metrics_now_ns() at its start */
	uint8_t *result;
	size_t result_len;
	char *error;
	uint32_t pending_writes;
	uint32_t nparams;
	uint32_t reruns;         /* times a Retry put it back */
	struct job_run *history; /* those earlier runs, oldest first */
	size_t nhistory;
	kindset *ks;                /* running: the set its kind is from */
	const struct kind_def *def; /* running: its kind, in ks */
	struct job_param params[];  /* into the job's data, for the kind */
};

/* A live job: one allocation (see "Memory" at the top). */
struct job {
	uint64_t id;
	uint64_t seq; /* FIFO order within a priority */
	int64_t created_at;
	int64_t not_before; /* queued for a retry: not to start before this */
	struct job *id_next;
	struct job *key_next;
	struct idnode byid; /* in its kind's list index for its state */
	struct wq *wq;      /* the calls parked on it, or NULL */
	struct jobrun *run; /* NULL until it first runs or ends */
	int32_t priority;
	uint32_t hpos; /* in runq or delayed; JOB_NOPOS */
	uint32_t attempts;
	uint32_t max_attempts;
	uint32_t timeout_ms;
	uint32_t input_len; /* the bytes are in the database */
	uint16_t kind;      /* the id of its kind's name: kind_intern() */
	uint8_t nparams;
	uint8_t state;
	uint8_t where;  /* enum job_where */
	uint8_t flags;  /* enum job_flags */
	uint8_t nafter; /* jobs it runs after (their ids end data) */
	uint8_t nleft;  /* of those, the ones it still waits for */
	/* [key NUL] [unique key NUL] then name NUL value NUL, nparams
	 * times; then, when nafter > 0, the ids it runs after (uint64_t,
	 * aligned) */
	char data[];
};

/* From a job's byid node to its id, for its index. */
#define JOB_KEY_OFF                                                            \
	((ptrdiff_t) offsetof(struct job, id) -                                \
	 (ptrdiff_t) offsetof(struct job, byid))

/* A writer op on behalf of a job. */
struct jop {
	struct writer_op op;
	struct job *job;
	sched *s;
};

/*
 * The calls parked on one job (its wq), or, once detached from it, a group
 * of calls that one thread is firing (see "Parked calls" at the top).
 */
struct wq {
	struct waiter *head;
	struct job *job; /* NULL once detached */
	/* detached: what its waiters fire with */
	struct shot *shot;
	const char *msg;
	uint64_t existing_id;
	int status;
	int state;
};

/* A copy of a job for the replies of the calls parked on it: one per
 * event, shared by them all. */
struct shot {
	atomic_uint refs;
	struct jobrec rec;
};

/* One kind: its queued jobs that may start now, how many of it run, and
 * its listed jobs (acknowledged, not ended) by state, ordered by id. */
struct kq {
	struct heap runq; /* best first */
	uint32_t running;
	bool paused; /* Pause: none of its jobs starts */
	struct idtree live[JOB_STATE_MAX + 1];
};

struct sched {
	pthread_mutex_t mtx;
	pthread_cond_t work_cv;  /* workers: the run queue changed */
	pthread_cond_t timer_cv; /* timer: an earlier deadline, or stop */
	pthread_cond_t idle_cv;  /* drain: a running job ended */
	pthread_t timer;
	writer *w;
	struct sched_config cfg;
	char
	    *db_path; /* where the jobs were loaded from: workers read inputs */

	struct job **ids;  /* chained by id_next */
	struct job **keys; /* chained by key_next */
	size_t nbuckets;
	size_t njobs;

	struct kq *kq; /* [kind id]: acknowledged queued jobs */
	size_t nkq;
	size_t nrunq;          /* jobs in every kq's runq */
	kindset *ks;           /* the kinds now */
	struct heap delayed;   /* queued jobs waiting out a backoff */
	struct heap waits;     /* parked waiters with a deadline */
	struct waiter *parked; /* every parked WAIT_END waiter (drain) */
	struct deps deps;      /* jobs waiting for others to end */
	struct ukeys ukeys;    /* live jobs with a unique key */

	uint64_t next_id;
	uint64_t seq;
	uint64_t nqueued; /* queued, pending included: for max_queue */
	struct sched_stats st;
	int64_t next_purge;
	bool draining;
	bool hurry; /* sched_hurry(): the grace period is cut short */
	bool timer_stop;
};

/* A new job's memory, allocated before anything changes. */
struct fresh {
	struct job *j;
	struct jop *p;
	struct wq *q;
	struct dep_edge *edges; /* one per job it waits for, by next */
};

/* Under mtx (scheduler.c, for schedctl.c): */
/* Links j into the tables by id and key (room was made). */
void table_link(sched *s, struct job *j);
/* Parks w on j (see scheduler.c); a Submit's on a pending job cannot
 * fail. */
int park(sched *s, struct job *j, struct waiter *w);
/* An insert's (or a rerun's) done(): the job acknowledged, or gone. On the
 * writer's completer, without mtx. */
void insert_done(struct writer_op *op);
/* The memory of n new jobs of b (new[i]: b[i] makes a job), room in every
 * table for them; NULL if out of memory. fresh_free frees what is left. */
struct fresh *fresh_alloc(sched *s, const struct batch_job *b, size_t n,
                          const bool *new, size_t nnew);
void fresh_free(struct fresh *f, size_t n);
/* Links j's edges (from f) to the n jobs of ids it waits for. */
void add_edges(sched *s, struct job *j, struct fresh *f, const uint64_t *ids,
               size_t n);
/* Why b[0..n) cannot be jobs, or NULL; the first id waited for that left
 * memory meanwhile, or 0. */
const char *batch_refusal(const struct batch_job *b, size_t n);
uint64_t gone_meanwhile(sched *s, const struct batch_job *b, size_t n);

/* A job for a record's params and key, or NULL (out of memory); not under
 * mtx. */
struct job *job_alloc(const struct job_param *params, size_t nparams,
                      const char *key, const char *unique,
                      const uint64_t *after, size_t nafter);
/* j's unique key, or NULL. */
const char *job_unique(const struct job *j);
/* Adds j to the live jobs by unique key if it has one that no other
 * holds; 0, or -1 when out of memory. */
int unique_add(sched *s, struct job *j);
/* The ids j runs after (j->nafter of them). */
const uint64_t *job_after(const struct job *j);
/* Fills j's fields from r, of kind `kind` (kind_intern()). */
void job_fill(struct job *j, const struct jobrec *r, uint32_t kind);
/* j's run part, made at the first call; NULL if out of memory. */
struct jobrun *job_run(struct job *j);
void job_free(struct job *j);
/* The tables by id and key: room for n jobs; j's key bucket fetched ahead;
 * j added. 0, or -1 when out of memory. */
int table_reserve(sched *s, size_t n);
void table_prefetch(const sched *s, const struct job *j);
int table_add(sched *s, struct job *j);
/* The job `id` in memory (pending, live or ending), or NULL. */
struct job *table_find(const sched *s, uint64_t id);
/* The queue of kind `kind`, made if need be; NULL if out of memory. */
struct kq *kq_of(sched *s, uint32_t kind);
/* j into its kind's list index; j into its run queue (or delayed). */
void index_add(sched *s, struct job *j);
void enqueue(sched *s, struct job *j);
/* The earlier runs of rerun job j, from the database, at start. Under
 * mtx; takes r's history. */
void job_set_history(struct job *j, struct jobrec *r);
/* Waiting job d learns that a job it waits for (not live) ended in
 * `state` (0: there is none), why being "job N failed" or the like. */
void settle(sched *s, struct job *d, int state, const char *why);
/* One log line per kind that queued jobs wait for. */
void log_missing(const sched *s);

#endif

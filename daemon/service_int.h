#ifndef JOBD_SERVICE_INT_H
#define JOBD_SERVICE_INT_H

/*
 * service_int: what the files of the service share, not for other
 * modules (they see service.h). service.c holds what the handlers share
 * (lookups, conversions, parked calls), the handlers of Get, Wait and
 * Cancel, and the service's life; service_submit.c those of Submit and
 * SubmitBatch; service_query.c those of List, Stats, Kinds and Ping;
 * service_sched.c those of the scheduling features (Retry, Pause, Resume,
 * Schedules) and the checks of a Submit's `after`; service_db.c the
 * database threads that run the handlers that read when the queue's reads
 * may block (svc_defer).
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobd.pb-c.h"
#include "rpc.h"
#include "service.h"
#include "store.h"

#define GONE "the client's connection closed"
/* The database threads, when the queue's reads may block. */
#define SERVICE_DB_THREADS 4

struct service {
	Jobd__V1__Jobs_Service base; /* first: handlers cast back */
	jobq *q;
	struct service_config cfg;
	int64_t started;
	struct periodic *periodic; /* the Schedules; NULL: none */
	/* the database threads (service_db.c); none when reads never block */
	pthread_mutex_t db_mtx;
	pthread_cond_t db_cv;
	struct rpc_deferred *db_head, **db_tail; /* calls to run, in order */
	pthread_t db_threads[SERVICE_DB_THREADS];
	size_t ndb_threads;
	bool db_started, db_stopping;
};

/* A parked call: the waiter and the call it answers. */
struct parked {
	struct waiter w;
	struct rpc_call *call;
	service *sv;
	atomic_uint refs; /* the answer's, and a release's while it runs */
	/* WAIT_END: answers with the ended job (Wait, Cancel) */
	void (*reply)(struct rpc_call *c, const struct jobrec *job);
	bool stopping; /* Cancel: the job was asked to stop */
};

/* A Job message made from a record, aliasing the record's memory. */
struct pbjob {
	Jobd__V1__Job msg;
	Jobd__V1__Job__ParamsEntry *entries;
	Jobd__V1__Job__ParamsEntry **ptrs;
	Jobd__V1__Run *runs;
	Jobd__V1__Run **run_ptrs;
	char waiting[160];
};

/* Job `id` from memory if it is live, else from the database: JOBD_OK,
 * JOBD_NOT_FOUND, or another error with its message in err (find_job:
 * answered on c). With its history when it was rerun. */
int lookup_job(service *sv, uint64_t id, struct jobrec *out, char *err,
               size_t errlen);
int find_job(service *sv, struct rpc_call *c, uint64_t id, struct jobrec *out);

int pbjob_init(struct pbjob *p, const struct jobrec *r);
void pbjob_fini(struct pbjob *p);
/* Answers c with a reply message whose only field is one Job. */
void reply_job(struct rpc_call *c, ProtobufCMessage *reply,
               Jobd__V1__Job **slot, const struct jobrec *r);
/* The bytes job m takes in a reply (its field's tag and length included). */
size_t job_size(const Jobd__V1__Job *m);
/* src made printable for a message, cut at 60 characters. */
void printable(char *dst, size_t dstlen, const char *src);
/* Idempotency and unique keys: 1 to LIMIT_KEY_BYTES printable ASCII. */
bool key_ok(const char *key);

/* A parked call's state, held by its answer; NULL (c answered) when out
 * of memory. */
struct parked *
parked_new(service *sv, struct rpc_call *c, int until, int64_t deadline,
           void (*fire)(struct waiter *, int, const struct jobrec *, uint64_t,
                        const char *));
void parked_unref(struct parked *p);
extern const struct rpc_park_ops parked_ops;
/* A parked Submit's (or Retry's) answer. */
void submit_fire(struct waiter *w, int status, const struct jobrec *job,
                 uint64_t existing_id, const char *msg);

/*
 * The jobs of `after` (n ids) as a Submit or Retry may run after them:
 * each must exist (NOT_FOUND "after: no job N") and not have failed or
 * been cancelled (FAILED_PRECONDITION "after: job N failed"). Those that
 * succeeded are done with; the others, live, go to wait_for (room for n),
 * *nwait their number. JOBD_OK, or the status with the message in err.
 */
int after_check(service *sv, const uint64_t *after, size_t n,
                uint64_t *wait_for, size_t *nwait, char *err, size_t errlen);
/*
 * With a queue whose reads may block (jobq.h: reads_block), on the thread
 * that dispatched c: c is handed to the database threads, which call its
 * handler again from the start; true: the handler returns now (c handed
 * over, or answered: out of memory). false: the handler goes on where it
 * is (reads never block, or this is a database thread already).
 */
bool svc_defer(service *sv, struct rpc_call *c);
/* Starts n database threads (jobd:db). JOBD_OK, or an error in err. */
int svc_db_start(service *sv, size_t n, char *err, size_t errlen);
/* Runs every call handed over, then joins the threads; a call handed
 * over from then on is answered UNAVAILABLE. Harmless twice, or when
 * none were started. */
void svc_db_stop(service *sv);

/* The handlers of service_submit.c. */
void svc_submit(Jobd__V1__Jobs_Service *base, const Jobd__V1__SubmitRequest *in,
                Jobd__V1__SubmitReply_Closure closure, void *arg);
void svc_submit_batch(Jobd__V1__Jobs_Service *base,
                      const Jobd__V1__SubmitBatchRequest *in,
                      Jobd__V1__SubmitBatchReply_Closure closure, void *arg);
/* The handlers of service_query.c. */
void svc_list(Jobd__V1__Jobs_Service *base, const Jobd__V1__ListRequest *in,
              Jobd__V1__ListReply_Closure closure, void *arg);
void svc_stats(Jobd__V1__Jobs_Service *base, const Jobd__V1__StatsRequest *in,
               Jobd__V1__StatsReply_Closure closure, void *arg);
void svc_kinds(Jobd__V1__Jobs_Service *base, const Jobd__V1__KindsRequest *in,
               Jobd__V1__KindsReply_Closure closure, void *arg);
void svc_ping(Jobd__V1__Jobs_Service *base, const Jobd__V1__PingRequest *in,
              Jobd__V1__PingReply_Closure closure, void *arg);
/* The handlers of service_sched.c. */
void svc_retry(Jobd__V1__Jobs_Service *base, const Jobd__V1__RetryRequest *in,
               Jobd__V1__RetryReply_Closure closure, void *arg);
void svc_pause(Jobd__V1__Jobs_Service *base, const Jobd__V1__PauseRequest *in,
               Jobd__V1__PauseReply_Closure closure, void *arg);
void svc_resume(Jobd__V1__Jobs_Service *base, const Jobd__V1__ResumeRequest *in,
                Jobd__V1__ResumeReply_Closure closure, void *arg);
void svc_schedules(Jobd__V1__Jobs_Service *base,
                   const Jobd__V1__SchedulesRequest *in,
                   Jobd__V1__SchedulesReply_Closure closure, void *arg);
/* How many times a Submit or Retry looks again at its `after` jobs when
 * one ended between the look and the scheduler's (JOBD_ABORTED). */
#define AFTER_TRIES 3

#endif

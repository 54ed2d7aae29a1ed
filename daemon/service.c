/*
 * service: what the handlers of `service Jobs` share, and the handlers
 * of the calls on one job (Get, Wait, Cancel); the service's life and its
 * table of handlers. The other handlers live by concern: service_submit.c
 * (Submit, SubmitBatch), service_query.c (List, Stats, Kinds, Ping),
 * service_sched.c (Retry, Pause, Resume, Schedules); service_db.c holds
 * the database threads. Shared from here (service_int.h): the lookups of
 * a job, the Job message made from a record (pbjob) and the replies built
 * on it, and a parked call's state (`parked`) with its release.
 *
 * Every handler runs on the front (nng's callback threads) and returns
 * without waiting for a job or a disk flush. The handlers reach the jobs
 * only through the queue (jobq.h: q->ops). Quick queries (Get, List,
 * Stats, Kinds, Ping) are answered before the handler returns, from memory
 * for live jobs and from the database (a read, never a write) for finished
 * ones. Submit, Wait and Cancel park a waiter in the queue and return;
 * the waiter's fire() answers later, from the queue's threads (the local
 * queue: the writer's completer or the timer thread). SubmitBatch parks
 * one waiter per job.
 *
 * A handler asks the transport for room before it parks (rpc_park_room:
 * the limits per connection and overall are the front's), after its
 * request's own checks, and for Wait and Cancel after the id is known to
 * be a live job: an id that does not exist is NOT_FOUND whatever the room.
 * A parked call can be taken back (rpc_park): when its client's connection
 * closes, the release calls the queue's release on its waiters, which answer
 * at once (to no one) unless they are firing already. Its state (`parked`
 * here, `batch` in service_submit.c) is counted: the answer holds it, and
 * so does a release while it runs; the last one frees it, so a release
 * never touches freed memory however it races with the waiter's fire().
 *
 * Reads. With a queue whose reads never wait on anything but a file
 * (SQLite: ops->reads_block false), a handler reads where it runs, as
 * above. With one whose reads may wait on a server (PostgreSQL), a handler
 * that needs a read (a Get of a job not live here, List, a Submit with an
 * idempotency key or `after`, Wait or Cancel of a job not live here,
 * Retry, Pause, Resume, Stats, Kinds) hands its call to the service's own
 * database threads (svc_defer, service_db.c) and returns at once; the
 * same handler then runs there from the start. Nothing else changes.
 */
#include "service_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "limit.h"
#include "log.h"
#include "metrics.h"
#include "rpc.h"

/* ---- reads ----------------------------------------------------------- */

/* Job `id` from the queue: live from memory, else from the database. */
int
lookup_job(service *sv, uint64_t id, struct jobrec *out, char *err,
           size_t errlen)
{
	return sv->q->ops->lookup(sv->q, id, out, err, errlen);
}

/* lookup_job; another error than JOBD_NOT_FOUND is answered on c. */
int
find_job(service *sv, struct rpc_call *c, uint64_t id, struct jobrec *out)
{
	char err[256];
	int rv = lookup_job(sv, id, out, err, sizeof(err));
	if (rv != JOBD_OK && rv != JOBD_NOT_FOUND)
		rpc_fail(c, rv, "%s", err);
	return rv;
}

/* ---- conversions ----------------------------------------------------- */

/* Fills p->msg from r (aliasing r's memory: r must outlive it). */
int
pbjob_init(struct pbjob *p, const struct jobrec *r)
{
	jobd__v1__job__init(&p->msg);
	p->entries = NULL;
	p->ptrs = NULL;
	p->runs = NULL;
	p->run_ptrs = NULL;
	if (r->nparams > 0) {
		p->entries = calloc(r->nparams, sizeof(*p->entries));
		p->ptrs = calloc(r->nparams, sizeof(*p->ptrs));
		if (p->entries == NULL || p->ptrs == NULL) {
			pbjob_fini(p);
			return JOBD_RESOURCE_EXHAUSTED;
		}
	}
	if (r->nhistory > 0) {
		p->runs = calloc(r->nhistory, sizeof(*p->runs));
		p->run_ptrs = calloc(r->nhistory, sizeof(*p->run_ptrs));
		if (p->runs == NULL || p->run_ptrs == NULL) {
			pbjob_fini(p);
			return JOBD_RESOURCE_EXHAUSTED;
		}
	}
	for (size_t i = 0; i < r->nhistory; i++) {
		const struct job_run *h = &r->history[i];
		jobd__v1__run__init(&p->runs[i]);
		p->runs[i].state = (Jobd__V1__JobState) h->state;
		p->runs[i].error = h->error ? h->error : "";
		p->runs[i].attempts = h->attempts;
		p->runs[i].started_at_ms = h->started_at;
		p->runs[i].finished_at_ms = h->finished_at;
		p->run_ptrs[i] = &p->runs[i];
	}
	for (size_t i = 0; i < r->nparams; i++) {
		jobd__v1__job__params_entry__init(&p->entries[i]);
		p->entries[i].key = r->params[i].name;
		p->entries[i].value = r->params[i].value;
		p->ptrs[i] = &p->entries[i];
	}
	Jobd__V1__Job *m = &p->msg;
	m->id = r->id;
	m->kind = r->kind ? r->kind : "";
	m->n_params = r->nparams;
	m->params = p->ptrs;
	m->priority = r->priority;
	m->state = (Jobd__V1__JobState) r->state;
	m->attempts = r->attempts;
	m->max_attempts = r->max_attempts;
	m->timeout_ms = r->timeout_ms;
	m->progress_done = r->progress_done;
	m->progress_total = r->progress_total;
	m->result.data = r->result;
	m->result.len = r->result_len;
	m->error = r->error ? r->error : "";
	m->created_at_ms = r->created_at;
	m->started_at_ms = r->started_at;
	m->finished_at_ms = r->finished_at;
	m->idempotency_key = r->idem_key ? r->idem_key : "";
	m->input_size = (uint32_t) r->input_len;
	m->run_at_ms = r->not_before;
	m->n_after = r->nafter;
	m->after = r->after;
	m->reruns = r->reruns;
	m->n_history = r->nhistory;
	m->history = p->run_ptrs;
	m->unique_key = r->unique_key ? r->unique_key : "";
	p->waiting[0] = '\0';
	if (r->waiting == JOB_WAIT_KIND_UNDEFINED)
		snprintf(p->waiting, sizeof(p->waiting),
		         "kind '%.64s' is not defined; the job runs once it is",
		         m->kind);
	else if (r->waiting == JOB_WAIT_KIND_LIMIT)
		snprintf(p->waiting, sizeof(p->waiting),
		         "kind '%.64s' runs as many jobs as its concurrency "
		         "limit allows",
		         m->kind);
	else if (r->waiting == JOB_WAIT_PAUSED)
		snprintf(p->waiting, sizeof(p->waiting),
		         "kind '%.64s' is paused (jobctl resume %.64s)",
		         m->kind, m->kind);
	else if (r->waiting == JOB_WAIT_AFTER)
		snprintf(p->waiting, sizeof(p->waiting), "after job %llu",
		         (unsigned long long) r->waiting_for);
	m->waiting = p->waiting;
	return JOBD_OK;
}

void
pbjob_fini(struct pbjob *p)
{
	free(p->entries);
	free(p->ptrs);
	free(p->runs);
	free(p->run_ptrs);
	p->entries = NULL;
	p->ptrs = NULL;
	p->runs = NULL;
	p->run_ptrs = NULL;
}

/* The bytes job m takes in a reply (its field's tag and length included). */
size_t
job_size(const Jobd__V1__Job *m)
{
	return protobuf_c_message_get_packed_size(&m->base) + 16;
}

/* Answers c: its reply would be `size` bytes or more. */
static void
reply_too_large(struct rpc_call *c, size_t size)
{
	rpc_fail(c, JOBD_RESOURCE_EXHAUSTED,
	         "the reply would be more than %zu bytes, past the limit "
	         "reply_bytes of %u; ask for fewer",
	         size - 1, (unsigned) LIMIT_REPLY_BYTES);
}

/* Answers c with a reply message whose only field is one Job. */
void
reply_job(struct rpc_call *c, ProtobufCMessage *reply, Jobd__V1__Job **slot,
          const struct jobrec *r)
{
	struct pbjob pj;
	if (pbjob_init(&pj, r) != JOBD_OK) {
		rpc_fail(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	*slot = &pj.msg;
	rpc_closure(reply, c);
	pbjob_fini(&pj);
}

static void
reply_wait(struct rpc_call *c, const struct jobrec *r)
{
	Jobd__V1__WaitReply rep = JOBD__V1__WAIT_REPLY__INIT;
	reply_job(c, &rep.base, &rep.job, r);
}

static void
reply_cancel(struct rpc_call *c, const struct jobrec *r)
{
	Jobd__V1__CancelReply rep = JOBD__V1__CANCEL_REPLY__INIT;
	if (r->state != JOB_CANCELLED) {
		rpc_fail(c, JOBD_FAILED_PRECONDITION,
		         "job %llu already %s; it cannot be cancelled",
		         (unsigned long long) r->id, job_state_name(r->state));
		return;
	}
	reply_job(c, &rep.base, &rep.job, r);
}

void
printable(char *dst, size_t dstlen, const char *src)
{
	size_t i = 0;
	for (; *src && i + 4 < dstlen && i < 60; src++)
		dst[i++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	if (*src)
		dst[i++] = '.', dst[i++] = '.', dst[i++] = '.';
	dst[i] = '\0';
}

/* A parked call's state, held by its answer; NULL (c answered) when out
 * of memory. */
struct parked *
parked_new(service *sv, struct rpc_call *c, int until, int64_t deadline,
           void (*fire)(struct waiter *, int, const struct jobrec *, uint64_t,
                        const char *))
{
	struct parked *p;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		rpc_fail(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	p->w.until = until;
	p->w.deadline = deadline;
	p->w.fire = fire;
	p->call = c;
	p->sv = sv;
	atomic_init(&p->refs, 1);
	return p;
}

void
parked_unref(struct parked *p)
{
	if (atomic_fetch_sub(&p->refs, 1) == 1)
		free(p);
}

static void
parked_hold(void *arg)
{
	atomic_fetch_add(&((struct parked *) arg)->refs, 1);
}

/* The client has gone: the waiter fires now, unless it is firing. */
static void
parked_release(void *arg)
{
	struct parked *p = arg;
	p->sv->q->ops->release(p->sv->q, &p->w, JOBD_CANCELLED, GONE);
	parked_unref(p);
}

const struct rpc_park_ops parked_ops = {parked_hold, parked_release};

/* ---- Get ------------------------------------------------------------- */

/* Whether every job of ids[0..n) is live here: a Get the queue answers
 * from memory. Only asked when reads may block. */
static bool
all_live(service *sv, const uint64_t *ids, size_t n)
{
	jobq *q = sv->q;

	if (!q->ops->reads_block)
		return true;
	for (size_t i = 0; i < n; i++) {
		struct jobrec r = {0};
		int rv = q->ops->get_live(q, ids[i], &r);
		jobrec_clear(&r);
		if (rv != JOBD_OK)
			return false;
	}
	return true;
}

static void
svc_get(Jobd__V1__Jobs_Service *base, const Jobd__V1__GetRequest *in,
        Jobd__V1__GetReply_Closure closure, void *arg)
{
	service *sv = (service *) base;
	struct rpc_call *c = arg;
	Jobd__V1__GetReply rep = JOBD__V1__GET_REPLY__INIT;
	struct jobrec *recs;
	struct pbjob *pj;
	Jobd__V1__Job **jobs;
	uint64_t *missing;
	size_t n = in->n_ids, nj = 0, nm = 0, i, size = 0;
	int rv = JOBD_OK;

	(void) closure;
	if (!all_live(sv, in->ids, n) && svc_defer(sv, c))
		return;
	/* n is at most LIMIT_GET_IDS: rpc's wire check; the reply's size is
	 * counted as the jobs are read, which stop past LIMIT_REPLY_BYTES */
	recs = calloc(n + 1, sizeof(*recs));
	pj = calloc(n + 1, sizeof(*pj));
	jobs = calloc(n + 1, sizeof(*jobs));
	missing = calloc(n + 1, sizeof(*missing));
	if (recs == NULL || pj == NULL || jobs == NULL || missing == NULL) {
		rpc_fail(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (i = 0; i < n && rv == JOBD_OK; i++) {
		rv = find_job(sv, c, in->ids[i], &recs[nj]);
		if (rv == JOBD_NOT_FOUND) {
			missing[nm++] = in->ids[i];
			rv = JOBD_OK;
			continue;
		}
		if (rv == JOBD_OK &&
		    (rv = pbjob_init(&pj[nj], &recs[nj])) != JOBD_OK) {
			jobrec_clear(&recs[nj]);
			rpc_fail(c, rv, "out of memory");
			break;
		}
		if (rv == JOBD_OK) {
			jobs[nj] = &pj[nj].msg;
			size += job_size(jobs[nj]);
			nj++;
			if (size > LIMIT_REPLY_BYTES) {
				reply_too_large(c, size);
				rv = JOBD_RESOURCE_EXHAUSTED;
			}
		}
	}
	if (rv == JOBD_OK) {
		rep.n_jobs = nj;
		rep.jobs = jobs;
		rep.n_missing = nm;
		rep.missing = missing;
		rpc_closure(&rep.base, c);
	}
out:
	for (i = 0; i < nj; i++) {
		pbjob_fini(&pj[i]);
		jobrec_clear(&recs[i]);
	}
	free(recs);
	free(pj);
	free(jobs);
	free(missing);
}

/* ---- Wait and Cancel -------------------------------------------------- */

/* Answers a parked Wait or Cancel: with the ended job, or with why not. */
static void
end_fire(struct waiter *w, int status, const struct jobrec *job,
         uint64_t existing_id, const char *msg)
{
	struct parked *p = (struct parked *) w;
	(void) existing_id;
	rpc_unpark(p->call);
	if (status == JOBD_OK)
		p->reply(p->call, job);
	else if (status == JOBD_DEADLINE_EXCEEDED)
		rpc_fail(p->call, status, "deadline exceeded: job %llu %s %s",
		         (unsigned long long) job->id,
		         p->stopping ? "was asked to stop but is still"
		                     : "is still",
		         job_state_name(job->state));
	else
		rpc_fail(p->call, status, "%s", msg);
	parked_unref(p);
}

/*
 * Parks c on job `id` until it ends (the queue's wait, or its cancel when
 * `cancel`, with room of `kind`), then answers with `reply`. A job that is
 * not live has ended already, or never was: the database answers,
 * whatever the room.
 */
static void
until_end(service *sv, struct rpc_call *c, uint64_t id, int64_t deadline,
          int kind, bool cancel,
          void (*reply)(struct rpc_call *, const struct jobrec *),
          const char *verb)
{
	jobq *q = sv->q;
	struct jobrec r = {0};
	struct parked *p;
	bool here = false; /* known live here, without asking the database */
	int rv;

	/* a job not live here: the queue may have to ask the database */
	if (q->ops->reads_block && !rpc_is_deferred(c)) {
		if (!all_live(sv, &id, 1) && svc_defer(sv, c))
			return;
		here = true;
	}
	if (rpc_park_room(c, kind) != JOBD_OK) {
		int st = JOBD_OK;
		bool live = here || q->ops->is_live(q, id, &st);
		if (st != JOBD_OK) {
			rpc_fail(c, st,
			         "cannot %s job %llu: cannot tell "
			         "whether it has ended",
			         verb, (unsigned long long) id);
			return;
		}
		if (live) {
			rpc_closure(NULL, c); /* RESOURCE_EXHAUSTED */
			return;
		}
		goto not_live;
	}
	if ((p = parked_new(sv, c, WAIT_END, deadline, end_fire)) == NULL)
		return;
	p->reply = reply;
	p->stopping = cancel;
	rpc_park(c, &parked_ops, p);
	if ((rv = cancel ? q->ops->cancel(q, id, &p->w)
	                 : q->ops->wait(q, id, &p->w)) == JOBD_OK)
		return; /* parked; p may already have fired */
	rpc_unpark(c);
	parked_unref(p);
	if (rv != JOBD_NOT_FOUND) {
		rpc_fail(c, rv, "cannot %s job %llu: %s", verb,
		         (unsigned long long) id,
		         rv == JOBD_UNAVAILABLE ? "jobd is shutting down"
		                                : "out of memory");
		return;
	}
not_live:
	rv = find_job(sv, c, id, &r);
	if (rv == JOBD_OK)
		reply(c, &r);
	else if (rv == JOBD_NOT_FOUND)
		rpc_fail(c, JOBD_NOT_FOUND, "job %llu not found",
		         (unsigned long long) id);
	jobrec_clear(&r);
}

static void
svc_wait(Jobd__V1__Jobs_Service *base, const Jobd__V1__WaitRequest *in,
         Jobd__V1__WaitReply_Closure closure, void *arg)
{
	struct rpc_call *c = arg;
	(void) closure;
	until_end((service *) base, c, in->id, c->deadline, RPC_PARK_WAIT,
	          false, reply_wait, "wait for");
}

static void
svc_cancel(Jobd__V1__Jobs_Service *base, const Jobd__V1__CancelRequest *in,
           Jobd__V1__CancelReply_Closure closure, void *arg)
{
	struct rpc_call *c = arg;
	(void) closure;
	/* No deadline (0) waits as long as the job takes to stop, as for
	 * Wait: a running job ends at its next progress report, a program
	 * at SIGTERM or, after its grace, SIGKILL. */
	until_end((service *) base, c, in->id, c->deadline, RPC_PARK_CALL, true,
	          reply_cancel, "cancel");
}

/* ---- life ------------------------------------------------------------ */

static const Jobd__V1__Jobs_Service handlers = JOBD__V1__JOBS__INIT(svc_);

int
service_create(service **svp, jobq *q, const struct service_config *cfg,
               char *err, size_t errlen)
{
	service *sv = calloc(1, sizeof(*sv));
	int rv;

	*svp = NULL;
	if (sv == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	sv->base = handlers;
	sv->q = q;
	sv->cfg = *cfg;
	sv->started = sched_mono_ms();
	if (q->ops->reads_block &&
	    (rv = svc_db_start(sv, SERVICE_DB_THREADS, err, errlen)) !=
	        JOBD_OK) {
		free(sv);
		return rv;
	}
	struct metrics_source ms = {q, cfg->workers};
	metrics_attach(&ms); /* what /metrics reads besides its counters */
	*svp = sv;
	return JOBD_OK;
}

ProtobufCService *
service_base(service *sv)
{
	return &sv->base.base;
}

void
service_drain(service *sv)
{
	if (sv != NULL)
		svc_db_stop(sv);
}

void
service_destroy(service *sv)
{
	if (sv == NULL)
		return;
	svc_db_stop(sv);
	if (sv->db_started) {
		pthread_cond_destroy(&sv->db_cv);
		pthread_mutex_destroy(&sv->db_mtx);
	}
	metrics_detach(sv->q);
	free(sv);
}

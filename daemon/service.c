/*
 * service: one handler per method of `service Jobs`.
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
 * at once (to no one) unless they are firing already. Its state (`parked`,
 * `batch`) is counted: the answer holds it, and so does a release while it
 * runs; the last one frees it, so a release never touches freed memory
 * however it races with the waiter's fire().
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
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit.h"
#include "log.h"
#include "metrics.h"
#include "rpc.h"

#define DEFAULT_LIST 100
_Static_assert(LIMIT_AFTER == JOB_MAX_AFTER, "one bound on after");
/* The furthest ahead a job may be scheduled: 10 years. */
#define MAX_AHEAD_MS (3653LL * 24 * 3600 * 1000)

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
static size_t
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
reply_submit(struct rpc_call *c, const struct jobrec *r, bool existing)
{
	Jobd__V1__SubmitReply rep = JOBD__V1__SUBMIT_REPLY__INIT;
	rep.existing = existing;
	reply_job(c, &rep.base, &rep.job, r);
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

/* ---- Submit ---------------------------------------------------------- */

void
submit_fire(struct waiter *w, int status, const struct jobrec *job,
            uint64_t existing_id, const char *msg)
{
	struct parked *p = (struct parked *) w;
	struct rpc_call *c = p->call;
	struct jobrec r = {0};

	rpc_unpark(c);
	if (status == JOBD_OK) {
		reply_submit(c, job, existing_id != 0);
	} else if (status == JOBD_ALREADY_EXISTS) {
		/* the key was taken by a job that ended in between */
		int rv = find_job(p->sv, c, existing_id, &r);
		if (rv == JOBD_OK)
			reply_submit(c, &r, true);
		else if (rv == JOBD_NOT_FOUND)
			rpc_fail(
			    c, JOBD_ABORTED,
			    "idempotency key in use by job %llu; try again",
			    (unsigned long long) existing_id);
		jobrec_clear(&r);
	} else if (status == JOBD_CANCELLED) {
		rpc_fail(c, status, "%s", msg); /* released: the job goes on */
	} else {
		rpc_fail(c, status, "job not accepted: %s", msg);
	}
	parked_unref(p);
}

/* Copies the request's parameters into rec. */
static int
copy_params(struct jobrec *rec, const Jobd__V1__SubmitRequest *in)
{
	if (in->n_params == 0)
		return JOBD_OK;
	rec->params = calloc(in->n_params, sizeof(*rec->params));
	if (rec->params == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < in->n_params; i++) {
		rec->params[i].name = strdup(in->params[i]->key);
		rec->params[i].value = strdup(in->params[i]->value);
		rec->nparams++;
		if (rec->params[i].name == NULL || rec->params[i].value == NULL)
			return JOBD_RESOURCE_EXHAUSTED;
	}
	return JOBD_OK;
}

bool
key_ok(const char *key)
{
	size_t n = strlen(key);
	if (n > LIMIT_KEY_BYTES)
		return false;
	for (; *key; key++)
		if (*key < 0x21 || *key > 0x7e)
			return false;
	return true;
}

/* The kind in ks of a valid SubmitRequest; NULL with the reason in err. */
const struct kind_def *
check_submit(const kindset *ks, const Jobd__V1__SubmitRequest *in, char *err,
             size_t errlen)
{
	const struct kind_def *k;
	struct job_param params[LIMIT_PARAMS];
	char name[80];

	if ((k = kindset_find(ks, in->kind)) == NULL) {
		printable(name, sizeof(name), in->kind);
		snprintf(err, errlen,
		         "unknown kind '%s' (jobctl kinds lists them)", name);
		return NULL;
	}
	/* rpc's wire check bounds it already; params[] depends on it */
	if (in->n_params > LIMIT_PARAMS) {
		limit_msg(err, errlen, LIM_PARAMS, "", in->n_params);
		return NULL;
	}
	for (size_t i = 0; i < in->n_params; i++) {
		params[i].name = in->params[i]->key;
		params[i].value = in->params[i]->value;
	}
	if (kind_validate(k->k, params, in->n_params, in->input.len, err,
	                  errlen) != JOBD_OK)
		return NULL;
	if (in->max_attempts > LIMIT_ATTEMPTS) {
		snprintf(err, errlen, "max_attempts must be at most %d, not %u",
		         LIMIT_ATTEMPTS, in->max_attempts);
		return NULL;
	}
	if (in->idempotency_key[0] != '\0' && !key_ok(in->idempotency_key)) {
		snprintf(err, errlen,
		         "idempotency key must be 1 to %d printable ASCII "
		         "characters without spaces",
		         LIMIT_KEY_BYTES);
		return NULL;
	}
	if (in->unique_key[0] != '\0' && !key_ok(in->unique_key)) {
		snprintf(err, errlen,
		         "unique key must be 1 to %d printable ASCII "
		         "characters without spaces",
		         LIMIT_KEY_BYTES);
		return NULL;
	}
	if (in->run_at_ms != 0 && in->delay_ms != 0) {
		snprintf(err, errlen, "give run_at_ms or delay_ms, not both");
		return NULL;
	}
	if (in->run_at_ms < 0) {
		snprintf(err, errlen,
		         "run_at_ms must be a Unix time in milliseconds, not "
		         "%lld",
		         (long long) in->run_at_ms);
		return NULL;
	}
	if (in->run_at_ms > sched_wall_ms() + MAX_AHEAD_MS ||
	    in->delay_ms > (uint64_t) MAX_AHEAD_MS) {
		snprintf(err, errlen,
		         "a job may be scheduled at most 10 years ahead");
		return NULL;
	}
	if (in->n_after > JOB_MAX_AFTER) {
		snprintf(err, errlen,
		         "a job runs after at most %d jobs, not %zu",
		         JOB_MAX_AFTER, in->n_after);
		return NULL;
	}
	for (size_t i = 0; i < in->n_after; i++)
		if (in->after[i] == 0 || in->after[i] > INT64_MAX) {
			snprintf(err, errlen, "after: no job %llu",
			         (unsigned long long) in->after[i]);
			return NULL;
		}
	return k;
}

/*
 * The job that holds `key`, with its current state: a Submit whose key
 * was used by a job that already left memory. JOBD_OK (*out filled),
 * JOBD_NOT_FOUND, or a read error with its message in err.
 */
static int
find_key(service *sv, const char *key, struct jobrec *out, char *err,
         size_t errlen)
{
	return sv->q->ops->find_key(sv->q, key, out, err, errlen);
}

/* rec from a checked request, kind k. JOBD_RESOURCE_EXHAUSTED when out of
 * memory, rec cleared. */
int
make_rec(struct jobrec *rec, const Jobd__V1__SubmitRequest *in,
         const struct kind_def *k)
{
	memset(rec, 0, sizeof(*rec));
	rec->priority = in->priority;
	rec->timeout_ms = in->timeout_ms;
	rec->max_attempts = in->max_attempts ? in->max_attempts : 1;
	/* a time now or past: runs now, as if none */
	rec->not_before = in->delay_ms > 0
	                      ? sched_wall_ms() + (int64_t) in->delay_ms
	                      : in->run_at_ms;
	if (rec->not_before != 0 && rec->not_before <= sched_wall_ms())
		rec->not_before = 0;
	if (in->n_after > 0) {
		/* each once, in the order given */
		if ((rec->after = malloc(in->n_after * sizeof(uint64_t))) ==
		    NULL) {
			jobrec_clear(rec);
			return JOBD_RESOURCE_EXHAUSTED;
		}
		for (size_t i = 0; i < in->n_after; i++) {
			size_t k2 = 0;
			while (k2 < rec->nafter &&
			       rec->after[k2] != in->after[i])
				k2++;
			if (k2 == rec->nafter)
				rec->after[rec->nafter++] = in->after[i];
		}
	}
	if ((rec->kind = strdup(k->k->name)) == NULL ||
	    copy_params(rec, in) != JOBD_OK ||
	    (in->idempotency_key[0] &&
	     (rec->idem_key = strdup(in->idempotency_key)) == NULL) ||
	    (in->unique_key[0] &&
	     (rec->unique_key = strdup(in->unique_key)) == NULL) ||
	    (in->input.len > 0 &&
	     (rec->input = malloc(in->input.len)) == NULL)) {
		jobrec_clear(rec);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	if (in->input.len > 0) {
		memcpy(rec->input, in->input.data, in->input.len);
		rec->input_len = in->input.len;
	}
	return JOBD_OK;
}

/* Submit of a checked request of kind k. */
static void
submit_one(service *sv, struct rpc_call *c, const Jobd__V1__SubmitRequest *in,
           const struct kind_def *k)
{
	struct jobrec rec = {0};
	uint64_t wait[JOB_MAX_AFTER];
	char err[300];
	struct parked *p;
	int rv;

	if (in->idempotency_key[0] != '\0') {
		rv = find_key(sv, in->idempotency_key, &rec, err, sizeof(err));
		if (rv == JOBD_OK)
			reply_submit(c, &rec, true);
		else if (rv != JOBD_NOT_FOUND)
			rpc_fail(c, rv, "%s", err);
		jobrec_clear(&rec);
		if (rv != JOBD_NOT_FOUND)
			return;
	}
	if (rpc_park_room(c, RPC_PARK_CALL) != JOBD_OK) {
		rpc_closure(NULL, c);
		return;
	}
	if (make_rec(&rec, in, k) != JOBD_OK) {
		rpc_fail(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	if ((p = parked_new(sv, c, WAIT_COMMIT, 0, submit_fire)) == NULL) {
		jobrec_clear(&rec);
		return;
	}
	rpc_park(c, &parked_ops, p);
	struct batch_job b = {&rec, k, &p->w, wait, 0};
	for (int t = 0; t < AFTER_TRIES; t++) {
		if ((rv = after_check(sv, rec.after, rec.nafter, wait,
		                      &b.nwait_for, err, sizeof(err))) !=
		        JOBD_OK ||
		    (rv = sv->q->ops->submit_batch(
		         sv->q, &b, 1, err, sizeof(err))) != JOBD_ABORTED)
			break;
	}
	if (rv != JOBD_OK) {
		rpc_unpark(c);
		jobrec_clear(&rec);
		parked_unref(p);
		rpc_fail(c, rv, "%s", err);
	}
	/* else p belongs to the scheduler, and may already have fired */
}

static void
svc_submit(Jobd__V1__Jobs_Service *base, const Jobd__V1__SubmitRequest *in,
           Jobd__V1__SubmitReply_Closure closure, void *arg)
{
	service *sv = (service *) base;
	struct rpc_call *c = arg;
	kindset *ks;
	const struct kind_def *k;
	char err[300];

	(void) closure;
	/* a key is looked up, and `after`'s jobs are read */
	if ((in->idempotency_key[0] != '\0' || in->n_after > 0) &&
	    svc_defer(sv, c))
		return;
	ks = sv->q->ops->kinds(sv->q);
	/* the kind's id is all the job keeps: ks may go once it is made */
	if ((k = check_submit(ks, in, err, sizeof(err))) == NULL)
		rpc_fail(c, JOBD_INVALID_ARGUMENT, "%s", err);
	else
		submit_one(sv, c, in, k);
	kindset_unref(ks);
}

/* ---- SubmitBatch ----------------------------------------------------- */

/*
 * A batch is answered once every one of its jobs is: each job has a waiter
 * of its own (`bjob`), whose fire() records the job and counts down `left`;
 * the last one replies. The fires come from the submitting thread (a key
 * of a committed job) and the queue's threads (the group's commit).
 */
struct bjob {
	struct waiter w; /* first: fire() casts back */
	struct batch *b;
	struct jobrec rec; /* the job to answer with */
	bool existing;
};

struct batch {
	struct rpc_call *call;
	service *sv;
	atomic_size_t left;
	atomic_uint refs;    /* the answer's, and a release's while it runs */
	pthread_mutex_t mtx; /* guards code and msg */
	int code;            /* the first failure, JOBD_OK if none */
	char msg[300];
	size_t n;
	struct bjob jobs[];
};

static void
batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		jobrec_clear(&b->jobs[i].rec);
	pthread_mutex_destroy(&b->mtx);
	free(b);
}

static void
batch_unref(struct batch *b)
{
	if (atomic_fetch_sub(&b->refs, 1) == 1)
		batch_free(b);
}

static void
batch_hold(void *arg)
{
	atomic_fetch_add(&((struct batch *) arg)->refs, 1);
}

/* The client has gone: every waiter of the batch fires now, unless it has
 * fired or is firing; the last one answers. */
static void
batch_release(void *arg)
{
	struct batch *b = arg;
	for (size_t i = 0; i < b->n; i++)
		if (b->jobs[i].w.fire != NULL)
			b->sv->q->ops->release(b->sv->q, &b->jobs[i].w,
			                       JOBD_CANCELLED, GONE);
	batch_unref(b);
}

static const struct rpc_park_ops batch_ops = {batch_hold, batch_release};

static void batch_failed(struct batch *b, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
batch_failed(struct batch *b, int code, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&b->mtx);
	if (b->code == JOBD_OK) {
		b->code = code;
		va_start(ap, fmt);
		vsnprintf(b->msg, sizeof(b->msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&b->mtx);
}

static void
batch_reply(struct batch *b)
{
	Jobd__V1__SubmitBatchReply rep = JOBD__V1__SUBMIT_BATCH_REPLY__INIT;
	Jobd__V1__SubmitReply *subs = NULL, **ptrs = NULL;
	struct pbjob *pj = NULL;
	size_t i, made = 0;

	rpc_unpark(b->call);
	if (b->code != JOBD_OK) {
		rpc_fail(b->call, b->code, "%s", b->msg);
		goto out;
	}
	subs = calloc(b->n, sizeof(*subs));
	ptrs = calloc(b->n, sizeof(*ptrs));
	pj = calloc(b->n, sizeof(*pj));
	if (subs == NULL || ptrs == NULL || pj == NULL) {
		rpc_fail(b->call, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (; made < b->n; made++) {
		if (pbjob_init(&pj[made], &b->jobs[made].rec) != JOBD_OK) {
			rpc_fail(b->call, JOBD_RESOURCE_EXHAUSTED,
			         "out of memory");
			goto out;
		}
		/* results stay out of the reply, as in List's */
		pj[made].msg.result.data = NULL;
		pj[made].msg.result.len = 0;
		jobd__v1__submit_reply__init(&subs[made]);
		subs[made].job = &pj[made].msg;
		subs[made].existing = b->jobs[made].existing;
		ptrs[made] = &subs[made];
	}
	rep.n_jobs = b->n;
	rep.jobs = ptrs;
	rpc_closure(&rep.base, b->call);
out:
	for (i = 0; i < made; i++)
		pbjob_fini(&pj[i]);
	free(pj);
	free(ptrs);
	free(subs);
	batch_unref(b);
}

/* One job of the batch is answered; the last one answers the call. */
static void
batch_count(struct batch *b)
{
	if (atomic_fetch_sub(&b->left, 1) == 1)
		batch_reply(b);
}

static void
batch_fire(struct waiter *w, int status, const struct jobrec *job,
           uint64_t existing_id, const char *msg)
{
	struct bjob *bj = (struct bjob *) w;
	struct batch *b = bj->b;
	size_t i = (size_t) (bj - b->jobs);
	char err[256];
	int rv;

	if (status == JOBD_OK) {
		if (jobrec_copy(&bj->rec, job) != JOBD_OK)
			batch_failed(b, JOBD_RESOURCE_EXHAUSTED,
			             "out of memory");
		bj->existing = existing_id != 0;
	} else if (status == JOBD_ALREADY_EXISTS) {
		/* the key was taken by a job that ended in between */
		rv = lookup_job(b->sv, existing_id, &bj->rec, err, sizeof(err));
		bj->existing = true;
		if (rv == JOBD_NOT_FOUND)
			batch_failed(b, JOBD_ABORTED,
			             "jobs[%zu]: idempotency key in use by job "
			             "%llu; try again",
			             i, (unsigned long long) existing_id);
		else if (rv != JOBD_OK)
			batch_failed(b, rv, "%s", err);
	} else {
		batch_failed(b, status, "jobs not accepted: %s", msg);
	}
	batch_count(b);
}

/* after_check for each job of a batch, its wait_for in waits (room for
 * every job's after ids); the message names the job. */
static int
batch_after(service *sv, struct batch_job *bs, size_t n, uint64_t *waits,
            char *err, size_t errlen)
{
	char why[256];

	for (size_t i = 0; i < n; i++) {
		int rv;
		bs[i].wait_for = waits;
		rv = after_check(sv, bs[i].rec->after, bs[i].rec->nafter, waits,
		                 &bs[i].nwait_for, why, sizeof(why));
		if (rv != JOBD_OK) {
			snprintf(err, errlen, "jobs[%zu]: %s", i, why);
			return rv;
		}
		waits += bs[i].rec->nafter;
	}
	return JOBD_OK;
}

static void
svc_submit_batch(Jobd__V1__Jobs_Service *base,
                 const Jobd__V1__SubmitBatchRequest *in,
                 Jobd__V1__SubmitBatchReply_Closure closure, void *arg)
{
	service *sv = (service *) base;
	struct rpc_call *c = arg;
	struct batch_job *bs = NULL;
	struct batch *b = NULL;
	struct jobrec *recs = NULL;
	uint64_t *waits = NULL;
	size_t n = in->n_jobs, nb = 0, i, nafter = 0;
	kindset *ks = NULL;
	char err[300];
	int rv;

	(void) closure;
	for (i = 0; i < n; i++)
		if ((in->jobs[i]->idempotency_key[0] != '\0' ||
		     in->jobs[i]->n_after > 0) &&
		    svc_defer(sv, c))
			return;
	/* more than LIMIT_BATCH_JOBS: refused by rpc's wire check */
	if (n == 0 || n > LIMIT_BATCH_JOBS) {
		rpc_fail(c, JOBD_INVALID_ARGUMENT,
		         "a batch holds 1 to %d jobs, not %zu",
		         LIMIT_BATCH_JOBS, n);
		return;
	}
	for (i = 0; i < n; i++)
		nafter += in->jobs[i]->n_after;
	b = calloc(1, sizeof(*b) + n * sizeof(b->jobs[0]));
	bs = calloc(n, sizeof(*bs));
	recs = calloc(n, sizeof(*recs));
	waits = calloc(nafter + 1, sizeof(*waits));
	if (b == NULL || bs == NULL || recs == NULL || waits == NULL) {
		free(b);
		free(bs);
		free(recs);
		free(waits);
		rpc_fail(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	ks = sv->q->ops->kinds(sv->q);
	b->call = c;
	b->sv = sv;
	b->n = n;
	atomic_init(&b->refs, 1);
	pthread_mutex_init(&b->mtx, NULL);
	for (i = 0; i < n; i++) {
		const Jobd__V1__SubmitRequest *r = in->jobs[i];
		struct bjob *bj = &b->jobs[i];
		const struct kind_def *k =
		    check_submit(ks, r, err, sizeof(err));
		bj->b = b;
		if (k == NULL) {
			rpc_fail(c, JOBD_INVALID_ARGUMENT, "jobs[%zu]: %s", i,
			         err);
			goto fail;
		}
		if (r->idempotency_key[0] != '\0') {
			rv = find_key(sv, r->idempotency_key, &bj->rec, err,
			              sizeof(err));
			if (rv == JOBD_OK) {
				bj->existing = true;
				continue;
			}
			if (rv != JOBD_NOT_FOUND) {
				rpc_fail(c, rv, "%s", err);
				goto fail;
			}
		}
		if (make_rec(&recs[nb], r, k) != JOBD_OK) {
			rpc_fail(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
			goto fail;
		}
		bj->w.until = WAIT_COMMIT;
		bj->w.fire = batch_fire;
		bs[nb].rec = &recs[nb];
		bs[nb].kind = k;
		bs[nb].w = &bj->w;
		nb++;
	}
	if (nb == 0) {
		/* every job was found by its key */
		batch_reply(b);
		goto out;
	}
	if (rpc_park_room(c, RPC_PARK_CALL) != JOBD_OK) {
		rpc_closure(NULL, c);
		goto fail;
	}
	/* one count for each parked job, and one for this call, so that the
	 * reply cannot go out before the handler is done with b */
	atomic_store(&b->left, nb + 1);
	rpc_park(c, &batch_ops, b);
	for (int t = 0; t < AFTER_TRIES; t++) {
		if ((rv = batch_after(sv, bs, nb, waits, err, sizeof(err))) !=
		        JOBD_OK ||
		    (rv = sv->q->ops->submit_batch(
		         sv->q, bs, nb, err, sizeof(err))) != JOBD_ABORTED)
			break;
	}
	if (rv != JOBD_OK) {
		rpc_unpark(c);
		rpc_fail(c, rv, "%s", err);
		goto fail;
	}
	batch_count(b);
	goto out;
fail:
	batch_free(b);
out:
	for (i = 0; i < nb; i++)
		jobrec_clear(&recs[i]);
	free(recs);
	free(bs);
	free(waits);
	kindset_unref(ks);
}

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

/* ---- List ------------------------------------------------------------ */

static void
free_recs(struct jobrec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jobrec_clear(&v[i]);
	free(v);
}

/*
 * The queue merges live and ended jobs (jobq.h: list). When it could not
 * look below some id (`floor`: the local queue's two sources each gave a
 * full page), the page stops there and the cursor resumes from it.
 */
static void
svc_list(Jobd__V1__Jobs_Service *base, const Jobd__V1__ListRequest *in,
         Jobd__V1__ListReply_Closure closure, void *arg)
{
	service *sv = (service *) base;
	struct rpc_call *c = arg;
	Jobd__V1__ListReply rep = JOBD__V1__LIST_REPLY__INIT;
	struct store_filter f = {0};
	struct jobrec *all = NULL;
	size_t nall = 0, i, built = 0, size = 0;
	struct pbjob *pj = NULL;
	Jobd__V1__Job **jobs = NULL;
	uint64_t floor = 0;
	bool cut = false;
	char err[300];
	int rv;

	(void) closure;
	if (svc_defer(sv, c))
		return;
	if ((int) in->state < 0 || (int) in->state > JOB_STATE_MAX) {
		rpc_fail(c, JOBD_INVALID_ARGUMENT, "unknown job state %d",
		         (int) in->state);
		return;
	}
	if (in->limit > LIMIT_LIST_LIMIT) {
		rpc_fail(c, JOBD_INVALID_ARGUMENT,
		         "limit must be at most %d, not %u", LIMIT_LIST_LIMIT,
		         in->limit);
		return;
	}
	/* the kind's length: rpc's wire check (LIMIT_KIND_BYTES) */
	f.state = (int) in->state;
	f.kind = in->kind[0] ? in->kind : NULL;
	f.before = in->cursor;
	f.limit = in->limit ? in->limit : DEFAULT_LIST;

	if ((rv = sv->q->ops->list(sv->q, &f, &all, &nall, &floor, err,
	                           sizeof(err))) != JOBD_OK) {
		rpc_fail(c, rv, "%s", err);
		goto out;
	}
	pj = calloc(nall + 1, sizeof(*pj));
	jobs = calloc(nall + 1, sizeof(*jobs));
	if (pj == NULL || jobs == NULL) {
		rpc_fail(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (; built < nall; built++) {
		free(all[built].result);
		all[built].result = NULL;
		all[built].result_len = 0;
		if (pbjob_init(&pj[built], &all[built]) != JOBD_OK) {
			rpc_fail(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
			goto out;
		}
		jobs[built] = &pj[built].msg;
		/* a page ends before LIMIT_REPLY_BYTES (with one job at
		 * least); the next one resumes after its last job */
		size += job_size(jobs[built]);
		if (built > 0 && size > LIMIT_REPLY_BYTES) {
			pbjob_fini(&pj[built]);
			cut = true;
			break;
		}
	}
	rep.n_jobs = built;
	rep.jobs = jobs;
	rep.next_cursor = cut || nall == f.limit ? all[built - 1].id : floor;
	rpc_closure(&rep.base, c);
out:
	for (i = 0; pj != NULL && i < built; i++)
		pbjob_fini(&pj[i]);
	free(pj);
	free(jobs);
	free_recs(all, nall);
}

/* ---- Stats, Kinds, Ping ---------------------------------------------- */

static void
svc_stats(Jobd__V1__Jobs_Service *base, const Jobd__V1__StatsRequest *in,
          Jobd__V1__StatsReply_Closure closure, void *arg)
{
	service *sv = (service *) base;
	Jobd__V1__StatsReply rep = JOBD__V1__STATS_REPLY__INIT;
	struct rpc_front_stats fs;
	struct sched_stats st;
	uint32_t recent[METRICS_RECENT_STEPS];
	char **paused = NULL;
	size_t npaused = 0;

	(void) in;
	(void) closure;
	if (svc_defer(sv, arg))
		return;
	if (sv->q->ops->paused_kinds(sv->q, &paused, &npaused) != JOBD_OK) {
		rpc_fail(arg, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	sv->q->ops->refresh(sv->q);
	sv->q->ops->stats(sv->q, &st);
	rpc_front_stats(arg, &fs);
	rep.workers = sv->cfg.workers;
	rep.busy_workers = st.busy;
	rep.queued = st.counts[JOB_QUEUED];
	rep.running = st.counts[JOB_RUNNING];
	rep.succeeded = st.counts[JOB_SUCCEEDED];
	rep.failed = st.counts[JOB_FAILED];
	rep.cancelled = st.counts[JOB_CANCELLED];
	rep.max_queue = sv->cfg.max_queue;
	rep.uptime_ms = sched_mono_ms() - sv->started;
	rep.submitted = st.submitted;
	rep.retried = st.retried;
	rep.recovered = st.recovered;
	rep.waiting_kind = st.waiting_kind;
	rep.connections = fs.connections;
	rep.parked_calls = fs.parked;
	rep.dropped_replies = fs.dropped_replies;
	rep.refused_calls = fs.refused;
	rep.commits = st.commits;
	rep.version = JOBD_VERSION;
	rep.scheduled = st.counts[JOB_SCHEDULED];
	rep.n_paused_kinds = npaused;
	rep.paused_kinds = paused;
	metrics_finished_recent(recent);
	rep.n_finished_recent = METRICS_RECENT_STEPS;
	rep.finished_recent = recent;
	rep.finished_recent_step_ms = METRICS_RECENT_STEP_MS;
	rpc_closure(&rep.base, arg);
	for (size_t i = 0; i < npaused; i++)
		free(paused[i]);
	free(paused);
}

/* The wire's type of a parameter type. */
static Jobd__V1__Param__Type
param_type(int type)
{
	switch (type) {
	case JOBD_PARAM_INT:
		return JOBD__V1__PARAM__TYPE__TYPE_INT;
	case JOBD_PARAM_STRING:
		return JOBD__V1__PARAM__TYPE__TYPE_STRING;
	case JOBD_PARAM_BOOL:
		return JOBD__V1__PARAM__TYPE__TYPE_BOOL;
	case JOBD_PARAM_CHOICE:
		return JOBD__V1__PARAM__TYPE__TYPE_CHOICE;
	}
	return JOBD__V1__PARAM__TYPE__TYPE_UNSPECIFIED;
}

static size_t
count_choices(const struct jobd_param *p)
{
	size_t n = 0;

	while (p->type == JOBD_PARAM_CHOICE && p->choices && p->choices[n])
		n++;
	return n;
}

static void
svc_kinds(Jobd__V1__Jobs_Service *base, const Jobd__V1__KindsRequest *in,
          Jobd__V1__KindsReply_Closure closure, void *arg)
{
	service *sv = (service *) base;
	Jobd__V1__KindsReply rep = JOBD__V1__KINDS_REPLY__INIT;
	kindset *ks;
	size_t nk = 0, np = 0, i, j;
	const struct kind_def *kt;
	Jobd__V1__Kind *kinds, **kptrs;
	Jobd__V1__Param *params = NULL, **pptrs = NULL;

	(void) in;
	(void) closure;
	if (svc_defer(sv, arg)) /* paused: a read */
		return;
	ks = sv->q->ops->kinds(sv->q);
	kt = ks != NULL ? kindset_all(ks, &nk) : NULL;
	kinds = calloc(nk + 1, sizeof(*kinds));
	kptrs = calloc(nk + 1, sizeof(*kptrs));
	for (i = 0; i < nk; i++)
		np += kt[i].k->nparams;
	params = calloc(np + 1, sizeof(*params));
	pptrs = calloc(np + 1, sizeof(*pptrs));
	if (kinds == NULL || kptrs == NULL || params == NULL || pptrs == NULL) {
		rpc_fail(arg, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	np = 0;
	for (i = 0; i < nk; i++) {
		const struct jobd_kind *k = kt[i].k;
		jobd__v1__kind__init(&kinds[i]);
		kinds[i].name = (char *) k->name;
		kinds[i].description = (char *) (k->desc ? k->desc : "");
		kinds[i].uses_input = k->uses_input != 0;
		kinds[i].origin = (char *) kind_origin_name(kt[i].origin);
		kinds[i].source = (char *) (kt[i].source ? kt[i].source : "");
		kinds[i].concurrency = k->concurrency;
		kinds[i].max_input = (uint32_t) kind_max_input(k);
		kinds[i].paused = sv->q->ops->paused(sv->q, k->name);
		kinds[i].params = &pptrs[np];
		kinds[i].n_params = k->nparams;
		for (j = 0; j < k->nparams; j++, np++) {
			const struct jobd_param *kp = &k->params[j];
			Jobd__V1__Param *p = &params[np];
			jobd__v1__param__init(p);
			p->name = (char *) kp->name;
			p->type = param_type(kp->type);
			p->required = kp->required != 0;
			p->min = kp->min;
			p->max = kp->max;
			p->default_value = (char *) (kp->def ? kp->def : "");
			p->description = (char *) (kp->desc ? kp->desc : "");
			/* the row's NULL-terminated array, as protobuf-c's */
			p->n_choices = count_choices(kp);
			p->choices = (char **) kp->choices;
			pptrs[np] = p;
		}
		kptrs[i] = &kinds[i];
	}
	rep.n_kinds = nk;
	rep.kinds = kptrs;
	rpc_closure(&rep.base, arg);
out:
	free(kinds);
	free(kptrs);
	free(params);
	free(pptrs);
	kindset_unref(ks);
}

static void
svc_ping(Jobd__V1__Jobs_Service *base, const Jobd__V1__PingRequest *in,
         Jobd__V1__PingReply_Closure closure, void *arg)
{
	Jobd__V1__PingReply rep = JOBD__V1__PING_REPLY__INIT;
	(void) base;
	(void) closure;
	rep.payload = in->payload;
	rep.version = JOBD_VERSION;
	rep.time_ms = sched_wall_ms();
	rpc_closure(&rep.base, arg);
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

/*
 * service_submit: the handlers of Submit and SubmitBatch, and the checks
 * and the record they make of a SubmitRequest.
 *
 * A Submit is checked against the kinds (check_submit), made into a
 * record (make_rec), and, after its idempotency key is looked up and the
 * jobs of its `after` are checked (service_sched.c: after_check), handed
 * to the queue as a batch of one; it parks (service.c: `parked`) until
 * the job is on disk, and submit_fire answers. A SubmitBatch does the
 * same for each of its jobs, with a waiter each in one counted `batch`
 * whose last answer replies for all. Retry answers through submit_fire
 * too. Apart from the other handlers because none of this is shared with
 * them but the parked call and the conversions of service.c.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit.h"
#include "service_int.h"

_Static_assert(LIMIT_AFTER == JOB_MAX_AFTER, "one bound on after");
/* The furthest ahead a job may be scheduled: 10 years. */
#define MAX_AHEAD_MS (3653LL * 24 * 3600 * 1000)

/* ---- Submit ---------------------------------------------------------- */

static void
reply_submit(struct rpc_call *c, const struct jobrec *r, bool existing)
{
	Jobd__V1__SubmitReply rep = JOBD__V1__SUBMIT_REPLY__INIT;
	rep.existing = existing;
	reply_job(c, &rep.base, &rep.job, r);
}

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

void
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

void
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

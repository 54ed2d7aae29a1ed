/*
 * service_sched: the handlers of the scheduling features (Retry, Pause,
 * Resume, Schedules) and the check of a Submit's or Retry's `after`.
 *
 * Retry reads the job from the database (a job that has ended is there
 * and only there), checks the jobs it runs after as a Submit does, and
 * hands it to the queue, which answers once the new run and the history
 * of the old one are on disk. Pause and Resume change the kind
 * in memory at once and answer once the change is on disk. None of them
 * waits on the front: what must wait parks, as a Submit does.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit.h"
#include "periodic.h"
#include "service_int.h"

int
after_check(service *sv, const uint64_t *after, size_t n, uint64_t *wait_for,
            size_t *nwait, char *err, size_t errlen)
{
	*nwait = 0;
	for (size_t i = 0; i < n; i++) {
		struct jobrec r = {0};
		char why[256];
		int rv = lookup_job(sv, after[i], &r, why, sizeof(why));

		if (rv == JOBD_NOT_FOUND) {
			snprintf(err, errlen, "after: no job %llu",
			         (unsigned long long) after[i]);
			return JOBD_NOT_FOUND;
		}
		if (rv != JOBD_OK) {
			snprintf(err, errlen, "after: %s", why);
			return rv;
		}
		int state = r.state;
		jobrec_clear(&r);
		if (state == JOB_FAILED || state == JOB_CANCELLED) {
			snprintf(err, errlen,
			         "after: job %llu %s; a job after it would "
			         "never run (retry it first)",
			         (unsigned long long) after[i],
			         state == JOB_FAILED ? "failed"
			                             : "was cancelled");
			return JOBD_FAILED_PRECONDITION;
		}
		if (state != JOB_SUCCEEDED)
			wait_for[(*nwait)++] = after[i];
	}
	return JOBD_OK;
}

/* ---- Retry ----------------------------------------------------------- */

static void
svc_retry_one(service *sv, struct rpc_call *c, struct jobrec *rec)
{
	uint64_t wait[JOB_MAX_AFTER];
	size_t nwait = 0;
	char err[300];
	struct parked *p;
	int rv;

	if (rec->state == JOB_SUCCEEDED) {
		rpc_fail(c, JOBD_FAILED_PRECONDITION,
		         "job %llu succeeded: only a failed or cancelled job "
		         "is retried",
		         (unsigned long long) rec->id);
		return;
	}
	if (!job_state_terminal(rec->state)) {
		rpc_fail(c, JOBD_FAILED_PRECONDITION,
		         "job %llu has not ended (it is %s)",
		         (unsigned long long) rec->id,
		         job_state_name(rec->state));
		return;
	}
	if (rpc_park_room(c, RPC_PARK_CALL) != JOBD_OK) {
		rpc_closure(NULL, c);
		return;
	}
	if ((p = parked_new(sv, c, WAIT_COMMIT, 0, submit_fire)) == NULL)
		return;
	rpc_park(c, &parked_ops, p);
	for (int t = 0; t < AFTER_TRIES; t++) {
		if ((rv = after_check(sv, rec->after, rec->nafter, wait, &nwait,
		                      err, sizeof(err))) != JOBD_OK ||
		    (rv = sv->q->ops->rerun(sv->q, rec, wait, nwait, &p->w, err,
		                            sizeof(err))) != JOBD_ABORTED)
			break;
	}
	if (rv != JOBD_OK) {
		rpc_unpark(c);
		parked_unref(p);
		rpc_fail(c, rv, "%s", err);
	}
	/* else p belongs to the scheduler, and may already have fired */
}

void
svc_retry(Jobd__V1__Jobs_Service *base, const Jobd__V1__RetryRequest *in,
          Jobd__V1__RetryReply_Closure closure, void *arg)
{
	service *sv = (service *) base;
	struct rpc_call *c = arg;
	struct jobrec rec = {0};
	int rv;

	(void) closure;
	if (svc_defer(sv, c))
		return;
	rv = find_job(sv, c, in->id, &rec);
	if (rv == JOBD_NOT_FOUND)
		rpc_fail(c, JOBD_NOT_FOUND, "no job %llu",
		         (unsigned long long) in->id);
	else if (rv == JOBD_OK)
		svc_retry_one(sv, c, &rec);
	jobrec_clear(&rec);
}

/* ---- Pause and Resume ------------------------------------------------ */

/* A Pause or Resume waiting for its write. Its answer is given once, by
 * the write's completion or by the release when the client goes,
 * whichever claims it first; the last of the two frees it. */
struct pausecall {
	struct rpc_call *call;
	atomic_bool claimed;
	atomic_uint refs;
	bool changed;
	bool resume;
};

static void
pausecall_unref(struct pausecall *pc)
{
	if (atomic_fetch_sub(&pc->refs, 1) == 1)
		free(pc);
}

static void
pause_fire(void *arg, int status, const char *msg)
{
	struct pausecall *pc = arg;

	if (atomic_exchange(&pc->claimed, true)) {
		pausecall_unref(pc); /* answered already: its client went */
		return;
	}
	rpc_unpark(pc->call);
	if (status != JOBD_OK) {
		rpc_fail(pc->call, status, "%s", msg);
	} else if (pc->resume) {
		Jobd__V1__ResumeReply rep = JOBD__V1__RESUME_REPLY__INIT;
		rep.changed = pc->changed;
		rpc_closure(&rep.base, pc->call);
	} else {
		Jobd__V1__PauseReply rep = JOBD__V1__PAUSE_REPLY__INIT;
		rep.changed = pc->changed;
		rpc_closure(&rep.base, pc->call);
	}
	pausecall_unref(pc);
}

static void
pause_hold(void *arg)
{
	atomic_fetch_add(&((struct pausecall *) arg)->refs, 1);
}

/* The client went: its answer now, to no one; the change itself goes on
 * to the disk. */
static void
pause_release(void *arg)
{
	struct pausecall *pc = arg;

	if (!atomic_exchange(&pc->claimed, true)) {
		rpc_unpark(pc->call);
		rpc_fail(pc->call, JOBD_CANCELLED, "%s", GONE);
	}
	pausecall_unref(pc);
}

static const struct rpc_park_ops pause_ops = {pause_hold, pause_release};

static void
pause_or_resume(service *sv, struct rpc_call *c, const char *kind, bool pause)
{
	jobq *q = sv->q;
	struct pausecall *pc;
	kindset *ks;
	bool known;
	char name[80];
	int rv;

	if (svc_defer(sv, c)) /* paused: a read */
		return;
	ks = q->ops->kinds(q);
	known = ks != NULL && kindset_find(ks, kind) != NULL;
	kindset_unref(ks);
	/* a kind removed while paused can still be resumed */
	if (!known && (pause || !q->ops->paused(q, kind))) {
		printable(name, sizeof(name), kind);
		rpc_fail(c, JOBD_NOT_FOUND,
		         "unknown kind '%s' (jobctl kinds lists them)", name);
		return;
	}
	if (rpc_park_room(c, RPC_PARK_CALL) != JOBD_OK) {
		rpc_closure(NULL, c);
		return;
	}
	if ((pc = calloc(1, sizeof(*pc))) == NULL) {
		rpc_fail(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	pc->call = c;
	atomic_init(&pc->claimed, false);
	atomic_init(&pc->refs, 1);
	pc->resume = !pause;
	rpc_park(c, &pause_ops, pc);
	/* pc->changed is set before the write can complete; from the
	 * call on, pc may be gone */
	rv = q->ops->pause(q, kind, pause, &pc->changed, pause_fire, pc);
	if (rv != JOBD_OK) {
		rpc_unpark(c);
		free(pc);
		rpc_fail(c, rv, "out of memory");
		return;
	}
}

void
svc_pause(Jobd__V1__Jobs_Service *base, const Jobd__V1__PauseRequest *in,
          Jobd__V1__PauseReply_Closure closure, void *arg)
{
	(void) closure;
	pause_or_resume((service *) base, arg, in->kind, true);
}

void
svc_resume(Jobd__V1__Jobs_Service *base, const Jobd__V1__ResumeRequest *in,
           Jobd__V1__ResumeReply_Closure closure, void *arg)
{
	(void) closure;
	pause_or_resume((service *) base, arg, in->kind, false);
}

/* ---- Schedules ------------------------------------------------------- */

void
svc_schedules(Jobd__V1__Jobs_Service *base,
              const Jobd__V1__SchedulesRequest *in,
              Jobd__V1__SchedulesReply_Closure closure, void *arg)
{
	service *sv = (service *) base;
	Jobd__V1__SchedulesReply rep = JOBD__V1__SCHEDULES_REPLY__INIT;
	struct schedule_info *v = NULL;
	size_t n = 0, np = 0;
	Jobd__V1__Schedule *sch = NULL, **ptrs = NULL;
	Jobd__V1__Schedule__ParamsEntry *ents = NULL, **eptrs = NULL;

	(void) in;
	(void) closure;
	if (sv->periodic != NULL &&
	    periodic_list(sv->periodic, &v, &n) != JOBD_OK) {
		rpc_fail(arg, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		np += v[i].nparams;
	sch = calloc(n + 1, sizeof(*sch));
	ptrs = calloc(n + 1, sizeof(*ptrs));
	ents = calloc(np + 1, sizeof(*ents));
	eptrs = calloc(np + 1, sizeof(*eptrs));
	if (sch == NULL || ptrs == NULL || ents == NULL || eptrs == NULL) {
		rpc_fail(arg, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	np = 0;
	for (size_t i = 0; i < n; i++) {
		Jobd__V1__Schedule *m = &sch[i];
		jobd__v1__schedule__init(m);
		m->name = v[i].name;
		m->kind = v[i].kind;
		m->spec = v[i].spec;
		m->time_zone = v[i].time_zone;
		m->catch_up = v[i].catch_up;
		m->source = v[i].source;
		m->priority = v[i].priority;
		m->next_at_ms = v[i].next_at;
		m->last_at_ms = v[i].last_at;
		m->last_job_id = v[i].last_job_id;
		m->params = &eptrs[np];
		m->n_params = v[i].nparams;
		for (size_t k = 0; k < v[i].nparams; k++, np++) {
			jobd__v1__schedule__params_entry__init(&ents[np]);
			ents[np].key = v[i].params[k].name;
			ents[np].value = v[i].params[k].value;
			eptrs[np] = &ents[np];
		}
		ptrs[i] = m;
	}
	rep.n_schedules = n;
	rep.schedules = ptrs;
	rpc_closure(&rep.base, arg);
out:
	free(sch);
	free(ptrs);
	free(ents);
	free(eptrs);
	periodic_list_free(v, n);
}

void
service_set_periodic(service *sv, struct periodic *p)
{
	sv->periodic = p;
}

/*
 * service_query: the handlers of the queries about many jobs or about
 * the server: List, Stats, Kinds, Ping.
 *
 * Each answers before it returns and parks nothing: List pages through
 * the queue's merge of live and ended jobs, cut before the reply's limit
 * (job_size, service.c); Stats gathers the queue's counts, the front's
 * and the recent finishes of metrics; Kinds lists the kinds defined with
 * their parameters; Ping echoes. With a queue whose reads may block, List,
 * Stats and Kinds run on the database threads (svc_defer). Apart from the
 * handlers on one job (service.c) because they share nothing with them
 * but the Job message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "limit.h"
#include "metrics.h"
#include "service_int.h"

#define DEFAULT_LIST 100

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
void
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

void
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

void
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

void
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

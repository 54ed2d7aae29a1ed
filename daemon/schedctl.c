/*
 * schedctl: the scheduler's calls that act on a job or a kind from outside
 * a job's life (scheduler.c holds that life; see the top of it).
 *
 * Retry (sched_rerun) makes a failed or cancelled job, read from the
 * database by the caller, a pending job again with the same id, as a
 * Submit makes a new one (the same memory, edges and tables: fresh_alloc,
 * the same done(): insert_done), and hands the writer one rerun op: the
 * row back to queued and the run that ended appended to its history, in
 * one transaction. Its history is kept in its run part while it is live.
 *
 * Pause and Resume flip a flag on the kind's run queue (next_kq skips a
 * paused kind) at once, and write the change through the writer, handed
 * over under mtx so that the writer sees a kind's changes in the order
 * memory did; the caller is told once it is on disk.
 *
 * Every function here takes sched.mtx itself, as the calls of scheduler.c
 * do, and never calls back on the calling thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sched_int.h"

/* sched_rerun's refusals before anything changes; JOBD_OK or a status
 * with err. Under mtx. */
static int
rerun_refusal(sched *s, const struct jobrec *rec, const struct batch_job *b,
              char *err, size_t errlen)
{
	const struct job *holder;
	uint64_t gone;

	if (s->draining) {
		snprintf(err, errlen, "jobd is shutting down");
		return JOBD_UNAVAILABLE;
	}
	if (rec->state != JOB_FAILED && rec->state != JOB_CANCELLED) {
		snprintf(err, errlen,
		         "job %llu has not failed or been cancelled",
		         (unsigned long long) rec->id);
		return JOBD_FAILED_PRECONDITION;
	}
	if (table_find(s, rec->id) != NULL) {
		snprintf(err, errlen, "job %llu has not ended",
		         (unsigned long long) rec->id);
		return JOBD_FAILED_PRECONDITION;
	}
	if (rec->unique_key != NULL && rec->unique_key[0] != '\0' &&
	    (holder = ukeys_find(&s->ukeys, rec->unique_key)) != NULL) {
		snprintf(err, errlen,
		         "job %llu's unique key '%s' is held by job %llu, "
		         "which has not ended",
		         (unsigned long long) rec->id, rec->unique_key,
		         (unsigned long long) holder->id);
		return JOBD_FAILED_PRECONDITION;
	}
	if (batch_refusal(b, 1) != NULL) {
		snprintf(err, errlen, "job %llu cannot be held in memory",
		         (unsigned long long) rec->id);
		return JOBD_FAILED_PRECONDITION;
	}
	if ((gone = gone_meanwhile(s, b, 1)) != 0) {
		snprintf(err, errlen, "job %llu ended meanwhile",
		         (unsigned long long) gone);
		return JOBD_ABORTED;
	}
	if (s->cfg.max_queue > 0 && s->nqueued + 1 > s->cfg.max_queue) {
		snprintf(err, errlen, "queue is full (%llu jobs waiting)",
		         (unsigned long long) s->nqueued);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	return JOBD_OK;
}

int
sched_rerun(sched *s, struct jobrec *rec, const uint64_t *wait_for,
            size_t nwait_for, struct waiter *w, char *err, size_t errlen)
{
	struct batch_job b = {rec, NULL, w, wait_for, nwait_for};
	struct kind_def kd = {0};
	struct writer_op *op = NULL;
	struct fresh *f = NULL;
	bool yes = true;
	int rv;

	pthread_mutex_lock(&s->mtx);
	/* the kind need not be defined now: the job waits for it */
	if ((kd.id = kind_intern(rec->kind)) == UINT32_MAX) {
		snprintf(err, errlen, "out of memory");
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto out;
	}
	b.kind = &kd;
	if ((rv = rerun_refusal(s, rec, &b, err, errlen)) != JOBD_OK)
		goto out;
	/* its history: rec's, and the run that ended */
	struct job_run *hist =
	    realloc(rec->history, (rec->nhistory + 1) * sizeof(*hist));
	if (hist != NULL)
		rec->history = hist;
	if (hist == NULL || (f = fresh_alloc(s, &b, 1, &yes, 1)) == NULL ||
	    job_run(f->j) == NULL) {
		if (f != NULL && f->j != NULL) {
			free(f->j->run);
			f->j->run = NULL;
		}
		snprintf(err, errlen, "out of memory");
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto out;
	}
	/* From here nothing fails. The run that ended: */
	struct job_run ended = {rec->state, rec->error, rec->attempts,
	                        rec->started_at, rec->finished_at};
	hist[rec->nhistory] = ended;
	rec->error = NULL;
	/* the job as it runs again */
	struct job *j = f->j;
	struct jop *p = f->p;
	j->wq = f->q;
	j->wq->job = j;
	f->j = NULL;
	f->p = NULL;
	f->q = NULL;
	job_fill(j, rec, kd.id);
	j->attempts = 0;
	j->not_before = 0;
	j->id = rec->id;
	j->created_at = rec->created_at;
	j->flags |= JOB_LOADED | JOB_RERUN;
	j->run->reruns = rec->reruns + 1;
	j->run->history = hist;
	j->run->nhistory = rec->nhistory + 1;
	rec->history = NULL;
	rec->nhistory = 0;
	add_edges(s, j, f, wait_for, nwait_for);
	table_link(s, j);
	if (j->flags & JOB_HAS_UNIQUE)
		ukeys_add(&s->ukeys, j);
	s->njobs++;
	s->nqueued++;
	w->until = WAIT_COMMIT;
	(void) park(s, j, w);
	/* the run that ended goes to its history, in the same write */
	p->op.type = WOP_RERUN;
	p->op.rec.id = j->id;
	p->op.rec.reruns = j->run->reruns;
	/* its error is the history's: the job outlives the op */
	p->op.run = ended;
	p->op.done = insert_done;
	p->job = j;
	p->s = s;
	op = &p->op;
out:
	pthread_mutex_unlock(&s->mtx);
	if (f != NULL)
		fresh_free(f, 1);
	if (op != NULL)
		writer_submit(s->w, op);
	return rv;
}

/* A Pause's or Resume's write, and whom to tell once it is on disk. */
struct pauseop {
	struct writer_op op;
	void (*done)(void *arg, int status, const char *msg);
	void *arg;
	char name[];
};

static void
pause_done(struct writer_op *op)
{
	struct pauseop *p = (struct pauseop *) op;
	p->done(p->arg, op->status, op->errmsg);
	free(p);
}

int
sched_pause(sched *s, const char *kind, bool pause, bool *changed,
            void (*done)(void *arg, int status, const char *msg), void *arg)
{
	size_t len = strlen(kind) + 1;
	struct pauseop *p = calloc(1, sizeof(*p) + len);
	uint32_t id;
	struct kq *q;

	if (p == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	memcpy(p->name, kind, len);
	p->op.type = WOP_PAUSE;
	p->op.name = p->name;
	p->op.paused = pause;
	p->op.at = sched_wall_ms();
	p->op.awaited = true;
	p->op.done = pause_done;
	p->done = done;
	p->arg = arg;
	pthread_mutex_lock(&s->mtx);
	if ((id = kind_intern(kind)) == UINT32_MAX ||
	    (q = kq_of(s, id)) == NULL) {
		pthread_mutex_unlock(&s->mtx);
		free(p);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	*changed = q->paused != pause;
	q->paused = pause;
	if (*changed)
		log_info("kind '%s' %s", kind, pause ? "paused" : "resumed");
	if (!pause)
		pthread_cond_broadcast(&s->work_cv);
	/* under mtx: the writer gets the pauses and resumes of a kind in
	 * the order memory saw them */
	writer_submit(s->w, &p->op);
	pthread_mutex_unlock(&s->mtx);
	return JOBD_OK;
}

bool
sched_paused(sched *s, const char *kind)
{
	uint32_t id = kind_lookup(kind);
	bool yes;

	pthread_mutex_lock(&s->mtx);
	yes = id < s->nkq && s->kq[id].paused;
	pthread_mutex_unlock(&s->mtx);
	return yes;
}

int
sched_paused_kinds(sched *s, char ***names, size_t *n)
{
	char **v = NULL;
	size_t k = 0;
	int rv = JOBD_OK;

	pthread_mutex_lock(&s->mtx);
	for (size_t i = 0; i < s->nkq; i++)
		k += s->kq[i].paused;
	if (k > 0 && (v = calloc(k, sizeof(*v))) == NULL)
		rv = JOBD_RESOURCE_EXHAUSTED;
	k = 0;
	for (size_t i = 0; v != NULL && i < s->nkq; i++) {
		if (!s->kq[i].paused)
			continue;
		if ((v[k++] = strdup(kind_name_of((uint32_t) i))) == NULL)
			rv = JOBD_RESOURCE_EXHAUSTED;
	}
	pthread_mutex_unlock(&s->mtx);
	if (rv != JOBD_OK) {
		for (size_t i = 0; i < k; i++)
			free(v[i]);
		free(v);
		return rv;
	}
	*names = v;
	*n = k;
	return JOBD_OK;
}

int
unique_add(sched *s, struct job *j)
{
	const char *u = job_unique(j);

	if (u == NULL || ukeys_find(&s->ukeys, u) != NULL)
		return 0;
	if (ukeys_reserve(&s->ukeys, 1) != 0)
		return -1;
	ukeys_add(&s->ukeys, j);
	return 0;
}

void
job_set_history(struct job *j, struct jobrec *r)
{
	struct jobrun *run = j->run;

	if (run == NULL || run->history != NULL)
		return;
	run->history = r->history;
	run->nhistory = r->nhistory;
	r->history = NULL;
	r->nhistory = 0;
}

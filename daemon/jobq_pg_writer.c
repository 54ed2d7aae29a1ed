/*
 * jobq_pg_writer: the shared queue's writer thread (see jobq_pg.c for the
 * whole design), on a connection of its own.
 *
 * Group commit. Each round takes everything pending, Submits (in groups),
 * ends of jobs run here, Cancels, Pauses, Retries and schedule firings,
 * and writes it in ONE transaction: one multi-row insert for all the new
 * jobs, one finish per end (written only if the job is still ours: an
 * end whose lease was lost is dropped and logged), pgstore_doom when a job
 * failed or was cancelled or a new one waits for others, then one NOTIFY
 * jobd_new if it made runnable jobs (coalesced: one per transaction,
 * whatever it inserted) and NOTIFY jobd_end naming every job that ended.
 * Only after COMMIT are the Submits answered and the calls parked here on
 * the ended jobs (pgq_settle reads each from the database), so a reply
 * never reports what is not committed.
 *
 * A failure that is not the connection's (a statement refused) rolls the
 * round back and writes its parts one transaction each, so that one bad
 * part is answered with its error and the others go through.
 *
 * The connection lost: the round's Submits and Retries are answered
 * UNAVAILABLE (the database may or may not have committed: a client
 * retries with its idempotency key), new ones are refused at once
 * (db_down), and the ends, Cancels, Pauses and firings go back in front
 * of the queue, written once a reconnect (backoff 100 ms doubling to 5 s)
 * succeeds. At stop, what cannot be written is logged and dropped (the
 * leases of the jobs whose ends are lost expire; they run again).
 *
 * After each round: a claim for the free workers when one was asked for
 * (a worker freed, a jobd_new, the poll), and once a second the progress
 * of the running jobs (which also learns of a Cancel asked for them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jobq_pg_impl.h"
#include "log.h"
#include "metrics.h"

struct round {
	struct pgq_subs *subs;
	struct job *ends;
	struct pgq_ctl *ctls;
	/* what the transaction came to */
	uint64_t *ended;
	size_t nended, capended;
	bool fresh;           /* runnable jobs made: NOTIFY jobd_new */
	bool doom;            /* jobs failed or cancelled, or new ones wait */
	struct kinds *dbends; /* write_round's: jobs ended in the database */
};

/* The kinds of the jobs a transaction ended in the database itself (a
 * queued job cancelled, dependents cancelled): counted in /metrics once
 * it commits, as the ends of the jobs workers ran are (ends_done). */
struct kinds {
	uint32_t *v;
	size_t n, cap;
};

static void
kinds_add(const char *kind, void *arg)
{
	struct kinds *k = arg;
	if (k->n == k->cap) {
		size_t cap = k->cap * 2 + 16;
		uint32_t *v = realloc(k->v, cap * sizeof(*v));
		if (v == NULL)
			return; /* a count lost, nothing else */
		k->v = v;
		k->cap = cap;
	}
	k->v[k->n++] = kind_intern(kind);
}

static void
add_ended(struct round *r, const uint64_t *ids, size_t n)
{
	if (n == 0)
		return;
	if (r->nended + n > r->capended) {
		size_t cap = (r->nended + n) * 2 + 16;
		uint64_t *v = realloc(r->ended, cap * sizeof(*v));
		if (v == NULL)
			return; /* the poll finds them */
		r->ended = v;
		r->capended = cap;
	}
	memcpy(r->ended + r->nended, ids, n * sizeof(*ids));
	r->nended += n;
}

/* One group under --max-queue: inserted under a savepoint, undone when
 * the queue has grown past the bound with it (jobs of keys already taken
 * add nothing, as on the local queue); g->full then. */
static int
insert_capped(struct pgq *q, pgstore *s, struct round *r, struct pgq_subs *g)
{
	uint64_t counts[JOB_STATE_MAX + 1];
	int rv;

	if ((rv = pgstore_savepoint(s)) != JOBD_OK ||
	    (rv = pgstore_insert_batch(s, g->recs, g->n, g->res)) != JOBD_OK ||
	    (rv = pgstore_counts_live(s, counts)) != JOBD_OK)
		return rv;
	uint64_t waiting = counts[JOB_QUEUED] + counts[JOB_SCHEDULED];
	if (waiting > q->cfg.sched.max_queue) {
		g->full = true;
		g->waiting = waiting;
		for (size_t i = 0; i < g->n; i++)
			if (g->res[i].outcome == PGSTORE_INS_NEW &&
			    g->waiting > 0)
				g->waiting--;
		return pgstore_savepoint_undo(s);
	}
	for (size_t i = 0; i < g->n; i++) {
		g->recs[i].id = g->res[i].id;
		if (g->res[i].outcome == PGSTORE_INS_NEW)
			r->fresh = true;
	}
	return pgstore_savepoint_keep(s);
}

static int
insert_subs(struct pgq *q, pgstore *s, struct round *r)
{
	struct jobrec *all;
	struct pgstore_ins *res;
	size_t n = 0, k = 0;
	int rv;

	if (q->cfg.sched.max_queue > 0) {
		for (struct pgq_subs *g = r->subs; g != NULL; g = g->next) {
			r->doom |= g->after;
			if ((rv = insert_capped(q, s, r, g)) != JOBD_OK)
				return rv;
		}
		return JOBD_OK;
	}
	for (struct pgq_subs *g = r->subs; g != NULL; g = g->next) {
		n += g->n;
		r->doom |= g->after;
	}
	if (n == 0)
		return JOBD_OK;
	/* one statement for every group: shallow copies, ids copied back */
	if ((all = malloc(n * sizeof(*all))) == NULL ||
	    (res = calloc(n, sizeof(*res))) == NULL) {
		free(all);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	for (struct pgq_subs *g = r->subs; g != NULL; g = g->next)
		for (size_t i = 0; i < g->n; i++)
			all[k++] = g->recs[i];
	if ((rv = pgstore_insert_batch(s, all, n, res)) == JOBD_OK) {
		k = 0;
		for (struct pgq_subs *g = r->subs; g != NULL; g = g->next)
			for (size_t i = 0; i < g->n; i++, k++) {
				g->res[i] = res[k];
				g->recs[i].id = res[k].id;
				if (res[k].outcome == PGSTORE_INS_NEW)
					r->fresh = true;
			}
	}
	free(all);
	free(res);
	return rv;
}

static int
write_ends(struct pgq *q, pgstore *s, struct round *r)
{
	int rv;

	for (struct job *j = r->ends; j != NULL; j = j->rnext) {
		pthread_mutex_lock(&q->mtx);
		bool lost = j->lost;
		pthread_mutex_unlock(&q->mtx);
		if (lost)
			continue;
		rv = pgstore_finish(s, q->node, &j->rec);
		if (rv == JOBD_NOT_FOUND) {
			pthread_mutex_lock(&q->mtx);
			j->lost = true; /* the lease was lost */
			pthread_mutex_unlock(&q->mtx);
			continue;
		}
		if (rv != JOBD_OK)
			return rv;
		if (j->rec.state == JOB_QUEUED)
			r->fresh = true;
		else
			add_ended(r, &j->rec.id, 1);
		if (j->rec.state == JOB_FAILED || j->rec.state == JOB_CANCELLED)
			r->doom = true;
	}
	return JOBD_OK;
}

static int
write_ctls(struct pgq *q, pgstore *s, struct round *r)
{
	int rv = JOBD_OK;

	(void) q;
	for (struct pgq_ctl *c = r->ctls; c != NULL; c = c->next) {
		c->status = JOBD_OK;
		switch (c->type) {
		case CTL_CANCEL: {
			char kind[JOBD_KIND_NAME_MAX + 1];
			rv = pgstore_cancel(s, c->id, &c->state, kind,
			                    sizeof(kind));
			if (rv == JOBD_NOT_FOUND) {
				c->status = rv;
				rv = JOBD_OK;
			} else if (rv == JOBD_OK && c->state == JOB_CANCELLED) {
				add_ended(r, &c->id, 1);
				if (kind[0] !=
				    '\0') /* a queued job, ended now */
					kinds_add(kind, r->dbends);
				r->doom = true;
			}
			break;
		}
		case CTL_PAUSE:
			rv = pgstore_set_paused(s, c->name, c->paused, 0,
			                        &c->was);
			if (rv == JOBD_OK && !c->paused)
				r->fresh = true;
			break;
		case CTL_TICK:
			rv = pgstore_set_tick(s, c->name, c->at, c->id);
			break;
		case CTL_RERUN:
			jobrec_clear(&c->out);
			rv = pgstore_rerun(s, c->id, 0, c->after, c->nafter,
			                   &c->out);
			if (rv == JOBD_FAILED_PRECONDITION) {
				c->status = rv;
				rv = JOBD_OK;
			} else if (rv == JOBD_OK) {
				r->fresh = true;
				r->doom |= c->nafter > 0;
			}
			break;
		}
		if (rv != JOBD_OK)
			return rv;
	}
	return JOBD_OK;
}

/* Writes round r in one transaction. JOBD_OK once committed. */
static int
write_round(struct pgq *q, pgstore *s, struct round *r)
{
	uint64_t *doomed = NULL;
	size_t ndoomed = 0, ops = 0;
	int64_t t0 = metrics_now_ns();
	struct kinds dbends = {NULL, 0, 0};
	int rv;

	for (struct pgq_subs *g = r->subs; g != NULL; g = g->next)
		ops += g->n;
	for (struct job *j = r->ends; j != NULL; j = j->rnext)
		ops++;
	for (struct pgq_ctl *c = r->ctls; c != NULL; c = c->next)
		ops++;
	r->nended = 0;
	r->fresh = r->doom = false;
	r->dbends = &dbends;
	if ((rv = pgstore_begin(s)) != JOBD_OK ||
	    (rv = insert_subs(q, s, r)) != JOBD_OK ||
	    (rv = write_ends(q, s, r)) != JOBD_OK ||
	    (rv = write_ctls(q, s, r)) != JOBD_OK)
		goto fail;
	if (r->doom) {
		if ((rv = pgstore_doom(s, &doomed, &ndoomed, kinds_add,
		                       &dbends)) != JOBD_OK)
			goto fail;
		add_ended(r, doomed, ndoomed);
		free(doomed);
	}
	if (r->fresh &&
	    (rv = pgstore_notify(s, PGSTORE_CHAN_NEW, q->node)) != JOBD_OK)
		goto fail;
	if (r->nended > 0 && (rv = pgq_notify_ids(s, PGSTORE_CHAN_END, r->ended,
	                                          r->nended)) != JOBD_OK)
		goto fail;
	if ((rv = pgstore_commit(s)) != JOBD_OK)
		goto fail;
	metrics_commit(ops, metrics_now_ns() - t0);
	for (size_t i = 0; i < dbends.n; i++)
		metrics_job_finished(dbends.v[i], JOB_CANCELLED);
	free(dbends.v);
	r->dbends = NULL;
	pthread_mutex_lock(&q->mtx);
	q->st.commits++;
	pthread_mutex_unlock(&q->mtx);
	return JOBD_OK;
fail:
	if (rv != JOBD_UNAVAILABLE)
		(void) pgstore_rollback(s);
	free(dbends.v);
	r->dbends = NULL;
	metrics_write_failure();
	return rv;
}

/* Takes the waiters of group g out of their slots (under mtx). */
static void
take_waiters(struct pgq *q, struct waiter **w, struct waiter **slots, size_t n)
{
	pthread_mutex_lock(&q->mtx);
	for (size_t i = 0; i < n; i++) {
		w[i] = slots[i];
		slots[i] = NULL;
		if (w[i] != NULL)
			w[i]->q = NULL;
	}
	pthread_mutex_unlock(&q->mtx);
}

static void
subs_free(struct pgq_subs *g)
{
	for (size_t i = 0; i < g->n; i++)
		jobrec_clear(&g->recs[i]);
	free(g->recs);
	free(g->res);
	free(g);
}

/* Answers group g: committed (status JOBD_OK), or refused with status and
 * msg. Frees g. */
static void
answer_subs(struct pgq *q, pgstore *s, struct pgq_subs *g, int status,
            const char *msg)
{
	struct waiter **w = calloc(g->n ? g->n : 1, sizeof(*w));
	struct waiter *one[1];
	char why[400];

	if (w == NULL && g->n == 1)
		w = one;
	if (w == NULL) { /* out of memory: one at a time */
		for (size_t i = 0; i < g->n; i++) {
			take_waiters(q, one, &g->w[i], 1);
			if (one[0] != NULL)
				pgq_fire(one[0], JOBD_RESOURCE_EXHAUSTED, NULL,
				         0, "out of memory");
		}
		subs_free(g);
		return;
	}
	take_waiters(q, w, g->w, g->n);
	for (size_t i = 0; i < g->n; i++) {
		struct jobrec r = {0};
		uint64_t id = g->res[i].id;
		int rv;

		if (w[i] == NULL)
			continue; /* released: the job stands */
		if (status != JOBD_OK) {
			snprintf(why, sizeof(why), "%s", msg);
			pgq_fire(w[i], status, NULL, 0, why);
		} else if (g->full) {
			snprintf(why, sizeof(why),
			         "queue is full (%llu jobs waiting)",
			         (unsigned long long) g->waiting);
			pgq_fire(w[i], JOBD_RESOURCE_EXHAUSTED, NULL, 0, why);
		} else if (g->res[i].outcome == PGSTORE_INS_INVALID) {
			pgq_fire(w[i], JOBD_INVALID_ARGUMENT, NULL, 0,
			         "its kind, keys or parameters cannot be "
			         "stored (not valid UTF-8?)");
		} else if (g->res[i].outcome == PGSTORE_INS_NEW) {
			/* a delayed job is shown as the local queue shows it */
			g->recs[i].state = g->recs[i].not_before > pgq_wall_ms()
			                       ? JOB_SCHEDULED
			                       : JOB_QUEUED;
			metrics_job_submitted(kind_intern(g->recs[i].kind));
			pgq_fire(w[i], JOBD_OK, &g->recs[i], 0, NULL);
		} else if ((rv = pgstore_get(s, id, 0, &r)) == JOBD_OK) {
			pgq_fire(w[i], JOBD_OK, &r, id, NULL);
		} else {
			/* the holder ended and was purged, or the read
			 * failed: the service looks again */
			snprintf(why, sizeof(why), "key taken by job %llu",
			         (unsigned long long) id);
			pgq_fire(w[i], JOBD_ALREADY_EXISTS, NULL, id, why);
		}
		jobrec_clear(&r);
	}
	if (w != one)
		free(w);
	subs_free(g);
}

static void
ctl_free(struct pgq_ctl *c)
{
	jobrec_clear(&c->out);
	free(c->after);
	free(c);
}

/* Answers control op c: committed (status JOBD_OK: its own outcome in
 * c->status) or refused with status and msg. Frees c. The ids to look at
 * go to *check. */
static void
answer_ctl(struct pgq *q, struct pgq_ctl *c, int status, const char *msg,
           struct round *check)
{
	struct waiter *w = NULL;

	switch (c->type) {
	case CTL_CANCEL:
		/* its waiters are parked on the id: whatever happened,
		 * look at it (ended, not found, or still running) */
		add_ended(check, &c->id, 1);
		if (status != JOBD_OK)
			log_warn("cannot cancel job %llu: %s",
			         (unsigned long long) c->id, msg);
		break;
	case CTL_PAUSE:
		/* another daemon may have paused or resumed it since this
		 * one's cache was read: the database says what changed */
		if (status == JOBD_OK && c->changed != NULL)
			*c->changed = c->was;
		if (c->done != NULL)
			c->done(c->arg, status, status == JOBD_OK ? NULL : msg);
		break;
	case CTL_TICK:
		if (status != JOBD_OK)
			log_warn("cannot record a firing of schedule '%s': %s",
			         c->name, msg);
		break;
	case CTL_RERUN:
		take_waiters(q, &w, &c->w, 1);
		if (w == NULL)
			break;
		if (status != JOBD_OK)
			pgq_fire(w, status, NULL, 0, msg);
		else if (c->status != JOBD_OK)
			pgq_fire(w, c->status, NULL, 0,
			         "no such job, or it has not failed or been "
			         "cancelled");
		else
			pgq_fire(w, JOBD_OK, &c->out, 0, NULL);
		break;
	}
	ctl_free(c);
}

/* The ends of round r were committed (or are dropped): the jobs leave the
 * live list. */
static void
ends_done(struct pgq *q, struct job *ends, bool written)
{
	pthread_mutex_lock(&q->mtx);
	for (struct job *j = ends, *next; j != NULL; j = next) {
		next = j->rnext;
		if (j->lost)
			log_job(LOG_WARN, j->rec.id, j->rec.kind,
			        ": its lease was lost (another daemon may run "
			        "it now): its end here is dropped");
		else if (!written)
			log_job(LOG_ERROR, j->rec.id, j->rec.kind,
			        ": its end (%s) could not be written and is "
			        "dropped; it runs again once its lease expires",
			        job_state_name(j->rec.state));
		else if (job_state_terminal(j->rec.state))
			metrics_job_finished(kind_intern(j->rec.kind),
			                     j->rec.state);
		pgq_live_drop(q, j);
	}
	pthread_mutex_unlock(&q->mtx);
}

/* Under mtx: everything waiting for the writer moves into round r. */
static void
take_pending(struct pgq *q, struct round *r)
{
	r->subs = q->subs;
	r->ends = q->ends;
	r->ctls = q->ctls;
	q->subs = NULL;
	q->ends = NULL;
	q->ctls = NULL;
	q->subs_tail = &q->subs;
	q->ends_tail = &q->ends;
	q->ctls_tail = &q->ctls;
}

/* Round r committed: everyone is answered. */
static void
round_done(struct pgq *q, pgstore *s, struct round *r)
{
	struct round check = {0};

	for (struct pgq_subs *g = r->subs, *next; g != NULL; g = next) {
		next = g->next;
		answer_subs(q, s, g, JOBD_OK, NULL);
	}
	ends_done(q, r->ends, true);
	for (struct pgq_ctl *c = r->ctls, *next; c != NULL; c = next) {
		next = c->next;
		answer_ctl(q, c, JOBD_OK, NULL, &check);
	}
	add_ended(&check, r->ended, r->nended);
	if (check.nended > 0 &&
	    pgq_settle(q, s, check.ended, check.nended) != JOBD_OK) {
		/* the listener looks again */
		pthread_mutex_lock(&q->mtx);
		pgq_check_locked(q, check.ended, check.nended);
		pthread_mutex_unlock(&q->mtx);
		pgq_wake_listener(q);
	}
	free(check.ended);
	r->subs = NULL;
	r->ends = NULL;
	r->ctls = NULL;
}

/* The Submits and Retries of r answered with status (the connection);
 * ends and other control ops back to the front of the queue. */
static void
round_requeue(struct pgq *q, struct round *r, int status, const char *msg)
{
	struct pgq_ctl *keep = NULL, **kt = &keep;
	char why[400];

	snprintf(why, sizeof(why), "the database is unavailable: %s", msg);
	for (struct pgq_subs *g = r->subs, *next; g != NULL; g = next) {
		next = g->next;
		answer_subs(q, NULL, g, status, why);
	}
	for (struct pgq_ctl *c = r->ctls, *next; c != NULL; c = next) {
		next = c->next;
		if (c->type == CTL_RERUN) {
			answer_ctl(q, c, status, why, NULL);
			continue;
		}
		c->next = NULL;
		*kt = c;
		kt = &c->next;
	}
	pthread_mutex_lock(&q->mtx);
	if (r->ends != NULL) {
		struct job *last = r->ends;
		while (last->rnext != NULL)
			last = last->rnext;
		if ((last->rnext = q->ends) == NULL)
			q->ends_tail = &last->rnext;
		q->ends = r->ends;
	}
	if (keep != NULL) {
		if ((*kt = q->ctls) == NULL)
			q->ctls_tail = kt;
		q->ctls = keep;
	}
	pthread_mutex_unlock(&q->mtx);
	r->subs = NULL;
	r->ends = NULL;
	r->ctls = NULL;
}

/* Round r refused (not for the connection): its parts one transaction
 * each. JOBD_OK, or JOBD_UNAVAILABLE if the connection went meanwhile
 * (what is left of r requeued then). */
static int
round_split(struct pgq *q, pgstore *s, struct round *r)
{
	struct round one = {0};
	int rv;

	while (r->subs != NULL || r->ends != NULL || r->ctls != NULL) {
		memset(&one, 0, sizeof(one));
		one.ended = r->ended;
		one.capended = r->capended;
		if (r->subs != NULL) {
			one.subs = r->subs;
			r->subs = one.subs->next;
			one.subs->next = NULL;
		} else if (r->ends != NULL) {
			one.ends = r->ends;
			r->ends = one.ends->rnext;
			one.ends->rnext = NULL;
		} else {
			one.ctls = r->ctls;
			r->ctls = one.ctls->next;
			one.ctls->next = NULL;
		}
		rv = write_round(q, s, &one);
		r->ended = one.ended;
		r->capended = one.capended;
		if (rv == JOBD_OK) {
			round_done(q, s, &one);
			continue;
		}
		if (rv == JOBD_UNAVAILABLE) {
			/* put it back in front of what is left */
			if (one.subs) {
				one.subs->next = r->subs;
				r->subs = one.subs;
			} else if (one.ends) {
				one.ends->rnext = r->ends;
				r->ends = one.ends;
			} else {
				one.ctls->next = r->ctls;
				r->ctls = one.ctls;
			}
			return rv;
		}
		/* this part alone is refused: answered with its error */
		const char *msg = pgstore_errmsg(s);
		if (one.subs)
			answer_subs(q, s, one.subs, rv, msg);
		else if (one.ends) {
			log_job(LOG_ERROR, one.ends->rec.id, one.ends->rec.kind,
			        ": cannot write its end: %s", msg);
			ends_done(q, one.ends, false);
		} else {
			struct round check = {0};
			answer_ctl(q, one.ctls, rv, msg, &check);
			free(check.ended);
		}
	}
	return JOBD_OK;
}

/* Claims jobs for the free workers. */
struct running_arg {
	const struct kind_def *defs;
	size_t n;
	uint64_t *running;
};

static int
count_running(const char *kind, uint64_t n, void *arg)
{
	struct running_arg *a = arg;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->defs[i].k->name, kind) == 0)
			a->running[i] = n;
	return 0;
}

static int
claim(struct pgq *q, pgstore *s)
{
	const struct kind_def *defs;
	struct pgstore_cap *caps = NULL;
	const char **names = NULL;
	struct jobrec *recs = NULL;
	uint64_t *running = NULL;
	size_t nk, ncaps = 0, n = 0, want;
	kindset *ks;
	int rv = JOBD_OK;

	pthread_mutex_lock(&q->mtx);
	q->want_claim = false;
	if (q->draining || q->ks == NULL ||
	    q->cfg.sched.workers <= q->busy + q->nready) {
		pthread_mutex_unlock(&q->mtx);
		return JOBD_OK;
	}
	want = q->cfg.sched.workers - q->busy - q->nready;
	ks = kindset_ref(q->ks);
	pthread_mutex_unlock(&q->mtx);

	defs = kindset_all(ks, &nk);
	if (nk == 0)
		goto out;
	if ((names = calloc(nk, sizeof(*names))) == NULL ||
	    (caps = calloc(nk, sizeof(*caps))) == NULL ||
	    (running = calloc(nk, sizeof(*running))) == NULL) {
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto out;
	}
	bool limited = false;
	for (size_t i = 0; i < nk; i++) {
		names[i] = defs[i].k->name;
		limited |= defs[i].k->concurrency > 0;
	}
	if (limited) {
		struct running_arg a = {defs, nk, running};
		if ((rv = pgstore_running_by_kind(s, count_running, &a)) !=
		    JOBD_OK)
			goto out;
		for (size_t i = 0; i < nk; i++) {
			uint64_t c = defs[i].k->concurrency;
			if (c == 0)
				continue;
			caps[ncaps].kind = names[i];
			caps[ncaps].more =
			    running[i] >= c ? 0 : (uint32_t) (c - running[i]);
			ncaps++;
		}
	}
	if ((rv = pgstore_claim(s, q->node, q->lease_ms, names, nk, caps, ncaps,
	                        want, &recs, &n)) != JOBD_OK)
		goto out;
	struct job **jobs = calloc(n ? n : 1, sizeof(*jobs));
	for (size_t i = 0; jobs != NULL && i < n; i++)
		if ((jobs[i] = calloc(1, sizeof(*jobs[i]))) != NULL)
			jobs[i]->rec = recs[i];
		else
			jobrec_clear(&recs[i]); /* its lease expires */
	if (jobs == NULL)
		for (size_t i = 0; i < n; i++)
			jobrec_clear(&recs[i]);
	pthread_mutex_lock(&q->mtx);
	for (size_t i = 0; jobs != NULL && i < n; i++) {
		struct job *j = jobs[i];
		if (j == NULL)
			continue;
		if (j->rec.state == JOB_FAILED) {
			/* its input is damaged (the claim's error): it fails
			 * without running */
			pgq_live_add(q, j);
			j->rec.finished_at = pgq_wall_ms();
			pgq_end_locked(q, j);
		} else if (q->draining) {
			pgq_live_add(q, j);
			pgq_give_back(q, j);
		} else {
			pgq_ready_add(q, j);
		}
	}
	pthread_cond_broadcast(&q->work_cv);
	if (n == want)
		q->want_claim = true;
	pthread_mutex_unlock(&q->mtx);
	free(jobs);
out:
	free(recs);
	free(names);
	free(caps);
	free(running);
	kindset_unref(ks);
	return rv;
}

/* Writes the progress of the running jobs that changed; learns of
 * Cancels asked for them and of leases lost. */
struct prog {
	struct job *j;
	uint64_t id, done, total;
};

static int
flush_progress(struct pgq *q, pgstore *s)
{
	struct prog *v = NULL;
	size_t n = 0, cap = 0;
	int rv = JOBD_OK;

	pthread_mutex_lock(&q->mtx);
	for (struct job *j = q->live; j != NULL; j = j->next) {
		uint64_t d = atomic_load(&j->done), t = atomic_load(&j->total);
		if (!j->running || j->ending || j->lost ||
		    (d == j->sent_done && t == j->sent_total))
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 16;
			struct prog *nv = realloc(v, c * sizeof(*nv));
			if (nv == NULL)
				break;
			v = nv;
			cap = c;
		}
		v[n++] = (struct prog){j, j->rec.id, d, t};
	}
	pthread_mutex_unlock(&q->mtx);
	/* only this thread frees jobs (ends_done): v's pointers stay good */
	for (size_t i = 0; i < n; i++) {
		bool cancel = false;
		rv = pgstore_progress(s, q->node, v[i].id, v[i].done,
		                      v[i].total, &cancel);
		if (rv == JOBD_UNAVAILABLE)
			break;
		int none = PGQ_RUN;
		if (rv == JOBD_NOT_FOUND) {
			pthread_mutex_lock(&q->mtx);
			v[i].j->lost = true;
			pthread_mutex_unlock(&q->mtx);
			atomic_store(&v[i].j->stop, PGQ_LOST);
		} else if (rv == JOBD_OK) {
			v[i].j->sent_done = v[i].done;
			v[i].j->sent_total = v[i].total;
			if (cancel)
				atomic_compare_exchange_strong(
				    &v[i].j->stop, &none, PGQ_CANCEL);
		}
		rv = JOBD_OK;
	}
	free(v);
	return rv;
}

/* Under mtx: true if there is something for the writer now. */
static bool
has_work(struct pgq *q, bool down)
{
	if (q->writer_stop || q->subs != NULL)
		return true;
	if (down) /* ends and control ops wait for the connection */
		return false;
	return q->ends != NULL || q->ctls != NULL ||
	       (q->want_claim && !q->draining && q->ks != NULL &&
	        q->cfg.sched.workers > q->busy + q->nready);
}

static void
set_down(struct pgq *q, const char *msg)
{
	pthread_mutex_lock(&q->mtx);
	if (!atomic_load(&q->db_down))
		log_warn("database connection lost: %s; Submits are refused "
		         "until it is back",
		         msg);
	snprintf(q->down_msg, sizeof(q->down_msg), "%s", msg);
	atomic_store(&q->db_down, true);
	pthread_mutex_unlock(&q->mtx);
}

/* At stop, with no connection: whatever is left is answered or dropped. */
static void
give_up(struct pgq *q, pgstore *s)
{
	struct round r = {0};
	struct round check = {0};
	const char *msg = pgstore_errmsg(s);

	pthread_mutex_lock(&q->mtx);
	take_pending(q, &r);
	pthread_mutex_unlock(&q->mtx);
	for (struct pgq_subs *g = r.subs, *next; g != NULL; g = next) {
		next = g->next;
		answer_subs(q, NULL, g, JOBD_UNAVAILABLE,
		            "jobd is shutting down");
	}
	ends_done(q, r.ends, false);
	for (struct pgq_ctl *c = r.ctls, *next; c != NULL; c = next) {
		next = c->next;
		answer_ctl(q, c, JOBD_UNAVAILABLE, msg, &check);
	}
	free(check.ended);
}

void *
pgq_writer_main(void *arg)
{
	struct pgq *q = arg;
	pgstore *s = q->wconn;
	int64_t next_progress = pgq_mono_ms() + PGQ_POLL_MS, next_try = 0;
	int64_t backoff = PGQ_BACKOFF_MIN_MS;
	struct round r = {0};
	bool stopping;
	int rv;

	pthread_setname_np(pthread_self(), "jobd:pgwrite");
	for (;;) {
		pthread_mutex_lock(&q->mtx);
		for (;;) {
			int64_t now = pgq_mono_ms();
			bool down = atomic_load(&q->db_down);
			bool wait_conn = down && now < next_try;
			if (has_work(q, wait_conn) ||
			    (!wait_conn && now >= next_progress) ||
			    (down && !wait_conn))
				break;
			int64_t until = wait_conn ? next_try : next_progress;
			struct timespec ts =
			    clock_after(CLOCK_REALTIME, until - now);
			pthread_cond_timedwait(&q->writer_cv, &q->mtx, &ts);
		}
		stopping = q->writer_stop;
		take_pending(q, &r);
		bool claimable = q->want_claim && !q->draining;
		pthread_mutex_unlock(&q->mtx);

		if (atomic_load(&q->db_down) || !pgstore_connected(s)) {
			if (pgq_mono_ms() < next_try && !stopping) {
				round_requeue(q, &r, JOBD_UNAVAILABLE,
				              q->down_msg);
				continue;
			}
			if (pgstore_reconnect(s) != JOBD_OK) {
				set_down(q, pgstore_errmsg(s));
				next_try = pgq_mono_ms() + backoff;
				backoff = backoff * 2 > PGQ_BACKOFF_MAX_MS
				              ? PGQ_BACKOFF_MAX_MS
				              : backoff * 2;
				round_requeue(q, &r, JOBD_UNAVAILABLE,
				              pgstore_errmsg(s));
				if (stopping)
					break;
				continue;
			}
			pthread_mutex_lock(&q->mtx);
			if (atomic_load(&q->db_down))
				log_info("database connection back");
			atomic_store(&q->db_down, false);
			q->want_claim = true;
			claimable = !q->draining;
			pthread_mutex_unlock(&q->mtx);
			backoff = PGQ_BACKOFF_MIN_MS;
		}
		rv = JOBD_OK;
		if (r.subs != NULL || r.ends != NULL || r.ctls != NULL) {
			rv = write_round(q, s, &r);
			if (rv == JOBD_OK)
				round_done(q, s, &r);
			else if (rv != JOBD_UNAVAILABLE)
				rv = round_split(q, s, &r);
		}
		if (rv == JOBD_OK && claimable)
			rv = claim(q, s);
		if (rv == JOBD_OK && pgq_mono_ms() >= next_progress) {
			rv = flush_progress(q, s);
			next_progress = pgq_mono_ms() + PGQ_POLL_MS;
		}
		if (rv == JOBD_UNAVAILABLE) {
			set_down(q, pgstore_errmsg(s));
			round_requeue(q, &r, JOBD_UNAVAILABLE,
			              pgstore_errmsg(s));
			next_try = 0; /* at once, then the backoff */
			continue;
		}
		if (stopping) {
			pthread_mutex_lock(&q->mtx);
			bool empty = q->subs == NULL && q->ends == NULL &&
			             q->ctls == NULL;
			pthread_mutex_unlock(&q->mtx);
			if (empty)
				break;
		}
	}
	give_up(q, s);
	free(r.ended);
	return NULL;
}

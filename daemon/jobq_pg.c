/*
 * jobq_pg: the shared job queue (jobq.h) on PostgreSQL, for several jobd
 * daemons on one database. The database is the authority for every job:
 * ids come from its sequence, idempotency keys are unique in it, a job
 * runs where a claim wrote its owner. A daemon holds in memory only the
 * jobs it claimed (the live list: get_live answers from it, with their
 * progress) and the calls parked on jobs (Submit until its commit, Wait
 * and Cancel until the end, wherever the job runs).
 *
 * Threads, each with its own connection (pgstore.h: one thread a
 * connection):
 *   writer    (jobq_pg_writer.c) group commit: every pending Submit, end,
 *             Cancel, Pause, Retry and schedule firing in one transaction,
 *             one NOTIFY jobd_new for all the runnable jobs it made, one
 *             jobd_end naming the jobs that ended; then the Submits are
 *             answered. Then claims for the free workers (FOR UPDATE SKIP
 *             LOCKED) into the ready list that take() serves, and writes
 *             the running jobs' progress once a second (which also tells
 *             it of a Cancel whose notification was lost).
 *   listener  (jobq_pg_listen.c) LISTEN jobd_new, jobd_end, jobd_cancel;
 *             lease renewal, rescue of expired leases, the fallback poll,
 *             parked calls' deadlines, the leader lock (schedules and
 *             retention purge).
 *   readers   calls that read (lookup, list, find_key, is_live, ...) run
 *             on the caller's thread (ops.reads_block: the service's own
 *             database threads) on a connection taken from a small pool
 *             (jobq_pg_park.c); workers call take/progress/finish
 *             (jobq_pg_work.c).
 *
 * Parked calls. A Submit's waiter sits in its group (w->q points at its
 * slot there, which release() empties). A Wait's or Cancel's is parked on
 * its id (a hash of chains), in the list of all parked calls (drain) and,
 * with a deadline, in a heap. It fires when the job is seen ended: after
 * this daemon commits the end, on a jobd_end notification, or at the
 * fallback poll (the states of every parked id), each time read from the
 * database, so a reply always reports a committed end. A job that does
 * not exist answers NOT_FOUND. Waiters fire on the writer or the
 * listener (or release's and drain's caller), never with mtx held.
 *
 * Faults. When the writer loses its connection, pending and new Submits
 * are answered UNAVAILABLE (never acknowledged without a commit), while
 * ends, Cancels, Pauses and firings stay queued and are written once it
 * reconnects (with a backoff); running jobs go on and get_live still
 * answers. An end whose lease was lost meanwhile (another daemon rescued
 * the job) is dropped and logged: the job runs again there (at least
 * once). Limits that are per daemon: a kind's concurrency limit is read
 * cluster-wide at each claim (running_by_kind), so two daemons claiming at
 * the same moment may together exceed it briefly; max_queue is checked
 * by the writer inside its transaction (each group of Submits inserted
 * under a savepoint, undone when the queue has grown past it), so two
 * daemons committing at the same moment may together pass it. Stats' counts are
 * the cluster's, read when Stats asks (refresh: in full while that is cheap,
 * else the live ones, the ended ones as the listener last read them; jobs
 * waiting for a kind no daemon defines are not told apart). A claim asks only
 * for the free workers (no job waits claimed behind a busy worker), and only
 * for the kinds defined here.
 *
 * Lock: pgq.mtx only (then kindset refs, which are atomic). No pgstore
 * call is made and no waiter fires under it.
 */
#include "jobq_pg_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

/* ---- life --------------------------------------------------------------- */

static int
load_paused(const char *kind, void *arg)
{
	pgq_paused_set(arg, kind, true);
	return 0;
}

static int
pg_start(jobq *jq, uint64_t *recovered, char *err, size_t errlen)
{
	struct pgq *q = PGQ(jq);
	uint64_t requeued = 0, failed = 0, *ended = NULL;
	size_t nended = 0;
	int rv;

	*recovered = 0;
	if ((rv = pgstore_open(&q->wconn, q->url, err, errlen)) != JOBD_OK)
		return rv;
	if ((rv = pgstore_migrate(q->wconn, NULL, err, errlen)) != JOBD_OK)
		return rv;
	if ((rv = pgstore_recover_own(
	         q->wconn, q->node, q->cfg.sched.max_recoveries, &requeued,
	         &failed, &ended, &nended, pgq_count_end, NULL)) != JOBD_OK)
		goto fail;
	if (nended > 0)
		(void) pgq_notify_ids(q->wconn, PGSTORE_CHAN_END, ended,
		                      nended);
	if (requeued > 0)
		(void) pgstore_notify(q->wconn, PGSTORE_CHAN_NEW, q->node);
	free(ended);
	if (requeued + failed > 0)
		log_info("node '%s': %llu of its jobs back in the queue, %llu "
		         "failed (they were running when it stopped)",
		         q->node, (unsigned long long) requeued,
		         (unsigned long long) failed);
	*recovered = requeued;
	q->st.recovered = requeued;
	pthread_mutex_lock(&q->mtx);
	rv = pgstore_paused_load(q->wconn, load_paused, q);
	pthread_mutex_unlock(&q->mtx);
	if (rv != JOBD_OK ||
	    (rv = pgstore_counts(q->wconn, q->counts)) != JOBD_OK)
		goto fail;
	if ((rv = pgstore_open(&q->lconn, q->url, err, errlen)) != JOBD_OK)
		return rv;
	if (pipe(q->wake) != 0) {
		q->wake[0] = q->wake[1] = -1;
		snprintf(err, errlen, "cannot make a pipe: %s",
		         strerror(errno));
		return JOBD_INTERNAL;
	}
	(void) fcntl(q->wake[0], F_SETFL, O_NONBLOCK);
	(void) fcntl(q->wake[1], F_SETFL, O_NONBLOCK);
	(void) fcntl(q->wake[0], F_SETFD, FD_CLOEXEC);
	(void) fcntl(q->wake[1], F_SETFD, FD_CLOEXEC);
	q->want_claim = true;
	if ((rv = pthread_create(&q->writer, NULL, pgq_writer_main, q)) != 0) {
		snprintf(err, errlen, "cannot start a thread: %s",
		         strerror(rv));
		return JOBD_INTERNAL;
	}
	if ((rv = pthread_create(&q->listener, NULL, pgq_listener_main, q)) !=
	    0) {
		pthread_mutex_lock(&q->mtx);
		q->writer_stop = true;
		pthread_cond_signal(&q->writer_cv);
		pthread_mutex_unlock(&q->mtx);
		pthread_join(q->writer, NULL);
		snprintf(err, errlen, "cannot start a thread: %s",
		         strerror(rv));
		return JOBD_INTERNAL;
	}
	q->threads = true;
	q->started = true;
	return JOBD_OK;
fail:
	free(ended);
	snprintf(err, errlen, "%s", pgstore_errmsg(q->wconn));
	return rv;
}

static void
pg_set_kinds(jobq *jq, kindset *ks)
{
	struct pgq *q = PGQ(jq);
	kindset *old;

	pthread_mutex_lock(&q->mtx);
	old = q->ks;
	q->ks = kindset_ref(ks);
	q->want_claim = true;
	pthread_cond_signal(&q->writer_cv);
	pthread_mutex_unlock(&q->mtx);
	kindset_unref(old);
}

static kindset *
pg_kinds(jobq *jq)
{
	struct pgq *q = PGQ(jq);
	kindset *ks;

	pthread_mutex_lock(&q->mtx);
	ks = q->ks != NULL ? kindset_ref(q->ks) : NULL;
	pthread_mutex_unlock(&q->mtx);
	return ks;
}

void
pgq_give_back(struct pgq *q, struct job *j)
{
	j->rec.state = JOB_QUEUED;
	if (j->rec.attempts > 0)
		j->rec.attempts--;
	j->rec.started_at = 0;
	j->rec.not_before = 0;
	pgq_end_locked(q, j);
}

static void
pg_hurry(jobq *jq)
{
	struct pgq *q = PGQ(jq);
	pthread_mutex_lock(&q->mtx);
	q->hurry = true;
	pthread_cond_broadcast(&q->idle_cv);
	pthread_mutex_unlock(&q->mtx);
}

static void
pg_drain(jobq *jq, uint32_t grace_ms)
{
	struct pgq *q = PGQ(jq);
	struct waiter *fire = NULL, *w;
	struct timespec ts;

	pthread_mutex_lock(&q->mtx);
	q->draining = true;
	pthread_cond_broadcast(&q->work_cv);
	while (q->ready != NULL) {
		struct job *j = q->ready;
		q->ready = j->rnext;
		q->nready--;
		pgq_give_back(q, j);
	}
	q->ready_tail = &q->ready;
	while ((w = q->parked) != NULL) {
		pgq_unpark(q, w);
		w->next = fire;
		fire = w;
	}
	pthread_mutex_unlock(&q->mtx);
	pgq_fire_list(fire, JOBD_UNAVAILABLE, NULL, "jobd is shutting down");

	ts = clock_after(CLOCK_REALTIME, grace_ms);
	pthread_mutex_lock(&q->mtx);
	while (q->busy > 0 && !q->hurry)
		if (pthread_cond_timedwait(&q->idle_cv, &q->mtx, &ts) ==
		    ETIMEDOUT)
			break;
	if (q->busy > 0) {
		log_info("%s: stopping %u running jobs",
		         q->hurry ? "no more grace" : "grace period over",
		         q->busy);
		for (struct job *j = q->live; j != NULL; j = j->next)
			if (j->running) {
				int none = PGQ_RUN;
				atomic_compare_exchange_strong(&j->stop, &none,
				                               PGQ_SHUTDOWN);
			}
		while (q->busy > 0)
			pthread_cond_wait(&q->idle_cv, &q->mtx);
	}
	pthread_mutex_unlock(&q->mtx);
}

static void
pg_stop(jobq *jq)
{
	struct pgq *q = PGQ(jq);
	struct waiter *fire = NULL, *w;

	if (!q->threads)
		return;
	pthread_mutex_lock(&q->mtx);
	q->draining = true;
	q->writer_stop = true;
	pthread_cond_broadcast(&q->writer_cv);
	pthread_cond_broadcast(&q->work_cv);
	pthread_mutex_unlock(&q->mtx);
	pthread_join(q->writer, NULL); /* writes what it can, answers all */
	pthread_mutex_lock(&q->mtx);
	q->listener_stop = true;
	pthread_mutex_unlock(&q->mtx);
	pgq_wake_listener(q);
	pthread_join(q->listener, NULL);
	q->threads = false;
	/* calls parked since drain (none should be) */
	pthread_mutex_lock(&q->mtx);
	while ((w = q->parked) != NULL) {
		pgq_unpark(q, w);
		w->next = fire;
		fire = w;
	}
	pthread_mutex_unlock(&q->mtx);
	pgq_fire_list(fire, JOBD_UNAVAILABLE, NULL, "jobd is shutting down");
}

static void
pg_destroy(jobq *jq)
{
	struct pgq *q = PGQ(jq);

	if (q == NULL)
		return;
	pg_stop(jq);
	while (q->live != NULL)
		pgq_live_drop(q, q->live);
	for (struct pgq_subs *g = q->subs, *next; g != NULL; g = next) {
		next = g->next;
		for (size_t i = 0; i < g->n; i++)
			jobrec_clear(&g->recs[i]);
		free(g->recs);
		free(g->res);
		free(g);
	}
	for (struct pgq_ctl *c = q->ctls, *next; c != NULL; c = next) {
		next = c->next;
		free(c->after);
		free(c);
	}
	for (size_t i = 0; i < q->nreaders; i++)
		pgstore_close(q->readers[i]);
	free(q->readers);
	for (size_t i = 0; i < q->npaused; i++)
		free(q->paused[i]);
	free(q->paused);
	pgstore_close(q->wconn);
	pgstore_close(q->lconn);
	if (q->wake[0] >= 0) {
		close(q->wake[0]);
		close(q->wake[1]);
	}
	kindset_unref(q->ks);
	heap_fini(&q->deadlines);
	free(q->checks);
	pthread_mutex_destroy(&q->mtx);
	pthread_cond_destroy(&q->work_cv);
	pthread_cond_destroy(&q->writer_cv);
	pthread_cond_destroy(&q->idle_cv);
	free(q->url);
	free(q->node);
	free(q);
}

/* ---- calls ----------------------------------------------------------------
 */

/* Under mtx: why no Submit is taken now, or NULL. */
static const char *
refusal_locked(struct pgq *q, int *rv, char *err, size_t errlen)
{
	if (q->draining) {
		*rv = JOBD_UNAVAILABLE;
		snprintf(err, errlen, "jobd is shutting down");
		return err;
	}
	if (atomic_load(&q->db_down)) {
		*rv = JOBD_UNAVAILABLE;
		snprintf(err, errlen, "the database is unavailable: %s",
		         q->down_msg);
		return err;
	}
	return NULL;
}

static int
pg_submit_batch(jobq *jq, struct batch_job *b, size_t n, char *err,
                size_t errlen)
{
	struct pgq *q = PGQ(jq);
	struct pgq_subs *g;
	int rv = JOBD_OK;

	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;
		if (b[i].kind == NULL)
			why = "unknown kind";
		else if (b[i].rec->nparams > UINT8_MAX)
			why = "too many parameters";
		else if (b[i].rec->input_len > UINT32_MAX)
			why = "input too big";
		else if (b[i].rec->nafter > JOB_MAX_AFTER)
			why = "too many jobs to run after";
		if (why != NULL) {
			snprintf(err, errlen, "%s", why);
			return JOBD_INVALID_ARGUMENT;
		}
	}
	if ((g = calloc(1, sizeof(*g) + n * sizeof(g->w[0]))) == NULL ||
	    (g->recs = calloc(n ? n : 1, sizeof(*g->recs))) == NULL ||
	    (g->res = calloc(n ? n : 1, sizeof(*g->res))) == NULL) {
		if (g != NULL)
			free(g->recs);
		free(g);
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	pthread_mutex_lock(&q->mtx);
	if (refusal_locked(q, &rv, err, errlen) != NULL)
		goto fail;
	g->n = n;
	for (size_t i = 0; i < n; i++) {
		struct waiter *w = b[i].w;
		g->recs[i] = *b[i].rec;
		memset(b[i].rec, 0, sizeof(*b[i].rec));
		g->recs[i].state = JOB_QUEUED;
		if (g->recs[i].created_at == 0)
			g->recs[i].created_at = pgq_wall_ms();
		if (g->recs[i].nafter > 0)
			g->after = true;
		w->until = WAIT_COMMIT;
		w->id = 0;
		w->state = 0;
		w->q = (struct wq *) (void *) &g->w[i];
		g->w[i] = w;
	}
	q->st.submitted += n;
	*q->subs_tail = g;
	q->subs_tail = &g->next;
	pthread_cond_signal(&q->writer_cv);
	pthread_mutex_unlock(&q->mtx);
	return JOBD_OK;
fail:
	pthread_mutex_unlock(&q->mtx);
	free(g->recs);
	free(g->res);
	free(g);
	return rv;
}

/* A control op with room for name; NULL if out of memory. */
static struct pgq_ctl *
ctl_new(int type, const char *name)
{
	size_t len = name ? strlen(name) + 1 : 1;
	struct pgq_ctl *c = calloc(1, sizeof(*c) + len);
	if (c == NULL)
		return NULL;
	c->type = type;
	if (name != NULL)
		memcpy(c->name, name, len);
	return c;
}

/* Under mtx: c to the writer. */
static void
ctl_push(struct pgq *q, struct pgq_ctl *c)
{
	c->next = NULL;
	*q->ctls_tail = c;
	q->ctls_tail = &c->next;
	pthread_cond_signal(&q->writer_cv);
}

static int
pg_rerun(jobq *jq, struct jobrec *rec, const uint64_t *wait_for,
         size_t nwait_for, struct waiter *w, char *err, size_t errlen)
{
	struct pgq *q = PGQ(jq);
	struct pgq_ctl *c;
	int rv = JOBD_OK;

	if (rec->state != JOB_FAILED && rec->state != JOB_CANCELLED) {
		snprintf(err, errlen,
		         "job %llu has not failed or been cancelled",
		         (unsigned long long) rec->id);
		return JOBD_FAILED_PRECONDITION;
	}
	if ((c = ctl_new(CTL_RERUN, NULL)) == NULL ||
	    (nwait_for > 0 &&
	     (c->after = malloc(nwait_for * sizeof(*c->after))) == NULL)) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	c->id = rec->id;
	if (nwait_for > 0)
		memcpy(c->after, wait_for, nwait_for * sizeof(*c->after));
	c->nafter = nwait_for;
	pthread_mutex_lock(&q->mtx);
	if (refusal_locked(q, &rv, err, errlen) != NULL) {
		pthread_mutex_unlock(&q->mtx);
		free(c->after);
		free(c);
		return rv;
	}
	w->until = WAIT_COMMIT;
	w->id = rec->id;
	w->state = rec->state;
	w->q = (struct wq *) (void *) &c->w;
	c->w = w;
	ctl_push(q, c);
	pthread_mutex_unlock(&q->mtx);
	return JOBD_OK;
}

/* Wait (cancel false) or Cancel: parks w on id. */
static int
park_end(struct pgq *q, uint64_t id, struct waiter *w, bool cancel)
{
	struct pgq_ctl *c = NULL;
	struct job *j;
	int rv;

	if (cancel && (c = ctl_new(CTL_CANCEL, NULL)) == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	pthread_mutex_lock(&q->mtx);
	if (q->draining) {
		pthread_mutex_unlock(&q->mtx);
		free(c);
		return JOBD_UNAVAILABLE;
	}
	if ((rv = pgq_park_id(q, id, w)) != JOBD_OK) {
		pthread_mutex_unlock(&q->mtx);
		free(c);
		return rv;
	}
	j = pgq_live_find(q, id);
	if (cancel && j != NULL && !j->ending) {
		int none = PGQ_RUN;
		atomic_compare_exchange_strong(&j->stop, &none, PGQ_CANCEL);
	}
	if (c != NULL) {
		c->id = id;
		ctl_push(q, c);
	} else if (j == NULL) {
		/* it may have ended already, or never been */
		pgq_check_locked(q, &id, 1);
		pthread_mutex_unlock(&q->mtx);
		pgq_wake_listener(q);
		return JOBD_OK;
	}
	pthread_mutex_unlock(&q->mtx);
	return JOBD_OK;
}

static int
pg_wait(jobq *jq, uint64_t id, struct waiter *w)
{
	return park_end(PGQ(jq), id, w, false);
}

static int
pg_cancel(jobq *jq, uint64_t id, struct waiter *w)
{
	return park_end(PGQ(jq), id, w, true);
}

static bool
pg_release(jobq *jq, struct waiter *w, int status, const char *msg)
{
	struct pgq *q = PGQ(jq);

	pthread_mutex_lock(&q->mtx);
	if (w->q == NULL) {
		pthread_mutex_unlock(&q->mtx);
		return false;
	}
	if (w->q == PGQ_MARK)
		pgq_unpark(q, w);
	else {
		*(struct waiter **) (void *) w->q = NULL; /* its slot */
		w->q = NULL;
	}
	pthread_mutex_unlock(&q->mtx);
	pgq_fire(w, status, NULL, 0, msg);
	return true;
}

/* *changed is the cache's guess at once, then what the database answered,
 * set just before done() (on the writer's thread): with several daemons,
 * another may have paused or resumed the kind since the cache was read.
 * It must stay valid until done() is called, as arg does. */
static int
pg_pause(jobq *jq, const char *kind, bool pause, bool *changed,
         void (*done)(void *arg, int status, const char *msg), void *arg)
{
	struct pgq *q = PGQ(jq);
	struct pgq_ctl *c = ctl_new(CTL_PAUSE, kind);

	if (c == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	c->paused = pause;
	c->done = done;
	c->arg = arg;
	c->changed = changed; /* as arg, valid until done */
	pthread_mutex_lock(&q->mtx);
	*changed = pgq_paused_has(q, kind, NULL) != pause;
	pgq_paused_set(q, kind, pause);
	if (*changed)
		log_info("kind '%s' %s", kind, pause ? "paused" : "resumed");
	if (!pause)
		q->want_claim = true;
	ctl_push(q, c);
	pthread_mutex_unlock(&q->mtx);
	return JOBD_OK;
}

static bool
pg_paused(jobq *jq, const char *kind)
{
	struct pgq *q = PGQ(jq);
	pthread_mutex_lock(&q->mtx);
	bool yes = pgq_paused_has(q, kind, NULL);
	pthread_mutex_unlock(&q->mtx);
	return yes;
}

static void
pg_stats(jobq *jq, struct sched_stats *st)
{
	struct pgq *q = PGQ(jq);
	pthread_mutex_lock(&q->mtx);
	*st = q->st;
	memcpy(st->counts, q->counts, sizeof(st->counts));
	/* a claimed job is running as the cluster sees it, and its worker
	 * is about to take it: busy, as on the local queue, where a job is
	 * running from the moment a worker takes it */
	st->busy = q->busy + (uint32_t) q->nready;
	q->counts_asked = pgq_mono_ms();
	pthread_mutex_unlock(&q->mtx);
}

/* Stats asks: the counts read now, in full when that is cheap (a table of
 * at most PGQ_COUNTS_FRESH_ROWS jobs, or a last full count that was
 * quick), else the live ones only (the partial indexes);
 * on an error the counts last read stay. */
static void
pg_refresh(jobq *jq)
{
	struct pgq *q = PGQ(jq);
	uint64_t counts[JOB_STATE_MAX + 1];
	char err[256];
	pgstore *s;
	int rv;

	pthread_mutex_lock(&q->mtx);
	/* in full while that is cheap: a small table (whatever the load of
	 * the machine made the last count take), or a quick count */
	uint64_t rows = 0;
	for (int st = JOB_QUEUED; st <= JOB_STATE_MAX; st++)
		rows += q->counts[st];
	bool all = rows <= PGQ_COUNTS_FRESH_ROWS ||
	           q->counts_cost <= PGQ_COUNTS_FRESH_MS;
	pthread_mutex_unlock(&q->mtx);
	if ((s = pgq_reader_get(q, err, sizeof(err))) == NULL)
		return;
	int64_t t0 = pgq_mono_ms();
	rv = all ? pgstore_counts(s, counts) : pgstore_counts_live(s, counts);
	int64_t cost = pgq_mono_ms() - t0;
	pgq_reader_put(q, s, rv);
	if (rv != JOBD_OK)
		return;
	pgq_counts_keep(q, counts, all, t0, cost);
}

void
pgq_counts_keep(struct pgq *q, const uint64_t *counts, bool all, int64_t t0,
                int64_t cost)
{
	pthread_mutex_lock(&q->mtx);
	if (t0 >= q->counts_t0) { /* not older than what is kept */
		q->counts_t0 = t0;
		for (int st = JOB_QUEUED; st <= JOB_STATE_MAX; st++)
			if (all || !job_state_terminal(st))
				q->counts[st] = counts[st];
		if (all)
			q->counts_cost = cost;
	}
	pthread_mutex_unlock(&q->mtx);
}

static int
pg_get_live(jobq *jq, uint64_t id, struct jobrec *out)
{
	struct pgq *q = PGQ(jq);
	struct job *j;
	int rv = JOBD_NOT_FOUND;

	pthread_mutex_lock(&q->mtx);
	if ((j = pgq_live_find(q, id)) != NULL) {
		/* a shallow copy without the input: a worker reads j->rec
		 * without the lock, so it is never written here */
		struct jobrec brief = j->rec;
		brief.input = NULL;
		brief.input_len = 0;
		rv = jobrec_copy(out, &brief);
		out->input_len = j->rec.input_len;
		if (rv == JOBD_OK && !j->ending) {
			out->state = JOB_RUNNING;
			out->progress_done = atomic_load(&j->done);
			out->progress_total = atomic_load(&j->total);
		}
	}
	pthread_mutex_unlock(&q->mtx);
	return rv;
}

static void
pg_tick(jobq *jq, const char *name, int64_t at, uint64_t job_id)
{
	struct pgq *q = PGQ(jq);
	struct pgq_ctl *c = ctl_new(CTL_TICK, name);

	if (c == NULL) {
		log_error("out of memory recording a firing of schedule '%s'",
		          name);
		return;
	}
	c->at = at;
	c->id = job_id;
	pthread_mutex_lock(&q->mtx);
	ctl_push(q, c);
	pthread_mutex_unlock(&q->mtx);
}

void
pgq_count_end(const char *kind, int state, void *arg)
{
	(void) arg;
	metrics_job_finished(kind_intern(kind != NULL ? kind : ""), state);
}

/* The crash marks are the local queue's: leases do that here. */
static void
pg_mark(jobq *jq, uint32_t worker, uint64_t id)
{
	(void) jq;
	(void) worker;
	(void) id;
}

static bool
pg_failing(jobq *jq)
{
	return atomic_load(&PGQ(jq)->db_down);
}

static uint64_t
pg_db_bytes(jobq *jq)
{
	return atomic_load(&PGQ(jq)->db_bytes);
}

/* ---- the table ------------------------------------------------------------
 */

static const struct jobq_ops pg_ops = {
    .abi = JOBQ_ABI,
    .name = "postgresql",
    .reads_block = true,
    .start = pg_start,
    .set_kinds = pg_set_kinds,
    .kinds = pg_kinds,
    .drain = pg_drain,
    .hurry = pg_hurry,
    .stop = pg_stop,
    .destroy = pg_destroy,
    .submit_batch = pg_submit_batch,
    .rerun = pg_rerun,
    .wait = pg_wait,
    .cancel = pg_cancel,
    .release = pg_release,
    .pause = pg_pause,
    .paused = pg_paused,
    .stats = pg_stats,
    .get_live = pg_get_live,
    .is_live = pgq_is_live,
    .lookup = pgq_lookup,
    .find_key = pgq_find_key,
    .list = pgq_list,
    .paused_kinds = pgq_paused_kinds,
    .take = pgq_take,
    .job_work = pgq_job_work,
    .job_id = pgq_job_id,
    .read_input = pgq_read_input,
    .close_conn = pgq_close_conn,
    .progress = pgq_progress,
    .finish = pgq_finish,
    .leads = pgq_leads,
    .ticks_load = pgq_ticks_load,
    .tick = pg_tick,
    .mark = pg_mark,
    .failing = pg_failing,
    .refresh = pg_refresh,
    .db_bytes = pg_db_bytes,
};

int
jobq_pg_open(jobq **qp, const struct jobq_config *cfg, char *err, size_t errlen)
{
	struct pgq *q;
	char host[128];

	*qp = NULL;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		goto oom;
	q->base.ops = &pg_ops;
	q->cfg = *cfg;
	q->cfg.db = NULL;
	q->cfg.node = NULL;
	q->wake[0] = q->wake[1] = -1;
	q->lease_ms = cfg->lease_ms ? cfg->lease_ms : 30000;
	if (q->lease_ms < 300)
		q->lease_ms = 300;
	if (cfg->node != NULL && cfg->node[0] != '\0') {
		q->node = strdup(cfg->node);
	} else {
		char buf[200];
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(buf, sizeof(buf), "%s:%ld", host, (long) getpid());
		q->node = strdup(buf);
	}
	q->url = strdup(cfg->db ? cfg->db : "");
	if (q->node == NULL || q->url == NULL)
		goto oom;
	pthread_mutex_init(&q->mtx, NULL);
	pthread_cond_init(&q->work_cv, NULL);
	pthread_cond_init(&q->writer_cv, NULL);
	pthread_cond_init(&q->idle_cv, NULL);
	heap_init(&q->deadlines, pgq_wait_less, pgq_wait_setpos);
	q->ready_tail = &q->ready;
	q->ends_tail = &q->ends;
	q->subs_tail = &q->subs;
	q->ctls_tail = &q->ctls;
	*qp = &q->base;
	return JOBD_OK;
oom:
	if (q != NULL) {
		free(q->node);
		free(q->url);
		free(q);
	}
	snprintf(err, errlen, "out of memory");
	return JOBD_RESOURCE_EXHAUSTED;
}

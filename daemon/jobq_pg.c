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
 *             database threads) on a connection taken from a small pool.
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
 * against the counts last read (every poll while Stats is asked).
 *
 * Lock: pgq.mtx only (then kindset refs, which are atomic). No pgstore
 * call is made and no waiter fires under it.
 */
#include "jobq_pg_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

char pgq_parked_mark;

int64_t
pgq_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

int64_t
pgq_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* ---- parked calls ------------------------------------------------------ */

static size_t
bucket(uint64_t id)
{
	return (size_t) ((id * 0x9E3779B97F4A7C15ull) >> 54) % PGQ_BUCKETS;
}

static int
wait_less(const void *a, const void *b)
{
	return ((const struct waiter *) a)->deadline <
	       ((const struct waiter *) b)->deadline;
}

static void
wait_setpos(void *e, size_t pos)
{
	((struct waiter *) e)->hpos = pos;
}

void
pgq_fire(struct waiter *w, int status, const struct jobrec *job,
         uint64_t existing_id, const char *msg)
{
	struct jobrec brief = {0};
	if (job == NULL) {
		brief.id = w->id;
		brief.state = w->state;
		job = &brief;
	}
	w->fire(w, status, job, existing_id, msg);
}

/* Under mtx: parks w on id (WAIT_END). */
static int
park_id(struct pgq *q, uint64_t id, struct waiter *w)
{
	struct waiter **b = &q->byid[bucket(id)];

	w->id = id;
	w->state = 0;
	w->hpos = HEAP_NONE;
	if (w->deadline > 0 && heap_push(&q->deadlines, w) != 0)
		return JOBD_RESOURCE_EXHAUSTED;
	w->until = WAIT_END;
	w->q = PGQ_MARK;
	w->next = *b;
	if (*b != NULL)
		(*b)->pprev = &w->next;
	w->pprev = b;
	*b = w;
	w->anext = q->parked;
	if (q->parked != NULL)
		q->parked->apprev = &w->anext;
	w->apprev = &q->parked;
	q->parked = w;
	q->nparked++;
	return JOBD_OK;
}

void
pgq_unpark(struct pgq *q, struct waiter *w)
{
	if ((*w->pprev = w->next) != NULL)
		w->next->pprev = w->pprev;
	if ((*w->apprev = w->anext) != NULL)
		w->anext->apprev = w->apprev;
	if (w->hpos != HEAP_NONE)
		heap_remove(&q->deadlines, w->hpos);
	w->hpos = HEAP_NONE;
	w->q = NULL;
	w->next = NULL;
	q->nparked--;
}

size_t
pgq_detach_id(struct pgq *q, uint64_t id, struct waiter **list)
{
	struct waiter *w = q->byid[bucket(id)], *next;
	size_t n = 0;

	for (; w != NULL; w = next) {
		next = w->next;
		if (w->id != id)
			continue;
		pgq_unpark(q, w);
		w->next = *list;
		*list = w;
		n++;
	}
	return n;
}

static bool
parked_on(struct pgq *q, uint64_t id)
{
	for (struct waiter *w = q->byid[bucket(id)]; w != NULL; w = w->next)
		if (w->id == id)
			return true;
	return false;
}

void
pgq_wake_listener(struct pgq *q)
{
	char c = 1;
	if (q->wake[1] >= 0)
		(void) !write(q->wake[1], &c, 1);
}

void
pgq_check_locked(struct pgq *q, const uint64_t *ids, size_t n)
{
	if (q->nchecks + n > q->capchecks) {
		size_t cap = (q->nchecks + n) * 2;
		uint64_t *v = realloc(q->checks, cap * sizeof(*v));
		if (v == NULL)
			return; /* the fallback poll looks at it */
		q->checks = v;
		q->capchecks = cap;
	}
	memcpy(q->checks + q->nchecks, ids, n * sizeof(*ids));
	q->nchecks += n;
}

/* Fires the list (by next) with status, job and msg. */
static void
fire_list(struct waiter *list, int status, const struct jobrec *job,
          const char *msg)
{
	for (struct waiter *w = list, *next; w != NULL; w = next) {
		next = w->next;
		pgq_fire(w, status, job, 0, msg);
	}
}

int
pgq_settle(struct pgq *q, pgstore *s, const uint64_t *ids, size_t n)
{
	uint64_t *f;
	int *st;
	size_t m = 0;
	int rv = JOBD_OK;

	if (n == 0)
		return JOBD_OK;
	if ((f = malloc(n * sizeof(*f))) == NULL ||
	    (st = malloc(n * sizeof(*st))) == NULL) {
		free(f);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	pthread_mutex_lock(&q->mtx);
	for (size_t i = 0; i < n; i++)
		if (parked_on(q, ids[i]))
			f[m++] = ids[i];
	pthread_mutex_unlock(&q->mtx);
	if (m > 0 && (rv = pgstore_states(s, f, m, st)) != JOBD_OK)
		goto out;
	for (size_t i = 0; i < m; i++) {
		struct jobrec rec = {0};
		struct waiter *list = NULL;
		char msg[300];
		int got = JOBD_NOT_FOUND;

		if (st[i] != 0 && !job_state_terminal(st[i]))
			continue;
		if (st[i] != 0 &&
		    (got = pgstore_get(s, f[i], 0, &rec)) != JOBD_OK &&
		    got != JOBD_NOT_FOUND && got != JOBD_DATA_LOSS) {
			rv = got;
			jobrec_clear(&rec);
			goto out;
		}
		if (got == JOBD_NOT_FOUND)
			snprintf(msg, sizeof(msg), "job %llu not found",
			         (unsigned long long) f[i]);
		else
			snprintf(msg, sizeof(msg), "%s", pgstore_errmsg(s));
		pthread_mutex_lock(&q->mtx);
		pgq_detach_id(q, f[i], &list);
		pthread_mutex_unlock(&q->mtx);
		for (struct waiter *w = list; w != NULL; w = w->next)
			w->state = st[i];
		fire_list(list, got, got == JOBD_OK ? &rec : NULL, msg);
		jobrec_clear(&rec);
	}
out:
	free(f);
	free(st);
	return rv;
}

/* ---- the live list ------------------------------------------------------ */

struct job *
pgq_live_find(struct pgq *q, uint64_t id)
{
	for (struct job *j = q->live; j != NULL; j = j->next)
		if (j->rec.id == id)
			return j;
	return NULL;
}

void
pgq_live_drop(struct pgq *q, struct job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		q->live = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	kindset_unref(j->ks);
	jobrec_clear(&j->rec);
	free(j);
}

void
pgq_live_add(struct pgq *q, struct job *j)
{
	j->q = q;
	j->prev = NULL;
	j->next = q->live;
	if (q->live != NULL)
		q->live->prev = j;
	q->live = j;
}

void
pgq_ready_add(struct pgq *q, struct job *j)
{
	pgq_live_add(q, j);
	j->rnext = NULL;
	*q->ready_tail = j;
	q->ready_tail = &j->rnext;
	q->nready++;
}

void
pgq_end_locked(struct pgq *q, struct job *j)
{
	j->ending = true;
	j->rnext = NULL;
	*q->ends_tail = j;
	q->ends_tail = &j->rnext;
	q->want_claim = true;
	pthread_cond_signal(&q->writer_cv);
}

/* ---- the paused kinds (a cache) ---------------------------------------- */

static bool
paused_has(struct pgq *q, const char *kind, size_t *at)
{
	for (size_t i = 0; i < q->npaused; i++)
		if (strcmp(q->paused[i], kind) == 0) {
			if (at != NULL)
				*at = i;
			return true;
		}
	return false;
}

void
pgq_paused_set(struct pgq *q, const char *kind, bool paused)
{
	size_t at;
	if (paused && !paused_has(q, kind, NULL)) {
		char **v = realloc(q->paused, (q->npaused + 1) * sizeof(*v));
		char *name = strdup(kind);
		if (v != NULL)
			q->paused = v;
		if (v == NULL || name == NULL) {
			free(name);
			return;
		}
		q->paused[q->npaused++] = name;
	} else if (!paused && paused_has(q, kind, &at)) {
		free(q->paused[at]);
		q->paused[at] = q->paused[--q->npaused];
	}
}

/* ---- readers ------------------------------------------------------------ */

pgstore *
pgq_reader_get(struct pgq *q, char *err, size_t errlen)
{
	pgstore *s = NULL;

	pthread_mutex_lock(&q->mtx);
	if (q->nreaders > 0)
		s = q->readers[--q->nreaders];
	pthread_mutex_unlock(&q->mtx);
	if (s != NULL)
		return s;
	if (pgstore_open(&s, q->url, err, errlen) != JOBD_OK)
		return NULL;
	return s;
}

void
pgq_reader_put(struct pgq *q, pgstore *s, int rv)
{
	if (rv == JOBD_UNAVAILABLE || !pgstore_connected(s)) {
		pgstore_close(s);
		return;
	}
	pthread_mutex_lock(&q->mtx);
	if (q->nreaders == q->capreaders) {
		size_t cap = q->capreaders ? q->capreaders * 2 : 4;
		pgstore **v = realloc(q->readers, cap * sizeof(*v));
		if (v == NULL) {
			pthread_mutex_unlock(&q->mtx);
			pgstore_close(s);
			return;
		}
		q->readers = v;
		q->capreaders = cap;
	}
	q->readers[q->nreaders++] = s;
	pthread_mutex_unlock(&q->mtx);
}

/* ---- life --------------------------------------------------------------- */

int
pgq_notify_ids(pgstore *s, const char *chan, const uint64_t *ids, size_t n)
{
	char buf[7900];
	size_t len = 0;
	int rv = JOBD_OK;

	for (size_t i = 0; i < n && rv == JOBD_OK; i++) {
		len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s%llu",
		                         len ? "," : "",
		                         (unsigned long long) ids[i]);
		if (len > sizeof(buf) - 32 || i + 1 == n) {
			rv = pgstore_notify(s, chan, buf);
			len = 0;
		}
	}
	return rv;
}

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
	if ((rv = pgstore_recover_own(q->wconn, q->node,
	                              q->cfg.sched.max_recoveries, &requeued,
	                              &failed, &ended, &nended)) != JOBD_OK)
		goto fail;
	if (nended > 0)
		(void) pgq_notify_ids(q->wconn, PGSTORE_CHAN_END, ended, nended);
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
	fire_list(fire, JOBD_UNAVAILABLE, NULL, "jobd is shutting down");

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
	fire_list(fire, JOBD_UNAVAILABLE, NULL, "jobd is shutting down");
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

/* ---- calls ---------------------------------------------------------------- */

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
	uint64_t waiting;
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
	waiting = q->counts[JOB_QUEUED] + q->counts[JOB_SCHEDULED];
	if (refusal_locked(q, &rv, err, errlen) != NULL)
		goto fail;
	if (q->cfg.sched.max_queue > 0 &&
	    waiting + n > q->cfg.sched.max_queue) {
		snprintf(err, errlen, "queue is full (%llu jobs waiting)",
		         (unsigned long long) waiting);
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto fail;
	}
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
	q->counts[JOB_QUEUED] += n; /* until the next count */
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
		snprintf(err, errlen, "job %llu has not failed or been cancelled",
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
	if ((rv = park_id(q, id, w)) != JOBD_OK) {
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
	pthread_mutex_lock(&q->mtx);
	*changed = paused_has(q, kind, NULL) != pause;
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
	bool yes = paused_has(q, kind, NULL);
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
	st->busy = q->busy;
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
		uint8_t *input = j->rec.input;
		j->rec.input = NULL;
		size_t len = j->rec.input_len;
		j->rec.input_len = 0;
		rv = jobrec_copy(out, &j->rec);
		j->rec.input = input;
		j->rec.input_len = len;
		out->input_len = len;
		if (rv == JOBD_OK && !j->ending) {
			out->state = JOB_RUNNING;
			out->progress_done = atomic_load(&j->done);
			out->progress_total = atomic_load(&j->total);
		}
	}
	pthread_mutex_unlock(&q->mtx);
	return rv;
}

static bool
pg_is_live(jobq *jq, uint64_t id, int *status)
{
	struct pgq *q = PGQ(jq);
	char err[256];
	pgstore *s;
	int st = 0, rv;

	if ((s = pgq_reader_get(q, err, sizeof(err))) == NULL) {
		*status = JOBD_UNAVAILABLE;
		return false;
	}
	rv = pgstore_states(s, &id, 1, &st);
	pgq_reader_put(q, s, rv);
	*status = rv;
	return rv == JOBD_OK && st != 0 && !job_state_terminal(st);
}

/* ---- reads --------------------------------------------------------------- */

static int
pg_lookup(jobq *jq, uint64_t id, struct jobrec *out, char *err,
          size_t errlen)
{
	struct pgq *q = PGQ(jq);
	pgstore *s;
	int rv;

	if ((s = pgq_reader_get(q, err, errlen)) == NULL)
		return JOBD_UNAVAILABLE;
	if ((rv = pgstore_get(s, id, 0, out)) != JOBD_OK &&
	    rv != JOBD_NOT_FOUND)
		snprintf(err, errlen, "%s", pgstore_errmsg(s));
	pgq_reader_put(q, s, rv);
	return rv;
}

static int
pg_find_key(jobq *jq, const char *key, struct jobrec *out, char *err,
            size_t errlen)
{
	struct pgq *q = PGQ(jq);
	uint64_t id;
	pgstore *s;
	int rv;

	if ((s = pgq_reader_get(q, err, errlen)) == NULL)
		return JOBD_UNAVAILABLE;
	if ((rv = pgstore_find_key(s, key, &id)) == JOBD_OK)
		rv = pgstore_get(s, id, 0, out);
	if (rv != JOBD_OK && rv != JOBD_NOT_FOUND)
		snprintf(err, errlen, "%s", pgstore_errmsg(s));
	pgq_reader_put(q, s, rv);
	return rv;
}

static int
pg_list(jobq *jq, const struct store_filter *f, struct jobrec **out,
        size_t *n, char *err, size_t errlen)
{
	struct pgq *q = PGQ(jq);
	pgstore *s;
	int rv;

	*out = NULL;
	*n = 0;
	if ((s = pgq_reader_get(q, err, errlen)) == NULL)
		return JOBD_UNAVAILABLE;
	if ((rv = pgstore_list(s, f, out, n)) != JOBD_OK)
		snprintf(err, errlen, "%s", pgstore_errmsg(s));
	pgq_reader_put(q, s, rv);
	return rv;
}

struct names {
	char **v;
	size_t n;
};

static int
add_name(const char *kind, void *arg)
{
	struct names *a = arg;
	char **v = realloc(a->v, (a->n + 1) * sizeof(*v));
	if (v == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	a->v = v;
	if ((v[a->n] = strdup(kind)) == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	a->n++;
	return 0;
}

static int
pg_paused_kinds(jobq *jq, char ***names, size_t *n)
{
	struct pgq *q = PGQ(jq);
	struct names a = {NULL, 0};
	char err[256];
	pgstore *s;
	int rv;

	if ((s = pgq_reader_get(q, err, sizeof(err))) == NULL)
		return JOBD_UNAVAILABLE;
	rv = pgstore_paused_load(s, add_name, &a);
	pgq_reader_put(q, s, rv);
	if (rv != JOBD_OK) {
		for (size_t i = 0; i < a.n; i++)
			free(a.v[i]);
		free(a.v);
		a.v = NULL;
		a.n = 0;
	}
	*names = a.v;
	*n = a.n;
	return rv;
}

/* ---- workers -------------------------------------------------------------- */

static struct job *
pg_take(jobq *jq)
{
	struct pgq *q = PGQ(jq);
	const struct kind_def *def;
	struct job *j;

	pthread_mutex_lock(&q->mtx);
	for (;;) {
		while (!q->draining && q->ready == NULL)
			pthread_cond_wait(&q->work_cv, &q->mtx);
		if (q->draining) {
			pthread_mutex_unlock(&q->mtx);
			return NULL;
		}
		j = q->ready;
		if ((q->ready = j->rnext) == NULL)
			q->ready_tail = &q->ready;
		q->nready--;
		q->want_claim = true;
		int stop = atomic_load(&j->stop);
		def = q->ks ? kindset_find(q->ks, j->rec.kind) : NULL;
		if (stop == PGQ_LOST) {
			j->lost = true;
			pgq_end_locked(q, j);
		} else if (stop == PGQ_CANCEL) {
			/* cancelled before it started */
			j->rec.state = JOB_CANCELLED;
			free(j->rec.error);
			j->rec.error = strdup("cancelled");
			j->rec.finished_at = pgq_wall_ms();
			pgq_end_locked(q, j);
		} else if (def == NULL) {
			/* its kind went away since the claim */
			pgq_give_back(q, j);
		} else {
			break;
		}
	}
	j->ks = kindset_ref(q->ks);
	j->def = def;
	j->running = true;
	j->deadline =
	    j->rec.timeout_ms ? pgq_mono_ms() + j->rec.timeout_ms : 0;
	q->busy++;
	pthread_mutex_unlock(&q->mtx);
	return j;
}

static void
pg_job_work(const struct job *j, struct sched_work *out)
{
	out->id = j->rec.id;
	out->attempt = j->rec.attempts;
	out->kind = j->def;
	out->params = j->rec.params;
	out->nparams = j->rec.nparams;
	out->input_len = j->rec.input_len;
	out->loaded = false; /* the claim checked the input's checksum */
	out->progress_arg = (void *) j;
}

static uint64_t
pg_job_id(const struct job *j)
{
	return j->rec.id;
}

/* The input came with the claim (checked against its checksum there):
 * handed over, not read again. */
static int
pg_read_input(jobq *jq, void **conn, const struct sched_work *w,
              uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	struct pgq *q = PGQ(jq);
	struct job *j = w->progress_arg;

	(void) conn;
	pthread_mutex_lock(&q->mtx);
	*buf = j->rec.input;
	*len = j->rec.input_len;
	j->rec.input = NULL;
	pthread_mutex_unlock(&q->mtx);
	if (*buf == NULL && *len > 0) {
		snprintf(err, errlen, "the input of job %llu was read already",
		         (unsigned long long) w->id);
		return JOBD_INTERNAL;
	}
	return JOBD_OK;
}

static void
pg_close_conn(jobq *jq, void *conn)
{
	(void) jq;
	(void) conn;
}

static int
pg_progress(void *arg, uint64_t done, uint64_t total)
{
	struct job *j = arg;

	sched_yield(); /* as sched_progress: the front first */
	atomic_store_explicit(&j->done, done, memory_order_relaxed);
	atomic_store_explicit(&j->total, total, memory_order_relaxed);
	if (atomic_load_explicit(&j->stop, memory_order_relaxed) != PGQ_RUN)
		return 1;
	if (j->deadline != 0 && pgq_mono_ms() >= j->deadline) {
		int none = PGQ_RUN;
		atomic_compare_exchange_strong(&j->stop, &none, PGQ_TIMEOUT);
		return 1;
	}
	return 0;
}

static int64_t
backoff(const struct pgq *q, uint32_t attempts)
{
	int64_t d = q->cfg.sched.backoff_ms;
	for (uint32_t i = 1; i < attempts && d < PGQ_BACKOFF_CAP_MS; i++)
		d *= 2;
	return d < PGQ_BACKOFF_CAP_MS ? d : PGQ_BACKOFF_CAP_MS;
}

static void
set_error(struct jobrec *r, const char *msg)
{
	free(r->error);
	r->error = msg ? strdup(msg) : NULL;
}

static void
pg_finish(jobq *jq, struct job *j, int outcome, uint8_t *result,
          size_t result_len, const char *error)
{
	struct pgq *q = PGQ(jq);
	struct jobrec *r = &j->rec;
	int stop = atomic_load(&j->stop);
	int64_t now = pgq_wall_ms();
	char msg[300];

	pthread_mutex_lock(&q->mtx);
	q->busy--;
	j->running = false;
	kindset_unref(j->ks);
	j->ks = NULL;
	j->def = NULL;
	r->progress_done = atomic_load(&j->done);
	r->progress_total = atomic_load(&j->total);
	if (outcome == JOBD_RUN_OK && r->progress_total > 0)
		r->progress_done = r->progress_total;
	if (outcome == JOBD_RUN_STOPPED && stop == PGQ_TIMEOUT) {
		snprintf(msg, sizeof(msg), "timed out after %u ms",
		         r->timeout_ms);
		error = msg;
		outcome = JOBD_RUN_FAILED;
	}
	if (stop == PGQ_LOST) {
		j->lost = true;
	} else if (outcome == JOBD_RUN_OK) {
		free(r->result);
		r->result = result;
		r->result_len = result_len;
		result = NULL;
		set_error(r, NULL);
		r->state = JOB_SUCCEEDED;
		r->finished_at = now;
	} else if (outcome == JOBD_RUN_FAILED ||
	           outcome == JOBD_RUN_FAILED_FINAL) {
		set_error(r, error && *error ? error : "failed");
		if (outcome == JOBD_RUN_FAILED &&
		    r->attempts < r->max_attempts) {
			r->state = JOB_QUEUED;
			r->not_before = now + backoff(q, r->attempts);
			q->st.retried++;
			log_job(LOG_DEBUG, r->id, r->kind,
			        " failed (attempt %u of %u), retrying: %s",
			        r->attempts, r->max_attempts, r->error);
		} else {
			r->state = JOB_FAILED;
			r->finished_at = now;
			log_job(LOG_INFO, r->id, r->kind,
			        " failed after %u attempt%s: %s", r->attempts,
			        r->attempts == 1 ? "" : "s", r->error);
		}
	} else if (stop == PGQ_CANCEL) {
		set_error(r, "cancelled");
		r->state = JOB_CANCELLED;
		r->finished_at = now;
	} else {
		/* shutdown: back to the queue, the attempt not counted */
		r->state = JOB_QUEUED;
		if (r->attempts > 0)
			r->attempts--;
		r->started_at = 0;
		r->not_before = 0;
	}
	free(result);
	pgq_end_locked(q, j);
	if (q->busy == 0)
		pthread_cond_broadcast(&q->idle_cv);
	pthread_mutex_unlock(&q->mtx);
}

/* ---- periodic schedules ------------------------------------------------ */

static bool
pg_leads(jobq *jq)
{
	struct pgq *q = PGQ(jq);
	pthread_mutex_lock(&q->mtx);
	bool yes = q->leading;
	pthread_mutex_unlock(&q->mtx);
	return yes;
}

static int
pg_ticks_load(jobq *jq,
              int (*fn)(const char *name, int64_t at, uint64_t job_id,
                        void *arg),
              void *arg, char *err, size_t errlen)
{
	struct pgq *q = PGQ(jq);
	pgstore *s;
	int rv;

	if ((s = pgq_reader_get(q, err, errlen)) == NULL)
		return JOBD_UNAVAILABLE;
	if ((rv = pgstore_ticks_load(s, fn, arg)) != JOBD_OK)
		snprintf(err, errlen, "%s", pgstore_errmsg(s));
	pgq_reader_put(q, s, rv);
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

/* ---- the table ------------------------------------------------------------ */

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
    .is_live = pg_is_live,
    .lookup = pg_lookup,
    .find_key = pg_find_key,
    .list = pg_list,
    .paused_kinds = pg_paused_kinds,
    .take = pg_take,
    .job_work = pg_job_work,
    .job_id = pg_job_id,
    .read_input = pg_read_input,
    .close_conn = pg_close_conn,
    .progress = pg_progress,
    .finish = pg_finish,
    .leads = pg_leads,
    .ticks_load = pg_ticks_load,
    .tick = pg_tick,
};

int
jobq_pg_open(jobq **qp, const struct jobq_config *cfg, char *err,
             size_t errlen)
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
	heap_init(&q->deadlines, wait_less, wait_setpos);
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

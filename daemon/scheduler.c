/*
 * scheduler (sched_): the in-memory life of jobs.
 *
 * A job is created by Submit as `pending` (in the tables, not yet on disk,
 * invisible to every query). When the writer reports its insert committed,
 * it becomes acknowledged: it joins the run queue and the Submit is
 * answered. A worker takes it (queued -> running, written behind: a crash
 * before that write only means the attempt is not counted), runs it, and
 * hands back an outcome: success, failure (retried after a backoff while
 * attempts remain: the job waits in `delayed`), or stopped (cancel, timeout,
 * shutdown). A terminal state is written through the writer, and only once
 * it is committed are the parked Wait and Cancel calls answered and the job
 * dropped from memory; from then on the database answers for it.
 *
 * What must reach the disk before anything is acknowledged: a new job
 * (Submit's reply) and a terminal state (Wait's and Cancel's replies). What
 * need not: the move to running, progress, and a retry's re-queue; after a
 * crash, recovery turns `running` back into `queued`, so every acknowledged
 * job runs at least once more.
 *
 * Threads: the front (request handlers), N workers, the writer thread
 * (completions) and one timer thread (retry backoffs, Wait deadlines,
 * retention purges). One mutex, `mtx`, guards everything here except a
 * running job's progress and stop flag, which are atomics so that a busy job
 * never takes the lock to report progress.
 *
 * Order of writes. The writes of one job must reach the writer in the order
 * they were made, or a late one overwrites a newer state on disk: a retry's
 * re-queue that arrived after the next attempt's end left the job `queued`
 * in the database and gone from memory. A job changes hands between threads
 * (a worker re-queues it, another takes or a Cancel ends it), so an update
 * is handed to the writer before mtx is released (submit_locked), and the
 * writer keeps the order it was given. Inserts and purges, one per job or
 * none, are submitted after mtx is released.
 *
 * Lock order: sched.mtx, then writer.mtx. writer_submit() calls done() at
 * once, on the caller's thread, once writer_stop() has begun, and
 * update_done() takes mtx: updates are made only while workers run or a
 * Cancel is served, all of which end (sched_drain, then the pool's join)
 * before the daemon stops the writer. Waiters are fired without mtx.
 */
#include "scheduler.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "heap.h"
#include "log.h"

#define BACKOFF_CAP_MS (5 * 60 * 1000)
#define PURGE_EVERY_MS (10 * 60 * 1000)

enum stop_reason { STOP_NONE = 0, STOP_CANCEL, STOP_TIMEOUT, STOP_SHUTDOWN };
enum job_where { IN_NONE = 0, IN_RUNQ, IN_DELAYED };

struct job {
	struct jobrec rec;
	const struct kind *kind;
	sched *s;
	struct job *id_next;
	struct job *key_next;
	struct waiter *waiters;
	size_t hpos;
	uint64_t seq;
	int64_t deadline; /* running: CLOCK_MONOTONIC ms, 0 = none */
	uint32_t pending_writes;
	uint8_t where;
	bool committed; /* its insert is on disk */
	bool ended;     /* its terminal state is on disk */
	atomic_int stop;
	atomic_uint_fast64_t done;
	atomic_uint_fast64_t total;
};

/* A writer op on behalf of a job. */
struct jop {
	struct writer_op op;
	struct job *job;
	sched *s;
};

struct sched {
	pthread_mutex_t mtx;
	pthread_cond_t work_cv;  /* workers: the run queue changed */
	pthread_cond_t timer_cv; /* timer: an earlier deadline, or stop */
	pthread_cond_t idle_cv;  /* drain: a running job ended */
	pthread_t timer;
	writer *w;
	struct sched_config cfg;

	struct job **ids;  /* chained by id_next */
	struct job **keys; /* chained by key_next */
	size_t nbuckets;
	size_t njobs;

	struct heap runq;    /* acknowledged queued jobs, best first */
	struct heap delayed; /* queued jobs waiting out a backoff */
	struct heap waits;   /* parked waiters with a deadline */

	uint64_t next_id;
	uint64_t seq;
	uint64_t nqueued; /* queued, pending included: for max_queue */
	struct sched_stats st;
	int64_t next_purge;
	bool draining;
	bool timer_stop;
};

int64_t
sched_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t
sched_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

/* ---- tables ---------------------------------------------------------- */

static size_t
id_bucket(const sched *s, uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t) id & (s->nbuckets - 1);
}

static size_t
key_bucket(const sched *s, const char *key)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *key; key++)
		h = (h ^ (unsigned char) *key) * 1099511628211ULL;
	return (size_t) (h ^ (h >> 32)) & (s->nbuckets - 1);
}

static void
table_link(sched *s, struct job *j)
{
	size_t b = id_bucket(s, j->rec.id);
	j->id_next = s->ids[b];
	s->ids[b] = j;
	if (j->rec.idem_key != NULL) {
		b = key_bucket(s, j->rec.idem_key);
		j->key_next = s->keys[b];
		s->keys[b] = j;
	}
}

static int
table_grow(sched *s)
{
	size_t old = s->nbuckets, n = old ? old * 2 : 1024;
	struct job **ids = calloc(n, sizeof(*ids));
	struct job **keys = calloc(n, sizeof(*keys));
	if (ids == NULL || keys == NULL) {
		free(ids);
		free(keys);
		return -1;
	}
	struct job **oids = s->ids;
	free(s->keys);
	s->ids = ids;
	s->keys = keys;
	s->nbuckets = n;
	for (size_t i = 0; i < old; i++) {
		for (struct job *j = oids[i], *next; j != NULL; j = next) {
			next = j->id_next;
			table_link(s, j);
		}
	}
	free(oids);
	return 0;
}

static int
table_add(sched *s, struct job *j)
{
	if (s->njobs >= s->nbuckets && table_grow(s) != 0)
		return -1;
	table_link(s, j);
	s->njobs++;
	return 0;
}

static struct job *
table_find(const sched *s, uint64_t id)
{
	struct job *j = s->ids[id_bucket(s, id)];
	while (j != NULL && j->rec.id != id)
		j = j->id_next;
	return j;
}

static struct job *
table_find_key(const sched *s, const char *key)
{
	struct job *j = s->keys[key_bucket(s, key)];
	while (j != NULL && strcmp(j->rec.idem_key, key) != 0)
		j = j->key_next;
	return j;
}

static void
table_remove(sched *s, struct job *j)
{
	struct job **pp = &s->ids[id_bucket(s, j->rec.id)];
	while (*pp != j)
		pp = &(*pp)->id_next;
	*pp = j->id_next;
	if (j->rec.idem_key != NULL) {
		pp = &s->keys[key_bucket(s, j->rec.idem_key)];
		while (*pp != j)
			pp = &(*pp)->key_next;
		*pp = j->key_next;
	}
	s->njobs--;
}

/* ---- heaps ----------------------------------------------------------- */

static int
runq_less(const void *a, const void *b)
{
	const struct job *x = a, *y = b;
	if (x->rec.priority != y->rec.priority)
		return x->rec.priority > y->rec.priority;
	return x->seq < y->seq;
}

static int
delayed_less(const void *a, const void *b)
{
	return ((const struct job *) a)->rec.not_before <
	       ((const struct job *) b)->rec.not_before;
}

static void
job_setpos(void *e, size_t pos)
{
	((struct job *) e)->hpos = pos;
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

/* Puts an acknowledged queued job where it belongs: the run queue, or the
 * delayed queue while its backoff lasts. */
static void
enqueue(sched *s, struct job *j)
{
	if (j->rec.not_before > sched_wall_ms()) {
		if (heap_push(&s->delayed, j) == 0) {
			j->where = IN_DELAYED;
			pthread_cond_signal(&s->timer_cv);
			return;
		}
	}
	j->seq = s->seq++;
	if (heap_push(&s->runq, j) != 0) {
		/* out of memory: it stays queued on disk and in memory, and
		 * runs after the next restart */
		log_error("out of memory queueing job %llu",
		          (unsigned long long) j->rec.id);
		return;
	}
	j->where = IN_RUNQ;
	pthread_cond_signal(&s->work_cv);
}

static void
dequeue(sched *s, struct job *j)
{
	if (j->where == IN_RUNQ)
		heap_remove(&s->runq, j->hpos);
	else if (j->where == IN_DELAYED)
		heap_remove(&s->delayed, j->hpos);
	j->where = IN_NONE;
}

/* ---- state ----------------------------------------------------------- */

static void
set_state(sched *s, struct job *j, int state)
{
	if (j->committed) {
		s->st.counts[j->rec.state]--;
		s->st.counts[state]++;
	}
	if (j->rec.state == JOB_QUEUED)
		s->nqueued--;
	if (state == JOB_QUEUED)
		s->nqueued++;
	j->rec.state = state;
}

static void
set_error(struct job *j, const char *msg)
{
	free(j->rec.error);
	j->rec.error = msg ? strdup(msg) : NULL;
}

/* A copy of the job for a reply: everything but the input bytes. */
static void
snapshot(const struct job *j, struct jobrec *out)
{
	struct jobrec tmp = j->rec;
	tmp.input = NULL;
	tmp.input_len = 0;
	if (jobrec_copy(out, &tmp) != JOBD_OK) {
		/* out of memory: the reply carries at least id and state */
		memset(out, 0, sizeof(*out));
		out->id = j->rec.id;
		out->state = j->rec.state;
	}
	out->input_len = j->rec.input_len;
	if (j->rec.state == JOB_RUNNING) {
		out->progress_done = atomic_load(&j->done);
		out->progress_total = atomic_load(&j->total);
	}
}

static void
job_free(struct job *j)
{
	jobrec_clear(&j->rec);
	free(j);
}

/* ---- waiters --------------------------------------------------------- */

/* Unparks w (under mtx) and appends it to *list, to be fired after the
 * lock is released. */
static void
unpark(sched *s, struct waiter *w, int status, struct job *j, const char *msg,
       struct waiter **list)
{
	if (w->hpos != HEAP_NONE)
		heap_remove(&s->waits, w->hpos);
	w->status = status;
	if (j != NULL)
		snapshot(j, &w->snap);
	else
		memset(&w->snap, 0, sizeof(w->snap));
	snprintf(w->msg, sizeof(w->msg), "%s", msg ? msg : "");
	w->next = *list;
	*list = w;
}

static void
fire_all(struct waiter *list)
{
	while (list != NULL) {
		struct waiter *w = list;
		struct jobrec snap = w->snap;
		list = w->next;
		uint64_t existing = w->existing ? snap.id : 0;
		if (w->status == JOBD_ALREADY_EXISTS)
			existing = w->snap.id;
		w->fire(w, w->status, &snap, existing, w->msg);
		jobrec_clear(&snap);
	}
}

static int
park(sched *s, struct job *j, struct waiter *w)
{
	w->job = j;
	w->hpos = HEAP_NONE;
	w->existing = false;
	if (w->deadline != 0) {
		if (heap_push(&s->waits, w) != 0)
			return JOBD_RESOURCE_EXHAUSTED;
		pthread_cond_signal(&s->timer_cv);
	}
	w->next = j->waiters;
	j->waiters = w;
	return JOBD_OK;
}

/* Unparks every waiter of j waiting for `until` (or all if 0). */
static void
unpark_job(sched *s, struct job *j, int until, int status, const char *msg,
           struct waiter **list)
{
	struct waiter **pp = &j->waiters;
	while (*pp != NULL) {
		struct waiter *w = *pp;
		if (until == 0 || w->until == until) {
			*pp = w->next;
			unpark(s, w, status, j, msg, list);
		} else {
			pp = &w->next;
		}
	}
}

static void
maybe_free(sched *s, struct job *j)
{
	if (j->ended && j->pending_writes == 0 && j->waiters == NULL) {
		table_remove(s, j);
		job_free(j);
	}
}

/* ---- writes ---------------------------------------------------------- */

static void update_done(struct writer_op *op);

/* An update op carrying j's mutable fields as they are now. */
static struct jop *
update_op(sched *s, struct job *j)
{
	struct jop *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	struct jobrec *r = &p->op.rec;
	r->id = j->rec.id;
	r->state = j->rec.state;
	r->attempts = j->rec.attempts;
	r->progress_done = j->rec.state == JOB_RUNNING ? atomic_load(&j->done)
	                                               : j->rec.progress_done;
	r->progress_total = j->rec.state == JOB_RUNNING ? atomic_load(&j->total)
	                                                : j->rec.progress_total;
	r->started_at = j->rec.started_at;
	r->finished_at = j->rec.finished_at;
	r->not_before = j->rec.not_before;
	if (j->rec.result_len > 0) {
		if ((r->result = malloc(j->rec.result_len)) == NULL) {
			free(p);
			return NULL;
		}
		memcpy(r->result, j->rec.result, j->rec.result_len);
		r->result_len = j->rec.result_len;
	}
	if (j->rec.error != NULL && (r->error = strdup(j->rec.error)) == NULL) {
		jobrec_clear(r);
		free(p);
		return NULL;
	}
	p->op.type = WOP_UPDATE;
	p->op.done = update_done;
	p->job = j;
	p->s = s;
	j->pending_writes++;
	return p;
}

/* Hands an update of a job to the writer, under mtx: see "Order of
 * writes" at the top. */
static void
submit_locked(sched *s, struct jop *p)
{
	if (p != NULL)
		writer_submit(s->w, &p->op);
}

static void
update_done(struct writer_op *op)
{
	struct jop *p = (struct jop *) op;
	sched *s = p->s;
	struct job *j = p->job;
	struct waiter *fire = NULL;

	pthread_mutex_lock(&s->mtx);
	j->pending_writes--;
	if (op->status == JOBD_OK && job_state_terminal(op->rec.state)) {
		j->ended = true;
		unpark_job(s, j, WAIT_END, JOBD_OK, NULL, &fire);
	}
	maybe_free(s, j);
	pthread_mutex_unlock(&s->mtx);
	fire_all(fire);
	jobrec_clear(&op->rec);
	free(p);
}

static void
insert_done(struct writer_op *op)
{
	struct jop *p = (struct jop *) op;
	sched *s = p->s;
	struct job *j = p->job;
	struct waiter *fire = NULL;

	pthread_mutex_lock(&s->mtx);
	if (op->status == JOBD_OK) {
		j->committed = true;
		s->st.counts[JOB_QUEUED]++;
		s->st.submitted++;
		if (!s->draining)
			enqueue(s, j);
		unpark_job(s, j, WAIT_COMMIT, JOBD_OK, NULL, &fire);
	} else {
		/* not acknowledged: it never existed */
		s->nqueued--;
		unpark_job(s, j, 0, op->status, op->errmsg, &fire);
		for (struct waiter *w = fire; w != NULL; w = w->next)
			w->snap.id = op->existing_id;
		table_remove(s, j);
		job_free(j);
	}
	pthread_mutex_unlock(&s->mtx);
	fire_all(fire);
	free(p); /* op->rec aliased the job's record */
}

static void
purge_done(struct writer_op *op)
{
	sched *s = op->arg;
	if (op->status == JOBD_OK) {
		/* the database's counts when the purge committed, plus the jobs
		 * whose end was not yet in it (they were counted when they
		 * ended in memory) */
		pthread_mutex_lock(&s->mtx);
		for (int st = JOB_SUCCEEDED; st <= JOB_CANCELLED; st++)
			s->st.counts[st] = op->counts[st];
		for (size_t b = 0; b < s->nbuckets; b++)
			for (struct job *j = s->ids[b]; j; j = j->id_next)
				if (j->committed && !j->ended &&
				    job_state_terminal(j->rec.state))
					s->st.counts[j->rec.state]++;
		pthread_mutex_unlock(&s->mtx);
		if (op->purged > 0)
			log_info("purged %llu finished jobs past retention",
			         (unsigned long long) op->purged);
	}
	free(op);
}

/* ---- timer thread ---------------------------------------------------- */

static void
timer_tick(sched *s, struct waiter **fire, struct writer_op **purge)
{
	int64_t wall = sched_wall_ms(), mono = sched_mono_ms();
	struct job *j;
	struct waiter *w;

	while ((j = heap_top(&s->delayed)) != NULL &&
	       j->rec.not_before <= wall) {
		heap_pop(&s->delayed);
		j->where = IN_NONE;
		if (!s->draining)
			enqueue(s, j);
	}
	while ((w = heap_top(&s->waits)) != NULL && w->deadline <= mono) {
		struct job *wj = w->job;
		struct waiter **pp = &wj->waiters;
		while (*pp != w)
			pp = &(*pp)->next;
		*pp = w->next;
		unpark(s, w, JOBD_DEADLINE_EXCEEDED, wj, NULL, fire);
		maybe_free(s, wj);
	}
	if (mono >= s->next_purge) {
		s->next_purge = mono + PURGE_EVERY_MS;
		struct writer_op *op = calloc(1, sizeof(*op));
		if (op != NULL) {
			op->type = WOP_PURGE;
			op->purge_before = wall - s->cfg.retention_ms;
			op->done = purge_done;
			op->arg = s;
			*purge = op;
		}
	}
}

static void *
timer_main(void *arg)
{
	sched *s = arg;

	pthread_mutex_lock(&s->mtx);
	while (!s->timer_stop) {
		struct waiter *fire = NULL;
		struct writer_op *purge = NULL;
		timer_tick(s, &fire, &purge);
		if (fire != NULL || purge != NULL) {
			pthread_mutex_unlock(&s->mtx);
			fire_all(fire);
			if (purge != NULL)
				writer_submit(s->w, purge);
			pthread_mutex_lock(&s->mtx);
			continue;
		}
		/* sleep until the earliest thing due */
		int64_t mono = sched_mono_ms(), until = s->next_purge;
		struct job *j = heap_top(&s->delayed);
		struct waiter *w = heap_top(&s->waits);
		if (j != NULL) {
			int64_t d = j->rec.not_before - sched_wall_ms();
			if (mono + d < until)
				until = mono + d;
		}
		if (w != NULL && w->deadline < until)
			until = w->deadline;
		if (until > mono + 60000)
			until = mono + 60000;
		if (until <= mono)
			continue;
		struct timespec ts = {until / 1000, (until % 1000) * 1000000L};
		pthread_cond_timedwait(&s->timer_cv, &s->mtx, &ts);
	}
	pthread_mutex_unlock(&s->mtx);
	return NULL;
}

/* ---- life ------------------------------------------------------------ */

int
sched_create(sched **sp, writer *w, const struct sched_config *cfg)
{
	pthread_condattr_t ca;
	sched *s;

	*sp = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	if (table_grow(s) != 0) {
		free(s);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	s->w = w;
	s->cfg = *cfg;
	s->next_id = 1;
	/* the first purge soon after start, then every PURGE_EVERY_MS; none
	 * when finished jobs are kept forever */
	s->next_purge =
	    cfg->retention_ms > 0 ? sched_mono_ms() + 2000 : INT64_MAX;
	pthread_mutex_init(&s->mtx, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	pthread_cond_init(&s->idle_cv, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->timer_cv, &ca);
	pthread_condattr_destroy(&ca);
	heap_init(&s->runq, runq_less, job_setpos);
	heap_init(&s->delayed, delayed_less, job_setpos);
	heap_init(&s->waits, wait_less, wait_setpos);
	if (pthread_create(&s->timer, NULL, timer_main, s) != 0) {
		s->timer_stop = true; /* nothing to join */
		sched_destroy(s);
		return JOBD_INTERNAL;
	}
	*sp = s;
	return JOBD_OK;
}

struct load_ctx {
	sched *s;
	uint64_t failed;
	struct jop *ops; /* unknown kinds, failed at load */
};

static int
load_one(const struct jobrec *r, void *arg)
{
	struct load_ctx *lc = arg;
	sched *s = lc->s;
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL || jobrec_copy(&j->rec, r) != JOBD_OK) {
		free(j);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	j->s = s;
	j->hpos = HEAP_NONE;
	j->committed = true;
	atomic_store(&j->done, 0);
	atomic_store(&j->total, 0);
	if (table_add(s, j) != 0) {
		job_free(j);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	s->nqueued++;
	j->kind = kind_find(j->rec.kind);
	if (j->kind == NULL) {
		/* a database from a build with other kinds */
		char msg[160];
		snprintf(msg, sizeof(msg), "unknown kind '%.60s'", j->rec.kind);
		set_error(j, msg);
		set_state(s, j, JOB_FAILED);
		j->rec.finished_at = sched_wall_ms();
		struct jop *p = update_op(s, j);
		if (p != NULL) {
			p->op.next = (struct writer_op *) lc->ops;
			lc->ops = p;
		}
		lc->failed++;
		return 0;
	}
	enqueue(s, j);
	return 0;
}

int
sched_load(sched *s, store *db, uint64_t *recovered, char *err, size_t errlen)
{
	struct load_ctx lc = {s, 0, NULL};
	uint64_t max_id;
	int rv;

	*recovered = 0;
	if ((rv = store_recover(db, recovered)) != JOBD_OK ||
	    (rv = store_max_id(db, &max_id)) != JOBD_OK ||
	    (rv = store_counts(db, s->st.counts)) != JOBD_OK) {
		snprintf(err, errlen, "%s", store_errmsg(db));
		return rv;
	}
	pthread_mutex_lock(&s->mtx);
	s->next_id = max_id + 1;
	s->st.recovered = *recovered;
	rv = store_scan(db, JOB_QUEUED, load_one, &lc);
	pthread_mutex_unlock(&s->mtx);
	while (lc.ops != NULL) {
		struct jop *p = lc.ops;
		lc.ops = (struct jop *) p->op.next;
		writer_submit(s->w, &p->op);
	}
	if (rv != JOBD_OK) {
		snprintf(err, errlen, "cannot load queued jobs: %s",
		         rv == JOBD_RESOURCE_EXHAUSTED ? "out of memory"
		                                       : store_errmsg(db));
		return rv;
	}
	if (lc.failed > 0)
		log_warn(
		    "%llu queued jobs have a kind this jobd does not know; "
		    "marked failed",
		    (unsigned long long) lc.failed);
	return JOBD_OK;
}

/* Stops the timer thread and waits for it; does nothing the second time. */
static void
timer_halt(sched *s)
{
	pthread_mutex_lock(&s->mtx);
	bool join = !s->timer_stop;
	s->timer_stop = true;
	pthread_cond_signal(&s->timer_cv);
	pthread_mutex_unlock(&s->mtx);
	if (join)
		pthread_join(s->timer, NULL);
}

void
sched_destroy(sched *s)
{
	if (s == NULL)
		return;
	timer_halt(s);
	for (size_t i = 0; i < s->nbuckets; i++) {
		for (struct job *j = s->ids[i], *next; j != NULL; j = next) {
			next = j->id_next;
			job_free(j);
		}
	}
	free(s->ids);
	free(s->keys);
	heap_fini(&s->runq);
	heap_fini(&s->delayed);
	heap_fini(&s->waits);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->timer_cv);
	pthread_cond_destroy(&s->idle_cv);
	pthread_mutex_destroy(&s->mtx);
	free(s);
}

/* ---- calls ----------------------------------------------------------- */

/* Under mtx: true if rec's key belongs to a live job (the same Submit
 * again: a client retry, a re-send); w is then parked on that job (or put
 * on *fire at once if it is committed) and rec is cleared. */
static bool
submit_existing(sched *s, struct jobrec *rec, struct waiter *w,
                struct waiter **fire)
{
	struct job *j;

	if (rec->idem_key == NULL ||
	    (j = table_find_key(s, rec->idem_key)) == NULL)
		return false;
	(void) park(s, j, w); /* w has no deadline: cannot fail */
	w->existing = true;
	if (j->committed) {
		j->waiters = w->next;
		unpark(s, w, JOBD_OK, j, NULL, fire);
	}
	jobrec_clear(rec);
	return true;
}

/* A new job's memory, allocated before anything changes. */
struct fresh {
	struct job *j;
	struct jop *p;
};

static void
fresh_free(struct fresh *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].j);
		free(f[i].p);
	}
	free(f);
}

/* Under mtx: room in the tables and memory for n new jobs, or NULL. */
static struct fresh *
fresh_alloc(sched *s, size_t n)
{
	struct fresh *f = calloc(n ? n : 1, sizeof(*f));
	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if ((f[i].j = calloc(1, sizeof(*f[i].j))) == NULL ||
		    (f[i].p = calloc(1, sizeof(*f[i].p))) == NULL) {
			fresh_free(f, n);
			return NULL;
		}
	}
	while (s->njobs + n > s->nbuckets) {
		if (table_grow(s) != 0) {
			fresh_free(f, n);
			return NULL;
		}
	}
	return f;
}

/* Under mtx: a new pending job from rec (taken) in f's memory, with w
 * parked until its insert commits. Returns the insert op, for the writer. */
static struct writer_op *
submit_new(sched *s, struct fresh *f, struct jobrec *rec, const struct kind *k,
           struct waiter *w)
{
	struct job *j = f->j;
	struct jop *p = f->p;

	j->rec = *rec;
	memset(rec, 0, sizeof(*rec));
	j->rec.id = s->next_id++;
	j->rec.state = JOB_QUEUED;
	j->rec.created_at = sched_wall_ms();
	j->kind = k;
	j->s = s;
	j->hpos = HEAP_NONE;
	table_link(s, j); /* fresh_alloc made room */
	s->njobs++;
	s->nqueued++;
	(void) park(s, j, w); /* no deadline: cannot fail */
	p->op.type = WOP_INSERT;
	p->op.rec = j->rec; /* aliases: the record is immutable until then */
	p->op.done = insert_done;
	p->job = j;
	p->s = s;
	return &p->op;
}

int
sched_submit(sched *s, struct jobrec *rec, const struct kind *k,
             struct waiter *w, char *err, size_t errlen)
{
	struct batch_job b = {rec, k, w};
	return sched_submit_batch(s, &b, 1, err, errlen);
}

int
sched_submit_batch(sched *s, struct batch_job *b, size_t n, char *err,
                   size_t errlen)
{
	struct waiter *fire = NULL;
	struct writer_op *ops = NULL, **tail = &ops;
	struct fresh *f = NULL;
	size_t nnew = 0, used = 0;
	int rv = JOBD_OK;

	pthread_mutex_lock(&s->mtx);
	if (s->draining) {
		snprintf(err, errlen, "jobd is shutting down");
		rv = JOBD_UNAVAILABLE;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (b[i].rec->idem_key == NULL ||
		    table_find_key(s, b[i].rec->idem_key) == NULL)
			nnew++;
	if (s->cfg.max_queue > 0 && s->nqueued + nnew > s->cfg.max_queue) {
		if (n == 1)
			snprintf(err, errlen,
			         "queue is full (%llu jobs waiting)",
			         (unsigned long long) s->nqueued);
		else
			snprintf(err, errlen,
			         "queue has no room for %zu more jobs (%llu "
			         "waiting, at most %llu)",
			         nnew, (unsigned long long) s->nqueued,
			         (unsigned long long) s->cfg.max_queue);
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto out;
	}
	if ((f = fresh_alloc(s, nnew)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto out;
	}
	/* From here nothing fails. A key twice in the batch: the second
	 * finds the first (pending) and waits for it, so it may take less
	 * than was counted. */
	for (size_t i = 0; i < n; i++) {
		if (submit_existing(s, b[i].rec, b[i].w, &fire))
			continue;
		*tail = submit_new(s, &f[used++], b[i].rec, b[i].kind, b[i].w);
		tail = &(*tail)->next;
	}
	for (size_t i = used; i < nnew; i++) {
		free(f[i].j);
		free(f[i].p);
	}
	free(f);
out:
	pthread_mutex_unlock(&s->mtx);
	fire_all(fire);
	if (ops != NULL)
		writer_submit_group(s->w, ops);
	return rv;
}

/* The live acknowledged job `id`, or NULL. A job whose end is on disk is
 * answered from the database. Under mtx. */
static struct job *
live(sched *s, uint64_t id)
{
	struct job *j = table_find(s, id);
	return j != NULL && j->committed && !j->ended ? j : NULL;
}

int
sched_get(sched *s, uint64_t id, struct jobrec *out)
{
	struct job *j;
	int rv = JOBD_NOT_FOUND;

	pthread_mutex_lock(&s->mtx);
	if ((j = live(s, id)) != NULL) {
		snapshot(j, out);
		rv = JOBD_OK;
	}
	pthread_mutex_unlock(&s->mtx);
	return rv;
}

bool
sched_is_live(sched *s, uint64_t id)
{
	pthread_mutex_lock(&s->mtx);
	bool yes = live(s, id) != NULL;
	pthread_mutex_unlock(&s->mtx);
	return yes;
}

int
sched_wait(sched *s, uint64_t id, struct waiter *w)
{
	struct job *j;
	int rv;

	pthread_mutex_lock(&s->mtx);
	if ((j = live(s, id)) == NULL)
		rv = JOBD_NOT_FOUND;
	else if (s->draining)
		rv = JOBD_UNAVAILABLE;
	else
		rv = park(s, j, w);
	pthread_mutex_unlock(&s->mtx);
	return rv;
}

int
sched_cancel(sched *s, uint64_t id, struct waiter *w)
{
	struct jop *p = NULL;
	struct job *j;
	int rv;

	pthread_mutex_lock(&s->mtx);
	if ((j = live(s, id)) == NULL) {
		rv = JOBD_NOT_FOUND;
		goto out;
	}
	if (s->draining) {
		rv = JOBD_UNAVAILABLE;
		goto out;
	}
	if ((rv = park(s, j, w)) != JOBD_OK)
		goto out;
	if (j->rec.state == JOB_QUEUED) {
		dequeue(s, j);
		set_state(s, j, JOB_CANCELLED);
		set_error(j, "cancelled");
		j->rec.finished_at = sched_wall_ms();
		p = update_op(s, j);
	} else if (j->rec.state == JOB_RUNNING) {
		int none = STOP_NONE;
		atomic_compare_exchange_strong(&j->stop, &none, STOP_CANCEL);
	}
	/* else it has ended; w fires when that is on disk */
out:
	submit_locked(s, p);
	pthread_mutex_unlock(&s->mtx);
	return rv;
}

static int
cmp_id_desc(const void *a, const void *b)
{
	uint64_t x = ((const struct jobrec *) a)->id;
	uint64_t y = ((const struct jobrec *) b)->id;
	return x < y ? 1 : x > y ? -1 : 0;
}

int
sched_list(sched *s, const struct store_filter *f, struct jobrec **out,
           size_t *n)
{
	struct jobrec *v = NULL;
	size_t nv = 0, cap = 0;
	int rv = JOBD_OK;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&s->mtx);
	for (size_t b = 0; b < s->nbuckets && rv == JOBD_OK; b++) {
		for (struct job *j = s->ids[b]; j != NULL; j = j->id_next) {
			if (!j->committed || j->ended ||
			    (f->state && j->rec.state != f->state) ||
			    (f->kind && strcmp(f->kind, j->rec.kind) != 0) ||
			    (f->before && j->rec.id >= f->before))
				continue;
			if (nv == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct jobrec *nvv =
				    realloc(v, nc * sizeof(*v));
				if (nvv == NULL) {
					rv = JOBD_RESOURCE_EXHAUSTED;
					break;
				}
				v = nvv;
				cap = nc;
			}
			snapshot(j, &v[nv]);
			free(v[nv].result); /* lists carry no results */
			v[nv].result = NULL;
			v[nv].result_len = 0;
			nv++;
		}
	}
	pthread_mutex_unlock(&s->mtx);
	if (rv != JOBD_OK) {
		for (size_t i = 0; i < nv; i++)
			jobrec_clear(&v[i]);
		free(v);
		return rv;
	}
	if (nv > 1)
		qsort(v, nv, sizeof(*v), cmp_id_desc);
	while (nv > f->limit)
		jobrec_clear(&v[--nv]);
	*out = v;
	*n = nv;
	return JOBD_OK;
}

void
sched_stats(sched *s, struct sched_stats *st)
{
	pthread_mutex_lock(&s->mtx);
	*st = s->st;
	pthread_mutex_unlock(&s->mtx);
}

/* ---- workers --------------------------------------------------------- */

struct job *
sched_take(sched *s)
{
	struct job *j;

	pthread_mutex_lock(&s->mtx);
	while (!s->draining && s->runq.n == 0)
		pthread_cond_wait(&s->work_cv, &s->mtx);
	if (s->draining) {
		pthread_mutex_unlock(&s->mtx);
		return NULL;
	}
	j = heap_pop(&s->runq);
	j->where = IN_NONE;
	set_state(s, j, JOB_RUNNING);
	j->rec.attempts++;
	j->rec.started_at = sched_wall_ms();
	j->rec.finished_at = 0;
	j->rec.not_before = 0;
	atomic_store(&j->done, 0);
	atomic_store(&j->total, 0);
	atomic_store(&j->stop, STOP_NONE);
	j->deadline =
	    j->rec.timeout_ms ? sched_mono_ms() + j->rec.timeout_ms : 0;
	s->st.busy++;
	submit_locked(s, update_op(s, j));
	pthread_mutex_unlock(&s->mtx);
	return j;
}

const struct jobrec *
sched_job_rec(const struct job *j)
{
	return &j->rec;
}

const struct kind *
sched_job_kind(const struct job *j)
{
	return j->kind;
}

int
sched_progress(void *arg, uint64_t done, uint64_t total)
{
	struct job *j = arg;

	atomic_store_explicit(&j->done, done, memory_order_relaxed);
	atomic_store_explicit(&j->total, total, memory_order_relaxed);
	if (atomic_load_explicit(&j->stop, memory_order_relaxed) != STOP_NONE)
		return 1;
	if (j->deadline != 0 && sched_mono_ms() >= j->deadline) {
		int none = STOP_NONE;
		atomic_compare_exchange_strong(&j->stop, &none, STOP_TIMEOUT);
		return 1;
	}
	return 0;
}

static int64_t
backoff(const sched *s, uint32_t attempts)
{
	int64_t d = s->cfg.backoff_ms;
	for (uint32_t i = 1; i < attempts && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	return d < BACKOFF_CAP_MS ? d : BACKOFF_CAP_MS;
}

void
sched_finish(sched *s, struct job *j, int outcome, uint8_t *result,
             size_t result_len, const char *error)
{
	char msg[300];
	int stop = atomic_load(&j->stop);
	int64_t now = sched_wall_ms();

	pthread_mutex_lock(&s->mtx);
	s->st.busy--;
	j->rec.progress_done = atomic_load(&j->done);
	j->rec.progress_total = atomic_load(&j->total);
	if (outcome == KIND_OK && j->rec.progress_total > 0)
		j->rec.progress_done = j->rec.progress_total;
	if (outcome == KIND_STOPPED && stop == STOP_TIMEOUT) {
		snprintf(msg, sizeof(msg), "timed out after %u ms",
		         j->rec.timeout_ms);
		error = msg;
		outcome = KIND_FAILED;
	}
	if (outcome == KIND_OK) {
		free(j->rec.result);
		j->rec.result = result;
		j->rec.result_len = result_len;
		result = NULL;
		set_error(j, NULL);
		set_state(s, j, JOB_SUCCEEDED);
		j->rec.finished_at = now;
	} else if (outcome == KIND_FAILED) {
		set_error(j, error && *error ? error : "failed");
		if (j->rec.attempts < j->rec.max_attempts) {
			set_state(s, j, JOB_QUEUED);
			j->rec.not_before = now + backoff(s, j->rec.attempts);
			s->st.retried++;
			log_debug(
			    "job %llu failed (attempt %u of %u), retrying: "
			    "%s",
			    (unsigned long long) j->rec.id, j->rec.attempts,
			    j->rec.max_attempts, j->rec.error);
			if (!s->draining)
				enqueue(s, j);
		} else {
			set_state(s, j, JOB_FAILED);
			j->rec.finished_at = now;
			log_info("job %llu (%s) failed after %u attempt%s: %s",
			         (unsigned long long) j->rec.id, j->rec.kind,
			         j->rec.attempts,
			         j->rec.attempts == 1 ? "" : "s", j->rec.error);
		}
	} else if (stop == STOP_CANCEL) {
		set_error(j, "cancelled");
		set_state(s, j, JOB_CANCELLED);
		j->rec.finished_at = now;
	} else {
		/* shutdown: not the job's fault; back to queued for the next
		 * start, the attempt not counted */
		set_state(s, j, JOB_QUEUED);
		j->rec.attempts--;
		j->rec.started_at = 0;
	}
	free(result);
	submit_locked(s, update_op(s, j));
	if (s->st.busy == 0)
		pthread_cond_broadcast(&s->idle_cv);
	pthread_mutex_unlock(&s->mtx);
}

/* ---- shutdown -------------------------------------------------------- */

static void
stop_running(sched *s)
{
	for (size_t b = 0; b < s->nbuckets; b++)
		for (struct job *j = s->ids[b]; j != NULL; j = j->id_next)
			if (j->rec.state == JOB_RUNNING)
				atomic_store(&j->stop, STOP_SHUTDOWN);
}

void
sched_drain(sched *s, uint32_t grace_ms)
{
	struct waiter *fire = NULL;
	struct timespec ts;

	pthread_mutex_lock(&s->mtx);
	s->draining = true;
	pthread_cond_broadcast(&s->work_cv);
	for (size_t b = 0; b < s->nbuckets; b++)
		for (struct job *j = s->ids[b]; j != NULL; j = j->id_next)
			unpark_job(s, j, WAIT_END, JOBD_UNAVAILABLE,
			           "jobd is shutting down", &fire);
	pthread_mutex_unlock(&s->mtx);
	fire_all(fire);

	ts = clock_after(CLOCK_REALTIME, grace_ms);
	pthread_mutex_lock(&s->mtx);
	while (s->st.busy > 0) {
		if (pthread_cond_timedwait(&s->idle_cv, &s->mtx, &ts) ==
		    ETIMEDOUT)
			break;
	}
	if (s->st.busy > 0) {
		log_info("grace period over: stopping %u running jobs",
		         s->st.busy);
		stop_running(s);
		while (s->st.busy > 0)
			pthread_cond_wait(&s->idle_cv, &s->mtx);
	}
	pthread_mutex_unlock(&s->mtx);
	/* Nothing is left for the timer (every waiter has fired, no job
	 * starts), and it must not hand the writer a purge once the writer
	 * has stopped: it goes now. */
	timer_halt(s);
}

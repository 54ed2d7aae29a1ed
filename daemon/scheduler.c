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
 * job runs at least once more; but a job found `running` at
 * cfg.max_recoveries starts is failed instead (store_recover): it may be
 * what brings jobd down.
 *
 * Memory: what is kept of a job, and what is left on disk. A daemon may
 * hold a million queued jobs, so a job in memory is what scheduling and
 * the live queries need and no more, in one allocation, `struct job`: id,
 * priority, FIFO order, state, attempts, limits, times, its kind as the
 * id of the kind's name (registry.h), its place in the tables, the heaps
 * and its list index (two words: idtree.h), its parked calls, and at its
 * end (a flexible array) the idempotency key and the params as
 * NUL-terminated strings one after the other. A queued `count n=1` job
 * with a 32-character key is one 160-byte malloc chunk on a 64-bit
 * machine, plus its share of the two bucket arrays and the run queue (8 to
 * 16 bytes each, as they are between half full and full).
 * What a job needs once it runs, the progress atomics, stop flag,
 * deadline, result, error, start and end times, pending writes and the
 * params array the kind reads, is a second allocation, `struct jobrun`,
 * made when a worker first takes the job (or a Cancel ends it queued, or
 * it is loaded with an earlier attempt's error) and kept until the job
 * leaves memory.
 *
 * The input bytes are never kept for a queued job. Until its insert
 * commits, the insert op owns the whole record, input included; from then
 * on the database has them, and the worker that takes the job reads them
 * through its own connection (pool.c; a job joins the run queue only once
 * its insert committed, so the row is there to read). A read that fails
 * (an I/O error) is a failed attempt with an error that says so ("cannot
 * read the job's input: ..."): the job is retried after the backoff while
 * attempts remain, and then ends `failed` like any failure, never silently
 * dropped. An input that does not match its checksum fails the job at
 * once (pool.c). A job loaded at start is marked JOB_LOADED: its kind and
 * params came from the disk, and the worker checks them against the
 * checksum even when it has no input to read. The start-up load is
 * schedload.c's; the types both files use are in sched_int.h.
 *
 * Kinds. The kinds come as a set (registry.h) that a reload replaces
 * (sched_set_kinds); a job names its kind by the id of the name, so a job
 * whose kind is not in the current set, because of a configuration mistake
 * or a kind file removed, is never failed for it: it stays queued, is
 * counted in Stats, and runs once its kind is back. The run queue is one
 * priority heap per kind, and a worker takes the best head among the kinds
 * that are defined and below their concurrency limit: a kind at its limit,
 * or missing, holds up no job of another kind. A worker keeps a reference
 * to the set its job started with, so a reload never frees a kind under a
 * running job; its parameters are checked against the kind as defined when
 * it starts (pool.c).
 *
 * Threads: the front (request handlers), N workers, the writer's completer
 * thread (completions: writer.c) and one timer thread (retry backoffs,
 * Wait deadlines, retention purges). One mutex, `mtx`, guards everything
 * here except a running job's progress and stop flag, which are atomics so
 * that a busy job never takes the lock to report progress.
 *
 * A job also gives up the CPU at every progress report (sched_yield; a
 * built-in kind reports every fraction of a millisecond of work:
 * kinds/builtin/; programs get timer interrupts instead: kick.c). Workers
 * run under SCHED_IDLE (pool.c), but a kernel that preempts lazily (seen
 * here: Linux 6.18, HZ=250, no forced preemption) can let a woken front
 * thread wait for the next tick, 4 ms, before it takes the CPU from a job:
 * without the yield, 1 in 100 Gets answered while every worker was busy
 * took 2 to 4 ms; with it, the busy p99 was 0.4 to 0.5 ms, for a system
 * call per report.
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
 * Parked calls. A call waiting on a job (struct waiter) is on its job's
 * queue (struct wq, doubly linked), on the list of parked Waits and
 * Cancels (for sched_drain) and, with a deadline, in the deadline heap:
 * parking it, its expiry and its release each cost O(log n), and no list
 * is ever searched. When a job's insert or its end commits, its whole
 * queue is detached from it in one step and carries what every call on it
 * is answered with: one copy of the job (struct shot), shared, however
 * many calls wait. The thread that detached it (the writer's completer)
 * then unparks the calls FIRE_BATCH at a time, takes each one out of the
 * heap, and fires each batch once mtx is released; a detached call whose
 * deadline passes meanwhile is answered with the job's end, in its group.
 * The timer and sched_drain likewise do at most FIRE_BATCH calls (and the
 * timer MOVE_BATCH retries) per hold of mtx: no hold of the lock, which
 * every request takes, grows with the number of parked calls. A waiter
 * fires exactly once, always without mtx: on the thread that unparked it.
 *
 * List. Every listed job (acknowledged, its end not on disk) is in an
 * index ordered by id, one per kind and state (struct kq's `live`), kept
 * where a job's state or flags change: set_state, insert_done, the end's
 * commit (update_done), table_remove and start-up loading. A page of List
 * walks one index from `before` down, or merges the few that its filter
 * lets through, and copies only the jobs on the page.
 *
 * Lock order: sched.mtx, then writer.mtx (then writer.dmtx, inside the
 * writer). A writer op's done() (insert_done, update_done, purge_done,
 * which take mtx) always runs on the writer's completer thread, never on
 * the thread that submitted the op, which may hold mtx: an op refused
 * because the writer is stopping goes to the completer too, and nothing
 * waits for the completer while holding mtx. Waiters are fired without
 * mtx.
 *
 * Metrics (metrics.h: atomics, no lock) are recorded under mtx where the
 * counts of Stats change, so the two agree once a client sees a change: a
 * job acknowledged (insert_done), ended (set_state), started (sched_take:
 * the time it was queued, from queued_since) and each run's time
 * (sched_finish).
 */
#include "sched_int.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "heap.h"
#include "idtree.h"
#include "log.h"
#include "metrics.h"

#define BACKOFF_CAP_MS (5 * 60 * 1000)
#define PURGE_EVERY_MS (10 * 60 * 1000)
#define FIRE_BATCH     256  /* parked calls unparked in one hold of mtx */
#define MOVE_BATCH     1024 /* retries moved to the run queue in one */

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

/* ---- jobs ------------------------------------------------------------ */

/* Queued or scheduled: acknowledged, not started, not ended. */
static bool
job_waits(int state)
{
	return state == JOB_QUEUED || state == JOB_SCHEDULED;
}

/* The name of j's kind. */
static const char *
job_kind(const struct job *j)
{
	const char *name = kind_name_of(j->kind);
	return name != NULL ? name : "?";
}

static const char *
job_key(const struct job *j)
{
	return (j->flags & JOB_HAS_KEY) ? j->data : NULL;
}

/* Where j's params begin in its data: after its keys. */
static char *
job_params_at(const struct job *j)
{
	char *p = (char *) j->data;
	if (j->flags & JOB_HAS_KEY)
		p += strlen(p) + 1;
	if (j->flags & JOB_HAS_UNIQUE)
		p += strlen(p) + 1;
	return p;
}

const char *
job_unique(const struct job *j)
{
	const char *p = j->data;
	if (!(j->flags & JOB_HAS_UNIQUE))
		return NULL;
	if (j->flags & JOB_HAS_KEY)
		p += strlen(p) + 1;
	return p;
}

static const char *
ukey_of(const void *e)
{
	return job_unique(e);
}

/* Points v[0 .. j->nparams) at j's params. */
static void
job_params(struct job *j, struct job_param *v)
{
	char *p = job_params_at(j);
	for (size_t i = 0; i < j->nparams; i++) {
		v[i].name = p;
		p += strlen(p) + 1;
		v[i].value = p;
		p += strlen(p) + 1;
	}
}

/* Where the ids j runs after begin in j->data: after the strings,
 * aligned for them; len is the strings' length. */
static size_t
after_off(size_t len)
{
	size_t at = offsetof(struct job, data) + len;
	at = (at + _Alignof(uint64_t) - 1) & ~(_Alignof(uint64_t) - 1);
	return at - offsetof(struct job, data);
}

const uint64_t *
job_after(const struct job *j)
{
	const char *p;

	if (j->nafter == 0)
		return NULL;
	p = job_params_at(j);
	for (size_t i = 0; i < 2u * j->nparams; i++)
		p += strlen(p) + 1;
	return (const uint64_t *) (const void *) (j->data +
	                                          after_off(
	                                              (size_t) (p - j->data)));
}

/* A new job holding a copy of params, key (NULL or "": none) and the ids
 * it runs after, every other field zero. NULL if out of memory. At most
 * JOB_MAX_PARAMS and JOB_MAX_AFTER. */
struct job *
job_alloc(const struct job_param *params, size_t nparams, const char *key,
          const char *unique, const uint64_t *after, size_t nafter)
{
	size_t klen = key != NULL && *key ? strlen(key) + 1 : 0;
	size_t ulen = unique != NULL && *unique ? strlen(unique) + 1 : 0;
	size_t len = klen + ulen, size;
	struct job *j;
	char *p;

	for (size_t i = 0; i < nparams; i++) {
		const char *nv[2] = {params[i].name, params[i].value};
		for (int k = 0; k < 2; k++)
			len += (nv[k] != NULL ? strlen(nv[k]) : 0) + 1;
	}
	size = offsetof(struct job, data) + len;
	if (nafter > 0)
		size = offsetof(struct job, data) + after_off(len) +
		       nafter * sizeof(uint64_t);
	if (size < sizeof(struct job))
		size = sizeof(struct job);
	if ((j = malloc(size)) == NULL)
		return NULL;
	memset(j, 0, offsetof(struct job, data));
	j->hpos = JOB_NOPOS;
	j->nparams = (uint8_t) nparams;
	j->nafter = (uint8_t) nafter;
	if (nafter > 0)
		memcpy(j->data + after_off(len), after,
		       nafter * sizeof(uint64_t));
	p = j->data;
	if (klen > 0) {
		memcpy(p, key, klen);
		p += klen;
		j->flags |= JOB_HAS_KEY;
	}
	if (ulen > 0) {
		memcpy(p, unique, ulen);
		p += ulen;
		j->flags |= JOB_HAS_UNIQUE;
	}
	for (size_t i = 0; i < nparams; i++) {
		const char *nv[2] = {params[i].name, params[i].value};
		for (int k = 0; k < 2; k++) {
			size_t l = nv[k] != NULL ? strlen(nv[k]) : 0;
			memcpy(p, nv[k] != NULL ? nv[k] : "", l + 1);
			p += l + 1;
		}
	}
	return j;
}

/* The fields a queued j takes from a Submit's or the database's record r,
 * whose kind's name has id `kind` (r's input length fits 32 bits: checked
 * by batch_refusal or kind_validate). */
void
job_fill(struct job *j, const struct jobrec *r, uint32_t kind)
{
	j->not_before = r->not_before;
	j->priority = r->priority;
	j->attempts = r->attempts;
	j->max_attempts = r->max_attempts;
	j->timeout_ms = r->timeout_ms;
	j->input_len = (uint32_t) r->input_len;
	j->kind = (uint16_t) kind;
	j->state = JOB_QUEUED;
}

/* j's run part, made on first use; NULL if out of memory. Under mtx. */
struct jobrun *
job_run(struct job *j)
{
	struct jobrun *r;

	if (j->run != NULL)
		return j->run;
	r = calloc(1, sizeof(*r) + j->nparams * sizeof(r->params[0]));
	if (r == NULL)
		return NULL;
	atomic_init(&r->stop, STOP_NONE);
	atomic_init(&r->done, 0);
	atomic_init(&r->total, 0);
	r->nparams = j->nparams;
	job_params(j, r->params);
	j->run = r;
	return r;
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->wq); /* empty: a job is freed with no call parked on it */
	if (j->run != NULL) {
		kindset_unref(j->run->ks);
		free(j->run->result);
		free(j->run->error);
		for (size_t i = 0; i < j->run->nhistory; i++)
			free(j->run->history[i].error);
		free(j->run->history);
		free(j->run);
	}
	free(j);
}

/* ---- tables ---------------------------------------------------------- */

/* Ids are handed out in sequence, so their low bits spread them evenly,
 * and jobs loaded in id order fill the buckets in memory order. */
static size_t
id_bucket(const sched *s, uint64_t id)
{
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

void
table_link(sched *s, struct job *j)
{
	size_t b = id_bucket(s, j->id);
	j->id_next = s->ids[b];
	s->ids[b] = j;
	if (job_key(j) != NULL) {
		b = key_bucket(s, job_key(j));
		j->key_next = s->keys[b];
		s->keys[b] = j;
	}
}

/* Starts fetching the key bucket j will go in: a random place in a big
 * array, which costs a cache miss that loading can overlap. */
void
table_prefetch(const sched *s, const struct job *j)
{
	if (job_key(j) != NULL)
		__builtin_prefetch(&s->keys[key_bucket(s, job_key(j))], 1);
}

/* Makes the tables hold n buckets (a power of two), rehashing. */
static int
table_resize(sched *s, size_t n)
{
	size_t old = s->nbuckets;
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

/* Room for n jobs without growing. */
int
table_reserve(sched *s, size_t n)
{
	size_t b = s->nbuckets ? s->nbuckets : 1024;
	while (b <= n && b <= SIZE_MAX / 2 / sizeof(struct job *))
		b *= 2;
	return b == s->nbuckets ? 0 : table_resize(s, b);
}

int
table_add(sched *s, struct job *j)
{
	if (s->njobs >= s->nbuckets && table_reserve(s, s->njobs) != 0)
		return -1;
	table_link(s, j);
	s->njobs++;
	return 0;
}

struct job *
table_find(const sched *s, uint64_t id)
{
	struct job *j = s->ids[id_bucket(s, id)];
	while (j != NULL && j->id != id)
		j = j->id_next;
	return j;
}

static struct job *
table_find_key(const sched *s, const char *key)
{
	struct job *j = s->keys[key_bucket(s, key)];
	while (j != NULL && strcmp(job_key(j), key) != 0)
		j = j->key_next;
	return j;
}

static void index_del(sched *s, struct job *j);
static bool listed(const struct job *j);

static void
table_remove(sched *s, struct job *j)
{
	if (listed(j))
		index_del(s, j);
	if (j->flags & JOB_HAS_UNIQUE)
		ukeys_del(&s->ukeys, j);
	struct job **pp = &s->ids[id_bucket(s, j->id)];
	while (*pp != j)
		pp = &(*pp)->id_next;
	*pp = j->id_next;
	if (job_key(j) != NULL) {
		pp = &s->keys[key_bucket(s, job_key(j))];
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
	if (x->priority != y->priority)
		return x->priority > y->priority;
	return x->seq < y->seq;
}

static int
delayed_less(const void *a, const void *b)
{
	return ((const struct job *) a)->not_before <
	       ((const struct job *) b)->not_before;
}

static void
job_setpos(void *e, size_t pos)
{
	/* a heap of jobs never reaches JOB_NOPOS: enqueue() */
	((struct job *) e)->hpos =
	    pos == HEAP_NONE ? JOB_NOPOS : (uint32_t) pos;
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

/* The run queue of kind id `kind`, made on first use; NULL when out of
 * memory. Under mtx. */
struct kq *
kq_of(sched *s, uint32_t kind)
{
	if (kind >= s->nkq) {
		size_t n = s->nkq ? s->nkq : 8;
		while (n <= kind)
			n *= 2;
		struct kq *v = realloc(s->kq, n * sizeof(*v));
		if (v == NULL)
			return NULL;
		for (size_t i = s->nkq; i < n; i++) {
			memset(&v[i], 0, sizeof(v[i]));
			heap_init(&v[i].runq, runq_less, job_setpos);
			for (int st = 0; st <= JOB_STATE_MAX; st++)
				idtree_init(&v[i].live[st], JOB_KEY_OFF);
		}
		s->kq = v;
		s->nkq = n;
	}
	return &s->kq[kind];
}

static void set_state(sched *s, struct job *j, int state);

/* Puts an acknowledged queued job where it belongs: its kind's run queue,
 * or the delayed queue while its backoff lasts. */
void
enqueue(sched *s, struct job *j)
{
	if (j->not_before != 0 && j->not_before > sched_wall_ms()) {
		if (s->delayed.n < JOB_NOPOS - 1 &&
		    heap_push(&s->delayed, j) == 0) {
			j->where = IN_DELAYED;
			set_state(s, j, JOB_SCHEDULED);
			pthread_cond_signal(&s->timer_cv);
			return;
		}
	}
	set_state(s, j, JOB_QUEUED);
	j->seq = s->seq++;
	struct kq *q = kq_of(s, j->kind);
	if (q == NULL || q->runq.n >= JOB_NOPOS - 1 ||
	    heap_push(&q->runq, j) != 0) {
		/* out of memory: it stays queued on disk and in memory, and
		 * runs after the next restart */
		log_job(LOG_ERROR, j->id, job_kind(j),
		        ": out of memory queueing it");
		return;
	}
	j->where = IN_RUNQ;
	s->nrunq++;
	pthread_cond_signal(&s->work_cv);
}

static void
dequeue(sched *s, struct job *j)
{
	if (j->where == IN_RUNQ) {
		heap_remove(&s->kq[j->kind].runq, j->hpos);
		s->nrunq--;
	} else if (j->where == IN_DELAYED)
		heap_remove(&s->delayed, j->hpos);
	j->where = IN_NONE;
}

/* ---- the list index ------------------------------------------------- */

/* True if List shows j from memory: acknowledged, its end not on disk. */
static bool
listed(const struct job *j)
{
	return (j->flags & (JOB_COMMITTED | JOB_ENDED)) == JOB_COMMITTED;
}

static struct job *
job_of_node(struct idnode *x)
{
	return (struct job *) (void *) ((char *) x -
	                                offsetof(struct job, byid));
}

/* Puts j, listed now, in its index. Its kind's kq exists: every path that
 * acknowledges a job made it first (fresh_alloc, load_link). Under mtx. */
void
index_add(sched *s, struct job *j)
{
	idtree_insert(&s->kq[j->kind].live[j->state], &j->byid);
}

static void
index_del(sched *s, struct job *j)
{
	idtree_remove(&s->kq[j->kind].live[j->state], &j->byid);
}

/* ---- state ----------------------------------------------------------- */

static void
set_state(sched *s, struct job *j, int state)
{
	if (j->flags & JOB_COMMITTED) {
		s->st.counts[j->state]--;
		s->st.counts[state]++;
		if (job_state_terminal(state) && !job_state_terminal(j->state))
			metrics_job_finished(j->kind, state);
	}
	if (job_waits(j->state))
		s->nqueued--;
	if (job_waits(state))
		s->nqueued++;
	/* an ended job's unique key is free for a new one */
	if (job_state_terminal(state) && (j->flags & JOB_HAS_UNIQUE))
		ukeys_del(&s->ukeys, j);
	if (listed(j) && j->state != state) {
		index_del(s, j);
		j->state = (uint8_t) state;
		index_add(s, j);
	}
	j->state = (uint8_t) state;
}

static void
set_error(struct jobrun *r, const char *msg)
{
	free(r->error);
	r->error = msg ? strdup(msg) : NULL;
}

/* Why queued job j does not start when a worker is free (enum job_wait).
 * Under mtx. */
static int
job_waiting(const sched *s, const struct job *j)
{
	const struct kind_def *d;

	if (j->state != JOB_QUEUED)
		return JOB_WAIT_NONE;
	if (j->nleft > 0)
		return JOB_WAIT_AFTER;
	if (j->kind < s->nkq && s->kq[j->kind].paused)
		return JOB_WAIT_PAUSED;
	if ((d = kindset_by_id(s->ks, j->kind)) == NULL)
		return JOB_WAIT_KIND_UNDEFINED;
	if (d->k->concurrency > 0 && j->kind < s->nkq &&
	    s->kq[j->kind].running >= d->k->concurrency)
		return JOB_WAIT_KIND_LIMIT;
	return JOB_WAIT_NONE;
}

/* The job as a record whose pointers point into j (params into pv, which
 * has room for j->nparams), valid while j is unchanged. Under mtx. */
static void
job_view(const sched *s, struct job *j, struct jobrec *v, struct job_param *pv)
{
	memset(v, 0, sizeof(*v));
	v->id = j->id;
	v->kind = (char *) job_kind(j);
	job_params(j, pv);
	v->params = j->nparams > 0 ? pv : NULL;
	v->nparams = j->nparams;
	v->input_len = j->input_len;
	v->priority = j->priority;
	v->state = j->state;
	v->attempts = j->attempts;
	v->max_attempts = j->max_attempts;
	v->timeout_ms = j->timeout_ms;
	v->idem_key = (char *) job_key(j);
	v->unique_key = (char *) job_unique(j);
	v->created_at = j->created_at;
	v->not_before = j->not_before;
	v->waiting = job_waiting(s, j);
	v->after = (uint64_t *) job_after(j);
	v->nafter = j->nafter;
	if (v->waiting == JOB_WAIT_AFTER) {
		/* the first it waits for that has not succeeded */
		for (size_t i = 0; i < j->nafter; i++) {
			const struct job *d = table_find(s, v->after[i]);
			if (d != NULL && d->state != JOB_SUCCEEDED) {
				v->waiting_for = d->id;
				break;
			}
		}
	}
	if (j->run != NULL) {
		v->reruns = j->run->reruns;
		v->history = j->run->history;
		v->nhistory = j->run->nhistory;
		v->progress_done = atomic_load(&j->run->done);
		v->progress_total = atomic_load(&j->run->total);
		v->result = j->run->result;
		v->result_len = j->run->result_len;
		v->error = j->run->error;
		v->started_at = j->run->started_at;
		v->finished_at = j->run->finished_at;
	}
}

/* A copy of the job for a reply: everything but the input bytes (their
 * length is there), and the result only if `result`. */
static void
snapshot(const sched *s, struct job *j, struct jobrec *out, bool result)
{
	struct job_param pv[JOB_MAX_PARAMS];
	struct jobrec v;

	job_view(s, j, &v, pv);
	if (!result) {
		v.result = NULL;
		v.result_len = 0;
	}
	if (jobrec_copy(out, &v) != JOBD_OK) {
		/* out of memory: the reply carries at least id and state */
		memset(out, 0, sizeof(*out));
		out->id = j->id;
		out->state = j->state;
	}
}

/* ---- waiters --------------------------------------------------------- */

/* A copy of j, result included, for the calls fired with it; NULL if out
 * of memory (they fire with its id and state only). Under mtx. */
static struct shot *
shot_take(const sched *s, struct job *j)
{
	struct shot *sh = malloc(sizeof(*sh));
	if (sh == NULL)
		return NULL;
	atomic_init(&sh->refs, 1);
	snapshot(s, j, &sh->rec, true);
	return sh;
}

static struct shot *
shot_ref(struct shot *sh)
{
	if (sh != NULL)
		atomic_fetch_add(&sh->refs, 1);
	return sh;
}

static void
shot_unref(struct shot *sh)
{
	if (sh != NULL && atomic_fetch_sub(&sh->refs, 1) == 1) {
		jobrec_clear(&sh->rec);
		free(sh);
	}
}

/* Takes w off the list of parked WAIT_END waiters, if it is on it. */
static void
parked_unlink(struct waiter *w)
{
	if (w->apprev == NULL)
		return;
	if ((*w->apprev = w->anext) != NULL)
		w->anext->apprev = w->apprev;
	w->apprev = NULL;
}

/*
 * Unparks w (under mtx): off its queue, the parked list and the deadline
 * heap, O(log n), and onto *list, to be fired once the lock is released,
 * with status and msg (valid until it has fired) and its job's id and
 * state.
 */
static void
unpark(sched *s, struct waiter *w, int status, const char *msg,
       struct waiter **list)
{
	struct wq *q = w->q;

	w->state = q->job != NULL ? q->job->state : q->state;
	if ((*w->pprev = w->next) != NULL)
		w->next->pprev = w->pprev;
	parked_unlink(w);
	if (w->hpos != HEAP_NONE)
		heap_remove(&s->waits, w->hpos);
	w->q = NULL; /* not parked any more: sched_release */
	w->status = status;
	w->msg = msg;
	w->shot = NULL;
	w->next = *list;
	*list = w;
}

/* Fires the waiters of list, with no sched lock held. */
static void
fire_all(struct waiter *list)
{
	while (list != NULL) {
		struct waiter *w = list;
		struct shot *sh = w->shot;
		struct jobrec brief = {0};

		list = w->next;
		brief.id = w->id;
		brief.state = w->state;
		w->fire(w, w->status, sh != NULL ? &sh->rec : &brief,
		        w->existing_id, w->msg != NULL ? w->msg : "");
		shot_unref(sh);
	}
}

/*
 * Parks w on j: a Submit's (WAIT_COMMIT) on a pending job, whose queue
 * exists (submit_new), so it cannot fail; a Wait's or Cancel's (WAIT_END)
 * on an acknowledged one: JOBD_RESOURCE_EXHAUSTED when out of memory.
 * O(log n). Under mtx.
 */
int
park(sched *s, struct job *j, struct waiter *w)
{
	struct wq *q = j->wq;

	if (q == NULL) {
		/* kept until the job ends */
		if ((q = calloc(1, sizeof(*q))) == NULL)
			return JOBD_RESOURCE_EXHAUSTED;
		q->job = j;
		j->wq = q;
	}
	w->hpos = HEAP_NONE;
	if (w->until == WAIT_END && w->deadline != 0) {
		if (heap_push(&s->waits, w) != 0)
			return JOBD_RESOURCE_EXHAUSTED;
		if (w->hpos == 0) /* the timer sleeps until a later one */
			pthread_cond_signal(&s->timer_cv);
	}
	w->q = q;
	w->id = j->id;
	w->existing_id = 0;
	w->shot = NULL;
	w->msg = NULL;
	if ((w->next = q->head) != NULL)
		w->next->pprev = &w->next;
	w->pprev = &q->head;
	q->head = w;
	w->apprev = NULL;
	if (w->until == WAIT_END) {
		if ((w->anext = s->parked) != NULL)
			w->anext->apprev = &w->anext;
		w->apprev = &s->parked;
		s->parked = w;
		/* its end may be held in the writer: somebody waits now */
		if (job_state_terminal(j->state))
			writer_hurry(s->w);
	}
	return JOBD_OK;
}

/*
 * Detaches j's queue from it, whatever the number of calls on it, with
 * what they fire with: status, msg, and (shot) one copy of j that they
 * all share. Returns the queue, for take_some and fire_group, or NULL if
 * no call was parked. Under mtx.
 */
static struct wq *
detach(sched *s, struct job *j, int status, const char *msg, bool shot)
{
	struct wq *q = j->wq;

	if (q == NULL)
		return NULL;
	j->wq = NULL;
	if (q->head == NULL) {
		free(q);
		return NULL;
	}
	q->job = NULL;
	q->status = status;
	q->msg = msg;
	q->state = status == JOBD_OK ? j->state : 0;
	q->shot = shot ? shot_take(s, j) : NULL;
	return q;
}

/* Unparks at most FIRE_BATCH calls of the detached queue q onto *list;
 * true if some are left. Under mtx. */
static bool
take_some(sched *s, struct wq *q, struct waiter **list)
{
	struct waiter *w;

	for (int n = 0; n < FIRE_BATCH && (w = q->head) != NULL; n++) {
		unpark(s, w, q->status, q->msg, list);
		w->shot = shot_ref(q->shot);
		if (q->status != JOBD_OK) /* a failed insert: no job */
			w->id = w->existing_id = q->existing_id;
	}
	return q->head != NULL;
}

/*
 * Fires the calls of the detached queue q: `list`, taken already by
 * take_some, then the rest, FIRE_BATCH per hold of mtx, each batch once the
 * lock is released; then frees q. Only this thread frees q, and only once
 * no waiter is left on it. Without mtx.
 */
static void
fire_group(sched *s, struct wq *q, struct waiter *list, bool more)
{
	fire_all(list);
	while (more) {
		list = NULL;
		pthread_mutex_lock(&s->mtx);
		more = take_some(s, q, &list);
		pthread_mutex_unlock(&s->mtx);
		fire_all(list);
	}
	shot_unref(q->shot);
	free(q);
}

static void
maybe_free(sched *s, struct job *j)
{
	if ((j->flags & JOB_ENDED) && j->wq == NULL &&
	    (j->run == NULL || j->run->pending_writes == 0)) {
		table_remove(s, j);
		job_free(j);
	}
}

/* ---- writes ---------------------------------------------------------- */

static void update_done(struct writer_op *op);

/* An update op carrying j's mutable fields as they are now; NULL if out of
 * memory. */
static struct jop *
update_op(sched *s, struct job *j)
{
	struct jobrun *run = job_run(j);
	struct jop *p;

	if (run == NULL || (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	struct jobrec *r = &p->op.rec;
	r->id = j->id;
	r->state = j->state;
	r->attempts = j->attempts;
	r->progress_done = atomic_load(&run->done);
	r->progress_total = atomic_load(&run->total);
	r->started_at = run->started_at;
	r->finished_at = run->finished_at;
	r->not_before = j->not_before;
	if (run->result_len > 0) {
		if ((r->result = malloc(run->result_len)) == NULL) {
			free(p);
			return NULL;
		}
		memcpy(r->result, run->result, run->result_len);
		r->result_len = run->result_len;
	}
	if (run->error != NULL && (r->error = strdup(run->error)) == NULL) {
		jobrec_clear(r);
		free(p);
		return NULL;
	}
	p->op.type = WOP_UPDATE;
	p->op.done = update_done;
	/* an end a Wait or Cancel is parked on is committed at once; any
	 * other update may wait for the next commit (writer.h) */
	p->op.awaited = job_state_terminal(j->state) && j->wq != NULL &&
	                j->wq->head != NULL;
	p->job = j;
	p->s = s;
	run->pending_writes++;
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

/* j waits for nothing any more (it ends, or never was): the edges of
 * the jobs it still waited for go. Under mtx. */
static void
forget_deps(sched *s, struct job *j)
{
	const uint64_t *after = job_after(j);

	if (j->nleft == 0)
		return;
	for (size_t i = 0; i < j->nafter; i++)
		deps_drop(&s->deps, after[i], j->id);
	j->nleft = 0;
}

/* Ends waiting job j as cancelled, with `why` as its error, its end
 * handed to the writer. Under mtx. */
static void
cancel_waiting(sched *s, struct job *j, const char *why)
{
	forget_deps(s, j);
	if (job_run(j) == NULL) {
		/* it stays queued in memory and on disk; the next start
		 * finds what it waits for ended and cancels it then */
		log_job(LOG_ERROR, j->id, job_kind(j),
		        ": out of memory cancelling it: %s", why);
		return;
	}
	dequeue(s, j);
	set_state(s, j, JOB_CANCELLED);
	if (j->run->error != why)
		set_error(j->run, why);
	j->run->finished_at = sched_wall_ms();
	submit_locked(s, update_op(s, j));
}

/* Job d learns that one job it waits for ended in `state` (why: "job N
 * failed", ...): one fewer to wait for if it succeeded, else d is
 * cancelled (once acknowledged, if it is not yet). Under mtx. */
void
settle(sched *s, struct job *d, int state, const char *why)
{
	/* ended meanwhile (a Cancel), or doomed already */
	if (!job_waits(d->state) || d->nleft == 0 || (d->flags & JOB_DOOMED))
		return;
	if (state == JOB_SUCCEEDED) {
		if (--d->nleft == 0 && (d->flags & JOB_COMMITTED) &&
		    !s->draining)
			enqueue(s, d);
	} else if (d->flags & JOB_COMMITTED) {
		cancel_waiting(s, d, why);
	} else if (job_run(d) != NULL) {
		/* pending: cancelled once its insert is on disk */
		set_error(d->run, why);
		d->flags |= JOB_DOOMED;
	}
}

/* The end of job j is on disk: the jobs waiting for it go on. One that
 * succeeded lets each start once nothing else holds it; one that failed
 * or was cancelled cancels each, whose own ends go on in turn once
 * written. Under mtx. */
static void
resolve(sched *s, struct job *j)
{
	struct dep_edge *e = deps_take(&s->deps, j->id), *next;
	char why[64];

	snprintf(why, sizeof(why), "job %llu %s", (unsigned long long) j->id,
	         j->state == JOB_SUCCEEDED ? "succeeded"
	         : j->state == JOB_FAILED  ? "failed"
	                                   : "was cancelled");
	for (; e != NULL; e = next) {
		struct job *d = table_find(s, e->waiter);
		next = e->next;
		free(e);
		if (d != NULL)
			settle(s, d, j->state, why);
	}
}

static void
update_done(struct writer_op *op)
{
	struct jop *p = (struct jop *) op;
	sched *s = p->s;
	struct job *j = p->job;
	struct waiter *fire = NULL;
	struct wq *q = NULL;
	bool more = false;

	pthread_mutex_lock(&s->mtx);
	j->run->pending_writes--;
	if (op->status == JOBD_OK && job_state_terminal(op->rec.state) &&
	    listed(j)) {
		/* its end is on disk: from now on the database answers */
		index_del(s, j);
		j->flags |= JOB_ENDED;
		if ((q = detach(s, j, JOBD_OK, NULL, true)) != NULL)
			more = take_some(s, q, &fire);
		resolve(s, j);
	}
	maybe_free(s, j);
	pthread_mutex_unlock(&s->mtx);
	if (q != NULL)
		fire_group(s, q, fire, more);
	jobrec_clear(&op->rec);
	free(p);
}

void
insert_done(struct writer_op *op)
{
	struct jop *p = (struct jop *) op;
	sched *s = p->s;
	struct job *j = p->job;
	struct waiter *fire = NULL;
	struct wq *q;
	bool more = false;

	pthread_mutex_lock(&s->mtx);
	if (op->status == JOBD_OK) {
		j->flags |= JOB_COMMITTED;
		s->st.counts[JOB_QUEUED]++;
		if (j->flags & JOB_RERUN)
			s->st.counts[op->run.state]--;
		else {
			s->st.submitted++;
			metrics_job_submitted(j->kind);
		}
		j->flags &= (uint8_t) ~JOB_RERUN;
		index_add(s, j);
		if (j->flags & JOB_DOOMED) {
			/* a job it runs after failed meanwhile: acknowledged
			 * (the Submit is answered with it), then cancelled */
			q = detach(s, j, JOBD_OK, NULL, true);
			cancel_waiting(s, j, j->run->error);
		} else {
			if (!s->draining && j->nleft == 0)
				enqueue(s, j);
			q = detach(s, j, JOBD_OK, NULL, true);
		}
	} else {
		/* not acknowledged: it never existed (a rerun's job stays as
		 * the database has it) */
		forget_deps(s, j);
		s->nqueued--;
		if ((q = detach(s, j, op->status, op->errmsg, false)) != NULL)
			q->existing_id = op->existing_id;
		table_remove(s, j);
		job_free(j);
	}
	if (q != NULL)
		more = take_some(s, q, &fire);
	pthread_mutex_unlock(&s->mtx);
	if (q != NULL)
		fire_group(s, q, fire, more); /* op->errmsg lives till then */
	jobrec_clear(&op->rec); /* the input with it: the database has it */
	free(p);
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
		for (int st = JOB_SUCCEEDED; st <= JOB_CANCELLED; st++) {
			s->st.counts[st] = op->counts[st];
			for (size_t k = 0; k < s->nkq; k++)
				s->st.counts[st] += s->kq[k].live[st].n;
		}
		pthread_mutex_unlock(&s->mtx);
		if (op->purged > 0)
			log_info("purged %llu finished jobs past retention",
			         (unsigned long long) op->purged);
	}
	free(op);
}

/* ---- timer thread ---------------------------------------------------- */

/*
 * What is due now, a bounded amount of it per hold of mtx: at most
 * MOVE_BATCH retries back to the run queue and FIRE_BATCH deadlines.
 * Returns true if more may be due (the thread goes on after releasing
 * the lock). Under mtx.
 */
static bool
timer_tick(sched *s, struct waiter **fire, struct writer_op **purge)
{
	int64_t wall = sched_wall_ms(), mono = sched_mono_ms();
	struct job *j;
	struct waiter *w;
	bool more;
	int n;

	for (n = 0; n < MOVE_BATCH && (j = heap_top(&s->delayed)) != NULL &&
	            j->not_before <= wall;
	     n++) {
		heap_pop(&s->delayed);
		j->where = IN_NONE;
		if (!s->draining)
			enqueue(s, j);
	}
	more = n == MOVE_BATCH;
	for (n = 0; n < FIRE_BATCH && (w = heap_top(&s->waits)) != NULL &&
	            w->deadline <= mono;
	     n++) {
		if (w->q->job == NULL) {
			/* its job's end is on disk: it fires with that, in
			 * its group (fire_group) */
			heap_pop(&s->waits);
			continue;
		}
		unpark(s, w, JOBD_DEADLINE_EXCEEDED, NULL, fire);
	}
	more = more || n == FIRE_BATCH;
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
	return more;
}

static void *
timer_main(void *arg)
{
	sched *s = arg;
	pthread_setname_np(pthread_self(), "jobd:timer"); /* top -H */

	pthread_mutex_lock(&s->mtx);
	while (!s->timer_stop) {
		struct waiter *fire = NULL;
		struct writer_op *purge = NULL;
		bool more = timer_tick(s, &fire, &purge);
		if (fire != NULL || purge != NULL || more) {
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
			int64_t d = j->not_before - sched_wall_ms();
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
	if (table_reserve(s, 0) != 0) {
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
	heap_init(&s->delayed, delayed_less, job_setpos);
	heap_init(&s->waits, wait_less, wait_setpos);
	deps_init(&s->deps);
	ukeys_init(&s->ukeys, ukey_of);
	if (pthread_create(&s->timer, NULL, timer_main, s) != 0) {
		s->timer_stop = true; /* nothing to join */
		sched_destroy(s);
		return JOBD_INTERNAL;
	}
	*sp = s;
	return JOBD_OK;
}

const char *
sched_db_path(sched *s)
{
	return s->db_path;
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
	free(s->db_path);
	for (size_t i = 0; i < s->nkq; i++)
		heap_fini(&s->kq[i].runq);
	free(s->kq);
	kindset_unref(s->ks);
	heap_fini(&s->delayed);
	heap_fini(&s->waits);
	deps_fini(&s->deps);
	ukeys_fini(&s->ukeys);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->timer_cv);
	pthread_cond_destroy(&s->idle_cv);
	pthread_mutex_destroy(&s->mtx);
	free(s);
}

/* ---- calls ----------------------------------------------------------- */

static const char *
rec_key(const struct jobrec *rec)
{
	return rec->idem_key && *rec->idem_key ? rec->idem_key : NULL;
}

/* Under mtx: the job in memory that a Submit of rec is answered with
 * instead of a new one: the holder of its idempotency key, or the live
 * holder of its unique key; NULL if none. */
static struct job *
live_twin(const sched *s, const struct jobrec *rec)
{
	const char *key = rec_key(rec);
	struct job *j;

	if (key != NULL && (j = table_find_key(s, key)) != NULL)
		return j;
	if (rec->unique_key != NULL && rec->unique_key[0] != '\0')
		return ukeys_find(&s->ukeys, rec->unique_key);
	return NULL;
}

/* Under mtx: true if rec's key belongs to a live job (the same Submit
 * again: a client retry, a re-send); w is then parked on that job if it is
 * pending, or put on *fire at once with the job as it is, and rec is
 * cleared. */
static bool
submit_existing(sched *s, struct jobrec *rec, struct waiter *w,
                struct waiter **fire)
{
	struct job *j = live_twin(s, rec);

	if (j == NULL)
		return false;
	w->until = WAIT_COMMIT;
	if (j->flags & JOB_COMMITTED) {
		w->q = NULL;
		w->id = j->id;
		w->state = j->state;
		w->status = JOBD_OK;
		w->msg = NULL;
		w->shot = shot_take(s, j);
		w->next = *fire;
		*fire = w;
	} else {
		(void) park(s, j, w); /* pending: cannot fail */
	}
	w->existing_id = j->id;
	jobrec_clear(rec);
	return true;
}

static void
edges_free(struct dep_edge *e)
{
	for (struct dep_edge *next; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
}

/* The edges for n jobs waited for, linked by next; NULL if n is 0 or out
 * of memory (*ok false then). */
static struct dep_edge *
edges_alloc(size_t n, bool *ok)
{
	struct dep_edge *head = NULL;

	*ok = true;
	for (size_t i = 0; i < n; i++) {
		struct dep_edge *e = deps_edge_new();
		if (e == NULL) {
			edges_free(head);
			*ok = false;
			return NULL;
		}
		e->next = head;
		head = e;
	}
	return head;
}

void
fresh_free(struct fresh *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].j);
		free(f[i].p);
		free(f[i].q);
		edges_free(f[i].edges);
	}
	free(f);
}

/* Links j's edges from f (one per id it waits for) into the table, which
 * has room for them. Under mtx. */
void
add_edges(sched *s, struct job *j, struct fresh *f, const uint64_t *ids,
          size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct dep_edge *e = f->edges;
		f->edges = e->next;
		deps_add(&s->deps, e, ids[i], j->id);
	}
	j->nleft = (uint8_t) n;
}

/* Under mtx: for each job of b whose key no live job holds (new[i]), its
 * memory in f[i] (the job, its insert op, its queue of parked calls); room
 * in the tables for them all, and their kinds' kq. NULL if out of
 * memory. */
struct fresh *
fresh_alloc(sched *s, const struct batch_job *b, size_t n, const bool *new,
            size_t nnew)
{
	struct fresh *f = calloc(n, sizeof(*f));
	size_t nedges = 0;
	bool ok;
	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct jobrec *r = b[i].rec;
		if (!new[i])
			continue;
		f[i].edges = edges_alloc(b[i].nwait_for, &ok);
		nedges += b[i].nwait_for;
		if (!ok ||
		    (f[i].j = job_alloc(r->params, r->nparams, rec_key(r),
		                        r->unique_key, r->after, r->nafter)) ==
		        NULL ||
		    (f[i].p = calloc(1, sizeof(*f[i].p))) == NULL ||
		    (f[i].q = calloc(1, sizeof(*f[i].q))) == NULL ||
		    kq_of(s, b[i].kind->id) == NULL) {
			fresh_free(f, n);
			return NULL;
		}
	}
	if (deps_reserve(&s->deps, nedges) != 0 ||
	    ukeys_reserve(&s->ukeys, nnew) != 0 ||
	    table_reserve(s, s->njobs + nnew) != 0) {
		fresh_free(f, n);
		return NULL;
	}
	return f;
}

/* Under mtx: a new pending job from rec (taken) in f's memory, with w
 * parked until its insert commits. Returns the insert op, for the writer. */
static struct writer_op *
submit_new(sched *s, struct fresh *f, struct batch_job *b)
{
	struct jobrec *rec = b->rec;
	const struct kind_def *k = b->kind;
	struct waiter *w = b->w;
	struct job *j = f->j;
	struct jop *p = f->p;

	j->wq = f->q;
	j->wq->job = j;
	f->j = NULL;
	f->p = NULL;
	f->q = NULL;
	job_fill(j, rec, k->id);
	j->id = s->next_id++;
	j->created_at = sched_wall_ms();
	add_edges(s, j, f, b->wait_for, b->nwait_for);
	table_link(s, j); /* fresh_alloc made room */
	if (j->flags & JOB_HAS_UNIQUE)
		ukeys_add(&s->ukeys, j);
	s->njobs++;
	s->nqueued++;
	w->until = WAIT_COMMIT;
	(void) park(s, j, w); /* its queue exists: cannot fail */
	/* the op owns the whole record, input included, until the insert is
	 * done; the job keeps only what it needs */
	p->op.type = WOP_INSERT;
	p->op.rec = *rec;
	memset(rec, 0, sizeof(*rec));
	p->op.rec.id = j->id;
	p->op.rec.state = JOB_QUEUED;
	p->op.rec.created_at = j->created_at;
	p->op.done = insert_done;
	p->job = j;
	p->s = s;
	return &p->op;
}

int
sched_submit(sched *s, struct jobrec *rec, const struct kind_def *k,
             struct waiter *w, char *err, size_t errlen)
{
	struct batch_job b = {rec, k, w, NULL, 0};
	return sched_submit_batch(s, &b, 1, err, errlen);
}

/* Why b[0..n) cannot be jobs (Submit lets none of these through), or
 * NULL. */
const char *
batch_refusal(const struct batch_job *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i].kind == NULL || b[i].kind->id >= KIND_MAX_NAMES)
			return "unknown kind";
		if (b[i].rec->nparams > JOB_MAX_PARAMS)
			return "too many parameters";
		if (b[i].rec->input_len > UINT32_MAX)
			return "input too big";
		if (b[i].rec->nafter > JOB_MAX_AFTER ||
		    b[i].nwait_for > b[i].rec->nafter)
			return "too many jobs to run after";
	}
	return NULL;
}

/* Under mtx: the first id that b[0..n) waits for which is not a live
 * job any more (it ended and left memory since the caller looked), or 0:
 * the caller looks again (JOBD_ABORTED). */
uint64_t
gone_meanwhile(sched *s, const struct batch_job *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < b[i].nwait_for; k++) {
			struct job *j = table_find(s, b[i].wait_for[k]);
			if (j == NULL || !(j->flags & JOB_COMMITTED) ||
			    (j->flags & JOB_ENDED))
				return b[i].wait_for[k];
		}
	return 0;
}

int
sched_submit_batch(sched *s, struct batch_job *b, size_t n, char *err,
                   size_t errlen)
{
	struct waiter *fire = NULL;
	struct writer_op *ops = NULL, **tail = &ops;
	struct fresh *f = NULL;
	bool one = false, *new = n == 1 ? &one : calloc(n, sizeof(*new));
	const char *why;
	size_t nnew = 0;
	uint64_t gone;
	int rv = JOBD_OK;

	if (new == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	pthread_mutex_lock(&s->mtx);
	if (s->draining) {
		snprintf(err, errlen, "jobd is shutting down");
		rv = JOBD_UNAVAILABLE;
		goto out;
	}
	if ((why = batch_refusal(b, n)) != NULL) {
		snprintf(err, errlen, "%s", why);
		rv = JOBD_INVALID_ARGUMENT;
		goto out;
	}
	if ((gone = gone_meanwhile(s, b, n)) != 0) {
		snprintf(err, errlen, "job %llu ended meanwhile",
		         (unsigned long long) gone);
		rv = JOBD_ABORTED;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		new[i] = live_twin(s, b[i].rec) == NULL;
		nnew += new[i];
	}
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
	if ((f = fresh_alloc(s, b, n, new, nnew)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto out;
	}
	/* From here nothing fails. A key twice in the batch: the second
	 * finds the first (pending) and waits for it. */
	for (size_t i = 0; i < n; i++) {
		if (submit_existing(s, b[i].rec, b[i].w, &fire))
			continue;
		*tail = submit_new(s, &f[i], &b[i]);
		tail = &(*tail)->next;
	}
	fresh_free(f, n); /* what a key twice left unused */
out:
	pthread_mutex_unlock(&s->mtx);
	if (new != &one)
		free(new);
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
	return j != NULL &&
	               (j->flags & (JOB_COMMITTED | JOB_ENDED)) == JOB_COMMITTED
	           ? j
	           : NULL;
}

int
sched_get(sched *s, uint64_t id, struct jobrec *out)
{
	struct job *j;
	int rv = JOBD_NOT_FOUND;

	pthread_mutex_lock(&s->mtx);
	if ((j = live(s, id)) != NULL) {
		snapshot(s, j, out, true);
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

bool
sched_release(sched *s, struct waiter *w, int status, const char *msg)
{
	struct waiter *fire = NULL;

	/* w may be in a detached group (its job's end is on disk): taking
	 * it out of the group is the same O(1) unlink */
	pthread_mutex_lock(&s->mtx);
	if (w->q != NULL)
		unpark(s, w, status, msg, &fire);
	pthread_mutex_unlock(&s->mtx);
	fire_all(fire); /* msg is the caller's: fired before returning */
	return fire != NULL;
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
	else {
		w->until = WAIT_END;
		rv = park(s, j, w);
	}
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
	/* a queued job ends here: it needs its run part for that */
	if (job_waits(j->state) && job_run(j) == NULL) {
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto out;
	}
	w->until = WAIT_END;
	if ((rv = park(s, j, w)) != JOBD_OK)
		goto out;
	if (job_waits(j->state)) {
		forget_deps(s, j);
		dequeue(s, j);
		set_state(s, j, JOB_CANCELLED);
		set_error(j->run, "cancelled");
		j->run->finished_at = sched_wall_ms();
		p = update_op(s, j);
	} else if (j->state == JOB_RUNNING) {
		int none = STOP_NONE;
		atomic_compare_exchange_strong(&j->run->stop, &none,
		                               STOP_CANCEL);
	}
	/* else it has ended; w fires when that is on disk */
out:
	submit_locked(s, p);
	pthread_mutex_unlock(&s->mtx);
	return rv;
}

/* One index that sched_list walks, at its next job. */
struct lwalk {
	struct idtree_walk w;
	struct idnode *at;
};

/* Sifts down the max-heap h[0..n) of walks, by the id each is at. */
static void
lheap_down(struct lwalk *lw, size_t *h, size_t n, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && job_of_node(lw[h[c + 1]].at)->id >
		                     job_of_node(lw[h[c]].at)->id)
			c++;
		if (job_of_node(lw[h[i]].at)->id > job_of_node(lw[h[c]].at)->id)
			return;
		size_t t = h[i];
		h[i] = h[c];
		h[c] = t;
		i = c;
	}
}

/*
 * A page costs in proportion to the page: the listed jobs of each kind and
 * state are in an index ordered by id (struct kq's live), so the page is
 * the first f->limit jobs below f->before of one index, or of a k-way
 * merge of the indexes the filter lets through (one per kind, or per
 * state, or all), newest first: O(k + page log(k n)). Only the jobs on the
 * page are copied.
 */
int
sched_list(sched *s, const struct store_filter *f, struct jobrec **out,
           size_t *n)
{
	size_t limit = f->limit ? f->limit : SIZE_MAX;
	/* a name never seen has no jobs */
	uint32_t fkind = f->kind ? kind_lookup(f->kind) : 0;
	struct lwalk *lw = NULL;
	struct jobrec *recs = NULL;
	struct job **v = NULL;
	size_t *h = NULL, nw = 0, nv = 0, total = 0, k0, k1;
	int s0, s1, rv = JOBD_OK;

	*out = NULL;
	*n = 0;
	if (fkind == UINT32_MAX || f->state < 0 || f->state > JOB_STATE_MAX)
		return JOBD_OK;
	s0 = f->state ? f->state : 1;
	s1 = f->state ? f->state : JOB_STATE_MAX;
	pthread_mutex_lock(&s->mtx);
	k0 = f->kind ? fkind : 0;
	k1 = f->kind ? fkind + 1 : s->nkq;
	if (k1 > s->nkq)
		k1 = s->nkq;
	for (size_t k = k0; k < k1; k++)
		for (int st = s0; st <= s1; st++)
			if (s->kq[k].live[st].n > 0) {
				nw++;
				total += s->kq[k].live[st].n;
			}
	if (total < limit)
		limit = total;
	if (limit == 0)
		goto out;
	lw = malloc(nw * sizeof(*lw));
	h = malloc(nw * sizeof(*h));
	v = malloc(limit * sizeof(*v));
	if (lw == NULL || h == NULL || v == NULL) {
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto out;
	}
	/* each index from its newest job below f->before; h: a max-heap of
	 * the walks not at their end */
	size_t nh = 0;
	for (size_t k = k0, i = 0; k < k1; k++)
		for (int st = s0; st <= s1; st++) {
			const struct idtree *t = &s->kq[k].live[st];
			if (t->n == 0)
				continue;
			idtree_walk_below(&lw[i].w, t, f->before);
			if ((lw[i].at = idtree_walk_next(&lw[i].w)) != NULL)
				h[nh++] = i;
			i++;
		}
	for (size_t i = nh / 2; i-- > 0;)
		lheap_down(lw, h, nh, i);
	while (nv < limit && nh > 0) {
		struct lwalk *top = &lw[h[0]];
		v[nv++] = job_of_node(top->at);
		if ((top->at = idtree_walk_next(&top->w)) == NULL)
			h[0] = h[--nh];
		lheap_down(lw, h, nh, 0);
	}
	if (nv > 0 && (recs = calloc(nv, sizeof(*recs))) == NULL) {
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto out;
	}
	/* lists carry no results */
	for (size_t i = 0; i < nv; i++)
		snapshot(s, v[i], &recs[i], false);
out:
	pthread_mutex_unlock(&s->mtx);
	free(lw);
	free(h);
	free(v);
	if (rv != JOBD_OK)
		return rv;
	*out = recs;
	*n = recs != NULL ? nv : 0;
	return JOBD_OK;
}

/* Queued jobs ready to run whose kind is not in the current set (those
 * waiting out a backoff join them when it ends). O(kinds). Under mtx. */
static uint64_t
count_missing(const sched *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s->nkq; i++)
		if (s->kq[i].runq.n > 0 &&
		    kindset_by_id(s->ks, (uint32_t) i) == NULL)
			n += s->kq[i].runq.n;
	return n;
}

void
sched_stats(sched *s, struct sched_stats *st)
{
	pthread_mutex_lock(&s->mtx);
	*st = s->st;
	st->waiting_kind = count_missing(s);
	pthread_mutex_unlock(&s->mtx);
	st->commits = writer_commits(s->w);
}

/* Logs one line per kind that queued jobs wait for. Under mtx. */
void
log_missing(const sched *s)
{
	for (size_t i = 0; i < s->nkq; i++)
		if (s->kq[i].runq.n > 0 &&
		    kindset_by_id(s->ks, (uint32_t) i) == NULL)
			log_warn("%zu queued jobs wait for kind '%s', which is "
			         "not defined; they run once it is",
			         s->kq[i].runq.n, kind_name_of((uint32_t) i));
}

void
sched_set_kinds(sched *s, kindset *ks)
{
	kindset *old;

	pthread_mutex_lock(&s->mtx);
	old = s->ks;
	s->ks = kindset_ref(ks);
	log_missing(s);
	/* kinds may have come back, or limits changed */
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mtx);
	kindset_unref(old);
}

kindset *
sched_kinds(sched *s)
{
	kindset *ks;

	pthread_mutex_lock(&s->mtx);
	ks = s->ks != NULL ? kindset_ref(s->ks) : NULL;
	pthread_mutex_unlock(&s->mtx);
	return ks;
}

/* ---- workers --------------------------------------------------------- */

/* The run queue whose head should start next: the best head among the
 * kinds defined now and below their concurrency limit; NULL if none. One
 * look at each kind seen: there are few. Under mtx. */
static struct kq *
next_kq(sched *s)
{
	struct kq *best = NULL;

	if (s->nrunq == 0)
		return NULL;
	for (size_t i = 0; i < s->nkq; i++) {
		struct kq *q = &s->kq[i];
		const struct kind_def *d;

		if (q->runq.n == 0 || q->paused ||
		    (d = kindset_by_id(s->ks, (uint32_t) i)) == NULL ||
		    (d->k->concurrency > 0 && q->running >= d->k->concurrency))
			continue;
		if (best == NULL ||
		    runq_less(heap_top(&q->runq), heap_top(&best->runq)))
			best = q;
	}
	return best;
}

/* When job j, about to start, last became queued (wall ms): its creation,
 * the end of its backoff or delay, or, rerun, the end of its last run. */
static int64_t
queued_since(const struct job *j)
{
	int64_t t =
	    j->created_at > j->not_before ? j->created_at : j->not_before;
	if (j->run != NULL && j->run->nhistory > 0 &&
	    j->run->history[j->run->nhistory - 1].finished_at > t)
		t = j->run->history[j->run->nhistory - 1].finished_at;
	return t;
}

struct job *
sched_take(sched *s)
{
	struct jobrun *r;
	struct kq *q = NULL;
	struct job *j;

	pthread_mutex_lock(&s->mtx);
	for (;;) {
		while (!s->draining && (q = next_kq(s)) == NULL)
			pthread_cond_wait(&s->work_cv, &s->mtx);
		if (s->draining) {
			pthread_mutex_unlock(&s->mtx);
			return NULL;
		}
		if ((r = job_run(heap_top(&q->runq))) != NULL)
			break;
		/* out of memory for its run part: it stays first in line */
		log_error(
		    "out of memory starting job %llu; trying again",
		    (unsigned long long) ((struct job *) heap_top(&q->runq))
		        ->id);
		struct timespec ts = clock_after(CLOCK_REALTIME, 100);
		pthread_cond_timedwait(&s->work_cv, &s->mtx, &ts);
	}
	j = heap_pop(&q->runq);
	s->nrunq--;
	q->running++;
	j->where = IN_NONE;
	set_state(s, j, JOB_RUNNING);
	j->attempts++;
	r->ks = kindset_ref(s->ks);
	r->def = kindset_by_id(s->ks, j->kind);
	r->started_at = sched_wall_ms();
	r->started_ns = metrics_now_ns();
	metrics_job_started(j->kind, r->started_at - queued_since(j));
	r->finished_at = 0;
	j->not_before = 0;
	atomic_store(&r->done, 0);
	atomic_store(&r->total, 0);
	atomic_store(&r->stop, STOP_NONE);
	r->deadline = j->timeout_ms ? sched_mono_ms() + j->timeout_ms : 0;
	s->st.busy++;
	submit_locked(s, update_op(s, j));
	pthread_mutex_unlock(&s->mtx);
	return j;
}

uint64_t
sched_job_id(const struct job *j)
{
	return j->id;
}

void
sched_job_work(const struct job *j, struct sched_work *out)
{
	out->id = j->id;
	out->attempt = j->attempts;
	out->kind = j->run->def;
	out->params = j->run->params;
	out->nparams = j->run->nparams;
	out->input_len = j->input_len;
	out->loaded = (j->flags & JOB_LOADED) != 0;
	out->progress_arg = j->run;
}

int
sched_progress(void *arg, uint64_t done, uint64_t total)
{
	struct jobrun *r = arg;

	/* Gives the CPU to whatever waits for it: see "Threads" above. */
	sched_yield();
	atomic_store_explicit(&r->done, done, memory_order_relaxed);
	atomic_store_explicit(&r->total, total, memory_order_relaxed);
	if (atomic_load_explicit(&r->stop, memory_order_relaxed) != STOP_NONE)
		return 1;
	if (r->deadline != 0 && sched_mono_ms() >= r->deadline) {
		int none = STOP_NONE;
		atomic_compare_exchange_strong(&r->stop, &none, STOP_TIMEOUT);
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
	struct jobrun *r = j->run;
	char msg[300];
	int stop = atomic_load(&r->stop);
	int64_t now = sched_wall_ms();

	pthread_mutex_lock(&s->mtx);
	metrics_job_ran(j->kind, metrics_now_ns() - r->started_ns);
	s->st.busy--;
	/* its kind has room again: a worker may take the next one */
	s->kq[j->kind].running--;
	if (s->kq[j->kind].runq.n > 0)
		pthread_cond_signal(&s->work_cv);
	kindset_unref(r->ks);
	r->ks = NULL;
	r->def = NULL;
	if (outcome == JOBD_RUN_OK && atomic_load(&r->total) > 0)
		atomic_store(&r->done, atomic_load(&r->total));
	if (outcome == JOBD_RUN_STOPPED && stop == STOP_TIMEOUT) {
		snprintf(msg, sizeof(msg), "timed out after %u ms",
		         j->timeout_ms);
		error = msg;
		outcome = JOBD_RUN_FAILED;
	}
	if (outcome == JOBD_RUN_OK) {
		free(r->result);
		r->result = result;
		r->result_len = result_len;
		result = NULL;
		set_error(r, NULL);
		set_state(s, j, JOB_SUCCEEDED);
		r->finished_at = now;
	} else if (outcome == JOBD_RUN_FAILED ||
	           outcome == JOBD_RUN_FAILED_FINAL) {
		set_error(r, error && *error ? error : "failed");
		if (outcome == JOBD_RUN_FAILED &&
		    j->attempts < j->max_attempts) {
			set_state(s, j, JOB_QUEUED);
			j->not_before = now + backoff(s, j->attempts);
			s->st.retried++;
			log_job(LOG_DEBUG, j->id, job_kind(j),
			        " failed (attempt %u of %u), retrying: %s",
			        j->attempts, j->max_attempts, r->error);
			if (!s->draining)
				enqueue(s, j);
		} else {
			set_state(s, j, JOB_FAILED);
			r->finished_at = now;
			log_job(LOG_INFO, j->id, job_kind(j),
			        " failed after %u attempt%s: %s", j->attempts,
			        j->attempts == 1 ? "" : "s", r->error);
		}
	} else if (stop == STOP_CANCEL) {
		set_error(r, "cancelled");
		set_state(s, j, JOB_CANCELLED);
		r->finished_at = now;
	} else {
		/* shutdown: not the job's fault; back to queued for the next
		 * start, the attempt not counted */
		set_state(s, j, JOB_QUEUED);
		j->attempts--;
		r->started_at = 0;
	}
	free(result);
	submit_locked(s, update_op(s, j));
	if (s->st.busy == 0)
		pthread_cond_broadcast(&s->idle_cv);
	pthread_mutex_unlock(&s->mtx);
}

/* ---- shutdown -------------------------------------------------------- */

/* Asks every running job to stop: they are in the running indexes (a
 * running job is acknowledged and not ended). Under mtx. */
static void
stop_running(sched *s)
{
	struct idtree_walk w;
	struct idnode *x;

	for (size_t k = 0; k < s->nkq; k++) {
		idtree_walk_below(&w, &s->kq[k].live[JOB_RUNNING], 0);
		while ((x = idtree_walk_next(&w)) != NULL)
			atomic_store(&job_of_node(x)->run->stop, STOP_SHUTDOWN);
	}
}

/* Answers the parked Waits and Cancels with UNAVAILABLE, FIRE_BATCH per
 * hold of mtx, each batch once the lock is released. No call parks once
 * `draining` is set. */
static void
drain_parked(sched *s)
{
	bool more;

	do {
		struct waiter *fire = NULL, *w;

		pthread_mutex_lock(&s->mtx);
		for (int n = 0; n < FIRE_BATCH && (w = s->parked) != NULL;
		     n++) {
			if (w->q->job == NULL) {
				/* its job's end is on disk: it fires with
				 * that, in its group (fire_group) */
				parked_unlink(w);
				continue;
			}
			unpark(s, w, JOBD_UNAVAILABLE, "jobd is shutting down",
			       &fire);
		}
		more = s->parked != NULL;
		pthread_mutex_unlock(&s->mtx);
		fire_all(fire);
	} while (more);
}

void
sched_hurry(sched *s)
{
	pthread_mutex_lock(&s->mtx);
	s->hurry = true;
	pthread_cond_broadcast(&s->idle_cv);
	pthread_mutex_unlock(&s->mtx);
}

void
sched_drain(sched *s, uint32_t grace_ms)
{
	struct timespec ts;

	pthread_mutex_lock(&s->mtx);
	s->draining = true;
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mtx);
	drain_parked(s);

	ts = clock_after(CLOCK_REALTIME, grace_ms);
	pthread_mutex_lock(&s->mtx);
	while (s->st.busy > 0 && !s->hurry) {
		if (pthread_cond_timedwait(&s->idle_cv, &s->mtx, &ts) ==
		    ETIMEDOUT)
			break;
	}
	if (s->st.busy > 0) {
		log_info("%s: stopping %u running jobs",
		         s->hurry ? "no more grace" : "grace period over",
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

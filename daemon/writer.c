/*
 * writer: group commit on one thread.
 *
 * Submitters append ops to a list under `mtx` and signal `cv`. The thread
 * takes the whole list (up to WRITER_BATCH ops), applies it in one
 * transaction with prepared statements, commits (one fsync for the batch),
 * then calls every op's done(). Commits are therefore sized by what is
 * waiting, not by a timer: one submitter gets one fsync per job, a thousand
 * concurrent submitters share each one.
 *
 * Holding what nobody waits for. A batch is begun at once only if
 * somebody waits for one of its ops (`hurry`: an insert, an op marked
 * awaited, or writer_hurry()). Otherwise the queue is held: until such an
 * op arrives, WRITER_HOLD_MS after the first held op, or WRITER_HOLD_OPS
 * ops, whichever comes first. Without it, a worker's "running" and "ended"
 * updates, which come a few microseconds after a Submit's commit, began
 * a commit of their own, and the clients' next Submits, arriving a round
 * trip later, waited for it: two fsyncs per client cycle instead of one
 * (measured: see docs/performance.md). Held, a short job's two updates also
 * share a batch, where the first is superseded (below). The cost: the end
 * of a job nobody waits for reaches the disk up to --commit-hold later,
 * which a crash turns into one more run of that job (at least once, as
 * before; nothing acknowledged waits for it). Stopping and failing never
 * hold.
 *
 * When the disk fails. A failed batch (disk full, read-only filesystem, I/O
 * error) is rolled back. Its inserts fail back to their submitters (never
 * acknowledged); its updates and purges go to `retry`, ahead of everything
 * newer, so a state change the daemon has shown to clients reaches the disk
 * once the disk works again, in order. From then on the writer is
 * `failing`: it tries again every WRITER_RETRY_MS with the oldest
 * WRITER_BATCH ops, and in between it does not touch the disk: new inserts
 * are refused at once with the last error (Submit fails fast instead of
 * waiting for an attempt), new updates join `retry`. So a long outage costs
 * one small transaction per interval however many clients call, and
 * memory grows only by the updates of jobs already in memory (no new job
 * is accepted meanwhile). The state ends once the retried ops are all
 * written, by commits that changed rows: a transaction that changed
 * nothing (a purge that found nothing to delete) commits without writing
 * and proves nothing. Each change of state is logged once.
 *
 * On stop, what is queued is committed; if the disk still fails then, the
 * changes left are dropped with one log line: the next start's recovery
 * re-queues the jobs they concern (at least once).
 *
 * Completions. done() is called on a second thread, the completer, in the
 * order the outcomes were known: answering the calls parked on a batch
 * (building and sending the replies) takes longer than the commit itself,
 * and on the writer thread it would hold up the next commit. So the writer
 * hands each committed batch over and begins the next one at once.
 *
 * In a batch, an update of a job followed by another update of the same
 * job is not written (mark_superseded): the later one carries every
 * mutable field, and both would commit together.
 *
 * done() never runs on the thread that submitted the op, which may hold a
 * lock that done() takes (the scheduler's): an op refused because the
 * writer is stopping goes to the completer like any other, which
 * writer_stop() joins last, once it has called everything it was handed.
 *
 * Lock order: writer.mtx, then writer.dmtx (a refused op is handed to the
 * completer under mtx, so that completer_stop, which takes both, cannot
 * miss it); the completer and the writer thread take dmtx alone. done()
 * runs without either. `retry` and the failure state belong to the writer
 * thread.
 *
 * Metrics: each commit's size (ops) and time, begin to commit, and each
 * batch the database refused (metrics.h).
 */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

#define WRITER_BATCH    8192
#define WRITER_RETRY_MS 500
#define WRITER_HOLD_OPS 1024 /* the most changes held */

/* A list of ops with its tail, for appending. */
struct oplist {
	struct writer_op *head;
	struct writer_op **tail;
	size_t n;
};

struct writer {
	store *db;
	pthread_t thread;
	pthread_mutex_t mtx;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	struct oplist q;   /* submitted, not yet taken */
	bool hurry;        /* somebody waits for an op of q */
	int64_t q_since;   /* CLOCK_MONOTONIC ms: q's oldest op came */
	int hold_ms;       /* writer_set_hold(): --commit-hold */
	int stopping;
	atomic_uint_fast64_t commits;
	atomic_uint_fast64_t backlog;
	atomic_int failing;
	/* ops whose outcome is known, for the completer thread */
	pthread_t completer;
	pthread_mutex_t dmtx;
	pthread_cond_t dcv;
	struct oplist dq;
	bool dstop;
	/* the writer thread's */
	struct oplist retry; /* from failed batches, oldest first */
	int64_t fail_since;  /* CLOCK_MONOTONIC ms, while failing */
	int64_t next_try;    /* no write before this, while failing */
	size_t caught_up;    /* ops written since the failure began */
	int fail_code;       /* jobd_status of the last failure */
	char why[120];       /* the store's message for it */
	uint64_t *cache;     /* mark_superseded's set of ids */
	size_t ncache;
	struct writer_op **ops; /* and its list of updates */
	size_t nops;
};

static void
oplist_init(struct oplist *l)
{
	l->head = NULL;
	l->tail = &l->head;
	l->n = 0;
}

static void
oplist_push(struct oplist *l, struct writer_op *op)
{
	op->next = NULL;
	*l->tail = op;
	l->tail = &op->next;
	l->n++;
}

static struct writer_op *
oplist_pop(struct oplist *l)
{
	struct writer_op *op = l->head;
	if (op != NULL) {
		if ((l->head = op->next) == NULL)
			l->tail = &l->head;
		l->n--;
	}
	return op;
}

/* Marks op failed: `what` and the last failure. */
static void
op_failed(writer *w, struct writer_op *op, int status, const char *what)
{
	op->status = status;
	snprintf(op->errmsg, sizeof(op->errmsg), "%s%s", what, w->why);
}

/* Hands the ops of l, whose outcome is known, to the completer thread,
 * which calls their done() in this order. */
static void
hand_over(writer *w, struct oplist *l)
{
	if (l->head == NULL)
		return;
	pthread_mutex_lock(&w->dmtx);
	*w->dq.tail = l->head;
	w->dq.tail = l->tail;
	w->dq.n += l->n;
	pthread_cond_signal(&w->dcv);
	pthread_mutex_unlock(&w->dmtx);
	oplist_init(l);
}

static void *
completer_main(void *arg)
{
	writer *w = arg;
	struct writer_op *op, *next;
	pthread_setname_np(pthread_self(), "jobd:complete"); /* top -H */

	pthread_mutex_lock(&w->dmtx);
	for (;;) {
		while (w->dq.head == NULL && !w->dstop)
			pthread_cond_wait(&w->dcv, &w->dmtx);
		if (w->dq.head == NULL)
			break;
		op = w->dq.head;
		oplist_init(&w->dq);
		pthread_mutex_unlock(&w->dmtx);
		for (; op != NULL; op = next) {
			next = op->next;
			op->next = NULL;
			atomic_fetch_sub(&w->backlog, 1);
			op->done(op);
		}
		pthread_mutex_lock(&w->dmtx);
	}
	pthread_mutex_unlock(&w->dmtx);
	return NULL;
}

/* An op that a failing database refuses at once (its caller waits for
 * the answer and nothing was acknowledged), rather than retries: an
 * insert or a rerun. Each is committed at once. */
static bool
refusable(const struct writer_op *op)
{
	return op->type == WOP_INSERT || op->type == WOP_RERUN;
}

/* Applies one op inside the open transaction. Returns JOBD_OK, or a code
 * that fails the whole batch. Per-op outcomes (a taken key) are recorded
 * in the op. */
static int
apply(writer *w, struct writer_op *op)
{
	int rv;

	op->status = JOBD_OK;
	switch (op->type) {
	case WOP_INSERT:
		rv = store_insert(w->db, &op->rec);
		if (rv == JOBD_ALREADY_EXISTS && op->rec.idem_key != NULL &&
		    store_find_key(w->db, op->rec.idem_key, &op->existing_id) ==
		        JOBD_OK) {
			op->status = JOBD_ALREADY_EXISTS;
			return JOBD_OK;
		}
		return rv;
	case WOP_UPDATE:
		rv = store_update(w->db, &op->rec);
		/* the job may have been purged meanwhile: nothing to do */
		return rv == JOBD_NOT_FOUND ? JOBD_OK : rv;
	case WOP_PURGE:
		if ((rv = store_purge(w->db, op->purge_before, &op->purged)) !=
		    JOBD_OK)
			return rv;
		return store_counts(w->db, op->counts);
	case WOP_RERUN:
		rv = store_rerun(w->db, &op->rec, &op->run);
		if (rv == JOBD_FAILED_PRECONDITION) {
			op->status = rv;
			snprintf(op->errmsg, sizeof(op->errmsg), "%s",
			         store_errmsg(w->db));
			return JOBD_OK;
		}
		return rv;
	case WOP_PAUSE:
		return store_set_paused(w->db, op->name, op->paused, op->at);
	case WOP_TICK:
		return store_set_tick(w->db, op->name, op->at, op->ref_id);
	}
	return JOBD_INTERNAL;
}

/*
 * Records the outcome of a batch of n ops in the failure state, logging
 * changes. While failing, a commit that wrote means the disk takes writes
 * again, but it may be a small one that fit where a big one did not (a
 * disk nearly full): the state ends once everything that waited is
 * written, and until then the next batch follows at once.
 */
static void
note_outcome(writer *w, int rv, bool wrote, size_t n)
{
	int64_t now = clock_ms(CLOCK_MONOTONIC);

	if (rv != JOBD_OK) {
		w->fail_code = rv;
		snprintf(w->why, sizeof(w->why), "%s", store_errmsg(w->db));
		w->next_try = now + WRITER_RETRY_MS;
		if (!atomic_exchange(&w->failing, 1)) {
			w->fail_since = now;
			w->caught_up = 0;
			log_error("cannot write the database: %s; retrying "
			          "every %d ms, refusing new jobs meanwhile",
			          w->why, WRITER_RETRY_MS);
		}
	} else if (atomic_load(&w->failing)) {
		if (!wrote) {
			w->next_try = now + WRITER_RETRY_MS;
			return;
		}
		w->caught_up += n;
		w->next_try = now;
		if (w->retry.head == NULL) {
			atomic_store(&w->failing, 0);
			log_info("database writable again after %lld ms; "
			         "caught up with %zu changes",
			         (long long) (now - w->fail_since),
			         w->caught_up);
		}
	}
}

/*
 * Marks the updates of batch that a later update of the same job in the
 * same batch makes pointless: an update carries all of a job's mutable
 * fields, and the batch commits as a whole, so only the last one need be
 * written. A short job's move to running and its end often share a batch.
 */
static void
mark_superseded(writer *w, struct writer_op *batch)
{
	size_t n = 0, cap, i;
	struct writer_op *op;

	for (op = batch; op != NULL; op = op->next) {
		op->superseded = false;
		n += op->type == WOP_UPDATE;
	}
	if (n < 2)
		return;
	for (cap = 16; cap < 2 * n; cap *= 2)
		;
	if (cap > w->ncache) {
		uint64_t *ids = realloc(w->cache, cap * sizeof(*ids));
		if (ids == NULL)
			return; /* then every update is written */
		w->cache = ids;
		w->ncache = cap;
	}
	/* ids seen, in an open-addressed set (0 is no job's id) */
	memset(w->cache, 0, cap * sizeof(*w->cache));
	struct writer_op **v = w->ops;
	if (n > w->nops) {
		v = realloc(w->ops, n * sizeof(*v));
		if (v == NULL)
			return;
		w->ops = v;
		w->nops = n;
	}
	i = 0;
	for (op = batch; op != NULL; op = op->next)
		if (op->type == WOP_UPDATE)
			v[i++] = op;
	while (i-- > 0) {
		uint64_t id = v[i]->rec.id;
		size_t h = (size_t) (id * 0x9e3779b97f4a7c15ULL) & (cap - 1);
		while (w->cache[h] != 0 && w->cache[h] != id)
			h = (h + 1) & (cap - 1);
		if (w->cache[h] == id)
			v[i]->superseded = true;
		else
			w->cache[h] = id;
	}
}

/* Runs one batch; its failed updates and purges go back to the front of
 * w->retry. */
static void
run_batch(writer *w, struct writer_op *batch)
{
	struct oplist failed, ended;
	struct writer_op *op, *next;
	uint64_t changes = store_changes(w->db);
	size_t n = 0;
	int64_t t0 = metrics_now_ns();
	int rv;

	atomic_fetch_add(&w->commits, 1);
	if ((rv = store_begin(w->db)) == JOBD_OK) {
		mark_superseded(w, batch);
		for (op = batch; op != NULL && rv == JOBD_OK; op = op->next) {
			if (!op->superseded)
				rv = apply(w, op);
			n++;
		}
		if (rv == JOBD_OK)
			rv = store_commit(w->db);
		else
			(void) store_rollback(w->db);
	}
	if (rv == JOBD_OK)
		metrics_commit(n, metrics_now_ns() - t0);
	else
		metrics_write_failure();
	note_outcome(w, rv, store_changes(w->db) != changes, n);

	oplist_init(&failed);
	oplist_init(&ended);
	for (op = batch; op != NULL; op = next) {
		next = op->next;
		if (rv == JOBD_OK) {
			oplist_push(&ended, op); /* op->status set by apply() */
		} else if (refusable(op)) {
			op_failed(w, op, rv, "cannot write the database: ");
			oplist_push(&ended, op);
		} else {
			oplist_push(&failed, op);
		}
	}
	hand_over(w, &ended);
	if (failed.head != NULL) {
		*failed.tail = w->retry.head;
		if (w->retry.head == NULL)
			w->retry.tail = failed.tail;
		w->retry.head = failed.head;
		w->retry.n += failed.n;
	}
}

/* Under mtx, while failing and before the next try: new inserts go to
 * *refused, anything else joins the retry list. */
static void
hold_new(writer *w, struct oplist *refused)
{
	struct writer_op *op;
	while ((op = oplist_pop(&w->q)) != NULL)
		oplist_push(refusable(op) ? refused : &w->retry, op);
	w->hurry = false;
}

/* Under mtx: the next batch, the oldest ops first: retried, then new. */
static struct writer_op *
take_batch(writer *w)
{
	struct oplist b;
	struct writer_op *op;
	size_t n = 0;

	oplist_init(&b);
	/* a group (writer_submit_group) is never split between two */
	bool with_next = false;
	while ((n < WRITER_BATCH || with_next) &&
	       ((op = oplist_pop(&w->retry)) != NULL ||
	        (op = oplist_pop(&w->q)) != NULL)) {
		with_next = op->with_next;
		oplist_push(&b, op);
		n++;
	}
	/* what is left (a full batch) may hold an awaited op: not held */
	if (w->q.head == NULL)
		w->hurry = false;
	return b.head;
}

/* Stopping with the disk still failing: every op left is dropped. */
static void
give_up(writer *w)
{
	struct oplist dropped;
	struct writer_op *op;
	uint64_t n = 0;

	oplist_init(&dropped);
	pthread_mutex_lock(&w->mtx);
	while ((op = oplist_pop(&w->q)) != NULL)
		oplist_push(&w->retry, op);
	pthread_mutex_unlock(&w->mtx);
	while ((op = oplist_pop(&w->retry)) != NULL) {
		n++;
		op_failed(w, op, JOBD_UNAVAILABLE,
		          "jobd stopped with the database failing: ");
		oplist_push(&dropped, op);
	}
	hand_over(w, &dropped);
	if (n > 0)
		log_error(
		    "stopping with %llu changes not written to the "
		    "database: %s; the jobs they concern run again at the "
		    "next start",
		    (unsigned long long) n, w->why);
}

static void *
writer_main(void *arg)
{
	writer *w = arg;
	pthread_setname_np(pthread_self(), "jobd:writer"); /* top -H */

	for (;;) {
		struct oplist refused;
		struct writer_op *batch = NULL, *op;
		bool stopping, due;

		oplist_init(&refused);
		pthread_mutex_lock(&w->mtx);
		for (;;) {
			stopping = w->stopping;
			due = stopping || !atomic_load(&w->failing) ||
			      clock_ms(CLOCK_MONOTONIC) >= w->next_try;
			if (!due) {
				hold_new(w, &refused);
				if (refused.head != NULL)
					break;
				struct timespec ts = {w->next_try / 1000,
				                      (w->next_try % 1000) *
				                          1000000L};
				pthread_cond_timedwait(&w->cv, &w->mtx, &ts);
				continue;
			}
			if (stopping || w->retry.head != NULL || w->hurry ||
			    w->q.n >= WRITER_HOLD_OPS)
				break;
			if (w->q.head == NULL) {
				pthread_cond_wait(&w->cv, &w->mtx);
				continue;
			}
			/* held: nobody waits for any of it yet */
			int64_t until = w->q_since + w->hold_ms;
			if (clock_ms(CLOCK_MONOTONIC) >= until)
				break;
			struct timespec ts = {until / 1000,
			                      (until % 1000) * 1000000L};
			pthread_cond_timedwait(&w->cv, &w->mtx, &ts);
		}
		if (due)
			batch = take_batch(w);
		pthread_mutex_unlock(&w->mtx);

		for (op = refused.head; op != NULL; op = op->next)
			op_failed(w, op, w->fail_code,
			          "cannot write the database: ");
		hand_over(w, &refused);
		if (!due)
			continue;
		if (batch == NULL)
			break; /* stopping, and everything is written */
		run_batch(w, batch);
		if (stopping && atomic_load(&w->failing)) {
			give_up(w);
			break;
		}
	}
	return NULL;
}

/* Lets the completer call what it was handed, then stops it. Under mtx,
 * so that an op refused meanwhile (refuse_stopping) is handed over before
 * it, and completed. */
static void
completer_stop(writer *w)
{
	pthread_mutex_lock(&w->mtx);
	pthread_mutex_lock(&w->dmtx);
	w->dstop = true;
	pthread_cond_signal(&w->dcv);
	pthread_mutex_unlock(&w->dmtx);
	pthread_mutex_unlock(&w->mtx);
	pthread_join(w->completer, NULL);
}

int
writer_start(writer **wp, const char *dbpath, char *err, size_t errlen)
{
	pthread_condattr_t ca;
	writer *w;
	int rv;

	*wp = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	if ((rv = store_open(&w->db, dbpath, err, errlen)) != JOBD_OK)
		goto fail_store;
	pthread_mutex_init(&w->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	oplist_init(&w->q);
	w->hold_ms = WRITER_HOLD_MS;
	oplist_init(&w->retry);
	oplist_init(&w->dq);
	pthread_mutex_init(&w->dmtx, NULL);
	pthread_cond_init(&w->dcv, NULL);
	if ((rv = pthread_create(&w->completer, NULL, completer_main, w)) !=
	    0) {
		snprintf(err, errlen, "cannot start the writer thread: %s",
		         strerror(rv));
		rv = JOBD_INTERNAL;
		goto fail_completer;
	}
	if ((rv = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		snprintf(err, errlen, "cannot start the writer thread: %s",
		         strerror(rv));
		rv = JOBD_INTERNAL;
		goto fail_thread;
	}
	*wp = w;
	return JOBD_OK;

fail_thread:
	completer_stop(w);
fail_completer:
	pthread_cond_destroy(&w->dcv);
	pthread_mutex_destroy(&w->dmtx);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mtx);
	store_close(w->db);
fail_store:
	free(w);
	return rv;
}

/* Under mtx, once stopping: the ops of `ops` (linked by next) fail with
 * JOBD_UNAVAILABLE, and go to the completer, never done() here. */
static void
refuse_stopping(writer *w, struct writer_op *ops)
{
	struct oplist l;
	struct writer_op *op, *next;

	oplist_init(&l);
	for (op = ops; op != NULL; op = next) {
		next = op->next;
		op->status = JOBD_UNAVAILABLE;
		snprintf(op->errmsg, sizeof(op->errmsg),
		         "jobd is shutting down");
		atomic_fetch_add(&w->backlog, 1);
		oplist_push(&l, op);
	}
	hand_over(w, &l);
}

void
writer_submit(writer *w, struct writer_op *op)
{
	op->next = NULL;
	writer_submit_group(w, op);
}

void
writer_submit_group(writer *w, struct writer_op *ops)
{
	struct writer_op *op, *next;
	bool awaited = false;

	pthread_mutex_lock(&w->mtx);
	if (w->stopping) {
		refuse_stopping(w, ops);
		pthread_mutex_unlock(&w->mtx);
		return;
	}
	/* the writer is told when the hold begins and when it must end
	 * (`retry` is the writer thread's own: not looked at here) */
	bool wake = w->q.head == NULL;
	if (wake)
		w->q_since = clock_ms(CLOCK_MONOTONIC);
	for (op = ops; op != NULL; op = next) {
		next = op->next;
		op->with_next = next != NULL;
		awaited = awaited || op->awaited || refusable(op);
		atomic_fetch_add(&w->backlog, 1);
		oplist_push(&w->q, op);
	}
	if (awaited) {
		w->hurry = true;
		wake = true;
	}
	if (wake || w->q.n >= WRITER_HOLD_OPS)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mtx);
}

void
writer_hurry(writer *w)
{
	pthread_mutex_lock(&w->mtx);
	if (w->q.head != NULL && !w->hurry) {
		w->hurry = true;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mtx);
}

void
writer_stop(writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mtx);
	w->stopping = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mtx);
	pthread_join(w->thread, NULL);
	completer_stop(w);
	pthread_cond_destroy(&w->dcv);
	pthread_mutex_destroy(&w->dmtx);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mtx);
	store_close(w->db);
	free(w->cache);
	free(w->ops);
	free(w);
}

bool
writer_stopping(writer *w)
{
	pthread_mutex_lock(&w->mtx);
	bool yes = w->stopping;
	pthread_mutex_unlock(&w->mtx);
	return yes;
}

void
writer_set_hold(writer *w, int ms)
{
	pthread_mutex_lock(&w->mtx);
	w->hold_ms = ms;
	pthread_mutex_unlock(&w->mtx);
}

uint64_t
writer_commits(writer *w)
{
	return atomic_load(&w->commits);
}

uint64_t
writer_backlog(writer *w)
{
	return atomic_load(&w->backlog);
}

int
writer_failing(writer *w)
{
	return atomic_load(&w->failing);
}

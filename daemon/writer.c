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
 * A failed batch (disk full, read-only directory, I/O error) is rolled back.
 * Its inserts fail back to their submitters (never acknowledged); its
 * updates and purges stay queued and are retried after a pause, so a state
 * change that the daemon has shown to clients reaches the disk as soon as
 * the disk works again.
 *
 * Lock order: writer.mtx is a leaf; done() runs without it.
 */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define WRITER_BATCH    8192
#define WRITER_RETRY_MS 500

struct writer {
	store *db;
	pthread_t thread;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	struct writer_op *head;
	struct writer_op **tail;
	int stopping;
	atomic_uint_fast64_t backlog;
	atomic_int failing;
};

static void
op_finish(struct writer_op *op, int status, const char *msg)
{
	op->status = status;
	if (status != JOBD_OK)
		snprintf(op->errmsg, sizeof(op->errmsg), "%s", msg);
	op->done(op);
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
	}
	return JOBD_INTERNAL;
}

/* Runs one batch; returns the ops still to retry (failed updates). */
static struct writer_op *
run_batch(writer *w, struct writer_op *batch)
{
	struct writer_op *op, *next, *retry = NULL, **rtail = &retry;
	int rv;

	if ((rv = store_begin(w->db)) == JOBD_OK) {
		for (op = batch; op != NULL && rv == JOBD_OK; op = op->next)
			rv = apply(w, op);
		if (rv == JOBD_OK)
			rv = store_commit(w->db);
		else
			(void) store_rollback(w->db);
	}
	if (rv != JOBD_OK) {
		if (!atomic_exchange(&w->failing, 1))
			log_error("cannot write the database: %s",
			          store_errmsg(w->db));
	} else if (atomic_exchange(&w->failing, 0)) {
		log_info("database writable again");
	}

	for (op = batch; op != NULL; op = next) {
		next = op->next;
		op->next = NULL;
		if (rv == JOBD_OK) {
			atomic_fetch_sub(&w->backlog, 1);
			op->done(op); /* op->status set by apply() */
		} else if (op->type == WOP_INSERT) {
			atomic_fetch_sub(&w->backlog, 1);
			op_finish(op, rv, store_errmsg(w->db));
		} else {
			*rtail = op;
			rtail = &op->next;
		}
	}
	return retry;
}

static void
pause_ms(writer *w, int ms)
{
	struct timespec ts = clock_after(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&w->mtx);
	if (!w->stopping)
		pthread_cond_timedwait(&w->cv, &w->mtx, &ts);
	pthread_mutex_unlock(&w->mtx);
}

static void *
writer_main(void *arg)
{
	writer *w = arg;
	struct writer_op *batch, *retry = NULL;
	int stopping;

	for (;;) {
		pthread_mutex_lock(&w->mtx);
		while (w->head == NULL && retry == NULL && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mtx);
		stopping = w->stopping;
		/* retried ops first: they are older */
		batch = retry;
		struct writer_op **bt = &batch;
		while (*bt != NULL)
			bt = &(*bt)->next;
		size_t n = 0;
		while (w->head != NULL && n < WRITER_BATCH) {
			struct writer_op *op = w->head;
			w->head = op->next;
			op->next = NULL;
			*bt = op;
			bt = &op->next;
			n++;
		}
		if (w->head == NULL)
			w->tail = &w->head;
		pthread_mutex_unlock(&w->mtx);

		if (batch == NULL && stopping)
			break;
		retry = run_batch(w, batch);
		if (retry != NULL) {
			if (stopping) {
				/* the disk still fails and we must exit: the
				 * changes are lost from this run, and recovery
				 * at the next start re-queues the jobs */
				for (struct writer_op *op = retry, *nx; op;
				     op = nx) {
					nx = op->next;
					atomic_fetch_sub(&w->backlog, 1);
					op_finish(
					    op, JOBD_UNAVAILABLE,
					    "shutting down with the database "
					    "failing");
				}
				retry = NULL;
				continue;
			}
			pause_ms(w, WRITER_RETRY_MS);
		}
	}
	return NULL;
}

int
writer_start(writer **wp, const char *dbpath, char *err, size_t errlen)
{
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
	pthread_cond_init(&w->cv, NULL);
	w->tail = &w->head;
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		snprintf(err, errlen, "cannot start the writer thread: %s",
		         strerror(errno));
		rv = JOBD_INTERNAL;
		goto fail_thread;
	}
	*wp = w;
	return JOBD_OK;

fail_thread:
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mtx);
	store_close(w->db);
fail_store:
	free(w);
	return rv;
}

void
writer_submit(writer *w, struct writer_op *op)
{
	op->next = NULL;
	pthread_mutex_lock(&w->mtx);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mtx);
		op_finish(op, JOBD_UNAVAILABLE, "jobd is shutting down");
		return;
	}
	atomic_fetch_add(&w->backlog, 1);
	*w->tail = op;
	w->tail = &op->next;
	pthread_cond_signal(&w->cv);
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
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mtx);
	store_close(w->db);
	free(w);
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

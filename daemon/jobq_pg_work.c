/*
 * jobq_pg_work: the shared queue's calls from workers (take, progress,
 * finish: see pool.c) and its reads (see jobq_pg.c for the whole design).
 *
 * A worker takes a job from the ready list, which the writer fills by
 * claims; its input came with the claim, checked against its checksum, and
 * is handed over (read_input reads nothing). progress() keeps the numbers
 * in atomics (the writer writes them once a second) and reads the stop
 * flag a Cancel, a timeout, a lost lease or the shutdown set. finish()
 * decides the end as the local scheduler does (a failure with attempts
 * left goes back to the queue after the backoff, a shutdown's stop goes
 * back with its attempt not counted) and hands it to the writer; the job
 * stays in the live list, answering Gets, until its end is committed.
 *
 * The reads run on the caller's thread (reads_block) on a reader
 * connection.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobq_pg_impl.h"
#include "log.h"
#include "metrics.h"

bool
pgq_is_live(jobq *jq, uint64_t id, int *status)
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

int
pgq_lookup(jobq *jq, uint64_t id, struct jobrec *out, char *err, size_t errlen)
{
	struct pgq *q = PGQ(jq);
	pgstore *s;
	int rv;

	/* a job running here: from memory (its progress is fresher than
	 * the database's, and it answers while the database is away); its
	 * earlier runs, if any, from the database when that answers */
	if (jq->ops->get_live(jq, id, out) == JOBD_OK) {
		if (out->state == JOB_RUNNING) {
			if (out->reruns > 0 &&
			    (s = pgq_reader_get(q, err, errlen)) != NULL)
				pgq_reader_put(q, s, pgstore_runs(s, id, out));
			return JOBD_OK;
		}
		jobrec_clear(out); /* ending: its end is read once committed */
	}
	if ((s = pgq_reader_get(q, err, errlen)) == NULL)
		return JOBD_UNAVAILABLE;
	if ((rv = pgstore_get(s, id, 0, out)) != JOBD_OK &&
	    rv != JOBD_NOT_FOUND) {
		snprintf(err, errlen, "%s", pgstore_errmsg(s));
		jobrec_clear(out);
	}
	pgq_reader_put(q, s, rv);
	return rv;
}

int
pgq_find_key(jobq *jq, const char *key, struct jobrec *out, char *err,
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

int
pgq_list(jobq *jq, const struct store_filter *f, struct jobrec **out, size_t *n,
         uint64_t *floor, char *err, size_t errlen)
{
	struct pgq *q = PGQ(jq);
	pgstore *s;
	int rv;

	*out = NULL;
	*n = 0;
	*floor = 0; /* one query: the page is whole */
	if ((s = pgq_reader_get(q, err, errlen)) == NULL)
		return JOBD_UNAVAILABLE;
	if ((rv = pgstore_list(s, f, out, n)) != JOBD_OK)
		snprintf(err, errlen, "%s", pgstore_errmsg(s));
	pgq_reader_put(q, s, rv);
	return rv;
}

int
pgq_names_add(const char *name, void *arg)
{
	struct pgq_names *a = arg;
	char **v = realloc(a->v, (a->n + 1) * sizeof(*v));
	if (v == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	a->v = v;
	if ((v[a->n] = strdup(name)) == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	a->n++;
	return 0;
}

int
pgq_paused_kinds(jobq *jq, char ***names, size_t *n)
{
	struct pgq *q = PGQ(jq);
	struct pgq_names a = {NULL, 0};
	char err[256];
	pgstore *s;
	int rv;

	if ((s = pgq_reader_get(q, err, sizeof(err))) == NULL)
		return JOBD_UNAVAILABLE;
	rv = pgstore_paused_load(s, pgq_names_add, &a);
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

/* ---- workers --------------------------------------------------------------
 */

struct job *
pgq_take(jobq *jq)
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
	j->deadline = j->rec.timeout_ms ? pgq_mono_ms() + j->rec.timeout_ms : 0;
	j->started_ns = metrics_now_ns();
	int64_t since = j->rec.created_at > j->rec.not_before
	                    ? j->rec.created_at
	                    : j->rec.not_before;
	metrics_job_started(def->id, since ? pgq_wall_ms() - since : 0);
	q->busy++;
	pthread_mutex_unlock(&q->mtx);
	return j;
}

void
pgq_job_work(const struct job *j, struct sched_work *out)
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

uint64_t
pgq_job_id(const struct job *j)
{
	return j->rec.id;
}

/* The input came with the claim (checked against its checksum there):
 * handed over, not read again. */
int
pgq_read_input(jobq *jq, void **conn, const struct sched_work *w, uint8_t **buf,
               size_t *len, char *err, size_t errlen)
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

void
pgq_close_conn(jobq *jq, void *conn)
{
	(void) jq;
	(void) conn;
}

int
pgq_progress(void *arg, uint64_t done, uint64_t total)
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

void
pgq_finish(jobq *jq, struct job *j, int outcome, uint8_t *result,
           size_t result_len, const char *error)
{
	struct pgq *q = PGQ(jq);
	struct jobrec *r = &j->rec;
	int stop = atomic_load(&j->stop);
	int64_t now = pgq_wall_ms();
	char msg[300];

	pthread_mutex_lock(&q->mtx);
	metrics_job_ran(j->def->id, metrics_now_ns() - j->started_ns);
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

bool
pgq_leads(jobq *jq)
{
	struct pgq *q = PGQ(jq);
	pthread_mutex_lock(&q->mtx);
	bool yes = q->leading;
	pthread_mutex_unlock(&q->mtx);
	return yes;
}

int
pgq_ticks_load(jobq *jq,
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

/*
 * jobq_local: the local job queue (jobq.h) over the scheduler, the writer
 * and one SQLite file: one daemon is the authority for its jobs.
 *
 * Every op is the sched_ function of the same name, or what the service,
 * the pool, the periodic engine and the daemon did themselves before the
 * queue had an interface, moved here unchanged:
 *
 *   start      the crash marks of the workers before (DB.running,
 *              runmark.h) counted as running, then recovery and the load
 *              of the queued jobs (sched_load); the writer and the
 *              scheduler are made here too, so that nothing touches the
 *              file before start
 *   reads      lookup, find_key and list answer live jobs from memory and
 *              the rest from the database, through a small pool of
 *              read-only connections (SQLite's rule: one connection, one
 *              thread at a time); list merges the two
 *   workers    each worker reads its jobs' inputs through a read-only
 *              connection of its own (`conn`), opened at its first input
 *   schedules  the ticks go to the writer (WOP_TICK); this daemon always
 *              leads
 *
 * Reads never wait on anything but SQLite's own file locks, so
 * reads_block is false and the service calls them where its handlers run,
 * as it always did; a test may ask for reads_block true
 * (jobq_config.defer_reads) to run the service's deferred path on SQLite.
 *
 * jobq_local_wrap() makes a queue around a scheduler made and loaded by
 * its caller (the unit tests of the pool): its start, stop and destroy
 * leave that scheduler and its writer alone.
 *
 * Locks: rd_mtx guards the readers kept, a leaf. Everything else is the
 * scheduler's and the writer's (scheduler.h, writer.h).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jobq.h"
#include "log.h"
#include "runmark.h"
#include "schedfile.h"
#include "scheduler.h"
#include "writer.h"

#define READERS_KEPT 8

struct local {
	jobq base; /* first: the ops cast back */
	char *path;
	struct jobq_config cfg;
	bool owns; /* the scheduler and the writer are ours (not wrapped) */
	writer *w;
	sched *s;
	runmark *marks;   /* the workers' (DB.running); NULL: none */
	kindset *pending; /* set_kinds before start */
	pthread_mutex_t rd_mtx;
	store *readers[READERS_KEPT];
	size_t nreaders;
};

#define L(q) ((struct local *) (q))

/* ---- database readers ------------------------------------------------ */

/* A read connection, or NULL with the reason logged and in err. */
static store *
reader_take(struct local *l, char *err, size_t errlen)
{
	store *db = NULL;

	pthread_mutex_lock(&l->rd_mtx);
	if (l->nreaders > 0)
		db = l->readers[--l->nreaders];
	pthread_mutex_unlock(&l->rd_mtx);
	if (db == NULL &&
	    store_open_readonly(&db, l->path, err, errlen) != JOBD_OK) {
		log_error("%s", err);
		return NULL;
	}
	return db;
}

static void
reader_give(struct local *l, store *db)
{
	pthread_mutex_lock(&l->rd_mtx);
	if (l->nreaders < READERS_KEPT) {
		l->readers[l->nreaders++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&l->rd_mtx);
	store_close(db);
}

/* ---- life ------------------------------------------------------------ */

/*
 * The marks of the jobs the workers of the jobd before were running when it
 * died (runmark.h): those whose start had not reached the database are put
 * back to `running` there, so that recovery counts them like the others;
 * then the marks start anew, one slot per worker.
 */
static int
recall_marks(struct local *l, store *db, char *err, size_t errlen)
{
	uint64_t *left, marked = 0;
	size_t nleft;
	int rv;

	if ((rv = runmark_open(&l->marks, l->path, l->cfg.sched.workers, &left,
	                       &nleft, err, errlen)) != JOBD_OK)
		return rv;
	if (nleft > 0 &&
	    store_mark_running(db, left, nleft, &marked) != JOBD_OK)
		log_warn("cannot mark the jobs that were running: %s",
		         store_errmsg(db));
	if (marked > 0)
		log_info("%llu jobs were running when jobd died before their "
		         "start was written (%s.running): counted as running",
		         (unsigned long long) marked, l->path);
	free(left);
	return JOBD_OK;
}

static int
local_start(jobq *q, uint64_t *recovered, char *err, size_t errlen)
{
	struct local *l = L(q);
	store *db = NULL;
	int rv;

	*recovered = 0;
	if (!l->owns)
		return JOBD_OK;
	if ((rv = store_open(&db, l->path, err, errlen)) != JOBD_OK)
		return rv;
	if ((rv = recall_marks(l, db, err, errlen)) != JOBD_OK)
		goto fail_marks;
	if ((rv = writer_start(&l->w, l->path, err, errlen)) != JOBD_OK)
		goto fail_writer;
	writer_set_hold(l->w, (int) l->cfg.commit_hold_ms);
	if ((rv = sched_create(&l->s, l->w, &l->cfg.sched)) != JOBD_OK) {
		snprintf(err, errlen, "cannot start the scheduler");
		goto fail_sched;
	}
	if (l->pending != NULL) {
		sched_set_kinds(l->s, l->pending);
		kindset_unref(l->pending);
		l->pending = NULL;
	}
	if ((rv = sched_load(l->s, db, recovered, err, errlen)) != JOBD_OK)
		goto fail_load;
	store_close(db);
	return JOBD_OK;

fail_load:
	sched_drain(l->s, 0);
	writer_stop(l->w);
	l->w = NULL;
	sched_destroy(l->s);
	l->s = NULL;
fail_sched:
	writer_stop(l->w);
	l->w = NULL;
fail_writer:
	runmark_close(l->marks);
	l->marks = NULL;
fail_marks:
	store_close(db);
	return rv;
}

static void
local_set_kinds(jobq *q, kindset *ks)
{
	struct local *l = L(q);

	if (l->s != NULL) {
		sched_set_kinds(l->s, ks);
		return;
	}
	ks = kindset_ref(ks);
	kindset_unref(l->pending);
	l->pending = ks;
}

static kindset *
local_kinds(jobq *q)
{
	struct local *l = L(q);

	if (l->s != NULL)
		return sched_kinds(l->s);
	return l->pending != NULL ? kindset_ref(l->pending) : NULL;
}

static void
local_drain(jobq *q, uint32_t grace_ms)
{
	if (L(q)->s != NULL)
		sched_drain(L(q)->s, grace_ms);
}

static void
local_hurry(jobq *q)
{
	if (L(q)->s != NULL)
		sched_hurry(L(q)->s);
}

/* The workers are joined: their marks go (every slot clear: the file
 * too), and the writer commits what is left. */
static void
local_stop(jobq *q)
{
	struct local *l = L(q);

	runmark_close(l->marks);
	l->marks = NULL;
	if (l->owns) {
		writer_stop(l->w);
		l->w = NULL;
	}
}

static void
local_destroy(jobq *q)
{
	struct local *l = L(q);

	if (l == NULL)
		return;
	if (l->owns) {
		if (l->w != NULL) { /* never stopped: a failed start */
			if (l->s != NULL)
				sched_drain(l->s, 0);
			writer_stop(l->w);
		}
		sched_destroy(l->s);
	}
	runmark_close(l->marks);
	kindset_unref(l->pending);
	for (size_t i = 0; i < l->nreaders; i++)
		store_close(l->readers[i]);
	pthread_mutex_destroy(&l->rd_mtx);
	free(l->path);
	free(l);
}

/* ---- calls ----------------------------------------------------------- */

static int
local_submit_batch(jobq *q, struct batch_job *b, size_t n, char *err,
                   size_t errlen)
{
	return sched_submit_batch(L(q)->s, b, n, err, errlen);
}

static int
local_rerun(jobq *q, struct jobrec *rec, const uint64_t *wait_for,
            size_t nwait_for, struct waiter *w, char *err, size_t errlen)
{
	return sched_rerun(L(q)->s, rec, wait_for, nwait_for, w, err, errlen);
}

static int
local_wait(jobq *q, uint64_t id, struct waiter *w)
{
	return sched_wait(L(q)->s, id, w);
}

static int
local_cancel(jobq *q, uint64_t id, struct waiter *w)
{
	return sched_cancel(L(q)->s, id, w);
}

static bool
local_release(jobq *q, struct waiter *w, int status, const char *msg)
{
	return sched_release(L(q)->s, w, status, msg);
}

static int
local_pause(jobq *q, const char *kind, bool pause, bool *changed,
            void (*done)(void *arg, int status, const char *msg), void *arg)
{
	return sched_pause(L(q)->s, kind, pause, changed, done, arg);
}

static bool
local_paused(jobq *q, const char *kind)
{
	return sched_paused(L(q)->s, kind);
}

static void
local_stats(jobq *q, struct sched_stats *st)
{
	sched_stats(L(q)->s, st);
}

static int
local_get_live(jobq *q, uint64_t id, struct jobrec *out)
{
	return sched_get(L(q)->s, id, out);
}

static bool
local_is_live(jobq *q, uint64_t id, int *status)
{
	*status = JOBD_OK;
	return sched_is_live(L(q)->s, id);
}

/* ---- reads ----------------------------------------------------------- */

/* Job `id` from memory if it is live, else from the database, with its
 * history when it was rerun. */
static int
local_lookup(jobq *q, uint64_t id, struct jobrec *out, char *err, size_t errlen)
{
	struct local *l = L(q);
	store *db;
	int rv;

	/* a live job has its history in memory */
	if (sched_get(l->s, id, out) == JOBD_OK)
		return JOBD_OK;
	if ((db = reader_take(l, err, errlen)) == NULL)
		return JOBD_UNAVAILABLE;
	rv = store_get(db, id, 0, out);
	/* a job run again: its earlier runs are in their own table */
	if (rv == JOBD_OK && out->reruns > 0 &&
	    (rv = store_runs(db, id, out)) != JOBD_OK)
		jobrec_clear(out);
	if (rv != JOBD_OK && rv != JOBD_NOT_FOUND)
		snprintf(err, errlen, "cannot read job %llu: %s",
		         (unsigned long long) id, store_errmsg(db));
	reader_give(l, db);
	return rv;
}

/*
 * The job that holds `key` in the database, with its current state: a
 * Submit whose key was used by a job that already left memory. JOBD_OK
 * (*out filled), JOBD_NOT_FOUND, or a read error with its message in err.
 */
static int
local_find_key(jobq *q, const char *key, struct jobrec *out, char *err,
               size_t errlen)
{
	struct local *l = L(q);
	struct jobrec cur = {0};
	uint64_t id;
	store *db;
	int rv;

	if ((db = reader_take(l, err, errlen)) == NULL)
		return JOBD_UNAVAILABLE;
	rv = store_find_key(db, key, &id);
	if (rv == JOBD_OK)
		rv = store_get(db, id, 0, out);
	if (rv != JOBD_OK && rv != JOBD_NOT_FOUND)
		snprintf(err, errlen, "cannot read the database: %s",
		         store_errmsg(db));
	reader_give(l, db);
	/* a live job's state in memory is the current one */
	if (rv == JOBD_OK && sched_get(l->s, out->id, &cur) == JOBD_OK) {
		jobrec_clear(out);
		*out = cur;
	}
	return rv;
}

static int
cmp_desc(const void *a, const void *b)
{
	uint64_t x = ((const struct jobrec *) a)->id;
	uint64_t y = ((const struct jobrec *) b)->id;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void
free_recs(struct jobrec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jobrec_clear(&v[i]);
	free(v);
}

/*
 * A job that ended between the memory snapshot and the database read is in
 * both, live in one and ended in the other: keeps the ended one. `v` is
 * sorted by id; returns the new count.
 */
static size_t
drop_twins(struct jobrec *v, size_t n)
{
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && v[out - 1].id == v[i].id) {
			if (job_state_terminal(v[i].state)) {
				jobrec_clear(&v[out - 1]);
				v[out - 1] = v[i];
			} else {
				jobrec_clear(&v[i]);
			}
			memset(&v[i], 0, sizeof(v[i]));
			continue;
		}
		if (out != i) {
			v[out] = v[i];
			memset(&v[i], 0, sizeof(v[i]));
		}
		out++;
	}
	return out;
}

/*
 * Live jobs come from memory (their state there is the current one), the
 * rest from the database; a database row of a live job is dropped. Each
 * source gives at most f->limit rows, so when one gave a full page, rows
 * below its lowest id were not looked at: *floor says where the page
 * stops, and the cursor resumes from it.
 */
static int
local_list(jobq *q, const struct store_filter *f, struct jobrec **out,
           size_t *n, uint64_t *floor, char *err, size_t errlen)
{
	struct local *l = L(q);
	struct jobrec *mem = NULL, *dbv = NULL, *all = NULL;
	size_t nmem = 0, ndb = 0, nall = 0, i;
	store *db;
	int rv;

	*out = NULL;
	*n = 0;
	*floor = 0;
	if ((rv = sched_list(l->s, f, &mem, &nmem)) != JOBD_OK) {
		snprintf(err, errlen, "out of memory");
		return rv;
	}
	if ((db = reader_take(l, err, errlen)) == NULL) {
		rv = JOBD_UNAVAILABLE;
		goto out;
	}
	rv = store_list(db, f, &dbv, &ndb);
	if (rv != JOBD_OK)
		snprintf(err, errlen, "cannot list jobs: %s", store_errmsg(db));
	reader_give(l, db);
	if (rv != JOBD_OK)
		goto out;

	if (nmem == f->limit && nmem > 0 && mem[nmem - 1].id > *floor)
		*floor = mem[nmem - 1].id;
	if (ndb == f->limit && ndb > 0 && dbv[ndb - 1].id > *floor)
		*floor = dbv[ndb - 1].id;
	if ((all = calloc(nmem + ndb + 1, sizeof(*all))) == NULL) {
		snprintf(err, errlen, "out of memory");
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto out;
	}
	for (i = 0; i < nmem; i++) {
		if (mem[i].id >= *floor) {
			all[nall++] = mem[i];
			memset(&mem[i], 0, sizeof(mem[i]));
		}
	}
	for (i = 0; i < ndb; i++) {
		if (dbv[i].id < *floor)
			continue;
		if (sched_is_live(l->s, dbv[i].id))
			continue; /* memory had it, in its current state */
		all[nall++] = dbv[i];
		memset(&dbv[i], 0, sizeof(dbv[i]));
	}
	if (nall > 1)
		qsort(all, nall, sizeof(*all), cmp_desc);
	nall = drop_twins(all, nall);
	if (f->limit > 0 && nall > f->limit) {
		for (i = f->limit; i < nall; i++)
			jobrec_clear(&all[i]);
		nall = f->limit;
	}
	*out = all;
	*n = nall;
	all = NULL;
	nall = 0;
out:
	free_recs(all, nall);
	free_recs(mem, nmem);
	free_recs(dbv, ndb);
	return rv;
}

static int
local_paused_kinds(jobq *q, char ***names, size_t *n)
{
	return sched_paused_kinds(L(q)->s, names, n);
}

/* ---- workers --------------------------------------------------------- */

static struct job *
local_take(jobq *q)
{
	return sched_take(L(q)->s);
}

static void
local_job_work(const struct job *j, struct sched_work *out)
{
	sched_job_work(j, out);
}

static uint64_t
local_job_id(const struct job *j)
{
	return sched_job_id(j);
}

/* Job w's input through the worker's own connection (*conn, opened at
 * its first input), checked against its checksum: see pool.c. */
static int
local_read_input(jobq *q, void **conn, const struct sched_work *w,
                 uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	const char *path = sched_db_path(L(q)->s);
	store *db = *conn;
	int rv;

	*buf = NULL;
	*len = 0;
	if (db == NULL) {
		if (path == NULL) {
			snprintf(err, errlen, "no database to read it from");
			return JOBD_INTERNAL;
		}
		if ((rv = store_open_readonly(&db, path, err, errlen)) !=
		    JOBD_OK)
			return rv;
		*conn = db;
	}
	if ((rv = store_get_input(db, w->id, w->kind->k->name, w->params,
	                          w->nparams, buf, len)) != JOBD_OK) {
		snprintf(err, errlen, "%s", store_errmsg(db));
	} else if (*len != w->input_len) {
		/* a row without a checksum (schema version 1) */
		snprintf(
		    err, errlen,
		    "the stored input of job %llu is damaged (%zu bytes in "
		    "the database, not %zu)",
		    (unsigned long long) w->id, *len, w->input_len);
		rv = JOBD_DATA_LOSS;
	}
	if (rv != JOBD_OK) {
		free(*buf);
		*buf = NULL;
		/* whatever went wrong, the next read starts afresh */
		store_close(db);
		*conn = NULL;
	}
	return rv;
}

static void
local_close_conn(jobq *q, void *conn)
{
	(void) q;
	store_close(conn);
}

static void
local_finish(jobq *q, struct job *j, int outcome, uint8_t *result,
             size_t result_len, const char *error)
{
	sched_finish(L(q)->s, j, outcome, result, result_len, error);
}

static void
local_mark(jobq *q, uint32_t worker, uint64_t id)
{
	runmark_set(L(q)->marks, worker, id);
}

/* The scheduler's counts are exact at every moment. */
static void
local_refresh(jobq *q)
{
	(void) q;
}

static uint64_t
file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t) st.st_size : 0;
}

static uint64_t
local_db_bytes(jobq *q)
{
	const char *path = sched_db_path(L(q)->s);
	char wal[4096];

	if (path == NULL)
		return 0;
	snprintf(wal, sizeof(wal), "%s-wal", path);
	return file_size(path) + file_size(wal);
}

static bool
local_failing(jobq *q)
{
	return L(q)->w != NULL && writer_failing(L(q)->w);
}

/* ---- periodic schedules ---------------------------------------------- */

static bool
local_leads(jobq *q)
{
	(void) q;
	return true;
}

static int
local_ticks_load(jobq *q,
                 int (*fn)(const char *name, int64_t at, uint64_t job_id,
                           void *arg),
                 void *arg, char *err, size_t errlen)
{
	struct local *l = L(q);
	const char *path = sched_db_path(l->s);
	store *st = NULL;
	int rv;

	if ((rv = store_open_readonly(&st, path, err, errlen)) != JOBD_OK)
		return rv;
	if ((rv = store_ticks_load(st, fn, arg)) != JOBD_OK)
		snprintf(err, errlen,
		         "cannot read the schedules' last firings from '%s': "
		         "%s",
		         path, store_errmsg(st));
	store_close(st);
	return rv;
}

/* A tick on its way to the database. */
struct tick {
	struct writer_op op;
	char name[SCHED_NAME_MAX + 1];
};

static void
tick_done(struct writer_op *op)
{
	struct tick *t = (struct tick *) op;

	if (op->status != JOBD_OK)
		log_warn("schedule %s: the record of its last firing was not "
		         "written (%s); a restart may make that firing again "
		         "(its key keeps it to one job)",
		         t->name, op->errmsg);
	free(t);
}

static void
local_tick(jobq *q, const char *name, int64_t at, uint64_t job_id)
{
	struct tick *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		log_warn("schedule %s: out of memory: its last firing is not "
		         "recorded",
		         name);
		return;
	}
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->op.type = WOP_TICK;
	t->op.name = t->name;
	t->op.at = at;
	t->op.ref_id = job_id;
	t->op.done = tick_done;
	writer_submit(L(q)->w, &t->op);
}

/* ---- the table ------------------------------------------------------- */

#define LOCAL_OPS(blocks)                                                      \
	{                                                                      \
		.abi = JOBQ_ABI, .name = "sqlite", .reads_block = (blocks),    \
		.start = local_start, .set_kinds = local_set_kinds,            \
		.kinds = local_kinds, .drain = local_drain,                    \
		.hurry = local_hurry, .stop = local_stop,                      \
		.destroy = local_destroy, .submit_batch = local_submit_batch,  \
		.rerun = local_rerun, .wait = local_wait,                      \
		.cancel = local_cancel, .release = local_release,              \
		.pause = local_pause, .paused = local_paused,                  \
		.stats = local_stats, .get_live = local_get_live,              \
		.is_live = local_is_live, .lookup = local_lookup,              \
		.find_key = local_find_key, .list = local_list,                \
		.paused_kinds = local_paused_kinds, .take = local_take,        \
		.job_work = local_job_work, .job_id = local_job_id,            \
		.read_input = local_read_input,                                \
		.close_conn = local_close_conn, .progress = sched_progress,    \
		.finish = local_finish, .leads = local_leads,                  \
		.ticks_load = local_ticks_load, .tick = local_tick,            \
		.mark = local_mark, .failing = local_failing,                  \
		.refresh = local_refresh, .db_bytes = local_db_bytes,          \
	}

static const struct jobq_ops local_ops = LOCAL_OPS(false);
/* jobq_config.defer_reads: the same, saying that reads block */
static const struct jobq_ops local_ops_deferring = LOCAL_OPS(true);

static int
local_new(struct local **lp, const char *path, const struct jobq_config *cfg,
          char *err, size_t errlen)
{
	struct local *l = calloc(1, sizeof(*l));

	*lp = NULL;
	if (l == NULL || (l->path = strdup(path)) == NULL) {
		free(l);
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	l->base.ops = cfg->defer_reads ? &local_ops_deferring : &local_ops;
	l->cfg = *cfg;
	l->cfg.db = NULL; /* not kept: path is */
	l->cfg.node = NULL;
	pthread_mutex_init(&l->rd_mtx, NULL);
	*lp = l;
	return JOBD_OK;
}

int
jobq_local_open(jobq **qp, const struct jobq_config *cfg, char *err,
                size_t errlen)
{
	const char *path = jobq_file(cfg->db);
	struct local *l;
	int rv;

	*qp = NULL;
	if (path == NULL || *path == '\0') {
		snprintf(err, errlen, "database '%s' is not a SQLite file",
		         cfg->db);
		return JOBD_INVALID_ARGUMENT;
	}
	if ((rv = local_new(&l, path, cfg, err, errlen)) != JOBD_OK)
		return rv;
	l->owns = true;
	*qp = &l->base;
	return JOBD_OK;
}

int
jobq_local_wrap(jobq **qp, sched *s, bool defer_reads)
{
	struct jobq_config cfg = {0};
	const char *path = sched_db_path(s);
	struct local *l;
	char err[64];
	int rv;

	*qp = NULL;
	cfg.defer_reads = defer_reads;
	if ((rv = local_new(&l, path != NULL ? path : "", &cfg, err,
	                    sizeof(err))) != JOBD_OK)
		return rv;
	l->s = s;
	*qp = &l->base;
	return JOBD_OK;
}

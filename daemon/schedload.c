/*
 * schedload: the scheduler's start-up (sched_load). Jobs left running by an
 * unclean stop are re-queued, or failed once they reached
 * cfg.max_recoveries (store_recover); then the queued jobs are loaded into
 * memory, whatever their kind (one not defined waits for it).
 *
 * Start-up loads of each queued job only the columns that make it up
 * (store_scan_brief: no input, no result, nothing allocated per row but the
 * job itself), into tables sized for them beforehand. A queued job whose
 * not_before is still ahead is scheduled (enqueue).
 *
 * Dependencies. A job runs after jobs with lower ids (they existed when
 * it was submitted), and jobs are linked in id order, so when a job that
 * waits is linked, the jobs it waits for that are still queued are in
 * memory already: it waits for those. The others ended; which way is in
 * the database, read once every job is linked (struct check): one that
 * succeeded is waited for no more, one that failed, was cancelled or is
 * gone (purged) cancels the job, as it would have had jobd not stopped.
 *
 * Paused kinds are read first, so that no job of one starts.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sched_int.h"

/*
 * Start-up reads the queued jobs in two threads when there are at least
 * this many: reading rows is most of the time, and each thread reads half
 * of the ids through a connection of its own (SQLite's rule). The helper
 * only builds its jobs; they are linked into the tables after it is joined,
 * in id order like the rest.
 */
#define LOAD_SPLIT_MIN 10000

struct load_ctx {
	sched *s;
	struct job *next; /* loaded, its key bucket prefetched, not linked */
	/* the helper thread's part: it chains its jobs by id_next */
	bool chain;
	struct job *head;
	struct job **tail;
	uint64_t from;
	int rv; /* the helper's outcome, with err */
	char err[300];
	char kind[JOBD_KIND_NAME_MAX + 1]; /* the last kind seen, and its id */
	uint32_t kind_id;
	/* the jobs waited for that are not live: looked up once all are */
	struct check *checks;
	size_t nchecks, checks_cap;
	/* the jobs run again (Retry): their history is read once all are */
	uint64_t *reruns;
	size_t nreruns, reruns_cap;
};

/* A job linked at start waits for `on`, which has ended: how? */
struct check {
	uint64_t waiter;
	uint64_t on;
};

/* Links job j's edges to the jobs it waits for: in memory already, or a
 * check for later. 0 or JOBD_RESOURCE_EXHAUSTED. Under mtx. */
static int
load_deps(struct load_ctx *lc, struct job *j)
{
	const uint64_t *after = job_after(j);
	sched *s = lc->s;

	for (size_t i = 0; i < j->nafter; i++) {
		struct job *d;
		struct dep_edge *e;

		if ((d = table_find(s, after[i])) != NULL) {
			if ((e = deps_edge_new()) == NULL ||
			    deps_reserve(&s->deps, 1) != 0) {
				free(e);
				return JOBD_RESOURCE_EXHAUSTED;
			}
			deps_add(&s->deps, e, after[i], j->id);
			j->nleft++;
			continue;
		}
		if (lc->nchecks == lc->checks_cap) {
			size_t n = lc->checks_cap ? lc->checks_cap * 2 : 64;
			struct check *v = realloc(lc->checks, n * sizeof(*v));
			if (v == NULL)
				return JOBD_RESOURCE_EXHAUSTED;
			lc->checks = v;
			lc->checks_cap = n;
		}
		lc->checks[lc->nchecks++] = (struct check){j->id, after[i]};
		j->nleft++;
	}
	return 0;
}

/* Notes that job id was run again: its history is read later. */
static int
note_rerun(struct load_ctx *lc, uint64_t id)
{
	if (lc->nreruns == lc->reruns_cap) {
		size_t n = lc->reruns_cap ? lc->reruns_cap * 2 : 64;
		uint64_t *v = realloc(lc->reruns, n * sizeof(*v));
		if (v == NULL)
			return JOBD_RESOURCE_EXHAUSTED;
		lc->reruns = v;
		lc->reruns_cap = n;
	}
	lc->reruns[lc->nreruns++] = id;
	return 0;
}

/* Links and queues the job loaded last; 0 or JOBD_RESOURCE_EXHAUSTED.
 * Under mtx. */
static int
load_link(struct load_ctx *lc)
{
	struct job *j = lc->next;

	lc->next = NULL;
	if (j == NULL)
		return 0;
	/* room in the unique keys first: once in the table, j stays */
	if (kq_of(lc->s, j->kind) == NULL ||
	    ukeys_reserve(&lc->s->ukeys, 1) != 0 || table_add(lc->s, j) != 0) {
		job_free(j);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	(void) unique_add(lc->s, j); /* room was made */
	/* from here j is in the table, which frees it if the load fails */
	if (j->run != NULL && j->run->reruns > 0 && note_rerun(lc, j->id) != 0)
		return JOBD_RESOURCE_EXHAUSTED;
	lc->s->nqueued++;
	index_add(lc->s, j);
	if (j->nafter > 0 && load_deps(lc, j) != 0)
		return JOBD_RESOURCE_EXHAUSTED;
	if (j->nleft == 0)
		enqueue(lc->s, j);
	return 0;
}

/* Takes j in: it is linked while the next one is read, its key bucket on
 * its way meanwhile (a random place in a big array: a cache miss). */
static int
load_take(struct load_ctx *lc, struct job *j)
{
	table_prefetch(lc->s, j);
	int rv = load_link(lc);
	lc->next = j;
	return rv;
}

/* One queued job from the database (a view, valid during the call). */
static int
load_one(const struct jobrec *r, void *arg)
{
	struct load_ctx *lc = arg;
	struct job *j;

	/* Whatever its kind: one not defined now waits for it (see "Kinds"
	 * above). Jobs come in runs of one kind: the last name's id is kept. */
	if (lc->kind_id == UINT32_MAX || strcmp(lc->kind, r->kind) != 0) {
		if ((lc->kind_id = kind_intern(r->kind)) == UINT32_MAX)
			return JOBD_RESOURCE_EXHAUSTED;
		snprintf(lc->kind, sizeof(lc->kind), "%s", r->kind);
	}
	if ((j = job_alloc(r->params, r->nparams, r->idem_key, r->unique_key,
	                   r->after, r->nafter)) == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	job_fill(j, r, lc->kind_id);
	j->id = r->id;
	j->created_at = r->created_at;
	j->flags |= JOB_COMMITTED | JOB_LOADED;
	if (r->error != NULL || r->started_at != 0 || r->finished_at != 0 ||
	    r->progress_done != 0 || r->progress_total != 0 || r->reruns != 0) {
		/* an earlier attempt's traces, shown as they were */
		struct jobrun *run = job_run(j);
		if (run == NULL || (r->error != NULL &&
		                    (run->error = strdup(r->error)) == NULL)) {
			job_free(j);
			return JOBD_RESOURCE_EXHAUSTED;
		}
		atomic_store(&run->done, r->progress_done);
		atomic_store(&run->total, r->progress_total);
		run->started_at = r->started_at;
		run->finished_at = r->finished_at;
		run->reruns = r->reruns;
	}
	if (lc->chain) {
		*lc->tail = j;
		lc->tail = &j->id_next;
		return 0;
	}
	return load_take(lc, j);
}

/* The helper thread: the queued jobs from lc->from on, chained. */
static void *
load_helper(void *arg)
{
	struct load_ctx *lc = arg;
	store *db;
	pthread_setname_np(pthread_self(), "jobd:load"); /* top -H */

	if ((lc->rv = store_open_readonly(&db, lc->s->db_path, lc->err,
	                                  sizeof(lc->err))) != JOBD_OK)
		return NULL;
	lc->rv = store_scan_brief(db, JOB_QUEUED, lc->from, UINT64_MAX,
	                          load_one, lc);
	if (lc->rv != JOBD_OK)
		snprintf(lc->err, sizeof(lc->err), "%s",
		         lc->rv == JOBD_RESOURCE_EXHAUSTED ? "out of memory"
		                                           : store_errmsg(db));
	store_close(db);
	return NULL;
}

/* Links the chain of jobs from head on (after lc's own); frees what it
 * does not link. Under mtx. */
static int
load_chain(struct load_ctx *lc, struct job *head, int rv)
{
	for (struct job *j = head, *next; j != NULL; j = next) {
		next = j->id_next;
		j->id_next = NULL;
		if (rv == JOBD_OK)
			rv = load_take(lc, j);
		else
			job_free(j);
	}
	if (rv == JOBD_OK)
		rv = load_link(lc);
	job_free(lc->next); /* not linked: something failed */
	lc->next = NULL;
	return rv;
}

/* Loads the queued jobs: the ids up to `mid` here, the rest (when split)
 * in hl's thread. */
static int
load_queued(sched *s, store *db, struct load_ctx *lc, struct load_ctx *hl,
            char *err, size_t errlen)
{
	uint64_t lo, hi, mid = UINT64_MAX, nq;
	pthread_t helper;
	bool split = false;
	int rv;

	if ((rv = store_id_range(db, JOB_QUEUED, &lo, &hi)) != JOBD_OK) {
		snprintf(err, errlen,
		         "cannot load the queued jobs of database '%s': %s",
		         store_path(db), store_errmsg(db));
		return rv;
	}
	pthread_mutex_lock(&s->mtx);
	nq = s->st.counts[JOB_QUEUED];
	pthread_mutex_unlock(&s->mtx);
	if (nq >= LOAD_SPLIT_MIN && hi > lo) {
		mid = lo + (hi - lo) / 2;
		hl->from = mid + 1;
		split = pthread_create(&helper, NULL, load_helper, hl) == 0;
		if (!split)
			mid = UINT64_MAX;
	}
	pthread_mutex_lock(&s->mtx);
	/* room for them all at once: no rehash, no heap regrowth */
	if (table_reserve(s, s->njobs + nq) != 0)
		rv = JOBD_RESOURCE_EXHAUSTED;
	else
		rv = store_scan_brief(db, JOB_QUEUED, 0, mid, load_one, lc);
	rv = load_chain(lc, NULL, rv); /* links the last job, or frees it */
	if (rv != JOBD_OK)
		snprintf(err, errlen,
		         "cannot load the queued jobs of database '%s': %s",
		         store_path(db),
		         rv == JOBD_RESOURCE_EXHAUSTED ? "out of memory"
		                                       : store_errmsg(db));
	pthread_mutex_unlock(&s->mtx);
	if (!split)
		return rv;
	pthread_join(helper, NULL);
	if (rv == JOBD_OK && hl->rv != JOBD_OK) {
		snprintf(err, errlen,
		         "cannot load the queued jobs of database '%s': %s",
		         store_path(db), hl->err);
		rv = hl->rv;
	}
	/* links the helper's jobs, or frees them if anything failed */
	pthread_mutex_lock(&s->mtx);
	int crv = load_chain(lc, hl->head, rv);
	pthread_mutex_unlock(&s->mtx);
	if (rv == JOBD_OK && crv != JOBD_OK) {
		snprintf(err, errlen,
		         "cannot load the queued jobs of database '%s': out of "
		         "memory",
		         store_path(db));
		rv = crv;
	}
	return rv;
}

/* The jobs waited for that were not in memory: each one's end, from the
 * database, settles its waiter. */
static int
load_checks(sched *s, store *db, struct load_ctx *lc, char *err, size_t errlen)
{
	for (size_t i = 0; i < lc->nchecks; i++) {
		struct check *c = &lc->checks[i];
		struct jobrec r;
		char why[64];
		int rv = store_get(db, c->on, 0, &r);

		if (rv != JOBD_OK && rv != JOBD_NOT_FOUND) {
			snprintf(err, errlen,
			         "cannot load the jobs of database '%s': %s",
			         store_path(db), store_errmsg(db));
			return rv;
		}
		int state = rv == JOBD_OK ? r.state : 0;
		jobrec_clear(&r);
		snprintf(why, sizeof(why), "job %llu %s",
		         (unsigned long long) c->on,
		         state == JOB_FAILED      ? "failed"
		         : state == JOB_CANCELLED ? "was cancelled"
		         : state == 0             ? "is gone"
		                                  : "ended");
		pthread_mutex_lock(&s->mtx);
		struct job *j = table_find(s, c->waiter);
		if (j != NULL)
			settle(s, j, state, why);
		pthread_mutex_unlock(&s->mtx);
	}
	return JOBD_OK;
}

/* The history of each job loaded that was run again. */
static int
load_histories(sched *s, store *db, struct load_ctx *lc, char *err,
               size_t errlen)
{
	for (size_t i = 0; i < lc->nreruns; i++) {
		struct jobrec r = {0};
		int rv = store_runs(db, lc->reruns[i], &r);

		if (rv != JOBD_OK) {
			snprintf(err, errlen,
			         "cannot load the jobs of database '%s': %s",
			         store_path(db), store_errmsg(db));
			return rv;
		}
		pthread_mutex_lock(&s->mtx);
		struct job *j = table_find(s, lc->reruns[i]);
		if (j != NULL)
			job_set_history(j, &r);
		pthread_mutex_unlock(&s->mtx);
		jobrec_clear(&r);
	}
	return JOBD_OK;
}

static int
pause_one(const char *kind, void *arg)
{
	sched *s = arg;
	uint32_t id = kind_intern(kind);
	struct kq *q = id != UINT32_MAX ? kq_of(s, id) : NULL;

	if (q == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	q->paused = true;
	log_info("kind '%s' is paused (jobctl resume %s)", kind, kind);
	return 0;
}

int
sched_load(sched *s, store *db, uint64_t *recovered, char *err, size_t errlen)
{
	struct load_ctx lc, hl;
	uint64_t max_id, failed;
	int rv;

	memset(&lc, 0, sizeof(lc));
	lc.s = s;
	lc.kind_id = UINT32_MAX;
	hl = lc;
	hl.chain = true;
	hl.tail = &hl.head;
	*recovered = 0;
	if ((rv = store_recover(db, s->cfg.max_recoveries, sched_wall_ms(),
	                        recovered, &failed)) != JOBD_OK ||
	    (rv = store_max_id(db, &max_id)) != JOBD_OK ||
	    (rv = store_counts(db, s->st.counts)) != JOBD_OK) {
		snprintf(err, errlen,
		         "cannot load the jobs of database '%s': %s",
		         store_path(db), store_errmsg(db));
		return rv;
	}
	if (failed > 0)
		log_error("%llu jobs left running by an unclean stop have "
		          "reached --max-recoveries %u: failed, not run again",
		          (unsigned long long) failed, s->cfg.max_recoveries);
	free(s->db_path);
	if ((s->db_path = strdup(store_path(db))) == NULL) {
		snprintf(err, errlen,
		         "cannot load the jobs of database '%s': out of memory",
		         store_path(db));
		return JOBD_RESOURCE_EXHAUSTED;
	}
	pthread_mutex_lock(&s->mtx);
	s->next_id = max_id + 1;
	s->st.recovered = *recovered;
	rv = store_paused_load(db, pause_one, s);
	pthread_mutex_unlock(&s->mtx);
	if (rv != JOBD_OK) {
		snprintf(err, errlen,
		         "cannot load the paused kinds of database '%s': %s",
		         store_path(db),
		         rv == JOBD_RESOURCE_EXHAUSTED ? "out of memory"
		                                       : store_errmsg(db));
		return rv;
	}
	rv = load_queued(s, db, &lc, &hl, err, errlen);
	if (rv == JOBD_OK)
		rv = load_histories(s, db, &lc, err, errlen);
	if (rv == JOBD_OK)
		rv = load_checks(s, db, &lc, err, errlen);
	free(lc.checks);
	free(lc.reruns);
	if (rv != JOBD_OK)
		return rv;
	pthread_mutex_lock(&s->mtx);
	log_missing(s);
	pthread_mutex_unlock(&s->mtx);
	return JOBD_OK;
}

/*
 * jobd-schedbench: the scheduler's own timings, in one process, with no
 * network in between.
 *
 *     jobd-schedbench [--jobs N] [--waits N] DB
 *
 * It runs the real scheduler, writer and SQLite database of jobd_core, as
 * jobd does, but calls the scheduler directly, so that what it times is the
 * scheduler and not the round trip of a request. It measures:
 *
 *   list    sched_list of one page among N queued jobs (default 1,000,000),
 *           for a few filters: state=queued limit=1000, the same below an
 *           id (`before`), a kind, no filter. Each is run 21 times; the
 *           median and the max are printed.
 *   expire  --waits calls (default 65,000) parked on one queued job, their
 *           deadlines spread over 100 ms: how long after the first
 *           deadline until the timer thread has answered them all, and
 *           the latency of sched_get from another thread meanwhile (the
 *           timer unparks them a batch at a time under the lock that
 *           every Get takes).
 *   end     --waits calls parked on a job that then ends: how long after
 *           sched_finish until the first and the last are answered (the
 *           end's commit, then the writer's completer firing them), and
 *           the Get latency meanwhile.
 *
 * No worker pool runs: the program takes the job itself (sched_take) and
 * ends it (sched_finish), as a worker would. The Gets run in a thread of
 * their own, one every few tens of microseconds, on a queued job that
 * stays live; each Get's start and length are kept, and a phase's Gets are
 * those that started between its trigger (the first deadline, the end)
 * and its last answer. The Gets before the trigger are the idle figures
 * printed beside them.
 *
 * The database is filled once, by direct store inserts (9 `count` jobs in
 * 10, the rest `sleep`, each with a parameter and an idempotency key), into
 * DB.filling, renamed to DB when complete; an existing DB is reused as it
 * is, whatever its size (the figures say how many jobs were queued). A run
 * adds one job, the one that ends, and leaves the queued ones queued. Put
 * DB where jobd's database would be: the end's commit waits for the disk.
 *
 * Every figure is on its own stdout line starting with "schedbench ";
 * progress and notes go to stderr. Exit status 0 when every phase ran, 1
 * when one could not (the database, a scheduler call, a wrong answer), 2
 * on a usage error. Nothing about speed decides the exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "scheduler.h"
#include "store.h"
#include "writer.h"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

#define D_JOBS        1000000ull
#define D_WAITS       65000ull
#define MAX_JOBS      1000000000ull /* the most --jobs may ask for */
#define MAX_WAITS     10000000ull   /* the most --waits may ask for */
#define FILL_COMMIT   100000u       /* inserts per transaction when filling */
#define LIST_RUNS     21            /* each List filter, for median and max */
#define LEAD_MS       1000 /* expire: first deadline this long after parking */
#define SPREAD_MS     100  /* expire: deadlines spread over this */
#define IDLE_MS       200  /* end: Gets before the end, for the idle figure */
#define GET_PAUSE     20   /* µs between two Gets */
#define MAX_SAMPLES   (1u << 20) /* Gets kept per phase */
#define SLOW_US       1000.0     /* a Get slower than this is counted */
#define AWAIT_LIMIT_S 300        /* the longest a phase's Waits may take */

static const char usage_text[] =
    "usage: jobd-schedbench [--jobs N] [--waits N] DB\n"
    "\n"
    "Times the scheduler in-process: List among N queued jobs, and Get\n"
    "while many parked Waits expire or are answered at a job's end.\n"
    "DB is filled with N queued jobs if it does not exist, reused if it "
    "does.\n"
    "\n"
    "  --jobs N   queued jobs to fill DB with (default 1000000)\n"
    "  --waits N  Waits parked in each of the two Wait phases "
    "(default 65000)\n"
    "  --help     this text\n";

struct env {
	writer *w;
	sched *s;
	kindset *ks;
	uint64_t queued; /* queued jobs once loaded */
	uint64_t get_id; /* a queued job that stays live: the Gets' */
};

/* ---- time and figures -------------------------------------------------- */

static double
now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double) t.tv_sec * 1e6 + (double) t.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return (x > y) - (x < y);
}

/* The value at fraction q (0..1) of v[0..n), sorted in place; 0 if n is 0. */
static double
quantile(double *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(v[0]), cmp_double);
	return v[(size_t) (q * (double) (n - 1) + 0.5)];
}

/* ---- filling the database ---------------------------------------------- */

/* Inserts job `id` of the fill: 9 `count` jobs in 10, the rest `sleep`. */
static int
fill_one(store *st, uint64_t id, int64_t created_at)
{
	char pname[8], pval[24], key[40];
	struct job_param p = {pname, pval};
	struct jobrec r = {0};
	bool count = id % 10 != 0;

	snprintf(pname, sizeof(pname), "%s", count ? "n" : "ms");
	snprintf(pval, sizeof(pval), "%" PRIu64, id % 1000 + 1);
	snprintf(key, sizeof(key), "key-%028" PRIu64, id);
	r.id = id;
	r.kind = count ? "count" : "sleep";
	r.params = &p;
	r.nparams = 1;
	r.state = JOB_QUEUED;
	r.max_attempts = 1;
	r.created_at = created_at;
	r.idem_key = key;
	return store_insert(st, &r);
}

/* Inserts jobs 1..n into the store, FILL_COMMIT to a transaction. */
static int
fill_store(store *st, uint64_t n)
{
	int64_t created_at = sched_wall_ms();
	int rv;

	for (uint64_t id = 1; id <= n; id += FILL_COMMIT) {
		uint64_t last = n - id < FILL_COMMIT ? n : id + FILL_COMMIT - 1;
		if ((rv = store_begin(st)) != JOBD_OK)
			return rv;
		for (uint64_t k = id; k <= last; k++) {
			if ((rv = fill_one(st, k, created_at)) != JOBD_OK) {
				store_rollback(st);
				return rv;
			}
		}
		if ((rv = store_commit(st)) != JOBD_OK)
			return rv;
	}
	return JOBD_OK;
}

/* path followed by suffix into buf; false if it does not fit. */
static bool
db_file(char *buf, size_t len, const char *path, const char *suffix)
{
	return (size_t) snprintf(buf, len, "%s%s", path, suffix) < len;
}

/* Removes database `path` and its -wal and -shm files, those that exist
 * (the caller checked that path-shm fits in PATH_MAX). */
static void
remove_db(const char *path)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char p[PATH_MAX];

	for (size_t i = 0; i < 3; i++) {
		if (!db_file(p, sizeof(p), path, suffix[i]))
			continue;
		if (unlink(p) != 0 && errno != ENOENT)
			fprintf(stderr, "cannot remove '%s': %s\n", p,
			        strerror(errno));
	}
}

/* Renames database `from` to `to`, with its write-ahead log if one is
 * left; the shared-memory index is rebuilt by whoever opens it next. */
static int
rename_db(const char *from, const char *to)
{
	char fw[PATH_MAX], tw[PATH_MAX], fs[PATH_MAX];

	if (!db_file(fw, sizeof(fw), from, "-wal") ||
	    !db_file(tw, sizeof(tw), to, "-wal") ||
	    !db_file(fs, sizeof(fs), from, "-shm")) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (access(fw, F_OK) == 0 && rename(fw, tw) != 0)
		return -1;
	unlink(fs);
	return rename(from, to);
}

/* Fills `path` with n queued jobs unless it exists; 0, or -1 with the
 * reason on stderr. Filled as path.filling, renamed once complete, so that
 * an interrupted fill is never taken for a full database. */
static int
fill_db(const char *path, uint64_t n)
{
	char tmp[PATH_MAX], err[256];
	store *st;
	double t0 = now_us();
	int rv;

	if (access(path, F_OK) == 0)
		return 0;
	/* with room for "-wal" after it */
	if (!db_file(tmp, sizeof(tmp) - 4, path, ".filling")) {
		fprintf(stderr, "database path '%s' is too long\n", path);
		return -1;
	}
	fprintf(stderr, "filling '%s' with %" PRIu64 " queued jobs\n", path, n);
	remove_db(tmp);
	if (store_open(&st, tmp, err, sizeof(err)) != JOBD_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if ((rv = fill_store(st, n)) != JOBD_OK) {
		fprintf(stderr, "cannot fill '%s': %s\n", tmp,
		        store_errmsg(st));
		store_close(st);
		return -1;
	}
	store_close(st);
	if (rename_db(tmp, path) != 0) {
		fprintf(stderr, "cannot rename '%s' to '%s': %s\n", tmp, path,
		        strerror(errno));
		return -1;
	}
	fprintf(stderr, "filled in %.1f s\n", (now_us() - t0) / 1e6);
	return 0;
}

/* ---- the scheduler, as jobd starts and stops it ------------------------ */

/* The ids of the two newest queued jobs into ids[0..2); false if fewer. */
static bool
two_queued(sched *s, uint64_t ids[2])
{
	struct store_filter f = {.state = JOB_QUEUED, .limit = 2};
	struct jobrec *r = NULL;
	size_t n = 0;
	bool ok;

	if (sched_list(s, &f, &r, &n) != JOBD_OK)
		return false;
	ok = n == 2;
	for (size_t i = 0; i < n; i++) {
		ids[i] = r[i].id;
		jobrec_clear(&r[i]);
	}
	free(r);
	return ok;
}

/* Starts the writer and the scheduler on `path` and loads its jobs,
 * printing the load's figure; 0, or -1 with the reason on stderr (call
 * env_stop either way). */
static int
env_start(struct env *e, const char *path)
{
	struct sched_config cfg = {.workers = 0, .backoff_ms = 20};
	struct sched_stats st;
	char err[256];
	uint64_t recovered, ids[2];
	store *db;
	double t0;

	memset(e, 0, sizeof(*e));
	if (store_open(&db, path, err, sizeof(err)) != JOBD_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (writer_start(&e->w, path, err, sizeof(err)) != JOBD_OK ||
	    kindset_load(&e->ks, NULL, err, sizeof(err)) != JOBD_OK) {
		fprintf(stderr, "%s\n", err);
		goto fail;
	}
	if (sched_create(&e->s, e->w, &cfg) != JOBD_OK) {
		fprintf(stderr, "cannot create the scheduler\n");
		goto fail;
	}
	sched_set_kinds(e->s, e->ks);
	t0 = now_us();
	if (sched_load(e->s, db, &recovered, err, sizeof(err)) != JOBD_OK) {
		fprintf(stderr, "%s\n", err);
		goto fail;
	}
	store_close(db);
	sched_stats(e->s, &st);
	e->queued = st.counts[JOB_QUEUED];
	printf("schedbench load: %" PRIu64 " queued jobs in %.2f s\n",
	       e->queued, (now_us() - t0) / 1e6);
	if (!two_queued(e->s, ids)) {
		fprintf(stderr, "'%s' has fewer than 2 queued jobs\n", path);
		return -1;
	}
	e->get_id = ids[0];
	return 0;
fail:
	store_close(db);
	return -1;
}

/* Stops what env_start started, in jobd's order. Accepts a half-started
 * env. */
static void
env_stop(struct env *e)
{
	if (e->s != NULL)
		sched_drain(e->s, 0);
	writer_stop(e->w);
	if (e->s != NULL)
		sched_destroy(e->s);
	kindset_unref(e->ks);
}

/* ---- list ---------------------------------------------------------------- */

struct list_case {
	const char *label;
	int state;
	const char *kind;
	bool below_half; /* before = half the queued count */
	size_t limit;
};

static const struct list_case list_cases[] = {
    {"state=queued limit=1000", JOB_QUEUED, NULL, false, 1000},
    {"state=queued limit=1000 before=N/2", JOB_QUEUED, NULL, true, 1000},
    {"state=queued kind=sleep limit=1000", JOB_QUEUED, "sleep", false, 1000},
    {"kind=count limit=1000", 0, "count", false, 1000},
    {"limit=1000 (no filter)", 0, NULL, false, 1000},
};

/* Runs one List case LIST_RUNS times and prints its median and max; 0, or
 * -1 if a List failed. */
static int
list_case(struct env *e, const struct list_case *c)
{
	struct store_filter f = {.state = c->state,
	                         .kind = c->kind,
	                         .before = c->below_half ? e->queued / 2 : 0,
	                         .limit = c->limit};
	double ms[LIST_RUNS];
	size_t got = 0;

	double median;

	for (int i = 0; i < LIST_RUNS; i++) {
		struct jobrec *r = NULL;
		double t0 = now_us();
		if (sched_list(e->s, &f, &r, &got) != JOBD_OK) {
			fprintf(stderr, "List %s failed\n", c->label);
			return -1;
		}
		ms[i] = (now_us() - t0) / 1e3;
		for (size_t k = 0; k < got; k++)
			jobrec_clear(&r[k]);
		free(r);
	}
	median = quantile(ms, LIST_RUNS, 0.5); /* sorts ms */
	printf("schedbench list %s: median %.3f ms, max %.3f ms (%zu jobs a "
	       "page, %" PRIu64 " queued, %d runs)\n",
	       c->label, median, ms[LIST_RUNS - 1], got, e->queued, LIST_RUNS);
	return 0;
}

static int
run_list(struct env *e)
{
	for (size_t i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++)
		if (list_case(e, &list_cases[i]) != 0)
			return -1;
	return 0;
}

/* ---- Gets from another thread ------------------------------------------ */

struct sample {
	double at; /* start, µs of CLOCK_MONOTONIC */
	double us; /* how long the Get took */
};

struct getter {
	sched *s;
	uint64_t id;
	atomic_bool stop;
	struct sample *v;
	size_t n; /* samples kept, at most MAX_SAMPLES */
	size_t failed;
	pthread_t thread;
};

static void *
getter_main(void *arg)
{
	struct getter *g = arg;

	while (!atomic_load(&g->stop)) {
		struct jobrec r = {0};
		double t0 = now_us();
		int rv = sched_get(g->s, g->id, &r);
		double t1 = now_us();
		jobrec_clear(&r);
		if (rv != JOBD_OK)
			g->failed++;
		if (g->n < MAX_SAMPLES)
			g->v[g->n++] = (struct sample){t0, t1 - t0};
		usleep(GET_PAUSE);
	}
	return NULL;
}

static int
getter_start(struct getter *g, struct env *e)
{
	memset(g, 0, sizeof(*g));
	g->s = e->s;
	g->id = e->get_id;
	atomic_init(&g->stop, false);
	if ((g->v = calloc(MAX_SAMPLES, sizeof(g->v[0]))) == NULL)
		return -1;
	if (pthread_create(&g->thread, NULL, getter_main, g) != 0) {
		free(g->v);
		return -1;
	}
	return 0;
}

/* Stops the thread; its samples stay until getter_free. */
static void
getter_stop(struct getter *g)
{
	atomic_store(&g->stop, true);
	pthread_join(g->thread, NULL);
}

static void
getter_free(struct getter *g)
{
	free(g->v);
}

/* Median, p99 and max of v[0..n) (sorted in place). */
struct summary {
	double median, p99, max;
};

static struct summary
summarize(double *v, size_t n)
{
	struct summary m = {0};

	if (n == 0)
		return m;
	m.median = quantile(v, n, 0.5);
	m.p99 = quantile(v, n, 0.99);
	m.max = v[n - 1];
	return m;
}

/* Prints the figure of the Gets that started in [from, to) (µs), and of
 * those before `from` as the idle one. */
static void
getter_print(const struct getter *g, const char *phase, double from, double to)
{
	double *in = calloc(g->n + 1, sizeof(double));
	double *idle = calloc(g->n + 1, sizeof(double));
	size_t nin = 0, nidle = 0, slow = 0;
	struct summary a, b;

	if (in == NULL || idle == NULL) {
		fprintf(stderr, "out of memory\n");
		free(in);
		free(idle);
		return;
	}
	for (size_t i = 0; i < g->n; i++) {
		const struct sample *x = &g->v[i];
		if (x->at < from) {
			idle[nidle++] = x->us;
		} else if (x->at < to) {
			in[nin++] = x->us;
			slow += x->us > SLOW_US;
		}
	}
	a = summarize(in, nin);
	b = summarize(idle, nidle);
	printf("schedbench %s Get: %zu Gets meanwhile, median %.1f µs, p99 "
	       "%.1f µs, max %.1f µs, %zu over 1 ms (idle before: %zu Gets, "
	       "median %.1f µs, max %.1f µs)\n",
	       phase, nin, a.median, a.p99, a.max, slow, nidle, b.median,
	       b.max);
	if (g->failed > 0)
		fprintf(stderr, "note: %zu Gets failed\n", g->failed);
	free(in);
	free(idle);
}

/* ---- parked Waits ------------------------------------------------------- */

/* One phase's parked calls and when they were answered. */
struct storm {
	struct waiter *w;
	size_t n;
	int want; /* the status every call must be answered with */
	atomic_size_t fired;
	atomic_size_t wrong;        /* answered with another status */
	_Atomic double first, last; /* µs, 0 until then */
	_Atomic uint64_t job_id;    /* the job they were answered with */
};

static void
storm_fire(struct waiter *w, int status, const struct jobrec *job,
           uint64_t existing_id, const char *msg)
{
	struct storm *st = w->arg;
	double t = now_us();
	size_t k;

	(void) existing_id;
	(void) msg;
	if (status != st->want)
		atomic_fetch_add(&st->wrong, 1);
	atomic_store(&st->job_id, job->id);
	k = atomic_fetch_add(&st->fired, 1);
	if (k == 0)
		atomic_store(&st->first, t);
	if (k + 1 == st->n)
		atomic_store(&st->last, t);
}

/* Parks n WAIT_END calls on job `id`; with a first_deadline, their
 * deadlines spread from it over SPREAD_MS, else none. 0, or -1 (nothing
 * is left parked then). */
static int
storm_park(struct env *e, struct storm *st, size_t n, uint64_t id,
           int64_t first_deadline)
{
	memset(st, 0, sizeof(*st));
	st->n = n;
	st->want = first_deadline ? JOBD_DEADLINE_EXCEEDED : JOBD_OK;
	if ((st->w = calloc(n, sizeof(st->w[0]))) == NULL) {
		fprintf(stderr, "out of memory for %zu Waits\n", n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct waiter *w = &st->w[i];
		w->until = WAIT_END;
		if (first_deadline)
			w->deadline =
			    first_deadline + (int64_t) (i * SPREAD_MS / n);
		w->fire = storm_fire;
		w->arg = st;
		if (sched_wait(e->s, id, w) != JOBD_OK) {
			fprintf(stderr, "Wait on job %" PRIu64 " refused\n",
			        id);
			for (size_t k = 0; k < i; k++)
				sched_release(e->s, &st->w[k], JOBD_CANCELLED,
				              "bench failed");
			free(st->w);
			return -1;
		}
	}
	return 0;
}

/* Waits until every call has been answered; 0, or -1 if one had the
 * wrong status. A call still parked after AWAIT_LIMIT_S ends the program:
 * its waiter cannot be freed while the scheduler may fire it. */
static int
storm_await(struct storm *st)
{
	double until = now_us() + AWAIT_LIMIT_S * 1e6;

	while (atomic_load(&st->fired) < st->n ||
	       atomic_load(&st->first) == 0 || atomic_load(&st->last) == 0) {
		if (now_us() > until) {
			fprintf(stderr,
			        "only %zu of %zu Waits answered after "
			        "%d s\n",
			        atomic_load(&st->fired), st->n, AWAIT_LIMIT_S);
			exit(EXIT_FAILED);
		}
		usleep(100);
	}
	if (atomic_load(&st->wrong) > 0) {
		fprintf(stderr,
		        "%zu of %zu Waits answered with a status other "
		        "than %s\n",
		        atomic_load(&st->wrong), st->n,
		        jobd_status_name(st->want));
		return -1;
	}
	return 0;
}

/* expire: Waits on a queued job whose deadlines pass within SPREAD_MS. */
static int
run_expire(struct env *e, size_t n)
{
	struct storm st;
	struct getter g;
	uint64_t ids[2];
	int64_t first;
	double from;
	int rv;

	if (!two_queued(e->s, ids))
		return -1;
	first = sched_mono_ms() + LEAD_MS;
	if (storm_park(e, &st, n, ids[1], first) != 0)
		return -1;
	if (sched_mono_ms() >= first)
		fprintf(stderr,
		        "note: parking took longer than %d ms; the "
		        "first deadlines passed before it ended\n",
		        LEAD_MS);
	if (getter_start(&g, e) != 0) {
		fprintf(stderr, "cannot start the Get thread\n");
		storm_await(&st);
		free(st.w);
		return -1;
	}
	rv = storm_await(&st);
	getter_stop(&g);
	from = (double) first * 1e3;
	printf("schedbench expire: %zu Waits with deadlines over %d ms all "
	       "answered %.1f ms after the first deadline\n",
	       n, SPREAD_MS, (atomic_load(&st.last) - from) / 1e3);
	getter_print(&g, "expire", from, atomic_load(&st.last));
	getter_free(&g);
	free(st.w);
	return rv;
}

/* Submits one `count` job ahead of every queued one and waits for its
 * commit; its id, or 0. */
static uint64_t
submit_first(struct env *e)
{
	struct jobrec r = {0};
	struct storm st = {.n = 1, .want = JOBD_OK};
	struct waiter w = {
	    .until = WAIT_COMMIT, .fire = storm_fire, .arg = &st};
	char err[256];

	r.kind = strdup("count");
	r.params = calloc(1, sizeof(*r.params));
	if (r.kind == NULL || r.params == NULL)
		goto fail;
	r.nparams = 1;
	r.params[0].name = strdup("n");
	r.params[0].value = strdup("1");
	r.priority = INT32_MAX;
	r.max_attempts = 1;
	if (r.params[0].name == NULL || r.params[0].value == NULL)
		goto fail;
	if (sched_submit(e->s, &r, kindset_find(e->ks, "count"), &w, err,
	                 sizeof(err)) != JOBD_OK) {
		fprintf(stderr, "Submit refused: %s\n", err);
		goto fail;
	}
	if (storm_await(&st) != 0)
		return 0;
	return atomic_load(&st.job_id);
fail:
	jobrec_clear(&r);
	return 0;
}

/* end: Waits on a job that a worker (this thread) then ends. */
static int
run_end(struct env *e, size_t n)
{
	struct sched_work work;
	struct storm st;
	struct getter g;
	struct job *j;
	uint64_t id;
	double from;
	int rv;

	if ((id = submit_first(e)) == 0)
		return -1;
	if ((j = sched_take(e->s)) == NULL) {
		fprintf(stderr, "no job to take\n");
		return -1;
	}
	sched_job_work(j, &work);
	if (work.id != id)
		fprintf(stderr,
		        "note: took job %" PRIu64 ", not %" PRIu64
		        " as submitted\n",
		        work.id, id);
	if (storm_park(e, &st, n, work.id, 0) != 0) {
		sched_finish(e->s, j, JOBD_RUN_OK, NULL, 0, NULL);
		return -1;
	}
	if (getter_start(&g, e) != 0) {
		fprintf(stderr, "cannot start the Get thread\n");
		sched_finish(e->s, j, JOBD_RUN_OK, NULL, 0, NULL);
		storm_await(&st);
		free(st.w);
		return -1;
	}
	usleep(IDLE_MS * 1000);
	from = now_us();
	sched_finish(e->s, j, JOBD_RUN_OK, NULL, 0, NULL);
	rv = storm_await(&st);
	getter_stop(&g);
	printf("schedbench end: %zu Waits on a job that ends: first answered "
	       "%.1f ms, all %.1f ms after sched_finish\n",
	       n, (atomic_load(&st.first) - from) / 1e3,
	       (atomic_load(&st.last) - from) / 1e3);
	getter_print(&g, "end", from, atomic_load(&st.last));
	getter_free(&g);
	free(st.w);
	return rv;
}

/* ---- options ------------------------------------------------------------ */

/* Parses a count in [min, max] from option `name`; false if it is not
 * one. */
static bool
parse_count(const char *name, const char *s, uint64_t min, uint64_t max,
            uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < min ||
	    v > max) {
		fprintf(stderr,
		        "jobd-schedbench: %s must be a number from %" PRIu64
		        " to %" PRIu64 ", not '%s'\n",
		        name, min, max, s);
		return false;
	}
	*out = v;
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"jobs", required_argument, NULL, 'j'},
	    {"waits", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t jobs = D_JOBS, waits = D_WAITS;
	struct env e;
	int c, rv = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (!parse_count("--jobs", optarg, 2, MAX_JOBS, &jobs))
				return EXIT_USAGE;
			break;
		case 'w':
			if (!parse_count("--waits", optarg, 1, MAX_WAITS,
			                 &waits))
				return EXIT_USAGE;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	log_set_level(LOG_WARN);
	if (fill_db(argv[optind], jobs) != 0)
		return EXIT_FAILED;
	if (env_start(&e, argv[optind]) != 0) {
		env_stop(&e);
		return EXIT_FAILED;
	}
	if (e.queued != jobs)
		fprintf(stderr,
		        "note: '%s' holds %" PRIu64 " queued jobs, "
		        "not --jobs %" PRIu64 "\n",
		        argv[optind], e.queued, jobs);
	if (run_list(&e) != 0 || run_expire(&e, waits) != 0 ||
	    run_end(&e, waits) != 0)
		rv = EXIT_FAILED;
	fflush(stdout);
	env_stop(&e);
	return rv;
}

/*
 * metrics: counters and histograms kept with atomics, rendered as
 * Prometheus text.
 *
 * Recording. Every series lives in static storage, made at compile time:
 * a slot per kind (indexed by the id of the kind's name, kind_intern(),
 * so a hook never looks a name up, hashes or allocates), a slot per
 * method of the service, and the writer's two histograms. A hook is a
 * bucket search over a dozen bounds and two or three relaxed atomic adds;
 * it takes no lock, so it may run under the scheduler's lock (the state
 * counters are recorded where Stats' counts change, under sched.mtx, and
 * so agree with Stats whenever a client can see a job's change). A
 * histogram keeps its buckets uncumulated and no count of its own: the
 * renderer adds the buckets up, so _count always equals the +Inf bucket.
 * Its sum may lag its buckets by one observation during a render.
 *
 * Kinds: ids past METRICS_KINDS - 2 share the last slot, rendered with
 * kind="(other)" (a name no kind can have): the operator bounds the kinds,
 * this bounds the memory and the series whatever happens. A slot is
 * rendered once used, and for every kind of the current set even before
 * (so each defined kind's series start at 0, not missing).
 *
 * The chart (metrics_finished_recent): a ring of METRICS_RECENT_STEPS
 * words, each the number of its step (high 32 bits) and the jobs ended in
 * it (low 32), updated by compare-and-swap: a slot whose step number is
 * not the one a reader or writer expects belongs to a step long past and
 * counts as 0.
 *
 * Rendering builds the whole text in a growing buffer. It reads the atomics
 * one by one (no snapshot of the whole: a scrape may see an observation in
 * one series and not yet in another), calls the queue's stats (jobq.h;
 * the local queue: sched_stats(), a short hold of sched.mtx) and
 * kind_name_of() (names.mtx, per kind), stats the database files, reads
 * /proc/self. The source (metrics_attach) is guarded by src_mtx, held
 * across a render so that metrics_detach() never frees what a render
 * reads. Lock order: src_mtx, then the queue's lock (sched.mtx) or
 * names.mtx; no hook takes src_mtx.
 */
#include "metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "jobd.pb-c.h"
#include "jobd_status.h"
#include "registry.h"
#include "store.h"

#define HIST_MAX  20 /* bounds of a histogram, +Inf not counted */
#define METHODS   32 /* method slots, "unknown" the last */
#define CODES     17 /* enum jobd_status */
#define NFINISHED 3  /* succeeded, failed, cancelled */

typedef atomic_uint_fast64_t counter;

/* A histogram's bounds: le[] in its unit (ns, or ops), text[] as shown. */
struct hspec {
	size_t n;
	uint64_t le[HIST_MAX];
	const char *text[HIST_MAX];
	double scale; /* unit to the metric's base unit */
};

struct hist {
	counter b[HIST_MAX + 1]; /* b[n]: past the last bound */
	counter sum;
};

#define MS(x) ((uint64_t) ((x) *1000000.0 + 0.5)) /* ms to ns */

/* Job runs and time queued: a millisecond to an hour. */
static const struct hspec job_spec = {
    14,
    {MS(1), MS(5), MS(10), MS(50), MS(100), MS(500), MS(1000), MS(5000),
     MS(10000), MS(30000), MS(60000), MS(300000), MS(900000), MS(3600000)},
    {"0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "30", "60",
     "300", "900", "3600"},
    1e-9};
/* Requests: 100 us to a minute (a Wait may be parked for long). */
static const struct hspec req_spec = {
    17,
    {MS(0.1), MS(0.25), MS(0.5), MS(1), MS(2.5), MS(5), MS(10), MS(25), MS(50),
     MS(100), MS(250), MS(500), MS(1000), MS(2500), MS(5000), MS(10000),
     MS(60000)},
    {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
     "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "60"},
    1e-9};
/* Commits: 100 us to 10 s. */
static const struct hspec commit_spec = {
    16,
    {MS(0.1), MS(0.25), MS(0.5), MS(1), MS(2.5), MS(5), MS(10), MS(25), MS(50),
     MS(100), MS(250), MS(500), MS(1000), MS(2500), MS(5000), MS(10000)},
    {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
     "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"},
    1e-9};
/* Changes per commit: 1 to the writer's batch of 8192. */
static const struct hspec batch_spec = {
    14,
    {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192},
    {"1", "2", "4", "8", "16", "32", "64", "128", "256", "512", "1024", "2048",
     "4096", "8192"},
    1};

struct kstat {
	atomic_bool used;
	counter submitted;
	counter finished[NFINISHED];
	struct hist run;
	struct hist queued;
};

struct mstat {
	counter replies[CODES];
	struct hist dur;
};

static struct kstat kinds[METRICS_KINDS];
static struct mstat methods[METHODS];
static struct hist commit_dur, commit_ops;
static counter write_failures;
static counter gates[METRICS_GATES][MG_EVENTS];
static atomic_int_fast64_t parked;
static atomic_uint_fast64_t recent[METRICS_RECENT_STEPS];

static pthread_mutex_t src_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_source src; /* q NULL: none */

int64_t
metrics_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- recording ------------------------------------------------------- */

static void
add(counter *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static void
hist_add(const struct hspec *sp, struct hist *h, uint64_t v)
{
	size_t lo = 0, hi = sp->n;

	/* the first bound >= v, or n */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (sp->le[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	add(&h->b[lo], 1);
	add(&h->sum, v);
}

static struct kstat *
kslot(uint32_t kind)
{
	struct kstat *k =
	    &kinds[kind < METRICS_KINDS - 1 ? kind : METRICS_KINDS - 1];
	if (!atomic_load_explicit(&k->used, memory_order_relaxed))
		atomic_store_explicit(&k->used, true, memory_order_relaxed);
	return k;
}

static uint64_t
nonneg(int64_t v)
{
	return v > 0 ? (uint64_t) v : 0;
}

void
metrics_job_submitted(uint32_t kind)
{
	add(&kslot(kind)->submitted, 1);
}

/* The step now, of METRICS_RECENT_STEP_MS. */
static uint64_t
step_now(void)
{
	return (uint64_t) (metrics_now_ns() / 1000000) / METRICS_RECENT_STEP_MS;
}

void
metrics_job_finished(uint32_t kind, int state)
{
	if (state < JOB_SUCCEEDED || state > JOB_CANCELLED)
		return;
	add(&kslot(kind)->finished[state - JOB_SUCCEEDED], 1);

	uint64_t now = step_now(), step = now & 0xffffffffu;
	atomic_uint_fast64_t *slot = &recent[now % METRICS_RECENT_STEPS];
	uint64_t old = atomic_load_explicit(slot, memory_order_relaxed), nv;
	do {
		nv = (old >> 32) == step ? old + 1 : (step << 32) | 1;
	} while (!atomic_compare_exchange_weak_explicit(
	    slot, &old, nv, memory_order_relaxed, memory_order_relaxed));
}

void
metrics_job_started(uint32_t kind, int64_t queued_ms)
{
	hist_add(&job_spec, &kslot(kind)->queued, nonneg(queued_ms) * 1000000);
}

void
metrics_job_ran(uint32_t kind, int64_t ns)
{
	hist_add(&job_spec, &kslot(kind)->run, nonneg(ns));
}

void
metrics_request(unsigned method, int code, int64_t ns)
{
	struct mstat *m = &methods[method < METHODS - 1 ? method : METHODS - 1];
	add(&m->replies[code >= 0 && code < CODES ? code : JOBD_UNKNOWN], 1);
	hist_add(&req_spec, &m->dur, nonneg(ns));
}

void
metrics_parked(int delta)
{
	atomic_fetch_add_explicit(&parked, delta, memory_order_relaxed);
}

void
metrics_commit(size_t ops, int64_t ns)
{
	hist_add(&batch_spec, &commit_ops, ops);
	hist_add(&commit_spec, &commit_dur, nonneg(ns));
}

void
metrics_write_failure(void)
{
	add(&write_failures, 1);
}

void
metrics_gate(enum metrics_gate gate, enum metrics_gate_event e)
{
	if ((unsigned) gate < METRICS_GATES && (unsigned) e < MG_EVENTS)
		add(&gates[gate][e], 1);
}

void
metrics_finished_recent(uint32_t out[METRICS_RECENT_STEPS])
{
	uint64_t now = step_now();

	for (size_t i = 0; i < METRICS_RECENT_STEPS; i++) {
		uint64_t step = now + i + 1 - METRICS_RECENT_STEPS;
		uint64_t v = atomic_load_explicit(
		    &recent[step % METRICS_RECENT_STEPS], memory_order_relaxed);
		out[i] = (v >> 32) == (step & 0xffffffffu) && step <= now
		             ? (uint32_t) v
		             : 0;
	}
}

/* ---- the source ------------------------------------------------------ */

void
metrics_attach(const struct metrics_source *s)
{
	pthread_mutex_lock(&src_mtx);
	src = *s;
	pthread_mutex_unlock(&src_mtx);
}

void
metrics_detach(jobq *q)
{
	pthread_mutex_lock(&src_mtx);
	if (src.q == q)
		memset(&src, 0, sizeof(src));
	pthread_mutex_unlock(&src_mtx);
}

/* ---- rendering ------------------------------------------------------- */

struct text {
	char *p;
	size_t n, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3)))
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if ((size_t) n < t->cap - t->n)
			break;
		size_t cap = t->cap * 2 + (size_t) n;
		char *p = realloc(t->p, cap);
		if (p == NULL) {
			t->oom = true;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	t->n += (size_t) n;
}

static void
head(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's lines; labels: "" or `kind="x",` (with its comma). */
static void
hist_put(struct text *t, const char *name, const char *labels,
         const struct hspec *sp, const struct hist *h)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < sp->n; i++) {
		cum += atomic_load_explicit(&h->b[i], memory_order_relaxed);
		put(t, "%s_bucket{%sle=\"%s\"} %llu\n", name, labels,
		    sp->text[i], (unsigned long long) cum);
	}
	cum += atomic_load_explicit(&h->b[i], memory_order_relaxed);
	put(t, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
	    (unsigned long long) cum);
	/* strip the comma for _sum and _count */
	size_t ln = strlen(labels);
	int lw = ln > 0 ? (int) ln - 1 : 0;
	double sum =
	    (double) atomic_load_explicit(&h->sum, memory_order_relaxed) *
	    sp->scale;
	put(t, "%s_sum%s%.*s%s %.15g\n", name, ln ? "{" : "", lw, labels,
	    ln ? "}" : "", sum);
	put(t, "%s_count%s%.*s%s %llu\n", name, ln ? "{" : "", lw, labels,
	    ln ? "}" : "", (unsigned long long) cum);
}

static uint64_t
load(const counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* The label value of kind slot i (names are [A-Za-z0-9_.-]: nothing to
 * escape), or NULL when the name has no id any more (never: ids live as
 * long as the process). */
static const char *
kind_label(size_t i)
{
	return i == METRICS_KINDS - 1 ? METRICS_OTHER_KIND
	                              : kind_name_of((uint32_t) i);
}

static void
render_kinds(struct text *t, const bool *show)
{
	static const char *const fin[NFINISHED] = {"succeeded", "failed",
	                                           "cancelled"};
	char labels[128];
	const char *name;
	size_t i;

	head(t, "jobd_jobs_submitted_total", "counter",
	     "Jobs acknowledged (their Submit committed), by kind.");
	for (i = 0; i < METRICS_KINDS; i++)
		if (show[i] && (name = kind_label(i)) != NULL)
			put(t, "jobd_jobs_submitted_total{kind=\"%s\"} %llu\n",
			    name,
			    (unsigned long long) load(&kinds[i].submitted));
	head(t, "jobd_jobs_finished_total", "counter",
	     "Jobs that ended, by kind and final state.");
	for (i = 0; i < METRICS_KINDS; i++)
		for (int f = 0; f < NFINISHED; f++)
			if (show[i] && (name = kind_label(i)) != NULL)
				put(t,
				    "jobd_jobs_finished_total{kind=\"%s\","
				    "state=\"%s\"} %llu\n",
				    name, fin[f],
				    (unsigned long long) load(
				        &kinds[i].finished[f]));
	head(t, "jobd_job_run_duration_seconds", "histogram",
	     "How long each run (attempt) of a job took, by kind.");
	for (i = 0; i < METRICS_KINDS; i++)
		if (show[i] && (name = kind_label(i)) != NULL) {
			snprintf(labels, sizeof(labels), "kind=\"%s\",", name);
			hist_put(t, "jobd_job_run_duration_seconds", labels,
			         &job_spec, &kinds[i].run);
		}
	head(t, "jobd_job_queued_seconds", "histogram",
	     "How long a job was queued before each start, by kind "
	     "(time scheduled for later not counted).");
	for (i = 0; i < METRICS_KINDS; i++)
		if (show[i] && (name = kind_label(i)) != NULL) {
			snprintf(labels, sizeof(labels), "kind=\"%s\",", name);
			hist_put(t, "jobd_job_queued_seconds", labels,
			         &job_spec, &kinds[i].queued);
		}
}

static void
render_methods(struct text *t)
{
	const ProtobufCServiceDescriptor *sd = &jobd__v1__jobs__descriptor;
	size_t nm = sd->n_methods < METHODS - 1 ? sd->n_methods : METHODS - 1;
	char labels[96];

	head(t, "jobd_request_duration_seconds", "histogram",
	     "Time from a call's dispatch to its reply, by method (any "
	     "front).");
	for (size_t i = 0; i < METHODS; i++) {
		if (i >= nm && i != METHODS - 1)
			continue;
		if (i == METHODS - 1) { /* "unknown": only once seen */
			uint64_t any = 0;
			for (size_t b = 0; b <= HIST_MAX; b++)
				any += load(&methods[i].dur.b[b]);
			if (any == 0)
				continue;
		}
		snprintf(labels, sizeof(labels), "method=\"%s\",",
		         i < nm ? sd->methods[i].name : "unknown");
		hist_put(t, "jobd_request_duration_seconds", labels, &req_spec,
		         &methods[i].dur);
	}
	head(t, "jobd_replies_total", "counter",
	     "Replies sent, by method and status code.");
	for (size_t i = 0; i < METHODS; i++) {
		if (i >= nm && i != METHODS - 1)
			continue;
		for (int c = 0; c < CODES; c++) {
			uint64_t v = load(&methods[i].replies[c]);
			if (v == 0)
				continue;
			put(t,
			    "jobd_replies_total{method=\"%s\",code=\"%s\"} "
			    "%llu\n",
			    i < nm ? sd->methods[i].name : "unknown",
			    jobd_status_name(c), (unsigned long long) v);
		}
	}
}

/* Jobs by state, workers, the database: from the source, if any. */
static void
render_source(struct text *t, bool *show)
{
	struct sched_stats st;
	if (src.q == NULL)
		return;
	src.q->ops->stats(src.q, &st);
	kindset *ks = src.q->ops->kinds(src.q);
	if (ks != NULL) {
		size_t n;
		const struct kind_def *d = kindset_all(ks, &n);
		for (size_t i = 0; i < n; i++)
			show[d[i].id < METRICS_KINDS - 1 ? d[i].id
			                                 : METRICS_KINDS - 1] =
			    true;
		kindset_unref(ks);
	}
	head(t, "jobd_jobs", "gauge",
	     "Jobs by state, as Stats counts them (ended jobs until "
	     "purged).");
	for (int s = 1; s <= JOB_STATE_MAX; s++)
		put(t, "jobd_jobs{state=\"%s\"} %llu\n", job_state_name(s),
		    (unsigned long long) st.counts[s]);
	head(t, "jobd_workers", "gauge", "Worker threads (--workers).");
	put(t, "jobd_workers %u\n", src.workers);
	head(t, "jobd_workers_busy", "gauge", "Workers running a job now.");
	put(t, "jobd_workers_busy %u\n", st.busy);
	uint64_t bytes = src.q->ops->db_bytes(src.q);
	if (bytes > 0) {
		head(t, "jobd_database_size_bytes", "gauge",
		     "Size of the database on disk: SQLite's file and "
		     "write-ahead log, or the whole PostgreSQL database.");
		put(t, "jobd_database_size_bytes %llu\n",
		    (unsigned long long) bytes);
	}
}

/* The gates' connections: each gate's reasons for closing one. */
static const struct {
	enum metrics_gate gate;
	enum metrics_gate_event e;
	const char *reason;
} gate_reasons[] = {
    {METRICS_GATE_HTTP, MG_SILENT, "silent"},
    {METRICS_GATE_HTTP, MG_SLOW, "slow_head"},
    {METRICS_GATE_HTTP, MG_EVICTED, "evicted"},
    {METRICS_GATE_HTTP, MG_UNREACHABLE, "unreachable"},
    {METRICS_GATE_IPC, MG_EARLY, "early"},
    {METRICS_GATE_IPC, MG_BAD_HEADER, "bad_header"},
    {METRICS_GATE_IPC, MG_EVICTED, "evicted"},
};
static const char *const gate_names[METRICS_GATES] = {"http", "ipc"};

static void
render_gates(struct text *t)
{
	head(t, "jobd_gate_connections", "gauge",
	     "Connections a gate of jobd's holds now (http: --http; ipc: the "
	     "nng front's ipc:// listeners).");
	for (int g = 0; g < METRICS_GATES; g++) {
		uint64_t in = load(&gates[g][MG_ACCEPTED]),
		         out = load(&gates[g][MG_CLOSED]);
		put(t, "jobd_gate_connections{gate=\"%s\"} %llu\n",
		    gate_names[g],
		    (unsigned long long) (in > out ? in - out : 0));
	}
	head(t, "jobd_gate_accepted_total", "counter",
	     "Connections a gate took.");
	for (int g = 0; g < METRICS_GATES; g++)
		put(t, "jobd_gate_accepted_total{gate=\"%s\"} %llu\n",
		    gate_names[g],
		    (unsigned long long) load(&gates[g][MG_ACCEPTED]));
	head(t, "jobd_gate_full_total", "counter",
	     "Times the HTTP gate stopped accepting at its connection cap "
	     "(limit http_connections) with none idle.");
	put(t, "jobd_gate_full_total{gate=\"http\"} %llu\n",
	    (unsigned long long) load(&gates[METRICS_GATE_HTTP][MG_FULL]));
	head(t, "jobd_gate_closed_total", "counter",
	     "Connections a gate closed itself, by reason (docs/operations.md: "
	     "silent or slow clients, room made at the cap, nng unreachable, "
	     "ipc peers that are not clients).");
	for (size_t i = 0; i < sizeof(gate_reasons) / sizeof(gate_reasons[0]);
	     i++)
		put(t,
		    "jobd_gate_closed_total{gate=\"%s\",reason=\"%s\"} %llu\n",
		    gate_names[gate_reasons[i].gate], gate_reasons[i].reason,
		    (unsigned long long) load(
		        &gates[gate_reasons[i].gate][gate_reasons[i].e]));
}

/* ---- process_* --------------------------------------------------------- */

/* The whole of a small /proc file into buf; its length, or -1. */
static ssize_t
read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (ssize_t) n;
}

/* The process's start, in seconds since the epoch: its start time in
 * /proc/self/stat (clock ticks since boot) plus the boot time (btime in
 * /proc/stat); 0 if unknown. Found once. */
static double process_start;

static void
find_start(void)
{
	char buf[4096], *p;
	unsigned long long ticks = 0, btime = 0;
	long hz = sysconf(_SC_CLK_TCK);

	if (read_small("/proc/self/stat", buf, sizeof(buf)) < 0 ||
	    (p = strrchr(buf, ')')) == NULL)
		return;
	/* after the command: field 3 (state) on; starttime is field 22 */
	if (sscanf(p + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d "
	           "%*d %*d %*d %*d %*d %llu",
	           &ticks) != 1)
		return;
	FILE *f = fopen("/proc/stat", "re");
	if (f == NULL)
		return;
	char line[256];
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "btime %llu", &btime) == 1)
			break;
	fclose(f);
	if (btime > 0 && hz > 0)
		process_start = (double) btime + (double) ticks / (double) hz;
}

static void
render_process(struct text *t)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct rusage ru;
	struct rlimit rl;
	char buf[256];
	long page = sysconf(_SC_PAGESIZE);

	pthread_once(&once, find_start);
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		double cpu = (double) ru.ru_utime.tv_sec +
		             (double) ru.ru_utime.tv_usec / 1e6 +
		             (double) ru.ru_stime.tv_sec +
		             (double) ru.ru_stime.tv_usec / 1e6;
		head(t, "process_cpu_seconds_total", "counter",
		     "Total user and system CPU time spent in seconds.");
		put(t, "process_cpu_seconds_total %.6f\n", cpu);
	}
	unsigned long long vpages, rpages;
	if (read_small("/proc/self/statm", buf, sizeof(buf)) > 0 &&
	    sscanf(buf, "%llu %llu", &vpages, &rpages) == 2 && page > 0) {
		head(t, "process_virtual_memory_bytes", "gauge",
		     "Virtual memory size in bytes.");
		put(t, "process_virtual_memory_bytes %llu\n",
		    vpages * (unsigned long long) page);
		head(t, "process_resident_memory_bytes", "gauge",
		     "Resident memory size in bytes.");
		put(t, "process_resident_memory_bytes %llu\n",
		    rpages * (unsigned long long) page);
	}
	DIR *d = opendir("/proc/self/fd");
	if (d != NULL) {
		unsigned long long n = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			n += e->d_name[0] != '.';
		closedir(d);
		head(t, "process_open_fds", "gauge",
		     "Number of open file descriptors.");
		put(t, "process_open_fds %llu\n", n > 0 ? n - 1 : 0); /* d's */
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY) {
		head(t, "process_max_fds", "gauge",
		     "Maximum number of open file descriptors.");
		put(t, "process_max_fds %llu\n",
		    (unsigned long long) rl.rlim_cur);
	}
	if (process_start > 0) {
		head(t, "process_start_time_seconds", "gauge",
		     "Start time of the process since unix epoch in seconds.");
		put(t, "process_start_time_seconds %.2f\n", process_start);
	}
}

int
metrics_render(char **buf, size_t *len)
{
	struct text t = {malloc(16384), 0, 16384, false};
	bool show[METRICS_KINDS];

	*buf = NULL;
	*len = 0;
	if (t.p == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < METRICS_KINDS; i++)
		show[i] =
		    atomic_load_explicit(&kinds[i].used, memory_order_relaxed);

	pthread_mutex_lock(&src_mtx);
	render_source(&t, show);
	pthread_mutex_unlock(&src_mtx);
	render_kinds(&t, show);
	head(&t, "jobd_parked_calls", "gauge",
	     "Calls parked now (Submit, Wait, Cancel, ... waiting for their "
	     "answer), every front.");
	int64_t np = atomic_load_explicit(&parked, memory_order_relaxed);
	put(&t, "jobd_parked_calls %lld\n", (long long) (np > 0 ? np : 0));
	render_methods(&t);
	head(&t, "jobd_commit_batch_size", "histogram",
	     "Changes written by each commit of the writer (group commit).");
	hist_put(&t, "jobd_commit_batch_size", "", &batch_spec, &commit_ops);
	head(&t, "jobd_commit_duration_seconds", "histogram",
	     "Time each commit took, its transaction's begin to its fsync.");
	hist_put(&t, "jobd_commit_duration_seconds", "", &commit_spec,
	         &commit_dur);
	head(&t, "jobd_write_failures_total", "counter",
	     "Commits the database refused (disk full, read-only, I/O "
	     "error); retried every 500 ms while it refuses.");
	put(&t, "jobd_write_failures_total %llu\n",
	    (unsigned long long) load(&write_failures));
	render_gates(&t);
	render_process(&t);

	if (t.oom) {
		free(t.p);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	*buf = t.p;
	*len = t.n;
	return JOBD_OK;
}

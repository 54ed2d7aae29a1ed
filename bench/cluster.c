/*
 * cluster: jobd on PostgreSQL, several daemons sharing one queue, measured
 * beside the SQLite back end in the same run.
 *
 * Throughput. Tiny jobs (count n=1) from --clients concurrent clients,
 * one Submit per job and then SubmitBatch of --batch, as the throughput
 * workload does (load.h's load_submit_to and load_report): on one daemon
 * with SQLite, on one daemon with PostgreSQL, and on three daemons sharing
 * one PostgreSQL database, client thread i calling daemon i mod 3. Each
 * phase has daemons and a database of its own (a fresh one made on the
 * server: pgsrv.h), so no phase pays for the rows of another. The figure
 * a target holds is "calls alone": jobs over the time the Submits took,
 * every one acknowledged once committed (a durable Submit). Three daemons
 * must be at least as fast as one (the ratio rows).
 *
 * "Until all succeeded" is reported beside it, the rate the daemons ran
 * the jobs at: it ends when one more job, submitted after the others, has
 * succeeded (a Wait for it), not when Stats says so, because a shared
 * queue's Stats reads the ended jobs' counts from the database, which on
 * a big table it does only now and then, not as they end. Jobs are claimed in
 * id order, so every job before it has been claimed by then, and the few tiny
 * ones still running end within microseconds. Over the same span, the CPU time
 * per job of the daemons and of PostgreSQL (all its processes, when it runs on
 * this machine: /proc) says what a job costs each, and so where a cluster would
 * saturate.
 *
 * Get and rescue. Two daemons A and B on a fresh database, with a short
 * lease (--lease-ms). Long count jobs fill A's workers before B starts,
 * so that they run on A and B stays idle with an empty queue. A Get of
 * one of them is timed on A (a job running on the daemon asked: answered
 * from memory; target p99 < 1 ms) and on B (a job on another daemon:
 * B asks the database). Then A gets SIGKILL; the rescue time is from the
 * kill until B's workers are all busy with A's jobs (B's Stats), which a
 * Get on B then shows running again with the attempt counted. It is
 * reported beside the lease: nobody may take a job whose lease has not
 * expired, and A renewed its leases last at most a renewal period before
 * the kill, so the rescue takes the lease less that, plus the time until
 * a rescue pass and a claim see it.
 *
 * The PostgreSQL server is --pg-url's, or one of the benchmark's own that
 * tests/pg_cluster.sh starts in DATADIR/pg and that is stopped at the end.
 * Every daemon is stopped with SIGTERM (and must exit 0) or, on an error
 * path, killed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "bounds.h"
#include "load.h"
#include "pgsrv.h"

#ifndef JOBD_BENCH_PG_CLUSTER
#define JOBD_BENCH_PG_CLUSTER "tests/pg_cluster.sh"
#endif

#define MAX_DAEMONS     3
#define START_WAIT_MS   60000u
#define LAST_WAIT_MS    600000u /* the Wait for the last job of a phase */
#define WARMUP_GETS     100
#define RESCUE_WAIT_MIN 30000 /* ms; at least 10 leases */
#define US(ns)          ((double) (ns) / 1e3)
#define SEC(ns)         ((double) (ns) / 1e9)

/* The daemons of one phase, on one database. */
struct dset {
	struct jobdproc p[MAX_DAEMONS];
	const char *urls[MAX_DAEMONS];
	uint32_t n;
};

/* The throughput phases' back ends, in the order they run. */
enum { SQLITE, PG1, PG3, NSETS };

static const struct {
	const char *tag;   /* its daemons' directories */
	const char *label; /* in the rows */
	uint32_t daemons;
} sets[NSETS] = {
    {"cluster-sqlite", "SQLite", 1},
    {"cluster-pg1", "PG x1", 1},
    {"cluster-pg3", "PG x3", 3},
};

/* [set][batch > 0]: a target only on PostgreSQL's batches, calls alone
 * (the issue's; SQLite's targets are the throughput workload's) */
static const struct load_rows rows[NSETS][2] = {
    {{"sqlite_submit_jobs_per_s", "sqlite_submit_calls_jobs_per_s", NULL,
      "sqlite_submit_p99_us", REPORT_NONE, REPORT_NONE, 0, 0},
     {"sqlite_batch_jobs_per_s", "sqlite_batch_calls_jobs_per_s", NULL,
      "sqlite_batch_call_p99_us", REPORT_NONE, REPORT_NONE, 0, 0}},
    {{"pg1_submit_jobs_per_s", "pg1_submit_calls_jobs_per_s", NULL,
      "pg1_submit_p99_us", REPORT_NONE, REPORT_NONE, 0, 0},
     {"pg1_batch_jobs_per_s", "pg1_batch_calls_jobs_per_s", NULL,
      "pg1_batch_call_p99_us", REPORT_NONE, REPORT_GE, 0, 20000}},
    {{"pg3_submit_jobs_per_s", "pg3_submit_calls_jobs_per_s", NULL,
      "pg3_submit_p99_us", REPORT_NONE, REPORT_NONE, 0, 0},
     {"pg3_batch_jobs_per_s", "pg3_batch_calls_jobs_per_s", NULL,
      "pg3_batch_call_p99_us", REPORT_NONE, REPORT_GE, 0, 20000}},
};

/* [set][batch > 0]: CPU per job of the daemons, of PostgreSQL */
static const char *const cpu_names[NSETS][2][2] = {
    {{"sqlite_submit_cpu_jobd_us", NULL}, {"sqlite_batch_cpu_jobd_us", NULL}},
    {{"pg1_submit_cpu_jobd_us", "pg1_submit_cpu_pg_us"},
     {"pg1_batch_cpu_jobd_us", "pg1_batch_cpu_pg_us"}},
    {{"pg3_submit_cpu_jobd_us", "pg3_submit_cpu_pg_us"},
     {"pg3_batch_cpu_jobd_us", "pg3_batch_cpu_pg_us"}},
};

/* The CPU used so far by the daemons of s and by PostgreSQL (pg NULL, or
 * not on this machine: -1). */
struct cpu2 {
	int64_t jobd, pg;
};
static void
cpu_mark(const struct dset *s, const struct pgsrv *pg, struct cpu2 *m)
{
	int64_t ns;

	m->jobd = 0;
	for (uint32_t i = 0; i < s->n; i++)
		if (bounds_proc_stat(s->p[i].pid, false, NULL, &ns) == 0)
			m->jobd += ns;
	m->pg = pg != NULL ? pgsrv_cpu_ns(pg) : -1;
}

/* The rows "CPU per job" of a phase of n jobs between m0 and m1. */
static void
cpu_report(struct bench *b, const char *const names[2], uint64_t n,
           const struct cpu2 *m0, const struct cpu2 *m1)
{
	report_add(b->rep, names[0], "CPU per job, jobd (all daemons)",
	           US((double) (m1->jobd - m0->jobd) / (double) n), "us", 1,
	           REPORT_NONE, 0);
	if (names[1] != NULL && m0->pg >= 0 && m1->pg >= 0)
		report_add(b->rep, names[1], "CPU per job, PostgreSQL",
		           US((double) (m1->pg - m0->pg) / (double) n), "us", 1,
		           REPORT_NONE, 0);
}

/* Starts n daemons named TAG-1..n (their --node on PostgreSQL) on `db`
 * (NULL: each its own SQLite file) with `extra`, all spawned before any
 * is waited for. */
static int
dset_start(struct bench *b, struct dset *s, const char *tag, uint32_t n,
           const char *db, const char *const *extra)
{
	const char *argv[16];
	char name[64], dir[PATH_MAX];
	size_t k = 0;

	memset(s, 0, sizeof(*s));
	for (; extra[k] != NULL && k < 12; k++)
		argv[k] = extra[k];
	for (uint32_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-%u", tag, i + 1);
		argv[k] = db != NULL ? "--node" : NULL;
		argv[k + 1] = name;
		argv[k + 2] = NULL;
		if (bench_subdir(b, name, dir, sizeof(dir)) != 0 ||
		    jobdproc_spawn_db(&s->p[i], b->o.jobd, dir, db, argv) != 0)
			return (-1);
		s->urls[i] = s->p[i].url;
		s->n++;
	}
	for (uint32_t i = 0; i < n; i++)
		if (jobdproc_ready(&s->p[i], START_WAIT_MS, NULL) != 0)
			return (-1);
	return (0);
}

/* Stops every daemon of s (those not running are skipped). */
static int
dset_stop(struct dset *s)
{
	int ret = 0;

	for (uint32_t i = 0; i < s->n; i++)
		if (jobdproc_stop(&s->p[i]) != 0)
			ret = -1;
	return (ret);
}

/* The --db of a phase: a fresh database on pg, or NULL (SQLite). */
static int
phase_db(struct pgsrv *pg, char *url, size_t len, const char **db)
{
	*db = NULL;
	if (pg == NULL)
		return (0);
	if (pgsrv_createdb(pg, url, len) != 0)
		return (-1);
	*db = url;
	return (0);
}

/* Submits `job` on c once more and waits until it has succeeded: *t_done
 * when the Wait said so. */
static int
wait_last(jobd_client *c, const Jobd__V1__SubmitRequest *job, int64_t *t_done)
{
	uint64_t id;

	if (bench_submit(c, job, &id) != 0 ||
	    bench_wait_succeeded(c, id, LAST_WAIT_MS) != 0)
		return (-1);
	*t_done = bench_now_ns();
	return (0);
}

/* The load of a throughput phase on the daemons of s, and its rows;
 * *calls_rate: jobs/s, calls alone. */
static int
tput_load(struct bench *b, const struct dset *s, const struct pgsrv *pg, int k,
          uint32_t batch, double *calls_rate)
{
	struct load_result res = {0};
	struct cpu2 m0, m1;
	struct bench_count_req job;
	jobd_client *c;
	uint64_t n = b->o.jobs;
	int64_t t_done;
	char call[48];
	int rv;

	if (batch > 0)
		snprintf(call, sizeof(call), "%s batch of %u", sets[k].label,
		         batch);
	else
		snprintf(call, sizeof(call), "%s Submit", sets[k].label);
	bench_progress("cluster", "%llu jobs, %u clients, %s, %u daemon%s",
	               (unsigned long long) n, b->o.clients, call, s->n,
	               s->n > 1 ? "s" : "");
	if (bench_client(s->urls[0], &c) != 0)
		return (-1);
	jobd_client_set_timeout(c, LAST_WAIT_MS + 10000);
	bench_count_req_init(&job, 1);
	cpu_mark(s, pg, &m0);
	if ((rv = load_submit_to(s->urls, s->n, &job.req, n, batch,
	                         b->o.clients, true, &res)) == 0 &&
	    (rv = wait_last(c, &job.req, &t_done)) == 0) {
		cpu_mark(s, pg, &m1);
		load_report(b->rep, &rows[k][batch > 0], call, n, &res, t_done);
		cpu_report(b, cpu_names[k][batch > 0], n, &m0, &m1);
		*calls_rate = (double) n / SEC(res.t_end - res.t0);
	}
	free(res.lat);
	jobd_client_close(c);
	return (rv);
}

/* One throughput phase of set k, on daemons and a database of its own. */
static int
tput_phase(struct bench *b, struct pgsrv *pg, int k, uint32_t batch,
           double *calls_rate)
{
	static const char *const extra[] = {"--max-queue", "0", NULL};
	struct dset s;
	const char *db;
	char url[1200], tag[64];
	int ret = -1;

	snprintf(tag, sizeof(tag), "%s%s", sets[k].tag,
	         batch > 0 ? "-batch" : "");
	memset(&s, 0, sizeof(s));
	if (k == SQLITE)
		pg = NULL;
	if (phase_db(pg, url, sizeof(url), &db) == 0 &&
	    dset_start(b, &s, tag, sets[k].daemons, db, extra) == 0)
		ret = tput_load(b, &s, pg, k, batch, calls_rate);
	if (dset_stop(&s) != 0)
		ret = -1;
	return (ret);
}

/* Polls c's Stats until `want` workers are busy: *t_first when the first
 * was, *t_all when all are. Gives up `limit_ms` after t0. */
static int
wait_rescued(jobd_client *c, uint32_t want, int64_t t0, int64_t limit_ms,
             int64_t *t_first, int64_t *t_all)
{
	int64_t end = t0 + limit_ms * 1000000;
	Jobd__V1__StatsReply *st;

	*t_first = 0;
	for (;;) {
		if (load_stats(c, &st) != 0)
			return (-1);
		int64_t now = bench_now_ns();
		uint32_t busy = st->busy_workers;
		jobd__v1__stats_reply__free_unpacked(st, NULL);
		if (busy > 0 && *t_first == 0)
			*t_first = now;
		if (busy >= want) {
			*t_all = now;
			return (0);
		}
		if (now > end) {
			bench_errorf("%u of the %u jobs of the killed daemon "
			             "run on the other one after %.1f s",
			             busy, want, SEC(now - t0));
			return (-1);
		}
		bench_sleep_us(1000);
	}
}

/* Checks with a Get on c that jobs ids[0..n) run again, each started
 * twice at least. */
static int
check_rerun(jobd_client *c, uint64_t *ids, uint32_t n)
{
	Jobd__V1__GetReply *rep;
	int rv, ret = 0;

	if ((rv = jobd_get(c, ids, n, &rep)) != JOBD_OK) {
		bench_errorf("Get failed: %s: %s", jobd_status_name(rv),
		             jobd_client_errmsg());
		return (-1);
	}
	for (size_t i = 0; i < rep->n_jobs && ret == 0; i++) {
		const Jobd__V1__Job *j = rep->jobs[i];
		if (j->state != JOBD__V1__JOB_STATE__JOB_STATE_RUNNING ||
		    j->attempts < 2) {
			bench_errorf("job %llu is in state %d after %u "
			             "attempts, not running again",
			             (unsigned long long) j->id, (int) j->state,
			             j->attempts);
			ret = -1;
		}
	}
	if (ret == 0 && rep->n_jobs != n) {
		bench_errorf("Get of %u jobs answered %zu", n, rep->n_jobs);
		ret = -1;
	}
	jobd__v1__get_reply__free_unpacked(rep, NULL);
	return (ret);
}

/* Get on the daemon running the job and on another; then the rescue. */
static int
get_and_rescue(struct bench *b, struct pgsrv *pg)
{
	static const char *const local_names[3] = {
	    "get_local_p50_us", "get_local_p99_us", "get_local_max_us"};
	static const char *const remote_names[3] = {
	    "get_remote_p50_us", "get_remote_p99_us", "get_remote_max_us"};
	struct bench_count_req lng;
	struct dset a, bb;
	const char *db;
	jobd_client *ca = NULL, *cb = NULL;
	uint32_t workers = 0, nids = 0, n = b->o.samples;
	uint64_t *ids = NULL, *local = NULL, *remote = NULL, max;
	int64_t t_kill, t_first, t_all, limit;
	char url[1200], lease[32];
	const char *extra[] = {"--lease", lease, NULL};
	int ret = -1;

	snprintf(lease, sizeof(lease), "%ums", b->o.lease_ms);
	memset(&a, 0, sizeof(a));
	memset(&bb, 0, sizeof(bb));
	if ((local = calloc(n, sizeof(*local))) == NULL ||
	    (remote = calloc(n, sizeof(*remote))) == NULL) {
		bench_errorf("out of memory");
		goto out;
	}
	if (phase_db(pg, url, sizeof(url), &db) != 0 ||
	    dset_start(b, &a, "cluster-a", 1, db, extra) != 0 ||
	    bench_client(a.urls[0], &ca) != 0 ||
	    bench_workers(ca, &workers) != 0)
		goto out;
	if ((ids = calloc(workers, sizeof(*ids))) == NULL) {
		bench_errorf("out of memory");
		goto out;
	}
	if (bench_count_max(ca, &max) != 0)
		goto out;
	bench_count_req_init(&lng, max);
	bench_progress("cluster",
	               "%u count jobs n=%llu on daemon A, --lease %s", workers,
	               (unsigned long long) max, lease);
	if (bench_occupy(ca, &lng.req, ids, &nids, workers) != 0)
		goto out;
	/* B starts on an empty queue: A's jobs stay A's */
	if (dset_start(b, &bb, "cluster-b", 1, db, extra) != 0 ||
	    bench_client(bb.urls[0], &cb) != 0 ||
	    bench_wait_busy(cb, 0, 0, "on the daemon that should be idle") != 0)
		goto out;
	bench_progress("cluster",
	               "%u Gets of job %llu on A, which runs it, "
	               "then on B",
	               n, (unsigned long long) ids[0]);
	if (bench_time_gets(ca, ids[0], WARMUP_GETS, n, local) != 0 ||
	    bench_time_gets(cb, ids[0], WARMUP_GETS, n, remote) != 0)
		goto out;
	bench_get_rows(b, "job on the daemon asked", local, n, local_names,
	               true);
	bench_get_rows(b, "job on another daemon", remote, n, remote_names,
	               false);

	bench_progress("cluster", "SIGKILL to A; until B runs its %u jobs",
	               workers);
	jobd_client_close(ca);
	ca = NULL;
	t_kill = bench_now_ns();
	jobdproc_kill(&a.p[0]);
	limit = (int64_t) b->o.lease_ms * 10;
	if (limit < RESCUE_WAIT_MIN)
		limit = RESCUE_WAIT_MIN;
	if (wait_rescued(cb, workers, t_kill, limit, &t_first, &t_all) != 0 ||
	    check_rerun(cb, ids, workers) != 0)
		goto out;
	report_add(b->rep, "lease_s", "lease (--lease)",
	           (double) b->o.lease_ms / 1e3, "s", 1, REPORT_NONE, 0);
	report_add(b->rep, "rescued_jobs", "jobs running on the killed daemon",
	           workers, "", 0, REPORT_NONE, 0);
	report_add(b->rep, "rescue_first_s",
	           "rescue: SIGKILL to the first running again",
	           SEC(t_first - t_kill), "s", 2, REPORT_NONE, 0);
	report_add(b->rep, "rescue_all_s",
	           "rescue: SIGKILL to all running again", SEC(t_all - t_kill),
	           "s", 2, REPORT_NONE, 0);
	report_add(b->rep, "rescue_lease_ratio", "rescue (all) / lease",
	           SEC(t_all - t_kill) / ((double) b->o.lease_ms / 1e3), "", 2,
	           REPORT_NONE, 0);
	ret = 0;
out:
	if (bench_cancel_jobs(cb != NULL ? cb : ca, ids, &nids) != 0)
		ret = -1;
	jobd_client_close(ca);
	jobd_client_close(cb);
	if (dset_stop(&a) != 0)
		ret = -1;
	if (dset_stop(&bb) != 0)
		ret = -1;
	free(ids);
	free(remote);
	free(local);
	return (ret);
}

/* The server: --pg-url's, or ours in DATADIR/pg. */
static int
pg_open(struct bench *b, struct pgsrv *pg)
{
	char state[PATH_MAX] = "";

	if (b->o.pg_url == NULL) {
		/* as root the server runs as `nobody`, who must reach its
		 * directory: DATADIR is opened to traversal (its other
		 * subdirectories stay 0700) */
		if (geteuid() == 0 && chmod(b->datadir, 0711) != 0) {
			bench_errorf("cannot chmod '%s': %s", b->datadir,
			             strerror(errno));
			return (-1);
		}
		if ((size_t) snprintf(state, sizeof(state), "%s/pg",
		                      b->datadir) >= sizeof(state)) {
			bench_errorf("the data directory's path is too long");
			return (-1);
		}
		bench_progress("cluster", "a PostgreSQL server of its own: %s",
		               JOBD_BENCH_PG_CLUSTER);
	}
	if (pgsrv_open(pg, b->o.pg_url, JOBD_BENCH_PG_CLUSTER, state,
	               bench_parent_dir(&b->o)) != 0)
		return (-1);
	bench_progress("cluster", "PostgreSQL at %s: %s",
	               b->o.pg_url != NULL ? "--pg-url" : pg->admin,
	               pg->settings);
	report_option(b->rep, "pg_settings", pg->settings);
	if (!pg->durable)
		fprintf(stderr,
		        "jobd-bench: warning: PostgreSQL's commits are not "
		        "durable (%s): its figures are not those of a durable "
		        "Submit\n",
		        pg->settings);
	return (0);
}

int
wl_cluster(struct bench *b)
{
	static const char *const ratio_names[2] = {"pg3_pg1_submit_ratio",
	                                           "pg3_pg1_batch_ratio"};
	struct pgsrv pg;
	double rate[NSETS][2];
	int ret = -1;

	memset(&pg, 0, sizeof(pg));
	for (int k = SQLITE; k < NSETS; k++) {
		if (k == PG1 && pg_open(b, &pg) != 0)
			goto out;
		if (tput_phase(b, &pg, k, 0, &rate[k][0]) != 0 ||
		    tput_phase(b, &pg, k, b->o.batch, &rate[k][1]) != 0)
			goto out;
	}
	for (int i = 0; i < 2; i++)
		report_add(b->rep, ratio_names[i],
		           i == 0 ? "PG x3 / PG x1, Submit calls alone"
		                  : "PG x3 / PG x1, batch calls alone",
		           rate[PG3][i] / rate[PG1][i], "", 2, REPORT_GE, 1);
	ret = get_and_rescue(b, &pg);
out:
	if (pgsrv_close(&pg, b->o.keep) != 0)
		ret = -1;
	return (ret);
}

/*
 * The workloads that need a jobd of their own (not with --addr), because
 * they choose its workers or read its memory or time its start:
 *
 * speedup: 8 CPU jobs of about --job-ms each (count, its n calibrated on
 * one worker), on 1 worker and then on one per online CPU.
 *
 * memory: a daemon without workers (--workers 0, --max-queue 0) fills with
 * queued jobs; its VmRSS before and after, per job.
 *
 * restart: jobd started on a database of queued jobs (memory's, when it
 * ran with as many): the time to answer Ping and to run the first job.
 *
 * memory-scheduled, restart-scheduled: the same with jobs submitted with a
 * delay of a day (SubmitRequest.delay_ms), so that they stay `scheduled`
 * for the whole run: the RSS per scheduled job, and the start on a
 * database of them, where nothing runs: the time to answer Ping, and
 * Stats must then count every job as scheduled. The two kinds of job are
 * filled in daemons of their own, so the queued figures stay what they
 * were.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "load.h"

#define SPEEDUP_JOBS   8
#define CALIB_N0       10000000ull /* the first calibration job */
#define CALIB_MIN_MS   100         /* scale n up until a job takes this */
#define JOB_WAIT_MS    600000u     /* one speedup job's Wait */
#define WARMUP_BATCH   4u /* memory's warm-up: a call of 4 per client */
#define STALL_MS       60000u
#define RESTART_WAIT   120000u   /* ms, until the restarted jobd pings */
#define SCHED_DELAY_MS 86400000u /* scheduled jobs: a day ahead */
#define MS(ns)         ((double) (ns) / 1e6)
#define MIB(b)         ((double) (b) / 1048576.0)

/* Submits count n=n and waits for it; *ns from Submit to Wait's return.
 */
static int
run_count(jobd_client *c, uint64_t n, int64_t *ns)
{
	struct bench_count_req r;
	uint64_t id;

	bench_count_req_init(&r, n);
	int64_t t0 = bench_now_ns();
	if (bench_submit(c, &r.req, &id) != 0 ||
	    bench_wait_succeeded(c, id, JOB_WAIT_MS) != 0)
		return (-1);
	*ns = bench_now_ns() - t0;
	return (0);
}

/* 8 jobs of count n: submitted one after another, then waited for; *ns
 * from the first Submit to the last Wait's return. */
static int
run_eight(jobd_client *c, uint64_t n, int64_t *ns)
{
	struct bench_count_req r;
	uint64_t ids[SPEEDUP_JOBS];

	bench_count_req_init(&r, n);
	int64_t t0 = bench_now_ns();
	for (int i = 0; i < SPEEDUP_JOBS; i++)
		if (bench_submit(c, &r.req, &ids[i]) != 0)
			return (-1);
	for (int i = 0; i < SPEEDUP_JOBS; i++)
		if (bench_wait_succeeded(c, ids[i], JOB_WAIT_MS) != 0)
			return (-1);
	*ns = bench_now_ns() - t0;
	return (0);
}

/* Starts jobd with `workers` on DATADIR/name, with a client. */
static int
start_with_client(struct bench *b, struct jobdproc *p, const char *name,
                  const char *const *extra, jobd_client **c)
{
	char dir[PATH_MAX];

	*c = NULL;
	if (bench_subdir(b, name, dir, sizeof(dir)) != 0 ||
	    jobdproc_start(p, b->o.jobd, dir, extra) != 0)
		return (-1);
	if (jobd_client_open(c, p->url) != JOBD_OK) {
		bench_errorf("%s", jobd_client_errmsg());
		jobdproc_kill(p);
		return (-1);
	}
	return (0);
}

/* Stops p and closes c; -1 if jobd did not exit 0. */
static int
stop_with_client(struct jobdproc *p, jobd_client *c)
{
	jobd_client_close(c);
	return (jobdproc_stop(p));
}

/* The loop of spin_main: about as much work per iteration as count's. */
static void *
spin_main(void *arg)
{
	volatile uint64_t x = 0;
	for (uint64_t i = 0, n = *(const uint64_t *) arg; i < n; i++)
		x += i;
	return (NULL);
}

/* Wall time of SPEEDUP_JOBS loops of n iterations, `threads` at a time. */
static int64_t
spin_jobs(uint64_t n, long threads)
{
	pthread_t t[SPEEDUP_JOBS];
	int64_t t0 = bench_now_ns();
	for (int done = 0; done < SPEEDUP_JOBS;) {
		int k = 0;
		for (; k < threads && done + k < SPEEDUP_JOBS; k++)
			if (pthread_create(&t[k], NULL, spin_main, &n) != 0)
				break;
		for (int i = 0; i < k; i++)
			pthread_join(t[i], NULL);
		if (k == 0)
			return (-1);
		done += k;
	}
	return (bench_now_ns() - t0);
}

/*
 * The machine's own speedup, for reading jobd's: the same eight jobs as
 * plain loops in threads of this process, one at a time and then `threads`
 * at a time. Virtual CPUs that share a physical core, or a host that is
 * busy, give less than `threads`, whatever jobd does.
 */
static double
machine_speedup(uint32_t job_ms, long threads)
{
	uint64_t n = 1000000;
	int64_t ns;
	while ((ns = spin_jobs(n, SPEEDUP_JOBS)) >= 0 &&
	       MS(ns) * (double) threads < CALIB_MIN_MS)
		n *= 10;
	if (ns <= 0)
		return (0);
	/* SPEEDUP_JOBS at once ran about SPEEDUP_JOBS / threads in a row */
	n = (uint64_t) ((double) n * job_ms /
	                (MS(ns) * (double) threads / SPEEDUP_JOBS));
	int64_t one = spin_jobs(n, 1), many = spin_jobs(n, threads);
	return one > 0 && many > 0 ? (double) one / (double) many : 0;
}

int
wl_speedup(struct bench *b)
{
	static const char *const one[] = {"--workers", "1", NULL};
	const char *many[] = {"--workers", NULL, NULL};
	struct jobdproc p = {0};
	jobd_client *c = NULL;
	uint64_t n = CALIB_N0;
	int64_t ns, wall1, walln;
	char workers[16], label[64];

	snprintf(workers, sizeof(workers), "%ld", b->ncpu);
	many[1] = workers;

	/* calibration, on the 1-worker daemon */
	if (start_with_client(b, &p, "speedup-1", one, &c) != 0)
		return (-1);
	for (;;) {
		if (run_count(c, n, &ns) != 0)
			goto fail;
		if (MS(ns) >= CALIB_MIN_MS || n > UINT64_MAX / 10)
			break;
		n *= 10;
	}
	n = (uint64_t) ((double) n * (double) b->o.job_ms / MS(ns));
	if (n == 0)
		n = 1;
	bench_progress("speedup",
	               "%d jobs of count n=%llu (about %u ms "
	               "each), 1 worker",
	               SPEEDUP_JOBS, (unsigned long long) n, b->o.job_ms);
	if (run_eight(c, n, &wall1) != 0)
		goto fail;
	if (stop_with_client(&p, c) != 0)
		return (-1);

	bench_progress("speedup", "the same, %s workers", workers);
	if (start_with_client(b, &p, "speedup-n", many, &c) != 0)
		return (-1);
	if (run_eight(c, n, &walln) != 0)
		goto fail;
	if (stop_with_client(&p, c) != 0)
		return (-1);

	report_add(b->rep, "count_n", "count n of one job (calibrated)",
	           (double) n, "", 0, REPORT_NONE, 0);
	report_add(b->rep, "one_job_ms", "one job, 1 worker (wall time / 8)",
	           MS(wall1) / SPEEDUP_JOBS, "ms", 1, REPORT_NONE, 0);
	report_add(b->rep, "wall_1_s", "8 jobs, 1 worker: wall time",
	           MS(wall1) / 1e3, "s", 3, REPORT_NONE, 0);
	snprintf(label, sizeof(label), "8 jobs, %ld workers: wall time",
	         b->ncpu);
	report_add(b->rep, "wall_n_s", label, MS(walln) / 1e3, "s", 3,
	           REPORT_NONE, 0);
	/* the target is for 2 cores; on others there is none */
	snprintf(label, sizeof(label), "speedup, %ld workers / 1", b->ncpu);
	report_add(b->rep, "ratio", label, (double) wall1 / (double) walln, "",
	           2, b->ncpu == 2 ? REPORT_GE : REPORT_NONE, 1.95);
	report_add(b->rep, "workers_n", "workers (online CPUs)",
	           (double) b->ncpu, "", 0, REPORT_NONE, 0);
	bench_progress("speedup", "the same as plain loops, without jobd");
	snprintf(label, sizeof(label), "plain loops, %ld threads / 1 (ceiling)",
	         b->ncpu);
	report_add(b->rep, "machine_ratio", label,
	           machine_speedup(b->o.job_ms, b->ncpu), "", 2, REPORT_NONE,
	           0);
	return (0);
fail:
	jobd_client_close(c);
	jobdproc_kill(&p);
	return (-1);
}

/* The job memory and restart fill with: count n=1, queued, or with
 * `scheduled` a day ahead. */
static void
fill_req_init(struct bench_count_req *r, bool scheduled)
{
	bench_count_req_init(r, 1);
	if (scheduled)
		r->req.delay_ms = SCHED_DELAY_MS;
}

/*
 * For workload `wl`: starts a jobd without workers on DATADIR/name, submits a
 * few jobs from each client (the warm-up) and then `n` jobs with SubmitBatch,
 * queued or (`scheduled`) a day ahead; *rss0 and *rss1 its VmRSS after the
 * warm-up and at the end, *submit_ns how long the n took. p stays up.
 */
static int
fill(struct bench *b, struct jobdproc *p, const char *wl, const char *name,
     bool scheduled, uint64_t n, uint64_t *rss0, uint64_t *rss1,
     int64_t *submit_ns)
{
	static const char *const extra[] = {"--workers", "0", "--max-queue",
	                                    "0", NULL};
	struct bench_count_req job;
	struct load_result res;
	char dir[PATH_MAX];

	fill_req_init(&job, scheduled);
	if (bench_subdir(b, name, dir, sizeof(dir)) != 0 ||
	    jobdproc_start(p, b->o.jobd, dir, extra) != 0)
		return (-1);
	if (load_submit_req(p->url, &job.req, WARMUP_BATCH * b->o.clients,
	                    WARMUP_BATCH, b->o.clients, false, &res) != 0 ||
	    jobdproc_rss(p, rss0) != 0)
		goto fail;
	bench_progress(wl,
	               "%s %llu jobs (SubmitBatch of %u, %u "
	               "clients)",
	               scheduled ? "scheduling, a day ahead," : "queueing",
	               (unsigned long long) n, b->o.batch, b->o.clients);
	if (load_submit_req(p->url, &job.req, n, b->o.batch, b->o.clients,
	                    false, &res) != 0 ||
	    jobdproc_rss(p, rss1) != 0)
		goto fail;
	*submit_ns = res.t_end - res.t0;
	return (0);
fail:
	jobdproc_kill(p);
	return (-1);
}

/* memory-scheduled: the daemon in b->queue counts `want` jobs scheduled
 * and none queued (it did not take them for queued ones); 0, or -1 having
 * said why. */
static int
check_scheduled(struct bench *b, uint64_t want)
{
	Jobd__V1__StatsReply *st;
	jobd_client *c = NULL;
	uint64_t sched, queued;

	if (bench_client(b->queue.url, &c) != 0)
		return (-1);
	if (load_stats(c, &st) != 0) {
		jobd_client_close(c);
		return (-1);
	}
	sched = st->scheduled;
	queued = st->queued;
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	jobd_client_close(c);
	if (sched != want || queued != 0) {
		bench_errorf(
		    "Stats counts %llu jobs scheduled and %llu queued, "
		    "not %llu scheduled",
		    (unsigned long long) sched, (unsigned long long) queued,
		    (unsigned long long) want);
		return (-1);
	}
	return (0);
}

/* memory and memory-scheduled: leaves the daemon up in b->queue. */
static int
memory(struct bench *b, const char *wl, bool scheduled)
{
	const char *what = scheduled ? "scheduled" : "queued";
	uint64_t n = b->o.queued, rss0, rss1;
	char label[64];
	int64_t ns;

	if (b->queue.pid > 0 && jobdproc_stop(&b->queue) != 0)
		return (-1);
	if (fill(b, &b->queue, wl, scheduled ? "queue-scheduled" : "queue",
	         scheduled, n, &rss0, &rss1, &ns) != 0)
		return (-1);
	b->queue_jobs = n;
	b->queue_scheduled = scheduled;
	if (scheduled &&
	    check_scheduled(b, n + WARMUP_BATCH * b->o.clients) != 0)
		return (-1);
	report_add(b->rep, "rss_before_mib", "jobd VmRSS after warm-up",
	           MIB(rss0), "MiB", 1, REPORT_NONE, 0);
	snprintf(label, sizeof(label), "jobd VmRSS with the jobs %s", what);
	report_add(b->rep, "rss_after_mib", label, MIB(rss1), "MiB", 1,
	           REPORT_NONE, 0);
	snprintf(label, sizeof(label), "jobs %s", what);
	report_add(b->rep, scheduled ? "scheduled_jobs" : "queued_jobs", label,
	           (double) n, "", 0, REPORT_NONE, 0);
	snprintf(label, sizeof(label), "RSS per %s job", what);
	report_add(b->rep, "bytes_per_job", label,
	           ((double) rss1 - (double) rss0) / (double) n, "bytes", 1,
	           REPORT_LE, 200);
	snprintf(label, sizeof(label), "time to %s them",
	         scheduled ? "schedule" : "queue");
	report_add(b->rep, "submit_s", label, MS(ns) / 1e3, "s", 3, REPORT_NONE,
	           0);
	snprintf(label, sizeof(label), "jobs/s %s", what);
	report_add(b->rep, "submit_jobs_per_s", label,
	           (double) n / (MS(ns) / 1e3), "jobs/s", 0, REPORT_NONE, 0);
	return (0);
}

int
wl_memory(struct bench *b)
{
	return (memory(b, "memory", false));
}

int
wl_memory_scheduled(struct bench *b)
{
	return (memory(b, "memory-scheduled", true));
}

/* The size of DIR/jobd.db with its -wal file, in bytes. */
static uint64_t
db_size(const char *dir)
{
	char db[PATH_MAX + 16], wal[PATH_MAX + 32];
	struct stat st;
	uint64_t size = 0;

	snprintf(db, sizeof(db), "%s/jobd.db", dir);
	if (stat(db, &st) == 0)
		size += (uint64_t) st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", db);
	if (stat(wal, &st) == 0)
		size += (uint64_t) st.st_size;
	return (size);
}

/* restart-scheduled, once jobd pings: one Stats, which must count every
 * job in the database as scheduled (none queued, none run). */
static int
restart_check_scheduled(struct bench *b, jobd_client *c, int64_t t0)
{
	Jobd__V1__StatsReply *st;
	uint64_t total, sched;
	int64_t t_stats;

	if (load_stats(c, &st) != 0)
		return (-1);
	t_stats = bench_now_ns();
	sched = st->scheduled;
	total = st->scheduled + st->queued + st->running + st->succeeded +
	        st->failed + st->cancelled;
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	report_add(b->rep, "db_jobs", "jobs in the database", (double) total,
	           "", 0, REPORT_NONE, 0);
	report_add(b->rep, "stats_scheduled", "of them scheduled (Stats)",
	           (double) sched, "", 0, REPORT_NONE, 0);
	report_add(b->rep, "stats_ms", "start to the first Stats answered",
	           MS(t_stats - t0), "ms", 1, REPORT_NONE, 0);
	if (sched != total || total == 0) {
		bench_errorf("after the start, Stats counts %llu of %llu jobs "
		             "scheduled",
		             (unsigned long long) sched,
		             (unsigned long long) total);
		return (-1);
	}
	return (0);
}

/* restart (first job running) and restart-scheduled (all still
 * scheduled): the database of memory's or memory-scheduled's daemon when
 * it holds as many jobs of the same sort, else one filled here. */
static int
restart(struct bench *b, const char *wl, bool scheduled)
{
	const char *extra[] = {"--workers", NULL, "--max-queue", "0", NULL};
	uint64_t n = b->o.rjobs, rss0, rss1, total = 0, size;
	Jobd__V1__StatsReply *st;
	struct jobdproc p;
	jobd_client *c = NULL;
	int64_t ns, t0, t_ping, t_first;
	char workers[16], dir[PATH_MAX];
	bool first = true;

	snprintf(workers, sizeof(workers), "%ld", b->ncpu);
	extra[1] = workers;
	if (b->queue.pid > 0 && b->queue_jobs == n &&
	    b->queue_scheduled == scheduled) {
		bench_progress(wl, "the database of %s's %llu jobs",
		               scheduled ? "memory-scheduled" : "memory",
		               (unsigned long long) n);
		snprintf(dir, sizeof(dir), "%s", b->queue.dir);
		if (jobdproc_stop(&b->queue) != 0)
			return (-1);
	} else {
		if (b->queue.pid > 0 && jobdproc_stop(&b->queue) != 0)
			return (-1);
		if (fill(b, &p, wl, scheduled ? "restart-scheduled" : "restart",
		         scheduled, n, &rss0, &rss1, &ns) != 0)
			return (-1);
		snprintf(dir, sizeof(dir), "%s", p.dir);
		if (jobdproc_stop(&p) != 0)
			return (-1);
	}

	size = db_size(dir);
	bench_progress(wl, "starting jobd on it, %s workers", workers);
	t0 = bench_now_ns();
	if (jobdproc_spawn(&p, b->o.jobd, dir, extra) != 0 ||
	    jobdproc_ready(&p, RESTART_WAIT, &t_ping) != 0)
		return (-1);
	if (jobd_client_open(&c, p.url) != JOBD_OK) {
		bench_errorf("%s", jobd_client_errmsg());
		goto fail;
	}
	if (scheduled) {
		report_add(b->rep, "db_mib", "database size (with -wal)",
		           MIB(size), "MiB", 1, REPORT_NONE, 0);
		report_add(b->rep, "ping_ms", "start to serving Ping",
		           MS(t_ping - t0), "ms", 1, REPORT_LT, 2000);
		if (restart_check_scheduled(b, c, t0) != 0)
			goto fail;
		return (stop_with_client(&p, c));
	}
	for (;;) {
		if (load_stats(c, &st) != 0)
			goto fail;
		t_first = bench_now_ns();
		bool running = st->running > 0 || st->succeeded > 0 ||
		               st->busy_workers > 0;
		if (first)
			total = st->queued + st->running + st->succeeded +
			        st->failed + st->cancelled;
		first = false;
		jobd__v1__stats_reply__free_unpacked(st, NULL);
		if (running)
			break;
		if (t_first - t0 > (int64_t) RESTART_WAIT * 1000000) {
			bench_errorf("no job ran within %u s of jobd's start",
			             RESTART_WAIT / 1000);
			goto fail;
		}
		bench_sleep_us(1000);
	}
	report_add(b->rep, "db_jobs", "jobs in the database", (double) total,
	           "", 0, REPORT_NONE, 0);
	report_add(b->rep, "db_mib", "database size (with -wal)", MIB(size),
	           "MiB", 1, REPORT_NONE, 0);
	report_add(b->rep, "ping_ms", "start to serving Ping", MS(t_ping - t0),
	           "ms", 1, REPORT_LT, 2000);
	report_add(b->rep, "first_running_ms", "start to the first job running",
	           MS(t_first - t0), "ms", 1, REPORT_NONE, 0);
	return (stop_with_client(&p, c));
fail:
	jobd_client_close(c);
	jobdproc_kill(&p);
	return (-1);
}

int
wl_restart(struct bench *b)
{
	return (restart(b, "restart", false));
}

int
wl_restart_scheduled(struct bench *b)
{
	return (restart(b, "restart-scheduled", true));
}

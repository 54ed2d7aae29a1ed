#ifndef JOBD_BENCH_H
#define JOBD_BENCH_H

/*
 * jobd-bench: what the workloads share. main.c parses the options and runs
 * the workloads (front.c, inflight.c, exec.c, own.c, cluster.c) in a fixed
 * order; each measures with the client library (load.c generates the load)
 * against a jobd of its own (jobdproc.h) or --addr, and hands its figures
 * to the report (report.h).
 */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobd_client.h"
#include "jobdproc.h"
#include "report.h"

/* The options, after --quick and the defaults are applied. */
struct bench_opts {
	const char *jobd;   /* the jobd to start */
	const char *addr;   /* --addr: a running jobd; NULL: our own */
	const char *dir;    /* --dir: where the data directory is made */
	const char *json;   /* --json FILE, or NULL */
	bool keep;          /* --keep: leave the data directory */
	bool quick;         /* --quick */
	uint32_t samples;   /* latency: Gets per phase */
	uint64_t jobs;      /* throughput, inflight: jobs per phase */
	uint32_t clients;   /* client threads */
	uint32_t inflight;  /* inflight: calls in flight on one client */
	uint32_t batch;     /* jobs per SubmitBatch call */
	uint32_t job_ms;    /* speedup: the length of one job */
	uint64_t queued;    /* memory, memory-scheduled: jobs submitted */
	uint64_t rjobs;     /* restart, restart-scheduled: jobs in the DB */
	const char *pg_url; /* cluster: --pg-url, or NULL: a server of ours */
	uint32_t lease_ms;  /* cluster: the daemons' --lease for the rescue */
};

struct bench {
	struct bench_opts o;
	char datadir[PATH_MAX]; /* ours, "" with --addr */
	long ncpu;              /* online CPUs */
	report *rep;
	/* memory's (or memory-scheduled's) daemon, left running for restart
	 * (restart-scheduled) to reuse (pid 0: none), how many jobs it holds
	 * and whether they are scheduled */
	struct jobdproc queue;
	uint64_t queue_jobs;
	bool queue_scheduled;
};

/* The most jobs one SubmitBatch call may carry. */
#define BENCH_BATCH_MAX 1000u

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);
/* Sleeps `us` microseconds. */
void bench_sleep_us(long us);
/* "jobd-bench: ..." on stderr; also kept as the last error, for the JSON. */
void bench_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last message of bench_errorf() ("" if none), cleared by
 * bench_error_clear(). */
const char *bench_last_error(void);
void bench_error_clear(void);
/* "jobd-bench: WORKLOAD: ..." on stderr: what is going on, for long runs. */
void bench_progress(const char *workload, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sorts v[0..n) and returns the nearest-rank percentile p (0 < p <= 100);
 * 0 when n is 0. */
uint64_t bench_percentile(uint64_t *v, size_t n, double p);

/* The request for one tiny job: kind count, n as given. `n` must live as
 * long as the request; nothing is allocated. */
struct bench_count_req {
	Jobd__V1__SubmitRequest req;
	Jobd__V1__SubmitRequest__ParamsEntry param;
	Jobd__V1__SubmitRequest__ParamsEntry *params[1];
	char n[24];
};
void bench_count_req_init(struct bench_count_req *r, uint64_t n);

/* The program kinds of the benchmark's kinds directory (exec.c). */
#define BENCH_KIND_TRUE   "bench-true"   /* /bin/true: exits at once */
#define BENCH_KIND_SPIN   "bench-spin"   /* a shell busy loop, never ends */
#define BENCH_KIND_PARKED "bench-parked" /* exec's queued jobs' kind */

/* Writes the kinds directory, DATADIR/kinds, with bench-true and
 * bench-spin, and puts its path in `out`. 0, or -1 having said why. */
int bench_kinds_dir(const struct bench *b, char *out, size_t len);
/* The request for one job of `kind` (static), without parameters. */
void bench_kind_req_init(struct bench_count_req *r, const char *kind);

/* Makes DIR/NAME under the data directory for one daemon, into `out`.
 * 0, or -1 having said why. */
int bench_subdir(const struct bench *b, const char *name, char *out,
                 size_t len);

/* Where the data directory is made: --dir, $TMPDIR or /var/tmp. */
const char *bench_parent_dir(const struct bench_opts *o);
/* Starts a jobd of the phase's own on DATADIR/name with the NULL-terminated
 * `extra` arguments, unless --addr was given (then *p is not running);
 * *url is where to reach the daemon either way. 0, or -1 having said why. */
int bench_jobd(struct bench *b, struct jobdproc *p, const char *name,
               const char *const *extra, const char **url);
/* Opens a client of `url` into *c; 0, or -1 having said why. */
int bench_client(const char *url, jobd_client **c);

/* The calls the workloads share (front.c); each returns 0, or -1 having
 * said why. */
/* Submits `req` and puts the job's id in *id. */
int bench_submit(jobd_client *c, const Jobd__V1__SubmitRequest *req,
                 uint64_t *id);
/* Waits at most deadline_ms (as jobd_wait) for job id to end; 0 when it
 * succeeded. */
int bench_wait_succeeded(jobd_client *c, uint64_t id, uint32_t deadline_ms);
/* The largest n the daemon's count kind takes, at most 1e12: a count job
 * of it runs for as long as a run needs. */
int bench_count_max(jobd_client *c, uint64_t *max);
/* Times n Gets of job `id` (after `warmup` untimed ones) into out[]. */
int bench_time_gets(jobd_client *c, uint64_t id, uint32_t warmup, uint32_t n,
                    uint64_t *out);
/* Polls Stats until the number of busy workers is from lo to hi; `what`
 * names the wait in the message when it lasts too long. */
int bench_wait_busy(jobd_client *c, uint32_t lo, uint32_t hi, const char *what);
/* The daemon's workers (Stats) into *workers; none is an error. */
int bench_workers(jobd_client *c, uint32_t *workers);
/* Submits jobs of req until *nv (counting them, ids into v) is `workers`
 * and waits until that many workers are busy. */
int bench_occupy(jobd_client *c, const Jobd__V1__SubmitRequest *req,
                 uint64_t *v, uint32_t *nv, uint32_t workers);
/* Cancels the *n jobs of ids[] (each once: *n is 0 after); c NULL: none. */
int bench_cancel_jobs(jobd_client *c, const uint64_t *ids, uint32_t *n);
/* Adds the rows "Get p50/p99/max, PHASE" of the n samples v[] (sorted),
 * in µs, under the JSON names[]; p99's target < 1 ms when `target`. */
void bench_get_rows(struct bench *b, const char *phase, uint64_t *v, size_t n,
                    const char *const names[3], bool target);

/* The workloads: 0 when it ran, -1 when it could not (said why). */
int wl_latency(struct bench *b);
int wl_latency_scrape(struct bench *b);
int wl_throughput(struct bench *b);
int wl_inflight(struct bench *b);
int wl_exec(struct bench *b);
int wl_speedup(struct bench *b);
int wl_memory(struct bench *b);
int wl_restart(struct bench *b);
int wl_memory_scheduled(struct bench *b);
int wl_restart_scheduled(struct bench *b);
int wl_cluster(struct bench *b);

#endif

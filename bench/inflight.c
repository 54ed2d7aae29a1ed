/*
 * inflight: many calls in flight on ONE client (one connection), with the
 * client library's asynchronous calls. Two phases, each on a fresh daemon
 * and database of its own (or on --addr's), each after measuring the
 * round trip and the fsync (bounds.h):
 *
 *   submit       N Submits of count n=1 in flight until --jobs are
 *                accepted, then until all have succeeded (Stats);
 *   submit-wait  N slots, each submitting a job and then waiting for it
 *                (Wait) before the next: the figure is per job, from the
 *                Submit sent to the Wait answered.
 *
 * The driver: N slots, each carrying one job at a time. A call's done
 * callback runs on one of nng's threads and must not block, so it does the
 * slot's next step itself: it records the latency, issues the Wait or the
 * next job's Submit, and returns. Latencies go into an array indexed by
 * job, allocated beforehand; each slot writes only its own job's entry.
 *
 * One mutex guards the counters (the next job, the jobs answered) and
 * `stop`; calls are started with it held, so once the main thread has set
 * `stop` no call can start, and closing the client then cancels the ones in
 * flight (each done() runs before close returns). The library never runs
 * a done() on the thread that started the call, so starting one with the
 * mutex held cannot deadlock. The main thread waits on the condition
 * variable for the last job or a failure, waking every POLL_MS to see
 * whether anything moved: STALL_MS without an answer fails the workload.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "bounds.h"
#include "load.h"

#define CALL_MS  60000u /* a Submit's deadline: sanitizer builds are slow */
#define WAIT_MS  60000u /* a Wait's deadline */
#define STALL_MS 60000u /* no call answered for this long: failed */
#define POLL_MS  100
/* submit-wait's per-job p50 bound: rtt + 2 fsync + this */
#define P50_SLACK_NS 500000
#define US(ns)       ((double) (ns) / 1e3)

struct flight;

/* One call in flight at a time: a Submit, or (submit-wait) its Wait. */
struct slot {
	struct flight *f;
	uint64_t job; /* the job it carries, 0..njobs-1 */
	int64_t t0;   /* when that job's Submit was started */
};

struct flight {
	jobd_client *c;
	const Jobd__V1__SubmitRequest *req;
	bool wait; /* submit-wait: each job is waited for */
	uint64_t njobs;
	uint64_t *lat; /* [njobs], ns: Submit, or Submit to Wait answered */
	struct slot *slots;
	pthread_mutex_t mtx;
	pthread_cond_t cond; /* the last job answered, or stop */
	uint64_t next;       /* the next job to start */
	uint64_t answered;   /* jobs whose last call was answered */
	int64_t t_last;      /* when the last job was answered */
	bool stop;           /* a call failed or the main thread gave up */
	char err[512];       /* the first failure */
};

/* Records the first failure and stops the flight. Called with f->mtx. */
static void fail_locked(struct flight *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail_locked(struct flight *f, const char *fmt, ...)
{
	va_list ap;

	if (!f->stop) {
		va_start(ap, fmt);
		vsnprintf(f->err, sizeof(f->err), fmt, ap);
		va_end(ap);
		f->stop = true;
	}
	pthread_cond_broadcast(&f->cond);
}

static void submit_done(void *arg, int status, ProtobufCMessage *reply,
                        const char *errmsg);
static void wait_done(void *arg, int status, ProtobufCMessage *reply,
                      const char *errmsg);

/* Starts the next job's Submit on slot s, if there is one. Called with
 * f->mtx held. */
static void
start_next_locked(struct slot *s)
{
	struct flight *f = s->f;
	int rv;

	if (f->stop || f->next == f->njobs)
		return;
	s->job = f->next++;
	s->t0 = bench_now_ns();
	if ((rv = jobd_submit_async(f->c, f->req, submit_done, s)) != JOBD_OK)
		fail_locked(f, "Submit could not start: %s: %s",
		            jobd_status_name(rv), jobd_client_errmsg());
}

/* Slot s's job is answered at `now`: its latency, and the next. */
static void
job_answered(struct slot *s, int64_t now)
{
	struct flight *f = s->f;

	f->lat[s->job] = (uint64_t) (now - s->t0);
	pthread_mutex_lock(&f->mtx);
	if (++f->answered == f->njobs) {
		f->t_last = now;
		pthread_cond_broadcast(&f->cond);
	}
	start_next_locked(s);
	pthread_mutex_unlock(&f->mtx);
}

static void
submit_done(void *arg, int status, ProtobufCMessage *reply, const char *errmsg)
{
	struct slot *s = arg;
	struct flight *f = s->f;
	int64_t now = bench_now_ns();
	uint64_t id = 0;
	int rv;

	if (status == JOBD_OK) {
		Jobd__V1__SubmitReply *r = (Jobd__V1__SubmitReply *) reply;
		id = r->job != NULL ? r->job->id : 0;
		jobd__v1__submit_reply__free_unpacked(r, NULL);
	}
	if (status != JOBD_OK || id == 0) {
		pthread_mutex_lock(&f->mtx);
		if (status != JOBD_OK)
			fail_locked(f, "Submit failed: %s: %s",
			            jobd_status_name(status), errmsg);
		else
			fail_locked(f, "Submit answered without a job id");
		pthread_mutex_unlock(&f->mtx);
		return;
	}
	if (!f->wait) {
		job_answered(s, now);
		return;
	}
	pthread_mutex_lock(&f->mtx);
	if (!f->stop &&
	    (rv = jobd_wait_async(f->c, id, WAIT_MS, wait_done, s)) != JOBD_OK)
		fail_locked(f, "Wait for job %llu could not start: %s: %s",
		            (unsigned long long) id, jobd_status_name(rv),
		            jobd_client_errmsg());
	pthread_mutex_unlock(&f->mtx);
}

static void
wait_done(void *arg, int status, ProtobufCMessage *reply, const char *errmsg)
{
	struct slot *s = arg;
	struct flight *f = s->f;
	int64_t now = bench_now_ns();
	Jobd__V1__JobState state = JOBD__V1__JOB_STATE__JOB_STATE_UNSPECIFIED;
	uint64_t id = 0;

	if (status == JOBD_OK) {
		Jobd__V1__WaitReply *r = (Jobd__V1__WaitReply *) reply;
		if (r->job != NULL) {
			state = r->job->state;
			id = r->job->id;
		}
		jobd__v1__wait_reply__free_unpacked(r, NULL);
	}
	if (status == JOBD_OK &&
	    state == JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED) {
		job_answered(s, now);
		return;
	}
	pthread_mutex_lock(&f->mtx);
	if (status != JOBD_OK)
		fail_locked(f, "Wait failed: %s: %s", jobd_status_name(status),
		            errmsg);
	else
		fail_locked(f, "job %llu (count n=1) was %s after its Wait",
		            (unsigned long long) id,
		            state == JOBD__V1__JOB_STATE__JOB_STATE_FAILED
		                ? "failed"
		            : state == JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED
		                ? "cancelled"
		                : "not ended");
	pthread_mutex_unlock(&f->mtx);
}

/* The main thread's wait for the last job or a failure; a stall of
 * STALL_MS is a failure. Returns with f->mtx held. */
static void
await_locked(struct flight *f)
{
	uint64_t last = f->answered;
	int64_t moved = bench_now_ns();

	while (!f->stop && f->answered < f->njobs) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long) POLL_MS * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&f->cond, &f->mtx, &ts);
		int64_t now = bench_now_ns();
		if (f->answered != last) {
			last = f->answered;
			moved = now;
		} else if (now - moved > (int64_t) STALL_MS * 1000000) {
			fail_locked(f,
			            "no call answered for %u ms (%llu of %llu "
			            "jobs answered, %u in flight)",
			            STALL_MS, (unsigned long long) f->answered,
			            (unsigned long long) f->njobs,
			            (unsigned) (f->next - f->answered));
		}
	}
}

/*
 * Runs njobs jobs of `req` on client c, `inflight` at a time, into *f
 * (f->lat: each job's latency; f->t_last: when the last was answered).
 * *t0 is taken just before the first call. 0, or -1 having said why;
 * either way no call is in flight after, and on failure c is closed (NULL).
 */
static int
fly(jobd_client **c, const Jobd__V1__SubmitRequest *req, bool wait,
    uint64_t njobs, uint32_t inflight, struct flight *f, int64_t *t0)
{
	pthread_condattr_t ca;
	uint32_t nslots = njobs < inflight ? (uint32_t) njobs : inflight;
	int ret = 0;

	memset(f, 0, sizeof(*f));
	f->c = *c;
	f->req = req;
	f->wait = wait;
	f->njobs = njobs;
	if ((f->lat = calloc(njobs, sizeof(*f->lat))) == NULL ||
	    (f->slots = calloc(nslots, sizeof(*f->slots))) == NULL) {
		free(f->lat);
		f->lat = NULL;
		bench_errorf("out of memory");
		return (-1);
	}
	pthread_mutex_init(&f->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);

	pthread_mutex_lock(&f->mtx);
	*t0 = bench_now_ns();
	for (uint32_t i = 0; i < nslots; i++) {
		f->slots[i].f = f;
		start_next_locked(&f->slots[i]);
	}
	await_locked(f);
	/* from here no call starts; the failed ones' error is kept */
	bool failed = f->answered < f->njobs;
	f->stop = true;
	pthread_mutex_unlock(&f->mtx);

	if (failed) {
		/* cancels the calls in flight: their done() runs, and
		 * starts nothing, before close returns */
		jobd_client_close(*c);
		*c = NULL;
		bench_errorf("%s", f->err);
		ret = -1;
	}
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->mtx);
	free(f->slots);
	f->slots = NULL;
	return (ret);
}

/* One phase's JSON names. */
struct phase_names {
	struct bounds_names bounds;
	const char *rate, *calls_rate, *p50, *p99;
};

static const struct phase_names submit_names = {
    {"submit_rtt_p50_us", "submit_rtt_p99_us", "submit_fsync_p50_us",
     "submit_fsync_p99_us", "submit_ceiling_jobs_per_s", "submit_cpu_jobd_us",
     "submit_cpu_bench_us", "submit_cpu_ceiling_jobs_per_s"},
    "submit_jobs_per_s",
    "submit_calls_jobs_per_s",
    "submit_p50_us",
    "submit_p99_us",
};

static const struct phase_names wait_names = {
    {"wait_rtt_p50_us", "wait_rtt_p99_us", "wait_fsync_p50_us",
     "wait_fsync_p99_us", "wait_ceiling_jobs_per_s", "wait_cpu_jobd_us",
     "wait_cpu_bench_us", "wait_cpu_ceiling_jobs_per_s"},
    "wait_jobs_per_s",
    NULL,
    "wait_p50_us",
    "wait_p99_us",
};

static int
phase(struct bench *b, bool wait)
{
	static const char *const extra[] = {"--max-queue", "0", NULL};
	const struct phase_names *nm = wait ? &wait_names : &submit_names;
	struct bench_count_req job;
	struct flight f = {0};
	Jobd__V1__StatsReply *st;
	struct bounds bd;
	struct cpu_mark cpu0, cpu1;
	struct jobdproc p;
	const char *url;
	jobd_client *c = NULL;
	uint64_t n = b->o.jobs, base;
	uint32_t k = b->o.inflight;
	int64_t t0, t_done;
	char what[64], label[64];
	int ret = -1;

	if (bench_jobd(b, &p, wait ? "inflight-wait" : "inflight", extra,
	               &url) != 0)
		return (-1);
	if (bench_client(url, &c) != 0)
		goto out;
	jobd_client_set_timeout(c, CALL_MS);
	bench_progress("inflight", "the round trip and the fsync in '%s'",
	               bounds_dir(b, &p));
	if (bounds_measure(c, bounds_dir(b, &p), &bd) != 0 ||
	    load_stats(c, &st) != 0)
		goto out;
	base = st->succeeded;
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	bench_count_req_init(&job, 1);
	bench_progress("inflight", "%llu jobs, %u in flight on one client, %s",
	               (unsigned long long) n, k,
	               wait ? "each Submit then Wait" : "Submit");
	bounds_cpu_mark(&p, &cpu0);
	if (fly(&c, &job.req, wait, n, k, &f, &t0) != 0)
		goto out;
	if (!wait && load_wait_succeeded(c, base + n, STALL_MS, &t_done) != 0)
		goto out;
	bounds_cpu_mark(&p, &cpu1);
	if (wait)
		t_done = f.t_last;

	/* k calls in flight: k jobs per round trip and fsync at best */
	snprintf(what, sizeof(what), "%u in flight", k);
	bounds_report(b->rep, &nm->bounds, &bd, k, what);
	bounds_cpu_report(b->rep, &nm->bounds, &cpu0, &cpu1, n, b->ncpu);
	double all_s = (double) (t_done - t0) / 1e9;
	double p50 = US(bench_percentile(f.lat, n, 50));
	double p99 = US(bench_percentile(f.lat, n, 99));
	if (!wait) {
		report_add(b->rep, nm->rate,
		           "jobs/s, Submit, until all succeeded",
		           (double) n / all_s, "jobs/s", 0, REPORT_GE, 30000);
		report_add(b->rep, nm->calls_rate, "jobs/s, Submit calls alone",
		           (double) n / ((double) (f.t_last - t0) / 1e9),
		           "jobs/s", 0, REPORT_NONE, 0);
		report_add(b->rep, nm->p50, "Submit latency p50", p50, "us", 1,
		           REPORT_NONE, 0);
		report_add(b->rep, nm->p99, "Submit latency p99", p99, "us", 1,
		           REPORT_NONE, 0);
	} else {
		/* one round trip, two commits (the Submit's and the job's
		 * end), and some room for the worker in between */
		double bound =
		    US(bd.rtt_p50_ns + 2 * bd.fsync_p50_ns + P50_SLACK_NS);
		report_add(b->rep, nm->rate, "jobs/s, Submit then Wait",
		           (double) n / all_s, "jobs/s", 0, REPORT_GE, 15000);
		snprintf(label, sizeof(label),
		         "per job p50, Submit sent to Wait answered");
		report_add(b->rep, nm->p50, label, p50, "us", 1, REPORT_LE,
		           round(bound * 10) / 10);
		report_add(b->rep, nm->p99, "per job p99", p99, "us", 1,
		           REPORT_NONE, 0);
	}
	ret = 0;
out:
	free(f.lat);
	jobd_client_close(c);
	if (jobdproc_stop(&p) != 0)
		ret = -1;
	return (ret);
}

int
wl_inflight(struct bench *b)
{
	if (phase(b, false) != 0)
		return (-1);
	return (phase(b, true));
}

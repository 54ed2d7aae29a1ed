/*
 * load: client threads that submit tiny jobs.
 *
 * The calls to make are numbered 0..ncalls-1; each thread takes the next
 * number from an atomic counter, so a slow connection does not leave the
 * others idle at the end. Call i carries jobs [i*B, min((i+1)*B, N)) and
 * writes its latency to lat[i]: no two threads write the same slot, and
 * the main thread reads them only after joining.
 *
 * The threads open their clients first and then wait for the main thread's
 * `go`, which it gives once all are ready, just after taking t0: connecting
 * is not measured, and no call starts before t0. A thread whose call fails
 * keeps the message and raises `stop`; the main thread reports the first one
 * after the join (bench_errorf() is for the main thread only).
 *
 * Nothing of a reply is kept: each is checked and freed at once, so a
 * million jobs cost the benchmark nothing but the latency array.
 *
 * Several daemons sharing one queue are loaded together: client thread i
 * calls daemon i mod n, so the calls are spread evenly whatever the
 * number of clients. load_until_succeeded() and load_report() are one
 * throughput phase's measure and rows, shared by every workload that
 * times Submits until the jobs have run.
 */
#include "load.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define LOAD_TIMEOUT_MS 60000u /* per call: sanitizer builds are slow */
#define POLL_US         2000
#define US(ns)          ((double) (ns) / 1e3)

struct load;

struct loader {
	struct load *l;
	const char *url; /* the daemon this thread calls */
	pthread_t tid;
	bool started;
	int64_t t_end;
	bool failed;
	char err[512];
};

struct load {
	uint64_t njobs;
	uint64_t ncalls;
	uint32_t batch; /* 0: single Submits */
	uint64_t *lat;  /* or NULL */
	const Jobd__V1__SubmitRequest *job;
	atomic_uint_fast64_t next;
	atomic_bool stop;
	/* the start: threads count themselves in `ready` and wait for `go` */
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	uint32_t ready;
	bool go;
};

static void
fail(struct loader *t, const char *what, int rv)
{
	snprintf(t->err, sizeof(t->err), "%s failed: %s: %s", what,
	         jobd_status_name(rv), jobd_client_errmsg());
	t->failed = true;
	atomic_store(&t->l->stop, true);
}

/* One call of call number i; 0, or -1 having recorded why. */
static int
one_call(struct loader *t, jobd_client *c, Jobd__V1__SubmitBatchRequest *breq,
         uint64_t i)
{
	struct load *l = t->l;
	uint64_t first = i * (l->batch ? l->batch : 1);
	uint64_t n = l->batch == 0                 ? 1
	             : l->njobs - first < l->batch ? l->njobs - first
	                                           : l->batch;
	int64_t t0 = bench_now_ns(), dt;
	int rv;

	if (l->batch == 0) {
		Jobd__V1__SubmitReply *rep;
		if ((rv = jobd_submit(c, l->job, &rep)) != JOBD_OK) {
			fail(t, "Submit", rv);
			return (-1);
		}
		dt = bench_now_ns() - t0;
		bool ok = rep->job != NULL && rep->job->id != 0;
		jobd__v1__submit_reply__free_unpacked(rep, NULL);
		if (!ok) {
			snprintf(t->err, sizeof(t->err),
			         "Submit answered without a job id");
			t->failed = true;
			atomic_store(&l->stop, true);
			return (-1);
		}
	} else {
		Jobd__V1__SubmitBatchReply *rep;
		breq->n_jobs = n;
		if ((rv = jobd_submit_batch(c, breq, &rep)) != JOBD_OK) {
			fail(t, "SubmitBatch", rv);
			return (-1);
		}
		dt = bench_now_ns() - t0;
		size_t got = rep->n_jobs;
		jobd__v1__submit_batch_reply__free_unpacked(rep, NULL);
		if (got != n) {
			snprintf(t->err, sizeof(t->err),
			         "SubmitBatch of %llu jobs answered %zu",
			         (unsigned long long) n, got);
			t->failed = true;
			atomic_store(&l->stop, true);
			return (-1);
		}
	}
	if (l->lat != NULL)
		l->lat[i] = (uint64_t) dt;
	return (0);
}

static void *
loader_main(void *arg)
{
	struct loader *t = arg;
	struct load *l = t->l;
	Jobd__V1__SubmitBatchRequest breq =
	    JOBD__V1__SUBMIT_BATCH_REQUEST__INIT;
	Jobd__V1__SubmitRequest **jobs = NULL;
	jobd_client *c = NULL;
	int rv;

	if ((rv = jobd_client_open(&c, t->url)) != JOBD_OK)
		fail(t, "connecting", rv);
	else
		jobd_client_set_timeout(c, LOAD_TIMEOUT_MS);
	if (!t->failed && l->batch > 0) {
		if ((jobs = calloc(l->batch, sizeof(*jobs))) == NULL) {
			snprintf(t->err, sizeof(t->err), "out of memory");
			t->failed = true;
			atomic_store(&l->stop, true);
		} else {
			/* the same job, packed B times */
			for (uint32_t k = 0; k < l->batch; k++)
				jobs[k] = (Jobd__V1__SubmitRequest *) l->job;
			breq.jobs = jobs;
		}
	}
	pthread_mutex_lock(&l->mtx);
	l->ready++;
	pthread_cond_broadcast(&l->cond);
	while (!l->go)
		pthread_cond_wait(&l->cond, &l->mtx);
	pthread_mutex_unlock(&l->mtx);
	while (!atomic_load(&l->stop)) {
		uint64_t i = atomic_fetch_add(&l->next, 1);
		if (i >= l->ncalls || one_call(t, c, &breq, i) != 0)
			break;
	}
	t->t_end = bench_now_ns();
	free(jobs);
	jobd_client_close(c);
	return (NULL);
}

int
load_submit(const char *url, uint64_t njobs, uint32_t batch, uint32_t clients,
            bool keep_lat, struct load_result *res)
{
	struct bench_count_req job;

	bench_count_req_init(&job, 1);
	return (load_submit_req(url, &job.req, njobs, batch, clients, keep_lat,
	                        res));
}

int
load_submit_req(const char *url, const Jobd__V1__SubmitRequest *job,
                uint64_t njobs, uint32_t batch, uint32_t clients, bool keep_lat,
                struct load_result *res)
{
	return (
	    load_submit_to(&url, 1, job, njobs, batch, clients, keep_lat, res));
}

int
load_submit_to(const char *const *urls, size_t nurls,
               const Jobd__V1__SubmitRequest *job, uint64_t njobs,
               uint32_t batch, uint32_t clients, bool keep_lat,
               struct load_result *res)
{
	struct loader *t;
	struct load l;
	uint32_t started = 0;
	int rv = 0;

	memset(res, 0, sizeof(*res));
	memset(&l, 0, sizeof(l));
	l.njobs = njobs;
	l.batch = batch;
	l.ncalls = batch == 0 ? njobs : (njobs + batch - 1) / batch;
	l.job = job;
	atomic_init(&l.next, 0);
	atomic_init(&l.stop, false);
	if (keep_lat && (l.lat = calloc(l.ncalls, sizeof(*l.lat))) == NULL) {
		bench_errorf("out of memory");
		return (-1);
	}
	if ((t = calloc(clients, sizeof(*t))) == NULL) {
		free(l.lat);
		bench_errorf("out of memory");
		return (-1);
	}
	pthread_mutex_init(&l.mtx, NULL);
	pthread_cond_init(&l.cond, NULL);
	for (uint32_t i = 0; i < clients; i++) {
		t[i].l = &l;
		t[i].url = urls[i % nurls];
		if (pthread_create(&t[i].tid, NULL, loader_main, &t[i]) != 0)
			break;
		t[i].started = true;
		started++;
	}
	if (started < clients) {
		atomic_store(&l.stop, true);
		bench_errorf("cannot start %u client threads", clients);
		rv = -1;
	}
	pthread_mutex_lock(&l.mtx);
	while (l.ready < started)
		pthread_cond_wait(&l.cond, &l.mtx);
	res->t0 = bench_now_ns();
	l.go = true;
	pthread_cond_broadcast(&l.cond);
	pthread_mutex_unlock(&l.mtx);
	for (uint32_t i = 0; i < clients; i++) {
		if (!t[i].started)
			continue;
		pthread_join(t[i].tid, NULL);
		if (t[i].t_end > res->t_end)
			res->t_end = t[i].t_end;
		if (t[i].failed && rv == 0) {
			bench_errorf("%s", t[i].err);
			rv = -1;
		}
	}
	pthread_cond_destroy(&l.cond);
	pthread_mutex_destroy(&l.mtx);
	free(t);
	if (rv != 0) {
		free(l.lat);
		return (-1);
	}
	res->ncalls = l.ncalls;
	res->lat = l.lat;
	return (0);
}

int
load_stats(jobd_client *c, Jobd__V1__StatsReply **st)
{
	int rv;

	if ((rv = jobd_stats(c, st)) != JOBD_OK) {
		bench_errorf("Stats failed: %s: %s", jobd_status_name(rv),
		             jobd_client_errmsg());
		return (-1);
	}
	return (0);
}

int
load_wait_succeeded(jobd_client *c, uint64_t target, uint32_t stall_ms,
                    int64_t *t_done)
{
	Jobd__V1__StatsReply *st;
	uint64_t failed0 = 0, cancelled0 = 0, last = 0;
	int64_t moved = bench_now_ns();
	bool first = true;

	for (;;) {
		if (load_stats(c, &st) != 0)
			return (-1);
		int64_t now = bench_now_ns();
		uint64_t succeeded = st->succeeded;
		uint64_t failed = st->failed, cancelled = st->cancelled;
		jobd__v1__stats_reply__free_unpacked(st, NULL);
		if (first) {
			failed0 = failed;
			cancelled0 = cancelled;
			first = false;
		}
		if (succeeded >= target) {
			*t_done = now;
			return (0);
		}
		if (failed > failed0 || cancelled > cancelled0) {
			bench_errorf(
			    "%llu jobs failed and %llu were cancelled "
			    "while waiting for %llu to succeed",
			    (unsigned long long) (failed - failed0),
			    (unsigned long long) (cancelled - cancelled0),
			    (unsigned long long) target);
			return (-1);
		}
		if (succeeded != last) {
			last = succeeded;
			moved = now;
		} else if (now - moved > (int64_t) stall_ms * 1000000) {
			bench_errorf("jobs stopped succeeding at %llu of %llu "
			             "(none for %u ms)",
			             (unsigned long long) succeeded,
			             (unsigned long long) target,
			             (unsigned) stall_ms);
			return (-1);
		}
		bench_sleep_us(POLL_US);
	}
}

int
load_until_succeeded(jobd_client *c, const char *const *urls, size_t nurls,
                     const Jobd__V1__SubmitRequest *job, uint64_t njobs,
                     uint32_t batch, uint32_t clients, uint32_t stall_ms,
                     struct load_result *res, int64_t *t_done)
{
	Jobd__V1__StatsReply *st;
	uint64_t base;

	memset(res, 0, sizeof(*res));
	if (load_stats(c, &st) != 0)
		return (-1);
	base = st->succeeded;
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	if (load_submit_to(urls, nurls, job, njobs, batch, clients, true,
	                   res) != 0)
		return (-1);
	return (load_wait_succeeded(c, base + njobs, stall_ms, t_done));
}

void
load_report(report *r, const struct load_rows *rows, const char *call,
            uint64_t njobs, const struct load_result *res, int64_t t_done)
{
	double all_s = (double) (t_done - res->t0) / 1e9;
	double sub_s = (double) (res->t_end - res->t0) / 1e9;
	char label[64];

	snprintf(label, sizeof(label), "jobs/s, %s, until all succeeded", call);
	report_add(r, rows->all, label, (double) njobs / all_s, "jobs/s", 0,
	           rows->all_cmp, rows->all_target);
	snprintf(label, sizeof(label), "jobs/s, %s calls alone", call);
	report_add(r, rows->calls, label, (double) njobs / sub_s, "jobs/s", 0,
	           rows->calls_cmp, rows->calls_target);
	if (rows->p50 != NULL) {
		snprintf(label, sizeof(label), "%s call latency p50", call);
		report_add(r, rows->p50, label,
		           US(bench_percentile(res->lat, res->ncalls, 50)),
		           "us", 1, REPORT_NONE, 0);
	}
	snprintf(label, sizeof(label), "%s call latency p99", call);
	report_add(r, rows->p99, label,
	           US(bench_percentile(res->lat, res->ncalls, 99)), "us", 1,
	           REPORT_NONE, 0);
}

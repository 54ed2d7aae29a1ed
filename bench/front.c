/*
 * The workloads that a running jobd can be measured with (--addr):
 *
 * latency: the seed's experiment. One client times Gets of a finished
 * job's id, first with the daemon idle, then while every worker runs a
 * long count job; the question is whether a busy pool slows the front.
 * With a jobd of its own, once more while every worker runs a program
 * (bench-spin, a shell busy loop: exec.c): a program kind's process
 * competes for the CPU as a thread of jobd does not.
 *
 * latency-scrape: latency's idle and busy phases (not the programs') on a
 * jobd with --http, while a thread scrapes its /metrics every
 * SCRAPE_PERIOD_MS (scrape.h), as Prometheus would: rendering the metrics
 * must not slow the nng front. Each phase times Gets back to back until
 * it has spanned SCRAPES_PER_PHASE scrapes (so 5 s at least; --samples
 * Gets at least); every scrape must succeed.
 *
 * throughput: tiny jobs from concurrent clients until all have succeeded,
 * first one Submit per job, then SubmitBatch; each phase on a fresh
 * daemon and database of its own, whose round trip and fsync (bounds.h)
 * are measured first. Single Submits are held to a share of the ceiling
 * those give: C clients that each wait for their answer make at most C
 * calls per round trip plus one fsync.
 *
 * Each returns 0 when it ran and -1 when it could not, having said why;
 * on every path the long jobs it submitted are cancelled and its jobd
 * stopped (or killed). The calls latency is made of (bench_submit,
 * bench_time_gets, bench_occupy, bench_get_rows...) are bench.h's, for the
 * cluster workload (cluster.c) to time Gets the same way.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bounds.h"
#include "load.h"
#include "scrape.h"

#define WARMUP_GETS  100
#define LONG_N_MAX   1000000000000ull /* 1e12, or the kind's max */
#define WAIT_MS      60000u           /* a tiny job's Wait */
#define BUSY_WAIT_MS 30000            /* until every worker is busy */
#define STALL_MS     60000u           /* no job succeeded for this long */
#define SUBMIT_SHARE 0.8 /* single Submits: target, a share of the ceiling */
#define US(ns)       ((double) (ns) / 1e3)

/* latency-scrape: how often /metrics is scraped; the longest wait for a
 * scrape; the scrapes each phase spans at least (with --quick) */
#define SCRAPE_PERIOD_MS  100
#define SCRAPE_FIRST_MS   10000
#define SCRAPES_PER_PHASE 50
#define SCRAPES_QUICK     5

/* Submits `req` and puts its id in *id. */
int
bench_submit(jobd_client *c, const Jobd__V1__SubmitRequest *req, uint64_t *id)
{
	Jobd__V1__SubmitReply *rep;
	int rv;

	if ((rv = jobd_submit(c, req, &rep)) != JOBD_OK) {
		bench_errorf("Submit failed: %s: %s", jobd_status_name(rv),
		             jobd_client_errmsg());
		return (-1);
	}
	*id = rep->job != NULL ? rep->job->id : 0;
	jobd__v1__submit_reply__free_unpacked(rep, NULL);
	if (*id == 0) {
		bench_errorf("Submit answered without a job id");
		return (-1);
	}
	return (0);
}

int
bench_wait_succeeded(jobd_client *c, uint64_t id, uint32_t deadline_ms)
{
	Jobd__V1__WaitReply *w;
	int rv;

	if ((rv = jobd_wait(c, id, deadline_ms, &w)) != JOBD_OK) {
		bench_errorf("Wait for job %llu failed: %s: %s",
		             (unsigned long long) id, jobd_status_name(rv),
		             jobd_client_errmsg());
		return (-1);
	}
	rv = w->job != NULL &&
	             w->job->state == JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED
	         ? 0
	         : -1;
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	if (rv != 0)
		bench_errorf("job %llu did not succeed",
		             (unsigned long long) id);
	return (rv);
}

/* The largest n the daemon's count kind takes, at most 1e12. */
int
bench_count_max(jobd_client *c, uint64_t *max)
{
	Jobd__V1__KindsReply *k;
	int rv;

	if ((rv = jobd_kinds(c, &k)) != JOBD_OK) {
		bench_errorf("Kinds failed: %s: %s", jobd_status_name(rv),
		             jobd_client_errmsg());
		return (-1);
	}
	*max = 0;
	for (size_t i = 0; i < k->n_kinds; i++) {
		if (strcmp(k->kinds[i]->name, "count") != 0)
			continue;
		for (size_t j = 0; j < k->kinds[i]->n_params; j++) {
			const Jobd__V1__Param *p = k->kinds[i]->params[j];
			if (strcmp(p->name, "n") == 0 && p->max > 0)
				*max = (uint64_t) p->max;
		}
	}
	jobd__v1__kinds_reply__free_unpacked(k, NULL);
	if (*max == 0) {
		bench_errorf("this jobd has no kind 'count' with a parameter "
		             "'n'");
		return (-1);
	}
	if (*max > LONG_N_MAX)
		*max = LONG_N_MAX;
	return (0);
}

/* Times n Gets of job `id` (after `warmup` untimed ones) into out[]. */
int
bench_time_gets(jobd_client *c, uint64_t id, uint32_t warmup, uint32_t n,
                uint64_t *out)
{
	for (uint32_t i = 0; i < warmup + n; i++) {
		Jobd__V1__GetReply *rep;
		int64_t t0 = bench_now_ns();
		int rv = jobd_get(c, &id, 1, &rep);
		int64_t dt = bench_now_ns() - t0;
		if (rv != JOBD_OK) {
			bench_errorf("Get failed: %s: %s", jobd_status_name(rv),
			             jobd_client_errmsg());
			return (-1);
		}
		size_t got = rep->n_jobs;
		jobd__v1__get_reply__free_unpacked(rep, NULL);
		if (got != 1) {
			bench_errorf("Get of job %llu answered %zu jobs",
			             (unsigned long long) id, got);
			return (-1);
		}
		if (i >= warmup)
			out[i - warmup] = (uint64_t) dt;
	}
	return (0);
}

/* The pipe echo thread of time_pipe: one byte back for each byte. */
static void *
echo_main(void *arg)
{
	int *fd = arg;
	char ch;
	while (read(fd[0], &ch, 1) == 1)
		if (write(fd[1], &ch, 1) != 1)
			break;
	return (NULL);
}

/*
 * The machine's floor for a round trip between two threads: n one-byte
 * echoes over pipes, timed as the Gets are, into out[]. A Get cannot be
 * steadier than this; in a virtual machine whose virtual CPUs the host
 * deschedules, its p99 alone can be milliseconds.
 */
static int
time_pipe(uint32_t n, uint64_t *out)
{
	int to[2], from[2], fd[2];
	pthread_t t;
	char ch = 'x';
	bool started = false;
	int ret = 0;

	if (pipe(to) != 0) {
		bench_errorf("pipe: %s", strerror(errno));
		return (-1);
	}
	if (pipe(from) != 0) {
		bench_errorf("pipe: %s", strerror(errno));
		close(to[0]);
		close(to[1]);
		return (-1);
	}
	fd[0] = to[0];
	fd[1] = from[1];
	if (pthread_create(&t, NULL, echo_main, fd) != 0) {
		bench_errorf("cannot start a thread");
		ret = -1;
	} else {
		started = true;
	}
	for (uint32_t i = 0; ret == 0 && i < WARMUP_GETS + n; i++) {
		int64_t t0 = bench_now_ns();
		if (write(to[1], &ch, 1) != 1 || read(from[0], &ch, 1) != 1) {
			bench_errorf("pipe: %s", strerror(errno));
			ret = -1;
		} else if (i >= WARMUP_GETS) {
			out[i - WARMUP_GETS] = (uint64_t) (bench_now_ns() - t0);
		}
	}
	close(to[1]); /* the echo thread reads EOF and ends */
	if (started)
		pthread_join(t, NULL);
	close(to[0]);
	close(from[0]);
	close(from[1]);
	return (ret);
}

/* Polls Stats until the number of busy workers is from lo to hi; `what`
 * names the wait in the message when it lasts too long. */
int
bench_wait_busy(jobd_client *c, uint32_t lo, uint32_t hi, const char *what)
{
	int64_t end = bench_now_ns() + (int64_t) BUSY_WAIT_MS * 1000000;
	Jobd__V1__StatsReply *st;

	for (;;) {
		if (load_stats(c, &st) != 0)
			return (-1);
		uint32_t busy = st->busy_workers;
		jobd__v1__stats_reply__free_unpacked(st, NULL);
		if (busy >= lo && busy <= hi)
			return (0);
		if (bench_now_ns() > end) {
			bench_errorf("%u workers busy after %d s, %s", busy,
			             BUSY_WAIT_MS / 1000, what);
			return (-1);
		}
		bench_sleep_us(1000);
	}
}

int
bench_workers(jobd_client *c, uint32_t *workers)
{
	Jobd__V1__StatsReply *st;

	*workers = 0;
	if (load_stats(c, &st) == 0) {
		*workers = st->workers;
		jobd__v1__stats_reply__free_unpacked(st, NULL);
		if (*workers == 0)
			bench_errorf("this jobd has no workers to keep busy");
	}
	return (*workers > 0 ? 0 : -1);
}

/* Puts a job of req on every one of the workers (their ids into v, counted
 * in *nv) and waits until all of them run. */
int
bench_occupy(jobd_client *c, const Jobd__V1__SubmitRequest *req, uint64_t *v,
             uint32_t *nv, uint32_t workers)
{
	for (; *nv < workers; (*nv)++)
		if (bench_submit(c, req, &v[*nv]) != 0)
			return -1;
	return bench_wait_busy(c, workers, UINT32_MAX, "not all of them");
}

/* Cancels the n jobs of ids[] (each once: *n is 0 after); 0, or -1 having
 * said why if a Cancel failed. */
int
bench_cancel_jobs(jobd_client *c, const uint64_t *ids, uint32_t *n)
{
	int rv, ret = 0;

	for (uint32_t i = 0; c != NULL && i < *n; i++) {
		Jobd__V1__CancelReply *cr;
		if ((rv = jobd_cancel(c, ids[i], &cr)) == JOBD_OK) {
			jobd__v1__cancel_reply__free_unpacked(cr, NULL);
		} else {
			bench_errorf("Cancel of job %llu failed: %s: %s",
			             (unsigned long long) ids[i],
			             jobd_status_name(rv),
			             jobd_client_errmsg());
			ret = -1;
		}
	}
	*n = 0;
	return (ret);
}

void
bench_get_rows(struct bench *b, const char *phase, uint64_t *v, size_t n,
               const char *const names[3], bool target)
{
	char label[64];
	double p50 = US(bench_percentile(v, n, 50));
	double p99 = US(bench_percentile(v, n, 99));
	double max = US(bench_percentile(v, n, 100));

	snprintf(label, sizeof(label), "Get p50, %s", phase);
	report_add(b->rep, names[0], label, p50, "us", 1, REPORT_NONE, 0);
	snprintf(label, sizeof(label), "Get p99, %s", phase);
	report_add(b->rep, names[1], label, p99, "us", 1,
	           target ? REPORT_LT : REPORT_NONE, 1000);
	snprintf(label, sizeof(label), "Get max, %s", phase);
	report_add(b->rep, names[2], label, max, "us", 1, REPORT_NONE, 0);
}

/* Waits until s has made its first good scrape; 0, or -1 having said why
 * (its error, or none within SCRAPE_FIRST_MS). */
static int
first_scrape(scraper *s)
{
	int64_t end = bench_now_ns() + (int64_t) SCRAPE_FIRST_MS * 1000000;
	struct scrape_stats st;

	while (bench_now_ns() < end) {
		scraper_peek(s, &st);
		if (st.good > 0)
			return 0;
		if (st.bad > 0) {
			bench_errorf("GET /metrics: %s", st.last_error);
			return -1;
		}
		bench_sleep_us(10000);
	}
	bench_errorf("GET /metrics: no answer in %d s", SCRAPE_FIRST_MS / 1000);
	return -1;
}

/*
 * latency-scrape's phase: Gets of job `id` timed back to back in rounds of
 * --samples until the scraper has answered SCRAPES_PER_PHASE (--quick:
 * SCRAPES_QUICK) more scrapes, so that the phase spans that many renders
 * of /metrics; *v (grown with realloc) and *nv hold every sample. 0, or -1
 * having said why (a Get failed; a scrape failed; no scrape for
 * SCRAPE_FIRST_MS).
 */
static int
time_gets_scraped(struct bench *b, jobd_client *c, uint64_t id, scraper *s,
                  uint64_t **v, size_t *nv)
{
	uint64_t want = b->o.quick ? SCRAPES_QUICK : SCRAPES_PER_PHASE;
	uint32_t n = b->o.samples;
	struct scrape_stats st;
	size_t cap = n;
	int64_t since = bench_now_ns();

	scraper_peek(s, &st);
	uint64_t good0 = st.good, good = st.good;
	*nv = 0;
	while (*nv == 0 || st.good < good0 + want) {
		if (*nv + n > cap) {
			uint64_t *p = realloc(*v, (cap *= 2) * sizeof(**v));
			if (p == NULL) {
				bench_errorf("out of memory");
				return -1;
			}
			*v = p;
		}
		if (bench_time_gets(c, id, 0, n, *v + *nv) != 0)
			return -1;
		*nv += n;
		scraper_peek(s, &st);
		if (st.bad > 0) {
			bench_errorf("GET /metrics: %s", st.last_error);
			return -1;
		}
		if (st.good > good) {
			good = st.good;
			since = bench_now_ns();
		} else if (bench_now_ns() - since >
		           (int64_t) SCRAPE_FIRST_MS * 1000000) {
			bench_errorf("GET /metrics: no answer in %d s",
			             SCRAPE_FIRST_MS / 1000);
			return -1;
		}
	}
	return 0;
}

/* latency (scrape false) and latency-scrape (true). */
static int
latency(struct bench *b, bool scrape)
{
	static const char *const idle_names[3] = {"idle_p50_us", "idle_p99_us",
	                                          "idle_max_us"};
	static const char *const busy_names[3] = {"busy_p50_us", "busy_p99_us",
	                                          "busy_max_us"};
	static const char *const prog_names[3] = {"prog_p50_us", "prog_p99_us",
	                                          "prog_max_us"};
	struct bench_count_req tiny, lng, spin;
	struct jobdproc p;
	const char *url;
	jobd_client *c = NULL;
	uint32_t n = b->o.samples, workers = 0, nlong = 0, nspin = 0;
	size_t nidle = n, nbusy = n;
	uint64_t *idle = NULL, *busy = NULL, *prog = NULL, *longs = NULL;
	uint64_t *spins = NULL, id, max;
	uint64_t *floor_idle = NULL, *floor_busy = NULL;
	char kinds[PATH_MAX], http[64];
	const char *extra[] = {"--kinds-dir", kinds, NULL};
	/* our jobd reads our kinds */
	bool programs = b->o.addr == NULL && !scrape;
	scraper *scr = NULL;
	struct scrape_stats sst;
	int port = 0, ret = -1;

	if (programs && bench_kinds_dir(b, kinds, sizeof(kinds)) != 0)
		return (-1);
	if (scrape) {
		if ((port = jobdproc_free_port()) == 0)
			return (-1);
		snprintf(http, sizeof(http), "http://127.0.0.1:%d", port);
		extra[0] = "--http";
		extra[1] = http;
	}
	if (bench_jobd(b, &p, scrape ? "latency-scrape" : "latency", extra,
	               &url) != 0)
		return (-1);
	if (bench_client(url, &c) != 0)
		goto out;
	if (scrape) {
		if (scraper_start(&scr, port, NULL, SCRAPE_PERIOD_MS) != 0 ||
		    first_scrape(scr) != 0)
			goto out;
		bench_progress("latency-scrape",
		               "GET /metrics every %d ms meanwhile",
		               SCRAPE_PERIOD_MS);
	}
	if ((idle = calloc(n, sizeof(*idle))) == NULL ||
	    (busy = calloc(n, sizeof(*busy))) == NULL ||
	    (prog = calloc(n, sizeof(*prog))) == NULL ||
	    (floor_idle = calloc(n, sizeof(*floor_idle))) == NULL ||
	    (floor_busy = calloc(n, sizeof(*floor_busy))) == NULL) {
		bench_errorf("out of memory");
		goto out;
	}
	bench_count_req_init(&tiny, 1);
	if (bench_submit(c, &tiny.req, &id) != 0)
		goto out;
	if (bench_wait_succeeded(c, id, WAIT_MS) != 0)
		goto out;
	if (scrape)
		bench_progress("latency-scrape",
		               "Gets of job %llu for %u scrapes or more, idle",
		               (unsigned long long) id,
		               b->o.quick ? SCRAPES_QUICK : SCRAPES_PER_PHASE);
	else
		bench_progress("latency", "%u Gets of job %llu, idle", n,
		               (unsigned long long) id);
	if (scrape && (bench_time_gets(c, id, WARMUP_GETS, 0, idle) != 0 ||
	               time_gets_scraped(b, c, id, scr, &idle, &nidle) != 0))
		goto out;
	if ((!scrape && bench_time_gets(c, id, WARMUP_GETS, n, idle) != 0) ||
	    time_pipe(n, floor_idle) != 0)
		goto out;

	if (bench_workers(c, &workers) != 0 || bench_count_max(c, &max) != 0)
		goto out;
	if ((longs = calloc(workers, sizeof(*longs))) == NULL ||
	    (spins = calloc(workers, sizeof(*spins))) == NULL) {
		bench_errorf("out of memory");
		goto out;
	}
	bench_count_req_init(&lng, max);
	if (bench_occupy(c, &lng.req, longs, &nlong, workers) != 0)
		goto out;
	bench_progress(scrape ? "latency-scrape" : "latency",
	               "%s Gets, %u of %u workers busy with count "
	               "n=%llu",
	               scrape ? "more" : "the same", workers, workers,
	               (unsigned long long) max);
	if (scrape && time_gets_scraped(b, c, id, scr, &busy, &nbusy) != 0)
		goto out;
	if ((!scrape && bench_time_gets(c, id, 0, n, busy) != 0) ||
	    time_pipe(n, floor_busy) != 0)
		goto out;

	/* every worker busy with a program instead */
	if (programs) {
		if (bench_cancel_jobs(c, longs, &nlong) != 0 ||
		    bench_wait_busy(c, 0, 0, "their jobs cancelled") != 0)
			goto out;
		bench_kind_req_init(&spin, BENCH_KIND_SPIN);
		if (bench_occupy(c, &spin.req, spins, &nspin, workers) != 0)
			goto out;
		bench_progress("latency",
		               "%u Gets, %u of %u workers busy with program "
		               "kind %s",
		               n, workers, workers, BENCH_KIND_SPIN);
		if (bench_time_gets(c, id, 0, n, prog) != 0)
			goto out;
	} else if (!scrape) {
		bench_progress("latency", "not with programs: --addr's jobd "
		                          "does not read our kinds");
	}
	if (scrape) {
		scraper_stop(scr, &sst);
		scr = NULL;
		if (sst.bad > 0) {
			bench_errorf("%llu of %llu scrapes of /metrics failed; "
			             "the last: %s",
			             (unsigned long long) sst.bad,
			             (unsigned long long) (sst.bad + sst.good),
			             sst.last_error);
			goto out;
		}
	}

	bench_get_rows(b, "idle", idle, nidle, idle_names, false);
	bench_get_rows(b, "busy", busy, nbusy, busy_names, true);
	double ip99 = US(bench_percentile(idle, nidle, 99));
	double bp99 = US(bench_percentile(busy, nbusy, 99));
	report_add(b->rep, "busy_idle_p99_ratio", "Get p99 busy / p99 idle",
	           bp99 / ip99, "", 2, REPORT_LE, 1.5);
	if (programs) {
		bench_get_rows(b, "busy (programs)", prog, n, prog_names, true);
		report_add(b->rep, "prog_idle_p99_ratio",
		           "Get p99 busy (programs) / p99 idle",
		           US(bench_percentile(prog, n, 99)) / ip99, "", 2,
		           REPORT_LE, 1.5);
	}
	report_add(b->rep, "workers", "workers busy", workers, "", 0,
	           REPORT_NONE, 0);
	if (scrape) {
		report_add(b->rep, "scrapes", "GET /metrics answered",
		           (double) sst.good, "", 0, REPORT_NONE, 0);
		report_add(b->rep, "gets", "Gets timed (idle + busy)",
		           (double) (nidle + nbusy), "", 0, REPORT_NONE, 0);
		report_add(b->rep, "scrape_bytes", "/metrics size",
		           (double) sst.bytes, "B", 0, REPORT_NONE, 0);
		report_add(b->rep, "scrape_p50_us", "GET /metrics p50",
		           US(sst.p50_ns), "us", 1, REPORT_NONE, 0);
		report_add(b->rep, "scrape_p99_us", "GET /metrics p99",
		           US(sst.p99_ns), "us", 1, REPORT_NONE, 0);
	}
	/* the machine's floor, for reading the figures above */
	report_add(
	    b->rep, "floor_idle_p99_us", "pipe round trip p99, idle (floor)",
	    US(bench_percentile(floor_idle, n, 99)), "us", 1, REPORT_NONE, 0);
	report_add(
	    b->rep, "floor_busy_p99_us", "pipe round trip p99, busy (floor)",
	    US(bench_percentile(floor_busy, n, 99)), "us", 1, REPORT_NONE, 0);
	ret = 0;
out:
	scraper_stop(scr, &sst);
	if (bench_cancel_jobs(c, longs, &nlong) != 0)
		ret = -1;
	if (bench_cancel_jobs(c, spins, &nspin) != 0)
		ret = -1;
	jobd_client_close(c);
	free(longs);
	free(spins);
	free(prog);
	free(busy);
	free(idle);
	free(floor_busy);
	free(floor_idle);
	if (jobdproc_stop(&p) != 0)
		ret = -1;
	return (ret);
}

int
wl_latency(struct bench *b)
{
	return latency(b, false);
}

int
wl_latency_scrape(struct bench *b)
{
	return latency(b, true);
}

/* One phase of throughput: N jobs, batch 0 (Submit) or B (SubmitBatch). */
static int
throughput_phase(struct bench *b, uint32_t batch)
{
	static const struct load_rows q_rows[2] = {
	    {"submit_jobs_per_s", "submit_calls_jobs_per_s", "submit_p50_us",
	     "submit_p99_us", REPORT_GE, REPORT_NONE, 0, 0},
	    {"batch_jobs_per_s", "batch_calls_jobs_per_s", "batch_call_p50_us",
	     "batch_call_p99_us", REPORT_GE, REPORT_NONE, 30000, 0},
	};
	static const struct bounds_names b_names[2] = {
	    {"submit_rtt_p50_us", "submit_rtt_p99_us", "submit_fsync_p50_us",
	     "submit_fsync_p99_us", "submit_ceiling_jobs_per_s",
	     "submit_cpu_jobd_us", "submit_cpu_bench_us",
	     "submit_cpu_ceiling_jobs_per_s"},
	    {"batch_rtt_p50_us", "batch_rtt_p99_us", "batch_fsync_p50_us",
	     "batch_fsync_p99_us", "batch_ceiling_jobs_per_s",
	     "batch_cpu_jobd_us", "batch_cpu_bench_us",
	     "batch_cpu_ceiling_jobs_per_s"},
	};
	static const char *const extra[] = {"--max-queue", "0", NULL};
	struct load_rows rows = q_rows[batch > 0];
	struct load_result res = {0};
	struct bench_count_req job;
	struct bounds bd;
	struct cpu_mark cpu0, cpu1;
	struct jobdproc p;
	const char *url;
	jobd_client *c = NULL;
	uint64_t n = b->o.jobs;
	int64_t t_done;
	char call[32], what[64];
	int ret = -1;

	if (bench_jobd(b, &p, batch > 0 ? "throughput-batch" : "throughput",
	               extra, &url) != 0)
		return (-1);
	if (bench_client(url, &c) != 0)
		goto out;
	bench_progress("throughput", "the round trip and the fsync in '%s'",
	               bounds_dir(b, &p));
	if (bounds_measure(c, bounds_dir(b, &p), &bd) != 0)
		goto out;
	if (batch > 0)
		snprintf(call, sizeof(call), "batch of %u", batch);
	else
		snprintf(call, sizeof(call), "Submit");
	bench_progress("throughput", "%llu jobs, %u clients, %s",
	               (unsigned long long) n, b->o.clients,
	               batch > 0 ? "SubmitBatch" : "Submit");
	bench_count_req_init(&job, 1);
	bounds_cpu_mark(&p, &cpu0);
	if (load_until_succeeded(c, &url, 1, &job.req, n, batch, b->o.clients,
	                         STALL_MS, &res, &t_done) != 0)
		goto out;
	bounds_cpu_mark(&p, &cpu1);

	/* 8 clients: 8 calls per round trip and fsync at best; the target of
	 * single Submits is a share of that, a batch's stays absolute */
	if (batch > 0)
		snprintf(what, sizeof(what), "%u x %u jobs", b->o.clients,
		         batch);
	else
		snprintf(what, sizeof(what), "%u clients", b->o.clients);
	double ceiling = bounds_report(
	    b->rep, &b_names[batch > 0], &bd,
	    (double) b->o.clients * (batch > 0 ? batch : 1), what);
	bounds_cpu_report(b->rep, &b_names[batch > 0], &cpu0, &cpu1, n,
	                  b->ncpu);
	if (batch == 0)
		rows.all_target = floor(SUBMIT_SHARE * ceiling);
	load_report(b->rep, &rows, call, n, &res, t_done);
	ret = 0;
out:
	free(res.lat);
	jobd_client_close(c);
	if (jobdproc_stop(&p) != 0)
		ret = -1;
	return (ret);
}

int
wl_throughput(struct bench *b)
{
	if (throughput_phase(b, 0) != 0)
		return (-1);
	return (throughput_phase(b, b->o.batch));
}

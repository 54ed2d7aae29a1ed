#ifndef JOBD_BENCH_LOAD_H
#define JOBD_BENCH_LOAD_H

/*
 * load: the load generator. Client threads, each with a jobd_client (and
 * so a connection) of its own, submit tiny jobs (count n=1, no key, or a
 * request of the caller's), one call at a time each, one job per Submit or
 * a batch per SubmitBatch.
 */

#include <stdbool.h>
#include <stdint.h>

#include "jobd_client.h"
#include "report.h"

struct load_result {
	int64_t t0;    /* CLOCK_MONOTONIC ns, before the first call */
	int64_t t_end; /* after the last call returned */
	uint64_t ncalls;
	uint64_t *lat; /* each call's ns, ncalls of them (malloc'd; the
	                  caller frees), or NULL when not asked for */
};

/* Submits `njobs` tiny jobs to the jobd at `url` from `clients` threads;
 * `batch` 0: one jobd_submit per job, otherwise jobd_submit_batch calls of
 * `batch` jobs (the last may hold fewer). With `keep_lat`, res->lat holds
 * every call's latency. 0, or -1 having said why (the first failed call). */
int load_submit(const char *url, uint64_t njobs, uint32_t batch,
                uint32_t clients, bool keep_lat, struct load_result *res);
/* load_submit() with `job` (not copied: it must outlive the call) as every
 * job instead of count n=1. */
int load_submit_req(const char *url, const Jobd__V1__SubmitRequest *job,
                    uint64_t njobs, uint32_t batch, uint32_t clients,
                    bool keep_lat, struct load_result *res);

/* load_submit_req() to several daemons: client thread i calls urls[i %
 * nurls] (nurls >= 1). */
int load_submit_to(const char *const *urls, size_t nurls,
                   const Jobd__V1__SubmitRequest *job, uint64_t njobs,
                   uint32_t batch, uint32_t clients, bool keep_lat,
                   struct load_result *res);

/* One throughput phase: Stats on c for the succeeded count before, then
 * load_submit_to() with every call's latency kept, then
 * load_wait_succeeded() on c (whose Stats must count the jobs of every
 * daemon in urls). res->lat is the caller's to free, on failure too. */
int load_until_succeeded(jobd_client *c, const char *const *urls, size_t nurls,
                         const Jobd__V1__SubmitRequest *job, uint64_t njobs,
                         uint32_t batch, uint32_t clients, uint32_t stall_ms,
                         struct load_result *res, int64_t *t_done);

/* The rows of a throughput phase: JSON names (static; p50 NULL: no such
 * row) and the targets of the two rates. */
struct load_rows {
	const char *all, *calls, *p50, *p99;
	enum report_cmp all_cmp, calls_cmp;
	double all_target, calls_target;
};
/* Adds them: jobs/s from the first call until all succeeded (t_done), and
 * while the calls alone ran; the calls' latency percentiles. `call` says
 * what was called ("Submit", "batch of 100"). */
void load_report(report *r, const struct load_rows *rows, const char *call,
                 uint64_t njobs, const struct load_result *res, int64_t t_done);

/* Polls Stats about every 2 ms until `succeeded` reaches `target`; at
 * *t_done the time the reply that said so came. Fails (-1, said why) when
 * `failed` or `cancelled` goes past the counts it had at the first poll,
 * a call fails, or succeeded does not move for `stall_ms`. */
int load_wait_succeeded(jobd_client *c, uint64_t target, uint32_t stall_ms,
                        int64_t *t_done);

/* Stats of c into *st (caller frees); 0, or -1 having said why. */
int load_stats(jobd_client *c, Jobd__V1__StatsReply **st);

#endif

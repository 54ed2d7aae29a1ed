#ifndef JOBD_BENCH_BOUNDS_H
#define JOBD_BENCH_BOUNDS_H

/*
 * bounds: the machine's bounds for a durable call, measured in the run
 * beside the figures they bound: the round trip to the jobd being measured
 * (Pings on one connection) and the time of one fsync on the filesystem of
 * its database (4 KiB appended to a file, then fdatasync). A client that
 * waits for each durable answer cannot do better than one call per round
 * trip plus one fsync; the ceilings of the workloads follow from that.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench.h"

struct bounds {
	uint64_t rtt_p50_ns, rtt_p99_ns;     /* Ping round trip */
	uint64_t fsync_p50_ns, fsync_p99_ns; /* append 4 KiB + fdatasync */
};

/* The JSON names of one phase's rows (static strings). */
struct bounds_names {
	const char *rtt_p50, *rtt_p99, *fsync_p50, *fsync_p99, *ceiling;
	const char *cpu_jobd, *cpu_bench, *cpu_ceiling;
};

/*
 * The third bound, CPU: what one job cost the daemon and the benchmark in
 * CPU time while the load ran, and from it the most jobs the machine's
 * CPUs could do per second if they did nothing else. On a machine with
 * few CPUs shared by both, this, not the round trip or the fsync, is
 * often the bound that holds.
 */
struct cpu_mark {
	int64_t jobd_ns; /* -1: not known (--addr) */
	int64_t self_ns;
};
/* The CPU time used so far by jobd `p` (its /proc/PID/stat) and by this
 * process (all its threads). */
void bounds_cpu_mark(const struct jobdproc *p, struct cpu_mark *m);
/* Adds the rows of the CPU used between m0 and m1 for `jobs` jobs: per
 * job, jobd's (when known) and jobd-bench's, and the ceiling `ncpu` /
 * their sum (only when jobd's is known). */
void bounds_cpu_report(report *r, const struct bounds_names *names,
                       const struct cpu_mark *m0, const struct cpu_mark *m1,
                       uint64_t jobs, long ncpu);

/* From /proc/PID/stat: the CPU time process pid used, utime + stime in
 * ns (with `reaped`, with its children's that ended and were waited for:
 * cutime + cstime), and its parent's pid (ppid may be NULL). 0, or -1 if
 * it cannot be read. */
int bounds_proc_stat(pid_t pid, bool reaped, pid_t *ppid, int64_t *cpu_ns);

/* The directory whose filesystem bounds the commits of the jobd `p`: its
 * data directory, or with --addr (p not running) --dir's, $TMPDIR or
 * /var/tmp. */
const char *bounds_dir(const struct bench *b, const struct jobdproc *p);

/* Measures the round trip on c (synchronous Pings after a warm-up) and the
 * fsync in `dir` (a file of its own, removed after) into *out. 0, or -1
 * having said why. */
int bounds_measure(jobd_client *c, const char *dir, struct bounds *out);

/* One round trip plus one fsync (the p50s), in seconds. */
double bounds_cycle_s(const struct bounds *bd);

/* Adds the rows of *bd, then the ceiling: `jobs` jobs per round trip plus
 * one fsync, labelled "ceiling: WHAT / (rtt + fsync)". Returns the ceiling
 * in jobs/s. */
double bounds_report(report *r, const struct bounds_names *names,
                     const struct bounds *bd, double jobs, const char *what);

#endif

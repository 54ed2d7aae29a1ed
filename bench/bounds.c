/*
 * bounds: the round trip and the fsync, measured.
 *
 * The round trip is the synchronous Ping of the C client on one
 * connection, timed as every call of the benchmark is: the least a call to
 * this jobd costs, encoding, loopback and the daemon's front included.
 *
 * The fsync is what a commit costs the disk. SQLite in WAL mode with
 * synchronous=FULL appends a commit's frames to the -wal file and syncs
 * it, so the loop does the same on a file of its own beside the database:
 * it appends 4 KiB (a database page; a commit of a few tiny jobs appends a
 * few) and calls fdatasync, which must also make the file's new size
 * durable. Every 64 appends the file is cut back to empty
 * (synced, untimed), as a WAL is reset after a checkpoint, so it never
 * grows past 256 KiB. The file is removed after.
 *
 * Both are measured before the workload's load starts, on an idle daemon,
 * and reported as p50 (what the ceilings use) and p99.
 */
#include "bounds.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define PING_WARMUP  100
#define PINGS        1000
#define FSYNC_WARMUP 8
#define FSYNCS       200
#define FSYNC_BYTES  4096
#define FSYNC_RESET  64 /* appends between cuts back to empty */
#define US(ns)       ((double) (ns) / 1e3)

const char *
bounds_dir(const struct bench *b, const struct jobdproc *p)
{
	if (p->pid > 0)
		return (p->dir);
	return (bench_parent_dir(&b->o));
}

/* n Pings on c after `warmup` untimed ones, into out[]. */
static int
time_pings(jobd_client *c, uint32_t warmup, uint32_t n, uint64_t *out)
{
	for (uint32_t i = 0; i < warmup + n; i++) {
		Jobd__V1__PingReply *rep;
		int64_t t0 = bench_now_ns();
		int rv = jobd_ping(c, &rep);
		int64_t dt = bench_now_ns() - t0;
		if (rv != JOBD_OK) {
			bench_errorf("Ping failed: %s: %s",
			             jobd_status_name(rv),
			             jobd_client_errmsg());
			return (-1);
		}
		jobd__v1__ping_reply__free_unpacked(rep, NULL);
		if (i >= warmup)
			out[i - warmup] = (uint64_t) dt;
	}
	return (0);
}

/* Cuts the file back to empty and syncs that. */
static int
reset_file(int fd, const char *path)
{
	if (ftruncate(fd, 0) != 0 || fdatasync(fd) != 0) {
		bench_errorf("cannot truncate '%s': %s", path, strerror(errno));
		return (-1);
	}
	return (0);
}

/* n appends of 4 KiB + fdatasync to a new file in dir (after `warmup`
 * untimed ones), into out[]. */
static int
time_fsyncs(const char *dir, uint32_t warmup, uint32_t n, uint64_t *out)
{
	static char buf[FSYNC_BYTES];
	char path[PATH_MAX];
	off_t off = 0;
	int fd, ret = 0;

	if ((size_t) snprintf(path, sizeof(path), "%s/fsync-probe-XXXXXX",
	                      dir) >= sizeof(path)) {
		bench_errorf("the path '%s' is too long", dir);
		return (-1);
	}
	if ((fd = mkstemp(path)) < 0) {
		bench_errorf("cannot make a file in '%s': %s", dir,
		             strerror(errno));
		return (-1);
	}
	memset(buf, 0xa5, sizeof(buf));
	for (uint32_t i = 0; ret == 0 && i < warmup + n; i++) {
		if (i % FSYNC_RESET == 0) {
			if (reset_file(fd, path) != 0) {
				ret = -1;
				break;
			}
			off = 0;
		}
		int64_t t0 = bench_now_ns();
		ssize_t w = pwrite(fd, buf, sizeof(buf), off);
		if (w != (ssize_t) sizeof(buf) || fdatasync(fd) != 0) {
			bench_errorf("cannot append to '%s': %s", path,
			             w < 0 || w == (ssize_t) sizeof(buf)
			                 ? strerror(errno)
			                 : "a short write");
			ret = -1;
			break;
		}
		if (i >= warmup)
			out[i - warmup] = (uint64_t) (bench_now_ns() - t0);
		off += (off_t) sizeof(buf);
	}
	close(fd);
	if (unlink(path) != 0 && ret == 0) {
		bench_errorf("cannot remove '%s': %s", path, strerror(errno));
		ret = -1;
	}
	return (ret);
}

int
bounds_measure(jobd_client *c, const char *dir, struct bounds *out)
{
	uint64_t *v;
	int ret = -1;

	if ((v = calloc(PINGS > FSYNCS ? PINGS : FSYNCS, sizeof(*v))) == NULL) {
		bench_errorf("out of memory");
		return (-1);
	}
	if (time_pings(c, PING_WARMUP, PINGS, v) != 0)
		goto out;
	out->rtt_p50_ns = bench_percentile(v, PINGS, 50);
	out->rtt_p99_ns = bench_percentile(v, PINGS, 99);
	if (time_fsyncs(dir, FSYNC_WARMUP, FSYNCS, v) != 0)
		goto out;
	out->fsync_p50_ns = bench_percentile(v, FSYNCS, 50);
	out->fsync_p99_ns = bench_percentile(v, FSYNCS, 99);
	ret = 0;
out:
	free(v);
	return (ret);
}

double
bounds_cycle_s(const struct bounds *bd)
{
	return ((double) (bd->rtt_p50_ns + bd->fsync_p50_ns) / 1e9);
}

double
bounds_report(report *r, const struct bounds_names *names,
              const struct bounds *bd, double jobs, const char *what)
{
	char label[64];
	double ceiling = jobs / bounds_cycle_s(bd);

	report_add(r, names->rtt_p50, "round trip p50 (Ping, 1 connection)",
	           US(bd->rtt_p50_ns), "us", 1, REPORT_NONE, 0);
	report_add(r, names->rtt_p99, "round trip p99", US(bd->rtt_p99_ns),
	           "us", 1, REPORT_NONE, 0);
	report_add(r, names->fsync_p50, "fsync p50 (append 4 KiB + fdatasync)",
	           US(bd->fsync_p50_ns), "us", 1, REPORT_NONE, 0);
	report_add(r, names->fsync_p99, "fsync p99", US(bd->fsync_p99_ns), "us",
	           1, REPORT_NONE, 0);
	snprintf(label, sizeof(label), "ceiling: %s / (rtt + fsync)", what);
	report_add(r, names->ceiling, label, ceiling, "jobs/s", 0, REPORT_NONE,
	           0);
	return (ceiling);
}

int
bounds_proc_stat(pid_t pid, bool reaped, pid_t *ppid, int64_t *cpu_ns)
{
	char path[64], buf[1024];
	unsigned long long ut, st, cut, cst;
	long tck = sysconf(_SC_CLK_TCK), pp;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long) pid);
	if (tck <= 0 || (f = fopen(path, "r")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after "pid (comm) ": state is field 3, ppid 4, utime 14, stime 15,
	 * cutime 16, cstime 17 */
	char *p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 1,
	                        " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	                        "%llu %llu %llu %llu",
	                        &pp, &ut, &st, &cut, &cst) != 5)
		return (-1);
	if (ppid != NULL)
		*ppid = (pid_t) pp;
	if (reaped) {
		ut += cut;
		st += cst;
	}
	*cpu_ns = (int64_t) ((ut + st) * (1000000000ull / (unsigned long) tck));
	return (0);
}

/* utime + stime of process `pid` in ns, or -1. */
static int64_t
proc_cpu_ns(pid_t pid)
{
	int64_t ns;

	return (bounds_proc_stat(pid, false, NULL, &ns) == 0 ? ns : -1);
}

void
bounds_cpu_mark(const struct jobdproc *p, struct cpu_mark *m)
{
	struct rusage ru;

	m->jobd_ns = p->pid > 0 ? proc_cpu_ns(p->pid) : -1;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		memset(&ru, 0, sizeof(ru));
	m->self_ns =
	    ((int64_t) ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	    ((int64_t) ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

void
bounds_cpu_report(report *r, const struct bounds_names *names,
                  const struct cpu_mark *m0, const struct cpu_mark *m1,
                  uint64_t jobs, long ncpu)
{
	char label[64];
	bool known = m0->jobd_ns >= 0 && m1->jobd_ns >= 0;

	if (jobs == 0)
		return;
	double self = (double) (m1->self_ns - m0->self_ns) / (double) jobs;
	double jobd =
	    known ? (double) (m1->jobd_ns - m0->jobd_ns) / (double) jobs : 0;
	if (known)
		report_add(r, names->cpu_jobd, "CPU per job, jobd", US(jobd),
		           "us", 1, REPORT_NONE, 0);
	report_add(r, names->cpu_bench, "CPU per job, jobd-bench", US(self),
	           "us", 1, REPORT_NONE, 0);
	if (known && jobd + self > 0) {
		snprintf(label, sizeof(label),
		         "ceiling: %ld CPUs / CPU per job", ncpu);
		report_add(r, names->cpu_ceiling, label,
		           (double) ncpu * 1e9 / (jobd + self), "jobs/s", 0,
		           REPORT_NONE, 0);
	}
}

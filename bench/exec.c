/*
 * Program kinds under the benchmark: the kinds directory the benchmark's
 * own jobd reads, and the exec workload.
 *
 * The kinds directory (bench_kinds_dir) holds two program kinds:
 * bench-true, /bin/true, a program that exits at once, so that a job costs
 * what running a program costs jobd and nothing else; and bench-spin, a
 * shell busy loop that never ends (cancelled, it gets SIGTERM), which the
 * latency workload puts on every worker.
 *
 * exec: tiny program jobs (bench-true) from concurrent clients with
 * SubmitBatch until all succeeded, as throughput does with count n=1, on a
 * daemon with the default workers; and, in the same run, the machine's
 * floor for that: a bare posix_spawn() + waitpid() loop of /bin/true in as
 * many threads as jobd has workers. jobd's rate over the floor's is the
 * figure (the target: at least 0.8).
 *
 * Then the same jobs with --queued jobs waiting in the same daemon. They
 * must cost the run queue what a long queue costs, not run. They are
 * queued on a daemon without workers (--workers 0) as jobs of a third
 * kind, bench-parked; then the daemon stops, bench-parked.kind is removed,
 * and the daemon starts again on the same database with its workers. A job
 * of a kind that is not defined waits for it: the queued jobs stay queued
 * (Stats counts them in waiting_kind, checked before and after), loaded
 * into memory with the others, while the bench-true jobs run. (Submitting
 * them as a kind that is not defined does not work: Submit refuses an
 * unknown kind.)
 */
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "load.h"

#define TRUE_PROGRAM "/bin/true"
#define STALL_MS     60000u
#define RESTART_WAIT 120000u /* ms, until the restarted jobd pings */
#define MAX_THREADS  256

/* One file of the kinds directory. */
struct kind_file {
	const char *name;
	const char *text;
};

static const struct kind_file kind_files[] = {
    {BENCH_KIND_TRUE ".kind",
     "; jobd-bench: a program that exits at once\n"
     "[kind]\n"
     "description = runs " TRUE_PROGRAM " (jobd-bench)\n"
     "program = " TRUE_PROGRAM "\n"
     "grace = 1s\n"},
    {BENCH_KIND_SPIN ".kind",
     "; jobd-bench: a program that keeps a CPU busy until it is stopped\n"
     "[kind]\n"
     "description = a shell busy loop, until cancelled (jobd-bench)\n"
     "program = /bin/sh\n"
     "args = {KIND_DIR}/spin.sh\n"
     "grace = 1s\n"},
    {"spin.sh", "while :; do :; done\n"},
};

static const char parked_text[] =
    "; jobd-bench: the kind of the queued jobs, removed before they run\n"
    "[kind]\n"
    "description = runs " TRUE_PROGRAM " (jobd-bench, queued)\n"
    "program = " TRUE_PROGRAM "\n";

/* Writes `text` to DIR/NAME. */
static int
write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "we")) == NULL) {
		bench_errorf("cannot write '%s': %s", path, strerror(errno));
		return (-1);
	}
	fputs(text, f);
	if (ferror(f) | (fclose(f) != 0)) {
		bench_errorf("cannot write '%s': %s", path, strerror(errno));
		return (-1);
	}
	return (0);
}

int
bench_kinds_dir(const struct bench *b, char *out, size_t len)
{
	if (bench_subdir(b, "kinds", out, len) != 0)
		return (-1);
	for (size_t i = 0; i < sizeof(kind_files) / sizeof(kind_files[0]); i++)
		if (write_file(out, kind_files[i].name, kind_files[i].text) !=
		    0)
			return (-1);
	return (0);
}

void
bench_kind_req_init(struct bench_count_req *r, const char *kind)
{
	bench_count_req_init(r, 1);
	r->req.kind = (char *) kind;
	r->req.n_params = 0;
}

/* ---- the floor: posix_spawn + waitpid ------------------------------- */

struct spawner {
	uint64_t n;
	atomic_uint_fast64_t next;
	atomic_bool stop;
	int err; /* the first errno, or -1: /bin/true did not exit 0 */
	pthread_mutex_t mtx;
};

static void
spawn_fail(struct spawner *s, int err)
{
	pthread_mutex_lock(&s->mtx);
	if (s->err == 0)
		s->err = err;
	pthread_mutex_unlock(&s->mtx);
	atomic_store(&s->stop, true);
}

static void *
spawn_main(void *arg)
{
	static char *const argv[] = {TRUE_PROGRAM, NULL};
	static char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
	struct spawner *s = arg;

	while (!atomic_load(&s->stop) && atomic_fetch_add(&s->next, 1) < s->n) {
		pid_t pid;
		int st, rv;

		if ((rv = posix_spawn(&pid, TRUE_PROGRAM, NULL, NULL, argv,
		                      envp)) != 0) {
			spawn_fail(s, rv);
			break;
		}
		while (waitpid(pid, &st, 0) < 0)
			if (errno != EINTR) {
				spawn_fail(s, errno);
				return (NULL);
			}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			spawn_fail(s, -1);
			break;
		}
	}
	return (NULL);
}

/* Runs /bin/true n times from `threads` threads, each spawning and
 * waiting for one at a time; *ns the wall time. */
static int
spawn_floor(uint64_t n, uint32_t threads, int64_t *ns)
{
	pthread_t t[MAX_THREADS];
	struct spawner s;
	uint32_t k = 0;

	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	memset(&s, 0, sizeof(s));
	s.n = n;
	atomic_init(&s.next, 0);
	atomic_init(&s.stop, false);
	pthread_mutex_init(&s.mtx, NULL);
	int64_t t0 = bench_now_ns();
	for (; k < threads; k++)
		if (pthread_create(&t[k], NULL, spawn_main, &s) != 0)
			break;
	for (uint32_t i = 0; i < k; i++)
		pthread_join(t[i], NULL);
	*ns = bench_now_ns() - t0;
	pthread_mutex_destroy(&s.mtx);
	if (k < threads) {
		bench_errorf("cannot start %u threads", threads);
		return (-1);
	}
	if (s.err == -1) {
		bench_errorf("%s did not exit 0", TRUE_PROGRAM);
		return (-1);
	}
	if (s.err != 0) {
		bench_errorf("cannot run %s: %s", TRUE_PROGRAM,
		             strerror(s.err));
		return (-1);
	}
	return (0);
}

/* ---- the workload ---------------------------------------------------- */

/* Stats' workers, succeeded and waiting_kind. */
static int
stats3(jobd_client *c, uint32_t *workers, uint64_t *succeeded,
       uint64_t *waiting)
{
	Jobd__V1__StatsReply *st;

	if (load_stats(c, &st) != 0)
		return (-1);
	*workers = st->workers;
	*succeeded = st->succeeded;
	*waiting = st->waiting_kind;
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	return (0);
}

/*
 * n bench-true jobs on the running jobd at p (SubmitBatch from the
 * clients), until all succeeded: *ns from the first call to the Stats that
 * said so. *workers is the daemon's, *waiting its waiting_kind before.
 */
static int
run_true_jobs(struct bench *b, struct jobdproc *p, uint64_t n,
              uint32_t *workers, uint64_t *waiting, int64_t *ns)
{
	struct bench_count_req req;
	struct load_result res = {0};
	jobd_client *c = NULL;
	uint64_t base, after;
	int64_t t_done;
	int ret = -1;

	if (jobd_client_open(&c, p->url) != JOBD_OK) {
		bench_errorf("%s", jobd_client_errmsg());
		return (-1);
	}
	if (stats3(c, workers, &base, waiting) != 0)
		goto out;
	bench_kind_req_init(&req, BENCH_KIND_TRUE);
	if (load_submit_req(p->url, &req.req, n, b->o.batch, b->o.clients,
	                    false, &res) != 0 ||
	    load_wait_succeeded(c, base + n, STALL_MS, &t_done) != 0)
		goto out;
	*ns = t_done - res.t0;
	if (stats3(c, workers, &base, &after) != 0)
		goto out;
	if (after != *waiting) {
		bench_errorf("jobs waiting for a kind went from %llu to %llu",
		             (unsigned long long) *waiting,
		             (unsigned long long) after);
		goto out;
	}
	ret = 0;
out:
	jobd_client_close(c);
	return (ret);
}

/* Queues q bench-parked jobs in a database of DATADIR/exec-queued, with a
 * daemon without workers, and stops it; *dir is that directory. */
static int
queue_parked(struct bench *b, const char *kinds, uint64_t q, char *dir,
             size_t len)
{
	const char *const extra[] = {"--workers",   "0",   "--max-queue", "0",
	                             "--kinds-dir", kinds, NULL};
	struct bench_count_req req;
	struct load_result res = {0};
	struct jobdproc p;

	if (write_file(kinds, BENCH_KIND_PARKED ".kind", parked_text) != 0 ||
	    bench_subdir(b, "exec-queued", dir, len) != 0 ||
	    jobdproc_start(&p, b->o.jobd, dir, extra) != 0)
		return (-1);
	bench_progress("exec", "queueing %llu jobs of kind %s (--workers 0)",
	               (unsigned long long) q, BENCH_KIND_PARKED);
	bench_kind_req_init(&req, BENCH_KIND_PARKED);
	if (load_submit_req(p.url, &req.req, q, BENCH_BATCH_MAX, b->o.clients,
	                    false, &res) != 0) {
		jobdproc_kill(&p);
		return (-1);
	}
	if (jobdproc_stop(&p) != 0)
		return (-1);
	/* its kind gone, the jobs wait for it */
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s.kind", kinds, BENCH_KIND_PARKED);
	if (unlink(path) != 0) {
		bench_errorf("cannot remove '%s': %s", path, strerror(errno));
		return (-1);
	}
	return (0);
}

static void
add_rate(struct bench *b, const char *name, const char *label, uint64_t n,
         int64_t ns)
{
	report_add(b->rep, name, label, (double) n / ((double) ns / 1e9),
	           "jobs/s", 0, REPORT_NONE, 0);
}

int
wl_exec(struct bench *b)
{
	char kinds[PATH_MAX], dir[PATH_MAX], label[64];
	const char *const extra[] = {"--max-queue", "0", "--kinds-dir", kinds,
	                             NULL};
	uint64_t n = b->o.jobs, q = b->o.queued, waiting;
	uint32_t workers;
	int64_t jobd_ns, floor_ns, queued_ns;
	struct jobdproc p;

	if (bench_kinds_dir(b, kinds, sizeof(kinds)) != 0 ||
	    bench_subdir(b, "exec", dir, sizeof(dir)) != 0)
		return (-1);

	/* jobd, an empty queue */
	if (jobdproc_start(&p, b->o.jobd, dir, extra) != 0)
		return (-1);
	bench_progress("exec",
	               "%llu jobs of kind %s (%s), %u clients, batch "
	               "of %u",
	               (unsigned long long) n, BENCH_KIND_TRUE, TRUE_PROGRAM,
	               b->o.clients, b->o.batch);
	if (run_true_jobs(b, &p, n, &workers, &waiting, &jobd_ns) != 0) {
		jobdproc_kill(&p);
		return (-1);
	}
	if (jobdproc_stop(&p) != 0)
		return (-1);

	/* the floor, with jobd stopped */
	bench_progress("exec", "%llu posix_spawn + waitpid of %s, %u threads",
	               (unsigned long long) n, TRUE_PROGRAM, workers);
	if (spawn_floor(n, workers > 0 ? workers : 1, &floor_ns) != 0)
		return (-1);

	double jobd_rate = (double) n / ((double) jobd_ns / 1e9);
	double floor_rate = (double) n / ((double) floor_ns / 1e9);
	snprintf(label, sizeof(label), "program jobs/s, %u workers", workers);
	add_rate(b, "jobs_per_s", label, n, jobd_ns);
	snprintf(label, sizeof(label), "spawn+wait/s, %u threads (floor)",
	         workers);
	report_add(b->rep, "floor_spawns_per_s", label, floor_rate, "spawns/s",
	           0, REPORT_NONE, 0);
	report_add(b->rep, "floor_ratio", "jobd / floor",
	           jobd_rate / floor_rate, "", 2, REPORT_GE, 0.8);

	/* the same with q jobs queued that wait for their kind */
	if (queue_parked(b, kinds, q, dir, sizeof(dir)) != 0)
		return (-1);
	bench_progress("exec",
	               "jobd on the %llu queued jobs, then %llu jobs "
	               "of kind %s",
	               (unsigned long long) q, (unsigned long long) n,
	               BENCH_KIND_TRUE);
	if (jobdproc_spawn(&p, b->o.jobd, dir, extra) != 0 ||
	    jobdproc_ready(&p, RESTART_WAIT, NULL) != 0)
		return (-1);
	if (run_true_jobs(b, &p, n, &workers, &waiting, &queued_ns) != 0) {
		jobdproc_kill(&p);
		return (-1);
	}
	if (jobdproc_stop(&p) != 0)
		return (-1);
	if (waiting != q) {
		bench_errorf("%llu jobs waited for their kind, not %llu",
		             (unsigned long long) waiting,
		             (unsigned long long) q);
		return (-1);
	}
	report_add(b->rep, "queued_jobs", "jobs queued (waiting for a kind)",
	           (double) q, "", 0, REPORT_NONE, 0);
	add_rate(b, "queued_jobs_per_s", "program jobs/s, with them queued", n,
	         queued_ns);
	report_add(b->rep, "queued_floor_ratio",
	           "jobd / floor, with them queued",
	           ((double) n / ((double) queued_ns / 1e9)) / floor_rate, "",
	           2, REPORT_GE, 0.8);
	return (0);
}

/*
 * jobd-bench: measures jobd against the targets of its performance issue.
 *
 *     jobd-bench [OPTIONS] [WORKLOAD...]
 *
 * The workloads live in one table, `workloads`, one function each, run in
 * the table's order whatever the order on the command line (memory before
 * restart, memory-scheduled before restart-scheduled: each hands over its
 * database). Each starts jobd daemons of
 * its own under one data directory (a fresh mkdtemp, removed at the end
 * unless --keep), or measures the one at --addr; the ones that must choose
 * jobd's options or read its memory cannot use --addr and are skipped.
 * One that needs what not every machine has (cluster: PostgreSQL) runs
 * only when named.
 *
 * Exit status: 0 when every workload ran, 1 when one could not (jobd did
 * not start or did not exit 0, a call or a job failed), 2 on a usage
 * error. It says nothing about speed: the table says whether each target
 * was met.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>

#include "bench.h"
#include "pgsrv.h"

#ifndef JOBD_VERSION
#define JOBD_VERSION "unknown"
#endif
#ifndef JOBD_BENCH_JOBD
#define JOBD_BENCH_JOBD "jobd"
#endif
#ifndef JOBD_BENCH_PG_CLUSTER
#define JOBD_BENCH_PG_CLUSTER "tests/pg_cluster.sh"
#endif

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

struct workload {
	const char *name;
	int (*fn)(struct bench *b);
	bool own_jobd; /* needs a jobd of its own: not with --addr */
	const char *summary;
	bool named_only; /* not in "all": needs what not every machine has */
};

static const struct workload workloads[] = {
    {"latency", wl_latency, false,
     "Get round trips, idle and with every worker busy", false},
    {"latency-scrape", wl_latency_scrape, true,
     "latency's idle and busy Gets on a jobd with --http\n"
     "                 while a thread GETs /metrics every 100 ms",
     false},
    {"throughput", wl_throughput, false,
     "tiny jobs from concurrent clients until all\n"
     "                 succeeded: one Submit per job, then SubmitBatch",
     false},
    {"inflight", wl_inflight, false,
     "tiny jobs from one client with --inflight calls in\n"
     "                 flight: Submits until all succeeded, then Submit\n"
     "                 then Wait per job",
     false},
    {"exec", wl_exec, true,
     "tiny program jobs (/bin/true) until all succeeded,\n"
     "                 against posix_spawn+waitpid in as many threads;\n"
     "                 then with --queued jobs queued",
     false},
    {"speedup", wl_speedup, true,
     "8 CPU jobs on 1 worker, then on one per online CPU", false},
    {"memory", wl_memory, true, "jobd's RSS per queued job (--workers 0)",
     false},
    {"restart", wl_restart, true,
     "jobd started on a database of queued jobs: time\n"
     "                 to Ping and to the first job running",
     false},
    {"memory-scheduled", wl_memory_scheduled, true,
     "jobd's RSS per scheduled job: jobs submitted\n"
     "                 a day ahead (delay_ms), --workers 0",
     false},
    {"restart-scheduled", wl_restart_scheduled, true,
     "jobd started on a database of scheduled jobs:\n"
     "                 time to Ping; Stats must count them all\n"
     "                 scheduled",
     false},
    {"cluster", wl_cluster, true,
     "PostgreSQL, run only when named: throughput's\n"
     "                 phases on SQLite, on one daemon and on three\n"
     "                 sharing a database; Get of a job on the\n"
     "                 daemon asked and on another; rescue of a\n"
     "                 SIGKILLed daemon's jobs (--lease-ms)",
     true},
};
#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

/* Defaults, and --quick's. */
#define D_SAMPLES    2000u
#define Q_SAMPLES    200u
#define D_JOBS       10000u
#define Q_JOBS       2000u
#define D_CLIENTS    8u
#define D_INFLIGHT   32u
#define MAX_INFLIGHT 1024u /* jobd's calls waiting per connection */
#define D_BATCH      100u
#define D_JOB_MS     500u
#define Q_JOB_MS     50u
#define D_QUEUED     1000000u
#define Q_QUEUED     20000u
#define MAX_COUNT    1000000000ull /* the most jobs a run may ask for */
#define D_LEASE_MS   2000u

static void
usage(FILE *f)
{
	fprintf(f, "usage: jobd-bench [OPTIONS] [WORKLOAD...]\n");
}

static void
help(void)
{
	usage(stdout);
	printf(
	    "\n"
	    "Measures jobd against its performance targets: starts its own\n"
	    "jobd on a temporary directory (or measures a running one with\n"
	    "--addr), runs the workloads, and prints one row per figure with\n"
	    "its target and whether it was met.\n"
	    "\n"
	    "Workloads (default: all but cluster, in this order):\n");
	for (size_t i = 0; i < NWORKLOADS; i++)
		if (strlen(workloads[i].name) > 14) /* its summary below */
			printf("  %s\n%17s%s\n", workloads[i].name, "",
			       workloads[i].summary);
		else
			printf("  %-14s %s\n", workloads[i].name,
			       workloads[i].summary);
	printf(
	    "exec, speedup, memory, restart, their -scheduled variants and\n"
	    "cluster need a jobd of their own: with --addr they are skipped;\n"
	    "so is latency's phase with programs.\n"
	    "\n"
	    "Options (default; with --quick):\n"
	    "  --jobd PATH        the jobd to start\n"
	    "                     (%s)\n"
	    "  --addr URL         measure the jobd at URL instead (tcp://,\n"
	    "                     ipc://; no token, no TLS)\n"
	    "  --dir DIR          make the data directory in DIR ($TMPDIR, or\n"
	    "                     /var/tmp); not on tmpfs, where fsync is "
	    "free.\n"
	    "                     With --addr, where the fsync is timed\n"
	    "  --keep             keep the data directory: each daemon's\n"
	    "                     jobd.db and jobd.log\n"
	    "  --json FILE        also write the figures, the machine and the\n"
	    "                     options to FILE\n"
	    "  --quick            small sizes, seconds per workload (for CI);\n"
	    "                     options given explicitly win\n"
	    "  --samples N        latency: Gets timed idle and busy (%u; %u)\n"
	    "  --jobs N           throughput, inflight, exec: jobs per phase\n"
	    "                     (%u; %u)\n"
	    "  --clients N        client threads, a connection each (%u)\n"
	    "  --inflight N       inflight: calls in flight on its one\n"
	    "                     client, 1 to %u (%u)\n"
	    "  --batch N          jobs per SubmitBatch call, 1 to %u (%u)\n"
	    "  --job-ms MS        speedup: the length of one job (%u; %u)\n"
	    "  --queued N         memory, memory-scheduled, exec: jobs queued\n"
	    "                     or scheduled (%u; %u)\n"
	    "  --restart-jobs N   restart, restart-scheduled: jobs in the\n"
	    "                     database (%u; %u)\n"
	    "  --pg-url URL       cluster: the PostgreSQL server to use\n"
	    "                     (postgresql://...; allowed to CREATE "
	    "DATABASE:\n"
	    "                     one per phase, dropped at the end unless\n"
	    "                     --keep). Default: a throwaway server of its\n"
	    "                     own (%s), on\n"
	    "                     --dir's filesystem with fsync on, stopped "
	    "at\n"
	    "                     the end\n"
	    "  --lease-ms MS      cluster: the daemons' --lease in the rescue\n"
	    "                     (%u)\n"
	    "  -h, --help         this text\n"
	    "  --version          the version\n"
	    "\n"
	    "Figures are measured with CLOCK_MONOTONIC around each call, by\n"
	    "the C client library, on this machine. Progress goes to stderr.\n"
	    "Each throughput and inflight phase first measures the machine's\n"
	    "bounds: the round trip (Pings on one connection) and the fsync\n"
	    "(4 KiB appended to a file beside the database, then fdatasync),\n"
	    "and prints the ceiling they give beside its figures.\n"
	    "\n"
	    "Exit status: 0 when every workload ran, 1 when one could not\n"
	    "(jobd did not start or did not exit 0 after SIGTERM, a call or a\n"
	    "job failed), 2 on a usage error. Whether a target was met does\n"
	    "not change it.\n",
	    JOBD_BENCH_JOBD, D_SAMPLES, Q_SAMPLES, D_JOBS, Q_JOBS, D_CLIENTS,
	    MAX_INFLIGHT, D_INFLIGHT, BENCH_BATCH_MAX, D_BATCH, D_JOB_MS,
	    Q_JOB_MS, D_QUEUED, Q_QUEUED, D_QUEUED, Q_QUEUED,
	    JOBD_BENCH_PG_CLUSTER, D_LEASE_MS);
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("jobd-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	fprintf(stderr, "Try 'jobd-bench --help' for more.\n");
	return (EXIT_USAGE);
}

/* A whole number from min to max; -1 if s is not one. */
static int
parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return (-1);
	*out = v;
	return (0);
}

enum {
	OPT_JOBD = 256,
	OPT_ADDR,
	OPT_DIR,
	OPT_KEEP,
	OPT_JSON,
	OPT_QUICK,
	OPT_SAMPLES,
	OPT_JOBS,
	OPT_CLIENTS,
	OPT_INFLIGHT,
	OPT_BATCH,
	OPT_JOB_MS,
	OPT_QUEUED,
	OPT_RJOBS,
	OPT_PG_URL,
	OPT_LEASE_MS,
	OPT_VERSION,
};

static const struct option longopts[] = {
    {"jobd", required_argument, NULL, OPT_JOBD},
    {"addr", required_argument, NULL, OPT_ADDR},
    {"dir", required_argument, NULL, OPT_DIR},
    {"keep", no_argument, NULL, OPT_KEEP},
    {"json", required_argument, NULL, OPT_JSON},
    {"quick", no_argument, NULL, OPT_QUICK},
    {"samples", required_argument, NULL, OPT_SAMPLES},
    {"jobs", required_argument, NULL, OPT_JOBS},
    {"clients", required_argument, NULL, OPT_CLIENTS},
    {"inflight", required_argument, NULL, OPT_INFLIGHT},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"job-ms", required_argument, NULL, OPT_JOB_MS},
    {"queued", required_argument, NULL, OPT_QUEUED},
    {"restart-jobs", required_argument, NULL, OPT_RJOBS},
    {"pg-url", required_argument, NULL, OPT_PG_URL},
    {"lease-ms", required_argument, NULL, OPT_LEASE_MS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* The numeric options: where each goes, its bounds, its two defaults. */
struct numopt {
	int opt;
	const char *name;
	uint64_t min, max, dflt, quick;
	bool given;
	uint64_t v;
};

static struct numopt numopts[] = {
    {OPT_SAMPLES, "samples", 1, 10000000, D_SAMPLES, Q_SAMPLES, false, 0},
    {OPT_JOBS, "jobs", 1, MAX_COUNT, D_JOBS, Q_JOBS, false, 0},
    {OPT_CLIENTS, "clients", 1, 256, D_CLIENTS, D_CLIENTS, false, 0},
    {OPT_INFLIGHT, "inflight", 1, MAX_INFLIGHT, D_INFLIGHT, D_INFLIGHT, false,
     0},
    {OPT_BATCH, "batch", 1, BENCH_BATCH_MAX, D_BATCH, D_BATCH, false, 0},
    {OPT_JOB_MS, "job-ms", 1, 600000, D_JOB_MS, Q_JOB_MS, false, 0},
    {OPT_QUEUED, "queued", 1, MAX_COUNT, D_QUEUED, Q_QUEUED, false, 0},
    {OPT_RJOBS, "restart-jobs", 1, MAX_COUNT, D_QUEUED, Q_QUEUED, false, 0},
    {OPT_LEASE_MS, "lease-ms", 1000, 3600000, D_LEASE_MS, D_LEASE_MS, false, 0},
};
#define NNUMOPTS (sizeof(numopts) / sizeof(numopts[0]))

/* Parses the command line into b->o and which[]; 0, or an exit status
 * (-1: --help or --version, exit 0). */
static int
parse(struct bench *b, int argc, char **argv, bool which[NWORKLOADS], bool *all)
{
	struct bench_opts *o = &b->o;
	int opt;

	o->jobd = JOBD_BENCH_JOBD;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			help();
			return (-1);
		case OPT_VERSION:
			printf("jobd-bench %s\n", JOBD_VERSION);
			return (-1);
		case OPT_JOBD:
			o->jobd = optarg;
			break;
		case OPT_ADDR:
			o->addr = optarg;
			break;
		case OPT_DIR:
			o->dir = optarg;
			break;
		case OPT_KEEP:
			o->keep = true;
			break;
		case OPT_JSON:
			o->json = optarg;
			break;
		case OPT_QUICK:
			o->quick = true;
			break;
		case OPT_PG_URL:
			o->pg_url = optarg;
			break;
		case ':':
			return (usage_error("option '%s' needs a value",
			                    argv[optind - 1]));
		case '?':
			return (usage_error("unknown option '%s'",
			                    argv[optind - 1]));
		default:
			for (size_t i = 0; i < NNUMOPTS; i++) {
				struct numopt *n = &numopts[i];
				if (n->opt != opt)
					continue;
				if (parse_num(optarg, n->min, n->max, &n->v) !=
				    0)
					return (usage_error(
					    "invalid --%s '%s': a number from "
					    "%llu to %llu",
					    n->name, optarg,
					    (unsigned long long) n->min,
					    (unsigned long long) n->max));
				n->given = true;
			}
		}
	}
	if (*o->jobd == '\0')
		return (usage_error("invalid --jobd '': a file name"));
	if (o->addr != NULL && *o->addr == '\0')
		return (usage_error("invalid --addr '': an address"));
	if (o->json != NULL && *o->json == '\0')
		return (usage_error("invalid --json '': a file name"));
	if (o->pg_url != NULL && !pgsrv_is_url(o->pg_url))
		return (usage_error("invalid --pg-url '%s': a postgresql:// "
		                    "or postgres:// URL",
		                    o->pg_url));
	for (size_t i = 0; i < NNUMOPTS; i++)
		if (!numopts[i].given)
			numopts[i].v =
			    o->quick ? numopts[i].quick : numopts[i].dflt;
	o->samples = (uint32_t) numopts[0].v;
	o->jobs = numopts[1].v;
	o->clients = (uint32_t) numopts[2].v;
	o->inflight = (uint32_t) numopts[3].v;
	o->batch = (uint32_t) numopts[4].v;
	o->job_ms = (uint32_t) numopts[5].v;
	o->queued = numopts[6].v;
	o->rjobs = numopts[7].v;
	o->lease_ms = (uint32_t) numopts[8].v;

	*all = optind == argc;
	for (int a = optind; a < argc; a++) {
		size_t i = 0;
		while (i < NWORKLOADS && strcmp(argv[a], workloads[i].name))
			i++;
		if (i == NWORKLOADS)
			return (usage_error("unknown workload '%s'", argv[a]));
		if (workloads[i].own_jobd && o->addr != NULL)
			return (usage_error("workload '%s' needs a jobd of its "
			                    "own: not with --addr",
			                    argv[a]));
		which[i] = true;
	}
	for (size_t i = 0; i < NWORKLOADS; i++)
		which[i] = which[i] || (*all && !workloads[i].named_only);
	return (0);
}

/* Makes the data directory, a fresh one in --dir, $TMPDIR or /var/tmp. */
static int
make_datadir(struct bench *b)
{
	const char *parent = bench_parent_dir(&b->o);

	if ((size_t) snprintf(b->datadir, sizeof(b->datadir),
	                      "%s/jobd-bench-XXXXXX",
	                      parent) >= sizeof(b->datadir) - 64) {
		bench_errorf("the path '%s' is too long", parent);
		return (-1);
	}
	if (mkdtemp(b->datadir) == NULL) {
		bench_errorf("cannot make a directory in '%s': %s", parent,
		             strerror(errno));
		b->datadir[0] = '\0';
		return (-1);
	}
	return (0);
}

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void) st;
	(void) ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) != 0)
		bench_errorf("cannot remove '%s': %s", path, strerror(errno));
	return (0);
}

static void
record_options(struct bench *b)
{
	report *r = b->rep;

	report_option(r, "jobd", b->o.addr != NULL ? NULL : b->o.jobd);
	report_option(r, "addr", b->o.addr);
	report_option(r, "dir", b->o.dir);
	report_option(r, "keep", b->o.keep ? "yes" : "no");
	report_option(r, "quick", b->o.quick ? "yes" : "no");
	/* not the URL itself: it may hold a password */
	report_option(r, "pg", b->o.pg_url != NULL ? "--pg-url" : "its own");
	for (size_t i = 0; i < NNUMOPTS; i++)
		report_option_u64(r, numopts[i].name, numopts[i].v);
}

int
main(int argc, char **argv)
{
	static struct bench b; /* large: not on the stack */
	bool which[NWORKLOADS] = {false}, all, failed = false;
	int rv;

	if ((rv = parse(&b, argc, argv, which, &all)) != 0)
		return (rv < 0 ? 0 : rv);
	b.ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (b.ncpu < 1)
		b.ncpu = 1;
	if (b.o.addr == NULL && make_datadir(&b) != 0)
		return (EXIT_FAILED);
	if ((b.rep = report_create(b.datadir)) == NULL) {
		bench_errorf("out of memory");
		return (EXIT_FAILED);
	}
	if (b.o.addr == NULL && report_dir_on_tmpfs(b.rep))
		fprintf(stderr,
		        "jobd-bench: warning: '%s' is on tmpfs: fsync costs "
		        "nothing there, so the durable figures mean nothing; "
		        "use --dir on a disk\n",
		        b.datadir);
	record_options(&b);
	jobdproc_signals(b.datadir);
	report_print_header(b.rep, b.o.jobd, b.o.addr);

	for (size_t i = 0; i < NWORKLOADS; i++) {
		const struct workload *w = &workloads[i];
		if (!which[i])
			continue;
		report_begin(b.rep, w->name);
		if (w->own_jobd && b.o.addr != NULL) {
			report_end(b.rep, "skipped",
			           "needs a jobd of its own: not with --addr");
			continue;
		}
		bench_error_clear();
		if (w->fn(&b) == 0) {
			report_end(b.rep, "ok", NULL);
		} else {
			report_end(b.rep, "failed", bench_last_error());
			failed = true;
		}
	}
	/* memory's daemon, when restart did not take it over */
	if (b.queue.pid > 0 && jobdproc_stop(&b.queue) != 0)
		failed = true;

	if (b.o.json != NULL && report_write_json(b.rep, b.o.json) != 0)
		failed = true;
	report_destroy(b.rep);
	if (b.datadir[0] != '\0') {
		if (b.o.keep)
			fprintf(stderr, "jobd-bench: kept '%s'\n", b.datadir);
		else
			nftw(b.datadir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	nng_fini(); /* nng's threads and caches, for leak checkers */
	return (failed ? EXIT_FAILED : 0);
}

/*
 * jobd: flags and environment, signals, and the daemon.
 *
 * Every flag has a JOBD_* environment equivalent; a flag wins over the
 * environment, which wins over the default.
 *
 * Signals. Every signal an operator is likely to send is blocked in every
 * thread and taken by sigwait() here, one at a time (the table is in
 * usage() and docs/operations.md). The first SIGTERM, SIGINT or SIGQUIT
 * starts the graceful stop, whose first half (daemon_drain: the grace
 * period, the workers' join, the last commit) runs on a thread of its own,
 * so that this loop goes on taking signals: a second one ends the grace
 * period at once (daemon_hurry), SIGUSR1 still logs the status. The drain
 * thread says it is over with SIGRTMIN, which only it sends.
 *
 * Before anything else touches a SQLite database or what lies beside it
 * (the run directory that exec_init() sweeps, then the database itself),
 * jobd locks the database (storage/dblock.h) and holds the lock until it
 * exits: a second jobd on the same database stops there, having changed
 * nothing. A PostgreSQL database (--db postgresql://...) is shared by
 * design: nothing is locked here, and each daemon's run directory is its
 * own (--run-dir; ./jobd.runs by default).
 *
 * Before any thread starts, exec_init() starts the reaper of program kinds
 * (kinds/exec.h), which must be forked while jobd is one thread.
 *
 * jobd runs with umask 077: the database and its -wal and -shm files are
 * its owner's alone.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>

#include "daemon.h"
#include "dblock.h"
#include "duration.h"
#include "exec.h"
#include "jobd_status.h"
#include "jobq.h"
#include "log.h"
#include "schedfile.h"
#include "writer.h"

#define DEFAULT_LISTEN "tcp://127.0.0.1:7077"
#define DEFAULT_DB     "./jobd.db"
#define DEFAULT_LEASE  30000 /* ms */
#define MAX_LISTEN     16
#define MAX_PLUGINS    16

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: jobd [OPTIONS]\n"
	    "\n"
	    "jobd runs CPU-bound jobs on a pool of worker threads and keeps\n"
	    "them in SQLite, while answering quick queries at once.\n"
	    "\n"
	    "Options (environment variable, default):\n"
	    "  --listen URL        address to serve, tcp://, tls+tcp:// or\n"
	    "                      ipc://; may be repeated (JOBD_LISTEN,\n"
	    "                      comma-separated; " DEFAULT_LISTEN ")\n"
	    "  --http URL          serve the HTTP front too: the JSON API\n"
	    "                      (/v1/...), /healthz, /readyz, /metrics and\n"
	    "                      the status page (/); http://HOST:PORT, or\n"
	    "                      https:// with --tls-cert and --tls-key\n"
	    "                      (JOBD_HTTP; none)\n"
	    "  --db PATH|URL       SQLite database file (PATH or "
	    "sqlite:PATH),\n"
	    "                      created if missing; or a PostgreSQL\n"
	    "                      database that several jobd share,\n"
	    "                      postgresql://USER@HOST[:PORT]/DB\n"
	    "                      (JOBD_DB; " DEFAULT_DB ")\n"
	    "  --node NAME         with PostgreSQL: this jobd's name in the\n"
	    "                      cluster, the owner of its jobs' leases;\n"
	    "                      keep it across restarts so that a restart\n"
	    "                      takes its own jobs back at once "
	    "(JOBD_NODE;\n"
	    "                      HOST:PID)\n"
	    "  --lease DUR         with PostgreSQL: how long a job stays with\n"
	    "                      a jobd that stopped renewing it (a dead\n"
	    "                      one) before another runs it, 1s to 1h\n"
	    "                      (JOBD_LEASE; 30s)\n"
	    "  --workers N         worker threads; 0 = none: jobs are taken\n"
	    "                      and kept queued (JOBD_WORKERS; online\n"
	    "                      CPUs)\n"
	    "  --max-queue N       queued jobs before Submit is refused with\n"
	    "                      RESOURCE_EXHAUSTED, 0 = no limit\n"
	    "                      (JOBD_MAX_QUEUE; 100000)\n"
	    "  --retention DUR     purge finished jobs older than this, 0 =\n"
	    "                      keep (JOBD_RETENTION; 7d)\n"
	    "  --backoff DUR       delay before the first retry of a failed\n"
	    "                      job, doubled for each further one\n"
	    "                      (JOBD_BACKOFF; 1s)\n"
	    "  --grace DUR         on SIGINT/SIGTERM, how long running jobs\n"
	    "                      may go on before they are stopped and\n"
	    "                      re-queued (JOBD_GRACE; 10s)\n"
	    "  --max-recoveries N  a job found running at N starts, each\n"
	    "                      after jobd stopped uncleanly while it ran,\n"
	    "                      fails instead of running again; 0 = no\n"
	    "                      cap (JOBD_MAX_RECOVERIES; 3)\n"
	    "  --commit-hold DUR   the longest a change no call waits for\n"
	    "                      (a job's start, the end of a job nobody\n"
	    "                      waits for) waits to share the next commit\n"
	    "                      with one a call waits for; 0 = never, at\n"
	    "                      most 1s (JOBD_COMMIT_HOLD; 10ms)\n"
	    "  --max-connections N client connections open at once; more\n"
	    "                      are closed at once; kept below the\n"
	    "                      open-file limit (JOBD_MAX_CONNECTIONS;\n"
	    "                      0: half the open-file limit, at most\n"
	    "                      1024)\n"
	    "  --log-level LEVEL   error, warn, info or debug\n"
	    "                      (JOBD_LOG_LEVEL; info)\n"
	    "  --log-format FORMAT text, or json: one object per line with\n"
	    "                      time, level, message, and job and kind\n"
	    "                      where there is one (JOBD_LOG_FORMAT; text)\n"
	    "  --tls-cert FILE     PEM certificate (chain) of the tls+tcp://\n"
	    "                      addresses and of an https:// --http\n"
	    "                      (JOBD_TLS_CERT; none)\n"
	    "  --tls-key FILE      its PEM private key, unencrypted; must not\n"
	    "                      be readable by others (JOBD_TLS_KEY; none)\n"
	    "  --tls-ca FILE       require clients of tls+tcp:// (and "
	    "https://)\n"
	    "                      to present a certificate signed by this\n"
	    "                      PEM CA (JOBD_TLS_CA; none: no client\n"
	    "                      certificate asked for)\n"
	    "  --kinds-dir DIR     read job kinds from the *.kind files of "
	    "DIR,\n"
	    "                      and periodic jobs from its *.schedule\n"
	    "                      files, again on SIGHUP (JOBD_KINDS_DIR;\n"
	    "                      none: the built-in kinds only)\n"
	    "  --plugin FILE       load the C plugin FILE (a shared object);\n"
	    "                      may be repeated (JOBD_PLUGINS,\n"
	    "                      comma-separated; none)\n"
	    "  --run-dir DIR       where each program job gets its private\n"
	    "                      working directory; jobd's alone: what a\n"
	    "                      killed jobd left there is removed at start\n"
	    "                      (JOBD_RUN_DIR; the database's path with\n"
	    "                      .runs added; ./jobd.runs with PostgreSQL)\n"
	    "  --check-kinds       read the kinds and schedules, list them "
	    "and\n"
	    "                      exit: 0 if they are all right, 1 if not\n"
	    "  --auth-token-file FILE\n"
	    "                      require every request, Ping included, to\n"
	    "                      carry the token in FILE (one line; must\n"
	    "                      not be readable by others) as metadata\n"
	    "                      'authorization: Bearer TOKEN' (over HTTP,\n"
	    "                      the header 'Authorization: Bearer TOKEN',\n"
	    "                      on every path but /healthz, /readyz and\n"
	    "                      the status page's files)\n"
	    "                      (JOBD_AUTH_TOKEN_FILE; none)\n"
	    "  -h, --help          this text\n"
	    "  --version           the version\n"
	    "\n"
	    "DUR is a number with a unit: ms, s, m, h or d (a bare number is\n"
	    "seconds).\n"
	    "\n"
	    "Files jobd creates are its owner's alone (umask 077).\n"
	    "\n"
	    "Signals:\n"
	    "  SIGTERM, SIGINT, SIGQUIT  stop gracefully: no new requests,\n"
	    "                      running jobs get --grace, then are stopped\n"
	    "                      and queued again; exit 0\n"
	    "  the same again      during the grace period: running jobs are\n"
	    "                      stopped at once and queued again; exit 0\n"
	    "  SIGHUP              read the kinds and schedules again (a bad\n"
	    "                      file keeps the kinds and schedules in use)\n"
	    "  SIGUSR1             log one status line (workers, jobs per\n"
	    "                      state, counters)\n"
	    "  SIGUSR2             debug logging on, or back off\n"
	    "  SIGPIPE             ignored\n"
	    "SIGKILL, or a crash: the jobs that were running run again after\n"
	    "the next start.\n"
	    "\n"
	    "Exit status: 0 after a clean stop, 1 if jobd could not start\n"
	    "(a database, TLS, token or kind file it cannot use), 2 on a\n"
	    "usage error.\n");
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A duration (duration.h: "7d", "1h30m", "500ms") or a bare number of
 * seconds ("10") -> milliseconds. */
static int
parse_duration(const char *s, int64_t *ms)
{
	uint64_t v;

	if (*s != '\0' && s[strspn(s, "0123456789")] == '\0') {
		if (parse_u64(s, INT64_MAX / 1000, &v) != 0)
			return -1;
		*ms = (int64_t) v * 1000;
		return 0;
	}
	if (duration_parse(s, INT64_MAX, 0, &v) != DURATION_OK)
		return -1;
	*ms = (int64_t) v;
	return 0;
}

/* The option being set, for messages: "--workers" or "JOBD_WORKERS". */
static const char *opt_name;

static int
bad(const char *hint, const char *value)
{
	fprintf(stderr, "jobd: invalid %s '%s'%s%s\n", opt_name, value,
	        *hint ? ": " : "", hint);
	fprintf(stderr, "try 'jobd --help'\n");
	return 2;
}

struct opts {
	const char *listen[MAX_LISTEN];
	size_t nlisten;
	char *listen_env; /* JOBD_LISTEN, split in place */
	const char *plugins[MAX_PLUGINS];
	size_t nplugins;
	char *plugins_env; /* JOBD_PLUGINS, split in place */
	const char *run_dir;
	bool check_kinds;
	struct daemon_config cfg;
	int level;
	int format; /* enum log_format */
};

/* A node name: 1 to 64 of [A-Za-z0-9._:-] (it names leases and shows in
 * logs and the database). */
static bool
node_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 64)
		return false;
	for (; *v; v++)
		if (!(isalnum((unsigned char) *v) || strchr("._:-", *v)))
			return false;
	return true;
}

/* A file is read by daemon_start(), which names it when it cannot. */
static int
set_file(const char **dst, const char *v)
{
	if (*v == '\0')
		return bad("a file name", v);
	*dst = v;
	return 0;
}

static int
set_opt(struct opts *o, int opt, const char *v)
{
	uint64_t n;
	int64_t ms;

	switch (opt) {
	case 'l':
		if (o->nlisten == MAX_LISTEN)
			return bad("at most 16 addresses", v);
		o->listen[o->nlisten++] = v;
		return 0;
	case 'd':
		if (*v == '\0')
			return bad("", v);
		if (jobq_file(v) == NULL &&
		    strncmp(v, "postgresql://", 13) != 0 &&
		    strncmp(v, "postgres://", 11) != 0)
			return bad("a file path, sqlite:PATH or "
			           "postgresql://USER@HOST/DB",
			           v);
		o->cfg.db = v;
		return 0;
	case 'n':
		if (!node_ok(v))
			return bad("1 to 64 letters, digits and . _ : -", v);
		o->cfg.node = v;
		return 0;
	case 'e':
		if (parse_duration(v, &ms) != 0 || ms < 1000 || ms > 3600000)
			return bad("a duration from 1s to 1h", v);
		o->cfg.lease_ms = (uint32_t) ms;
		return 0;
	case 'W':
		/* the host and port are checked by http_start() */
		if (strncmp(v, "http://", 7) != 0 &&
		    strncmp(v, "https://", 8) != 0)
			return bad("an http:// or https:// address", v);
		o->cfg.http_url = v;
		return 0;
	case 'w':
		if (parse_u64(v, 1024, &n) != 0)
			return bad("a number from 0 to 1024", v);
		o->cfg.workers = (uint32_t) n;
		return 0;
	case 'q':
		if (parse_u64(v, UINT64_MAX, &n) != 0)
			return bad("a number, 0 for no limit", v);
		o->cfg.max_queue = n;
		return 0;
	case 'r':
		if (parse_duration(v, &ms) != 0)
			return bad("a duration like 7d", v);
		o->cfg.retention_ms = ms;
		return 0;
	case 'b':
		if (parse_duration(v, &ms) != 0 || ms > 3600000)
			return bad("a duration up to 1h", v);
		o->cfg.backoff_ms = (uint32_t) ms;
		return 0;
	case 'g':
		if (parse_duration(v, &ms) != 0 || ms > 3600000)
			return bad("a duration up to 1h", v);
		o->cfg.grace_ms = (uint32_t) ms;
		return 0;
	case 'M':
		if (parse_u64(v, UINT32_MAX, &n) != 0)
			return bad("a number, 0 for no cap", v);
		o->cfg.max_recoveries = (uint32_t) n;
		return 0;
	case 'H':
		if (parse_duration(v, &ms) != 0 || ms > 1000)
			return bad("a duration up to 1s", v);
		o->cfg.commit_hold_ms = (uint32_t) ms;
		return 0;
	case 'N':
		if (parse_u64(v, 1000000, &n) != 0)
			return bad("a number from 0 to 1000000", v);
		o->cfg.max_connections = (uint32_t) n;
		return 0;
	case 'L':
		if ((o->level = log_parse_level(v)) < 0)
			return bad("error, warn, info or debug", v);
		return 0;
	case 'F':
		if ((o->format = log_parse_format(v)) < 0)
			return bad("text or json", v);
		return 0;
	case 'C':
		return set_file(&o->cfg.tls_cert, v);
	case 'K':
		return set_file(&o->cfg.tls_key, v);
	case 'A':
		return set_file(&o->cfg.tls_ca, v);
	case 'T':
		return set_file(&o->cfg.auth_token_file, v);
	case 'k':
		return set_file(&o->cfg.kinds.dir, v);
	case 'p':
		if (o->nplugins == MAX_PLUGINS)
			return bad("at most 16 plugins", v);
		if (*v == '\0')
			return bad("a file name", v);
		o->plugins[o->nplugins++] = v;
		return 0;
	case 'R':
		return set_file(&o->run_dir, v);
	}
	return 2;
}

static const struct option longopts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"db", required_argument, NULL, 'd'},
    {"node", required_argument, NULL, 'n'},
    {"lease", required_argument, NULL, 'e'},
    {"http", required_argument, NULL, 'W'},
    {"workers", required_argument, NULL, 'w'},
    {"max-queue", required_argument, NULL, 'q'},
    {"retention", required_argument, NULL, 'r'},
    {"backoff", required_argument, NULL, 'b'},
    {"grace", required_argument, NULL, 'g'},
    {"max-recoveries", required_argument, NULL, 'M'},
    {"commit-hold", required_argument, NULL, 'H'},
    {"max-connections", required_argument, NULL, 'N'},
    {"log-level", required_argument, NULL, 'L'},
    {"log-format", required_argument, NULL, 'F'},
    {"tls-cert", required_argument, NULL, 'C'},
    {"tls-key", required_argument, NULL, 'K'},
    {"tls-ca", required_argument, NULL, 'A'},
    {"auth-token-file", required_argument, NULL, 'T'},
    {"kinds-dir", required_argument, NULL, 'k'},
    {"plugin", required_argument, NULL, 'p'},
    {"run-dir", required_argument, NULL, 'R'},
    {"check-kinds", no_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static const struct {
	const char *env;
	int opt;
} envs[] = {
    {"JOBD_DB", 'd'},          {"JOBD_HTTP", 'W'},
    {"JOBD_NODE", 'n'},        {"JOBD_LEASE", 'e'},
    {"JOBD_WORKERS", 'w'},     {"JOBD_MAX_QUEUE", 'q'},
    {"JOBD_RETENTION", 'r'},   {"JOBD_BACKOFF", 'b'},
    {"JOBD_GRACE", 'g'},       {"JOBD_MAX_RECOVERIES", 'M'},
    {"JOBD_COMMIT_HOLD", 'H'}, {"JOBD_MAX_CONNECTIONS", 'N'},
    {"JOBD_LOG_LEVEL", 'L'},   {"JOBD_LOG_FORMAT", 'F'},
    {"JOBD_TLS_CERT", 'C'},    {"JOBD_TLS_KEY", 'K'},
    {"JOBD_TLS_CA", 'A'},      {"JOBD_AUTH_TOKEN_FILE", 'T'},
    {"JOBD_KINDS_DIR", 'k'},   {"JOBD_RUN_DIR", 'R'},
};

/* Splits the comma-separated list in environment variable `env` (a copy
 * in *keep) and sets option opt with each item. */
static int
set_list(struct opts *o, const char *env, int opt, char **keep)
{
	const char *v = getenv(env);
	char *save = NULL;
	int rv;

	if (v == NULL || *v == '\0')
		return 0;
	if ((*keep = strdup(v)) == NULL)
		return 1;
	opt_name = env;
	for (char *t = strtok_r(*keep, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save))
		if ((rv = set_opt(o, opt, t)) != 0)
			return rv;
	return 0;
}

static int
parse(struct opts *o, int argc, char **argv)
{
	const char *v;
	int opt, rv;

	o->cfg.db = DEFAULT_DB;
	o->cfg.lease_ms = DEFAULT_LEASE;
	/* a testing aid, not an option: the service's deferred reads run on
	 * SQLite too (jobq.h: jobq_config.defer_reads) */
	v = getenv("JOBD_DEFER_READS");
	o->cfg.defer_reads = v != NULL && strcmp(v, "1") == 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	o->cfg.workers = ncpu > 0 ? (uint32_t) ncpu : 1;
	o->cfg.max_queue = 100000;
	o->cfg.retention_ms = 7LL * 86400000;
	o->cfg.backoff_ms = 1000;
	o->cfg.grace_ms = 10000;
	o->cfg.max_recoveries = 3;
	o->cfg.commit_hold_ms = WRITER_HOLD_MS;
	o->level = LOG_INFO;

	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		opt_name = envs[i].env;
		if ((v = getenv(envs[i].env)) != NULL &&
		    (rv = set_opt(o, envs[i].opt, v)) != 0)
			return rv;
	}
	char flag[32];
	int idx = 0;
	while ((opt = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("jobd %s\n", JOBD_VERSION);
			exit(0);
		case 'c':
			o->check_kinds = true;
			break;
		case '?':
			fprintf(stderr, "try 'jobd --help'\n");
			return 2;
		default:
			snprintf(flag, sizeof(flag), "--%s",
			         longopts[idx].name);
			opt_name = flag;
			if ((rv = set_opt(o, opt, optarg)) != 0)
				return rv;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "jobd: unexpected argument '%s'\n",
		        argv[optind]);
		fprintf(stderr, "try 'jobd --help'\n");
		return 2;
	}
	if (o->nlisten == 0 &&
	    (rv = set_list(o, "JOBD_LISTEN", 'l', &o->listen_env)) != 0)
		return rv;
	if (o->nplugins == 0 &&
	    (rv = set_list(o, "JOBD_PLUGINS", 'p', &o->plugins_env)) != 0)
		return rv;
	o->cfg.kinds.plugins = o->plugins;
	o->cfg.kinds.nplugins = o->nplugins;
	if (o->nlisten == 0)
		o->listen[o->nlisten++] = DEFAULT_LISTEN;
	o->cfg.listen = o->listen;
	o->cfg.nlisten = o->nlisten;
	return 0;
}

/* --check-kinds: reads the kinds and the schedules and lists them on
 * stdout. 0 if they are all right, 1 with the problems on stderr if not. */
static int
check_kinds(const struct kinds_config *kc)
{
	char err[4096];
	struct schedset *set;
	kindset *ks;
	size_t n;

	if (kindset_load(&ks, kc, err, sizeof(err)) != JOBD_OK) {
		fprintf(stderr, "jobd: the kinds are not right:\n%s\n", err);
		return 1;
	}
	if (schedfile_load_dir(&set, kc->dir, ks, err, sizeof(err)) !=
	    JOBD_OK) {
		fprintf(stderr, "jobd: the schedules are not right:\n%s\n",
		        err);
		kindset_unref(ks);
		return 1;
	}
	const struct kind_def *d = kindset_all(ks, &n);
	for (size_t i = 0; i < n; i++) {
		const struct jobd_kind *k = d[i].k;
		printf("%-16s %-9s %s\n", k->name,
		       kind_origin_name(d[i].origin),
		       d[i].source ? d[i].source : "-");
		printf("%-16s %s\n", "", k->desc ? k->desc : "");
		for (size_t j = 0; j < k->nparams; j++)
			printf("%-16s   %s%s\n", "", k->params[j].name,
			       k->params[j].required ? " (required)" : "");
	}
	printf("%zu kinds, all right\n", n);
	for (size_t i = 0; i < set->n; i++) {
		const struct schedule *sc = &set->v[i];
		printf("%-16s schedule  %s\n", sc->name, sc->source);
		printf("%-16s %s%s%s, kind %s, catch_up %s\n", "", sc->spec,
		       sc->time_zone[0] ? " " : "", sc->time_zone, sc->kind,
		       catch_up_name(sc->catch_up));
	}
	if (set->n > 0)
		printf("%zu schedules, all right\n", set->n);
	schedset_free(set);
	kindset_unref(ks);
	return 0;
}

static void
opts_free(struct opts *o)
{
	free(o->listen_env);
	free(o->plugins_env);
}

/* The signals main() takes; SIGRTMIN is the drain thread's "over". */
static void
signal_set(sigset_t *set)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGQUIT,
	                           SIGHUP, SIGUSR1, SIGUSR2};
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(set, sigs[i]);
	sigaddset(set, SIGRTMIN);
}

/* The graceful stop's first half, on a thread of its own. */
struct drainer {
	jobd_daemon *d;
	pthread_t main;
	atomic_bool done;
};

static void *
drain_main(void *arg)
{
	struct drainer *dr = arg;
	pthread_setname_np(pthread_self(), "jobd:drain"); /* top -H */

	daemon_drain(dr->d);
	atomic_store(&dr->done, true);
	pthread_kill(dr->main, SIGRTMIN);
	return NULL;
}

/* SIGUSR2: debug logging on; again: back to `level` (info if that was
 * debug). */
static void
toggle_debug(int level)
{
	if (!log_enabled(LOG_DEBUG)) {
		log_set_level(LOG_DEBUG);
		log_info("received SIGUSR2: debug logging on (SIGUSR2 again "
		         "turns it off)");
		return;
	}
	log_info("received SIGUSR2: debug logging off");
	log_set_level(level == LOG_DEBUG ? LOG_INFO : level);
}

/* Takes signals until the graceful stop's first half is over (or, if no
 * thread can be started for it, has run here). */
static void
take_signals(jobd_daemon *d, const sigset_t *set, int level)
{
	struct drainer dr = {.d = d, .main = pthread_self()};
	bool stopping = false, hurried = false;
	char err[4096];
	pthread_t t;
	int sig;

	atomic_init(&dr.done, false);
	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		const char *name = sigabbrev_np(sig) ? sigabbrev_np(sig) : "?";
		if (sig == SIGHUP && stopping) {
			log_info(
			    "received SIGHUP while stopping: the kinds are "
			    "not read again");
		} else if (sig == SIGHUP) {
			log_info("received SIGHUP: reading the kinds again");
			if (daemon_reload(d, err, sizeof(err)) != JOBD_OK)
				log_error(
				    "the kinds and schedules in use stay: %s",
				    err);
		} else if (sig == SIGUSR1) {
			daemon_status(d);
		} else if (sig == SIGUSR2) {
			toggle_debug(level);
		} else if (sig == SIGRTMIN) {
			if (stopping && atomic_load(&dr.done)) {
				pthread_join(t, NULL);
				return;
			}
		} else if (!stopping) {
			log_info("received SIG%s: stopping gracefully (SIG%s "
			         "again stops running jobs at once)",
			         name, name);
			stopping = true;
			if (pthread_create(&t, NULL, drain_main, &dr) != 0) {
				log_warn("no thread for the stop: a second "
				         "signal cannot shorten it");
				daemon_drain(d);
				return;
			}
		} else if (!hurried) {
			log_info("received SIG%s again: running jobs are "
			         "stopped now and queued again",
			         name);
			hurried = true;
			daemon_hurry(d);
		}
	}
}

/*
 * nng_fini() at exit frees nng's threads and caches, for leak checkers; a
 * process's exit frees them all the same. It is unsafe once a tls+tcp://
 * listener has run: nng 1.5.2's TLS layer ends the listener's pending
 * accept on one of nng's task threads, which hands the connection to nng's
 * reaper only after nng_close() has returned (tls_conn_cb() in
 * supplemental/tls/tls_common.c), so nng_fini() may tear down the locks
 * that the reaper is about to take: "panic: pthread_mutex_lock: Invalid
 * argument", or a SIGSEGV (docs/architecture.md, the nng 1.5.2 table).
 * With TLS, nng is left to the exit.
 */
static void
nng_fini_unless_tls(bool tls)
{
	if (!tls)
		nng_fini();
}

int
main(int argc, char **argv)
{
	struct opts o;
	jobd_daemon *d;
	dblock *lock;
	sigset_t set;
	char err[4096];
	bool tls;
	int rv;

	memset(&o, 0, sizeof(o));
	if ((rv = parse(&o, argc, argv)) != 0) {
		opts_free(&o);
		return rv;
	}
	log_set_level(o.level);
	log_set_format(o.format);
	if (o.check_kinds) {
		rv = check_kinds(&o.cfg.kinds);
		opts_free(&o);
		return rv;
	}
	/* the database, its journal files and anything else jobd creates are
	 * for its owner only, whatever umask it was started with */
	umask(077);

	/* blocked before any thread starts, so every thread inherits it */
	signal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* before anything is changed, beside the database or in it */
	const char *file = jobq_file(o.cfg.db);
	lock = NULL;
	if (file != NULL &&
	    dblock_take(&lock, file, err, sizeof(err)) != JOBD_OK) {
		log_error("cannot start: %s", err);
		opts_free(&o);
		return 1;
	}
	/* forks the reaper: while jobd is one thread */
	char runs[4096];
	if (o.run_dir == NULL) {
		if (file != NULL)
			snprintf(runs, sizeof(runs), "%s.runs", file);
		else
			snprintf(runs, sizeof(runs), "./jobd.runs");
		o.run_dir = runs;
	}
	if (exec_init(o.run_dir, err, sizeof(err)) != JOBD_OK) {
		log_error("cannot start: %s", err);
		dblock_discard(lock);
		opts_free(&o);
		return 1;
	}
	tls = o.cfg.tls_cert != NULL; /* the only way to a TLS listener */
	if (daemon_start(&d, &o.cfg, err, sizeof(err)) != 0) {
		log_error("cannot start: %s", err);
		exec_fini();
		dblock_discard(lock); /* no database left behind if unused */
		opts_free(&o);
		nng_fini_unless_tls(tls); /* a TLS listener may have started */
		return 1;
	}
	take_signals(d, &set, o.level);
	rv = daemon_stop(d);
	opts_free(&o);
	/* nng stuck in a close (server.c): the stop is complete all the same,
	 * but nng_fini() would hang too, and a leak checker at exit would
	 * count what nng still holds; so out at once */
	if (rv != JOBD_OK)
		_exit(0); /* the lock goes with the process */
	exec_fini();
	dblock_release(lock); /* every connection to the database is closed */
	nng_fini_unless_tls(tls);
	return 0;
}

/*
 * test_stress: crash safety under load, against the real jobd.
 *
 * CLIENTS threads submit small jobs as fast as a short random pause lets
 * them, each Submit with an idempotency key of its own ("s<client>-<seq>"):
 * `count n=1000`, `sleep ms=20..200` (so that jobs are running when the
 * daemon dies), `psleep ms=20..200` (the same as a program kind: a shell
 * script, so that programs are running when the daemon dies, and must not
 * outlive it), `fail` (designed to fail), a third of them with
 * max_attempts > 1; and `count n=1000` delayed by 20 ms to 1.5 s (scheduled
 * across the kills) or after the client's latest acknowledged job that is
 * designed to succeed (a dependency, settled across the kills). The main
 * thread pauses or resumes `sleep` in some rounds, and checks after each
 * restart that the pause it was answered for held. A thread records every
 * acknowledged Submit (key -> id); a Submit that failed or timed out because
 * the daemon died is sent again with the SAME key until it is acknowledged (the
 * daemon may then answer with the job it committed before it died: existing).
 *
 * Meanwhile the main thread runs JOBD_STRESS_ROUNDS rounds (default 100):
 * it lets the daemon serve for a random time (sometimes only a few
 * milliseconds, right after its recovery), then stops it one of three ways,
 * chosen at random: SIGKILL (during submits, group commits, running jobs);
 * SIGTERM then SIGKILL a random 0..25 ms later (during the graceful stop);
 * or SIGTERM alone (a clean stop, which must exit 0). Then it starts it
 * again on the same database. JOBD_STRESS_SEED replays the random choices
 * (timing on a shared machine does not replay).
 *
 * Checks, and when each is made:
 *
 *  - daemon down (after it died or stopped, before the restart), on the
 *    SQLite file through a read-only connection: PRAGMA integrity_check is
 *    "ok"; every Submit acknowledged so far has exactly one row under its
 *    key, with the acknowledged id (none missing: lost; more than one, or a
 *    row whose key no client sent: duplicate); after a clean stop no row is
 *    `running`. The rows left `running` are counted and remembered.
 *  - after the restart, once it answers: Stats.recovered equals the rows
 *    that were `running`, and those `queued` that a worker's mark in
 *    DB.running names (its start not yet written); Stats.running and
 * busy_workers are at most the workers, and so is List(state=running), which
 * would also show a row left `running` that no worker runs; each job that was
 * `running` is now queued, running on a worker, or ended.
 *  - at the end: no more kills, the clients get their last Submit
 *    acknowledged, and every acknowledged job must reach its terminal state
 *    (succeeded; failed for `fail`) within FINAL_MS, seen through Get; then
 *    a clean stop, and the file once more: all of the above, no row that is
 *    not terminal, no row nobody acknowledged.
 *
 * Every client keeps its one jobd_client for the whole run: nng 1.5.2's
 * dialer now and then gives up after the daemon died (nanomsg/nng#1518),
 * and the library then re-creates it by itself (client/jobd_client.c).
 * The summary counts the calls that got no answer and the dialers the
 * library re-created; the main thread's Stats right after a restart is
 * asked up to STATS_TRIES times, since a dialer that gave up is replaced
 * only CLIENT_REDIAL_MS after its connection went.
 *
 * A job runs again after a crash (at least once): re-runs are counted from
 * the attempts on disk, beyond what the job's retries explain (1 for a job
 * that succeeds; max_attempts for `fail`). A crash before the move to
 * `running` reached the disk leaves no trace there, so this undercounts.
 */
#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "client_int.h" /* jc_redials() */
#include "harness.h"
#include "test.h"

/*
 * Under AddressSanitizer, no leak check of this test's own process: its
 * clients' requests are cut off by the daemon's deaths on purpose, and
 * nng 1.5.2 then sometimes keeps a request message it was handed (seen
 * once in 20 rounds: the 112-byte nng_msg of a Submit, allocated in
 * jobd_client.c's make_request, never freed inside libnng; nng 1.6.0 fixed
 * socket close leaking queued messages, nanomsg/nng#1643, and Debian 12
 * has 1.5.2). The daemons this test starts are still checked: their logs,
 * by jd_fini(), with their own sanitizer options. A weak symbol, so that
 * builds without ASan ignore it.
 */
const char *__asan_default_options(void) __attribute__((weak));
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}

#define CLIENTS     4
#define WORKERS     4
#define CALL_MS     2000   /* per call: a dead daemon costs this much */
#define JOIN_MS     60000  /* clients' last Submits acknowledged within */
#define FINAL_MS    180000 /* every job ended within this after the rounds */
#define CHECK_EVERY 20000  /* us between checks of the final state */
#define MAX_RUNNING 1000   /* running rows remembered per round */
#define GET_BATCH   1000
/* Stats after a restart: CALL_MS each, past CLIENT_REDIAL_MS and a tick */
#define STATS_TRIES 3

/* Every start picks one: no backoff (a retry is taken again at once,
 * often by another worker), or a short one (it waits in the timer's heap).
 * No cap on recoveries (--max-recoveries 0): a job that runs 200 ms may be
 * running at several of the kills in a row, and the default cap (3) would
 * then fail it on purpose, which this test would count as an acknowledged
 * job that did not succeed; every job found running must come back queued
 * here (check_recovered). The cap has its own test (test_damage.sh).
 * The last two words are "--kinds-dir" and the test's kinds directory. */
static const char *jobd_args[2][13] = {
    {"--workers", "4", "--backoff", "0ms", "--grace", "100ms", "--retention",
     "0", "--max-recoveries", "0", "--kinds-dir", NULL, NULL},
    {"--workers", "4", "--backoff", "30ms", "--grace", "100ms", "--retention",
     "0", "--max-recoveries", "0", "--kinds-dir", NULL, NULL},
};

enum spec { SP_COUNT, SP_SLEEP, SP_FAIL, SP_PROG, SP_LATER, SP_AFTER };
static const char *const spec_kind[] = {"count",  "sleep", "fail",
                                        "psleep", "count", "count"};

/* One job a client submits. */
struct sub {
	uint64_t id; /* the acknowledged id; 0 until then */
	uint8_t spec;
	uint8_t max_attempts;
	uint16_t ms;   /* SP_SLEEP, SP_PROG */
	uint8_t ended; /* the end a Wait reported (a JobState); 0 = none */
	bool abandoned;
	uint64_t after; /* SP_AFTER: the job it runs after */
};

struct client {
	int idx;
	pthread_t thread;
	uint64_t rng;
	jobd_client *c;
	atomic_int done;
	/* under g.mtx */
	struct sub *subs; /* by sequence number */
	size_t n, cap;
	uint64_t calls, resent, existing, unexpected, waited;
	uint64_t silent; /* calls that got no answer */
	char err[240];   /* the first unexpected answer */
	char last[240];  /* the last Submit sent again, and why */
};

static struct {
	pthread_mutex_t mtx;
	atomic_int stop; /* 1: finish the current Submit; 2: give up */
	const char *url;
	uint64_t main_silent; /* main thread only: Stats without an answer */
	struct client cl[CLIENTS];
} g = {.mtx = PTHREAD_MUTEX_INITIALIZER};

/* splitmix64 */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t
rnd_below(uint64_t *s, uint32_t n)
{
	return (uint32_t) (rnd(s) % n);
}

static uint64_t
env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	char *end;
	if (v == NULL || *v == '\0')
		return def;
	unsigned long long n = strtoull(v, &end, 10);
	if (*end != '\0') {
		fprintf(stderr, "stress: %s='%s' is not a number; using %llu\n",
		        name, v, (unsigned long long) def);
		return def;
	}
	return n;
}

/* ---- clients --------------------------------------------------------- */

static bool
job_ended(Jobd__V1__JobState st)
{
	return st == JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED ||
	       st == JOBD__V1__JOB_STATE__JOB_STATE_FAILED ||
	       st == JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED;
}

static struct sub
new_sub(uint64_t *rng)
{
	struct sub s = {0};
	uint32_t r = rnd_below(rng, 100);
	s.spec = r < 49   ? SP_COUNT
	         : r < 61 ? SP_SLEEP
	         : r < 73 ? SP_PROG
	         : r < 84 ? SP_FAIL
	         : r < 92 ? SP_LATER
	                  : SP_AFTER;
	s.max_attempts = rnd_below(rng, 3) == 0 ? 2 + rnd_below(rng, 2) : 1;
	s.ms = (uint16_t) (20 + rnd_below(rng, 181));
	return s;
}

/* Counts a call that got no answer (DEADLINE_EXCEEDED: jobd never answers
 * a Submit so). Under g.mtx. */
static void
count_answer(struct client *cl, int rv)
{
	if (rv == JOBD_DEADLINE_EXCEEDED)
		cl->silent++;
}

static int
submit_one(jobd_client *c, const struct sub *s, const char *key,
           Jobd__V1__SubmitReply **rep)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry ent, *ents[1] = {&ent};
	char val[32];

	jobd__v1__submit_request__params_entry__init(&ent);
	switch (s->spec) {
	case SP_COUNT:
	case SP_LATER:
	case SP_AFTER:
		ent.key = "n";
		snprintf(val, sizeof(val), "1000");
		break;
	case SP_SLEEP:
	case SP_PROG:
		ent.key = "ms";
		snprintf(val, sizeof(val), "%u", (unsigned) s->ms);
		break;
	default:
		ent.key = "message";
		snprintf(val, sizeof(val), "by design");
		break;
	}
	ent.value = val;
	if (s->spec == SP_LATER)
		req.delay_ms = 20 + s->ms * 7u; /* 160 ms to 1.4 s */
	if (s->spec == SP_AFTER) {
		req.after = (uint64_t *) &s->after;
		req.n_after = 1;
	}
	req.kind = (char *) spec_kind[s->spec];
	req.n_params = 1;
	req.params = ents;
	req.max_attempts = s->max_attempts;
	req.idempotency_key = (char *) key;
	return jobd_submit(c, &req, rep);
}

/* Sends the Submit of cl->subs[seq] until it is acknowledged, and returns
 * the job's id; gives up (0) only on an error the daemon must not give, or
 * when told to. */
static uint64_t
submit_until_acked(struct client *cl, size_t seq, const struct sub *s)
{
	char key[48];

	snprintf(key, sizeof(key), "s%d-%zu", cl->idx, seq);
	for (;;) {
		Jobd__V1__SubmitReply *rep = NULL;
		int rv = submit_one(cl->c, s, key, &rep);
		bool give_up = false;

		pthread_mutex_lock(&g.mtx);
		cl->calls++;
		count_answer(cl, rv);
		if (rv == JOBD_OK) {
			const Jobd__V1__Job *j = rep->job;
			if (j == NULL || j->id == 0 ||
			    strcmp(j->idempotency_key, key) != 0 ||
			    strcmp(j->kind, spec_kind[s->spec]) != 0) {
				cl->unexpected++;
				snprintf(
				    cl->err, sizeof(cl->err),
				    "submit '%s' answered with another job "
				    "(%llu '%s' key '%s')",
				    key, (unsigned long long) (j ? j->id : 0),
				    j ? j->kind : "",
				    j ? j->idempotency_key : "");
				cl->subs[seq].abandoned = true;
			} else {
				cl->subs[seq].id = j->id;
				cl->existing += rep->existing;
			}
			uint64_t id = cl->subs[seq].id;
			pthread_mutex_unlock(&g.mtx);
			jobd__v1__submit_reply__free_unpacked(rep, NULL);
			return id;
		}
		if (rv == JOBD_UNAVAILABLE || rv == JOBD_DEADLINE_EXCEEDED ||
		    rv == JOBD_ABORTED) {
			/* the daemon died or is stopping: the same key again */
			cl->resent++;
			snprintf(cl->last, sizeof(cl->last),
			         "submit '%s' failed: %s: %s", key,
			         jobd_status_name(rv), jobd_client_errmsg());
			give_up = atomic_load(&g.stop) == 2;
		} else {
			cl->unexpected++;
			snprintf(cl->err, sizeof(cl->err),
			         "submit '%s' failed: %s: %s", key,
			         jobd_status_name(rv), jobd_client_errmsg());
			give_up = true;
		}
		if (give_up)
			cl->subs[seq].abandoned = true;
		pthread_mutex_unlock(&g.mtx);
		if (give_up)
			return 0;
		usleep(20000);
	}
}

/* Waits for job id (cl->subs[seq]) to end and records the end reported:
 * it is on disk, whatever happens to the daemon after. A Wait cut short by
 * the daemon's death is not sent again. */
static void
wait_for_end(struct client *cl, size_t seq, uint64_t id)
{
	Jobd__V1__WaitReply *rep = NULL;
	int rv = jobd_wait(cl->c, id, CALL_MS, &rep);

	pthread_mutex_lock(&g.mtx);
	/* DEADLINE_EXCEEDED may be the daemon's answer here: the job did
	 * not end in time */
	if (rv != JOBD_DEADLINE_EXCEEDED)
		count_answer(cl, rv);
	if (rv == JOBD_OK && rep->job != NULL && rep->job->id == id &&
	    job_ended(rep->job->state)) {
		cl->subs[seq].ended = (uint8_t) rep->job->state;
		cl->waited++;
	} else if (rv == JOBD_OK) {
		cl->unexpected++;
		snprintf(cl->err, sizeof(cl->err),
		         "wait for job %llu answered before its end",
		         (unsigned long long) id);
	} else if (rv != JOBD_DEADLINE_EXCEEDED && rv != JOBD_UNAVAILABLE) {
		cl->unexpected++;
		snprintf(cl->err, sizeof(cl->err),
		         "wait for job %llu failed: %s: %s",
		         (unsigned long long) id, jobd_status_name(rv),
		         jobd_client_errmsg());
	}
	pthread_mutex_unlock(&g.mtx);
	if (rep != NULL)
		jobd__v1__wait_reply__free_unpacked(rep, NULL);
}

static void *
client_main(void *arg)
{
	struct client *cl = arg;

	while (atomic_load(&g.stop) == 0) {
		struct sub s = new_sub(&cl->rng);
		size_t seq;

		pthread_mutex_lock(&g.mtx);
		if (cl->n == cl->cap) {
			size_t nc = cl->cap ? cl->cap * 2 : 1024;
			struct sub *v = realloc(cl->subs, nc * sizeof(*v));
			if (v == NULL) {
				pthread_mutex_unlock(&g.mtx);
				break;
			}
			cl->subs = v;
			cl->cap = nc;
		}
		seq = cl->n++;
		if (s.spec == SP_AFTER) {
			/* after the latest acknowledged job that succeeds */
			for (size_t q = seq; q-- > 0 && s.after == 0;)
				if (cl->subs[q].id != 0 &&
				    cl->subs[q].spec != SP_FAIL)
					s.after = cl->subs[q].id;
			if (s.after == 0)
				s.spec = SP_COUNT;
		}
		cl->subs[seq] = s;
		pthread_mutex_unlock(&g.mtx);

		uint64_t id = submit_until_acked(cl, seq, &s);
		if (id != 0 && rnd_below(&cl->rng, 4) == 0)
			wait_for_end(cl, seq, id);
		usleep(rnd_below(&cl->rng, 40000));
	}
	atomic_store(&cl->done, 1);
	return NULL;
}

/* ---- the database, read directly --------------------------------------- */

struct scan {
	bool integrity_ok;
	char integrity[200];
	uint64_t rows;
	uint64_t lost;       /* acknowledged keys without their row */
	uint64_t ends_lost;  /* ends reported by Wait, not on disk */
	uint64_t duplicates; /* extra rows for a key, rows nobody sent */
	uint64_t unacked;    /* rows of Submits not (yet) acknowledged */
	uint64_t not_ended;  /* rows queued or running */
	uint64_t wrong_end;  /* ended otherwise than designed */
	uint64_t reruns;     /* attempts beyond what retries explain */
	uint64_t rerun_jobs;
	uint64_t running[MAX_RUNNING]; /* ids of the rows left running */
	int64_t running_attempts[MAX_RUNNING];
	size_t nrunning;
	uint64_t all_running; /* also those not remembered */
	/* the workers' marks (DB.running) of jobs the database has queued:
	 * recovery counts them too (daemon/runmark.h) */
	uint64_t marks[64];
	size_t nmarks;
	uint64_t marked_queued;
	char first[300]; /* the first problem found */
};

static void scan_note(struct scan *sc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
scan_note(struct scan *sc, const char *fmt, ...)
{
	va_list ap;
	if (sc->first[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(sc->first, sizeof(sc->first), fmt, ap);
	va_end(ap);
}

/* The clients' Submits as they are now. */
struct snap {
	struct sub *subs[CLIENTS];
	size_t n[CLIENTS];
	uint32_t *seen[CLIENTS]; /* rows per key, filled by the scan */
};

static int
snap_take(struct snap *sn)
{
	int rv = 0;
	memset(sn, 0, sizeof(*sn));
	pthread_mutex_lock(&g.mtx);
	for (int i = 0; i < CLIENTS; i++) {
		struct client *cl = &g.cl[i];
		size_t n = cl->n;
		sn->subs[i] = malloc((n + 1) * sizeof(struct sub));
		sn->seen[i] = calloc(n + 1, sizeof(uint32_t));
		if (sn->subs[i] == NULL || sn->seen[i] == NULL) {
			rv = -1;
			continue;
		}
		if (n > 0)
			memcpy(sn->subs[i], cl->subs, n * sizeof(struct sub));
		sn->n[i] = n;
	}
	pthread_mutex_unlock(&g.mtx);
	return rv;
}

static void
snap_free(struct snap *sn)
{
	for (int i = 0; i < CLIENTS; i++) {
		free(sn->subs[i]);
		free(sn->seen[i]);
	}
}

static bool
parse_key(const char *key, int *client, size_t *seq)
{
	int n = 0;
	unsigned long long s;
	if (key == NULL || sscanf(key, "s%d-%llu%n", client, &s, &n) != 2 ||
	    key[n] != '\0' || *client < 0 || *client >= CLIENTS)
		return false;
	*seq = (size_t) s;
	return true;
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t != NULL ? (const char *) t : NULL;
}

static int
job_state_of(const char *name)
{
	static const char *const names[] = {"",          "queued", "running",
	                                    "succeeded", "failed", "cancelled"};
	for (int i = 1; i < 6; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return 0;
}

/* Checks one row against what its client sent. */
static void
scan_row(struct scan *sc, struct snap *sn, sqlite3_stmt *st, bool final)
{
	uint64_t id = (uint64_t) sqlite3_column_int64(st, 0);
	const char *key = col_text(st, 1);
	const char *kind = col_text(st, 2);
	const char *state = col_text(st, 3);
	int64_t attempts = sqlite3_column_int64(st, 4);
	int64_t max_attempts = sqlite3_column_int64(st, 5);
	int client;
	size_t seq;

	sc->rows++;
	state = state != NULL ? state : "";
	if (strcmp(state, "running") == 0) {
		if (sc->nrunning < MAX_RUNNING) {
			sc->running_attempts[sc->nrunning] = attempts;
			sc->running[sc->nrunning++] = id;
		}
		sc->all_running++;
	}
	if (strcmp(state, "queued") == 0)
		for (size_t i = 0; i < sc->nmarks; i++)
			if (sc->marks[i] == id)
				sc->marked_queued++;
	bool ended = strcmp(state, "succeeded") == 0 ||
	             strcmp(state, "failed") == 0 ||
	             strcmp(state, "cancelled") == 0;
	if (!ended) {
		sc->not_ended++;
		if (final)
			scan_note(sc, "job %llu (key '%s') is still %s",
			          (unsigned long long) id, key ? key : "",
			          state);
	}
	if (!parse_key(key, &client, &seq) || seq >= sn->n[client]) {
		sc->duplicates++;
		scan_note(sc, "job %llu has a key no client sent: '%s'",
		          (unsigned long long) id, key ? key : "(none)");
		return;
	}
	const struct sub *s = &sn->subs[client][seq];
	if (++sn->seen[client][seq] > 1) {
		sc->duplicates++;
		scan_note(sc, "key '%s' has more than one job (%llu)", key,
		          (unsigned long long) id);
	}
	if (kind == NULL || strcmp(kind, spec_kind[s->spec]) != 0) {
		sc->duplicates++;
		scan_note(sc, "job %llu of key '%s' is a '%s', not a '%s'",
		          (unsigned long long) id, key, kind ? kind : "",
		          spec_kind[s->spec]);
	}
	if (s->id == 0) {
		sc->unacked++;
		if (final && !s->abandoned)
			scan_note(sc,
			          "job %llu of key '%s' was never "
			          "acknowledged",
			          (unsigned long long) id, key);
	} else if (s->id != id) {
		sc->lost++;
		scan_note(sc,
		          "key '%s' was acknowledged as job %llu, but "
		          "the database has job %llu",
		          key, (unsigned long long) s->id,
		          (unsigned long long) id);
	}
	if (s->ended != 0 && job_state_of(state) != s->ended) {
		sc->ends_lost++;
		scan_note(sc,
		          "job %llu (key '%s') was reported ended (state "
		          "%d) by Wait, but the database has it %s",
		          (unsigned long long) id, key, s->ended, state);
	}
	/* attempts beyond what the job's retries explain */
	int64_t explained = s->spec == SP_FAIL ? max_attempts : 1;
	if (ended && attempts > explained) {
		sc->reruns += (uint64_t) (attempts - explained);
		sc->rerun_jobs++;
	}
	if (!ended)
		return;
	const char *want = s->spec == SP_FAIL ? "failed" : "succeeded";
	if (strcmp(state, want) != 0 ||
	    (s->spec == SP_FAIL && attempts < max_attempts)) {
		sc->wrong_end++;
		scan_note(sc,
		          "job %llu (%s, key '%s') ended %s after %lld "
		          "of %lld attempts",
		          (unsigned long long) id, kind ? kind : "", key, state,
		          (long long) attempts, (long long) max_attempts);
	}
}

/*
 * Reads the database of a daemon that is down, read-only. final: every
 * Submit has its answer by now, and every job has ended.
 */
/* The ids the workers' marks file beside the database names (if any). */
static void
read_marks(const char *db, struct scan *sc)
{
	char path[PATH_MAX], magic[8];
	uint64_t id;
	FILE *f;

	snprintf(path, sizeof(path), "%s.running", db);
	if ((f = fopen(path, "rb")) == NULL)
		return;
	if (fread(magic, 1, sizeof(magic), f) == sizeof(magic) &&
	    memcmp(magic, "JOBDRUN1", 8) == 0)
		while (sc->nmarks < 64 && fread(&id, sizeof(id), 1, f) == 1)
			if (id != 0)
				sc->marks[sc->nmarks++] = id;
	fclose(f);
}

static int
scan_db(const char *path, struct scan *sc, bool final)
{
	static const char sql[] = "SELECT id, idem_key, kind, state, attempts,"
	                          " max_attempts FROM jobs ORDER BY id";
	struct snap sn;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc;

	memset(sc, 0, sizeof(*sc));
	read_marks(path, sc);
	if (snap_take(&sn) != 0) {
		snap_free(&sn);
		return -1;
	}
	if ((rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL)) !=
	    SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(db, 5000);

	/* integrity first */
	if ((rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st,
	                             NULL)) != SQLITE_OK)
		goto fail;
	sc->integrity_ok = true;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = col_text(st, 0);
		if (t == NULL || strcmp(t, "ok") != 0) {
			if (sc->integrity_ok)
				snprintf(sc->integrity, sizeof(sc->integrity),
				         "%s", t ? t : "(null)");
			sc->integrity_ok = false;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE)
		goto fail;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		scan_row(sc, &sn, st, final);
	if (rc != SQLITE_DONE)
		goto fail;

	/* every acknowledged key must have had its row */
	for (int i = 0; i < CLIENTS; i++) {
		for (size_t q = 0; q < sn.n[i]; q++) {
			if (sn.subs[i][q].id != 0 && sn.seen[i][q] == 0) {
				sc->lost++;
				scan_note(sc,
				          "job %llu (key 's%d-%zu') was "
				          "acknowledged but is not in the "
				          "database",
				          (unsigned long long) sn.subs[i][q].id,
				          i, q);
			}
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	snap_free(&sn);
	return 0;

fail:
	fprintf(stderr, "stress: cannot read database '%s': %s\n", path,
	        db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_finalize(st);
	sqlite3_close(db);
	snap_free(&sn);
	return -1;
}

/* ---- the daemon -------------------------------------------------------- */

enum stop_how { STOP_KILL, STOP_TERM_KILL, STOP_TERM };
static const char *const stop_name[] = {"SIGKILL", "SIGTERM+SIGKILL",
                                        "SIGTERM"};

/* Prints the threads' stacks of a daemon that hangs, if gdb is there. */
static void
stacks(pid_t pid)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd),
	         "command -v gdb >/dev/null && gdb -p %d -batch -ex "
	         "'thread apply all bt' >&2 2>/dev/null",
	         (int) pid);
	if (system(cmd) != 0)
		fprintf(stderr, "stress: no stacks of jobd %d\n", (int) pid);
}

/* Waits for the daemon to exit, at most ms; its wait status, or -1. */
static int
reap(struct jd *d, int64_t ms)
{
	int64_t end = h_now_ms() + ms;
	int st;
	for (;;) {
		pid_t p = waitpid(d->pid, &st, WNOHANG);
		if (p == d->pid) {
			d->pid = 0;
			return st;
		}
		if (p < 0 || h_now_ms() >= end)
			return -1;
		usleep(2000);
	}
}

/*
 * Stops the daemon as `how` says. *clean: it exited 0 (a graceful stop
 * that finished). Non-zero if it died any other way than asked (a crash of
 * its own), or did not stop.
 */
static int
stop_daemon(struct jd *d, enum stop_how how, uint32_t delay_us, bool *clean)
{
	int st;

	*clean = false;
	if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
		d->pid = 0;
		fprintf(stderr, "stress: jobd died by itself (status 0x%x)\n",
		        st);
		return -1;
	}
	if (how == STOP_KILL) {
		kill(d->pid, SIGKILL);
	} else {
		kill(d->pid, SIGTERM);
		if (how == STOP_TERM_KILL) {
			usleep(delay_us);
			kill(d->pid, SIGKILL);
		}
	}
	if ((st = reap(d, 30000)) == -1) {
		fprintf(stderr, "stress: jobd did not stop within 30 s of %s\n",
		        stop_name[how]);
		stacks(d->pid);
		jd_kill(d, SIGKILL);
		return -1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && how != STOP_KILL) {
		*clean = true;
		return 0;
	}
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && how != STOP_TERM)
		return 0;
	fprintf(stderr, "stress: jobd ended with status 0x%x after %s\n", st,
	        stop_name[how]);
	return -1;
}

/* Writes the program kind psleep into d's directory: its script, and the
 * kinds directory with its kind file. The kinds directory's path, for
 * jobd_args, stays in a static buffer. */
static void
write_kinds(const struct jd *d)
{
	static char kdir[128];
	char path[192];
	FILE *f;

	snprintf(kdir, sizeof(kdir), "%s/kinds", d->dir);
	REQUIRE(mkdir(kdir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/psleep.sh", d->dir);
	REQUIRE((f = fopen(path, "w")) != NULL);
	fputs("#!/bin/sh\n"
	      "sleep \"$(($1 / 1000)).$(printf %03d $(($1 % 1000)))\"\n"
	      "echo done\n",
	      f);
	REQUIRE(fclose(f) == 0 && chmod(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/psleep.kind", kdir);
	REQUIRE((f = fopen(path, "w")) != NULL);
	fprintf(f,
	        "[kind]\ndescription = sleeps ms milliseconds, in sh\n"
	        "program = %s/psleep.sh\nargs = {ms}\n"
	        "[param ms]\ntype = int\nrequired = yes\nmin = 0\n"
	        "max = 10000\n",
	        d->dir);
	REQUIRE(fclose(f) == 0);
	jobd_args[0][11] = jobd_args[1][11] = kdir;
}

/* Processes whose command line names `needle` (the test's psleep script):
 * what a dead jobd's programs would be. */
static size_t
count_programs(const char *needle)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	if (proc == NULL)
		return 0;
	while ((e = readdir(proc)) != NULL) {
		char path[300], buf[512];
		size_t len;
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[len] = '\0';
		if (strstr(buf, needle) != NULL)
			n++;
	}
	closedir(proc);
	return n;
}

/* Starts the daemon on the database as the last stop left it, and waits
 * until it answers (harness.h: a Ping within about 5 s). */
static int
start_daemon(struct jd *d, uint64_t *rng)
{
	if (jd_start(d, jobd_args[rnd_below(rng, 2)]) == 0)
		return 0;
	fprintf(stderr, "stress: jobd did not start, or did not answer\n");
	jd_kill(d, SIGKILL);
	return -1;
}

/* ---- checks after a restart -------------------------------------------- */

/* Right after a restart: recovery re-queued exactly the rows left running,
 * and no job is `running` unless a worker runs it. */
static void
check_recovered(jobd_client *c, const struct scan *sc, int round)
{
	Jobd__V1__StatsReply *stats = NULL;
	Jobd__V1__ListRequest lreq = JOBD__V1__LIST_REQUEST__INIT;
	Jobd__V1__ListReply *list = NULL;
	Jobd__V1__GetReply *get = NULL;
	int rv;

	/* a dialer that gave up is replaced by the library (see the top) */
	for (int i = 0; i < STATS_TRIES; i++) {
		if ((rv = jobd_stats(c, &stats)) != JOBD_DEADLINE_EXCEEDED)
			break;
		g.main_silent++;
	}
	if (rv != JOBD_OK) {
		TEST_FAIL_("round %d: stats failed: %s", round,
		           jobd_client_errmsg());
		return;
	}
	if (stats->recovered != sc->all_running + sc->marked_queued)
		TEST_FAIL_("round %d: jobd recovered %llu jobs, the database "
		           "had %llu running and %llu marked running by a "
		           "worker",
		           round, (unsigned long long) stats->recovered,
		           (unsigned long long) sc->all_running,
		           (unsigned long long) sc->marked_queued);
	if (stats->running > WORKERS || stats->busy_workers > WORKERS)
		TEST_FAIL_("round %d: %llu running, %u busy, with %d workers",
		           round, (unsigned long long) stats->running,
		           stats->busy_workers, WORKERS);
	jobd__v1__stats_reply__free_unpacked(stats, NULL);

	lreq.state = JOBD__V1__JOB_STATE__JOB_STATE_RUNNING;
	lreq.limit = 1000;
	if ((rv = jobd_list(c, &lreq, &list)) != JOBD_OK) {
		TEST_FAIL_("round %d: list failed: %s", round,
		           jobd_client_errmsg());
	} else {
		if (list->n_jobs > WORKERS)
			TEST_FAIL_("round %d: %zu jobs listed running, with "
			           "%d workers",
			           round, list->n_jobs, WORKERS);
		jobd__v1__list_reply__free_unpacked(list, NULL);
	}

	if (sc->nrunning == 0)
		return;
	if ((rv = jobd_get(c, sc->running, sc->nrunning, &get)) != JOBD_OK) {
		TEST_FAIL_("round %d: get failed: %s", round,
		           jobd_client_errmsg());
		return;
	}
	if (get->n_missing > 0)
		TEST_FAIL_("round %d: job %llu, running before the restart, "
		           "is missing",
		           round, (unsigned long long) get->missing[0]);
	/* running again only if a worker of this daemon started it, which
	 * counts one more attempt; else recovery passed it over */
	for (size_t i = 0; i < get->n_jobs; i++) {
		const Jobd__V1__Job *j = get->jobs[i];
		for (size_t k = 0; k < sc->nrunning; k++) {
			if (sc->running[k] != j->id ||
			    j->state !=
			        JOBD__V1__JOB_STATE__JOB_STATE_RUNNING ||
			    (int64_t) j->attempts > sc->running_attempts[k])
				continue;
			TEST_FAIL_("round %d: job %llu is still running "
			           "after the restart (attempt %u, as "
			           "before): stuck",
			           round, (unsigned long long) j->id,
			           j->attempts);
		}
	}
	jobd__v1__get_reply__free_unpacked(get, NULL);
}

/* ---- the end ------------------------------------------------------------ */

/* The acknowledged ids and what each should end as. */
struct acked {
	uint64_t *ids;
	uint8_t *spec;
	size_t n;
	uint64_t abandoned;
};

static int
acked_collect(struct acked *a)
{
	size_t total = 0;
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < CLIENTS; i++)
		total += g.cl[i].n;
	a->ids = malloc((total + 1) * sizeof(*a->ids));
	a->spec = malloc(total + 1);
	if (a->ids == NULL || a->spec == NULL)
		return -1;
	for (int i = 0; i < CLIENTS; i++) {
		for (size_t q = 0; q < g.cl[i].n; q++) {
			const struct sub *s = &g.cl[i].subs[q];
			if (s->id == 0) {
				a->abandoned++;
				continue;
			}
			a->ids[a->n] = s->id;
			a->spec[a->n++] = s->spec;
		}
	}
	return 0;
}

/* Checks one ended job against what it was designed to do. */
static void
check_end(const Jobd__V1__Job *j, uint8_t sp)
{
	int want = sp == SP_FAIL ? JOBD__V1__JOB_STATE__JOB_STATE_FAILED
	                         : JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED;
	if ((int) j->state != want)
		TEST_FAIL_("job %llu (%s) ended in state %d, not %d: %s",
		           (unsigned long long) j->id, spec_kind[sp], j->state,
		           want, j->error);
	else if ((sp == SP_COUNT || sp == SP_LATER || sp == SP_AFTER) &&
	         (j->result.len != 4 || memcmp(j->result.data, "1000", 4) != 0))
		TEST_FAIL_("job %llu (count n=1000) has a wrong result",
		           (unsigned long long) j->id);
	else if (sp == SP_PROG && (j->result.len != 5 ||
	                           memcmp(j->result.data, "done\n", 5) != 0))
		TEST_FAIL_("job %llu (psleep) has a wrong result",
		           (unsigned long long) j->id);
}

/*
 * Polls Get until every acknowledged job has ended or FINAL_MS passed, and
 * checks each ended as designed. Returns the number that did not end.
 */
static size_t
await_all_ended(jobd_client *c, const struct acked *a)
{
	int64_t end = h_now_ms() + FINAL_MS;
	size_t *left = malloc((a->n + 1) * sizeof(*left)); /* indexes into a */
	uint64_t *ids = malloc((GET_BATCH + 1) * sizeof(*ids));
	size_t nleft = a->n;

	if (left == NULL || ids == NULL) {
		free(left);
		free(ids);
		return a->n;
	}
	for (size_t i = 0; i < a->n; i++)
		left[i] = i;
	while (nleft > 0) {
		size_t kept = 0;
		for (size_t from = 0; from < nleft; from += GET_BATCH) {
			size_t n =
			    nleft - from < GET_BATCH ? nleft - from : GET_BATCH;
			Jobd__V1__GetReply *rep = NULL;
			for (size_t i = 0; i < n; i++)
				ids[i] = a->ids[left[from + i]];
			int rv = jobd_get(c, ids, n, &rep);
			if (rv != JOBD_OK) {
				fprintf(stderr, "stress: get failed: %s\n",
				        jobd_client_errmsg());
				if (rv == JOBD_DEADLINE_EXCEEDED)
					g.main_silent++;
				for (size_t i = 0; i < n; i++)
					left[kept++] = left[from + i];
				continue;
			}
			if (rep->n_missing > 0)
				TEST_FAIL_(
				    "acknowledged job %llu is missing",
				    (unsigned long long) rep->missing[0]);
			/* Get answers the ids it knows in the order asked */
			size_t k = 0;
			for (size_t i = 0; i < n; i++) {
				size_t idx = left[from + i];
				const Jobd__V1__Job *j =
				    k < rep->n_jobs &&
				            rep->jobs[k]->id == ids[i]
				        ? rep->jobs[k++]
				        : NULL;
				if (j != NULL && job_ended(j->state))
					check_end(j, a->spec[idx]);
				else
					left[kept++] = idx;
			}
			jobd__v1__get_reply__free_unpacked(rep, NULL);
		}
		nleft = kept;
		if (nleft == 0 || h_now_ms() >= end)
			break;
		usleep(CHECK_EVERY);
	}
	if (nleft > 0)
		fprintf(stderr, "stress: job %llu, for one, has not ended\n",
		        (unsigned long long) a->ids[left[0]]);
	free(left);
	free(ids);
	return nleft;
}

/* How many lines of file `path` contain `needle`. */
static uint64_t
count_lines(const char *path, const char *needle)
{
	char line[1024];
	uint64_t n = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* ---- the test ----------------------------------------------------------- */

static void
report_scan(const struct scan *sc, int round, const char *when)
{
	if (!sc->integrity_ok)
		TEST_FAIL_("round %d (%s): integrity_check: %s", round, when,
		           sc->integrity);
	if (sc->lost > 0 || sc->duplicates > 0 || sc->ends_lost > 0)
		TEST_FAIL_("round %d (%s): %llu lost, %llu duplicates, %llu "
		           "ends lost: %s",
		           round, when, (unsigned long long) sc->lost,
		           (unsigned long long) sc->duplicates,
		           (unsigned long long) sc->ends_lost, sc->first);
}

/* Pauses (or resumes) `sleep`: 1 if answered paused, 0 resumed, -1 if
 * not answered (the state is then unknown). */
static int
set_paused(jobd_client *c, bool pause)
{
	ProtobufCMessage *rep = NULL;
	int rv;

	if (pause) {
		Jobd__V1__PauseRequest req = JOBD__V1__PAUSE_REQUEST__INIT;
		req.kind = "sleep";
		rv = jobd_call(c, "Pause", &req.base,
		               &jobd__v1__pause_reply__descriptor, &rep,
		               CALL_MS);
	} else {
		Jobd__V1__ResumeRequest req = JOBD__V1__RESUME_REQUEST__INIT;
		req.kind = "sleep";
		rv = jobd_call(c, "Resume", &req.base,
		               &jobd__v1__resume_reply__descriptor, &rep,
		               CALL_MS);
	}
	if (rep != NULL)
		protobuf_c_message_free_unpacked(rep, NULL);
	return rv == JOBD_OK ? pause : -1;
}

/* After a restart: `sleep` is paused as the last answered call left it. */
static void
check_paused(jobd_client *c, int want, int round)
{
	Jobd__V1__StatsReply *st = NULL;
	int rv = JOBD_DEADLINE_EXCEEDED;

	if (want < 0)
		return;
	for (int i = 0; i < STATS_TRIES && rv == JOBD_DEADLINE_EXCEEDED; i++)
		rv = jobd_stats(c, &st);
	if (rv != JOBD_OK) {
		TEST_FAIL_("round %d: Stats failed: %s", round,
		           jobd_client_errmsg());
		return;
	}
	bool paused = st->n_paused_kinds == 1 &&
	              strcmp(st->paused_kinds[0], "sleep") == 0;
	if (paused != (want == 1) || st->n_paused_kinds > 1)
		TEST_FAIL_("round %d: `sleep` was answered %s, but after the "
		           "restart it is %s",
		           round, want ? "paused" : "resumed",
		           paused ? "paused" : "not");
	jobd__v1__stats_reply__free_unpacked(st, NULL);
}

static void
test_crash_under_load(void)
{
	uint64_t rounds = env_u64("JOBD_STRESS_ROUNDS", 100);
	uint64_t seed = env_u64("JOBD_STRESS_SEED", 0);
	uint64_t lost = 0, dups = 0, ends_lost = 0, recovered = 0;
	uint64_t stops[3] = {0};
	uint64_t clean_stops = 0;
	bool integrity = true;
	int64_t t0 = h_now_ms();
	struct scan *sc = calloc(1, sizeof(*sc));
	struct acked a = {0};
	struct jd d;
	jobd_client *c = NULL;
	uint64_t rng;
	int round = 0, paused = 0;

	REQUIRE(sc != NULL);
	if (seed == 0)
		seed = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32);
	rng = seed;
	printf("stress: seed %llu, %llu rounds (JOBD_STRESS_SEED, "
	       "JOBD_STRESS_ROUNDS)\n",
	       (unsigned long long) seed, (unsigned long long) rounds);
	fflush(stdout);

	/* a name of its own: a clean-up of /tmp/jobd-it-* by someone else on a
	 * shared machine once removed the database in mid-run */
	REQUIRE(jd_init_in(&d, "jobd-stress") == 0);
	write_kinds(&d);
	REQUIRE(start_daemon(&d, &rng) == 0);
	g.url = d.url;
	REQUIRE(jobd_client_open(&c, d.url) == JOBD_OK);
	jobd_client_set_timeout(c, CALL_MS);
	for (int i = 0; i < CLIENTS; i++) {
		struct client *cl = &g.cl[i];
		cl->idx = i;
		cl->rng = seed + 1000003 * (uint64_t) (i + 1);
		REQUIRE(jobd_client_open(&cl->c, d.url) == JOBD_OK);
		jobd_client_set_timeout(cl->c, CALL_MS);
		REQUIRE(pthread_create(&cl->thread, NULL, client_main, cl) ==
		        0);
	}

	for (round = 1; (uint64_t) round <= rounds; round++) {
		/* serve for a while: sometimes only just after recovery */
		uint32_t serve_us = rnd_below(&rng, 5) == 0
		                        ? rnd_below(&rng, 30000)
		                        : 50000 + rnd_below(&rng, 700000);
		uint32_t r = rnd_below(&rng, 100);
		enum stop_how how = r < 55   ? STOP_KILL
		                    : r < 90 ? STOP_TERM_KILL
		                             : STOP_TERM;
		uint32_t delay_us = rnd_below(&rng, 25000);
		bool clean;

		/* now and then, `sleep` paused or resumed (its jobs wait) */
		if (rnd_below(&rng, 4) == 0)
			paused = set_paused(c, paused != 1);
		usleep(serve_us);
		stops[how]++;
		if (stop_daemon(&d, how, delay_us, &clean) != 0) {
			TEST_FAIL_("round %d: jobd did not stop as asked (%s)",
			           round, stop_name[how]);
			break;
		}
		clean_stops += clean;

		/* down: the file as the crash left it */
		if (scan_db(d.db, sc, false) != 0) {
			TEST_FAIL_("round %d: cannot read the database", round);
			break;
		}
		report_scan(sc, round, "daemon down");
		lost = sc->lost > lost ? sc->lost : lost;
		dups = sc->duplicates > dups ? sc->duplicates : dups;
		ends_lost =
		    sc->ends_lost > ends_lost ? sc->ends_lost : ends_lost;
		integrity = integrity && sc->integrity_ok;
		recovered += sc->all_running + sc->marked_queued;
		if (clean && sc->all_running + sc->marked_queued > 0)
			TEST_FAIL_(
			    "round %d: %llu jobs left running by a clean "
			    "stop",
			    round, (unsigned long long) sc->all_running);
		if (test_failures > 0)
			break;

		if (start_daemon(&d, &rng) != 0) {
			TEST_FAIL_("round %d: jobd does not start again",
			           round);
			break;
		}
		check_recovered(c, sc, round);
		check_paused(c, paused, round);
		if (test_failures > 0)
			break;
	}
	/* the end: `sleep` runs again, so that its jobs end */
	if (set_paused(c, false) != 0)
		TEST_FAIL_("cannot resume `sleep`: %s", jobd_client_errmsg());
	if (round > (int) rounds)
		round = (int) rounds;

	/* the end: no more kills; the clients' last Submits answered (unless
	 * a check failed: then only what was found is reported) */
	bool aborted = test_failures > 0;
	uint64_t redials = 0; /* dialers the library re-created */
	atomic_store(&g.stop, aborted ? 2 : 1);
	int64_t end = h_now_ms() + (aborted ? 0 : JOIN_MS);
	for (int i = 0; i < CLIENTS; i++)
		while (!atomic_load(&g.cl[i].done) && h_now_ms() < end)
			usleep(10000);
	atomic_store(&g.stop, 2);
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(g.cl[i].thread, NULL);
		redials += jc_redials(g.cl[i].c);
		jobd_client_close(g.cl[i].c);
		if (g.cl[i].unexpected > 0)
			TEST_FAIL_("client %d: %llu unexpected answers; %s", i,
			           (unsigned long long) g.cl[i].unexpected,
			           g.cl[i].err);
	}
	REQUIRE(acked_collect(&a) == 0);
	if (!aborted && a.abandoned > 0) {
		TEST_FAIL_("%llu Submits never acknowledged",
		           (unsigned long long) a.abandoned);
		for (int i = 0; i < CLIENTS; i++)
			fprintf(stderr, "stress: client %d: %s\n", i,
			        g.cl[i].last);
	}

	if (!aborted) {
		size_t pending = await_all_ended(c, &a);
		if (pending > 0)
			TEST_FAIL_("%zu of %zu acknowledged jobs did not end "
			           "within %d s",
			           pending, a.n, FINAL_MS / 1000);
	}
	redials += jc_redials(c);
	jobd_client_close(c);

	/* a clean stop, and the file once more */
	bool clean = false;
	if (!aborted && (stop_daemon(&d, STOP_TERM, 0, &clean) != 0 || !clean))
		TEST_FAIL_("the last stop was not clean");
	if (!aborted && scan_db(d.db, sc, true) != 0) {
		TEST_FAIL_("cannot read the database at the end");
	} else if (!aborted) {
		report_scan(sc, round, "the end");
		lost = sc->lost > lost ? sc->lost : lost;
		dups = sc->duplicates > dups ? sc->duplicates : dups;
		ends_lost =
		    sc->ends_lost > ends_lost ? sc->ends_lost : ends_lost;
		integrity = integrity && sc->integrity_ok;
		if (sc->not_ended > 0 || sc->wrong_end > 0 ||
		    (sc->unacked > 0 && a.abandoned == 0))
			TEST_FAIL_("at the end: %llu jobs not ended, %llu "
			           "ended wrong, %llu never acknowledged: %s",
			           (unsigned long long) sc->not_ended,
			           (unsigned long long) sc->wrong_end,
			           (unsigned long long) sc->unacked, sc->first);
		if (sc->rows != a.n + sc->unacked)
			TEST_FAIL_("%llu rows for %zu acknowledged jobs",
			           (unsigned long long) sc->rows, a.n);
	}

	uint64_t calls = 0, resent = 0, existing = 0, waited = 0;
	uint64_t silent = g.main_silent;
	for (int i = 0; i < CLIENTS; i++) {
		calls += g.cl[i].calls;
		resent += g.cl[i].resent;
		existing += g.cl[i].existing;
		waited += g.cl[i].waited;
		silent += g.cl[i].silent;
	}
	printf("stress: stops: %llu SIGKILL, %llu SIGTERM+SIGKILL, %llu "
	       "SIGTERM (%llu clean); %llu jobs left running and recovered; "
	       "%llu submit calls, %llu sent again, %llu answered existing; "
	       "%llu ends reported by Wait, %llu of them lost; %llu jobs "
	       "re-run; %llu calls without an answer, %llu dialers re-created "
	       "by the library; %llu stops with the socket's "
	       "close abandoned; %.1f s\n",
	       (unsigned long long) stops[0], (unsigned long long) stops[1],
	       (unsigned long long) stops[2], (unsigned long long) clean_stops,
	       (unsigned long long) recovered, (unsigned long long) calls,
	       (unsigned long long) resent, (unsigned long long) existing,
	       (unsigned long long) waited, (unsigned long long) ends_lost,
	       (unsigned long long) sc->rerun_jobs, (unsigned long long) silent,
	       (unsigned long long) redials,
	       (unsigned long long) count_lines(d.log, "did not close"),
	       (double) (h_now_ms() - t0) / 1000.0);
	printf("stress: rounds %d, jobs acknowledged %zu, lost %llu, "
	       "duplicates %llu, re-runs after crashes %llu, integrity %s, "
	       "seed %llu\n",
	       round, a.n, (unsigned long long) lost, (unsigned long long) dups,
	       (unsigned long long) sc->reruns, integrity ? "ok" : "FAILED",
	       (unsigned long long) seed);
	fflush(stdout);
	CHECK_EQ_INT(lost, 0);
	CHECK_EQ_INT(dups, 0);
	CHECK_EQ_INT(ends_lost, 0);
	CHECK(integrity);
	/* every daemon that died left no program behind (its reaper) */
	char script[128];
	snprintf(script, sizeof(script), "%s/psleep.sh", d.dir);
	size_t left = count_programs(script);
	printf("stress: programs left running after %d stops: %zu\n", round - 1,
	       left);
	CHECK_EQ_INT(left, 0);

	for (int i = 0; i < CLIENTS; i++)
		free(g.cl[i].subs);
	free(a.ids);
	free(a.spec);
	free(sc);
	jd_fini(&d);
}

TEST_MAIN({"crash_under_load", test_crash_under_load})

/*
 * test_load: backpressure and bounded memory, against the real jobd.
 *
 * JOBD_LOAD_CLIENTS client threads (default 8), each with a socket of its
 * own, submit short jobs as fast as they are answered for JOBD_LOAD_SECONDS
 * (default 10) to a daemon with two workers and --max-queue 200, so that
 * the queue is full most of the time. A job is `sha256 rounds=5000` over
 * INPUT_LEN bytes of input: a few milliseconds, and a job that the daemon
 * kept after its end would cost it those bytes. A refused Submit is tried
 * again after a millisecond, as a client that backs off a little would.
 *
 * Checks:
 *  - the only error a Submit gets is RESOURCE_EXHAUSTED (queue full), and
 *    it did get some (the queue filled);
 *  - every accepted job completes: each is `succeeded` with the same digest
 *    (Get), and Stats counts as many submitted and succeeded, with nothing
 *    left queued or running;
 *  - memory is bounded. The queue holds at most 200 jobs, so what the
 *    daemon keeps must not grow with the number of jobs that went through
 *    it. Its peak RSS (VmHWM) is read half-way and when the load stops: the
 *    second half, as many jobs again, may raise it by at most
 *    GROWTH_MAX_KIB (SQLite's page caches and malloc's arenas are still
 *    warming up: about 1 MiB was seen), where a daemon that kept its
 *    finished jobs would add INPUT_LEN per job, some 15 MiB for the 4000
 *    jobs of a half here. Also an absolute cap, PEAK_MAX_KIB. Under a
 *    sanitizer (its shadow memory and quarantine) the figures are only
 *    reported.
 *
 * Prints one line: clients, seconds, Submits sent, accepted, refused, other
 * errors, and the daemon's RSS at start, its peak (VmHWM, the whole run)
 * and RSS after the load drained (after the Gets of every job, too).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "harness.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define MAX_CLIENTS    64
#define INPUT_LEN      4096
#define GROWTH_MAX_KIB (4 * 1024)
#define PEAK_MAX_KIB   (256 * 1024)
#define DRAIN_MS       120000
#define GET_BATCH      1000

static const char *const jobd_args[] = {"--workers", "2", "--max-queue", "200",
                                        NULL};

struct loader {
	int idx;
	pthread_t thread;
	jobd_client *c;
	uint64_t *ids; /* accepted */
	size_t n, cap;
	atomic_uint_fast64_t sent, accepted, refused, other;
	char err[240]; /* the first other error */
};

static atomic_int stop;
static uint8_t input[INPUT_LEN]; /* every job's; filled before the loaders */

static uint64_t
env_u64(const char *name, uint64_t def, uint64_t max)
{
	const char *v = getenv(name);
	char *end;
	if (v == NULL || *v == '\0')
		return def;
	unsigned long long n = strtoull(v, &end, 10);
	if (*end != '\0' || n == 0 || n > max) {
		fprintf(stderr,
		        "load: %s='%s' is not a number from 1 to %llu; "
		        "using %llu\n",
		        name, v, (unsigned long long) max,
		        (unsigned long long) def);
		return def;
	}
	return n;
}

/* A "Vm...:" figure of /proc/PID/status, in KiB; -1 if not there. */
static long
vm_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kib = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

static double
mib(long kib)
{
	return (double) kib / 1024.0;
}

static bool
job_ended(Jobd__V1__JobState st)
{
	return st == JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED ||
	       st == JOBD__V1__JOB_STATE__JOB_STATE_FAILED ||
	       st == JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED;
}

static void *
loader_main(void *arg)
{
	struct loader *l = arg;
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry ent, *ents[1] = {&ent};
	char key[48];
	uint64_t seq = 0;

	jobd__v1__submit_request__params_entry__init(&ent);
	ent.key = "rounds";
	ent.value = "5000";
	req.kind = "sha256";
	req.n_params = 1;
	req.params = ents;
	req.input.data = input;
	req.input.len = sizeof(input);
	req.idempotency_key = key;
	while (!atomic_load(&stop)) {
		Jobd__V1__SubmitReply *rep = NULL;
		snprintf(key, sizeof(key), "l%d-%llu", l->idx,
		         (unsigned long long) seq++);
		int rv = jobd_submit(l->c, &req, &rep);
		atomic_fetch_add(&l->sent, 1);
		if (rv == JOBD_OK) {
			if (l->n == l->cap) {
				size_t nc = l->cap ? l->cap * 2 : 1024;
				uint64_t *v = realloc(l->ids, nc * sizeof(*v));
				if (v == NULL) {
					jobd__v1__submit_reply__free_unpacked(
					    rep, NULL);
					break;
				}
				l->ids = v;
				l->cap = nc;
			}
			l->ids[l->n++] = rep->job->id;
			atomic_fetch_add(&l->accepted, 1);
			jobd__v1__submit_reply__free_unpacked(rep, NULL);
		} else if (rv == JOBD_RESOURCE_EXHAUSTED) {
			atomic_fetch_add(&l->refused, 1);
			usleep(1000);
		} else {
			if (atomic_fetch_add(&l->other, 1) == 0)
				snprintf(l->err, sizeof(l->err),
				         "submit '%s' failed: %s: %s", key,
				         jobd_status_name(rv),
				         jobd_client_errmsg());
			usleep(1000);
		}
	}
	return NULL;
}

/* 1 if ended job j did not succeed with the digest every job must have
 * (the first one seen, kept in digest). */
static int
bad_end(const Jobd__V1__Job *j, char digest[65])
{
	if (digest[0] == '\0' && j->result.len == 64)
		memcpy(digest, j->result.data, 64);
	if (j->state == JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED &&
	    j->result.len == 64 && memcmp(j->result.data, digest, 64) == 0)
		return 0;
	fprintf(stderr,
	        "load: job %llu ended in state %d (%s), result %zu "
	        "bytes\n",
	        (unsigned long long) j->id, j->state, j->error, j->result.len);
	return 1;
}

/* Polls Get until every id has ended (or DRAIN_MS passed); returns how
 * many did not succeed with the same digest, plus those that did not end.
 */
static size_t
await_succeeded(jobd_client *c, const uint64_t *ids, size_t n)
{
	int64_t end = h_now_ms() + DRAIN_MS;
	size_t bad = 0, from = 0;
	char digest[65] = "";

	while (from < n && bad < 10) {
		size_t k = n - from < GET_BATCH ? n - from : GET_BATCH;
		Jobd__V1__GetReply *rep = NULL;
		size_t ended = 0;

		if (jobd_get(c, &ids[from], k, &rep) != JOBD_OK) {
			fprintf(stderr, "load: get failed: %s\n",
			        jobd_client_errmsg());
		} else {
			/* the ids asked, in order, while they have ended */
			for (size_t i = 0; i < rep->n_jobs; i++) {
				const Jobd__V1__Job *j = rep->jobs[i];
				if (j->id != ids[from + ended] ||
				    !job_ended(j->state))
					break;
				bad += (size_t) bad_end(j, digest);
				ended++;
			}
			if (ended == 0 && rep->n_missing > 0 &&
			    rep->missing[0] == ids[from]) {
				fprintf(stderr,
				        "load: accepted job %llu is "
				        "missing\n",
				        (unsigned long long) ids[from]);
				bad++;
				ended = 1;
			}
			jobd__v1__get_reply__free_unpacked(rep, NULL);
		}
		from += ended;
		if (ended == 0) {
			if (h_now_ms() >= end)
				break;
			usleep(20000);
		}
	}
	return bad + (n - from);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return x < y ? -1 : x > y;
}

static void
test_load_bounded(void)
{
	uint64_t nclients = env_u64("JOBD_LOAD_CLIENTS", 8, MAX_CLIENTS);
	uint64_t secs = env_u64("JOBD_LOAD_SECONDS", 10, 3600);
	struct loader *ls = calloc(MAX_CLIENTS, sizeof(*ls));
	uint64_t sent = 0, accepted = 0, refused = 0, other = 0;
	uint64_t accepted_half = 0, *ids = NULL;
	Jobd__V1__StatsReply *st = NULL;
	jobd_client *c = NULL;
	struct jd d;
	size_t nids = 0;

	REQUIRE(ls != NULL);
	REQUIRE(jd_init_in(&d, "jobd-load") == 0);
	if (jd_start(&d, jobd_args) != 0) {
		jd_dump_log(&d);
		REQUIRE(!"jobd started");
	}
	REQUIRE(jobd_client_open(&c, d.url) == JOBD_OK);
	long rss_start = vm_kib(d.pid, "VmRSS");
	REQUIRE(rss_start > 0);

	for (size_t i = 0; i < sizeof(input); i++)
		input[i] = (uint8_t) (i * 7);

	for (uint64_t i = 0; i < nclients; i++) {
		ls[i].idx = (int) i;
		REQUIRE(jobd_client_open(&ls[i].c, d.url) == JOBD_OK);
		REQUIRE(pthread_create(&ls[i].thread, NULL, loader_main,
		                       &ls[i]) == 0);
	}
	/* half-way, then the end: the peak must not keep growing */
	usleep((useconds_t) (secs * 500000));
	long hwm_half = vm_kib(d.pid, "VmHWM");
	for (uint64_t i = 0; i < nclients; i++)
		accepted_half += atomic_load(&ls[i].accepted);
	usleep((useconds_t) (secs * 500000));
	atomic_store(&stop, 1);
	for (uint64_t i = 0; i < nclients; i++) {
		pthread_join(ls[i].thread, NULL);
		jobd_client_close(ls[i].c);
		sent += atomic_load(&ls[i].sent);
		accepted += atomic_load(&ls[i].accepted);
		refused += atomic_load(&ls[i].refused);
		other += atomic_load(&ls[i].other);
		if (atomic_load(&ls[i].other) > 0)
			fprintf(stderr, "load: client %llu: %s\n",
			        (unsigned long long) i, ls[i].err);
	}
	long hwm_end = vm_kib(d.pid, "VmHWM");

	/* every accepted job completes */
	ids = malloc((accepted + 1) * sizeof(*ids));
	REQUIRE(ids != NULL);
	for (uint64_t i = 0; i < nclients; i++) {
		memcpy(&ids[nids], ls[i].ids, ls[i].n * sizeof(*ids));
		nids += ls[i].n;
	}
	qsort(ids, nids, sizeof(*ids), cmp_u64);
	for (size_t i = 1; i < nids; i++)
		if (ids[i] == ids[i - 1])
			TEST_FAIL_("job %llu was accepted twice",
			           (unsigned long long) ids[i]);
	size_t bad = await_succeeded(c, ids, nids);
	if (bad > 0)
		TEST_FAIL_("%zu of %zu accepted jobs did not succeed within "
		           "%d s",
		           bad, nids, DRAIN_MS / 1000);
	REQUIRE(jobd_stats(c, &st) == JOBD_OK);
	CHECK_EQ_INT(st->submitted, accepted);
	CHECK_EQ_INT(st->succeeded, accepted);
	CHECK_EQ_INT(st->queued, 0);
	CHECK_EQ_INT(st->running, 0);
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	long rss_after = vm_kib(d.pid, "VmRSS");
	long hwm_all = vm_kib(d.pid, "VmHWM");

	printf("load: clients %llu, seconds %llu, submitted %llu, accepted "
	       "%llu, refused (RESOURCE_EXHAUSTED) %llu, other errors %llu, "
	       "RSS start %.1f MiB, peak %.1f MiB, after %.1f MiB\n",
	       (unsigned long long) nclients, (unsigned long long) secs,
	       (unsigned long long) sent, (unsigned long long) accepted,
	       (unsigned long long) refused, (unsigned long long) other,
	       mib(rss_start), mib(hwm_all), mib(rss_after));
	printf("load: peak RSS %.1f MiB after the first half (%llu jobs "
	       "accepted), %.1f MiB after the second (%llu more, %.1f MiB of "
	       "input); at most %.1f MiB more allowed%s\n",
	       mib(hwm_half), (unsigned long long) accepted_half, mib(hwm_end),
	       (unsigned long long) (accepted - accepted_half),
	       (double) (accepted - accepted_half) * INPUT_LEN / 1048576.0,
	       mib(GROWTH_MAX_KIB),
	       SANITIZED ? "; a sanitizer build: not asserted" : "");
	fflush(stdout);

	CHECK_EQ_INT(other, 0);
	CHECK_EQ_INT(sent, accepted + refused + other);
	CHECK(refused > 0); /* the queue did fill: backpressure was tested */
	CHECK(accepted_half > 0 && accepted > accepted_half);
	if (!SANITIZED) {
		CHECK(hwm_all < PEAK_MAX_KIB);
		CHECK(hwm_end - hwm_half <= GROWTH_MAX_KIB);
	}
	/* and it stops cleanly */
	jobd_client_close(c);
	int wst = jd_kill(&d, SIGTERM);
	CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);

	for (uint64_t i = 0; i < nclients; i++)
		free(ls[i].ids);
	free(ls);
	free(ids);
	jd_fini(&d);
}

TEST_MAIN({"load_bounded", test_load_bounded})

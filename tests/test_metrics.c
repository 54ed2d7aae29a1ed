/*
 * Unit tests of the metrics registry and its text (daemon/metrics.c):
 * what the hooks record is what the text shows (counters, cumulated
 * histogram buckets, _count equal to +Inf, _sum in seconds), kinds past
 * the table go to kind="(other)", counts from many threads at once add
 * up, the chart's ring, the process_* figures, and the whole text passes
 * `promtool check metrics` (Debian's prometheus package; a missing
 * promtool fails the test: CI must have it).
 *
 * The registry is the process's: each test uses kinds of its own and
 * compares with what it recorded.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobd.pb-c.h"
#include "metrics.h"
#include "registry.h"
#include "store.h"
#include "test.h"

static char *
render(void)
{
	char *buf = NULL;
	size_t len = 0;
	REQUIRE(metrics_render(&buf, &len) == JOBD_OK);
	REQUIRE(buf != NULL && strlen(buf) == len);
	return buf;
}

/* The value of the sample `series` (name{labels}, exactly) in text; -1 if
 * there is no such line. */
static double
sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	return -1;
}

static unsigned
method_index(const char *name)
{
	const ProtobufCMethodDescriptor *m =
	    protobuf_c_service_descriptor_get_method_by_name(
	        &jobd__v1__jobs__descriptor, name);
	REQUIRE(m != NULL);
	return (unsigned) (m - jobd__v1__jobs__descriptor.methods);
}

static void
test_kinds(void)
{
	uint32_t a = kind_intern("mt_alpha"), b = kind_intern("mt_beta");
	REQUIRE(a != UINT32_MAX && b != UINT32_MAX);

	for (int i = 0; i < 3; i++)
		metrics_job_submitted(a);
	metrics_job_submitted(b);
	metrics_job_finished(a, JOB_SUCCEEDED);
	metrics_job_finished(a, JOB_SUCCEEDED);
	metrics_job_finished(a, JOB_FAILED);
	metrics_job_finished(b, JOB_CANCELLED);
	metrics_job_finished(b, JOB_QUEUED); /* not an end: ignored */
	metrics_job_started(a, 3);           /* 3 ms: le 0.005 */
	metrics_job_started(a, 20000);       /* 20 s: le 30 */
	metrics_job_ran(a, 2000000);         /* 2 ms */
	metrics_job_ran(a, 7200000000000LL); /* two hours: +Inf only */
	metrics_job_ran(b, -5);              /* a clock step: counted as 0 */

	char *t = render();
	CHECK_EQ_INT(sample(t, "jobd_jobs_submitted_total{kind=\"mt_alpha\"}"),
	             3);
	CHECK_EQ_INT(sample(t, "jobd_jobs_submitted_total{kind=\"mt_beta\"}"),
	             1);
	CHECK_EQ_INT(sample(t, "jobd_jobs_finished_total{kind=\"mt_alpha\","
	                       "state=\"succeeded\"}"),
	             2);
	CHECK_EQ_INT(sample(t, "jobd_jobs_finished_total{kind=\"mt_alpha\","
	                       "state=\"failed\"}"),
	             1);
	CHECK_EQ_INT(sample(t, "jobd_jobs_finished_total{kind=\"mt_alpha\","
	                       "state=\"cancelled\"}"),
	             0);
	CHECK_EQ_INT(sample(t, "jobd_jobs_finished_total{kind=\"mt_beta\","
	                       "state=\"cancelled\"}"),
	             1);
	/* buckets are cumulated */
	CHECK_EQ_INT(sample(t, "jobd_job_queued_seconds_bucket{kind="
	                       "\"mt_alpha\",le=\"0.001\"}"),
	             0);
	CHECK_EQ_INT(sample(t, "jobd_job_queued_seconds_bucket{kind="
	                       "\"mt_alpha\",le=\"0.005\"}"),
	             1);
	CHECK_EQ_INT(sample(t, "jobd_job_queued_seconds_bucket{kind="
	                       "\"mt_alpha\",le=\"10\"}"),
	             1);
	CHECK_EQ_INT(sample(t, "jobd_job_queued_seconds_bucket{kind="
	                       "\"mt_alpha\",le=\"30\"}"),
	             2);
	CHECK_EQ_INT(sample(t, "jobd_job_queued_seconds_count{kind="
	                       "\"mt_alpha\"}"),
	             2);
	double sum =
	    sample(t, "jobd_job_queued_seconds_sum{kind=\"mt_alpha\"}");
	CHECK(sum > 20.0029 && sum < 20.0031);
	CHECK_EQ_INT(sample(t, "jobd_job_run_duration_seconds_bucket{kind="
	                       "\"mt_alpha\",le=\"3600\"}"),
	             1);
	CHECK_EQ_INT(sample(t, "jobd_job_run_duration_seconds_bucket{kind="
	                       "\"mt_alpha\",le=\"+Inf\"}"),
	             2);
	CHECK_EQ_INT(sample(t, "jobd_job_run_duration_seconds_count{kind="
	                       "\"mt_alpha\"}"),
	             2);
	CHECK_EQ_INT(sample(t, "jobd_job_run_duration_seconds_bucket{kind="
	                       "\"mt_beta\",le=\"0.001\"}"),
	             1);
	CHECK_EQ_INT(
	    sample(t, "jobd_job_run_duration_seconds_sum{kind=\"mt_beta\"}"),
	    0);
	free(t);
}

/* Kind ids past the table are counted as kind="(other)". */
static void
test_other_kind(void)
{
	char name[32];
	uint32_t id = 0;

	for (int i = 0; id < METRICS_KINDS + 10; i++) {
		snprintf(name, sizeof(name), "mt_many_%d", i);
		REQUIRE((id = kind_intern(name)) != UINT32_MAX);
	}
	char *t = render();
	double before = sample(
	    t, "jobd_jobs_submitted_total{kind=\"" METRICS_OTHER_KIND "\"}");
	free(t);
	metrics_job_submitted(id);
	metrics_job_submitted(METRICS_KINDS - 1);
	metrics_job_submitted(UINT32_MAX);
	t = render();
	CHECK_EQ_INT(
	    sample(t, "jobd_jobs_submitted_total{kind=\"" METRICS_OTHER_KIND
	              "\"}") -
	        (before < 0 ? 0 : before),
	    3);
	/* the name itself never shows */
	CHECK(strstr(t, name) == NULL);
	free(t);
}

static void
test_requests(void)
{
	unsigned submit = method_index("Submit"), get = method_index("Get");

	char *t = render();
	double ok0 = sample(t, "jobd_replies_total{method=\"Submit\","
	                       "code=\"OK\"}");
	double c0 =
	    sample(t, "jobd_request_duration_seconds_count{method=\"Get\"}");
	double u0 = sample(t, "jobd_replies_total{method=\"unknown\","
	                      "code=\"UNAUTHENTICATED\"}");
	/* every method has its histogram, used or not */
	CHECK(sample(t, "jobd_request_duration_seconds_count{method="
	                "\"Schedules\"}") >= 0);
	free(t);

	metrics_request(submit, JOBD_OK, 300000); /* 300 us */
	metrics_request(submit, JOBD_OK, 300000);
	metrics_request(get, JOBD_NOT_FOUND, 40000); /* 40 us */
	metrics_request(UINT32_MAX, JOBD_UNAUTHENTICATED, 1000);
	metrics_request(submit, 99, 1000); /* no such code: UNKNOWN */

	t = render();
	CHECK_EQ_INT(sample(t, "jobd_replies_total{method=\"Submit\","
	                       "code=\"OK\"}") -
	                 (ok0 < 0 ? 0 : ok0),
	             2);
	CHECK(sample(t, "jobd_replies_total{method=\"Get\","
	                "code=\"NOT_FOUND\"}") >= 1);
	CHECK(sample(t, "jobd_replies_total{method=\"Submit\","
	                "code=\"UNKNOWN\"}") >= 1);
	CHECK_EQ_INT(sample(t, "jobd_replies_total{method=\"unknown\","
	                       "code=\"UNAUTHENTICATED\"}") -
	                 (u0 < 0 ? 0 : u0),
	             1);
	CHECK_EQ_INT(
	    sample(t, "jobd_request_duration_seconds_count{method=\"Get\"}") -
	        c0,
	    1);
	CHECK(sample(t, "jobd_request_duration_seconds_bucket{method="
	                "\"Get\",le=\"0.0001\"}") >= 1);
	CHECK(sample(t, "jobd_request_duration_seconds_bucket{method="
	                "\"Submit\",le=\"0.0005\"}") >= 2);
	free(t);
}

static void
test_writer_and_parked(void)
{
	char *t = render();
	double n0 = sample(t, "jobd_commit_batch_size_count");
	double f0 = sample(t, "jobd_write_failures_total");
	double p0 = sample(t, "jobd_parked_calls");
	free(t);
	REQUIRE(n0 >= 0 && f0 >= 0 && p0 >= 0);

	metrics_commit(1, 200000);    /* 0.2 ms */
	metrics_commit(300, 3000000); /* 3 ms */
	metrics_write_failure();
	metrics_parked(1);
	metrics_parked(1);
	metrics_parked(-1);

	t = render();
	CHECK_EQ_INT(sample(t, "jobd_commit_batch_size_count") - n0, 2);
	CHECK_EQ_INT(sample(t, "jobd_commit_duration_seconds_count") - n0, 2);
	CHECK(sample(t, "jobd_commit_batch_size_bucket{le=\"1\"}") >= 1);
	CHECK(sample(t, "jobd_commit_batch_size_bucket{le=\"256\"}") <
	      sample(t, "jobd_commit_batch_size_bucket{le=\"512\"}"));
	CHECK(sample(t, "jobd_commit_duration_seconds_bucket{le=\"0.0025\"}") <
	      sample(t, "jobd_commit_duration_seconds_bucket{le=\"0.005\"}"));
	CHECK_EQ_INT(sample(t, "jobd_write_failures_total") - f0, 1);
	CHECK_EQ_INT(sample(t, "jobd_parked_calls") - p0, 1);
	metrics_parked(-1);
	free(t);
}

#define THREADS 4
#define ROUNDS  20000

static uint32_t race_kind;

static void *
hammer(void *arg)
{
	(void) arg;
	for (int i = 0; i < ROUNDS; i++) {
		metrics_job_submitted(race_kind);
		metrics_job_finished(race_kind, JOB_SUCCEEDED);
		metrics_job_ran(race_kind, 1000);
	}
	return NULL;
}

/* Counts from threads at once all add up (atomics, no lost update), and
 * a render while they count sees a consistent histogram. */
static void
test_threads(void)
{
	pthread_t th[THREADS];
	uint32_t before[METRICS_RECENT_STEPS], after[METRICS_RECENT_STEPS];

	race_kind = kind_intern("mt_race");
	metrics_finished_recent(before);
	for (int i = 0; i < THREADS; i++)
		REQUIRE(pthread_create(&th[i], NULL, hammer, NULL) == 0);
	char *mid = render();
	double c = sample(mid, "jobd_job_run_duration_seconds_count{kind="
	                       "\"mt_race\"}");
	double inf = sample(mid, "jobd_job_run_duration_seconds_bucket{kind="
	                         "\"mt_race\",le=\"+Inf\"}");
	CHECK(c == inf);
	free(mid);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	metrics_finished_recent(after);

	char *t = render();
	CHECK_EQ_INT(sample(t, "jobd_jobs_submitted_total{kind=\"mt_race\"}"),
	             THREADS * ROUNDS);
	CHECK_EQ_INT(sample(t, "jobd_jobs_finished_total{kind=\"mt_race\","
	                       "state=\"succeeded\"}"),
	             THREADS * ROUNDS);
	CHECK_EQ_INT(sample(t, "jobd_job_run_duration_seconds_count{kind="
	                       "\"mt_race\"}"),
	             THREADS * ROUNDS);
	free(t);
	/* the ring: the ends fell in the last step or two (a step boundary
	 * may pass meanwhile) */
	uint64_t sb = 0, sa = 0;
	for (int i = 0; i < METRICS_RECENT_STEPS; i++) {
		sb += i >= METRICS_RECENT_STEPS - 2 ? before[i] : 0;
		sa += i >= METRICS_RECENT_STEPS - 3 ? after[i] : 0;
	}
	CHECK(sa >= sb + THREADS * ROUNDS);
}

static void
test_recent(void)
{
	uint32_t v[METRICS_RECENT_STEPS], w[METRICS_RECENT_STEPS];
	uint32_t k = kind_intern("mt_recent");

	/* retry if a step boundary passes between the two reads */
	for (int tries = 0; tries < 3; tries++) {
		metrics_finished_recent(v);
		metrics_job_finished(k, JOB_FAILED);
		metrics_job_finished(k, JOB_CANCELLED);
		metrics_finished_recent(w);
		if (w[METRICS_RECENT_STEPS - 2] == v[METRICS_RECENT_STEPS - 2])
			break;
	}
	CHECK_EQ_INT(w[METRICS_RECENT_STEPS - 1] - v[METRICS_RECENT_STEPS - 1],
	             2);
	/* the steps before are past: they do not change */
	for (int i = 0; i < METRICS_RECENT_STEPS - 1; i++)
		CHECK_EQ_INT(w[i], v[i]);
}

static void
test_process(void)
{
	char *t = render();
	CHECK(sample(t, "process_resident_memory_bytes") > 0);
	CHECK(sample(t, "process_virtual_memory_bytes") >=
	      sample(t, "process_resident_memory_bytes"));
	CHECK(sample(t, "process_open_fds") >= 3);
	CHECK(sample(t, "process_max_fds") >= sample(t, "process_open_fds"));
	CHECK(sample(t, "process_cpu_seconds_total") >= 0);
	double start = sample(t, "process_start_time_seconds");
	double now = (double) time(NULL);
	CHECK(start > now - 600 && start <= now + 1);
	/* no source attached: no figures read from one */
	CHECK(sample(t, "jobd_workers") < 0);
	free(t);
}

/* Runs promtool check metrics on text; its exit status (127: no
 * promtool), its output in out. */
static int
promtool(const char *text, char *out, size_t outlen)
{
	char in[] = "/tmp/test_metrics_XXXXXX", cmd[512];
	const char *bin = getenv("PROMTOOL") ? getenv("PROMTOOL") : "promtool";
	int fd = mkstemp(in);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s check metrics < %s 2>&1", bin, in);
	FILE *p = popen(cmd, "r");
	REQUIRE(p != NULL);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	unlink(in);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void
test_promtool(void)
{
	char out[4096];

	metrics_request(method_index("Ping"), JOBD_OK, 10000);
	char *t = render();
	int rv = promtool(t, out, sizeof(out));
	if (rv == 127)
		TEST_FAIL_("promtool not found: install Debian's prometheus "
		           "package (deploy/debian-deps.sh), or set PROMTOOL");
	else if (rv != 0 || out[0] != '\0')
		TEST_FAIL_("promtool check metrics: exit %d:\n%s", rv, out);
	free(t);
	/* and promtool does find problems (the check above can fail) */
	rv = promtool("# HELP jobd_x_bytes x\n# TYPE jobd_x_bytes counter\n"
	              "jobd_x_bytes 1\n",
	              out, sizeof(out));
	CHECK(rv != 0 && rv != 127);
}

/* other_kind last: it uses up the kind slots */
TEST_MAIN({"kinds", test_kinds}, {"requests", test_requests},
          {"writer_and_parked", test_writer_and_parked},
          {"threads", test_threads}, {"recent", test_recent},
          {"process", test_process}, {"promtool", test_promtool},
          {"other_kind", test_other_kind})

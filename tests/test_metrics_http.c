/*
 * Integration test of GET /metrics on a real jobd with --http: a known
 * workload (jobs that succeed, fail, are cancelled queued and running, one
 * left scheduled), then the page scraped with curl, checked by `promtool
 * check metrics` (required: a missing promtool fails the test), and its
 * figures compared with what Stats says over the nng front: jobs
 * submitted, ended by state and kind, jobs by state, workers, parked
 * calls, the chart's figures (finished_recent). With a token, /metrics
 * answers 401 without it.
 */
#include <pthread.h>

#include "harness.h"

#define SUCCEEDED JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED
#define FAILED    JOBD__V1__JOB_STATE__JOB_STATE_FAILED
#define CANCELLED JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED
#define RUNNING   JOBD__V1__JOB_STATE__JOB_STATE_RUNNING

#define N_OK     5 /* count: succeed */
#define N_FAIL   3 /* fail: fail, no retry */
#define N_CANCEL 2 /* sleep: one cancelled scheduled, one running */

struct page {
	int status;
	char ctype[128];
	char *body;
};

/* GET http://127.0.0.1:port/path with curl (token: sent as Bearer when
 * not NULL) into *pg; REQUIREs that curl ran. */
static void
http_get(int port, const char *path, const char *token, const char *dir,
         struct page *pg)
{
	char cmd[1024], hdr[200], body[200], line[512];
	FILE *f;

	memset(pg, 0, sizeof(*pg));
	snprintf(hdr, sizeof(hdr), "%s/headers", dir);
	snprintf(body, sizeof(body), "%s/body", dir);
	snprintf(cmd, sizeof(cmd),
	         "curl -sS --max-time 10 -D %s -o %s -w '%%{http_code}' "
	         "%s%s%s http://127.0.0.1:%d%s",
	         hdr, body, token ? "-H 'Authorization: Bearer " : "",
	         token ? token : "", token ? "'" : "", port, path);
	REQUIRE((f = popen(cmd, "r")) != NULL);
	if (fscanf(f, "%d", &pg->status) != 1)
		pg->status = -1;
	REQUIRE(pclose(f) == 0);
	if ((f = fopen(hdr, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncasecmp(line, "content-type:", 13) == 0)
				snprintf(pg->ctype, sizeof(pg->ctype), "%s",
				         line + 13 + strspn(line + 13, " "));
		fclose(f);
	}
	REQUIRE((f = fopen(body, "r")) != NULL);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	REQUIRE(n >= 0 && (pg->body = malloc((size_t) n + 1)) != NULL);
	REQUIRE(fread(pg->body, 1, (size_t) n, f) == (size_t) n);
	pg->body[n] = '\0';
	fclose(f);
}

/* promtool check metrics on the file dir/body (the last page): its exit
 * status, its output shown on failure. */
static void
promtool_ok(const char *dir)
{
	char cmd[512], out[2048];
	const char *bin = getenv("PROMTOOL") ? getenv("PROMTOOL") : "promtool";
	snprintf(cmd, sizeof(cmd), "%s check metrics < %s/body 2>&1", bin, dir);
	FILE *p = popen(cmd, "r");
	REQUIRE(p != NULL);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	int rv = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	if (rv == 127)
		TEST_FAIL_("promtool not found: install Debian's prometheus "
		           "package (deploy/debian-deps.sh), or set PROMTOOL");
	else if (rv != 0 || n > 0)
		TEST_FAIL_("promtool check metrics: exit %d:\n%s", rv, out);
}

/* The value of the sample `series` (name{labels}, exactly); -1 if none. */
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

/* The sum of the samples of metric `name` whose labels hold `has` (""
 * for all). */
static double
sum_of(const char *text, const char *name, const char *has)
{
	size_t n = strlen(name);
	double sum = 0;
	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, name, n) != 0 || p[n] != '{')
			continue;
		const char *end = strchr(p, '}');
		if (end == NULL)
			continue;
		if (*has == '\0' ||
		    (memmem(p, (size_t) (end - p), has, strlen(has)) != NULL))
			sum += strtod(end + 2, NULL);
	}
	return sum;
}

struct sub {
	const char *kind;
	const char *key, *value;
	uint64_t delay_ms;
};

static uint64_t
submit(jobd_client *c, const struct sub *s)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry ent, *ptr = &ent;
	Jobd__V1__SubmitReply *rep = NULL;

	req.kind = (char *) s->kind;
	jobd__v1__submit_request__params_entry__init(&ent);
	ent.key = (char *) s->key;
	ent.value = (char *) s->value;
	req.n_params = 1;
	req.params = &ptr;
	req.max_attempts = 1;
	req.delay_ms = s->delay_ms;
	if (jobd_submit(c, &req, &rep) != JOBD_OK)
		fprintf(stderr, "submit %s: %s\n", s->kind,
		        jobd_client_errmsg());
	REQUIRE(rep != NULL);
	uint64_t id = rep->job->id;
	jobd__v1__submit_reply__free_unpacked(rep, NULL);
	return id;
}

static int
wait_end(jobd_client *c, uint64_t id)
{
	Jobd__V1__WaitReply *w = NULL;
	REQUIRE(jobd_wait(c, id, 60000, &w) == JOBD_OK);
	int st = w->job->state;
	jobd__v1__wait_reply__free_unpacked(w, NULL);
	return st;
}

static void
cancel(jobd_client *c, uint64_t id)
{
	Jobd__V1__CancelReply *r = NULL;
	REQUIRE(jobd_cancel(c, id, &r) == JOBD_OK);
	jobd__v1__cancel_reply__free_unpacked(r, NULL);
}

static Jobd__V1__StatsReply *
stats(jobd_client *c)
{
	Jobd__V1__StatsReply *st = NULL;
	REQUIRE(jobd_stats(c, &st) == JOBD_OK);
	return st;
}

/* A jobd with --http on a free port (and the extra arguments). */
static jobd_client *
up(struct jd *d, int *port, const char *token)
{
	static char http[64];
	const char *args[] = {"--workers", "2", "--http", http, NULL};

	REQUIRE((*port = jd_free_port()) != 0);
	snprintf(http, sizeof(http), "http://127.0.0.1:%d", *port);
	REQUIRE(jd_init_in(d, "jobd-metrics") == 0);
	if (token != NULL)
		REQUIRE(jd_set_token(d, token) == 0);
	if (jd_start(d, args) != 0) {
		jd_dump_log(d);
		REQUIRE(!"jobd started");
	}
	jobd_client *c = jd_connect(d);
	REQUIRE(c != NULL);
	return c;
}

static void
test_figures(void)
{
	struct jd d;
	struct page pg;
	int port;
	jobd_client *c = up(&d, &port, NULL);
	uint64_t ids[N_OK + N_FAIL];

	/* the page before any job: valid, every figure there */
	http_get(port, "/metrics", NULL, d.dir, &pg);
	CHECK_EQ_INT(pg.status, 200);
	CHECK(strstr(pg.ctype, "text/plain") != NULL &&
	      strstr(pg.ctype, "version=0.0.4") != NULL);
	promtool_ok(d.dir);
	CHECK_EQ_INT(sample(pg.body, "jobd_jobs_submitted_total{kind=\""
	                             "count\"}"),
	             0);
	free(pg.body);

	for (int i = 0; i < N_OK; i++)
		ids[i] = submit(c, &(struct sub){"count", "n", "1000", 0});
	for (int i = 0; i < N_FAIL; i++)
		ids[N_OK + i] = submit(
		    c, &(struct sub){"fail", "message", "on purpose", 0});
	for (int i = 0; i < N_OK; i++)
		CHECK_EQ_INT(wait_end(c, ids[i]), SUCCEEDED);
	for (int i = 0; i < N_FAIL; i++)
		CHECK_EQ_INT(wait_end(c, ids[N_OK + i]), FAILED);
	/* cancelled while scheduled (never ran), and while running */
	uint64_t later = submit(c, &(struct sub){"sleep", "ms", "1", 3600000});
	cancel(c, later);
	CHECK_EQ_INT(wait_end(c, later), CANCELLED);
	cancel(c, later); /* again, once it has ended: counted once */
	uint64_t running = submit(c, &(struct sub){"sleep", "ms", "60000", 0});
	for (int i = 0; i < 500 && state_of(c, running) != RUNNING; i++)
		usleep(10000);
	REQUIRE(state_of(c, running) == RUNNING);
	cancel(c, running);
	CHECK_EQ_INT(wait_end(c, running), CANCELLED);
	/* and one left scheduled */
	submit(c, &(struct sub){"sleep", "ms", "1", 3600000});

	/* On PostgreSQL a Wait can be answered from the database (the
	 * listener saw the end's NOTIFY) a moment before the writer thread
	 * that committed the end counts it: wait for the counters first */
	for (int i = 0; i < 200; i++) {
		http_get(port, "/metrics", NULL, d.dir, &pg);
		double ended = sum_of(pg.body, "jobd_jobs_finished_total", "");
		free(pg.body);
		if (ended >= N_OK + N_FAIL + N_CANCEL)
			break;
		usleep(10000);
	}
	Jobd__V1__StatsReply *st = stats(c);
	http_get(port, "/metrics", NULL, d.dir, &pg);
	CHECK_EQ_INT(pg.status, 200);
	promtool_ok(d.dir);
	const char *t = pg.body;

	/* the known workload */
	CHECK_EQ_INT(sample(t, "jobd_jobs_submitted_total{kind=\"count\"}"),
	             N_OK);
	CHECK_EQ_INT(sample(t, "jobd_jobs_submitted_total{kind=\"fail\"}"),
	             N_FAIL);
	CHECK_EQ_INT(sample(t, "jobd_jobs_submitted_total{kind=\"sleep\"}"),
	             N_CANCEL + 1);
	CHECK_EQ_INT(sample(t, "jobd_jobs_finished_total{kind=\"count\","
	                       "state=\"succeeded\"}"),
	             N_OK);
	CHECK_EQ_INT(sample(t, "jobd_jobs_finished_total{kind=\"fail\","
	                       "state=\"failed\"}"),
	             N_FAIL);
	CHECK_EQ_INT(sample(t, "jobd_jobs_finished_total{kind=\"sleep\","
	                       "state=\"cancelled\"}"),
	             N_CANCEL);
	CHECK_EQ_INT(sample(t, "jobd_job_run_duration_seconds_count{kind="
	                       "\"count\"}"),
	             N_OK);
	CHECK_EQ_INT(sample(t, "jobd_job_run_duration_seconds_count{kind="
	                       "\"fail\"}"),
	             N_FAIL);
	/* only the running one ran */
	CHECK_EQ_INT(sample(t, "jobd_job_run_duration_seconds_count{kind="
	                       "\"sleep\"}"),
	             1);
	CHECK_EQ_INT(sample(t, "jobd_job_queued_seconds_count{kind=\"count\"}"),
	             N_OK);
	/* a kind defined but never used is there, at 0 */
	CHECK_EQ_INT(sample(t, "jobd_jobs_submitted_total{kind=\"primes\"}"),
	             0);

	/* the same figures as Stats */
	CHECK_EQ_INT(sum_of(t, "jobd_jobs_submitted_total", ""), st->submitted);
	CHECK_EQ_INT(
	    sum_of(t, "jobd_jobs_finished_total", "state=\"succeeded\""),
	    st->succeeded);
	CHECK_EQ_INT(sum_of(t, "jobd_jobs_finished_total", "state=\"failed\""),
	             st->failed);
	CHECK_EQ_INT(
	    sum_of(t, "jobd_jobs_finished_total", "state=\"cancelled\""),
	    st->cancelled);
	CHECK_EQ_INT(sample(t, "jobd_jobs{state=\"queued\"}"), st->queued);
	CHECK_EQ_INT(sample(t, "jobd_jobs{state=\"running\"}"), st->running);
	CHECK_EQ_INT(sample(t, "jobd_jobs{state=\"succeeded\"}"),
	             st->succeeded);
	CHECK_EQ_INT(sample(t, "jobd_jobs{state=\"failed\"}"), st->failed);
	CHECK_EQ_INT(sample(t, "jobd_jobs{state=\"cancelled\"}"),
	             st->cancelled);
	CHECK_EQ_INT(sample(t, "jobd_jobs{state=\"scheduled\"}"),
	             st->scheduled);
	CHECK_EQ_INT(st->scheduled, 1);
	CHECK_EQ_INT(sample(t, "jobd_workers"), st->workers);
	CHECK_EQ_INT(sample(t, "jobd_workers_busy"), st->busy_workers);
	CHECK_EQ_INT(sample(t, "jobd_parked_calls"), st->parked_calls);
	/* every job ended within the last steps */
	CHECK_EQ_INT(st->n_finished_recent, 60);
	CHECK_EQ_INT(st->finished_recent_step_ms, 10000);
	uint64_t recent = 0;
	for (size_t i = 0; i < st->n_finished_recent; i++)
		recent += st->finished_recent[i];
	CHECK_EQ_INT(recent, N_OK + N_FAIL + N_CANCEL);

	/* the fronts, the writer, the process */
	CHECK(sample(t, "jobd_replies_total{method=\"Submit\",code=\"OK\"}") >=
	      N_OK + N_FAIL + N_CANCEL + 1);
	CHECK(sample(t, "jobd_replies_total{method=\"Stats\",code=\"OK\"}") >=
	      1);
	CHECK(sample(t, "jobd_request_duration_seconds_count{method="
	                "\"Wait\"}") >= N_OK + N_FAIL + N_CANCEL);
	CHECK(sample(t, "jobd_commit_batch_size_count") >= 1);
	CHECK_EQ_INT(sample(t, "jobd_commit_batch_size_count"),
	             sample(t, "jobd_commit_duration_seconds_count"));
	CHECK_EQ_INT(sample(t, "jobd_write_failures_total"), 0);
	CHECK(sample(t, "jobd_database_size_bytes") > 0);
	CHECK(sample(t, "process_resident_memory_bytes") > 0);
	CHECK(sample(t, "process_open_fds") > 0);
	CHECK(sample(t, "process_cpu_seconds_total") >= 0);
	double start = sample(t, "process_start_time_seconds");
	CHECK(start > (double) time(NULL) - 600 && start <= time(NULL) + 1);
	/* never a job id */
	CHECK(strstr(t, "id=") == NULL);
	free(pg.body);
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	jd_down(&d, c);
}

struct waiter_arg {
	jobd_client *c;
	uint64_t id;
	int rv;
};

static void *
park_wait(void *arg)
{
	struct waiter_arg *a = arg;
	Jobd__V1__WaitReply *w = NULL;
	a->rv = jobd_wait(a->c, a->id, 60000, &w);
	if (w != NULL)
		jobd__v1__wait_reply__free_unpacked(w, NULL);
	return NULL;
}

/* A parked Wait shows in jobd_parked_calls as in Stats, and leaves it. */
static void
test_parked(void)
{
	struct jd d;
	struct page pg;
	int port;
	jobd_client *c = up(&d, &port, NULL);
	jobd_client *c2 = jd_connect(&d);
	REQUIRE(c2 != NULL);
	uint64_t id = submit(c, &(struct sub){"sleep", "ms", "60000", 0});
	struct waiter_arg a = {c2, id, -1};
	pthread_t th;
	REQUIRE(pthread_create(&th, NULL, park_wait, &a) == 0);

	Jobd__V1__StatsReply *st = NULL;
	for (int i = 0; i < 500; i++) {
		st = stats(c);
		if (st->parked_calls == 1)
			break;
		jobd__v1__stats_reply__free_unpacked(st, NULL);
		st = NULL;
		usleep(10000);
	}
	REQUIRE(st != NULL);
	http_get(port, "/metrics", NULL, d.dir, &pg);
	CHECK_EQ_INT(sample(pg.body, "jobd_parked_calls"), 1);
	free(pg.body);
	jobd__v1__stats_reply__free_unpacked(st, NULL);

	cancel(c, id);
	pthread_join(th, NULL);
	CHECK_EQ_INT(a.rv, JOBD_OK);
	http_get(port, "/metrics", NULL, d.dir, &pg);
	CHECK_EQ_INT(sample(pg.body, "jobd_parked_calls"), 0);
	free(pg.body);
	jobd_client_close(c2);
	jd_down(&d, c);
}

/* With a token, /metrics needs it. */
static void
test_token(void)
{
	struct jd d;
	struct page pg;
	int port;
	jobd_client *c = up(&d, &port, "metrics-secret-token");

	http_get(port, "/metrics", NULL, d.dir, &pg);
	CHECK_EQ_INT(pg.status, 401);
	CHECK(strstr(pg.body, "jobd_") == NULL);
	free(pg.body);
	http_get(port, "/metrics", "wrong-token", d.dir, &pg);
	CHECK_EQ_INT(pg.status, 401);
	free(pg.body);
	http_get(port, "/metrics", "metrics-secret-token", d.dir, &pg);
	CHECK_EQ_INT(pg.status, 200);
	CHECK(sample(pg.body, "jobd_workers") == 2);
	promtool_ok(d.dir);
	free(pg.body);
	jd_down(&d, c);
}

TEST_MAIN({"figures", test_figures}, {"parked", test_parked},
          {"token", test_token})

/*
 * Periodic jobs through a real jobd: *.schedule files in its --kinds-dir.
 * Three `every 2s` schedules of the built-in kind sleep, one per catch-up
 * rule (one, all, none), run together:
 *  - their jobs appear with keys "schedule:NAME:TIME", TIME on the 2 s
 *    grid of the epoch, and more of them as time goes by;
 *  - a SIGKILL and an immediate restart make no second job for any firing
 *    (each key once, one job per firing time), and `all` leaves no gap;
 *  - a stop of more than 3 periods: `one` makes exactly one job for the
 *    missed firings, the latest, and logs how many were missed; `all`
 *    makes each of them (no gap); `none` makes none and logs that;
 *  - SIGHUP with a bad schedule file keeps the schedules in use and logs
 *    PATH:LINE.
 * Bounds are generous (behaviour, not speed): the counts that depend on
 * time are read from what jobd logged, not guessed from the clock.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"

#define PERIOD 2
#define MAXJ   512

static struct jd d;
static char kdir[160];

static void
put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", kdir, name);
	REQUIRE((f = fopen(path, "w")) != NULL);
	fputs(text, f);
	fclose(f);
}

static int64_t
wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* "YYYY-MM-DDTHH:MM:SSZ" -> Unix seconds; -1 if it is not one. */
static int64_t
parse_time(const char *s)
{
	struct tm tm = {0};
	char z = 0;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon,
	           &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) != 7 ||
	    z != 'Z')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t) timegm(&tm);
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
	return (x > y) - (x < y);
}

/* The firing times of schedule `name`'s jobs, ascending, into t; how
 * many. Each job's key must be well formed, on the grid, and once. */
static int period = PERIOD; /* of the schedules of the test running */

static size_t
firings(jobd_client *c, const char *name, int64_t *t)
{
	Jobd__V1__ListRequest req = JOBD__V1__LIST_REQUEST__INIT;
	Jobd__V1__ListReply *rep;
	char prefix[80];
	size_t n = 0;

	snprintf(prefix, sizeof(prefix), "schedule:%s:", name);
	req.limit = 1000;
	do {
		REQUIRE(jobd_list(c, &req, &rep) == JOBD_OK);
		for (size_t i = 0; i < rep->n_jobs; i++) {
			const char *k = rep->jobs[i]->idempotency_key;
			if (strncmp(k, prefix, strlen(prefix)) != 0)
				continue;
			int64_t at = parse_time(k + strlen(prefix));
			CHECK(at > 0);
			CHECK(at % period == 0);
			CHECK_EQ_STR(rep->jobs[i]->kind, "sleep");
			if (n < MAXJ)
				t[n++] = at;
		}
		req.cursor = rep->next_cursor;
		jobd__v1__list_reply__free_unpacked(rep, NULL);
	} while (req.cursor != 0);
	qsort(t, n, sizeof(*t), cmp64);
	for (size_t i = 1; i < n; i++)
		if (t[i] == t[i - 1])
			TEST_FAIL_("schedule %s: two jobs for the firing %lld",
			           name, (long long) t[i]);
	return n;
}

/* No firing of the grid missing between the first and the last. */
static void
check_no_gap(const char *name, const int64_t *t, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (t[i] != t[i - 1] + PERIOD)
			TEST_FAIL_(
			    "schedule %s: no job for the firings between "
			    "%lld and %lld",
			    name, (long long) t[i - 1], (long long) t[i]);
}

/* Waits up to ms for `name` to have at least `want` jobs. */
static size_t
wait_firings(jobd_client *c, const char *name, size_t want, int ms, int64_t *t)
{
	size_t n = 0;
	for (int64_t end = h_now_ms() + ms; h_now_ms() < end;) {
		if ((n = firings(c, name, t)) >= want)
			break;
		usleep(200000);
	}
	return n;
}

/* The log line of schedule `name` that holds `what` (the last one), into
 * line; false if none. */
static bool
log_line(const char *name, const char *what, char *line, size_t len)
{
	char buf[1024], head[96];
	bool found = false;
	FILE *f = fopen(d.log, "r");

	if (f == NULL)
		return false;
	snprintf(head, sizeof(head), "schedule %s: ", name);
	while (fgets(buf, sizeof(buf), f) != NULL)
		if (strstr(buf, head) != NULL && strstr(buf, what) != NULL) {
			snprintf(line, len, "%s", buf);
			found = true;
		}
	fclose(f);
	return found;
}

static int64_t t1[MAXJ], t2[MAXJ];

static void
test_periodic(void)
{
	static const char *const names[] = {"one", "all", "none"};
	const char *args[] = {"--kinds-dir", kdir, "--grace", "1s", NULL};
	jobd_client *c;
	size_t n;

	REQUIRE(jd_init_in(&d, "jobd-periodic") == 0);
	snprintf(kdir, sizeof(kdir), "%s/kinds", d.dir);
	REQUIRE(mkdir(kdir, 0700) == 0);
	for (int i = 0; i < 3; i++) {
		char text[256], file[64];
		snprintf(text, sizeof(text),
		         "[schedule]\nkind = sleep\nevery = %ds\n"
		         "catch_up = %s\n[params]\nms = 1\n",
		         PERIOD, names[i]);
		snprintf(file, sizeof(file), "%s.schedule", names[i]);
		put(file, text);
	}
	REQUIRE(jd_start(&d, args) == 0);
	REQUIRE((c = jd_connect(&d)) != NULL);

	/* 1. firings every 2 s, with their keys */
	int64_t started = wall_s();
	for (int i = 0; i < 3; i++) {
		n = wait_firings(c, names[i], 3, 20000, t1);
		CHECK(n >= 3);
		if (n > 0)
			CHECK(t1[0] >= started - PERIOD);
		check_no_gap(names[i], t1, n);
		char line[1024];
		CHECK(log_line(names[i], "never fired before", line,
		               sizeof(line)));
	}
	/* the Schedules call: each, by name, with its last firing */
	Jobd__V1__SchedulesReply *sr = NULL;
	REQUIRE(jobd_schedules(c, &sr) == JOBD_OK);
	CHECK_EQ_INT(sr->n_schedules, 3);
	for (size_t i = 0; i < sr->n_schedules && i < 3; i++) {
		const Jobd__V1__Schedule *m = sr->schedules[i];
		/* sorted by name: all, none, one */
		static const char *const sorted[] = {"all", "none", "one"};
		CHECK_EQ_STR(m->name, sorted[i]);
		CHECK_EQ_STR(m->kind, "sleep");
		CHECK_EQ_STR(m->spec, "every 2s");
		CHECK(m->n_params == 1 && strcmp(m->params[0]->key, "ms") == 0);
		CHECK(m->next_at_ms > m->last_at_ms && m->last_at_ms > 0);
		CHECK(m->last_job_id > 0);
		CHECK(strstr(m->source, ".schedule") != NULL);
	}
	jobd__v1__schedules_reply__free_unpacked(sr, NULL);
	jobd_client_close(c);

	/* 2. SIGKILL, and a restart at once: no firing makes two jobs */
	jd_kill(&d, SIGKILL);
	REQUIRE(jd_start(&d, args) == 0);
	REQUIRE((c = jd_connect(&d)) != NULL);
	size_t before = firings(c, "all", t1);
	n = wait_firings(c, "all", before + 2, 20000, t1);
	CHECK(n >= before + 2);
	check_no_gap("all", t1, n);
	for (int i = 0; i < 3; i++)
		(void) firings(c, names[i], t1); /* each firing once */
	jobd_client_close(c);

	/* 3. stopped for more than 3 periods */
	int st = jd_stop(&d);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	usleep((4 * PERIOD + 1) * 1000000);
	REQUIRE(jd_start(&d, args) == 0);
	REQUIRE((c = jd_connect(&d)) != NULL);
	/* each has made what the catch-up makes, and one firing after */
	for (int i = 0; i < 3; i++) {
		char line[1024], *p;
		unsigned long long missed = 0;
		int64_t latest = -1, last_before = -1;
		if (!log_line(names[i], "while jobd was not running", line,
		              sizeof(line))) {
			TEST_FAIL_("schedule %s: no catch-up logged", names[i]);
			continue;
		}
		CHECK(sscanf(strstr(line, ": ") + 2, "%llu firings", &missed) ==
		      1);
		CHECK(missed >= 3);
		if ((p = strstr(line, "after ")) != NULL)
			last_before = parse_time(p + 6);
		if ((p = strstr(line, " up to ")) != NULL)
			latest = parse_time(p + 7);
		CHECK(last_before > 0 && latest > last_before);
		CHECK_EQ_INT((latest - last_before) / PERIOD,
		             (long long) missed);
		n = 0;
		/* wait for one regular firing after the catch-up */
		for (int64_t end = h_now_ms() + 20000; h_now_ms() < end;) {
			n = firings(c, names[i], t2);
			if (n > 0 && t2[n - 1] > latest)
				break;
			usleep(200000);
		}
		size_t in_window = 0;
		for (size_t k = 0; k < n; k++)
			in_window += t2[k] > last_before && t2[k] <= latest;
		if (strcmp(names[i], "one") == 0) {
			CHECK(strstr(line,
			             "catch_up one: making the last one, of") !=
			      NULL);
			CHECK_EQ_INT(in_window, 1);
			bool has_latest = false;
			for (size_t k = 0; k < n; k++)
				has_latest |= t2[k] == latest;
			CHECK(has_latest);
		} else if (strcmp(names[i], "all") == 0) {
			CHECK(strstr(line, "catch_up all: making each now") !=
			      NULL);
			CHECK_EQ_INT(in_window, missed);
			check_no_gap("all", t2, n);
		} else {
			CHECK(strstr(line, "catch_up none: skipped") != NULL);
			CHECK_EQ_INT(in_window, 0);
		}
		CHECK(n > 0 && t2[n - 1] > latest); /* and it goes on */
	}

	/* 4. SIGHUP with a bad schedule file: the schedules in use stay */
	put("bad.schedule", "[schedule]\nkind = sleep\nevery = 0s\n"
	                    "[params]\nms = 1\n");
	kill(d.pid, SIGHUP);
	char want[256];
	snprintf(want, sizeof(want), "%s/bad.schedule:3: every: '0s'", kdir);
	int seen = 0;
	for (int64_t end = h_now_ms() + 10000; h_now_ms() < end && seen == 0;
	     usleep(100000))
		seen = jd_count_lines(d.log, want);
	CHECK(seen == 1);
	CHECK(jd_count_lines(d.log, "the kinds and schedules in use stay") ==
	      1);
	before = firings(c, "one", t1);
	n = wait_firings(c, "one", before + 1, 20000, t1);
	CHECK(n >= before + 1);
	/* fixed: read again, and a new one starts */
	put("bad.schedule", "[schedule]\nkind = sleep\nevery = 2s\n"
	                    "[params]\nms = 1\n");
	kill(d.pid, SIGHUP);
	n = wait_firings(c, "bad", 1, 20000, t1);
	CHECK(n >= 1);
	jd_down(&d, c);
}

/* Cancels every queued job; how many. */
static int
cancel_queued(jobd_client *c)
{
	Jobd__V1__ListRequest req = JOBD__V1__LIST_REQUEST__INIT;
	Jobd__V1__ListReply *rep;
	int n = 0;

	req.state = JOBD__V1__JOB_STATE__JOB_STATE_QUEUED;
	req.limit = 1000;
	REQUIRE(jobd_list(c, &req, &rep) == JOBD_OK);
	for (size_t i = 0; i < rep->n_jobs; i++) {
		Jobd__V1__CancelReply *cr;
		if (jobd_cancel(c, rep->jobs[i]->id, &cr) == JOBD_OK) {
			jobd__v1__cancel_reply__free_unpacked(cr, NULL);
			n++;
		}
	}
	jobd__v1__list_reply__free_unpacked(rep, NULL);
	return n;
}

/*
 * A firing refused (the queue is full: no workers, --max-queue 2) is
 * logged and made again, with its own key, once there is room: never
 * dropped.
 */
static void
test_refused(void)
{
	const char *args[] = {"--kinds-dir", kdir, "--workers", "0",
	                      "--max-queue", "2",  NULL};
	char line[1024], *p;
	jobd_client *c;
	int64_t refused = -1;

	period = 1;
	REQUIRE(jd_init_in(&d, "jobd-periodic") == 0);
	snprintf(kdir, sizeof(kdir), "%s/kinds", d.dir);
	REQUIRE(mkdir(kdir, 0700) == 0);
	put("q.schedule", "[schedule]\nkind = sleep\nevery = 1s\n"
	                  "catch_up = none\n[params]\nms = 1\n");
	REQUIRE(jd_start(&d, args) == 0);
	REQUIRE((c = jd_connect(&d)) != NULL);
	for (int64_t end = h_now_ms() + 20000; h_now_ms() < end && refused < 0;
	     usleep(100000))
		if (log_line("q", "was refused (queue is full", line,
		             sizeof(line)) &&
		    (p = strstr(line, "the firing of ")) != NULL)
			refused = parse_time(p + 14);
	REQUIRE(refused > 0);
	CHECK(strstr(line, "trying again in") != NULL);
	/* still refused a while later: the same firing, not a newer one */
	usleep(1500000);
	CHECK(log_line("q", "was refused", line, sizeof(line)));
	CHECK((p = strstr(line, "the firing of ")) != NULL &&
	      parse_time(p + 14) == refused);
	CHECK(cancel_queued(c) == 2);
	bool made = false;
	for (int64_t end = h_now_ms() + 20000; h_now_ms() < end && !made;
	     usleep(100000)) {
		size_t n = firings(c, "q", t1);
		for (size_t k = 0; k < n; k++)
			made |= t1[k] == refused;
	}
	CHECK(made);
	cancel_queued(c);
	jd_down(&d, c);
}

TEST_MAIN({"periodic", test_periodic}, {"refused", test_refused})

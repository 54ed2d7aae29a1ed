/*
 * jobctl_print: jobs and kinds as jobctl prints them, as text for people
 * and as JSON (one object per line) for programs.
 *
 * Replies are untrusted: every string from the daemon goes through
 * ctl_tx() for a terminal, every optional submessage is checked, and times
 * are compared without overflow. JSON is the reply's proto message in
 * protobuf's canonical JSON mapping, by common/pbjson (the HTTP gateway's
 * too): lowerCamelCase names, 64-bit integers and times (Unix ms) as
 * decimal strings, states by their enum name, bytes (a result) as base64;
 * jansson escapes what it must and replaces invalid UTF-8.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jobctl.h"
#include "jobctl_time.h"
#include "pbjson.h"

const char *
ctl_state_name(int st)
{
	switch (st) {
	case JOBD__V1__JOB_STATE__JOB_STATE_QUEUED:
		return ("queued");
	case JOBD__V1__JOB_STATE__JOB_STATE_RUNNING:
		return ("running");
	case JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED:
		return ("succeeded");
	case JOBD__V1__JOB_STATE__JOB_STATE_FAILED:
		return ("failed");
	case JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED:
		return ("cancelled");
	case JOBD__V1__JOB_STATE__JOB_STATE_SCHEDULED:
		return ("scheduled");
	default:
		return ("unknown");
	}
}

bool
ctl_state_ended(int st)
{
	return (st == JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED ||
	        st == JOBD__V1__JOB_STATE__JOB_STATE_FAILED ||
	        st == JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED);
}

int
ctl_parse_state(const char *s)
{
	for (int st = JOBD__V1__JOB_STATE__JOB_STATE_QUEUED;
	     st <= JOBD__V1__JOB_STATE__JOB_STATE_SCHEDULED; st++) {
		if (strcmp(s, ctl_state_name(st)) == 0)
			return (st);
	}
	return (-1);
}

/* A string from the daemon, safe to print on a terminal: control characters
 * become '?'. Changes s in place (the reply is ours); NULL is "". */
const char *
ctl_tx(char *s)
{
	if (s == NULL)
		return ("");
	for (char *p = s; *p != '\0'; p++) {
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return (s);
}

int64_t
ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* A duration for people: 850ms, 3.2s, 12s, 4m05s, 2h03m, 3d04h. */
void
ctl_fmt_dur(char *buf, size_t n, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		snprintf(buf, n, "%" PRId64 "ms", ms);
	else if (ms < 10000)
		snprintf(buf, n, "%" PRId64 ".%" PRId64 "s", ms / 1000,
		         ms % 1000 / 100);
	else if (ms < 60000)
		snprintf(buf, n, "%" PRId64 "s", ms / 1000);
	else if (ms < 3600000)
		snprintf(buf, n, "%" PRId64 "m%02" PRId64 "s", ms / 60000,
		         ms / 1000 % 60);
	else if (ms < 86400000)
		snprintf(buf, n, "%" PRId64 "h%02" PRId64 "m", ms / 3600000,
		         ms / 60000 % 60);
	else
		snprintf(buf, n, "%" PRId64 "d%02" PRId64 "h", ms / 86400000,
		         ms / 3600000 % 24);
}

/* A difference of two Unix-ms times, without overflow on hostile ones. */
int64_t
ctl_diff_ms(int64_t a, int64_t b)
{
	if (b < 0 || a < b)
		return (0);
	return (a - b);
}

/* "queued 12s", "running 3.2s", "took 2.1s", "after 5s" (ended unstarted),
 * "runs in 4m59s" (scheduled). */
void
ctl_fmt_age(char *buf, size_t n, const Jobd__V1__Job *j, int64_t now)
{
	char d[32];

	switch (j->state) {
	case JOBD__V1__JOB_STATE__JOB_STATE_QUEUED:
		ctl_fmt_dur(d, sizeof(d), ctl_diff_ms(now, j->created_at_ms));
		snprintf(buf, n, "queued %s", d);
		break;
	case JOBD__V1__JOB_STATE__JOB_STATE_RUNNING:
		ctl_fmt_dur(d, sizeof(d),
		            ctl_diff_ms(now, j->started_at_ms != 0
		                                 ? j->started_at_ms
		                                 : j->created_at_ms));
		snprintf(buf, n, "running %s", d);
		break;
	case JOBD__V1__JOB_STATE__JOB_STATE_SCHEDULED:
		if (j->run_at_ms > now) {
			ctl_fmt_dur(d, sizeof(d),
			            ctl_diff_ms(j->run_at_ms, now));
			snprintf(buf, n, "runs in %s", d);
		} else {
			snprintf(buf, n, "due now");
		}
		break;
	default:
		if (!ctl_state_ended(j->state) || j->finished_at_ms == 0) {
			snprintf(buf, n, "-");
		} else if (j->started_at_ms != 0) {
			ctl_fmt_dur(
			    d, sizeof(d),
			    ctl_diff_ms(j->finished_at_ms, j->started_at_ms));
			snprintf(buf, n, "took %s", d);
		} else {
			ctl_fmt_dur(
			    d, sizeof(d),
			    ctl_diff_ms(j->finished_at_ms, j->created_at_ms));
			snprintf(buf, n, "after %s", d);
		}
		break;
	}
}

int
ctl_percent(const Jobd__V1__Job *j)
{
	double p;

	if (j->progress_total == 0)
		return (j->state == JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED
		            ? 100
		            : 0);
	if (j->progress_done >= j->progress_total)
		return (100);
	p = (double) j->progress_done * 100.0 / (double) j->progress_total;
	return (p >= 99.0 ? 99 : (int) p);
}

/* "42  running  37%  count  running 3.2s"; for a queued job that
 * something holds, "  (waiting: kind 'x' is not defined; ...)"; for a
 * scheduled one, "  (at 2026-12-06T11:00:00+01:00)" in local time; for a
 * failed or cancelled one, "  error: MESSAGE" (list --state failed is the
 * dead-letter view). */
void
ctl_print_job_line(Jobd__V1__Job *j, int64_t now)
{
	char age[64];

	ctl_fmt_age(age, sizeof(age), j, now);
	printf("%" PRIu64 "  %s  %d%%  %s  %s", j->id, ctl_state_name(j->state),
	       ctl_percent(j), ctl_tx(j->kind), age);
	if (j->waiting != NULL && *j->waiting != '\0')
		printf("  (waiting: %s)", ctl_tx(j->waiting));
	if (j->state == JOBD__V1__JOB_STATE__JOB_STATE_SCHEDULED &&
	    j->run_at_ms != 0) {
		ctl_fmt_time(age, sizeof(age), j->run_at_ms, false);
		printf("  (at %s)", age);
	}
	if ((j->state == JOBD__V1__JOB_STATE__JOB_STATE_FAILED ||
	     j->state == JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED) &&
	    j->error != NULL && *j->error != '\0')
		printf("  error: %s", ctl_tx(j->error));
	putchar('\n');
}

/* "T (UTC)" of Unix ms, for the detail lines. */
static void
print_time(const char *label, int64_t ms)
{
	char local[48];
	char utc[48];

	ctl_fmt_time(local, sizeof(local), ms, false);
	ctl_fmt_time(utc, sizeof(utc), ms, true);
	printf("  %s: %s (%s)\n", label, local, utc);
}

void
ctl_print_job_detail(Jobd__V1__Job *j)
{
	char a[48];
	char b[48];

	if (j->run_at_ms != 0)
		print_time("run at", j->run_at_ms);
	if (j->after != NULL && j->n_after > 0) {
		printf("  after:");
		for (size_t i = 0; i < j->n_after; i++)
			printf("%s %" PRIu64, i > 0 ? "," : "", j->after[i]);
		putchar('\n');
	}
	if (j->unique_key != NULL && *j->unique_key != '\0')
		printf("  unique key: %s\n", ctl_tx(j->unique_key));
	if (j->reruns > 0)
		printf("  reruns: %" PRIu32 "\n", j->reruns);
	for (size_t i = 0; j->history != NULL && i < j->n_history; i++) {
		Jobd__V1__Run *r = j->history[i];
		if (r == NULL)
			continue;
		if (r->started_at_ms != 0)
			ctl_fmt_time(a, sizeof(a), r->started_at_ms, false);
		else
			snprintf(a, sizeof(a), "never started");
		if (r->finished_at_ms != 0)
			ctl_fmt_time(b, sizeof(b), r->finished_at_ms, false);
		else
			snprintf(b, sizeof(b), "-");
		printf("  run %zu: %s after %" PRIu32 " attempt%s, %s .. %s",
		       i + 1, ctl_state_name(r->state), r->attempts,
		       r->attempts == 1 ? "" : "s", a, b);
		if (r->error != NULL && *r->error != '\0')
			printf(": %s", ctl_tx(r->error));
		putchar('\n');
	}
}

/* Writes obj (its reference taken) as one line of compact JSON; 0, or
 * EXIT_OTHER (said) when out of memory. flags: jansson's, added. */
int
ctl_json_put(json_t *obj, size_t flags)
{
	int rc = 0;

	if (obj == NULL || json_dumpf(obj, stdout, JSON_COMPACT | flags) != 0) {
		ctl_errorf("out of memory");
		rc = EXIT_OTHER;
	} else {
		putchar('\n');
	}
	json_decref(obj);
	return rc;
}

int
ctl_json_msg(const ProtobufCMessage *m)
{
	return ctl_json_put(pbjson_encode(m), 0);
}

static const char *
param_type(int t)
{
	switch (t) {
	case JOBD__V1__PARAM__TYPE__TYPE_INT:
		return ("int");
	case JOBD__V1__PARAM__TYPE__TYPE_STRING:
		return ("string");
	case JOBD__V1__PARAM__TYPE__TYPE_BOOL:
		return ("bool");
	case JOBD__V1__PARAM__TYPE__TYPE_CHOICE:
		return ("choice");
	default:
		return ("unknown");
	}
}

void
ctl_print_kind(Jobd__V1__Kind *k)
{
	printf("%s: %s\n", ctl_tx(k->name), ctl_tx(k->description));
	printf("  from: %s", ctl_tx(k->origin));
	if (k->source != NULL && *k->source != '\0')
		printf(" %s", ctl_tx(k->source));
	if (k->concurrency > 0)
		printf("; at most %" PRIu32 " at once", k->concurrency);
	putchar('\n');
	if (k->paused)
		printf("  paused: its queued jobs wait (jobctl resume %s)\n",
		       ctl_tx(k->name));
	for (size_t i = 0; k->params != NULL && i < k->n_params; i++) {
		Jobd__V1__Param *p = k->params[i];
		if (p == NULL)
			continue;
		printf("  %s (%s", ctl_tx(p->name), param_type(p->type));
		if (p->required)
			printf(", required");
		else
			printf(", default '%s'", ctl_tx(p->default_value));
		if (p->type == JOBD__V1__PARAM__TYPE__TYPE_INT)
			printf(", %" PRId64 "..%" PRId64, p->min, p->max);
		else if (p->type == JOBD__V1__PARAM__TYPE__TYPE_STRING)
			printf(", at most %" PRId64 " bytes", p->max);
		for (size_t c = 0; p->choices != NULL && c < p->n_choices; c++)
			printf("%s%s", c == 0 ? ", one of: " : " ",
			       ctl_tx(p->choices[c]));
		printf(")");
		if (p->description != NULL && *p->description != '\0')
			printf(": %s", ctl_tx(p->description));
		putchar('\n');
	}
	if (k->uses_input)
		printf("  takes input (--input FILE), at most %" PRIu32
		       " bytes\n",
		       k->max_input);
}

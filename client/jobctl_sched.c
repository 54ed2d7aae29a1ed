/*
 * jobctl_sched: jobctl's commands for what a job queue does besides run
 * jobs now: rerun a job that failed (retry), hold a kind (pause, resume),
 * show the periodic jobs (schedules); and submit's options for a job that
 * runs later (--at TIME, --in DURATION) or after others (--after ID,...).
 *
 * Each command checks all its arguments before it connects, as every
 * jobctl command does: a TIME, DURATION or id list that does not parse is
 * a usage error (exit 2) with the reason, and no call is made. What only
 * the daemon can know (a job that does not exist, a kind that is not
 * defined, a time too far ahead) comes back as its status code and
 * message, printed as for any call.
 *
 * Pause and resume are idempotent and say whether they changed anything,
 * so a script can run them again; retry is not (see jobd_client.c).
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobctl.h"
#include "jobctl_time.h"

/* ---- submit's options ---- */

int
ctl_opt_at(const struct cmd *cmd, const char *val, int64_t *ms)
{
	ctl_time_err why;

	if (!ctl_parse_time(val, ms, &why))
		return ctl_usage_error(cmd, "invalid --at '%s': %s", val, why);
	return 0;
}

int
ctl_opt_in(const struct cmd *cmd, const char *val, uint64_t *ms)
{
	ctl_time_err why;

	if (!ctl_parse_duration(val, ms, &why))
		return ctl_usage_error(cmd, "invalid --in '%s': %s", val, why);
	return 0;
}

int
ctl_opt_after(const struct cmd *cmd, const char *val, uint64_t **ids, size_t *n)
{
	const char *p = val;
	uint64_t *nids;
	char buf[32];

	do {
		size_t len = strcspn(p, ",");
		uint64_t id;

		if (len == 0 || len >= sizeof(buf))
			goto bad;
		memcpy(buf, p, len);
		buf[len] = '\0';
		if (!ctl_parse_id(buf, &id))
			goto bad;
		if ((nids = realloc(*ids, (*n + 1) * sizeof(**ids))) == NULL) {
			ctl_errorf("out of memory");
			return EXIT_OTHER;
		}
		*ids = nids;
		(*ids)[(*n)++] = id;
		p += len;
	} while (*p++ == ',');
	return 0;
bad:
	return ctl_usage_error(cmd,
	                       "invalid --after '%s' (expected job ids "
	                       "separated by commas, like 12,13)",
	                       val);
}

/* ---- retry ---- */

int
ctl_cmd_retry(struct jobctl *g, int argc, char **argv)
{
	Jobd__V1__RetryReply *rep;
	Jobd__V1__Job *j;
	uint64_t id;
	int rc;
	int rv;

	if ((rc = ctl_parse_one_id(g, argc, argv, &id, NULL)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = ctl_connect(g)) != 0)
		return rc;
	if ((rv = jobd_retry(g->client, id, &rep)) != JOBD_OK)
		return ctl_call_failed(rv, "retry job %" PRIu64, id);
	if ((j = rep->job) == NULL) {
		rc = ctl_malformed("retry job %" PRIu64
		                   " failed: malformed reply: no job",
		                   id);
	} else if (g->json) {
		rc = ctl_json_msg(&j->base);
	} else {
		/* "42 queued again (rerun 1)", and what holds it if anything */
		printf("%" PRIu64 " %s again (rerun %" PRIu32 ")", id,
		       ctl_state_name(j->state), j->reruns);
		if (j->waiting != NULL && *j->waiting != '\0')
			printf("  (waiting: %s)", ctl_tx(j->waiting));
		putchar('\n');
	}
	jobd__v1__retry_reply__free_unpacked(rep, NULL);
	return rc;
}

/* ---- pause, resume ---- */

/* KIND and the common options; 0, -1 after --help, or an exit status. */
static int
parse_kind(struct jobctl *g, int argc, char **argv, const char **kind)
{
	static const struct optspec opts[] = {COMMON_OPTS, {NULL, false}};
	struct parser p = {argc, argv, 1, false, false, NULL, g->cmd};
	int k, stop;

	*kind = NULL;
	while ((k = ctl_next_cmd_opt(g, &p, opts, &stop)) != P_END) {
		if (k == P_STOP)
			return stop;
		if (k != P_ARG)
			continue;
		if (*kind != NULL)
			return ctl_usage_error(
			    g->cmd, "unexpected argument '%s'", p.val);
		if (*p.val == '\0')
			return ctl_usage_error(g->cmd, "empty KIND");
		*kind = p.val;
	}
	if (*kind == NULL)
		return ctl_usage_error(g->cmd, "missing KIND");
	return 0;
}

/* What pause or resume did: "kind 'primes' paused", "kind 'primes' was
 * already paused"; {"kind":"primes","paused":true,"changed":true} (the
 * reply's "changed", with what jobctl knows besides). 0 or an exit
 * status. */
static int
print_pause(struct jobctl *g, const char *kind, bool paused, bool changed)
{
	if (g->json) {
		return ctl_json_put(json_pack("{s:s,s:b,s:b}", "kind", kind,
		                              "paused", paused, "changed",
		                              changed),
		                    0);
	} else if (changed) {
		printf("kind '%s' %s\n", kind, paused ? "paused" : "resumed");
	} else {
		printf("kind '%s' was %s\n", kind,
		       paused ? "already paused" : "not paused");
	}
	return 0;
}

/* pause or resume KIND: what changed, or that nothing did. */
static int
pause_cmd(struct jobctl *g, int argc, char **argv, bool pause)
{
	const char *kind;
	bool changed;
	int rc;
	int rv;

	if ((rc = parse_kind(g, argc, argv, &kind)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = ctl_connect(g)) != 0)
		return rc;
	if (pause) {
		Jobd__V1__PauseReply *rep;
		if ((rv = jobd_pause(g->client, kind, &rep)) != JOBD_OK)
			return ctl_call_failed(rv, "pause '%s'", kind);
		changed = rep->changed;
		jobd__v1__pause_reply__free_unpacked(rep, NULL);
	} else {
		Jobd__V1__ResumeReply *rep;
		if ((rv = jobd_resume(g->client, kind, &rep)) != JOBD_OK)
			return ctl_call_failed(rv, "resume '%s'", kind);
		changed = rep->changed;
		jobd__v1__resume_reply__free_unpacked(rep, NULL);
	}
	return print_pause(g, kind, pause, changed);
}

int
ctl_cmd_pause(struct jobctl *g, int argc, char **argv)
{
	return pause_cmd(g, argc, argv, true);
}

int
ctl_cmd_resume(struct jobctl *g, int argc, char **argv)
{
	return pause_cmd(g, argc, argv, false);
}

/* ---- schedules ---- */

enum { S_NAME, S_KIND, S_SPEC, S_ZONE, S_NEXT, S_IN, S_LAST, S_JOB, S_COLS };

static const char *const sched_head[S_COLS] = {"NAME", "KIND", "SPEC", "ZONE",
                                               "NEXT", "IN",   "LAST", "JOB"};

/* One row of the table: each cell a string of the reply (made safe) or
 * one of the buffers. */
struct sched_row {
	const char *cell[S_COLS];
	char next[48];
	char in[32];
	char last[48];
	char job[24];
};

static void
sched_fill(struct sched_row *r, Jobd__V1__Schedule *s, int64_t now)
{
	r->cell[S_NAME] = ctl_tx(s->name);
	r->cell[S_KIND] = ctl_tx(s->kind);
	r->cell[S_SPEC] = ctl_tx(s->spec);
	r->cell[S_ZONE] = s->time_zone != NULL && *s->time_zone != '\0'
	                      ? ctl_tx(s->time_zone)
	                      : "-";
	if (s->next_at_ms != 0) {
		ctl_fmt_time(r->next, sizeof(r->next), s->next_at_ms, false);
		if (s->next_at_ms > now)
			ctl_fmt_dur(r->in, sizeof(r->in),
			            ctl_diff_ms(s->next_at_ms, now));
		else
			snprintf(r->in, sizeof(r->in), "due");
	} else {
		snprintf(r->next, sizeof(r->next), "-");
		snprintf(r->in, sizeof(r->in), "-");
	}
	if (s->last_at_ms != 0)
		ctl_fmt_time(r->last, sizeof(r->last), s->last_at_ms, false);
	else
		snprintf(r->last, sizeof(r->last), "-");
	if (s->last_job_id != 0)
		snprintf(r->job, sizeof(r->job), "%" PRIu64, s->last_job_id);
	else
		snprintf(r->job, sizeof(r->job), "-");
	r->cell[S_NEXT] = r->next;
	r->cell[S_IN] = r->in;
	r->cell[S_LAST] = r->last;
	r->cell[S_JOB] = r->job;
}

static void
sched_print_row(const char *const cell[S_COLS], const size_t width[S_COLS])
{
	for (int c = 0; c < S_COLS; c++) {
		if (c == S_COLS - 1)
			printf("%s\n", cell[c]);
		else
			printf("%-*s  ", (int) width[c], cell[c]);
	}
}

int
ctl_cmd_schedules(struct jobctl *g, int argc, char **argv)
{
	Jobd__V1__SchedulesReply *rep;
	struct sched_row *rows = NULL;
	size_t width[S_COLS];
	size_t n = 0;
	int64_t now;
	int rc;
	int rv;

	if ((rc = ctl_start_plain(g, argc, argv)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rv = jobd_schedules(g->client, &rep)) != JOBD_OK)
		return ctl_call_failed(rv, "schedules");
	if (g->json) {
		for (size_t i = 0; i < rep->n_schedules; i++) {
			if (rep->schedules != NULL &&
			    rep->schedules[i] != NULL &&
			    (rc = ctl_json_msg(&rep->schedules[i]->base)) != 0)
				break;
		}
		goto out;
	}
	if (rep->n_schedules > 0 &&
	    (rows = calloc(rep->n_schedules, sizeof(*rows))) == NULL) {
		ctl_errorf("out of memory");
		rc = EXIT_OTHER;
		goto out;
	}
	now = ctl_now_ms();
	for (size_t i = 0; i < rep->n_schedules; i++) {
		if (rep->schedules != NULL && rep->schedules[i] != NULL)
			sched_fill(&rows[n++], rep->schedules[i], now);
	}
	if (n == 0) {
		printf("no schedules\n");
		goto out;
	}
	for (int c = 0; c < S_COLS; c++) {
		width[c] = strlen(sched_head[c]);
		for (size_t i = 0; i < n; i++) {
			size_t w = strlen(rows[i].cell[c]);
			if (w > width[c])
				width[c] = w;
		}
	}
	sched_print_row(sched_head, width);
	for (size_t i = 0; i < n; i++)
		sched_print_row(rows[i].cell, width);
out:
	free(rows);
	jobd__v1__schedules_reply__free_unpacked(rep, NULL);
	return rc;
}

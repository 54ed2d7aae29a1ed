/*
 * store_runs: the tables of schema version 3 beside the jobs (see store.c
 * for the schema and its statements):
 *
 *   job_runs        the earlier runs of a job that Retry put back: one row
 *                   per run that ended, (job, run number) its key; written
 *                   with the job's return to `queued` (store_rerun), in the
 *                   same transaction, and purged with the job
 *   paused_kinds    one row per paused kind (Pause, Resume)
 *   schedule_ticks  the last firing of each periodic schedule, never moved
 *                   backwards (periodic.c)
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

int
store_rerun(store *s, const struct jobrec *r, const struct job_run *run)
{
	sqlite3_stmt *st = s->stmt[STMT_RERUN];
	sqlite3_stmt *add = s->stmt[STMT_RUN_ADD];
	int rc, rv = JOBD_OK;

	if (r->id == 0 || r->id > INT64_MAX || r->reruns == 0)
		return store_seterr(
		    s, JOBD_INVALID_ARGUMENT,
		    "cannot rerun job %" PRIu64 ": invalid record", r->id);
	if ((rc = sqlite3_bind_int64(st, 1, (sqlite3_int64) r->id)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 2, r->not_before)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 3, r->reruns)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 4, job_result_crc(r->id, NULL, 0))) !=
	        0 ||
	    (rc = sqlite3_step(st)) != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot rerun job %" PRIu64, r->id);
	else if (sqlite3_changes64(s->db) == 0)
		rv = store_seterr(s, JOBD_FAILED_PRECONDITION,
		                  "cannot rerun job %" PRIu64
		                  ": no such job, or it has not failed or been "
		                  "cancelled",
		                  r->id);
	store_done(st);
	if (rv != JOBD_OK)
		return rv;
	if ((rc = sqlite3_bind_int64(add, 1, (sqlite3_int64) r->id)) != 0 ||
	    (rc = sqlite3_bind_int64(add, 2, r->reruns)) != 0 ||
	    (rc = sqlite3_bind_text(add, 3, store_state_text(run->state), -1,
	                            SQLITE_STATIC)) != 0 ||
	    (rc = store_bind_opt_text(add, 4, run->error)) != 0 ||
	    (rc = sqlite3_bind_int64(add, 5, run->attempts)) != 0 ||
	    (rc = sqlite3_bind_int64(add, 6, run->started_at)) != 0 ||
	    (rc = sqlite3_bind_int64(add, 7, run->finished_at)) != 0 ||
	    (rc = sqlite3_step(add)) != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot record the run of job %" PRIu64,
		                r->id);
	store_done(add);
	return rv;
}

int
store_runs(store *s, uint64_t id, struct jobrec *r)
{
	sqlite3_stmt *st = s->stmt[STMT_RUNS];
	struct job_run *v = NULL;
	size_t n = 0, cap = 0;
	int rc, rv = JOBD_OK;

	if ((rc = sqlite3_bind_int64(st, 1, (sqlite3_int64) id)) != 0) {
		rv = store_fail(s, rc, "cannot read the runs of job %" PRIu64,
		                id);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct job_run *run;
		const char *state = (const char *) sqlite3_column_text(st, 0);
		const char *err = (const char *) sqlite3_column_text(st, 1);
		if (n == cap) {
			size_t ncap = cap == 0 ? 4 : cap * 2;
			struct job_run *nv = realloc(v, ncap * sizeof(*nv));
			if (nv == NULL) {
				rv = store_seterr(s, JOBD_RESOURCE_EXHAUSTED,
				                  "cannot read the runs of job "
				                  "%" PRIu64 ": out of memory",
				                  id);
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		run = &v[n];
		memset(run, 0, sizeof(*run));
		run->state = job_state_parse(state);
		if (run->state == 0 ||
		    (err != NULL && job_dup(&run->error, err) != 0)) {
			rv = store_seterr(s, JOBD_DATA_LOSS,
			                  "cannot read the runs of job %" PRIu64
			                  ": corrupt record",
			                  id);
			goto out;
		}
		run->attempts = (uint32_t) sqlite3_column_int64(st, 2);
		run->started_at = sqlite3_column_int64(st, 3);
		run->finished_at = sqlite3_column_int64(st, 4);
		n++;
	}
	if (rc != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot read the runs of job %" PRIu64,
		                id);
out:
	store_done(st);
	if (rv != JOBD_OK) {
		for (size_t i = 0; i < n; i++)
			free(v[i].error);
		free(v);
		return rv;
	}
	r->history = v;
	r->nhistory = n;
	return JOBD_OK;
}

int
store_set_paused(store *s, const char *kind, int paused, int64_t now)
{
	sqlite3_stmt *st = s->stmt[paused ? STMT_PAUSE : STMT_RESUME];
	int rc, rv = JOBD_OK;

	if ((rc = sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC)) != 0 ||
	    (paused && (rc = sqlite3_bind_int64(st, 2, now)) != 0) ||
	    (rc = sqlite3_step(st)) != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot %s kind '%s'",
		                paused ? "pause" : "resume", kind);
	store_done(st);
	return rv;
}

int
store_paused_load(store *s, int (*fn)(const char *kind, void *arg), void *arg)
{
	sqlite3_stmt *st = s->stmt[STMT_PAUSED];
	int rc, rv = JOBD_OK;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *kind = (const char *) sqlite3_column_text(st, 0);
		if (kind != NULL && (rv = fn(kind, arg)) != 0)
			break;
	}
	if (rv == JOBD_OK && rc != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot read the paused kinds");
	store_done(st);
	return rv;
}

int
store_set_tick(store *s, const char *name, int64_t at, uint64_t job_id)
{
	sqlite3_stmt *st = s->stmt[STMT_TICK];
	int rc, rv = JOBD_OK;

	if ((rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 2, at)) != 0 ||
	    (rc = sqlite3_bind_int64(st, 3, (sqlite3_int64) job_id)) != 0 ||
	    (rc = sqlite3_step(st)) != SQLITE_DONE)
		rv = store_fail(s, rc,
		                "cannot record the firing of schedule "
		                "'%s'",
		                name);
	store_done(st);
	return rv;
}

int
store_ticks_load(store *s,
                 int (*fn)(const char *name, int64_t at, uint64_t job_id,
                           void *arg),
                 void *arg)
{
	sqlite3_stmt *st = s->stmt[STMT_TICKS];
	int rc, rv = JOBD_OK;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *) sqlite3_column_text(st, 0);
		if (name != NULL &&
		    (rv = fn(name, sqlite3_column_int64(st, 1),
		             (uint64_t) sqlite3_column_int64(st, 2), arg)) != 0)
			break;
	}
	if (rv == JOBD_OK && rc != SQLITE_DONE)
		rv = store_fail(s, rc, "cannot read the schedules' firings");
	store_done(st);
	return rv;
}

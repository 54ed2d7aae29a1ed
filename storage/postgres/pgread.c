/*
 * pgread.c: pgstore's reading of jobs (rows into struct jobrec, checked),
 * the calls that read (get, runs, find_key, list, states, counts), and
 * the control calls (cancel, rerun, pause, schedules' firings, purge).
 * The statements are pgsql.c's; pgjobs.c has submit and the workers'.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgstore_int.h"

/* ---- reading jobs ---------------------------------------------------- */

/* The params blob b[0..len) of job id into r (job.h's format, checked
 * as strictly: the database may hold anything). */
static int
pg_params_decode(pgstore *s, uint64_t id, const uint8_t *b, size_t len,
                 struct jobrec *r)
{
	size_t n, off = 4;

	if (len < 4)
		goto bad;
	n = job_get32(b);
	if (n > (len - 4) / 8)
		goto bad;
	if (n == 0)
		return JOBD_OK;
	if ((r->params = calloc(n, sizeof(*r->params))) == NULL)
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot read job %" PRIu64 ": out of memory",
		                 id);
	r->nparams = n;
	for (size_t i = 0; i < n; i++) {
		char **f[2] = {&r->params[i].name, &r->params[i].value};
		for (int j = 0; j < 2; j++) {
			size_t l;
			if (len - off < 4)
				goto bad;
			l = job_get32(b + off);
			off += 4;
			if (l > len - off || memchr(b + off, '\0', l) != NULL)
				goto bad;
			if ((*f[j] = malloc(l + 1)) == NULL)
				return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
				                 "cannot read job %" PRIu64
				                 ": out of memory",
				                 id);
			memcpy(*f[j], b + off, l);
			(*f[j])[l] = '\0';
			off += l;
		}
	}
	if (off != len)
		goto bad;
	return JOBD_OK;
bad:
	return pg_seterr(s, JOBD_DATA_LOSS,
	                 "the stored params of job %" PRIu64 " are damaged",
	                 id);
}

static int
pg_bytes(const PGresult *r, int row, int col, uint8_t **p, size_t *len)
{
	size_t l;

	*p = NULL;
	*len = 0;
	if (PQgetisnull(r, row, col) ||
	    (l = (size_t) PQgetlength(r, row, col)) == 0)
		return 0;
	if ((*p = malloc(l)) == NULL)
		return -1;
	memcpy(*p, PQgetvalue(r, row, col), l);
	*len = l;
	return 0;
}

/* Row `row` of r (columns C_*) into *out (zeroed first; cleared again on
 * an error). */
int
pg_rec(pgstore *s, const PGresult *r, int row, struct jobrec *out, int mode)
{
	bool oom = false;
	uint64_t id = (uint64_t) pgv_i64(r, row, C_ID);
	int64_t icrc, rcrc;
	int rv;

	memset(out, 0, sizeof(*out));
	out->id = id;
	out->kind = pgv_strdup(r, row, C_KIND, &oom);
	out->priority = (int32_t) pgv_i64(r, row, C_PRIORITY);
	out->state = (int) pgv_i64(r, row, C_STATE);
	out->attempts = (uint32_t) pgv_i64(r, row, C_ATTEMPTS);
	out->max_attempts = (uint32_t) pgv_i64(r, row, C_MAX_ATTEMPTS);
	out->timeout_ms = (uint32_t) pgv_i64(r, row, C_TIMEOUT);
	out->progress_done = (uint64_t) pgv_i64(r, row, C_DONE);
	out->progress_total = (uint64_t) pgv_i64(r, row, C_TOTAL);
	out->error = pgv_strdup(r, row, C_ERROR, &oom);
	out->idem_key = pgv_strdup(r, row, C_IDEM, &oom);
	out->unique_key = pgv_strdup(r, row, C_UNIQUE, &oom);
	out->created_at = pgv_i64(r, row, C_CREATED);
	out->started_at = pgv_i64(r, row, C_STARTED);
	out->finished_at = pgv_i64(r, row, C_FINISHED);
	out->not_before = pgv_i64(r, row, C_NOT_BEFORE);
	out->recoveries = (uint32_t) pgv_i64(r, row, C_RECOVERIES);
	out->reruns = (uint32_t) pgv_i64(r, row, C_RERUNS);
	out->input_len = (size_t) pgv_i64(r, row, C_INPUT_LEN);
	if (out->state == JOB_QUEUED && !PQgetisnull(r, row, C_WAITING_FOR)) {
		out->waiting = JOB_WAIT_AFTER;
		out->waiting_for = (uint64_t) pgv_i64(r, row, C_WAITING_FOR);
	} else if (out->state == JOB_QUEUED && pgv_bool(r, row, C_PAUSED))
		out->waiting = JOB_WAIT_PAUSED;
	icrc = pgv_i64(r, row, C_INPUT_CRC);
	rcrc = pgv_i64(r, row, C_RESULT_CRC);
	if (oom || out->kind == NULL)
		goto oom;
	if (pgv_i64_array(r, row, C_AFTER, &out->after, &out->nafter) != 0) {
		rv = pg_seterr(s, JOBD_DATA_LOSS,
		               "the stored dependencies of job %" PRIu64
		               " are damaged",
		               id);
		goto fail;
	}
	if ((rv = pg_params_decode(
	         s, id, (const uint8_t *) PQgetvalue(r, row, C_PARAMS),
	         (size_t) PQgetlength(r, row, C_PARAMS), out)) != JOBD_OK)
		goto fail;
	if (pg_bytes(r, row, C_RESULT, &out->result, &out->result_len) != 0)
		goto oom;
	if (!PQgetisnull(r, row, C_RESULT) &&
	    job_result_crc(id, out->result, out->result_len) !=
	        (uint32_t) rcrc) {
		rv = pg_seterr(s, JOBD_DATA_LOSS,
		               "the stored result of job %" PRIu64
		               " is damaged (checksum mismatch)",
		               id);
		goto fail;
	}
	if (PQgetisnull(r, row, C_INPUT))
		return JOBD_OK;
	if (pg_bytes(r, row, C_INPUT, &out->input, &out->input_len) != 0)
		goto oom;
	if (job_input_crc(id, out->kind,
	                  (const uint8_t *) PQgetvalue(r, row, C_PARAMS),
	                  (size_t) PQgetlength(r, row, C_PARAMS), out->input,
	                  out->input_len) != (uint32_t) icrc) {
		char msg[96];
		snprintf(msg, sizeof(msg),
		         "the stored input of job %" PRIu64
		         " is damaged (checksum mismatch)",
		         id);
		if (mode == REC_INPUT_STRICT) {
			rv = pg_seterr(s, JOBD_DATA_LOSS, "%s", msg);
			goto fail;
		}
		free(out->input);
		out->input = NULL;
		free(out->error);
		out->state = JOB_FAILED;
		if ((out->error = strdup(msg)) == NULL)
			goto oom;
	}
	return JOBD_OK;
oom:
	rv = pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
	               "cannot read job %" PRIu64 ": out of memory", id);
fail:
	jobrec_clear(out);
	return rv;
}

/* Every row of r into a malloc'd array (*out, *n). */
int
pg_recs(pgstore *s, const PGresult *r, int mode, struct jobrec **out, size_t *n)
{
	int rows = PQntuples(r), rv;
	struct jobrec *v;

	*out = NULL;
	*n = 0;
	if (rows == 0)
		return JOBD_OK;
	if ((v = calloc((size_t) rows, sizeof(*v))) == NULL)
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot read jobs: out of memory");
	for (int i = 0; i < rows; i++)
		if ((rv = pg_rec(s, r, i, &v[i], mode)) != JOBD_OK) {
			for (int k = 0; k < i; k++)
				jobrec_clear(&v[k]);
			free(v);
			return rv;
		}
	*out = v;
	*n = (size_t) rows;
	return JOBD_OK;
}

/* The first column of every row, as ids (malloc'd; NULL when none). */
int
pg_ids(pgstore *s, const PGresult *r, uint64_t **ids, size_t *n)
{
	int rows = PQntuples(r);

	*ids = NULL;
	*n = 0;
	if (rows == 0)
		return JOBD_OK;
	if ((*ids = malloc((size_t) rows * sizeof(**ids))) == NULL)
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot read ids: out of memory");
	for (int i = 0; i < rows; i++)
		(*ids)[i] = (uint64_t) pgv_i64(r, i, 0);
	*n = (size_t) rows;
	return JOBD_OK;
}

/* ---- control
 * ------------------------------------------------------------------- */

int
pgstore_cancel(pgstore *s, uint64_t id, int *state, char *kind, size_t kindlen)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	pga_i64(&a, (int64_t) id);
	if ((r = pg_exec(s, PGS_CANCEL, &a, "cancel job", &rv)) == NULL)
		return rv;
	if (PQntuples(r) == 0)
		rv = pg_seterr(s, JOBD_NOT_FOUND, "no job %" PRIu64, id);
	else {
		int st = (int) pgv_i64(r, 0, 0);
		/* a queued job's row said 1 before; the update made it 5 */
		*state = st;
		const char *k = pgv_text(r, 0, 2);
		if (kind != NULL)
			snprintf(kind, kindlen, "%s", k != NULL ? k : "");
		rv = JOBD_OK;
	}
	PQclear(r);
	return rv;
}

int
pgstore_rerun(pgstore *s, uint64_t id, int64_t not_before,
              const uint64_t *after, size_t nafter, struct jobrec *out)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	pga_i64(&a, (int64_t) id);
	pga_i64(&a, not_before);
	if (nafter > 0)
		pga_i64_array(&a, (const int64_t *) after, nafter);
	else
		pga_bytes(&a, NULL, 0);
	pga_i64(&a, job_result_crc(id, NULL, 0));
	if ((r = pg_exec(s, PGS_RERUN, &a, "retry job", &rv)) == NULL)
		return rv;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return pg_seterr(s, JOBD_FAILED_PRECONDITION,
		                 "no such job, or it has not failed or been "
		                 "cancelled");
	}
	rv = out != NULL ? pg_rec(s, r, 0, out, REC_INPUT_STRICT) : JOBD_OK;
	PQclear(r);
	if (rv == JOBD_OK && out != NULL &&
	    (rv = pgstore_runs(s, id, out)) != JOBD_OK)
		jobrec_clear(out);
	return rv;
}

int
pgstore_set_paused(pgstore *s, const char *kind, bool paused, int64_t now,
                   bool *changed)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	pga_text(&a, kind, false);
	if (paused)
		pga_i64(&a, now);
	if ((r = pg_exec(s, paused ? PGS_PAUSE : PGS_RESUME, &a,
	                 paused ? "pause kind" : "resume kind", &rv)) == NULL)
		return rv;
	if (changed != NULL)
		*changed = PQntuples(r) > 0;
	PQclear(r);
	return JOBD_OK;
}

int
pgstore_paused_load(pgstore *s, int (*fn)(const char *kind, void *arg),
                    void *arg)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if ((r = pg_exec(s, PGS_PAUSED, &a, "read paused kinds", &rv)) == NULL)
		return rv;
	for (int i = 0; i < PQntuples(r) && rv == 0; i++)
		rv = fn(pgv_text(r, i, 0), arg);
	PQclear(r);
	return rv;
}

int
pgstore_set_tick(pgstore *s, const char *name, int64_t at, uint64_t job_id)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	pga_text(&a, name, false);
	pga_i64(&a, at);
	pga_i64(&a, (int64_t) job_id);
	if ((r = pg_exec(s, PGS_TICK, &a, "record a schedule's firing", &rv)) ==
	    NULL)
		return rv;
	PQclear(r);
	return JOBD_OK;
}

int
pgstore_ticks_load(pgstore *s,
                   int (*fn)(const char *name, int64_t at, uint64_t job_id,
                             void *arg),
                   void *arg)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if ((r = pg_exec(s, PGS_TICKS, &a, "read schedules' firings", &rv)) ==
	    NULL)
		return rv;
	for (int i = 0; i < PQntuples(r) && rv == 0; i++)
		rv = fn(pgv_text(r, i, 0), pgv_i64(r, i, 1),
		        (uint64_t) pgv_i64(r, i, 2), arg);
	PQclear(r);
	return rv;
}

int
pgstore_purge(pgstore *s, int64_t before, size_t limit, uint64_t *n)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	*n = 0;
	pga_i64(&a, before);
	pga_i64(&a, limit == 0 ? 10000 : (int64_t) limit);
	if ((r = pg_exec(s, PGS_PURGE, &a, "purge ended jobs", &rv)) == NULL)
		return rv;
	*n = (uint64_t) pgv_i64(r, 0, 0);
	PQclear(r);
	return JOBD_OK;
}

/* ---- reads
 * ------------------------------------------------------------------------- */

int
pgstore_runs(pgstore *s, uint64_t id, struct jobrec *rec)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv, rows;

	pga_i64(&a, (int64_t) id);
	if ((r = pg_exec(s, PGS_RUNS, &a, "read a job's runs", &rv)) == NULL)
		return rv;
	rows = PQntuples(r);
	for (size_t i = 0; i < rec->nhistory; i++)
		free(rec->history[i].error);
	free(rec->history);
	rec->history = NULL;
	rec->nhistory = 0;
	if (rows > 0) {
		bool oom = false;
		if ((rec->history = calloc((size_t) rows,
		                           sizeof(*rec->history))) == NULL) {
			PQclear(r);
			return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
			                 "cannot read a job's runs: out of "
			                 "memory");
		}
		rec->nhistory = (size_t) rows;
		for (int i = 0; i < rows; i++) {
			struct job_run *h = &rec->history[i];
			h->state = (int) pgv_i64(r, i, 0);
			h->error = pgv_strdup(r, i, 1, &oom);
			h->attempts = (uint32_t) pgv_i64(r, i, 2);
			h->started_at = pgv_i64(r, i, 3);
			h->finished_at = pgv_i64(r, i, 4);
		}
		if (oom) {
			PQclear(r);
			return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
			                 "cannot read a job's runs: out of "
			                 "memory");
		}
	}
	PQclear(r);
	return JOBD_OK;
}

int
pgstore_get(pgstore *s, uint64_t id, int flags, struct jobrec *out)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	memset(out, 0, sizeof(*out));
	pga_i64(&a, (int64_t) id);
	pga_bool(&a, (flags & STORE_INPUT) != 0);
	if ((r = pg_exec(s, PGS_GET, &a, "read job", &rv)) == NULL)
		return rv;
	if (PQntuples(r) == 0)
		rv = pg_seterr(s, JOBD_NOT_FOUND, "no job %" PRIu64, id);
	else
		rv = pg_rec(s, r, 0, out, REC_INPUT_STRICT);
	PQclear(r);
	if (rv == JOBD_OK && out->reruns > 0 &&
	    (rv = pgstore_runs(s, id, out)) != JOBD_OK)
		jobrec_clear(out);
	return rv;
}

int
pgstore_find_key(pgstore *s, const char *key, uint64_t *id)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if (!pg_utf8_valid(key)) /* no such key can be stored */
		return pg_seterr(s, JOBD_NOT_FOUND, "no job with that key");
	pga_text(&a, key, false);
	if ((r = pg_exec(s, PGS_FIND_KEY, &a, "find an idempotency key",
	                 &rv)) == NULL)
		return rv;
	if (PQntuples(r) == 0)
		rv = pg_seterr(s, JOBD_NOT_FOUND, "no job with key '%s'", key);
	else
		*id = (uint64_t) pgv_i64(r, 0, 0);
	PQclear(r);
	return rv;
}

int
pgstore_list(pgstore *s, const struct store_filter *f, struct jobrec **out,
             size_t *n)
{
	struct pgargs a = {0};
	enum pg_stmt st;
	bool kind = f->kind != NULL;
	PGresult *r;
	int rv;

	*out = NULL;
	*n = 0;
	pga_i64(&a, f->before > 0 && f->before <= INT64_MAX
	                ? (int64_t) f->before
	                : INT64_MAX);
	if (f->limit > 0)
		pga_i64(&a,
		        f->limit > INT64_MAX ? INT64_MAX : (int64_t) f->limit);
	else
		pga_bytes(&a, NULL, 0);
	if (f->state == JOB_QUEUED)
		st = kind ? PGS_LIST_READY_KIND : PGS_LIST_READY;
	else if (f->state == JOB_SCHEDULED)
		st = kind ? PGS_LIST_LATER_KIND : PGS_LIST_LATER;
	else if (f->state != 0) {
		st = kind ? PGS_LIST_STATE_KIND : PGS_LIST_STATE;
		pga_i32(&a, f->state);
	} else
		st = kind ? PGS_LIST_KIND : PGS_LIST;
	if (kind)
		pga_text(&a, f->kind, false);
	if ((r = pg_exec(s, st, &a, "list jobs", &rv)) == NULL)
		return rv;
	rv = pg_recs(s, r, REC_INPUT_STRICT, out, n);
	PQclear(r);
	return rv;
}

int
pgstore_states(pgstore *s, const uint64_t *ids, size_t n, int *states)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if (n == 0)
		return JOBD_OK;
	for (size_t i = 0; i < n; i++)
		states[i] = 0;
	pga_i64_array(&a, (const int64_t *) ids, n);
	if ((r = pg_exec(s, PGS_STATES, &a, "read job states", &rv)) == NULL)
		return rv;
	for (int row = 0; row < PQntuples(r); row++) {
		int64_t i = pgv_i64(r, row, 0) - 1;
		if (i >= 0 && (size_t) i < n)
			states[i] = (int) pgv_i64(r, row, 1);
	}
	PQclear(r);
	return JOBD_OK;
}

int
pgstore_counts(pgstore *s, uint64_t counts[JOB_STATE_MAX + 1])
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	for (int i = 0; i <= JOB_STATE_MAX; i++)
		counts[i] = 0;
	if ((r = pg_exec(s, PGS_COUNTS, &a, "count jobs", &rv)) == NULL)
		return rv;
	for (int row = 0; row < PQntuples(r); row++) {
		int64_t st = pgv_i64(r, row, 0);
		if (st >= 1 && st <= JOB_STATE_MAX)
			counts[st] = (uint64_t) pgv_i64(r, row, 1);
	}
	PQclear(r);
	return JOBD_OK;
}

int
pgstore_counts_live(pgstore *s, uint64_t counts[JOB_STATE_MAX + 1])
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	for (int i = 0; i <= JOB_STATE_MAX; i++)
		counts[i] = 0;
	if ((r = pg_exec(s, PGS_COUNTS_LIVE, &a, "count live jobs", &rv)) ==
	    NULL)
		return rv;
	counts[JOB_QUEUED] = (uint64_t) pgv_i64(r, 0, 0);
	counts[JOB_RUNNING] = (uint64_t) pgv_i64(r, 0, 1);
	counts[JOB_SCHEDULED] = (uint64_t) pgv_i64(r, 0, 2);
	PQclear(r);
	return JOBD_OK;
}

int
pgstore_db_size(pgstore *s, uint64_t *bytes)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if ((r = pg_exec(s, PGS_DB_SIZE, &a, "read the database's size",
	                 &rv)) == NULL)
		return rv;
	*bytes = (uint64_t) pgv_i64(r, 0, 0);
	PQclear(r);
	return JOBD_OK;
}

int
pgstore_running_by_kind(pgstore *s,
                        int (*fn)(const char *kind, uint64_t n, void *arg),
                        void *arg)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if ((r = pg_exec(s, PGS_RUNNING_BY_KIND, &a, "count running jobs",
	                 &rv)) == NULL)
		return rv;
	for (int i = 0; i < PQntuples(r) && rv == 0; i++)
		rv = fn(pgv_text(r, i, 0), (uint64_t) pgv_i64(r, i, 1), arg);
	PQclear(r);
	return rv;
}

/*
 * pgjobs.c: pgstore's statements on jobs and the tables beside them
 * (pgstore.c's opening comment has the design: claiming, idempotency, the
 * indexes each statement walks).
 *
 * Every statement that returns jobs returns the columns of REC_HEAD, then
 * the result or NULL, then the input or NULL (pg_rec reads them). For a
 * queued job REC_HEAD also says why it may wait (struct jobrec's
 * `waiting`): for a job it runs after (the first, in its order, that has
 * not succeeded), or for its kind's pause; the runtime adds the reasons
 * only it knows (kind undefined here, kind at its limit). A state
 * read back is JOB_SCHEDULED for a queued job whose not_before is ahead of
 * the server's clock, as the local scheduler shows it.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgstore_int.h"

#define T_INT8 20
#define T_INT4 23
#define T_TEXT 25
#define T_BYTEA 17
#define T_BOOL 16
#define T_INT8A 1016
#define T_INT4A 1007
#define T_TEXTA 1009
#define T_BYTEAA 1001

#define REC_HEAD                                                               \
	"j.id, j.kind, j.params, j.priority,"                                  \
	" CASE WHEN j.state = 1 AND j.not_before > jobd_now() THEN 6"          \
	" ELSE j.state END,"                                                   \
	" j.attempts, j.max_attempts, j.timeout_ms, j.progress_done,"          \
	" j.progress_total, j.error, j.idem_key, j.unique_key, j.after,"       \
	" j.created_at, j.started_at, j.finished_at, j.not_before,"            \
	" j.recoveries, j.reruns, j.input_crc, j.result_crc,"                  \
	" coalesce(length(j.input), 0),"                                       \
	" CASE WHEN j.state = 1 THEN (SELECT u.a FROM unnest(j.after)"         \
	" WITH ORDINALITY AS u(a, o) JOIN jobs d ON d.id = u.a"                \
	" WHERE d.state <> 3 ORDER BY u.o LIMIT 1) END,"                       \
	" j.state = 1 AND EXISTS (SELECT 1 FROM paused_kinds p"                \
	" WHERE p.kind = j.kind)"

enum {
	C_ID,
	C_KIND,
	C_PARAMS,
	C_PRIORITY,
	C_STATE,
	C_ATTEMPTS,
	C_MAX_ATTEMPTS,
	C_TIMEOUT,
	C_DONE,
	C_TOTAL,
	C_ERROR,
	C_IDEM,
	C_UNIQUE,
	C_AFTER,
	C_CREATED,
	C_STARTED,
	C_FINISHED,
	C_NOT_BEFORE,
	C_RECOVERIES,
	C_RERUNS,
	C_INPUT_CRC,
	C_RESULT_CRC,
	C_INPUT_LEN,
	C_WAITING_FOR, /* a queued job: the first it runs after not succeeded */
	C_PAUSED,      /* a queued job: its kind is paused */
	C_RESULT,
	C_INPUT,
	C_NUM,
};

/* What makes a queued job j runnable now, besides its kind: its time has
 * come and every job it runs after has succeeded (or is purged). */
#define CLAIM_RUNNABLE                                                         \
	" j.state = 1 AND j.not_before <= jobd_now()"                          \
	" AND (j.after = '{}' OR NOT EXISTS (SELECT 1 FROM jobs d"             \
	" WHERE d.id = ANY (j.after) AND d.state <> 3))"

/* The claim's end: the rows picked become running as $1's, lease $2 ms. */
#define CLAIM_UPDATE                                                           \
	" UPDATE jobs j SET state = 2, owner = $1,"                            \
	" lease_until = jobd_now() + $2, attempts = j.attempts + 1,"           \
	" started_at = jobd_now(), cancel_requested = false,"                  \
	" progress_done = 0, progress_total = 0"                               \
	" FROM pick WHERE j.id = pick.id"                                      \
	" RETURNING " REC_HEAD ", NULL::bytea, j.input"

/* A rescued job's new state, error and end: $1 the recoveries cap. */
#define RESCUE_SET                                                             \
	" SET recoveries = j.recoveries + 1,"                                  \
	" state = CASE WHEN j.cancel_requested THEN 5"                         \
	" WHEN $1 > 0 AND j.recoveries + 1 >= $1 THEN 4 ELSE 1 END,"           \
	" error = CASE WHEN j.cancel_requested THEN j.error"                   \
	" WHEN $1 > 0 AND j.recoveries + 1 >= $1 THEN"                         \
	" 'its daemon stopped or lost the database while running this job '"   \
	" || (j.recoveries + 1) || ' times; not run again' ELSE j.error END,"  \
	" finished_at = CASE WHEN j.cancel_requested"                          \
	" OR ($1 > 0 AND j.recoveries + 1 >= $1) THEN jobd_now()"              \
	" ELSE j.finished_at END,"                                             \
	" owner = NULL, lease_until = 0, cancel_requested = false"

#define LIST_HEAD                                                              \
	"SELECT " REC_HEAD ", NULL::bytea, NULL::bytea FROM jobs j"            \
	" WHERE j.id < $1"
#define LIST_TAIL " ORDER BY j.id DESC LIMIT $2"
#define READY " AND j.state = 1 AND j.not_before <= jobd_now()"
#define LATER " AND j.state = 1 AND j.not_before > jobd_now()"

static const struct {
	const char *name;
	const char *sql;
	Oid types[PG_MAX_ARGS];
} pg_sql[PGS_NUM] = {
    [PGS_NOW] = {"jobd_now", "SELECT jobd_now()", {0}},
    [PGS_IDS] = {"jobd_ids",
                 "SELECT nextval('jobs_id_seq') FROM generate_series(1, $1)",
                 {T_INT8}},
    [PGS_INSERT] =
        {"jobd_insert",
         "INSERT INTO jobs (id, kind, params, priority, state, max_attempts,"
         " timeout_ms, idem_key, unique_key, after, created_at, not_before,"
         " input, input_crc, result_crc)"
         " SELECT u.id, u.kind, u.params, u.priority, 1, u.max_attempts,"
         " u.timeout_ms, u.idem_key, u.unique_key,"
         " coalesce(u.after::bigint[], '{}'),"
         " CASE WHEN u.created_at = 0 THEN jobd_now() ELSE u.created_at END,"
         " u.not_before, u.input, u.input_crc, u.result_crc"
         " FROM unnest($1::int8[], $2::text[], $3::bytea[], $4::int4[],"
         " $5::int8[], $6::int8[], $7::text[], $8::text[], $9::text[],"
         " $10::int8[], $11::int8[], $12::bytea[], $13::int8[], $14::int8[])"
         " AS u(id, kind, params, priority, max_attempts, timeout_ms,"
         " idem_key, unique_key, after, created_at, not_before, input,"
         " input_crc, result_crc)"
         " ON CONFLICT DO NOTHING RETURNING id, created_at",
         {T_INT8A, T_TEXTA, T_BYTEAA, T_INT4A, T_INT8A, T_INT8A, T_TEXTA,
          T_TEXTA, T_TEXTA, T_INT8A, T_INT8A, T_BYTEAA, T_INT8A, T_INT8A}},
    [PGS_CONFLICTS] =
        {"jobd_conflicts",
         "SELECT u.i, (SELECT id FROM jobs WHERE idem_key = u.k),"
         " (SELECT id FROM jobs WHERE unique_key = u.uk AND state IN (1, 2))"
         " FROM unnest($1::int4[], $2::text[], $3::text[]) AS u(i, k, uk)",
         {T_INT4A, T_TEXTA, T_TEXTA}},
    /* $3 kinds capped, $4 their room, $5 how many; a kind capped is
     * walked on its own (jobs_ready_kind), the others in one walk of
     * jobs_ready that passes over paused kinds row by row */
    [PGS_CLAIM] =
        {"jobd_claim",
         "WITH cap AS (SELECT * FROM unnest($3::text[], $4::int8[])"
         " AS c(kind, more) WHERE NOT EXISTS (SELECT 1 FROM paused_kinds p"
         " WHERE p.kind = c.kind)),"
         " capped AS (SELECT x.id, x.priority FROM cap CROSS JOIN LATERAL"
         " (SELECT j.id, j.priority FROM jobs j WHERE j.kind = cap.kind AND"
         CLAIM_RUNNABLE
         " ORDER BY j.priority DESC, j.id LIMIT least(cap.more, $5)"
         " FOR UPDATE OF j SKIP LOCKED) x WHERE cap.more > 0),"
         " free AS (SELECT j.id, j.priority FROM jobs j WHERE"
         " j.kind <> ALL ($3::text[]) AND NOT EXISTS (SELECT 1"
         " FROM paused_kinds p WHERE p.kind = j.kind) AND" CLAIM_RUNNABLE
         " ORDER BY j.priority DESC, j.id LIMIT $5"
         " FOR UPDATE OF j SKIP LOCKED),"
         " pick AS (SELECT id FROM (SELECT * FROM capped UNION ALL"
         " SELECT * FROM free) c ORDER BY priority DESC, id LIMIT $5)"
         CLAIM_UPDATE,
         {T_TEXT, T_INT8, T_TEXTA, T_INT8A, T_INT8}},
    /* $3 the kinds allowed, $4/$5 caps, $6 how many: each kind not paused
     * is walked on its own (jobs_ready_kind) up to its room, so a paused
     * kind or one not run here costs nothing however many it queued */
    [PGS_CLAIM_KINDS] =
        {"jobd_claim_kinds",
         "WITH k AS (SELECT u.kind, coalesce(min(c.more), $6) AS room"
         " FROM unnest($3::text[]) AS u(kind)"
         " LEFT JOIN unnest($4::text[], $5::int8[]) AS c(kind, more)"
         " ON c.kind = u.kind"
         " WHERE NOT EXISTS (SELECT 1 FROM paused_kinds p"
         " WHERE p.kind = u.kind) GROUP BY u.kind),"
         " cand AS (SELECT x.id, x.priority FROM k CROSS JOIN LATERAL"
         " (SELECT j.id, j.priority FROM jobs j WHERE j.kind = k.kind AND"
         CLAIM_RUNNABLE
         " ORDER BY j.priority DESC, j.id LIMIT least(k.room, $6)"
         " FOR UPDATE OF j SKIP LOCKED) x WHERE k.room > 0),"
         " pick AS (SELECT id FROM cand ORDER BY priority DESC, id LIMIT $6)"
         CLAIM_UPDATE,
         {T_TEXT, T_INT8, T_TEXTA, T_TEXTA, T_INT8A, T_INT8}},
    [PGS_FINISH] =
        {"jobd_finish",
         "UPDATE jobs SET state = $3, attempts = $4, progress_done = $5,"
         " progress_total = $6, result = $7, result_crc = $8, error = $9,"
         " finished_at = CASE WHEN $10 <> 0 OR $3 = 1 THEN $10"
         " ELSE jobd_now() END, not_before = $11, owner = NULL,"
         " lease_until = 0, cancel_requested = false"
         " WHERE id = $1 AND state = 2 AND owner = $2",
         {T_INT8, T_TEXT, T_INT4, T_INT8, T_INT8, T_INT8, T_BYTEA, T_INT8,
          T_TEXT, T_INT8, T_INT8}},
    [PGS_PROGRESS] = {"jobd_progress",
                      "UPDATE jobs SET progress_done = $3,"
                      " progress_total = $4"
                      " WHERE id = $1 AND state = 2 AND owner = $2"
                      " RETURNING cancel_requested",
                      {T_INT8, T_TEXT, T_INT8, T_INT8}},
    [PGS_RENEW] = {"jobd_renew",
                   "UPDATE jobs SET lease_until = jobd_now() + $2"
                   " WHERE state = 2 AND owner = $1 RETURNING id",
                   {T_TEXT, T_INT8}},
    [PGS_RESCUE] = {"jobd_rescue",
                    "WITH x AS (SELECT id FROM jobs WHERE state = 2"
                    " AND lease_until < jobd_now() FOR UPDATE SKIP LOCKED)"
                    " UPDATE jobs j" RESCUE_SET
                    " FROM x WHERE j.id = x.id RETURNING j.id, j.state",
                    {T_INT8}},
    [PGS_RECOVER_OWN] = {"jobd_recover_own",
                         "WITH x AS (SELECT id FROM jobs WHERE state = 2"
                         " AND owner = $2 FOR UPDATE SKIP LOCKED)"
                         " UPDATE jobs j" RESCUE_SET
                         " FROM x WHERE j.id = x.id"
                         " RETURNING j.id, j.state",
                         {T_INT8, T_TEXT}},
    [PGS_DOOM] =
        {"jobd_doom",
         "UPDATE jobs j SET state = 5, finished_at = jobd_now(),"
         " error = x.why"
         " FROM (SELECT q.id, (SELECT 'job ' || d.id || CASE WHEN d.state = 4"
         " THEN ' failed' ELSE ' was cancelled' END FROM jobs d"
         " WHERE d.id = ANY (q.after) AND d.state IN (4, 5)"
         " ORDER BY d.id LIMIT 1) AS why"
         " FROM jobs q WHERE q.state = 1 AND q.after <> '{}') x"
         " WHERE j.id = x.id AND x.why IS NOT NULL AND j.state = 1"
         " RETURNING j.id",
         {0}},
    [PGS_CANCEL] =
        {"jobd_cancel",
         "WITH c AS (UPDATE jobs SET"
         " state = CASE WHEN state = 1 THEN 5 ELSE state END,"
         " finished_at = CASE WHEN state = 1 THEN jobd_now()"
         " ELSE finished_at END,"
         " cancel_requested = cancel_requested OR state = 2"
         " WHERE id = $1 AND state IN (1, 2) RETURNING id, state),"
         " n AS (SELECT pg_notify('" PGSTORE_CHAN_CANCEL "', id::text)"
         " FROM c WHERE state = 2)"
         " SELECT c.state, (SELECT count(*) FROM n) FROM c"
         " UNION ALL SELECT j.state, 0 FROM jobs j WHERE j.id = $1"
         " AND NOT EXISTS (SELECT 1 FROM c)",
         {T_INT8}},
    [PGS_RERUN] =
        {"jobd_rerun",
         "WITH old AS (SELECT id, reruns, state, error, attempts,"
         " started_at, finished_at FROM jobs"
         " WHERE id = $1 AND state IN (4, 5) FOR UPDATE),"
         " h AS (INSERT INTO job_runs (job_id, seq, state, error, attempts,"
         " started_at, finished_at) SELECT id, reruns, state, error,"
         " attempts, started_at, finished_at FROM old)"
         " UPDATE jobs j SET state = 1, attempts = 0,"
         " reruns = j.reruns + 1, not_before = $2,"
         " after = coalesce($3, '{}'), progress_done = 0,"
         " progress_total = 0, result = NULL, result_crc = $4,"
         " error = NULL, started_at = 0, finished_at = 0, recoveries = 0,"
         " owner = NULL, lease_until = 0, cancel_requested = false"
         " FROM old WHERE j.id = old.id"
         " RETURNING " REC_HEAD ", NULL::bytea, NULL::bytea",
         {T_INT8, T_INT8, T_INT8A, T_INT8}},
    [PGS_PAUSE] = {"jobd_pause",
                   "INSERT INTO paused_kinds (kind, paused_at) VALUES ($1,"
                   " CASE WHEN $2 = 0 THEN jobd_now() ELSE $2 END)"
                   " ON CONFLICT DO NOTHING RETURNING kind",
                   {T_TEXT, T_INT8}},
    [PGS_RESUME] = {"jobd_resume",
                    "DELETE FROM paused_kinds WHERE kind = $1 RETURNING kind",
                    {T_TEXT}},
    [PGS_PAUSED] = {"jobd_paused",
                    "SELECT kind FROM paused_kinds ORDER BY kind",
                    {0}},
    [PGS_TICK] = {"jobd_tick",
                  "INSERT INTO schedule_ticks AS t (name, at, job_id)"
                  " VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE"
                  " SET at = excluded.at, job_id = excluded.job_id"
                  " WHERE excluded.at >= t.at",
                  {T_TEXT, T_INT8, T_INT8}},
    [PGS_TICKS] = {"jobd_ticks",
                   "SELECT name, at, job_id FROM schedule_ticks"
                   " ORDER BY name",
                   {0}},
    [PGS_PURGE] = {"jobd_purge",
                   "WITH d AS (DELETE FROM jobs WHERE id IN (SELECT id"
                   " FROM jobs WHERE state >= 3 AND finished_at < $1"
                   " ORDER BY finished_at LIMIT $2)"
                   " AND state >= 3 AND finished_at < $1 RETURNING id),"
                   " r AS (DELETE FROM job_runs"
                   " WHERE job_id IN (SELECT id FROM d))"
                   " SELECT count(*) FROM d",
                   {T_INT8, T_INT8}},
    [PGS_GET] = {"jobd_get",
                 "SELECT " REC_HEAD ", j.result,"
                 " CASE WHEN $2 THEN j.input END FROM jobs j"
                 " WHERE j.id = $1",
                 {T_INT8, T_BOOL}},
    [PGS_RUNS] = {"jobd_runs",
                  "SELECT state, error, attempts, started_at, finished_at"
                  " FROM job_runs WHERE job_id = $1 ORDER BY seq",
                  {T_INT8}},
    [PGS_FIND_KEY] = {"jobd_find_key",
                      "SELECT id FROM jobs WHERE idem_key = $1",
                      {T_TEXT}},
    [PGS_LIST] = {"jobd_list", LIST_HEAD LIST_TAIL, {T_INT8, T_INT8}},
    [PGS_LIST_STATE] = {"jobd_list_state",
                        LIST_HEAD " AND j.state = $3" LIST_TAIL,
                        {T_INT8, T_INT8, T_INT4}},
    [PGS_LIST_KIND] = {"jobd_list_kind",
                       LIST_HEAD " AND j.kind = $3" LIST_TAIL,
                       {T_INT8, T_INT8, T_TEXT}},
    [PGS_LIST_STATE_KIND] = {"jobd_list_state_kind",
                             LIST_HEAD
                             " AND j.state = $3 AND j.kind = $4" LIST_TAIL,
                             {T_INT8, T_INT8, T_INT4, T_TEXT}},
    [PGS_LIST_READY] = {"jobd_list_ready", LIST_HEAD READY LIST_TAIL,
                        {T_INT8, T_INT8}},
    [PGS_LIST_READY_KIND] = {"jobd_list_ready_kind",
                             LIST_HEAD READY " AND j.kind = $3" LIST_TAIL,
                             {T_INT8, T_INT8, T_TEXT}},
    [PGS_LIST_LATER] = {"jobd_list_later", LIST_HEAD LATER LIST_TAIL,
                        {T_INT8, T_INT8}},
    [PGS_LIST_LATER_KIND] = {"jobd_list_later_kind",
                             LIST_HEAD LATER " AND j.kind = $3" LIST_TAIL,
                             {T_INT8, T_INT8, T_TEXT}},
    [PGS_STATES] = {"jobd_states",
                    "SELECT u.i, CASE WHEN j.state = 1"
                    " AND j.not_before > jobd_now() THEN 6 ELSE j.state END"
                    " FROM unnest($1::int8[]) WITH ORDINALITY AS u(id, i)"
                    " LEFT JOIN jobs j ON j.id = u.id",
                    {T_INT8A}},
    [PGS_COUNTS] = {"jobd_counts",
                    "SELECT CASE WHEN state = 1 AND not_before > jobd_now()"
                    " THEN 6 ELSE state END, count(*) FROM jobs GROUP BY 1",
                    {0}},
    [PGS_COUNTS_LIVE] = {"jobd_counts_live",
                         "SELECT (SELECT count(*) FROM jobs WHERE state = 1"
                         " AND not_before <= jobd_now()),"
                         " (SELECT count(*) FROM jobs WHERE state = 2),"
                         " (SELECT count(*) FROM jobs WHERE state = 1"
                         " AND not_before > jobd_now())",
                         {0}},
    [PGS_RUNNING_BY_KIND] = {"jobd_running_by_kind",
                             "SELECT kind, count(*) FROM jobs"
                             " WHERE state = 2 GROUP BY kind ORDER BY kind",
                             {0}},
    [PGS_NOTIFY] = {"jobd_notify", "SELECT 1 FROM pg_notify($1, $2)",
                    {T_TEXT, T_TEXT}},
    [PGS_LEAD] = {"jobd_lead",
                  "SELECT pg_try_advisory_lock(1785684580, 1)",
                  {0}},
    [PGS_LEADING] = {"jobd_leading",
                     "SELECT EXISTS (SELECT 1 FROM pg_locks"
                     " WHERE locktype = 'advisory'"
                     " AND pid = pg_backend_pid() AND classid = 1785684580"
                     " AND objid = 1 AND objsubid = 2 AND granted)",
                     {0}},
    [PGS_UNLEAD] = {"jobd_unlead",
                    "SELECT pg_advisory_unlock(1785684580, 1)",
                    {0}},
};

const char *
pg_stmt_sql(enum pg_stmt st, int *nparams, const Oid **types)
{
	int n = 0;

	while (n < PG_MAX_ARGS && pg_sql[st].types[n] != 0)
		n++;
	*nparams = n;
	*types = pg_sql[st].types;
	return pg_sql[st].sql;
}

const char *
pg_stmt_name(enum pg_stmt st)
{
	return pg_sql[st].name;
}

/* ---- reading jobs ---------------------------------------------------- */

static uint32_t
get32le(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
	       (uint32_t) p[3] << 24;
}

/* The params blob b[0..len) of job id into r (store.c's format, checked
 * as strictly: the database may hold anything). */
static int
pg_params_decode(pgstore *s, uint64_t id, const uint8_t *b, size_t len,
                 struct jobrec *r)
{
	size_t n, off = 4;

	if (len < 4)
		goto bad;
	n = get32le(b);
	if (n > (len - 4) / 8)
		goto bad;
	if (n == 0)
		return JOBD_OK;
	if ((r->params = calloc(n, sizeof(*r->params))) == NULL)
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot read job %" PRIu64 ": out of memory", id);
	r->nparams = n;
	for (size_t i = 0; i < n; i++) {
		char **f[2] = {&r->params[i].name, &r->params[i].value};
		for (int j = 0; j < 2; j++) {
			size_t l;
			if (len - off < 4)
				goto bad;
			l = get32le(b + off);
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
	                 "the stored params of job %" PRIu64 " are damaged", id);
}

/* How pg_rec treats an input that fails its checksum. */
enum {
	REC_INPUT_STRICT, /* JOBD_DATA_LOSS */
	REC_INPUT_SOFT,   /* the record says so (pgstore_claim) */
};

static int
pg_bytes(const PGresult *r, int row, int col, uint8_t **p, size_t *len)
{
	size_t l;

	*p = NULL;
	*len = 0;
	if (PQgetisnull(r, row, col) || (l = (size_t) PQgetlength(r, row, col)) == 0)
		return 0;
	if ((*p = malloc(l)) == NULL)
		return -1;
	memcpy(*p, PQgetvalue(r, row, col), l);
	*len = l;
	return 0;
}

/* Row `row` of r (columns C_*) into *out (zeroed first; cleared again on
 * an error). */
static int
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
	if ((rv = pg_params_decode(s, id,
	                           (const uint8_t *) PQgetvalue(r, row,
	                                                        C_PARAMS),
	                           (size_t) PQgetlength(r, row, C_PARAMS),
	                           out)) != JOBD_OK)
		goto fail;
	if (pg_bytes(r, row, C_RESULT, &out->result, &out->result_len) != 0)
		goto oom;
	if (!PQgetisnull(r, row, C_RESULT) &&
	    pg_result_crc(id, out->result, out->result_len) != (uint32_t) rcrc) {
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
	if (pg_input_crc(id, out->kind,
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
static int
pg_recs(pgstore *s, const PGresult *r, int mode, struct jobrec **out,
        size_t *n)
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
static int
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

/* ---- submit ---------------------------------------------------------------- */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

/* The scratch of one insert_batch: the columns, one array each. */
struct pg_batch {
	int64_t *id, *max_attempts, *timeout, *created, *not_before, *icrc,
	    *rcrc;
	int32_t *priority, *idx;
	const char **kind, **idem, **uniq, **after_txt;
	char **after_own;
	const void **params, **input;
	size_t *plen, *ilen;
	uint8_t **params_own;
	size_t n;
};

static void
pg_batch_free(struct pg_batch *b)
{
	if (b->after_own != NULL)
		for (size_t i = 0; i < b->n; i++)
			free(b->after_own[i]);
	if (b->params_own != NULL)
		for (size_t i = 0; i < b->n; i++)
			free(b->params_own[i]);
	free(b->id);
	free(b->max_attempts);
	free(b->timeout);
	free(b->created);
	free(b->not_before);
	free(b->icrc);
	free(b->rcrc);
	free(b->priority);
	free(b->idx);
	free(b->kind);
	free(b->idem);
	free(b->uniq);
	free(b->after_txt);
	free(b->after_own);
	free(b->params);
	free(b->input);
	free(b->plen);
	free(b->ilen);
	free(b->params_own);
}

static int
pg_batch_alloc(struct pg_batch *b, size_t n)
{
	memset(b, 0, sizeof(*b));
	b->n = n;
	b->id = calloc(n, sizeof(int64_t));
	b->max_attempts = calloc(n, sizeof(int64_t));
	b->timeout = calloc(n, sizeof(int64_t));
	b->created = calloc(n, sizeof(int64_t));
	b->not_before = calloc(n, sizeof(int64_t));
	b->icrc = calloc(n, sizeof(int64_t));
	b->rcrc = calloc(n, sizeof(int64_t));
	b->priority = calloc(n, sizeof(int32_t));
	b->idx = calloc(n, sizeof(int32_t));
	b->kind = calloc(n, sizeof(char *));
	b->idem = calloc(n, sizeof(char *));
	b->uniq = calloc(n, sizeof(char *));
	b->after_txt = calloc(n, sizeof(char *));
	b->after_own = calloc(n, sizeof(char *));
	b->params = calloc(n, sizeof(void *));
	b->input = calloc(n, sizeof(void *));
	b->plen = calloc(n, sizeof(size_t));
	b->ilen = calloc(n, sizeof(size_t));
	b->params_own = calloc(n, sizeof(uint8_t *));
	return b->id && b->max_attempts && b->timeout && b->created &&
	               b->not_before && b->icrc && b->rcrc && b->priority &&
	               b->idx && b->kind && b->idem && b->uniq &&
	               b->after_txt && b->after_own && b->params && b->input &&
	               b->plen && b->ilen && b->params_own
	           ? 0
	           : -1;
}

/* "{1,2,3}" of the ids r runs after (malloc'd), NULL for none. */
static char *
pg_after_text(const struct jobrec *r, bool *oom)
{
	char *t, *p;

	if (r->nafter == 0 || r->after == NULL)
		return NULL;
	if ((t = malloc(r->nafter * 21 + 3)) == NULL) {
		*oom = true;
		return NULL;
	}
	p = t;
	*p++ = '{';
	for (size_t i = 0; i < r->nafter; i++)
		p += sprintf(p, "%s%" PRIu64, i > 0 ? "," : "", r->after[i]);
	*p++ = '}';
	*p = '\0';
	return t;
}

/* Inserts the jobs b->idx[0..m) of the batch; marks the ones inserted in
 * done[] (and their ids and times in recs/res). */
static int
pg_insert_rows(pgstore *s, struct pg_batch *b, size_t m, struct jobrec *recs,
               struct pgstore_ins *res, bool *done)
{
	struct pg_batch c; /* the rows of this round, as pointers into b */
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if (pg_batch_alloc(&c, m) != 0) {
		pg_batch_free(&c);
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot insert jobs: out of memory");
	}
	for (size_t k = 0; k < m; k++) {
		size_t i = (size_t) b->idx[k];
		c.id[k] = b->id[i];
		c.kind[k] = b->kind[i];
		c.params[k] = b->params[i];
		c.plen[k] = b->plen[i];
		c.priority[k] = b->priority[i];
		c.max_attempts[k] = b->max_attempts[i];
		c.timeout[k] = b->timeout[i];
		c.idem[k] = b->idem[i];
		c.uniq[k] = b->uniq[i];
		c.after_txt[k] = b->after_txt[i];
		c.created[k] = b->created[i];
		c.not_before[k] = b->not_before[i];
		c.input[k] = b->input[i];
		c.ilen[k] = b->ilen[i];
		c.icrc[k] = b->icrc[i];
		c.rcrc[k] = b->rcrc[i];
	}
	pga_i64_array(&a, c.id, m);
	pga_text_array(&a, c.kind, m, false);
	pga_bytea_array(&a, c.params, c.plen, m);
	pga_i32_array(&a, c.priority, m);
	pga_i64_array(&a, c.max_attempts, m);
	pga_i64_array(&a, c.timeout, m);
	pga_text_array(&a, c.idem, m, true);
	pga_text_array(&a, c.uniq, m, true);
	pga_text_array(&a, c.after_txt, m, false);
	pga_i64_array(&a, c.created, m);
	pga_i64_array(&a, c.not_before, m);
	pga_bytea_array(&a, c.input, c.ilen, m);
	pga_i64_array(&a, c.icrc, m);
	pga_i64_array(&a, c.rcrc, m);
	/* the arguments hold copies: c's arrays (of borrowed pointers) go */
	pg_batch_free(&c);
	if ((r = pg_exec(s, PGS_INSERT, &a, "insert jobs", &rv)) == NULL)
		return rv;
	for (int row = 0; row < PQntuples(r); row++) {
		int64_t id = pgv_i64(r, row, 0);
		int64_t *hit = bsearch(&id, b->id, b->n, sizeof(int64_t),
		                       cmp_u64);
		size_t i;
		if (hit == NULL)
			continue;
		i = (size_t) (hit - b->id);
		done[i] = true;
		res[i].id = (uint64_t) id;
		res[i].outcome = PGSTORE_INS_NEW;
		recs[i].id = (uint64_t) id;
		recs[i].created_at = pgv_i64(r, row, 1);
		recs[i].state = JOB_QUEUED;
	}
	PQclear(r);
	return JOBD_OK;
}

/* For the jobs b->idx[0..*m) not inserted: the job holding the key;
 * those whose holder is gone meanwhile stay in b->idx[0..*m). */
static int
pg_conflicts(pgstore *s, struct pg_batch *b, size_t *m,
             struct pgstore_ins *res, bool *done)
{
	const char **k = calloc(*m, sizeof(*k)), **u = calloc(*m, sizeof(*u));
	struct pgargs a = {0};
	PGresult *r;
	size_t left = 0;
	int rv;

	if (k == NULL || u == NULL) {
		free(k);
		free(u);
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot insert jobs: out of memory");
	}
	for (size_t j = 0; j < *m; j++) {
		k[j] = b->idem[b->idx[j]];
		u[j] = b->uniq[b->idx[j]];
	}
	pga_i32_array(&a, b->idx, *m);
	pga_text_array(&a, k, *m, true);
	pga_text_array(&a, u, *m, true);
	free(k);
	free(u);
	if ((r = pg_exec(s, PGS_CONFLICTS, &a, "insert jobs", &rv)) == NULL)
		return rv;
	for (int row = 0; row < PQntuples(r); row++) {
		size_t i = (size_t) pgv_i64(r, row, 0);
		if (i >= b->n)
			continue;
		if (!PQgetisnull(r, row, 1)) {
			res[i].id = (uint64_t) pgv_i64(r, row, 1);
			res[i].outcome = PGSTORE_INS_KEY;
			done[i] = true;
		} else if (!PQgetisnull(r, row, 2)) {
			res[i].id = (uint64_t) pgv_i64(r, row, 2);
			res[i].outcome = PGSTORE_INS_UNIQUE;
			done[i] = true;
		}
	}
	PQclear(r);
	for (size_t j = 0; j < *m; j++)
		if (!done[b->idx[j]])
			b->idx[left++] = b->idx[j];
	*m = left;
	return JOBD_OK;
}

int
pgstore_insert_batch(pgstore *s, struct jobrec *recs, size_t n,
                     struct pgstore_ins *res)
{
	struct pg_batch b;
	struct pgargs a = {0};
	PGresult *r;
	bool *done = NULL, oom = false;
	size_t m;
	int rv = JOBD_OK;

	if (n == 0)
		return JOBD_OK;
	if (n > INT32_MAX / 2)
		return pg_seterr(s, JOBD_INVALID_ARGUMENT,
		                 "cannot insert jobs: batch too big");
	if (pg_batch_alloc(&b, n) != 0 || (done = calloc(n, 1)) == NULL) {
		rv = pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		               "cannot insert jobs: out of memory");
		goto out;
	}
	m = 0;
	for (size_t i = 0; i < n; i++) {
		const struct jobrec *j = &recs[i];
		/* what PostgreSQL would refuse fails its job, not the batch */
		if (j->kind == NULL || !pg_utf8_valid(j->kind) ||
		    (j->idem_key != NULL && !pg_utf8_valid(j->idem_key)) ||
		    (j->unique_key != NULL && !pg_utf8_valid(j->unique_key)) ||
		    (rv = pg_params_encode(s, j, &b.params_own[i],
		                           &b.plen[i])) == JOBD_INVALID_ARGUMENT) {
			res[i].id = 0;
			res[i].outcome = PGSTORE_INS_INVALID;
			done[i] = true;
			continue;
		}
		if (rv != JOBD_OK)
			goto out;
		b.params[i] = b.params_own[i];
		b.kind[i] = j->kind;
		b.priority[i] = j->priority;
		b.max_attempts[i] = j->max_attempts;
		b.timeout[i] = j->timeout_ms;
		b.idem[i] = j->idem_key;
		b.uniq[i] = j->unique_key;
		b.after_own[i] = pg_after_text(j, &oom);
		b.after_txt[i] = b.after_own[i];
		b.created[i] = j->created_at;
		b.not_before[i] = j->not_before;
		b.input[i] = j->input;
		b.ilen[i] = j->input != NULL ? j->input_len : 0;
		b.idx[m++] = (int32_t) i;
	}
	if (oom) {
		rv = pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		               "cannot insert jobs: out of memory");
		goto out;
	}

	if (m == 0) {
		rv = JOBD_OK;
		goto out;
	}
	/* the ids, ascending in the batch's order (FIFO within a priority) */
	pga_i64(&a, (int64_t) n);
	if ((r = pg_exec(s, PGS_IDS, &a, "draw job ids", &rv)) == NULL)
		goto out;
	if ((size_t) PQntuples(r) != n) {
		rv = pg_seterr(s, JOBD_INTERNAL,
		               "cannot draw job ids: %d of %zu", PQntuples(r),
		               n);
		PQclear(r);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		b.id[i] = pgv_i64(r, (int) i, 0);
	PQclear(r);
	qsort(b.id, n, sizeof(int64_t), cmp_u64);
	for (size_t i = 0; i < n; i++) {
		if (done[i]) /* invalid */
			continue;
		b.icrc[i] = pg_input_crc((uint64_t) b.id[i], b.kind[i],
		                         b.params[i], b.plen[i], b.input[i],
		                         b.ilen[i]);
		b.rcrc[i] = pg_result_crc((uint64_t) b.id[i], NULL, 0);
	}

	/* a key taken: its holder; a holder gone meanwhile: insert again */
	for (int round = 0; m > 0; round++) {
		size_t left = 0;
		if (round == 3) {
			rv = pg_seterr(s, JOBD_ABORTED,
			               "cannot insert jobs: a key was taken and "
			               "released meanwhile, again and again");
			goto out;
		}
		if ((rv = pg_insert_rows(s, &b, m, recs, res, done)) != JOBD_OK)
			goto out;
		for (size_t j = 0; j < m; j++)
			if (!done[b.idx[j]])
				b.idx[left++] = b.idx[j];
		m = left;
		if (m > 0 && (rv = pg_conflicts(s, &b, &m, res, done)) !=
		                 JOBD_OK)
			goto out;
	}
	rv = JOBD_OK;
out:
	pg_batch_free(&b);
	free(done);
	return rv;
}

/* ---- workers ------------------------------------------------------------------ */

static int
cmp_claim(const void *a, const void *b)
{
	const struct jobrec *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int
pgstore_claim(pgstore *s, const char *owner, uint32_t lease_ms,
              const char *const *kinds, size_t nkinds,
              const struct pgstore_cap *caps, size_t ncaps, size_t max,
              struct jobrec **out, size_t *n)
{
	const char **ck = NULL;
	int64_t *cm = NULL;
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	*out = NULL;
	*n = 0;
	if (max == 0)
		return JOBD_OK;
	if (ncaps > 0 && ((ck = calloc(ncaps, sizeof(*ck))) == NULL ||
	                  (cm = calloc(ncaps, sizeof(*cm))) == NULL)) {
		free(ck);
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot claim jobs: out of memory");
	}
	for (size_t i = 0; i < ncaps; i++) {
		ck[i] = caps[i].kind;
		cm[i] = caps[i].more;
	}
	pga_text(&a, owner, false);
	pga_i64(&a, lease_ms);
	if (kinds != NULL)
		pga_text_array(&a, kinds, nkinds, false);
	pga_text_array(&a, ck, ncaps, false);
	pga_i64_array(&a, cm, ncaps);
	pga_i64(&a, max > INT32_MAX ? INT32_MAX : (int64_t) max);
	free(ck);
	free(cm);
	if ((r = pg_exec(s, kinds != NULL ? PGS_CLAIM_KINDS : PGS_CLAIM, &a,
	                 "claim jobs", &rv)) == NULL)
		return rv;
	rv = pg_recs(s, r, REC_INPUT_SOFT, out, n);
	PQclear(r);
	if (rv == JOBD_OK && *n > 1)
		qsort(*out, *n, sizeof(**out), cmp_claim);
	return rv;
}

int
pgstore_finish(pgstore *s, const char *owner, const struct jobrec *rec)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if (rec->state != JOB_QUEUED && !job_state_terminal(rec->state))
		return pg_seterr(s, JOBD_INVALID_ARGUMENT,
		                 "cannot finish job %" PRIu64 ": state %d",
		                 rec->id, rec->state);
	pga_i64(&a, (int64_t) rec->id);
	pga_text(&a, owner, false);
	pga_i32(&a, rec->state);
	pga_i64(&a, rec->attempts);
	pga_i64(&a, (int64_t) rec->progress_done);
	pga_i64(&a, (int64_t) rec->progress_total);
	pga_bytes(&a, rec->result, rec->result != NULL ? rec->result_len : 0);
	pga_i64(&a, pg_result_crc(rec->id, rec->result,
	                          rec->result != NULL ? rec->result_len : 0));
	/* a program's error text may be anything: never a reason to lose
	 * the end */
	char *fixed;
	const char *error = pg_utf8_fix(rec->error, &fixed);
	if (rec->error != NULL && error == NULL) {
		pga_free(&a);
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot finish job %" PRIu64 ": out of memory",
		                 rec->id);
	}
	pga_text(&a, error, false);
	pga_i64(&a, rec->finished_at);
	pga_i64(&a, rec->not_before);
	r = pg_exec(s, PGS_FINISH, &a, "finish job", &rv);
	free(fixed);
	if (r == NULL)
		return rv;
	rv = strcmp(PQcmdTuples(r), "1") == 0
	         ? JOBD_OK
	         : pg_seterr(s, JOBD_NOT_FOUND,
	                     "cannot finish job %" PRIu64
	                     ": it is not running as %s's (its lease was lost)",
	                     rec->id, owner);
	PQclear(r);
	return rv;
}

int
pgstore_progress(pgstore *s, const char *owner, uint64_t id, uint64_t done,
                 uint64_t total, bool *cancel)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	pga_i64(&a, (int64_t) id);
	pga_text(&a, owner, false);
	pga_i64(&a, (int64_t) done);
	pga_i64(&a, (int64_t) total);
	if ((r = pg_exec(s, PGS_PROGRESS, &a, "write progress", &rv)) == NULL)
		return rv;
	if (PQntuples(r) == 1) {
		if (cancel != NULL)
			*cancel = pgv_bool(r, 0, 0);
		rv = JOBD_OK;
	} else
		rv = pg_seterr(s, JOBD_NOT_FOUND,
		               "cannot write the progress of job %" PRIu64
		               ": it is not running as %s's",
		               id, owner);
	PQclear(r);
	return rv;
}

int
pgstore_renew(pgstore *s, const char *owner, uint32_t lease_ms,
              uint64_t **ids, size_t *n)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	*ids = NULL;
	*n = 0;
	pga_text(&a, owner, false);
	pga_i64(&a, lease_ms);
	if ((r = pg_exec(s, PGS_RENEW, &a, "renew leases", &rv)) == NULL)
		return rv;
	rv = pg_ids(s, r, ids, n);
	PQclear(r);
	return rv;
}

/* The rows of a rescue (id, state): counted, and the ended ones' ids. */
static int
pg_rescued(pgstore *s, PGresult *r, uint64_t *requeued, uint64_t *failed,
           uint64_t **ended, size_t *nended)
{
	int rows = PQntuples(r);

	*requeued = *failed = 0;
	*ended = NULL;
	*nended = 0;
	for (int i = 0; i < rows; i++) {
		if (pgv_i64(r, i, 1) == JOB_QUEUED) {
			(*requeued)++;
			continue;
		}
		(*failed)++;
		if (*ended == NULL &&
		    (*ended = malloc((size_t) rows * sizeof(**ended))) == NULL)
			/* committed already (or the caller's transaction
			 * is): the waiters learn by the fallback poll */
			return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
			                 "cannot list rescued jobs: out of "
			                 "memory");
		(*ended)[(*nended)++] = (uint64_t) pgv_i64(r, i, 0);
	}
	return JOBD_OK;
}

int
pgstore_rescue(pgstore *s, uint32_t max_recoveries, uint64_t *requeued,
               uint64_t *failed, uint64_t **ended, size_t *nended)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	*requeued = *failed = 0;
	*ended = NULL;
	*nended = 0;
	pga_i64(&a, max_recoveries);
	if ((r = pg_exec(s, PGS_RESCUE, &a, "rescue expired leases", &rv)) ==
	    NULL)
		return rv;
	rv = pg_rescued(s, r, requeued, failed, ended, nended);
	PQclear(r);
	return rv;
}

int
pgstore_recover_own(pgstore *s, const char *owner, uint32_t max_recoveries,
                    uint64_t *requeued, uint64_t *failed, uint64_t **ended,
                    size_t *nended)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	*requeued = *failed = 0;
	*ended = NULL;
	*nended = 0;
	pga_i64(&a, max_recoveries);
	pga_text(&a, owner, false);
	if ((r = pg_exec(s, PGS_RECOVER_OWN, &a, "recover own jobs", &rv)) ==
	    NULL)
		return rv;
	rv = pg_rescued(s, r, requeued, failed, ended, nended);
	PQclear(r);
	return rv;
}

int
pgstore_doom(pgstore *s, uint64_t **ids, size_t *n)
{
	uint64_t *all = NULL;
	size_t nall = 0;
	int rv;

	*ids = NULL;
	*n = 0;
	/* a chain a <- b <- c cancels b in the first round, c in the next */
	for (;;) {
		struct pgargs a = {0};
		PGresult *r;
		uint64_t *more;
		size_t nmore;

		if ((r = pg_exec(s, PGS_DOOM, &a, "cancel dependent jobs",
		                 &rv)) == NULL)
			goto fail;
		rv = pg_ids(s, r, &more, &nmore);
		PQclear(r);
		if (rv != JOBD_OK)
			goto fail;
		if (nmore == 0)
			break;
		uint64_t *grown = realloc(all, (nall + nmore) * sizeof(*all));
		if (grown == NULL) {
			free(more);
			rv = pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
			               "cannot cancel dependent jobs: out of "
			               "memory");
			goto fail;
		}
		all = grown;
		memcpy(all + nall, more, nmore * sizeof(*all));
		nall += nmore;
		free(more);
	}
	*ids = all;
	*n = nall;
	return JOBD_OK;
fail:
	free(all);
	return rv;
}

/* ---- control ------------------------------------------------------------------- */

int
pgstore_cancel(pgstore *s, uint64_t id, int *state)
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
	pga_i64(&a, pg_result_crc(id, NULL, 0));
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
	if ((r = pg_exec(s, PGS_TICK, &a, "record a schedule's firing",
	                 &rv)) == NULL)
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

/* ---- reads ------------------------------------------------------------------------- */

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
		pga_i64(&a, f->limit > INT64_MAX ? INT64_MAX
		                                 : (int64_t) f->limit);
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

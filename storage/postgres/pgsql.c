/*
 * pgsql.c: the text of every statement pgstore prepares, and their
 * parameter types (pgstore.c's opening comment has the design: claiming,
 * idempotency, the indexes each statement walks).
 *
 * Every statement that returns jobs returns the columns of REC_HEAD (in
 * the order of pgstore_int.h's enum rec_col), then the result or NULL,
 * then the input or NULL (pgread.c's pg_rec reads them). For a queued job
 * REC_HEAD also says why it may wait (struct jobrec's `waiting`): for a
 * job it runs after (the first, in its order, that has not succeeded), or
 * for its kind's pause; the runtime adds the reasons only it knows (kind
 * undefined here, kind at its limit). A state read back is JOB_SCHEDULED
 * for a queued job whose not_before is ahead of the server's clock, as
 * the local scheduler shows it.
 */

#include "pgstore_int.h"

#define T_INT8   20
#define T_INT4   23
#define T_TEXT   25
#define T_BYTEA  17
#define T_BOOL   16
#define T_INT8A  1016
#define T_INT4A  1007
#define T_TEXTA  1009
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
#define READY     " AND j.state = 1 AND j.not_before <= jobd_now()"
#define LATER     " AND j.state = 1 AND j.not_before > jobd_now()"

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
         " (SELECT j.id, j.priority FROM jobs j WHERE j.kind = cap.kind "
         "AND" CLAIM_RUNNABLE
         " ORDER BY j.priority DESC, j.id LIMIT least(cap.more, $5)"
         " FOR UPDATE OF j SKIP LOCKED) x WHERE cap.more > 0),"
         " free AS (SELECT j.id, j.priority FROM jobs j WHERE"
         " j.kind <> ALL ($3::text[]) AND NOT EXISTS (SELECT 1"
         " FROM paused_kinds p WHERE p.kind = j.kind) AND" CLAIM_RUNNABLE
         " ORDER BY j.priority DESC, j.id LIMIT $5"
         " FOR UPDATE OF j SKIP LOCKED),"
         " pick AS (SELECT id FROM (SELECT * FROM capped UNION ALL"
         " SELECT * FROM free) c ORDER BY priority DESC, id LIMIT "
         "$5)" CLAIM_UPDATE,
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
         " (SELECT j.id, j.priority FROM jobs j WHERE j.kind = k.kind "
         "AND" CLAIM_RUNNABLE
         " ORDER BY j.priority DESC, j.id LIMIT least(k.room, $6)"
         " FOR UPDATE OF j SKIP LOCKED) x WHERE k.room > 0),"
         " pick AS (SELECT id FROM cand ORDER BY priority DESC, id LIMIT "
         "$6)" CLAIM_UPDATE,
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
                    " FROM x WHERE j.id = x.id RETURNING j.id, j.state,"
                    " j.kind",
                    {T_INT8}},
    [PGS_RECOVER_OWN] = {"jobd_recover_own",
                         "WITH x AS (SELECT id FROM jobs WHERE state = 2"
                         " AND owner = $2 FOR UPDATE SKIP LOCKED)"
                         " UPDATE jobs j" RESCUE_SET " FROM x WHERE j.id = x.id"
                         " RETURNING j.id, j.state, j.kind",
                         {T_INT8, T_TEXT}},
    [PGS_DOOM] = {"jobd_doom",
                  /* locked in id order: two daemons dooming at once wait for
                   * each other, never in a cycle */
                  "WITH x AS (SELECT q.id FROM jobs q WHERE q.state = 1"
                  " AND q.after <> '{}' AND EXISTS (SELECT 1 FROM jobs d"
                  " WHERE d.id = ANY (q.after) AND d.state IN (4, 5))"
                  " ORDER BY q.id FOR UPDATE OF q)"
                  " UPDATE jobs j SET state = 5, finished_at = jobd_now(),"
                  " error = (SELECT 'job ' || d.id || CASE WHEN d.state = 4"
                  " THEN ' failed' ELSE ' was cancelled' END FROM jobs d"
                  " WHERE d.id = ANY (j.after) AND d.state IN (4, 5)"
                  " ORDER BY d.id LIMIT 1)"
                  " FROM x WHERE j.id = x.id AND j.state = 1"
                  " RETURNING j.id, j.kind",
                  {0}},
    [PGS_CANCEL] =
        {"jobd_cancel",
         "WITH c AS (UPDATE jobs SET"
         " state = CASE WHEN state = 1 THEN 5 ELSE state END,"
         " finished_at = CASE WHEN state = 1 THEN jobd_now()"
         " ELSE finished_at END,"
         " cancel_requested = cancel_requested OR state = 2"
         " WHERE id = $1 AND state IN (1, 2) RETURNING id, state, kind),"
         " n AS (SELECT pg_notify('" PGSTORE_CHAN_CANCEL "', id::text)"
         " FROM c WHERE state = 2)"
         " SELECT c.state, (SELECT count(*) FROM n), c.kind FROM c"
         /* the kind only when this call changed the row */
         " UNION ALL SELECT j.state, 0, NULL FROM jobs j"
         " WHERE j.id = $1"
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
    [PGS_LIST_READY] = {"jobd_list_ready",
                        LIST_HEAD READY LIST_TAIL,
                        {T_INT8, T_INT8}},
    [PGS_LIST_READY_KIND] = {"jobd_list_ready_kind",
                             LIST_HEAD READY " AND j.kind = $3" LIST_TAIL,
                             {T_INT8, T_INT8, T_TEXT}},
    [PGS_LIST_LATER] = {"jobd_list_later",
                        LIST_HEAD LATER LIST_TAIL,
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
    [PGS_DB_SIZE] = {"jobd_db_size",
                     "SELECT pg_database_size(current_database())",
                     {0}},
    [PGS_RUNNING_BY_KIND] = {"jobd_running_by_kind",
                             "SELECT kind, count(*) FROM jobs"
                             " WHERE state = 2 GROUP BY kind ORDER BY kind",
                             {0}},
    [PGS_NOTIFY] = {"jobd_notify",
                    "SELECT 1 FROM pg_notify($1, $2)",
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

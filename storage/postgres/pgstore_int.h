#ifndef JOBD_PGSTORE_INT_H
#define JOBD_PGSTORE_INT_H

/*
 * pgstore_int: what the files of pgstore share, not for other modules
 * (they see pgstore.h). pgstore.c holds the connection, the conversion of
 * errors, the arguments and the reading of results, transactions,
 * notifications and leadership; pgschema.c the migrations; pgsql.c the
 * text of every statement; pgjobs.c submit and the workers' calls;
 * pgread.c the reading of rows, the reads and the control calls.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "pgstore.h"

/* The statements, prepared on first use on each connection (pgsql.c's
 * pg_sql holds their text and parameter types). */
enum pg_stmt {
	PGS_NOW,
	PGS_IDS,
	PGS_INSERT,
	PGS_CONFLICTS,
	PGS_CLAIM,       /* of any kind: one walk of jobs_ready */
	PGS_CLAIM_KINDS, /* of the kinds given: a walk of each */
	PGS_FINISH,
	PGS_PROGRESS,
	PGS_RENEW,
	PGS_RESCUE,
	PGS_RECOVER_OWN,
	PGS_DOOM,
	PGS_CANCEL,
	PGS_RERUN,
	PGS_PAUSE,
	PGS_RESUME,
	PGS_PAUSED,
	PGS_TICK,
	PGS_TICKS,
	PGS_PURGE,
	PGS_GET,
	PGS_RUNS,
	PGS_FIND_KEY,
	PGS_LIST,       /* the list variants, in this order: */
	PGS_LIST_STATE, /*   + state = $ (a terminal state, or running) */
	PGS_LIST_KIND,  /*   + kind = $ */
	PGS_LIST_STATE_KIND,
	PGS_LIST_READY, /*   queued, not_before passed */
	PGS_LIST_READY_KIND,
	PGS_LIST_LATER, /*   queued, not_before ahead (JOB_SCHEDULED) */
	PGS_LIST_LATER_KIND,
	PGS_STATES,
	PGS_COUNTS,
	PGS_COUNTS_LIVE,
	PGS_RUNNING_BY_KIND,
	PGS_NOTIFY,
	PGS_LEAD,
	PGS_LEADING,
	PGS_UNLEAD,
	PGS_DB_SIZE,
	PGS_NUM,
};

struct pgstore {
	PGconn *conn;
	char *url;
	bool prepared[PGS_NUM];
	bool leading; /* this session holds the leader lock (once) */
	char errmsg[512];
};

/* The arguments of one statement, all in binary format. Values the
 * caller passes by pointer (text, bytes) are borrowed, not copied; numbers
 * and arrays are built into memory the pgargs owns (pga_free). A failed
 * allocation is remembered and reported by pg_exec. */
#define PG_MAX_ARGS 16
struct pgargs {
	int n;
	const char *v[PG_MAX_ARGS];
	int len[PG_MAX_ARGS];
	char *own[PG_MAX_ARGS];
	bool oom;
};

void pga_i64(struct pgargs *a, int64_t v);
void pga_i32(struct pgargs *a, int32_t v);
void pga_bool(struct pgargs *a, bool v);
/* NULL is SQL NULL; so is "" when empty_null. */
void pga_text(struct pgargs *a, const char *s, bool empty_null);
/* len 0 is SQL NULL. */
void pga_bytes(struct pgargs *a, const void *p, size_t len);
/* One-dimensional arrays: int8[] of v[0..n); text[] of s[0..n) (NULL
 * elements are NULL, and so are "" when empty_null); bytea[] of
 * p[i]/len[i] (len 0: NULL); int4[]. */
void pga_i64_array(struct pgargs *a, const int64_t *v, size_t n);
void pga_i32_array(struct pgargs *a, const int32_t *v, size_t n);
void pga_text_array(struct pgargs *a, const char *const *s, size_t n,
                    bool empty_null);
void pga_bytea_array(struct pgargs *a, const void *const *p, const size_t *len,
                     size_t n);
void pga_free(struct pgargs *a);

/* Runs statement `st` with `a` (freed here), binary results. *rv: JOBD_OK
 * and the result (PQclear it), or an error status with its message in
 * s->errmsg ("cannot WHAT: reason") and NULL. */
PGresult *pg_exec(pgstore *s, enum pg_stmt st, struct pgargs *a,
                  const char *what, int *rv);
/* A statement text run once, without preparing (schema, transactions):
 * pg_run for its status only, pg_query for its one-row (or more) text
 * result (NULL and *rv on an error or no row). */
int pg_run(pgstore *s, const char *sql, const char *what);
PGresult *pg_query(pgstore *s, const char *sql, const char *what, int *rv);

/* Records an error: s->errmsg = "cannot WHAT: reason"; returns rv. */
int pg_seterr(pgstore *s, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Values of a binary result. Any integer column (int2/4/8) as int64, 0
 * when NULL; bool; text (NULL when NULL: valid while r is); a malloc'd
 * copy of a text (NULL when NULL; *oom set when the copy failed). */
int64_t pgv_i64(const PGresult *r, int row, int col);
bool pgv_bool(const PGresult *r, int row, int col);
const char *pgv_text(const PGresult *r, int row, int col);
char *pgv_strdup(const PGresult *r, int row, int col, bool *oom);
/* An int8[] column into a malloc'd *v, *n (NULL, 0 for NULL or empty).
 * -1 if it is not a one-dimensional int8 array (or out of memory). */
int pgv_i64_array(const PGresult *r, int row, int col, uint64_t **v, size_t *n);

/* The params blob of r (job.h's job_params_encode, the bytes the input
 * checksum covers), with the message in s. JOBD_INVALID_ARGUMENT for a
 * param without a name or value, or params too big. */
int pg_params_encode(pgstore *s, const struct jobrec *r, uint8_t **bp,
                     size_t *lenp);

/* Whether s is valid UTF-8 as PostgreSQL takes it (no overlong forms,
 * surrogates or code points past U+10FFFF). */
bool pg_utf8_valid(const char *s);
/* s if valid UTF-8, else a malloc'd copy (*own, to free) with each
 * invalid byte replaced by U+FFFD; NULL only when out of memory. */
const char *pg_utf8_fix(const char *s, char **own);

/* The columns of REC_HEAD (pgsql.c), then the result, then the input. */
enum rec_col {
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

/* How pg_rec treats an input that fails its checksum. */
enum {
	REC_INPUT_STRICT, /* JOBD_DATA_LOSS */
	REC_INPUT_SOFT,   /* the record says so (pgstore_claim) */
};

/* Row `row` of r (enum rec_col) into *out (zeroed first; cleared again on
 * an error). */
int pg_rec(pgstore *s, const PGresult *r, int row, struct jobrec *out,
           int mode);
/* Every row of r into a malloc'd array (*out, *n). */
int pg_recs(pgstore *s, const PGresult *r, int mode, struct jobrec **out,
            size_t *n);
/* The first column of every row, as ids (malloc'd; NULL when none). */
int pg_ids(pgstore *s, const PGresult *r, uint64_t **ids, size_t *n);

/* The SQL of statement st, its number of parameters and their types. */
const char *pg_stmt_sql(enum pg_stmt st, int *nparams, const Oid **types);
const char *pg_stmt_name(enum pg_stmt st);

#endif

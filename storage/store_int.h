#ifndef JOBD_STORE_INT_H
#define JOBD_STORE_INT_H

/*
 * store_int: what the files of the store share, not for other modules
 * (they see store.h). store.c holds the connection, the schema and its
 * migrations, every statement, and the jobs table; store_runs.c the
 * tables of schema version 3 beside it: the earlier runs of rerun jobs,
 * the paused kinds and the schedules' firings.
 */

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * The statements. Every statement that reads jobs returns the columns of
 * STORE_COLS, then the input or NULL, then the result or NULL.
 */
enum store_stmt {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_INSERT,
	STMT_UPDATE,
	STMT_GET,
	STMT_GET_INPUT,
	STMT_FIND_KEY,
	STMT_LIST, /* the four lists in this order: see store_list() */
	STMT_LIST_STATE,
	STMT_LIST_KIND,
	STMT_LIST_STATE_KIND,
	STMT_SCAN,
	STMT_SCAN_BRIEF,
	STMT_ID_RANGE,
	STMT_INPUT,
	STMT_MARK_RUNNING,
	STMT_RECOVER_CAP,
	STMT_RECOVER,
	STMT_PURGE,
	STMT_RUNS_PURGE,
	STMT_COUNTS,
	STMT_MAX_ID,
	STMT_CHECK,
	STMT_RERUN,
	STMT_RUN_ADD,
	STMT_RUNS,
	STMT_PAUSE,
	STMT_RESUME,
	STMT_PAUSED,
	STMT_TICK,
	STMT_TICKS,
	STMT_NUM,
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT_NUM];
	char *path;
	char errmsg[512];
	/* where store_row_view() decodes params: see store_params_view() */
	struct job_param *vparams;
	size_t vparams_cap;
	char *vtext;
	size_t vtext_cap;
	uint64_t vafter[JOB_MAX_AFTER]; /* store_row_view()'s after ids */
};

/* The state as a row stores it (a scheduled job is a queued row). */
const char *store_state_text(int state);
/* Sets s's message and returns status. */
int store_seterr(store *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The status of SQLite result rc, with the message "WHAT: why". */
int store_fail(store *s, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Readies a statement for its next use (reset, bindings cleared). */
void store_done(sqlite3_stmt *st);
/* Binds a string, NULL when NULL or empty. */
int store_bind_opt_text(sqlite3_stmt *st, int i, const char *t);

#endif

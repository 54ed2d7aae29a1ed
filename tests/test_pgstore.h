#ifndef JOBD_TEST_PGSTORE_H
#define JOBD_TEST_PGSTORE_H

/*
 * test_pgstore's shared set-up, for its files (tests/test_pgstore*.c):
 * the databases the tests make on the server, plain SQL beside the store,
 * and the jobs they insert, claim and end. Defined in test_pgstore.c.
 */

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgstore.h"

#define TEST_SHARED /* one harness state for the program's files */
#include "test.h"

/* ---- the server and its databases -------------------------------------- */

/* The URL of the server's `postgres` database: the fixture's
 * ($JOBD_TEST_DB_URL), else one started at the first call and stopped at
 * exit (tests/pgtest.h); NULL if none. */
const char *server(void);
/* The URL and name of the database db_create made last. */
extern char db_url[256];
extern char db_name[64];

/* A fresh database on the server (tests/pgtest.h): its URL, db_url. */
const char *db_create(void);
/* Drops it (kept with $JOBD_PGSTORE_KEEP, to look at it after). */
void db_drop(void);
/* A plain connection to url, NULL (said on stderr) on failure. */
PGconn *raw(const char *url);
/* Runs q on c; true when it worked. */
bool sql(PGconn *c, const char *q);
/* The first value of q's first row as a number (-1 on failure). */
long long sql_num(PGconn *c, const char *q);
/* The store on url, its schema made. */
pgstore *open_db(const char *url);

/* ---- jobs -----------------------------------------------------------------
 */

/* r: a job of kind and priority with two params and an input. */
void mkjob(struct jobrec *r, const char *kind, int32_t priority);
/* Inserts one job; its id. */
uint64_t insert1(pgstore *s, struct jobrec *r);
/* Inserts a job of kind and priority (mkjob); its id. */
uint64_t add(pgstore *s, const char *kind, int32_t priority);
/* Clears and frees the n records of v. */
void free_recs(struct jobrec *v, size_t n);
/* Claims at most max of any kind as owner; their ids into ids[]. */
size_t claim_ids(pgstore *s, const char *owner, uint32_t lease, size_t max,
                 uint64_t *ids);
/* Ends job id, claimed by owner, in state. */
int end_job(pgstore *s, const char *owner, uint64_t id, int state);
/* The state of job id. */
int state_of(pgstore *s, uint64_t id);
/* Waits (bounded) until the server's clock passes `at`. */
void wait_server_past(pgstore *s, int64_t at);

/* The notices pgstore_wait delivered to on_note: how many, the last. */
struct notes {
	int n;
	char channel[32];
	char payload[64];
};
void on_note(const char *channel, const char *payload, void *arg);

/* ---- the tests, by file ----------------------------------------------- */

void test_open_errors(void); /* test_pgstore_open.c */
void test_migrate(void);
void test_insert_get(void); /* test_pgstore_insert.c */
void test_idempotency(void);
void test_idempotency_crossed(void);
void test_claim_order(void); /* test_pgstore_claim.c */
void test_claim_concurrent(void);
void test_lease(void);
void test_recover_own(void);
void test_cancel(void); /* test_pgstore_control.c */
void test_doom_rerun(void);
void test_pause_ticks_purge(void);
void test_notify_lead(void);
void test_killed_connection(void); /* test_pgstore_fault.c */
void test_damage(void);
void test_throughput(void); /* test_pgstore_throughput.c */

#endif

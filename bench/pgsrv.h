#ifndef JOBD_BENCH_PGSRV_H
#define JOBD_BENCH_PGSRV_H

/*
 * pgsrv: the PostgreSQL server the cluster workload measures jobd on:
 * the one at --pg-url, or a throwaway one of the benchmark's own
 * (tests/pg_cluster.sh), with a fresh database for each set of daemons.
 * Talks to the server with libpq; built only when libpq is
 * (JOBD_BENCH_PG).
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pgsrv {
	char admin[1024]; /* the URL databases are made through */
	char state[4096]; /* ours: pg_cluster.sh's DIR; "" for --pg-url */
	const char *script, *tmpdir; /* ours: pgsrv_open's */
	char settings[96];           /* "fsync on, synchronous_commit on" */
	unsigned ndb;                /* databases made so far */
	bool durable;                /* fsync and synchronous_commit both on */
	pid_t postmaster; /* when on this machine (its CPU is read), or 0 */
};

/* Whether this jobd-bench was built with libpq. */
bool pgsrv_built(void);

/* The server at `url` (postgresql:// or postgres://), or when url is NULL
 * a throwaway one started by `script` (pg_cluster.sh) with its state in
 * `state` and its data directory under `tmpdir`; that one is made durable
 * (fsync and full_page_writes on: the script turns them off for tests).
 * Reads its settings into s->settings. 0, or -1 having said why (with
 * nothing left running). */
int pgsrv_open(struct pgsrv *s, const char *url, const char *script,
               const char *state, const char *tmpdir);

/* The CPU PostgreSQL used so far, in ns: its postmaster's, its ended
 * children's and every living child's; -1 when not known (a server on
 * another machine). */
int64_t pgsrv_cpu_ns(const struct pgsrv *s);

/* Makes a fresh database (jobd_bench_PID_N) and puts its URL, for jobd's
 * --db, in `url`. 0, or -1 having said why. */
int pgsrv_createdb(struct pgsrv *s, char *url, size_t len);

/* Drops the databases made (unless `keep`) and stops the server if it is
 * ours. 0, or -1 having said why. Does nothing when not open. */
int pgsrv_close(struct pgsrv *s, bool keep);

/* Whether `url` names PostgreSQL (postgresql:// or postgres://). */
bool pgsrv_is_url(const char *url);

#endif

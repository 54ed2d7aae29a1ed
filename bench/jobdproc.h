#ifndef JOBD_BENCH_JOBDPROC_H
#define JOBD_BENCH_JOBDPROC_H

/*
 * jobdproc: a jobd of the benchmark's own, as a child process, on a
 * directory of its own (DIR/jobd.db, DIR/jobd.log) and a free loopback
 * port. A child dies with the benchmark (PR_SET_PDEATHSIG), and one that
 * is running when the benchmark gets SIGINT, SIGTERM or SIGHUP is killed
 * first (jobdproc_signals()): a jobd is never left behind.
 */

#include <stdint.h>
#include <sys/types.h>

struct jobdproc {
	pid_t pid; /* 0: not running */
	char dir[4096];
	char db[4160]; /* --db: DIR/jobd.db, or a URL */
	char log[4160];
	char runs[4160]; /* --run-dir when --db is the caller's */
	char url[64];
};

/* Installs the handlers that kill every running child on SIGINT, SIGTERM
 * and SIGHUP before the benchmark dies of the signal, saying that
 * `datadir` ("" for none) is left. */
void jobdproc_signals(const char *datadir);

/* Starts `jobd` (a path) on `dir` (which exists) with `--db DIR/jobd.db
 * --listen tcp://127.0.0.1:PORT` and the NULL-terminated `extra`
 * arguments, its output to DIR/jobd.log; does not wait for it. An existing
 * database in `dir` is used. 0, or -1 having said why. */
int jobdproc_spawn(struct jobdproc *p, const char *jobd, const char *dir,
                   const char *const *extra);

/* jobdproc_spawn() with `--db DB` instead of DIR/jobd.db (a path, or a
 * postgresql:// URL the daemons of a cluster share) and `--run-dir
 * DIR/jobd.runs`; DB NULL: as jobdproc_spawn(). p->db is DB. */
int jobdproc_spawn_db(struct jobdproc *p, const char *jobd, const char *dir,
                      const char *db, const char *const *extra);

/* A loopback port nothing listens on now (for another listener of a jobd:
 * --http); 0 having said why. */
int jobdproc_free_port(void);

/* Waits until p answers Ping: opens a client in a loop until the dial
 * works, then pings with a short timeout, about 1 ms between tries. At
 * *ready_ns (if not NULL) the CLOCK_MONOTONIC time of the Ping's reply.
 * 0, or -1 having said why (p exited: its log's tail is shown, and p is
 * reaped; timeout_ms passed: p is killed). */
int jobdproc_ready(struct jobdproc *p, uint32_t timeout_ms, int64_t *ready_ns);

/* jobdproc_spawn() and jobdproc_ready() with a 60 s limit. */
int jobdproc_start(struct jobdproc *p, const char *jobd, const char *dir,
                   const char *const *extra);

/* jobdproc_spawn_db() and jobdproc_ready() with a 60 s limit. */
int jobdproc_start_db(struct jobdproc *p, const char *jobd, const char *dir,
                      const char *db, const char *const *extra);

/* SIGTERM, then waits (SIGKILL after 60 s); 0 if it exited 0, -1 having
 * said how it ended otherwise. Does nothing (0) when p is not running. */
int jobdproc_stop(struct jobdproc *p);

/* SIGKILL and wait, for error paths. Does nothing when p is not running. */
void jobdproc_kill(struct jobdproc *p);

/* p's resident set (VmRSS) in bytes; 0, or -1 having said why. */
int jobdproc_rss(const struct jobdproc *p, uint64_t *bytes);

#endif

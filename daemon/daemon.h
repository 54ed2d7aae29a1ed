#ifndef JOBD_DAEMON_H
#define JOBD_DAEMON_H

/*
 * daemon: the whole job server assembled from its parts, started and
 * stopped in order. main() is only flags, signals and this.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

struct daemon_config {
	const char *const *listen; /* URLs */
	size_t nlisten;
	/* --db: a SQLite file (PATH, sqlite:PATH) or a postgresql:// URL
	 * (jobq.h: jobq_open) */
	const char *db;
	/* the shared queue's: this daemon's name in the cluster (NULL:
	 * host:pid) and its jobs' lease */
	const char *node;
	uint32_t lease_ms;
	/* tests: the local queue says its reads block (jobq_config) */
	bool defer_reads;
	uint32_t workers;
	uint64_t max_queue;   /* 0 = unlimited */
	int64_t retention_ms; /* 0 = keep forever */
	uint32_t backoff_ms;
	uint32_t grace_ms;
	/* a job found running at this many starts fails; 0 = no cap */
	uint32_t max_recoveries;
	uint32_t max_connections; /* 0: from the open-file limit */
	/* the longest a change nobody waits for waits for the next commit */
	uint32_t commit_hold_ms;
	/* PEM files for the tls+tcp:// addresses and an https:// http_url;
	 * NULL when not given. Such an address needs cert and key; with ca,
	 * clients must present a certificate signed by it. Given without such
	 * an address, they are refused. */
	const char *tls_cert;
	const char *tls_key;
	const char *tls_ca;
	/* The HTTP front's address, http:// or https:// (http.h); NULL: none.
	 * https:// needs tls_cert and tls_key, as tls+tcp:// does. */
	const char *http_url;
	/* When not NULL, every request must carry the token in this file. */
	const char *auth_token_file;
	/* Where the kinds come from besides the built-in ones; read again by
	 * daemon_reload(), so it must outlive the daemon. */
	struct kinds_config kinds;
};

typedef struct jobd_daemon jobd_daemon;

/* How long the socket gets to close once everything is on disk. */
#define DAEMON_CLOSE_MS 5000

/* Loads the TLS files and the token (refusing any that cannot be read or
 * used), opens the job queue the --db value names (refusing a foreign or
 * corrupt database), recovers jobs left running, starts the workers and
 * listeners (the nng front, then the HTTP front). With a SQLite file the
 * caller holds the database's lock (dblock_take) from before anything
 * touches the database until after daemon_stop. */
int daemon_start(jobd_daemon **dp, const struct daemon_config *cfg, char *err,
                 size_t errlen);
/* Reads the kinds again (SIGHUP): on success, jobs that start from now
 * on use the new set; on an error (described in err) the set in use stays.
 * JOBD_OK or the error. */
int daemon_reload(jobd_daemon *d, char *err, size_t errlen);
/* The first half of the graceful stop: refuses new requests, answers
 * parked ones, gives running jobs the grace period (then stops them: they
 * go back to queued), joins the workers and commits everything. Returns
 * once every job is on disk. Call once, before daemon_stop. */
void daemon_drain(jobd_daemon *d);
/* Cuts the grace period short (a second SIGTERM): running jobs are asked
 * to stop now and go back to queued. Any thread, any time before
 * daemon_stop; during or before daemon_drain. */
void daemon_hurry(jobd_daemon *d);
/* Logs one line: workers busy, jobs per state, counters (SIGUSR1). Any
 * thread, any time before daemon_stop. */
void daemon_status(jobd_daemon *d);
/* Graceful stop: daemon_drain() unless done already, then closes the
 * socket and frees everything. Accepts NULL. JOBD_OK;
 * JOBD_DEADLINE_EXCEEDED if the socket did not close within
 * DAEMON_CLOSE_MS (an nng bug: see server.c): every job is on disk, but
 * nng is stuck, so the process must exit without nng_fini(). */
int daemon_stop(jobd_daemon *d);

#endif

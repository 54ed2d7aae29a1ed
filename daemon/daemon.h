#ifndef JOBD_DAEMON_H
#define JOBD_DAEMON_H

/*
 * daemon: the whole job server assembled from its parts, started and
 * stopped in order. main() is only flags, signals and this.
 */

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

struct daemon_config {
	const char *const *listen; /* URLs */
	size_t nlisten;
	const char *db_path;
	uint32_t workers;
	uint64_t max_queue;   /* 0 = unlimited */
	int64_t retention_ms; /* 0 = keep forever */
	uint32_t backoff_ms;
	uint32_t grace_ms;
	uint32_t max_connections; /* 0: from the open-file limit */
	/* PEM files for the tls+tcp:// addresses; NULL when not given. A
	 * tls+tcp:// address needs cert and key; with ca, clients must present
	 * a certificate signed by it. Given without a tls+tcp:// address, they
	 * are refused. */
	const char *tls_cert;
	const char *tls_key;
	const char *tls_ca;
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
 * used), opens the database (refusing a foreign or corrupt one), recovers
 * jobs left running, starts the writer, workers and listeners. */
int daemon_start(jobd_daemon **dp, const struct daemon_config *cfg, char *err,
                 size_t errlen);
/* Reads the kinds again (SIGHUP): on success, jobs that start from now
 * on use the new set; on an error (described in err) the set in use stays.
 * JOBD_OK or the error. */
int daemon_reload(jobd_daemon *d, char *err, size_t errlen);
/* Graceful stop: refuse new requests, answer parked ones, give running
 * jobs the grace period, commit everything, close. Accepts NULL. JOBD_OK;
 * JOBD_DEADLINE_EXCEEDED if the socket did not close within
 * DAEMON_CLOSE_MS (an nng bug: see server.c): every job is on disk, but
 * nng is stuck, so the process must exit without nng_fini(). */
int daemon_stop(jobd_daemon *d);

#endif

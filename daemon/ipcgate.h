#ifndef JOBD_IPCGATE_H
#define JOBD_IPCGATE_H

/*
 * ipcgate: jobd's own listener for an ipc:// address, in front of nng's.
 * Clients connect to the address as before; the gate takes each
 * connection's SP header and only then hands the connection to nng's
 * listener on a private path, relaying the bytes both ways. A connection
 * that closes, resets, stalls or sends garbage before its header never
 * reaches nng (whose 1.5.2 ipc listener stops accepting for good after one
 * such connection: see ipcgate.c).
 */

#include <stddef.h>
#include <stdint.h>

/* A client must send its 8-byte SP header within this time. */
#define IPCGATE_HANDSHAKE_MS 10000
/* Connections that have not sent their header yet; at the limit, the
 * oldest is closed to make room for a new one. */
#define IPCGATE_MAX_HANDSHAKES 128
/* Connections of one address in all; lower when the open-file limit is
 * low (each takes three descriptors: the client's, the gate's to nng, and
 * nng's). At the limit, new ones wait in the kernel's backlog. */
#define IPCGATE_MAX_CONNS 4096
/* The longest URL of nng's private listener ipcgate_open() writes. */
#define IPCGATE_URL_MAX 128

typedef struct ipcgate ipcgate;

struct ipcgate_stats {
	uint64_t accepted; /* connections taken */
	uint64_t relayed;  /* ... that reached nng */
	uint64_t early;    /* closed, reset or timed out before the header */
	uint64_t bad;      /* sent a header that is not the expected peer's */
	uint64_t evicted;  /* closed to make room for a newer handshake */
	uint64_t open;     /* connections now */
};

/*
 * Takes the address `url` (ipc://PATH): refuses it, saying why in err, if
 * another process serves PATH (a connect() to it succeeds) or PATH is not a
 * socket; removes a stale socket file; binds PATH (mode 0600); makes the
 * private directory PATH.gate (0700; in $TMPDIR or /tmp when PATH is too
 * long for that). Writes the URL nng must listen on to inner. `peer` is the
 * SP protocol number clients must announce. Nothing is accepted before
 * ipcgate_start(). JOBD_OK, or an error with err set.
 */
int ipcgate_open(ipcgate **gp, const char *url, uint16_t peer, char *inner,
                 size_t innerlen, char *err, size_t errlen);
/* Starts the gate's thread, once nng listens on the inner URL. */
int ipcgate_start(ipcgate *g, char *err, size_t errlen);
/* The gate's counters; any thread. */
void ipcgate_stats(ipcgate *g, struct ipcgate_stats *st);
/* Stops the thread, closes every connection, removes PATH, the private
 * socket and its directory. Call after nng's listener is closed. Accepts
 * NULL. */
void ipcgate_close(ipcgate *g);

#endif

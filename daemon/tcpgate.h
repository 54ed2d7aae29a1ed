#ifndef JOBD_TCPGATE_H
#define JOBD_TCPGATE_H

/*
 * tcpgate: jobd's own listener for the HTTP front's host:port, in front of
 * nng's HTTP server, which listens on a private loopback port. The gate
 * caps the connections (limit.h http_connections: at the cap, the one idle
 * longest makes room), closes a client that sends nothing or sends a
 * request's head too slowly (http_head_ms), and relays every byte both
 * ways untouched (TLS included). See tcpgate.c.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tcpgate tcpgate;

struct tcpgate_stats {
	uint64_t accepted; /* connections taken */
	uint64_t relayed;  /* ... that reached nng (sent a byte) */
	uint64_t silent;   /* closed: no byte within http_head_ms */
	uint64_t slow;     /* closed: a request head took too long */
	uint64_t evicted;  /* closed to make room at the cap */
	uint64_t full;     /* times the gate stopped accepting at the cap */
	uint64_t failed;   /* closed: nng's listener could not be reached */
	uint64_t open;     /* connections now */
};

/*
 * Binds and listens on host:port (host "" or NULL: every address; port
 * "0": one the kernel chooses). `tls`: the bytes are TLS, which the gate
 * cannot read (see tcpgate.c for what it checks then). `url` names the
 * listener in messages. Nothing is accepted before tcpgate_start().
 * JOBD_OK, or an error with err set ("cannot listen on 'URL': ...").
 */
int tcpgate_open(tcpgate **gp, const char *url, const char *host,
                 const char *port, bool tls, char *err, size_t errlen);
/* The port it listens on (host order). */
uint16_t tcpgate_port(const tcpgate *g);
/* The most connections it keeps open at once. */
size_t tcpgate_cap(const tcpgate *g);
/* Starts the gate's thread, relaying to nng's listener on
 * 127.0.0.1:inner_port (host order). */
int tcpgate_start(tcpgate *g, uint16_t inner_port, char *err, size_t errlen);
/* The gate's counters; any thread. */
void tcpgate_stats(tcpgate *g, struct tcpgate_stats *st);
/* Stops the thread and closes the listener and every connection (nng sees
 * its connections close). Accepts NULL. */
void tcpgate_close(tcpgate *g);

#endif

#ifndef JOBD_SERVER_H
#define JOBD_SERVER_H

/*
 * server: the front. An nng REP socket listening on one or more addresses,
 * serving many requests at once through nng contexts (the pattern of nng's
 * demo/async/server.c), each request handed to rpc_dispatch(), with a
 * record of each client connection: its parked calls and unsent replies are
 * bounded (limit.h), and its parked calls are taken back when it closes.
 */

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

typedef struct server server;
struct nng_tls_config;

struct server_config {
	const char *const *urls; /* tcp://, tls+tcp://, ipc:// */
	size_t nurls;
	/* for the tls+tcp:// addresses (each listener holds a reference);
	 * NULL when there are none */
	struct nng_tls_config *tls;
	bool tls_client_certs; /* tls requires client certificates (for logs) */
	/* when not NULL, every request must carry this token */
	const struct auth *auth;
	/* connections open at once; 0: the default (limit.h), and always
	 * below the open-file limit */
	unsigned max_connections;
};

/* Raises the soft open-file limit to the hard one, and listens on every
 * url; ipc sockets are made owner-only, and reach nng through a gate
 * (ipcgate.h), which refuses a path another process serves. */
int server_start(server **sp, ProtobufCService *svc,
                 const struct server_config *cfg, char *err, size_t errlen);
/* From now on every request is answered UNAVAILABLE; returns once no
 * request that came before is still in rpc_dispatch(). */
void server_drain(server *srv);
/* Closes the socket and frees every context. Call once nothing can reply
 * any more (scheduler drained, writer stopped). Accepts NULL. */
void server_stop(server *srv);
/* server_stop(), given at most `ms`: JOBD_DEADLINE_EXCEEDED if the socket
 * had not closed by then. The close goes on in a thread of its own, which
 * frees srv if it ever returns; the caller must not use srv again either
 * way. Accepts NULL. */
int server_stop_within(server *srv, uint32_t ms);

#endif

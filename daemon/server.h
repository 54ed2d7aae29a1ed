#ifndef JOBD_SERVER_H
#define JOBD_SERVER_H

/*
 * server: the front. An nng REP socket listening on one or more addresses,
 * serving many requests at once through nng contexts (the pattern of nng's
 * demo/async/server.c), each request handed to rpc_dispatch().
 */

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

typedef struct server server;

/* Listens on every url (tcp://, ipc://; ipc sockets are made owner-only). */
int server_start(server **sp, ProtobufCService *svc, const char *const *urls,
                 size_t nurls, char *err, size_t errlen);
/* From now on every request is answered UNAVAILABLE. */
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

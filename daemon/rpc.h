#ifndef JOBD_RPC_H
#define JOBD_RPC_H

/*
 * rpc: the gRPC-like envelope over nng, independent of the transport.
 *
 * rpc_dispatch() decodes a Request envelope, finds the method by name in the
 * service descriptor that protoc-c generated from jobd.proto, decodes the
 * body with that method's input descriptor, and invokes the handler through
 * the service's invoke() function. The handler answers through the closure
 * it is given (rpc_closure with the call as closure data), at once or later
 * from another thread; the reply is encoded as a Response envelope and given
 * to the transport's send(). Every failure before the handler (bad envelope,
 * missing or wrong token, unknown method, body of the wrong type, message
 * too large) is answered with a status code, never a crash.
 */

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "jobd.pb-c.h"
#include "jobd_status.h"

/* Requests larger than this are answered RESOURCE_EXHAUSTED. */
#define RPC_MAX_REQUEST (2u << 20)
/* Deadlines beyond this are INVALID_ARGUMENT. */
#define RPC_MAX_DEADLINE_MS (24u * 3600 * 1000)

struct rpc_call {
	/* Set by the transport: takes the encoded Response (malloc'd). Called
	 * exactly once per dispatched call, possibly from any thread. */
	void (*send)(struct rpc_call *c, uint8_t *buf, size_t len);
	void *transport;
	/* Set by the transport: false when it has no room left for another
	 * parked call (handlers then answer RESOURCE_EXHAUSTED). */
	bool can_park;
	/* Set by the transport: when not NULL, a request without this token
	 * in its "authorization" metadata is answered UNAUTHENTICATED before
	 * its method is looked up. */
	const struct auth *auth;

	/* Set by rpc_dispatch for the handler. */
	int64_t deadline;             /* CLOCK_MONOTONIC ms; 0 = none */
	unsigned method;              /* index in the service descriptor */
	const Jobd__V1__Request *req; /* during the handler's call only */

	/* An error reply in the making (rpc_fail). */
	int code;
	char msg[256];
};

/* Decodes and dispatches one request; the reply goes to c->send. */
void rpc_dispatch(ProtobufCService *svc, struct rpc_call *c, const uint8_t *buf,
                  size_t len);

/* The closure handed to handlers: with a message, an OK reply carrying it;
 * with NULL, the error in c->code and c->msg. */
void rpc_closure(const ProtobufCMessage *reply, void *call);

/* Answers c with an error. */
void rpc_fail(struct rpc_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Encodes a Response carrying only an error (for the transport's own
 * refusals). *len set; NULL when out of memory. */
uint8_t *rpc_encode_error(int code, const char *msg, size_t *len);

/* The value of request metadata `key`, or NULL. During the handler only. */
const char *rpc_metadata(const struct rpc_call *c, const char *key);

#endif

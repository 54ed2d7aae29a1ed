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
 * too large, a field past its bound) is answered with a status code, never
 * a crash.
 *
 * A handler that parks its call asks the transport for room first
 * (rpc_park_room) and registers how the call is taken back should its
 * client go (rpc_park); the transport knows the connections, the handler
 * knows what its call waits for.
 *
 * A handler that must not run where it was called (it would wait on a
 * database server: jobq.h's reads_block) hands its call to another
 * thread with rpc_defer() and returns; that thread calls the same handler
 * again with rpc_deferred_run(), the request and its body kept alive
 * until then. rpc_dispatch() does not touch the call once the handler has
 * returned, so a reply sent from another thread before that is safe.
 */

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "jobd.pb-c.h"
#include "jobd_status.h"
#include "limit.h"

/* Requests larger than this are answered RESOURCE_EXHAUSTED. */
#define RPC_MAX_REQUEST LIMIT_REQUEST_BYTES
/* Deadlines beyond this are INVALID_ARGUMENT. */
#define RPC_MAX_DEADLINE_MS LIMIT_DEADLINE_MS

struct rpc_call;

/* How a handler's call waits, for the transport's room: Waits have room
 * of their own, so that they never take the room of the others. */
enum rpc_park_kind {
	RPC_PARK_WAIT = 0, /* Wait */
	RPC_PARK_CALL = 1, /* Submit, SubmitBatch, Cancel */
};

/* The front's counters, for Stats. */
struct rpc_front_stats {
	uint32_t connections;     /* open now */
	uint64_t parked;          /* calls waiting now */
	uint64_t dropped_replies; /* not taken by their client in time */
	uint64_t refused;         /* refused by a limit */
};

/* What the transport offers handlers besides send(); every function may
 * be NULL (no limit, no counters). */
struct rpc_transport {
	/*
	 * Room for c to park as `kind` (enum rpc_park_kind), kept until c's
	 * reply: JOBD_OK, or JOBD_RESOURCE_EXHAUSTED with why (which limit,
	 * its value) in msg. Asked once per call, by its handler's thread.
	 */
	int (*reserve)(struct rpc_call *c, int kind, char *msg, size_t len);
	void (*stats)(struct rpc_call *c, struct rpc_front_stats *st);
};

/* How a handler takes its parked call back (rpc_park). */
struct rpc_park_ops {
	/* Keeps arg alive for release(): called under the park lock, so it
	 * may only count a reference. */
	void (*hold)(void *arg);
	/* Answers the call now, its client having gone (the answer goes
	 * nowhere), and drops the hold. Called without any lock held. */
	void (*release)(void *arg);
};

struct rpc_call {
	/* Set by the transport: takes the encoded Response (malloc'd; NULL
	 * when out of memory: the transport answers for itself). Called
	 * exactly once per dispatched call, possibly from any thread; c->code
	 * is the reply's code then. */
	void (*send)(struct rpc_call *c, uint8_t *buf, size_t len);
	void *transport;
	/* Set by the transport; NULL: no limits. */
	const struct rpc_transport *ops;
	/* Set by the transport: when not NULL, a request without this token
	 * in its "authorization" metadata is answered UNAUTHENTICATED before
	 * its method is looked up. */
	const struct auth *auth;

	/* Set by rpc_dispatch for the handler. */
	int64_t deadline;             /* CLOCK_MONOTONIC ms; 0 = none */
	unsigned method;              /* index in the service descriptor */
	const Jobd__V1__Request *req; /* during the handler's call only */

	/* rpc's, during the handler's call: what rpc_defer() takes over */
	ProtobufCService *svc;
	ProtobufCMessage *in;
	bool *taken;   /* set by rpc_defer(): the request is the deferred's */
	bool deferred; /* the handler runs from rpc_deferred_run() */

	/* An error reply in the making (rpc_fail); the code of the reply
	 * when send() is called. */
	int code;
	char msg[256];

	/* rpc_park's, under the park lock. */
	const struct rpc_park_ops *park_ops;
	void *park_arg;

	/* rpc's, for the metrics: when the dispatch began (metrics_now_ns);
	 * whether the call holds room to park (rpc_park_room). */
	int64_t t0;
	bool room;
};

/* A call handed to another thread (rpc_defer); `next` is the taker's. */
struct rpc_deferred {
	struct rpc_deferred *next;
	struct rpc_call *c;
	ProtobufCService *svc;
	ProtobufCMessage *in;
	Jobd__V1__Request *req;
	unsigned method;
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

/*
 * Room for c to park as `kind` (the transport's reserve): JOBD_OK, or
 * JOBD_RESOURCE_EXHAUSTED with the message in c->code and c->msg, ready
 * for rpc_closure(NULL, c). Handlers ask after their request's own checks
 * and before they park.
 */
int rpc_park_room(struct rpc_call *c, int kind);
/*
 * Parking. A handler that leaves c unanswered when it returns calls
 * rpc_park() before whatever may answer it can run, and rpc_unpark() just
 * before it answers (from then on no release can begin). The transport
 * calls rpc_release() when c's client has gone: ops->release(arg) runs if c
 * is still parked, after ops->hold(arg). The transport must not reuse c
 * while rpc_release() runs. Lock order: the park lock is a leaf.
 */
void rpc_park(struct rpc_call *c, const struct rpc_park_ops *ops, void *arg);
void rpc_unpark(struct rpc_call *c);
void rpc_release(struct rpc_call *c);
/*
 * In a handler: c is to be handled again on another thread, which calls
 * rpc_deferred_run() (or rpc_deferred_fail()) exactly once with what this
 * returns; the request and its body stay alive until then. NULL when out
 * of memory (c is still the handler's). The handler returns without
 * answering; it asks for room to park first (rpc_park_room), since the
 * call waits meanwhile.
 */
struct rpc_deferred *rpc_defer(struct rpc_call *c);
/* Calls the handler of d's call again, on this thread (rpc_is_deferred
 * true during it), then frees the request and d. */
void rpc_deferred_run(struct rpc_deferred *d);
/* Answers d's call with an error instead (the taker is stopping), and
 * frees the request and d. */
void rpc_deferred_fail(struct rpc_deferred *d, int code, const char *msg);
/* True in a handler called by rpc_deferred_run(). */
bool rpc_is_deferred(const struct rpc_call *c);

/* The transport's counters (zero where it keeps none). */
void rpc_front_stats(struct rpc_call *c, struct rpc_front_stats *st);

#endif

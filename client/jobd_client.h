#ifndef JOBD_CLIENT_H
#define JOBD_CLIENT_H

/*
 * libjobd_client: a small C client for jobd's wire contract (jobd.proto).
 *
 * A client holds one nng REQ socket dialed to the daemon. Each call opens its
 * own nng context, so one client may be used by several threads at once.
 *
 * Every call returns a jobd_status code: JOBD_OK, the code the daemon
 * answered with, JOBD_UNAVAILABLE when the daemon cannot be reached, or
 * JOBD_DEADLINE_EXCEEDED when no reply came in time. jobd_client_errmsg()
 * holds the message of the calling thread's last failed call.
 *
 * Replies are protobuf-c messages owned by the caller: free them with the
 * matching `jobd__v1__*__free_unpacked(reply, NULL)`.
 */

#include <stddef.h>
#include <stdint.h>

#include "jobd.pb-c.h"
#include "jobd_status.h"

#define JOBD_DEFAULT_ADDR "tcp://127.0.0.1:7077"

typedef struct jobd_client jobd_client;

/* Dials `url` (tcp://, ipc://); this first dial blocks. JOBD_UNAVAILABLE
 * with a message naming the address if nothing listens there,
 * JOBD_INVALID_ARGUMENT for an address nng cannot parse; then *cp is NULL.
 * A program that checks for leaks with valgrind calls nng_fini() at exit. */
int jobd_client_open(jobd_client **cp, const char *url);
/* Closes the socket. Accepts NULL. */
void jobd_client_close(jobd_client *c);
/* How long a call waits for its reply; also sent as the request's deadline.
 * Default 10000 ms; 0 restores the default. */
void jobd_client_set_timeout(jobd_client *c, uint32_t ms);
/* Adds (or replaces) a metadata entry sent with every request. */
int jobd_client_set_metadata(jobd_client *c, const char *key,
                             const char *value);
/* The message of this thread's last failed call ("" if none). */
const char *jobd_client_errmsg(void);

/*
 * The generic call: sends `req` to `method` ("Submit", ...) with a deadline
 * of `deadline_ms` (0 = the client's timeout) and unpacks the reply body
 * with `reply_desc` into *reply. This is what the typed calls below use.
 */
int jobd_call(jobd_client *c, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *reply_desc,
              ProtobufCMessage **reply, uint32_t deadline_ms);

/* Typed calls, one per method of service Jobs. */
int jobd_submit(jobd_client *c, const Jobd__V1__SubmitRequest *req,
                Jobd__V1__SubmitReply **reply);
int jobd_get(jobd_client *c, const uint64_t *ids, size_t n,
             Jobd__V1__GetReply **reply);
/* Waits at most `deadline_ms` (0 = the client's timeout) for job `id` to end.
 */
int jobd_wait(jobd_client *c, uint64_t id, uint32_t deadline_ms,
              Jobd__V1__WaitReply **reply);
int jobd_cancel(jobd_client *c, uint64_t id, Jobd__V1__CancelReply **reply);
int jobd_list(jobd_client *c, const Jobd__V1__ListRequest *req,
              Jobd__V1__ListReply **reply);
int jobd_stats(jobd_client *c, Jobd__V1__StatsReply **reply);
int jobd_kinds(jobd_client *c, Jobd__V1__KindsReply **reply);
int jobd_ping(jobd_client *c, Jobd__V1__PingReply **reply);

/* Writes a fresh random idempotency key (32 hex digits and a NUL) to buf. */
void jobd_new_key(char buf[33]);

#endif

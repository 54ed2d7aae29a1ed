#ifndef JOBD_CLIENT_H
#define JOBD_CLIENT_H

/*
 * libjobd_client: a small C client for jobd's wire contract (jobd.proto).
 *
 * A client holds one nng REQ socket dialed to the daemon. Each call runs on
 * an nng context of its own, so one client may be used by several threads
 * at once, and may keep many asynchronous calls in flight.
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
 * A program that checks for leaks with valgrind calls nng_fini() at exit.
 * Same as jobd_client_open_tls(cp, url, NULL). */
int jobd_client_open(jobd_client **cp, const char *url);

/* TLS settings for a tls+tcp:// address. Files are PEM. */
struct jobd_client_tls {
	/* The CA that signed jobd's certificate: required, jobd is always
	 * verified. */
	const char *ca_file;
	/* A client certificate and its unencrypted key, for a jobd that asks
	 * for one (jobd --tls-ca); both NULL for none. */
	const char *cert_file;
	const char *key_file;
	/* The name jobd's certificate must carry (a DNS name of its
	 * subjectAltName, or its CN); NULL: the host of the address. mbed TLS
	 * 2.28 (nng's TLS on Debian 12) matches names only, not IP addresses:
	 * to dial an IP address, give a name the certificate holds. */
	const char *server_name;
};

/*
 * jobd_client_open() with TLS settings: `tls` is required for a tls+tcp://
 * address and must be NULL (or all NULL) for any other, so that a
 * connection meant to be encrypted never silently is not. A file that
 * cannot be read or parsed is JOBD_INVALID_ARGUMENT with a message naming
 * it; a failed handshake (jobd's certificate not signed by ca_file or not
 * for server_name, or jobd refusing the client's) is JOBD_UNAVAILABLE.
 * After a failed handshake nng 1.5.2 may still be closing the connection
 * in a thread of its own: do not call nng_fini() then (it can panic).
 */
int jobd_client_open_tls(jobd_client **cp, const char *url,
                         const struct jobd_client_tls *tls);
/* Closes the socket. Accepts NULL. */
void jobd_client_close(jobd_client *c);
/* How long a call waits for its reply; also sent as the request's deadline.
 * Default 10000 ms; 0 restores the default. */
void jobd_client_set_timeout(jobd_client *c, uint32_t ms);
/* Adds (or replaces) a metadata entry sent with every request. */
int jobd_client_set_metadata(jobd_client *c, const char *key,
                             const char *value);
/* Sends `token` with every request, for a jobd run with --auth-token-file:
 * metadata "authorization" set to "Bearer TOKEN". A jobd that finds it
 * missing or wrong answers every call JOBD_UNAUTHENTICATED. */
int jobd_client_set_token(jobd_client *c, const char *token);
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

/* Typed calls, one per method of service Jobs. jobd_submit sends the
 * request as it is: give it an idempotency_key (jobd_new_key()) so that a
 * re-send after a reconnection returns the first job instead of a second.
 * A delayed job (run_at_ms or delay_ms), its dependencies (after) and a
 * unique_key are fields of the SubmitRequest. */
int jobd_submit(jobd_client *c, const Jobd__V1__SubmitRequest *req,
                Jobd__V1__SubmitReply **reply);
/* Submits 1 to 1000 jobs in one call, accepted all or none; the reply holds
 * one SubmitReply per job, in request order (see SubmitBatch in
 * jobd.proto). */
int jobd_submit_batch(jobd_client *c, const Jobd__V1__SubmitBatchRequest *req,
                      Jobd__V1__SubmitBatchReply **reply);
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
/* Puts failed or cancelled job `id` back in the queue as a new run (the
 * ended one goes to its history). FAILED_PRECONDITION for a job that
 * succeeded or has not ended, NOT_FOUND for an unknown id. Not idempotent:
 * see jobd_client.c on requests nng sends again. */
int jobd_retry(jobd_client *c, uint64_t id, Jobd__V1__RetryReply **reply);
/* Pauses `kind`: its queued jobs wait, a Submit is still accepted. The
 * reply's `changed` is false when it was paused already. NOT_FOUND for a
 * kind that is not defined (and not paused). */
int jobd_pause(jobd_client *c, const char *kind, Jobd__V1__PauseReply **reply);
/* Resumes `kind`; `changed` false when it was not paused. */
int jobd_resume(jobd_client *c, const char *kind,
                Jobd__V1__ResumeReply **reply);
/* The periodic jobs the operator declared (*.schedule files), with their
 * next and last firings. */
int jobd_schedules(jobd_client *c, Jobd__V1__SchedulesReply **reply);

/*
 * Asynchronous calls: many calls in flight on one client (one connection),
 * each on an nng context of its own, completed by a callback.
 *
 * jobd_call_async() encodes and sends `req` (which need not outlive the
 * call) and returns at once. JOBD_OK: `done` will be called exactly once,
 * on one of nng's threads, never on the calling thread and never from
 * within jobd_call_async() (a call that a done starts may end later on
 * that same nng thread). Any other code: the call was not started (the
 * message, in jobd_client_errmsg(), says why) and `done` is never called.
 * The dones of different calls may run at the same time on different
 * threads.
 *
 * done(arg, status, reply, errmsg): status as for jobd_call(); reply the
 * unpacked body (JOBD_OK only, otherwise NULL), owned by done, which frees
 * it with protobuf_c_message_free_unpacked(reply, NULL) or the matching
 * typed free; errmsg the message of a failed call ("" on success), valid
 * during done only (jobd_client_errmsg() there returns the same). done may
 * start further asynchronous calls; it must not block (no synchronous
 * calls, no waiting for other calls, no jobd_client_close()), since it
 * holds one of nng's few callback threads meanwhile: the replies of one
 * connection are often completed one after another on the same thread.
 *
 * jobd_client_close() with calls in flight cancels them: each done() not
 * yet called is called before close returns, with JOBD_CANCELLED ("the
 * client was closed"), or with the reply if it came within close's short
 * drain (100 ms; see jobd_client.c), so that a Submit's done may still
 * learn its job's id. A call started while the client closes (from a
 * done) returns JOBD_CANCELLED. Close from one thread only, once no other
 * thread starts calls; with calls in flight it takes up to the drain.
 *
 * A client keeps the context and aio of each call that ended, for the
 * next: as many as it ever had in flight at once, until it is closed.
 * Requests larger than jobd's limit are refused here, as by jobd_call().
 *
 * The caller bounds how many calls it keeps in flight, within jobd's
 * limits per connection: at most 1024 calls parked (Submit, Wait, Cancel:
 * conn_parked_calls), then RESOURCE_EXHAUSTED; and answers the client has
 * not taken yet, at most 1024 of them or 4 MiB (conn_unsent_replies,
 * conn_unsent_bytes), past which jobd drops the connection's further
 * requests unanswered (they end at their deadline). A client that keeps
 * up to 1024 calls in flight and takes its answers as they come (as this
 * one does, on nng's threads) stays within them unless its replies are
 * large (a List page is up to 16 MiB).
 */
typedef void (*jobd_done_fn)(void *arg, int status, ProtobufCMessage *reply,
                             const char *errmsg);

int jobd_call_async(jobd_client *c, const char *method,
                    const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *reply_desc,
                    uint32_t deadline_ms, jobd_done_fn done, void *arg);
/* reply is a Jobd__V1__SubmitReply. */
int jobd_submit_async(jobd_client *c, const Jobd__V1__SubmitRequest *req,
                      jobd_done_fn done, void *arg);
/* reply is a Jobd__V1__WaitReply; deadline_ms as for jobd_wait(). */
int jobd_wait_async(jobd_client *c, uint64_t id, uint32_t deadline_ms,
                    jobd_done_fn done, void *arg);
/* reply is a Jobd__V1__GetReply. */
int jobd_get_async(jobd_client *c, const uint64_t *ids, size_t n,
                   jobd_done_fn done, void *arg);
/* reply is a Jobd__V1__PingReply. */
int jobd_ping_async(jobd_client *c, jobd_done_fn done, void *arg);

/* Writes a fresh random idempotency key (32 hex digits and a NUL) to buf. */
void jobd_new_key(char buf[33]);

#endif

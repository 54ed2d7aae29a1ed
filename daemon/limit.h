#ifndef JOBD_LIMIT_H
#define JOBD_LIMIT_H

/*
 * limit: every limit a client can meet, in one table.
 *
 * Each row of JOBD_LIMITS is X(ID, name, value, kind, what):
 *   ID     the constant code uses: LIMIT_<ID> is the value, LIM_<ID> the
 *          row (for limit_msg);
 *   name   the limit's name, as messages and the documentation give it;
 *   value  its value (a default where an option changes it);
 *   kind   how it is checked, and so the message a client gets:
 *     LIMIT_COUNT  INVALID_ARGUMENT "too many WHAT: N, at most VALUE"
 *     LIMIT_BYTES  INVALID_ARGUMENT "WHAT is N bytes, more than the limit
 *                  of VALUE"
 *     LIMIT_ROOM   RESOURCE_EXHAUSTED "too many WHAT: the limit NAME of
 *                  VALUE is reached; try again later"
 *     LIMIT_VALUE  checked by its handler, with a message of its own
 *                  that names the value and the limit
 *     LIMIT_FRONT  a property of the front (no message to the client;
 *                  the log says when it matters)
 *   what   what it bounds, in words (the WHAT of the messages).
 *
 * The HTTP front (http.c) keeps room of its own against the same
 * parked_waits and parked_calls rows: each front may park that many calls,
 * and an HTTP connection carries one call at a time (HTTP/1.1), so
 * conn_parked_calls is met trivially there.
 *
 * A connection's parked calls are counted against conn_parked_calls and,
 * across connections, against parked_waits (Wait) or parked_calls (the
 * others): Waits have room of their own and never take the room Submits
 * and Cancels need. A kind may allow less than param_value_bytes and
 * input_bytes (its own parameter bounds, its max_input).
 *
 * LIMIT_COUNT and LIMIT_BYTES rows that bound a field of a request are
 * checked on the wire, before the request is decoded (wire.c, whose table
 * names the field of each); LIMIT_ROOM rows by the server (server.c), when
 * a handler asks for room to park a call.
 *
 * What bounds memory before authentication: a connection holds at most one
 * message being received, of at most message_bytes, so half-received
 * messages hold at most max_connections x message_bytes overall (about
 * 2 GiB with the defaults); a connection that does not complete nng's SP
 * handshake is closed by nng (10 s for each step of it, on tcp://,
 * tls+tcp:// and ipc:// alike).
 */

#include <stddef.h>

enum limit_kind {
	LIMIT_COUNT,
	LIMIT_BYTES,
	LIMIT_ROOM,
	LIMIT_VALUE,
	LIMIT_FRONT,
};

/* clang-format off */
#define JOBD_LIMITS(X)                                                         \
	/* the front (server.c) */                                             \
	X(MAX_CONNECTIONS, "max_connections", 1024, LIMIT_FRONT,               \
	  "client connections open at once (--max-connections; by default "    \
	  "half the open-file limit, at most this); more are closed at once")  \
	X(CONN_PARKED, "conn_parked_calls", 1024, LIMIT_ROOM,                  \
	  "calls of this connection waiting")                                  \
	X(PARKED_WAITS, "parked_waits", 32768, LIMIT_ROOM, "Waits waiting")    \
	X(PARKED_CALLS, "parked_calls", 32768, LIMIT_ROOM,                     \
	  "Submits, SubmitBatches and Cancels waiting")                        \
	X(CONN_UNSENT, "conn_unsent_replies", 1024, LIMIT_FRONT,               \
	  "replies of one connection, made as its requests came, that its "    \
	  "client has not taken yet; past it, its further requests are "       \
	  "dropped unanswered")                                                \
	X(CONN_UNSENT_BYTES, "conn_unsent_bytes", 4 << 20, LIMIT_FRONT,        \
	  "bytes of those replies; past it likewise (one reply larger than "   \
	  "this still goes)")                                                  \
	X(REPLY_MS, "reply_ms", 10000, LIMIT_FRONT,                            \
	  "milliseconds a reply waits for its client to take it; then it is "  \
	  "dropped (Stats: dropped_replies)")                                  \
	X(CONTEXTS, "contexts", 81920, LIMIT_FRONT,                            \
	  "requests in hand at once: receiving, parked and replying")          \
	X(RECEIVERS, "receivers", 32, LIMIT_FRONT,                             \
	  "contexts waiting for a request at all times")                       \
	X(MESSAGE_BYTES, "message_bytes", (2 << 20) + 64, LIMIT_FRONT,         \
	  "bytes of one message as the transport receives it (request_bytes "  \
	  "and the SP header); nng closes the connection of a larger one")     \
	/* the HTTP front (http.c, gateway.c) */                               \
	X(HTTP_BODY_BYTES, "http_body_bytes", 4 << 20, LIMIT_VALUE,            \
	  "bytes of one HTTP request body (413, RESOURCE_EXHAUSTED, before "   \
	  "it is read; a body without Content-Length is refused, 411)")        \
	X(HTTP_BODY_MS, "http_body_ms", 10000, LIMIT_FRONT,                    \
	  "milliseconds an HTTP client may pause while it sends a body; "      \
	  "then its connection is closed without a reply")                    \
	X(HTTP_LINE_BYTES, "http_line_bytes", 8192, LIMIT_FRONT,               \
	  "bytes of the request line or of one header line of an HTTP "        \
	  "request (nng's buffer; a longer one closes the connection)")        \
	/* the envelope (rpc.c) */                                             \
	X(REQUEST_BYTES, "request_bytes", 2 << 20, LIMIT_VALUE,                \
	  "bytes of one request (RESOURCE_EXHAUSTED)")                         \
	X(DEADLINE_MS, "deadline_ms", 86400000, LIMIT_VALUE,                   \
	  "an envelope's deadline, in milliseconds")                           \
	X(METHOD_BYTES, "method_bytes", 128, LIMIT_BYTES, "a method's name")   \
	X(METADATA, "metadata", 64, LIMIT_COUNT, "metadata entries")           \
	X(METADATA_KEY, "metadata_key_bytes", 128, LIMIT_BYTES,                \
	  "a metadata key")                                                    \
	X(METADATA_VALUE, "metadata_value_bytes", 8192, LIMIT_BYTES,           \
	  "a metadata value")                                                  \
	X(NESTING, "nesting", 8, LIMIT_FRONT,                                  \
	  "levels of messages within messages")                                \
	X(EXTRA_FIELDS, "extra_fields", 64, LIMIT_COUNT,                       \
	  "unknown or repeated fields in one message")                         \
	/* the bodies (service.c, kinds) */                                    \
	X(KIND_BYTES, "kind_bytes", 64, LIMIT_BYTES, "a kind's name")          \
	X(PARAMS, "params", 64, LIMIT_COUNT, "parameters")                     \
	X(PARAM_NAME, "param_name_bytes", 128, LIMIT_BYTES,                    \
	  "a parameter's name")                                                \
	X(PARAM_VALUE, "param_value_bytes", 65536, LIMIT_BYTES,                \
	  "a parameter's value")                                               \
	X(INPUT_BYTES, "input_bytes", 1 << 20, LIMIT_VALUE, "a job's input")   \
	X(KEY_BYTES, "key_bytes", 128, LIMIT_BYTES, "an idempotency key")      \
	X(ATTEMPTS, "max_attempts", 100, LIMIT_VALUE, "a job's max_attempts")  \
	X(AFTER, "after", 64, LIMIT_COUNT, "jobs a job runs after")             \
	X(BATCH_JOBS, "batch_jobs", 1000, LIMIT_COUNT, "jobs in a batch")      \
	X(GET_IDS, "get_ids", 1000, LIMIT_COUNT, "ids")                        \
	X(LIST_LIMIT, "list_limit", 1000, LIMIT_VALUE, "jobs in a List page")  \
	X(REPLY_BYTES, "reply_bytes", 16 << 20, LIMIT_VALUE,                   \
	  "bytes of a Get's or a List's reply (RESOURCE_EXHAUSTED for a Get; "  \
	  "a shorter page for a List); the C client library takes replies up " \
	  "to this size")                                                      \
	X(PING_PAYLOAD, "ping_payload_bytes", 65536, LIMIT_BYTES,              \
	  "a Ping's payload")
/* clang-format on */

/* LIMIT_<ID>: the value. */
#define LIMIT_VALUE_(id, name, value, kind, what) LIMIT_##id = (value),
enum { JOBD_LIMITS(LIMIT_VALUE_) };
#undef LIMIT_VALUE_

/* LIM_<ID>: the row. */
#define LIMIT_ROW_(id, name, value, kind, what) LIM_##id,
enum limit_id { JOBD_LIMITS(LIMIT_ROW_) LIM_COUNT_ };
#undef LIMIT_ROW_

struct limit {
	const char *name;
	unsigned value;
	enum limit_kind kind;
	const char *what;
};

/* The table, indexed by enum limit_id. */
extern const struct limit limit_table[LIM_COUNT_];

/*
 * Writes the message of limit `id` met by `got` (a count or a length; not
 * used for LIMIT_ROOM), prefixed by `where` (may be ""), into buf.
 */
void limit_msg(char *buf, size_t len, enum limit_id id, const char *where,
               size_t got);

/*
 * The open-file limit at start: raises the soft RLIMIT_NOFILE to the hard
 * one (logged) and returns the soft limit now.
 */
unsigned long limit_raise_nofile(void);

/*
 * The connection cap: `asked` (0: the default, half of nofile, at most
 * LIMIT_MAX_CONNECTIONS), kept below nofile with room for everything else
 * jobd opens (a value above that is lowered, with a warning).
 */
unsigned limit_connections(unsigned asked, unsigned long nofile);

#endif

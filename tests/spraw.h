#ifndef JOBD_SPRAW_H
#define JOBD_SPRAW_H

/*
 * spraw: a raw SP client for tests, written against the wire and not with
 * nng, so that a test can do what no nng client would: stop half-way
 * through a header, announce a message and never send it, pipeline
 * thousands of requests, never read a reply, or send a metadata value with
 * a NUL byte in it.
 *
 * The wire, as nng 1.5.2 speaks it (REQ v0 to REP v0):
 *   - the handshake: each side sends 8 bytes, 0x00 'S' 'P' 0x00, its
 *     protocol id (16 bits, big-endian: REQ 0x0030, REP 0x0031) and two
 *     zero bytes, and reads the peer's;
 *   - a message: its length, 64 bits big-endian, preceded on ipc:// by one
 *     byte of message type (1); then the REQ header, a 32-bit big-endian
 *     request id with its high bit set, which the reply carries back; then
 *     the body, here a jobd.v1.Request (the reply's: a jobd.v1.Response).
 *
 * Every socket is blocking with a send and a receive timeout, so that no
 * call waits longer than the timeout the connection was opened with; only
 * loopback addresses are dialed (tcp://127.0.0.1:PORT, ipc:///path).
 * Functions return 0 or -1 with errno set (EAGAIN: the timeout passed;
 * EPROTO: the peer broke the protocol; ECONNRESET, EPIPE or 0 bytes: it
 * closed).
 */

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobd.pb-c.h"

#define SPRAW_REQ0      0x0030
#define SPRAW_REP0      0x0031
#define SPRAW_MAX_REPLY (64u << 20)

struct spraw {
	int fd;           /* -1 when closed */
	bool ipc;         /* a message-type byte precedes each length */
	uint32_t next_id; /* the next request id, without the high bit */
};

/* Connects to url (tcp://127.0.0.1:PORT or ipc:///path) with send and
 * receive timeouts of timeout_ms; sends nothing. 0 or -1. */
int spraw_connect(struct spraw *s, const char *url, int timeout_ms);
/* The 8-byte SP header of protocol `proto` (SPRAW_REQ0, SPRAW_REP0) in h. */
void spraw_header(uint16_t proto, uint8_t h[8]);
/* Sends the REQ header and reads the peer's, which must be REP's. */
int spraw_handshake(struct spraw *s);
/* spraw_connect() and spraw_handshake(); on failure s is closed. */
int spraw_open(struct spraw *s, const char *url, int timeout_ms);
/* Closes the socket (a FIN). Accepts a closed s. */
void spraw_close(struct spraw *s);
/* Closes with SO_LINGER 0: the peer sees a reset (tcp) or an abrupt end
 * (ipc, which has no reset). */
void spraw_reset(struct spraw *s);
/* Changes the receive timeout (ms). */
void spraw_set_recv_timeout(struct spraw *s, int timeout_ms);
/* Changes the send timeout (ms). */
void spraw_set_send_timeout(struct spraw *s, int timeout_ms);

/* Writes all of buf; -1 as soon as a write fails or times out, with
 * *sent (if not NULL) the bytes that went. */
int spraw_write(struct spraw *s, const void *buf, size_t len, size_t *sent);
/* Reads exactly len bytes; -1 on error, timeout (EAGAIN) or the end
 * (EPIPE). */
int spraw_read(struct spraw *s, void *buf, size_t len);
/* Writes the framing of a message of `len` bytes (REQ header included):
 * what follows must be its bytes, or less of them. */
int spraw_frame(struct spraw *s, uint64_t len);
/* One message as it goes on s's wire: the frame, request id `id` (its
 * high bit set) and body; *n its length. Caller frees; NULL when out of
 * memory. */
uint8_t *spraw_message(const struct spraw *s, uint32_t id, const void *body,
                       size_t len, size_t *n);
/* Sends one message (spraw_message) in one write. */
int spraw_send(struct spraw *s, uint32_t id, const void *body, size_t len);

/* Packs req (caller frees); NULL when out of memory. extra, when not NULL,
 * is appended verbatim after the packed fields (protobuf merges repeated
 * occurrences): for bytes protobuf-c would not write itself. */
uint8_t *spraw_pack(const Jobd__V1__Request *req, const void *extra,
                    size_t elen, size_t *len);
/* Packs req with its body replaced by `body` packed (NULL: req's own
 * body): an envelope. Caller frees; NULL when out of memory. */
uint8_t *spraw_envelope(const Jobd__V1__Request *req,
                        const ProtobufCMessage *body, size_t *len);
/* Sends req (plus `extra`, as spraw_pack) under a fresh request id, which
 * it returns; 0 on failure. */
uint32_t spraw_send_request(struct spraw *s, const Jobd__V1__Request *req,
                            const void *extra, size_t elen);
/* Sends a request for `method` around `body` (NULL: empty) with
 * deadline_ms; the request id, 0 on failure. */
uint32_t spraw_call(struct spraw *s, const char *method,
                    const ProtobufCMessage *body, uint32_t deadline_ms);

/* Reads one reply: *id its request id (without the high bit, which must
 * be set), *resp the decoded Response (caller frees). -1 with errno EPROTO
 * when it is not one (or larger than SPRAW_MAX_REPLY). */
int spraw_recv(struct spraw *s, uint32_t *id, Jobd__V1__Response **resp);
/* Sends a request and reads replies until its own (others are dropped);
 * the Response, NULL on failure or timeout. */
Jobd__V1__Response *spraw_roundtrip(struct spraw *s, const char *method,
                                    const ProtobufCMessage *body,
                                    uint32_t deadline_ms);
/* True when the peer closes the connection within timeout_ms, reading and
 * discarding whatever it still sends. */
bool spraw_wait_closed(struct spraw *s, int timeout_ms);
/* True when bytes (or the end) can be read without waiting. */
bool spraw_readable(struct spraw *s, int timeout_ms);

#endif

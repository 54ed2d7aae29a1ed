#ifndef JOBD_CLIENT_INT_H
#define JOBD_CLIENT_INT_H

/*
 * client_int: what jobd_client.c (the connection, the synchronous calls)
 * and jobd_async.c (the asynchronous calls) share, not installed: the
 * client's struct, the request envelope's encoding and the response's
 * decoding, and the errors. Functions return a jobd_status and leave the
 * message in the calling thread's buffer (jobd_client_errmsg()).
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#include "jobd_client.h"

#define CLIENT_TIMEOUT_MS   10000u      /* default per-call timeout */
#define CLIENT_MARGIN_MS    1000u       /* waited beyond the deadline sent */
#define CLIENT_DRAIN_MS     100u        /* close: for replies already coming */
#define CLIENT_RECV_MAX     (16u << 20) /* largest reply accepted */
#define CLIENT_MAX_METADATA 64u         /* entries set with set_metadata */
#define CLIENT_MAX_PEM      (1u << 20)  /* largest TLS file read */
#define CLIENT_WATCH_MS     1000u       /* the dialer watch's tick */
/* no connection for this long: the dialer is re-created (jobd_client.c) */
#define CLIENT_REDIAL_MS 2000u
/* jobd's largest request (request_bytes in daemon/limit.h): a larger one
 * would be refused, or its connection closed, so it is not sent */
#define CLIENT_MAX_REQUEST (2u << 20)

struct meta {
	char *key;
	char *value;
};

struct jobd_client {
	nng_socket sock;
	char *url;
	nng_tls_config *tls; /* a tls+tcp:// address's, for a new dialer */
	nng_mtx *dmtx;       /* the dialer watch (jobd_client.c): */
	nng_aio *watch;      /* its tick; callback watch_cb */
	nng_dialer dialer;   /* the current dialer */
	int npipes;          /* connections: ADD_PRE to REM_POST */
	nng_time lost;       /* since when npipes is 0 (or the last redial) */
	unsigned redials;    /* dialers re-created */
	bool dclosing;       /* close: the watch ends */
	nng_mtx *mtx;
	uint32_t timeout_ms;
	struct meta *meta;
	size_t nmeta;
	nng_mtx *amtx;
	nng_cv *acv;         /* close waits here for calls to end */
	struct acall *calls; /* in flight: done not yet returned */
	struct acall *idle;  /* ended, for reuse; freed by close */
	atomic_bool closing; /* no new calls; set under amtx */
	bool cancelling;     /* close's drain is over: no new receives */
};

struct acall; /* jobd_async.c */

/* Sets this thread's message; returns code. */
int jc_set_err(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* An nng error rv of a call with deadline_ms, as a status and message. */
int jc_net_err(const jobd_client *c, int rv, uint32_t deadline_ms);
/* The envelope of `req` to `method` in *msgp; *deadline: the deadline sent
 * (deadline_ms, or the client's timeout). */
int jc_make_request(jobd_client *c, const char *method,
                    const ProtobufCMessage *req, uint32_t deadline_ms,
                    uint32_t *deadline, nng_msg **msgp);
/* The Response in msg (not taken), its body unpacked with reply_desc. */
int jc_read_response(jobd_client *c, const char *method, nng_msg *msg,
                     const ProtobufCMessageDescriptor *reply_desc,
                     ProtobufCMessage **reply);
/* How long a call with `deadline` waits for its reply in all. */
nng_duration jc_call_budget(uint32_t deadline);
/* The timeout of a receive that must end by `end`. */
nng_duration jc_time_left(nng_time end);
/* How many times the client re-created its dialer after CLIENT_REDIAL_MS
 * without a connection (for tests and diagnostics). */
unsigned jc_redials(jobd_client *c);
/* Ends the asynchronous calls in flight and frees their contexts, for
 * jobd_client_close() (jobd_async.c). */
void jc_calls_end(jobd_client *c);

#endif

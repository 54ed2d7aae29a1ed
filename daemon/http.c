/*
 * http: the HTTP front, on nng's HTTP server (nng_http_server_*).
 *
 * One handler takes every path and method (set_tree on "/", no method), so
 * that routing, 404 and 405 are jobd's, with JSON bodies, rather than nng's
 * HTML pages. In order, a request is:
 *   /healthz          200 "ok": the process answers (no token);
 *   /readyz           200 "ready", or 503 "not ready: WHY": draining, or
 *                     the queue's storage failing (failing(): the disk
 *                     refuses writes);
 *   the page's files  GET / (index.html) and /<file>, from the table that
 *                     CMake embedded (web_assets.h; no token: they hold no
 *                     data);
 *   the token         with --auth-token-file, everything else needs
 *                     "Authorization: Bearer TOKEN" (auth_check, constant
 *                     time): 401, WWW-Authenticate: Bearer, JSON error;
 *   /metrics          the metrics hook's text (http_config.metrics);
 *   the JSON API      gateway.h's routes: 404, 405, 503 while draining,
 *                     then the body (411 without Content-Length, 413 over
 *                     LIMIT_HTTP_BODY_BYTES, both before a byte of it is
 *                     read), the envelope, and rpc_dispatch().
 *
 * The API as a transport of rpc.c. Each API request is an `hreq` holding
 * its rpc_call; the handler's aio (nng's, begun before the handler is
 * called) is finished with the reply. The body is read with an aio of the
 * hreq's own (nng_http_conn_read_all), and the dispatch runs in that aio's
 * callback (or in the handler, for an empty body): on nng's task threads,
 * like the nng front's, and like it never blocking: a handler answers at
 * once or parks its call. send() may come from any thread (the writer's
 * completer, the timer); the handler's aio must not be finished before
 * the dispatch has returned (the connection and the request must stay for
 * it), so an hreq has pins (the dispatch), and a reply made while it is
 * pinned waits in `pending` for the unpin, as in server.c.
 *
 * Park room: the HTTP front has its own counters against the same rows of
 * limit.h as the nng front's overall ones (parked_waits, parked_calls).
 * An HTTP/1.1 connection carries one call at a time, so the per-connection
 * limit is met by construction.
 *
 * A client that goes during a parked call. nng 1.5.2's HTTP server does not
 * read a connection while its handler runs, so it never learns that the
 * client went until it writes the reply; and it cancels the handler's aio
 * only when the server stops. So for a parked Wait (which may wait for
 * long) jobd reads the connection itself: a one-byte read (the watch,
 * nng_http_conn_read), which ends with an error when the client closes,
 * and then rpc_release() takes the call back (the service answers it
 * CANCELLED, the answer goes nowhere, and the handler's aio is finished
 * with an error, which closes the connection). A read cannot be cancelled
 * without closing the connection in 1.5.2 (http_rd_cancel aborts the
 * stream read, whose callback closes the connection), and a read left
 * pending would eat the next request's first byte; so the reply of a
 * watched call says "Connection: close", and the close ends the watch.
 * Short parks (Submit, Cancel, Retry, Pause, Resume: a commit) are not
 * watched, and keep their connection.
 *
 * What nng 1.5.2's HTTP server does to hostile clients, and what jobd does
 * about it:
 *   - a body larger than collect_body's maximum gets nng's 400 (not 413),
 *     after the headers: jobd collects no body through nng and reads it
 *     itself, after its own checks;
 *   - a body sent chunked is not understood (nng's server reads only
 *     Content-Length bodies; the chunks would be read as the next request):
 *     jobd answers 411 and closes;
 *   - a request or header line over 8 KiB (nng's buffer) closes the
 *     connection without a reply (limit.h http_line_bytes);
 *   - there is no cap on connections and no timeout on a request's
 *     headers or on an idle connection: nng's server gives jobd no hook
 *     for either (and once the process runs out of descriptors, its
 *     accept loop retries at once and spins a CPU, http_server_acccb). So
 *     nng listens on a private loopback port, and jobd's own gate
 *     (tcpgate.c) holds the --http address: it caps the connections (the
 *     idlest makes room) and closes a client whose first byte or request
 *     head is late (limit.h http_connections, http_head_ms);
 *   - refusals nng makes itself (a malformed request line, HTTP/1.1
 *     without Host, HTTP/2) carry nng's HTML error page.
 *
 * Threads: nng's task threads run the handler, the body reads and the
 * watches; any thread may call send(). Locks: hreq.mtx (pins, reply,
 * room), a leaf; front.mtx (draining, the handlers running, and the
 * failing() hook while /readyz calls it), a leaf. http_drain() waits on it
 * until no handler runs, so that nothing the HTTP front called reads the
 * queue once the drain goes on to stop it. Neither is held across an nng call
 * that may run a callback, nor across rpc_dispatch() or rpc_release().
 */
#include "http.h"

#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "jobd_status.h"
#include "limit.h"
#include "log.h"
#include "rpc.h"
#include "tcpgate.h"
#include "web_assets.h"

#define JSON_TYPE  "application/json"
#define TEXT_TYPE  "text/plain; charset=utf-8"
#define BODY_CHUNK (64u << 10) /* a body is read this much at a time */

struct http_front {
	nng_http_server *srv;
	nng_http_handler *hd;
	nng_url *url;   /* --http: the gate's */
	nng_url *inner; /* nng's, on loopback (tcpgate.c) */
	tcpgate *gate;
	ProtobufCService *svc;
	const struct auth *auth;
	int (*metrics)(void *arg, char **buf, size_t *len);
	void *metrics_arg;
	pthread_mutex_t mtx; /* draining, dispatching, failing while called */
	pthread_cond_t idle; /* dispatching fell to 0 while draining */
	bool draining;
	unsigned dispatching; /* handlers running (rpc_dispatch) */
	bool (*failing)(void *arg);
	void *failing_arg;
	bool started;
	atomic_uint_fast64_t parked[2]; /* by enum rpc_park_kind */
	atomic_uint_fast64_t refused;
	atomic_uint busy; /* API requests in hand */
};

enum io_state { IO_NONE, IO_CONTINUE, IO_BODY, IO_WATCH };

struct hreq {
	struct rpc_call call; /* first: the call leads back to the hreq */
	http_front *h;
	nng_aio *aio; /* nng's: the handler's, finished with the reply */
	nng_http_conn *conn;
	nng_aio *io; /* ours: the body, then the watch */
	enum io_state io_state;
	uint8_t watch_byte;
	char *uri; /* a copy: path, then the query */
	const char *query;
	const struct gw_route *route;
	char var[GW_VAR_MAX];
	struct gw_meta meta; /* header values: the request lives while the
	                        handler's aio is not finished */
	char *body;
	size_t blen; /* Content-Length */
	size_t got;  /* read so far */
	size_t cap;  /* allocated */
	/* under mtx */
	pthread_mutex_t mtx;
	int refs;     /* the reply to come, the dispatch, the io */
	int pins;     /* the dispatch: a reply waits in pending */
	bool done;    /* the handler's aio is finished (or about to be) */
	bool aborted; /* nng cancelled it (the server stops) */
	bool gone;    /* the watch saw the client go */
	bool watched; /* a watch was started: the reply closes */
	bool replied; /* send() has been called */
	nng_http_res *pending;
	int reserved; /* 1 + the rpc_park_kind it has room for; 0 none */
};

static int hreq_reserve(struct rpc_call *c, int kind, char *msg, size_t len);
static int read_body(struct hreq *r);
static void hreq_stats(struct rpc_call *c, struct rpc_front_stats *st);

static const struct rpc_transport transport = {hreq_reserve, hreq_stats};

/* ---- replies ----------------------------------------------------------- */

/* A response; data copied unless `borrow` (static bytes). NULL: out of
 * memory. */
static nng_http_res *
make_res(int status, const char *type, const void *data, size_t len,
         bool borrow, bool close)
{
	nng_http_res *res;

	if (nng_http_res_alloc(&res) != 0)
		return NULL;
	if (nng_http_res_set_status(res, (uint16_t) status) != 0 ||
	    (status == 499 &&
	     nng_http_res_set_reason(res, "Client Closed Request") != 0) ||
	    nng_http_res_set_header(res, "Content-Type", type) != 0 ||
	    nng_http_res_set_header(res, "X-Content-Type-Options", "nosniff") !=
	        0 ||
	    nng_http_res_set_header(res, "Cache-Control", "no-store") != 0 ||
	    /* the page runs only its own files (no inline script or
	     * style, nothing from elsewhere), and in no frame */
	    nng_http_res_set_header(res, "Content-Security-Policy",
	                            "default-src 'self'; img-src 'self' data:; "
	                            "frame-ancestors 'none'") != 0 ||
	    (close &&
	     nng_http_res_set_header(res, "Connection", "close") != 0) ||
	    (borrow ? nng_http_res_set_data(res, data, len)
	            : nng_http_res_copy_data(res, data, len)) != 0) {
		nng_http_res_free(res);
		return NULL;
	}
	return res;
}

/* Finishes nng's aio with res (NULL: out of memory, the connection is
 * closed). Nothing may touch aio afterwards: nng reuses it. */
static void
finish(nng_aio *aio, nng_http_res *res)
{
	if (res == NULL) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

/* A JSON error response. */
static nng_http_res *
error_res(int status, int code, const char *msg, bool close)
{
	size_t len = 0;
	char *json = gw_error_json(code, msg, &len);
	nng_http_res *res;

	if (json == NULL)
		return NULL;
	res = make_res(status, JSON_TYPE, json, len, false, close);
	free(json);
	return res;
}

static void
reply_error(nng_aio *aio, int status, int code, const char *msg, bool close)
{
	finish(aio, error_res(status, code, msg, close));
}

static void
reply_text(nng_aio *aio, int status, const char *text, bool close)
{
	finish(aio,
	       make_res(status, TEXT_TYPE, text, strlen(text), false, close));
}

/* ---- hreq: one API request --------------------------------------------- */

static void
hreq_free(struct hreq *r)
{
	atomic_fetch_sub(&r->h->busy, 1);
	/* reaped, not freed: this may be the io's own callback */
	nng_aio_reap(r->io);
	pthread_mutex_destroy(&r->mtx);
	free(r->body);
	free(r->uri);
	free(r);
}

static void
hreq_put(struct hreq *r)
{
	bool last;

	pthread_mutex_lock(&r->mtx);
	last = --r->refs == 0;
	pthread_mutex_unlock(&r->mtx);
	if (last)
		hreq_free(r);
}

/* Under r->mtx: the call's room to park is given back. */
static void
unreserve(struct hreq *r)
{
	if (r->reserved == 0)
		return;
	atomic_fetch_sub(&r->h->parked[r->reserved - 1], 1);
	r->reserved = 0;
}

/* rpc_transport.reserve: room for the call to park. */
static int
hreq_reserve(struct rpc_call *c, int kind, char *msg, size_t len)
{
	struct hreq *r = (struct hreq *) c;
	int k = kind == RPC_PARK_WAIT ? RPC_PARK_WAIT : RPC_PARK_CALL;
	enum limit_id all =
	    k == RPC_PARK_WAIT ? LIM_PARKED_WAITS : LIM_PARKED_CALLS;
	int rv = JOBD_OK;

	pthread_mutex_lock(&r->mtx);
	if (r->reserved != 0) {
		/* it has room already */
	} else if (atomic_fetch_add(&r->h->parked[k], 1) >=
	           limit_table[all].value) {
		atomic_fetch_sub(&r->h->parked[k], 1);
		atomic_fetch_add(&r->h->refused, 1);
		limit_msg(msg, len, all, "", 0);
		rv = JOBD_RESOURCE_EXHAUSTED;
	} else {
		r->reserved = 1 + k;
	}
	pthread_mutex_unlock(&r->mtx);
	return rv;
}

/* rpc_transport.stats: the HTTP front's counters. nng's server does not
 * tell its connections: "connections" counts the API requests in hand. */
static void
hreq_stats(struct rpc_call *c, struct rpc_front_stats *st)
{
	http_front *h = ((struct hreq *) c)->h;

	st->connections = atomic_load(&h->busy);
	st->parked = atomic_load(&h->parked[0]) + atomic_load(&h->parked[1]);
	st->dropped_replies = 0;
	st->refused = atomic_load(&h->refused);
}

/* Finishes nng's aio with r's reply: with "Connection: close" if a
 * watch may still read the connection, or with an error if the client
 * went (the connection closes). */
static void
hand(nng_aio *aio, nng_http_res *res, bool watched, bool gone)
{
	if (gone) {
		nng_http_res_free(res);
		nng_aio_finish(aio, NNG_ECONNSHUT);
		return;
	}
	if (res != NULL && watched &&
	    nng_http_res_set_header(res, "Connection", "close") != 0) {
		nng_http_res_free(res);
		res = NULL;
	}
	finish(aio, res);
}

/* Hands res (NULL: out of memory) to nng unless the dispatch still runs
 * (then it waits in pending for the unpin) or nng's aio is finished
 * already (then it is dropped). */
static void
deliver(struct hreq *r, nng_http_res *res)
{
	nng_aio *now = NULL;
	bool watched, gone;

	pthread_mutex_lock(&r->mtx);
	unreserve(r);
	r->replied = true;
	watched = r->watched;
	gone = r->gone;
	if (r->done) {
		nng_http_res_free(res);
	} else if (r->pins > 0) {
		r->pending = res;
	} else {
		r->done = true;
		now = r->aio;
	}
	pthread_mutex_unlock(&r->mtx);
	if (now != NULL)
		hand(now, res, watched, gone);
}

/* rpc_call.send: the Response as JSON; from the dispatch, or from any
 * thread later. */
static void
hreq_send(struct rpc_call *c, uint8_t *buf, size_t len)
{
	struct hreq *r = (struct hreq *) c;
	const ProtobufCServiceDescriptor *sd = r->h->svc->descriptor;
	nng_http_res *res = NULL;
	int status = 500;
	size_t jlen = 0;
	char *json = NULL;

	if (buf != NULL)
		json = gw_reply(sd, c->method, buf, len, &status, &jlen);
	free(buf);
	if (json != NULL) {
		res = make_res(status, JSON_TYPE, json, jlen, false, false);
		free(json);
	}
	if (c->code == JOBD_RESOURCE_EXHAUSTED || res == NULL)
		atomic_fetch_add(&r->h->refused, 1);
	deliver(r, res);
	hreq_put(r); /* the reply's reference */
}

/* nng cancels the handler's aio: the server stops. Finished now, unless the
 * dispatch runs (then by the unpin): the connection must outlive it. */
static void
hreq_cancel(nng_aio *aio, void *arg, int rv)
{
	struct hreq *r = arg;
	bool now = false;

	pthread_mutex_lock(&r->mtx);
	r->aborted = true;
	if (!r->done && r->pins == 0) {
		r->done = true;
		now = true;
	}
	pthread_mutex_unlock(&r->mtx);
	if (now)
		nng_aio_finish(aio, rv);
}

/* Starts the watch: a one-byte read that ends when the client goes. Called
 * while pinned (the connection is alive). */
static void
watch(struct hreq *r)
{
	nng_iov iov = {.iov_buf = &r->watch_byte, .iov_len = 1};

	pthread_mutex_lock(&r->mtx);
	r->refs++;
	r->watched = true;
	pthread_mutex_unlock(&r->mtx);
	r->io_state = IO_WATCH;
	nng_aio_set_iov(r->io, 1, &iov);
	nng_aio_set_timeout(r->io, NNG_DURATION_INFINITE);
	nng_http_conn_read(r->conn, r->io);
}

/* After the dispatch: the reply goes out, or the call stays parked
 * (watched if it is a Wait). */
static void
after_dispatch(struct hreq *r)
{
	nng_http_res *res = NULL;
	nng_aio *now = NULL;
	bool parked_wait, aborted, watched, gone;

	pthread_mutex_lock(&r->mtx);
	parked_wait = !r->replied && !r->done && !r->aborted &&
	              r->reserved == 1 + RPC_PARK_WAIT;
	pthread_mutex_unlock(&r->mtx);
	/* a reply may come meanwhile: it waits for the unpin, and closes */
	if (parked_wait)
		watch(r);

	pthread_mutex_lock(&r->mtx);
	r->pins--;
	aborted = r->aborted;
	watched = r->watched;
	gone = r->gone;
	if (!r->done && (r->replied || aborted)) {
		r->done = true;
		now = r->aio;
		res = r->pending;
		r->pending = NULL;
	}
	r->refs--; /* the dispatch's; the reply's or the io's remain */
	bool last = r->refs == 0;
	pthread_mutex_unlock(&r->mtx);
	if (now != NULL && aborted) {
		nng_http_res_free(res);
		nng_aio_finish(now, NNG_ECLOSED);
	} else if (now != NULL) {
		hand(now, res, watched, gone);
	}
	if (last)
		hreq_free(r);
}

/* The envelope, and the dispatch; on an nng thread. */
static void
dispatch(struct hreq *r)
{
	http_front *h = r->h;
	uint8_t *env = NULL;
	size_t envlen = 0;
	char msg[256];
	int rv;

	pthread_mutex_lock(&r->mtx);
	if (r->done) {
		/* cancelled during the body's read */
		r->refs -= 2; /* the reply's and the dispatch's: no send */
		bool last = r->refs == 0;
		pthread_mutex_unlock(&r->mtx);
		if (last)
			hreq_free(r);
		return;
	}
	r->pins = 1;
	pthread_mutex_unlock(&r->mtx);
	/* counted, so that http_drain() returns once no handler runs */
	pthread_mutex_lock(&h->mtx);
	bool draining = h->draining;
	if (!draining)
		h->dispatching++;
	pthread_mutex_unlock(&h->mtx);
	if (draining) {
		rv = JOBD_UNAVAILABLE;
		snprintf(msg, sizeof(msg), "jobd is shutting down");
	} else {
		rv = gw_request(h->svc->descriptor, r->route, r->var, r->query,
		                r->body, r->blen, &r->meta, &env, &envlen, msg,
		                sizeof(msg));
	}
	if (rv != JOBD_OK) {
		size_t len = 0;
		uint8_t *buf = rpc_encode_error(rv, msg, &len);
		r->call.code = rv;
		hreq_send(&r->call, buf, len);
	} else {
		rpc_dispatch(h->svc, &r->call, env, envlen);
	}
	if (!draining) {
		pthread_mutex_lock(&h->mtx);
		if (--h->dispatching == 0 && h->draining)
			pthread_cond_broadcast(&h->idle);
		pthread_mutex_unlock(&h->mtx);
	}
	free(env);
	after_dispatch(r);
}

/* The body cannot be read (the client went or stalls, the server stops,
 * out of memory): no reply, nng closes the connection. Any nng call on the
 * connection is made while nng's aio is not finished: in the handler, or
 * pinned (read_more, after_dispatch), since once it is finished nng may
 * free the connection. */
static void
io_fail(struct hreq *r, int rv)
{
	nng_aio *now = NULL;
	bool last;

	pthread_mutex_lock(&r->mtx);
	if (!r->done) {
		r->done = true;
		now = r->aio;
	}
	pthread_mutex_unlock(&r->mtx);
	if (now != NULL)
		nng_aio_finish(now, rv);
	pthread_mutex_lock(&r->mtx);
	r->refs -= 2; /* the reply's and the dispatch's */
	last = r->refs == 0;
	pthread_mutex_unlock(&r->mtx);
	if (last)
		hreq_free(r);
}

/* read_body() from the io's callback: pinned, so that nng's aio is not
 * finished (and the connection freed) while the read starts. 0, or an nng
 * error (the read was not started). */
static int
read_more(struct hreq *r)
{
	nng_aio *now = NULL;
	int rv;

	pthread_mutex_lock(&r->mtx);
	if (r->done) {
		pthread_mutex_unlock(&r->mtx);
		return NNG_ECLOSED;
	}
	r->pins++;
	pthread_mutex_unlock(&r->mtx);
	rv = read_body(r);
	pthread_mutex_lock(&r->mtx);
	if (--r->pins == 0 && r->aborted && !r->done) {
		/* cancelled meanwhile: the read fails with the close */
		r->done = true;
		now = r->aio;
	}
	pthread_mutex_unlock(&r->mtx);
	if (now != NULL)
		nng_aio_finish(now, NNG_ECLOSED);
	return rv;
}

/* The hreq's own aio: the body has been read, or the watch has ended. */
static void
io_cb(void *arg)
{
	struct hreq *r = arg;
	int rv = nng_aio_result(r->io);

	if (r->io_state == IO_CONTINUE) {
		if (rv != 0 || (rv = read_more(r)) != 0)
			io_fail(r, rv);
		return;
	}
	if (r->io_state == IO_BODY) {
		if (rv == 0) {
			r->got += nng_aio_count(r->io);
			if (r->got == r->blen) {
				dispatch(r);
				return;
			}
			if ((rv = read_more(r)) == 0)
				return;
		}
		io_fail(r, rv);
		return;
	}
	/* the watch: an error is the client gone (or the close after the
	 * reply); a byte, a request sent before this one's reply, whose
	 * first byte is lost: the reply closes the connection */
	if (rv != 0) {
		pthread_mutex_lock(&r->mtx);
		r->gone = true;
		pthread_mutex_unlock(&r->mtx);
		rpc_release(&r->call);
	}
	hreq_put(r);
}

/* ---- the handler ------------------------------------------------------- */

/* Reads the next part of the body: at most BODY_CHUNK bytes, into a
 * buffer that grows with what arrives (so that a client that announces a
 * large body and sends none holds no memory for it), within
 * LIMIT_HTTP_BODY_MS (nng's read is then cancelled, which closes the
 * connection). 0, or NNG_ENOMEM. */
static int
read_body(struct hreq *r)
{
	size_t want = r->blen - r->got;
	nng_iov iov;

	if (want > BODY_CHUNK)
		want = BODY_CHUNK;
	if (r->got + want > r->cap) {
		size_t cap =
		    r->cap * 2 > r->got + want ? r->cap * 2 : r->got + want;
		char *b;
		if (cap > r->blen)
			cap = r->blen;
		if ((b = realloc(r->body, cap)) == NULL)
			return NNG_ENOMEM;
		r->body = b;
		r->cap = cap;
	}
	iov.iov_buf = r->body + r->got;
	iov.iov_len = want;
	r->io_state = IO_BODY;
	nng_aio_set_iov(r->io, 1, &iov);
	nng_aio_set_timeout(r->io, LIMIT_HTTP_BODY_MS);
	nng_http_conn_read(r->conn, r->io);
	return 0;
}

static const struct web_asset *
asset(const char *path)
{
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (size_t i = 0; i < web_nassets; i++)
		if (strcmp(web_assets[i].path, path) == 0)
			return &web_assets[i];
	return NULL;
}

static void
readyz(http_front *h, nng_aio *aio, bool close)
{
	const char *why = NULL;

	pthread_mutex_lock(&h->mtx);
	if (h->draining)
		why = "not ready: shutting down\n";
	else if (h->failing != NULL && h->failing(h->failing_arg))
		why = "not ready: the database refuses writes\n";
	pthread_mutex_unlock(&h->mtx);
	reply_text(aio, why ? 503 : 200, why ? why : "ready\n", close);
}

static void
serve_metrics(http_front *h, nng_aio *aio, bool close)
{
	char *buf = NULL;
	size_t len = 0;

	if (h->metrics(h->metrics_arg, &buf, &len) != JOBD_OK) {
		free(buf);
		reply_error(aio, 500, JOBD_INTERNAL,
		            "cannot render the metrics", close);
		return;
	}
	finish(aio, make_res(200, "text/plain; version=0.0.4; charset=utf-8",
	                     buf, len, false, close));
	free(buf);
}

/* The body's length from Content-Length: JOBD_OK, or the refusal made. */
static int
body_length(nng_http_req *req, nng_aio *aio, size_t *len)
{
	const char *cl = nng_http_req_get_header(req, "Content-Length");
	char msg[200];
	unsigned long long n;

	*len = 0;
	if (nng_http_req_get_header(req, "Transfer-Encoding") != NULL) {
		reply_error(aio, 411, JOBD_INVALID_ARGUMENT,
		            "a body must come with Content-Length (no "
		            "Transfer-Encoding)",
		            true);
		return JOBD_INVALID_ARGUMENT;
	}
	if (cl == NULL)
		return JOBD_OK;
	if (*cl == '\0' || cl[strspn(cl, "0123456789")] != '\0' ||
	    strlen(cl) > 18) {
		reply_error(aio, 400, JOBD_INVALID_ARGUMENT,
		            "Content-Length is not a number", true);
		return JOBD_INVALID_ARGUMENT;
	}
	n = strtoull(cl, NULL, 10);
	if (n > LIMIT_HTTP_BODY_BYTES) {
		snprintf(msg, sizeof(msg),
		         "body of %llu bytes is larger than the limit "
		         "http_body_bytes of %u",
		         n, (unsigned) LIMIT_HTTP_BODY_BYTES);
		reply_error(aio, 413, JOBD_RESOURCE_EXHAUSTED, msg, true);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	*len = (size_t) n;
	return JOBD_OK;
}

/* An API request: its checks, then the body's read or the dispatch. */
static void
api(http_front *h, nng_aio *aio, nng_http_req *req, nng_http_conn *conn,
    const char *method, char *uri, const char *path, const char *query,
    bool unread)
{
	const struct gw_route *route;
	const char *allow, *to, *e;
	char var[GW_VAR_MAX], msg[256];
	struct hreq *r;
	uint32_t deadline = 0;
	size_t blen;
	bool has_body;
	int rv;

	switch (gw_route(method, path, &route, var, &allow)) {
	case GW_NO_PATH:
		snprintf(msg, sizeof(msg), "no such path: %.128s", path);
		reply_error(aio, 404, JOBD_NOT_FOUND, msg, unread);
		free(uri);
		return;
	case GW_BAD_METHOD: {
		nng_http_res *res;
		snprintf(msg, sizeof(msg), "%.128s takes %s, not %.16s", path,
		         allow, method);
		res = error_res(405, JOBD_UNIMPLEMENTED, msg, unread);
		if (res != NULL &&
		    nng_http_res_set_header(res, "Allow", allow) != 0) {
			nng_http_res_free(res);
			res = NULL;
		}
		finish(aio, res);
		free(uri);
		return;
	}
	case GW_FOUND:
		break;
	}
	pthread_mutex_lock(&h->mtx);
	bool draining = h->draining;
	pthread_mutex_unlock(&h->mtx);
	if (draining) {
		reply_error(aio, 503, JOBD_UNAVAILABLE, "jobd is shutting down",
		            unread);
		free(uri);
		return;
	}
	if (body_length(req, aio, &blen) != JOBD_OK) {
		free(uri);
		return;
	}
	has_body = gw_route_takes_body(route, method);
	if (blen > 0 && !has_body) {
		reply_error(aio, 400, JOBD_INVALID_ARGUMENT,
		            "a GET request has no body", true);
		free(uri);
		return;
	}
	if ((to = nng_http_req_get_header(req, "Grpc-Timeout")) != NULL &&
	    gw_timeout(to, LIMIT_DEADLINE_MS, &deadline, msg, sizeof(msg)) !=
	        JOBD_OK) {
		reply_error(aio, 400, JOBD_INVALID_ARGUMENT, msg, blen > 0);
		free(uri);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    nng_aio_alloc(&r->io, io_cb, r) != 0) {
		free(r);
		free(uri);
		reply_error(aio, 429, JOBD_RESOURCE_EXHAUSTED,
		            "out of memory: jobd cannot take this request now",
		            unread);
		return;
	}
	atomic_fetch_add(&h->busy, 1);
	pthread_mutex_init(&r->mtx, NULL);
	r->h = h;
	r->aio = aio;
	r->conn = conn;
	r->uri = uri;
	r->query = query;
	r->route = route;
	memcpy(r->var, var, sizeof(var));
	r->blen = blen;
	r->meta.deadline_ms = deadline;
	r->meta.authorization = nng_http_req_get_header(req, "Authorization");
	r->meta.user_agent = nng_http_req_get_header(req, "User-Agent");
	r->call.send = hreq_send;
	r->call.transport = r;
	r->call.ops = &transport;
	r->call.auth = h->auth;
	r->refs = 2; /* the reply to come, the dispatch */
	nng_aio_defer(aio, hreq_cancel, r);
	if (blen == 0) {
		dispatch(r);
		return;
	}
	if ((e = nng_http_req_get_header(req, "Expect")) != NULL &&
	    strcasecmp(e, "100-continue") == 0) {
		/* the client waits for this before it sends the body (curl
		 * does for large ones); nng's server does not send it */
		static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		nng_iov iov = {.iov_buf = cont, .iov_len = sizeof(cont) - 1};
		r->io_state = IO_CONTINUE;
		nng_aio_set_iov(r->io, 1, &iov);
		nng_aio_set_timeout(r->io, LIMIT_HTTP_BODY_MS);
		nng_http_conn_write_all(conn, r->io);
		return;
	}
	if ((rv = read_body(r)) != 0)
		io_fail(r, rv);
}

/* The 401 of a request without the token. */
static nng_http_res *
unauthorized(nng_http_req *req, bool close)
{
	nng_http_res *res = error_res(
	    401, JOBD_UNAUTHENTICATED,
	    nng_http_req_get_header(req, "Authorization") == NULL
	        ? "missing token: this jobd needs 'Authorization: Bearer "
	          "TOKEN'"
	        : "invalid token in 'Authorization'",
	    close);
	if (res != NULL &&
	    nng_http_res_set_header(res, "WWW-Authenticate", "Bearer") != 0) {
		nng_http_res_free(res);
		res = NULL;
	}
	return res;
}

/* nng's handler: every request of every path. */
static void
on_request(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	nng_http_handler *hd = nng_aio_get_input(aio, 1);
	nng_http_conn *conn = nng_aio_get_input(aio, 2);
	http_front *h = nng_http_handler_get_data(hd);
	const char *method = nng_http_req_get_method(req);
	const char *cl = nng_http_req_get_header(req, "Content-Length");
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	/* a reply made before the body is read closes the connection */
	bool unread = (cl != NULL && strcmp(cl, "0") != 0) ||
	              nng_http_req_get_header(req, "Transfer-Encoding") != NULL;
	const struct web_asset *a;
	char *uri, *path, *query;

	if ((uri = strdup(nng_http_req_get_uri(req))) == NULL) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	/* absolute-form (a proxy's): the path after the authority */
	path = uri;
	if (strncasecmp(path, "http://", 7) == 0 ||
	    strncasecmp(path, "https://", 8) == 0) {
		char *slash = strchr(strchr(path, ':') + 3, '/');
		path = slash != NULL ? slash : "/";
	}
	if ((query = strchr(path, '?')) != NULL)
		*query++ = '\0';

	if (get && strcmp(path, "/healthz") == 0) {
		reply_text(aio, 200, "ok\n", unread);
	} else if (get && strcmp(path, "/readyz") == 0) {
		readyz(h, aio, unread);
	} else if (get && (a = asset(path)) != NULL) {
		finish(aio,
		       make_res(200, a->type, a->data, a->len, true, unread));
	} else if (h->auth != NULL &&
	           !auth_check(h->auth,
	                       nng_http_req_get_header(req, "Authorization"))) {
		finish(aio, unauthorized(req, unread));
	} else if (strcmp(path, "/metrics") == 0 && h->metrics != NULL) {
		if (get)
			serve_metrics(h, aio, unread);
		else
			reply_error(aio, 405, JOBD_UNIMPLEMENTED,
			            "/metrics takes GET", unread);
	} else {
		api(h, aio, req, conn, method, uri, path, query, unread);
		return; /* it took uri */
	}
	free(uri);
}

/* ---- start and stop ---------------------------------------------------- */

int
http_start(http_front **hp, const struct http_config *cfg, char *err,
           size_t errlen)
{
	http_front *h;
	nng_sockaddr sa;
	const char *what = "";
	char inner[32];
	int rv;

	*hp = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	pthread_mutex_init(&h->mtx, NULL);
	pthread_cond_init(&h->idle, NULL);
	h->svc = cfg->svc;
	h->auth = cfg->auth;
	h->failing = cfg->failing;
	h->failing_arg = cfg->failing_arg;
	h->metrics = cfg->metrics;
	h->metrics_arg = cfg->metrics_arg;
	atomic_init(&h->parked[0], 0);
	atomic_init(&h->parked[1], 0);
	atomic_init(&h->refused, 0);
	atomic_init(&h->busy, 0);
	if ((rv = nng_url_parse(&h->url, cfg->url)) != 0 ||
	    (strcmp(h->url->u_scheme, "http") != 0 &&
	     strcmp(h->url->u_scheme, "https") != 0)) {
		snprintf(err, errlen,
		         "--http address '%s' is not http://HOST:PORT or "
		         "https://HOST:PORT",
		         cfg->url);
		rv = JOBD_INVALID_ARGUMENT;
		goto fail;
	}
	if (strcmp(h->url->u_scheme, "https") == 0 && cfg->tls == NULL) {
		/* daemon_start() makes sure this does not happen */
		snprintf(err, errlen,
		         "cannot listen on '%s': no TLS certificate", cfg->url);
		rv = JOBD_INVALID_ARGUMENT;
		goto fail;
	}
	/* the gate takes the address; nng listens on a loopback port of the
	 * kernel's choosing, which the gate relays to */
	if ((rv = tcpgate_open(&h->gate, cfg->url, h->url->u_hostname,
	                       h->url->u_port, cfg->tls != NULL, err,
	                       errlen)) != JOBD_OK)
		goto fail;
	snprintf(inner, sizeof(inner), "%s://127.0.0.1:0", h->url->u_scheme);
	if ((rv = nng_url_parse(&h->inner, inner)) != 0 ||
	    (rv = nng_http_server_hold(&h->srv, h->inner)) != 0 ||
	    (rv = nng_http_handler_alloc(&h->hd, "/", on_request)) != 0 ||
	    (rv = nng_http_handler_set_method(h->hd, NULL)) != 0 ||
	    (rv = nng_http_handler_set_tree(h->hd)) != 0 ||
	    (rv = nng_http_handler_collect_body(h->hd, false, 0)) != 0 ||
	    (rv = nng_http_handler_set_data(h->hd, h, NULL)) != 0)
		goto fail_nng;
	if ((rv = nng_http_server_add_handler(h->srv, h->hd)) != 0)
		goto fail_nng;
	h->hd = NULL; /* the server holds it now */
	if (cfg->tls != NULL) {
		if ((rv = nng_http_server_set_tls(h->srv, cfg->tls)) != 0)
			goto fail_nng;
		what = cfg->tls_client_certs
		           ? " (TLS, client certificates required)"
		           : " (TLS)";
	}
	if ((rv = nng_http_server_start(h->srv)) != 0)
		goto fail_nng;
	h->started = true;
	if ((rv = nng_http_server_get_addr(h->srv, &sa)) != 0)
		goto fail_nng;
	if (sa.s_family != NNG_AF_INET) {
		rv = NNG_EADDRINVAL;
		goto fail_nng;
	}
	if ((rv = tcpgate_start(h->gate, ntohs(sa.s_in.sa_port), err,
	                        errlen)) != JOBD_OK)
		goto fail;
	log_info("HTTP on %s://%s:%u%s, at most %zu connections",
	         h->url->u_scheme, h->url->u_hostname,
	         (unsigned) tcpgate_port(h->gate), what, tcpgate_cap(h->gate));
	*hp = h;
	return JOBD_OK;
fail_nng:
	snprintf(err, errlen, "cannot listen on '%s': %s", cfg->url,
	         nng_strerror(rv));
	rv = JOBD_UNAVAILABLE;
fail:
	http_stop(h);
	return rv;
}

void
http_drain(http_front *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mtx);
	h->draining = true;
	h->failing = NULL; /* not to be called again: the queue stops */
	/* the handlers running now may read the writer and the scheduler:
	 * they end soon (none blocks), and no other begins */
	while (h->dispatching > 0)
		pthread_cond_wait(&h->idle, &h->mtx);
	pthread_mutex_unlock(&h->mtx);
}

void
http_stop(http_front *h)
{
	if (h == NULL)
		return;
	/* the public listener first: no new connection reaches nng */
	tcpgate_close(h->gate);
	if (h->srv != NULL) {
		/* closes every connection (their handlers' aios cancelled),
		 * and returns once they are all gone */
		if (h->started)
			nng_http_server_stop(h->srv);
		nng_http_server_release(h->srv);
	}
	if (h->hd != NULL)
		nng_http_handler_free(h->hd);
	nng_url_free(h->url);
	nng_url_free(h->inner);
	pthread_cond_destroy(&h->idle);
	pthread_mutex_destroy(&h->mtx);
	free(h);
}

/*
 * server: nng REP contexts, none of which ever blocks, and a record of
 * each client connection.
 *
 * Works. Each `work` is a context with its aio and a small state machine,
 * as in nng's demo/async/server.c: RECV (waiting for a request), the
 * request's dispatch inside the aio callback, then SEND (its reply on its
 * way). RECEIVERS works wait for requests at all times: a work that gets a
 * request is replaced at once (an idle work, or a new one up to
 * LIMIT_CONTEXTS), so that neither a parked call nor a reply its client
 * does not read holds a receiver the others need. Once its reply is sent,
 * a work goes back to receiving, or to the idle list.
 *
 * Replies. Most handlers answer before they return; Submit, SubmitBatch,
 * Wait and Cancel park, and their reply comes later from another thread.
 * nng must not see a new operation on the aio before the callback that
 * dispatched has returned, and a work must not be reused while a release
 * may still use its call; so a work has pins (the dispatch, a release),
 * and a reply made while it is pinned waits in the work (`pending`) until
 * whoever drops the last pin sends it. Every send has a time bound
 * (LIMIT_REPLY_MS): nng 1.5.2's rep0 hands a reply to its connection at
 * once when the connection is not writing one already, and otherwise
 * queues the context behind it, where the aio's timeout cancels it. A
 * reply its client does not take in time is dropped (REP allows a reply to
 * be lost; the client's deadline covers it) and counted. Receives have no
 * time bound.
 *
 * Connections. nng's pipe notifications keep a record per connection, in
 * a hash by pipe id, and nng_msg_get_pipe() matches each request with its
 * record. ADD_PRE refuses a connection past the cap (one log line when the
 * cap is reached, another once the count is well below it again); REM_POST
 * takes back the connection's parked calls at once (rpc_release(): the
 * service answers each, and the answer goes nowhere, since rep0 drops a
 * reply to a closed pipe). A request whose connection has closed already
 * is dropped. A record counts its connection's
 *   - parked calls: a handler reserves room before it parks
 *     (work_reserve), within the connection's limit and an overall one,
 *     Waits apart from the others, so that no client's Waits can take the
 *     room that Submits and Cancels need;
 *   - unsent replies: a connection with LIMIT_CONN_UNSENT replies made at
 *     dispatch that its client has not taken, or LIMIT_CONN_UNSENT_BYTES
 *     of them, gets its further requests dropped unanswered (one log line
 *     for the connection). The count is as high as the calls a client
 *     may park, so that a client that keeps many calls in flight and
 *     reads them all never meets it (replies leave one at a time, and a
 *     burst of requests answered at once queues up behind the first); the
 *     bytes bound the memory a client that does not read holds. Replies of
 *     parked calls do not count: conn_parked_calls bounds them, and a
 *     client that reads gets them in bursts. It is not closed: nng's REQ
 *     re-sends every request in flight on its next connection, so a
 *     client that was only slow would see its calls made twice; dropped,
 *     a request costs a read, and the client's own deadline tells it.
 *
 * Out of memory, a reply is the small error encoded at start, never an
 * empty message (which a client would read as an empty OK); without even
 * that, the request is dropped.
 *
 * Closing. nng 1.5.2 (Debian 12's) now and then never returns from
 * nng_close(): it waits for a pipe that is never reaped (test_stress saw
 * one graceful stop in about 170 under load hang so, every nng thread
 * idle). The daemon closes the socket last, once every job is on disk, so
 * server_stop_within() gives the close a time limit and the daemon can exit
 * without it.
 *
 * ipc:// addresses. nng 1.5.2's ipc listener stops accepting for good after
 * one connection closed early, so jobd's gate (ipcgate.c) owns each
 * ipc:// path and hands nng only connections that have sent their SP
 * header; nng listens on a private path behind it. The gates close after
 * the socket.
 *
 * Threads: the aio callbacks (nng's taskq), the threads that answer parked
 * calls (writer's completer, timer), and nng's reaper thread, which runs
 * REM_POST and with it the release of the connection's calls.
 *
 * Lock order: conn.mtx, then work.mtx (a work's pins and reply, taken
 * under its connection's when the connection's parked list changes).
 * srv.mtx (the works), srv.cmtx (the table of connections) and
 * stopper.mtx are leaves; the gates have locks of their own, taken by
 * none of these. None is held across an nng call that may run a
 * callback, nor across rpc_dispatch() or rpc_release() (which take the
 * service's and the scheduler's locks).
 */
#include "server.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/transport/ipc/ipc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ipcgate.h"
#include "limit.h"
#include "log.h"
#include "rpc.h"

#define CONN_BUCKETS 1024 /* the table of connections */

enum work_state { W_RECV, W_SEND, W_IDLE };

struct conn;

struct work {
	struct rpc_call call; /* first: the call leads back to the work */
	server *srv;
	nng_aio *aio;
	nng_ctx ctx;
	enum work_state state;
	struct conn *conn; /* of the request in hand: a reference */
	/* under conn->mtx */
	int reserved; /* 1 + the rpc_park_kind it has room for; 0 none */
	bool listed;  /* in conn->parked */
	struct work *pprev, *pnext;
	struct work *rnext; /* conn_closed()'s own list */
	/* under mtx */
	pthread_mutex_t mtx;
	int pins;       /* the dispatch, a release: a reply waits */
	bool has_reply; /* the call is answered */
	nng_msg *pending;
	bool counted;  /* its reply counts in conn->unsent */
	size_t nbytes; /* ... and its bytes in conn->unsent_bytes */
	/* under srv->mtx */
	struct work *next_all;
	struct work *next_idle;
};

struct conn {
	uint32_t id;        /* nng's pipe id */
	struct conn *next;  /* in its bucket, under srv->cmtx */
	atomic_uint refs;   /* the table's, and one per work serving it */
	atomic_uint unsent; /* replies made at dispatch, not yet sent */
	atomic_size_t unsent_bytes; /* and their bytes */
	atomic_bool told;           /* its unsent replies were logged */
	pthread_mutex_t mtx;
	/* under mtx */
	bool closed;
	uint32_t nparked;    /* calls with room reserved to park */
	struct work *parked; /* the works whose call is parked */
};

struct server {
	nng_socket sock;
	ProtobufCService *svc;
	const struct auth *auth;
	/* the works, under mtx */
	pthread_mutex_t mtx;
	struct work *all;
	struct work *idle;
	size_t nworks;
	size_t nrecv;
	bool starved; /* "no context free" logged */
	bool draining;
	bool closed;
	size_t dispatching;   /* rpc_dispatch() calls running now */
	pthread_cond_t quiet; /* dispatching fell to 0 while draining */
	/* the connections, under cmtx */
	pthread_mutex_t cmtx;
	struct conn *conns[CONN_BUCKETS];
	uint32_t nconns;
	uint32_t max_conns;
	bool at_cap;
	uint64_t turned_away; /* since the cap was reached */
	/* counters */
	atomic_uint_fast64_t parked[2]; /* by enum rpc_park_kind */
	atomic_uint_fast64_t dropped;
	atomic_uint_fast64_t refused;
	/* the reply when no other can be made */
	uint8_t *oom;
	size_t oom_len;
	ipcgate *gates[16]; /* one per ipc:// address; main takes 16 */
	size_t ngates;
};

static void work_cb(void *arg);
static int work_reserve(struct rpc_call *c, int kind, char *msg, size_t len);
static void work_stats(struct rpc_call *c, struct rpc_front_stats *st);

static const struct rpc_transport transport = {work_reserve, work_stats};

/* ---- connections ----------------------------------------------------- */

static void
conn_put(struct conn *cn)
{
	if (cn != NULL && atomic_fetch_sub(&cn->refs, 1) == 1) {
		pthread_mutex_destroy(&cn->mtx);
		free(cn);
	}
}

/* The record of connection `id`, with a reference; NULL if it closed. */
static struct conn *
conn_get(server *srv, uint32_t id)
{
	struct conn *cn;

	pthread_mutex_lock(&srv->cmtx);
	for (cn = srv->conns[id % CONN_BUCKETS]; cn != NULL; cn = cn->next)
		if (cn->id == id)
			break;
	if (cn != NULL)
		atomic_fetch_add(&cn->refs, 1);
	pthread_mutex_unlock(&srv->cmtx);
	return cn;
}

/* ADD_PRE: a record for the new connection, or the connection closed if
 * the cap is reached. */
static void
conn_open(server *srv, nng_pipe p)
{
	struct conn *cn = calloc(1, sizeof(*cn));
	bool full = false, tell = false;
	uint32_t max = 0;

	if (cn == NULL) {
		nng_pipe_close(p);
		return;
	}
	cn->id = nng_pipe_id(p);
	atomic_init(&cn->refs, 1);
	atomic_init(&cn->unsent, 0);
	atomic_init(&cn->unsent_bytes, 0);
	atomic_init(&cn->told, false);
	pthread_mutex_init(&cn->mtx, NULL);
	pthread_mutex_lock(&srv->cmtx);
	if (srv->nconns >= srv->max_conns) {
		full = true;
		tell = !srv->at_cap;
		srv->at_cap = true;
		srv->turned_away++;
		max = srv->max_conns;
	} else {
		cn->next = srv->conns[cn->id % CONN_BUCKETS];
		srv->conns[cn->id % CONN_BUCKETS] = cn;
		srv->nconns++;
	}
	pthread_mutex_unlock(&srv->cmtx);
	if (!full)
		return;
	conn_put(cn);
	nng_pipe_close(p);
	if (tell)
		log_warn("connection limit reached: %u connections open; new "
		         "connections are closed at once until fewer are "
		         "open (--max-connections)",
		         max);
}

static void
unlist(struct conn *cn, struct work *w)
{
	if (w->pprev != NULL)
		w->pprev->pnext = w->pnext;
	else
		cn->parked = w->pnext;
	if (w->pnext != NULL)
		w->pnext->pprev = w->pprev;
	w->pprev = w->pnext = NULL;
	w->listed = false;
}

static void
list_parked(struct conn *cn, struct work *w)
{
	w->pprev = NULL;
	w->pnext = cn->parked;
	if (cn->parked != NULL)
		cn->parked->pprev = w;
	cn->parked = w;
	w->listed = true;
}

static void work_unpin(struct work *w);

/* REM_POST: the connection's record goes, and its parked calls are taken
 * back. The works stay pinned while their call is released, so that none
 * is reused for another request meanwhile. */
static void
conn_closed(server *srv, uint32_t id)
{
	struct conn *cn, **pp;
	struct work *list = NULL, *w, *next;
	uint64_t away = 0;
	uint32_t open;
	bool below = false;

	pthread_mutex_lock(&srv->cmtx);
	pp = &srv->conns[id % CONN_BUCKETS];
	while (*pp != NULL && (*pp)->id != id)
		pp = &(*pp)->next;
	if ((cn = *pp) != NULL) {
		*pp = cn->next;
		srv->nconns--;
		/* well below, so that a connection closing and another
		 * refused at the cap do not log a line each */
		if (srv->at_cap &&
		    srv->nconns < srv->max_conns - srv->max_conns / 10) {
			below = true;
			srv->at_cap = false;
			away = srv->turned_away;
			srv->turned_away = 0;
		}
	}
	open = srv->nconns;
	pthread_mutex_unlock(&srv->cmtx);
	if (cn == NULL)
		return; /* refused by conn_open */
	if (below)
		log_info("%u connections open, below the limit again; %llu "
		         "were refused meanwhile",
		         open, (unsigned long long) away);

	pthread_mutex_lock(&cn->mtx);
	cn->closed = true;
	while ((w = cn->parked) != NULL) {
		unlist(cn, w);
		pthread_mutex_lock(&w->mtx);
		w->pins++;
		pthread_mutex_unlock(&w->mtx);
		w->rnext = list;
		list = w;
	}
	pthread_mutex_unlock(&cn->mtx);
	for (w = list; w != NULL; w = next) {
		next = w->rnext; /* w may be reused once unpinned */
		rpc_release(&w->call);
		work_unpin(w);
	}
	conn_put(cn);
}

static void
pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	server *srv = arg;

	switch (ev) {
	case NNG_PIPE_EV_ADD_PRE:
		conn_open(srv, p);
		break;
	case NNG_PIPE_EV_ADD_POST:
		log_debug("connection %u open", (unsigned) nng_pipe_id(p));
		break;
	case NNG_PIPE_EV_REM_POST:
		conn_closed(srv, (uint32_t) nng_pipe_id(p));
		break;
	default:
		break;
	}
}

/* True, logged once for the connection, when it has as many replies unsent
 * as it may: its request is dropped. */
static bool
conn_over_unsent(server *srv, struct conn *cn)
{
	unsigned n = atomic_load(&cn->unsent);
	size_t bytes = atomic_load(&cn->unsent_bytes);

	if (n < LIMIT_CONN_UNSENT && bytes < LIMIT_CONN_UNSENT_BYTES)
		return false;
	atomic_fetch_add(&srv->refused, 1);
	if (!atomic_exchange(&cn->told, true))
		log_warn("connection %u does not take its replies: %u of "
		         "them (%zu bytes) are waiting for it, and its "
		         "requests are dropped until it takes them (%s)",
		         (unsigned) cn->id, n, bytes,
		         n >= LIMIT_CONN_UNSENT ? "conn_unsent_replies"
		                                : "conn_unsent_bytes");
	return true;
}

/* ---- works ----------------------------------------------------------- */

/* The reply's message: buf, or the out-of-memory error; NULL if not even
 * that can be had (the request is dropped). */
static nng_msg *
make_msg(server *srv, uint8_t *buf, size_t len, bool *oom)
{
	nng_msg *m;

	*oom = false;
	if (buf != NULL && nng_msg_alloc(&m, len) == 0) {
		memcpy(nng_msg_body(m), buf, len);
		free(buf);
		return m;
	}
	free(buf);
	*oom = true;
	if (nng_msg_alloc(&m, srv->oom_len) != 0)
		return NULL;
	memcpy(nng_msg_body(m), srv->oom, srv->oom_len);
	return m;
}

static void
start_recv(struct work *w)
{
	w->state = W_RECV;
	nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(w->ctx, w->aio);
}

/* The request is done with: the work receives again, or waits idle. */
static void
work_done(struct work *w)
{
	server *srv = w->srv;
	bool recv;

	conn_put(w->conn);
	w->conn = NULL;
	pthread_mutex_lock(&srv->mtx);
	recv = srv->nrecv < LIMIT_RECEIVERS && !srv->closed;
	if (recv) {
		srv->nrecv++;
	} else {
		w->state = W_IDLE;
		w->next_idle = srv->idle;
		srv->idle = w;
	}
	pthread_mutex_unlock(&srv->mtx);
	if (recv)
		start_recv(w);
}

/* Sends m (NULL: none could be made, the request is dropped). A reply made
 * at dispatch is `counted` against the connection's unsent replies; one of
 * a parked call is not: there are at most conn_parked_calls of those, and
 * a client that reads gets them in bursts (many Waits ending at once). */
static void
start_send(struct work *w, nng_msg *m, bool counted)
{
	if (m == NULL) {
		work_done(w);
		return;
	}
	if ((w->counted = counted)) {
		w->nbytes = nng_msg_len(m);
		atomic_fetch_add(&w->conn->unsent, 1);
		atomic_fetch_add(&w->conn->unsent_bytes, w->nbytes);
	}
	w->state = W_SEND;
	nng_aio_set_msg(w->aio, m);
	nng_aio_set_timeout(w->aio, LIMIT_REPLY_MS);
	nng_ctx_send(w->ctx, w->aio);
}

/* Under conn->mtx: the call's room to park is given back. */
static void
unreserve(server *srv, struct conn *cn, struct work *w)
{
	if (w->reserved == 0)
		return;
	cn->nparked--;
	atomic_fetch_sub(&srv->parked[w->reserved - 1], 1);
	w->reserved = 0;
}

/* rpc_call.send: from the callback, or from any thread later. */
static void
work_send(struct rpc_call *c, uint8_t *buf, size_t len)
{
	struct work *w = (struct work *) c;
	server *srv = w->srv;
	struct conn *cn = w->conn;
	bool oom, now;
	nng_msg *m = make_msg(srv, buf, len, &oom);

	if (oom || c->code == JOBD_RESOURCE_EXHAUSTED)
		atomic_fetch_add(&srv->refused, 1);
	pthread_mutex_lock(&cn->mtx);
	unreserve(srv, cn, w);
	if (w->listed)
		unlist(cn, w);
	pthread_mutex_lock(&w->mtx);
	w->has_reply = true;
	now = w->pins == 0;
	if (!now)
		w->pending = m;
	pthread_mutex_unlock(&w->mtx);
	pthread_mutex_unlock(&cn->mtx);
	if (now)
		start_send(w, m, false);
}

/* Drops a pin; the last one sends a reply that waited for it. */
static void
work_unpin(struct work *w)
{
	nng_msg *m = NULL;
	bool send;

	pthread_mutex_lock(&w->mtx);
	send = --w->pins == 0 && w->has_reply;
	if (send) {
		m = w->pending;
		w->pending = NULL;
	}
	pthread_mutex_unlock(&w->mtx);
	if (send)
		start_send(w, m, false);
}

/* rpc_transport.reserve: room for the call to park. */
static int
work_reserve(struct rpc_call *c, int kind, char *msg, size_t len)
{
	struct work *w = (struct work *) c;
	server *srv = w->srv;
	struct conn *cn = w->conn;
	int k = kind == RPC_PARK_WAIT ? RPC_PARK_WAIT : RPC_PARK_CALL;
	enum limit_id all =
	    k == RPC_PARK_WAIT ? LIM_PARKED_WAITS : LIM_PARKED_CALLS;
	int rv = JOBD_OK;

	pthread_mutex_lock(&cn->mtx);
	if (w->reserved != 0) {
		/* it has room already */
	} else if (cn->nparked >= LIMIT_CONN_PARKED) {
		limit_msg(msg, len, LIM_CONN_PARKED, "", 0);
		rv = JOBD_RESOURCE_EXHAUSTED;
	} else if (atomic_fetch_add(&srv->parked[k], 1) >=
	           limit_table[all].value) {
		atomic_fetch_sub(&srv->parked[k], 1);
		limit_msg(msg, len, all, "", 0);
		rv = JOBD_RESOURCE_EXHAUSTED;
	} else {
		cn->nparked++;
		w->reserved = 1 + k;
	}
	pthread_mutex_unlock(&cn->mtx);
	return rv;
}

static void
work_stats(struct rpc_call *c, struct rpc_front_stats *st)
{
	server *srv = ((struct work *) c)->srv;

	pthread_mutex_lock(&srv->cmtx);
	st->connections = srv->nconns;
	pthread_mutex_unlock(&srv->cmtx);
	st->parked =
	    atomic_load(&srv->parked[0]) + atomic_load(&srv->parked[1]);
	st->dropped_replies = atomic_load(&srv->dropped);
	st->refused = atomic_load(&srv->refused);
}

static struct work *
work_new(server *srv)
{
	struct work *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	if (nng_aio_alloc(&w->aio, work_cb, w) != 0) {
		free(w);
		return NULL;
	}
	if (nng_ctx_open(&w->ctx, srv->sock) != 0) {
		nng_aio_free(w->aio);
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mtx, NULL);
	w->srv = srv;
	w->call.send = work_send;
	w->call.transport = w;
	w->call.ops = &transport;
	w->call.auth = srv->auth;
	return w;
}

/* Starts one more receiver: an idle work, or a new one under the cap. */
static void
spawn_receiver(server *srv)
{
	struct work *w;
	bool tell = false;

	pthread_mutex_lock(&srv->mtx);
	if (srv->closed) {
		pthread_mutex_unlock(&srv->mtx);
		return;
	}
	if ((w = srv->idle) != NULL) {
		srv->idle = w->next_idle;
	} else if (srv->nworks < LIMIT_CONTEXTS &&
	           (w = work_new(srv)) != NULL) {
		w->next_all = srv->all;
		srv->all = w;
		srv->nworks++;
	}
	if (w != NULL) {
		srv->nrecv++;
		srv->starved = false;
	} else {
		tell = !srv->starved;
		srv->starved = true;
	}
	pthread_mutex_unlock(&srv->mtx);
	if (w != NULL)
		start_recv(w);
	else if (tell)
		log_warn(
		    "no context free to receive requests (%d in use, "
		    "limit contexts): requests wait until replies are sent",
		    LIMIT_CONTEXTS);
}

/* After the dispatch: the reply goes out, or the call is parked on its
 * connection (or released at once if that closed meanwhile). Last thing
 * the aio callback does. */
static void
after_dispatch(struct work *w)
{
	struct conn *cn = w->conn;
	nng_msg *m = NULL;
	bool release = false, send = false;

	pthread_mutex_lock(&cn->mtx);
	pthread_mutex_lock(&w->mtx);
	w->pins--;
	if (w->has_reply) {
		send = true;
		m = w->pending;
		w->pending = NULL;
	} else if (cn->closed) {
		w->pins++;
		release = true;
	} else {
		list_parked(cn, w);
	}
	pthread_mutex_unlock(&w->mtx);
	pthread_mutex_unlock(&cn->mtx);
	if (release) {
		rpc_release(&w->call);
		work_unpin(w);
	} else if (send) {
		start_send(w, m, true);
	}
}

static void
on_request(struct work *w)
{
	server *srv = w->srv;
	nng_msg *req = nng_aio_get_msg(w->aio);
	struct conn *cn;
	bool draining;

	nng_aio_set_msg(w->aio, NULL);
	cn = conn_get(srv, (uint32_t) nng_pipe_id(nng_msg_get_pipe(req)));
	if (cn == NULL || conn_over_unsent(srv, cn)) {
		/* no one to answer, or one who does not take its replies:
		 * this work stays a receiver */
		nng_msg_free(req);
		conn_put(cn);
		start_recv(w);
		return;
	}
	w->conn = cn; /* w->reserved is 0: unreserve() left it so */
	pthread_mutex_lock(&srv->mtx);
	srv->nrecv--;
	draining = srv->draining;
	if (!draining) /* counted, so that server_drain() can wait for it */
		srv->dispatching++;
	pthread_mutex_unlock(&srv->mtx);
	spawn_receiver(srv); /* this one is out until its reply is sent */

	pthread_mutex_lock(&w->mtx);
	w->pins = 1; /* the dispatch */
	w->has_reply = false;
	w->pending = NULL;
	pthread_mutex_unlock(&w->mtx);
	if (draining) {
		size_t len = 0;
		uint8_t *buf = rpc_encode_error(JOBD_UNAVAILABLE,
		                                "jobd is shutting down", &len);
		w->call.code = JOBD_UNAVAILABLE;
		work_send(&w->call, buf, len);
	} else {
		rpc_dispatch(srv->svc, &w->call, nng_msg_body(req),
		             nng_msg_len(req));
		pthread_mutex_lock(&srv->mtx);
		if (--srv->dispatching == 0 && srv->draining)
			pthread_cond_broadcast(&srv->quiet);
		pthread_mutex_unlock(&srv->mtx);
	}
	nng_msg_free(req);
	after_dispatch(w);
}

static void
on_sent(struct work *w, int rv)
{
	if (rv != 0) {
		nng_msg_free(nng_aio_get_msg(w->aio));
		nng_aio_set_msg(w->aio, NULL);
		if (rv == NNG_ETIMEDOUT)
			atomic_fetch_add(&w->srv->dropped, 1);
	}
	if (w->counted) {
		atomic_fetch_sub(&w->conn->unsent, 1);
		atomic_fetch_sub(&w->conn->unsent_bytes, w->nbytes);
	}
	work_done(w);
}

static void
work_cb(void *arg)
{
	struct work *w = arg;
	int rv = nng_aio_result(w->aio);

	switch (w->state) {
	case W_RECV:
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		if (rv != 0) {
			/* a transient receive error: keep receiving */
			start_recv(w);
			return;
		}
		on_request(w);
		break;
	case W_SEND:
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			/* the socket is closing: server_stop frees the rest */
			nng_msg_free(nng_aio_get_msg(w->aio));
			nng_aio_set_msg(w->aio, NULL);
			return;
		}
		on_sent(w, rv);
		break;
	case W_IDLE:
		break;
	}
}

/* Creates and starts the listener of url. */
static int
listen_on(server *srv, const char *url, const struct server_config *cfg,
          char *err, size_t errlen)
{
	nng_listener l;
	const char *what = "", *at = url;
	char inner[IPCGATE_URL_MAX];
	ipcgate *gate = NULL;
	int rv;

	/* nng 1.5.2's ipc listener dies of one early close: clients reach it
	 * through jobd's gate, nng listens on a private path */
	if (strncmp(url, "ipc://", 6) == 0 && srv->ngates < 16) {
		if ((rv = ipcgate_open(&gate, url, NNG_REP0_PEER, inner,
		                       sizeof(inner), err, errlen)) != JOBD_OK)
			return rv;
		srv->gates[srv->ngates++] = gate;
		at = inner;
	}
	if ((rv = nng_listener_create(&l, srv->sock, at)) != 0)
		goto fail;
	if (strncmp(url, "ipc://", 6) == 0)
		nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600);
	if (strncmp(url, "tls+", 4) == 0) {
		if (cfg->tls == NULL) {
			/* daemon_start() makes sure this does not happen */
			snprintf(err, errlen,
			         "cannot listen on '%s': no TLS certificate",
			         url);
			return JOBD_INVALID_ARGUMENT;
		}
		if ((rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG,
		                               cfg->tls)) != 0)
			goto fail;
		what = cfg->tls_client_certs
		           ? " (TLS, client certificates required)"
		           : " (TLS)";
	}
	if ((rv = nng_listener_start(l, 0)) != 0)
		goto fail;
	if (gate != NULL && (rv = ipcgate_start(gate, err, errlen)) != JOBD_OK)
		return rv;
	log_info("listening on %s%s", url, what);
	return JOBD_OK;
fail:
	snprintf(err, errlen, "cannot listen on '%s': %s", url,
	         nng_strerror(rv));
	return JOBD_UNAVAILABLE;
}

int
server_start(server **sp, ProtobufCService *svc,
             const struct server_config *cfg, char *err, size_t errlen)
{
	server *srv;
	unsigned long nofile;
	int rv;

	*sp = NULL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	srv->svc = svc;
	srv->auth = cfg->auth;
	pthread_mutex_init(&srv->mtx, NULL);
	pthread_cond_init(&srv->quiet, NULL);
	pthread_mutex_init(&srv->cmtx, NULL);
	for (int k = 0; k < 2; k++)
		atomic_init(&srv->parked[k], 0);
	atomic_init(&srv->dropped, 0);
	atomic_init(&srv->refused, 0);
	nofile = limit_raise_nofile();
	srv->max_conns = limit_connections(cfg->max_connections, nofile);
	log_info("at most %u client connections (open-file limit %lu)",
	         srv->max_conns, nofile);
	srv->oom = rpc_encode_error(JOBD_RESOURCE_EXHAUSTED,
	                            "out of memory: jobd cannot answer this "
	                            "request now",
	                            &srv->oom_len);
	if (srv->oom == NULL) {
		snprintf(err, errlen, "out of memory");
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto fail;
	}
	if ((rv = nng_rep0_open(&srv->sock)) != 0) {
		snprintf(err, errlen, "cannot open the socket: %s",
		         nng_strerror(rv));
		rv = JOBD_UNAVAILABLE;
		goto fail;
	}
	/* a request and its SP header; larger ones close their connection */
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, LIMIT_MESSAGE_BYTES);
	if ((rv = nng_pipe_notify(srv->sock, NNG_PIPE_EV_ADD_PRE, pipe_event,
	                          srv)) != 0 ||
	    (rv = nng_pipe_notify(srv->sock, NNG_PIPE_EV_ADD_POST, pipe_event,
	                          srv)) != 0 ||
	    (rv = nng_pipe_notify(srv->sock, NNG_PIPE_EV_REM_POST, pipe_event,
	                          srv)) != 0) {
		snprintf(err, errlen, "cannot watch connections: %s",
		         nng_strerror(rv));
		rv = JOBD_UNAVAILABLE;
		goto fail;
	}
	for (size_t i = 0; i < cfg->nurls; i++)
		if ((rv = listen_on(srv, cfg->urls[i], cfg, err, errlen)) !=
		    JOBD_OK)
			goto fail;
	for (int i = 0; i < LIMIT_RECEIVERS; i++)
		spawn_receiver(srv);
	*sp = srv;
	return JOBD_OK;
fail:
	server_stop(srv);
	return rv;
}

void
server_drain(server *srv)
{
	pthread_mutex_lock(&srv->mtx);
	srv->draining = true;
	/* a handler running now may read the queue, which stops next: it
	 * ends soon (none blocks), and no other begins */
	while (srv->dispatching > 0)
		pthread_cond_wait(&srv->quiet, &srv->mtx);
	pthread_mutex_unlock(&srv->mtx);
}

void
server_stop(server *srv)
{
	if (srv == NULL)
		return;
	pthread_mutex_lock(&srv->mtx);
	srv->closed = true;
	pthread_mutex_unlock(&srv->mtx);
	/* every aio completes with NNG_ECLOSED, and every connection's
	 * REM_POST has run when it returns */
	nng_close(srv->sock);
	for (size_t i = 0; i < srv->ngates; i++)
		ipcgate_close(srv->gates[i]);
	for (struct work *w = srv->all, *next; w != NULL; w = next) {
		next = w->next_all;
		nng_aio_stop(w->aio);
		nng_ctx_close(w->ctx);
		nng_aio_free(w->aio);
		nng_msg_free(w->pending);
		conn_put(w->conn);
		pthread_mutex_destroy(&w->mtx);
		free(w);
	}
	for (size_t b = 0; b < CONN_BUCKETS; b++) {
		for (struct conn *cn = srv->conns[b], *next; cn != NULL;
		     cn = next) {
			next = cn->next;
			conn_put(cn);
		}
	}
	free(srv->oom);
	pthread_mutex_destroy(&srv->cmtx);
	pthread_mutex_destroy(&srv->mtx);
	pthread_cond_destroy(&srv->quiet);
	free(srv);
}

/* A server_stop() that may outlive its caller (server_stop_within). */
struct stopper {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	server *srv;
	bool done;
	bool abandoned;
};

static void
stopper_free(struct stopper *st)
{
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mtx);
	free(st);
}

static void *
stopper_main(void *arg)
{
	struct stopper *st = arg;
	bool abandoned;
	pthread_setname_np(pthread_self(), "jobd:stopper"); /* top -H */

	server_stop(st->srv);
	pthread_mutex_lock(&st->mtx);
	st->done = true;
	abandoned = st->abandoned;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mtx);
	if (abandoned)
		stopper_free(st);
	return NULL;
}

int
server_stop_within(server *srv, uint32_t ms)
{
	struct stopper *st;
	struct timespec ts;
	pthread_t t;
	bool done;

	if (srv == NULL)
		return JOBD_OK;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		server_stop(srv);
		return JOBD_OK;
	}
	pthread_mutex_init(&st->mtx, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->srv = srv;
	if (pthread_create(&t, NULL, stopper_main, st) != 0) {
		stopper_free(st);
		server_stop(srv);
		return JOBD_OK;
	}
	pthread_detach(t);
	ts = clock_after(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&st->mtx);
	while (!st->done &&
	       pthread_cond_timedwait(&st->cv, &st->mtx, &ts) != ETIMEDOUT)
		;
	done = st->done;
	st->abandoned = !done;
	pthread_mutex_unlock(&st->mtx);
	if (!done)
		return JOBD_DEADLINE_EXCEEDED;
	stopper_free(st);
	return JOBD_OK;
}

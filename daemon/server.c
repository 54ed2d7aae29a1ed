/*
 * server: nng REP contexts, none of which ever blocks.
 *
 * Each `work` is a context with its aio and a two-state machine, as in nng's
 * demo/async/server.c: RECV (waiting for a request) and SEND (a reply on its
 * way). A request is dispatched inside the aio callback. Most handlers answer
 * before they return; Submit, Wait and Cancel park, and their reply arrives
 * later from another thread. A parked work is out of the receive loop, so
 * parking spawns a replacement receiver: parked calls never starve new
 * requests, and no thread is held by a parked call.
 *
 * A reply may come from a foreign thread while the aio callback that
 * dispatched it is still running; nng must not see a new operation on the
 * aio until that callback has returned. So a reply made during the callback
 * is stored in the work (`pending`) and sent when dispatch returns; one made
 * after is sent at once. `in_cb` under the work's mutex decides which.
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
 * Lock order: server.mtx and work.mtx are leaves, never held together, and
 * never held across an nng call that may run a callback. stopper.mtx is
 * a leaf too.
 */
#include "server.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/transport/ipc/ipc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ipcgate.h"
#include "log.h"
#include "rpc.h"

#define RECEIVERS     32         /* contexts waiting for a request */
#define MAX_WORKS     65536      /* contexts in all, parked included */
#define TRANSPORT_MAX (8u << 20) /* larger messages are dropped by nng */

enum work_state { W_RECV, W_SEND, W_IDLE };

struct work {
	struct rpc_call call; /* first: the call leads back to the work */
	server *srv;
	nng_aio *aio;
	nng_ctx ctx;
	pthread_mutex_t mtx;
	enum work_state state;
	bool in_cb;
	bool has_reply;
	nng_msg *pending;
	struct work *next_all;
	struct work *next_idle;
};

struct server {
	nng_socket sock;
	ProtobufCService *svc;
	const struct auth *auth;
	pthread_mutex_t mtx;
	struct work *all;
	struct work *idle;
	size_t nworks;
	size_t nrecv;
	bool draining;
	bool closed;
	ipcgate *gates[16]; /* one per ipc:// address; main takes 16 */
	size_t ngates;
};

static void work_cb(void *arg);

static nng_msg *
make_msg(uint8_t *buf, size_t len)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, 0) != 0) {
		free(buf);
		return NULL;
	}
	if (buf != NULL && nng_msg_append(m, buf, len) != 0) {
		/* out of memory: an empty reply; the client reports it */
		nng_msg_clear(m);
	}
	free(buf);
	return m;
}

static void
start_send(struct work *w, nng_msg *m)
{
	if (m == NULL) {
		/* cannot even allocate a reply: drop the request; the
		 * client's deadline tells it */
		w->state = W_RECV;
		nng_ctx_recv(w->ctx, w->aio);
		return;
	}
	nng_aio_set_msg(w->aio, m);
	nng_ctx_send(w->ctx, w->aio);
}

/* rpc_call.send: from the callback or from any thread later. */
static void
work_send(struct rpc_call *c, uint8_t *buf, size_t len)
{
	struct work *w = (struct work *) c;
	nng_msg *m = make_msg(buf, len);

	pthread_mutex_lock(&w->mtx);
	w->has_reply = true;
	w->state = W_SEND;
	if (w->in_cb) {
		w->pending = m;
		pthread_mutex_unlock(&w->mtx);
		return;
	}
	pthread_mutex_unlock(&w->mtx);
	start_send(w, m);
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
	w->call.auth = srv->auth;
	return w;
}

/* Starts one more receiver: an idle work, or a new one under the cap. */
static void
spawn_receiver(server *srv)
{
	struct work *w;

	pthread_mutex_lock(&srv->mtx);
	if (srv->closed) {
		pthread_mutex_unlock(&srv->mtx);
		return;
	}
	if ((w = srv->idle) != NULL) {
		srv->idle = w->next_idle;
	} else if (srv->nworks < MAX_WORKS && (w = work_new(srv)) != NULL) {
		w->next_all = srv->all;
		srv->all = w;
		srv->nworks++;
	}
	if (w != NULL)
		srv->nrecv++;
	pthread_mutex_unlock(&srv->mtx);
	if (w == NULL) {
		log_warn("no context free to receive requests (%d in use)",
		         MAX_WORKS);
		return;
	}
	w->state = W_RECV;
	nng_ctx_recv(w->ctx, w->aio);
}

static void
on_request(struct work *w)
{
	server *srv = w->srv;
	nng_msg *req = nng_aio_get_msg(w->aio);
	nng_msg *reply;
	bool draining, parked;

	pthread_mutex_lock(&srv->mtx);
	srv->nrecv--;
	draining = srv->draining;
	/* parking takes a replacement receiver: an idle one or a new one */
	w->call.can_park = srv->idle != NULL || srv->nworks < MAX_WORKS;
	pthread_mutex_unlock(&srv->mtx);

	pthread_mutex_lock(&w->mtx);
	w->in_cb = true;
	w->has_reply = false;
	w->pending = NULL;
	pthread_mutex_unlock(&w->mtx);

	if (draining) {
		size_t len = 0;
		uint8_t *buf = rpc_encode_error(JOBD_UNAVAILABLE,
		                                "jobd is shutting down", &len);
		work_send(&w->call, buf, len);
	} else {
		rpc_dispatch(srv->svc, &w->call, nng_msg_body(req),
		             nng_msg_len(req));
	}
	nng_msg_free(req);

	pthread_mutex_lock(&w->mtx);
	w->in_cb = false;
	parked = !w->has_reply;
	reply = w->pending;
	w->pending = NULL;
	pthread_mutex_unlock(&w->mtx);

	if (parked)
		spawn_receiver(srv); /* this one waits for its reply */
	else
		start_send(w, reply);
}

static void
on_sent(struct work *w)
{
	server *srv = w->srv;
	bool recv;

	if (nng_aio_result(w->aio) != 0)
		nng_msg_free(nng_aio_get_msg(w->aio));
	pthread_mutex_lock(&srv->mtx);
	recv = srv->nrecv < RECEIVERS && !srv->closed;
	if (recv) {
		srv->nrecv++;
	} else {
		w->state = W_IDLE;
		w->next_idle = srv->idle;
		srv->idle = w;
	}
	pthread_mutex_unlock(&srv->mtx);
	if (recv) {
		w->state = W_RECV;
		nng_ctx_recv(w->ctx, w->aio);
	}
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
			nng_ctx_recv(w->ctx, w->aio);
			return;
		}
		on_request(w);
		break;
	case W_SEND:
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			nng_msg_free(nng_aio_get_msg(w->aio));
			return;
		}
		on_sent(w);
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
	int rv;

	*sp = NULL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	srv->svc = svc;
	srv->auth = cfg->auth;
	pthread_mutex_init(&srv->mtx, NULL);
	if ((rv = nng_rep0_open(&srv->sock)) != 0) {
		snprintf(err, errlen, "cannot open the socket: %s",
		         nng_strerror(rv));
		rv = JOBD_UNAVAILABLE;
		goto fail;
	}
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, TRANSPORT_MAX);
	for (size_t i = 0; i < cfg->nurls; i++)
		if ((rv = listen_on(srv, cfg->urls[i], cfg, err, errlen)) !=
		    JOBD_OK)
			goto fail;
	for (int i = 0; i < RECEIVERS; i++)
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
	nng_close(srv->sock); /* every aio completes with NNG_ECLOSED */
	for (size_t i = 0; i < srv->ngates; i++)
		ipcgate_close(srv->gates[i]);
	for (struct work *w = srv->all, *next; w != NULL; w = next) {
		next = w->next_all;
		nng_aio_stop(w->aio);
		nng_ctx_close(w->ctx);
		nng_aio_free(w->aio);
		pthread_mutex_destroy(&w->mtx);
		free(w);
	}
	pthread_mutex_destroy(&srv->mtx);
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

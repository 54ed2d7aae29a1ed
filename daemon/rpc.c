/*
 * rpc: envelope decoding and method dispatch.
 *
 * Dispatch goes through the generated service descriptor: the method's name
 * is looked up with protobuf_c_service_descriptor_get_method_by_name(), its
 * body unpacked with the method's own input descriptor, and the handler
 * called through svc->invoke(). There is no switch over message types here;
 * adding a method to jobd.proto and a handler to the service is all it takes.
 *
 * Method names are accepted in the short form ("Submit") and in gRPC's full
 * form ("/jobd.v1.Jobs/Submit").
 *
 * Before protobuf-c decodes the envelope, and again before it decodes the
 * body, wire_check() walks the bytes against the same descriptor and
 * refuses what would cost more than its bound (wire.c): a request's memory
 * and work are bounded before they are spent.
 *
 * With a token configured (c->auth), the token is checked right after the
 * envelope is decoded, before the method is even looked up: a request
 * without it learns nothing but UNAUTHENTICATED. No method is exempt, Ping
 * included. The refusal is logged at debug level, without the value sent.
 *
 * Parked calls: rpc_park() records how a handler takes its call back,
 * under one park lock, a leaf held for a few instructions; rpc_unpark()
 * clears it just before the answer, so that rpc_release() either finds the
 * call parked, holds it (ops->hold, under the lock) and releases it, or
 * finds nothing. A handler's state therefore lives until both its answer
 * and any release that held it are done.
 *
 * Deferred calls (rpc_defer): a handler that hands its call to another
 * thread takes the request envelope and the decoded body with it; the
 * dispatch learns so through a flag on its own stack (c->taken), never by
 * reading c after the handler returned (the call may be answered, and
 * the transport reuse c, from the other thread by then), and leaves them
 * to rpc_deferred_run(), which frees them once the handler ran again.
 *
 * Metrics: every reply leaves through deliver(), which counts it by method
 * and code with the time since its dispatch, and gives back the call's
 * room to park (counted by rpc_park_room): jobd_parked_calls is the
 * calls holding room on every front, as each front's own count in Stats.
 * A request refused before its method is known counts as "unknown".
 */
#include "rpc.h"

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint8_t *
encode(Jobd__V1__Response *resp, size_t *len)
{
	size_t n = jobd__v1__response__get_packed_size(resp);
	uint8_t *buf = malloc(n ? n : 1);
	if (buf != NULL)
		*len = jobd__v1__response__pack(resp, buf);
	return buf;
}

uint8_t *
rpc_encode_error(int code, const char *msg, size_t *len)
{
	Jobd__V1__Response resp = JOBD__V1__RESPONSE__INIT;
	resp.code = (Jobd__V1__Code) code;
	resp.message = (char *) msg;
	return encode(&resp, len);
}

static pthread_mutex_t park_mtx = PTHREAD_MUTEX_INITIALIZER;

/* Every reply goes through here: counted (method, code, time since the
 * dispatch; the room to park given back) before the transport may reuse c. */
static void
deliver(struct rpc_call *c, uint8_t *buf, size_t len)
{
	if (c->room) {
		c->room = false;
		metrics_parked(-1);
	}
	metrics_request(c->method, c->code, metrics_now_ns() - c->t0);
	c->send(c, buf, len);
}

static void
send_error(struct rpc_call *c, int code, const char *msg)
{
	size_t len = 0;
	uint8_t *buf = rpc_encode_error(code, msg, &len);
	c->code = buf != NULL ? code : JOBD_RESOURCE_EXHAUSTED;
	deliver(c, buf, buf ? len : 0);
}

void
rpc_closure(const ProtobufCMessage *reply, void *arg)
{
	struct rpc_call *c = arg;
	Jobd__V1__Response resp = JOBD__V1__RESPONSE__INIT;
	uint8_t *body = NULL, *buf;
	size_t len = 0;

	if (reply == NULL) {
		send_error(c, c->code ? c->code : JOBD_INTERNAL, c->msg);
		return;
	}
	size_t n = protobuf_c_message_get_packed_size(reply);
	if ((body = malloc(n ? n : 1)) == NULL) {
		send_error(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	resp.code = JOBD__V1__CODE__OK;
	resp.body.len = protobuf_c_message_pack(reply, body);
	resp.body.data = body;
	buf = encode(&resp, &len);
	free(body);
	if (buf == NULL) {
		send_error(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	c->code = JOBD_OK;
	deliver(c, buf, len);
}

void
rpc_fail(struct rpc_call *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	c->code = code;
	rpc_closure(NULL, c);
}

const char *
rpc_metadata(const struct rpc_call *c, const char *key)
{
	if (c->req == NULL)
		return NULL;
	for (size_t i = 0; i < c->req->n_metadata; i++) {
		const Jobd__V1__Request__MetadataEntry *e = c->req->metadata[i];
		if (e->key != NULL && strcmp(e->key, key) == 0)
			return e->value;
	}
	return NULL;
}

int
rpc_park_room(struct rpc_call *c, int kind)
{
	if (c->ops != NULL && c->ops->reserve != NULL &&
	    c->ops->reserve(c, kind, c->msg, sizeof(c->msg)) != JOBD_OK) {
		c->code = JOBD_RESOURCE_EXHAUSTED;
		return JOBD_RESOURCE_EXHAUSTED;
	}
	if (!c->room) {
		c->room = true;
		metrics_parked(1);
	}
	return JOBD_OK;
}

void
rpc_park(struct rpc_call *c, const struct rpc_park_ops *ops, void *arg)
{
	pthread_mutex_lock(&park_mtx);
	c->park_ops = ops;
	c->park_arg = arg;
	pthread_mutex_unlock(&park_mtx);
}

void
rpc_unpark(struct rpc_call *c)
{
	pthread_mutex_lock(&park_mtx);
	c->park_ops = NULL;
	c->park_arg = NULL;
	pthread_mutex_unlock(&park_mtx);
}

void
rpc_release(struct rpc_call *c)
{
	const struct rpc_park_ops *ops;
	void *arg;

	pthread_mutex_lock(&park_mtx);
	ops = c->park_ops;
	arg = c->park_arg;
	if (ops != NULL)
		ops->hold(arg);
	pthread_mutex_unlock(&park_mtx);
	if (ops != NULL)
		ops->release(arg);
}

void
rpc_front_stats(struct rpc_call *c, struct rpc_front_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (c->ops != NULL && c->ops->stats != NULL)
		c->ops->stats(c, st);
}

/* "Submit" or "/jobd.v1.Jobs/Submit" -> the method, or NULL. */
static const ProtobufCMethodDescriptor *
find_method(const ProtobufCServiceDescriptor *sd, const char *name)
{
	if (name[0] == '/') {
		size_t n = strlen(sd->name);
		if (strncmp(name + 1, sd->name, n) != 0 || name[n + 1] != '/')
			return NULL;
		name += n + 2;
	}
	return protobuf_c_service_descriptor_get_method_by_name(sd, name);
}

static void
printable(char *dst, size_t dstlen, const char *src)
{
	size_t i = 0;
	for (; *src && i + 1 < dstlen && i < 64; src++)
		dst[i++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	dst[i] = '\0';
}

/* Why req is refused under token auth, or NULL if it carries the token:
 * exactly one "authorization" entry, "Bearer TOKEN". */
static const char *
auth_refusal(const struct auth *a, const Jobd__V1__Request *req)
{
	const char *value = NULL;
	size_t n = 0;

	for (size_t i = 0; i < req->n_metadata; i++) {
		const Jobd__V1__Request__MetadataEntry *e = req->metadata[i];
		if (e->key != NULL && strcmp(e->key, AUTH_METADATA_KEY) == 0) {
			value = e->value;
			n++;
		}
	}
	if (n == 0)
		return "missing token: this jobd needs metadata "
		       "'" AUTH_METADATA_KEY ": " AUTH_SCHEME "TOKEN'";
	if (n > 1)
		return "more than one '" AUTH_METADATA_KEY "' metadata entry";
	if (!auth_check(a, value))
		return "invalid token in metadata '" AUTH_METADATA_KEY "'";
	return NULL;
}

void
rpc_dispatch(ProtobufCService *svc, struct rpc_call *c, const uint8_t *buf,
             size_t len)
{
	const ProtobufCServiceDescriptor *sd = svc->descriptor;
	const ProtobufCMethodDescriptor *m;
	Jobd__V1__Request *req;
	ProtobufCMessage *in;
	const char *why;
	char name[80], msg[256];
	bool taken = false;
	int rv;

	c->t0 = metrics_now_ns();
	c->room = false;
	c->method = UINT_MAX; /* "unknown" until found */
	c->code = JOBD_OK;
	c->msg[0] = '\0';
	c->req = NULL;
	c->deadline = 0;
	c->park_ops = NULL; /* not shared yet: the transport's call is new */
	c->park_arg = NULL;
	c->svc = svc;
	c->in = NULL;
	c->taken = NULL;
	c->deferred = false;
	if (len > RPC_MAX_REQUEST) {
		snprintf(msg, sizeof(msg),
		         "request of %zu bytes is larger than the limit of %u",
		         len, (unsigned) RPC_MAX_REQUEST);
		send_error(c, JOBD_RESOURCE_EXHAUSTED, msg);
		return;
	}
	rv = wire_check(&jobd__v1__request__descriptor, buf, len, LIMIT_NESTING,
	                msg, sizeof(msg));
	if (rv == WIRE_REFUSED) {
		send_error(c, JOBD_INVALID_ARGUMENT, msg);
		return;
	}
	if (rv != WIRE_OK ||
	    (req = jobd__v1__request__unpack(NULL, len, buf)) == NULL) {
		send_error(c, JOBD_INVALID_ARGUMENT,
		           "malformed request: not a jobd.v1.Request envelope");
		return;
	}
	if (c->auth != NULL && (why = auth_refusal(c->auth, req)) != NULL) {
		printable(name, sizeof(name), req->method);
		log_debug("refused a request for '%s': %s", name, why);
		send_error(c, JOBD_UNAUTHENTICATED, why);
		goto out;
	}
	if ((m = find_method(sd, req->method)) == NULL) {
		printable(name, sizeof(name), req->method);
		snprintf(msg, sizeof(msg), "unknown method '%s' of service %s",
		         name, sd->name);
		send_error(c, JOBD_UNIMPLEMENTED, msg);
		goto out;
	}
	if (req->deadline_ms > RPC_MAX_DEADLINE_MS) {
		snprintf(msg, sizeof(msg),
		         "deadline of %u ms is beyond the limit of %u ms",
		         req->deadline_ms, (unsigned) RPC_MAX_DEADLINE_MS);
		send_error(c, JOBD_INVALID_ARGUMENT, msg);
		goto out;
	}
	/* the body is one level below the envelope */
	rv = wire_check(m->input, req->body.data, req->body.len,
	                LIMIT_NESTING - 1, msg, sizeof(msg));
	if (rv == WIRE_REFUSED) {
		send_error(c, JOBD_INVALID_ARGUMENT, msg);
		goto out;
	}
	in = rv != WIRE_OK ? NULL
	                   : protobuf_c_message_unpack(
	                         m->input, NULL, req->body.len, req->body.data);
	if (in == NULL) {
		snprintf(msg, sizeof(msg), "malformed body for %s: not a %s",
		         m->name, m->input->name);
		send_error(c, JOBD_INVALID_ARGUMENT, msg);
		goto out;
	}
	c->method = (unsigned) (m - sd->methods);
	c->deadline =
	    req->deadline_ms ? clock_ms(CLOCK_MONOTONIC) + req->deadline_ms : 0;
	c->req = req;
	c->in = in;
	c->taken = &taken;
	svc->invoke(svc, c->method, in, rpc_closure, c);
	/* c is not to be read from here on: it may be answered already */
	if (taken)
		return; /* the request is the deferred call's */
	protobuf_c_message_free_unpacked(in, NULL);
out:
	jobd__v1__request__free_unpacked(req, NULL);
}

struct rpc_deferred *
rpc_defer(struct rpc_call *c)
{
	struct rpc_deferred *d;

	if (c->taken == NULL || (d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->c = c;
	d->svc = c->svc;
	d->in = c->in;
	d->req = (Jobd__V1__Request *) c->req;
	d->method = c->method;
	*c->taken = true;
	c->taken = NULL;
	return d;
}

static void
deferred_free(struct rpc_deferred *d)
{
	protobuf_c_message_free_unpacked(d->in, NULL);
	jobd__v1__request__free_unpacked(d->req, NULL);
	free(d);
}

void
rpc_deferred_run(struct rpc_deferred *d)
{
	struct rpc_call *c = d->c;
	bool taken = false;

	c->req = d->req;
	c->in = d->in;
	c->taken = &taken; /* a second hand-over (none today) */
	c->deferred = true;
	d->svc->invoke(d->svc, d->method, d->in, rpc_closure, c);
	if (taken) {
		free(d); /* the request went on with the next one */
		return;
	}
	deferred_free(d);
}

void
rpc_deferred_fail(struct rpc_deferred *d, int code, const char *msg)
{
	send_error(d->c, code, msg);
	deferred_free(d);
}

bool
rpc_is_deferred(const struct rpc_call *c)
{
	return c->deferred;
}

/*
 * jobd_async: the C client's asynchronous calls (jobd_client.h).
 *
 * Asynchronous calls (jobd_call_async) build the same envelope and read the
 * same Response as jobd_call (make_request, read_response), on a `struct
 * acall`: one context, one aio and what the completion needs. Its aio's
 * callback runs twice, on nng's threads: when the request went out (it
 * posts the receive on the same aio) and when the reply came or the call
 * failed (it decodes, calls done, and puts the acall on the client's idle
 * list). A later call takes an idle acall, context and aio included, so
 * that a client with N calls in flight allocates N of them once. A REQ
 * context may send again once a call on it ended: the new request has a new
 * id, and a late reply to the old one finds no context waiting for it. An
 * aio cannot be freed from its own callback; idle acalls are freed by
 * jobd_client_close(), after the last callback, so that when close returns
 * nothing of the client is left for nng's threads (a program may call
 * nng_fini() next). A new dialer (jobd_client.c's watch) changes nothing
 * here: the socket, its contexts and their aios stay, and a request in
 * flight is sent again on the new connection by nng's REQ.
 *
 * Closing with calls in flight: close marks the client closing (a call
 * started then, from a done, is refused), cancels the calls whose request
 * has not gone out, and gives those whose request has up to
 * CLIENT_DRAIN_MS to take their replies; then it cancels the rest and waits
 * until every done has run. A call cancelled reports JOBD_CANCELLED; one
 * whose reply came during the drain reports it. The drain is for nng
 * 1.5.2: a message that arrives while its connection closes can leave the
 * pipe's receive pending for good (the transport re-arms its read on an aio
 * already closed), and nng_close() then never returns. Calls answered at
 * once are answered within the drain; a parked call (a Wait) whose answer
 * comes just as the socket closes still can hit it.
 *
 *
 * Locking: `amtx` guards the asynchronous calls: the list in flight, the
 * idle list, each call's `sent`, `cancelling` and `closing`'s changes. A
 * call is sent, and its receive posted, under `amtx`, so that close's
 * cancel cannot fall between a check of `closing` and the operation it
 * would cancel. It is a leaf: no nng function called under it runs a
 * callback of ours or waits for one (nng dispatches completions to its
 * task threads), and it is not held while done() runs.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "client_int.h"

/* The name of a call's method as kept for its messages. */
#define ACALL_METHOD_MAX 32u

/* One asynchronous call; idle between calls, its context and aio kept. */
struct acall {
	struct acall *prev; /* in c->calls (in flight) or c->idle (next) */
	struct acall *next;
	jobd_client *c;
	nng_aio *aio; /* its callback: acall_cb */
	nng_ctx ctx;
	bool sent; /* the request went out (under c->amtx) */
	jobd_done_fn done;
	void *arg;
	const ProtobufCMessageDescriptor *reply_desc;
	nng_time end;      /* when the reply is due, the margin included */
	uint32_t deadline; /* the deadline sent, for messages */
	char method[ACALL_METHOD_MAX];
};

/*
 * Ends the asynchronous calls in flight: those not sent are cancelled at
 * once, those sent get CLIENT_DRAIN_MS to take their replies (see the top
 * of the file), then the rest are cancelled; waits until each has called
 * its done (a done may be running now, on another thread); then frees the
 * idle acalls. A callback touches the client last under amtx, while it
 * moves its acall to the idle list; nng_aio_free() waits for the rest of
 * the callback to return.
 */
void
jc_calls_end(jobd_client *c)
{
	nng_time drained = nng_clock() + CLIENT_DRAIN_MS;
	struct acall *a;
	struct acall *next;

	nng_mtx_lock(c->amtx);
	atomic_store(&c->closing, true);
	for (a = c->calls; a != NULL; a = a->next)
		if (!a->sent)
			nng_aio_cancel(a->aio);
	while (c->calls != NULL && nng_clock() < drained)
		(void) nng_cv_until(c->acv, drained);
	c->cancelling = true;
	for (a = c->calls; a != NULL; a = a->next)
		nng_aio_cancel(a->aio);
	while (c->calls != NULL)
		nng_cv_wait(c->acv);
	a = c->idle;
	c->idle = NULL;
	nng_mtx_unlock(c->amtx);
	for (; a != NULL; a = next) {
		next = a->next;
		nng_aio_free(a->aio);
		nng_ctx_close(a->ctx);
		free(a);
	}
}

/* Unlinks a from c->calls. Under c->amtx. */
static void
calls_remove(jobd_client *c, struct acall *a)
{
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		c->calls = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	a->prev = NULL;
	a->next = NULL;
}

/*
 * The last completion of a: decodes the reply (rv 0) or names the error,
 * calls done, and puts a on the idle list. After that a belongs to the
 * next call, and this callback touches nothing of the client again.
 */
static void
acall_end(struct acall *a, int rv)
{
	jobd_client *c = a->c;
	ProtobufCMessage *reply = NULL;
	char msg[512];
	nng_msg *m = nng_aio_get_msg(a->aio);
	int st;

	/* the reply; or, after a failed send, the request given back */
	nng_aio_set_msg(a->aio, NULL);
	if (rv == 0)
		st = jc_read_response(c, a->method, m, a->reply_desc, &reply);
	else if (atomic_load(&c->closing))
		st = jc_set_err(JOBD_CANCELLED, "the client was closed");
	else
		st = jc_net_err(c, rv, a->deadline);
	if (m != NULL)
		nng_msg_free(m);
	/* the message is this thread's: a call that done starts may reuse
	 * it */
	if (st != JOBD_OK)
		snprintf(msg, sizeof(msg), "%s", jobd_client_errmsg());
	else
		msg[0] = '\0';
	a->done(a->arg, st, reply, msg);

	nng_mtx_lock(c->amtx);
	calls_remove(c, a);
	a->next = c->idle;
	c->idle = a;
	if (c->calls == NULL && atomic_load(&c->closing))
		nng_cv_wake(c->acv);
	nng_mtx_unlock(c->amtx);
}

/* The aio callback of an asynchronous call, on one of nng's threads. */
static void
acall_cb(void *arg)
{
	struct acall *a = arg;
	jobd_client *c = a->c;
	int rv = nng_aio_result(a->aio);

	if (a->sent || rv != 0) {
		acall_end(a, rv);
		return;
	}
	/* sent: now the reply, on the same aio, unless close's drain is
	 * over (during the drain, a reply on its way is still taken) */
	nng_mtx_lock(c->amtx);
	a->sent = true;
	if (!c->cancelling) {
		nng_aio_set_timeout(a->aio, jc_time_left(a->end));
		nng_ctx_recv(a->ctx, a->aio);
		nng_mtx_unlock(c->amtx);
		return;
	}
	nng_mtx_unlock(c->amtx);
	acall_end(a, NNG_ECANCELED);
}

/* An idle acall of c, or a new one, in *ap. */
static int
acall_get(jobd_client *c, struct acall **ap)
{
	struct acall *a;
	int rv;

	nng_mtx_lock(c->amtx);
	if ((a = c->idle) != NULL)
		c->idle = a->next;
	nng_mtx_unlock(c->amtx);
	if (a != NULL) {
		a->next = NULL;
		*ap = a;
		return (JOBD_OK);
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return (jc_set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	a->c = c;
	if ((rv = nng_aio_alloc(&a->aio, acall_cb, a)) != 0) {
		free(a);
		return (jc_net_err(c, rv, 0));
	}
	if ((rv = nng_ctx_open(&a->ctx, c->sock)) != 0) {
		nng_aio_free(a->aio);
		free(a);
		return (jc_net_err(c, rv, 0));
	}
	*ap = a;
	return (JOBD_OK);
}

int
jobd_call_async(jobd_client *c, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *reply_desc,
                uint32_t deadline_ms, jobd_done_fn done, void *arg)
{
	struct acall *a = NULL;
	nng_msg *msg = NULL;
	uint32_t deadline = 0;
	nng_duration budget;
	int st;

	if (c == NULL || method == NULL || *method == '\0' || req == NULL ||
	    req->descriptor == NULL || reply_desc == NULL || done == NULL)
		return (
		    jc_set_err(JOBD_INVALID_ARGUMENT,
		               "jobd_call_async needs a client, a method, a "
		               "request, a reply descriptor and a done "
		               "function"));
	if (atomic_load(&c->closing))
		return (jc_set_err(JOBD_CANCELLED, "the client was closed"));
	if ((st = jc_make_request(c, method, req, deadline_ms, &deadline,
	                          &msg)) != JOBD_OK)
		return (st);
	if ((st = acall_get(c, &a)) != JOBD_OK) {
		nng_msg_free(msg);
		return (st);
	}
	budget = jc_call_budget(deadline);
	a->sent = false;
	a->done = done;
	a->arg = arg;
	a->reply_desc = reply_desc;
	a->deadline = deadline;
	a->end = nng_clock() + (nng_time) budget;
	snprintf(a->method, sizeof(a->method), "%s", method);
	nng_aio_set_msg(a->aio, msg);
	nng_aio_set_timeout(a->aio, budget);

	nng_mtx_lock(c->amtx);
	if (atomic_load(&c->closing)) {
		/* a done starting a call while close waits for it; once on
		 * the idle list, a is another call's */
		nng_aio_set_msg(a->aio, NULL);
		a->next = c->idle;
		c->idle = a;
		nng_mtx_unlock(c->amtx);
		nng_msg_free(msg);
		return (jc_set_err(JOBD_CANCELLED, "the client was closed"));
	}
	a->prev = NULL;
	a->next = c->calls;
	if (c->calls != NULL)
		c->calls->prev = a;
	c->calls = a;
	nng_ctx_send(a->ctx, a->aio);
	nng_mtx_unlock(c->amtx);
	return (JOBD_OK);
}

int
jobd_submit_async(jobd_client *c, const Jobd__V1__SubmitRequest *req,
                  jobd_done_fn done, void *arg)
{
	if (req == NULL)
		return (jc_set_err(JOBD_INVALID_ARGUMENT, "no request"));
	return (jobd_call_async(c, "Submit", &req->base,
	                        &jobd__v1__submit_reply__descriptor, 0, done,
	                        arg));
}

int
jobd_wait_async(jobd_client *c, uint64_t id, uint32_t deadline_ms,
                jobd_done_fn done, void *arg)
{
	Jobd__V1__WaitRequest req = JOBD__V1__WAIT_REQUEST__INIT;

	req.id = id;
	return (jobd_call_async(c, "Wait", &req.base,
	                        &jobd__v1__wait_reply__descriptor, deadline_ms,
	                        done, arg));
}

int
jobd_get_async(jobd_client *c, const uint64_t *ids, size_t n, jobd_done_fn done,
               void *arg)
{
	Jobd__V1__GetRequest req = JOBD__V1__GET_REQUEST__INIT;

	if (ids == NULL && n > 0)
		return (jc_set_err(JOBD_INVALID_ARGUMENT, "no ids"));
	req.n_ids = n;
	req.ids = (uint64_t *) ids;
	return (jobd_call_async(c, "Get", &req.base,
	                        &jobd__v1__get_reply__descriptor, 0, done,
	                        arg));
}

int
jobd_ping_async(jobd_client *c, jobd_done_fn done, void *arg)
{
	Jobd__V1__PingRequest req = JOBD__V1__PING_REQUEST__INIT;

	return (jobd_call_async(c, "Ping", &req.base,
	                        &jobd__v1__ping_reply__descriptor, 0, done,
	                        arg));
}

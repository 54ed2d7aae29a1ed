#ifndef JOBD_HTTP_H
#define JOBD_HTTP_H

/*
 * http: the HTTP front (--http URL). nng's HTTP server, one handler for
 * every path, serving the health checks (/healthz, /readyz), the status
 * page's embedded files, /metrics, and the JSON API (gateway.h), whose
 * requests go to rpc_dispatch() as a transport of rpc.c, as the nng
 * front's do (server.h).
 */

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth.h"

typedef struct http_front http_front;
struct nng_tls_config;

struct http_config {
	const char *url; /* http://HOST:PORT or https://HOST:PORT */
	/* for https:// (the front holds a reference); NULL for http:// */
	struct nng_tls_config *tls;
	bool tls_client_certs; /* for the log line */
	/* when not NULL, every path but /healthz, /readyz and the page's
	 * files needs "Authorization: Bearer TOKEN" */
	const struct auth *auth;
	ProtobufCService *svc;
	/* /readyz answers 503 while failing(failing_arg) (the job queue's
	 * storage refuses writes); NULL: never. Must not block. */
	bool (*failing)(void *arg);
	void *failing_arg;
	/* /metrics: Prometheus text, malloc'd into *buf (JOBD_OK), on the
	 * thread of the request: it must not block. NULL: /metrics is 404. */
	int (*metrics)(void *arg, char **buf, size_t *len);
	void *metrics_arg;
};

/* Listens on cfg->url. JOBD_OK, or an error with the reason in err (an
 * address that is not http:// or https://, one in use, ...). */
int http_start(http_front **hp, const struct http_config *cfg, char *err,
               size_t errlen);
/* From now on API calls are answered UNAVAILABLE and /readyz 503, and
 * failing() is not called again; returns once no handler the HTTP front
 * called runs any more (call before the queue's stop). */
void http_drain(http_front *h);
/* Closes the listener and every connection, and frees h: call once
 * nothing can reply any more (after the drain). Accepts NULL. */
void http_stop(http_front *h);

#endif

#ifndef JOBD_GATEWAY_H
#define JOBD_GATEWAY_H

/*
 * gateway: the JSON API's mapping, without any I/O. Which RPC an HTTP
 * method and path name (the route table), the Request envelope built from
 * the path, the query and a JSON body, and the HTTP status and JSON body
 * made of a Response. http.c does the I/O and hands the envelopes to
 * rpc_dispatch() as a transport; everything here is a plain function of
 * its arguments, so the mapping is tested without a listener.
 *
 * The mapping is protobuf's canonical JSON (common/pbjson.h); path
 * variables and query parameters set request fields as grpc-gateway sets
 * them (pbjson_set_text), after the body, so they win over it.
 */

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_route;

/* What gw_route() found. */
enum gw_match {
	GW_FOUND = 0,
	GW_NO_PATH = 1,    /* no route has this path: 404 */
	GW_BAD_METHOD = 2, /* a route has it, not with this method: 405 */
};

/* The longest path variable (a job id, a kind, a method name). */
#define GW_VAR_MAX 256

/*
 * The route of `method` and `path` (the path alone, still percent-encoded:
 * no query). GW_FOUND with *rp and the path variable, decoded, in var ("" if
 * the route has none); GW_BAD_METHOD with the methods it takes in *allow
 * ("GET", "POST" or "GET, POST").
 */
enum gw_match gw_route(const char *method, const char *path,
                       const struct gw_route **rp, char var[GW_VAR_MAX],
                       const char **allow);
/* Whether the route's requests carry a body (POST). */
bool gw_route_takes_body(const struct gw_route *r, const char *method);

/* What the envelope carries besides the body. */
struct gw_meta {
	uint32_t deadline_ms;      /* 0: none */
	const char *authorization; /* header values; NULL: absent */
	const char *user_agent;
};

/*
 * The packed Request envelope (malloc'd, in *env and *envlen) of route r,
 * for service sd: the body (JSON text, blen 0: the empty message) decoded
 * as the method's request message, then the path variable and each
 * query parameter (name=value&..., percent-encoded; NULL: none) set on it.
 * JOBD_OK, or JOBD_INVALID_ARGUMENT (or JOBD_RESOURCE_EXHAUSTED: out of
 * memory) with the reason in msg, naming the field or parameter.
 */
int gw_request(const ProtobufCServiceDescriptor *sd, const struct gw_route *r,
               const char *var, const char *query, const char *body,
               size_t blen, const struct gw_meta *meta, uint8_t **env,
               size_t *envlen, char *msg, size_t msglen);

/* The HTTP status of a gRPC code, as grpc-gateway maps it. */
int gw_http_status(int code);

/*
 * The JSON reply (malloc'd text, *len bytes, no NUL counted) of an encoded
 * Response of method `method` (its index in sd). Sets *status to the HTTP
 * status: 200 and the reply message in canonical JSON, or the error's
 * status and {"code":N,"status":"NAME","message":"..."}. NULL only when
 * out of memory.
 */
char *gw_reply(const ProtobufCServiceDescriptor *sd, unsigned method,
               const uint8_t *buf, size_t buflen, int *status, size_t *len);

/* The JSON error body {"code":N,"status":"NAME","message":MSG} (malloc'd;
 * MSG's bytes that are not printable ASCII become '?'). NULL only when out
 * of memory. */
char *gw_error_json(int code, const char *msg, size_t *len);

/* Parses a Grpc-Timeout header (digits, at most 8, and a unit of H M S m u
 * n) into milliseconds, rounded up, at least 1. JOBD_OK, or
 * JOBD_INVALID_ARGUMENT with the reason in msg (malformed; beyond max_ms). */
int gw_timeout(const char *value, uint32_t max_ms, uint32_t *ms, char *msg,
               size_t msglen);

#endif

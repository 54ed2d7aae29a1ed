/*
 * gateway: routes, envelopes and replies of the JSON API.
 *
 * The route table is the contract's (docs/protocol.md): one row per HTTP
 * method set and path shape, `prefix VAR suffix`, and the RPC it calls with
 * the request field the path variable sets. A path matches a row when it
 * is exactly prefix + a non-empty variable + suffix, the variable holding
 * no '/' (and no ':' where the suffix is empty, so that
 * /v1/jobs/5:frob is no Get of job "5:frob" but a 404). The last row,
 * /jobd.v1.Jobs/{Method}, takes any method by name with its request
 * message as the body: gRPC's path, for a client that knows the proto.
 *
 * A request message is built from the body (pbjson_decode_text: jansson
 * with JSON_REJECT_DUPLICATES, unknown fields and wrong types refused with
 * the field's path), then the path variable, then each query parameter
 * (pbjson_set_text), and packed into a Request envelope with the deadline
 * and the metadata. rpc_dispatch() then checks it as it checks the nng
 * front's: bounds on the wire, the token, the deadline's limit.
 *
 * Replies: a Response's body is unpacked with the method's output
 * descriptor and written as canonical JSON (pbjson_encode); an error is
 * {"code","status","message"} with the status grpc-gateway gives its code.
 */
#include "gateway.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobd.pb-c.h"
#include "jobd_status.h"
#include "pbjson.h"

struct gw_route {
	const char *methods; /* "GET", "POST", "GET, POST" (the Allow value) */
	const char *prefix;
	bool var;
	const char *suffix;
	const char *rpc;   /* NULL: the variable names the method */
	const char *field; /* the field the variable sets; NULL: none */
};

/* clang-format off */
static const struct gw_route routes[] = {
	{"GET",       "/v1/ping",      false, "",        "Ping",        NULL},
	{"POST",      "/v1/jobs",      false, "",        "Submit",      NULL},
	{"GET",       "/v1/jobs",      false, "",        "List",        NULL},
	{"POST",      "/v1/jobs:batch", false, "",       "SubmitBatch", NULL},
	{"GET, POST", "/v1/jobs/",     true,  ":wait",   "Wait",        "id"},
	{"POST",      "/v1/jobs/",     true,  ":cancel", "Cancel",      "id"},
	{"POST",      "/v1/jobs/",     true,  ":retry",  "Retry",       "id"},
	{"GET",       "/v1/jobs/",     true,  "",        "Get",         "ids"},
	{"GET",       "/v1/stats",     false, "",        "Stats",       NULL},
	{"GET",       "/v1/kinds",     false, "",        "Kinds",       NULL},
	{"POST",      "/v1/kinds/",    true,  ":pause",  "Pause",       "kind"},
	{"POST",      "/v1/kinds/",    true,  ":resume", "Resume",      "kind"},
	{"GET",       "/v1/schedules", false, "",        "Schedules",   NULL},
	{"POST",      "/jobd.v1.Jobs/", true, "",        NULL,          NULL},
};
/* clang-format on */
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes src[0..n) into dst (at most dstlen - 1 bytes and a NUL);
 * '+' is a space when plus. false: a bad escape, a NUL, or too long. */
static bool
unescape(char *dst, size_t dstlen, const char *src, size_t n, bool plus)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return false;
			if ((hi = hexval(src[i + 1])) < 0 ||
			    (lo = hexval(src[i + 2])) < 0)
				return false;
			c = (char) (hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		}
		if (c == '\0' || j + 1 >= dstlen)
			return false;
		dst[j++] = c;
	}
	dst[j] = '\0';
	return true;
}

/* Whether path is r's shape; its variable, still encoded, in *v, *vn. */
static bool
shape(const struct gw_route *r, const char *path, const char **v, size_t *vn)
{
	size_t pl = strlen(r->prefix), sl = strlen(r->suffix), n = strlen(path);

	if (strncmp(path, r->prefix, pl) != 0)
		return false;
	if (!r->var)
		return n == pl;
	if (n <= pl + sl || strcmp(path + n - sl, r->suffix) != 0)
		return false;
	*v = path + pl;
	*vn = n - pl - sl;
	for (size_t i = 0; i < *vn; i++)
		if ((*v)[i] == '/' || (sl == 0 && (*v)[i] == ':'))
			return false;
	return true;
}

static bool
takes(const struct gw_route *r, const char *method)
{
	return strstr(r->methods, method) != NULL &&
	       (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0);
}

enum gw_match
gw_route(const char *method, const char *path, const struct gw_route **rp,
         char var[GW_VAR_MAX], const char **allow)
{
	const char *v = NULL;
	size_t vn = 0;
	bool seen = false;

	*rp = NULL;
	*allow = NULL;
	var[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++) {
		const struct gw_route *r = &routes[i];
		if (!shape(r, path, &v, &vn))
			continue;
		if (!takes(r, method)) {
			/* the first row of this shape that takes another
			 * method: the rows of one shape take one each, but
			 * for /v1/jobs (GET List, POST Submit) */
			if (!seen)
				*allow = r->methods;
			else
				*allow = "GET, POST";
			seen = true;
			continue;
		}
		if (r->var && !unescape(var, GW_VAR_MAX, v, vn, false)) {
			/* a variable that cannot be decoded names nothing */
			return GW_NO_PATH;
		}
		*rp = r;
		return GW_FOUND;
	}
	return seen ? GW_BAD_METHOD : GW_NO_PATH;
}

bool
gw_route_takes_body(const struct gw_route *r, const char *method)
{
	(void) r;
	return strcmp(method, "POST") == 0;
}

/* Sets each name=value of query on m. */
static int
set_query(ProtobufCMessage *m, const char *query, char *msg, size_t msglen)
{
	char name[128], value[8192];

	while (query != NULL && *query != '\0') {
		const char *end = strchr(query, '&');
		size_t n = end ? (size_t) (end - query) : strlen(query);
		const char *eq = memchr(query, '=', n);
		size_t nn = eq ? (size_t) (eq - query) : n;

		if (n > 0) {
			if (!unescape(name, sizeof(name), query, nn, true) ||
			    !unescape(value, sizeof(value),
			              eq ? eq + 1 : query + n,
			              eq ? n - nn - 1 : 0, true)) {
				snprintf(msg, msglen,
				         "query parameter '%.*s': bad "
				         "percent-encoding, or too long",
				         (int) (nn < 64 ? nn : 64), query);
				return JOBD_INVALID_ARGUMENT;
			}
			if (pbjson_set_text(m, name, value, msg, msglen) != 0)
				return JOBD_INVALID_ARGUMENT;
		}
		query = end ? end + 1 : NULL;
	}
	return JOBD_OK;
}

/* The request message of method md from the body, the variable and the
 * query. */
static int
build_message(const ProtobufCMethodDescriptor *md, const struct gw_route *r,
              const char *var, const char *query, const char *body, size_t blen,
              ProtobufCMessage **out, char *msg, size_t msglen)
{
	ProtobufCMessage *m = NULL;
	int rv;

	*out = NULL;
	if (blen == 0) {
		/* the empty message: "{}" through the same path */
		body = "{}";
		blen = 2;
	}
	if (pbjson_decode_text(md->input, body, blen, &m, msg, msglen) != 0) {
		return strcmp(msg, "out of memory") == 0
		           ? JOBD_RESOURCE_EXHAUSTED
		           : JOBD_INVALID_ARGUMENT;
	}
	if (r->field != NULL &&
	    pbjson_set_text(m, r->field, var, msg, msglen) != 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		return JOBD_INVALID_ARGUMENT;
	}
	if ((rv = set_query(m, query, msg, msglen)) != JOBD_OK) {
		protobuf_c_message_free_unpacked(m, NULL);
		return rv;
	}
	*out = m;
	return JOBD_OK;
}

int
gw_request(const ProtobufCServiceDescriptor *sd, const struct gw_route *r,
           const char *var, const char *query, const char *body, size_t blen,
           const struct gw_meta *meta, uint8_t **env, size_t *envlen, char *msg,
           size_t msglen)
{
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	Jobd__V1__Request__MetadataEntry ents[2], *pents[2];
	const ProtobufCMethodDescriptor *md;
	ProtobufCMessage *m;
	const char *name = r->rpc != NULL ? r->rpc : var;
	uint8_t *packed;
	size_t n;
	int rv;

	*env = NULL;
	*envlen = 0;
	if ((md = protobuf_c_service_descriptor_get_method_by_name(sd, name)) ==
	    NULL) {
		/* only the gRPC path gets here */
		snprintf(msg, msglen, "unknown method '%.64s' of service %s",
		         name, sd->name);
		return JOBD_UNIMPLEMENTED;
	}
	if ((rv = build_message(md, r, var, query, body, blen, &m, msg,
	                        msglen)) != JOBD_OK)
		return rv;
	n = protobuf_c_message_get_packed_size(m);
	if ((packed = malloc(n ? n : 1)) == NULL) {
		protobuf_c_message_free_unpacked(m, NULL);
		snprintf(msg, msglen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	req.body.len = protobuf_c_message_pack(m, packed);
	req.body.data = packed;
	protobuf_c_message_free_unpacked(m, NULL);
	req.method = (char *) md->name;
	req.deadline_ms = meta->deadline_ms;
	if (meta->authorization != NULL) {
		jobd__v1__request__metadata_entry__init(&ents[req.n_metadata]);
		ents[req.n_metadata].key = "authorization";
		ents[req.n_metadata].value = (char *) meta->authorization;
		pents[req.n_metadata] = &ents[req.n_metadata];
		req.n_metadata++;
	}
	if (meta->user_agent != NULL) {
		jobd__v1__request__metadata_entry__init(&ents[req.n_metadata]);
		ents[req.n_metadata].key = "user-agent";
		ents[req.n_metadata].value = (char *) meta->user_agent;
		pents[req.n_metadata] = &ents[req.n_metadata];
		req.n_metadata++;
	}
	req.metadata = pents;
	n = jobd__v1__request__get_packed_size(&req);
	if ((*env = malloc(n ? n : 1)) == NULL) {
		free(packed);
		snprintf(msg, msglen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	*envlen = jobd__v1__request__pack(&req, *env);
	free(packed);
	return JOBD_OK;
}

int
gw_http_status(int code)
{
	switch (code) {
	case JOBD_OK:
		return 200;
	case JOBD_CANCELLED:
		return 499;
	case JOBD_INVALID_ARGUMENT:
	case JOBD_FAILED_PRECONDITION:
	case JOBD_OUT_OF_RANGE:
		return 400;
	case JOBD_DEADLINE_EXCEEDED:
		return 504;
	case JOBD_NOT_FOUND:
		return 404;
	case JOBD_ALREADY_EXISTS:
	case JOBD_ABORTED:
		return 409;
	case JOBD_PERMISSION_DENIED:
		return 403;
	case JOBD_RESOURCE_EXHAUSTED:
		return 429;
	case JOBD_UNIMPLEMENTED:
		return 501;
	case JOBD_UNAVAILABLE:
		return 503;
	case JOBD_UNAUTHENTICATED:
		return 401;
	default: /* UNKNOWN, INTERNAL, DATA_LOSS, and codes not known */
		return 500;
	}
}

static char *
dump(json_t *j, size_t *len)
{
	char *s;

	if (j == NULL)
		return NULL;
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s != NULL)
		*len = strlen(s);
	return s;
}

char *
gw_error_json(int code, const char *msg, size_t *len)
{
	char clean[512];
	size_t i = 0;

	for (; msg != NULL && msg[i] != '\0' && i + 1 < sizeof(clean); i++)
		clean[i] = (msg[i] >= 0x20 && msg[i] < 0x7f) ? msg[i] : '?';
	clean[i] = '\0';
	return dump(json_pack("{s:i, s:s, s:s}", "code", code, "status",
	                      jobd_status_name(code), "message", clean),
	            len);
}

char *
gw_reply(const ProtobufCServiceDescriptor *sd, unsigned method,
         const uint8_t *buf, size_t buflen, int *status, size_t *len)
{
	Jobd__V1__Response *resp;
	ProtobufCMessage *m;
	char *out;
	int code;

	*len = 0;
	if ((resp = jobd__v1__response__unpack(NULL, buflen, buf)) == NULL) {
		/* rpc.c made it: out of memory, or a bug */
		*status = 500;
		return gw_error_json(JOBD_INTERNAL, "cannot read the reply",
		                     len);
	}
	code = (int) resp->code;
	if (code != JOBD_OK) {
		*status = gw_http_status(code);
		out = gw_error_json(code, resp->message, len);
		jobd__v1__response__free_unpacked(resp, NULL);
		return out;
	}
	if (method >= sd->n_methods ||
	    (m = protobuf_c_message_unpack(sd->methods[method].output, NULL,
	                                   resp->body.len, resp->body.data)) ==
	        NULL) {
		jobd__v1__response__free_unpacked(resp, NULL);
		*status = 500;
		return gw_error_json(JOBD_INTERNAL, "cannot read the reply",
		                     len);
	}
	jobd__v1__response__free_unpacked(resp, NULL);
	*status = 200;
	out = dump(pbjson_encode(m), len);
	protobuf_c_message_free_unpacked(m, NULL);
	return out;
}

int
gw_timeout(const char *value, uint32_t max_ms, uint32_t *ms, char *msg,
           size_t msglen)
{
	size_t nd = strspn(value, "0123456789");
	unsigned long long v, out;

	if (nd == 0 || nd > 8 || value[nd] == '\0' || value[nd + 1] != '\0') {
		snprintf(msg, msglen,
		         "Grpc-Timeout '%.32s' is not 1 to 8 digits and a unit "
		         "(H, M, S, m, u or n)",
		         value);
		return JOBD_INVALID_ARGUMENT;
	}
	v = strtoull(value, NULL, 10);
	switch (value[nd]) {
	case 'H':
		out = v * 3600000ULL;
		break;
	case 'M':
		out = v * 60000ULL;
		break;
	case 'S':
		out = v * 1000ULL;
		break;
	case 'm':
		out = v;
		break;
	case 'u':
		out = (v + 999ULL) / 1000ULL;
		break;
	case 'n':
		out = (v + 999999ULL) / 1000000ULL;
		break;
	default:
		snprintf(msg, msglen,
		         "Grpc-Timeout '%.32s' has no unit (H, M, S, m, u or "
		         "n)",
		         value);
		return JOBD_INVALID_ARGUMENT;
	}
	if (out > max_ms) {
		snprintf(msg, msglen,
		         "Grpc-Timeout '%.32s' is beyond the limit of %u ms",
		         value, max_ms);
		return JOBD_INVALID_ARGUMENT;
	}
	*ms = out == 0 ? 1 : (uint32_t) out;
	return JOBD_OK;
}

#ifndef JOBD_CONFORMANCE_H
#define JOBD_CONFORMANCE_H

/*
 * The conformance runner's two helpers: its calls through the C client
 * library (tests/conformance_call.c), and its JSON half
 * (tests/conformance_json.c): the replies turned into the plain values of
 * clients/conformance/README.md, and the scenarios' expectations matched
 * against them. See tests/test_conformance.c for the runner.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "jobd_client.h"

/* A call's answer: its status (-1: the runner could not send it, a mistake
 * in the scenario), the daemon's or the client's message ("" when OK), and
 * the reply as a plain value (NULL unless OK). */
struct cf_answer {
	int status;
	char *msg;
	json_t *value;
};

void cf_answer_free(struct cf_answer *a);

/* Runs METHOD ("submit", "wait", ...) with args (VALUEs resolved) on c and
 * fills *ans; has_deadline: the step named deadline_ms. A Wait without one
 * gets long_wait_ms. */
void cf_call(jobd_client *c, const char *method, json_t *args,
             bool has_deadline, uint32_t deadline_ms, uint32_t long_wait_ms,
             struct cf_answer *ans);

/* Every field of `m` by its .proto name, as a new JSON object: ids and
 * counters as integers, enums as lower-case names without their prefix
 * ("queued", "int"), maps as objects, BYTES as strings of those bytes
 * (json_stringn_nocheck: not necessarily UTF-8). */
json_t *cf_from_message(const ProtobufCMessage *m);

/* A copy of `v` with every {"var": NAME} in it replaced by the value saved
 * as NAME in `vars`, every {"now_ms": N} by the wall clock's Unix ms plus
 * N, and every {"join": [V, ...]} by the text of the Vs run together;
 * NULL (why in err) if a name is not saved or a join is not one. */
json_t *cf_resolve(json_t *v, json_t *vars, char *err, size_t errlen);

/* The bytes of DATA ({"text": S} or {"repeat": S, "times": N}) in a new
 * buffer the caller frees (never NULL on success), their count in *len;
 * NULL (why in err) if `data` is not DATA. */
uint8_t *cf_data(json_t *data, size_t *len, char *err, size_t errlen);

/* The value at PATH ("jobs.0.id", "kinds.#", "." for the answer itself), a
 * new reference; NULL when the path leads nowhere. */
json_t *cf_lookup(json_t *answer, const char *path);

/* True if `got` (NULL: absent) matches MATCH; otherwise false, with what
 * was expected and what came in why. */
bool cf_match(json_t *got, json_t *match, json_t *vars, char *why,
              size_t whylen);

/* A short JSON text of v (at most about 160 bytes, "..." past that) in
 * buf. */
const char *cf_show(json_t *v, char *buf, size_t len);

#endif

/*
 * fuzz_pbjson: a libFuzzer target over common/pbjson, the JSON the HTTP
 * gateway takes from anyone.
 *
 * An input is one selector byte and text. The selector's low bits pick a
 * message type of jobd.proto (every request, and the replies and Job that
 * clients send back to it); its high bit picks what the text is:
 *   - clear: a JSON body, decoded with pbjson_decode_text;
 *   - set: query parameters, one NAME=VALUE a line, each given to
 *     pbjson_set_text on a fresh message (refusals skipped).
 * Whatever is accepted must come back the same through JSON: the message
 * is encoded, written as text, decoded again, and both pack to the same
 * bytes, and the second encoding is the same text as the first (jobd's
 * maps have string keys, so no two JSON keys make one map key). A
 * refusal must leave no message and a message in err. Anything else, a
 * leak included, is a crash.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobd.pb-c.h"
#include "pbjson.h"

static const ProtobufCMessageDescriptor *const types[] = {
    &jobd__v1__request__descriptor,
    &jobd__v1__submit_request__descriptor,
    &jobd__v1__submit_batch_request__descriptor,
    &jobd__v1__get_request__descriptor,
    &jobd__v1__wait_request__descriptor,
    &jobd__v1__cancel_request__descriptor,
    &jobd__v1__list_request__descriptor,
    &jobd__v1__stats_request__descriptor,
    &jobd__v1__kinds_request__descriptor,
    &jobd__v1__ping_request__descriptor,
    &jobd__v1__retry_request__descriptor,
    &jobd__v1__pause_request__descriptor,
    &jobd__v1__resume_request__descriptor,
    &jobd__v1__schedules_request__descriptor,
    &jobd__v1__job__descriptor,
    &jobd__v1__get_reply__descriptor,
    &jobd__v1__stats_reply__descriptor,
    &jobd__v1__kinds_reply__descriptor,
    &jobd__v1__schedules_reply__descriptor,
    &jobd__v1__response__descriptor,
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static void
check_round_trip(const ProtobufCMessage *m)
{
	json_t *j = pbjson_encode(m);
	if (j == NULL)
		abort();
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		abort();
	ProtobufCMessage *back = NULL;
	char err[512];
	if (pbjson_decode_text(m->descriptor, text, strlen(text), &back, err,
	                       sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_pbjson: own output refused: %s\n%s\n",
		        err, text);
		abort();
	}
	size_t n1 = protobuf_c_message_get_packed_size(m);
	size_t n2 = protobuf_c_message_get_packed_size(back);
	uint8_t *b1 = malloc(n1 + 1), *b2 = malloc(n2 + 1);
	if (b1 == NULL || b2 == NULL)
		abort();
	protobuf_c_message_pack(m, b1);
	protobuf_c_message_pack(back, b2);
	if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
		fprintf(stderr, "fuzz_pbjson: packed differs after JSON:\n%s\n",
		        text);
		abort();
	}
	j = pbjson_encode(back);
	char *again = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (again == NULL || strcmp(again, text) != 0) {
		fprintf(stderr, "fuzz_pbjson: JSON differs:\n%s\n%s\n", text,
		        again ? again : "(null)");
		abort();
	}
	free(again);
	free(b1);
	free(b2);
	free(text);
	protobuf_c_message_free_unpacked(back, NULL);
}

static void
fuzz_json(const ProtobufCMessageDescriptor *d, const char *p, size_t n)
{
	ProtobufCMessage *m = (ProtobufCMessage *) 1;
	char err[512] = "";
	if (pbjson_decode_text(d, p, n, &m, err, sizeof(err)) != 0) {
		if (m != NULL || err[0] == '\0')
			abort();
		return;
	}
	check_round_trip(m);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void
fuzz_params(const ProtobufCMessageDescriptor *d, const char *p, size_t n)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);
	char *text = malloc(n + 1);
	if (m == NULL || text == NULL)
		abort();
	protobuf_c_message_init(d, m);
	memcpy(text, p, n);
	text[n] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		char err[512] = "";
		if (pbjson_set_text(m, line, eq + 1, err, sizeof(err)) != 0 &&
		    err[0] == '\0')
			abort();
	}
	check_round_trip(m);
	protobuf_c_message_free_unpacked(m, NULL);
	free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* (for tests/fuzz_replay.c, which calls it first) */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const ProtobufCMessageDescriptor *d = types[(data[0] & 0x7f) % NTYPES];
	if (data[0] & 0x80)
		fuzz_params(d, (const char *) data + 1, size - 1);
	else
		fuzz_json(d, (const char *) data + 1, size - 1);
	return 0;
}

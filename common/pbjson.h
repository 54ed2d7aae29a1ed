#ifndef JOBD_PBJSON_H
#define JOBD_PBJSON_H

/*
 * pbjson: protobuf-c messages <-> protobuf's canonical JSON mapping, by
 * reflection over the descriptors (no code per message), on jansson. The
 * HTTP gateway and jobctl --json both speak it.
 *
 * The mapping, both ways:
 * - keys: the field's lowerCamelCase json name, derived from the proto name
 *   as protoc derives it ("progress_done" -> "progressDone"); decoding
 *   takes the proto name too. Objects keep the descriptor's field order.
 * - int64, uint64, sint64, fixed64, sfixed64: decimal strings; decoding
 *   takes a string or a JSON integer.
 * - int32, uint32, sint32, fixed32, sfixed32: JSON numbers; decoding takes
 *   a JSON integer or a decimal string. Both directions range-check. A
 *   decimal string is an optional '-' (signed types only) and digits,
 *   nothing else: no '+', blank, exponent or fraction. A JSON real (1.5,
 *   1e3) is never an integer.
 * - bool: true/false. double, float: JSON numbers, and "NaN", "Infinity",
 *   "-Infinity" as strings; decoding also takes a decimal string.
 * - enums: the value's name ("JOB_STATE_RUNNING"); a number the enum does
 *   not know goes out as the number. Decoding takes a name or an integer.
 * - bytes: standard base64 with padding; decoding takes standard or
 *   URL-safe, with or without padding.
 * - strings: JSON strings (invalid UTF-8 going out is replaced by U+FFFD;
 *   a string coming in with a NUL is refused).
 * - repeated fields: arrays. map<k,v> (protobuf-c's repeated XxxEntry
 *   message with key = 1 and value = 2): an object, keys as text.
 * - nested messages: objects. oneof: only the member that is set.
 * Encoding emits every field, defaults included, except a nested message
 * that is not set, a proto2 optional field that is not set (its has_ flag
 * clear, or a NULL or default string) and the members of a oneof that are
 * not its case. A JSON null decodes to the field's default.
 */

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* m as a JSON object (a new reference); NULL only when out of memory. */
json_t *pbjson_encode(const ProtobufCMessage *m);

/*
 * The JSON object j as a message of type d into *out (malloc'd: free it
 * with protobuf_c_message_free_unpacked(*out, NULL)). 0, or -1 with *out
 * NULL and err holding a message that names the field's path, e.g.
 * `jobs[2].params.limit: expected a string, got a number`,
 * `unknown field "foo"`, `id: "12x" is not an unsigned 64-bit integer`.
 * Refused: a non-object, an unknown field, a field given twice (by both
 * of its names), a wrong type, an integer out of range or not an integer,
 * bad base64, an unknown enum name, two members of one oneof, nesting
 * deeper than PBJSON_MAX_DEPTH messages. Duplicate keys are the loader's
 * to refuse (json_loadb with JSON_REJECT_DUPLICATES, as pbjson_decode_text
 * does). Out of memory: -1 and "out of memory".
 */
int pbjson_decode(const ProtobufCMessageDescriptor *d, const json_t *j,
                  ProtobufCMessage **out, char *err, size_t errlen);

/*
 * pbjson_decode of JSON text: buf[0..len) loaded by jansson with
 * JSON_REJECT_DUPLICATES | JSON_DECODE_ANY (so that "[]" is "expected an
 * object, got an array"); bad JSON is -1 with "invalid JSON at line L
 * column C: WHY" in err.
 */
int pbjson_decode_text(const ProtobufCMessageDescriptor *d, const char *buf,
                       size_t len, ProtobufCMessage **out, char *err,
                       size_t errlen);

/*
 * Sets one field of m from text, as grpc-gateway maps a query or path
 * parameter: name is the json or the proto name of a scalar, enum or
 * bytes field (repeated or not; a repeated field gets the value appended,
 * a singular one replaced). Text forms: integers as decimal strings (as
 * above), bools "true"/"false", enums a name or a number, bytes base64,
 * floats a decimal number or "NaN"/"Infinity"/"-Infinity". m must have
 * been built with malloc (pbjson_decode, protobuf-c's unpack with the
 * default allocator, or malloc + protobuf_c_message_init). 0, or -1 with
 * m unchanged and err naming the parameter: `unknown parameter "foo"`,
 * `limit: "x" is not an unsigned 32-bit integer`,
 * `job: not a scalar field`.
 */
int pbjson_set_text(ProtobufCMessage *m, const char *name, const char *value,
                    char *err, size_t errlen);

/* The deepest nesting of messages pbjson_decode takes. */
#define PBJSON_MAX_DEPTH 64

#endif

#ifndef JOBD_PBJSON_IMPL_H
#define JOBD_PBJSON_IMPL_H

/*
 * pbjson's internals, shared by its three files and seen by no other:
 * pbjson_desc.c (these helpers: reading the descriptors, base64, UTF-8),
 * pbjson_enc.c (pbjson_encode) and pbjson_dec.c (pbjson_decode,
 * pbjson_decode_text, pbjson_set_text). Only common/pbjson*.c include it;
 * everyone else has pbjson.h.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* The member of message m at byte offset off (a descriptor's offset or
 * quantifier_offset). */
#define MEMBER(m, off)  ((void *) ((char *) (m) + (off)))
#define CMEMBER(m, off) ((const void *) ((const char *) (m) + (off)))

/* ---- descriptors ---- */

/* The json name of the proto name p into buf (cap bytes, at least 1):
 * buf, or NULL when it does not fit. */
const char *pbj_json_name(const char *p, char *buf, size_t cap);

/* The field of d whose proto name or json name is key[0..n), or NULL. */
const ProtobufCFieldDescriptor *
pbj_find_field(const ProtobufCMessageDescriptor *d, const char *key, size_t n);

/* Whether f is a map: repeated, of a message type "...Entry" with exactly
 * the fields key = 1 and value = 2, its key of a type a map key can have. */
bool pbj_is_map(const ProtobufCFieldDescriptor *f);

/* Size of one value of type t in a message or a repeated array. */
size_t pbj_type_size(ProtobufCType t);

/* Whether f is a singular field with a has_ flag (proto2 optional, proto3
 * optional) that is not the case of a oneof. */
bool pbj_has_flag(const ProtobufCFieldDescriptor *f);

/* ---- base64 ---- */

/* p[0..n) as standard base64 with padding, malloc'd (*outlen its length);
 * NULL when out of memory. */
char *pbj_b64_encode(const uint8_t *p, size_t n, size_t *outlen);

/* s[0..n) from base64, standard or URL-safe, padding optional: 0 with
 * *out malloc'd (NULL for nothing) and *outlen; -1 bad base64; -2 out of
 * memory. */
int pbj_b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen);

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s[0..n) (n > 0), or 0. */
size_t pbj_utf8_seq(const uint8_t *s, size_t n);

/* s[0..n) as valid UTF-8: NULL when it is already (use s), else a malloc'd
 * copy with each bad byte replaced by U+FFFD (*fixlen its length); *oom
 * set when that copy cannot be made. */
char *pbj_utf8_fix(const char *s, size_t n, size_t *fixlen, bool *oom);

/* s[0..n) as a JSON string (a new reference), made valid UTF-8 first;
 * NULL when out of memory. */
json_t *pbj_json_text(const char *s, size_t n);

#endif

/*
 * pbjson's shared part: what its encoder (pbjson_enc.c) and its decoder
 * (pbjson_dec.c) both read off the descriptors, and the two text forms
 * JSON imposes on protobuf's bytes and strings. The mapping is in
 * pbjson.h; these helpers are declared in pbjson_impl.h, for pbjson*.c.
 *
 * Everything goes through the descriptors: a field's C member is found at
 * its offset, the count of a repeated field (or the has_ flag, or the case
 * of its oneof) at its quantifier_offset, and its element size follows
 * from its type as in protobuf-c itself. protobuf-c 1.4's descriptors carry
 * no json_name, so the lowerCamelCase name is derived from the proto name
 * with protoc's rule (drop each '_', upper-case the letter after it). That
 * rule is stated once, in json_name_next(), a character at a time: the
 * encoder writes the name out with it, and the decoder's field lookup
 * compares a key against it without building the name. A map field is
 * protobuf-c's repeated message field whose type is a nested "...Entry"
 * with exactly the fields key = 1 and value = 2.
 *
 * Text: bytes are base64 (standard going out; standard or URL-safe coming
 * in). Strings are UTF-8, checked by one function, pbj_utf8_seq(): going
 * out, each bad byte becomes U+FFFD; coming in, the decoder refuses them.
 */

#include "pbjson_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- names ---- */

/*
 * The next character of the json name of a proto name, *p advanced past
 * it; '\0' at the end: protoc's lowerCamelCase rule, and the one place
 * pbjson states it: each '_' is dropped, the letter after it upper-cased.
 */
static char
json_name_next(const char **p)
{
	const char *s = *p;
	bool up = false;
	for (; *s == '_'; s++)
		up = true;
	char c = *s;
	if (c == '\0') {
		*p = s;
		return '\0';
	}
	*p = s + 1;
	if (up && c >= 'a' && c <= 'z')
		c = (char) (c - 'a' + 'A');
	return c;
}

/* Whether s[0..n) is the json name of the proto name p. */
static bool
json_name_eq(const char *p, const char *s, size_t n)
{
	size_t i = 0;
	for (char c; (c = json_name_next(&p)) != '\0'; i++) {
		if (i >= n || s[i] != c)
			return false;
	}
	return i == n;
}

const char *
pbj_json_name(const char *p, char *buf, size_t cap)
{
	size_t i = 0;
	for (char c; (c = json_name_next(&p)) != '\0';) {
		if (i + 1 >= cap)
			return NULL;
		buf[i++] = c;
	}
	buf[i] = '\0';
	return buf;
}

const ProtobufCFieldDescriptor *
pbj_find_field(const ProtobufCMessageDescriptor *d, const char *key, size_t n)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if ((strlen(f->name) == n && memcmp(f->name, key, n) == 0) ||
		    json_name_eq(f->name, key, n))
			return f;
	}
	return NULL;
}

/* A map field: repeated, of a message type "...Entry" with exactly the
 * fields key = 1 and value = 2, its key of a type a map key can have. */
bool
pbj_is_map(const ProtobufCFieldDescriptor *f)
{
	if (f->label != PROTOBUF_C_LABEL_REPEATED ||
	    f->type != PROTOBUF_C_TYPE_MESSAGE || f->descriptor == NULL)
		return false;
	const ProtobufCMessageDescriptor *e = f->descriptor;
	size_t n = e->short_name ? strlen(e->short_name) : 0;
	if (n < 5 || strcmp(e->short_name + n - 5, "Entry") != 0)
		return false;
	if (e->n_fields != 2 || e->fields[0].id != 1 ||
	    strcmp(e->fields[0].name, "key") != 0 || e->fields[1].id != 2 ||
	    strcmp(e->fields[1].name, "value") != 0 ||
	    e->fields[0].label == PROTOBUF_C_LABEL_REPEATED ||
	    e->fields[1].label == PROTOBUF_C_LABEL_REPEATED)
		return false;
	switch (e->fields[0].type) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
	case PROTOBUF_C_TYPE_ENUM:
		return false;
	default:
		return true;
	}
}

/* Size of one value of type t in a message or a repeated array. */
size_t
pbj_type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* A singular field with presence: a has_ flag (proto2 optional, proto3
 * optional) that is not the case of a oneof. */
bool
pbj_has_flag(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_OPTIONAL &&
	       (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0 &&
	       f->type != PROTOBUF_C_TYPE_STRING &&
	       f->type != PROTOBUF_C_TYPE_MESSAGE;
}

/* ---- base64 ---- */

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding of p[0..n), malloc'd; NULL when out of
 * memory. */
char *
pbj_b64_encode(const uint8_t *p, size_t n, size_t *outlen)
{
	size_t len = (n + 2) / 3 * 4;
	char *s = malloc(len + 1), *o = s;
	if (s == NULL)
		return NULL;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v =
		    (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
		*o++ = b64_std[v >> 18];
		*o++ = b64_std[(v >> 12) & 63];
		*o++ = b64_std[(v >> 6) & 63];
		*o++ = b64_std[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t) p[i] << 16;
		*o++ = b64_std[v >> 18];
		*o++ = b64_std[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8;
		*o++ = b64_std[v >> 18];
		*o++ = b64_std[(v >> 12) & 63];
		*o++ = b64_std[(v >> 6) & 63];
		*o++ = '=';
	}
	*o = '\0';
	*outlen = len;
	return s;
}

static int
b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/*
 * s[0..n) decoded from base64, standard or URL-safe, padding optional
 * (when present, it must make the length a multiple of 4). 0 with *out
 * malloc'd (NULL for nothing) and *outlen; -1 bad base64; -2 out of
 * memory.
 */
int
pbj_b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	size_t pad = 0;
	while (pad < 2 && n > 0 && s[n - 1] == '=') {
		n--;
		pad++;
	}
	if (pad > 0 && (n + pad) % 4 != 0)
		return -1;
	if (n % 4 == 1)
		return -1;
	if (n == 0)
		return 0;
	size_t len = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
	uint8_t *p = malloc(len);
	if (p == NULL)
		return -2;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val(s[i]);
		if (v < 0) {
			free(p);
			return -1;
		}
		acc = acc << 6 | (uint32_t) v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[o++] = (uint8_t) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*out = p;
	*outlen = o;
	return 0;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0. */
size_t
pbj_utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* s as valid UTF-8: NULL when it is already (use s), else a malloc'd copy
 * with each bad byte replaced by U+FFFD (*fixlen its length); *oom set
 * when that copy cannot be made. */
char *
pbj_utf8_fix(const char *s, size_t n, size_t *fixlen, bool *oom)
{
	const uint8_t *u = (const uint8_t *) s;
	size_t i = 0, bad = 0;
	while (i < n) {
		size_t l = pbj_utf8_seq(u + i, n - i);
		if (l == 0) {
			bad++;
			l = 1;
		}
		i += l;
	}
	*oom = false;
	if (bad == 0)
		return NULL;
	char *o = malloc(n + 2 * bad + 1);
	if (o == NULL) {
		*oom = true;
		return NULL;
	}
	size_t k = 0;
	for (i = 0; i < n;) {
		size_t l = pbj_utf8_seq(u + i, n - i);
		if (l == 0) {
			memcpy(o + k, "\xef\xbf\xbd", 3);
			k += 3;
			i++;
		} else {
			memcpy(o + k, s + i, l);
			k += l;
			i += l;
		}
	}
	o[k] = '\0';
	*fixlen = k;
	return o;
}

json_t *
pbj_json_text(const char *s, size_t n)
{
	size_t fl;
	bool oom;
	char *fix = pbj_utf8_fix(s, n, &fl, &oom);
	if (oom)
		return NULL;
	if (fix == NULL)
		return json_stringn_nocheck(s, n);
	json_t *j = json_stringn_nocheck(fix, fl);
	free(fix);
	return j;
}

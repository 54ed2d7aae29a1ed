/*
 * pbjson's decoder: a jansson value to a protobuf-c message, by reflection
 * (the mapping is in pbjson.h; the descriptor, base64 and UTF-8 helpers in
 * pbjson_desc.c), and pbjson_set_text, which sets one field from text as a
 * query parameter gives it.
 *
 * Decoding builds the message in place, in memory from malloc, and hangs
 * each allocation onto the message as soon as it is made (arrays get their
 * count first, then fill; a failed element leaves NULL or 0 behind), so
 * that protobuf_c_message_free_unpacked(m, NULL) frees a half-built message
 * on any error path as it frees a whole one. A field's value is checked
 * completely before anything of it is stored. Errors carry the path of the
 * field, kept in a buffer that grows and shrinks as decoding descends.
 * pbjson_set_text decodes into a scratch slot first, so that a refused
 * value leaves the message as it was.
 */

#include "pbjson.h"
#include "pbjson_impl.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_CAP 512

struct dec {
	char *err;
	size_t errlen;
	char path[PATH_CAP];
	size_t plen;
	int depth;
};

/* Writes "PATH: MESSAGE" (or MESSAGE at the top) into the error; -1. */
__attribute__((format(printf, 2, 3))) static int
fail(struct dec *d, const char *fmt, ...)
{
	if (d->errlen == 0)
		return -1;
	int n = 0;
	if (d->plen > 0)
		n = snprintf(d->err, d->errlen, "%s: ", d->path);
	if (n < 0 || (size_t) n >= d->errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->err + n, d->errlen - (size_t) n, fmt, ap);
	va_end(ap);
	return -1;
}

static int
oom(struct dec *d)
{
	d->plen = 0;
	d->path[0] = '\0';
	return fail(d, "out of memory");
}

/* Appends to the path; returns the mark to pop back to. */
__attribute__((format(printf, 2, 3))) static size_t
push(struct dec *d, const char *fmt, ...)
{
	size_t mark = d->plen;
	if (d->plen + 1 < PATH_CAP) {
		va_list ap;
		va_start(ap, fmt);
		int n =
		    vsnprintf(d->path + d->plen, PATH_CAP - d->plen, fmt, ap);
		va_end(ap);
		if (n > 0)
			d->plen += (size_t) n;
		if (d->plen >= PATH_CAP)
			d->plen = PATH_CAP - 1;
	}
	return mark;
}

static void
pop(struct dec *d, size_t mark)
{
	d->plen = mark;
	d->path[mark] = '\0';
}

static size_t
push_key(struct dec *d, const char *key)
{
	return push(d, d->plen ? ".%s" : "%s", key);
}

static const char *
kind_of(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/* A short, printable rendering of s for a message: at most 40 bytes,
 * anything but printable ASCII as '?', "..." when cut. */
static const char *
show(const char *s, size_t n, char *buf, size_t cap)
{
	size_t k = 0;
	for (; k < n && k < 40 && k + 4 < cap; k++)
		buf[k] = (s[k] >= 0x20 && s[k] < 0x7f) ? s[k] : '?';
	if (k < n && k + 4 <= cap) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = '\0';
	return buf;
}

/* What a type is called in "is not ..." messages. */
static const char *
int_name(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return "a 32-bit integer";
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return "an unsigned 32-bit integer";
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return "a 64-bit integer";
	default:
		return "an unsigned 64-bit integer";
	}
}

static bool
int_signed(ProtobufCType t)
{
	return t == PROTOBUF_C_TYPE_INT32 || t == PROTOBUF_C_TYPE_SINT32 ||
	       t == PROTOBUF_C_TYPE_SFIXED32 || t == PROTOBUF_C_TYPE_INT64 ||
	       t == PROTOBUF_C_TYPE_SINT64 || t == PROTOBUF_C_TYPE_SFIXED64;
}

static bool
int_in_range(ProtobufCType t, bool neg, uint64_t mag)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return neg ? mag <= (uint64_t) INT32_MAX + 1 : mag <= INT32_MAX;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return !neg && mag <= UINT32_MAX;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return neg ? mag <= (uint64_t) INT64_MAX + 1 : mag <= INT64_MAX;
	default:
		return !neg;
	}
}

/* Stores the integer (neg, mag), already in range, as type t at p. */
static void
int_store(ProtobufCType t, bool neg, uint64_t mag, void *p)
{
	switch (pbj_type_size(t)) {
	case 4:
		if (int_signed(t) || t == PROTOBUF_C_TYPE_ENUM) {
			int32_t v =
			    neg ? (int32_t) (0 - (int64_t) mag) : (int32_t) mag;
			memcpy(p, &v, 4);
		} else {
			uint32_t v = (uint32_t) mag;
			memcpy(p, &v, 4);
		}
		break;
	default:
		if (int_signed(t)) {
			int64_t v = neg ? (mag == (uint64_t) INT64_MAX + 1
			                       ? INT64_MIN
			                       : -(int64_t) mag)
			                : (int64_t) mag;
			memcpy(p, &v, 8);
		} else {
			memcpy(p, &mag, 8);
		}
	}
}

/* A decimal integer: optional '-', then one or more digits, nothing else.
 * 0 with (neg, mag); -1 not that form or above 64 bits of magnitude. */
static int
parse_dec(const char *s, size_t n, bool *neg, uint64_t *mag)
{
	size_t i = 0;
	*neg = false;
	if (n > 0 && s[0] == '-') {
		*neg = true;
		i = 1;
	}
	if (i == n)
		return -1;
	uint64_t v = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned dg = (unsigned) (s[i] - '0');
		if (v > (UINT64_MAX - dg) / 10)
			return -1;
		v = v * 10 + dg;
	}
	*mag = v;
	return 0;
}

/* An integer field's value from text s[0..n) into p. */
static int
int_from_text(struct dec *d, ProtobufCType t, const char *s, size_t n, void *p)
{
	bool neg;
	uint64_t mag;
	if (parse_dec(s, n, &neg, &mag) != 0 || !int_in_range(t, neg, mag)) {
		char b[48];
		return fail(d, "\"%s\" is not %s", show(s, n, b, sizeof(b)),
		            int_name(t));
	}
	int_store(t, neg, mag, p);
	return 0;
}

static int
int_from_json(struct dec *d, ProtobufCType t, const json_t *j, void *p)
{
	if (json_is_string(j))
		return int_from_text(d, t, json_string_value(j),
		                     json_string_length(j), p);
	if (json_is_real(j))
		return fail(d, "expected an integer, got a real number");
	if (!json_is_integer(j))
		return fail(d,
		            "expected an integer or a decimal string, got %s",
		            kind_of(j));
	json_int_t v = json_integer_value(j);
	bool neg = v < 0;
	uint64_t mag = neg ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;
	if (!int_in_range(t, neg, mag))
		return fail(d, "%" JSON_INTEGER_FORMAT " is not %s", v,
		            int_name(t));
	int_store(t, neg, mag, p);
	return 0;
}

/* A float or double from text: "NaN", "Infinity", "-Infinity" or a
 * decimal number strtod reads whole. */
static int
real_from_text(struct dec *d, bool is_float, const char *s, size_t n, double *v)
{
	char b[48];
	if (n == 3 && memcmp(s, "NaN", 3) == 0) {
		*v = NAN;
		return 0;
	}
	if (n == 8 && memcmp(s, "Infinity", 8) == 0) {
		*v = INFINITY;
		return 0;
	}
	if (n == 9 && memcmp(s, "-Infinity", 9) == 0) {
		*v = -INFINITY;
		return 0;
	}
	/* strtod's own forms (hex, "inf", blanks) are not JSON's */
	bool ok = n > 0 && n < 64 && strspn(s, "0123456789.eE+-") == n &&
	          ((s[0] >= '0' && s[0] <= '9') || s[0] == '-');
	if (ok) {
		char tmp[64];
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		char *end;
		errno = 0;
		*v = strtod(tmp, &end);
		ok = *end == '\0' && errno != ERANGE && isfinite(*v);
	}
	if (!ok)
		return fail(d, "\"%s\" is not a number",
		            show(s, n, b, sizeof(b)));
	if (is_float && fabs(*v) > FLT_MAX)
		return fail(d, "\"%s\" is out of range for a float",
		            show(s, n, b, sizeof(b)));
	return 0;
}

static int
real_store(struct dec *d, bool is_float, double v, void *p)
{
	if (is_float) {
		if (isfinite(v) && fabs(v) > FLT_MAX)
			return fail(d, "%g is out of range for a float", v);
		float fv = (float) v;
		memcpy(p, &fv, sizeof(fv));
	} else {
		memcpy(p, &v, sizeof(v));
	}
	return 0;
}

static int
enum_from_text(struct dec *d, const ProtobufCEnumDescriptor *e, const char *s,
               size_t n, void *p)
{
	char b[48];
	if (strlen(s) == n) {
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value_by_name(e, s);
		if (ev != NULL) {
			int32_t v = ev->value;
			memcpy(p, &v, 4);
			return 0;
		}
	}
	return fail(d, "\"%s\" is not a value of %s", show(s, n, b, sizeof(b)),
	            e->name);
}

static int
bytes_from_text(struct dec *d, const char *s, size_t n, void *p)
{
	uint8_t *data;
	size_t len;
	int rc = pbj_b64_decode(s, n, &data, &len);
	if (rc == -2)
		return oom(d);
	if (rc != 0)
		return fail(d, "not valid base64");
	ProtobufCBinaryData *b = p;
	b->data = data;
	b->len = len;
	return 0;
}

/* A string from s[0..n) into the char * at p (whatever was there is the
 * caller's to free). */
static int
string_from_text(struct dec *d, const char *s, size_t n, void *p)
{
	if (memchr(s, '\0', n) != NULL)
		return fail(d, "a string with a NUL character");
	for (size_t i = 0, l; i < n; i += l) {
		if ((l = pbj_utf8_seq((const uint8_t *) s + i, n - i)) == 0)
			return fail(d, "a string that is not valid UTF-8");
	}
	char *c = malloc(n + 1);
	if (c == NULL)
		return oom(d);
	memcpy(c, s, n);
	c[n] = '\0';
	*(char **) p = c;
	return 0;
}

static int dec_message(struct dec *d, const ProtobufCMessageDescriptor *desc,
                       const json_t *j, ProtobufCMessage **out);

/*
 * One value of field f's type from j into p, which holds nothing to free
 * (a fresh element, or a singular field's default). On success the
 * memory it took is at p; on failure p is unchanged.
 */
static int
dec_value(struct dec *d, const ProtobufCFieldDescriptor *f, const json_t *j,
          void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return int_from_json(d, f->type, j, p);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		bool fl = f->type == PROTOBUF_C_TYPE_FLOAT;
		double v;
		if (json_is_number(j))
			v = json_number_value(j);
		else if (json_is_string(j)) {
			if (real_from_text(d, fl, json_string_value(j),
			                   json_string_length(j), &v) != 0)
				return -1;
		} else
			return fail(d, "expected a number, got %s", kind_of(j));
		return real_store(d, fl, v, p);
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(j))
			return fail(d, "expected true or false, got %s",
			            kind_of(j));
		*(protobuf_c_boolean *) p = json_is_true(j);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		if (json_is_string(j))
			return enum_from_text(d, f->descriptor,
			                      json_string_value(j),
			                      json_string_length(j), p);
		if (json_is_integer(j))
			return int_from_json(d, PROTOBUF_C_TYPE_INT32, j, p);
		return fail(d, "expected an enum name or number, got %s",
		            kind_of(j));
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(j))
			return fail(d, "expected a string, got %s", kind_of(j));
		return string_from_text(d, json_string_value(j),
		                        json_string_length(j), p);
	case PROTOBUF_C_TYPE_BYTES:
		if (!json_is_string(j))
			return fail(d, "expected a base64 string, got %s",
			            kind_of(j));
		return bytes_from_text(d, json_string_value(j),
		                       json_string_length(j), p);
	case PROTOBUF_C_TYPE_MESSAGE:
		return dec_message(d, f->descriptor, j,
		                   (ProtobufCMessage **) p);
	}
	return fail(d, "field of an unknown type");
}

/* A scalar (not message, not bytes, not float) from text into p: map keys
 * and set_text. */
static int
scalar_from_text(struct dec *d, const ProtobufCFieldDescriptor *f,
                 const char *s, void *p)
{
	size_t n = strlen(s);
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
			*(protobuf_c_boolean *) p = s[0] == 't';
			return 0;
		}
		char b[48];
		return fail(d, "\"%s\" is not true or false",
		            show(s, n, b, sizeof(b)));
	case PROTOBUF_C_TYPE_STRING:
		return string_from_text(d, s, n, p);
	case PROTOBUF_C_TYPE_BYTES:
		return bytes_from_text(d, s, n, p);
	case PROTOBUF_C_TYPE_ENUM: {
		bool neg;
		uint64_t mag;
		if (parse_dec(s, n, &neg, &mag) == 0)
			return int_from_text(d, PROTOBUF_C_TYPE_INT32, s, n, p);
		return enum_from_text(d, f->descriptor, s, n, p);
	}
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		bool fl = f->type == PROTOBUF_C_TYPE_FLOAT;
		double v;
		if (real_from_text(d, fl, s, n, &v) != 0)
			return -1;
		return real_store(d, fl, v, p);
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return fail(d, "not a scalar field");
	default:
		return int_from_text(d, f->type, s, n, p);
	}
}

/* Marks a singular field set: its has_ flag or its oneof's case. */
static void
mark_set(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0)
		*(uint32_t *) MEMBER(m, f->quantifier_offset) = f->id;
	else if (pbj_has_flag(f))
		*(protobuf_c_boolean *) MEMBER(m, f->quantifier_offset) = 1;
}

/* Another member of f's oneof is set already. */
static bool
oneof_taken(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
		return false;
	uint32_t c = *(const uint32_t *) CMEMBER(m, f->quantifier_offset);
	return c != 0 && c != f->id;
}

static int
dec_map(struct dec *d, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
        const json_t *j)
{
	if (!json_is_object(j))
		return fail(d, "expected an object, got %s", kind_of(j));
	size_t n = json_object_size(j);
	if (n == 0)
		return 0;
	ProtobufCMessage **arr = calloc(n, sizeof(*arr));
	if (arr == NULL)
		return oom(d);
	*(void **) MEMBER(m, f->offset) = arr;
	*(size_t *) MEMBER(m, f->quantifier_offset) = n;
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0];
	const ProtobufCFieldDescriptor *vf = &ed->fields[1];
	size_t i = 0;
	const char *key;
	json_t *val;
	json_object_foreach((json_t *) j, key, val)
	{
		ProtobufCMessage *e = malloc(ed->sizeof_message);
		if (e == NULL)
			return oom(d);
		protobuf_c_message_init(ed, e);
		arr[i++] = e;
		size_t mark = push_key(d, key);
		if (scalar_from_text(d, kf, key, MEMBER(e, kf->offset)) != 0)
			return -1;
		mark_set(e, kf);
		if (!json_is_null(val)) {
			if (dec_value(d, vf, val, MEMBER(e, vf->offset)) != 0)
				return -1;
			mark_set(e, vf);
		}
		pop(d, mark);
	}
	return 0;
}

static int
dec_repeated(struct dec *d, ProtobufCMessage *m,
             const ProtobufCFieldDescriptor *f, const json_t *j)
{
	if (!json_is_array(j))
		return fail(d, "expected an array, got %s", kind_of(j));
	size_t n = json_array_size(j);
	if (n == 0)
		return 0;
	size_t sz = pbj_type_size(f->type);
	char *arr = calloc(n, sz);
	if (arr == NULL)
		return oom(d);
	*(void **) MEMBER(m, f->offset) = arr;
	*(size_t *) MEMBER(m, f->quantifier_offset) = n;
	for (size_t i = 0; i < n; i++) {
		size_t mark = push(d, "[%zu]", i);
		if (dec_value(d, f, json_array_get(j, i), arr + i * sz) != 0)
			return -1;
		pop(d, mark);
	}
	return 0;
}

/* Field f of m from j (not null). */
static int
dec_field(struct dec *d, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
          const json_t *j)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return pbj_is_map(f) ? dec_map(d, m, f, j)
		                     : dec_repeated(d, m, f, j);
	if (oneof_taken(m, f))
		return fail(d, "another field of its oneof is set already");
	/* the slot holds its default: nothing to free */
	if (dec_value(d, f, j, MEMBER(m, f->offset)) != 0)
		return -1;
	mark_set(m, f);
	return 0;
}

static int
dec_message(struct dec *d, const ProtobufCMessageDescriptor *desc,
            const json_t *j, ProtobufCMessage **out)
{
	if (!json_is_object(j))
		return fail(d, "expected an object, got %s", kind_of(j));
	if (d->depth >= PBJSON_MAX_DEPTH)
		return fail(d, "nested more than %d messages deep",
		            PBJSON_MAX_DEPTH);
	ProtobufCMessage *m = malloc(desc->sizeof_message);
	unsigned char *seen = calloc(desc->n_fields ? desc->n_fields : 1, 1);
	if (m == NULL || seen == NULL) {
		free(m);
		free(seen);
		return oom(d);
	}
	protobuf_c_message_init(desc, m);
	d->depth++;
	int rc = 0;
	const char *key;
	json_t *val;
	json_object_foreach((json_t *) j, key, val)
	{
		size_t klen = strlen(key);
		const ProtobufCFieldDescriptor *f =
		    pbj_find_field(desc, key, klen);
		char b[48];
		if (f == NULL) {
			rc = fail(d, "unknown field \"%s\"",
			          show(key, klen, b, sizeof(b)));
			break;
		}
		size_t mark = push_key(d, key);
		if (seen[f - desc->fields]) {
			rc = fail(d, "given twice, by its json and its proto "
			             "name");
			break;
		}
		seen[f - desc->fields] = 1;
		if (!json_is_null(val) && dec_field(d, m, f, val) != 0) {
			rc = -1;
			break;
		}
		pop(d, mark);
	}
	d->depth--;
	free(seen);
	if (rc != 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		return -1;
	}
	*out = m;
	return 0;
}

int
pbjson_decode(const ProtobufCMessageDescriptor *desc, const json_t *j,
              ProtobufCMessage **out, char *err, size_t errlen)
{
	struct dec d = {.err = err, .errlen = errlen};
	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (j == NULL)
		return fail(&d, "expected an object, got nothing");
	return dec_message(&d, desc, j, out);
}

int
pbjson_decode_text(const ProtobufCMessageDescriptor *desc, const char *buf,
                   size_t len, ProtobufCMessage **out, char *err, size_t errlen)
{
	json_error_t je;
	*out = NULL;
	json_t *j =
	    json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (j == NULL) {
		if (errlen > 0)
			snprintf(err, errlen,
			         "invalid JSON at line %d column %d: %s",
			         je.line, je.column, je.text);
		return -1;
	}
	int rc = pbjson_decode(desc, j, out, err, errlen);
	json_decref(j);
	return rc;
}

/* Frees what a singular field of m holds, leaving its default. */
static void
clear_singular(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	void *p = MEMBER(m, f->offset);
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		char *s = *(char **) p;
		if (s != NULL && s != f->default_value)
			free(s);
		*(const char **) p = f->default_value;
	} else if (f->type == PROTOBUF_C_TYPE_BYTES) {
		ProtobufCBinaryData *b = p;
		const ProtobufCBinaryData *def = f->default_value;
		if (b->data != NULL && (def == NULL || b->data != def->data))
			free(b->data);
		if (def != NULL)
			*b = *def;
		else
			b->data = NULL, b->len = 0;
	}
}

int
pbjson_set_text(ProtobufCMessage *m, const char *name, const char *value,
                char *err, size_t errlen)
{
	struct dec d = {.err = err, .errlen = errlen};
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	char b[48];
	if (errlen > 0)
		err[0] = '\0';
	const ProtobufCFieldDescriptor *f =
	    pbj_find_field(desc, name, strlen(name));
	if (f == NULL)
		return fail(&d, "unknown parameter \"%s\"",
		            show(name, strlen(name), b, sizeof(b)));
	push_key(&d, name);
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return fail(&d, "not a scalar field");
	/* the value decoded into a scratch slot first: m changes only on
	 * success */
	union {
		uint64_t u;
		double dbl;
		ProtobufCBinaryData bd;
		char *s;
	} tmp;
	memset(&tmp, 0, sizeof(tmp));
	if (scalar_from_text(&d, f, value, &tmp) != 0)
		return -1;
	size_t sz = pbj_type_size(f->type);
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t *np = MEMBER(m, f->quantifier_offset);
		char **arrp = MEMBER(m, f->offset);
		char *arr = realloc(*arrp, (*np + 1) * sz);
		if (arr == NULL) {
			if (f->type == PROTOBUF_C_TYPE_STRING)
				free(tmp.s);
			else if (f->type == PROTOBUF_C_TYPE_BYTES)
				free(tmp.bd.data);
			return oom(&d);
		}
		memcpy(arr + *np * sz, &tmp, sz);
		*arrp = arr;
		(*np)++;
		return 0;
	}
	if (oneof_taken(m, f)) {
		if (f->type == PROTOBUF_C_TYPE_STRING)
			free(tmp.s);
		else if (f->type == PROTOBUF_C_TYPE_BYTES)
			free(tmp.bd.data);
		return fail(&d, "another field of its oneof is set already");
	}
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0 ||
	    *(uint32_t *) MEMBER(m, f->quantifier_offset) == f->id)
		clear_singular(m, f);
	memcpy(MEMBER(m, f->offset), &tmp, sz);
	mark_set(m, f);
	return 0;
}

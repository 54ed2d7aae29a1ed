/*
 * conformance_json: the JSON half of the C client's conformance runner
 * (tests/test_conformance.c). Two jobs:
 *
 * - A reply of the client library (a protobuf-c message) becomes the plain
 *   value clients/conformance/README.md describes, by walking protobuf-c's
 *   descriptors rather than by a hand-written converter per message: every
 *   field appears under its .proto name, so a field added to jobd.proto
 *   appears without a change here. Integers stay integers (json_int_t holds
 *   every id and counter jobd hands out), enums become their lower-case
 *   names without the enum's prefix (JOB_STATE_QUEUED -> "queued",
 *   TYPE_INT -> "int"), map fields become objects, and BYTES become a
 *   string of exactly those bytes (json_stringn_nocheck, which keeps bytes
 *   that are not UTF-8 and embedded NULs), so that a BYTES value compares
 *   with a literal string by its UTF-8 bytes, and `#` is its length, as the
 *   README asks.
 *
 * - PATH lookups and the MATCH rules of the README (literal, var, contains,
 *   gte/lte/gt, in, sha256, absent), each failure described as "expected
 *   X, got Y" with Y cut short (a 1 MiB result is not printed whole).
 *   A matcher's argument, and anything inside a literal, is a VALUE like
 *   a call's: {"var"}, {"now_ms": N} (the wall clock in Unix ms, plus N,
 *   when it is resolved) and {"join": [V, ...]} (the values' text, run
 *   together) are resolved by cf_resolve() before the match.
 *
 * JSON is jansson's (see tests/test_conformance.c for why that library).
 */
#include "conformance.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

static json_t *field_value(const ProtobufCFieldDescriptor *f, const void *p);

/* "JOB_STATE_QUEUED" -> "queued", "TYPE_INT" -> "int": the name without
 * the prefix every value of its enum shares, in lower case. */
static json_t *
enum_value(const ProtobufCEnumDescriptor *ed, int v)
{
	static const char *const prefixes[] = {"JOB_STATE_", "TYPE_"};
	const ProtobufCEnumValue *ev =
	    protobuf_c_enum_descriptor_get_value(ed, v);
	char buf[64];
	const char *name;
	size_t i;

	if (ev == NULL)
		return json_integer(v);
	name = ev->name;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			name += strlen(prefixes[i]);
	for (i = 0; name[i] != '\0' && i + 1 < sizeof(buf); i++)
		buf[i] = (char) tolower((unsigned char) name[i]);
	buf[i] = '\0';
	return json_string(buf);
}

/* The size of one element of a repeated field of type t in its C array. */
static size_t
elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	default: /* the 32-bit integers, float, enum */
		return sizeof(uint32_t);
	}
}

/* A map<,> field is a repeated message of a generated "...Entry" type with
 * the fields key and value. */
static bool
is_map(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *md = f->descriptor;
	size_t n;

	if (f->label != PROTOBUF_C_LABEL_REPEATED ||
	    f->type != PROTOBUF_C_TYPE_MESSAGE || md->n_fields != 2)
		return false;
	n = strlen(md->name);
	return n > 5 && strcmp(md->name + n - 5, "Entry") == 0;
}

/* One value of field f, stored at p. */
static json_t *
field_value(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *) p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *) p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *) p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_integer((json_int_t) * (const uint64_t *) p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *) p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *) p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *) p);
	case PROTOBUF_C_TYPE_ENUM:
		return enum_value(f->descriptor, *(const int *) p);
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *) p;
		return json_stringn_nocheck(s != NULL ? s : "",
		                            s != NULL ? strlen(s) : 0);
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		return json_stringn_nocheck(
		    b->data != NULL ? (const char *) b->data : "", b->len);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m =
		    *(const ProtobufCMessage *const *) p;
		return m != NULL ? cf_from_message(m) : NULL;
	}
	}
	return NULL;
}

json_t *
cf_from_message(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *md = m->descriptor;
	json_t *o = json_object();

	for (unsigned i = 0; i < md->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &md->fields[i];
		const char *base = (const char *) m + f->offset;
		json_t *v;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *) ((const char *) m +
			                              f->quantifier_offset);
			const char *arr = *(char *const *) base;
			size_t es = elem_size(f->type);
			bool map = is_map(f);

			v = map ? json_object() : json_array();
			for (size_t k = 0; k < n; k++) {
				json_t *e = field_value(f, arr + k * es);
				if (e == NULL)
					continue;
				if (map) {
					json_t *key = json_object_get(e, "key");
					json_object_set(
					    v, json_string_value(key),
					    json_object_get(e, "value"));
					json_decref(e);
				} else {
					json_array_append_new(v, e);
				}
			}
		} else {
			v = field_value(f, base);
		}
		if (v != NULL) /* an unset message field is absent */
			json_object_set_new(o, f->name, v);
	}
	return o;
}

/* Unix time in milliseconds, the wall clock. */
static json_int_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (json_int_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* {"join": [V, ...]}: the text of each resolved V (a string as it is, an
 * integer in decimal), run together; NULL (why in err) otherwise. */
static json_t *
join_values(json_t *list, json_t *vars, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	json_t *e, *out;
	size_t i;

	if (!json_is_array(list)) {
		snprintf(err, errlen, "join takes a list");
		return NULL;
	}
	json_array_foreach(list, i, e)
	{
		json_t *r = cf_resolve(e, vars, err, errlen);
		char num[32], *nb;
		const char *t;
		size_t n;

		if (r == NULL) {
			free(buf);
			return NULL;
		}
		if (json_is_string(r)) {
			t = json_string_value(r);
			n = json_string_length(r);
		} else if (json_is_integer(r)) {
			n = (size_t) snprintf(num, sizeof(num),
			                      "%" JSON_INTEGER_FORMAT,
			                      json_integer_value(r));
			t = num;
		} else {
			json_decref(r);
			free(buf);
			snprintf(err, errlen,
			         "join: item %zu is not a string "
			         "or an integer",
			         i);
			return NULL;
		}
		if ((nb = realloc(buf, len + n + 1)) == NULL) {
			json_decref(r);
			free(buf);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		buf = nb;
		memcpy(buf + len, t, n);
		len += n;
		json_decref(r);
	}
	out = json_stringn_nocheck(buf != NULL ? buf : "", len);
	free(buf);
	return out;
}

json_t *
cf_resolve(json_t *v, json_t *vars, char *err, size_t errlen)
{
	json_t *out, *e;
	const char *k;
	size_t i;

	if (json_is_object(v) && json_object_size(v) == 1) {
		json_t *off = json_object_get(v, "now_ms");
		json_t *list = json_object_get(v, "join");
		if (json_is_integer(off))
			return json_integer(wall_ms() +
			                    json_integer_value(off));
		if (list != NULL)
			return join_values(list, vars, err, errlen);
	}
	if (json_is_object(v)) {
		json_t *name = json_object_get(v, "var");
		if (name != NULL && json_object_size(v) == 1) {
			json_t *val =
			    json_object_get(vars, json_string_value(name));
			if (val == NULL) {
				snprintf(err, errlen, "no value saved as '%s'",
				         json_string_value(name)
				             ? json_string_value(name)
				             : "?");
				return NULL;
			}
			return json_incref(val);
		}
		out = json_object();
		json_object_foreach(v, k, e)
		{
			json_t *r = cf_resolve(e, vars, err, errlen);
			if (r == NULL) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, k, r);
		}
		return out;
	}
	if (json_is_array(v)) {
		out = json_array();
		json_array_foreach(v, i, e)
		{
			json_t *r = cf_resolve(e, vars, err, errlen);
			if (r == NULL) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, r);
		}
		return out;
	}
	return json_incref(v);
}

uint8_t *
cf_data(json_t *data, size_t *len, char *err, size_t errlen)
{
	json_t *text = json_object_get(data, "text");
	json_t *rep = json_object_get(data, "repeat");
	json_t *times = json_object_get(data, "times");
	uint8_t *buf;

	if (json_is_string(text)) {
		*len = json_string_length(text);
		if ((buf = malloc(*len + 1)) != NULL)
			memcpy(buf, json_string_value(text), *len);
		return buf;
	}
	if (json_is_string(rep) && json_is_integer(times) &&
	    json_integer_value(times) >= 0 &&
	    json_integer_value(times) <= 64 * 1024 * 1024) {
		size_t n = json_string_length(rep);
		size_t t = (size_t) json_integer_value(times);
		*len = n * t;
		if ((buf = malloc(*len + 1)) != NULL)
			for (size_t i = 0; i < t; i++)
				memcpy(buf + i * n, json_string_value(rep), n);
		return buf;
	}
	snprintf(err, errlen,
	         "not DATA ({\"text\"} or {\"repeat\", \"times\"})");
	return NULL;
}

json_t *
cf_lookup(json_t *answer, const char *path)
{
	json_t *cur = answer;
	char seg[256];
	const char *p = path;

	if (strcmp(path, ".") == 0)
		return json_incref(answer);
	while (cur != NULL && *p != '\0') {
		size_t n = strcspn(p, ".");
		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, p, n);
		seg[n] = '\0';
		p += n;
		if (*p == '.')
			p++;
		if (strcmp(seg, "#") == 0) {
			if (*p != '\0')
				return NULL;
			if (json_is_array(cur))
				return json_integer(
				    (json_int_t) json_array_size(cur));
			if (json_is_object(cur))
				return json_integer(
				    (json_int_t) json_object_size(cur));
			if (json_is_string(cur))
				return json_integer(
				    (json_int_t) json_string_length(cur));
			return NULL;
		}
		if (json_is_array(cur)) {
			char *end;
			unsigned long i = strtoul(seg, &end, 10);
			if (*seg == '\0' || *end != '\0')
				return NULL;
			cur = json_array_get(cur, i);
		} else if (json_is_object(cur)) {
			cur = json_object_get(cur, seg);
		} else {
			return NULL;
		}
	}
	return cur != NULL ? json_incref(cur) : NULL;
}

/* Equal as the README says: numbers by value, strings (and BYTES) byte for
 * byte, lists and maps member by member. */
static bool
equal(json_t *a, json_t *b)
{
	if (a == NULL || b == NULL)
		return false;
	if (json_is_integer(a) && json_is_integer(b))
		return json_integer_value(a) == json_integer_value(b);
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_is_string(a) && json_is_string(b))
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b),
		              json_string_length(a)) == 0;
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a) && json_is_object(b)) {
		const char *k;
		json_t *v;
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach(
		    a, k, v) if (!equal(v, json_object_get(b, k))) return false;
		return true;
	}
	return json_typeof(a) == json_typeof(b) &&
	       (json_is_null(a) || json_is_true(a) || json_is_false(a));
}

static bool
sha256_is(json_t *got, const char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];
	char out[65];
	const unsigned char *in =
	    (const unsigned char *) json_string_value(got);
	size_t len = json_string_length(got);

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	if (mbedtls_sha256(in, len, md, 0) != 0)
		return false;
#else
	if (mbedtls_sha256_ret(in, len, md, 0) != 0)
		return false;
#endif
	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
	return strcasecmp(out, hex) == 0;
}

const char *
cf_show(json_t *v, char *buf, size_t len)
{
	char *s;

	if (v == NULL) {
		snprintf(buf, len, "nothing (absent)");
		return buf;
	}
	if (json_is_string(v) && json_string_length(v) > 160) {
		snprintf(buf, len, "%zu bytes \"%.40s...\"",
		         json_string_length(v), json_string_value(v));
		return buf;
	}
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (s == NULL) /* BYTES that are not UTF-8 */
		snprintf(buf, len, "%zu bytes (not UTF-8)",
		         json_is_string(v) ? json_string_length(v) : 0);
	else if (strlen(s) > 160)
		snprintf(buf, len, "%.160s...", s);
	else
		snprintf(buf, len, "%s", s);
	free(s);
	return buf;
}

/* The number in a {"gte": N} and the like, compared with got. */
static bool
compare(json_t *got, const char *op, json_t *n)
{
	double g, m;

	if (!json_is_number(got) || !json_is_number(n))
		return false;
	if (json_is_integer(got) && json_is_integer(n)) {
		json_int_t a = json_integer_value(got),
		           b = json_integer_value(n);
		return strcmp(op, "gte") == 0   ? a >= b
		       : strcmp(op, "lte") == 0 ? a <= b
		                                : a > b;
	}
	g = json_number_value(got);
	m = json_number_value(n);
	return strcmp(op, "gte") == 0   ? g >= m
	       : strcmp(op, "lte") == 0 ? g <= m
	                                : g > m;
}

bool
cf_match(json_t *got, json_t *match, json_t *vars, char *why, size_t whylen)
{
	char gs[200], ms[200], vs[200], err[200] = "";
	const char *op = NULL;
	json_t *arg = NULL, *orig = NULL, *resolved = NULL;
	bool ok;

	if (json_is_object(match) && json_object_size(match) == 1) {
		static const char *const ops[] = {
		    "var", "contains", "gte",    "lte",    "gt",
		    "in",  "sha256",   "absent", "now_ms", "join"};
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			if ((arg = json_object_get(match, ops[i])) != NULL) {
				op = ops[i];
				break;
			}
	}
	if (op != NULL &&
	    (strcmp(op, "now_ms") == 0 || strcmp(op, "join") == 0)) {
		/* a VALUE: equal to it */
		if ((resolved = cf_resolve(match, vars, err, sizeof(err))) ==
		    NULL) {
			snprintf(why, whylen, "%s", err);
			return false;
		}
		ok = got != NULL && equal(got, resolved);
		if (!ok)
			snprintf(why, whylen, "expected %s (= %s), got %s",
			         cf_show(match, ms, sizeof(ms)),
			         cf_show(resolved, vs, sizeof(vs)),
			         cf_show(got, gs, sizeof(gs)));
		json_decref(resolved);
		return ok;
	}
	if (op == NULL ||
	    (strcmp(op, "var") != 0 && strcmp(op, "absent") != 0)) {
		/* a literal may hold VALUEs (a list of saved ids), and every
		 * other matcher's argument is a VALUE too */
		orig = op == NULL ? match : arg;
		if ((resolved = cf_resolve(orig, vars, err, sizeof(err))) ==
		    NULL) {
			snprintf(why, whylen, "%s", err);
			return false;
		}
		arg = resolved;
	}
	if (op != NULL && strcmp(op, "absent") == 0)
		ok = json_is_true(arg) ? got == NULL : got != NULL;
	else if (got == NULL)
		ok = false;
	else if (op == NULL)
		ok = equal(got, arg);
	else if (strcmp(op, "var") == 0)
		ok = equal(got, json_object_get(vars, json_string_value(arg)));
	else if (strcmp(op, "contains") == 0) {
		ok = false;
		if (json_is_string(got) && json_is_string(arg))
			ok = memmem(json_string_value(got),
			            json_string_length(got),
			            json_string_value(arg),
			            json_string_length(arg)) != NULL;
		else if (json_is_array(got))
			for (size_t i = 0; !ok && i < json_array_size(got); i++)
				ok = equal(json_array_get(got, i), arg);
	} else if (strcmp(op, "in") == 0) {
		ok = false;
		for (size_t i = 0; !ok && i < json_array_size(arg); i++)
			ok = equal(got, json_array_get(arg, i));
	} else if (strcmp(op, "sha256") == 0)
		ok = json_is_string(got) && json_is_string(arg) &&
		     sha256_is(got, json_string_value(arg));
	else
		ok = compare(got, op, arg);

	if (!ok) {
		if (op != NULL && strcmp(op, "var") == 0)
			snprintf(why, whylen, "expected %s (= %s), got %s",
			         cf_show(match, ms, sizeof(ms)),
			         cf_show(json_object_get(
			                     vars, json_string_value(arg)),
			                 vs, sizeof(vs)),
			         cf_show(got, gs, sizeof(gs)));
		else if (orig != NULL && !json_equal(resolved, orig))
			snprintf(why, whylen, "expected %s (= %s), got %s",
			         cf_show(match, ms, sizeof(ms)),
			         cf_show(arg, vs, sizeof(vs)),
			         cf_show(got, gs, sizeof(gs)));
		else
			snprintf(why, whylen, "expected %s, got %s",
			         cf_show(match, ms, sizeof(ms)),
			         cf_show(got, gs, sizeof(gs)));
	}
	json_decref(resolved);
	return ok;
}

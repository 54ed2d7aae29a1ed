/*
 * pbjson's encoder: a protobuf-c message to a jansson object, by
 * reflection (the mapping is in pbjson.h; the descriptor, base64 and UTF-8
 * helpers in pbjson_desc.c).
 *
 * enc_message walks the descriptor's fields in order, skips what is not
 * set (a oneof member other than its case, a has_ flag clear, a proto2
 * optional string NULL or at its default, a nested message NULL) and
 * emits the rest under their json names, defaults included. enc_value
 * turns one value into JSON by its type; a repeated field is an array of
 * those, a map an object keyed by each entry's key as text, an entry
 * whose value message is unset giving the default message. Strings and
 * map keys go out as valid UTF-8 (bad bytes replaced). Every failure is
 * out of memory: the object built so far is released and NULL returned.
 */

#include "pbjson.h"
#include "pbjson_impl.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *enc_message(const ProtobufCMessage *m);

static json_t *
enc_int64_text(int64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "%" PRId64, v);
	return json_string(b);
}

static json_t *
enc_uint64_text(uint64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "%" PRIu64, v);
	return json_string(b);
}

static json_t *
enc_double(double v)
{
	if (isnan(v))
		return json_string("NaN");
	if (isinf(v))
		return json_string(v > 0 ? "Infinity" : "-Infinity");
	return json_real(v);
}

/* The value of type f->type at p. */
static json_t *
enc_value(const ProtobufCFieldDescriptor *f, const void *p)
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
		return enc_int64_text(*(const int64_t *) p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return enc_uint64_text(*(const uint64_t *) p);
	case PROTOBUF_C_TYPE_FLOAT:
		return enc_double(*(const float *) p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return enc_double(*(const double *) p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *) p);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *) p;
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		if (ev != NULL)
			return json_string(ev->name);
		return json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *) p;
		if (s == NULL)
			s = "";
		return pbj_json_text(s, strlen(s));
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		size_t n;
		char *s = pbj_b64_encode(b->len ? b->data : NULL, b->len, &n);
		if (s == NULL)
			return NULL;
		json_t *j = json_stringn_nocheck(s, n);
		free(s);
		return j;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sm =
		    *(const ProtobufCMessage *const *) p;
		if (sm != NULL)
			return enc_message(sm);
		/* a map's value left unset: the default message */
		const ProtobufCMessageDescriptor *d = f->descriptor;
		ProtobufCMessage *e = malloc(d->sizeof_message);
		if (e == NULL)
			return NULL;
		protobuf_c_message_init(d, e);
		json_t *j = enc_message(e);
		free(e);
		return j;
	}
	}
	return NULL;
}

/* A map key's text into buf (or the string itself, through *s). */
static const char *
map_key_text(const ProtobufCFieldDescriptor *k, const void *p, char *buf,
             size_t cap)
{
	switch (k->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *) p;
		return s ? s : "";
	}
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *) p ? "true" : "false";
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		snprintf(buf, cap, "%" PRId32, *(const int32_t *) p);
		return buf;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		snprintf(buf, cap, "%" PRIu32, *(const uint32_t *) p);
		return buf;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(buf, cap, "%" PRId64, *(const int64_t *) p);
		return buf;
	default:
		snprintf(buf, cap, "%" PRIu64, *(const uint64_t *) p);
		return buf;
	}
}

/* Sets obj[key] = v (v's reference taken, also on failure); -1 when out
 * of memory. The key is made valid UTF-8 first. */
static int
set_key(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL)
		return -1;
	size_t fl;
	bool oom;
	char *fix = pbj_utf8_fix(key, strlen(key), &fl, &oom);
	if (oom) {
		json_decref(v);
		return -1;
	}
	int rc = json_object_set_new_nocheck(obj, fix ? fix : key, v);
	free(fix);
	return rc;
}

static json_t *
enc_map(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *const *arr,
        size_t n)
{
	const ProtobufCMessageDescriptor *e = f->descriptor;
	json_t *obj = json_object();
	if (obj == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (arr[i] == NULL)
			continue;
		char buf[24];
		const char *key = map_key_text(
		    &e->fields[0], CMEMBER(arr[i], e->fields[0].offset), buf,
		    sizeof(buf));
		json_t *v = enc_value(&e->fields[1],
		                      CMEMBER(arr[i], e->fields[1].offset));
		if (set_key(obj, key, v) != 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

static json_t *
enc_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const void *p = CMEMBER(m, f->offset);
	if (f->label != PROTOBUF_C_LABEL_REPEATED)
		return enc_value(f, p);
	size_t n = *(const size_t *) CMEMBER(m, f->quantifier_offset);
	const char *arr = *(const char *const *) p;
	if (arr == NULL)
		n = 0;
	if (pbj_is_map(f))
		return enc_map(f, (const ProtobufCMessage *const *) arr, n);
	json_t *a = json_array();
	if (a == NULL)
		return NULL;
	size_t sz = pbj_type_size(f->type);
	for (size_t i = 0; i < n; i++) {
		json_t *v = enc_value(f, arr + i * sz);
		if (json_array_append_new(a, v) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
enc_message(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *obj = json_object();
	if (obj == NULL)
		return NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
		    *(const uint32_t *) CMEMBER(m, f->quantifier_offset) !=
		        f->id)
			continue;
		if (pbj_has_flag(f) && !*(const protobuf_c_boolean *) CMEMBER(
		                           m, f->quantifier_offset))
			continue;
		/* a proto2 optional string is set when it is not NULL or
		 * its default, as protobuf-c packs it */
		if (f->type == PROTOBUF_C_TYPE_STRING &&
		    f->label == PROTOBUF_C_LABEL_OPTIONAL &&
		    (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0) {
			const char *s =
			    *(const char *const *) CMEMBER(m, f->offset);
			if (s == NULL || s == f->default_value)
				continue;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    f->label != PROTOBUF_C_LABEL_REPEATED &&
		    *(const ProtobufCMessage *const *) CMEMBER(m, f->offset) ==
		        NULL)
			continue;
		char buf[128];
		const char *key = pbj_json_name(f->name, buf, sizeof(buf));
		char *big = NULL;
		if (key == NULL) {
			size_t n = strlen(f->name) + 1;
			if ((big = malloc(n)) == NULL)
				goto fail;
			key = pbj_json_name(f->name, big, n);
		}
		json_t *v = enc_field(m, f);
		int rc = v ? json_object_set_new_nocheck(obj, key, v) : -1;
		free(big);
		if (rc != 0)
			goto fail;
	}
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

json_t *
pbjson_encode(const ProtobufCMessage *m)
{
	return enc_message(m);
}

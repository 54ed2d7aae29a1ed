/*
 * wire: a request's bounds, checked on the wire format.
 *
 * protobuf-c's unpack allocates as it goes: a struct for every element of
 * a repeated message field, a record for every unknown field, a copy of
 * every string. A 2 MiB request of two-byte elements would become many
 * times its size in memory before any handler could count them. So
 * rpc_dispatch() first walks the encoded bytes with wire_check(), once,
 * allocating nothing: every tag is read and matched with the message's
 * descriptor (the same one protobuf-c will use), and
 *   - a repeated field is counted (a packed one by its elements), a string
 *     or bytes field measured, against the bound `rules` gives it, a row
 *     of the limits table;
 *   - a string field must not hold a NUL byte: protobuf-c would decode it
 *     as a shorter C string, so "Bearer TOKEN\0junk" would pass for the
 *     token;
 *   - unknown fields and repeats of a singular field are counted together
 *     (protobuf-c keeps the first, applies the others);
 *   - a message field is walked in turn, one level deeper, up to a depth.
 * A field not in `rules` is bounded only by the request's size: that is
 * what wire_all_bounded() lets a test prevent.
 *
 * The walk costs one pass over the bytes; the table is resolved once into
 * field indices (resolve()), so no field is looked up by name per request.
 */
#include "wire.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jobd.pb-c.h"
#include "limit.h"

#define WIRE_MAX_FIELDS 32 /* fields of one message the table can name */

struct rule {
	const ProtobufCMessageDescriptor *msg;
	const char *field;
	enum limit_id limit;
};

/* Every string, bytes, message and repeated field of every request. */
static const struct rule rules[] = {
    {&jobd__v1__request__descriptor, "method", LIM_METHOD_BYTES},
    {&jobd__v1__request__descriptor, "body", LIM_REQUEST_BYTES},
    {&jobd__v1__request__descriptor, "metadata", LIM_METADATA},
    {&jobd__v1__request__metadata_entry__descriptor, "key", LIM_METADATA_KEY},
    {&jobd__v1__request__metadata_entry__descriptor, "value",
     LIM_METADATA_VALUE},
    {&jobd__v1__submit_request__descriptor, "kind", LIM_KIND_BYTES},
    {&jobd__v1__submit_request__descriptor, "params", LIM_PARAMS},
    {&jobd__v1__submit_request__descriptor, "input", LIM_INPUT_BYTES},
    {&jobd__v1__submit_request__descriptor, "idempotency_key", LIM_KEY_BYTES},
    {&jobd__v1__submit_request__descriptor, "unique_key", LIM_KEY_BYTES},
    {&jobd__v1__submit_request__descriptor, "after", LIM_AFTER},
    {&jobd__v1__submit_request__params_entry__descriptor, "key",
     LIM_PARAM_NAME},
    {&jobd__v1__submit_request__params_entry__descriptor, "value",
     LIM_PARAM_VALUE},
    {&jobd__v1__submit_batch_request__descriptor, "jobs", LIM_BATCH_JOBS},
    {&jobd__v1__get_request__descriptor, "ids", LIM_GET_IDS},
    {&jobd__v1__list_request__descriptor, "kind", LIM_KIND_BYTES},
    {&jobd__v1__pause_request__descriptor, "kind", LIM_KIND_BYTES},
    {&jobd__v1__resume_request__descriptor, "kind", LIM_KIND_BYTES},
    {&jobd__v1__ping_request__descriptor, "payload", LIM_PING_PAYLOAD},
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))

/* The rules of one message, by field index: the limit's row + 1, 0 = none. */
struct resolved {
	const ProtobufCMessageDescriptor *msg;
	unsigned char limit[WIRE_MAX_FIELDS];
};

static struct resolved resolved[NRULES];
static size_t nresolved;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void
resolve(void)
{
	for (size_t i = 0; i < NRULES; i++) {
		const ProtobufCMessageDescriptor *d = rules[i].msg;
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(
		        d, rules[i].field);
		size_t r = 0;
		while (r < nresolved && resolved[r].msg != d)
			r++;
		if (r == nresolved)
			resolved[nresolved++].msg = d;
		/* a rule that names no field bounds nothing:
		 * wire_all_bounded() reports the field it meant */
		if (f != NULL && (size_t) (f - d->fields) < WIRE_MAX_FIELDS)
			resolved[r].limit[f - d->fields] =
			    (unsigned char) (rules[i].limit + 1);
	}
}

static const struct resolved *
rules_of(const ProtobufCMessageDescriptor *d)
{
	for (size_t r = 0; r < nresolved; r++)
		if (resolved[r].msg == d)
			return &resolved[r];
	return NULL;
}

/* The bound of field index i of d, or -1. */
static int
bound_of(const struct resolved *r, size_t i)
{
	if (r == NULL || i >= WIRE_MAX_FIELDS || r->limit[i] == 0)
		return -1;
	return r->limit[i] - 1;
}

/* Reads a varint of at most 10 bytes; its length, 0 if malformed. */
static size_t
varint(const uint8_t *p, size_t len, uint64_t *v)
{
	uint64_t x = 0;
	for (size_t i = 0; i < len && i < 10; i++) {
		x |= (uint64_t) (p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

/* The wire type a field of type t is encoded with (not packed). */
static unsigned
wire_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	default:
		return 0;
	}
}

/* Elements in the packed bytes of a repeated scalar of wire type wt, or
 * SIZE_MAX if they are not a whole number of them. */
static size_t
packed_count(unsigned wt, const uint8_t *p, size_t len)
{
	size_t n = 0;

	if (wt == 5)
		return len % 4 == 0 ? len / 4 : SIZE_MAX;
	if (wt == 1)
		return len % 8 == 0 ? len / 8 : SIZE_MAX;
	for (size_t i = 0; i < len; i++)
		if ((p[i] & 0x80) == 0)
			n++;
	return len == 0 || (p[len - 1] & 0x80) == 0 ? n : SIZE_MAX;
}

struct walk {
	unsigned max_depth;
	char *err;
	size_t errlen;
};

static int refuse(struct walk *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
refuse(struct walk *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(k->err, k->errlen, fmt, ap);
	va_end(ap);
	return WIRE_REFUSED;
}

static int walk(struct walk *k, const ProtobufCMessageDescriptor *d,
                const uint8_t *p, size_t len, unsigned depth,
                const char *where);

/* One occurrence of field f (index i) of d, whose bytes are v[0..vlen)
 * (wire type 2) or whose wire type is wt. */
static int
field(struct walk *k, const ProtobufCMessageDescriptor *d,
      const struct resolved *r, const ProtobufCFieldDescriptor *f, unsigned wt,
      const uint8_t *v, size_t vlen, uint32_t *seen, size_t *extra,
      unsigned depth, const char *where)
{
	size_t i = (size_t) (f - d->fields), n = 1;
	unsigned want = wire_type(f->type);
	int lim = bound_of(r, i);
	char sub[160];

	if (wt != want) {
		/* a repeated scalar may come packed */
		if (wt != 2 || want == 2 ||
		    f->label != PROTOBUF_C_LABEL_REPEATED)
			return WIRE_MALFORMED;
		if ((n = packed_count(want, v, vlen)) == SIZE_MAX)
			return WIRE_MALFORMED;
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		if (i < WIRE_MAX_FIELDS)
			seen[i] += (uint32_t) (n < UINT32_MAX ? n : UINT32_MAX);
		if (lim >= 0 && limit_table[lim].kind == LIMIT_COUNT &&
		    i < WIRE_MAX_FIELDS && seen[i] > limit_table[lim].value) {
			limit_msg(k->err, k->errlen, (enum limit_id) lim, where,
			          seen[i]);
			return WIRE_REFUSED;
		}
	} else if (i < WIRE_MAX_FIELDS && seen[i]++ > 0 &&
	           ++*extra > LIMIT_EXTRA_FIELDS) {
		limit_msg(k->err, k->errlen, LIM_EXTRA_FIELDS, where, *extra);
		return WIRE_REFUSED;
	}
	if (wt != 2 || want != 2)
		return WIRE_OK;
	if (f->type == PROTOBUF_C_TYPE_STRING && memchr(v, 0, vlen) != NULL)
		return refuse(k, "%sfield '%s' of %s holds a NUL byte", where,
		              f->name, d->name);
	if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
		if (lim >= 0 && limit_table[lim].kind == LIMIT_BYTES &&
		    vlen > limit_table[lim].value) {
			limit_msg(k->err, k->errlen, (enum limit_id) lim, where,
			          vlen);
			return WIRE_REFUSED;
		}
		return WIRE_OK;
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		snprintf(sub, sizeof(sub), "%s%s[%u]: ", where, f->name,
		         i < WIRE_MAX_FIELDS ? seen[i] - 1 : 0);
	else
		snprintf(sub, sizeof(sub), "%s%s: ", where, f->name);
	return walk(k, f->descriptor, v, vlen, depth + 1, sub);
}

static int
walk(struct walk *k, const ProtobufCMessageDescriptor *d, const uint8_t *p,
     size_t len, unsigned depth, const char *where)
{
	const struct resolved *r = rules_of(d);
	uint32_t seen[WIRE_MAX_FIELDS] = {0};
	size_t extra = 0;
	int rv;

	if (depth > k->max_depth)
		return refuse(k, "%smessages nested deeper than %u levels",
		              where, k->max_depth);
	while (len > 0) {
		const ProtobufCFieldDescriptor *f;
		const uint8_t *v = NULL;
		uint64_t key, vlen = 0, skip;
		size_t n = varint(p, len, &key);
		unsigned wt;

		if (n == 0 || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
			return WIRE_MALFORMED;
		p += n;
		len -= n;
		switch ((wt = (unsigned) (key & 7))) {
		case 0:
			if ((skip = varint(p, len, &vlen)) == 0)
				return WIRE_MALFORMED;
			break;
		case 1:
			skip = 8;
			break;
		case 5:
			skip = 4;
			break;
		case 2:
			if ((n = varint(p, len, &vlen)) == 0 || vlen > len - n)
				return WIRE_MALFORMED;
			v = p + n;
			skip = n + vlen;
			break;
		default: /* groups, or no wire type at all */
			return WIRE_MALFORMED;
		}
		if (skip > len)
			return WIRE_MALFORMED;
		f = protobuf_c_message_descriptor_get_field(
		    d, (unsigned) (key >> 3));
		if (f == NULL) {
			if (++extra > LIMIT_EXTRA_FIELDS) {
				limit_msg(k->err, k->errlen, LIM_EXTRA_FIELDS,
				          where, extra);
				return WIRE_REFUSED;
			}
		} else if ((rv = field(k, d, r, f, wt, v, (size_t) vlen, seen,
		                       &extra, depth, where)) != WIRE_OK) {
			return rv;
		}
		p += skip;
		len -= skip;
	}
	return WIRE_OK;
}

int
wire_check(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
           unsigned max_depth, char *err, size_t errlen)
{
	struct walk k = {max_depth, err, errlen};

	pthread_once(&resolve_once, resolve);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return walk(&k, d, buf, len, 1, "");
}

static bool
bounded(const ProtobufCMessageDescriptor *d, unsigned depth, char *err,
        size_t errlen)
{
	const struct resolved *r = rules_of(d);

	if (depth > LIMIT_NESTING)
		return true; /* wire_check refuses deeper ones */
	for (size_t i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		bool needs = f->label == PROTOBUF_C_LABEL_REPEATED ||
		             wire_type(f->type) == 2;
		/* a singular message is bounded by its own fields, and its
		 * repeats count as extra fields */
		bool singular_message = f->type == PROTOBUF_C_TYPE_MESSAGE &&
		                        f->label != PROTOBUF_C_LABEL_REPEATED;
		if (needs && !singular_message && bound_of(r, i) < 0) {
			snprintf(err, errlen, "field '%s' of %s has no bound",
			         f->name, d->name);
			return false;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    !bounded(f->descriptor, depth + 1, err, errlen))
			return false;
	}
	return true;
}

bool
wire_all_bounded(const ProtobufCMessageDescriptor *d, char *err, size_t errlen)
{
	pthread_once(&resolve_once, resolve);
	return bounded(d, 1, err, errlen);
}

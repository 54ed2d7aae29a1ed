#ifndef JOBD_WIRE_H
#define JOBD_WIRE_H

/*
 * wire: the bounds of a request, checked on its encoded bytes before
 * protobuf-c decodes them.
 *
 * protobuf-c allocates for every field it decodes, and decodes a string
 * with a NUL byte inside as a shorter C string; both are settled here, in
 * one pass over the bytes that allocates nothing.
 */

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

enum wire_verdict {
	WIRE_OK = 0,
	WIRE_MALFORMED = 1, /* not an encoding of the message at all */
	WIRE_REFUSED = 2,   /* a bound is passed: why in err */
};

/*
 * Walks buf against message d and returns a wire_verdict. Refused: a
 * string field holding a NUL byte, a field past its bound (count or
 * length, from the table in wire.c), more than LIMIT_EXTRA_FIELDS unknown
 * or repeated singular fields in one message, or messages nested deeper
 * than max_depth levels (d itself is level 1).
 */
int wire_check(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
               size_t len, unsigned max_depth, char *err, size_t errlen);

/*
 * For tests: true if every string, bytes, message or repeated field of d
 * and of the messages within it has a bound in the table; else false with
 * the first field that has none in err.
 */
bool wire_all_bounded(const ProtobufCMessageDescriptor *d, char *err,
                      size_t errlen);

#endif

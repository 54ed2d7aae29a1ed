#ifndef JOBD_WIREBUF_H
#define JOBD_WIREBUF_H

/*
 * wirebuf: protobuf bytes written by hand, for what protobuf-c's packer
 * will not write: a string with a NUL byte inside, a field given twice,
 * unknown fields, ids not packed.
 *
 *     struct wbuf b = {0};
 *     wb_str(&b, 1, "Ping", 4);          // field 1, length-delimited
 *     wb_varint_field(&b, 3, 1000);      // field 3, varint
 *     ... b.p, b.n ...
 *     wb_free(&b);
 *
 * An allocation failure leaves b.oom set and b.p NULL.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct wbuf {
	uint8_t *p;
	size_t n, cap;
	bool oom;
};

static inline void
wb_raw(struct wbuf *b, const void *p, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n > b->cap) {
		size_t cap = (b->n + n) * 2 + 64;
		uint8_t *q = realloc(b->p, cap);
		if (q == NULL) {
			free(b->p);
			b->p = NULL;
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static inline void
wb_varint(struct wbuf *b, uint64_t v)
{
	uint8_t x[10];
	size_t n = 0;
	do {
		x[n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	wb_raw(b, x, n);
}

static inline void
wb_varint_field(struct wbuf *b, unsigned field, uint64_t v)
{
	wb_varint(b, (uint64_t) field << 3);
	wb_varint(b, v);
}

/* Field `field`, length-delimited: n bytes of p (a string, bytes or an
 * encoded message). */
static inline void
wb_str(struct wbuf *b, unsigned field, const void *p, size_t n)
{
	wb_varint(b, (uint64_t) field << 3 | 2);
	wb_varint(b, n);
	wb_raw(b, p, n);
}

static inline void
wb_free(struct wbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

#endif

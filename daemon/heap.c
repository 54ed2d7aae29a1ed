#include "heap.h"

#include <stdlib.h>

void
heap_init(struct heap *h, int (*less)(const void *, const void *),
          void (*setpos)(void *, size_t))
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->less = less;
	h->setpos = setpos;
}

void
heap_fini(struct heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

static void
put(struct heap *h, size_t i, void *e)
{
	h->v[i] = e;
	h->setpos(e, i);
}

static void
sift_up(struct heap *h, size_t i)
{
	void *e = h->v[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!h->less(e, h->v[p]))
			break;
		put(h, i, h->v[p]);
		i = p;
	}
	put(h, i, e);
}

static void
sift_down(struct heap *h, size_t i)
{
	void *e = h->v[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->less(h->v[c + 1], h->v[c]))
			c++;
		if (!h->less(h->v[c], e))
			break;
		put(h, i, h->v[c]);
		i = c;
	}
	put(h, i, e);
}

int
heap_reserve(struct heap *h, size_t n)
{
	void **v;

	if (n <= h->cap)
		return 0;
	if (n > SIZE_MAX / sizeof(*v) ||
	    (v = realloc(h->v, n * sizeof(*v))) == NULL)
		return -1;
	h->v = v;
	h->cap = n;
	return 0;
}

int
heap_push(struct heap *h, void *e)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		void **v = realloc(h->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n++] = e;
	sift_up(h, h->n - 1);
	return 0;
}

void *
heap_top(const struct heap *h)
{
	return h->n ? h->v[0] : NULL;
}

void
heap_remove(struct heap *h, size_t pos)
{
	void *e = h->v[pos];
	h->n--;
	if (pos != h->n) {
		h->v[pos] = h->v[h->n];
		h->setpos(h->v[pos], pos);
		/* the moved element may belong above or below */
		sift_down(h, pos);
		sift_up(h, pos);
	}
	h->setpos(e, HEAP_NONE);
}

void *
heap_pop(struct heap *h)
{
	void *e = heap_top(h);
	if (e != NULL)
		heap_remove(h, 0);
	return e;
}

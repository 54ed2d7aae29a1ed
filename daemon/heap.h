#ifndef JOBD_HEAP_H
#define JOBD_HEAP_H

/*
 * heap: a binary min-heap of pointers. Each element records its own position
 * through `setpos`, so it can be removed from the middle in O(log n); a
 * position of HEAP_NONE means "not in the heap". Not thread-safe: the owner
 * locks.
 */

#include <stddef.h>
#include <stdint.h>

#define HEAP_NONE SIZE_MAX

struct heap {
	void **v;
	size_t n;
	size_t cap;
	int (*less)(const void *a, const void *b);
	void (*setpos)(void *e, size_t pos);
};

void heap_init(struct heap *h, int (*less)(const void *, const void *),
               void (*setpos)(void *, size_t));
void heap_fini(struct heap *h);
/* 0, or -1 when out of memory (the heap is unchanged). */
int heap_push(struct heap *h, void *e);
/* Room for n elements in all without growing; 0, or -1 when out of memory
 * (the heap is unchanged). */
int heap_reserve(struct heap *h, size_t n);
/* The least element, or NULL when empty. */
void *heap_top(const struct heap *h);
/* Removes and returns the least element, or NULL. */
void *heap_pop(struct heap *h);
/* Removes the element at `pos` (as told through setpos). */
void heap_remove(struct heap *h, size_t pos);

#endif

#ifndef JOBD_UKEYS_H
#define JOBD_UKEYS_H

/*
 * ukeys: the live jobs that hold a unique key (SubmitRequest.unique_key),
 * found by the key. An open-addressed table of pointers (linear probing,
 * deletion by backward shift, so no tombstones), sized by the number of
 * such jobs alone: a job without a unique key costs nothing here. The
 * key of an entry is read through key(), so the table holds no copies.
 *
 * Not thread-safe: the scheduler calls it under its lock.
 */

#include <stddef.h>

struct ukeys {
	void **slots;
	size_t cap; /* a power of two, or 0 */
	size_t n;
	const char *(*key)(const void *e);
};

void ukeys_init(struct ukeys *u, const char *(*key)(const void *e));
void ukeys_fini(struct ukeys *u);
/* The entry whose key is `key`, or NULL. */
void *ukeys_find(const struct ukeys *u, const char *key);
/* Room for n more entries without growing; -1 if out of memory. */
int ukeys_reserve(struct ukeys *u, size_t n);
/* Adds e, whose key no entry has (ukeys_reserve made room). */
void ukeys_add(struct ukeys *u, void *e);
/* Removes e if it is there. */
void ukeys_del(struct ukeys *u, void *e);

#endif

/*
 * ukeys: live jobs by unique key. See ukeys.h. The table is kept at most
 * half full.
 */
#include "ukeys.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t
hash(const char *k)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *k; k++)
		h = (h ^ (unsigned char) *k) * 1099511628211ULL;
	return (size_t) (h ^ (h >> 29));
}

void
ukeys_init(struct ukeys *u, const char *(*key)(const void *e))
{
	u->slots = NULL;
	u->cap = 0;
	u->n = 0;
	u->key = key;
}

void
ukeys_fini(struct ukeys *u)
{
	free(u->slots);
	ukeys_init(u, u->key);
}

void *
ukeys_find(const struct ukeys *u, const char *key)
{
	if (u->cap == 0)
		return NULL;
	for (size_t i = hash(key) & (u->cap - 1);; i = (i + 1) & (u->cap - 1)) {
		void *e = u->slots[i];
		if (e == NULL || strcmp(u->key(e), key) == 0)
			return e;
	}
}

static void
place(void **slots, size_t cap, void *e, const char *key)
{
	size_t i = hash(key) & (cap - 1);
	while (slots[i] != NULL)
		i = (i + 1) & (cap - 1);
	slots[i] = e;
}

int
ukeys_reserve(struct ukeys *u, size_t n)
{
	size_t cap = u->cap ? u->cap : 16;
	void **slots;

	while (cap < 2 * (u->n + n)) {
		if (cap > SIZE_MAX / 4 / sizeof(*slots))
			return -1;
		cap *= 2;
	}
	if (cap == u->cap)
		return 0;
	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return -1;
	for (size_t i = 0; i < u->cap; i++)
		if (u->slots[i] != NULL)
			place(slots, cap, u->slots[i], u->key(u->slots[i]));
	free(u->slots);
	u->slots = slots;
	u->cap = cap;
	return 0;
}

void
ukeys_add(struct ukeys *u, void *e)
{
	place(u->slots, u->cap, e, u->key(e));
	u->n++;
}

void
ukeys_del(struct ukeys *u, void *e)
{
	size_t i, j;

	if (u->cap == 0)
		return;
	for (i = hash(u->key(e)) & (u->cap - 1); u->slots[i] != e;
	     i = (i + 1) & (u->cap - 1))
		if (u->slots[i] == NULL)
			return;
	/* backward shift: move up each later entry of the run that may
	 * sit at i, so that every probe sequence stays unbroken */
	for (j = (i + 1) & (u->cap - 1); u->slots[j] != NULL;
	     j = (j + 1) & (u->cap - 1)) {
		size_t h = hash(u->key(u->slots[j])) & (u->cap - 1);
		/* the entry at j may move to i if i lies in [h, j) cyclically
		 */
		if (((j - h) & (u->cap - 1)) >= ((j - i) & (u->cap - 1))) {
			u->slots[i] = u->slots[j];
			i = j;
		}
	}
	u->slots[i] = NULL;
	u->n--;
}

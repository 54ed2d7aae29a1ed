/*
 * deps: the edges between live jobs that wait for one another. See deps.h.
 *
 * Chained buckets, at most one edge per bucket on average: the table
 * doubles when it would hold more. Ids are handed out in sequence, so a
 * multiplicative hash spreads runs of them.
 */
#include "deps.h"

#include <stdlib.h>

static size_t
bucket(const struct deps *d, uint64_t id)
{
	return (size_t) ((id * 0x9e3779b97f4a7c15ULL) >> 17) & (d->nb - 1);
}

void
deps_init(struct deps *d)
{
	d->b = NULL;
	d->nb = 0;
	d->n = 0;
}

void
deps_fini(struct deps *d)
{
	for (size_t i = 0; i < d->nb; i++)
		for (struct dep_edge *e = d->b[i], *next; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(d->b);
	deps_init(d);
}

struct dep_edge *
deps_edge_new(void)
{
	return calloc(1, sizeof(struct dep_edge));
}

int
deps_reserve(struct deps *d, size_t n)
{
	size_t nb = d->nb ? d->nb : 64;
	struct dep_edge **b;

	while (nb < d->n + n) {
		if (nb > SIZE_MAX / 2 / sizeof(*b))
			return -1;
		nb *= 2;
	}
	if (nb == d->nb)
		return 0;
	if ((b = calloc(nb, sizeof(*b))) == NULL)
		return -1;
	struct deps nd = {b, nb, d->n};
	for (size_t i = 0; i < d->nb; i++)
		for (struct dep_edge *e = d->b[i], *next; e != NULL; e = next) {
			next = e->next;
			size_t k = bucket(&nd, e->on);
			e->next = b[k];
			b[k] = e;
		}
	free(d->b);
	*d = nd;
	return 0;
}

void
deps_add(struct deps *d, struct dep_edge *e, uint64_t on, uint64_t waiter)
{
	size_t k = bucket(d, on);
	e->on = on;
	e->waiter = waiter;
	e->next = d->b[k];
	d->b[k] = e;
	d->n++;
}

struct dep_edge *
deps_take(struct deps *d, uint64_t on)
{
	struct dep_edge *out = NULL, **pp;

	if (d->nb == 0)
		return NULL;
	pp = &d->b[bucket(d, on)];
	while (*pp != NULL) {
		struct dep_edge *e = *pp;
		if (e->on != on) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		e->next = out;
		out = e;
		d->n--;
	}
	return out;
}

void
deps_drop(struct deps *d, uint64_t on, uint64_t waiter)
{
	struct dep_edge **pp;

	if (d->nb == 0)
		return;
	for (pp = &d->b[bucket(d, on)]; *pp != NULL; pp = &(*pp)->next) {
		struct dep_edge *e = *pp;
		if (e->on == on && e->waiter == waiter) {
			*pp = e->next;
			free(e);
			d->n--;
			return;
		}
	}
}

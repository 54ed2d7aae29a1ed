#ifndef JOBD_DEPS_H
#define JOBD_DEPS_H

/*
 * deps: which live jobs wait for which (SubmitRequest.after), by id.
 *
 * One edge per (job waited for, job that waits), in a hash table keyed by
 * the id waited for: adding an edge is O(1), and the end of a job takes
 * all of its edges at once, O(its edges). A job that waits for nothing
 * costs nothing here, so a million queued jobs without dependencies pay
 * no memory for the feature. Edges are allocated by the caller before it
 * changes anything (deps_node_new), so that adding never fails.
 *
 * Not thread-safe: the scheduler calls it under its lock.
 */

#include <stddef.h>
#include <stdint.h>

struct dep_edge {
	struct dep_edge *next;
	uint64_t on;     /* the job waited for */
	uint64_t waiter; /* the job that waits */
};

struct deps {
	struct dep_edge **b;
	size_t nb; /* a power of two, or 0 */
	size_t n;  /* edges */
};

void deps_init(struct deps *d);
/* Frees every edge and the table. */
void deps_fini(struct deps *d);
/* A new edge (not yet added); NULL if out of memory. */
struct dep_edge *deps_edge_new(void);
/* Room for n more edges without growing (growing may fail: -1). */
int deps_reserve(struct deps *d, size_t n);
/* Adds e (made by deps_edge_new; deps_reserve made room). */
void deps_add(struct deps *d, struct dep_edge *e, uint64_t on, uint64_t waiter);
/* Removes and frees the edge from `waiter` on `on`, if there is one. */
void deps_drop(struct deps *d, uint64_t on, uint64_t waiter);
/* Takes every edge on `on` out of the table, as a list linked by next
 * (the caller frees each with free()); NULL if none. */
struct dep_edge *deps_take(struct deps *d, uint64_t on);

#endif

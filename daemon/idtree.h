#ifndef JOBD_IDTREE_H
#define JOBD_IDTREE_H

/*
 * idtree: an intrusive AVL tree ordered by a 64-bit key (a job's id), for
 * walking a range of keys in order. The caller embeds a `struct idnode` in
 * its records and keeps the key at a fixed offset from it (idtree_init).
 * Keys are unique within a tree. Insert, remove and positioning cost
 * O(log n); each further step of a walk costs O(1) amortized. Not
 * thread-safe: the owner locks.
 */

#include <stddef.h>
#include <stdint.h>

/* Two words: the children, the balance factor in the low bits of `left`
 * (nodes are at least 4-byte aligned). */
struct idnode {
	uintptr_t left;
	struct idnode *right;
};

struct idtree {
	struct idnode *root;
	size_t n;          /* nodes in the tree */
	ptrdiff_t key_off; /* from a node to its uint64_t key */
};

/*
 * The deepest an AVL tree of n nodes gets is 1.44 log2(n + 2): 64 levels
 * hold more than 2^43 nodes, far more than memory does.
 */
#define IDTREE_MAX_HEIGHT 64

/* A walk from high keys to low (idtree_walk_below, idtree_walk_next). */
struct idtree_walk {
	const struct idtree *t;
	int depth;
	struct idnode *stack[IDTREE_MAX_HEIGHT];
};

/* An empty tree whose nodes' keys are the uint64_t at key_off bytes from
 * the node (offsetof(key) - offsetof(node) of the record). */
void idtree_init(struct idtree *t, ptrdiff_t key_off);
/* Adds x, whose key no node of t has. */
void idtree_insert(struct idtree *t, struct idnode *x);
/* Takes x, which is in t, out of it. */
void idtree_remove(struct idtree *t, struct idnode *x);
/* The node with `key`, or NULL. */
struct idnode *idtree_find(const struct idtree *t, uint64_t key);
/* x's key. */
uint64_t idtree_key(const struct idtree *t, const struct idnode *x);
/* Starts a walk over the nodes whose key is below `before` (0: every
 * node), highest first. The tree must not change during the walk. */
void idtree_walk_below(struct idtree_walk *w, const struct idtree *t,
                       uint64_t before);
/* The walk's next node, or NULL at its end. */
struct idnode *idtree_walk_next(struct idtree_walk *w);
/* 0 if t is a well-formed AVL tree (keys in order, every balance factor
 * right, n nodes), else -1: for tests. O(n). */
int idtree_check(const struct idtree *t);

#endif

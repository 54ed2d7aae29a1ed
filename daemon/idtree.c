/*
 * idtree: an AVL tree without parent pointers.
 *
 * A node is two words, so that a record indexed by it grows by 16 bytes:
 * the balance factor (height of the right subtree minus that of the left:
 * -1, 0 or +1) lives in the two low bits of the left child's address,
 * stored as balance + 1. Without parent pointers, insert and remove find
 * their path from the root by the key, recursively (the depth is the
 * tree's height, at most IDTREE_MAX_HEIGHT), and a walk keeps the path it
 * still has to visit on a stack of its own.
 */
#include "idtree.h"

#include <assert.h>
#include <stdbool.h>

#define BAL_MASK ((uintptr_t) 3)

static_assert(_Alignof(struct idnode) >= 4,
              "the balance needs two free bits in a node's address");

static struct idnode *
left_of(const struct idnode *x)
{
	return (struct idnode *) (x->left & ~BAL_MASK);
}

static int
bal_of(const struct idnode *x)
{
	return (int) (x->left & BAL_MASK) - 1;
}

static void
set_left(struct idnode *x, struct idnode *l)
{
	x->left = (uintptr_t) l | (x->left & BAL_MASK);
}

static void
set_bal(struct idnode *x, int b)
{
	x->left = (x->left & ~BAL_MASK) | (uintptr_t) (b + 1);
}

uint64_t
idtree_key(const struct idtree *t, const struct idnode *x)
{
	return *(const uint64_t *) (const void *) ((const char *) x +
	                                           t->key_off);
}

void
idtree_init(struct idtree *t, ptrdiff_t key_off)
{
	t->root = NULL;
	t->n = 0;
	t->key_off = key_off;
}

/*
 * The rotations, for a node whose one subtree is two levels taller than
 * the other (after an insert below it, or a remove). Each returns the new
 * root of the subtree and sets *shorter when the subtree lost a level
 * (after an insert it never does: the rotation undoes the growth).
 */

/* x's left subtree is the taller by two. */
static struct idnode *
rotate_right(struct idnode *x, bool *shorter)
{
	struct idnode *l = left_of(x);

	if (bal_of(l) <= 0) {
		int lb = bal_of(l);
		set_left(x, l->right);
		l->right = x;
		if (lb == 0) {
			set_bal(l, +1);
			set_bal(x, -1);
			*shorter = false;
		} else {
			set_bal(l, 0);
			set_bal(x, 0);
			*shorter = true;
		}
		return l;
	}
	struct idnode *lr = l->right;
	int b = bal_of(lr);
	l->right = left_of(lr);
	set_left(x, lr->right);
	set_left(lr, l);
	lr->right = x;
	set_bal(l, b > 0 ? -1 : 0);
	set_bal(x, b < 0 ? +1 : 0);
	set_bal(lr, 0);
	*shorter = true;
	return lr;
}

/* x's right subtree is the taller by two. */
static struct idnode *
rotate_left(struct idnode *x, bool *shorter)
{
	struct idnode *r = x->right;

	if (bal_of(r) >= 0) {
		int rb = bal_of(r);
		x->right = left_of(r);
		set_left(r, x);
		if (rb == 0) {
			set_bal(r, -1);
			set_bal(x, +1);
			*shorter = false;
		} else {
			set_bal(r, 0);
			set_bal(x, 0);
			*shorter = true;
		}
		return r;
	}
	struct idnode *rl = left_of(r);
	int b = bal_of(rl);
	set_left(r, rl->right);
	x->right = left_of(rl);
	set_left(rl, x);
	rl->right = r;
	set_bal(x, b > 0 ? -1 : 0);
	set_bal(r, b < 0 ? +1 : 0);
	set_bal(rl, 0);
	*shorter = true;
	return rl;
}

/* Adds x (key k) below *p; true if the subtree grew a level. */
static bool
insert_at(const struct idtree *t, struct idnode **p, struct idnode *x,
          uint64_t k)
{
	struct idnode *n = *p;
	bool unused;

	if (n == NULL) {
		*p = x;
		return true;
	}
	assert(k != idtree_key(t, n));
	if (k < idtree_key(t, n)) {
		struct idnode *l = left_of(n);
		bool grew = insert_at(t, &l, x, k);
		set_left(n, l);
		if (!grew)
			return false;
		switch (bal_of(n)) {
		case +1:
			set_bal(n, 0);
			return false;
		case 0:
			set_bal(n, -1);
			return true;
		default:
			*p = rotate_right(n, &unused);
			return false;
		}
	}
	if (!insert_at(t, &n->right, x, k))
		return false;
	switch (bal_of(n)) {
	case -1:
		set_bal(n, 0);
		return false;
	case 0:
		set_bal(n, +1);
		return true;
	default:
		*p = rotate_left(n, &unused);
		return false;
	}
}

void
idtree_insert(struct idtree *t, struct idnode *x)
{
	x->left = (uintptr_t) 1; /* no children, balanced */
	x->right = NULL;
	(void) insert_at(t, &t->root, x, idtree_key(t, x));
	t->n++;
}

/* *p's left subtree lost a level; true if *p did too. */
static bool
left_shorter(struct idnode **p)
{
	struct idnode *n = *p;
	bool shorter;

	switch (bal_of(n)) {
	case -1:
		set_bal(n, 0);
		return true;
	case 0:
		set_bal(n, +1);
		return false;
	default:
		*p = rotate_left(n, &shorter);
		return shorter;
	}
}

/* *p's right subtree lost a level; true if *p did too. */
static bool
right_shorter(struct idnode **p)
{
	struct idnode *n = *p;
	bool shorter;

	switch (bal_of(n)) {
	case +1:
		set_bal(n, 0);
		return true;
	case 0:
		set_bal(n, -1);
		return false;
	default:
		*p = rotate_right(n, &shorter);
		return shorter;
	}
}

/* Takes the least node out of the non-empty subtree *p into *min; true if
 * the subtree lost a level. */
static bool
remove_min(struct idnode **p, struct idnode **min)
{
	struct idnode *n = *p, *l = left_of(n);

	if (l == NULL) {
		*min = n;
		*p = n->right;
		return true;
	}
	bool shorter = remove_min(&l, min);
	set_left(n, l);
	return shorter && left_shorter(p);
}

/* Takes x (key k) out of the subtree *p; true if it lost a level. */
static bool
remove_at(const struct idtree *t, struct idnode **p, struct idnode *x,
          uint64_t k)
{
	struct idnode *n = *p, *m;

	assert(n != NULL);
	if (n != x) {
		if (k < idtree_key(t, n)) {
			struct idnode *l = left_of(n);
			bool shorter = remove_at(t, &l, x, k);
			set_left(n, l);
			return shorter && left_shorter(p);
		}
		return remove_at(t, &n->right, x, k) && right_shorter(p);
	}
	if (left_of(n) == NULL) {
		*p = n->right;
		return true;
	}
	if (n->right == NULL) {
		*p = left_of(n);
		return true;
	}
	/* the next node up takes x's place, children and balance */
	struct idnode *r = n->right;
	bool shorter = remove_min(&r, &m);
	m->left = n->left;
	m->right = r;
	*p = m;
	return shorter && right_shorter(p);
}

void
idtree_remove(struct idtree *t, struct idnode *x)
{
	(void) remove_at(t, &t->root, x, idtree_key(t, x));
	t->n--;
}

struct idnode *
idtree_find(const struct idtree *t, uint64_t key)
{
	struct idnode *n = t->root;

	while (n != NULL && idtree_key(t, n) != key)
		n = key < idtree_key(t, n) ? left_of(n) : n->right;
	return n;
}

/*
 * The walk's stack holds the nodes still to visit whose right subtree is
 * done: on top the next one; below each node, one of its ancestors. Each
 * node is pushed and popped once, and the stack is part of one path from
 * the root: it never holds more than the tree's height.
 */
void
idtree_walk_below(struct idtree_walk *w, const struct idtree *t,
                  uint64_t before)
{
	struct idnode *n = t->root;

	w->t = t;
	w->depth = 0;
	while (n != NULL) {
		if (before == 0 || idtree_key(t, n) < before) {
			assert(w->depth < IDTREE_MAX_HEIGHT);
			w->stack[w->depth++] = n;
			n = n->right;
		} else {
			n = left_of(n);
		}
	}
}

struct idnode *
idtree_walk_next(struct idtree_walk *w)
{
	if (w->depth == 0)
		return NULL;
	struct idnode *x = w->stack[--w->depth];
	for (struct idnode *n = left_of(x); n != NULL; n = n->right) {
		assert(w->depth < IDTREE_MAX_HEIGHT);
		w->stack[w->depth++] = n;
	}
	return x;
}

/* The height of the subtree n, whose keys lie in (lo, hi) (0: no bound),
 * counting its nodes in *n; -1 if anything is wrong below it. */
static int
check_at(const struct idtree *t, const struct idnode *x, uint64_t lo,
         uint64_t hi, size_t *n)
{
	if (x == NULL)
		return 0;
	uint64_t k = idtree_key(t, x);
	if ((x->left & BAL_MASK) == BAL_MASK || (lo != 0 && k <= lo) ||
	    (hi != 0 && k >= hi))
		return -1;
	int hl = check_at(t, left_of(x), lo, k, n);
	int hr = check_at(t, x->right, k, hi, n);
	if (hl < 0 || hr < 0 || hr - hl != bal_of(x))
		return -1;
	(*n)++;
	return 1 + (hl > hr ? hl : hr);
}

int
idtree_check(const struct idtree *t)
{
	size_t n = 0;
	int h = check_at(t, t->root, 0, 0, &n);
	return h >= 0 && h <= IDTREE_MAX_HEIGHT && n == t->n ? 0 : -1;
}

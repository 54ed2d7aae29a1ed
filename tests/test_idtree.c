/*
 * Unit tests of the ordered index (daemon/idtree.c): random inserts and
 * removes checked against a reference set after every step (shape and
 * balance, and every walk), and the orders a scheduler meets: ids that
 * only grow (start-up loading), and taking out the oldest.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "idtree.h"
#include "test.h"

/* A record as the scheduler has them: the key apart from the node. */
struct rec {
	uint64_t id;
	int pad;
	struct idnode node;
};

#define KEY_OFF                                                                \
	((ptrdiff_t) offsetof(struct rec, id) -                                \
	 (ptrdiff_t) offsetof(struct rec, node))

static struct rec *
rec_of(struct idnode *x)
{
	return (struct rec *) (void *) ((char *) x -
	                                offsetof(struct rec, node));
}

/* A small deterministic generator (xorshift64*), for reproducible runs. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(uint64_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (rng * 2685821657736338717ULL) % n;
}

/* The walk below `before` gives exactly the keys of in[] below it, highest
 * first (keys are 1..n). */
static bool
walk_matches(const struct idtree *t, const bool *in, uint64_t n,
             uint64_t before)
{
	struct idtree_walk w;
	struct idnode *x;
	uint64_t k = (before == 0 || before > n + 1) ? n + 1 : before;

	idtree_walk_below(&w, t, before);
	while ((x = idtree_walk_next(&w)) != NULL) {
		uint64_t id = rec_of(x)->id;
		while (--k > id)
			if (in[k])
				return false; /* skipped one */
		if (k != id || !in[id])
			return false; /* out of order, or not in the set */
	}
	while (--k > 0)
		if (in[k])
			return false;
	return true;
}

static void
test_random_against_reference(void)
{
	enum { N = 2000, STEPS = 40000 };
	struct rec *r = calloc(N + 1, sizeof(*r));
	bool *in = calloc(N + 1, sizeof(*in));
	struct idtree t;
	size_t count = 0;
	int bad = 0;

	REQUIRE(r != NULL && in != NULL);
	idtree_init(&t, KEY_OFF);
	for (uint64_t i = 1; i <= N; i++)
		r[i].id = i;
	for (int step = 0; step < STEPS; step++) {
		uint64_t k = 1 + rnd(N);
		/* more inserts than removes early on, then the reverse */
		bool grow = step < STEPS / 2 ? rnd(3) != 0 : rnd(3) == 0;
		if (!in[k] && grow) {
			idtree_insert(&t, &r[k].node);
			in[k] = true;
			count++;
		} else if (in[k] && !grow) {
			idtree_remove(&t, &r[k].node);
			in[k] = false;
			count--;
		}
		if (t.n != count || idtree_check(&t) != 0)
			bad++;
		if (step % 97 == 0) {
			uint64_t b = rnd(N + 3);
			if (!walk_matches(&t, in, N, b) ||
			    !walk_matches(&t, in, N, 0))
				bad++;
			uint64_t f = 1 + rnd(N);
			struct idnode *x = idtree_find(&t, f);
			if ((x != NULL) != in[f] ||
			    (x != NULL && rec_of(x)->id != f))
				bad++;
		}
		if (bad > 0)
			break;
	}
	CHECK_EQ_INT(bad, 0);
	/* and empty again */
	for (uint64_t i = 1; i <= N; i++)
		if (in[i])
			idtree_remove(&t, &r[i].node);
	CHECK(t.n == 0 && t.root == NULL);
	free(r);
	free(in);
}

/* Ids that only grow, as start-up loads them, then removed oldest first
 * (a queue served in order) and newest first: the tree stays balanced. */
static void
test_monotonic(void)
{
	enum { N = 100000 };
	struct rec *r = calloc(N + 1, sizeof(*r));
	struct idtree t;
	struct idtree_walk w;

	REQUIRE(r != NULL);
	idtree_init(&t, KEY_OFF);
	for (uint64_t i = 1; i <= N; i++) {
		r[i].id = i;
		idtree_insert(&t, &r[i].node);
	}
	CHECK_EQ_INT(t.n, N);
	CHECK_EQ_INT(idtree_check(&t), 0);
	/* a page from the middle */
	idtree_walk_below(&w, &t, 50001);
	for (uint64_t want = 50000; want > 49990; want--) {
		struct idnode *x = idtree_walk_next(&w);
		REQUIRE(x != NULL);
		CHECK_EQ_INT(rec_of(x)->id, want);
	}
	idtree_walk_below(&w, &t, 1);
	CHECK(idtree_walk_next(&w) == NULL);
	for (uint64_t i = 1; i <= N / 2; i++)
		idtree_remove(&t, &r[i].node);
	CHECK_EQ_INT(idtree_check(&t), 0);
	for (uint64_t i = N; i > N / 2; i--)
		idtree_remove(&t, &r[i].node);
	CHECK(t.n == 0 && t.root == NULL);
	CHECK_EQ_INT(idtree_check(&t), 0);
	free(r);
}

TEST_MAIN({"random_against_reference", test_random_against_reference},
          {"monotonic", test_monotonic})

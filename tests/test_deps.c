/*
 * Unit tests of the dependency edges (daemon/deps.c): many edges across
 * the table's growth, take of one id leaving the others, drop of one edge
 * among several, many waiters on one id, and ids that share a bucket.
 * Each case checks the edge count (deps.n) and, by taking every id, that
 * exactly the edges expected are left.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "deps.h"
#include "test.h"

/* Adds the edge waiter -> on, with room made first as the scheduler does. */
static void
add(struct deps *d, uint64_t on, uint64_t waiter)
{
	struct dep_edge *e = deps_edge_new();
	REQUIRE(e != NULL);
	REQUIRE(deps_reserve(d, 1) == 0);
	deps_add(d, e, on, waiter);
}

/* Takes the edges on `on`: how many, each checked to be on `on`, the sum
 * of their waiters in *sum; frees them. */
static size_t
take(struct deps *d, uint64_t on, uint64_t *sum)
{
	size_t n = 0;
	uint64_t s = 0;

	for (struct dep_edge *e = deps_take(d, on), *next; e != NULL;
	     e = next) {
		next = e->next;
		CHECK(e->on == on);
		s += e->waiter;
		n++;
		free(e);
	}
	if (sum != NULL)
		*sum = s;
	return n;
}

static void
test_empty(void)
{
	struct deps d;

	deps_init(&d);
	CHECK(deps_take(&d, 1) == NULL);
	deps_drop(&d, 1, 2); /* no table yet: nothing happens */
	CHECK_EQ_INT(d.n, 0);
	deps_fini(&d);
	deps_fini(&d); /* twice: the table is reset */
	CHECK(d.b == NULL && d.nb == 0);
}

static void
test_many_edges_growth(void)
{
	enum { N = 20000 };
	struct deps d;
	size_t nb0;
	int bad = 0;

	deps_init(&d);
	add(&d, 1, 2);
	nb0 = d.nb;
	CHECK(nb0 > 0 && (nb0 & (nb0 - 1)) == 0);
	/* job i+N waits for job i, for i in 2..N: a chain of ids in order */
	for (uint64_t i = 2; i <= N; i++)
		add(&d, i, i + N);
	CHECK_EQ_INT(d.n, N);
	CHECK(d.nb > nb0);
	CHECK(d.nb >= d.n);              /* at most one edge per bucket */
	CHECK((d.nb & (d.nb - 1)) == 0); /* a power of two */
	/* every edge survived the rehashes, each under its own id */
	for (uint64_t i = N; i >= 1; i--) {
		uint64_t sum;
		size_t k = take(&d, i, &sum);
		if (k != 1 || sum != (i == 1 ? 2 : i + N))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(d.n, 0);
	deps_fini(&d);
}

static void
test_take_leaves_others(void)
{
	struct deps d;
	uint64_t sum;

	deps_init(&d);
	add(&d, 10, 100);
	add(&d, 11, 101);
	add(&d, 10, 102);
	add(&d, 12, 103);
	CHECK_EQ_INT(take(&d, 10, &sum), 2);
	CHECK_EQ_INT(sum, 202);
	CHECK_EQ_INT(d.n, 2);
	CHECK(deps_take(&d, 10) == NULL); /* taken once, gone */
	CHECK_EQ_INT(take(&d, 11, &sum), 1);
	CHECK_EQ_INT(sum, 101);
	CHECK_EQ_INT(take(&d, 12, &sum), 1);
	CHECK_EQ_INT(sum, 103);
	CHECK_EQ_INT(d.n, 0);
	CHECK(deps_take(&d, 99) == NULL); /* an id never waited for */
	deps_fini(&d);
}

static void
test_drop_one(void)
{
	struct deps d;
	uint64_t sum;

	deps_init(&d);
	add(&d, 5, 50);
	add(&d, 5, 51);
	add(&d, 5, 52);
	add(&d, 6, 51); /* the same waiter on another id */
	deps_drop(&d, 5, 51);
	CHECK_EQ_INT(d.n, 3);
	deps_drop(&d, 5, 51); /* not there any more: nothing */
	deps_drop(&d, 7, 51); /* never there */
	deps_drop(&d, 5, 99);
	CHECK_EQ_INT(d.n, 3);
	CHECK_EQ_INT(take(&d, 5, &sum), 2);
	CHECK_EQ_INT(sum, 50 + 52);
	CHECK_EQ_INT(take(&d, 6, &sum), 1);
	CHECK_EQ_INT(sum, 51);
	/* drop of the only edge, then of the first and last of a chain */
	add(&d, 8, 80);
	deps_drop(&d, 8, 80);
	CHECK(deps_take(&d, 8) == NULL);
	add(&d, 9, 90);
	add(&d, 9, 91);
	add(&d, 9, 92);
	deps_drop(&d, 9, 90);
	deps_drop(&d, 9, 92);
	CHECK_EQ_INT(take(&d, 9, &sum), 1);
	CHECK_EQ_INT(sum, 91);
	CHECK_EQ_INT(d.n, 0);
	deps_fini(&d);
}

static void
test_many_waiters_one_id(void)
{
	enum { W = 5000 };
	struct deps d;
	uint64_t sum;

	deps_init(&d);
	for (uint64_t w = 1; w <= W; w++)
		add(&d, 7, 1000 + w);
	add(&d, 8, 1);
	CHECK_EQ_INT(d.n, W + 1);
	/* a few dropped out of the middle */
	deps_drop(&d, 7, 1000 + 1);
	deps_drop(&d, 7, 1000 + W / 2);
	deps_drop(&d, 7, 1000 + W);
	CHECK_EQ_INT(take(&d, 7, &sum), W - 3);
	CHECK_EQ_INT(sum, (uint64_t) W * 1000 + (uint64_t) W * (W + 1) / 2 -
	                      (1000 + 1) - (1000 + W / 2) - (1000 + W));
	CHECK_EQ_INT(d.n, 1);
	CHECK_EQ_INT(take(&d, 8, &sum), 1);
	deps_fini(&d);
}

/* The same hash as deps.c, to find ids that share a bucket. */
static size_t
bucket_of(uint64_t id, size_t nb)
{
	return (size_t) ((id * 0x9e3779b97f4a7c15ULL) >> 17) & (nb - 1);
}

static void
test_bucket_collisions(void)
{
	enum { K = 8 };
	struct deps d;
	uint64_t ids[K], sum;
	size_t nk = 0, nb;

	deps_init(&d);
	REQUIRE(deps_reserve(&d, 1) == 0);
	nb = d.nb;
	/* K ids in the bucket of id 1 at this size */
	for (uint64_t id = 1; nk < K && id < 100000000; id++)
		if (bucket_of(id, nb) == bucket_of(1, nb))
			ids[nk++] = id;
	REQUIRE(nk == K);
	for (size_t i = 0; i < K; i++) {
		add(&d, ids[i], 100 + i);
		add(&d, ids[i], 200 + i);
	}
	REQUIRE(d.nb == nb); /* still the same table: they do collide */
	/* one edge dropped out of the shared chain, one id taken */
	deps_drop(&d, ids[3], 200 + 3);
	CHECK_EQ_INT(take(&d, ids[5], &sum), 2);
	CHECK_EQ_INT(sum, 100 + 5 + 200 + 5);
	CHECK(deps_take(&d, ids[5]) == NULL);
	for (size_t i = 0; i < K; i++) {
		if (i == 5)
			continue;
		size_t k = take(&d, ids[i], &sum);
		CHECK_EQ_INT(k, i == 3 ? 1 : 2);
		CHECK_EQ_INT(sum, i == 3 ? 100 + i : 300 + 2 * i);
	}
	CHECK_EQ_INT(d.n, 0);
	deps_fini(&d);
}

static void
test_reserve(void)
{
	struct deps d;
	struct dep_edge *e[100];
	size_t nb;

	deps_init(&d);
	/* room for 100 made at once: adding them does not grow the table */
	REQUIRE(deps_reserve(&d, 100) == 0);
	nb = d.nb;
	CHECK(nb >= 100);
	for (int i = 0; i < 100; i++)
		REQUIRE((e[i] = deps_edge_new()) != NULL);
	for (int i = 0; i < 100; i++)
		deps_add(&d, e[i], (uint64_t) i % 7 + 1, (uint64_t) i + 1000);
	CHECK(d.nb == nb);
	CHECK_EQ_INT(d.n, 100);
	/* nothing more asked for: no change */
	REQUIRE(deps_reserve(&d, 0) == 0);
	CHECK(d.nb == nb);
	/* an impossible size fails and leaves the table as it was */
	CHECK(deps_reserve(&d, SIZE_MAX / 2) == -1);
	CHECK(d.nb == nb);
	CHECK_EQ_INT(d.n, 100);
	size_t total = 0;
	for (uint64_t on = 1; on <= 7; on++)
		total += take(&d, on, NULL);
	CHECK_EQ_INT(total, 100);
	/* fini frees edges still in the table (ASan would tell) */
	add(&d, 1, 2);
	add(&d, 3, 4);
	deps_fini(&d);
}

TEST_MAIN({"empty", test_empty}, {"many_edges_growth", test_many_edges_growth},
          {"take_leaves_others", test_take_leaves_others},
          {"drop_one", test_drop_one},
          {"many_waiters_one_id", test_many_waiters_one_id},
          {"bucket_collisions", test_bucket_collisions},
          {"reserve", test_reserve})

/*
 * Unit tests of the unique keys table (daemon/ukeys.c): open addressing
 * with linear probing and deletion by backward shift. Random adds and
 * deletes against a reference (a flag per entry) with a fixed seed, every
 * entry checked findable or not after each batch; deletes in the middle
 * of probe runs (a small table kept dense, and keys chosen to share a home
 * slot); growth; entries with the same key text are told apart by pointer.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ukeys.h"

/* An entry as the scheduler has them: the key inside a larger record. */
struct ent {
	int pad;
	char key[24];
};

static const char *
ent_key(const void *e)
{
	return ((const struct ent *) e)->key;
}

/* A small deterministic generator (xorshift64*), for reproducible runs. */
static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t
rnd(uint64_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (rng * 2685821657736338717ULL) % n;
}

/* Every entry findable when `in`, not when not; the count of slots used
 * is n. Returns the number of mismatches. */
static int
check_all(const struct ukeys *u, struct ent *e, const bool *in, size_t n)
{
	size_t used = 0, want = 0;
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		void *f = ukeys_find(u, e[i].key);
		if (in[i] ? f != &e[i] : f != NULL)
			bad++;
		want += in[i];
	}
	for (size_t i = 0; i < u->cap; i++)
		used += u->slots[i] != NULL;
	if (used != want || u->n != want)
		bad++;
	/* at most half full */
	if (u->cap != 0 && u->n * 2 > u->cap)
		bad++;
	return bad;
}

static void
test_empty(void)
{
	struct ukeys u;
	struct ent e = {0, "a"};

	ukeys_init(&u, ent_key);
	CHECK(ukeys_find(&u, "a") == NULL);
	ukeys_del(&u, &e); /* no table: nothing */
	CHECK_EQ_INT(u.n, 0);
	ukeys_fini(&u);
	ukeys_fini(&u);
	CHECK(u.slots == NULL && u.cap == 0 && u.key == ent_key);
}

static void
test_add_find_del(void)
{
	struct ukeys u;
	struct ent a = {0, "alpha"}, b = {0, "beta"}, a2 = {0, "alpha"};

	ukeys_init(&u, ent_key);
	REQUIRE(ukeys_reserve(&u, 2) == 0);
	ukeys_add(&u, &a);
	ukeys_add(&u, &b);
	CHECK(ukeys_find(&u, "alpha") == &a);
	CHECK(ukeys_find(&u, "beta") == &b);
	CHECK(ukeys_find(&u, "gamma") == NULL);
	CHECK(ukeys_find(&u, "") == NULL);
	CHECK_EQ_INT(u.n, 2);
	/* another entry with the same key text is not the one in the table:
	 * deleting it changes nothing */
	ukeys_del(&u, &a2);
	CHECK(ukeys_find(&u, "alpha") == &a);
	CHECK_EQ_INT(u.n, 2);
	ukeys_del(&u, &a);
	CHECK(ukeys_find(&u, "alpha") == NULL);
	CHECK(ukeys_find(&u, "beta") == &b);
	ukeys_del(&u, &a); /* twice: nothing */
	CHECK_EQ_INT(u.n, 1);
	/* the key is free again: a new entry may take it */
	REQUIRE(ukeys_reserve(&u, 1) == 0);
	ukeys_add(&u, &a2);
	CHECK(ukeys_find(&u, "alpha") == &a2);
	ukeys_fini(&u);
}

static void
test_growth(void)
{
	enum { N = 50000 };
	struct ukeys u;
	struct ent *e = calloc(N, sizeof(*e));
	bool *in = calloc(N, sizeof(*in));
	size_t cap = 0;
	int grew = 0;

	REQUIRE(e != NULL && in != NULL);
	ukeys_init(&u, ent_key);
	for (size_t i = 0; i < N; i++) {
		snprintf(e[i].key, sizeof(e[i].key), "job-%zu", i);
		REQUIRE(ukeys_reserve(&u, 1) == 0);
		ukeys_add(&u, &e[i]);
		in[i] = true;
		if (u.cap != cap) {
			CHECK((u.cap & (u.cap - 1)) == 0);
			CHECK(u.cap > cap);
			cap = u.cap;
			grew++;
		}
	}
	CHECK(grew > 10);
	CHECK_EQ_INT(check_all(&u, e, in, N), 0);
	/* room for many at once: no growth while adding them */
	ukeys_fini(&u);
	ukeys_init(&u, ent_key);
	REQUIRE(ukeys_reserve(&u, N) == 0);
	cap = u.cap;
	CHECK(cap >= 2 * N);
	for (size_t i = 0; i < N; i++)
		ukeys_add(&u, &e[i]);
	CHECK(u.cap == cap);
	CHECK_EQ_INT(check_all(&u, e, in, N), 0);
	/* an impossible size fails and changes nothing */
	CHECK(ukeys_reserve(&u, SIZE_MAX / 4) == -1);
	CHECK(u.cap == cap);
	CHECK_EQ_INT(u.n, N);
	ukeys_fini(&u);
	free(e);
	free(in);
}

/*
 * Random adds and deletes against the reference, in a table that never
 * grows past 64 slots and is kept up to half full, so that probe runs
 * are long and deletes fall inside them (every entry checked after each
 * step); then the same at a larger size with growth (checked every
 * `every` steps).
 */
static void
random_run(size_t n, size_t steps, size_t live_max, size_t every)
{
	struct ukeys u;
	struct ent *e = calloc(n, sizeof(*e));
	bool *in = calloc(n, sizeof(*in));
	size_t live = 0;
	int bad = 0;

	REQUIRE(e != NULL && in != NULL);
	for (size_t i = 0; i < n; i++)
		snprintf(e[i].key, sizeof(e[i].key), "k%zx", i * 7919);
	ukeys_init(&u, ent_key);
	for (size_t s = 0; s < steps; s++) {
		size_t i = (size_t) rnd(n);
		if (in[i]) {
			ukeys_del(&u, &e[i]);
			in[i] = false;
			live--;
		} else if (live < live_max) {
			REQUIRE(ukeys_reserve(&u, 1) == 0);
			CHECK(ukeys_find(&u, e[i].key) == NULL);
			ukeys_add(&u, &e[i]);
			in[i] = true;
			live++;
		}
		if (s % every == 0 || s + 1 == steps)
			bad += check_all(&u, e, in, n);
		if (bad > 0)
			break;
	}
	CHECK_EQ_INT(bad, 0);
	/* all deleted, in random order */
	for (size_t left = live; left > 0;) {
		size_t i = (size_t) rnd(n);
		if (!in[i])
			continue;
		ukeys_del(&u, &e[i]);
		in[i] = false;
		left--;
		if (left % every == 0)
			bad += check_all(&u, e, in, n);
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(u.n, 0);
	ukeys_fini(&u);
	free(e);
	free(in);
}

static void
test_random_dense(void)
{
	random_run(200, 60000, 32, 1); /* 32 live in 64 slots: runs wrap */
}

static void
test_random_large(void)
{
	random_run(20000, 200000, 20000, 4096);
}

/* The same hash as ukeys.c, to make keys that share a home slot. */
static size_t
hash_of(const char *k)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *k; k++)
		h = (h ^ (unsigned char) *k) * 1099511628211ULL;
	return (size_t) (h ^ (h >> 29));
}

static void
test_delete_in_probe_run(void)
{
	enum { K = 6, CAP = 16 };
	struct ent same[K], next[K], wrap[2];
	struct ukeys u;
	size_t ns = 0, nn = 0, nw = 0;
	char key[24];

	/* keys whose home is slot 3 of 16, keys whose home is slot 4 (they
	 * land behind the first run), and two at slot 15 (their run wraps
	 * to slot 0) */
	for (unsigned i = 0; ns < K || nn < K || nw < 2; i++) {
		snprintf(key, sizeof(key), "c%u", i);
		size_t h = hash_of(key) & (CAP - 1);
		struct ent *to = h == 3 && ns < K    ? &same[ns++]
		                 : h == 4 && nn < K  ? &next[nn++]
		                 : h == 15 && nw < 2 ? &wrap[nw++]
		                                     : NULL;
		if (to != NULL) {
			to->pad = 0;
			memcpy(to->key, key, sizeof(key));
		}
		REQUIRE(i < 1000000);
	}
	ukeys_init(&u, ent_key);
	REQUIRE(ukeys_reserve(&u, 8) == 0);
	REQUIRE(u.cap == CAP);
	/* slot 3 same0, 4 same1, 5 next0, 6 same2, 7 next1; 15 wrap0 and
	 * (wrapped) 0 wrap1 */
	ukeys_add(&u, &same[0]);
	ukeys_add(&u, &same[1]);
	ukeys_add(&u, &next[0]);
	ukeys_add(&u, &same[2]);
	ukeys_add(&u, &next[1]);
	ukeys_add(&u, &wrap[0]);
	ukeys_add(&u, &wrap[1]);
	REQUIRE(u.cap == CAP); /* 7 in 16: no growth */
	CHECK(u.slots[15] == &wrap[0] && u.slots[0] == &wrap[1]);
	CHECK(u.slots[3] == &same[0] && u.slots[4] == &same[1] &&
	      u.slots[5] == &next[0] && u.slots[6] == &same[2] &&
	      u.slots[7] == &next[1]);
	/* delete the head of the run: the rest shift back */
	ukeys_del(&u, &same[0]);
	CHECK(ukeys_find(&u, same[0].key) == NULL);
	CHECK(ukeys_find(&u, same[1].key) == &same[1]);
	CHECK(ukeys_find(&u, same[2].key) == &same[2]);
	CHECK(ukeys_find(&u, next[0].key) == &next[0]);
	CHECK(ukeys_find(&u, next[1].key) == &next[1]);
	/* each moved back one slot */
	CHECK(u.slots[3] == &same[1] && u.slots[4] == &next[0] &&
	      u.slots[5] == &same[2] && u.slots[6] == &next[1] &&
	      u.slots[7] == NULL);
	/* delete in the middle */
	ukeys_del(&u, &next[0]);
	CHECK(ukeys_find(&u, same[1].key) == &same[1]);
	CHECK(ukeys_find(&u, same[2].key) == &same[2]);
	CHECK(ukeys_find(&u, next[1].key) == &next[1]);
	CHECK(ukeys_find(&u, next[0].key) == NULL);
	/* the run that wraps: delete its first, the second moves to 15 */
	ukeys_del(&u, &wrap[0]);
	CHECK(ukeys_find(&u, wrap[1].key) == &wrap[1]);
	CHECK(u.slots[15] == &wrap[1] && u.slots[0] == NULL);
	CHECK_EQ_INT(u.n, 4);
	size_t used = 0;
	for (size_t i = 0; i < u.cap; i++)
		used += u.slots[i] != NULL;
	CHECK_EQ_INT(used, 4);
	ukeys_fini(&u);
}

TEST_MAIN({"empty", test_empty}, {"add_find_del", test_add_find_del},
          {"growth", test_growth}, {"random_dense", test_random_dense},
          {"random_large", test_random_large},
          {"delete_in_probe_run", test_delete_in_probe_run})

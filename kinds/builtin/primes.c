/*
 * primes: counts the primes up to `limit` with a segmented sieve. Memory
 * is bounded whatever the limit: one segment of PRIMES_SEGMENT bytes plus
 * the base primes up to sqrt(limit). It reports progress once per segment.
 */
#include "builtin.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* bytes of one sieve segment, one byte per odd number */
#define PRIMES_SEGMENT (256 * 1024)

/* floor(sqrt(n)), exactly. */
static uint64_t
isqrt(uint64_t n)
{
	uint64_t s = (uint64_t) sqrt((double) n);

	while (s > 0 && s * s > n)
		s--;
	while ((s + 1) * (s + 1) <= n)
		s++;
	return s;
}

/*
 * A segmented sieve over odd numbers only: index j stands for 2j + 1. The
 * base primes (odd, up to sqrt(limit)) come from a plain sieve; each keeps
 * the index of its next odd multiple to strike, carried from one segment to
 * the next. Memory: one segment plus about 12 bytes per base prime.
 */
static int
primes_run(jobd_job *job, const struct jobd_host *host)
{
	uint64_t limit = (uint64_t) host->param_int(job, "limit");
	uint64_t root = isqrt(limit);
	uint64_t jmax = (limit - 1) / 2; /* last index: 2 * jmax + 1 <= limit */
	uint64_t count = limit >= 2 ? 1 : 0; /* the prime 2 */
	unsigned char *small = NULL, *seg = NULL;
	uint32_t *base = NULL;
	uint64_t *next = NULL;
	size_t nbase = 0;
	int rv = JOBD_RUN_OK;
	char buf[24];
	int len;

	if ((small = calloc(root + 1, 1)) == NULL ||
	    (seg = malloc(PRIMES_SEGMENT)) == NULL) {
		rv = host->fail(job, "out of memory");
		goto out;
	}
	/* small[i] != 0: i is composite, for odd i <= root. */
	for (uint64_t i = 3; i * i <= root; i += 2)
		if (!small[i])
			for (uint64_t m = i * i; m <= root; m += 2 * i)
				small[m] = 1;
	for (uint64_t i = 3; i <= root; i += 2)
		if (!small[i])
			nbase++;
	if (nbase > 0 && ((base = malloc(nbase * sizeof(*base))) == NULL ||
	                  (next = malloc(nbase * sizeof(*next))) == NULL)) {
		rv = host->fail(job, "out of memory");
		goto out;
	}
	nbase = 0;
	for (uint64_t i = 3; i <= root; i += 2) {
		if (!small[i]) {
			base[nbase] = (uint32_t) i;
			next[nbase] = (i * i - 1) / 2;
			nbase++;
		}
	}

	for (uint64_t lo = 1; lo <= jmax; lo += PRIMES_SEGMENT) {
		uint64_t hi = jmax + 1 - lo < PRIMES_SEGMENT
		                  ? jmax + 1
		                  : lo + PRIMES_SEGMENT;
		size_t len = (size_t) (hi - lo);
		uint64_t done = 2 * lo < limit ? 2 * lo : limit;
		size_t composite = 0;

		if (host->progress(job, done, limit) != 0) {
			rv = JOBD_RUN_STOPPED;
			goto out;
		}
		memset(seg, 0, len);
		for (size_t b = 0; b < nbase; b++) {
			uint64_t j = next[b], p = base[b];
			for (; j < hi; j += p)
				seg[j - lo] = 1;
			next[b] = j;
		}
		for (size_t i = 0; i < len; i++)
			composite += seg[i];
		count += len - composite;
	}
	len = snprintf(buf, sizeof(buf), "%" PRIu64, count);
	if (host->set_result(job, buf, (size_t) len) != 0)
		rv = host->fail(job, "out of memory");
out:
	free(next);
	free(base);
	free(seg);
	free(small);
	return rv;
}

static const struct jobd_param primes_params[] = {
    {
        .name = "limit",
        .type = JOBD_PARAM_INT,
        .required = 1,
        .min = 2,
        .max = INT64_C(10000000000),
        .desc = "count the primes up to and including this number",
    },
};

static const struct jobd_kind primes_kind = {
    .name = "primes",
    .desc = "counts the primes up to limit with a segmented sieve; result: "
            "the count",
    .params = primes_params,
    .nparams = sizeof(primes_params) / sizeof(primes_params[0]),
    .run = primes_run,
};

int
builtin_primes(struct jobd_registrar *reg)
{
	return reg->add_kind(reg, &primes_kind);
}

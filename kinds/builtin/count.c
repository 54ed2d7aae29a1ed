/*
 * count: a busy loop of n iterations. The work is honest: an empty asm
 * statement keeps the compiler from folding the loop away. It reports
 * progress every COUNT_CHUNK iterations, a fraction of a millisecond, which
 * is also where the worker gives the CPU back to the front.
 */
#include "builtin.h"

#include <inttypes.h>
#include <stdio.h>

/* iterations between two progress calls */
#define COUNT_CHUNK (UINT64_C(1) << 18)

static int
count_run(jobd_job *job, const struct jobd_host *host)
{
	uint64_t n = (uint64_t) host->param_int(job, "n");
	uint64_t x = 0;
	char buf[24];
	int len;

	for (uint64_t done = 0; done < n;) {
		uint64_t chunk =
		    n - done < COUNT_CHUNK ? n - done : COUNT_CHUNK;

		if (host->progress(job, done, n) != 0)
			return JOBD_RUN_STOPPED;
		for (uint64_t i = 0; i < chunk; i++) {
			x += i;
			/* The compiler must assume x is read and changed
			 * here, so it can neither fold nor skip the loop. */
			__asm__ volatile("" : "+r"(x));
		}
		done += chunk;
	}
	len = snprintf(buf, sizeof(buf), "%" PRIu64, n);
	if (host->set_result(job, buf, (size_t) len) != 0)
		return host->fail(job, "out of memory");
	return JOBD_RUN_OK;
}

static const struct jobd_param count_params[] = {
    {
        .name = "n",
        .type = JOBD_PARAM_INT,
        .required = 1,
        .min = 1,
        .max = INT64_C(100000000000),
        .desc = "number of loop iterations to run",
    },
};

static const struct jobd_kind count_kind = {
    .name = "count",
    .desc = "runs a busy loop of n iterations; result: n",
    .params = count_params,
    .nparams = sizeof(count_params) / sizeof(count_params[0]),
    .run = count_run,
};

int
builtin_count(struct jobd_registrar *reg)
{
	return reg->add_kind(reg, &count_kind);
}

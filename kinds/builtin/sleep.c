/*
 * sleep: waits without using the CPU, in naps of at most SLEEP_SLICE_MS
 * measured against the monotonic clock, so an early wake-up (a signal)
 * costs nothing and a stop is seen in time.
 */
#include "builtin.h"

#include <time.h>

/* the longest single nap, in milliseconds */
#define SLEEP_SLICE_MS 20

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int
sleep_run(jobd_job *job, const struct jobd_host *host)
{
	uint64_t ms = (uint64_t) host->param_int(job, "ms");
	uint64_t start = mono_ms(), elapsed;

	while ((elapsed = mono_ms() - start) < ms) {
		uint64_t slice = ms - elapsed < SLEEP_SLICE_MS ? ms - elapsed
		                                               : SLEEP_SLICE_MS;
		struct timespec ts = {
		    .tv_sec = 0,
		    .tv_nsec = (long) slice * 1000000L,
		};

		if (host->progress(job, elapsed, ms) != 0)
			return JOBD_RUN_STOPPED;
		(void) nanosleep(&ts, NULL);
	}
	return JOBD_RUN_OK;
}

static const struct jobd_param sleep_params[] = {
    {
        .name = "ms",
        .type = JOBD_PARAM_INT,
        .required = 1,
        .min = 0,
        .max = INT64_C(86400000),
        .desc = "milliseconds to wait",
    },
};

static const struct jobd_kind sleep_kind = {
    .name = "sleep",
    .desc = "waits ms milliseconds without using the CPU; result: empty",
    .params = sleep_params,
    .nparams = sizeof(sleep_params) / sizeof(sleep_params[0]),
    .run = sleep_run,
};

int
builtin_sleep(struct jobd_registrar *reg)
{
	return reg->add_kind(reg, &sleep_kind);
}

#ifndef JOBD_CLOCK_H
#define JOBD_CLOCK_H

/* clock: milliseconds of a clock, and absolute times for timed waits. */

#include <stdint.h>
#include <time.h>

/* Now on clock `id`, in milliseconds. */
static inline int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The time `ms` from now on clock `id`, for pthread_cond_timedwait. */
static inline struct timespec
clock_after(clockid_t id, int64_t ms)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	ts.tv_sec += (time_t) (ms / 1000);
	ts.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

#endif

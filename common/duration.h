#ifndef JOBD_DURATION_H
#define JOBD_DURATION_H

/*
 * duration: the one grammar of a duration, wherever jobd or jobctl reads
 * one (jobd --grace, kind and schedule files, cron's `every`, jobctl
 * --in): one or more parts NUMBER UNIT, a whole decimal number and a unit
 * ms, s, m, h or d, in strictly descending units ("1h30m", "500ms",
 * "1d2h3m4s5ms"), with no blank, sign or anything else. Each caller says
 * its own messages and adds its own rules (a least value, whole seconds).
 */

#include <stdint.h>

/* Why a duration was refused; DURATION_OK (0) when it was not. */
enum duration_err {
	DURATION_OK,
	DURATION_EMPTY,  /* "" */
	DURATION_NUMBER, /* a part that does not start with a digit */
	DURATION_UNIT,   /* a number without one of the units after it */
	DURATION_ORDER,  /* a unit not smaller than the one before it */
	DURATION_RANGE,  /* above the caller's maximum (or 64 bits) */
};

/* The parts may come in any order and repeat; they are summed (jobctl
 * --in has always taken "30m1h"). */
#define DURATION_ANY_ORDER 1u

/*
 * s as a duration of at most max milliseconds into *ms. flags: 0 or
 * DURATION_ANY_ORDER. DURATION_OK, or the first thing wrong (*ms then
 * untouched).
 */
enum duration_err duration_parse(const char *s, uint64_t max, unsigned flags,
                                 uint64_t *ms);

#endif

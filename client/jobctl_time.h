#ifndef JOBCTL_TIME_H
#define JOBCTL_TIME_H

/*
 * jobctl_time: the times and durations jobctl reads (submit --at, --in)
 * and the times it prints. No network, no state: a library of its own so
 * that a unit test links exactly what jobctl runs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a parse failed, for "invalid --at 'X': WHY"; never NULL. */
typedef const char *ctl_time_err;

/*
 * A TIME into Unix milliseconds:
 *   2026-12-06T10:00:00Z, 2026-12-06T10:00:00.250+01:00  RFC 3339
 *   2026-12-06T10:00, 2026-12-06 10:00:30                 local time
 *   @1796551200                                           Unix seconds
 * 'T' may be a space or 't', 'Z' 'z'; seconds and a fraction (at most
 * nanoseconds, truncated to ms) are optional. A local time that does not
 * exist (skipped by a clock change) is refused; one that happens twice is
 * the first. Times before 1970 are refused. true, or false with *why set.
 */
bool ctl_parse_time(const char *s, int64_t *ms, ctl_time_err *why);

/*
 * A DURATION into milliseconds: one or more NUMBER UNIT parts, summed,
 * units ms, s, m, h, d: 500ms, 90s, 10m, 2h, 1d, 1h30m. Whole numbers
 * only; at most 100 years. true, or false with *why set.
 */
bool ctl_parse_duration(const char *s, uint64_t *ms, ctl_time_err *why);

/* Unix ms as RFC 3339 to the second, "2026-12-06T11:00:00+01:00" in the
 * local time zone, or "2026-12-06T10:00:00Z" with utc; what --at reads.
 * n >= 32 always suffices. */
void ctl_fmt_time(char *buf, size_t n, int64_t ms, bool utc);

#endif

#ifndef JOBD_TZ_H
#define JOBD_TZ_H

/*
 * tz: time zones from the system's TZif files (RFC 8536), for schedules.
 *
 * A zone is read once (tz_load) and is then immutable: any thread may use
 * it without locks. Times are Unix seconds; "local" times are wall-clock
 * seconds counted as if the wall clock were UTC (the same civil arithmetic
 * as for UTC, with the zone's offset added).
 */

#include <stddef.h>
#include <stdint.h>

/* The longest zone name, and the largest TZif file, that are read. */
#define TZ_NAME_MAX 128
#define TZ_MAX_FILE (512 * 1024)

typedef struct tz tz;

/*
 * Loads zone `name` ("Europe/Paris") from $TZDIR or /usr/share/zoneinfo.
 * "UTC" and "" are UTC without a file. A name that is absolute, holds
 * "..", or has characters other than [A-Za-z0-9_+-/] is refused; so is a
 * file that is not a valid TZif file (every count and offset is checked).
 * JOBD_OK, or JOBD_INVALID_ARGUMENT / JOBD_NOT_FOUND / JOBD_RESOURCE_EXHAUSTED
 * with the reason in err. *out is the caller's: tz_free.
 */
int tz_load(tz **out, const char *name, char *err, size_t errlen);
/* UTC: never fails (a static zone; tz_free ignores it). */
tz *tz_utc(void);
/* Accepts NULL and tz_utc(). */
void tz_free(tz *z);
/* The name it was loaded with ("UTC" for UTC). */
const char *tz_name(const tz *z);

/* The offset from UTC, in seconds east, at UTC instant t. */
int32_t tz_offset(const tz *z, int64_t t);

/* What a local wall time is in UTC. */
struct tz_local {
	int n;        /* 1: one instant; 2: twice (an overlap, t[0] < t[1]);
	                 0: skipped by a gap, t[0] = the first instant
	                 after the gap (the transition) */
	int64_t t[2]; /* Unix seconds */
};
void tz_from_local(const tz *z, int64_t local, struct tz_local *out);

/* Civil dates (proleptic Gregorian) to and from days since 1970-01-01. */
int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d);
void tz_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* Floor division of a by b > 0. */
int64_t tz_floordiv(int64_t a, int64_t b);
/* Unix seconds t as "2026-12-06T03:30:00Z" (UTC) into buf (n >= 21 for
 * years 0 to 9999). */
void tz_format_utc(int64_t t, char *buf, size_t n);

#endif

#ifndef JOBD_CRON_H
#define JOBD_CRON_H

/*
 * cron: when a schedule fires. Either a 5-field cron expression, read in a
 * time zone, or `every DURATION`, a grid of the Unix epoch. A parsed spec
 * is immutable: any thread may use it without locks.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tz.h"

/* The longest `every` period, in seconds (366 days). */
#define CRON_EVERY_MAX (366 * 86400)
/* How far ahead cron_next looks for a firing, in days (covers Feb 29 in
 * the 8 years of 2096..2104). */
#define CRON_HORIZON_DAYS (9 * 366)

typedef struct cron cron;

/*
 * Parses a cron expression ("30 3 * * 1-5", "@daily"). JOBD_OK, or
 * JOBD_INVALID_ARGUMENT with a message naming the field and the value in
 * err ("day-of-month: 32 is out of range 1-31"), or
 * JOBD_RESOURCE_EXHAUSTED. An expression that can never fire (such as
 * "0 0 30 2 *") is refused.
 */
int cron_parse(cron **out, const char *expr, char *err, size_t errlen);
/* Parses the duration of `every` ("30s", "5m", "1h30m", "1d"): 1 s to
 * CRON_EVERY_MAX, whole seconds. */
int cron_parse_every(cron **out, const char *dur, char *err, size_t errlen);
/* Accepts NULL. */
void cron_free(cron *c);
/* True for an `every` spec. */
bool cron_is_every(const cron *c);
/* The period of an `every` spec in seconds; 0 for a cron expression. */
int64_t cron_period(const cron *c);

/*
 * The first firing strictly after Unix second `after`, in zone z (unused
 * by `every`), into *next. JOBD_OK, or JOBD_NOT_FOUND when there is none
 * within CRON_HORIZON_DAYS.
 */
int cron_next(const cron *c, const tz *z, int64_t after, int64_t *next);

#endif

/*
 * cron: parsing cron expressions and `every` durations, and finding the
 * next firing.
 *
 * A cron expression has five fields, minute (0-59), hour (0-23),
 * day-of-month (1-31), month (1-12 or jan..dec) and day-of-week (0-7 or
 * sun..sat, 0 and 7 both Sunday). A field is a comma-separated list of
 * `*`, `N`, `A-B`, each with an optional step `/S` (`A/S` is `A-MAX/S`).
 * Each field becomes a bit set. As in Vixie cron, when both day-of-month
 * and day-of-week are restricted (neither field starts with `*`), a day
 * matches if either matches; otherwise both must. @yearly (@annually),
 * @monthly, @weekly, @daily (@midnight) and @hourly stand for their usual
 * expressions. An expression that no date can satisfy (a day-of-month
 * that no month of the expression has, such as `0 0 30 2 *`) is refused.
 *
 * The fields are wall-clock times of the schedule's zone. The next firing
 * after instant `after` walks the wall clock forward from the minute after
 * the wall time of `after`, field by field (a month that does not match
 * skips to the next month, a day to the next day, an hour to the next
 * hour), and maps each matching wall time to an instant:
 *  - a wall time that happens once fires then;
 *  - a wall time skipped by a DST gap (clocks forward) fires at the first
 *    instant after the gap, once: every skipped wall time of the gap maps
 *    to that same instant, and a firing is strictly after the one before;
 *  - a wall time that happens twice (clocks back, an overlap) fires once,
 *    at its first occurrence: the second maps to the first, which is
 *    already past.
 * The walk gives up after CRON_HORIZON_DAYS of wall time.
 *
 * `every D` fires at the multiples of D since the Unix epoch (UTC), so a
 * restart keeps the same grid whatever the time of the start; D is whole
 * seconds, 1 s to CRON_EVERY_MAX, and no zone applies. D is read as every
 * duration is (duration.h), then held to those bounds.
 */
#include "cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "jobd_status.h"

enum { F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_N };

static const struct {
	const char *name;
	int lo, hi;
} fields[F_N] = {
    {"minute", 0, 59}, {"hour", 0, 23},       {"day-of-month", 1, 31},
    {"month", 1, 12},  {"day-of-week", 0, 7},
};

static const char *const mon_names[12] = {"jan", "feb", "mar", "apr",
                                          "may", "jun", "jul", "aug",
                                          "sep", "oct", "nov", "dec"};
static const char *const dow_names[7] = {"sun", "mon", "tue", "wed",
                                         "thu", "fri", "sat"};

struct cron {
	int64_t every; /* seconds; 0: a cron expression */
	uint64_t bits[F_N];
	bool dom_star, dow_star;
};

void
cron_free(cron *c)
{
	free(c);
}

bool
cron_is_every(const cron *c)
{
	return c->every > 0;
}

int64_t
cron_period(const cron *c)
{
	return c->every;
}

/* A number or (month, day-of-week) a name at *pp; -1 if neither. */
static int
cron_value(int f, const char **pp)
{
	const char *p = *pp;
	int v = 0, digits = 0;

	if (isdigit((unsigned char) *p)) {
		while (isdigit((unsigned char) *p) && digits < 4) {
			v = v * 10 + (*p++ - '0');
			digits++;
		}
		if (isdigit((unsigned char) *p))
			return -1;
		*pp = p;
		return v;
	}
	const char *const *names = f == F_MON   ? mon_names
	                           : f == F_DOW ? dow_names
	                                        : NULL;
	int n = f == F_MON ? 12 : 7, base = f == F_MON ? 1 : 0;
	for (int i = 0; names != NULL && i < n; i++) {
		if (strncasecmp(p, names[i], 3) == 0 &&
		    !isalpha((unsigned char) p[3])) {
			*pp = p + 3;
			return i + base;
		}
	}
	return -1;
}

/* One field's text (s, n bytes) into c->bits[f]. */
static int
cron_field(cron *c, int f, const char *s, size_t n, char *err, size_t errlen)
{
	char buf[128];
	const char *p, *name = fields[f].name;
	int lo = fields[f].lo, hi = fields[f].hi;

	if (n >= sizeof(buf)) {
		snprintf(err, errlen, "%s: too long", name);
		return JOBD_INVALID_ARGUMENT;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (f == F_DOM)
		c->dom_star = buf[0] == '*';
	if (f == F_DOW)
		c->dow_star = buf[0] == '*';
	p = buf;
	for (;;) {
		const char *elem = p;
		int a, b, step = 1;
		if (*p == '*') {
			a = lo;
			b = hi;
			p++;
		} else {
			if ((a = cron_value(f, &p)) < 0)
				goto bad;
			b = a;
			if (*p == '-') {
				p++;
				if ((b = cron_value(f, &p)) < 0)
					goto bad;
			}
			if (a < lo || a > hi || b < lo || b > hi) {
				snprintf(err, errlen,
				         "%s: '%.*s' is out of range %d-%d",
				         name, (int) strcspn(elem, ","), elem,
				         lo, hi);
				return JOBD_INVALID_ARGUMENT;
			}
			if (b < a) {
				snprintf(err, errlen,
				         "%s: range '%.*s' goes backwards",
				         name, (int) strcspn(elem, ","), elem);
				return JOBD_INVALID_ARGUMENT;
			}
		}
		if (*p == '/') {
			p++;
			if (!isdigit((unsigned char) *p) ||
			    (step = cron_value(-1, &p)) < 1 ||
			    step > hi - lo + 1) {
				snprintf(err, errlen,
				         "%s: bad step in '%.*s' (1 to %d)",
				         name, (int) strcspn(elem, ","), elem,
				         hi - lo + 1);
				return JOBD_INVALID_ARGUMENT;
			}
			if (a == b && elem[0] != '*')
				b = hi; /* A/S: from A to the end */
		}
		if (*p != ',' && *p != '\0')
			goto bad;
		for (int v = a; v <= b; v += step)
			c->bits[f] |= (uint64_t) 1 << v;
		if (*p == '\0')
			break;
		p++;
		continue;
	bad:
		snprintf(err, errlen,
		         "%s: '%.*s' is not a number, range or step%s", name,
		         (int) strcspn(elem, ","), elem,
		         f == F_MON   ? " (or jan..dec)"
		         : f == F_DOW ? " (or sun..sat)"
		                      : "");
		return JOBD_INVALID_ARGUMENT;
	}
	if (f == F_DOW && (c->bits[f] & ((uint64_t) 1 << 7)))
		c->bits[f] = (c->bits[f] | 1) & 0x7f;
	return JOBD_OK;
}

/* The days of the month that any month of c has (Feb: 29). */
static bool
cron_possible(const cron *c)
{
	static const int mdays[13] = {0,  31, 29, 31, 30, 31, 30,
	                              31, 31, 30, 31, 30, 31};
	if (c->dom_star || !c->dow_star)
		return true; /* every day, or a weekday does it */
	for (int m = 1; m <= 12; m++)
		if (c->bits[F_MON] & ((uint64_t) 1 << m))
			for (int d = 1; d <= mdays[m]; d++)
				if (c->bits[F_DOM] & ((uint64_t) 1 << d))
					return true;
	return false;
}

int
cron_parse(cron **out, const char *expr, char *err, size_t errlen)
{
	static const struct {
		const char *name, *expr;
	} macros[] = {
	    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
	    {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
	    {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
	    {"@hourly", "0 * * * *"},
	};
	const char *p, *start[F_N + 1];
	size_t len[F_N + 1];
	int n = 0, rv;
	cron *c;

	*out = NULL;
	if (expr[0] == '@') {
		const char *e = NULL;
		for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
			if (strcmp(expr, macros[i].name) == 0)
				e = macros[i].expr;
		if (e == NULL) {
			snprintf(err, errlen,
			         "unknown '%.32s' (@yearly, @monthly, @weekly, "
			         "@daily or @hourly)",
			         expr);
			return JOBD_INVALID_ARGUMENT;
		}
		expr = e;
	}
	for (p = expr; *p != '\0';) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (n == F_N + 1)
			break;
		start[n] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		len[n] = (size_t) (p - start[n]);
		n++;
	}
	if (n != F_N) {
		snprintf(err, errlen,
		         "expected 5 fields (minute hour day-of-month month "
		         "day-of-week), got %s%d",
		         n > F_N ? "more than " : "", n > F_N ? F_N : n);
		return JOBD_INVALID_ARGUMENT;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	for (int f = 0; f < F_N; f++) {
		if ((rv = cron_field(c, f, start[f], len[f], err, errlen)) !=
		    JOBD_OK) {
			free(c);
			return rv;
		}
	}
	if (!cron_possible(c)) {
		snprintf(err, errlen,
		         "day-of-month: '%.*s' is in none of the months "
		         "'%.*s': it never fires",
		         (int) len[F_DOM], start[F_DOM], (int) len[F_MON],
		         start[F_MON]);
		free(c);
		return JOBD_INVALID_ARGUMENT;
	}
	*out = c;
	return JOBD_OK;
}

int
cron_parse_every(cron **out, const char *dur, char *err, size_t errlen)
{
	uint64_t ms;
	cron *c;

	*out = NULL;
	if (duration_parse(dur, (uint64_t) CRON_EVERY_MAX * 1000, 0, &ms) !=
	        DURATION_OK ||
	    ms % 1000 != 0 || ms < 1000) {
		snprintf(err, errlen,
		         "every: '%.32s' is not a duration of 1s to 366d (a "
		         "number with d, h, m or s, such as 30s, 5m, 1h30m)",
		         dur);
		return JOBD_INVALID_ARGUMENT;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	c->every = (int64_t) (ms / 1000);
	*out = c;
	return JOBD_OK;
}

static bool
has(const cron *c, int f, int v)
{
	return (c->bits[f] >> v) & 1;
}

/* Whether wall day (y, m, d), day of week wd, matches c's day fields. */
static bool
cron_day(const cron *c, unsigned d, int wd)
{
	bool dom = has(c, F_DOM, (int) d), dow = has(c, F_DOW, wd);

	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

int
cron_next(const cron *c, const tz *z, int64_t after, int64_t *next)
{
	if (c->every > 0) {
		*next = (tz_floordiv(after, c->every) + 1) * c->every;
		return JOBD_OK;
	}
	int64_t wall = after + tz_offset(z, after);
	int64_t l = (tz_floordiv(wall, 60) + 1) * 60;
	int64_t limit = l + (int64_t) CRON_HORIZON_DAYS * 86400;

	while (l < limit) {
		int64_t days = tz_floordiv(l, 86400), y;
		int64_t secs = l - days * 86400;
		unsigned m, d;
		int h = (int) (secs / 3600), mi = (int) (secs / 60 % 60);
		tz_civil_from_days(days, &y, &m, &d);
		if (!has(c, F_MON, (int) m)) {
			l = tz_days_from_civil(m == 12 ? y + 1 : y,
			                       m == 12 ? 1 : m + 1, 1) *
			    86400;
			continue;
		}
		if (!cron_day(
		        c, d,
		        (int) (days + 4 - tz_floordiv(days + 4, 7) * 7))) {
			l = (days + 1) * 86400;
			continue;
		}
		if (!has(c, F_HOUR, h)) {
			l = days * 86400 + (int64_t) (h + 1) * 3600;
			continue;
		}
		if (!has(c, F_MIN, mi)) {
			l += 60;
			continue;
		}
		struct tz_local tl;
		tz_from_local(z, l, &tl);
		if (tl.t[0] > after) {
			*next = tl.t[0];
			return JOBD_OK;
		}
		l += 60;
	}
	return JOBD_NOT_FOUND;
}

/*
 * jobctl_time: TIME and DURATION as jobctl reads them, and times as it
 * prints them (see jobctl_time.h for the forms).
 *
 * A TIME with an offset (or Z) is counted from the civil date by
 * days_from_civil(), without the C library's time zone at all. A TIME
 * without one is local time, and local time is where the C library must
 * help: mktime() is asked for it as standard time and as daylight saving
 * time, and an answer counts only if localtime_r() gives back the same
 * fields. So a time a clock change skips (02:30 on the morning clocks go
 * forward) matches neither and is refused instead of quietly moved by an
 * hour, and one that happens twice (the hour clocks go back) matches both
 * and is the earlier.
 *
 * Parsing is strict, one character at a time: anything left over is an
 * error, fields have their exact widths, and every number is checked
 * against its range before use, so no input can overflow. A DURATION is
 * read by the parser every duration of jobd goes through (duration.h),
 * which jobctl only asks to take the parts in any order.
 */

#include "jobctl_time.h"

#include "duration.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define SEC_MAX_9999 INT64_C(253402300799)         /* 9999-12-31T23:59:59Z */
#define DUR_MAX_MS   (UINT64_C(36525) * 86400000u) /* 100 years */

static const char time_forms[] =
    "expected a date and time like 2026-12-06T10:00:00Z, "
    "2026-12-06T10:00:00+01:00, 2026-12-06T10:00 (local time) or "
    "@UNIXSECONDS";

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (H.
 * Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era;
	int64_t yoe;
	int64_t doy;
	int64_t doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
	                           31, 31, 30, 31, 30, 31};

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* Exactly n digits at *p, advancing it; false if not. */
static bool
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

struct civil {
	int y, mo, d, h, mi, s;
};

/* The local time with these fields, the earlier if there are two; false
 * if there is none. */
static bool
local_time(const struct civil *c, int64_t *sec)
{
	bool found = false;

	for (int dst = 0; dst <= 1; dst++) {
		struct tm tm = {0};
		struct tm back;
		time_t t;

		tm.tm_year = c->y - 1900;
		tm.tm_mon = c->mo - 1;
		tm.tm_mday = c->d;
		tm.tm_hour = c->h;
		tm.tm_min = c->mi;
		tm.tm_sec = c->s;
		tm.tm_isdst = dst;
		t = mktime(&tm);
		if (localtime_r(&t, &back) == NULL)
			continue;
		if (back.tm_year != c->y - 1900 || back.tm_mon != c->mo - 1 ||
		    back.tm_mday != c->d || back.tm_hour != c->h ||
		    back.tm_min != c->mi || back.tm_sec != c->s)
			continue;
		if (!found || (int64_t) t < *sec)
			*sec = (int64_t) t;
		found = true;
	}
	return found;
}

/* @UNIXSECONDS */
static bool
parse_unix(const char *p, int64_t *ms, ctl_time_err *why)
{
	int64_t v = 0;

	if (*p == '\0') {
		*why = "expected whole seconds since 1970 after '@'";
		return false;
	}
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			*why = "expected whole seconds since 1970 after '@'";
			return false;
		}
		v = v * 10 + (*p - '0');
		if (v > SEC_MAX_9999) {
			*why = "after the year 9999";
			return false;
		}
	}
	*ms = v * 1000;
	return true;
}

/* "+HH:MM", "-HH:MM", "Z": the offset east of UTC in seconds. */
static bool
parse_offset(const char **pp, int64_t *off, ctl_time_err *why)
{
	const char *p = *pp;
	int sign;
	int h;
	int m;

	if (*p == 'Z' || *p == 'z') {
		*off = 0;
		*pp = p + 1;
		return true;
	}
	sign = *p == '-' ? -1 : 1;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &m)) {
		*why = "expected an offset like Z, +01:00 or -05:00";
		return false;
	}
	if (h > 23 || m > 59) {
		*why = "offset out of range";
		return false;
	}
	*off = sign * (h * 3600 + m * 60);
	*pp = p;
	return true;
}

bool
ctl_parse_time(const char *s, int64_t *ms, ctl_time_err *why)
{
	struct civil c = {0};
	const char *p = s;
	int frac_ms = 0;
	bool have_off = false;
	int64_t off = 0;
	int64_t sec = 0;

	if (*p == '@')
		return parse_unix(p + 1, ms, why);
	if (!digits(&p, 4, &c.y) || *p++ != '-' || !digits(&p, 2, &c.mo) ||
	    *p++ != '-' || !digits(&p, 2, &c.d)) {
		*why = time_forms;
		return false;
	}
	if (*p == '\0') {
		*why = "a date without a time of day (add T00:00 for "
		       "midnight)";
		return false;
	}
	if (*p != 'T' && *p != 't' && *p != ' ') {
		*why = time_forms;
		return false;
	}
	p++;
	if (!digits(&p, 2, &c.h) || *p++ != ':' || !digits(&p, 2, &c.mi)) {
		*why = "expected a time of day like 10:00 or 10:00:30";
		return false;
	}
	if (*p == ':') {
		p++;
		if (!digits(&p, 2, &c.s)) {
			*why = "expected two digits of seconds";
			return false;
		}
		if (*p == '.' || *p == ',') {
			int n = 0;
			for (p++; *p >= '0' && *p <= '9'; p++, n++) {
				if (n < 3)
					frac_ms = frac_ms * 10 + (*p - '0');
			}
			if (n == 0 || n > 9) {
				*why = "expected 1 to 9 digits of a "
				       "fraction of a second";
				return false;
			}
			for (; n < 3; n++)
				frac_ms *= 10;
		}
	}
	if (*p == 'Z' || *p == 'z' || *p == '+' || *p == '-') {
		if (!parse_offset(&p, &off, why))
			return false;
		have_off = true;
	}
	if (*p != '\0') {
		*why = "unexpected characters after the time";
		return false;
	}
	if (c.mo < 1 || c.mo > 12) {
		*why = "month out of range";
		return false;
	}
	if (c.d < 1 || c.d > days_in_month(c.y, c.mo)) {
		*why = "day out of range for its month";
		return false;
	}
	if (c.h > 23 || c.mi > 59 || c.s > 59) {
		*why = "time of day out of range";
		return false;
	}
	if (have_off) {
		sec = days_from_civil(c.y, c.mo, c.d) * 86400 + c.h * 3600 +
		      c.mi * 60 + c.s - off;
	} else if (c.y < 1900 || !local_time(&c, &sec)) {
		*why = c.y < 1900 ? "before 1970"
		                  : "does not exist in the local time zone "
		                    "(a clock change skips it)";
		return false;
	}
	if (sec < 0) {
		*why = "before 1970";
		return false;
	}
	*ms = sec * 1000 + frac_ms;
	return true;
}

bool
ctl_parse_duration(const char *s, uint64_t *ms, ctl_time_err *why)
{
	/* the parts are summed in any order, as jobctl always took them */
	switch (duration_parse(s, DUR_MAX_MS, DURATION_ANY_ORDER, ms)) {
	case DURATION_OK:
		return true;
	case DURATION_EMPTY:
		*why = "empty";
		break;
	case DURATION_NUMBER:
	case DURATION_ORDER: /* not with DURATION_ANY_ORDER */
		*why = "expected whole numbers with units, like 90s, 10m, "
		       "1h30m or 500ms";
		break;
	case DURATION_UNIT:
		*why = "expected a unit after each number: ms, s, m, h or d";
		break;
	case DURATION_RANGE:
		*why = "too long (at most 100 years)";
		break;
	}
	return false;
}

void
ctl_fmt_time(char *buf, size_t n, int64_t ms, bool utc)
{
	/* floor(ms / 1000), INT64_MIN included */
	time_t t = (time_t) (ms >= 0 ? ms / 1000 : -1 - (-(ms + 1)) / 1000);
	struct tm tm;
	int64_t off;
	size_t len;

	if ((utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)) == NULL ||
	    tm.tm_year > 9999 - 1900 || tm.tm_year < -1900 ||
	    (len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		snprintf(buf, n, "@%lld", (long long) t);
		return;
	}
	if (utc) {
		snprintf(buf + len, n - len, "Z");
		return;
	}
	off = days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) *
	          86400 +
	      tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec - (int64_t) t;
	snprintf(buf + len, n - len, "%c%02d:%02d", off < 0 ? '-' : '+',
	         (int) ((off < 0 ? -off : off) / 3600),
	         (int) ((off < 0 ? -off : off) / 60 % 60));
}

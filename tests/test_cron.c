/*
 * cron: parsing (every error names its field and value) and the next
 * firing for known cases: month ends, Feb 29, the day-of-month /
 * day-of-week rule, names, macros, `every`, and DST gaps and overlaps in
 * Paris and New York.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "jobd_status.h"
#include "test.h"
#include "tz.h"

/* "YYYY-MM-DDTHH:MM:SSZ" -> Unix seconds. */
static int64_t
T(const char *s)
{
	int y, mo, d, h, mi, se;
	REQUIRE(sscanf(s, "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &se) ==
	        6);
	return tz_days_from_civil(y, (unsigned) mo, (unsigned) d) * 86400 +
	       h * 3600 + mi * 60 + se;
}

/* The firings of spec in zone after `from`, one by one, must be want[]. */
static void
check_seq(const char *spec, const char *zone, const char *from,
          const char *const *want, size_t n)
{
	char err[256], got[32];
	cron *c;
	tz *z;
	int64_t t = T(from), next;

	if (strncmp(spec, "every ", 6) == 0)
		REQUIRE(cron_parse_every(&c, spec + 6, err, sizeof(err)) ==
		        JOBD_OK);
	else if (cron_parse(&c, spec, err, sizeof(err)) != JOBD_OK) {
		TEST_FAIL_("'%s': %s", spec, err);
		return;
	}
	REQUIRE(tz_load(&z, zone, err, sizeof(err)) == JOBD_OK);
	for (size_t i = 0; i < n; i++) {
		if (cron_next(c, z, t, &next) != JOBD_OK) {
			TEST_FAIL_("'%s' in %s after %s: none", spec, zone,
			           from);
			break;
		}
		tz_format_utc(next, got, sizeof(got));
		if (strcmp(got, want[i]) != 0) {
			TEST_FAIL_(
			    "'%s' in %s, firing %zu after %s: %s, not %s", spec,
			    zone, i + 1, from, got, want[i]);
			break;
		}
		t = next;
	}
	cron_free(c);
	tz_free(z);
}

#define SEQ(spec, zone, from, ...)                                             \
	do {                                                                   \
		static const char *const w_[] = {__VA_ARGS__};                 \
		check_seq(spec, zone, from, w_, sizeof(w_) / sizeof(w_[0]));   \
	} while (0)

static void
test_basic(void)
{
	SEQ("*/15 * * * *", "UTC", "2026-12-06T03:29:59Z",
	    "2026-12-06T03:30:00Z", "2026-12-06T03:45:00Z",
	    "2026-12-06T04:00:00Z");
	/* strictly after */
	SEQ("30 3 * * *", "UTC", "2026-12-06T03:30:00Z",
	    "2026-12-07T03:30:00Z");
	SEQ("0 0 31 * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z",
	    "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z",
	    "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z");
	SEQ("0 12 29 2 *", "UTC", "2026-01-01T00:00:00Z",
	    "2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z");
	SEQ("0 12 29 2 *", "UTC", "2096-03-01T00:00:00Z",
	    "2104-02-29T12:00:00Z");
	/* dom and dow both restricted: either (Vixie) */
	SEQ("0 0 13 * fri", "UTC", "2026-02-01T00:00:00Z",
	    "2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z",
	    "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z",
	    "2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z");
	/* dom starred: both must match (days 1, 11, 21, 31 that are
	 * Mondays) */
	SEQ("0 0 */10 * 1", "UTC", "2026-01-01T00:00:00Z",
	    "2026-05-11T00:00:00Z", "2026-06-01T00:00:00Z",
	    "2026-08-31T00:00:00Z");
	SEQ("0 9 * * 1-5", "UTC", "2026-12-04T10:00:00Z", /* a Friday */
	    "2026-12-07T09:00:00Z", "2026-12-08T09:00:00Z");
	SEQ("0 9 * * 7", "UTC", "2026-12-04T10:00:00Z", "2026-12-06T09:00:00Z",
	    "2026-12-13T09:00:00Z");
	SEQ("0 9 * * SUN", "UTC", "2026-12-04T10:00:00Z",
	    "2026-12-06T09:00:00Z");
	SEQ("0 0 1 jan-mar,dec *", "UTC", "2026-03-15T00:00:00Z",
	    "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z");
	SEQ("5,10-12/2,50 */6 * * *", "UTC", "2026-12-06T00:00:00Z",
	    "2026-12-06T00:05:00Z", "2026-12-06T00:10:00Z",
	    "2026-12-06T00:12:00Z", "2026-12-06T00:50:00Z",
	    "2026-12-06T06:05:00Z");
	SEQ("10/20 * * * *", "UTC", "2026-12-06T00:00:00Z",
	    "2026-12-06T00:10:00Z", "2026-12-06T00:30:00Z",
	    "2026-12-06T00:50:00Z", "2026-12-06T01:10:00Z");
	SEQ("@hourly", "UTC", "2026-12-06T00:00:00Z", "2026-12-06T01:00:00Z");
	SEQ("@daily", "UTC", "2026-12-06T00:00:00Z", "2026-12-07T00:00:00Z");
	SEQ("@weekly", "UTC", "2026-12-06T00:00:00Z", "2026-12-13T00:00:00Z");
	SEQ("@monthly", "UTC", "2026-12-06T00:00:00Z", "2027-01-01T00:00:00Z");
	SEQ("@yearly", "UTC", "2026-12-06T00:00:00Z", "2027-01-01T00:00:00Z");
	SEQ("59 23 31 12 *", "UTC", "2026-12-31T23:59:00Z",
	    "2027-12-31T23:59:00Z");
	/* a zone: 03:30 in Paris is 02:30Z in winter, 01:30Z in summer;
	 * Kolkata's +05:30 */
	SEQ("30 3 * * *", "Europe/Paris", "2026-12-06T00:00:00Z",
	    "2026-12-06T02:30:00Z");
	SEQ("30 3 * * *", "Europe/Paris", "2026-07-06T00:00:00Z",
	    "2026-07-06T01:30:00Z");
	SEQ("0 9 * * *", "Asia/Kolkata", "2026-12-06T00:00:00Z",
	    "2026-12-06T03:30:00Z", "2026-12-07T03:30:00Z");
	/* past 2037, from the footer */
	SEQ("30 3 * * *", "America/New_York", "2050-07-01T00:00:00Z",
	    "2050-07-01T07:30:00Z");
}

static void
test_dst(void)
{
	/* Paris, 2026-03-29: 02:00 -> 03:00 (01:00Z). 02:30 does not
	 * exist: fires at 03:00 local (01:00Z), once */
	SEQ("30 2 * * *", "Europe/Paris", "2026-03-28T00:00:00Z",
	    "2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z",
	    "2026-03-30T00:30:00Z");
	/* every 20 min through the gap: 01:40, then 02:00, 02:20, 02:40
	 * all skipped map to 03:00 once, then 03:20 */
	SEQ("*/20 * * * *", "Europe/Paris", "2026-03-29T00:30:00Z",
	    "2026-03-29T00:40:00Z", "2026-03-29T01:00:00Z",
	    "2026-03-29T01:20:00Z");
	/* Paris, 2026-10-25: 03:00 -> 02:00 (01:00Z). 02:30 happens twice
	 * (00:30Z, 01:30Z): fires at the first only */
	SEQ("30 2 * * *", "Europe/Paris", "2026-10-24T00:00:00Z",
	    "2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z",
	    "2026-10-26T01:30:00Z");
	/* every 30 min across the overlap: the second 02:00 and 02:30 are
	 * not fired again */
	SEQ("*/30 * * * *", "Europe/Paris", "2026-10-24T23:45:00Z",
	    "2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z",
	    "2026-10-25T02:00:00Z", "2026-10-25T02:30:00Z");
	/* started in the second occurrence: no firing for it */
	SEQ("30 2 * * *", "Europe/Paris", "2026-10-25T01:10:00Z",
	    "2026-10-26T01:30:00Z");
	/* New York, 2026-03-08 02:00 -> 03:00 (07:00Z); 2026-11-01 02:00 ->
	 * 01:00 (06:00Z) */
	SEQ("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
	    "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z");
	SEQ("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
	    "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z");
	/* Lord Howe: a 30-minute change, 02:00 -> 02:30 on 2026-10-04 */
	SEQ("15 2 * * *", "Australia/Lord_Howe", "2026-10-02T00:00:00Z",
	    "2026-10-02T15:45:00Z", "2026-10-03T15:30:00Z",
	    "2026-10-04T15:15:00Z");
}

static void
test_every(void)
{
	SEQ("every 5m", "UTC", "2026-12-06T03:31:07Z", "2026-12-06T03:35:00Z",
	    "2026-12-06T03:40:00Z");
	SEQ("every 1h30m", "UTC", "2026-12-06T00:00:00Z",
	    "2026-12-06T01:30:00Z");
	SEQ("every 2s", "UTC", "2026-12-06T00:00:00Z", "2026-12-06T00:00:02Z",
	    "2026-12-06T00:00:04Z");
	SEQ("every 1d", "Europe/Paris", "2026-12-06T12:00:00Z",
	    "2026-12-07T00:00:00Z");
	SEQ("every 7s", "UTC", "1970-01-01T00:00:00Z", "1970-01-01T00:00:07Z");
}

static void
check_bad(const char *spec, const char *msg)
{
	char err[256] = "";
	cron *c = NULL;
	int rv = strncmp(spec, "every ", 6) == 0
	             ? cron_parse_every(&c, spec + 6, err, sizeof(err))
	             : cron_parse(&c, spec, err, sizeof(err));

	if (rv != JOBD_INVALID_ARGUMENT || c != NULL ||
	    strstr(err, msg) == NULL)
		TEST_FAIL_("'%s': %d '%s', wanted '%s'", spec, rv, err, msg);
	cron_free(c);
}

static void
test_errors(void)
{
	check_bad("", "expected 5 fields");
	check_bad("* * * *", "got 4");
	check_bad("* * * * * *", "got more than 5");
	check_bad("60 * * * *", "minute: '60' is out of range 0-59");
	check_bad("* 24 * * *", "hour: '24' is out of range 0-23");
	check_bad("* * 0 * *", "day-of-month: '0' is out of range 1-31");
	check_bad("* * 32 * *", "day-of-month: '32' is out of range");
	check_bad("* * * 13 *", "month: '13' is out of range 1-12");
	check_bad("* * * * 8", "day-of-week: '8' is out of range 0-7");
	check_bad("* * * foo *", "month: 'foo' is not a number");
	check_bad("* * * * mon-", "day-of-week: 'mon-' is not");
	check_bad("5-1 * * * *", "minute: range '5-1' goes backwards");
	check_bad("*/0 * * * *", "minute: bad step in '*/0'");
	check_bad("*/61 * * * *", "minute: bad step");
	check_bad("1,,2 * * * *", "minute: '' is not");
	check_bad("1x * * * *", "minute: '1x' is not");
	check_bad("0 0 30 2 *", "never fires");
	check_bad("0 0 31 4,6,9,11 *", "never fires");
	check_bad("@reboot", "unknown '@reboot'");
	check_bad("every 0s", "every: '0s'");
	check_bad("every 500ms", "every: '500ms'");
	check_bad("every 5", "every: '5'");
	check_bad("every m", "every: 'm'");
	check_bad("every 30m1h", "every: '30m1h'");
	check_bad("every 367d", "every: '367d'");
	check_bad("every 99999999999999999999s", "every:");
	/* possible, though rare */
	cron *c;
	char err[256];
	CHECK(cron_parse(&c, "0 0 29 2 *", err, sizeof(err)) == JOBD_OK);
	cron_free(c);
	CHECK(cron_parse(&c, "0 0 30 2 mon", err, sizeof(err)) == JOBD_OK);
	cron_free(c);
}

static void
test_bounded(void)
{
	char err[256];
	cron *c;
	int64_t next;

	/* day-of-week starred (star-slash-7: Sunday), so AND: a Feb 29 that is
	 * a Sunday: 2032, then 2060, past the horizon from 2033 */
	REQUIRE(cron_parse(&c, "0 0 29 2 */7", err, sizeof(err)) == JOBD_OK);
	CHECK(cron_next(c, tz_utc(), T("2033-01-01T00:00:00Z"), &next) ==
	      JOBD_NOT_FOUND);
	CHECK(cron_next(c, tz_utc(), T("2025-01-01T00:00:00Z"), &next) ==
	      JOBD_OK);
	CHECK_EQ_INT(next, T("2032-02-29T00:00:00Z"));
	cron_free(c);
}

TEST_MAIN({"basic", test_basic}, {"dst", test_dst}, {"every", test_every},
          {"errors", test_errors}, {"bounded", test_bounded})

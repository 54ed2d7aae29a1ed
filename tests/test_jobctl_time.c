/*
 * jobctl's TIME and DURATION parsing (client/jobctl_time.c): every form it
 * takes, the values it gives, and a clear refusal of each malformed one.
 * Local times are checked in fixed zones (TZ set here), the clock changes
 * of Europe/Paris and America/New_York included when tzdata is installed.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "jobctl_time.h"
#include "test.h"

static void
set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static bool
have_zone(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	return access(path, R_OK) == 0;
}

/* TIME s parses to ms. */
#define TIME_OK(s, want)                                                       \
	do {                                                                   \
		int64_t ms_ = -1;                                              \
		ctl_time_err why_ = NULL;                                      \
		if (!ctl_parse_time((s), &ms_, &why_))                         \
			TEST_FAIL_("'%s' refused: %s", (s), why_);             \
		else                                                           \
			CHECK_EQ_INT(ms_, (want));                             \
	} while (0)

/* TIME s is refused, with a reason that contains `part`. */
#define TIME_BAD(s, part)                                                      \
	do {                                                                   \
		int64_t ms_ = -1;                                              \
		ctl_time_err why_ = NULL;                                      \
		if (ctl_parse_time((s), &ms_, &why_))                          \
			TEST_FAIL_("'%s' accepted as %" PRId64, (s), ms_);     \
		else if (why_ == NULL || strstr(why_, (part)) == NULL)         \
			TEST_FAIL_("'%s': reason '%s' lacks '%s'", (s),        \
			           why_ ? why_ : "(null)", (part));            \
	} while (0)

#define DUR_OK(s, want)                                                        \
	do {                                                                   \
		uint64_t ms_ = 0;                                              \
		ctl_time_err why_ = NULL;                                      \
		if (!ctl_parse_duration((s), &ms_, &why_))                     \
			TEST_FAIL_("'%s' refused: %s", (s), why_);             \
		else                                                           \
			CHECK_EQ_INT(ms_, (want));                             \
	} while (0)

#define DUR_BAD(s, part)                                                       \
	do {                                                                   \
		uint64_t ms_ = 0;                                              \
		ctl_time_err why_ = NULL;                                      \
		if (ctl_parse_duration((s), &ms_, &why_))                      \
			TEST_FAIL_("'%s' accepted as %" PRIu64, (s), ms_);     \
		else if (why_ == NULL || strstr(why_, (part)) == NULL)         \
			TEST_FAIL_("'%s': reason '%s' lacks '%s'", (s),        \
			           why_ ? why_ : "(null)", (part));            \
	} while (0)

/* 2026-12-06T10:00:00Z */
#define T0 INT64_C(1796551200000)

static void
test_rfc3339(void)
{
	set_tz("Asia/Tokyo"); /* an offset given wins over the local zone */
	TIME_OK("2026-12-06T10:00:00Z", T0);
	TIME_OK("2026-12-06t10:00:00z", T0);
	TIME_OK("2026-12-06 10:00:00Z", T0);
	TIME_OK("2026-12-06T10:00Z", T0);
	TIME_OK("2026-12-06T11:00:00+01:00", T0);
	TIME_OK("2026-12-06T04:30:00-05:30", T0);
	TIME_OK("2026-12-06T10:00:00+00:00", T0);
	TIME_OK("2026-12-06T10:00:00-00:00", T0);
	TIME_OK("2026-12-06T10:00:00.250Z", T0 + 250);
	TIME_OK("2026-12-06T10:00:00.5Z", T0 + 500);
	TIME_OK("2026-12-06T10:00:00,5Z", T0 + 500);
	TIME_OK("2026-12-06T10:00:00.123456789Z", T0 + 123);
	TIME_OK("1970-01-01T00:00:00Z", 0);
	TIME_OK("1970-01-01T01:00:00+01:00", 0);
	TIME_OK("2000-02-29T00:00:00Z", INT64_C(951782400000));
	TIME_OK("2024-02-29T12:00:00Z", INT64_C(1709208000000));
	TIME_OK("2100-03-01T00:00:00Z", INT64_C(4107542400000));
	TIME_OK("9999-12-31T23:59:59Z", INT64_C(253402300799000));
	TIME_OK("2026-12-31T23:59:59Z", INT64_C(1798761599000));
	TIME_OK("2027-01-01T00:00:00Z", INT64_C(1798761600000));
}

static void
test_unix(void)
{
	TIME_OK("@0", 0);
	TIME_OK("@1796551200", T0);
	TIME_OK("@0001796551200", T0);
	TIME_OK("@253402300799", INT64_C(253402300799000));
	TIME_BAD("@", "seconds since 1970");
	TIME_BAD("@-1", "seconds since 1970");
	TIME_BAD("@+5", "seconds since 1970");
	TIME_BAD("@1.5", "seconds since 1970");
	TIME_BAD("@12x", "seconds since 1970");
	TIME_BAD("@ 12", "seconds since 1970");
	TIME_BAD("@253402300800", "9999");
	TIME_BAD("@99999999999999999999999999", "9999");
}

static void
test_local(void)
{
	set_tz("UTC");
	TIME_OK("2026-12-06T10:00", T0);
	TIME_OK("2026-12-06 10:00", T0);
	TIME_OK("2026-12-06T10:00:00", T0);
	TIME_OK("2026-12-06 10:00:00.750", T0 + 750);
	/* POSIX zones need no tzdata: UTC+1, no daylight saving time */
	set_tz("XXX-1");
	TIME_OK("2026-12-06T11:00", T0);
	TIME_BAD("1970-01-01T00:30", "before 1970"); /* 23:30Z the day before */
	set_tz("XXX+5");
	TIME_OK("2026-12-06T05:00:00", T0);
	TIME_OK("1969-12-31T23:59", INT64_C(17940000)); /* 04:59Z */
	set_tz("UTC");
	TIME_BAD("1969-12-31T23:59:59", "before 1970");
	TIME_BAD("1800-01-01T00:00", "before 1970");
}

static void
test_dst(void)
{
	if (!have_zone("Europe/Paris") || !have_zone("America/New_York")) {
		fprintf(stderr, "no tzdata: clock changes not checked\n");
		return;
	}
	set_tz("Europe/Paris");
	TIME_OK("2026-12-06T11:00", T0);                     /* CET */
	TIME_OK("2026-07-01T12:00", INT64_C(1782900000000)); /* CEST */
	/* 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 never happens */
	TIME_BAD("2026-03-29T02:30", "does not exist");
	TIME_BAD("2026-03-29T02:00", "does not exist");
	TIME_OK("2026-03-29T01:59:59", INT64_C(1774745999000));
	TIME_OK("2026-03-29T03:00", INT64_C(1774746000000));
	/* 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice */
	TIME_OK("2026-10-25T02:30", INT64_C(1792888200000)); /* the first */
	TIME_OK("2026-10-25T02:30+01:00", INT64_C(1792891800000));
	set_tz("America/New_York");
	TIME_OK("2026-12-06T05:00", T0); /* EST */
	TIME_BAD("2026-03-08T02:15", "does not exist");
	TIME_OK("2026-11-01T01:30", INT64_C(1793511000000)); /* EDT, first */
	set_tz("UTC");
}

static void
test_time_errors(void)
{
	set_tz("UTC");
	TIME_BAD("", "expected a date and time");
	TIME_BAD("now", "expected a date and time");
	TIME_BAD("10:00", "expected a date and time");
	TIME_BAD("tomorrow 10:00", "expected a date and time");
	TIME_BAD("26-12-06T10:00", "expected a date and time");
	TIME_BAD("2026-1-06T10:00", "expected a date and time");
	TIME_BAD("2026/12/06T10:00", "expected a date and time");
	TIME_BAD("2026-12-06", "without a time of day");
	TIME_BAD("2026-12-06X10:00", "expected a date and time");
	TIME_BAD("2026-12-06T10", "time of day like");
	TIME_BAD("2026-12-06T1000", "time of day like");
	TIME_BAD("2026-12-06T10:0", "time of day like");
	TIME_BAD("2026-12-06T10:00:5", "seconds");
	TIME_BAD("2026-12-06T10:00:00.", "fraction");
	TIME_BAD("2026-12-06T10:00:00.1234567890Z", "fraction");
	TIME_BAD("2026-12-06T10:00:00+0100", "offset like");
	TIME_BAD("2026-12-06T10:00:00+1", "offset like");
	TIME_BAD("2026-12-06T10:00:00+24:00", "offset out of range");
	TIME_BAD("2026-12-06T10:00:00+01:60", "offset out of range");
	TIME_BAD("2026-12-06T10:00:00ZZ", "unexpected characters");
	TIME_BAD("2026-12-06T10:00:00 ", "unexpected characters");
	TIME_BAD("2026-12-06T10:00:00Z trailing", "unexpected characters");
	TIME_BAD("2026-13-06T10:00", "month out of range");
	TIME_BAD("2026-00-06T10:00", "month out of range");
	TIME_BAD("2026-12-00T10:00", "day out of range");
	TIME_BAD("2026-12-32T10:00", "day out of range");
	TIME_BAD("2026-02-29T10:00", "day out of range");
	TIME_BAD("2100-02-29T10:00Z", "day out of range");
	TIME_BAD("2026-04-31T10:00Z", "day out of range");
	TIME_BAD("2026-12-06T24:00", "out of range");
	TIME_BAD("2026-12-06T10:60", "out of range");
	TIME_BAD("2026-12-06T10:00:60Z", "out of range");
	TIME_BAD("1969-12-31T23:59:59Z", "before 1970");
	TIME_BAD("1970-01-01T00:30:00+01:00", "before 1970");
	TIME_BAD("0000-01-01T00:00Z", "before 1970");
}

static void
test_duration(void)
{
	DUR_OK("0s", 0);
	DUR_OK("0ms", 0);
	DUR_OK("500ms", 500);
	DUR_OK("1ms", 1);
	DUR_OK("90s", 90000);
	DUR_OK("10m", 600000);
	DUR_OK("2h", 7200000);
	DUR_OK("1d", 86400000);
	DUR_OK("1h30m", 5400000);
	DUR_OK("1d2h3m4s5ms", UINT64_C(93784005));
	DUR_OK("30m1h", 5400000); /* the parts are summed, in any order */
	DUR_OK("1m1m", 120000);
	DUR_OK("007s", 7000);
	DUR_OK("36525d", UINT64_C(3155760000000)); /* 100 years */
	DUR_OK("36524d24h", UINT64_C(3155760000000));
}

static void
test_duration_errors(void)
{
	DUR_BAD("", "empty");
	DUR_BAD("10", "unit");
	DUR_BAD("1h30", "unit");
	DUR_BAD("10x", "unit");
	DUR_BAD("10M", "unit");
	DUR_BAD("10 m", "unit");
	DUR_BAD("10sec", "whole numbers with units");
	DUR_BAD("1.5h", "unit");
	DUR_BAD("-5s", "whole numbers with units");
	DUR_BAD("+5s", "whole numbers with units");
	DUR_BAD("s", "whole numbers with units");
	DUR_BAD(" 5s", "whole numbers with units");
	DUR_BAD("5s ", "whole numbers with units");
	DUR_BAD("36526d", "at most 100 years");
	DUR_BAD("36525d1ms", "at most 100 years");
	DUR_BAD("99999999999999999999999ms", "at most 100 years");
	DUR_BAD("18446744073709551616ms", "at most 100 years");
}

static void
test_format(void)
{
	char buf[64];
	int64_t back;
	ctl_time_err why;

	set_tz("UTC");
	ctl_fmt_time(buf, sizeof(buf), T0, true);
	CHECK_EQ_STR(buf, "2026-12-06T10:00:00Z");
	ctl_fmt_time(buf, sizeof(buf), T0 + 999, false);
	CHECK_EQ_STR(buf, "2026-12-06T10:00:00+00:00");
	set_tz("XXX-1");
	ctl_fmt_time(buf, sizeof(buf), T0, false);
	CHECK_EQ_STR(buf, "2026-12-06T11:00:00+01:00");
	set_tz("XXX+5:30");
	ctl_fmt_time(buf, sizeof(buf), T0, false);
	CHECK_EQ_STR(buf, "2026-12-06T04:30:00-05:30");
	/* what is printed reads back as the same time */
	REQUIRE(ctl_parse_time(buf, &back, &why));
	CHECK_EQ_INT(back, T0);
	ctl_fmt_time(buf, sizeof(buf), 0, true);
	CHECK_EQ_STR(buf, "1970-01-01T00:00:00Z");
	ctl_fmt_time(buf, sizeof(buf), -1, true); /* rounded down */
	CHECK_EQ_STR(buf, "1969-12-31T23:59:59Z");
	/* a hostile time from the daemon is printed, not trusted */
	ctl_fmt_time(buf, sizeof(buf), INT64_MAX, true);
	CHECK(buf[0] == '@');
	ctl_fmt_time(buf, sizeof(buf), INT64_MIN, false);
	CHECK(buf[0] == '@');
	set_tz("UTC");
}

TEST_MAIN({"rfc3339", test_rfc3339}, {"unix", test_unix}, {"local", test_local},
          {"dst", test_dst}, {"time_errors", test_time_errors},
          {"duration", test_duration},
          {"duration_errors", test_duration_errors}, {"format", test_format})

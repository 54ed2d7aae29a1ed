/*
 * duration (common/duration.c): the one parser of every duration. Each
 * good form and its value, each refusal with the reason it gives, the
 * maximum at its edge, and the any-order mode jobctl --in uses.
 */
#include <inttypes.h>
#include <stdint.h>

#include "duration.h"
#include "test.h"

#define NOMAX UINT64_MAX

/* s is read as want milliseconds under max. */
#define OK(s, max, flags, want)                                                \
	do {                                                                   \
		uint64_t ms_ = 12345;                                          \
		enum duration_err e_ =                                         \
		    duration_parse((s), (max), (flags), &ms_);                 \
		if (e_ != DURATION_OK)                                         \
			TEST_FAIL_("'%s' refused (%d)", (s), (int) e_);        \
		else                                                           \
			CHECK_EQ_INT(ms_, (want));                             \
	} while (0)

/* s is refused for reason `why`, and *ms is left alone. */
#define BAD(s, max, flags, why)                                                \
	do {                                                                   \
		uint64_t ms_ = 12345;                                          \
		enum duration_err e_ =                                         \
		    duration_parse((s), (max), (flags), &ms_);                 \
		if (e_ != (why))                                               \
			TEST_FAIL_("'%s': reason %d, not %s", (s), (int) e_,   \
			           #why);                                      \
		CHECK_EQ_INT(ms_, 12345);                                      \
	} while (0)

static void
test_good(void)
{
	OK("0ms", NOMAX, 0, 0);
	OK("0s", NOMAX, 0, 0);
	OK("1ms", NOMAX, 0, 1);
	OK("500ms", NOMAX, 0, 500);
	OK("10s", NOMAX, 0, 10000);
	OK("5m", NOMAX, 0, 300000);
	OK("2h", NOMAX, 0, 7200000);
	OK("1d", NOMAX, 0, 86400000);
	OK("1h30m", NOMAX, 0, 5400000);
	OK("1m30s", NOMAX, 0, 90000);
	OK("1s500ms", NOMAX, 0, 1500);
	OK("1d2h3m4s5ms", NOMAX, 0, UINT64_C(93784005));
	OK("1d5ms", NOMAX, 0, UINT64_C(86400005)); /* units may be skipped */
	OK("007s", NOMAX, 0, 7000);
	OK("90m", NOMAX, 0, 5400000); /* a part need not be below 60 */
}

static void
test_refused(void)
{
	BAD("", NOMAX, 0, DURATION_EMPTY);
	BAD("5", NOMAX, 0, DURATION_UNIT);
	BAD("5x", NOMAX, 0, DURATION_UNIT);
	BAD("5M", NOMAX, 0, DURATION_UNIT);
	BAD("1h30", NOMAX, 0, DURATION_UNIT);
	BAD("1.5h", NOMAX, 0, DURATION_UNIT);
	BAD("m", NOMAX, 0, DURATION_NUMBER);
	BAD("ms", NOMAX, 0, DURATION_NUMBER);
	BAD("1m1h", NOMAX, 0, DURATION_ORDER);
	BAD("1s1m", NOMAX, 0, DURATION_ORDER);
	BAD("5ms1s", NOMAX, 0, DURATION_ORDER);
	BAD("1h1h", NOMAX, 0, DURATION_ORDER);
	BAD("1ms1ms", NOMAX, 0, DURATION_ORDER);
	BAD("-1s", NOMAX, 0, DURATION_NUMBER);
	BAD("+1s", NOMAX, 0, DURATION_NUMBER);
	BAD(" 1s", NOMAX, 0, DURATION_NUMBER);
	BAD("1s ", NOMAX, 0, DURATION_NUMBER);
	BAD("1 s", NOMAX, 0, DURATION_UNIT);
	BAD("x1s", NOMAX, 0, DURATION_NUMBER);
	BAD("1sx", NOMAX, 0, DURATION_NUMBER);
	BAD("1sec", NOMAX, 0, DURATION_NUMBER);
	BAD("1s\n", NOMAX, 0, DURATION_NUMBER);
	BAD("1h 30m", NOMAX, 0, DURATION_NUMBER);
}

static void
test_range(void)
{
	/* 64 bits: the number alone, the product, the sum */
	OK("18446744073709551615ms", NOMAX, 0, UINT64_MAX);
	BAD("18446744073709551616ms", NOMAX, 0, DURATION_RANGE);
	BAD("99999999999999999999999999s", NOMAX, 0, DURATION_RANGE);
	BAD("18446744073709552s", NOMAX, 0, DURATION_RANGE);
	OK("18446744073709551s615ms", NOMAX, 0, UINT64_MAX);
	BAD("18446744073709551s616ms", NOMAX, 0, DURATION_RANGE);
	BAD("213503982334602d", NOMAX, 0, DURATION_RANGE);
	/* the caller's maximum, at its edge */
	OK("1h", 3600000, 0, 3600000);
	OK("59m60s", 3600000, 0, 3600000);
	BAD("1h1ms", 3600000, 0, DURATION_RANGE);
	BAD("3600001ms", 3600000, 0, DURATION_RANGE);
	BAD("2h", 3600000, 0, DURATION_RANGE);
	OK("0s", 0, 0, 0);
	BAD("1ms", 0, 0, DURATION_RANGE);
	/* a too-long number is refused before what follows it */
	BAD("3600001x", 3600000, 0, DURATION_RANGE);
}

static void
test_any_order(void)
{
	OK("30m1h", NOMAX, DURATION_ANY_ORDER, 5400000);
	OK("1m1m", NOMAX, DURATION_ANY_ORDER, 120000);
	OK("5ms1s", NOMAX, DURATION_ANY_ORDER, 1005);
	OK("1h30m", NOMAX, DURATION_ANY_ORDER, 5400000);
	BAD("1h1h", 3600000, DURATION_ANY_ORDER, DURATION_RANGE);
	BAD("", NOMAX, DURATION_ANY_ORDER, DURATION_EMPTY);
	BAD("5", NOMAX, DURATION_ANY_ORDER, DURATION_UNIT);
	BAD(" 1s", NOMAX, DURATION_ANY_ORDER, DURATION_NUMBER);
	BAD("-1s", NOMAX, DURATION_ANY_ORDER, DURATION_NUMBER);
	BAD("9223372036854775808ms9223372036854775808ms", NOMAX,
	    DURATION_ANY_ORDER, DURATION_RANGE);
}

TEST_MAIN({"good", test_good}, {"refused", test_refused}, {"range", test_range},
          {"any_order", test_any_order})

/*
 * tz against glibc: for many instants in several zones, tz_offset() must
 * give the offset localtime_r() gives with TZ set to the zone (this
 * program is single-threaded, so setenv + tzset is safe); local wall times
 * must map back to their instants; and hostile zone names and files are
 * refused.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobd_status.h"
#include "test.h"
#include "tz.h"

static const char *const zones[] = {
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "Europe/Dublin",
    "Africa/Casablanca",
    "America/St_Johns",
    "Asia/Tehran",
    "Pacific/Apia",
};

static int32_t
glibc_offset(int64_t t)
{
	time_t tt = (time_t) t;
	struct tm tm;

	localtime_r(&tt, &tm);
	return (int32_t) tm.tm_gmtoff;
}

/* Compares offsets over 1900..2100 at a pseudo-random spread of instants
 * plus every hour around each transition glibc knows of. */
static void
check_zone(const char *name)
{
	char err[256], env[160];
	tz *z;
	int bad = 0;

	REQUIRE(tz_load(&z, name, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_STR(tz_name(z), name);
	snprintf(env, sizeof(env), "%s", name);
	setenv("TZ", env, 1);
	tzset();
	uint64_t x = 88172645463325252ULL;
	int64_t lo = -2208988800LL, hi = 4102444800LL; /* 1900 .. 2100 */
	for (int i = 0; i < 200000 && bad < 5; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t t = lo + (int64_t) (x % (uint64_t) (hi - lo));
		int32_t a = tz_offset(z, t), b = glibc_offset(t);
		if (a != b) {
			TEST_FAIL_("%s at %lld: tz %d, glibc %d", name,
			           (long long) t, a, b);
			bad++;
		}
	}
	/* every 20 minutes through 2026, 2040 (past 2037) and 2099 */
	static const int64_t years[] = {1767225600LL, 2208988800LL,
	                                4070908800LL};
	for (size_t y = 0; y < 3; y++)
		for (int64_t t = years[y];
		     t < years[y] + 366 * 86400 && bad < 5; t += 1200) {
			int32_t a = tz_offset(z, t), b = glibc_offset(t);
			if (a != b) {
				TEST_FAIL_("%s at %lld: tz %d, glibc %d", name,
				           (long long) t, a, b);
				bad++;
			}
			/* the wall time of t maps back to t */
			struct tz_local l;
			tz_from_local(z, t + a, &l);
			if (l.n == 0 || (l.t[0] != t && l.t[1] != t)) {
				TEST_FAIL_("%s: wall of %lld maps to %d %lld",
				           name, (long long) t, l.n,
				           (long long) l.t[0]);
				bad++;
			}
		}
	tz_free(z);
	unsetenv("TZ");
	tzset();
}

static void
test_zones(void)
{
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		struct stat st;
		char path[200];
		snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s",
		         zones[i]);
		if (strcmp(zones[i], "UTC") != 0 && stat(path, &st) != 0) {
			fprintf(stderr, "no %s here: skipped\n", path);
			continue;
		}
		check_zone(zones[i]);
	}
}

/* Wall time (y-m-d h:mi) as local seconds. */
static int64_t
wall(int y, unsigned m, unsigned d, int h, int mi)
{
	return tz_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60;
}

static void
test_gaps_overlaps(void)
{
	char err[256];
	tz *z;
	struct tz_local l;

	REQUIRE(tz_load(&z, "Europe/Paris", err, sizeof(err)) == JOBD_OK);
	/* 2026-03-29 02:30 does not exist: the gap ends at 01:00Z */
	tz_from_local(z, wall(2026, 3, 29, 2, 30), &l);
	CHECK_EQ_INT(l.n, 0);
	CHECK_EQ_INT(l.t[0], wall(2026, 3, 29, 1, 0));
	/* 2026-10-25 02:30 happens twice: 00:30Z and 01:30Z */
	tz_from_local(z, wall(2026, 10, 25, 2, 30), &l);
	CHECK_EQ_INT(l.n, 2);
	CHECK_EQ_INT(l.t[0], wall(2026, 10, 25, 0, 30));
	CHECK_EQ_INT(l.t[1], wall(2026, 10, 25, 1, 30));
	/* the same in 2050, from the footer's rule */
	tz_from_local(z, wall(2050, 3, 27, 2, 0), &l);
	CHECK_EQ_INT(l.n, 0);
	CHECK_EQ_INT(l.t[0], wall(2050, 3, 27, 1, 0));
	tz_from_local(z, wall(2026, 7, 1, 12, 0), &l);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_INT(l.t[0], wall(2026, 7, 1, 10, 0));
	tz_free(z);

	REQUIRE(tz_load(&z, "Australia/Lord_Howe", err, sizeof(err)) ==
	        JOBD_OK);
	/* 2026-10-04 02:00 -> 02:30 (+10:30 -> +11) */
	tz_from_local(z, wall(2026, 10, 4, 2, 15), &l);
	CHECK_EQ_INT(l.n, 0);
	CHECK_EQ_INT(l.t[0], wall(2026, 10, 4, 2, 0) - 37800);
	tz_free(z);

	z = tz_utc();
	tz_from_local(z, 12345, &l);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_INT(l.t[0], 12345);
	CHECK_EQ_INT(tz_offset(z, 12345), 0);
	tz_free(z);
	REQUIRE(tz_load(&z, "", err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_STR(tz_name(z), "UTC");
	tz_free(z);
}

static void
write_file(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, buf, n) == (ssize_t) n);
	close(fd);
}

static void
test_hostile(void)
{
	static const char *const bad_names[] = {
	    "../etc/passwd", "/etc/localtime", "Europe/../../x",
	    "a b",           "Europe/Paris\n", "x;y"};
	char err[256], dir[] = "/tmp/jobd-tz-XXXXXX", path[300];
	tz *z;

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		CHECK(tz_load(&z, bad_names[i], err, sizeof(err)) ==
		      JOBD_INVALID_ARGUMENT);
		CHECK(z == NULL);
	}
	CHECK(tz_load(&z, "Mars/Olympus_Mons", err, sizeof(err)) ==
	      JOBD_NOT_FOUND);
	CHECK(strstr(err, "unknown time zone 'Mars/Olympus_Mons'") != NULL);

	/* damaged copies of a real file, under TZDIR */
	REQUIRE(mkdtemp(dir) != NULL);
	FILE *f = fopen("/usr/share/zoneinfo/Europe/Paris", "rb");
	REQUIRE(f != NULL);
	static uint8_t buf[8192], mod[8192];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	REQUIRE(n > 100 && n < sizeof(buf));
	setenv("TZDIR", dir, 1);
	snprintf(path, sizeof(path), "%s/Z", dir);
	write_file(path, buf, n);
	REQUIRE(tz_load(&z, "Z", err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(tz_offset(z, 1782864000), 7200); /* 2026-07-01 */
	tz_free(z);
	/* every truncation, and every byte of the header and the first
	 * block flipped: refused or loaded, never a crash (ASan checks) */
	for (size_t k = 0; k < n; k += (k < 200 ? 1 : 37)) {
		write_file(path, buf, k);
		if (tz_load(&z, "Z", err, sizeof(err)) == JOBD_OK)
			tz_free(z);
	}
	for (size_t k = 0; k < n; k += (k < 120 ? 1 : 13)) {
		memcpy(mod, buf, n);
		mod[k] ^= 0xa5;
		write_file(path, mod, n);
		if (tz_load(&z, "Z", err, sizeof(err)) == JOBD_OK) {
			(void) tz_offset(z, 0);
			(void) tz_offset(z, 4102444800LL);
			tz_free(z);
		}
	}
	/* huge counts */
	memcpy(mod, buf, n);
	memset(mod + 32, 0xff, 4);
	write_file(path, mod, n);
	CHECK(tz_load(&z, "Z", err, sizeof(err)) == JOBD_INVALID_ARGUMENT);
	write_file(path, "TZif", 4);
	CHECK(tz_load(&z, "Z", err, sizeof(err)) == JOBD_INVALID_ARGUMENT);
	CHECK(strstr(err, "not a TZif file") != NULL);
	/* a directory is not a zone */
	CHECK(tz_load(&z, ".", err, sizeof(err)) != JOBD_OK);
	unlink(path);
	rmdir(dir);
	unsetenv("TZDIR");
}

TEST_MAIN({"zones", test_zones}, {"gaps_overlaps", test_gaps_overlaps},
          {"hostile", test_hostile})

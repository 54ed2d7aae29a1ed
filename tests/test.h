#ifndef JOBD_TEST_H
#define JOBD_TEST_H

/*
 * A small test harness: each test file defines `static void test_x(void)`
 * functions and ends with
 *
 *     TEST_MAIN({"x", test_x}, {"y", test_y})
 *
 * CHECK(cond) records a failure with file and line and goes on; REQUIRE(cond)
 * stops the current test. CHECK_EQ_INT/CHECK_EQ_STR print both values.
 * `./test_x NAME` runs only the test NAME. The exit status is non-zero when
 * any check failed. TEST_SKIP_IF(cond, why), at the top of a test, skips
 * it when cond holds: "skip NAME: why" in the output, neither a pass nor a
 * failure.
 */

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A test program of several files (tests/test_pgstore*.c) defines
 * TEST_SHARED before it includes this header, in each of them: the state
 * below is then the program's, defined in the file of TEST_MAIN. */
#ifdef TEST_SHARED
extern int test_failures;
extern jmp_buf test_jmp;
extern const char *test_skipped;
#define TEST_STATE_                                                            \
	int test_failures;                                                     \
	jmp_buf test_jmp;                                                      \
	const char *test_skipped;
#else
static int test_failures;
static jmp_buf test_jmp;
static const char *test_skipped; /* why the current test was skipped */
#define TEST_STATE_
#endif

#define TEST_FAIL_(...)                                                        \
	do {                                                                   \
		test_failures++;                                               \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                \
		fprintf(stderr, __VA_ARGS__);                                  \
		fprintf(stderr, "\n");                                         \
	} while (0)

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			TEST_FAIL_("check failed: %s", #c);                    \
	} while (0)

#define REQUIRE(c)                                                             \
	do {                                                                   \
		if (!(c)) {                                                    \
			TEST_FAIL_("requirement failed: %s", #c);              \
			longjmp(test_jmp, 1);                                  \
		}                                                              \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                     \
	do {                                                                   \
		long long a_ = (long long) (a), b_ = (long long) (b);          \
		if (a_ != b_)                                                  \
			TEST_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);  \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                     \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)           \
			TEST_FAIL_("%s == %s: '%s' != '%s'", #a, #b,           \
			           a_ ? a_ : "(null)", b_ ? b_ : "(null)");    \
	} while (0)

#define TEST_SKIP_IF(c, why)                                                   \
	do {                                                                   \
		if (c) {                                                       \
			test_skipped = (why);                                  \
			longjmp(test_jmp, 1);                                  \
		}                                                              \
	} while (0)

struct test_case {
	const char *name;
	void (*fn)(void);
};

/* Runs one test; non-zero if it stopped at a REQUIRE. Kept apart from the
 * loop so that no local of the loop lives across setjmp. */
static inline int
test_run_one(void (*fn)(void))
{
	if (setjmp(test_jmp) != 0)
		return 1;
	fn();
	return 0;
}

static inline int
test_run_all(const struct test_case *t, size_t n, int argc, char **argv)
{
	int ran = 0;
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], t[i].name) != 0)
			continue;
		int before = test_failures;
		/* to stderr, unbuffered: if a test hangs, its name is there */
		fprintf(stderr, "---- %s\n", t[i].name);
		test_skipped = NULL;
		(void) test_run_one(t[i].fn);
		if (test_skipped != NULL && test_failures == before)
			printf("skip %s: %s\n", t[i].name, test_skipped);
		else
			printf("%s %s\n",
			       test_failures == before ? "ok  " : "FAIL",
			       t[i].name);
		fflush(stdout);
		ran++;
	}
	if (ran == 0) {
		fprintf(stderr, "no test named '%s'\n",
		        argc > 1 ? argv[1] : "");
		return 2;
	}
	return test_failures ? 1 : 0;
}

#define TEST_MAIN(...)                                                         \
	TEST_STATE_                                                            \
	int main(int argc, char **argv)                                        \
	{                                                                      \
		static const struct test_case tests_[] = {__VA_ARGS__};        \
		return test_run_all(                                           \
		    tests_, sizeof(tests_) / sizeof(tests_[0]), argc, argv);   \
	}

#endif

/*
 * kinds: what a job can be.
 *
 * A kind is a row of one static table: a name, a one-line description, a
 * table of typed and bounded parameters, and a run function. Nothing here
 * knows about threads, the database or the wire; a kind is pure computation
 * over the job's parameters and input, and the worker pool drives it through
 * struct kind_run.
 *
 * Parameters are checked once, by kind_validate() at Submit, against the
 * kind's parameter table: a name the kind does not know, a name given twice,
 * a required one missing, an integer that does not parse in full or lies out
 * of bounds or is longer than 20 characters (leading zeros are allowed, and
 * would otherwise make any length), a string too long or holding control
 * characters are all refused
 * there with a message that names the parameter. So a run function reads its
 * parameters with kind_param_int()/kind_param_str() and never checks them
 * again. Values quoted back in messages come from clients: they are cut short
 * and escaped so that a message is always short printable ASCII.
 *
 * The work is honest: count really loops (an empty asm statement keeps the
 * compiler from folding the loop away), primes really sieves, sha256 really
 * hashes, sleep really waits. Each calls r->progress() every fraction of a
 * millisecond of work (every 2^18 iterations, one sieve segment, 2^10
 * hashes, one sleep slice of at most 20 ms) and returns KIND_STOPPED the
 * moment it answers non-zero: that is how cancellation, timeouts and
 * shutdown reach a running job, so no kind may go long without asking. The
 * report is also where a worker gives the CPU back to the front
 * (scheduler.c), so its interval bounds how long a quick query can wait
 * behind a busy worker.
 *
 * Memory is bounded whatever the parameters: the sieve works in segments of
 * 256 KiB with base primes up to sqrt(limit), sha256 keeps one digest, and
 * input is limited to KIND_MAX_INPUT bytes.
 */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "clock.h"
#include "jobd_status.h"
#include "kinds.h"

/* The largest input any kind accepts, in bytes. */
#define KIND_MAX_INPUT (1024 * 1024)

/* The longest integer value, in characters: that of INT64_MIN. Leading
 * zeros are allowed, so without it a value could be megabytes long. */
#define KIND_MAX_INT_LEN 20

/* How much of a client's value is quoted back in an error message. */
#define KIND_QUOTE_MAX 40

/* count: iterations between two progress calls. */
#define COUNT_CHUNK (UINT64_C(1) << 18)
/* primes: bytes of one sieve segment, one byte per odd number. */
#define PRIMES_SEGMENT (256 * 1024)
/* sha256: rounds between two progress calls. */
#define SHA256_CHUNK (UINT64_C(1) << 10)
/* sleep: the longest single nap, in milliseconds. */
#define SLEEP_SLICE_MS 20

static enum kind_outcome count_run(struct kind_run *r);
static enum kind_outcome primes_run(struct kind_run *r);
static enum kind_outcome sha256_run(struct kind_run *r);
static enum kind_outcome sleep_run(struct kind_run *r);
static enum kind_outcome fail_run(struct kind_run *r);

static const struct kind_param count_params[] = {
    {
        .name = "n",
        .type = KIND_INT,
        .required = true,
        .min = 1,
        .max = INT64_C(100000000000),
        .def = NULL,
        .desc = "number of loop iterations to run",
    },
};

static const struct kind_param primes_params[] = {
    {
        .name = "limit",
        .type = KIND_INT,
        .required = true,
        .min = 2,
        .max = INT64_C(10000000000),
        .def = NULL,
        .desc = "count the primes up to and including this number",
    },
};

static const struct kind_param sha256_params[] = {
    {
        .name = "rounds",
        .type = KIND_INT,
        .required = false,
        .min = 1,
        .max = INT64_C(100000000),
        .def = "1",
        .desc = "times to hash: once over the input, then over each digest",
    },
};

static const struct kind_param sleep_params[] = {
    {
        .name = "ms",
        .type = KIND_INT,
        .required = true,
        .min = 0,
        .max = INT64_C(86400000),
        .def = NULL,
        .desc = "milliseconds to wait",
    },
};

static const struct kind_param fail_params[] = {
    {
        .name = "message",
        .type = KIND_STRING,
        .required = false,
        .min = 0,
        .max = 1024,
        .def = "failed on purpose",
        .desc = "the error message to fail with",
    },
};

#define KIND_NPARAMS(a) (sizeof(a) / sizeof((a)[0]))

/* Rows of kind_tab, so a run function can name its own kind. */
enum { KT_COUNT, KT_PRIMES, KT_SHA256, KT_SLEEP, KT_FAIL, KT_N };

static const struct kind kind_tab[KT_N] = {
    [KT_COUNT] =
        {
            .name = "count",
            .desc = "runs a busy loop of n iterations; result: n",
            .params = count_params,
            .nparams = KIND_NPARAMS(count_params),
            .uses_input = false,
            .run = count_run,
        },
    [KT_PRIMES] =
        {
            .name = "primes",
            .desc = "counts the primes up to limit with a segmented sieve; "
                    "result: the count",
            .params = primes_params,
            .nparams = KIND_NPARAMS(primes_params),
            .uses_input = false,
            .run = primes_run,
        },
    [KT_SHA256] =
        {
            .name = "sha256",
            .desc = "SHA-256 of the input, then of the digest, rounds "
                    "times; result: the hex digest",
            .params = sha256_params,
            .nparams = KIND_NPARAMS(sha256_params),
            .uses_input = true,
            .run = sha256_run,
        },
    [KT_SLEEP] =
        {
            .name = "sleep",
            .desc = "waits ms milliseconds without using the CPU; "
                    "result: empty",
            .params = sleep_params,
            .nparams = KIND_NPARAMS(sleep_params),
            .uses_input = false,
            .run = sleep_run,
        },
    [KT_FAIL] =
        {
            .name = "fail",
            .desc = "fails at once, with message as the error",
            .params = fail_params,
            .nparams = KIND_NPARAMS(fail_params),
            .uses_input = false,
            .run = fail_run,
        },
};

const struct kind *
kind_find(const char *name)
{
	if (name == NULL)
		return (NULL);
	for (size_t i = 0; i < KT_N; i++)
		if (strcmp(kind_tab[i].name, name) == 0)
			return (&kind_tab[i]);
	return (NULL);
}

const struct kind *
kind_table(size_t *n)
{
	*n = KT_N;
	return (kind_tab);
}

/*
 * Validation.
 */

static int kind_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills err (if there is room for anything) and returns
 * JOBD_INVALID_ARGUMENT, so callers can `return (kind_errf(...))`. */
static int
kind_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		(void) vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return (JOBD_INVALID_ARGUMENT);
}

/* Copies client text s into buf (of size KIND_QUOTE_MAX + 4 at least) for
 * quoting in a message: printable ASCII as is, any other byte as \xNN, at
 * most KIND_QUOTE_MAX characters, then "..." if something was cut. */
#define KIND_QUOTE_BUF (KIND_QUOTE_MAX + 4)
static void
kind_quote(char buf[KIND_QUOTE_BUF], const char *s)
{
	size_t o = 0;

	if (s == NULL)
		s = "";
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char) *s;
		bool plain = c >= 0x20 && c < 0x7f && c != '\\';
		size_t need = plain ? 1 : 4;
		if (o + need > KIND_QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (plain) {
			buf[o++] = (char) c;
		} else {
			(void) snprintf(buf + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	buf[o] = '\0';
}

/* Parses s as a whole decimal integer: an optional '-', then one or more
 * digits, nothing else (no sign '+', no spaces), no overflow. */
static bool
kind_parse_int(const char *s, int64_t *out)
{
	const char *p = s;
	char *end;
	long long v;

	if (s == NULL)
		return (false);
	if (*p == '-')
		p++;
	if (*p == '\0')
		return (false);
	for (; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return (false);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return (false);
	*out = (int64_t) v;
	return (true);
}

/* Checks one given value against its parameter's type and bounds. */
static int
kind_check_value(const struct kind *k, const struct kind_param *p,
                 const char *value, char *err, size_t errlen)
{
	char q[KIND_QUOTE_BUF];
	int64_t v;
	size_t len;

	if (value == NULL)
		value = "";
	switch (p->type) {
	case KIND_INT:
		if ((len = strlen(value)) > KIND_MAX_INT_LEN)
			return (kind_errf(
			    err, errlen,
			    "parameter '%s' of kind '%s' must be an integer "
			    "of at most %d characters, not %zu",
			    p->name, k->name, KIND_MAX_INT_LEN, len));
		if (kind_parse_int(value, &v) && v >= p->min && v <= p->max)
			return (JOBD_OK);
		kind_quote(q, value);
		return (kind_errf(
		    err, errlen,
		    "parameter '%s' of kind '%s' must be an integer from "
		    "%" PRId64 " to %" PRId64 ", not '%s'",
		    p->name, k->name, p->min, p->max, q));
	case KIND_STRING:
		len = strlen(value);
		if (len > (uint64_t) p->max)
			return (kind_errf(
			    err, errlen,
			    "parameter '%s' of kind '%s' must be at most "
			    "%" PRId64 " bytes long, not %zu",
			    p->name, k->name, p->max, len));
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char) value[i];
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				return (kind_errf(
				    err, errlen,
				    "parameter '%s' of kind '%s' must not "
				    "contain control characters (byte 0x%02x "
				    "at offset %zu)",
				    p->name, k->name, c, i));
		}
		return (JOBD_OK);
	}
	return (kind_errf(err, errlen,
	                  "parameter '%s' of kind '%s' has no type", p->name,
	                  k->name));
}

/* The index of parameter `name` in k's table, or -1. */
static ptrdiff_t
kind_param_index(const struct kind *k, const char *name)
{
	if (name == NULL)
		return (-1);
	for (size_t j = 0; j < k->nparams; j++)
		if (strcmp(k->params[j].name, name) == 0)
			return ((ptrdiff_t) j);
	return (-1);
}

/*
 * Every step is linear in nparams (times the kind's own handful of
 * parameters), so a client sending thousands of parameters costs little.
 */
int
kind_validate(const struct kind *k, const struct job_param *params,
              size_t nparams, size_t input_len, char *err, size_t errlen)
{
	char q[KIND_QUOTE_BUF];
	int rv;

	if (err != NULL && errlen > 0)
		err[0] = '\0';

	if (input_len > 0 && !k->uses_input)
		return (kind_errf(err, errlen, "kind '%s' takes no input",
		                  k->name));
	if (input_len > KIND_MAX_INPUT)
		return (kind_errf(
		    err, errlen,
		    "input of kind '%s' is %zu bytes, more than the limit of "
		    "%d",
		    k->name, input_len, KIND_MAX_INPUT));

	for (size_t i = 0; i < nparams; i++) {
		if (kind_param_index(k, params[i].name) < 0) {
			kind_quote(q, params[i].name);
			return (kind_errf(
			    err, errlen, "unknown parameter '%s' for kind '%s'",
			    q, k->name));
		}
	}

	for (size_t j = 0; j < k->nparams; j++) {
		const struct kind_param *p = &k->params[j];
		const char *value = NULL;
		size_t seen = 0;

		for (size_t i = 0; i < nparams; i++) {
			if (strcmp(params[i].name, p->name) == 0) {
				value = params[i].value;
				seen++;
			}
		}
		if (seen > 1)
			return (kind_errf(err, errlen,
			                  "parameter '%s' given twice",
			                  p->name));
		if (seen == 0) {
			if (p->required)
				return (
				    kind_errf(err, errlen,
				              "kind '%s' needs parameter '%s'",
				              k->name, p->name));
			continue;
		}
		if ((rv = kind_check_value(k, p, value, err, errlen)) != 0)
			return (rv);
	}
	return (JOBD_OK);
}

/* The text of parameter `name` in r, its default, or NULL if k has no such
 * parameter. */
static const char *
kind_param_text(const struct kind_run *r, const struct kind *k,
                const char *name)
{
	ptrdiff_t j = kind_param_index(k, name);

	if (j < 0)
		return (NULL);
	for (size_t i = 0; i < r->nparams; i++)
		if (r->params[i].name != NULL &&
		    strcmp(r->params[i].name, name) == 0)
			return (r->params[i].value != NULL ? r->params[i].value
			                                   : "");
	return (k->params[j].def);
}

int64_t
kind_param_int(const struct kind_run *r, const struct kind *k, const char *name)
{
	const char *s = kind_param_text(r, k, name);
	int64_t v;

	if (s == NULL || !kind_parse_int(s, &v))
		return (0);
	return (v);
}

const char *
kind_param_str(const struct kind_run *r, const struct kind *k, const char *name)
{
	return (kind_param_text(r, k, name));
}

/*
 * The kinds.
 */

static void
kind_run_reset(struct kind_run *r)
{
	r->result = NULL;
	r->result_len = 0;
	r->error[0] = '\0';
}

static enum kind_outcome
kind_fail(struct kind_run *r, const char *msg)
{
	(void) snprintf(r->error, sizeof(r->error), "%s", msg);
	return (KIND_FAILED);
}

/* Sets r->result to a malloc'd copy of the len bytes at s (NUL-terminated
 * for convenience; the NUL is not counted). */
static enum kind_outcome
kind_set_result(struct kind_run *r, const void *s, size_t len)
{
	if ((r->result = malloc(len + 1)) == NULL)
		return (kind_fail(r, "out of memory"));
	memcpy(r->result, s, len);
	r->result[len] = '\0';
	r->result_len = len;
	return (KIND_OK);
}

static enum kind_outcome
kind_set_result_u64(struct kind_run *r, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

	return (kind_set_result(r, buf, (size_t) n));
}

static enum kind_outcome
count_run(struct kind_run *r)
{
	uint64_t n = (uint64_t) kind_param_int(r, &kind_tab[KT_COUNT], "n");
	uint64_t x = 0;

	kind_run_reset(r);
	for (uint64_t done = 0; done < n;) {
		uint64_t chunk =
		    n - done < COUNT_CHUNK ? n - done : COUNT_CHUNK;

		if (r->progress(r->progress_arg, done, n) != 0)
			return (KIND_STOPPED);
		for (uint64_t i = 0; i < chunk; i++) {
			x += i;
			/* The compiler must assume x is read and changed
			 * here, so it can neither fold nor skip the loop. */
			__asm__ volatile("" : "+r"(x));
		}
		done += chunk;
	}
	return (kind_set_result_u64(r, n));
}

/* floor(sqrt(n)), exactly. */
static uint64_t
kind_isqrt(uint64_t n)
{
	uint64_t s = (uint64_t) sqrt((double) n);

	while (s > 0 && s * s > n)
		s--;
	while ((s + 1) * (s + 1) <= n)
		s++;
	return (s);
}

/*
 * A segmented sieve over odd numbers only: index j stands for 2j + 1. The
 * base primes (odd, up to sqrt(limit)) come from a plain sieve; each keeps
 * the index of its next odd multiple to strike, carried from one segment to
 * the next. Memory: one segment plus about 12 bytes per base prime.
 */
static enum kind_outcome
primes_run(struct kind_run *r)
{
	uint64_t limit =
	    (uint64_t) kind_param_int(r, &kind_tab[KT_PRIMES], "limit");
	uint64_t root = kind_isqrt(limit);
	uint64_t jmax = (limit - 1) / 2; /* last index: 2 * jmax + 1 <= limit */
	uint64_t count = limit >= 2 ? 1 : 0; /* the prime 2 */
	unsigned char *small = NULL, *seg = NULL;
	uint32_t *base = NULL;
	uint64_t *next = NULL;
	size_t nbase = 0;
	enum kind_outcome rv = KIND_OK;

	kind_run_reset(r);
	if ((small = calloc(root + 1, 1)) == NULL ||
	    (seg = malloc(PRIMES_SEGMENT)) == NULL) {
		rv = kind_fail(r, "out of memory");
		goto out;
	}
	/* small[i] != 0: i is composite, for odd i <= root. */
	for (uint64_t i = 3; i * i <= root; i += 2)
		if (!small[i])
			for (uint64_t m = i * i; m <= root; m += 2 * i)
				small[m] = 1;
	for (uint64_t i = 3; i <= root; i += 2)
		if (!small[i])
			nbase++;
	if (nbase > 0 && ((base = malloc(nbase * sizeof(*base))) == NULL ||
	                  (next = malloc(nbase * sizeof(*next))) == NULL)) {
		rv = kind_fail(r, "out of memory");
		goto out;
	}
	nbase = 0;
	for (uint64_t i = 3; i <= root; i += 2) {
		if (!small[i]) {
			base[nbase] = (uint32_t) i;
			next[nbase] = (i * i - 1) / 2;
			nbase++;
		}
	}

	for (uint64_t lo = 1; lo <= jmax; lo += PRIMES_SEGMENT) {
		uint64_t hi = jmax + 1 - lo < PRIMES_SEGMENT
		                  ? jmax + 1
		                  : lo + PRIMES_SEGMENT;
		size_t len = (size_t) (hi - lo);
		uint64_t done = 2 * lo < limit ? 2 * lo : limit;
		size_t composite = 0;

		if (r->progress(r->progress_arg, done, limit) != 0) {
			rv = KIND_STOPPED;
			goto out;
		}
		memset(seg, 0, len);
		for (size_t b = 0; b < nbase; b++) {
			uint64_t j = next[b], p = base[b];
			for (; j < hi; j += p)
				seg[j - lo] = 1;
			next[b] = j;
		}
		for (size_t i = 0; i < len; i++)
			composite += seg[i];
		count += len - composite;
	}
	rv = kind_set_result_u64(r, count);
out:
	free(next);
	free(base);
	free(seg);
	free(small);
	return (rv);
}

/* mbed TLS 3 renamed mbedtls_sha256_ret() to mbedtls_sha256(); both return
 * 0 or a negative error code. */
static int
kind_sha256(const unsigned char *in, size_t len, unsigned char out[32])
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	return (mbedtls_sha256(in, len, out, 0));
#else
	return (mbedtls_sha256_ret(in, len, out, 0));
#endif
}

static enum kind_outcome
sha256_run(struct kind_run *r)
{
	uint64_t rounds =
	    (uint64_t) kind_param_int(r, &kind_tab[KT_SHA256], "rounds");
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];
	char text[64];
	int rv;

	kind_run_reset(r);
	if (r->progress(r->progress_arg, 0, rounds) != 0)
		return (KIND_STOPPED);
	rv = kind_sha256(r->input_len > 0 ? r->input : (const uint8_t *) "",
	                 r->input_len, d);
	for (uint64_t i = 1; rv == 0 && i < rounds; i++) {
		if (i % SHA256_CHUNK == 0 &&
		    r->progress(r->progress_arg, i, rounds) != 0)
			return (KIND_STOPPED);
		rv = kind_sha256(d, sizeof(d), d);
	}
	if (rv != 0) {
		(void) snprintf(r->error, sizeof(r->error),
		                "sha256 failed (mbed TLS error -0x%04x)",
		                (unsigned) -rv);
		return (KIND_FAILED);
	}
	for (size_t i = 0; i < sizeof(d); i++) {
		text[2 * i] = hex[d[i] >> 4];
		text[2 * i + 1] = hex[d[i] & 0xf];
	}
	return (kind_set_result(r, text, sizeof(text)));
}

/* Naps of at most SLEEP_SLICE_MS, measured against the monotonic clock, so
 * an early wake-up (a signal) costs nothing and a stop is seen in time. */
static enum kind_outcome
sleep_run(struct kind_run *r)
{
	uint64_t ms = (uint64_t) kind_param_int(r, &kind_tab[KT_SLEEP], "ms");
	uint64_t start = (uint64_t) clock_ms(CLOCK_MONOTONIC);
	uint64_t elapsed;

	kind_run_reset(r);
	while ((elapsed = (uint64_t) clock_ms(CLOCK_MONOTONIC) - start) < ms) {
		uint64_t slice = ms - elapsed < SLEEP_SLICE_MS ? ms - elapsed
		                                               : SLEEP_SLICE_MS;
		struct timespec ts = {
		    .tv_sec = 0,
		    .tv_nsec = (long) slice * 1000000L,
		};

		if (r->progress(r->progress_arg, elapsed, ms) != 0)
			return (KIND_STOPPED);
		(void) nanosleep(&ts, NULL);
	}
	return (KIND_OK);
}

static enum kind_outcome
fail_run(struct kind_run *r)
{
	const char *msg = kind_param_str(r, &kind_tab[KT_FAIL], "message");
	size_t len = strlen(msg);

	kind_run_reset(r);
	if (len >= sizeof(r->error)) {
		/* Cut at a character boundary: never leave half of a UTF-8
		 * sequence at the end. */
		len = sizeof(r->error) - 1;
		while (len > 0 && ((unsigned char) msg[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(r->error, msg, len);
	r->error[len] = '\0';
	return (KIND_FAILED);
}

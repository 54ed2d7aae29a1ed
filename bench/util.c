/*
 * util: clocks, messages, percentiles, the tiny job's request, and a
 * phase's jobd and client, for every workload.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench.h"

/* The last error, for the JSON. Written by the main thread only: load.c's
 * threads keep their errors, and the main thread reports the first. */
static char last_error[512];

int64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec);
}

void
bench_sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void
bench_errorf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	fprintf(stderr, "jobd-bench: %s\n", last_error);
}

const char *
bench_last_error(void)
{
	return (last_error);
}

void
bench_error_clear(void)
{
	last_error[0] = '\0';
}

void
bench_progress(const char *workload, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "jobd-bench: %s: ", workload);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return ((x > y) - (x < y));
}

uint64_t
bench_percentile(uint64_t *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return (0);
	qsort(v, n, sizeof(*v), cmp_u64);
	/* nearest rank: the smallest value with p% of them at or below */
	rank = (size_t) ((p / 100.0) * (double) n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (v[rank - 1]);
}

void
bench_count_req_init(struct bench_count_req *r, uint64_t n)
{
	Jobd__V1__SubmitRequest init = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry pinit =
	    JOBD__V1__SUBMIT_REQUEST__PARAMS_ENTRY__INIT;

	snprintf(r->n, sizeof(r->n), "%llu", (unsigned long long) n);
	r->param = pinit;
	r->param.key = "n";
	r->param.value = r->n;
	r->params[0] = &r->param;
	r->req = init;
	r->req.kind = "count";
	r->req.n_params = 1;
	r->req.params = r->params;
}

int
bench_subdir(const struct bench *b, const char *name, char *out, size_t len)
{
	if ((size_t) snprintf(out, len, "%s/%s", b->datadir, name) >= len) {
		bench_errorf("the data directory's path is too long");
		return (-1);
	}
	if (mkdir(out, 0700) != 0 && errno != EEXIST) {
		bench_errorf("cannot make '%s': %s", out, strerror(errno));
		return (-1);
	}
	return (0);
}

const char *
bench_parent_dir(const struct bench_opts *o)
{
	const char *parent = o->dir;

	if (parent == NULL)
		parent = getenv("TMPDIR");
	if (parent == NULL || *parent == '\0')
		parent = "/var/tmp";
	return (parent);
}

int
bench_jobd(struct bench *b, struct jobdproc *p, const char *name,
           const char *const *extra, const char **url)
{
	char dir[PATH_MAX];

	memset(p, 0, sizeof(*p));
	if (b->o.addr != NULL) {
		*url = b->o.addr;
		return (0);
	}
	if (bench_subdir(b, name, dir, sizeof(dir)) != 0 ||
	    jobdproc_start(p, b->o.jobd, dir, extra) != 0)
		return (-1);
	*url = p->url;
	return (0);
}

int
bench_client(const char *url, jobd_client **c)
{
	if (jobd_client_open(c, url) != JOBD_OK) {
		bench_errorf("%s", jobd_client_errmsg());
		return (-1);
	}
	return (0);
}

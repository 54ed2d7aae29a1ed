/*
 * fib: an example C plugin for jobd, the kind `fib`: F(n) modulo 2^64,
 * computed by n steps of the plain loop, so that a large n is real
 * CPU-bound work. It shows what every kind does: read its parameters
 * (checked against the table by jobd before run() is called), report
 * progress often and stop when progress() says so, set a result.
 *
 * It includes only <jobd/kind.h> of jobd's headers. Build it in jobd's tree
 * (the examples/plugin target) or on its own against an installed jobd:
 *
 *     cmake -S examples/plugin -B build && cmake --build build
 *     # or: cc -shared -fPIC $(pkg-config --cflags jobd-kind) -o fib.so fib.c
 *
 * and load it with `jobd --plugin ./fib.so`, or a kind file (fib.kind).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include <jobd/kind.h>

/* Steps between two progress reports: a fraction of a millisecond. */
#define FIB_REPORT_EVERY (UINT64_C(1) << 18)

static const struct jobd_param fib_params[] = {
    {
        .name = "n",
        .type = JOBD_PARAM_INT,
        .required = 1,
        .min = 0,
        .max = INT64_C(100000000000),
        .desc = "which Fibonacci number: F(0) = 0, F(1) = 1",
    },
};

static int
fib_run(jobd_job *job, const struct jobd_host *host)
{
	uint64_t n = (uint64_t) host->param_int(job, "n");
	uint64_t a = 0, b = 1; /* F(i), F(i + 1), modulo 2^64 */
	char out[32];
	int len;

	for (uint64_t i = 0; i < n; i++) {
		if (i % FIB_REPORT_EVERY == 0 && host->progress(job, i, n) != 0)
			return JOBD_RUN_STOPPED;
		uint64_t next = a + b; /* wraps: modulo 2^64 */
		a = b;
		b = next;
	}
	(void) host->progress(job, n, n);
	len = snprintf(out, sizeof(out), "%" PRIu64 "\n", a);
	if (host->set_result(job, out, (size_t) len) != 0)
		return host->fail(job, "out of memory");
	return JOBD_RUN_OK;
}

static const struct jobd_kind fib_kind = {
    .name = "fib",
    .desc = "the n-th Fibonacci number modulo 2^64, the slow way",
    .params = fib_params,
    .nparams = sizeof(fib_params) / sizeof(fib_params[0]),
    .run = fib_run,
};

static int
fib_init(struct jobd_registrar *reg)
{
	return reg->add_kind(reg, &fib_kind);
}

JOBD_PLUGIN(fib_init)

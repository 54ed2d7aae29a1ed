#ifndef JOBD_KINDS_H
#define JOBD_KINDS_H

/*
 * kinds: the table of job kinds this daemon runs.
 *
 * Each kind has a name, a one-line description, a table of typed, bounded
 * parameters and a run function that does honest CPU work, reporting
 * progress as it goes. Parameters are checked by kind_validate() at Submit,
 * so a worker never discovers a bad one.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

enum kind_param_type {
	KIND_INT = 1,    /* decimal integer in [min, max], at most 20
	                    characters (leading zeros allowed) */
	KIND_STRING = 2, /* length <= max; no control characters but tab and
	                    newline */
};

struct kind_param {
	const char *name;
	enum kind_param_type type;
	bool required;
	int64_t min;
	int64_t max;
	const char *def; /* default value as text; NULL when required */
	const char *desc;
};

/*
 * What a run function sees and fills. The pool sets the inputs; the kind
 * sets `result` (malloc'd, owned by the caller afterwards) on success or
 * `error` on failure.
 *
 * progress() must be called regularly (every few milliseconds of work at
 * most), with done and total in the kind's own units (iterations, numbers,
 * rounds, milliseconds); it returns non-zero when the job must stop
 * (cancelled, timed out, daemon shutting down), and the kind then returns
 * KIND_STOPPED at once. `result` is NULL unless the outcome is KIND_OK.
 */
struct kind_run {
	const struct job_param *params; /* already validated */
	size_t nparams;
	const uint8_t *input;
	size_t input_len;
	int (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;

	uint8_t *result;
	size_t result_len;
	char error[256];
};

enum kind_outcome {
	KIND_OK = 0,      /* result set */
	KIND_FAILED = 1,  /* error set */
	KIND_STOPPED = 2, /* progress() asked it to stop */
};

struct kind {
	const char *name;
	const char *desc;
	const struct kind_param *params;
	size_t nparams;
	bool uses_input;
	enum kind_outcome (*run)(struct kind_run *r);
};

/* The kind named `name`, or NULL. */
const struct kind *kind_find(const char *name);
/* The whole table; *n = its length. */
const struct kind *kind_table(size_t *n);

/*
 * Checks parameters and input size for kind k: every name known, no name
 * twice, every required one present, ints parse fully and lie in bounds,
 * strings within length. JOBD_OK, or JOBD_INVALID_ARGUMENT with a message
 * naming the parameter in `err`, e.g. "parameter 'n' of kind 'count' must be
 * an integer from 1 to 100000000000, not 'x'".
 */
int kind_validate(const struct kind *k, const struct job_param *params,
                  size_t nparams, size_t input_len, char *err, size_t errlen);

/* The value of parameter `name` in r (or its default), as an integer /
 * string. Only for parameters of the kind's own table, after validation. */
int64_t kind_param_int(const struct kind_run *r, const struct kind *k,
                       const char *name);
const char *kind_param_str(const struct kind_run *r, const struct kind *k,
                           const char *name);

#endif

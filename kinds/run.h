#ifndef JOBD_KIND_RUN_H
#define JOBD_KIND_RUN_H

/*
 * run (kind_run): one run of one job through the kind API, the host side.
 *
 * The caller (the worker pool, a test) fills a struct jobd_job with what
 * the job is and how to report progress, and kind_run() calls the kind's
 * run function with the host's table of functions (kind_host). Afterwards
 * the job holds the result (on JOBD_RUN_OK) or the error.
 */

#include <stddef.h>
#include <stdint.h>

#include <jobd/kind.h>

#include "store.h"

#define KIND_ERROR_MAX 4096 /* an error message's bytes, NUL included */

struct jobd_job {
	/* set by the caller */
	const struct jobd_kind *kind;
	uint64_t id;
	uint32_t attempt;
	const struct job_param *params; /* validated against kind */
	size_t nparams;
	const uint8_t *input; /* NULL when input_len == 0 */
	size_t input_len;
	/* non-zero: stop now */
	int (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;

	/* set by the run */
	uint8_t *result; /* malloc'd; the caller's after kind_run() */
	size_t result_len;
	char error[KIND_ERROR_MAX];
};

extern const struct jobd_host kind_host;

/*
 * Runs job->kind on job, on the calling thread. Returns the outcome (enum
 * jobd_run_outcome; anything else a kind returns counts as
 * JOBD_RUN_FAILED). The result is kept only on JOBD_RUN_OK; on a failure
 * without a message the error says "failed".
 */
int kind_run(struct jobd_job *job);

#endif

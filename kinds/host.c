/*
 * host: the functions a running job calls (struct jobd_host), over a
 * struct jobd_job that the caller filled.
 *
 * A kind sees jobd only through kind_host, so a built-in kind, a program
 * kind (exec.c) and a plugin are driven the same way by kind_run().
 */
#include "run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

static int
host_progress(jobd_job *job, uint64_t done, uint64_t total)
{
	if (job->progress == NULL)
		return 0;
	return job->progress(job->progress_arg, done, total);
}

static void
host_input(jobd_job *job, const uint8_t **data, size_t *len)
{
	*data = job->input != NULL ? job->input : (const uint8_t *) "";
	*len = job->input != NULL ? job->input_len : 0;
}

static const struct jobd_param *
host_param_def(const jobd_job *job, const char *name)
{
	const struct jobd_kind *k = job->kind;

	for (size_t i = 0; name != NULL && i < k->nparams; i++)
		if (strcmp(k->params[i].name, name) == 0)
			return &k->params[i];
	return NULL;
}

static const char *
host_param(jobd_job *job, const char *name)
{
	const struct jobd_param *p = host_param_def(job, name);

	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < job->nparams; i++)
		if (job->params[i].name != NULL &&
		    strcmp(job->params[i].name, name) == 0)
			return job->params[i].value != NULL
			           ? job->params[i].value
			           : "";
	return p->def;
}

static int64_t
host_param_int(jobd_job *job, const char *name)
{
	const char *s = host_param(job, name);
	int64_t v;

	if (s == NULL || !kind_parse_int(s, &v))
		return 0;
	return v;
}

static int
host_set_result(jobd_job *job, const void *data, size_t len)
{
	uint8_t *r;

	/* NUL-terminated for convenience; the NUL is not counted */
	if ((r = malloc(len + 1)) == NULL)
		return -1;
	if (len > 0)
		memcpy(r, data, len);
	r[len] = '\0';
	free(job->result);
	job->result = r;
	job->result_len = len;
	return 0;
}

static int host_fail(jobd_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
host_fail(jobd_job *job, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	(void) vsnprintf(job->error, sizeof(job->error), fmt, ap);
	va_end(ap);
	/* never leave half of a UTF-8 sequence at a cut: find where the
	 * last sequence starts, and drop it if it lacks bytes */
	len = strlen(job->error);
	if (len == sizeof(job->error) - 1) {
		size_t start = len, need;
		while (start > 0 && start > len - 4 &&
		       ((unsigned char) job->error[start - 1] & 0xc0) == 0x80)
			start--;
		if (start > 0) {
			unsigned char lead =
			    (unsigned char) job->error[--start];
			need = lead >= 0xf0   ? 4
			       : lead >= 0xe0 ? 3
			       : lead >= 0xc0 ? 2
			                      : 1;
			if (len - start < need)
				job->error[start] = '\0';
		}
	}
	return JOBD_RUN_FAILED;
}

static uint64_t
host_job_id(jobd_job *job)
{
	return job->id;
}

static uint32_t
host_attempt(jobd_job *job)
{
	return job->attempt;
}

static const struct jobd_kind *
host_kind(jobd_job *job)
{
	return job->kind;
}

const struct jobd_host kind_host = {
    .api_version = JOBD_KIND_API_VERSION,
    .size = sizeof(struct jobd_host),
    .progress = host_progress,
    .input = host_input,
    .param = host_param,
    .param_int = host_param_int,
    .set_result = host_set_result,
    .fail = host_fail,
    .job_id = host_job_id,
    .attempt = host_attempt,
    .kind = host_kind,
};

int
kind_run(struct jobd_job *job)
{
	int outcome;

	job->result = NULL;
	job->result_len = 0;
	job->error[0] = '\0';
	outcome = job->kind->run(job, &kind_host);
	switch (outcome) {
	case JOBD_RUN_OK:
		return outcome;
	case JOBD_RUN_FAILED:
	case JOBD_RUN_STOPPED:
	case JOBD_RUN_FAILED_FINAL:
		break;
	default:
		(void) snprintf(job->error, sizeof(job->error),
		                "kind '%s' returned %d, which is no outcome",
		                job->kind->name, outcome);
		outcome = JOBD_RUN_FAILED;
	}
	free(job->result);
	job->result = NULL;
	job->result_len = 0;
	if (outcome != JOBD_RUN_STOPPED && job->error[0] == '\0')
		(void) snprintf(job->error, sizeof(job->error), "failed");
	return outcome;
}

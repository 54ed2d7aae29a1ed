/*
 * job.c: the record of a job apart from any database (job.h): state
 * names, the record's copy and release, the params blob and the two
 * checksums that every back end writes the same way.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "job.h"

static const char *const job_state_names[JOB_STATE_MAX + 1] = {
    [JOB_QUEUED] = "queued",       [JOB_RUNNING] = "running",
    [JOB_SUCCEEDED] = "succeeded", [JOB_FAILED] = "failed",
    [JOB_CANCELLED] = "cancelled", [JOB_SCHEDULED] = "scheduled",
};

const char *
job_state_name(int state)
{
	if (state < 1 || state > JOB_STATE_MAX)
		return "unknown";
	return job_state_names[state];
}

int
job_state_parse(const char *name)
{
	for (int i = 1; name != NULL && i <= JOB_STATE_MAX; i++)
		if (strcmp(name, job_state_names[i]) == 0)
			return i;
	return 0;
}

int
job_state_terminal(int state)
{
	return state == JOB_SUCCEEDED || state == JOB_FAILED ||
	       state == JOB_CANCELLED;
}

void
jobrec_clear(struct jobrec *r)
{
	free(r->kind);
	for (size_t i = 0; i < r->nparams; i++) {
		free(r->params[i].name);
		free(r->params[i].value);
	}
	free(r->params);
	free(r->input);
	free(r->result);
	free(r->error);
	free(r->idem_key);
	free(r->unique_key);
	free(r->after);
	for (size_t i = 0; i < r->nhistory; i++)
		free(r->history[i].error);
	free(r->history);
	memset(r, 0, sizeof(*r));
}

int
job_dup(char **dst, const char *src)
{
	if (src == NULL)
		return 0;
	return (*dst = strdup(src)) == NULL ? -1 : 0;
}

static int
job_dupmem(uint8_t **dst, const uint8_t *src, size_t len)
{
	if (src == NULL || len == 0)
		return 0;
	if ((*dst = malloc(len)) == NULL)
		return -1;
	memcpy(*dst, src, len);
	return 0;
}

int
jobrec_copy(struct jobrec *dst, const struct jobrec *src)
{
	*dst = *src;
	dst->kind = NULL;
	dst->params = NULL;
	dst->nparams = 0;
	dst->input = NULL;
	dst->result = NULL;
	dst->error = NULL;
	dst->idem_key = NULL;
	dst->unique_key = NULL;
	dst->after = NULL;
	dst->nafter = 0;
	dst->history = NULL;
	dst->nhistory = 0;

	if (src->nafter > 0 && src->after != NULL) {
		dst->after = malloc(src->nafter * sizeof(*dst->after));
		if (dst->after == NULL)
			goto fail;
		memcpy(dst->after, src->after,
		       src->nafter * sizeof(*dst->after));
		dst->nafter = src->nafter;
	}
	if (src->nhistory > 0 && src->history != NULL) {
		dst->history = calloc(src->nhistory, sizeof(*dst->history));
		if (dst->history == NULL)
			goto fail;
		dst->nhistory = src->nhistory;
		for (size_t i = 0; i < src->nhistory; i++) {
			dst->history[i] = src->history[i];
			dst->history[i].error = NULL;
			if (job_dup(&dst->history[i].error,
			            src->history[i].error) != 0)
				goto fail;
		}
	}
	if (src->nparams > 0 && src->params != NULL) {
		dst->params = calloc(src->nparams, sizeof(*dst->params));
		if (dst->params == NULL)
			goto fail;
		dst->nparams = src->nparams;
		for (size_t i = 0; i < src->nparams; i++)
			if (job_dup(&dst->params[i].name,
			            src->params[i].name) != 0 ||
			    job_dup(&dst->params[i].value,
			            src->params[i].value) != 0)
				goto fail;
	}
	if (job_dup(&dst->kind, src->kind) != 0 ||
	    job_dupmem(&dst->input, src->input, src->input_len) != 0 ||
	    job_dupmem(&dst->result, src->result, src->result_len) != 0 ||
	    job_dup(&dst->error, src->error) != 0 ||
	    job_dup(&dst->idem_key, src->idem_key) != 0 ||
	    job_dup(&dst->unique_key, src->unique_key) != 0)
		goto fail;
	return JOBD_OK;

fail:
	jobrec_clear(dst);
	return JOBD_RESOURCE_EXHAUSTED;
}

void
job_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

uint32_t
job_get32(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
	       (uint32_t) p[3] << 24;
}

/* ---- checksums (see "Checksums" at the top) --------------------------- */

/* The checksum of the job's id, where both checksums start. */
uint32_t
job_crc_id(uint64_t id)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t) (id >> (8 * i));
	return crc32c(0, b, sizeof(b));
}

/* crc continued over the params blob that params[0..n) encode to, without
 * making the blob: the same bytes as job_params_encode() writes. */
uint32_t
job_crc_params(uint32_t crc, const struct job_param *params, size_t n)
{
	uint8_t b[4];

	job_put32(b, (uint32_t) n);
	crc = crc32c(crc, b, 4);
	for (size_t i = 0; i < n; i++) {
		const char *f[2] = {params[i].name, params[i].value};
		for (int j = 0; j < 2; j++) {
			size_t l = strlen(f[j]);
			job_put32(b, (uint32_t) l);
			crc = crc32c(crc, b, 4);
			crc = crc32c(crc, f[j], l);
		}
	}
	return crc;
}

/* The input checksum from the params blob. */
uint32_t
job_input_crc(uint64_t id, const char *kind, const uint8_t *params, size_t plen,
              const uint8_t *input, size_t ilen)
{
	uint32_t crc = job_crc_id(id);

	crc = crc32c(crc, kind, strlen(kind) + 1);
	crc = crc32c(crc, params, plen);
	return crc32c(crc, input, ilen);
}

uint32_t
job_result_crc(uint64_t id, const uint8_t *result, size_t len)
{
	return crc32c(job_crc_id(id), result, len);
}

uint32_t
job_input_crc_params(uint64_t id, const char *kind,
                     const struct job_param *params, size_t n,
                     const uint8_t *input, size_t ilen)
{
	uint32_t crc = job_crc_id(id);

	crc = crc32c(crc, kind, strlen(kind) + 1);
	crc = job_crc_params(crc, params, n);
	return crc32c(crc, input, ilen);
}

int
job_params_encode(const struct job_param *params, size_t n, uint8_t **bp,
                  size_t *lenp, size_t *bad, const char **why)
{
	size_t len = 4;
	uint8_t *b, *p;

	*bad = 0;
	if (n > 0 && params == NULL) {
		*why = "params missing";
		return JOBD_INVALID_ARGUMENT;
	}
	for (size_t i = 0; i < n; i++) {
		const struct job_param *jp = &params[i];
		size_t nl, vl;

		if (jp->name == NULL || jp->value == NULL) {
			*bad = i;
			*why = "has no name or value";
			return JOBD_INVALID_ARGUMENT;
		}
		nl = strlen(jp->name);
		vl = strlen(jp->value);
		if (nl > JOB_PARAMS_MAX - len ||
		    8 > JOB_PARAMS_MAX - len - nl ||
		    vl > JOB_PARAMS_MAX - len - nl - 8) {
			*why = "params too big";
			return JOBD_INVALID_ARGUMENT;
		}
		len += 8 + nl + vl;
	}
	if ((b = malloc(len)) == NULL) {
		*why = "out of memory";
		return JOBD_RESOURCE_EXHAUSTED;
	}
	p = b;
	job_put32(p, (uint32_t) n);
	p += 4;
	for (size_t i = 0; i < n; i++) {
		const char *f[2] = {params[i].name, params[i].value};
		for (int j = 0; j < 2; j++) {
			size_t l = strlen(f[j]);
			job_put32(p, (uint32_t) l);
			memcpy(p + 4, f[j], l);
			p += 4 + l;
		}
	}
	assert((size_t) (p - b) == len);
	*bp = b;
	*lenp = len;
	return JOBD_OK;
}

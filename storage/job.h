#ifndef JOBD_JOB_H
#define JOBD_JOB_H

/*
 * job: the record of a job, apart from any database: its states, its
 * persistent fields (struct jobrec), their copy and release, and the
 * checksums and the params encoding that every back end stores the same
 * way (store.c, the SQLite file; the PostgreSQL back end too), so that a
 * row written by one reads back the same through the other.
 *
 * The checksums (CRC-32C, crc32c.h):
 *   input   the job's id (8 bytes, little-endian), its kind name and a
 *           NUL, its params blob, its input bytes
 *   result  the job's id and the result bytes
 * The params blob, little-endian:
 *   u32 count, then count times: u32 name length, name, u32 value length,
 *   value (no NUL terminators)
 */

#include <stddef.h>
#include <stdint.h>

#include "jobd_status.h"

/* Job states, the same numbers as jobd.v1.JobState. */
enum job_state {
	JOB_QUEUED = 1,
	JOB_RUNNING = 2,
	JOB_SUCCEEDED = 3,
	JOB_FAILED = 4,
	JOB_CANCELLED = 5,
	/* Waits for its not_before (a delayed job, or a retry's backoff). In
	 * memory only: the database has such a job as `queued` with its
	 * not_before, so the move to queued writes nothing. */
	JOB_SCHEDULED = 6,
};
#define JOB_STATE_MAX 6

/* "queued", "running", ...; "unknown" for anything else. */
const char *job_state_name(int state);
/* The state named `name`, or 0 if there is none. */
int job_state_parse(const char *name);
/* True for succeeded, failed, cancelled. */
int job_state_terminal(int state);

struct job_param {
	char *name;
	char *value;
};

/* One earlier run of a job that a Retry put back in the queue. */
struct job_run {
	int state; /* failed or cancelled */
	char *error;
	uint32_t attempts;
	int64_t started_at;
	int64_t finished_at;
};

/* A job runs after at most this many others (SubmitRequest.after). */
#define JOB_MAX_AFTER 64

/*
 * The persistent fields of a job (beanstalkd's Jobrec): plain C, no protobuf.
 * Every pointer is owned by the record and freed by jobrec_clear(). Times are
 * Unix milliseconds, 0 when unset.
 */
struct jobrec {
	uint64_t id;
	char *kind;
	struct job_param *params;
	size_t nparams;
	uint8_t *input; /* NULL when input_len == 0 */
	size_t input_len;
	int32_t priority;
	int state; /* enum job_state */
	uint32_t attempts;
	uint32_t max_attempts;
	uint32_t timeout_ms;
	uint64_t progress_done;
	uint64_t progress_total;
	uint8_t *result; /* NULL when result_len == 0 */
	size_t result_len;
	char *error;    /* NULL = none */
	char *idem_key; /* NULL or "" = none */
	int64_t created_at;
	int64_t started_at;
	int64_t finished_at;
	int64_t not_before;  /* queued for a retry: not to start before this */
	uint32_t recoveries; /* starts of jobd that found it running: see
	                        store_recover(); insert writes it, update not */
	uint32_t reruns;     /* times a Retry put it back in the queue */
	char *unique_key;    /* NULL or "" = none: unique while not ended */
	uint64_t *after;     /* runs once each of these has succeeded */
	size_t nafter;       /* at most JOB_MAX_AFTER */
	/* not stored in the row: */
	int waiting;             /* a live queued job's enum job_wait */
	uint64_t waiting_for;    /* JOB_WAIT_AFTER: the job it waits for */
	struct job_run *history; /* store_runs(): its earlier runs */
	size_t nhistory;
};

/* Why a queued job does not start when a worker is free. */
enum job_wait {
	JOB_WAIT_NONE = 0,
	JOB_WAIT_KIND_UNDEFINED = 1, /* its kind is not defined now */
	JOB_WAIT_KIND_LIMIT = 2,     /* its kind runs its concurrency limit */
	JOB_WAIT_PAUSED = 3,         /* its kind is paused */
	JOB_WAIT_AFTER = 4,          /* a job it runs after has not ended */
};

/* Frees what the record owns and zeroes it. Accepts a zeroed record. */
void jobrec_clear(struct jobrec *r);
/* Deep copy of src into dst (dst is overwritten, not freed first).
 * JOBD_RESOURCE_EXHAUSTED if out of memory, with dst left zeroed. */
int jobrec_copy(struct jobrec *dst, const struct jobrec *src);

/* *dst = a copy of src (NULL stays NULL); -1 when out of memory. */
int job_dup(char **dst, const char *src);

/* Little-endian u32, as the params blob holds them. */
void job_put32(uint8_t *p, uint32_t v);
uint32_t job_get32(const uint8_t *p);

/* Params blobs are at most this long (SQLite's own default limit). */
#define JOB_PARAMS_MAX 1000000000u
/* The params blob of params[0..n): *bp malloc'd (the caller's), *lenp its
 * length. JOBD_INVALID_ARGUMENT with *why ("params missing", "param has no
 * name or value", "params too big") or JOBD_RESOURCE_EXHAUSTED. */
int job_params_encode(const struct job_param *params, size_t n, uint8_t **bp,
                      size_t *lenp, size_t *bad, const char **why);

/* The checksum of the job's id, where both checksums start. */
uint32_t job_crc_id(uint64_t id);
/* crc continued over the params blob that params[0..n) encode to, without
 * making the blob. */
uint32_t job_crc_params(uint32_t crc, const struct job_param *params, size_t n);
/* The input checksum, from the params blob. */
uint32_t job_input_crc(uint64_t id, const char *kind, const uint8_t *params,
                       size_t plen, const uint8_t *input, size_t ilen);
/* The input checksum, from the params themselves. */
uint32_t job_input_crc_params(uint64_t id, const char *kind,
                              const struct job_param *params, size_t n,
                              const uint8_t *input, size_t ilen);
/* The checksum of job id's result. */
uint32_t job_result_crc(uint64_t id, const uint8_t *result, size_t len);

#endif

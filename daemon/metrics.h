#ifndef JOBD_METRICS_H
#define JOBD_METRICS_H

/*
 * metrics: the process's Prometheus metrics, and their text exposition
 * (format 0.0.4) for GET /metrics.
 *
 * One registry per process (the hooks sit in the scheduler, the writer and
 * rpc.c, which share no handle). Recording is a few relaxed atomic adds,
 * no lock and no allocation, from any thread, with any lock held. What
 * is read rather than counted (jobs by state, workers, the database's size)
 * comes at render time from the source that service_create() attaches.
 *
 * Labels: kind, state, method and code; never a job id. Kinds are counted
 * by the id of their name (kind_intern()), METRICS_KINDS - 1 of them; a
 * kind whose name got an id past those is counted under the label
 * kind="(other)", which no kind name can be (kinds/registry.h).
 */

#include <stddef.h>
#include <stdint.h>

#include "jobq.h"

#define METRICS_KINDS      256 /* kind slots, "(other)" the last */
#define METRICS_OTHER_KIND "(other)"

/* The Content-Type of metrics_render()'s text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* StatsReply.finished_recent: jobs ended per step over the last steps. */
#define METRICS_RECENT_STEPS   60
#define METRICS_RECENT_STEP_MS 10000

/* CLOCK_MONOTONIC in nanoseconds: what the durations below are taken with. */
int64_t metrics_now_ns(void);

/* ---- recording: any thread, any lock held, never blocks ------------- */

/* A job of kind `kind` (kind_intern id) acknowledged (its insert is on
 * disk). */
void metrics_job_submitted(uint32_t kind);
/* A job ended in `state` (JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED); also
 * counted in the current step of metrics_finished_recent(). */
void metrics_job_finished(uint32_t kind, int state);
/* A job started after `queued_ms` in the queued state. */
void metrics_job_started(uint32_t kind, int64_t queued_ms);
/* A run (one attempt) of a job ended after `ns`. */
void metrics_job_ran(uint32_t kind, int64_t ns);
/* A call of method `method` (index in the service descriptor; out of
 * range: unknown, a request refused before its method was found) was
 * answered with `code` (enum jobd_status), `ns` after its dispatch. */
void metrics_request(unsigned method, int code, int64_t ns);
/* A call got room to park (+1) or, holding it, was answered (-1). */
void metrics_parked(int delta);
/* A commit of `ops` changes took `ns`, begin to commit. */
void metrics_commit(size_t ops, int64_t ns);
/* A batch the database refused (rolled back). */
void metrics_write_failure(void);

/* Connections at jobd's own gates: the HTTP gate (tcpgate.c, in front of
 * --http) and the gates of the nng front's ipc:// listeners (ipcgate.c). */
enum metrics_gate { METRICS_GATE_HTTP, METRICS_GATE_IPC, METRICS_GATES };
enum metrics_gate_event {
	MG_ACCEPTED, /* a connection taken */
	MG_CLOSED,   /* a connection gone, for whatever reason */
	MG_FULL,     /* accepting stopped at the connection cap */
	/* closed by the gate, why: */
	MG_SILENT,      /* http: no byte within http_head_ms */
	MG_SLOW,        /* http: a request's head too slow */
	MG_EVICTED,     /* to make room at the cap (http: the idlest; ipc:
	                   the oldest handshake) */
	MG_UNREACHABLE, /* http: nng's HTTP server could not be reached */
	MG_EARLY,       /* ipc: gone or failed before its SP header */
	MG_BAD_HEADER,  /* ipc: a header that is not a REQ's */
	MG_EVENTS
};
void metrics_gate(enum metrics_gate gate, enum metrics_gate_event e);

/* ---- reading --------------------------------------------------------- */

/* Jobs ended in each of the last METRICS_RECENT_STEPS steps of
 * METRICS_RECENT_STEP_MS, oldest first, the current step last. */
void metrics_finished_recent(uint32_t out[METRICS_RECENT_STEPS]);

/* What render reads at render time: the queue (jobs by state, busy
 * workers, the kinds defined, the database's size: its stats, kinds and
 * db_bytes), the number of workers. */
struct metrics_source {
	jobq *q;
	uint32_t workers;
};
/* Makes src the source (service_create); the previous one is forgotten. */
void metrics_attach(const struct metrics_source *src);
/* Forgets the source if it is q's; returns once no render uses it. */
void metrics_detach(jobq *q);

/*
 * The text exposition of every metric, jobd_* and process_*: *buf
 * (malloc'd, NUL-terminated, the caller frees it) of *len bytes. JOBD_OK,
 * or JOBD_RESOURCE_EXHAUSTED (out of memory; *buf NULL). Takes only short
 * locks (the scheduler's for its counts, the kind names'), reads /proc.
 */
int metrics_render(char **buf, size_t *len);

#endif

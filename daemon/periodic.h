#ifndef JOBD_PERIODIC_H
#define JOBD_PERIODIC_H

/*
 * periodic: the engine of the schedules (*.schedule files, schedfile.h).
 * One thread for all of them sleeps until the next firing; each firing is
 * an ordinary job, submitted to the queue (jobq.h) under the idempotency key
 * "schedule:NAME:YYYY-MM-DDTHH:MM:SSZ", and the last firing of each
 * schedule is recorded in the database (schedule_ticks), so that a restart
 * neither fires one twice nor skips one silently (the catch-up rule).
 */

#include <stddef.h>
#include <stdint.h>

#include "jobq.h"
#include "schedfile.h"

typedef struct periodic periodic;

/*
 * Starts the engine with the schedules of `set` (taken, even on an error):
 * reads their last firings from q (ticks_load), applies the catch-up rule
 * to the firings missed meanwhile, records the start of schedules never
 * seen before, and starts the thread. Call after q's start. JOBD_OK, or an
 * error with its message in err.
 */
int periodic_start(periodic **pp, jobq *q, struct schedset *set, char *err,
                   size_t errlen);
/* Replaces the schedules by those of `set` (taken): a schedule kept by
 * name keeps its last firing; a new one starts as at start; one gone
 * makes no more firings. */
void periodic_reload(periodic *p, struct schedset *set);
/* No firing from now on; joins the thread. Call before the queue's drain.
 * Firings already submitted still complete (and are recorded) until the
 * queue's stop. Accepts NULL; may be called twice. */
void periodic_stop(periodic *p);
/* Frees everything: after periodic_stop and the queue's stop. Accepts
 * NULL. */
void periodic_destroy(periodic *p);

/* One schedule as the Schedules call shows it; every pointer owned. */
struct schedule_info {
	char *name, *kind, *spec, *time_zone, *catch_up, *source;
	struct job_param *params;
	size_t nparams;
	int32_t priority;
	int64_t next_at, last_at; /* Unix ms; last_at 0 = never */
	uint64_t last_job_id;     /* 0 = none */
};
/* The schedules in use, sorted by name, into a new array *out of *n.
 * JOBD_OK or JOBD_RESOURCE_EXHAUSTED (*out NULL). Any thread. */
int periodic_list(periodic *p, struct schedule_info **out, size_t *n);
/* Frees what periodic_list made. Accepts NULL. */
void periodic_list_free(struct schedule_info *v, size_t n);

/* The firings one catch-up fires at most (catch_up = all). */
#define PERIODIC_CATCH_UP_MAX 1000
/* The longest the thread sleeps, in ms: a clock that jumps is seen. */
#define PERIODIC_WAKE_MS 60000
/* The longest wait before a refused firing is tried again, in seconds. */
#define PERIODIC_BACKOFF_MAX 60

#endif

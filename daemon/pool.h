#ifndef JOBD_POOL_H
#define JOBD_POOL_H

/*
 * pool: N worker threads that take jobs from the scheduler and run them.
 * Workers run at a lower scheduling priority than the front (a higher nice
 * value for each worker thread), so that a machine whose every core runs a
 * job still gives the front the CPU at once when a request arrives.
 */

#include <stdint.h>

#include "runmark.h"
#include "scheduler.h"

typedef struct pool pool;

/* Worker i marks slot i of `marks` (runmark.h; NULL: none) with the job
 * it runs. */
int pool_start(pool **pp, sched *s, uint32_t workers, runmark *marks, char *err,
               size_t errlen);
/* Joins the workers; call after sched_drain(). Accepts NULL. */
void pool_stop(pool *p);

#endif

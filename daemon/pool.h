#ifndef JOBD_POOL_H
#define JOBD_POOL_H

/*
 * pool: N worker threads that take jobs from the queue and run them.
 * Workers run at a lower scheduling priority than the front (a higher nice
 * value for each worker thread), so that a machine whose every core runs a
 * job still gives the front the CPU at once when a request arrives.
 */

#include <stdint.h>

#include "jobq.h"

typedef struct pool pool;

/* Starts `workers` threads on q; worker i marks slot i (q's mark) with
 * the job it runs. */
int pool_start(pool **pp, jobq *q, uint32_t workers, char *err, size_t errlen);
/* Joins the workers; call after the queue's drain. Accepts NULL. */
void pool_stop(pool *p);

#endif

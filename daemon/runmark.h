#ifndef JOBD_RUNMARK_H
#define JOBD_RUNMARK_H

/*
 * runmark: which job each worker is running, in a small file beside the
 * database (DB.running), mapped shared. A worker marks its slot before it
 * runs a job and clears it after. The mark costs a store to memory, no
 * system call, and survives jobd's death by any signal (SIGKILL, SIGSEGV):
 * the page is the kernel's, and the next jobd reads it. So a job that
 * brings jobd down is known to have been running even when its move to
 * `running` had not reached the database yet (that write is behind, and
 * may wait for the next commit: writer.h); recovery then counts it
 * towards --max-recoveries (store_mark_running, store_recover). A machine
 * that loses power may lose the marks; the database's own `running` rows
 * still count then, as they always did.
 *
 * The file: the 8 bytes "JOBDRUN1", then one uint64 job id per slot (0
 * for none), in this machine's byte order. Anything else is ignored with a log
 * line naming the file: the marks are a hint, never a reason to refuse a start.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct runmark runmark;

/*
 * Reads the marks a previous jobd left in DBPATH.running (ids in *left,
 * malloc'd, *nleft of them; NULL and 0 if none), then makes the file anew
 * with `slots` clear slots (none and no file for 0). A file that cannot be
 * made or mapped is logged, and jobd runs without marks: JOBD_OK all the
 * same; JOBD_RESOURCE_EXHAUSTED only when out of memory.
 */
int runmark_open(runmark **rp, const char *dbpath, uint32_t slots,
                 uint64_t **left, size_t *nleft, char *err, size_t errlen);
/* Marks slot `slot` as running job `id` (0: nothing). Accepts NULL. */
void runmark_set(runmark *r, uint32_t slot, uint64_t id);
/* Unmaps; removes the file when every slot is clear (a clean stop).
 * Accepts NULL. */
void runmark_close(runmark *r);

#endif

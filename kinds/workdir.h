#ifndef JOBD_WORKDIR_H
#define JOBD_WORKDIR_H

/*
 * workdir (workdir_): the private working directory of one run of a
 * program: made fresh (0700) under a base directory, removed with
 * everything in it afterwards.
 */

#include <stddef.h>
#include <stdint.h>

/* Makes <base>/job-<id>-<attempt>-XXXXXX, mode 0700. A malloc'd path, or
 * NULL with the reason in err. */
char *workdir_create(const char *base, uint64_t id, uint32_t attempt, char *err,
                     size_t errlen);

/* Removes path and everything below it, without following a symbolic
 * link, and restoring the owner's permissions on a directory that a
 * program made unreadable. 0, or -1 with the reason in err (what can be
 * removed is removed). */
int workdir_remove(const char *path, char *err, size_t errlen);

/* Removes every job-* directory left in base (by a jobd that was killed
 * before it could remove them). The number removed, or -1 with the reason
 * in err. */
int workdir_sweep(const char *base, char *err, size_t errlen);

#endif

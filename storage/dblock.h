#ifndef JOBD_DBLOCK_H
#define JOBD_DBLOCK_H

/*
 * dblock: one jobd per database. An exclusive lock on the database file,
 * taken before jobd changes anything and held until it exits; a second
 * jobd on the same file (by any path to it) cannot take it and is told
 * which process holds it. See dblock.c for the design.
 */

#include <stddef.h>

#include "jobd_status.h"

typedef struct dblock dblock;

/*
 * Locks the database at `path`, creating the file (empty) if it does not
 * exist. Refuses, with a message naming the file, a path that is not a
 * regular file (JOBD_FAILED_PRECONDITION, nothing opened or created), a
 * file another process holds the lock of (JOBD_FAILED_PRECONDITION, the
 * message names that process's pid where /proc/locks tells it), and a
 * file that cannot be opened (JOBD_UNAVAILABLE). On failure *lp is NULL.
 * Call it before the process opens the database with SQLite: a failure
 * closes the descriptor it opened, which drops this process's fcntl()
 * locks on the file, SQLite's included.
 */
int dblock_take(dblock **lp, const char *path, char *err, size_t errlen);
/* Releases the lock. Call it only once every SQLite connection to the
 * file is closed (see dblock_take). Accepts NULL. */
void dblock_release(dblock *l);
/* The same, after a refused start: if dblock_take created the file and it
 * is still empty, it is removed first. Accepts NULL. */
void dblock_discard(dblock *l);

#endif

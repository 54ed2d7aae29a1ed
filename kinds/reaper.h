#ifndef JOBD_REAPER_H
#define JOBD_REAPER_H

/*
 * reaper (reaper_): a small process that kills every registered process
 * group when jobd dies, however it dies (SIGKILL included).
 *
 * reaper_start() forks it while jobd is still one thread. It holds the read
 * end of a pipe; jobd keeps the only write end (O_CLOEXEC, so no program
 * inherits it). Each program's group is registered (reaper_add) before the
 * program can fork, and unregistered (reaper_del) after the group was
 * killed but while its leader is not yet reaped, so its id cannot have been
 * reused. When the pipe reaches end of file, jobd is gone: the reaper sends
 * SIGKILL to every group still registered and exits.
 */

#include <stddef.h>
#include <sys/types.h>

/* Forks the reaper. 0, or -1 with the reason in err. */
int reaper_start(char *err, size_t errlen);
/* Closes the pipe and reaps the reaper; every group registered then is
 * killed. Accepts a reaper that was never started. */
void reaper_stop(void);

/* The write end of the pipe (-1: no reaper), for a child that registers
 * itself with reaper_encode() and write() before it execs. */
int reaper_fd(void);

/* A message of the pipe: one record of REAPER_MSG_SIZE bytes (less than
 * PIPE_BUF, so a write() is atomic between threads and processes). */
#define REAPER_MSG_SIZE 8
void reaper_encode(unsigned char msg[REAPER_MSG_SIZE], int add, pid_t pgid);

/* Unregisters group pgid: the reaper will never signal it. 0, or -1 with
 * errno set (no reaper: EBADF). */
int reaper_del(pid_t pgid);

#endif

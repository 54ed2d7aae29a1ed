#ifndef JOBD_LAUNCH_H
#define JOBD_LAUNCH_H

/*
 * launch (launch_): starts one program in a new process group, cheaply from
 * a large multi-threaded daemon, with exactly the descriptors, environment,
 * working directory, limits and signal state it is given.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "exec.h"

/* Everything the child needs, prepared by the caller: the child only makes
 * system calls. */
struct launch_req {
	const char *path;  /* absolute path of the executable */
	char *const *argv; /* NULL-terminated */
	char *const *envp; /* NULL-terminated */
	const char *cwd;   /* the working directory */
	int fd[4];         /* become the program's 0, 1, 2 and 3; each
	                      must be >= 4 */
	const struct exec_limits *lim;
	int reaper_fd; /* -1: none; else the child registers its
	                  group there before it execs */
	/* when lim sets no RLIMIT_NOFILE: the soft limit the program gets
	 * (jobd raises its own to the hard limit; programs get the one jobd
	 * was started with); 0 = inherit */
	uint64_t nofile_soft;
};

/*
 * Starts the program. The child: default signal dispositions and an empty
 * signal mask, its own process group (pgid = its pid), registered with the
 * reaper, fds 0-3 from req->fd and no other descriptor, the limits set,
 * chdir to req->cwd, execve. On success *pid is the child (also its
 * group) and 0 is returned once it has exec'd. When any step fails, the
 * child has exited and been reaped, and -1 is returned with the step and
 * its errno described in err (e.g. "cannot run '/x': No such file or
 * directory").
 */
int launch_start(const struct launch_req *req, pid_t *pid, char *err,
                 size_t errlen);

/* pipe2(O_CLOEXEC) whose two ends are both >= 4, so that they can never
 * collide with the numbers the child's ends are moved to. 0, or -1 with
 * errno set. */
int launch_pipe(int p[2]);

#endif

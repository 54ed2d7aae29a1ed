/*
 * launch: one program started with vfork() (launch.h).
 *
 * Why vfork: fork() copies the page tables of the whole daemon, which
 * costs milliseconds for a daemon of a few hundred megabytes and grows
 * with it; vfork() shares the memory and suspends the calling thread until
 * the child execs or exits, so it costs the same at any size. glibc's
 * posix_spawn() does the same (clone(CLONE_VM|CLONE_VFORK)) but cannot set
 * resource limits, a process group registered elsewhere, or close every
 * other descriptor. vfork() rather than a raw clone(CLONE_VM) because the
 * sanitizers know vfork(): ASan follows it, TSan and valgrind turn it into
 * fork(); a clone sharing memory behind their backs would corrupt their
 * state.
 *
 * The rules of a vfork child, which runs on the parent's stack in the
 * parent's memory: everything (argv, envp, paths, limits) is prepared
 * before; the child never returns from launch_start(), never allocates,
 * never touches a lock, and only makes system calls. The signal functions
 * it needs are made as raw system calls, so that no sanitizer's wrapper
 * updates its (shared) book-keeping from the child. The parent blocks
 * every signal around vfork(): a handler of the parent must never run in
 * the child on the shared memory. The child resets every disposition to
 * the default (an ignored SIGPIPE and a handled SIGTERM would otherwise
 * leak into the program: ignored stays ignored across execve) and only
 * then empties its mask, just before execve (jobd's threads block SIGINT,
 * SIGTERM and SIGHUP, and a mask is inherited across execve too).
 *
 * A failing step is reported on a pipe that is close-on-exec: the parent
 * reads it to end of file, which comes either with execve() (success) or
 * with the child's report and _exit(). The report carries the step and
 * errno, never text, so the child has nothing to format. This works
 * whether vfork() shares memory or, under a sanitizer, is a fork().
 *
 * The child registers its group with the reaper itself, after setpgid()
 * and before execve(): the program cannot fork before it is registered,
 * and the child holds its own copy of the reaper's write end until then,
 * so the reaper cannot see jobd's end before the registration (reaper.c).
 */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reaper.h"

enum launch_step {
	STEP_PGID = 1,
	STEP_REAPER,
	STEP_DUP,
	STEP_CLOSE,
	STEP_LIMIT_CPU,
	STEP_LIMIT_AS,
	STEP_LIMIT_NOFILE,
	STEP_LIMIT_NPROC,
	STEP_CHDIR,
	STEP_EXEC,
};

struct launch_report {
	int step; /* enum launch_step */
	int err;  /* errno */
};

static const char *
errstr(int e)
{
	const char *s = strerrordesc_np(e);

	return s != NULL ? s : "unknown error";
}

int
launch_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (p[i] >= 4)
			continue;
		int fd = fcntl(p[i], F_DUPFD_CLOEXEC, 4);
		if (fd < 0) {
			int e = errno;
			(void) close(p[0]);
			(void) close(p[1]);
			errno = e;
			return -1;
		}
		(void) close(p[i]);
		p[i] = fd;
	}
	return 0;
}

/* The kernel's struct sigaction, all zero: SIG_DFL, no flags, empty mask
 * (zero on every layout the kernel has). */
static void
child_reset_signals(void)
{
	unsigned long ksa[4] = {0, 0, 0, 0};

	for (int sig = 1; sig < _NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void) syscall(SYS_rt_sigaction, sig, ksa, NULL,
			               _NSIG / 8);
}

static int
child_unblock_signals(void)
{
	uint64_t none = 0;

	return (int) syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL,
	                     _NSIG / 8);
}

/* Sets a limit: soft v, hard v + slack, never above the current hard
 * limit unless allowed to raise it. 0 = leave it. */
static int
child_limit(int res, uint64_t v, uint64_t slack)
{
	struct rlimit rl;

	if (v == 0)
		return 0;
	if (getrlimit(res, &rl) != 0)
		return -1;
	rl.rlim_cur = (rlim_t) v;
	if (rl.rlim_max == RLIM_INFINITY || v + slack < rl.rlim_max ||
	    geteuid() == 0)
		rl.rlim_max = (rlim_t) (v + slack);
	return setrlimit(res, &rl);
}

/* Lowers the soft limit to v, leaving the hard one. 0 = leave it. */
static int
child_soft(int res, uint64_t v)
{
	struct rlimit rl;

	if (v == 0)
		return 0;
	if (getrlimit(res, &rl) != 0)
		return -1;
	if (rl.rlim_cur != RLIM_INFINITY && (uint64_t) rl.rlim_cur <= v)
		return 0;
	rl.rlim_cur = (rlim_t) v;
	return setrlimit(res, &rl);
}

static void __attribute__((noreturn)) child_fail(int errfd, int step)
{
	struct launch_report rep = {step, errno};

	(void) write(errfd, &rep, sizeof(rep));
	_exit(127);
}

/* The vfork child: system calls only, and never a return. */
static void __attribute__((noreturn))
launch_child(const struct launch_req *r, int errfd)
{
	const struct exec_limits *lim = r->lim;
	unsigned char msg[REAPER_MSG_SIZE];

	child_reset_signals();
	if (setpgid(0, 0) != 0)
		child_fail(errfd, STEP_PGID);
	if (r->reaper_fd >= 0) {
		reaper_encode(msg, 1, getpid());
		ssize_t n;
		while ((n = write(r->reaper_fd, msg, sizeof(msg))) < 0 &&
		       errno == EINTR)
			;
		if (n != (ssize_t) sizeof(msg)) {
			if (n >= 0)
				errno = EIO;
			child_fail(errfd, STEP_REAPER);
		}
	}
	for (int i = 0; i < 4; i++)
		if (dup2(r->fd[i], i) < 0)
			child_fail(errfd, STEP_DUP);
	/* every descriptor but 0-3 and the report pipe (close-on-exec) */
	if (errfd > 4 && close_range(4, (unsigned) errfd - 1, 0) != 0)
		child_fail(errfd, STEP_CLOSE);
	if (close_range((unsigned) errfd + 1, ~0U, 0) != 0)
		child_fail(errfd, STEP_CLOSE);
	if (child_limit(RLIMIT_CPU, lim->cpu_s, 1) != 0)
		child_fail(errfd, STEP_LIMIT_CPU);
	if (child_limit(RLIMIT_AS, lim->as_bytes, 0) != 0)
		child_fail(errfd, STEP_LIMIT_AS);
	if (child_limit(RLIMIT_NOFILE, lim->nofile, 0) != 0 ||
	    (lim->nofile == 0 &&
	     child_soft(RLIMIT_NOFILE, r->nofile_soft) != 0))
		child_fail(errfd, STEP_LIMIT_NOFILE);
	if (child_limit(RLIMIT_NPROC, lim->nproc, 0) != 0)
		child_fail(errfd, STEP_LIMIT_NPROC);
	if (chdir(r->cwd) != 0)
		child_fail(errfd, STEP_CHDIR);
	if (child_unblock_signals() != 0)
		child_fail(errfd, STEP_EXEC);
	execve(r->path, r->argv, r->envp);
	child_fail(errfd, STEP_EXEC);
}

static void
report_text(const struct launch_req *req, const struct launch_report *rep,
            char *err, size_t errlen)
{
	const char *e = errstr(rep->err);

	switch (rep->step) {
	case STEP_EXEC:
		snprintf(err, errlen, "cannot run '%s': %s", req->path, e);
		break;
	case STEP_CHDIR:
		snprintf(err, errlen,
		         "cannot enter the working directory "
		         "'%s': %s",
		         req->cwd, e);
		break;
	case STEP_LIMIT_CPU:
	case STEP_LIMIT_AS:
	case STEP_LIMIT_NOFILE:
	case STEP_LIMIT_NPROC: {
		static const char *names[] = {"RLIMIT_CPU", "RLIMIT_AS",
		                              "RLIMIT_NOFILE", "RLIMIT_NPROC"};
		snprintf(err, errlen, "cannot set %s for '%s': %s",
		         names[rep->step - STEP_LIMIT_CPU], req->path, e);
		break;
	}
	case STEP_REAPER:
		snprintf(err, errlen,
		         "cannot register '%s' with the reaper "
		         "(is it gone?): %s",
		         req->path, e);
		break;
	default:
		snprintf(err, errlen,
		         "cannot set up the process of '%s' "
		         "(step %d): %s",
		         req->path, rep->step, e);
	}
}

/* vfork() in a function of its own with nothing live across it but its
 * arguments, so that the child's use of the shared stack cannot clobber
 * anything the parent needs afterwards. */
static pid_t __attribute__((noinline))
launch_vfork(const struct launch_req *req, int errfd)
{
	pid_t pid = vfork();

	if (pid == 0)
		launch_child(req, errfd);
	return pid;
}

int
launch_start(const struct launch_req *req, pid_t *pidp, char *err,
             size_t errlen)
{
	int ep[2];
	sigset_t all, old;
	pid_t pid;
	struct launch_report rep;
	size_t got = 0;
	int rv, e;

	if (launch_pipe(ep) != 0) {
		snprintf(err, errlen, "cannot make a pipe for '%s': %s",
		         req->path, errstr(errno));
		return -1;
	}
	sigfillset(&all);
	if ((rv = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0) {
		snprintf(err, errlen, "cannot block signals: %s", errstr(rv));
		goto fail_pipe;
	}
	pid = launch_vfork(req, ep[1]);
	e = errno;
	(void) pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void) close(ep[1]);
	ep[1] = -1;
	if (pid < 0) {
		snprintf(err, errlen, "cannot start '%s': %s", req->path,
		         errstr(e));
		goto fail_pipe;
	}
	while (got < sizeof(rep)) {
		ssize_t n = read(ep[0], (char *) &rep + got, sizeof(rep) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* cannot tell: treat as failed, the child is killed */
			rep.step = 0;
			rep.err = errno;
			got = sizeof(rep);
			(void) kill(pid, SIGKILL);
			break;
		}
		if (n == 0)
			break;
		got += (size_t) n;
	}
	(void) close(ep[0]);
	if (got == 0) {
		*pidp = pid;
		return 0;
	}
	if (got < sizeof(rep)) {
		rep.step = 0;
		rep.err = EIO;
	}
	report_text(req, &rep, err, errlen);
	/* the child has exited (or was killed): unregister while its pid is
	 * still ours, then reap */
	if (req->reaper_fd >= 0)
		(void) reaper_del(pid);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return -1;

fail_pipe:
	(void) close(ep[0]);
	if (ep[1] >= 0)
		(void) close(ep[1]);
	return -1;
}

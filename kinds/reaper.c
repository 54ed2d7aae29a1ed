/*
 * reaper: the process that outlives jobd just long enough to kill the
 * programs it left running (reaper.h).
 *
 * Why a process: nothing in a process runs after SIGKILL, and a program's
 * children do not die with their parent. PR_SET_PDEATHSIG is no answer: it
 * is not inherited by a program's own children, and it fires when the
 * *thread* that forked exits, not the process. A pipe is: the kernel
 * closes jobd's write end however jobd ends, and the reaper sees end of
 * file.
 *
 * The protocol is fixed 8-byte records, "add group" and "delete group".
 * Each is written with one write() of less than PIPE_BUF bytes, so records
 * from several threads (and from the children that register themselves)
 * never interleave, and what one writer wrote in order arrives in order.
 * Registration happens in the program's child before execve() while that
 * child still holds a copy of the write end: end of file cannot reach the
 * reaper before the "add" record, so there is no window in which jobd dies
 * and the group is unknown. Deletion is written after the whole group was
 * sent SIGKILL and before its leader is reaped: until then the leader's
 * pid, which is the group's id, cannot be given to anyone else, so the
 * reaper never signals a group that is not ours.
 *
 * The reaper itself ignores the signals jobd takes, SIGINT, SIGTERM,
 * SIGQUIT, SIGHUP, SIGUSR1 and SIGUSR2 (a Ctrl-C or Ctrl-\ at a terminal
 * reaches the whole foreground group, and `systemctl kill` the whole
 * service, the reaper included), and SIGPIPE,
 * closes every descriptor but its end of the pipe, and leaves the working
 * directory for /.
 */
#include "reaper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define REAPER_ADD 'A'
#define REAPER_DEL 'D'

static int reaper_wfd = -1;
static pid_t reaper_pid = -1;

void
reaper_encode(unsigned char msg[REAPER_MSG_SIZE], int add, pid_t pgid)
{
	int32_t id = (int32_t) pgid;

	memset(msg, 0, REAPER_MSG_SIZE);
	msg[0] = add ? REAPER_ADD : REAPER_DEL;
	memcpy(msg + 4, &id, sizeof(id));
}

int
reaper_fd(void)
{
	return reaper_wfd;
}

/* The set of registered groups, in the reaper. */
struct groups {
	pid_t *id;
	size_t n, cap;
};

static void
groups_kill(const struct groups *g)
{
	for (size_t i = 0; i < g->n; i++)
		(void) kill(-g->id[i], SIGKILL);
}

static int
groups_apply(struct groups *g, const unsigned char *msg)
{
	int32_t id;

	memcpy(&id, msg + 4, sizeof(id));
	if (id <= 1)
		return 0; /* never kill(-1) nor kill(-0) */
	if (msg[0] == REAPER_DEL) {
		for (size_t i = 0; i < g->n; i++)
			if (g->id[i] == id) {
				g->id[i] = g->id[--g->n];
				break;
			}
		return 0;
	}
	if (msg[0] != REAPER_ADD)
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		pid_t *p = realloc(g->id, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		g->id = p;
		g->cap = cap;
	}
	g->id[g->n++] = id;
	return 0;
}

/* The reaper's life: read records until end of file, then kill. When it
 * cannot keep track (out of memory, a read error), it kills what it knows
 * at once and exits: a run then fails to register ("reaper is gone")
 * rather than run a program that might outlive jobd. */
static void __attribute__((noreturn)) reaper_main(int rfd)
{
	static const int ignored[] = {SIGINT,  SIGTERM, SIGQUIT, SIGHUP,
	                              SIGUSR1, SIGUSR2, SIGPIPE};
	struct sigaction sa;
	sigset_t none;
	struct groups g = {NULL, 0, 0};
	unsigned char buf[REAPER_MSG_SIZE * 128];
	size_t have = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		(void) sigaction(ignored[i], &sa, NULL);
	sigemptyset(&none);
	(void) sigprocmask(SIG_SETMASK, &none, NULL);
	if (rfd > 0)
		(void) close_range(0, (unsigned) rfd - 1, 0);
	(void) close_range((unsigned) rfd + 1, ~0U, 0);
	(void) prctl(PR_SET_NAME, "jobd-reaper", 0, 0, 0);
	(void) chdir("/");

	for (;;) {
		ssize_t n = read(rfd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t) n;
		size_t off = 0;
		for (; have - off >= REAPER_MSG_SIZE; off += REAPER_MSG_SIZE)
			if (groups_apply(&g, buf + off) != 0)
				goto out;
		memmove(buf, buf + off, have - off);
		have -= off;
	}
out:
	groups_kill(&g);
	_exit(0);
}

int
reaper_start(char *err, size_t errlen)
{
	int p[2];
	pid_t pid;

	if (reaper_wfd != -1) {
		snprintf(err, errlen, "the reaper is already started");
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot make the reaper's pipe: %s",
		         strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "cannot start the reaper: %s",
		         strerror(errno));
		(void) close(p[0]);
		(void) close(p[1]);
		return -1;
	}
	if (pid == 0) {
		(void) close(p[1]);
		reaper_main(p[0]);
	}
	(void) close(p[0]);
	reaper_wfd = p[1];
	reaper_pid = pid;
	return 0;
}

void
reaper_stop(void)
{
	int status;

	if (reaper_wfd == -1)
		return;
	(void) close(reaper_wfd);
	reaper_wfd = -1;
	while (waitpid(reaper_pid, &status, 0) < 0 && errno == EINTR)
		;
	reaper_pid = -1;
}

int
reaper_del(pid_t pgid)
{
	unsigned char msg[REAPER_MSG_SIZE];
	ssize_t n;

	if (reaper_wfd == -1) {
		errno = EBADF;
		return -1;
	}
	reaper_encode(msg, 0, pgid);
	while ((n = write(reaper_wfd, msg, sizeof(msg))) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -1;
	return n == (ssize_t) sizeof(msg) ? 0 : (errno = EIO, -1);
}

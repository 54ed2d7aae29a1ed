#ifndef JOBD_HARNESS_H
#define JOBD_HARNESS_H

/*
 * harness: starts the real jobd (the binary in $JOBD_BIN) on a temporary
 * directory and an ipc:// address, for integration tests.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "jobd_client.h"
#include "test.h"

struct jd {
	char dir[64];
	char db[128];
	char url[128];
	char log[128];
	pid_t pid;
};

static inline int64_t
h_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline double
h_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

/* Makes a fresh directory /tmp/<prefix>-XXXXXX for a daemon. */
static inline int
jd_init_in(struct jd *d, const char *prefix)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/%.40s-XXXXXX", prefix);
	if (mkdtemp(d->dir) == NULL)
		return -1;
	snprintf(d->db, sizeof(d->db), "%s/jobd.db", d->dir);
	snprintf(d->url, sizeof(d->url), "ipc://%s/jobd.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/jobd.log", d->dir);
	return 0;
}

/* Makes a fresh directory /tmp/jobd-it-XXXXXX for a daemon. */
static inline int
jd_init(struct jd *d)
{
	return jd_init_in(d, "jobd-it");
}

/* Starts jobd with extra arguments (NULL-terminated) and waits until it
 * answers Ping. 0 on success. */
static inline int
jd_start(struct jd *d, const char *const *extra)
{
	const char *bin = getenv("JOBD_BIN");
	const char *argv[32];
	int n = 0;

	if (bin == NULL) {
		fprintf(stderr, "JOBD_BIN is not set\n");
		return -1;
	}
	argv[n++] = bin;
	argv[n++] = "--listen";
	argv[n++] = d->url;
	argv[n++] = "--db";
	argv[n++] = d->db;
	for (; extra != NULL && *extra != NULL && n < 30; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;

	static int fini_at_exit;
	if (!fini_at_exit++)
		atexit(nng_fini); /* nng's threads, for leak checkers */
	fflush(NULL);
	if ((d->pid = fork()) < 0)
		return -1;
	if (d->pid == 0) {
		/* dies with the test, and keeps none of its output pipes: a
		 * crashed test must not leave a daemon holding ctest's pipe */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (freopen(d->log, "a", stderr) == NULL ||
		    freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execv(bin, (char *const *) argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		jobd_client *c;
		Jobd__V1__PingReply *pong;
		if (jobd_client_open(&c, d->url) == JOBD_OK) {
			jobd_client_set_timeout(c, 1000);
			int rv = jobd_ping(c, &pong);
			if (rv == JOBD_OK)
				jobd__v1__ping_reply__free_unpacked(pong, NULL);
			jobd_client_close(c);
			if (rv == JOBD_OK)
				return 0;
		}
		int st;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return -1; /* it exited */
		}
		usleep(10000);
	}
	return -1;
}

/* Sends sig and waits for the daemon to exit; returns its wait status. */
static inline int
jd_kill(struct jd *d, int sig)
{
	int st = -1;
	if (d->pid > 0) {
		kill(d->pid, sig);
		waitpid(d->pid, &st, 0);
		d->pid = 0;
	}
	return st;
}

static inline void
jd_dump_log(const struct jd *d)
{
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "cat '%s' >&2", d->log);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
}

/* Stops the daemon (SIGKILL if it is still there) and removes the dir. */
static inline void
jd_fini(struct jd *d)
{
	char cmd[160];
	jd_kill(d, SIGKILL);
	if (test_failures > 0) {
		fprintf(stderr, "--- jobd log of %s:\n", d->dir);
		jd_dump_log(d);
	}
	if (getenv("JOBD_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", d->dir);
	}
}

#endif

/*
 * kick: timer interrupts on every CPU while programs run.
 *
 * Workers run under SCHED_IDLE (pool.c), so that a front thread that wakes
 * up takes the CPU from a job at once. A kernel that preempts lazily (seen
 * here: Linux 6.18, preempt=none with lazy rescheduling, HZ=250) does not
 * interrupt a busy CPU for that: it marks the running task for a
 * reschedule and acts on the mark at the CPU's next interrupt or system
 * call, at worst the next tick, 4 ms later. The built-in kinds make a
 * system call at every progress report (sched_yield: scheduler.c), which
 * bounds the wait by their report interval. A program of a program kind
 * makes none that jobd controls: a busy loop in Node.js or Python held the
 * front's Gets for up to a tick, a busy p99 of 2.6 ms.
 *
 * So while any program runs, one thread per CPU, pinned to it, sleeps
 * KICK_US at a time. Its timer fires on that CPU, and the interrupt's
 * return to the program is where the kernel honours a pending reschedule:
 * a front thread woken meanwhile runs within KICK_US. The thread itself
 * does nothing; it costs a timer interrupt and a context switch per
 * KICK_US per CPU (about a percent, estimated) while programs run, and
 * nothing while none does. On a kernel that preempts at once, it changes
 * nothing but that cost.
 */
#include "kick.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobd_status.h"
#include "log.h"

#define KICK_US 200

struct kicker {
	kick *k;
	pthread_t thread;
	int cpu;
};

struct kick {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	unsigned holds; /* programs running */
	bool stop;
	struct kicker *v;
	int n;
};

static void *
kicker_main(void *arg)
{
	struct kicker *t = arg;
	kick *k = t->k;
	struct timespec ts = {0, KICK_US * 1000L};
	cpu_set_t set;
	int rv;
	pthread_setname_np(pthread_self(), "jobd:kick"); /* top -H */

	CPU_ZERO(&set);
	CPU_SET(t->cpu, &set);
	if ((rv = pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) !=
	    0) {
		/* unpinned, its timer would fire wherever: no use */
		log_debug("kick: cannot pin a thread to CPU %d: %s", t->cpu,
		          strerror(rv));
		return NULL;
	}
	pthread_mutex_lock(&k->mtx);
	for (;;) {
		while (!k->stop && k->holds == 0)
			pthread_cond_wait(&k->cv, &k->mtx);
		if (k->stop)
			break;
		pthread_mutex_unlock(&k->mtx);
		(void) nanosleep(&ts, NULL);
		pthread_mutex_lock(&k->mtx);
	}
	pthread_mutex_unlock(&k->mtx);
	return NULL;
}

int
kick_start(kick **kp, char *err, size_t errlen)
{
	cpu_set_t set;
	kick *k;
	int rv;

	*kp = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->v = calloc(CPU_SETSIZE, sizeof(*k->v))) == NULL) {
		free(k);
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	pthread_mutex_init(&k->mtx, NULL);
	pthread_cond_init(&k->cv, NULL);
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		CPU_ZERO(&set);
		CPU_SET(0, &set);
	}
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		struct kicker *t = &k->v[k->n];
		t->k = k;
		t->cpu = cpu;
		if ((rv = pthread_create(&t->thread, NULL, kicker_main, t)) !=
		    0) {
			snprintf(err, errlen, "cannot start a thread: %s",
			         strerror(rv));
			kick_stop(k);
			return JOBD_INTERNAL;
		}
		k->n++;
	}
	*kp = k;
	return JOBD_OK;
}

void
kick_hold(kick *k)
{
	pthread_mutex_lock(&k->mtx);
	if (k->holds++ == 0)
		pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mtx);
}

void
kick_release(kick *k)
{
	pthread_mutex_lock(&k->mtx);
	k->holds--;
	pthread_mutex_unlock(&k->mtx);
}

void
kick_stop(kick *k)
{
	if (k == NULL)
		return;
	pthread_mutex_lock(&k->mtx);
	k->stop = true;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mtx);
	for (int i = 0; i < k->n; i++)
		pthread_join(k->v[i].thread, NULL);
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mtx);
	free(k->v);
	free(k);
}

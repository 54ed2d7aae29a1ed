/*
 * pool: the worker threads.
 *
 * Each worker loops: take a job from the scheduler (blocking), run its kind
 * with the lock released, hand the outcome back. Cancellation and timeouts
 * are cooperative: the kind calls progress(), which reads the job's stop
 * flag and deadline, and returns early when told to. The loop ends when
 * sched_take() returns NULL (the scheduler is draining).
 */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

/*
 * Workers run under SCHED_IDLE: a thread of any other policy that wakes up
 * takes the CPU from them at once, so the front, the writer and nng's
 * threads never wait behind a job, even with every core busy; the jobs get
 * the CPU time nothing else wants. Where SCHED_IDLE is refused (a seccomp
 * filter, say), the nice value is raised by WORKER_NICE instead, which
 * only weighs the scheduler's choice.
 */
#define WORKER_NICE 10

struct pool {
	sched *s;
	uint32_t n;
	pthread_t *threads;
};

static void
run_one(sched *s, struct job *j)
{
	const struct jobrec *rec = sched_job_rec(j);
	const struct kind *k = sched_job_kind(j);
	struct kind_run r;

	memset(&r, 0, sizeof(r));
	r.params = rec->params;
	r.nparams = rec->nparams;
	r.input = rec->input;
	r.input_len = rec->input_len;
	r.progress = sched_progress;
	r.progress_arg = j;
	int outcome = k->run(&r);
	if (outcome != KIND_OK) {
		free(r.result);
		r.result = NULL;
		r.result_len = 0;
	}
	sched_finish(s, j, outcome, r.result, r.result_len, r.error);
}

static void
lower_priority(void)
{
	struct sched_param sp = {0};
	int rv = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	if (rv == 0)
		return;
	/* Linux: nice values are per thread */
	pid_t tid = (pid_t) syscall(SYS_gettid);
	int prio = getpriority(PRIO_PROCESS, (id_t) tid);
	if (setpriority(PRIO_PROCESS, (id_t) tid, prio + WORKER_NICE) != 0)
		log_debug("cannot lower a worker's priority: %s",
		          strerror(errno));
	else
		log_debug("SCHED_IDLE refused (%s): workers run at nice +%d",
		          strerror(rv), WORKER_NICE);
}

static void *
worker_main(void *arg)
{
	pool *p = arg;
	struct job *j;

	lower_priority();
	while ((j = sched_take(p->s)) != NULL)
		run_one(p->s, j);
	return NULL;
}

int
pool_start(pool **pp, sched *s, uint32_t workers, char *err, size_t errlen)
{
	pool *p;

	*pp = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->threads = calloc(workers ? workers : 1, sizeof(pthread_t))) ==
	        NULL) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	p->s = s;
	for (; p->n < workers; p->n++) {
		int rv =
		    pthread_create(&p->threads[p->n], NULL, worker_main, p);
		if (rv != 0) {
			snprintf(err, errlen, "cannot start worker %u: %s",
			         p->n, strerror(rv));
			sched_drain(s, 0);
			pool_stop(p);
			return JOBD_INTERNAL;
		}
	}
	*pp = p;
	return JOBD_OK;
}

void
pool_stop(pool *p)
{
	if (p == NULL)
		return;
	for (uint32_t i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	free(p);
}

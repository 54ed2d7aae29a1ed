/*
 * pool: the worker threads.
 *
 * Each worker loops: take a job from the queue (jobq.h: take, blocking),
 * run its kind with the lock released, hand the outcome back (finish).
 * Cancellation and timeouts are cooperative: the kind calls progress(),
 * which reads the job's stop flag and deadline, and returns early when
 * told to. The loop ends when take() returns NULL (the queue is
 * draining). Around each job the worker marks its slot (the queue's
 * mark: the local queue's DB.running, runmark.h).
 *
 * The queue keeps no input bytes in memory: a worker reads a job's input
 * when it takes the job (read_input), through a connection of its own that
 * the queue opens at the worker's first input and keeps in the worker's
 * slot (`conn`; the local queue: a read-only SQLite connection, SQLite's
 * rule being one connection per thread). A read that fails is the
 * attempt's failure, "cannot read the job's input: why" (retried while
 * attempts remain, as any failure), and the connection is opened afresh
 * for the next one.
 *
 * The read is checked against the input checksum (storage/job.h), which
 * covers the job's id, kind and params as well as the input: the worker
 * checks exactly what it is about to run. A job with no input is read for
 * its checksum too if its kind and params came from the disk (loaded at
 * start); one submitted since has nothing from the disk to check. Damage
 * fails the job at once, before its kind sees it and without a retry,
 * since a retry reads the same bytes: "the stored input of job N is
 * damaged (checksum mismatch): not run". Never a result from damaged data.
 */
#include "pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kick.h"
#include "log.h"
#include "run.h"

/*
 * Workers run under SCHED_IDLE: a thread of any other policy that wakes up
 * takes the CPU from them at once, so the front, the writer and nng's
 * threads never wait behind a job, even with every core busy; the jobs get
 * the CPU time nothing else wants. Where SCHED_IDLE is refused (a seccomp
 * filter, say), the nice value is raised by WORKER_NICE instead, which
 * only weighs the scheduler's choice.
 */
#define WORKER_NICE 10

struct worker {
	pool *p;
	uint32_t no; /* its slot for the queue's mark */
	pthread_t thread;
	void *conn; /* the queue's, for inputs; NULL until the first */
};

struct pool {
	jobq *q;
	uint32_t n;
	struct worker *workers;
	kick *kick; /* while programs run: kick.c */
};

/* Job w's input into *buf (malloc'd) and *len, through wk's own
 * connection (the queue's read_input), checked against its checksum. */
static int
read_input(struct worker *wk, const struct sched_work *w, uint8_t **buf,
           size_t *len, char *err, size_t errlen)
{
	jobq *q = wk->p->q;

	return q->ops->read_input(q, &wk->conn, w, buf, len, err, errlen);
}

static void
run_one(struct worker *wk, struct job *j)
{
	jobq *q = wk->p->q;
	struct sched_work w;
	struct jobd_job r;
	uint8_t *input = NULL;
	size_t input_len = 0;
	char err[600], msg[700];
	int rv;

	q->ops->job_work(j, &w);
	/* first, so that damage is called damage, whatever else it breaks */
	if ((w.input_len > 0 || w.loaded) &&
	    (rv = read_input(wk, &w, &input, &input_len, err, sizeof(err))) !=
	        JOBD_OK) {
		bool damaged = rv == JOBD_DATA_LOSS;
		if (damaged)
			snprintf(msg, sizeof(msg), "%s: not run", err);
		else
			snprintf(msg, sizeof(msg),
			         "cannot read the job's input: %s", err);
		log_job(LOG_ERROR, w.id, w.kind->k->name, ": %s", msg);
		q->ops->finish(
		    q, j, damaged ? JOBD_RUN_FAILED_FINAL : JOBD_RUN_FAILED,
		    NULL, 0, msg);
		return;
	}
	/* its kind may have changed since Submit (a reload) */
	if (kind_validate(w.kind->k, w.params, w.nparams, w.input_len, err,
	                  sizeof(err)) != JOBD_OK) {
		snprintf(msg, sizeof(msg),
		         "kind '%s' as defined now refuses this job: %s",
		         w.kind->k->name, err);
		free(input);
		q->ops->finish(q, j, JOBD_RUN_FAILED_FINAL, NULL, 0, msg);
		return;
	}
	memset(&r, 0, offsetof(struct jobd_job, error));
	r.error[0] = '\0';
	r.kind = w.kind->k;
	r.id = w.id;
	r.attempt = w.attempt;
	r.params = w.params;
	r.nparams = w.nparams;
	r.input = input;
	r.input_len = input_len;
	r.progress = q->ops->progress;
	r.progress_arg = w.progress_arg;
	bool program = w.kind->origin == KIND_PROGRAM;
	if (program)
		kick_hold(wk->p->kick);
	int outcome = kind_run(&r);
	if (program)
		kick_release(wk->p->kick);
	free(input);
	q->ops->finish(q, j, outcome, r.result, r.result_len, r.error);
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
	struct worker *wk = arg;
	pool *p = wk->p;
	struct job *j;
	pthread_setname_np(pthread_self(), "jobd:worker"); /* top -H */

	lower_priority();
	while ((j = p->q->ops->take(p->q)) != NULL) {
		/* from before its input is read until its outcome is handed
		 * back: a job that takes jobd down with it is known */
		p->q->ops->mark(p->q, wk->no, p->q->ops->job_id(j));
		run_one(wk, j);
		p->q->ops->mark(p->q, wk->no, 0);
	}
	if (wk->conn != NULL)
		p->q->ops->close_conn(p->q, wk->conn);
	wk->conn = NULL;
	return NULL;
}

int
pool_start(pool **pp, jobq *q, uint32_t workers, char *err, size_t errlen)
{
	pool *p;

	*pp = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->workers = calloc(workers ? workers : 1, sizeof(*p->workers))) ==
	        NULL) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	p->q = q;
	if (workers > 0 && kick_start(&p->kick, err, errlen) != JOBD_OK) {
		free(p->workers);
		free(p);
		return JOBD_INTERNAL;
	}
	for (; p->n < workers; p->n++) {
		struct worker *wk = &p->workers[p->n];
		wk->p = p;
		wk->no = p->n;
		int rv = pthread_create(&wk->thread, NULL, worker_main, wk);
		if (rv != 0) {
			snprintf(err, errlen, "cannot start worker %u: %s",
			         p->n, strerror(rv));
			q->ops->drain(q, 0);
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
		pthread_join(p->workers[i].thread, NULL);
	kick_stop(p->kick);
	free(p->workers);
	free(p);
}

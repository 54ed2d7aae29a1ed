/*
 * service_db: the service's database threads.
 *
 * A queue whose reads may wait on a database server (jobq.h:
 * reads_block, the PostgreSQL one) must never be read on a front thread:
 * nng's callback threads would wait on the network, and every other
 * client with them. A handler that needs such a read calls svc_defer(),
 * which hands the call over with rpc_defer() and returns at once; one
 * of SERVICE_DB_THREADS threads (jobd:db) then calls the same handler
 * again from the start, where it may block (rpc_deferred_run). With a
 * queue whose reads do not block (SQLite) no thread is started and
 * svc_defer() is false at once: nothing changes.
 *
 * A call handed over takes no room to park (rpc_park_room): a deferred
 * read is brief, the transports bound the calls in flight anyway (nng's
 * contexts, the HTTP front's requests in hand), and Stats, itself
 * deferred, would count itself as parked. A handler that parks asks for
 * room on the database thread, as it does on the front: the limits and
 * their messages are the same on either back end.
 *
 * The threads run at the normal priority (not the workers' SCHED_IDLE):
 * they answer clients. One mutex and one condition variable guard the
 * queue of calls (libuv's threadpool): `while` around the wait, the call
 * run with the lock released, the stop joins. svc_db_stop() lets the
 * threads run every call already handed over, then joins them; a call
 * handed over after that (a front thread still in a handler while the
 * daemon stops) is answered UNAVAILABLE at once. Lock order: db_mtx is
 * a leaf.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "service_int.h"

static void *
db_main(void *arg)
{
	service *sv = arg;
	struct rpc_deferred *d;

	pthread_setname_np(pthread_self(), "jobd:db");
	pthread_mutex_lock(&sv->db_mtx);
	for (;;) {
		while (sv->db_head == NULL && !sv->db_stopping)
			pthread_cond_wait(&sv->db_cv, &sv->db_mtx);
		if ((d = sv->db_head) == NULL)
			break; /* stopping, and nothing left */
		if ((sv->db_head = d->next) == NULL)
			sv->db_tail = &sv->db_head;
		pthread_mutex_unlock(&sv->db_mtx);
		rpc_deferred_run(d);
		pthread_mutex_lock(&sv->db_mtx);
	}
	pthread_mutex_unlock(&sv->db_mtx);
	return NULL;
}

int
svc_db_start(service *sv, size_t n, char *err, size_t errlen)
{
	int rv;

	pthread_mutex_init(&sv->db_mtx, NULL);
	pthread_cond_init(&sv->db_cv, NULL);
	sv->db_head = NULL;
	sv->db_tail = &sv->db_head;
	sv->db_started = true;
	for (; sv->ndb_threads < n && sv->ndb_threads < SERVICE_DB_THREADS;
	     sv->ndb_threads++) {
		rv = pthread_create(&sv->db_threads[sv->ndb_threads], NULL,
		                    db_main, sv);
		if (rv != 0) {
			snprintf(err, errlen,
			         "cannot start a database thread: %s",
			         strerror(rv));
			svc_db_stop(sv);
			pthread_cond_destroy(&sv->db_cv);
			pthread_mutex_destroy(&sv->db_mtx);
			sv->db_started = false;
			return JOBD_INTERNAL;
		}
	}
	return JOBD_OK;
}

void
svc_db_stop(service *sv)
{
	size_t n;

	if (!sv->db_started)
		return;
	pthread_mutex_lock(&sv->db_mtx);
	sv->db_stopping = true;
	n = sv->ndb_threads;
	sv->ndb_threads = 0;
	pthread_cond_broadcast(&sv->db_cv);
	pthread_mutex_unlock(&sv->db_mtx);
	for (size_t i = 0; i < n; i++)
		pthread_join(sv->db_threads[i], NULL);
}

bool
svc_defer(service *sv, struct rpc_call *c)
{
	struct rpc_deferred *d;

	if (!sv->q->ops->reads_block || rpc_is_deferred(c))
		return false;
	if ((d = rpc_defer(c)) == NULL) {
		rpc_fail(c, JOBD_RESOURCE_EXHAUSTED, "out of memory");
		return true;
	}
	pthread_mutex_lock(&sv->db_mtx);
	if (sv->db_stopping) {
		pthread_mutex_unlock(&sv->db_mtx);
		rpc_deferred_fail(d, JOBD_UNAVAILABLE, "jobd is shutting down");
		return true;
	}
	d->next = NULL;
	*sv->db_tail = d;
	sv->db_tail = &d->next;
	pthread_cond_signal(&sv->db_cv);
	pthread_mutex_unlock(&sv->db_mtx);
	return true;
}

/*
 * daemon: start-up and shutdown order.
 *
 * Start: database (schema checked, running jobs recovered, queued ones
 * loaded) -> writer -> scheduler -> workers -> listeners. Stop, in reverse:
 * the front refuses new requests, the scheduler answers parked calls and
 * lets running jobs finish within the grace period (then stops them: they go
 * back to queued), the workers are joined, the writer commits what is left,
 * and only then is the socket closed, since until then replies may still be
 * on their way. The close gets DAEMON_CLOSE_MS: nng 1.5.2 may never return
 * from it (server.c), and by then there is nothing left to lose.
 */
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "pool.h"
#include "scheduler.h"
#include "server.h"
#include "service.h"
#include "store.h"
#include "writer.h"

struct jobd_daemon {
	writer *w;
	sched *s;
	service *sv;
	pool *p;
	server *srv;
	uint32_t grace_ms;
};

int
daemon_start(jobd_daemon **dp, const struct daemon_config *cfg, char *err,
             size_t errlen)
{
	struct sched_config sc = {cfg->workers, cfg->max_queue, cfg->backoff_ms,
	                          cfg->retention_ms};
	struct service_config svc = {cfg->db_path, cfg->workers,
	                             cfg->max_queue};
	jobd_daemon *d;
	store *db;
	uint64_t recovered;
	int rv;

	*dp = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	d->grace_ms = cfg->grace_ms;
	if ((rv = store_open(&db, cfg->db_path, err, errlen)) != JOBD_OK)
		goto fail_db;
	if ((rv = writer_start(&d->w, cfg->db_path, err, errlen)) != JOBD_OK)
		goto fail_writer;
	if ((rv = sched_create(&d->s, d->w, &sc)) != JOBD_OK) {
		snprintf(err, errlen, "cannot start the scheduler");
		goto fail_sched;
	}
	if ((rv = sched_load(d->s, db, &recovered, err, errlen)) != JOBD_OK)
		goto fail_load;
	store_close(db);
	db = NULL;
	if (recovered > 0)
		log_warn("recovered %llu jobs left running by an unclean stop; "
		         "they run again",
		         (unsigned long long) recovered);
	if ((rv = service_create(&d->sv, d->s, &svc, err, errlen)) != JOBD_OK)
		goto fail_load;
	if ((rv = pool_start(&d->p, d->s, cfg->workers, err, errlen)) !=
	    JOBD_OK)
		goto fail_pool;
	if ((rv = server_start(&d->srv, service_base(d->sv), cfg->listen,
	                       cfg->nlisten, err, errlen)) != JOBD_OK)
		goto fail_server;
	log_info("jobd %s ready: database '%s', %u workers", JOBD_VERSION,
	         cfg->db_path, cfg->workers);
	*dp = d;
	return JOBD_OK;

fail_server:
	sched_drain(d->s, 0);
	pool_stop(d->p);
fail_pool:
	service_destroy(d->sv);
fail_load:
	sched_drain(d->s, 0);
	writer_stop(d->w);
	d->w = NULL;
	sched_destroy(d->s);
fail_sched:
	writer_stop(d->w);
fail_writer:
	store_close(db);
fail_db:
	free(d);
	return rv;
}

int
daemon_stop(jobd_daemon *d)
{
	if (d == NULL)
		return JOBD_OK;
	log_info("stopping: no new requests; running jobs have %u ms",
	         d->grace_ms);
	server_drain(d->srv);
	sched_drain(d->s, d->grace_ms);
	pool_stop(d->p);
	writer_stop(d->w);
	if (server_stop_within(d->srv, DAEMON_CLOSE_MS) != JOBD_OK) {
		/* the service and scheduler stay: nng may yet call in */
		log_warn("stopped, but the socket did not close within %u ms "
		         "(nng); every job is on disk",
		         DAEMON_CLOSE_MS);
		free(d);
		return JOBD_DEADLINE_EXCEEDED;
	}
	service_destroy(d->sv);
	sched_destroy(d->s);
	log_info("stopped");
	free(d);
	return JOBD_OK;
}

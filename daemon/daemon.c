/*
 * daemon: start-up and shutdown order.
 *
 * Start: TLS files, token, kinds and schedules (read and checked first, so
 * that a bad one stops jobd before it touches the database) -> the job
 * queue the --db value names (jobq.h; its start: the local queue checks
 * the schema, recovers running jobs, loads the queued ones, starts the
 * writer and the scheduler) -> schedules' engine (periodic.h) -> service
 * -> workers -> listeners (the nng front, then the HTTP front, http.h).
 * Everything after the queue reaches the jobs through it (q->ops) only. A
 * SQLite database is locked before all this, by main() (dblock.h): a
 * second jobd on it stops before it reads a byte of it, so nothing here
 * (recovery, a migration, any write) can happen twice at once on one
 * database. Stop, in reverse: the fronts refuse new requests (the HTTP
 * front's /readyz says 503 from then on, and it stops asking the queue
 * before the queue stops), the calls handed to the service's database
 * threads are run (service_drain), the schedules make no more firings,
 * the queue answers parked calls and lets running jobs finish within the
 * grace period (then stops them: they go back to queued), the workers are
 * joined, the queue's stop commits what is left (the firings still on
 * their way included), and only then is the socket closed, since until
 * then replies may still be on their way. The close gets DAEMON_CLOSE_MS:
 * nng 1.5.2 may never return from it (server.c), and by then there is nothing
 * left to lose. The HTTP front closes just before the nng socket, after the
 * drain: until then its /readyz tells load balancers that jobd is stopping.
 *
 * The stop has two halves: daemon_drain() (everything up to the commit) and
 * the close in daemon_stop(). main() runs the drain on a thread of its own
 * and goes on taking signals meanwhile: a second SIGTERM calls
 * daemon_hurry(), which ends the grace period at once.
 */
#include "daemon.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "http.h"
#include "jobq.h"
#include "log.h"
#include "metrics.h"
#include "periodic.h"
#include "pool.h"
#include "server.h"
#include "service.h"
#include "tls.h"

struct jobd_daemon {
	jobq *q;
	service *sv;
	periodic *per; /* the schedules (*.schedule files) */
	pool *p;
	server *srv;
	http_front *http; /* NULL without --http */
	uint32_t grace_ms;
	uint32_t workers;
	bool drained;
	struct auth auth; /* when cfg->auth_token_file is set */
	const struct kinds_config *kinds;
};

static bool
is_tls(const char *url)
{
	return strncmp(url, "tls+", 4) == 0;
}

static bool
is_https(const char *url)
{
	return url != NULL && strncmp(url, "https://", 8) == 0;
}

/* Whether what is sent to url may cross a network unencrypted. */
static bool
in_clear(const char *url)
{
	static const char *const safe[] = {
	    "tls+",
	    "https://",
	    "http://127.",
	    "http://localhost:",
	    "http://[::1]:",
	    "ipc://",
	    "inproc://",
	    "abstract://",
	    "tcp://127.",
	    "tcp://localhost:",
	    "tcp://[::1]:",
	    "tcp4://127.",
	    "tcp4://localhost:",
	    "tcp6://[::1]:",
	    "tcp6://localhost:",
	};
	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (strncmp(url, safe[i], strlen(safe[i])) == 0)
			return false;
	return true;
}

/* The TLS configuration the listen addresses need (*tlsp NULL if none) and
 * the token; every file read and checked. */
static int
load_security(jobd_daemon *d, const struct daemon_config *cfg,
              nng_tls_config **tlsp, char *err, size_t errlen)
{
	const char *tls_url = NULL;
	int rv;

	*tlsp = NULL;
	for (size_t i = 0; i < cfg->nlisten && tls_url == NULL; i++)
		if (is_tls(cfg->listen[i]))
			tls_url = cfg->listen[i];
	if (tls_url != NULL &&
	    (cfg->tls_cert == NULL || cfg->tls_key == NULL)) {
		snprintf(err, errlen,
		         "listen address '%s' needs a TLS certificate and key "
		         "(--tls-cert FILE --tls-key FILE)",
		         tls_url);
		return JOBD_INVALID_ARGUMENT;
	}
	if (is_https(cfg->http_url) &&
	    (cfg->tls_cert == NULL || cfg->tls_key == NULL)) {
		snprintf(err, errlen,
		         "--http address '%s' needs a TLS certificate and key "
		         "(--tls-cert FILE --tls-key FILE)",
		         cfg->http_url);
		return JOBD_INVALID_ARGUMENT;
	}
	if (tls_url == NULL && is_https(cfg->http_url))
		tls_url = cfg->http_url;
	if (tls_url == NULL && (cfg->tls_cert != NULL || cfg->tls_key != NULL ||
	                        cfg->tls_ca != NULL)) {
		snprintf(err, errlen,
		         "TLS files are given (--tls-cert, --tls-key, "
		         "--tls-ca) but no listen address is tls+tcp:// and "
		         "--http is not https://");
		return JOBD_INVALID_ARGUMENT;
	}
	if (tls_url != NULL &&
	    (rv = tls_server_config(tlsp, cfg->tls_cert, cfg->tls_key,
	                            cfg->tls_ca, err, errlen)) != JOBD_OK)
		return rv;
	if (cfg->auth_token_file == NULL)
		return JOBD_OK;
	if ((rv = auth_load(&d->auth, cfg->auth_token_file, err, errlen)) !=
	    JOBD_OK) {
		if (*tlsp != NULL)
			nng_tls_config_free(*tlsp);
		*tlsp = NULL;
		return rv;
	}
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (in_clear(cfg->listen[i]))
			log_warn("requests to '%s' carry the token "
			         "unencrypted; use tls+tcp:// where they "
			         "cross a network",
			         cfg->listen[i]);
	if (cfg->http_url != NULL && in_clear(cfg->http_url))
		log_warn("requests to '%s' carry the token unencrypted; use "
		         "https:// where they cross a network",
		         cfg->http_url);
	return JOBD_OK;
}

/* GET /metrics (http.h's hook): the process's one registry. */
static int
render_metrics(void *arg, char **buf, size_t *len)
{
	(void) arg;
	return metrics_render(buf, len);
}

/* /readyz's hook (http.h): the queue's storage refuses writes. */
static bool
queue_failing(void *arg)
{
	jobq *q = arg;
	return q->ops->failing(q);
}

int
daemon_start(jobd_daemon **dp, const struct daemon_config *cfg, char *err,
             size_t errlen)
{
	struct jobq_config qc = {
	    .db = cfg->db,
	    .sched = {cfg->workers, cfg->max_queue, cfg->backoff_ms,
	              cfg->retention_ms, cfg->max_recoveries},
	    .lease_ms = cfg->lease_ms,
	    .node = cfg->node,
	    .commit_hold_ms = cfg->commit_hold_ms,
	    .defer_reads = cfg->defer_reads,
	};
	struct service_config svc = {cfg->workers, cfg->max_queue};
	struct server_config srvc;
	struct http_config hc;
	jobd_daemon *d;
	nng_tls_config *tls;
	kindset *ks = NULL;
	struct schedset *set = NULL;
	uint64_t recovered;
	char shown[512];
	int rv;

	*dp = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	d->grace_ms = cfg->grace_ms;
	d->workers = cfg->workers;
	d->kinds = &cfg->kinds;
	if ((rv = load_security(d, cfg, &tls, err, errlen)) != JOBD_OK)
		goto fail_security;
	if ((rv = kindset_load(&ks, &cfg->kinds, err, errlen)) != JOBD_OK)
		goto fail_db;
	if ((rv = schedfile_load_dir(&set, cfg->kinds.dir, ks, err, errlen)) !=
	    JOBD_OK)
		goto fail_db;
	if ((rv = jobq_open(&d->q, &qc, err, errlen)) != JOBD_OK)
		goto fail_db;
	d->q->ops->set_kinds(d->q, ks);
	kindset_unref(ks);
	ks = NULL;
	if ((rv = d->q->ops->start(d->q, &recovered, err, errlen)) != JOBD_OK)
		goto fail_start;
	if (recovered > 0)
		log_warn("recovered %llu jobs left running by an unclean stop; "
		         "they run again",
		         (unsigned long long) recovered);
	rv = periodic_start(&d->per, d->q, set, err, errlen);
	set = NULL; /* taken */
	if (rv != JOBD_OK)
		goto fail_load;
	if ((rv = service_create(&d->sv, d->q, &svc, err, errlen)) != JOBD_OK)
		goto fail_load;
	service_set_periodic(d->sv, d->per);
	if ((rv = pool_start(&d->p, d->q, cfg->workers, err, errlen)) !=
	    JOBD_OK)
		goto fail_pool;
	srvc.urls = cfg->listen;
	srvc.nurls = cfg->nlisten;
	srvc.tls = tls;
	srvc.tls_client_certs = cfg->tls_ca != NULL;
	srvc.auth = cfg->auth_token_file != NULL ? &d->auth : NULL;
	srvc.max_connections = cfg->max_connections;
	if ((rv = server_start(&d->srv, service_base(d->sv), &srvc, err,
	                       errlen)) != JOBD_OK)
		goto fail_server;
	if (cfg->http_url != NULL) {
		memset(&hc, 0, sizeof(hc));
		hc.url = cfg->http_url;
		hc.tls = is_https(cfg->http_url) ? tls : NULL;
		hc.tls_client_certs = cfg->tls_ca != NULL;
		hc.auth = srvc.auth;
		hc.svc = service_base(d->sv);
		hc.failing = queue_failing;
		hc.failing_arg = d->q;
		hc.metrics = render_metrics; /* metrics.h */
		hc.metrics_arg = NULL;
		if ((rv = http_start(&d->http, &hc, err, errlen)) != JOBD_OK)
			goto fail_http;
	}
	if (tls != NULL)
		nng_tls_config_free(tls); /* the listeners hold it */
	jobq_redact(cfg->db, shown, sizeof(shown));
	log_info("jobd %s ready: database '%s', %u workers%s", JOBD_VERSION,
	         shown, cfg->workers,
	         cfg->auth_token_file != NULL ? ", token required" : "");
	*dp = d;
	return JOBD_OK;

fail_http:
	server_stop(d->srv);
fail_server:
	periodic_stop(d->per);
	d->q->ops->drain(d->q, 0);
	pool_stop(d->p);
fail_pool:
	service_destroy(d->sv);
fail_load:
	periodic_stop(d->per);
	d->q->ops->drain(d->q, 0);
	d->q->ops->stop(d->q);
	periodic_destroy(d->per);
fail_start:
	d->q->ops->destroy(d->q);
fail_db:
	schedset_free(set);
	kindset_unref(ks);
	if (tls != NULL)
		nng_tls_config_free(tls);
fail_security:
	free(d);
	return rv;
}

/* The kinds and the schedules (checked against the new kinds) are read
 * first; either one wrong keeps both in use. */
int
daemon_reload(jobd_daemon *d, char *err, size_t errlen)
{
	struct schedset *set;
	kindset *ks;
	size_t n;
	int rv;

	if ((rv = kindset_load(&ks, d->kinds, err, errlen)) != JOBD_OK)
		return rv;
	if ((rv = schedfile_load_dir(&set, d->kinds->dir, ks, err, errlen)) !=
	    JOBD_OK) {
		kindset_unref(ks);
		return rv;
	}
	(void) kindset_all(ks, &n);
	d->q->ops->set_kinds(d->q, ks);
	kindset_unref(ks);
	log_info("kinds read again: %zu kinds", n);
	periodic_reload(d->per, set);
	return JOBD_OK;
}

void
daemon_drain(jobd_daemon *d)
{
	log_info("stopping: no new requests; running jobs have %u ms",
	         d->grace_ms);
	server_drain(d->srv);
	http_drain(d->http);
	service_drain(d->sv);
	periodic_stop(d->per);
	d->q->ops->drain(d->q, d->grace_ms);
	pool_stop(d->p);
	d->q->ops->stop(d->q); /* the marks go, every slot clear; the rest
	                          is committed */
	d->drained = true;
}

void
daemon_hurry(jobd_daemon *d)
{
	d->q->ops->hurry(d->q);
}

void
daemon_status(jobd_daemon *d)
{
	struct sched_stats st;

	d->q->ops->stats(d->q, &st);
	log_info(
	    "status: %u of %u workers busy; jobs %llu queued (%llu of "
	    "a kind not defined), %llu scheduled, %llu running, %llu "
	    "succeeded, %llu failed, %llu cancelled; since start %llu "
	    "submitted, %llu retried, %llu recovered",
	    st.busy, d->workers, (unsigned long long) st.counts[JOB_QUEUED],
	    (unsigned long long) st.waiting_kind,
	    (unsigned long long) st.counts[JOB_SCHEDULED],
	    (unsigned long long) st.counts[JOB_RUNNING],
	    (unsigned long long) st.counts[JOB_SUCCEEDED],
	    (unsigned long long) st.counts[JOB_FAILED],
	    (unsigned long long) st.counts[JOB_CANCELLED],
	    (unsigned long long) st.submitted, (unsigned long long) st.retried,
	    (unsigned long long) st.recovered);
}

int
daemon_stop(jobd_daemon *d)
{
	if (d == NULL)
		return JOBD_OK;
	if (!d->drained)
		daemon_drain(d);
	http_stop(d->http);
	if (server_stop_within(d->srv, DAEMON_CLOSE_MS) != JOBD_OK) {
		/* the service and scheduler stay: nng may yet call in */
		log_warn("stopped, but the socket did not close within %u ms "
		         "(nng); every job is on disk",
		         DAEMON_CLOSE_MS);
		free(d);
		return JOBD_DEADLINE_EXCEEDED;
	}
	service_destroy(d->sv);
	periodic_destroy(d->per);
	d->q->ops->destroy(d->q);
	log_info("stopped");
	free(d);
	return JOBD_OK;
}

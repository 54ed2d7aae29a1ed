/*
 * jobq_pg_listen: the shared queue's listener thread (see jobq_pg.c for
 * the whole design), on a connection of its own that LISTENs on jobd_new,
 * jobd_end and jobd_cancel.
 *
 * It sleeps in poll() on that connection's socket and on a pipe (new
 * parked calls to look at, stop), until the next of its timers:
 *   - jobd_new: the writer is asked to claim (free workers only).
 *   - jobd_end "id,id,...": the calls parked on those ids are settled
 *     (pgq_settle: read from the database, answered if ended).
 *   - jobd_cancel "id": a job claimed here is asked to stop (at its next
 *     progress report; one not started yet ends cancelled when taken).
 *   - every PGQ_POLL_MS, the fallback for lost notifications: a claim, the
 *     states of every parked id, the paused kinds, and the counts for
 *     Stats and max_queue (while Stats is asked or with a max_queue: the
 *     live ones from the partial indexes; the ended ones need a scan of
 *     the table, read again after 100 times the last scan took: every
 *     poll on a small table, every 30 s at 2 million rows).
 *   - every lease/3, the renewal of this daemon's leases; a job it runs
 *     that was not renewed has lost its lease (another daemon rescued it):
 *     it is stopped and its end will be dropped.
 *   - every lease/2 (at most every PGQ_POLL_MS), the rescue of expired
 *     leases anywhere (any daemon may do it: the statement is atomic), with
 *     NOTIFY jobd_new for the jobs back in the queue and jobd_end for those
 *     it ended.
 *   - every PGQ_SIZE_MS, the database's size (pg_database_size), kept
 *     for /metrics (db_bytes).
 *   - every PGQ_LEAD_MS, the leader lock (pg_try_advisory_lock: held by
 *     this connection's session, so a daemon that dies or loses the
 *     database loses it); the leader fires the periodic schedules
 *     (leads()) and purges finished jobs past the retention.
 *   - parked calls' deadlines (a heap): answered DEADLINE_EXCEEDED with
 *     the job's state.
 * A lost connection: reconnect with a backoff, LISTEN again, then settle
 * every parked id (notifications sent meanwhile are lost).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobq_pg_impl.h"
#include "log.h"

struct notes {
	bool fresh;
	bool all_ends; /* a jobd_end without ids */
	uint64_t *ends;
	size_t nends, capends;
	uint64_t *cancels;
	size_t ncancels, capcancels;
};

static void
push_id(uint64_t **v, size_t *n, size_t *cap, uint64_t id)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		uint64_t *nv = realloc(*v, c * sizeof(*nv));
		if (nv == NULL)
			return;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = id;
}

static void
on_note(const char *chan, const char *payload, void *arg)
{
	struct notes *nt = arg;

	if (strcmp(chan, PGSTORE_CHAN_NEW) == 0) {
		nt->fresh = true;
		return;
	}
	bool end = strcmp(chan, PGSTORE_CHAN_END) == 0;
	if (!end && strcmp(chan, PGSTORE_CHAN_CANCEL) != 0)
		return;
	const char *p = payload ? payload : "";
	if (end && *p == '\0')
		nt->all_ends = true;
	while (*p != '\0') {
		char *e;
		errno = 0;
		unsigned long long id = strtoull(p, &e, 10);
		if (e == p || errno != 0) {
			nt->all_ends |= end;
			break;
		}
		if (end)
			push_id(&nt->ends, &nt->nends, &nt->capends, id);
		else
			push_id(&nt->cancels, &nt->ncancels, &nt->capcancels,
			        id);
		p = *e == ',' ? e + 1 : e;
		if (*e != ',' && *e != '\0')
			break;
	}
}

static void
want_claim(struct pgq *q)
{
	pthread_mutex_lock(&q->mtx);
	q->want_claim = true;
	pthread_cond_signal(&q->writer_cv);
	pthread_mutex_unlock(&q->mtx);
}

/* The ids of every parked call (malloc'd; NULL when none). */
static uint64_t *
parked_ids(struct pgq *q, size_t *n)
{
	uint64_t *v = NULL;
	size_t cap = 0;

	*n = 0;
	pthread_mutex_lock(&q->mtx);
	for (struct waiter *w = q->parked; w != NULL; w = w->anext)
		push_id(&v, n, &cap, w->id);
	pthread_mutex_unlock(&q->mtx);
	return v;
}

static int
settle_all(struct pgq *q, pgstore *s)
{
	size_t n;
	uint64_t *ids = parked_ids(q, &n);
	int rv = JOBD_OK;

	for (size_t i = 0; i < n && rv == JOBD_OK; i += 1000)
		rv = pgq_settle(q, s, ids + i, n - i < 1000 ? n - i : 1000);
	free(ids);
	return rv;
}

static void
cancel_here(struct pgq *q, const uint64_t *ids, size_t n)
{
	pthread_mutex_lock(&q->mtx);
	for (size_t i = 0; i < n; i++) {
		struct job *j = pgq_live_find(q, ids[i]);
		int none = PGQ_RUN;
		if (j != NULL && !j->ending)
			atomic_compare_exchange_strong(&j->stop, &none,
			                               PGQ_CANCEL);
	}
	pthread_mutex_unlock(&q->mtx);
}

/* The parked calls whose deadline passed: answered with the state. */
static int
expire(struct pgq *q, pgstore *s)
{
	struct waiter *list = NULL, *w;
	int64_t now = pgq_mono_ms();
	size_t n = 0;

	pthread_mutex_lock(&q->mtx);
	while ((w = heap_top(&q->deadlines)) != NULL && w->deadline <= now &&
	       n < 256) {
		pgq_unpark(q, w);
		w->next = list;
		list = w;
		n++;
	}
	pthread_mutex_unlock(&q->mtx);
	for (w = list; w != NULL;) {
		struct waiter *next = w->next;
		int st = 0;
		if (pgstore_states(s, &w->id, 1, &st) != JOBD_OK)
			st = JOB_RUNNING; /* cannot tell: not ended */
		w->state = st ? st : JOB_QUEUED;
		pgq_fire(w, JOBD_DEADLINE_EXCEEDED, NULL, 0, NULL);
		w = next;
	}
	return n == 256 ? 1 : 0;
}

/* Renews this daemon's leases; the jobs it holds that were not renewed
 * lost theirs. */
static int
renew(struct pgq *q, pgstore *s)
{
	uint64_t *held = NULL, *ids = NULL;
	size_t nheld = 0, cap = 0, n = 0;
	int rv;

	pthread_mutex_lock(&q->mtx);
	for (struct job *j = q->live; j != NULL; j = j->next)
		if (!j->ending && !j->lost)
			push_id(&held, &nheld, &cap, j->rec.id);
	pthread_mutex_unlock(&q->mtx);
	if ((rv = pgstore_renew(s, q->node, q->lease_ms, &ids, &n)) !=
	    JOBD_OK) {
		free(held);
		return rv;
	}
	for (size_t i = 0; i < nheld; i++) {
		bool found = false;
		for (size_t k = 0; k < n && !found; k++)
			found = ids[k] == held[i];
		if (found)
			continue;
		pthread_mutex_lock(&q->mtx);
		struct job *j = pgq_live_find(q, held[i]);
		if (j != NULL && !j->ending && !j->lost) {
			j->lost = true;
			atomic_store(&j->stop, PGQ_LOST);
			log_job(LOG_WARN, j->rec.id, j->rec.kind,
			        ": lease lost (rescued by another daemon?): "
			        "stopping it here");
		}
		pthread_mutex_unlock(&q->mtx);
	}
	free(held);
	free(ids);
	return JOBD_OK;
}

static int
rescue(struct pgq *q, pgstore *s)
{
	uint64_t requeued = 0, failed = 0, *ended = NULL;
	size_t nended = 0;
	int rv;

	if ((rv = pgstore_rescue(s, q->cfg.sched.max_recoveries, &requeued,
	                         &failed, &ended, &nended, pgq_count_end,
	                         NULL)) != JOBD_OK)
		return rv;
	if (requeued + failed > 0)
		log_info("rescued %llu jobs whose lease expired (%llu ended)",
		         (unsigned long long) requeued,
		         (unsigned long long) failed);
	if (requeued > 0) {
		rv = pgstore_notify(s, PGSTORE_CHAN_NEW, q->node);
		want_claim(q);
	}
	if (rv == JOBD_OK && nended > 0)
		rv = pgq_notify_ids(s, PGSTORE_CHAN_END, ended, nended);
	free(ended);
	return rv;
}

static int
lead(struct pgq *q, pgstore *s, int64_t *next_purge)
{
	bool leading = false;
	int rv;

	if ((rv = pgstore_try_lead(s, &leading)) != JOBD_OK)
		return rv;
	pthread_mutex_lock(&q->mtx);
	if (leading != q->leading)
		log_info("node '%s' %s the cluster's leader (schedules, "
		         "retention)",
		         q->node, leading ? "is now" : "is no longer");
	q->leading = leading;
	pthread_mutex_unlock(&q->mtx);
	if (!leading || q->cfg.sched.retention_ms <= 0 ||
	    pgq_mono_ms() < *next_purge)
		return JOBD_OK;
	*next_purge = pgq_mono_ms() + PGQ_PURGE_MS;
	int64_t before = pgq_wall_ms() - q->cfg.sched.retention_ms;
	uint64_t n = 0, total = 0;
	do {
		if ((rv = pgstore_purge(s, before, 0, &n)) != JOBD_OK)
			return rv;
		total += n;
	} while (n == 10000);
	if (total > 0)
		log_info("purged %llu finished jobs past the retention",
		         (unsigned long long) total);
	return JOBD_OK;
}

/* The fallback poll's reads: the paused kinds, and, while Stats is asked
 * (in the last minute) or with a max_queue, the live counts (cheap: the partial
 * indexes) and the ended ones (a scan of the table: again after
 * PGQ_COUNTS_SCALE times what the last one took). */
static int
refresh(struct pgq *q, pgstore *s, int64_t *next_counts)
{
	uint64_t counts[JOB_STATE_MAX + 1];
	struct pgq_names a = {NULL, 0};
	bool count;
	int rv;

	pthread_mutex_lock(&q->mtx);
	count = pgq_mono_ms() - q->counts_asked < PGQ_COUNTS_ASKED_MS ||
	        q->cfg.sched.max_queue > 0;
	pthread_mutex_unlock(&q->mtx);
	if (count) {
		int64_t t0 = pgq_mono_ms();
		bool all = t0 >= *next_counts;
		rv = all ? pgstore_counts(s, counts)
		         : pgstore_counts_live(s, counts);
		if (rv != JOBD_OK)
			return rv;
		int64_t cost = pgq_mono_ms() - t0;
		if (all) /* the scan's cost decides when it is next */
			*next_counts = pgq_mono_ms() + cost * PGQ_COUNTS_SCALE;
		pgq_counts_keep(q, counts, all, t0, cost);
	}
	if ((rv = pgstore_paused_load(s, pgq_names_add, &a)) == JOBD_OK) {
		pthread_mutex_lock(&q->mtx);
		for (size_t i = 0; i < q->npaused; i++)
			free(q->paused[i]);
		free(q->paused);
		q->paused = a.v;
		q->npaused = a.n;
		a.v = NULL;
		a.n = 0;
		pthread_mutex_unlock(&q->mtx);
	}
	for (size_t i = 0; i < a.n; i++)
		free(a.v[i]);
	free(a.v);
	return rv;
}

static int
listen_all(pgstore *s)
{
	int rv;
	if ((rv = pgstore_listen(s, PGSTORE_CHAN_NEW)) != JOBD_OK ||
	    (rv = pgstore_listen(s, PGSTORE_CHAN_END)) != JOBD_OK ||
	    (rv = pgstore_listen(s, PGSTORE_CHAN_CANCEL)) != JOBD_OK)
		return rv;
	return JOBD_OK;
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

void *
pgq_listener_main(void *arg)
{
	struct pgq *q = arg;
	pgstore *s = q->lconn;
	int64_t now = pgq_mono_ms();
	int64_t renew_every = q->lease_ms / 3;
	int64_t rescue_every =
	    q->lease_ms / 2 < PGQ_POLL_MS ? PGQ_POLL_MS : q->lease_ms / 2;
	int64_t next_renew = now + renew_every, next_rescue = now;
	int64_t next_poll = now + PGQ_POLL_MS, next_lead = now;
	/* the first purge as the local queue's: soon after start */
	int64_t next_purge = now + PGQ_FIRST_PURGE_MS, next_try = 0,
	        next_counts = now, next_size = now;
	int64_t backoff = PGQ_BACKOFF_MIN_MS;
	bool listening = false, more = false;
	struct notes nt = {0};

	pthread_setname_np(pthread_self(), "jobd:pglisten");
	for (;;) {
		uint64_t *checks;
		size_t nchecks;
		int64_t deadline = INT64_MAX;
		int rv = JOBD_OK;

		pthread_mutex_lock(&q->mtx);
		if (q->listener_stop) {
			pthread_mutex_unlock(&q->mtx);
			break;
		}
		checks = q->checks;
		nchecks = q->nchecks;
		q->checks = NULL;
		q->nchecks = q->capchecks = 0;
		struct waiter *top = heap_top(&q->deadlines);
		if (top != NULL)
			deadline = top->deadline;
		pthread_mutex_unlock(&q->mtx);

		now = pgq_mono_ms();
		if (!listening && now >= next_try) {
			if ((pgstore_connected(s) ||
			     pgstore_reconnect(s) == JOBD_OK) &&
			    listen_all(s) == JOBD_OK) {
				listening = true;
				backoff = PGQ_BACKOFF_MIN_MS;
				nt.all_ends = true; /* missed meanwhile */
				want_claim(q);
			} else {
				next_try = now + backoff;
				backoff =
				    min64(backoff * 2, PGQ_BACKOFF_MAX_MS);
			}
		}
		if (listening) {
			if (nchecks > 0)
				rv = pgq_settle(q, s, checks, nchecks);
		} else if (nchecks > 0) {
			/* keep them for later */
			pthread_mutex_lock(&q->mtx);
			pgq_check_locked(q, checks, nchecks);
			pthread_mutex_unlock(&q->mtx);
		}
		free(checks);

		int64_t until = min64(min64(next_renew, next_rescue),
		                      min64(next_poll, next_lead));
		until = min64(until, deadline);
		if (!listening)
			until = min64(until, next_try);
		now = pgq_mono_ms();
		int timeout = more || until <= now  ? 0
		              : until - now > 60000 ? 60000
		                                    : (int) (until - now);
		struct pollfd fds[2] = {
		    {q->wake[0], POLLIN, 0},
		    {listening ? pgstore_socket(s) : -1, POLLIN, 0}};
		if (rv == JOBD_OK)
			(void) poll(fds, 2, timeout);
		if (fds[0].revents & POLLIN) {
			char buf[64];
			while (read(q->wake[0], buf, sizeof(buf)) > 0)
				;
		}
		more = false;
		now = pgq_mono_ms();
		if (deadline <= now) /* whatever the connection */
			more = expire(q, s) != 0;
		if (!listening)
			continue;
		if (rv == JOBD_OK)
			rv = pgstore_wait(s, 0, on_note, &nt, NULL);
		if (nt.fresh) {
			want_claim(q);
			nt.fresh = false;
		}
		if (nt.ncancels > 0) {
			cancel_here(q, nt.cancels, nt.ncancels);
			nt.ncancels = 0;
		}
		now = pgq_mono_ms();
		if (rv == JOBD_OK && now >= next_poll) {
			nt.all_ends = true;
			want_claim(q);
			rv = refresh(q, s, &next_counts);
			next_poll = now + PGQ_POLL_MS;
		}
		if (rv == JOBD_OK && nt.all_ends) {
			if ((rv = settle_all(q, s)) == JOBD_OK) {
				nt.all_ends = false;
				nt.nends = 0;
			}
		} else if (rv == JOBD_OK && nt.nends > 0) {
			if ((rv = pgq_settle(q, s, nt.ends, nt.nends)) ==
			    JOBD_OK)
				nt.nends = 0;
		}
		if (rv == JOBD_OK && now >= next_renew) {
			rv = renew(q, s);
			next_renew = now + renew_every;
		}
		if (rv == JOBD_OK && now >= next_rescue) {
			rv = rescue(q, s);
			next_rescue = now + rescue_every;
		}
		if (rv == JOBD_OK && now >= next_size) {
			uint64_t bytes;
			if ((rv = pgstore_db_size(s, &bytes)) == JOBD_OK)
				atomic_store(&q->db_bytes, bytes);
			next_size = now + PGQ_SIZE_MS;
		}
		if (rv == JOBD_OK && now >= next_lead) {
			rv = lead(q, s, &next_purge);
			next_lead = now + PGQ_LEAD_MS;
		}
		if (rv == JOBD_UNAVAILABLE || !pgstore_connected(s)) {
			log_warn("listener: database connection lost: %s",
			         pgstore_errmsg(s));
			listening = false;
			pthread_mutex_lock(&q->mtx);
			q->leading = false;
			pthread_mutex_unlock(&q->mtx);
			next_try = pgq_mono_ms();
		}
	}
	free(nt.ends);
	free(nt.cancels);
	return NULL;
}

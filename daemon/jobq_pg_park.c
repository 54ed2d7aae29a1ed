/*
 * jobq_pg_park: what the shared queue's threads share in memory (see
 * jobq_pg.c for the whole design): the calls parked on job ids and their
 * settling from the database, the live list of the jobs claimed here, the
 * cache of paused kinds, and the pool of reader connections. Every
 * function says whether it is called under pgq.mtx.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "jobq_pg_impl.h"

char pgq_parked_mark;

int64_t
pgq_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

int64_t
pgq_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* ---- parked calls ------------------------------------------------------ */

static size_t
bucket(uint64_t id)
{
	return (size_t) ((id * 0x9E3779B97F4A7C15ull) >> 54) % PGQ_BUCKETS;
}

int
pgq_wait_less(const void *a, const void *b)
{
	return ((const struct waiter *) a)->deadline <
	       ((const struct waiter *) b)->deadline;
}

void
pgq_wait_setpos(void *e, size_t pos)
{
	((struct waiter *) e)->hpos = pos;
}

void
pgq_fire(struct waiter *w, int status, const struct jobrec *job,
         uint64_t existing_id, const char *msg)
{
	struct jobrec brief = {0};
	if (job == NULL) {
		brief.id = w->id;
		brief.state = w->state;
		job = &brief;
	}
	w->fire(w, status, job, existing_id, msg);
}

int
pgq_park_id(struct pgq *q, uint64_t id, struct waiter *w)
{
	struct waiter **b = &q->byid[bucket(id)];

	w->id = id;
	w->state = 0;
	w->hpos = HEAP_NONE;
	if (w->deadline > 0 && heap_push(&q->deadlines, w) != 0)
		return JOBD_RESOURCE_EXHAUSTED;
	w->until = WAIT_END;
	w->q = PGQ_MARK;
	w->next = *b;
	if (*b != NULL)
		(*b)->pprev = &w->next;
	w->pprev = b;
	*b = w;
	w->anext = q->parked;
	if (q->parked != NULL)
		q->parked->apprev = &w->anext;
	w->apprev = &q->parked;
	q->parked = w;
	q->nparked++;
	return JOBD_OK;
}

void
pgq_unpark(struct pgq *q, struct waiter *w)
{
	if ((*w->pprev = w->next) != NULL)
		w->next->pprev = w->pprev;
	if ((*w->apprev = w->anext) != NULL)
		w->anext->apprev = w->apprev;
	if (w->hpos != HEAP_NONE)
		heap_remove(&q->deadlines, w->hpos);
	w->hpos = HEAP_NONE;
	w->q = NULL;
	w->next = NULL;
	q->nparked--;
}

size_t
pgq_detach_id(struct pgq *q, uint64_t id, struct waiter **list)
{
	struct waiter *w = q->byid[bucket(id)], *next;
	size_t n = 0;

	for (; w != NULL; w = next) {
		next = w->next;
		if (w->id != id)
			continue;
		pgq_unpark(q, w);
		w->next = *list;
		*list = w;
		n++;
	}
	return n;
}

static bool
parked_on(struct pgq *q, uint64_t id)
{
	for (struct waiter *w = q->byid[bucket(id)]; w != NULL; w = w->next)
		if (w->id == id)
			return true;
	return false;
}

void
pgq_wake_listener(struct pgq *q)
{
	char c = 1;
	if (q->wake[1] >= 0)
		(void) !write(q->wake[1], &c, 1);
}

void
pgq_check_locked(struct pgq *q, const uint64_t *ids, size_t n)
{
	if (n == 0)
		return;
	if (q->nchecks + n > q->capchecks) {
		size_t cap = (q->nchecks + n) * 2;
		uint64_t *v = realloc(q->checks, cap * sizeof(*v));
		if (v == NULL)
			return; /* the fallback poll looks at it */
		q->checks = v;
		q->capchecks = cap;
	}
	memcpy(q->checks + q->nchecks, ids, n * sizeof(*ids));
	q->nchecks += n;
}

void
pgq_fire_list(struct waiter *list, int status, const struct jobrec *job,
              const char *msg)
{
	for (struct waiter *w = list, *next; w != NULL; w = next) {
		next = w->next;
		pgq_fire(w, status, job, 0, msg);
	}
}

int
pgq_settle(struct pgq *q, pgstore *s, const uint64_t *ids, size_t n)
{
	uint64_t *f;
	int *st;
	size_t m = 0;
	int rv = JOBD_OK;

	if (n == 0)
		return JOBD_OK;
	if ((f = malloc(n * sizeof(*f))) == NULL ||
	    (st = malloc(n * sizeof(*st))) == NULL) {
		free(f);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	pthread_mutex_lock(&q->mtx);
	for (size_t i = 0; i < n; i++)
		if (parked_on(q, ids[i]))
			f[m++] = ids[i];
	pthread_mutex_unlock(&q->mtx);
	if (m > 0 && (rv = pgstore_states(s, f, m, st)) != JOBD_OK)
		goto out;
	for (size_t i = 0; i < m; i++) {
		struct jobrec rec = {0};
		struct waiter *list = NULL;
		char msg[300];
		int got = JOBD_NOT_FOUND;

		if (st[i] != 0 && !job_state_terminal(st[i]))
			continue;
		if (st[i] != 0 &&
		    (got = pgstore_get(s, f[i], 0, &rec)) != JOBD_OK &&
		    got != JOBD_NOT_FOUND && got != JOBD_DATA_LOSS) {
			rv = got;
			jobrec_clear(&rec);
			goto out;
		}
		if (got == JOBD_NOT_FOUND)
			snprintf(msg, sizeof(msg), "job %llu not found",
			         (unsigned long long) f[i]);
		else
			snprintf(msg, sizeof(msg), "%s", pgstore_errmsg(s));
		pthread_mutex_lock(&q->mtx);
		pgq_detach_id(q, f[i], &list);
		pthread_mutex_unlock(&q->mtx);
		for (struct waiter *w = list; w != NULL; w = w->next)
			w->state = st[i];
		pgq_fire_list(list, got, got == JOBD_OK ? &rec : NULL, msg);
		jobrec_clear(&rec);
	}
out:
	free(f);
	free(st);
	return rv;
}

/* ---- the live list ------------------------------------------------------ */

struct job *
pgq_live_find(struct pgq *q, uint64_t id)
{
	for (struct job *j = q->live; j != NULL; j = j->next)
		if (j->rec.id == id)
			return j;
	return NULL;
}

void
pgq_live_drop(struct pgq *q, struct job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		q->live = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	kindset_unref(j->ks);
	jobrec_clear(&j->rec);
	free(j);
}

void
pgq_live_add(struct pgq *q, struct job *j)
{
	j->q = q;
	j->prev = NULL;
	j->next = q->live;
	if (q->live != NULL)
		q->live->prev = j;
	q->live = j;
}

void
pgq_ready_add(struct pgq *q, struct job *j)
{
	pgq_live_add(q, j);
	j->rnext = NULL;
	*q->ready_tail = j;
	q->ready_tail = &j->rnext;
	q->nready++;
}

void
pgq_end_locked(struct pgq *q, struct job *j)
{
	j->ending = true;
	j->rnext = NULL;
	*q->ends_tail = j;
	q->ends_tail = &j->rnext;
	q->want_claim = true;
	pthread_cond_signal(&q->writer_cv);
}

/* ---- the paused kinds (a cache) ---------------------------------------- */

bool
pgq_paused_has(struct pgq *q, const char *kind, size_t *at)
{
	for (size_t i = 0; i < q->npaused; i++)
		if (strcmp(q->paused[i], kind) == 0) {
			if (at != NULL)
				*at = i;
			return true;
		}
	return false;
}

void
pgq_paused_set(struct pgq *q, const char *kind, bool paused)
{
	size_t at;
	if (paused && !pgq_paused_has(q, kind, NULL)) {
		char **v = realloc(q->paused, (q->npaused + 1) * sizeof(*v));
		char *name = strdup(kind);
		if (v != NULL)
			q->paused = v;
		if (v == NULL || name == NULL) {
			free(name);
			return;
		}
		q->paused[q->npaused++] = name;
	} else if (!paused && pgq_paused_has(q, kind, &at)) {
		free(q->paused[at]);
		q->paused[at] = q->paused[--q->npaused];
	}
}

/* ---- readers ------------------------------------------------------------ */

pgstore *
pgq_reader_get(struct pgq *q, char *err, size_t errlen)
{
	pgstore *s = NULL;

	pthread_mutex_lock(&q->mtx);
	if (q->nreaders > 0)
		s = q->readers[--q->nreaders];
	pthread_mutex_unlock(&q->mtx);
	if (s != NULL)
		return s;
	if (pgstore_open(&s, q->url, err, errlen) != JOBD_OK)
		return NULL;
	return s;
}

void
pgq_reader_put(struct pgq *q, pgstore *s, int rv)
{
	if (rv == JOBD_UNAVAILABLE || !pgstore_connected(s)) {
		pgstore_close(s);
		return;
	}
	pthread_mutex_lock(&q->mtx);
	if (q->nreaders == q->capreaders) {
		size_t cap = q->capreaders ? q->capreaders * 2 : 4;
		pgstore **v = realloc(q->readers, cap * sizeof(*v));
		if (v == NULL) {
			pthread_mutex_unlock(&q->mtx);
			pgstore_close(s);
			return;
		}
		q->readers = v;
		q->capreaders = cap;
	}
	q->readers[q->nreaders++] = s;
	pthread_mutex_unlock(&q->mtx);
}

int
pgq_notify_ids(pgstore *s, const char *chan, const uint64_t *ids, size_t n)
{
	char buf[7900];
	size_t len = 0;
	int rv = JOBD_OK;

	for (size_t i = 0; i < n && rv == JOBD_OK; i++) {
		len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s%llu",
		                         len ? "," : "",
		                         (unsigned long long) ids[i]);
		if (len > sizeof(buf) - 32 || i + 1 == n) {
			rv = pgstore_notify(s, chan, buf);
			len = 0;
		}
	}
	return rv;
}

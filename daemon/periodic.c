/*
 * periodic: one thread fires every schedule.
 *
 * Each schedule has an entry (struct pent) that outlives reloads: its name
 * never changes, its definition (struct schedule) is replaced by a reload,
 * and an entry whose file is gone stays, marked gone, until the engine is
 * destroyed (a firing of it may still be on its way). An entry holds:
 *  - cursor: the last firing handled (made, or skipped by the catch-up
 *    rule), Unix seconds;
 *  - due: the next firing to make (cron_next of the cursor, or a missed
 *    one the catch-up rule makes now);
 *  - last_at / last_job_id: the last firing that made a job (or found
 *    the job its key already had).
 *
 * The thread sleeps on a condition variable (CLOCK_REALTIME, since
 * firings are wall-clock times) until the earliest due firing, and at
 * most PERIODIC_WAKE_MS, so that a clock that jumps is seen. A firing is
 * made with the entry marked in flight: a job of the schedule's kind,
 * params, priority, timeout and max_attempts with the idempotency key
 * "schedule:NAME:YYYY-MM-DDTHH:MM:SSZ" (the firing's time, UTC), through
 * the queue's submit_batch (jobq.h) with the entry's waiter. The waiter fires
 * once the job is on disk, or at once for a key whose job is live; a key whose
 * job has already ended makes the insert fail with JOBD_ALREADY_EXISTS. Both
 * count as made: so one firing never makes two jobs, however often it is
 * submitted. The entry then moves on, and the queue's tick records (name,
 * firing, job) in schedule_ticks (the local queue: through the writer).
 *
 * Only the daemon that leads (the queue's leads(): the local queue always;
 * on a shared queue the one holding the leader lock) makes firings; the
 * others look again every PERIODIC_FOLLOW_MS. Should two make the same
 * firing at once (the lead changing hands), its key keeps it to one job.
 *
 * A firing that is refused (queue full, database failing) is logged and
 * made again with the same key after a backoff of 1 s, doubling up to
 * PERIODIC_BACKOFF_MAX; it is never dropped (the firings that fall due
 * meanwhile are missed ones: the catch-up rule applies to them once it is
 * made). A firing whose kind is not
 * defined now, or whose params the kind no longer takes, is logged and
 * skipped (not recorded: a later start counts it as missed).
 *
 * The catch-up rule. At start, every firing after the recorded one up to
 * now was missed; while running, more than one firing due at one wake
 * (a clock jump forward, a stall) is missed likewise. Missed firings are
 * logged ("schedule NAME: ...") and then, by the schedule's catch_up:
 * one (default) makes the latest of them now, under its own key; all
 * makes each, oldest first, at most PERIODIC_CATCH_UP_MAX (the older ones
 * are logged as skipped); none makes none (the latest is recorded as
 * handled). A schedule never seen before makes no catch-up: it starts
 * with its first firing after now, and its start is recorded (job 0), so
 * that a later downtime is caught up.
 *
 * Threads and locks: p->mtx guards every entry and the list. It is never
 * held while calling into the queue (a waiter may fire on the calling
 * thread; the queue's completions run on its own threads, which take
 * p->mtx). Lock order: p->mtx alone.
 */
#include "periodic.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobd_status.h"
#include "log.h"

/* Past this many firings, counting the missed ones of a cron expression
 * stops and looks at the last 31 days only. */
#define PERIODIC_SCAN_MAX 1000000
/* How often a daemon that does not lead looks whether it leads now. */
#define PERIODIC_FOLLOW_MS 1000

struct pent {
	struct pent *next;
	periodic *p;
	char name[SCHED_NAME_MAX + 1];
	struct schedule def;
	bool gone;
	bool has_due;        /* false: the spec fires no more (cron_next) */
	int64_t cursor, due; /* Unix s */
	int64_t catchup_end; /* fire without looking for misses up to it */
	int64_t last_at;     /* Unix s; 0 = never */
	uint64_t last_job_id;
	bool inflight;
	int64_t retry_at; /* Unix s; 0 = none */
	int64_t skipped;  /* catch_up none skipped up to this: to record */
	int backoff;      /* s */
	struct waiter w;
};

/* A tick read at start. */
struct tickrow {
	char *name;
	int64_t at; /* ms */
	uint64_t job_id;
};

struct periodic {
	jobq *q;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	pthread_t thread;
	bool started, stopping;
	struct pent *list;
	struct tickrow *rows;
	size_t nrows, caprows;
	int64_t ring[PERIODIC_CATCH_UP_MAX]; /* the thread's, for counting */
};

/* ---- time ---- */

static int64_t
now_s(void)
{
	return tz_floordiv(sched_wall_ms(), 1000);
}

/* e->due from cursor. Under mtx. */
static void
set_due(struct pent *e)
{
	e->has_due =
	    cron_next(e->def.when, e->def.zone, e->cursor, &e->due) == JOBD_OK;
	if (!e->has_due)
		log_warn("schedule %s: '%s' does not fire in the next %d "
		         "years",
		         e->name, e->def.spec, CRON_HORIZON_DAYS / 366);
}

/* ---- ticks ---- */

/* Records (name, at, job) through the queue. Not under mtx. */
static void
tick_submit(periodic *p, const char *name, int64_t at_s, uint64_t job_id)
{
	p->q->ops->tick(p->q, name, at_s * 1000, job_id);
}

static int
row_add(const char *name, int64_t at, uint64_t job_id, void *arg)
{
	periodic *p = arg;

	if (p->nrows == p->caprows) {
		size_t c = p->caprows ? p->caprows * 2 : 16;
		struct tickrow *r = realloc(p->rows, c * sizeof(*r));
		if (r == NULL)
			return JOBD_RESOURCE_EXHAUSTED;
		p->rows = r;
		p->caprows = c;
	}
	if ((p->rows[p->nrows].name = strdup(name)) == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	p->rows[p->nrows].at = at;
	p->rows[p->nrows].job_id = job_id;
	p->nrows++;
	return 0;
}

static const struct tickrow *
row_find(periodic *p, const char *name)
{
	for (size_t i = 0; i < p->nrows; i++)
		if (strcmp(p->rows[i].name, name) == 0)
			return &p->rows[i];
	return NULL;
}

/* ---- the catch-up rule ---- */

/*
 * The firings of e in (from, to]: *n of them (a lower bound when *more),
 * the last at *latest, and the oldest of the last
 * PERIODIC_CATCH_UP_MAX at *keep. Under mtx (p->ring is the caller's).
 */
static void
count_missed(periodic *p, struct pent *e, int64_t from, int64_t to, uint64_t *n,
             bool *more, int64_t *latest, int64_t *keep)
{
	int64_t period = cron_period(e->def.when), t;
	size_t k = 0;

	*more = false;
	if (period > 0) {
		int64_t a = tz_floordiv(from, period),
		        b = tz_floordiv(to, period);
		*n = b > a ? (uint64_t) (b - a) : 0;
		*latest = b * period;
		uint64_t kept =
		    *n < PERIODIC_CATCH_UP_MAX ? *n : PERIODIC_CATCH_UP_MAX;
		*keep = *latest - (int64_t) (kept ? kept - 1 : 0) * period;
		return;
	}
	*n = 0;
	for (t = from;;) {
		if (cron_next(e->def.when, e->def.zone, t, &t) != JOBD_OK ||
		    t > to)
			break;
		p->ring[k++ % PERIODIC_CATCH_UP_MAX] = t;
		if (++*n == PERIODIC_SCAN_MAX && from < to - 31 * 86400) {
			/* so many: the count is "more than", and the ones
			 * kept come from the last 31 days */
			*more = true;
			t = to - 31 * 86400;
			k = 0;
		}
	}
	if (k == 0) {
		*latest = *keep = 0;
		return;
	}
	*latest = p->ring[(k - 1) % PERIODIC_CATCH_UP_MAX];
	*keep = k <= PERIODIC_CATCH_UP_MAX ? p->ring[0]
	                                   : p->ring[k % PERIODIC_CATCH_UP_MAX];
}

/*
 * Applies the catch-up rule to the firings of e missed in (e->cursor,
 * now], if any; `at_start` says why they were missed. Returns a firing
 * time to record as handled (catch_up none), or 0. Under mtx.
 */
static int64_t
catch_up(periodic *p, struct pent *e, int64_t now, bool at_start)
{
	char since[32], last[32], first[32];
	uint64_t n;
	int64_t latest, keep;
	bool more;

	count_missed(p, e, e->cursor, now, &n, &more, &latest, &keep);
	if (n == 0 || (!at_start && n == 1))
		return 0;
	tz_format_utc(e->cursor, since, sizeof(since));
	tz_format_utc(latest, last, sizeof(last));
	const char *why = at_start ? "while jobd was not running"
	                           : "while they could not be made (refused, "
	                             "a stall, or the clock jumped forward)";
	/* "schedule NAME: N firings missed WHY, after SINCE up to LAST;
	 * catch_up RULE: ..." */
	char head[300];
	snprintf(head, sizeof(head),
	         "schedule %s: %s%llu firing%s missed %s, after %s up to %s",
	         e->name, more ? "more than " : "", (unsigned long long) n,
	         n == 1 && !more ? "" : "s", why, since, last);
	switch (e->def.catch_up) {
	case CATCH_UP_ONE:
		log_warn("%s; catch_up one: making the last one, of %s, now",
		         head, last);
		e->due = latest;
		e->has_due = true;
		e->catchup_end = latest;
		return 0;
	case CATCH_UP_ALL:
		if (n > PERIODIC_CATCH_UP_MAX || more) {
			tz_format_utc(keep, first, sizeof(first));
			log_warn(
			    "%s; catch_up all: the oldest %s%llu are "
			    "skipped (more than %d), the %d from %s on are "
			    "made now, oldest first",
			    head, more ? "more than " : "",
			    (unsigned long long) (n - PERIODIC_CATCH_UP_MAX),
			    PERIODIC_CATCH_UP_MAX, PERIODIC_CATCH_UP_MAX,
			    first);
			e->due = keep;
		} else {
			log_warn("%s; catch_up all: making each now, oldest "
			         "first",
			         head);
			set_due(e);
		}
		e->has_due = true;
		e->catchup_end = latest;
		return 0;
	default:
		log_warn("%s; catch_up none: skipped", head);
		e->cursor = latest;
		set_due(e);
		return latest;
	}
}

/* ---- firing ---- */

static void firing_done(struct waiter *w, int status, const struct jobrec *job,
                        uint64_t existing_id, const char *msg);

/* e's firing was refused: tried again after the backoff. Under mtx. */
static void
refused(struct pent *e, const char *msg)
{
	char at[32];

	tz_format_utc(e->due, at, sizeof(at));
	e->backoff = e->backoff == 0 ? 1
	             : e->backoff * 2 > PERIODIC_BACKOFF_MAX
	                 ? PERIODIC_BACKOFF_MAX
	                 : e->backoff * 2;
	e->retry_at = now_s() + e->backoff;
	/* this very firing is made again, whatever else falls due meanwhile
	 * (those follow the catch-up rule once it is made) */
	if (e->catchup_end < e->due)
		e->catchup_end = e->due;
	log_warn("schedule %s: the firing of %s was refused (%s); trying "
	         "again in %d s",
	         e->name, at, msg, e->backoff);
	e->inflight = false;
}

/* Moves e past its due firing. Under mtx. */
static void
advance(struct pent *e)
{
	e->cursor = e->due;
	e->retry_at = 0;
	e->backoff = 0;
	set_due(e);
}

static void
firing_done(struct waiter *w, int status, const struct jobrec *job,
            uint64_t existing_id, const char *msg)
{
	struct pent *e =
	    (struct pent *) ((char *) w - offsetof(struct pent, w));
	periodic *p = e->p;
	uint64_t id = 0;
	int64_t at;
	char when[32];

	if (status == JOBD_OK)
		id = job != NULL ? job->id : existing_id;
	else if (status == JOBD_ALREADY_EXISTS)
		id = existing_id;
	pthread_mutex_lock(&p->mtx);
	at = e->due;
	if (id == 0) {
		refused(e, msg != NULL ? msg : jobd_status_name(status));
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mtx);
		return;
	}
	tz_format_utc(at, when, sizeof(when));
	log_job(LOG_DEBUG, id, e->def.kind, ": firing of schedule %s at %s%s",
	        e->name, when,
	        status == JOBD_OK && existing_id == 0 ? "" : " (made before)");
	e->last_at = at;
	e->last_job_id = id;
	e->inflight = false;
	advance(e);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mtx);
	tick_submit(p, e->name, at, id);
}

/* The job of e's due firing into rec; false when out of memory. Under
 * mtx. */
static bool
make_rec(struct pent *e, struct jobrec *rec)
{
	char key[SCHED_NAME_MAX + 48], when[32];

	memset(rec, 0, sizeof(*rec));
	tz_format_utc(e->due, when, sizeof(when));
	snprintf(key, sizeof(key), "schedule:%s:%s", e->name, when);
	rec->priority = e->def.priority;
	rec->timeout_ms = e->def.timeout_ms;
	rec->max_attempts = e->def.max_attempts ? e->def.max_attempts : 1;
	if ((rec->kind = strdup(e->def.kind)) == NULL ||
	    (rec->idem_key = strdup(key)) == NULL)
		goto oom;
	if (e->def.nparams > 0 &&
	    (rec->params = calloc(e->def.nparams, sizeof(*rec->params))) ==
	        NULL)
		goto oom;
	for (size_t i = 0; i < e->def.nparams; i++) {
		rec->params[i].name = strdup(e->def.params[i].name);
		rec->params[i].value = strdup(e->def.params[i].value);
		rec->nparams++;
		if (rec->params[i].name == NULL || rec->params[i].value == NULL)
			goto oom;
	}
	return true;
oom:
	jobrec_clear(rec);
	return false;
}

/* Makes e's due firing (e in flight, rec its job). Not under mtx. */
static void
fire(periodic *p, struct pent *e, struct jobrec *rec)
{
	jobq *q = p->q;
	kindset *ks = q->ops->kinds(q);
	const struct kind_def *k =
	    ks != NULL ? kindset_find(ks, rec->kind) : NULL;
	char err[300], when[32];
	int rv;

	if (k == NULL || kind_validate(k->k, rec->params, rec->nparams, 0, err,
	                               sizeof(err)) != JOBD_OK) {
		if (k == NULL)
			snprintf(err, sizeof(err), "kind '%s' is not defined",
			         rec->kind);
		pthread_mutex_lock(&p->mtx);
		tz_format_utc(e->due, when, sizeof(when));
		log_warn("schedule %s: the firing of %s is skipped: %s",
		         e->name, when, err);
		e->inflight = false;
		advance(e);
		pthread_mutex_unlock(&p->mtx);
		jobrec_clear(rec);
		kindset_unref(ks);
		return;
	}
	memset(&e->w, 0, sizeof(e->w));
	e->w.until = WAIT_COMMIT;
	e->w.fire = firing_done;
	e->w.arg = e;
	struct batch_job b = {rec, k, &e->w, NULL, 0};
	rv = q->ops->submit_batch(q, &b, 1, err, sizeof(err));
	kindset_unref(ks);
	if (rv != JOBD_OK) {
		jobrec_clear(rec);
		pthread_mutex_lock(&p->mtx);
		refused(e, err);
		pthread_mutex_unlock(&p->mtx);
	}
}

/* ---- the thread ---- */

/* The ticks to record after adopting a set. */
struct rec_tick {
	char name[SCHED_NAME_MAX + 1];
	int64_t at;
	uint64_t job;
};

static void
record_ticks(periodic *p, struct rec_tick *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tick_submit(p, t[i].name, t[i].at, t[i].job);
	free(t);
}

/* What is due now is marked in flight with its job made, into *fire_list
 * (linked by next in a local array); returns when to look again. Under
 * mtx. */
struct due {
	struct pent *e;
	struct jobrec rec;
};

static int64_t
collect(periodic *p, int64_t now, struct due *out, size_t max, size_t *n)
{
	int64_t wake = now + PERIODIC_WAKE_MS / 1000;

	*n = 0;
	for (struct pent *e = p->list; e != NULL; e = e->next) {
		if (e->gone || e->inflight || !e->has_due)
			continue;
		if (e->retry_at > now) {
			wake = e->retry_at < wake ? e->retry_at : wake;
			continue;
		}
		if (e->due > now) {
			wake = e->due < wake ? e->due : wake;
			continue;
		}
		if (e->due > e->catchup_end) {
			int64_t skipped = catch_up(p, e, now, false);
			if (skipped != 0)
				e->skipped = skipped;
			if (!e->has_due || e->due > now) {
				wake =
				    e->has_due && e->due < wake ? e->due : wake;
				continue;
			}
		}
		if (*n == max) {
			wake = now;
			continue;
		}
		if (!make_rec(e, &out[*n].rec)) {
			refused(e, "out of memory");
			continue;
		}
		e->inflight = true;
		out[(*n)++].e = e;
	}
	return wake;
}

/* The records that catch_up none left to make, into a new array (*n);
 * NULL when none or out of memory (they wait for the next turn). Under
 * mtx. */
static struct rec_tick *
take_skipped(periodic *p, size_t *n)
{
	struct rec_tick *t;
	size_t k = 0;

	*n = 0;
	for (struct pent *e = p->list; e != NULL; e = e->next)
		k += e->skipped != 0;
	if (k == 0 || (t = calloc(k, sizeof(*t))) == NULL)
		return NULL;
	for (struct pent *e = p->list; e != NULL; e = e->next) {
		if (e->skipped == 0)
			continue;
		snprintf(t[*n].name, sizeof(t[0].name), "%s", e->name);
		t[*n].at = e->skipped;
		t[*n].job = e->last_job_id;
		(*n)++;
		e->skipped = 0;
	}
	return t;
}

static void *
periodic_main(void *arg)
{
	periodic *p = arg;
	struct due due[16];
	struct rec_tick *ticks;
	size_t n, nticks;

	pthread_setname_np(pthread_self(), "jobd:periodic");
	pthread_mutex_lock(&p->mtx);
	while (!p->stopping) {
		if (!p->q->ops->leads(p->q)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec +=
			    (long) PERIODIC_FOLLOW_MS % 1000 * 1000000;
			ts.tv_sec +=
			    PERIODIC_FOLLOW_MS / 1000 + ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&p->cv, &p->mtx, &ts);
			continue;
		}
		int64_t now = now_s();
		int64_t wake = collect(p, now, due, 16, &n);
		ticks = take_skipped(p, &nticks);
		if (n > 0 || ticks != NULL) {
			pthread_mutex_unlock(&p->mtx);
			record_ticks(p, ticks, nticks);
			for (size_t i = 0; i < n; i++)
				fire(p, due[i].e, &due[i].rec);
			pthread_mutex_lock(&p->mtx);
			continue;
		}
		/* sleep until `wake`, a whole second, on the wall clock */
		struct timespec ts = {.tv_sec = (time_t) wake, .tv_nsec = 0};
		pthread_cond_timedwait(&p->cv, &p->mtx, &ts);
	}
	pthread_mutex_unlock(&p->mtx);
	return NULL;
}

/* ---- entries ---- */

/* A start for entry e (new, or back): its cursor from the database, or
 * now; the catch-up rule for what was missed. Returns the time to record
 * (the start, or what catch_up none skipped), or 0. Under mtx. */
static int64_t
entry_begin(periodic *p, struct pent *e, int64_t now)
{
	const struct tickrow *r = row_find(p, e->name);
	char next[32];

	e->catchup_end = 0;
	if (r == NULL) {
		e->cursor = now;
		set_due(e);
		tz_format_utc(e->due, next, sizeof(next));
		log_info("schedule %s: never fired before; its first firing "
		         "is at %s (%s)",
		         e->name, e->has_due ? next : "never", e->def.spec);
		return now;
	}
	e->cursor = tz_floordiv(r->at, 1000);
	if (r->job_id != 0) {
		e->last_at = e->cursor;
		e->last_job_id = r->job_id;
	}
	set_due(e);
	return catch_up(p, e, now, true);
}

static struct pent *
entry_find(periodic *p, const char *name)
{
	for (struct pent *e = p->list; e != NULL; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

/*
 * Makes `set` the schedules in use (its schedules are moved out of it).
 * *ticks (malloc'd, *nticks) are what to record. Under mtx.
 */
static int
adopt(periodic *p, struct schedset *set, struct rec_tick **ticks,
      size_t *nticks)
{
	int64_t now = now_s();
	struct rec_tick *t = calloc(set->n + 1, sizeof(*t));

	*ticks = t;
	*nticks = 0;
	if (t == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	for (struct pent *e = p->list; e != NULL; e = e->next)
		e->gone = true;
	for (size_t i = 0; i < set->n; i++) {
		struct schedule *d = &set->v[i];
		struct pent *e = entry_find(p, d->name);
		int64_t rec = 0;
		if (e == NULL) {
			if ((e = calloc(1, sizeof(*e))) == NULL)
				return JOBD_RESOURCE_EXHAUSTED;
			e->p = p;
			snprintf(e->name, sizeof(e->name), "%s", d->name);
			e->def = *d;
			memset(d, 0, sizeof(*d));
			e->next = p->list;
			p->list = e;
			rec = entry_begin(p, e, now);
		} else {
			bool same = strcmp(e->def.spec, d->spec) == 0 &&
			            strcmp(e->def.time_zone, d->time_zone) == 0;
			bool was_gone = e->gone;
			schedule_clear(&e->def);
			e->def = *d;
			memset(d, 0, sizeof(*d));
			e->gone = false;
			if (was_gone || !same) {
				/* from now: what it missed while gone or
				 * under another spec is not its own */
				if (e->cursor < now)
					e->cursor = now;
				e->catchup_end = 0;
				if (!e->inflight)
					set_due(e);
				rec = now;
			}
		}
		if (rec != 0) {
			snprintf(t[*nticks].name, sizeof(t[0].name), "%s",
			         e->name);
			t[*nticks].at = rec;
			t[*nticks].job = e->last_job_id;
			(*nticks)++;
		}
	}
	return JOBD_OK;
}

int
periodic_start(periodic **pp, jobq *q, struct schedset *set, char *err,
               size_t errlen)
{
	struct rec_tick *ticks;
	size_t nticks;
	periodic *p;
	int rv;

	*pp = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		schedset_free(set);
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	p->q = q;
	pthread_mutex_init(&p->mtx, NULL);
	pthread_cond_init(&p->cv, NULL); /* CLOCK_REALTIME */
	if (set->n > 0) {
		if ((rv = q->ops->ticks_load(q, row_add, p, err, errlen)) !=
		    JOBD_OK)
			goto fail;
	}
	pthread_mutex_lock(&p->mtx);
	rv = adopt(p, set, &ticks, &nticks);
	pthread_mutex_unlock(&p->mtx);
	schedset_free(set);
	set = NULL;
	if (rv != JOBD_OK) {
		free(ticks);
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((rv = pthread_create(&p->thread, NULL, periodic_main, p)) != 0) {
		free(ticks);
		snprintf(err, errlen, "cannot start the schedules' thread: %s",
		         strerror(rv));
		rv = JOBD_INTERNAL;
		goto fail;
	}
	p->started = true;
	/* a tick holds no reference to p: p may go before they are done */
	record_ticks(p, ticks, nticks);
	*pp = p;
	return JOBD_OK;

fail:
	schedset_free(set);
	periodic_destroy(p);
	return rv;
}

void
periodic_reload(periodic *p, struct schedset *set)
{
	struct rec_tick *ticks;
	size_t nticks, n = 0;

	pthread_mutex_lock(&p->mtx);
	if (adopt(p, set, &ticks, &nticks) != JOBD_OK)
		log_error("schedules: out of memory while reading them again; "
		          "some may be missing");
	for (struct pent *e = p->list; e != NULL; e = e->next)
		n += !e->gone;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mtx);
	schedset_free(set);
	record_ticks(p, ticks, nticks);
	log_info("schedules read again: %zu schedules", n);
}

void
periodic_stop(periodic *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mtx);
	p->stopping = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mtx);
	if (p->started)
		pthread_join(p->thread, NULL);
	p->started = false;
}

void
periodic_destroy(periodic *p)
{
	if (p == NULL)
		return;
	periodic_stop(p);
	while (p->list != NULL) {
		struct pent *e = p->list;
		p->list = e->next;
		schedule_clear(&e->def);
		free(e);
	}
	for (size_t i = 0; i < p->nrows; i++)
		free(p->rows[i].name);
	free(p->rows);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mtx);
	free(p);
}

/* ---- listing ---- */

static int
info_cmp(const void *a, const void *b)
{
	return strcmp(((const struct schedule_info *) a)->name,
	              ((const struct schedule_info *) b)->name);
}

static int
info_fill(struct schedule_info *o, const struct pent *e)
{
	const struct schedule *d = &e->def;

	o->priority = d->priority;
	o->next_at = e->has_due ? e->due * 1000 : 0;
	o->last_at = e->last_at * 1000;
	o->last_job_id = e->last_job_id;
	if ((o->name = strdup(e->name)) == NULL ||
	    (o->kind = strdup(d->kind)) == NULL ||
	    (o->spec = strdup(d->spec)) == NULL ||
	    (o->time_zone = strdup(d->time_zone)) == NULL ||
	    (o->catch_up = strdup(catch_up_name(d->catch_up))) == NULL ||
	    (o->source = strdup(d->source)) == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	if (d->nparams > 0 &&
	    (o->params = calloc(d->nparams, sizeof(*o->params))) == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < d->nparams; i++) {
		o->params[i].name = strdup(d->params[i].name);
		o->params[i].value = strdup(d->params[i].value);
		o->nparams++;
		if (o->params[i].name == NULL || o->params[i].value == NULL)
			return JOBD_RESOURCE_EXHAUSTED;
	}
	return JOBD_OK;
}

int
periodic_list(periodic *p, struct schedule_info **out, size_t *n)
{
	struct schedule_info *v;
	size_t k = 0, cnt = 0;
	int rv = JOBD_OK;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&p->mtx);
	for (struct pent *e = p->list; e != NULL; e = e->next)
		cnt += !e->gone;
	if ((v = calloc(cnt + 1, sizeof(*v))) == NULL) {
		pthread_mutex_unlock(&p->mtx);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	for (struct pent *e = p->list; e != NULL && rv == JOBD_OK; e = e->next)
		if (!e->gone)
			rv = info_fill(&v[k++], e);
	pthread_mutex_unlock(&p->mtx);
	if (rv != JOBD_OK) {
		periodic_list_free(v, k);
		return rv;
	}
	qsort(v, k, sizeof(*v), info_cmp);
	*out = v;
	*n = k;
	return JOBD_OK;
}

void
periodic_list_free(struct schedule_info *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].kind);
		free(v[i].spec);
		free(v[i].time_zone);
		free(v[i].catch_up);
		free(v[i].source);
		for (size_t j = 0; j < v[i].nparams; j++) {
			free(v[i].params[j].name);
			free(v[i].params[j].value);
		}
		free(v[i].params);
	}
	free(v);
}

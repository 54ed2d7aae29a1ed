/*
 * pgjobs.c: pgstore's submit (the batch insert and its idempotency) and
 * the workers' calls (claim, finish, progress, renew, rescue,
 * recover_own, doom). The statements are pgsql.c's; pgread.c reads the
 * rows they return.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgstore_int.h"

/* ---- submit ----------------------------------------------------------------
 */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

/* The scratch of one insert_batch: the columns, one array each. */
struct pg_batch {
	int64_t *id, *max_attempts, *timeout, *created, *not_before, *icrc,
	    *rcrc;
	int32_t *priority, *idx;
	const char **kind, **idem, **uniq, **after_txt;
	char **after_own;
	const void **params, **input;
	size_t *plen, *ilen;
	uint8_t **params_own;
	size_t n;
};

static void
pg_batch_free(struct pg_batch *b)
{
	if (b->after_own != NULL)
		for (size_t i = 0; i < b->n; i++)
			free(b->after_own[i]);
	if (b->params_own != NULL)
		for (size_t i = 0; i < b->n; i++)
			free(b->params_own[i]);
	free(b->id);
	free(b->max_attempts);
	free(b->timeout);
	free(b->created);
	free(b->not_before);
	free(b->icrc);
	free(b->rcrc);
	free(b->priority);
	free(b->idx);
	free(b->kind);
	free(b->idem);
	free(b->uniq);
	free(b->after_txt);
	free(b->after_own);
	free(b->params);
	free(b->input);
	free(b->plen);
	free(b->ilen);
	free(b->params_own);
}

static int
pg_batch_alloc(struct pg_batch *b, size_t n)
{
	memset(b, 0, sizeof(*b));
	b->n = n;
	b->id = calloc(n, sizeof(int64_t));
	b->max_attempts = calloc(n, sizeof(int64_t));
	b->timeout = calloc(n, sizeof(int64_t));
	b->created = calloc(n, sizeof(int64_t));
	b->not_before = calloc(n, sizeof(int64_t));
	b->icrc = calloc(n, sizeof(int64_t));
	b->rcrc = calloc(n, sizeof(int64_t));
	b->priority = calloc(n, sizeof(int32_t));
	b->idx = calloc(n, sizeof(int32_t));
	b->kind = calloc(n, sizeof(char *));
	b->idem = calloc(n, sizeof(char *));
	b->uniq = calloc(n, sizeof(char *));
	b->after_txt = calloc(n, sizeof(char *));
	b->after_own = calloc(n, sizeof(char *));
	b->params = calloc(n, sizeof(void *));
	b->input = calloc(n, sizeof(void *));
	b->plen = calloc(n, sizeof(size_t));
	b->ilen = calloc(n, sizeof(size_t));
	b->params_own = calloc(n, sizeof(uint8_t *));
	return b->id && b->max_attempts && b->timeout && b->created &&
	               b->not_before && b->icrc && b->rcrc && b->priority &&
	               b->idx && b->kind && b->idem && b->uniq &&
	               b->after_txt && b->after_own && b->params && b->input &&
	               b->plen && b->ilen && b->params_own
	           ? 0
	           : -1;
}

/* "{1,2,3}" of the ids r runs after (malloc'd), NULL for none. */
static char *
pg_after_text(const struct jobrec *r, bool *oom)
{
	char *t, *p;

	if (r->nafter == 0 || r->after == NULL)
		return NULL;
	if ((t = malloc(r->nafter * 21 + 3)) == NULL) {
		*oom = true;
		return NULL;
	}
	p = t;
	*p++ = '{';
	for (size_t i = 0; i < r->nafter; i++)
		p += sprintf(p, "%s%" PRIu64, i > 0 ? "," : "", r->after[i]);
	*p++ = '}';
	*p = '\0';
	return t;
}

struct keyed {
	const char *key;
	int32_t i;
};

/* By idempotency key (jobs without one last), then by place in the
 * batch. */
static int
cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	bool xk = x->key != NULL && *x->key != '\0',
	     yk = y->key != NULL && *y->key != '\0';
	int c = xk && yk ? strcmp(x->key, y->key) : (int) yk - (int) xk;

	return c != 0 ? c : (x->i > y->i) - (x->i < y->i);
}

/* Orders b->idx[0..m) by idempotency key: two batches inserting the same
 * keys at once take them in the same order, so one waits for the other
 * instead of both deadlocking. The ids stay as drawn, in the batch's
 * order. */
static void
pg_order_by_key(struct pg_batch *b, size_t m)
{
	struct keyed *k = malloc(m * sizeof(*k));

	if (k == NULL)
		return; /* the order is an optimisation */
	for (size_t j = 0; j < m; j++) {
		k[j].key = b->idem[b->idx[j]];
		k[j].i = b->idx[j];
	}
	qsort(k, m, sizeof(*k), cmp_keyed);
	for (size_t j = 0; j < m; j++)
		b->idx[j] = k[j].i;
	free(k);
}

/* Inserts the jobs b->idx[0..m) of the batch; marks the ones inserted in
 * done[] (and their ids and times in recs/res). */
static int
pg_insert_rows(pgstore *s, struct pg_batch *b, size_t m, struct jobrec *recs,
               struct pgstore_ins *res, bool *done)
{
	struct pg_batch c; /* the rows of this round, as pointers into b */
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if (pg_batch_alloc(&c, m) != 0) {
		pg_batch_free(&c);
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot insert jobs: out of memory");
	}
	pg_order_by_key(b, m);
	for (size_t k = 0; k < m; k++) {
		size_t i = (size_t) b->idx[k];
		c.id[k] = b->id[i];
		c.kind[k] = b->kind[i];
		c.params[k] = b->params[i];
		c.plen[k] = b->plen[i];
		c.priority[k] = b->priority[i];
		c.max_attempts[k] = b->max_attempts[i];
		c.timeout[k] = b->timeout[i];
		c.idem[k] = b->idem[i];
		c.uniq[k] = b->uniq[i];
		c.after_txt[k] = b->after_txt[i];
		c.created[k] = b->created[i];
		c.not_before[k] = b->not_before[i];
		c.input[k] = b->input[i];
		c.ilen[k] = b->ilen[i];
		c.icrc[k] = b->icrc[i];
		c.rcrc[k] = b->rcrc[i];
	}
	pga_i64_array(&a, c.id, m);
	pga_text_array(&a, c.kind, m, false);
	pga_bytea_array(&a, c.params, c.plen, m);
	pga_i32_array(&a, c.priority, m);
	pga_i64_array(&a, c.max_attempts, m);
	pga_i64_array(&a, c.timeout, m);
	pga_text_array(&a, c.idem, m, true);
	pga_text_array(&a, c.uniq, m, true);
	pga_text_array(&a, c.after_txt, m, false);
	pga_i64_array(&a, c.created, m);
	pga_i64_array(&a, c.not_before, m);
	pga_bytea_array(&a, c.input, c.ilen, m);
	pga_i64_array(&a, c.icrc, m);
	pga_i64_array(&a, c.rcrc, m);
	/* the arguments hold copies: c's arrays (of borrowed pointers) go */
	pg_batch_free(&c);
	if ((r = pg_exec(s, PGS_INSERT, &a, "insert jobs", &rv)) == NULL)
		return rv;
	for (int row = 0; row < PQntuples(r); row++) {
		int64_t id = pgv_i64(r, row, 0);
		int64_t *hit =
		    bsearch(&id, b->id, b->n, sizeof(int64_t), cmp_u64);
		size_t i;
		if (hit == NULL)
			continue;
		i = (size_t) (hit - b->id);
		done[i] = true;
		res[i].id = (uint64_t) id;
		res[i].outcome = PGSTORE_INS_NEW;
		recs[i].id = (uint64_t) id;
		recs[i].created_at = pgv_i64(r, row, 1);
		recs[i].state = JOB_QUEUED;
	}
	PQclear(r);
	return JOBD_OK;
}

/* For the jobs b->idx[0..*m) not inserted: the job holding the key;
 * those whose holder is gone meanwhile stay in b->idx[0..*m). */
static int
pg_conflicts(pgstore *s, struct pg_batch *b, size_t *m, struct pgstore_ins *res,
             bool *done)
{
	const char **k = calloc(*m, sizeof(*k)), **u = calloc(*m, sizeof(*u));
	struct pgargs a = {0};
	PGresult *r;
	size_t left = 0;
	int rv;

	if (k == NULL || u == NULL) {
		free(k);
		free(u);
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot insert jobs: out of memory");
	}
	for (size_t j = 0; j < *m; j++) {
		k[j] = b->idem[b->idx[j]];
		u[j] = b->uniq[b->idx[j]];
	}
	pga_i32_array(&a, b->idx, *m);
	pga_text_array(&a, k, *m, true);
	pga_text_array(&a, u, *m, true);
	free(k);
	free(u);
	if ((r = pg_exec(s, PGS_CONFLICTS, &a, "insert jobs", &rv)) == NULL)
		return rv;
	for (int row = 0; row < PQntuples(r); row++) {
		size_t i = (size_t) pgv_i64(r, row, 0);
		if (i >= b->n)
			continue;
		if (!PQgetisnull(r, row, 1)) {
			res[i].id = (uint64_t) pgv_i64(r, row, 1);
			res[i].outcome = PGSTORE_INS_KEY;
			done[i] = true;
		} else if (!PQgetisnull(r, row, 2)) {
			res[i].id = (uint64_t) pgv_i64(r, row, 2);
			res[i].outcome = PGSTORE_INS_UNIQUE;
			done[i] = true;
		}
	}
	PQclear(r);
	for (size_t j = 0; j < *m; j++)
		if (!done[b->idx[j]])
			b->idx[left++] = b->idx[j];
	*m = left;
	return JOBD_OK;
}

/* Inserts the jobs b->idx[0..m): a key taken gives its holder; a holder
 * gone meanwhile, the job is inserted again. Reorders b->idx. */
static int
pg_insert_pass(pgstore *s, struct pg_batch *b, size_t m, struct jobrec *recs,
               struct pgstore_ins *res, bool *done)
{
	int rv;

	for (int round = 0; m > 0; round++) {
		size_t left = 0;
		if (round == 3)
			return pg_seterr(
			    s, JOBD_ABORTED,
			    "cannot insert jobs: a key was taken and "
			    "released meanwhile, again and again");
		if ((rv = pg_insert_rows(s, b, m, recs, res, done)) != JOBD_OK)
			return rv;
		for (size_t j = 0; j < m; j++)
			if (!done[b->idx[j]])
				b->idx[left++] = b->idx[j];
		m = left;
		if (m > 0 &&
		    (rv = pg_conflicts(s, b, &m, res, done)) != JOBD_OK)
			return rv;
	}
	return JOBD_OK;
}

/* Orders b->idx[0..m) so that the jobs whose unique key an earlier job of
 * the batch has come last; returns how many come first. Out of memory:
 * all first (the server then picks which job of a pair holds the key). */
static size_t
pg_defer_twins(struct pg_batch *b, size_t m)
{
	struct keyed *k = malloc(m * sizeof(*k));
	bool *twin = calloc(m, sizeof(*twin));
	size_t nk = 0, first = 0, j;
	int32_t *later;

	if (k == NULL || twin == NULL ||
	    (later = malloc(m * sizeof(*later))) == NULL) {
		free(k);
		free(twin);
		return m;
	}
	for (j = 0; j < m; j++) {
		const char *u = b->uniq[b->idx[j]];
		if (u != NULL && *u != '\0') {
			k[nk].key = u;
			k[nk++].i = (int32_t) j;
		}
	}
	qsort(k, nk, sizeof(*k), cmp_keyed);
	for (size_t i = 1; i < nk; i++)
		if (strcmp(k[i].key, k[i - 1].key) == 0)
			twin[k[i].i] = true;
	size_t nl = 0;
	for (j = 0; j < m; j++) {
		if (twin[j])
			later[nl++] = b->idx[j];
		else
			b->idx[first++] = b->idx[j];
	}
	memcpy(b->idx + first, later, nl * sizeof(*later));
	free(later);
	free(twin);
	free(k);
	return first;
}

int
pgstore_insert_batch(pgstore *s, struct jobrec *recs, size_t n,
                     struct pgstore_ins *res)
{
	struct pg_batch b;
	struct pgargs a = {0};
	PGresult *r;
	bool *done = NULL, oom = false;
	size_t m;
	int rv = JOBD_OK;

	if (n == 0)
		return JOBD_OK;
	if (n > INT32_MAX / 2)
		return pg_seterr(s, JOBD_INVALID_ARGUMENT,
		                 "cannot insert jobs: batch too big");
	if (pg_batch_alloc(&b, n) != 0 || (done = calloc(n, 1)) == NULL) {
		rv = pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		               "cannot insert jobs: out of memory");
		goto out;
	}
	m = 0;
	for (size_t i = 0; i < n; i++) {
		const struct jobrec *j = &recs[i];
		/* what PostgreSQL would refuse fails its job, not the batch */
		if (j->kind == NULL || !pg_utf8_valid(j->kind) ||
		    (j->idem_key != NULL && !pg_utf8_valid(j->idem_key)) ||
		    (j->unique_key != NULL && !pg_utf8_valid(j->unique_key)) ||
		    (rv = pg_params_encode(s, j, &b.params_own[i],
		                           &b.plen[i])) ==
		        JOBD_INVALID_ARGUMENT) {
			res[i].id = 0;
			res[i].outcome = PGSTORE_INS_INVALID;
			done[i] = true;
			continue;
		}
		if (rv != JOBD_OK)
			goto out;
		b.params[i] = b.params_own[i];
		b.kind[i] = j->kind;
		b.priority[i] = j->priority;
		b.max_attempts[i] = j->max_attempts;
		b.timeout[i] = j->timeout_ms;
		b.idem[i] = j->idem_key;
		b.uniq[i] = j->unique_key;
		b.after_own[i] = pg_after_text(j, &oom);
		b.after_txt[i] = b.after_own[i];
		b.created[i] = j->created_at;
		b.not_before[i] = j->not_before;
		b.input[i] = j->input;
		b.ilen[i] = j->input != NULL ? j->input_len : 0;
		b.idx[m++] = (int32_t) i;
	}
	if (oom) {
		rv = pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		               "cannot insert jobs: out of memory");
		goto out;
	}

	if (m == 0) {
		rv = JOBD_OK;
		goto out;
	}
	/* the ids, ascending in the batch's order (FIFO within a priority) */
	pga_i64(&a, (int64_t) n);
	if ((r = pg_exec(s, PGS_IDS, &a, "draw job ids", &rv)) == NULL)
		goto out;
	if ((size_t) PQntuples(r) != n) {
		rv = pg_seterr(s, JOBD_INTERNAL,
		               "cannot draw job ids: %d of %zu", PQntuples(r),
		               n);
		PQclear(r);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		b.id[i] = pgv_i64(r, (int) i, 0);
	PQclear(r);
	qsort(b.id, n, sizeof(int64_t), cmp_u64);
	for (size_t i = 0; i < n; i++) {
		if (done[i]) /* invalid */
			continue;
		b.icrc[i] =
		    job_input_crc((uint64_t) b.id[i], b.kind[i], b.params[i],
		                  b.plen[i], b.input[i], b.ilen[i]);
		b.rcrc[i] = job_result_crc((uint64_t) b.id[i], NULL, 0);
	}

	/* a unique key twice in the batch: the first in the batch's order
	 * holds it, so the others go in a second pass (they find it held) */
	size_t first = pg_defer_twins(&b, m);
	if ((rv = pg_insert_pass(s, &b, first, recs, res, done)) == JOBD_OK &&
	    first < m) {
		memmove(b.idx, b.idx + first, (m - first) * sizeof(*b.idx));
		rv = pg_insert_pass(s, &b, m - first, recs, res, done);
	}
out:
	pg_batch_free(&b);
	free(done);
	return rv;
}

/* ---- workers
 * ------------------------------------------------------------------ */

static int
cmp_claim(const void *a, const void *b)
{
	const struct jobrec *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int
pgstore_claim(pgstore *s, const char *owner, uint32_t lease_ms,
              const char *const *kinds, size_t nkinds,
              const struct pgstore_cap *caps, size_t ncaps, size_t max,
              struct jobrec **out, size_t *n)
{
	const char **ck = NULL;
	int64_t *cm = NULL;
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	*out = NULL;
	*n = 0;
	if (max == 0)
		return JOBD_OK;
	if (ncaps > 0 && ((ck = calloc(ncaps, sizeof(*ck))) == NULL ||
	                  (cm = calloc(ncaps, sizeof(*cm))) == NULL)) {
		free(ck);
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot claim jobs: out of memory");
	}
	for (size_t i = 0; i < ncaps; i++) {
		ck[i] = caps[i].kind;
		cm[i] = caps[i].more;
	}
	pga_text(&a, owner, false);
	pga_i64(&a, lease_ms);
	if (kinds != NULL)
		pga_text_array(&a, kinds, nkinds, false);
	pga_text_array(&a, ck, ncaps, false);
	pga_i64_array(&a, cm, ncaps);
	pga_i64(&a, max > INT32_MAX ? INT32_MAX : (int64_t) max);
	free(ck);
	free(cm);
	if ((r = pg_exec(s, kinds != NULL ? PGS_CLAIM_KINDS : PGS_CLAIM, &a,
	                 "claim jobs", &rv)) == NULL)
		return rv;
	rv = pg_recs(s, r, REC_INPUT_SOFT, out, n);
	PQclear(r);
	if (rv == JOBD_OK && *n > 1)
		qsort(*out, *n, sizeof(**out), cmp_claim);
	return rv;
}

int
pgstore_finish(pgstore *s, const char *owner, const struct jobrec *rec)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	if (rec->state != JOB_QUEUED && !job_state_terminal(rec->state))
		return pg_seterr(s, JOBD_INVALID_ARGUMENT,
		                 "cannot finish job %" PRIu64 ": state %d",
		                 rec->id, rec->state);
	pga_i64(&a, (int64_t) rec->id);
	pga_text(&a, owner, false);
	pga_i32(&a, rec->state);
	pga_i64(&a, rec->attempts);
	pga_i64(&a, (int64_t) rec->progress_done);
	pga_i64(&a, (int64_t) rec->progress_total);
	pga_bytes(&a, rec->result, rec->result != NULL ? rec->result_len : 0);
	pga_i64(&a, job_result_crc(rec->id, rec->result,
	                           rec->result != NULL ? rec->result_len : 0));
	/* a program's error text may be anything: never a reason to lose
	 * the end */
	char *fixed;
	const char *error = pg_utf8_fix(rec->error, &fixed);
	if (rec->error != NULL && error == NULL) {
		pga_free(&a);
		return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
		                 "cannot finish job %" PRIu64 ": out of memory",
		                 rec->id);
	}
	pga_text(&a, error, false);
	pga_i64(&a, rec->finished_at);
	pga_i64(&a, rec->not_before);
	r = pg_exec(s, PGS_FINISH, &a, "finish job", &rv);
	free(fixed);
	if (r == NULL)
		return rv;
	rv = strcmp(PQcmdTuples(r), "1") == 0
	         ? JOBD_OK
	         : pg_seterr(s, JOBD_NOT_FOUND,
	                     "cannot finish job %" PRIu64
	                     ": it is not running as %s's (its lease was lost)",
	                     rec->id, owner);
	PQclear(r);
	return rv;
}

int
pgstore_progress(pgstore *s, const char *owner, uint64_t id, uint64_t done,
                 uint64_t total, bool *cancel)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	pga_i64(&a, (int64_t) id);
	pga_text(&a, owner, false);
	pga_i64(&a, (int64_t) done);
	pga_i64(&a, (int64_t) total);
	if ((r = pg_exec(s, PGS_PROGRESS, &a, "write progress", &rv)) == NULL)
		return rv;
	if (PQntuples(r) == 1) {
		if (cancel != NULL)
			*cancel = pgv_bool(r, 0, 0);
		rv = JOBD_OK;
	} else
		rv = pg_seterr(s, JOBD_NOT_FOUND,
		               "cannot write the progress of job %" PRIu64
		               ": it is not running as %s's",
		               id, owner);
	PQclear(r);
	return rv;
}

int
pgstore_renew(pgstore *s, const char *owner, uint32_t lease_ms, uint64_t **ids,
              size_t *n)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	*ids = NULL;
	*n = 0;
	pga_text(&a, owner, false);
	pga_i64(&a, lease_ms);
	if ((r = pg_exec(s, PGS_RENEW, &a, "renew leases", &rv)) == NULL)
		return rv;
	rv = pg_ids(s, r, ids, n);
	PQclear(r);
	return rv;
}

/* The rows of a rescue (id, state): counted, and the ended ones' ids. */
static int
pg_rescued(pgstore *s, PGresult *r, uint64_t *requeued, uint64_t *failed,
           uint64_t **ended, size_t *nended,
           void (*fn)(const char *kind, int state, void *arg), void *arg)
{
	int rows = PQntuples(r);

	*requeued = *failed = 0;
	*ended = NULL;
	*nended = 0;
	for (int i = 0; i < rows; i++) {
		if (pgv_i64(r, i, 1) == JOB_QUEUED) {
			(*requeued)++;
			continue;
		}
		(*failed)++;
		if (fn != NULL)
			fn(pgv_text(r, i, 2), (int) pgv_i64(r, i, 1), arg);
		if (*ended == NULL &&
		    (*ended = malloc((size_t) rows * sizeof(**ended))) == NULL)
			/* committed already (or the caller's transaction
			 * is): the waiters learn by the fallback poll */
			return pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
			                 "cannot list rescued jobs: out of "
			                 "memory");
		(*ended)[(*nended)++] = (uint64_t) pgv_i64(r, i, 0);
	}
	return JOBD_OK;
}

int
pgstore_rescue(pgstore *s, uint32_t max_recoveries, uint64_t *requeued,
               uint64_t *failed, uint64_t **ended, size_t *nended,
               void (*fn)(const char *kind, int state, void *arg), void *arg)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	*requeued = *failed = 0;
	*ended = NULL;
	*nended = 0;
	pga_i64(&a, max_recoveries);
	if ((r = pg_exec(s, PGS_RESCUE, &a, "rescue expired leases", &rv)) ==
	    NULL)
		return rv;
	rv = pg_rescued(s, r, requeued, failed, ended, nended, fn, arg);
	PQclear(r);
	return rv;
}

int
pgstore_recover_own(pgstore *s, const char *owner, uint32_t max_recoveries,
                    uint64_t *requeued, uint64_t *failed, uint64_t **ended,
                    size_t *nended,
                    void (*fn)(const char *kind, int state, void *arg),
                    void *arg)
{
	struct pgargs a = {0};
	PGresult *r;
	int rv;

	*requeued = *failed = 0;
	*ended = NULL;
	*nended = 0;
	pga_i64(&a, max_recoveries);
	pga_text(&a, owner, false);
	if ((r = pg_exec(s, PGS_RECOVER_OWN, &a, "recover own jobs", &rv)) ==
	    NULL)
		return rv;
	rv = pg_rescued(s, r, requeued, failed, ended, nended, fn, arg);
	PQclear(r);
	return rv;
}

int
pgstore_doom(pgstore *s, uint64_t **ids, size_t *n,
             void (*fn)(const char *kind, void *arg), void *arg)
{
	uint64_t *all = NULL;
	size_t nall = 0;
	int rv;

	*ids = NULL;
	*n = 0;
	/* a chain a <- b <- c cancels b in the first round, c in the next */
	for (;;) {
		struct pgargs a = {0};
		PGresult *r;
		uint64_t *more;
		size_t nmore;

		if ((r = pg_exec(s, PGS_DOOM, &a, "cancel dependent jobs",
		                 &rv)) == NULL)
			goto fail;
		rv = pg_ids(s, r, &more, &nmore);
		for (size_t i = 0; rv == JOBD_OK && fn != NULL && i < nmore;
		     i++)
			fn(pgv_text(r, (int) i, 1), arg);
		PQclear(r);
		if (rv != JOBD_OK)
			goto fail;
		if (nmore == 0)
			break;
		uint64_t *grown = realloc(all, (nall + nmore) * sizeof(*all));
		if (grown == NULL) {
			free(more);
			rv = pg_seterr(s, JOBD_RESOURCE_EXHAUSTED,
			               "cannot cancel dependent jobs: out of "
			               "memory");
			goto fail;
		}
		all = grown;
		memcpy(all + nall, more, nmore * sizeof(*all));
		nall += nmore;
		free(more);
	}
	*ids = all;
	*n = nall;
	return JOBD_OK;
fail:
	free(all);
	return rv;
}

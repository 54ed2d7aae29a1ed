#ifndef JOBD_SCHEDENV_H
#define JOBD_SCHEDENV_H

/*
 * schedenv: the scheduler as jobd runs it, for unit tests (test_pool,
 * test_sched): a real database on a temporary directory, its writer, the
 * built-in kinds, the queue the pool takes from (jobq_local_wrap) and,
 * with workers, a pool. A step that fails stops the test (REQUIRE).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobq.h"
#include "pool.h"
#include "scheduler.h"
#include "store.h"
#include "test.h"
#include "writer.h"

struct env {
	char dir[64];
	char db[96];
	writer *w;
	sched *s;
	jobq *q; /* s, as the pool sees it */
	pool *p;
	kindset *ks; /* the built-in kinds */
};

/* Clears e and makes a new directory /tmp/<prefix>-XXXXXX for its
 * database, not created yet. */
static inline void
env_dir(struct env *e, const char *prefix)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/%.40s-XXXXXX", prefix);
	REQUIRE(mkdtemp(e->dir) != NULL);
	snprintf(e->db, sizeof(e->db), "%s/jobd.db", e->dir);
}

/* Starts on the database in e->db (made if missing), with cfg->workers
 * workers; *recovered (if not NULL) as sched_load tells. */
static inline void
env_open(struct env *e, const struct sched_config *cfg, uint64_t *recovered)
{
	char err[256];
	store *db;
	uint64_t rec;

	REQUIRE(store_open(&db, e->db, err, sizeof(err)) == JOBD_OK);
	REQUIRE(writer_start(&e->w, e->db, err, sizeof(err)) == JOBD_OK);
	REQUIRE(sched_create(&e->s, e->w, cfg) == JOBD_OK);
	REQUIRE(kindset_load(&e->ks, NULL, err, sizeof(err)) == JOBD_OK);
	sched_set_kinds(e->s, e->ks);
	REQUIRE(sched_load(e->s, db, &rec, err, sizeof(err)) == JOBD_OK);
	store_close(db);
	if (recovered != NULL)
		*recovered = rec;
	REQUIRE(jobq_local_wrap(&e->q, e->s, false) == JOBD_OK);
	if (cfg->workers > 0)
		REQUIRE(pool_start(&e->p, e->q, cfg->workers, err,
		                   sizeof(err)) == JOBD_OK);
}

/* Drains and stops everything, and removes the directory. */
static inline void
env_stop(struct env *e)
{
	char cmd[128];
	sched_drain(e->s, 0);
	pool_stop(e->p);
	e->q->ops->destroy(e->q);
	writer_stop(e->w);
	sched_destroy(e->s);
	kindset_unref(e->ks);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	CHECK(system(cmd) == 0);
}

/* A record of kind with the one parameter pname=pval (its strings
 * allocated: jobrec_clear frees them). */
static inline struct jobrec
env_rec(const char *kind, const char *pname, const char *pval,
        uint32_t max_attempts)
{
	struct jobrec r = {0};
	r.kind = strdup(kind);
	r.params = calloc(1, sizeof(*r.params));
	r.params[0].name = strdup(pname);
	r.params[0].value = strdup(pval);
	r.nparams = 1;
	r.max_attempts = max_attempts;
	return r;
}

#endif

/*
 * Unit tests of the writer's completions (daemon/writer.c): done() runs
 * on the completer thread, never on the thread that submitted the op,
 * which may hold a lock that done() takes: while the writer works, and
 * once writer_stop() has begun (the op is then refused, still on the
 * completer).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "writer.h"

/* The lock a submitter holds, as the scheduler's would be held: an
 * error-checking mutex, so that done() taking it on the submitter's own
 * thread fails (EDEADLK) instead of hanging the test. */
static pthread_mutex_t held;

struct probe {
	struct writer_op op;
	pthread_t by;    /* the thread done() ran on */
	int lock_rv;     /* done()'s pthread_mutex_lock(&held) */
	atomic_int done; /* how many times */
	/* a gate: done() waits until it is opened */
	bool gated;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	bool open;
	atomic_bool entered;
};

static void
probe_done(struct writer_op *op)
{
	struct probe *p = (struct probe *) op;
	p->by = pthread_self();
	if ((p->lock_rv = pthread_mutex_lock(&held)) == 0)
		pthread_mutex_unlock(&held);
	atomic_store(&p->entered, true);
	if (p->gated) {
		pthread_mutex_lock(&p->mtx);
		while (!p->open)
			pthread_cond_wait(&p->cv, &p->mtx);
		pthread_mutex_unlock(&p->mtx);
	}
	atomic_fetch_add(&p->done, 1);
}

static void
probe_init(struct probe *p, bool gated)
{
	memset(p, 0, sizeof(*p));
	p->op.type = WOP_PURGE; /* of nothing: purge_before 0 */
	p->op.done = probe_done;
	p->gated = gated;
	pthread_mutex_init(&p->mtx, NULL);
	pthread_cond_init(&p->cv, NULL);
	atomic_init(&p->done, 0);
	atomic_init(&p->entered, false);
}

static void
probe_open(struct probe *p)
{
	pthread_mutex_lock(&p->mtx);
	p->open = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mtx);
}

/* Waits up to 10 s for cond(). */
#define AWAIT(cond)                                                            \
	do {                                                                   \
		for (int i_ = 0; i_ < 10000 && !(cond); i_++)                  \
			usleep(1000);                                          \
	} while (0)

struct env {
	char dir[64];
	char db[96];
	writer *w;
};

static void
env_start(struct env *e)
{
	char err[256];
	pthread_mutexattr_t ma;

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&held, &ma);
	pthread_mutexattr_destroy(&ma);
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/jobd-test-writer-XXXXXX");
	REQUIRE(mkdtemp(e->dir) != NULL);
	snprintf(e->db, sizeof(e->db), "%s/jobd.db", e->dir);
	REQUIRE(writer_start(&e->w, e->db, err, sizeof(err)) == JOBD_OK);
}

static void
env_clean(struct env *e)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	CHECK(system(cmd) == 0);
	pthread_mutex_destroy(&held);
}

/* Submitted with the lock held, completed on another thread, which took
 * the lock once the submitter let it go. */
static void
test_done_on_completer(void)
{
	struct env e;
	struct probe p;

	env_start(&e);
	probe_init(&p, false);
	pthread_mutex_lock(&held);
	writer_submit(e.w, &p.op);
	pthread_mutex_unlock(&held);
	AWAIT(atomic_load(&p.done) == 1);
	CHECK_EQ_INT(atomic_load(&p.done), 1);
	CHECK(!pthread_equal(p.by, pthread_self()));
	CHECK_EQ_INT(p.lock_rv, 0);
	CHECK_EQ_INT(p.op.status, JOBD_OK);
	writer_stop(e.w);
	env_clean(&e);
}

static void *
stop_main(void *arg)
{
	writer_stop(arg);
	return NULL;
}

/*
 * Once writer_stop() has begun, an op is refused, and its done() still runs
 * on the completer, which writer_stop() joins only after it: not on the
 * submitting thread, which holds the lock done() takes. Here the completer
 * is held up by a gated op, so writer_stop() cannot end before the test
 * has submitted.
 */
static void
test_refused_on_completer(void)
{
	struct env e;
	struct probe gate, late[2];
	struct writer_op *group;
	pthread_t t;

	env_start(&e);
	probe_init(&gate, true);
	writer_submit(e.w, &gate.op);
	AWAIT(atomic_load(&gate.entered));
	REQUIRE(atomic_load(&gate.entered));
	REQUIRE(pthread_create(&t, NULL, stop_main, e.w) == 0);
	AWAIT(writer_stopping(e.w));
	REQUIRE(writer_stopping(e.w));

	probe_init(&late[0], false);
	probe_init(&late[1], false);
	pthread_mutex_lock(&held);
	writer_submit(e.w, &late[0].op);
	group = &late[1].op;
	writer_submit_group(e.w, group);
	/* nothing was completed here, under the lock */
	CHECK_EQ_INT(atomic_load(&late[0].done), 0);
	CHECK_EQ_INT(atomic_load(&late[1].done), 0);
	pthread_mutex_unlock(&held);

	probe_open(&gate);
	pthread_join(t, NULL); /* writer_stop() returned: all were done */
	for (int i = 0; i < 2; i++) {
		CHECK_EQ_INT(atomic_load(&late[i].done), 1);
		CHECK(!pthread_equal(late[i].by, pthread_self()));
		CHECK_EQ_INT(late[i].lock_rv, 0);
		CHECK_EQ_INT(late[i].op.status, JOBD_UNAVAILABLE);
		CHECK_EQ_STR(late[i].op.errmsg, "jobd is shutting down");
	}
	CHECK_EQ_INT(atomic_load(&gate.done), 1);
	env_clean(&e);
}

/*
 * An op nobody waits for is held until one somebody waits for comes, and
 * both share one commit; writer_hurry() ends a hold at once; a hold ends
 * by itself; stopping commits what is held. The hold is set to 60 s where
 * the test must see it hold, so that no timing decides the outcome.
 */
static void
test_held_until_awaited(void)
{
	struct env e;
	struct probe lazy, eager, lone, last;

	env_start(&e);
	writer_set_hold(e.w, 60000);
	uint64_t c0 = writer_commits(e.w);
	probe_init(&lazy, false);
	probe_init(&eager, false);
	eager.op.awaited = true;
	writer_submit(e.w, &lazy.op);
	usleep(50 * 1000);
	CHECK_EQ_INT(atomic_load(&lazy.done), 0); /* held */
	CHECK(writer_commits(e.w) == c0);
	writer_submit(e.w, &eager.op);
	AWAIT(atomic_load(&lazy.done) == 1 && atomic_load(&eager.done) == 1);
	CHECK_EQ_INT(atomic_load(&lazy.done), 1);
	CHECK_EQ_INT(atomic_load(&eager.done), 1);
	CHECK(writer_commits(e.w) == c0 + 1); /* one commit for both */

	/* somebody comes to wait for a held op */
	probe_init(&lone, false);
	writer_submit(e.w, &lone.op);
	usleep(20 * 1000);
	CHECK_EQ_INT(atomic_load(&lone.done), 0);
	writer_hurry(e.w);
	AWAIT(atomic_load(&lone.done) == 1);
	CHECK_EQ_INT(atomic_load(&lone.done), 1);
	CHECK(writer_commits(e.w) == c0 + 2);

	/* a hold ends by itself */
	writer_set_hold(e.w, 20);
	probe_init(&lone, false);
	writer_submit(e.w, &lone.op);
	AWAIT(atomic_load(&lone.done) == 1);
	CHECK_EQ_INT(atomic_load(&lone.done), 1);

	/* stopping commits what is held */
	writer_set_hold(e.w, 60000);
	probe_init(&last, false);
	writer_submit(e.w, &last.op);
	writer_stop(e.w);
	CHECK_EQ_INT(atomic_load(&last.done), 1);
	CHECK_EQ_INT(last.op.status, JOBD_OK);
	env_clean(&e);
}

TEST_MAIN({"done_on_completer", test_done_on_completer},
          {"held_until_awaited", test_held_until_awaited},
          {"refused_on_completer", test_refused_on_completer})

/*
 * The client library's asynchronous calls (jobd_call_async and its typed
 * wrappers) against the real jobd on an ipc:// address: many calls in
 * flight on one client, from several threads at once, with the
 * synchronous calls beside them; deadlines; a close with calls in flight;
 * a request refused before it is sent; a daemon that went away.
 *
 * Every call is a `struct call` that its done fills in, under the test's
 * lock. Each done checks that it runs neither on the thread that started
 * its call (unless a done started it, on one of nng's threads) nor inside
 * jobd_call_async() (a thread-local flag set around every start), and
 * that it runs once. Every wait is bounded (a condition
 * variable with a time limit), so a lost completion fails the test rather
 * than hanging it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "harness.h"
#include "test.h"

static const char *const args[] = {"--workers", "2", NULL};

/* The calls of one test (or one thread of it) and what their dones saw. */
struct tracker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	jobd_client *c;
	int started;
	int ended;
	int wrong_thread; /* dones on their caller's thread or inside a start */
	int twice;        /* dones called again for the same call */
	int again;        /* calls a done started (close test), */
	int again_ok;     /* ... and those that were accepted */
	bool start_again; /* dones try to start another call */
};

struct call {
	struct tracker *t;
	pthread_t caller;
	bool from_done; /* started by a done, on a thread of nng's */
	int ndone;
	int status;
	char msg[512];
	uint64_t id;                            /* Submit, Wait: the job's id */
	int state;                              /* Wait: the job's state */
	size_t nmissing;                        /* Get: ids it did not know */
	char payload[32];                       /* Ping: the payload echoed */
	const ProtobufCMessageDescriptor *desc; /* of the reply */
};

/* Set while this thread is inside a start: a done that sees it ran inside
 * jobd_call_async(). */
static _Thread_local bool in_start;

static void
tracker_init(struct tracker *t, jobd_client *c)
{
	pthread_condattr_t ca;

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	t->c = c;
}

static void
tracker_fini(struct tracker *t)
{
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
}

/* How long a bounded wait waits: long enough for a loaded machine under a
 * sanitizer or valgrind, short enough that a lost completion fails. */
static int
bound_s(void)
{
	return jd_wrapped() ? 300 : 60;
}

/* Waits until at most `inflight` calls of t are still to end; false if
 * that did not happen within bound_s(). */
static bool
tracker_wait(struct tracker *t, int inflight)
{
	struct timespec until;
	bool ok = true;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += bound_s();
	pthread_mutex_lock(&t->mu);
	while (ok && t->started - t->ended > inflight)
		ok = pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0 ||
		     t->started - t->ended <= inflight;
	pthread_mutex_unlock(&t->mu);
	return ok;
}

static void done_fn(void *arg, int status, ProtobufCMessage *reply,
                    const char *errmsg);

/* Before a start of k: counts it in t and marks this thread inside it. */
static void
start_pre(struct tracker *t, struct call *k)
{
	k->t = t;
	k->caller = pthread_self();
	pthread_mutex_lock(&t->mu);
	t->started++;
	pthread_mutex_unlock(&t->mu);
	in_start = true;
}

/* After a start that returned rv: uncounts it if it was refused. */
static int
start_post(struct tracker *t, int rv)
{
	in_start = false;
	if (rv != JOBD_OK) {
		pthread_mutex_lock(&t->mu);
		t->started--;
		pthread_mutex_unlock(&t->mu);
	}
	return rv;
}

/* The status of a start (jobd_submit_async, ...) of k, counted in t when it
 * was accepted. */
#define START(t, k, expr) (start_pre((t), (k)), start_post((t), (expr)))

/* A done that starts another call (close test): a Ping of its own. */
static void
start_again(struct tracker *t)
{
	static struct call spare[64];
	static atomic_int nspare;
	int i = atomic_fetch_add(&nspare, 1);
	int rv;

	if (i >= 64)
		return;
	spare[i].from_done = true;
	rv = START(t, &spare[i], jobd_ping_async(t->c, done_fn, &spare[i]));
	pthread_mutex_lock(&t->mu);
	t->again++;
	if (rv == JOBD_OK)
		t->again_ok++;
	pthread_mutex_unlock(&t->mu);
}

static void
done_fn(void *arg, int status, ProtobufCMessage *reply, const char *errmsg)
{
	struct call *k = arg;
	struct tracker *t = k->t;
	bool again;

	pthread_mutex_lock(&t->mu);
	/* a call started by a done may end on that thread, later */
	if (in_start ||
	    (!k->from_done && pthread_equal(k->caller, pthread_self())))
		t->wrong_thread++;
	if (k->ndone++ > 0)
		t->twice++;
	k->status = status;
	snprintf(k->msg, sizeof(k->msg), "%s", errmsg != NULL ? errmsg : "");
	k->desc = reply != NULL ? reply->descriptor : NULL;
	if (reply != NULL &&
	    reply->descriptor == &jobd__v1__submit_reply__descriptor) {
		Jobd__V1__SubmitReply *r = (Jobd__V1__SubmitReply *) reply;
		k->id = r->job != NULL ? r->job->id : 0;
	} else if (reply != NULL &&
	           reply->descriptor == &jobd__v1__wait_reply__descriptor) {
		Jobd__V1__WaitReply *r = (Jobd__V1__WaitReply *) reply;
		k->id = r->job != NULL ? r->job->id : 0;
		k->state = r->job != NULL ? (int) r->job->state : 0;
	} else if (reply != NULL &&
	           reply->descriptor == &jobd__v1__get_reply__descriptor) {
		k->nmissing = ((Jobd__V1__GetReply *) reply)->n_missing;
	} else if (reply != NULL &&
	           reply->descriptor == &jobd__v1__ping_reply__descriptor) {
		Jobd__V1__PingReply *r = (Jobd__V1__PingReply *) reply;
		size_t n = r->payload.len < sizeof(k->payload) - 1
		               ? r->payload.len
		               : sizeof(k->payload) - 1;
		if (n > 0)
			memcpy(k->payload, r->payload.data, n);
		k->payload[n] = '\0';
	}
	again = t->start_again;
	pthread_mutex_unlock(&t->mu);
	if (reply != NULL)
		protobuf_c_message_free_unpacked(reply, NULL);
	if (again)
		start_again(t);

	pthread_mutex_lock(&t->mu);
	t->ended++;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

static void
check_threads(struct tracker *t)
{
	CHECK_EQ_INT(t->wrong_thread, 0);
	CHECK_EQ_INT(t->twice, 0);
}

/* A Submit of `kind` with one parameter "key=value". */
static void
submit_req(Jobd__V1__SubmitRequest *req,
           Jobd__V1__SubmitRequest__ParamsEntry *ent,
           Jobd__V1__SubmitRequest__ParamsEntry **ptr, const char *kind,
           const char *key, const char *value)
{
	jobd__v1__submit_request__init(req);
	jobd__v1__submit_request__params_entry__init(ent);
	ent->key = (char *) key;
	ent->value = (char *) value;
	*ptr = ent;
	req->kind = (char *) kind;
	req->n_params = 1;
	req->params = ptr;
}

/* A job that runs for a minute (cancelled at the end of the test). */
static uint64_t
long_job(jobd_client *c)
{
	Jobd__V1__SubmitRequest req;
	Jobd__V1__SubmitRequest__ParamsEntry ent, *ptr;
	Jobd__V1__SubmitReply *rep;
	uint64_t id = 0;

	submit_req(&req, &ent, &ptr, "sleep", "ms", "60000");
	if (jobd_submit(c, &req, &rep) != JOBD_OK) {
		fprintf(stderr, "submit: %s\n", jobd_client_errmsg());
		return 0;
	}
	if (rep->job != NULL)
		id = rep->job->id;
	jobd__v1__submit_reply__free_unpacked(rep, NULL);
	return id;
}

static void
cancel_job(jobd_client *c, uint64_t id)
{
	Jobd__V1__CancelReply *rep;

	if (jobd_cancel(c, id, &rep) == JOBD_OK)
		jobd__v1__cancel_reply__free_unpacked(rep, NULL);
}

/* (1) 400 Submits with up to 64 in flight on one client: each OK with an
 * id of its own; then a Wait for each, all 400 in flight at once (jobd
 * answers each at once, its job having ended): SUCCEEDED, every one. */
static void
test_submits_then_waits(void)
{
	enum { N = 400, WINDOW = 64 };
	static struct call subs[N], waits[N];
	struct tracker t;
	struct jd d;
	Jobd__V1__SubmitRequest req;
	Jobd__V1__SubmitRequest__ParamsEntry ent, *ptr;

	memset(subs, 0, sizeof(subs));
	memset(waits, 0, sizeof(waits));
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	tracker_init(&t, c);
	submit_req(&req, &ent, &ptr, "count", "n", "1");
	for (int i = 0; i < N; i++) {
		REQUIRE(tracker_wait(&t, WINDOW - 1));
		int rv = START(&t, &subs[i],
		               jobd_submit_async(c, &req, done_fn, &subs[i]));
		if (rv != JOBD_OK)
			fprintf(stderr, "submit %d: %s\n", i,
			        jobd_client_errmsg());
		REQUIRE(rv == JOBD_OK);
	}
	REQUIRE(tracker_wait(&t, 0));
	for (int i = 0; i < N; i++) {
		CHECK_EQ_INT(subs[i].ndone, 1);
		CHECK_EQ_INT(subs[i].status, JOBD_OK);
		CHECK_EQ_STR(subs[i].msg, "");
		CHECK(subs[i].desc == &jobd__v1__submit_reply__descriptor);
		CHECK(subs[i].id != 0);
		for (int j = 0; j < i; j++)
			if (subs[j].id == subs[i].id)
				TEST_FAIL_("submits %d and %d: both id %llu", j,
				           i, (unsigned long long) subs[i].id);
	}

	/* jobd answers at once a Wait for a job that ended: a burst of
	 * answers queued behind one another on one connection, which a
	 * client that reads them all must get (conn_unsent_replies is 1024,
	 * conn_unsent_bytes 4 MiB) */
	for (int i = 0; i < N; i++) {
		REQUIRE(START(&t, &waits[i],
		              jobd_wait_async(c, subs[i].id, 30000, done_fn,
		                              &waits[i])) == JOBD_OK);
	}
	REQUIRE(tracker_wait(&t, 0));
	for (int i = 0; i < N; i++) {
		CHECK_EQ_INT(waits[i].ndone, 1);
		CHECK_EQ_INT(waits[i].status, JOBD_OK);
		CHECK(waits[i].id == subs[i].id);
		CHECK_EQ_INT(waits[i].state,
		             JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
	}
	check_threads(&t);
	jd_down(&d, c);
	tracker_fini(&t);
}

/* (2) Four threads on one client, each with up to 12 Pings (with a payload
 * of its own, through jobd_call_async) and Gets in flight, and a
 * synchronous Ping now and then. */
/* 4 x 12 calls in flight, and a synchronous one */
enum { MIX_THREADS = 4, MIX_CALLS = 300, MIX_WINDOW = 12 };

struct mixer {
	jobd_client *c;
	int no;
	struct tracker t;
	struct call calls[MIX_CALLS];
	int sync_failed;
	int start_failed;
};

static void *
mixer_main(void *arg)
{
	struct mixer *m = arg;
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	char payload[32];
	uint64_t ids[2] = {1, 999999};
	int rv;

	for (int i = 0; i < MIX_CALLS; i++) {
		struct call *k = &m->calls[i];
		if (!tracker_wait(&m->t, MIX_WINDOW - 1))
			break;
		if (i % 2 == 0) {
			snprintf(payload, sizeof(payload), "t%d-%d", m->no, i);
			ping.payload.data = (uint8_t *) payload;
			ping.payload.len = strlen(payload);
			rv = START(
			    &m->t, k,
			    jobd_call_async(m->c, "Ping", &ping.base,
			                    &jobd__v1__ping_reply__descriptor,
			                    0, done_fn, k));
			/* the request need not outlive its start */
			memset(payload, '?', sizeof(payload));
		} else {
			rv = START(&m->t, k,
			           jobd_get_async(m->c, ids, 2, done_fn, k));
		}
		if (rv != JOBD_OK)
			m->start_failed++;
		if (i % 50 == 0) {
			Jobd__V1__PingReply *pong;
			if (jobd_ping(m->c, &pong) == JOBD_OK)
				jobd__v1__ping_reply__free_unpacked(pong, NULL);
			else
				m->sync_failed++;
		}
	}
	(void) tracker_wait(&m->t, 0);
	return NULL;
}

static void
test_threads_mix(void)
{
	static struct mixer mix[MIX_THREADS];
	pthread_t th[MIX_THREADS];
	struct jd d;
	char want[32];

	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	for (int i = 0; i < MIX_THREADS; i++) {
		memset(&mix[i], 0, sizeof(mix[i]));
		mix[i].c = c;
		mix[i].no = i;
		tracker_init(&mix[i].t, c);
	}
	for (int i = 0; i < MIX_THREADS; i++)
		REQUIRE(pthread_create(&th[i], NULL, mixer_main, &mix[i]) == 0);
	for (int i = 0; i < MIX_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < MIX_THREADS; i++) {
		struct mixer *m = &mix[i];
		CHECK_EQ_INT(m->start_failed, 0);
		CHECK_EQ_INT(m->sync_failed, 0);
		CHECK_EQ_INT(m->t.started, MIX_CALLS);
		CHECK_EQ_INT(m->t.ended, MIX_CALLS);
		check_threads(&m->t);
		for (int j = 0; j < MIX_CALLS; j++) {
			struct call *k = &m->calls[j];
			CHECK_EQ_INT(k->ndone, 1);
			CHECK_EQ_INT(k->status, JOBD_OK);
			if (j % 2 == 0) {
				snprintf(want, sizeof(want), "t%d-%d", i, j);
				CHECK(k->desc ==
				      &jobd__v1__ping_reply__descriptor);
				CHECK_EQ_STR(k->payload, want);
			} else {
				CHECK(k->desc ==
				      &jobd__v1__get_reply__descriptor);
				CHECK_EQ_INT(k->nmissing, 2);
			}
		}
		tracker_fini(&m->t);
	}
	jd_down(&d, c);
}

/* (3) A Wait whose deadline passes before its job ends: the daemon's
 * DEADLINE_EXCEEDED, with its message. */
static void
test_wait_deadline(void)
{
	struct call k;
	struct tracker t;
	struct jd d;

	memset(&k, 0, sizeof(k));
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	tracker_init(&t, c);
	uint64_t id = long_job(c);
	REQUIRE(id != 0);
	REQUIRE(START(&t, &k, jobd_wait_async(c, id, 300, done_fn, &k)) ==
	        JOBD_OK);
	REQUIRE(tracker_wait(&t, 0));
	CHECK_EQ_INT(k.ndone, 1);
	CHECK_EQ_INT(k.status, JOBD_DEADLINE_EXCEEDED);
	CHECK(k.msg[0] != '\0');
	CHECK(k.desc == NULL);
	CHECK_EQ_INT(state_of(c, id), JOBD__V1__JOB_STATE__JOB_STATE_RUNNING);
	check_threads(&t);
	cancel_job(c, id);
	jd_down(&d, c);
	tracker_fini(&t);
}

/* (4) Close with calls in flight: long Waits, parked in the daemon or not
 * yet sent, and Pings whose dones start more Pings, so that replies are
 * arriving as the client closes. Every done is called before close
 * returns: JOBD_CANCELLED for the Waits, the reply or JOBD_CANCELLED for
 * the Pings; a done that starts another call during the close is
 * refused. */
static void
test_close_in_flight(void)
{
	enum { WAITS = 40, PINGS = 10 };
	static struct call calls[WAITS + PINGS];
	struct tracker t;
	struct jd d;

	memset(calls, 0, sizeof(calls));
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	uint64_t id = long_job(c);
	REQUIRE(id != 0);
	jobd_client *ac = jd_connect(&d);
	REQUIRE(ac != NULL);
	tracker_init(&t, ac);
	for (int i = 0; i < WAITS / 2; i++)
		REQUIRE(START(&t, &calls[i],
		              jobd_wait_async(ac, id, 60000, done_fn,
		                              &calls[i])) == JOBD_OK);
	/* these are parked in the daemon by now; the rest may not be sent */
	usleep(200000);
	for (int i = WAITS / 2; i < WAITS; i++)
		REQUIRE(START(&t, &calls[i],
		              jobd_wait_async(ac, id, 60000, done_fn,
		                              &calls[i])) == JOBD_OK);
	pthread_mutex_lock(&t.mu);
	t.start_again = true;
	pthread_mutex_unlock(&t.mu);
	for (int i = WAITS; i < WAITS + PINGS; i++)
		REQUIRE(START(&t, &calls[i],
		              jobd_ping_async(ac, done_fn, &calls[i])) ==
		        JOBD_OK);

	int64_t t0 = h_now_ms();
	jobd_client_close(ac);
	int64_t took = h_now_ms() - t0;
	/* nothing is left to call a done now: read without waiting */
	pthread_mutex_lock(&t.mu);
	CHECK_EQ_INT(t.started, t.ended);
	for (int i = 0; i < WAITS; i++) {
		CHECK_EQ_INT(calls[i].ndone, 1);
		CHECK_EQ_INT(calls[i].status, JOBD_CANCELLED);
		CHECK_EQ_STR(calls[i].msg, "the client was closed");
	}
	/* a Ping may have been answered before the close */
	for (int i = WAITS; i < WAITS + PINGS; i++) {
		CHECK_EQ_INT(calls[i].ndone, 1);
		CHECK(calls[i].status == JOBD_OK ||
		      calls[i].status == JOBD_CANCELLED);
	}
	/* the dones' own calls: each either refused or, if it started
	 * before the close, ended before close returned */
	CHECK(t.again > 0);
	printf("close: %d calls in flight, %d started by dones (%d accepted "
	       "before the close), closed in %lld ms\n",
	       WAITS + PINGS, t.again, t.again_ok, (long long) took);
	pthread_mutex_unlock(&t.mu);
	CHECK(took < bound_s() * 1000);
	check_threads(&t);

	/* the daemon is well and the job still runs */
	CHECK_EQ_INT(state_of(c, id), JOBD__V1__JOB_STATE__JOB_STATE_RUNNING);
	cancel_job(c, id);
	jd_down(&d, c);
	tracker_fini(&t);
}

/* (5) done never runs on the thread that started the call, nor inside a
 * start: 100 Pings, 32 in flight, from this thread (every done of every
 * test checks it too). */
static void
test_done_thread(void)
{
	enum { N = 100 };
	static struct call calls[N];
	struct tracker t;
	struct jd d;

	memset(calls, 0, sizeof(calls));
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	tracker_init(&t, c);
	for (int i = 0; i < N; i++) {
		REQUIRE(tracker_wait(&t, 31));
		REQUIRE(START(&t, &calls[i],
		              jobd_ping_async(c, done_fn, &calls[i])) ==
		        JOBD_OK);
	}
	REQUIRE(tracker_wait(&t, 0));
	for (int i = 0; i < N; i++) {
		CHECK_EQ_INT(calls[i].ndone, 1);
		CHECK_EQ_INT(calls[i].status, JOBD_OK);
	}
	CHECK_EQ_INT(t.wrong_thread, 0);
	CHECK_EQ_INT(t.twice, 0);
	jd_down(&d, c);
	tracker_fini(&t);
}

/* (6) A call that cannot start returns its error, with a message, and its
 * done is never called: a request above jobd's limit, missing arguments. */
static void
test_refused_start(void)
{
	struct call k;
	struct tracker t;
	struct jd d;
	Jobd__V1__SubmitRequest req;
	Jobd__V1__SubmitRequest__ParamsEntry ent, *ptr;
	size_t big = 3u << 20;
	uint8_t *input = malloc(big);

	REQUIRE(input != NULL);
	memset(input, 'x', big);
	memset(&k, 0, sizeof(k));
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	tracker_init(&t, c);

	submit_req(&req, &ent, &ptr, "count", "n", "1");
	req.input.data = input;
	req.input.len = big;
	CHECK_EQ_INT(START(&t, &k, jobd_submit_async(c, &req, done_fn, &k)),
	             JOBD_RESOURCE_EXHAUSTED);
	CHECK(strstr(jobd_client_errmsg(), "larger than jobd's limit") != NULL);
	CHECK(strstr(jobd_client_errmsg(), "not sent") != NULL);
	CHECK_EQ_INT(START(&t, &k, jobd_submit_async(c, NULL, done_fn, &k)),
	             JOBD_INVALID_ARGUMENT);
	CHECK_EQ_INT(START(&t, &k, jobd_ping_async(c, NULL, &k)),
	             JOBD_INVALID_ARGUMENT);
	CHECK_EQ_INT(START(&t, &k, jobd_get_async(c, NULL, 2, done_fn, &k)),
	             JOBD_INVALID_ARGUMENT);
	CHECK_EQ_INT(START(&t, &k, jobd_ping_async(NULL, done_fn, &k)),
	             JOBD_INVALID_ARGUMENT);
	CHECK_EQ_INT(START(&t, &k,
	                   jobd_call_async(c, "", &req.base,
	                                   &jobd__v1__submit_reply__descriptor,
	                                   0, done_fn, &k)),
	             JOBD_INVALID_ARGUMENT);
	/* the client is still good for calls that fit */
	req.input.data = NULL;
	req.input.len = 0;
	REQUIRE(START(&t, &k, jobd_submit_async(c, &req, done_fn, &k)) ==
	        JOBD_OK);
	REQUIRE(tracker_wait(&t, 0));
	CHECK_EQ_INT(k.status, JOBD_OK);
	/* close waits for every done: only the one accepted call ran one */
	jobd_client_close(c);
	CHECK_EQ_INT(k.ndone, 1);
	CHECK_EQ_INT(t.started, 1);
	CHECK_EQ_INT(t.ended, 1);
	check_threads(&t);
	jd_fini(&d);
	tracker_fini(&t);
	free(input);
}

/* (7) Calls to an address whose jobd was stopped end with UNAVAILABLE or
 * DEADLINE_EXCEEDED, naming the address, within their deadline. */
static void
test_daemon_gone(void)
{
	enum { N = 8 };
	struct call calls[N];
	struct tracker t;
	struct jd d;
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;

	memset(calls, 0, sizeof(calls));
	jobd_client *c = jd_up(&d, args);
	REQUIRE(c != NULL);
	tracker_init(&t, c);
	jobd_client_set_timeout(c, 300);
	int st = jd_stop(&d);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (int i = 0; i < N; i++) {
		int rv = i % 2 == 0
		             ? START(&t, &calls[i],
		                     jobd_ping_async(c, done_fn, &calls[i]))
		             : START(&t, &calls[i],
		                     jobd_call_async(
		                         c, "Ping", &ping.base,
		                         &jobd__v1__ping_reply__descriptor, 200,
		                         done_fn, &calls[i]));
		REQUIRE(rv == JOBD_OK);
	}
	REQUIRE(tracker_wait(&t, 0));
	for (int i = 0; i < N; i++) {
		CHECK_EQ_INT(calls[i].ndone, 1);
		CHECK(calls[i].status == JOBD_UNAVAILABLE ||
		      calls[i].status == JOBD_DEADLINE_EXCEEDED);
		CHECK(strstr(calls[i].msg, d.url) != NULL);
	}
	check_threads(&t);
	jd_down(&d, c);
	tracker_fini(&t);
}

TEST_MAIN({"submits_then_waits", test_submits_then_waits},
          {"threads_mix", test_threads_mix},
          {"wait_deadline", test_wait_deadline},
          {"close_in_flight", test_close_in_flight},
          {"done_thread", test_done_thread},
          {"refused_start", test_refused_start},
          {"daemon_gone", test_daemon_gone})

/*
 * Hostile clients against the real jobd (issue 11, "One client must not be
 * able to stop jobd for the others"): each attack is one test, against a
 * daemon of its own listening on ipc:// and on a loopback tcp:// port, made
 * with a raw SP client of our own (tests/spraw.h) that does what no nng
 * client would.
 *
 * While each attack runs, a well-behaved client (the client library, on
 * the ipc:// address) does the seed's experiment: a Get and a Ping in a
 * loop, each timed. Each attack prints one line
 *
 *     hostile: <attack>: get p50 X ms p99 Y ms, n=N
 *
 * and asserts only bounds that a loaded machine under a sanitizer or
 * valgrind keeps (every call answered, none slower than 1 s, p99 under
 * 250 ms; each multiplied by slow(), below): a client frozen by another is
 * frozen for seconds, which these bounds catch.
 *
 * Counts are the smallest that make each attack meaningful against the
 * documented limits (below, mirrored from the daemon's table of limits; a
 * change there must change this file), scaled down under valgrind where
 * the attack does not depend on exceeding a limit. Nothing here runs longer
 * than a few seconds except the handshake bound, which waits for nng's
 * negotiation timeout (10 s).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "harness.h"
#include "spraw.h"
#include "test.h"

/*
 * The limits the attacks are sized by, as the daemon's table of limits
 * (daemon/limit.h) and docs/protocol.md give them.
 */
#define MAX_REQUEST  (2u << 20) /* bytes of one request */
#define CONN_PARKED  1024       /* calls one connection may park */
#define PARKED_WAITS 32768      /* Waits parked, all connections */
#define REPLY_MS     10000      /* a reply waits this long to be taken */
#define PING_PAYLOAD 65536      /* bytes of a Ping's payload */
#define HANDSHAKE_MS 10000      /* to send the SP header (nng, ipc gate) */

#define MAX_CONNECTIONS 8 /* the cap connection_cap sets */

/* Sanitizers slow the daemon and this program down. */
#if defined(__SANITIZE_THREAD__)
#define SAN_SLOW 4
#elif defined(__SANITIZE_ADDRESS__)
#define SAN_SLOW 2
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SAN_SLOW 4
#elif __has_feature(address_sanitizer)
#define SAN_SLOW 2
#endif
#endif
#ifndef SAN_SLOW
#define SAN_SLOW 1
#endif

/* How much slower than a plain build this run is (valgrind runs this
 * program and jobd under $JOBD_WRAPPER): bounds are multiplied by it. */
static int
slow(void)
{
	return jd_wrapped() ? 10 : SAN_SLOW;
}

/* n, or less under valgrind (at least 1). */
static size_t
scaled(size_t n)
{
	if (jd_wrapped())
		n /= 8;
	return n > 0 ? n : 1;
}

static int64_t
now_ms(void)
{
	return h_now_ms();
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- the daemon under attack ----------------------------------------- */

struct target {
	struct jd d;
	char tcp[64];   /* tcp://127.0.0.1:PORT, served besides d.url */
	jobd_client *c; /* a well-behaved client, on d.url */
};

static struct sampler *live_sampler;
static struct target *live_target;
static void sampler_abandon(struct sampler *s);

/*
 * What an attack stopped by a REQUIRE (a longjmp out of it) left running:
 * its experiment's thread and its daemon. Both live on the heap, so that
 * the next attack (target_up() calls this first) or the exit can end
 * them; an attack's own raw connections are only closed at exit.
 */
static void
leftovers(void)
{
	if (live_sampler != NULL)
		sampler_abandon(live_sampler);
	if (live_target != NULL) {
		jobd_client_close(live_target->c);
		jd_fini(&live_target->d);
		free(live_target);
		live_target = NULL;
	}
}

static void
at_exit(void)
{
	leftovers();
	nng_fini(); /* nng's threads, for leak checkers; again is harmless */
}

/* Once a daemon runs: at exit, leftovers() before nng_fini() (atexit
 * handlers run last first, and jd_start() registers nng_fini). */
static void
hook_exit(void)
{
	static bool hooked;
	if (!hooked)
		hooked = atexit(at_exit) == 0;
}

/* A new target without a daemon yet: its directory and a free port. */
static struct target *
target_new(void)
{
	struct target *t;
	int port = jd_free_port();

	leftovers();
	if (port == 0 || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if (jd_init_in(&t->d, "jobd-hostile") != 0) {
		free(t);
		return NULL;
	}
	snprintf(t->tcp, sizeof(t->tcp), "tcp://127.0.0.1:%d", port);
	live_target = t;
	return t;
}

/* Stops the target's daemon (it must exit 0 with a clean log). */
static void
target_down(struct target *t)
{
	jobd_client_close(t->c);
	jd_fini(&t->d);
	free(t);
	if (live_target == t)
		live_target = NULL;
}

/* Starts jobd with `extra` (NULL-terminated) on ipc:// and a free tcp://
 * port (another port if that one was taken meanwhile), requiring `token`
 * if not NULL, with a client of it (t->c, sending the token); NULL on
 * failure. */
static struct target *
target_start(const char *const *extra, const char *token)
{
	const char *argv[32];
	struct target *t;
	size_t n;

	for (int attempt = 0; attempt < 3; attempt++) {
		if ((t = target_new()) == NULL)
			return NULL;
		n = 0;
		argv[n++] = "--listen";
		argv[n++] = t->tcp;
		for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 30;
		     i++)
			argv[n++] = extra[i];
		argv[n] = NULL;
		if ((token == NULL || jd_set_token(&t->d, token) == 0) &&
		    jd_start(&t->d, argv) == 0) {
			hook_exit();
			if ((t->c = jd_connect(&t->d)) == NULL)
				return NULL;
			jobd_client_set_timeout(t->c, 3000 * slow());
			return t;
		}
		/* another program may have taken the port meanwhile */
		bool taken =
		    jd_count_lines(t->d.log, "cannot listen on 'tcp") > 0;
		jd_dump_log(&t->d);
		target_down(t);
		if (!taken)
			break;
	}
	return NULL;
}

static struct target *
target_up(const char *const *extra)
{
	return target_start(extra, NULL);
}

/* Submits `kind` with one parameter; the job's id, 0 on failure. */
static uint64_t
submit1(jobd_client *c, const char *kind, const char *name, const char *value)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry e =
	    JOBD__V1__SUBMIT_REQUEST__PARAMS_ENTRY__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry *ep = &e;
	Jobd__V1__SubmitReply *rep = NULL;
	uint64_t id = 0;

	e.key = (char *) name;
	e.value = (char *) value;
	req.kind = (char *) kind;
	req.n_params = 1;
	req.params = &ep;
	if (jobd_submit(c, &req, &rep) == JOBD_OK && rep->job != NULL)
		id = rep->job->id;
	else
		fprintf(stderr, "submit %s: %s\n", kind, jobd_client_errmsg());
	if (rep != NULL)
		jobd__v1__submit_reply__free_unpacked(rep, NULL);
	return id;
}

/* A sleep job of ten minutes: something to wait on. */
static uint64_t
submit_long(jobd_client *c)
{
	return submit1(c, "sleep", "ms", "600000");
}

struct counters {
	bool ok;
	uint32_t connections;
	uint64_t parked_calls;
	uint64_t dropped_replies;
	uint64_t refused_calls;
};

/* The daemon's counters from Stats (ok false if it did not answer). */
static struct counters
counters(jobd_client *c)
{
	struct counters k = {0};
	Jobd__V1__StatsReply *st = NULL;

	if (jobd_stats(c, &st) != JOBD_OK) {
		fprintf(stderr, "stats: %s\n", jobd_client_errmsg());
		return k;
	}
	k.ok = true;
	k.connections = st->connections;
	k.parked_calls = st->parked_calls;
	k.dropped_replies = st->dropped_replies;
	k.refused_calls = st->refused_calls;
	jobd__v1__stats_reply__free_unpacked(st, NULL);
	return k;
}

/* A Ping from a fresh raw connection to url, answered OK. */
static bool
fresh_ping(const char *url)
{
	struct spraw s;
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	Jobd__V1__Response *r;
	bool ok;

	if (spraw_open(&s, url, 3000 * slow()) != 0) {
		fprintf(stderr, "fresh client of %s: %s\n", url,
		        errno == EAGAIN ? "no handshake within the timeout"
		                        : strerror(errno));
		return false;
	}
	r = spraw_roundtrip(&s, "Ping", &ping.base, 0);
	ok = r != NULL && r->code == JOBD__V1__CODE__OK;
	if (r == NULL)
		fprintf(stderr, "fresh client of %s: no reply to Ping\n", url);
	else
		jobd__v1__response__free_unpacked(r, NULL);
	spraw_close(&s);
	return ok;
}

/* ---- the well-behaved client: the seed's experiment ------------------ */

#define SAMPLES_MAX 100000
#define SAMPLES_MIN 20

struct sampler {
	const char *name; /* the attack's, for its line */
	jobd_client *c;
	uint64_t job; /* what Get asks for */
	pthread_t thread;
	atomic_bool stop;
	bool thread_done; /* joined */
	double *get_ms, *ping_ms;
	size_t n_get, n_ping;
	size_t failed; /* calls not answered OK */
	char why[256]; /* the first failure */
};

static void
sample_failed(struct sampler *s, const char *call, int rv)
{
	if (s->failed++ == 0)
		snprintf(s->why, sizeof(s->why), "%s: %s (%s)", call,
		         jobd_status_name(rv), jobd_client_errmsg());
}

static void *
sampler_main(void *arg)
{
	struct sampler *s = arg;
	Jobd__V1__GetReply *g;
	Jobd__V1__PingReply *p;
	double t0;
	int rv;

	int64_t stopped = 0;

	/* after the stop, on until there are a few samples, within 2 s */
	while (s->n_get < SAMPLES_MAX) {
		if (stopped == 0 && atomic_load(&s->stop))
			stopped = now_ms();
		if (stopped != 0 && (s->n_get >= SAMPLES_MIN ||
		                     now_ms() - stopped > 2000 * slow()))
			break;
		t0 = h_now_us();
		rv = jobd_get(s->c, &s->job, 1, &g);
		s->get_ms[s->n_get++] = (h_now_us() - t0) / 1000;
		if (rv == JOBD_OK)
			jobd__v1__get_reply__free_unpacked(g, NULL);
		else
			sample_failed(s, "Get", rv);
		t0 = h_now_us();
		rv = jobd_ping(s->c, &p);
		s->ping_ms[s->n_ping++] = (h_now_us() - t0) / 1000;
		if (rv == JOBD_OK)
			jobd__v1__ping_reply__free_unpacked(p, NULL);
		else
			sample_failed(s, "Ping", rv);
		sleep_ms(2);
	}
	return NULL;
}

/* Starts the experiment against t, Get asking for `job`; NULL on
 * failure. */
static struct sampler *
sampler_start(const char *name, struct target *t, uint64_t job)
{
	struct sampler *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->name = name;
	s->job = job;
	atomic_init(&s->stop, false);
	s->get_ms = calloc(SAMPLES_MAX, sizeof(double));
	s->ping_ms = calloc(SAMPLES_MAX, sizeof(double));
	if (s->get_ms == NULL || s->ping_ms == NULL ||
	    (s->c = jd_connect(&t->d)) == NULL)
		goto fail;
	/* a call frozen for longer than this counts as not answered */
	jobd_client_set_timeout(s->c, 3000 * slow());
	if (pthread_create(&s->thread, NULL, sampler_main, s) != 0)
		goto fail;
	live_sampler = s;
	return s;
fail:
	jobd_client_close(s->c);
	free(s->get_ms);
	free(s->ping_ms);
	free(s);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;
	return (x > y) - (x < y);
}

/* The q-quantile of v[0..n) (sorts v); 0 for none. */
static double
quantile(double *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(size_t) (q * (double) (n - 1) + 0.5)];
}

/* Checks the latencies of one kind of call against the bounds. */
static void
check_latency(const char *name, const char *call, double *v, size_t n)
{
	double p99 = quantile(v, n, 0.99), max = n ? v[n - 1] : 0;

	if (n < SAMPLES_MIN)
		TEST_FAIL_("%s: only %zu %s calls made during the attack", name,
		           n, call);
	if (max > 1000.0 * slow())
		TEST_FAIL_("%s: a %s took %.0f ms (bound: %d ms)", name, call,
		           max, 1000 * slow());
	if (p99 > 250.0 * slow())
		TEST_FAIL_("%s: %s p99 %.1f ms (bound: %d ms)", name, call, p99,
		           250 * slow());
}

/* Stops the experiment and forgets it. */
static void
sampler_abandon(struct sampler *s)
{
	atomic_store(&s->stop, true);
	if (!s->thread_done)
		pthread_join(s->thread, NULL);
	jobd_client_close(s->c);
	free(s->get_ms);
	free(s->ping_ms);
	free(s);
	if (live_sampler == s)
		live_sampler = NULL;
}

/* Stops the experiment, prints its line and checks the bounds. */
static void
sampler_stop(struct sampler *s)
{
	double p50, p99, pp50, pp99;

	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	s->thread_done = true;
	p50 = quantile(s->get_ms, s->n_get, 0.50);
	p99 = quantile(s->get_ms, s->n_get, 0.99);
	pp50 = quantile(s->ping_ms, s->n_ping, 0.50);
	pp99 = quantile(s->ping_ms, s->n_ping, 0.99);
	printf("hostile: %s: get p50 %.2f ms p99 %.2f ms, n=%zu\n", s->name,
	       p50, p99, s->n_get);
	fflush(stdout);
	fprintf(stderr,
	        "%s: get max %.1f ms; ping p50 %.2f p99 %.2f max %.1f ms; "
	        "%zu calls failed\n",
	        s->name, s->n_get ? s->get_ms[s->n_get - 1] : 0.0, pp50, pp99,
	        s->n_ping ? s->ping_ms[s->n_ping - 1] : 0.0, s->failed);
	if (s->failed > 0)
		TEST_FAIL_("%s: %zu calls of the well-behaved client failed; "
		           "the first: %s",
		           s->name, s->failed, s->why);
	check_latency(s->name, "Get", s->get_ms, s->n_get);
	check_latency(s->name, "Ping", s->ping_ms, s->n_ping);
	sampler_abandon(s);
}

/* ---- replies on a raw connection ------------------------------------- */

struct tally {
	size_t replies;
	size_t code[17];
	char limit_msg[256]; /* a RESOURCE_EXHAUSTED's message */
	char other_msg[256]; /* the first other message */
};

static void
tally_add(struct tally *t, const Jobd__V1__Response *r)
{
	unsigned c = (unsigned) r->code;
	t->replies++;
	t->code[c < 17 ? c : JOBD__V1__CODE__UNKNOWN]++;
	if (c == JOBD__V1__CODE__RESOURCE_EXHAUSTED)
		snprintf(t->limit_msg, sizeof(t->limit_msg), "%s", r->message);
	else if (t->other_msg[0] == '\0')
		snprintf(t->other_msg, sizeof(t->other_msg), "%s: %s",
		         jobd_status_name((int) c), r->message);
}

/*
 * Reads replies on s into t until `want` more were read, `until` (ms,
 * now_ms()'s clock) has passed, or none came for quiet_ms (0: only what is
 * there already). The number read; stops at the connection's end.
 */
static size_t
drain(struct spraw *s, struct tally *t, size_t want, int64_t until,
      int quiet_ms)
{
	size_t got = 0;
	uint32_t id;
	Jobd__V1__Response *r;

	while (got < want) {
		int64_t left = until - now_ms();
		int wait = left < quiet_ms ? (int) left : quiet_ms;
		if (wait < 0)
			wait = 0;
		if (!spraw_readable(s, wait))
			break;
		if (spraw_recv(s, &id, &r) != 0)
			break;
		tally_add(t, r);
		jobd__v1__response__free_unpacked(r, NULL);
		got++;
	}
	return got;
}

/* A refusal's message says which limit was hit. */
static bool
names_limit(const char *msg)
{
	return strstr(msg, "limit") != NULL && strpbrk(msg, "0123456789");
}

/* ---- the attacks ----------------------------------------------------- */

/*
 * Issue item 1, parked calls: one connection parks Waits on a long job,
 * 64 more than a connection may. Those past the limit are refused with
 * RESOURCE_EXHAUSTED and a message naming the limit, Stats counts the
 * parked calls (no more than the limit), another client's Submit, Wait and
 * Cancel still succeed, and once the flooding connection closes its parked
 * calls are released (Stats' parked_calls drops back to 0).
 */
static void
parked_waits(void)
{
	const char *const args[] = {"--workers", "2", NULL};
	Jobd__V1__WaitRequest wait = JOBD__V1__WAIT_REQUEST__INIT;
	Jobd__V1__WaitReply *wr = NULL;
	Jobd__V1__CancelReply *cr = NULL;
	struct target *t;
	struct sampler *sm;
	struct spraw f;
	struct tally ta = {0};
	struct counters k;
	size_t sent = 0;
	uint64_t job, mine;

	REQUIRE((t = target_up(args)) != NULL);
	REQUIRE((job = submit_long(t->c)) != 0);
	REQUIRE((sm = sampler_start("parked_waits", t, job)) != NULL);
	REQUIRE(spraw_open(&f, t->tcp, 2000 * slow()) == 0);

	/* Waits without a deadline, past the connection's limit, then the
	 * refusals of those past it */
	wait.id = job;
	for (sent = 0; sent < CONN_PARKED + 64; sent++)
		if (spraw_call(&f, "Wait", &wait.base, 0) == 0)
			break; /* jobd stopped reading us: allowed */
	drain(&f, &ta, SIZE_MAX, now_ms() + 5000 * slow(), 1000 * slow());
	fprintf(stderr, "parked_waits: %zu Waits sent, %zu refused: %s\n", sent,
	        ta.code[JOBD_RESOURCE_EXHAUSTED], ta.limit_msg);
	CHECK(ta.code[JOBD_RESOURCE_EXHAUSTED] > 0);
	if (ta.code[JOBD_RESOURCE_EXHAUSTED] > 0 && !names_limit(ta.limit_msg))
		TEST_FAIL_("the refusal '%s' does not name a limit",
		           ta.limit_msg);
	if (ta.replies != ta.code[JOBD_RESOURCE_EXHAUSTED])
		TEST_FAIL_("a Wait of a running job was answered: %s",
		           ta.other_msg);

	k = counters(t->c);
	fprintf(stderr,
	        "parked_waits: Stats: parked_calls %llu, refused %llu\n",
	        (unsigned long long) k.parked_calls,
	        (unsigned long long) k.refused_calls);
	CHECK(k.ok && k.parked_calls >= 1 && k.parked_calls <= CONN_PARKED);
	CHECK(k.ok && k.refused_calls >= 1);

	/* another client: Submit, Wait and Cancel */
	REQUIRE((mine = submit1(t->c, "count", "n", "1")) != 0);
	CHECK_EQ_INT(jobd_wait(t->c, mine, 3000 * slow(), &wr), JOBD_OK);
	if (wr != NULL) {
		CHECK(wr->job != NULL &&
		      wr->job->state ==
		          JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED);
		jobd__v1__wait_reply__free_unpacked(wr, NULL);
	}
	REQUIRE((mine = submit_long(t->c)) != 0);
	CHECK_EQ_INT(jobd_cancel(t->c, mine, &cr), JOBD_OK);
	if (cr != NULL) {
		CHECK(cr->job != NULL &&
		      cr->job->state ==
		          JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED);
		jobd__v1__cancel_reply__free_unpacked(cr, NULL);
	}

	/* the flood's connection goes: its parked calls go with it */
	spraw_close(&f);
	int64_t until = now_ms() + 3000 * slow();
	do {
		k = counters(t->c);
		if (k.ok && k.parked_calls == 0)
			break;
		sleep_ms(50);
	} while (now_ms() < until);
	if (!k.ok || k.parked_calls != 0)
		TEST_FAIL_(
		    "parked_calls is still %llu %d ms after the flooding "
		    "connection closed",
		    (unsigned long long) k.parked_calls, 3000 * slow());
	sampler_stop(sm);
	target_down(t);
}

/*
 * Issue item 2, many Waits expiring at once: 32 connections park 1,000
 * Waits each on one job (up to, not past, the limits), all with the same
 * deadline: each request's relative deadline is counted down to one
 * instant. Meanwhile a Submit and a Cancel succeed; while they expire, Get
 * stays quick; and every Wait is answered DEADLINE_EXCEEDED.
 */
static void
mass_expiry(void)
{
	const char *const args[] = {"--workers", "1", NULL};
	Jobd__V1__WaitRequest wait = JOBD__V1__WAIT_REQUEST__INIT;
	/* within both limits, so that every Wait parks (valgrind: fewer) */
	enum { NCONN = 32, PER = 1000 };
	_Static_assert(PER <= CONN_PARKED && NCONN * PER <= PARKED_WAITS,
	               "mass_expiry parks within the limits");
	const size_t nconn = NCONN, per = scaled(PER);
	struct spraw conns[NCONN];
	size_t sent[NCONN] = {0}, total = 0, answered = 0;
	struct target *t;
	struct sampler *sm;
	struct tally ta = {0};
	uint64_t job;
	int64_t t0, expire;

	REQUIRE((t = target_up(args)) != NULL);
	REQUIRE((job = submit_long(t->c)) != 0);
	REQUIRE((sm = sampler_start("mass_expiry", t, job)) != NULL);
	for (size_t i = 0; i < nconn; i++)
		REQUIRE(spraw_open(&conns[i], t->tcp, 2000 * slow()) == 0);

	/* all expire at `expire`; sending stops short of it */
	wait.id = job;
	t0 = now_ms();
	expire = t0 + 2000 + 500 * slow();
	for (size_t i = 0; i < nconn; i++) {
		for (size_t j = 0; j < per; j++) {
			int64_t left = expire - now_ms();
			if (left < 300 * slow())
				break;
			if (spraw_call(&conns[i], "Wait", &wait.base,
			               (uint32_t) left) == 0)
				break;
			sent[i]++;
		}
		total += sent[i];
	}
	fprintf(stderr,
	        "mass_expiry: %zu Waits on %zu connections, sent in "
	        "%lld ms\n",
	        total, nconn, (long long) (now_ms() - t0));
	/* other clients' Waits take no room from a Submit or a Cancel */
	uint64_t mine = submit_long(t->c);
	Jobd__V1__CancelReply *cr = NULL;
	CHECK(mine != 0);
	CHECK_EQ_INT(jobd_cancel(t->c, mine, &cr), JOBD_OK);
	if (cr != NULL)
		jobd__v1__cancel_reply__free_unpacked(cr, NULL);
	for (size_t i = 0; i < nconn; i++) {
		answered += drain(&conns[i], &ta, sent[i],
		                  expire + 10000 * slow(), 10000 * slow());
		spraw_close(&conns[i]);
	}
	sleep_ms(200);
	sampler_stop(sm);

	fprintf(stderr, "mass_expiry: %zu answered, %zu DEADLINE_EXCEEDED\n",
	        answered, ta.code[JOBD_DEADLINE_EXCEEDED]);
	CHECK(total >= nconn * per / 2); /* the attack happened */
	CHECK_EQ_INT(answered, total);
	if (ta.code[JOBD_DEADLINE_EXCEEDED] != ta.replies)
		TEST_FAIL_("%zu Waits were answered otherwise; one: %s",
		           ta.replies - ta.code[JOBD_DEADLINE_EXCEEDED],
		           ta.other_msg[0] ? ta.other_msg : ta.limit_msg);
	target_down(t);
}

/* A packed Ping with a payload of `size` bytes, as a raw request. */
static uint32_t
send_big_ping(struct spraw *s, size_t size)
{
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	uint8_t *payload = calloc(1, size);
	uint32_t id;

	if (payload == NULL)
		return 0;
	ping.payload.data = payload;
	ping.payload.len = size;
	id = spraw_call(s, "Ping", &ping.base, 0);
	free(payload);
	return id;
}

/* Queues n jobs of `fail` with a message of 400 bytes, in one batch: a
 * List of them is about 450 KB. */
static bool
fill_queue(jobd_client *c, size_t n)
{
	Jobd__V1__SubmitRequest *jobs = calloc(n, sizeof(*jobs)), **ptrs;
	Jobd__V1__SubmitRequest__ParamsEntry e =
	    JOBD__V1__SUBMIT_REQUEST__PARAMS_ENTRY__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry *ep = &e;
	Jobd__V1__SubmitBatchRequest req = JOBD__V1__SUBMIT_BATCH_REQUEST__INIT;
	Jobd__V1__SubmitBatchReply *rep = NULL;
	char msg[401];
	bool ok;

	ptrs = calloc(n, sizeof(*ptrs));
	if (jobs == NULL || ptrs == NULL) {
		free(jobs);
		free(ptrs);
		return false;
	}
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	e.key = "message";
	e.value = msg;
	for (size_t i = 0; i < n; i++) {
		jobd__v1__submit_request__init(&jobs[i]);
		jobs[i].kind = "fail";
		jobs[i].n_params = 1;
		jobs[i].params = &ep;
		ptrs[i] = &jobs[i];
	}
	req.n_jobs = n;
	req.jobs = ptrs;
	ok = jobd_submit_batch(c, &req, &rep) == JOBD_OK;
	if (!ok)
		fprintf(stderr, "submit batch: %s\n", jobd_client_errmsg());
	if (rep != NULL)
		jobd__v1__submit_batch_reply__free_unpacked(rep, NULL);
	free(jobs);
	free(ptrs);
	return ok;
}

/*
 * Issue item 3, a client that never reads: one connection sends a few
 * dozen Pings with the largest payload (echoed back) and a few hundred
 * List limit=1000 (each about 450 KB of reply), and reads nothing. Others
 * are answered throughout, and the replies it does not take are dropped
 * (Stats' dropped_replies grows, once they have waited REPLY_MS).
 */
static void
slow_reader(void)
{
	const char *const args[] = {"--workers", "0", NULL};
	Jobd__V1__ListRequest list = JOBD__V1__LIST_REQUEST__INIT;
	struct target *t;
	struct sampler *sm;
	struct spraw a;
	struct counters k = {0};
	/* under valgrind, fewer: still several times what the socket
	 * buffers take (a few MB each way) */
	const size_t npings = scaled(48), nlists = scaled(300);
	size_t pings = 0, lists = 0;
	int64_t t0, until;

	REQUIRE((t = target_up(args)) != NULL);
	REQUIRE(fill_queue(t->c, 1000));
	REQUIRE((sm = sampler_start("slow_reader", t, 1)) != NULL);
	REQUIRE(spraw_open(&a, t->tcp, 2000 * slow()) == 0);
	/* a send that blocks this long: jobd stopped reading us, fine */
	spraw_set_send_timeout(&a, 300);

	t0 = now_ms();
	while (pings < npings && send_big_ping(&a, PING_PAYLOAD) != 0)
		pings++;
	list.limit = 1000;
	while (pings == npings && lists < nlists &&
	       spraw_call(&a, "List", &list.base, 0) != 0)
		lists++;
	fprintf(stderr,
	        "slow_reader: sent %zu big Pings and %zu Lists in "
	        "%lld ms\n",
	        pings, lists, (long long) (now_ms() - t0));

	/* hold the connection, read nothing, until jobd gives up on it */
	until = now_ms() + REPLY_MS + 5000 * slow();
	do {
		sleep_ms(100);
		k = counters(t->c);
	} while ((!k.ok || k.dropped_replies == 0) && now_ms() < until);
	/* and a while longer, for the experiment */
	while (now_ms() < t0 + 2000)
		sleep_ms(50);
	sampler_stop(sm);
	spraw_close(&a);
	fprintf(stderr, "slow_reader: dropped_replies %llu after %lld ms\n",
	        (unsigned long long) k.dropped_replies,
	        (long long) (now_ms() - t0));
	if (!k.ok || k.dropped_replies == 0)
		TEST_FAIL_("no reply dropped %d ms after its client stopped "
		           "reading",
		           REPLY_MS + 5000 * slow());
	CHECK(fresh_ping(t->tcp));
	target_down(t);
}

/* jobd's resident memory, in KiB (0 if it cannot be read). */
static long
rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Opens n connections that each announce a message of `size` bytes and
 * send `part` of it (less if jobd stops taking it). The bytes sent. */
static size_t
send_half_messages(const char *url, struct spraw *conns, size_t n,
                   uint64_t size, size_t part)
{
	static const uint8_t zeros[64 << 10];
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		if (spraw_open(&conns[i], url, 1000 * slow()) != 0 ||
		    spraw_frame(&conns[i], size) != 0)
			continue;
		for (size_t done = 0; done < part;) {
			size_t len = part - done < sizeof(zeros)
			                 ? part - done
			                 : sizeof(zeros);
			size_t went = 0;
			int rv = spraw_write(&conns[i], zeros, len, &went);
			done += went;
			total += went;
			if (rv != 0)
				break;
		}
	}
	return total;
}

/*
 * Issue item 4, memory before a request is whole: connections announce
 * 7 MiB (more than a request may be, less than nng's default maximum) and
 * send most of it; others announce the largest request, 2 MiB, and send
 * all but 64 KiB. The former are closed and hold nothing; the latter hold
 * at most what they sent: jobd grows by no more than 2 MiB for each (or
 * less, if it bounds half-received messages overall), plus 16 MiB of
 * slack for the allocator, times a factor for a sanitizer's shadow memory.
 */
static void
half_messages(void)
{
	const size_t nover = scaled(24), npart = scaled(16);
	/* KiB for the allocator and the rest of jobd; a sanitizer's shadow
	 * memory grows with what is touched */
	const long slack = 16 << 10, mem = SAN_SLOW * 2 - 1;
	struct spraw over[24], part[16];
	struct target *t;
	struct sampler *sm;
	size_t sent, closed = 0;
	long base, grown;
	int64_t until;
	uint64_t job;

	REQUIRE((t = target_up(NULL)) != NULL);
	REQUIRE((job = submit1(t->c, "count", "n", "1")) != 0);
	REQUIRE((sm = sampler_start("half_messages", t, job)) != NULL);
	sleep_ms(200);
	base = rss_kib(t->d.pid);

	sent = send_half_messages(t->tcp, over, nover, 7u << 20,
	                          (7u << 20) - 4096);
	sleep_ms(200);
	grown = rss_kib(t->d.pid) - base;
	fprintf(stderr,
	        "half_messages: %zu announced 7 MiB and sent %zu KiB: "
	        "jobd grew by %ld KiB\n",
	        nover, sent >> 10, grown);
	if (!jd_wrapped() && grown > slack * mem)
		TEST_FAIL_("jobd grew by %ld KiB for %zu messages over the "
		           "limit (bound %ld KiB)",
		           grown, nover, slack * mem);
	until = now_ms() + 2000 * slow();
	for (size_t i = 0; i < nover; i++) {
		int64_t left = until - now_ms();
		if (over[i].fd < 0 ||
		    spraw_wait_closed(&over[i], left > 0 ? (int) left : 0))
			closed++;
	}
	if (closed != nover)
		TEST_FAIL_("%zu of %zu connections that announced more than "
		           "the request limit were not closed",
		           nover - closed, nover);

	base = rss_kib(t->d.pid);
	sent = send_half_messages(t->tcp, part, npart, MAX_REQUEST,
	                          MAX_REQUEST - (64 << 10));
	sleep_ms(200);
	grown = rss_kib(t->d.pid) - base;
	fprintf(stderr,
	        "half_messages: %zu announced 2 MiB and sent %zu KiB: "
	        "jobd grew by %ld KiB\n",
	        npart, sent >> 10, grown);
	if (!jd_wrapped() && grown > ((long) npart * 2048 + slack) * mem)
		TEST_FAIL_("jobd grew by %ld KiB for %zu half messages (bound "
		           "%ld KiB)",
		           grown, npart, ((long) npart * 2048 + slack) * mem);

	for (size_t i = 0; i < nover; i++)
		spraw_close(&over[i]);
	for (size_t i = 0; i < npart; i++)
		spraw_close(&part[i]);
	sampler_stop(sm);
	CHECK(fresh_ping(t->tcp));
	target_down(t);
}

/*
 * Issue item 5, the handshake bound: connections that never send the SP
 * header (on tcp:// and ipc://), and some that send half of it, are closed
 * by jobd within nng's negotiation timeout (plus slack), and meanwhile
 * others are served; afterwards both addresses take new clients.
 */
static void
silent_connections(void)
{
	static const uint8_t half[4] = {0, 'S', 'P', 0};
	const size_t n = 16;
	struct spraw conns[2 * 16 + 4];
	size_t nc = 0, closed = 0;
	struct target *t;
	struct sampler *sm;
	int64_t t0, until, last = 0;

	REQUIRE((t = target_up(NULL)) != NULL);
	REQUIRE((sm = sampler_start("silent_connections", t, 1)) != NULL);
	t0 = now_ms();
	for (size_t i = 0; i < n; i++) {
		if (spraw_connect(&conns[nc], t->tcp, 1000) == 0)
			nc++;
		if (spraw_connect(&conns[nc], t->d.url, 1000) == 0)
			nc++;
	}
	for (int i = 0; i < 4; i++)
		if (spraw_connect(&conns[nc], i % 2 ? t->tcp : t->d.url,
		                  1000) == 0) {
			spraw_write(&conns[nc], half, sizeof(half), NULL);
			nc++;
		}
	CHECK_EQ_INT(nc, 2 * n + 4);

	until = t0 + HANDSHAKE_MS + 5000 * slow();
	for (size_t i = 0; i < nc; i++) {
		int left = (int) (until - now_ms());
		if (spraw_wait_closed(&conns[i], left > 0 ? left : 0)) {
			closed++;
			last = now_ms() - t0;
		}
		spraw_close(&conns[i]);
	}
	sampler_stop(sm);
	fprintf(stderr,
	        "silent_connections: %zu of %zu closed by jobd, the "
	        "last after %lld ms\n",
	        closed, nc, (long long) last);
	if (closed != nc)
		TEST_FAIL_("%zu connections without a handshake still open "
		           "after %lld ms",
		           nc - closed, (long long) (until - t0));
	CHECK(fresh_ping(t->tcp));
	CHECK(fresh_ping(t->d.url));
	target_down(t);
}

/* The soft and hard RLIMIT_NOFILE of process pid; false if unreadable. */
static bool
nofile_limits(pid_t pid, char soft[32], char hard[32])
{
	char path[64], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int) pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found =
		    sscanf(line, "Max open files %31s %31s", soft, hard) == 2;
	fclose(f);
	return found;
}

/* A raw connection that completes its handshake and gets a Ping answered
 * (then it stays open in s); false, and s closed, if jobd refused it. */
static bool
served(struct spraw *s, const char *url)
{
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	Jobd__V1__Response *r;

	if (spraw_open(s, url, 2000 * slow()) != 0)
		return false;
	if ((r = spraw_roundtrip(s, "Ping", &ping.base, 0)) == NULL) {
		spraw_close(s);
		return false;
	}
	jobd__v1__response__free_unpacked(r, NULL);
	return true;
}

/*
 * Issue item 5, the connection cap: jobd raised its open-file limit to the
 * hard one; with --max-connections N, connections beyond N are refused
 * (closed once their handshake is done), Stats counts no more than N, the
 * log says so once, and once some close new ones are served again.
 */
static void
connection_cap(void)
{
	char cap[16], soft[32], hard[32];
	const char *const args[] = {"--max-connections", cap, NULL};
	struct spraw conns[MAX_CONNECTIONS + 4];
	struct counters k;
	size_t ok = 0, refused = 0;
	struct target *t;
	struct sampler *sm;
	int lines;

	snprintf(cap, sizeof(cap), "%d", MAX_CONNECTIONS);
	REQUIRE((t = target_up(args)) != NULL);
	if (!jd_wrapped()) { /* valgrind keeps some descriptors for itself */
		REQUIRE(nofile_limits(t->d.pid, soft, hard));
		if (strcmp(soft, hard) != 0)
			TEST_FAIL_(
			    "jobd's soft open-file limit is %s, its hard "
			    "limit %s",
			    soft, hard);
	}
	REQUIRE((sm = sampler_start("connection_cap", t, 1)) != NULL);
	/* t->c and the sampler's client hold two of the N */
	for (size_t i = 0; i < MAX_CONNECTIONS + 4; i++) {
		if (served(&conns[i], i % 2 ? t->tcp : t->d.url))
			ok++;
		else
			refused++;
	}
	k = counters(t->c);
	fprintf(stderr,
	        "connection_cap: %zu served, %zu refused; Stats: %u "
	        "connections\n",
	        ok, refused, (unsigned) k.connections);
	CHECK(k.ok && k.connections >= ok && k.connections <= MAX_CONNECTIONS);
	/* 6 of the 12, or one fewer if a connection jobd_start() made is
	 * still being closed */
	CHECK(ok + 2 <= MAX_CONNECTIONS && ok + 3 >= MAX_CONNECTIONS);
	lines = jd_count_lines(t->d.log, "--max-connections");
	if (lines != 1)
		TEST_FAIL_("jobd's log has %d lines about the connection cap "
		           "(saying --max-connections), not 1",
		           lines);
	for (size_t i = 0; i < MAX_CONNECTIONS + 4; i++)
		spraw_close(&conns[i]);
	/* below the cap again */
	int64_t until = now_ms() + 3000 * slow();
	bool again = false;
	while (!again && now_ms() < until)
		if (!(again = fresh_ping(t->tcp)))
			sleep_ms(100);
	CHECK(again);
	sampler_stop(sm);
	target_down(t);
}

/* Ways of closing a connection to the ipc:// address early. */
static void
close_at_once(struct spraw *s)
{
	spraw_close(s);
}

static void
close_reset(struct spraw *s)
{
	spraw_reset(s);
}

static void
close_half_header(struct spraw *s)
{
	static const uint8_t half[4] = {0, 'S', 'P', 0};
	spraw_write(s, half, sizeof(half), NULL);
	spraw_close(s);
}

static void
close_garbage(struct spraw *s)
{
	static const uint8_t junk[8] = "GET / HT";
	spraw_write(s, junk, sizeof(junk), NULL);
	spraw_close(s);
}

static void
close_after_header(struct spraw *s)
{
	if (spraw_handshake(s) != 0)
		fprintf(stderr, "(handshake failed: %s)\n", strerror(errno));
	spraw_close(s);
}

static const struct early_close {
	const char *name;
	void (*fn)(struct spraw *s);
} early_closes[] = {
    {"connect then close", close_at_once},
    {"reset", close_reset},
    {"half a header", close_half_header},
    {"8 bytes of garbage", close_garbage},
    {"a valid header then close", close_after_header},
};

/* Starts a second jobd on the ipc:// address of t: true when it refuses
 * to start (exits non-zero) within the time allowed. */
static bool
second_daemon_refused(struct target *t)
{
	char db[160], log[160];
	const char *const argv[] = {"--listen", t->d.url, "--db", db, NULL};
	int st;

	snprintf(db, sizeof(db), "%s/second.db", t->d.dir);
	snprintf(log, sizeof(log), "%s/second.log", t->d.dir);
	if ((st = jd_run(argv, log, 10000 * slow())) == -1) {
		fprintf(stderr,
		        "ipc_early_close: a second jobd on %s is running\n",
		        t->d.url);
		return false;
	}
	fprintf(stderr, "ipc_early_close: the second jobd exited %d:\n",
	        WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	jd_dump_file(log);
	return WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) < 126;
}

/*
 * Issue item 6, the ipc:// listener and nng 1.5.2's bug #1518: closing a
 * connection early in every way (at once, with a reset, after half a
 * header, after garbage, after a valid header), five times each; after
 * each, a new client is still served. Then a second jobd on the same path
 * refuses to start and the first still takes new clients. When the
 * listener dies, jobd is restarted so the other ways are tried too.
 */
static void
ipc_early_close(void)
{
	const size_t nways = sizeof(early_closes) / sizeof(early_closes[0]);
	struct target *t;
	struct sampler *sm;

	REQUIRE((t = target_up(NULL)) != NULL);
	REQUIRE((sm = sampler_start("ipc_early_close", t, 1)) != NULL);
	for (size_t w = 0; w < nways; w++) {
		for (int i = 0; i < 5; i++) {
			struct spraw s;
			REQUIRE(spraw_connect(&s, t->d.url, 1000) == 0);
			early_closes[w].fn(&s);
			if (fresh_ping(t->d.url))
				continue;
			TEST_FAIL_("the ipc:// listener took no new client "
			           "after '%s' (time %d)",
			           early_closes[w].name, i + 1);
			/* a fresh jobd for the remaining ways */
			sampler_abandon(sm);
			target_down(t);
			REQUIRE((t = target_up(NULL)) != NULL);
			REQUIRE((sm = sampler_start("ipc_early_close", t, 1)) !=
			        NULL);
			break;
		}
	}
	CHECK(second_daemon_refused(t));
	if (!fresh_ping(t->d.url))
		TEST_FAIL_("the ipc:// listener took no new client after a "
		           "second jobd tried the same path");
	sampler_stop(sm);
	target_down(t);
}

/* ---- tokens ---------------------------------------------------------- */

#define TOKEN "hostile-test-token-0123456789abcdef"

/* Appends v as a protobuf varint at p; its length. */
static size_t
put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t) v;
	return n;
}

/* Request.metadata entry {key: value} as raw bytes (field 4, a map entry
 * of key 1 and value 2), for values with a NUL in them, which protobuf-c
 * cannot write from a C string. The caller frees; *len set. */
static uint8_t *
metadata_entry(const char *key, const void *value, size_t vlen, size_t *len)
{
	size_t klen = strlen(key), elen, n = 0;
	uint8_t *p = malloc(klen + vlen + 32);

	if (p == NULL)
		return NULL;
	elen =
	    1 + (klen < 128 ? 1 : 2) + klen + 1 + (vlen < 128 ? 1 : 2) + vlen;
	p[n++] = (4 << 3) | 2;
	n += put_varint(p + n, elen);
	p[n++] = (1 << 3) | 2;
	n += put_varint(p + n, klen);
	memcpy(p + n, key, klen);
	n += klen;
	p[n++] = (2 << 3) | 2;
	n += put_varint(p + n, vlen);
	memcpy(p + n, value, vlen);
	n += vlen;
	*len = n;
	return p;
}

/* The code of the answer to a Ping on url whose "authorization" is the
 * vlen bytes of value; -1 if none came. */
static int
ping_authorized(const char *url, const void *value, size_t vlen)
{
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	Jobd__V1__Response *r = NULL;
	struct spraw s;
	uint8_t *md;
	size_t mlen;
	uint32_t id, got;
	int code = -1;

	if ((md = metadata_entry("authorization", value, vlen, &mlen)) == NULL)
		return -1;
	req.method = "Ping";
	if (spraw_open(&s, url, 2000 * slow()) == 0 &&
	    (id = spraw_send_request(&s, &req, md, mlen)) != 0 &&
	    spraw_recv(&s, &got, &r) == 0 && got == id)
		code = r->code;
	if (r != NULL)
		jobd__v1__response__free_unpacked(r, NULL);
	spraw_close(&s);
	free(md);
	return code;
}

/* target_up() for a daemon that requires TOKEN; t->c sends it. */
static struct target *
target_up_token(void)
{
	return target_start(NULL, TOKEN);
}

/*
 * Issue item 10: a token followed by a NUL byte and anything else is
 * refused (UNAUTHENTICATED, or INVALID_ARGUMENT for a value that is not a
 * string); the exact token is accepted.
 */
static void
token_nul(void)
{
	static const char exact[] = "Bearer " TOKEN;
	static const char junk[] = "Bearer " TOKEN "\0junk";
	static const char nul[] = "Bearer " TOKEN "\0";
	struct target *t;
	struct sampler *sm;

	REQUIRE((t = target_up_token()) != NULL);
	REQUIRE((sm = sampler_start("token_nul", t, 1)) != NULL);
	CHECK_EQ_INT(ping_authorized(t->tcp, exact, strlen(exact)), JOBD_OK);
	int c1 = ping_authorized(t->tcp, junk, sizeof(junk) - 1);
	int c2 = ping_authorized(t->tcp, nul, sizeof(nul) - 1);
	int c3 = ping_authorized(t->d.url, junk, sizeof(junk) - 1);
	if (c1 != JOBD_UNAUTHENTICATED && c1 != JOBD_INVALID_ARGUMENT)
		TEST_FAIL_("the token, a NUL and junk: answered %d", c1);
	if (c2 != JOBD_UNAUTHENTICATED && c2 != JOBD_INVALID_ARGUMENT)
		TEST_FAIL_("the token and a NUL: answered %d", c2);
	if (c3 != JOBD_UNAUTHENTICATED && c3 != JOBD_INVALID_ARGUMENT)
		TEST_FAIL_("the token, a NUL and junk on ipc://: answered %d",
		           c3);
	CHECK_EQ_INT(ping_authorized(t->tcp, exact, strlen(exact)), JOBD_OK);
	sampler_stop(sm);
	target_down(t);
}

/* ---- every part of a request ----------------------------------------- */

/* What an answer may be: a set of codes. */
#define CODE(c)   (1u << (c))
#define ANY_ERROR (~CODE(JOBD_OK) & 0x1ffffu)
#define INVALID   CODE(JOBD_INVALID_ARGUMENT)

/* The envelope for `method` around `body` (NULL: empty), with `deadline`
 * and n metadata entries md (may be NULL); caller frees. */
static uint8_t *
envelope(const char *method, const ProtobufCMessage *body, uint32_t deadline,
         Jobd__V1__Request__MetadataEntry **md, size_t n, size_t *len)
{
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;

	req.method = (char *) method;
	req.deadline_ms = deadline;
	req.metadata = md;
	req.n_metadata = n;
	return spraw_envelope(&req, body, len);
}

/* A string of n copies of ch (caller frees). */
static char *
repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);
	if (s != NULL) {
		memset(s, ch, n);
		s[n] = '\0';
	}
	return s;
}

/* Bytes of a fixed pseudo-random sequence (caller frees). */
static uint8_t *
noise(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n);
	for (size_t i = 0; p != NULL && i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		p[i] = (uint8_t) seed;
	}
	return p;
}

/* A Ping with n metadata entries whose keys have klen bytes and values
 * vlen bytes. */
static uint8_t *
many_metadata(size_t n, size_t klen, size_t vlen, size_t *len)
{
	Jobd__V1__Request__MetadataEntry *e = calloc(n, sizeof(*e));
	Jobd__V1__Request__MetadataEntry **p = calloc(n, sizeof(*p));
	char *key = repeat('k', klen + 8), *value = repeat('v', vlen);
	char *keys = malloc(n * (klen + 9));
	uint8_t *out = NULL;

	if (e == NULL || p == NULL || key == NULL || value == NULL ||
	    keys == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char *k = keys + i * (klen + 9);
		/* distinct keys: a map keeps one value per key */
		snprintf(k, klen + 9, "%.*s%08zx", (int) klen, key, i);
		jobd__v1__request__metadata_entry__init(&e[i]);
		e[i].key = k;
		e[i].value = value;
		p[i] = &e[i];
	}
	out = envelope("Ping", NULL, 0, p, n, len);
out:
	free(e);
	free(p);
	free(key);
	free(value);
	free(keys);
	return out;
}

static uint8_t *
md_many(size_t *len)
{
	return many_metadata(20000, 4, 1, len);
}

static uint8_t *
md_long_value(size_t *len)
{
	return many_metadata(1, 4, 1u << 20, len);
}

static uint8_t *
md_long_key(size_t *len)
{
	return many_metadata(1, 64u << 10, 1, len);
}

static uint8_t *
long_method(size_t *len)
{
	char *m = repeat('M', 1u << 20);
	uint8_t *out = m != NULL ? envelope(m, NULL, 0, NULL, 0, len) : NULL;
	free(m);
	return out;
}

static uint8_t *
huge_deadline(size_t *len)
{
	return envelope("Ping", NULL, UINT32_MAX, NULL, 0, len);
}

/* A Submit of `count` with n=1, unless req has parameters of its own:
 * each row below changes one part of it. */
static uint8_t *
submit_envelope(Jobd__V1__SubmitRequest *req, size_t *len)
{
	Jobd__V1__SubmitRequest__ParamsEntry n =
	    JOBD__V1__SUBMIT_REQUEST__PARAMS_ENTRY__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry *np = &n;
	uint8_t *out;

	n.key = "n";
	n.value = "1";
	req->kind = "count";
	if (req->n_params == 0) {
		req->params = &np;
		req->n_params = 1;
	}
	out = envelope("Submit", &req->base, 0, NULL, 0, len);
	if (req->params == &np) {
		req->params = NULL;
		req->n_params = 0;
	}
	return out;
}

static uint8_t *
long_key(size_t *len)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	uint8_t *out = NULL;

	if ((req.idempotency_key = repeat('K', 1u << 20)) != NULL)
		out = submit_envelope(&req, len);
	free(req.idempotency_key);
	return out;
}

static uint8_t *
many_params(size_t *len)
{
	const size_t n = 10000;
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry *e = calloc(n, sizeof(*e));
	char(*names)[8] = calloc(n, sizeof(*names));
	uint8_t *out = NULL;

	req.params = calloc(n, sizeof(*req.params));
	if (e != NULL && names != NULL && req.params != NULL) {
		for (size_t i = 0; i < n; i++) {
			snprintf(names[i], sizeof(names[i]), "p%zu", i);
			jobd__v1__submit_request__params_entry__init(&e[i]);
			e[i].key = names[i];
			e[i].value = "1";
			req.params[i] = &e[i];
		}
		req.n_params = n;
		out = submit_envelope(&req, len);
	}
	free(req.params);
	free(names);
	free(e);
	return out;
}

static uint8_t *
long_value(size_t *len)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry e =
	    JOBD__V1__SUBMIT_REQUEST__PARAMS_ENTRY__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry *ep = &e;
	uint8_t *out = NULL;

	e.key = "n";
	if ((e.value = repeat('9', 1u << 20)) != NULL) {
		req.params = &ep;
		req.n_params = 1;
		out = submit_envelope(&req, len);
	}
	free(e.value);
	return out;
}

static uint8_t *
huge_attempts(size_t *len)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	req.max_attempts = UINT32_MAX;
	return submit_envelope(&req, len);
}

static uint8_t *
big_input(size_t *len)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	uint8_t *out = NULL;

	req.input.len = 3u << 19; /* 1.5 MiB, to a kind without input */
	if ((req.input.data = calloc(1, req.input.len)) != NULL)
		out = submit_envelope(&req, len);
	free(req.input.data);
	return out;
}

static uint8_t *
huge_list(size_t *len)
{
	Jobd__V1__ListRequest req = JOBD__V1__LIST_REQUEST__INIT;
	req.limit = UINT32_MAX;
	return envelope("List", &req.base, 0, NULL, 0, len);
}

static uint8_t *
long_kind_filter(size_t *len)
{
	Jobd__V1__ListRequest req = JOBD__V1__LIST_REQUEST__INIT;
	uint8_t *out;
	req.kind = repeat('k', 1u << 20);
	out = envelope("List", &req.base, 0, NULL, 0, len);
	free(req.kind);
	return out;
}

static uint8_t *
big_batch(size_t *len)
{
	const size_t n = 100000;
	Jobd__V1__SubmitRequest *jobs = calloc(n, sizeof(*jobs)), **p;
	Jobd__V1__SubmitBatchRequest req = JOBD__V1__SUBMIT_BATCH_REQUEST__INIT;
	uint8_t *out = NULL;

	p = calloc(n, sizeof(*p));
	if (jobs != NULL && p != NULL) {
		for (size_t i = 0; i < n; i++) {
			jobd__v1__submit_request__init(&jobs[i]);
			jobs[i].kind = "count";
			p[i] = &jobs[i];
		}
		req.jobs = p;
		req.n_jobs = n;
		out = envelope("SubmitBatch", &req.base, 0, NULL, 0, len);
	}
	free(jobs);
	free(p);
	return out;
}

static uint8_t *
many_ids(size_t *len)
{
	const size_t n = 200000;
	Jobd__V1__GetRequest req = JOBD__V1__GET_REQUEST__INIT;
	uint64_t *ids = calloc(n, sizeof(*ids));
	uint8_t *out = NULL;

	if (ids != NULL) {
		for (size_t i = 0; i < n; i++)
			ids[i] = i + 1;
		req.ids = ids;
		req.n_ids = n;
		out = envelope("Get", &req.base, 0, NULL, 0, len);
	}
	free(ids);
	return out;
}

static uint8_t *
random_envelope(size_t *len)
{
	*len = 64 << 10;
	return noise(*len, 0x2545f491);
}

/* An envelope for method around raw body bytes (caller frees both). */
static uint8_t *
raw_body(const char *method, uint8_t *body, size_t blen, size_t *len)
{
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	uint8_t *out = NULL;
	if (body != NULL) {
		req.method = (char *) method;
		req.body.data = body;
		req.body.len = blen;
		out = spraw_pack(&req, NULL, 0, len);
	}
	free(body);
	return out;
}

static uint8_t *
random_body(size_t *len)
{
	return raw_body("Submit", noise(64 << 10, 0x9e3779b9), 64 << 10, len);
}

/* SubmitBatch's jobs[0] holding a params entry whose length runs past
 * the job's end, itself past the body's. */
static uint8_t *
overrunning_lengths(size_t *len)
{
	uint8_t *b = malloc(16);
	size_t n = 0;
	if (b == NULL)
		return NULL;
	b[n++] = (1 << 3) | 2; /* jobs */
	b[n++] = 4;
	b[n++] = (2 << 3) | 2; /* params */
	b[n++] = 100;
	b[n++] = (1 << 3) | 2;
	b[n++] = 1;
	return raw_body("SubmitBatch", b, n, len);
}

/* An envelope whose body field claims 2^62 bytes. */
static uint8_t *
huge_length(size_t *len)
{
	uint8_t *b = malloc(32);
	size_t n = 0;
	if (b == NULL)
		return NULL;
	b[n++] = (1 << 3) | 2;
	b[n++] = 4;
	memcpy(b + n, "Ping", 4);
	n += 4;
	b[n++] = (2 << 3) | 2;
	n += put_varint(b + n, (uint64_t) 1 << 62);
	b[n++] = 0;
	*len = n;
	return b;
}

/* A Ping body of 200,000 unknown fields: a decoder keeps each. */
static uint8_t *
unknown_fields(size_t *len)
{
	const size_t n = 200000;
	uint8_t *b = malloc(n * 2);
	if (b == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		b[2 * i] = (15 << 3) | 0; /* field 15, a varint */
		b[2 * i + 1] = 1;
	}
	return raw_body("Ping", b, n * 2, len);
}

static const struct bad_request {
	const char *name;
	uint8_t *(*build)(size_t *len);
	unsigned allowed; /* the codes it may be answered with */
	const char *says; /* in the answer's message; NULL: anything */
} bad_requests[] = {
    {"20000 metadata entries", md_many, ANY_ERROR, NULL},
    {"a metadata value of 1 MiB", md_long_value, ANY_ERROR, NULL},
    {"a metadata key of 64 KiB", md_long_key, ANY_ERROR, NULL},
    {"a method name of 1 MiB", long_method, CODE(JOBD_UNIMPLEMENTED) | INVALID,
     "method"},
    {"a deadline of 2^32-1 ms", huge_deadline, INVALID, "deadline"},
    {"an idempotency key of 1 MiB", long_key, INVALID, "idempotency key"},
    {"10000 parameters", many_params, INVALID, "too many parameters"},
    {"a parameter value of 1 MiB", long_value, INVALID, "parameter"},
    {"max_attempts 2^32-1", huge_attempts, INVALID, "max_attempts"},
    {"1.5 MiB of input to a kind without input", big_input, INVALID, "input"},
    {"List limit 2^32-1", huge_list, INVALID, "limit"},
    {"a List kind filter of 1 MiB", long_kind_filter, INVALID, "kind"},
    {"SubmitBatch of 100000 jobs", big_batch,
     INVALID | CODE(JOBD_RESOURCE_EXHAUSTED), "1000"},
    {"Get of 200000 ids", many_ids, INVALID, "too many ids"},
    {"64 KiB of noise as the envelope", random_envelope, INVALID, NULL},
    {"64 KiB of noise as a Submit", random_body, INVALID, NULL},
    {"nested lengths past their end", overrunning_lengths, INVALID, NULL},
    {"a body length of 2^62", huge_length, INVALID, NULL},
    {"200000 unknown fields", unknown_fields, ~0u, NULL},
};

/*
 * Issue item 11: every part of a request a client controls, too large or
 * too many: metadata, method, deadline, key, parameters, input, List,
 * SubmitBatch, Get, and bytes that are no protobuf at all. Each is
 * answered with an error code, within a second, and jobd still serves.
 */
static void
request_parts(void)
{
	const size_t n = sizeof(bad_requests) / sizeof(bad_requests[0]);
	struct target *t;
	struct sampler *sm;

	REQUIRE((t = target_up(NULL)) != NULL);
	REQUIRE((sm = sampler_start("request_parts", t, 1)) != NULL);
	for (size_t i = 0; i < n; i++) {
		const struct bad_request *b = &bad_requests[i];
		Jobd__V1__Response *r = NULL;
		struct spraw s;
		size_t len;
		uint32_t got;
		uint8_t *buf = b->build(&len);
		int64_t t0;

		REQUIRE(buf != NULL);
		if (len > MAX_REQUEST)
			TEST_FAIL_("%s: %zu bytes, more than a request may be",
			           b->name, len);
		REQUIRE(spraw_open(&s, t->tcp, 5000 * slow()) == 0);
		t0 = now_ms();
		if (spraw_send(&s, 1, buf, len) != 0 ||
		    spraw_recv(&s, &got, &r) != 0) {
			TEST_FAIL_("%s: no answer (%s)", b->name,
			           strerror(errno));
		} else {
			int64_t ms = now_ms() - t0;
			fprintf(stderr,
			        "request_parts: %s: %s in %lld ms: %s\n",
			        b->name, jobd_status_name(r->code),
			        (long long) ms, r->message);
			if (r->code > 16 || !(b->allowed & CODE(r->code)))
				TEST_FAIL_("%s: answered %s", b->name,
				           jobd_status_name(r->code));
			else if (b->says != NULL &&
			         strstr(r->message, b->says) == NULL)
				TEST_FAIL_("%s: the message '%s' does not say "
				           "'%s'",
				           b->name, r->message, b->says);
			if (ms > 1000 * slow())
				TEST_FAIL_("%s: answered after %lld ms",
				           b->name, (long long) ms);
			jobd__v1__response__free_unpacked(r, NULL);
		}
		spraw_close(&s);
		free(buf);
		CHECK(fresh_ping(t->tcp));
	}
	sampler_stop(sm);
	target_down(t);
}

TEST_MAIN({"parked_waits", parked_waits},             /* issue item 1 */
          {"mass_expiry", mass_expiry},               /* 2 */
          {"slow_reader", slow_reader},               /* 3 */
          {"half_messages", half_messages},           /* 4 */
          {"silent_connections", silent_connections}, /* 5 */
          {"connection_cap", connection_cap},         /* 5 */
          {"ipc_early_close", ipc_early_close},       /* 6 */
          {"token_nul", token_nul},                   /* 10 */
          {"request_parts", request_parts})           /* 11 */

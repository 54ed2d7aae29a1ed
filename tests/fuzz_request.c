/*
 * fuzz_request: a libFuzzer target over the whole request path of jobd.
 *
 * Each input is one request as it arrives on the wire. It goes through
 * rpc_dispatch() to the real service (daemon/service.c), backed by a real
 * scheduler, writer thread and SQLite database in a temporary directory:
 * envelope decoding, method lookup, body decoding, every handler's
 * validation, the database reads, the scheduler's tables and, for a Submit
 * that is accepted, a group commit. The reply the transport's send() gets is
 * decoded again and checked against the contract (a Response; a non-OK code
 * is a known one with a message and no body; an OK body is the method's reply
 * type, and says what the method promises). Every call must be answered
 * exactly once.
 *
 * The daemon is set up once (LLVMFuzzerInitialize) with:
 *   - jobs 1-3 ended (succeeded, failed, cancelled) and written straight to
 *     the database, with a finish time far in the future so that the purges
 *     below never take them;
 *   - two live queued jobs (4 and 5 at first), submitted through the service;
 *   - no worker threads: a job never runs, so nothing an input asks for uses
 *     CPU or time after its reply, and nothing ends unless it is cancelled.
 *
 * What keeps each iteration bounded and leak-free:
 *   - Every reply is waited for (a condition variable; libFuzzer's -timeout
 *     catches a reply that never comes). Get, List, Stats, Kinds, Ping and
 *     every refusal answer before rpc_dispatch() returns; a Submit answers
 *     after its group commit, a Cancel of a queued job after its end is
 *     committed, both from the writer thread, soon.
 *   - A Wait can park for as long as its job lives, and only the two live
 *     jobs live between iterations. So when a Wait is still unanswered after
 *     dispatch, its deadline answers it if that is at most SHORT_MS away;
 *     otherwise the harness cancels the live jobs, which answers it (or the
 *     deadline did first: either way once).
 *   - After each input the harness restores the same state: a Submit that
 *     made a new job is followed by a Cancel of it, and a live job that an
 *     input (or the harness) cancelled is replaced by a new one. So the
 *     scheduler holds two live jobs, the queue limit (8) is never reached by
 *     accident, and memory does not grow with the number of inputs.
 *   - Each accepted Submit leaves one ended row in the database; every
 *     PURGE_EVERY of them the harness has the writer purge the ended jobs
 *     (all but jobs 1-3), so the database does not grow without bound.
 *   - The calls are on the stack of this function, and the reply buffers
 *     are freed before it returns; the service's state (reader connections,
 *     tables) is reachable from statics and freed at exit.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined when JOBD_FUZZ is on
 * (tests/fuzz/CMakeLists.txt); the same file, with tests/fuzz_replay.c as
 * main(), runs the checked-in corpus under gcc in the normal test suite.
 * Where the database goes: $JOBD_FUZZ_TMP, else /dev/shm, else /tmp.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobd.pb-c.h"
#include "log.h"
#include "rpc.h"
#include "scheduler.h"
#include "service.h"
#include "store.h"
#include "writer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NLIVE        2
#define MAX_QUEUE    8
#define MAX_MADE     MAX_QUEUE /* new jobs one call can make */
#define PURGE_EVERY  1024
#define SEED_ENDED   3
#define SEED_FINISH  INT64_C(4102444800000) /* 2100-01-01: never purged */
#define NO_METHOD    (~0u)
#define CALL_TIMEOUT 60000 /* deadline of the harness's own calls, ms */
#define SHORT_MS     20    /* a parked Wait's deadline waited for, ms */

static struct {
	char dir[256];
	char db[300];
	writer *w;
	sched *s;
	jobq *q; /* s, as the service sees it */
	service *sv;
	ProtobufCService *svc;
	uint64_t live[NLIVE];
	unsigned ended_since_purge;
	uint64_t keyseq;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
} fz = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* One call and what its transport saw. */
struct fcall {
	struct rpc_call call; /* first: send() gets it back */
	int nsent;
	uint8_t *buf;
	size_t len;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
die(const char *fmt, ...)
{
	va_list ap;
	fputs("fuzz_request: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* rpc_call.send, on this thread or the writer's. */
static void
on_send(struct rpc_call *c, uint8_t *buf, size_t len)
{
	struct fcall *f = (struct fcall *) c;

	pthread_mutex_lock(&fz.mtx);
	if (f->nsent++ > 0)
		die("a call was answered twice");
	f->buf = buf;
	f->len = len;
	pthread_cond_broadcast(&fz.cv);
	pthread_mutex_unlock(&fz.mtx);
}

static int
nsent(struct fcall *f)
{
	pthread_mutex_lock(&fz.mtx);
	int n = f->nsent;
	pthread_mutex_unlock(&fz.mtx);
	return n;
}

static void
await_reply(struct fcall *f)
{
	pthread_mutex_lock(&fz.mtx);
	while (f->nsent == 0)
		pthread_cond_wait(&fz.cv, &fz.mtx);
	pthread_mutex_unlock(&fz.mtx);
	if (f->buf == NULL)
		die("a reply could not be encoded");
}

static void
dispatch(struct fcall *f, const uint8_t *buf, size_t len)
{
	memset(f, 0, sizeof(*f));
	f->call.send = on_send;
	f->call.method = NO_METHOD;
	rpc_dispatch(fz.svc, &f->call, buf, len);
}

static const char *
method_name(unsigned m)
{
	const ProtobufCServiceDescriptor *sd = fz.svc->descriptor;
	return m < sd->n_methods ? sd->methods[m].name : "";
}

/* ---- the harness's own calls ----------------------------------------- */

/* Calls `method` with `body`; returns the decoded Response (caller frees). */
static Jobd__V1__Response *
own_call(const char *method, const ProtobufCMessage *body)
{
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	Jobd__V1__Response *resp;
	struct fcall f;
	size_t blen = protobuf_c_message_get_packed_size(body), len;
	uint8_t *b = malloc(blen + 1), *buf;

	if (b == NULL)
		die("out of memory");
	req.method = (char *) method;
	req.body.len = protobuf_c_message_pack(body, b);
	req.body.data = b;
	req.deadline_ms = CALL_TIMEOUT;
	len = jobd__v1__request__get_packed_size(&req);
	if ((buf = malloc(len + 1)) == NULL)
		die("out of memory");
	jobd__v1__request__pack(&req, buf);
	dispatch(&f, buf, len);
	await_reply(&f);
	free(buf);
	free(b);
	resp = jobd__v1__response__unpack(NULL, f.len, f.buf);
	free(f.buf);
	if (resp == NULL)
		die("%s: the reply is not a Response", method);
	return resp;
}

/* Cancels job `id` and waits until that is on disk; OK or already ended. */
static void
own_cancel(uint64_t id)
{
	Jobd__V1__CancelRequest in = JOBD__V1__CANCEL_REQUEST__INIT;
	Jobd__V1__Response *resp;

	in.id = id;
	resp = own_call("Cancel", &in.base);
	if (resp->code != JOBD__V1__CODE__OK &&
	    resp->code != JOBD__V1__CODE__FAILED_PRECONDITION)
		die("cannot cancel job %llu: %d %s", (unsigned long long) id,
		    resp->code, resp->message);
	jobd__v1__response__free_unpacked(resp, NULL);
}

/*
 * Submits a live job that never runs (there are no workers) for slot i. An
 * input may have taken the key meant for it (a Submit with that key
 * returns the input's job): then the next key.
 */
static uint64_t
own_submit_live(int i)
{
	Jobd__V1__SubmitRequest in = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry pe =
	    JOBD__V1__SUBMIT_REQUEST__PARAMS_ENTRY__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry *pp[1] = {&pe};
	Jobd__V1__Response *resp;
	Jobd__V1__SubmitReply *rep;
	char key[64];
	uint64_t id = 0;

	in.kind = i == 0 ? "sleep" : "count";
	pe.key = i == 0 ? "ms" : "n";
	pe.value = i == 0 ? "60000" : "1000000";
	in.n_params = 1;
	in.params = pp;
	in.priority = i;
	in.idempotency_key = key;
	while (id == 0) {
		/* the first ones have the keys the seed corpus names */
		if (fz.keyseq < NLIVE)
			snprintf(key, sizeof(key), "live-%d", i + 1);
		else
			snprintf(key, sizeof(key), "live-%d-%llu", i + 1,
			         (unsigned long long) fz.keyseq);
		fz.keyseq++;
		resp = own_call("Submit", &in.base);
		if (resp->code != JOBD__V1__CODE__OK)
			die("cannot submit a live job: %d %s", resp->code,
			    resp->message);
		rep = jobd__v1__submit_reply__unpack(NULL, resp->body.len,
		                                     resp->body.data);
		if (rep == NULL || rep->job == NULL)
			die("Submit of a live job: a bad reply");
		if (!rep->existing)
			id = rep->job->id;
		jobd__v1__submit_reply__free_unpacked(rep, NULL);
		jobd__v1__response__free_unpacked(resp, NULL);
	}
	return id;
}

/* Replaces every live job that has ended. */
static void
restore_live(void)
{
	for (int i = 0; i < NLIVE; i++) {
		if (!sched_is_live(fz.s, fz.live[i])) {
			fz.live[i] = own_submit_live(i);
			fz.ended_since_purge++;
		}
	}
}

/* Ends every live job: answers a Wait parked on one. */
static void
end_live(void)
{
	for (int i = 0; i < NLIVE; i++)
		own_cancel(fz.live[i]);
}

static void
purge_done(struct writer_op *op)
{
	pthread_mutex_lock(&fz.mtx);
	op->arg = op; /* done */
	pthread_cond_broadcast(&fz.cv);
	pthread_mutex_unlock(&fz.mtx);
}

/* The writer deletes every ended job but the seeds 1-3. */
static void
purge(void)
{
	struct writer_op op;

	memset(&op, 0, sizeof(op));
	op.type = WOP_PURGE;
	op.purge_before = sched_wall_ms() + 1;
	op.done = purge_done;
	writer_submit(fz.w, &op);
	pthread_mutex_lock(&fz.mtx);
	while (op.arg == NULL)
		pthread_cond_wait(&fz.cv, &fz.mtx);
	pthread_mutex_unlock(&fz.mtx);
	if (op.status != JOBD_OK)
		die("purge failed: %s", op.errmsg);
	fz.ended_since_purge = 0;
}

/* ---- checks of a reply ----------------------------------------------- */

static bool
ended(int st)
{
	return st == JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED ||
	       st == JOBD__V1__JOB_STATE__JOB_STATE_FAILED ||
	       st == JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED;
}

static void
check_job(const char *m, const Jobd__V1__Job *j)
{
	if (j == NULL || j->id == 0)
		die("%s: OK without a job", m);
	if (j->state < JOBD__V1__JOB_STATE__JOB_STATE_QUEUED ||
	    j->state > JOBD__V1__JOB_STATE__JOB_STATE_SCHEDULED)
		die("%s: job %llu in state %d", m, (unsigned long long) j->id,
		    j->state);
	if (j->kind == NULL || j->kind[0] == '\0')
		die("%s: job %llu without a kind", m,
		    (unsigned long long) j->id);
}

/* The ids a Get asked for: every one is either a job or missing. */
static void
check_get(const Jobd__V1__GetReply *rep, const uint8_t *data, size_t size)
{
	Jobd__V1__Request *req = jobd__v1__request__unpack(NULL, size, data);
	Jobd__V1__GetRequest *in = NULL;

	if (req != NULL)
		in = jobd__v1__get_request__unpack(NULL, req->body.len,
		                                   req->body.data);
	if (in == NULL)
		die("Get: OK for a request that does not decode");
	if (rep->n_jobs + rep->n_missing != in->n_ids)
		die("Get: %zu ids asked, %zu jobs and %zu missing answered",
		    in->n_ids, rep->n_jobs, rep->n_missing);
	for (size_t i = 0; i < rep->n_jobs; i++)
		check_job("Get", rep->jobs[i]);
	jobd__v1__get_request__free_unpacked(in, NULL);
	jobd__v1__request__free_unpacked(req, NULL);
}

/*
 * Checks f's reply against the contract. Returns how many new jobs a
 * Submit or SubmitBatch made (to be cancelled), their ids in made[].
 */
static size_t
check_reply(const struct fcall *f, const uint8_t *data, size_t size,
            uint64_t *made)
{
	const ProtobufCServiceDescriptor *sd = fz.svc->descriptor;
	Jobd__V1__Response *resp;
	ProtobufCMessage *body;
	const char *m;
	size_t nmade = 0;

	if ((resp = jobd__v1__response__unpack(NULL, f->len, f->buf)) == NULL)
		die("the reply is not a Response (%zu bytes)", f->len);
	if (resp->code != JOBD__V1__CODE__OK) {
		if (resp->code < JOBD__V1__CODE__CANCELLED ||
		    resp->code > JOBD__V1__CODE__UNAUTHENTICATED)
			die("unknown code %d", resp->code);
		if (resp->message == NULL || resp->message[0] == '\0')
			die("code %d without a message", resp->code);
		if (resp->body.len != 0)
			die("code %d with a body", resp->code);
		jobd__v1__response__free_unpacked(resp, NULL);
		return 0;
	}
	if (f->call.method >= sd->n_methods)
		die("OK before any method was called");
	m = sd->methods[f->call.method].name;
	body = protobuf_c_message_unpack(sd->methods[f->call.method].output,
	                                 NULL, resp->body.len, resp->body.data);
	if (body == NULL)
		die("%s: the body is not a %s", m,
		    sd->methods[f->call.method].output->name);
	if (strcmp(m, "Submit") == 0) {
		Jobd__V1__SubmitReply *r = (Jobd__V1__SubmitReply *) body;
		check_job(m, r->job);
		if (!r->existing)
			made[nmade++] = r->job->id;
	} else if (strcmp(m, "SubmitBatch") == 0) {
		Jobd__V1__SubmitBatchReply *r =
		    (Jobd__V1__SubmitBatchReply *) body;
		for (size_t i = 0; i < r->n_jobs; i++) {
			if (r->jobs[i] == NULL)
				die("SubmitBatch: job %zu missing", i);
			check_job(m, r->jobs[i]->job);
			if (!r->jobs[i]->existing && nmade < MAX_MADE)
				made[nmade++] = r->jobs[i]->job->id;
		}
	} else if (strcmp(m, "Retry") == 0) {
		Jobd__V1__RetryReply *r = (Jobd__V1__RetryReply *) body;
		check_job(m, r->job);
		if (ended(r->job->state) || r->job->reruns == 0 ||
		    r->job->n_history != r->job->reruns)
			die("Retry: OK for job %llu, %d, %u reruns, %zu runs",
			    (unsigned long long) r->job->id, r->job->state,
			    r->job->reruns, r->job->n_history);
		made[nmade++] = r->job->id; /* queued again: to be cancelled */
	} else if (strcmp(m, "Get") == 0) {
		check_get((Jobd__V1__GetReply *) body, data, size);
	} else if (strcmp(m, "Wait") == 0) {
		Jobd__V1__WaitReply *r = (Jobd__V1__WaitReply *) body;
		check_job(m, r->job);
		if (!ended(r->job->state))
			die("Wait: OK for a job that has not ended");
	} else if (strcmp(m, "Cancel") == 0) {
		Jobd__V1__CancelReply *r = (Jobd__V1__CancelReply *) body;
		check_job(m, r->job);
		if (r->job->state != JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED)
			die("Cancel: OK for a job that is not cancelled");
	} else if (strcmp(m, "List") == 0) {
		Jobd__V1__ListReply *r = (Jobd__V1__ListReply *) body;
		for (size_t i = 0; i < r->n_jobs; i++) {
			check_job(m, r->jobs[i]);
			if (i > 0 && r->jobs[i]->id >= r->jobs[i - 1]->id)
				die("List: not newest first");
		}
	}
	protobuf_c_message_free_unpacked(body, NULL);
	jobd__v1__response__free_unpacked(resp, NULL);
	return nmade;
}

/* ---- set-up ----------------------------------------------------------- */

static void
seed_ended(store *db, uint64_t id, const char *kind, const char *pname,
           const char *pval, int state, const char *result, const char *error)
{
	struct job_param p = {(char *) pname, (char *) pval};
	struct jobrec r = {0};
	char key[32];

	snprintf(key, sizeof(key), "done-%llu", (unsigned long long) id);
	r.id = id;
	r.kind = (char *) kind;
	r.params = &p;
	r.nparams = 1;
	r.state = state;
	r.attempts = 1;
	r.max_attempts = 1;
	r.result = (uint8_t *) result;
	r.result_len = result ? strlen(result) : 0;
	r.error = (char *) error;
	r.idem_key = key;
	r.created_at = SEED_FINISH - 2000;
	r.started_at = SEED_FINISH - 1000;
	r.finished_at = SEED_FINISH;
	if (store_insert(db, &r) != JOBD_OK)
		die("cannot insert seed job %llu: %s", (unsigned long long) id,
		    store_errmsg(db));
}

static void
teardown(void)
{
	char cmd[300];

	if (fz.s == NULL)
		return;
	sched_drain(fz.s, 0);
	writer_stop(fz.w);
	service_destroy(fz.sv);
	fz.q->ops->destroy(fz.q);
	sched_destroy(fz.s);
	fz.s = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fz.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_request: cannot remove %s\n", fz.dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sched_config sc = {1, MAX_QUEUE, 1000, 0, 0};
	struct service_config svc = {1, MAX_QUEUE};
	const char *base = getenv("JOBD_FUZZ_TMP");
	char err[256];
	uint64_t recovered;
	kindset *ks;
	store *db;

	(void) argc;
	(void) argv;
	if (base == NULL || *base == '\0')
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fz.dir, sizeof(fz.dir), "%s/jobd-fuzz-XXXXXX", base);
	if (mkdtemp(fz.dir) == NULL)
		die("cannot make a directory in '%s'", base);
	snprintf(fz.db, sizeof(fz.db), "%s/jobd.db", fz.dir);
	log_set_level(getenv("JOBD_FUZZ_LOG") ? LOG_DEBUG : LOG_ERROR);

	if (store_open(&db, fz.db, err, sizeof(err)) != JOBD_OK)
		die("%s", err);
	if (store_begin(db) != JOBD_OK)
		die("%s", store_errmsg(db));
	seed_ended(db, 1, "count", "n", "1000", JOB_SUCCEEDED, "1000", NULL);
	seed_ended(db, 2, "fail", "message", "oops", JOB_FAILED, NULL, "oops");
	seed_ended(db, 3, "sleep", "ms", "5", JOB_CANCELLED, NULL, "cancelled");
	if (store_commit(db) != JOBD_OK)
		die("%s", store_errmsg(db));

	if (writer_start(&fz.w, fz.db, err, sizeof(err)) != JOBD_OK)
		die("%s", err);
	if (sched_create(&fz.s, fz.w, &sc) != JOBD_OK)
		die("cannot start the scheduler");
	if (kindset_load(&ks, NULL, err, sizeof(err)) != JOBD_OK)
		die("%s", err);
	sched_set_kinds(fz.s, ks);
	kindset_unref(ks);
	if (sched_load(fz.s, db, &recovered, err, sizeof(err)) != JOBD_OK)
		die("%s", err);
	store_close(db);
	if (jobq_local_wrap(&fz.q, fz.s, false) != JOBD_OK)
		die("out of memory");
	if (service_create(&fz.sv, fz.q, &svc, err, sizeof(err)) != JOBD_OK)
		die("%s", err);
	fz.svc = service_base(fz.sv);
	for (int i = 0; i < NLIVE; i++)
		fz.live[i] = own_submit_live(i);
	atexit(teardown);
	return 0;
}

/* ---- one input -------------------------------------------------------- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fcall f;
	uint64_t made[MAX_MADE];
	size_t nmade;

	if (fz.s == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	dispatch(&f, data, size);
	if (nsent(&f) == 0 && strcmp(method_name(f.call.method), "Wait") == 0 &&
	    (f.call.deadline == 0 ||
	     f.call.deadline - sched_mono_ms() > SHORT_MS))
		end_live(); /* parked on a live job, for long */
	await_reply(&f);
	nmade = check_reply(&f, data, size, made);
	for (size_t i = 0; i < nmade; i++) {
		own_cancel(made[i]);
		fz.ended_since_purge++;
	}
	restore_live();
	if (fz.ended_since_purge >= PURGE_EVERY)
		purge();
	if (nsent(&f) != 1)
		die("a call was answered %d times", nsent(&f));
	free(f.buf);
	return 0;
}

/*
 * fake_server: a stand-in for jobd that answers every request wrongly, to
 * test what a client does with a reply it cannot use:
 *
 *     fake_server URL MODE
 *
 * It listens on URL (an nng REP socket) and answers each request by MODE:
 *
 *   garbage  bytes that are not a Response
 *   badbody  a Response OK whose body is no message at all (truncated)
 *   code     a Response with the unknown code 99 and a message holding
 *            control characters
 *   empty    an empty message: a Response OK with every field at its
 *            default, so an empty reply body of the method's type
 *   silent   no answer at all
 *   hostile  a Response OK with a body of the right type whose content no
 *            jobd would send: job id 0 or the wrong job, a state that does
 *            not exist or has not ended, a missing job, control characters
 *            in every string, extreme numbers, a cursor that goes nowhere
 *
 * It serves until it is killed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "jobd.pb-c.h"

#define EVIL "\x1b[2J\x1b]0;pwned\x07\r\n"

static nng_msg *
msg_of(const ProtobufCMessage *m)
{
	nng_msg *msg;
	size_t n = protobuf_c_message_get_packed_size(m);

	if (nng_msg_alloc(&msg, n) != 0)
		return NULL;
	protobuf_c_message_pack(m, nng_msg_body(msg));
	return msg;
}

/* A Response OK around the reply message `body`. */
static nng_msg *
ok_with(const ProtobufCMessage *body)
{
	Jobd__V1__Response resp = JOBD__V1__RESPONSE__INIT;
	size_t n = protobuf_c_message_get_packed_size(body);
	uint8_t *b = malloc(n + 1);
	nng_msg *msg;

	if (b == NULL)
		return NULL;
	resp.body.len = protobuf_c_message_pack(body, b);
	resp.body.data = b;
	msg = msg_of(&resp.base);
	free(b);
	return msg;
}

/* A job no jobd would report: control characters everywhere, a state that
 * does not exist, times that go backwards, progress past its total. */
static void
evil_job(Jobd__V1__Job *j, Jobd__V1__Job__ParamsEntry *pe,
         Jobd__V1__Job__ParamsEntry **pp, uint64_t id, int state)
{
	jobd__v1__job__init(j);
	jobd__v1__job__params_entry__init(pe);
	pe->key = EVIL;
	pe->value = EVIL;
	pp[0] = pe;
	j->id = id;
	j->kind = EVIL;
	j->n_params = 1;
	j->params = pp;
	j->state = (Jobd__V1__JobState) state;
	j->progress_done = UINT64_MAX;
	j->progress_total = 3;
	j->error = EVIL;
	j->result.data = (uint8_t *) EVIL;
	j->result.len = sizeof(EVIL) - 1;
	j->created_at_ms = INT64_MAX;
	j->started_at_ms = INT64_MIN;
	j->finished_at_ms = -1;
	j->idempotency_key = EVIL;
}

static nng_msg *
hostile(const char *method)
{
	Jobd__V1__Job job;
	Jobd__V1__Job__ParamsEntry pe, *pp[1];
	Jobd__V1__Job *jobs[1] = {&job};

	/* every job is job 1 in a state that does not exist, unless said */
	evil_job(&job, &pe, pp, 1, 42);
	if (strcmp(method, "Submit") == 0) {
		Jobd__V1__SubmitReply r = JOBD__V1__SUBMIT_REPLY__INIT;
		job.id = 0; /* no job */
		r.job = &job;
		return ok_with(&r.base);
	}
	if (strcmp(method, "Get") == 0) {
		Jobd__V1__GetReply r = JOBD__V1__GET_REPLY__INIT;
		static uint64_t missing[] = {7}; /* not asked for */
		r.n_jobs = 1;
		r.jobs = jobs;
		r.n_missing = 1;
		r.missing = missing;
		return ok_with(&r.base);
	}
	if (strcmp(method, "Wait") == 0) {
		Jobd__V1__WaitReply r = JOBD__V1__WAIT_REPLY__INIT;
		job.state =
		    JOBD__V1__JOB_STATE__JOB_STATE_RUNNING; /* not ended */
		r.job = &job;
		return ok_with(&r.base);
	}
	if (strcmp(method, "Cancel") == 0) {
		Jobd__V1__CancelReply r = JOBD__V1__CANCEL_REPLY__INIT;
		return ok_with(&r.base); /* no job */
	}
	if (strcmp(method, "List") == 0) {
		Jobd__V1__ListReply r = JOBD__V1__LIST_REPLY__INIT;
		r.n_jobs = 1;
		r.jobs = jobs;
		r.next_cursor = 7; /* the same cursor every time */
		return ok_with(&r.base);
	}
	if (strcmp(method, "Stats") == 0) {
		Jobd__V1__StatsReply r = JOBD__V1__STATS_REPLY__INIT;
		r.workers = UINT32_MAX;
		r.busy_workers = UINT32_MAX;
		r.queued = UINT64_MAX;
		r.uptime_ms = INT64_MIN;
		r.version = EVIL;
		return ok_with(&r.base);
	}
	if (strcmp(method, "Kinds") == 0) {
		Jobd__V1__KindsReply r = JOBD__V1__KINDS_REPLY__INIT;
		Jobd__V1__Kind k = JOBD__V1__KIND__INIT, *kp[1] = {&k};
		Jobd__V1__Param p = JOBD__V1__PARAM__INIT, *ppp[1] = {&p};
		p.name = EVIL;
		p.type = (Jobd__V1__Param__Type) 42;
		p.default_value = EVIL;
		p.description = EVIL;
		p.min = INT64_MIN;
		p.max = INT64_MAX;
		k.name = EVIL;
		k.description = EVIL;
		k.n_params = 1;
		k.params = ppp;
		r.n_kinds = 1;
		r.kinds = kp;
		return ok_with(&r.base);
	}
	Jobd__V1__PingReply r = JOBD__V1__PING_REPLY__INIT;
	r.version = EVIL;
	r.time_ms = INT64_MIN;
	return ok_with(&r.base);
}

/* The reply to `req` in `mode`; NULL: none. */
static nng_msg *
answer(const char *mode, nng_msg *req)
{
	static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
	static const uint8_t truncated[] = {0x0a, 0x05, 0x01};
	Jobd__V1__Response resp = JOBD__V1__RESPONSE__INIT;
	Jobd__V1__Request *r;
	nng_msg *msg = NULL;

	if (strcmp(mode, "silent") == 0)
		return NULL;
	if (strcmp(mode, "garbage") == 0) {
		if (nng_msg_alloc(&msg, 0) == 0)
			nng_msg_append(msg, garbage, sizeof(garbage));
		return msg;
	}
	if (strcmp(mode, "empty") == 0) {
		nng_msg_alloc(&msg, 0);
		return msg;
	}
	if (strcmp(mode, "badbody") == 0) {
		resp.body.data = (uint8_t *) truncated;
		resp.body.len = sizeof(truncated);
		return msg_of(&resp.base);
	}
	if (strcmp(mode, "code") == 0) {
		resp.code = (Jobd__V1__Code) 99;
		resp.message = "no such code" EVIL;
		return msg_of(&resp.base);
	}
	/* hostile */
	r = jobd__v1__request__unpack(NULL, nng_msg_len(req),
	                              nng_msg_body(req));
	msg = hostile(r != NULL && r->method != NULL ? r->method : "");
	if (r != NULL)
		jobd__v1__request__free_unpacked(r, NULL);
	return msg;
}

int
main(int argc, char **argv)
{
	static const char *const modes[] = {"garbage", "badbody", "code",
	                                    "empty",   "silent",  "hostile"};
	nng_socket sock;
	nng_msg *req, *rep;
	size_t i;
	int rv;

	if (argc != 3) {
		fprintf(stderr, "usage: fake_server URL MODE\n");
		return 2;
	}
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(argv[2], modes[i]) == 0)
			break;
	if (i == sizeof(modes) / sizeof(modes[0])) {
		fprintf(stderr, "fake_server: unknown mode '%s'\n", argv[2]);
		return 2;
	}
	if ((rv = nng_rep0_open(&sock)) != 0 ||
	    (rv = nng_listen(sock, argv[1], NULL, 0)) != 0) {
		fprintf(stderr, "fake_server: cannot listen on '%s': %s\n",
		        argv[1], nng_strerror(rv));
		return 1;
	}
	for (;;) {
		if ((rv = nng_recvmsg(sock, &req, 0)) != 0) {
			fprintf(stderr, "fake_server: %s\n", nng_strerror(rv));
			return 1;
		}
		rep = answer(argv[2], req);
		nng_msg_free(req);
		if (rep != NULL && nng_sendmsg(sock, rep, 0) != 0)
			nng_msg_free(rep);
	}
}

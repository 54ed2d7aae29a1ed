/*
 * conformance_call: one call of a conformance step through the C client
 * library's public API (client/jobd_client.h), its answer as a plain value
 * (tests/conformance_json.c). See tests/test_conformance.c for the runner
 * and for which library call each step makes.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

void
cf_answer_free(struct cf_answer *a)
{
	free(a->msg);
	json_decref(a->value);
	memset(a, 0, sizeof(*a));
}

/* A submit request built from a step's args; owns what it points to
 * except strings, which the args (kept alive meanwhile) own. */
struct sreq {
	Jobd__V1__SubmitRequest r;
	Jobd__V1__SubmitRequest__ParamsEntry *entries;
	Jobd__V1__SubmitRequest__ParamsEntry **ptrs;
	uint64_t *after;
	char key[33];
};

static void
sreq_free(struct sreq *q)
{
	free(q->entries);
	free(q->ptrs);
	free(q->after);
	free(q->r.input.data);
}

/* Fills q from the args of a submit (or a job of a batch): a fresh key
 * when none is given. 0, or -1 with why in err. */
static int
sreq_fill(struct sreq *q, json_t *a, char *err, size_t errlen)
{
	json_t *params = json_object_get(a, "params");
	json_t *input = json_object_get(a, "input");
	json_t *key = json_object_get(a, "idempotency_key");
	json_t *after = json_object_get(a, "after");
	const char *k;
	json_t *v;
	size_t i = 0;

	memset(q, 0, sizeof(*q));
	jobd__v1__submit_request__init(&q->r);
	q->r.kind =
	    (char *) (json_string_value(json_object_get(a, "kind")) ?: "");
	q->r.priority =
	    (int32_t) json_integer_value(json_object_get(a, "priority"));
	q->r.timeout_ms =
	    (uint32_t) json_integer_value(json_object_get(a, "timeout_ms"));
	q->r.max_attempts =
	    (uint32_t) json_integer_value(json_object_get(a, "max_attempts"));
	q->r.run_at_ms = json_integer_value(json_object_get(a, "run_at_ms"));
	q->r.delay_ms =
	    (uint64_t) json_integer_value(json_object_get(a, "delay_ms"));
	q->r.unique_key =
	    (char *) (json_string_value(json_object_get(a, "unique_key"))
	                  ?: "");
	if (json_array_size(after) > 0) {
		size_t n = json_array_size(after);
		if ((q->after = calloc(n, sizeof(*q->after))) == NULL)
			return -1;
		for (size_t j = 0; j < n; j++)
			q->after[j] = (uint64_t) json_integer_value(
			    json_array_get(after, j));
		q->r.n_after = n;
		q->r.after = q->after;
	}
	if (json_is_string(key)) {
		q->r.idempotency_key = (char *) json_string_value(key);
	} else {
		jobd_new_key(q->key);
		q->r.idempotency_key = q->key;
	}
	if (input != NULL) {
		q->r.input.data = cf_data(input, &q->r.input.len, err, errlen);
		if (q->r.input.data == NULL)
			return -1;
	}
	if (json_object_size(params) > 0) {
		size_t n = json_object_size(params);
		q->entries = calloc(n, sizeof(*q->entries));
		q->ptrs = calloc(n, sizeof(*q->ptrs));
		if (q->entries == NULL || q->ptrs == NULL)
			return -1;
		json_object_foreach(params, k, v)
		{
			jobd__v1__submit_request__params_entry__init(
			    &q->entries[i]);
			q->entries[i].key = (char *) k;
			q->entries[i].value =
			    (char *) (json_string_value(v) ?: "");
			q->ptrs[i] = &q->entries[i];
			i++;
		}
		q->r.n_params = n;
		q->r.params = q->ptrs;
	}
	return 0;
}

/* The uint64 of an id argument (already resolved). */
static uint64_t
id_of(json_t *v)
{
	return (uint64_t) json_integer_value(v);
}

void
cf_call(jobd_client *c, const char *method, json_t *args, bool has_deadline,
        uint32_t deadline_ms, uint32_t long_wait_ms, struct cf_answer *ans)
{
	ProtobufCMessage *reply = NULL;
	const ProtobufCMessageDescriptor *desc = NULL;
	const char *wire = NULL;
	char err[256] = "";
	struct sreq one, *many = NULL;
	size_t n_many = 0;
	uint64_t *ids = NULL;
	size_t n_ids = 0;
	bool unwrap = false, sent = false;
	int st = JOBD_INVALID_ARGUMENT;
	union {
		Jobd__V1__SubmitBatchRequest batch;
		Jobd__V1__GetRequest get;
		Jobd__V1__WaitRequest wait;
		Jobd__V1__CancelRequest cancel;
		Jobd__V1__ListRequest list;
		Jobd__V1__StatsRequest stats;
		Jobd__V1__KindsRequest kinds;
		Jobd__V1__PingRequest ping;
		Jobd__V1__RetryRequest retry;
		Jobd__V1__PauseRequest pause;
		Jobd__V1__ResumeRequest resume;
		Jobd__V1__SchedulesRequest schedules;
	} u;
	ProtobufCMessage *req = NULL;
	Jobd__V1__SubmitRequest **many_ptrs = NULL;

	memset(&one, 0, sizeof(one));
	memset(ans, 0, sizeof(*ans));
#define TYPED(call) st = (call), reply = (ProtobufCMessage *) rep_, sent = true
	if (strcmp(method, "submit") == 0) {
		wire = "Submit";
		desc = &jobd__v1__submit_reply__descriptor;
		if (sreq_fill(&one, args, err, sizeof(err)) != 0)
			goto refused;
		req = &one.r.base;
		if (!has_deadline) {
			Jobd__V1__SubmitReply *rep_ = NULL;
			TYPED(jobd_submit(c, &one.r, &rep_));
		}
	} else if (strcmp(method, "submit_batch") == 0) {
		json_t *jobs = json_object_get(args, "jobs");
		wire = "SubmitBatch";
		desc = &jobd__v1__submit_batch_reply__descriptor;
		n_many = json_array_size(jobs);
		many = calloc(n_many + 1, sizeof(*many));
		many_ptrs = calloc(n_many + 1, sizeof(*many_ptrs));
		if (many == NULL || many_ptrs == NULL)
			goto refused;
		for (size_t i = 0; i < n_many; i++) {
			if (sreq_fill(&many[i], json_array_get(jobs, i), err,
			              sizeof(err)) != 0)
				goto refused;
			many_ptrs[i] = &many[i].r;
		}
		jobd__v1__submit_batch_request__init(&u.batch);
		u.batch.n_jobs = n_many;
		u.batch.jobs = many_ptrs;
		req = &u.batch.base;
		if (!has_deadline) {
			Jobd__V1__SubmitBatchReply *rep_ = NULL;
			TYPED(jobd_submit_batch(c, &u.batch, &rep_));
		}
	} else if (strcmp(method, "get") == 0) {
		json_t *l = json_object_get(args, "ids");
		wire = "Get";
		desc = &jobd__v1__get_reply__descriptor;
		n_ids = json_array_size(l);
		if ((ids = calloc(n_ids + 1, sizeof(*ids))) == NULL)
			goto refused;
		for (size_t i = 0; i < n_ids; i++)
			ids[i] = id_of(json_array_get(l, i));
		jobd__v1__get_request__init(&u.get);
		u.get.n_ids = n_ids;
		u.get.ids = ids;
		req = &u.get.base;
		if (!has_deadline) {
			Jobd__V1__GetReply *rep_ = NULL;
			TYPED(jobd_get(c, ids, n_ids, &rep_));
		}
	} else if (strcmp(method, "wait") == 0) {
		Jobd__V1__WaitReply *rep_ = NULL;
		uint32_t dl = has_deadline ? deadline_ms : long_wait_ms;
		desc = &jobd__v1__wait_reply__descriptor;
		unwrap = true;
		TYPED(jobd_wait(c, id_of(json_object_get(args, "id")), dl,
		                &rep_));
	} else if (strcmp(method, "cancel") == 0) {
		wire = "Cancel";
		desc = &jobd__v1__cancel_reply__descriptor;
		unwrap = true;
		jobd__v1__cancel_request__init(&u.cancel);
		u.cancel.id = id_of(json_object_get(args, "id"));
		req = &u.cancel.base;
		if (!has_deadline) {
			Jobd__V1__CancelReply *rep_ = NULL;
			TYPED(jobd_cancel(c, u.cancel.id, &rep_));
		}
	} else if (strcmp(method, "list") == 0) {
		const char *state =
		    json_string_value(json_object_get(args, "state"));
		wire = "List";
		desc = &jobd__v1__list_reply__descriptor;
		jobd__v1__list_request__init(&u.list);
		if (state != NULL) {
			char name[64];
			size_t i =
			    (size_t) snprintf(name, sizeof(name), "JOB_STATE_");
			for (; *state != '\0' && i + 1 < sizeof(name); state++)
				name[i++] =
				    (char) toupper((unsigned char) *state);
			name[i] = '\0';
			const ProtobufCEnumValue *ev =
			    protobuf_c_enum_descriptor_get_value_by_name(
			        &jobd__v1__job_state__descriptor, name);
			if (ev == NULL) {
				snprintf(err, sizeof(err),
				         "unknown state in %s", name);
				goto refused;
			}
			u.list.state = (Jobd__V1__JobState) ev->value;
		}
		u.list.kind =
		    (char *) (json_string_value(json_object_get(args, "kind"))
		                  ?: "");
		u.list.limit = (uint32_t) json_integer_value(
		    json_object_get(args, "limit"));
		u.list.cursor = id_of(json_object_get(args, "cursor"));
		req = &u.list.base;
		if (!has_deadline) {
			Jobd__V1__ListReply *rep_ = NULL;
			TYPED(jobd_list(c, &u.list, &rep_));
		}
	} else if (strcmp(method, "retry") == 0) {
		wire = "Retry";
		desc = &jobd__v1__retry_reply__descriptor;
		unwrap = true;
		jobd__v1__retry_request__init(&u.retry);
		u.retry.id = id_of(json_object_get(args, "id"));
		req = &u.retry.base;
	} else if (strcmp(method, "pause") == 0 ||
	           strcmp(method, "resume") == 0) {
		char *kind =
		    (char *) (json_string_value(json_object_get(args, "kind"))
		                  ?: "");
		if (method[0] == 'p') {
			wire = "Pause";
			desc = &jobd__v1__pause_reply__descriptor;
			jobd__v1__pause_request__init(&u.pause);
			u.pause.kind = kind;
			req = &u.pause.base;
		} else {
			wire = "Resume";
			desc = &jobd__v1__resume_reply__descriptor;
			jobd__v1__resume_request__init(&u.resume);
			u.resume.kind = kind;
			req = &u.resume.base;
		}
	} else if (strcmp(method, "schedules") == 0) {
		wire = "Schedules";
		desc = &jobd__v1__schedules_reply__descriptor;
		jobd__v1__schedules_request__init(&u.schedules);
		req = &u.schedules.base;
	} else if (strcmp(method, "stats") == 0) {
		wire = "Stats";
		desc = &jobd__v1__stats_reply__descriptor;
		jobd__v1__stats_request__init(&u.stats);
		req = &u.stats.base;
		if (!has_deadline) {
			Jobd__V1__StatsReply *rep_ = NULL;
			TYPED(jobd_stats(c, &rep_));
		}
	} else if (strcmp(method, "kinds") == 0) {
		wire = "Kinds";
		desc = &jobd__v1__kinds_reply__descriptor;
		jobd__v1__kinds_request__init(&u.kinds);
		req = &u.kinds.base;
		if (!has_deadline) {
			Jobd__V1__KindsReply *rep_ = NULL;
			TYPED(jobd_kinds(c, &rep_));
		}
	} else if (strcmp(method, "ping") == 0) {
		json_t *payload = json_object_get(args, "payload");
		wire = "Ping";
		desc = &jobd__v1__ping_reply__descriptor;
		jobd__v1__ping_request__init(&u.ping);
		req = &u.ping.base;
		if (payload != NULL) {
			u.ping.payload.data = cf_data(
			    payload, &u.ping.payload.len, err, sizeof(err));
			if (u.ping.payload.data == NULL)
				goto refused;
			/* jobd_ping() sends no payload: the generic call,
			 * with deadline 0 (the client's timeout) if none */
			has_deadline = true;
		} else if (!has_deadline) {
			Jobd__V1__PingReply *rep_ = NULL;
			TYPED(jobd_ping(c, &rep_));
		}
	} else {
		snprintf(err, sizeof(err), "unknown method '%s'", method);
		goto refused;
	}
#undef TYPED
	/* the generic call: with the step's deadline, or for a method
	 * without a typed call here (deadline 0: the client's default) */
	if (wire != NULL && !sent)
		st = jobd_call(c, wire, req, desc, &reply,
		               has_deadline ? deadline_ms : 0);

	ans->status = st;
	ans->msg = strdup(st == JOBD_OK ? "" : jobd_client_errmsg());
	if (st == JOBD_OK && reply != NULL) {
		json_t *v = cf_from_message(reply);
		if (unwrap) {
			ans->value = json_incref(json_object_get(v, "job"));
			json_decref(v);
		} else {
			ans->value = v;
		}
	}
	goto out;
refused:
	/* a step the runner cannot send: a scenario's mistake */
	ans->status = -1;
	ans->msg = strdup(err[0] != '\0' ? err : "out of memory");
out:
	if (reply != NULL)
		protobuf_c_message_free_unpacked(reply, NULL);
	sreq_free(&one);
	for (size_t i = 0; many != NULL && i < n_many; i++)
		sreq_free(&many[i]);
	free(many);
	free(many_ptrs);
	free(ids);
	if (strcmp(method, "ping") == 0)
		free(u.ping.payload.data);
}

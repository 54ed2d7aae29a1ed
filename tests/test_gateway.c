/*
 * The JSON API's mapping without a listener (daemon/gateway.c): the route
 * table (paths, variables, 404 and 405), the Request envelope made of a
 * route, a body, a path variable and a query, the reply of a Response, the
 * status of each code, and Grpc-Timeout. The same routes through a real
 * jobd and curl: tests/test_http.sh.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "jobd.pb-c.h"
#include "jobd_status.h"
#include "test.h"

static const ProtobufCServiceDescriptor *sd = &jobd__v1__jobs__descriptor;

/* The RPC a method and path find, or why not ("404", "405 ALLOW"). */
static const char *
route(const char *method, const char *path, char var[GW_VAR_MAX])
{
	static char out[320];
	const struct gw_route *r;
	const char *allow;
	uint8_t *env;
	size_t envlen;
	char msg[256];

	switch (gw_route(method, path, &r, var, &allow)) {
	case GW_NO_PATH:
		return "404";
	case GW_BAD_METHOD:
		snprintf(out, sizeof(out), "405 %s", allow);
		return out;
	case GW_FOUND:
		break;
	}
	/* the method's name, through the envelope it makes */
	struct gw_meta meta = {0, NULL, NULL};
	if (gw_request(sd, r, var, NULL, NULL, 0, &meta, &env, &envlen, msg,
	               sizeof(msg)) != JOBD_OK) {
		snprintf(out, sizeof(out), "error %s", msg);
		return out;
	}
	Jobd__V1__Request *req = jobd__v1__request__unpack(NULL, envlen, env);
	snprintf(out, sizeof(out), "%s", req ? req->method : "?");
	jobd__v1__request__free_unpacked(req, NULL);
	free(env);
	return out;
}

static void
test_routes(void)
{
	char var[GW_VAR_MAX];

	CHECK_EQ_STR(route("GET", "/v1/ping", var), "Ping");
	CHECK_EQ_STR(route("POST", "/v1/jobs", var), "Submit");
	CHECK_EQ_STR(route("GET", "/v1/jobs", var), "List");
	CHECK_EQ_STR(route("POST", "/v1/jobs:batch", var), "SubmitBatch");
	CHECK_EQ_STR(route("GET", "/v1/jobs/12", var), "Get");
	CHECK_EQ_STR(var, "12");
	CHECK_EQ_STR(route("GET", "/v1/jobs/12:wait", var), "Wait");
	CHECK_EQ_STR(route("POST", "/v1/jobs/12:wait", var), "Wait");
	CHECK_EQ_STR(route("POST", "/v1/jobs/12:cancel", var), "Cancel");
	CHECK_EQ_STR(route("POST", "/v1/jobs/12:retry", var), "Retry");
	CHECK_EQ_STR(route("GET", "/v1/stats", var), "Stats");
	CHECK_EQ_STR(route("GET", "/v1/kinds", var), "Kinds");
	CHECK_EQ_STR(route("POST", "/v1/kinds/sleep:pause", var), "Pause");
	CHECK_EQ_STR(var, "sleep");
	CHECK_EQ_STR(route("POST", "/v1/kinds/a%2Db:resume", var), "Resume");
	CHECK_EQ_STR(var, "a-b");
	CHECK_EQ_STR(route("GET", "/v1/schedules", var), "Schedules");
	CHECK_EQ_STR(route("POST", "/jobd.v1.Jobs/Stats", var), "Stats");

	CHECK_EQ_STR(route("GET", "/v1/nosuch", var), "404");
	CHECK_EQ_STR(route("GET", "/v1/jobs/", var), "404");
	CHECK_EQ_STR(route("GET", "/v1/jobs/1/2", var), "404");
	CHECK_EQ_STR(route("POST", "/v1/jobs/1:frob", var), "404");
	CHECK_EQ_STR(route("GET", "/v1/jobs/1%zz", var), "404");
	CHECK_EQ_STR(route("GET", "/v1/jobs/1%00", var), "404");
	CHECK_EQ_STR(route("GET", "/v1/pings", var), "404");
	CHECK_EQ_STR(route("DELETE", "/v1/jobs", var), "405 GET, POST");
	CHECK_EQ_STR(route("GET", "/v1/jobs/1:cancel", var), "405 POST");
	CHECK_EQ_STR(route("POST", "/v1/stats", var), "405 GET");
	CHECK_EQ_STR(route("HEAD", "/v1/stats", var), "405 GET");
	CHECK_EQ_STR(route("GET", "/jobd.v1.Jobs/Stats", var), "405 POST");
	CHECK(strncmp(route("POST", "/jobd.v1.Jobs/Nosuch", var),
	              "error unknown method 'Nosuch'", 29) == 0);
}

/* The envelope of a List with a body and a query. */
static void
test_request(void)
{
	const struct gw_route *r;
	const char *allow;
	char var[GW_VAR_MAX], msg[256];
	uint8_t *env;
	size_t envlen;
	struct gw_meta meta = {1500, "Bearer x", "curl/8"};
	const char *body = "{\"kind\":\"count\",\"priority\":3}";

	REQUIRE(gw_route("POST", "/v1/jobs", &r, var, &allow) == GW_FOUND);
	REQUIRE(gw_request(sd, r, var, "priority=7&max_attempts=2", body,
	                   strlen(body), &meta, &env, &envlen, msg,
	                   sizeof(msg)) == JOBD_OK);
	Jobd__V1__Request *req = jobd__v1__request__unpack(NULL, envlen, env);
	REQUIRE(req != NULL);
	CHECK_EQ_STR(req->method, "Submit");
	CHECK_EQ_INT(req->deadline_ms, 1500);
	REQUIRE(req->n_metadata == 2);
	CHECK_EQ_STR(req->metadata[0]->key, "authorization");
	CHECK_EQ_STR(req->metadata[0]->value, "Bearer x");
	CHECK_EQ_STR(req->metadata[1]->key, "user-agent");
	Jobd__V1__SubmitRequest *s = jobd__v1__submit_request__unpack(
	    NULL, req->body.len, req->body.data);
	REQUIRE(s != NULL);
	CHECK_EQ_STR(s->kind, "count");
	CHECK_EQ_INT(s->priority, 7); /* the query wins over the body */
	CHECK_EQ_INT(s->max_attempts, 2);
	jobd__v1__submit_request__free_unpacked(s, NULL);
	jobd__v1__request__free_unpacked(req, NULL);
	free(env);

	/* refusals name the field or the parameter */
	meta.authorization = meta.user_agent = NULL;
	CHECK_EQ_INT(gw_request(sd, r, var, NULL, "{\"kind\":1}", 10, &meta,
	                        &env, &envlen, msg, sizeof(msg)),
	             JOBD_INVALID_ARGUMENT);
	CHECK(strstr(msg, "kind") != NULL);
	CHECK_EQ_INT(gw_request(sd, r, var, "a%zz=1", NULL, 0, &meta, &env,
	                        &envlen, msg, sizeof(msg)),
	             JOBD_INVALID_ARGUMENT);
	CHECK(strstr(msg, "percent-encoding") != NULL);
	CHECK_EQ_INT(gw_request(sd, r, var, NULL, "{\"kind\":\"a\"} x", 14,
	                        &meta, &env, &envlen, msg, sizeof(msg)),
	             JOBD_INVALID_ARGUMENT);
	CHECK(strstr(msg, "invalid JSON") != NULL);
	REQUIRE(gw_route("GET", "/v1/jobs/x7", &r, var, &allow) == GW_FOUND);
	CHECK_EQ_INT(gw_request(sd, r, var, NULL, NULL, 0, &meta, &env, &envlen,
	                        msg, sizeof(msg)),
	             JOBD_INVALID_ARGUMENT);
	CHECK(strncmp(msg, "ids: ", 5) == 0);
}

static void
test_reply(void)
{
	Jobd__V1__Response resp = JOBD__V1__RESPONSE__INIT;
	Jobd__V1__CancelReply cr = JOBD__V1__CANCEL_REPLY__INIT;
	Jobd__V1__Job job = JOBD__V1__JOB__INIT;
	uint8_t body[256], buf[512];
	size_t len;
	int status;
	char *json;
	unsigned cancel = 0;

	for (unsigned i = 0; i < sd->n_methods; i++)
		if (strcmp(sd->methods[i].name, "Cancel") == 0)
			cancel = i;
	job.id = 18446744073709551615ULL;
	job.kind = "count";
	job.state = JOBD__V1__JOB_STATE__JOB_STATE_CANCELLED;
	cr.job = &job;
	resp.body.len = jobd__v1__cancel_reply__pack(&cr, body);
	resp.body.data = body;
	len = jobd__v1__response__pack(&resp, buf);
	json = gw_reply(sd, cancel, buf, len, &status, &len);
	REQUIRE(json != NULL);
	CHECK_EQ_INT(status, 200);
	CHECK(strstr(json, "\"id\":\"18446744073709551615\"") != NULL);
	CHECK(strstr(json, "\"state\":\"JOB_STATE_CANCELLED\"") != NULL);
	CHECK_EQ_INT(len, strlen(json));
	free(json);

	resp.code = JOBD__V1__CODE__NOT_FOUND;
	resp.message = "job 42 not found\n\x01";
	resp.body.len = 0;
	len = jobd__v1__response__pack(&resp, buf);
	json = gw_reply(sd, cancel, buf, len, &status, &len);
	REQUIRE(json != NULL);
	CHECK_EQ_INT(status, 404);
	CHECK_EQ_STR(json, "{\"code\":5,\"status\":\"NOT_FOUND\","
	                   "\"message\":\"job 42 not found??\"}");
	free(json);

	json = gw_reply(sd, cancel, (const uint8_t *) "\xff\xff", 2, &status,
	                &len);
	REQUIRE(json != NULL);
	CHECK_EQ_INT(status, 500);
	free(json);
}

static void
test_status(void)
{
	static const int want[][2] = {
	    {JOBD_OK, 200},
	    {JOBD_CANCELLED, 499},
	    {JOBD_UNKNOWN, 500},
	    {JOBD_INVALID_ARGUMENT, 400},
	    {JOBD_DEADLINE_EXCEEDED, 504},
	    {JOBD_NOT_FOUND, 404},
	    {JOBD_ALREADY_EXISTS, 409},
	    {JOBD_PERMISSION_DENIED, 403},
	    {JOBD_RESOURCE_EXHAUSTED, 429},
	    {JOBD_FAILED_PRECONDITION, 400},
	    {JOBD_ABORTED, 409},
	    {JOBD_OUT_OF_RANGE, 400},
	    {JOBD_UNIMPLEMENTED, 501},
	    {JOBD_INTERNAL, 500},
	    {JOBD_UNAVAILABLE, 503},
	    {JOBD_DATA_LOSS, 500},
	    {JOBD_UNAUTHENTICATED, 401},
	    {99, 500},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK_EQ_INT(gw_http_status(want[i][0]), want[i][1]);
}

static void
test_timeout(void)
{
	uint32_t ms = 0;
	char msg[128];

	CHECK(gw_timeout("5S", 86400000, &ms, msg, sizeof(msg)) == JOBD_OK);
	CHECK_EQ_INT(ms, 5000);
	CHECK(gw_timeout("2M", 86400000, &ms, msg, sizeof(msg)) == JOBD_OK);
	CHECK_EQ_INT(ms, 120000);
	CHECK(gw_timeout("24H", 86400000, &ms, msg, sizeof(msg)) == JOBD_OK);
	CHECK_EQ_INT(ms, 86400000);
	CHECK(gw_timeout("300m", 86400000, &ms, msg, sizeof(msg)) == JOBD_OK);
	CHECK_EQ_INT(ms, 300);
	CHECK(gw_timeout("1500u", 86400000, &ms, msg, sizeof(msg)) == JOBD_OK);
	CHECK_EQ_INT(ms, 2); /* rounded up */
	CHECK(gw_timeout("1n", 86400000, &ms, msg, sizeof(msg)) == JOBD_OK);
	CHECK_EQ_INT(ms, 1);
	CHECK(gw_timeout("0m", 86400000, &ms, msg, sizeof(msg)) == JOBD_OK);
	CHECK_EQ_INT(ms, 1); /* 0 would be "none" */
	CHECK(gw_timeout("25H", 86400000, &ms, msg, sizeof(msg)) ==
	      JOBD_INVALID_ARGUMENT);
	CHECK(gw_timeout("123456789S", 86400000, &ms, msg, sizeof(msg)) ==
	      JOBD_INVALID_ARGUMENT);
	const char *bad[] = {"", "S", "5", "5s", "5SS", "-5S", "5 S", "1.5S"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(gw_timeout(bad[i], 86400000, &ms, msg, sizeof(msg)) ==
		      JOBD_INVALID_ARGUMENT);
}

TEST_MAIN({"routes", test_routes}, {"request", test_request},
          {"reply", test_reply}, {"status", test_status},
          {"timeout", test_timeout})

/*
 * Tests of token authentication: the token file's rules (auth_load), the
 * comparison (auth_check), and the check in rpc_dispatch before any method
 * runs, against a service of one test handler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "capture.h"
#include "jobd.pb-c.h"
#include "rpc.h"
#include "test.h"

static char dir[64]; /* made on first use, removed at exit */

static void
cleanup(void)
{
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void
make_dir(void)
{
	if (dir[0] != '\0')
		return;
	snprintf(dir, sizeof(dir), "/tmp/jobd-auth-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	atexit(cleanup);
}

/* Writes `len` bytes of `text` to dir/name with `mode`; the path in path. */
static void
write_file(char *path, size_t n, const char *name, const char *text, size_t len,
           mode_t mode)
{
	FILE *f;

	make_dir();
	snprintf(path, n, "%s/%s", dir, name);
	REQUIRE((f = fopen(path, "w")) != NULL);
	REQUIRE(fwrite(text, 1, len, f) == len);
	fclose(f);
	REQUIRE(chmod(path, mode) == 0);
}

/* auth_load of a file holding `text`; its status, the message in err. */
static int
load(struct auth *a, const char *text, mode_t mode, char *err, size_t errlen)
{
	char path[128];

	write_file(path, sizeof(path), "token", text, strlen(text), mode);
	err[0] = '\0';
	return auth_load(a, path, err, errlen);
}

static void
test_token_file(void)
{
	struct auth a;
	char err[512];

	CHECK_EQ_INT(
	    load(&a, "s3cret-token-0123456789\n", 0600, err, sizeof(err)),
	    JOBD_OK);
	CHECK(auth_check(&a, "Bearer s3cret-token-0123456789"));
	/* CRLF is taken off too, and no newline is fine */
	CHECK_EQ_INT(
	    load(&a, "s3cret-token-0123456789\r\n", 0600, err, sizeof(err)),
	    JOBD_OK);
	CHECK(auth_check(&a, "Bearer s3cret-token-0123456789"));
	CHECK_EQ_INT(
	    load(&a, "s3cret-token-0123456789", 0400, err, sizeof(err)),
	    JOBD_OK);
	CHECK(auth_check(&a, "Bearer s3cret-token-0123456789"));
	/* group-readable: a warning, not a refusal */
	CHECK_EQ_INT(
	    load(&a, "s3cret-token-0123456789", 0640, err, sizeof(err)),
	    JOBD_OK);
}

static void
test_token_file_refused(void)
{
	static const struct {
		const char *text;
		mode_t mode;
		const char *msg; /* in the message, after the file's name */
	} cases[] = {
	    {"", 0600, "' is empty"},
	    {"\n", 0600, "' is empty"},
	    {"\r\n", 0600, "' is empty"},
	    {"two words", 0600, "holds a space"},
	    {"two\nlines", 0600, "holds a space"},
	    {"tab\there", 0600, "holds a space"},
	    {"caf\xc3\xa9", 0600, "non-ASCII"},
	    {"s3cret-token-0123456789", 0644, "readable by others"},
	    {"s3cret-token-0123456789", 0604, "readable by others"},
	};
	struct auth a;
	char err[512], want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ_INT(
		    load(&a, cases[i].text, cases[i].mode, err, sizeof(err)),
		    JOBD_INVALID_ARGUMENT);
		snprintf(want, sizeof(want), "token file '%s/token", dir);
		if (strstr(err, want) == NULL ||
		    strstr(err, cases[i].msg) == NULL)
			TEST_FAIL_("case %zu: message '%s' lacks '%s' or '%s'",
			           i, err, want, cases[i].msg);
	}
}

static void
test_token_file_unusable(void)
{
	struct auth a;
	char err[512], path[128], *big;

	make_dir();
	snprintf(path, sizeof(path), "%s/none", dir);
	CHECK(auth_load(&a, path, err, sizeof(err)) != JOBD_OK);
	CHECK(strstr(err, "cannot read token file '") != NULL);
	CHECK(strstr(err, path) != NULL);

	CHECK(auth_load(&a, dir, err, sizeof(err)) != JOBD_OK);
	CHECK(strstr(err, "is not a regular file") != NULL);

	REQUIRE((big = malloc(AUTH_MAX_TOKEN + 10)) != NULL);
	memset(big, 'x', AUTH_MAX_TOKEN + 9);
	big[AUTH_MAX_TOKEN + 9] = '\0';
	CHECK(load(&a, big, 0600, err, sizeof(err)) != JOBD_OK);
	CHECK(strstr(err, "bytes") != NULL);
	big[AUTH_MAX_TOKEN] = '\0'; /* the longest token is fine */
	CHECK_EQ_INT(load(&a, big, 0600, err, sizeof(err)), JOBD_OK);
	free(big);
}

static void
test_check(void)
{
	struct auth a;
	char err[512], *huge;

	REQUIRE(load(&a, "abcdefghijklmnopqrstuvwxyz", 0600, err,
	             sizeof(err)) == JOBD_OK);
	CHECK(auth_check(&a, "Bearer abcdefghijklmnopqrstuvwxyz"));
	CHECK(!auth_check(&a, NULL));
	CHECK(!auth_check(&a, ""));
	CHECK(!auth_check(&a, "abcdefghijklmnopqrstuvwxyz"));
	CHECK(!auth_check(&a, "bearer abcdefghijklmnopqrstuvwxyz"));
	CHECK(!auth_check(&a, "Bearer  abcdefghijklmnopqrstuvwxyz"));
	CHECK(!auth_check(&a, "Bearer abcdefghijklmnopqrstuvwxy"));
	CHECK(!auth_check(&a, "Bearer abcdefghijklmnopqrstuvwxyz "));
	CHECK(!auth_check(&a, "Bearer abcdefghijklmnopqrstuvwxyZ"));
	CHECK(!auth_check(&a, "Bearer Abcdefghijklmnopqrstuvwxyz"));
	/* a value longer than any token is refused, and does not crash */
	REQUIRE((huge = malloc(3 * AUTH_MAX_TOKEN)) != NULL);
	memset(huge, 'a', 3 * AUTH_MAX_TOKEN - 1);
	huge[3 * AUTH_MAX_TOKEN - 1] = '\0';
	CHECK(!auth_check(&a, huge));
	free(huge);
}

/* ---- the check in rpc_dispatch ---- */

static int ncalls;

static void
fake_ping(Jobd__V1__Jobs_Service *svc, const Jobd__V1__PingRequest *in,
          Jobd__V1__PingReply_Closure closure, void *arg)
{
	Jobd__V1__PingReply rep = JOBD__V1__PING_REPLY__INIT;
	(void) svc;
	(void) in;
	ncalls++;
	rep.version = "test";
	closure(&rep, arg);
}

#define fake_submit       NULL
#define fake_get          NULL
#define fake_wait         NULL
#define fake_cancel       NULL
#define fake_list         NULL
#define fake_stats        NULL
#define fake_kinds        NULL
#define fake_submit_batch NULL
#define fake_retry        NULL
#define fake_pause        NULL
#define fake_resume       NULL
#define fake_schedules    NULL

static Jobd__V1__Jobs_Service fake = JOBD__V1__JOBS__INIT(fake_);

/*
 * Dispatches a call of `method` whose metadata are the n (key, value)
 * pairs in kv, with token auth `a` (NULL: none); the reply's code, or -1
 * when there was none.
 */
static int
dispatch(const struct auth *a, const char *method, const char *const *kv,
         size_t n, char *msg, size_t msglen)
{
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	Jobd__V1__PingRequest ping = JOBD__V1__PING_REQUEST__INIT;
	Jobd__V1__Request__MetadataEntry md[4], *mds[4];
	uint8_t body[16], *buf;
	struct sent s;
	size_t len;
	int code = -1;

	for (size_t i = 0; i < n && i < 4; i++) {
		jobd__v1__request__metadata_entry__init(&md[i]);
		md[i].key = (char *) kv[2 * i];
		md[i].value = (char *) kv[2 * i + 1];
		mds[i] = &md[i];
	}
	req.n_metadata = n;
	req.metadata = mds;
	req.method = (char *) method;
	req.body.len = jobd__v1__ping_request__pack(&ping, body);
	req.body.data = body;
	buf = malloc(jobd__v1__request__get_packed_size(&req) + 1);
	REQUIRE(buf != NULL);
	len = jobd__v1__request__pack(&req, buf);

	memset(&s, 0, sizeof(s));
	s.call.send = capture;
	s.call.auth = a;
	rpc_dispatch(&fake.base, &s.call, buf, len);
	free(buf);
	CHECK_EQ_INT(s.nsent, 1);
	msg[0] = '\0';
	if (s.resp != NULL) {
		code = (int) s.resp->code;
		snprintf(msg, msglen, "%s", s.resp->message);
		jobd__v1__response__free_unpacked(s.resp, NULL);
	}
	return code;
}

static void
test_dispatch(void)
{
	static const char *const none[] = {NULL};
	static const char *const right[] = {"authorization",
	                                    "Bearer 0123456789abcdef-token"};
	static const char *const wrong[] = {"authorization",
	                                    "Bearer 0123456789abcdef-tokeN"};
	static const char *const bare[] = {"authorization",
	                                   "0123456789abcdef-token"};
	static const char *const twice[] = {
	    "authorization", "Bearer 0123456789abcdef-token", "authorization",
	    "Bearer 0123456789abcdef-token"};
	static const char *const other_key[] = {
	    "token", "Bearer 0123456789abcdef-token", "user-agent", "t"};
	struct auth a;
	char err[512], msg[300];

	REQUIRE(load(&a, "0123456789abcdef-token\n", 0600, err, sizeof(err)) ==
	        JOBD_OK);

	ncalls = 0;
	CHECK_EQ_INT(dispatch(&a, "Ping", none, 0, msg, sizeof(msg)),
	             JOBD_UNAUTHENTICATED);
	CHECK(strstr(msg, "missing token") != NULL);
	CHECK(strstr(msg, "authorization") != NULL);
	CHECK_EQ_INT(dispatch(&a, "Ping", wrong, 1, msg, sizeof(msg)),
	             JOBD_UNAUTHENTICATED);
	CHECK(strstr(msg, "invalid token") != NULL);
	CHECK(strstr(msg, "tokeN") == NULL); /* never echoed */
	CHECK_EQ_INT(dispatch(&a, "Ping", bare, 1, msg, sizeof(msg)),
	             JOBD_UNAUTHENTICATED);
	CHECK_EQ_INT(dispatch(&a, "Ping", twice, 2, msg, sizeof(msg)),
	             JOBD_UNAUTHENTICATED);
	CHECK(strstr(msg, "more than one") != NULL);
	CHECK_EQ_INT(dispatch(&a, "Ping", other_key, 2, msg, sizeof(msg)),
	             JOBD_UNAUTHENTICATED);
	/* checked before the method is looked up */
	CHECK_EQ_INT(dispatch(&a, "NoSuchMethod", none, 0, msg, sizeof(msg)),
	             JOBD_UNAUTHENTICATED);
	CHECK_EQ_INT(ncalls, 0); /* no handler ran */

	CHECK_EQ_INT(dispatch(&a, "Ping", right, 1, msg, sizeof(msg)), JOBD_OK);
	CHECK_EQ_INT(
	    dispatch(&a, "/jobd.v1.Jobs/Ping", right, 1, msg, sizeof(msg)),
	    JOBD_OK);
	CHECK_EQ_INT(ncalls, 2);
	CHECK_EQ_INT(dispatch(&a, "NoSuchMethod", right, 1, msg, sizeof(msg)),
	             JOBD_UNIMPLEMENTED);

	/* without a token configured nothing is checked */
	CHECK_EQ_INT(dispatch(NULL, "Ping", none, 0, msg, sizeof(msg)),
	             JOBD_OK);
	CHECK_EQ_INT(dispatch(NULL, "Ping", wrong, 1, msg, sizeof(msg)),
	             JOBD_OK);
	CHECK_EQ_INT(ncalls, 4);
}

TEST_MAIN({"token_file", test_token_file},
          {"token_file_refused", test_token_file_refused},
          {"token_file_unusable", test_token_file_unusable},
          {"check", test_check}, {"dispatch", test_dispatch})

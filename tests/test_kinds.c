/*
 * Tests of the job kinds: known answers for every kind, progress reports,
 * stopping on request, and parameter validation.
 */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "jobd_status.h"
#include "registry.h"
#include "run.h"
#include "test.h"

#define P(n, v)                                                                \
	{                                                                      \
		.name = (char *) (n), .value = (char *) (v)                    \
	}
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000);
}

/* The built-in kinds, loaded once. */
static kindset *builtins;

static void __attribute__((destructor)) builtins_free(void)
{
	kindset_unref(builtins);
}

/* The built-in kind `name`, or NULL. */
static const struct jobd_kind *
kind_find(const char *name)
{
	const struct kind_def *d;
	char err[256];

	if (builtins == NULL)
		REQUIRE(kindset_load(&builtins, NULL, err, sizeof(err)) ==
		        JOBD_OK);
	d = kindset_find(builtins, name);
	return d != NULL ? d->k : NULL;
}

/* Parameter `name` of r as the host gives it to kind k. */
static int64_t
pint(struct jobd_job *r, const struct jobd_kind *k, const char *name)
{
	r->kind = k;
	return kind_host.param_int(r, name);
}

static const char *
pstr(struct jobd_job *r, const struct jobd_kind *k, const char *name)
{
	r->kind = k;
	return kind_host.param(r, name);
}

/* What a progress callback saw. stop_after > 0: answer "stop" from call
 * number stop_after + 1 on. */
struct prog {
	unsigned calls;
	unsigned stop_after;
	uint64_t last_done;
	uint64_t total;
	bool total_changed;
	bool went_back;
};

static int
prog_cb(void *arg, uint64_t done, uint64_t total)
{
	struct prog *p = arg;

	if (p->calls > 0) {
		if (done < p->last_done)
			p->went_back = true;
		if (total != p->total)
			p->total_changed = true;
	}
	p->calls++;
	p->last_done = done;
	p->total = total;
	return (p->stop_after > 0 && p->calls > p->stop_after);
}

/* Validates, then runs kind `name`; the caller frees r->result. */
static int
run(const char *name, const struct job_param *params, size_t nparams,
    const char *input, size_t input_len, struct prog *prog, struct jobd_job *r)
{
	static struct prog dummy;
	const struct jobd_kind *k = kind_find(name);
	char err[256];

	REQUIRE(k != NULL);
	memset(r, 0, sizeof(*r));
	r->kind = k;
	r->id = 1;
	r->attempt = 1;
	r->params = params;
	r->nparams = nparams;
	r->input = (const uint8_t *) input;
	r->input_len = input_len;
	r->progress = prog_cb;
	r->progress_arg = prog != NULL ? prog : &dummy;
	if (kind_validate(k, params, nparams, input_len, err, sizeof(err)) !=
	    JOBD_OK) {
		TEST_FAIL_("validate %s: %s", name, err);
		longjmp(test_jmp, 1);
	}
	return kind_run(r);
}

/* Runs a kind expected to succeed and compares its result text. */
static void
check_result(const char *name, const struct job_param *params, size_t nparams,
             const char *input, size_t input_len, const char *want)
{
	struct jobd_job r;
	int o;

	o = run(name, params, nparams, input, input_len, NULL, &r);
	CHECK_EQ_INT(o, JOBD_RUN_OK);
	REQUIRE(r.result != NULL);
	CHECK_EQ_INT(r.result_len, strlen(want));
	CHECK(memcmp(r.result, want, strlen(want)) == 0);
	if (r.result_len != strlen(want) ||
	    memcmp(r.result, want, strlen(want)) != 0)
		fprintf(stderr, "  %s: got '%.*s', want '%s'\n", name,
		        (int) r.result_len, (const char *) r.result, want);
	free(r.result);
}

static void
test_table(void)
{
	static const char *names[] = {"count", "primes", "sha256", "sleep",
	                              "fail"};
	const struct kind_def *t;
	size_t n;

	(void) kind_find("count");
	t = kindset_all(builtins, &n);
	REQUIRE(n == NELEM(names));
	for (size_t i = 0; i < n; i++) {
		const struct jobd_kind *k = t[i].k;
		CHECK_EQ_STR(k->name, names[i]);
		CHECK(kind_find(names[i]) == k);
		CHECK(kindset_by_id(builtins, t[i].id) == &t[i]);
		CHECK_EQ_INT(t[i].origin, KIND_BUILTIN);
		CHECK(t[i].source == NULL);
		CHECK_EQ_STR(kind_name_of(t[i].id), names[i]);
		CHECK(k->desc != NULL && k->desc[0] != '\0');
		CHECK(k->run != NULL);
		CHECK(k->nparams > 0);
		for (size_t j = 0; j < k->nparams; j++) {
			const struct jobd_param *p = &k->params[j];
			char err[256];
			CHECK(p->name != NULL && p->desc != NULL);
			CHECK(p->type == JOBD_PARAM_INT ||
			      p->type == JOBD_PARAM_STRING);
			CHECK(p->min <= p->max);
			/* a default exactly when not required, and valid */
			CHECK((p->def == NULL) == (p->required != 0));
			if (p->def != NULL) {
				struct job_param jp = P(p->name, p->def);
				CHECK_EQ_INT(kind_validate(k, &jp, 1, 0, err,
				                           sizeof(err)),
				             JOBD_OK);
			}
		}
	}
	CHECK(kind_find("Count") == NULL);
	CHECK(kind_find("") == NULL);
	CHECK(kind_find("nope") == NULL);
	CHECK(kind_find(NULL) == NULL);
	CHECK(kind_find("sha256")->uses_input);
	CHECK(!kind_find("count")->uses_input);
	CHECK(kind_lookup("count") == t[0].id);
	CHECK(kind_lookup("never-seen-kind") == UINT32_MAX);
	CHECK(kind_intern("count") == t[0].id);
}

static void
test_count(void)
{
	struct job_param p1[] = {P("n", "1000")};
	struct job_param p2[] = {P("n", "1")};
	struct job_param p3[] = {P("n", "3000001")};

	check_result("count", p1, 1, NULL, 0, "1000");
	check_result("count", p2, 1, NULL, 0, "1");
	check_result("count", p3, 1, NULL, 0, "3000001");
}

/* The loop must really run: 2^28 iterations cannot take under a
 * millisecond (that would be over 268 GHz). */
static void
test_count_not_folded(void)
{
	struct job_param p[] = {P("n", "268435456")};
	uint64_t t0 = now_ms();

	check_result("count", p, 1, NULL, 0, "268435456");
	CHECK(now_ms() - t0 >= 1);
}

static void
test_primes(void)
{
	static const struct {
		const char *limit, *want;
	} v[] = {
	    {"2", "1"},
	    {"3", "2"},
	    {"10", "4"},
	    {"100", "25"},
	    {"1000000", "78498"},
	    {"10000000", "664579"},
	    /* around one segment (2 * 256 Ki numbers) */
	    {"524287", "43390"},
	    {"524288", "43390"},
	    {"524289", "43390"},
	};

	for (size_t i = 0; i < NELEM(v); i++) {
		struct job_param p[] = {P("limit", v[i].limit)};
		check_result("primes", p, 1, NULL, 0, v[i].want);
	}
}

static void
test_sha256(void)
{
	struct job_param r1[] = {P("rounds", "1")};
	struct job_param r2[] = {P("rounds", "2")};
	struct job_param r3[] = {P("rounds", "3")};

	/* no rounds parameter: the default, 1 */
	check_result(
	    "sha256", NULL, 0, NULL, 0,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_result(
	    "sha256", r1, 1, "", 0,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_result(
	    "sha256", NULL, 0, "abc", 3,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* printf abc | sha256sum | xxd -r -p | sha256sum */
	check_result(
	    "sha256", r2, 1, "abc", 3,
	    "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358");
	/* ... | xxd -r -p | sha256sum once more */
	check_result(
	    "sha256", r3, 1, "abc", 3,
	    "f2a778f1a6ed3d5bc59a5d79104c598f3f07093f240ca4e91333fb09ed4f36da");
	/* printf '' | sha256sum | xxd -r -p | sha256sum */
	check_result(
	    "sha256", r2, 1, NULL, 0,
	    "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456");
}

static void
test_sha256_big_input(void)
{
	size_t len = 1024 * 1024;
	char *in = malloc(len);
	const struct jobd_kind *k = kind_find("sha256");
	char err[128];

	REQUIRE(in != NULL);
	memset(in, 'a', len);
	CHECK_EQ_INT(kind_validate(k, NULL, 0, len, err, sizeof(err)), JOBD_OK);
	CHECK_EQ_INT(kind_validate(k, NULL, 0, len + 1, err, sizeof(err)),
	             JOBD_INVALID_ARGUMENT);
	CHECK(strstr(err, "1048576") != NULL);
	/* head -c 1048576 /dev/zero | tr '\0' a | sha256sum */
	check_result(
	    "sha256", NULL, 0, in, len,
	    "9bc1b2a288b26af7257a36277ae3816a7d4f16e89c1e7e77d0a5c48bad62b360");
	free(in);
}

static void
test_sleep(void)
{
	struct job_param p[] = {P("ms", "50")};
	struct job_param p0[] = {P("ms", "0")};
	struct jobd_job r;
	struct prog prog = {0};
	clock_t c0 = clock();
	uint64_t t0 = now_ms(), t;

	CHECK_EQ_INT(run("sleep", p, 1, NULL, 0, &prog, &r), JOBD_RUN_OK);
	t = now_ms() - t0;
	CHECK(t >= 50);
	CHECK(t < 1000);
	CHECK(r.result == NULL);
	CHECK_EQ_INT(r.result_len, 0);
	/* slices of at most 20 ms: at least 3 progress calls */
	CHECK(prog.calls >= 3);
	CHECK_EQ_INT(prog.total, 50);
	CHECK(!prog.went_back && !prog.total_changed);
	CHECK(prog.last_done < 50);
	/* waiting is not spinning */
	CHECK((double) (clock() - c0) / CLOCKS_PER_SEC < 0.025);

	t0 = now_ms();
	CHECK_EQ_INT(run("sleep", p0, 1, NULL, 0, NULL, &r), JOBD_RUN_OK);
	CHECK(now_ms() - t0 < 20);
	CHECK(r.result == NULL);
}

static void
test_fail(void)
{
	struct job_param p[] = {P("message", "disk on fire\tagain\n")};
	struct jobd_job r;

	CHECK_EQ_INT(run("fail", NULL, 0, NULL, 0, NULL, &r), JOBD_RUN_FAILED);
	CHECK_EQ_STR(r.error, "failed on purpose");
	CHECK(r.result == NULL);
	CHECK_EQ_INT(run("fail", p, 1, NULL, 0, NULL, &r), JOBD_RUN_FAILED);
	CHECK_EQ_STR(r.error, "disk on fire\tagain\n");
	CHECK_EQ_STR(pstr(&r, kind_find("fail"), "message"),
	             "disk on fire\tagain\n");
}

/* The longest message of fail (1024 bytes) comes through whole. */
static void
test_fail_long(void)
{
	char msg[1025];
	struct job_param p[] = {P("message", msg)};
	struct jobd_job r;

	memset(msg, 'x', 1024);
	msg[1024] = '\0';
	CHECK_EQ_INT(run("fail", p, 1, NULL, 0, NULL, &r), JOBD_RUN_FAILED);
	CHECK_EQ_INT(strlen(r.error), 1024);
	CHECK(strspn(r.error, "x") == 1024);
}

/* A kind of the test's own, registered as a plugin's would be: its
 * message, longer than the host keeps, is cut at a character boundary;
 * an outcome that is none is a failure that says so. */
static int
long_fail_run(jobd_job *job, const struct jobd_host *host)
{
	static char msg[KIND_ERROR_MAX + 100];

	if (host->param_int(job, "bad") != 0)
		return 42;
	memset(msg, 'x', sizeof(msg) - 1);
	/* "é" (2 bytes) straddling the cut */
	msg[KIND_ERROR_MAX - 2] = (char) 0xc3;
	msg[KIND_ERROR_MAX - 1] = (char) 0xa9;
	return host->fail(job, "%s", msg);
}

static void
test_host_fail_cut(void)
{
	static const struct jobd_param params[] = {
	    {.name = "bad",
	     .type = JOBD_PARAM_INT,
	     .min = 0,
	     .max = 1,
	     .def = "0",
	     .desc = "return no outcome"},
	};
	static const struct jobd_kind k = {
	    .name = "long-fail",
	    .desc = "fails with a long message",
	    .params = params,
	    .nparams = 1,
	    .run = long_fail_run,
	};
	struct job_param bad[] = {P("bad", "1")};
	struct kindset_reg reg;
	struct jobd_job r;
	kindset *ks = kindset_new();

	REQUIRE(ks != NULL);
	kindset_registrar(&reg, ks, KIND_PLUGIN, "test");
	CHECK_EQ_INT(reg.reg.add_kind(&reg.reg, &k), 0);
	/* the same name twice is refused, naming the first */
	CHECK_EQ_INT(reg.reg.add_kind(&reg.reg, &k), -1);
	CHECK(strstr(reg.reg.error(&reg.reg),
	             "already defined (plugin test)") != NULL);
	REQUIRE(kindset_find(ks, "long-fail") != NULL);
	memset(&r, 0, sizeof(r));
	r.kind = kindset_find(ks, "long-fail")->k;
	CHECK_EQ_INT(kind_run(&r), JOBD_RUN_FAILED);
	CHECK_EQ_INT(strlen(r.error), KIND_ERROR_MAX - 2);
	CHECK(strspn(r.error, "x") == KIND_ERROR_MAX - 2);
	r.params = bad;
	r.nparams = 1;
	CHECK_EQ_INT(kind_run(&r), JOBD_RUN_FAILED);
	CHECK_EQ_STR(r.error,
	             "kind 'long-fail' returned 42, which is no outcome");
	kindset_unref(ks);
}

/* Rows that are not kinds are refused at registration, with the reason. */
static void
test_check_row(void)
{
	static const char *const none[] = {NULL};
	static const char *const spaced[] = {"a b", NULL};
	static const struct {
		struct jobd_param p;
		const char *want;
	} v[] = {
	    {{.name = "Bad", .type = JOBD_PARAM_INT}, "name must be"},
	    {{.name = "n", .type = 9}, "unknown type 9"},
	    {{.name = "n", .type = JOBD_PARAM_INT, .min = 2, .max = 1},
	     "min > max"},
	    {{.name = "n", .type = JOBD_PARAM_INT, .max = 5, .def = "6"},
	     "the default of parameter 'n'"},
	    {{.name = "n",
	      .type = JOBD_PARAM_INT,
	      .max = 5,
	      .required = 1,
	      .def = "1"},
	     "required and has a default"},
	    {{.name = "c", .type = JOBD_PARAM_CHOICE, .choices = none},
	     "1 to 64 values"},
	    {{.name = "c", .type = JOBD_PARAM_CHOICE, .choices = spaced},
	     "space or control"},
	    {{.name = "s", .type = JOBD_PARAM_STRING, .min = 3, .max = 2},
	     "0 <= min <= max"},
	};
	char err[300];

	for (size_t i = 0; i < NELEM(v); i++) {
		struct jobd_kind k = {.name = "k",
		                      .params = &v[i].p,
		                      .nparams = 1,
		                      .run = long_fail_run};
		CHECK_EQ_INT(kind_check_row(&k, err, sizeof(err)),
		             JOBD_INVALID_ARGUMENT);
		if (strstr(err, v[i].want) == NULL)
			TEST_FAIL_("row %zu: '%s' lacks '%s'", i, err,
			           v[i].want);
	}
	struct jobd_kind k = {.name = "no run"};
	CHECK_EQ_INT(kind_check_row(&k, err, sizeof(err)),
	             JOBD_INVALID_ARGUMENT);
	k.name = "norun";
	CHECK_EQ_INT(kind_check_row(&k, err, sizeof(err)),
	             JOBD_INVALID_ARGUMENT);
	CHECK(strstr(err, "no run function") != NULL);
}

/* bool and choice parameters, and a string's shortest length. */
static void
test_validate_bool_choice(void)
{
	static const char *const fmts[] = {"png", "jpeg", NULL};
	static const struct jobd_param params[] = {
	    {.name = "b", .type = JOBD_PARAM_BOOL, .def = "false"},
	    {.name = "f",
	     .type = JOBD_PARAM_CHOICE,
	     .choices = fmts,
	     .def = "png"},
	    {.name = "s",
	     .type = JOBD_PARAM_STRING,
	     .min = 2,
	     .max = 4,
	     .def = "ab"},
	};
	static const struct jobd_kind k = {.name = "typed",
	                                   .params = params,
	                                   .nparams = 3,
	                                   .run = long_fail_run};
	struct job_param ok[] = {P("b", "true"), P("f", "jpeg"),
	                         P("s", "abcd")};
	struct job_param b[] = {P("b", "yes")};
	struct job_param f[] = {P("f", "gif")};
	struct job_param s1[] = {P("s", "a")};
	char err[300];

	REQUIRE(kind_check_row(&k, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(kind_validate(&k, ok, 3, 0, err, sizeof(err)), JOBD_OK);
	CHECK_EQ_INT(kind_validate(&k, b, 1, 0, err, sizeof(err)),
	             JOBD_INVALID_ARGUMENT);
	CHECK_EQ_STR(err, "parameter 'b' of kind 'typed' must be true or "
	                  "false, not 'yes'");
	CHECK_EQ_INT(kind_validate(&k, f, 1, 0, err, sizeof(err)),
	             JOBD_INVALID_ARGUMENT);
	CHECK_EQ_STR(err, "parameter 'f' of kind 'typed' must be one of the "
	                  "values 'jobctl kinds' lists, not 'gif'");
	CHECK_EQ_INT(kind_validate(&k, s1, 1, 0, err, sizeof(err)),
	             JOBD_INVALID_ARGUMENT);
	CHECK_EQ_STR(err, "parameter 's' of kind 'typed' must be 2 to 4 bytes "
	                  "long, not 1");
}

static void
test_progress(void)
{
	struct job_param c[] = {P("n", "5000000")};
	struct job_param pr[] = {P("limit", "10000000")};
	struct job_param sh[] = {P("rounds", "100000")};
	struct prog prog = {0};
	struct jobd_job r;

	CHECK_EQ_INT(run("count", c, 1, NULL, 0, &prog, &r), JOBD_RUN_OK);
	free(r.result);
	CHECK(prog.calls >= 4);
	CHECK_EQ_INT(prog.total, 5000000);
	CHECK(prog.last_done > 0 && prog.last_done < 5000000);
	CHECK(!prog.went_back && !prog.total_changed);

	memset(&prog, 0, sizeof(prog));
	CHECK_EQ_INT(run("primes", pr, 1, NULL, 0, &prog, &r), JOBD_RUN_OK);
	free(r.result);
	CHECK(prog.calls >= 10);
	CHECK_EQ_INT(prog.total, 10000000);
	CHECK(prog.last_done > 0 && prog.last_done < 10000000);
	CHECK(!prog.went_back && !prog.total_changed);

	memset(&prog, 0, sizeof(prog));
	CHECK_EQ_INT(run("sha256", sh, 1, "abc", 3, &prog, &r), JOBD_RUN_OK);
	free(r.result);
	CHECK(prog.calls >= 5);
	CHECK_EQ_INT(prog.total, 100000);
	CHECK(prog.last_done > 0 && prog.last_done < 100000);
	CHECK(!prog.went_back && !prog.total_changed);
}

/* Each kind stops quickly once progress() says so. */
static void
test_stop(void)
{
	static const struct {
		const char *kind, *name, *value;
	} v[] = {
	    {"count", "n", "10000000000"},
	    {"primes", "limit", "10000000000"},
	    {"sleep", "ms", "60000"},
	    {"sha256", "rounds", "100000000"},
	};

	for (size_t i = 0; i < NELEM(v); i++) {
		struct job_param p[] = {P(v[i].name, v[i].value)};
		struct prog prog = {.stop_after = 1};
		struct jobd_job r;
		uint64_t t0 = now_ms();

		CHECK_EQ_INT(run(v[i].kind, p, 1, NULL, 0, &prog, &r),
		             JOBD_RUN_STOPPED);
		CHECK(now_ms() - t0 < 1000);
		CHECK_EQ_INT(prog.calls, 2);
		CHECK(r.result == NULL);
		if (r.result != NULL)
			free(r.result);
	}
}

static int
stop_cb(void *arg, uint64_t done, uint64_t total)
{
	(void) done;
	(void) total;
	(*(unsigned *) arg)++;
	return (1);
}

/* Every kind asks before its first piece of work, so a job cancelled as it
 * starts does none. */
static void
test_stop_at_once(void)
{
	static const struct {
		const char *kind, *name, *value;
	} v[] = {
	    {"count", "n", "100000000000"},
	    {"primes", "limit", "10000000000"},
	    {"sleep", "ms", "86400000"},
	    {"sha256", "rounds", "100000000"},
	};

	for (size_t i = 0; i < NELEM(v); i++) {
		struct job_param p[] = {P(v[i].name, v[i].value)};
		struct jobd_job r = {.params = p, .nparams = 1};
		unsigned calls = 0;

		r.kind = kind_find(v[i].kind);
		r.progress = stop_cb;
		r.progress_arg = &calls;
		CHECK_EQ_INT(kind_run(&r), JOBD_RUN_STOPPED);
		CHECK_EQ_INT(calls, 1);
		CHECK(r.result == NULL);
	}
}

static void
expect_invalid(const char *kind, const struct job_param *params, size_t nparams,
               size_t input_len, const char *want)
{
	char err[256];
	const struct jobd_kind *k = kind_find(kind);

	REQUIRE(k != NULL);
	memset(err, 'z', sizeof(err));
	CHECK_EQ_INT(
	    kind_validate(k, params, nparams, input_len, err, sizeof(err)),
	    JOBD_INVALID_ARGUMENT);
	REQUIRE(memchr(err, '\0', sizeof(err)) != NULL);
	CHECK_EQ_STR(err, want);
}

static void
test_validate_ok(void)
{
	struct job_param c[] = {P("n", "100000000000")};
	struct job_param c1[] = {P("n", "1")};
	struct job_param c0[] = {P("n", "0001")};
	struct job_param s0[] = {P("ms", "0")};
	struct job_param f[] = {P("message", "")};
	char err[64];
	struct jobd_job r = {.params = c, .nparams = 1};

	memset(err, 'z', sizeof(err));
	CHECK_EQ_INT(
	    kind_validate(kind_find("count"), c, 1, 0, err, sizeof(err)),
	    JOBD_OK);
	CHECK_EQ_STR(err, "");
	CHECK_EQ_INT(
	    kind_validate(kind_find("count"), c1, 1, 0, err, sizeof(err)),
	    JOBD_OK);
	CHECK_EQ_INT(
	    kind_validate(kind_find("count"), c0, 1, 0, err, sizeof(err)),
	    JOBD_OK);
	CHECK_EQ_INT(
	    kind_validate(kind_find("sleep"), s0, 1, 0, err, sizeof(err)),
	    JOBD_OK);
	CHECK_EQ_INT(
	    kind_validate(kind_find("fail"), f, 1, 0, err, sizeof(err)),
	    JOBD_OK);
	CHECK_EQ_INT(
	    kind_validate(kind_find("fail"), NULL, 0, 0, err, sizeof(err)),
	    JOBD_OK);
	CHECK_EQ_INT(
	    kind_validate(kind_find("sha256"), NULL, 0, 5, err, sizeof(err)),
	    JOBD_OK);

	CHECK_EQ_INT(pint(&r, kind_find("count"), "n"), INT64_C(100000000000));
	r.params = NULL;
	r.nparams = 0;
	CHECK_EQ_INT(pint(&r, kind_find("sha256"), "rounds"), 1);
	CHECK_EQ_STR(pstr(&r, kind_find("fail"), "message"),
	             "failed on purpose");
	CHECK(pstr(&r, kind_find("fail"), "nope") == NULL);
}

static void
test_validate_names(void)
{
	struct job_param unknown[] = {P("x", "1")};
	struct job_param unknown2[] = {P("n", "5"), P("N", "1")};
	struct job_param twice[] = {P("n", "1"), P("n", "2")};
	struct job_param nasty[] = {P("a\x01\xff'", "1")};

	expect_invalid("count", unknown, 1, 0,
	               "unknown parameter 'x' for kind 'count'");
	expect_invalid("count", unknown2, 2, 0,
	               "unknown parameter 'N' for kind 'count'");
	expect_invalid("count", twice, 2, 0, "parameter 'n' given twice");
	expect_invalid("count", NULL, 0, 0, "kind 'count' needs parameter 'n'");
	expect_invalid("primes", NULL, 0, 0,
	               "kind 'primes' needs parameter 'limit'");
	expect_invalid("sleep", unknown, 1, 0,
	               "unknown parameter 'x' for kind 'sleep'");
	expect_invalid("sleep", NULL, 0, 0,
	               "kind 'sleep' needs parameter 'ms'");
	expect_invalid("fail", nasty, 1, 0,
	               "unknown parameter 'a\\x01\\xff'' for kind 'fail'");
}

static void
test_validate_ints(void)
{
	static const char *bad[] = {
	    "abc",
	    "",
	    "-",
	    " 5",
	    "5 ",
	    "+5",
	    "5x",
	    "0x10",
	    "1e3",
	    "0",
	    "-1",
	    "100000000001",
	    "99999999999999999999",
	    "-9999999999999999999",
	    "9223372036854775808",
	};
	char want[256];

	for (size_t i = 0; i < NELEM(bad); i++) {
		struct job_param p[] = {P("n", bad[i])};
		snprintf(
		    want, sizeof(want),
		    "parameter 'n' of kind 'count' must be an integer from 1 "
		    "to 100000000000, not '%s'",
		    bad[i]);
		expect_invalid("count", p, 1, 0, want);
	}

	struct job_param lo[] = {P("limit", "1")};
	struct job_param hi[] = {P("limit", "10000000001")};
	struct job_param neg[] = {P("ms", "-1")};
	struct job_param rounds[] = {P("rounds", "100000001")};
	expect_invalid(
	    "primes", lo, 1, 0,
	    "parameter 'limit' of kind 'primes' must be an integer from 2 to "
	    "10000000000, not '1'");
	expect_invalid(
	    "primes", hi, 1, 0,
	    "parameter 'limit' of kind 'primes' must be an integer from 2 to "
	    "10000000000, not '10000000001'");
	expect_invalid(
	    "sleep", neg, 1, 0,
	    "parameter 'ms' of kind 'sleep' must be an integer from 0 to "
	    "86400000, not '-1'");
	expect_invalid(
	    "sha256", rounds, 1, 0,
	    "parameter 'rounds' of kind 'sha256' must be an integer from 1 to "
	    "100000000, not '100000001'");
}

/* An integer is at most 20 characters, so leading zeros cannot make a value
 * of any length. */
static void
test_validate_int_length(void)
{
	char v[64];
	struct job_param p[] = {P("n", v)};
	char err[256];

	memset(v, '0', 19);
	strcpy(v + 19, "7");
	CHECK_EQ_INT(
	    kind_validate(kind_find("count"), p, 1, 0, err, sizeof(err)),
	    JOBD_OK);
	memset(v, '0', 20);
	strcpy(v + 20, "7");
	expect_invalid("count", p, 1, 0,
	               "parameter 'n' of kind 'count' must be an integer of at "
	               "most 20 characters, not 21");
	strcpy(v, "-9223372036854775808"); /* 20: parsed, out of bounds */
	expect_invalid(
	    "count", p, 1, 0,
	    "parameter 'n' of kind 'count' must be an integer from 1 to "
	    "100000000000, not '-9223372036854775808'");
}

/* A bad value is quoted short and printable. */
static void
test_validate_quote(void)
{
	char v[200];
	struct job_param p[] = {P(v, "1")};
	struct job_param q[] = {P("n", "1\n\x1b[2J")};

	/* (an integer value is at most 20 characters: a long name, then) */
	memset(v, '7', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	expect_invalid(
	    "count", p, 1, 0,
	    "unknown parameter '7777777777777777777777777777777777777777...' "
	    "for kind 'count'");
	expect_invalid(
	    "count", q, 1, 0,
	    "parameter 'n' of kind 'count' must be an integer from 1 to "
	    "100000000000, not '1\\x0a\\x1b[2J'");
}

static void
test_validate_strings(void)
{
	char big[1026];
	struct job_param toolong[] = {P("message", big)};
	struct job_param ctl[] = {P("message", "a\x01z")};
	struct job_param del[] = {P("message", "a\x7fz")};
	struct job_param cr[] = {P("message", "line\r\n")};
	struct job_param ok[] = {P("message", big + 1)};
	char err[256];

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_invalid(
	    "fail", toolong, 1, 0,
	    "parameter 'message' of kind 'fail' must be at most 1024 bytes "
	    "long, not 1025");
	CHECK_EQ_INT(
	    kind_validate(kind_find("fail"), ok, 1, 0, err, sizeof(err)),
	    JOBD_OK);
	expect_invalid(
	    "fail", ctl, 1, 0,
	    "parameter 'message' of kind 'fail' must not contain control "
	    "characters (byte 0x01 at offset 1)");
	expect_invalid(
	    "fail", del, 1, 0,
	    "parameter 'message' of kind 'fail' must not contain control "
	    "characters (byte 0x7f at offset 1)");
	expect_invalid(
	    "fail", cr, 1, 0,
	    "parameter 'message' of kind 'fail' must not contain control "
	    "characters (byte 0x0d at offset 4)");
}

static void
test_validate_input(void)
{
	struct job_param c[] = {P("n", "5")};

	expect_invalid("count", c, 1, 1, "kind 'count' takes no input");
	expect_invalid("primes", NULL, 0, 3, "kind 'primes' takes no input");
	expect_invalid("sleep", NULL, 0, 3, "kind 'sleep' takes no input");
	expect_invalid("fail", NULL, 0, 3, "kind 'fail' takes no input");
	expect_invalid(
	    "sha256", NULL, 0, 1024 * 1024 + 1,
	    "input of kind 'sha256' is 1048577 bytes, more than the limit of "
	    "1048576");
}

/* err is always terminated and never overrun, however small. */
static void
test_validate_small_err(void)
{
	struct job_param c[] = {P("n", "abc")};
	const struct jobd_kind *k = kind_find("count");
	char err[16];

	memset(err, 'z', sizeof(err));
	CHECK_EQ_INT(kind_validate(k, c, 1, 0, err, 8), JOBD_INVALID_ARGUMENT);
	CHECK_EQ_STR(err, "paramet");
	for (size_t i = 8; i < sizeof(err); i++)
		CHECK(err[i] == 'z');

	memset(err, 'z', sizeof(err));
	CHECK_EQ_INT(kind_validate(k, c, 1, 0, err, 1), JOBD_INVALID_ARGUMENT);
	CHECK(err[0] == '\0' && err[1] == 'z');

	memset(err, 'z', sizeof(err));
	CHECK_EQ_INT(kind_validate(k, c, 1, 0, err, 0), JOBD_INVALID_ARGUMENT);
	CHECK(err[0] == 'z');
	CHECK_EQ_INT(kind_validate(k, c, 1, 0, NULL, 0), JOBD_INVALID_ARGUMENT);
}

TEST_MAIN({"table", test_table}, {"count", test_count},
          {"count_not_folded", test_count_not_folded}, {"primes", test_primes},
          {"sha256", test_sha256}, {"sha256_big_input", test_sha256_big_input},
          {"sleep", test_sleep}, {"fail", test_fail},
          {"fail_long", test_fail_long}, {"progress", test_progress},
          {"stop", test_stop}, {"stop_at_once", test_stop_at_once},
          {"validate_ok", test_validate_ok},
          {"validate_names", test_validate_names},
          {"validate_int_length", test_validate_int_length},
          {"validate_ints", test_validate_ints},
          {"validate_quote", test_validate_quote},
          {"validate_strings", test_validate_strings},
          {"validate_input", test_validate_input},
          {"validate_small_err", test_validate_small_err},
          {"host_fail_cut", test_host_fail_cut}, {"check_row", test_check_row},
          {"validate_bool_choice", test_validate_bool_choice})

/*
 * Tests of the SQLite store: every field survives a round trip and a
 * reopen, each query returns what it should in the order it should, and
 * files that are not ours (another program's database, a newer jobd's, a
 * text file, random bytes) are refused and left byte for byte as they were.
 * Hostile contents written behind the store's back give DATA_LOSS, never a
 * crash, and a failed COMMIT leaves the store usable.
 *
 * All files live in one temporary directory, removed at exit.
 */

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "crc32c.h"
#include "dblock.h"
#include "store.h"
#include "test.h"

static char test_dir[64];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(path);
}

static void
rm_test_dir(void)
{
	if (test_dir[0] != '\0')
		nftw(test_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The path of `name` in the temporary directory, made at first use. */
static const char *
tpath(char *buf, size_t len, const char *name)
{
	if (test_dir[0] == '\0') {
		snprintf(test_dir, sizeof(test_dir), "/tmp/test_store.XXXXXX");
		REQUIRE(mkdtemp(test_dir) != NULL);
		atexit(rm_test_dir);
	}
	snprintf(buf, len, "%s/%s", test_dir, name);
	return buf;
}

static int
exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static off_t
file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* The whole file, malloc'd; NULL if it cannot be read. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 &&
	    (b = malloc((size_t) n + 1)) != NULL &&
	    fread(b, 1, (size_t) n, f) != (size_t) n) {
		free(b);
		b = NULL;
	}
	if (b != NULL)
		*len = (size_t) n;
	fclose(f);
	return b;
}

static void
spit(const char *path, const void *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	REQUIRE(f != NULL);
	REQUIRE(fwrite(b, 1, len, f) == len);
	REQUIRE(fclose(f) == 0);
}

/* Runs SQL on its own connection, as another program would. */
static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc;

	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "raw_exec: %s: %s\n", sql, msg);
	sqlite3_free(msg);
	sqlite3_close(db);
	REQUIRE(rc == SQLITE_OK);
}

/* One text value read on its own connection. */
static void
raw_query(const char *path, const char *sql, char *out, size_t len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	out[0] = '\0';
	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, len, "%s",
		         (const char *) sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static store *
open_ok(const char *path)
{
	char err[256] = "";
	store *s = NULL;
	int rv = store_open(&s, path, err, sizeof(err));
	if (rv != JOBD_OK)
		fprintf(stderr, "store_open: %s: %s\n", jobd_status_name(rv),
		        err);
	REQUIRE(rv == JOBD_OK);
	REQUIRE(s != NULL);
	return s;
}

static struct job_param odd_params[] = {
    {"lines", "one\ntwo\n"}, {"eq", "a=b=c"},
    {"empty", ""},           {"utf8", "h\xc3\xa9llo \xe2\x9c\x93"},
    {"", "no name"},         {"tab\tname", " spaces "},
};

static uint8_t bin_input[300];
static const uint8_t bin_result[] = {0, 1, 0, 0xff, '\n', 0, 0x80};

/* A job with every field set to something distinctive. Not owned: do not
 * jobrec_clear() it. */
static struct jobrec
full_job(uint64_t id)
{
	struct jobrec r;

	for (size_t i = 0; i < sizeof(bin_input); i++)
		bin_input[i] = (uint8_t) (i * 7);
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.kind = "sha256";
	r.params = odd_params;
	r.nparams = sizeof(odd_params) / sizeof(odd_params[0]);
	r.input = bin_input;
	r.input_len = sizeof(bin_input);
	r.priority = -7;
	r.state = JOB_RUNNING;
	r.attempts = 2;
	r.max_attempts = UINT32_MAX;
	r.timeout_ms = 1500;
	r.progress_done = UINT64_MAX - 1;
	r.progress_total = UINT64_MAX;
	r.result = (uint8_t *) bin_result;
	r.result_len = sizeof(bin_result);
	r.error = "boom: 'x'\nsecond line";
	r.idem_key = "key-1";
	r.created_at = 1700000000001;
	r.started_at = 1700000000002;
	r.finished_at = 1700000000003;
	r.not_before = -5;
	return r;
}

/* A plain job: no params, input or result. */
static struct jobrec
small_job(uint64_t id, int state, const char *kind)
{
	struct jobrec r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.kind = (char *) kind;
	r.state = state;
	r.max_attempts = 1;
	r.created_at = (int64_t) (id % 1000000) * 10;
	return r;
}

static int
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Checks every field of `got` against `want`; the input bytes only if
 * `input`, the result bytes only if `result`. */
static void
check_job(const struct jobrec *got, const struct jobrec *want, int input,
          int result)
{
	CHECK_EQ_INT(got->id, want->id);
	CHECK_EQ_STR(got->kind, want->kind);
	CHECK_EQ_INT(got->nparams, want->nparams);
	if (got->nparams == want->nparams)
		for (size_t i = 0; i < want->nparams; i++) {
			CHECK_EQ_STR(got->params[i].name, want->params[i].name);
			CHECK_EQ_STR(got->params[i].value,
			             want->params[i].value);
		}
	CHECK_EQ_INT(got->input_len, want->input_len);
	if (input) {
		CHECK((got->input == NULL) == (want->input_len == 0));
		if (got->input != NULL && got->input_len == want->input_len)
			CHECK(memcmp(got->input, want->input, got->input_len) ==
			      0);
	} else {
		CHECK(got->input == NULL);
	}
	CHECK_EQ_INT(got->priority, want->priority);
	CHECK_EQ_INT(got->state, want->state);
	CHECK_EQ_INT(got->attempts, want->attempts);
	CHECK_EQ_INT(got->max_attempts, want->max_attempts);
	CHECK_EQ_INT(got->timeout_ms, want->timeout_ms);
	CHECK(got->progress_done == want->progress_done);
	CHECK(got->progress_total == want->progress_total);
	if (result) {
		CHECK_EQ_INT(got->result_len, want->result_len);
		CHECK((got->result == NULL) == (want->result_len == 0));
		if (got->result != NULL && got->result_len == want->result_len)
			CHECK(memcmp(got->result, want->result,
			             got->result_len) == 0);
	} else {
		CHECK(got->result == NULL);
		CHECK_EQ_INT(got->result_len, 0);
	}
	CHECK(same_str(got->error, want->error));
	CHECK(same_str(got->idem_key, want->idem_key));
	CHECK_EQ_INT(got->created_at, want->created_at);
	CHECK_EQ_INT(got->started_at, want->started_at);
	CHECK_EQ_INT(got->finished_at, want->finished_at);
	CHECK_EQ_INT(got->not_before, want->not_before);
}

static void
test_state_names(void)
{
	static const char *names[] = {NULL,        "queued", "running",
	                              "succeeded", "failed", "cancelled",
	                              "scheduled"};

	for (int i = 1; i <= JOB_STATE_MAX; i++) {
		CHECK_EQ_STR(job_state_name(i), names[i]);
		CHECK_EQ_INT(job_state_parse(names[i]), i);
	}
	CHECK_EQ_STR(job_state_name(0), "unknown");
	CHECK_EQ_STR(job_state_name(JOB_STATE_MAX + 1), "unknown");
	CHECK_EQ_INT(job_state_parse("unknown"), 0);
	CHECK_EQ_INT(job_state_parse(""), 0);
	CHECK_EQ_INT(job_state_parse("Queued"), 0);
	CHECK_EQ_INT(job_state_parse(NULL), 0);
	CHECK(!job_state_terminal(JOB_QUEUED));
	CHECK(!job_state_terminal(JOB_RUNNING));
	CHECK(!job_state_terminal(JOB_SCHEDULED));
	CHECK(job_state_terminal(JOB_SUCCEEDED));
	CHECK(job_state_terminal(JOB_FAILED));
	CHECK(job_state_terminal(JOB_CANCELLED));
	CHECK(!job_state_terminal(0));
}

static void
test_jobrec_copy(void)
{
	struct jobrec src = full_job(9), dst, empty, dst2;

	REQUIRE(jobrec_copy(&dst, &src) == JOBD_OK);
	check_job(&dst, &src, 1, 1);
	CHECK(dst.kind != src.kind);
	CHECK(dst.params != src.params);
	CHECK(dst.input != src.input);
	CHECK(dst.result != src.result);
	jobrec_clear(&dst);
	CHECK(dst.kind == NULL && dst.params == NULL && dst.nparams == 0);
	jobrec_clear(&dst); /* a cleared record clears again */

	memset(&empty, 0, sizeof(empty));
	REQUIRE(jobrec_copy(&dst2, &empty) == JOBD_OK);
	CHECK(dst2.kind == NULL && dst2.params == NULL && dst2.input == NULL);
	jobrec_clear(&dst2);
}

static void
test_open_create(void)
{
	char path[256], buf[64];
	uint64_t id = 99, counts[JOB_STATE_MAX + 1];
	store *s;

	tpath(path, sizeof(path), "create.db");
	CHECK(!exists(path));
	s = open_ok(path);
	CHECK(exists(path));
	CHECK_EQ_INT(store_max_id(s, &id), JOBD_OK);
	CHECK_EQ_INT(id, 0);
	CHECK_EQ_INT(store_counts(s, counts), JOBD_OK);
	for (int i = 1; i <= JOB_STATE_MAX; i++)
		CHECK_EQ_INT(counts[i], 0);
	CHECK_EQ_INT(store_check(s), JOBD_OK);
	store_close(s);
	store_close(NULL);

	raw_query(path, "PRAGMA user_version", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "3");
	raw_query(path, "PRAGMA journal_mode", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "wal");
	raw_query(path,
	          "SELECT group_concat(name, ',') FROM (SELECT name FROM "
	          "sqlite_schema WHERE type = 'index' AND name LIKE 'jobs_%' "
	          "ORDER BY name)",
	          buf, sizeof(buf));
	CHECK_EQ_STR(buf, "jobs_finished,jobs_kind,jobs_state,jobs_state_kind");

	/* An existing empty file is a new database. */
	tpath(path, sizeof(path), "empty.db");
	spit(path, "", 0);
	s = open_ok(path);
	store_close(s);
	raw_query(path, "PRAGMA user_version", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "3");
}

static void
test_open_unreachable(void)
{
	char path[256], err[256] = "";
	store *s = (store *) 1;

	tpath(path, sizeof(path), "no/such/dir/x.db");
	CHECK_EQ_INT(store_open(&s, path, err, sizeof(err)), JOBD_UNAVAILABLE);
	CHECK(s == NULL);
	CHECK(strstr(err, "cannot open database '") == err);
	CHECK(strstr(err, path) != NULL);

	/* with the system's reason */
	CHECK(strstr(err, "(No such file or directory)") != NULL);
}

/* The readers' connection: reads, and writes nothing to the file. */
static void
test_open_readonly(void)
{
	char path[256], err[256] = "";
	struct jobrec r = small_job(1, JOB_QUEUED, "k"), got;
	uint8_t *before, *after;
	size_t nbefore = 0, nafter = 0;
	store *s = (store *) 1, *rd;

	/* no file: none is made */
	tpath(path, sizeof(path), "ro-missing.db");
	CHECK_EQ_INT(store_open_readonly(&s, path, err, sizeof(err)),
	             JOBD_UNAVAILABLE);
	CHECK(s == NULL);
	CHECK(strstr(err, path) != NULL);
	CHECK(!exists(path));

	/* an empty database: no schema to read, and none is made */
	tpath(path, sizeof(path), "ro-empty.db");
	spit(path, "", 0);
	CHECK_EQ_INT(store_open_readonly(&s, path, err, sizeof(err)),
	             JOBD_FAILED_PRECONDITION);
	CHECK(strstr(err, "has schema version 0, not 3") != NULL);
	CHECK_EQ_INT(file_size(path), 0);

	/* a jobd database, its file read-only: read, not written */
	tpath(path, sizeof(path), "ro.db");
	s = open_ok(path);
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	store_close(s);
	REQUIRE(chmod(path, 0444) == 0);
	REQUIRE((before = slurp(path, &nbefore)) != NULL);
	rd = NULL;
	REQUIRE(store_open_readonly(&rd, path, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(store_get(rd, 1, 0, &got), JOBD_OK);
	CHECK_EQ_STR(got.kind, "k");
	jobrec_clear(&got);
	r = small_job(2, JOB_QUEUED, "k");
	CHECK_EQ_INT(store_insert(rd, &r), JOBD_UNAVAILABLE);
	CHECK(strstr(store_errmsg(rd), "readonly") != NULL);
	store_close(rd);
	REQUIRE((after = slurp(path, &nafter)) != NULL);
	CHECK(nafter == nbefore && memcmp(before, after, nbefore) == 0);
	free(before);
	free(after);
	REQUIRE(chmod(path, 0644) == 0);
}

static void
test_roundtrip(void)
{
	char path[256];
	struct jobrec want = full_job(42), got, plain;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "roundtrip.db"));
	REQUIRE(store_insert(s, &want) == JOBD_OK);

	REQUIRE(store_get(s, 42, STORE_INPUT, &got) == JOBD_OK);
	check_job(&got, &want, 1, 1);
	jobrec_clear(&got);

	/* Without STORE_INPUT: no bytes, but the length. */
	REQUIRE(store_get(s, 42, 0, &got) == JOBD_OK);
	check_job(&got, &want, 0, 1);
	CHECK_EQ_INT(got.input_len, sizeof(bin_input));
	jobrec_clear(&got);

	/* No params, no input, no result, no error, no key. */
	plain = small_job(43, JOB_QUEUED, "sleep");
	REQUIRE(store_insert(s, &plain) == JOBD_OK);
	REQUIRE(store_get(s, 43, STORE_INPUT, &got) == JOBD_OK);
	check_job(&got, &plain, 1, 1);
	CHECK(got.params == NULL);
	jobrec_clear(&got);

	/* An empty idempotency key is no key: two of them do not clash. */
	plain = small_job(44, JOB_QUEUED, "sleep");
	plain.idem_key = "";
	REQUIRE(store_insert(s, &plain) == JOBD_OK);
	plain.id = 45;
	REQUIRE(store_insert(s, &plain) == JOBD_OK);
	REQUIRE(store_get(s, 45, 0, &got) == JOBD_OK);
	CHECK(got.idem_key == NULL);
	jobrec_clear(&got);
	store_close(s);
}

static void
test_insert_invalid(void)
{
	char path[256];
	struct jobrec r;
	struct job_param bad[] = {{"x", NULL}};
	uint64_t id;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "invalid.db"));
	r = small_job(0, JOB_QUEUED, "sleep");
	CHECK_EQ_INT(store_insert(s, &r), JOBD_INVALID_ARGUMENT);
	r = small_job((uint64_t) INT64_MAX + 1, JOB_QUEUED, "sleep");
	CHECK_EQ_INT(store_insert(s, &r), JOBD_INVALID_ARGUMENT);
	r = small_job(1, 0, "sleep");
	CHECK_EQ_INT(store_insert(s, &r), JOBD_INVALID_ARGUMENT);
	CHECK(strstr(store_errmsg(s), "cannot insert job 1: ") ==
	      store_errmsg(s));
	r = small_job(1, JOB_STATE_MAX + 1, "sleep");
	CHECK_EQ_INT(store_insert(s, &r), JOBD_INVALID_ARGUMENT);
	r = small_job(1, JOB_QUEUED, NULL);
	CHECK_EQ_INT(store_insert(s, &r), JOBD_INVALID_ARGUMENT);
	r = small_job(1, JOB_QUEUED, "sleep");
	r.params = bad;
	r.nparams = 1;
	CHECK_EQ_INT(store_insert(s, &r), JOBD_INVALID_ARGUMENT);
	r = small_job(1, JOB_QUEUED, "sleep");
	r.input_len = 5; /* and no bytes */
	CHECK_EQ_INT(store_insert(s, &r), JOBD_INVALID_ARGUMENT);

	CHECK_EQ_INT(store_max_id(s, &id), JOBD_OK);
	CHECK_EQ_INT(id, 0);
	store_close(s);
}

static void
test_duplicates(void)
{
	char path[256];
	struct jobrec a = full_job(1), b, got;
	uint64_t id;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "dup.db"));
	REQUIRE(store_insert(s, &a) == JOBD_OK);

	b = small_job(1, JOB_QUEUED, "other");
	CHECK_EQ_INT(store_insert(s, &b), JOBD_ALREADY_EXISTS);
	CHECK_EQ_STR(store_errmsg(s), "cannot insert job 1: id taken");

	b = small_job(2, JOB_QUEUED, "other");
	b.idem_key = "key-1";
	CHECK_EQ_INT(store_insert(s, &b), JOBD_ALREADY_EXISTS);
	CHECK_EQ_STR(store_errmsg(s),
	             "cannot insert job 2: idempotency key 'key-1' taken");

	/* The failed statement was reset: the next insert works. */
	b.idem_key = "key-2";
	CHECK_EQ_INT(store_insert(s, &b), JOBD_OK);
	CHECK_EQ_INT(store_find_key(s, "key-2", &id), JOBD_OK);
	CHECK_EQ_INT(id, 2);

	/* The first job is untouched. */
	REQUIRE(store_get(s, 1, STORE_INPUT, &got) == JOBD_OK);
	check_job(&got, &a, 1, 1);
	jobrec_clear(&got);
	store_close(s);
}

static void
test_find_key(void)
{
	char path[256];
	struct jobrec r;
	uint64_t id = 7;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "key.db"));
	r = small_job(5, JOB_QUEUED, "sleep");
	r.idem_key = "order-17";
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	r = small_job(6, JOB_QUEUED, "sleep");
	REQUIRE(store_insert(s, &r) == JOBD_OK);

	CHECK_EQ_INT(store_find_key(s, "order-17", &id), JOBD_OK);
	CHECK_EQ_INT(id, 5);
	id = 7;
	CHECK_EQ_INT(store_find_key(s, "order-18", &id), JOBD_NOT_FOUND);
	CHECK_EQ_INT(id, 0);
	CHECK(strstr(store_errmsg(s), "order-18") != NULL);
	CHECK_EQ_INT(store_find_key(s, "ORDER-17", &id), JOBD_NOT_FOUND);
	CHECK_EQ_INT(store_find_key(s, "", &id), JOBD_NOT_FOUND);
	store_close(s);
}

static void
test_update(void)
{
	char path[256];
	struct jobrec r = full_job(3), got;
	static const uint8_t out[] = {'o', 'k', 0, 1};
	store *s;

	s = open_ok(tpath(path, sizeof(path), "update.db"));
	r.state = JOB_QUEUED;
	REQUIRE(store_insert(s, &r) == JOBD_OK);

	r.state = JOB_SUCCEEDED;
	r.attempts = 3;
	r.progress_done = 10;
	r.progress_total = 10;
	r.result = (uint8_t *) out;
	r.result_len = sizeof(out);
	r.error = NULL;
	r.started_at = 111;
	r.finished_at = 222;
	r.not_before = 333;
	CHECK_EQ_INT(store_update(s, &r), JOBD_OK);
	REQUIRE(store_get(s, 3, STORE_INPUT, &got) == JOBD_OK);
	check_job(&got, &r, 1, 1);
	jobrec_clear(&got);

	/* The fields that are not mutable stay. */
	r.kind = "changed";
	r.priority = 99;
	r.nparams = 0;
	r.state = JOB_FAILED;
	r.result = NULL;
	r.result_len = 0;
	r.error = "it broke";
	CHECK_EQ_INT(store_update(s, &r), JOBD_OK);
	REQUIRE(store_get(s, 3, 0, &got) == JOBD_OK);
	CHECK_EQ_STR(got.kind, "sha256");
	CHECK_EQ_INT(got.priority, -7);
	CHECK_EQ_INT(got.nparams, sizeof(odd_params) / sizeof(odd_params[0]));
	CHECK_EQ_INT(got.state, JOB_FAILED);
	CHECK(got.result == NULL);
	CHECK_EQ_STR(got.error, "it broke");
	jobrec_clear(&got);

	r.id = 4;
	CHECK_EQ_INT(store_update(s, &r), JOBD_NOT_FOUND);
	CHECK_EQ_STR(store_errmsg(s), "cannot update job 4: no such job");
	r.id = 3;
	r.state = 0;
	CHECK_EQ_INT(store_update(s, &r), JOBD_INVALID_ARGUMENT);
	store_close(s);
}

static void
test_get_missing(void)
{
	char path[256];
	struct jobrec got;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "missing.db"));
	memset(&got, 0xa5, sizeof(got));
	CHECK_EQ_INT(store_get(s, 12, 0, &got), JOBD_NOT_FOUND);
	CHECK_EQ_STR(store_errmsg(s), "cannot get job 12: no such job");
	CHECK(got.kind == NULL && got.params == NULL); /* safe to clear */
	jobrec_clear(&got);
	CHECK_EQ_INT(store_get(s, 0, STORE_INPUT, &got), JOBD_NOT_FOUND);
	CHECK_EQ_INT(store_get(s, UINT64_MAX, 0, &got), JOBD_NOT_FOUND);
	store_close(s);
}

/* Lists with filter `f` and checks the ids are exactly `want`. */
static void
check_list(store *s, const struct store_filter *f, const uint64_t *want,
           size_t nwant, int line)
{
	struct jobrec *out = NULL;
	size_t n = 99;
	int rv = store_list(s, f, &out, &n);

	if (rv != JOBD_OK || n != nwant)
		fprintf(stderr, "line %d: rv %d n %zu want %zu: %s\n", line, rv,
		        n, nwant, store_errmsg(s));
	CHECK_EQ_INT(rv, JOBD_OK);
	CHECK_EQ_INT(n, nwant);
	for (size_t i = 0; i < n && i < nwant; i++) {
		CHECK_EQ_INT(out[i].id, want[i]);
		CHECK(out[i].input == NULL);
		CHECK(out[i].result == NULL);
		CHECK_EQ_INT(out[i].input_len, out[i].id == 8 ? 3 : 0);
		CHECK(out[i].kind != NULL);
		if (f->state != 0)
			CHECK_EQ_INT(out[i].state, f->state);
		if (f->kind != NULL)
			CHECK_EQ_STR(out[i].kind, f->kind);
	}
	for (size_t i = 0; i < n; i++)
		jobrec_clear(&out[i]);
	free(out);
}

static void
test_list(void)
{
	char path[256];
	struct store_filter f;
	struct jobrec r, *out;
	size_t n;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "list.db"));
	/* ids 1..10; odd ids queued, even succeeded; kind a for id % 3 == 0 */
	for (uint64_t id = 1; id <= 10; id++) {
		r = small_job(id, id % 2 ? JOB_QUEUED : JOB_SUCCEEDED,
		              id % 3 == 0 ? "a" : "b");
		if (id == 8) {
			r.input = (uint8_t *) "xyz";
			r.input_len = 3;
			r.result = (uint8_t *) "r";
			r.result_len = 1;
		}
		REQUIRE(store_insert(s, &r) == JOBD_OK);
	}

	memset(&f, 0, sizeof(f));
	check_list(s, &f, (uint64_t[]){10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 10,
	           __LINE__);
	f.state = JOB_QUEUED;
	check_list(s, &f, (uint64_t[]){9, 7, 5, 3, 1}, 5, __LINE__);
	f.state = JOB_SUCCEEDED;
	check_list(s, &f, (uint64_t[]){10, 8, 6, 4, 2}, 5, __LINE__);
	f.state = JOB_RUNNING;
	check_list(s, &f, NULL, 0, __LINE__);
	f.state = 0;
	f.kind = "a";
	check_list(s, &f, (uint64_t[]){9, 6, 3}, 3, __LINE__);
	f.state = JOB_QUEUED;
	check_list(s, &f, (uint64_t[]){9, 3}, 2, __LINE__);
	f.kind = "nope";
	check_list(s, &f, NULL, 0, __LINE__);

	memset(&f, 0, sizeof(f));
	f.before = 6;
	check_list(s, &f, (uint64_t[]){5, 4, 3, 2, 1}, 5, __LINE__);
	f.before = 1;
	check_list(s, &f, NULL, 0, __LINE__);
	f.before = UINT64_MAX;
	f.limit = 3;
	check_list(s, &f, (uint64_t[]){10, 9, 8}, 3, __LINE__);
	f.before = 6;
	f.limit = 2;
	check_list(s, &f, (uint64_t[]){5, 4}, 2, __LINE__);
	/* Paging: state, kind, before and limit at once. */
	f.state = JOB_SUCCEEDED;
	f.kind = "b";
	f.before = 10;
	f.limit = 2;
	check_list(s, &f, (uint64_t[]){8, 4}, 2, __LINE__);
	f.before = 4;
	check_list(s, &f, (uint64_t[]){2}, 1, __LINE__);

	memset(&f, 0, sizeof(f));
	f.state = JOB_STATE_MAX + 1;
	out = (struct jobrec *) 1;
	n = 5;
	CHECK_EQ_INT(store_list(s, &f, &out, &n), JOBD_INVALID_ARGUMENT);
	CHECK(out == NULL);
	CHECK_EQ_INT(n, 0);
	store_close(s);
}

struct scan_seen {
	uint64_t ids[16];
	size_t n;
	size_t stop_at; /* return 77 at this call (1-based); 0 = never */
	int bad;
};

/* Records the job's id (the first 16) and whether it is `bad`; 77 at call
 * stop_at, else 0. */
static int
seen_add(struct scan_seen *seen, const struct jobrec *r, bool bad)
{
	if (seen->n < 16)
		seen->ids[seen->n] = r->id;
	seen->n++;
	seen->bad += bad;
	return seen->n == seen->stop_at ? 77 : 0;
}

/* Every scanned job has its input and its params. */
static int
scan_fn(const struct jobrec *r, void *arg)
{
	bool bad = r->input_len != 8 || r->input == NULL ||
	           memcmp(r->input, "in", 2) != 0 || r->nparams != 1 ||
	           strcmp(r->params[0].value, "v") != 0 ||
	           r->state != JOB_QUEUED;
	return seen_add(arg, r, bad);
}

static void
test_scan(void)
{
	char path[256];
	static const uint64_t order[] = {5, 3, 9, 1, 7};
	struct job_param p = {"k", "v"};
	struct scan_seen seen;
	uint8_t in[8] = {'i', 'n', 0, 1, 2, 3, 4, 5};
	struct jobrec r;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "scan.db"));
	for (size_t i = 0; i < 5; i++) {
		r = small_job(order[i], JOB_QUEUED, "sleep");
		r.params = &p;
		r.nparams = 1;
		r.input = in;
		r.input_len = sizeof(in);
		REQUIRE(store_insert(s, &r) == JOBD_OK);
	}
	r = small_job(4, JOB_RUNNING, "sleep");
	REQUIRE(store_insert(s, &r) == JOBD_OK);

	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_INT(store_scan(s, JOB_QUEUED, scan_fn, &seen), JOBD_OK);
	CHECK_EQ_INT(seen.n, 5);
	CHECK_EQ_INT(seen.bad, 0);
	for (size_t i = 0; i < 5; i++)
		CHECK_EQ_INT(seen.ids[i], 2 * i + 1);

	memset(&seen, 0, sizeof(seen));
	seen.stop_at = 2;
	CHECK_EQ_INT(store_scan(s, JOB_QUEUED, scan_fn, &seen), 77);
	CHECK_EQ_INT(seen.n, 2);

	/* The stopped scan was reset: scanning again starts over. */
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_INT(store_scan(s, JOB_FAILED, scan_fn, &seen), JOBD_OK);
	CHECK_EQ_INT(seen.n, 0);
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_INT(store_scan(s, JOB_QUEUED, scan_fn, &seen), JOBD_OK);
	CHECK_EQ_INT(seen.n, 5);
	CHECK_EQ_INT(store_scan(s, 0, scan_fn, &seen), JOBD_INVALID_ARGUMENT);
	store_close(s);
}

static void
test_recover(void)
{
	char path[256];
	struct jobrec r, got;
	uint64_t n = 99, failed = 99;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "recover.db"));
	for (uint64_t id = 1; id <= 4; id++) {
		r = small_job(id, id <= 2 ? JOB_RUNNING : JOB_SUCCEEDED, "k");
		r.attempts = (uint32_t) id + 1;
		r.progress_done = 5;
		r.progress_total = 10;
		r.started_at = 1000 + (int64_t) id;
		REQUIRE(store_insert(s, &r) == JOBD_OK);
	}
	r = small_job(5, JOB_QUEUED, "k");
	REQUIRE(store_insert(s, &r) == JOBD_OK);

	CHECK_EQ_INT(store_recover(s, 0, 1, &n, &failed), JOBD_OK);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(failed, 0);
	for (uint64_t id = 1; id <= 2; id++) {
		REQUIRE(store_get(s, id, 0, &got) == JOBD_OK);
		CHECK_EQ_INT(got.state, JOB_QUEUED);
		CHECK_EQ_INT(got.attempts, id + 1);
		CHECK_EQ_INT(got.progress_done, 0);
		CHECK_EQ_INT(got.progress_total, 0);
		CHECK_EQ_INT(got.started_at, 1000 + id);
		jobrec_clear(&got);
	}
	REQUIRE(store_get(s, 3, 0, &got) == JOBD_OK);
	CHECK_EQ_INT(got.state, JOB_SUCCEEDED);
	CHECK_EQ_INT(got.progress_done, 5);
	jobrec_clear(&got);

	CHECK_EQ_INT(store_recover(s, 0, 1, &n, &failed), JOBD_OK);
	CHECK_EQ_INT(n, 0);
	store_close(s);
}

static void
test_purge(void)
{
	char path[256];
	static const struct {
		int state;
		int64_t finished_at;
		int purged;
	} jobs[] = {
	    {JOB_SUCCEEDED, 100, 1},
	    {JOB_FAILED, 200, 1},
	    {JOB_CANCELLED, 300, 1},
	    {JOB_SUCCEEDED, 500, 0}, /* not before 500 */
	    {JOB_FAILED, 1000, 0},
	    {JOB_QUEUED, 50, 0}, /* a retry: not terminal */
	    {JOB_RUNNING, 0, 0},
	    {JOB_QUEUED, 0, 0},
	};
	struct jobrec r, got;
	uint64_t n = 99, counts[JOB_STATE_MAX + 1];
	store *s;

	s = open_ok(tpath(path, sizeof(path), "purge.db"));
	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		r = small_job(i + 1, jobs[i].state, "k");
		r.finished_at = jobs[i].finished_at;
		REQUIRE(store_insert(s, &r) == JOBD_OK);
	}
	CHECK_EQ_INT(store_purge(s, 500, &n), JOBD_OK);
	CHECK_EQ_INT(n, 3);
	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		int rv = store_get(s, i + 1, 0, &got);
		CHECK_EQ_INT(rv, jobs[i].purged ? JOBD_NOT_FOUND : JOBD_OK);
		jobrec_clear(&got);
	}
	CHECK_EQ_INT(store_purge(s, 500, &n), JOBD_OK);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(store_purge(s, INT64_MAX, &n), JOBD_OK);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(store_counts(s, counts), JOBD_OK);
	CHECK_EQ_INT(counts[JOB_QUEUED], 2);
	CHECK_EQ_INT(counts[JOB_RUNNING], 1);
	CHECK_EQ_INT(counts[JOB_SUCCEEDED] + counts[JOB_FAILED] +
	                 counts[JOB_CANCELLED],
	             0);
	store_close(s);
}

static void
test_counts_max_id(void)
{
	char path[256];
	static const int states[] = {JOB_QUEUED,   JOB_QUEUED, JOB_QUEUED,
	                             JOB_RUNNING,  JOB_FAILED, JOB_FAILED,
	                             JOB_CANCELLED};
	uint64_t counts[JOB_STATE_MAX + 1], id;
	struct jobrec r;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "counts.db"));
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		r = small_job(100 - i * 10, states[i], "k");
		REQUIRE(store_insert(s, &r) == JOBD_OK);
	}
	memset(counts, 0xff, sizeof(counts));
	CHECK_EQ_INT(store_counts(s, counts), JOBD_OK);
	CHECK_EQ_INT(counts[JOB_QUEUED], 3);
	CHECK_EQ_INT(counts[JOB_RUNNING], 1);
	CHECK_EQ_INT(counts[JOB_SUCCEEDED], 0);
	CHECK_EQ_INT(counts[JOB_FAILED], 2);
	CHECK_EQ_INT(counts[JOB_CANCELLED], 1);
	CHECK_EQ_INT(store_max_id(s, &id), JOBD_OK);
	CHECK_EQ_INT(id, 100);
	r = small_job(INT64_MAX, JOB_QUEUED, "k");
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	CHECK_EQ_INT(store_max_id(s, &id), JOBD_OK);
	CHECK(id == (uint64_t) INT64_MAX);
	store_close(s);
}

static void
test_reopen(void)
{
	char path[256];
	struct jobrec a = full_job(1), b = small_job(2, JOB_QUEUED, "k"), got;
	uint64_t id;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "reopen.db"));
	REQUIRE(store_insert(s, &a) == JOBD_OK);
	REQUIRE(store_begin(s) == JOBD_OK);
	REQUIRE(store_insert(s, &b) == JOBD_OK);
	REQUIRE(store_commit(s) == JOBD_OK);
	store_close(s);

	s = open_ok(path);
	REQUIRE(store_get(s, 1, STORE_INPUT, &got) == JOBD_OK);
	check_job(&got, &a, 1, 1);
	jobrec_clear(&got);
	REQUIRE(store_get(s, 2, STORE_INPUT, &got) == JOBD_OK);
	check_job(&got, &b, 1, 1);
	jobrec_clear(&got);
	CHECK_EQ_INT(store_find_key(s, "key-1", &id), JOBD_OK);
	CHECK_EQ_INT(id, 1);
	store_close(s);
}

static void
test_two_connections(void)
{
	char path[256];
	struct jobrec r = small_job(1, JOB_QUEUED, "k"), got;
	store *w, *rd;

	tpath(path, sizeof(path), "two.db");
	w = open_ok(path);
	rd = open_ok(path);
	REQUIRE(store_begin(w) == JOBD_OK);
	REQUIRE(store_insert(w, &r) == JOBD_OK);
	/* WAL: the reader is not blocked and does not see the open write. */
	CHECK_EQ_INT(store_get(rd, 1, 0, &got), JOBD_NOT_FOUND);
	REQUIRE(store_commit(w) == JOBD_OK);
	CHECK_EQ_INT(store_get(rd, 1, 0, &got), JOBD_OK);
	jobrec_clear(&got);
	store_close(rd);
	store_close(w);
}

/* store_open() on `path` fails with `code` and a message containing `msg`,
 * and the file is byte for byte what it was. */
static void
check_refused(const char *path, int code, const char *msg)
{
	char err[512] = "", wal[300];
	uint8_t *before, *after;
	size_t nbefore = 0, nafter = 0;
	store *s = (store *) 1;
	int rv;

	REQUIRE((before = slurp(path, &nbefore)) != NULL);
	rv = store_open(&s, path, err, sizeof(err));
	CHECK_EQ_INT(rv, code);
	CHECK(s == NULL);
	if (strstr(err, msg) == NULL || strstr(err, path) == NULL)
		fprintf(stderr, "unexpected message: %s\n", err);
	CHECK(strstr(err, msg) != NULL);
	CHECK(strstr(err, path) != NULL);
	REQUIRE((after = slurp(path, &nafter)) != NULL);
	CHECK_EQ_INT(nafter, nbefore);
	CHECK(nafter == nbefore && memcmp(before, after, nbefore) == 0);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	CHECK(!exists(wal));
	free(before);
	free(after);
}

static void
test_foreign_db(void)
{
	char path[256], buf[64];

	tpath(path, sizeof(path), "foreign.db");
	raw_exec(path, "CREATE TABLE foo (x); INSERT INTO foo VALUES (1);");
	check_refused(path, JOBD_FAILED_PRECONDITION,
	              "is not a jobd database (it has other tables)");
	raw_query(path, "SELECT x FROM foo", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "1");

	/* It claims our version, but has not our table. */
	tpath(path, sizeof(path), "foreign1.db");
	raw_exec(path, "CREATE TABLE foo (x); PRAGMA user_version = 1;");
	check_refused(path, JOBD_FAILED_PRECONDITION,
	              "is not a jobd database: no such table: jobs");
}

/*
 * A jobd database with the WAL of another database next to it: SQLite
 * reads the two as one, which is not jobd's, and refused; closing would
 * have checkpointed that WAL into our file. Both files stay as they were.
 */
static void
test_foreign_wal(void)
{
	char path[256], other[256], wal[300], owal[300], err[256];
	uint8_t *db0, *wal0, *db1, *wal1;
	size_t ndb0, nwal0, ndb1 = 0, nwal1 = 0;
	sqlite3 *o = NULL;
	store *s = (store *) 1;

	tpath(path, sizeof(path), "fwal.db");
	snprintf(wal, sizeof(wal), "%s-wal", path);
	store_close(open_ok(path)); /* checkpointed: no -wal left */
	REQUIRE(!exists(wal));

	/* the other database's WAL, taken while it is open */
	tpath(other, sizeof(other), "fwal-other.db");
	snprintf(owal, sizeof(owal), "%s-wal", other);
	REQUIRE(sqlite3_open(other, &o) == SQLITE_OK);
	REQUIRE(
	    sqlite3_exec(o,
	                 "PRAGMA journal_mode = WAL;"
	                 "PRAGMA wal_autocheckpoint = 0;"
	                 "CREATE TABLE foo (x); INSERT INTO foo VALUES (1);",
	                 NULL, NULL, NULL) == SQLITE_OK);
	REQUIRE((wal0 = slurp(owal, &nwal0)) != NULL);
	sqlite3_close(o);
	spit(wal, wal0, nwal0);

	REQUIRE((db0 = slurp(path, &ndb0)) != NULL);
	CHECK_EQ_INT(store_open(&s, path, err, sizeof(err)),
	             JOBD_FAILED_PRECONDITION);
	CHECK(s == NULL);
	CHECK(strstr(err, "is not a jobd database (it has other tables)") !=
	      NULL);
	REQUIRE((db1 = slurp(path, &ndb1)) != NULL);
	REQUIRE((wal1 = slurp(wal, &nwal1)) != NULL);
	CHECK(ndb1 == ndb0 && memcmp(db0, db1, ndb0) == 0);
	CHECK(nwal1 == nwal0 && memcmp(wal0, wal1, nwal0) == 0);
	free(db0);
	free(db1);
	free(wal0);
	free(wal1);
}

static void
test_newer_version(void)
{
	char path[256];

	tpath(path, sizeof(path), "newer.db");
	raw_exec(path, "PRAGMA user_version = 4;");
	check_refused(path, JOBD_FAILED_PRECONDITION,
	              "has schema version 4, newer than this jobd (3)");

	/* Not a version at all. */
	tpath(path, sizeof(path), "negative.db");
	raw_exec(path, "PRAGMA user_version = -3;");
	check_refused(path, JOBD_FAILED_PRECONDITION,
	              "is not a jobd database (schema version -3)");

	/* A jobd database from the future, tables and all. */
	tpath(path, sizeof(path), "newer2.db");
	store_close(open_ok(path));
	raw_exec(path, "PRAGMA journal_mode = DELETE; PRAGMA user_version = "
	               "7;");
	check_refused(path, JOBD_FAILED_PRECONDITION,
	              "has schema version 7, newer than this jobd (3)");
}

static void
test_not_a_db(void)
{
	char path[256];
	uint8_t junk[8192];
	uint32_t x = 12345;
	static const char text[] = "hello\nthis is a text file\n";

	for (size_t i = 0; i < sizeof(junk); i++) {
		x = x * 1103515245 + 12345;
		junk[i] = (uint8_t) (x >> 16);
	}
	tpath(path, sizeof(path), "random.db");
	spit(path, junk, sizeof(junk));
	check_refused(
	    path, JOBD_DATA_LOSS,
	    "is corrupt or not a SQLite database: file is not a database");

	tpath(path, sizeof(path), "text.db");
	spit(path, text, strlen(text));
	check_refused(path, JOBD_DATA_LOSS,
	              "is corrupt or not a SQLite database");

	/* A SQLite header and garbage after it. */
	tpath(path, sizeof(path), "header.db");
	memcpy(junk, "SQLite format 3", 16);
	spit(path, junk, sizeof(junk));
	check_refused(path, JOBD_DATA_LOSS,
	              "is corrupt or not a SQLite database");
}

/* Writes `blob` (SQL literal) as job 1's params behind the store's back and
 * checks that reading it is DATA_LOSS naming job 1. */
static void
check_bad_params(store *s, const char *path, const char *blob, int line)
{
	char sql[256];
	struct jobrec got, *out = NULL;
	struct store_filter f;
	struct scan_seen seen;
	size_t n = 0;
	int rv;

	snprintf(sql, sizeof(sql), "UPDATE jobs SET params = %s WHERE id = 1",
	         blob);
	raw_exec(path, sql);
	rv = store_get(s, 1, STORE_INPUT, &got);
	if (rv != JOBD_DATA_LOSS)
		fprintf(stderr, "line %d: %s gave %d\n", line, blob, rv);
	CHECK_EQ_INT(rv, JOBD_DATA_LOSS);
	CHECK(strstr(store_errmsg(s), "cannot read job 1: corrupt record") ==
	      store_errmsg(s));
	CHECK(got.params == NULL && got.kind == NULL);

	memset(&f, 0, sizeof(f));
	CHECK_EQ_INT(store_list(s, &f, &out, &n), JOBD_DATA_LOSS);
	CHECK(out == NULL && n == 0);
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_INT(store_scan(s, JOB_QUEUED, scan_fn, &seen), JOBD_DATA_LOSS);
	CHECK_EQ_INT(seen.n, 0);
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_INT(
	    store_scan_brief(s, JOB_QUEUED, 0, UINT64_MAX, scan_fn, &seen),
	    JOBD_DATA_LOSS);
	CHECK_EQ_INT(seen.n, 0);

	/* The store is still usable. */
	CHECK_EQ_INT(store_get(s, 2, 0, &got), JOBD_OK);
	jobrec_clear(&got);
}

/* A brief scan hands out views: no input, but its length; params, key and
 * error as stored. */
static int
brief_fn(const struct jobrec *r, void *arg)
{
	bool bad =
	    r->input != NULL || r->input_len != 8 || r->result != NULL ||
	    r->nparams != 2 || strcmp(r->params[0].name, "k") != 0 ||
	    strcmp(r->params[0].value, "v") != 0 ||
	    strcmp(r->params[1].name, "long") != 0 ||
	    strlen(r->params[1].value) != 300 || r->state != JOB_QUEUED ||
	    strcmp(r->kind, "sleep") != 0 || r->idem_key == NULL ||
	    (unsigned long long) strtoull(r->idem_key + 4, NULL, 10) != r->id ||
	    (r->id == 7) != (r->error != NULL && strcmp(r->error, "e") == 0);
	return seen_add(arg, r, bad);
}

static void
test_scan_brief(void)
{
	char path[256], key[32], big[301];
	static const uint64_t order[] = {5, 3, 9, 1, 7};
	struct job_param p[2] = {{"k", "v"}, {"long", big}};
	struct scan_seen seen;
	uint8_t in[8] = {'i', 'n', 0, 1, 2, 3, 4, 5}, *buf;
	struct jobrec r;
	uint64_t lo, hi;
	size_t len;
	store *s;

	memset(big, 'x', 300);
	big[300] = '\0';
	s = open_ok(tpath(path, sizeof(path), "brief.db"));
	CHECK_EQ_INT(store_id_range(s, JOB_QUEUED, &lo, &hi), JOBD_OK);
	CHECK(lo == 0 && hi == 0);
	for (size_t i = 0; i < 5; i++) {
		r = small_job(order[i], JOB_QUEUED, "sleep");
		r.params = p;
		r.nparams = 2;
		r.input = in;
		r.input_len = sizeof(in);
		snprintf(key, sizeof(key), "key-%llu",
		         (unsigned long long) order[i]);
		r.idem_key = key;
		r.error = order[i] == 7 ? "e" : NULL;
		REQUIRE(store_insert(s, &r) == JOBD_OK);
	}
	r = small_job(4, JOB_RUNNING, "sleep");
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	r = small_job(11, JOB_SUCCEEDED, "sleep");
	REQUIRE(store_insert(s, &r) == JOBD_OK);

	CHECK_EQ_INT(store_id_range(s, JOB_QUEUED, &lo, &hi), JOBD_OK);
	CHECK(lo == 1 && hi == 9);
	CHECK_EQ_INT(store_id_range(s, JOB_RUNNING, &lo, &hi), JOBD_OK);
	CHECK(lo == 4 && hi == 4);
	CHECK_EQ_INT(store_id_range(s, 0, &lo, &hi), JOBD_INVALID_ARGUMENT);

	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_INT(
	    store_scan_brief(s, JOB_QUEUED, 0, UINT64_MAX, brief_fn, &seen),
	    JOBD_OK);
	CHECK_EQ_INT(seen.n, 5);
	CHECK_EQ_INT(seen.bad, 0);
	for (size_t i = 0; i < 5; i++)
		CHECK_EQ_INT(seen.ids[i], 2 * i + 1);
	/* a range, both ends included */
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_INT(store_scan_brief(s, JOB_QUEUED, 3, 7, brief_fn, &seen),
	             JOBD_OK);
	CHECK_EQ_INT(seen.n, 3);
	CHECK_EQ_INT(seen.bad, 0);
	CHECK(seen.ids[0] == 3 && seen.ids[1] == 5 && seen.ids[2] == 7);
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_INT(
	    store_scan_brief(s, JOB_QUEUED, 10, UINT64_MAX, brief_fn, &seen),
	    JOBD_OK);
	CHECK_EQ_INT(seen.n, 0);

	/* the input, read alone, with the kind and params it is run with */
	CHECK_EQ_INT(store_get_input(s, 5, "sleep", p, 2, &buf, &len), JOBD_OK);
	CHECK(len == sizeof(in) && buf != NULL && memcmp(buf, in, len) == 0);
	free(buf);
	CHECK_EQ_INT(store_get_input(s, 4, "sleep", NULL, 0, &buf, &len),
	             JOBD_OK);
	CHECK(len == 0 && buf == NULL);
	CHECK_EQ_INT(store_get_input(s, 42, "sleep", NULL, 0, &buf, &len),
	             JOBD_NOT_FOUND);
	CHECK(strstr(store_errmsg(s), "no such job") != NULL);
	CHECK_EQ_INT(
	    store_get_input(s, UINT64_MAX, "sleep", NULL, 0, &buf, &len),
	    JOBD_NOT_FOUND);
	CHECK_EQ_STR(store_path(s), path);
	store_close(s);
}

static void
test_corrupt_record(void)
{
	char path[256], buf[128];
	struct jobrec r, got;
	struct job_param p[] = {{"a", "b"}, {"cc", ""}};
	uint64_t counts[JOB_STATE_MAX + 1];
	store *s;

	s = open_ok(tpath(path, sizeof(path), "corrupt.db"));
	r = small_job(1, JOB_QUEUED, "k");
	r.params = p;
	r.nparams = 2;
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	r = small_job(2, JOB_SUCCEEDED, "k");
	REQUIRE(store_insert(s, &r) == JOBD_OK);

	/* Our encoding, as the sqlite3 shell sees it. */
	raw_query(path, "SELECT hex(params) FROM jobs WHERE id = 1", buf,
	          sizeof(buf));
	CHECK_EQ_STR(buf, "02000000010000006101000000620200000063630000"
	                  "0000");

	check_bad_params(s, path, "x''", __LINE__);
	check_bad_params(s, path, "x'0100'", __LINE__);
	check_bad_params(s, path, "x'ffffffff'", __LINE__);
	check_bad_params(s, path, "x'01000000'", __LINE__);
	check_bad_params(s, path, "x'0100000005000000616263'", __LINE__);
	check_bad_params(s, path, "x'01000000ffffffff6162636465666768'",
	                 __LINE__);
	check_bad_params(s, path, "x'010000000100000061ffffffff'", __LINE__);
	check_bad_params(s, path, "x'0100000001000000610100000062ff'",
	                 __LINE__);
	check_bad_params(s, path, "x'01000000010000000000000000'", __LINE__);
	check_bad_params(s, path, "x'0200000001000000610100000062'", __LINE__);
	check_bad_params(s, path, "randomblob(1000)", __LINE__);

	/* A good blob again reads again. */
	raw_exec(path, "UPDATE jobs SET params = x'0100000001000000610000000"
	               "0' WHERE id = 1");
	REQUIRE(store_get(s, 1, 0, &got) == JOBD_OK);
	CHECK_EQ_INT(got.nparams, 1);
	CHECK_EQ_STR(got.params[0].name, "a");
	CHECK_EQ_STR(got.params[0].value, "");
	jobrec_clear(&got);

	/* A state that is not one (CHECK switched off by the writer). */
	raw_exec(path, "PRAGMA ignore_check_constraints = ON;"
	               " UPDATE jobs SET state = 'zombie' WHERE id = 2");
	CHECK_EQ_INT(store_get(s, 2, 0, &got), JOBD_DATA_LOSS);
	CHECK_EQ_STR(store_errmsg(s),
	             "cannot read job 2: corrupt record (unknown state)");
	CHECK_EQ_INT(store_counts(s, counts), JOBD_DATA_LOSS);
	CHECK(strstr(store_errmsg(s), "zombie") != NULL);
	raw_exec(path, "UPDATE jobs SET state = 'failed' WHERE id = 2");

	/* Numbers out of their field's range. */
	raw_exec(path, "UPDATE jobs SET priority = 1 << 40 WHERE id = 2");
	CHECK_EQ_INT(store_get(s, 2, 0, &got), JOBD_DATA_LOSS);
	raw_exec(path, "UPDATE jobs SET priority = 0, attempts = -1"
	               " WHERE id = 2");
	CHECK_EQ_INT(store_get(s, 2, 0, &got), JOBD_DATA_LOSS);
	raw_exec(path, "UPDATE jobs SET attempts = 0 WHERE id = 2");
	CHECK_EQ_INT(store_get(s, 2, 0, &got), JOBD_OK);
	jobrec_clear(&got);
	store_close(s);
}

static void
test_corrupt_file(void)
{
	char path[256];
	struct jobrec r;
	struct store_filter f;
	struct jobrec *out = NULL;
	uint8_t *b;
	size_t len, n = 0;
	store *s;
	int rv;

	s = open_ok(tpath(path, sizeof(path), "corruptfile.db"));
	REQUIRE(store_begin(s) == JOBD_OK);
	for (uint64_t id = 1; id <= 3000; id++) {
		r = small_job(id, JOB_QUEUED, "some-kind");
		r.error = "some text to fill the pages a little faster";
		REQUIRE(store_insert(s, &r) == JOBD_OK);
	}
	REQUIRE(store_commit(s) == JOBD_OK);
	CHECK_EQ_INT(store_check(s), JOBD_OK);
	store_close(s);

	/* Overwrite pages in the middle, keeping the header and schema. */
	REQUIRE((b = slurp(path, &len)) != NULL);
	REQUIRE(len > 40 * 4096);
	for (size_t i = 20 * 4096; i < 30 * 4096; i++)
		b[i] = (uint8_t) (i * 31 + 7);
	spit(path, b, len);
	free(b);

	s = open_ok(path);
	CHECK_EQ_INT(store_check(s), JOBD_DATA_LOSS);
	CHECK(strstr(store_errmsg(s), "is corrupt: ") != NULL);
	memset(&f, 0, sizeof(f));
	rv = store_list(s, &f, &out, &n);
	CHECK_EQ_INT(rv, JOBD_DATA_LOSS);
	CHECK(out == NULL);
	store_close(s);
}

static void
test_transactions(void)
{
	char path[256];
	struct jobrec r, got;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "tx.db"));
	CHECK_EQ_INT(store_rollback(s), JOBD_OK); /* nothing to roll back */

	REQUIRE(store_begin(s) == JOBD_OK);
	r = small_job(1, JOB_QUEUED, "k");
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	REQUIRE(store_rollback(s) == JOBD_OK);
	CHECK_EQ_INT(store_get(s, 1, 0, &got), JOBD_NOT_FOUND);

	REQUIRE(store_begin(s) == JOBD_OK);
	r = small_job(2, JOB_QUEUED, "k");
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	/* A failed statement inside, then a rollback: the next one works. */
	CHECK_EQ_INT(store_insert(s, &r), JOBD_ALREADY_EXISTS);
	CHECK_EQ_INT(store_rollback(s), JOBD_OK);
	CHECK_EQ_INT(store_get(s, 2, 0, &got), JOBD_NOT_FOUND);

	REQUIRE(store_begin(s) == JOBD_OK);
	CHECK(store_begin(s) != JOBD_OK); /* no nesting */
	CHECK(strstr(store_errmsg(s), "cannot begin transaction: ") ==
	      store_errmsg(s));
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	CHECK_EQ_INT(store_commit(s), JOBD_OK);
	CHECK(store_commit(s) != JOBD_OK); /* no transaction */
	CHECK_EQ_INT(store_get(s, 2, 0, &got), JOBD_OK);
	jobrec_clear(&got);

	REQUIRE(store_begin(s) == JOBD_OK);
	CHECK_EQ_INT(store_commit(s), JOBD_OK);
	store_close(s);
}

/*
 * A COMMIT that cannot write (the file size limit stands in for a full
 * disk, which also stops root) fails with UNAVAILABLE, and afterwards the
 * store begins and commits again with the failed transaction gone.
 */
static void
test_failed_commit(void)
{
	char path[256], wal[300];
	static uint8_t big[256 * 1024];
	struct jobrec r, got;
	struct rlimit old, lim;
	off_t limit;
	int rv;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "full.db"));
	snprintf(wal, sizeof(wal), "%s-wal", path);
	r = small_job(1, JOB_QUEUED, "k");
	REQUIRE(store_insert(s, &r) == JOBD_OK);

	limit =
	    file_size(path) > file_size(wal) ? file_size(path) : file_size(wal);
	limit += 16 * 1024;
	REQUIRE(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
	REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = (rlim_t) limit;

	REQUIRE(store_begin(s) == JOBD_OK);
	r = small_job(2, JOB_QUEUED, "k");
	r.input = big;
	r.input_len = sizeof(big);
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	rv = store_commit(s);
	REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
	CHECK_EQ_INT(rv, JOBD_UNAVAILABLE);
	CHECK(strstr(store_errmsg(s), "cannot commit transaction: ") ==
	      store_errmsg(s));
	if (rv != JOBD_UNAVAILABLE)
		fprintf(stderr, "commit: %s\n", store_errmsg(s));

	/* The store works again, without the failed job. */
	CHECK_EQ_INT(store_get(s, 2, 0, &got), JOBD_NOT_FOUND);
	REQUIRE(store_begin(s) == JOBD_OK);
	r = small_job(3, JOB_QUEUED, "k");
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	REQUIRE(store_commit(s) == JOBD_OK);
	CHECK_EQ_INT(store_check(s), JOBD_OK);
	store_close(s);

	s = open_ok(path);
	CHECK_EQ_INT(store_get(s, 1, 0, &got), JOBD_OK);
	jobrec_clear(&got);
	CHECK_EQ_INT(store_get(s, 2, 0, &got), JOBD_NOT_FOUND);
	CHECK_EQ_INT(store_get(s, 3, 0, &got), JOBD_OK);
	jobrec_clear(&got);
	CHECK_EQ_INT(store_check(s), JOBD_OK);
	store_close(s);
	signal(SIGXFSZ, SIG_DFL);
}

/*
 * A COMMIT that fails and leaves the transaction open (here a deferred
 * foreign key, which another program added behind our back, and which
 * shows that foreign_keys is on): store_commit() rolls back, so the next
 * store_begin() works.
 */
static void
test_commit_left_open(void)
{
	char path[256];
	struct jobrec r, got;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "fk.db"));
	raw_exec(path, "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
	               "CREATE TABLE child (p REFERENCES parent (id)"
	               " DEFERRABLE INITIALLY DEFERRED);"
	               "CREATE TRIGGER orphan AFTER INSERT ON jobs WHEN "
	               "new.kind = 'orphan'"
	               " BEGIN INSERT INTO child VALUES (12345); END;");

	REQUIRE(store_begin(s) == JOBD_OK);
	r = small_job(1, JOB_QUEUED, "orphan");
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	CHECK_EQ_INT(store_commit(s), JOBD_INTERNAL);
	CHECK_EQ_STR(
	    store_errmsg(s),
	    "cannot commit transaction: FOREIGN KEY constraint failed");

	CHECK_EQ_INT(store_begin(s), JOBD_OK);
	CHECK_EQ_INT(store_get(s, 1, 0, &got), JOBD_NOT_FOUND);
	r = small_job(2, JOB_QUEUED, "fine");
	CHECK_EQ_INT(store_insert(s, &r), JOBD_OK);
	CHECK_EQ_INT(store_commit(s), JOBD_OK);
	CHECK_EQ_INT(store_get(s, 2, 0, &got), JOBD_OK);
	jobrec_clear(&got);
	store_close(s);
}

/*
 * Another process holds the write lock for a moment: store_begin() waits
 * for it (the busy timeout) instead of failing at once.
 */
static void
test_busy_wait(void)
{
	char path[256], c;
	struct jobrec got;
	int fds[2], status;
	pid_t pid;
	store *s;

	/* No connection may be open across fork(). */
	store_close(open_ok(tpath(path, sizeof(path), "busy.db")));
	REQUIRE(pipe(fds) == 0);
	if ((pid = fork()) == 0) {
		sqlite3 *db = NULL;
		int ok =
		    sqlite3_open(path, &db) == SQLITE_OK &&
		    sqlite3_exec(
		        db,
		        "BEGIN IMMEDIATE; INSERT INTO jobs VALUES (7, 'k',"
		        " x'00000000', 0, 'queued', 0, 1, 0, 0, 0, NULL, NULL,"
		        " 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, "
		        "NULL)",
		        NULL, NULL, NULL) == SQLITE_OK;
		(void) !write(fds[1], "x", 1);
		usleep(300 * 1000);
		ok = ok &&
		     sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
		sqlite3_close(db);
		_exit(ok ? 0 : 1);
	}
	REQUIRE(pid > 0);
	REQUIRE(read(fds[0], &c, 1) == 1);
	s = open_ok(path);
	CHECK_EQ_INT(store_begin(s), JOBD_OK);
	/* The child committed before we got the lock. */
	CHECK_EQ_INT(store_get(s, 7, 0, &got), JOBD_OK);
	jobrec_clear(&got);
	CHECK_EQ_INT(store_commit(s), JOBD_OK);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fds[0]);
	close(fds[1]);
	store_close(s);
}

/* ---- checksums ---------------------------------------------------------- */

/* CRC-32C against the published values (RFC 3720, B.4, and the common
 * "123456789"), and the 8-byte loop against the byte loop. */
static void
test_crc32c(void)
{
	uint8_t b[32], big[1000];
	uint32_t c = 0;

	CHECK_EQ_INT(crc32c(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ_INT(crc32c(0, NULL, 0), 0);
	memset(b, 0, sizeof(b));
	CHECK_EQ_INT(crc32c(0, b, sizeof(b)), 0x8A9136AAu);
	memset(b, 0xff, sizeof(b));
	CHECK_EQ_INT(crc32c(0, b, sizeof(b)), 0x62A8AB43u);
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t) i;
	CHECK_EQ_INT(crc32c(0, b, sizeof(b)), 0x46DD794Eu);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t) (i * 131 + 7);
	for (size_t i = 0; i < sizeof(big); i++)
		c = crc32c(c, big + i, 1);
	CHECK_EQ_INT(crc32c(0, big, sizeof(big)), c);
	/* unaligned starts and odd lengths, in two parts */
	for (size_t off = 0; off < 9; off++)
		CHECK_EQ_INT(crc32c(crc32c(0, big + off, 13), big + off + 13,
		                    sizeof(big) - off - 13),
		             crc32c(0, big + off, sizeof(big) - off));
}

/* A store_scan callback that counts the rows in *(size_t *) arg. */
static int
scan_count(const struct jobrec *r, void *arg)
{
	(void) r;
	(*(size_t *) arg)++;
	return 0;
}

/* An integer read on its own connection; -1 for NULL. */
static long long
raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -2;

	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL
		        ? -1
		        : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The store's message, expected to contain `want`. */
static void
check_msg(store *s, const char *want)
{
	if (strstr(store_errmsg(s), want) == NULL)
		fprintf(stderr, "unexpected message: %s\n", store_errmsg(s));
	CHECK(strstr(store_errmsg(s), want) != NULL);
}

/*
 * Each row carries the checksums of its input (with id, kind and params)
 * and of its result, and every read of a blob checks it: a change behind
 * the store's back is DATA_LOSS that says which, and the bytes are not
 * handed out. Lists, which read no blobs, go on.
 */
static void
test_checksums(void)
{
	char path[256], sql[256];
	struct jobrec r, got, *v = NULL;
	struct store_filter f = {0};
	uint8_t *buf = (uint8_t *) 1;
	size_t len = 99, n;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "crc.db"));
	for (uint64_t id = 1; id <= 4; id++) {
		r = full_job(id);
		r.idem_key = NULL;
		r.state = JOB_SUCCEEDED;
		REQUIRE(store_insert(s, &r) == JOBD_OK);
	}
	r = small_job(5, JOB_QUEUED, "count"); /* nothing but its id and kind */
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	CHECK(raw_int(path, "SELECT input_crc FROM jobs WHERE id = 1") >= 0);
	CHECK(raw_int(path, "SELECT result_crc FROM jobs WHERE id = 5") >= 0);
	/* the id is covered: the same content, another checksum */
	CHECK(raw_int(path, "SELECT count(DISTINCT input_crc) FROM jobs"
	                    " WHERE id <= 4") == 4);

	/* intact: everything reads, the input with the params it runs with */
	r = full_job(1);
	CHECK_EQ_INT(store_get(s, 1, STORE_INPUT, &got), JOBD_OK);
	jobrec_clear(&got);
	CHECK_EQ_INT(
	    store_get_input(s, 1, r.kind, r.params, r.nparams, &buf, &len),
	    JOBD_OK);
	CHECK(len == sizeof(bin_input) && memcmp(buf, bin_input, len) == 0);
	free(buf);
	CHECK_EQ_INT(store_get_input(s, 5, "count", NULL, 0, &buf, &len),
	             JOBD_OK);
	CHECK(buf == NULL && len == 0);

	/* ... but not with other params, another kind, another job's id */
	r.params[1].value = "a=b=d";
	CHECK_EQ_INT(
	    store_get_input(s, 1, r.kind, r.params, r.nparams, &buf, &len),
	    JOBD_DATA_LOSS);
	CHECK(buf == NULL && len == 0);
	CHECK_EQ_STR(store_errmsg(s), "the stored input of job 1 is damaged "
	                              "(checksum mismatch)");
	r.params[1].value = "a=b=c";
	CHECK_EQ_INT(
	    store_get_input(s, 1, "sha257", r.params, r.nparams, &buf, &len),
	    JOBD_DATA_LOSS);
	CHECK_EQ_INT(store_get_input(s, 5, "count", r.params, 1, &buf, &len),
	             JOBD_DATA_LOSS);

	/* one byte of the input changed in the file */
	raw_exec(path, "UPDATE jobs SET input = CAST(x'01' || substr(input, 2)"
	               " AS BLOB) WHERE id = 1");
	CHECK_EQ_INT(
	    store_get_input(s, 1, r.kind, r.params, r.nparams, &buf, &len),
	    JOBD_DATA_LOSS);
	CHECK(buf == NULL);
	CHECK_EQ_INT(store_get(s, 1, STORE_INPUT, &got), JOBD_DATA_LOSS);
	check_msg(s, "the stored input of job 1 is damaged");
	CHECK(got.input == NULL && got.kind == NULL);
	CHECK_EQ_INT(store_get(s, 1, 0, &got), JOBD_OK); /* result intact */
	jobrec_clear(&got);

	/* a param changed in the file: the row's own params fail too */
	raw_exec(path, "UPDATE jobs SET params = CAST(replace(params, 'a=b=c',"
	               " 'a=b=d') AS BLOB) WHERE id = 2");
	CHECK_EQ_INT(store_get(s, 2, STORE_INPUT, &got), JOBD_DATA_LOSS);
	check_msg(s, "the stored input of job 2 is damaged");

	/* the result changed, or another job's result moved in */
	raw_exec(path, "UPDATE jobs SET result = x'00' WHERE id = 3");
	CHECK_EQ_INT(store_get(s, 3, 0, &got), JOBD_DATA_LOSS);
	CHECK_EQ_STR(store_errmsg(s), "the stored result of job 3 is damaged "
	                              "(checksum mismatch)");
	CHECK(got.result == NULL && got.kind == NULL);
	raw_exec(path, "UPDATE jobs SET (result, result_crc) = (SELECT result,"
	               " result_crc FROM jobs WHERE id = 1) WHERE id = 4");
	CHECK_EQ_INT(store_get(s, 4, 0, &got), JOBD_DATA_LOSS);
	check_msg(s, "the stored result of job 4 is damaged");
	CHECK_EQ_INT(store_scan(s, JOB_SUCCEEDED, scan_count, &n),
	             JOBD_DATA_LOSS);

	/* lists read no blob */
	CHECK_EQ_INT(store_list(s, &f, &v, &n), JOBD_OK);
	CHECK_EQ_INT(n, 5);
	for (size_t i = 0; i < n; i++)
		jobrec_clear(&v[i]);
	free(v);

	/* a new result is written with its checksum */
	REQUIRE(store_get(s, 1, 0, &got) == JOBD_OK);
	got.result[0] ^= 1;
	got.input_len = 0; /* not read; and update does not write it */
	CHECK_EQ_INT(store_update(s, &got), JOBD_OK);
	jobrec_clear(&got);
	CHECK_EQ_INT(store_get(s, 1, 0, &got), JOBD_OK);
	jobrec_clear(&got);

	/* a checksum out of range, or the result's missing beside the
	 * input's: the record is damaged where a blob is read; a list (and
	 * the load at start) goes on */
	raw_exec(path, "UPDATE jobs SET result_crc = -1 WHERE id = 5");
	CHECK_EQ_INT(store_get(s, 5, 0, &got), JOBD_DATA_LOSS);
	check_msg(s,
	          "cannot read job 5: corrupt record (checksum out of range)");
	raw_exec(path, "UPDATE jobs SET result_crc = 4294967296 WHERE id = 5");
	CHECK_EQ_INT(store_get_input(s, 5, "count", NULL, 0, &buf, &len),
	             JOBD_DATA_LOSS);
	check_msg(s, "corrupt record (checksum out of range)");
	raw_exec(path, "UPDATE jobs SET result_crc = NULL WHERE id = 5");
	CHECK_EQ_INT(store_get(s, 5, 0, &got), JOBD_DATA_LOSS);
	check_msg(s, "corrupt record (result checksum missing)");
	CHECK_EQ_INT(store_list(s, &f, &v, &n), JOBD_OK);
	CHECK_EQ_INT(n, 5);
	for (size_t i = 0; i < n; i++)
		jobrec_clear(&v[i]);
	free(v);
	n = 0;
	CHECK_EQ_INT(
	    store_scan_brief(s, JOB_QUEUED, 0, UINT64_MAX, scan_count, &n),
	    JOBD_OK);
	CHECK_EQ_INT(n, 1);

	/* without checksums (a row of schema version 1): taken as it is */
	raw_exec(path, "UPDATE jobs SET input_crc = NULL, result_crc = NULL");
	for (uint64_t id = 1; id <= 5; id++) {
		CHECK_EQ_INT(store_get(s, id, STORE_INPUT, &got), JOBD_OK);
		jobrec_clear(&got);
	}
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM jobs WHERE"
	         " input_crc IS NULL");
	CHECK(raw_int(path, sql) == 5);
	store_close(s);
}

/* A database of schema version 1, as jobd 1 left it, is brought to
 * version 2 with every row intact, read unchecked; the new columns come
 * before the blobs; what is written since is checked. */
static void
test_migrate_v1(void)
{
	char path[256], buf[512];
	struct jobrec got, r;
	uint64_t counts[JOB_STATE_MAX + 1];
	store *s;

	tpath(path, sizeof(path), "v1.db");
	/* store_migrations[0] as shipped, and two rows */
	raw_exec(path,
	         "CREATE TABLE jobs ("
	         " id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
	         " params BLOB NOT NULL, priority INTEGER NOT NULL,"
	         " state TEXT NOT NULL CHECK (state = 'queued' OR state ="
	         " 'running' OR state = 'succeeded' OR state = 'failed' OR"
	         " state = 'cancelled'),"
	         " attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL,"
	         " timeout_ms INTEGER NOT NULL, progress_done INTEGER NOT NULL,"
	         " progress_total INTEGER NOT NULL, error TEXT,"
	         " idem_key TEXT UNIQUE, created_at INTEGER NOT NULL,"
	         " started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,"
	         " not_before INTEGER NOT NULL, result BLOB, input BLOB"
	         ") STRICT;"
	         "CREATE INDEX jobs_state ON jobs (state);"
	         "CREATE INDEX jobs_kind ON jobs (kind);"
	         "CREATE INDEX jobs_state_kind ON jobs (state, kind);"
	         "CREATE INDEX jobs_finished ON jobs (finished_at)"
	         " WHERE state = 'succeeded' OR state = 'failed' OR state ="
	         " 'cancelled';"
	         "INSERT INTO jobs VALUES (3, 'sha256', x'010000000600000072"
	         "6f756e64730100000037', 5, 'succeeded', 1, 2, 0, 1, 1,"
	         " NULL, 'key-3', 10, 11, 12, 0, x'c0ffee', x'0102030405');"
	         "INSERT INTO jobs VALUES (4, 'sleep', x'00000000', 0,"
	         " 'running', 1, 1, 0, 0, 0, 'e', NULL, 20, 21, 0, 0, NULL,"
	         " NULL);"
	         "PRAGMA user_version = 1;");
	s = open_ok(path);
	raw_query(path, "PRAGMA user_version", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "3");
	raw_query(path,
	          "SELECT group_concat(name, ',') FROM pragma_table_info("
	          "'jobs')",
	          buf, sizeof(buf));
	CHECK_EQ_STR(buf, "id,kind,params,priority,state,attempts,max_attempts,"
	                  "timeout_ms,progress_done,progress_total,error,"
	                  "idem_key,created_at,started_at,finished_at,"
	                  "not_before,recoveries,reruns,unique_key,after,"
	                  "input_crc,result_crc,result,input");
	raw_query(path,
	          "SELECT group_concat(name, ',') FROM (SELECT name FROM "
	          "sqlite_schema WHERE type = 'index' AND name LIKE 'jobs_%' "
	          "ORDER BY name)",
	          buf, sizeof(buf));
	CHECK_EQ_STR(buf, "jobs_finished,jobs_kind,jobs_state,jobs_state_kind");
	CHECK(raw_int(path, "SELECT count(*) FROM jobs WHERE input_crc IS NULL"
	                    " AND result_crc IS NULL AND recoveries = 0") == 2);

	REQUIRE(store_get(s, 3, STORE_INPUT, &got) == JOBD_OK);
	CHECK_EQ_STR(got.kind, "sha256");
	CHECK(got.nparams == 1 && strcmp(got.params[0].name, "rounds") == 0 &&
	      strcmp(got.params[0].value, "7") == 0);
	CHECK(got.input_len == 5 && memcmp(got.input, "\1\2\3\4\5", 5) == 0);
	CHECK(got.result_len == 3 &&
	      memcmp(got.result, "\xc0\xff\xee", 3) == 0);
	CHECK(got.priority == 5 && got.state == JOB_SUCCEEDED &&
	      got.attempts == 1 && got.max_attempts == 2);
	CHECK_EQ_STR(got.idem_key, "key-3");
	CHECK(got.created_at == 10 && got.started_at == 11 &&
	      got.finished_at == 12 && got.recoveries == 0);
	jobrec_clear(&got);
	/* read unchecked: whatever the old row holds */
	raw_exec(path, "UPDATE jobs SET result = x'bad0' WHERE id = 3");
	CHECK_EQ_INT(store_get(s, 3, 0, &got), JOBD_OK);
	jobrec_clear(&got);
	/* the key is still unique */
	r = small_job(9, JOB_QUEUED, "k");
	r.idem_key = "key-3";
	CHECK_EQ_INT(store_insert(s, &r), JOBD_ALREADY_EXISTS);
	CHECK_EQ_INT(store_counts(s, counts), JOBD_OK);
	CHECK(counts[JOB_SUCCEEDED] == 1 && counts[JOB_RUNNING] == 1);

	/* a result written since is checked */
	REQUIRE(store_get(s, 4, 0, &got) == JOBD_OK);
	got.state = JOB_SUCCEEDED;
	got.result = (uint8_t *) strdup("done");
	got.result_len = 4;
	CHECK_EQ_INT(store_update(s, &got), JOBD_OK);
	jobrec_clear(&got);
	CHECK(raw_int(path, "SELECT input_crc FROM jobs WHERE id = 4") == -1);
	CHECK(raw_int(path, "SELECT result_crc FROM jobs WHERE id = 4") >= 0);
	CHECK_EQ_INT(store_get(s, 4, STORE_INPUT, &got), JOBD_OK);
	jobrec_clear(&got);
	raw_exec(path, "UPDATE jobs SET result = x'646f6e61' WHERE id = 4");
	CHECK_EQ_INT(store_get(s, 4, 0, &got), JOBD_DATA_LOSS);
	CHECK_EQ_INT(store_check(s), JOBD_OK);
	store_close(s);
}

/* ---- recovery with a cap ------------------------------------------------- */

/* Every running job's recoveries counted; those reaching the cap failed,
 * with the count in the message, the rest queued; a cap of 0 fails none. */
static void
test_recover_cap(void)
{
	char path[256];
	struct jobrec r, got;
	uint64_t requeued = 99, failed = 99;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "cap.db"));
	for (uint64_t id = 1; id <= 4; id++) {
		r = small_job(id, id <= 3 ? JOB_RUNNING : JOB_QUEUED, "k");
		r.recoveries = (uint32_t) id - 1; /* 0, 1, 2; queued 3 */
		r.attempts = 1;
		r.max_attempts = 5;
		r.progress_done = 7;
		REQUIRE(store_insert(s, &r) == JOBD_OK);
	}
	CHECK_EQ_INT(store_recover(s, 3, 123456, &requeued, &failed), JOBD_OK);
	CHECK_EQ_INT(requeued, 2);
	CHECK_EQ_INT(failed, 1);
	for (uint64_t id = 1; id <= 2; id++) {
		REQUIRE(store_get(s, id, 0, &got) == JOBD_OK);
		CHECK_EQ_INT(got.state, JOB_QUEUED);
		CHECK_EQ_INT(got.recoveries, id);
		CHECK_EQ_INT(got.progress_done, 0);
		CHECK(got.error == NULL && got.finished_at == 0);
		jobrec_clear(&got);
	}
	REQUIRE(store_get(s, 3, 0, &got) == JOBD_OK);
	CHECK_EQ_INT(got.state, JOB_FAILED);
	CHECK_EQ_INT(got.recoveries, 3);
	CHECK_EQ_INT(got.finished_at, 123456);
	CHECK_EQ_INT(got.attempts, 1);
	CHECK_EQ_STR(got.error, "jobd stopped uncleanly while running this "
	                        "job 3 times; not run again");
	jobrec_clear(&got);
	REQUIRE(store_get(s, 4, 0, &got) ==
	        JOBD_OK); /* not running: as it was */
	CHECK(got.state == JOB_QUEUED && got.recoveries == 3);
	jobrec_clear(&got);

	/* a cap lowered since: the count in the message is the real one */
	raw_exec(path, "UPDATE jobs SET state = 'running' WHERE id <= 2");
	CHECK_EQ_INT(store_recover(s, 1, 5, &requeued, &failed), JOBD_OK);
	CHECK(requeued == 0 && failed == 2);
	REQUIRE(store_get(s, 2, 0, &got) == JOBD_OK);
	CHECK_EQ_STR(got.error, "jobd stopped uncleanly while running this "
	                        "job 3 times; not run again");
	jobrec_clear(&got);

	/* no cap */
	raw_exec(path, "UPDATE jobs SET state = 'running', recoveries = 1000");
	CHECK_EQ_INT(store_recover(s, 0, 5, &requeued, &failed), JOBD_OK);
	CHECK(requeued == 4 && failed == 0);
	CHECK(raw_int(path, "SELECT min(recoveries) FROM jobs") == 1001);

	/* inside a transaction too, and rolled back with it */
	raw_exec(path, "UPDATE jobs SET state = 'running'");
	REQUIRE(store_begin(s) == JOBD_OK);
	CHECK_EQ_INT(store_recover(s, 2000, 5, &requeued, &failed), JOBD_OK);
	CHECK(requeued == 4 && failed == 0);
	CHECK_EQ_INT(store_rollback(s), JOBD_OK);
	CHECK(raw_int(path, "SELECT count(*) FROM jobs WHERE state ="
	                    " 'running' AND recoveries = 1001") == 4);
	store_close(s);
}

/* ---- files that are not databases, and the lock -------------------------- */

/* Nothing beside `path` whose name starts with it. */
static void
check_nothing_beside(const char *path)
{
	static const char *const ext[] = {"-wal", "-shm", "-journal", ".runs"};
	char p[400];

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, ext[i]);
		if (exists(p))
			fprintf(stderr, "made beside it: %s\n", p);
		CHECK(!exists(p));
	}
}

/* A device, a FIFO, a directory, a socket: refused by store_open and by
 * the lock, before anything is opened or made beside them. */
static void
test_not_regular(void)
{
	char fifo[256], sock[256], dir[256], err[512];
	static const struct {
		const char *path, *what;
	} cases[] = {
	    {"/dev/null", "is a character device, not a regular file"},
	    {NULL, "is a FIFO, not a regular file"},
	    {NULL, "is a socket, not a regular file"},
	    {NULL, "is a directory, not a regular file"},
	};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *paths[4];
	dblock *l = (dblock *) 1;
	store *s = (store *) 1;
	int fd;

	REQUIRE(mkfifo(tpath(fifo, sizeof(fifo), "fifo.db"), 0600) == 0);
	tpath(sock, sizeof(sock), "sock.db");
	REQUIRE(strlen(sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	REQUIRE((fd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	REQUIRE(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
	REQUIRE(mkdir(tpath(dir, sizeof(dir), "dir.db"), 0700) == 0);
	paths[0] = cases[0].path;
	paths[1] = fifo;
	paths[2] = sock;
	paths[3] = dir;
	for (size_t i = 0; i < 4; i++) {
		CHECK_EQ_INT(store_open(&s, paths[i], err, sizeof(err)),
		             JOBD_FAILED_PRECONDITION);
		CHECK(s == NULL);
		CHECK(strstr(err, paths[i]) != NULL &&
		      strstr(err, cases[i].what) != NULL);
		CHECK_EQ_INT(
		    store_open_readonly(&s, paths[i], err, sizeof(err)),
		    JOBD_FAILED_PRECONDITION);
		CHECK_EQ_INT(dblock_take(&l, paths[i], err, sizeof(err)),
		             JOBD_FAILED_PRECONDITION);
		CHECK(l == NULL);
		if (strstr(err, cases[i].what) == NULL)
			fprintf(stderr, "unexpected message: %s\n", err);
		CHECK(strstr(err, paths[i]) != NULL &&
		      strstr(err, cases[i].what) != NULL);
		check_nothing_beside(paths[i]);
	}
	close(fd);
}

/* The lock: one holder per file, by any path to it; the other is told the
 * holder's pid; it goes when the holder closes it or dies; a file the
 * lock made and nothing wrote is removed by a refused start. */
static void
test_dblock(void)
{
	char path[256], alias[256], other[256], err[512], want[128];
	dblock *l = NULL, *l2 = (dblock *) 1;
	int fds[2], status;
	pid_t pid;
	char c;

	tpath(path, sizeof(path), "locked.db");
	tpath(alias, sizeof(alias), "alias.db");
	REQUIRE(symlink("locked.db", alias) == 0);
	CHECK_EQ_INT(dblock_take(&l, path, err, sizeof(err)), JOBD_OK);
	CHECK(l != NULL && exists(path) && file_size(path) == 0);
	/* our own name, which valgrind changes */
	FILE *f = fopen("/proc/self/comm", "r");
	char comm[32] = "";
	REQUIRE(f != NULL && fgets(comm, sizeof(comm), f) != NULL);
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	snprintf(want, sizeof(want),
	         "is locked by another process (pid %ld, '%s'): a database "
	         "serves one jobd at a time",
	         (long) getpid(), comm);
	for (int i = 0; i < 2; i++) {
		const char *p = i == 0 ? path : alias;
		CHECK_EQ_INT(dblock_take(&l2, p, err, sizeof(err)),
		             JOBD_FAILED_PRECONDITION);
		CHECK(l2 == NULL);
		if (strstr(err, want) == NULL)
			fprintf(stderr, "unexpected message: %s\n", err);
		CHECK(strstr(err, want) != NULL && strstr(err, p) != NULL);
	}
	/* a refused start removes the empty file it made... */
	dblock_discard(l);
	CHECK(!exists(path));
	/* ...but not one that was there */
	spit(path, "", 0);
	REQUIRE(dblock_take(&l, path, err, sizeof(err)) == JOBD_OK);
	dblock_discard(l);
	CHECK(exists(path));
	/* nor one something wrote to */
	tpath(other, sizeof(other), "written.db");
	REQUIRE(dblock_take(&l, other, err, sizeof(err)) == JOBD_OK);
	store_close(open_ok(other));
	dblock_discard(l);
	CHECK(exists(other) && file_size(other) > 0);
	REQUIRE(dblock_take(&l, other, err, sizeof(err)) == JOBD_OK);
	dblock_release(l);

	/* held by another process: named; free again once it is killed */
	REQUIRE(pipe(fds) == 0);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		dblock *cl;
		char e[256];
		if (dblock_take(&cl, path, e, sizeof(e)) != JOBD_OK)
			_exit(1);
		(void) !write(fds[1], "x", 1);
		pause();
		_exit(0);
	}
	REQUIRE(pid > 0);
	REQUIRE(read(fds[0], &c, 1) == 1);
	snprintf(want, sizeof(want), "is locked by another process (pid %ld,",
	         (long) pid);
	CHECK_EQ_INT(dblock_take(&l, path, err, sizeof(err)),
	             JOBD_FAILED_PRECONDITION);
	CHECK(strstr(err, want) != NULL);
	kill(pid, SIGKILL);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK_EQ_INT(dblock_take(&l, path, err, sizeof(err)), JOBD_OK);
	dblock_release(l);
	close(fds[0]);
	close(fds[1]);

	/* a directory that is not there */
	tpath(other, sizeof(other), "no/such/dir/x.db");
	CHECK_EQ_INT(dblock_take(&l, other, err, sizeof(err)),
	             JOBD_UNAVAILABLE);
	CHECK(strstr(err, "cannot open database '") == err &&
	      strstr(err, "No such file or directory") != NULL);
	dblock_release(NULL);
	dblock_discard(NULL);
}

/* ---- issue 14: reruns, paused kinds, ticks, after and unique keys ------- */

#define DAY_MS 86400000LL

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A job that ran and ended `state`, with everything a run leaves set. */
static struct jobrec
ended_job(uint64_t id, int state)
{
	struct jobrec r = full_job(id);

	r.idem_key = NULL;
	r.state = state;
	r.attempts = 3;
	r.max_attempts = 3;
	r.error = state == JOB_SUCCEEDED ? NULL : "boom";
	return r;
}

/*
 * Retry in the store: only a failed or cancelled row is put back, queued
 * (or scheduled, with a not_before ahead) with attempts 0 and its run's
 * leftovers cleared, the ended run appended to job_runs; the row then
 * reads whole, its input and its (empty) result checksums valid.
 */
static void
test_rerun(void)
{
	char path[256], sql[160];
	struct jobrec r, got;
	struct job_run run = {JOB_FAILED, "boom", 3, 1700000000002,
	                      1700000000003};
	uint8_t *buf = NULL;
	size_t len = 0;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "rerun.db"));
	r = ended_job(1, JOB_FAILED);
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	r = ended_job(2, JOB_CANCELLED);
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	r = ended_job(3, JOB_SUCCEEDED);
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	r = small_job(4, JOB_QUEUED, "k");
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	r = small_job(5, JOB_RUNNING, "k");
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	r = small_job(6, JOB_SCHEDULED, "k");
	r.not_before = now_ms() + DAY_MS;
	REQUIRE(store_insert(s, &r) == JOBD_OK);

	/* not ended, or succeeded: refused, nothing written */
	for (uint64_t id = 3; id <= 6; id++) {
		memset(&r, 0, sizeof(r));
		r.id = id;
		r.reruns = 1;
		CHECK_EQ_INT(store_rerun(s, &r, &run),
		             JOBD_FAILED_PRECONDITION);
		snprintf(sql, sizeof(sql), "cannot rerun job %llu",
		         (unsigned long long) id);
		check_msg(s, sql);
	}
	REQUIRE(store_get(s, 3, 0, &got) == JOBD_OK);
	CHECK_EQ_INT(got.state, JOB_SUCCEEDED);
	CHECK_EQ_INT(got.reruns, 0);
	jobrec_clear(&got);
	CHECK(raw_int(path, "SELECT count(*) FROM job_runs") == 0);
	/* a job that is not there: refused (store.h says NOT_FOUND; the
	 * store answers FAILED_PRECONDITION, "no such job, or ...") */
	memset(&r, 0, sizeof(r));
	r.id = 99;
	r.reruns = 1;
	CHECK(store_rerun(s, &r, &run) != JOBD_OK);
	check_msg(s, "cannot rerun job 99");
	/* an invalid record: no id, or no rerun counted */
	r.id = 0;
	CHECK_EQ_INT(store_rerun(s, &r, &run), JOBD_INVALID_ARGUMENT);
	r.id = 1;
	r.reruns = 0;
	CHECK_EQ_INT(store_rerun(s, &r, &run), JOBD_INVALID_ARGUMENT);
	CHECK(raw_int(path, "SELECT count(*) FROM job_runs") == 0);

	/* the failed job, in a transaction as the writer does */
	memset(&r, 0, sizeof(r));
	r.id = 1;
	r.reruns = 1;
	REQUIRE(store_begin(s) == JOBD_OK);
	CHECK_EQ_INT(store_rerun(s, &r, &run), JOBD_OK);
	REQUIRE(store_commit(s) == JOBD_OK);
	REQUIRE(store_get(s, 1, STORE_INPUT, &got) == JOBD_OK);
	CHECK_EQ_INT(got.state, JOB_QUEUED);
	CHECK_EQ_INT(got.attempts, 0);
	CHECK_EQ_INT(got.max_attempts, 3);
	CHECK_EQ_INT(got.reruns, 1);
	CHECK_EQ_INT(got.recoveries, 0);
	CHECK(got.result == NULL && got.result_len == 0);
	CHECK(got.error == NULL);
	CHECK(got.progress_done == 0 && got.progress_total == 0);
	CHECK(got.started_at == 0 && got.finished_at == 0 &&
	      got.not_before == 0);
	/* what it is to run with is untouched */
	CHECK_EQ_STR(got.kind, "sha256");
	CHECK_EQ_INT(got.nparams, sizeof(odd_params) / sizeof(odd_params[0]));
	CHECK(got.input_len == sizeof(bin_input) &&
	      memcmp(got.input, bin_input, sizeof(bin_input)) == 0);
	CHECK_EQ_INT(got.created_at, 1700000000001);
	jobrec_clear(&got);
	r = full_job(1);
	CHECK_EQ_INT(
	    store_get_input(s, 1, r.kind, r.params, r.nparams, &buf, &len),
	    JOBD_OK);
	CHECK(len == sizeof(bin_input));
	free(buf);
	CHECK(raw_int(path, "SELECT count(*) FROM job_runs WHERE job_id = 1"
	                    " AND run = 1 AND state = 'failed' AND error ="
	                    " 'boom' AND attempts = 3") == 1);
	/* twice in a row: it is queued now */
	memset(&r, 0, sizeof(r));
	r.id = 1;
	r.reruns = 2;
	CHECK_EQ_INT(store_rerun(s, &r, &run), JOBD_FAILED_PRECONDITION);

	/* it runs, fails again, is rerun again: a second run, in order */
	REQUIRE(store_get(s, 1, 0, &got) == JOBD_OK);
	got.state = JOB_FAILED;
	got.attempts = 1;
	got.started_at = 50;
	got.finished_at = 60;
	got.error = strdup("second");
	got.result = (uint8_t *) strdup("partial");
	got.result_len = 7;
	got.input_len = 0; /* not read; and update does not write it */
	REQUIRE(store_update(s, &got) == JOBD_OK);
	jobrec_clear(&got);
	struct job_run run2 = {JOB_FAILED, "second", 1, 50, 60};
	memset(&r, 0, sizeof(r));
	r.id = 1;
	r.reruns = 2;
	CHECK_EQ_INT(store_rerun(s, &r, &run2), JOBD_OK);
	REQUIRE(store_get(s, 1, 0, &got) == JOBD_OK);
	CHECK(got.state == JOB_QUEUED && got.reruns == 2 &&
	      got.result == NULL && got.error == NULL);
	jobrec_clear(&got);
	memset(&got, 0, sizeof(got));
	REQUIRE(store_runs(s, 1, &got) == JOBD_OK);
	REQUIRE(got.nhistory == 2);
	CHECK(got.history[0].state == JOB_FAILED &&
	      got.history[0].attempts == 3 &&
	      got.history[0].started_at == 1700000000002 &&
	      got.history[0].finished_at == 1700000000003);
	CHECK_EQ_STR(got.history[0].error, "boom");
	CHECK(got.history[1].state == JOB_FAILED &&
	      got.history[1].attempts == 1 && got.history[1].started_at == 50 &&
	      got.history[1].finished_at == 60);
	CHECK_EQ_STR(got.history[1].error, "second");
	jobrec_clear(&got);

	/* the cancelled job, with a backoff ahead: scheduled; no error in
	 * the run it ended */
	struct job_run run3 = {JOB_CANCELLED, NULL, 0, 0, 70};
	memset(&r, 0, sizeof(r));
	r.id = 2;
	r.reruns = 1;
	r.not_before = now_ms() + DAY_MS;
	CHECK_EQ_INT(store_rerun(s, &r, &run3), JOBD_OK);
	REQUIRE(store_get(s, 2, STORE_INPUT, &got) == JOBD_OK);
	CHECK_EQ_INT(got.state, JOB_SCHEDULED);
	CHECK_EQ_INT(got.not_before, r.not_before);
	CHECK(got.attempts == 0 && got.result == NULL && got.error == NULL);
	jobrec_clear(&got);
	CHECK(raw_int(path, "SELECT count(*) FROM jobs WHERE id = 2 AND"
	                    " state = 'queued'") == 1);
	memset(&got, 0, sizeof(got));
	REQUIRE(store_runs(s, 2, &got) == JOBD_OK);
	REQUIRE(got.nhistory == 1);
	CHECK(got.history[0].state == JOB_CANCELLED &&
	      got.history[0].error == NULL && got.history[0].finished_at == 70);
	/* jobrec_copy copies the history */
	struct jobrec cp;
	REQUIRE(jobrec_copy(&cp, &got) == JOBD_OK);
	CHECK(cp.nhistory == 1 && cp.history != got.history &&
	      cp.history[0].finished_at == 70);
	jobrec_clear(&cp);
	jobrec_clear(&got);
	CHECK_EQ_INT(store_check(s), JOBD_OK);
	store_close(s);
}

/* store_runs: none for a job without runs (or no job), oldest first
 * whatever order the rows were written in, and a run row damaged behind
 * the store's back is DATA_LOSS naming the job, with nothing handed out. */
static void
test_runs(void)
{
	char path[256];
	struct jobrec got;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "runs.db"));
	memset(&got, 0, sizeof(got));
	CHECK_EQ_INT(store_runs(s, 1, &got), JOBD_OK);
	CHECK(got.history == NULL && got.nhistory == 0);
	raw_exec(path,
	         "INSERT INTO job_runs VALUES (5, 3, 'failed', 'c', 3, 30, 31);"
	         "INSERT INTO job_runs VALUES (5, 1, 'cancelled', NULL, 1, 10,"
	         " 11);"
	         "INSERT INTO job_runs VALUES (5, 2, 'failed', 'b', 2, 20, 21);"
	         "INSERT INTO job_runs VALUES (6, 1, 'failed', 'other', 1, 1,"
	         " 2);");
	REQUIRE(store_runs(s, 5, &got) == JOBD_OK);
	REQUIRE(got.nhistory == 3);
	for (size_t i = 0; i < 3; i++) {
		CHECK_EQ_INT(got.history[i].attempts, i + 1);
		CHECK_EQ_INT(got.history[i].started_at, (int64_t) (i + 1) * 10);
		CHECK_EQ_INT(got.history[i].finished_at,
		             (int64_t) (i + 1) * 10 + 1);
	}
	CHECK_EQ_INT(got.history[0].state, JOB_CANCELLED);
	CHECK(got.history[0].error == NULL);
	CHECK_EQ_STR(got.history[1].error, "b");
	CHECK_EQ_STR(got.history[2].error, "c");
	jobrec_clear(&got);

	/* a state that is none */
	raw_exec(path, "PRAGMA ignore_check_constraints = ON;"
	               "INSERT INTO job_runs VALUES (7, 1, 'failed', 'a', 1,"
	               " 1, 2);"
	               "INSERT INTO job_runs VALUES (7, 2, 'bogus', 'b', 1, 3,"
	               " 4);");
	memset(&got, 0, sizeof(got));
	CHECK_EQ_INT(store_runs(s, 7, &got), JOBD_DATA_LOSS);
	CHECK_EQ_STR(store_errmsg(s),
	             "cannot read the runs of job 7: corrupt record");
	CHECK(got.history == NULL && got.nhistory == 0);
	/* the statement was reset: the next read works */
	CHECK_EQ_INT(store_runs(s, 6, &got), JOBD_OK);
	CHECK(got.nhistory == 1);
	jobrec_clear(&got);
	store_close(s);
}

/* A store_paused_load callback: appends the kind to the string at arg. */
static int
paused_cat(const char *kind, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);
	snprintf(out + n, 128 - n, "%s%s", n ? "," : "", kind);
	return strcmp(kind, "stop") == 0 ? 42 : 0;
}

static void
test_paused(void)
{
	char path[256], got[128];
	store *s;

	s = open_ok(tpath(path, sizeof(path), "paused.db"));
	got[0] = '\0';
	CHECK_EQ_INT(store_paused_load(s, paused_cat, got), JOBD_OK);
	CHECK_EQ_STR(got, "");
	CHECK_EQ_INT(store_set_paused(s, "sleep", 1, 100), JOBD_OK);
	CHECK_EQ_INT(store_set_paused(s, "count", 1, 200), JOBD_OK);
	/* pausing again changes nothing, not even the time */
	CHECK_EQ_INT(store_set_paused(s, "sleep", 1, 300), JOBD_OK);
	CHECK(raw_int(path, "SELECT count(*) FROM paused_kinds") == 2);
	CHECK(raw_int(path, "SELECT paused_at FROM paused_kinds WHERE kind ="
	                    " 'sleep'") == 100);
	got[0] = '\0';
	CHECK_EQ_INT(store_paused_load(s, paused_cat, got), JOBD_OK);
	CHECK_EQ_STR(got, "count,sleep");
	/* resume deletes; resuming what is not paused is no error */
	CHECK_EQ_INT(store_set_paused(s, "count", 0, 400), JOBD_OK);
	CHECK_EQ_INT(store_set_paused(s, "count", 0, 400), JOBD_OK);
	CHECK_EQ_INT(store_set_paused(s, "never", 0, 400), JOBD_OK);
	got[0] = '\0';
	CHECK_EQ_INT(store_paused_load(s, paused_cat, got), JOBD_OK);
	CHECK_EQ_STR(got, "sleep");
	/* a callback's non-zero stops the walk and is returned */
	CHECK_EQ_INT(store_set_paused(s, "stop", 1, 500), JOBD_OK);
	CHECK_EQ_INT(store_set_paused(s, "zzz", 1, 500), JOBD_OK);
	got[0] = '\0';
	CHECK_EQ_INT(store_paused_load(s, paused_cat, got), 42);
	CHECK_EQ_STR(got, "sleep,stop");
	store_close(s);
	/* durable */
	s = open_ok(path);
	CHECK_EQ_INT(store_set_paused(s, "stop", 0, 600), JOBD_OK);
	got[0] = '\0';
	CHECK_EQ_INT(store_paused_load(s, paused_cat, got), JOBD_OK);
	CHECK_EQ_STR(got, "sleep,zzz");
	store_close(s);
}

/* A store_ticks_load callback: appends "name@at#job". */
static int
ticks_cat(const char *name, int64_t at, uint64_t job_id, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);
	snprintf(out + n, 256 - n, "%s%s@%lld#%llu", n ? "," : "", name,
	         (long long) at, (unsigned long long) job_id);
	return strcmp(name, "stop") == 0 ? 7 : 0;
}

static void
test_ticks(void)
{
	char path[256], got[256];
	store *s;

	s = open_ok(tpath(path, sizeof(path), "ticks.db"));
	got[0] = '\0';
	CHECK_EQ_INT(store_ticks_load(s, ticks_cat, got), JOBD_OK);
	CHECK_EQ_STR(got, "");
	CHECK_EQ_INT(store_set_tick(s, "nightly", 1000, 5), JOBD_OK);
	CHECK_EQ_INT(store_set_tick(s, "every5m", 300000, 6), JOBD_OK);
	/* never backwards */
	CHECK_EQ_INT(store_set_tick(s, "nightly", 900, 7), JOBD_OK);
	got[0] = '\0';
	CHECK_EQ_INT(store_ticks_load(s, ticks_cat, got), JOBD_OK);
	CHECK_EQ_STR(got, "every5m@300000#6,nightly@1000#5");
	/* the same time again: its job is the one recorded */
	CHECK_EQ_INT(store_set_tick(s, "nightly", 1000, 8), JOBD_OK);
	CHECK_EQ_INT(store_set_tick(s, "nightly", 2000, 9), JOBD_OK);
	CHECK_EQ_INT(store_set_tick(s, "nightly", 1999, 10), JOBD_OK);
	got[0] = '\0';
	CHECK_EQ_INT(store_ticks_load(s, ticks_cat, got), JOBD_OK);
	CHECK_EQ_STR(got, "every5m@300000#6,nightly@2000#9");
	CHECK(raw_int(path, "SELECT count(*) FROM schedule_ticks") == 2);
	/* the callback stops the walk */
	CHECK_EQ_INT(store_set_tick(s, "stop", 1, 1), JOBD_OK);
	CHECK_EQ_INT(store_set_tick(s, "zzz", 1, 1), JOBD_OK);
	got[0] = '\0';
	CHECK_EQ_INT(store_ticks_load(s, ticks_cat, got), 7);
	CHECK_EQ_STR(got, "every5m@300000#6,nightly@2000#9,stop@1#1");
	store_close(s);
	/* durable */
	s = open_ok(path);
	CHECK_EQ_INT(store_set_tick(s, "nightly", 1500, 11), JOBD_OK);
	got[0] = '\0';
	CHECK_EQ_INT(store_ticks_load(s, ticks_cat, got), 7);
	CHECK(strstr(got, "nightly@2000#9") != NULL);
	store_close(s);
}

/* A store_scan callback: the `after` count and unique key of job 1. */
struct after_seen {
	size_t nafter;
	uint64_t last;
	char ukey[32];
};

static int
scan_after(const struct jobrec *r, void *arg)
{
	struct after_seen *a = arg;
	if (r->id == 1) {
		a->nafter = r->nafter;
		a->last = r->nafter ? r->after[r->nafter - 1] : 0;
		snprintf(a->ukey, sizeof(a->ukey), "%s",
		         r->unique_key ? r->unique_key : "");
	}
	return 0;
}

/*
 * The columns of schema 3 round-trip (after, unique_key, reruns), through
 * get, list, both scans and jobrec_copy; a scheduled job is a queued row
 * read back scheduled while its not_before is ahead; more than
 * JOB_MAX_AFTER is refused; an `after` damaged behind the store's back is
 * DATA_LOSS naming the job.
 */
static void
test_schema3_columns(void)
{
	char path[256];
	uint64_t after[JOB_MAX_AFTER + 1];
	struct jobrec r, got, cp, *v = NULL;
	struct store_filter f = {0};
	struct after_seen seen;
	size_t n;
	store *s;

	for (size_t i = 0; i <= JOB_MAX_AFTER; i++)
		after[i] = (i == 2 ? (uint64_t) INT64_MAX : i + 100);
	s = open_ok(tpath(path, sizeof(path), "schema3.db"));
	r = full_job(1);
	r.state = JOB_QUEUED;
	r.after = after;
	r.nafter = 3;
	r.unique_key = "u-1";
	r.reruns = 4;
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	REQUIRE(store_get(s, 1, STORE_INPUT, &got) == JOBD_OK);
	check_job(&got, &r, 1, 1);
	CHECK_EQ_INT(got.nafter, 3);
	REQUIRE(got.after != NULL && got.nafter == 3);
	CHECK(got.after[0] == 100 && got.after[1] == 101 &&
	      got.after[2] == (uint64_t) INT64_MAX);
	CHECK_EQ_STR(got.unique_key, "u-1");
	CHECK_EQ_INT(got.reruns, 4);
	REQUIRE(jobrec_copy(&cp, &got) == JOBD_OK);
	CHECK(cp.after != got.after && cp.nafter == 3 && cp.after[1] == 101);
	CHECK(cp.unique_key != got.unique_key);
	CHECK_EQ_STR(cp.unique_key, "u-1");
	jobrec_clear(&cp);
	jobrec_clear(&got);
	CHECK(raw_int(path, "SELECT length(after) FROM jobs WHERE id = 1") ==
	      24);
	/* little-endian u64s */
	CHECK(raw_int(path, "SELECT hex(substr(after, 1, 8)) ="
	                    " '6400000000000000' FROM jobs WHERE id = 1") == 1);

	/* lists and scans carry them too */
	REQUIRE(store_list(s, &f, &v, &n) == JOBD_OK);
	REQUIRE(n == 1);
	CHECK(v[0].nafter == 3 && v[0].after[2] == (uint64_t) INT64_MAX);
	CHECK_EQ_STR(v[0].unique_key, "u-1");
	CHECK_EQ_INT(v[0].reruns, 4);
	jobrec_clear(&v[0]);
	free(v);
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_INT(store_scan(s, JOB_QUEUED, scan_after, &seen), JOBD_OK);
	CHECK(seen.nafter == 3 && seen.last == (uint64_t) INT64_MAX);
	CHECK_EQ_STR(seen.ukey, "u-1");
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_INT(
	    store_scan_brief(s, JOB_QUEUED, 0, UINT64_MAX, scan_after, &seen),
	    JOBD_OK);
	CHECK(seen.nafter == 3 && seen.last == (uint64_t) INT64_MAX);
	CHECK_EQ_STR(seen.ukey, "u-1");

	/* none: NULL, no room taken */
	r = small_job(2, JOB_QUEUED, "k");
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	REQUIRE(store_get(s, 2, 0, &got) == JOBD_OK);
	CHECK(got.after == NULL && got.nafter == 0 && got.unique_key == NULL &&
	      got.reruns == 0);
	jobrec_clear(&got);
	CHECK(raw_int(path, "SELECT after FROM jobs WHERE id = 2") == -1);
	CHECK(raw_int(path, "SELECT unique_key FROM jobs WHERE id = 2") == -1);

	/* JOB_MAX_AFTER is the most */
	r = small_job(3, JOB_QUEUED, "k");
	r.after = after;
	r.nafter = JOB_MAX_AFTER;
	CHECK_EQ_INT(store_insert(s, &r), JOBD_OK);
	REQUIRE(store_get(s, 3, 0, &got) == JOBD_OK);
	CHECK(got.nafter == JOB_MAX_AFTER &&
	      got.after[JOB_MAX_AFTER - 1] == JOB_MAX_AFTER - 1 + 100);
	jobrec_clear(&got);
	r.id = 4;
	r.nafter = JOB_MAX_AFTER + 1;
	CHECK_EQ_INT(store_insert(s, &r), JOBD_INVALID_ARGUMENT);
	check_msg(s, "cannot insert job 4: runs after more than 64 jobs");
	CHECK_EQ_INT(store_get(s, 4, 0, &got), JOBD_NOT_FOUND);

	/* scheduled: stored queued, read scheduled while ahead */
	r = small_job(5, JOB_SCHEDULED, "k");
	r.not_before = now_ms() + DAY_MS;
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	r = small_job(6, JOB_SCHEDULED, "k");
	r.not_before = now_ms() - 1000; /* its time has come */
	REQUIRE(store_insert(s, &r) == JOBD_OK);
	CHECK(raw_int(path, "SELECT count(*) FROM jobs WHERE id IN (5, 6) AND"
	                    " state = 'queued'") == 2);
	REQUIRE(store_get(s, 5, 0, &got) == JOBD_OK);
	CHECK_EQ_INT(got.state, JOB_SCHEDULED);
	jobrec_clear(&got);
	REQUIRE(store_get(s, 6, 0, &got) == JOBD_OK);
	CHECK_EQ_INT(got.state, JOB_QUEUED);
	jobrec_clear(&got);

	/* damaged: not whole ids, empty, a 0 id, an id past INT64_MAX, too
	 * many; each is DATA_LOSS naming job 3 */
	static const char *const bad[] = {
	    "x'0102'",
	    "x''",
	    "x'0000000000000000'",
	    "x'0000000000000080'",
	    "zeroblob(8 * 65)",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char sql[128];
		snprintf(sql, sizeof(sql),
		         "UPDATE jobs SET after = %s WHERE id = 3", bad[i]);
		raw_exec(path, sql);
		CHECK_EQ_INT(store_get(s, 3, 0, &got), JOBD_DATA_LOSS);
		check_msg(s, "cannot read job 3: corrupt record (after list "
		             "damaged)");
		CHECK(got.kind == NULL && got.after == NULL);
	}
	/* a list stops at it; job 1 still reads */
	CHECK_EQ_INT(store_list(s, &f, &v, &n), JOBD_DATA_LOSS);
	check_msg(s, "job 3");
	REQUIRE(store_get(s, 1, 0, &got) == JOBD_OK);
	jobrec_clear(&got);
	store_close(s);
}

/* Purging jobs deletes their earlier runs; the runs of the jobs kept
 * stay. */
static void
test_purge_runs(void)
{
	char path[256];
	struct jobrec r, got;
	struct job_run run = {JOB_FAILED, "first", 1, 1, 2};
	uint64_t n;
	store *s;

	s = open_ok(tpath(path, sizeof(path), "purgeruns.db"));
	for (uint64_t id = 1; id <= 3; id++) {
		r = small_job(id, JOB_FAILED, "k");
		r.finished_at = 10;
		REQUIRE(store_insert(s, &r) == JOBD_OK);
		memset(&r, 0, sizeof(r));
		r.id = id;
		r.reruns = 1;
		REQUIRE(store_rerun(s, &r, &run) == JOBD_OK);
	}
	/* 1 fails again, long ago; 2 fails again, lately; 3 stays queued */
	for (uint64_t id = 1; id <= 2; id++) {
		REQUIRE(store_get(s, id, 0, &got) == JOBD_OK);
		got.state = JOB_FAILED;
		got.finished_at = id == 1 ? 100 : 1000;
		REQUIRE(store_update(s, &got) == JOBD_OK);
		jobrec_clear(&got);
	}
	CHECK(raw_int(path, "SELECT count(*) FROM job_runs") == 3);
	CHECK_EQ_INT(store_purge(s, 500, &n), JOBD_OK);
	CHECK_EQ_INT(n, 1);
	CHECK(raw_int(path, "SELECT count(*) FROM job_runs") == 2);
	CHECK(raw_int(path, "SELECT count(*) FROM job_runs WHERE job_id = 1") ==
	      0);
	memset(&got, 0, sizeof(got));
	REQUIRE(store_runs(s, 2, &got) == JOBD_OK);
	CHECK(got.nhistory == 1);
	jobrec_clear(&got);
	CHECK_EQ_INT(store_purge(s, INT64_MAX, &n), JOBD_OK);
	CHECK_EQ_INT(n, 1);
	CHECK(raw_int(path, "SELECT count(*) FROM job_runs") == 1);
	CHECK(raw_int(path, "SELECT count(*) FROM job_runs WHERE job_id = 3") ==
	      1);
	store_close(s);
}

/*
 * A database of schema version 2, as jobd before issue 14 left it, is
 * brought to version 3 with every row intact and its checksums still
 * valid (they cover none of the new columns); the new tables are there
 * and work. The rows, checksums included, are made by this build's store
 * and copied into a table of the version-2 schema.
 */
static void
test_migrate_v2(void)
{
	char src[256], path[256], sql[2048], buf[512];
	struct jobrec want[4], got, r;
	struct job_run run = {JOB_FAILED, "boom", 3, 1, 2};
	uint64_t counts[JOB_STATE_MAX + 1];
	int64_t later = now_ms() + DAY_MS;
	store *s;

	s = open_ok(tpath(src, sizeof(src), "v2src.db"));
	want[0] = full_job(3);
	want[0].state = JOB_SUCCEEDED;
	want[1] = ended_job(4, JOB_FAILED);
	want[2] = small_job(5, JOB_SCHEDULED, "sleep");
	want[2].not_before = later;
	want[3] = small_job(6, JOB_RUNNING, "count");
	for (size_t i = 0; i < 4; i++)
		REQUIRE(store_insert(s, &want[i]) == JOBD_OK);
	store_close(s);

	tpath(path, sizeof(path), "v2.db");
	/* store_migrations[0] and [1] as shipped, then the rows */
	snprintf(sql, sizeof(sql),
	         "CREATE TABLE jobs ("
	         " id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
	         " params BLOB NOT NULL, priority INTEGER NOT NULL,"
	         " state TEXT NOT NULL CHECK (state = 'queued' OR state ="
	         " 'running' OR state = 'succeeded' OR state = 'failed' OR"
	         " state = 'cancelled'),"
	         " attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL,"
	         " timeout_ms INTEGER NOT NULL, progress_done INTEGER NOT NULL,"
	         " progress_total INTEGER NOT NULL, error TEXT,"
	         " idem_key TEXT UNIQUE, created_at INTEGER NOT NULL,"
	         " started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,"
	         " not_before INTEGER NOT NULL,"
	         " recoveries INTEGER NOT NULL DEFAULT 0,"
	         " input_crc INTEGER, result_crc INTEGER,"
	         " result BLOB, input BLOB"
	         ") STRICT;"
	         "CREATE INDEX jobs_state ON jobs (state);"
	         "CREATE INDEX jobs_kind ON jobs (kind);"
	         "CREATE INDEX jobs_state_kind ON jobs (state, kind);"
	         "CREATE INDEX jobs_finished ON jobs (finished_at)"
	         " WHERE state = 'succeeded' OR state = 'failed' OR state ="
	         " 'cancelled';"
	         "ATTACH '%s' AS src;"
	         "INSERT INTO jobs SELECT id, kind, params, priority, state,"
	         " attempts, max_attempts, timeout_ms, progress_done,"
	         " progress_total, error, idem_key, created_at, started_at,"
	         " finished_at, not_before, recoveries, input_crc, result_crc,"
	         " result, input FROM src.jobs ORDER BY id;"
	         "UPDATE jobs SET recoveries = 2 WHERE id = 6;"
	         "DETACH src;"
	         "PRAGMA user_version = 2;",
	         src);
	raw_exec(path, sql);
	want[3].recoveries = 2;

	s = open_ok(path);
	raw_query(path, "PRAGMA user_version", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "3");
	raw_query(path,
	          "SELECT group_concat(name, ',') FROM pragma_table_info("
	          "'jobs')",
	          buf, sizeof(buf));
	CHECK_EQ_STR(buf, "id,kind,params,priority,state,attempts,max_attempts,"
	                  "timeout_ms,progress_done,progress_total,error,"
	                  "idem_key,created_at,started_at,finished_at,"
	                  "not_before,recoveries,reruns,unique_key,after,"
	                  "input_crc,result_crc,result,input");
	raw_query(path,
	          "SELECT group_concat(name, ',') FROM (SELECT name FROM "
	          "sqlite_schema WHERE type IN ('table', 'index') AND name NOT"
	          " LIKE 'sqlite_%' ORDER BY name)",
	          buf, sizeof(buf));
	CHECK_EQ_STR(buf, "job_runs,jobs,jobs_finished,jobs_kind,jobs_state,"
	                  "jobs_state_kind,paused_kinds,schedule_ticks");
	CHECK(raw_int(path, "SELECT count(*) FROM jobs WHERE input_crc IS NOT"
	                    " NULL AND result_crc IS NOT NULL AND reruns = 0"
	                    " AND unique_key IS NULL AND after IS NULL") == 4);

	/* every row whole, every checksum still valid */
	for (size_t i = 0; i < 4; i++) {
		REQUIRE(store_get(s, want[i].id, STORE_INPUT, &got) == JOBD_OK);
		check_job(&got, &want[i], 1, 1);
		CHECK_EQ_INT(got.recoveries, want[i].recoveries);
		CHECK(got.reruns == 0 && got.unique_key == NULL &&
		      got.nafter == 0);
		jobrec_clear(&got);
	}
	/* still checked: a result changed behind the store's back */
	raw_exec(path, "UPDATE jobs SET result = x'00' WHERE id = 3");
	CHECK_EQ_INT(store_get(s, 3, 0, &got), JOBD_DATA_LOSS);
	CHECK_EQ_INT(store_counts(s, counts), JOBD_OK);
	CHECK(counts[JOB_SUCCEEDED] == 1 && counts[JOB_FAILED] == 1 &&
	      counts[JOB_QUEUED] == 1 && counts[JOB_RUNNING] == 1);
	/* the key is still unique */
	r = small_job(9, JOB_QUEUED, "k");
	r.idem_key = "key-1";
	CHECK_EQ_INT(store_insert(s, &r), JOBD_ALREADY_EXISTS);

	/* the new tables work */
	memset(&r, 0, sizeof(r));
	r.id = 4;
	r.reruns = 1;
	CHECK_EQ_INT(store_rerun(s, &r, &run), JOBD_OK);
	REQUIRE(store_get(s, 4, STORE_INPUT, &got) == JOBD_OK);
	CHECK(got.state == JOB_QUEUED && got.reruns == 1);
	jobrec_clear(&got);
	memset(&got, 0, sizeof(got));
	REQUIRE(store_runs(s, 4, &got) == JOBD_OK);
	CHECK(got.nhistory == 1);
	jobrec_clear(&got);
	CHECK_EQ_INT(store_set_paused(s, "sleep", 1, 1), JOBD_OK);
	CHECK_EQ_INT(store_set_tick(s, "nightly", 1, 3), JOBD_OK);
	CHECK_EQ_INT(store_check(s), JOBD_OK);
	store_close(s);
	/* and it opens again as it is */
	s = open_ok(path);
	raw_query(path, "PRAGMA user_version", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "3");
	store_close(s);
}

TEST_MAIN({"state_names", test_state_names}, {"jobrec_copy", test_jobrec_copy},
          {"open_create", test_open_create},
          {"open_unreachable", test_open_unreachable},
          {"open_readonly", test_open_readonly}, {"roundtrip", test_roundtrip},
          {"insert_invalid", test_insert_invalid},
          {"duplicates", test_duplicates}, {"find_key", test_find_key},
          {"update", test_update}, {"get_missing", test_get_missing},
          {"list", test_list}, {"scan", test_scan},
          {"scan_brief", test_scan_brief}, {"recover", test_recover},
          {"purge", test_purge}, {"counts_max_id", test_counts_max_id},
          {"reopen", test_reopen}, {"two_connections", test_two_connections},
          {"foreign_db", test_foreign_db}, {"foreign_wal", test_foreign_wal},
          {"newer_version", test_newer_version}, {"not_a_db", test_not_a_db},
          {"corrupt_record", test_corrupt_record},
          {"corrupt_file", test_corrupt_file},
          {"transactions", test_transactions},
          {"failed_commit", test_failed_commit},
          {"commit_left_open", test_commit_left_open},
          {"busy_wait", test_busy_wait}, {"crc32c", test_crc32c},
          {"checksums", test_checksums}, {"migrate_v1", test_migrate_v1},
          {"recover_cap", test_recover_cap}, {"not_regular", test_not_regular},
          {"dblock", test_dblock}, {"rerun", test_rerun}, {"runs", test_runs},
          {"paused", test_paused}, {"ticks", test_ticks},
          {"schema3_columns", test_schema3_columns},
          {"purge_runs", test_purge_runs}, {"migrate_v2", test_migrate_v2})

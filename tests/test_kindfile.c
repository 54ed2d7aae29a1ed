/*
 * Tests of kind files and plugins (kindfile.c, plugin.c): files written
 * into a temporary directory and loaded into a kindset. A full program
 * kind with every field checked in the row and the spec; the defaults;
 * every class of error with its exact FILE:LINE; several errors in one
 * file; a directory of good, bad and ignored files; hostile input; the
 * example plugin (run, and stopped) through a kind file; plugins refused
 * (ABI version and sizes, a failing init, missing, garbage, no stamp).
 *
 * The plugins' paths come from the environment (tests/CMakeLists.txt):
 * JOBD_TEST_PLUGIN_FIB and JOBD_TEST_PLUGIN_BAD1..3.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <ini.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec.h"
#include "jobd_status.h"
#include "kindfile.h"
#include "plugin.h"
#include "registry.h"
#include "run.h"
#include "test.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static char dir[256];       /* the temporary directory, absolute */
static char path[PATH_MAX]; /* the last file put() */
static char err[8192];

static void
rm_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX * 2];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) != 0)
			rmdir(p);
	}
	closedir(d);
	rmdir(dir);
}

/* A fresh temporary directory in dir (realpath: /tmp may be a link). */
static void
new_dir(void)
{
	char t[] = "/tmp/jobd-kindfile-XXXXXX";

	if (dir[0] != '\0')
		rm_dir();
	REQUIRE(mkdtemp(t) != NULL);
	char *r = realpath(t, NULL);
	REQUIRE(r != NULL && strlen(r) < sizeof(dir));
	snprintf(dir, sizeof(dir), "%s", r);
	free(r);
}

/* Writes len bytes as dir/name; path is its path. */
static void
put_bytes(const char *name, const void *data, size_t len, mode_t mode)
{
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	REQUIRE(f != NULL);
	REQUIRE(fwrite(data, 1, len, f) == len);
	REQUIRE(fclose(f) == 0);
	REQUIRE(chmod(path, mode) == 0);
}

static void
put(const char *name, const char *text)
{
	put_bytes(name, text, strlen(text), 0644);
}

/* Whether err has a line "dir/file:line: ..." containing what. */
static bool
has_error(const char *file, int line, const char *what)
{
	char prefix[PATH_MAX + 64];
	size_t n;

	n = (size_t) snprintf(prefix, sizeof(prefix), "%s/%s:%d: ", dir, file,
	                      line);
	for (const char *l = err; *l != '\0';) {
		const char *end = strchr(l, '\n');
		size_t len = end != NULL ? (size_t) (end - l) : strlen(l);
		if (len >= n && memcmp(l, prefix, n) == 0) {
			char buf[1024];
			snprintf(buf, sizeof(buf), "%.*s", (int) len, l);
			if (strstr(buf, what) != NULL)
				return true;
		}
		l += len + (end != NULL);
	}
	return false;
}

static size_t
err_lines(void)
{
	size_t n = err[0] != '\0';

	for (const char *p = err; *p != '\0'; p++)
		n += *p == '\n';
	return n;
}

#define CHECK_ERROR(file, line, what)                                          \
	do {                                                                   \
		if (!has_error(file, line, what))                              \
			TEST_FAIL_("no error '%s:%d: ...%s...' in:\n%s", file, \
			           line, what, err);                           \
	} while (0)

/* Loads dir/name into a new set; the set, or NULL after a failed load
 * (*rv says why). */
static kindset *
load(const char *name, int *rv)
{
	kindset *ks = kindset_new();
	char p[PATH_MAX * 2];

	REQUIRE(ks != NULL);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	*rv = kindfile_load(ks, p, err, sizeof(err));
	if (*rv != JOBD_OK) {
		kindset_unref(ks);
		return NULL;
	}
	return ks;
}

static const struct jobd_param *
param(const struct jobd_kind *k, const char *name)
{
	for (size_t i = 0; i < k->nparams; i++)
		if (strcmp(k->params[i].name, name) == 0)
			return &k->params[i];
	return NULL;
}

static void
test_full(void)
{
	char want[PATH_MAX * 2];
	int rv;

	new_dir();
	put_bytes("run.sh", "#!/bin/sh\n", 10, 0755);
	put("thumb.kind",
	    "# a full kind\n"
	    "[kind]\n"
	    "name = thumbnail              ; an inline comment\n"
	    "description = a PNG thumbnail of the input image\n"
	    "program = run.sh\n"
	    "args = {KIND_DIR}/thumb.py\t--width={width}  {format} {{x}}\n"
	    "input = yes\n"
	    "max_input = 512K\n"
	    "max_output = 2M\n"
	    "concurrency = 2\n"
	    "grace = 1500ms\n"
	    "env = LANG=C.UTF-8\n"
	    "  env = MODE=a=b\n"
	    "\n"
	    "[limits]\n"
	    "cpu = 2m\n"
	    "memory = 512M\n"
	    "files = 64\n"
	    "processes = 32\n"
	    "[param width]\n"
	    "type = int\n"
	    "required = no\n"
	    "min = 1\n"
	    "max = 4000\n"
	    "default = 200\n"
	    "description = thumbnail width in pixels\n"
	    "[ param format ]\n"
	    "type = choice\n"
	    "values = png jpeg\n"
	    "default = png\n"
	    "[param label]\n"
	    "type = string\n"
	    "min = 2\n"
	    "max = 10\n"
	    "required = yes\n"
	    "[param fast]\n"
	    "type = bool\n"
	    "default = false\n");
	kindset *ks = load("thumb.kind", &rv);
	if (ks == NULL)
		TEST_FAIL_("load: %s", err);
	REQUIRE(ks != NULL);
	const struct kind_def *d = kindset_find(ks, "thumbnail");
	REQUIRE(d != NULL);
	CHECK_EQ_INT(d->origin, KIND_PROGRAM);
	CHECK_EQ_STR(d->source, path);
	const struct jobd_kind *k = d->k;
	CHECK_EQ_STR(k->desc, "a PNG thumbnail of the input image");
	CHECK(k->uses_input);
	CHECK_EQ_INT(k->max_input, 512 * 1024);
	CHECK_EQ_INT(k->concurrency, 2);
	CHECK(k->run == exec_run);
	REQUIRE(k->nparams == 4);
	/* in file order */
	CHECK_EQ_STR(k->params[0].name, "width");
	CHECK_EQ_STR(k->params[1].name, "format");
	CHECK_EQ_STR(k->params[2].name, "label");
	CHECK_EQ_STR(k->params[3].name, "fast");
	const struct jobd_param *p = param(k, "width");
	CHECK_EQ_INT(p->type, JOBD_PARAM_INT);
	CHECK_EQ_INT(p->required, 0);
	CHECK_EQ_INT(p->min, 1);
	CHECK_EQ_INT(p->max, 4000);
	CHECK_EQ_STR(p->def, "200");
	CHECK_EQ_STR(p->desc, "thumbnail width in pixels");
	p = param(k, "format");
	CHECK_EQ_INT(p->type, JOBD_PARAM_CHOICE);
	REQUIRE(p->choices != NULL);
	CHECK_EQ_STR(p->choices[0], "png");
	CHECK_EQ_STR(p->choices[1], "jpeg");
	CHECK(p->choices[2] == NULL);
	CHECK_EQ_STR(p->def, "png");
	p = param(k, "label");
	CHECK_EQ_INT(p->type, JOBD_PARAM_STRING);
	CHECK_EQ_INT(p->required, 1);
	CHECK_EQ_INT(p->min, 2);
	CHECK_EQ_INT(p->max, 10);
	CHECK(p->def == NULL);
	p = param(k, "fast");
	CHECK_EQ_INT(p->type, JOBD_PARAM_BOOL);
	CHECK_EQ_STR(p->def, "false");

	const struct exec_spec *s = k->data;
	REQUIRE(s != NULL);
	snprintf(want, sizeof(want), "%s/run.sh", dir);
	CHECK_EQ_STR(s->program, want);
	CHECK_EQ_STR(s->kind_dir, dir);
	REQUIRE(s->nargs == 4);
	CHECK_EQ_STR(s->args[0], "{KIND_DIR}/thumb.py");
	CHECK_EQ_STR(s->args[1], "--width={width}");
	CHECK_EQ_STR(s->args[2], "{format}");
	CHECK_EQ_STR(s->args[3], "{{x}}");
	REQUIRE(s->nenv == 2);
	CHECK_EQ_STR(s->env[0], "LANG=C.UTF-8");
	CHECK_EQ_STR(s->env[1], "MODE=a=b");
	CHECK_EQ_INT(s->max_output, 2 * 1024 * 1024);
	CHECK_EQ_INT(s->grace_ms, 1500);
	CHECK_EQ_INT(s->lim.cpu_s, 120);
	CHECK_EQ_INT(s->lim.as_bytes, 512 * 1024 * 1024);
	CHECK_EQ_INT(s->lim.nofile, 64);
	CHECK_EQ_INT(s->lim.nproc, 32);
	kindset_unref(ks);
}

static void
test_defaults(void)
{
	int rv;

	new_dir();
	put("my-kind_1.0.kind", "\xEF\xBB\xBF[kind]\r\n"
	                        "program = /bin/sh\r\n"
	                        "[param s]\n"
	                        "type = string\n"
	                        "[param i]\n"
	                        "type = int\n");
	kindset *ks = load("my-kind_1.0.kind", &rv);
	if (ks == NULL)
		TEST_FAIL_("load: %s", err);
	REQUIRE(ks != NULL);
	const struct kind_def *d = kindset_find(ks, "my-kind_1.0");
	REQUIRE(d != NULL);
	const struct jobd_kind *k = d->k;
	const struct exec_spec *s = k->data;
	CHECK_EQ_STR(k->desc, "");
	CHECK_EQ_INT(k->uses_input, 0);
	CHECK_EQ_INT(k->max_input, 0);
	CHECK_EQ_INT(k->concurrency, 0);
	CHECK_EQ_STR(s->program, "/bin/sh");
	CHECK_EQ_INT(s->nargs, 0);
	CHECK_EQ_INT(s->nenv, 0);
	CHECK_EQ_INT(s->max_output, EXEC_DEFAULT_MAX_OUTPUT);
	CHECK_EQ_INT(s->grace_ms, EXEC_DEFAULT_GRACE_MS);
	CHECK_EQ_INT(s->lim.cpu_s, 0);
	CHECK_EQ_INT(s->lim.as_bytes, 0);
	CHECK_EQ_INT(s->lim.nofile, 0);
	CHECK_EQ_INT(s->lim.nproc, 0);
	REQUIRE(k->nparams == 2);
	CHECK_EQ_INT(k->params[0].min, 0);
	CHECK_EQ_INT(k->params[0].max, 1024);
	CHECK_EQ_INT(k->params[0].required, 0);
	CHECK(k->params[0].def == NULL);
	CHECK_EQ_INT(k->params[1].min, INT64_MIN);
	CHECK_EQ_INT(k->params[1].max, INT64_MAX);
	kindset_unref(ks);
}

/* One error: the file's text, the line named, words of the message. */
struct bad {
	const char *text;
	int line;
	const char *what;
};

#define K "[kind]\nprogram = /bin/sh\n" /* lines 1-2 */

static const struct bad bads[] = {
    {"[kinds]\nprogram = /bin/sh\n", 1, "unknown section '[kinds]'"},
    {K "colour = red\n", 3, "unknown key 'colour' in [kind]"},
    {K "program = /bin/true\n", 3,
     "'program' given twice in [kind] (first "
     "at line 2)"},
    {K "concurrency = two\n", 3, "'concurrency' is not a number: 'two'"},
    {K "concurrency = -1\n", 3, "'concurrency' is not a number"},
    {K "concurrency = 99999999999999999999999\n", 3, "is not a number"},
    {"\n[kind]\ndescription = x\n", 2, "the kind has no 'program'"},
    {K "input = yes\nmax_input = 2M\n", 4, "'max_input' is out of range"},
    {K "max_input = 1K\n", 3, "'max_input' without 'input = yes'"},
    {K "max_output = 9M\n", 3, "'max_output' is out of range"},
    {K "max_output = 1T\n", 3, "'max_output' is not a size: '1T'"},
    {K "input = maybe\n", 3, "'input' is yes or no, not 'maybe'"},
    {K "grace = 11m\n", 3, "'grace' is out of range"},
    {K "grace = 5\n", 3, "'grace' is not a duration: '5'"},
    {K "[param Width]\ntype = int\n", 3, "bad parameter name 'Width'"},
    {K "[param a23456789012345678901234567890123]\n", 3, "bad parameter name"},
    {K "[param]\n", 3, "a parameter section needs a name"},
    {K "[param w]\ntype = int\n[param w]\n", 5,
     "parameter 'w' defined twice (first at line 3)"},
    {K "name = a b\n", 3, "bad kind name 'a b'"},
    {"[kind]\nname = " /* 65 characters */
     "a234567890123456789012345678901234567890123456789012345678901234"
     "5\nprogram = /bin/sh\n",
     2, "bad kind name"},
    {"name = x\n" K, 1, "'name' before any section"},
    {K "just words\n", 3, "expected 'key = value'"},
    {K "[limits\n", 3, "section header without ']'"},
    {K "[limits] x\n", 3, "text after the section header's ']'"},
    {K "[kind]\n", 3, "section [kind] given twice (first at line 1)"},
    {K "[plugin]\npath = x.so\n", 3, "defines a [kind] or names a [plugin]"},
    {K "env = PATH=/x\n", 3, "env may not set 'PATH'"},
    {K "env = JOBD_X=1\n", 3, "env may not set 'JOBD_X'"},
    {K "env = lang=C\n", 3, "env is NAME=VALUE"},
    {K "env = LANG\n", 3, "env is NAME=VALUE"},
    {K "env = A=1\nenv = A=2\n", 4, "env 'A' given twice (first at line 3)"},
    {K "[limits]\ncpu = 1500ms\n", 4, "'cpu' is whole seconds"},
    {K "[limits]\nmemory = lots\n", 4, "'memory' is not a size"},
    {K "[limits]\nfiles = 0\n", 4, "'files' is out of range"},
    {K "[param w]\ntype = int\nrequired = yes\ndefault = 3\n", 6,
     "parameter 'w' is required and has a default"},
    {K "[param w]\ntype = int\nmax = 9\ndefault = 10\n", 6,
     "the default of parameter 'w' of kind 'e' must be an integer from "
     "-9223372036854775808 to 9, not '10'"},
    {K "[param w]\ntype = int\ndefault = ten\n", 5, "must be an integer"},
    {K "[param w]\ntype = bool\ndefault = yes\n", 5,
     "must be true or false, not 'yes'"},
    {K "[param w]\ntype = choice\nvalues = a b\ndefault = c\n", 6,
     "must be one of the values"},
    {K "[param w]\ntype = string\nmax = 2\ndefault = abc\n", 6,
     "at most 2 bytes long, not 3"},
    {K "[param w]\ntype = choice\n", 3,
     "choice parameter 'w' has no "
     "'values'"},
    {K "[param w]\ntype = choice\nvalues = a a\n", 5, "value 'a' given twice"},
    {K "[param w]\ntype = int\nvalues = a\n", 5,
     "'values' is for choice parameters"},
    {K "[param w]\ndescription = x\n", 3, "parameter 'w' has no type"},
    {K "[param w]\ntype = float\n", 4, "unknown type 'float'"},
    {K "[param w]\ntype = int\nmin = 5\nmax = 4\n", 5, "min 5 is above max 4"},
    {K "[param w]\ntype = string\nmax = 65537\n", 5, "'max' is not a length"},
    {K "[param w]\ntype = bool\nmin = 1\n", 5,
     "'min' is for int and string parameters"},
    {K "args = --x={nope}\n", 3, "args: '{nope}'"},
    {K "args = --x={w\n", 3, "args: unclosed"},
    {"[kind]\nprogram = /nonexistent/prog\n", 2,
     "cannot use program '/nonexistent/prog'"},
    {"[kind]\nprogram = plain.txt\n", 2, "is not executable"},
    {"[kind]\nprogram = /tmp\n", 2, "is not a file"},
    {"", 1, "the file defines no kind"},
    {"# only a comment\n[limits]\ncpu = 1s\n", 1, "the file defines no kind"},
    {"[plugin]\n", 1, "the plugin has no 'path'"},
    {"[plugin]\npath = x.so\n[param w]\ntype = int\n", 3,
     "[param w] in a plugin's file"},
    {"[plugin]\npath = /nonexistent.so\n", 2, "cannot load plugin"},
    {K "a\tb = c\001\n", 3, "control character 0x01 in column 8"},
    {K "description = caf\xc3\xa9\n[x]\n", 4, "unknown section"},
};

static void
test_errors(void)
{
	new_dir();
	put("plain.txt", "not a program\n");
	for (size_t i = 0; i < NELEM(bads); i++) {
		int rv;
		put("e.kind", bads[i].text);
		err[0] = '\0';
		kindset *ks = load("e.kind", &rv);
		if (ks != NULL) {
			TEST_FAIL_("case %zu loaded: %s", i, bads[i].text);
			kindset_unref(ks);
			continue;
		}
		CHECK_EQ_INT(rv, JOBD_INVALID_ARGUMENT);
		if (!has_error("e.kind", bads[i].line, bads[i].what))
			TEST_FAIL_("case %zu: no error 'e.kind:%d: ...%s...' "
			           "in:\n%s",
			           i, bads[i].line, bads[i].what, err);
		if (err_lines() != 1)
			TEST_FAIL_("case %zu: %zu errors, not 1:\n%s", i,
			           err_lines(), err);
	}
}

static void
test_several_errors(void)
{
	int rv;

	new_dir();
	put("e.kind", "[kind]\n"
	              "colour = red\n"
	              "concurrency = x\n"
	              "[param w]\n"
	              "type = int\n"
	              "default = z\n"
	              "[oops]\n"
	              "whatever = 1\n"
	              "program = /bin/sh\n");
	CHECK(load("e.kind", &rv) == NULL);
	CHECK_ERROR("e.kind", 1, "the kind has no 'program'");
	CHECK_ERROR("e.kind", 2, "unknown key 'colour'");
	CHECK_ERROR("e.kind", 3, "'concurrency' is not a number");
	CHECK_ERROR("e.kind", 6, "the default of parameter 'w'");
	CHECK_ERROR("e.kind", 7, "unknown section '[oops]'");
	CHECK_EQ_INT(err_lines(), 5); /* none for the keys of [oops] */
	/* sorted by line */
	CHECK(strstr(err, ":1: ") < strstr(err, ":2: "));
	CHECK(strstr(err, ":6: ") < strstr(err, ":7: "));
}

static void
test_hostile(void)
{
	char big[KIND_MAX_INPUT / 8];
	uint8_t junk[4096];
	uint32_t x = 12345;
	int rv;

	new_dir();
	/* a line longer than inih's buffer: an error, not two lines */
	memset(big, 'x', sizeof(big));
	memcpy(big, K "description = ", strlen(K "description = "));
	memcpy(big + 300, "\nname = y\n", 10);
	put_bytes("e.kind", big, 310, 0644);
	CHECK(load("e.kind", &rv) == NULL);
	CHECK_ERROR("e.kind", 3, "line longer than 199 bytes");
	CHECK_EQ_INT(err_lines(), 1);
	/* a long comment is no key line: fine */
	memset(big, 'x', sizeof(big));
	memcpy(big, "[kind]\n#", 8);
	memcpy(big + 300, "\nprogram=/bin/sh\n", 17);
	put_bytes("ok.kind", big, 317, 0644);
	kindset *ks = load("ok.kind", &rv);
	CHECK(ks != NULL);
	kindset_unref(ks);
	/* NUL bytes */
	put_bytes("e.kind", K "name = a\0b\n", strlen(K) + 11, 0644);
	CHECK(load("e.kind", &rv) == NULL);
	CHECK_ERROR("e.kind", 3, "NUL byte in column 9");
	/* too large: 64 KiB + 1 of comments */
	memset(big, '#', 65537);
	for (size_t i = 80; i < 65537; i += 80)
		big[i] = '\n';
	put_bytes("big.kind", big, 65537, 0644);
	CHECK(load("big.kind", &rv) == NULL);
	CHECK_ERROR("big.kind", 1, "larger than 65536 bytes");
	/* binary garbage: errors, capped */
	for (size_t i = 0; i < sizeof(junk); i++) {
		x = x * 1103515245 + 12345;
		junk[i] = (uint8_t) (x >> 16);
	}
	put_bytes("junk.kind", junk, sizeof(junk), 0644);
	CHECK(load("junk.kind", &rv) == NULL);
	CHECK(err_lines() >= 2 && err_lines() <= 11);
	CHECK(strstr(err, "more errors not shown") != NULL);
	/* not there, not a file */
	CHECK(load("none.kind", &rv) == NULL);
	CHECK_ERROR("none.kind", 1, "cannot open the file: No such file");
	snprintf(path, sizeof(path), "%s/d.kind", dir);
	REQUIRE(mkdir(path, 0755) == 0);
	CHECK(load("d.kind", &rv) == NULL);
	CHECK_ERROR("d.kind", 1, "not a regular file");
	/* too many parameters */
	size_t n = (size_t) snprintf(big, sizeof(big), K);
	for (int i = 0; i < 65; i++)
		n += (size_t) snprintf(big + n, sizeof(big) - n,
		                       "[param p%d]\ntype = bool\n", i);
	put("many.kind", big);
	CHECK(load("many.kind", &rv) == NULL);
	CHECK_ERROR("many.kind", 2 + 64 * 2 + 1, "more than 64 parameters");
	CHECK_EQ_INT(err_lines(), 1);
}

static void
test_dir(void)
{
	char d[PATH_MAX];

	new_dir();
	put("b.kind", "[kind]\nprogram = /bin/sh\nbad = 1\n");
	put("a.kind", "[kind]\nprogram = /bin/sh\n");
	put("c.kind", "[kind]\nprogram = /bin/sh\ninput = 2\n");
	put("d.kind", "[kind]\nname = a\nprogram = /bin/sh\n");
	put(".hidden.kind", "garbage\n");
	put("notes.txt", "garbage\n");
	put("x.kind~", "garbage\n");
	put(".kind", "garbage\n");
	kindset *ks = kindset_new();
	REQUIRE(ks != NULL);
	snprintf(d, sizeof(d), "%s", dir);
	CHECK_EQ_INT(kindfile_load_dir(ks, d, err, sizeof(err)),
	             JOBD_INVALID_ARGUMENT);
	CHECK_ERROR("b.kind", 3, "unknown key 'bad'");
	CHECK_ERROR("c.kind", 3, "'input' is yes or no");
	CHECK_ERROR("d.kind", 2, "kind 'a' is already defined (program ");
	CHECK(strstr(err, "/a.kind)") != NULL);
	CHECK_EQ_INT(err_lines(), 3);
	/* in name order */
	CHECK(strstr(err, "b.kind") < strstr(err, "c.kind"));
	CHECK(strstr(err, "c.kind") < strstr(err, "d.kind"));
	CHECK(kindset_find(ks, "a") != NULL);
	kindset_unref(ks);

	/* all good */
	new_dir();
	put("one.kind", "[kind]\nprogram = /bin/sh\n");
	put("two.kind", "[kind]\nprogram = /bin/sh\n");
	put("README", "not a kind\n");
	ks = kindset_new();
	CHECK_EQ_INT(kindfile_load_dir(ks, dir, err, sizeof(err)), JOBD_OK);
	CHECK_EQ_STR(err, "");
	size_t n;
	const struct kind_def *all = kindset_all(ks, &n);
	REQUIRE(n == 2);
	CHECK_EQ_STR(all[0].k->name, "one");
	CHECK_EQ_STR(all[1].k->name, "two");
	kindset_unref(ks);

	ks = kindset_new();
	CHECK_EQ_INT(kindfile_load_dir(ks, "/nonexistent", err, sizeof(err)),
	             JOBD_INVALID_ARGUMENT);
	CHECK(strstr(err, "cannot read kinds directory '/nonexistent'") !=
	      NULL);
	kindset_unref(ks);
}

/* ---- plugins ---- */

static const char *
plugin_path(const char *var)
{
	const char *p = getenv(var);

	if (p == NULL)
		TEST_FAIL_("%s is not set (run through ctest)", var);
	REQUIRE(p != NULL);
	return p;
}

static int
stop_at_second(void *arg, uint64_t done, uint64_t total)
{
	int *calls = arg;

	(void) done;
	(void) total;
	return ++*calls > 1;
}

static void
test_plugin_fib(void)
{
	const char *so = plugin_path("JOBD_TEST_PLUGIN_FIB");
	char text[PATH_MAX + 64], link[PATH_MAX + 16];
	int rv, calls = 0;

	new_dir();
	snprintf(text, sizeof(text), "; the example\n[plugin]\npath = %s\n",
	         so);
	put("fib.kind", text);
	kindset *ks = load("fib.kind", &rv);
	if (ks == NULL)
		TEST_FAIL_("load: %s", err);
	REQUIRE(ks != NULL);
	const struct kind_def *d = kindset_find(ks, "fib");
	REQUIRE(d != NULL);
	CHECK_EQ_INT(d->origin, KIND_PLUGIN);
	CHECK_EQ_STR(d->source, so);

	/* it runs: F(90), and F(100) mod 2^64 */
	struct job_param n = {(char *) "n", (char *) "90"};
	struct jobd_job job = {.kind = d->k, .params = &n, .nparams = 1};
	REQUIRE(kind_validate(d->k, &n, 1, 0, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(kind_run(&job), JOBD_RUN_OK);
	CHECK(job.result != NULL &&
	      job.result_len == strlen("2880067194370816120\n") &&
	      memcmp(job.result, "2880067194370816120\n", job.result_len) == 0);
	free(job.result);
	n.value = (char *) "100";
	memset(&job, 0, sizeof(job));
	job.kind = d->k;
	job.params = &n;
	job.nparams = 1;
	CHECK_EQ_INT(kind_run(&job), JOBD_RUN_OK);
	CHECK(job.result != NULL &&
	      memcmp(job.result, "3736710778780434371\n", 20) == 0);
	free(job.result);
	/* and stops when told */
	n.value = (char *) "100000000000";
	memset(&job, 0, sizeof(job));
	job.kind = d->k;
	job.params = &n;
	job.nparams = 1;
	job.progress = stop_at_second;
	job.progress_arg = &calls;
	CHECK_EQ_INT(kind_run(&job), JOBD_RUN_STOPPED);
	CHECK_EQ_INT(calls, 2);
	free(job.result);
	kindset_unref(ks);

	/* a path relative to the kind file; the object already loaded */
	snprintf(link, sizeof(link), "%s/fib.so", dir);
	REQUIRE(symlink(so, link) == 0);
	put("rel.kind", "[plugin]\npath = fib.so\n");
	ks = load("rel.kind", &rv);
	if (ks == NULL)
		TEST_FAIL_("load: %s", err);
	CHECK(ks != NULL && kindset_find(ks, "fib") != NULL);
	kindset_unref(ks);
	put("twice.kind", "[plugin]\npath = fib.so\n\n");
	ks = kindset_new();
	snprintf(text, sizeof(text), "%s/rel.kind", dir);
	CHECK_EQ_INT(kindfile_load(ks, text, err, sizeof(err)), JOBD_OK);
	snprintf(text, sizeof(text), "%s/twice.kind", dir);
	CHECK_EQ_INT(kindfile_load(ks, text, err, sizeof(err)),
	             JOBD_INVALID_ARGUMENT);
	CHECK_ERROR("twice.kind", 2, "kind 'fib' is already defined (plugin ");
	kindset_unref(ks);
}

static void
test_plugin_refused(void)
{
	char text[PATH_MAX + 64], want[PATH_MAX];
	int rv;

	new_dir();
	/* a stamp of kind API 99 */
	const char *so = plugin_path("JOBD_TEST_PLUGIN_BAD1");
	snprintf(text, sizeof(text), "[plugin]\npath = %s\n", so);
	put("p.kind", text);
	CHECK(load("p.kind", &rv) == NULL);
	CHECK_EQ_INT(rv, JOBD_INVALID_ARGUMENT);
	snprintf(want, sizeof(want),
	         "was built for kind API 99 (struct sizes %zu/%zu/%zu/%zu), "
	         "this jobd has kind API 1 (%zu/%zu/%zu/%zu)",
	         sizeof(struct jobd_kind) + 8, sizeof(struct jobd_param),
	         sizeof(struct jobd_host) + 8, sizeof(struct jobd_registrar),
	         sizeof(struct jobd_kind), sizeof(struct jobd_param),
	         sizeof(struct jobd_host), sizeof(struct jobd_registrar));
	CHECK_ERROR("p.kind", 2, want);
	/* plugin_load itself says FAILED_PRECONDITION */
	kindset *ks = kindset_new();
	CHECK_EQ_INT(plugin_load(ks, so, err, sizeof(err)),
	             JOBD_FAILED_PRECONDITION);
	CHECK(strstr(err, "plugin '") == err);
	size_t n;
	(void) kindset_all(ks, &n);
	CHECK_EQ_INT(n, 0);
	kindset_unref(ks);

	/* kind API 1 with other sizes */
	so = plugin_path("JOBD_TEST_PLUGIN_BAD2");
	snprintf(text, sizeof(text), "[plugin]\npath = %s\n", so);
	put("p.kind", text);
	CHECK(load("p.kind", &rv) == NULL);
	snprintf(want, sizeof(want),
	         "was built for kind API 1 (struct sizes %zu/%zu/%zu/%zu)",
	         sizeof(struct jobd_kind) + 16, sizeof(struct jobd_param),
	         sizeof(struct jobd_host) + 16, sizeof(struct jobd_registrar));
	CHECK_ERROR("p.kind", 2, want);

	/* an init that fails: the registrar's reason */
	so = plugin_path("JOBD_TEST_PLUGIN_BAD3");
	snprintf(text, sizeof(text), "[plugin]\npath = %s\n", so);
	put("p.kind", text);
	CHECK(load("p.kind", &rv) == NULL);
	CHECK_ERROR("p.kind", 2, "a kind's name must be");

	/* not there */
	put("p.kind", "[plugin]\n\npath = missing.so\n");
	CHECK(load("p.kind", &rv) == NULL);
	snprintf(want, sizeof(want), "cannot load plugin '%s/missing.so'", dir);
	CHECK_ERROR("p.kind", 3, want);

	/* garbage */
	put("garbage.so", "this is no shared object\n");
	put("p.kind", "[plugin]\npath = garbage.so\n");
	CHECK(load("p.kind", &rv) == NULL);
	CHECK_ERROR("p.kind", 2, "cannot load plugin");

	/* a shared object without a stamp: libinih itself */
	Dl_info di;
	REQUIRE(dladdr((void *) ini_parse_stream, &di) != 0);
	snprintf(text, sizeof(text), "[plugin]\npath = %s\n", di.dli_fname);
	put("p.kind", text);
	CHECK(load("p.kind", &rv) == NULL);
	CHECK_ERROR("p.kind", 2, "has no ABI stamp 'jobd_plugin_stamp'");
	rm_dir();
}

TEST_MAIN({"full", test_full}, {"defaults", test_defaults},
          {"errors", test_errors}, {"several_errors", test_several_errors},
          {"hostile", test_hostile}, {"dir", test_dir},
          {"plugin_fib", test_plugin_fib},
          {"plugin_refused", test_plugin_refused})

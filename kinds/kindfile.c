/*
 * kindfile: the *.kind files of a kinds directory, read with libinih.
 *
 * A file is read whole into memory (at most KF_MAX_FILE bytes) and goes
 * through three steps.
 *
 * 1. The reader (kinds/inilines.c, shared with the *.schedule files)
 *    hands inih one line per call and counts them, refuses what inih would
 *    mangle without a word (an over-long line, a NUL or other control
 *    byte), drops leading blanks (no multi-line values) and parses section
 *    headers; kf_section() opens the section a header names, so that an
 *    unknown, empty or repeated section is seen and each section's header
 *    line is known. inih splits `key = value` (or `key: value`), trims,
 *    and drops comments.
 * 2. The handler only records each key's value and line in its section's
 *    table; an unknown key or one given twice is an error there.
 * 3. The build, at the end of the file, turns the records into a kind (or
 *    loads the plugin the file names). Each value is checked with its own
 *    line in the message; what is missing or wrong with a section as a
 *    whole names the section's header line; what is wrong with the file as
 *    a whole (unreadable, too large, empty) names line 1.
 *
 * Errors are collected by inilines, up to INILINES_MAX_ERRORS a file, and
 * written sorted by line as "PATH:LINE: what is wrong", one per line. Nothing
 * is added to the set from a file that has an error.
 *
 * Ownership: a program kind is one struct pk, the row, its parameter table
 * and every string and choice list the row points to (a chain of blocks),
 * plus the struct exec_spec with its own malloc'd strings. kindset_add()
 * takes the whole with pk_destroy(), which frees the spec with
 * exec_spec_free().
 */
#include "kindfile.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duration.h"
#include "exec.h"
#include "inilines.h"
#include "jobd_status.h"
#include "plugin.h"
#include "template.h"

#define KF_MAX_FILE        (64 * 1024) /* bytes of one kind file */
#define KF_MAX_PARAMS      64          /* [param] sections of one file */
#define KF_MAX_ENV         64          /* env lines of one kind */
#define KF_MAX_ARGS        128         /* words of args */
#define KF_MAX_CHOICES     64          /* values of a choice parameter */
#define KF_CHOICE_MAX_LEN  64          /* bytes of one of those values */
#define KF_STRING_DEFAULT  1024        /* a string parameter's default max */
#define KF_STRING_MAX      65536       /* the most a string max may be */
#define KF_GRACE_MAX_MS    (10 * 60 * 1000)
#define KF_CONCURRENCY_MAX 65535

/* A block of a program kind's memory, chained from struct pk. */
struct blk {
	struct blk *next;
	max_align_t data[];
};

/* A program kind and everything it points to. */
struct pk {
	struct jobd_kind k;
	struct jobd_param params[KF_MAX_PARAMS];
	struct blk *blocks;
	struct exec_spec *spec;
};

static void
pk_destroy(void *arg)
{
	struct pk *pk = arg;

	if (pk == NULL)
		return;
	if (pk->spec != NULL)
		exec_spec_free(pk->spec);
	while (pk->blocks != NULL) {
		struct blk *b = pk->blocks;
		pk->blocks = b->next;
		free(b);
	}
	free(pk);
}

/* Keys of each section, by index into a struct sect's kv. */
enum {
	K_NAME,
	K_DESC,
	K_PROGRAM,
	K_ARGS,
	K_INPUT,
	K_MAX_INPUT,
	K_MAX_OUTPUT,
	K_CONCURRENCY,
	K_GRACE,
	K_ENV,
	K_N
};
static const char *const kind_keys[K_N] = {
    "name",      "description", "program",     "args",  "input",
    "max_input", "max_output",  "concurrency", "grace", "env"};
enum { L_CPU, L_MEMORY, L_FILES, L_PROCESSES, L_N };
static const char *const limits_keys[L_N] = {"cpu", "memory", "files",
                                             "processes"};
enum { P_TYPE, P_REQUIRED, P_MIN, P_MAX, P_DEFAULT, P_DESC, P_VALUES, P_N };
static const char *const param_keys[P_N] = {
    "type", "required", "min", "max", "default", "description", "values"};
enum { G_PATH, G_N };
static const char *const plugin_keys[G_N] = {"path"};

#define KF_MAX_KEYS K_N

/* A key's value as given, and its line (0: not given). */
struct kv {
	const char *v;
	int line;
};

struct sect {
	int line; /* of the header; 0: no such section */
	char title[48];
	const char *name; /* [param NAME] */
	const char *const *keys;
	size_t nkeys;
	struct kv kv[KF_MAX_KEYS];
};

/* The reading of one file. */
struct kf {
	const char *path;
	char *dir;         /* the file's directory, absolute (malloc'd) */
	struct inilines r; /* the file, its lines and its errors */
	struct pk *pk;     /* the kind being built; its blocks hold values */

	struct sect kind, limits, plugin;
	struct sect params[KF_MAX_PARAMS];
	size_t nparams;
	struct kv env[KF_MAX_ENV];
	size_t nenv;
	struct sect *cur; /* keys go here; NULL: nowhere */
	bool skip;        /* cur is NULL because of a bad header: no error */
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
kf_error(struct kf *f, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	inilines_verror(&f->r, line, fmt, ap);
	va_end(ap);
}

static void
kf_oom(struct kf *f)
{
	if (!f->r.oom)
		kf_error(f, f->r.line, "out of memory");
	f->r.oom = true;
}

static void *
kf_alloc(struct kf *f, size_t n)
{
	struct blk *b = malloc(sizeof(*b) + n);

	if (b == NULL) {
		kf_oom(f);
		return NULL;
	}
	b->next = f->pk->blocks;
	f->pk->blocks = b;
	return b->data;
}

static char *
kf_strndup(struct kf *f, const char *s, size_t n)
{
	char *d = kf_alloc(f, n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* A malloc'd copy for the exec_spec (which frees it itself). */
static char *
kf_spec_strdup(struct kf *f, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		kf_oom(f);
	return d;
}

/* ---- reading: lines and sections ---- */

static bool
kf_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void
kf_sect_init(struct sect *s, int line, const char *title,
             const char *const *keys, size_t nkeys)
{
	s->line = line;
	snprintf(s->title, sizeof(s->title), "%s", title);
	s->keys = keys;
	s->nkeys = nkeys;
}

/* A single section ([kind], [limits], [plugin]) opened at this line. */
static struct sect *
kf_open_single(struct kf *f, struct sect *s, const char *title,
               const char *const *keys, size_t nkeys)
{
	if (s->line != 0) {
		kf_error(f, f->r.line,
		         "section %s given twice (first at line %d)", title,
		         s->line);
		return NULL;
	}
	kf_sect_init(s, f->r.line, title, keys, nkeys);
	return s;
}

static struct sect *
kf_open_param(struct kf *f, const char *name)
{
	char title[48];

	if (*name == '\0') {
		kf_error(f, f->r.line,
		         "a parameter section needs a name: [param NAME]");
		return NULL;
	}
	if (!kind_param_name_ok(name)) {
		kf_error(f, f->r.line,
		         "bad parameter name '%.80s' (a lowercase letter, then "
		         "lowercase letters, digits or '_', at most %d)",
		         name, KIND_PARAM_NAME_MAX);
		return NULL;
	}
	for (size_t i = 0; i < f->nparams; i++) {
		if (strcmp(f->params[i].name, name) == 0) {
			kf_error(f, f->r.line,
			         "parameter '%s' defined twice (first at line "
			         "%d)",
			         name, f->params[i].line);
			return NULL;
		}
	}
	if (f->nparams == KF_MAX_PARAMS) {
		kf_error(f, f->r.line, "more than %d parameters",
		         KF_MAX_PARAMS);
		return NULL;
	}
	struct sect *s = &f->params[f->nparams];
	s->name = kf_strndup(f, name, strlen(name));
	if (s->name == NULL)
		return NULL;
	snprintf(title, sizeof(title), "[param %s]", name);
	kf_sect_init(s, f->r.line, title, param_keys, P_N);
	f->nparams++;
	return s;
}

/* inilines' section callback: opens the section a header names (p, n
 * bytes), or none after a bad header (p NULL). */
static void
kf_section(void *arg, const char *p, size_t n)
{
	struct kf *f = arg;
	char name[INILINES_MSG_MAX];

	f->cur = NULL;
	f->skip = true;
	if (p == NULL)
		return;
	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, p, n);
	name[n] = '\0';

	if (strcmp(name, "kind") == 0)
		f->cur = kf_open_single(f, &f->kind, "[kind]", kind_keys, K_N);
	else if (strcmp(name, "limits") == 0)
		f->cur =
		    kf_open_single(f, &f->limits, "[limits]", limits_keys, L_N);
	else if (strcmp(name, "plugin") == 0)
		f->cur =
		    kf_open_single(f, &f->plugin, "[plugin]", plugin_keys, G_N);
	else if (strncmp(name, "param", 5) == 0 &&
	         (name[5] == '\0' || kf_blank(name[5]))) {
		const char *pn = name + 5;
		while (kf_blank(*pn))
			pn++;
		f->cur = kf_open_param(f, pn);
	} else
		kf_error(f, f->r.line,
		         "unknown section '[%.80s]' (the sections are [kind], "
		         "[limits], [param NAME] and [plugin])",
		         name);
}

/* inih's handler: records the value in the current section's table. */
static int
kf_handler(void *user, const char *section, const char *name, const char *value)
{
	struct kf *f = user;
	struct sect *s = f->cur;
	size_t i;

	(void) section; /* the reader keeps track of sections */
	if (s == NULL) {
		if (!f->skip)
			kf_error(f, f->r.line,
			         "'%.64s' before any section (a kind file "
			         "starts with [kind] or [plugin])",
			         name);
		return 1;
	}
	for (i = 0; i < s->nkeys && strcmp(s->keys[i], name) != 0; i++)
		;
	if (i == s->nkeys) {
		kf_error(f, f->r.line, "unknown key '%.64s' in %s", name,
		         s->title);
		return 1;
	}
	if (s == &f->kind && i == K_ENV) {
		if (f->nenv == KF_MAX_ENV) {
			kf_error(f, f->r.line, "more than %d env lines",
			         KF_MAX_ENV);
			return 1;
		}
		f->env[f->nenv].v = kf_strndup(f, value, strlen(value));
		f->env[f->nenv++].line = f->r.line;
		return 1;
	}
	if (s->kv[i].line != 0) {
		kf_error(f, f->r.line,
		         "'%s' given twice in %s (first at line %d)", name,
		         s->title, s->kv[i].line);
		return 1;
	}
	s->kv[i].v = kf_strndup(f, value, strlen(value));
	s->kv[i].line = f->r.line;
	return 1;
}

/* ---- values ---- */

/* s[0..n) as a whole decimal number: digits only, no overflow. */
static bool
kf_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned) (s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* A size: a number of bytes, or with suffix K or M (KiB, MiB), or G when
 * giga. */
static bool
kf_size(const char *s, bool giga, uint64_t *out)
{
	size_t n = strlen(s);
	unsigned shift = 0;

	if (n > 0 && s[n - 1] == 'K')
		shift = 10;
	else if (n > 0 && s[n - 1] == 'M')
		shift = 20;
	else if (n > 0 && s[n - 1] == 'G' && giga)
		shift = 30;
	if (!kf_digits(s, shift ? n - 1 : n, out))
		return false;
	if (*out > (UINT64_MAX >> shift))
		return false;
	*out <<= shift;
	return true;
}

/* A yes/no key of s: def when absent, else its value (an error when it is
 * neither yes nor no). */
static bool
kf_yesno(struct kf *f, const struct sect *s, int key, bool def)
{
	const struct kv *kv = &s->kv[key];

	if (kv->v == NULL)
		return def;
	if (strcmp(kv->v, "yes") == 0)
		return true;
	if (strcmp(kv->v, "no") != 0)
		kf_error(f, kv->line, "'%s' is yes or no, not '%.64s'",
		         s->keys[key], kv->v);
	return false;
}

/* The sorts of value a numeric key takes, and how a message names them. */
enum kf_value { KV_NUMBER, KV_SIZE, KV_SIZE_G, KV_DURATION };

static const struct {
	const char *what; /* "'KEY' is not WHAT: 'TEXT'HINT" */
	const char *hint;
	const char *unit; /* after a value in "out of range" */
} kf_values[] = {
    [KV_NUMBER] = {"a number", "", ""},
    [KV_SIZE] = {"a size", " (bytes, or a number with K or M)", " bytes"},
    [KV_SIZE_G] = {"a size", " (bytes, or a number with K or M or G)",
                   " bytes"},
    [KV_DURATION] = {"a duration", " (a number with ms, s or m)", " ms"},
};

static bool
kf_parse(enum kf_value t, const char *text, uint64_t *v)
{
	switch (t) {
	case KV_NUMBER:
		return kf_digits(text, strlen(text), v);
	case KV_SIZE:
	case KV_SIZE_G:
		return kf_size(text, t == KV_SIZE_G, v);
	case KV_DURATION: /* duration.h: "500ms", "30s", "1m30s" */
		return duration_parse(text, UINT64_MAX, 0, v) == DURATION_OK;
	}
	return false;
}

/* Key `key` of s as a value of sort t (a duration in ms) within [lo, hi];
 * def when absent or wrong (the error then said, with its line). */
static uint64_t
kf_value_key(struct kf *f, const struct sect *s, int key, enum kf_value t,
             uint64_t lo, uint64_t hi, uint64_t def)
{
	const struct kv *kv = &s->kv[key];
	const char *unit = kf_values[t].unit;
	uint64_t v;

	if (kv->v == NULL)
		return def;
	if (!kf_parse(t, kv->v, &v)) {
		kf_error(f, kv->line, "'%s' is not %s: '%.64s'%s", s->keys[key],
		         kf_values[t].what, kv->v, kf_values[t].hint);
		return def;
	}
	if (v < lo || v > hi) {
		kf_error(f, kv->line,
		         "'%s' is out of range: %" PRIu64 "%s (from %" PRIu64
		         " to %" PRIu64 "%s)",
		         s->keys[key], v, unit, lo, hi, unit);
		return def;
	}
	return v;
}

/* A path of the file: absolute as given, else relative to its directory;
 * malloc'd. */
static char *
kf_resolve(struct kf *f, const char *path)
{
	char *r;

	if (path[0] == '/')
		return kf_spec_strdup(f, path);
	size_t n = strlen(f->dir) + 1 + strlen(path) + 1;
	if ((r = malloc(n)) == NULL) {
		kf_oom(f);
		return NULL;
	}
	snprintf(r, n, "%s/%s", strcmp(f->dir, "/") == 0 ? "" : f->dir, path);
	return r;
}

/* ---- the build ---- */

static void
kf_param_bounds(struct kf *f, const struct sect *s, struct jobd_param *p)
{
	const struct kv *kmin = &s->kv[P_MIN], *kmax = &s->kv[P_MAX];
	uint64_t u;

	if (p->type == JOBD_PARAM_INT) {
		p->min = INT64_MIN;
		p->max = INT64_MAX;
		if (kmin->v != NULL && !kind_parse_int(kmin->v, &p->min))
			kf_error(f, kmin->line,
			         "'min' is not an integer: '%.64s'", kmin->v);
		if (kmax->v != NULL && !kind_parse_int(kmax->v, &p->max))
			kf_error(f, kmax->line,
			         "'max' is not an integer: '%.64s'", kmax->v);
	} else if (p->type == JOBD_PARAM_STRING) {
		p->min = 0;
		p->max = KF_STRING_DEFAULT;
		if (kmin->v != NULL) {
			if (!kf_digits(kmin->v, strlen(kmin->v), &u) ||
			    u > KF_STRING_MAX)
				kf_error(f, kmin->line,
				         "'min' is not a length from 0 to %d: "
				         "'%.64s'",
				         KF_STRING_MAX, kmin->v);
			else
				p->min = (int64_t) u;
		}
		if (kmax->v != NULL) {
			if (!kf_digits(kmax->v, strlen(kmax->v), &u) ||
			    u > KF_STRING_MAX)
				kf_error(f, kmax->line,
				         "'max' is not a length from 0 to %d: "
				         "'%.64s'",
				         KF_STRING_MAX, kmax->v);
			else
				p->max = (int64_t) u;
		}
	} else {
		if (kmin->v != NULL)
			kf_error(f, kmin->line,
			         "'min' is for int and string parameters");
		if (kmax->v != NULL)
			kf_error(f, kmax->line,
			         "'max' is for int and string parameters");
		return;
	}
	if (p->min > p->max)
		kf_error(f, kmin->line ? kmin->line : kmax->line,
		         "parameter '%s': min %" PRId64
		         " is above max %" PRId64,
		         p->name, p->min, p->max);
}

static void
kf_param_choices(struct kf *f, const struct sect *s, struct jobd_param *p)
{
	const struct kv *kv = &s->kv[P_VALUES];
	const char *words[KF_MAX_CHOICES];
	size_t lens[KF_MAX_CHOICES], n = 0;

	if (p->type != JOBD_PARAM_CHOICE) {
		if (kv->v != NULL)
			kf_error(f, kv->line,
			         "'values' is for choice parameters");
		return;
	}
	if (kv->v == NULL) {
		kf_error(f, s->line, "choice parameter '%s' has no 'values'",
		         p->name);
		return;
	}
	for (const char *w = kv->v; *w != '\0';) {
		size_t len = strcspn(w, " \t");
		if (len == 0) {
			w++;
			continue;
		}
		if (len > KF_CHOICE_MAX_LEN) {
			kf_error(f, kv->line,
			         "value '%.*s...' is longer than %d",
			         KF_CHOICE_MAX_LEN, w, KF_CHOICE_MAX_LEN);
			return;
		}
		if (n == KF_MAX_CHOICES) {
			kf_error(f, kv->line, "more than %d values",
			         KF_MAX_CHOICES);
			return;
		}
		for (size_t i = 0; i < n; i++) {
			if (lens[i] == len && memcmp(words[i], w, len) == 0) {
				kf_error(f, kv->line,
				         "value '%.*s' given twice",
				         (int) (len > 64 ? 64 : len), w);
				return;
			}
		}
		words[n] = w;
		lens[n++] = len;
		w += len;
	}
	if (n == 0) {
		kf_error(f, kv->line, "'values' is empty");
		return;
	}
	const char **ch = kf_alloc(f, (n + 1) * sizeof(*ch));
	if (ch == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		if ((ch[i] = kf_strndup(f, words[i], lens[i])) == NULL)
			return;
	ch[n] = NULL;
	p->choices = ch;
}

static void
kf_param(struct kf *f, const struct sect *s, const struct jobd_kind *k,
         struct jobd_param *p)
{
	static const char *const types[] = {
	    [JOBD_PARAM_INT] = "int",
	    [JOBD_PARAM_STRING] = "string",
	    [JOBD_PARAM_BOOL] = "bool",
	    [JOBD_PARAM_CHOICE] = "choice",
	};
	const struct kv *kt = &s->kv[P_TYPE], *kd = &s->kv[P_DEFAULT];
	int errs = f->r.nerr + f->r.nmore;
	char why[300];

	p->name = s->name;
	p->desc = s->kv[P_DESC].v != NULL ? s->kv[P_DESC].v : "";
	p->required = kf_yesno(f, s, P_REQUIRED, false);
	if (kt->v == NULL) {
		kf_error(f, s->line,
		         "parameter '%s' has no type (int, string, bool or "
		         "choice)",
		         p->name);
		return;
	}
	for (int t = JOBD_PARAM_INT; t <= JOBD_PARAM_CHOICE; t++)
		if (strcmp(kt->v, types[t]) == 0)
			p->type = t;
	if (p->type == 0) {
		kf_error(f, kt->line,
		         "unknown type '%.64s' (int, string, bool or choice)",
		         kt->v);
		return;
	}
	kf_param_bounds(f, s, p);
	kf_param_choices(f, s, p);
	if (kd->v == NULL)
		return;
	if (p->required) {
		kf_error(f, kd->line,
		         "parameter '%s' is required and has a default: drop "
		         "one",
		         p->name);
		return;
	}
	if (f->r.nerr + f->r.nmore == errs &&
	    kind_check_value(k, p, kd->v, why, sizeof(why)) != JOBD_OK) {
		kf_error(f, kd->line, "the default of %s", why);
		return;
	}
	p->def = kd->v;
}

static bool
kf_env_name_ok(const char *s, size_t n)
{
	if (n == 0 || !((s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static void
kf_env(struct kf *f, struct exec_spec *spec)
{
	if (f->nenv == 0)
		return;
	if ((spec->env = calloc(f->nenv, sizeof(*spec->env))) == NULL) {
		kf_oom(f);
		return;
	}
	for (size_t i = 0; i < f->nenv; i++) {
		const struct kv *kv = &f->env[i];
		const char *eq = strchr(kv->v, '=');
		size_t n = eq != NULL ? (size_t) (eq - kv->v) : 0;
		if (eq == NULL || !kf_env_name_ok(kv->v, n)) {
			kf_error(
			    f, kv->line,
			    "env is NAME=VALUE with NAME of [A-Z_][A-Z0-9_]*, "
			    "not '%.64s'",
			    kv->v);
			continue;
		}
		if ((n == 4 && memcmp(kv->v, "PATH", 4) == 0) ||
		    strncmp(kv->v, "JOBD_", 5) == 0) {
			kf_error(f, kv->line,
			         "env may not set '%.*s' (PATH and JOBD_* are "
			         "jobd's)",
			         (int) n, kv->v);
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (strncmp(f->env[j].v, kv->v, n + 1) == 0) {
				kf_error(
				    f, kv->line,
				    "env '%.*s' given twice (first at line "
				    "%d)",
				    (int) n, kv->v, f->env[j].line);
				break;
			}
		}
		if ((spec->env[spec->nenv] = kf_spec_strdup(f, kv->v)) != NULL)
			spec->nenv++;
	}
}

static void
kf_args(struct kf *f, struct exec_spec *spec, const struct jobd_kind *k)
{
	const struct kv *kv = &f->kind.kv[K_ARGS];
	char why[INILINES_MSG_MAX - 32];
	size_t n = 0;

	if (kv->v == NULL)
		return;
	for (const char *w = kv->v; *w != '\0';) {
		size_t len = strcspn(w, " \t");
		n += len > 0;
		w += len > 0 ? len : 1;
	}
	if (n > KF_MAX_ARGS) {
		kf_error(f, kv->line, "more than %d words in args",
		         KF_MAX_ARGS);
		return;
	}
	if (n == 0)
		return;
	if ((spec->args = calloc(n, sizeof(*spec->args))) == NULL) {
		kf_oom(f);
		return;
	}
	for (const char *w = kv->v; *w != '\0';) {
		size_t len = strcspn(w, " \t");
		if (len == 0) {
			w++;
			continue;
		}
		char *word = strndup(w, len);
		w += len;
		if (word == NULL) {
			kf_oom(f);
			return;
		}
		spec->args[spec->nargs++] = word;
		if (tmpl_check(word, k, why, sizeof(why)) != JOBD_OK)
			kf_error(f, kv->line, "args: %s", why);
	}
}

static void
kf_limits(struct kf *f, struct exec_limits *lim)
{
	const struct sect *s = &f->limits;
	uint64_t ms;

	if (s->line == 0)
		return;
	ms = kf_value_key(f, s, L_CPU, KV_DURATION, 1000,
	                  UINT64_C(365) * 86400000, 0);
	if (ms % 1000 != 0)
		kf_error(f, s->kv[L_CPU].line,
		         "'cpu' is whole seconds, not %" PRIu64 " ms", ms);
	lim->cpu_s = ms / 1000;
	lim->as_bytes = kf_value_key(f, s, L_MEMORY, KV_SIZE_G,
	                             UINT64_C(1) << 20, UINT64_C(1) << 50, 0);
	lim->nofile =
	    kf_value_key(f, s, L_FILES, KV_NUMBER, 1, UINT64_C(1) << 20, 0);
	lim->nproc =
	    kf_value_key(f, s, L_PROCESSES, KV_NUMBER, 1, UINT64_C(1) << 22, 0);
}

/* The program: resolved, existing, executable. */
static void
kf_program(struct kf *f, struct exec_spec *spec)
{
	const struct kv *kv = &f->kind.kv[K_PROGRAM];
	struct stat st;

	if (kv->v == NULL || kv->v[0] == '\0') {
		kf_error(f, kv->v ? kv->line : f->kind.line,
		         "the kind has no 'program'");
		return;
	}
	if ((spec->program = kf_resolve(f, kv->v)) == NULL)
		return;
	if (stat(spec->program, &st) != 0)
		kf_error(f, kv->line, "cannot use program '%.128s': %s",
		         spec->program, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		kf_error(f, kv->line, "program '%.128s' is not a file",
		         spec->program);
	else if (access(spec->program, X_OK) != 0)
		kf_error(f, kv->line, "program '%.128s' is not executable",
		         spec->program);
}

static int
kf_build_kind(struct kf *f, kindset *ks)
{
	struct pk *pk = f->pk;
	struct jobd_kind *k = &pk->k;
	const struct sect *s = &f->kind;
	const struct kv *kn = &s->kv[K_NAME];
	struct exec_spec *spec;
	char stem[256], msg[512];
	int rv;

	if ((spec = calloc(1, sizeof(*spec))) == NULL) {
		kf_oom(f);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	pk->spec = spec;
	inilines_stem(f->path, ".kind", stem, sizeof(stem));
	k->name = kn->v != NULL ? kn->v : kf_strndup(f, stem, strlen(stem));
	if (k->name != NULL && !kind_name_ok(k->name))
		kf_error(
		    f, kn->v != NULL ? kn->line : s->line,
		    "bad kind name '%.80s'%s (1 to %d of A-Z a-z 0-9 _ . -)",
		    k->name, kn->v != NULL ? "" : " (from the file name)",
		    JOBD_KIND_NAME_MAX);
	k->desc = s->kv[K_DESC].v != NULL ? s->kv[K_DESC].v : "";
	kf_program(f, spec);
	k->uses_input = kf_yesno(f, s, K_INPUT, false);
	k->max_input = (uint32_t) kf_value_key(f, s, K_MAX_INPUT, KV_SIZE, 1,
	                                       KIND_MAX_INPUT, 0);
	if (s->kv[K_MAX_INPUT].v != NULL && !k->uses_input)
		kf_error(f, s->kv[K_MAX_INPUT].line,
		         "'max_input' without 'input = yes'");
	spec->max_output =
	    kf_value_key(f, s, K_MAX_OUTPUT, KV_SIZE, 1, EXEC_MAX_OUTPUT,
	                 EXEC_DEFAULT_MAX_OUTPUT);
	k->concurrency = (uint32_t) kf_value_key(f, s, K_CONCURRENCY, KV_NUMBER,
	                                         0, KF_CONCURRENCY_MAX, 0);
	spec->grace_ms =
	    (uint32_t) kf_value_key(f, s, K_GRACE, KV_DURATION, 0,
	                            KF_GRACE_MAX_MS, EXEC_DEFAULT_GRACE_MS);
	kf_env(f, spec);
	kf_limits(f, &spec->lim);
	for (size_t i = 0; i < f->nparams; i++)
		kf_param(f, &f->params[i], k, &pk->params[i]);
	k->params = pk->params;
	k->nparams = f->nparams;
	kf_args(f, spec, k);
	spec->kind_dir = kf_spec_strdup(f, f->dir);
	k->run = exec_run;
	k->data = spec;
	if (f->r.nerr > 0)
		return f->r.oom ? JOBD_RESOURCE_EXHAUSTED
		                : JOBD_INVALID_ARGUMENT;

	f->pk = NULL; /* kindset_add takes it, even on an error */
	rv = kindset_add(ks, k, KIND_PROGRAM, f->path, pk_destroy, pk, msg,
	                 sizeof(msg));
	if (rv != JOBD_OK)
		kf_error(f, kn->v != NULL ? kn->line : s->line, "%s", msg);
	return rv;
}

static int
kf_build_plugin(struct kf *f, kindset *ks)
{
	const struct kv *kv = &f->plugin.kv[G_PATH];
	char msg[1024];
	char *path;
	int rv;

	if (f->kind.line != 0)
		kf_error(
		    f,
		    f->kind.line > f->plugin.line ? f->kind.line
		                                  : f->plugin.line,
		    "a kind file defines a [kind] or names a [plugin], not "
		    "both");
	if (f->limits.line != 0)
		kf_error(f, f->limits.line, "[limits] in a plugin's file");
	if (f->nparams > 0)
		kf_error(f, f->params[0].line, "%s in a plugin's file",
		         f->params[0].title);
	if (kv->v == NULL || kv->v[0] == '\0')
		kf_error(f, kv->v ? kv->line : f->plugin.line,
		         "the plugin has no 'path'");
	if (f->r.nerr > 0)
		return f->r.oom ? JOBD_RESOURCE_EXHAUSTED
		                : JOBD_INVALID_ARGUMENT;
	if ((path = kf_resolve(f, kv->v)) == NULL)
		return JOBD_RESOURCE_EXHAUSTED;
	rv = plugin_load(ks, path, msg, sizeof(msg));
	free(path);
	if (rv == JOBD_OK || rv == JOBD_RESOURCE_EXHAUSTED)
		return rv;
	kf_error(f, kv->line, "%s", msg);
	return JOBD_INVALID_ARGUMENT; /* the file's error, as kindfile.h says */
}

/* ---- files ---- */

/* The directory of f->path, absolute and without symbolic links. */
static int
kf_dir(struct kf *f)
{
	const char *slash = strrchr(f->path, '/');
	char *d;

	if (slash == NULL)
		d = strdup(".");
	else if (slash == f->path)
		d = strdup("/");
	else
		d = strndup(f->path, (size_t) (slash - f->path));
	if (d == NULL) {
		f->r.oom = true;
		kf_error(f, 1, "out of memory");
		return -1;
	}
	f->dir = realpath(d, NULL);
	if (f->dir == NULL)
		kf_error(f, 1,
		         "cannot resolve the file's directory '%.128s': %s", d,
		         strerror(errno));
	free(d);
	return f->dir != NULL ? 0 : -1;
}

/* Loads one file, appending its errors to err. */
static int
kf_load(kindset *ks, const char *path, char *err, size_t errlen, size_t *used)
{
	struct kf *f;
	int rv = JOBD_INVALID_ARGUMENT;

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->pk = calloc(1, sizeof(*f->pk))) == NULL) {
		free(f);
		inilines_out(err, errlen, used, "%s:1: out of memory", path);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	f->path = path;
	f->r.section = kf_section;
	f->r.arg = f;
	if (kf_dir(f) != 0 || inilines_slurp(&f->r, path, KF_MAX_FILE) != 0)
		goto done;
	inilines_parse(&f->r, kf_handler, f);
	/* the build runs after syntax errors too, to report more at once; it
	 * adds nothing to ks then */
	if (f->plugin.line != 0)
		rv = kf_build_plugin(f, ks);
	else if (f->kind.line != 0)
		rv = kf_build_kind(f, ks);
	else if (f->r.nerr == 0)
		kf_error(f, 1,
		         "the file defines no kind: it needs a [kind] or a "
		         "[plugin] section");

done:
	if (f->r.nerr > 0) {
		if (rv == JOBD_OK)
			rv = JOBD_INVALID_ARGUMENT;
		if (f->r.oom)
			rv = JOBD_RESOURCE_EXHAUSTED;
		inilines_report(&f->r, path, err, errlen, used);
	}
	pk_destroy(f->pk);
	inilines_fini(&f->r);
	free(f->dir);
	free(f);
	return rv;
}

int
kindfile_load(kindset *ks, const char *path, char *err, size_t errlen)
{
	size_t used = 0;

	if (errlen > 0)
		err[0] = '\0';
	return kf_load(ks, path, err, errlen, &used);
}

static int
kf_load_one(void *ks, const char *path, char *err, size_t errlen, size_t *used)
{
	return kf_load(ks, path, err, errlen, used);
}

int
kindfile_load_dir(kindset *ks, const char *dir, char *err, size_t errlen)
{
	size_t used = 0;

	if (errlen > 0)
		err[0] = '\0';
	return inilines_each(dir, ".kind", kf_load_one, ks, err, errlen, &used);
}

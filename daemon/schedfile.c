/*
 * schedfile: the *.schedule files of the kinds directory, read with
 * libinih the way kindfile.c reads the *.kind files.
 *
 * The reader is kindfile.c's (kinds/inilines.c): it hands inih one line
 * per call and counts them (inih r55 gives its handler no line numbers),
 * refuses what inih would mangle (a line longer than inih's buffer, a NUL
 * or control byte), drops leading blanks (no continuation lines) and
 * parses section headers; sf_section() opens the one a header names, so
 * that each section's line is known and an unknown, empty-named or
 * repeated section is an error. The handler records each key's value and
 * line; the build at the end checks every value with its own line in the
 * message, and what is missing names the section's line. A file with any
 * error gives no schedule.
 *
 * Errors are collected by inilines, up to INILINES_MAX_ERRORS a file, and
 * written sorted by line as "PATH:LINE: what is wrong", one per line;
 * whole-file problems (unreadable, too large, a bad name) name line 1.
 *
 * The params are checked against the kind as Submit checks them
 * (kind_validate), each on the line it is given: an unknown name or a bad
 * value names that line, a required parameter left out names the [params]
 * line (or [schedule]'s). A kind not defined names the `kind` line.
 */
#include "schedfile.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "inilines.h"
#include "jobd_status.h"
#include "limit.h"

#define SF_MAX_FILE (64 * 1024)

enum {
	S_KIND,
	S_CRON,
	S_EVERY,
	S_TZ,
	S_CATCH_UP,
	S_PRIORITY,
	S_TIMEOUT,
	S_ATTEMPTS,
	S_N
};
static const char *const sched_keys[S_N] = {
    "kind",     "cron",     "every",   "time_zone",
    "catch_up", "priority", "timeout", "max_attempts"};

struct sf_kv {
	char *k, *v;
	int line;
};

struct sf {
	const char *path;
	struct inilines r;           /* the file, its lines and its errors */
	int sched_line, params_line; /* of the headers; 0: none */
	int cur;                     /* 1 [schedule], 2 [params], 0 none */
	bool skip;                   /* cur 0 after a bad header */
	struct sf_kv kv[S_N];
	struct sf_kv params[LIMIT_PARAMS];
	size_t nparams;
};

const char *
catch_up_name(int c)
{
	return c == CATCH_UP_ALL ? "all" : c == CATCH_UP_NONE ? "none" : "one";
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
sf_error(struct sf *f, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	inilines_verror(&f->r, line, fmt, ap);
	va_end(ap);
}

static char *
sf_strdup(struct sf *f, const char *s)
{
	char *d = strdup(s);

	if (d == NULL && !f->r.oom) {
		f->r.oom = true;
		sf_error(f, f->r.line, "out of memory");
	}
	return d;
}

/* inilines' section callback: opens the section a header names (p, len
 * bytes), or none after a bad header (p NULL). */
static void
sf_section(void *arg, const char *p, size_t len)
{
	struct sf *f = arg;
	int *seen = NULL, which = 0;

	f->cur = 0;
	f->skip = true;
	if (p == NULL)
		return;
	if (len == 8 && memcmp(p, "schedule", 8) == 0) {
		seen = &f->sched_line;
		which = 1;
	} else if (len == 6 && memcmp(p, "params", 6) == 0) {
		seen = &f->params_line;
		which = 2;
	} else {
		sf_error(f, f->r.line,
		         "unknown section '[%.*s]' (the sections are "
		         "[schedule] and [params])",
		         (int) (len > 80 ? 80 : len), p);
		return;
	}
	if (*seen != 0) {
		sf_error(f, f->r.line,
		         "section [%s] given twice (first at line %d)",
		         which == 1 ? "schedule" : "params", *seen);
		return;
	}
	*seen = f->r.line;
	f->cur = which;
	f->skip = false;
}

static int
sf_handler(void *user, const char *section, const char *name, const char *value)
{
	struct sf *f = user;
	size_t i;

	(void) section; /* the reader keeps track of sections */
	if (f->cur == 0) {
		if (!f->skip)
			sf_error(f, f->r.line,
			         "'%.64s' before any section (a schedule file "
			         "starts with [schedule])",
			         name);
		return 1;
	}
	if (f->cur == 2) {
		if (!kind_param_name_ok(name)) {
			sf_error(f, f->r.line,
			         "bad parameter name '%.64s' (a lowercase "
			         "letter, then lowercase letters, digits or "
			         "'_', at most %d)",
			         name, KIND_PARAM_NAME_MAX);
			return 1;
		}
		for (i = 0; i < f->nparams; i++) {
			if (strcmp(f->params[i].k, name) == 0) {
				sf_error(f, f->r.line,
				         "parameter '%s' given twice (first at "
				         "line %d)",
				         name, f->params[i].line);
				return 1;
			}
		}
		if (f->nparams == LIMIT_PARAMS) {
			sf_error(f, f->r.line, "more than %d parameters",
			         LIMIT_PARAMS);
			return 1;
		}
		struct sf_kv *kv = &f->params[f->nparams];
		kv->k = sf_strdup(f, name);
		kv->v = sf_strdup(f, value);
		kv->line = f->r.line;
		if (kv->k == NULL || kv->v == NULL) {
			free(kv->k);
			free(kv->v);
			kv->k = kv->v = NULL;
			return 1;
		}
		f->nparams++;
		return 1;
	}
	for (i = 0; i < S_N && strcmp(sched_keys[i], name) != 0; i++)
		;
	if (i == S_N) {
		sf_error(f, f->r.line, "unknown key '%.64s' in [schedule]",
		         name);
		return 1;
	}
	if (f->kv[i].line != 0) {
		sf_error(f, f->r.line,
		         "'%s' given twice in [schedule] (first at line %d)",
		         name, f->kv[i].line);
		return 1;
	}
	f->kv[i].v = sf_strdup(f, value);
	f->kv[i].line = f->r.line;
	return 1;
}

/* A whole decimal integer within [lo, hi]. */
static bool
sf_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	return kind_parse_int(s, out) && *out >= lo && *out <= hi;
}

static void
sf_spec(struct sf *f, struct schedule *s)
{
	const struct sf_kv *c = &f->kv[S_CRON], *e = &f->kv[S_EVERY];
	const struct sf_kv *z = &f->kv[S_TZ];
	char msg[INILINES_MSG_MAX], buf[300];
	int rv;

	if (c->v == NULL && e->v == NULL) {
		sf_error(f, f->sched_line,
		         "[schedule] needs 'cron' or 'every' (when it fires)");
		return;
	}
	if (c->v != NULL && e->v != NULL) {
		sf_error(f, e->line > c->line ? e->line : c->line,
		         "'cron' and 'every' both given: one of the two");
		return;
	}
	if (e->v != NULL) {
		if (z->v != NULL)
			sf_error(f, z->line,
			         "'time_zone' is for 'cron' only ('every' "
			         "counts from the Unix epoch, in UTC)");
		if ((rv = cron_parse_every(&s->when, e->v, msg, sizeof(msg))) !=
		    JOBD_OK) {
			sf_error(f, e->line, "%s", msg);
			return;
		}
		snprintf(buf, sizeof(buf), "every %s", e->v);
		s->spec = sf_strdup(f, buf);
		s->time_zone = sf_strdup(f, "");
		s->zone = tz_utc();
		return;
	}
	if ((rv = cron_parse(&s->when, c->v, msg, sizeof(msg))) != JOBD_OK) {
		sf_error(f, c->line, "cron: %s", msg);
		return;
	}
	snprintf(buf, sizeof(buf), "cron %s", c->v);
	s->spec = sf_strdup(f, buf);
	s->time_zone = sf_strdup(f, z->v != NULL ? z->v : "UTC");
	if (tz_load(&s->zone, z->v != NULL ? z->v : "UTC", msg, sizeof(msg)) !=
	    JOBD_OK) {
		sf_error(f, z->line, "time_zone: %s", msg);
		return;
	}
	int64_t next;
	if (cron_next(s->when, s->zone, (int64_t) time(NULL), &next) != JOBD_OK)
		sf_error(f, c->line,
		         "cron: '%.64s' does not fire in the next %d years",
		         c->v, CRON_HORIZON_DAYS / 366);
}

static void
sf_params(struct sf *f, struct schedule *s, const kindset *ks)
{
	const struct kind_def *kd;
	char msg[INILINES_MSG_MAX];
	const struct sf_kv *kk = &f->kv[S_KIND];

	if (kk->v == NULL) {
		sf_error(f, f->sched_line, "[schedule] needs 'kind'");
		return;
	}
	s->kind = sf_strdup(f, kk->v);
	if ((kd = kindset_find(ks, kk->v)) == NULL) {
		sf_error(f, kk->line,
		         "kind '%.64s' is not defined (jobd --check-kinds "
		         "lists the kinds)",
		         kk->v);
		return;
	}
	if (f->nparams > 0 &&
	    (s->params = calloc(f->nparams, sizeof(*s->params))) == NULL) {
		sf_error(f, f->params_line, "out of memory");
		f->r.oom = true;
		return;
	}
	bool bad = false;
	for (size_t i = 0; i < f->nparams; i++) {
		const struct jobd_param *p = NULL;
		for (size_t j = 0; j < kd->k->nparams && p == NULL; j++)
			if (strcmp(kd->k->params[j].name, f->params[i].k) == 0)
				p = &kd->k->params[j];
		if (p == NULL) {
			sf_error(f, f->params[i].line,
			         "unknown parameter '%s' for kind '%s'",
			         f->params[i].k, kd->k->name);
			bad = true;
		} else if (kind_check_value(kd->k, p, f->params[i].v, msg,
		                            sizeof(msg)) != JOBD_OK) {
			sf_error(f, f->params[i].line, "%s", msg);
			bad = true;
		}
		s->params[i].name = f->params[i].k;
		s->params[i].value = f->params[i].v;
		f->params[i].k = f->params[i].v = NULL;
		s->nparams++;
	}
	if (!bad && kind_validate(kd->k, s->params, s->nparams, 0, msg,
	                          sizeof(msg)) != JOBD_OK)
		sf_error(f, f->params_line ? f->params_line : f->sched_line,
		         "%s", msg);
}

static void
sf_build(struct sf *f, struct schedule *s, const kindset *ks)
{
	const struct sf_kv *kv;
	char stem[PATH_MAX];
	int64_t v;
	uint64_t ms;

	inilines_stem(f->path, ".schedule", stem, sizeof(stem));
	if (!kind_name_ok(stem) || strlen(stem) > SCHED_NAME_MAX)
		sf_error(f, 1,
		         "bad schedule name '%.80s' (from the file name: 1 to "
		         "%d of A-Z a-z 0-9 _ . -)",
		         stem, SCHED_NAME_MAX);
	s->name = sf_strdup(f, stem);
	s->source = sf_strdup(f, f->path);
	if (f->sched_line == 0) {
		sf_error(f, 1, "the file has no [schedule] section");
		return;
	}
	sf_spec(f, s);
	sf_params(f, s, ks);
	kv = &f->kv[S_CATCH_UP];
	if (kv->v == NULL || strcmp(kv->v, "one") == 0)
		s->catch_up = CATCH_UP_ONE;
	else if (strcmp(kv->v, "all") == 0)
		s->catch_up = CATCH_UP_ALL;
	else if (strcmp(kv->v, "none") == 0)
		s->catch_up = CATCH_UP_NONE;
	else
		sf_error(f, kv->line,
		         "'catch_up' is one, all or none, not '%.64s'", kv->v);
	kv = &f->kv[S_PRIORITY];
	if (kv->v != NULL) {
		if (sf_int(kv->v, INT32_MIN, INT32_MAX, &v))
			s->priority = (int32_t) v;
		else
			sf_error(f, kv->line,
			         "'priority' is not a whole number of 32 bits: "
			         "'%.64s'",
			         kv->v);
	}
	kv = &f->kv[S_TIMEOUT];
	if (kv->v != NULL) {
		if (duration_parse(kv->v, UINT32_MAX, 0, &ms) == DURATION_OK &&
		    ms > 0)
			s->timeout_ms = (uint32_t) ms;
		else
			sf_error(f, kv->line,
			         "'timeout' is not a duration of 1ms to 49d: "
			         "'%.64s' (such as 500ms, 30s, 10m, 1h30m)",
			         kv->v);
	}
	kv = &f->kv[S_ATTEMPTS];
	if (kv->v != NULL) {
		if (sf_int(kv->v, 1, LIMIT_ATTEMPTS, &v))
			s->max_attempts = (uint32_t) v;
		else
			sf_error(f, kv->line,
			         "'max_attempts' is a number from 1 to %d, not "
			         "'%.64s'",
			         LIMIT_ATTEMPTS, kv->v);
	}
}

void
schedule_clear(struct schedule *s)
{
	free(s->name);
	free(s->kind);
	free(s->spec);
	free(s->time_zone);
	free(s->source);
	for (size_t i = 0; i < s->nparams; i++) {
		free(s->params[i].name);
		free(s->params[i].value);
	}
	free(s->params);
	cron_free(s->when);
	tz_free(s->zone);
	memset(s, 0, sizeof(*s));
}

static int
sf_load(struct schedule *out, const char *path, const kindset *ks, char *err,
        size_t errlen, size_t *used)
{
	struct sf *f;
	int rv = JOBD_OK;

	memset(out, 0, sizeof(*out));
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		inilines_out(err, errlen, used, "%s:1: out of memory", path);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	f->path = path;
	f->r.section = sf_section;
	f->r.arg = f;
	if (inilines_slurp(&f->r, path, SF_MAX_FILE) == 0) {
		inilines_parse(&f->r, sf_handler, f);
		sf_build(f, out, ks);
	}
	if (f->r.nerr > 0) {
		rv = f->r.oom ? JOBD_RESOURCE_EXHAUSTED : JOBD_INVALID_ARGUMENT;
		inilines_report(&f->r, path, err, errlen, used);
		schedule_clear(out);
	}
	for (int i = 0; i < S_N; i++)
		free(f->kv[i].v);
	for (size_t i = 0; i < f->nparams; i++) {
		free(f->params[i].k);
		free(f->params[i].v);
	}
	inilines_fini(&f->r);
	free(f);
	return rv;
}

int
schedfile_load(struct schedule *out, const char *path, const kindset *ks,
               char *err, size_t errlen)
{
	size_t used = 0;

	if (errlen > 0)
		err[0] = '\0';
	return sf_load(out, path, ks, err, errlen, &used);
}

void
schedset_free(struct schedset *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++)
		schedule_clear(&set->v[i]);
	free(set->v);
	free(set);
}

/* The set being loaded by schedfile_load_dir(). */
struct sf_dir {
	struct schedset *set;
	size_t cap;
	const kindset *ks;
};

/* Loads one file into the set (kept only when it has no error). */
static int
sf_load_one(void *arg, const char *path, char *err, size_t errlen, size_t *used)
{
	struct sf_dir *sd = arg;
	struct schedset *set = sd->set;

	if (set->n == sd->cap) {
		size_t c = sd->cap ? sd->cap * 2 : 16;
		struct schedule *v = realloc(set->v, c * sizeof(*v));
		if (v == NULL) {
			inilines_out(err, errlen, used, "%s:1: out of memory",
			             path);
			return JOBD_RESOURCE_EXHAUSTED;
		}
		set->v = v;
		sd->cap = c;
	}
	int rv = sf_load(&set->v[set->n], path, sd->ks, err, errlen, used);
	if (rv == JOBD_OK)
		set->n++;
	return rv;
}

int
schedfile_load_dir(struct schedset **out, const char *dir, const kindset *ks,
                   char *err, size_t errlen)
{
	struct sf_dir sd = {.ks = ks};
	size_t used = 0;
	int rv;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if ((sd.set = calloc(1, sizeof(*sd.set))) == NULL) {
		inilines_out(err, errlen, &used, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	if (dir != NULL &&
	    (rv = inilines_each(dir, ".schedule", sf_load_one, &sd, err, errlen,
	                        &used)) != JOBD_OK) {
		schedset_free(sd.set);
		return rv;
	}
	*out = sd.set;
	return JOBD_OK;
}

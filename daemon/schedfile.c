/*
 * schedfile: the *.schedule files of the kinds directory, read with
 * libinih the way kindfile.c reads the *.kind files.
 *
 * The reader, sf_read(), hands inih one line per call and counts them
 * (inih r55 gives its handler no line numbers); it refuses what inih would
 * mangle (a line longer than inih's buffer, a NUL or control byte), drops
 * leading blanks (no continuation lines) and handles section headers
 * itself, so that each section's line is known and an unknown, empty-named
 * or repeated section is an error. The handler records each key's value
 * and line; the build at the end checks every value with its own line in
 * the message, and what is missing names the section's line. A file with
 * any error gives no schedule. (kindfile.c's reader is static and tied to
 * the kind sections, so the few lines of it needed here are repeated
 * rather than shared.)
 *
 * Errors are collected, up to SF_MAX_ERRORS a file, sorted by line, as
 * "PATH:LINE: what is wrong", one per line; whole-file problems
 * (unreadable, too large, a bad name) name line 1.
 *
 * The params are checked against the kind as Submit checks them
 * (kind_validate), each on the line it is given: an unknown name or a bad
 * value names that line, a required parameter left out names the [params]
 * line (or [schedule]'s). A kind not defined names the `kind` line.
 */
#include "schedfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "jobd_status.h"
#include "limit.h"

#define SF_MAX_FILE    (64 * 1024)
#define SF_MAX_ERRORS  10
#define SF_MSG_MAX     256
#define SF_TIMEOUT_MAX ((int64_t) UINT32_MAX / 1000) /* seconds */

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

struct sf_err {
	int line;
	char msg[SF_MSG_MAX];
};

struct sf {
	const char *path;
	const char *buf;
	size_t len, pos;
	int line;
	int sched_line, params_line; /* of the headers; 0: none */
	int cur;                     /* 1 [schedule], 2 [params], 0 none */
	bool skip;                   /* cur 0 after a bad header */
	struct sf_kv kv[S_N];
	struct sf_kv params[LIMIT_PARAMS];
	size_t nparams;
	bool oom;
	struct sf_err errs[SF_MAX_ERRORS];
	int nerr, nmore, more_line;
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

	if (f->nerr == SF_MAX_ERRORS) {
		if (f->nmore++ == 0 || line < f->more_line)
			f->more_line = line;
		return;
	}
	f->errs[f->nerr].line = line;
	va_start(ap, fmt);
	vsnprintf(f->errs[f->nerr].msg, SF_MSG_MAX, fmt, ap);
	va_end(ap);
	f->nerr++;
}

static char *
sf_strdup(struct sf *f, const char *s)
{
	char *d = strdup(s);

	if (d == NULL && !f->oom) {
		f->oom = true;
		sf_error(f, f->line, "out of memory");
	}
	return d;
}

static bool
sf_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
sf_has_separator(const char *s, size_t n)
{
	bool was_blank = false;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=' || s[i] == ':')
			return true;
		if (was_blank && s[i] == ';')
			return false;
		was_blank = sf_blank(s[i]);
	}
	return false;
}

static void
sf_section(struct sf *f, const char *p, size_t n)
{
	const char *end = memchr(p, ']', n), *rest, *stop = p + n;
	int *seen = NULL, which = 0;

	f->cur = 0;
	f->skip = true;
	if (end == NULL) {
		sf_error(f, f->line, "section header without ']'");
		return;
	}
	for (rest = end + 1; rest < stop && sf_blank(*rest); rest++)
		;
	if (rest < stop && *rest != ';' && *rest != '#') {
		sf_error(f, f->line, "text after the section header's ']'");
		return;
	}
	while (p < end && sf_blank(*p))
		p++;
	while (end > p && sf_blank(end[-1]))
		end--;
	size_t len = (size_t) (end - p);
	if (len == 8 && memcmp(p, "schedule", 8) == 0) {
		seen = &f->sched_line;
		which = 1;
	} else if (len == 6 && memcmp(p, "params", 6) == 0) {
		seen = &f->params_line;
		which = 2;
	} else {
		sf_error(f, f->line,
		         "unknown section '[%.*s]' (the sections are "
		         "[schedule] and [params])",
		         (int) (len > 80 ? 80 : len), p);
		return;
	}
	if (*seen != 0) {
		sf_error(f, f->line,
		         "section [%s] given twice (first at line %d)",
		         which == 1 ? "schedule" : "params", *seen);
		return;
	}
	*seen = f->line;
	f->cur = which;
	f->skip = false;
}

static char *
sf_read(char *str, int num, void *stream)
{
	struct sf *f = stream;

	if (f->pos >= f->len)
		return NULL;
	const char *p = f->buf + f->pos;
	const char *nl = memchr(p, '\n', f->len - f->pos);
	size_t n = nl != NULL ? (size_t) (nl - p) : f->len - f->pos;
	f->pos += n + (nl != NULL);
	f->line++;
	str[0] = '\0';

	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (f->line == 1 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
		p += 3;
		n -= 3;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char) p[i];
		if (c == '\0') {
			sf_error(f, f->line,
			         "NUL byte in column %zu (not a text file?)",
			         i + 1);
			return str;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			sf_error(f, f->line,
			         "control character 0x%02x in column %zu", c,
			         i + 1);
			return str;
		}
	}
	while (n > 0 && sf_blank(*p)) {
		p++;
		n--;
	}
	if (n == 0 || *p == ';' || *p == '#')
		return str;
	if (*p == '[') {
		sf_section(f, p + 1, n - 1);
		return str;
	}
	if (n + 1 > (size_t) num) {
		sf_error(f, f->line, "line longer than %d bytes", num - 1);
		return str;
	}
	if (!sf_has_separator(p, n)) {
		sf_error(f, f->line,
		         "expected 'key = value', a [section] or a comment");
		return str;
	}
	memcpy(str, p, n);
	str[n] = '\0';
	return str;
}

static int
sf_handler(void *user, const char *section, const char *name, const char *value)
{
	struct sf *f = user;
	size_t i;

	(void) section; /* the reader keeps track of sections */
	if (f->cur == 0) {
		if (!f->skip)
			sf_error(f, f->line,
			         "'%.64s' before any section (a schedule file "
			         "starts with [schedule])",
			         name);
		return 1;
	}
	if (f->cur == 2) {
		if (!kind_param_name_ok(name)) {
			sf_error(f, f->line,
			         "bad parameter name '%.64s' (a lowercase "
			         "letter, then lowercase letters, digits or "
			         "'_', at most %d)",
			         name, KIND_PARAM_NAME_MAX);
			return 1;
		}
		for (i = 0; i < f->nparams; i++) {
			if (strcmp(f->params[i].k, name) == 0) {
				sf_error(f, f->line,
				         "parameter '%s' given twice (first at "
				         "line %d)",
				         name, f->params[i].line);
				return 1;
			}
		}
		if (f->nparams == LIMIT_PARAMS) {
			sf_error(f, f->line, "more than %d parameters",
			         LIMIT_PARAMS);
			return 1;
		}
		struct sf_kv *kv = &f->params[f->nparams];
		kv->k = sf_strdup(f, name);
		kv->v = sf_strdup(f, value);
		kv->line = f->line;
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
		sf_error(f, f->line, "unknown key '%.64s' in [schedule]", name);
		return 1;
	}
	if (f->kv[i].line != 0) {
		sf_error(f, f->line,
		         "'%s' given twice in [schedule] (first at line %d)",
		         name, f->kv[i].line);
		return 1;
	}
	f->kv[i].v = sf_strdup(f, value);
	f->kv[i].line = f->line;
	return 1;
}

/* A whole decimal integer within [lo, hi]. */
static bool
sf_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	return kind_parse_int(s, out) && *out >= lo && *out <= hi;
}

/* The file's name without its directory and .schedule. */
static void
sf_stem(const char *path, char *out, size_t outlen)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base != NULL ? base + 1 : path;
	n = strlen(base);
	if (n > 9 && strcmp(base + n - 9, ".schedule") == 0)
		n -= 9;
	snprintf(out, outlen, "%.*s", (int) n, base);
}

static void
sf_spec(struct sf *f, struct schedule *s)
{
	const struct sf_kv *c = &f->kv[S_CRON], *e = &f->kv[S_EVERY];
	const struct sf_kv *z = &f->kv[S_TZ];
	char msg[SF_MSG_MAX], buf[300];
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
	char msg[SF_MSG_MAX];
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
		f->oom = true;
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

	sf_stem(f->path, stem, sizeof(stem));
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

static int
sf_slurp(struct sf *f, char **buf, size_t *len)
{
	struct stat st;
	size_t n = 0;
	char *b = NULL;
	int fd;

	fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		sf_error(f, 1, "cannot open the file: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		sf_error(f, 1, "not a regular file");
		goto fail;
	}
	if (st.st_size > SF_MAX_FILE)
		goto too_large;
	if ((b = malloc(SF_MAX_FILE + 1)) == NULL) {
		sf_error(f, 1, "out of memory");
		f->oom = true;
		goto fail;
	}
	for (;;) {
		ssize_t r = read(fd, b + n, SF_MAX_FILE + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sf_error(f, 1, "cannot read the file: %s",
			         strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t) r;
		if (n > SF_MAX_FILE)
			goto too_large;
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;

too_large:
	sf_error(f, 1, "the file is larger than %d bytes", SF_MAX_FILE);
fail:
	free(b);
	close(fd);
	return -1;
}

static int
sf_cmp_err(const void *a, const void *b)
{
	const struct sf_err *x = a, *y = b;

	return (x->line > y->line) - (x->line < y->line);
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void
sf_out(char *err, size_t errlen, size_t *used, const char *fmt, ...)
{
	char line[SF_MSG_MAX + PATH_MAX + 32];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || errlen == 0)
		return;
	size_t need = (size_t) n + (*used > 0);
	if (*used + need + 1 > errlen)
		return;
	snprintf(err + *used, errlen - *used, "%s%s", *used > 0 ? "\n" : "",
	         line);
	*used += need;
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
	char *buf = NULL;
	int rv = JOBD_OK;

	memset(out, 0, sizeof(*out));
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		sf_out(err, errlen, used, "%s:1: out of memory", path);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	f->path = path;
	if (sf_slurp(f, &buf, &f->len) == 0) {
		f->buf = buf;
		/* sf_read and sf_handler report every error */
		(void) ini_parse_stream(sf_read, f, sf_handler, f);
		sf_build(f, out, ks);
	}
	if (f->nerr > 0) {
		rv = f->oom ? JOBD_RESOURCE_EXHAUSTED : JOBD_INVALID_ARGUMENT;
		qsort(f->errs, (size_t) f->nerr, sizeof(f->errs[0]),
		      sf_cmp_err);
		for (int i = 0; i < f->nerr; i++)
			sf_out(err, errlen, used, "%s:%d: %s", path,
			       f->errs[i].line, f->errs[i].msg);
		if (f->nmore > 0)
			sf_out(err, errlen, used,
			       "%s:%d: %d more errors not shown", path,
			       f->more_line, f->nmore);
		schedule_clear(out);
	}
	for (int i = 0; i < S_N; i++)
		free(f->kv[i].v);
	for (size_t i = 0; i < f->nparams; i++) {
		free(f->params[i].k);
		free(f->params[i].v);
	}
	free(buf);
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

static int
sf_cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool
sf_is_schedule_file(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 9 &&
	       strcmp(name + n - 9, ".schedule") == 0;
}

int
schedfile_load_dir(struct schedset **out, const char *dir, const kindset *ks,
                   char *err, size_t errlen)
{
	struct schedset *set;
	DIR *d;
	struct dirent *e;
	char **names = NULL, path[PATH_MAX];
	size_t n = 0, cap = 0, used = 0;
	int rv = JOBD_OK;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if ((set = calloc(1, sizeof(*set))) == NULL) {
		sf_out(err, errlen, &used, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	if (dir == NULL) {
		*out = set;
		return JOBD_OK;
	}
	if ((d = opendir(dir)) == NULL) {
		sf_out(err, errlen, &used,
		       "cannot read kinds directory '%s': %s", dir,
		       strerror(errno));
		free(set);
		return JOBD_INVALID_ARGUMENT;
	}
	while ((e = readdir(d)) != NULL) {
		if (!sf_is_schedule_file(e->d_name))
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 16;
			char **nn = realloc(names, c * sizeof(*names));
			if (nn == NULL)
				goto oom;
			names = nn;
			cap = c;
		}
		if ((names[n] = strdup(e->d_name)) == NULL)
			goto oom;
		n++;
	}
	if (n > 0) /* names is NULL when there are none */
		qsort(names, n, sizeof(*names), sf_cmp_name);
	if (n > 0 && (set->v = calloc(n, sizeof(*set->v))) == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		int r;
		if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir,
		                      names[i]) >= sizeof(path)) {
			sf_out(err, errlen, &used, "%s/%s:1: path too long",
			       dir, names[i]);
			r = JOBD_INVALID_ARGUMENT;
		} else {
			r = sf_load(&set->v[set->n], path, ks, err, errlen,
			            &used);
		}
		if (r == JOBD_OK)
			set->n++;
		else if (rv != JOBD_RESOURCE_EXHAUSTED)
			rv = r;
	}
	goto done;

oom:
	sf_out(err, errlen, &used,
	       "cannot read kinds directory '%s': out of memory", dir);
	rv = JOBD_RESOURCE_EXHAUSTED;
done:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	if (rv != JOBD_OK) {
		schedset_free(set);
		return rv;
	}
	*out = set;
	return JOBD_OK;
}

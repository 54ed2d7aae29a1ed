/*
 * template: a program kind's argument words (template.h). One scanner,
 * tmpl_walk(), serves both the check at load and the expansion at run, so
 * the two can never disagree about what a word means.
 */
#include "template.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobd_status.h"

#define TMPL_NAME_MAX 64

/* Called for each piece of a word: literal text (name == NULL) or a
 * placeholder's name. Non-zero stops the walk. */
typedef int (*tmpl_piece)(void *arg, const char *text, size_t len,
                          const char *name);

/* Walks word; -1 with the reason in err on a malformed word. */
static int
tmpl_walk(const char *word, tmpl_piece fn, void *arg, char *err, size_t errlen)
{
	const char *p = word;
	char name[TMPL_NAME_MAX + 1];

	while (*p != '\0') {
		size_t lit = strcspn(p, "{}");
		if (lit > 0 && fn(arg, p, lit, NULL) != 0)
			return -1;
		p += lit;
		if (*p == '\0')
			break;
		if (p[0] == p[1]) { /* {{ or }} */
			if (fn(arg, p, 1, NULL) != 0)
				return -1;
			p += 2;
			continue;
		}
		if (*p == '}') {
			snprintf(err, errlen,
			         "'}' without '{' in '%.80s' (write "
			         "}} for a brace)",
			         word);
			return -1;
		}
		const char *end = strchr(p + 1, '}');
		size_t n = end != NULL ? (size_t) (end - p - 1) : 0;
		if (end == NULL || n == 0 || n > TMPL_NAME_MAX ||
		    memchr(p + 1, '{', n) != NULL) {
			snprintf(err, errlen,
			         "unclosed or empty placeholder in "
			         "'%.80s' (write {{ for a brace)",
			         word);
			return -1;
		}
		memcpy(name, p + 1, n);
		name[n] = '\0';
		if (fn(arg, NULL, 0, name) != 0)
			return -1;
		p = end + 1;
	}
	return 0;
}

static bool
tmpl_own(const char *name)
{
	return strcmp(name, "JOB_ID") == 0 || strcmp(name, "ATTEMPT") == 0 ||
	       strcmp(name, "KIND_DIR") == 0;
}

struct check {
	const struct jobd_kind *k;
	const char *word;
	char *err;
	size_t errlen;
};

static int
check_piece(void *arg, const char *text, size_t len, const char *name)
{
	struct check *c = arg;

	(void) text;
	(void) len;
	if (name == NULL || tmpl_own(name))
		return 0;
	for (size_t i = 0; i < c->k->nparams; i++)
		if (strcmp(c->k->params[i].name, name) == 0)
			return 0;
	snprintf(c->err, c->errlen,
	         "'{%s}' in '%.80s' is no parameter of kind '%s' (nor one of "
	         "{JOB_ID}, {ATTEMPT}, {KIND_DIR})",
	         name, c->word, c->k->name);
	return -1;
}

int
tmpl_check(const char *word, const struct jobd_kind *k, char *err,
           size_t errlen)
{
	struct check c = {k, word, err, errlen};

	return tmpl_walk(word, check_piece, &c, err, errlen) == 0
	           ? JOBD_OK
	           : JOBD_INVALID_ARGUMENT;
}

struct expand {
	char *buf;
	size_t len, cap;
	jobd_job *job;
	const struct jobd_host *host;
	const struct tmpl_vars *v;
};

static int
expand_add(struct expand *e, const char *s, size_t n)
{
	if (e->len + n + 1 > e->cap) {
		size_t cap = e->cap ? e->cap : 64;
		while (cap < e->len + n + 1)
			cap *= 2;
		char *b = realloc(e->buf, cap);
		if (b == NULL)
			return -1;
		e->buf = b;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	e->buf[e->len] = '\0';
	return 0;
}

static int
expand_piece(void *arg, const char *text, size_t len, const char *name)
{
	struct expand *e = arg;
	char num[24];
	const char *val;

	if (name == NULL)
		return expand_add(e, text, len);
	if (strcmp(name, "JOB_ID") == 0) {
		snprintf(num, sizeof(num), "%" PRIu64, e->v->job_id);
		val = num;
	} else if (strcmp(name, "ATTEMPT") == 0) {
		snprintf(num, sizeof(num), "%" PRIu32, e->v->attempt);
		val = num;
	} else if (strcmp(name, "KIND_DIR") == 0) {
		val = e->v->kind_dir;
	} else {
		val = e->host->param(e->job, name);
	}
	if (val == NULL)
		val = "";
	return expand_add(e, val, strlen(val));
}

char *
tmpl_expand(const char *word, jobd_job *job, const struct jobd_host *host,
            const struct tmpl_vars *v)
{
	struct expand e = {NULL, 0, 0, job, host, v};
	char err[160];

	if (expand_add(&e, "", 0) != 0 ||
	    tmpl_walk(word, expand_piece, &e, err, sizeof(err)) != 0) {
		free(e.buf);
		return NULL;
	}
	return e.buf;
}

/*
 * validate: a job's parameters against its kind's table, and a kind's row
 * itself.
 *
 * Parameters are checked once, at Submit, against the kind's table: a name
 * the kind does not know, a name given twice, a required one missing, an
 * integer that does not parse in full, lies out of bounds or is longer than
 * 20 characters (leading zeros are allowed, and would otherwise make any
 * length), a string out of its length bounds or holding control characters,
 * a bool that is neither "true" nor "false", a choice not among the listed
 * values: all are refused with a message that names the parameter. So a run
 * function reads its parameters through the host and never checks them
 * again. Values quoted back in messages come from clients: they are cut
 * short and escaped, so that a message is always short printable ASCII.
 *
 * A kind's row is checked when it is registered (kind_check_row), with the
 * same value check for its defaults, so a default can never fail a job.
 *
 * Every step is linear in the number of parameters given (times the kind's
 * own handful), so a client sending thousands of parameters costs little.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobd_status.h"
#include "registry.h"

/* How much of a client's value is quoted back in an error message. */
#define QUOTE_MAX 40
#define QUOTE_BUF (QUOTE_MAX + 4)
/* Bounds of a kind's own table. */
#define KIND_MAX_PARAMS     64
#define KIND_MAX_STRING_LEN 65536
#define KIND_MAX_CHOICES    64
#define KIND_CHOICE_MAX_LEN 64

static int errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills err and returns JOBD_INVALID_ARGUMENT, for `return errf(...)`. */
static int
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		(void) vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return JOBD_INVALID_ARGUMENT;
}

/* Client text s for quoting: printable ASCII as is, any other byte as
 * \xNN, at most QUOTE_MAX characters, then "..." if cut. */
static void
quote(char buf[QUOTE_BUF], const char *s)
{
	size_t o = 0;

	if (s == NULL)
		s = "";
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char) *s;
		bool plain = c >= 0x20 && c < 0x7f && c != '\\';
		size_t need = plain ? 1 : 4;
		if (o + need > QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (plain) {
			buf[o++] = (char) c;
		} else {
			(void) snprintf(buf + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	buf[o] = '\0';
}

bool
kind_parse_int(const char *s, int64_t *out)
{
	const char *p = s;
	char *end;
	long long v;

	if (s == NULL)
		return false;
	if (*p == '-')
		p++;
	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = (int64_t) v;
	return true;
}

/* The number of choices of p (CHOICE). */
static size_t
nchoices(const struct jobd_param *p)
{
	size_t n = 0;

	while (p->choices != NULL && p->choices[n] != NULL)
		n++;
	return n;
}

int
kind_check_value(const struct jobd_kind *k, const struct jobd_param *p,
                 const char *value, char *err, size_t errlen)
{
	char q[QUOTE_BUF];
	int64_t v;
	size_t len;

	if (value == NULL)
		value = "";
	len = strlen(value);
	switch (p->type) {
	case JOBD_PARAM_INT:
		if (len > KIND_MAX_INT_LEN)
			return errf(err, errlen,
			            "parameter '%s' of kind '%s' must be an "
			            "integer of at most %d characters, not %zu",
			            p->name, k->name, KIND_MAX_INT_LEN, len);
		if (kind_parse_int(value, &v) && v >= p->min && v <= p->max)
			return JOBD_OK;
		quote(q, value);
		return errf(err, errlen,
		            "parameter '%s' of kind '%s' must be an integer "
		            "from %" PRId64 " to %" PRId64 ", not '%s'",
		            p->name, k->name, p->min, p->max, q);
	case JOBD_PARAM_STRING:
		if (len > (uint64_t) p->max && p->min <= 0)
			return errf(
			    err, errlen,
			    "parameter '%s' of kind '%s' must be at most "
			    "%" PRId64 " bytes long, not %zu",
			    p->name, k->name, p->max, len);
		if (len > (uint64_t) p->max || (int64_t) len < p->min)
			return errf(
			    err, errlen,
			    "parameter '%s' of kind '%s' must be %" PRId64
			    " to %" PRId64 " bytes long, not %zu",
			    p->name, k->name, p->min, p->max, len);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char) value[i];
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				return errf(
				    err, errlen,
				    "parameter '%s' of kind '%s' must not "
				    "contain control characters (byte "
				    "0x%02x at offset %zu)",
				    p->name, k->name, c, i);
		}
		return JOBD_OK;
	case JOBD_PARAM_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
			return JOBD_OK;
		quote(q, value);
		return errf(
		    err, errlen,
		    "parameter '%s' of kind '%s' must be true or false, "
		    "not '%s'",
		    p->name, k->name, q);
	case JOBD_PARAM_CHOICE:
		for (size_t i = 0; i < nchoices(p); i++)
			if (strcmp(value, p->choices[i]) == 0)
				return JOBD_OK;
		quote(q, value);
		return errf(err, errlen,
		            "parameter '%s' of kind '%s' must be one of the "
		            "values 'jobctl kinds' lists, not '%s'",
		            p->name, k->name, q);
	}
	return errf(err, errlen, "parameter '%s' of kind '%s' has no type",
	            p->name, k->name);
}

/* The index of parameter `name` in k's table, or -1. */
static ptrdiff_t
param_index(const struct jobd_kind *k, const char *name)
{
	if (name == NULL)
		return -1;
	for (size_t j = 0; j < k->nparams; j++)
		if (strcmp(k->params[j].name, name) == 0)
			return (ptrdiff_t) j;
	return -1;
}

size_t
kind_max_input(const struct jobd_kind *k)
{
	if (!k->uses_input)
		return 0;
	if (k->max_input == 0 || k->max_input > KIND_MAX_INPUT)
		return KIND_MAX_INPUT;
	return k->max_input;
}

int
kind_validate(const struct jobd_kind *k, const struct job_param *params,
              size_t nparams, size_t input_len, char *err, size_t errlen)
{
	char q[QUOTE_BUF];
	int rv;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (input_len > 0 && !k->uses_input)
		return errf(err, errlen, "kind '%s' takes no input", k->name);
	if (input_len > kind_max_input(k))
		return errf(err, errlen,
		            "input of kind '%s' is %zu bytes, more than the "
		            "limit of %zu",
		            k->name, input_len, kind_max_input(k));

	for (size_t i = 0; i < nparams; i++) {
		if (param_index(k, params[i].name) < 0) {
			quote(q, params[i].name);
			return errf(err, errlen,
			            "unknown parameter '%s' for kind '%s'", q,
			            k->name);
		}
	}
	for (size_t j = 0; j < k->nparams; j++) {
		const struct jobd_param *p = &k->params[j];
		const char *value = NULL;
		size_t seen = 0;

		for (size_t i = 0; i < nparams; i++) {
			if (strcmp(params[i].name, p->name) == 0) {
				value = params[i].value;
				seen++;
			}
		}
		if (seen > 1)
			return errf(err, errlen, "parameter '%s' given twice",
			            p->name);
		if (seen == 0) {
			if (p->required)
				return errf(err, errlen,
				            "kind '%s' needs parameter '%s'",
				            k->name, p->name);
			continue;
		}
		if ((rv = kind_check_value(k, p, value, err, errlen)) != 0)
			return rv;
	}
	return JOBD_OK;
}

bool
kind_param_name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > KIND_PARAM_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

bool
kind_name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > JOBD_KIND_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

/* Checks parameter p of kind k's table (the jth). */
static int
check_param(const struct jobd_kind *k, size_t j, char *err, size_t errlen)
{
	const struct jobd_param *p = &k->params[j];
	char why[300];

	if (!kind_param_name_ok(p->name))
		return errf(err, errlen,
		            "kind '%s': parameter %zu's name must be 1 to %d "
		            "characters of a-z, 0-9 and _, starting with a "
		            "letter",
		            k->name, j + 1, KIND_PARAM_NAME_MAX);
	for (size_t i = 0; i < j; i++)
		if (strcmp(k->params[i].name, p->name) == 0)
			return errf(err, errlen,
			            "kind '%s': parameter '%s' defined twice",
			            k->name, p->name);
	switch (p->type) {
	case JOBD_PARAM_INT:
		if (p->min > p->max)
			return errf(err, errlen,
			            "kind '%s': parameter '%s' has min > max",
			            k->name, p->name);
		break;
	case JOBD_PARAM_STRING:
		if (p->min < 0 || p->min > p->max ||
		    p->max > KIND_MAX_STRING_LEN)
			return errf(err, errlen,
			            "kind '%s': parameter '%s' must have 0 <= "
			            "min <= max <= %d",
			            k->name, p->name, KIND_MAX_STRING_LEN);
		break;
	case JOBD_PARAM_BOOL:
		break;
	case JOBD_PARAM_CHOICE: {
		size_t n = nchoices(p);
		if (n == 0 || n > KIND_MAX_CHOICES)
			return errf(err, errlen,
			            "kind '%s': parameter '%s' must list 1 to "
			            "%d values",
			            k->name, p->name, KIND_MAX_CHOICES);
		for (size_t i = 0; i < n; i++) {
			const char *c = p->choices[i];
			size_t len = strlen(c);
			if (len == 0 || len > KIND_CHOICE_MAX_LEN)
				return errf(
				    err, errlen,
				    "kind '%s': parameter '%s' has a "
				    "value that is empty or longer than "
				    "%d",
				    k->name, p->name, KIND_CHOICE_MAX_LEN);
			for (size_t b = 0; b < len; b++)
				if ((unsigned char) c[b] <= 0x20 ||
				    c[b] == 0x7f)
					return errf(
					    err, errlen,
					    "kind '%s': parameter '%s' "
					    "has a value with a space or "
					    "control character",
					    k->name, p->name);
		}
		break;
	}
	default:
		return errf(err, errlen,
		            "kind '%s': parameter '%s' has an unknown type %d",
		            k->name, p->name, p->type);
	}
	if (p->required && p->def != NULL)
		return errf(err, errlen,
		            "kind '%s': parameter '%s' is required and has a "
		            "default",
		            k->name, p->name);
	if (p->def != NULL &&
	    kind_check_value(k, p, p->def, why, sizeof(why)) != 0)
		return errf(err, errlen, "kind '%s': the default of %s",
		            k->name, why);
	return JOBD_OK;
}

int
kind_check_row(const struct jobd_kind *k, char *err, size_t errlen)
{
	int rv;

	if (k == NULL)
		return errf(err, errlen, "no kind");
	if (!kind_name_ok(k->name))
		return errf(err, errlen,
		            "a kind's name must be 1 to %d characters of "
		            "A-Z, a-z, 0-9, '_', '.' and '-'",
		            JOBD_KIND_NAME_MAX);
	if (k->run == NULL)
		return errf(err, errlen, "kind '%s' has no run function",
		            k->name);
	if (k->nparams > KIND_MAX_PARAMS || (k->nparams > 0 && !k->params))
		return errf(err, errlen,
		            "kind '%s' must have at most %d parameters",
		            k->name, KIND_MAX_PARAMS);
	for (size_t j = 0; j < k->nparams; j++)
		if ((rv = check_param(k, j, err, errlen)) != JOBD_OK)
			return rv;
	return JOBD_OK;
}

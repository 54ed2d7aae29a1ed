/*
 * inilines: the line reader that *.kind and *.schedule files share.
 *
 * A file is read whole into memory (at most the caller's maximum), then
 * inilines_read() hands inih one line per call and counts them (inih r55
 * gives its handler no line numbers). It alone sees the raw line, so it
 * refuses what inih would mangle without a word: a line longer than inih's
 * buffer (inih would split it in two), a NUL or other control byte. It
 * strips a UTF-8 BOM from line 1 and a CR before each LF, and drops
 * leading blanks, so an indented line is an ordinary line and never the
 * continuation of the previous value (no multi-line values). It handles
 * section headers itself (a missing ']' or text after it is an error here)
 * and gives the caller each header's name, so that each file type knows
 * its own sections, an empty or repeated one is seen and each section's
 * header line is known. inih is left with what it does well: splitting
 * `key = value` (or `key: value`), trimming, and inline comments (a `;`
 * after a blank; whole-line comments start with `;` or `#`).
 *
 * Every line read is one line handed to inih (an empty one in place of a
 * line that is wrong or that the reader handled), so that inih's count
 * and r->line agree.
 *
 * Errors are collected, up to INILINES_MAX_ERRORS a file, and written
 * sorted by line as "PATH:LINE: what is wrong", one per line; the rest are
 * counted in a last "N more errors not shown" line.
 *
 * inilines_each() reads a directory's file names whole and sorts them
 * before it reads any file, so that files load, and their errors are
 * written, in the same order wherever the directory comes from.
 */
#include "inilines.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobd_status.h"

void
inilines_verror(struct inilines *r, int line, const char *fmt, va_list ap)
{
	if (r->nerr == INILINES_MAX_ERRORS) {
		if (r->nmore++ == 0 || line < r->more_line)
			r->more_line = line;
		return;
	}
	r->errs[r->nerr].line = line;
	vsnprintf(r->errs[r->nerr].msg, INILINES_MSG_MAX, fmt, ap);
	r->nerr++;
}

void
inilines_error(struct inilines *r, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	inilines_verror(r, line, fmt, ap);
	va_end(ap);
}

int
inilines_slurp(struct inilines *r, const char *path, size_t max)
{
	struct stat st;
	size_t n = 0;
	char *b = NULL;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		inilines_error(r, 1, "cannot open the file: %s",
		               strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		inilines_error(r, 1, "not a regular file");
		goto fail;
	}
	if ((uintmax_t) st.st_size > max)
		goto too_large;
	if ((b = malloc(max + 1)) == NULL) {
		inilines_error(r, 1, "out of memory");
		r->oom = true;
		goto fail;
	}
	for (;;) {
		ssize_t got = read(fd, b + n, max + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			inilines_error(r, 1, "cannot read the file: %s",
			               strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t) got;
		if (n > max)
			goto too_large;
	}
	close(fd);
	r->buf = b;
	r->len = n;
	r->pos = 0;
	return 0;

too_large:
	inilines_error(r, 1, "the file is larger than %zu bytes", max);
fail:
	free(b);
	close(fd);
	return -1;
}

static bool
blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether a line has a '=' or ':' before any inline comment: what inih's
 * parser needs to call it a key line. */
static bool
has_separator(const char *s, size_t n)
{
	bool was_blank = false;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=' || s[i] == ':')
			return true;
		if (was_blank && s[i] == ';')
			return false;
		was_blank = blank(s[i]);
	}
	return false;
}

/* A section header; p points past the '[', n bytes to the line's end. */
static void
section(struct inilines *r, const char *p, size_t n)
{
	const char *end = memchr(p, ']', n), *rest, *stop = p + n;

	if (end == NULL) {
		inilines_error(r, r->line, "section header without ']'");
		r->section(r->arg, NULL, 0);
		return;
	}
	for (rest = end + 1; rest < stop && blank(*rest); rest++)
		;
	if (rest < stop && *rest != ';' && *rest != '#') {
		inilines_error(r, r->line,
		               "text after the section header's ']'");
		r->section(r->arg, NULL, 0);
		return;
	}
	while (p < end && blank(*p))
		p++;
	while (end > p && blank(end[-1]))
		end--;
	r->section(r->arg, p, (size_t) (end - p));
}

/* inih's reader: the next line, checked, into str (num bytes); NULL at
 * the end. */
static char *
inilines_read(char *str, int num, void *stream)
{
	struct inilines *r = stream;

	if (r->pos >= r->len)
		return NULL;
	const char *p = r->buf + r->pos;
	const char *nl = memchr(p, '\n', r->len - r->pos);
	size_t n = nl != NULL ? (size_t) (nl - p) : r->len - r->pos;
	r->pos += n + (nl != NULL);
	r->line++;
	str[0] = '\0';

	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (r->line == 1 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
		p += 3;
		n -= 3;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char) p[i];
		if (c == '\0') {
			inilines_error(r, r->line,
			               "NUL byte in column %zu (not a text "
			               "file?)",
			               i + 1);
			return str;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			inilines_error(r, r->line,
			               "control character 0x%02x in column %zu",
			               c, i + 1);
			return str;
		}
	}
	while (n > 0 && blank(*p)) {
		p++;
		n--;
	}
	if (n == 0 || *p == ';' || *p == '#')
		return str;
	if (*p == '[') {
		section(r, p + 1, n - 1);
		return str;
	}
	if (n + 1 > (size_t) num) {
		inilines_error(r, r->line, "line longer than %d bytes",
		               num - 1);
		return str;
	}
	if (!has_separator(p, n)) {
		inilines_error(r, r->line,
		               "expected 'key = value', a [section] or a "
		               "comment");
		return str;
	}
	memcpy(str, p, n);
	str[n] = '\0';
	return str;
}

void
inilines_parse(struct inilines *r, ini_handler handler, void *user)
{
	/* inilines_read and the handler report every error; inih's own
	 * count of bad lines adds nothing */
	(void) ini_parse_stream(inilines_read, r, handler, user);
}

static int
cmp_err(const void *a, const void *b)
{
	const struct inilines_err *x = a, *y = b;

	return (x->line > y->line) - (x->line < y->line);
}

void
inilines_out(char *err, size_t errlen, size_t *used, const char *fmt, ...)
{
	char line[INILINES_MSG_MAX + PATH_MAX + 32];
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
inilines_report(struct inilines *r, const char *path, char *err, size_t errlen,
                size_t *used)
{
	qsort(r->errs, (size_t) r->nerr, sizeof(r->errs[0]), cmp_err);
	for (int i = 0; i < r->nerr; i++)
		inilines_out(err, errlen, used, "%s:%d: %s", path,
		             r->errs[i].line, r->errs[i].msg);
	if (r->nmore > 0)
		inilines_out(err, errlen, used,
		             "%s:%d: %d more errors not shown", path,
		             r->more_line, r->nmore);
}

void
inilines_fini(struct inilines *r)
{
	free(r->buf);
	r->buf = NULL;
}

void
inilines_stem(const char *path, const char *suffix, char *out, size_t outlen)
{
	const char *base = strrchr(path, '/');
	size_t n, k = strlen(suffix);

	base = base != NULL ? base + 1 : path;
	n = strlen(base);
	if (n > k && strcmp(base + n - k, suffix) == 0)
		n -= k;
	snprintf(out, outlen, "%.*s", (int) n, base);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool
has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);

	return name[0] != '.' && n > k && strcmp(name + n - k, suffix) == 0;
}

int
inilines_each(const char *dir, const char *suffix, inilines_file_fn fn,
              void *arg, char *err, size_t errlen, size_t *used)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL, path[PATH_MAX];
	size_t n = 0, cap = 0;
	int rv = JOBD_OK;

	if ((d = opendir(dir)) == NULL) {
		inilines_out(err, errlen, used,
		             "cannot read kinds directory '%s': %s", dir,
		             strerror(errno));
		return JOBD_INVALID_ARGUMENT;
	}
	while ((e = readdir(d)) != NULL) {
		if (!has_suffix(e->d_name, suffix))
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
		qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		int r;
		if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir,
		                      names[i]) >= sizeof(path)) {
			inilines_out(err, errlen, used,
			             "%s/%s:1: path too long", dir, names[i]);
			r = JOBD_INVALID_ARGUMENT;
		} else {
			r = fn(arg, path, err, errlen, used);
		}
		if (r != JOBD_OK && rv != JOBD_RESOURCE_EXHAUSTED)
			rv = r;
	}
	goto done;

oom:
	inilines_out(err, errlen, used,
	             "cannot read kinds directory '%s': out of memory", dir);
	rv = JOBD_RESOURCE_EXHAUSTED;
done:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rv;
}

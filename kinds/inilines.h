#ifndef JOBD_INILINES_H
#define JOBD_INILINES_H

/*
 * inilines: the reading of an INI file that kindfile.c (*.kind) and
 * schedfile.c (*.schedule) share: the file read whole, its lines handed
 * to libinih one at a time and counted, the refusal of what inih would
 * mangle, section headers parsed here and given to the caller, and the
 * errors collected and written as "PATH:LINE: what is wrong"; and the
 * walk over the files of a kinds directory that both do.
 */

#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define INILINES_MAX_ERRORS 10  /* errors kept for one file */
#define INILINES_MSG_MAX    256 /* bytes of one error message */

struct inilines_err {
	int line;
	char msg[INILINES_MSG_MAX];
};

/*
 * A section header at line r->line. name is what stands between the
 * brackets, blanks trimmed, n bytes (not NUL-terminated); NULL when the
 * header is wrong (its error already recorded): no section is open then,
 * and the keys that follow deserve no error of their own.
 */
typedef void (*inilines_section_fn)(void *arg, const char *name, size_t n);

/* The reading of one file; zero it, then set section and arg. */
struct inilines {
	inilines_section_fn section;
	void *arg;

	char *buf; /* the file (malloc'd by inilines_slurp) */
	size_t len, pos;
	int line; /* of the line last handed to inih */
	bool oom; /* an "out of memory" was recorded */
	struct inilines_err errs[INILINES_MAX_ERRORS];
	int nerr;      /* errors kept in errs */
	int nmore;     /* errors past INILINES_MAX_ERRORS */
	int more_line; /* the first line of those */
};

/* Records an error at line (beyond INILINES_MAX_ERRORS only counted). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void
inilines_error(struct inilines *r, int line, const char *fmt, ...);
#if defined(__GNUC__)
__attribute__((format(printf, 3, 0)))
#endif
void
inilines_verror(struct inilines *r, int line, const char *fmt, va_list ap);

/* Reads the regular file path, at most max bytes, into r->buf: 0, or -1
 * with the error recorded at line 1 (r->oom set when memory ran out). */
int inilines_slurp(struct inilines *r, const char *path, size_t max);

/* Hands r->buf to inih line by line, handler called for each key line;
 * every error is recorded in r (inih's own count adds nothing). */
void inilines_parse(struct inilines *r, ini_handler handler, void *user);

/* Writes r's errors, sorted by line, as "PATH:LINE: what is wrong" lines
 * (and "N more errors not shown") through inilines_out. */
void inilines_report(struct inilines *r, const char *path, char *err,
                     size_t errlen, size_t *used);

/* Appends one line to err (errlen bytes) if it fits whole, after a '\n'
 * when *used > 0; *used counts err's bytes. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void
inilines_out(char *err, size_t errlen, size_t *used, const char *fmt, ...);

/* Reads one file of inilines_each()'s directory; a jobd_status. */
typedef int (*inilines_file_fn)(void *arg, const char *path, char *err,
                                size_t errlen, size_t *used);

/*
 * Calls fn for each file of the kinds directory dir whose name ends with
 * suffix (".kind") and does not start with '.', in the order of their
 * names. JOBD_OK; else the last error fn returned (JOBD_RESOURCE_EXHAUSTED
 * once one did), or the directory's own, which this writes to err:
 * "cannot read kinds directory 'DIR': WHY", "DIR/NAME:1: path too long".
 */
int inilines_each(const char *dir, const char *suffix, inilines_file_fn fn,
                  void *arg, char *err, size_t errlen, size_t *used);

/* The name of the file at path without its directory and suffix (when it
 * ends with one), into out (outlen bytes, truncated). */
void inilines_stem(const char *path, const char *suffix, char *out,
                   size_t outlen);

/* Frees r->buf; r may be zeroed or half read. */
void inilines_fini(struct inilines *r);

#endif

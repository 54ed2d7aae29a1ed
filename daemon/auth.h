#ifndef JOBD_AUTH_H
#define JOBD_AUTH_H

/*
 * auth: the token every request must carry when jobd runs with
 * --auth-token-file, and the reading of files that hold secrets.
 *
 * A request carries the token in its metadata as
 *
 *     authorization: Bearer TOKEN
 *
 * The token itself is never kept: auth_load() keeps the SHA-256 digest of
 * the whole expected value and wipes the file's bytes, and auth_check()
 * compares digests in constant time. Neither ever logs the token.
 */

#include <stdbool.h>
#include <stddef.h>

#define AUTH_METADATA_KEY "authorization"
#define AUTH_SCHEME       "Bearer "
/* The longest token accepted, in bytes. */
#define AUTH_MAX_TOKEN 4096

struct auth {
	unsigned char digest[32]; /* SHA-256 of "Bearer TOKEN" */
};

/* Reads the token from `path`: one line of printable ASCII without
 * spaces, a trailing newline (LF or CRLF) ignored. Refuses a file that
 * cannot be read, is not a regular file, is empty, or can be read by
 * others (mode o+r); warns when its group can read it. */
int auth_load(struct auth *a, const char *path, char *err, size_t errlen);

/* Whether `value` (an "authorization" metadata value, NULL if none) is the
 * token. Its time depends on the length of `value` only. */
bool auth_check(const struct auth *a, const char *value);

/*
 * Reads a whole file of at most `max` bytes into *bufp (malloc'd, with a
 * NUL after the *lenp bytes). `what` names it in messages ("TLS key
 * file"). A `secret` file is refused when others can read it and warned
 * about when its group can. Free a secret with auth_free_secret().
 */
int auth_read_file(const char *path, const char *what, bool secret, size_t max,
                   char **bufp, size_t *lenp, char *err, size_t errlen);
/* Wipes and frees what auth_read_file() returned. Accepts NULL. */
void auth_free_secret(char *buf, size_t len);

#endif

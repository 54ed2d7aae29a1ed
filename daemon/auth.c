/*
 * auth: token authentication of requests, and files that hold secrets.
 *
 * The expected value of the "authorization" metadata, "Bearer TOKEN", is
 * hashed once at start and the token's bytes wiped. A request's value is
 * hashed the same way and the two digests compared byte by byte without an
 * early exit, so how long a check takes depends on the length of what the
 * client sent and on nothing about the token: not its bytes, not its
 * length. Values longer than any token could make are refused before they
 * are hashed, which says no more than the documented limit.
 *
 * Nothing here logs a token or a value a client sent; messages name files
 * and modes only.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "jobd_status.h"
#include "log.h"

void
auth_free_secret(char *buf, size_t len)
{
	if (buf == NULL)
		return;
	mbedtls_platform_zeroize(buf, len);
	free(buf);
}

/* Refuses a secret that others can read; warns when its group can. */
static int
check_mode(const char *path, const char *what, mode_t mode, char *err,
           size_t errlen)
{
	unsigned perm = (unsigned) (mode & 0777);

	if ((mode & S_IROTH) != 0) {
		snprintf(err, errlen,
		         "%s '%s' is readable by others (mode %04o): it "
		         "holds a secret; chmod o-rwx it",
		         what, path, perm);
		return JOBD_INVALID_ARGUMENT;
	}
	if ((mode & S_IRGRP) != 0)
		log_warn("%s '%s' is readable by its group (mode %04o); "
		         "make sure that is meant",
		         what, path, perm);
	return JOBD_OK;
}

int
auth_read_file(const char *path, const char *what, bool secret, size_t max,
               char **bufp, size_t *lenp, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rv;

	*bufp = NULL;
	*lenp = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(err, errlen, "cannot read %s '%s': %s", what, path,
		         strerror(errno));
		return JOBD_INVALID_ARGUMENT;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot read %s '%s': %s", what, path,
		         strerror(errno));
		rv = JOBD_INVALID_ARGUMENT;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s '%s' is not a regular file", what,
		         path);
		rv = JOBD_INVALID_ARGUMENT;
		goto fail;
	}
	if (secret &&
	    (rv = check_mode(path, what, st.st_mode, err, errlen)) != JOBD_OK)
		goto fail;
	if ((uint64_t) st.st_size > max) {
		snprintf(err, errlen, "%s '%s' is larger than %zu bytes", what,
		         path, max);
		rv = JOBD_INVALID_ARGUMENT;
		goto fail;
	}
	/* one byte more than allowed tells a file that grew since fstat */
	if ((buf = malloc(max + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto fail;
	}
	while (len <= max && (n = read(fd, buf + len, max + 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read %s '%s': %s", what,
			         path, strerror(errno));
			rv = JOBD_INVALID_ARGUMENT;
			goto fail;
		}
		len += (size_t) n;
	}
	if (len > max) {
		snprintf(err, errlen, "%s '%s' is larger than %zu bytes", what,
		         path, max);
		rv = JOBD_INVALID_ARGUMENT;
		goto fail;
	}
	buf[len] = '\0';
	close(fd);
	*bufp = buf;
	*lenp = len;
	return JOBD_OK;

fail:
	auth_free_secret(buf, len);
	close(fd);
	return rv;
}

/* SHA-256 of s; mbed TLS 3 renamed mbedtls_sha256_ret() to mbedtls_sha256().
 * Neither can fail for SHA-256 of memory. */
static void
digest(const char *s, size_t n, unsigned char out[32])
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	(void) mbedtls_sha256((const unsigned char *) s, n, out, 0);
#else
	(void) mbedtls_sha256_ret((const unsigned char *) s, n, out, 0);
#endif
}

int
auth_load(struct auth *a, const char *path, char *err, size_t errlen)
{
	const char *what = "token file";
	size_t pre = strlen(AUTH_SCHEME);
	char *buf, *value;
	size_t len, nread;
	int rv;

	memset(a, 0, sizeof(*a));
	if ((rv = auth_read_file(path, what, true, AUTH_MAX_TOKEN + 2, &buf,
	                         &len, err, errlen)) != JOBD_OK)
		return rv;
	nread = len;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	rv = JOBD_INVALID_ARGUMENT;
	if (len == 0) {
		snprintf(err, errlen, "%s '%s' is empty", what, path);
		goto out;
	}
	if (len > AUTH_MAX_TOKEN) {
		snprintf(err, errlen, "%s '%s' holds more than %d bytes", what,
		         path, AUTH_MAX_TOKEN);
		goto out;
	}
	for (size_t i = 0; i < len; i++) {
		if (buf[i] <= ' ' || buf[i] >= 0x7f) {
			snprintf(err, errlen,
			         "%s '%s' holds a space, a control character "
			         "or a non-ASCII byte at offset %zu; a token "
			         "is one line of printable ASCII",
			         what, path, i);
			goto out;
		}
	}
	if ((value = malloc(pre + len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rv = JOBD_RESOURCE_EXHAUSTED;
		goto out;
	}
	memcpy(value, AUTH_SCHEME, pre);
	memcpy(value + pre, buf, len);
	digest(value, pre + len, a->digest);
	auth_free_secret(value, pre + len);
	if (len < 16)
		log_warn("the token in '%s' is only %zu characters long; "
		         "a random one of 32 or more is safer "
		         "(openssl rand -hex 32)",
		         path, len);
	rv = JOBD_OK;
out:
	auth_free_secret(buf, nread);
	return rv;
}

bool
auth_check(const struct auth *a, const char *value)
{
	unsigned char got[32];
	unsigned diff = 0;
	size_t n;

	if (value == NULL)
		return false;
	/* longer than any token could make: says nothing about the token */
	n = strnlen(value, strlen(AUTH_SCHEME) + AUTH_MAX_TOKEN + 1);
	if (n > strlen(AUTH_SCHEME) + AUTH_MAX_TOKEN)
		return false;
	digest(value, n, got);
	for (size_t i = 0; i < sizeof(got); i++)
		diff |= (unsigned) (got[i] ^ a->digest[i]);
	mbedtls_platform_zeroize(got, sizeof(got));
	return diff == 0;
}

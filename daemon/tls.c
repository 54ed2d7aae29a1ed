/*
 * tls: jobd's TLS server configuration.
 *
 * jobd reads the PEM files itself rather than handing their names to nng,
 * so that each failure names its file and says what is wrong with it. The
 * files are parsed with mbed TLS, the library nng's TLS is built on, which
 * also checks that the key belongs to the certificate (nng would take a
 * mismatched pair and fail every handshake later); nng then gets the same
 * PEM text. The key's bytes are wiped once nng has parsed them.
 *
 * With a CA, the listener requires a client certificate signed by it
 * (NNG_TLS_AUTH_MODE_REQUIRED); without one it asks for none.
 */
#include "tls.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include "auth.h"
#include "jobd_status.h"

#define TLS_MAX_FILE (1u << 20) /* PEM files larger than this are refused */

/* mbed TLS 3 wants a random generator to parse and check keys (RSA
 * blinding); 2.28 does not. */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
static int
tls_random(void *arg, unsigned char *out, size_t n)
{
	(void) arg;
	while (n > 0) {
		ssize_t k = getrandom(out, n, 0);
		if (k < 0)
			return -1;
		out += k;
		n -= (size_t) k;
	}
	return 0;
}
#define PARSE_KEY(pk, pem, len)                                                \
	mbedtls_pk_parse_key(pk, pem, len, NULL, 0, tls_random, NULL)
#define CHECK_PAIR(pub, prv) mbedtls_pk_check_pair(pub, prv, tls_random, NULL)
#else
#define PARSE_KEY(pk, pem, len) mbedtls_pk_parse_key(pk, pem, len, NULL, 0)
#define CHECK_PAIR(pub, prv)    mbedtls_pk_check_pair(pub, prv)
#endif

/* Parses pem (len bytes and a NUL) into crt: true if it holds one or more
 * certificates and nothing else; mbed TLS's reason in why if not. */
static bool
parse_certs(mbedtls_x509_crt *crt, const char *pem, size_t len, char *why,
            size_t whylen)
{
	int rv;

	rv = mbedtls_x509_crt_parse(crt, (const unsigned char *) pem, len + 1);
	if (rv < 0)
		mbedtls_strerror(rv, why, whylen);
	else if (rv > 0)
		snprintf(why, whylen, "%d of its certificates do not parse",
		         rv);
	return rv == 0;
}

/* Parses the certificate and the key and checks that they are a pair. */
static int
check_pair(const char *cert, const char *cpem, size_t clen, const char *key,
           const char *kpem, size_t klen, char *err, size_t errlen)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	char why[160];
	int rv, st = JOBD_INVALID_ARGUMENT;

	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&pk);
	if (!parse_certs(&crt, cpem, clen, why, sizeof(why))) {
		snprintf(err, errlen,
		         "TLS certificate file '%s' holds no valid "
		         "certificate: %s",
		         cert, why);
		goto out;
	}
	rv = PARSE_KEY(&pk, (const unsigned char *) kpem, klen + 1);
	if (rv == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
		snprintf(err, errlen,
		         "TLS key file '%s' is encrypted; jobd needs the key "
		         "without a passphrase",
		         key);
		goto out;
	}
	if (rv != 0) {
		mbedtls_strerror(rv, why, sizeof(why));
		snprintf(err, errlen,
		         "TLS key file '%s' holds no valid private key: %s",
		         key, why);
		goto out;
	}
	if (CHECK_PAIR(&crt.pk, &pk) != 0) {
		snprintf(err, errlen,
		         "TLS key file '%s' is not the key of the certificate "
		         "in '%s'",
		         key, cert);
		goto out;
	}
	st = JOBD_OK;
out:
	mbedtls_pk_free(&pk);
	mbedtls_x509_crt_free(&crt);
	return st;
}

int
tls_server_config(nng_tls_config **cfgp, const char *cert, const char *key,
                  const char *ca, char *err, size_t errlen)
{
	nng_tls_config *cfg = NULL;
	char *cpem = NULL, *kpem = NULL, *capem = NULL;
	size_t clen, klen = 0, calen;
	mbedtls_x509_crt crt;
	char why[160];
	bool ok;
	int rv, st;

	*cfgp = NULL;
	if ((st = auth_read_file(cert, "TLS certificate file", false,
	                         TLS_MAX_FILE, &cpem, &clen, err, errlen)) !=
	    JOBD_OK)
		goto out;
	if ((st = auth_read_file(key, "TLS key file", true, TLS_MAX_FILE, &kpem,
	                         &klen, err, errlen)) != JOBD_OK)
		goto out;
	if ((st = check_pair(cert, cpem, clen, key, kpem, klen, err, errlen)) !=
	    JOBD_OK)
		goto out;
	if (ca != NULL) {
		if ((st = auth_read_file(ca, "TLS CA file", false, TLS_MAX_FILE,
		                         &capem, &calen, err, errlen)) !=
		    JOBD_OK)
			goto out;
		mbedtls_x509_crt_init(&crt);
		ok = parse_certs(&crt, capem, calen, why, sizeof(why));
		mbedtls_x509_crt_free(&crt);
		if (!ok) {
			snprintf(err, errlen,
			         "TLS CA file '%s' holds no valid certificate: "
			         "%s",
			         ca, why);
			st = JOBD_INVALID_ARGUMENT;
			goto out;
		}
	}

	st = JOBD_INTERNAL;
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0) {
		snprintf(err, errlen, "cannot set up TLS: %s",
		         nng_strerror(rv));
		goto out;
	}
	if ((rv = nng_tls_config_own_cert(cfg, cpem, kpem, NULL)) != 0) {
		snprintf(err, errlen,
		         "cannot use TLS certificate '%s' with key '%s': %s",
		         cert, key, nng_strerror(rv));
		goto out;
	}
	if (ca != NULL) {
		if ((rv = nng_tls_config_ca_chain(cfg, capem, NULL)) != 0 ||
		    (rv = nng_tls_config_auth_mode(
		         cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0) {
			snprintf(err, errlen, "cannot use TLS CA file '%s': %s",
			         ca, nng_strerror(rv));
			goto out;
		}
	} else if ((rv = nng_tls_config_auth_mode(
	                cfg, NNG_TLS_AUTH_MODE_NONE)) != 0) {
		snprintf(err, errlen, "cannot set up TLS: %s",
		         nng_strerror(rv));
		goto out;
	}
	*cfgp = cfg;
	cfg = NULL;
	st = JOBD_OK;
out:
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	auth_free_secret(kpem, klen);
	free(cpem);
	free(capem);
	return st;
}

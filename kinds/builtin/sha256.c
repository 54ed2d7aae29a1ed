/*
 * sha256: SHA-256 of the input, then of each digest, `rounds` times, with
 * mbed TLS's libmbedcrypto (which nng's TLS links already). It reports
 * progress every SHA256_CHUNK rounds.
 */
#include "builtin.h"

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

/* rounds between two progress calls */
#define SHA256_CHUNK (UINT64_C(1) << 10)

/* mbed TLS 3 renamed mbedtls_sha256_ret() to mbedtls_sha256(); both return
 * 0 or a negative error code. */
static int
sha256(const unsigned char *in, size_t len, unsigned char out[32])
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	return mbedtls_sha256(in, len, out, 0);
#else
	return mbedtls_sha256_ret(in, len, out, 0);
#endif
}

static int
sha256_run(jobd_job *job, const struct jobd_host *host)
{
	uint64_t rounds = (uint64_t) host->param_int(job, "rounds");
	static const char hex[] = "0123456789abcdef";
	const uint8_t *in;
	unsigned char d[32];
	char text[64];
	size_t len;
	int rv;

	host->input(job, &in, &len);
	if (host->progress(job, 0, rounds) != 0)
		return JOBD_RUN_STOPPED;
	rv = sha256(in, len, d);
	for (uint64_t i = 1; rv == 0 && i < rounds; i++) {
		if (i % SHA256_CHUNK == 0 &&
		    host->progress(job, i, rounds) != 0)
			return JOBD_RUN_STOPPED;
		rv = sha256(d, sizeof(d), d);
	}
	if (rv != 0)
		return host->fail(job, "sha256 failed (mbed TLS error -0x%04x)",
		                  (unsigned) -rv);
	for (size_t i = 0; i < sizeof(d); i++) {
		text[2 * i] = hex[d[i] >> 4];
		text[2 * i + 1] = hex[d[i] & 0xf];
	}
	if (host->set_result(job, text, sizeof(text)) != 0)
		return host->fail(job, "out of memory");
	return JOBD_RUN_OK;
}

static const struct jobd_param sha256_params[] = {
    {
        .name = "rounds",
        .type = JOBD_PARAM_INT,
        .min = 1,
        .max = INT64_C(100000000),
        .def = "1",
        .desc = "times to hash: once over the input, then over each digest",
    },
};

static const struct jobd_kind sha256_kind = {
    .name = "sha256",
    .desc = "SHA-256 of the input, then of the digest, rounds times; "
            "result: the hex digest",
    .params = sha256_params,
    .nparams = sizeof(sha256_params) / sizeof(sha256_params[0]),
    .uses_input = 1,
    .run = sha256_run,
};

int
builtin_sha256(struct jobd_registrar *reg)
{
	return reg->add_kind(reg, &sha256_kind);
}

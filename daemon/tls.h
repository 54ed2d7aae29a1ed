#ifndef JOBD_TLS_H
#define JOBD_TLS_H

/*
 * tls: the TLS configuration of jobd's tls+tcp:// listeners, built from PEM
 * files and checked before anything else starts.
 */

#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/*
 * A server configuration with the certificate (chain) in `cert` and its
 * private key in `key`; with `ca` (may be NULL), clients must present a
 * certificate signed by that CA. Every failure names its file: one that
 * cannot be read, a certificate or key that does not parse, a key that is
 * not the certificate's, a key file that others can read. The caller frees
 * *cfgp with nng_tls_config_free().
 */
int tls_server_config(nng_tls_config **cfgp, const char *cert, const char *key,
                      const char *ca, char *err, size_t errlen);

#endif

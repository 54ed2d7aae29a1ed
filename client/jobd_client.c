/*
 * jobd_client: the C client of jobd's wire contract (proto/jobd.proto).
 *
 * A client is one nng REQ socket dialed to the daemon, plus the address (for
 * messages), the default timeout and the metadata sent with every request.
 * The first dial is blocking, so an address where nothing listens fails at
 * open; after that nng reconnects by itself, and a request made while the
 * daemon is away waits (within its deadline) for it to come back.
 *
 * Except when nng's dialer gives up. nng 1.5.2 (Debian 12's) passes the
 * error of a failed SP handshake to the dialer's pending connect; a peer
 * that closed a new connection before the client's header went out makes
 * that write fail with EPIPE, which nng maps to NNG_ECLOSED, and the dialer
 * takes NNG_ECLOSED for "I was closed": it never dials again, and every
 * call times out (nanomsg/nng#1518, fixed in nng 1.6.0, whose transports
 * report NNG_ECONNSHUT there; a daemon that dies or stops just as it
 * accepts a connection does it). So the client watches its dialer: a pipe
 * notification counts its connections (ADD_PRE to REM_POST), and a timer
 * ticking every CLIENT_WATCH_MS on nng's threads replaces the dialer with
 * a new one (same address, same TLS configuration, started without
 * waiting) when the socket has had no connection for CLIENT_REDIAL_MS. A
 * working dialer retries within nng's reconnect time (100 ms), so a new
 * one costs nothing while the daemon is merely away. The socket stays:
 * the contexts and aios of calls in flight stay valid, and nng's REQ sends
 * their requests again on the new connection, as after any reconnection.
 *
 * A call packs the method's request into a `Request` envelope, sends it on a
 * context of its own (one nng_ctx per call, so threads can share a client and
 * a late reply can never be taken for the answer to another call), and
 * unpacks the `Response` envelope and then its body. The client waits for
 * the reply a little longer than the deadline it sends, so that the daemon's
 * own DEADLINE_EXCEEDED normally arrives first and carries its message.
 *
 * nng's REQ socket re-sends a request that got no reply within
 * NNG_OPT_REQ_RESENDTIME (default 60 s) or whose connection dropped; the
 * daemon is idempotent for Submit by idempotency key, and the other methods
 * are reads or idempotent anyway, except Retry: a Retry sent again after
 * its reply was lost finds the job not ended (FAILED_PRECONDITION) or,
 * should the new run have ended already, runs it once more.
 *
 * TLS: for a tls+tcp:// address the client always verifies jobd's
 * certificate against the CA file it is given, for the address's host name
 * or the server name it is given; it has no "insecure" mode. The PEM files
 * are read here, so that a message can name the file that is wrong; the
 * private key's bytes are wiped once nng has parsed them. The client keeps
 * the configuration (and each dialer holds it) for reconnections and for
 * a new dialer.
 *
 * Errors: every failure returns a jobd_status and leaves a message in a
 * thread-local buffer, read with jobd_client_errmsg().
 *
 * Asynchronous calls are in jobd_async.c; what the two files share (the
 * client's struct, the envelope's encoding and decoding, the errors) is in
 * client_int.h.
 *
 * Locking: `mtx` guards `timeout_ms` and the metadata, which a call reads
 * while it builds its envelope; `amtx` is jobd_async.c's; `dmtx` guards the
 * watch's state (the count of connections, when the last one went, the
 * count of new dialers, `dclosing`), taken by nng's pipe callbacks and the
 * watch's tick. All three are leaves: nothing under `dmtx` calls into
 * nng but nng_clock(). `dialer` is the tick's own once the client is
 * open.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#include "client_int.h"

static _Thread_local char errbuf[512];

int
jc_set_err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return (code);
}

/* Control characters in a message from the wire would reach a terminal. */
static void
sanitize(char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char) *s < 0x20 || *s == 0x7f)
			*s = '?';
	}
}

const char *
jobd_client_errmsg(void)
{
	return (errbuf);
}

static char *
dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return (p);
}

/* The status for an nng error of the transport (not of the daemon). */
int
jc_net_err(const jobd_client *c, int rv, uint32_t deadline_ms)
{
	switch (rv) {
	case NNG_ETIMEDOUT:
		return (jc_set_err(JOBD_DEADLINE_EXCEEDED,
		                   "no reply from jobd at '%s' within %u ms",
		                   c->url, (unsigned) deadline_ms));
	case NNG_ENOMEM:
		return (jc_set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	case NNG_ECLOSED:
		return (jc_set_err(JOBD_UNAVAILABLE,
		                   "client of jobd at '%s' is closed", c->url));
	default:
		return (jc_set_err(JOBD_UNAVAILABLE,
		                   "cannot reach jobd at '%s': %s", c->url,
		                   nng_strerror(rv)));
	}
}

static void
meta_free(struct meta *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].key);
		free(m[i].value);
	}
	free(m);
}

/* The status of a failed dial of `url`, with its message. */
static int
dial_err(const char *url, int rv)
{
	switch (rv) {
	case NNG_EADDRINVAL:
	case NNG_EINVAL:
	case NNG_ENOTSUP:
		return (jc_set_err(JOBD_INVALID_ARGUMENT,
		                   "invalid address '%s': %s", url,
		                   nng_strerror(rv)));
	case NNG_ENOMEM:
		return (jc_set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	case NNG_ECONNSHUT:
		/* what a TLS listener does to a client that speaks plain */
		if (strncmp(url, "tls+", 4) != 0)
			return (
			    jc_set_err(JOBD_UNAVAILABLE,
			               "cannot reach jobd at '%s': %s (if it "
			               "serves TLS there, the address is "
			               "tls+tcp://)",
			               url, nng_strerror(rv)));
		/* FALLTHROUGH */
	default:
		return (jc_set_err(JOBD_UNAVAILABLE,
		                   "cannot reach jobd at '%s': %s", url,
		                   nng_strerror(rv)));
	}
}

/* The status of a failed dial of the TLS address `url`, with a message
 * that says what to check: the CA file and the server name it was dialed
 * with. */
static int
tls_dial_err(const char *url, int rv, const char *ca, const char *name)
{
	struct in6_addr ip;
	bool is_ip = inet_pton(AF_INET, name, &ip) == 1 ||
	             inet_pton(AF_INET6, name, &ip) == 1;

	switch (rv) {
	case NNG_EPEERAUTH:
	case NNG_ECRYPTO:
		return (jc_set_err(
		    JOBD_UNAVAILABLE,
		    "cannot reach jobd at '%s': TLS handshake failed (%s): "
		    "jobd's certificate may not be signed by the CA in '%s' "
		    "or not be for '%s'%s, or jobd may not take this "
		    "client's certificate",
		    url, nng_strerror(rv), ca, name,
		    is_ip ? " (an IP address is never matched: give the "
		            "server name the certificate holds)"
		          : ""));
	case NNG_ECONNSHUT:
		return (
		    jc_set_err(JOBD_UNAVAILABLE,
		               "cannot reach jobd at '%s': it closed the "
		               "connection during the TLS handshake (it may "
		               "want a client certificate signed by a CA it "
		               "trusts)",
		               url));
	default:
		return (dial_err(url, rv));
	}
}

/* The contents of the PEM file `path` (malloc'd, NUL-terminated) in *bufp,
 * its length in *lenp. */
static int
read_pem(const char *path, const char *what, char **bufp, size_t *lenp)
{
	char *buf;
	size_t len = 0;
	size_t n;
	FILE *f;

	*bufp = NULL;
	if ((f = fopen(path, "rbe")) == NULL)
		return (jc_set_err(JOBD_INVALID_ARGUMENT,
		                   "cannot read %s '%s': %s", what, path,
		                   strerror(errno)));
	if ((buf = malloc(CLIENT_MAX_PEM + 1)) == NULL) {
		fclose(f);
		return (jc_set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	}
	while (len < CLIENT_MAX_PEM &&
	       (n = fread(buf + len, 1, CLIENT_MAX_PEM - len, f)) > 0)
		len += n;
	if (ferror(f) || (len == CLIENT_MAX_PEM && fgetc(f) != EOF)) {
		int e = ferror(f) ? errno : EFBIG;
		explicit_bzero(buf, len);
		free(buf);
		fclose(f);
		return (jc_set_err(JOBD_INVALID_ARGUMENT,
		                   "cannot read %s '%s': %s", what, path,
		                   strerror(e)));
	}
	fclose(f);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return (JOBD_OK);
}

static bool
tls_given(const struct jobd_client_tls *tls)
{
	return (tls != NULL &&
	        (tls->ca_file != NULL || tls->cert_file != NULL ||
	         tls->key_file != NULL || tls->server_name != NULL));
}

/* The client certificate of tls, if any, into cfg. */
static int
tls_own_cert(nng_tls_config *cfg, const struct jobd_client_tls *tls)
{
	char *cert = NULL;
	char *key = NULL;
	size_t clen;
	size_t klen = 0;
	int rv;
	int st;

	if (tls->cert_file == NULL && tls->key_file == NULL)
		return (JOBD_OK);
	if (tls->cert_file == NULL || tls->key_file == NULL)
		return (
		    jc_set_err(JOBD_INVALID_ARGUMENT,
		               "a TLS client certificate needs its key file "
		               "and a key its certificate file"));
	if ((st = read_pem(tls->cert_file, "TLS certificate file", &cert,
	                   &clen)) != JOBD_OK)
		goto out;
	if ((st = read_pem(tls->key_file, "TLS key file", &key, &klen)) !=
	    JOBD_OK)
		goto out;
	if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0)
		st =
		    jc_set_err(JOBD_INVALID_ARGUMENT,
		               "cannot use TLS certificate file '%s' with key "
		               "file '%s': %s",
		               tls->cert_file, tls->key_file, nng_strerror(rv));
out:
	if (key != NULL)
		explicit_bzero(key, klen);
	free(key);
	free(cert);
	return (st);
}

/* The TLS configuration that dials `url` with the settings tls. */
static int
tls_config(nng_tls_config **cfgp, const char *url,
           const struct jobd_client_tls *tls)
{
	nng_tls_config *cfg = NULL;
	nng_url *u = NULL;
	const char *name;
	char *ca = NULL;
	size_t calen;
	int rv;
	int st;

	*cfgp = NULL;
	if (tls == NULL || tls->ca_file == NULL)
		return (jc_set_err(JOBD_INVALID_ARGUMENT,
		                   "TLS address '%s' needs a CA file to verify "
		                   "jobd's certificate",
		                   url));
	if (tls->server_name != NULL && *tls->server_name == '\0')
		return (
		    jc_set_err(JOBD_INVALID_ARGUMENT, "empty TLS server name"));
	if ((rv = nng_url_parse(&u, url)) != 0)
		return (dial_err(url, rv));
	name = tls->server_name != NULL ? tls->server_name : u->u_hostname;
	if ((st = read_pem(tls->ca_file, "TLS CA file", &ca, &calen)) !=
	    JOBD_OK)
		goto out;
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0 ||
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) !=
	        0 ||
	    (rv = nng_tls_config_server_name(cfg, name)) != 0) {
		st = jc_set_err(JOBD_INTERNAL, "cannot set up TLS: %s",
		                nng_strerror(rv));
		goto out;
	}
	if ((rv = nng_tls_config_ca_chain(cfg, ca, NULL)) != 0) {
		st = jc_set_err(
		    JOBD_INVALID_ARGUMENT,
		    "TLS CA file '%s' holds no valid certificate: %s",
		    tls->ca_file, nng_strerror(rv));
		goto out;
	}
	if ((st = tls_own_cert(cfg, tls)) != JOBD_OK)
		goto out;
	*cfgp = cfg;
	cfg = NULL;
out:
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	free(ca);
	nng_url_free(u);
	return (st);
}

/* Blocking: fails at once when nothing listens at url, or when a TLS
 * handshake fails (with cfg, made by tls_config() from tls). The dialer
 * in c->dialer. */
static int
dial(jobd_client *c, const char *url, nng_tls_config *cfg,
     const struct jobd_client_tls *tls)
{
	nng_dialer d;
	nng_url *u;
	int rv;
	int st;

	if ((rv = nng_dialer_create(&d, c->sock, url)) != 0)
		return (dial_err(url, rv));
	c->dialer = d;
	if (cfg == NULL) {
		if ((rv = nng_dialer_start(d, 0)) != 0)
			return (dial_err(url, rv));
		return (JOBD_OK);
	}
	if ((rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0)
		return (jc_set_err(JOBD_INTERNAL,
		                   "cannot set up TLS for '%s': %s", url,
		                   nng_strerror(rv)));
	if ((rv = nng_dialer_start(d, 0)) == 0)
		return (JOBD_OK);
	if (tls->server_name != NULL)
		return (tls_dial_err(url, rv, tls->ca_file, tls->server_name));
	if (nng_url_parse(&u, url) != 0)
		return (dial_err(url, rv));
	st = tls_dial_err(url, rv, tls->ca_file, u->u_hostname);
	nng_url_free(u);
	return (st);
}

/*
 * The dialer watch (see the top of the file). pipe_cb counts c's
 * connections, from NNG_PIPE_EV_ADD_PRE to NNG_PIPE_EV_REM_POST (a pipe
 * refused after ADD_PRE gets no ADD_POST, but always its REM_POST), on
 * nng's threads, and notes when the last one went.
 */
static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	jobd_client *c = arg;

	(void) p;
	nng_mtx_lock(c->dmtx);
	if (ev == NNG_PIPE_EV_ADD_PRE)
		c->npipes++;
	else if (--c->npipes == 0)
		c->lost = nng_clock();
	nng_mtx_unlock(c->dmtx);
}

/* A new dialer of c's address (with its TLS configuration), started
 * without waiting for its connection, in *dp; 0 or an nng error. */
static int
redial(jobd_client *c, nng_dialer *dp)
{
	nng_dialer d;
	int rv;

	if ((rv = nng_dialer_create(&d, c->sock, c->url)) != 0)
		return (rv);
	if ((c->tls == NULL ||
	     (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, c->tls)) == 0) &&
	    (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) == 0) {
		*dp = d;
		return (0);
	}
	nng_dialer_close(d);
	return (rv);
}

/*
 * The watch's tick, every CLIENT_WATCH_MS on one of nng's threads until
 * close cancels it: after CLIENT_REDIAL_MS without a connection, a new
 * dialer replaces the old one (which is closed). Only this callback
 * changes c->dialer once the client is open, so it does so without the
 * lock; close waits for it (nng_aio_free) before it closes the socket.
 * A failed redial (out of memory) is tried again at the next tick.
 */
static void
watch_cb(void *arg)
{
	jobd_client *c = arg;
	nng_dialer d;
	bool stalled;

	if (nng_aio_result(c->watch) != 0)
		return; /* cancelled: the client is closing */
	nng_mtx_lock(c->dmtx);
	if (c->dclosing) {
		nng_mtx_unlock(c->dmtx);
		return;
	}
	stalled = c->npipes == 0 && nng_clock() - c->lost >= CLIENT_REDIAL_MS;
	nng_mtx_unlock(c->dmtx);
	if (stalled && redial(c, &d) == 0) {
		nng_dialer_close(c->dialer);
		c->dialer = d;
		nng_mtx_lock(c->dmtx);
		c->redials++;
		c->lost = nng_clock();
		nng_mtx_unlock(c->dmtx);
	}
	nng_sleep_aio(CLIENT_WATCH_MS, c->watch);
}

unsigned
jc_redials(jobd_client *c)
{
	unsigned n;

	nng_mtx_lock(c->dmtx);
	n = c->redials;
	nng_mtx_unlock(c->dmtx);
	return (n);
}

int
jobd_client_open(jobd_client **cp, const char *url)
{
	return (jobd_client_open_tls(cp, url, NULL));
}

int
jobd_client_open_tls(jobd_client **cp, const char *url,
                     const struct jobd_client_tls *tls)
{
	nng_tls_config *cfg = NULL;
	jobd_client *c;
	int rv;
	int st;

	if (cp == NULL)
		return (jc_set_err(JOBD_INVALID_ARGUMENT, "no client pointer"));
	*cp = NULL;
	if (url == NULL || *url == '\0')
		return (jc_set_err(JOBD_INVALID_ARGUMENT,
		                   "invalid address '': empty"));
	if (strncmp(url, "tls+", 4) == 0) {
		if ((st = tls_config(&cfg, url, tls)) != JOBD_OK)
			return (st);
	} else if (tls_given(tls)) {
		return (jc_set_err(JOBD_INVALID_ARGUMENT,
		                   "TLS settings are given, but '%s' is not a "
		                   "tls+tcp:// address",
		                   url));
	}
	st = jc_set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail_alloc;
	c->timeout_ms = CLIENT_TIMEOUT_MS;
	if ((c->url = dup_str(url)) == NULL)
		goto fail_url;
	if (nng_mtx_alloc(&c->mtx) != 0)
		goto fail_mtx;
	if (nng_mtx_alloc(&c->amtx) != 0)
		goto fail_amtx;
	if (nng_cv_alloc(&c->acv, c->amtx) != 0)
		goto fail_acv;
	if (nng_mtx_alloc(&c->dmtx) != 0)
		goto fail_dmtx;
	if (nng_aio_alloc(&c->watch, watch_cb, c) != 0)
		goto fail_watch;
	atomic_init(&c->closing, false);
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		st = jc_set_err(JOBD_INTERNAL, "cannot open a REQ socket: %s",
		                nng_strerror(rv));
		goto fail_sock;
	}
	if ((rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
	                              CLIENT_RECV_MAX)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_PRE, pipe_cb, c)) !=
	        0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_cb, c)) !=
	        0) {
		st = jc_set_err(JOBD_INTERNAL, "cannot set up a REQ socket: %s",
		                nng_strerror(rv));
		goto fail_dial;
	}
	if ((st = dial(c, url, cfg, tls)) != JOBD_OK)
		goto fail_dial;
	c->tls = cfg; /* for a new dialer; the dialer holds it too */
	nng_sleep_aio(CLIENT_WATCH_MS, c->watch);
	*cp = c;
	return (JOBD_OK);

fail_dial:
	nng_close(c->sock);
fail_sock:
	nng_aio_free(c->watch);
fail_watch:
	nng_mtx_free(c->dmtx);
fail_dmtx:
	nng_cv_free(c->acv);
fail_acv:
	nng_mtx_free(c->amtx);
fail_amtx:
	nng_mtx_free(c->mtx);
fail_mtx:
	free(c->url);
fail_url:
	free(c);
fail_alloc:
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	return (st);
}

void
jobd_client_close(jobd_client *c)
{
	if (c == NULL)
		return;
	jc_calls_end(c);
	/* the watch first: it may use the socket; then the socket, whose
	 * pipes' last callbacks take dmtx */
	nng_mtx_lock(c->dmtx);
	c->dclosing = true;
	nng_mtx_unlock(c->dmtx);
	nng_aio_free(c->watch);
	nng_close(c->sock);
	if (c->tls != NULL)
		nng_tls_config_free(c->tls);
	nng_mtx_free(c->dmtx);
	nng_cv_free(c->acv);
	nng_mtx_free(c->amtx);
	nng_mtx_free(c->mtx);
	meta_free(c->meta, c->nmeta);
	free(c->url);
	free(c);
}

void
jobd_client_set_timeout(jobd_client *c, uint32_t ms)
{
	if (c == NULL)
		return;
	nng_mtx_lock(c->mtx);
	c->timeout_ms = ms != 0 ? ms : CLIENT_TIMEOUT_MS;
	nng_mtx_unlock(c->mtx);
}

int
jobd_client_set_metadata(jobd_client *c, const char *key, const char *value)
{
	struct meta *m;
	char *v;
	char *k = NULL;
	size_t i;

	if (c == NULL || key == NULL || *key == '\0' || value == NULL)
		return (jc_set_err(
		    JOBD_INVALID_ARGUMENT,
		    "metadata needs a client, a non-empty key and a value"));
	if ((v = dup_str(value)) == NULL)
		return (jc_set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	nng_mtx_lock(c->mtx);
	for (i = 0; i < c->nmeta; i++) {
		if (strcmp(c->meta[i].key, key) == 0) {
			free(c->meta[i].value);
			c->meta[i].value = v;
			nng_mtx_unlock(c->mtx);
			return (JOBD_OK);
		}
	}
	if (c->nmeta >= CLIENT_MAX_METADATA) {
		nng_mtx_unlock(c->mtx);
		free(v);
		return (jc_set_err(JOBD_RESOURCE_EXHAUSTED,
		                   "too many metadata entries (at most %u)",
		                   CLIENT_MAX_METADATA));
	}
	m = realloc(c->meta, (c->nmeta + 1) * sizeof(*m));
	if (m != NULL)
		c->meta = m;
	if (m == NULL || (k = dup_str(key)) == NULL) {
		nng_mtx_unlock(c->mtx);
		free(v);
		return (jc_set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	}
	c->meta[c->nmeta].key = k;
	c->meta[c->nmeta].value = v;
	c->nmeta++;
	nng_mtx_unlock(c->mtx);
	return (JOBD_OK);
}

int
jobd_client_set_token(jobd_client *c, const char *token)
{
	static const char scheme[] = "Bearer ";
	char *v;
	size_t n;
	int st;

	if (token == NULL || *token == '\0')
		return (jc_set_err(JOBD_INVALID_ARGUMENT, "empty token"));
	n = strlen(token);
	if ((v = malloc(sizeof(scheme) + n)) == NULL)
		return (jc_set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	memcpy(v, scheme, sizeof(scheme) - 1);
	memcpy(v + sizeof(scheme) - 1, token, n + 1);
	st = jobd_client_set_metadata(c, "authorization", v);
	explicit_bzero(v, sizeof(scheme) + n);
	free(v);
	return (st);
}

/*
 * Packs `req` into a Request envelope for `method`, in a new nng message.
 * *deadline gets the deadline sent (deadline_ms, or the client's timeout).
 */
int
jc_make_request(jobd_client *c, const char *method, const ProtobufCMessage *req,
                uint32_t deadline_ms, uint32_t *deadline, nng_msg **msgp)
{
	Jobd__V1__Request env = JOBD__V1__REQUEST__INIT;
	Jobd__V1__Request__MetadataEntry *ents = NULL;
	Jobd__V1__Request__MetadataEntry **ptrs = NULL;
	uint8_t *body;
	size_t blen;
	size_t elen;
	nng_msg *msg = NULL;
	int st = JOBD_OK;

	blen = protobuf_c_message_get_packed_size(req);
	if ((body = malloc(blen > 0 ? blen : 1)) == NULL)
		return (jc_set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	protobuf_c_message_pack(req, body);

	nng_mtx_lock(c->mtx);
	*deadline = deadline_ms != 0 ? deadline_ms : c->timeout_ms;
	if (c->nmeta > 0) {
		ents = calloc(c->nmeta, sizeof(*ents));
		ptrs = calloc(c->nmeta, sizeof(*ptrs));
		if (ents == NULL || ptrs == NULL) {
			st = jc_set_err(JOBD_RESOURCE_EXHAUSTED,
			                "out of memory");
			goto done;
		}
		for (size_t i = 0; i < c->nmeta; i++) {
			jobd__v1__request__metadata_entry__init(&ents[i]);
			ents[i].key = c->meta[i].key;
			ents[i].value = c->meta[i].value;
			ptrs[i] = &ents[i];
		}
		env.n_metadata = c->nmeta;
		env.metadata = ptrs;
	}
	env.method = (char *) method;
	env.body.data = body;
	env.body.len = blen;
	env.deadline_ms = *deadline;
	elen = jobd__v1__request__get_packed_size(&env);
	if (elen > CLIENT_MAX_REQUEST) {
		st = jc_set_err(JOBD_RESOURCE_EXHAUSTED,
		                "%s request of %zu bytes is larger than jobd's "
		                "limit of %u; not sent",
		                method, elen, CLIENT_MAX_REQUEST);
		goto done;
	}
	if (nng_msg_alloc(&msg, elen) != 0) {
		st = jc_set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	jobd__v1__request__pack(&env, nng_msg_body(msg));
	*msgp = msg;
done:
	nng_mtx_unlock(c->mtx);
	free(ptrs);
	free(ents);
	free(body);
	return (st);
}

/* How long a call with `deadline` waits for its reply in all: the deadline
 * and a margin. */
nng_duration
jc_call_budget(uint32_t deadline)
{
	if ((uint64_t) deadline + CLIENT_MARGIN_MS > INT32_MAX)
		return (INT32_MAX);
	return ((nng_duration) (deadline + CLIENT_MARGIN_MS));
}

/* The timeout of a receive that must end by `end`. */
nng_duration
jc_time_left(nng_time end)
{
	nng_time now = nng_clock();

	return (now < end ? (nng_duration) (end - now) : 0);
}

/*
 * Sends *msgp on a context of its own and waits for the reply, at most the
 * deadline plus a margin. Takes the message; on success *msgp is the reply.
 */
static int
exchange(jobd_client *c, nng_msg **msgp, uint32_t deadline)
{
	nng_ctx ctx;
	nng_aio *aio;
	nng_msg *msg;
	nng_duration budget = jc_call_budget(deadline);
	nng_time end = nng_clock() + (nng_time) budget;
	int rv;

	if ((rv = nng_ctx_open(&ctx, c->sock)) != 0) {
		nng_msg_free(*msgp);
		*msgp = NULL;
		return (jc_net_err(c, rv, deadline));
	}
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_ctx_close(ctx);
		nng_msg_free(*msgp);
		*msgp = NULL;
		return (jc_net_err(c, rv, deadline));
	}
	/* The aio's own timeouts below are what bound this call; these
	 * apply to operations on the context that use the default. */
	(void) nng_ctx_set_ms(ctx, NNG_OPT_SENDTIMEO, budget);
	(void) nng_ctx_set_ms(ctx, NNG_OPT_RECVTIMEO, budget);

	nng_aio_set_msg(aio, *msgp);
	*msgp = NULL;
	nng_aio_set_timeout(aio, budget);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		/* A failed send leaves the message with us. */
		if ((msg = nng_aio_get_msg(aio)) != NULL)
			nng_msg_free(msg);
		goto fail;
	}

	nng_aio_set_timeout(aio, jc_time_left(end));
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0)
		goto fail;
	*msgp = nng_aio_get_msg(aio);
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	return (JOBD_OK);

fail:
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	return (jc_net_err(c, rv, deadline));
}

/* Unpacks the Response in msg and then its body with reply_desc. */
int
jc_read_response(jobd_client *c, const char *method, nng_msg *msg,
                 const ProtobufCMessageDescriptor *reply_desc,
                 ProtobufCMessage **reply)
{
	static const uint8_t empty[1];
	Jobd__V1__Response *resp;
	const uint8_t *data;
	int code;

	resp = jobd__v1__response__unpack(NULL, nng_msg_len(msg),
	                                  nng_msg_body(msg));
	if (resp == NULL)
		return (jc_set_err(
		    JOBD_INTERNAL,
		    "malformed reply from jobd at '%s': not a Response "
		    "(%zu bytes)",
		    c->url, nng_msg_len(msg)));
	if (resp->code != JOBD__V1__CODE__OK) {
		code = (int) resp->code;
		const char *m = resp->message != NULL ? resp->message : "";
		if (code < JOBD_OK || code > JOBD_UNAUTHENTICATED) {
			jc_set_err(JOBD_UNKNOWN,
			           "jobd answered unknown code %d%s%s", code,
			           *m != '\0' ? ": " : "", m);
			code = JOBD_UNKNOWN;
		} else if (*m == '\0') {
			jc_set_err(code, "jobd answered %s without a message",
			           jobd_status_name(code));
		} else {
			jc_set_err(code, "%s", m);
		}
		sanitize(errbuf);
		jobd__v1__response__free_unpacked(resp, NULL);
		return (code);
	}
	data = resp->body.data != NULL ? resp->body.data : empty;
	*reply =
	    protobuf_c_message_unpack(reply_desc, NULL, resp->body.len, data);
	jobd__v1__response__free_unpacked(resp, NULL);
	if (*reply == NULL)
		return (
		    jc_set_err(JOBD_INTERNAL,
		               "malformed %s reply from jobd at '%s': not a %s",
		               method, c->url, reply_desc->short_name));
	return (JOBD_OK);
}

int
jobd_call(jobd_client *c, const char *method, const ProtobufCMessage *req,
          const ProtobufCMessageDescriptor *reply_desc,
          ProtobufCMessage **reply, uint32_t deadline_ms)
{
	nng_msg *msg = NULL;
	uint32_t deadline = 0;
	int st;

	if (reply != NULL)
		*reply = NULL;
	if (c == NULL || method == NULL || *method == '\0' || req == NULL ||
	    req->descriptor == NULL || reply_desc == NULL || reply == NULL)
		return (jc_set_err(
		    JOBD_INVALID_ARGUMENT,
		    "jobd_call needs a client, a method, a request, a reply "
		    "descriptor and a reply pointer"));
	if ((st = jc_make_request(c, method, req, deadline_ms, &deadline,
	                          &msg)) != JOBD_OK)
		return (st);
	if ((st = exchange(c, &msg, deadline)) != JOBD_OK)
		return (st);
	st = jc_read_response(c, method, msg, reply_desc, reply);
	nng_msg_free(msg);
	return (st);
}

/* jobd_call for a typed reply pointer, without aliasing it as another type. */
#define TYPED_CALL(c, method, req, type, desc, reply, deadline)                \
	do {                                                                   \
		ProtobufCMessage *m_;                                          \
		int st_;                                                       \
		if ((reply) == NULL)                                           \
			return (jc_set_err(JOBD_INVALID_ARGUMENT,              \
			                   "no reply pointer"));               \
		st_ =                                                          \
		    jobd_call((c), (method), (req), (desc), &m_, (deadline));  \
		*(reply) = (type *) m_;                                        \
		return (st_);                                                  \
	} while (0)

int
jobd_submit(jobd_client *c, const Jobd__V1__SubmitRequest *req,
            Jobd__V1__SubmitReply **reply)
{
	if (req == NULL) {
		if (reply != NULL)
			*reply = NULL;
		return (jc_set_err(JOBD_INVALID_ARGUMENT, "no request"));
	}
	TYPED_CALL(c, "Submit", &req->base, Jobd__V1__SubmitReply,
	           &jobd__v1__submit_reply__descriptor, reply, 0);
}

int
jobd_submit_batch(jobd_client *c, const Jobd__V1__SubmitBatchRequest *req,
                  Jobd__V1__SubmitBatchReply **reply)
{
	if (req == NULL) {
		if (reply != NULL)
			*reply = NULL;
		return (jc_set_err(JOBD_INVALID_ARGUMENT, "no request"));
	}
	TYPED_CALL(c, "SubmitBatch", &req->base, Jobd__V1__SubmitBatchReply,
	           &jobd__v1__submit_batch_reply__descriptor, reply, 0);
}

int
jobd_get(jobd_client *c, const uint64_t *ids, size_t n,
         Jobd__V1__GetReply **reply)
{
	Jobd__V1__GetRequest req = JOBD__V1__GET_REQUEST__INIT;

	if (ids == NULL && n > 0) {
		if (reply != NULL)
			*reply = NULL;
		return (jc_set_err(JOBD_INVALID_ARGUMENT, "no ids"));
	}
	req.n_ids = n;
	req.ids = (uint64_t *) ids;
	TYPED_CALL(c, "Get", &req.base, Jobd__V1__GetReply,
	           &jobd__v1__get_reply__descriptor, reply, 0);
}

int
jobd_wait(jobd_client *c, uint64_t id, uint32_t deadline_ms,
          Jobd__V1__WaitReply **reply)
{
	Jobd__V1__WaitRequest req = JOBD__V1__WAIT_REQUEST__INIT;

	req.id = id;
	TYPED_CALL(c, "Wait", &req.base, Jobd__V1__WaitReply,
	           &jobd__v1__wait_reply__descriptor, reply, deadline_ms);
}

int
jobd_cancel(jobd_client *c, uint64_t id, Jobd__V1__CancelReply **reply)
{
	Jobd__V1__CancelRequest req = JOBD__V1__CANCEL_REQUEST__INIT;

	req.id = id;
	TYPED_CALL(c, "Cancel", &req.base, Jobd__V1__CancelReply,
	           &jobd__v1__cancel_reply__descriptor, reply, 0);
}

int
jobd_list(jobd_client *c, const Jobd__V1__ListRequest *req,
          Jobd__V1__ListReply **reply)
{
	if (req == NULL) {
		if (reply != NULL)
			*reply = NULL;
		return (jc_set_err(JOBD_INVALID_ARGUMENT, "no request"));
	}
	TYPED_CALL(c, "List", &req->base, Jobd__V1__ListReply,
	           &jobd__v1__list_reply__descriptor, reply, 0);
}

int
jobd_stats(jobd_client *c, Jobd__V1__StatsReply **reply)
{
	Jobd__V1__StatsRequest req = JOBD__V1__STATS_REQUEST__INIT;

	TYPED_CALL(c, "Stats", &req.base, Jobd__V1__StatsReply,
	           &jobd__v1__stats_reply__descriptor, reply, 0);
}

int
jobd_kinds(jobd_client *c, Jobd__V1__KindsReply **reply)
{
	Jobd__V1__KindsRequest req = JOBD__V1__KINDS_REQUEST__INIT;

	TYPED_CALL(c, "Kinds", &req.base, Jobd__V1__KindsReply,
	           &jobd__v1__kinds_reply__descriptor, reply, 0);
}

int
jobd_ping(jobd_client *c, Jobd__V1__PingReply **reply)
{
	Jobd__V1__PingRequest req = JOBD__V1__PING_REQUEST__INIT;

	TYPED_CALL(c, "Ping", &req.base, Jobd__V1__PingReply,
	           &jobd__v1__ping_reply__descriptor, reply, 0);
}

int
jobd_retry(jobd_client *c, uint64_t id, Jobd__V1__RetryReply **reply)
{
	Jobd__V1__RetryRequest req = JOBD__V1__RETRY_REQUEST__INIT;

	req.id = id;
	TYPED_CALL(c, "Retry", &req.base, Jobd__V1__RetryReply,
	           &jobd__v1__retry_reply__descriptor, reply, 0);
}

int
jobd_pause(jobd_client *c, const char *kind, Jobd__V1__PauseReply **reply)
{
	Jobd__V1__PauseRequest req = JOBD__V1__PAUSE_REQUEST__INIT;

	if (kind == NULL) {
		if (reply != NULL)
			*reply = NULL;
		return (jc_set_err(JOBD_INVALID_ARGUMENT, "no kind"));
	}
	req.kind = (char *) kind;
	TYPED_CALL(c, "Pause", &req.base, Jobd__V1__PauseReply,
	           &jobd__v1__pause_reply__descriptor, reply, 0);
}

int
jobd_resume(jobd_client *c, const char *kind, Jobd__V1__ResumeReply **reply)
{
	Jobd__V1__ResumeRequest req = JOBD__V1__RESUME_REQUEST__INIT;

	if (kind == NULL) {
		if (reply != NULL)
			*reply = NULL;
		return (jc_set_err(JOBD_INVALID_ARGUMENT, "no kind"));
	}
	req.kind = (char *) kind;
	TYPED_CALL(c, "Resume", &req.base, Jobd__V1__ResumeReply,
	           &jobd__v1__resume_reply__descriptor, reply, 0);
}

int
jobd_schedules(jobd_client *c, Jobd__V1__SchedulesReply **reply)
{
	Jobd__V1__SchedulesRequest req = JOBD__V1__SCHEDULES_REQUEST__INIT;

	TYPED_CALL(c, "Schedules", &req.base, Jobd__V1__SchedulesReply,
	           &jobd__v1__schedules_reply__descriptor, reply, 0);
}

/* Fills buf with n random bytes; false if the kernel gave none. */
static bool
random_bytes(uint8_t *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;
	int fd;

	while (got < n) {
		r = getrandom(buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t) r;
	}
	if (got == n)
		return (true);
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0)
		return (false);
	while (got < n) {
		r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t) r;
	}
	close(fd);
	return (got == n);
}

/* splitmix64: mixes a last-resort seed when the kernel has no randomness. */
static uint64_t
mix64(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (x ^ (x >> 31));
}

void
jobd_new_key(char buf[33])
{
	static const char hex[] = "0123456789abcdef";
	static _Thread_local uint64_t counter;
	uint8_t r[16];

	if (buf == NULL)
		return;
	if (!random_bytes(r, sizeof(r))) {
		struct timespec ts;
		uint64_t a;
		uint64_t b;

		clock_gettime(CLOCK_REALTIME, &ts);
		a = mix64(((uint64_t) ts.tv_sec * 1000000000u +
		           (uint64_t) ts.tv_nsec) ^
		          ((uint64_t) getpid() << 32));
		b = mix64(a ^ ++counter ^ (uint64_t) (uintptr_t) &counter);
		memcpy(r, &a, 8);
		memcpy(r + 8, &b, 8);
	}
	for (size_t i = 0; i < sizeof(r); i++) {
		buf[2 * i] = hex[r[i] >> 4];
		buf[2 * i + 1] = hex[r[i] & 0xf];
	}
	buf[32] = '\0';
}

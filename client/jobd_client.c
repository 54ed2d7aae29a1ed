/*
 * jobd_client: the C client of jobd's wire contract (proto/jobd.proto).
 *
 * A client is one nng REQ socket dialed to the daemon, plus the address (for
 * messages), the default timeout and the metadata sent with every request.
 * The first dial is blocking, so an address where nothing listens fails at
 * open; after that nng reconnects by itself, and a request made while the
 * daemon is away waits (within its deadline) for it to come back.
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
 * are reads or idempotent anyway.
 *
 * TLS: for a tls+tcp:// address the client always verifies jobd's
 * certificate against the CA file it is given, for the address's host name
 * or the server name it is given; it has no "insecure" mode. The PEM files
 * are read here, so that a message can name the file that is wrong; the
 * private key's bytes are wiped once nng has parsed them. The dialer holds
 * the configuration from then on, also for reconnections.
 *
 * Errors: every failure returns a jobd_status and leaves a message in a
 * thread-local buffer, read with jobd_client_errmsg().
 *
 * Asynchronous calls (jobd_call_async) build the same envelope and read the
 * same Response as jobd_call (make_request, read_response), on a `struct
 * acall`: one context, one aio and what the completion needs. Its aio's
 * callback runs twice, on nng's threads: when the request went out (it
 * posts the receive on the same aio) and when the reply came or the call
 * failed (it decodes, calls done, and puts the acall on the client's idle
 * list). A later call takes an idle acall, context and aio included, so
 * that a client with N calls in flight allocates N of them once. A REQ
 * context may send again once a call on it ended: the new request has a new
 * id, and a late reply to the old one finds no context waiting for it. An
 * aio cannot be freed from its own callback; idle acalls are freed by
 * jobd_client_close(), after the last callback, so that when close returns
 * nothing of the client is left for nng's threads (a program may call
 * nng_fini() next).
 *
 * Closing with calls in flight: close marks the client closing (a call
 * started then, from a done, is refused), cancels the calls whose request
 * has not gone out, and gives those whose request has up to
 * CLIENT_DRAIN_MS to take their replies; then it cancels the rest and waits
 * until every done has run. A call cancelled reports JOBD_CANCELLED; one
 * whose reply came during the drain reports it. The drain is for nng
 * 1.5.2: a message that arrives while its connection closes can leave the
 * pipe's receive pending for good (the transport re-arms its read on an aio
 * already closed), and nng_close() then never returns. Calls answered at
 * once are answered within the drain; a parked call (a Wait) whose answer
 * comes just as the socket closes still can hit it.
 *
 * Locking: `mtx` guards `timeout_ms` and the metadata, which a call reads
 * while it builds its envelope. `amtx` guards the asynchronous calls: the
 * list in flight, the idle list, each call's `sent`, `cancelling` and
 * `closing`'s changes. A call is sent,
 * and its receive posted, under `amtx`, so that close's cancel cannot fall
 * between a check of `closing` and the operation it would cancel. Both are
 * leaves: no nng function called under them runs a callback of ours or
 * waits for one (nng dispatches completions to its task threads), and
 * neither is held while done() runs.
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

#include "jobd_client.h"

#define CLIENT_TIMEOUT_MS   10000u      /* default per-call timeout */
#define CLIENT_MARGIN_MS    1000u       /* waited beyond the deadline sent */
#define CLIENT_DRAIN_MS     100u        /* close: for replies already coming */
#define CLIENT_RECV_MAX     (16u << 20) /* largest reply accepted */
#define CLIENT_MAX_METADATA 64u         /* entries set with set_metadata */
#define CLIENT_MAX_PEM      (1u << 20)  /* largest TLS file read */
/* jobd's largest request (request_bytes in daemon/limit.h): a larger one
 * would be refused, or its connection closed, so it is not sent */
#define CLIENT_MAX_REQUEST (2u << 20)

struct meta {
	char *key;
	char *value;
};

/* The name of a call's method as kept for its messages. */
#define ACALL_METHOD_MAX 32u

/* One asynchronous call; idle between calls, its context and aio kept. */
struct acall {
	struct acall *prev; /* in c->calls (in flight) or c->idle (next) */
	struct acall *next;
	jobd_client *c;
	nng_aio *aio; /* its callback: acall_cb */
	nng_ctx ctx;
	bool sent; /* the request went out (under c->amtx) */
	jobd_done_fn done;
	void *arg;
	const ProtobufCMessageDescriptor *reply_desc;
	nng_time end;      /* when the reply is due, the margin included */
	uint32_t deadline; /* the deadline sent, for messages */
	char method[ACALL_METHOD_MAX];
};

struct jobd_client {
	nng_socket sock;
	char *url;
	nng_mtx *mtx;
	uint32_t timeout_ms;
	struct meta *meta;
	size_t nmeta;
	nng_mtx *amtx;
	nng_cv *acv;         /* close waits here for calls to end */
	struct acall *calls; /* in flight: done not yet returned */
	struct acall *idle;  /* ended, for reuse; freed by close */
	atomic_bool closing; /* no new calls; set under amtx */
	bool cancelling;     /* close's drain is over: no new receives */
};

static _Thread_local char errbuf[512];

static int set_err(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
set_err(int code, const char *fmt, ...)
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
static int
net_err(const jobd_client *c, int rv, uint32_t deadline_ms)
{
	switch (rv) {
	case NNG_ETIMEDOUT:
		return (set_err(JOBD_DEADLINE_EXCEEDED,
		                "no reply from jobd at '%s' within %u ms",
		                c->url, (unsigned) deadline_ms));
	case NNG_ENOMEM:
		return (set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	case NNG_ECLOSED:
		return (set_err(JOBD_UNAVAILABLE,
		                "client of jobd at '%s' is closed", c->url));
	default:
		return (set_err(JOBD_UNAVAILABLE,
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
		return (set_err(JOBD_INVALID_ARGUMENT,
		                "invalid address '%s': %s", url,
		                nng_strerror(rv)));
	case NNG_ENOMEM:
		return (set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	case NNG_ECONNSHUT:
		/* what a TLS listener does to a client that speaks plain */
		if (strncmp(url, "tls+", 4) != 0)
			return (set_err(JOBD_UNAVAILABLE,
			                "cannot reach jobd at '%s': %s (if it "
			                "serves TLS there, the address is "
			                "tls+tcp://)",
			                url, nng_strerror(rv)));
		/* FALLTHROUGH */
	default:
		return (set_err(JOBD_UNAVAILABLE,
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
		return (set_err(
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
		return (set_err(JOBD_UNAVAILABLE,
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
		return (set_err(JOBD_INVALID_ARGUMENT,
		                "cannot read %s '%s': %s", what, path,
		                strerror(errno)));
	if ((buf = malloc(CLIENT_MAX_PEM + 1)) == NULL) {
		fclose(f);
		return (set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	}
	while (len < CLIENT_MAX_PEM &&
	       (n = fread(buf + len, 1, CLIENT_MAX_PEM - len, f)) > 0)
		len += n;
	if (ferror(f) || (len == CLIENT_MAX_PEM && fgetc(f) != EOF)) {
		int e = ferror(f) ? errno : EFBIG;
		explicit_bzero(buf, len);
		free(buf);
		fclose(f);
		return (set_err(JOBD_INVALID_ARGUMENT,
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
		return (set_err(JOBD_INVALID_ARGUMENT,
		                "a TLS client certificate needs its key file "
		                "and a key its certificate file"));
	if ((st = read_pem(tls->cert_file, "TLS certificate file", &cert,
	                   &clen)) != JOBD_OK)
		goto out;
	if ((st = read_pem(tls->key_file, "TLS key file", &key, &klen)) !=
	    JOBD_OK)
		goto out;
	if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0)
		st = set_err(JOBD_INVALID_ARGUMENT,
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
		return (set_err(JOBD_INVALID_ARGUMENT,
		                "TLS address '%s' needs a CA file to verify "
		                "jobd's certificate",
		                url));
	if (tls->server_name != NULL && *tls->server_name == '\0')
		return (
		    set_err(JOBD_INVALID_ARGUMENT, "empty TLS server name"));
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
		st = set_err(JOBD_INTERNAL, "cannot set up TLS: %s",
		             nng_strerror(rv));
		goto out;
	}
	if ((rv = nng_tls_config_ca_chain(cfg, ca, NULL)) != 0) {
		st = set_err(JOBD_INVALID_ARGUMENT,
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
 * handshake fails (with cfg, made by tls_config() from tls). */
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
	if (cfg == NULL) {
		if ((rv = nng_dialer_start(d, 0)) != 0)
			return (dial_err(url, rv));
		return (JOBD_OK);
	}
	if ((rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0)
		return (set_err(JOBD_INTERNAL, "cannot set up TLS for '%s': %s",
		                url, nng_strerror(rv)));
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
		return (set_err(JOBD_INVALID_ARGUMENT, "no client pointer"));
	*cp = NULL;
	if (url == NULL || *url == '\0')
		return (set_err(JOBD_INVALID_ARGUMENT,
		                "invalid address '': empty"));
	if (strncmp(url, "tls+", 4) == 0) {
		if ((st = tls_config(&cfg, url, tls)) != JOBD_OK)
			return (st);
	} else if (tls_given(tls)) {
		return (set_err(JOBD_INVALID_ARGUMENT,
		                "TLS settings are given, but '%s' is not a "
		                "tls+tcp:// address",
		                url));
	}
	st = set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory");
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
	atomic_init(&c->closing, false);
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		st = set_err(JOBD_INTERNAL, "cannot open a REQ socket: %s",
		             nng_strerror(rv));
		goto fail_sock;
	}
	rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, CLIENT_RECV_MAX);
	if (rv != 0) {
		st = set_err(JOBD_INTERNAL, "cannot set '%s': %s",
		             NNG_OPT_RECVMAXSZ, nng_strerror(rv));
		goto fail_dial;
	}
	if ((st = dial(c, url, cfg, tls)) != JOBD_OK)
		goto fail_dial;
	if (cfg != NULL)
		nng_tls_config_free(cfg); /* the dialer holds it */
	*cp = c;
	return (JOBD_OK);

fail_dial:
	nng_close(c->sock);
fail_sock:
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

/*
 * Ends the asynchronous calls in flight: those not sent are cancelled at
 * once, those sent get CLIENT_DRAIN_MS to take their replies (see the top
 * of the file), then the rest are cancelled; waits until each has called
 * its done (a done may be running now, on another thread); then frees the
 * idle acalls. A callback touches the client last under amtx, while it
 * moves its acall to the idle list; nng_aio_free() waits for the rest of
 * the callback to return.
 */
static void
calls_end(jobd_client *c)
{
	nng_time drained = nng_clock() + CLIENT_DRAIN_MS;
	struct acall *a;
	struct acall *next;

	nng_mtx_lock(c->amtx);
	atomic_store(&c->closing, true);
	for (a = c->calls; a != NULL; a = a->next)
		if (!a->sent)
			nng_aio_cancel(a->aio);
	while (c->calls != NULL && nng_clock() < drained)
		(void) nng_cv_until(c->acv, drained);
	c->cancelling = true;
	for (a = c->calls; a != NULL; a = a->next)
		nng_aio_cancel(a->aio);
	while (c->calls != NULL)
		nng_cv_wait(c->acv);
	a = c->idle;
	c->idle = NULL;
	nng_mtx_unlock(c->amtx);
	for (; a != NULL; a = next) {
		next = a->next;
		nng_aio_free(a->aio);
		nng_ctx_close(a->ctx);
		free(a);
	}
}

void
jobd_client_close(jobd_client *c)
{
	if (c == NULL)
		return;
	calls_end(c);
	nng_close(c->sock);
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
		return (set_err(
		    JOBD_INVALID_ARGUMENT,
		    "metadata needs a client, a non-empty key and a value"));
	if ((v = dup_str(value)) == NULL)
		return (set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
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
		return (set_err(JOBD_RESOURCE_EXHAUSTED,
		                "too many metadata entries (at most %u)",
		                CLIENT_MAX_METADATA));
	}
	m = realloc(c->meta, (c->nmeta + 1) * sizeof(*m));
	if (m != NULL)
		c->meta = m;
	if (m == NULL || (k = dup_str(key)) == NULL) {
		nng_mtx_unlock(c->mtx);
		free(v);
		return (set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
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
		return (set_err(JOBD_INVALID_ARGUMENT, "empty token"));
	n = strlen(token);
	if ((v = malloc(sizeof(scheme) + n)) == NULL)
		return (set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
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
static int
make_request(jobd_client *c, const char *method, const ProtobufCMessage *req,
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
		return (set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	protobuf_c_message_pack(req, body);

	nng_mtx_lock(c->mtx);
	*deadline = deadline_ms != 0 ? deadline_ms : c->timeout_ms;
	if (c->nmeta > 0) {
		ents = calloc(c->nmeta, sizeof(*ents));
		ptrs = calloc(c->nmeta, sizeof(*ptrs));
		if (ents == NULL || ptrs == NULL) {
			st = set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory");
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
		st = set_err(JOBD_RESOURCE_EXHAUSTED,
		             "%s request of %zu bytes is larger than jobd's "
		             "limit of %u; not sent",
		             method, elen, CLIENT_MAX_REQUEST);
		goto done;
	}
	if (nng_msg_alloc(&msg, elen) != 0) {
		st = set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory");
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
static nng_duration
call_budget(uint32_t deadline)
{
	if ((uint64_t) deadline + CLIENT_MARGIN_MS > INT32_MAX)
		return (INT32_MAX);
	return ((nng_duration) (deadline + CLIENT_MARGIN_MS));
}

/* The timeout of a receive that must end by `end`. */
static nng_duration
time_left(nng_time end)
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
	nng_duration budget = call_budget(deadline);
	nng_time end = nng_clock() + (nng_time) budget;
	int rv;

	if ((rv = nng_ctx_open(&ctx, c->sock)) != 0) {
		nng_msg_free(*msgp);
		*msgp = NULL;
		return (net_err(c, rv, deadline));
	}
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_ctx_close(ctx);
		nng_msg_free(*msgp);
		*msgp = NULL;
		return (net_err(c, rv, deadline));
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

	nng_aio_set_timeout(aio, time_left(end));
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
	return (net_err(c, rv, deadline));
}

/* Unpacks the Response in msg and then its body with reply_desc. */
static int
read_response(jobd_client *c, const char *method, nng_msg *msg,
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
		return (
		    set_err(JOBD_INTERNAL,
		            "malformed reply from jobd at '%s': not a Response "
		            "(%zu bytes)",
		            c->url, nng_msg_len(msg)));
	if (resp->code != JOBD__V1__CODE__OK) {
		code = (int) resp->code;
		const char *m = resp->message != NULL ? resp->message : "";
		if (code < JOBD_OK || code > JOBD_UNAUTHENTICATED) {
			set_err(JOBD_UNKNOWN,
			        "jobd answered unknown code %d%s%s", code,
			        *m != '\0' ? ": " : "", m);
			code = JOBD_UNKNOWN;
		} else if (*m == '\0') {
			set_err(code, "jobd answered %s without a message",
			        jobd_status_name(code));
		} else {
			set_err(code, "%s", m);
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
		    set_err(JOBD_INTERNAL,
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
		return (set_err(
		    JOBD_INVALID_ARGUMENT,
		    "jobd_call needs a client, a method, a request, a reply "
		    "descriptor and a reply pointer"));
	if ((st = make_request(c, method, req, deadline_ms, &deadline, &msg)) !=
	    JOBD_OK)
		return (st);
	if ((st = exchange(c, &msg, deadline)) != JOBD_OK)
		return (st);
	st = read_response(c, method, msg, reply_desc, reply);
	nng_msg_free(msg);
	return (st);
}

/* jobd_call for a typed reply pointer, without aliasing it as another type. */
#define TYPED_CALL(c, method, req, type, desc, reply, deadline)                \
	do {                                                                   \
		ProtobufCMessage *m_;                                          \
		int st_;                                                       \
		if ((reply) == NULL)                                           \
			return (set_err(JOBD_INVALID_ARGUMENT,                 \
			                "no reply pointer"));                  \
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
		return (set_err(JOBD_INVALID_ARGUMENT, "no request"));
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
		return (set_err(JOBD_INVALID_ARGUMENT, "no request"));
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
		return (set_err(JOBD_INVALID_ARGUMENT, "no ids"));
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
		return (set_err(JOBD_INVALID_ARGUMENT, "no request"));
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

/* Unlinks a from c->calls. Under c->amtx. */
static void
calls_remove(jobd_client *c, struct acall *a)
{
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		c->calls = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	a->prev = NULL;
	a->next = NULL;
}

/*
 * The last completion of a: decodes the reply (rv 0) or names the error,
 * calls done, and puts a on the idle list. After that a belongs to the
 * next call, and this callback touches nothing of the client again.
 */
static void
acall_end(struct acall *a, int rv)
{
	jobd_client *c = a->c;
	ProtobufCMessage *reply = NULL;
	char msg[sizeof(errbuf)];
	nng_msg *m = nng_aio_get_msg(a->aio);
	int st;

	/* the reply; or, after a failed send, the request given back */
	nng_aio_set_msg(a->aio, NULL);
	if (rv == 0)
		st = read_response(c, a->method, m, a->reply_desc, &reply);
	else if (atomic_load(&c->closing))
		st = set_err(JOBD_CANCELLED, "the client was closed");
	else
		st = net_err(c, rv, a->deadline);
	if (m != NULL)
		nng_msg_free(m);
	/* errbuf is this thread's: a call that done starts may reuse it */
	if (st != JOBD_OK)
		memcpy(msg, errbuf, sizeof(msg));
	else
		msg[0] = '\0';
	a->done(a->arg, st, reply, msg);

	nng_mtx_lock(c->amtx);
	calls_remove(c, a);
	a->next = c->idle;
	c->idle = a;
	if (c->calls == NULL && atomic_load(&c->closing))
		nng_cv_wake(c->acv);
	nng_mtx_unlock(c->amtx);
}

/* The aio callback of an asynchronous call, on one of nng's threads. */
static void
acall_cb(void *arg)
{
	struct acall *a = arg;
	jobd_client *c = a->c;
	int rv = nng_aio_result(a->aio);

	if (a->sent || rv != 0) {
		acall_end(a, rv);
		return;
	}
	/* sent: now the reply, on the same aio, unless close's drain is
	 * over (during the drain, a reply on its way is still taken) */
	nng_mtx_lock(c->amtx);
	a->sent = true;
	if (!c->cancelling) {
		nng_aio_set_timeout(a->aio, time_left(a->end));
		nng_ctx_recv(a->ctx, a->aio);
		nng_mtx_unlock(c->amtx);
		return;
	}
	nng_mtx_unlock(c->amtx);
	acall_end(a, NNG_ECANCELED);
}

/* An idle acall of c, or a new one, in *ap. */
static int
acall_get(jobd_client *c, struct acall **ap)
{
	struct acall *a;
	int rv;

	nng_mtx_lock(c->amtx);
	if ((a = c->idle) != NULL)
		c->idle = a->next;
	nng_mtx_unlock(c->amtx);
	if (a != NULL) {
		a->next = NULL;
		*ap = a;
		return (JOBD_OK);
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return (set_err(JOBD_RESOURCE_EXHAUSTED, "out of memory"));
	a->c = c;
	if ((rv = nng_aio_alloc(&a->aio, acall_cb, a)) != 0) {
		free(a);
		return (net_err(c, rv, 0));
	}
	if ((rv = nng_ctx_open(&a->ctx, c->sock)) != 0) {
		nng_aio_free(a->aio);
		free(a);
		return (net_err(c, rv, 0));
	}
	*ap = a;
	return (JOBD_OK);
}

int
jobd_call_async(jobd_client *c, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *reply_desc,
                uint32_t deadline_ms, jobd_done_fn done, void *arg)
{
	struct acall *a = NULL;
	nng_msg *msg = NULL;
	uint32_t deadline = 0;
	nng_duration budget;
	int st;

	if (c == NULL || method == NULL || *method == '\0' || req == NULL ||
	    req->descriptor == NULL || reply_desc == NULL || done == NULL)
		return (set_err(JOBD_INVALID_ARGUMENT,
		                "jobd_call_async needs a client, a method, a "
		                "request, a reply descriptor and a done "
		                "function"));
	if (atomic_load(&c->closing))
		return (set_err(JOBD_CANCELLED, "the client was closed"));
	if ((st = make_request(c, method, req, deadline_ms, &deadline, &msg)) !=
	    JOBD_OK)
		return (st);
	if ((st = acall_get(c, &a)) != JOBD_OK) {
		nng_msg_free(msg);
		return (st);
	}
	budget = call_budget(deadline);
	a->sent = false;
	a->done = done;
	a->arg = arg;
	a->reply_desc = reply_desc;
	a->deadline = deadline;
	a->end = nng_clock() + (nng_time) budget;
	snprintf(a->method, sizeof(a->method), "%s", method);
	nng_aio_set_msg(a->aio, msg);
	nng_aio_set_timeout(a->aio, budget);

	nng_mtx_lock(c->amtx);
	if (atomic_load(&c->closing)) {
		/* a done starting a call while close waits for it; once on
		 * the idle list, a is another call's */
		nng_aio_set_msg(a->aio, NULL);
		a->next = c->idle;
		c->idle = a;
		nng_mtx_unlock(c->amtx);
		nng_msg_free(msg);
		return (set_err(JOBD_CANCELLED, "the client was closed"));
	}
	a->prev = NULL;
	a->next = c->calls;
	if (c->calls != NULL)
		c->calls->prev = a;
	c->calls = a;
	nng_ctx_send(a->ctx, a->aio);
	nng_mtx_unlock(c->amtx);
	return (JOBD_OK);
}

int
jobd_submit_async(jobd_client *c, const Jobd__V1__SubmitRequest *req,
                  jobd_done_fn done, void *arg)
{
	if (req == NULL)
		return (set_err(JOBD_INVALID_ARGUMENT, "no request"));
	return (jobd_call_async(c, "Submit", &req->base,
	                        &jobd__v1__submit_reply__descriptor, 0, done,
	                        arg));
}

int
jobd_wait_async(jobd_client *c, uint64_t id, uint32_t deadline_ms,
                jobd_done_fn done, void *arg)
{
	Jobd__V1__WaitRequest req = JOBD__V1__WAIT_REQUEST__INIT;

	req.id = id;
	return (jobd_call_async(c, "Wait", &req.base,
	                        &jobd__v1__wait_reply__descriptor, deadline_ms,
	                        done, arg));
}

int
jobd_get_async(jobd_client *c, const uint64_t *ids, size_t n, jobd_done_fn done,
               void *arg)
{
	Jobd__V1__GetRequest req = JOBD__V1__GET_REQUEST__INIT;

	if (ids == NULL && n > 0)
		return (set_err(JOBD_INVALID_ARGUMENT, "no ids"));
	req.n_ids = n;
	req.ids = (uint64_t *) ids;
	return (jobd_call_async(c, "Get", &req.base,
	                        &jobd__v1__get_reply__descriptor, 0, done,
	                        arg));
}

int
jobd_ping_async(jobd_client *c, jobd_done_fn done, void *arg)
{
	Jobd__V1__PingRequest req = JOBD__V1__PING_REQUEST__INIT;

	return (jobd_call_async(c, "Ping", &req.base,
	                        &jobd__v1__ping_reply__descriptor, 0, done,
	                        arg));
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

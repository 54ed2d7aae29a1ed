/*
 * spraw: a raw SP client for tests (see spraw.h for the wire).
 *
 * Blocking sockets with SO_RCVTIMEO and SO_SNDTIMEO, MSG_NOSIGNAL on every
 * send: a test that uses it can neither hang nor die of SIGPIPE when the
 * daemon closes on it, which is what many of its callers want to see.
 */
#include "spraw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void
set_timeout(int fd, int opt, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

void
spraw_set_recv_timeout(struct spraw *s, int timeout_ms)
{
	set_timeout(s->fd, SO_RCVTIMEO, timeout_ms);
}

void
spraw_set_send_timeout(struct spraw *s, int timeout_ms)
{
	set_timeout(s->fd, SO_SNDTIMEO, timeout_ms);
}

/* Fills sa from url; its length, 0 if url is no loopback address. */
static socklen_t
address(const char *url, struct sockaddr_storage *sa, bool *ipc)
{
	memset(sa, 0, sizeof(*sa));
	if (strncmp(url, "ipc://", 6) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *) sa;
		const char *path = url + 6;
		if (strlen(path) >= sizeof(un->sun_path))
			return 0;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, strlen(path));
		*ipc = true;
		return sizeof(*un);
	}
	if (strncmp(url, "tcp://127.0.0.1:", 16) == 0) {
		struct sockaddr_in *in = (struct sockaddr_in *) sa;
		char *end;
		long port = strtol(url + 16, &end, 10);
		if (*end != '\0' || port <= 0 || port > 65535)
			return 0;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t) port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*ipc = false;
		return sizeof(*in);
	}
	return 0;
}

int
spraw_connect(struct spraw *s, const char *url, int timeout_ms)
{
	struct sockaddr_storage sa;
	socklen_t salen;

	s->fd = -1;
	s->next_id = 1;
	if ((salen = address(url, &sa, &s->ipc)) == 0) {
		errno = EINVAL;
		return -1;
	}
	if ((s->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	set_timeout(s->fd, SO_RCVTIMEO, timeout_ms);
	set_timeout(s->fd, SO_SNDTIMEO, timeout_ms);
	if (connect(s->fd, (struct sockaddr *) &sa, salen) != 0) {
		int e = errno;
		spraw_close(s);
		errno = e;
		return -1;
	}
	return 0;
}

void
spraw_close(struct spraw *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

void
spraw_reset(struct spraw *s)
{
	struct linger l = {1, 0};
	if (s->fd >= 0)
		setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	spraw_close(s);
}

int
spraw_write(struct spraw *s, const void *buf, size_t len, size_t *sent)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int rv = 0;

	while (done < len) {
		ssize_t n = send(s->fd, p + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			rv = -1;
			break;
		}
		done += (size_t) n;
	}
	if (sent != NULL)
		*sent = done;
	return rv;
}

int
spraw_read(struct spraw *s, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(s->fd, p + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = EPIPE;
		if (n <= 0)
			return -1;
		done += (size_t) n;
	}
	return 0;
}

void
spraw_header(uint16_t proto, uint8_t h[8])
{
	static const uint8_t sp[4] = {0, 'S', 'P', 0};
	memcpy(h, sp, 4);
	h[4] = (uint8_t) (proto >> 8);
	h[5] = (uint8_t) proto;
	h[6] = h[7] = 0;
}

int
spraw_handshake(struct spraw *s)
{
	uint8_t hello[8], want[8], peer[8];

	spraw_header(SPRAW_REQ0, hello);
	spraw_header(SPRAW_REP0, want);
	if (spraw_write(s, hello, sizeof(hello), NULL) != 0 ||
	    spraw_read(s, peer, sizeof(peer)) != 0)
		return -1;
	if (memcmp(peer, want, sizeof(peer)) != 0) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

int
spraw_open(struct spraw *s, const char *url, int timeout_ms)
{
	if (spraw_connect(s, url, timeout_ms) != 0)
		return -1;
	if (spraw_handshake(s) != 0) {
		int e = errno;
		spraw_close(s);
		errno = e;
		return -1;
	}
	return 0;
}

int
spraw_frame(struct spraw *s, uint64_t len)
{
	uint8_t head[9];
	size_t n = 0;

	if (s->ipc)
		head[n++] = 1; /* a message */
	for (int i = 0; i < 8; i++)
		head[n++] = (uint8_t) (len >> (56 - 8 * i));
	return spraw_write(s, head, n, NULL);
}

uint8_t *
spraw_message(const struct spraw *s, uint32_t id, const void *body, size_t len,
              size_t *n)
{
	uint8_t *buf = malloc(len + 13);
	size_t k = 0;

	if (buf == NULL)
		return NULL;
	if (s->ipc)
		buf[k++] = 1; /* a message */
	for (int i = 0; i < 8; i++)
		buf[k++] = (uint8_t) ((uint64_t) (len + 4) >> (56 - 8 * i));
	id |= 0x80000000u;
	for (int i = 0; i < 4; i++)
		buf[k++] = (uint8_t) (id >> (24 - 8 * i));
	if (len > 0)
		memcpy(buf + k, body, len);
	*n = k + len;
	return buf;
}

int
spraw_send(struct spraw *s, uint32_t id, const void *body, size_t len)
{
	size_t n;
	uint8_t *buf = spraw_message(s, id, body, len, &n);
	int rv;

	if (buf == NULL)
		return -1;
	rv = spraw_write(s, buf, n, NULL);
	free(buf);
	return rv;
}

uint8_t *
spraw_pack(const Jobd__V1__Request *req, const void *extra, size_t elen,
           size_t *len)
{
	size_t n = jobd__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(n + elen + 1);

	if (buf == NULL)
		return NULL;
	jobd__v1__request__pack(req, buf);
	if (elen > 0)
		memcpy(buf + n, extra, elen);
	*len = n + elen;
	return buf;
}

/* Sends packed request buf (NULL: none, out of memory), which it frees,
 * under a fresh request id; the id, 0 on failure. */
static uint32_t
send_fresh(struct spraw *s, uint8_t *buf, size_t len)
{
	uint32_t id = s->next_id++ & 0x7fffffffu;
	int rv;

	if (buf == NULL)
		return 0;
	if (id == 0)
		id = s->next_id++;
	rv = spraw_send(s, id, buf, len);
	free(buf);
	return rv == 0 ? id : 0;
}

uint32_t
spraw_send_request(struct spraw *s, const Jobd__V1__Request *req,
                   const void *extra, size_t elen)
{
	size_t len = 0;
	uint8_t *buf = spraw_pack(req, extra, elen, &len);
	return send_fresh(s, buf, len);
}

uint8_t *
spraw_envelope(const Jobd__V1__Request *req, const ProtobufCMessage *body,
               size_t *len)
{
	Jobd__V1__Request r = *req;
	uint8_t *b = NULL, *out;

	if (body != NULL) {
		b = malloc(protobuf_c_message_get_packed_size(body) + 1);
		if (b == NULL)
			return NULL;
		r.body.len = protobuf_c_message_pack(body, b);
		r.body.data = b;
	}
	out = spraw_pack(&r, NULL, 0, len);
	free(b);
	return out;
}

uint32_t
spraw_call(struct spraw *s, const char *method, const ProtobufCMessage *body,
           uint32_t deadline_ms)
{
	Jobd__V1__Request req = JOBD__V1__REQUEST__INIT;
	size_t len = 0;
	uint8_t *buf;

	req.method = (char *) method;
	req.deadline_ms = deadline_ms;
	buf = spraw_envelope(&req, body, &len);
	return send_fresh(s, buf, len);
}

int
spraw_recv(struct spraw *s, uint32_t *id, Jobd__V1__Response **resp)
{
	uint8_t head[9], *buf;
	size_t hl = s->ipc ? 9 : 8, off = s->ipc ? 1 : 0;
	uint64_t len = 0;

	*resp = NULL;
	if (spraw_read(s, head, hl) != 0)
		return -1;
	if (s->ipc && head[0] != 1) {
		errno = EPROTO;
		return -1;
	}
	for (int i = 0; i < 8; i++)
		len = (len << 8) | head[off + i];
	if (len < 4 || len > SPRAW_MAX_REPLY) {
		errno = EPROTO;
		return -1;
	}
	if ((buf = malloc(len)) == NULL)
		return -1;
	if (spraw_read(s, buf, len) != 0) {
		int e = errno;
		free(buf);
		errno = e;
		return -1;
	}
	if (!(buf[0] & 0x80)) {
		free(buf);
		errno = EPROTO;
		return -1;
	}
	*id = ((uint32_t) buf[0] << 24 | (uint32_t) buf[1] << 16 |
	       (uint32_t) buf[2] << 8 | buf[3]) &
	      0x7fffffffu;
	*resp = jobd__v1__response__unpack(NULL, len - 4, buf + 4);
	free(buf);
	if (*resp == NULL) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

Jobd__V1__Response *
spraw_roundtrip(struct spraw *s, const char *method,
                const ProtobufCMessage *body, uint32_t deadline_ms)
{
	uint32_t want = spraw_call(s, method, body, deadline_ms), got;
	Jobd__V1__Response *r;

	if (want == 0)
		return NULL;
	for (;;) {
		if (spraw_recv(s, &got, &r) != 0)
			return NULL;
		if (got == want)
			return r;
		if (r != NULL)
			jobd__v1__response__free_unpacked(r, NULL);
	}
}

bool
spraw_readable(struct spraw *s, int timeout_ms)
{
	struct pollfd p = {.fd = s->fd, .events = POLLIN};
	return poll(&p, 1, timeout_ms) == 1;
}

bool
spraw_wait_closed(struct spraw *s, int timeout_ms)
{
	struct timespec t0, t;
	uint8_t buf[65536];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 +
		                          (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || !spraw_readable(s, (int) left))
			return false;
		ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
}

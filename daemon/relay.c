/*
 * relay: epoll descriptors and the byte pump of the gates in front of
 * nng's listeners (relay.h). No state of its own: the gates' threads own
 * their descriptors and buffers.
 */
#include "relay.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PUMP_ROUNDS 8 /* buffers moved per call, for fairness */

int
relay_end_add(int ep, struct relay_end *e, uint32_t ev)
{
	struct epoll_event ee = {.events = ev, .data.ptr = e};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, e->fd, &ee) != 0)
		return -1;
	e->ev = ev;
	return 0;
}

void
relay_end_arm(int ep, struct relay_end *e, uint32_t ev)
{
	struct epoll_event ee = {.events = ev, .data.ptr = e};
	if (e->fd < 0 || e->ev == ev)
		return;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, e->fd, &ee) == 0)
		e->ev = ev;
}

void
relay_end_close(int ep, struct relay_end *e)
{
	if (e->fd < 0)
		return;
	(void) epoll_ctl(ep, EPOLL_CTL_DEL, e->fd, NULL);
	(void) close(e->fd);
	e->fd = -1;
}

int
relay_pump(int from, int to, struct relay_buf *b, relay_seen_fn seen, void *arg)
{
	ssize_t n;
	int moved = 0;

	for (int i = 0; i < PUMP_ROUNDS; i++) {
		if (b->off < b->len) {
			n = send(to, b->b + b->off, b->len - b->off,
			         MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR ? moved
				                                         : -1;
			moved += (int) n;
			b->off += (size_t) n;
			if (b->off < b->len)
				return moved; /* `to` is full */
			b->off = b->len = 0;
		}
		if (from < 0)
			return moved;
		n = recv(from, b->b, sizeof(b->b), 0);
		if (n == 0)
			return RELAY_EOF;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? moved : -1;
		if (seen != NULL && seen(arg, b->b, (size_t) n) < 0)
			return -1;
		moved += (int) n;
		b->len = (size_t) n;
	}
	return moved;
}

bool
relay_pending(const struct relay_buf *b)
{
	return b != NULL && b->off < b->len;
}

/*
 * relay: epoll descriptors, the byte pump and the thread of the gates in
 * front of nng's listeners (relay.h). No state of its own: the gates'
 * threads own their descriptors and buffers.
 */
#include "relay.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define PUMP_ROUNDS 8     /* buffers moved per call, for fairness */
#define EVENTS      64    /* events taken per epoll_wait */
#define WARN_MS     60000 /* the same warning at most this often */

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

bool
relay_may_warn(int64_t *last, int64_t now)
{
	if (*last != 0 && now - *last < WARN_MS)
		return false;
	*last = now;
	return true;
}

/* ---- the thread --------------------------------------------------------- */

void
relay_loop_init(struct relay_loop *l, const char *name,
                void (*on_event)(void *, struct relay_end *, uint32_t, int64_t),
                int (*after)(void *, int64_t), void *arg)
{
	l->ep = -1;
	l->wake = (struct relay_end){NULL, -1, 0};
	l->name = name;
	l->on_event = on_event;
	l->after = after;
	l->arg = arg;
	l->started = false;
	atomic_init(&l->stop, false);
}

int
relay_loop_open(struct relay_loop *l)
{
	if ((l->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (l->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    relay_end_add(l->ep, &l->wake, EPOLLIN) != 0)
		return -1;
	return 0;
}

static void *
loop_main(void *arg)
{
	struct relay_loop *l = arg;
	struct epoll_event evs[EVENTS];
	int n, timeout = -1;
	int64_t now;
	pthread_setname_np(pthread_self(), l->name); /* top -H */

	while (!atomic_load(&l->stop)) {
		n = epoll_wait(l->ep, evs, EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("%s: epoll_wait: %s", l->name,
			          strerror(errno));
			break;
		}
		now = clock_ms(CLOCK_MONOTONIC);
		for (int i = 0; i < n; i++) {
			struct relay_end *e = evs[i].data.ptr;
			if (e != &l->wake) /* the wake: l->stop */
				l->on_event(l->arg, e, evs[i].events, now);
		}
		timeout = l->after(l->arg, now);
	}
	return NULL;
}

int
relay_loop_start(struct relay_loop *l)
{
	int rv = pthread_create(&l->thread, NULL, loop_main, l);
	if (rv == 0)
		l->started = true;
	return rv;
}

void
relay_loop_stop(struct relay_loop *l)
{
	uint64_t one = 1;

	if (!l->started)
		return;
	atomic_store(&l->stop, true);
	if (write(l->wake.fd, &one, sizeof(one)) < 0)
		log_error("%s: cannot wake its thread: %s", l->name,
		          strerror(errno));
	pthread_join(l->thread, NULL);
	l->started = false;
}

void
relay_loop_close(struct relay_loop *l)
{
	if (l->wake.fd >= 0)
		(void) close(l->wake.fd);
	if (l->ep >= 0)
		(void) close(l->ep);
	l->wake.fd = l->ep = -1;
}

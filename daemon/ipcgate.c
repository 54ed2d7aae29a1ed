/*
 * ipcgate: the ipc:// listener in front of nng's.
 *
 * Why. nng 1.5.2's ipc transport (Debian 12's; fixed in nng 1.6.0, nng
 * issue #1518) hands the error of a failed SP negotiation to the listener's
 * pending accept. When the client has already gone, nng's first write (its
 * header) fails with EPIPE, which nng maps to NNG_ECLOSED, and the listener
 * takes NNG_ECLOSED for "I was closed": it never accepts again. One
 * `connect(); close();` by any local user who can reach the socket would
 * stop jobd taking connections on that address for good. (tcp:// and
 * tls+tcp:// are not affected: a TCP socket whose peer has gone reports
 * ECONNRESET or an end of file first, never EPIPE, and the listener goes on
 * after those.)
 *
 * How. The gate owns the public path. Its one thread accepts there, reads
 * each connection's 8-byte SP header (within IPCGATE_HANDSHAKE_MS; a
 * close, a reset, a timeout, or a header that is not the expected peer's
 * closes it quietly, counted), and only then connects to nng's listener on
 * a private path (PATH.gate/s, in a directory only jobd's user may enter),
 * writes the header there, and waits for nng's header: once it has come,
 * nng's negotiation is complete, and any close is an ordinary pipe close.
 * The gate never closes its connection to nng before nng's header has
 * arrived, whatever the client does meanwhile. nng's header goes back to
 * the client, and the gate relays bytes both ways through RELAY_BUF per
 * direction, reading a side only once what it read from it has been
 * written on: a side that does not read holds back the other (backpressure
 * reaches the sender through its socket buffer). An end of file, an error
 * or a hang-up on either side closes both, as nng does with its own pipes.
 *
 * Limits. A connection that has not sent its header is one of at most
 * IPCGATE_MAX_HANDSHAKES; the oldest is closed to make room for a new one
 * (a client that means it sends its header at once). All connections
 * together are at most IPCGATE_MAX_CONNS, fewer under a low open-file
 * limit; at the limit the gate stops accepting (with a line in the log)
 * until one closes, and new ones wait in the kernel's backlog.
 *
 * One server per path. Before binding, the gate connect()s to PATH: if
 * that succeeds, another process serves it, and jobd refuses to start.
 * The probe sends a REQ's header and reads the reply header before it
 * closes, so that it cannot harm even a server without a gate (whose nng
 * would die of an early close). A refused connect means a stale socket
 * file, which is removed, as nng does. A file that is not a socket is
 * refused, never removed.
 *
 * Threads: the gate's thread (relay.c's loop) alone touches the
 * connections; ipcgate_close() wakes it through an eventfd and joins it. The
 * counters are atomics that any thread may read.
 */
#include "ipcgate.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "jobd_status.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"

#define HEAD_LEN     8    /* an SP header: 0 'S' 'P' 0, protocol, 0 0 */
#define PROBE_MS     2000 /* for the reply header of another server */
#define ACCEPT_BURST 64   /* connections accepted per event */
#define PAUSE_MS     100  /* no accepting after EMFILE and the like */

enum cstate {
	C_HEAD,  /* reading the client's header */
	C_NNG,   /* header sent to nng; waiting for nng's */
	C_RELAY, /* relaying both ways */
};

struct conn {
	struct relay_end cl; /* the client */
	struct relay_end nn; /* the gate's connection to nng */
	enum cstate st;
	bool dead;
	uint8_t head[HEAD_LEN]; /* the client's header, then nng's */
	size_t got;
	int64_t deadline;       /* C_HEAD: for the header (monotonic ms) */
	struct relay_buf *up;   /* client -> nng (from C_NNG on) */
	struct relay_buf *down; /* nng -> client */
	struct conn *prev, *next;
};

struct clist {
	struct conn *head, *tail;
	size_t n;
};

struct ipcgate {
	char url[IPCGATE_URL_MAX + 16];
	char path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
	char dir[sizeof(((struct sockaddr_un *) 0)->sun_path)];
	char inner[sizeof(((struct sockaddr_un *) 0)->sun_path) + 8];
	struct sockaddr_un inner_sa;
	dev_t dev; /* of the socket file bound at path */
	ino_t ino;
	uint16_t peer;
	struct relay_end lend; /* the listening socket */
	struct relay_loop loop;

	/* the gate's thread's alone */
	struct clist hs;   /* C_HEAD, oldest first */
	struct clist live; /* C_NNG and C_RELAY */
	struct conn *zombies;
	size_t cap;
	bool accepting;
	int64_t resume_at; /* paused after an accept error: when to resume */
	int64_t warned_cap, warned_nng, warned_accept;

	_Atomic uint64_t accepted, relayed, early, bad, evicted, open;
};

static void
count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t
get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Logs at most once a minute per *last. */
static bool
may_warn(int64_t *last)
{
	return relay_may_warn(last, clock_ms(CLOCK_MONOTONIC));
}

/* ---- lists ----------------------------------------------------------- */

static void
clist_add(struct clist *l, struct conn *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

static void
clist_del(struct clist *l, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
	l->n--;
}

/* ---- descriptors ----------------------------------------------------- */

static void
set_accepting(ipcgate *g, bool on)
{
	if (g->accepting == on)
		return;
	g->accepting = on;
	relay_end_arm(g->loop.ep, &g->lend, on ? EPOLLIN : 0);
}

/* ---- connections ----------------------------------------------------- */

/* Closes both sides and puts c on the list freed after this batch of
 * events (a later event of the batch may still name it). */
static void
conn_kill(ipcgate *g, struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	relay_end_close(g->loop.ep, &c->cl);
	relay_end_close(g->loop.ep, &c->nn);
	clist_del(c->st == C_HEAD ? &g->hs : &g->live, c);
	c->next = g->zombies;
	g->zombies = c;
	atomic_fetch_sub_explicit(&g->open, 1, memory_order_relaxed);
	metrics_gate(METRICS_GATE_IPC, MG_CLOSED);
	if (!g->accepting && g->resume_at == 0 && g->hs.n + g->live.n < g->cap)
		set_accepting(g, true);
}

static void
free_zombies(ipcgate *g)
{
	for (struct conn *c = g->zombies, *next; c != NULL; c = next) {
		next = c->next;
		free(c->up);
		free(c->down);
		free(c);
	}
	g->zombies = NULL;
}

/* The client left or failed before its header. */
static void
conn_early(ipcgate *g, struct conn *c, const char *why)
{
	count(&g->early);
	metrics_gate(METRICS_GATE_IPC, MG_EARLY);
	log_debug("ipc gate '%s': a connection %s before its SP header",
	          g->path, why);
	conn_kill(g, c);
}

/* Registers c's descriptors for what its state waits for. */
static void
conn_arm(ipcgate *g, struct conn *c)
{
	uint32_t cl = 0, nn = 0;

	switch (c->st) {
	case C_HEAD:
		cl = EPOLLIN;
		break;
	case C_NNG:
		/* the client's bytes stay in its socket until nng answered;
		 * its hang-up is reported all the same */
		nn = EPOLLIN | (relay_pending(c->up) ? EPOLLOUT : 0);
		break;
	case C_RELAY:
		cl = (relay_pending(c->up) ? 0 : EPOLLIN) |
		     (relay_pending(c->down) ? EPOLLOUT : 0);
		nn = (relay_pending(c->down) ? 0 : EPOLLIN) |
		     (relay_pending(c->up) ? EPOLLOUT : 0);
		break;
	}
	relay_end_arm(g->loop.ep, &c->cl, cl);
	relay_end_arm(g->loop.ep, &c->nn, nn);
}

static bool
head_ok(const uint8_t *h, uint16_t proto)
{
	return h[0] == 0 && h[1] == 'S' && h[2] == 'P' && h[3] == 0 &&
	       h[4] == (uint8_t) (proto >> 8) &&
	       h[5] == (uint8_t) (proto & 0xff) && h[6] == 0 && h[7] == 0;
}

/* The client's header is good: connect to nng and send it there. Every
 * step that can fail comes before the connect(): once connected, the
 * connection is only closed after nng's header has come. */
static void
conn_to_nng(ipcgate *g, struct conn *c)
{
	int e;

	if ((c->up = malloc(sizeof(*c->up))) == NULL ||
	    (c->down = malloc(sizeof(*c->down))) == NULL) {
		e = ENOMEM;
		goto fail;
	}
	memcpy(c->up->b, c->head, HEAD_LEN);
	c->up->off = 0;
	c->up->len = HEAD_LEN;
	c->down->off = c->down->len = 0;
	c->nn.fd =
	    socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->nn.fd < 0 || relay_end_add(g->loop.ep, &c->nn, 0) != 0) {
		e = errno;
		goto fail;
	}
	/* a unix socket connects at once or not at all (EAGAIN: nng's
	 * backlog is full); one that did not connect is in no queue of
	 * nng's, so closing it is harmless */
	if (connect(c->nn.fd, (const struct sockaddr *) &g->inner_sa,
	            sizeof(g->inner_sa)) != 0) {
		e = errno;
		goto fail;
	}
	clist_del(&g->hs, c);
	clist_add(&g->live, c);
	c->st = C_NNG;
	c->got = 0;
	if (relay_pump(-1, c->nn.fd, c->up, NULL, NULL) < 0)
		conn_kill(g, c); /* nng closed it: nothing left to protect */
	return;
fail:
	if (may_warn(&g->warned_nng))
		log_warn("ipc gate '%s': cannot reach nng's listener '%s' "
		         "(%s); the client is closed",
		         g->path, g->inner, strerror(e));
	conn_kill(g, c);
}

static void
on_head(ipcgate *g, struct conn *c)
{
	ssize_t n = recv(c->cl.fd, c->head + c->got, HEAD_LEN - c->got, 0);

	if (n == 0) {
		conn_early(g, c, "closed");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_early(g, c, strerror(errno));
		return;
	}
	c->got += (size_t) n;
	if (c->got < HEAD_LEN)
		return;
	if (!head_ok(c->head, g->peer)) {
		count(&g->bad);
		metrics_gate(METRICS_GATE_IPC, MG_BAD_HEADER);
		log_debug("ipc gate '%s': a connection sent a header that is "
		          "not a REQ's SP header",
		          g->path);
		conn_kill(g, c);
		return;
	}
	conn_to_nng(g, c);
}

static void
on_nng_head(ipcgate *g, struct conn *c, uint32_t ev)
{
	ssize_t n;

	if ((ev & EPOLLOUT) &&
	    relay_pump(-1, c->nn.fd, c->up, NULL, NULL) < 0) {
		conn_kill(g, c);
		return;
	}
	if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = recv(c->nn.fd, c->head + c->got, HEAD_LEN - c->got, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_kill(g, c); /* nng closed it */
		return;
	}
	if (n < 0)
		return;
	c->got += (size_t) n;
	if (c->got < HEAD_LEN)
		return;
	/* nng's negotiation is complete: from here on a close is harmless */
	count(&g->relayed);
	if (c->cl.fd < 0) {
		conn_kill(g, c); /* the client left meanwhile */
		return;
	}
	memcpy(c->down->b, c->head, HEAD_LEN);
	c->down->off = 0;
	c->down->len = HEAD_LEN;
	c->st = C_RELAY;
	if (relay_pump(c->cl.fd, c->nn.fd, c->up, NULL, NULL) < 0 ||
	    relay_pump(c->nn.fd, c->cl.fd, c->down, NULL, NULL) < 0)
		conn_kill(g, c);
}

static void
on_event(ipcgate *g, struct relay_end *e, uint32_t ev)
{
	struct conn *c = e->c;

	if (c->dead)
		return;
	switch (c->st) {
	case C_HEAD:
		on_head(g, c);
		break;
	case C_NNG:
		if (e == &c->cl) {
			/* a hang-up: the client left; the connection to nng
			 * stays until nng's header is in */
			relay_end_close(g->loop.ep, &c->cl);
			break;
		}
		on_nng_head(g, c, ev);
		break;
	case C_RELAY:
		if ((ev & (EPOLLHUP | EPOLLERR)) ||
		    relay_pump(c->cl.fd, c->nn.fd, c->up, NULL, NULL) < 0 ||
		    relay_pump(c->nn.fd, c->cl.fd, c->down, NULL, NULL) < 0)
			conn_kill(g, c);
		break;
	}
	if (!c->dead)
		conn_arm(g, c);
}

/* ---- accepting ------------------------------------------------------- */

static void
on_accept(ipcgate *g)
{
	struct conn *c;
	int fd;

	for (int i = 0; i < ACCEPT_BURST; i++) {
		if (g->hs.n + g->live.n >= g->cap) {
			if (may_warn(&g->warned_cap))
				log_warn("ipc gate '%s': %zu connections, the "
				         "most it takes; new ones wait until "
				         "one closes",
				         g->path, g->cap);
			set_accepting(g, false);
			return;
		}
		fd = accept4(g->lend.fd, NULL, NULL,
		             SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				return;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection
			 * waits in the backlog; try again a little later */
			if (may_warn(&g->warned_accept))
				log_warn("ipc gate '%s': cannot accept: %s",
				         g->path, strerror(errno));
			g->resume_at = clock_ms(CLOCK_MONOTONIC) + PAUSE_MS;
			set_accepting(g, false);
			return;
		}
		if (g->hs.n >= IPCGATE_MAX_HANDSHAKES) {
			count(&g->evicted);
			metrics_gate(METRICS_GATE_IPC, MG_EVICTED);
			log_debug("ipc gate '%s': %d connections without "
			          "their SP header: the oldest is closed",
			          g->path, IPCGATE_MAX_HANDSHAKES);
			conn_kill(g, g->hs.head);
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			(void) close(fd);
			return;
		}
		c->cl = (struct relay_end){c, fd, 0};
		c->nn = (struct relay_end){c, -1, 0};
		c->st = C_HEAD;
		c->deadline = clock_ms(CLOCK_MONOTONIC) + IPCGATE_HANDSHAKE_MS;
		if (relay_end_add(g->loop.ep, &c->cl, EPOLLIN) != 0) {
			(void) close(fd);
			free(c);
			return;
		}
		clist_add(&g->hs, c);
		count(&g->accepted);
		count(&g->open);
		metrics_gate(METRICS_GATE_IPC, MG_ACCEPTED);
	}
}

/* Closes the connections whose header is late; the epoll timeout until
 * the next deadline (-1: none). */
static int
expire(ipcgate *g)
{
	int64_t now = clock_ms(CLOCK_MONOTONIC), next = -1;

	while (g->hs.head != NULL && g->hs.head->deadline <= now)
		conn_early(g, g->hs.head, "timed out");
	if (g->resume_at != 0 && g->resume_at <= now) {
		g->resume_at = 0;
		if (g->hs.n + g->live.n < g->cap)
			set_accepting(g, true);
	}
	if (g->hs.head != NULL)
		next = g->hs.head->deadline - now;
	if (g->resume_at != 0 && (next < 0 || g->resume_at - now < next))
		next = g->resume_at - now;
	return (int) next;
}

static void
gate_event(void *arg, struct relay_end *e, uint32_t ev, int64_t now)
{
	ipcgate *g = arg;

	(void) now;
	if (e == &g->lend)
		on_accept(g);
	else
		on_event(g, e, ev);
}

static int
gate_after(void *arg, int64_t now)
{
	ipcgate *g = arg;
	int timeout;

	(void) now;
	timeout = expire(g);
	free_zombies(g);
	return timeout;
}

/* ---- opening and closing --------------------------------------------- */

static int
set_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Completes an SP handshake with whatever serves fd, as peer, within
 * PROBE_MS: a server whose listener dies of early closes (nng 1.5.2) sees
 * an ordinary connection. */
static void
probe_handshake(int fd, uint16_t peer)
{
	const uint8_t h[HEAD_LEN] = {
	    0, 'S', 'P', 0, (uint8_t) (peer >> 8), (uint8_t) peer, 0, 0};
	uint8_t r[HEAD_LEN];
	size_t got = 0;
	int64_t end = clock_ms(CLOCK_MONOTONIC) + PROBE_MS, left;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (send(fd, h, sizeof(h), MSG_NOSIGNAL) != (ssize_t) sizeof(h))
		return;
	while (got < HEAD_LEN && (left = end - clock_ms(CLOCK_MONOTONIC)) > 0) {
		if (poll(&p, 1, (int) left) <= 0)
			continue;
		ssize_t n = recv(fd, r + got, HEAD_LEN - got, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;
		if (n > 0)
			got += (size_t) n;
	}
}

/* Whether another process serves g->path: 1 yes, 0 no (a stale socket
 * file is removed), -1 an error (in err). */
static int
probe(ipcgate *g, const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd, e;

	if (lstat(g->path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot listen on '%s': %s", g->url,
		         strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
		         "cannot listen on '%s': '%s' exists and is not a "
		         "socket",
		         g->url, g->path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s", g->url,
		         strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) == 0) {
		probe_handshake(fd, g->peer);
		(void) close(fd);
		return 1;
	}
	e = errno;
	(void) close(fd);
	switch (e) {
	case EAGAIN: /* a full backlog: someone listens */
	case EINPROGRESS:
		return 1;
	case ENOENT:
		return 0;
	case ECONNREFUSED: /* nobody listens: left by a process that died */
		if (unlink(g->path) == 0 || errno == ENOENT)
			return 0;
		e = errno;
		snprintf(err, errlen,
		         "cannot listen on '%s': cannot remove the stale "
		         "socket '%s': %s",
		         g->url, g->path, strerror(e));
		return -1;
	default:
		snprintf(err, errlen,
		         "cannot listen on '%s': cannot tell whether another "
		         "process serves '%s': %s",
		         g->url, g->path, strerror(e));
		return -1;
	}
}

/* PATH.gate (0700), or a fresh directory in $TMPDIR or /tmp when PATH is
 * too long for PATH.gate/s to fit a socket address. g->dir is set only
 * once the directory is ours (ipcgate_close() removes it). */
static int
make_dir(ipcgate *g, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	char dir[sizeof(g->dir)];
	struct stat st;

	if (strlen(g->path) + strlen(".gate/s") < sizeof(dir)) {
		snprintf(dir, sizeof(dir), "%s.gate", g->path);
		if (mkdir(dir, 0700) != 0) {
			if (errno != EEXIST) {
				snprintf(err, errlen,
				         "cannot listen on '%s': cannot make "
				         "the directory '%s': %s",
				         g->url, dir, strerror(errno));
				return -1;
			}
			/* left by a jobd that was killed: ours if it is a
			 * directory of our user's that nobody else enters */
			if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
			    st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
				snprintf(err, errlen,
				         "cannot listen on '%s': '%s' is in "
				         "the way (not a directory of jobd's "
				         "user with mode 0700); remove it",
				         g->url, dir);
				return -1;
			}
		}
	} else {
		if (tmp == NULL || *tmp == '\0' ||
		    strlen(tmp) + strlen("/jobd-gate-XXXXXX/s") >= sizeof(dir))
			tmp = "/tmp";
		snprintf(dir, sizeof(dir), "%s/jobd-gate-XXXXXX", tmp);
		if (mkdtemp(dir) == NULL) {
			snprintf(err, errlen,
			         "cannot listen on '%s': cannot make a "
			         "directory in '%s': %s",
			         g->url, tmp, strerror(errno));
			return -1;
		}
	}
	memcpy(g->dir, dir, sizeof(dir));
	snprintf(g->inner, sizeof(g->inner), "%s/s", g->dir);
	/* a socket a killed jobd left: removed here, since nng's own check
	 * for one would connect and close */
	(void) unlink(g->inner);
	(void) set_addr(&g->inner_sa, g->inner);
	return 0;
}

/* Binds and listens on g->path (0600). */
static int
bind_public(ipcgate *g, const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *) sa, sizeof(*sa)) != 0) {
		if (errno == EADDRINUSE) {
			snprintf(err, errlen,
			         "cannot listen on '%s': another process "
			         "serves '%s' (another jobd?)",
			         g->url, g->path);
			(void) close(fd);
			return -1;
		}
		goto fail;
	}
	if (chmod(g->path, 0600) != 0 || stat(g->path, &st) != 0 ||
	    listen(fd, SOMAXCONN) != 0) {
		int e = errno;
		(void) unlink(g->path);
		errno = e;
		goto fail;
	}
	g->dev = st.st_dev;
	g->ino = st.st_ino;
	g->lend = (struct relay_end){NULL, fd, 0};
	return 0;
fail:
	snprintf(err, errlen, "cannot listen on '%s': %s", g->url,
	         strerror(errno));
	if (fd >= 0)
		(void) close(fd);
	return -1;
}

/* At most IPCGATE_MAX_CONNS, and a third of the descriptors left under
 * the open-file limit. */
static size_t
conn_cap(void)
{
	struct rlimit rl;
	size_t cap = IPCGATE_MAX_CONNS;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY) {
		rlim_t room = rl.rlim_cur > 256 ? (rl.rlim_cur - 256) / 3 : 0;
		if (room < cap)
			cap = room < 16 ? 16 : (size_t) room;
	}
	return cap;
}

int
ipcgate_open(ipcgate **gp, const char *url, uint16_t peer, char *inner,
             size_t innerlen, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	ipcgate *g;
	int rv;

	*gp = NULL;
	if (strncmp(url, "ipc://", 6) != 0 || url[6] == '\0') {
		snprintf(err, errlen, "cannot listen on '%s': not ipc://PATH",
		         url);
		return JOBD_INVALID_ARGUMENT;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	g->lend = (struct relay_end){NULL, -1, 0};
	relay_loop_init(&g->loop, "jobd:ipcgate", gate_event, gate_after, g);
	g->peer = peer;
	snprintf(g->url, sizeof(g->url), "%s", url);
	if (set_addr(&sa, url + 6) != 0) {
		snprintf(err, errlen,
		         "cannot listen on '%s': the path is longer than %zu "
		         "bytes",
		         url, sizeof(sa.sun_path) - 1);
		rv = JOBD_INVALID_ARGUMENT;
		goto fail;
	}
	snprintf(g->path, sizeof(g->path), "%s", url + 6);
	rv = JOBD_FAILED_PRECONDITION;
	switch (probe(g, &sa, err, errlen)) {
	case 1:
		snprintf(err, errlen,
		         "cannot listen on '%s': another process serves '%s' "
		         "(another jobd?)",
		         url, g->path);
		goto fail;
	case -1:
		goto fail;
	}
	rv = JOBD_UNAVAILABLE;
	if (bind_public(g, &sa, err, errlen) != 0)
		goto fail;
	if (make_dir(g, err, errlen) != 0)
		goto fail;
	if (snprintf(inner, innerlen, "ipc://%s", g->inner) >= (int) innerlen) {
		snprintf(err, errlen, "cannot listen on '%s': path too long",
		         url);
		goto fail;
	}
	if (relay_loop_open(&g->loop) != 0 ||
	    relay_end_add(g->loop.ep, &g->lend, 0) != 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s", url,
		         strerror(errno));
		goto fail;
	}
	g->cap = conn_cap();
	*gp = g;
	return JOBD_OK;
fail:
	ipcgate_close(g);
	return rv;
}

int
ipcgate_start(ipcgate *g, char *err, size_t errlen)
{
	int rv;

	set_accepting(g, true);
	if ((rv = relay_loop_start(&g->loop)) != 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s", g->url,
		         strerror(rv));
		return JOBD_RESOURCE_EXHAUSTED;
	}
	log_debug("ipc gate '%s': relays to nng at '%s', at most %zu "
	          "connections",
	          g->path, g->inner, g->cap);
	return JOBD_OK;
}

void
ipcgate_stats(ipcgate *g, struct ipcgate_stats *st)
{
	st->accepted = get(&g->accepted);
	st->relayed = get(&g->relayed);
	st->early = get(&g->early);
	st->bad = get(&g->bad);
	st->evicted = get(&g->evicted);
	st->open = get(&g->open);
}

void
ipcgate_close(ipcgate *g)
{
	struct stat st;

	if (g == NULL)
		return;
	relay_loop_stop(&g->loop);
	while (g->hs.head != NULL)
		conn_kill(g, g->hs.head);
	while (g->live.head != NULL)
		conn_kill(g, g->live.head);
	free_zombies(g);
	if (g->lend.fd >= 0) {
		(void) close(g->lend.fd);
		/* the socket file, unless another process has put its own
		 * in its place since */
		if (lstat(g->path, &st) == 0 && st.st_dev == g->dev &&
		    st.st_ino == g->ino)
			(void) unlink(g->path);
	}
	relay_loop_close(&g->loop);
	if (g->dir[0] != '\0') {
		(void) unlink(g->inner);
		(void) rmdir(g->dir);
	}
	if (get(&g->early) + get(&g->bad) > 0)
		log_info("ipc gate '%s': %llu connections, %llu closed before "
		         "their SP header, %llu with a wrong one",
		         g->path, (unsigned long long) get(&g->accepted),
		         (unsigned long long) get(&g->early),
		         (unsigned long long) get(&g->bad));
	free(g);
}

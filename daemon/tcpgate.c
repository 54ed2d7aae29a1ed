/*
 * tcpgate: the HTTP front's listener, in front of nng's HTTP server.
 *
 * Why. nng 1.5.2's HTTP server has no cap on connections, no timeout on a
 * request's head and none on an idle connection, and gives jobd no hook
 * for any of them. A client could hold connections, and so file
 * descriptors, until the process runs out of them, and then the nng front
 * and everything else in jobd that opens a file fails too: one client
 * would stop jobd for all the others.
 *
 * How. The gate owns the public host:port of --http; nng's server listens
 * on 127.0.0.1 at a port the kernel chose. The gate's one thread accepts
 * each connection, connects to nng once the client has sent its first byte
 * (a client that never sends costs nng nothing), and relays the bytes both
 * ways untouched (relay.c: RELAY_BUF per direction, a side read only once
 * what was read from it has been written on). TLS stays nng's: the gate
 * relays TLS records as they are. A client that shuts its side down has
 * its end of file passed on to nng (whose reply still goes back); nng's
 * end of file, an error or a hang-up on either side closes both.
 *
 * The cap. At most http_connections (limit.h) connections, fewer under a
 * low open-file limit: each takes three descriptors (the client's, the
 * gate's to nng, nng's), from what the nng front's share (half the limit)
 * and a reserve leave. At the cap, a new connection closes the one idle
 * longest (no byte either way) if it has been idle for IDLE_MS; otherwise
 * the gate stops accepting (a line in the log) until one closes or idles,
 * and new ones wait in the kernel's backlog. A parked Wait is idle too: at
 * the cap it may be closed to make room (its call is then released by
 * http.c's watch); no other rule touches a connection that waits for its
 * reply, which may take hours.
 *
 * Slow clients. A connection that sends no byte within http_head_ms of its
 * accept is closed, and so is one whose request head (from its first byte
 * to the blank line that ends it) takes longer than http_head_ms. To find
 * each head in a keep-alive stream, the gate reads the bytes going to nng:
 * a scanner of a few bytes of state (the position in the line, whether the
 * line can still be "Content-Length:", the number so far) finds the blank
 * line (CRLF or a bare LF, as nng takes it), and skips the body by the
 * head's Content-Length (the header name in any case; a body sent chunked
 * is answered 411 by http.c, which closes the connection). The time a body
 * takes is http.c's (http_body_ms). The gate does not keep the head: how
 * long it may be is nng's and http.c's concern.
 *
 * Over TLS the gate cannot read the heads. It bounds instead each of the
 * client's turns: the bytes it sends before nng answers. A turn that still
 * sends after http_head_ms while it has carried less than TLS_TURN_BYTES
 * (a client trickling a head, or a TLS handshake, a few bytes at a time)
 * is closed; a large body is not cut, and neither is a client that has
 * sent its request and waits.
 *
 * Threads: the gate's thread (relay.c's loop) alone touches the
 * connections; tcpgate_close() wakes it through an eventfd and joins it.
 * The counters are atomics that any thread may read.
 */
#include "tcpgate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jobd_status.h"
#include "limit.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"

#define IDLE_MS        1000  /* idle this long: may make room at the cap */
#define TLS_TURN_BYTES 16384 /* a TLS turn this large is not a slow head */
#define MIN_CAP        8     /* connections, however low the file limit */
#define NOFILE_KEPT    128   /* descriptors left to the rest of jobd */
#define ACCEPT_BURST   64    /* connections accepted per event */
#define PAUSE_MS       100   /* no accepting after EMFILE and the like */
#define CL_NAME        "content-length"
#define CL_LEN         14

enum rstate {
	R_FIRST,      /* waiting for the client's first byte */
	R_CONNECTING, /* connecting to nng */
	R_RELAY,      /* relaying both ways */
};

enum sstate {
	S_HEAD, /* in a request's head (timed) */
	S_BODY, /* in its body: clen bytes to go */
	S_IDLE, /* between requests */
	S_TLS,  /* TLS: heads cannot be read */
};

enum why { W_NONE, W_SILENT, W_SLOW };

struct conn;
struct link {
	struct conn *prev, *next;
};
struct queue {
	struct conn *head, *tail;
	size_t n;
};

struct conn {
	tcpgate *g;
	struct relay_end cl; /* the client */
	struct relay_end nn; /* the gate's connection to nng */
	enum rstate st;
	bool dead;
	bool half;        /* the client has sent all it will send */
	bool timed;       /* on g->timed, closed at `deadline` */
	int64_t deadline; /* monotonic ms */
	int64_t last;     /* the last byte either way, or the accept */
	struct link al;   /* g->act: every connection, idle longest first */
	struct link tl;   /* g->timed: deadline order */
	/* the head scanner (plain HTTP) */
	uint8_t scan;  /* enum sstate */
	uint8_t lpos;  /* bytes in this line but CRs, up to 255 */
	bool any_line; /* the head has a line (its request line) */
	bool name_ok;  /* the line may still be "Content-Length:" */
	bool in_clen;  /* reading Content-Length's number */
	uint64_t clen; /* the head's Content-Length; in S_BODY, left */
	/* a TLS turn */
	bool in_turn;
	int64_t turn_start;
	size_t turn_bytes;
	enum why why;           /* why the scanner closes it */
	struct relay_buf *up;   /* client -> nng */
	struct relay_buf *down; /* nng -> client */
	struct conn *zombie;
};

struct tcpgate {
	char url[256];
	bool tls;
	uint16_t port;
	struct sockaddr_in inner;
	struct relay_end lend; /* the listening socket */
	struct relay_loop loop;
	size_t cap;

	/* the gate's thread's alone */
	int64_t now; /* this round of events' time */
	struct queue act, timed;
	struct conn *zombies;
	bool accepting;
	int64_t resume_at; /* paused after an accept error: when to resume */
	int64_t evict_at;  /* full: when the idlest may make room */
	int64_t warned_cap, warned_nng, warned_accept, warned_silent,
	    warned_slow;

	_Atomic uint64_t accepted, relayed, silent, slow, evicted, full, failed,
	    open;
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

/* ---- queues ---------------------------------------------------------- */

static struct link *
lk(struct conn *c, bool timed)
{
	return timed ? &c->tl : &c->al;
}

static void
q_add(struct queue *q, struct conn *c, bool timed)
{
	lk(c, timed)->next = NULL;
	lk(c, timed)->prev = q->tail;
	if (q->tail != NULL)
		lk(q->tail, timed)->next = c;
	else
		q->head = c;
	q->tail = c;
	q->n++;
}

static void
q_del(struct queue *q, struct conn *c, bool timed)
{
	struct link *l = lk(c, timed);

	if (l->prev != NULL)
		lk(l->prev, timed)->next = l->next;
	else
		q->head = l->next;
	if (l->next != NULL)
		lk(l->next, timed)->prev = l->prev;
	else
		q->tail = l->prev;
	l->prev = l->next = NULL;
	q->n--;
}

/* A byte moved: c is the most recently active. */
static void
touch(tcpgate *g, struct conn *c)
{
	c->last = g->now;
	if (g->act.tail != c) {
		q_del(&g->act, c, false);
		q_add(&g->act, c, false);
	}
}

/* Closes c at now + http_head_ms (deadlines are added in their order). */
static void
set_timer(tcpgate *g, struct conn *c)
{
	if (c->timed)
		q_del(&g->timed, c, true);
	c->timed = true;
	c->deadline = g->now + LIMIT_HTTP_HEAD_MS;
	q_add(&g->timed, c, true);
}

static void
clear_timer(tcpgate *g, struct conn *c)
{
	if (!c->timed)
		return;
	q_del(&g->timed, c, true);
	c->timed = false;
}

/* ---- connections ----------------------------------------------------- */

static void
set_accepting(tcpgate *g, bool on)
{
	if (g->accepting == on)
		return;
	g->accepting = on;
	relay_end_arm(g->loop.ep, &g->lend, on ? EPOLLIN : 0);
}

/* Closes both sides and puts c on the list freed after this round of
 * events (a later event of the round may still name it). */
static void
conn_kill(tcpgate *g, struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	relay_end_close(g->loop.ep, &c->cl);
	relay_end_close(g->loop.ep, &c->nn);
	clear_timer(g, c);
	q_del(&g->act, c, false);
	c->zombie = g->zombies;
	g->zombies = c;
	atomic_fetch_sub_explicit(&g->open, 1, memory_order_relaxed);
	metrics_gate(METRICS_GATE_HTTP, MG_CLOSED);
	if (!g->accepting && g->resume_at == 0 && g->act.n < g->cap) {
		g->evict_at = 0;
		set_accepting(g, true);
	}
}

static void
free_zombies(tcpgate *g)
{
	for (struct conn *c = g->zombies, *next; c != NULL; c = next) {
		next = c->zombie;
		free(c->up);
		free(c->down);
		free(c);
	}
	g->zombies = NULL;
}

/* Closes a client that was too slow, counted and logged as `why`. */
static void
conn_slow(tcpgate *g, struct conn *c, enum why why)
{
	_Atomic uint64_t *n = why == W_SILENT ? &g->silent : &g->slow;

	count(n);
	metrics_gate(METRICS_GATE_HTTP, why == W_SILENT ? MG_SILENT : MG_SLOW);
	if (relay_may_warn(
	        why == W_SILENT ? &g->warned_silent : &g->warned_slow, g->now))
		log_info("HTTP gate '%s': closed a connection that %s within "
		         "%d ms (http_head_ms; %llu so far)",
		         g->url,
		         why == W_SILENT ? "sent no byte"
		                         : "did not send a request's head",
		         LIMIT_HTTP_HEAD_MS, (unsigned long long) get(n));
	conn_kill(g, c);
}

/* One byte of a plain request's head. */
static void
head_byte(tcpgate *g, struct conn *c, uint8_t ch)
{
	if (ch == '\n') {
		if (c->lpos == 0) {
			/* a blank line: the end of the head, unless no line
			 * came before it (blank lines before a request) */
			if (c->any_line) {
				clear_timer(g, c);
				c->scan = c->clen > 0 ? S_BODY : S_IDLE;
			}
			return;
		}
		c->any_line = true;
		c->lpos = 0;
		c->name_ok = true;
		c->in_clen = false;
		return;
	}
	if (ch == '\r')
		return;
	if (c->in_clen) {
		if (ch >= '0' && ch <= '9')
			c->clen = c->clen > (UINT64_MAX - 9) / 10
			              ? UINT64_MAX
			              : c->clen * 10 + (uint64_t) (ch - '0');
		else if (ch != ' ' && ch != '\t')
			c->in_clen = false;
	} else if (c->lpos < CL_LEN) {
		uint8_t lower = ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
		c->name_ok = c->name_ok && lower == (uint8_t) CL_NAME[c->lpos];
	} else if (c->lpos == CL_LEN && c->name_ok && c->any_line &&
	           ch == ':') {
		c->in_clen = true;
		c->clen = 0; /* the last Content-Length counts */
	}
	if (c->lpos < UINT8_MAX)
		c->lpos++;
}

/* A new head begins (timed from now). */
static void
head_begin(tcpgate *g, struct conn *c)
{
	c->scan = S_HEAD;
	c->lpos = 0;
	c->any_line = false;
	c->name_ok = true;
	c->in_clen = false;
	c->clen = 0;
	set_timer(g, c);
}

/* relay_seen_fn for the bytes going to nng. */
static int
seen_up(void *arg, const uint8_t *p, size_t n)
{
	struct conn *c = arg;
	tcpgate *g = c->g;
	size_t i = 0;

	if (c->scan == S_TLS) {
		if (!c->in_turn) {
			c->in_turn = true;
			c->turn_start = g->now;
			c->turn_bytes = 0;
		}
		c->turn_bytes += n;
		if (g->now - c->turn_start > LIMIT_HTTP_HEAD_MS &&
		    c->turn_bytes < TLS_TURN_BYTES) {
			c->why = W_SLOW;
			return -1;
		}
		return 0;
	}
	while (i < n) {
		if (c->scan == S_BODY) {
			uint64_t k = n - i < c->clen ? n - i : c->clen;
			c->clen -= k;
			i += (size_t) k;
			if (c->clen == 0)
				c->scan = S_IDLE;
			continue;
		}
		if (c->scan == S_IDLE)
			head_begin(g, c);
		head_byte(g, c, p[i++]);
	}
	return 0;
}

/* relay_seen_fn for the bytes from nng, over TLS: the client's turn
 * ends. */
static int
seen_down(void *arg, const uint8_t *p, size_t n)
{
	struct conn *c = arg;
	(void) p;
	(void) n;
	c->in_turn = false;
	return 0;
}

/* Registers c's descriptors for what its state waits for. */
static void
conn_arm(tcpgate *g, struct conn *c)
{
	uint32_t cl = 0, nn = 0;

	switch (c->st) {
	case R_FIRST:
		cl = EPOLLIN;
		break;
	case R_CONNECTING:
		/* the client's bytes stay in its socket meanwhile; its
		 * hang-up is reported all the same */
		nn = EPOLLOUT;
		break;
	case R_RELAY:
		cl = (relay_pending(c->up) || c->half ? 0 : EPOLLIN) |
		     (relay_pending(c->down) ? EPOLLOUT : 0);
		nn = (relay_pending(c->down) ? 0 : EPOLLIN) |
		     (relay_pending(c->up) ? EPOLLOUT : 0);
		break;
	}
	relay_end_arm(g->loop.ep, &c->cl, cl);
	relay_end_arm(g->loop.ep, &c->nn, nn);
}

static void
nng_failed(tcpgate *g, struct conn *c, int e)
{
	count(&g->failed);
	metrics_gate(METRICS_GATE_HTTP, MG_UNREACHABLE);
	if (relay_may_warn(&g->warned_nng, g->now))
		log_warn("HTTP gate '%s': cannot reach nng's HTTP server at "
		         "127.0.0.1:%u (%s); the client is closed",
		         g->url, (unsigned) ntohs(g->inner.sin_port),
		         strerror(e));
	conn_kill(g, c);
}

/* Moves what can be moved both ways; false when c is over. */
static bool
relay(tcpgate *g, struct conn *c)
{
	int up = 0, down;

	if (!c->half)
		up = relay_pump(c->cl.fd, c->nn.fd, c->up, seen_up, c);
	if (up == RELAY_EOF) {
		/* the client shut its side: nng learns it (and may close),
		 * and its reply still goes back */
		c->half = true;
		up = shutdown(c->nn.fd, SHUT_WR) == 0 ? 0 : -1;
	}
	down = up < 0 ? -1
	              : relay_pump(c->nn.fd, c->cl.fd, c->down,
	                           g->tls ? seen_down : NULL, c);
	if (up < 0 || down < 0) {
		if (c->why != W_NONE)
			conn_slow(g, c, c->why);
		else
			conn_kill(g, c);
		return false;
	}
	if (up + down > 0)
		touch(g, c);
	return true;
}

/* The client's first byte is in: connect to nng. */
static void
on_first(tcpgate *g, struct conn *c)
{
	uint8_t b;
	ssize_t n = recv(c->cl.fd, &b, 1, MSG_PEEK);
	int e;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_kill(g, c); /* gone before a byte */
		return;
	}
	if (n < 0)
		return;
	touch(g, c);
	if (g->tls) {
		clear_timer(g, c);
		c->scan = S_TLS;
	} else {
		head_begin(g, c);
	}
	if ((c->up = malloc(sizeof(*c->up))) == NULL ||
	    (c->down = malloc(sizeof(*c->down))) == NULL) {
		nng_failed(g, c, ENOMEM);
		return;
	}
	c->up->off = c->up->len = 0;
	c->down->off = c->down->len = 0;
	c->nn.fd =
	    socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->nn.fd < 0 || relay_end_add(g->loop.ep, &c->nn, 0) != 0) {
		nng_failed(g, c, errno);
		return;
	}
	if (connect(c->nn.fd, (const struct sockaddr *) &g->inner,
	            sizeof(g->inner)) == 0) {
		c->st = R_RELAY;
		count(&g->relayed);
		(void) relay(g, c);
		return;
	}
	if ((e = errno) != EINPROGRESS) {
		nng_failed(g, c, e);
		return;
	}
	c->st = R_CONNECTING;
}

static void
on_connected(tcpgate *g, struct conn *c)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(c->nn.fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
		e = errno;
	if (e == EINPROGRESS || e == EALREADY)
		return;
	if (e != 0) {
		nng_failed(g, c, e);
		return;
	}
	c->st = R_RELAY;
	count(&g->relayed);
	(void) relay(g, c);
}

static void
on_event(tcpgate *g, struct relay_end *e, uint32_t ev)
{
	struct conn *c = e->c;

	if (c->dead)
		return;
	switch (c->st) {
	case R_FIRST:
		on_first(g, c);
		break;
	case R_CONNECTING:
		if (e == &c->cl) {
			conn_kill(g, c); /* a hang-up: the client left */
			break;
		}
		on_connected(g, c);
		break;
	case R_RELAY:
		/* a hang-up: what can still be moved is, then both close */
		if (relay(g, c) && (ev & (EPOLLHUP | EPOLLERR)))
			conn_kill(g, c);
		break;
	}
	if (!c->dead)
		conn_arm(g, c);
}

/* ---- accepting ------------------------------------------------------- */

static void
on_accept(tcpgate *g)
{
	struct conn *c, *idlest;
	bool full;
	int fd;

	for (int i = 0; i < ACCEPT_BURST; i++) {
		full = g->act.n >= g->cap;
		idlest = g->act.head;
		if (full &&
		    (idlest == NULL || g->now - idlest->last < IDLE_MS)) {
			count(&g->full);
			metrics_gate(METRICS_GATE_HTTP, MG_FULL);
			if (relay_may_warn(&g->warned_cap, g->now))
				log_warn(
				    "HTTP gate '%s': %zu connections, the "
				    "most it takes (http_connections), "
				    "none idle for a second; new ones wait "
				    "until one closes or idles",
				    g->url, g->cap);
			set_accepting(g, false);
			g->evict_at = idlest != NULL ? idlest->last + IDLE_MS
			                             : g->now + IDLE_MS;
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
			if (relay_may_warn(&g->warned_accept, g->now))
				log_warn("HTTP gate '%s': cannot accept: %s",
				         g->url, strerror(errno));
			g->resume_at = g->now + PAUSE_MS;
			set_accepting(g, false);
			return;
		}
		if (full) {
			count(&g->evicted);
			metrics_gate(METRICS_GATE_HTTP, MG_EVICTED);
			log_debug("HTTP gate '%s': %zu connections: the one "
			          "idle longest (%lld ms) is closed",
			          g->url, g->cap,
			          (long long) (g->now - idlest->last));
			conn_kill(g, idlest);
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			(void) close(fd);
			return;
		}
		c->g = g;
		c->cl = (struct relay_end){c, fd, 0};
		c->nn = (struct relay_end){c, -1, 0};
		c->st = R_FIRST;
		c->scan = S_IDLE;
		if (relay_end_add(g->loop.ep, &c->cl, EPOLLIN) != 0) {
			(void) close(fd);
			free(c);
			return;
		}
		c->last = g->now;
		q_add(&g->act, c, false);
		set_timer(g, c);
		count(&g->accepted);
		count(&g->open);
		metrics_gate(METRICS_GATE_HTTP, MG_ACCEPTED);
	}
}

/* Closes the connections whose time is up; the epoll timeout until the
 * next deadline (-1: none). */
static int
expire(tcpgate *g)
{
	int64_t next = -1;

	while (g->timed.head != NULL && g->timed.head->deadline <= g->now) {
		struct conn *c = g->timed.head;
		conn_slow(g, c, c->st == R_FIRST ? W_SILENT : W_SLOW);
	}
	if (g->resume_at != 0 && g->resume_at <= g->now) {
		g->resume_at = 0;
		set_accepting(g, true); /* on_accept() checks the cap */
	}
	if (g->evict_at != 0 && g->evict_at <= g->now) {
		g->evict_at = 0;
		set_accepting(g, true);
	}
	if (g->timed.head != NULL)
		next = g->timed.head->deadline - g->now;
	if (g->resume_at != 0 && (next < 0 || g->resume_at - g->now < next))
		next = g->resume_at - g->now;
	if (!g->accepting && g->evict_at != 0 &&
	    (next < 0 || g->evict_at - g->now < next))
		next = g->evict_at - g->now;
	return (int) next;
}

static void
gate_event(void *arg, struct relay_end *e, uint32_t ev, int64_t now)
{
	tcpgate *g = arg;

	g->now = now;
	if (e == &g->lend)
		on_accept(g);
	else
		on_event(g, e, ev);
}

static int
gate_after(void *arg, int64_t now)
{
	tcpgate *g = arg;
	int timeout;

	g->now = now;
	timeout = expire(g);
	free_zombies(g);
	return timeout;
}

/* ---- opening and closing --------------------------------------------- */

/* At most http_connections, and a third of what is left of the open-file
 * limit once the nng front's half and NOFILE_KEPT are taken. */
static size_t
conn_cap(void)
{
	struct rlimit rl;
	size_t cap = LIMIT_HTTP_CONNECTIONS;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY) {
		rlim_t rest = rl.rlim_cur - rl.rlim_cur / 2;
		rlim_t room = rest > NOFILE_KEPT ? (rest - NOFILE_KEPT) / 3 : 0;
		if (room < cap)
			cap = room < MIN_CAP ? MIN_CAP : (size_t) room;
	}
	return cap;
}

/* Binds and listens on the first of host:port's addresses that takes it. */
static int
bind_public(tcpgate *g, const char *host, const char *port, char *err,
            size_t errlen)
{
	struct addrinfo hints = {.ai_flags = AI_PASSIVE,
	                         .ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai, *a;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int rv, fd = -1, e = 0, one = 1;

	if ((rv = getaddrinfo(host != NULL && *host != '\0' ? host : NULL, port,
	                      &hints, &ai)) != 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s", g->url,
		         gai_strerror(rv));
		return -1;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family,
		            a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            a->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		               sizeof(one)) == 0 &&
		    bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0 &&
		    getsockname(fd, (struct sockaddr *) &ss, &sl) == 0)
			break;
		e = errno;
		(void) close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s", g->url,
		         e == EADDRINUSE ? "the address is in use"
		                         : strerror(e));
		return -1;
	}
	g->port = ntohs(ss.ss_family == AF_INET6
	                    ? ((struct sockaddr_in6 *) &ss)->sin6_port
	                    : ((struct sockaddr_in *) &ss)->sin_port);
	g->lend = (struct relay_end){NULL, fd, 0};
	return 0;
}

int
tcpgate_open(tcpgate **gp, const char *url, const char *host, const char *port,
             bool tls, char *err, size_t errlen)
{
	tcpgate *g;

	*gp = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	g->lend = (struct relay_end){NULL, -1, 0};
	relay_loop_init(&g->loop, "jobd:httpgate", gate_event, gate_after, g);
	g->tls = tls;
	snprintf(g->url, sizeof(g->url), "%s", url);
	if (bind_public(g, host, port, err, errlen) != 0) {
		tcpgate_close(g);
		return JOBD_UNAVAILABLE;
	}
	if (relay_loop_open(&g->loop) != 0 ||
	    relay_end_add(g->loop.ep, &g->lend, 0) != 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s", url,
		         strerror(errno));
		tcpgate_close(g);
		return JOBD_UNAVAILABLE;
	}
	g->cap = conn_cap();
	*gp = g;
	return JOBD_OK;
}

uint16_t
tcpgate_port(const tcpgate *g)
{
	return g->port;
}

size_t
tcpgate_cap(const tcpgate *g)
{
	return g->cap;
}

int
tcpgate_start(tcpgate *g, uint16_t inner_port, char *err, size_t errlen)
{
	int rv;

	g->inner.sin_family = AF_INET;
	g->inner.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g->inner.sin_port = htons(inner_port);
	set_accepting(g, true);
	if ((rv = relay_loop_start(&g->loop)) != 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s", g->url,
		         strerror(rv));
		return JOBD_RESOURCE_EXHAUSTED;
	}
	log_debug("HTTP gate '%s': relays to nng at 127.0.0.1:%u", g->url,
	          (unsigned) inner_port);
	return JOBD_OK;
}

void
tcpgate_stats(tcpgate *g, struct tcpgate_stats *st)
{
	st->accepted = get(&g->accepted);
	st->relayed = get(&g->relayed);
	st->silent = get(&g->silent);
	st->slow = get(&g->slow);
	st->evicted = get(&g->evicted);
	st->full = get(&g->full);
	st->failed = get(&g->failed);
	st->open = get(&g->open);
}

void
tcpgate_close(tcpgate *g)
{
	if (g == NULL)
		return;
	relay_loop_stop(&g->loop);
	while (g->act.head != NULL)
		conn_kill(g, g->act.head);
	free_zombies(g);
	if (g->lend.fd >= 0)
		(void) close(g->lend.fd);
	relay_loop_close(&g->loop);
	if (get(&g->silent) + get(&g->slow) + get(&g->evicted) + get(&g->full) >
	    0)
		log_info("HTTP gate '%s': %llu connections; closed %llu that "
		         "sent nothing, %llu with a slow head, %llu to make "
		         "room; full %llu times",
		         g->url, (unsigned long long) get(&g->accepted),
		         (unsigned long long) get(&g->silent),
		         (unsigned long long) get(&g->slow),
		         (unsigned long long) get(&g->evicted),
		         (unsigned long long) get(&g->full));
	free(g);
}

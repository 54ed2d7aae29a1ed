#ifndef JOBD_RELAY_H
#define JOBD_RELAY_H

/*
 * relay: what jobd's listeners in front of nng's (ipcgate.c, tcpgate.c)
 * share: descriptors in an epoll set, and the pump that moves a
 * connection's bytes from one socket to the other through a buffer of its
 * own, reading a side only once what was read from it has been written on
 * (backpressure reaches the sender through its socket buffer); and the
 * gate's thread, which waits on the epoll set until an eventfd stops it.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes buffered per connection and direction. */
#define RELAY_BUF 16384

/* One descriptor in an epoll set; data.ptr of its events points to it.
 * `c` is the owner's (its connection; NULL for a listener or an
 * eventfd). */
struct relay_end {
	void *c;
	int fd;      /* -1: closed */
	uint32_t ev; /* the events it is registered for */
};

struct relay_buf {
	size_t off, len; /* bytes [off, len) are still to be written */
	uint8_t b[RELAY_BUF];
};

/* Adds e->fd to the epoll set ep for events ev. 0, or -1 with errno. */
int relay_end_add(int ep, struct relay_end *e, uint32_t ev);
/* Registers e for ev instead (nothing if it is closed or registered so
 * already). */
void relay_end_arm(int ep, struct relay_end *e, uint32_t ev);
/* Takes e out of the set and closes it (nothing if closed already). */
void relay_end_close(int ep, struct relay_end *e);

/* Bytes read are shown to this before they are written on; -1 closes the
 * connection (relay_pump() returns -1). */
typedef int (*relay_seen_fn)(void *arg, const uint8_t *p, size_t n);

/*
 * Writes what b holds to `to`, then reads `from` (if >= 0) into b (showing
 * the bytes to seen, if not NULL), and so on for a few rounds. Returns the
 * number of bytes written and read, or a negative number when the
 * connection is over: RELAY_EOF, `from` has come to its end of file (every
 * byte read from it has been written on), or -1, an error on either side
 * or seen's -1.
 */
#define RELAY_EOF (-2)
int relay_pump(int from, int to, struct relay_buf *b, relay_seen_fn seen,
               void *arg);
/* Whether b holds bytes still to be written (b may be NULL). */
bool relay_pending(const struct relay_buf *b);

/*
 * A gate's thread. It calls on_event for each event of the set (but the
 * eventfd's), then after() once per round of events, whose return is the
 * next epoll timeout in ms (-1: none). `now` is CLOCK_MONOTONIC in ms,
 * read once per round. Only this thread touches what the set holds.
 */
struct relay_loop {
	int ep;
	struct relay_end wake; /* the eventfd */
	const char *name;      /* the thread's (top -H), for the log */
	void (*on_event)(void *arg, struct relay_end *e, uint32_t ev,
	                 int64_t now);
	int (*after)(void *arg, int64_t now);
	void *arg;
	pthread_t thread;
	bool started;
	atomic_bool stop;
};

/* Sets l up without opening anything (relay_loop_close() may follow). */
void relay_loop_init(struct relay_loop *l, const char *name,
                     void (*on_event)(void *, struct relay_end *, uint32_t,
                                      int64_t),
                     int (*after)(void *, int64_t), void *arg);
/* Makes the epoll set and the eventfd. 0, or -1 with errno. */
int relay_loop_open(struct relay_loop *l);
/* Starts the thread. 0, or pthread_create's error number. */
int relay_loop_start(struct relay_loop *l);
/* Stops the thread (if started) and joins it. */
void relay_loop_stop(struct relay_loop *l);
/* Closes the epoll set and the eventfd (after relay_loop_stop()). */
void relay_loop_close(struct relay_loop *l);

/* Whether a warning last given at *last (0: never) may be given again at
 * now, WARN_MS later at the soonest: then *last = now. */
bool relay_may_warn(int64_t *last, int64_t now);

#endif

#ifndef JOBD_RELAY_H
#define JOBD_RELAY_H

/*
 * relay: what jobd's listeners in front of nng's (ipcgate.c, tcpgate.c)
 * share: descriptors in an epoll set, and the pump that moves a
 * connection's bytes from one socket to the other through a buffer of its
 * own, reading a side only once what was read from it has been written on
 * (backpressure reaches the sender through its socket buffer).
 */

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

#endif

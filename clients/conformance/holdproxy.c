/*
 * holdproxy: a TCP relay in front of jobd that can swallow one reply, for
 * the conformance suite's "jobd killed between the request and its reply".
 *
 *   holdproxy PORT
 *
 * listens on 127.0.0.1 at a free port, prints `port N` on stdout, and relays
 * every connection it accepts to 127.0.0.1:PORT, bytes both ways, unchanged
 * (it knows nothing of SP or TLS). A connection whose upstream cannot be
 * reached (jobd is restarting) is closed at once, as a refused connect
 * would be, and the client dials again.
 *
 * SIGUSR1 arms it: the next bytes that come from jobd on any connection,
 * after its 8-byte SP header, are not passed on; holdproxy prints `held N` (the
 * bytes it swallowed) and from then on drops whatever else comes from jobd on
 * that connection. The test then kills jobd, which closes the connection, and
 * the client, which never got its reply, must reconnect and send the request
 * again. SIGTERM ends it.
 *
 * One thread per connection, each relaying with poll(); a test makes a
 * handful of connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SP_HEADER 8 /* bytes of the SP handshake, every transport */

static atomic_int armed;
static int upstream_port;
static pthread_mutex_t out_mtx = PTHREAD_MUTEX_INITIALIZER;

/* Takes SIGUSR1 (blocked in every thread) and arms. A thread of its own
 * rather than a handler: under ThreadSanitizer a handler runs only when its
 * thread leaves a blocking call, and the main thread sits in accept(). */
static void *
take_usr1(void *arg)
{
	sigset_t *set = arg;
	int sig;

	for (;;)
		if (sigwait(set, &sig) == 0 && sig == SIGUSR1)
			atomic_store(&armed, 1);
	return (NULL);
}

/* One line on stdout: WHAT N. */
static void
say(const char *what, long n)
{
	pthread_mutex_lock(&out_mtx);
	printf("%s %ld\n", what, n);
	fflush(stdout);
	pthread_mutex_unlock(&out_mtx);
}

/* Writes all of buf to fd; false when the peer is gone. */
static bool
write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return (false);
		buf += w;
		n -= (size_t) w;
	}
	return (true);
}

static int
dial_upstream(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t) upstream_port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return (-1);
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

static void *
relay(void *arg)
{
	int down = (int) (intptr_t) arg;
	int up = dial_upstream();
	bool dropping = false;
	size_t greeted = 0; /* bytes of jobd's header passed on */
	char buf[65536];

	if (up < 0) {
		close(down);
		return (NULL);
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = down, .events = POLLIN},
		                      {.fd = up, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents != 0) {
			ssize_t n = read(down, buf, sizeof(buf));
			if (n <= 0 || !write_all(up, buf, (size_t) n))
				break;
		}
		if (p[1].revents != 0) {
			ssize_t n = read(up, buf, sizeof(buf));
			if (n <= 0)
				break;
			/* jobd's SP header (its first 8 bytes) always goes
			 * through: only a reply is held. */
			size_t pass = 0;
			if (greeted < SP_HEADER) {
				pass = (size_t) n < SP_HEADER - greeted
				           ? (size_t) n
				           : SP_HEADER - greeted;
				greeted += pass;
			}
			if (!dropping && (size_t) n > pass &&
			    atomic_exchange(&armed, 0)) {
				dropping = true;
				say("held", (long) ((size_t) n - pass));
			}
			if (!write_all(down, buf, dropping ? pass : (size_t) n))
				break;
		}
	}
	close(up);
	close(down);
	return (NULL);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	static sigset_t usr1;
	pthread_t sigt;
	char *end;
	long port;
	int lfd;

	if (argc != 2 || (port = strtol(argv[1], &end, 10), *end != '\0') ||
	    port < 1 || port > 65535) {
		fprintf(stderr,
		        "usage: holdproxy PORT (jobd's, on 127.0.0.1)\n");
		return (2);
	}
	upstream_port = (int) port;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (pthread_sigmask(SIG_BLOCK, &usr1, NULL) != 0 ||
	    pthread_create(&sigt, NULL, take_usr1, &usr1) != 0) {
		fprintf(stderr, "holdproxy: cannot take SIGUSR1\n");
		return (1);
	}

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) != 0 ||
	    listen(lfd, 64) != 0 ||
	    getsockname(lfd, (struct sockaddr *) &sa, &len) != 0) {
		perror("holdproxy: listen");
		return (1);
	}
	say("port", (long) ntohs(sa.sin_port));
	for (;;) {
		pthread_t t;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("holdproxy: accept");
			return (1);
		}
		if (pthread_create(&t, NULL, relay, (void *) (intptr_t) fd) !=
		    0) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}

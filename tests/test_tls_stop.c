/*
 * test_tls_stop: jobd with a tls+tcp:// listener stops cleanly, again and
 * again. Each cycle starts jobd, has a few TLS clients ping it, leaves some
 * plain TCP connections (no TLS handshake) open, closes the clients and
 * sends SIGTERM at once, and checks that jobd exited 0 with no "panic"
 * (nng's) and no sanitizer or valgrind report in its log.
 *
 * The bug it guards against: nng 1.5.2's TLS listener ends its pending
 * accept on one of nng's task threads, which hands the connection to nng's
 * reaper only after nng_close() has returned; a jobd that called
 * nng_fini() at exit tore nng down under it ("panic: pthread_mutex_lock:
 * Invalid argument", SIGABRT, or SIGSEGV) about one stop in 100. jobd
 * started here runs with slowfree (tests/slowfree.c) preloaded, which
 * holds that hand-over back 20 ms, so that a jobd with the bug fails every
 * cycle rather than now and then. See docs/architecture.md, "nng 1.5.2:
 * the bugs jobd works around".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness.h"

#define CYCLES         10
#define CYCLES_WRAPPED 2 /* valgrind */
#define CLIENTS        3
#define RAW            4

/* A TCP connection to 127.0.0.1:port, not waited for; -1 on failure. */
static int
raw_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t) port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	(void) connect(fd, (struct sockaddr *) &sa, sizeof(sa));
	return fd;
}

/* A TLS client of url that has had its answer to a Ping; NULL if none came
 * within timeout_ms (jobd not up yet). */
static jobd_client *
tls_client(const char *url, const struct jobd_client_tls *tls,
           uint32_t timeout_ms)
{
	Jobd__V1__PingReply *pong;
	jobd_client *c;

	if (jobd_client_open_tls(&c, url, tls) != JOBD_OK)
		return NULL;
	jobd_client_set_timeout(c, timeout_ms);
	if (jobd_ping(c, &pong) != JOBD_OK) {
		jobd_client_close(c);
		return NULL;
	}
	jobd__v1__ping_reply__free_unpacked(pong, NULL);
	return c;
}

/* Forks jobd as jd_spawn() does, with slowfree preloaded. */
static pid_t
spawn_slow(const char *const *args, const char *log)
{
	const char *asan = getenv("ASAN_OPTIONS");
	char *saved = asan != NULL ? strdup(asan) : NULL;
	char opts[512];
	pid_t pid;

	/* an ASan jobd wants its runtime first among the libraries */
	snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0",
	         saved != NULL ? saved : "", saved != NULL ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	setenv("LD_PRELOAD", SLOWFREE, 1);
	pid = jd_spawn(args, log, "a");
	unsetenv("LD_PRELOAD");
	if (saved != NULL)
		setenv("ASAN_OPTIONS", saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(saved);
	return pid;
}

/* One cycle; false (said on stderr, with jobd's log) if jobd did not stop
 * cleanly. */
static bool
cycle(int n, const char *certs)
{
	char url[64], cert[160], key[160], ca[160], cmd[160];
	struct jd d;
	jobd_client *c[CLIENTS] = {NULL};
	int raw[RAW];
	bool clean = true;
	int port, st;

	REQUIRE(jd_init_in(&d, "jobd-tlsstop") == 0);
	REQUIRE((port = jd_free_port()) != 0);
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", port);
	snprintf(cert, sizeof(cert), "%s/server.pem", certs);
	snprintf(key, sizeof(key), "%s/server.key", certs);
	snprintf(ca, sizeof(ca), "%s/ca.pem", certs);
	const char *args[] = {"--listen",  url,     "--db",       d.db,
	                      "--grace",   "200ms", "--tls-cert", cert,
	                      "--tls-key", key,     NULL};
	struct jobd_client_tls tls = {.ca_file = ca,
	                              .server_name = "localhost"};

	REQUIRE((d.pid = spawn_slow(args, d.log)) > 0);
	/* up within 10 s, or 120 s under valgrind */
	for (int i = 0; i < (jd_wrapped() ? 12000 : 1000) && c[0] == NULL;
	     i++) {
		if ((c[0] = tls_client(url, &tls, 1000)) == NULL) {
			if (waitpid(d.pid, &st, WNOHANG) == d.pid) {
				d.pid = 0;
				jd_dump_log(&d);
				TEST_FAIL_("jobd exited before it answered");
			}
			usleep(10000);
		}
	}
	if (c[0] == NULL) {
		jd_dump_log(&d);
		TEST_FAIL_("jobd did not answer over TLS at %s", url);
	}
	for (int i = 1; i < CLIENTS; i++)
		CHECK((c[i] = tls_client(url, &tls, 10000)) != NULL);
	for (int i = 0; i < RAW; i++)
		raw[i] = raw_connect(port);
	/* the clients' connections close while jobd stops */
	for (int i = 0; i < CLIENTS; i++)
		jobd_client_close(c[i]);
	st = jd_stop(&d);
	for (int i = 0; i < RAW; i++)
		if (raw[i] >= 0)
			close(raw[i]);

	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "cycle %d: jobd's wait status %d (%s)\n", n, st,
		        WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exit");
		clean = false;
	}
	if (jd_count_lines(d.log, "panic") != 0) {
		fprintf(stderr, "cycle %d: 'panic' in jobd's log\n", n);
		clean = false;
	}
	if (jd_log_has_report(&d)) {
		fprintf(stderr,
		        "cycle %d: a sanitizer's or valgrind's report "
		        "in jobd's log\n",
		        n);
		clean = false;
	}
	if (!clean)
		jd_dump_log(&d);
	if (getenv("JOBD_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", d.dir);
	}
	return clean;
}

static void
test_tls_stops(void)
{
	char certs[64] = "/tmp/jobd-tlsca-XXXXXX", cmd[512];
	int cycles = jd_wrapped() ? CYCLES_WRAPPED : CYCLES, failed = 0;

	REQUIRE(mkdtemp(certs) != NULL);
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s' >/dev/null 2>&1", MAKE_CERTS,
	         certs);
	REQUIRE(system(cmd) == 0);
	for (int i = 0; i < cycles; i++)
		if (!cycle(i, certs))
			failed++;
	fprintf(stderr, "%d of %d stops were not clean\n", failed, cycles);
	CHECK_EQ_INT(failed, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certs);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", certs);
}

TEST_MAIN({"tls_stops", test_tls_stops})

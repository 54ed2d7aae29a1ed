/*
 * scrape: the /metrics scraper of latency-scrape (scrape.h).
 *
 * One thread, one blocking socket per scrape, with a receive timeout so a
 * stuck listener cannot hold the benchmark. Times are kept per scrape (at
 * most MAX_TIMES of them: a run at 10 per second fills that in 3 hours)
 * for the percentiles. The wait between scrapes is a timed wait on a
 * condition variable, so scraper_stop() need not wait out a period.
 */
#include "scrape.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_TIMES  100000
#define TIMEOUT_MS 5000

struct scraper {
	pthread_t thread;
	pthread_mutex_t mtx;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	bool stop;
	int port;
	char token[256];
	uint32_t period_ms;
	char *buf; /* a reply */
	size_t cap;
	uint64_t *times;
	size_t ntimes;
	struct scrape_stats st;
};

/* One scrape, on the scraper's thread: 0 if good, with the reply's size in
 * *bytes; -1 with why in err. It touches only what that thread owns (the
 * buffer); scrape_main records the outcome in s->st under the lock. */
static int
scrape_once(scraper *s, char *err, size_t errlen, uint64_t *bytes)
{
	struct sockaddr_in a = {0};
	struct timeval tv = {TIMEOUT_MS / 1000, 0};
	char req[512];
	size_t n = 0;
	ssize_t r;
	int fd, rv = -1;

	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) s->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int len = snprintf(req, sizeof(req),
	                   "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	                   "%s%s%s"
	                   "Connection: close\r\n\r\n",
	                   s->port, s->token[0] ? "Authorization: Bearer " : "",
	                   s->token, s->token[0] ? "\r\n" : "");
	if (connect(fd, (struct sockaddr *) &a, sizeof(a)) != 0 ||
	    write(fd, req, (size_t) len) != len) {
		snprintf(err, errlen, "cannot send to 127.0.0.1:%d: %s",
		         s->port, strerror(errno));
		goto out;
	}
	for (;;) {
		if (n + 1 >= s->cap) {
			char *p = realloc(s->buf, s->cap * 2);
			if (p == NULL) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			s->buf = p;
			s->cap *= 2;
		}
		if ((r = read(fd, s->buf + n, s->cap - n - 1)) < 0) {
			snprintf(err, errlen, "reading the reply: %s",
			         strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t) r;
	}
	s->buf[n] = '\0';
	if (strncmp(s->buf, "HTTP/1.1 200", 12) != 0 &&
	    strncmp(s->buf, "HTTP/1.0 200", 12) != 0) {
		char *eol = strpbrk(s->buf, "\r\n");
		int w = eol ? (int) (eol - s->buf) : (int) (n < 80 ? n : 80);
		snprintf(err, errlen, "answered '%.*s'", w, s->buf);
		goto out;
	}
	if (strstr(s->buf, "\njobd_workers ") == NULL) {
		snprintf(err, errlen, "a reply without jobd_workers");
		goto out;
	}
	*bytes = n;
	rv = 0;
out:
	close(fd);
	return rv;
}

static void *
scrape_main(void *arg)
{
	scraper *s = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&s->mtx);
	while (!s->stop) {
		pthread_mutex_unlock(&s->mtx);
		char err[sizeof(s->st.last_error)] = "";
		uint64_t bytes = 0;
		int64_t t0 = bench_now_ns();
		int rv = scrape_once(s, err, sizeof(err), &bytes);
		int64_t dt = bench_now_ns() - t0;
		pthread_mutex_lock(&s->mtx);
		if (rv == 0) {
			s->st.good++;
			s->st.bytes = bytes;
			if (s->ntimes < MAX_TIMES)
				s->times[s->ntimes++] = (uint64_t) dt;
		} else {
			s->st.bad++;
			memcpy(s->st.last_error, err, sizeof(err));
		}
		next.tv_nsec += (long) (s->period_ms % 1000) * 1000000L;
		next.tv_sec += (time_t) (s->period_ms / 1000);
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (!s->stop &&
		       pthread_cond_timedwait(&s->cv, &s->mtx, &next) == 0)
			;
	}
	pthread_mutex_unlock(&s->mtx);
	return NULL;
}

int
scraper_start(scraper **sp, int port, const char *token, uint32_t period_ms)
{
	pthread_condattr_t ca;
	scraper *s = calloc(1, sizeof(*s));

	*sp = NULL;
	if (s == NULL || (s->buf = malloc(65536)) == NULL ||
	    (s->times = calloc(MAX_TIMES, sizeof(*s->times))) == NULL) {
		if (s != NULL)
			free(s->buf);
		free(s);
		bench_errorf("out of memory");
		return -1;
	}
	s->cap = 65536;
	s->port = port;
	s->period_ms = period_ms;
	snprintf(s->token, sizeof(s->token), "%s", token ? token : "");
	pthread_mutex_init(&s->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->thread, NULL, scrape_main, s) != 0) {
		bench_errorf("cannot start the scraper thread");
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mtx);
		free(s->times);
		free(s->buf);
		free(s);
		return -1;
	}
	*sp = s;
	return 0;
}

void
scraper_peek(scraper *s, struct scrape_stats *st)
{
	pthread_mutex_lock(&s->mtx);
	*st = s->st;
	pthread_mutex_unlock(&s->mtx);
}

void
scraper_stop(scraper *s, struct scrape_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mtx);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mtx);
	pthread_join(s->thread, NULL);
	*st = s->st;
	st->p50_ns = bench_percentile(s->times, s->ntimes, 50);
	st->p99_ns = bench_percentile(s->times, s->ntimes, 99);
	st->max_ns = bench_percentile(s->times, s->ntimes, 100);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mtx);
	free(s->times);
	free(s->buf);
	free(s);
}

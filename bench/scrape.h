#ifndef JOBD_BENCH_SCRAPE_H
#define JOBD_BENCH_SCRAPE_H

/*
 * scrape: a thread that GETs /metrics from a jobd's HTTP listener every
 * period, as Prometheus would, while a workload measures something else
 * (latency-scrape). Plain HTTP/1.1 over a fresh loopback TCP connection
 * per scrape (what Prometheus does after an idle connection closes), the
 * whole reply read; a scrape is good when it is a 200 whose body has
 * jobd_workers in it.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct scraper scraper;

struct scrape_stats {
	uint64_t good;   /* scrapes answered 200 with the metrics */
	uint64_t bad;    /* scrapes that failed, or answered otherwise */
	uint64_t bytes;  /* of the last good reply */
	uint64_t p50_ns; /* time of a scrape, connect to the last byte */
	uint64_t p99_ns;
	uint64_t max_ns;
	char last_error[160]; /* of the last bad one; "" if none */
};

/* Starts scraping http://127.0.0.1:PORT/metrics every period_ms (token:
 * sent as Bearer when not NULL). 0, or -1 having said why. */
int scraper_start(scraper **sp, int port, const char *token,
                  uint32_t period_ms);
/* The figures so far (no percentiles). */
void scraper_peek(scraper *s, struct scrape_stats *st);
/* Stops the thread (after its scrape in progress) and fills *st. Accepts
 * NULL (st zeroed). */
void scraper_stop(scraper *s, struct scrape_stats *st);

#endif

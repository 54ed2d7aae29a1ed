#ifndef JOBD_BENCH_REPORT_H
#define JOBD_BENCH_REPORT_H

/*
 * report: the figures of a run. Each figure is printed on stdout as a row
 * of the table as soon as it is added; report_write_json() writes them all
 * at the end, with the machine and the options.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct report report;

/* How a figure is compared with its target. */
enum report_cmp {
	REPORT_NONE, /* no target */
	REPORT_LT,   /* value < target */
	REPORT_LE,   /* value <= target */
	REPORT_GE,   /* value >= target */
};

/* A new report, for a run whose data directory is `datadir` ("" when
 * there is none: --addr). NULL when out of memory. */
report *report_create(const char *datadir);
/* Accepts NULL. */
void report_destroy(report *r);

/* Prints the machine (CPU, kernel, the data directory's filesystem) and
 * the table's header on stdout. */
void report_print_header(const report *r, const char *jobd, const char *addr);
/* True when the data directory is on tmpfs. */
bool report_dir_on_tmpfs(const report *r);

/* Starts the figures of `workload` (a static string). */
void report_begin(report *r, const char *workload);
/* Adds a figure of the current workload and prints its row. `name` is its
 * key in the JSON (static), `label` what the table says (copied), `unit`
 * ("us", "jobs/s", "" ...) static; `decimals` how it is printed. */
void report_add(report *r, const char *name, const char *label, double value,
                const char *unit, int decimals, enum report_cmp cmp,
                double target);
/* Ends the current workload: "ok", "failed" or "skipped" (static), with
 * why (copied; may be NULL). */
void report_end(report *r, const char *status, const char *why);

/* Records an option for the JSON's "options" (copied): a string (NULL:
 * null), or a number. */
void report_option(report *r, const char *name, const char *value);
void report_option_u64(report *r, const char *name, uint64_t value);

/* Writes the JSON to `path`; 0, or -1 having said why. */
int report_write_json(const report *r, const char *path);

#endif

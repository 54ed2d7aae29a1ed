#ifndef JOBD_SCHEDFILE_H
#define JOBD_SCHEDFILE_H

/*
 * schedfile: the *.schedule files of the kinds directory, each one
 * periodic job (INI, read with libinih like the kind files):
 *
 *     [schedule]
 *     kind = report
 *     cron = 30 3 * * *          ; or: every = 5m (exactly one of the two)
 *     time_zone = Europe/Paris   ; cron only; default UTC
 *     catch_up = one             ; one (default) | all | none
 *     priority = 0
 *     timeout = 10m              ; optional
 *     max_attempts = 3           ; optional
 *     [params]
 *     day = yesterday
 *
 * The schedule's name is the file's name without .schedule.
 */

#include <stddef.h>
#include <stdint.h>

#include "cron.h"
#include "registry.h"
#include "store.h"
#include "tz.h"

/* The longest schedule name: "schedule:NAME:2026-12-06T03:30:00Z" stays
 * within the idempotency key limit (128). */
#define SCHED_NAME_MAX 64

enum catch_up { CATCH_UP_ONE = 0, CATCH_UP_ALL = 1, CATCH_UP_NONE = 2 };

/* "one", "all", "none". */
const char *catch_up_name(int c);

/* One schedule, as read; every pointer is owned by it. */
struct schedule {
	char *name;
	char *kind;
	char *spec;      /* "cron 30 3 * * *" or "every 5m", as written */
	char *time_zone; /* cron: the zone's name ("UTC" by default); "" for
	                    every */
	char *source;    /* the file */
	struct job_param *params;
	size_t nparams;
	int32_t priority;
	uint32_t timeout_ms;   /* 0 = none */
	uint32_t max_attempts; /* 0 = as Submit's default */
	int catch_up;          /* enum catch_up */
	cron *when;
	tz *zone;
};

/* Every schedule of a directory, sorted by name. */
struct schedset {
	struct schedule *v;
	size_t n;
};

/*
 * Reads one file into *out, checking its kind and params against ks (as
 * Submit would). JOBD_OK, or JOBD_INVALID_ARGUMENT with "PATH:LINE: what is
 * wrong" lines in err (JOBD_RESOURCE_EXHAUSTED when out of memory); *out is
 * zeroed then.
 */
int schedfile_load(struct schedule *out, const char *path, const kindset *ks,
                   char *err, size_t errlen);
/*
 * Reads every *.schedule file of dir (none when dir is NULL) into a new
 * set *out. JOBD_OK, or the error of the files with each file's problems
 * in err, one per line, and *out NULL.
 */
int schedfile_load_dir(struct schedset **out, const char *dir,
                       const kindset *ks, char *err, size_t errlen);
/* Frees what s owns and zeroes it. */
void schedule_clear(struct schedule *s);
/* Accepts NULL. */
void schedset_free(struct schedset *set);

#endif

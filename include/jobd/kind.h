#ifndef JOBD_KIND_API_H
#define JOBD_KIND_API_H

/*
 * The jobd kind API: how a job kind plugs into jobd.
 *
 * A kind is a row, `struct jobd_kind`: a name, a one-line description, a
 * table of typed and bounded parameters, whether it takes input, its limits,
 * and a run function. jobd checks a job's parameters against the table at
 * Submit, so the run function never sees a bad one; it then calls run() on
 * a worker thread, with the job and the host's table of functions. A job
 * reaches jobd only through that table: its parameters, its input, progress
 * (which also answers "stop now"), its result, its error.
 *
 * The built-in kinds (count, primes, sha256, sleep, fail) and program kinds
 * (kinds.d files) are rows of this same struct, registered through the same
 * registrar that a plugin's init function receives.
 *
 * A C plugin is a shared object that declares itself with JOBD_PLUGIN(init):
 *
 *     #include <jobd/kind.h>
 *     static int run(jobd_job *job, const struct jobd_host *host) { ... }
 *     static const struct jobd_kind kinds[] = {{.name = "mine", ...}};
 *     static int init(struct jobd_registrar *reg) {
 *         return reg->add_kind(reg, &kinds[0]);
 *     }
 *     JOBD_PLUGIN(init)
 *
 * Versions. JOBD_KIND_API_VERSION counts changes of this header. The
 * structs below only ever grow at their end, and a new function is added at
 * the end of its table. JOBD_PLUGIN() records the version and the sizes of
 * the structs the plugin was built with; jobd refuses, naming both
 * versions, a plugin built for a version it does not know or with sizes
 * that do not match that version.
 *
 * Rules for a run function:
 * - call host->progress() every few milliseconds of work at most; when it
 *   returns non-zero (the job was cancelled, timed out, or jobd is
 *   stopping), return JOBD_RUN_STOPPED at once;
 * - it runs on one of jobd's worker threads, under a low CPU priority; it
 *   may not keep the thread after it returns, call exit(), or change the
 *   process's signal dispositions, working directory or environment;
 * - a plugin leaves nothing behind that outlives its kinds' runs (threads,
 *   atexit handlers): jobd closes the object once no kind set uses it;
 * - pointers from the host (parameters, input) are valid until run()
 *   returns; the result is copied by set_result().
 *
 * This header includes only standard C headers.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOBD_KIND_API_VERSION 1

/* The longest kind name; names are made of [A-Za-z0-9_.-]. */
#define JOBD_KIND_NAME_MAX 64

enum jobd_param_type {
	JOBD_PARAM_INT = 1,    /* decimal integer in [min, max] */
	JOBD_PARAM_STRING = 2, /* at most max bytes (min: at least), no
	                          control characters but tab and newline */
	JOBD_PARAM_BOOL = 3,   /* "true" or "false" */
	JOBD_PARAM_CHOICE = 4, /* one of `choices` */
};

struct jobd_param {
	const char *name; /* [a-z][a-z0-9_]*, at most 32 characters */
	int type;         /* enum jobd_param_type */
	int required;     /* non-zero: must be given (then def is NULL) */
	int64_t min;      /* INT: lowest value; STRING: shortest length */
	int64_t max;      /* INT: highest value; STRING: longest length */
	const char *def;  /* the value when not given, as text; NULL: none */
	const char *desc; /* one line */
	const char *const *choices; /* CHOICE: the values, NULL-terminated */
};

/* What run() returns. */
enum jobd_run_outcome {
	JOBD_RUN_OK = 0,           /* succeeded; the result is set (or empty) */
	JOBD_RUN_FAILED = 1,       /* failed (error set); retried while the
	                              job has attempts left */
	JOBD_RUN_STOPPED = 2,      /* progress() said to stop */
	JOBD_RUN_FAILED_FINAL = 3, /* failed, and retrying cannot help */
};

typedef struct jobd_job jobd_job; /* one run of one job; opaque */
struct jobd_host;

struct jobd_kind {
	const char *name; /* unique in a jobd; see JOBD_KIND_NAME_MAX */
	const char *desc; /* one line */
	const struct jobd_param *params;
	size_t nparams;
	int uses_input;       /* non-zero: the job may carry input bytes */
	uint32_t concurrency; /* at most this many run at once; 0 = as many
	                         as there are workers */
	uint32_t max_input;   /* bytes; 0 or more than the host's limit: the
	                         host's limit (1 MiB) */
	int (*run)(jobd_job *job, const struct jobd_host *host);
	void *data; /* the kind's own: host->kind(job)->data */
};

/*
 * The host: what a running job may call. Every function takes the job
 * run() was given, and may be called only from run()'s thread while run()
 * has not returned.
 */
struct jobd_host {
	uint32_t api_version; /* the host's JOBD_KIND_API_VERSION */
	uint32_t size;        /* the host's sizeof(struct jobd_host) */

	/* Reports progress in the kind's own units (done of total; total 0:
	 * unknown). Returns non-zero when the job must stop now. */
	int (*progress)(jobd_job *job, uint64_t done, uint64_t total);
	/* The job's input; *data is never NULL (len 0: no input). */
	void (*input)(jobd_job *job, const uint8_t **data, size_t *len);
	/* Parameter `name` as text: the given value, else its default, else
	 * NULL (an optional parameter without default, or not the kind's). */
	const char *(*param)(jobd_job *job, const char *name);
	/* An INT parameter's value (its default when not given); 0 when it
	 * has neither. */
	int64_t (*param_int)(jobd_job *job, const char *name);
	/* Copies len bytes as the job's result (replacing an earlier one).
	 * 0, or -1 when out of memory. */
	int (*set_result)(jobd_job *job, const void *data, size_t len);
	/* Sets the job's error message (printf format; cut at 4 KiB) and
	 * returns JOBD_RUN_FAILED, so that `return host->fail(job, ...)`. */
	int (*fail)(jobd_job *job, const char *fmt, ...)
#if defined(__GNUC__)
	    __attribute__((format(printf, 2, 3)))
#endif
	    ;
	/* The job's id, and which attempt this is (1 for the first). */
	uint64_t (*job_id)(jobd_job *job);
	uint32_t (*attempt)(jobd_job *job);
	/* The kind row being run. */
	const struct jobd_kind *(*kind)(jobd_job *job);
};

/*
 * Registration: a plugin's init function, and jobd's own built-in kinds,
 * add their kinds through this. add_kind() checks the row (name, parameter
 * table, run) and returns 0, or -1 with the reason in error(reg). The row
 * and everything it points to must stay valid while the plugin is loaded
 * (its static data): jobd closes the object only once no kind set that
 * loaded it is in use.
 */
struct jobd_registrar {
	uint32_t api_version; /* the host's JOBD_KIND_API_VERSION */
	uint32_t size;        /* the host's sizeof(struct jobd_registrar) */
	int (*add_kind)(struct jobd_registrar *reg, const struct jobd_kind *k);
	const char *(*error)(struct jobd_registrar *reg);
	void *ctx; /* the host's */
};

/* A plugin's ABI stamp, checked before its init function is called. */
struct jobd_plugin_stamp {
	uint32_t api_version;
	uint32_t kind_size;
	uint32_t param_size;
	uint32_t host_size;
	uint32_t registrar_size;
};

#define JOBD_PLUGIN_STAMP_SYMBOL "jobd_plugin_stamp"
#define JOBD_PLUGIN_INIT_SYMBOL  "jobd_plugin_init"

#if defined(__GNUC__)
#define JOBD_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define JOBD_PLUGIN_EXPORT
#endif

/* Declares a plugin whose init function is `init`:
 * int init(struct jobd_registrar *reg), 0 on success. */
#define JOBD_PLUGIN(init)                                                      \
	JOBD_PLUGIN_EXPORT const struct jobd_plugin_stamp jobd_plugin_stamp =  \
	    {JOBD_KIND_API_VERSION, (uint32_t) sizeof(struct jobd_kind),       \
	     (uint32_t) sizeof(struct jobd_param),                             \
	     (uint32_t) sizeof(struct jobd_host),                              \
	     (uint32_t) sizeof(struct jobd_registrar)};                        \
	JOBD_PLUGIN_EXPORT int jobd_plugin_init(struct jobd_registrar *reg);   \
	JOBD_PLUGIN_EXPORT int jobd_plugin_init(struct jobd_registrar *reg)    \
	{                                                                      \
		return init(reg);                                              \
	}

#ifdef __cplusplus
}
#endif

#endif

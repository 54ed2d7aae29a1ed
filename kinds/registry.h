#ifndef JOBD_REGISTRY_H
#define JOBD_REGISTRY_H

/*
 * registry (kindset_, kind_): the kinds a jobd runs, as one immutable set.
 *
 * A kindset is built whole (built-in kinds, then --plugin objects, then the
 * files of --kinds-dir in name order) and then never changes; a reload
 * builds a new one and the scheduler switches to it, while jobs already
 * running keep a reference to the set they started with. So a kind's row
 * stays valid for as long as any job runs it.
 *
 * Every kind name ever seen gets a small number, its id, for the life of
 * the process (kind_intern): a queued job holds the id of its kind's name,
 * not a pointer, so that a job whose kind is not defined (or no longer is)
 * can wait for it, and a kind redefined by a reload applies to the jobs
 * that start afterwards.
 *
 * Thread safety: a kindset is read by any thread without locks once built;
 * kindset_ref/unref are atomic. kind_intern and kind_name_of take the name
 * table's own lock. Building a set is for one thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jobd/kind.h>

#include "store.h"

/* The largest input a kind may take, whatever it declares. */
#define KIND_MAX_INPUT (1024 * 1024)
/* The longest integer parameter value, in characters: INT64_MIN's. */
#define KIND_MAX_INT_LEN 20
/* The longest parameter name. */
#define KIND_PARAM_NAME_MAX 32
/* The most kind names a jobd can know in its life. */
#define KIND_MAX_NAMES 65535

enum kind_origin {
	KIND_BUILTIN = 1, /* compiled into jobd */
	KIND_PROGRAM = 2, /* a program, from a kind file */
	KIND_PLUGIN = 3,  /* a C plugin (--plugin, or a kind file's plugin) */
};

/* "built-in", "program", "plugin". */
const char *kind_origin_name(enum kind_origin o);

/* One kind of a set. */
struct kind_def {
	const struct jobd_kind *k;
	enum kind_origin origin;
	const char *source; /* the file it came from; NULL when built-in */
	uint32_t id;        /* kind_intern(k->name) */
};

typedef struct kindset kindset;

/* Where the kinds come from. */
struct kinds_config {
	const char *dir;            /* kind files (*.kind); NULL: none */
	const char *const *plugins; /* shared objects; may be NULL */
	size_t nplugins;
};

/*
 * Builds the set: the built-in kinds, the plugins, the kind files. JOBD_OK,
 * or JOBD_INVALID_ARGUMENT with every problem found described in err (as
 * "FILE:LINE: what is wrong", one per line, the first ones if they do not
 * fit), and *out NULL. A set starts with one reference.
 */
int kindset_load(kindset **out, const struct kinds_config *cfg, char *err,
                 size_t errlen);
/* An empty set to add kinds to (tests, and the loader). NULL if out of
 * memory. */
kindset *kindset_new(void);
/*
 * Adds kind k to ks. origin and source (copied) say where it comes from;
 * destroy, when not NULL, is called with arg when the set is freed (for
 * kinds made at run time, such as program kinds). JOBD_OK, or
 * JOBD_INVALID_ARGUMENT (a bad row, or a name already in the set) /
 * JOBD_RESOURCE_EXHAUSTED with the reason in err; destroy is called then
 * too, so the caller never frees what it handed over.
 */
int kindset_add(kindset *ks, const struct jobd_kind *k, enum kind_origin origin,
                const char *source, void (*destroy)(void *), void *arg,
                char *err, size_t errlen);
/*
 * A registrar (jobd/kind.h) whose add_kind adds to ks with the given origin
 * and source: what plugins' init functions and the built-in kinds get. The
 * registrar is valid while `storage` is.
 */
struct kindset_reg {
	struct jobd_registrar reg;
	kindset *ks;
	enum kind_origin origin;
	const char *source;
	char err[512];
};
void kindset_registrar(struct kindset_reg *storage, kindset *ks,
                       enum kind_origin origin, const char *source);

/* Has ks call destroy(arg) when it is freed, after its kinds' own destroy
 * functions: what the kinds of a set need as long as the set lives (a
 * plugin's shared object). JOBD_OK, or JOBD_RESOURCE_EXHAUSTED, having
 * called destroy(arg) at once. */
int kindset_hold(kindset *ks, void (*destroy)(void *), void *arg);

kindset *kindset_ref(kindset *ks);
/* Drops a reference; the last frees the set. Accepts NULL. */
void kindset_unref(kindset *ks);

/* The kind named `name` in ks, or NULL. */
const struct kind_def *kindset_find(const kindset *ks, const char *name);
/* The kind whose name has id `id` in ks, or NULL. */
const struct kind_def *kindset_by_id(const kindset *ks, uint32_t id);
/* The kinds of ks in the order they were added; *n = how many. */
const struct kind_def *kindset_all(const kindset *ks, size_t *n);

/* The id of kind name `name`, made on first use; UINT32_MAX when out of
 * memory or past KIND_MAX_NAMES. */
uint32_t kind_intern(const char *name);
/* The id of kind name `name` if it has one, else UINT32_MAX (no new id). */
uint32_t kind_lookup(const char *name);
/* The name with id `id` (valid for the life of the process), or NULL. */
const char *kind_name_of(uint32_t id);

/*
 * Checks a job's parameters and input size against kind k: every name
 * known, no name twice, every required one present, each value of its type
 * and within bounds, the input allowed and within the kind's limit.
 * JOBD_OK, or JOBD_INVALID_ARGUMENT with a message naming the parameter in
 * err. Values quoted back are cut short and escaped.
 */
int kind_validate(const struct jobd_kind *k, const struct job_param *params,
                  size_t nparams, size_t input_len, char *err, size_t errlen);
/* Checks one value of parameter p of kind k: its type and bounds.
 * JOBD_OK, or JOBD_INVALID_ARGUMENT with a message naming both in err. */
int kind_check_value(const struct jobd_kind *k, const struct jobd_param *p,
                     const char *value, char *err, size_t errlen);
/* A kind name: 1 to JOBD_KIND_NAME_MAX of [A-Za-z0-9_.-]. */
bool kind_name_ok(const char *s);
/* A parameter name: 1 to KIND_PARAM_NAME_MAX of [a-z0-9_], starting with a
 * letter. */
bool kind_param_name_ok(const char *s);
/* Checks a kind row itself (name, parameter table, run): JOBD_OK, or
 * JOBD_INVALID_ARGUMENT with the reason in err. */
int kind_check_row(const struct jobd_kind *k, char *err, size_t errlen);
/* The largest input kind k takes (0 when it takes none). */
size_t kind_max_input(const struct jobd_kind *k);
/* Parses s as a whole decimal integer ('-'? digits, no overflow). */
bool kind_parse_int(const char *s, int64_t *out);

#endif

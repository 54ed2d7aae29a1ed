/*
 * registry: kind sets and kind names.
 *
 * A set is an array of kind_def in the order the kinds were added, and an
 * index by name id so that the scheduler finds a queued job's kind in O(1)
 * when it picks the next job. Sets are immutable once built and shared by
 * reference counting (registry.h): the scheduler holds the current one, and
 * every running job holds the one it started with, so a reload never frees
 * a row under a running job.
 *
 * Names: every kind name this process has seen, in one table that only
 * grows (KIND_MAX_NAMES at most), found by an open-addressing hash. An id is
 * an index into it. The table has its own mutex; the names themselves never
 * move or change, so kind_name_of()'s result is valid for good: the table
 * is freed only at exit (a destructor), for leak checkers.
 *
 * Loading order: the built-in kinds, then each --plugin, then the files of
 * the kinds directory in name order; a name defined twice is an error that
 * names both places.
 */
#include "registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin/builtin.h"
#include "jobd_status.h"
#include "kindfile.h"
#include "plugin.h"

struct owned {
	void (*destroy)(void *);
	void *arg;
};

struct kindset {
	atomic_uint refs;
	struct kind_def *defs;
	struct owned *owned; /* defs[i]'s destroy, if any */
	size_t n, cap;
	struct owned *holds; /* kindset_hold's */
	size_t nholds;
	const struct kind_def **by_id; /* [id]: the def, or NULL */
	size_t nby_id;
};

const char *
kind_origin_name(enum kind_origin o)
{
	switch (o) {
	case KIND_BUILTIN:
		return "built-in";
	case KIND_PROGRAM:
		return "program";
	case KIND_PLUGIN:
		return "plugin";
	}
	return "unknown";
}

/* ---- names ------------------------------------------------------------ */

static struct {
	pthread_mutex_t mtx;
	char **names; /* [id] */
	uint32_t n;
	uint32_t *slots; /* hash: id + 1, 0 = empty */
	size_t nslots;
} names = {.mtx = PTHREAD_MUTEX_INITIALIZER};

static size_t
name_hash(const char *s)
{
	size_t h = 14695981039346656037u; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char) *s) * 1099511628211u;
	return h;
}

/* The slot of `name`, or of the empty slot where it would go. Under mtx. */
static size_t
name_slot(const char *name)
{
	size_t i = name_hash(name) & (names.nslots - 1);

	while (names.slots[i] != 0 &&
	       strcmp(names.names[names.slots[i] - 1], name) != 0)
		i = (i + 1) & (names.nslots - 1);
	return i;
}

/* Makes the hash twice as big (or its first size). Under mtx. */
static int
names_grow(void)
{
	size_t nslots = names.nslots ? names.nslots * 2 : 64;
	uint32_t *old = names.slots;
	size_t oldn = names.nslots;
	char **nn = realloc(names.names, nslots / 2 * sizeof(*nn));

	if (nn == NULL)
		return -1;
	names.names = nn;
	if ((names.slots = calloc(nslots, sizeof(*names.slots))) == NULL) {
		names.slots = old;
		return -1;
	}
	names.nslots = nslots;
	for (size_t i = 0; i < oldn; i++)
		if (old[i] != 0)
			names.slots[name_slot(names.names[old[i] - 1])] =
			    old[i];
	free(old);
	return 0;
}

static void __attribute__((destructor)) names_free(void)
{
	for (uint32_t i = 0; i < names.n; i++)
		free(names.names[i]);
	free(names.names);
	free(names.slots);
}

uint32_t
kind_intern(const char *name)
{
	uint32_t id = UINT32_MAX;
	size_t i;
	char *copy;

	if (name == NULL)
		return UINT32_MAX;
	pthread_mutex_lock(&names.mtx);
	if (names.nslots > 0 && names.slots[i = name_slot(name)] != 0) {
		id = names.slots[i] - 1;
		goto out;
	}
	/* at most half full, so that probes stay short */
	if (names.n >= KIND_MAX_NAMES ||
	    (names.n + 1 > names.nslots / 2 && names_grow() != 0) ||
	    (copy = strdup(name)) == NULL)
		goto out;
	id = names.n++;
	names.names[id] = copy;
	names.slots[name_slot(name)] = id + 1;
out:
	pthread_mutex_unlock(&names.mtx);
	return id;
}

uint32_t
kind_lookup(const char *name)
{
	uint32_t id = UINT32_MAX;
	size_t i;

	pthread_mutex_lock(&names.mtx);
	if (name != NULL && names.nslots > 0 &&
	    names.slots[i = name_slot(name)] != 0)
		id = names.slots[i] - 1;
	pthread_mutex_unlock(&names.mtx);
	return id;
}

const char *
kind_name_of(uint32_t id)
{
	const char *s = NULL;

	pthread_mutex_lock(&names.mtx);
	if (id < names.n)
		s = names.names[id];
	pthread_mutex_unlock(&names.mtx);
	return s;
}

/* ---- sets ------------------------------------------------------------- */

kindset *
kindset_new(void)
{
	kindset *ks = calloc(1, sizeof(*ks));

	if (ks != NULL)
		atomic_init(&ks->refs, 1);
	return ks;
}

int
kindset_hold(kindset *ks, void (*destroy)(void *), void *arg)
{
	struct owned *v = realloc(ks->holds, (ks->nholds + 1) * sizeof(*v));

	if (v == NULL) {
		destroy(arg);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	ks->holds = v;
	ks->holds[ks->nholds++] = (struct owned){destroy, arg};
	return JOBD_OK;
}

kindset *
kindset_ref(kindset *ks)
{
	atomic_fetch_add(&ks->refs, 1);
	return ks;
}

void
kindset_unref(kindset *ks)
{
	if (ks == NULL || atomic_fetch_sub(&ks->refs, 1) != 1)
		return;
	for (size_t i = ks->n; i-- > 0;) {
		free((char *) ks->defs[i].source);
		if (ks->owned[i].destroy != NULL)
			ks->owned[i].destroy(ks->owned[i].arg);
	}
	for (size_t i = ks->nholds; i-- > 0;)
		ks->holds[i].destroy(ks->holds[i].arg);
	free(ks->holds);
	free(ks->by_id);
	free(ks->owned);
	free(ks->defs);
	free(ks);
}

const struct kind_def *
kindset_by_id(const kindset *ks, uint32_t id)
{
	return ks != NULL && id < ks->nby_id ? ks->by_id[id] : NULL;
}

const struct kind_def *
kindset_find(const kindset *ks, const char *name)
{
	for (size_t i = 0; ks != NULL && name != NULL && i < ks->n; i++)
		if (strcmp(ks->defs[i].k->name, name) == 0)
			return &ks->defs[i];
	return NULL;
}

const struct kind_def *
kindset_all(const kindset *ks, size_t *n)
{
	*n = ks->n;
	return ks->defs;
}

/* Rebuilds the index by id (defs moved, or a new id). */
static int
index_ids(kindset *ks)
{
	size_t need = 0;

	for (size_t i = 0; i < ks->n; i++)
		if (ks->defs[i].id + 1 > need)
			need = ks->defs[i].id + 1;
	const struct kind_def **v = calloc(need ? need : 1, sizeof(*v));
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < ks->n; i++)
		v[ks->defs[i].id] = &ks->defs[i];
	free(ks->by_id);
	ks->by_id = v;
	ks->nby_id = need;
	return 0;
}

int
kindset_add(kindset *ks, const struct jobd_kind *k, enum kind_origin origin,
            const char *source, void (*destroy)(void *), void *arg, char *err,
            size_t errlen)
{
	const struct kind_def *old;
	struct kind_def d = {k, origin, NULL, 0};
	int rv;

	if ((rv = kind_check_row(k, err, errlen)) != JOBD_OK)
		goto fail;
	if ((old = kindset_find(ks, k->name)) != NULL) {
		snprintf(err, errlen, "kind '%s' is already defined (%s%s%s)",
		         k->name, kind_origin_name(old->origin),
		         old->source ? " " : "",
		         old->source ? old->source : "");
		rv = JOBD_INVALID_ARGUMENT;
		goto fail;
	}
	rv = JOBD_RESOURCE_EXHAUSTED;
	snprintf(err, errlen, "out of memory");
	if ((d.id = kind_intern(k->name)) == UINT32_MAX)
		goto fail;
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 16;
		struct kind_def *nd = realloc(ks->defs, cap * sizeof(*nd));
		if (nd == NULL)
			goto fail;
		ks->defs = nd;
		struct owned *no = realloc(ks->owned, cap * sizeof(*no));
		if (no == NULL)
			goto fail;
		ks->owned = no;
		ks->cap = cap;
	}
	if (source != NULL && (d.source = strdup(source)) == NULL)
		goto fail;
	ks->defs[ks->n] = d;
	ks->owned[ks->n] = (struct owned){destroy, arg};
	ks->n++;
	if (index_ids(ks) != 0) {
		ks->n--;
		free((char *) d.source);
		goto fail;
	}
	err[0] = '\0';
	return JOBD_OK;
fail:
	if (destroy != NULL)
		destroy(arg);
	return rv;
}

/* ---- the registrar ---------------------------------------------------- */

static int
reg_add_kind(struct jobd_registrar *reg, const struct jobd_kind *k)
{
	struct kindset_reg *r = reg->ctx;

	return kindset_add(r->ks, k, r->origin, r->source, NULL, NULL, r->err,
	                   sizeof(r->err)) == JOBD_OK
	           ? 0
	           : -1;
}

static const char *
reg_error(struct jobd_registrar *reg)
{
	return ((struct kindset_reg *) reg->ctx)->err;
}

void
kindset_registrar(struct kindset_reg *storage, kindset *ks,
                  enum kind_origin origin, const char *source)
{
	memset(storage, 0, sizeof(*storage));
	storage->reg.api_version = JOBD_KIND_API_VERSION;
	storage->reg.size = sizeof(storage->reg);
	storage->reg.add_kind = reg_add_kind;
	storage->reg.error = reg_error;
	storage->reg.ctx = storage;
	storage->ks = ks;
	storage->origin = origin;
	storage->source = source;
}

/* ---- loading ---------------------------------------------------------- */

int
kindset_load(kindset **out, const struct kinds_config *cfg, char *err,
             size_t errlen)
{
	int (*const *inits)(struct jobd_registrar *);
	struct kindset_reg r;
	kindset *ks;
	size_t n;
	int rv;

	*out = NULL;
	if ((ks = kindset_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	inits = builtin_inits(&n);
	for (size_t i = 0; i < n; i++) {
		kindset_registrar(&r, ks, KIND_BUILTIN, NULL);
		if (inits[i](&r.reg) != 0) {
			snprintf(err, errlen, "built-in kind: %s", r.err);
			rv = JOBD_INTERNAL;
			goto fail;
		}
	}
	for (size_t i = 0; cfg != NULL && i < cfg->nplugins; i++)
		if ((rv = plugin_load(ks, cfg->plugins[i], err, errlen)) !=
		    JOBD_OK)
			goto fail;
	if (cfg != NULL && cfg->dir != NULL &&
	    (rv = kindfile_load_dir(ks, cfg->dir, err, errlen)) != JOBD_OK)
		goto fail;
	*out = ks;
	return JOBD_OK;
fail:
	kindset_unref(ks);
	return rv;
}

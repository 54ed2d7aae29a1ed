/*
 * plugin: C plugins, loaded with dlopen() and checked before they run.
 *
 * A plugin declares itself with JOBD_PLUGIN(init) (jobd/kind.h), which
 * exports two symbols: an ABI stamp (the kind API version it was built for
 * and the sizes of the four structs it shares with jobd) and its init
 * function. plugin_load() opens the object with RTLD_NOW, so a missing
 * symbol fails the load here rather than a job later, and RTLD_LOCAL, so
 * that two plugins' symbols never meet. It checks the stamp before
 * anything of the plugin runs: the version must be one this jobd knows
 * (1 to JOBD_KIND_API_VERSION) and the sizes those of that version
 * (plugin_abi[]); then init() adds the kinds through a registrar.
 *
 * Unloading. An object whose stamp is refused (or that has no stamp or
 * init) is closed again: none of its code ran. Once init() ran, the set
 * holds the object (kindset_hold), whatever init() returned, and closes it
 * when the set is freed, which is once no running job uses the set: rows
 * are reached only through sets. Loading the same path again (a reload
 * building a new set) gets the object already loaded (dlopen() counts
 * references), so its init() runs again, for the new set, on the same
 * static data; the object goes only when the last set that loaded it
 * does. A plugin must therefore leave nothing behind that outlives its
 * kinds' runs (threads, atexit handlers): jobd/kind.h says so.
 *
 * Constructors. dlopen() runs the object's ELF constructors before the
 * stamp can be read; a plugin is trusted code, as it is for every program
 * that loads plugins this way.
 */
#include "plugin.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jobd_status.h"

/* The struct sizes of each kind API version; a version's line never
 * changes once released. */
static const struct jobd_plugin_stamp plugin_abi[] = {
    {1, (uint32_t) sizeof(struct jobd_kind),
     (uint32_t) sizeof(struct jobd_param), (uint32_t) sizeof(struct jobd_host),
     (uint32_t) sizeof(struct jobd_registrar)},
};

_Static_assert(sizeof(plugin_abi) / sizeof(plugin_abi[0]) ==
                   JOBD_KIND_API_VERSION,
               "a line of plugin_abi[] for every kind API version");

static void
plugin_close(void *h)
{
	dlclose(h);
}

/* The stamp's problem, in err, or 0 when it suits this jobd. */
static int
plugin_check_stamp(const char *path, const struct jobd_plugin_stamp *st,
                   char *err, size_t errlen)
{
	const struct jobd_plugin_stamp *cur =
	    &plugin_abi[JOBD_KIND_API_VERSION - 1];

	if (st->api_version >= 1 && st->api_version <= JOBD_KIND_API_VERSION) {
		const struct jobd_plugin_stamp *v =
		    &plugin_abi[st->api_version - 1];
		if (st->kind_size == v->kind_size &&
		    st->param_size == v->param_size &&
		    st->host_size == v->host_size &&
		    st->registrar_size == v->registrar_size)
			return 0;
	}
	snprintf(err, errlen,
	         "plugin '%s' was built for kind API %u (struct sizes "
	         "%u/%u/%u/%u), this jobd has kind API %u (%u/%u/%u/%u)",
	         path, st->api_version, st->kind_size, st->param_size,
	         st->host_size, st->registrar_size, cur->api_version,
	         cur->kind_size, cur->param_size, cur->host_size,
	         cur->registrar_size);
	return -1;
}

int
plugin_load(kindset *ks, const char *path, char *err, size_t errlen)
{
	const struct jobd_plugin_stamp *st;
	int (*init)(struct jobd_registrar *);
	struct kindset_reg reg;
	void *h, *sym;
	int rv;

	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		const char *why = dlerror();
		snprintf(err, errlen, "cannot load plugin '%s': %s", path,
		         why != NULL ? why : "unknown error");
		return JOBD_INVALID_ARGUMENT;
	}
	if ((st = dlsym(h, JOBD_PLUGIN_STAMP_SYMBOL)) == NULL ||
	    (sym = dlsym(h, JOBD_PLUGIN_INIT_SYMBOL)) == NULL) {
		snprintf(err, errlen,
		         "plugin '%s' has no %s (is it built with "
		         "JOBD_PLUGIN()?)",
		         path,
		         st == NULL ? "ABI stamp '" JOBD_PLUGIN_STAMP_SYMBOL "'"
		                    : "init function '" JOBD_PLUGIN_INIT_SYMBOL
		                      "'");
		dlclose(h);
		return JOBD_INVALID_ARGUMENT;
	}
	if (plugin_check_stamp(path, st, err, errlen) != 0) {
		dlclose(h);
		return JOBD_FAILED_PRECONDITION;
	}
	/* POSIX: a function pointer and void * convert through dlsym */
	memcpy(&init, &sym, sizeof(init));

	kindset_registrar(&reg, ks, KIND_PLUGIN, path);
	rv = init(&reg.reg);
	if (kindset_hold(ks, plugin_close, h) != JOBD_OK) {
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	if (rv != 0) {
		const char *why = reg.reg.error(&reg.reg);
		if (why != NULL && why[0] != '\0')
			snprintf(err, errlen, "plugin '%s': %s", path, why);
		else
			snprintf(err, errlen,
			         "plugin '%s': its init function returned %d",
			         path, rv);
		return JOBD_INVALID_ARGUMENT;
	}
	return JOBD_OK;
}

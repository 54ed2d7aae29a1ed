#ifndef JOBD_PLUGIN_H
#define JOBD_PLUGIN_H

/*
 * plugin: C plugins, shared objects that declare themselves with
 * JOBD_PLUGIN() (jobd/kind.h). Loaded with dlopen(), their ABI stamp
 * checked, then their init function called with a registrar that adds to
 * a kindset. The set holds the object, and closes it when the set is
 * freed, which is once no running job uses it (a kind's row is reached
 * only through a set); a set built by a reload gets an object already
 * loaded from the same path (dlopen counts references).
 */

#include <stddef.h>

#include "registry.h"

/*
 * Loads the plugin at path and adds its kinds to ks (origin KIND_PLUGIN,
 * source path). JOBD_OK, or JOBD_INVALID_ARGUMENT / JOBD_FAILED_PRECONDITION
 * (an ABI mismatch, naming both versions) with the reason in err.
 */
int plugin_load(kindset *ks, const char *path, char *err, size_t errlen);

#endif

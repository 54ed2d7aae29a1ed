/*
 * builtin: the list of built-in kinds, registered by the registry first,
 * through the same registrar as plugins.
 */
#include "builtin.h"

static int (*const inits[])(struct jobd_registrar *reg) = {
    builtin_count, builtin_primes, builtin_sha256, builtin_sleep, builtin_fail,
};

int (*const *builtin_inits(size_t *n))(struct jobd_registrar *reg)
{
	*n = sizeof(inits) / sizeof(inits[0]);
	return inits;
}

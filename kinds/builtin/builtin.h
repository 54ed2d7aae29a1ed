#ifndef JOBD_BUILTIN_H
#define JOBD_BUILTIN_H

/*
 * builtin: the kinds compiled into jobd, one file each. Each registers its
 * kind through a registrar exactly as a plugin's init function does
 * (jobd/kind.h), and uses nothing but the kind API.
 */

#include <jobd/kind.h>

int builtin_count(struct jobd_registrar *reg);
int builtin_primes(struct jobd_registrar *reg);
int builtin_sha256(struct jobd_registrar *reg);
int builtin_sleep(struct jobd_registrar *reg);
int builtin_fail(struct jobd_registrar *reg);

/* The built-in kinds' init functions, in registration order; *n = how many. */
int (*const *builtin_inits(size_t *n))(struct jobd_registrar *reg);

#endif

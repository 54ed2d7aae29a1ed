/*
 * duration: one parser for every duration (the grammar is in duration.h).
 *
 * It reads one character at a time and checks each number against the
 * caller's maximum before it multiplies or adds, so that no input can
 * overflow: a part whose number alone exceeds max is refused while its
 * digits are read, and a sum is compared as max - sum. Units are matched
 * longest first ("ms" before "m"), and each part's unit must be smaller
 * than the one before it, which also refuses a unit given twice.
 */
#include "duration.h"

#include <stddef.h>

static const struct {
	char name[3];
	uint64_t ms;
} units[] = {
    {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};

#define NUNITS (sizeof(units) / sizeof(units[0]))

/* The unit at p (an index into units), its length into *len; NUNITS if
 * none. */
static size_t
unit_at(const char *p, size_t *len)
{
	if (p[0] == 'm' && p[1] == 's') {
		*len = 2;
		return NUNITS - 1;
	}
	for (size_t i = 0; i + 1 < NUNITS; i++) {
		if (p[0] == units[i].name[0]) {
			*len = 1;
			return i;
		}
	}
	return NUNITS;
}

enum duration_err
duration_parse(const char *s, uint64_t max, unsigned flags, uint64_t *ms)
{
	uint64_t sum = 0;
	size_t last = 0; /* the previous part's unit + 1; 0: none yet */

	if (*s == '\0')
		return DURATION_EMPTY;
	while (*s != '\0') {
		uint64_t n = 0;
		size_t u, len;

		if (*s < '0' || *s > '9')
			return DURATION_NUMBER;
		for (; *s >= '0' && *s <= '9'; s++) {
			uint64_t d = (uint64_t) (*s - '0');
			if (d > max || n > (max - d) / 10)
				return DURATION_RANGE;
			n = n * 10 + d;
		}
		if ((u = unit_at(s, &len)) == NUNITS)
			return DURATION_UNIT;
		if (!(flags & DURATION_ANY_ORDER) && last > u)
			return DURATION_ORDER;
		if (n > (max - sum) / units[u].ms)
			return DURATION_RANGE;
		sum += n * units[u].ms;
		last = u + 1;
		s += len;
	}
	*ms = sum;
	return DURATION_OK;
}

/*
 * limit: the table of limits (limit.h), their messages, and the
 * open-file limit that the connection cap must stay under.
 */
#include "limit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"

/* Descriptors kept for everything but connections: the database and its
 * journal (writer, readers, each worker's own connection), the programs
 * of program kinds and their pipes, nng's own, the log. */
#define NOFILE_RESERVE 128

#define LIMIT_ROW_(id, name, value, kind, what) {name, value, kind, what},
const struct limit limit_table[LIM_COUNT_] = {JOBD_LIMITS(LIMIT_ROW_)};
#undef LIMIT_ROW_

void
limit_msg(char *buf, size_t len, enum limit_id id, const char *where,
          size_t got)
{
	const struct limit *l = &limit_table[id];

	switch (l->kind) {
	case LIMIT_COUNT:
		snprintf(buf, len, "%stoo many %s: %zu, at most %u", where,
		         l->what, got, l->value);
		break;
	case LIMIT_BYTES:
		snprintf(buf, len,
		         "%s%s is %zu bytes, more than the limit of %u", where,
		         l->what, got, l->value);
		break;
	case LIMIT_ROOM:
		snprintf(buf, len,
		         "%stoo many %s: the limit %s of %u is reached; try "
		         "again later",
		         where, l->what, l->name, l->value);
		break;
	default:
		snprintf(buf, len, "%s%s: the limit %s is %u", where, l->what,
		         l->name, l->value);
		break;
	}
}

unsigned long
limit_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		/* "unlimited" is not a number of files: the kernel's cap */
		rl.rlim_cur =
		    rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warn("cannot raise the open-file limit from %llu "
			         "to %llu: %s",
			         (unsigned long long) was,
			         (unsigned long long) rl.rlim_cur,
			         strerror(errno));
			rl.rlim_cur = was;
		} else {
			log_info("open-file limit raised from %llu to %llu",
			         (unsigned long long) was,
			         (unsigned long long) rl.rlim_cur);
		}
	} else {
		log_debug("open-file limit: %llu (the hard limit)",
		          (unsigned long long) rl.rlim_cur);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1ul << 30)
		return 1ul << 30;
	return (unsigned long) rl.rlim_cur;
}

unsigned
limit_connections(unsigned asked, unsigned long nofile)
{
	unsigned long room =
	    nofile > 2 * NOFILE_RESERVE ? nofile - NOFILE_RESERVE : nofile / 2;

	if (asked == 0) {
		unsigned long n = nofile / 2;
		return n > LIMIT_MAX_CONNECTIONS ? LIMIT_MAX_CONNECTIONS
		                                 : (unsigned) (n ? n : 1);
	}
	if (asked > room) {
		log_warn("--max-connections %u is more than the open-file "
		         "limit of %lu allows: at most %lu connections",
		         asked, nofile, room);
		return (unsigned) (room ? room : 1);
	}
	return asked;
}

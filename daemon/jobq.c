/*
 * jobq: the --db value picks the queue (jobq.h).
 *
 *   PATH, sqlite:PATH                  the local queue (jobq_local.c)
 *   postgresql://..., postgres://...   the shared queue (jobq_pg.c), when
 *                                      this jobd was built with libpq
 *                                      (JOBD_HAVE_PG)
 *
 * A URL of another scheme ("mysql://...", "postgresq://...") is refused
 * rather than taken for a file name: a typo must not make a new SQLite
 * file. Anything else that does not start with "sqlite:" is a path, as
 * --db always took it ("a:b.db" included).
 */
#include "jobq.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* The scheme of db ("sqlite", "postgresql", ...) into buf; false when db
 * has none (a plain path). */
static bool
scheme_of(const char *db, char *buf, size_t len)
{
	size_t n = 0;

	if (!isalpha((unsigned char) db[0]))
		return false;
	while (isalnum((unsigned char) db[n]) || db[n] == '+' || db[n] == '-' ||
	       db[n] == '.')
		n++;
	if (db[n] != ':' || n + 1 > len)
		return false;
	memcpy(buf, db, n);
	buf[n] = '\0';
	return true;
}

static bool
is_pg(const char *db)
{
	return strncmp(db, "postgresql://", 13) == 0 ||
	       strncmp(db, "postgres://", 11) == 0;
}

const char *
jobq_file(const char *db)
{
	char scheme[32];

	if (db == NULL)
		return NULL;
	if (strncmp(db, "sqlite:", 7) == 0)
		return db + 7;
	if (scheme_of(db, scheme, sizeof(scheme)) &&
	    strncmp(db + strlen(scheme), "://", 3) == 0)
		return NULL;
	return db;
}

void
jobq_redact(const char *db, char *buf, size_t len)
{
	const char *p = strstr(db, "://"), *at, *colon;

	if (p == NULL || (at = strchr(p + 3, '@')) == NULL ||
	    (colon = memchr(p + 3, ':', (size_t) (at - (p + 3)))) == NULL) {
		snprintf(buf, len, "%s", db);
		return;
	}
	snprintf(buf, len, "%.*s:***%s", (int) (colon - db), db, at);
}

int
jobq_open(jobq **qp, const struct jobq_config *cfg, char *err, size_t errlen)
{
	char scheme[32], shown[512];

	*qp = NULL;
	if (cfg->db == NULL || cfg->db[0] == '\0') {
		snprintf(err, errlen, "no database given (--db)");
		return JOBD_INVALID_ARGUMENT;
	}
	if (jobq_file(cfg->db) != NULL) {
		if (jobq_file(cfg->db)[0] == '\0') {
			snprintf(err, errlen,
			         "database '%s' names no file (sqlite:PATH)",
			         cfg->db);
			return JOBD_INVALID_ARGUMENT;
		}
		return jobq_local_open(qp, cfg, err, errlen);
	}
	jobq_redact(cfg->db, shown, sizeof(shown));
	if (is_pg(cfg->db)) {
#ifdef JOBD_HAVE_PG
		return jobq_pg_open(qp, cfg, err, errlen);
#else
		snprintf(err, errlen,
		         "database '%s': this jobd was built without "
		         "PostgreSQL",
		         shown);
		return JOBD_UNIMPLEMENTED;
#endif
	}
	(void) scheme_of(cfg->db, scheme, sizeof(scheme));
	snprintf(err, errlen,
	         "database '%s': unknown scheme '%s:' (a file path, "
	         "sqlite:PATH, or postgresql://...)",
	         shown, scheme);
	return JOBD_INVALID_ARGUMENT;
}

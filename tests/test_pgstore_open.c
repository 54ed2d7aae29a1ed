/*
 * test_pgstore_open: opening the store (storage/postgres) and its schema:
 * a bad URL, a server that is not there, a database that is not, one
 * without the schema, the session's name; the migration run by four
 * daemons at once, and a newer jobd's schema refused.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "test_pgstore.h"

/* A free loopback port: one that nothing listens on (test_open_errors). */
static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *) &a, &l) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

void
test_open_errors(void)
{
	char err[256], url[128];
	pgstore *s = (pgstore *) 1;
	const char *base = server();
	int port = free_port();

	REQUIRE(base != NULL);
	CHECK_EQ_INT(
	    pgstore_open(&s, "postgresql://jobd@[::1/x", err, sizeof(err)),
	    JOBD_INVALID_ARGUMENT);
	CHECK(s == NULL);
	CHECK(strstr(err, "bad PostgreSQL URL") != NULL);

	/* nothing listens there */
	snprintf(url, sizeof(url),
	         "postgresql://jobd@127.0.0.1:%d/postgres?connect_timeout=2",
	         port);
	CHECK_EQ_INT(pgstore_open(&s, url, err, sizeof(err)), JOBD_UNAVAILABLE);
	CHECK(s == NULL);
	CHECK(strstr(err, "cannot connect to PostgreSQL") != NULL);

	/* a database that does not exist */
	snprintf(url, sizeof(url), "%.*s/no_such_db_here",
	         (int) (strrchr(base, '/') - base), base);
	CHECK_EQ_INT(pgstore_open(&s, url, err, sizeof(err)),
	             JOBD_FAILED_PRECONDITION);
	CHECK(strstr(err, "no_such_db_here") != NULL);

	/* no schema: a call says so */
	pgstore *t = NULL;
	uint64_t id;
	db_create();
	REQUIRE(pgstore_open(&t, db_url, err, sizeof(err)) == JOBD_OK);
	CHECK(pgstore_connected(t));
	CHECK(pgstore_socket(t) >= 0);
	/* its session is named jobd (pg_stat_activity) */
	PGconn *c = raw(db_url);
	char q[256];
	REQUIRE(c != NULL);
	snprintf(q, sizeof(q),
	         "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'"
	         " AND application_name = 'jobd'",
	         db_name);
	CHECK_EQ_INT(sql_num(c, q), 1);
	PQfinish(c);
	CHECK_EQ_INT(pgstore_find_key(t, "x", &id), JOBD_FAILED_PRECONDITION);
	CHECK(strstr(pgstore_errmsg(t), "jobs") != NULL);
	pgstore_close(t);
	pgstore_close(NULL);
	db_drop();
}

struct mig_arg {
	const char *url;
	int rv;
};

static void *
mig_thread(void *p)
{
	struct mig_arg *m = p;
	char err[256];
	pgstore *s;

	m->rv = pgstore_open(&s, m->url, err, sizeof(err));
	if (m->rv == JOBD_OK) {
		m->rv = pgstore_migrate(s, NULL, err, sizeof(err));
		if (m->rv != JOBD_OK)
			fprintf(stderr, "migrate: %s\n", err);
		pgstore_close(s);
	}
	return NULL;
}

void
test_migrate(void)
{
	const char *url = db_create();
	struct mig_arg m[4];
	pthread_t t[4];
	char err[256];
	pgstore *s;
	PGconn *c;
	int v = -1;

	/* four daemons starting at once: one migrates, all succeed */
	for (int i = 0; i < 4; i++) {
		m[i].url = url;
		REQUIRE(pthread_create(&t[i], NULL, mig_thread, &m[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(m[i].rv, JOBD_OK);
	}
	REQUIRE(pgstore_open(&s, url, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(pgstore_migrate(s, &v, err, sizeof(err)), JOBD_OK);
	CHECK_EQ_INT(v, PGSTORE_SCHEMA_VERSION);
	REQUIRE((c = raw(url)) != NULL);
	CHECK_EQ_INT(sql_num(c, "SELECT count(*) FROM jobd_schema"),
	             PGSTORE_SCHEMA_VERSION);

	/* a newer jobd's database is refused, untouched */
	REQUIRE(sql(c, "INSERT INTO jobd_schema (version) VALUES (99)"));
	CHECK_EQ_INT(pgstore_migrate(s, &v, err, sizeof(err)),
	             JOBD_FAILED_PRECONDITION);
	CHECK(strstr(err, "newer") != NULL);
	CHECK(strstr(err, "99") != NULL);
	CHECK_EQ_INT(sql_num(c, "SELECT count(*) FROM jobd_schema"),
	             PGSTORE_SCHEMA_VERSION + 1);
	PQfinish(c);
	pgstore_close(s);
	db_drop();
}

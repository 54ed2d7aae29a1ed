#ifndef JOBD_PGTEST_H
#define JOBD_PGTEST_H

/*
 * pgtest.h: a C test's PostgreSQL server, through tests/pg_cluster.sh
 * only (header-only, like tests/harness.h; include it in one file of a
 * test program, since its state is that file's).
 *
 * The script is $PG_CLUSTER_SH (ctest sets it), else PGTEST_CLUSTER_SH,
 * the path CMake compiles in, so that a test run by hand finds it too.
 *
 *   pgtest_url()      the URL of a server's `postgres` database: ctest's
 *                     fixture `postgres` ($JOBD_TEST_DB_URL), else one the
 *                     test starts itself (pgtest_start)
 *   pgtest_start()    a server of the test's own (`pg_cluster.sh start`
 *                     in a fresh temporary directory); at exit it is
 *                     stopped and the directory removed
 *   pgtest_down/up()  that server stopped at once / started again, same
 *                     data and port (`down`, `up`): the tests' faults
 *   pgtest_createdb() a database on that server (`createdb`)
 *
 * Without PostgreSQL's binaries the script says so and exits 77, and so
 * does the test (ctest: skipped). Any other failure of the script is the
 * test's failure: its message is on stderr.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char pgtest_dir[256];  /* the own server's directory, "" if none */
static char pgtest_base[300]; /* the URL of its `postgres` database */

/* The path of tests/pg_cluster.sh. */
static inline const char *
pgtest_script(void)
{
	const char *p = getenv("PG_CLUSTER_SH");

	if (p != NULL && *p != '\0')
		return p;
#ifdef PGTEST_CLUSTER_SH
	return PGTEST_CLUSTER_SH;
#else
	return "pg_cluster.sh";
#endif
}

/* Runs `pg_cluster.sh CMD DIR [ARG]`; its first line of output (if out)
 * in out. Its exit status, -1 if it could not run. */
static inline int
pgtest_cluster(const char *cmd, const char *arg, char *out, size_t len)
{
	char line[1024];
	FILE *f;
	int st;

	if (strchr(pgtest_script(), '\'') != NULL ||
	    (arg != NULL && strchr(arg, '\'') != NULL))
		return -1; /* not quoted below */
	snprintf(line, sizeof(line), "bash '%s' %s '%s'%s%s%s", pgtest_script(),
	         cmd, pgtest_dir, arg ? " '" : "", arg ? arg : "",
	         arg ? "'" : "");
	if ((f = popen(line, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	while (fgetc(f) != EOF)
		;
	st = pclose(f);
	line[strcspn(line, "\n")] = '\0';
	if (out != NULL)
		snprintf(out, len, "%s", line);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* At exit: stops the own server and removes its directory. */
static inline void
pgtest_stop(void)
{
	char cmd[300];

	if (pgtest_dir[0] == '\0')
		return;
	(void) pgtest_cluster("stop", NULL, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pgtest_dir);
	(void) system(cmd);
	pgtest_dir[0] = '\0';
}

/* Starts the test's own server (once: a start that failed is not tried
 * again); the URL of its `postgres` database, NULL if it did not start.
 * Exits 77 without PostgreSQL. */
static inline const char *
pgtest_start(void)
{
	const char *tmp = getenv("TMPDIR");
	int rv;

	if (pgtest_dir[0] != '\0') /* started, or failed to: once */
		return pgtest_base[0] != '\0' ? pgtest_base : NULL;
	snprintf(pgtest_dir, sizeof(pgtest_dir), "%s/jobd-pgtest.XXXXXX",
	         tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(pgtest_dir) == NULL) {
		perror("mkdtemp");
		pgtest_dir[0] = '\0';
		return NULL;
	}
	atexit(pgtest_stop);
	rv = pgtest_cluster("start", NULL, pgtest_base, sizeof(pgtest_base));
	if (rv == 77) {
		fprintf(stderr, "no PostgreSQL: skipped\n");
		exit(77); /* pgtest_stop removes the directory */
	}
	if (rv != 0 || strncmp(pgtest_base, "postgresql://", 13) != 0) {
		fprintf(stderr, "pg_cluster.sh start %s failed (%d)\n",
		        pgtest_dir, rv);
		pgtest_base[0] = '\0';
		return NULL;
	}
	return pgtest_base;
}

/* The URL of a server's `postgres` database: the fixture's, else the
 * test's own (started at the first call); NULL on failure. */
static inline const char *
pgtest_url(void)
{
	const char *env = getenv("JOBD_TEST_DB_URL");

	if (env != NULL && *env != '\0')
		return env;
	return pgtest_start();
}

/* Stops the own server at once (no checkpoint: crash recovery at the
 * next start); 0 on success. */
static inline int
pgtest_down(void)
{
	return pgtest_dir[0] != '\0' ? pgtest_cluster("down", NULL, NULL, 0)
	                             : -1;
}

/* Starts the own server again, same data and port; 0 on success. */
static inline int
pgtest_up(void)
{
	return pgtest_dir[0] != '\0' ? pgtest_cluster("up", NULL, NULL, 0) : -1;
}

/* Makes database `name` on the own server; its URL in url. 0 on
 * success. */
static inline int
pgtest_createdb(const char *name, char *url, size_t len)
{
	if (pgtest_dir[0] == '\0')
		return -1;
	return pgtest_cluster("createdb", name, url, len);
}

#endif

/*
 * pgsrv: the cluster workload's PostgreSQL server.
 *
 * Either the user's (--pg-url: jobd-bench only makes and drops databases
 * on it, through that URL, which must be allowed to CREATE DATABASE), or a
 * throwaway server started by the project's own tests/pg_cluster.sh
 * (`start DIR` prints its URL; `stop DIR` stops it and removes its data).
 * The script is run with TMPDIR set to where the benchmark's data goes
 * (--dir), so that PostgreSQL's files are on the same filesystem as the
 * SQLite database measured beside it; and since it turns fsync and
 * full_page_writes off for the tests, they are turned back on (ALTER
 * SYSTEM, then a reload, waited for): a durable Submit must cost a
 * PostgreSQL commit what it costs in production.
 *
 * Every set of daemons gets a database of its own, jobd_bench_PID_N, so
 * that no figure depends on the rows an earlier phase left; the URL jobd
 * gets is the server's with the database part replaced.
 */
#include "pgsrv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef JOBD_BENCH_PG
#include <libpq-fe.h>
#endif

#include "bench.h"
#include "bounds.h"

#define RELOAD_WAIT_MS 10000 /* until a new session sees the reload */
#define CONNECT_OPTS   "connect_timeout=10"

extern char **environ;

bool
pgsrv_is_url(const char *url)
{
	return (strncmp(url, "postgresql://", 13) == 0 ||
	        strncmp(url, "postgres://", 11) == 0);
}

#ifndef JOBD_BENCH_PG

bool
pgsrv_built(void)
{
	return (false);
}

int
pgsrv_open(struct pgsrv *s, const char *url, const char *script,
           const char *state, const char *tmpdir)
{
	(void) url;
	(void) script;
	(void) state;
	(void) tmpdir;
	memset(s, 0, sizeof(*s));
	bench_errorf("this jobd-bench was built without libpq: no "
	             "PostgreSQL figures");
	return (-1);
}

int
pgsrv_createdb(struct pgsrv *s, char *url, size_t len)
{
	(void) s;
	(void) url;
	(void) len;
	bench_errorf("this jobd-bench was built without libpq");
	return (-1);
}

int
pgsrv_close(struct pgsrv *s, bool keep)
{
	(void) s;
	(void) keep;
	return (0);
}

int64_t
pgsrv_cpu_ns(const struct pgsrv *s)
{
	(void) s;
	return (-1);
}

#else /* JOBD_BENCH_PG */

bool
pgsrv_built(void)
{
	return (true);
}

/* Runs `bash script cmd state` with TMPDIR=tmpdir; its stdout's last line
 * into out (when not NULL). 0, or -1 having said why. */
static int
run_script(const char *script, const char *cmd, const char *state,
           const char *tmpdir, char *out, size_t len)
{
	const char *argv[] = {"bash", script, cmd, state, NULL};
	posix_spawn_file_actions_t fa;
	char tmpenv[4200], buf[4096];
	char **env;
	size_t n = 0, k = 0, got = 0;
	pid_t pid;
	int pfd[2], rv, st;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 2, sizeof(*env))) == NULL) {
		bench_errorf("out of memory");
		return (-1);
	}
	snprintf(tmpenv, sizeof(tmpenv), "TMPDIR=%s", tmpdir);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "TMPDIR=", 7) != 0)
			env[k++] = environ[i];
	env[k++] = tmpenv;
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		bench_errorf("cannot make a pipe: %s", strerror(errno));
		free(env);
		return (-1);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	rv = posix_spawnp(&pid, "bash", &fa, NULL, (char *const *) argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	close(pfd[1]);
	if (rv != 0) {
		close(pfd[0]);
		bench_errorf("cannot run '%s': %s", script, strerror(rv));
		return (-1);
	}
	for (;;) {
		ssize_t r = read(pfd[0], buf + got, sizeof(buf) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t) r;
		if (got == sizeof(buf) - 1) /* keep the end */
			got = 0;
	}
	close(pfd[0]);
	buf[got] = '\0';
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			bench_errorf("waitpid: %s", strerror(errno));
			return (-1);
		}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		bench_errorf("'%s %s %s' failed (wait status %d)", script, cmd,
		             state, st);
		return (-1);
	}
	if (out != NULL) {
		while (got > 0 && buf[got - 1] == '\n')
			buf[--got] = '\0';
		char *line = strrchr(buf, '\n');
		line = line != NULL ? line + 1 : buf;
		if (strlen(line) >= len) {
			bench_errorf("'%s %s' printed too long a line", script,
			             cmd);
			return (-1);
		}
		memcpy(out, line, strlen(line) + 1);
	}
	return (0);
}

/* A connection to the admin URL; NULL having said why. */
static PGconn *
connect_admin(const struct pgsrv *s)
{
	const char *keys[] = {"dbname", "connect_timeout", "application_name",
	                      NULL};
	const char *vals[] = {s->admin, "10", "jobd-bench", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);

	if (c == NULL) {
		bench_errorf("out of memory");
		return (NULL);
	}
	if (PQstatus(c) != CONNECTION_OK) {
		char *m = PQerrorMessage(c);
		m[strcspn(m, "\n")] = '\0';
		bench_errorf("cannot connect to PostgreSQL: %s", m);
		PQfinish(c);
		return (NULL);
	}
	return (c);
}

/* Runs one statement (no parameters); its first value into out when not
 * NULL. 0, or -1 having said why. */
static int
exec1(PGconn *c, const char *sql, char *out, size_t len)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int ret = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char *m = PQresultErrorMessage(r);
		m[strcspn(m, "\n")] = '\0';
		bench_errorf("PostgreSQL: '%s': %s", sql, m);
		ret = -1;
	} else if (out != NULL) {
		snprintf(out, len, "%s",
		         PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	}
	PQclear(r);
	return (ret);
}

/* Whether process pid is a postgres process of this machine. */
static bool
is_postgres(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long) pid);
	if ((f = fopen(path, "re")) == NULL)
		return (false);
	if (fgets(comm, sizeof(comm), f) == NULL)
		comm[0] = '\0';
	fclose(f);
	return (strncmp(comm, "postgres", 8) == 0);
}

/* The postmaster of session c when it runs on this machine (the parent
 * of c's backend), or 0. */
static pid_t
find_postmaster(PGconn *c)
{
	pid_t backend = (pid_t) PQbackendPID(c), pm;
	int64_t ns;

	if (backend <= 0 || !is_postgres(backend) ||
	    bounds_proc_stat(backend, false, &pm, &ns) != 0 || !is_postgres(pm))
		return (0);
	return (pm);
}

/* fsync, synchronous_commit and full_page_writes as a new session sees
 * them, into s->settings and s->durable; the postmaster's pid. */
static int
read_settings(struct pgsrv *s)
{
	char fsync[16], sync[16], fpw[16];
	PGconn *c;
	int ret = -1;

	if ((c = connect_admin(s)) == NULL)
		return (-1);
	s->postmaster = find_postmaster(c);
	if (exec1(c, "SHOW fsync", fsync, sizeof(fsync)) == 0 &&
	    exec1(c, "SHOW synchronous_commit", sync, sizeof(sync)) == 0 &&
	    exec1(c, "SHOW full_page_writes", fpw, sizeof(fpw)) == 0) {
		snprintf(s->settings, sizeof(s->settings),
		         "fsync %s, synchronous_commit %s, full_page_writes %s",
		         fsync, sync, fpw);
		s->durable = strcmp(fsync, "on") == 0 &&
		             strcmp(sync, "off") != 0 &&
		             strcmp(sync, "local") != 0;
		ret = 0;
	}
	PQfinish(c);
	return (ret);
}

/* Turns fsync and full_page_writes on in a server of ours and waits until
 * a new session sees them. */
static int
make_durable(struct pgsrv *s)
{
	int64_t end = bench_now_ns() + (int64_t) RELOAD_WAIT_MS * 1000000;
	PGconn *c;
	int ret;

	if ((c = connect_admin(s)) == NULL)
		return (-1);
	ret = exec1(c, "ALTER SYSTEM SET fsync = on", NULL, 0) != 0 ||
	              exec1(c, "ALTER SYSTEM SET full_page_writes = on", NULL,
	                    0) != 0 ||
	              exec1(c, "SELECT pg_reload_conf()", NULL, 0) != 0
	          ? -1
	          : 0;
	PQfinish(c);
	while (ret == 0) {
		if ((ret = read_settings(s)) != 0 || s->durable)
			break;
		if (bench_now_ns() > end) {
			bench_errorf("PostgreSQL still has %s %d s after "
			             "turning fsync on",
			             s->settings, RELOAD_WAIT_MS / 1000);
			ret = -1;
		}
		bench_sleep_us(20000);
	}
	return (ret);
}

int
pgsrv_open(struct pgsrv *s, const char *url, const char *script,
           const char *state, const char *tmpdir)
{
	memset(s, 0, sizeof(*s));
	if (url != NULL) {
		snprintf(s->admin, sizeof(s->admin), "%s", url);
		return (read_settings(s));
	}
	snprintf(s->state, sizeof(s->state), "%s", state);
	s->script = script;
	s->tmpdir = tmpdir;
	if (run_script(script, "start", state, tmpdir, s->admin,
	               sizeof(s->admin)) != 0) {
		s->state[0] = '\0';
		return (-1);
	}
	if (!pgsrv_is_url(s->admin)) {
		bench_errorf("'%s start' printed '%s', not a URL", script,
		             s->admin);
		run_script(script, "stop", state, tmpdir, NULL, 0);
		s->state[0] = '\0';
		return (-1);
	}
	if (make_durable(s) != 0) {
		run_script(script, "stop", state, tmpdir, NULL, 0);
		s->state[0] = '\0';
		return (-1);
	}
	return (0);
}

int64_t
pgsrv_cpu_ns(const struct pgsrv *s)
{
	struct dirent *e;
	int64_t sum, ns;
	pid_t ppid;
	DIR *d;

	if (s->postmaster <= 0 ||
	    bounds_proc_stat(s->postmaster, true, NULL, &sum) != 0 ||
	    (d = opendir("/proc")) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end == '\0' && pid > 0 &&
		    bounds_proc_stat((pid_t) pid, false, &ppid, &ns) == 0 &&
		    ppid == s->postmaster)
			sum += ns;
	}
	closedir(d);
	return (sum);
}

/* s->admin with its database replaced by `name`, into out. */
static int
db_url(const struct pgsrv *s, const char *name, char *out, size_t len)
{
	const char *rest = strstr(s->admin, "://") + 3;
	size_t auth = strcspn(rest, "/?");
	const char *query = strchr(rest + auth, '?');

	if ((size_t) snprintf(out, len, "%.*s/%s%s",
	                      (int) (rest + auth - s->admin), s->admin, name,
	                      query != NULL ? query : "") >= len) {
		bench_errorf("the URL '%s' is too long", s->admin);
		return (-1);
	}
	return (0);
}

int
pgsrv_createdb(struct pgsrv *s, char *url, size_t len)
{
	char name[64], sql[128];
	PGconn *c;
	int ret;

	snprintf(name, sizeof(name), "jobd_bench_%ld_%u", (long) getpid(),
	         s->ndb);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	if ((c = connect_admin(s)) == NULL)
		return (-1);
	ret = exec1(c, sql, NULL, 0);
	PQfinish(c);
	if (ret != 0)
		return (-1);
	s->ndb++;
	return (db_url(s, name, url, len));
}

int
pgsrv_close(struct pgsrv *s, bool keep)
{
	char sql[128];
	PGconn *c;
	int ret = 0;

	if (s->admin[0] == '\0')
		return (0);
	if (s->state[0] != '\0') {
		/* ours: its data goes with it (--keep or not: it is not
		 * where --keep keeps things) */
		ret =
		    run_script(s->script, "stop", s->state, s->tmpdir, NULL, 0);
	} else if (!keep && s->ndb > 0) {
		if ((c = connect_admin(s)) == NULL)
			return (-1);
		for (unsigned i = 0; i < s->ndb; i++) {
			snprintf(sql, sizeof(sql),
			         "DROP DATABASE IF EXISTS jobd_bench_%ld_%u "
			         "WITH (FORCE)",
			         (long) getpid(), i);
			if (exec1(c, sql, NULL, 0) != 0)
				ret = -1;
		}
		PQfinish(c);
	}
	s->admin[0] = '\0';
	return (ret);
}

#endif /* JOBD_BENCH_PG */

/*
 * test_diskfault: the real jobd with its database on a filesystem that fails
 * under it. Needs root (it mounts filesystems); skipped (exit 77) otherwise.
 *
 *   disk_full  a small tmpfs, filled up by a filler file while jobs run,
 *              then emptied again: Submit is refused with UNAVAILABLE, the
 *              quick queries are answered, the ends of the jobs that ran
 *              meanwhile reach the disk once there is space, and Submit
 *              works again, all without restarting jobd.
 *   read_only  ext4 in a loop file, made read-only under the running jobd
 *              by the kernel's own error handling (errors=remount-ro, set
 *              off with ext4's trigger_fs_error), as a failing disk does.
 *              The same checks while it lasts; then, since such a
 *              filesystem is writable again only after an unmount, jobd is
 *              stopped, the filesystem checked and mounted again, and a new
 *              jobd finishes every job.
 *   unwritable jobd running as a user (nobody), its database directory and
 *              files made read-only (chmod a-w) under it. Open files stay
 *              writable (POSIX), so the running jobd goes on writing; what
 *              must not break is reading through new connections (List and
 *              Get from several clients at once), and the next start must
 *              refuse the read-only file without touching it.
 *
 * `mount -o remount,ro` cannot stand in for the second: Linux refuses it
 * (EBUSY) while any process holds a file there open for writing, and jobd
 * always holds its database so.
 *
 * After each case jobd is stopped gracefully and the database is opened
 * again: every acknowledged job is there, ended, and PRAGMA integrity_check
 * passes. The test mounts in a mount namespace of its own (jobd, its child,
 * shares it): the mounts go away with the test whatever happens to it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "harness.h"
#include "store.h"
#include "test.h"

#define SKIP 77

static const char *const args[] = {"--workers", "2", "--backoff", "50ms", NULL};

/* What the current case set up, torn down by cleanup() however it ended. */
static struct {
	struct jd d;
	jobd_client *c;
	char mnt[96];
	bool mounted;
	uint64_t *acked; /* every acknowledged job */
	size_t nacked;
	uint64_t cancelled[2]; /* of those, the two that end cancelled */
} cur;

/* Runs a shell command; its exit status, -1 if it did not exit. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
cleanup(void)
{
	jobd_client_close(cur.c);
	jd_kill(&cur.d, SIGKILL);
	if (cur.mounted && umount2(cur.mnt, MNT_DETACH) != 0)
		fprintf(stderr, "cannot unmount '%s': %s\n", cur.mnt,
		        strerror(errno));
	if (cur.d.dir[0] != '\0')
		jd_fini(&cur.d);
	free(cur.acked);
	memset(&cur, 0, sizeof(cur));
}

/* A fresh directory with `mnt` under it and the database in `mnt`. */
static void
init_dirs(void)
{
	memset(&cur, 0, sizeof(cur));
	REQUIRE(jd_init(&cur.d) == 0);
	snprintf(cur.mnt, sizeof(cur.mnt), "%s/data", cur.d.dir);
	snprintf(cur.d.db, sizeof(cur.d.db), "%s/jobd.db", cur.mnt);
	REQUIRE(mkdir(cur.mnt, 0755) == 0);
}

static void
start(void)
{
	if (jd_start(&cur.d, args) != 0) {
		jd_dump_log(&cur.d);
		REQUIRE(!"jobd started");
	}
	REQUIRE(jobd_client_open(&cur.c, cur.d.url) == JOBD_OK);
	jobd_client_set_timeout(cur.c, 10000);
}

/* SIGTERM, and the exit status; jobd must exit by itself within 30 s. */
static int
stop(void)
{
	int st = -1;
	jobd_client_close(cur.c);
	cur.c = NULL;
	if (cur.d.pid <= 0)
		return -1;
	kill(cur.d.pid, SIGTERM);
	for (int i = 0; i < 3000; i++) {
		if (waitpid(cur.d.pid, &st, WNOHANG) == cur.d.pid) {
			cur.d.pid = 0;
			return st;
		}
		usleep(10000);
	}
	return -1; /* still there: cleanup() kills it */
}

static void
ack(uint64_t id)
{
	uint64_t *v = realloc(cur.acked, (cur.nacked + 1) * sizeof(*v));
	REQUIRE(v != NULL);
	cur.acked = v;
	cur.acked[cur.nacked++] = id;
}

/* Submits kind with one "name=value" param (or none); returns the status,
 * the id in *id and the message in msg. */
static int
submit(const char *kind, const char *param, uint64_t *id, char *msg,
       size_t msglen)
{
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry ent, *ents[1] = {&ent};
	Jobd__V1__SubmitReply *rep = NULL;
	char buf[64];

	req.kind = (char *) kind;
	if (param != NULL) {
		jobd__v1__submit_request__params_entry__init(&ent);
		snprintf(buf, sizeof(buf), "%s", param);
		char *eq = strchr(buf, '=');
		*eq = '\0';
		ent.key = buf;
		ent.value = eq + 1;
		req.n_params = 1;
		req.params = ents;
	}
	*id = 0;
	int rv = jobd_submit(cur.c, &req, &rep);
	if (msg != NULL)
		snprintf(msg, msglen, "%s",
		         rv == JOBD_OK ? "" : jobd_client_errmsg());
	if (rv == JOBD_OK) {
		*id = rep->job != NULL ? rep->job->id : 0;
		jobd__v1__submit_reply__free_unpacked(rep, NULL);
	}
	return rv;
}

/* Submits and records an acknowledged job; REQUIREs that it is. */
static uint64_t
submit_ok(const char *kind, const char *param)
{
	char msg[256];
	uint64_t id;
	int rv = submit(kind, param, &id, msg, sizeof(msg));
	if (rv != JOBD_OK)
		fprintf(stderr, "submit %s: %s: %s\n", kind,
		        jobd_status_name(rv), msg);
	REQUIRE(rv == JOBD_OK && id != 0);
	ack(id);
	return id;
}

/* The state job `id` must end in. */
static int
end_state(uint64_t id)
{
	return id == cur.cancelled[0] || id == cur.cancelled[1] ? JOB_CANCELLED
	                                                        : JOB_SUCCEEDED;
}

/* How many of the jobs `ids` (at most 1000) Get finds in `state` (0: in
 * the state each must end in). */
static size_t
count_state(const uint64_t *ids, size_t n, int state)
{
	Jobd__V1__GetReply *rep;
	size_t k = 0;
	if (jobd_get(cur.c, ids, n, &rep) != JOBD_OK)
		return 0;
	for (size_t i = 0; i < rep->n_jobs; i++) {
		const Jobd__V1__Job *j = rep->jobs[i];
		k += (int) j->state == (state ? state : end_state(j->id));
	}
	jobd__v1__get_reply__free_unpacked(rep, NULL);
	return k;
}

/* Polls until the `n` jobs `ids` are in `state` (Get; 0 as above), up to
 * 30 s. */
static bool
await_state(const uint64_t *ids, size_t n, int state)
{
	for (int64_t end = h_now_ms() + 30000; h_now_ms() < end;) {
		if (count_state(ids, n, state) == n)
			return true;
		usleep(20000);
	}
	return false;
}

/* Polls Stats until `n` jobs succeeded (from memory only), up to 30 s. */
static bool
await_succeeded(uint64_t n)
{
	for (int64_t end = h_now_ms() + 30000; h_now_ms() < end;) {
		Jobd__V1__StatsReply *st;
		if (jobd_stats(cur.c, &st) == JOBD_OK) {
			uint64_t k = st->succeeded;
			jobd__v1__stats_reply__free_unpacked(st, NULL);
			if (k >= n)
				return true;
		}
		usleep(20000);
	}
	return false;
}

/* Wait on job id; the status, and its state in *state when OK. */
static int
wait_end(uint64_t id, uint32_t ms, int *state)
{
	Jobd__V1__WaitReply *rep;
	int rv = jobd_wait(cur.c, id, ms, &rep);
	*state = 0;
	if (rv == JOBD_OK) {
		*state = rep->job != NULL ? rep->job->state : 0;
		jobd__v1__wait_reply__free_unpacked(rep, NULL);
	}
	return rv;
}

/* Lines of jobd's log that contain `s`. */
static int
log_count(const char *s)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(cur.d.log, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, s) != NULL;
	fclose(f);
	return n;
}

/*
 * The writer's state changes in jobd's log: "cannot write the database"
 * (F) and "writable again" (R) must alternate, F first: one line per
 * change, never a repeat. Returns the last ('F', 'R', or 0 for none) and
 * the counts; 'x' if they do not alternate.
 */
static int
log_states(int *nfail, int *nback)
{
	char line[1024];
	int last = 0;
	FILE *f = fopen(cur.d.log, "r");

	*nfail = *nback = 0;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		int c = strstr(line, "cannot write the database") ? 'F'
		        : strstr(line, "writable again")          ? 'R'
		                                                  : 0;
		if (c == 0 || strstr(line, "stopping with") != NULL)
			continue;
		if (c == last || (last == 0 && c == 'R'))
			last = 'x';
		if (last != 'x')
			last = c;
		*(c == 'F' ? nfail : nback) += 1;
	}
	if (f != NULL)
		fclose(f);
	return last;
}

static void
print_log_lines(const char *s)
{
	char line[1024];
	FILE *f = fopen(cur.d.log, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, s) != NULL)
			printf("#   log: %s", line);
	if (f != NULL)
		fclose(f);
}

/* The quick queries, answered while the disk fails: Ping, Stats, List, and
 * Get of a job read from the database (`old`) and of a live one. */
static void
check_quick_queries(uint64_t old, uint64_t live)
{
	Jobd__V1__PingReply *pong = NULL;
	Jobd__V1__StatsReply *st = NULL;
	Jobd__V1__ListReply *lr;
	Jobd__V1__ListRequest lq = JOBD__V1__LIST_REQUEST__INIT;
	int rv;

	CHECK_EQ_INT(jobd_ping(cur.c, &pong), JOBD_OK);
	if (pong != NULL)
		jobd__v1__ping_reply__free_unpacked(pong, NULL);
	CHECK_EQ_INT(jobd_stats(cur.c, &st), JOBD_OK);
	if (st != NULL)
		jobd__v1__stats_reply__free_unpacked(st, NULL);
	lq.limit = 1000;
	rv = jobd_list(cur.c, &lq, &lr);
	if (rv != JOBD_OK)
		fprintf(stderr, "list: %s\n", jobd_client_errmsg());
	CHECK_EQ_INT(rv, JOBD_OK);
	if (rv == JOBD_OK) {
		CHECK(lr->n_jobs > 0);
		jobd__v1__list_reply__free_unpacked(lr, NULL);
	}
	if (state_of(cur.c, old) != JOB_SUCCEEDED)
		fprintf(stderr, "get %" PRIu64 ": %s\n", old,
		        jobd_client_errmsg());
	CHECK_EQ_INT(state_of(cur.c, old), JOB_SUCCEEDED);
	CHECK(state_of(cur.c, live) != 0);
}

/* n Submits while the disk fails: each is refused with UNAVAILABLE and a
 * message containing `why`. Returns the slowest refusal in ms. */
static int64_t
check_refused(int n, const char *why)
{
	int64_t slowest = 0;
	char msg[256];

	for (int i = 0; i < n; i++) {
		uint64_t id;
		int64_t t0 = h_now_ms();
		int rv = submit("sha256", NULL, &id, msg, sizeof(msg));
		int64_t dt = h_now_ms() - t0;
		slowest = dt > slowest ? dt : slowest;
		if (rv == JOBD_OK)
			ack(id);
		CHECK_EQ_INT(rv, JOBD_UNAVAILABLE);
		bool found = strstr(msg, why) != NULL;
		if (!found)
			fprintf(stderr, "message '%s' does not say '%s'\n", msg,
			        why);
		CHECK(found);
		if (i == 0)
			printf("#   Submit refused: %s: %s\n",
			       jobd_status_name(rv), msg);
	}
	return slowest;
}

/* Opens the database after jobd stopped: every acknowledged job is there
 * and ended as it should, and the file passes PRAGMA integrity_check. */
static void
check_database(void)
{
	char err[256];
	store *db;
	size_t ok = 0;

	int rv = store_open(&db, cur.d.db, err, sizeof(err));
	if (rv != JOBD_OK)
		fprintf(stderr, "%s\n", err);
	REQUIRE(rv == JOBD_OK);
	for (size_t i = 0; i < cur.nacked; i++) {
		struct jobrec r = {0};
		rv = store_get(db, cur.acked[i], 0, &r);
		if (rv != JOBD_OK || r.state != end_state(cur.acked[i]))
			fprintf(stderr, "job %" PRIu64 " on disk: %s, %s\n",
			        cur.acked[i], jobd_status_name(rv),
			        job_state_name(r.state));
		else
			ok++;
		jobrec_clear(&r);
	}
	CHECK_EQ_INT(ok, cur.nacked);
	rv = store_check(db);
	if (rv != JOBD_OK)
		fprintf(stderr, "%s\n", store_errmsg(db));
	CHECK_EQ_INT(rv, JOBD_OK);
	printf("#   on disk after the stop: %zu of %zu acknowledged jobs "
	       "ended as they should; integrity_check %s\n",
	       ok, cur.nacked, rv == JOBD_OK ? "ok" : "FAILED");
	store_close(db);
}

/* Writes zeros to `path` until the filesystem is full; bytes written. */
static int64_t
fill(const char *path)
{
	static char buf[65536];
	int64_t n = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	for (size_t bs = sizeof(buf); bs >= 512; bs /= 2) {
		ssize_t k;
		while ((k = write(fd, buf, bs)) > 0)
			n += k;
	}
	close(fd);
	return n;
}

static int64_t
free_bytes(const char *dir)
{
	struct statvfs sv;
	if (statvfs(dir, &sv) != 0)
		return -1;
	return (int64_t) sv.f_bavail * (int64_t) sv.f_frsize;
}

/*
 * The jobs of every case: QUICK done before the fault; then two that run
 * through it (one per worker; ten minutes unless cancelled) and BEHIND
 * queued behind them. While the disk fails the two are cancelled and the
 * others then run: all of their ends wait for the disk.
 */
#define QUICK  150
#define BEHIND 300
#define NLIVE  (2 + BEHIND)

static void
submit_live(uint64_t *live)
{
	for (int i = 0; i < 2; i++)
		cur.cancelled[i] = live[i] = submit_ok("sleep", "ms=600000");
	REQUIRE(await_state(live, 2, JOB_RUNNING));
	for (int i = 2; i < NLIVE; i++)
		live[i] = submit_ok("sha256", NULL);
}

/* Cancels the two long jobs; Cancel answers once the end is on disk, so
 * within its 1 s deadline when the disk works (`code` JOBD_OK), and not
 * while it fails (JOBD_DEADLINE_EXCEEDED). */
static void
cancel_long(const uint64_t *live, int code)
{
	jobd_client_set_timeout(cur.c, 1000);
	for (int i = 0; i < 2; i++) {
		Jobd__V1__CancelReply *rep;
		int rv = jobd_cancel(cur.c, live[i], &rep);
		CHECK_EQ_INT(rv, code);
		if (rv == JOBD_OK) {
			CHECK(rep->job != NULL &&
			      (int) rep->job->state == JOB_CANCELLED);
			jobd__v1__cancel_reply__free_unpacked(rep, NULL);
		}
		if (i == 0)
			printf("#   Cancel of a running job: %s\n",
			       jobd_status_name(rv));
	}
	jobd_client_set_timeout(cur.c, 10000);
}

/* While the disk fails: the live jobs end in memory (Get says so), but
 * Wait does not report an end that is not on disk. */
static void
check_ends_held(const uint64_t *live)
{
	int st;
	cancel_long(live, JOBD_DEADLINE_EXCEEDED);
	CHECK(await_state(live, NLIVE, 0));
	CHECK_EQ_INT(wait_end(live[0], 300, &st), JOBD_DEADLINE_EXCEEDED);
	CHECK_EQ_INT(wait_end(live[NLIVE - 1], 300, &st),
	             JOBD_DEADLINE_EXCEEDED);
}

/* Every live job ends as it should, and Wait (which answers once the end
 * is on disk) says so. */
static void
check_ends_written(const uint64_t *live)
{
	int st;
	size_t ok = 0;
	for (int i = 0; i < NLIVE; i++)
		ok += wait_end(live[i], 30000, &st) == JOBD_OK &&
		      st == end_state(live[i]);
	CHECK_EQ_INT(ok, NLIVE);
}

/* ---- disk full ------------------------------------------------------- */

static void
disk_full(void)
{
	uint64_t live[NLIVE], id;
	char msg[256];
	int st, rv;

	init_dirs();
	/* 8 MiB: the WAL alone grows to 4 MiB (1000 pages) before SQLite
	 * checkpoints it, and the jobs need room besides */
	if (mount("tmpfs", cur.mnt, "tmpfs", 0, "size=8m,mode=0755") != 0) {
		fprintf(stderr, "cannot mount tmpfs: %s\n", strerror(errno));
		REQUIRE(!"tmpfs mounted");
	}
	cur.mounted = true;
	start();
	for (int i = 0; i < QUICK; i++)
		submit_ok("sha256", NULL);
	REQUIRE(await_succeeded(QUICK));
	submit_live(live);

	char filler[200];
	snprintf(filler, sizeof(filler), "%s/filler", cur.mnt);
	int64_t filled = fill(filler);
	REQUIRE(filled > 0);
	printf("# disk full: %zu jobs acknowledged, %d of them running or "
	       "queued; filler %" PRId64 " bytes, %" PRId64 " bytes left\n",
	       cur.nacked, NLIVE, filled, free_bytes(cur.mnt));

	/* SQLite may still write into space its WAL already has: Submits
	 * are acknowledged until it needs more */
	size_t during = 0;
	for (int i = 0; i < 1000; i++) {
		if ((rv = submit("sha256", NULL, &id, msg, sizeof(msg))) !=
		    JOBD_OK)
			break;
		ack(id);
		during++;
	}
	printf("#   acknowledged after the disk filled: %zu\n", during);
	CHECK_EQ_INT(rv, JOBD_UNAVAILABLE);
	int64_t slowest = check_refused(5, "disk is full");
	printf("#   5 more Submits refused, the slowest in %" PRId64 " ms\n",
	       slowest);

	check_quick_queries(cur.acked[0], live[0]);
	check_ends_held(live);
	int nfail, nback;
	CHECK_EQ_INT(log_states(&nfail, &nback), 'F');

	/* space again: no restart, and Submit works within 30 s */
	REQUIRE(unlink(filler) == 0);
	int64_t t0 = h_now_ms();
	while ((rv = submit("sha256", NULL, &id, msg, sizeof(msg))) !=
	           JOBD_OK &&
	       h_now_ms() - t0 < 30000)
		usleep(50000);
	CHECK_EQ_INT(rv, JOBD_OK);
	if (rv == JOBD_OK)
		ack(id);
	printf("#   filler deleted: Submit accepted again after %" PRId64
	       " ms\n",
	       h_now_ms() - t0);
	check_ends_written(live);
	for (int i = 0; i < 20; i++)
		submit_ok("sha256", NULL);
	CHECK(await_state(&cur.acked[cur.nacked - 20], 20, JOB_SUCCEEDED));
	CHECK_EQ_INT(log_states(&nfail, &nback), 'R');
	printf("#   log: %d line(s) 'cannot write', %d 'writable again'\n",
	       nfail, nback);
	print_log_lines("database");

	st = stop();
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	check_database();
}

/* ---- read-only ------------------------------------------------------- */

/* The loop device the filesystem on `dir` is mounted from, or "". */
static void
mount_source(const char *dir, char *dev, size_t len)
{
	char src[256], dst[256];
	FILE *f = fopen("/proc/mounts", "r");
	dev[0] = '\0';
	while (f != NULL && fscanf(f, "%255s %255s %*[^\n]", src, dst) == 2)
		if (strcmp(dst, dir) == 0)
			snprintf(dev, len, "%s", src);
	if (f != NULL)
		fclose(f);
}

static void
read_only(void)
{
	char img[200], dev[256], trigger[320];
	uint64_t live[NLIVE];
	int st;

	if (sh("command -v mkfs.ext4 e2fsck >/dev/null") != 0) {
		printf("# read_only skipped: no mkfs.ext4 or e2fsck\n");
		return;
	}
	init_dirs();
	snprintf(img, sizeof(img), "%s/ext4.img", cur.d.dir);
	REQUIRE(sh("truncate -s 32M '%s' && mkfs.ext4 -q -F -O ^has_journal "
	           "'%s'",
	           img, img) == 0);
	if (sh("mount -o loop,errors=remount-ro '%s' '%s'", img, cur.mnt) !=
	    0) {
		printf("# read_only skipped: cannot mount a loop device\n");
		return;
	}
	cur.mounted = true;
	mount_source(cur.mnt, dev, sizeof(dev));
	snprintf(trigger, sizeof(trigger), "/sys/fs/ext4/%s/trigger_fs_error",
	         strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev);
	if (access(trigger, W_OK) != 0) {
		printf("# read_only skipped: no '%s'\n", trigger);
		return;
	}
	start();
	/* no read of the database before the fault: the first List and Get
	 * afterwards open a new connection on the read-only filesystem */
	for (int i = 0; i < QUICK; i++)
		submit_ok("sha256", NULL);
	REQUIRE(await_succeeded(QUICK));
	submit_live(live);

	REQUIRE(sh("echo 1 >'%s'", trigger) == 0);
	/* (newer kernels say "rw,...,emergency_ro" in /proc/mounts) */
	REQUIRE(sh("touch '%s/probe' 2>/dev/null", cur.mnt) != 0);
	printf("# read-only: %zu jobs acknowledged, %d of them running or "
	       "queued; %s forced read-only\n",
	       cur.nacked, NLIVE, dev);
	check_quick_queries(cur.acked[0], live[0]);
	check_ends_held(live);
	int64_t slowest = check_refused(5, "Read-only file system");
	printf("#   5 more Submits refused, the slowest in %" PRId64 " ms\n",
	       slowest);
	CHECK_EQ_INT(log_count("cannot write the database"), 1);
	CHECK_EQ_INT(log_count("writable again"), 0);

	/* only an unmount ends it: stop, check, mount, start again */
	st = stop();
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	print_log_lines("database");
	CHECK_EQ_INT(log_count("changes not written to the database"), 1);
	REQUIRE(umount(cur.mnt) == 0);
	cur.mounted = false;
	int fsck = sh("e2fsck -fy '%s' >/dev/null 2>&1", img);
	CHECK(fsck == 0 || fsck == 1); /* 1: errors corrected */
	REQUIRE(sh("mount -o loop '%s' '%s'", img, cur.mnt) == 0);
	cur.mounted = true;
	printf("#   stopped, e2fsck exit %d, mounted again\n", fsck);

	/* the cancels were never on disk (Cancel did not confirm them): the
	 * two run again until cancelled again */
	start();
	cancel_long(live, JOBD_OK);
	check_ends_written(live);
	for (int i = 0; i < 20; i++)
		submit_ok("sha256", NULL);
	CHECK(await_state(&cur.acked[cur.nacked - 20], 20, JOB_SUCCEEDED));
	print_log_lines("recovered");
	st = stop();
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	check_database();
}

/* ---- unwritable ----------------------------------------------------- */

struct reader {
	pthread_t t;
	uint64_t old;
	int failed;
	char msg[256];
};

/* List and Get of a job on disk, over and over, from its own thread. */
static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	for (int i = 0; i < 25; i++) {
		Jobd__V1__ListRequest lq = JOBD__V1__LIST_REQUEST__INIT;
		Jobd__V1__ListReply *lr;
		Jobd__V1__GetReply *gr;
		int rv;
		lq.limit = 1000;
		if ((rv = jobd_list(cur.c, &lq, &lr)) == JOBD_OK)
			jobd__v1__list_reply__free_unpacked(lr, NULL);
		else if (r->failed++ == 0)
			snprintf(r->msg, sizeof(r->msg), "list: %s",
			         jobd_client_errmsg());
		if ((rv = jobd_get(cur.c, &r->old, 1, &gr)) == JOBD_OK)
			jobd__v1__get_reply__free_unpacked(gr, NULL);
		else if (r->failed++ == 0)
			snprintf(r->msg, sizeof(r->msg), "get: %s",
			         jobd_client_errmsg());
	}
	return NULL;
}

/* A checksum of the file's bytes (FNV-1a), 0 if it cannot be read. */
static uint64_t
file_sum(const char *path)
{
	uint64_t h = 1469598103934665603ULL;
	unsigned char buf[65536];
	size_t n;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 1099511628211ULL;
	fclose(f);
	return h;
}

static char saved_bin[512];

static void
unwritable(void)
{
	char wrapper[160], side[200];
	uint64_t live[NLIVE], id, sum;
	struct reader rd[8];
	struct passwd *pw;
	int st, failed = 0;

	if ((pw = getpwnam("nobody")) == NULL ||
	    sh("command -v setpriv >/dev/null") != 0) {
		printf(
		    "# unwritable skipped: no user 'nobody' or no setpriv\n");
		return;
	}
	init_dirs();
	/* jobd as nobody: setpriv changes the user, and sets the parent-death
	 * signal again, which the change of user clears */
	snprintf(wrapper, sizeof(wrapper), "%s/jobd-as-nobody", cur.d.dir);
	FILE *f = fopen(wrapper, "w");
	REQUIRE(f != NULL);
	fprintf(f,
	        "#!/bin/sh\nexec setpriv --reuid=%u --regid=%u "
	        "--clear-groups --pdeathsig=KILL '%s' \"$@\"\n",
	        (unsigned) pw->pw_uid, (unsigned) pw->pw_gid, saved_bin);
	fclose(f);
	REQUIRE(chmod(wrapper, 0755) == 0);
	REQUIRE(chmod(cur.d.dir, 0777) == 0 && chmod(cur.mnt, 0777) == 0);
	setenv("JOBD_BIN", wrapper, 1);
	start();
	for (int i = 0; i < QUICK; i++)
		submit_ok("sha256", NULL);
	REQUIRE(await_succeeded(QUICK));
	submit_live(live);

	/* no read of the database before: every reader connection is
	 * opened after this */
	REQUIRE(sh("chmod a-w '%s'/jobd.db* '%s'", cur.mnt, cur.mnt) == 0);
	printf("# unwritable: %zu jobs acknowledged, %d of them running or "
	       "queued; '%s' and its files made read-only (jobd runs as "
	       "uid %u)\n",
	       cur.nacked, NLIVE, cur.mnt, (unsigned) pw->pw_uid);
	for (int i = 0; i < 8; i++) {
		memset(&rd[i], 0, sizeof(rd[i]));
		rd[i].old = cur.acked[i];
		REQUIRE(pthread_create(&rd[i].t, NULL, reader_main, &rd[i]) ==
		        0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(rd[i].t, NULL);
		failed += rd[i].failed;
		if (rd[i].failed > 0)
			fprintf(stderr, "reader %d: %s\n", i, rd[i].msg);
	}
	CHECK_EQ_INT(failed, 0);
	printf("#   8 clients x 25 List and Get at once: %d failed\n", failed);
	check_quick_queries(cur.acked[0], live[0]);

	/* the open files stay writable: the running jobd goes on */
	REQUIRE(submit("sha256", NULL, &id, NULL, 0) == JOBD_OK);
	ack(id);
	cancel_long(live, JOBD_OK);
	check_ends_written(live);
	CHECK(await_state(&id, 1, JOB_SUCCEEDED));
	printf("#   Submit still accepted, every running or queued job "
	       "ended on disk\n");
	st = stop();
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* the next start refuses the read-only file, and leaves it be */
	sum = file_sum(cur.d.db);
	snprintf(side, sizeof(side), "cannot open database '%s' for writing",
	         cur.d.db);
	CHECK(jd_start(&cur.d, args) != 0);
	CHECK_EQ_INT(log_count(side), 1);
	CHECK(file_sum(cur.d.db) == sum);
	print_log_lines("cannot start");

	REQUIRE(sh("chmod u+w '%s'/jobd.db* '%s'", cur.mnt, cur.mnt) == 0);
	start();
	CHECK_EQ_INT(count_state(live, NLIVE, 0), NLIVE);
	st = stop();
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	check_database();
}

/* ---- main ------------------------------------------------------------ */

static void
run_disk_full(void)
{
	(void) test_run_one(disk_full);
	cleanup();
}

static void
run_read_only(void)
{
	(void) test_run_one(read_only);
	cleanup();
}

static void
run_unwritable(void)
{
	(void) test_run_one(unwritable);
	setenv("JOBD_BIN", saved_bin, 1);
	cleanup();
}

/* A mount namespace of our own, where mounting works; else why not. */
static const char *
can_mount(void)
{
	static char why[200];
	char dir[] = "/tmp/jobd-mnt-XXXXXX";

	if (geteuid() != 0)
		return "not root: mounting filesystems needs root";
	if (unshare(CLONE_NEWNS) != 0) {
		snprintf(why, sizeof(why), "cannot make a mount namespace: %s",
		         strerror(errno));
		return why;
	}
	/* the source and type are ignored here; not NULL, which valgrind
	 * reports as a bad pointer */
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0) {
		snprintf(why, sizeof(why), "cannot make mounts private: %s",
		         strerror(errno));
		return why;
	}
	if (mkdtemp(dir) == NULL)
		return "cannot make a directory in /tmp";
	if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0) {
		snprintf(why, sizeof(why), "cannot mount a tmpfs: %s",
		         strerror(errno));
		rmdir(dir);
		return why;
	}
	umount(dir);
	rmdir(dir);
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct test_case tests[] = {
	    {"disk_full", run_disk_full},
	    {"read_only", run_read_only},
	    {"unwritable", run_unwritable},
	};
	const char *why = can_mount();
	const char *bin = getenv("JOBD_BIN");

	if (why != NULL) {
		printf("skipped: %s\n", why);
		return SKIP;
	}
	if (bin == NULL || realpath(bin, saved_bin) == NULL) {
		fprintf(stderr, "JOBD_BIN is not set or not found\n");
		return 2;
	}
	return test_run_all(tests, sizeof(tests) / sizeof(tests[0]), argc,
	                    argv);
}

/*
 * dblock.c: one jobd per database.
 *
 * Two jobds on one database would each take the other's running jobs for
 * jobs left running by a crash, run them again, and hand out the same ids.
 * So before jobd changes anything (its run directory included) it takes an
 * exclusive lock that a second jobd on the same database cannot take, and
 * holds it until it exits.
 *
 * The lock is flock(LOCK_EX | LOCK_NB) on the database file itself, through
 * a descriptor opened for it alone and kept open.
 *
 *  - On the file, not on a lock file beside it: the lock follows the file,
 *    not its name, so two paths to one database (a symbolic link, a hard
 *    link, a bind mount) meet at one lock; no file is left behind to be
 *    cleaned up or mistaken for a live jobd after a crash; and nothing is
 *    created beside the database.
 *  - flock(), not fcntl(): SQLite locks the same file with fcntl() locks,
 *    which belong to the process and are all dropped when any descriptor
 *    of the file in the process is closed. flock() locks belong to the open
 *    file description, are independent of fcntl() locks on Linux, and go
 *    when the description's last descriptor closes, however the process
 *    ends (SIGKILL included): a restart after a crash never finds a stale
 *    lock. The descriptor is O_CLOEXEC, so no program jobd runs inherits
 *    the lock, and the reaper, forked after it, closes it at once (it
 *    closes every descriptor but its pipe: kinds/reaper.c).
 *
 * The other process is named by its pid, read from /proc/locks, which lists
 * every flock() lock with its owner's pid and the file's device and inode
 * (the device as the filesystem sees it, which a stat() on btrfs or
 * overlayfs may not show: a single lock on the inode is taken as the one).
 * Where that cannot be read (no /proc; a process of another pid namespace,
 * shown as pid 0) the message says "another process" without one.
 *
 * Caveats. The descriptor is closed only by dblock_release(), after every
 * SQLite connection to the file is closed, and a failed dblock_take()
 * closes it at once: either close drops the process's fcntl() locks on the
 * file, SQLite's included, so the lock is taken before the process opens
 * the database. On NFS, Linux emulates flock() with fcntl() locks; SQLite's
 * WAL mode does not work there anyway (it needs memory shared on one host),
 * so the database belongs on a local filesystem.
 *
 * Before it opens anything, dblock_take() refuses a path that is not a
 * regular file (a device, a FIFO, a directory, a socket): opening a device
 * may do something by itself (a tape rewinds), and SQLite would create its
 * -wal and -shm files beside it. The open is non-blocking and the file
 * checked again once open, for a path swapped in between. A path that does
 * not exist is created, empty (a new SQLite database), with mode 0666 less
 * the umask, as SQLite would create it; and if jobd then refuses to start
 * before it wrote to it (a bad TLS, token or kind file), dblock_discard()
 * removes it again, so that a refused start leaves nothing behind.
 *
 * Removing a file that others may have opened to lock is safe only with
 * the check that follows every lock: once locked, the path must still name
 * the file that was locked; if it does not (it was removed, or replaced, in
 * between), the lock is on a file nobody will use, and is taken again.
 */
#include "dblock.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "store.h"

struct dblock {
	int fd;
	bool created; /* dblock_take made the file */
	char path[];
};

/* Tries this often to lock a path whose file keeps being replaced. */
#define DBLOCK_TRIES 10

/* The pid of the process holding the flock() write lock of the file st
 * describes, 0 if unknown. */
static long
dblock_holder(const struct stat *st)
{
	FILE *f = fopen("/proc/locks", "re");
	char line[256];
	long pid = 0, ino_pid = 0;
	int ino_only = 0;

	if (f == NULL)
		return 0;
	/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a process
	 * waiting for a lock: "1: -> FLOCK ..." */
	while (fgets(line, sizeof(line), f) != NULL) {
		char type[16], mode[16];
		unsigned int maj, min;
		unsigned long long ino;
		long p;
		const char *q = strchr(line, ':');

		if (q == NULL)
			continue;
		q += strspn(q + 1, " ") + 1;
		if (strncmp(q, "->", 2) == 0)
			continue;
		if (sscanf(q, "%15s %*s %15s %ld %x:%x:%llu", type, mode, &p,
		           &maj, &min, &ino) != 6 ||
		    strcmp(type, "FLOCK") != 0 || strcmp(mode, "WRITE") != 0 ||
		    ino != (unsigned long long) st->st_ino)
			continue;
		if (maj == major(st->st_dev) && min == minor(st->st_dev)) {
			pid = p;
			break;
		}
		ino_pid = p;
		ino_only++;
	}
	fclose(f);
	return pid != 0 ? pid : ino_only == 1 ? ino_pid : 0;
}

/* The name of process pid (its comm) into buf; "" if unknown. */
static void
dblock_comm(long pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (fgets(buf, (int) len, f) == NULL)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* The message for a lock held by someone else. */
static void
dblock_held(const char *path, const struct stat *st, char *err, size_t errlen)
{
	long pid = dblock_holder(st);
	char comm[32];

	if (pid <= 0) {
		snprintf(err, errlen,
		         "database '%s' is locked by another process: a "
		         "database serves one jobd at a time",
		         path);
		return;
	}
	dblock_comm(pid, comm, sizeof(comm));
	snprintf(err, errlen,
	         "database '%s' is locked by another process (pid %ld%s%s%s): "
	         "a database serves one jobd at a time",
	         path, pid, *comm ? ", '" : "", comm, *comm ? "'" : "");
}

/* Opens path for locking, creating it if missing (*created then). -1 with
 * errno on failure. */
static int
dblock_open(const char *path, bool *created)
{
	int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, fd;

	*created = false;
	if ((fd = open(path, flags | O_CREAT | O_EXCL, 0666)) >= 0) {
		*created = true;
		return fd;
	}
	if (errno != EEXIST)
		return -1;
	if ((fd = open(path, flags)) >= 0 || errno != ENOENT)
		return fd;
	/* a symbolic link to nothing: its target is made, as SQLite would */
	return open(path, flags | O_CREAT, 0666);
}

int
dblock_take(dblock **lp, const char *path, char *err, size_t errlen)
{
	struct stat st, now;
	bool created = false;
	dblock *l;
	int fd = -1, rv;

	*lp = NULL;
	if ((rv = store_check_file(path, err, errlen)) != JOBD_OK)
		return rv;
	for (int tries = 0;; tries++) {
		if ((fd = dblock_open(path, &created)) < 0) {
			snprintf(err, errlen, "cannot open database '%s': %s",
			         path, strerror(errno));
			return JOBD_UNAVAILABLE;
		}
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			/* swapped for something else since the check */
			close(fd);
			snprintf(err, errlen,
			         "database '%s' is not a regular file", path);
			return JOBD_FAILED_PRECONDITION;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			if (errno == EWOULDBLOCK) {
				dblock_held(path, &st, err, errlen);
				rv = JOBD_FAILED_PRECONDITION;
			} else {
				snprintf(err, errlen,
				         "cannot lock database '%s': %s", path,
				         strerror(errno));
				rv = JOBD_UNAVAILABLE;
			}
			close(fd);
			return rv;
		}
		/* still the file the path names? (see the top) */
		if (stat(path, &now) == 0 && now.st_dev == st.st_dev &&
		    now.st_ino == st.st_ino)
			break;
		close(fd);
		if (tries + 1 == DBLOCK_TRIES) {
			snprintf(err, errlen,
			         "cannot lock database '%s': the file keeps "
			         "being replaced",
			         path);
			return JOBD_UNAVAILABLE;
		}
	}
	if ((l = malloc(sizeof(*l) + strlen(path) + 1)) == NULL) {
		close(fd);
		snprintf(err, errlen,
		         "cannot lock database '%s': out of memory", path);
		return JOBD_RESOURCE_EXHAUSTED;
	}
	l->fd = fd;
	l->created = created;
	strcpy(l->path, path);
	*lp = l;
	return JOBD_OK;
}

void
dblock_release(dblock *l)
{
	if (l == NULL)
		return;
	close(l->fd); /* the lock goes with the description's last close */
	free(l);
}

void
dblock_discard(dblock *l)
{
	struct stat st, now;

	if (l == NULL)
		return;
	/* still empty, and still at its path: nothing wrote to it */
	if (l->created && fstat(l->fd, &st) == 0 && st.st_size == 0 &&
	    stat(l->path, &now) == 0 && now.st_dev == st.st_dev &&
	    now.st_ino == st.st_ino)
		(void) unlink(l->path);
	dblock_release(l);
}

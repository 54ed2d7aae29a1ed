/*
 * workdir: a run's private directory (workdir.h).
 *
 * The removal works on descriptors, never on paths: each directory is
 * opened with O_NOFOLLOW|O_DIRECTORY relative to its parent's descriptor
 * and its entries unlinked with unlinkat(), so a symbolic link a program
 * left is removed, never followed, and a rename of a directory during the
 * walk cannot lead it outside. A directory the program made unreadable or
 * read-only (chmod 000) gets its owner's rwx back first: the files are
 * jobd's user's own. When removal runs, every process of the run's group
 * is dead. The walk keeps one descriptor per level of depth; past
 * WORKDIR_MAX_DEPTH levels it gives up and says so.
 */
#include "workdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WORKDIR_MAX_DEPTH 256

static const char *
errstr(int e)
{
	const char *s = strerrordesc_np(e);

	return s != NULL ? s : "unknown error";
}

char *
workdir_create(const char *base, uint64_t id, uint32_t attempt, char *err,
               size_t errlen)
{
	char *path;
	int n;

	n = snprintf(NULL, 0, "%s/job-%" PRIu64 "-%" PRIu32 "-XXXXXX", base, id,
	             attempt);
	if (n < 0 || (path = malloc((size_t) n + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (int tries = 0;; tries++) {
		snprintf(path, (size_t) n + 1,
		         "%s/job-%" PRIu64 "-%" PRIu32 "-XXXXXX", base, id,
		         attempt);
		if (mkdtemp(path) != NULL)
			return path;
		/* the base directory is made on first use, owner-only */
		if (errno != ENOENT || tries > 0 ||
		    (mkdir(base, 0700) != 0 && errno != EEXIST))
			break;
	}
	snprintf(err, errlen, "cannot make a working directory in '%s': %s",
	         base, errstr(errno));
	free(path);
	return NULL;
}

/* Opens directory `name` in dfd for the walk, giving it rwx for its owner
 * when the program took them away. -1 with errno set. */
static int
open_dir(int dfd, const char *name)
{
	int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(dfd, name, flags);

	if (fd < 0 && errno == EACCES) {
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(st.st_mode))
			return -1;
		if (fchmodat(dfd, name, 0700, 0) != 0)
			return -1;
		fd = openat(dfd, name, flags);
	}
	/* write and search permission to unlink its entries */
	if (fd >= 0 && fchmod(fd, 0700) != 0) {
		int e = errno;
		(void) close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Empties the directory fd (which it closes). 0, or -1 with errno of the
 * first failure. */
static int
empty_dir(int fd, int depth)
{
	DIR *d;
	struct dirent *de;
	int rv = 0, e = 0;

	if ((d = fdopendir(fd)) == NULL) {
		e = errno;
		(void) close(fd);
		errno = e;
		return -1;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0 && rv == 0) {
				rv = -1;
				e = errno;
			}
			break;
		}
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (unlinkat(fd, name, 0) == 0)
			continue;
		if (errno != EISDIR && errno != EPERM) {
			if (rv == 0) {
				rv = -1;
				e = errno;
			}
			continue;
		}
		/* a directory: empty it, then remove it */
		int sub = -1;
		if (depth >= WORKDIR_MAX_DEPTH)
			errno = ELOOP;
		else
			sub = open_dir(fd, name);
		if (sub < 0 || empty_dir(sub, depth + 1) != 0 ||
		    unlinkat(fd, name, AT_REMOVEDIR) != 0) {
			if (rv == 0) {
				rv = -1;
				e = errno;
			}
		}
	}
	(void) closedir(d);
	errno = e;
	return rv;
}

int
workdir_sweep(const char *base, char *err, size_t errlen)
{
	DIR *d = opendir(base);
	struct dirent *de;
	int n = 0;

	if (d == NULL) {
		snprintf(err, errlen, "cannot read the run directory '%s': %s",
		         base, errstr(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		if (strncmp(de->d_name, "job-", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
		if (workdir_remove(path, err, errlen) != 0) {
			(void) closedir(d);
			return -1;
		}
		n++;
	}
	(void) closedir(d);
	return n;
}

int
workdir_remove(const char *path, char *err, size_t errlen)
{
	int fd;

	/* most programs leave nothing behind: one system call */
	if (rmdir(path) == 0 || errno == ENOENT)
		return 0;
	fd = open_dir(AT_FDCWD, path);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || empty_dir(fd, 0) != 0 || rmdir(path) != 0) {
		snprintf(err, errlen,
		         "cannot remove the working directory "
		         "'%s': %s",
		         path, errstr(errno));
		return -1;
	}
	return 0;
}

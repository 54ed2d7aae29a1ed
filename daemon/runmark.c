/*
 * runmark: the workers' marks, in a shared mapping of DB.running.
 *
 * The slots are _Atomic uint64_t in the mapping: a worker's store is one
 * relaxed atomic write; only the process that dies matters, and the kernel
 * keeps the page whatever the process did last. Reading the old file
 * happens once, at start, under the database's lock (dblock), before any
 * worker exists, so no other process or thread writes it meanwhile.
 */
#include "runmark.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobd_status.h"
#include "log.h"

#define RUNMARK_MAGIC "JOBDRUN1"
#define RUNMARK_HEAD  8
#define RUNMARK_MAX   (1u << 20) /* slots: far more than workers */

struct runmark {
	char *path;
	void *map;
	size_t size;
	uint32_t slots;
	_Atomic uint64_t *ids;
};

/* The ids marked in the old file at `path`, if it is one of ours. */
static void
read_old(const char *path, uint64_t **left, size_t *nleft)
{
	char magic[RUNMARK_HEAD];
	struct stat st;
	uint64_t id, *v = NULL;
	size_t n = 0, cap = 0;
	int fd;

	*left = NULL;
	*nleft = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno != ENOENT)
			log_warn("cannot read '%s': %s; the jobs it marks as "
			         "running are not known",
			         path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < RUNMARK_HEAD || (st.st_size - RUNMARK_HEAD) % 8 != 0 ||
	    (uint64_t) (st.st_size - RUNMARK_HEAD) / 8 > RUNMARK_MAX ||
	    pread(fd, magic, sizeof(magic), 0) != (ssize_t) sizeof(magic) ||
	    memcmp(magic, RUNMARK_MAGIC, RUNMARK_HEAD) != 0) {
		log_warn("'%s' is not a file of jobd's marks of running jobs; "
		         "ignored",
		         path);
		close(fd);
		return;
	}
	for (off_t off = RUNMARK_HEAD; off < st.st_size; off += 8) {
		if (pread(fd, &id, sizeof(id), off) != (ssize_t) sizeof(id))
			break;
		if (id == 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 16;
			uint64_t *nv = realloc(v, nc * sizeof(*v));
			if (nv == NULL)
				break; /* a hint: what was read is kept */
			v = nv;
			cap = nc;
		}
		v[n++] = id;
	}
	close(fd);
	*left = v;
	*nleft = n;
}

/* Makes r's file anew: its slots clear. JOBD_OK, or an error in err. */
static int
make_file(runmark *r, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	/* an old file is reused where the directory does not let it be
	 * removed (a database directory made read-only, its files not) */
	if ((fd = open(r->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	               0600)) < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", r->path,
		         strerror(errno));
		return JOBD_UNAVAILABLE;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a regular file", r->path);
		close(fd);
		return JOBD_FAILED_PRECONDITION;
	}
	if (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t) r->size) != 0 ||
	    pwrite(fd, RUNMARK_MAGIC, RUNMARK_HEAD, 0) != RUNMARK_HEAD ||
	    (r->map = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED,
	                   fd, 0)) == MAP_FAILED) {
		snprintf(err, errlen, "cannot map '%s': %s", r->path,
		         strerror(errno));
		r->map = NULL;
		close(fd);
		return JOBD_UNAVAILABLE;
	}
	close(fd);
	r->ids = (_Atomic uint64_t *) ((char *) r->map + RUNMARK_HEAD);
	return JOBD_OK;
}

int
runmark_open(runmark **rp, const char *dbpath, uint32_t slots, uint64_t **left,
             size_t *nleft, char *err, size_t errlen)
{
	runmark *r;
	size_t len = strlen(dbpath) + sizeof(".running");
	char why[PATH_MAX + 128];

	*rp = NULL;
	*left = NULL;
	*nleft = 0;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->path = malloc(len)) == NULL) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	snprintf(r->path, len, "%s.running", dbpath);
	read_old(r->path, left, nleft);
	if (slots > RUNMARK_MAX)
		slots = RUNMARK_MAX;
	r->size = RUNMARK_HEAD + (size_t) slots * 8;
	if (slots == 0) {
		if (unlink(r->path) != 0 && errno != ENOENT)
			log_warn("cannot remove '%s': %s", r->path,
			         strerror(errno));
	} else if (make_file(r, why, sizeof(why)) == JOBD_OK) {
		r->slots = slots;
	} else {
		/* a hint: jobd runs without, as it did before there were
		 * marks */
		log_warn("%s; jobs are not marked as running: one that takes "
		         "jobd down before its start is written is not counted "
		         "towards --max-recoveries",
		         why);
	}
	*rp = r;
	return JOBD_OK;
}

void
runmark_set(runmark *r, uint32_t slot, uint64_t id)
{
	if (r != NULL && slot < r->slots)
		atomic_store_explicit(&r->ids[slot], id, memory_order_relaxed);
}

void
runmark_close(runmark *r)
{
	bool clear = true;

	if (r == NULL)
		return;
	for (uint32_t i = 0; i < r->slots; i++)
		clear = clear && atomic_load(&r->ids[i]) == 0;
	if (r->map != NULL)
		munmap(r->map, r->size);
	/* where the directory does not let it go, it stays, every slot
	 * clear, and the next start reuses it */
	if (clear)
		(void) unlink(r->path);
	free(r->path);
	free(r);
}

/*
 * fuzz_replay: runs inputs through a libFuzzer target without libFuzzer, so
 * that any compiler can build it and the normal test suite can replay the
 * checked-in corpus (and the inputs of bugs the fuzzer found):
 *
 *     fuzz_replay FILE|DIR...
 *
 * Files of a directory are run in name order. A failed check in the target
 * aborts; the exit status is 0 when every input ran, 2 when one could not be
 * read or there was none. Prints how many inputs ran.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t) n + 1)) == NULL ||
	    fread(buf, 1, (size_t) n, f) != (size_t) n) {
		fprintf(stderr, "fuzz_replay: cannot read '%s'\n", path);
		if (f != NULL)
			fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t) n);
	free(buf);
	return 1;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Runs path, or every regular file in it; the number run, -1 on error. */
static int
run_path(const char *path)
{
	struct dirent *e;
	struct stat st;
	char **names = NULL, full[4096];
	size_t n = 0, cap = 0;
	int ran = 0, rv;
	DIR *d;

	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return run_file(path);
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "fuzz_replay: cannot open '%s'\n", path);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL)
				break;
			names = nn;
		}
		if ((names[n] = strdup(e->d_name)) != NULL)
			n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		snprintf(full, sizeof(full), "%s/%s", path, names[i]);
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
			if ((rv = run_file(full)) < 0)
				ran = -1;
			else if (ran >= 0)
				ran += rv;
		}
		free(names[i]);
	}
	free(names);
	return ran;
}

int
main(int argc, char **argv)
{
	int total = 0, rv, status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: fuzz_replay FILE|DIR...\n");
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		if ((rv = run_path(argv[i])) < 0)
			status = 2;
		else
			total += rv;
	}
	printf("fuzz_replay: %d inputs ran\n", total);
	if (total == 0) {
		fprintf(stderr, "fuzz_replay: no input found\n");
		status = 2;
	}
	return status;
}

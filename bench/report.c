/*
 * report: the table on stdout and the JSON file.
 *
 * Figures are kept in fixed arrays (a run has a dozen workloads of at
 * most four dozen figures); each is printed as a row the moment it is
 * added, so a long run shows its figures as they come. The machine is
 * read once, at report_create(): the CPU model from /proc/cpuinfo, the
 * online CPUs, the kernel from uname(), and the data directory's
 * filesystem from /proc/self/mounts (the longest mount point above it)
 * and statfs().
 */
#include "report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifndef JOBD_VERSION
#define JOBD_VERSION "unknown"
#endif

#define MAX_WORKLOADS 16
#define MAX_FIGURES   48
#define MAX_OPTIONS   24
#define TMPFS_MAGIC_  0x01021994

struct figure {
	const char *name;
	char label[64];
	const char *unit;
	double value;
	int decimals;
	enum report_cmp cmp;
	double target;
};

struct workload {
	const char *name;
	const char *status;
	char why[512];
	struct figure fig[MAX_FIGURES];
	int nfig;
};

struct option {
	char name[32];
	char value[PATH_MAX];
	bool number;
};

struct report {
	char date[32];
	char cpu_model[256];
	long ncpu;
	char kernel[512];
	char loadavg[64]; /* /proc/loadavg's three, at the start */
	char datadir[PATH_MAX];
	char fstype[64];
	bool tmpfs;
	struct workload wl[MAX_WORKLOADS];
	int nwl;
	struct workload *cur;
	struct option opt[MAX_OPTIONS];
	int nopt;
};

static void
cpu_model(char *buf, size_t len)
{
	static const char *const keys[] = {"model name", "Hardware",
	                                   "cpu model", "Processor"};
	char line[512];
	FILE *f;

	snprintf(buf, len, "unknown");
	if ((f = fopen("/proc/cpuinfo", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strncmp(line, keys[i], strlen(keys[i])) != 0)
				continue;
			char *v = colon + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			if (*v != '\0') {
				snprintf(buf, len, "%s", v);
				fclose(f);
				return;
			}
		}
	}
	fclose(f);
}

/* Undoes /proc/self/mounts' octal escapes (\040 for a space) in place. */
static void
unescape(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char) ((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			               (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* The type of the filesystem holding `dir`: the longest mount point above
 * it in /proc/self/mounts. */
static void
fs_type(const char *dir, char *buf, size_t len)
{
	char real[PATH_MAX], line[4096];
	size_t best = 0;
	FILE *f;

	snprintf(buf, len, "unknown");
	if (realpath(dir, real) == NULL ||
	    (f = fopen("/proc/self/mounts", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *save = NULL;
		char *dev = strtok_r(line, " ", &save);
		char *mnt = strtok_r(NULL, " ", &save);
		char *type = strtok_r(NULL, " ", &save);
		if (dev == NULL || mnt == NULL || type == NULL)
			continue;
		unescape(mnt);
		size_t n = strlen(mnt);
		bool above = strcmp(mnt, "/") == 0 ||
		             (strncmp(real, mnt, n) == 0 &&
		              (real[n] == '/' || real[n] == '\0'));
		if (above && n >= best) {
			best = n;
			snprintf(buf, len, "%s", type);
		}
	}
	fclose(f);
}

/* The 1, 5 and 15 minute load averages: how busy the machine was
 * with others' work when the run began. */
static void
read_loadavg(char *buf, size_t len)
{
	double a, b, c;
	FILE *f;

	snprintf(buf, len, "unknown");
	if ((f = fopen("/proc/loadavg", "re")) == NULL)
		return;
	if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
		snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
	fclose(f);
}

report *
report_create(const char *datadir)
{
	struct utsname u;
	struct statfs sf;
	struct tm tm;
	time_t now = time(NULL);
	report *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	if (gmtime_r(&now, &tm) != NULL)
		strftime(r->date, sizeof(r->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cpu_model(r->cpu_model, sizeof(r->cpu_model));
	r->ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0)
		snprintf(r->kernel, sizeof(r->kernel), "%s %s %s (%s)",
		         u.sysname, u.release, u.machine, u.version);
	else
		snprintf(r->kernel, sizeof(r->kernel), "unknown");
	read_loadavg(r->loadavg, sizeof(r->loadavg));
	snprintf(r->datadir, sizeof(r->datadir), "%s", datadir);
	if (*datadir != '\0') {
		fs_type(datadir, r->fstype, sizeof(r->fstype));
		r->tmpfs = statfs(datadir, &sf) == 0 &&
		           (unsigned long) sf.f_type == TMPFS_MAGIC_;
	}
	return (r);
}

void
report_destroy(report *r)
{
	free(r);
}

bool
report_dir_on_tmpfs(const report *r)
{
	return (r->tmpfs);
}

void
report_print_header(const report *r, const char *jobd, const char *addr)
{
	printf("# jobd-bench %s, %s\n", JOBD_VERSION, r->date);
	printf("# machine: %s, %ld online CPUs, %s\n", r->cpu_model, r->ncpu,
	       r->kernel);
	printf("# load average at the start: %s\n", r->loadavg);
	if (addr != NULL)
		printf("# jobd: the one at %s\n", addr);
	else
		printf("# jobd: %s, data in %s (%s)\n", jobd, r->datadir,
		       r->fstype);
	printf("%-17s %-42s %14s  %-16s %s\n", "workload", "figure", "value",
	       "target", "met");
	fflush(stdout);
}

void
report_begin(report *r, const char *workload)
{
	if (r->nwl == MAX_WORKLOADS) {
		r->cur = NULL;
		return;
	}
	r->cur = &r->wl[r->nwl++];
	r->cur->name = workload;
	r->cur->status = "running";
}

static const char *
cmp_str(enum report_cmp cmp)
{
	switch (cmp) {
	case REPORT_LT:
		return ("<");
	case REPORT_LE:
		return ("<=");
	case REPORT_GE:
		return (">=");
	default:
		return ("");
	}
}

static void
target_str(const struct figure *f, char *buf, size_t len)
{
	if (f->cmp == REPORT_NONE)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%s %g%s%s", cmp_str(f->cmp), f->target,
		         *f->unit != '\0' ? " " : "", f->unit);
}

/* "yes", "no", or "-" when there is no target. */
static const char *
met_str(const struct figure *f)
{
	bool met;

	switch (f->cmp) {
	case REPORT_LT:
		met = f->value < f->target;
		break;
	case REPORT_LE:
		met = f->value <= f->target;
		break;
	case REPORT_GE:
		met = f->value >= f->target;
		break;
	default:
		return ("-");
	}
	return (met ? "yes" : "no");
}

void
report_add(report *r, const char *name, const char *label, double value,
           const char *unit, int decimals, enum report_cmp cmp, double target)
{
	struct figure *f, spare;
	char val[64], tgt[64];

	if (r->cur != NULL && r->cur->nfig < MAX_FIGURES)
		f = &r->cur->fig[r->cur->nfig++];
	else
		f = &spare; /* printed all the same */
	f->name = name;
	snprintf(f->label, sizeof(f->label), "%s", label);
	f->value = value;
	f->unit = unit;
	f->decimals = decimals;
	f->cmp = cmp;
	f->target = target;
	snprintf(val, sizeof(val), "%.*f%s%s", decimals, value,
	         *unit != '\0' ? " " : "", unit);
	target_str(f, tgt, sizeof(tgt));
	printf("%-17s %-42s %14s  %-16s %s\n",
	       r->cur != NULL ? r->cur->name : "?", label, val, tgt,
	       met_str(f));
	fflush(stdout);
}

void
report_end(report *r, const char *status, const char *why)
{
	if (r->cur == NULL)
		return;
	r->cur->status = status;
	snprintf(r->cur->why, sizeof(r->cur->why), "%s",
	         why != NULL ? why : "");
	if (strcmp(status, "ok") != 0) {
		printf("%-17s %s: %s\n", r->cur->name, status, r->cur->why);
		fflush(stdout);
	}
	r->cur = NULL;
}

static void
option_add(report *r, const char *name, const char *value, bool number)
{
	if (r->nopt == MAX_OPTIONS)
		return;
	struct option *o = &r->opt[r->nopt++];
	snprintf(o->name, sizeof(o->name), "%s", name);
	/* NULL: JSON's null, written as a number is */
	snprintf(o->value, sizeof(o->value), "%s",
	         value != NULL ? value : "null");
	o->number = number || value == NULL;
}

void
report_option(report *r, const char *name, const char *value)
{
	option_add(r, name, value, false);
}

void
report_option_u64(report *r, const char *name, uint64_t value)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long) value);
	option_add(r, name, buf, true);
}

/* A JSON string, quoted and escaped. */
static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
json_figure(FILE *f, const struct figure *g)
{
	char tgt[64];
	const char *met = met_str(g);

	fputs("        ", f);
	json_str(f, g->name);
	fputs(": {\"label\": ", f);
	json_str(f, g->label);
	if (isfinite(g->value))
		fprintf(f, ", \"value\": %.*f", g->decimals + 1, g->value);
	else
		fputs(", \"value\": null", f);
	fputs(", \"unit\": ", f);
	json_str(f, g->unit);
	fputs(", \"target\": ", f);
	if (g->cmp == REPORT_NONE) {
		fputs("null, \"met\": null}", f);
	} else {
		target_str(g, tgt, sizeof(tgt));
		json_str(f, tgt);
		fprintf(f, ", \"met\": %s}",
		        strcmp(met, "yes") == 0 ? "true" : "false");
	}
}

int
report_write_json(const report *r, const char *path)
{
	FILE *f;

	if ((f = fopen(path, "we")) == NULL) {
		bench_errorf("cannot write '%s': %s", path, strerror(errno));
		return (-1);
	}
	fputs("{\n  \"tool\": \"jobd-bench\",\n  \"version\": ", f);
	json_str(f, JOBD_VERSION);
	fputs(",\n  \"date\": ", f);
	json_str(f, r->date);
	fputs(",\n  \"machine\": {\n    \"cpu_model\": ", f);
	json_str(f, r->cpu_model);
	fprintf(f, ",\n    \"online_cpus\": %ld,\n    \"kernel\": ", r->ncpu);
	json_str(f, r->kernel);
	fputs(",\n    \"loadavg\": ", f);
	json_str(f, r->loadavg);
	fputs(",\n    \"data_dir\": ", f);
	if (*r->datadir != '\0') {
		json_str(f, r->datadir);
		fputs(",\n    \"data_dir_fs\": ", f);
		json_str(f, r->fstype);
	} else {
		fputs("null,\n    \"data_dir_fs\": null", f);
	}
	fputs("\n  },\n  \"options\": {", f);
	for (int i = 0; i < r->nopt; i++) {
		fputs(i > 0 ? ",\n    " : "\n    ", f);
		json_str(f, r->opt[i].name);
		fputs(": ", f);
		if (r->opt[i].number)
			fputs(r->opt[i].value, f);
		else
			json_str(f, r->opt[i].value);
	}
	fputs("\n  },\n  \"workloads\": {", f);
	for (int i = 0; i < r->nwl; i++) {
		const struct workload *w = &r->wl[i];
		fputs(i > 0 ? ",\n    " : "\n    ", f);
		json_str(f, w->name);
		fputs(": {\n      \"status\": ", f);
		json_str(f, w->status);
		if (*w->why != '\0') {
			fprintf(f, ",\n      \"%s\": ",
			        strcmp(w->status, "failed") == 0 ? "error"
			                                         : "reason");
			json_str(f, w->why);
		}
		fputs(",\n      \"figures\": {", f);
		for (int k = 0; k < w->nfig; k++) {
			fputs(k > 0 ? ",\n" : "\n", f);
			json_figure(f, &w->fig[k]);
		}
		fputs(w->nfig > 0 ? "\n      }\n    }" : "}\n    }", f);
	}
	fputs("\n  }\n}\n", f);
	if (ferror(f) | (fclose(f) != 0)) {
		bench_errorf("cannot write '%s': %s", path, strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * tz: a reader of TZif files (RFC 8536) and of the POSIX TZ string in
 * their footer, for the time zones of schedules.
 *
 * A file is read whole (at most TZ_MAX_FILE bytes) and every count,
 * length, index and offset in it is checked before it is used: a zone
 * file is input from outside like any other. Of a version 2+ file only the
 * second, 64-bit, data block and the footer are used; a version 1 file
 * gives its 32-bit block. Leap-second ("right/") files are refused: their
 * transition times are not Unix times.
 *
 * A zone is then a sorted array of transitions (UTC instant, index of the
 * local time type that starts there), the types' offsets, and the rule of
 * the footer ("CET-1CEST,M3.5.0,M10.5.0/3"), which gives the offset for
 * instants after the last transition (a "slim" file has few transitions
 * and relies on it; a "fat" one lists them up to 2037). Before the first
 * transition, type 0 applies (RFC 8536 section 3.2).
 *
 * Local to UTC: a wall time L is the instant L - o for each offset o in
 * force near L for which that instant really has offset o; none is a gap
 * (the clock jumped over L: the answer is the instant of the jump), two an
 * overlap (the clock went back over L).
 */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobd_status.h"

#define TZ_MAX_TIMES  100000 /* transitions of one file */
#define TZ_MAX_TYPES  256    /* local time types (a byte indexes them) */
#define TZ_MAX_OFFSET 93599  /* RFC 8536: -89999 .. 93599 seconds */
#define TZ_MIN_OFFSET (-89999)

/* A rule date of the footer: Jn, n or Mm.w.d, and a time of day. */
struct tz_rule {
	char kind; /* 'J', 'D' (zero-based day), 'M' */
	int n, m, w, d;
	int32_t secs; /* local time of day of the change; may pass a day */
};

struct tz {
	char name[TZ_NAME_MAX + 1];
	int64_t *times; /* ntimes transitions, ascending */
	uint8_t *idx;   /* the type that starts at each */
	size_t ntimes;
	int32_t off[TZ_MAX_TYPES];
	size_t ntypes;
	/* footer */
	bool has_rule; /* a footer is there: it rules after the last time */
	bool has_dst;  /* it has a daylight saving time part */
	int32_t std_off, dst_off;
	struct tz_rule start, end;
};

static tz tz_utc_zone = {.name = "UTC", .ntypes = 1};

tz *
tz_utc(void)
{
	return &tz_utc_zone;
}

void
tz_free(tz *z)
{
	if (z == NULL || z == &tz_utc_zone)
		return;
	free(z->times);
	free(z->idx);
	free(z);
}

const char *
tz_name(const tz *z)
{
	return z->name;
}

/* ---- civil dates (H. Hinnant's algorithms) ---- */

int64_t
tz_floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0)) ? q - 1 : q;
}

int64_t
tz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = tz_floordiv(y, 400);
	unsigned yoe = (unsigned) (y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3u : 9u)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t) doe - 719468;
}

void
tz_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = tz_floordiv(z, 146097);
	unsigned doe = (unsigned) (z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t) yoe + era * 400 + (*m <= 2);
}

static bool
tz_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned
tz_mdays(int64_t y, unsigned m)
{
	static const unsigned md[12] = {31, 28, 31, 30, 31, 30,
	                                31, 31, 30, 31, 30, 31};
	return m == 2 && tz_leap(y) ? 29 : md[m - 1];
}

/* ---- the footer: a POSIX TZ string ---- */

/* A zone abbreviation: 3+ letters, or <...> of letters, digits, + and -. */
static bool
tzs_name(const char **pp)
{
	const char *p = *pp;
	size_t n = 0;

	if (*p == '<') {
		for (p++; *p != '>'; p++, n++)
			if (!(*p == '+' || *p == '-' ||
			      (*p >= '0' && *p <= '9') ||
			      (*p >= 'A' && *p <= 'Z') ||
			      (*p >= 'a' && *p <= 'z')))
				return false;
		p++;
	} else {
		for (; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z');
		     p++, n++)
			;
	}
	*pp = p;
	return n >= 3;
}

/* [+-]hh[:mm[:ss]], hh at most maxh; seconds, signed as written. */
static bool
tzs_hms(const char **pp, int maxh, int32_t *out)
{
	const char *p = *pp;
	int sign = 1, part[3] = {0, 0, 0}, np = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	for (;;) {
		int v = 0, digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 3) {
			v = v * 10 + (*p++ - '0');
			digits++;
		}
		if (digits == 0)
			return false;
		part[np++] = v;
		if (np == 3 || *p != ':')
			break;
		p++;
	}
	if (part[0] > maxh || part[1] > 59 || part[2] > 59)
		return false;
	*out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
	*pp = p;
	return true;
}

static bool
tzs_num(const char **pp, int lo, int hi, int *out)
{
	const char *p = *pp;
	int v = 0, digits = 0;

	while (*p >= '0' && *p <= '9' && digits < 4) {
		v = v * 10 + (*p++ - '0');
		digits++;
	}
	if (digits == 0 || v < lo || v > hi)
		return false;
	*out = v;
	*pp = p;
	return true;
}

static bool
tzs_rule(const char **pp, struct tz_rule *r)
{
	const char *p = *pp;

	if (*p == 'J') {
		p++;
		r->kind = 'J';
		if (!tzs_num(&p, 1, 365, &r->n))
			return false;
	} else if (*p == 'M') {
		p++;
		r->kind = 'M';
		if (!tzs_num(&p, 1, 12, &r->m) || *p++ != '.' ||
		    !tzs_num(&p, 1, 5, &r->w) || *p++ != '.' ||
		    !tzs_num(&p, 0, 6, &r->d))
			return false;
	} else {
		r->kind = 'D';
		if (!tzs_num(&p, 0, 365, &r->n))
			return false;
	}
	r->secs = 2 * 3600;
	if (*p == '/') {
		p++;
		/* RFC 8536 3.3.1: -167 to 167 hours */
		if (!tzs_hms(&p, 167, &r->secs))
			return false;
	}
	*pp = p;
	return true;
}

/* Parses the footer string s into z; false if it is not one. */
static bool
tzs_parse(tz *z, const char *s)
{
	const char *p = s;
	int32_t o;

	if (*p == '\0') /* allowed: no rule after the last transition */
		return true;
	if (!tzs_name(&p) || !tzs_hms(&p, 24, &o))
		return false;
	z->std_off = -o;
	z->dst_off = z->std_off;
	z->has_rule = true;
	if (*p == '\0')
		return true;
	if (!tzs_name(&p))
		return false;
	z->has_dst = true;
	z->dst_off = z->std_off + 3600;
	if (*p != ',' && *p != '\0') {
		if (!tzs_hms(&p, 24, &o))
			return false;
		z->dst_off = -o;
	}
	if (*p == '\0') { /* POSIX leaves it open; the US rule, as glibc */
		z->start = (struct tz_rule){'M', 0, 3, 2, 0, 7200};
		z->end = (struct tz_rule){'M', 0, 11, 1, 0, 7200};
		return true;
	}
	if (*p++ != ',' || !tzs_rule(&p, &z->start) || *p++ != ',' ||
	    !tzs_rule(&p, &z->end) || *p != '\0')
		return false;
	return true;
}

/* Local seconds (of the offset in force before it) of rule r in year y. */
static int64_t
tzs_when(const struct tz_rule *r, int64_t y)
{
	int64_t day;

	if (r->kind == 'J')
		day = tz_days_from_civil(y, 1, 1) + r->n - 1 +
		      (tz_leap(y) && r->n >= 60);
	else if (r->kind == 'D')
		day = tz_days_from_civil(y, 1, 1) + r->n;
	else {
		int64_t first = tz_days_from_civil(y, (unsigned) r->m, 1);
		int64_t wd = tz_floordiv(first + 4, 7) * -7 + first + 4;
		day = first + (r->d - wd + 7) % 7 + 7 * (r->w - 1);
		while (day >= first + tz_mdays(y, (unsigned) r->m))
			day -= 7;
	}
	return day * 86400 + r->secs;
}

static int32_t
tzs_offset(const tz *z, int64_t t)
{
	if (!z->has_dst)
		return z->std_off;
	int64_t y, days = tz_floordiv(t + z->std_off, 86400);
	unsigned m, d;
	tz_civil_from_days(days, &y, &m, &d);
	int64_t start = tzs_when(&z->start, y) - z->std_off;
	int64_t end = tzs_when(&z->end, y) - z->dst_off;
	if (start < end)
		return t >= start && t < end ? z->dst_off : z->std_off;
	return t >= end && t < start ? z->std_off : z->dst_off;
}

/* ---- the file ---- */

struct tzf {
	const uint8_t *p;
	size_t len, pos;
};

static bool
tzf_take(struct tzf *f, size_t n, const uint8_t **out)
{
	if (n > f->len - f->pos)
		return false;
	*out = f->p + f->pos;
	f->pos += n;
	return true;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
	       (uint32_t) p[2] << 8 | p[3];
}

static int64_t
be64(const uint8_t *p)
{
	return (int64_t) ((uint64_t) be32(p) << 32 | be32(p + 4));
}

struct tzhead {
	int version;
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static const char *
tzf_head(struct tzf *f, struct tzhead *h)
{
	const uint8_t *b;

	if (!tzf_take(f, 44, &b) || memcmp(b, "TZif", 4) != 0)
		return "not a TZif file";
	h->version = b[4] == 0 ? 1 : b[4] - '0';
	if (h->version < 1 || h->version > 9)
		return "unknown TZif version";
	h->isutcnt = be32(b + 20);
	h->isstdcnt = be32(b + 24);
	h->leapcnt = be32(b + 28);
	h->timecnt = be32(b + 32);
	h->typecnt = be32(b + 36);
	h->charcnt = be32(b + 40);
	if (h->typecnt == 0 || h->typecnt > TZ_MAX_TYPES)
		return "bad count of local time types";
	if (h->timecnt > TZ_MAX_TIMES)
		return "too many transitions";
	if ((h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
		return "bad UT/standard indicator counts";
	if (h->charcnt == 0 || h->charcnt > 65536)
		return "bad count of abbreviation bytes";
	if (h->leapcnt != 0)
		return "leap-second (right/) zone files are not supported";
	return NULL;
}

/* One data block, with times of tsize bytes, into z. */
static const char *
tzf_block(struct tzf *f, const struct tzhead *h, size_t tsize, tz *z)
{
	const uint8_t *times, *idx, *types, *rest;

	if (!tzf_take(f, (size_t) h->timecnt * tsize, &times) ||
	    !tzf_take(f, h->timecnt, &idx) ||
	    !tzf_take(f, (size_t) h->typecnt * 6, &types) ||
	    !tzf_take(f,
	              h->charcnt + (size_t) h->leapcnt * (tsize + 4) +
	                  h->isstdcnt + h->isutcnt,
	              &rest))
		return "truncated";
	free(z->times);
	free(z->idx);
	z->times = malloc((h->timecnt + 1) * sizeof(*z->times));
	z->idx = malloc(h->timecnt + 1);
	if (z->times == NULL || z->idx == NULL)
		return "out of memory";
	for (uint32_t i = 0; i < h->timecnt; i++) {
		z->times[i] = tsize == 8 ? be64(times + 8 * i)
		                         : (int32_t) be32(times + 4 * i);
		if (i > 0 && z->times[i] <= z->times[i - 1])
			return "transition times not ascending";
		if (idx[i] >= h->typecnt)
			return "transition to a local time type that is not "
			       "there";
		z->idx[i] = idx[i];
	}
	z->ntimes = h->timecnt;
	for (uint32_t i = 0; i < h->typecnt; i++) {
		int32_t o = (int32_t) be32(types + 6 * i);
		if (o < TZ_MIN_OFFSET || o > TZ_MAX_OFFSET)
			return "offset out of range";
		if (types[6 * i + 4] > 1 || types[6 * i + 5] >= h->charcnt)
			return "bad local time type";
		z->off[i] = o;
	}
	z->ntypes = h->typecnt;
	return NULL;
}

static const char *
tzf_parse(const uint8_t *buf, size_t len, tz *z)
{
	struct tzf f = {buf, len, 0};
	struct tzhead h;
	const char *why;

	if ((why = tzf_head(&f, &h)) != NULL ||
	    (why = tzf_block(&f, &h, 4, z)) != NULL)
		return why;
	if (h.version < 2)
		return NULL;
	if ((why = tzf_head(&f, &h)) != NULL ||
	    (why = tzf_block(&f, &h, 8, z)) != NULL)
		return why;
	/* the footer: "\n" TZ-string "\n" */
	const uint8_t *nl;
	if (f.pos >= len || buf[f.pos] != '\n')
		return "no footer";
	f.pos++;
	nl = memchr(buf + f.pos, '\n', len - f.pos);
	if (nl == NULL || (size_t) (nl - (buf + f.pos)) > 255)
		return "bad footer";
	char s[256];
	size_t n = (size_t) (nl - (buf + f.pos));
	memcpy(s, buf + f.pos, n);
	s[n] = '\0';
	if (!tzs_parse(z, s))
		return "bad TZ string in the footer";
	return NULL;
}

static bool
tz_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' ||
	    strstr(name, "..") != NULL)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		      *p == '+' || *p == '/' || *p == '.'))
			return false;
	return true;
}

static int
tz_read(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen,
        const char *name)
{
	struct stat st;
	uint8_t *b;
	size_t n = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		int e = errno;
		snprintf(err, errlen, "unknown time zone '%s' (%s: %s)", name,
		         path, strerror(e));
		return e == ENOENT || e == ENOTDIR ? JOBD_NOT_FOUND
		                                   : JOBD_INVALID_ARGUMENT;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > TZ_MAX_FILE) {
		close(fd);
		snprintf(err, errlen,
		         "time zone '%s': %s is not a regular file of at "
		         "most %d bytes",
		         name, path, TZ_MAX_FILE);
		return JOBD_INVALID_ARGUMENT;
	}
	if ((b = malloc(TZ_MAX_FILE + 1)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	for (;;) {
		ssize_t r = read(fd, b + n, TZ_MAX_FILE + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (n += (size_t) r) > TZ_MAX_FILE)
			break;
	}
	close(fd);
	if (n > TZ_MAX_FILE) {
		free(b);
		snprintf(err, errlen, "time zone '%s': %s is too large", name,
		         path);
		return JOBD_INVALID_ARGUMENT;
	}
	*buf = b;
	*len = n;
	return JOBD_OK;
}

int
tz_load(tz **out, const char *name, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	char path[TZ_NAME_MAX + 512];
	uint8_t *buf;
	size_t len;
	const char *why;
	tz *z;
	int rv;

	*out = NULL;
	if (name[0] == '\0' || strcmp(name, "UTC") == 0) {
		*out = &tz_utc_zone;
		return JOBD_OK;
	}
	if (!tz_name_ok(name)) {
		snprintf(err, errlen,
		         "bad time zone name '%.64s' (a name such as "
		         "Europe/Paris: no '..', not absolute)",
		         name);
		return JOBD_INVALID_ARGUMENT;
	}
	if (dir == NULL || dir[0] == '\0' || strlen(dir) > 256)
		dir = "/usr/share/zoneinfo";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((rv = tz_read(path, &buf, &len, err, errlen, name)) != JOBD_OK)
		return rv;
	if ((z = calloc(1, sizeof(*z))) == NULL) {
		free(buf);
		snprintf(err, errlen, "out of memory");
		return JOBD_RESOURCE_EXHAUSTED;
	}
	snprintf(z->name, sizeof(z->name), "%s", name);
	why = tzf_parse(buf, len, z);
	free(buf);
	if (why != NULL) {
		snprintf(err, errlen, "time zone '%s': %s: %s", name, path,
		         why);
		tz_free(z);
		return strcmp(why, "out of memory") == 0
		           ? JOBD_RESOURCE_EXHAUSTED
		           : JOBD_INVALID_ARGUMENT;
	}
	*out = z;
	return JOBD_OK;
}

int32_t
tz_offset(const tz *z, int64_t t)
{
	size_t lo = 0, hi = z->ntimes;

	if (z == &tz_utc_zone)
		return 0;
	if (z->ntimes == 0 || t < z->times[0])
		return z->has_rule && z->ntimes == 0 ? tzs_offset(z, t)
		                                     : z->off[0];
	if (t >= z->times[z->ntimes - 1] && z->has_rule)
		return tzs_offset(z, t);
	/* the last transition at or before t */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->times[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->off[z->idx[lo]];
}

void
tz_from_local(const tz *z, int64_t local, struct tz_local *out)
{
	int32_t cand[3] = {tz_offset(z, local - 86400), tz_offset(z, local),
	                   tz_offset(z, local + 86400)};
	int64_t found[3];
	int n = 0;

	for (int i = 0; i < 3; i++) {
		int64_t t = local - cand[i];
		bool dup = false;
		if (tz_offset(z, t) != cand[i])
			continue;
		for (int j = 0; j < n; j++)
			dup |= found[j] == t;
		if (!dup)
			found[n++] = t;
	}
	if (n > 0) {
		if (n > 1 && found[1] < found[0]) {
			int64_t x = found[0];
			found[0] = found[1];
			found[1] = x;
		}
		/* 3 only with two changes within a day: keep the first two */
		out->n = n > 2 ? 2 : n;
		out->t[0] = found[0];
		out->t[1] = n > 1 ? found[1] : found[0];
		return;
	}
	/* a gap: the first instant whose wall time is at or past `local` */
	int64_t lo = local - TZ_MAX_OFFSET - 1, hi = local - TZ_MIN_OFFSET + 1;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (mid + tz_offset(z, mid) >= local)
			hi = mid;
		else
			lo = mid;
	}
	out->n = 0;
	out->t[0] = out->t[1] = hi;
}

void
tz_format_utc(int64_t t, char *buf, size_t n)
{
	int64_t days = tz_floordiv(t, 86400), y, s = t - days * 86400;
	unsigned m, d;

	tz_civil_from_days(days, &y, &m, &d);
	snprintf(buf, n, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long) y, m,
	         d, (int) (s / 3600), (int) (s / 60 % 60), (int) (s % 60));
}

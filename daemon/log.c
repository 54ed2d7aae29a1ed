/*
 * log: lines like
 *
 *     2026-11-26T10:00:00.123Z INFO listening on tcp://127.0.0.1:7077
 *
 * on stderr, or with --log-format json one object per line:
 *
 *     {"time":"2026-11-26T10:00:00.123Z","level":"info",
 *      "message":"failed after 3 attempts: boom","job":42,"kind":"count"}
 *
 * (on one line). Notable events only (start, stop, recovery, job failures,
 * disk errors); quick requests are logged at debug level if at all.
 *
 * The JSON object is made by jansson, which escapes what a message may
 * hold (quotes, control characters). A message that is not valid UTF-8
 * (a file name, say) has each byte outside ASCII replaced by '?', since a
 * JSON string cannot carry it. A line is at most LOG_LINE bytes: a longer
 * message is cut (as text, and before the JSON encoding).
 */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE 1024

static atomic_int log_level = LOG_INFO;
static atomic_int log_format = LOG_TEXT;
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const char *const format_names[] = {"text", "json"};

void
log_set_level(int level)
{
	atomic_store(&log_level, level);
}

int
log_parse_level(const char *name)
{
	for (int i = 0; i <= LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

int
log_enabled(int level)
{
	return level <= atomic_load(&log_level);
}

void
log_set_format(int format)
{
	atomic_store(&log_format, format);
}

int
log_parse_format(const char *name)
{
	for (int i = 0; i <= LOG_JSON; i++)
		if (strcmp(name, format_names[i]) == 0)
			return i;
	return -1;
}

/* The time as 2026-11-26T10:00:00.123Z; returns its length. */
static size_t
timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t) snprintf(buf + n, len - n, ".%03ldZ",
	                       ts.tv_nsec / 1000000);
	return n < len ? n : len - 1;
}

/* A JSON string of `s`, its bytes outside ASCII replaced when it is not
 * valid UTF-8. NULL when out of memory. */
static json_t *
json_text(char *s)
{
	json_t *v = json_string(s);
	if (v != NULL)
		return v;
	for (char *p = s; *p != '\0'; p++)
		if ((unsigned char) *p >= 0x80)
			*p = '?';
	return json_string(s);
}

static void
emit_json(int level, const char *msg, bool job, uint64_t id, const char *kind)
{
	char line[LOG_LINE + 512], when[40], text[LOG_LINE], kbuf[256];
	json_t *o = json_object();
	size_t n;

	timestamp(when, sizeof(when));
	snprintf(text, sizeof(text), "%s", msg);
	if (o == NULL)
		return;
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "level", json_string(level_names[level]));
	json_object_set_new(o, "message", json_text(text));
	if (job) {
		json_object_set_new(o, "job", json_integer((json_int_t) id));
		if (kind != NULL) {
			snprintf(kbuf, sizeof(kbuf), "%s", kind);
			json_object_set_new(o, "kind", json_text(kbuf));
		}
	}
	n = json_dumpb(o, line, sizeof(line) - 1, JSON_COMPACT);
	json_decref(o);
	if (n == 0 || n > sizeof(line) - 1)
		return; /* out of memory, or past the bound (not reached) */
	line[n++] = '\n';
	(void) !write(STDERR_FILENO, line, n);
}

static void
emit_text(int level, const char *msg, bool job, uint64_t id, const char *kind)
{
	char line[LOG_LINE];
	size_t n = timestamp(line, sizeof(line));
	int k;

	if (job && kind != NULL)
		k = snprintf(line + n, sizeof(line) - n, " %s job %llu (%s)%s",
		             level_tags[level], (unsigned long long) id, kind,
		             msg);
	else if (job)
		k = snprintf(line + n, sizeof(line) - n, " %s job %llu%s",
		             level_tags[level], (unsigned long long) id, msg);
	else
		k = snprintf(line + n, sizeof(line) - n, " %s %s",
		             level_tags[level], msg);
	if (k < 0)
		k = 0;
	n += (size_t) k;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void) !write(STDERR_FILENO, line, n);
}

static void __attribute__((format(printf, 5, 0)))
emit(int level, bool job, uint64_t id, const char *kind, const char *fmt,
     va_list ap)
{
	char msg[LOG_LINE];

	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	if (atomic_load(&log_format) == LOG_JSON) {
		/* the text form's separator is not part of the message */
		const char *m = msg;
		if (job && m[0] == ':')
			m++;
		while (job && m[0] == ' ')
			m++;
		emit_json(level, m, job, id, kind);
	} else {
		emit_text(level, msg, job, id, kind);
	}
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	emit(level, false, 0, NULL, fmt, ap);
	va_end(ap);
}

void
log_job(int level, uint64_t id, const char *kind, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	emit(level, true, id, kind, fmt, ap);
	va_end(ap);
}

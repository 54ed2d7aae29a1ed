#ifndef JOBD_LOG_H
#define JOBD_LOG_H

/* log: one line per notable event on stderr, with a time and a level, as
 * text (the default) or as one JSON object per line (log shippers).
 * Thread-safe: each line is written with a single write(2). */

#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
enum log_format { LOG_TEXT = 0, LOG_JSON = 1 };

/* Sets the lowest level that is printed (default LOG_INFO). */
void log_set_level(int level);
/* The level named `name` ("error", "warn", "info", "debug"), or -1. */
int log_parse_level(const char *name);
int log_enabled(int level);
/* Sets the format of the lines (default LOG_TEXT). */
void log_set_format(int format);
/* The format named `name` ("text", "json"), or -1. */
int log_parse_format(const char *name);
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * A line about job `id` of kind `kind` (NULL: not known). As text, the
 * line reads "job ID (KIND)" followed by the formatted message, which
 * therefore starts with its own separator (" failed ...", ": ..."); as
 * JSON, "job" and "kind" are fields of their own and the message is the
 * formatted text without that separator.
 */
void log_job(int level, uint64_t id, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif

#ifndef JOBD_LOG_H
#define JOBD_LOG_H

/* log: one line per notable event on stderr, with a time and a level.
 * Thread-safe: each line is written with a single write(2). */

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Sets the lowest level that is printed (default LOG_INFO). */
void log_set_level(int level);
/* The level named `name` ("error", "warn", "info", "debug"), or -1. */
int log_parse_level(const char *name);
int log_enabled(int level);
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif

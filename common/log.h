/* log.h: leveled logging to stderr with the process name; journald-friendly under systemd. */
#ifndef MUSTER_LOG_H
#define MUSTER_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LEVEL_TRACE = 0,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

/* name: the process name every line is prefixed with ("raftd"). Under
 * systemd (JOURNAL_STREAM set and matching stderr) lines carry the <N>
 * syslog priority prefix instead of a timestamp, so journald files them
 * at the right level. */
void log_init(const char *name, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "trace", "debug", "info", "warn"/"warning", "err"/"error" -> 0, else -1. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

/* Tests capture lines here; NULL restores stderr. */
void log_set_sink(void (*sink)(enum log_level, const char *line, void *arg), void *arg);

/* A tap sees every line emitted (those that pass the level), without the
 * timestamp, after it went to stderr or the sink: daemons publish it as
 * LOG_LINE for /v1/agent/monitor (spec/http-api.md §3.9). A line the tap
 * itself logs goes to stderr (or the sink) only, never to the tap again.
 * NULL removes it; one tap per process. */
void log_set_tap(void (*tap)(enum log_level, const char *line, void *arg), void *arg);
/* Lines down to level go to the tap even when they are below the log
 * level (a monitor at debug on an agent at info); -1: the tap follows the
 * log level. */
void log_set_tap_level(int level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);
/* ..._errno variants append ": strerror(errno)". */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_trace(...)  log_msg(LOG_LEVEL_TRACE, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warnx(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_errorx(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif

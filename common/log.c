/* log.c: leveled logging to stderr with the process name; journald-friendly under systemd. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static char log_name[32] = "muster";
static enum log_level log_level_cur = LOG_LEVEL_INFO;
static bool log_journal;
static void (*log_sink)(enum log_level, const char *, void *);
static void *log_sink_arg;
static void (*log_tap)(enum log_level, const char *, void *);
static void *log_tap_arg;
static int log_tap_level = -1; /* -1: the tap follows log_level_cur */
static bool log_in_tap; /* the tap is running: its own lines skip it */

static const char *const log_names[] = {"trace", "debug", "info", "warn", "error"};
/* sd-daemon(3) priority prefixes: debug 7, info 6, warning 4, err 3. */
static const int log_prio[] = {7, 7, 6, 4, 3};

/* systemd sets JOURNAL_STREAM=dev:ino of the stream it gave us as stderr;
 * only when stderr still is that stream do we use <N> prefixes. */
static bool log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *name, enum log_level level)
{
	snprintf(log_name, sizeof(log_name), "%s", name ? name : "muster");
	log_level_cur = level;
	log_journal = log_stderr_is_journal();
}

void log_set_level(enum log_level level)
{
	log_level_cur = level;
}

enum log_level log_get_level(void)
{
	return log_level_cur;
}

int log_level_parse(const char *s, enum log_level *out)
{
	if (s == NULL)
		return -1;
	for (int i = 0; i <= LOG_LEVEL_ERROR; i++) {
		if (strcasecmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return 0;
	}
	if (strcasecmp(s, "err") == 0) {
		*out = LOG_LEVEL_ERROR;
		return 0;
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	if ((int)level < 0 || level > LOG_LEVEL_ERROR)
		return "unknown";
	return log_names[level];
}

void log_set_sink(void (*sink)(enum log_level, const char *, void *), void *arg)
{
	log_sink = sink;
	log_sink_arg = arg;
}

void log_set_tap(void (*tap)(enum log_level, const char *, void *), void *arg)
{
	log_tap = tap;
	log_tap_arg = arg;
}

void log_set_tap_level(int level)
{
	log_tap_level = level;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int saved = errno;
	int n;
	bool to_tap = log_tap != NULL && !log_in_tap &&
	              (int)level >= (log_tap_level >= 0 ? log_tap_level : (int)log_level_cur);

	if (level < log_level_cur && !to_tap)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		snprintf(line, sizeof(line), "(log format error)");
	if (level < log_level_cur) {
		/* Only a monitor asked for this one. */
	} else if (log_sink != NULL) {
		log_sink(level, line, log_sink_arg);
	} else if (log_journal) {
		fprintf(stderr, "<%d>%s: [%s] %s\n", log_prio[level], log_name, log_names[level],
		        line);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ [%-5s] %s[%d]: %s\n", stamp, ts.tv_nsec / 1000000,
		        log_names[level], log_name, (int)getpid(), line);
	}
	if (to_tap) {
		log_in_tap = true;
		log_tap(level, line, log_tap_arg);
		log_in_tap = false;
	}
	errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

static void log_errno(enum log_level level, const char *fmt, va_list ap)
{
	char buf[LOG_LINE_MAX];
	int e = errno;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_msg(level, "%s: %s", buf, strerror(e));
	errno = e;
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
}

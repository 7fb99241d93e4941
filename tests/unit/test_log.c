/* test_log.c: levels, parsing and the line format of the log module. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"

static char last[512];
static int lines;

static void sink(enum log_level level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	snprintf(last, sizeof(last), "%s", line);
	lines++;
}

START_TEST(log_level_filters)
{
	log_init("t", LOG_LEVEL_WARN);
	log_set_sink(sink, NULL);
	lines = 0;
	log_info("hidden %d", 1);
	ck_assert_int_eq(lines, 0);
	log_warnx("shown %d", 2);
	ck_assert_int_eq(lines, 1);
	ck_assert_str_eq(last, "shown 2");
	log_set_level(LOG_LEVEL_TRACE);
	log_trace("trace");
	ck_assert_int_eq(lines, 2);
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_TRACE);
	log_set_sink(NULL, NULL);
}
END_TEST

START_TEST(log_errno_variant_appends_strerror)
{
	log_init("t", LOG_LEVEL_INFO);
	log_set_sink(sink, NULL);
	errno = ENOENT;
	log_warn("open %s", "x");
	ck_assert_str_eq(last, "open x: No such file or directory");
	/* errno survives logging, so a caller can still look at it. */
	ck_assert_int_eq(errno, ENOENT);
	log_set_sink(NULL, NULL);
}
END_TEST

START_TEST(log_level_names_parse)
{
	enum log_level l;

	ck_assert_int_eq(log_level_parse("trace", &l), 0);
	ck_assert_int_eq(l, LOG_LEVEL_TRACE);
	ck_assert_int_eq(log_level_parse("DEBUG", &l), 0);
	ck_assert_int_eq(l, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_level_parse("warning", &l), 0);
	ck_assert_int_eq(l, LOG_LEVEL_WARN);
	ck_assert_int_eq(log_level_parse("err", &l), 0);
	ck_assert_int_eq(l, LOG_LEVEL_ERROR);
	ck_assert_int_eq(log_level_parse("loud", &l), -1);
	ck_assert_int_eq(log_level_parse(NULL, &l), -1);
	ck_assert_str_eq(log_level_name(LOG_LEVEL_INFO), "info");
	ck_assert_str_eq(log_level_name((enum log_level)99), "unknown");
}
END_TEST

START_TEST(log_long_line_is_cut_not_overflowed)
{
	char big[8192];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_init("t", LOG_LEVEL_INFO);
	log_set_sink(sink, NULL);
	log_info("%s", big);
	ck_assert_uint_eq(strlen(last), sizeof(last) - 1);
	log_set_sink(NULL, NULL);
}
END_TEST

/* Under systemd (JOURNAL_STREAM names our stderr) a line carries the
 * sd-daemon(3) priority prefix and no timestamp; elsewhere a timestamp. */
START_TEST(log_journal_prefix_only_on_the_journal_stream)
{
	char path[] = "/tmp/mtlog-XXXXXX", line[256], env[64];
	struct stat st;
	FILE *f;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	ck_assert_int_eq(fstat(fd, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("jt", LOG_LEVEL_INFO);
	log_warnx("to the journal");
	setenv("JOURNAL_STREAM", "1:2", 1); /* another stream: not ours */
	log_init("jt", LOG_LEVEL_INFO);
	log_info("plain");
	fflush(stderr);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_str_eq(line, "<4>jt: [warn] to the journal\n");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_ptr_nonnull(strstr(line, "[info ] jt["));
	ck_assert_ptr_nonnull(strstr(line, "]: plain\n"));
	ck_assert(line[0] >= '0' && line[0] <= '9'); /* the timestamp */
	fclose(f);
	unlink(path);
	unsetenv("JOURNAL_STREAM");
}
END_TEST

static char tapped[512];
static int taps, tap_level;

static void tap(enum log_level level, const char *line, void *arg)
{
	snprintf(tapped, sizeof(tapped), "%s", line);
	tap_level = (int)level;
	taps++;
	if (arg != NULL)
		log_warnx("tap saw: %s", line); /* a tap that logs (ipc_publish can) */
}

/* spec/http-api.md §3.9: the tap gets every line that is emitted, with its
 * level and without the timestamp, and the sink or stderr still gets it. */
START_TEST(log_tap_sees_every_emitted_line)
{
	log_init("t", LOG_LEVEL_INFO);
	log_set_sink(sink, NULL);
	log_set_tap(tap, NULL);
	taps = lines = 0;
	log_debug("below the level");
	ck_assert_int_eq(taps, 0);
	log_info("kept %d", 7);
	ck_assert_int_eq(taps, 1);
	ck_assert_str_eq(tapped, "kept 7");
	ck_assert_int_eq(tap_level, LOG_LEVEL_INFO);
	ck_assert_int_eq(lines, 1);
	errno = EACCES;
	log_error("open %s", "f");
	ck_assert_str_eq(tapped, "open f: Permission denied");
	ck_assert_int_eq(tap_level, LOG_LEVEL_ERROR);
	ck_assert_int_eq(errno, EACCES);
	log_set_tap(NULL, NULL);
	log_warnx("after removal");
	ck_assert_int_eq(taps, 2);
	ck_assert_int_eq(lines, 3);
	log_set_sink(NULL, NULL);
}
END_TEST

/* A tap that logs: its own line goes to the sink but not to the tap again
 * (no recursion), and the next ordinary line reaches the tap as before. */
START_TEST(log_tap_does_not_recurse)
{
	log_init("t", LOG_LEVEL_INFO);
	log_set_sink(sink, NULL);
	log_set_tap(tap, (void *)1);
	taps = lines = 0;
	log_info("one");
	ck_assert_int_eq(taps, 1);
	ck_assert_str_eq(tapped, "one");
	ck_assert_int_eq(lines, 2);
	ck_assert_str_eq(last, "tap saw: one");
	log_info("two");
	ck_assert_int_eq(taps, 2);
	ck_assert_str_eq(tapped, "two");
	ck_assert_int_eq(lines, 4);
	log_set_tap(NULL, NULL);
	log_set_sink(NULL, NULL);
}
END_TEST

/* A monitor below the log level (MONITOR_LEVEL): the tap gets the lower
 * lines, stderr (the sink) does not; above it, the tap gets less. */
START_TEST(log_tap_level_is_its_own)
{
	log_init("t", LOG_LEVEL_INFO);
	log_set_sink(sink, NULL);
	log_set_tap(tap, NULL);
	taps = lines = 0;
	log_set_tap_level(LOG_LEVEL_DEBUG);
	log_debug("for the monitor only");
	ck_assert_int_eq(taps, 1);
	ck_assert_str_eq(tapped, "for the monitor only");
	ck_assert_int_eq(lines, 0);
	log_trace("below both");
	ck_assert_int_eq(taps, 1);
	log_set_tap_level(LOG_LEVEL_ERROR);
	log_warnx("for stderr only");
	ck_assert_int_eq(taps, 1);
	ck_assert_int_eq(lines, 1);
	log_set_tap_level(-1);
	log_debug("neither");
	log_info("both");
	ck_assert_int_eq(taps, 2);
	ck_assert_int_eq(lines, 2);
	log_set_tap(NULL, NULL);
	log_set_sink(NULL, NULL);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, log_level_filters);
	tcase_add_test(tc, log_errno_variant_appends_strerror);
	tcase_add_test(tc, log_level_names_parse);
	tcase_add_test(tc, log_long_line_is_cut_not_overflowed);
	tcase_add_test(tc, log_journal_prefix_only_on_the_journal_stream);
	tcase_add_test(tc, log_tap_sees_every_emitted_line);
	tcase_add_test(tc, log_tap_does_not_recurse);
	tcase_add_test(tc, log_tap_level_is_its_own);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(log_suite());
}

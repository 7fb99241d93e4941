/* test_gsnap.c: Serf's member snapshot: replay as serf does it, a serf-written file, append and reopen, compaction, I/O errors. */
#include "daemons/gossipd/gsnap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "xalloc.h"

/* What a Consul 1.x client agent leaves in serf/local.snapshot, written by
 * hand from serf's snapshot.go: member events as they came (alive with
 * net.TCPAddr.String(), so IPv6 in brackets), the clock lines
 * updateClock and the event and query handlers append, an old
 * "coordinate:" line serf now ignores, and a node that failed. */
static const char serf_sample[] =
    "alive: server-1 10.0.0.1:8301\n"
    "alive: server-2 10.0.0.2:8301\n"
    "clock: 3\n"
    "alive: client-7 [fd00::7]:8301\n"
    "alive: server-3 10.0.0.3:8301\n"
    "clock: 5\n"
    "event-clock: 2\n"
    "coordinate: {\"Vec\":[0,0,0,0,0,0,0,0],\"Error\":1.5,\"Adjustment\":0,\"Height\":1e-05}\n"
    "not-alive: server-2\n"
    "clock: 7\n"
    "query-clock: 4\n"
    "alive: server-2 10.0.0.12:8301\n"
    "event-clock: 9\n"
    "clock: 11\n";

static struct gsnap_prev replay(const char *text, bool rejoin)
{
	struct gsnap_prev p;

	ck_assert_int_eq(gsnap_replay(text, strlen(text), rejoin, &p), 0);
	return p;
}

static void assert_node(const struct gsnap_prev *p, size_t i, const char *name, const char *addr)
{
	ck_assert_uint_lt(i, p->n_alive);
	ck_assert_str_eq(p->alive[i].name, name);
	ck_assert_str_eq(p->alive[i].addr, addr);
}

START_TEST(test_replay_serf_sample)
{
	struct gsnap_prev p = replay(serf_sample, false);

	ck_assert_uint_eq(p.n_alive, 4);
	/* In the order of each node's last alive line. */
	assert_node(&p, 0, "server-1", "10.0.0.1:8301");
	assert_node(&p, 1, "client-7", "[fd00::7]:8301");
	assert_node(&p, 2, "server-3", "10.0.0.3:8301");
	assert_node(&p, 3, "server-2", "10.0.0.12:8301");
	ck_assert_uint_eq(p.clock, 11);
	ck_assert_uint_eq(p.event_clock, 9);
	ck_assert_uint_eq(p.query_clock, 4);
	ck_assert(!p.left);
	ck_assert_uint_eq(p.bad_lines, 0);
	gsnap_prev_free(&p);
	gsnap_prev_free(&p); /* zeroed: harmless twice */
	gsnap_prev_free(NULL);
}
END_TEST

START_TEST(test_replay_leave)
{
	static const char text[] = "alive: a 1.1.1.1:1\n"
	                           "clock: 5\nevent-clock: 6\nquery-clock: 7\n"
	                           "leave\n";
	static const char text_after[] = "alive: a 1.1.1.1:1\nclock: 5\nleave\n"
	                                 "clock: 8\n"
	                                 "not-alive: b\n";
	static const char text_rejoined[] = "alive: a 1.1.1.1:1\nleave\n"
	                                    "alive: b 2.2.2.2:2\n";
	struct gsnap_prev p;

	/* A leave forgets members and clocks. */
	p = replay(text, false);
	ck_assert_uint_eq(p.n_alive, 0);
	ck_assert_uint_eq(p.clock, 0);
	ck_assert_uint_eq(p.event_clock, 0);
	ck_assert_uint_eq(p.query_clock, 0);
	ck_assert(p.left);
	gsnap_prev_free(&p);
	/* ... unless the agent rejoins after a leave. */
	p = replay(text, true);
	ck_assert_uint_eq(p.n_alive, 1);
	assert_node(&p, 0, "a", "1.1.1.1:1");
	ck_assert_uint_eq(p.clock, 5);
	ck_assert_uint_eq(p.event_clock, 6);
	ck_assert_uint_eq(p.query_clock, 7);
	ck_assert(!p.left);
	gsnap_prev_free(&p);
	/* The shutdown's clock line after a leave: still left. */
	p = replay(text_after, false);
	ck_assert_uint_eq(p.n_alive, 0);
	ck_assert_uint_eq(p.clock, 8);
	ck_assert(p.left);
	ck_assert_uint_eq(p.bad_lines, 0);
	gsnap_prev_free(&p);
	/* A later run joined again: not left. */
	p = replay(text_rejoined, false);
	ck_assert_uint_eq(p.n_alive, 1);
	assert_node(&p, 0, "b", "2.2.2.2:2");
	ck_assert(!p.left);
	gsnap_prev_free(&p);
}
END_TEST

START_TEST(test_replay_names_and_clocks)
{
	struct gsnap_prev p;

	/* The address is after the last space: names may hold spaces. */
	p = replay("alive: my node 1.2.3.4:5\nalive: x 1:2\nalive: x 3:4\n", false);
	ck_assert_uint_eq(p.n_alive, 2);
	assert_node(&p, 0, "my node", "1.2.3.4:5");
	assert_node(&p, 1, "x", "3:4");
	gsnap_prev_free(&p);
	/* not-alive of a name with spaces, and of one never seen. */
	p = replay("alive: my node 1.2.3.4:5\nnot-alive: my node\nnot-alive: ghost\n", false);
	ck_assert_uint_eq(p.n_alive, 0);
	ck_assert_uint_eq(p.bad_lines, 0);
	gsnap_prev_free(&p);
	/* Clocks: the last value, even when smaller; the largest uint64. */
	p = replay("clock: 9\nclock: 4\nquery-clock: 18446744073709551615\n", false);
	ck_assert_uint_eq(p.clock, 4);
	ck_assert_uint_eq(p.query_clock, UINT64_MAX);
	ck_assert_uint_eq(p.bad_lines, 0);
	gsnap_prev_free(&p);
}
END_TEST

START_TEST(test_replay_corrupt)
{
	static const char text[] = "# written by hand\n"
	                           "#\n"
	                           "alive: good 1.1.1.1:1\n"
	                           "alive: nospace\n"                    /* bad */
	                           "alive:  1.1.1.1:1\n"                 /* bad: empty name */
	                           "alive: trailing \n"                  /* bad: empty address */
	                           "clock: 12x\n"                        /* bad */
	                           "clock: -1\n"                         /* bad */
	                           "clock: \n"                           /* bad */
	                           "event-clock: 18446744073709551616\n" /* bad: overflow */
	                           "clock:5\n"                           /* bad */
	                           "leaves\n"                            /* bad */
	                           "\n"                                  /* bad */
	                           "garbage\n"                           /* bad */
	                           "Alive: x 1:1\n"                      /* bad */
	                           "clock: 5\n"
	                           "alive: torn 2.2.2.2:2"; /* bad: no newline */
	struct gsnap_prev p;

	p = replay(text, false);
	ck_assert_uint_eq(p.n_alive, 1);
	assert_node(&p, 0, "good", "1.1.1.1:1");
	ck_assert_uint_eq(p.clock, 5);
	ck_assert_uint_eq(p.event_clock, 0);
	ck_assert_uint_eq(p.bad_lines, 13);
	gsnap_prev_free(&p);

	/* A NUL in a line, a line over GSNAP_LINE_MAX. */
	{
		size_t n = GSNAP_LINE_MAX + 64;
		char *t = xmalloc(n + 64);
		size_t len;

		memcpy(t, "alive: a\0b 1:1\n", 15);
		len = 15;
		memcpy(t + len, "alive: ", 7);
		memset(t + len + 7, 'n', n - 7);
		len += n;
		memcpy(t + len, " 1:1\nalive: ok 2:2\n", 19);
		len += 19;
		ck_assert_int_eq(gsnap_replay(t, len, false, &p), 0);
		ck_assert_uint_eq(p.n_alive, 1);
		assert_node(&p, 0, "ok", "2:2");
		ck_assert_uint_eq(p.bad_lines, 2);
		gsnap_prev_free(&p);
		free(t);
	}
	/* Empty input. */
	ck_assert_int_eq(gsnap_replay("", 0, false, &p), 0);
	ck_assert_uint_eq(p.n_alive, 0);
	ck_assert_ptr_null(p.alive);
	gsnap_prev_free(&p);
}
END_TEST

START_TEST(test_replay_nodes_max)
{
	size_t n = GSNAP_NODES_MAX + 10, len = 0;
	char *t = xmalloc(n * 32);
	struct gsnap_prev p;

	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(t + len, "alive: n%zu 1:1\n", i);
	/* A known name still updates when the set is full. */
	len += (size_t)sprintf(t + len, "alive: n0 9:9\n");
	ck_assert_int_eq(gsnap_replay(t, len, false, &p), 0);
	ck_assert_uint_eq(p.n_alive, GSNAP_NODES_MAX);
	ck_assert_uint_eq(p.bad_lines, 10);
	assert_node(&p, GSNAP_NODES_MAX - 1, "n0", "9:9");
	gsnap_prev_free(&p);
	free(t);
}
END_TEST

static char tmp_dir[64];

static void make_tmp(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/test_gsnap.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void rm_tmp(void)
{
	char cmd[128];

	ck_assert_int_eq(chmod(tmp_dir, 0700), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	p = xmalloc((size_t)n + 1);
	ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	return p;
}

START_TEST(test_open_append_reopen)
{
	char err[256], *path, *text;
	struct gsnap_prev prev;
	struct gsnap *s;
	struct stat st;

	make_tmp();
	/* Directories are made (0700) and the file created (0600). */
	path = xasprintf("%s/data/serf/local.snapshot", tmp_dir);
	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), 0);
	ck_assert_uint_eq(prev.n_alive, 0);
	ck_assert_uint_eq(gsnap_num_alive(s), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	text = xasprintf("%s/data/serf", tmp_dir);
	ck_assert_int_eq(stat(text, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	free(text);

	ck_assert_int_eq(gsnap_alive(s, "a", "10.0.0.1:8301"), 0);
	ck_assert_int_eq(gsnap_alive(s, "b", "[::1]:8301"), 0);
	ck_assert_int_eq(gsnap_alive(s, "c", "10.0.0.3:8301"), 0);
	ck_assert_int_eq(gsnap_not_alive(s, "b"), 0);
	ck_assert_int_eq(gsnap_clocks(s, 4, 0, 0), 0);
	ck_assert_int_eq(gsnap_clocks(s, 4, 2, 0), 0); /* only event-clock changed */
	ck_assert_int_eq(gsnap_clocks(s, 4, 2, 0), 0); /* nothing */
	ck_assert_uint_eq(gsnap_num_alive(s), 2);
	/* Refused: a newline in a name, a space in an address. */
	ck_assert_int_eq(gsnap_alive(s, "x\ny", "1:1"), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(gsnap_alive(s, "x", "1 1"), -1);
	ck_assert_int_eq(gsnap_not_alive(s, "x\n"), -1);
	gsnap_close(s);
	gsnap_close(NULL);

	/* Exactly serf's lines. */
	text = read_all(path);
	ck_assert_str_eq(text, "alive: a 10.0.0.1:8301\n"
	                       "alive: b [::1]:8301\n"
	                       "alive: c 10.0.0.3:8301\n"
	                       "not-alive: b\n"
	                       "clock: 4\n"
	                       "event-clock: 2\n");
	free(text);

	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), 0);
	ck_assert_uint_eq(prev.n_alive, 2);
	assert_node(&prev, 0, "a", "10.0.0.1:8301");
	assert_node(&prev, 1, "c", "10.0.0.3:8301");
	ck_assert_uint_eq(prev.clock, 4);
	ck_assert_uint_eq(prev.event_clock, 2);
	ck_assert_uint_eq(gsnap_num_alive(s), 2);
	gsnap_prev_free(&prev);
	/* The replayed clocks are the baseline: unchanged ones are not
	 * written again. */
	ck_assert_int_eq(gsnap_clocks(s, 4, 2, 1), 0);
	ck_assert_int_eq(gsnap_leave(s), 0);
	ck_assert_uint_eq(gsnap_num_alive(s), 0);
	ck_assert_int_eq(gsnap_alive(s, "late", "1:1"), 0); /* ignored once leaving */
	gsnap_close(s);
	text = read_all(path);
	ck_assert_ptr_nonnull(strstr(text, "event-clock: 2\nquery-clock: 1\nleave\n"));
	ck_assert_ptr_null(strstr(text, "late"));
	free(text);

	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), 0);
	ck_assert(prev.left);
	ck_assert_uint_eq(prev.n_alive, 0);
	gsnap_prev_free(&prev);
	gsnap_close(s);
	/* Told to rejoin after a leave, the members come back. */
	ck_assert_int_eq(gsnap_open(path, true, &s, &prev, err, sizeof(err)), 0);
	ck_assert(!prev.left);
	ck_assert_uint_eq(prev.n_alive, 2);
	ck_assert_uint_eq(prev.query_clock, 1);
	gsnap_prev_free(&prev);
	gsnap_close(s);
	free(path);
	rm_tmp();
}
END_TEST

START_TEST(test_torn_tail)
{
	char err[256], *path, *text;
	struct gsnap_prev prev;
	struct gsnap *s;
	FILE *f;

	make_tmp();
	path = xasprintf("%s/local.snapshot", tmp_dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("alive: a 1:1\nalive: b", f);
	fclose(f);
	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), 0);
	ck_assert_uint_eq(prev.n_alive, 1);
	ck_assert_uint_eq(prev.bad_lines, 1);
	gsnap_prev_free(&prev);
	ck_assert_int_eq(gsnap_alive(s, "c", "3:3"), 0);
	gsnap_close(s);
	/* The fragment stays one bad line; the new line is whole. */
	text = read_all(path);
	ck_assert_str_eq(text, "alive: a 1:1\nalive: b\nalive: c 3:3\n");
	free(text);
	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), 0);
	ck_assert_uint_eq(prev.n_alive, 2);
	assert_node(&prev, 1, "c", "3:3");
	ck_assert_uint_eq(prev.bad_lines, 1);
	gsnap_prev_free(&prev);
	gsnap_close(s);
	free(path);
	rm_tmp();
}
END_TEST

START_TEST(test_compaction)
{
	char err[256], *path, *text;
	struct gsnap_prev prev;
	struct gsnap *s;
	uint64_t peak = 0;
	char name[32];

	make_tmp();
	path = xasprintf("%s/serf/local.snapshot", tmp_dir);
	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), 0);
	gsnap_prev_free(&prev);
	gsnap_set_compact_min(s, 4096);
	/* 10 members flapping: the file grows, compaction shrinks it to
	 * the 10 members and the clocks. */
	for (unsigned i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "node-%u", i % 10);
		if (i % 3 == 2)
			ck_assert_int_eq(gsnap_not_alive(s, name), 0);
		else
			ck_assert_int_eq(gsnap_alive(s, name, "10.1.2.3:8301"), 0);
		ck_assert_int_eq(gsnap_clocks(s, i, i / 2, i / 4), 0);
		ck_assert_uint_le(gsnap_size(s), 4096 + 128);
		if (gsnap_size(s) > peak)
			peak = gsnap_size(s);
	}
	ck_assert_uint_gt(peak, 4000);
	ck_assert_int_eq(gsnap_compact(s), 0);
	ck_assert_uint_lt(gsnap_size(s), 1024);
	/* The file on disk is the member set and the clocks. */
	text = read_all(path);
	ck_assert_int_eq(gsnap_replay(text, strlen(text), false, &prev), 0);
	free(text);
	ck_assert_uint_eq(prev.n_alive, gsnap_num_alive(s));
	ck_assert_uint_eq(prev.clock, 1999);
	ck_assert_uint_eq(prev.event_clock, 999);
	ck_assert_uint_eq(prev.query_clock, 499);
	ck_assert_uint_eq(prev.bad_lines, 0);
	gsnap_prev_free(&prev);
	/* Appends go on after a compaction (the file was reopened). */
	ck_assert_int_eq(gsnap_alive(s, "new", "1:1"), 0);
	gsnap_close(s);
	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), 0);
	ck_assert_uint_eq(prev.n_alive, gsnap_num_alive(s));
	assert_node(&prev, prev.n_alive - 1, "new", "1:1");
	ck_assert_uint_eq(prev.clock, 1999);
	gsnap_prev_free(&prev);
	/* A leave survives a compaction. */
	ck_assert_int_eq(gsnap_leave(s), 0);
	ck_assert_int_eq(gsnap_compact(s), 0);
	gsnap_close(s);
	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), 0);
	ck_assert(prev.left);
	ck_assert_uint_eq(prev.n_alive, 0);
	ck_assert_uint_eq(prev.clock, 1999);
	gsnap_prev_free(&prev);
	gsnap_close(s);
	free(path);
	rm_tmp();
}
END_TEST

START_TEST(test_compaction_default_limit)
{
	char err[256], *path;
	struct gsnap_prev prev;
	struct gsnap *s;

	make_tmp();
	path = xasprintf("%s/local.snapshot", tmp_dir);
	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), 0);
	/* One member re-announced until the file passes 128 KiB. */
	for (unsigned i = 0; i < 10000; i++)
		ck_assert_int_eq(gsnap_alive(s, "a", "10.0.0.1:8301"), 0);
	ck_assert_uint_le(gsnap_size(s), GSNAP_COMPACT_MIN);
	ck_assert_uint_eq(gsnap_num_alive(s), 1);
	gsnap_close(s);
	free(path);
	rm_tmp();
}
END_TEST

START_TEST(test_unwritable)
{
	char err[256], *path, *file;
	struct gsnap_prev prev;
	struct gsnap *s = (struct gsnap *)1;
	FILE *f;

	make_tmp();
	/* A file where a directory should be (fails for root too). */
	file = xasprintf("%s/data", tmp_dir);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	path = xasprintf("%s/data/serf/local.snapshot", tmp_dir);
	err[0] = '\0';
	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), -1);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, "mkdir ") == err && strstr(err, "Not a directory") != NULL, "%s",
	              err);
	free(path);
	free(file);
	/* A directory where the file should be. */
	path = xasprintf("%s/dir.snapshot", tmp_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	err[0] = '\0';
	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "open ") == err && strstr(err, "dir.snapshot") != NULL, "%s",
	              err);
	free(path);
	/* A read-only directory (root writes anyway). */
	if (geteuid() != 0) {
		ck_assert_int_eq(chmod(tmp_dir, 0500), 0);
		path = xasprintf("%s/serf/local.snapshot", tmp_dir);
		ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "Permission denied") != NULL, "%s", err);
		free(path);
		path = xasprintf("%s/local.snapshot", tmp_dir);
		ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), -1);
		ck_assert_msg(strncmp(err, "open ", 5) == 0, "%s", err);
		free(path);
	}
	rm_tmp();
}
END_TEST

START_TEST(test_compaction_fails_then_recovers)
{
	char err[256], *path, *tmp, *text;
	struct gsnap_prev prev;
	struct gsnap *s;

	make_tmp();
	path = xasprintf("%s/local.snapshot", tmp_dir);
	tmp = xasprintf("%s.tmp", path);
	ck_assert_int_eq(gsnap_open(path, false, &s, &prev, err, sizeof(err)), 0);
	ck_assert_int_eq(gsnap_alive(s, "a", "1:1"), 0);
	/* The compaction's new file cannot be made (a directory holds its
	 * name): compaction fails, the open file stays, appends still go. */
	ck_assert_int_eq(mkdir(tmp, 0700), 0);
	ck_assert_int_eq(gsnap_compact(s), -1);
	ck_assert_int_eq(gsnap_alive(s, "b", "2:2"), 0);
	ck_assert_int_eq(rmdir(tmp), 0);
	ck_assert_int_eq(gsnap_compact(s), 0);
	ck_assert_int_eq(gsnap_alive(s, "c", "3:3"), 0);
	gsnap_close(s);
	text = read_all(path);
	ck_assert_str_eq(text,
	                 "alive: a 1:1\nalive: b 2:2\nclock: 0\nevent-clock: 0\nquery-clock: 0\n"
	                 "alive: c 3:3\n");
	free(text);
	free(tmp);
	free(path);
	rm_tmp();
}
END_TEST

static Suite *gsnap_suite(void)
{
	Suite *s = suite_create("gsnap");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, test_replay_serf_sample);
	tcase_add_test(tc, test_replay_leave);
	tcase_add_test(tc, test_replay_names_and_clocks);
	tcase_add_test(tc, test_replay_corrupt);
	tcase_add_test(tc, test_replay_nodes_max);
	suite_add_tcase(s, tc);
	tc = tcase_create("file");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_open_append_reopen);
	tcase_add_test(tc, test_torn_tail);
	tcase_add_test(tc, test_compaction);
	tcase_add_test(tc, test_compaction_default_limit);
	tcase_add_test(tc, test_unwritable);
	tcase_add_test(tc, test_compaction_fails_then_recovers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(gsnap_suite());
}

/* test_conf.c: config goldens (good, bad, flags), durations, merging, limits, round trips. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "testutil.h"

/* Run from the repository root (scripts/test.sh does). With
 * CONF_GOLDEN_UPDATE=1 the golden outputs are rewritten instead of
 * compared: review the diff before committing it. */
#define GOOD_DIR "tests/conf/good"
#define BAD_DIR  "tests/conf/bad"
#define ARGS_DIR "tests/conf/args"
#define ARGS_MAX 128
#define JSON_MAX (16u << 20)

struct golden_set {
	char **paths;
	size_t n;
};

static struct golden_set good_set, bad_set, args_set;

/* ---- helpers ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t n = 0, size = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		size_t r;

		if (n + 4096 + 1 > size) {
			size = size ? size * 2 : 8192;
			p = realloc(p, size);
			ck_assert_ptr_nonnull(p);
		}
		r = fread(p + n, 1, size - n - 1, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	p[n] = '\0';
	return p;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

static char *lines(char *const *v, size_t n)
{
	struct buf b;
	char *s;

	buf_init(&b, JSON_MAX);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s\n", v[i]);
	s = strdup(buf_cstr(&b) ? buf_cstr(&b) : "");
	buf_fini(&b);
	return s;
}

/* The golden file for an input: "x.yaml" / "x.d" / "x.args" -> "x<ext>". */
static char *golden_name(const char *input, const char *ext)
{
	const char *dot = strrchr(input, '.');
	size_t base = dot && dot > strrchr(input, '/') ? (size_t)(dot - input) : strlen(input);
	char *s = malloc(base + strlen(ext) + 1);

	memcpy(s, input, base);
	strcpy(s + base, ext);
	return s;
}

/* got must equal the golden file (absent = empty). */
static void expect_golden(const char *input, const char *ext, const char *got)
{
	char *path = golden_name(input, ext), *want;

	if (getenv("CONF_GOLDEN_UPDATE") != NULL) {
		if (*got != '\0')
			spit(path, got);
		else
			unlink(path);
		free(path);
		return;
	}
	want = slurp(path);
	ck_assert_msg(strcmp(want ? want : "", got) == 0, "%s differs from what %s gives:\n%s",
	              path, input, got);
	free(want);
	free(path);
}

static char *to_json(const struct conf *c)
{
	struct buf b;
	char *s;

	buf_init(&b, JSON_MAX);
	ck_assert_int_eq(conf_write_json(c, &b), 0);
	s = strdup(buf_cstr(&b));
	buf_fini(&b);
	return s;
}

/* write -> load -> validate -> write gives the same text and struct. */
static void check_round_trip(const struct conf *c, const char *json)
{
	struct conf c2;
	struct conf_diag d;
	char *again;
	const char *diff[4] = {"", "", "", ""};

	memset(&d, 0, sizeof(d));
	conf_init(&c2);
	ck_assert_int_eq(conf_load_mem(&c2, "config.json", json, strlen(json), &d), 0);
	ck_assert_int_eq(conf_validate(&c2, false, &d), 0);
	ck_assert_uint_eq(d.n_errors, 0);
	again = to_json(&c2);
	ck_assert_str_eq(again, json);
	ck_assert_msg(conf_diff(c, &c2, diff, 4) == 0, "round trip changed %s %s", diff[0],
	              diff[1]);
	ck_assert(conf_equal(c, &c2));
	free(again);
	conf_diag_fini(&d);
	conf_fini(&c2);
}

static bool has_input_ext(const char *name, bool args)
{
	size_t n = strlen(name);

	if (args)
		return n > 5 && strcmp(name + n - 5, ".args") == 0;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
	       (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
	       (n > 2 && strcmp(name + n - 2, ".d") == 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan(struct golden_set *set, const char *dir, bool args)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL) {
		fprintf(stderr, "test_conf: cannot open %s (run from the repository root)\n", dir);
		exit(1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !has_input_ext(de->d_name, args))
			continue;
		set->paths = realloc(set->paths, (set->n + 1) * sizeof(char *));
		if (asprintf(&set->paths[set->n], "%s/%s", dir, de->d_name) < 0)
			exit(1);
		set->n++;
	}
	closedir(d);
	qsort(set->paths, set->n, sizeof(char *), cmp_str);
}

/* conf_resolve on argv built from a list ("muster" first). */
static int resolve(struct conf *c, struct conf_diag *d, const char *const *args)
{
	char *argv[ARGS_MAX];
	int argc = 0;

	argv[argc++] = (char *)"muster";
	for (; *args != NULL; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	memset(d, 0, sizeof(*d));
	conf_init(c);
	return conf_resolve(c, argc, argv, d);
}

static char *first_error(const struct conf_diag *d)
{
	return d->n_errors > 0 ? d->errors[0] : (char *)"";
}

/* ---- golden files ---- */

START_TEST(test_golden_good)
{
	const char *path = good_set.paths[_i];
	struct conf c;
	struct conf_diag d;
	char *json, *warns;

	memset(&d, 0, sizeof(d));
	conf_init(&c);
	ck_assert_msg(conf_load_path(&c, path, &d) == 0, "%s: %s", path, first_error(&d));
	ck_assert_msg(conf_validate(&c, false, &d) == 0, "%s: %s", path, first_error(&d));
	ck_assert_uint_eq(d.n_errors, 0);
	json = to_json(&c);
	warns = lines(d.warnings, d.n_warnings);
	expect_golden(path, ".out", json);
	expect_golden(path, ".warn", warns);
	check_round_trip(&c, json);
	free(json);
	free(warns);
	conf_diag_fini(&d);
	conf_fini(&c);
}
END_TEST

START_TEST(test_golden_bad)
{
	const char *path = bad_set.paths[_i];
	struct conf c;
	struct conf_diag d;
	char *errs;
	int rc;

	memset(&d, 0, sizeof(d));
	conf_init(&c);
	rc = conf_load_path(&c, path, &d);
	if (rc == 0)
		rc = conf_validate(&c, false, &d);
	ck_assert_msg(rc == -1, "%s loaded without errors", path);
	ck_assert_uint_gt(d.n_errors, 0);
	errs = lines(d.errors, d.n_errors);
	expect_golden(path, ".err", errs);
	free(errs);
	conf_diag_fini(&d);
	conf_fini(&c);
}
END_TEST

START_TEST(test_golden_args)
{
	const char *path = args_set.paths[_i];
	char *text = slurp(path), *save = NULL, *line;
	const char *args[ARGS_MAX];
	struct conf c;
	struct conf_diag d;
	size_t n = 0;
	int rc;

	ck_assert_ptr_nonnull(text);
	/* One argument per line; '#' starts a comment line. */
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		ck_assert_uint_lt(n, ARGS_MAX - 2);
		args[n++] = line;
	}
	args[n] = NULL;
	rc = resolve(&c, &d, args);
	if (rc == 0) {
		char *json = to_json(&c), *warns = lines(d.warnings, d.n_warnings);

		ck_assert_uint_eq(d.n_errors, 0);
		expect_golden(path, ".out", json);
		expect_golden(path, ".warn", warns);
		expect_golden(path, ".err", "");
		check_round_trip(&c, json);
		free(json);
		free(warns);
	} else {
		char *errs = lines(d.errors, d.n_errors);

		ck_assert_uint_gt(d.n_errors, 0);
		expect_golden(path, ".err", errs);
		expect_golden(path, ".out", "");
		free(errs);
	}
	conf_diag_fini(&d);
	conf_fini(&c);
	free(text);
}
END_TEST

/* ---- durations ---- */

static const struct {
	const char *in;
	uint64_t ms;
} dur_good[] = {
    {"0", 0},
    {"0s", 0},
    {"-0s", 0},
    {"15.0s", 15000},
    {"0.001s", 1},
    {"1h30m", 5400000},
    {"300ms", 300},
    {"1us", 1}, /* rounded up: a positive duration never becomes 0 */
    {"1\xc2\xb5s", 1},
    {"1\xce\xbcs", 1},
    {"100ns", 1},
    {"1000000ns", 1},
    {"1000001ns", 2},
    {"2h45m10.5s", 9910500},
    {".5s", 500},
    {"5.s", 5000},
    {"+2m", 120000},
    {"1.5h", 5400000},
    {"72h", 259200000},
    {"87600h", 315360000000ull},
    {"1h1m1s1ms", 3661001},
    {"2562047h47m16.854775807s", 9223372036855ull},
};

static const char *const dur_bad[] = {
    "",
    "30",
    "1x",
    "-5s",
    "1h-5m",
    ".s",
    "s",
    "1.2.3s",
    "9999999999h",
    "1e3s",
    " 5s",
    "5s ",
    "2562047h47m16.854775808s",
    "-",
    "+",
    "1..5s",
    "5S",
};

START_TEST(test_dur_parse)
{
	for (size_t i = 0; i < sizeof(dur_good) / sizeof(dur_good[0]); i++) {
		uint64_t ms = 12345;
		const char *why = NULL;

		ck_assert_msg(conf_dur_parse(dur_good[i].in, &ms, &why) == 0, "%s: %s",
		              dur_good[i].in, why);
		ck_assert_msg(ms == dur_good[i].ms, "%s: %llu", dur_good[i].in,
		              (unsigned long long)ms);
	}
	for (size_t i = 0; i < sizeof(dur_bad) / sizeof(dur_bad[0]); i++) {
		uint64_t ms = 0;
		const char *why = NULL;

		ck_assert_msg(conf_dur_parse(dur_bad[i], &ms, &why) == -1, "%s parsed", dur_bad[i]);
		ck_assert_ptr_nonnull(why);
	}
}
END_TEST

START_TEST(test_dur_format)
{
	static const struct {
		uint64_t ms;
		const char *out;
	} cases[] = {
	    {0, "0s"},
	    {1, "1ms"},
	    {999, "999ms"},
	    {1000, "1s"},
	    {1500, "1.5s"},
	    {1010, "1.01s"},
	    {1001, "1.001s"},
	    {60000, "1m0s"},
	    {61001, "1m1.001s"},
	    {3600000, "1h0m0s"},
	    {3600001, "1h0m0.001s"},
	    {259200000, "72h0m0s"},
	    {315360000000ull, "87600h0m0s"},
	};
	char s[CONF_DUR_STR_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		conf_dur_format(cases[i].ms, s);
		ck_assert_str_eq(s, cases[i].out);
	}
}
END_TEST

START_TEST(test_dur_round_trip)
{
	uint64_t x = 88172645463325252ull, ms, back;
	char s[CONF_DUR_STR_MAX];

	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ms = x % (i % 2 ? 1000000ull : 9223372036854ull);
		conf_dur_format(ms, s);
		ck_assert_msg(conf_dur_parse(s, &back, NULL) == 0, "%s", s);
		ck_assert_msg(back == ms, "%llu -> %s -> %llu", (unsigned long long)ms, s,
		              (unsigned long long)back);
	}
}
END_TEST

/* ---- flags ---- */

START_TEST(test_flag_forms)
{
	const char *args[] = {"-server",
	                      "-bootstrap-expect",
	                      "3",
	                      "--node=n",
	                      "-bind",
	                      "127.0.0.1",
	                      "-data-dir=/tmp/x",
	                      "-ui",
	                      "-log-json=false",
	                      "-retry-join=a",
	                      "-retry-join",
	                      "b",
	                      "--retry-join=c",
	                      NULL};
	struct conf c;
	struct conf_diag d;

	ck_assert_int_eq(resolve(&c, &d, args), 0);
	ck_assert(c.server);
	ck_assert_int_eq(c.bootstrap_expect, 3);
	ck_assert_str_eq(c.node_name, "n");
	ck_assert_str_eq(c.bind_addr, "127.0.0.1");
	ck_assert_str_eq(c.advertise_addr, "127.0.0.1");
	ck_assert_str_eq(c.data_dir, "/tmp/x");
	ck_assert(c.ui_config.enabled);
	ck_assert(!c.log_json);
	ck_assert_uint_eq(c.retry_join.n, 3);
	ck_assert_str_eq(c.retry_join.v[0], "a");
	ck_assert_str_eq(c.retry_join.v[2], "c");
	/* derived from server = true */
	ck_assert(!c.leave_on_terminate);
	ck_assert(c.skip_leave_on_interrupt);
	conf_diag_fini(&d);
	conf_fini(&c);
}
END_TEST

START_TEST(test_flag_bool_takes_no_separate_value)
{
	const char *args[] = {"-server", "false", "-node=n", "-bind=127.0.0.1", NULL};
	struct conf c;
	struct conf_diag d;

	ck_assert_int_eq(resolve(&c, &d, args), -1);
	ck_assert_uint_eq(d.n_errors, 1);
	ck_assert_str_eq(d.errors[0], "config: unexpected argument \"false\" (agent flags only)");
	conf_diag_fini(&d);
	conf_fini(&c);
}
END_TEST

START_TEST(test_flag_errors)
{
	const char *unknown[] = {"-foo", NULL};
	const char *value[] = {"-bootstrap-expect", "x", "-server", "-data-dir=/tmp", "-node=n",
	                       "-bind=127.0.0.1",   NULL};
	const char *needs[] = {"-node", NULL};
	struct conf c;
	struct conf_diag d;

	ck_assert_int_eq(resolve(&c, &d, unknown), -1);
	ck_assert_str_eq(d.errors[0], "config: unknown flag -foo");
	conf_diag_fini(&d);
	conf_fini(&c);
	ck_assert_int_eq(resolve(&c, &d, value), -1);
	ck_assert_uint_eq(d.n_errors, 1);
	ck_assert_str_eq(d.errors[0], "config: flag -bootstrap-expect: invalid value \"x\": "
	                              "expected an integer");
	conf_diag_fini(&d);
	conf_fini(&c);
	ck_assert_int_eq(resolve(&c, &d, needs), -1);
	ck_assert_str_eq(d.errors[0], "config: flag -node needs a value");
	conf_diag_fini(&d);
	conf_fini(&c);
}
END_TEST

static char tmp_dir[64];

static void tmp_setup(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/test_conf.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void tmp_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_conf: cannot remove %s\n", tmp_dir);
}

static char *tmp_file(const char *name, const char *text)
{
	char *path;

	ck_assert_int_ge(asprintf(&path, "%s/%s", tmp_dir, name), 0);
	spit(path, text);
	return path;
}

START_TEST(test_flags_override_files)
{
	char *file = tmp_file("f.yaml", "node_name: from-file\n"
	                                "log_level: debug\n"
	                                "data_dir: /tmp/f\n"
	                                "bind_addr: 10.0.0.1\n"
	                                "retry_join: [file-1, file-2]\n"
	                                "node_meta: {a: file, b: file}\n");
	const char *args[] = {"-retry-join=flag", "-config-file",      file, "-node",
	                      "from-flag",        "-node-meta=b:flag", NULL};
	struct conf c;
	struct conf_diag d;

	ck_assert_int_eq(resolve(&c, &d, args), 0);
	ck_assert_str_eq(c.node_name, "from-flag");
	ck_assert_str_eq(c.log_level, "debug");
	/* Consul puts list flags before the files' lists. */
	ck_assert_uint_eq(c.retry_join.n, 3);
	ck_assert_str_eq(c.retry_join.v[0], "flag");
	ck_assert_str_eq(c.retry_join.v[1], "file-1");
	ck_assert_uint_eq(c.node_meta.n, 2);
	ck_assert_str_eq(c.node_meta.v[0].value, "file");
	ck_assert_str_eq(c.node_meta.v[1].value, "flag");
	conf_diag_fini(&d);
	conf_fini(&c);
	free(file);
}
END_TEST

START_TEST(test_config_dir_order)
{
	char *dir, *a, *b, *z, *t, *sub;
	struct conf c;
	struct conf_diag d;
	const char *args[] = {"-config-dir", NULL, "-node=n", "-bind=127.0.0.1", NULL};

	/* Written out of order on purpose: strcmp order decides. */
	ck_assert_int_ge(asprintf(&dir, "%s/conf.d", tmp_dir), 0);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	z = tmp_file("conf.d/30-z.yml", "datacenter: zz\nretry_join: [z]\n");
	a = tmp_file("conf.d/10-a.json", "{\"datacenter\": \"aa\", \"data_dir\": \"/tmp/d\", "
	                                 "\"retry_join\": [\"a\"]}");
	b = tmp_file("conf.d/20-b.yaml", "datacenter: bb\nretry_join: [b]\n");
	t = tmp_file("conf.d/40-notes.txt", "not: read\n");
	ck_assert_int_ge(asprintf(&sub, "%s/conf.d/50-sub.yaml", tmp_dir), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	args[1] = dir;
	ck_assert_int_eq(resolve(&c, &d, args), 0);
	ck_assert_str_eq(c.datacenter, "zz");
	ck_assert_uint_eq(c.retry_join.n, 3);
	ck_assert_str_eq(c.retry_join.v[0], "a");
	ck_assert_str_eq(c.retry_join.v[1], "b");
	ck_assert_str_eq(c.retry_join.v[2], "z");
	ck_assert_uint_eq(d.n_warnings, 1);
	ck_assert(strstr(d.warnings[0], "40-notes.txt") != NULL);
	conf_diag_fini(&d);
	conf_fini(&c);
	free(dir);
	free(a);
	free(b);
	free(z);
	free(t);
	free(sub);
}
END_TEST

START_TEST(test_dev_layer_under_files)
{
	char *file = tmp_file("d.yaml", "log_level: info\ngossip_lan: {probe_interval: 2s}\n");
	const char *args[] = {"-dev", "-config-file", file, "-node=n", NULL};
	struct conf c;
	struct conf_diag d;

	ck_assert_int_eq(resolve(&c, &d, args), 0);
	ck_assert(c.dev_mode);
	ck_assert(c.server);
	ck_assert_str_eq(c.bind_addr, "127.0.0.1");
	ck_assert_str_eq(c.log_level, "info");
	ck_assert_uint_eq(c.gossip_lan.probe_interval_ms, 2000);
	ck_assert_uint_eq(c.gossip_lan.probe_timeout_ms, 100);
	ck_assert_int_eq(c.performance.raft_multiplier, 1);
	ck_assert_uint_eq(conf_raft_ms(&c, c.test_timings.raft.election_timeout_ms), 52);
	ck_assert_int_eq(c.ports.grpc, 8502);
	ck_assert(c.data_dir == NULL);
	conf_diag_fini(&d);
	conf_fini(&c);
	free(file);
}
END_TEST

START_TEST(test_dev_mode_from_json_is_data)
{
	static const char text[] = "{\"dev_mode\": true}";
	struct conf c;
	struct conf_diag d;

	memset(&d, 0, sizeof(d));
	conf_init(&c);
	ck_assert_int_eq(conf_load_mem(&c, "config.json", text, sizeof(text) - 1, &d), 0);
	ck_assert_int_eq(conf_validate(&c, true, &d), 0); /* no data_dir needed */
	ck_assert(c.dev_mode);
	ck_assert(!c.server);
	ck_assert_str_eq(c.log_level, "info");
	ck_assert_int_eq(c.performance.raft_multiplier, 5);
	conf_diag_fini(&d);
	conf_fini(&c);
}
END_TEST

START_TEST(test_derived_defaults)
{
	static const char client[] = "data_dir: /x\n";
	static const char server_set[] = "data_dir: /x\nserver: true\nleave_on_terminate: true\n"
	                                 "enable_script_checks: true\n"
	                                 "enable_local_script_checks: false\n";
	struct conf c;
	struct conf_diag d;

	memset(&d, 0, sizeof(d));
	conf_init(&c);
	ck_assert_int_eq(conf_load_mem(&c, "c", client, sizeof(client) - 1, &d), 0);
	ck_assert_int_eq(conf_validate(&c, true, &d), 0);
	ck_assert(c.leave_on_terminate);
	ck_assert(!c.skip_leave_on_interrupt);
	ck_assert_str_eq(c.primary_datacenter, "dc1");
	ck_assert_str_eq(c.serf_lan, "0.0.0.0");
	ck_assert(c.advertise_addr == NULL); /* bind 0.0.0.0: resolved from the host */
	conf_fini(&c);
	conf_init(&c);
	ck_assert_int_eq(conf_load_mem(&c, "s", server_set, sizeof(server_set) - 1, &d), 0);
	ck_assert_int_eq(conf_validate(&c, true, &d), 0);
	ck_assert(c.leave_on_terminate);
	ck_assert(c.skip_leave_on_interrupt);
	ck_assert(!c.enable_local_script_checks);
	conf_diag_fini(&d);
	conf_fini(&c);
}
END_TEST

START_TEST(test_host_facts)
{
	const char *args[] = {"-bind=127.0.0.1", "-data-dir=/tmp/h", NULL};
	char host[256];
	struct conf c;
	struct conf_diag d;

	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	ck_assert_int_eq(resolve(&c, &d, args), 0);
	ck_assert_str_eq(c.node_name, host);
	conf_diag_fini(&d);
	conf_fini(&c);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_limit_file_size)
{
	size_t n = CONF_FILE_SIZE_MAX + 1;
	char *text = malloc(n), *path;
	struct conf c;
	struct conf_diag d;
	FILE *f;

	memset(text, '#', n);
	text[n - 1] = '\n';
	memset(&d, 0, sizeof(d));
	conf_init(&c);
	ck_assert_int_eq(conf_load_mem(&c, "big", text, n, &d), -1);
	ck_assert_str_eq(d.errors[0], "config: big: larger than the limit of 4194304 bytes");
	/* exactly at the limit: a comment is fine */
	ck_assert_int_eq(conf_load_mem(&c, "big", text, n - 1, &d), 0);
	ck_assert_int_ge(asprintf(&path, "%s/big.yaml", tmp_dir), 0);
	f = fopen(path, "wb");
	ck_assert_uint_eq(fwrite(text, 1, n, f), n);
	fclose(f);
	ck_assert_int_eq(conf_load_path(&c, path, &d), -1);
	ck_assert_uint_eq(d.n_errors, 2);
	ck_assert(strstr(d.errors[1], "larger than the limit") != NULL);
	conf_diag_fini(&d);
	conf_fini(&c);
	free(text);
	free(path);
}
END_TEST

static int load_text(struct conf *c, struct conf_diag *d, const char *text)
{
	memset(d, 0, sizeof(*d));
	conf_init(c);
	return conf_load_mem(c, "t", text, strlen(text), d);
}

START_TEST(test_limit_depth_and_counts)
{
	struct conf c;
	struct conf_diag d;
	struct buf b;

	/* 32 levels load (skipped under an unused key), 33 do not */
	buf_init(&b, 1u << 24);
	buf_printf(&b, "telemetry: ");
	for (int i = 0; i < 31; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < 31; i++)
		buf_putc(&b, ']');
	ck_assert_int_eq(load_text(&c, &d, buf_cstr(&b)), 0);
	conf_diag_fini(&d);
	conf_fini(&c);
	/* a list key over CONF_LIST_MAX */
	buf_reset(&b);
	buf_printf(&b, "retry_join: [");
	for (int i = 0; i <= CONF_LIST_MAX; i++)
		buf_printf(&b, "%sh%d", i ? ", " : "", i);
	buf_printf(&b, "]\n");
	ck_assert_int_eq(load_text(&c, &d, buf_cstr(&b)), -1);
	ck_assert_str_eq(d.errors[0],
	                 "config: t:1: key \"retry_join\": more than the limit of 1024 entries");
	conf_diag_fini(&d);
	conf_fini(&c);
	/* more values in one file than CONF_NODES_MAX */
	buf_reset(&b);
	buf_printf(&b, "telemetry: [");
	for (int i = 0; i <= CONF_NODES_MAX; i++)
		buf_printf(&b, "%s0", i ? "," : "");
	buf_printf(&b, "]\n");
	ck_assert_int_eq(load_text(&c, &d, buf_cstr(&b)), -1);
	ck_assert(strstr(d.errors[0], "more values than the limit") != NULL);
	conf_diag_fini(&d);
	conf_fini(&c);
	/* a value longer than CONF_SCALAR_MAX */
	buf_reset(&b);
	buf_printf(&b, "node_name: ");
	for (int i = 0; i <= CONF_SCALAR_MAX; i++)
		buf_putc(&b, 'x');
	ck_assert_int_eq(load_text(&c, &d, buf_cstr(&b)), -1);
	ck_assert(strstr(d.errors[0], "longer than the limit") != NULL);
	conf_diag_fini(&d);
	conf_fini(&c);
	buf_fini(&b);
}
END_TEST

START_TEST(test_diag_limit)
{
	struct conf c;
	struct conf_diag d;
	struct buf b;

	buf_init(&b, 1u << 20);
	for (int i = 0; i < 2 * CONF_DIAG_MAX; i++)
		buf_printf(&b, "unknown_%d: 1\n", i);
	ck_assert_int_eq(load_text(&c, &d, buf_cstr(&b)), -1);
	ck_assert_uint_eq(d.n_errors, CONF_DIAG_MAX);
	ck_assert_str_eq(d.errors[CONF_DIAG_MAX - 1],
	                 "config: too many errors; the rest are not shown");
	conf_diag_fini(&d);
	conf_diag_fini(&d); /* twice is fine */
	conf_fini(&c);
	conf_fini(&c);
	buf_fini(&b);
}
END_TEST

/* ---- the rest ---- */

START_TEST(test_diff_and_reload)
{
	struct conf a, b;
	struct conf_diag d;
	const char *names[8];
	static const char text[] = "log_level: debug\nserver: true\n";

	conf_init(&a);
	ck_assert_int_eq(load_text(&b, &d, text), 0);
	ck_assert(!conf_equal(&a, &b));
	ck_assert_uint_eq(conf_diff(&a, &b, names, 8), 2);
	ck_assert_str_eq(names[0], "log_level");
	ck_assert_str_eq(names[1], "server");
	ck_assert(conf_key_is_reloadable("log_level"));
	ck_assert(conf_key_is_reloadable("dns_config.only_passing"));
	ck_assert(!conf_key_is_reloadable("server"));
	ck_assert(!conf_key_is_reloadable("no_such_key"));
	conf_diag_fini(&d);
	conf_fini(&a);
	conf_fini(&b);
}
END_TEST

START_TEST(test_strings_round_trip)
{
	static const char text[] = "node_meta:\n"
	                           "  q: 'quote \" backslash \\ tab\t'\n"
	                           "  n: \"new\\nline \\u0001 \\u00e9 \\U0001F600\"\n"
	                           "  y: \"\\x7f \\u0085 \\u2028 \\ufeff \\uffff\"\n"
	                           "pid_file: \"/tmp/a b/\\\"c\\\".pid\"\n";
	struct conf c;
	struct conf_diag d;
	char *json;

	ck_assert_int_eq(load_text(&c, &d, text), 0);
	ck_assert_int_eq(conf_validate(&c, false, &d), 0);
	ck_assert_str_eq(c.node_meta.v[0].value, "new\nline \x01 \xc3\xa9 \xf0\x9f\x98\x80");
	json = to_json(&c);
	check_round_trip(&c, json);
	free(json);
	conf_diag_fini(&d);
	conf_fini(&c);
}
END_TEST

START_TEST(test_etc_configs)
{
	static const char *const files[] = {"etc/muster.yaml", "etc/client.yaml"};
	static const char *const warnings[] = {
	    "config: bootstrap_expect > 0: expecting 3 servers\n", ""};

	for (size_t i = 0; i < 2; i++) {
		char *warns;

		struct conf c;
		struct conf_diag d;
		char *json;

		memset(&d, 0, sizeof(d));
		conf_init(&c);
		ck_assert_msg(conf_load_path(&c, files[i], &d) == 0, "%s: %s", files[i],
		              first_error(&d));
		ck_assert_msg(conf_validate(&c, true, &d) == 0, "%s: %s", files[i],
		              first_error(&d));
		ck_assert_uint_eq(d.n_errors, 0);
		warns = lines(d.warnings, d.n_warnings);
		ck_assert_str_eq(warns, warnings[i]);
		free(warns);
		ck_assert_ptr_nonnull(c.node_name);
		json = to_json(&c);
		check_round_trip(&c, json);
		free(json);
		conf_diag_fini(&d);
		conf_fini(&c);
	}
}
END_TEST

START_TEST(test_validate_cli_style)
{
	/* `muster validate`: several paths, then conf_validate(c, false). */
	struct conf c;
	struct conf_diag d;

	memset(&d, 0, sizeof(d));
	conf_init(&c);
	ck_assert_int_eq(conf_load_path(&c, GOOD_DIR "/client.yaml", &d), 0);
	ck_assert_int_eq(conf_load_path(&c, GOOD_DIR "/merge.d", &d), 0);
	ck_assert_int_eq(conf_validate(&c, false, &d), 0);
	ck_assert_str_eq(c.node_name, "last");
	ck_assert_uint_eq(c.retry_join.n, 7);
	ck_assert_int_eq(conf_load_path(&c, "tests/conf/nope", &d), -1);
	ck_assert(strstr(d.errors[0], "tests/conf/nope: cannot open") != NULL);
	conf_diag_fini(&d);
	conf_fini(&c);
}
END_TEST

/* services/checks (issue 6): kept as compact JSON, a single mapping or a
 * list, appended across layers, round-tripping through config.json. */
START_TEST(test_service_defs)
{
	static const char text[] = "service:\n"
	                           "  name: web\n"
	                           "  port: 0x50\n"
	                           "  tags: [a, 'b c']\n"
	                           "  check: {ttl: 10s, weight: 1.50, notes: null, ok: TRUE}\n"
	                           "services:\n"
	                           "  - {name: db, meta: {k: \"v\\\"q\"}}\n"
	                           "checks:\n"
	                           "  - {id: c1, ttl: '5s'}\n"
	                           "check: {id: c2, args: [\"/bin/true\"], interval: 1s}\n";
	struct conf c;
	struct conf_diag d;
	char *json;

	ck_assert_int_eq(load_text(&c, &d, text), 0);
	ck_assert_int_eq(conf_validate(&c, false, &d), 0);
	ck_assert_uint_eq(d.n_warnings, 0);
	ck_assert_uint_eq(c.services.n, 2);
	ck_assert_str_eq(c.services.v[0], "{\"name\":\"web\",\"port\":80,\"tags\":[\"a\",\"b c\"],"
	                                  "\"check\":{\"ttl\":\"10s\",\"weight\":1.5,\"notes\":null,"
	                                  "\"ok\":true}}");
	ck_assert_str_eq(c.services.v[1], "{\"name\":\"db\",\"meta\":{\"k\":\"v\\\"q\"}}");
	ck_assert_uint_eq(c.checks.n, 2);
	ck_assert_str_eq(c.checks.v[0], "{\"id\":\"c1\",\"ttl\":\"5s\"}");
	ck_assert_str_eq(c.checks.v[1], "{\"id\":\"c2\",\"args\":[\"/bin/true\"],\"interval\":\"1s\"}");
	ck_assert(conf_key_is_reloadable("services"));
	ck_assert(conf_key_is_reloadable("checks"));
	json = to_json(&c);
	ck_assert(strstr(json, "\"service\":") == NULL);
	check_round_trip(&c, json);
	free(json);
	conf_diag_fini(&d);
	conf_fini(&c);

	ck_assert_int_eq(load_text(&c, &d, "services: web\n"), -1);
	ck_assert(strstr(d.errors[0], "expected a mapping or a list of mappings") != NULL);
	conf_diag_fini(&d);
	conf_fini(&c);
	ck_assert_int_eq(load_text(&c, &d, "checks: [1]\n"), -1);
	conf_diag_fini(&d);
	conf_fini(&c);
	ck_assert_int_eq(load_text(&c, &d, "service: {name: x, w: .inf}\n"), -1);
	ck_assert(strstr(d.errors[0], "not a JSON number") != NULL);
	conf_diag_fini(&d);
	conf_fini(&c);
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc;

	tc = tcase_create("golden");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_golden_good, 0, (int)good_set.n);
	tcase_add_loop_test(tc, test_golden_bad, 0, (int)bad_set.n);
	tcase_add_loop_test(tc, test_golden_args, 0, (int)args_set.n);
	suite_add_tcase(s, tc);

	tc = tcase_create("duration");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_dur_parse);
	tcase_add_test(tc, test_dur_format);
	tcase_add_test(tc, test_dur_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("flags");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_flag_forms);
	tcase_add_test(tc, test_flag_bool_takes_no_separate_value);
	tcase_add_test(tc, test_flag_errors);
	tcase_add_test(tc, test_flags_override_files);
	tcase_add_test(tc, test_config_dir_order);
	tcase_add_test(tc, test_dev_layer_under_files);
	tcase_add_test(tc, test_dev_mode_from_json_is_data);
	tcase_add_test(tc, test_derived_defaults);
	tcase_add_test(tc, test_host_facts);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_limit_file_size);
	tcase_add_test(tc, test_limit_depth_and_counts);
	tcase_add_test(tc, test_diag_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_diff_and_reload);
	tcase_add_test(tc, test_service_defs);
	tcase_add_test(tc, test_strings_round_trip);
	tcase_add_test(tc, test_etc_configs);
	tcase_add_test(tc, test_validate_cli_style);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	scan(&good_set, GOOD_DIR, false);
	scan(&bad_set, BAD_DIR, false);
	scan(&args_set, ARGS_DIR, true);
	return testutil_run(conf_suite());
}

/* test_rundir.c: where run_dir is (DESIGN.md §2), its permissions and its length limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rundir.h"
#include "testutil.h"

static void clear_env(void)
{
	unsetenv(RUNDIR_ENV);
	unsetenv("RUNTIME_DIRECTORY");
}

START_TEST(rundir_resolution_order)
{
	char out[RUNDIR_PATH_MAX + 1];

	clear_env();
	ck_assert_int_eq(rundir_resolve(NULL, out, sizeof(out)), -1);
	ck_assert_int_eq(rundir_resolve("/var/lib/muster", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/var/lib/muster/run");
	setenv("RUNTIME_DIRECTORY", "/run/muster", 1);
	ck_assert_int_eq(rundir_resolve("/var/lib/muster", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/run/muster");
	/* systemd joins several RuntimeDirectory= entries with ':'. */
	setenv("RUNTIME_DIRECTORY", "/run/a:/run/b", 1);
	ck_assert_int_eq(rundir_resolve("/d", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/d/run");
	setenv(RUNDIR_ENV, "/tmp/x", 1);
	ck_assert_int_eq(rundir_resolve("/var/lib/muster", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/tmp/x");
	/* Empty means unset. */
	setenv(RUNDIR_ENV, "", 1);
	unsetenv("RUNTIME_DIRECTORY");
	ck_assert_int_eq(rundir_resolve("/d", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/d/run");
	clear_env();
}
END_TEST

START_TEST(rundir_too_long_is_refused)
{
	char out[512], dir[200];

	clear_env();
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	/* <data_dir>/run is exactly RUNDIR_PATH_MAX: fits. */
	dir[RUNDIR_PATH_MAX - 4] = '\0';
	ck_assert_int_eq(rundir_resolve(dir, out, sizeof(out)), 0);
	ck_assert_uint_eq(strlen(out), RUNDIR_PATH_MAX);
	dir[RUNDIR_PATH_MAX - 4] = 'd';
	dir[RUNDIR_PATH_MAX - 3] = '\0';
	ck_assert_int_eq(rundir_resolve(dir, out, sizeof(out)), -1);
}
END_TEST

START_TEST(rundir_make_is_private_and_removable)
{
	char base[] = "/tmp/mtr-XXXXXX", path[128], file[160];
	struct stat st;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(path, sizeof(path), "%s/a/b/run", base);
	ck_assert_int_eq(rundir_make(path), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	/* An existing, too open directory is tightened. */
	ck_assert_int_eq(chmod(path, 0755), 0);
	ck_assert_int_eq(rundir_make(path), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	/* A file in the way is an error. */
	snprintf(file, sizeof(file), "%s/file", base);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(rundir_make(file), -1);
	ck_assert_int_eq(rundir_remove_tree(base), 0);
	ck_assert_int_ne(access(base, F_OK), 0);
}
END_TEST

static Suite *rundir_suite(void)
{
	Suite *s = suite_create("rundir");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, rundir_resolution_order);
	tcase_add_test(tc, rundir_too_long_is_refused);
	tcase_add_test(tc, rundir_make_is_private_and_removable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(rundir_suite());
}

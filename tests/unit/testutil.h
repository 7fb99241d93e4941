/* testutil.h: what every Check suite shares: the runner in fork mode and a temporary run_dir. */
#ifndef MUSTER_TESTUTIL_H
#define MUSTER_TESTUTIL_H

#include <check.h>
#include <stdlib.h>

/* Runs one suite and prints Check's summary; returns main()'s exit code.
 * Fork mode, Check's default (each case in its own process); CK_FORK=no
 * in the environment runs in one process, for LeakSanitizer or gdb. */
static inline int testutil_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif

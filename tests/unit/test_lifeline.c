/* test_lifeline.c: the child side of the supervisor link. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ev.h"
#include "lifeline.h"
#include "testutil.h"

static int gone_calls;

static void gone(struct ev *ev, void *arg)
{
	(void)arg;
	gone_calls++;
	ev_stop(ev);
}

static void fail_after(struct ev *ev, void *arg)
{
	(void)arg;
	ev_stop(ev);
}

static int child_fd;

/* One end of a socketpair named in the environment as musterd does (not
 * on fd 3 itself: Check's fork mode may own that descriptor). */
static int setup_pair(void)
{
	int sv[2];
	char v[16];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	child_fd = sv[1];
	snprintf(v, sizeof(v), "%d", sv[1]);
	setenv(LIFELINE_ENV, v, 1);
	return sv[0];
}

START_TEST(lifeline_absent_runs_alone)
{
	struct ev *ev = ev_new();

	unsetenv(LIFELINE_ENV);
	ck_assert_int_eq(lifeline_attach(ev, gone, NULL), 0);
	ck_assert(!lifeline_is_attached());
	ck_assert_int_eq(lifeline_ready(), 0);
	ev_free(ev);
}
END_TEST

START_TEST(lifeline_ready_reaches_supervisor)
{
	struct ev *ev = ev_new();
	int sup = setup_pair();
	char b[16];
	ssize_t n;

	ck_assert_int_eq(lifeline_attach(ev, gone, NULL), 1);
	ck_assert(lifeline_is_attached());
	/* Not inherited by programs the daemon runs. */
	ck_assert(fcntl(child_fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_ptr_null(getenv(LIFELINE_ENV));
	ck_assert_int_eq(lifeline_ready(), 0);
	n = recv(sup, b, sizeof(b), 0);
	ck_assert_int_eq(n, (ssize_t)strlen(LIFELINE_READY));
	ck_assert_mem_eq(b, LIFELINE_READY, (size_t)n);
	lifeline_detach(ev);
	close(sup);
	ev_free(ev);
}
END_TEST

START_TEST(lifeline_eof_means_supervisor_gone)
{
	struct ev *ev = ev_new();
	int sup = setup_pair();

	gone_calls = 0;
	ck_assert_int_eq(lifeline_attach(ev, gone, NULL), 1);
	ev_timer_add(ev, 5000, fail_after, NULL);
	close(sup); /* what the kernel does when musterd dies, SIGKILL included */
	ev_run(ev);
	ck_assert_int_eq(gone_calls, 1);
	ck_assert(!lifeline_is_attached());
	ev_free(ev);
}
END_TEST

START_TEST(lifeline_bad_env_is_an_error)
{
	struct ev *ev = ev_new();

	setenv(LIFELINE_ENV, "987", 1); /* not open */
	ck_assert_int_eq(lifeline_attach(ev, gone, NULL), -1);
	setenv(LIFELINE_ENV, "1", 1); /* stdout is never the link */
	ck_assert_int_eq(lifeline_attach(ev, gone, NULL), -1);
	ev_free(ev);
}
END_TEST

static Suite *lifeline_suite(void)
{
	Suite *s = suite_create("lifeline");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, lifeline_absent_runs_alone);
	tcase_add_test(tc, lifeline_ready_reaches_supervisor);
	tcase_add_test(tc, lifeline_eof_means_supervisor_gone);
	tcase_add_test(tc, lifeline_bad_env_is_an_error);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(lifeline_suite());
}

/* test_ctlproto.c: splitting control socket lines into words. */
#include <string.h>

#include "ctlproto.h"
#include "testutil.h"

START_TEST(ctlproto_words)
{
	char line[] = "  restart\t raftd  ", *w[CTLPROTO_WORDS_MAX];

	ck_assert_int_eq(ctlproto_split(line, w, CTLPROTO_WORDS_MAX), 2);
	ck_assert_str_eq(w[0], "restart");
	ck_assert_str_eq(w[1], "raftd");
}
END_TEST

START_TEST(ctlproto_blank_and_crlf)
{
	char blank[] = " \t ", crlf[] = "status\r", *w[CTLPROTO_WORDS_MAX];

	ck_assert_int_eq(ctlproto_split(blank, w, CTLPROTO_WORDS_MAX), 0);
	ck_assert_int_eq(ctlproto_split(crlf, w, CTLPROTO_WORDS_MAX), 1);
	ck_assert_str_eq(w[0], "status");
}
END_TEST

START_TEST(ctlproto_refuses_too_many_and_odd_bytes)
{
	char many[] = "a b c", ctrl[] = "stop \x01", high[] = "st\xc3\xa4tus", mid_cr[] = "a\rb";
	char *w[2];

	ck_assert_int_eq(ctlproto_split(many, w, 2), -1);
	ck_assert_int_eq(ctlproto_split(ctrl, w, 2), -1);
	ck_assert_int_eq(ctlproto_split(high, w, 2), -1);
	ck_assert_int_eq(ctlproto_split(mid_cr, w, 2), -1);
}
END_TEST

static Suite *ctlproto_suite(void)
{
	Suite *s = suite_create("ctlproto");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, ctlproto_words);
	tcase_add_test(tc, ctlproto_blank_and_crlf);
	tcase_add_test(tc, ctlproto_refuses_too_many_and_odd_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(ctlproto_suite());
}

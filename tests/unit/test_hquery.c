/* test_hquery.c: paths and query strings as Go's net/url reads them (spec/http-api.md §0, §1.3). */
#include "daemons/httpd/hquery.h"

#include <stdlib.h>
#include <string.h>
#include "testutil.h"

START_TEST(test_unescape)
{
	size_t n;
	char *s = hquery_unescape("/v1/kv/foo%2Fbar%20x+y", false, &n);
	ck_assert_str_eq(s, "/v1/kv/foo/bar x+y");
	ck_assert_uint_eq(n, strlen(s));
	free(s);
	s = hquery_unescape("a+b%2B", true, NULL);
	ck_assert_str_eq(s, "a b+");
	free(s);
	/* An embedded NUL is kept and told by the length. */
	s = hquery_unescape("a%00b", false, &n);
	ck_assert_uint_eq(n, 3);
	free(s);
	ck_assert_ptr_null(hquery_unescape("%zz", false, NULL));
	ck_assert_ptr_null(hquery_unescape("abc%4", false, NULL));
	ck_assert_ptr_null(hquery_unescape("%", false, NULL));
}
END_TEST

START_TEST(test_parse)
{
	struct hquery q;
	const char *why = NULL;
	ck_assert_int_eq(hquery_parse(&q, "recurse&tag=a&tag=b%20c&node-meta=os:linux&stale=&x=1=2",
	                              &why),
	                 0);
	ck_assert(hquery_has(&q, "recurse"));
	ck_assert_str_eq(hquery_get(&q, "recurse"), "");
	ck_assert_str_eq(hquery_get(&q, "stale"), "");
	ck_assert_str_eq(hquery_get_nth(&q, "tag", 0), "a");
	ck_assert_str_eq(hquery_get_nth(&q, "tag", 1), "b c");
	ck_assert_ptr_null(hquery_get_nth(&q, "tag", 2));
	ck_assert_str_eq(hquery_get(&q, "node-meta"), "os:linux");
	ck_assert_str_eq(hquery_get(&q, "x"), "1=2");
	ck_assert(!hquery_has(&q, "keys"));
	hquery_fini(&q);

	ck_assert_int_eq(hquery_parse(&q, NULL, &why), 0);
	ck_assert_uint_eq(q.n, 0);
	ck_assert_int_eq(hquery_parse(&q, "&&a&&", &why), 0);
	ck_assert_uint_eq(q.n, 1);
	hquery_fini(&q);

	ck_assert_int_eq(hquery_parse(&q, "a=%zz", &why), -1);
	ck_assert_ptr_nonnull(why);
	ck_assert_uint_eq(q.n, 0);
}
END_TEST

START_TEST(test_limits)
{
	struct hquery q;
	const char *why = NULL;
	size_t n = HQUERY_PARAMS_MAX + 1;
	char *s = malloc(n * 2 + 1);
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = 'a';
		s[2 * i + 1] = '&';
	}
	s[2 * n] = '\0';
	ck_assert_int_eq(hquery_parse(&q, s, &why), -1);
	ck_assert_str_eq(why, "too many query parameters");
	free(s);
	s = malloc(HQUERY_LEN_MAX + 2);
	memset(s, 'a', HQUERY_LEN_MAX + 1);
	s[HQUERY_LEN_MAX + 1] = '\0';
	ck_assert_int_eq(hquery_parse(&q, s, &why), -1);
	free(s);
}
END_TEST

START_TEST(test_numbers)
{
	bool b;
	uint64_t u;
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < 6; i++) {
		ck_assert_int_eq(hquery_parse_bool(yes[i], &b), 0);
		ck_assert(b);
		ck_assert_int_eq(hquery_parse_bool(no[i], &b), 0);
		ck_assert(!b);
	}
	ck_assert_int_eq(hquery_parse_bool("yes", &b), -1);
	ck_assert_int_eq(hquery_parse_bool("", &b), -1);
	ck_assert_int_eq(hquery_parse_u64("18446744073709551615", &u), 0);
	ck_assert(u == UINT64_MAX);
	ck_assert_int_eq(hquery_parse_u64("18446744073709551616", &u), -1);
	ck_assert_int_eq(hquery_parse_u64("-1", &u), -1);
	ck_assert_int_eq(hquery_parse_u64(" 1", &u), -1);
	ck_assert_int_eq(hquery_parse_u64("", &u), -1);
	ck_assert_int_eq(hquery_parse_u64("0", &u), 0);
	ck_assert(u == 0);
}
END_TEST

static Suite *hquery_suite(void)
{
	Suite *s = suite_create("hquery");
	TCase *tc = tcase_create("hquery");
	tcase_add_test(tc, test_unescape);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_numbers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(hquery_suite());
}

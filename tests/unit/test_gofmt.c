/* test_gofmt.c: Go's text forms: time.ParseDuration, Duration.String, strconv.Quote. */
#include "gofmt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- Go durations ---- */

struct dur_case {
	const char *in;
	int64_t ns;
	const char *err; /* NULL: valid */
};

/* time.ParseDuration's results, Go's own behaviour. */
static const struct dur_case dur_cases[] = {
    {"0", 0, NULL},
    {"-0", 0, NULL},
    {"+0", 0, NULL},
    {"5s", 5000000000LL, NULL},
    {"30s", 30000000000LL, NULL},
    {"1478s", 1478000000000LL, NULL},
    {"-5s", -5000000000LL, NULL},
    {"+5s", 5000000000LL, NULL},
    {"-0s", 0, NULL},
    {"5.0s", 5000000000LL, NULL},
    {"5.6s", 5600000000LL, NULL},
    {"5.s", 5000000000LL, NULL},
    {".5s", 500000000LL, NULL},
    {"1.004s", 1004000000LL, NULL},
    {"1.0040s", 1004000000LL, NULL},
    {"100.00100s", 100001000000LL, NULL},
    {"10ns", 10, NULL},
    {"11us", 11000, NULL},
    {"12\xc2\xb5s", 12000, NULL},
    {"12\xce\xbcs", 12000, NULL},
    {"13ms", 13000000LL, NULL},
    {"14s", 14000000000LL, NULL},
    {"15m", 900000000000LL, NULL},
    {"16h", 57600000000000LL, NULL},
    {"3h30m", 12600000000000LL, NULL},
    {"10.5s4m", 250500000000LL, NULL},
    {"-2m3.4s", -123400000000LL, NULL},
    {"1h2m3s4ms5us6ns", 3723004005006LL, NULL},
    {"39h9m14.425s", 140954425000000LL, NULL},
    {"52763797000ns", 52763797000LL, NULL},
    {"0.3333333333333333333h", 1200000000000LL, NULL},
    {"9007199254740993ns", 9007199254740993LL, NULL},
    {"9223372036854775807ns", INT64_MAX, NULL},
    {"9223372036854775.807us", INT64_MAX, NULL},
    {"9223372036s854ms775us807ns", INT64_MAX, NULL},
    {"-9223372036854775808ns", INT64_MIN, NULL},
    {"-9223372036854775.808us", INT64_MIN, NULL},
    {"0.100000000000000000000h", 360000000000LL, NULL},
    {"0.830103483285477580700h", 2988372539827LL, NULL},
    {"9.873s", 9873000000LL, NULL},
    {"15.0s", 15000000000LL, NULL},
    {"120000ms", 120000000000LL, NULL},
    {"0.001s", 1000000LL, NULL},
    {"", 0, "time: invalid duration \"\""},
    {"3", 0, "time: missing unit in duration \"3\""},
    {"-", 0, "time: invalid duration \"-\""},
    {"s", 0, "time: invalid duration \"s\""},
    {".", 0, "time: invalid duration \".\""},
    {"-.", 0, "time: invalid duration \"-.\""},
    {".s", 0, "time: invalid duration \".s\""},
    {"+.s", 0, "time: invalid duration \"+.s\""},
    {"1d", 0, "time: unknown unit \"d\" in duration \"1d\""},
    {"1e3s", 0, "time: unknown unit \"e\" in duration \"1e3s\""},
    {"1.1.1s", 0, "time: missing unit in duration \"1.1.1s\""},
    {"1s ", 0, "time: unknown unit \"s \" in duration \"1s \""},
    {"10S", 0, "time: unknown unit \"S\" in duration \"10S\""},
    {"3000000h", 0, "time: invalid duration \"3000000h\""},
    {"9223372036854775808ns", 0, "time: invalid duration \"9223372036854775808ns\""},
    {"9223372036854775.808us", 0, "time: invalid duration \"9223372036854775.808us\""},
    {"9223372036854ms775us808ns", 0, "time: invalid duration \"9223372036854ms775us808ns\""},
    {"-9223372036854775809ns", 0, "time: invalid duration \"-9223372036854775809ns\""},
    {"99999999999999999999s", 0, "time: invalid duration \"99999999999999999999s\""},
    {"a\"b", 0, "time: invalid duration \"a\\\"b\""},
};

START_TEST(test_dur_parse)
{
	const struct dur_case *c = &dur_cases[_i];
	int64_t ns = 12345;
	const char *why = NULL;
	int rc = gofmt_dur_parse_ns(c->in, &ns, &why);

	if (c->err == NULL) {
		ck_assert_msg(rc == 0, "%s: %s", c->in, why);
		ck_assert_msg(ns == c->ns, "%s: %lld != %lld", c->in, (long long)ns,
		              (long long)c->ns);
	} else {
		ck_assert_msg(rc == -1, "%s parsed as %lld", c->in, (long long)ns);
		ck_assert_str_eq(why, c->err);
	}
}
END_TEST

struct fmt_case {
	int64_t ns;
	const char *out;
};

/* time.Duration.String's results. */
static const struct fmt_case fmt_cases[] = {
    {0, "0s"},
    {1, "1ns"},
    {999, "999ns"},
    {1000, "1\xc2\xb5s"},
    {1100, "1.1\xc2\xb5s"},
    {2200000, "2.2ms"},
    {15000000, "15ms"},
    {999999999, "999.999999ms"},
    {1000000000, "1s"},
    {1500000000, "1.5s"},
    {3300000000LL, "3.3s"},
    {60000000000LL, "1m0s"},
    {245000000000LL, "4m5s"},
    {245001000000LL, "4m5.001s"},
    {18367001000000LL, "5h6m7.001s"},
    {480000000001LL, "8m0.000000001s"},
    {259200000000000LL, "72h0m0s"},
    {3600000000000LL, "1h0m0s"},
    {-1500000000LL, "-1.5s"},
    {-1, "-1ns"},
    {INT64_MAX, "2562047h47m16.854775807s"},
    {INT64_MIN, "-2562047h47m16.854775808s"},
};

START_TEST(test_dur_format)
{
	char out[40];

	gofmt_dur_format_ns(fmt_cases[_i].ns, out);
	ck_assert_str_eq(out, fmt_cases[_i].out);
}
END_TEST

/* Every formatted duration parses back to itself. */
START_TEST(test_dur_round_trip)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < 20000; i++) {
		char out[40];
		int64_t ns, back;
		const char *why;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ns = (int64_t)(x >> (i % 64));
		if (i % 3 == 0)
			ns = -ns;
		gofmt_dur_format_ns(ns, out);
		ck_assert_msg(gofmt_dur_parse_ns(out, &back, &why) == 0, "%s: %s", out, why);
		ck_assert_msg(back == ns, "%s: %lld != %lld", out, (long long)back, (long long)ns);
	}
}
END_TEST

START_TEST(test_quote)
{
	char *q = gofmt_quote("a\"b\\c\n\x01\x7f\xc3\xa9", 10);
	ck_assert_str_eq(q, "\"a\\\"b\\\\c\\n\\x01\\x7f\xc3\xa9\"");
	free(q);
	char small[6];
	ck_assert_uint_eq(gofmt_quote_buf("abcdefgh", 8, small, sizeof(small)), 5);
	ck_assert_str_eq(small, "\"abcd");
}
END_TEST

static Suite *gofmt_suite(void)
{
	Suite *s = suite_create("gofmt");
	TCase *tc = tcase_create("gofmt");

	tcase_add_loop_test(tc, test_dur_parse, 0, (int)(sizeof(dur_cases) / sizeof(dur_cases[0])));
	tcase_add_loop_test(tc, test_dur_format, 0, (int)(sizeof(fmt_cases) / sizeof(fmt_cases[0])));
	tcase_add_test(tc, test_dur_round_trip);
	tcase_add_test(tc, test_quote);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(gofmt_suite());
}

/* test_buf.c: the bounded buffer and the sticky-error read cursor. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "testutil.h"

START_TEST(buf_append_within_cap)
{
	struct buf b;

	buf_init(&b, 8);
	ck_assert_int_eq(buf_append(&b, "abcd", 4), 0);
	ck_assert_int_eq(buf_append(&b, "efgh", 4), 0);
	ck_assert_uint_eq(b.len, 8);
	ck_assert(!b.err);
	ck_assert_str_eq(buf_cstr(&b), "abcdefgh");
	buf_fini(&b);
}
END_TEST

START_TEST(buf_cap_is_sticky)
{
	struct buf b;

	buf_init(&b, 5);
	ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
	ck_assert_int_eq(buf_append(&b, "def", 3), -1);
	ck_assert(b.err);
	/* Nothing partial was written, and later small appends fail too. */
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(buf_putc(&b, 'x'), -1);
	ck_assert_uint_eq(b.len, 3);
	buf_reset(&b);
	ck_assert(!b.err);
	ck_assert_int_eq(buf_append(&b, "12345", 5), 0);
	buf_fini(&b);
}
END_TEST

START_TEST(buf_printf_and_be)
{
	struct buf b;
	static const uint8_t want[] = {'n',  '=', '4', '2', 0x12, 0x34, 0xde, 0xad, 0xbe,
	                               0xef, 0,   0,   0,   0,    0,    0,    0,    7};

	buf_init(&b, 64);
	ck_assert_int_eq(buf_printf(&b, "n=%d", 42), 0);
	buf_put_be16(&b, 0x1234);
	buf_put_be32(&b, 0xdeadbeef);
	buf_put_be64(&b, 7);
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert_mem_eq(b.p, want, sizeof(want));
	buf_consume(&b, 4);
	ck_assert_uint_eq(b.len, sizeof(want) - 4);
	ck_assert_mem_eq(b.p, want + 4, sizeof(want) - 4);
	buf_fini(&b);
	buf_fini(NULL);
}
END_TEST

START_TEST(buf_printf_over_cap)
{
	struct buf b;

	buf_init(&b, 4);
	ck_assert_int_eq(buf_printf(&b, "%s", "too long"), -1);
	ck_assert(b.err);
	ck_assert_uint_eq(b.len, 0);
	buf_fini(&b);
}
END_TEST

START_TEST(cur_reads_in_order)
{
	static const uint8_t in[] = {1, 0x02, 0x03, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 5, 'x', 'y'};
	struct cur c;
	uint8_t two[2];

	cur_init(&c, in, sizeof(in));
	ck_assert_uint_eq(cur_u8(&c), 1);
	ck_assert_uint_eq(cur_be16(&c), 0x0203);
	ck_assert_uint_eq(cur_be32(&c), 4);
	ck_assert_uint_eq(cur_be64(&c), 5);
	cur_copy(&c, two, 2);
	ck_assert_mem_eq(two, "xy", 2);
	ck_assert(cur_ok(&c));
	ck_assert_uint_eq(cur_left(&c), 0);
}
END_TEST

START_TEST(cur_error_sticks)
{
	static const uint8_t in[] = {0xaa, 0xbb, 0xcc};
	struct cur c;

	cur_init(&c, in, sizeof(in));
	ck_assert_uint_eq(cur_be16(&c), 0xaabb);
	ck_assert_uint_eq(cur_be32(&c), 0); /* only 1 byte left */
	ck_assert(!cur_ok(&c));
	/* After the first error every read is zero and the cursor stays. */
	ck_assert_uint_eq(cur_u8(&c), 0);
	ck_assert_ptr_null(cur_take(&c, 0));
	ck_assert_uint_eq(cur_left(&c), 0);
	ck_assert_uint_eq(c.off, 2);
}
END_TEST

START_TEST(cur_every_truncation_fails)
{
	uint8_t in[15];
	struct cur c;

	memset(in, 0x11, sizeof(in));
	/* A 15-byte record read from every shorter prefix must fail. */
	for (size_t len = 0; len < sizeof(in); len++) {
		cur_init(&c, in, len);
		cur_u8(&c);
		cur_be16(&c);
		cur_be32(&c);
		cur_be64(&c);
		ck_assert_msg(!cur_ok(&c), "prefix %zu accepted", len);
	}
	cur_init(&c, in, sizeof(in));
	cur_u8(&c);
	cur_be16(&c);
	cur_be32(&c);
	cur_be64(&c);
	ck_assert(cur_ok(&c));
}
END_TEST

START_TEST(cur_seek_and_fail)
{
	static const uint8_t in[] = {9, 8, 7};
	struct cur c;

	cur_init(&c, in, sizeof(in));
	cur_seek(&c, 2);
	ck_assert_uint_eq(cur_u8(&c), 7);
	cur_seek(&c, 0);
	ck_assert_uint_eq(cur_u8(&c), 9);
	cur_seek(&c, 4);
	ck_assert(!cur_ok(&c));
	cur_init(&c, in, sizeof(in));
	ck_assert_int_eq(cur_fail(&c), -1);
	ck_assert_uint_eq(cur_u8(&c), 0);
	/* A huge length never wraps the bounds check. */
	cur_init(&c, in, sizeof(in));
	cur_skip(&c, 1);
	ck_assert_ptr_null(cur_take(&c, SIZE_MAX));
	ck_assert(!cur_ok(&c));
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, buf_append_within_cap);
	tcase_add_test(tc, buf_cap_is_sticky);
	tcase_add_test(tc, buf_printf_and_be);
	tcase_add_test(tc, buf_printf_over_cap);
	tcase_add_test(tc, cur_reads_in_order);
	tcase_add_test(tc, cur_error_sticks);
	tcase_add_test(tc, cur_every_truncation_fails);
	tcase_add_test(tc, cur_seek_and_fail);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(buf_suite());
}

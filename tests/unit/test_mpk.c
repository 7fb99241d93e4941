/* test_mpk.c: Check suite for common/mpk: encoding widths, reading, truncation, hostile input. */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "mpk.h"
#include "testutil.h"

#define TEST_TIMEOUT_S 30

struct golden {
	const char *what;
	uint64_t v;
	size_t len;
	uint8_t b[10];
};

/* Written out from the msgpack spec ("int format family"), not by running
 * an encoder. */
static const struct golden golden_uint[] = {
    {"0", 0, 1, {0x00}},
    {"127 fixint", 127, 1, {0x7f}},
    {"128 uint8", 128, 2, {0xcc, 0x80}},
    {"255 uint8", 255, 2, {0xcc, 0xff}},
    {"256 uint16", 256, 3, {0xcd, 0x01, 0x00}},
    {"65535 uint16", 65535, 3, {0xcd, 0xff, 0xff}},
    {"65536 uint32", 65536, 5, {0xce, 0x00, 0x01, 0x00, 0x00}},
    {"2^32-1 uint32", 0xffffffffu, 5, {0xce, 0xff, 0xff, 0xff, 0xff}},
    {"2^32 uint64", 0x100000000u, 9, {0xcf, 0, 0, 0, 0x01, 0, 0, 0, 0}},
    {"2^64-1 uint64", UINT64_MAX, 9, {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
};

static const struct golden golden_int[] = {
    {"-1", (uint64_t)-1, 1, {0xff}},
    {"-32 negative fixint", (uint64_t)-32, 1, {0xe0}},
    {"-33 int8", (uint64_t)-33, 2, {0xd0, 0xdf}},
    {"-128 int8", (uint64_t)-128, 2, {0xd0, 0x80}},
    {"-129 int16", (uint64_t)-129, 3, {0xd1, 0xff, 0x7f}},
    {"-32768 int16", (uint64_t)-32768, 3, {0xd1, 0x80, 0x00}},
    {"-32769 int32", (uint64_t)-32769, 5, {0xd2, 0xff, 0xff, 0x7f, 0xff}},
    {"INT32_MIN int32", (uint64_t)(int64_t)INT32_MIN, 5, {0xd2, 0x80, 0, 0, 0}},
    {"INT32_MIN-1 int64",
     (uint64_t)((int64_t)INT32_MIN - 1),
     9,
     {0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff}},
    {"INT64_MIN int64", (uint64_t)INT64_MIN, 9, {0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}},
    {"5 positive fixint", 5, 1, {0x05}},
    {"200 as uint8", 200, 2, {0xcc, 0xc8}},
    {"INT64_MAX uint64",
     (uint64_t)INT64_MAX,
     9,
     {0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void expect_bytes(const struct buf *b, const uint8_t *want, size_t len, const char *what)
{
	ck_assert_msg(!b->err, "%s: buffer failed", what);
	ck_assert_msg(b->len == len, "%s: %zu bytes, want %zu", what, b->len, len);
	ck_assert_msg(memcmp(b->p, want, len) == 0, "%s: bytes differ", what);
}

START_TEST(test_uint_widths)
{
	const struct golden *g = &golden_uint[_i];
	struct buf b;
	struct cur c;

	buf_init(&b, 64);
	ck_assert_int_eq(mpk_wr_uint(&b, g->v), 0);
	expect_bytes(&b, g->b, g->len, g->what);

	cur_init(&c, g->b, g->len);
	ck_assert_int_eq(mpk_peek(&c), MPK_INT);
	ck_assert_msg(mpk_rd_u64(&c) == g->v, "%s", g->what);
	ck_assert(cur_ok(&c));
	ck_assert_uint_eq(cur_left(&c), 0);

	cur_init(&c, g->b, g->len);
	(void)mpk_rd_i64(&c);
	ck_assert_msg(cur_ok(&c) == (g->v <= INT64_MAX), "%s: i64 range", g->what);
	cur_init(&c, g->b, g->len);
	(void)mpk_rd_u32(&c);
	ck_assert_msg(cur_ok(&c) == (g->v <= UINT32_MAX), "%s: u32 range", g->what);
	buf_fini(&b);
}
END_TEST

START_TEST(test_int_widths)
{
	const struct golden *g = &golden_int[_i];
	int64_t v = (int64_t)g->v;
	struct buf b;
	struct cur c;

	buf_init(&b, 64);
	ck_assert_int_eq(mpk_wr_int(&b, v), 0);
	expect_bytes(&b, g->b, g->len, g->what);

	cur_init(&c, g->b, g->len);
	ck_assert_msg(mpk_rd_i64(&c) == v, "%s", g->what);
	ck_assert(cur_ok(&c));
	ck_assert_uint_eq(cur_left(&c), 0);

	cur_init(&c, g->b, g->len);
	(void)mpk_rd_u64(&c);
	ck_assert_msg(cur_ok(&c) == (v >= 0), "%s: u64 of a negative must fail", g->what);
	buf_fini(&b);
}
END_TEST

/* Any integer format is read, not only the smallest (other encoders). */
START_TEST(test_int_noncanonical)
{
	static const uint8_t i8[] = {0xd0, 0x05}, u16[] = {0xcd, 0x00, 0x05},
	                     i64[] = {0xd3, 0, 0, 0, 0, 0, 0, 0, 0x05};
	struct cur c;

	cur_init(&c, i8, sizeof(i8));
	ck_assert_uint_eq(mpk_rd_u64(&c), 5);
	cur_init(&c, u16, sizeof(u16));
	ck_assert_int_eq(mpk_rd_i64(&c), 5);
	cur_init(&c, i64, sizeof(i64));
	ck_assert_uint_eq(mpk_rd_u32(&c), 5);
	ck_assert(cur_ok(&c));
}
END_TEST

/* The writer against msgpack-c, an independent encoder, around every
 * width boundary. */
static int cross_write(void *data, const char *p, size_t len)
{
	return buf_append(data, p, len);
}

static void cross_check(struct buf *mine, struct buf *theirs, const char *what, uint64_t v)
{
	ck_assert_msg(mine->len == theirs->len && memcmp(mine->p, theirs->p, mine->len) == 0,
	              "%s %llu: differs from msgpack-c", what, (unsigned long long)v);
	buf_reset(mine);
	buf_reset(theirs);
}

START_TEST(test_cross_msgpack_c)
{
	static const uint64_t edges[] = {0, 15, 16, 31, 32, 127, 128, 255, 256, 65535, 65536};
	static uint8_t data[70000];
	msgpack_packer pk;
	struct buf a, b;

	buf_init(&a, 1 << 20);
	buf_init(&b, 1 << 20);
	msgpack_packer_init(&pk, &b, cross_write);
	for (int sh = 0; sh < 64; sh++) {
		for (int d = -1; d <= 1; d++) {
			uint64_t u = ((uint64_t)1 << sh) + (uint64_t)d;
			int64_t s = (int64_t)(0 - u); /* wraps to INT64_MIN at 2^63 */

			mpk_wr_uint(&a, u);
			msgpack_pack_uint64(&pk, u);
			cross_check(&a, &b, "uint", u);
			mpk_wr_int(&a, (int64_t)u);
			msgpack_pack_int64(&pk, (int64_t)u);
			cross_check(&a, &b, "int", u);
			mpk_wr_int(&a, s);
			msgpack_pack_int64(&pk, s);
			cross_check(&a, &b, "negative int", u);
		}
	}
	mpk_wr_int(&a, INT64_MIN);
	msgpack_pack_int64(&pk, INT64_MIN);
	cross_check(&a, &b, "int", 0);
	for (size_t i = 0; i < NELEM(edges); i++) {
		uint64_t n = edges[i];

		mpk_wr_str(&a, data, n);
		msgpack_pack_str_with_body(&pk, data, n);
		cross_check(&a, &b, "str", n);
		mpk_wr_bin(&a, data, n);
		msgpack_pack_bin_with_body(&pk, data, n);
		cross_check(&a, &b, "bin", n);
		mpk_wr_array(&a, (uint32_t)n);
		msgpack_pack_array(&pk, n);
		cross_check(&a, &b, "array", n);
		mpk_wr_map(&a, (uint32_t)n);
		msgpack_pack_map(&pk, n);
		cross_check(&a, &b, "map", n);
		mpk_wr_ext(&a, 7, data, n);
		msgpack_pack_ext_with_body(&pk, data, n, 7);
		cross_check(&a, &b, "ext", n);
	}
	for (size_t n = 0; n <= 17; n++) {
		mpk_wr_ext(&a, -3, data, n);
		msgpack_pack_ext_with_body(&pk, data, n, -3);
		cross_check(&a, &b, "ext", n);
	}
	mpk_wr_f64(&a, -2.75);
	msgpack_pack_double(&pk, -2.75);
	cross_check(&a, &b, "f64", 0);
	mpk_wr_f32(&a, 0.5f);
	msgpack_pack_float(&pk, 0.5f);
	cross_check(&a, &b, "f32", 0);
	mpk_wr_nil(&a);
	mpk_wr_bool(&a, true);
	mpk_wr_bool(&a, false);
	msgpack_pack_nil(&pk);
	msgpack_pack_true(&pk);
	msgpack_pack_false(&pk);
	cross_check(&a, &b, "nil/bool", 0);
	buf_fini(&a);
	buf_fini(&b);
}
END_TEST

START_TEST(test_nil_bool)
{
	static const uint8_t in[] = {0xc0, 0xc2, 0xc3, 0xc0, 0x01};
	struct cur c;

	cur_init(&c, in, sizeof(in));
	ck_assert_int_eq(mpk_peek(&c), MPK_NIL);
	ck_assert_int_eq(mpk_rd_nil(&c), 0);
	ck_assert_int_eq(mpk_peek(&c), MPK_BOOL);
	ck_assert(!mpk_rd_bool(&c));
	ck_assert(mpk_rd_bool(&c));
	ck_assert(mpk_rd_try_nil(&c));
	ck_assert(!mpk_rd_try_nil(&c)); /* an int: left alone */
	ck_assert(cur_ok(&c));
	ck_assert_uint_eq(mpk_rd_u64(&c), 1);
	ck_assert(!mpk_rd_try_nil(&c)); /* end of input */
	ck_assert(cur_ok(&c));
	ck_assert_int_eq(mpk_rd_nil(&c), -1);
	ck_assert(!cur_ok(&c));
}
END_TEST

START_TEST(test_floats)
{
	static const uint8_t f64[] = {0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
	static const uint8_t f32[] = {0xca, 0x3f, 0xc0, 0x00, 0x00};
	static const uint8_t neg[] = {0xcb, 0xc0, 0x04, 0, 0, 0, 0, 0, 0}; /* -2.5 */
	struct buf b;
	struct cur c;

	buf_init(&b, 64);
	mpk_wr_f64(&b, 1.5);
	expect_bytes(&b, f64, sizeof(f64), "f64 1.5");
	buf_reset(&b);
	mpk_wr_f32(&b, 1.5f);
	expect_bytes(&b, f32, sizeof(f32), "f32 1.5");
	buf_fini(&b);

	cur_init(&c, f64, sizeof(f64));
	ck_assert_int_eq(mpk_peek(&c), MPK_FLOAT);
	ck_assert(mpk_rd_f64(&c) == 1.5);
	cur_init(&c, f32, sizeof(f32));
	ck_assert(mpk_rd_f64(&c) == 1.5);
	cur_init(&c, f32, sizeof(f32));
	ck_assert(mpk_rd_f32(&c) == 1.5f);
	cur_init(&c, neg, sizeof(neg));
	ck_assert(mpk_rd_f64(&c) == -2.5);
	ck_assert(cur_ok(&c));
	/* Narrowing a float64 is refused; an int is not a float. */
	cur_init(&c, f64, sizeof(f64));
	(void)mpk_rd_f32(&c);
	ck_assert(!cur_ok(&c));
	cur_init(&c, (const uint8_t[]){0x01}, 1);
	(void)mpk_rd_f64(&c);
	ck_assert(!cur_ok(&c));
}
END_TEST

/* Header bytes by length, from the spec's str/bin/array/map families. */
struct hdr_case {
	uint32_t n;
	size_t hlen;
	uint8_t h[5];
};

/* kind: 0 str, 1 bin, 2 raw (the old spec's, read back as str). */
static void check_str_bin_kind(int kind, const struct hdr_case *hc, size_t ncase);

static void check_str_bin(bool str, const struct hdr_case *hc, size_t ncase)
{
	check_str_bin_kind(str ? 0 : 1, hc, ncase);
}

static void check_str_bin_kind(int kind, const struct hdr_case *hc, size_t ncase)
{
	bool str = kind != 1;
	static uint8_t data[70000];
	struct buf b;
	struct cur c;
	size_t len;
	const void *p;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < ncase; i++) {
		buf_reset(&b);
		if (kind == 2)
			mpk_wr_raw(&b, data, hc[i].n);
		else if (str)
			mpk_wr_str(&b, data, hc[i].n);
		else
			mpk_wr_bin(&b, data, hc[i].n);
		ck_assert(!b.err);
		ck_assert_uint_eq(b.len, hc[i].hlen + hc[i].n);
		ck_assert_msg(memcmp(b.p, hc[i].h, hc[i].hlen) == 0, "header of %u", hc[i].n);
		cur_init(&c, b.p, b.len);
		ck_assert_int_eq(mpk_peek(&c), str ? MPK_STR : MPK_BIN);
		p = str ? (const void *)mpk_rd_str(&c, &len) : (const void *)mpk_rd_bin(&c, &len);
		ck_assert(cur_ok(&c));
		ck_assert_uint_eq(len, hc[i].n);
		ck_assert(memcmp(p, data, len) == 0);
		ck_assert_uint_eq(cur_left(&c), 0);
		/* The wrong one of the two is refused. */
		cur_init(&c, b.p, b.len);
		if (str)
			(void)mpk_rd_bin(&c, &len);
		else
			(void)mpk_rd_str(&c, &len);
		ck_assert(!cur_ok(&c));
	}
	buf_fini(&b);
}

START_TEST(test_str_widths)
{
	static const struct hdr_case hc[] = {
	    {0, 1, {0xa0}},
	    {31, 1, {0xbf}},
	    {32, 2, {0xd9, 0x20}},
	    {255, 2, {0xd9, 0xff}},
	    {256, 3, {0xda, 0x01, 0x00}},
	    {65535, 3, {0xda, 0xff, 0xff}},
	    {65536, 5, {0xdb, 0x00, 0x01, 0x00, 0x00}},
	};

	check_str_bin(true, hc, NELEM(hc));
}
END_TEST

/* go-msgpack's old "raw": no 8-bit length (serf's 130-byte payloads are
 * da 00 82). */
START_TEST(test_raw_widths)
{
	static const struct hdr_case hc[] = {
	    {0, 1, {0xa0}},
	    {31, 1, {0xbf}},
	    {32, 3, {0xda, 0x00, 0x20}},
	    {130, 3, {0xda, 0x00, 0x82}},
	    {65535, 3, {0xda, 0xff, 0xff}},
	    {65536, 5, {0xdb, 0x00, 0x01, 0x00, 0x00}},
	};

	check_str_bin_kind(2, hc, NELEM(hc));
}
END_TEST

START_TEST(test_bin_widths)
{
	static const struct hdr_case hc[] = {
	    {0, 2, {0xc4, 0x00}},           {31, 2, {0xc4, 0x1f}},
	    {255, 2, {0xc4, 0xff}},         {256, 3, {0xc5, 0x01, 0x00}},
	    {65535, 3, {0xc5, 0xff, 0xff}}, {65536, 5, {0xc6, 0x00, 0x01, 0x00, 0x00}},
	};

	check_str_bin(false, hc, NELEM(hc));
}
END_TEST

static void check_container(bool map, const struct hdr_case *hc, size_t ncase)
{
	struct buf b;
	struct cur c;
	uint32_t n;

	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < ncase; i++) {
		buf_reset(&b);
		if (map)
			mpk_wr_map(&b, hc[i].n);
		else
			mpk_wr_array(&b, hc[i].n);
		ck_assert_uint_eq(b.len, hc[i].hlen);
		ck_assert_msg(memcmp(b.p, hc[i].h, hc[i].hlen) == 0, "header of %u", hc[i].n);
		/* Elements: nils, two per map entry. */
		for (uint64_t j = 0; j < (map ? 2u : 1u) * hc[i].n; j++)
			mpk_wr_nil(&b);
		ck_assert(!b.err);
		cur_init(&c, b.p, b.len);
		ck_assert_int_eq(mpk_peek(&c), map ? MPK_MAP : MPK_ARRAY);
		n = map ? mpk_rd_map(&c) : mpk_rd_array(&c);
		ck_assert(cur_ok(&c));
		ck_assert_uint_eq(n, hc[i].n);
		cur_init(&c, b.p, b.len);
		mpk_skip(&c);
		ck_assert(cur_ok(&c));
		ck_assert_uint_eq(cur_left(&c), 0);
		/* One element short: the count no longer fits, refused at once. */
		if (hc[i].n > 0) {
			cur_init(&c, b.p, b.len - 1);
			n = map ? mpk_rd_map(&c) : mpk_rd_array(&c);
			ck_assert(!cur_ok(&c));
			ck_assert_uint_eq(n, 0);
		}
	}
	buf_fini(&b);
}

START_TEST(test_array_widths)
{
	static const struct hdr_case hc[] = {
	    {0, 1, {0x90}},
	    {15, 1, {0x9f}},
	    {16, 3, {0xdc, 0x00, 0x10}},
	    {65535, 3, {0xdc, 0xff, 0xff}},
	    {65536, 5, {0xdd, 0x00, 0x01, 0x00, 0x00}},
	};

	check_container(false, hc, NELEM(hc));
}
END_TEST

START_TEST(test_map_widths)
{
	static const struct hdr_case hc[] = {
	    {0, 1, {0x80}},
	    {15, 1, {0x8f}},
	    {16, 3, {0xde, 0x00, 0x10}},
	    {65535, 3, {0xde, 0xff, 0xff}},
	    {65536, 5, {0xdf, 0x00, 0x01, 0x00, 0x00}},
	};

	check_container(true, hc, NELEM(hc));
}
END_TEST

START_TEST(test_ext)
{
	static const struct {
		size_t len;
		size_t hlen;
		uint8_t h[6];
	} ec[] = {
	    {1, 2, {0xd4, 0x05}},
	    {2, 2, {0xd5, 0x05}},
	    {4, 2, {0xd6, 0x05}},
	    {8, 2, {0xd7, 0x05}},
	    {16, 2, {0xd8, 0x05}},
	    {0, 3, {0xc7, 0x00, 0x05}},
	    {3, 3, {0xc7, 0x03, 0x05}},
	    {255, 3, {0xc7, 0xff, 0x05}},
	    {256, 4, {0xc8, 0x01, 0x00, 0x05}},
	    {65536, 6, {0xc9, 0x00, 0x01, 0x00, 0x00, 0x05}},
	};
	static uint8_t data[65536];
	struct buf b;
	struct cur c;
	const uint8_t *p;
	size_t len;
	int8_t type;

	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < NELEM(ec); i++) {
		buf_reset(&b);
		mpk_wr_ext(&b, 5, data, ec[i].len);
		ck_assert_uint_eq(b.len, ec[i].hlen + ec[i].len);
		ck_assert_msg(memcmp(b.p, ec[i].h, ec[i].hlen) == 0, "ext of %zu", ec[i].len);
		cur_init(&c, b.p, b.len);
		ck_assert_int_eq(mpk_peek(&c), MPK_EXT);
		p = mpk_rd_ext(&c, &type, &len);
		ck_assert(cur_ok(&c));
		ck_assert_ptr_eq(p, b.p + ec[i].hlen);
		ck_assert_int_eq(type, 5);
		ck_assert_uint_eq(len, ec[i].len);
		cur_init(&c, b.p, b.len);
		mpk_skip(&c);
		ck_assert(cur_ok(&c));
		ck_assert_uint_eq(cur_left(&c), 0);
	}
	/* A negative type byte. */
	cur_init(&c, (const uint8_t[]){0xd4, 0xff, 0x2a}, 3);
	p = mpk_rd_ext(&c, &type, &len);
	ck_assert(cur_ok(&c));
	ck_assert_int_eq(type, -1);
	ck_assert_uint_eq(p[0], 0x2a);
	buf_fini(&b);
}
END_TEST

/* One of everything, nested, for the truncation and skip tests. */
static void build_everything(struct buf *b)
{
	static const uint8_t raw[] = {0, 1, 2, 0xff};

	mpk_wr_map(b, 3);
	mpk_wr_cstr(b, "ints");
	mpk_wr_array(b, 10);
	mpk_wr_uint(b, 1);
	mpk_wr_uint(b, 200);
	mpk_wr_uint(b, 60000);
	mpk_wr_uint(b, 4000000000u);
	mpk_wr_uint(b, UINT64_MAX);
	mpk_wr_int(b, -1);
	mpk_wr_int(b, -100);
	mpk_wr_int(b, -30000);
	mpk_wr_int(b, -2000000000);
	mpk_wr_int(b, INT64_MIN);
	mpk_wr_cstr(b, "misc");
	mpk_wr_array(b, 8);
	mpk_wr_nil(b);
	mpk_wr_bool(b, true);
	mpk_wr_f32(b, 0.25f);
	mpk_wr_f64(b, -1e300);
	mpk_wr_cstr(b, "a string longer than thirty-one bytes");
	mpk_wr_bin(b, raw, sizeof(raw));
	mpk_wr_ext(b, 1, raw, 4);
	mpk_wr_ext(b, 2, raw, 3);
	mpk_wr_cstr(b, "nested");
	mpk_wr_map(b, 1);
	mpk_wr_uint(b, 7);
	mpk_wr_array(b, 1);
	mpk_wr_map(b, 0);
}

START_TEST(test_skip)
{
	struct buf b;
	struct cur c;

	buf_init(&b, 4096);
	build_everything(&b);
	mpk_wr_uint(&b, 42);
	ck_assert(!b.err);
	cur_init(&c, b.p, b.len);
	mpk_skip(&c);
	ck_assert(cur_ok(&c));
	ck_assert_uint_eq(mpk_rd_u64(&c), 42);
	ck_assert_uint_eq(cur_left(&c), 0);
	buf_fini(&b);

	/* 0xc1 is never used. */
	cur_init(&c, (const uint8_t[]){0xc1}, 1);
	ck_assert_int_eq(mpk_peek(&c), MPK_INVALID);
	mpk_skip(&c);
	ck_assert(!cur_ok(&c));
}
END_TEST

START_TEST(test_truncated)
{
	struct buf b;
	struct cur c;

	buf_init(&b, 4096);
	build_everything(&b);
	ck_assert(!b.err);
	/* Every proper prefix fails, with the error sticking, and reads
	 * after it return zero values. A copy sized exactly lets ASan see
	 * a read past the end. */
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *p = malloc(n ? n : 1);
		size_t len;

		memcpy(p, b.p, n);
		cur_init(&c, p, n);
		mpk_skip(&c);
		ck_assert_msg(!cur_ok(&c), "prefix of %zu bytes skipped", n);
		ck_assert_uint_eq(cur_left(&c), 0);
		ck_assert_uint_eq(mpk_rd_u64(&c), 0);
		ck_assert_ptr_null(mpk_rd_str(&c, &len));
		ck_assert_uint_eq(len, 0);
		ck_assert_uint_eq(mpk_rd_array(&c), 0);
		ck_assert_int_eq(mpk_peek(&c), MPK_INVALID);
		free(p);
	}
	/* Each scalar's own prefixes. */
	for (size_t i = 0; i < NELEM(golden_uint); i++) {
		for (size_t n = 0; n < golden_uint[i].len; n++) {
			cur_init(&c, golden_uint[i].b, n);
			(void)mpk_rd_u64(&c);
			ck_assert(!cur_ok(&c));
		}
	}
	for (size_t i = 0; i < NELEM(golden_int); i++) {
		for (size_t n = 0; n < golden_int[i].len; n++) {
			cur_init(&c, golden_int[i].b, n);
			(void)mpk_rd_i64(&c);
			ck_assert(!cur_ok(&c));
		}
	}
	buf_fini(&b);
}
END_TEST

START_TEST(test_hostile_counts)
{
	static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0};
	static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0};
	static const uint8_t str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
	static const uint8_t bin32[] = {0xc6, 0x7f, 0xff, 0xff, 0xff, 'a'};
	static const uint8_t ext32[] = {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'a'};
	static const uint8_t map_odd[] = {0x82, 0xc0, 0xc0, 0xc0}; /* 2 entries need 4 bytes */
	static const uint8_t arr_fit[] = {0x93, 0xc0, 0xc0, 0xc0};
	struct cur c;
	size_t len;
	int8_t t;

	cur_init(&c, arr32, sizeof(arr32));
	ck_assert_uint_eq(mpk_rd_array(&c), 0);
	ck_assert(!cur_ok(&c));
	cur_init(&c, map32, sizeof(map32));
	ck_assert_uint_eq(mpk_rd_map(&c), 0);
	ck_assert(!cur_ok(&c));
	cur_init(&c, str32, sizeof(str32));
	ck_assert_ptr_null(mpk_rd_str(&c, &len));
	ck_assert(!cur_ok(&c));
	cur_init(&c, bin32, sizeof(bin32));
	ck_assert_ptr_null(mpk_rd_bin(&c, &len));
	ck_assert(!cur_ok(&c));
	cur_init(&c, ext32, sizeof(ext32));
	ck_assert_ptr_null(mpk_rd_ext(&c, &t, &len));
	ck_assert(!cur_ok(&c));
	cur_init(&c, map_odd, sizeof(map_odd));
	ck_assert_uint_eq(mpk_rd_map(&c), 0);
	ck_assert(!cur_ok(&c));
	cur_init(&c, arr_fit, sizeof(arr_fit));
	ck_assert_uint_eq(mpk_rd_array(&c), 3);
	ck_assert(cur_ok(&c));
	/* Skipping a hostile container fails the same way. */
	cur_init(&c, map32, sizeof(map32));
	mpk_skip(&c);
	ck_assert(!cur_ok(&c));
}
END_TEST

static void check_depth(uint8_t open, unsigned levels, bool ok)
{
	uint8_t in[2 * MPK_DEPTH_MAX + 8];
	size_t n = 0;
	struct cur c;

	/* open is a one-entry fixarray (0x91) or fixmap (0x81, keyed by nil). */
	for (unsigned i = 0; i < levels; i++) {
		in[n++] = open;
		if (open == 0x81)
			in[n++] = 0xc0;
	}
	in[n++] = 0xc0;
	cur_init(&c, in, n);
	mpk_skip(&c);
	ck_assert_msg(cur_ok(&c) == ok, "%u levels of 0x%02x", levels, open);
	if (ok)
		ck_assert_uint_eq(cur_left(&c), 0);
}

START_TEST(test_depth_limit)
{
	check_depth(0x91, MPK_DEPTH_MAX, true);
	check_depth(0x91, MPK_DEPTH_MAX + 1, false);
	check_depth(0x81, MPK_DEPTH_MAX, true);
	check_depth(0x81, MPK_DEPTH_MAX + 1, false);
}
END_TEST

START_TEST(test_wrong_types)
{
	static const uint8_t str[] = {0xa1, 'x'};
	struct cur c;
	size_t len;

	cur_init(&c, str, sizeof(str));
	(void)mpk_rd_u64(&c);
	ck_assert(!cur_ok(&c));
	/* Sticky: a later read that would fit still fails and does not move. */
	ck_assert_ptr_null(mpk_rd_str(&c, &len));
	ck_assert(!cur_ok(&c));
	cur_init(&c, str, sizeof(str));
	(void)mpk_rd_bool(&c);
	ck_assert(!cur_ok(&c));
	cur_init(&c, str, sizeof(str));
	(void)mpk_rd_array(&c);
	ck_assert(!cur_ok(&c));
	cur_init(&c, str, sizeof(str));
	(void)mpk_rd_map(&c);
	ck_assert(!cur_ok(&c));
	cur_init(&c, (const uint8_t[]){0x90}, 1);
	(void)mpk_rd_map(&c);
	ck_assert(!cur_ok(&c));
	cur_init(&c, (const uint8_t[]){0xc0}, 1);
	(void)mpk_rd_i64(&c);
	ck_assert(!cur_ok(&c));
}
END_TEST

START_TEST(test_peek_table)
{
	/* The first byte decides the type (msgpack spec, "Overview"). */
	static const struct {
		uint8_t lo, hi;
		enum mpk_type t;
	} ranges[] = {
	    {0x00, 0x7f, MPK_INT},   {0x80, 0x8f, MPK_MAP},   {0x90, 0x9f, MPK_ARRAY},
	    {0xa0, 0xbf, MPK_STR},   {0xc0, 0xc0, MPK_NIL},   {0xc1, 0xc1, MPK_INVALID},
	    {0xc2, 0xc3, MPK_BOOL},  {0xc4, 0xc6, MPK_BIN},   {0xc7, 0xc9, MPK_EXT},
	    {0xca, 0xcb, MPK_FLOAT}, {0xcc, 0xd3, MPK_INT},   {0xd4, 0xd8, MPK_EXT},
	    {0xd9, 0xdb, MPK_STR},   {0xdc, 0xdd, MPK_ARRAY}, {0xde, 0xdf, MPK_MAP},
	    {0xe0, 0xff, MPK_INT},
	};
	struct cur c;
	unsigned seen = 0;

	for (size_t i = 0; i < NELEM(ranges); i++) {
		for (unsigned b = ranges[i].lo; b <= ranges[i].hi; b++, seen++) {
			uint8_t x = (uint8_t)b;

			cur_init(&c, &x, 1);
			ck_assert_msg(mpk_peek(&c) == ranges[i].t, "byte 0x%02x", b);
		}
	}
	ck_assert_uint_eq(seen, 256);
	cur_init(&c, NULL, 0);
	ck_assert_int_eq(mpk_peek(&c), MPK_INVALID);
}
END_TEST

START_TEST(test_strcpy_eq)
{
	struct buf b;
	struct cur c;
	char dst[6];

	buf_init(&b, 64);
	mpk_wr_cstr(&b, "hello");
	mpk_wr_cstr(&b, "hello!");
	mpk_wr_cstr(&b, NULL);
	cur_init(&c, b.p, b.len);
	ck_assert_int_eq(mpk_rd_strcpy(&c, dst, sizeof(dst)), 0);
	ck_assert_str_eq(dst, "hello");
	ck_assert_int_eq(mpk_rd_strcpy(&c, dst, sizeof(dst)), -1);
	ck_assert(!cur_ok(&c));
	ck_assert_str_eq(dst, "");
	ck_assert_uint_eq(b.p[b.len - 1], 0xa0);

	ck_assert(mpk_str_eq("raftd", 5, "raftd"));
	ck_assert(mpk_str_eq("raftdX", 5, "raftd"));
	ck_assert(!mpk_str_eq("raft", 4, "raftd"));
	ck_assert(!mpk_str_eq("raftd", 5, "raft"));
	ck_assert(!mpk_str_eq(NULL, 0, ""));
	buf_fini(&b);
}
END_TEST

START_TEST(test_buf_cap)
{
	static const char s[40] = "0123456789012345678901234567890123456789";
	struct buf b;

	buf_init(&b, 32);
	ck_assert_int_eq(mpk_wr_str(&b, s, 31), 0);
	ck_assert_uint_eq(b.len, 32);
	ck_assert_int_eq(mpk_wr_nil(&b), -1);
	ck_assert(b.err);
	/* Sticky: nothing more is written. */
	ck_assert_int_eq(mpk_wr_uint(&b, 1), -1);
	ck_assert_uint_eq(b.len, 32);
	buf_reset(&b);
	ck_assert_int_eq(mpk_wr_str(&b, s, 40), -1);
	buf_fini(&b);
}
END_TEST

static Suite *mpk_suite(void)
{
	Suite *s = suite_create("mpk");
	TCase *tc = tcase_create("write");

	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	tcase_add_loop_test(tc, test_uint_widths, 0, (int)NELEM(golden_uint));
	tcase_add_loop_test(tc, test_int_widths, 0, (int)NELEM(golden_int));
	tcase_add_test(tc, test_int_noncanonical);
	tcase_add_test(tc, test_cross_msgpack_c);
	tcase_add_test(tc, test_floats);
	tcase_add_test(tc, test_str_widths);
	tcase_add_test(tc, test_raw_widths);
	tcase_add_test(tc, test_bin_widths);
	tcase_add_test(tc, test_array_widths);
	tcase_add_test(tc, test_map_widths);
	tcase_add_test(tc, test_ext);
	tcase_add_test(tc, test_buf_cap);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	tcase_add_test(tc, test_nil_bool);
	tcase_add_test(tc, test_skip);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_hostile_counts);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_peek_table);
	tcase_add_test(tc, test_strcpy_eq);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(mpk_suite());
}

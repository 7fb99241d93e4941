/* mpk.c: msgpack writing into a struct buf and bounds-checked reading from a struct cur. */
#include "mpk.h"

#include <string.h>

/* Each writer builds its header in a small array and appends it once, so a
 * value is either written whole or the buffer is failed. */
static int mpk_put(struct buf *b, const uint8_t *x, size_t n)
{
	return buf_append(b, x, n);
}

static size_t mpk_be(uint8_t *x, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return n;
}

int mpk_wr_nil(struct buf *b)
{
	return buf_putc(b, 0xc0);
}

int mpk_wr_bool(struct buf *b, bool v)
{
	return buf_putc(b, v ? 0xc3 : 0xc2);
}

int mpk_wr_uint(struct buf *b, uint64_t v)
{
	uint8_t x[9];

	if (v <= 0x7f)
		return buf_putc(b, (uint8_t)v);
	if (v <= 0xff) {
		x[0] = 0xcc;
		return mpk_put(b, x, 1 + mpk_be(x + 1, v, 1));
	}
	if (v <= 0xffff) {
		x[0] = 0xcd;
		return mpk_put(b, x, 1 + mpk_be(x + 1, v, 2));
	}
	if (v <= 0xffffffff) {
		x[0] = 0xce;
		return mpk_put(b, x, 1 + mpk_be(x + 1, v, 4));
	}
	x[0] = 0xcf;
	return mpk_put(b, x, 1 + mpk_be(x + 1, v, 8));
}

int mpk_wr_int(struct buf *b, int64_t v)
{
	uint8_t x[9];
	uint64_t u = (uint64_t)v;

	if (v >= 0)
		return mpk_wr_uint(b, u);
	if (v >= -32)
		return buf_putc(b, (uint8_t)u);
	if (v >= INT8_MIN) {
		x[0] = 0xd0;
		return mpk_put(b, x, 1 + mpk_be(x + 1, u, 1));
	}
	if (v >= INT16_MIN) {
		x[0] = 0xd1;
		return mpk_put(b, x, 1 + mpk_be(x + 1, u, 2));
	}
	if (v >= INT32_MIN) {
		x[0] = 0xd2;
		return mpk_put(b, x, 1 + mpk_be(x + 1, u, 4));
	}
	x[0] = 0xd3;
	return mpk_put(b, x, 1 + mpk_be(x + 1, u, 8));
}

int mpk_wr_f32(struct buf *b, float v)
{
	uint8_t x[5];
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	x[0] = 0xca;
	return mpk_put(b, x, 1 + mpk_be(x + 1, u, 4));
}

int mpk_wr_f64(struct buf *b, double v)
{
	uint8_t x[9];
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	x[0] = 0xcb;
	return mpk_put(b, x, 1 + mpk_be(x + 1, u, 8));
}

/* The header of a str, bin, array or map: fix is the fix-format base (0
 * when the type has none, as bin), fixmax its largest count, and w8/w16/w32
 * the tags of the wider formats (0 when absent). */
static int mpk_hdr(struct buf *b, uint64_t n, uint8_t fix, uint64_t fixmax, uint8_t w8, uint8_t w16,
                   uint8_t w32)
{
	uint8_t x[5];

	if (fix != 0 && n <= fixmax)
		return buf_putc(b, (uint8_t)(fix | n));
	if (w8 != 0 && n <= 0xff) {
		x[0] = w8;
		return mpk_put(b, x, 1 + mpk_be(x + 1, n, 1));
	}
	if (n <= 0xffff) {
		x[0] = w16;
		return mpk_put(b, x, 1 + mpk_be(x + 1, n, 2));
	}
	if (n <= 0xffffffff) {
		x[0] = w32;
		return mpk_put(b, x, 1 + mpk_be(x + 1, n, 4));
	}
	b->err = true;
	return -1;
}

int mpk_wr_str(struct buf *b, const void *p, size_t len)
{
	if (mpk_hdr(b, len, 0xa0, 31, 0xd9, 0xda, 0xdb) != 0)
		return -1;
	return buf_append(b, p, len);
}

/* The msgpack spec before 2013 had one "raw" type and no str8: HashiCorp's
 * go-msgpack (memberlist, serf) still writes 0..31 as fixraw and 32..65535
 * with a 16-bit length, for strings and []byte alike. Byte-exact with serf. */
int mpk_wr_raw(struct buf *b, const void *p, size_t len)
{
	if (mpk_hdr(b, len, 0xa0, 31, 0, 0xda, 0xdb) != 0)
		return -1;
	return buf_append(b, p, len);
}

int mpk_wr_cstr(struct buf *b, const char *s)
{
	return mpk_wr_str(b, s ? s : "", s ? strlen(s) : 0);
}

int mpk_wr_bin(struct buf *b, const void *p, size_t len)
{
	if (mpk_hdr(b, len, 0, 0, 0xc4, 0xc5, 0xc6) != 0)
		return -1;
	return buf_append(b, p, len);
}

int mpk_wr_array(struct buf *b, uint32_t n)
{
	return mpk_hdr(b, n, 0x90, 15, 0, 0xdc, 0xdd);
}

int mpk_wr_map(struct buf *b, uint32_t n)
{
	return mpk_hdr(b, n, 0x80, 15, 0, 0xde, 0xdf);
}

int mpk_wr_ext(struct buf *b, int8_t type, const void *p, size_t len)
{
	uint8_t x[6];
	size_t n;

	switch (len) {
	case 1:
		x[0] = 0xd4;
		n = 1;
		break;
	case 2:
		x[0] = 0xd5;
		n = 1;
		break;
	case 4:
		x[0] = 0xd6;
		n = 1;
		break;
	case 8:
		x[0] = 0xd7;
		n = 1;
		break;
	case 16:
		x[0] = 0xd8;
		n = 1;
		break;
	default:
		if (len <= 0xff) {
			x[0] = 0xc7;
			n = 1 + mpk_be(x + 1, len, 1);
		} else if (len <= 0xffff) {
			x[0] = 0xc8;
			n = 1 + mpk_be(x + 1, len, 2);
		} else if (len <= 0xffffffff) {
			x[0] = 0xc9;
			n = 1 + mpk_be(x + 1, len, 4);
		} else {
			b->err = true;
			return -1;
		}
	}
	x[n++] = (uint8_t)type;
	if (mpk_put(b, x, n) != 0)
		return -1;
	return buf_append(b, p, len);
}

enum mpk_type mpk_peek(const struct cur *c)
{
	uint8_t t;

	if (cur_left(c) == 0)
		return MPK_INVALID;
	t = c->p[c->off];
	if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3))
		return MPK_INT;
	if (t <= 0x8f || t == 0xde || t == 0xdf)
		return MPK_MAP;
	if (t <= 0x9f || t == 0xdc || t == 0xdd)
		return MPK_ARRAY;
	if (t <= 0xbf || (t >= 0xd9 && t <= 0xdb))
		return MPK_STR;
	switch (t) {
	case 0xc0:
		return MPK_NIL;
	case 0xc2:
	case 0xc3:
		return MPK_BOOL;
	case 0xc4:
	case 0xc5:
	case 0xc6:
		return MPK_BIN;
	case 0xca:
	case 0xcb:
		return MPK_FLOAT;
	case 0xc7:
	case 0xc8:
	case 0xc9:
	case 0xd4:
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8:
		return MPK_EXT;
	default:
		return MPK_INVALID; /* 0xc1 */
	}
}

int mpk_rd_nil(struct cur *c)
{
	if (mpk_peek(c) != MPK_NIL)
		return cur_fail(c);
	cur_skip(c, 1);
	return 0;
}

bool mpk_rd_try_nil(struct cur *c)
{
	if (mpk_peek(c) != MPK_NIL)
		return false;
	cur_skip(c, 1);
	return true;
}

bool mpk_rd_bool(struct cur *c)
{
	if (mpk_peek(c) != MPK_BOOL) {
		cur_fail(c);
		return false;
	}
	return cur_u8(c) == 0xc3;
}

/* Any integer format: the value's two's-complement bits in *v, *neg set
 * when it is below zero. */
static int mpk_rd_int(struct cur *c, uint64_t *v, bool *neg)
{
	uint8_t t;
	int64_t s;

	*v = 0;
	*neg = false;
	if (mpk_peek(c) != MPK_INT)
		return cur_fail(c);
	t = cur_u8(c);
	if (t <= 0x7f) {
		*v = t;
		return 0;
	}
	if (t >= 0xe0) {
		*v = (uint64_t)(int64_t)(int8_t)t;
		*neg = true;
		return 0;
	}
	switch (t) {
	case 0xcc:
		*v = cur_u8(c);
		break;
	case 0xcd:
		*v = cur_be16(c);
		break;
	case 0xce:
		*v = cur_be32(c);
		break;
	case 0xcf:
		*v = cur_be64(c);
		break;
	default:
		if (t == 0xd0)
			s = (int8_t)cur_u8(c);
		else if (t == 0xd1)
			s = (int16_t)cur_be16(c);
		else if (t == 0xd2)
			s = (int32_t)cur_be32(c);
		else
			s = (int64_t)cur_be64(c);
		*v = (uint64_t)s;
		*neg = s < 0;
		break;
	}
	return cur_ok(c) ? 0 : -1;
}

uint64_t mpk_rd_u64(struct cur *c)
{
	uint64_t v;
	bool neg;

	if (mpk_rd_int(c, &v, &neg) != 0)
		return 0;
	if (neg) {
		cur_fail(c);
		return 0;
	}
	return v;
}

uint32_t mpk_rd_u32(struct cur *c)
{
	uint64_t v = mpk_rd_u64(c);

	if (v > UINT32_MAX) {
		cur_fail(c);
		return 0;
	}
	return (uint32_t)v;
}

int64_t mpk_rd_i64(struct cur *c)
{
	uint64_t v;
	bool neg;

	if (mpk_rd_int(c, &v, &neg) != 0)
		return 0;
	if (!neg && v > INT64_MAX) {
		cur_fail(c);
		return 0;
	}
	return (int64_t)v;
}

float mpk_rd_f32(struct cur *c)
{
	uint32_t u;
	float f;

	if (mpk_peek(c) != MPK_FLOAT || c->p[c->off] != 0xca) {
		cur_fail(c);
		return 0;
	}
	cur_skip(c, 1);
	u = cur_be32(c);
	memcpy(&f, &u, sizeof(f));
	return f;
}

double mpk_rd_f64(struct cur *c)
{
	uint64_t u;
	double d;

	if (mpk_peek(c) != MPK_FLOAT) {
		cur_fail(c);
		return 0;
	}
	if (c->p[c->off] == 0xca)
		return mpk_rd_f32(c);
	cur_skip(c, 1);
	u = cur_be64(c);
	memcpy(&d, &u, sizeof(d));
	return d;
}

/* Reads the length of a str (fix base 0xa0) or bin, given the type check
 * already passed; the tag byte is consumed. */
static uint64_t mpk_rd_len(struct cur *c, uint8_t fix, uint8_t fixmask)
{
	uint8_t t = cur_u8(c);

	if (fix != 0 && (t & (uint8_t)~fixmask) == fix)
		return t & fixmask;
	switch (t) {
	case 0xc4:
	case 0xd9:
	case 0xc7:
		return cur_u8(c);
	case 0xc5:
	case 0xda:
	case 0xdc:
	case 0xde:
	case 0xc8:
		return cur_be16(c);
	default: /* 0xc6, 0xdb, 0xdd, 0xdf, 0xc9 */
		return cur_be32(c);
	}
}

const char *mpk_rd_str(struct cur *c, size_t *len)
{
	uint64_t n;
	const uint8_t *p;

	*len = 0;
	if (mpk_peek(c) != MPK_STR) {
		cur_fail(c);
		return NULL;
	}
	n = mpk_rd_len(c, 0xa0, 0x1f);
	p = cur_take(c, n);
	if (p == NULL)
		return NULL;
	*len = n;
	return (const char *)p;
}

const uint8_t *mpk_rd_bin(struct cur *c, size_t *len)
{
	uint64_t n;
	const uint8_t *p;

	*len = 0;
	if (mpk_peek(c) != MPK_BIN) {
		cur_fail(c);
		return NULL;
	}
	n = mpk_rd_len(c, 0, 0);
	p = cur_take(c, n);
	if (p == NULL)
		return NULL;
	*len = n;
	return p;
}

int mpk_rd_strcpy(struct cur *c, char *dst, size_t size)
{
	size_t len;
	const char *p = mpk_rd_str(c, &len);

	if (size > 0)
		dst[0] = '\0';
	if (p == NULL)
		return -1;
	if (len >= size)
		return cur_fail(c);
	memcpy(dst, p, len);
	dst[len] = '\0';
	return 0;
}

uint32_t mpk_rd_array(struct cur *c)
{
	uint64_t n;

	if (mpk_peek(c) != MPK_ARRAY) {
		cur_fail(c);
		return 0;
	}
	n = mpk_rd_len(c, 0x90, 0x0f);
	if (n > cur_left(c)) {
		cur_fail(c);
		return 0;
	}
	return (uint32_t)n;
}

uint32_t mpk_rd_map(struct cur *c)
{
	uint64_t n;

	if (mpk_peek(c) != MPK_MAP) {
		cur_fail(c);
		return 0;
	}
	n = mpk_rd_len(c, 0x80, 0x0f);
	if (n > cur_left(c) / 2) {
		cur_fail(c);
		return 0;
	}
	return (uint32_t)n;
}

const uint8_t *mpk_rd_ext(struct cur *c, int8_t *type, size_t *len)
{
	uint8_t t;
	uint64_t n;
	const uint8_t *p;

	*type = 0;
	*len = 0;
	if (mpk_peek(c) != MPK_EXT) {
		cur_fail(c);
		return NULL;
	}
	t = c->p[c->off];
	if (t >= 0xd4 && t <= 0xd8) {
		cur_skip(c, 1);
		n = (uint64_t)1 << (t - 0xd4);
	} else {
		n = mpk_rd_len(c, 0, 0);
	}
	t = cur_u8(c);
	p = cur_take(c, n);
	if (p == NULL)
		return NULL;
	*type = (int8_t)t;
	*len = n;
	return p;
}

static void mpk_skip_depth(struct cur *c, unsigned depth)
{
	uint64_t n;
	size_t len;
	int8_t t;
	bool neg;

	switch (mpk_peek(c)) {
	case MPK_NIL:
	case MPK_BOOL:
		cur_skip(c, 1);
		return;
	case MPK_INT:
		(void)mpk_rd_int(c, &n, &neg);
		return;
	case MPK_FLOAT:
		(void)mpk_rd_f64(c);
		return;
	case MPK_STR:
		(void)mpk_rd_str(c, &len);
		return;
	case MPK_BIN:
		(void)mpk_rd_bin(c, &len);
		return;
	case MPK_EXT:
		(void)mpk_rd_ext(c, &t, &len);
		return;
	case MPK_ARRAY:
	case MPK_MAP:
		if (depth >= MPK_DEPTH_MAX) {
			cur_fail(c);
			return;
		}
		if (mpk_peek(c) == MPK_ARRAY)
			n = mpk_rd_array(c);
		else
			n = 2 * (uint64_t)mpk_rd_map(c);
		for (uint64_t i = 0; i < n && cur_ok(c); i++)
			mpk_skip_depth(c, depth + 1);
		return;
	default:
		cur_fail(c);
		return;
	}
}

void mpk_skip(struct cur *c)
{
	mpk_skip_depth(c, 0);
}

bool mpk_str_eq(const char *p, size_t len, const char *s)
{
	return p != NULL && strlen(s) == len && memcmp(p, s, len) == 0;
}

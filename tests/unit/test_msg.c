/* test_msg.c: Check suite for proto/msg: every message round trip, golden bytes, decoder rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpk.h"
#include "msg.h"
#include "testutil.h"

#define TEST_TIMEOUT_S 30
#define FRAME_CAP      (16u << 20)
#define NELEM(a)       (sizeof(a) / sizeof((a)[0]))

/* ---- a generic filler, expanded from msg.def ------------------------------ */

/* k makes every value distinct, so a field swapped with another is seen. */
struct fill {
	unsigned k;
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	ck_assert_ptr_nonnull(p);
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	ck_assert_ptr_nonnull(p);
	return p;
}

static char *fill_text(struct fill *f, const char *tag)
{
	char s[96];

	/* Every third one is past 31 bytes (str8); some carry a quote, a
	 * backslash and UTF-8. */
	f->k++;
	if (f->k % 3 == 0)
		snprintf(s, sizeof(s), "%s-%u-a longer string, past the fixstr limit \"q\" \\ é",
		         tag, f->k);
	else
		snprintf(s, sizeof(s), "%s%u", tag, f->k);
	return xstrdup(s);
}

/* Values across the encoding widths: fixint, uint8, 16, 32, 64. */
static void fill_u64(struct fill *f, uint64_t *v)
{
	static const uint64_t base[] = {1, 200, 40000, 3000000000u, (uint64_t)1 << 40};

	f->k++;
	*v = base[f->k % NELEM(base)] + f->k;
}

static void fill_i64(struct fill *f, int64_t *v)
{
	static const int64_t base[] = {-1, -100, -30000, -2000000000, INT64_MIN + 1000, 77};

	f->k++;
	*v = base[f->k % NELEM(base)] - (int64_t)f->k;
}

static void fill_bool(struct fill *f, bool *v)
{
	f->k++;
	*v = true;
}

static void fill_f64(struct fill *f, double *v)
{
	f->k++;
	*v = -7.25 + 1.5 * f->k;
}

static void fill_str(struct fill *f, char **v)
{
	*v = fill_text(f, "s");
}

static void fill_bytes(struct fill *f, struct msg_bytes *v)
{
	f->k++;
	v->len = 3 + f->k % 5;
	v->p = xcalloc(v->len, 1);
	v->p[0] = 0x00;
	v->p[1] = 0xff;
	for (size_t i = 2; i < v->len; i++)
		v->p[i] = (uint8_t)(f->k + i);
}

static void fill_opt_u64(struct fill *f, struct msg_opt_u64 *v)
{
	fill_u64(f, &v->v);
	v->has = true;
}

static void fill_opt_bool(struct fill *f, struct msg_opt_bool *v)
{
	f->k++;
	v->v = f->k % 2 == 0;
	v->has = true;
}

static void fill_opt_str(struct fill *f, char **v)
{
	*v = fill_text(f, "o");
}

static void fill_strlist(struct fill *f, struct msg_strlist *v)
{
	v->n = 3;
	v->v = xcalloc(v->n, sizeof(*v->v));
	v->v[0] = fill_text(f, "l");
	v->v[1] = xstrdup("");
	v->v[2] = fill_text(f, "l");
}

static void fill_strmap(struct fill *f, struct msg_strmap *v)
{
	v->n = 2;
	v->k = xcalloc(v->n, sizeof(*v->k));
	v->v = xcalloc(v->n, sizeof(*v->v));
	for (uint32_t i = 0; i < v->n; i++) {
		v->k[i] = fill_text(f, "k");
		v->v[i] = fill_text(f, "v");
	}
}

#define MSG_X_FIELD(k, fld) fill_##k(f, &s->fld);
#define MSG_X_REC(fld, rec) fill_rec_##rec(f, &s->fld);
#define MSG_X_LIST(fld, rec)                                                                       \
	s->fld.n = 2;                                                                              \
	s->fld.v = xcalloc(s->fld.n, sizeof(*s->fld.v));                                           \
	for (uint32_t j = 0; j < s->fld.n; j++)                                                    \
		fill_rec_##rec(f, &s->fld.v[j]);
#define MSG_X_NONE
#define MSG_DEF_RECORD(rec, fields)                                                                \
	static void fill_rec_##rec(struct fill *f, struct msg_##rec *s)                            \
	{                                                                                          \
		fields                                                                             \
	}
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)
#include "msg.def"
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE

/* Every field non-default; the result is heap-owned like a decoded one. */
static void fill_msg(struct fill *f, struct msg *m, enum msg_type t)
{
	memset(m, 0, sizeof(*m));
	m->type = t;
	fill_u64(f, &m->req_id);
	switch (t) {
#define MSG_DEF_RECORD(rec, fields)
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)                                \
	case MSG_##NAME: {                                                                         \
		struct msg_##name *s = &m->u.name;                                                 \
		(void)s;                                                                           \
		fields                                                                             \
	} break;
#include "msg.def"
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE
	default:
		ck_abort_msg("fill: unknown type %d", (int)t);
	}
}

#undef MSG_X_FIELD
#undef MSG_X_REC
#undef MSG_X_LIST

/* ---- a generic comparer, expanded from msg.def ---------------------------- */

/* a is what was sent (a NULL str means ""), b what was decoded. Fields from
 * index lim on were missing from the input: b must hold their defaults. */
static void cmp_u64(const char *f, const uint64_t *a, const uint64_t *b)
{
	ck_assert_msg(*a == *b, "%s: %llu != %llu", f, (unsigned long long)*a,
	              (unsigned long long)*b);
}

static void cmp_i64(const char *f, const int64_t *a, const int64_t *b)
{
	ck_assert_msg(*a == *b, "%s: %lld != %lld", f, (long long)*a, (long long)*b);
}

static void cmp_bool(const char *f, const bool *a, const bool *b)
{
	ck_assert_msg(*a == *b, "%s: bool differs", f);
}

static void cmp_f64(const char *f, const double *a, const double *b)
{
	ck_assert_msg(memcmp(a, b, sizeof(*a)) == 0, "%s: %g != %g", f, *a, *b);
}

static void cmp_str(const char *f, char *const *a, char *const *b)
{
	ck_assert_msg(*b != NULL, "%s: decoded str is NULL", f);
	ck_assert_msg(strcmp(*a ? *a : "", *b) == 0, "%s: \"%s\" != \"%s\"", f, *a ? *a : "", *b);
}

static void cmp_bytes(const char *f, const struct msg_bytes *a, const struct msg_bytes *b)
{
	ck_assert_msg(a->len == b->len, "%s: %zu bytes != %zu", f, a->len, b->len);
	ck_assert_msg(a->len == 0 || memcmp(a->p, b->p, a->len) == 0, "%s: bytes differ", f);
}

static void cmp_opt_u64(const char *f, const struct msg_opt_u64 *a, const struct msg_opt_u64 *b)
{
	ck_assert_msg(a->has == b->has, "%s: has differs", f);
	if (a->has)
		cmp_u64(f, &a->v, &b->v);
}

static void cmp_opt_bool(const char *f, const struct msg_opt_bool *a, const struct msg_opt_bool *b)
{
	ck_assert_msg(a->has == b->has, "%s: has differs", f);
	if (a->has)
		cmp_bool(f, &a->v, &b->v);
}

static void cmp_opt_str(const char *f, char *const *a, char *const *b)
{
	ck_assert_msg((*a == NULL) == (*b == NULL), "%s: presence differs", f);
	if (*a != NULL)
		ck_assert_msg(strcmp(*a, *b) == 0, "%s: \"%s\" != \"%s\"", f, *a, *b);
}

static void cmp_strlist(const char *f, const struct msg_strlist *a, const struct msg_strlist *b)
{
	ck_assert_msg(a->n == b->n, "%s: %u items != %u", f, a->n, b->n);
	for (uint32_t i = 0; i < a->n; i++)
		cmp_str(f, &a->v[i], &b->v[i]);
}

static void cmp_strmap(const char *f, const struct msg_strmap *a, const struct msg_strmap *b)
{
	ck_assert_msg(a->n == b->n, "%s: %u entries != %u", f, a->n, b->n);
	for (uint32_t i = 0; i < a->n; i++) {
		cmp_str(f, &a->k[i], &b->k[i]);
		cmp_str(f, &a->v[i], &b->v[i]);
	}
}

static void dflt_u64(const char *f, const uint64_t *b)
{
	ck_assert_msg(*b == 0, "%s: not defaulted", f);
}

static void dflt_i64(const char *f, const int64_t *b)
{
	ck_assert_msg(*b == 0, "%s: not defaulted", f);
}

static void dflt_bool(const char *f, const bool *b)
{
	ck_assert_msg(!*b, "%s: not defaulted", f);
}

static void dflt_f64(const char *f, const double *b)
{
	ck_assert_msg(*b == 0.0, "%s: not defaulted", f);
}

static void dflt_str(const char *f, char *const *b)
{
	ck_assert_msg(*b != NULL && **b == '\0', "%s: a missing str must be \"\"", f);
}

static void dflt_bytes(const char *f, const struct msg_bytes *b)
{
	ck_assert_msg(b->len == 0 && b->p == NULL, "%s: not defaulted", f);
}

static void dflt_opt_u64(const char *f, const struct msg_opt_u64 *b)
{
	ck_assert_msg(!b->has && b->v == 0, "%s: not absent", f);
}

static void dflt_opt_bool(const char *f, const struct msg_opt_bool *b)
{
	ck_assert_msg(!b->has && !b->v, "%s: not absent", f);
}

static void dflt_opt_str(const char *f, char *const *b)
{
	ck_assert_msg(*b == NULL, "%s: not absent", f);
}

static void dflt_strlist(const char *f, const struct msg_strlist *b)
{
	ck_assert_msg(b->n == 0 && b->v == NULL, "%s: not empty", f);
}

static void dflt_strmap(const char *f, const struct msg_strmap *b)
{
	ck_assert_msg(b->n == 0 && b->k == NULL && b->v == NULL, "%s: not empty", f);
}

#define MSG_X_FIELD(k, fld)                                                                        \
	if (i++ < lim)                                                                             \
		cmp_##k(#fld, &a->fld, &b->fld);                                                   \
	else                                                                                       \
		dflt_##k(#fld, &b->fld);
/* A missing record is a record of missing fields: compare with limit 0. */
#define MSG_X_REC(fld, rec) cmp_rec_##rec(#fld, &a->fld, &b->fld, i++ < lim ? UINT32_MAX : 0);
#define MSG_X_LIST(fld, rec)                                                                       \
	if (i++ < lim) {                                                                           \
		ck_assert_msg(a->fld.n == b->fld.n, #fld ": %u items != %u", a->fld.n, b->fld.n);  \
		for (uint32_t j = 0; j < a->fld.n; j++)                                            \
			cmp_rec_##rec(#fld, &a->fld.v[j], &b->fld.v[j], UINT32_MAX);               \
	} else {                                                                                   \
		ck_assert_msg(b->fld.n == 0 && b->fld.v == NULL, #fld ": not empty");              \
	}
#define MSG_DEF_RECORD(rec, fields)                                                                \
	static void cmp_rec_##rec(const char *what, const struct msg_##rec *a,                     \
	                          const struct msg_##rec *b, uint32_t lim)                         \
	{                                                                                          \
		uint32_t i = 0;                                                                    \
		(void)what;                                                                        \
		fields                                                                             \
	}
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)
#include "msg.def"
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE

static void cmp_msg(const struct msg *ma, const struct msg *mb, uint32_t lim)
{
	ck_assert_int_eq(ma->type, mb->type);
	ck_assert_uint_eq(ma->req_id, mb->req_id);
	switch (ma->type) {
#define MSG_DEF_RECORD(rec, fields)
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)                                \
	case MSG_##NAME: {                                                                         \
		const struct msg_##name *a = &ma->u.name, *b = &mb->u.name;                        \
		uint32_t i = 0;                                                                    \
		(void)a;                                                                           \
		(void)b;                                                                           \
		(void)i;                                                                           \
		(void)lim;                                                                         \
		fields                                                                             \
	} break;
#include "msg.def"
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE
	default:
		ck_abort_msg("cmp: unknown type %d", (int)ma->type);
	}
}

#undef MSG_X_FIELD
#undef MSG_X_REC
#undef MSG_X_LIST
#undef MSG_X_NONE

/* ---- helpers -------------------------------------------------------------- */

static void encode(const struct msg *m, struct buf *b)
{
	buf_init(b, FRAME_CAP);
	ck_assert_int_eq(msg_encode(m, b), 0);
}

/* Decodes from an exactly sized copy, so ASan sees any read past the end. */
static enum msg_err decode(const uint8_t *p, size_t len, unsigned sender, struct msg *m)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum msg_err e;

	ck_assert_ptr_nonnull(copy);
	if (len > 0)
		memcpy(copy, p, len);
	e = msg_decode(copy, len, sender, m);
	free(copy);
	if (e != MSG_OK) {
		static const struct msg zero;

		ck_assert_msg(memcmp(m, &zero, sizeof(zero)) == 0, "failed decode left *out dirty");
	}
	return e;
}

static void expect_err(const uint8_t *p, size_t len, unsigned sender, enum msg_err want)
{
	struct msg m;
	enum msg_err e = decode(p, len, sender, &m);

	ck_assert_msg(e == want, "decode: %s, want %s", msg_err_str(e), msg_err_str(want));
	msg_free(&m);
}

/* Offsets of the elements of the frame's top array: off[i] is where element
 * i starts (0 type, 1 req id, 2.. fields), off[n] the end. */
static uint32_t frame_elems(const struct buf *b, size_t *off, uint32_t max)
{
	struct cur c;
	uint32_t n;

	cur_init(&c, b->p, b->len);
	n = mpk_rd_array(&c);
	ck_assert(cur_ok(&c) && n < max);
	for (uint32_t i = 0; i < n; i++) {
		off[i] = c.off;
		mpk_skip(&c);
	}
	off[n] = c.off;
	ck_assert(cur_ok(&c) && cur_left(&c) == 0);
	return n;
}

static bool type_ok(int i)
{
	return msg_is_known((uint64_t)i);
}

/* ---- every message type --------------------------------------------------- */

START_TEST(test_roundtrip)
{
	struct fill f = {(unsigned)_i * 1000};
	struct msg a, b;
	struct buf b1, b2;

	if (!type_ok(_i))
		return;
	fill_msg(&f, &a, (enum msg_type)_i);
	encode(&a, &b1);
	ck_assert_int_eq(decode(b1.p, b1.len, 0, &b), MSG_OK);
	cmp_msg(&a, &b, UINT32_MAX);
	encode(&b, &b2);
	ck_assert_uint_eq(b1.len, b2.len);
	ck_assert_mem_eq(b1.p, b2.p, b1.len);
	msg_free(&b);
	msg_free(&a);
	buf_fini(&b1);
	buf_fini(&b2);
}
END_TEST

/* A zeroed message: NULL strings go out as "", absent optionals as nil. */
START_TEST(test_roundtrip_zero)
{
	struct msg a, b;
	struct buf b1, b2;

	if (!type_ok(_i))
		return;
	memset(&a, 0, sizeof(a));
	a.type = (enum msg_type)_i;
	encode(&a, &b1);
	ck_assert_int_eq(decode(b1.p, b1.len, 0, &b), MSG_OK);
	cmp_msg(&a, &b, UINT32_MAX);
	encode(&b, &b2);
	ck_assert_uint_eq(b1.len, b2.len);
	ck_assert_mem_eq(b1.p, b2.p, b1.len);
	msg_free(&b);
	buf_fini(&b1);
	buf_fini(&b2);
}
END_TEST

START_TEST(test_senders)
{
	struct fill f = {1};
	struct msg a, b;
	struct buf b1;

	if (!type_ok(_i))
		return;
	fill_msg(&f, &a, (enum msg_type)_i);
	encode(&a, &b1);
	for (unsigned bit = 1; bit <= MSG_PEER_ANY; bit <<= 1) {
		enum msg_err want = msg_sender_allowed(a.type, bit) ? MSG_OK : MSG_ESENDER;

		ck_assert_int_eq(decode(b1.p, b1.len, bit, &b), want);
		msg_free(&b);
	}
	/* A bit outside the known peers is nobody allowed. */
	ck_assert_int_eq(decode(b1.p, b1.len, 1u << 7, &b), MSG_ESENDER);
	msg_free(&a);
	buf_fini(&b1);
}
END_TEST

START_TEST(test_truncated)
{
	struct fill f = {7};
	struct msg a, b;
	struct buf b1;

	if (!type_ok(_i))
		return;
	fill_msg(&f, &a, (enum msg_type)_i);
	encode(&a, &b1);
	for (size_t n = 0; n < b1.len; n++)
		ck_assert_msg(decode(b1.p, n, 0, &b) != MSG_OK, "prefix of %zu bytes decoded", n);
	/* And one byte too many. */
	ck_assert_int_eq(buf_putc(&b1, 0xc0), 0);
	ck_assert_int_eq(decode(b1.p, b1.len, 0, &b), MSG_EMALFORMED);
	msg_free(&a);
	buf_fini(&b1);
}
END_TEST

/* A newer sender's extra trailing fields are skipped. */
START_TEST(test_extra_fields)
{
	static const uint8_t extra[] = {0x81, 0xa1, 'x', 0x92, 0xc3, 0xd4, 0x01, 0x02, 0xcb,
	                                0,    0,    0,   0,    0,    0,    0,    0};
	struct fill f = {3};
	size_t off[64];
	struct msg a, b;
	struct buf b1, b2;
	uint32_t n;

	if (!type_ok(_i))
		return;
	fill_msg(&f, &a, (enum msg_type)_i);
	encode(&a, &b1);
	n = frame_elems(&b1, off, NELEM(off));
	buf_init(&b2, FRAME_CAP);
	mpk_wr_array(&b2, n + 2);
	buf_append(&b2, b1.p + off[0], off[n] - off[0]);
	buf_append(&b2, extra, sizeof(extra));
	ck_assert_int_eq(decode(b2.p, b2.len, 0, &b), MSG_OK);
	cmp_msg(&a, &b, UINT32_MAX);
	msg_free(&b);
	msg_free(&a);
	buf_fini(&b1);
	buf_fini(&b2);
}
END_TEST

/* An older sender's missing trailing fields get their defaults. */
START_TEST(test_missing_fields)
{
	struct fill f = {5};
	size_t off[64];
	struct msg a, b;
	struct buf b1, b2;
	uint32_t n;

	if (!type_ok(_i))
		return;
	fill_msg(&f, &a, (enum msg_type)_i);
	encode(&a, &b1);
	n = frame_elems(&b1, off, NELEM(off));
	for (uint32_t keep = 0; keep <= n - 2; keep++) {
		buf_init(&b2, FRAME_CAP);
		mpk_wr_array(&b2, 2 + keep);
		buf_append(&b2, b1.p + off[0], off[2 + keep] - off[0]);
		ck_assert_int_eq(decode(b2.p, b2.len, 0, &b), MSG_OK);
		cmp_msg(&a, &b, keep);
		msg_free(&b);
		buf_fini(&b2);
	}
	msg_free(&a);
	buf_fini(&b1);
}
END_TEST

/* A field of the wrong type is malformed. No field kind takes an ext, so
 * an ext is wrong everywhere; so is a str for the non-str kinds. */
START_TEST(test_wrong_field_type)
{
	static const uint8_t ext[] = {0xd4, 0x01, 0x00};
	struct fill f = {9};
	size_t off[64];
	struct msg a;
	struct buf b1, b2;
	uint32_t n;

	if (!type_ok(_i))
		return;
	fill_msg(&f, &a, (enum msg_type)_i);
	encode(&a, &b1);
	n = frame_elems(&b1, off, NELEM(off));
	for (uint32_t j = 1; j < n; j++) {
		buf_init(&b2, FRAME_CAP);
		buf_append(&b2, b1.p, off[j]);
		buf_append(&b2, ext, sizeof(ext));
		buf_append(&b2, b1.p + off[j + 1], b1.len - off[j + 1]);
		expect_err(b2.p, b2.len, 0, MSG_EMALFORMED);
		buf_fini(&b2);
	}
	msg_free(&a);
	buf_fini(&b1);
}
END_TEST

/* Fault injection: failing each allocation in turn gives MSG_ENOMEM, a
 * zeroed result and (under ASan) no leak. */
START_TEST(test_enomem)
{
	struct fill f = {11};
	struct msg a, b;
	struct buf b1;
	enum msg_err e = MSG_ENOMEM;
	unsigned nth;

	if (!type_ok(_i))
		return;
	fill_msg(&f, &a, (enum msg_type)_i);
	encode(&a, &b1);
	for (nth = 1; nth < 10000 && e != MSG_OK; nth++) {
		msg_test_fail_alloc(nth);
		e = decode(b1.p, b1.len, 0, &b);
		ck_assert_msg(e == MSG_OK || e == MSG_ENOMEM, "allocation %u: %s", nth,
		              msg_err_str(e));
		msg_free(&b);
	}
	msg_test_fail_alloc(0);
	ck_assert_int_eq(e, MSG_OK);
	msg_free(&a);
	buf_fini(&b1);
}
END_TEST

START_TEST(test_names)
{
	bool sent = false, received = false;

	if (!type_ok(_i)) {
		ck_assert_str_eq(msg_type_name((enum msg_type)_i), "UNKNOWN");
		return;
	}
	ck_assert_str_ne(msg_type_name((enum msg_type)_i), "UNKNOWN");
	/* Someone may send it and someone receive it; nobody (0) may not. */
	for (unsigned bit = 1; bit <= MSG_PEER_ANY; bit <<= 1) {
		sent |= msg_sender_allowed((enum msg_type)_i, bit);
		received |= msg_receiver_allowed((enum msg_type)_i, bit);
	}
	ck_assert(sent && received);
	ck_assert(!msg_sender_allowed((enum msg_type)_i, 0));
}
END_TEST

/* ---- golden bytes, written out by hand from the msgpack spec --------------- */

/* [2, 7, 5] */
static const uint8_t golden_ping[] = {0x93, 0x02, 0x07, 0x05};

/* [12, 300, 404, "not found"] */
static const uint8_t golden_result[] = {0x94, 0x0c, 0xcd, 0x01, 0x2c, 0xcd, 0x01, 0x94, 0xa9,
                                        'n',  'o',  't',  ' ',  'f',  'o',  'u',  'n',  'd'};

/* [5, 1, "raftd", 4242, 2^32, 70000, "ready",
 *  [["raftd", 4243, "ready", true, 0, 255, nil]]] */
static const uint8_t golden_status_reply[] = {
    0x98, 0x05, 0x01, 0xa5, 'r',  'a',  'f',  't',  'd',  0xcd, 0x10, 0x92, 0xcf, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xce, 0x00, 0x01, 0x11, 0x70, 0xa5, 'r',
    'e',  'a',  'd',  'y',  0x91, 0x97, 0xa5, 'r',  'a',  'f',  't',  'd',  0xcd, 0x10,
    0x93, 0xa5, 'r',  'e',  'a',  'd',  'y',  0xc3, 0x00, 0xcc, 0xff, 0xc0,
};

/* [13, 0, 2^32-1, ["gossipd", 0, "backoff", false, 3, 0, "signal 9"]] */
static const uint8_t golden_child_state[] = {
    0x94, 0x0d, 0x00, 0xce, 0xff, 0xff, 0xff, 0xff, 0x97, 0xa7, 'g', 'o', 's',
    's',  'i',  'p',  'd',  0x00, 0xa7, 'b',  'a',  'c',  'k',  'o', 'f', 'f',
    0xc2, 0x03, 0x00, 0xa8, 's',  'i',  'g',  'n',  'a',  'l',  ' ', '9',
};

/* [7, 2, [["dnsd", 7, [["q", 1, 0.5, {"a": "b"}]]]]] */
static const uint8_t golden_stats_reply[] = {
    0x93, 0x07, 0x02, 0x91, 0x93, 0xa4, 'd',  'n',  's',  'd',  0x07, 0x91, 0x94, 0xa1, 'q',
    0x01, 0xcb, 0x3f, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x81, 0xa1, 'a',  0xa1, 'b',
};

/* [14, 0x1234, 0, -33, false, 1.5, "", bin 01 02, nil, "x", true, ["a"],
 *  {"k": "v"}, ["c", 0, "", false, 0, 0, nil], []] */
static const uint8_t golden_echo[] = {
    0x9f, 0x0e, 0xcd, 0x12, 0x34, 0x00, 0xd0, 0xdf, 0xc2, 0xcb, 0x3f, 0xf8, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xa0, 0xc4, 0x02, 0x01, 0x02, 0xc0, 0xa1, 'x',  0xc3, 0x91, 0xa1, 'a',
    0x81, 0xa1, 'k',  0xa1, 'v',  0x97, 0xa1, 'c',  0x00, 0xa0, 0xc2, 0x00, 0x00, 0xc0, 0x90,
};

static void golden_fill(int which, struct msg *m)
{
	static char *list_a[] = {"a"}, *map_k[] = {"k"}, *map_v[] = {"v"}, *lab_k[] = {"a"},
	            *lab_v[] = {"b"};
	static uint8_t raw[] = {1, 2};
	static struct msg_child_status child = {"raftd", 4243, "ready", true, 0, 255, NULL};
	static struct msg_stat stat = {"q", 1, 0.5, {lab_k, lab_v, 1}};
	static struct msg_daemon_stats ds = {"dnsd", 7, {&stat, 1}};

	memset(m, 0, sizeof(*m));
	switch (which) {
	case 0:
		m->type = MSG_PING;
		m->req_id = 7;
		m->u.ping.nonce = 5;
		break;
	case 1:
		m->type = MSG_RESULT;
		m->req_id = 300;
		m->u.result.status = 404;
		m->u.result.error = "not found";
		break;
	case 2:
		m->type = MSG_STATUS_REPLY;
		m->req_id = 1;
		m->u.status_reply.name = "raftd";
		m->u.status_reply.pid = 4242;
		m->u.status_reply.epoch = (uint64_t)1 << 32;
		m->u.status_reply.uptime_ms = 70000;
		m->u.status_reply.state = "ready";
		m->u.status_reply.children.v = &child;
		m->u.status_reply.children.n = 1;
		break;
	case 3:
		m->type = MSG_CHILD_STATE;
		m->u.child_state.epoch = 0xffffffffu;
		m->u.child_state.child.name = "gossipd";
		m->u.child_state.child.state = "backoff";
		m->u.child_state.child.restarts = 3;
		m->u.child_state.child.last_exit = "signal 9";
		break;
	case 4:
		m->type = MSG_STATS_REPLY;
		m->req_id = 2;
		m->u.stats_reply.daemons.v = &ds;
		m->u.stats_reply.daemons.n = 1;
		break;
	default:
		m->type = MSG_ECHO;
		m->req_id = 0x1234;
		m->u.echo.i = -33;
		m->u.echo.d = 1.5;
		m->u.echo.raw.p = raw;
		m->u.echo.raw.len = sizeof(raw);
		m->u.echo.os = "x";
		m->u.echo.ob.has = true;
		m->u.echo.ob.v = true;
		m->u.echo.list.v = list_a;
		m->u.echo.list.n = 1;
		m->u.echo.map.k = map_k;
		m->u.echo.map.v = map_v;
		m->u.echo.map.n = 1;
		m->u.echo.one.name = "c";
		break;
	}
}

static const struct {
	const uint8_t *p;
	size_t len;
} goldens[] = {
    {golden_ping, sizeof(golden_ping)},
    {golden_result, sizeof(golden_result)},
    {golden_status_reply, sizeof(golden_status_reply)},
    {golden_child_state, sizeof(golden_child_state)},
    {golden_stats_reply, sizeof(golden_stats_reply)},
    {golden_echo, sizeof(golden_echo)},
};

START_TEST(test_golden_encode)
{
	struct msg m, copy;
	struct buf b;

	golden_fill(_i, &m);
	copy = m;
	encode(&m, &b);
	ck_assert_msg(b.len == goldens[_i].len, "%s: %zu bytes, want %zu", msg_type_name(m.type),
	              b.len, goldens[_i].len);
	ck_assert_mem_eq(b.p, goldens[_i].p, b.len);
	/* The struct is the caller's: encoding leaves it alone. */
	ck_assert(memcmp(&m, &copy, sizeof(m)) == 0);
	buf_fini(&b);
}
END_TEST

START_TEST(test_golden_decode)
{
	struct msg want, got;

	golden_fill(_i, &want);
	ck_assert_int_eq(decode(goldens[_i].p, goldens[_i].len, MSG_PEER_MUSTERD, &got), MSG_OK);
	cmp_msg(&want, &got, UINT32_MAX);
	msg_free(&got);
}
END_TEST

/* ---- decoder rules by hand ------------------------------------------------ */

START_TEST(test_frames_malformed)
{
	static const uint8_t not_array[] = {0x05};
	static const uint8_t one_elem[] = {0x91, 0x02};
	static const uint8_t str_type[] = {0x92, 0xa1, '2', 0x01};
	static const uint8_t neg_type[] = {0x92, 0xff, 0x01};
	static const uint8_t str_req[] = {0x93, 0x02, 0xa1, '7', 0x05};
	static const uint8_t neg_req[] = {0x93, 0x02, 0xff, 0x05};
	static const uint8_t str_nonce[] = {0x93, 0x02, 0x07, 0xa1, '5'};
	static const uint8_t neg_nonce[] = {0x93, 0x02, 0x07, 0xff};
	static const uint8_t reserved[] = {0x93, 0x02, 0x07, 0xc1};
	static const uint8_t trailing[] = {0x93, 0x02, 0x07, 0x05, 0x00};
	static const uint8_t nul_in_str[] = {0x93, 0x09, 0x01, 0xa3, 'a', 0x00, 'b'};
	static const uint8_t nil_str[] = {0x93, 0x09, 0x01, 0xc0};
	static const uint8_t hostile[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x02, 0x07};
	/* ECHO: a strmap given as an array, a list of records given a str. */
	static const uint8_t map_as_array[] = {0x9f, 0x0e, 0x00, 0x00, 0x00, 0xc2, 0xcb, 0,    0,
	                                       0,    0,    0,    0,    0,    0,    0xa0, 0xc4, 0x00,
	                                       0xc0, 0xc0, 0xc0, 0x90, 0x90, 0x90, 0x90};
	static const uint8_t rec_as_str[] = {0x94, 0x0d, 0x00, 0x00, 0xa0};

	expect_err(NULL, 0, 0, MSG_EMALFORMED);
	expect_err(not_array, sizeof(not_array), 0, MSG_EMALFORMED);
	expect_err(one_elem, sizeof(one_elem), 0, MSG_EMALFORMED);
	expect_err(str_type, sizeof(str_type), 0, MSG_EMALFORMED);
	expect_err(neg_type, sizeof(neg_type), 0, MSG_EMALFORMED);
	expect_err(str_req, sizeof(str_req), 0, MSG_EMALFORMED);
	expect_err(neg_req, sizeof(neg_req), 0, MSG_EMALFORMED);
	expect_err(str_nonce, sizeof(str_nonce), 0, MSG_EMALFORMED);
	expect_err(neg_nonce, sizeof(neg_nonce), 0, MSG_EMALFORMED);
	expect_err(reserved, sizeof(reserved), 0, MSG_EMALFORMED);
	expect_err(trailing, sizeof(trailing), 0, MSG_EMALFORMED);
	expect_err(nul_in_str, sizeof(nul_in_str), 0, MSG_EMALFORMED);
	expect_err(nil_str, sizeof(nil_str), 0, MSG_EMALFORMED);
	expect_err(hostile, sizeof(hostile), 0, MSG_EMALFORMED);
	expect_err(map_as_array, sizeof(map_as_array), 0, MSG_EMALFORMED);
	expect_err(rec_as_str, sizeof(rec_as_str), 0, MSG_EMALFORMED);
}
END_TEST

START_TEST(test_unknown_type)
{
	static const uint8_t t0[] = {0x92, 0x00, 0x01};
	static const uint8_t t99[] = {0x92, 0x63, 0x01};
	static const uint8_t tmax[] = {0x92, 0xcf, 0xff, 0xff, 0xff, 0xff,
	                               0xff, 0xff, 0xff, 0xff, 0x01};
	uint8_t tnext[] = {0x92, 0xcc, (uint8_t)MSG_TYPE_MAX, 0x01};

	expect_err(t0, sizeof(t0), 0, MSG_EUNKNOWN_TYPE);
	expect_err(t99, sizeof(t99), 0, MSG_EUNKNOWN_TYPE);
	expect_err(tmax, sizeof(tmax), 0, MSG_EUNKNOWN_TYPE);
	expect_err(tnext, sizeof(tnext), 0, MSG_EUNKNOWN_TYPE);
	ck_assert(!msg_is_known(0));
	ck_assert(!msg_is_known(MSG_TYPE_MAX));
	ck_assert(!msg_is_known(UINT64_MAX));
	ck_assert(msg_is_known(MSG_PING));
}
END_TEST

START_TEST(test_sender_rules)
{
	/* CHILD_STATE [13, 0, 0]: only musterd publishes it. */
	static const uint8_t child_state[] = {0x93, 0x0d, 0x00, 0x00};
	/* LEAVE [10, 1]: from musterd or httpd, to musterd or gossipd. */
	static const uint8_t leave[] = {0x92, 0x0a, 0x01};
	struct msg m;

	expect_err(child_state, sizeof(child_state), MSG_PEER_HTTPD, MSG_ESENDER);
	expect_err(child_state, sizeof(child_state), MSG_PEER_RAFTD, MSG_ESENDER);
	ck_assert_int_eq(decode(child_state, sizeof(child_state), MSG_PEER_MUSTERD, &m), MSG_OK);
	ck_assert_int_eq(m.type, MSG_CHILD_STATE);
	ck_assert_str_eq(m.u.child_state.child.name, "");
	msg_free(&m);
	ck_assert_int_eq(decode(child_state, sizeof(child_state), 0, &m), MSG_OK);
	msg_free(&m);
	expect_err(leave, sizeof(leave), MSG_PEER_RAFTD, MSG_ESENDER);
	expect_err(leave, sizeof(leave), MSG_PEER_HTTPD, MSG_OK);

	ck_assert(msg_sender_allowed(MSG_RELOAD, MSG_PEER_HTTPD));
	ck_assert(!msg_sender_allowed(MSG_RELOAD, MSG_PEER_DNSD));
	ck_assert(msg_receiver_allowed(MSG_LEAVE, MSG_PEER_GOSSIPD));
	ck_assert(msg_receiver_allowed(MSG_LEAVE, MSG_PEER_RAFTD)); /* a server hands leadership over */
	ck_assert(!msg_receiver_allowed(MSG_LEAVE, MSG_PEER_DNSD));
	ck_assert(msg_receiver_allowed(MSG_PING, MSG_PEER_HEALTHD));
	ck_assert(!msg_sender_allowed(MSG_NONE, MSG_PEER_MUSTERD));
	ck_assert(!msg_sender_allowed(MSG_PING, 1u << 6));
}
END_TEST

START_TEST(test_defaults_by_hand)
{
	/* RESULT [12, 1]: status 0, error "" (not NULL). */
	static const uint8_t result[] = {0x92, 0x0c, 0x01};
	/* CHILD_STATE [13, 0, 5, []]: an empty record. */
	static const uint8_t child[] = {0x94, 0x0d, 0x00, 0x05, 0x90};
	struct msg m;

	ck_assert_int_eq(decode(result, sizeof(result), 0, &m), MSG_OK);
	ck_assert_uint_eq(m.req_id, 1);
	ck_assert_uint_eq(m.u.result.status, 0);
	ck_assert_str_eq(m.u.result.error, "");
	msg_free(&m);
	ck_assert_int_eq(decode(child, sizeof(child), 0, &m), MSG_OK);
	ck_assert_uint_eq(m.u.child_state.epoch, 5);
	ck_assert_str_eq(m.u.child_state.child.name, "");
	ck_assert_str_eq(m.u.child_state.child.state, "");
	ck_assert_ptr_null(m.u.child_state.child.last_exit);
	msg_free(&m);
}
END_TEST

/* ECHO [14, 1, 0, 0, false, 0.0, "", bin ""] then whatever the test adds. */
static void echo_prefix(struct buf *b, uint32_t nfields)
{
	buf_init(b, FRAME_CAP);
	mpk_wr_array(b, 2 + nfields);
	mpk_wr_uint(b, MSG_ECHO);
	mpk_wr_uint(b, 1);
	mpk_wr_uint(b, 0);
	mpk_wr_int(b, 0);
	mpk_wr_bool(b, false);
	mpk_wr_f64(b, 0);
	mpk_wr_cstr(b, "");
	mpk_wr_bin(b, "", 0);
}

static void echo_strlist(uint32_t n, enum msg_err want)
{
	struct buf b;

	echo_prefix(&b, 10);
	mpk_wr_nil(&b);
	mpk_wr_nil(&b);
	mpk_wr_nil(&b);
	mpk_wr_array(&b, n);
	for (uint32_t i = 0; i < n; i++)
		mpk_wr_cstr(&b, "");
	expect_err(b.p, b.len, 0, want);
	buf_fini(&b);
}

static void echo_bytes(size_t n, enum msg_err want)
{
	uint8_t *raw = xcalloc(n, 1);
	struct buf b;

	buf_init(&b, FRAME_CAP);
	mpk_wr_array(&b, 8);
	mpk_wr_uint(&b, MSG_ECHO);
	mpk_wr_uint(&b, 1);
	mpk_wr_uint(&b, 0);
	mpk_wr_int(&b, 0);
	mpk_wr_bool(&b, false);
	mpk_wr_f64(&b, 0);
	mpk_wr_cstr(&b, "");
	mpk_wr_bin(&b, raw, n);
	expect_err(b.p, b.len, 0, want);
	buf_fini(&b);
	free(raw);
}

static void log_level_str(size_t n, enum msg_err want)
{
	char *s = xcalloc(n, 1);
	struct buf b;

	memset(s, 'a', n);
	buf_init(&b, FRAME_CAP);
	mpk_wr_array(&b, 3);
	mpk_wr_uint(&b, MSG_LOG_LEVEL);
	mpk_wr_uint(&b, 1);
	mpk_wr_str(&b, s, n);
	expect_err(b.p, b.len, MSG_PEER_HTTPD, want);
	buf_fini(&b);
	free(s);
}

static void status_children(uint32_t n, enum msg_err want)
{
	struct buf b;

	buf_init(&b, FRAME_CAP);
	mpk_wr_array(&b, 8);
	mpk_wr_uint(&b, MSG_STATUS_REPLY);
	mpk_wr_uint(&b, 1);
	mpk_wr_cstr(&b, "");
	mpk_wr_uint(&b, 0);
	mpk_wr_uint(&b, 0);
	mpk_wr_uint(&b, 0);
	mpk_wr_cstr(&b, "");
	mpk_wr_array(&b, n);
	for (uint32_t i = 0; i < n; i++)
		mpk_wr_array(&b, 0);
	expect_err(b.p, b.len, 0, want);
	buf_fini(&b);
}

START_TEST(test_limits)
{
	log_level_str(MSG_STR_LEN_MAX, MSG_OK);
	log_level_str(MSG_STR_LEN_MAX + 1, MSG_ETOOBIG);
	echo_bytes(MSG_BYTES_LEN_MAX, MSG_OK);
	echo_bytes(MSG_BYTES_LEN_MAX + 1, MSG_ETOOBIG);
	echo_strlist(MSG_LIST_LEN_MAX, MSG_OK);
	echo_strlist(MSG_LIST_LEN_MAX + 1, MSG_ETOOBIG);
	status_children(MSG_LIST_LEN_MAX, MSG_OK);
	status_children(MSG_LIST_LEN_MAX + 1, MSG_ETOOBIG);
}
END_TEST

/* Small input, large structs: STATS_REPLY with many daemons each holding
 * the most empty stats. Each [] in the input costs a struct msg_stat, so
 * the decode's memory budget must stop it. */
START_TEST(test_memory_budget)
{
	size_t per = (size_t)MSG_LIST_LEN_MAX * sizeof(struct msg_stat);
	uint32_t nd = (uint32_t)(MSG_DECODE_MEM_MAX / per) + 2;
	struct buf b;

	buf_init(&b, FRAME_CAP);
	mpk_wr_array(&b, 3);
	mpk_wr_uint(&b, MSG_STATS_REPLY);
	mpk_wr_uint(&b, 1);
	mpk_wr_array(&b, nd);
	for (uint32_t d = 0; d < nd; d++) {
		mpk_wr_array(&b, 3);
		mpk_wr_cstr(&b, "");
		mpk_wr_uint(&b, 0);
		mpk_wr_array(&b, MSG_LIST_LEN_MAX);
		for (uint32_t i = 0; i < MSG_LIST_LEN_MAX; i++)
			mpk_wr_array(&b, 0);
	}
	ck_assert(!b.err);
	ck_assert_uint_lt(b.len, 4u << 20);
	expect_err(b.p, b.len, 0, MSG_ETOOBIG);
	buf_fini(&b);
}
END_TEST

START_TEST(test_encode_cap)
{
	struct fill f = {1};
	struct msg m;
	struct buf b;

	fill_msg(&f, &m, MSG_ECHO);
	buf_init(&b, 16);
	ck_assert_int_eq(msg_encode(&m, &b), -1);
	ck_assert(b.err);
	buf_fini(&b);
	msg_free(&m);
	/* Over a decode limit: refused here rather than by the peer. */
	fill_msg(&f, &m, MSG_ECHO);
	m.u.echo.many.n = MSG_LIST_LEN_MAX + 1;
	buf_init(&b, FRAME_CAP);
	ck_assert_int_eq(msg_encode(&m, &b), -1);
	buf_fini(&b);
	m.u.echo.many.n = 2;
	msg_free(&m);
	memset(&m, 0, sizeof(m));
	m.type = MSG_LOG_LEVEL;
	m.u.log_level.level = xcalloc(MSG_STR_LEN_MAX + 2, 1);
	memset(m.u.log_level.level, 'a', MSG_STR_LEN_MAX + 1);
	buf_init(&b, FRAME_CAP);
	ck_assert_int_eq(msg_encode(&m, &b), -1);
	buf_fini(&b);
	m.u.log_level.level[MSG_STR_LEN_MAX] = '\0';
	buf_init(&b, FRAME_CAP);
	ck_assert_int_eq(msg_encode(&m, &b), 0);
	buf_fini(&b);
	msg_free(&m);
	/* Safe on a zeroed message and on NULL. */
	msg_free(&m);
	msg_free(NULL);
}
END_TEST

/* ---- printing and names --------------------------------------------------- */

static void expect_format(const struct msg *m, const char *want)
{
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(msg_format(m, &b), 0);
	ck_assert_str_eq(buf_cstr(&b), want);
	buf_fini(&b);
}

START_TEST(test_format)
{
	static char *ten[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
	char long_str[101], want[200];
	struct msg m;

	golden_fill(0, &m);
	m.req_id = 3;
	expect_format(&m, "PING req=3 nonce=5");
	golden_fill(1, &m);
	expect_format(&m, "RESULT req=300 status=404 error=\"not found\"");
	golden_fill(3, &m);
	expect_format(&m, "CHILD_STATE req=0 epoch=4294967295 child={name=\"gossipd\" pid=0 "
	                  "state=\"backoff\" ready=false restarts=3 uptime_ms=0 "
	                  "last_exit=\"signal 9\"}");
	golden_fill(4, &m);
	expect_format(&m,
	              "STATS_REPLY req=2 daemons=[{name=\"dnsd\" pid=7 stats=[{name=\"q\" kind=1 "
	              "value=0.5 labels={\"a\":\"b\"}}]}]");
	golden_fill(5, &m);
	expect_format(&m, "ECHO req=4660 u=0 i=-33 b=false d=1.5 s=\"\" raw=0x0102 ou=nil os=\"x\" "
	                  "ob=true list=[\"a\"] map={\"k\":\"v\"} one={name=\"c\" pid=0 state=\"\" "
	                  "ready=false restarts=0 uptime_ms=0 last_exit=nil} many=[]");

	memset(&m, 0, sizeof(m));
	m.type = MSG_STATUS;
	m.req_id = 9;
	expect_format(&m, "STATUS req=9");
	m.type = MSG_LOG_LEVEL;
	m.req_id = 0;
	m.u.log_level.level = "a\"b\\c\n";
	expect_format(&m, "LOG_LEVEL req=0 level=\"a\\\"b\\\\c\\x0a\"");
	/* Cut after 64 bytes. */
	memset(long_str, 'x', 100);
	long_str[100] = '\0';
	m.u.log_level.level = long_str;
	snprintf(want, sizeof(want), "LOG_LEVEL req=0 level=\"%.64s...\"", long_str);
	expect_format(&m, want);
	memset(&m, 0, sizeof(m));
	m.type = MSG_ECHO;
	m.u.echo.list.v = ten;
	m.u.echo.list.n = 10;
	m.u.echo.ou.has = true;
	m.u.echo.ou.v = 12;
	expect_format(&m, "ECHO req=0 u=0 i=0 b=false d=0 s=\"\" raw=0x ou=12 os=nil ob=nil "
	                  "list=[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",...+2] map={} "
	                  "one={name=\"\" pid=0 state=\"\" ready=false restarts=0 uptime_ms=0 "
	                  "last_exit=nil} many=[]");
	memset(&m, 0, sizeof(m));
	m.type = (enum msg_type)99;
	expect_format(&m, "UNKNOWN(99) req=0");
}
END_TEST

START_TEST(test_peers_and_strings)
{
	static const char *const names[] = {"musterd", "raftd", "gossipd",
	                                    "httpd",   "dnsd",  "healthd"};

	for (unsigned i = 0; i < NELEM(names); i++) {
		ck_assert_uint_eq(msg_peer_from_name(names[i], strlen(names[i])), 1u << i);
		ck_assert_str_eq(msg_peer_name(1u << i), names[i]);
		ck_assert(((1u << i) & ~MSG_PEER_ANY) == 0);
	}
	ck_assert_uint_eq(MSG_PEER_HEALTHD, 1u << 5);
	/* Not NUL-terminated: len decides. */
	ck_assert_uint_eq(msg_peer_from_name("raftdXYZ", 5), MSG_PEER_RAFTD);
	ck_assert_uint_eq(msg_peer_from_name("raftdXYZ", 8), 0);
	ck_assert_uint_eq(msg_peer_from_name("raft", 4), 0);
	ck_assert_uint_eq(msg_peer_from_name("", 0), 0);
	ck_assert_ptr_null(msg_peer_name(0));
	ck_assert_ptr_null(msg_peer_name(MSG_PEER_RAFTD | MSG_PEER_DNSD));
	ck_assert_ptr_null(msg_peer_name(1u << 6));

	ck_assert_str_eq(msg_type_name(MSG_PING), "PING");
	ck_assert_str_eq(msg_type_name(MSG_STATUS_REPLY), "STATUS_REPLY");
	ck_assert_str_eq(msg_type_name(MSG_NONE), "UNKNOWN");
	ck_assert_int_eq(MSG_HELLO, 1);
	ck_assert_int_eq(MSG_ECHO, 14);
	for (int e = MSG_OK; e <= MSG_ENOMEM; e++)
		for (int e2 = MSG_OK; e2 < e; e2++)
			ck_assert_str_ne(msg_err_str((enum msg_err)e),
			                 msg_err_str((enum msg_err)e2));
}
END_TEST

/* Every message deep-copied with msg_copy(): equal fields, separate memory;
 * and a record on its own through msg_rec_* (raftd stores records so). */
START_TEST(test_copy)
{
	struct fill f = {(unsigned)_i * 1000 + 7};
	struct msg a, b;
	struct buf b1, b2;

	if (!type_ok(_i))
		return;
	fill_msg(&f, &a, (enum msg_type)_i);
	ck_assert_int_eq(msg_copy(&b, &a), 0);
	cmp_msg(&a, &b, UINT32_MAX);
	encode(&a, &b1);
	msg_free(&a); /* b must not share a's memory (ASan would see it) */
	encode(&b, &b2);
	ck_assert_uint_eq(b1.len, b2.len);
	ck_assert_mem_eq(b1.p, b2.p, b1.len);
	msg_free(&b);
	buf_fini(&b1);
	buf_fini(&b2);
}
END_TEST

START_TEST(test_record_codec)
{
	struct msg_kv_entry e, d, c;
	struct buf b;
	uint8_t v[] = {0, 1, 2};

	memset(&e, 0, sizeof(e));
	e.key = "a/b";
	e.create_index = 3;
	e.modify_index = UINT64_MAX;
	e.flags = 0xe0f69a2baa414de0ull;
	e.value.p = v;
	e.value.len = sizeof(v);
	e.session = "s";
	buf_init(&b, 1 << 16);
	ck_assert_int_eq(msg_rec_encode_kv_entry(&e, &b), 0);
	ck_assert_int_eq(msg_rec_decode_kv_entry(b.p, b.len, &d), MSG_OK);
	ck_assert_str_eq(d.key, "a/b");
	ck_assert_uint_eq(d.modify_index, UINT64_MAX);
	ck_assert_uint_eq(d.flags, 0xe0f69a2baa414de0ull);
	ck_assert_uint_eq(d.value.len, 3);
	ck_assert_mem_eq(d.value.p, v, 3);
	ck_assert_int_eq(msg_rec_copy_kv_entry(&c, &d), 0);
	msg_rec_free_kv_entry(&d);
	ck_assert_str_eq(c.session, "s");
	msg_rec_free_kv_entry(&c);
	msg_rec_free_kv_entry(NULL);
	/* One value exactly: trailing bytes and truncation are refused. */
	ck_assert_int_eq(buf_putc(&b, 0xc0), 0);
	ck_assert_int_eq(msg_rec_decode_kv_entry(b.p, b.len, &d), MSG_EMALFORMED);
	ck_assert_ptr_null(d.key);
	ck_assert_int_ne(msg_rec_decode_kv_entry(b.p, b.len - 3, &d), MSG_OK);
	ck_assert_int_ne(msg_rec_decode_kv_entry(b.p, 0, &d), MSG_OK);
	buf_fini(&b);
}
END_TEST

static Suite *msg_suite(void)
{
	Suite *s = suite_create("msg");
	TCase *tc = tcase_create("every type");

	/* Loop tests run once per type number, so a message appended to
	 * msg.def is covered without touching this file. */
	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	tcase_add_loop_test(tc, test_roundtrip, 0, MSG_TYPE_MAX);
	tcase_add_loop_test(tc, test_roundtrip_zero, 0, MSG_TYPE_MAX);
	tcase_add_loop_test(tc, test_senders, 0, MSG_TYPE_MAX);
	tcase_add_loop_test(tc, test_truncated, 0, MSG_TYPE_MAX);
	tcase_add_loop_test(tc, test_extra_fields, 0, MSG_TYPE_MAX);
	tcase_add_loop_test(tc, test_missing_fields, 0, MSG_TYPE_MAX);
	tcase_add_loop_test(tc, test_wrong_field_type, 0, MSG_TYPE_MAX);
	tcase_add_loop_test(tc, test_enomem, 0, MSG_TYPE_MAX);
	tcase_add_loop_test(tc, test_copy, 0, MSG_TYPE_MAX);
	tcase_add_loop_test(tc, test_names, 0, MSG_TYPE_MAX + 1);
	suite_add_tcase(s, tc);

	tc = tcase_create("golden");
	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	tcase_add_loop_test(tc, test_golden_encode, 0, (int)NELEM(goldens));
	tcase_add_loop_test(tc, test_golden_decode, 0, (int)NELEM(goldens));
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	tcase_add_test(tc, test_frames_malformed);
	tcase_add_test(tc, test_unknown_type);
	tcase_add_test(tc, test_sender_rules);
	tcase_add_test(tc, test_defaults_by_hand);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_memory_budget);
	tcase_add_test(tc, test_encode_cap);
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_peers_and_strings);
	tcase_add_test(tc, test_record_codec);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(msg_suite());
}

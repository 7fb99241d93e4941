/* msg.c: the bus messages' encoder, decoder, free, printer and tables, expanded from msg.def. */
#include "msg.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mpk.h"

/* msg_format() cuts values short so one line stays one readable line. */
#define MSG_FMT_STR_MAX   64
#define MSG_FMT_BYTES_MAX 16
#define MSG_FMT_ITEMS_MAX 8

static const char *const msg_peer_names[] = {
    "musterd", "raftd", "gossipd", "httpd", "dnsd", "healthd",
};

unsigned msg_peer_from_name(const char *name, size_t len)
{
	for (unsigned i = 0; i < sizeof(msg_peer_names) / sizeof(msg_peer_names[0]); i++)
		if (mpk_str_eq(name, len, msg_peer_names[i]))
			return 1u << i;
	return 0;
}

const char *msg_peer_name(unsigned peer_bit)
{
	for (unsigned i = 0; i < sizeof(msg_peer_names) / sizeof(msg_peer_names[0]); i++)
		if (peer_bit == 1u << i)
			return msg_peer_names[i];
	return NULL;
}

/* Field counts: MSG_NF_<MESSAGE> and MSG_NF_REC_<record>. */
enum {
#define MSG_X_FIELD(k, fld)  +1
#define MSG_X_REC(fld, rec)  +1
#define MSG_X_LIST(fld, rec) +1
#define MSG_X_NONE
#define MSG_DEF_RECORD(rec, fields)                                 MSG_NF_REC_##rec = 0 fields,
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields) MSG_NF_##NAME = 0 fields,
#include "msg.def"
#undef MSG_X_FIELD
#undef MSG_X_REC
#undef MSG_X_LIST
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE
};

/* An id of 0 would be MSG_NONE; duplicate ids fail to compile in
 * msg_is_known()'s switch, ids out of order in msg_infos[]. */
#define MSG_DEF_RECORD(rec, fields)
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)                                \
	_Static_assert(MSG_##NAME > MSG_NONE, "message " #NAME ": id must be above 0");            \
	_Static_assert(((senders) & ~MSG_PEER_ANY) == 0, "message " #NAME ": unknown sender");     \
	_Static_assert(((receivers) & ~MSG_PEER_ANY) == 0, "message " #NAME ": unknown receiver");
#include "msg.def"
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE

/* ---- encoding ------------------------------------------------------------ */

static void msg_enc_u64(struct buf *w, const uint64_t *v)
{
	mpk_wr_uint(w, *v);
}

static void msg_enc_i64(struct buf *w, const int64_t *v)
{
	mpk_wr_int(w, *v);
}

static void msg_enc_bool(struct buf *w, const bool *v)
{
	mpk_wr_bool(w, *v);
}

static void msg_enc_f64(struct buf *w, const double *v)
{
	mpk_wr_f64(w, *v);
}

/* A value the peer's decoder would refuse (MSG_ETOOBIG) fails here
 * instead, where the error can be told to the caller. */
static void msg_enc_over(struct buf *w, size_t n, size_t max)
{
	if (n > max)
		w->err = true;
}

static void msg_enc_cstr(struct buf *w, const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0;

	msg_enc_over(w, len, MSG_STR_LEN_MAX);
	mpk_wr_str(w, s != NULL ? s : "", len);
}

static void msg_enc_str(struct buf *w, char *const *v)
{
	msg_enc_cstr(w, *v);
}

static void msg_enc_bytes(struct buf *w, const struct msg_bytes *v)
{
	assert(v->p != NULL || v->len == 0);
	msg_enc_over(w, v->len, MSG_BYTES_LEN_MAX);
	mpk_wr_bin(w, v->p, v->len);
}

static void msg_enc_opt_u64(struct buf *w, const struct msg_opt_u64 *v)
{
	if (v->has)
		mpk_wr_uint(w, v->v);
	else
		mpk_wr_nil(w);
}

static void msg_enc_opt_bool(struct buf *w, const struct msg_opt_bool *v)
{
	if (v->has)
		mpk_wr_bool(w, v->v);
	else
		mpk_wr_nil(w);
}

static void msg_enc_opt_str(struct buf *w, char *const *v)
{
	if (*v != NULL)
		msg_enc_cstr(w, *v);
	else
		mpk_wr_nil(w);
}

static void msg_enc_strlist(struct buf *w, const struct msg_strlist *v)
{
	assert(v->v != NULL || v->n == 0);
	msg_enc_over(w, v->n, MSG_LIST_LEN_MAX);
	mpk_wr_array(w, v->n);
	for (uint32_t i = 0; i < v->n && !w->err; i++)
		msg_enc_cstr(w, v->v[i]);
}

static void msg_enc_strmap(struct buf *w, const struct msg_strmap *v)
{
	assert((v->k != NULL && v->v != NULL) || v->n == 0);
	msg_enc_over(w, v->n, MSG_LIST_LEN_MAX);
	mpk_wr_map(w, v->n);
	for (uint32_t i = 0; i < v->n && !w->err; i++) {
		msg_enc_cstr(w, v->k[i]);
		msg_enc_cstr(w, v->v[i]);
	}
}

static void msg_enc_list(struct buf *w, const void *v, uint32_t n, size_t size,
                         void (*enc)(struct buf *, const void *))
{
	assert(v != NULL || n == 0);
	msg_enc_over(w, n, MSG_LIST_LEN_MAX);
	mpk_wr_array(w, n);
	for (uint32_t i = 0; i < n && !w->err; i++)
		enc(w, (const char *)v + i * size);
}

#define MSG_X_FIELD(k, fld) msg_enc_##k(w, &s->fld);
#define MSG_X_REC(fld, rec) msg_enc_rec_##rec(w, &s->fld);
#define MSG_X_LIST(fld, rec)                                                                       \
	msg_enc_list(w, s->fld.v, s->fld.n, sizeof(*s->fld.v), msg_enc_rec_##rec);
#define MSG_DEF_RECORD(rec, fields)                                                                \
	static void msg_enc_rec_##rec(struct buf *w, const void *p)                                \
	{                                                                                          \
		const struct msg_##rec *s = p;                                                     \
		(void)s;                                                                           \
		mpk_wr_array(w, MSG_NF_REC_##rec);                                                 \
		fields                                                                             \
	}
/* A message's fields; msg_encode() writes the array header, type and id. */
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)                                \
	static void msg_enc_body_##name(struct buf *w, const void *p)                              \
	{                                                                                          \
		const struct msg_##name *s = p;                                                    \
		(void)w;                                                                           \
		(void)s;                                                                           \
		fields                                                                             \
	}
#include "msg.def"
#undef MSG_X_FIELD
#undef MSG_X_REC
#undef MSG_X_LIST
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE

/* ---- decoding ------------------------------------------------------------ */

/* The decoder's state: the cursor, the first error, and what this decode
 * has allocated (MSG_DECODE_MEM_MAX) and how deep it is (MSG_DEPTH_MAX).
 * After the first error every step does nothing, so a failed decode just
 * falls through to msg_free(). */
struct msg_dec {
	struct cur c;
	enum msg_err err;
	size_t mem;
	unsigned depth;
};

static unsigned msg_fail_nth;

void msg_test_fail_alloc(unsigned nth)
{
	msg_fail_nth = nth;
}

static bool msg_dec_failed(struct msg_dec *d)
{
	if (d->err == MSG_OK && !cur_ok(&d->c))
		d->err = MSG_EMALFORMED;
	return d->err != MSG_OK;
}

static void msg_dec_fail(struct msg_dec *d, enum msg_err e)
{
	if (!msg_dec_failed(d))
		d->err = e;
	cur_fail(&d->c);
}

/* calloc(n, size) against the decode's budget; n > 0. */
static void *msg_dec_alloc(struct msg_dec *d, size_t n, size_t size)
{
	void *p;

	if (msg_dec_failed(d))
		return NULL;
	if (n > (MSG_DECODE_MEM_MAX - d->mem) / size) {
		msg_dec_fail(d, MSG_ETOOBIG);
		return NULL;
	}
	if (msg_fail_nth != 0 && --msg_fail_nth == 0)
		p = NULL;
	else
		p = calloc(n, size);
	if (p == NULL) {
		msg_dec_fail(d, MSG_ENOMEM);
		return NULL;
	}
	d->mem += n * size;
	return p;
}

/* A str as a heap string. An embedded NUL is refused: the C string would
 * silently say something shorter than the sender meant. */
static char *msg_dec_strdup(struct msg_dec *d)
{
	const char *p;
	size_t len;
	char *s;

	if (msg_dec_failed(d))
		return NULL;
	p = mpk_rd_str(&d->c, &len);
	if (msg_dec_failed(d))
		return NULL;
	if (len > MSG_STR_LEN_MAX) {
		msg_dec_fail(d, MSG_ETOOBIG);
		return NULL;
	}
	if (memchr(p, '\0', len) != NULL) {
		msg_dec_fail(d, MSG_EMALFORMED);
		return NULL;
	}
	s = msg_dec_alloc(d, len + 1, 1);
	if (s != NULL)
		memcpy(s, p, len);
	return s;
}

/* A list, strlist or strmap element count. */
static uint32_t msg_dec_count(struct msg_dec *d, uint32_t n)
{
	if (msg_dec_failed(d))
		return 0;
	if (n > MSG_LIST_LEN_MAX) {
		msg_dec_fail(d, MSG_ETOOBIG);
		return 0;
	}
	return n;
}

static void msg_dec_u64(struct msg_dec *d, uint64_t *v, bool present)
{
	if (present)
		*v = mpk_rd_u64(&d->c);
}

static void msg_dec_i64(struct msg_dec *d, int64_t *v, bool present)
{
	if (present)
		*v = mpk_rd_i64(&d->c);
}

static void msg_dec_bool(struct msg_dec *d, bool *v, bool present)
{
	if (present)
		*v = mpk_rd_bool(&d->c);
}

static void msg_dec_f64(struct msg_dec *d, double *v, bool present)
{
	if (present)
		*v = mpk_rd_f64(&d->c);
}

/* A missing str is "", so a receiver never meets NULL. */
static void msg_dec_str(struct msg_dec *d, char **v, bool present)
{
	*v = present ? msg_dec_strdup(d) : msg_dec_alloc(d, 1, 1);
}

static void msg_dec_bytes(struct msg_dec *d, struct msg_bytes *v, bool present)
{
	const uint8_t *p;
	size_t len;

	if (!present || msg_dec_failed(d))
		return;
	p = mpk_rd_bin(&d->c, &len);
	if (msg_dec_failed(d) || len == 0)
		return;
	if (len > MSG_BYTES_LEN_MAX) {
		msg_dec_fail(d, MSG_ETOOBIG);
		return;
	}
	v->p = msg_dec_alloc(d, len, 1);
	if (v->p == NULL)
		return;
	memcpy(v->p, p, len);
	v->len = len;
}

static void msg_dec_opt_u64(struct msg_dec *d, struct msg_opt_u64 *v, bool present)
{
	if (!present || mpk_rd_try_nil(&d->c))
		return;
	v->v = mpk_rd_u64(&d->c);
	v->has = true;
}

static void msg_dec_opt_bool(struct msg_dec *d, struct msg_opt_bool *v, bool present)
{
	if (!present || mpk_rd_try_nil(&d->c))
		return;
	v->v = mpk_rd_bool(&d->c);
	v->has = true;
}

static void msg_dec_opt_str(struct msg_dec *d, char **v, bool present)
{
	if (!present || mpk_rd_try_nil(&d->c))
		return;
	*v = msg_dec_strdup(d);
}

static void msg_dec_strlist(struct msg_dec *d, struct msg_strlist *v, bool present)
{
	uint32_t n;

	if (!present || msg_dec_failed(d))
		return;
	n = msg_dec_count(d, mpk_rd_array(&d->c));
	if (n == 0)
		return;
	v->v = msg_dec_alloc(d, n, sizeof(*v->v));
	if (v->v == NULL)
		return;
	v->n = n;
	for (uint32_t i = 0; i < n && !msg_dec_failed(d); i++)
		v->v[i] = msg_dec_strdup(d);
}

static void msg_dec_strmap(struct msg_dec *d, struct msg_strmap *v, bool present)
{
	uint32_t n;

	if (!present || msg_dec_failed(d))
		return;
	n = msg_dec_count(d, mpk_rd_map(&d->c));
	if (n == 0)
		return;
	v->k = msg_dec_alloc(d, n, sizeof(*v->k));
	v->v = msg_dec_alloc(d, n, sizeof(*v->v));
	/* Set even if one failed: msg_free() copes with a NULL array. */
	v->n = n;
	for (uint32_t i = 0; i < n && !msg_dec_failed(d); i++) {
		v->k[i] = msg_dec_strdup(d);
		v->v[i] = msg_dec_strdup(d);
	}
}

/* Extra trailing fields from a newer sender are skipped unread. */
static void msg_dec_skip_extra(struct msg_dec *d, uint32_t cnt, uint32_t nfields)
{
	for (uint32_t i = nfields; i < cnt && !msg_dec_failed(d); i++)
		mpk_skip(&d->c);
}

static void msg_dec_rec(struct msg_dec *d, void *p, bool present, uint32_t nfields,
                        void (*dec)(struct msg_dec *, void *, uint32_t))
{
	uint32_t cnt = 0;

	if (msg_dec_failed(d))
		return;
	if (present)
		cnt = mpk_rd_array(&d->c);
	if (d->depth >= MSG_DEPTH_MAX) {
		msg_dec_fail(d, MSG_ETOOBIG);
		return;
	}
	d->depth++;
	dec(d, p, cnt);
	d->depth--;
	msg_dec_skip_extra(d, cnt, nfields);
}

/* Returns the array for a msg_<rec>_list and sets *n. */
static void *msg_dec_list(struct msg_dec *d, uint32_t *n, bool present, size_t size,
                          uint32_t nfields, void (*dec)(struct msg_dec *, void *, uint32_t))
{
	uint32_t cnt;
	char *v;

	if (!present || msg_dec_failed(d))
		return NULL;
	cnt = msg_dec_count(d, mpk_rd_array(&d->c));
	if (cnt == 0)
		return NULL;
	v = msg_dec_alloc(d, cnt, size);
	if (v == NULL)
		return NULL;
	*n = cnt;
	for (uint32_t i = 0; i < cnt && !msg_dec_failed(d); i++)
		msg_dec_rec(d, v + i * size, true, nfields, dec);
	return v;
}

#define MSG_X_FIELD(k, fld) msg_dec_##k(d, &s->fld, i++ < cnt);
#define MSG_X_REC(fld, rec) msg_dec_rec(d, &s->fld, i++ < cnt, MSG_NF_REC_##rec, msg_dec_rec_##rec);
#define MSG_X_LIST(fld, rec)                                                                       \
	s->fld.v = msg_dec_list(d, &s->fld.n, i++ < cnt, sizeof(*s->fld.v), MSG_NF_REC_##rec,      \
	                        msg_dec_rec_##rec);
#define MSG_DEC_BODY(fn, type, fields)                                                             \
	static void fn(struct msg_dec *d, void *p, uint32_t cnt)                                   \
	{                                                                                          \
		type *s = p;                                                                       \
		uint32_t i = 0;                                                                    \
		(void)d;                                                                           \
		(void)s;                                                                           \
		(void)i;                                                                           \
		(void)cnt;                                                                         \
		fields                                                                             \
	}
#define MSG_DEF_RECORD(rec, fields) MSG_DEC_BODY(msg_dec_rec_##rec, struct msg_##rec, fields)
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)                                \
	MSG_DEC_BODY(msg_dec_body_##name, struct msg_##name, fields)
#include "msg.def"
#undef MSG_X_FIELD
#undef MSG_X_REC
#undef MSG_X_LIST
#undef MSG_DEC_BODY
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE

/* ---- freeing ------------------------------------------------------------- */

static void msg_free_u64(uint64_t *v)
{
	(void)v;
}

static void msg_free_i64(int64_t *v)
{
	(void)v;
}

static void msg_free_bool(bool *v)
{
	(void)v;
}

static void msg_free_f64(double *v)
{
	(void)v;
}

static void msg_free_opt_u64(struct msg_opt_u64 *v)
{
	(void)v;
}

static void msg_free_opt_bool(struct msg_opt_bool *v)
{
	(void)v;
}

static void msg_free_str(char **v)
{
	free(*v);
}

static void msg_free_opt_str(char **v)
{
	free(*v);
}

static void msg_free_bytes(struct msg_bytes *v)
{
	free(v->p);
}

static void msg_free_strlist(struct msg_strlist *v)
{
	for (uint32_t i = 0; v->v != NULL && i < v->n; i++)
		free(v->v[i]);
	free(v->v);
}

static void msg_free_strmap(struct msg_strmap *v)
{
	for (uint32_t i = 0; i < v->n; i++) {
		if (v->k != NULL)
			free(v->k[i]);
		if (v->v != NULL)
			free(v->v[i]);
	}
	free(v->k);
	free(v->v);
}

static void msg_free_list(void *v, uint32_t n, size_t size, void (*fini)(void *))
{
	for (uint32_t i = 0; v != NULL && i < n; i++)
		fini((char *)v + i * size);
	free(v);
}

#define MSG_X_FIELD(k, fld) msg_free_##k(&s->fld);
#define MSG_X_REC(fld, rec) msg_free_rec_##rec(&s->fld);
#define MSG_X_LIST(fld, rec)                                                                       \
	msg_free_list(s->fld.v, s->fld.n, sizeof(*s->fld.v), msg_free_rec_##rec);
#define MSG_FREE_BODY(fn, type, fields)                                                            \
	static void fn(void *p)                                                                    \
	{                                                                                          \
		type *s = p;                                                                       \
		(void)s;                                                                           \
		fields                                                                             \
	}
#define MSG_DEF_RECORD(rec, fields) MSG_FREE_BODY(msg_free_rec_##rec, struct msg_##rec, fields)
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)                                \
	MSG_FREE_BODY(msg_free_body_##name, struct msg_##name, fields)
#include "msg.def"
#undef MSG_X_FIELD
#undef MSG_X_REC
#undef MSG_X_LIST
#undef MSG_FREE_BODY
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE

/* ---- printing ------------------------------------------------------------ */

static void msg_fmt_cstr(struct buf *o, const char *s)
{
	size_t i;

	buf_putc(o, '"');
	for (i = 0; s[i] != '\0' && i < MSG_FMT_STR_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			buf_printf(o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			buf_printf(o, "\\x%02x", c);
		else
			buf_putc(o, c);
	}
	buf_printf(o, "%s\"", s[i] != '\0' ? "..." : "");
}

static void msg_fmt_u64(struct buf *o, const uint64_t *v)
{
	buf_printf(o, "%" PRIu64, *v);
}

static void msg_fmt_i64(struct buf *o, const int64_t *v)
{
	buf_printf(o, "%" PRId64, *v);
}

static void msg_fmt_bool(struct buf *o, const bool *v)
{
	buf_printf(o, "%s", *v ? "true" : "false");
}

static void msg_fmt_f64(struct buf *o, const double *v)
{
	buf_printf(o, "%g", *v);
}

static void msg_fmt_str(struct buf *o, char *const *v)
{
	msg_fmt_cstr(o, *v != NULL ? *v : "");
}

static void msg_fmt_bytes(struct buf *o, const struct msg_bytes *v)
{
	size_t i;

	buf_printf(o, "0x");
	for (i = 0; i < v->len && i < MSG_FMT_BYTES_MAX; i++)
		buf_printf(o, "%02x", v->p[i]);
	if (i < v->len)
		buf_printf(o, "...(%zu bytes)", v->len);
}

static void msg_fmt_opt_u64(struct buf *o, const struct msg_opt_u64 *v)
{
	if (v->has)
		msg_fmt_u64(o, &v->v);
	else
		buf_printf(o, "nil");
}

static void msg_fmt_opt_bool(struct buf *o, const struct msg_opt_bool *v)
{
	if (v->has)
		msg_fmt_bool(o, &v->v);
	else
		buf_printf(o, "nil");
}

static void msg_fmt_opt_str(struct buf *o, char *const *v)
{
	if (*v != NULL)
		msg_fmt_cstr(o, *v);
	else
		buf_printf(o, "nil");
}

/* Closes a list or map, saying how many items were left out. */
static void msg_fmt_close(struct buf *o, uint32_t n, char close)
{
	if (n > MSG_FMT_ITEMS_MAX)
		buf_printf(o, ",...+%" PRIu32, n - MSG_FMT_ITEMS_MAX);
	buf_putc(o, (uint8_t)close);
}

static void msg_fmt_strlist(struct buf *o, const struct msg_strlist *v)
{
	buf_putc(o, '[');
	for (uint32_t i = 0; i < v->n && i < MSG_FMT_ITEMS_MAX; i++) {
		if (i > 0)
			buf_putc(o, ',');
		msg_fmt_str(o, &v->v[i]);
	}
	msg_fmt_close(o, v->n, ']');
}

static void msg_fmt_strmap(struct buf *o, const struct msg_strmap *v)
{
	buf_putc(o, '{');
	for (uint32_t i = 0; i < v->n && i < MSG_FMT_ITEMS_MAX; i++) {
		if (i > 0)
			buf_putc(o, ',');
		msg_fmt_str(o, &v->k[i]);
		buf_putc(o, ':');
		msg_fmt_str(o, &v->v[i]);
	}
	msg_fmt_close(o, v->n, '}');
}

static void msg_fmt_list(struct buf *o, const void *v, uint32_t n, size_t size,
                         void (*fmt)(struct buf *, const void *))
{
	buf_putc(o, '[');
	for (uint32_t i = 0; i < n && i < MSG_FMT_ITEMS_MAX; i++) {
		if (i > 0)
			buf_putc(o, ',');
		fmt(o, (const char *)v + i * size);
	}
	msg_fmt_close(o, n, ']');
}

/* Each field is ` name=value`; a record's are `{name=value ...}`. */
#define MSG_FMT_KEY(fld)                                                                           \
	buf_printf(o, "%s" #fld "=", sep);                                                         \
	sep = " ";
#define MSG_X_FIELD(k, fld) MSG_FMT_KEY(fld) msg_fmt_##k(o, &s->fld);
#define MSG_X_REC(fld, rec) MSG_FMT_KEY(fld) msg_fmt_rec_##rec(o, &s->fld);
#define MSG_X_LIST(fld, rec)                                                                       \
	MSG_FMT_KEY(fld) msg_fmt_list(o, s->fld.v, s->fld.n, sizeof(*s->fld.v), msg_fmt_rec_##rec);
#define MSG_DEF_RECORD(rec, fields)                                                                \
	static void msg_fmt_rec_##rec(struct buf *o, const void *p)                                \
	{                                                                                          \
		const struct msg_##rec *s = p;                                                     \
		const char *sep = "";                                                              \
		(void)s;                                                                           \
		(void)sep;                                                                         \
		buf_putc(o, '{');                                                                  \
		fields buf_putc(o, '}');                                                           \
	}
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)                                \
	static void msg_fmt_body_##name(struct buf *o, const void *p)                              \
	{                                                                                          \
		const struct msg_##name *s = p;                                                    \
		const char *sep = " ";                                                             \
		(void)o;                                                                           \
		(void)s;                                                                           \
		(void)sep;                                                                         \
		fields                                                                             \
	}
#include "msg.def"
#undef MSG_FMT_KEY
#undef MSG_X_FIELD
#undef MSG_X_REC
#undef MSG_X_LIST
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE
#undef MSG_X_NONE

/* ---- the table ----------------------------------------------------------- */

struct msg_info {
	const char *name;
	unsigned senders;
	unsigned receivers;
	uint32_t nfields;
	void (*enc)(struct buf *w, const void *p);
	/* Decodes the fields, cnt of which are in the input; the others get
	 * their defaults. */
	void (*dec)(struct msg_dec *d, void *p, uint32_t cnt);
	void (*fini)(void *p);
	void (*fmt)(struct buf *o, const void *p);
};

static const struct msg_info msg_infos[MSG_TYPE_MAX] = {
#define MSG_DEF_RECORD(rec, fields)
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)                                \
	[MSG_##NAME] = {#NAME,                                                                     \
	                senders,                                                                   \
	                receivers,                                                                 \
	                MSG_NF_##NAME,                                                             \
	                msg_enc_body_##name,                                                       \
	                msg_dec_body_##name,                                                       \
	                msg_free_body_##name,                                                      \
	                msg_fmt_body_##name},
#include "msg.def"
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE
};

bool msg_is_known(uint64_t type)
{
	switch (type) {
#define MSG_DEF_RECORD(rec, fields)
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields) case MSG_##NAME:
#include "msg.def"
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE
		return true;
	default:
		return false;
	}
}

const char *msg_type_name(enum msg_type t)
{
	return msg_is_known(t) ? msg_infos[t].name : "UNKNOWN";
}

bool msg_sender_allowed(enum msg_type t, unsigned sender)
{
	return msg_is_known(t) && sender != 0 && (sender & ~msg_infos[t].senders) == 0;
}

bool msg_receiver_allowed(enum msg_type t, unsigned receiver)
{
	return msg_is_known(t) && receiver != 0 && (receiver & ~msg_infos[t].receivers) == 0;
}

const char *msg_err_str(enum msg_err e)
{
	switch (e) {
	case MSG_OK:
		return "ok";
	case MSG_EMALFORMED:
		return "malformed";
	case MSG_EUNKNOWN_TYPE:
		return "unknown message type";
	case MSG_ESENDER:
		return "sender not allowed";
	case MSG_ETOOBIG:
		return "over a size limit";
	case MSG_ENOMEM:
		return "out of memory";
	}
	return "unknown error";
}

/* ---- records on their own ------------------------------------------------ */

#define MSG_DEF_RECORD(rec, fields)                                                                \
	int msg_rec_encode_##rec(const struct msg_##rec *r, struct buf *out)                       \
	{                                                                                          \
		msg_enc_rec_##rec(out, r);                                                         \
		return out->err ? -1 : 0;                                                          \
	}                                                                                          \
	enum msg_err msg_rec_decode_##rec(const void *p, size_t len, struct msg_##rec *out)        \
	{                                                                                          \
		struct msg_dec d;                                                                  \
                                                                                                   \
		memset(out, 0, sizeof(*out));                                                      \
		memset(&d, 0, sizeof(d));                                                          \
		cur_init(&d.c, p, len);                                                            \
		msg_dec_rec(&d, out, true, MSG_NF_REC_##rec, msg_dec_rec_##rec);                   \
		if (!msg_dec_failed(&d) && cur_left(&d.c) != 0)                                    \
			d.err = MSG_EMALFORMED;                                                    \
		if (!msg_dec_failed(&d) && !cur_ok(&d.c))                                          \
			d.err = MSG_EMALFORMED;                                                    \
		if (d.err != MSG_OK) {                                                             \
			msg_rec_free_##rec(out);                                                   \
			return d.err;                                                              \
		}                                                                                  \
		return MSG_OK;                                                                     \
	}                                                                                          \
	void msg_rec_free_##rec(struct msg_##rec *r)                                               \
	{                                                                                          \
		if (r == NULL)                                                                     \
			return;                                                                    \
		msg_free_rec_##rec(r);                                                             \
		memset(r, 0, sizeof(*r));                                                          \
	}                                                                                          \
	int msg_rec_copy_##rec(struct msg_##rec *dst, const struct msg_##rec *src)                 \
	{                                                                                          \
		struct buf b;                                                                      \
		int rc = -1;                                                                       \
                                                                                                   \
		memset(dst, 0, sizeof(*dst));                                                      \
		buf_init(&b, MSG_DECODE_MEM_MAX);                                                  \
		if (msg_rec_encode_##rec(src, &b) == 0 &&                                          \
		    msg_rec_decode_##rec(b.p, b.len, dst) == MSG_OK)                               \
			rc = 0;                                                                    \
		buf_fini(&b);                                                                      \
		return rc;                                                                         \
	}
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)
#include "msg.def"
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE

int msg_copy(struct msg *dst, const struct msg *src)
{
	struct buf b;
	int rc = -1;

	memset(dst, 0, sizeof(*dst));
	buf_init(&b, MSG_DECODE_MEM_MAX);
	if (msg_encode(src, &b) == 0 && msg_decode(b.p, b.len, 0, dst) == MSG_OK)
		rc = 0;
	buf_fini(&b);
	return rc;
}

/* ---- entry points -------------------------------------------------------- */

int msg_encode(const struct msg *m, struct buf *out)
{
	const struct msg_info *mi;

	assert(msg_is_known(m->type));
	mi = &msg_infos[m->type];
	mpk_wr_array(out, 2 + mi->nfields);
	mpk_wr_uint(out, (uint64_t)m->type);
	mpk_wr_uint(out, m->req_id);
	mi->enc(out, &m->u);
	return out->err ? -1 : 0;
}

enum msg_err msg_decode(const void *p, size_t len, unsigned sender, struct msg *out)
{
	const struct msg_info *mi;
	struct msg_dec d;
	uint32_t cnt;
	uint64_t type;

	memset(out, 0, sizeof(*out));
	memset(&d, 0, sizeof(d));
	cur_init(&d.c, p, len);
	cnt = mpk_rd_array(&d.c);
	type = mpk_rd_u64(&d.c);
	if (!cur_ok(&d.c) || cnt < 2)
		return MSG_EMALFORMED;
	if (!msg_is_known(type))
		return MSG_EUNKNOWN_TYPE;
	if (sender != 0 && !msg_sender_allowed((enum msg_type)type, sender))
		return MSG_ESENDER;
	mi = &msg_infos[type];
	out->type = (enum msg_type)type;
	out->req_id = mpk_rd_u64(&d.c);
	mi->dec(&d, &out->u, cnt - 2);
	msg_dec_skip_extra(&d, cnt - 2, mi->nfields);
	/* One frame is one value: trailing bytes mean a confused sender. */
	if (!msg_dec_failed(&d) && cur_left(&d.c) != 0)
		d.err = MSG_EMALFORMED;
	if (d.err != MSG_OK) {
		msg_free(out);
		return d.err;
	}
	return MSG_OK;
}

void msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	if (msg_is_known(m->type))
		msg_infos[m->type].fini(&m->u);
	memset(m, 0, sizeof(*m));
}

int msg_format(const struct msg *m, struct buf *out)
{
	if (!msg_is_known(m->type)) {
		buf_printf(out, "UNKNOWN(%u) req=%" PRIu64, (unsigned)m->type, m->req_id);
	} else {
		buf_printf(out, "%s req=%" PRIu64, msg_infos[m->type].name, m->req_id);
		msg_infos[m->type].fmt(out, &m->u);
	}
	return out->err ? -1 : 0;
}

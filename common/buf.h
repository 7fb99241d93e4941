/* buf.h: a bounded growable byte buffer and a read cursor whose first error sticks. */
#ifndef MUSTER_BUF_H
#define MUSTER_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A buffer that grows on demand but never beyond cap (a limit on
 * everything): an append that would pass it fails and sets the sticky
 * error, so a writer checks once at the end. */
struct buf {
	uint8_t *p;
	size_t len;
	size_t size;
	size_t cap;
	bool err;
};

void buf_init(struct buf *b, size_t cap);
void buf_fini(struct buf *b);
void buf_reset(struct buf *b);
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_putc(struct buf *b, uint8_t c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_put_be16(struct buf *b, uint16_t v);
int buf_put_be32(struct buf *b, uint32_t v);
int buf_put_be64(struct buf *b, uint64_t v);

/* Big-endian integers at a fixed place (keys, headers) the caller sized. */
static inline void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void be64_put(uint8_t *p, uint64_t v)
{
	be32_put(p, (uint32_t)(v >> 32));
	be32_put(p + 4, (uint32_t)v);
}

static inline uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t be64_get(const uint8_t *p)
{
	return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}
/* Drop n bytes from the front (a consumed prefix). */
void buf_consume(struct buf *b, size_t n);
/* NUL-terminated view of the contents (the NUL is not counted in len);
 * NULL when that would pass cap. */
const char *buf_cstr(struct buf *b);

/* A read cursor over bytes it does not own. Every getter checks bounds;
 * the first failure sets err, after which every getter returns zero
 * values and the position stays put (RFC-style parsers check once). */
struct cur {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool err;
};

void cur_init(struct cur *c, const void *p, size_t len);
static inline size_t cur_left(const struct cur *c)
{
	return c->err ? 0 : c->len - c->off;
}
static inline bool cur_ok(const struct cur *c)
{
	return !c->err;
}
/* Marks the cursor failed (e.g. a value out of range); returns -1. */
int cur_fail(struct cur *c);
uint8_t cur_u8(struct cur *c);
uint16_t cur_be16(struct cur *c);
uint32_t cur_be32(struct cur *c);
uint64_t cur_be64(struct cur *c);
/* Copies n bytes to dst (zero-filled on error). */
void cur_copy(struct cur *c, void *dst, size_t n);
/* Returns a pointer to the next n bytes and skips them, or NULL. */
const uint8_t *cur_take(struct cur *c, size_t n);
void cur_skip(struct cur *c, size_t n);
/* Moves to an absolute offset (DNS compression pointers). */
void cur_seek(struct cur *c, size_t off);

#endif

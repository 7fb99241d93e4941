/* buf.c: a bounded growable byte buffer and a read cursor whose first error sticks. */
#include "buf.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->cap = cap;
}

void buf_fini(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->err = false;
}

int buf_reserve(struct buf *b, size_t n)
{
	size_t need, size;
	uint8_t *p;

	if (b->err)
		return -1;
	/* +1 keeps room for buf_cstr()'s terminator without a second grow. */
	if (n > b->cap || b->len > b->cap - n) {
		b->err = true;
		return -1;
	}
	need = b->len + n + 1;
	if (need <= b->size)
		return 0;
	size = b->size ? b->size : 64;
	while (size < need)
		size *= 2;
	if (size > b->cap + 1)
		size = b->cap + 1;
	p = realloc(b->p, size);
	if (p == NULL) {
		b->err = true;
		return -1;
	}
	b->p = p;
	b->size = size;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int buf_putc(struct buf *b, uint8_t c)
{
	return buf_append(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) != 0) {
		b->err = true;
		return -1;
	}
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int buf_put_be16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	return buf_append(b, x, 2);
}

int buf_put_be32(struct buf *b, uint32_t v)
{
	uint8_t x[4];

	be32_put(x, v);
	return buf_append(b, x, 4);
}

int buf_put_be64(struct buf *b, uint64_t v)
{
	if (buf_put_be32(b, (uint32_t)(v >> 32)) != 0)
		return -1;
	return buf_put_be32(b, (uint32_t)v);
}

void buf_consume(struct buf *b, size_t n)
{
	assert(n <= b->len);
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

const char *buf_cstr(struct buf *b)
{
	if (buf_reserve(b, 0) != 0)
		return NULL;
	if (b->p == NULL)
		return "";
	b->p[b->len] = '\0';
	return (const char *)b->p;
}

void cur_init(struct cur *c, const void *p, size_t len)
{
	c->p = p;
	c->len = len;
	c->off = 0;
	c->err = false;
}

int cur_fail(struct cur *c)
{
	c->err = true;
	return -1;
}

const uint8_t *cur_take(struct cur *c, size_t n)
{
	const uint8_t *p;

	if (c->err || n > c->len - c->off) {
		c->err = true;
		return NULL;
	}
	p = c->p + c->off;
	c->off += n;
	return p;
}

void cur_skip(struct cur *c, size_t n)
{
	(void)cur_take(c, n);
}

void cur_seek(struct cur *c, size_t off)
{
	if (c->err || off > c->len) {
		c->err = true;
		return;
	}
	c->off = off;
}

void cur_copy(struct cur *c, void *dst, size_t n)
{
	const uint8_t *p = cur_take(c, n);

	if (p != NULL)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

uint8_t cur_u8(struct cur *c)
{
	const uint8_t *p = cur_take(c, 1);

	return p ? p[0] : 0;
}

uint16_t cur_be16(struct cur *c)
{
	const uint8_t *p = cur_take(c, 2);

	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t cur_be32(struct cur *c)
{
	const uint8_t *p = cur_take(c, 4);

	return p ? be32_get(p) : 0;
}

uint64_t cur_be64(struct cur *c)
{
	uint64_t hi = cur_be32(c);
	uint64_t lo = cur_be32(c);

	return c->err ? 0 : hi << 32 | lo;
}

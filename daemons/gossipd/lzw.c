/* lzw.c: Go's compress/lzw, LSB order, 8-bit literals: memberlist's compression, pure. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lzw.h"
#include "xalloc.h"

/*
 * The format (Go's compress/lzw documentation, the GIF/TIFF flavour of
 * LZW): codes are packed least significant bit first; they start
 * LZW_LIT_WIDTH + 1 bits wide and widen by one bit when the next code to be
 * assigned reaches 2^width, up to 12 bits. Codes below 256 are literals,
 * 256 clears the table, 257 ends the stream. Go's writer sends a clear code
 * first, and a clear code (resetting its table) as soon as code 4095 would
 * be assigned, so a stream never runs out of codes; its reader accepts any
 * stream, keeping a full table until a clear code comes.
 */

/* The encoder's dictionary: (prefix code, next byte) -> code, open
 * addressing at a load of at most 1/4. A slot holds key << 12 | code, and
 * 0 is free (no code below 258 is ever stored). */
#define LZW_TABLE_BITS 14
#define LZW_TABLE_SIZE (1u << LZW_TABLE_BITS)
#define LZW_TABLE_MASK (LZW_TABLE_SIZE - 1)
#define LZW_CODES      (1u << LZW_MAX_WIDTH)
/* The decoder's "no previous code" (after a clear code, or a full table). */
#define LZW_NONE 0xffffu

struct lzw_enc {
	struct buf *out;
	uint32_t bits;
	unsigned nbits;
	unsigned width;
	uint32_t hi;       /* the code the next new string gets */
	uint32_t overflow; /* the value of hi at which codes widen */
	uint32_t *table;
};

static void lzw_put(struct lzw_enc *e, uint32_t code)
{
	e->bits |= code << e->nbits;
	e->nbits += e->width;
	while (e->nbits >= 8) {
		buf_putc(e->out, (uint8_t)e->bits);
		e->bits >>= 8;
		e->nbits -= 8;
	}
}

static void lzw_reset(struct lzw_enc *e)
{
	e->width = LZW_LIT_WIDTH + 1;
	e->hi = LZW_EOF;
	e->overflow = LZW_CLEAR << 1;
	memset(e->table, 0, LZW_TABLE_SIZE * sizeof(*e->table));
}

/* A code was sent: one more string is known. When that would use the last
 * code, Go's writer sends a clear code and starts over (returns true). */
static bool lzw_next(struct lzw_enc *e)
{
	e->hi++;
	if (e->hi == e->overflow) {
		e->width++;
		e->overflow <<= 1;
	}
	if (e->hi == LZW_MAX_CODE) {
		lzw_put(e, LZW_CLEAR);
		lzw_reset(e);
		return true;
	}
	return false;
}

static uint32_t lzw_hash(uint32_t key)
{
	return (key * 2654435761u) >> (32 - LZW_TABLE_BITS);
}

int lzw_encode(const uint8_t *in, size_t len, struct buf *out)
{
	struct lzw_enc e = {.out = out};
	uint32_t code, key, h;
	bool found;

	e.table = xmalloc(LZW_TABLE_SIZE * sizeof(*e.table));
	lzw_reset(&e);
	lzw_put(&e, LZW_CLEAR);
	if (len > 0) {
		code = in[0];
		for (size_t i = 1; i < len; i++) {
			key = code << 8 | in[i];
			found = false;
			for (h = lzw_hash(key); e.table[h] != 0; h = (h + 1) & LZW_TABLE_MASK) {
				if (e.table[h] >> LZW_MAX_WIDTH == key) {
					code = e.table[h] & LZW_MAX_CODE;
					found = true;
					break;
				}
			}
			if (found)
				continue;
			lzw_put(&e, code);
			code = in[i];
			if (lzw_next(&e))
				continue;
			/* h is the free slot the probe ended on. */
			e.table[h] = key << LZW_MAX_WIDTH | e.hi;
		}
		lzw_put(&e, code);
		(void)lzw_next(&e);
	}
	lzw_put(&e, LZW_EOF);
	if (e.nbits > 0)
		buf_putc(out, (uint8_t)e.bits);
	free(e.table);
	return out->err ? -1 : 0;
}

int lzw_decode(const uint8_t *in, size_t len, size_t out_max, struct buf *out, const char **why)
{
	uint16_t prefix[LZW_CODES];
	uint8_t suffix[LZW_CODES];
	/* One expansion, last byte first: at most one byte per code. */
	uint8_t stack[LZW_CODES + 1];
	uint32_t bits = 0, code, c, hi = LZW_EOF, overflow = 1u << (LZW_LIT_WIDTH + 1);
	uint32_t last = LZW_NONE;
	unsigned nbits = 0, width = LZW_LIT_WIDTH + 1;
	size_t pos = 0, n, produced = 0;

	/* Entries are read only below hi, except the one a full table leaves
	 * at hi, which Go reads as it finds it: zero at first. */
	memset(prefix, 0, sizeof(prefix));
	memset(suffix, 0, sizeof(suffix));
	for (;;) {
		while (nbits < width) {
			if (pos >= len) {
				*why = "lzw: unexpected EOF";
				return -1;
			}
			bits |= (uint32_t)in[pos++] << nbits;
			nbits += 8;
		}
		code = bits & ((1u << width) - 1);
		bits >>= width;
		nbits -= width;
		if (code == LZW_CLEAR) {
			width = LZW_LIT_WIDTH + 1;
			hi = LZW_EOF;
			overflow = 1u << width;
			last = LZW_NONE;
			continue;
		}
		if (code == LZW_EOF)
			return out->err ? -1 : 0;
		if (code > hi) {
			*why = "lzw: invalid code";
			return -1;
		}
		n = 0;
		c = code;
		if (code >= LZW_CLEAR && code == hi && last != LZW_NONE) {
			/* The string not yet in the table: the previous one plus
			 * its own first byte (KwKwK). */
			for (c = last; c >= LZW_CLEAR; c = prefix[c])
				;
			stack[n++] = (uint8_t)c;
			c = last;
		}
		/* prefix[x] < x for every entry, so the walk ends. */
		while (c >= LZW_CLEAR && n < LZW_CODES) {
			stack[n++] = suffix[c];
			c = prefix[c];
		}
		stack[n++] = (uint8_t)c;
		if (out_max - produced < n) {
			*why = "lzw: decompressed size over limit";
			return -1;
		}
		produced += n;
		if (buf_reserve(out, n) != 0) {
			*why = "lzw: output buffer full";
			return -1;
		}
		while (n > 0)
			out->p[out->len++] = stack[--n];
		if (last != LZW_NONE) {
			suffix[hi] = (uint8_t)c;
			prefix[hi] = (uint16_t)last;
		}
		last = code;
		hi++;
		if (hi >= overflow) {
			if (width == LZW_MAX_WIDTH) {
				/* Table full: no new entries until a clear code. */
				last = LZW_NONE;
				hi--;
			} else {
				width++;
				overflow = 1u << width;
			}
		}
	}
}

/* mpk.h: msgpack writing into a struct buf and bounds-checked reading from a struct cur. */
#ifndef MUSTER_MPK_H
#define MUSTER_MPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* mpk_skip() refuses containers nested deeper than this, so hostile input
 * cannot run the stack out. */
#define MPK_DEPTH_MAX 32

/* What the next value is, from its first byte (msgpack spec, "Formats"). */
enum mpk_type {
	MPK_INVALID = 0, /* no input left, failed cursor, or the never-used byte 0xc1 */
	MPK_NIL,
	MPK_BOOL,
	MPK_INT, /* any integer format, signed or not */
	MPK_FLOAT,
	MPK_STR,
	MPK_BIN,
	MPK_ARRAY,
	MPK_MAP,
	MPK_EXT,
};

/*
 * Writing. Every writer picks the smallest encoding, as msgpack-c does, so
 * equal values give equal bytes. A failed append sets the buffer's sticky
 * error (buf.h); each writer returns 0 or -1 and a caller may check once at
 * the end instead.
 */
int mpk_wr_nil(struct buf *b);
int mpk_wr_bool(struct buf *b, bool v);
int mpk_wr_uint(struct buf *b, uint64_t v);
/* Non-negative values use the unsigned formats, like msgpack-c. */
int mpk_wr_int(struct buf *b, int64_t v);
int mpk_wr_f32(struct buf *b, float v);
int mpk_wr_f64(struct buf *b, double v);
int mpk_wr_str(struct buf *b, const void *p, size_t len);
/* The old spec's raw (fixraw, raw16, raw32; no str8), as go-msgpack
 * writes strings and []byte for memberlist and serf. */
int mpk_wr_raw(struct buf *b, const void *p, size_t len);
/* A NULL string is written as "". */
int mpk_wr_cstr(struct buf *b, const char *s);
int mpk_wr_bin(struct buf *b, const void *p, size_t len);
int mpk_wr_array(struct buf *b, uint32_t n);
int mpk_wr_map(struct buf *b, uint32_t n);
int mpk_wr_ext(struct buf *b, int8_t type, const void *p, size_t len);

/*
 * Reading. Nothing is allocated: strings, bins and ext data are returned as
 * pointers into the input. A value of the wrong type, out of range or cut
 * short fails the cursor (sticky, buf.h) and the reader returns a zero
 * value; a caller checks cur_ok() once at the end.
 */
enum mpk_type mpk_peek(const struct cur *c);
int mpk_rd_nil(struct cur *c);
/* Consumes a nil and returns true if one is next (optional values). */
bool mpk_rd_try_nil(struct cur *c);
bool mpk_rd_bool(struct cur *c);
/* Integers in any format; a value outside the result's range fails. */
uint64_t mpk_rd_u64(struct cur *c);
uint32_t mpk_rd_u32(struct cur *c);
int64_t mpk_rd_i64(struct cur *c);
/* float32 only (reading a float64 would lose precision silently). */
float mpk_rd_f32(struct cur *c);
/* float32 or float64. */
double mpk_rd_f64(struct cur *c);
/* Returns the bytes (not NUL-terminated) and sets *len; NULL on error. */
const char *mpk_rd_str(struct cur *c, size_t *len);
const uint8_t *mpk_rd_bin(struct cur *c, size_t *len);
/* Copies a str into dst with a NUL; fails if it needs more than size bytes. */
int mpk_rd_strcpy(struct cur *c, char *dst, size_t size);
/* Container headers. A count that cannot fit in the bytes left (every
 * element takes at least one byte) fails at once, so a hostile count never
 * makes a caller allocate. */
uint32_t mpk_rd_array(struct cur *c);
uint32_t mpk_rd_map(struct cur *c);
const uint8_t *mpk_rd_ext(struct cur *c, int8_t *type, size_t *len);
/* Skips one value of any type, containers included (MPK_DEPTH_MAX). */
void mpk_skip(struct cur *c);

/* True when the len bytes at p (a map key) are exactly the string s. */
bool mpk_str_eq(const char *p, size_t len, const char *s);

#endif

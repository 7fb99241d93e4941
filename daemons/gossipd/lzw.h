/* lzw.h: Go's compress/lzw, LSB order, 8-bit literals: memberlist's compression, pure. */
#ifndef MUSTER_GOSSIPD_LZW_H
#define MUSTER_GOSSIPD_LZW_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* memberlist calls lzw.NewWriter(w, lzw.LSB, 8) and lzw.NewReader(r,
 * lzw.LSB, 8): codes start 9 bits wide, grow to 12, the clear code is 256
 * and the end code 257. */
#define LZW_LIT_WIDTH 8
#define LZW_MAX_WIDTH 12
#define LZW_CLEAR     (1u << LZW_LIT_WIDTH)
#define LZW_EOF       (LZW_CLEAR + 1)
#define LZW_MAX_CODE  ((1u << LZW_MAX_WIDTH) - 1)

/* Appends the compressed form of in[0..len) to out, the same bytes Go's
 * writer produces (a clear code first, the end code last, then the final
 * partial byte). 0, or -1 when out is full. */
int lzw_encode(const uint8_t *in, size_t len, struct buf *out);

/* Appends the expansion of in[0..len) to out. Like Go's reader the stream
 * must end with the end code (bytes after it are ignored); an invalid code,
 * a stream cut short, or more than out_max bytes of output is -1 with why. */
int lzw_decode(const uint8_t *in, size_t len, size_t out_max, struct buf *out, const char **why);

#endif

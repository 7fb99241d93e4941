/* b64.h: base64 as Go's encoding/base64 StdEncoding reads and writes it (KV values, gossip keys). */
#ifndef MUSTER_B64_H
#define MUSTER_B64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes b64_encode writes for len bytes, the terminating NUL included. */
#define B64_ENCODED_SIZE(len) (4 * (((len) + 2) / 3) + 1)
/* At most this many bytes come out of decoding a string of slen chars. */
#define B64_DECODED_MAX(slen) ((slen) / 4 * 3 + 3)

/* Padding required, CR and LF ignored anywhere (Go's decoder skips them).
 * Decodes into out (at most out_size bytes): 0 with *out_len, or -1 (not
 * base64, or too long for out). */
int b64_decode(const char *s, uint8_t *out, size_t out_size, size_t *out_len);
/* Encodes len bytes into out (NUL-terminated); the length written, or -1
 * when out_size cannot hold it. */
int b64_encode(const uint8_t *p, size_t len, char *out, size_t out_size);

#endif

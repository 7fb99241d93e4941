/* b64.c: base64 as Go's encoding/base64 StdEncoding reads and writes it (KV values, gossip keys). */
#include "b64.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int b64_decode(const char *s, uint8_t *out, size_t out_size, size_t *out_len)
{
	int quad[4] = {0};
	size_t nq = 0, n = 0;
	bool done = false; /* padding seen: only CR/LF may follow */

	for (; *s != '\0'; s++) {
		char c = *s;

		/* Go's decoder skips newlines anywhere. */
		if (c == '\r' || c == '\n')
			continue;
		if (done)
			return -1;
		if (c == '=') {
			/* "xx==" or "xxx=": padding completes a quantum. */
			if (nq < 2)
				return -1;
			if (nq == 2) {
				const char *t = s + 1;
				while (*t == '\r' || *t == '\n')
					t++;
				if (*t != '=')
					return -1;
				s = t;
			}
			if (n + nq - 1 > out_size)
				return -1;
			out[n++] = (uint8_t)(quad[0] << 2 | quad[1] >> 4);
			if (nq == 3)
				out[n++] = (uint8_t)((quad[1] & 0xf) << 4 | quad[2] >> 2);
			nq = 0;
			done = true;
			continue;
		}
		quad[nq] = b64_value(c);
		if (quad[nq] < 0)
			return -1;
		if (++nq == 4) {
			if (n + 3 > out_size)
				return -1;
			out[n++] = (uint8_t)(quad[0] << 2 | quad[1] >> 4);
			out[n++] = (uint8_t)((quad[1] & 0xf) << 4 | quad[2] >> 2);
			out[n++] = (uint8_t)((quad[2] & 0x3) << 6 | quad[3]);
			nq = 0;
		}
	}
	if (nq != 0)
		return -1; /* StdEncoding requires the padding */
	*out_len = n;
	return 0;
}

int b64_encode(const uint8_t *p, size_t len, char *out, size_t out_size)
{
	size_t need = 4 * ((len + 2) / 3), o = 0;

	if (len > (SIZE_MAX - 3) / 4 * 3 || need >= out_size || need > INT_MAX)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = left > 1 ? b64_alphabet[v >> 6 & 63] : '=';
		out[o++] = left > 2 ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

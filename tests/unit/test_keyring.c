/* test_keyring.c: the gossip keyring, memberlist's AES-GCM layouts against OpenSSL and serf's own packets, and serf/local.keyring. */
#include "b64.h"
#include "daemons/gossipd/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "pcaputil.h"
#include "testutil.h"

/* tests/gossip/README.md: serf 0.9.4 agents run with -encrypt=this key. */
#define GOLDEN_KEY_B64 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define GOLDEN_KEY     "0123456789abcdef0123456789abcdef"
#define GOLDEN_PCAP    "tests/gossip/encrypted.pcap"
#define GOLDEN_TXT     "tests/gossip/encrypted.txt"
#define GOSSIP_PORT    7946
#define GOLDEN_UDP     133 /* UDP records in encrypted.txt */
#define GOLDEN_TCP     4   /* TCP streams (push-pull) in encrypted.txt */
#define GOLDEN_CRC     56  /* UDP packets with a hasCrc wrapper */

#define ERR_SIZE  "key size must be 16, 24 or 32 bytes"
#define ERR_NOKEY "no installed keys could decrypt the message"

static const size_t key_sizes[] = {16, 24, 32};

/* A key of len bytes whose content depends on seed. */
static void make_key(uint8_t *key, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		key[i] = (uint8_t)(seed * 131 + i * 7 + 1);
}

static bool is_key(const struct keyring *k, size_t i, const uint8_t *key, size_t len)
{
	return i < k->n && k->lens[i] == len && memcmp(k->keys[i], key, len) == 0;
}

/* ---- add / use / remove ---- */

START_TEST(test_add_rules)
{
	struct keyring k;
	uint8_t a[32], b[32], c[32], big[64] = {0};
	const char *why = NULL;
	static const size_t bad[] = {0, 1, 8, 15, 17, 20, 23, 25, 31, 33, 48, 64};

	keyring_init(&k);
	ck_assert_uint_eq(k.n, 0);
	make_key(a, 16, 1);
	make_key(b, 24, 2);
	make_key(c, 32, 3);
	ck_assert_int_eq(keyring_add(&k, a, 16, &why), 0);
	ck_assert(is_key(&k, 0, a, 16));
	/* memberlist's AddKey: an installed key again is a no-op. */
	ck_assert_int_eq(keyring_add(&k, a, 16, &why), 0);
	ck_assert_uint_eq(k.n, 1);
	ck_assert_int_eq(keyring_add(&k, b, 24, &why), 0);
	ck_assert_int_eq(keyring_add(&k, c, 32, &why), 0);
	ck_assert_uint_eq(k.n, 3);
	/* The first key stays primary; the others follow in order. */
	ck_assert(is_key(&k, 0, a, 16));
	ck_assert(is_key(&k, 1, b, 24));
	ck_assert(is_key(&k, 2, c, 32));
	/* The same bytes at another size are another key. */
	ck_assert_int_eq(keyring_add(&k, c, 16, &why), 0);
	ck_assert_uint_eq(k.n, 4);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_int_eq(keyring_add(&k, big, bad[i], &why), -1);
		ck_assert_str_eq(why, ERR_SIZE);
	}
	ck_assert_uint_eq(k.n, 4);

	/* Full at KEYRING_KEYS_MAX; a duplicate is still a no-op then. */
	for (unsigned s = 10; k.n < KEYRING_KEYS_MAX; s++) {
		make_key(big, 32, s);
		ck_assert_int_eq(keyring_add(&k, big, 32, &why), 0);
	}
	make_key(big, 32, 99);
	why = NULL;
	ck_assert_int_eq(keyring_add(&k, big, 32, &why), -1);
	ck_assert_str_eq(why, "keyring is full");
	ck_assert_int_eq(keyring_add(&k, b, 24, &why), 0);
	ck_assert_uint_eq(k.n, KEYRING_KEYS_MAX);
	ck_assert(is_key(&k, 0, a, 16));
	keyring_fini(&k);
}
END_TEST

START_TEST(test_use_remove)
{
	struct keyring k;
	uint8_t key[5][32];
	const char *why = NULL;

	keyring_init(&k);
	for (unsigned i = 0; i < 5; i++) {
		make_key(key[i], key_sizes[i % 3], i);
		ck_assert_int_eq(keyring_add(&k, key[i], key_sizes[i % 3], &why), 0);
	}
	/* installKeys: the new primary first, the others keep their order. */
	ck_assert_int_eq(keyring_use(&k, key[3], key_sizes[0], &why), 0);
	ck_assert_uint_eq(k.n, 5);
	ck_assert(is_key(&k, 0, key[3], 16));
	ck_assert(is_key(&k, 1, key[0], 16));
	ck_assert(is_key(&k, 2, key[1], 24));
	ck_assert(is_key(&k, 3, key[2], 32));
	ck_assert(is_key(&k, 4, key[4], 24));
	/* Using the primary changes nothing. */
	ck_assert_int_eq(keyring_use(&k, key[3], 16, &why), 0);
	ck_assert(is_key(&k, 0, key[3], 16));
	ck_assert(is_key(&k, 1, key[0], 16));
	/* Not installed (here: right bytes, wrong size). */
	why = NULL;
	ck_assert_int_eq(keyring_use(&k, key[3], 32, &why), -1);
	ck_assert_str_eq(why, "Requested key is not in the keyring");

	/* The primary cannot go. */
	why = NULL;
	ck_assert_int_eq(keyring_remove(&k, key[3], 16, &why), -1);
	ck_assert_str_eq(why, "Removing the primary key is not allowed");
	ck_assert_uint_eq(k.n, 5);
	ck_assert_int_eq(keyring_remove(&k, key[1], 24, &why), 0);
	ck_assert_uint_eq(k.n, 4);
	ck_assert(is_key(&k, 0, key[3], 16));
	ck_assert(is_key(&k, 1, key[0], 16));
	ck_assert(is_key(&k, 2, key[2], 32));
	ck_assert(is_key(&k, 3, key[4], 24));
	/* The slot left behind holds no key material. */
	for (size_t i = 0; i < KEYRING_KEY_MAX; i++)
		ck_assert_uint_eq(k.keys[4][i], 0);
	ck_assert_uint_eq(k.lens[4], 0);
	/* memberlist's RemoveKey: a key not installed is a no-op. */
	ck_assert_int_eq(keyring_remove(&k, key[1], 24, &why), 0);
	ck_assert_uint_eq(k.n, 4);
	/* The last one, then the old primary once demoted. */
	ck_assert_int_eq(keyring_remove(&k, key[4], 24, &why), 0);
	ck_assert_int_eq(keyring_use(&k, key[2], 32, &why), 0);
	ck_assert_int_eq(keyring_remove(&k, key[3], 16, &why), 0);
	ck_assert_uint_eq(k.n, 2);
	ck_assert(is_key(&k, 0, key[2], 32));
	ck_assert(is_key(&k, 1, key[0], 16));
	/* A removed key can come back (at the end). */
	ck_assert_int_eq(keyring_add(&k, key[3], 16, &why), 0);
	ck_assert(is_key(&k, 2, key[3], 16));
	keyring_fini(&k);
	ck_assert_uint_eq(k.n, 0);
}
END_TEST

/* ---- base64 ---- */

START_TEST(test_b64)
{
	uint8_t p[64], d[64];
	char s[128], ref[128];
	size_t n;

	/* Against OpenSSL's encoder, every length with every tail. */
	for (size_t len = 0; len <= 40; len++) {
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)(i * 37 + len * 11 + 0xa5);
		int w = b64_encode(p, len, s, sizeof(s));
		int rw = EVP_EncodeBlock((unsigned char *)ref, p, (int)len);
		ck_assert_int_eq(w, rw);
		ck_assert_str_eq(s, ref);
		ck_assert_int_eq(b64_decode(s, d, sizeof(d), &n), 0);
		ck_assert_uint_eq(n, len);
		ck_assert_mem_eq(d, p, len);
		/* Exactly enough room, and one byte short. */
		if (len > 0) {
			ck_assert_int_eq(b64_decode(s, d, len, &n), 0);
			ck_assert_int_eq(b64_decode(s, d, len - 1, &n), -1);
		}
		ck_assert_int_eq(b64_encode(p, len, s, (size_t)w), -1);
		ck_assert_int_eq(b64_encode(p, len, s, (size_t)w + 1), w);
	}
	/* Go's StdEncoding: padding required, CR/LF skipped. */
	static const char *const bad[] = {
	    "abc",
	    "ab",
	    "a",
	    "a===",
	    "ab=",
	    "ab=c",
	    "abc=d",
	    "abc=abc=",
	    "!!!!",
	    "MDEy MzQ1",
	    "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY",
	    "=AAA",
	    "ab==\x01",
	    "YQ==YQ==",
	    "ab-_",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(b64_decode(bad[i], d, sizeof(d), &n) == -1, "%s", bad[i]);
	ck_assert_int_eq(b64_decode("", d, sizeof(d), &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(b64_decode("YWJj\r\nZA=\n=\n", d, sizeof(d), &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(d, "abcd", 4);
}
END_TEST

START_TEST(test_b64_keys)
{
	struct keyring k;
	const char *why = NULL;
	char s[KEYRING_B64_MAX];
	uint8_t key[32];

	keyring_init(&k);
	ck_assert_int_eq(keyring_add_b64(&k, GOLDEN_KEY_B64, &why), 0);
	ck_assert(is_key(&k, 0, (const uint8_t *)GOLDEN_KEY, 32));
	/* KEYRING_B64_MAX holds the largest key. */
	ck_assert_int_eq(b64_encode(k.keys[0], 32, s, sizeof(s)), 44);
	ck_assert_str_eq(s, GOLDEN_KEY_B64);
	/* 16 and 24 bytes, with a line break inside as Go allows. */
	ck_assert_int_eq(keyring_add_b64(&k, "MDEyMzQ1Njc4\nOWFiY2RlZg==", &why), 0);
	ck_assert(is_key(&k, 1, (const uint8_t *)"0123456789abcdef", 16));
	ck_assert_int_eq(keyring_add_b64(&k, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3", &why), 0);
	ck_assert(is_key(&k, 2, (const uint8_t *)"0123456789abcdef01234567", 24));

	static const struct {
		const char *b64, *why;
	} bad[] = {
	    {"", ERR_SIZE},
	    {"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZQ==", ERR_SIZE}, /* 31 bytes */
	    {"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYw", ERR_SIZE}, /* 33 bytes */
	    {"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2Rl"
	     "ZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==",
	     ERR_SIZE}, /* 96 bytes */
	    {"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", "key is not valid base64"},
	    {"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=x", "key is not valid base64"},
	    {"not a key at all", "key is not valid base64"},
	    {"MDEyMzQ1Njc4OWFiY2RlZjAx*jM0NTY3ODlhYmNkZWY=", "key is not valid base64"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_int_eq(keyring_add_b64(&k, bad[i].b64, &why), -1);
		ck_assert_str_eq(why, bad[i].why);
		why = NULL;
		ck_assert_int_eq(keyring_use_b64(&k, bad[i].b64, &why), -1);
		ck_assert_str_eq(why, bad[i].why);
		why = NULL;
		ck_assert_int_eq(keyring_remove_b64(&k, bad[i].b64, &why), -1);
		ck_assert_str_eq(why, bad[i].why);
	}
	ck_assert_uint_eq(k.n, 3);
	ck_assert_int_eq(keyring_use_b64(&k, "MDEyMzQ1Njc4OWFiY2RlZg==", &why), 0);
	ck_assert(is_key(&k, 0, (const uint8_t *)"0123456789abcdef", 16));
	ck_assert_int_eq(keyring_remove_b64(&k, "MDEyMzQ1Njc4OWFiY2RlZg==", &why), -1);
	ck_assert_int_eq(keyring_remove_b64(&k, GOLDEN_KEY_B64, &why), 0);
	ck_assert_uint_eq(k.n, 2);
	make_key(key, 32, 7);
	ck_assert_int_eq(b64_encode(key, 32, s, sizeof(s)), 44);
	ck_assert_int_eq(keyring_use_b64(&k, s, &why), -1);
	ck_assert_str_eq(why, "Requested key is not in the keyring");
	keyring_fini(&k);
}
END_TEST

/* ---- AES-GCM layouts ---- */

/* Seals with OpenSSL alone: what memberlist's encryptPayload writes for
 * version vsn (0 pads with PKCS#7), independent of keyring.c. */
static size_t ref_seal(int vsn, const uint8_t *key, size_t key_len, const uint8_t *nonce,
                       const uint8_t *msg, size_t len, const uint8_t *aad, size_t aad_len,
                       uint8_t *out)
{
	const EVP_CIPHER *c = key_len == 16   ? EVP_aes_128_gcm()
	                      : key_len == 24 ? EVP_aes_192_gcm()
	                                      : EVP_aes_256_gcm();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t pt[4096];
	size_t pt_len = len;
	int n;

	ck_assert_uint_le(len + 16, sizeof(pt));
	memcpy(pt, msg, len);
	if (vsn == 0) {
		size_t pad = 16 - len % 16;
		memset(pt + len, (int)pad, pad);
		pt_len += pad;
	}
	out[0] = (uint8_t)vsn;
	memcpy(out + 1, nonce, 12);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_EncryptInit_ex(ctx, c, NULL, key, nonce), 1);
	if (aad_len > 0)
		ck_assert_int_eq(EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(ctx, out + 13, &n, pt, (int)pt_len), 1);
	ck_assert_int_eq((size_t)n, pt_len);
	ck_assert_int_eq(EVP_EncryptFinal_ex(ctx, out + 13 + pt_len, &n), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 13 + pt_len), 1);
	EVP_CIPHER_CTX_free(ctx);
	return 13 + pt_len + 16;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

START_TEST(test_round_trip)
{
	static const size_t lens[] = {0, 1, 15, 16, 17, 100, 1400, 4000};
	/* No label; a label (packets); the stream header plus a label. */
	static const uint8_t label[] = "dc1-gossip";
	static const uint8_t stream_aad[] = {10, 0, 0, 0x0f, 0xa0, 'd', 'c', '1'};
	static const struct {
		const uint8_t *p;
		size_t len;
	} aads[] = {{NULL, 0}, {label, sizeof(label) - 1}, {stream_aad, sizeof(stream_aad)}};
	uint8_t msg[4096], key[32], nonce[12], ref[4200];
	struct buf out, pt;
	const char *why;

	buf_init(&out, 1 << 20);
	buf_init(&pt, 1 << 20);
	for (size_t ks = 0; ks < 3; ks++) {
		struct keyring k;

		keyring_init(&k);
		make_key(key, key_sizes[ks], (unsigned)ks + 40);
		ck_assert_int_eq(keyring_add(&k, key, key_sizes[ks], NULL), 0);
		for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			for (size_t ai = 0; ai < 3; ai++) {
				size_t len = lens[li], ref_len;

				fill(msg, len, (unsigned)(li * 10 + ai));
				/* Version 1, random nonce. */
				buf_reset(&out);
				buf_reset(&pt);
				ck_assert_int_eq(
				    keyring_encrypt(&k, msg, len, aads[ai].p, aads[ai].len, &out),
				    0);
				ck_assert_uint_eq(out.len, len + KEYRING_OVERHEAD);
				ck_assert_uint_eq(out.p[0], 1);
				why = NULL;
				ck_assert_int_eq(keyring_decrypt(&k, out.p, out.len, aads[ai].p,
				                                 aads[ai].len, &pt, &why),
				                 0);
				ck_assert_uint_eq(pt.len, len);
				if (len > 0)
					ck_assert_mem_eq(pt.p, msg, len);
				/* The same bytes as OpenSSL alone with that nonce. */
				ref_len = ref_seal(1, key, key_sizes[ks], out.p + 1, msg, len,
				                   aads[ai].p, aads[ai].len, ref);
				ck_assert_uint_eq(ref_len, out.len);
				ck_assert_mem_eq(ref, out.p, ref_len);
				/* Another AAD does not open it. */
				buf_reset(&pt);
				why = NULL;
				ck_assert_int_eq(keyring_decrypt(&k, out.p, out.len, label,
				                                 ai == 1 ? 3 : sizeof(label) - 1,
				                                 &pt, &why),
				                 -1);
				ck_assert_str_eq(why, ERR_NOKEY);

				/* Version 0 through keyring_seal: padded, same as OpenSSL. */
				fill(nonce, sizeof(nonce), (unsigned)(li + 100 * ks + 1000 * ai));
				buf_reset(&out);
				buf_reset(&pt);
				ck_assert_int_eq(keyring_seal(&k, KEYRING_VERSION_PADDED, nonce,
				                              msg, len, aads[ai].p, aads[ai].len,
				                              &out),
				                 0);
				ck_assert_uint_eq(out.len, KEYRING_OVERHEAD + len + 16 - len % 16);
				ref_len = ref_seal(0, key, key_sizes[ks], nonce, msg, len,
				                   aads[ai].p, aads[ai].len, ref);
				ck_assert_uint_eq(ref_len, out.len);
				ck_assert_mem_eq(ref, out.p, ref_len);
				ck_assert_int_eq(keyring_decrypt(&k, out.p, out.len, aads[ai].p,
				                                 aads[ai].len, &pt, &why),
				                 0);
				ck_assert_uint_eq(pt.len, len);
				if (len > 0)
					ck_assert_mem_eq(pt.p, msg, len);
			}
		}
		keyring_fini(&k);
	}
	buf_fini(&out);
	buf_fini(&pt);
}
END_TEST

START_TEST(test_appends_and_limits)
{
	struct keyring k, empty;
	uint8_t key[16], msg[100], nonce[12] = {0};
	struct buf out, pt;
	const char *why;

	keyring_init(&k);
	keyring_init(&empty);
	make_key(key, 16, 5);
	fill(msg, sizeof(msg), 5);
	ck_assert_int_eq(keyring_add(&k, key, 16, NULL), 0);
	/* Both append after what the buffer holds. */
	buf_init(&out, 1000);
	buf_init(&pt, 1000);
	buf_append(&out, "hdr", 3);
	buf_append(&pt, "xy", 2);
	ck_assert_int_eq(keyring_encrypt(&k, msg, sizeof(msg), NULL, 0, &out), 0);
	ck_assert_uint_eq(out.len, 3 + sizeof(msg) + KEYRING_OVERHEAD);
	ck_assert_mem_eq(out.p, "hdr", 3);
	ck_assert_int_eq(keyring_decrypt(&k, out.p + 3, out.len - 3, NULL, 0, &pt, &why), 0);
	ck_assert_uint_eq(pt.len, 2 + sizeof(msg));
	ck_assert_mem_eq(pt.p, "xy", 2);
	ck_assert_mem_eq(pt.p + 2, msg, sizeof(msg));
	/* Two encryptions never share a nonce. */
	{
		struct buf o2;
		buf_init(&o2, 1000);
		ck_assert_int_eq(keyring_encrypt(&k, msg, sizeof(msg), NULL, 0, &o2), 0);
		ck_assert(memcmp(o2.p + 1, out.p + 4, KEYRING_NONCE_SIZE) != 0);
		buf_fini(&o2);
	}
	/* No key, no output room, no such version. */
	buf_reset(&out);
	ck_assert_int_eq(keyring_encrypt(&empty, msg, sizeof(msg), NULL, 0, &out), -1);
	ck_assert_int_eq(keyring_seal(&k, 2, nonce, msg, sizeof(msg), NULL, 0, &out), -1);
	ck_assert_int_eq(keyring_seal(&k, -1, nonce, msg, sizeof(msg), NULL, 0, &out), -1);
	ck_assert_uint_eq(out.len, 0);
	{
		struct buf small;
		buf_init(&small, sizeof(msg) + KEYRING_OVERHEAD - 1);
		ck_assert_int_eq(keyring_encrypt(&k, msg, sizeof(msg), NULL, 0, &small), -1);
		buf_fini(&small);
		buf_init(&small, sizeof(msg) + KEYRING_OVERHEAD);
		ck_assert_int_eq(keyring_encrypt(&k, msg, sizeof(msg), NULL, 0, &small), 0);
		buf_reset(&out);
		buf_append(&out, small.p, small.len);
		buf_fini(&small);
		/* Plaintext that does not fit the output. */
		buf_init(&small, sizeof(msg) - 1);
		why = NULL;
		ck_assert_int_eq(keyring_decrypt(&k, out.p, out.len, NULL, 0, &small, &why), -1);
		ck_assert_str_eq(why, "message too large");
		buf_fini(&small);
	}
	/* An empty keyring opens nothing. */
	buf_reset(&pt);
	why = NULL;
	ck_assert_int_eq(keyring_decrypt(&empty, out.p, out.len, NULL, 0, &pt, &why), -1);
	ck_assert_str_eq(why, ERR_NOKEY);
	buf_fini(&out);
	buf_fini(&pt);
	keyring_fini(&k);
}
END_TEST

START_TEST(test_wrong_key_and_tamper)
{
	struct keyring k, other;
	uint8_t key[32], msg[64];
	struct buf out, pt;
	const char *why;
	static const uint8_t aad[] = "lbl";

	keyring_init(&k);
	keyring_init(&other);
	make_key(key, 32, 1);
	ck_assert_int_eq(keyring_add(&k, key, 32, NULL), 0);
	key[31] ^= 1; /* one bit away */
	ck_assert_int_eq(keyring_add(&other, key, 32, NULL), 0);
	make_key(key, 16, 1); /* the same leading bytes, AES-128 */
	ck_assert_int_eq(keyring_add(&other, key, 16, NULL), 0);
	fill(msg, sizeof(msg), 9);
	buf_init(&out, 4096);
	buf_init(&pt, 4096);
	ck_assert_int_eq(keyring_encrypt(&k, msg, sizeof(msg), aad, 3, &out), 0);

	why = NULL;
	ck_assert_int_eq(keyring_decrypt(&other, out.p, out.len, aad, 3, &pt, &why), -1);
	ck_assert_str_eq(why, ERR_NOKEY);
	ck_assert_uint_eq(pt.len, 0);

	/* Every bit of nonce, ciphertext and tag is authenticated. */
	for (size_t i = 1; i < out.len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			out.p[i] ^= (uint8_t)(1 << bit);
			buf_reset(&pt);
			why = NULL;
			ck_assert_int_eq(keyring_decrypt(&k, out.p, out.len, aad, 3, &pt, &why),
			                 -1);
			ck_assert_str_eq(why, ERR_NOKEY);
			out.p[i] ^= (uint8_t)(1 << bit);
		}
	}
	/* The version byte is not (memberlist's layout): an unknown one is
	 * refused before any key is tried. */
	for (unsigned v = 2; v < 256; v += 17) {
		out.p[0] = (uint8_t)v;
		why = NULL;
		ck_assert_int_eq(keyring_decrypt(&k, out.p, out.len, aad, 3, &pt, &why), -1);
		ck_assert_str_eq(why, "unsupported encryption version");
	}
	out.p[0] = 1;
	/* Truncated: too short below the overhead, unauthenticated above it. */
	for (size_t len = 0; len < out.len; len++) {
		buf_reset(&pt);
		why = NULL;
		ck_assert_int_eq(keyring_decrypt(&k, out.p, len, aad, 3, &pt, &why), -1);
		ck_assert_str_eq(why, len < KEYRING_OVERHEAD ? "too short" : ERR_NOKEY);
	}
	/* Trailing garbage is not ignored either. */
	buf_putc(&out, 0);
	ck_assert_int_eq(keyring_decrypt(&k, out.p, out.len, aad, 3, &pt, &why), -1);
	out.len--;
	buf_reset(&pt);
	ck_assert_int_eq(keyring_decrypt(&k, out.p, out.len, aad, 3, &pt, &why), 0);
	ck_assert_mem_eq(pt.p, msg, sizeof(msg));
	buf_fini(&out);
	buf_fini(&pt);
	keyring_fini(&k);
	keyring_fini(&other);
}
END_TEST

START_TEST(test_all_keys_tried)
{
	struct keyring enc, dec;
	uint8_t a[32], b[24], c[16], msg[40];
	struct buf out, pt;
	const char *why = NULL;

	make_key(a, 32, 1);
	make_key(b, 24, 2);
	make_key(c, 16, 3);
	fill(msg, sizeof(msg), 3);
	buf_init(&out, 4096);
	buf_init(&pt, 4096);
	/* Sealed with B as the sender's primary ... */
	keyring_init(&enc);
	ck_assert_int_eq(keyring_add(&enc, b, 24, NULL), 0);
	ck_assert_int_eq(keyring_add(&enc, a, 32, NULL), 0);
	ck_assert_int_eq(keyring_encrypt(&enc, msg, sizeof(msg), NULL, 0, &out), 0);
	/* ... opened where A is primary and B second, or last of three. */
	keyring_init(&dec);
	ck_assert_int_eq(keyring_add(&dec, a, 32, NULL), 0);
	ck_assert_int_eq(keyring_decrypt(&dec, out.p, out.len, NULL, 0, &pt, &why), -1);
	ck_assert_int_eq(keyring_add(&dec, b, 24, NULL), 0);
	buf_reset(&pt);
	ck_assert_int_eq(keyring_decrypt(&dec, out.p, out.len, NULL, 0, &pt, &why), 0);
	ck_assert_mem_eq(pt.p, msg, sizeof(msg));
	ck_assert_int_eq(keyring_remove(&dec, b, 24, NULL), 0);
	ck_assert_int_eq(keyring_add(&dec, c, 16, NULL), 0);
	ck_assert_int_eq(keyring_add(&dec, b, 24, NULL), 0);
	ck_assert(is_key(&dec, 2, b, 24));
	buf_reset(&pt);
	ck_assert_int_eq(keyring_decrypt(&dec, out.p, out.len, NULL, 0, &pt, &why), 0);
	ck_assert_uint_eq(pt.len, sizeof(msg));
	ck_assert_mem_eq(pt.p, msg, sizeof(msg));
	/* Rotation done: the sender uses A; both rings still read it. */
	ck_assert_int_eq(keyring_use(&enc, a, 32, NULL), 0);
	buf_reset(&out);
	ck_assert_int_eq(keyring_encrypt(&enc, msg, sizeof(msg), NULL, 0, &out), 0);
	buf_reset(&pt);
	ck_assert_int_eq(keyring_decrypt(&dec, out.p, out.len, NULL, 0, &pt, &why), 0);
	ck_assert_mem_eq(pt.p, msg, sizeof(msg));
	buf_fini(&out);
	buf_fini(&pt);
	keyring_fini(&enc);
	keyring_fini(&dec);
}
END_TEST

/* Version 0 vectors built with OpenSSL alone (PKCS#7 padding inside). */
START_TEST(test_version0)
{
	static const uint8_t label[] = {'l', 'a', 'b'};
	struct keyring k;
	uint8_t key[24], nonce[12], msg[48], pkt[256];
	struct buf pt;
	const char *why;
	size_t n;

	keyring_init(&k);
	make_key(key, 24, 77);
	fill(nonce, sizeof(nonce), 77);
	fill(msg, sizeof(msg), 78);
	ck_assert_int_eq(keyring_add(&k, key, 24, NULL), 0);
	buf_init(&pt, 4096);
	for (size_t len = 0; len <= sizeof(msg); len++) {
		n = ref_seal(0, key, 24, nonce, msg, len, label, sizeof(label), pkt);
		ck_assert_uint_eq(n, 1 + 12 + (len / 16 + 1) * 16 + 16);
		buf_reset(&pt);
		why = NULL;
		ck_assert_int_eq(keyring_decrypt(&k, pkt, n, label, sizeof(label), &pt, &why), 0);
		ck_assert_uint_eq(pt.len, len);
		if (len > 0)
			ck_assert_mem_eq(pt.p, msg, len);
	}
	/* Version 0 must hold at least one padding block. */
	n = ref_seal(1, key, 24, nonce, msg, 15, NULL, 0, pkt);
	pkt[0] = 0;
	why = NULL;
	ck_assert_int_eq(keyring_decrypt(&k, pkt, n, NULL, 0, &pt, &why), -1);
	ck_assert_str_eq(why, "too short");

	/* Authentic but badly padded: sealed as version 1 of bytes whose
	 * tail is no PKCS#7 padding, relabelled 0 (the byte is not
	 * authenticated). */
	static const uint8_t tails[][2] = {{0, 0}, {1, 17}, {2, 3}, {5, 16}};
	for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
		uint8_t body[32];
		memset(body, 0xee, sizeof(body));
		body[30] = tails[t][0];
		body[31] = tails[t][1];
		n = ref_seal(1, key, 24, nonce, body, sizeof(body), NULL, 0, pkt);
		pkt[0] = 0;
		buf_reset(&pt);
		why = NULL;
		ck_assert_int_eq(keyring_decrypt(&k, pkt, n, NULL, 0, &pt, &why), -1);
		ck_assert_str_eq(why, "bad padding");
		ck_assert_uint_eq(pt.len, 0);
	}
	buf_fini(&pt);
	keyring_fini(&k);
}
END_TEST

/* ---- serf/local.keyring ---- */

static char tmp_dir[64];

static void make_tmp_dir(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/test_keyring.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void rm_tmp_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = malloc(1 << 20);

	ck_assert_ptr_nonnull(f);
	*len = fread(p, 1, (1 << 20) - 1, f);
	p[*len] = '\0';
	fclose(f);
	return p;
}

START_TEST(test_file_round_trip)
{
	struct keyring k, l;
	char path[128], tmp[160];
	const char *why = NULL;
	struct stat st;
	size_t len;
	char *text;

	make_tmp_dir();
	snprintf(path, sizeof(path), "%s/local.keyring", tmp_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	keyring_init(&k);
	ck_assert_int_eq(keyring_add_b64(&k, GOLDEN_KEY_B64, NULL), 0);
	ck_assert_int_eq(keyring_add_b64(&k, "MDEyMzQ1Njc4OWFiY2RlZg==", NULL), 0);
	ck_assert_int_eq(keyring_add_b64(&k, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3", NULL), 0);
	ck_assert_int_eq(keyring_use_b64(&k, "MDEyMzQ1Njc4OWFiY2RlZg==", NULL), 0);

	/* A stale tmp file with a loose mode, and an old file in place. */
	write_file(tmp, "junk", 4);
	ck_assert_int_eq(chmod(tmp, 0666), 0);
	write_file(path, "[\"old\"]", 7);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(keyring_save_file(&k, path, &why), 0);
	/* serf's writeKeyringFile: json.MarshalIndent(keys, "", "  "). */
	text = read_file(path, &len);
	ck_assert_str_eq(text, "[\n"
	                       "  \"MDEyMzQ1Njc4OWFiY2RlZg==\",\n"
	                       "  \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\",\n"
	                       "  \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3\"\n"
	                       "]");
	free(text);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(tmp, &st), -1);
	ck_assert_int_eq(errno, ENOENT);

	keyring_init(&l);
	ck_assert_int_eq(keyring_load_file(&l, path, &why), 0);
	ck_assert_uint_eq(l.n, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert(is_key(&l, i, k.keys[i], k.lens[i]));
	ck_assert_mem_eq(&l, &k, sizeof(k));

	/* A full keyring round-trips too. */
	for (unsigned s = 0; k.n < KEYRING_KEYS_MAX; s++) {
		uint8_t key[32];
		make_key(key, key_sizes[s % 3], s + 200);
		ck_assert_int_eq(keyring_add(&k, key, key_sizes[s % 3], NULL), 0);
	}
	ck_assert_int_eq(keyring_save_file(&k, path, &why), 0);
	ck_assert_int_eq(keyring_load_file(&l, path, &why), 0);
	ck_assert_mem_eq(&l, &k, sizeof(k));

	/* An empty keyring is not written (it could not be read back). */
	keyring_init(&l);
	why = NULL;
	ck_assert_int_eq(keyring_save_file(&l, path, &why), -1);
	ck_assert_str_eq(why, "keyring is empty");
	/* Nor into a directory that is not there (errno kept). */
	snprintf(tmp, sizeof(tmp), "%s/nope/local.keyring", tmp_dir);
	why = NULL;
	errno = 0;
	ck_assert_int_eq(keyring_save_file(&k, tmp, &why), -1);
	ck_assert_str_eq(why, "cannot create keyring file");
	ck_assert_int_eq(errno, ENOENT);
	rm_tmp_dir();
	keyring_fini(&k);
}
END_TEST

START_TEST(test_file_forms)
{
	/* Other writers: Consul's initKeyring (json.Marshal, compact), hand
	 * edits with spaces, escapes, a trailing newline, duplicates. */
	static const struct {
		const char *text;
		size_t n;
	} good[] = {
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]", 1},
	    {" \t\r\n[ \"MDEyMzQ1Njc4OWFiY2RlZg==\" ,\n\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3\" ]\n",
	     2},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg\\u003d\\u003D\",\"MDEyMzQ1Njc4OWFiY2RlZg==\"]", 1},
	    /* "\/" and a line break inside (Go's base64 skips it) */
	    {"[\"+\\/+\\/+/+/+/+/+/+/+\\n/+//g==\"]", 1},
	};
	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
	    {"", "keyring file is not a JSON list of strings"},
	    {"[", "keyring file is not a JSON list of strings"},
	    {"null", "keyring file is not a JSON list of strings"},
	    {"{}", "keyring file is not a JSON list of strings"},
	    {"[]", "no keys present in keyring file"},
	    {" [ ] ", "no keys present in keyring file"},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg==\",]", "keyring file is not a JSON list of strings"},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg==\"] x", "keyring file is not a JSON list of strings"},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg==\"][]", "keyring file is not a JSON list of strings"},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg==\" \"MDEyMzQ1Njc4OWFiY2RlZg==\"]",
	     "keyring file is not a JSON list of strings"},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg==]", "keyring file is not a JSON list of strings"},
	    {"[\"MDEyMzQ1Njc4OWFi\tY2RlZg==\"]", "keyring file is not a JSON list of strings"},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg\\x3d=\"]", "keyring file is not a JSON list of strings"},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg\\u00e9=\"]", "keyring file is not a JSON list of strings"},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg\\u0000=\"]", "keyring file is not a JSON list of strings"},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg\\u00", "keyring file is not a JSON list of strings"},
	    {"[1]", "keyring file is not a JSON list of strings"},
	    {"[[\"MDEyMzQ1Njc4OWFiY2RlZg==\"]]", "keyring file is not a JSON list of strings"},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg==\"", "keyring file is not a JSON list of strings"},
	    {"\"MDEyMzQ1Njc4OWFiY2RlZg==\"", "keyring file is not a JSON list of strings"},
	    {"\xef\xbb\xbf[\"MDEyMzQ1Njc4OWFiY2RlZg==\"]",
	     "keyring file is not a JSON list of strings"},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg\"]", "key is not valid base64"},
	    {"[\"MDEyMzQ1Njc4OWFiY2Rl\"]", ERR_SIZE},
	    {"[\"MDEyMzQ1Njc4OWFiY2RlZg==\",\"\"]", ERR_SIZE},
	};
	struct keyring k, before;
	char path[128];
	const char *why;

	make_tmp_dir();
	snprintf(path, sizeof(path), "%s/local.keyring", tmp_dir);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		write_file(path, good[i].text, strlen(good[i].text));
		keyring_init(&k);
		why = NULL;
		ck_assert_msg(keyring_load_file(&k, path, &why) == 0, "%s: %s", good[i].text, why);
		ck_assert_uint_eq(k.n, good[i].n);
	}
	ck_assert(is_key(&k, 0,
	                 (const uint8_t *)"\xfb\xff\xbf\xfb\xff\xbf\xfb\xff\xbf\xfb\xff\xbf"
	                                  "\xfb\xff\xbf\xfe",
	                 16));

	/* Refused files leave the keyring as it was. */
	keyring_init(&before);
	ck_assert_int_eq(keyring_add_b64(&before, GOLDEN_KEY_B64, NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i].text, strlen(bad[i].text));
		k = before;
		why = NULL;
		ck_assert_msg(keyring_load_file(&k, path, &why) == -1, "%s", bad[i].text);
		ck_assert_msg(why != NULL && strcmp(why, bad[i].why) == 0, "%s: %s", bad[i].text,
		              why);
		ck_assert_mem_eq(&k, &before, sizeof(k));
	}
	/* More keys than KEYRING_KEYS_MAX. */
	{
		char text[4096];
		size_t n = 0;
		text[n++] = '[';
		for (unsigned i = 0; i <= KEYRING_KEYS_MAX; i++) {
			uint8_t key[16];
			make_key(key, 16, i);
			text[n++] = i ? ',' : ' ';
			text[n++] = '"';
			n += (size_t)b64_encode(key, 16, text + n, sizeof(text) - n);
			text[n++] = '"';
		}
		text[n++] = ']';
		write_file(path, text, n);
		k = before;
		why = NULL;
		ck_assert_int_eq(keyring_load_file(&k, path, &why), -1);
		ck_assert_str_eq(why, "keyring is full");
		ck_assert_mem_eq(&k, &before, sizeof(k));
	}
	/* Larger than KEYRING_FILE_MAX, even if only by whitespace. */
	{
		size_t n = KEYRING_FILE_MAX + 1;
		char *text = malloc(n);
		memset(text, ' ', n);
		memcpy(text, "[\"MDEyMzQ1Njc4OWFiY2RlZg==\"]", 28);
		write_file(path, text, n - 1);
		k = before;
		ck_assert_int_eq(keyring_load_file(&k, path, &why), 0);
		ck_assert_uint_eq(k.n, 1);
		write_file(path, text, n);
		k = before;
		why = NULL;
		ck_assert_int_eq(keyring_load_file(&k, path, &why), -1);
		ck_assert_str_eq(why, "keyring file is too large");
		ck_assert_mem_eq(&k, &before, sizeof(k));
		free(text);
	}
	/* Missing file: errno says so. */
	snprintf(path, sizeof(path), "%s/absent", tmp_dir);
	errno = 0;
	why = NULL;
	ck_assert_int_eq(keyring_load_file(&k, path, &why), -1);
	ck_assert_str_eq(why, "cannot open keyring file");
	ck_assert_int_eq(errno, ENOENT);
	rm_tmp_dir();
}
END_TEST

/* ---- golden: serf 0.9.4's own encrypted gossip ---- */

/* The records of decode.py's reading: per UDP packet or TCP stream, its
 * nonce and every "hex" line (messages in the order they appear). */
struct txt_rec {
	bool udp;
	uint8_t nonce[12];
	bool has_nonce;
	bool has_crc;   /* a hasCrc wrapper inside */
	struct buf hex; /* entries: u16 length (BE) + bytes */
	size_t nhex;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static size_t unhex(const char *s, uint8_t *out, size_t size)
{
	size_t n = 0;

	while (hexval(s[0]) >= 0 && hexval(s[1]) >= 0) {
		ck_assert_uint_lt(n, size);
		out[n++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
		s += 2;
	}
	return n;
}

static size_t load_txt(struct txt_rec **recs)
{
	size_t len, n = 0;
	char *text = read_file(GOLDEN_TXT, &len), *line, *save = NULL;
	static uint8_t bytes[65536];

	*recs = calloc(1024, sizeof(**recs));
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		const char *t = line + strspn(line, " ");
		struct txt_rec *r = n > 0 ? &(*recs)[n - 1] : NULL;

		if (strncmp(line, "== ", 3) == 0) {
			ck_assert_uint_lt(n, 1024);
			r = &(*recs)[n++];
			r->udp = strncmp(line, "== udp ", 7) == 0;
			buf_init(&r->hex, 1 << 20);
			continue;
		}
		ck_assert_ptr_nonnull(r);
		ck_assert_msg(strstr(line, "undecoded") == NULL, "%s", line);
		if (strncmp(t, "aes-gcm v1 nonce ", 17) == 0 && !r->has_nonce) {
			ck_assert_uint_eq(unhex(t + 17, r->nonce, sizeof(r->nonce)), 12);
			r->has_nonce = true;
		} else if (strncmp(t, "hasCrc ", 7) == 0) {
			r->has_crc = true;
		} else if (strncmp(t, "hex ", 4) == 0) {
			size_t bl = unhex(t + 4, bytes, sizeof(bytes));
			ck_assert_uint_gt(bl, 0);
			buf_put_be16(&r->hex, (uint16_t)bl);
			buf_append(&r->hex, bytes, bl);
			r->nhex++;
		}
	}
	free(text);
	return n;
}

static void free_txt(struct txt_rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_fini(&recs[i].hex);
	free(recs);
}

/* Each hex line of r occurs in pt, in order, without overlapping. */
static void check_hex_in(const struct txt_rec *r, const uint8_t *pt, size_t len, size_t idx)
{
	size_t pos = 0;
	struct cur c;

	ck_assert_msg(r->nhex > 0, "record %zu has no messages", idx);
	cur_init(&c, r->hex.p, r->hex.len);
	for (size_t i = 0; i < r->nhex; i++) {
		size_t hl = cur_be16(&c);
		const uint8_t *h = cur_take(&c, hl);
		const uint8_t *at;

		ck_assert(cur_ok(&c));
		at = pos < len ? memmem(pt + pos, len - pos, h, hl) : NULL;
		ck_assert_msg(at != NULL, "record %zu: message %zu not in the plaintext", idx, i);
		pos = (size_t)(at - pt) + hl;
	}
}

/* memberlist's CRC32 (IEEE, reflected, as Go's hash/crc32). */
static uint32_t crc32_ieee(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int b = 0; b < 8; b++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static bool valid_ml_type(uint8_t t)
{
	return t <= 13 || t == 244; /* spec §4.3's table */
}

START_TEST(test_golden_udp)
{
	struct pcaputil_file f;
	struct pcaputil_pkt pkt;
	struct keyring k, wrong;
	struct txt_rec *recs;
	struct buf pt, re;
	const char *why;
	size_t nrec = load_txt(&recs), rec = 0, udp = 0, crc_checked = 0, other = 0;
	int r;

	keyring_init(&k);
	ck_assert_int_eq(keyring_add_b64(&k, GOLDEN_KEY_B64, &why), 0);
	keyring_init(&wrong);
	ck_assert_int_eq(
	    keyring_add_b64(&wrong, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWE=", &why), 0);
	buf_init(&pt, 1 << 20);
	buf_init(&re, 1 << 20);
	ck_assert_int_eq(pcaputil_open(&f, GOLDEN_PCAP), 0);
	ck_assert_uint_eq(f.linktype, 1); /* Ethernet (tcpdump -i lo) */
	while ((r = pcaputil_next(&f, &pkt)) == 1) {
		if (pkt.proto != PCAPUTIL_UDP) {
			other++;
			continue;
		}
		ck_assert(pkt.sport == GOSSIP_PORT || pkt.dport == GOSSIP_PORT);
		/* The next UDP record of decode.py's reading is this packet. */
		while (rec < nrec && !recs[rec].udp)
			rec++;
		ck_assert_uint_lt(rec, nrec);
		ck_assert(recs[rec].has_nonce);
		ck_assert_uint_ge(pkt.len, KEYRING_OVERHEAD);
		ck_assert_uint_eq(pkt.payload[0], KEYRING_VERSION);
		ck_assert_mem_eq(pkt.payload + 1, recs[rec].nonce, 12);

		/* No label in these captures: the AAD is empty. */
		buf_reset(&pt);
		why = NULL;
		ck_assert_msg(keyring_decrypt(&k, pkt.payload, pkt.len, NULL, 0, &pt, &why) == 0,
		              "packet %zu: %s", pkt.index, why);
		ck_assert_uint_eq(pt.len, pkt.len - KEYRING_OVERHEAD);
		ck_assert_msg(valid_ml_type(pt.p[0]), "packet %zu: type %u", pkt.index, pt.p[0]);
		/* Protocol 5 peers: hasCrc over the rest, checked after decryption. */
		ck_assert_int_eq(pt.p[0] == 12, recs[rec].has_crc);
		if (pt.p[0] == 12) {
			ck_assert_uint_ge(pt.len, 6);
			ck_assert_uint_eq(be32_get(pt.p + 1), crc32_ieee(pt.p + 5, pt.len - 5));
			ck_assert(valid_ml_type(pt.p[5]));
			crc_checked++;
		}
		check_hex_in(&recs[rec], pt.p, pt.len, rec);

		/* Sealing that plaintext again with serf's nonce gives serf's bytes. */
		buf_reset(&re);
		ck_assert_int_eq(
		    keyring_seal(&k, KEYRING_VERSION, pkt.payload + 1, pt.p, pt.len, NULL, 0, &re),
		    0);
		ck_assert_uint_eq(re.len, pkt.len);
		ck_assert_mem_eq(re.p, pkt.payload, pkt.len);

		/* Another key, or a label serf did not use, opens nothing. */
		buf_reset(&pt);
		ck_assert_int_eq(keyring_decrypt(&wrong, pkt.payload, pkt.len, NULL, 0, &pt, &why),
		                 -1);
		ck_assert_int_eq(
		    keyring_decrypt(&k, pkt.payload, pkt.len, (const uint8_t *)"dc1", 3, &pt, &why),
		    -1);
		/* With the right key second in the ring it still opens. */
		if (udp == 0) {
			struct keyring both = wrong;
			ck_assert_int_eq(keyring_add_b64(&both, GOLDEN_KEY_B64, &why), 0);
			ck_assert_int_eq(
			    keyring_decrypt(&both, pkt.payload, pkt.len, NULL, 0, &pt, &why), 0);
		}
		udp++;
		rec++;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(udp, GOLDEN_UDP);
	ck_assert_uint_eq(crc_checked, GOLDEN_CRC);
	ck_assert_uint_gt(other, 0); /* the TCP segments, read but not UDP */
	while (rec < nrec && !recs[rec].udp)
		rec++;
	ck_assert_uint_eq(rec, nrec);
	pcaputil_close(&f);
	free_txt(recs, nrec);
	buf_fini(&pt);
	buf_fini(&re);
	keyring_fini(&k);
}
END_TEST

/* Push-pull over TCP: [10][u32 BE length][sealed body], AAD = those 5
 * bytes (no label here). */
START_TEST(test_golden_tcp)
{
	struct pcaputil_streams ss;
	struct keyring k;
	struct txt_rec *recs;
	struct buf pt;
	const char *why;
	size_t nrec = load_txt(&recs), rec = 0;

	keyring_init(&k);
	ck_assert_int_eq(keyring_add_b64(&k, GOLDEN_KEY_B64, &why), 0);
	buf_init(&pt, 1 << 20);
	ck_assert_int_eq(pcaputil_streams(GOLDEN_PCAP, GOSSIP_PORT, &ss), 0);
	ck_assert_uint_eq(ss.n, GOLDEN_TCP);
	for (size_t i = 0; i < ss.n; i++) {
		const struct pcaputil_stream *st = &ss.v[i];
		char from[32], to[32];
		size_t body;

		pcaputil_addr(st->src, st->sport, from, sizeof(from));
		pcaputil_addr(st->dst, st->dport, to, sizeof(to));
		ck_assert_msg(!st->gap, "%s > %s: segment missing", from, to);
		while (rec < nrec && recs[rec].udp)
			rec++;
		ck_assert_uint_lt(rec, nrec);
		ck_assert_uint_ge(st->len, 5 + KEYRING_OVERHEAD);
		ck_assert_uint_eq(st->data[0], 10); /* encrypt */
		body = be32_get(st->data + 1);
		ck_assert_uint_eq(5 + body, st->len);
		ck_assert_mem_eq(st->data + 6, recs[rec].nonce, 12);

		buf_reset(&pt);
		why = NULL;
		ck_assert_msg(keyring_decrypt(&k, st->data + 5, body, st->data, 5, &pt, &why) == 0,
		              "%s > %s: %s", from, to, why);
		ck_assert_uint_eq(pt.p[0], 6); /* pushPull */
		check_hex_in(&recs[rec], pt.p, pt.len, rec);
		/* The header is the AAD: without it, or with a label, no key opens it. */
		buf_reset(&pt);
		ck_assert_int_eq(keyring_decrypt(&k, st->data + 5, body, NULL, 0, &pt, &why), -1);
		ck_assert_str_eq(why, ERR_NOKEY);
		{
			uint8_t aad[8];
			memcpy(aad, st->data, 5);
			memcpy(aad + 5, "dc1", 3);
			ck_assert_int_eq(keyring_decrypt(&k, st->data + 5, body, aad, 8, &pt, &why),
			                 -1);
		}
		rec++;
	}
	pcaputil_streams_free(&ss);
	free_txt(recs, nrec);
	buf_fini(&pt);
	keyring_fini(&k);
}
END_TEST

static Suite *keyring_suite(void)
{
	Suite *s = suite_create("keyring");
	TCase *tc = tcase_create("keyring");

	tcase_add_test(tc, test_add_rules);
	tcase_add_test(tc, test_use_remove);
	tcase_add_test(tc, test_b64);
	tcase_add_test(tc, test_b64_keys);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_appends_and_limits);
	tcase_add_test(tc, test_wrong_key_and_tamper);
	tcase_add_test(tc, test_all_keys_tried);
	tcase_add_test(tc, test_version0);
	tcase_add_test(tc, test_file_round_trip);
	tcase_add_test(tc, test_file_forms);
	suite_add_tcase(s, tc);
	tc = tcase_create("golden");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_golden_udp);
	tcase_add_test(tc, test_golden_tcp);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(keyring_suite());
}

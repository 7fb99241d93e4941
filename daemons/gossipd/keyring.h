/* keyring.h: gossip encryption: the keyring and memberlist's AES-GCM packet and stream layouts (spec/dns-cli-gossip-raft.md §4.3), pure. */
#ifndef MUSTER_GOSSIPD_KEYRING_H
#define MUSTER_GOSSIPD_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define KEYRING_KEYS_MAX   16 /* installed keys (memberlist has no limit; we do) */
#define KEYRING_KEY_MAX    32
#define KEYRING_NONCE_SIZE 12
#define KEYRING_TAG_SIZE   16
/* encryption version byte + nonce + tag: memberlist's overhead for v1 */
#define KEYRING_OVERHEAD (1 + KEYRING_NONCE_SIZE + KEYRING_TAG_SIZE)
/* security.go's encryption versions: 0 pads the plaintext to the AES block
 * (PKCS#7), 1 does not; memberlist protocol >= 2 sends 1. */
#define KEYRING_VERSION_PADDED 0
#define KEYRING_VERSION        1
/* Standard base64 of the largest key, padded, plus a NUL. */
#define KEYRING_B64_MAX (4 * ((KEYRING_KEY_MAX + 2) / 3) + 1)
/* serf/local.keyring is read whole; 16 keys in JSON take about 1 KiB. */
#define KEYRING_FILE_MAX (64 * 1024)

/* keys[0] is the primary key: it encrypts; every key is tried to decrypt. */
struct keyring {
	uint8_t keys[KEYRING_KEYS_MAX][KEYRING_KEY_MAX];
	uint8_t lens[KEYRING_KEYS_MAX]; /* 16, 24 or 32: AES-128/192/256 */
	size_t n;
};

/* The why strings below are static (never freed). Errors of keyring_add/
 * _use/_remove have memberlist's texts where memberlist has one (the CLI
 * shows them): "key size must be 16, 24 or 32 bytes", "Requested key is not
 * in the keyring", "Removing the primary key is not allowed". */
void keyring_init(struct keyring *k);
/* Wipes the key material (keyring_init again to reuse). NULL is fine. */
void keyring_fini(struct keyring *k);
/* Installs a key (16, 24 or 32 bytes); the first one installed becomes
 * primary. 0, or -1 with why (bad size, full, already there is 0). */
int keyring_add(struct keyring *k, const uint8_t *key, size_t len, const char **why);
/* Makes an installed key primary; -1 when it is not installed. The others
 * keep their order (memberlist's installKeys). */
int keyring_use(struct keyring *k, const uint8_t *key, size_t len, const char **why);
/* Removes a key; refused (-1) for the primary key, as memberlist does.
 * A key that is not installed is 0 (memberlist: a no-op). */
int keyring_remove(struct keyring *k, const uint8_t *key, size_t len, const char **why);
/* Base64 (standard, padded) forms, as -encrypt and serf/local.keyring hold them. */
int keyring_add_b64(struct keyring *k, const char *b64, const char **why);
int keyring_use_b64(struct keyring *k, const char *b64, const char **why);
int keyring_remove_b64(struct keyring *k, const char *b64, const char **why);

/* A packet (UDP) or a stream body: appends to out
 *   [1 byte version 1][12-byte random nonce][ciphertext][16-byte tag]
 * sealed with the primary key and aad (the label for packets; the 5-byte
 * stream header plus the label for streams). 0, or -1 (no key, out full).
 * The nonce comes from OpenSSL's RAND_bytes (the one impure call here). */
int keyring_encrypt(const struct keyring *k, const uint8_t *msg, size_t len, const uint8_t *aad,
                    size_t aad_len, struct buf *out);
/* keyring_encrypt with the caller's nonce and version (KEYRING_VERSION, or
 * KEYRING_VERSION_PADDED for peers of protocol < 2): deterministic, for
 * tests and vectors. A nonce must never be reused with the same key. */
int keyring_seal(const struct keyring *k, int version, const uint8_t nonce[KEYRING_NONCE_SIZE],
                 const uint8_t *msg, size_t len, const uint8_t *aad, size_t aad_len,
                 struct buf *out);
/* Opens what keyring_encrypt sealed, trying every key; version 0 (with
 * PKCS#7 padding, memberlist's legacy) is understood too. Appends the
 * plaintext to out. 0, or -1 with why ("no installed keys could decrypt
 * the message", "unsupported encryption version", "too short"). pkt must
 * not point into out. */
int keyring_decrypt(const struct keyring *k, const uint8_t *pkt, size_t len, const uint8_t *aad,
                    size_t aad_len, struct buf *out, const char **why);

/* serf/local.keyring: a JSON list of base64 keys, primary first.
 * load replaces k's keys only when the whole file is good (an empty list is
 * refused, as Consul does); save writes "<path>.tmp" with mode 0600, fsyncs
 * it and renames it over path. On I/O errors errno says why further. */
int keyring_load_file(struct keyring *k, const char *path, const char **why);
int keyring_save_file(const struct keyring *k, const char *path, const char **why);

#endif

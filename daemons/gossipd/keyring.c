/* keyring.c: gossip encryption: the keyring, memberlist's AES-GCM layouts (spec §4.3) and serf/local.keyring. */
#include "keyring.h"

#include "b64.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define KEYRING_AES_BLOCK 16
/* A JSON string in the keyring file longer than this is no key. */
#define KEYRING_JSON_STR_MAX 256
/* Base64 keys are decoded into this much room, so that an oversized key
 * is told apart from garbage. */
#define KEYRING_B64_PARSE_MAX 96

static const char ERR_SIZE[] = "key size must be 16, 24 or 32 bytes";
static const char ERR_NOT_INSTALLED[] = "Requested key is not in the keyring";
static const char ERR_PRIMARY[] = "Removing the primary key is not allowed";
static const char ERR_FULL[] = "keyring is full";
static const char ERR_B64[] = "key is not valid base64";
static const char ERR_NO_KEY[] = "no installed keys could decrypt the message";

static void set_why(const char **why, const char *s)
{
	if (why != NULL)
		*why = s;
}

void keyring_init(struct keyring *k)
{
	memset(k, 0, sizeof(*k));
}

void keyring_fini(struct keyring *k)
{
	if (k != NULL)
		OPENSSL_cleanse(k, sizeof(*k));
}

/* memberlist's ValidateKey: AES-128, AES-192 or AES-256. */
static bool keyring_size_ok(size_t len)
{
	return len == 16 || len == 24 || len == 32;
}

static int keyring_find(const struct keyring *k, const uint8_t *key, size_t len)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->lens[i] == len && memcmp(k->keys[i], key, len) == 0)
			return (int)i;
	return -1;
}

int keyring_add(struct keyring *k, const uint8_t *key, size_t len, const char **why)
{
	if (!keyring_size_ok(len)) {
		set_why(why, ERR_SIZE);
		return -1;
	}
	/* memberlist's AddKey: a key already installed is a no-op. */
	if (keyring_find(k, key, len) >= 0)
		return 0;
	if (k->n >= KEYRING_KEYS_MAX) {
		set_why(why, ERR_FULL);
		return -1;
	}
	memcpy(k->keys[k->n], key, len);
	k->lens[k->n] = (uint8_t)len;
	k->n++;
	return 0;
}

int keyring_use(struct keyring *k, const uint8_t *key, size_t len, const char **why)
{
	uint8_t tmp[KEYRING_KEY_MAX];
	int i = keyring_find(k, key, len);

	if (i < 0) {
		set_why(why, ERR_NOT_INSTALLED);
		return -1;
	}
	/* installKeys(keys, primary): the primary first, the rest in order. */
	memcpy(tmp, k->keys[i], sizeof(tmp));
	memmove(k->keys[1], k->keys[0], (size_t)i * sizeof(k->keys[0]));
	memmove(k->lens + 1, k->lens, (size_t)i);
	memcpy(k->keys[0], tmp, sizeof(tmp));
	k->lens[0] = (uint8_t)len;
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return 0;
}

int keyring_remove(struct keyring *k, const uint8_t *key, size_t len, const char **why)
{
	int i = keyring_find(k, key, len);

	if (i < 0)
		return 0; /* memberlist's RemoveKey: nothing to do */
	if (i == 0) {
		set_why(why, ERR_PRIMARY);
		return -1;
	}
	memmove(k->keys[i], k->keys[i + 1], (k->n - (size_t)i - 1) * sizeof(k->keys[0]));
	memmove(k->lens + i, k->lens + i + 1, k->n - (size_t)i - 1);
	k->n--;
	OPENSSL_cleanse(k->keys[k->n], sizeof(k->keys[0]));
	k->lens[k->n] = 0;
	return 0;
}

/* Decodes a base64 key, refusing what cannot be one. A valid string
 * that decodes to too many bytes is a size error, as in memberlist. */
static int keyring_parse_b64(const char *b64, uint8_t key[KEYRING_KEY_MAX], size_t *len,
                             const char **why)
{
	uint8_t big[KEYRING_B64_PARSE_MAX];
	int rc = 0;

	if (b64 == NULL || strlen(b64) > 4 * (sizeof(big) / 3)) {
		set_why(why, b64 == NULL ? ERR_B64 : ERR_SIZE);
		return -1;
	}
	if (b64_decode(b64, big, sizeof(big), len) != 0) {
		set_why(why, ERR_B64);
		rc = -1;
	} else if (!keyring_size_ok(*len)) {
		set_why(why, ERR_SIZE);
		rc = -1;
	} else {
		memcpy(key, big, *len);
	}
	OPENSSL_cleanse(big, sizeof(big));
	return rc;
}

int keyring_add_b64(struct keyring *k, const char *b64, const char **why)
{
	uint8_t key[KEYRING_KEY_MAX];
	size_t len;
	int rc = keyring_parse_b64(b64, key, &len, why);

	if (rc == 0)
		rc = keyring_add(k, key, len, why);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int keyring_use_b64(struct keyring *k, const char *b64, const char **why)
{
	uint8_t key[KEYRING_KEY_MAX];
	size_t len;
	int rc = keyring_parse_b64(b64, key, &len, why);

	if (rc == 0)
		rc = keyring_use(k, key, len, why);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int keyring_remove_b64(struct keyring *k, const char *b64, const char **why)
{
	uint8_t key[KEYRING_KEY_MAX];
	size_t len;
	int rc = keyring_parse_b64(b64, key, &len, why);

	if (rc == 0)
		rc = keyring_remove(k, key, len, why);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* ---- AES-GCM (security.go) ---- */

static const EVP_CIPHER *keyring_cipher(size_t len)
{
	switch (len) {
	case 16:
		return EVP_aes_128_gcm();
	case 24:
		return EVP_aes_192_gcm();
	case 32:
		return EVP_aes_256_gcm();
	}
	return NULL;
}

/* EVP counts in int: every piece must fit one. */
static bool keyring_int_ok(size_t n)
{
	return n <= (size_t)INT_MAX - 2 * KEYRING_AES_BLOCK;
}

/* GCM-seals pt then pad (pad_len bytes, version 0's PKCS#7 padding) into ct,
 * and the tag. */
static int keyring_gcm_seal(const uint8_t *key, size_t key_len, const uint8_t *nonce,
                            const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
                            const uint8_t *pad, size_t pad_len, uint8_t *ct, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, rc = -1;

	if (ctx == NULL)
		return -1;
	if (EVP_EncryptInit_ex(ctx, keyring_cipher(key_len), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, KEYRING_NONCE_SIZE, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
		goto out;
	if (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (len > 0 && EVP_EncryptUpdate(ctx, ct, &n, pt, (int)len) != 1)
		goto out;
	if (pad_len > 0 && EVP_EncryptUpdate(ctx, ct + len, &n, pad, (int)pad_len) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, ct + len + pad_len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KEYRING_TAG_SIZE, tag) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* GCM-opens ct (len bytes) with its tag into pt; -1 when it does not
 * authenticate under this key. */
static int keyring_gcm_open(const uint8_t *key, size_t key_len, const uint8_t *nonce,
                            const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t len,
                            const uint8_t *tag, uint8_t *pt)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t tag_copy[KEYRING_TAG_SIZE];
	int n = 0, rc = -1;

	if (ctx == NULL)
		return -1;
	memcpy(tag_copy, tag, sizeof(tag_copy)); /* the ctrl takes a non-const pointer */
	if (EVP_DecryptInit_ex(ctx, keyring_cipher(key_len), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, KEYRING_NONCE_SIZE, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
		goto out;
	if (aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (len > 0 && EVP_DecryptUpdate(ctx, pt, &n, ct, (int)len) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KEYRING_TAG_SIZE, tag_copy) != 1 ||
	    EVP_DecryptFinal_ex(ctx, pt + len, &n) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int keyring_seal(const struct keyring *k, int version, const uint8_t nonce[KEYRING_NONCE_SIZE],
                 const uint8_t *msg, size_t len, const uint8_t *aad, size_t aad_len,
                 struct buf *out)
{
	uint8_t pad[KEYRING_AES_BLOCK];
	size_t pad_len = 0, total;
	uint8_t *p;

	if (k->n == 0 || (version != KEYRING_VERSION && version != KEYRING_VERSION_PADDED) ||
	    !keyring_int_ok(len) || !keyring_int_ok(aad_len))
		return -1;
	if (version == KEYRING_VERSION_PADDED) {
		/* pkcs7encode: always 1..16 bytes, each the count. */
		pad_len = KEYRING_AES_BLOCK - len % KEYRING_AES_BLOCK;
		memset(pad, (int)pad_len, pad_len);
	}
	total = KEYRING_OVERHEAD + len + pad_len;
	if (buf_reserve(out, total) != 0)
		return -1;
	p = out->p + out->len;
	p[0] = (uint8_t)version;
	memcpy(p + 1, nonce, KEYRING_NONCE_SIZE);
	if (keyring_gcm_seal(k->keys[0], k->lens[0], nonce, aad, aad_len, msg, len, pad, pad_len,
	                     p + 1 + KEYRING_NONCE_SIZE,
	                     p + 1 + KEYRING_NONCE_SIZE + len + pad_len) != 0)
		return -1;
	out->len += total;
	return 0;
}

int keyring_encrypt(const struct keyring *k, const uint8_t *msg, size_t len, const uint8_t *aad,
                    size_t aad_len, struct buf *out)
{
	uint8_t nonce[KEYRING_NONCE_SIZE];

	/* encryptPayload: a fresh random nonce per message (GCM's one rule). */
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return -1;
	return keyring_seal(k, KEYRING_VERSION, nonce, msg, len, aad, aad_len, out);
}

int keyring_decrypt(const struct keyring *k, const uint8_t *pkt, size_t len, const uint8_t *aad,
                    size_t aad_len, struct buf *out, const char **why)
{
	size_t min, ct_len;
	const uint8_t *nonce, *ct, *tag;
	uint8_t *pt;

	if (len == 0) {
		set_why(why, "too short");
		return -1;
	}
	/* decryptPayload: versions above 1 are unknown; version 0 carries at
	 * least one block of padding. The version byte is not authenticated
	 * (memberlist's layout), only nonce, ciphertext and aad are. */
	if (pkt[0] > KEYRING_VERSION) {
		set_why(why, "unsupported encryption version");
		return -1;
	}
	min = KEYRING_OVERHEAD + (pkt[0] == KEYRING_VERSION_PADDED ? KEYRING_AES_BLOCK : 0);
	if (len < min) {
		set_why(why, "too short");
		return -1;
	}
	ct_len = len - KEYRING_OVERHEAD;
	if (!keyring_int_ok(ct_len) || !keyring_int_ok(aad_len)) {
		set_why(why, "message too large");
		return -1;
	}
	if (buf_reserve(out, ct_len) != 0) {
		set_why(why, "message too large");
		return -1;
	}
	nonce = pkt + 1;
	ct = nonce + KEYRING_NONCE_SIZE;
	tag = ct + ct_len;
	pt = out->p + out->len;
	/* The primary first, then every other installed key (rotation: peers
	 * may still use the old primary). */
	for (size_t i = 0; i < k->n; i++) {
		if (keyring_gcm_open(k->keys[i], k->lens[i], nonce, aad, aad_len, ct, ct_len, tag,
		                     pt) != 0)
			continue;
		if (pkt[0] == KEYRING_VERSION_PADDED) {
			/* pkcs7decode; memberlist trusts the count, we check it. */
			size_t pad = pt[ct_len - 1];

			if (pad == 0 || pad > KEYRING_AES_BLOCK || pad > ct_len) {
				set_why(why, "bad padding");
				return -1;
			}
			for (size_t j = ct_len - pad; j < ct_len; j++)
				if (pt[j] != pad) {
					set_why(why, "bad padding");
					return -1;
				}
			ct_len -= pad;
		}
		out->len += ct_len;
		return 0;
	}
	set_why(why, ERR_NO_KEY);
	return -1;
}

/* ---- serf/local.keyring ---- */

static const char ERR_JSON[] = "keyring file is not a JSON list of strings";

static const char *json_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One JSON string at *pp (its opening quote) into s (NUL-terminated).
 * Escapes are decoded for ASCII only: a key's base64 is ASCII, anything
 * else is no key anyway. */
static int json_string(const char **pp, const char *end, char *s, size_t size)
{
	const char *p = *pp;
	size_t n = 0;

	if (p >= end || *p++ != '"')
		return -1;
	for (;;) {
		char c;

		if (p >= end || n + 1 >= size)
			return -1;
		c = *p++;
		if (c == '"')
			break;
		if ((unsigned char)c < 0x20)
			return -1; /* JSON forbids raw control characters */
		if (c == '\\') {
			if (p >= end)
				return -1;
			c = *p++;
			switch (c) {
			case '"':
			case '\\':
			case '/':
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u': {
				int v = 0;

				if (end - p < 4)
					return -1;
				for (int i = 0; i < 4; i++) {
					int h = hex_value(p[i]);
					if (h < 0)
						return -1;
					v = v << 4 | h;
				}
				if (v == 0 || v > 0x7f)
					return -1;
				p += 4;
				c = (char)v;
				break;
			}
			default:
				return -1;
			}
		}
		s[n++] = c;
	}
	s[n] = '\0';
	*pp = p;
	return 0;
}

/* Parses the file's text into k: [ "b64", ... ] with JSON whitespace. */
static int keyring_parse_file(struct keyring *k, const char *text, size_t len, const char **why)
{
	const char *p = text, *end = text + len;
	char s[KEYRING_JSON_STR_MAX];
	int rc = -1;

	p = json_ws(p, end);
	if (p >= end || *p++ != '[') {
		set_why(why, ERR_JSON);
		return -1;
	}
	p = json_ws(p, end);
	if (p < end && *p == ']') {
		/* Consul's loadKeyringFile refuses a keyring without keys. */
		set_why(why, "no keys present in keyring file");
		return -1;
	}
	for (;;) {
		if (json_string(&p, end, s, sizeof(s)) != 0) {
			set_why(why, ERR_JSON);
			goto out;
		}
		if (keyring_add_b64(k, s, why) != 0)
			goto out;
		p = json_ws(p, end);
		if (p < end && *p == ',') {
			p = json_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == ']')
			break;
		set_why(why, ERR_JSON);
		goto out;
	}
	p = json_ws(p + 1, end);
	if (p != end) {
		set_why(why, ERR_JSON);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(s, sizeof(s));
	return rc;
}

int keyring_load_file(struct keyring *k, const char *path, const char **why)
{
	char text[KEYRING_FILE_MAX + 1];
	struct keyring tmp;
	size_t len = 0;
	int fd, rc, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_why(why, "cannot open keyring file");
		return -1;
	}
	/* Read one byte past the limit to tell "too large" from "full". */
	while (len < sizeof(text)) {
		ssize_t r = read(fd, text + len, sizeof(text) - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			saved = errno;
			close(fd);
			OPENSSL_cleanse(text, len);
			errno = saved;
			set_why(why, "cannot read keyring file");
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > KEYRING_FILE_MAX) {
		OPENSSL_cleanse(text, len);
		set_why(why, "keyring file is too large");
		return -1;
	}
	keyring_init(&tmp);
	rc = keyring_parse_file(&tmp, text, len, why);
	if (rc == 0)
		*k = tmp;
	keyring_fini(&tmp);
	OPENSSL_cleanse(text, len);
	return rc;
}

int keyring_save_file(const struct keyring *k, const char *path, const char **why)
{
	/* Serf's writeKeyringFile: json.MarshalIndent(keys, "", "  "), i.e.
	 * "[\n  \"k1\",\n  \"k2\"\n]" without a final newline. */
	char text[KEYRING_KEYS_MAX * (KEYRING_B64_MAX + 8) + 8];
	size_t len = 0;
	const char *step = NULL;
	int saved;

	if (k->n == 0) {
		set_why(why, "keyring is empty");
		return -1;
	}
	if (strlen(path) + sizeof(".tmp") > PATH_MAX) {
		set_why(why, "keyring file path is too long");
		return -1;
	}
	text[len++] = '[';
	for (size_t i = 0; i < k->n; i++) {
		memcpy(text + len, i == 0 ? "\n  \"" : ",\n  \"", i == 0 ? 4 : 5);
		len += i == 0 ? 4 : 5;
		/* text is sized for KEYRING_KEYS_MAX keys of the largest size. */
		len += (size_t)b64_encode(k->keys[i], k->lens[i], text + len,
		                                  sizeof(text) - len);
		text[len++] = '"';
	}
	memcpy(text + len, "\n]", 2);
	len += 2;

	if (fsutil_write_atomic(path, text, len, 0600, &step) != 0) {
		/* The keys are secret: the tmp file is mode 0600 from the start. */
		set_why(why, strcmp(step, "create") == 0   ? "cannot create keyring file"
		             : strcmp(step, "write") == 0  ? "cannot write keyring file"
		             : strcmp(step, "rename") == 0 ? "cannot rename keyring file"
		                                           : "cannot sync keyring file's directory");
		saved = errno;
		OPENSSL_cleanse(text, sizeof(text));
		errno = saved;
		return -1;
	}
	OPENSSL_cleanse(text, sizeof(text));
	return 0;
}

/* store.c: raftd's RocksDB store: the Raft log, hard state, snapshot point and the fsm's tables. */
#include "store.h"

#include "fsutil.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <rocksdb/c.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "buf.h"
#include "xalloc.h"

/* Limits (habit 7). A snapshot record's key, like its value, came from one
 * entry (a service row is lower(node) SEP lower(id), each up to
 * MSG_STR_LEN_MAX, so more than 1 MiB). */
#define STORE_CACHE_ENTRIES  1024        /* tail cache: the newest entries, by count */
#define STORE_CACHE_BYTES    (8u << 20)  /* ... and by payload bytes */
#define STORE_ARENA_BYTES    (64u << 20) /* entries() reads kept alive between changes */
#define STORE_SNAP_KEY_MAX   RAFT_ENTRY_BYTES_MAX
#define STORE_SNAP_VALUE_MAX RAFT_ENTRY_BYTES_MAX
#define STORE_SNAP_VERSION   1u
#define STORE_SNAP_END       0xffu /* the table byte that ends the records */
#define ENTRY_HDR            9     /* [type u8][term u64 BE] before the payload */

static const char snap_magic[8] = {'M', 'S', 'T', 'R', 'S', 'N', 'A', 'P'};

/*
 * Column families: the fixed ones, then one per fsm table in the order of
 * enum fsm_table (the names are fsm_table_name()'s; they are spelled here
 * so the store does not depend on fsm.c, and test_store checks they agree).
 */
enum { CF_DEFAULT, CF_LOG, CF_META, CF_STATE, CF_COUNT = CF_STATE + FSM_T_COUNT };
static const char *const cf_names[CF_COUNT] = {
    "default", "log", "meta", "kv", "tomb", "nodes", "services", "checks", "sessions", "index"};
_Static_assert(FSM_T_COUNT == 7, "cf_names[] lists enum fsm_table in order");
_Static_assert(FSM_T_KV == 0 && FSM_T_INDEX == 6, "cf_names[] lists enum fsm_table in order");

#define CF_MAX 64 /* column families a database may hold (ours and unknown ones) */

struct store {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_column_family_handle_t *cf[CF_MAX]; /* CF_COUNT ours, then unknown ones */
	size_t n_cf;
	rocksdb_writeoptions_t *wo_sync, *wo_nosync;
	rocksdb_readoptions_t *ro;
	bool durable;

	/* Cached meta: what RocksDB holds, read at open and kept in step. */
	struct raft_hard_state hs;
	uint64_t applied_index, applied_term;
	struct raft_snapshot snap; /* index, term, conf; len 0, data NULL */
	uint64_t log_lo;           /* first key physically in "log" (0: none) */
	uint64_t last;             /* last index: the log's last, or snap.index */

	/* The newest entries, contiguous and ending at last (or empty). */
	struct raft_entry *cache;
	size_t cache_n; /* <= STORE_CACHE_ENTRIES */
	uint64_t cache_bytes;

	/* Payloads entries() read from RocksDB; freed at the next change. */
	void **arena;
	size_t arena_n, arena_cap;
	uint64_t arena_bytes;

	struct store_stats stats;
	char err[512];
};

/* ---- helpers ---- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Records an error: "<context>[: <rocksdb text>]" in s->err, logged; frees
 * rerr; returns -1. */
static int store_fail(struct store *s, char *rerr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int store_fail(struct store *s, char *rerr, const char *fmt, ...)
{
	char ctx[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (rerr != NULL)
		snprintf(s->err, sizeof(s->err), "%s: %s", ctx, rerr);
	else
		snprintf(s->err, sizeof(s->err), "%s", ctx);
	rocksdb_free(rerr);
	log_warnx("store: %s", s->err);
	return -1;
}

static rocksdb_column_family_handle_t *cf_state(struct store *s, enum fsm_table t)
{
	assert((unsigned)t < FSM_T_COUNT);
	return s->cf[CF_STATE + t];
}

/* ---- SHA-256 (FIPS 180-4) for snapshot files ---- */

struct sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes hashed */
	uint8_t buf[64];
	size_t n;
};

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror32(uint32_t x, unsigned n)
{
	return x >> n | x << (32 - n);
}

static void sha256_init(struct sha256 *c)
{
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(c->h, h0, sizeof(h0));
	c->len = 0;
	c->n = 0;
}

/* FIPS 180-4 §6.2.2: one 512-bit block. */
static void sha256_block(struct sha256 *c, const uint8_t *p)
{
	uint32_t w[64], a, b, d, e, f, g, h, cc;

	for (int i = 0; i < 16; i++)
		w[i] = be32_get(p + 4 * i);
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
	e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) +
		              ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
		uint32_t t2 =
		    (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
		h = g, g = f, f = e, e = d + t1;
		d = cc, cc = b, b = a, a = t1 + t2;
	}
	c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d;
	c->h[4] += e, c->h[5] += f, c->h[6] += g, c->h[7] += h;
}

static void sha256_update(struct sha256 *c, const void *data, size_t n)
{
	const uint8_t *p = data;

	c->len += n;
	if (c->n > 0) {
		size_t k = min_u64(n, 64 - c->n);
		memcpy(c->buf + c->n, p, k);
		c->n += k, p += k, n -= k;
		if (c->n < 64)
			return;
		sha256_block(c, c->buf);
		c->n = 0;
	}
	for (; n >= 64; p += 64, n -= 64)
		sha256_block(c, p);
	memcpy(c->buf, p, n);
	c->n = n;
}

static void sha256_final(struct sha256 *c, uint8_t out[32])
{
	uint64_t bits = c->len * 8;
	uint8_t pad[72] = {0x80};
	size_t k = (c->n < 56 ? 56 : 120) - c->n; /* to 56 mod 64 */

	be64_put(pad + k, bits);
	sha256_update(c, pad, k + 8);
	assert(c->n == 0);
	for (int i = 0; i < 8; i++)
		be32_put(out + 4 * i, c->h[i]);
}

void store_sha256(const void *data, size_t n, uint8_t out[32])
{
	struct sha256 c;
	sha256_init(&c);
	sha256_update(&c, data, n);
	sha256_final(&c, out);
}

/* ---- the tail cache and the read arena ---- */

static void cache_clear(struct store *s)
{
	for (size_t i = 0; i < s->cache_n; i++)
		free(s->cache[i].data);
	s->cache_n = 0;
	s->cache_bytes = 0;
}

/* Drops cached entries from the front (k of them). */
static void cache_drop_front(struct store *s, size_t k)
{
	if (k >= s->cache_n) {
		cache_clear(s);
		return;
	}
	for (size_t i = 0; i < k; i++) {
		s->cache_bytes -= s->cache[i].len;
		free(s->cache[i].data);
	}
	memmove(s->cache, s->cache + k, (s->cache_n - k) * sizeof(*s->cache));
	s->cache_n -= k;
}

/* Keeps the cache the tail of the log after e[0..n) was appended (the
 * entries it held from e[0].index on are replaced). */
static void cache_append(struct store *s, const struct raft_entry *e, size_t n)
{
	if (n == 0)
		return;
	if (s->cache_n > 0) {
		uint64_t c0 = s->cache[0].index, cend = c0 + s->cache_n;
		if (e[0].index <= c0 || e[0].index > cend) {
			cache_clear(s);
		} else {
			for (size_t i = e[0].index - c0; i < s->cache_n; i++) {
				s->cache_bytes -= s->cache[i].len;
				free(s->cache[i].data);
			}
			s->cache_n = e[0].index - c0;
		}
	}
	/* a batch larger than the cache: only its tail is worth keeping */
	size_t skip = n > STORE_CACHE_ENTRIES ? n - STORE_CACHE_ENTRIES : 0;
	if (skip > 0)
		cache_clear(s);
	if (s->cache == NULL)
		s->cache = xmalloc(STORE_CACHE_ENTRIES * sizeof(*s->cache));
	size_t drop = s->cache_n + (n - skip) > STORE_CACHE_ENTRIES
	                  ? s->cache_n + (n - skip) - STORE_CACHE_ENTRIES
	                  : 0;
	cache_drop_front(s, drop);
	for (size_t i = skip; i < n; i++) {
		struct raft_entry *d = &s->cache[s->cache_n++];
		*d = e[i];
		d->data = NULL;
		if (e[i].len > 0) {
			d->data = xmalloc(e[i].len);
			memcpy(d->data, e[i].data, e[i].len);
		}
		s->cache_bytes += e[i].len;
	}
	size_t k = 0;
	uint64_t bytes = s->cache_bytes;
	while (k + 1 < s->cache_n && bytes > STORE_CACHE_BYTES)
		bytes -= s->cache[k++].len;
	cache_drop_front(s, k);
}

/* Drops cached entries below first. */
static void cache_trim_below(struct store *s, uint64_t first)
{
	if (s->cache_n == 0 || s->cache[0].index >= first)
		return;
	cache_drop_front(s, first - s->cache[0].index);
}

static const struct raft_entry *cache_get(const struct store *s, uint64_t i)
{
	if (s->cache_n == 0 || i < s->cache[0].index || i >= s->cache[0].index + s->cache_n)
		return NULL;
	return &s->cache[i - s->cache[0].index];
}

static void arena_reset(struct store *s)
{
	for (size_t i = 0; i < s->arena_n; i++)
		free(s->arena[i]);
	s->arena_n = 0;
	s->arena_bytes = 0;
}

static uint8_t *arena_copy(struct store *s, const void *p, size_t n)
{
	if (s->arena_n == s->arena_cap) {
		s->arena_cap = s->arena_cap ? s->arena_cap * 2 : 64;
		s->arena = xrealloc(s->arena, s->arena_cap * sizeof(*s->arena));
	}
	uint8_t *d = xmalloc(n);
	memcpy(d, p, n);
	s->arena[s->arena_n++] = d;
	s->arena_bytes += n;
	return d;
}

/* A storage change: what entries() handed out may go. */
static void changed(struct store *s)
{
	arena_reset(s);
}

/* ---- log values ---- */

/* Decodes a "log" value; -1 (logged) when it is too short or too long. The
 * payload points into v. */
static int entry_decode(struct store *s, uint64_t index, const char *v, size_t vlen,
                        struct raft_entry *e)
{
	if (vlen < ENTRY_HDR || vlen - ENTRY_HDR > RAFT_ENTRY_BYTES_MAX)
		return store_fail(s, NULL, "log entry %llu: malformed value of %zu bytes",
		                  (unsigned long long)index, vlen);
	e->index = index;
	e->type = (uint8_t)v[0];
	e->term = be64_get((const uint8_t *)v + 1);
	e->len = (uint32_t)(vlen - ENTRY_HDR);
	e->data = e->len > 0 ? (uint8_t *)v + ENTRY_HDR : NULL;
	return 0;
}

/* Reads one entry's term from RocksDB; 0 or -1 (logged). */
static int log_read_term(struct store *s, uint64_t index, uint64_t *term)
{
	uint8_t key[8];
	size_t vlen = 0;
	char *rerr = NULL;
	struct raft_entry e = {0};

	be64_put(key, index);
	char *v = rocksdb_get_cf(s->db, s->ro, s->cf[CF_LOG], (const char *)key, 8, &vlen, &rerr);
	if (rerr != NULL)
		return store_fail(s, rerr, "read of log entry %llu", (unsigned long long)index);
	if (v == NULL)
		return store_fail(s, NULL, "log entry %llu: missing", (unsigned long long)index);
	int rc = entry_decode(s, index, v, vlen, &e);
	if (rc == 0)
		*term = e.term;
	rocksdb_free(v);
	return rc;
}

/* ---- opening: meta ---- */

/* Reads a meta value into buf (of exactly want bytes, or at least want when
 * at_least); 0 found, 1 absent, -1 error. */
static int meta_get(struct store *s, const char *key, uint8_t *buf, size_t size, size_t *len)
{
	size_t vlen = 0;
	char *rerr = NULL;
	char *v = rocksdb_get_cf(s->db, s->ro, s->cf[CF_META], key, strlen(key), &vlen, &rerr);
	if (rerr != NULL)
		return store_fail(s, rerr, "read of meta %s", key);
	if (v == NULL)
		return 1;
	if (vlen > size) {
		rocksdb_free(v);
		return store_fail(s, NULL, "meta %s: malformed value of %zu bytes", key, vlen);
	}
	memcpy(buf, v, vlen);
	*len = vlen;
	rocksdb_free(v);
	return 0;
}

static size_t snap_encode(uint8_t *buf, uint64_t index, uint64_t term, const struct raft_conf *c)
{
	be64_put(buf, index);
	be64_put(buf + 8, term);
	size_t n = raft_conf_encode(c, buf + 16, RAFT_CONF_ENCODED_MAX);
	assert(n > 0);
	return 16 + n;
}

static int load_meta(struct store *s)
{
	uint8_t buf[16 + RAFT_CONF_ENCODED_MAX];
	size_t len = 0;
	int rc;

	if ((rc = meta_get(s, "hs", buf, sizeof(buf), &len)) < 0)
		return -1;
	if (rc == 0) {
		if (len != 24)
			return store_fail(s, NULL, "meta hs: malformed value of %zu bytes", len);
		s->hs.term = be64_get(buf);
		s->hs.vote = be64_get(buf + 8);
		s->hs.commit = be64_get(buf + 16);
	}
	if ((rc = meta_get(s, "applied", buf, sizeof(buf), &len)) < 0)
		return -1;
	if (rc == 0) {
		if (len != 16)
			return store_fail(s, NULL, "meta applied: malformed value of %zu bytes",
			                  len);
		s->applied_index = be64_get(buf);
		s->applied_term = be64_get(buf + 8);
	}
	if ((rc = meta_get(s, "snap", buf, sizeof(buf), &len)) < 0)
		return -1;
	if (rc == 0) {
		if (len < 16 || raft_conf_decode(&s->snap.conf, buf + 16, len - 16) != 0)
			return store_fail(s, NULL, "meta snap: malformed value of %zu bytes", len);
		s->snap.index = be64_get(buf);
		s->snap.term = be64_get(buf + 8);
	}

	/* the log's physical bounds */
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ro, s->cf[CF_LOG]);
	uint64_t lo = 0, hi = 0;
	size_t klen = 0;
	rocksdb_iter_seek_to_first(it);
	if (rocksdb_iter_valid(it)) {
		const char *k = rocksdb_iter_key(it, &klen);
		if (klen == 8)
			lo = be64_get((const uint8_t *)k);
		rocksdb_iter_seek_to_last(it);
		if (rocksdb_iter_valid(it)) {
			k = rocksdb_iter_key(it, &klen);
			if (klen == 8)
				hi = be64_get((const uint8_t *)k);
		}
	}
	char *rerr = NULL;
	rocksdb_iter_get_error(it, &rerr);
	rocksdb_iter_destroy(it);
	if (rerr != NULL)
		return store_fail(s, rerr, "scan of the log's bounds");
	if (klen != 0 && klen != 8)
		return store_fail(s, NULL, "log: malformed key of %zu bytes", klen);
	s->log_lo = lo;
	s->last = max_u64(hi, s->snap.index);
	if (hi > s->snap.index && lo > s->snap.index + 1)
		return store_fail(s, NULL, "log: starts at %llu, after the snapshot at %llu",
		                  (unsigned long long)lo, (unsigned long long)s->snap.index);
	return 0;
}

/* ---- open / close ---- */

struct store *store_open(const char *dir, bool sync, char *err, size_t err_size)
{
	struct store *s = xmalloc(sizeof(*s));
	const char *names[CF_MAX];
	const rocksdb_options_t *cf_opts[CF_MAX];
	size_t n_have = 0, n = 0;
	char *rerr = NULL;

	memset(s, 0, sizeof(*s));
	s->durable = sync;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, err_size, "mkdir %s: %s", dir, strerror(errno));
		free(s);
		return NULL;
	}
	s->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->opts, 1);
	rocksdb_options_set_create_missing_column_families(s->opts, 1);
	rocksdb_options_set_info_log_level(s->opts, 2); /* WARN: the LOG file stays small */
	rocksdb_options_set_keep_log_file_num(s->opts, 4);
	rocksdb_options_set_max_log_file_size(s->opts, 4u << 20);
	/* Every family shares the WAL: flush the idle ones rather than keep it
	 * growing behind them. */
	rocksdb_options_set_max_total_wal_size(s->opts, 64u << 20);

	for (size_t i = 0; i < CF_COUNT; i++)
		names[n++] = cf_names[i];
	/* RocksDB opens a database only with all its families: keep any we do
	 * not know (a newer version's) open too. */
	char **have = rocksdb_list_column_families(s->opts, dir, &n_have, &rerr);
	rocksdb_free(rerr); /* a new database has none */
	rerr = NULL;
	for (size_t i = 0; have != NULL && i < n_have; i++) {
		bool known = false;
		for (size_t k = 0; k < CF_COUNT; k++)
			known = known || strcmp(have[i], cf_names[k]) == 0;
		if (!known && n < CF_MAX)
			names[n++] = have[i];
	}
	for (size_t i = 0; i < n; i++)
		cf_opts[i] = s->opts;
	s->db = rocksdb_open_column_families(s->opts, dir, (int)n, names, cf_opts, s->cf, &rerr);
	if (have != NULL)
		rocksdb_list_column_families_destroy(have, n_have);
	if (rerr != NULL || s->db == NULL) {
		snprintf(err, err_size, "open %s: %s", dir, rerr ? rerr : "?");
		log_warnx("store: open %s: %s", dir, rerr ? rerr : "?");
		rocksdb_free(rerr);
		rocksdb_options_destroy(s->opts);
		free(s);
		return NULL;
	}
	s->n_cf = n;
	s->wo_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wo_sync, 1);
	s->wo_nosync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wo_nosync, 0);
	s->ro = rocksdb_readoptions_create();
	if (load_meta(s) != 0) {
		snprintf(err, err_size, "open %s: %s", dir, s->err);
		store_close(s);
		return NULL;
	}
	log_info("store: opened %s%s: log %llu..%llu, snapshot %llu, applied %llu, commit %llu",
	         dir, sync ? "" : " (no sync)", (unsigned long long)(s->snap.index + 1),
	         (unsigned long long)s->last, (unsigned long long)s->snap.index,
	         (unsigned long long)s->applied_index, (unsigned long long)s->hs.commit);
	return s;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_cf; i++)
		rocksdb_column_family_handle_destroy(s->cf[i]);
	if (s->db != NULL)
		rocksdb_close(s->db);
	if (s->wo_sync != NULL)
		rocksdb_writeoptions_destroy(s->wo_sync);
	if (s->wo_nosync != NULL)
		rocksdb_writeoptions_destroy(s->wo_nosync);
	if (s->ro != NULL)
		rocksdb_readoptions_destroy(s->ro);
	rocksdb_options_destroy(s->opts);
	cache_clear(s);
	free(s->cache);
	arena_reset(s);
	free(s->arena);
	free(s);
}

const char *store_error(const struct store *s)
{
	return s->err;
}

const struct store_stats *store_stats(const struct store *s)
{
	return &s->stats;
}

bool store_is_empty(const struct store *s)
{
	return s->last == 0 && s->hs.term == 0 && s->hs.commit == 0 && s->snap.index == 0 &&
	       s->applied_index == 0;
}

uint64_t store_applied_index(const struct store *s)
{
	return s->applied_index;
}

uint64_t store_applied_term(const struct store *s)
{
	return s->applied_term;
}

uint64_t store_snapshot_index(const struct store *s)
{
	return s->snap.index;
}

/* ---- writes ---- */

static int batch_write(struct store *s, rocksdb_writebatch_t *b, bool sync, char **rerr)
{
	bool synced = sync && s->durable;
	rocksdb_write(s->db, synced ? s->wo_sync : s->wo_nosync, b, rerr);
	rocksdb_writebatch_destroy(b);
	if (*rerr != NULL) {
		s->stats.write_errors++;
		return -1;
	}
	if (synced)
		s->stats.syncs++;
	return 0;
}

static void batch_put_hs(rocksdb_writebatch_t *b, struct store *s, const struct raft_hard_state *hs)
{
	uint8_t v[24];
	be64_put(v, hs->term);
	be64_put(v + 8, hs->vote);
	be64_put(v + 16, hs->commit);
	rocksdb_writebatch_put_cf(b, s->cf[CF_META], "hs", 2, (const char *)v, sizeof(v));
}

int store_append(struct store *s, const struct raft_entry *e, size_t n,
                 const struct raft_hard_state *hs, bool sync)
{
	uint64_t first = s->snap.index + 1;
	char *rerr = NULL;

	/* entries the snapshot covers are already in it (as raft_memstore) */
	while (n > 0 && e[0].index < first) {
		e++;
		n--;
	}
	if (n == 0 && hs == NULL)
		return 0;
	if (n > 0 && e[0].index > s->last + 1) {
		s->stats.write_errors++;
		return store_fail(s, NULL, "append of %zu entries at %llu: past the log's end %llu",
		                  n, (unsigned long long)e[0].index, (unsigned long long)s->last);
	}
	for (size_t i = 1; i < n; i++) {
		if (e[i].index != e[0].index + i) {
			s->stats.write_errors++;
			return store_fail(
			    s, NULL, "append of %zu entries at %llu: index %llu out of order", n,
			    (unsigned long long)e[0].index, (unsigned long long)e[i].index);
		}
	}

	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	if (n > 0) {
		/* Raft §5.3: a conflicting suffix goes; the puts overwrite the rest */
		uint64_t end = e[n - 1].index + 1;
		if (end <= s->last) {
			uint8_t lo[8], hi[8];
			be64_put(lo, end);
			be64_put(hi, s->last + 1);
			rocksdb_writebatch_delete_range_cf(b, s->cf[CF_LOG], (const char *)lo, 8,
			                                   (const char *)hi, 8);
		}
		for (size_t i = 0; i < n; i++) {
			uint8_t key[8], hdr[ENTRY_HDR];
			be64_put(key, e[i].index);
			hdr[0] = e[i].type;
			be64_put(hdr + 1, e[i].term);
			const char *k = (const char *)key;
			size_t klen = 8;
			const char *vs[2] = {(const char *)hdr, (const char *)e[i].data};
			size_t vl[2] = {ENTRY_HDR, e[i].len};
			rocksdb_writebatch_putv_cf(b, s->cf[CF_LOG], 1, &k, &klen,
			                           e[i].len > 0 ? 2 : 1, vs, vl);
		}
	}
	if (hs != NULL)
		batch_put_hs(b, s, hs);
	if (batch_write(s, b, sync, &rerr) != 0)
		return store_fail(s, rerr, "append of %zu entries at %llu", n,
		                  (unsigned long long)(n > 0 ? e[0].index : s->last + 1));
	if (n > 0) {
		s->last = e[n - 1].index;
		if (s->log_lo == 0 || e[0].index < s->log_lo)
			s->log_lo = e[0].index;
		cache_append(s, e, n);
		changed(s);
		s->stats.entries += n;
	}
	if (hs != NULL)
		s->hs = *hs;
	s->stats.appends++;
	return 0;
}

int store_bootstrap(struct store *s, const struct raft_conf *c)
{
	uint8_t buf[RAFT_CONF_ENCODED_MAX];
	size_t n = raft_conf_encode(c, buf, sizeof(buf));

	if (n == 0 || !store_is_empty(s))
		return store_fail(s, NULL, "bootstrap: %s",
		                  n == 0 ? "bad configuration" : "the store is not empty");
	struct raft_entry e = {
	    .term = 1, .index = 1, .type = RAFT_ENTRY_CONF, .len = (uint32_t)n, .data = buf};
	struct raft_hard_state hs = {.term = 1, .vote = RAFT_NONE, .commit = 1};
	return store_append(s, &e, 1, &hs, true);
}

static void batch_put_applied(rocksdb_writebatch_t *b, struct store *s, uint64_t index,
                              uint64_t term)
{
	uint8_t v[16];
	be64_put(v, index);
	be64_put(v + 8, term);
	rocksdb_writebatch_put_cf(b, s->cf[CF_META], "applied", 7, (const char *)v, sizeof(v));
}

int store_apply(struct store *s, const struct fsm_write *w, size_t n, uint64_t applied_index,
                uint64_t applied_term)
{
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	char *rerr = NULL;

	for (size_t i = 0; i < n; i++) {
		rocksdb_column_family_handle_t *cf = cf_state(s, w[i].table);
		if (w[i].del)
			rocksdb_writebatch_delete_cf(b, cf, w[i].key, w[i].klen);
		else
			rocksdb_writebatch_put_cf(b, cf, w[i].key, w[i].klen,
			                          (const char *)w[i].val.p, w[i].val.len);
	}
	batch_put_applied(b, s, applied_index, applied_term);
	if (batch_write(s, b, false, &rerr) != 0)
		return store_fail(s, rerr, "apply of %zu writes at %llu", n,
		                  (unsigned long long)applied_index);
	s->applied_index = applied_index;
	s->applied_term = applied_term;
	s->stats.applies++;
	return 0;
}

int store_load(struct store *s, struct fsm *f, uint64_t *bad)
{
	uint64_t nbad = 0, total = 0;

	for (int t = 0; t < FSM_T_COUNT; t++) {
		rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ro, cf_state(s, t));
		char *rerr = NULL;
		for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
		     rocksdb_iter_next(it)) {
			size_t klen, vlen;
			const char *k = rocksdb_iter_key(it, &klen);
			const char *v = rocksdb_iter_value(it, &vlen);
			total++;
			if (fsm_load(f, (enum fsm_table)t, k, klen, v, vlen) != 0) {
				nbad++;
				log_warnx("store: %s record %.*s%s: does not load",
				          cf_names[CF_STATE + t], (int)min_u64(klen, 64), k,
				          klen > 64 ? "..." : "");
			}
		}
		rocksdb_iter_get_error(it, &rerr);
		rocksdb_iter_destroy(it);
		if (rerr != NULL)
			return store_fail(s, rerr, "load of %s", cf_names[CF_STATE + t]);
	}
	if (bad != NULL)
		*bad = nbad;
	log_info("store: loaded %llu records (%llu bad) at applied index %llu",
	         (unsigned long long)total, (unsigned long long)nbad,
	         (unsigned long long)s->applied_index);
	return 0;
}

int store_compact(struct store *s, uint64_t index, uint64_t term, const struct raft_conf *conf,
                  uint64_t keep_from)
{
	uint8_t v[16 + RAFT_CONF_ENCODED_MAX];
	uint64_t t = 0;
	char *rerr = NULL;

	if (index > s->applied_index || index < s->snap.index)
		return store_fail(s, NULL, "compact at %llu: outside [snapshot %llu, applied %llu]",
		                  (unsigned long long)index, (unsigned long long)s->snap.index,
		                  (unsigned long long)s->applied_index);
	if (index > s->snap.index && index <= s->last) {
		if (cache_get(s, index) != NULL)
			t = cache_get(s, index)->term;
		else if (log_read_term(s, index, &t) != 0)
			return -1;
		if (t != term)
			return store_fail(s, NULL, "compact at %llu: term %llu, the log says %llu",
			                  (unsigned long long)index, (unsigned long long)term,
			                  (unsigned long long)t);
	}
	/* the state the snapshot point stands for must be on disk before the
	 * log it came from goes (store_apply() does not sync) */
	rocksdb_flush_wal(s->db, s->durable, &rerr);
	if (rerr != NULL) {
		s->stats.write_errors++;
		return store_fail(s, rerr, "compact at %llu: wal sync", (unsigned long long)index);
	}
	if (s->durable)
		s->stats.syncs++;

	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	size_t vlen = snap_encode(v, index, term, conf);
	rocksdb_writebatch_put_cf(b, s->cf[CF_META], "snap", 4, (const char *)v, vlen);
	uint64_t cut = min_u64(index, keep_from);
	bool drop = s->log_lo != 0 && cut > s->log_lo;
	if (drop) {
		uint8_t lo[8], hi[8];
		be64_put(lo, 0);
		be64_put(hi, cut);
		rocksdb_writebatch_delete_range_cf(b, s->cf[CF_LOG], (const char *)lo, 8,
		                                   (const char *)hi, 8);
	}
	if (batch_write(s, b, false, &rerr) != 0)
		return store_fail(s, rerr, "compact at %llu", (unsigned long long)index);
	s->snap.index = index;
	s->snap.term = term;
	s->snap.conf = *conf;
	s->last = max_u64(s->last, index);
	if (drop) {
		s->log_lo = cut;
		s->stats.compactions++;
	}
	cache_trim_below(s, index + 1);
	changed(s);
	return 0;
}

/* ---- struct raft_storage ---- */

static void st_hard_state(void *arg, struct raft_hard_state *hs)
{
	*hs = ((struct store *)arg)->hs;
}

static uint64_t st_first_index(void *arg)
{
	return ((struct store *)arg)->snap.index + 1;
}

static uint64_t st_last_index(void *arg)
{
	return ((struct store *)arg)->last;
}

static int st_term(void *arg, uint64_t i, uint64_t *t)
{
	struct store *s = arg;
	const struct raft_entry *e;

	if (i == s->snap.index) {
		*t = s->snap.term;
		return 0;
	}
	if (i < s->snap.index)
		return RAFT_ERR_COMPACTED;
	if (i > s->last)
		return RAFT_ERR_UNAVAILABLE;
	if ((e = cache_get(s, i)) != NULL) {
		*t = e->term;
		return 0;
	}
	return log_read_term(s, i, t) == 0 ? 0 : RAFT_ERR_UNAVAILABLE;
}

/* Reads [lo, hi) from RocksDB into out (payloads in the arena), stopping at
 * the byte limit; *full when it stopped there. */
static int log_read_range(struct store *s, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                          uint64_t *bytes, struct raft_entry *out, size_t out_max, size_t *n,
                          bool *full)
{
	uint8_t key[8];
	uint64_t i = lo;
	char *rerr = NULL;
	int rc = 0;

	be64_put(key, lo);
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ro, s->cf[CF_LOG]);
	for (rocksdb_iter_seek(it, (const char *)key, 8); i < hi && *n < out_max;
	     rocksdb_iter_next(it), i++) {
		size_t klen, vlen;
		struct raft_entry e;
		if (!rocksdb_iter_valid(it))
			break;
		const char *k = rocksdb_iter_key(it, &klen);
		if (klen != 8 || be64_get((const uint8_t *)k) != i)
			break;
		const char *v = rocksdb_iter_value(it, &vlen);
		if ((rc = entry_decode(s, i, v, vlen, &e)) != 0)
			break;
		if (*n > 0 && *bytes + e.len > max_bytes) {
			*full = true;
			break;
		}
		*bytes += e.len;
		if (e.len > 0)
			e.data = arena_copy(s, e.data, e.len);
		out[(*n)++] = e;
	}
	rocksdb_iter_get_error(it, &rerr);
	rocksdb_iter_destroy(it);
	if (rerr != NULL)
		return store_fail(s, rerr, "read of log entries %llu..%llu", (unsigned long long)lo,
		                  (unsigned long long)(hi - 1));
	if (rc != 0)
		return -1;
	if (i < hi && *n < out_max && !*full)
		return store_fail(s, NULL, "log entry %llu: missing", (unsigned long long)i);
	return 0;
}

static int st_entries(void *arg, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                      struct raft_entry *out, size_t out_max, size_t *n)
{
	struct store *s = arg;
	uint64_t bytes = 0, i = lo;
	bool full = false;

	*n = 0;
	if (lo <= s->snap.index)
		return RAFT_ERR_COMPACTED;
	if (hi > s->last + 1)
		return RAFT_ERR_UNAVAILABLE;
	if (lo >= hi || out_max == 0)
		return 0;
	uint64_t c0 = s->cache_n > 0 ? s->cache[0].index : s->last + 1;
	if (i < c0) {
		/* a long read between changes (a follower catching up): what the
		 * caller already copied may go */
		if (s->arena_bytes > STORE_ARENA_BYTES)
			arena_reset(s);
		if (log_read_range(s, lo, min_u64(hi, c0), max_bytes, &bytes, out, out_max, n,
		                   &full) != 0) {
			*n = 0;
			return RAFT_ERR_UNAVAILABLE;
		}
		i = lo + *n;
	} else {
		s->stats.entries_cached++;
	}
	for (; !full && i < hi && *n < out_max; i++) {
		const struct raft_entry *e = cache_get(s, i);
		assert(e != NULL);
		if (*n > 0 && bytes + e->len > max_bytes)
			break;
		bytes += e->len;
		out[(*n)++] = *e;
	}
	return 0;
}

static void st_snapshot(void *arg, struct raft_snapshot *snap)
{
	*snap = ((struct store *)arg)->snap;
	snap->len = 0;
	snap->data = NULL;
}

void store_raft_storage(struct store *s, struct raft_storage *rs)
{
	rs->arg = s;
	rs->hard_state = st_hard_state;
	rs->first_index = st_first_index;
	rs->last_index = st_last_index;
	rs->term = st_term;
	rs->entries = st_entries;
	rs->snapshot = st_snapshot;
}

/* ---- snapshot files ---- */

/*
 * Layout (integers big-endian):
 *	"MSTRSNAP" version:u32 index:u64 term:u64 conf_len:u32 conf[conf_len]
 *	{ table:u8 klen:u32 key vlen:u32 value }*	(table < FSM_T_COUNT)
 *	0xff						(the end marker)
 *	sha256[32]					(of every byte before it)
 * conf is raft_conf_encode()'s, the configuration as of index.
 */

/* Buffered over write(2), not stdio: glibc's stdio calls write internally,
 * where an LD_PRELOAD fault shim (tests/fault/faultfs.c) cannot reach. */
struct swriter {
	int fd;
	struct sha256 h;
	bool err;
	int errnum;
	size_t n;
	uint8_t buf[64 << 10];
};

static void sw_flush(struct swriter *w)
{
	size_t off = 0;
	while (!w->err && off < w->n) {
		ssize_t k = write(w->fd, w->buf + off, w->n - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			w->err = true;
			w->errnum = k < 0 ? errno : EIO;
			break;
		}
		off += (size_t)k;
	}
	w->n = 0;
}

static void sw_raw(struct swriter *w, const void *data, size_t n)
{
	const uint8_t *p = data;
	while (!w->err && n > 0) {
		size_t k = min_u64(n, sizeof(w->buf) - w->n);
		memcpy(w->buf + w->n, p, k);
		w->n += k, p += k, n -= k;
		if (w->n == sizeof(w->buf))
			sw_flush(w);
	}
}

static void sw_put(struct swriter *w, const void *p, size_t n)
{
	if (w->err || n == 0)
		return;
	sha256_update(&w->h, p, n);
	sw_raw(w, p, n);
}

static void sw_u8(struct swriter *w, uint8_t v)
{
	sw_put(w, &v, 1);
}

static void sw_be32(struct swriter *w, uint32_t v)
{
	uint8_t b[4];
	be32_put(b, v);
	sw_put(w, b, 4);
}

static void sw_be64(struct swriter *w, uint64_t v)
{
	uint8_t b[8];
	be64_put(b, v);
	sw_put(w, b, 8);
}

/* The configuration as of `applied`: the snapshot point's, then every
 * configuration entry after it (read at the RocksDB snapshot in ro). */
static int conf_at(struct store *s, rocksdb_readoptions_t *ro, uint64_t snap_index,
                   uint64_t applied, struct raft_conf *conf)
{
	uint8_t key[8];
	uint64_t i = snap_index + 1;
	char *rerr = NULL;
	int rc = 0;

	if (applied <= snap_index)
		return 0;
	be64_put(key, i);
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, s->cf[CF_LOG]);
	for (rocksdb_iter_seek(it, (const char *)key, 8); i <= applied;
	     rocksdb_iter_next(it), i++) {
		size_t klen, vlen;
		struct raft_entry e = {0};
		const char *k = rocksdb_iter_valid(it) ? rocksdb_iter_key(it, &klen) : NULL;
		if (k == NULL || klen != 8 || be64_get((const uint8_t *)k) != i) {
			rc = store_fail(s, NULL, "snapshot: log entry %llu missing",
			                (unsigned long long)i);
			break;
		}
		const char *v = rocksdb_iter_value(it, &vlen);
		if ((rc = entry_decode(s, i, v, vlen, &e)) != 0)
			break;
		/* a malformed change changes nothing (as in raft.c) */
		struct raft_conf c;
		if (e.type == RAFT_ENTRY_CONF && raft_conf_decode(&c, e.data, e.len) == 0)
			*conf = c;
	}
	rocksdb_iter_get_error(it, &rerr);
	rocksdb_iter_destroy(it);
	if (rerr != NULL)
		return store_fail(s, rerr, "snapshot: read of the log");
	return rc;
}

int store_snapshot_write(struct store *s, const char *path)
{
	char tmp[4096];
	uint8_t buf[16 + RAFT_CONF_ENCODED_MAX], conf_buf[RAFT_CONF_ENCODED_MAX];
	struct swriter *w = xmalloc(sizeof(*w));
	uint64_t index = 0, term = 0, snap_index = 0, records = 0;
	struct raft_conf conf = {0};
	char *rerr = NULL;
	int rc = -1;

	memset(w, 0, offsetof(struct swriter, buf));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		free(w);
		return store_fail(s, NULL, "snapshot %s: path too long", path);
	}
	w->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		free(w);
		return store_fail(s, NULL, "snapshot %s: %s", tmp, strerror(errno));
	}
	sha256_init(&w->h);

	const rocksdb_snapshot_t *rs = rocksdb_create_snapshot(s->db);
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(ro, rs);
	rocksdb_readoptions_set_fill_cache(ro, 0);

	/* the applied point and the configuration, as of the RocksDB snapshot */
	size_t vlen = 0;
	char *v = rocksdb_get_cf(s->db, ro, s->cf[CF_META], "applied", 7, &vlen, &rerr);
	if (rerr != NULL) {
		store_fail(s, rerr, "snapshot %s: read of meta applied", path);
		goto out;
	}
	if (v != NULL && vlen == 16) {
		index = be64_get((const uint8_t *)v);
		term = be64_get((const uint8_t *)v + 8);
	}
	rocksdb_free(v);
	v = rocksdb_get_cf(s->db, ro, s->cf[CF_META], "snap", 4, &vlen, &rerr);
	if (rerr != NULL) {
		store_fail(s, rerr, "snapshot %s: read of meta snap", path);
		goto out;
	}
	if (v != NULL) {
		if (vlen < 16 || vlen > sizeof(buf) ||
		    raft_conf_decode(&conf, (const uint8_t *)v + 16, vlen - 16) != 0) {
			rocksdb_free(v);
			store_fail(s, NULL, "snapshot %s: meta snap malformed", path);
			goto out;
		}
		snap_index = be64_get((const uint8_t *)v);
	}
	rocksdb_free(v);
	if (conf_at(s, ro, snap_index, index, &conf) != 0)
		goto out;
	size_t clen = raft_conf_encode(&conf, conf_buf, sizeof(conf_buf));

	sw_put(w, snap_magic, sizeof(snap_magic));
	sw_be32(w, STORE_SNAP_VERSION);
	sw_be64(w, index);
	sw_be64(w, term);
	sw_be32(w, (uint32_t)clen);
	sw_put(w, conf_buf, clen);
	for (int t = 0; t < FSM_T_COUNT && !w->err; t++) {
		rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, cf_state(s, t));
		for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it) && !w->err;
		     rocksdb_iter_next(it)) {
			size_t klen;
			const char *k = rocksdb_iter_key(it, &klen);
			const char *val = rocksdb_iter_value(it, &vlen);
			sw_u8(w, (uint8_t)t);
			sw_be32(w, (uint32_t)klen);
			sw_put(w, k, klen);
			sw_be32(w, (uint32_t)vlen);
			sw_put(w, val, vlen);
			records++;
		}
		rocksdb_iter_get_error(it, &rerr);
		rocksdb_iter_destroy(it);
		if (rerr != NULL) {
			store_fail(s, rerr, "snapshot %s: read of %s", path,
			           cf_names[CF_STATE + t]);
			goto out;
		}
	}
	sw_u8(w, STORE_SNAP_END);
	uint8_t digest[32];
	sha256_final(&w->h, digest);
	sw_raw(w, digest, sizeof(digest));
	sw_flush(w);
	if (w->err) {
		store_fail(s, NULL, "snapshot %s: write: %s", tmp, strerror(w->errnum));
		goto out;
	}
	if (s->durable && fsync(w->fd) != 0) {
		store_fail(s, NULL, "snapshot %s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	rocksdb_readoptions_destroy(ro);
	rocksdb_release_snapshot(s->db, rs);
	if (close(w->fd) != 0 && rc == 0)
		rc = store_fail(s, NULL, "snapshot %s: close: %s", tmp, strerror(errno));
	free(w);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = store_fail(s, NULL, "snapshot %s: rename: %s", path, strerror(errno));
	if (rc == 0 && s->durable && fsutil_fsync_dir(path) != 0)
		rc = store_fail(s, NULL, "snapshot %s: fsync of its directory: %s", path,
		                strerror(errno));
	if (rc != 0) {
		unlink(tmp);
		return -1;
	}
	log_info("store: snapshot %s: %llu records at index %llu term %llu", path,
	         (unsigned long long)records, (unsigned long long)index, (unsigned long long)term);
	return 0;
}

struct sreader {
	FILE *f;
	struct sha256 h;
	bool err;
};

static void sr_get(struct sreader *r, void *p, size_t n)
{
	if (r->err || fread(p, 1, n, r->f) != n) {
		r->err = true;
		memset(p, 0, n);
		return;
	}
	sha256_update(&r->h, p, n);
}

static uint32_t sr_be32(struct sreader *r)
{
	uint8_t b[4];
	sr_get(r, b, 4);
	return be32_get(b);
}

static uint64_t sr_be64(struct sreader *r)
{
	uint8_t b[8];
	sr_get(r, b, 8);
	return be64_get(b);
}

/* Reads a header; 0 or -1 with the reason in why. */
static int snap_read_header(struct sreader *r, uint64_t *index, uint64_t *term,
                            struct raft_conf *conf, const char **why)
{
	uint8_t magic[sizeof(snap_magic)], cbuf[RAFT_CONF_ENCODED_MAX];

	sr_get(r, magic, sizeof(magic));
	if (r->err || memcmp(magic, snap_magic, sizeof(magic)) != 0) {
		*why = "not a snapshot file";
		return -1;
	}
	uint32_t version = sr_be32(r);
	if (r->err || version != STORE_SNAP_VERSION) {
		*why = "unknown version";
		return -1;
	}
	*index = sr_be64(r);
	*term = sr_be64(r);
	uint32_t clen = sr_be32(r);
	if (r->err || clen > sizeof(cbuf)) {
		*why = "malformed header";
		return -1;
	}
	sr_get(r, cbuf, clen);
	if (r->err || raft_conf_decode(conf, cbuf, clen) != 0) {
		*why = "malformed configuration";
		return -1;
	}
	return 0;
}

int store_snapshot_info(const char *path, uint64_t *index, uint64_t *term, struct raft_conf *conf)
{
	struct sreader r = {0};
	const char *why;

	if ((r.f = fopen(path, "rbe")) == NULL)
		return -1;
	sha256_init(&r.h);
	int rc = snap_read_header(&r, index, term, conf, &why);
	fclose(r.f);
	return rc;
}

/* Deletes every key of a family (a range up to its last key, then that key). */
static int batch_clear_cf(struct store *s, rocksdb_writebatch_t *b,
                          rocksdb_column_family_handle_t *cf, const char *name)
{
	char *rerr = NULL;
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ro, cf);

	rocksdb_iter_seek_to_last(it);
	if (rocksdb_iter_valid(it)) {
		size_t klen;
		const char *k = rocksdb_iter_key(it, &klen);
		rocksdb_writebatch_delete_range_cf(b, cf, "", 0, k, klen);
		rocksdb_writebatch_delete_cf(b, cf, k, klen);
	}
	rocksdb_iter_get_error(it, &rerr);
	rocksdb_iter_destroy(it);
	if (rerr != NULL)
		return store_fail(s, rerr, "restore: scan of %s", name);
	return 0;
}

int store_snapshot_restore(struct store *s, const char *path)
{
	struct sreader r = {0};
	uint64_t index = 0, term = 0, records = 0;
	struct raft_conf conf;
	const char *why = NULL;
	uint8_t *key = NULL, *val = NULL;
	size_t key_cap = 0, val_cap = 0;
	char *rerr = NULL;

	if ((r.f = fopen(path, "rbe")) == NULL)
		return store_fail(s, NULL, "restore %s: %s", path, strerror(errno));
	sha256_init(&r.h);

	/* Nothing changes before the checksum is verified: the batch is only
	 * written at the end, the deletions first so the records win. */
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	for (int i = CF_LOG; i < CF_COUNT; i++) {
		if (i != CF_META && batch_clear_cf(s, b, s->cf[i], cf_names[i]) != 0)
			goto fail_quiet;
	}
	if (snap_read_header(&r, &index, &term, &conf, &why) != 0)
		goto fail;
	for (;;) {
		uint8_t t;
		sr_get(&r, &t, 1);
		if (r.err) {
			why = "truncated";
			goto fail;
		}
		if (t == STORE_SNAP_END)
			break;
		if (t >= FSM_T_COUNT) {
			why = "unknown table";
			goto fail;
		}
		uint32_t klen = sr_be32(&r);
		if (r.err || klen > STORE_SNAP_KEY_MAX) {
			why = "malformed record";
			goto fail;
		}
		if (klen > key_cap)
			key = xrealloc(key, key_cap = klen);
		sr_get(&r, key, klen);
		uint32_t vlen = sr_be32(&r);
		if (r.err || vlen > STORE_SNAP_VALUE_MAX) {
			why = "malformed record";
			goto fail;
		}
		if (vlen > val_cap)
			val = xrealloc(val, val_cap = vlen);
		sr_get(&r, val, vlen);
		if (r.err) {
			why = "truncated";
			goto fail;
		}
		rocksdb_writebatch_put_cf(b, cf_state(s, t), (const char *)key, klen,
		                          (const char *)val, vlen);
		records++;
	}
	uint8_t want[32], got[32];
	sha256_final(&r.h, want);
	if (fread(got, 1, sizeof(got), r.f) != sizeof(got)) {
		why = "truncated";
		goto fail;
	}
	if (memcmp(want, got, sizeof(want)) != 0) {
		why = "checksum mismatch";
		goto fail;
	}
	if (fgetc(r.f) != EOF) {
		why = "trailing bytes";
		goto fail;
	}
	fclose(r.f);
	r.f = NULL;
	free(key);
	free(val);
	key = val = NULL;

	uint8_t sv[16 + RAFT_CONF_ENCODED_MAX];
	size_t svlen = snap_encode(sv, index, term, &conf);
	rocksdb_writebatch_put_cf(b, s->cf[CF_META], "snap", 4, (const char *)sv, svlen);
	batch_put_applied(b, s, index, term);
	struct raft_hard_state hs = s->hs;
	hs.commit = max_u64(hs.commit, index);
	batch_put_hs(b, s, &hs);
	if (batch_write(s, b, true, &rerr) != 0)
		return store_fail(s, rerr, "restore %s at index %llu", path,
		                  (unsigned long long)index);
	s->hs = hs;
	s->applied_index = index;
	s->applied_term = term;
	s->snap.index = index;
	s->snap.term = term;
	s->snap.conf = conf;
	s->last = index;
	s->log_lo = 0;
	cache_clear(s);
	changed(s);
	log_info("store: restored %s: %llu records at index %llu term %llu", path,
	         (unsigned long long)records, (unsigned long long)index, (unsigned long long)term);
	return 0;

fail:
	store_fail(s, NULL, "restore %s: %s (nothing changed)", path, why);
fail_quiet:
	rocksdb_writebatch_destroy(b);
	if (r.f != NULL)
		fclose(r.f);
	free(key);
	free(val);
	return -1;
}

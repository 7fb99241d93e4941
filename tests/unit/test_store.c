/* test_store.c: raftd's RocksDB store: log, hard state, compaction, applies, snapshots, faults. */
#include "daemons/raftd/store.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "testutil.h"

/* ---- a temporary directory per test ---- */

/* tpath()'s results live until four more calls: copy one kept longer. */

static char tmpdir[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_store.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	log_set_level(LOG_LEVEL_ERROR);
}

static void tmp_teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tpath(const char *name)
{
	static char p[4][256];
	static int k;
	k = (k + 1) % 4;
	ck_assert_uint_lt(strlen(tmpdir) + 1 + strlen(name), sizeof(p[k]));
	strcpy(p[k], tmpdir);
	strcat(p[k], "/");
	strcat(p[k], name);
	return p[k];
}

static struct store *open_at(const char *name, bool sync)
{
	char err[256] = "";
	struct store *s = store_open(tpath(name), sync, err, sizeof(err));
	ck_assert_msg(s != NULL, "store_open: %s", err);
	return s;
}

/* ---- helpers ---- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Voters 1..n, server i at "10.0.0.<i>:8300". */
static struct raft_conf conf_of(int n)
{
	struct raft_conf c = {0};
	for (int i = 0; i < n; i++) {
		char addr[RAFT_ADDR_MAX];
		snprintf(addr, sizeof(addr), "10.0.0.%d:8300", i + 1);
		ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, (uint64_t)i + 1, addr),
		                 0);
	}
	return c;
}

/* c is conf_of(n): members and addresses survived the trip. */
static void check_conf_of(const struct raft_conf *c, uint32_t n)
{
	ck_assert_uint_eq(c->n, n);
	for (uint32_t i = 0; i < n; i++) {
		char addr[RAFT_ADDR_MAX];
		snprintf(addr, sizeof(addr), "10.0.0.%u:8300", i + 1);
		ck_assert_uint_eq(c->m[i].id, i + 1);
		ck_assert(c->m[i].voter);
		ck_assert_str_eq(c->m[i].addr, addr);
	}
}

/* Entries lo..hi (inclusive) of term t; payload "e<index>" padded to len. */
static void append_range(struct store *s, uint64_t lo, uint64_t hi, uint64_t t, uint32_t len)
{
	size_t n = hi - lo + 1;
	struct raft_entry *e = calloc(n, sizeof(*e));
	uint8_t *data = calloc(n, len + 1);
	for (size_t i = 0; i < n; i++) {
		e[i].index = lo + i;
		e[i].term = t;
		e[i].type = RAFT_ENTRY_NORMAL;
		e[i].len = len;
		e[i].data = data + i * (len + 1);
		snprintf((char *)e[i].data, len + 1, "e%llu:t%llu%*s", (unsigned long long)(lo + i),
		         (unsigned long long)t, (int)len, "");
	}
	struct raft_hard_state hs = {.term = t, .vote = 1, .commit = 0};
	ck_assert_msg(store_append(s, e, n, &hs, true) == 0, "append: %s", store_error(s));
	free(data);
	free(e);
}

static void check_entry(const struct raft_entry *e, uint64_t index, uint64_t term, uint32_t len)
{
	char want[64];
	ck_assert_uint_eq(e->index, index);
	ck_assert_uint_eq(e->term, term);
	ck_assert_uint_eq(e->len, len);
	snprintf(want, sizeof(want), "e%llu:t%llu", (unsigned long long)index,
	         (unsigned long long)term);
	ck_assert_msg(
	    len == 0 || memcmp(e->data, want, strlen(want) < len ? strlen(want) : len) == 0,
	    "entry %llu: %.*s", (unsigned long long)index, (int)len, (const char *)e->data);
}

static uint64_t term_of(struct raft_storage *rs, uint64_t i, int *rc)
{
	uint64_t t = 0;
	*rc = rs->term(rs->arg, i, &t);
	return t;
}

static struct fsm_write wput(enum fsm_table t, const char *key, const char *val)
{
	struct fsm_write w = {.table = t, .key = (char *)key, .klen = strlen(key)};
	buf_init(&w.val, 1 << 20);
	buf_append(&w.val, val, strlen(val));
	return w;
}

static struct fsm_write wdel(enum fsm_table t, const char *key)
{
	struct fsm_write w = {.table = t, .key = (char *)key, .klen = strlen(key), .del = true};
	return w;
}

static void wfree(struct fsm_write *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_fini(&w[i].val);
}

/*
 * Every column family of a closed database, as text: "cf key=value" lines
 * in key order, keys and values hexed; only the families `only` names (all when
 * NULL), and of "meta" only the keys meta_keys names (all when NULL).
 */
static char *dump_db(const char *dir, const char *const *only, const char *const *meta_keys)
{
	rocksdb_options_t *o = rocksdb_options_create();
	char *err = NULL;
	size_t ncf = 0;
	char **names = rocksdb_list_column_families(o, dir, &ncf, &err);
	ck_assert_msg(err == NULL, "list: %s", err);
	const rocksdb_options_t **opts = calloc(ncf, sizeof(*opts));
	rocksdb_column_family_handle_t **h = calloc(ncf, sizeof(*h));
	for (size_t i = 0; i < ncf; i++)
		opts[i] = o;
	rocksdb_t *db = rocksdb_open_for_read_only_column_families(
	    o, dir, (int)ncf, (const char *const *)names, opts, h, 0, &err);
	ck_assert_msg(err == NULL, "open: %s", err);
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	struct buf out;
	buf_init(&out, 64u << 20);
	for (size_t i = 0; i < ncf; i++) {
		bool want = only == NULL;
		for (size_t k = 0; only != NULL && only[k] != NULL; k++)
			want = want || strcmp(only[k], names[i]) == 0;
		if (!want)
			continue;
		rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, ro, h[i]);
		for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
		     rocksdb_iter_next(it)) {
			size_t kl, vl;
			const char *k = rocksdb_iter_key(it, &kl);
			const char *v = rocksdb_iter_value(it, &vl);
			if (strcmp(names[i], "meta") == 0 && meta_keys != NULL) {
				bool keep = false;
				for (size_t m = 0; meta_keys[m] != NULL; m++)
					keep = keep || (strlen(meta_keys[m]) == kl &&
					                memcmp(meta_keys[m], k, kl) == 0);
				if (!keep)
					continue;
			}
			buf_printf(&out, "%s ", names[i]);
			for (size_t b = 0; b < kl; b++)
				buf_printf(&out, "%02x", (uint8_t)k[b]);
			buf_putc(&out, '=');
			for (size_t b = 0; b < vl; b++)
				buf_printf(&out, "%02x", (uint8_t)v[b]);
			buf_putc(&out, '\n');
		}
		rocksdb_iter_destroy(it);
	}
	ck_assert(!out.err);
	char *text = strdup(out.len ? buf_cstr(&out) : "");
	buf_fini(&out);
	rocksdb_readoptions_destroy(ro);
	for (size_t i = 0; i < ncf; i++)
		rocksdb_column_family_handle_destroy(h[i]);
	rocksdb_close(db);
	rocksdb_list_column_families_destroy(names, ncf);
	rocksdb_options_destroy(o);
	free(opts);
	free(h);
	return text;
}

static const char *const state_cfs[] = {"kv",     "tomb",     "nodes", "services",
                                        "checks", "sessions", "index", NULL};

/* ---- SHA-256 ---- */

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

START_TEST(test_sha256_vectors)
{
	/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf") */
	static const struct {
		const char *in;
		const char *out;
	} v[] = {
	    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmno"
	     "pqrlmnopqrsmnopqrstnopqrstu",
	     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
	};
	uint8_t d[32];
	char h[65];
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		store_sha256(v[i].in, strlen(v[i].in), d);
		hex(d, 32, h);
		ck_assert_str_eq(h, v[i].out);
	}
	/* one million 'a' */
	char *a = malloc(1000000);
	memset(a, 'a', 1000000);
	store_sha256(a, 1000000, d);
	hex(d, 32, h);
	ck_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* the 55/56/64-byte padding edges, against lengths hashed by sha256sum */
	static const char *edge[] = {
	    [55] = "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
	    [56] = "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
	    [64] = "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
	};
	for (size_t n = 55; n <= 64; n++) {
		if (edge[n] == NULL)
			continue;
		store_sha256(a, n, d);
		hex(d, 32, h);
		ck_assert_msg(strcmp(h, edge[n]) == 0, "%zu 'a': %s", n, h);
	}
	free(a);
}
END_TEST

/* ---- open, append, reopen ---- */

START_TEST(test_reopen_keeps_everything)
{
	struct store *s = open_at("db", true);
	struct raft_storage rs;
	ck_assert(store_is_empty(s));
	append_range(s, 1, 10, 2, 16);
	struct raft_hard_state hs = {.term = 3, .vote = 2, .commit = 7};
	ck_assert_int_eq(store_append(s, NULL, 0, &hs, false), 0);
	ck_assert_int_eq(store_apply(s, NULL, 0, 6, 2), 0);
	ck_assert(!store_is_empty(s));
	const struct store_stats *st = store_stats(s);
	ck_assert_uint_eq(st->appends, 2);
	ck_assert_uint_eq(st->entries, 10);
	ck_assert_uint_eq(st->syncs, 1);
	ck_assert_uint_eq(st->applies, 1);
	store_close(s);

	s = open_at("db", true);
	store_raft_storage(s, &rs);
	ck_assert(!store_is_empty(s));
	ck_assert_uint_eq(rs.first_index(rs.arg), 1);
	ck_assert_uint_eq(rs.last_index(rs.arg), 10);
	struct raft_hard_state got;
	rs.hard_state(rs.arg, &got);
	ck_assert_uint_eq(got.term, 3);
	ck_assert_uint_eq(got.vote, 2);
	ck_assert_uint_eq(got.commit, 7);
	ck_assert_uint_eq(store_applied_index(s), 6);
	ck_assert_uint_eq(store_applied_term(s), 2);
	struct raft_entry out[16];
	size_t n = 0;
	ck_assert_int_eq(rs.entries(rs.arg, 1, 11, UINT64_MAX, out, 16, &n), 0);
	ck_assert_uint_eq(n, 10);
	for (size_t i = 0; i < n; i++)
		check_entry(&out[i], i + 1, 2, 16);
	struct raft_snapshot snap;
	rs.snapshot(rs.arg, &snap);
	ck_assert_uint_eq(snap.index, 0);
	ck_assert_uint_eq(snap.len, 0);
	store_close(s);
}
END_TEST

START_TEST(test_bootstrap)
{
	struct store *s = open_at("db", false);
	struct raft_storage rs;
	struct raft_conf c = conf_of(3), got;
	store_raft_storage(s, &rs);
	ck_assert_int_eq(store_bootstrap(s, &c), 0);
	ck_assert(!store_is_empty(s));
	ck_assert_int_eq(store_bootstrap(s, &c), -1); /* only on an empty store */
	ck_assert_ptr_nonnull(strstr(store_error(s), "not empty"));
	store_close(s);

	s = open_at("db", false);
	store_raft_storage(s, &rs);
	struct raft_hard_state hs;
	rs.hard_state(rs.arg, &hs);
	ck_assert_uint_eq(hs.term, 1);
	ck_assert_uint_eq(hs.commit, 1);
	ck_assert_uint_eq(hs.vote, 0);
	struct raft_entry e;
	size_t n = 0;
	ck_assert_int_eq(rs.entries(rs.arg, 1, 2, 0, &e, 1, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(e.type, RAFT_ENTRY_CONF);
	ck_assert_uint_eq(e.term, 1);
	ck_assert_int_eq(raft_conf_decode(&got, e.data, e.len), 0);
	check_conf_of(&got, 3);
	store_close(s);
}
END_TEST

/* entries() from RocksDB (after a reopen: the cache is cold) and from the
 * tail cache answer the same, with the same limits. */
static void check_ranges(struct store *s)
{
	struct raft_storage rs;
	struct raft_entry out[64];
	size_t n;
	store_raft_storage(s, &rs);

	ck_assert_int_eq(rs.entries(rs.arg, 3, 8, UINT64_MAX, out, 64, &n), 0);
	ck_assert_uint_eq(n, 5);
	for (size_t i = 0; i < n; i++)
		check_entry(&out[i], 3 + i, 1, 100);
	/* max_bytes: whole entries that fit, but at least one */
	ck_assert_int_eq(rs.entries(rs.arg, 1, 21, 250, out, 64, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(rs.entries(rs.arg, 5, 21, 300, out, 64, &n), 0);
	ck_assert_uint_eq(n, 3);
	check_entry(&out[2], 7, 1, 100);
	ck_assert_int_eq(rs.entries(rs.arg, 5, 21, 0, out, 64, &n), 0);
	ck_assert_uint_eq(n, 1);
	check_entry(&out[0], 5, 1, 100);
	/* out_max */
	ck_assert_int_eq(rs.entries(rs.arg, 2, 21, UINT64_MAX, out, 4, &n), 0);
	ck_assert_uint_eq(n, 4);
	check_entry(&out[3], 5, 1, 100);
	/* the last entry alone, and past the end */
	ck_assert_int_eq(rs.entries(rs.arg, 20, 21, 0, out, 64, &n), 0);
	ck_assert_uint_eq(n, 1);
	check_entry(&out[0], 20, 1, 100);
	ck_assert_int_eq(rs.entries(rs.arg, 20, 22, 0, out, 64, &n), RAFT_ERR_UNAVAILABLE);
	ck_assert_int_eq(rs.entries(rs.arg, 0, 2, 0, out, 64, &n), RAFT_ERR_COMPACTED);
}

START_TEST(test_entries_range_and_bytes)
{
	struct store *s = open_at("db", false);
	append_range(s, 1, 20, 1, 100);
	uint64_t cached0 = store_stats(s)->entries_cached;
	check_ranges(s); /* the newest entries are in the tail cache */
	ck_assert_uint_gt(store_stats(s)->entries_cached, cached0);
	store_close(s);
	s = open_at("db", false);
	check_ranges(s); /* from RocksDB */
	ck_assert_uint_eq(store_stats(s)->entries_cached, 0);
	/* a range that starts in RocksDB and ends in the cache */
	append_range(s, 21, 25, 1, 100);
	struct raft_storage rs;
	struct raft_entry out[64];
	size_t n;
	store_raft_storage(s, &rs);
	ck_assert_int_eq(rs.entries(rs.arg, 18, 26, UINT64_MAX, out, 64, &n), 0);
	ck_assert_uint_eq(n, 8);
	for (size_t i = 0; i < n; i++)
		check_entry(&out[i], 18 + i, 1, 100);
	ck_assert_int_eq(rs.entries(rs.arg, 19, 26, 350, out, 64, &n), 0);
	ck_assert_uint_eq(n, 3);
	store_close(s);
}
END_TEST

/* A batch larger than the tail cache, a zero-length entry, type kept. */
START_TEST(test_entries_large_batch)
{
	struct store *s = open_at("db", false);
	struct raft_storage rs;
	struct raft_entry out[8];
	size_t n;
	store_raft_storage(s, &rs);
	append_range(s, 1, 3000, 1, 8);
	struct raft_entry e = {.index = 3001, .term = 2, .type = RAFT_ENTRY_NOOP, .len = 0};
	ck_assert_int_eq(store_append(s, &e, 1, NULL, false), 0);
	for (uint64_t i = 1; i <= 3000; i += 997) {
		ck_assert_int_eq(rs.entries(rs.arg, i, i + 2, UINT64_MAX, out, 8, &n), 0);
		ck_assert_uint_eq(n, 2);
		check_entry(&out[0], i, 1, 8);
		check_entry(&out[1], i + 1, 1, 8);
	}
	ck_assert_int_eq(rs.entries(rs.arg, 3000, 3002, UINT64_MAX, out, 8, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[1].type, RAFT_ENTRY_NOOP);
	ck_assert_uint_eq(out[1].len, 0);
	store_close(s);
	s = open_at("db", false);
	store_raft_storage(s, &rs);
	ck_assert_int_eq(rs.entries(rs.arg, 3001, 3002, UINT64_MAX, out, 8, &n), 0);
	ck_assert_uint_eq(out[0].type, RAFT_ENTRY_NOOP);
	ck_assert_uint_eq(out[0].term, 2);
	ck_assert_uint_eq(out[0].len, 0);
	store_close(s);
}
END_TEST

START_TEST(test_overwrite_suffix)
{
	struct store *s = open_at("db", false);
	struct raft_storage rs;
	struct raft_entry out[16];
	size_t n;
	int rc;
	store_raft_storage(s, &rs);
	append_range(s, 1, 10, 1, 8);
	append_range(s, 6, 7, 2, 8); /* a new leader's entries: 8..10 go */
	ck_assert_uint_eq(rs.last_index(rs.arg), 7);
	ck_assert_uint_eq(term_of(&rs, 6, &rc), 2);
	ck_assert_uint_eq(term_of(&rs, 5, &rc), 1);
	term_of(&rs, 8, &rc);
	ck_assert_int_eq(rc, RAFT_ERR_UNAVAILABLE);
	/* a gap is refused */
	struct raft_entry gap = {.index = 9, .term = 2};
	ck_assert_int_eq(store_append(s, &gap, 1, NULL, false), -1);
	ck_assert_ptr_nonnull(strstr(store_error(s), "past the log's end"));
	store_close(s);

	s = open_at("db", false);
	store_raft_storage(s, &rs);
	ck_assert_uint_eq(rs.last_index(rs.arg), 7);
	ck_assert_int_eq(rs.entries(rs.arg, 1, 8, UINT64_MAX, out, 16, &n), 0);
	ck_assert_uint_eq(n, 7);
	for (size_t i = 0; i < 5; i++)
		check_entry(&out[i], i + 1, 1, 8);
	check_entry(&out[5], 6, 2, 8);
	check_entry(&out[6], 7, 2, 8);
	/* overwrite from the middle, longer than before, across the cold part */
	append_range(s, 3, 12, 3, 8);
	ck_assert_int_eq(rs.entries(rs.arg, 1, 13, UINT64_MAX, out, 16, &n), 0);
	ck_assert_uint_eq(n, 12);
	check_entry(&out[1], 2, 1, 8);
	check_entry(&out[2], 3, 3, 8);
	check_entry(&out[11], 12, 3, 8);
	store_close(s);
}
END_TEST

START_TEST(test_term_boundaries)
{
	struct store *s = open_at("db", false);
	struct raft_storage rs;
	int rc;
	store_raft_storage(s, &rs);
	/* empty: term(0) is 0, first 1, last 0 */
	ck_assert_uint_eq(term_of(&rs, 0, &rc), 0);
	ck_assert_int_eq(rc, 0);
	term_of(&rs, 1, &rc);
	ck_assert_int_eq(rc, RAFT_ERR_UNAVAILABLE);
	ck_assert_uint_eq(rs.first_index(rs.arg), 1);
	ck_assert_uint_eq(rs.last_index(rs.arg), 0);

	append_range(s, 1, 5, 1, 4);
	append_range(s, 6, 10, 2, 4);
	ck_assert_int_eq(store_apply(s, NULL, 0, 8, 2), 0);
	struct raft_conf c = conf_of(1);
	ck_assert_int_eq(store_compact(s, 6, 2, &c, UINT64_MAX), 0);
	for (int pass = 0; pass < 2; pass++) {
		ck_assert_uint_eq(rs.first_index(rs.arg), 7);
		ck_assert_uint_eq(term_of(&rs, 6, &rc), 2); /* the snapshot's */
		ck_assert_int_eq(rc, 0);
		term_of(&rs, 5, &rc);
		ck_assert_int_eq(rc, RAFT_ERR_COMPACTED);
		ck_assert_uint_eq(term_of(&rs, 7, &rc), 2);
		ck_assert_uint_eq(term_of(&rs, 10, &rc), 2);
		term_of(&rs, 11, &rc);
		ck_assert_int_eq(rc, RAFT_ERR_UNAVAILABLE);
		store_close(s);
		s = open_at("db", false);
		store_raft_storage(s, &rs);
	}
	store_close(s);
}
END_TEST

START_TEST(test_compact)
{
	struct store *s = open_at("db", true);
	struct raft_storage rs;
	struct raft_entry out[16];
	size_t n;
	int rc;
	store_raft_storage(s, &rs);
	append_range(s, 1, 10, 1, 8);
	append_range(s, 11, 20, 3, 8);
	struct raft_conf c = conf_of(3);
	/* not past the applied index */
	ck_assert_int_eq(store_apply(s, NULL, 0, 15, 3), 0);
	ck_assert_int_eq(store_compact(s, 16, 3, &c, 10), -1);
	/* the term must be the log's */
	ck_assert_int_eq(store_compact(s, 12, 2, &c, 10), -1);
	ck_assert_ptr_nonnull(strstr(store_error(s), "the log says 3"));
	uint64_t syncs = store_stats(s)->syncs;
	ck_assert_int_eq(store_compact(s, 12, 3, &c, 10), 0);
	ck_assert_uint_eq(store_stats(s)->syncs, syncs + 1); /* the WAL */
	ck_assert_uint_eq(store_stats(s)->compactions, 1);
	ck_assert_uint_eq(store_snapshot_index(s), 12);
	for (int pass = 0; pass < 2; pass++) {
		ck_assert_uint_eq(rs.first_index(rs.arg), 13);
		ck_assert_uint_eq(rs.last_index(rs.arg), 20);
		ck_assert_uint_eq(term_of(&rs, 12, &rc), 3);
		ck_assert_int_eq(rs.entries(rs.arg, 12, 14, UINT64_MAX, out, 16, &n),
		                 RAFT_ERR_COMPACTED);
		ck_assert_int_eq(rs.entries(rs.arg, 13, 21, UINT64_MAX, out, 16, &n), 0);
		ck_assert_uint_eq(n, 8);
		check_entry(&out[0], 13, 3, 8);
		struct raft_snapshot snap;
		rs.snapshot(rs.arg, &snap);
		ck_assert_uint_eq(snap.index, 12);
		ck_assert_uint_eq(snap.term, 3);
		check_conf_of(&snap.conf, 3);
		ck_assert_uint_eq(snap.len, 0);
		ck_assert_ptr_null(snap.data);
		store_close(s);
		s = open_at("db", true);
		store_raft_storage(s, &rs);
	}
	store_close(s);
	/* keep_from kept 10..12 in RocksDB (trailing entries), dropped 1..9 */
	const char *const logcf[] = {"log", NULL};
	char *d = dump_db(tpath("db"), logcf, NULL);
	ck_assert_ptr_null(strstr(d, "log 0000000000000009="));
	ck_assert_ptr_nonnull(strstr(d, "log 000000000000000a="));
	size_t lines = 0;
	for (const char *p = d; *p; p++)
		lines += *p == '\n';
	ck_assert_uint_eq(lines, 11); /* 10..20 */
	free(d);

	/* appends continue after the snapshot; entries before it are skipped */
	s = open_at("db", true);
	store_raft_storage(s, &rs);
	append_range(s, 11, 22, 3, 8);
	ck_assert_uint_eq(rs.first_index(rs.arg), 13);
	ck_assert_uint_eq(rs.last_index(rs.arg), 22);
	store_close(s);
}
END_TEST

/* A log value shorter than its header is an error, not a read past it. */
/* Writes key=val into column family cf (an index into names[]) of the closed store at name,
 * bypassing the store: what an earlier build or a corruption left. */
static void raw_put(const char *name, int cf, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
	rocksdb_options_t *o = rocksdb_options_create();
	const char *names[] = {"default", "log",      "meta",   "kv",       "tomb",
	                       "nodes",   "services", "checks", "sessions", "index"};
	const rocksdb_options_t *opts[10];
	rocksdb_column_family_handle_t *h[10];
	char *err = NULL;
	for (int i = 0; i < 10; i++)
		opts[i] = o;
	rocksdb_t *db = rocksdb_open_column_families(o, tpath(name), 10, names, opts, h, &err);
	ck_assert_msg(err == NULL, "%s", err);
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_put_cf(db, wo, h[cf], key, klen, val, vlen, &err);
	ck_assert_ptr_null(err);
	rocksdb_writeoptions_destroy(wo);
	for (int i = 0; i < 10; i++)
		rocksdb_column_family_handle_destroy(h[i]);
	rocksdb_close(db);
	rocksdb_options_destroy(o);
}

START_TEST(test_corrupt_log_value)
{
	struct store *s = open_at("db", false);
	append_range(s, 1, 5, 1, 8);
	store_close(s);

	const uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 3};
	raw_put("db", 1, key, 8, "\x00\x01\x02", 3);

	s = open_at("db", false);
	struct raft_storage rs;
	struct raft_entry out[8];
	size_t n = 99;
	int rc;
	store_raft_storage(s, &rs);
	ck_assert_int_eq(rs.entries(rs.arg, 1, 6, UINT64_MAX, out, 8, &n), RAFT_ERR_UNAVAILABLE);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_nonnull(strstr(store_error(s), "log entry 3: malformed value of 3 bytes"));
	term_of(&rs, 3, &rc);
	ck_assert_int_ne(rc, 0);
	ck_assert_uint_eq(term_of(&rs, 4, &rc), 1);
	ck_assert_int_eq(rc, 0);
	store_close(s);
}
END_TEST

START_TEST(test_cf_names_are_fsm_tables)
{
	struct store *s = open_at("db", false);
	store_close(s);
	rocksdb_options_t *o = rocksdb_options_create();
	char *err = NULL;
	size_t n = 0;
	char **names = rocksdb_list_column_families(o, tpath("db"), &n, &err);
	ck_assert_ptr_null(err);
	for (int t = 0; t < FSM_T_COUNT; t++) {
		bool found = false;
		for (size_t i = 0; i < n; i++)
			found = found || strcmp(names[i], fsm_table_name((enum fsm_table)t)) == 0;
		ck_assert_msg(found, "no family %s", fsm_table_name((enum fsm_table)t));
	}
	ck_assert_uint_eq(n, 3 + FSM_T_COUNT);
	rocksdb_list_column_families_destroy(names, n);
	rocksdb_options_destroy(o);
}
END_TEST

/* ---- applies and loading into the fsm ---- */

static void put_kv(struct fsm *f, struct store *s, uint64_t index, const char *key,
                   const char *value)
{
	struct msg cmd = {.type = MSG_KV_PUT}, reply = {0};
	cmd.u.kv_put.op = strdup("set");
	cmd.u.kv_put.key = strdup(key);
	cmd.u.kv_put.session = strdup("");
	cmd.u.kv_put.value.p = (uint8_t *)strdup(value);
	cmd.u.kv_put.value.len = strlen(value);
	ck_assert_int_eq(fsm_apply(f, index, &cmd, 0, &reply), 0);
	size_t n;
	const struct fsm_write *w = fsm_writes(f, &n);
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(store_apply(s, w, n, index, 1), 0);
	fsm_changes_clear(f);
	msg_free(&cmd);
	msg_free(&reply);
}

static char *get_kv(struct fsm *f, const char *key)
{
	struct msg req = {.type = MSG_KV_GET}, reply = {0};
	req.u.kv_get.key = strdup(key);
	req.u.kv_get.separator = strdup("");
	ck_assert_int_eq(fsm_query(f, &req, &reply, NULL), 0);
	ck_assert_int_eq(reply.type, MSG_KV_GET_REPLY);
	char *v = NULL;
	if (reply.u.kv_get_reply.entries.n == 1) {
		struct msg_kv_entry *e = &reply.u.kv_get_reply.entries.v[0];
		v = strndup((const char *)e->value.p, e->value.len);
	}
	msg_free(&req);
	msg_free(&reply);
	return v;
}

START_TEST(test_snapshot_long_key)
{
	/* The fsm's keys can be longer than 1 MiB (a service row is
	 * lower(node) SEP lower(id), each up to MSG_STR_LEN_MAX): a snapshot
	 * holding one must restore. */
	struct store *s = open_at("src", true);
	struct raft_conf c1 = conf_of(1);
	size_t klen = 2 * (size_t)MSG_STR_LEN_MAX + 1;
	char *key = malloc(klen + 1);
	char snap[256];

	ck_assert_ptr_nonnull(key);
	memset(key, 'n', klen);
	key[MSG_STR_LEN_MAX] = '\x1f';
	key[klen] = '\0';
	ck_assert_int_eq(store_bootstrap(s, &c1), 0);
	struct fsm_write w = wput(FSM_T_SERVICES, key, "v");
	ck_assert_int_eq(store_apply(s, &w, 1, 1, 1), 0);
	wfree(&w, 1);
	snprintf(snap, sizeof(snap), "%s", tpath("long.snap"));
	ck_assert_int_eq(store_snapshot_write(s, snap), 0);
	store_close(s);

	struct store *d = open_at("dst", true);
	ck_assert_msg(store_snapshot_restore(d, snap) == 0, "restore: %s", store_error(d));
	ck_assert_uint_eq(store_applied_index(d), 1);
	store_close(d);
	char *a = dump_db(tpath("src"), state_cfs, NULL);
	char *b = dump_db(tpath("dst"), state_cfs, NULL);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	free(key);
}
END_TEST

START_TEST(test_apply_and_load)
{
	struct store *s = open_at("db", true);
	struct fsm *f = fsm_new();
	put_kv(f, s, 5, "a/b", "one");
	put_kv(f, s, 6, "a/c", "two");
	put_kv(f, s, 7, "a/b", "three");
	/* a record that does not decode is counted, not fatal */
	struct fsm_write junk = wput(FSM_T_KV, "junk", "\xc1\xc1\xc1");
	ck_assert_int_eq(store_apply(s, &junk, 1, 8, 1), 0);
	wfree(&junk, 1);
	fsm_free(f);
	store_close(s);

	s = open_at("db", true);
	ck_assert_uint_eq(store_applied_index(s), 8);
	f = fsm_new();
	uint64_t bad = 99;
	ck_assert_int_eq(store_load(s, f, &bad), 0);
	ck_assert_uint_eq(bad, 1);
	char *v = get_kv(f, "a/b");
	ck_assert_str_eq(v, "three");
	free(v);
	v = get_kv(f, "a/c");
	ck_assert_str_eq(v, "two");
	free(v);
	ck_assert_uint_eq(fsm_max_index(f), 7);
	fsm_free(f);
	store_close(s);
}
END_TEST

START_TEST(test_apply_deletes)
{
	struct store *s = open_at("db", false);
	struct fsm_write w[3] = {wput(FSM_T_NODES, "n1", "x"), wput(FSM_T_NODES, "n2", "y"),
	                         wput(FSM_T_INDEX, "nodes", "\0\0\0\0\0\0\0\x09")};
	ck_assert_int_eq(store_apply(s, w, 3, 9, 1), 0);
	struct fsm_write d[1] = {wdel(FSM_T_NODES, "n1")};
	ck_assert_int_eq(store_apply(s, d, 1, 10, 1), 0);
	wfree(w, 3);
	store_close(s);
	const char *const nodes[] = {"nodes", NULL};
	char *text = dump_db(tpath("db"), nodes, NULL);
	ck_assert_str_eq(text, "nodes 6e32=79\n");
	free(text);
}
END_TEST

/* ---- snapshot files ---- */

/* A store with state in every family, a log, compacted at its applied
 * index with a configuration change after the snapshot point. */
static struct store *populate(const char *name)
{
	struct store *s = open_at(name, true);
	struct raft_conf c1 = conf_of(1), c3 = conf_of(3);
	ck_assert_int_eq(store_bootstrap(s, &c1), 0);
	append_range(s, 2, 10, 2, 32);
	uint8_t cbuf[RAFT_CONF_ENCODED_MAX];
	struct raft_entry ce = {.index = 11, .term = 2, .type = RAFT_ENTRY_CONF};
	ce.len = (uint32_t)raft_conf_encode(&c3, cbuf, sizeof(cbuf));
	ce.data = cbuf;
	ck_assert_int_eq(store_append(s, &ce, 1, NULL, true), 0);
	append_range(s, 12, 14, 2, 32);
	for (int t = 0; t < FSM_T_COUNT; t++) {
		char key[32], val[64];
		for (int i = 0; i < 20; i++) {
			snprintf(key, sizeof(key), "t%d/key%02d", t, i);
			snprintf(val, sizeof(val), "value %d.%d", t, i);
			struct fsm_write w = wput((enum fsm_table)t, key, val);
			ck_assert_int_eq(store_apply(s, &w, 1, 2 + (uint64_t)i % 10, 2), 0);
			wfree(&w, 1);
		}
	}
	/* binary keys, an empty value, a key at the top of the key space */
	struct fsm_write w[3] = {wput(FSM_T_KV, "\xff\xff\xff", ""), wput(FSM_T_TOMB, "", "x"),
	                         wput(FSM_T_SESSIONS, "s\x01", "\x00")};
	w[2].val.len = 1;
	ck_assert_int_eq(store_apply(s, w, 3, 12, 2), 0);
	wfree(w, 3);
	return s;
}

START_TEST(test_snapshot_roundtrip)
{
	struct store *s = populate("src");
	char snap[256];
	snprintf(snap, sizeof(snap), "%s", tpath("snap.bin"));
	ck_assert_int_eq(store_snapshot_write(s, snap), 0);
	ck_assert_int_ne(access(tpath("snap.bin.tmp"), F_OK), 0);
	uint64_t index, term;
	struct raft_conf conf;
	ck_assert_int_eq(store_snapshot_info(snap, &index, &term, &conf), 0);
	ck_assert_uint_eq(index, 12);
	ck_assert_uint_eq(term, 2);
	check_conf_of(&conf, 3); /* entry 11's, after the snapshot point (0) */
	/* the source compacted at the same point: its meta must then match */
	ck_assert_int_eq(store_compact(s, 12, 2, &conf, UINT64_MAX), 0);
	store_close(s);

	struct store *d = open_at("dst", true);
	append_range(d, 1, 30, 1, 8); /* a log and state to be replaced */
	struct fsm_write w[2] = {wput(FSM_T_KV, "old", "x"), wput(FSM_T_CHECKS, "zzz", "y")};
	ck_assert_int_eq(store_apply(d, w, 2, 3, 1), 0);
	wfree(w, 2);
	ck_assert_int_eq(store_snapshot_restore(d, snap), 0);
	struct raft_storage rs;
	store_raft_storage(d, &rs);
	ck_assert_uint_eq(rs.first_index(rs.arg), 13);
	ck_assert_uint_eq(rs.last_index(rs.arg), 12);
	ck_assert_uint_eq(store_applied_index(d), 12);
	ck_assert_uint_eq(store_applied_term(d), 2);
	struct raft_hard_state hs;
	rs.hard_state(rs.arg, &hs);
	ck_assert_uint_eq(hs.commit, 12);
	struct raft_snapshot sn;
	rs.snapshot(rs.arg, &sn);
	ck_assert_uint_eq(sn.index, 12);
	check_conf_of(&sn.conf, 3);
	/* the log goes on from the snapshot */
	append_range(d, 13, 14, 3, 8);
	store_close(d);

	static const char *const meta_keys[] = {"applied", "snap", NULL};
	char *a = dump_db(tpath("src"), state_cfs, NULL);
	char *b = dump_db(tpath("dst"), state_cfs, NULL);
	ck_assert_uint_gt(strlen(a), 100);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	const char *const meta[] = {"meta", NULL};
	a = dump_db(tpath("src"), meta, meta_keys);
	b = dump_db(tpath("dst"), meta, meta_keys);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	const char *const logcf[] = {"log", NULL};
	b = dump_db(tpath("dst"), logcf, NULL);
	ck_assert_uint_eq(strlen(b) > 0 ? 1 : 0, 1);
	size_t lines = 0;
	for (const char *p = b; *p; p++)
		lines += *p == '\n';
	ck_assert_uint_eq(lines, 2); /* 13, 14 */
	free(b);
}
END_TEST

static void file_flip(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, off, off < 0 ? SEEK_END : SEEK_SET), 0);
	int c = fgetc(f);
	ck_assert_int_ne(c, EOF);
	ck_assert_int_eq(fseek(f, -1, SEEK_CUR), 0);
	fputc(c ^ 0x01, f);
	fclose(f);
}

static void file_copy(const char *from, const char *to, long cut)
{
	FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
	ck_assert(a != NULL && b != NULL);
	fseek(a, 0, SEEK_END);
	long n = ftell(a) - cut;
	fseek(a, 0, SEEK_SET);
	for (long i = 0; i < n; i++)
		fputc(fgetc(a), b);
	fclose(a);
	fclose(b);
}

START_TEST(test_snapshot_corrupt_refused)
{
	struct store *s = populate("src");
	char snap[256], bad[256];
	snprintf(snap, sizeof(snap), "%s", tpath("snap.bin"));
	snprintf(bad, sizeof(bad), "%s", tpath("bad.bin"));
	ck_assert_int_eq(store_snapshot_write(s, snap), 0);
	store_close(s);
	struct stat st;
	ck_assert_int_eq(stat(snap, &st), 0);

	struct store *d = open_at("dst", true);
	append_range(d, 1, 30, 1, 8);
	struct fsm_write w[2] = {wput(FSM_T_KV, "old", "x"), wput(FSM_T_CHECKS, "zzz", "y")};
	ck_assert_int_eq(store_apply(d, w, 2, 3, 1), 0);
	wfree(w, 2);
	store_close(d);
	char *before = dump_db(tpath("dst"), NULL, NULL);

	/* one flipped bit anywhere: header, conf, a record, the end, the sum */
	long offs[] = {0, 9, 14, 30, st.st_size / 2, -33, -32, -1};
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		file_copy(snap, bad, 0);
		file_flip(bad, offs[i]);
		d = open_at("dst", true);
		ck_assert_msg(store_snapshot_restore(d, bad) == -1, "flip at %ld accepted",
		              offs[i]);
		ck_assert_ptr_nonnull(strstr(store_error(d), "nothing changed"));
		ck_assert_uint_eq(store_applied_index(d), 3);
		ck_assert_uint_eq(store_snapshot_index(d), 0);
		store_close(d);
	}
	/* truncated, extended, missing */
	file_copy(snap, bad, 1);
	d = open_at("dst", true);
	ck_assert_int_eq(store_snapshot_restore(d, bad), -1);
	FILE *f = fopen(snap, "ab");
	fputc(0, f);
	fclose(f);
	ck_assert_int_eq(store_snapshot_restore(d, snap), -1);
	ck_assert_ptr_nonnull(strstr(store_error(d), "trailing bytes"));
	ck_assert_int_eq(store_snapshot_restore(d, tpath("none")), -1);
	store_close(d);

	char *after = dump_db(tpath("dst"), NULL, NULL);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
}
END_TEST

/* ---- a Raft core over the store ---- */

static uint32_t rand0(void *arg, uint32_t n)
{
	(void)arg, (void)n;
	return 0;
}

static void drive(struct raft *r, struct store *s)
{
	struct raft_ready rd;
	while (raft_has_ready(r)) {
		raft_ready(r, &rd);
		ck_assert_ptr_null(rd.snapshot);
		if (rd.n_entries > 0 || rd.hs_changed)
			ck_assert_msg(store_append(s, rd.entries, rd.n_entries,
			                           rd.hs_changed ? &rd.hs : NULL,
			                           rd.must_sync) == 0,
			              "%s", store_error(s));
		for (size_t i = 0; i < rd.n_committed; i++)
			ck_assert_int_eq(
			    store_apply(s, NULL, 0, rd.committed[i].index, rd.committed[i].term),
			    0);
		raft_advance(r, &rd);
	}
}

static struct raft *raft_over(struct store *s)
{
	struct raft_config c;
	struct raft_storage rs;
	raft_config_default(&c, 1);
	c.rand = rand0;
	c.applied = store_applied_index(s);
	store_raft_storage(s, &rs);
	struct raft *r = raft_new(&c, &rs);
	ck_assert_ptr_nonnull(r);
	return r;
}

/*
 * A store written by an earlier build: configurations without addresses (4 + 9n bytes) in the log
 * and in the snapshot meta still load, with every address unknown.
 */
START_TEST(test_conf_without_addresses)
{
	/* members 1 (voter) and 2 (non-voter), as raft_conf_encode() wrote them before addresses */
	static const uint8_t v1[] = {2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	                             0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0};
	struct store *s = open_at("db", true);
	struct raft_entry e = {.term = 1,
	                       .index = 1,
	                       .type = RAFT_ENTRY_CONF,
	                       .len = sizeof(v1),
	                       .data = (uint8_t *)v1};
	struct raft_hard_state hs = {.term = 1, .vote = RAFT_NONE, .commit = 1};
	ck_assert_int_eq(store_append(s, &e, 1, &hs, true), 0);
	store_close(s);

	s = open_at("db", true);
	struct raft *r = raft_over(s);
	const struct raft_conf *c = raft_conf_latest(r);
	ck_assert_uint_eq(c->n, 2);
	ck_assert(c->m[0].id == 1 && c->m[0].voter && c->m[1].id == 2 && !c->m[1].voter);
	ck_assert_str_eq(c->m[0].addr, "");
	ck_assert_str_eq(c->m[1].addr, "");
	/* the lone voter leads, and learns addresses as the configuration changes */
	raft_campaign(r);
	drive(r, s);
	ck_assert_int_eq(raft_role(r), RAFT_LEADER);
	ck_assert_int_eq(raft_propose_conf(r, RAFT_CONF_ADD_NONVOTER, 2, "10.0.0.2:8300", NULL),
	                 RAFT_OK);
	drive(r, s);
	raft_free(r);
	store_close(s);
	s = open_at("db", true);
	r = raft_over(s);
	ck_assert_str_eq(raft_conf_find(raft_conf_latest(r), 2)->addr, "10.0.0.2:8300");
	ck_assert_str_eq(raft_conf_find(raft_conf_latest(r), 1)->addr, "");
	raft_free(r);
	store_close(s);

	/* the snapshot meta: index, term (big-endian), then the configuration */
	uint8_t snap[16 + sizeof(v1)] = {0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1};
	memcpy(snap + 16, v1, sizeof(v1));
	raw_put("db", 2, "snap", 4, snap, sizeof(snap));
	s = open_at("db", true);
	struct raft_storage rs;
	struct raft_snapshot sn;
	store_raft_storage(s, &rs);
	rs.snapshot(rs.arg, &sn);
	ck_assert_uint_eq(sn.index, 2);
	ck_assert_uint_eq(sn.conf.n, 2);
	ck_assert(sn.conf.m[0].voter && !sn.conf.m[1].voter);
	ck_assert_str_eq(sn.conf.m[0].addr, "");
	ck_assert_str_eq(sn.conf.m[1].addr, "");
	store_close(s);
}
END_TEST

START_TEST(test_raft_over_store)
{
	struct store *s = open_at("db", true);
	struct raft_conf c = conf_of(1);
	ck_assert_int_eq(store_bootstrap(s, &c), 0);
	struct raft *r = raft_over(s);
	raft_campaign(r);
	drive(r, s);
	ck_assert_int_eq(raft_role(r), RAFT_LEADER);
	for (int i = 0; i < 5; i++) {
		uint64_t index;
		char data[16];
		snprintf(data, sizeof(data), "cmd %d", i);
		ck_assert_int_eq(raft_propose(r, data, (uint32_t)strlen(data), &index), RAFT_OK);
		drive(r, s);
	}
	uint64_t last = raft_last_index(r), commit = raft_commit(r), term = raft_term(r);
	ck_assert_uint_eq(last, 7); /* bootstrap, the leader's no-op, 5 */
	ck_assert_uint_eq(commit, last);
	ck_assert_uint_eq(store_applied_index(s), last);
	uint64_t syncs = store_stats(s)->syncs;
	ck_assert_uint_ge(syncs, 6);
	raft_free(r);
	store_close(s);

	s = open_at("db", true);
	r = raft_over(s);
	ck_assert_uint_eq(raft_last_index(r), last);
	ck_assert_uint_eq(raft_commit(r), commit);
	ck_assert_uint_eq(raft_term(r), term);
	raft_campaign(r);
	drive(r, s);
	ck_assert_int_eq(raft_role(r), RAFT_LEADER);
	uint64_t index;
	ck_assert_int_eq(raft_propose(r, "more", 4, &index), RAFT_OK);
	drive(r, s);
	ck_assert_uint_eq(raft_commit(r), last + 2);
	/* compact behind the state and keep going over a new raft */
	ck_assert_int_eq(store_compact(s, last, term, &c, UINT64_MAX), 0);
	raft_free(r);
	r = raft_over(s);
	ck_assert_uint_eq(raft_last_index(r), last + 2);
	raft_free(r);
	store_close(s);
}
END_TEST

/* ---- randomized: the store against raft_memstore as the model ---- */

static uint64_t rnd_state;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rnd_state >> 33) % n;
}

static void model_check(struct store *s, struct raft_memstore *ms, uint64_t seed, int step)
{
	struct raft_storage a, b;
	struct raft_entry ea[64], eb[64];
	size_t na, nb;
	store_raft_storage(s, &a);
	raft_memstore_storage(ms, &b);
	ck_assert_msg(a.first_index(a.arg) == b.first_index(b.arg), "seed %llu step %d: first",
	              (unsigned long long)seed, step);
	ck_assert_msg(a.last_index(a.arg) == b.last_index(b.arg), "seed %llu step %d: last",
	              (unsigned long long)seed, step);
	uint64_t first = b.first_index(b.arg), last = b.last_index(b.arg);
	for (int k = 0; k < 8; k++) {
		uint64_t i = first > 2 ? first - 2 + rnd((uint32_t)(last - first + 5))
		                       : rnd((uint32_t)(last + 3));
		uint64_t ta = 0, tb = 0;
		int ra = a.term(a.arg, i, &ta), rb = b.term(b.arg, i, &tb);
		ck_assert_msg(ra == rb && ta == tb,
		              "seed %llu step %d: term(%llu) %d/%llu vs %d/%llu",
		              (unsigned long long)seed, step, (unsigned long long)i, ra,
		              (unsigned long long)ta, rb, (unsigned long long)tb);
	}
	if (last < first)
		return;
	for (int k = 0; k < 4; k++) {
		uint64_t lo = first + rnd((uint32_t)(last - first + 1));
		uint64_t hi = lo + 1 + rnd((uint32_t)(last - lo + 1));
		uint64_t max = rnd(4) == 0 ? UINT64_MAX : rnd(200000);
		size_t out_max = 1 + rnd(64);
		int ra = a.entries(a.arg, lo, hi, max, ea, out_max, &na);
		int rb = b.entries(b.arg, lo, hi, max, eb, out_max, &nb);
		ck_assert_msg(ra == 0 && rb == 0 && na == nb,
		              "seed %llu step %d: entries [%llu, %llu) max %llu: %d/%zu vs %d/%zu",
		              (unsigned long long)seed, step, (unsigned long long)lo,
		              (unsigned long long)hi, (unsigned long long)max, ra, na, rb, nb);
		for (size_t i = 0; i < na; i++)
			ck_assert_msg(
			    ea[i].index == eb[i].index && ea[i].term == eb[i].term &&
			        ea[i].type == eb[i].type && ea[i].len == eb[i].len &&
			        (ea[i].len == 0 || memcmp(ea[i].data, eb[i].data, ea[i].len) == 0),
			    "seed %llu step %d: entry %llu differs", (unsigned long long)seed, step,
			    (unsigned long long)eb[i].index);
	}
}

START_TEST(test_random_vs_model)
{
	const char *env = getenv("STORE_SEED");
	uint64_t seed = env != NULL ? strtoull(env, NULL, 0) : 20261125;
	struct store *s = open_at("db", false);
	struct raft_memstore *ms = raft_memstore_new();
	struct raft_conf c = conf_of(3);
	uint64_t term = 1;
	uint8_t *data = malloc(40000);
	rnd_state = seed;
	for (size_t i = 0; i < 40000; i++)
		data[i] = (uint8_t)rnd(256);
	for (int step = 0; step < 600; step++) {
		uint64_t first = raft_memstore_first_index(ms), last = raft_memstore_last_index(ms);
		uint32_t what = rnd(100);
		if (what < 70) {
			/* append at the end, or overwrite a suffix (mostly recent) */
			uint64_t at = last + 1;
			if (rnd(4) == 0 && last >= first)
				at = last -
				     rnd((uint32_t)min_u64(last - first + 1, rnd(2) ? 8 : 2000));
			if (at < last + 1)
				term++;
			size_t n = 1 + rnd(rnd(8) == 0 ? 300 : 6);
			struct raft_entry e[300];
			for (size_t i = 0; i < n; i++) {
				uint32_t len = rnd(3) == 0 ? 0 : rnd(rnd(4) == 0 ? 40000 : 300);
				e[i] = (struct raft_entry){.index = at + i,
				                           .term = term,
				                           .type = (uint8_t)rnd(3),
				                           .len = len,
				                           .data = len ? data + rnd(40000 - len + 1)
				                                       : NULL};
			}
			ck_assert_int_eq(raft_memstore_append(ms, e, n), 0);
			ck_assert_msg(store_append(s, e, n, NULL, false) == 0, "%s",
			              store_error(s));
		} else if (what < 80 && last > first + 10) {
			uint64_t index = first + rnd((uint32_t)(last - first));
			uint64_t t;
			struct raft_storage b;
			raft_memstore_storage(ms, &b);
			ck_assert_int_eq(b.term(b.arg, index, &t), 0);
			ck_assert_int_eq(store_apply(s, NULL, 0, index, t), 0);
			ck_assert_int_eq(raft_memstore_compact(ms, index, &c, NULL, 0), 0);
			uint64_t keep = rnd(2) ? index : index - rnd((uint32_t)(index - first + 1));
			ck_assert_msg(store_compact(s, index, t, &c, keep) == 0, "%s",
			              store_error(s));
		} else if (what < 85) {
			store_close(s);
			s = open_at("db", false);
		}
		model_check(s, ms, seed, step);
	}
	free(data);
	raft_memstore_free(ms);
	store_close(s);
}
END_TEST

/* ---- faults (LD_PRELOAD tests/fault/faultfs.c; a re-exec of this binary) ---- */

static void ctl_write(const char *text)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", getenv("MUSTER_FAULT_CTL"));
	FILE *f = fopen(tmp, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 ||
	    rename(tmp, getenv("MUSTER_FAULT_CTL")) != 0) {
		fprintf(stderr, "fault child: control file: %m\n");
		exit(10);
	}
}

#define CHILD_CHECK(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fault child: %s:%d: %s (store: %s)\n", __FILE__,          \
			        __LINE__, #cond, s ? store_error(s) : "-");                        \
			exit(11);                                                                  \
		}                                                                                  \
	} while (0)

static struct raft_entry child_entry(uint64_t i)
{
	static char data[32];
	snprintf(data, sizeof(data), "entry %llu", (unsigned long long)i);
	return (struct raft_entry){
	    .index = i, .term = 1, .len = (uint32_t)strlen(data), .data = (uint8_t *)data};
}

/* In the child, with the shim preloaded: append 1..5; the fault; append 6
 * fails; the fault goes; a reopen finds 1..5 and maybe 6 (written but not
 * acknowledged), never anything else. */
static int fault_child(const char *dir, const char *rule)
{
	char err[256];
	struct store *s = NULL;
	s = store_open(dir, true, err, sizeof(err));
	CHILD_CHECK(s != NULL);
	for (uint64_t i = 1; i <= 5; i++) {
		struct raft_entry e = child_entry(i);
		CHILD_CHECK(store_append(s, &e, 1, NULL, true) == 0);
	}
	char line[64];
	snprintf(line, sizeof(line), "%s\n", rule);
	ctl_write(line);
	struct raft_entry e = child_entry(6);
	CHILD_CHECK(store_append(s, &e, 1, NULL, true) == -1);
	CHILD_CHECK(strstr(store_error(s), "append of 1 entries at 6") != NULL);
	const char *want = strstr(rule, "ENOSPC") ? "No space left" : "Input/output error";
	CHILD_CHECK(strstr(store_error(s), want) != NULL);
	CHILD_CHECK(store_stats(s)->write_errors == 1);
	unlink(getenv("MUSTER_FAULT_CTL"));
	store_close(s);

	s = store_open(dir, true, err, sizeof(err));
	CHILD_CHECK(s != NULL);
	struct raft_storage rs;
	store_raft_storage(s, &rs);
	uint64_t last = rs.last_index(rs.arg);
	CHILD_CHECK(last == 5 || (last == 6 && strncmp(rule, "fsync", 5) == 0));
	struct raft_entry out[8];
	size_t n;
	CHILD_CHECK(rs.entries(rs.arg, 1, last + 1, UINT64_MAX, out, 8, &n) == 0 && n == last);
	for (size_t i = 0; i < n; i++) {
		struct raft_entry w = child_entry(i + 1);
		CHILD_CHECK(out[i].len == w.len && memcmp(out[i].data, w.data, w.len) == 0);
	}
	/* and the store works again */
	e = child_entry(last + 1);
	CHILD_CHECK(store_append(s, &e, 1, NULL, true) == 0);
	store_close(s);
	return 0;
}

static void run_fault_child(const char *rule)
{
	char so[PATH_MAX], exe[PATH_MAX];
	ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(k, 0);
	exe[k] = '\0';
	snprintf(so, sizeof(so), "%.*s/libfaultfs.so", (int)(strrchr(exe, '/') - exe), exe);
	ck_assert_msg(access(so, R_OK) == 0, "%s is not built (make check-build)", so);
	mkdir(tpath("data"), 0700);

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char asan[512];
		const char *a = getenv("ASAN_OPTIONS");
		snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", a ? a : "",
		         a ? ":" : "");
		setenv("ASAN_OPTIONS", asan, 1);
		setenv("LD_PRELOAD", so, 1);
		setenv("MUSTER_FAULT_DIR", tpath("data"), 1);
		setenv("MUSTER_FAULT_CTL", tpath("fault.ctl"), 1);
		execl(exe, exe, "--fault-child", tpath("data/db"), rule, (char *)NULL);
		_exit(127);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "fault child (%s) failed: status %d", rule, status);
}

START_TEST(test_fault_fsync_eio)
{
	run_fault_child("fsync EIO");
}
END_TEST

START_TEST(test_fault_write_enospc)
{
	run_fault_child("write ENOSPC");
}
END_TEST

START_TEST(test_fault_write_eio)
{
	run_fault_child("write EIO");
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sha256_vectors);
	tcase_add_test(tc, test_reopen_keeps_everything);
	tcase_add_test(tc, test_bootstrap);
	tcase_add_test(tc, test_entries_range_and_bytes);
	tcase_add_test(tc, test_entries_large_batch);
	tcase_add_test(tc, test_overwrite_suffix);
	tcase_add_test(tc, test_term_boundaries);
	tcase_add_test(tc, test_compact);
	tcase_add_test(tc, test_corrupt_log_value);
	tcase_add_test(tc, test_cf_names_are_fsm_tables);
	tcase_add_test(tc, test_apply_and_load);
	tcase_add_test(tc, test_apply_deletes);
	tcase_add_test(tc, test_snapshot_roundtrip);
	tcase_add_test(tc, test_snapshot_corrupt_refused);
	tcase_add_test(tc, test_snapshot_long_key);
	tcase_add_test(tc, test_conf_without_addresses);
	tcase_add_test(tc, test_raft_over_store);
	tcase_add_test(tc, test_random_vs_model);
	tcase_add_test(tc, test_fault_fsync_eio);
	tcase_add_test(tc, test_fault_write_enospc);
	tcase_add_test(tc, test_fault_write_eio);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--fault-child") == 0) {
		log_set_level(LOG_LEVEL_ERROR);
		return fault_child(argv[2], argv[3]);
	}
	return testutil_run(store_suite());
}

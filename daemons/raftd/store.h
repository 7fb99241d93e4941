/* store.h: raftd's RocksDB: the Raft log, hard state, snapshot point and the state tables. */
#ifndef MUSTER_STORE_H
#define MUSTER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm.h"
#include "raft.h"

/*
 * One RocksDB database under <data_dir>/raft with column families:
 *	"log"	Raft entries, key = 8-byte big-endian index,
 *		value = [type u8][term u64 BE][payload]
 *	"meta"	"hs" -> term, vote, commit (3 × u64 BE);
 *		"applied" -> index, term (2 × u64 BE): what the state families hold;
 *		"snap" -> index, term (2 × u64 BE) + raft_conf_encode(): the
 *		point the log was compacted behind (first_index = index + 1)
 *	one per fsm table, named fsm_table_name(t), holding fsm_write records.
 *
 * Durability (DESIGN.md §5): store_append() writes entries and the hard
 * state in one WriteBatch, synced when the store is durable (not -dev), and
 * returns only after it is on disk; raftd acknowledges nothing before. All
 * appends raftd collects while a sync runs go into the next single batch
 * (group commit is the caller's: one store_append() per raft_ready()).
 * store_apply() writes one apply's effects with the applied index in one
 * WriteBatch (not synced: the log already is; store_compact() syncs the WAL
 * before dropping log entries those effects came from).
 *
 * Errors: every write returns 0 or -1 with the RocksDB text in
 * store_error(); after a failed write RocksDB may refuse every later write
 * (a failed WAL sync makes it read-only), so the caller reopens the store
 * (store_close() + store_open()) or exits and lets musterd restart it.
 */

struct store;

struct store_stats {
	uint64_t appends;        /* store_append() calls that wrote something */
	uint64_t entries;        /* entries appended */
	uint64_t syncs;          /* synced WriteBatches (fsyncs of the WAL) */
	uint64_t applies;        /* store_apply() batches */
	uint64_t write_errors;   /* failed writes */
	uint64_t compactions;    /* store_compact() calls that dropped entries */
	uint64_t entries_cached; /* entries() answered from the tail cache */
};

/* Opens (creating) dir; sync false for -dev. NULL with the reason in err. */
struct store *store_open(const char *dir, bool sync, char *err, size_t err_size);
void store_close(struct store *s);
const char *store_error(const struct store *s);
const struct store_stats *store_stats(const struct store *s);

/* The struct raft_storage over this store (valid until store_close()).
 * entries() answers the newest entries from a tail cache; the data it
 * returns stays valid until the next change to the store, or until 64 MiB
 * more were read from RocksDB without one (raft.c copies at once). */
void store_raft_storage(struct store *s, struct raft_storage *rs);

/* Whether nothing was ever written (no log, no hard state, no snapshot). */
bool store_is_empty(const struct store *s);
/* Entry 1 (term 1, RAFT_ENTRY_CONF) holding c, as raft_memstore_bootstrap;
 * only on an empty store. */
int store_bootstrap(struct store *s, const struct raft_conf *c);

/* Persists a ready's entries (dropping every stored entry >= entries[0]
 * first) and hard state (hs may be NULL) in one batch, synced when sync
 * (the ready's must_sync) and the store is durable. n may be 0 with hs
 * alone (a commit-index move needs no sync: etcd-io/raft's MustSync). */
int store_append(struct store *s, const struct raft_entry *entries, size_t n,
                 const struct raft_hard_state *hs, bool sync);

/* Writes one batch of state changes with the applied index and term. */
int store_apply(struct store *s, const struct fsm_write *w, size_t n, uint64_t applied_index,
                uint64_t applied_term);
uint64_t store_applied_index(const struct store *s);
uint64_t store_applied_term(const struct store *s);

/* Feeds every record of the state families to fsm_load(); the count of
 * records that did not load (logged) in *bad. */
int store_load(struct store *s, struct fsm *f, uint64_t *bad);

/*
 * Log compaction behind the state (hashicorp/raft's snapshot + truncation):
 * records (index, term, conf) as the snapshot point and drops the log
 * entries with index < min(index, keep_from). index must be <= the
 * applied index; the WAL is synced first so the state it covers is on disk.
 */
int store_compact(struct store *s, uint64_t index, uint64_t term, const struct raft_conf *conf,
                  uint64_t keep_from);
uint64_t store_snapshot_index(const struct store *s);

/*
 * A snapshot file: the state families and the snapshot point as one stream
 * ("MSTRSNAP", version, index, term, conf, then (table, key, value) records,
 * then a SHA-256 of all before it). Written from a consistent RocksDB
 * snapshot at the applied index; restored by replacing every state family
 * and dropping the log (the caller then reloads the fsm). Layout (integers
 * big-endian): "MSTRSNAP" version:u32 index:u64 term:u64 conf_len:u32
 * conf (raft_conf_encode(), as of index), records {table:u8 klen:u32 key
 * vlen:u32 value}, 0xff, sha256[32]. A restore verifies the checksum
 * before it changes anything, and sets "applied" and "snap" to the file's
 * point (hard state commit raised to it).
 */
int store_snapshot_write(struct store *s, const char *path);
int store_snapshot_restore(struct store *s, const char *path);
/* A snapshot file's header (index, term, conf), checksum not verified:
 * what a leader puts in the RAFT_MSG_SNAP that announces the file. */
int store_snapshot_info(const char *path, uint64_t *index, uint64_t *term, struct raft_conf *conf);

/* SHA-256 (FIPS 180-4) of n bytes, the snapshot files' checksum. */
void store_sha256(const void *data, size_t n, uint8_t out[32]);

#endif

/* fsm.h: raftd's replicated state machine: catalog, KV, sessions, txn (pure: no I/O, no clock). */
#ifndef MUSTER_FSM_H
#define MUSTER_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "msg.h"

/*
 * The state lives in memory (ordered maps), as Consul's memdb does; every
 * change is also handed out as a write to persist (fsm_writes()), which
 * raftd's store puts in the same RocksDB WriteBatch as the applied index.
 * On start the store feeds every persisted record back through fsm_load().
 *
 * Determinism: fsm_apply() depends only on the state, the index and the
 * command, so every server that applies the same log holds the same state.
 * The one exception is lock delay (spec/http-api.md §7.6): it is kept in
 * memory only, stamped with the now_ms given to fsm_apply(), and checked
 * by the leader before a lock request is proposed (fsm_kv_lock_delayed()).
 *
 * Semantics are Consul's, spec/http-api.md §2 and §4–§8.
 */

/* Each table is one RocksDB column family; keys are the fsm's own. */
enum fsm_table {
	FSM_T_KV,       /* key -> kv_entry */
	FSM_T_TOMB,     /* key -> tombstone: 8-byte big-endian modify index */
	FSM_T_NODES,    /* lower(node) -> node */
	FSM_T_SERVICES, /* lower(node) "\x1f" service id -> service */
	FSM_T_CHECKS,   /* lower(node) "\x1f" check id -> check */
	FSM_T_SESSIONS, /* id -> session */
	FSM_T_INDEX,    /* "kvs", "nodes", ..., "svc/<lower name>" -> 8-byte big-endian index */
	FSM_T_COUNT
};

/* "kv", "tomb", ...: the column family names. */
const char *fsm_table_name(enum fsm_table t);

/* Caps (habit 7). */
#define FSM_KEY_MAX        (64u << 10)  /* bytes of a KV key */
#define FSM_VALUE_MAX      (512u << 10) /* bytes of a KV value (kv_max_value_size's default) */
#define FSM_TXN_OPS_MAX    128          /* operations of one txn (spec §8.3) */
#define FSM_LOCK_DELAY_MAX 60000        /* ms: MaxLockDelay (spec §7.6) */

struct fsm;

struct fsm *fsm_new(void);
void fsm_free(struct fsm *f);

/* --- loading persisted state (at start, before any apply) --------------- */

/* One persisted record; -1 when it does not decode (the store logs it). */
int fsm_load(struct fsm *f, enum fsm_table t, const void *key, size_t klen, const void *val,
             size_t vlen);
/* Drops all state (before loading a snapshot). */
void fsm_reset(struct fsm *f);

/* --- applying committed entries ----------------------------------------- */

/* Whether a request is a write that goes through Raft: KV_PUT, KV_DELETE,
 * CATALOG_REGISTER, CATALOG_DEREGISTER, SESSION_CREATE, SESSION_DESTROY,
 * TOMBSTONE_REAP, and TXN unless every op is a read verb. */
bool fsm_is_write(const struct msg *m);

/*
 * Applies one committed command (a decoded log entry) at Raft index
 * `index`. reply is filled with the answer for the caller that proposed it:
 * WRITE_REPLY {index, ok, id}, TXN_REPLY, or RESULT {status, error} with
 * Consul's text when the command is refused (the state is then unchanged;
 * a refused command still counts as applied). Returns 0; -1 only for a
 * command type that is not a write (a programming error upstream, logged).
 * cmd is as msg_decode() gives it (no NULL strings); reply is zeroed or
 * holds a message, which is freed first (its req_id is kept).
 */
int fsm_apply(struct fsm *f, uint64_t index, const struct msg *cmd, uint64_t now_ms,
              struct msg *reply);

/* What the applies since the last fsm_changes_clear() changed. */
struct fsm_write {
	enum fsm_table table;
	char *key;
	size_t klen;
	bool del;       /* delete key; else put val */
	struct buf val; /* the encoded record (msg_rec_encode_*) or 8-byte index */
};
const struct fsm_write *fsm_writes(const struct fsm *f, size_t *n);
/* Watch keys touched (see fsm_query()), each once. */
const char *const *fsm_changed_keys(const struct fsm *f, size_t *n);
/* Sessions created, renewed by a write, or destroyed (ids, each once). */
const char *const *fsm_changed_sessions(const struct fsm *f, size_t *n);
void fsm_changes_clear(struct fsm *f);

/* --- reads --------------------------------------------------------------- */

/*
 * Watch keys name what a read depends on; a blocking read waits until one
 * of its keys is in fsm_changed_keys():
 *	"kvs", "tomb", "nodes", "services", "checks", "sessions"	a whole table
 *	"k/<key>"	one KV key (set, deleted, locked, released)
 *	"p/<prefix>"	a KV prefix: raftd's watch registry fires it for every
 *			prefix of a changed "k/<key>" (the fsm never emits "p/")
 *	"svc/<lower service name>"	an instance of the service, its checks or its node
 */
struct fsm_watchset {
	char **keys;
	size_t n, cap;
};
void fsm_watchset_fini(struct fsm_watchset *ws);

/*
 * Serves a read: KV_GET, CATALOG_NODES, CATALOG_SERVICES, SERVICE_NODES,
 * CATALOG_NODE, HEALTH_CHECKS, SESSION_QUERY, and a read-only TXN. reply
 * gets the reply type with meta.index set (never 0; spec §1.10's table
 * says which index); raftd fills the rest of meta. ws (may be NULL) gets
 * the watch keys. Returns 0, or -1 with reply a RESULT (400 for a request
 * that makes no sense). req and reply as for fsm_apply(). Out of memory
 * anywhere in the fsm aborts the process (fsm_int.h says why).
 */
int fsm_query(const struct fsm *f, const struct msg *req, struct msg *reply,
              struct fsm_watchset *ws);

/* --- what the leader checks before proposing ---------------------------- */

/* Catalog.Register's checks that need no state (node name and ID, the
 * address rule, the service's name and address), which Consul makes before
 * Raft: a refused registration takes no log entry. 0, or -1 with *status
 * and *what (malloc'd, Consul's text) set. */
int fsm_cat_register_check(const struct msg_catalog_register *r, uint64_t *status, char **what);

/* An acquire on key is refused (false, no Raft write) while its lock delay
 * runs (spec §6.4 step 1, §7.6). */
bool fsm_kv_lock_delayed(const struct fsm *f, const char *key, uint64_t now_ms);
/* The session's TTL in ms (0: none or unknown session; parsed with
 * conf_dur_parse()); raftd's leader arms
 * a timer of twice that (spec §7.6). */
uint64_t fsm_session_ttl_ms(const struct fsm *f, const char *id);
bool fsm_session_exists(const struct fsm *f, const char *id);
/* Every session id, for re-arming timers on gaining leadership. */
void fsm_session_foreach(const struct fsm *f, void (*cb)(const char *id, void *arg), void *arg);
/* The node as stored (NULL if none), for the self-registration check. */
const struct msg_node *fsm_node_get(const struct fsm *f, const char *name);
const struct msg_service *fsm_service_get(const struct fsm *f, const char *node, const char *id);
const struct msg_check *fsm_check_get(const struct fsm *f, const char *node, const char *check_id);

/* The highest index of any table (for the applied-state sanity check). */
uint64_t fsm_max_index(const struct fsm *f);

#endif

/* fsm_int.h: the state machine's internals, shared by fsm.c and fsm_{kv,catalog,session,txn}.c. */
#ifndef MUSTER_FSM_INT_H
#define MUSTER_FSM_INT_H

#include <stdarg.h>

#include "fsm.h"
#include "omap.h"
#include "xalloc.h"

/*
 * Layout. Each table is an omap from the fsm's key (fsm.h) to a heap
 * record: struct msg_kv_entry, msg_node, msg_service, msg_check,
 * msg_session, or a uint64_t (tombstones, index rows). Index rows are
 * named after the watch key they wake: "kvs", "tomb", "nodes", "services",
 * "checks", "sessions", "svc/<lower service name>", plus
 * "svc_extinction" (Consul's service_last_extinction: the index at which
 * the last instance of some service went away).
 *
 * Secondary indexes live in memory only and borrow the primary's record
 * pointers; fsm_tab_set() keeps them in step with every change, and
 * fsm_load() goes through it too, so a restart rebuilds them.
 *
 * Catalog names (nodes, service IDs and names, check IDs) compare
 * case-insensitively as in Consul's memdb (lower-cased keys; ASCII only)
 * and may not hold FSM_SEP, the key separator.
 *
 * Every apply runs with an undo log: each table change moves the old
 * record into the log, and a refused command (or a txn with a failed op)
 * is rolled back by putting the old records back, so a refused command
 * leaves the state exactly as it was. Changes (writes, watch keys,
 * sessions, lock delays) are only published when the apply commits.
 *
 * Out of memory inside the fsm aborts the process: a replica that
 * refused an entry the others applied would diverge (Raft's state machine
 * safety), and musterd restarts raftd, which replays the log.
 */

#define FSM_SEP   "\x1f"
#define FSM_SEP_C '\x1f'

/* Index row names beyond the tables. */
#define FSM_IX_SVC_PREFIX "svc/"
#define FSM_IX_EXTINCTION "svc_extinction"

/* A set of strings that remembers insertion order and can drop what was
 * added after a mark (rollback). */
struct fsm_strset {
	char **v;
	size_t n, cap;
	struct omap *set;
};

struct fsm_undo {
	enum fsm_table t;
	char *key;
	void *old; /* NULL: the key was absent */
};

struct fsm_delay {
	char *key;
	uint64_t until_ms;
};

/* A vector of owned strings. */
struct fsm_vec {
	char **v;
	size_t n, cap;
};

/* A refusal: an HTTP-like status and Consul's text. */
struct fsm_err {
	uint64_t status;
	char *what;
};

struct fsm {
	struct omap *tab[FSM_T_COUNT];
	/* secondary indexes; values borrow the primary records */
	struct omap *kv_by_sess;  /* session FSM_SEP key -> kv_entry */
	struct omap *svc_by_name; /* lower(name) SEP lower(node) SEP lower(id) -> service */
	struct omap
	    *chk_by_svc; /* lower(node) SEP lower(service id) SEP lower(check id) -> check */
	struct omap *chk_by_status; /* status SEP lower(node) SEP lower(check id) -> check */
	struct omap *sess_by_node;  /* lower(node) SEP id -> session */
	struct omap *sess_by_check; /* lower(node) SEP lower(check id) SEP id -> session */
	struct omap *node_by_id;    /* lower(node id) -> node */
	struct omap *lock_delay;    /* key -> uint64_t expiry (ms), memory only */
	uint64_t max_index;

	/* the apply under way */
	bool applying;
	uint64_t idx, now_ms, max_index_mark;
	struct fsm_undo *undo;
	size_t n_undo, cap_undo;
	struct omap *touched; /* table digit + key -> NULL */
	struct fsm_delay *delays;
	size_t n_delays, cap_delays;
	size_t keys_mark, sess_mark;

	/* since fsm_changes_clear() */
	struct fsm_write *writes;
	size_t n_writes, cap_writes;
	struct omap *dirty; /* table digit + key -> (uintptr_t)(writes index + 1) */
	struct fsm_strset keys, sessions;
};

/* ---- memory and strings (fsm.c) ---- */
void fsm_oom(void) __attribute__((noreturn));
/* Grows a list of n elements of size bytes by one zeroed element; realloc
 * at powers of two. */
void *fsm_grow(void *v, size_t n, size_t size);
#define FSM_PUSH(list)                                                                             \
	((list)->v = fsm_grow((list)->v, (list)->n, sizeof(*(list)->v)), &(list)->v[(list)->n++])
/* Lower-cased (ASCII) join of up to three parts with FSM_SEP (NULL parts
 * are left out; an empty part is kept). */
char *fsm_lkey(const char *a, const char *b, const char *c);
/* Exact join a SEP b. */
char *fsm_jkey(const char *a, const char *b);
bool fsm_eqfold(const char *a, const char *b);
bool fsm_has_sep(const char *s);
void fsm_vec_push(struct fsm_vec *v, const char *s);
void fsm_vec_free(struct fsm_vec *v);
void fsm_err_set(struct fsm_err *e, uint64_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fsm_err_fini(struct fsm_err *e);

/* Record copies into replies (abort when out of memory). */
#define FSM_COPY(rec, dst, src)                                                                    \
	do {                                                                                       \
		if (msg_rec_copy_##rec((dst), (src)) != 0)                                         \
			fsm_oom();                                                                 \
	} while (0)

/* ---- tables (fsm.c) ---- */
/* Sets key to rec (NULL deletes), keeping the secondary indexes, the undo
 * log and the touched set in step; emits "k/<key>" for KV and the row
 * name for index rows. The table takes rec. */
void fsm_tab_set(struct fsm *f, enum fsm_table t, const char *key, void *rec);
static inline void *fsm_tab_get(const struct fsm *f, enum fsm_table t, const char *key)
{
	return omap_get(f->tab[t], key);
}
uint64_t fsm_index_get(const struct fsm *f, const char *name);
/* Moves the index row to the apply's index (emits name as a watch key). */
void fsm_index_bump(struct fsm *f, const char *name);
void fsm_index_del(struct fsm *f, const char *name);
void fsm_changed_key(struct fsm *f, const char *key);
void fsm_changed_session(struct fsm *f, const char *id);
void fsm_lock_delay_add(struct fsm *f, const char *key, uint64_t delay_ms);
void fsm_watch(struct fsm_watchset *ws, const char *key);
void fsm_watchf(struct fsm_watchset *ws, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uint64_t fsm_max3(uint64_t a, uint64_t b, uint64_t c);

/* Reply builders. */
void fsm_reply_reset(struct msg *reply);
void fsm_reply_result(struct msg *reply, uint64_t status, const char *what);
void fsm_reply_err(struct msg *reply, const struct fsm_err *e);
void fsm_reply_write(struct msg *reply, uint64_t index, bool ok, const char *id);

/* Records equal but for their create and modify indexes. */
bool fsm_node_same(const struct msg_node *a, const struct msg_node *b);
bool fsm_service_same(const struct msg_service *a, const struct msg_service *b);
bool fsm_check_same(const struct msg_check *a, const struct msg_check *b);
/* Sorts a string map by key, dropping repeated keys (last wins). */
void fsm_strmap_normalize(struct msg_strmap *m);
bool fsm_meta_match(const struct msg_strmap *meta, const struct msg_strmap *filter);
bool fsm_is_any_addr(const char *a);

/* ---- KV (fsm_kv.c) ---- */
int fsm_kv_apply_put(struct fsm *f, const struct msg_kv_put *p, struct msg *reply);
int fsm_kv_apply_delete(struct fsm *f, const struct msg_kv_delete *d, struct msg *reply);
int fsm_kv_apply_reap(struct fsm *f, const struct msg_tombstone_reap *r, struct msg *reply);
int fsm_kv_query(const struct fsm *f, const struct msg_kv_get *g, struct msg *reply,
                 struct fsm_watchset *ws);
/* The inner operations the txn shares (Consul's kvs*Txn). *out, when
 * given, points at the stored entry (or NULL when the op stored nothing). */
struct msg_kv_entry *fsm_kv_new(const char *key, const struct msg_bytes *value, uint64_t flags,
                                const char *session, uint64_t lock_index);
const struct msg_kv_entry *fsm_kv_set(struct fsm *f, struct msg_kv_entry *ne, bool update_session);
bool fsm_kv_cas(struct fsm *f, struct msg_kv_entry *ne, uint64_t cas_index,
                const struct msg_kv_entry **out);
/* -1 with e set (missing or invalid session); else 0 with *ok. */
int fsm_kv_lock(struct fsm *f, struct msg_kv_entry *ne, bool *ok, const struct msg_kv_entry **out,
                struct fsm_err *e);
int fsm_kv_unlock(struct fsm *f, struct msg_kv_entry *ne, bool *ok, const struct msg_kv_entry **out,
                  struct fsm_err *e);
void fsm_kv_delete(struct fsm *f, const char *key);
void fsm_kv_delete_tree(struct fsm *f, const char *prefix);
bool fsm_kv_delete_cas(struct fsm *f, const char *key, uint64_t cas_index);
/* Entries under prefix in key order and Consul's index for them. */
uint64_t fsm_kv_list(const struct fsm *f, const char *prefix, struct msg_kv_entry_list *out);
uint64_t fsm_kv_table_index(const struct fsm *f);

/* ---- catalog (fsm_catalog.c) ---- */
int fsm_cat_apply_register(struct fsm *f, const struct msg_catalog_register *r, struct msg *reply);
int fsm_cat_apply_deregister(struct fsm *f, const struct msg_catalog_deregister *d,
                             struct msg *reply);
int fsm_cat_query_nodes(const struct fsm *f, const struct msg_catalog_nodes *q, struct msg *reply,
                        struct fsm_watchset *ws);
int fsm_cat_query_services(const struct fsm *f, const struct msg_catalog_services *q,
                           struct msg *reply, struct fsm_watchset *ws);
int fsm_cat_query_service_nodes(const struct fsm *f, const struct msg_service_nodes *q,
                                struct msg *reply, struct fsm_watchset *ws);
int fsm_cat_query_node(const struct fsm *f, const struct msg_catalog_node *q, struct msg *reply,
                       struct fsm_watchset *ws);
int fsm_cat_query_checks(const struct fsm *f, const struct msg_health_checks *q, struct msg *reply,
                         struct fsm_watchset *ws);
/* Consul's ensure*Txn / delete*Txn, shared with the txn. */
int fsm_cat_node_validate(const struct msg_node *n, struct fsm_err *e);
int fsm_cat_service_prepare(struct msg_service *s, struct fsm_err *e);
int fsm_cat_ensure_node(struct fsm *f, const struct msg_node *n, struct fsm_err *e);
int fsm_cat_ensure_service(struct fsm *f, const char *node, const struct msg_service *s,
                           struct fsm_err *e);
int fsm_cat_ensure_check(struct fsm *f, const struct msg_check *c, struct fsm_err *e);
void fsm_cat_delete_node(struct fsm *f, const char *node);
void fsm_cat_delete_service(struct fsm *f, const char *node, const char *id);
void fsm_cat_delete_check(struct fsm *f, const char *node, const char *check_id);
const struct msg_node *fsm_cat_node_by_id(const struct fsm *f, const char *id);
/* A stored check made ready for a reply: service name and tags filled. */
void fsm_cat_check_out(const struct fsm *f, const struct msg_check *c, struct msg_check *out);

/* ---- sessions (fsm_session.c) ---- */
int fsm_sess_apply_create(struct fsm *f, const struct msg_session_create *c, struct msg *reply);
int fsm_sess_apply_destroy(struct fsm *f, const struct msg_session_destroy *d, struct msg *reply);
int fsm_sess_query(const struct fsm *f, const struct msg_session_query *q, struct msg *reply,
                   struct fsm_watchset *ws);
/* Destroys the session: releases or deletes its keys, records lock
 * delays (spec §7.6). */
void fsm_sess_invalidate(struct fsm *f, const char *id);
/* Invalidates every session linked to the check (node, check id). */
void fsm_sess_invalidate_check(struct fsm *f, const char *node, const char *check_id);
void fsm_sess_invalidate_node(struct fsm *f, const char *node);

/* ---- txn (fsm_txn.c) ---- */
bool fsm_txn_is_write(const struct msg_txn *t);
int fsm_txn_apply(struct fsm *f, const struct msg_txn *t, struct msg *reply);
int fsm_txn_query(const struct fsm *f, const struct msg_txn *t, struct msg *reply);

#endif

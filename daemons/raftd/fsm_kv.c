/* fsm_kv.c: the KV store: writes, locks, deletes with tombstones, reads (spec §6, §1.10). */
#include "fsm_int.h"
#include "gofmt.h"

#include <stdlib.h>
#include <string.h>

/* Consul's kvs.go, rule for rule; comments name the function ported. */

struct msg_kv_entry *fsm_kv_new(const char *key, const struct msg_bytes *value, uint64_t flags,
                                const char *session, uint64_t lock_index)
{
	struct msg_kv_entry *e = xcalloc(1, sizeof(*e));

	e->key = xstrdup(key);
	e->session = xstrdup(session);
	e->flags = flags;
	e->lock_index = lock_index;
	if (value != NULL && value->len > 0) {
		e->value.p = xmalloc(value->len);
		memcpy(e->value.p, value->p, value->len);
		e->value.len = value->len;
	}
	return e;
}

static void fsm_kv_free(struct msg_kv_entry *e)
{
	msg_rec_free_kv_entry(e);
	free(e);
}

static const struct msg_kv_entry *fsm_kv_get(const struct fsm *f, const char *key)
{
	return fsm_tab_get(f, FSM_T_KV, key);
}

/* DirEntry.Equal: what a write compares to skip a no-op. */
static bool fsm_kv_same(const struct msg_kv_entry *a, const struct msg_kv_entry *b)
{
	return a->lock_index == b->lock_index && strcmp(a->key, b->key) == 0 &&
	       a->flags == b->flags && a->value.len == b->value.len &&
	       (a->value.len == 0 || memcmp(a->value.p, b->value.p, a->value.len) == 0) &&
	       strcmp(a->session, b->session) == 0;
}

uint64_t fsm_kv_table_index(const struct fsm *f)
{
	uint64_t a = fsm_index_get(f, "kvs"), b = fsm_index_get(f, "tomb");

	return a > b ? a : b;
}

/*
 * kvsSetTxn: CreateIndex kept from an existing entry; the session kept
 * unless update_session (lock and unlock set it); a write that changes
 * nothing (DirEntry.Equal) is skipped and keeps the ModifyIndex (current
 * Consul; spec §6.2). Takes ne; returns the stored entry.
 */
const struct msg_kv_entry *fsm_kv_set(struct fsm *f, struct msg_kv_entry *ne, bool update_session)
{
	const struct msg_kv_entry *existing = fsm_kv_get(f, ne->key);

	ne->create_index = existing != NULL ? existing->create_index : f->idx;
	if (!update_session) {
		free(ne->session);
		ne->session = xstrdup(existing != NULL ? existing->session : "");
	}
	if (existing != NULL && fsm_kv_same(existing, ne)) {
		fsm_kv_free(ne);
		return existing;
	}
	ne->modify_index = f->idx;
	fsm_tab_set(f, FSM_T_KV, ne->key, ne);
	fsm_index_bump(f, "kvs");
	return ne;
}

/* kvsSetCASTxn: 0 means create only; N means the ModifyIndex must be N. */
bool fsm_kv_cas(struct fsm *f, struct msg_kv_entry *ne, uint64_t cas_index,
                const struct msg_kv_entry **out)
{
	const struct msg_kv_entry *existing = fsm_kv_get(f, ne->key);
	const struct msg_kv_entry *e;

	if ((cas_index == 0 && existing != NULL) || (cas_index != 0 && existing == NULL) ||
	    (existing != NULL && cas_index != 0 && existing->modify_index != cas_index)) {
		fsm_kv_free(ne);
		if (out != NULL)
			*out = NULL;
		return false;
	}
	e = fsm_kv_set(f, ne, false);
	if (out != NULL)
		*out = e;
	return true;
}

/* What acquire and release check first: the outputs cleared, a session given. */
static int fsm_kv_lock_begin(struct msg_kv_entry *ne, bool *ok, const struct msg_kv_entry **out,
                             struct fsm_err *e)
{
	*ok = false;
	if (out != NULL)
		*out = NULL;
	if (ne->session[0] == '\0') {
		fsm_err_set(e, 500, "missing session");
		fsm_kv_free(ne);
		return -1;
	}
	return 0;
}

/* kvsLockTxn (spec §6.4 steps 2-6; step 1, lock delay, is the leader's). */
int fsm_kv_lock(struct fsm *f, struct msg_kv_entry *ne, bool *ok, const struct msg_kv_entry **out,
                struct fsm_err *e)
{
	const struct msg_kv_entry *existing;
	const struct msg_kv_entry *stored;

	if (fsm_kv_lock_begin(ne, ok, out, e) != 0)
		return -1;
	if (fsm_tab_get(f, FSM_T_SESSIONS, ne->session) == NULL) {
		char *q = gofmt_quote(ne->session, strlen(ne->session));

		fsm_err_set(e, 500, "invalid session %s", q);
		free(q);
		fsm_kv_free(ne);
		return -1;
	}
	existing = fsm_kv_get(f, ne->key);
	if (existing != NULL) {
		if (strcmp(existing->session, ne->session) == 0) {
			ne->lock_index = existing->lock_index;
		} else if (existing->session[0] != '\0') {
			fsm_kv_free(ne);
			return 0;
		} else {
			ne->lock_index = existing->lock_index + 1;
		}
	} else {
		ne->lock_index = 1;
	}
	stored = fsm_kv_set(f, ne, true);
	if (out != NULL)
		*out = stored;
	*ok = true;
	return 0;
}

/* kvsUnlockTxn: only the holder releases; the lock index is kept. */
int fsm_kv_unlock(struct fsm *f, struct msg_kv_entry *ne, bool *ok, const struct msg_kv_entry **out,
                  struct fsm_err *e)
{
	const struct msg_kv_entry *existing;
	const struct msg_kv_entry *stored;

	if (fsm_kv_lock_begin(ne, ok, out, e) != 0)
		return -1;
	existing = fsm_kv_get(f, ne->key);
	if (existing == NULL || strcmp(existing->session, ne->session) != 0) {
		fsm_kv_free(ne);
		return 0;
	}
	free(ne->session);
	ne->session = xstrdup("");
	ne->lock_index = existing->lock_index;
	stored = fsm_kv_set(f, ne, true);
	if (out != NULL)
		*out = stored;
	*ok = true;
	return 0;
}

static void fsm_kv_tombstone(struct fsm *f, const char *key)
{
	uint64_t *v = xmalloc(sizeof(*v));

	*v = f->idx;
	fsm_tab_set(f, FSM_T_TOMB, key, v);
	fsm_index_bump(f, "tomb");
}

/* kvsDeleteTxn: a tombstone keeps the prefix index from going back (§1.10). */
void fsm_kv_delete(struct fsm *f, const char *key)
{
	char *k;

	if (fsm_kv_get(f, key) == NULL)
		return;
	k = xstrdup(key);
	fsm_kv_tombstone(f, k);
	fsm_tab_set(f, FSM_T_KV, k, NULL);
	fsm_index_bump(f, "kvs");
	free(k);
}

/*
 * kvsDeleteTreeTxn. Where muster differs: Consul writes one tombstone
 * for the prefix; we write one per deleted key, so a longer prefix under
 * the deleted one keeps its index from going back too.
 */
void fsm_kv_delete_tree(struct fsm *f, const char *prefix)
{
	struct fsm_vec keys = {0};
	size_t plen = strlen(prefix);
	struct omap_node *n;

	for (n = omap_seek(f->tab[FSM_T_KV], prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n))
		fsm_vec_push(&keys, omap_key(n));
	for (size_t i = 0; i < keys.n; i++)
		fsm_kv_delete(f, keys.v[i]);
	fsm_vec_free(&keys);
}

/* kvsDeleteCASTxn: a missing key is success (spec §6.3's quirk). */
bool fsm_kv_delete_cas(struct fsm *f, const char *key, uint64_t cas_index)
{
	const struct msg_kv_entry *e = fsm_kv_get(f, key);

	if (e == NULL)
		return true;
	if (e->modify_index != cas_index)
		return false;
	fsm_kv_delete(f, key);
	return true;
}

static uint64_t fsm_kv_tomb_max(const struct fsm *f, const char *prefix)
{
	size_t plen = strlen(prefix);
	uint64_t max = 0;
	struct omap_node *n;

	for (n = omap_seek(f->tab[FSM_T_TOMB], prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n)) {
		uint64_t v = *(const uint64_t *)omap_val(n);

		if (v > max)
			max = v;
	}
	return max;
}

/* kvsListTxn's index: the entries' and tombstones' highest under a
 * non-empty prefix, else the table's. */
static uint64_t fsm_kv_prefix_index(const struct fsm *f, const char *prefix, uint64_t lindex)
{
	if (prefix[0] != '\0') {
		uint64_t g = fsm_kv_tomb_max(f, prefix);

		if (g > lindex)
			lindex = g;
	} else {
		lindex = fsm_kv_table_index(f);
	}
	return lindex != 0 ? lindex : fsm_kv_table_index(f);
}

uint64_t fsm_kv_list(const struct fsm *f, const char *prefix, struct msg_kv_entry_list *out)
{
	size_t plen = strlen(prefix);
	uint64_t lindex = 0;
	struct omap_node *n;

	for (n = omap_seek(f->tab[FSM_T_KV], prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n)) {
		const struct msg_kv_entry *e = omap_val(n);

		if (e->modify_index > lindex)
			lindex = e->modify_index;
		if (out != NULL)
			FSM_COPY(kv_entry, FSM_PUSH(out), e);
	}
	return fsm_kv_prefix_index(f, prefix, lindex);
}

/* KVSKeys: keys cut just after the first separator past the prefix;
 * the cut keys of neighbours collapse into one. */
static uint64_t fsm_kv_keys(const struct fsm *f, const char *prefix, const char *sep,
                            struct msg_strlist *out)
{
	size_t plen = strlen(prefix), slen = strlen(sep);
	uint64_t lindex = 0;
	char *last = NULL;
	struct omap_node *n;

	for (n = omap_seek(f->tab[FSM_T_KV], prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n)) {
		const struct msg_kv_entry *e = omap_val(n);
		const char *after, *hit;
		char *k;

		if (e->modify_index > lindex)
			lindex = e->modify_index;
		after = e->key + plen;
		hit = slen > 0 ? strstr(after, sep) : NULL;
		if (hit == NULL) {
			*FSM_PUSH(out) = xstrdup(e->key);
			continue;
		}
		k = strndup(e->key, (size_t)(hit - e->key) + slen);
		if (k == NULL)
			fsm_oom();
		if (last != NULL && strcmp(last, k) == 0) {
			free(k);
			continue;
		}
		*FSM_PUSH(out) = k;
		last = k;
	}
	return fsm_kv_prefix_index(f, prefix, lindex);
}

int fsm_kv_query(const struct fsm *f, const struct msg_kv_get *g, struct msg *reply,
                 struct fsm_watchset *ws)
{
	struct msg_kv_get_reply *r = &reply->u.kv_get_reply;
	uint64_t idx;

	if (!g->recurse && !g->keys_only) {
		const struct msg_kv_entry *e;

		if (g->key[0] == '\0') {
			fsm_reply_result(reply, 400, "Missing key name");
			return -1;
		}
		reply->type = MSG_KV_GET_REPLY;
		e = fsm_kv_get(f, g->key);
		if (e != NULL) {
			FSM_COPY(kv_entry, FSM_PUSH(&r->entries), e);
			idx = e->modify_index;
		} else {
			idx = fsm_kv_table_index(f);
		}
		/* A missing key wakes only when it appears (§1.10's
		 * "not found" optimisation). */
		fsm_watchf(ws, "k/%s", g->key);
	} else {
		reply->type = MSG_KV_GET_REPLY;
		if (g->keys_only)
			idx = fsm_kv_keys(f, g->key, g->separator, &r->keys);
		else
			idx = fsm_kv_list(f, g->key, &r->entries);
		fsm_watchf(ws, "p/%s", g->key);
	}
	r->meta.index = idx > 0 ? idx : 1;
	return 0;
}

static bool fsm_kv_key_ok(const char *key, struct msg *reply)
{
	size_t len = strlen(key);

	if (len == 0) {
		fsm_reply_result(reply, 400, "Missing key name");
		return false;
	}
	if (len > FSM_KEY_MAX) {
		char *what = xasprintf("Key too long (%zu > %u bytes)", len, FSM_KEY_MAX);

		fsm_reply_result(reply, 400, what);
		free(what);
		return false;
	}
	return true;
}

int fsm_kv_apply_put(struct fsm *f, const struct msg_kv_put *p, struct msg *reply)
{
	struct msg_kv_entry *ne;
	struct fsm_err e = {0};
	bool ok = true;

	if (!fsm_kv_key_ok(p->key, reply))
		return -1;
	if (p->value.len > FSM_VALUE_MAX) {
		char *what = xasprintf("Request body(%zu bytes) too large, max size: %u bytes. See "
		                       "https://developer.hashicorp.com/docs/agent/config/"
		                       "config-files#kv_max_value_size.",
		                       p->value.len, FSM_VALUE_MAX);

		fsm_reply_result(reply, 413, what);
		free(what);
		return -1;
	}
	/* A plain set or cas stores LockIndex 0, keeping the session
	 * (spec §6.2's quirk: the request's LockIndex, always 0). */
	ne = fsm_kv_new(p->key, &p->value, p->flags, p->session, 0);
	if (p->op[0] == '\0' || strcmp(p->op, "set") == 0) {
		fsm_kv_set(f, ne, false);
	} else if (strcmp(p->op, "cas") == 0) {
		ok = fsm_kv_cas(f, ne, p->cas_index, NULL);
	} else if (strcmp(p->op, "acquire") == 0) {
		if (fsm_kv_lock(f, ne, &ok, NULL, &e) != 0)
			goto refuse;
	} else if (strcmp(p->op, "release") == 0) {
		if (fsm_kv_unlock(f, ne, &ok, NULL, &e) != 0)
			goto refuse;
	} else {
		char *q = gofmt_quote(p->op, strlen(p->op));

		fsm_kv_free(ne);
		fsm_err_set(&e, 400, "unknown KV op %s", q);
		free(q);
		goto refuse;
	}
	fsm_reply_write(reply, f->idx, ok, "");
	return 0;
refuse:
	fsm_reply_err(reply, &e);
	fsm_err_fini(&e);
	return -1;
}

int fsm_kv_apply_delete(struct fsm *f, const struct msg_kv_delete *d, struct msg *reply)
{
	bool ok = true;

	if (d->recurse) {
		if (d->cas.has) {
			fsm_reply_result(reply, 400, "Conflicting flags: recurse&cas");
			return -1;
		}
		fsm_kv_delete_tree(f, d->key);
	} else {
		if (!fsm_kv_key_ok(d->key, reply))
			return -1;
		if (d->cas.has)
			ok = fsm_kv_delete_cas(f, d->key, d->cas.v);
		else
			fsm_kv_delete(f, d->key);
	}
	fsm_reply_write(reply, f->idx, ok, "");
	return 0;
}

/* ReapTombstones: drops tombstones at or below the index. */
int fsm_kv_apply_reap(struct fsm *f, const struct msg_tombstone_reap *r, struct msg *reply)
{
	struct fsm_vec keys = {0};
	struct omap_node *n;

	for (n = omap_first(f->tab[FSM_T_TOMB]); n != NULL; n = omap_next(n))
		if (*(const uint64_t *)omap_val(n) <= r->index)
			fsm_vec_push(&keys, omap_key(n));
	for (size_t i = 0; i < keys.n; i++)
		fsm_tab_set(f, FSM_T_TOMB, keys.v[i], NULL);
	fsm_vec_free(&keys);
	fsm_reply_write(reply, f->idx, true, "");
	return 0;
}

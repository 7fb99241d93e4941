/* fsm_session.c: sessions: create, destroy, invalidation, reads (spec §7). */
#include "fsm_int.h"

#include <stdlib.h>
#include <string.h>

/* Consul's session.go and session_oss.go. */

int fsm_sess_apply_create(struct fsm *f, const struct msg_session_create *c, struct msg *reply)
{
	const struct msg_session *s = &c->session;
	const struct msg_strlist *lists[2] = {&s->node_checks, &s->service_checks};
	struct msg_session *ns;

	/* sessionCreateTxn */
	if (s->id[0] == '\0') {
		fsm_reply_result(reply, 500, "Missing session ID");
		return -1;
	}
	if (fsm_has_sep(s->id) || strlen(s->id) > 128) {
		fsm_reply_result(reply, 500, "Invalid session ID");
		return -1;
	}
	if (s->behavior[0] != '\0' && strcmp(s->behavior, "release") != 0 &&
	    strcmp(s->behavior, "delete") != 0) {
		char *what = xasprintf("Invalid Behavior setting '%s'", s->behavior);

		fsm_reply_result(reply, 500, what);
		free(what);
		return -1;
	}
	if (fsm_node_get(f, s->node) == NULL) {
		fsm_reply_result(reply, 500, "Missing node registration");
		return -1;
	}
	/* validateSessionChecksTxn: node checks, then service checks, all
	 * looked up by check ID on the session's node. */
	for (int l = 0; l < 2; l++) {
		for (uint32_t i = 0; i < lists[l]->n; i++) {
			const char *id = lists[l]->v[i];
			char *k = fsm_lkey(s->node, id, NULL);
			const struct msg_check *chk =
			    fsm_has_sep(id) ? NULL : fsm_tab_get(f, FSM_T_CHECKS, k);
			char *what = NULL;

			free(k);
			if (chk == NULL)
				what = xasprintf("Missing check '%s' registration", id);
			else if (strcmp(chk->status, "critical") == 0)
				what = xasprintf("Check '%s' is in critical state", id);
			if (what != NULL) {
				fsm_reply_result(reply, 500, what);
				free(what);
				return -1;
			}
		}
	}
	ns = xcalloc(1, sizeof(*ns));
	FSM_COPY(session, ns, s);
	if (ns->behavior[0] == '\0') {
		free(ns->behavior);
		ns->behavior = xstrdup("release");
	}
	ns->create_index = ns->modify_index = f->idx;
	/* An ID in use is replaced, as Consul's insert does; the leader's
	 * random IDs never collide. */
	if (fsm_tab_get(f, FSM_T_SESSIONS, s->id) != NULL)
		fsm_sess_invalidate(f, s->id);
	fsm_tab_set(f, FSM_T_SESSIONS, ns->id, ns);
	fsm_index_bump(f, "sessions");
	fsm_changed_session(f, ns->id);
	fsm_reply_write(reply, f->idx, true, ns->id);
	return 0;
}

int fsm_sess_apply_destroy(struct fsm *f, const struct msg_session_destroy *d, struct msg *reply)
{
	if (d->id[0] == '\0') {
		fsm_reply_result(reply, 400, "Missing session");
		return -1;
	}
	fsm_sess_invalidate(f, d->id);
	fsm_reply_write(reply, f->idx, true, "");
	return 0;
}

/*
 * deleteSessionTxn (spec §7.6): the session goes, and in the same apply
 * every key it holds is released (Session cleared, value and LockIndex
 * kept, ModifyIndex bumped) or deleted (tombstones), per Behavior; each
 * such key gets a lock delay of min(LockDelay, 60 s) from now.
 */
void fsm_sess_invalidate(struct fsm *f, const char *sid)
{
	const struct msg_session *s = fsm_tab_get(f, FSM_T_SESSIONS, sid);
	struct fsm_vec keys = {0};
	uint64_t delay_ms;
	bool del;
	char *id, *prefix;
	size_t plen;
	struct omap_node *n;

	if (s == NULL)
		return;
	id = xstrdup(sid);
	delay_ms = s->lock_delay_ns / 1000000u + (s->lock_delay_ns % 1000000u != 0);
	if (delay_ms > FSM_LOCK_DELAY_MAX)
		delay_ms = FSM_LOCK_DELAY_MAX;
	del = strcmp(s->behavior, "delete") == 0;
	prefix = fsm_jkey(id, "");
	plen = strlen(prefix);
	for (n = omap_seek(f->kv_by_sess, prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n))
		fsm_vec_push(&keys, omap_key(n) + plen);
	free(prefix);
	fsm_tab_set(f, FSM_T_SESSIONS, id, NULL);
	fsm_index_bump(f, "sessions");
	fsm_changed_session(f, id);
	for (size_t i = 0; i < keys.n; i++) {
		const struct msg_kv_entry *e = fsm_tab_get(f, FSM_T_KV, keys.v[i]);

		if (e == NULL)
			continue;
		if (del) {
			fsm_kv_delete(f, keys.v[i]);
		} else {
			struct msg_kv_entry *ne = xcalloc(1, sizeof(*ne));

			FSM_COPY(kv_entry, ne, e);
			free(ne->session);
			ne->session = xstrdup("");
			fsm_kv_set(f, ne, true);
		}
		if (delay_ms > 0)
			fsm_lock_delay_add(f, keys.v[i], delay_ms);
	}
	fsm_vec_free(&keys);
	free(id);
}

/* Invalidates every session an index lists under prefix (ids first: the
 * invalidation changes the index being walked). */
static void fsm_sess_invalidate_under(struct fsm *f, struct omap *by, char *prefix)
{
	size_t plen = strlen(prefix);
	struct fsm_vec ids = {0};
	struct omap_node *n;

	for (n = omap_seek(by, prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n))
		fsm_vec_push(&ids, ((const struct msg_session *)omap_val(n))->id);
	free(prefix);
	for (size_t i = 0; i < ids.n; i++)
		fsm_sess_invalidate(f, ids.v[i]);
	fsm_vec_free(&ids);
}

/* checkSessionsTxn + deleteSessionTxn: sessions linked to the check. */
void fsm_sess_invalidate_check(struct fsm *f, const char *node, const char *check_id)
{
	fsm_sess_invalidate_under(f, f->sess_by_check, fsm_lkey(node, check_id, ""));
}

void fsm_sess_invalidate_node(struct fsm *f, const char *node)
{
	fsm_sess_invalidate_under(f, f->sess_by_node, fsm_lkey(node, "", NULL));
}

int fsm_sess_query(const struct fsm *f, const struct msg_session_query *q, struct msg *reply,
                   struct fsm_watchset *ws)
{
	struct msg_sessions_reply *r = &reply->u.sessions_reply;
	struct omap_node *n;

	reply->type = MSG_SESSIONS_REPLY;
	if (q->id[0] != '\0') {
		const struct msg_session *s = fsm_tab_get(f, FSM_T_SESSIONS, q->id);

		if (s != NULL)
			FSM_COPY(session, FSM_PUSH(&r->sessions), s);
	} else if (q->node[0] != '\0') {
		char *prefix = fsm_lkey(q->node, "", NULL);
		size_t plen = strlen(prefix);

		for (n = omap_seek(f->sess_by_node, prefix);
		     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
		     n = omap_next(n))
			FSM_COPY(session, FSM_PUSH(&r->sessions), omap_val(n));
		free(prefix);
	} else {
		for (n = omap_first(f->tab[FSM_T_SESSIONS]); n != NULL; n = omap_next(n))
			FSM_COPY(session, FSM_PUSH(&r->sessions), omap_val(n));
	}
	r->meta.index = fsm_index_get(f, "sessions");
	if (r->meta.index == 0)
		r->meta.index = 1;
	fsm_watch(ws, "sessions");
	return 0;
}

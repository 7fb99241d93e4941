/* fsm_txn.c: /v1/txn: KV, Node, Service and Check operations applied atomically (spec §8.3). */
#include "fsm_int.h"
#include "gofmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Consul's state/txn.go: every operation runs in order against the state
 * the earlier ones left, and every failure is collected (OpIndex, What);
 * if there is any, nothing is kept (fsm_apply() rolls the whole apply
 * back) and the reply is the list of errors. A read-only txn runs the
 * same code with no fsm to write to.
 */

struct fsm_txn {
	struct fsm *wf;      /* NULL: read-only */
	const struct fsm *f; /* what reads look at (wf itself when writing) */
	struct msg_txn_reply *r;
	uint32_t op; /* the operation under way */
};

static bool fsm_txn_verb_in(const char *verb, const char *const *verbs)
{
	for (; *verbs != NULL; verbs++)
		if (strcmp(verb, *verbs) == 0)
			return true;
	return false;
}

static bool fsm_txn_op_is_read(const struct msg_txn_op *op)
{
	static const char *const kv_reads[] = {"get",         "get-or-empty",  "get-tree",
	                                       "check-index", "check-session", "check-not-exists",
	                                       NULL};

	if (strcmp(op->kind, "KV") == 0)
		return fsm_txn_verb_in(op->verb, kv_reads);
	if (strcmp(op->kind, "Node") == 0 || strcmp(op->kind, "Service") == 0 ||
	    strcmp(op->kind, "Check") == 0)
		return strcmp(op->verb, "get") == 0;
	return false;
}

bool fsm_txn_is_write(const struct msg_txn *t)
{
	for (uint32_t i = 0; i < t->ops.n; i++)
		if (!fsm_txn_op_is_read(&t->ops.v[i]))
			return true;
	return false;
}

static void fsm_txn_fail(struct fsm_txn *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fsm_txn_fail(struct fsm_txn *x, const char *fmt, ...)
{
	struct msg_txn_error *e = FSM_PUSH(&x->r->errors);
	va_list ap;
	int rc;

	e->op_index = x->op;
	va_start(ap, fmt);
	rc = vasprintf(&e->what, fmt, ap);
	va_end(ap);
	if (rc < 0)
		fsm_oom();
}

static void fsm_txn_fail_err(struct fsm_txn *x, struct fsm_err *e)
{
	fsm_txn_fail(x, "%s", e->what != NULL ? e->what : "");
	fsm_err_fini(e);
}

static struct msg_txn_result *fsm_txn_result(struct fsm_txn *x, const char *kind)
{
	struct msg_txn_result *res = FSM_PUSH(&x->r->results);

	res->kind = xstrdup(kind);
	return res;
}

static void fsm_txn_kv_result(struct fsm_txn *x, const struct msg_kv_entry *e, bool value)
{
	struct msg_txn_result *res = fsm_txn_result(x, "KV");

	FSM_COPY(kv_entry, &res->kv, e);
	if (!value) {
		free(res->kv.value.p);
		res->kv.value.p = NULL;
		res->kv.value.len = 0;
	}
}

/* A write verb reached a read-only run: is_write said otherwise. */
static bool fsm_txn_ro(struct fsm_txn *x)
{
	if (x->wf != NULL)
		return false;
	fsm_txn_fail(x, "write operation in a read-only transaction");
	return true;
}

/* txnKVS */
static void fsm_txn_kv(struct fsm_txn *x, const struct msg_txn_op *op)
{
	const struct msg_kv_entry *in = &op->kv;
	const struct msg_kv_entry *e = NULL;
	const char *v = op->verb;
	char *q = gofmt_quote(in->key, strlen(in->key));
	struct fsm_err err = {0};
	bool ok;

	if (strcmp(v, "get") == 0) {
		e = fsm_tab_get(x->f, FSM_T_KV, in->key);
		if (e == NULL)
			fsm_txn_fail(x, "key %s doesn't exist", q);
		else
			fsm_txn_kv_result(x, e, true);
	} else if (strcmp(v, "get-or-empty") == 0) {
		e = fsm_tab_get(x->f, FSM_T_KV, in->key);
		if (e != NULL) {
			fsm_txn_kv_result(x, e, true);
		} else {
			struct msg_txn_result *res = fsm_txn_result(x, "KV");

			FSM_COPY(kv_entry, &res->kv, in);
			free(res->kv.value.p);
			res->kv.value.p = NULL;
			res->kv.value.len = 0;
		}
	} else if (strcmp(v, "get-tree") == 0) {
		struct msg_kv_entry_list l = {0};

		fsm_kv_list(x->f, in->key, &l);
		for (uint32_t i = 0; i < l.n; i++) {
			struct msg_txn_result *res = fsm_txn_result(x, "KV");

			res->kv = l.v[i];
		}
		free(l.v);
	} else if (strcmp(v, "check-index") == 0) {
		e = fsm_tab_get(x->f, FSM_T_KV, in->key);
		if (e == NULL)
			fsm_txn_fail(x, "failed to check index, key %s doesn't exist", q);
		else if (e->modify_index != in->modify_index)
			fsm_txn_fail(x,
			             "failed index check for key %s, current modify index %" PRIu64
			             " != %" PRIu64,
			             q, e->modify_index, in->modify_index);
		else
			fsm_txn_kv_result(x, e, false);
	} else if (strcmp(v, "check-session") == 0) {
		e = fsm_tab_get(x->f, FSM_T_KV, in->key);
		if (e == NULL) {
			fsm_txn_fail(x, "failed to check session, key %s doesn't exist", q);
		} else if (strcmp(e->session, in->session) != 0) {
			char *q1 = gofmt_quote(e->session, strlen(e->session)), *q2 = gofmt_quote(in->session, strlen(in->session));

			fsm_txn_fail(x, "failed session check for key %s, current session %s != %s",
			             q, q1, q2);
			free(q1);
			free(q2);
		} else {
			fsm_txn_kv_result(x, e, false);
		}
	} else if (strcmp(v, "check-not-exists") == 0) {
		if (fsm_tab_get(x->f, FSM_T_KV, in->key) != NULL)
			fsm_txn_fail(x, "key %s exists", q);
	} else if (strcmp(v, "set") == 0) {
		if (!fsm_txn_ro(x)) {
			e = fsm_kv_set(x->wf, fsm_kv_new(in->key, &in->value, in->flags, "", 0),
			               false);
			fsm_txn_kv_result(x, e, false);
		}
	} else if (strcmp(v, "cas") == 0) {
		if (!fsm_txn_ro(x)) {
			ok = fsm_kv_cas(x->wf, fsm_kv_new(in->key, &in->value, in->flags, "", 0),
			                in->modify_index, &e);
			if (!ok)
				fsm_txn_fail(x, "failed to set key %s, index is stale", q);
			else
				fsm_txn_kv_result(x, e, false);
		}
	} else if (strcmp(v, "lock") == 0 || strcmp(v, "unlock") == 0) {
		if (!fsm_txn_ro(x)) {
			struct msg_kv_entry *ne =
			    fsm_kv_new(in->key, &in->value, in->flags, in->session, 0);
			bool lock = strcmp(v, "lock") == 0;
			int rc = lock ? fsm_kv_lock(x->wf, ne, &ok, &e, &err)
			              : fsm_kv_unlock(x->wf, ne, &ok, &e, &err);

			if (rc != 0)
				fsm_txn_fail_err(x, &err);
			else if (!ok && lock)
				fsm_txn_fail(x, "failed to lock key %s, lock is already held", q);
			else if (!ok)
				fsm_txn_fail(
				    x,
				    "failed to unlock key %s, lock isn't held, or is held by "
				    "another session",
				    q);
			else
				fsm_txn_kv_result(x, e, false);
		}
	} else if (strcmp(v, "delete") == 0) {
		if (!fsm_txn_ro(x))
			fsm_kv_delete(x->wf, in->key);
	} else if (strcmp(v, "delete-tree") == 0) {
		if (!fsm_txn_ro(x))
			fsm_kv_delete_tree(x->wf, in->key);
	} else if (strcmp(v, "delete-cas") == 0) {
		if (!fsm_txn_ro(x) && !fsm_kv_delete_cas(x->wf, in->key, in->modify_index))
			fsm_txn_fail(x, "failed to delete key %s, index is stale", q);
	} else {
		char *qv = gofmt_quote(v, strlen(v));

		fsm_txn_fail(x, "unknown KV verb %s", qv);
		free(qv);
	}
	free(q);
}

static const struct msg_node *fsm_txn_node_get(const struct fsm *f, const struct msg_node *n)
{
	return n->id[0] != '\0' ? fsm_cat_node_by_id(f, n->id) : fsm_node_get(f, n->node);
}

static void fsm_txn_node_result(struct fsm_txn *x, const struct msg_node *n)
{
	if (n != NULL)
		FSM_COPY(node, &fsm_txn_result(x, "Node")->node, n);
}

/* txnNode */
static void fsm_txn_node(struct fsm_txn *x, const struct msg_txn_op *op)
{
	const struct msg_node *in = &op->node;
	const char *v = op->verb;
	char *q = gofmt_quote(in->node, strlen(in->node));
	struct fsm_err err = {0};
	bool write = strcmp(v, "get") != 0;

	if (write && fsm_txn_ro(x)) {
		free(q);
		return;
	}
	if ((strcmp(v, "set") == 0 || strcmp(v, "cas") == 0) &&
	    fsm_cat_node_validate(in, &err) != 0) {
		fsm_txn_fail_err(x, &err);
	} else if (strcmp(v, "get") == 0) {
		const struct msg_node *n = fsm_txn_node_get(x->f, in);

		if (n == NULL)
			fsm_txn_fail(x, "node %s doesn't exist", q);
		else
			fsm_txn_node_result(x, n);
	} else if (strcmp(v, "set") == 0) {
		if (fsm_cat_ensure_node(x->wf, in, &err) != 0)
			fsm_txn_fail_err(x, &err);
		else
			fsm_txn_node_result(x, fsm_txn_node_get(x->f, in));
	} else if (strcmp(v, "cas") == 0) {
		/* ensureNodeCASTxn */
		const struct msg_node *n = fsm_node_get(x->f, in->node);

		if ((in->modify_index == 0 && n != NULL) || (in->modify_index != 0 && n == NULL) ||
		    (n != NULL && in->modify_index != 0 && in->modify_index != n->modify_index))
			fsm_txn_fail(x, "failed to set node %s, index is stale", q);
		else if (fsm_cat_ensure_node(x->wf, in, &err) != 0)
			fsm_txn_fail_err(x, &err);
		else
			fsm_txn_node_result(x, fsm_txn_node_get(x->f, in));
	} else if (strcmp(v, "delete") == 0) {
		fsm_cat_delete_node(x->wf, in->node);
	} else if (strcmp(v, "delete-cas") == 0) {
		const struct msg_node *n = fsm_node_get(x->f, in->node);

		if (n == NULL || n->modify_index != in->modify_index)
			fsm_txn_fail(x, "failed to delete node %s, index is stale", q);
		else
			fsm_cat_delete_node(x->wf, in->node);
	} else {
		char *qv = gofmt_quote(v, strlen(v));

		fsm_txn_fail(x, "unknown Node verb %s", qv);
		free(qv);
	}
	free(q);
}

static void fsm_txn_service_result(struct fsm_txn *x, const char *node, const char *id)
{
	const struct msg_service *s = fsm_service_get(x->f, node, id);

	if (s != NULL)
		FSM_COPY(service, &fsm_txn_result(x, "Service")->service, s);
}

/* txnService (op->service.node names the node) */
static void fsm_txn_service(struct fsm_txn *x, const struct msg_txn_op *op)
{
	struct msg_service svc = {0};
	const char *v = op->verb, *node = op->service.node;
	struct fsm_err err = {0};
	char *qn = gofmt_quote(node, strlen(node)), *qi;
	bool set = strcmp(v, "set") == 0 || strcmp(v, "cas") == 0;

	FSM_COPY(service, &svc, &op->service);
	qi = gofmt_quote(svc.id, strlen(svc.id));
	if (strcmp(v, "get") != 0 && fsm_txn_ro(x))
		goto out;
	if (set && fsm_cat_service_prepare(&svc, &err) != 0) {
		fsm_txn_fail_err(x, &err);
		goto out;
	}
	if (set) {
		free(qi);
		qi = gofmt_quote(svc.id, strlen(svc.id));
	}
	if (strcmp(v, "get") == 0) {
		if (fsm_service_get(x->f, node, svc.id) == NULL)
			fsm_txn_fail(x, "service %s on node %s doesn't exist", qi, qn);
		else
			fsm_txn_service_result(x, node, svc.id);
	} else if (strcmp(v, "set") == 0) {
		if (fsm_cat_ensure_service(x->wf, node, &svc, &err) != 0)
			fsm_txn_fail_err(x, &err);
		else
			fsm_txn_service_result(x, node, svc.id);
	} else if (strcmp(v, "cas") == 0) {
		/* ensureServiceCASTxn */
		const struct msg_service *s = fsm_service_get(x->f, node, svc.id);

		if ((svc.modify_index == 0 && s != NULL) || (svc.modify_index != 0 && s == NULL) ||
		    (s != NULL && svc.modify_index != 0 && svc.modify_index != s->modify_index))
			fsm_txn_fail(x, "failed to set service %s on node %s, index is stale", qi,
			             qn);
		else if (fsm_cat_ensure_service(x->wf, node, &svc, &err) != 0)
			fsm_txn_fail_err(x, &err);
		else
			fsm_txn_service_result(x, node, svc.id);
	} else if (strcmp(v, "delete") == 0) {
		fsm_cat_delete_service(x->wf, node, svc.id);
	} else if (strcmp(v, "delete-cas") == 0) {
		const struct msg_service *s = fsm_service_get(x->f, node, svc.id);

		if (s == NULL || s->modify_index != svc.modify_index)
			fsm_txn_fail(x, "failed to delete service %s on node %s, index is stale",
			             qi, qn);
		else
			fsm_cat_delete_service(x->wf, node, svc.id);
	} else {
		char *qv = gofmt_quote(v, strlen(v));

		fsm_txn_fail(x, "unknown Service verb %s", qv);
		free(qv);
	}
out:
	msg_rec_free_service(&svc);
	free(qn);
	free(qi);
}

static void fsm_txn_check_result(struct fsm_txn *x, const char *node, const char *id)
{
	const struct msg_check *c = fsm_check_get(x->f, node, id);

	if (c != NULL)
		fsm_cat_check_out(x->f, c, &fsm_txn_result(x, "Check")->check);
}

/* txnCheck */
static void fsm_txn_check(struct fsm_txn *x, const struct msg_txn_op *op)
{
	struct msg_check chk = {0};
	const char *v = op->verb;
	struct fsm_err err = {0};
	char *qn, *qi;

	FSM_COPY(check, &chk, &op->check);
	if (chk.check_id[0] == '\0') {
		/* checkPreApply: the ID defaults to the name. */
		free(chk.check_id);
		chk.check_id = xstrdup(chk.name);
	}
	qn = gofmt_quote(chk.node, strlen(chk.node));
	qi = gofmt_quote(chk.check_id, strlen(chk.check_id));
	if (strcmp(v, "get") != 0 && fsm_txn_ro(x)) {
		/* refused */
	} else if (strcmp(v, "get") == 0) {
		if (fsm_check_get(x->f, chk.node, chk.check_id) == NULL)
			fsm_txn_fail(x, "check %s on node %s doesn't exist", qi, qn);
		else
			fsm_txn_check_result(x, chk.node, chk.check_id);
	} else if (strcmp(v, "set") == 0) {
		if (fsm_cat_ensure_check(x->wf, &chk, &err) != 0)
			fsm_txn_fail_err(x, &err);
		else
			fsm_txn_check_result(x, chk.node, chk.check_id);
	} else if (strcmp(v, "cas") == 0) {
		/* ensureCheckCASTxn */
		const struct msg_check *c = fsm_check_get(x->f, chk.node, chk.check_id);

		if ((chk.modify_index == 0 && c != NULL) || (chk.modify_index != 0 && c == NULL) ||
		    (c != NULL && chk.modify_index != 0 && chk.modify_index != c->modify_index))
			fsm_txn_fail(x, "failed to set check %s on node %s, index is stale", qi,
			             qn);
		else if (fsm_cat_ensure_check(x->wf, &chk, &err) != 0)
			fsm_txn_fail_err(x, &err);
		else
			fsm_txn_check_result(x, chk.node, chk.check_id);
	} else if (strcmp(v, "delete") == 0) {
		fsm_cat_delete_check(x->wf, chk.node, chk.check_id);
	} else if (strcmp(v, "delete-cas") == 0) {
		const struct msg_check *c = fsm_check_get(x->f, chk.node, chk.check_id);

		if (c == NULL || c->modify_index != chk.modify_index)
			fsm_txn_fail(x, "failed to delete check %s on node %s, index is stale", qi,
			             qn);
		else
			fsm_cat_delete_check(x->wf, chk.node, chk.check_id);
	} else {
		char *qv = gofmt_quote(v, strlen(v));

		fsm_txn_fail(x, "unknown Check verb %s", qv);
		free(qv);
	}
	msg_rec_free_check(&chk);
	free(qn);
	free(qi);
}

/* The limits Consul's txn endpoint checks before anything runs. */
static int fsm_txn_limits(const struct msg_txn *t, struct msg *reply)
{
	char *what = NULL;
	uint64_t status = 413;

	if (t->ops.n > FSM_TXN_OPS_MAX) {
		what = xasprintf("Transaction contains too many operations (%" PRIu32 " > %d)",
		                 t->ops.n, FSM_TXN_OPS_MAX);
	}
	for (uint32_t i = 0; what == NULL && i < t->ops.n; i++) {
		const struct msg_txn_op *op = &t->ops.v[i];

		if (strcmp(op->kind, "KV") != 0)
			continue;
		if (op->kv.value.len > FSM_VALUE_MAX) {
			char *q = gofmt_quote(op->kv.key, strlen(op->kv.key));

			what = xasprintf("Value for key %s is too large (%zu > %u bytes)", q,
			                 op->kv.value.len, FSM_VALUE_MAX);
			free(q);
		} else if (strlen(op->kv.key) > FSM_KEY_MAX) {
			status = 400;
			what = xasprintf("Key too long (%zu > %u bytes)", strlen(op->kv.key),
			                 FSM_KEY_MAX);
		}
	}
	if (what == NULL)
		return 0;
	fsm_reply_result(reply, status, what);
	free(what);
	return -1;
}

static void fsm_txn_run(struct fsm_txn *x, const struct msg_txn *t)
{
	bool refused;

	/* Consul's Txn preCheck (kvsPreApply, for reads too): a KV op but
	 * delete-tree needs a key; when any op is refused, none runs. */
	for (x->op = 0; x->op < t->ops.n; x->op++) {
		const struct msg_txn_op *op = &t->ops.v[x->op];

		if (strcmp(op->kind, "KV") == 0 && op->kv.key[0] == '\0' &&
		    strcmp(op->verb, "delete-tree") != 0)
			fsm_txn_fail(x, "Must provide key");
	}
	refused = x->r->errors.n > 0;
	for (x->op = 0; !refused && x->op < t->ops.n; x->op++) {
		const struct msg_txn_op *op = &t->ops.v[x->op];

		if (strcmp(op->kind, "KV") == 0)
			fsm_txn_kv(x, op);
		else if (strcmp(op->kind, "Node") == 0)
			fsm_txn_node(x, op);
		else if (strcmp(op->kind, "Service") == 0)
			fsm_txn_service(x, op);
		else if (strcmp(op->kind, "Check") == 0)
			fsm_txn_check(x, op);
		else
			fsm_txn_fail(x, "no operation specified");
	}
	if (x->r->errors.n > 0) {
		/* "Results": null on a rollback. */
		for (uint32_t i = 0; i < x->r->results.n; i++)
			msg_rec_free_txn_result(&x->r->results.v[i]);
		free(x->r->results.v);
		memset(&x->r->results, 0, sizeof(x->r->results));
		x->r->ok = false;
	} else {
		x->r->ok = true;
	}
}

int fsm_txn_apply(struct fsm *f, const struct msg_txn *t, struct msg *reply)
{
	struct fsm_txn x = {.wf = f, .f = f, .r = &reply->u.txn_reply};

	if (fsm_txn_limits(t, reply) != 0)
		return -1;
	reply->type = MSG_TXN_REPLY;
	fsm_txn_run(&x, t);
	reply->u.txn_reply.meta.index = f->idx;
	return reply->u.txn_reply.ok ? 0 : -1;
}

int fsm_txn_query(const struct fsm *f, const struct msg_txn *t, struct msg *reply)
{
	struct fsm_txn x = {.wf = NULL, .f = f, .r = &reply->u.txn_reply};
	uint64_t idx = fsm_max_index(f);

	if (fsm_txn_limits(t, reply) != 0)
		return -1;
	reply->type = MSG_TXN_REPLY;
	fsm_txn_run(&x, t);
	reply->u.txn_reply.meta.index = idx > 0 ? idx : 1;
	return 0;
}

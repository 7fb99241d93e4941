/* test_fsm.c: the state machine: KV, catalog, sessions, txn, reloads, a seeded KV model. */
#include "daemons/raftd/fsm.h"
#include "prng.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "omap.h"
#include "testutil.h"

/* ---- harness ---- */

static char *S(const char *s)
{
	char *p = strdup(s);

	ck_assert_ptr_nonnull(p);
	return p;
}

struct h {
	struct fsm *f;
	uint64_t index;
	uint64_t now;
	struct msg reply;
};

static void h_init(struct h *h)
{
	memset(h, 0, sizeof(*h));
	h->f = fsm_new();
	ck_assert_ptr_nonnull(h->f);
	h->index = 10;
	h->now = 1000000;
}

static void h_fini(struct h *h)
{
	msg_free(&h->reply);
	fsm_free(h->f);
}

/* Applies m (normalised through the codec, as a log entry would be) at the
 * next index and frees it; the reply stays in h->reply. */
static const struct msg *h_apply(struct h *h, struct msg *m)
{
	struct msg c;

	ck_assert_int_eq(msg_copy(&c, m), 0);
	msg_free(m);
	ck_assert(fsm_is_write(&c));
	ck_assert_int_eq(fsm_apply(h->f, ++h->index, &c, h->now, &h->reply), 0);
	msg_free(&c);
	return &h->reply;
}

static int h_query(struct h *h, struct msg *m, struct fsm_watchset *ws)
{
	struct msg c;
	int rc;

	ck_assert_int_eq(msg_copy(&c, m), 0);
	msg_free(m);
	rc = fsm_query(h->f, &c, &h->reply, ws);
	msg_free(&c);
	return rc;
}

static void expect_write(const struct msg *r, bool ok)
{
	if (r->type == MSG_RESULT)
		ck_abort_msg("refused: %" PRIu64 " %s", r->u.result.status, r->u.result.error);
	ck_assert_int_eq(r->type, MSG_WRITE_REPLY);
	ck_assert_int_eq(r->u.write_reply.ok, ok);
}

static void expect_result(const struct msg *r, uint64_t status, const char *what)
{
	ck_assert_int_eq(r->type, MSG_RESULT);
	ck_assert_uint_eq(r->u.result.status, status);
	ck_assert_str_eq(r->u.result.error, what);
}

static bool has_key(const char *const *v, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], k) == 0)
			return true;
	return false;
}

static bool changed(struct h *h, const char *k)
{
	size_t n;
	const char *const *v = fsm_changed_keys(h->f, &n);

	return has_key(v, n, k);
}

static bool ws_has(const struct fsm_watchset *ws, const char *k)
{
	return has_key((const char *const *)ws->keys, ws->n, k);
}

/* ---- message builders ---- */

static const struct msg *kv_put(struct h *h, const char *op, const char *key, const char *val,
                                uint64_t flags, uint64_t cas, const char *session)
{
	struct msg m = {.type = MSG_KV_PUT};

	m.u.kv_put.op = S(op);
	m.u.kv_put.key = S(key);
	if (val != NULL && val[0] != '\0') {
		m.u.kv_put.value.p = (uint8_t *)S(val);
		m.u.kv_put.value.len = strlen(val);
	}
	m.u.kv_put.flags = flags;
	m.u.kv_put.cas_index = cas;
	m.u.kv_put.session = S(session != NULL ? session : "");
	return h_apply(h, &m);
}

static const struct msg *kv_set(struct h *h, const char *key, const char *val)
{
	return kv_put(h, "set", key, val, 0, 0, NULL);
}

static const struct msg *kv_del(struct h *h, const char *key, bool recurse, bool has_cas,
                                uint64_t cas)
{
	struct msg m = {.type = MSG_KV_DELETE};

	m.u.kv_delete.key = S(key);
	m.u.kv_delete.recurse = recurse;
	m.u.kv_delete.cas.has = has_cas;
	m.u.kv_delete.cas.v = cas;
	return h_apply(h, &m);
}

static const struct msg *kv_get(struct h *h, const char *key, bool recurse, bool keys,
                                const char *sep, struct fsm_watchset *ws)
{
	struct msg m = {.type = MSG_KV_GET};

	m.u.kv_get.key = S(key);
	m.u.kv_get.recurse = recurse;
	m.u.kv_get.keys_only = keys;
	m.u.kv_get.separator = S(sep != NULL ? sep : "");
	h_query(h, &m, ws);
	return &h->reply;
}

/* The single entry of a get, or NULL. */
static const struct msg_kv_entry *kv_one(struct h *h, const char *key)
{
	const struct msg *r = kv_get(h, key, false, false, NULL, NULL);

	ck_assert_int_eq(r->type, MSG_KV_GET_REPLY);
	ck_assert_uint_le(r->u.kv_get_reply.entries.n, 1);
	return r->u.kv_get_reply.entries.n == 1 ? &r->u.kv_get_reply.entries.v[0] : NULL;
}

static void strmap_add(struct msg_strmap *m, const char *k, const char *v)
{
	m->k = realloc(m->k, (m->n + 1) * sizeof(*m->k));
	m->v = realloc(m->v, (m->n + 1) * sizeof(*m->v));
	m->k[m->n] = S(k);
	m->v[m->n] = S(v);
	m->n++;
}

static void strlist_add(struct msg_strlist *l, const char *s)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = S(s);
}

struct reg_check {
	const char *id, *name, *status, *service_id, *node;
};

/* Registers node (address addr) with an optional service (id, name, tags
 * "a,b") and checks. */
static const struct msg *reg(struct h *h, const char *node, const char *addr, const char *svc_id,
                             const char *svc_name, const char *tags, const struct reg_check *checks,
                             size_t n_checks)
{
	struct msg m = {.type = MSG_CATALOG_REGISTER};
	struct msg_catalog_register *r = &m.u.catalog_register;

	r->node.node = S(node);
	r->node.address = S(addr);
	r->node.datacenter = S("dc1");
	if (svc_id != NULL || svc_name != NULL) {
		r->has_service = true;
		r->service.id = S(svc_id != NULL ? svc_id : "");
		r->service.service = S(svc_name != NULL ? svc_name : "");
		r->service.port = 80;
		if (tags != NULL) {
			char *t = S(tags), *save = NULL;

			for (char *tok = strtok_r(t, ",", &save); tok != NULL;
			     tok = strtok_r(NULL, ",", &save))
				strlist_add(&r->service.tags, tok);
			free(t);
		}
	}
	if (n_checks > 0) {
		r->checks.v = calloc(n_checks, sizeof(*r->checks.v));
		r->checks.n = (uint32_t)n_checks;
		for (size_t i = 0; i < n_checks; i++) {
			r->checks.v[i].check_id = S(checks[i].id != NULL ? checks[i].id : "");
			r->checks.v[i].name = S(checks[i].name != NULL ? checks[i].name : "");
			r->checks.v[i].status = S(checks[i].status != NULL ? checks[i].status : "");
			r->checks.v[i].service_id =
			    S(checks[i].service_id != NULL ? checks[i].service_id : "");
			r->checks.v[i].node = S(checks[i].node != NULL ? checks[i].node : "");
		}
	}
	return h_apply(h, &m);
}

static const struct msg *reg_node(struct h *h, const char *node)
{
	return reg(h, node, "10.0.0.1", NULL, NULL, NULL, NULL, 0);
}

static const struct msg *reg_check(struct h *h, const char *node, const char *id,
                                   const char *status, const char *service_id)
{
	struct reg_check c = {.id = id, .name = id, .status = status, .service_id = service_id};

	return reg(h, node, "10.0.0.1", NULL, NULL, NULL, &c, 1);
}

static const struct msg *dereg(struct h *h, const char *node, const char *svc, const char *chk)
{
	struct msg m = {.type = MSG_CATALOG_DEREGISTER};

	m.u.catalog_deregister.node = S(node);
	m.u.catalog_deregister.service_id = S(svc != NULL ? svc : "");
	m.u.catalog_deregister.check_id = S(chk != NULL ? chk : "");
	return h_apply(h, &m);
}

static const struct msg *sess_create(struct h *h, const char *id, const char *node,
                                     const char *behavior, uint64_t lock_delay_ns,
                                     const char *node_checks, const char *ttl)
{
	struct msg m = {.type = MSG_SESSION_CREATE};
	struct msg_session *s = &m.u.session_create.session;

	s->id = S(id);
	s->node = S(node);
	s->behavior = S(behavior != NULL ? behavior : "");
	s->lock_delay_ns = lock_delay_ns;
	s->ttl = S(ttl != NULL ? ttl : "");
	if (node_checks != NULL) {
		char *t = S(node_checks), *save = NULL;

		for (char *tok = strtok_r(t, ",", &save); tok != NULL;
		     tok = strtok_r(NULL, ",", &save))
			strlist_add(&s->node_checks, tok);
		free(t);
	}
	return h_apply(h, &m);
}

static const struct msg *sess_destroy(struct h *h, const char *id)
{
	struct msg m = {.type = MSG_SESSION_DESTROY};

	m.u.session_destroy.id = S(id);
	return h_apply(h, &m);
}

static const struct msg *service_nodes(struct h *h, const char *name, const char *tags,
                                       bool with_checks, bool passing, struct fsm_watchset *ws)
{
	struct msg m = {.type = MSG_SERVICE_NODES};

	m.u.service_nodes.service = S(name);
	m.u.service_nodes.with_checks = with_checks;
	m.u.service_nodes.passing = passing;
	if (tags != NULL) {
		char *t = S(tags), *save = NULL;

		for (char *tok = strtok_r(t, ",", &save); tok != NULL;
		     tok = strtok_r(NULL, ",", &save))
			strlist_add(&m.u.service_nodes.tags, tok);
		free(t);
	}
	ck_assert_int_eq(h_query(h, &m, ws), 0);
	ck_assert_int_eq(h->reply.type, MSG_SERVICE_NODES_REPLY);
	return &h->reply;
}

static const struct msg *health_checks(struct h *h, const char *node, const char *service,
                                       const char *state)
{
	struct msg m = {.type = MSG_HEALTH_CHECKS};

	m.u.health_checks.node = S(node != NULL ? node : "");
	m.u.health_checks.service = S(service != NULL ? service : "");
	m.u.health_checks.state = S(state != NULL ? state : "");
	ck_assert_int_eq(h_query(h, &m, NULL), 0);
	ck_assert_int_eq(h->reply.type, MSG_CHECKS_REPLY);
	return &h->reply;
}

static const struct msg *sessions(struct h *h, const char *id, const char *node)
{
	struct msg m = {.type = MSG_SESSION_QUERY};

	m.u.session_query.id = S(id != NULL ? id : "");
	m.u.session_query.node = S(node != NULL ? node : "");
	ck_assert_int_eq(h_query(h, &m, NULL), 0);
	ck_assert_int_eq(h->reply.type, MSG_SESSIONS_REPLY);
	return &h->reply;
}

static uint64_t svc_index(struct h *h, const char *name)
{
	return service_nodes(h, name, NULL, false, false, NULL)->u.service_nodes_reply.meta.index;
}

/* ---- KV ---- */

START_TEST(test_kv_set_get)
{
	struct h h;
	struct fsm_watchset ws = {0};
	const struct msg_kv_entry *e;
	const struct msg *r;

	h_init(&h);
	expect_write(kv_put(&h, "set", "a/b", "hello", 7, 0, NULL), true);
	ck_assert_uint_eq(h.reply.u.write_reply.index, 11);
	ck_assert(changed(&h, "k/a/b"));
	ck_assert(changed(&h, "kvs"));
	e = kv_one(&h, "a/b");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->key, "a/b");
	ck_assert_uint_eq(e->value.len, 5);
	ck_assert_int_eq(memcmp(e->value.p, "hello", 5), 0);
	ck_assert_uint_eq(e->flags, 7);
	ck_assert_uint_eq(e->create_index, 11);
	ck_assert_uint_eq(e->modify_index, 11);
	ck_assert_str_eq(e->session, "");
	/* Found: the key's ModifyIndex; watch the key. */
	r = kv_get(&h, "a/b", false, false, NULL, &ws);
	ck_assert_uint_eq(r->u.kv_get_reply.meta.index, 11);
	ck_assert(ws_has(&ws, "k/a/b"));
	fsm_watchset_fini(&ws);
	/* Missing: empty, the table index, and a watch on the key alone. */
	kv_set(&h, "z", "1");
	r = kv_get(&h, "nope", false, false, NULL, &ws);
	ck_assert_uint_eq(r->u.kv_get_reply.entries.n, 0);
	ck_assert_uint_eq(r->u.kv_get_reply.meta.index, 12);
	ck_assert_uint_eq(ws.n, 1);
	ck_assert(ws_has(&ws, "k/nope"));
	fsm_watchset_fini(&ws);
	/* An update keeps CreateIndex; flags reset to the given value. */
	kv_set(&h, "a/b", "bye");
	e = kv_one(&h, "a/b");
	ck_assert_uint_eq(e->create_index, 11);
	ck_assert_uint_eq(e->modify_index, 13);
	ck_assert_uint_eq(e->flags, 0);
	/* Empty value: stored as no bytes. */
	kv_set(&h, "empty", "");
	ck_assert_uint_eq(kv_one(&h, "empty")->value.len, 0);
	/* An empty store answers index 1, never 0. */
	{
		struct h h2;

		h_init(&h2);
		ck_assert_uint_eq(
		    kv_get(&h2, "x", false, false, NULL, NULL)->u.kv_get_reply.meta.index, 1);
		ck_assert_uint_eq(
		    kv_get(&h2, "", true, false, NULL, NULL)->u.kv_get_reply.meta.index, 1);
		h_fini(&h2);
	}
	h_fini(&h);
}
END_TEST

START_TEST(test_kv_noop_write)
{
	struct h h;
	size_t n;

	h_init(&h);
	kv_put(&h, "set", "k", "v", 3, 0, NULL);
	fsm_changes_clear(h.f);
	/* The same value and flags: ModifyIndex stays, nothing to persist,
	 * nobody woken; the reply still says true. */
	expect_write(kv_put(&h, "set", "k", "v", 3, 0, NULL), true);
	ck_assert_uint_eq(kv_one(&h, "k")->modify_index, 11);
	fsm_writes(h.f, &n);
	ck_assert_uint_eq(n, 0);
	fsm_changed_keys(h.f, &n);
	ck_assert_uint_eq(n, 0);
	/* Different flags: a write. */
	kv_put(&h, "set", "k", "v", 4, 0, NULL);
	ck_assert_uint_eq(kv_one(&h, "k")->modify_index, 13);
	h_fini(&h);
}
END_TEST

START_TEST(test_kv_cas)
{
	struct h h;

	h_init(&h);
	expect_write(kv_put(&h, "cas", "k", "1", 0, 0, NULL), true); /* create only */
	expect_write(kv_put(&h, "cas", "k", "2", 0, 0, NULL), false);
	expect_write(kv_put(&h, "cas", "k", "2", 0, 5, NULL), false); /* stale */
	expect_write(kv_put(&h, "cas", "k", "2", 0, 11, NULL), true);
	ck_assert_uint_eq(kv_one(&h, "k")->modify_index, 14);
	expect_write(kv_put(&h, "cas", "other", "2", 0, 14, NULL), false); /* N on missing */
	ck_assert_ptr_null(kv_one(&h, "other"));
	h_fini(&h);
}
END_TEST

START_TEST(test_kv_errors)
{
	struct h h;
	struct msg m = {.type = MSG_KV_PUT};
	char *big = malloc(FSM_VALUE_MAX + 1);

	h_init(&h);
	expect_result(kv_set(&h, "", "x"), 400, "Missing key name");
	expect_result(kv_del(&h, "", false, false, 0), 400, "Missing key name");
	expect_result(kv_get(&h, "", false, false, NULL, NULL), 400, "Missing key name");
	memset(big, 'x', FSM_VALUE_MAX + 1);
	m.u.kv_put.op = S("set");
	m.u.kv_put.key = S("big");
	m.u.kv_put.value.p = (uint8_t *)big;
	m.u.kv_put.value.len = FSM_VALUE_MAX + 1;
	expect_result(h_apply(&h, &m), 413,
	              "Request body(524289 bytes) too large, max size: 524288 bytes. See "
	              "https://developer.hashicorp.com/docs/agent/config/"
	              "config-files#kv_max_value_size.");
	expect_result(kv_put(&h, "acquire", "k", "v", 0, 0, ""), 500, "missing session");
	expect_result(kv_put(&h, "acquire", "k", "v", 0, 0, "nope"), 500,
	              "invalid session \"nope\"");
	expect_result(kv_put(&h, "release", "k", "v", 0, 0, ""), 500, "missing session");
	/* A refused command changes nothing and the index moves on. */
	ck_assert_ptr_null(kv_one(&h, "big"));
	ck_assert_uint_eq(fsm_max_index(h.f), 0);
	h_fini(&h);
}
END_TEST

START_TEST(test_kv_delete_and_tombstones)
{
	struct h h;
	struct fsm_watchset ws = {0};
	const struct msg *r;

	h_init(&h);
	kv_set(&h, "a/1", "x"); /* 11 */
	kv_set(&h, "a/2", "x"); /* 12 */
	kv_set(&h, "b", "x");   /* 13 */
	kv_set(&h, "a/0", "x"); /* 14 */
	r = kv_get(&h, "a/", true, false, NULL, &ws);
	ck_assert_uint_eq(r->u.kv_get_reply.entries.n, 3);
	ck_assert_str_eq(r->u.kv_get_reply.entries.v[0].key, "a/0");
	ck_assert_str_eq(r->u.kv_get_reply.entries.v[1].key, "a/1");
	ck_assert_str_eq(r->u.kv_get_reply.entries.v[2].key, "a/2");
	ck_assert_uint_eq(r->u.kv_get_reply.meta.index, 14);
	ck_assert(ws_has(&ws, "p/a/"));
	fsm_watchset_fini(&ws);
	/* Deleting the newest key under the prefix: the tombstone keeps the
	 * index from going back (§1.10). */
	expect_write(kv_del(&h, "a/0", false, false, 0), true); /* 15 */
	ck_assert(changed(&h, "k/a/0"));
	ck_assert(changed(&h, "tomb"));
	kv_set(&h, "b", "y"); /* 16, outside the prefix */
	r = kv_get(&h, "a/", true, false, NULL, NULL);
	ck_assert_uint_eq(r->u.kv_get_reply.entries.n, 2);
	ck_assert_uint_eq(r->u.kv_get_reply.meta.index, 15);
	/* The empty prefix: the whole table's index. */
	ck_assert_uint_eq(kv_get(&h, "", true, false, NULL, NULL)->u.kv_get_reply.meta.index, 16);
	/* A prefix with neither entries nor tombstones: the table index. */
	ck_assert_uint_eq(kv_get(&h, "zz", true, false, NULL, NULL)->u.kv_get_reply.meta.index, 16);
	/* A missing single key: kvs and tombstones' max. */
	kv_del(&h, "b", false, false, 0); /* 17 */
	ck_assert_uint_eq(kv_get(&h, "q", false, false, NULL, NULL)->u.kv_get_reply.meta.index, 17);
	/* Deleting a missing key: true, no tombstone, nothing changes. */
	fsm_changes_clear(h.f);
	expect_write(kv_del(&h, "nope", false, false, 0), true);
	{
		size_t n;

		fsm_writes(h.f, &n);
		ck_assert_uint_eq(n, 0);
	}
	/* delete-cas quirks: missing key true; cas=0 on an existing key false. */
	expect_write(kv_del(&h, "nope", false, true, 5), true);
	expect_write(kv_del(&h, "a/1", false, true, 0), false);
	expect_write(kv_del(&h, "a/1", false, true, 99), false);
	expect_write(kv_del(&h, "a/1", false, true, 11), true);
	ck_assert_ptr_null(kv_one(&h, "a/1"));
	/* delete-tree: a tombstone per key. */
	kv_set(&h, "t/x/1", "1");
	kv_set(&h, "t/y", "1");
	kv_set(&h, "u", "1");
	expect_write(kv_del(&h, "t/", true, false, 0), true);
	ck_assert_uint_eq(kv_get(&h, "t/", true, false, NULL, NULL)->u.kv_get_reply.entries.n, 0);
	ck_assert_uint_eq(kv_get(&h, "t/x/", true, false, NULL, NULL)->u.kv_get_reply.meta.index,
	                  h.index);
	ck_assert_ptr_nonnull(kv_one(&h, "u"));
	expect_result(kv_del(&h, "t/", true, true, 1), 400, "Conflicting flags: recurse&cas");
	/* The empty prefix deletes everything. */
	expect_write(kv_del(&h, "", true, false, 0), true);
	ck_assert_uint_eq(kv_get(&h, "", true, false, NULL, NULL)->u.kv_get_reply.entries.n, 0);
	h_fini(&h);
}
END_TEST

START_TEST(test_kv_keys_separator)
{
	struct h h;
	const struct msg *r;

	h_init(&h);
	kv_set(&h, "web/a", "1");
	kv_set(&h, "web/b/c", "1");
	kv_set(&h, "web/b/d", "1");
	kv_set(&h, "webx", "1");
	kv_set(&h, "other", "1");
	r = kv_get(&h, "web/", false, true, "/", NULL);
	ck_assert_uint_eq(r->u.kv_get_reply.keys.n, 2);
	ck_assert_str_eq(r->u.kv_get_reply.keys.v[0], "web/a");
	ck_assert_str_eq(r->u.kv_get_reply.keys.v[1], "web/b/");
	ck_assert_uint_eq(r->u.kv_get_reply.entries.n, 0);
	ck_assert_uint_eq(r->u.kv_get_reply.meta.index, 13);
	r = kv_get(&h, "web", false, true, "/", NULL);
	ck_assert_uint_eq(r->u.kv_get_reply.keys.n, 2);
	ck_assert_str_eq(r->u.kv_get_reply.keys.v[0], "web/");
	ck_assert_str_eq(r->u.kv_get_reply.keys.v[1], "webx");
	r = kv_get(&h, "", false, true, "", NULL);
	ck_assert_uint_eq(r->u.kv_get_reply.keys.n, 5);
	ck_assert_str_eq(r->u.kv_get_reply.keys.v[0], "other");
	r = kv_get(&h, "nothing/", false, true, "/", NULL);
	ck_assert_uint_eq(r->u.kv_get_reply.keys.n, 0);
	h_fini(&h);
}
END_TEST

START_TEST(test_kv_reap)
{
	struct h h;
	struct msg m = {.type = MSG_TOMBSTONE_REAP};

	h_init(&h);
	kv_set(&h, "p/a", "1");             /* 11 */
	kv_set(&h, "p/b", "1");             /* 12 */
	kv_del(&h, "p/a", false, false, 0); /* 13 */
	kv_del(&h, "p/b", false, false, 0); /* 14 */
	kv_set(&h, "q", "1");               /* 15 */
	ck_assert_uint_eq(kv_get(&h, "p/", true, false, NULL, NULL)->u.kv_get_reply.meta.index, 14);
	m.u.tombstone_reap.index = 13;
	expect_write(h_apply(&h, &m), true);
	ck_assert_uint_eq(kv_get(&h, "p/", true, false, NULL, NULL)->u.kv_get_reply.meta.index, 14);
	m = (struct msg){.type = MSG_TOMBSTONE_REAP};
	m.u.tombstone_reap.index = 14;
	expect_write(h_apply(&h, &m), true);
	/* No tombstones left under p/: the table index. */
	ck_assert_uint_eq(kv_get(&h, "p/", true, false, NULL, NULL)->u.kv_get_reply.meta.index, 15);
	h_fini(&h);
}
END_TEST

START_TEST(test_kv_locks)
{
	struct h h;
	const struct msg_kv_entry *e;

	h_init(&h);
	reg_node(&h, "n1");
	expect_write(sess_create(&h, "s1", "n1", NULL, 0, NULL, NULL), true);
	expect_write(sess_create(&h, "s2", "n1", NULL, 0, NULL, NULL), true);
	/* Acquire a missing key: LockIndex 1. */
	expect_write(kv_put(&h, "acquire", "lock", "me", 9, 0, "s1"), true);
	e = kv_one(&h, "lock");
	ck_assert_uint_eq(e->lock_index, 1);
	ck_assert_str_eq(e->session, "s1");
	ck_assert_uint_eq(e->flags, 9);
	/* Another session: false, nothing changes. */
	expect_write(kv_put(&h, "acquire", "lock", "you", 0, 0, "s2"), false);
	ck_assert_str_eq(kv_one(&h, "lock")->session, "s1");
	/* The holder again: value updated, LockIndex kept. */
	expect_write(kv_put(&h, "acquire", "lock", "me2", 0, 0, "s1"), true);
	e = kv_one(&h, "lock");
	ck_assert_uint_eq(e->lock_index, 1);
	ck_assert_uint_eq(e->value.len, 3);
	ck_assert_uint_eq(e->modify_index, h.index);
	/* Release by a non-holder (or an unknown session): false. */
	expect_write(kv_put(&h, "release", "lock", "x", 0, 0, "s2"), false);
	expect_write(kv_put(&h, "release", "lock", "x", 0, 0, "unknown"), false);
	expect_write(kv_put(&h, "release", "missing", "x", 0, 0, "s1"), false);
	/* Release by the holder: the body becomes the value, LockIndex kept. */
	expect_write(kv_put(&h, "release", "lock", "free", 1, 0, "s1"), true);
	e = kv_one(&h, "lock");
	ck_assert_str_eq(e->session, "");
	ck_assert_uint_eq(e->lock_index, 1);
	ck_assert_int_eq(memcmp(e->value.p, "free", 4), 0);
	ck_assert_uint_eq(e->flags, 1);
	/* Acquiring an unlocked existing key: LockIndex + 1. */
	expect_write(kv_put(&h, "acquire", "lock", "s2", 0, 0, "s2"), true);
	ck_assert_uint_eq(kv_one(&h, "lock")->lock_index, 2);
	/* Quirk: a plain set keeps the session but stores LockIndex 0. */
	kv_set(&h, "lock", "plain");
	e = kv_one(&h, "lock");
	ck_assert_str_eq(e->session, "s2");
	ck_assert_uint_eq(e->lock_index, 0);
	/* A plain set never takes a session it was given. */
	kv_put(&h, "set", "other", "v", 0, 0, "s1");
	ck_assert_str_eq(kv_one(&h, "other")->session, "");
	h_fini(&h);
}
END_TEST

/* ---- sessions ---- */

START_TEST(test_session_invalidate_release)
{
	struct h h;
	const struct msg_kv_entry *e;
	size_t n;
	const char *const *ids;
	uint64_t mi;

	h_init(&h);
	reg_node(&h, "n1");
	sess_create(&h, "s1", "n1", "release", 15000000000ull, NULL, "30s");
	ck_assert_uint_eq(fsm_session_ttl_ms(h.f, "s1"), 30000);
	ck_assert(fsm_session_exists(h.f, "s1"));
	ids = fsm_changed_sessions(h.f, &n);
	ck_assert(has_key(ids, n, "s1"));
	kv_put(&h, "acquire", "l1", "v", 0, 0, "s1");
	kv_put(&h, "acquire", "l2", "v", 0, 0, "s1");
	mi = kv_one(&h, "l1")->modify_index;
	fsm_changes_clear(h.f);
	h.now = 5000000;
	expect_write(sess_destroy(&h, "s1"), true);
	ck_assert(!fsm_session_exists(h.f, "s1"));
	ids = fsm_changed_sessions(h.f, &n);
	ck_assert(has_key(ids, n, "s1"));
	ck_assert(changed(&h, "k/l1"));
	ck_assert(changed(&h, "sessions"));
	e = kv_one(&h, "l1");
	ck_assert_str_eq(e->session, "");
	ck_assert_uint_eq(e->lock_index, 1);
	ck_assert_uint_gt(e->modify_index, mi);
	ck_assert_uint_eq(e->value.len, 1);
	/* Lock delay: 15 s from the apply's now. */
	ck_assert(fsm_kv_lock_delayed(h.f, "l1", 5000000));
	ck_assert(fsm_kv_lock_delayed(h.f, "l2", 5014999));
	ck_assert(!fsm_kv_lock_delayed(h.f, "l2", 5015000));
	ck_assert(!fsm_kv_lock_delayed(h.f, "other", 5000000));
	/* Destroy is idempotent. */
	expect_write(sess_destroy(&h, "s1"), true);
	expect_write(sess_destroy(&h, "never"), true);
	/* Lock delay is capped at 60 s. */
	sess_create(&h, "s2", "n1", "release", 3600000000000ull, NULL, NULL);
	kv_put(&h, "acquire", "l3", "v", 0, 0, "s2");
	sess_destroy(&h, "s2");
	ck_assert(fsm_kv_lock_delayed(h.f, "l3", 5059999));
	ck_assert(!fsm_kv_lock_delayed(h.f, "l3", 5060000));
	/* The apply does not check lock delay (the leader does). */
	sess_create(&h, "s3", "n1", "release", 0, NULL, NULL);
	expect_write(kv_put(&h, "acquire", "l3", "v", 0, 0, "s3"), true);
	h_fini(&h);
}
END_TEST

START_TEST(test_session_invalidate_delete)
{
	struct h h;
	const struct msg *r;

	h_init(&h);
	reg_node(&h, "n1");
	sess_create(&h, "s1", "n1", "delete", 1000000, NULL, NULL); /* Patroni's 0.001s */
	kv_put(&h, "acquire", "svc/leader", "me", 0, 0, "s1");
	kv_set(&h, "svc/other", "x");
	sess_destroy(&h, "s1");
	ck_assert_ptr_null(kv_one(&h, "svc/leader"));
	r = kv_get(&h, "svc/", true, false, NULL, NULL);
	ck_assert_uint_eq(r->u.kv_get_reply.entries.n, 1);
	ck_assert_uint_eq(r->u.kv_get_reply.meta.index, h.index); /* the tombstone */
	ck_assert(fsm_kv_lock_delayed(h.f, "svc/leader", h.now));
	ck_assert(!fsm_kv_lock_delayed(h.f, "svc/leader", h.now + 1));
	h_fini(&h);
}
END_TEST

START_TEST(test_session_create_validation)
{
	struct h h;
	const struct msg *r;

	h_init(&h);
	expect_result(sess_create(&h, "s1", "n1", NULL, 0, NULL, NULL), 500,
	              "Missing node registration");
	reg_check(&h, "n1", "serfHealth", "passing", NULL);
	reg_check(&h, "n1", "bad", "critical", NULL);
	expect_result(sess_create(&h, "s1", "n1", NULL, 0, "serfHealth,nope", NULL), 500,
	              "Missing check 'nope' registration");
	expect_result(sess_create(&h, "s1", "n1", NULL, 0, "bad", NULL), 500,
	              "Check 'bad' is in critical state");
	expect_result(sess_create(&h, "s1", "n1", "explode", 0, NULL, NULL), 500,
	              "Invalid Behavior setting 'explode'");
	expect_result(sess_create(&h, "", "n1", NULL, 0, NULL, NULL), 500, "Missing session ID");
	r = sess_create(&h, "s1", "N1", NULL, 0, "serfHealth", NULL); /* names fold case */
	expect_write(r, true);
	ck_assert_str_eq(r->u.write_reply.id, "s1");
	ck_assert_uint_eq(r->u.write_reply.index, h.index);
	r = sessions(&h, "s1", NULL);
	ck_assert_uint_eq(r->u.sessions_reply.sessions.n, 1);
	ck_assert_str_eq(r->u.sessions_reply.sessions.v[0].behavior, "release");
	ck_assert_uint_eq(r->u.sessions_reply.sessions.v[0].create_index, h.index);
	ck_assert_uint_eq(r->u.sessions_reply.meta.index, h.index);
	sess_create(&h, "s0", "n1", "delete", 0, NULL, NULL);
	reg_node(&h, "n2");
	sess_create(&h, "s9", "n2", NULL, 0, NULL, NULL);
	ck_assert_uint_eq(sessions(&h, NULL, NULL)->u.sessions_reply.sessions.n, 3);
	ck_assert_str_eq(h.reply.u.sessions_reply.sessions.v[0].id, "s0"); /* by ID */
	ck_assert_uint_eq(sessions(&h, NULL, "n1")->u.sessions_reply.sessions.n, 2);
	ck_assert_uint_eq(sessions(&h, "nope", NULL)->u.sessions_reply.sessions.n, 0);
	ck_assert_uint_eq(fsm_session_ttl_ms(h.f, "s1"), 0);
	ck_assert_uint_eq(fsm_session_ttl_ms(h.f, "nope"), 0);
	h_fini(&h);
}
END_TEST

static int count_cb_n;

static void count_cb(const char *id, void *arg)
{
	(void)id;
	(void)arg;
	count_cb_n++;
}

START_TEST(test_session_invalidation_by_catalog)
{
	struct h h;
	struct reg_check web = {
	    .id = "web-check", .name = "web-check", .status = "passing", .service_id = "web1"};

	h_init(&h);
	reg_check(&h, "n1", "serfHealth", "passing", NULL);
	reg(&h, "n1", "10.0.0.1", "web1", "web", NULL, &web, 1);
	/* Rule 3: a linked check going critical (warning does not). */
	sess_create(&h, "a", "n1", NULL, 0, "serfHealth", NULL);
	kv_put(&h, "acquire", "ka", "v", 0, 0, "a");
	reg_check(&h, "n1", "serfHealth", "warning", NULL);
	ck_assert(fsm_session_exists(h.f, "a"));
	reg_check(&h, "n1", "serfHealth", "critical", NULL);
	ck_assert(!fsm_session_exists(h.f, "a"));
	ck_assert_str_eq(kv_one(&h, "ka")->session, "");
	reg_check(&h, "n1", "serfHealth", "passing", NULL);
	/* Rule 4: a linked check deregistered. */
	sess_create(&h, "b", "n1", NULL, 0, "serfHealth", NULL);
	dereg(&h, "n1", NULL, "serfHealth");
	ck_assert(!fsm_session_exists(h.f, "b"));
	reg_check(&h, "n1", "serfHealth", "passing", NULL);
	/* Rule 6: a service check's service deregistered. */
	{
		struct msg m = {.type = MSG_SESSION_CREATE};

		m.u.session_create.session.id = S("c");
		m.u.session_create.session.node = S("n1");
		strlist_add(&m.u.session_create.session.service_checks, "web-check");
		expect_write(h_apply(&h, &m), true);
	}
	sess_create(&h, "unlinked", "n1", NULL, 0, NULL, NULL);
	dereg(&h, "n1", "web1", NULL);
	ck_assert(!fsm_session_exists(h.f, "c"));
	ck_assert(fsm_session_exists(h.f, "unlinked"));
	/* Rule 5: the node deregistered destroys all its sessions. */
	sess_create(&h, "d", "n1", NULL, 0, NULL, NULL);
	count_cb_n = 0;
	fsm_session_foreach(h.f, count_cb, NULL);
	ck_assert_int_eq(count_cb_n, 2);
	dereg(&h, "n1", NULL, NULL);
	ck_assert(!fsm_session_exists(h.f, "d"));
	ck_assert(!fsm_session_exists(h.f, "unlinked"));
	ck_assert_ptr_null(fsm_node_get(h.f, "n1"));
	h_fini(&h);
}
END_TEST

/* ---- catalog ---- */

START_TEST(test_catalog_register_errors)
{
	struct h h;
	struct msg m = {.type = MSG_CATALOG_REGISTER};
	struct reg_check c = {.id = "c1", .service_id = "nosuch"};

	h_init(&h);
	expect_result(reg(&h, "", "1.1.1.1", NULL, NULL, NULL, NULL, 0), 500, "Must provide node");
	expect_result(reg(&h, "n1", "", NULL, NULL, NULL, NULL, 0), 500,
	              "Must provide address if SkipNodeUpdate is not set");
	expect_result(reg(&h, "n1", "1.1.1.1", "id-only", "", NULL, NULL, 0), 500,
	              "Must provide service name with ID");
	m.u.catalog_register.node.node = S("n1");
	m.u.catalog_register.node.address = S("1.1.1.1");
	m.u.catalog_register.node.id = S("nope");
	expect_result(h_apply(&h, &m), 500, "Bad node ID: uuid string is wrong length");
	m = (struct msg){.type = MSG_CATALOG_REGISTER};
	m.u.catalog_register.node.node = S("n1");
	m.u.catalog_register.node.address = S("1.1.1.1");
	m.u.catalog_register.node.id = S("zzzzzzzz-0000-0000-0000-000000000000");
	expect_result(h_apply(&h, &m), 500, "Bad node ID: encoding/hex: invalid byte: U+007A 'z'");
	m = (struct msg){.type = MSG_CATALOG_REGISTER};
	m.u.catalog_register.node.node = S("n1");
	m.u.catalog_register.node.address = S("1.1.1.1");
	m.u.catalog_register.has_service = true;
	m.u.catalog_register.service.service = S("web");
	m.u.catalog_register.service.address = S("0.0.0.0");
	expect_result(h_apply(&h, &m), 500, "Invalid service address");
	/* A check naming a missing service: refused, and atomically (the
	 * node the same request would create is not there). */
	expect_result(reg(&h, "n1", "1.1.1.1", NULL, NULL, NULL, &c, 1), 500,
	              "failed inserting check on node \"n1\": Missing service registration");
	ck_assert_ptr_null(fsm_node_get(h.f, "n1"));
	ck_assert_uint_eq(fsm_max_index(h.f), 0);
	c = (struct reg_check){.id = "c1", .node = "other"};
	expect_result(reg(&h, "n1", "1.1.1.1", NULL, NULL, NULL, &c, 1), 500,
	              "check node \"other\" does not match node \"n1\"");
	/* SkipNodeUpdate: no address needed; an existing node is left alone. */
	reg(&h, "n1", "1.1.1.1", NULL, NULL, NULL, NULL, 0);
	m = (struct msg){.type = MSG_CATALOG_REGISTER};
	m.u.catalog_register.node.node = S("n1");
	m.u.catalog_register.skip_node_update = true;
	m.u.catalog_register.has_service = true;
	m.u.catalog_register.service.service = S("web");
	expect_write(h_apply(&h, &m), true);
	ck_assert_str_eq(fsm_node_get(h.f, "n1")->address, "1.1.1.1");
	ck_assert_ptr_nonnull(fsm_service_get(h.f, "n1", "web"));
	h_fini(&h);
}
END_TEST

START_TEST(test_catalog_register_indexes)
{
	struct h h;
	const struct msg_node *n;
	const struct msg_service *s;
	const struct msg_check *c;
	struct reg_check chk = {.name = "web alive", .service_id = "web1"};
	size_t nw;

	h_init(&h);
	expect_write(reg(&h, "Node1", "10.0.0.1", "web1", "web", "b,a", &chk, 1), true); /* 11 */
	n = fsm_node_get(h.f, "NODE1");
	ck_assert_ptr_nonnull(n);
	ck_assert_str_eq(n->node, "Node1"); /* as stored */
	ck_assert_uint_eq(n->create_index, 11);
	s = fsm_service_get(h.f, "node1", "WEB1");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->weight_passing, 1);
	ck_assert_uint_eq(s->weight_warning, 1);
	c = fsm_check_get(h.f, "node1", "web alive"); /* CheckID defaults to Name */
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->status, "critical"); /* empty status */
	ck_assert_str_eq(c->node, "Node1");      /* Node defaults to the request's */
	ck_assert(changed(&h, "nodes"));
	ck_assert(changed(&h, "services"));
	ck_assert(changed(&h, "checks"));
	ck_assert(changed(&h, "svc/web"));
	/* The same registration again: nothing moves. */
	fsm_changes_clear(h.f);
	expect_write(reg(&h, "node1", "10.0.0.1", "web1", "web", "b,a", &chk, 1), true); /* 12 */
	fsm_writes(h.f, &nw);
	ck_assert_uint_eq(nw, 0);
	ck_assert_uint_eq(fsm_node_get(h.f, "node1")->modify_index, 11);
	ck_assert_uint_eq(svc_index(&h, "web"), 11);
	/* A new address: the node changes, CreateIndex kept; the service's
	 * index moves too (its health reads show the node). */
	reg(&h, "node1", "10.0.0.2", NULL, NULL, NULL, NULL, 0); /* 13 */
	n = fsm_node_get(h.f, "node1");
	ck_assert_uint_eq(n->create_index, 11);
	ck_assert_uint_eq(n->modify_index, 13);
	ck_assert_uint_eq(svc_index(&h, "web"), 13);
	ck_assert_uint_eq(fsm_service_get(h.f, "node1", "web1")->modify_index, 11);
	/* A check status change moves the service's index, not the service. */
	chk.status = "passing";
	reg(&h, "node1", "10.0.0.2", NULL, NULL, NULL, &chk, 1); /* 14 */
	ck_assert_uint_eq(svc_index(&h, "web"), 14);
	ck_assert_uint_eq(fsm_check_get(h.f, "node1", "web alive")->create_index, 11);
	ck_assert_uint_eq(fsm_check_get(h.f, "node1", "web alive")->modify_index, 14);
	/* Another service's change leaves web's index alone. */
	reg(&h, "node2", "10.0.0.3", "db1", "db", NULL, NULL, 0); /* 15 */
	ck_assert_uint_eq(svc_index(&h, "web"), 14);
	ck_assert_uint_eq(svc_index(&h, "DB"), 15);
	/* A node-level check moves every service of its node. */
	reg_check(&h, "node2", "serfHealth", "passing", NULL); /* 16 */
	ck_assert_uint_eq(svc_index(&h, "db"), 16);
	ck_assert_uint_eq(svc_index(&h, "web"), 14);
	/* The last instance gone: the service's row goes, and a missing
	 * service answers the extinction index. */
	dereg(&h, "node2", "db1", NULL); /* 17 */
	ck_assert(changed(&h, "svc/db"));
	ck_assert_uint_eq(svc_index(&h, "db"), 17);
	ck_assert_uint_eq(svc_index(&h, "never"), 17);
	/* Missing things deregister fine. */
	expect_write(dereg(&h, "node2", "nope", NULL), true);
	expect_write(dereg(&h, "nonode", NULL, NULL), true);
	expect_result(dereg(&h, "", NULL, NULL), 500, "Must provide node");
	h_fini(&h);
}
END_TEST

START_TEST(test_catalog_reads)
{
	struct h h;
	struct fsm_watchset ws = {0};
	struct reg_check c1[] = {{.id = "serfHealth", .status = "passing"},
	                         {.id = "web-a", .status = "passing", .service_id = "web-a"}};
	struct reg_check c2[] = {{.id = "serfHealth", .status = "passing"},
	                         {.id = "web-b", .status = "warning", .service_id = "web-b"}};
	struct msg m;
	const struct msg *r;

	h_init(&h);
	reg(&h, "zeta", "10.0.0.2", "web-b", "web", "v2,Canary", c2, 2);
	reg(&h, "alpha", "10.0.0.1", "web-a", "web", "v1,v1", c1, 2);
	reg(&h, "alpha", "10.0.0.1", "db", "db", NULL, NULL, 0);
	{
		struct msg rm = {.type = MSG_CATALOG_REGISTER};

		rm.u.catalog_register.node.node = S("mid");
		rm.u.catalog_register.node.address = S("10.0.0.9");
		strmap_add(&rm.u.catalog_register.node.meta, "rack", "r1");
		strmap_add(&rm.u.catalog_register.node.meta, "env", "prod");
		expect_write(h_apply(&h, &rm), true);
	}
	/* catalog/nodes: by name; node_meta: all pairs must match. */
	m = (struct msg){.type = MSG_CATALOG_NODES};
	ck_assert_int_eq(h_query(&h, &m, &ws), 0);
	ck_assert_uint_eq(h.reply.u.nodes_reply.nodes.n, 3);
	ck_assert_str_eq(h.reply.u.nodes_reply.nodes.v[0].node, "alpha");
	ck_assert_str_eq(h.reply.u.nodes_reply.nodes.v[2].node, "zeta");
	ck_assert_uint_eq(h.reply.u.nodes_reply.meta.index, 14);
	ck_assert(ws_has(&ws, "nodes"));
	fsm_watchset_fini(&ws);
	m = (struct msg){.type = MSG_CATALOG_NODES};
	strmap_add(&m.u.catalog_nodes.node_meta, "env", "prod");
	strmap_add(&m.u.catalog_nodes.node_meta, "rack", "r1");
	h_query(&h, &m, NULL);
	ck_assert_uint_eq(h.reply.u.nodes_reply.nodes.n, 1);
	ck_assert_str_eq(h.reply.u.nodes_reply.nodes.v[0].node, "mid");
	ck_assert_uint_eq(h.reply.u.nodes_reply.nodes.v[0].meta.n, 2);
	ck_assert_str_eq(h.reply.u.nodes_reply.nodes.v[0].meta.k[0], "env"); /* sorted */
	m = (struct msg){.type = MSG_CATALOG_NODES};
	strmap_add(&m.u.catalog_nodes.node_meta, "env", "dev");
	h_query(&h, &m, NULL);
	ck_assert_uint_eq(h.reply.u.nodes_reply.nodes.n, 0);
	/* catalog/services: names sorted, tags deduped and sorted. */
	m = (struct msg){.type = MSG_CATALOG_SERVICES};
	ck_assert_int_eq(h_query(&h, &m, &ws), 0);
	r = &h.reply;
	ck_assert_uint_eq(r->u.services_reply.services.n, 2);
	ck_assert_str_eq(r->u.services_reply.services.v[0].name, "db");
	ck_assert_uint_eq(r->u.services_reply.services.v[0].tags.n, 0);
	ck_assert_str_eq(r->u.services_reply.services.v[1].name, "web");
	ck_assert_uint_eq(r->u.services_reply.services.v[1].tags.n, 3);
	ck_assert_str_eq(r->u.services_reply.services.v[1].tags.v[0], "Canary");
	ck_assert_str_eq(r->u.services_reply.services.v[1].tags.v[1], "v1");
	ck_assert_str_eq(r->u.services_reply.services.v[1].tags.v[2], "v2");
	ck_assert_uint_eq(r->u.services_reply.meta.index, 13);
	ck_assert(ws_has(&ws, "services"));
	fsm_watchset_fini(&ws);
	m = (struct msg){.type = MSG_CATALOG_SERVICES};
	strmap_add(&m.u.catalog_services.node_meta, "env", "prod");
	h_query(&h, &m, NULL);
	ck_assert_uint_eq(h.reply.u.services_reply.services.n, 0);
	ck_assert_uint_eq(h.reply.u.services_reply.meta.index, 14);
	/* catalog/service: by node name; tags all match, case-insensitively. */
	r = service_nodes(&h, "WEB", NULL, false, false, &ws);
	ck_assert_uint_eq(r->u.service_nodes_reply.entries.n, 2);
	ck_assert_str_eq(r->u.service_nodes_reply.entries.v[0].node.node, "alpha");
	ck_assert_str_eq(r->u.service_nodes_reply.entries.v[0].service.id, "web-a");
	ck_assert_uint_eq(r->u.service_nodes_reply.entries.v[0].checks.n, 0);
	ck_assert_str_eq(r->u.service_nodes_reply.entries.v[1].node.address, "10.0.0.2");
	ck_assert(ws_has(&ws, "svc/web"));
	fsm_watchset_fini(&ws);
	r = service_nodes(&h, "web", "canary,V2", false, false, NULL);
	ck_assert_uint_eq(r->u.service_nodes_reply.entries.n, 1);
	ck_assert_str_eq(r->u.service_nodes_reply.entries.v[0].node.node, "zeta");
	r = service_nodes(&h, "web", "v2,nope", false, false, NULL);
	ck_assert_uint_eq(r->u.service_nodes_reply.entries.n, 0);
	/* health/service: node checks then the instance's; passing drops
	 * an instance with any non-passing check. */
	r = service_nodes(&h, "web", NULL, true, false, NULL);
	ck_assert_uint_eq(r->u.service_nodes_reply.entries.n, 2);
	ck_assert_uint_eq(r->u.service_nodes_reply.entries.v[0].checks.n, 2);
	ck_assert_str_eq(r->u.service_nodes_reply.entries.v[0].checks.v[0].check_id, "serfHealth");
	ck_assert_str_eq(r->u.service_nodes_reply.entries.v[0].checks.v[0].service_name, "");
	ck_assert_str_eq(r->u.service_nodes_reply.entries.v[0].checks.v[1].check_id, "web-a");
	ck_assert_str_eq(r->u.service_nodes_reply.entries.v[0].checks.v[1].service_name, "web");
	ck_assert_uint_eq(r->u.service_nodes_reply.entries.v[0].checks.v[1].service_tags.n, 2);
	r = service_nodes(&h, "web", NULL, true, true, NULL);
	ck_assert_uint_eq(r->u.service_nodes_reply.entries.n, 1);
	ck_assert_str_eq(r->u.service_nodes_reply.entries.v[0].node.node, "alpha");
	r = service_nodes(&h, "nope", NULL, true, false, NULL);
	ck_assert_uint_eq(r->u.service_nodes_reply.entries.n, 0);
	ck_assert_uint_ge(r->u.service_nodes_reply.meta.index, 1);
	m = (struct msg){.type = MSG_SERVICE_NODES};
	expect_result((h_query(&h, &m, NULL), &h.reply), 400, "Missing service name");
	/* catalog/node */
	m = (struct msg){.type = MSG_CATALOG_NODE};
	m.u.catalog_node.node = S("ALPHA");
	ck_assert_int_eq(h_query(&h, &m, &ws), 0);
	ck_assert(h.reply.u.catalog_node_reply.found);
	ck_assert_str_eq(h.reply.u.catalog_node_reply.node.node, "alpha");
	ck_assert_uint_eq(h.reply.u.catalog_node_reply.services.n, 2);
	ck_assert_str_eq(h.reply.u.catalog_node_reply.services.v[0].id, "db");
	ck_assert_uint_eq(h.reply.u.catalog_node_reply.meta.index, 14);
	ck_assert(ws_has(&ws, "nodes") && ws_has(&ws, "services") && ws_has(&ws, "checks"));
	fsm_watchset_fini(&ws);
	m = (struct msg){.type = MSG_CATALOG_NODE};
	m.u.catalog_node.node = S("ghost");
	ck_assert_int_eq(h_query(&h, &m, NULL), 0);
	ck_assert(!h.reply.u.catalog_node_reply.found);
	/* health/node, health/checks, health/state */
	r = health_checks(&h, "zeta", NULL, NULL);
	ck_assert_uint_eq(r->u.checks_reply.checks.n, 2);
	ck_assert_uint_eq(r->u.checks_reply.meta.index, 12);
	r = health_checks(&h, NULL, "web", NULL);
	ck_assert_uint_eq(r->u.checks_reply.checks.n, 2); /* no node checks */
	ck_assert_str_eq(r->u.checks_reply.checks.v[0].check_id, "web-a");
	ck_assert_str_eq(r->u.checks_reply.checks.v[0].service_name, "web");
	r = health_checks(&h, NULL, NULL, "any");
	ck_assert_uint_eq(r->u.checks_reply.checks.n, 4);
	r = health_checks(&h, NULL, NULL, "passing");
	ck_assert_uint_eq(r->u.checks_reply.checks.n, 3);
	r = health_checks(&h, NULL, NULL, "warning");
	ck_assert_uint_eq(r->u.checks_reply.checks.n, 1);
	ck_assert_str_eq(r->u.checks_reply.checks.v[0].check_id, "web-b");
	ck_assert_uint_eq(r->u.checks_reply.checks.v[0].service_tags.n, 2);
	r = health_checks(&h, NULL, NULL, "critical");
	ck_assert_uint_eq(r->u.checks_reply.checks.n, 0);
	r = health_checks(&h, NULL, NULL, "bogus");
	ck_assert_uint_eq(r->u.checks_reply.checks.n, 0);
	m = (struct msg){.type = MSG_HEALTH_CHECKS};
	expect_result((h_query(&h, &m, NULL), &h.reply), 400, "Missing check state");
	/* Deregistering a service takes its checks. */
	dereg(&h, "alpha", "web-a", NULL);
	ck_assert_ptr_null(fsm_check_get(h.f, "alpha", "web-a"));
	ck_assert_ptr_nonnull(fsm_check_get(h.f, "alpha", "serfHealth"));
	/* Deregistering a node takes everything. */
	dereg(&h, "zeta", NULL, NULL);
	ck_assert_uint_eq(
	    service_nodes(&h, "web", NULL, false, false, NULL)->u.service_nodes_reply.entries.n, 0);
	ck_assert_uint_eq(health_checks(&h, NULL, NULL, "any")->u.checks_reply.checks.n, 1);
	h_fini(&h);
}
END_TEST

START_TEST(test_catalog_node_id)
{
	struct h h;
	struct msg m;
	const char *id = "11111111-2222-3333-4444-555555555555";

	h_init(&h);
	m = (struct msg){.type = MSG_CATALOG_REGISTER};
	m.u.catalog_register.node.node = S("old");
	m.u.catalog_register.node.address = S("1.1.1.1");
	m.u.catalog_register.node.id = S(id);
	m.u.catalog_register.has_service = true;
	m.u.catalog_register.service.service = S("web");
	expect_write(h_apply(&h, &m), true);
	/* The same ID under a new name: Consul renames (the old node goes). */
	m = (struct msg){.type = MSG_CATALOG_REGISTER};
	m.u.catalog_register.node.node = S("new");
	m.u.catalog_register.node.address = S("1.1.1.2");
	m.u.catalog_register.node.id = S(id);
	expect_write(h_apply(&h, &m), true);
	ck_assert_ptr_null(fsm_node_get(h.f, "old"));
	ck_assert_ptr_null(fsm_service_get(h.f, "old", "web"));
	ck_assert_ptr_nonnull(fsm_node_get(h.f, "new"));
	ck_assert_uint_eq(fsm_node_get(h.f, "new")->create_index, 11);
	/* A name held by a healthy node with another ID is refused. */
	m = (struct msg){.type = MSG_CATALOG_REGISTER};
	m.u.catalog_register.node.node = S("new");
	m.u.catalog_register.node.address = S("1.1.1.2");
	m.u.catalog_register.node.id = S(id);
	m.u.catalog_register.checks.v = calloc(1, sizeof(struct msg_check));
	m.u.catalog_register.checks.n = 1;
	m.u.catalog_register.checks.v[0].check_id = S("serfHealth");
	m.u.catalog_register.checks.v[0].status = S("passing");
	expect_write(h_apply(&h, &m), true);
	m = (struct msg){.type = MSG_CATALOG_REGISTER};
	m.u.catalog_register.node.node = S("new");
	m.u.catalog_register.node.address = S("1.1.1.3");
	m.u.catalog_register.node.id = S("99999999-2222-3333-4444-555555555555");
	expect_result(h_apply(&h, &m), 500,
	              "failed inserting node: Error while renaming Node ID: "
	              "\"99999999-2222-3333-4444-555555555555\": Node name new is reserved by node "
	              "11111111-2222-3333-4444-555555555555 with name new (1.1.1.2)");
	/* catalog/node finds a node by its ID too. */
	m = (struct msg){.type = MSG_CATALOG_NODE};
	m.u.catalog_node.node = S(id);
	ck_assert_int_eq(h_query(&h, &m, NULL), 0);
	ck_assert(h.reply.u.catalog_node_reply.found);
	ck_assert_str_eq(h.reply.u.catalog_node_reply.node.node, "new");
	h_fini(&h);
}
END_TEST

/* ---- txn ---- */

static struct msg_txn_op *txn_add(struct msg *m, const char *kind, const char *verb)
{
	struct msg_txn_op_list *l = &m->u.txn.ops;

	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	l->v[l->n].kind = S(kind);
	l->v[l->n].verb = S(verb);
	return &l->v[l->n++];
}

static struct msg_txn_op *txn_kv(struct msg *m, const char *verb, const char *key, const char *val,
                                 uint64_t index, const char *session)
{
	struct msg_txn_op *op = txn_add(m, "KV", verb);

	op->kv.key = S(key);
	if (val != NULL) {
		op->kv.value.p = (uint8_t *)S(val);
		op->kv.value.len = strlen(val);
	}
	op->kv.modify_index = index;
	op->kv.session = S(session != NULL ? session : "");
	return op;
}

START_TEST(test_txn)
{
	struct h h;
	struct msg m = {.type = MSG_TXN};
	const struct msg *r;
	const struct msg_txn_reply *tr;
	struct msg_txn_op *op;
	size_t nw;

	h_init(&h);
	reg_node(&h, "n1");                               /* 11 */
	sess_create(&h, "s1", "n1", NULL, 0, NULL, NULL); /* 12 */
	kv_set(&h, "t/a", "1");                           /* 13 */
	/* Writes and reads in one txn. */
	txn_kv(&m, "set", "t/b", "2", 0, NULL);
	txn_kv(&m, "cas", "t/a", "1b", 13, NULL);
	txn_kv(&m, "lock", "t/l", "me", 0, "s1");
	txn_kv(&m, "get", "t/a", NULL, 0, NULL);
	txn_kv(&m, "get-tree", "t/", NULL, 0, NULL);
	txn_kv(&m, "check-index", "t/a", NULL, 14, NULL);
	txn_kv(&m, "check-session", "t/l", NULL, 0, "s1");
	txn_kv(&m, "check-not-exists", "t/zz", NULL, 0, NULL);
	txn_kv(&m, "delete", "t/b", NULL, 0, NULL);
	txn_kv(&m, "get-or-empty", "t/b", NULL, 0, NULL);
	op = txn_add(&m, "Node", "set");
	op->node.node = S("n2");
	op->node.address = S("2.2.2.2");
	op = txn_add(&m, "Service", "set");
	op->service.node = S("n2");
	op->service.service = S("api");
	op = txn_add(&m, "Check", "set");
	op->check.node = S("n2");
	op->check.name = S("api-check");
	op->check.status = S("passing");
	op->check.service_id = S("api");
	op = txn_add(&m, "Check", "get");
	op->check.node = S("n2");
	op->check.check_id = S("api-check");
	ck_assert(fsm_is_write(&m));
	r = h_apply(&h, &m); /* 14 */
	ck_assert_int_eq(r->type, MSG_TXN_REPLY);
	tr = &r->u.txn_reply;
	ck_assert_msg(tr->ok, "errors: %u (%s)", tr->errors.n,
	              tr->errors.n > 0 ? tr->errors.v[0].what : "");
	ck_assert_uint_eq(tr->errors.n, 0);
	/* set, cas, lock, get, get-tree (3 entries), check-index, check-session,
	 * get-or-empty, node, service, check, check get. */
	ck_assert_uint_eq(tr->results.n, 14);
	ck_assert_str_eq(tr->results.v[0].kind, "KV");
	ck_assert_str_eq(tr->results.v[0].kv.key, "t/b");
	ck_assert_uint_eq(tr->results.v[0].kv.value.len, 0); /* no value but for gets */
	ck_assert_uint_eq(tr->results.v[0].kv.modify_index, 14);
	ck_assert_uint_eq(tr->results.v[2].kv.lock_index, 1);
	ck_assert_uint_eq(tr->results.v[3].kv.value.len, 2);
	ck_assert_str_eq(tr->results.v[4].kv.key, "t/a");
	ck_assert_str_eq(tr->results.v[6].kv.key, "t/l");
	ck_assert_uint_eq(tr->results.v[6].kv.value.len, 2); /* get-tree carries values */
	ck_assert_str_eq(tr->results.v[9].kv.key, "t/b");    /* get-or-empty: empty entry */
	ck_assert_uint_eq(tr->results.v[9].kv.modify_index, 0);
	ck_assert_str_eq(tr->results.v[10].kind, "Node");
	ck_assert_str_eq(tr->results.v[10].node.node, "n2");
	ck_assert_str_eq(tr->results.v[11].service.id, "api");
	ck_assert_str_eq(tr->results.v[12].check.check_id, "api-check");
	ck_assert_str_eq(tr->results.v[13].check.service_name, "api");
	ck_assert_ptr_null(kv_one(&h, "t/b"));
	ck_assert_str_eq(kv_one(&h, "t/l")->session, "s1");

	/* A failing txn: every failure listed, nothing kept. */
	fsm_changes_clear(h.f);
	m = (struct msg){.type = MSG_TXN};
	txn_kv(&m, "set", "t/new", "x", 0, NULL);
	txn_kv(&m, "cas", "t/a", "x", 1, NULL);
	txn_kv(&m, "lock", "t/l", "x", 0, "nope");
	txn_kv(&m, "get", "t/missing", NULL, 0, NULL);
	txn_kv(&m, "check-index", "t/a", NULL, 1, NULL);
	txn_kv(&m, "check-session", "t/l", NULL, 0, "s2");
	txn_kv(&m, "check-not-exists", "t/a", NULL, 0, NULL);
	txn_kv(&m, "delete-cas", "t/a", NULL, 1, NULL);
	txn_kv(&m, "unlock", "t/l", NULL, 0, "other");
	op = txn_add(&m, "Node", "get");
	op->node.node = S("ghost");
	op = txn_add(&m, "Service", "cas");
	op->service.node = S("n2");
	op->service.service = S("api");
	op->service.modify_index = 1;
	op = txn_add(&m, "Check", "delete-cas");
	op->check.node = S("n2");
	op->check.check_id = S("api-check");
	op->check.modify_index = 1;
	txn_add(&m, "Bogus", "x");
	txn_kv(&m, "frobnicate", "t/a", NULL, 0, NULL);
	op = txn_add(&m, "Service", "set");
	op->service.node = S("ghost");
	op->service.service = S("x");
	r = h_apply(&h, &m); /* 15 */
	tr = &r->u.txn_reply;
	ck_assert_int_eq(r->type, MSG_TXN_REPLY);
	ck_assert(!tr->ok);
	ck_assert_uint_eq(tr->results.n, 0);
	ck_assert_uint_eq(tr->errors.n, 14);
	ck_assert_uint_eq(tr->errors.v[0].op_index, 1);
	ck_assert_str_eq(tr->errors.v[0].what, "failed to set key \"t/a\", index is stale");
	ck_assert_str_eq(tr->errors.v[1].what, "invalid session \"nope\"");
	ck_assert_str_eq(tr->errors.v[2].what, "key \"t/missing\" doesn't exist");
	ck_assert_str_eq(tr->errors.v[3].what,
	                 "failed index check for key \"t/a\", current modify index 14 != 1");
	ck_assert_str_eq(tr->errors.v[4].what,
	                 "failed session check for key \"t/l\", current session \"s1\" != \"s2\"");
	ck_assert_str_eq(tr->errors.v[5].what, "key \"t/a\" exists");
	ck_assert_str_eq(tr->errors.v[6].what, "failed to delete key \"t/a\", index is stale");
	ck_assert_str_eq(
	    tr->errors.v[7].what,
	    "failed to unlock key \"t/l\", lock isn't held, or is held by another session");
	ck_assert_str_eq(tr->errors.v[8].what, "node \"ghost\" doesn't exist");
	ck_assert_str_eq(tr->errors.v[9].what,
	                 "failed to set service \"api\" on node \"n2\", index is stale");
	ck_assert_str_eq(tr->errors.v[10].what,
	                 "failed to delete check \"api-check\" on node \"n2\", index is stale");
	ck_assert_str_eq(tr->errors.v[11].what, "no operation specified");
	ck_assert_str_eq(tr->errors.v[12].what, "unknown KV verb \"frobnicate\"");
	ck_assert_uint_eq(tr->errors.v[13].op_index, 14);
	ck_assert_str_eq(tr->errors.v[13].what, "Missing node registration");
	ck_assert_ptr_null(kv_one(&h, "t/new"));
	fsm_writes(h.f, &nw);
	ck_assert_uint_eq(nw, 0);
	ck_assert(!changed(&h, "k/t/new"));

	/* A read-only txn: served by fsm_query, no state change. */
	m = (struct msg){.type = MSG_TXN};
	txn_kv(&m, "get", "t/a", NULL, 0, NULL);
	op = txn_add(&m, "Service", "get");
	op->service.node = S("n2");
	op->service.id = S("api");
	ck_assert(!fsm_is_write(&m));
	ck_assert_int_eq(h_query(&h, &m, NULL), 0);
	tr = &h.reply.u.txn_reply;
	ck_assert_int_eq(h.reply.type, MSG_TXN_REPLY);
	ck_assert(tr->ok);
	ck_assert_uint_eq(tr->results.n, 2);
	ck_assert_uint_ge(tr->meta.index, 1);
	m = (struct msg){.type = MSG_TXN};
	txn_kv(&m, "get", "t/nope", NULL, 0, NULL);
	ck_assert_int_eq(h_query(&h, &m, NULL), 0);
	ck_assert(!h.reply.u.txn_reply.ok);
	ck_assert_uint_eq(h.reply.u.txn_reply.errors.n, 1);
	/* A write txn is not a read. */
	m = (struct msg){.type = MSG_TXN};
	txn_kv(&m, "set", "t/x", "1", 0, NULL);
	ck_assert_int_eq(h_query(&h, &m, NULL), -1);
	ck_assert_int_eq(h.reply.type, MSG_RESULT);

	/* Limits. */
	m = (struct msg){.type = MSG_TXN};
	for (int i = 0; i < FSM_TXN_OPS_MAX + 1; i++)
		txn_kv(&m, "set", "k", "v", 0, NULL);
	expect_result(h_apply(&h, &m), 413, "Transaction contains too many operations (129 > 128)");
	{
		char *big = calloc(1, FSM_VALUE_MAX + 2);

		memset(big, 'v', FSM_VALUE_MAX + 1);
		m = (struct msg){.type = MSG_TXN};
		txn_kv(&m, "set", "k", big, 0, NULL);
		free(big);
		expect_result(h_apply(&h, &m), 413,
		              "Value for key \"k\" is too large (524289 > 524288 bytes)");
	}
	h_fini(&h);
}
END_TEST

START_TEST(test_txn_invalidation_rollback)
{
	/* A txn whose check op invalidates a session and whose last op fails:
	 * the session, the lock and the lock delay all stay as they were. */
	struct h h;
	struct msg m = {.type = MSG_TXN};
	struct msg_txn_op *op;
	size_t n;

	h_init(&h);
	reg_check(&h, "n1", "serfHealth", "passing", NULL);
	sess_create(&h, "s1", "n1", NULL, 10000000000ull, "serfHealth", NULL);
	kv_put(&h, "acquire", "l", "v", 0, 0, "s1");
	fsm_changes_clear(h.f);
	op = txn_add(&m, "Check", "set");
	op->check.node = S("n1");
	op->check.check_id = S("serfHealth");
	op->check.status = S("critical");
	txn_kv(&m, "get", "nope", NULL, 0, NULL);
	ck_assert(!h_apply(&h, &m)->u.txn_reply.ok);
	ck_assert(fsm_session_exists(h.f, "s1"));
	ck_assert_str_eq(kv_one(&h, "l")->session, "s1");
	ck_assert(!fsm_kv_lock_delayed(h.f, "l", h.now));
	fsm_changed_sessions(h.f, &n);
	ck_assert_uint_eq(n, 0);
	fsm_changed_keys(h.f, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(fsm_check_get(h.f, "n1", "serfHealth")->status, "passing");
	h_fini(&h);
}
END_TEST

START_TEST(test_misc_api)
{
	struct h h;
	struct msg m = {.type = MSG_PING};
	struct msg c;

	h_init(&h);
	ck_assert_str_eq(fsm_table_name(FSM_T_KV), "kv");
	ck_assert_str_eq(fsm_table_name(FSM_T_INDEX), "index");
	ck_assert(!fsm_is_write(&m));
	ck_assert_int_eq(fsm_apply(h.f, 1, &m, 0, &h.reply), -1);
	ck_assert_int_eq(h.reply.type, MSG_RESULT);
	ck_assert_int_eq(fsm_query(h.f, &m, &h.reply, NULL), -1);
	ck_assert_int_eq(h.reply.type, MSG_RESULT);
	/* fsm_reset drops the state. */
	kv_set(&h, "k", "v");
	fsm_reset(h.f);
	ck_assert_ptr_null(kv_one(&h, "k"));
	ck_assert_uint_eq(fsm_max_index(h.f), 0);
	/* Loading junk is refused, not a crash. */
	ck_assert_int_eq(fsm_load(h.f, FSM_T_KV, "k", 1, "junk", 4), -1);
	ck_assert_int_eq(fsm_load(h.f, FSM_T_INDEX, "kvs", 3, "1234567", 7), -1);
	ck_assert_int_eq(fsm_load(h.f, FSM_T_COUNT, "k", 1, "", 0), -1);
	ck_assert_int_eq(fsm_load(h.f, FSM_T_TOMB, "k\0x", 3, "12345678", 8), -1);
	/* The reply's req_id is kept. */
	memset(&c, 0, sizeof(c));
	h.reply.req_id = 77;
	kv_set(&h, "k", "v");
	ck_assert_uint_eq(h.reply.req_id, 77);
	h_fini(&h);
}
END_TEST

static const struct fsm_write *find_write(struct fsm *f, enum fsm_table t, const char *key)
{
	size_t n;
	const struct fsm_write *w = fsm_writes(f, &n);

	for (size_t i = 0; i < n; i++)
		if (w[i].table == t && w[i].klen == strlen(key) &&
		    memcmp(w[i].key, key, w[i].klen) == 0)
			return &w[i];
	return NULL;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

START_TEST(test_writes_format)
{
	struct h h;
	const struct fsm_write *w;
	struct msg_kv_entry e;
	struct msg_node nd;
	size_t n;

	h_init(&h);
	kv_set(&h, "k", "v"); /* 11 */
	w = find_write(h.f, FSM_T_KV, "k");
	ck_assert_ptr_nonnull(w);
	ck_assert(!w->del);
	ck_assert_int_eq(msg_rec_decode_kv_entry(w->val.p, w->val.len, &e), MSG_OK);
	ck_assert_str_eq(e.key, "k");
	ck_assert_uint_eq(e.modify_index, 11);
	msg_rec_free_kv_entry(&e);
	w = find_write(h.f, FSM_T_INDEX, "kvs");
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(w->val.len, 8);
	ck_assert_uint_eq(be64(w->val.p), 11);
	/* Put then deleted before the store took it: one write, a delete. */
	kv_del(&h, "k", false, false, 0); /* 12 */
	fsm_writes(h.f, &n);
	ck_assert_uint_eq(n, 4); /* kv "k", index "kvs", then tomb "k" and index "tomb" */
	w = find_write(h.f, FSM_T_KV, "k");
	ck_assert(w->del);
	w = find_write(h.f, FSM_T_TOMB, "k");
	ck_assert_uint_eq(be64(w->val.p), 12);
	ck_assert_uint_eq(be64(find_write(h.f, FSM_T_INDEX, "kvs")->val.p), 12);
	ck_assert_uint_eq(be64(find_write(h.f, FSM_T_INDEX, "tomb")->val.p), 12);
	fsm_changes_clear(h.f);
	fsm_writes(h.f, &n);
	ck_assert_uint_eq(n, 0);
	/* Catalog rows under their lower-cased keys. */
	reg(&h, "Web-1", "10.0.0.1", "API", "Api", NULL, NULL, 0);
	w = find_write(h.f, FSM_T_NODES, "web-1");
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(msg_rec_decode_node(w->val.p, w->val.len, &nd), MSG_OK);
	ck_assert_str_eq(nd.node, "Web-1");
	msg_rec_free_node(&nd);
	ck_assert_ptr_nonnull(find_write(h.f, FSM_T_SERVICES,
	                                 "web-1\x1f"
	                                 "api"));
	ck_assert_ptr_nonnull(find_write(h.f, FSM_T_INDEX, "svc/api"));
	ck_assert_ptr_nonnull(find_write(h.f, FSM_T_INDEX, "nodes"));
	ck_assert_ptr_nonnull(find_write(h.f, FSM_T_INDEX, "services"));
	ck_assert_uint_eq(fsm_max_index(h.f), 13);
	h_fini(&h);
}
END_TEST

/* ---- seeded comparison of KV against a model ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	return prng_next(&rng_state);
}

static uint64_t test_seed(void)
{
	const char *env = getenv("FSM_SEED");

	return env != NULL ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
}

#define MK_MAX 64
#define MS_MAX 8

struct mkv {
	char key[8];
	char val[8];
	uint64_t flags, lock_index, create, modify;
	char session[8];
	bool live;
	uint64_t tomb; /* 0: no tombstone */
};

struct msess {
	char id[8];
	bool live, del;
	uint64_t delay_ms;
};

struct model {
	struct mkv kv[MK_MAX];
	size_t n;
	struct msess s[MS_MAX];
	uint64_t kvs_ix, tomb_ix;
};

static struct mkv *model_find(struct model *md, const char *key, bool create)
{
	for (size_t i = 0; i < md->n; i++)
		if (strcmp(md->kv[i].key, key) == 0)
			return &md->kv[i];
	if (!create)
		return NULL;
	ck_assert_uint_lt(md->n, MK_MAX);
	memset(&md->kv[md->n], 0, sizeof(md->kv[0]));
	snprintf(md->kv[md->n].key, sizeof(md->kv[0].key), "%s", key);
	return &md->kv[md->n++];
}

static struct msess *model_sess(struct model *md, const char *id)
{
	for (int i = 0; i < MS_MAX; i++)
		if (md->s[i].live && strcmp(md->s[i].id, id) == 0)
			return &md->s[i];
	return NULL;
}

/* kvsSetTxn in the model. */
static void model_set(struct model *md, uint64_t idx, const char *key, const char *val,
                      uint64_t flags, const char *session, bool update_session, uint64_t lock_index)
{
	struct mkv *e = model_find(md, key, true);
	char sess[8], v[8];

	/* Copies first: the arguments may point into e. */
	snprintf(sess, sizeof(sess), "%s", update_session ? session : (e->live ? e->session : ""));
	snprintf(v, sizeof(v), "%s", val);
	val = v;
	if (e->live && strcmp(e->val, val) == 0 && e->flags == flags &&
	    strcmp(e->session, sess) == 0 && e->lock_index == lock_index)
		return;
	if (!e->live)
		e->create = idx;
	snprintf(e->session, sizeof(e->session), "%s", sess);
	snprintf(e->val, sizeof(e->val), "%s", val);
	e->flags = flags;
	e->lock_index = lock_index;
	e->modify = idx;
	e->live = true;
	md->kvs_ix = idx;
}

static void model_delete(struct model *md, uint64_t idx, const char *key)
{
	struct mkv *e = model_find(md, key, false);

	if (e == NULL || !e->live)
		return;
	e->live = false;
	e->tomb = idx;
	md->kvs_ix = idx;
	md->tomb_ix = idx;
}

static void random_kv_key(char *k)
{
	static const char *const keys[] = {"a", "a/b", "a/c", "ab", "b", "b/a/c", "c", "a/b/c"};

	strcpy(k, keys[rng() % 8]);
}

static void random_val(char *v)
{
	static const char *const vals[] = {"", "x", "y", "xy"};

	strcpy(v, vals[rng() % 4]);
}

static const char *fsm_xdesc(const struct msg_kv_entry *e)
{
	static char d[128];

	snprintf(d, sizeof(d),
	         "v '%.*s' f %" PRIu64 " ci %" PRIu64 " mi %" PRIu64 " li %" PRIu64 " sess '%s'",
	         (int)e->value.len, e->value.p != NULL ? (const char *)e->value.p : "", e->flags,
	         e->create_index, e->modify_index, e->lock_index, e->session);
	return d;
}

static void check_model(struct h *h, struct model *md, uint64_t seed, int step)
{
	static const char *const prefixes[] = {"", "a", "a/", "a/b", "b/", "c", "zz"};
	const struct msg *r;
	size_t live = 0;

	for (size_t i = 0; i < md->n; i++) {
		struct mkv *m = &md->kv[i];
		const struct msg_kv_entry *e = kv_one(h, m->key);

		if (!m->live) {
			if (e != NULL)
				ck_abort_msg("seed %" PRIu64 " step %d: %s should be gone", seed,
				             step, m->key);
			continue;
		}
		live++;
		if (e == NULL || e->value.len != strlen(m->val) ||
		    (e->value.len > 0 && memcmp(e->value.p, m->val, e->value.len) != 0) ||
		    e->flags != m->flags || strcmp(e->session, m->session) != 0 ||
		    e->lock_index != m->lock_index || e->create_index != m->create ||
		    e->modify_index != m->modify)
			ck_abort_msg(
			    "seed %" PRIu64 " step %d: %s differs (model v '%s' f %" PRIu64
			    " ci %" PRIu64 " mi %" PRIu64 " li %" PRIu64 " sess '%s'; fsm %s)",
			    seed, step, m->key, m->val, m->flags, m->create, m->modify,
			    m->lock_index, m->session, e == NULL ? "missing" : fsm_xdesc(e));
	}
	r = kv_get(h, "", true, false, NULL, NULL);
	if (r->u.kv_get_reply.entries.n != live)
		ck_abort_msg("seed %" PRIu64 " step %d: %u live, model %zu", seed, step,
		             r->u.kv_get_reply.entries.n, live);
	for (uint32_t i = 1; i < r->u.kv_get_reply.entries.n; i++)
		if (strcmp(r->u.kv_get_reply.entries.v[i - 1].key,
		           r->u.kv_get_reply.entries.v[i].key) >= 0)
			ck_abort_msg("seed %" PRIu64 " step %d: listing out of order", seed, step);
	for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
		const char *pre = prefixes[p];
		uint64_t want = 0, table = md->kvs_ix > md->tomb_ix ? md->kvs_ix : md->tomb_ix;

		for (size_t i = 0; i < md->n; i++) {
			const struct mkv *m = &md->kv[i];

			if (strncmp(m->key, pre, strlen(pre)) != 0)
				continue;
			if (m->live && m->modify > want)
				want = m->modify;
			if (m->tomb > want)
				want = m->tomb;
		}
		if (pre[0] == '\0' || want == 0)
			want = table;
		if (want == 0)
			want = 1;
		r = kv_get(h, pre, true, false, NULL, NULL);
		if (r->u.kv_get_reply.meta.index != want)
			ck_abort_msg("seed %" PRIu64 " step %d: prefix '%s' index %" PRIu64
			             ", model %" PRIu64,
			             seed, step, pre, r->u.kv_get_reply.meta.index, want);
	}
}

START_TEST(test_kv_model_random)
{
	uint64_t seed = test_seed() + (uint64_t)_i;
	struct model *md = calloc(1, sizeof(*md));
	struct h h;
	int step;

	rng_state = seed;
	h_init(&h);
	reg_node(&h, "n1");
	md->kvs_ix = md->tomb_ix = 0;
	for (step = 0; step < 1500; step++) {
		char key[8], val[8], sid[8];
		unsigned op = (unsigned)(rng() % 100);
		uint64_t flags = rng() % 3, idx = h.index + 1;
		const struct msg *r;
		struct mkv *e;

		random_kv_key(key);
		random_val(val);
		snprintf(sid, sizeof(sid), "s%d", (int)(rng() % MS_MAX));
		e = model_find(md, key, false);
		if (e != NULL && !e->live)
			e = NULL;
		if (op < 20) {
			r = kv_put(&h, "set", key, val, flags, 0, NULL);
			expect_write(r, true);
			model_set(md, idx, key, val, flags, "", false, 0);
		} else if (op < 32) {
			uint64_t cas =
			    rng() % 3 == 0 ? 0 : (e != NULL && rng() % 2 ? e->modify : rng() % idx);
			bool want = cas == 0 ? e == NULL : (e != NULL && e->modify == cas);

			r = kv_put(&h, "cas", key, val, flags, cas, NULL);
			if (r->type != MSG_WRITE_REPLY || r->u.write_reply.ok != want)
				ck_abort_msg("seed %" PRIu64 " step %d: cas %s %" PRIu64, seed,
				             step, key, cas);
			if (want)
				model_set(md, idx, key, val, flags, "", false, 0);
		} else if (op < 40) {
			r = kv_del(&h, key, false, false, 0);
			expect_write(r, true);
			model_delete(md, idx, key);
		} else if (op < 44) {
			char pre[8];

			snprintf(pre, sizeof(pre), "%.*s", (int)(rng() % 3), key);
			expect_write(kv_del(&h, pre, true, false, 0), true);
			for (size_t i = 0; i < md->n; i++)
				if (md->kv[i].live && strncmp(md->kv[i].key, pre, strlen(pre)) == 0)
					model_delete(md, idx, md->kv[i].key);
		} else if (op < 50) {
			uint64_t cas = e != NULL && rng() % 2 ? e->modify : rng() % idx;
			bool want = e == NULL || e->modify == cas;

			r = kv_del(&h, key, false, true, cas);
			if (r->type != MSG_WRITE_REPLY || r->u.write_reply.ok != want)
				ck_abort_msg("seed %" PRIu64 " step %d: delete-cas %s", seed, step,
				             key);
			if (want)
				model_delete(md, idx, key);
		} else if (op < 70) {
			struct msess *s = model_sess(md, sid);

			r = kv_put(&h, "acquire", key, val, flags, 0, sid);
			if (s == NULL) {
				ck_assert_int_eq(r->type, MSG_RESULT);
				ck_assert_uint_eq(r->u.result.status, 500);
			} else {
				bool want = e == NULL || e->session[0] == '\0' ||
				            strcmp(e->session, sid) == 0;
				uint64_t li = e == NULL                      ? 1
				              : strcmp(e->session, sid) == 0 ? e->lock_index
				                                             : e->lock_index + 1;

				if (r->type != MSG_WRITE_REPLY || r->u.write_reply.ok != want)
					ck_abort_msg("seed %" PRIu64 " step %d: acquire %s by %s",
					             seed, step, key, sid);
				if (want)
					model_set(md, idx, key, val, flags, sid, true, li);
			}
		} else if (op < 82) {
			bool want = e != NULL && strcmp(e->session, sid) == 0;

			r = kv_put(&h, "release", key, val, flags, 0, sid);
			if (r->type != MSG_WRITE_REPLY || r->u.write_reply.ok != want)
				ck_abort_msg("seed %" PRIu64 " step %d: release %s by %s", seed,
				             step, key, sid);
			if (want)
				model_set(md, idx, key, val, flags, "", true, e->lock_index);
		} else if (op < 91) {
			struct msess *s = model_sess(md, sid);
			bool del = rng() % 2;
			uint64_t delay = rng() % 3 * 1000;

			if (s != NULL)
				continue;
			expect_write(sess_create(&h, sid, "n1", del ? "delete" : "release",
			                         delay * 1000000, NULL, NULL),
			             true);
			for (int i = 0; i < MS_MAX; i++) {
				if (!md->s[i].live) {
					snprintf(md->s[i].id, sizeof(md->s[i].id), "%s", sid);
					md->s[i].live = true;
					md->s[i].del = del;
					md->s[i].delay_ms = delay;
					break;
				}
			}
		} else {
			struct msess *s = model_sess(md, sid);

			expect_write(sess_destroy(&h, sid), true);
			if (s == NULL)
				continue;
			s->live = false;
			for (size_t i = 0; i < md->n; i++) {
				struct mkv *m = &md->kv[i];

				if (!m->live || strcmp(m->session, sid) != 0)
					continue;
				if (s->del)
					model_delete(md, idx, m->key);
				else
					model_set(md, idx, m->key, m->val, m->flags, "", true,
					          m->lock_index);
				if (s->delay_ms > 0 && !fsm_kv_lock_delayed(h.f, m->key, h.now))
					ck_abort_msg("seed %" PRIu64
					             " step %d: no lock delay on %s",
					             seed, step, m->key);
			}
		}
		if (step % 10 == 0)
			check_model(&h, md, seed, step);
		h.now += 10;
	}
	check_model(&h, md, seed, step);
	h_fini(&h);
	free(md);
}
END_TEST

/* ---- persistence ---- */

/* A store stand-in: what fsm_writes() would leave in RocksDB. */
static void store_take(struct omap *store, struct fsm *f)
{
	size_t n;
	const struct fsm_write *w = fsm_writes(f, &n);

	for (size_t i = 0; i < n; i++) {
		char *k = malloc(w[i].klen + 3);

		ck_assert_uint_eq(strlen(w[i].key), w[i].klen);
		k[0] = (char)('0' + w[i].table);
		memcpy(k + 1, w[i].key, w[i].klen + 1);
		if (w[i].del) {
			omap_del(store, k, NULL);
		} else {
			struct buf *b = calloc(1, sizeof(*b));

			buf_init(b, w[i].val.len + 1);
			buf_append(b, w[i].val.p, w[i].val.len);
			ck_assert_int_ge(omap_put(store, k, b, NULL), 0);
		}
		free(k);
	}
	fsm_changes_clear(f);
}

static void buf_free_cb(void *p)
{
	buf_fini(p);
	free(p);
}

static void store_load(struct omap *store, struct fsm *f)
{
	for (struct omap_node *n = omap_first(store); n != NULL; n = omap_next(n)) {
		const char *k = omap_key(n);
		const struct buf *b = omap_val(n);

		ck_assert_int_eq(
		    fsm_load(f, (enum fsm_table)(k[0] - '0'), k + 1, strlen(k + 1), b->p, b->len),
		    0);
	}
}

/* Both fsms answer q byte for byte the same. */
static void same_answer(struct fsm *a, struct fsm *b, struct msg *q, uint64_t seed)
{
	struct msg qa, ra = {0}, rb = {0};
	struct fsm_watchset wa = {0}, wb = {0};
	struct buf ba, bb;

	ck_assert_int_eq(msg_copy(&qa, q), 0);
	fsm_query(a, &qa, &ra, &wa);
	fsm_query(b, &qa, &rb, &wb);
	buf_init(&ba, 64u << 20);
	buf_init(&bb, 64u << 20);
	ck_assert_int_eq(msg_encode(&ra, &ba), 0);
	ck_assert_int_eq(msg_encode(&rb, &bb), 0);
	if (ba.len != bb.len || memcmp(ba.p, bb.p, ba.len) != 0 || wa.n != wb.n)
		ck_abort_msg("seed %" PRIu64 ": %s answered differently after a reload", seed,
		             msg_type_name(q->type));
	buf_fini(&ba);
	buf_fini(&bb);
	msg_free(&qa);
	msg_free(&ra);
	msg_free(&rb);
	fsm_watchset_fini(&wa);
	fsm_watchset_fini(&wb);
	msg_free(q);
}

static const char *pick(const char *const *v, size_t n)
{
	return v[rng() % n];
}

/* One random command over a small world of names. */
static void random_cmd(struct h *h)
{
	static const char *const nodes[] = {"n0", "n1", "N1", "n2"};
	static const char *const svcs[] = {"web", "db", "api"};
	static const char *const statuses[] = {"passing", "warning", "critical", ""};
	static const char *const keys[] = {"a", "a/b", "a/c", "b", "b/c/d"};
	static const char *const sids[] = {"s0", "s1", "s2"};
	unsigned op = (unsigned)(rng() % 100);
	const char *node = pick(nodes, 4), *svc = pick(svcs, 3);

	if (op < 15) {
		struct msg m = {.type = MSG_CATALOG_REGISTER};
		struct msg_catalog_register *r = &m.u.catalog_register;

		r->node.node = S(node);
		r->node.address = S(rng() % 2 ? "10.0.0.1" : "10.0.0.2");
		if (rng() % 2)
			strmap_add(&r->node.meta, "env", rng() % 2 ? "prod" : "dev");
		if (rng() % 2) {
			char id[16];

			snprintf(id, sizeof(id), "%s-%d", svc, (int)(rng() % 2));
			r->has_service = true;
			r->service.service = S(svc);
			r->service.id = S(id);
			if (rng() % 2)
				strlist_add(&r->service.tags, rng() % 2 ? "v1" : "V2");
		}
		if (rng() % 2) {
			r->checks.v = calloc(1, sizeof(*r->checks.v));
			r->checks.n = 1;
			r->checks.v[0].check_id = S(rng() % 2 ? "serfHealth" : "extra");
			r->checks.v[0].status = S(pick(statuses, 4));
			if (r->has_service && rng() % 2) {
				free(r->checks.v[0].check_id);
				r->checks.v[0].check_id = S("svc-check");
				r->checks.v[0].service_id = S(r->service.id);
			}
		}
		h_apply(h, &m);
	} else if (op < 22) {
		int what = (int)(rng() % 3);
		char id[16];

		snprintf(id, sizeof(id), "%s-%d", svc, (int)(rng() % 2));
		dereg(h, node, what == 1 ? id : NULL, what == 2 ? "serfHealth" : NULL);
	} else if (op < 30) {
		sess_create(h, pick(sids, 3), node, rng() % 2 ? "delete" : "release",
		            rng() % 2 * 1000000000ull, rng() % 2 ? "serfHealth" : NULL,
		            rng() % 2 ? "15s" : NULL);
	} else if (op < 35) {
		sess_destroy(h, pick(sids, 3));
	} else if (op < 55) {
		kv_put(h, "set", pick(keys, 5), rng() % 2 ? "x" : "y", rng() % 2, 0, NULL);
	} else if (op < 70) {
		kv_put(h, "acquire", pick(keys, 5), "l", 0, 0, pick(sids, 3));
	} else if (op < 78) {
		kv_put(h, "release", pick(keys, 5), "r", 0, 0, pick(sids, 3));
	} else if (op < 88) {
		kv_del(h, pick(keys, 5), rng() % 4 == 0, false, 0);
	} else if (op < 92) {
		struct msg m = {.type = MSG_TOMBSTONE_REAP};

		m.u.tombstone_reap.index = h->index - rng() % 20;
		h_apply(h, &m);
	} else {
		struct msg m = {.type = MSG_TXN};
		struct msg_txn_op *o;

		txn_kv(&m, "set", pick(keys, 5), "t", 0, NULL);
		o = txn_add(&m, "Check", "set");
		o->check.node = S(node);
		o->check.check_id = S("serfHealth");
		o->check.status = S(pick(statuses, 4));
		if (rng() % 3 == 0)
			txn_kv(&m, "get", "nope", NULL, 0, NULL); /* fails: all rolled back */
		h_apply(h, &m);
	}
}

static void compare_all(struct fsm *a, struct fsm *b, uint64_t seed)
{
	static const char *const svcs[] = {"web", "db", "api", "none"};
	static const char *const nodes[] = {"n0", "n1", "n2"};
	static const char *const states[] = {"any", "passing", "warning", "critical"};
	static const char *const keys[] = {"a", "a/b", "a/c", "b", "b/c/d", "", "a/"};
	struct msg q;

	ck_assert_uint_eq(fsm_max_index(a), fsm_max_index(b));
	for (size_t i = 0; i < 7; i++) {
		for (int mode = 0; mode < 3; mode++) {
			if (mode == 0 && keys[i][0] == '\0')
				continue;
			q = (struct msg){.type = MSG_KV_GET};
			q.u.kv_get.key = S(keys[i]);
			q.u.kv_get.recurse = mode == 1;
			q.u.kv_get.keys_only = mode == 2;
			q.u.kv_get.separator = S("/");
			same_answer(a, b, &q, seed);
		}
	}
	q = (struct msg){.type = MSG_CATALOG_NODES};
	same_answer(a, b, &q, seed);
	q = (struct msg){.type = MSG_CATALOG_SERVICES};
	same_answer(a, b, &q, seed);
	for (size_t i = 0; i < 4; i++) {
		for (int mode = 0; mode < 3; mode++) {
			q = (struct msg){.type = MSG_SERVICE_NODES};
			q.u.service_nodes.service = S(svcs[i]);
			q.u.service_nodes.with_checks = mode > 0;
			q.u.service_nodes.passing = mode == 2;
			same_answer(a, b, &q, seed);
		}
		q = (struct msg){.type = MSG_HEALTH_CHECKS};
		q.u.health_checks.service = S(svcs[i]);
		same_answer(a, b, &q, seed);
		q = (struct msg){.type = MSG_HEALTH_CHECKS};
		q.u.health_checks.state = S(states[i]);
		same_answer(a, b, &q, seed);
	}
	for (size_t i = 0; i < 3; i++) {
		q = (struct msg){.type = MSG_CATALOG_NODE};
		q.u.catalog_node.node = S(nodes[i]);
		same_answer(a, b, &q, seed);
		q = (struct msg){.type = MSG_HEALTH_CHECKS};
		q.u.health_checks.node = S(nodes[i]);
		same_answer(a, b, &q, seed);
		q = (struct msg){.type = MSG_SESSION_QUERY};
		q.u.session_query.node = S(nodes[i]);
		same_answer(a, b, &q, seed);
	}
	q = (struct msg){.type = MSG_SESSION_QUERY};
	same_answer(a, b, &q, seed);
}

START_TEST(test_persistence_round_trip)
{
	uint64_t seed = test_seed() ^ ((uint64_t)_i << 32);
	struct omap *store = omap_new(buf_free_cb);
	struct h h, h2;
	struct fsm *loaded;

	rng_state = seed;
	h_init(&h);
	for (int step = 0; step < 600; step++) {
		random_cmd(&h);
		/* Persist after each apply, or after a few (a batch). */
		if (rng() % 3 == 0)
			store_take(store, h.f);
	}
	store_take(store, h.f);
	loaded = fsm_new();
	store_load(store, loaded);
	compare_all(h.f, loaded, seed);
	/* The reloaded fsm keeps answering the same under more commands
	 * (its secondary indexes were rebuilt). */
	h2 = h;
	h2.f = loaded;
	memset(&h2.reply, 0, sizeof(h2.reply));
	for (int step = 0; step < 200; step++) {
		uint64_t state = rng_state;
		struct buf ba, bb;

		random_cmd(&h);
		rng_state = state;
		random_cmd(&h2);
		buf_init(&ba, 64u << 20);
		buf_init(&bb, 64u << 20);
		msg_encode(&h.reply, &ba);
		msg_encode(&h2.reply, &bb);
		if (ba.len != bb.len || memcmp(ba.p, bb.p, ba.len) != 0)
			ck_abort_msg("seed %" PRIu64 " step %d: replies differ after reload", seed,
			             step);
		buf_fini(&ba);
		buf_fini(&bb);
	}
	compare_all(h.f, loaded, seed);
	/* And the writes of those commands reload too. */
	store_take(store, h.f);
	fsm_changes_clear(loaded);
	{
		struct fsm *again = fsm_new();

		store_load(store, again);
		compare_all(h.f, again, seed);
		fsm_free(again);
	}
	msg_free(&h2.reply);
	h_fini(&h);
	fsm_free(loaded);
	omap_free(store);
}
END_TEST

/* Review regressions. */

START_TEST(test_deregister_service_wins_over_check)
{
	/* Consul's applyDeregister: ServiceID, else CheckID, else the node; a
	 * CheckID sent with a ServiceID is not looked at. */
	struct h h;
	struct reg_check c = {.id = "mem", .name = "mem", .status = "passing"};

	h_init(&h);
	expect_write(reg(&h, "n1", "10.0.0.1", "web", "web", NULL, &c, 1), true);
	expect_write(dereg(&h, "n1", "web", "mem"), true);
	ck_assert_uint_eq(
	    service_nodes(&h, "web", NULL, false, false, NULL)->u.service_nodes_reply.entries.n, 0);
	ck_assert_ptr_nonnull(fsm_check_get(h.f, "n1", "mem"));
	h_fini(&h);
}
END_TEST

START_TEST(test_txn_kv_missing_key)
{
	/* Consul's kvsPreApply (Txn.Apply and Txn.Read): a KV op on an empty
	 * key is refused with "Must provide key", except delete-tree. */
	struct h h;
	struct msg m = {.type = MSG_TXN};
	const struct msg_txn_reply *tr;

	h_init(&h);
	kv_set(&h, "a", "1");
	txn_kv(&m, "set", "", "v", 0, NULL);
	h_apply(&h, &m);
	ck_assert_int_eq(h.reply.type, MSG_TXN_REPLY);
	tr = &h.reply.u.txn_reply;
	ck_assert(!tr->ok);
	ck_assert_uint_eq(tr->errors.n, 1);
	ck_assert_uint_eq(tr->errors.v[0].op_index, 0);
	ck_assert_str_eq(tr->errors.v[0].what, "Must provide key");
	ck_assert_uint_eq(kv_get(&h, "", true, false, NULL, NULL)->u.kv_get_reply.entries.n, 1);
	/* read-only: the same refusal */
	m = (struct msg){.type = MSG_TXN};
	txn_kv(&m, "get", "", NULL, 0, NULL);
	ck_assert_int_eq(h_query(&h, &m, NULL), 0);
	ck_assert(!h.reply.u.txn_reply.ok);
	ck_assert_str_eq(h.reply.u.txn_reply.errors.v[0].what, "Must provide key");
	/* delete-tree of "" deletes everything */
	m = (struct msg){.type = MSG_TXN};
	txn_kv(&m, "delete-tree", "", NULL, 0, NULL);
	h_apply(&h, &m);
	ck_assert(h.reply.u.txn_reply.ok);
	ck_assert_ptr_null(kv_one(&h, "a"));
	h_fini(&h);
}
END_TEST

START_TEST(test_service_name_with_separator)
{
	/* A name holding the key separator names no service: it must not
	 * match another service's instances on a node by prefix. */
	struct h h;
	struct reg_check c = {.id = "hc", .name = "hc", .status = "passing", .service_id = "web"};

	h_init(&h);
	expect_write(reg(&h, "n1", "10.0.0.1", "web", "web", NULL, &c, 1), true);
	ck_assert_uint_eq(
	    service_nodes(&h, "web", NULL, false, false, NULL)->u.service_nodes_reply.entries.n, 1);
	ck_assert_uint_eq(service_nodes(&h, "web\x1fn1", NULL, false, false, NULL)
	                      ->u.service_nodes_reply.entries.n,
	                  0);
	ck_assert_uint_eq(health_checks(&h, NULL, "web", NULL)->u.checks_reply.checks.n, 1);
	ck_assert_uint_eq(health_checks(&h, NULL, "web\x1fn1", NULL)->u.checks_reply.checks.n, 0);
	h_fini(&h);
}
END_TEST

static Suite *fsm_suite(void)
{
	Suite *s = suite_create("fsm");
	TCase *tc;

	tc = tcase_create("kv");
	tcase_add_test(tc, test_kv_set_get);
	tcase_add_test(tc, test_kv_noop_write);
	tcase_add_test(tc, test_kv_cas);
	tcase_add_test(tc, test_kv_errors);
	tcase_add_test(tc, test_kv_delete_and_tombstones);
	tcase_add_test(tc, test_kv_keys_separator);
	tcase_add_test(tc, test_kv_reap);
	tcase_add_test(tc, test_kv_locks);
	suite_add_tcase(s, tc);
	tc = tcase_create("session");
	tcase_add_test(tc, test_session_invalidate_release);
	tcase_add_test(tc, test_session_invalidate_delete);
	tcase_add_test(tc, test_session_create_validation);
	tcase_add_test(tc, test_session_invalidation_by_catalog);
	suite_add_tcase(s, tc);
	tc = tcase_create("catalog");
	tcase_add_test(tc, test_catalog_register_errors);
	tcase_add_test(tc, test_catalog_register_indexes);
	tcase_add_test(tc, test_catalog_reads);
	tcase_add_test(tc, test_catalog_node_id);
	tcase_add_test(tc, test_deregister_service_wins_over_check);
	tcase_add_test(tc, test_service_name_with_separator);
	suite_add_tcase(s, tc);
	tc = tcase_create("txn");
	tcase_add_test(tc, test_txn);
	tcase_add_test(tc, test_txn_invalidation_rollback);
	tcase_add_test(tc, test_txn_kv_missing_key);
	tcase_add_test(tc, test_misc_api);
	tcase_add_test(tc, test_writes_format);
	suite_add_tcase(s, tc);
	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_kv_model_random, 0, 6);
	tcase_add_loop_test(tc, test_persistence_round_trip, 0, 6);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(fsm_suite());
}

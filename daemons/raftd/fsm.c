/* fsm.c: raftd's state machine: tables, undo log, changes, load, apply and query dispatch. */
#include "fsm_int.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"

static const char *const fsm_table_names[FSM_T_COUNT] = {
    [FSM_T_KV] = "kv",         [FSM_T_TOMB] = "tomb",
    [FSM_T_NODES] = "nodes",   [FSM_T_SERVICES] = "services",
    [FSM_T_CHECKS] = "checks", [FSM_T_SESSIONS] = "sessions",
    [FSM_T_INDEX] = "index",
};

const char *fsm_table_name(enum fsm_table t)
{
	return (unsigned)t < FSM_T_COUNT ? fsm_table_names[t] : "?";
}

/* ---- memory and strings ---- */

void fsm_oom(void)
{
	log_errorx("fsm: out of memory, aborting (the log is replayed on restart)");
	abort();
}

void *fsm_grow(void *v, size_t n, size_t size)
{
	char *p = v;

	if (n == 0 || (n & (n - 1)) == 0) {
		size_t cap = n == 0 ? 1 : 2 * n;

		p = realloc(v, cap * size);
		if (p == NULL)
			fsm_oom();
	}
	memset(p + n * size, 0, size);
	return p;
}

static size_t fsm_lower_into(char *dst, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		dst[i] = (char)tolower((unsigned char)s[i]);
	return i;
}

char *fsm_lkey(const char *a, const char *b, const char *c)
{
	const char *parts[3] = {a, b, c};
	size_t len = 0, off = 0;
	char *k;
	int i;

	for (i = 0; i < 3; i++)
		if (parts[i] != NULL)
			len += strlen(parts[i]) + 1;
	k = xmalloc(len + 1);
	for (i = 0; i < 3; i++) {
		if (parts[i] == NULL)
			continue;
		if (off > 0)
			k[off++] = FSM_SEP_C;
		off += fsm_lower_into(k + off, parts[i]);
	}
	k[off] = '\0';
	return k;
}

char *fsm_jkey(const char *a, const char *b)
{
	return xasprintf("%s" FSM_SEP "%s", a, b);
}

bool fsm_eqfold(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

bool fsm_has_sep(const char *s)
{
	return s != NULL && strchr(s, FSM_SEP_C) != NULL;
}

void fsm_vec_push(struct fsm_vec *v, const char *s)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 8;
		v->v = realloc(v->v, v->cap * sizeof(*v->v));
		if (v->v == NULL)
			fsm_oom();
	}
	v->v[v->n++] = xstrdup(s);
}

void fsm_vec_free(struct fsm_vec *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	memset(v, 0, sizeof(*v));
}

void fsm_err_set(struct fsm_err *e, uint64_t status, const char *fmt, ...)
{
	va_list ap;
	int r;

	free(e->what);
	e->status = status;
	va_start(ap, fmt);
	r = vasprintf(&e->what, fmt, ap);
	va_end(ap);
	if (r < 0)
		fsm_oom();
}

void fsm_err_fini(struct fsm_err *e)
{
	free(e->what);
	e->what = NULL;
}

uint64_t fsm_max3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t m = a > b ? a : b;

	return m > c ? m : c;
}

/* ---- string sets ---- */

static void fsm_strset_init(struct fsm_strset *s)
{
	memset(s, 0, sizeof(*s));
	s->set = omap_new(NULL);
	if (s->set == NULL)
		fsm_oom();
}

static void fsm_strset_add(struct fsm_strset *s, const char *k)
{
	if (omap_find(s->set, k) != NULL)
		return;
	if (omap_put(s->set, k, NULL, NULL) < 0)
		fsm_oom();
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (s->v == NULL)
			fsm_oom();
	}
	s->v[s->n++] = xstrdup(k);
}

static void fsm_strset_truncate(struct fsm_strset *s, size_t mark)
{
	while (s->n > mark) {
		s->n--;
		omap_del(s->set, s->v[s->n], NULL);
		free(s->v[s->n]);
	}
}

static void fsm_strset_fini(struct fsm_strset *s)
{
	fsm_strset_truncate(s, 0);
	free(s->v);
	omap_free(s->set);
	memset(s, 0, sizeof(*s));
}

/* ---- records ---- */

static void fsm_rec_free(enum fsm_table t, void *p)
{
	if (p == NULL)
		return;
	switch (t) {
	case FSM_T_KV:
		msg_rec_free_kv_entry(p);
		break;
	case FSM_T_NODES:
		msg_rec_free_node(p);
		break;
	case FSM_T_SERVICES:
		msg_rec_free_service(p);
		break;
	case FSM_T_CHECKS:
		msg_rec_free_check(p);
		break;
	case FSM_T_SESSIONS:
		msg_rec_free_session(p);
		break;
	case FSM_T_TOMB:
	case FSM_T_INDEX:
	case FSM_T_COUNT:
		break;
	}
	free(p);
}

static void fsm_free_kv(void *p)
{
	fsm_rec_free(FSM_T_KV, p);
}
static void fsm_free_node(void *p)
{
	fsm_rec_free(FSM_T_NODES, p);
}
static void fsm_free_service(void *p)
{
	fsm_rec_free(FSM_T_SERVICES, p);
}
static void fsm_free_check(void *p)
{
	fsm_rec_free(FSM_T_CHECKS, p);
}
static void fsm_free_session(void *p)
{
	fsm_rec_free(FSM_T_SESSIONS, p);
}

static const omap_free_fn fsm_tab_free[FSM_T_COUNT] = {
    [FSM_T_KV] = fsm_free_kv,
    [FSM_T_TOMB] = free,
    [FSM_T_NODES] = fsm_free_node,
    [FSM_T_SERVICES] = fsm_free_service,
    [FSM_T_CHECKS] = fsm_free_check,
    [FSM_T_SESSIONS] = fsm_free_session,
    [FSM_T_INDEX] = free,
};

/* Encodes the record as it is persisted (abort when out of memory). */
static void fsm_rec_encode(enum fsm_table t, const void *p, struct buf *b)
{
	int rc = 0;

	switch (t) {
	case FSM_T_KV:
		rc = msg_rec_encode_kv_entry(p, b);
		break;
	case FSM_T_NODES:
		rc = msg_rec_encode_node(p, b);
		break;
	case FSM_T_SERVICES:
		rc = msg_rec_encode_service(p, b);
		break;
	case FSM_T_CHECKS:
		rc = msg_rec_encode_check(p, b);
		break;
	case FSM_T_SESSIONS:
		rc = msg_rec_encode_session(p, b);
		break;
	case FSM_T_TOMB:
	case FSM_T_INDEX:
		rc = buf_put_be64(b, *(const uint64_t *)p);
		break;
	case FSM_T_COUNT:
		rc = -1;
		break;
	}
	if (rc != 0 || b->err)
		fsm_oom();
}

/* Records compared without their indexes: encode both with indexes 0. */
#define FSM_SAME(rec, a, b)                                                                        \
	do {                                                                                       \
		struct msg_##rec x = *(a), y = *(b);                                               \
		struct buf bx, by;                                                                 \
		bool same;                                                                         \
                                                                                                   \
		x.create_index = x.modify_index = 0;                                               \
		y.create_index = y.modify_index = 0;                                               \
		buf_init(&bx, MSG_DECODE_MEM_MAX);                                                 \
		buf_init(&by, MSG_DECODE_MEM_MAX);                                                 \
		if (msg_rec_encode_##rec(&x, &bx) != 0 || msg_rec_encode_##rec(&y, &by) != 0)      \
			fsm_oom();                                                                 \
		same = bx.len == by.len && memcmp(bx.p, by.p, bx.len) == 0;                        \
		buf_fini(&bx);                                                                     \
		buf_fini(&by);                                                                     \
		return same;                                                                       \
	} while (0)

bool fsm_node_same(const struct msg_node *a, const struct msg_node *b)
{
	FSM_SAME(node, a, b);
}

bool fsm_service_same(const struct msg_service *a, const struct msg_service *b)
{
	FSM_SAME(service, a, b);
}

bool fsm_check_same(const struct msg_check *a, const struct msg_check *b)
{
	FSM_SAME(check, a, b);
}

void fsm_strmap_normalize(struct msg_strmap *m)
{
	uint32_t i, j, out = 0;

	/* Insertion sort: maps are small (node meta, tagged addresses). A
	 * repeated key keeps its last value, as a JSON object decoder does. */
	for (i = 1; i < m->n; i++) {
		char *k = m->k[i], *v = m->v[i];

		for (j = i; j > 0 && strcmp(m->k[j - 1], k) > 0; j--) {
			m->k[j] = m->k[j - 1];
			m->v[j] = m->v[j - 1];
		}
		m->k[j] = k;
		m->v[j] = v;
	}
	for (i = 0; i < m->n; i++) {
		if (out > 0 && strcmp(m->k[out - 1], m->k[i]) == 0) {
			/* Stable sort: i came later than out - 1. */
			free(m->k[out - 1]);
			free(m->v[out - 1]);
			out--;
		}
		m->k[out] = m->k[i];
		m->v[out] = m->v[i];
		out++;
	}
	m->n = out;
}

bool fsm_meta_match(const struct msg_strmap *meta, const struct msg_strmap *filter)
{
	for (uint32_t i = 0; i < filter->n; i++) {
		bool found = false;

		for (uint32_t j = 0; j < meta->n && !found; j++)
			found = strcmp(meta->k[j], filter->k[i]) == 0 &&
			        strcmp(meta->v[j], filter->v[i]) == 0;
		if (!found)
			return false;
	}
	return true;
}

bool fsm_is_any_addr(const char *a)
{
	/* Consul's ipaddr.IsAny. */
	return strcmp(a, "0.0.0.0") == 0 || strcmp(a, "::") == 0 || strcmp(a, "[::]") == 0;
}

/* ---- secondary indexes ---- */

static void fsm_sec_put(struct omap *m, char *key, void *rec)
{
	if (omap_put(m, key, rec, NULL) < 0)
		fsm_oom();
	free(key);
}

/* Removes key only when it still points at rec (two records may briefly
 * claim one secondary key, e.g. a node ID moving between nodes). */
static void fsm_sec_del(struct omap *m, char *key, const void *rec)
{
	struct omap_node *n = omap_find(m, key);

	if (n != NULL && omap_val(n) == rec)
		omap_del(m, key, NULL);
	free(key);
}

/* lower(a) [SEP lower(b)] SEP id: session IDs are kept as they are. */
static char *fsm_sess_key(const char *a, const char *b, const char *id)
{
	char *l = fsm_lkey(a, b, NULL), *k = fsm_jkey(l, id);

	free(l);
	return k;
}

static void fsm_sec_session(struct fsm *f, const struct msg_session *s, bool add)
{
	const struct msg_strlist *lists[2] = {&s->node_checks, &s->service_checks};

	if (add)
		fsm_sec_put(f->sess_by_node, fsm_sess_key(s->node, NULL, s->id), (void *)s);
	else
		fsm_sec_del(f->sess_by_node, fsm_sess_key(s->node, NULL, s->id), s);
	for (int l = 0; l < 2; l++) {
		for (uint32_t i = 0; i < lists[l]->n; i++) {
			char *k = fsm_sess_key(s->node, lists[l]->v[i], s->id);

			if (add)
				fsm_sec_put(f->sess_by_check, k, (void *)s);
			else
				fsm_sec_del(f->sess_by_check, k, s);
		}
	}
}

static void fsm_sec(struct fsm *f, enum fsm_table t, const char *key, const void *rec, bool add)
{
	switch (t) {
	case FSM_T_KV: {
		const struct msg_kv_entry *e = rec;

		if (e->session[0] == '\0')
			break;
		if (add)
			fsm_sec_put(f->kv_by_sess, fsm_jkey(e->session, key), (void *)e);
		else
			fsm_sec_del(f->kv_by_sess, fsm_jkey(e->session, key), e);
		break;
	}
	case FSM_T_NODES: {
		const struct msg_node *n = rec;

		if (n->id[0] == '\0')
			break;
		if (add)
			fsm_sec_put(f->node_by_id, fsm_lkey(n->id, NULL, NULL), (void *)n);
		else
			fsm_sec_del(f->node_by_id, fsm_lkey(n->id, NULL, NULL), n);
		break;
	}
	case FSM_T_SERVICES: {
		const struct msg_service *s = rec;
		char *k = fsm_lkey(s->service, key, NULL);

		if (add)
			fsm_sec_put(f->svc_by_name, k, (void *)s);
		else
			fsm_sec_del(f->svc_by_name, k, s);
		break;
	}
	case FSM_T_CHECKS: {
		const struct msg_check *c = rec;
		char *k1 = fsm_lkey(c->node, c->service_id, c->check_id);
		char *k2 = fsm_lkey(c->status, key, NULL);

		if (add) {
			fsm_sec_put(f->chk_by_svc, k1, (void *)c);
			fsm_sec_put(f->chk_by_status, k2, (void *)c);
		} else {
			fsm_sec_del(f->chk_by_svc, k1, c);
			fsm_sec_del(f->chk_by_status, k2, c);
		}
		break;
	}
	case FSM_T_SESSIONS:
		fsm_sec_session(f, rec, add);
		break;
	case FSM_T_TOMB:
	case FSM_T_INDEX:
	case FSM_T_COUNT:
		break;
	}
}

/* ---- tables ---- */

static void fsm_touch(struct fsm *f, enum fsm_table t, const char *key)
{
	char *k = xasprintf("%c%s", '0' + (int)t, key);

	if (omap_put(f->touched, k, NULL, NULL) < 0)
		fsm_oom();
	free(k);
}

void fsm_changed_key(struct fsm *f, const char *key)
{
	if (f->applying)
		fsm_strset_add(&f->keys, key);
}

void fsm_changed_session(struct fsm *f, const char *id)
{
	if (f->applying)
		fsm_strset_add(&f->sessions, id);
}

/* The change itself, without undo or change tracking. */
static void *fsm_tab_swap(struct fsm *f, enum fsm_table t, const char *key, void *rec)
{
	void *old = omap_get(f->tab[t], key);

	if (old != NULL)
		fsm_sec(f, t, key, old, false);
	if (rec != NULL) {
		if (omap_put(f->tab[t], key, rec, &old) < 0)
			fsm_oom();
		fsm_sec(f, t, key, rec, true);
		if (t == FSM_T_INDEX && *(uint64_t *)rec > f->max_index)
			f->max_index = *(uint64_t *)rec;
	} else {
		omap_del(f->tab[t], key, &old);
	}
	return old;
}

void fsm_tab_set(struct fsm *f, enum fsm_table t, const char *key, void *rec)
{
	void *old = fsm_tab_swap(f, t, key, rec);

	if (!f->applying) {
		fsm_rec_free(t, old);
		return;
	}
	if (f->n_undo == f->cap_undo) {
		f->cap_undo = f->cap_undo ? 2 * f->cap_undo : 32;
		f->undo = realloc(f->undo, f->cap_undo * sizeof(*f->undo));
		if (f->undo == NULL)
			fsm_oom();
	}
	f->undo[f->n_undo++] = (struct fsm_undo){.t = t, .key = xstrdup(key), .old = old};
	fsm_touch(f, t, key);
	if (t == FSM_T_KV) {
		char *w = xasprintf("k/%s", key);

		fsm_changed_key(f, w);
		free(w);
	} else if (t == FSM_T_INDEX) {
		fsm_changed_key(f, key);
	}
}

uint64_t fsm_index_get(const struct fsm *f, const char *name)
{
	const uint64_t *v = omap_get(f->tab[FSM_T_INDEX], name);

	return v != NULL ? *v : 0;
}

void fsm_index_bump(struct fsm *f, const char *name)
{
	uint64_t *v;

	if (fsm_index_get(f, name) == f->idx)
		return;
	v = xmalloc(sizeof(*v));
	*v = f->idx;
	fsm_tab_set(f, FSM_T_INDEX, name, v);
}

void fsm_index_del(struct fsm *f, const char *name)
{
	if (omap_find(f->tab[FSM_T_INDEX], name) != NULL)
		fsm_tab_set(f, FSM_T_INDEX, name, NULL);
}

void fsm_lock_delay_add(struct fsm *f, const char *key, uint64_t delay_ms)
{
	if (f->n_delays == f->cap_delays) {
		f->cap_delays = f->cap_delays ? 2 * f->cap_delays : 8;
		f->delays = realloc(f->delays, f->cap_delays * sizeof(*f->delays));
		if (f->delays == NULL)
			fsm_oom();
	}
	f->delays[f->n_delays++] =
	    (struct fsm_delay){.key = xstrdup(key), .until_ms = f->now_ms + delay_ms};
}

/* ---- lifecycle ---- */

static struct omap *fsm_omap(omap_free_fn fn)
{
	struct omap *m = omap_new(fn);

	if (m == NULL)
		fsm_oom();
	return m;
}

struct fsm *fsm_new(void)
{
	struct fsm *f = xcalloc(1, sizeof(*f));

	for (int t = 0; t < FSM_T_COUNT; t++)
		f->tab[t] = fsm_omap(fsm_tab_free[t]);
	f->kv_by_sess = fsm_omap(NULL);
	f->svc_by_name = fsm_omap(NULL);
	f->chk_by_svc = fsm_omap(NULL);
	f->chk_by_status = fsm_omap(NULL);
	f->sess_by_node = fsm_omap(NULL);
	f->sess_by_check = fsm_omap(NULL);
	f->node_by_id = fsm_omap(NULL);
	f->lock_delay = fsm_omap(free);
	f->touched = fsm_omap(NULL);
	f->dirty = fsm_omap(NULL);
	fsm_strset_init(&f->keys);
	fsm_strset_init(&f->sessions);
	return f;
}

static void fsm_state_clear(struct fsm *f)
{
	/* Secondaries first: they borrow the primaries' records. */
	omap_clear(f->kv_by_sess);
	omap_clear(f->svc_by_name);
	omap_clear(f->chk_by_svc);
	omap_clear(f->chk_by_status);
	omap_clear(f->sess_by_node);
	omap_clear(f->sess_by_check);
	omap_clear(f->node_by_id);
	omap_clear(f->lock_delay);
	for (int t = 0; t < FSM_T_COUNT; t++)
		omap_clear(f->tab[t]);
	f->max_index = 0;
}

void fsm_reset(struct fsm *f)
{
	fsm_state_clear(f);
	fsm_changes_clear(f);
}

void fsm_free(struct fsm *f)
{
	if (f == NULL)
		return;
	fsm_reset(f);
	for (int t = 0; t < FSM_T_COUNT; t++)
		omap_free(f->tab[t]);
	omap_free(f->kv_by_sess);
	omap_free(f->svc_by_name);
	omap_free(f->chk_by_svc);
	omap_free(f->chk_by_status);
	omap_free(f->sess_by_node);
	omap_free(f->sess_by_check);
	omap_free(f->node_by_id);
	omap_free(f->lock_delay);
	omap_free(f->touched);
	omap_free(f->dirty);
	fsm_strset_fini(&f->keys);
	fsm_strset_fini(&f->sessions);
	free(f->undo);
	free(f->delays);
	free(f->writes);
	free(f);
}

/* ---- loading ---- */

/* The key a record is stored under (NULL for KV/tomb/index). */
static char *fsm_rec_key(enum fsm_table t, const void *rec)
{
	switch (t) {
	case FSM_T_NODES:
		return fsm_lkey(((const struct msg_node *)rec)->node, NULL, NULL);
	case FSM_T_SERVICES: {
		const struct msg_service *s = rec;

		return fsm_lkey(s->node, s->id, NULL);
	}
	case FSM_T_CHECKS: {
		const struct msg_check *c = rec;

		return fsm_lkey(c->node, c->check_id, NULL);
	}
	case FSM_T_SESSIONS:
		return xstrdup(((const struct msg_session *)rec)->id);
	default:
		return NULL;
	}
}

int fsm_load(struct fsm *f, enum fsm_table t, const void *key, size_t klen, const void *val,
             size_t vlen)
{
	char *k;
	void *rec = NULL;
	enum msg_err e = MSG_OK;
	int rc = -1;

	if ((unsigned)t >= FSM_T_COUNT || memchr(key, '\0', klen) != NULL)
		return -1;
	k = xmalloc(klen + 1);
	memcpy(k, key, klen);
	k[klen] = '\0';
	switch (t) {
	case FSM_T_TOMB:
	case FSM_T_INDEX: {
		struct cur c;
		uint64_t *v;

		if (vlen != 8)
			goto out;
		cur_init(&c, val, vlen);
		v = xmalloc(sizeof(*v));
		*v = cur_be64(&c);
		rec = v;
		break;
	}
	case FSM_T_KV: {
		struct msg_kv_entry *r = xcalloc(1, sizeof(*r));

		e = msg_rec_decode_kv_entry(val, vlen, r);
		rec = r;
		if (e == MSG_OK && strcmp(r->key, k) != 0)
			e = MSG_EMALFORMED;
		break;
	}
	case FSM_T_NODES: {
		struct msg_node *r = xcalloc(1, sizeof(*r));

		e = msg_rec_decode_node(val, vlen, r);
		rec = r;
		break;
	}
	case FSM_T_SERVICES: {
		struct msg_service *r = xcalloc(1, sizeof(*r));

		e = msg_rec_decode_service(val, vlen, r);
		rec = r;
		break;
	}
	case FSM_T_CHECKS: {
		struct msg_check *r = xcalloc(1, sizeof(*r));

		e = msg_rec_decode_check(val, vlen, r);
		rec = r;
		break;
	}
	case FSM_T_SESSIONS: {
		struct msg_session *r = xcalloc(1, sizeof(*r));

		e = msg_rec_decode_session(val, vlen, r);
		rec = r;
		break;
	}
	case FSM_T_COUNT:
		goto out;
	}
	if (e == MSG_OK) {
		char *want = fsm_rec_key(t, rec);

		if (want != NULL && strcmp(want, k) != 0)
			e = MSG_EMALFORMED;
		free(want);
	}
	if (e != MSG_OK) {
		fsm_rec_free(t, rec);
		goto out;
	}
	fsm_tab_set(f, t, k, rec);
	rc = 0;
out:
	free(k);
	return rc;
}

/* ---- changes ---- */

static void fsm_write_fini(struct fsm_write *w)
{
	free(w->key);
	buf_fini(&w->val);
}

/* Turns the apply's touched keys into writes (the record as it now is). */
static void fsm_materialize(struct fsm *f)
{
	struct omap_node *n;

	for (n = omap_first(f->touched); n != NULL; n = omap_next(n)) {
		const char *tk = omap_key(n);
		enum fsm_table t = (enum fsm_table)(tk[0] - '0');
		const char *key = tk + 1;
		void *rec = omap_get(f->tab[t], key);
		struct omap_node *d = omap_find(f->dirty, tk);
		struct fsm_write *w;

		if (d != NULL) {
			w = &f->writes[(uintptr_t)omap_val(d) - 1];
			fsm_write_fini(w);
		} else {
			if (f->n_writes == f->cap_writes) {
				f->cap_writes = f->cap_writes ? 2 * f->cap_writes : 32;
				f->writes = realloc(f->writes, f->cap_writes * sizeof(*f->writes));
				if (f->writes == NULL)
					fsm_oom();
			}
			w = &f->writes[f->n_writes++];
			if (omap_put(f->dirty, tk, (void *)(uintptr_t)f->n_writes, NULL) < 0)
				fsm_oom();
		}
		memset(w, 0, sizeof(*w));
		w->table = t;
		w->key = xstrdup(key);
		w->klen = strlen(key);
		w->del = rec == NULL;
		buf_init(&w->val, MSG_DECODE_MEM_MAX);
		if (rec != NULL)
			fsm_rec_encode(t, rec, &w->val);
	}
	omap_clear(f->touched);
}

const struct fsm_write *fsm_writes(const struct fsm *f, size_t *n)
{
	*n = f->n_writes;
	return f->writes;
}

const char *const *fsm_changed_keys(const struct fsm *f, size_t *n)
{
	*n = f->keys.n;
	return (const char *const *)f->keys.v;
}

const char *const *fsm_changed_sessions(const struct fsm *f, size_t *n)
{
	*n = f->sessions.n;
	return (const char *const *)f->sessions.v;
}

void fsm_changes_clear(struct fsm *f)
{
	for (size_t i = 0; i < f->n_writes; i++)
		fsm_write_fini(&f->writes[i]);
	f->n_writes = 0;
	omap_clear(f->dirty);
	fsm_strset_truncate(&f->keys, 0);
	fsm_strset_truncate(&f->sessions, 0);
}

/* ---- one apply: begin, commit, roll back ---- */

static void fsm_begin(struct fsm *f, uint64_t index, uint64_t now_ms)
{
	f->applying = true;
	f->idx = index;
	f->now_ms = now_ms;
	f->max_index_mark = f->max_index;
	f->keys_mark = f->keys.n;
	f->sess_mark = f->sessions.n;
}

static void fsm_delays_commit(struct fsm *f)
{
	struct omap_node *n, *next;

	if (f->n_delays == 0)
		return;
	/* Drop lapsed delays so the map stays as small as the live ones. */
	for (n = omap_first(f->lock_delay); n != NULL; n = next) {
		next = omap_next(n);
		if (*(uint64_t *)omap_val(n) <= f->now_ms)
			omap_del(f->lock_delay, omap_key(n), NULL);
	}
	for (size_t i = 0; i < f->n_delays; i++) {
		uint64_t *v = xmalloc(sizeof(*v));

		*v = f->delays[i].until_ms;
		if (omap_put(f->lock_delay, f->delays[i].key, v, NULL) < 0)
			fsm_oom();
	}
}

static void fsm_end(struct fsm *f, bool commit)
{
	size_t i;

	if (commit) {
		for (i = 0; i < f->n_undo; i++) {
			fsm_rec_free(f->undo[i].t, f->undo[i].old);
			free(f->undo[i].key);
		}
		fsm_materialize(f);
		fsm_delays_commit(f);
	} else {
		for (i = f->n_undo; i-- > 0;) {
			struct fsm_undo *u = &f->undo[i];

			fsm_rec_free(u->t, fsm_tab_swap(f, u->t, u->key, u->old));
			free(u->key);
		}
		omap_clear(f->touched);
		fsm_strset_truncate(&f->keys, f->keys_mark);
		fsm_strset_truncate(&f->sessions, f->sess_mark);
		f->max_index = f->max_index_mark;
	}
	for (i = 0; i < f->n_delays; i++)
		free(f->delays[i].key);
	f->n_delays = 0;
	f->n_undo = 0;
	f->applying = false;
}

/* ---- replies ---- */

void fsm_reply_reset(struct msg *reply)
{
	uint64_t req_id = reply->req_id;

	msg_free(reply);
	memset(reply, 0, sizeof(*reply));
	reply->req_id = req_id;
}

void fsm_reply_result(struct msg *reply, uint64_t status, const char *what)
{
	fsm_reply_reset(reply);
	reply->type = MSG_RESULT;
	reply->u.result.status = status;
	reply->u.result.error = xstrdup(what);
}

void fsm_reply_err(struct msg *reply, const struct fsm_err *e)
{
	fsm_reply_result(reply, e->status, e->what != NULL ? e->what : "");
}

void fsm_reply_write(struct msg *reply, uint64_t index, bool ok, const char *id)
{
	reply->type = MSG_WRITE_REPLY;
	reply->u.write_reply.index = index;
	reply->u.write_reply.ok = ok;
	reply->u.write_reply.id = xstrdup(id);
}

/* ---- apply ---- */

bool fsm_is_write(const struct msg *m)
{
	switch (m->type) {
	case MSG_KV_PUT:
	case MSG_KV_DELETE:
	case MSG_CATALOG_REGISTER:
	case MSG_CATALOG_DEREGISTER:
	case MSG_SESSION_CREATE:
	case MSG_SESSION_DESTROY:
	case MSG_TOMBSTONE_REAP:
		return true;
	case MSG_TXN:
		return fsm_txn_is_write(&m->u.txn);
	default:
		return false;
	}
}

int fsm_apply(struct fsm *f, uint64_t index, const struct msg *cmd, uint64_t now_ms,
              struct msg *reply)
{
	int rc;

	assert(!f->applying);
	fsm_reply_reset(reply);
	if (!fsm_is_write(cmd)) {
		log_warnx("fsm: apply of %s at %" PRIu64 ", not a write", msg_type_name(cmd->type),
		          index);
		fsm_reply_result(reply, 400, "not a write");
		return -1;
	}
	fsm_begin(f, index, now_ms);
	switch (cmd->type) {
	case MSG_KV_PUT:
		rc = fsm_kv_apply_put(f, &cmd->u.kv_put, reply);
		break;
	case MSG_KV_DELETE:
		rc = fsm_kv_apply_delete(f, &cmd->u.kv_delete, reply);
		break;
	case MSG_TOMBSTONE_REAP:
		rc = fsm_kv_apply_reap(f, &cmd->u.tombstone_reap, reply);
		break;
	case MSG_CATALOG_REGISTER:
		rc = fsm_cat_apply_register(f, &cmd->u.catalog_register, reply);
		break;
	case MSG_CATALOG_DEREGISTER:
		rc = fsm_cat_apply_deregister(f, &cmd->u.catalog_deregister, reply);
		break;
	case MSG_SESSION_CREATE:
		rc = fsm_sess_apply_create(f, &cmd->u.session_create, reply);
		break;
	case MSG_SESSION_DESTROY:
		rc = fsm_sess_apply_destroy(f, &cmd->u.session_destroy, reply);
		break;
	case MSG_TXN:
		rc = fsm_txn_apply(f, &cmd->u.txn, reply);
		break;
	default:
		rc = -1;
		fsm_reply_result(reply, 400, "not a write");
		break;
	}
	fsm_end(f, rc == 0);
	return 0;
}

/* ---- reads ---- */

void fsm_watchset_fini(struct fsm_watchset *ws)
{
	if (ws == NULL)
		return;
	for (size_t i = 0; i < ws->n; i++)
		free(ws->keys[i]);
	free(ws->keys);
	memset(ws, 0, sizeof(*ws));
}

void fsm_watch(struct fsm_watchset *ws, const char *key)
{
	if (ws == NULL)
		return;
	for (size_t i = 0; i < ws->n; i++)
		if (strcmp(ws->keys[i], key) == 0)
			return;
	if (ws->n == ws->cap) {
		ws->cap = ws->cap ? 2 * ws->cap : 4;
		ws->keys = realloc(ws->keys, ws->cap * sizeof(*ws->keys));
		if (ws->keys == NULL)
			fsm_oom();
	}
	ws->keys[ws->n++] = xstrdup(key);
}

void fsm_watchf(struct fsm_watchset *ws, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	if (ws == NULL)
		return;
	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		fsm_oom();
	fsm_watch(ws, s);
	free(s);
}

int fsm_query(const struct fsm *f, const struct msg *req, struct msg *reply,
              struct fsm_watchset *ws)
{
	fsm_reply_reset(reply);
	switch (req->type) {
	case MSG_KV_GET:
		return fsm_kv_query(f, &req->u.kv_get, reply, ws);
	case MSG_CATALOG_NODES:
		return fsm_cat_query_nodes(f, &req->u.catalog_nodes, reply, ws);
	case MSG_CATALOG_SERVICES:
		return fsm_cat_query_services(f, &req->u.catalog_services, reply, ws);
	case MSG_SERVICE_NODES:
		return fsm_cat_query_service_nodes(f, &req->u.service_nodes, reply, ws);
	case MSG_CATALOG_NODE:
		return fsm_cat_query_node(f, &req->u.catalog_node, reply, ws);
	case MSG_HEALTH_CHECKS:
		return fsm_cat_query_checks(f, &req->u.health_checks, reply, ws);
	case MSG_SESSION_QUERY:
		return fsm_sess_query(f, &req->u.session_query, reply, ws);
	case MSG_TXN:
		if (fsm_txn_is_write(&req->u.txn)) {
			fsm_reply_result(reply, 400, "txn with writes is not a read");
			return -1;
		}
		return fsm_txn_query(f, &req->u.txn, reply);
	default:
		fsm_reply_result(reply, 400, "not a read");
		return -1;
	}
}

/* ---- what the leader checks ---- */

bool fsm_kv_lock_delayed(const struct fsm *f, const char *key, uint64_t now_ms)
{
	const uint64_t *until = omap_get(f->lock_delay, key);

	return until != NULL && *until > now_ms;
}

uint64_t fsm_session_ttl_ms(const struct fsm *f, const char *id)
{
	const struct msg_session *s = omap_get(f->tab[FSM_T_SESSIONS], id);
	uint64_t ms = 0;
	const char *why;

	if (s == NULL || s->ttl[0] == '\0')
		return 0;
	if (conf_dur_parse(s->ttl, &ms, &why) != 0)
		return 0;
	return ms;
}

bool fsm_session_exists(const struct fsm *f, const char *id)
{
	return omap_find(f->tab[FSM_T_SESSIONS], id) != NULL;
}

void fsm_session_foreach(const struct fsm *f, void (*cb)(const char *id, void *arg), void *arg)
{
	for (struct omap_node *n = omap_first(f->tab[FSM_T_SESSIONS]); n != NULL; n = omap_next(n))
		cb(omap_key(n), arg);
}

const struct msg_node *fsm_node_get(const struct fsm *f, const char *name)
{
	char *k = fsm_lkey(name, NULL, NULL);
	const struct msg_node *n = omap_get(f->tab[FSM_T_NODES], k);

	free(k);
	return n;
}

const struct msg_service *fsm_service_get(const struct fsm *f, const char *node, const char *id)
{
	char *k = fsm_lkey(node, id, NULL);
	const struct msg_service *s = omap_get(f->tab[FSM_T_SERVICES], k);

	free(k);
	return s;
}

const struct msg_check *fsm_check_get(const struct fsm *f, const char *node, const char *check_id)
{
	char *k = fsm_lkey(node, check_id, NULL);
	const struct msg_check *c = omap_get(f->tab[FSM_T_CHECKS], k);

	free(k);
	return c;
}

uint64_t fsm_max_index(const struct fsm *f)
{
	return f->max_index;
}

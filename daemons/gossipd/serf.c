/* serf.c: the Serf layer over the swim core as a pure state machine (spec §4.4). */
#include "daemons/gossipd/serf.h"
#include "prng.h"

#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "gofmt.h"
#include "omap.h"
#include "xalloc.h"

/*
 * What serf/serf.go and delegate.go do, step by step; goroutines become deadlines run by
 * serf_tick(). Members are kept by name with serf's status; serf's failedMembers and
 * leftMembers lists are the members with those statuses (name order, so that a seeded PRNG
 * picks deterministically).
 */

#define ENC_MAX (1u << 20)  /* one encoded message (push-pull states are bigger: PP_MAX) */
#define PP_MAX  (20u << 20) /* memberlist's push/pull state limit (§4.3) */

struct member {
	struct omap_node *node; /* key: the name */
	struct swim_addr addr;
	uint8_t *meta;
	size_t meta_len;
	struct serfwire_tag *tags;
	size_t n_tags;
	enum serf_status status;
	uint64_t status_ltime;
	uint64_t leave_ms;
	uint8_t vsn[SWIM_VSN_LEN];
	uint64_t prune_ms; /* messageLeave.Prune on a leaving member: erase then (0: none) */
};

/* serf's nodeIntent: one per unknown node, the newest Lamport time wins. */
struct intent {
	enum serfwire_type type;
	uint64_t ltime;
	uint64_t wall_ms;
};

struct ev {
	struct serfwire_bytes name, payload; /* owned */
};

struct ev_slot {
	bool present;
	uint64_t ltime;
	struct ev *ev;
	size_t n;
};

/* A query we have seen (dedupe) and, when we processed it, what Respond needs. */
struct seen_query {
	uint32_t id;
	bool can_respond;
	struct swim_addr addr;
	uint8_t relay_factor;
	uint64_t deadline_ms;
};

struct q_slot {
	bool present;
	uint64_t ltime;
	struct seen_query *q;
	size_t n;
};

/* Our query collecting acks and responses (serf's QueryResponse). */
struct out_query {
	bool used;
	uint64_t ltime;
	uint32_t id;
	uint64_t deadline_ms;
	struct omap *acks, *responses; /* names seen (values unused) */
};

struct bq_item {
	uint8_t *data;
	size_t len;
	uint32_t transmits;
	uint64_t id;
	bool notify; /* our leave intent */
};

struct bqueue {
	struct bq_item *items;
	size_t n, cap;
};

enum leave_phase { LV_NONE, LV_BCAST, LV_SWIM, LV_PROPAGATE, LV_DONE };

struct serf {
	struct serf_config c;
	struct swim *sw;
	char *name;
	uint64_t rng;
	uint32_t gossip_interval_ms, retransmit_mult;

	struct omap *members; /* name -> struct member * (owned: member_free) */
	struct omap *intents; /* name -> struct intent * (owned: free) */
	size_t n_prunes;

	struct serfwire_clock clock, event_clock, query_clock;
	uint64_t event_min_time, query_min_time;
	struct ev_slot events[SERF_EVENT_BUFFER];
	struct q_slot queries[SERF_QUERY_BUFFER];
	struct out_query out[SERF_QUERIES_OUT_MAX];

	uint8_t *self_meta; /* our tags, for query filters */
	size_t self_meta_len;
	struct serfwire_tags *self_tags;

	struct bqueue bq[3]; /* intents, events, queries: GetBroadcasts order */
	uint64_t bq_id;
	struct bq_item *done; /* taken by swim in the last call: freed on the next */
	size_t n_done, cap_done;

	uint64_t next_reap_ms, next_reconnect_ms;
	enum serf_state state;
	enum leave_phase leave;
	uint64_t leave_deadline_ms;
	bool join_ignore;

	struct serf_fx *fx;
	size_t n_fx, cap_fx;
	void **owned;
	size_t n_owned, cap_owned;
	struct serf_stats st;
};

enum { BQ_INTENT = 0, BQ_EVENT = 1, BQ_QUERY = 2 };

/* ---- small helpers ---- */

static uint64_t rng_next(struct serf *s)
{
	return prng_next(&s->rng);
}

static size_t rng_below(struct serf *s, size_t n)
{
	return n ? (size_t)(rng_next(s) % n) : 0;
}

/* Go's rand.Float32: [0, 1) with 24 bits. */
static float rng_float(struct serf *s)
{
	return (float)(rng_next(s) >> 40) / (float)(1u << 24);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static bool bytes_has_nul(struct serfwire_bytes b)
{
	return b.p && memchr(b.p, 0, b.len) != NULL;
}

static struct serfwire_bytes bytes_copy(struct serfwire_bytes b)
{
	struct serfwire_bytes r = {NULL, b.len};
	uint8_t *p = xmalloc(b.len + 1);
	if (b.len)
		memcpy(p, b.p, b.len);
	p[b.len] = 0;
	r.p = p;
	return r;
}

static bool bytes_equal(struct serfwire_bytes a, struct serfwire_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* ---- effects ---- */

static void *keep(struct serf *s, const void *p, size_t n)
{
	uint8_t *q = xmalloc(n + 1);
	if (n)
		memcpy(q, p, n);
	q[n] = 0;
	if (s->n_owned == s->cap_owned) {
		s->cap_owned = s->cap_owned ? 2 * s->cap_owned : 64;
		s->owned = xrealloc(s->owned, s->cap_owned * sizeof(*s->owned));
	}
	s->owned[s->n_owned++] = q;
	return q;
}

static const char *keep_str(struct serf *s, const char *str)
{
	return keep(s, str ? str : "", str ? strlen(str) : 0);
}

static struct serfwire_bytes keep_bytes(struct serf *s, struct serfwire_bytes b)
{
	struct serfwire_bytes r = {NULL, b.len};
	if (b.p)
		r.p = keep(s, b.p, b.len);
	return r;
}

static struct serf_fx *fx_push(struct serf *s, enum serf_fx_type type)
{
	if (s->n_fx >= SERF_FX_MAX) {
		s->st.fx_dropped++;
		return NULL;
	}
	if (s->n_fx == s->cap_fx) {
		s->cap_fx = s->cap_fx ? 2 * s->cap_fx : 32;
		s->fx = xrealloc(s->fx, s->cap_fx * sizeof(*s->fx));
	}
	struct serf_fx *f = &s->fx[s->n_fx++];
	memset(f, 0, sizeof(*f));
	f->type = type;
	return f;
}

static void member_info(const struct member *m, struct serf_member_info *o)
{
	memset(o, 0, sizeof(*o));
	o->name = omap_key(m->node);
	o->addr = m->addr;
	o->meta = m->meta;
	o->meta_len = m->meta_len;
	o->tags = m->tags;
	o->n_tags = m->n_tags;
	o->status = m->status;
	o->status_ltime = m->status_ltime;
	o->leave_ms = m->leave_ms;
	memcpy(o->vsn, m->vsn, SWIM_VSN_LEN);
}

/* A copy of the member owned by the effects (so a reap can free the member). */
static void fx_member_copy(struct serf *s, const struct member *m, struct serf_member_info *o)
{
	member_info(m, o);
	o->name = keep_str(s, o->name);
	if (m->meta_len) {
		uint8_t *meta = keep(s, m->meta, m->meta_len);
		struct serfwire_tag *t = keep(s, NULL, 0);
		if (m->n_tags) {
			t = keep(s, m->tags, m->n_tags * sizeof(*t));
			for (size_t i = 0; i < m->n_tags; i++) {
				t[i].key.p = t[i].key.p ? meta + (t[i].key.p - m->meta) : NULL;
				t[i].value.p =
				    t[i].value.p ? meta + (t[i].value.p - m->meta) : NULL;
			}
		}
		o->meta = meta;
		o->tags = t;
	}
}

static void fx_member(struct serf *s, enum serf_member_event ev, const struct member *m)
{
	struct serf_fx *f = fx_push(s, SERF_FX_MEMBER);
	if (!f)
		return;
	f->event = ev;
	fx_member_copy(s, m, &f->member);
}

static void fx_send(struct serf *s, const struct swim_addr *to, const uint8_t *p, size_t len)
{
	struct serf_fx *f = fx_push(s, SERF_FX_SEND);
	if (!f)
		return;
	f->to = *to;
	f->data = keep(s, p, len);
	f->len = len;
}

/* ---- members ---- */

static void member_free(void *v)
{
	struct member *m = v;
	if (!m)
		return;
	free(m->meta);
	free(m->tags);
	free(m);
}

static struct member *member_get(const struct serf *s, const char *name)
{
	return omap_get(s->members, name);
}

/* Copies meta and decodes the tags (a bad Meta leaves no tags, as serf's decodeTags logs). */
static void member_set_meta(struct member *m, const uint8_t *meta, size_t len)
{
	free(m->meta);
	free(m->tags);
	m->meta = NULL;
	m->tags = NULL;
	m->n_tags = 0;
	m->meta_len = len;
	if (!len)
		return;
	m->meta = xmalloc(len);
	memcpy(m->meta, meta, len);
	struct serfwire_tags *t = xmalloc(sizeof(*t));
	if (serfwire_tags_decode(m->meta, len, t, NULL) == 0 && t->n) {
		m->tags = xmalloc(t->n * sizeof(*m->tags));
		memcpy(m->tags, t->tag, t->n * sizeof(*m->tags));
		m->n_tags = t->n;
	}
	free(t);
}

static const struct serfwire_bytes *member_tag(const struct member *m, const char *key)
{
	const struct serfwire_bytes *v = NULL;
	for (size_t i = 0; i < m->n_tags; i++)
		if (serfwire_bytes_eq(m->tags[i].key, key))
			v = &m->tags[i].value; /* the last of duplicates, as a Go map */
	return v;
}

/* Consul's ReconnectOverride: a member's rc_tm tag (a Go duration, 0 = the default). serf
 * asks it for failed and left members alike (serf.go reap). */
static uint64_t member_timeout_ms(const struct member *m, uint64_t timeout_ms)
{
	const struct serfwire_bytes *v = member_tag(m, SERF_RC_TM_TAG);
	if (!v || bytes_has_nul(*v) || v->len > 64)
		return timeout_ms;
	char buf[65];
	memcpy(buf, v->p, v->len);
	buf[v->len] = 0;
	int64_t ns;
	if (gofmt_dur_parse_ns(buf, &ns, NULL) != 0 || ns == 0)
		return timeout_ms;
	if (ns < 0)
		return 0;
	return (uint64_t)ns / 1000000u;
}

static size_t count_status(const struct serf *s, enum serf_status st)
{
	size_t n = 0;
	for (struct omap_node *it = omap_first(s->members); it; it = omap_next(it))
		if (((struct member *)omap_val(it))->status == st)
			n++;
	return n;
}

/* serf.eraseNode */
static void erase_node(struct serf *s, struct member *m)
{
	fx_member(s, SERF_EV_REAP, m);
	s->st.reaped++;
	if (m->prune_ms)
		s->n_prunes--;
	omap_del(s->members, omap_key(m->node), NULL);
}

/* ---- broadcast queues (memberlist TransmitLimitedQueue) ---- */

static size_t queue_limit(const struct serf *s)
{
	size_t n = omap_count(s->members);
	size_t lim = 2 * n > s->c.min_queue_depth ? 2 * n : s->c.min_queue_depth;
	return lim < SERF_QUEUE_DEPTH_MAX ? lim : SERF_QUEUE_DEPTH_MAX;
}

static void leave_bcast_finished(struct serf *s);

static void bq_push(struct serf *s, int q, const uint8_t *p, size_t len, bool notify)
{
	struct bqueue *b = &s->bq[q];
	size_t lim = queue_limit(s);
	while (b->n >= lim) { /* serf's checkQueueDepth: drop the oldest */
		size_t old = 0;
		for (size_t i = 1; i < b->n; i++)
			if (b->items[i].id < b->items[old].id)
				old = i;
		bool was_notify = b->items[old].notify;
		free(b->items[old].data);
		b->items[old] = b->items[--b->n];
		s->st.bcast_dropped++;
		if (was_notify)
			leave_bcast_finished(s);
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 16;
		b->items = xrealloc(b->items, b->cap * sizeof(*b->items));
	}
	struct bq_item *it = &b->items[b->n++];
	it->data = xmalloc(len ? len : 1);
	memcpy(it->data, p, len);
	it->len = len;
	it->transmits = 0;
	it->id = ++s->bq_id;
	it->notify = notify;
}

/* Fewest transmissions first, then longer, then newer (memberlist's btree order). */
static int bq_cmp(const void *a, const void *b)
{
	const struct bq_item *x = *(struct bq_item *const *)a, *y = *(struct bq_item *const *)b;
	if (x->transmits != y->transmits)
		return x->transmits < y->transmits ? -1 : 1;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->id > y->id ? -1 : (x->id < y->id);
}

static void done_push(struct serf *s, const struct bq_item *it)
{
	if (s->n_done == s->cap_done) {
		s->cap_done = s->cap_done ? 2 * s->cap_done : 16;
		s->done = xrealloc(s->done, s->cap_done * sizeof(*s->done));
	}
	s->done[s->n_done++] = *it;
}

static void done_free(struct serf *s)
{
	for (size_t i = 0; i < s->n_done; i++)
		free(s->done[i].data);
	s->n_done = 0;
}

size_t serf_user_broadcasts(void *arg, size_t overhead, size_t limit, struct swim_user_msg *out,
                            size_t out_max)
{
	struct serf *s = arg;
	size_t k = 0, used = 0;
	uint32_t tx_limit = swim_retransmit_limit(s->retransmit_mult, omap_count(s->members));
	done_free(s); /* what swim copied last time */
	for (int q = 0; q < 3 && k < out_max; q++) {
		struct bqueue *b = &s->bq[q];
		if (!b->n)
			continue;
		struct bq_item **ord = xmalloc(b->n * sizeof(*ord));
		for (size_t i = 0; i < b->n; i++)
			ord[i] = &b->items[i];
		qsort(ord, b->n, sizeof(*ord), bq_cmp);
		for (size_t i = 0; i < b->n && k < out_max; i++) {
			struct bq_item *it = ord[i];
			if (used + overhead + it->len > limit)
				continue;
			used += overhead + it->len;
			out[k].data = it->data;
			out[k].len = it->len;
			k++;
			it->transmits++;
		}
		free(ord);
		/* retire the ones that reached the limit; swim copies their bytes before the
		 * next call, so they are freed then */
		for (size_t i = 0; i < b->n;) {
			if (b->items[i].transmits >= tx_limit) {
				bool notify = b->items[i].notify;
				done_push(s, &b->items[i]);
				b->items[i] = b->items[--b->n];
				if (notify)
					leave_bcast_finished(s);
			} else {
				i++;
			}
		}
	}
	return k;
}

/* ---- intents (serf.go handleNodeJoinIntent / handleNodeLeaveIntent) ---- */

/* upsertIntent: true when it is newer than what was buffered (then rebroadcast). */
static bool upsert_intent(struct serf *s, uint64_t now_ms, const char *node,
                          enum serfwire_type type, uint64_t ltime)
{
	struct intent *in = omap_get(s->intents, node);
	if (in) {
		if (ltime <= in->ltime)
			return false;
	} else {
		if (omap_count(s->intents) >= SERF_INTENTS_MAX)
			return false;
		in = xmalloc(sizeof(*in));
		if (omap_put(s->intents, node, in, NULL) < 0) {
			free(in);
			return false;
		}
	}
	in->type = type;
	in->ltime = ltime;
	in->wall_ms = now_ms;
	s->st.intents_buffered++;
	return true;
}

static void broadcast_join(struct serf *s, uint64_t now_ms, uint64_t ltime);

static bool handle_join_intent(struct serf *s, uint64_t now_ms, const char *node, uint64_t ltime)
{
	serfwire_clock_witness(&s->clock, ltime);
	struct member *m = member_get(s, node);
	if (!m)
		return upsert_intent(s, now_ms, node, SERFWIRE_JOIN, ltime);
	if (ltime <= m->status_ltime) {
		s->st.intents_ignored++;
		return false;
	}
	m->status_ltime = ltime;
	/* leaving must have been for an older time */
	if (m->status == SERF_STATUS_LEAVING)
		m->status = SERF_STATUS_ALIVE;
	return true;
}

static void handle_prune(struct serf *s, uint64_t now_ms, struct member *m)
{
	if (m->status == SERF_STATUS_LEAVING) {
		/* serf sleeps BroadcastTimeout + LeavePropagateDelay first */
		if (!m->prune_ms)
			s->n_prunes++;
		m->prune_ms = now_ms + s->c.broadcast_timeout_ms + s->c.leave_propagate_ms;
		if (!m->prune_ms)
			m->prune_ms = 1;
		return;
	}
	erase_node(s, m);
}

static bool handle_leave_intent(struct serf *s, uint64_t now_ms, const char *node, uint64_t ltime,
                                bool prune)
{
	serfwire_clock_witness(&s->clock, ltime);
	struct member *m = member_get(s, node);
	if (!m)
		return upsert_intent(s, now_ms, node, SERFWIRE_LEAVE, ltime);
	if (ltime <= m->status_ltime) {
		s->st.intents_ignored++;
		return false;
	}
	/* refute a leave about us while we are alive */
	if (strcmp(node, s->name) == 0 && s->state == SERF_ALIVE) {
		broadcast_join(s, now_ms, serfwire_clock_time(&s->clock));
		return false;
	}
	m->status_ltime = ltime;
	switch (m->status) {
	case SERF_STATUS_ALIVE:
		m->status = SERF_STATUS_LEAVING;
		if (prune)
			handle_prune(s, now_ms, m);
		return true;
	case SERF_STATUS_FAILED:
		/* a forced leave: failed -> left, with a leave event */
		m->status = SERF_STATUS_LEFT;
		fx_member(s, SERF_EV_LEAVE, m);
		if (prune)
			handle_prune(s, now_ms, m);
		return true;
	case SERF_STATUS_LEAVING:
	case SERF_STATUS_LEFT:
		if (prune)
			handle_prune(s, now_ms, m);
		return true;
	default:
		return false;
	}
}

/* serf.broadcastJoin */
static void broadcast_join(struct serf *s, uint64_t now_ms, uint64_t ltime)
{
	struct serfwire_join j = {.ltime = ltime, .node = serfwire_cstr(s->name)};
	serfwire_clock_witness(&s->clock, ltime);
	handle_join_intent(s, now_ms, s->name, ltime);
	struct buf b;
	buf_init(&b, ENC_MAX);
	if (serfwire_encode_join(&b, &j, NULL) == 0)
		bq_push(s, BQ_INTENT, b.p, b.len, false);
	buf_fini(&b);
}

/* ---- memberlist events (serf.go handleNodeJoin / Leave / Update) ---- */

static void node_join(struct serf *s, uint64_t now_ms, const struct swim_node_state *n)
{
	(void)now_ms;
	struct member *m = member_get(s, n->name);
	if (!m) {
		if (omap_count(s->members) >= SERF_MEMBERS_MAX)
			return;
		m = xcalloc(1, sizeof(*m));
		m->status = SERF_STATUS_ALIVE;
		/* one buffered intent per node: the newest applies */
		struct intent *in = omap_get(s->intents, n->name);
		if (in && in->type == SERFWIRE_JOIN)
			m->status_ltime = in->ltime;
		if (in && in->type == SERFWIRE_LEAVE) {
			m->status = SERF_STATUS_LEAVING;
			m->status_ltime = in->ltime;
		}
		if (omap_put(s->members, n->name, m, NULL) < 0) {
			free(m);
			return;
		}
		m->node = omap_find(s->members, n->name);
	} else {
		m->status = SERF_STATUS_ALIVE;
		m->leave_ms = 0;
	}
	m->addr = n->addr;
	memcpy(m->vsn, n->vsn, SWIM_VSN_LEN);
	member_set_meta(m, n->meta, n->meta_len);
	fx_member(s, SERF_EV_JOIN, m);
}

static void node_leave(struct serf *s, uint64_t now_ms, const struct swim_node_state *n)
{
	struct member *m = member_get(s, n->name);
	if (!m)
		return;
	/* serf 0.9.4 tells left from failed by its own status (a leave intent came first),
	 * not by memberlist's state (§4.4 Intents) */
	switch (m->status) {
	case SERF_STATUS_LEAVING:
		m->status = SERF_STATUS_LEFT;
		m->leave_ms = now_ms;
		fx_member(s, SERF_EV_LEAVE, m);
		break;
	case SERF_STATUS_ALIVE:
		m->status = SERF_STATUS_FAILED;
		m->leave_ms = now_ms;
		fx_member(s, SERF_EV_FAILED, m);
		break;
	default:
		break;
	}
}

static void node_update(struct serf *s, const struct swim_node_state *n)
{
	struct member *m = member_get(s, n->name);
	if (!m)
		return; /* never heard of it: ignored */
	m->addr = n->addr;
	memcpy(m->vsn, n->vsn, SWIM_VSN_LEN);
	member_set_meta(m, n->meta, n->meta_len);
	fx_member(s, SERF_EV_UPDATE, m);
}

static void leave_swim(struct serf *s, uint64_t now_ms);

void serf_swim_event(struct serf *s, uint64_t now_ms, const struct swim_fx *fx)
{
	if (fx->type != SWIM_FX_EVENT || !fx->node.name)
		return;
	switch (fx->event) {
	case SWIM_EV_JOIN:
		node_join(s, now_ms, &fx->node);
		break;
	case SWIM_EV_UPDATE:
		node_update(s, &fx->node);
		break;
	case SWIM_EV_FAILED:
	case SWIM_EV_LEFT:
		node_leave(s, now_ms, &fx->node);
		break;
	case SWIM_EV_LEAVE_DONE:
		if (s->leave == LV_SWIM) {
			s->leave = LV_PROPAGATE;
			s->leave_deadline_ms = now_ms + s->c.leave_propagate_ms;
		}
		break;
	default:
		break;
	}
}

/* ---- user events (serf.go handleUserEvent) ---- */

static void ev_slot_clear(struct ev_slot *sl)
{
	for (size_t i = 0; i < sl->n; i++) {
		free((void *)sl->ev[i].name.p);
		free((void *)sl->ev[i].payload.p);
	}
	free(sl->ev);
	memset(sl, 0, sizeof(*sl));
}

static bool handle_user_event(struct serf *s, const struct serfwire_user_event *e)
{
	serfwire_clock_witness(&s->event_clock, e->ltime);
	if (e->ltime < s->event_min_time) {
		s->st.events_old++;
		return false;
	}
	uint64_t cur = serfwire_clock_time(&s->event_clock);
	if (cur > SERF_EVENT_BUFFER && e->ltime < cur - SERF_EVENT_BUFFER) {
		s->st.events_old++; /* "received old event" */
		return false;
	}
	struct ev_slot *sl = &s->events[e->ltime % SERF_EVENT_BUFFER];
	if (sl->present && sl->ltime == e->ltime) {
		for (size_t i = 0; i < sl->n; i++)
			if (bytes_equal(sl->ev[i].name, e->name) &&
			    bytes_equal(sl->ev[i].payload, e->payload)) {
				s->st.events_dup++;
				return false;
			}
	} else {
		ev_slot_clear(sl);
		sl->present = true;
		sl->ltime = e->ltime;
	}
	if (sl->n >= SERFWIRE_EVENTS_PER_LTIME_MAX) {
		s->st.events_dup++;
		return false;
	}
	sl->ev = xrealloc(sl->ev, (sl->n + 1) * sizeof(*sl->ev));
	sl->ev[sl->n].name = bytes_copy(e->name);
	sl->ev[sl->n].payload = bytes_copy(e->payload);
	sl->n++;
	struct serf_fx *f = fx_push(s, SERF_FX_USER_EVENT);
	if (f) {
		f->ltime = e->ltime;
		f->name = keep_bytes(s, e->name);
		f->payload = keep_bytes(s, e->payload);
		if (!f->payload.p)
			f->payload.p = keep(s, NULL, 0);
		f->cc = e->cc;
	}
	return true;
}

int serf_user_event(struct serf *s, uint64_t now_ms, struct serfwire_bytes name,
                    struct serfwire_bytes payload, bool cc, const char **err)
{
	(void)now_ms;
	if (name.len + payload.len > SERFWIRE_USER_EVENT_SIZE_LIMIT) {
		if (err)
			*err = "user event exceeds configured limit of 512 bytes before encoding";
		return -1;
	}
	struct serfwire_user_event e = {.ltime = serfwire_clock_time(&s->event_clock),
	                                .name = name,
	                                .payload = payload,
	                                .cc = cc};
	struct buf b;
	buf_init(&b, ENC_MAX);
	if (serfwire_encode_user_event(&b, &e, NULL) != 0) {
		buf_fini(&b);
		if (err)
			*err = "encoded user event exceeds configured limit of 512 bytes after "
			       "encoding";
		return -1;
	}
	serfwire_clock_increment(&s->event_clock);
	handle_user_event(s, &e);
	bq_push(s, BQ_EVENT, b.p, b.len, false);
	buf_fini(&b);
	return 0;
}

/* ---- queries (serf.go handleQuery, shouldProcessQuery, query.go) ---- */

/* A tag filter: Go's regexp.MatchString (unanchored) approximated by POSIX ERE; expressions
 * longer than SERF_REGEX_MAX, with a NUL or a back-reference never match (bounded work). */
static bool tag_matches(struct serfwire_bytes expr, const struct serfwire_bytes *value)
{
	if (expr.len > SERF_REGEX_MAX || bytes_has_nul(expr))
		return false;
	char re_src[SERF_REGEX_MAX + 1];
	if (expr.len)
		memcpy(re_src, expr.p, expr.len);
	re_src[expr.len] = 0;
	for (size_t i = 0; i + 1 < expr.len; i++) {
		if (re_src[i] == '\\' && re_src[i + 1] >= '1' && re_src[i + 1] <= '9')
			return false;
		if (re_src[i] == '\\')
			i++;
	}
	regex_t re;
	if (regcomp(&re, re_src, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	/* a NUL-terminated copy (tag values fit the 512-byte Meta); REG_STARTEND lets a
	 * value with a NUL inside be matched whole */
	char v[SWIM_META_MAX + 1];
	size_t vlen = value && value->p ? value->len : 0;
	if (vlen > SWIM_META_MAX) {
		regfree(&re);
		return false;
	}
	if (vlen)
		memcpy(v, value->p, vlen);
	v[vlen] = 0;
	regmatch_t pm[1] = {{.rm_so = 0, .rm_eo = (regoff_t)vlen}};
	int rc = regexec(&re, v, 1, pm, REG_STARTEND);
	regfree(&re);
	return rc == 0;
}

static bool should_process(struct serf *s, const struct serfwire_query *q)
{
	for (size_t i = 0; i < q->n_filters; i++) {
		struct serfwire_filter f;
		if (serfwire_filter_decode(q->filters[i].p, q->filters[i].len, &f, NULL) != 0)
			return false; /* bad or unknown filter type */
		bool ok = false;
		if (f.type == SERFWIRE_FILTER_NODE) {
			for (size_t j = 0; j < f.n_nodes && !ok; j++)
				ok = serfwire_bytes_eq(f.nodes[j], s->name);
		} else {
			const struct serfwire_bytes *v = NULL;
			struct serfwire_bytes empty = {(const uint8_t *)"", 0};
			for (size_t j = 0; j < s->self_tags->n; j++)
				if (bytes_equal(s->self_tags->tag[j].key, f.tag))
					v = &s->self_tags->tag[j].value;
			ok = tag_matches(f.expr, v ? v : &empty);
		}
		serfwire_filter_fini(&f);
		if (!ok)
			return false;
	}
	return true;
}

static bool addr_from_bytes(struct serfwire_bytes ip, uint16_t port, struct swim_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ip.len != 4 && ip.len != 16)
		return false;
	memcpy(a->ip, ip.p, ip.len);
	a->len = (uint8_t)ip.len;
	a->port = port;
	return true;
}

/* relayResponse: the response via relay_factor random alive members (protocol >= 5). */
static void relay_response(struct serf *s, uint8_t factor, const struct swim_addr *dest,
                           const uint8_t *resp, size_t len)
{
	if (!factor)
		return;
	size_t n = 0;
	struct member **cand = NULL;
	for (struct omap_node *it = omap_first(s->members); it; it = omap_next(it)) {
		struct member *m = omap_val(it);
		if (m->status != SERF_STATUS_ALIVE || m->vsn[1] < 5 ||
		    strcmp(omap_key(it), s->name) == 0)
			continue;
		cand = xrealloc(cand, (n + 1) * sizeof(*cand));
		cand[n++] = m;
	}
	struct buf b;
	buf_init(&b, ENC_MAX);
	struct serfwire_relay r = {
	    .dest_ip = {dest->ip, dest->len}, .dest_port = dest->port, .msg = {resp, len}};
	if (serfwire_encode_relay(&b, &r, NULL) == 0) {
		for (size_t k = 0; k < factor && n > 0; k++) {
			size_t i = rng_below(s, n);
			fx_send(s, &cand[i]->addr, b.p, b.len);
			cand[i] = cand[--n];
		}
	}
	buf_fini(&b);
	free(cand);
}

static bool handle_query(struct serf *s, uint64_t now_ms, const struct serfwire_query *q)
{
	serfwire_clock_witness(&s->query_clock, q->ltime);
	if (q->ltime < s->query_min_time) {
		s->st.queries_old++;
		return false;
	}
	uint64_t cur = serfwire_clock_time(&s->query_clock);
	if (cur > SERF_QUERY_BUFFER && q->ltime < cur - SERF_QUERY_BUFFER) {
		s->st.queries_old++;
		return false;
	}
	struct q_slot *sl = &s->queries[q->ltime % SERF_QUERY_BUFFER];
	if (sl->present && sl->ltime == q->ltime) {
		for (size_t i = 0; i < sl->n; i++)
			if (sl->q[i].id == q->id) {
				s->st.queries_dup++;
				return false;
			}
	} else {
		free(sl->q);
		memset(sl, 0, sizeof(*sl));
		sl->present = true;
		sl->ltime = q->ltime;
	}
	if (sl->n >= SERF_QUERY_IDS_MAX) {
		s->st.queries_dup++;
		return false;
	}
	sl->q = xrealloc(sl->q, (sl->n + 1) * sizeof(*sl->q));
	struct seen_query *sq = &sl->q[sl->n++];
	memset(sq, 0, sizeof(*sq));
	sq->id = q->id;
	bool rebroadcast = !(q->flags & SERFWIRE_QUERY_FLAG_NO_BROADCAST);
	if (!should_process(s, q))
		return rebroadcast; /* first time seen: rebroadcast even if filtered out */
	struct swim_addr to;
	bool have_to = addr_from_bytes(q->addr, q->port, &to);
	if ((q->flags & SERFWIRE_QUERY_FLAG_ACK) && have_to) {
		struct serfwire_query_response ack = {.ltime = q->ltime,
		                                      .id = q->id,
		                                      .from = serfwire_cstr(s->name),
		                                      .flags = SERFWIRE_QUERY_FLAG_ACK};
		struct buf b;
		buf_init(&b, ENC_MAX);
		if (serfwire_encode_query_response(&b, &ack, NULL) == 0) {
			fx_send(s, &to, b.p, b.len);
			relay_response(s, q->relay_factor, &to, b.p, b.len);
		}
		buf_fini(&b);
	}
	uint64_t timeout_ms = q->timeout_ns > 0 ? (uint64_t)q->timeout_ns / 1000000u : 0;
	sq->can_respond = have_to;
	sq->addr = to;
	sq->relay_factor = q->relay_factor;
	sq->deadline_ms = now_ms + timeout_ms;
	/* serfQueries.handleQuery: _serf_ping is answered by the ack alone */
	static const char pfx[] = SERFWIRE_INTERNAL_QUERY_PREFIX;
	bool internal =
	    q->name.len >= sizeof(pfx) - 1 && memcmp(q->name.p, pfx, sizeof(pfx) - 1) == 0;
	if (internal && serfwire_bytes_eq(q->name, SERFWIRE_INTERNAL_QUERY_PREFIX "ping")) {
		sq->can_respond = false;
		return rebroadcast;
	}
	struct serf_fx *f = fx_push(s, SERF_FX_QUERY);
	if (f) {
		f->ltime = q->ltime;
		f->id = q->id;
		f->name = keep_bytes(s, q->name);
		f->payload = keep_bytes(s, q->payload);
		f->internal = internal;
		f->source_node = keep(s, q->source_node.p, q->source_node.len);
		f->to = to;
		f->relay_factor = q->relay_factor;
		f->deadline_ms = sq->deadline_ms;
	}
	return rebroadcast;
}

static struct out_query *out_find(struct serf *s, uint64_t ltime)
{
	for (size_t i = 0; i < SERF_QUERIES_OUT_MAX; i++)
		if (s->out[i].used && s->out[i].ltime == ltime)
			return &s->out[i];
	return NULL;
}

static void out_close(struct serf *s, struct out_query *o, bool fx)
{
	if (fx) {
		struct serf_fx *f = fx_push(s, SERF_FX_QUERY_DONE);
		if (f) {
			f->ltime = o->ltime;
			f->id = o->id;
		}
	}
	omap_free(o->acks);
	omap_free(o->responses);
	memset(o, 0, sizeof(*o));
}

static void handle_query_response(struct serf *s, uint64_t now_ms,
                                  const struct serfwire_query_response *r)
{
	struct out_query *o = out_find(s, r->ltime);
	if (!o || o->id != r->id || now_ms > o->deadline_ms) {
		s->st.responses_unknown++; /* "reply for non-running query" / "ID mismatch" */
		return;
	}
	if (bytes_has_nul(r->from)) {
		s->st.malformed++;
		return;
	}
	char *from = serfwire_bytes_dup(r->from);
	bool ack = r->flags & SERFWIRE_QUERY_FLAG_ACK;
	struct omap *seen = ack ? o->acks : o->responses;
	if (omap_find(seen, from) || omap_count(seen) >= SERF_RESPONDERS_MAX ||
	    omap_put(seen, from, NULL, NULL) < 0) {
		s->st.responses_dup++;
		free(from);
		return;
	}
	struct serf_fx *f = fx_push(s, ack ? SERF_FX_QUERY_ACK : SERF_FX_QUERY_RESPONSE);
	if (f) {
		f->ltime = r->ltime;
		f->id = r->id;
		f->from = keep_str(s, from);
		if (!ack) {
			f->payload = keep_bytes(s, r->payload);
			if (!f->payload.p)
				f->payload.p = keep(s, NULL, 0);
		}
	}
	free(from);
}

uint64_t serf_default_query_timeout_ms(const struct serf *s)
{
	size_t n = swim_num_members(s->sw);
	double mult = ceil(log10((double)n + 1));
	return (uint64_t)s->gossip_interval_ms * s->c.query_timeout_mult * (uint64_t)mult;
}

int serf_query(struct serf *s, uint64_t now_ms, struct serfwire_bytes name,
               struct serfwire_bytes payload, const struct serf_query_param *p, uint64_t *ltime,
               uint32_t *id, const char **err)
{
	struct serf_query_param def = {0};
	if (!p)
		p = &def;
	uint64_t timeout_ms = p->timeout_ms ? p->timeout_ms : serf_default_query_timeout_ms(s);
	size_t slot = SERF_QUERIES_OUT_MAX;
	for (size_t i = 0; i < SERF_QUERIES_OUT_MAX && slot == SERF_QUERIES_OUT_MAX; i++)
		if (!s->out[i].used)
			slot = i;
	if (slot == SERF_QUERIES_OUT_MAX) {
		if (err)
			*err = "too many queries in flight";
		return -1;
	}
	if (p->n_filter_nodes > SERF_FILTER_NODES_MAX ||
	    p->n_filter_tags + 1 > SERFWIRE_QUERY_FILTERS_MAX) {
		if (err)
			*err = "query exceeds limit of 1024 bytes";
		return -1;
	}
	/* encodeFilters: the node filter, then each tag filter */
	struct buf fb[SERFWIRE_QUERY_FILTERS_MAX];
	size_t nf = 0;
	struct serfwire_query q = {0};
	int rc = -1;
	struct serfwire_bytes *nodes = NULL;
	if (p->n_filter_nodes) {
		nodes = xcalloc(p->n_filter_nodes, sizeof(*nodes));
		for (size_t i = 0; i < p->n_filter_nodes; i++)
			nodes[i] = serfwire_cstr(p->filter_nodes[i]);
		struct serfwire_filter f = {
		    .type = SERFWIRE_FILTER_NODE, .nodes = nodes, .n_nodes = p->n_filter_nodes};
		buf_init(&fb[nf], ENC_MAX);
		if (serfwire_filter_encode(&fb[nf++], &f, NULL) != 0)
			goto too_big;
	}
	for (size_t i = 0; i < p->n_filter_tags; i++) {
		struct serfwire_filter f = {.type = SERFWIRE_FILTER_TAG,
		                            .tag = p->filter_tags[i].key,
		                            .expr = p->filter_tags[i].value};
		buf_init(&fb[nf], ENC_MAX);
		if (serfwire_filter_encode(&fb[nf++], &f, NULL) != 0)
			goto too_big;
	}
	struct swim_node_state self;
	bool have_self = swim_member(s->sw, s->name, &self);
	q.ltime = serfwire_clock_time(&s->query_clock);
	q.id = (uint32_t)(rng_next(s) & 0x7fffffffu); /* rand.Int31 */
	if (have_self) {
		q.addr.p = self.addr.ip;
		q.addr.len = self.addr.len;
		q.port = self.addr.port;
	}
	q.source_node = serfwire_cstr(s->name);
	for (size_t i = 0; i < nf; i++) {
		q.filters[i].p = fb[i].p;
		q.filters[i].len = fb[i].len;
	}
	q.n_filters = nf;
	q.flags = p->request_ack ? SERFWIRE_QUERY_FLAG_ACK : 0;
	q.relay_factor = p->relay_factor;
	q.timeout_ns = (int64_t)timeout_ms * 1000000;
	q.name = name;
	q.payload = payload;
	struct buf b;
	buf_init(&b, ENC_MAX);
	if (serfwire_encode_query(&b, &q, NULL) != 0) {
		buf_fini(&b);
		goto too_big;
	}
	/* registerQueryResponse, then process locally, then broadcast */
	struct out_query *o = &s->out[slot];
	o->used = true;
	o->ltime = q.ltime;
	o->id = q.id;
	o->deadline_ms = now_ms + timeout_ms;
	o->acks = omap_new(NULL);
	o->responses = omap_new(NULL);
	if (!o->acks || !o->responses)
		abort();
	handle_query(s, now_ms, &q);
	bq_push(s, BQ_QUERY, b.p, b.len, false);
	buf_fini(&b);
	if (ltime)
		*ltime = q.ltime;
	if (id)
		*id = q.id;
	rc = 0;
	goto out;
too_big:
	if (err)
		*err = "query exceeds limit of 1024 bytes";
out:
	for (size_t i = 0; i < nf; i++)
		buf_fini(&fb[i]);
	free(nodes);
	return rc;
}

int serf_respond(struct serf *s, uint64_t now_ms, uint64_t ltime, uint32_t id,
                 struct serfwire_bytes payload, const char **err)
{
	struct q_slot *sl = &s->queries[ltime % SERF_QUERY_BUFFER];
	struct seen_query *sq = NULL;
	if (sl->present && sl->ltime == ltime)
		for (size_t i = 0; i < sl->n && !sq; i++)
			if (sl->q[i].id == id)
				sq = &sl->q[i];
	if (!sq || !sq->can_respond) {
		if (err)
			*err = "response already sent";
		return -1;
	}
	if (now_ms > sq->deadline_ms) {
		if (err)
			*err = "response is past the deadline";
		return -1;
	}
	struct serfwire_query_response r = {
	    .ltime = ltime, .id = id, .from = serfwire_cstr(s->name), .payload = payload};
	struct buf b;
	buf_init(&b, ENC_MAX);
	if (serfwire_encode_query_response(&b, &r, NULL) != 0) {
		buf_fini(&b);
		if (err)
			*err = "response exceeds limit of 1024 bytes";
		return -1;
	}
	fx_send(s, &sq->addr, b.p, b.len);
	relay_response(s, sq->relay_factor, &sq->addr, b.p, b.len);
	buf_fini(&b);
	sq->can_respond = false; /* the deadline is cleared: responses sent */
	return 0;
}

/* ---- receiving (delegate.go NotifyMsg) ---- */

int serf_recv(struct serf *s, uint64_t now_ms, const uint8_t *msg, size_t len)
{
	struct serfwire_msg m;
	if (serfwire_decode(msg, len, &m, NULL) != 0) {
		s->st.malformed++;
		return -1;
	}
	int rc = 0;
	bool rebroadcast = false;
	int queue = BQ_INTENT;
	switch (m.type) {
	case SERFWIRE_LEAVE:
	case SERFWIRE_JOIN: {
		struct serfwire_bytes node =
		    m.type == SERFWIRE_LEAVE ? m.u.leave.node : m.u.join.node;
		if (bytes_has_nul(node) || node.len == 0 || node.len > SWIM_NAME_MAX) {
			s->st.malformed++;
			rc = -1;
			break;
		}
		char *name = serfwire_bytes_dup(node);
		if (m.type == SERFWIRE_LEAVE)
			rebroadcast =
			    handle_leave_intent(s, now_ms, name, m.u.leave.ltime, m.u.leave.prune);
		else
			rebroadcast = handle_join_intent(s, now_ms, name, m.u.join.ltime);
		free(name);
		break;
	}
	case SERFWIRE_USER_EVENT:
		rebroadcast = handle_user_event(s, &m.u.user_event);
		queue = BQ_EVENT;
		break;
	case SERFWIRE_QUERY:
		rebroadcast = handle_query(s, now_ms, &m.u.query);
		queue = BQ_QUERY;
		break;
	case SERFWIRE_QUERY_RESPONSE:
		handle_query_response(s, now_ms, &m.u.query_response);
		break;
	case SERFWIRE_RELAY: {
		/* forward the wrapped message to its destination */
		struct swim_addr to;
		if (!addr_from_bytes(m.u.relay.dest_ip, m.u.relay.dest_port, &to)) {
			s->st.malformed++;
			rc = -1;
			break;
		}
		fx_send(s, &to, m.u.relay.msg.p, m.u.relay.msg.len);
		break;
	}
	default:
		/* pushPull comes as user state; conflict and key messages are not gossiped */
		s->st.malformed++;
		rc = -1;
		break;
	}
	if (rebroadcast)
		bq_push(s, queue, msg, len, false); /* the original bytes */
	serfwire_msg_fini(&m);
	return rc;
}

/* ---- push-pull (delegate.go LocalState / MergeRemoteState) ---- */

int serf_local_state(struct serf *s, struct buf *b)
{
	size_t n = omap_count(s->members);
	struct serfwire_push_pull pp = {0};
	pp.ltime = serfwire_clock_time(&s->clock);
	pp.status_ltimes = xcalloc(n ? n : 1, sizeof(*pp.status_ltimes));
	pp.left_members = xcalloc(n ? n : 1, sizeof(*pp.left_members));
	for (struct omap_node *it = omap_first(s->members); it; it = omap_next(it)) {
		struct member *m = omap_val(it);
		pp.status_ltimes[pp.n_status_ltimes].node = serfwire_cstr(omap_key(it));
		pp.status_ltimes[pp.n_status_ltimes++].ltime = m->status_ltime;
		if (m->status == SERF_STATUS_LEFT)
			pp.left_members[pp.n_left_members++] = serfwire_cstr(omap_key(it));
	}
	pp.event_ltime = serfwire_clock_time(&s->event_clock);
	struct serfwire_event_slot *slots = xcalloc(SERF_EVENT_BUFFER, sizeof(*slots));
	for (size_t i = 0; i < SERF_EVENT_BUFFER; i++) {
		const struct ev_slot *sl = &s->events[i];
		if (!sl->present)
			continue;
		slots[i].present = true;
		slots[i].ltime = sl->ltime;
		slots[i].n_events = sl->n;
		slots[i].events = xcalloc(sl->n ? sl->n : 1, sizeof(*slots[i].events));
		for (size_t j = 0; j < sl->n; j++) {
			slots[i].events[j].name = sl->ev[j].name;
			slots[i].events[j].payload = sl->ev[j].payload;
		}
	}
	pp.events = slots;
	pp.n_events = SERF_EVENT_BUFFER;
	pp.query_ltime = serfwire_clock_time(&s->query_clock);
	int rc = serfwire_encode_push_pull(b, &pp, NULL);
	for (size_t i = 0; i < SERF_EVENT_BUFFER; i++)
		free(slots[i].events);
	free(slots);
	free(pp.status_ltimes);
	free(pp.left_members);
	return rc;
}

int serf_merge_remote_state(struct serf *s, uint64_t now_ms, const uint8_t *p, size_t len,
                            bool join)
{
	if (!len || p[0] != SERFWIRE_PUSH_PULL || len > PP_MAX) {
		s->st.malformed++;
		return -1;
	}
	struct serfwire_msg m;
	if (serfwire_decode(p, len, &m, NULL) != 0) {
		s->st.malformed++;
		return -1;
	}
	struct serfwire_push_pull *pp = &m.u.push_pull;
	/* minus one: no message with that time was sent yet */
	if (pp->ltime > 0)
		serfwire_clock_witness(&s->clock, pp->ltime - 1);
	if (pp->event_ltime > 0)
		serfwire_clock_witness(&s->event_clock, pp->event_ltime - 1);
	if (pp->query_ltime > 0)
		serfwire_clock_witness(&s->query_clock, pp->query_ltime - 1);

	struct omap *lt = omap_new(free), *left = omap_new(NULL);
	if (!lt || !left)
		abort();
	for (size_t i = 0; i < pp->n_status_ltimes; i++) {
		struct serfwire_bytes nb = pp->status_ltimes[i].node;
		if (bytes_has_nul(nb) || !nb.len || nb.len > SWIM_NAME_MAX)
			continue;
		char *name = serfwire_bytes_dup(nb);
		uint64_t *v = xmalloc(sizeof(*v));
		*v = pp->status_ltimes[i].ltime;
		omap_put(lt, name, v, NULL); /* a Go map: the last duplicate wins */
		free(name);
	}
	/* left members first, one past their join time (a leave must be newer) */
	for (size_t i = 0; i < pp->n_left_members; i++) {
		struct serfwire_bytes nb = pp->left_members[i];
		if (bytes_has_nul(nb) || !nb.len || nb.len > SWIM_NAME_MAX)
			continue;
		char *name = serfwire_bytes_dup(nb);
		omap_put(left, name, NULL, NULL);
		uint64_t *v = omap_get(lt, name);
		handle_leave_intent(s, now_ms, name, (v ? *v : 0) + 1, false);
		free(name);
	}
	for (struct omap_node *it = omap_first(lt); it; it = omap_next(it)) {
		if (omap_find(left, omap_key(it)))
			continue;
		handle_join_intent(s, now_ms, omap_key(it), *(uint64_t *)omap_val(it));
	}
	omap_free(lt);
	omap_free(left);
	if (join && s->join_ignore && pp->event_ltime > s->event_min_time)
		s->event_min_time = pp->event_ltime;
	for (size_t i = 0; i < pp->n_events; i++) {
		const struct serfwire_event_slot *sl = &pp->events[i];
		if (!sl->present)
			continue;
		for (size_t j = 0; j < sl->n_events; j++) {
			struct serfwire_user_event e = {.ltime = sl->ltime,
			                                .name = sl->events[j].name,
			                                .payload = sl->events[j].payload};
			handle_user_event(s, &e);
		}
	}
	serfwire_msg_fini(&m);
	return 0;
}

/* ---- join, leave, tags ---- */

void serf_join(struct serf *s, uint64_t now_ms, const struct swim_addr *addr, bool ignore_old)
{
	s->join_ignore = ignore_old;
	swim_join(s->sw, now_ms, addr);
}

void serf_join_start(struct serf *s, bool ignore_old)
{
	s->join_ignore = ignore_old;
}

void serf_join_done(struct serf *s, uint64_t now_ms, bool ok)
{
	s->join_ignore = false;
	if (ok)
		broadcast_join(s, now_ms, serfwire_clock_time(&s->clock));
}

static void leave_done(struct serf *s, const char *error)
{
	s->leave = LV_DONE;
	s->leave_deadline_ms = SERF_NEVER;
	if (!error)
		s->state = SERF_LEFT;
	struct serf_fx *f = fx_push(s, SERF_FX_LEAVE_DONE);
	if (f)
		f->error = error;
}

static void leave_swim(struct serf *s, uint64_t now_ms)
{
	s->leave = LV_SWIM;
	s->leave_deadline_ms = now_ms + s->c.broadcast_timeout_ms;
	if (swim_leave(s->sw, now_ms) != 0)
		leave_done(s, "timeout waiting for leave broadcast");
}

/* our leave intent went out (or was dropped): memberlist's leave next; runs inside
 * serf_user_broadcasts(), so swim_leave waits for the next serf_tick() */
static void leave_bcast_finished(struct serf *s)
{
	if (s->leave == LV_BCAST)
		s->leave_deadline_ms = 0; /* due at once */
}

int serf_leave(struct serf *s, uint64_t now_ms, const char **err)
{
	if (s->state != SERF_ALIVE) {
		if (err)
			*err = "Leave already in progress";
		return -1;
	}
	s->state = SERF_LEAVING;
	struct serfwire_leave l = {.ltime = serfwire_clock_time(&s->clock),
	                           .node = serfwire_cstr(s->name)};
	serfwire_clock_increment(&s->clock);
	handle_leave_intent(s, now_ms, s->name, l.ltime, false);
	/* broadcast only if another member is alive to hear it */
	bool others = false;
	for (struct omap_node *it = omap_first(s->members); it && !others; it = omap_next(it)) {
		struct member *m = omap_val(it);
		others = m->status == SERF_STATUS_ALIVE && strcmp(omap_key(it), s->name) != 0;
	}
	if (!others) {
		leave_swim(s, now_ms);
		return 0;
	}
	struct buf b;
	buf_init(&b, ENC_MAX);
	int rc = serfwire_encode_leave(&b, &l, NULL);
	if (rc == 0) {
		s->leave = LV_BCAST;
		s->leave_deadline_ms = now_ms + s->c.broadcast_timeout_ms;
		bq_push(s, BQ_INTENT, b.p, b.len, true);
	}
	buf_fini(&b);
	if (rc != 0) {
		if (err)
			*err = "failed to encode leave";
		return -1;
	}
	return 0;
}

/* Serf.RemoveFailedNode / RemoveFailedNodePrune (serf.go forceLeave): a leave intent about
 * another member, handled here first, then broadcast when someone alive can hear it. serf
 * waits for the broadcast; the caller here does not (the intent queue retransmits it). */
int serf_force_leave(struct serf *s, uint64_t now_ms, const char *node, bool prune,
                     const char **err)
{
	struct serfwire_leave l = {.ltime = serfwire_clock_time(&s->clock),
	                           .node = serfwire_cstr(node),
	                           .prune = prune};
	serfwire_clock_increment(&s->clock);
	handle_leave_intent(s, now_ms, node, l.ltime, prune);
	bool others = false;
	for (struct omap_node *it = omap_first(s->members); it && !others; it = omap_next(it)) {
		struct member *m = omap_val(it);
		others = m->status == SERF_STATUS_ALIVE && strcmp(omap_key(it), s->name) != 0;
	}
	if (!others)
		return 0;
	struct buf b;
	buf_init(&b, ENC_MAX);
	int rc = serfwire_encode_leave(&b, &l, NULL);
	if (rc == 0)
		bq_push(s, BQ_INTENT, b.p, b.len, false);
	buf_fini(&b);
	if (rc != 0 && err)
		*err = "failed to encode leave";
	return rc;
}

/* serf.go Create with a snapshot: the clocks witness what the last run reached, and events
 * and queries up to then are old news (eventMinTime / queryMinTime). */
void serf_restore_clocks(struct serf *s, uint64_t clock, uint64_t event_clock,
                         uint64_t query_clock)
{
	serfwire_clock_witness(&s->clock, clock);
	serfwire_clock_witness(&s->event_clock, event_clock);
	serfwire_clock_witness(&s->query_clock, query_clock);
	if (event_clock + 1 > s->event_min_time)
		s->event_min_time = event_clock + 1;
	if (query_clock + 1 > s->query_min_time)
		s->query_min_time = query_clock + 1;
}

int serf_set_tags(struct serf *s, uint64_t now_ms, const uint8_t *meta, size_t len)
{
	struct serfwire_tags *t = xmalloc(sizeof(*t));
	uint8_t *copy = xmalloc(len ? len : 1);
	if (len)
		memcpy(copy, meta, len);
	if ((len && serfwire_tags_decode(copy, len, t, NULL) != 0) ||
	    swim_set_meta(s->sw, now_ms, meta, len) != 0) {
		free(t);
		free(copy);
		return -1;
	}
	if (!len)
		t->n = 0;
	free(s->self_meta);
	free(s->self_tags);
	s->self_meta = copy;
	s->self_meta_len = len;
	s->self_tags = t;
	return 0;
}

/* ---- timers ---- */

/* handleReap */
static void reap(struct serf *s, uint64_t now_ms)
{
	for (struct omap_node *it = omap_first(s->members), *nx; it; it = nx) {
		nx = omap_next(it);
		struct member *m = omap_val(it);
		uint64_t timeout;
		if (m->status == SERF_STATUS_FAILED)
			timeout = member_timeout_ms(m, s->c.reconnect_timeout_ms);
		else if (m->status == SERF_STATUS_LEFT)
			timeout = member_timeout_ms(m, s->c.tombstone_timeout_ms);
		else
			continue;
		if (now_ms - m->leave_ms <= timeout)
			continue;
		erase_node(s, m);
	}
	for (struct omap_node *it = omap_first(s->intents), *nx; it; it = nx) {
		nx = omap_next(it);
		struct intent *in = omap_val(it);
		if (now_ms - in->wall_ms > s->c.recent_intent_ms)
			omap_del(s->intents, omap_key(it), NULL);
	}
}

/* reconnect: one failed member, with probability numFailed / numAlive */
static void reconnect(struct serf *s)
{
	size_t failed = count_status(s, SERF_STATUS_FAILED);
	if (!failed)
		return;
	size_t left = count_status(s, SERF_STATUS_LEFT);
	size_t total = omap_count(s->members);
	float alive = (float)(total - failed - left);
	if (alive == 0)
		alive = 1;
	float prob = (float)failed / alive;
	if (rng_float(s) > prob)
		return; /* "forgoing reconnect for random throttling" */
	size_t idx = rng_below(s, failed);
	for (struct omap_node *it = omap_first(s->members); it; it = omap_next(it)) {
		struct member *m = omap_val(it);
		if (m->status != SERF_STATUS_FAILED || idx--)
			continue;
		struct serf_fx *f = fx_push(s, SERF_FX_RECONNECT);
		if (f)
			fx_member_copy(s, m, &f->member);
		s->st.reconnects++;
		break;
	}
}

void serf_tick(struct serf *s, uint64_t now_ms)
{
	if (now_ms >= s->next_reap_ms) {
		reap(s, now_ms);
		s->next_reap_ms = now_ms + s->c.reap_interval_ms;
	}
	if (now_ms >= s->next_reconnect_ms) {
		reconnect(s);
		s->next_reconnect_ms = now_ms + s->c.reconnect_interval_ms;
	}
	if (s->n_prunes) {
		for (struct omap_node *it = omap_first(s->members), *nx; it; it = nx) {
			nx = omap_next(it);
			struct member *m = omap_val(it);
			if (m->prune_ms && now_ms >= m->prune_ms)
				erase_node(s, m);
		}
	}
	for (size_t i = 0; i < SERF_QUERIES_OUT_MAX; i++)
		if (s->out[i].used && now_ms >= s->out[i].deadline_ms)
			out_close(s, &s->out[i], true);
	if (s->leave != LV_NONE && s->leave != LV_DONE && now_ms >= s->leave_deadline_ms) {
		switch (s->leave) {
		case LV_BCAST:
			/* notified (deadline 0) or timed out: serf returns the error then */
			if (s->leave_deadline_ms == 0)
				leave_swim(s, now_ms);
			else
				leave_done(s, "timeout while waiting for graceful leave");
			break;
		case LV_SWIM:
			leave_done(s, "timeout waiting for leave broadcast");
			break;
		case LV_PROPAGATE:
			leave_done(s, NULL);
			break;
		default:
			break;
		}
	}
}

uint64_t serf_next_deadline(const struct serf *s)
{
	uint64_t d = min_u64(s->next_reap_ms, s->next_reconnect_ms);
	if (s->leave != LV_NONE && s->leave != LV_DONE)
		d = min_u64(d, s->leave_deadline_ms);
	for (size_t i = 0; i < SERF_QUERIES_OUT_MAX; i++)
		if (s->out[i].used)
			d = min_u64(d, s->out[i].deadline_ms);
	if (s->n_prunes)
		for (struct omap_node *it = omap_first(s->members); it; it = omap_next(it)) {
			const struct member *m = omap_val(it);
			if (m->prune_ms)
				d = min_u64(d, m->prune_ms);
		}
	return d;
}

/* ---- life cycle ---- */

void serf_config_consul(struct serf_config *c)
{
	memset(c, 0, sizeof(*c));
	c->reap_interval_ms = SERF_REAP_INTERVAL_MS;
	c->reconnect_interval_ms = SERF_RECONNECT_INTERVAL_MS;
	c->reconnect_timeout_ms = SERF_RECONNECT_TIMEOUT_MS;
	c->tombstone_timeout_ms = SERF_TOMBSTONE_TIMEOUT_MS;
	c->recent_intent_ms = SERF_RECENT_INTENT_MS;
	c->broadcast_timeout_ms = SERF_BROADCAST_TIMEOUT_MS;
	c->leave_propagate_ms = SERF_LEAVE_PROPAGATE_MS;
	c->query_timeout_mult = SERF_QUERY_TIMEOUT_MULT;
	c->min_queue_depth = SERF_MIN_QUEUE_DEPTH;
}

static size_t ack_payload(void *arg, uint8_t *buf, size_t size)
{
	struct serf *s = arg;
	return s->c.ack_payload ? s->c.ack_payload(s->c.arg, buf, size) : 0;
}

struct serf *serf_new(const struct serf_config *c, const struct swim_config *mc, uint64_t now_ms)
{
	if (!c || !mc || !mc->name || !c->reap_interval_ms || !c->reconnect_interval_ms ||
	    !c->query_timeout_mult)
		return NULL;
	struct serf *s = xcalloc(1, sizeof(*s));
	s->c = *c;
	s->rng = c->seed;
	s->name = xstrdup(mc->name);
	s->gossip_interval_ms = mc->gossip_interval_ms;
	s->retransmit_mult = mc->retransmit_mult;
	s->members = omap_new(member_free);
	s->intents = omap_new(free);
	s->self_tags = xcalloc(1, sizeof(*s->self_tags));
	/* serf's Create: every clock starts at 1, so that a default status LTime of 0 is older
	 * than any intent */
	serfwire_clock_increment(&s->clock);
	serfwire_clock_increment(&s->event_clock);
	serfwire_clock_increment(&s->query_clock);
	if (!s->members || !s->intents)
		abort();
	if (mc->meta_len) {
		s->self_meta = xmalloc(mc->meta_len);
		memcpy(s->self_meta, mc->meta, mc->meta_len);
		s->self_meta_len = mc->meta_len;
		if (serfwire_tags_decode(s->self_meta, mc->meta_len, s->self_tags, NULL) != 0)
			s->self_tags->n = 0;
	}
	struct swim_ops ops = {
	    .arg = s, .user_broadcasts = serf_user_broadcasts, .ack_payload = ack_payload};
	s->sw = swim_new(mc, &ops, now_ms);
	if (!s->sw) {
		serf_free(s);
		return NULL;
	}
	s->next_reap_ms = now_ms + c->reap_interval_ms;
	s->next_reconnect_ms = now_ms + c->reconnect_interval_ms;
	s->leave_deadline_ms = SERF_NEVER;
	return s;
}

void serf_free(struct serf *s)
{
	if (!s)
		return;
	serf_effects_clear(s);
	free(s->fx);
	free(s->owned);
	swim_free(s->sw);
	omap_free(s->members);
	omap_free(s->intents);
	for (size_t i = 0; i < SERF_EVENT_BUFFER; i++)
		ev_slot_clear(&s->events[i]);
	for (size_t i = 0; i < SERF_QUERY_BUFFER; i++)
		free(s->queries[i].q);
	for (size_t i = 0; i < SERF_QUERIES_OUT_MAX; i++)
		if (s->out[i].used)
			out_close(s, &s->out[i], false);
	for (int q = 0; q < 3; q++) {
		for (size_t i = 0; i < s->bq[q].n; i++)
			free(s->bq[q].items[i].data);
		free(s->bq[q].items);
	}
	done_free(s);
	free(s->done);
	free(s->self_meta);
	free(s->self_tags);
	free(s->name);
	free(s);
}

struct swim *serf_swim(struct serf *s)
{
	return s->sw;
}

const struct serf_fx *serf_effects(struct serf *s, size_t *n)
{
	*n = s->n_fx;
	return s->fx;
}

void serf_effects_clear(struct serf *s)
{
	for (size_t i = 0; i < s->n_owned; i++)
		free(s->owned[i]);
	s->n_owned = 0;
	s->n_fx = 0;
}

bool serf_member(const struct serf *s, const char *name, struct serf_member_info *out)
{
	const struct member *m = member_get(s, name);
	if (!m)
		return false;
	if (out)
		member_info(m, out);
	return true;
}

size_t serf_members(const struct serf *s, struct serf_member_info *out, size_t max)
{
	size_t k = 0;
	for (struct omap_node *it = omap_first(s->members); it && k < max; it = omap_next(it))
		member_info(omap_val(it), &out[k++]);
	return k;
}

size_t serf_num_members(const struct serf *s)
{
	return omap_count(s->members);
}

enum serf_state serf_state(const struct serf *s)
{
	return s->state;
}

uint64_t serf_clock(const struct serf *s)
{
	return serfwire_clock_time(&s->clock);
}

uint64_t serf_event_clock(const struct serf *s)
{
	return serfwire_clock_time(&s->event_clock);
}

uint64_t serf_query_clock(const struct serf *s)
{
	return serfwire_clock_time(&s->query_clock);
}

size_t serf_intents(const struct serf *s)
{
	return omap_count(s->intents);
}

size_t serf_queued(const struct serf *s)
{
	return s->bq[0].n + s->bq[1].n + s->bq[2].n;
}

const struct serf_stats *serf_stats(const struct serf *s)
{
	return &s->st;
}

const char *serf_status_str(enum serf_status st)
{
	switch (st) {
	case SERF_STATUS_NONE:
		return "none";
	case SERF_STATUS_ALIVE:
		return "alive";
	case SERF_STATUS_LEAVING:
		return "leaving";
	case SERF_STATUS_LEFT:
		return "left";
	case SERF_STATUS_FAILED:
		return "failed";
	}
	return "unknown";
}

const char *serf_member_event_str(enum serf_member_event ev)
{
	switch (ev) {
	case SERF_EV_JOIN:
		return "member-join";
	case SERF_EV_LEAVE:
		return "member-leave";
	case SERF_EV_FAILED:
		return "member-failed";
	case SERF_EV_UPDATE:
		return "member-update";
	case SERF_EV_REAP:
		return "member-reap";
	}
	return "unknown";
}

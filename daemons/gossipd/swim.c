/* swim.c: memberlist's SWIM + Lifeguard membership as a pure state machine (spec §4.1–§4.3). */
#include "daemons/gossipd/swim.h"
#include "prng.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omap.h"
#include "xalloc.h"

/*
 * The algorithm is memberlist's state.go, step by step as spec §4.2 tells it; where the core
 * differs from memberlist (no goroutines: timers are deadlines that swim_tick() runs) it says so.
 *
 * State: a table of members (an ordered map by name, plus memberlist's probe list: the same
 * members in shuffled order), the current probe, the indirect pings we relay, the suspicion
 * timers, Lifeguard's awareness score and the broadcast queue (memberlist's
 * TransmitLimitedQueue: one entry per member, newest wins, each sent a limited number of times,
 * fewest transmissions first).
 */

#define CHUNK_SIZE    (32u << 10) /* effect arena chunks */
#define ORDER_KEY_LEN 12          /* 2 + 3 + 7 digits of 7 bits: order_key() */
#define ORDER_TX_MAX  ((1u << 14) - 1)
#define ORDER_ID_MAX  ((1ull << 49) - 1)

/* ---- internal types ---- */

struct suspicion {
	uint64_t start_ms, min_ms, max_ms, deadline_ms;
	uint32_t k, n; /* expected and received confirmations */
	size_t n_from; /* names in from[]: the accuser, then each confirmation */
	char **from;
};

struct member {
	struct omap_node *node; /* in s->byname; its key is the member's name */
	struct swim_addr addr;
	uint8_t *meta;
	size_t meta_len;
	uint32_t incarnation;
	enum swim_state state;
	uint64_t state_change_ms;
	uint8_t vsn[SWIM_VSN_LEN];
	struct suspicion *susp;
	size_t susp_idx; /* in s->suspects while susp is set */
};

enum tcp_state { TCP_NONE, TCP_PENDING, TCP_OK, TCP_FAILED };

struct probe {
	bool active;
	bool indirect; /* past the probe timeout: indirect pings sent */
	uint32_t seq;
	char target[SWIM_NAME_MAX + 1];
	uint32_t incarnation; /* the target's when the probe started */
	struct swim_addr addr;
	uint8_t pmax;
	uint64_t start_ms, timeout_ms, deadline_ms;
	uint32_t expected_nacks, nacks;
	enum tcp_state tcp;
};

struct relay {
	uint32_t local_seq, origin_seq;
	struct swim_addr origin;
	char origin_name[SWIM_NAME_MAX + 1];
	bool nack;
	uint64_t deadline_ms;
};

struct bcast {
	struct omap_node *by_name; /* key: the member the message is about */
	struct omap_node *by_order;
	enum swim_msg_type type;
	uint32_t incarnation;
	char *from;
	struct swim_addr addr;
	uint8_t *meta;
	size_t meta_len;
	uint8_t vsn_len;
	uint8_t vsn[SWIM_VSN_LEN];
	uint32_t transmits;
	uint64_t id;
	uint32_t size;
	bool notify; /* our leave: SWIM_EV_LEAVE_DONE when finished or replaced */
};

struct chunk {
	struct chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct swim {
	struct swim_config c;
	char name[SWIM_NAME_MAX + 1];
	struct swim_ops ops;
	uint64_t rng;
	uint64_t now;

	struct omap *byname;     /* name -> struct member * (not owned) */
	struct member **members; /* memberlist's m.nodes: the probe order */
	size_t n_members, cap_members;
	struct member *self;
	size_t probe_index;
	struct member **suspects;
	size_t n_suspects, cap_suspects;

	uint32_t awareness;
	uint32_t seq;
	bool left;
	struct probe probe;
	uint64_t next_tick_ms; /* the probe ticker: every ProbeInterval */
	bool tick_pending;     /* a tick came while a probe ran (a Go ticker keeps one) */
	uint64_t next_gossip_ms, next_push_pull_ms;
	struct relay *relays;
	size_t n_relays, cap_relays;

	struct omap *bq_name;  /* node name -> struct bcast * (owned through bq_order) */
	struct omap *bq_order; /* order key -> struct bcast * */
	uint64_t bq_id;

	/* effects */
	struct swim_fx *fx;
	size_t n_fx, cap_fx;
	struct chunk *chunks, *chunk_cur;
	size_t out_bytes;
	bool out_err;    /* the effect being built did not fit */
	bool leave_done; /* our leave broadcast finished: SWIM_EV_LEAVE_DONE at the end of the call
	                  */
	struct swim_msg *tmp; /* scratch: a packet being built */
	size_t n_tmp, cap_tmp;
	struct bcast **reinsert;
	size_t cap_reinsert;
	struct member **pick; /* scratch: k random members */

	struct swim_stats stats;
};

/* ---- formulas (§4.1, §4.2) ---- */

uint64_t swim_suspicion_timeout_ms(uint32_t mult, size_t n, uint32_t interval_ms)
{
	/* memberlist suspicionTimeout(): nodeScale kept to 3 decimals, as it does */
	double scale = fmax(1.0, log10(fmax(1.0, (double)n)));
	return (uint64_t)mult * (uint64_t)(scale * 1000.0) * interval_ms / 1000;
}

uint64_t swim_suspicion_after_ms(uint32_t c, uint32_t k, uint64_t min_ms, uint64_t max_ms)
{
	/* memberlist remainingSuspicionTime() before subtracting the elapsed time */
	if (k == 0)
		return min_ms;
	double frac = log((double)c + 1.0) / log((double)k + 1.0);
	double raw = (double)max_ms - frac * ((double)max_ms - (double)min_ms);
	double t = floor(raw);
	if (t < (double)min_ms)
		return min_ms;
	return (uint64_t)t;
}

uint32_t swim_retransmit_limit(uint32_t mult, size_t n)
{
	return mult * (uint32_t)ceil(log10((double)n + 1.0));
}

uint64_t swim_push_pull_interval_ms(uint32_t interval_ms, size_t n)
{
	/* memberlist pushPullScale(): threshold 32 members */
	if (n <= 32)
		return interval_ms;
	double mult = ceil(log2((double)n) - log2(32.0)) + 1.0;
	return (uint64_t)mult * interval_ms;
}

/* ---- configuration ---- */

static void config_common(struct swim_config *c)
{
	memset(c, 0, sizeof(*c));
	static const uint8_t vsn[SWIM_VSN_LEN] = {1, 5, 2, 2, 5, 5};
	memcpy(c->vsn, vsn, sizeof(vsn));
	c->suspicion_max_timeout_mult = 6;
	c->awareness_max = 8;
	c->udp_buffer_size = 1400;
}

void swim_config_lan(struct swim_config *c)
{
	config_common(c);
	c->probe_interval_ms = 1000;
	c->probe_timeout_ms = 500;
	c->gossip_interval_ms = 200;
	c->gossip_nodes = 3;
	c->indirect_checks = 3;
	c->retransmit_mult = 4;
	c->suspicion_mult = 4;
	c->gossip_to_the_dead_ms = 30000;
	c->push_pull_interval_ms = 30000;
}

void swim_config_wan(struct swim_config *c)
{
	config_common(c);
	c->probe_interval_ms = 5000;
	c->probe_timeout_ms = 3000;
	c->gossip_interval_ms = 500;
	c->gossip_nodes = 4;
	c->indirect_checks = 3;
	c->retransmit_mult = 4;
	c->suspicion_mult = 6;
	c->gossip_to_the_dead_ms = 60000;
	c->push_pull_interval_ms = 60000;
}

void swim_config_local(struct swim_config *c)
{
	config_common(c);
	c->probe_interval_ms = 1000;
	c->probe_timeout_ms = 200;
	c->gossip_interval_ms = 100;
	c->gossip_nodes = 3;
	c->indirect_checks = 1;
	c->retransmit_mult = 2;
	c->suspicion_mult = 3;
	c->gossip_to_the_dead_ms = 15000;
	c->push_pull_interval_ms = 15000;
}

/* ---- small helpers ---- */

static uint64_t rng_next(struct swim *s)
{
	return prng_next(&s->rng);
}

static size_t rng_below(struct swim *s, size_t n)
{
	return n ? (size_t)(rng_next(s) % n) : 0;
}

static bool name_ok(const char *p, bool empty_ok)
{
	if (!p)
		return empty_ok;
	size_t len = strnlen(p, SWIM_NAME_MAX + 1);
	return len <= SWIM_NAME_MAX && (empty_ok || len > 0);
}

static const char *str_or_empty(const char *p)
{
	return p ? p : "";
}

static bool addr_ok(const struct swim_addr *a)
{
	return a->len == 4 || a->len == 16;
}

static bool addr_eq(const struct swim_addr *a, const struct swim_addr *b)
{
	return a->len == b->len && a->port == b->port && memcmp(a->ip, b->ip, a->len) == 0;
}

static bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static const char *member_name(const struct member *m)
{
	return omap_key(m->node);
}

static bool is_dead_or_left(const struct member *m)
{
	return m->state == SWIM_DEAD || m->state == SWIM_LEFT;
}

/* ---- effects: an arena of chunks (pointers stay valid until the clear) ---- */

static void *out_alloc(struct swim *s, size_t n)
{
	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (n == 0)
		n = sizeof(max_align_t);
	if (s->out_bytes + n > SWIM_OUT_BYTES_MAX) {
		s->out_err = true;
		return NULL;
	}
	struct chunk *c = s->chunk_cur;
	if (!c || c->size - c->used < n) {
		/* a new chunk after the current one (the last: clear frees all but the first) */
		size_t size = n > CHUNK_SIZE ? n : CHUNK_SIZE;
		struct chunk *nc = xmalloc(sizeof(*nc) + size);
		nc->next = NULL;
		nc->used = 0;
		nc->size = size;
		if (c)
			c->next = nc;
		else
			s->chunks = nc;
		c = s->chunk_cur = nc;
	}
	void *p = (uint8_t *)c->data + c->used;
	c->used += n;
	s->out_bytes += n;
	return p;
}

static const uint8_t *out_bytes(struct swim *s, const uint8_t *p, size_t len)
{
	if (len == 0)
		return NULL;
	uint8_t *d = out_alloc(s, len);
	if (d)
		memcpy(d, p, len);
	return d;
}

static const char *out_str(struct swim *s, const char *p)
{
	p = str_or_empty(p);
	size_t len = strlen(p);
	char *d = out_alloc(s, len + 1);
	if (!d)
		return "";
	memcpy(d, p, len + 1);
	return d;
}

/* A copy of m whose strings and bytes live in the arena. */
static void out_msg(struct swim *s, struct swim_msg *d, const struct swim_msg *m)
{
	*d = *m;
	d->node = out_str(s, m->node);
	d->from = out_str(s, m->from);
	d->meta = out_bytes(s, m->meta, m->meta_len);
	d->payload = out_bytes(s, m->payload, m->payload_len);
}

static void tmp_reset(struct swim *s)
{
	s->n_tmp = 0;
}

static void tmp_push(struct swim *s, const struct swim_msg *m)
{
	if (s->n_tmp == s->cap_tmp) {
		s->cap_tmp = s->cap_tmp ? s->cap_tmp * 2 : 64;
		s->tmp = xrealloc(s->tmp, s->cap_tmp * sizeof(*s->tmp));
	}
	out_msg(s, &s->tmp[s->n_tmp++], m);
}

/* Starts an effect (out_err cleared); fx_commit() keeps it unless something did not fit. */
static struct swim_fx *fx_begin(struct swim *s, enum swim_fx_type type)
{
	s->out_err = false;
	if (s->n_fx >= SWIM_FX_MAX) {
		s->out_err = true;
		return NULL;
	}
	if (s->n_fx == s->cap_fx) {
		s->cap_fx = s->cap_fx ? s->cap_fx * 2 : 64;
		s->fx = xrealloc(s->fx, s->cap_fx * sizeof(*s->fx));
	}
	struct swim_fx *fx = &s->fx[s->n_fx];
	memset(fx, 0, sizeof(*fx));
	fx->type = type;
	fx->to_name = "";
	return fx;
}

static void fx_commit(struct swim *s, struct swim_fx *fx)
{
	if (!fx || s->out_err) {
		s->stats.fx_dropped++;
		return;
	}
	s->n_fx++;
}

/* The packet in s->tmp as one SEND effect. */
static void fx_send_tmp(struct swim *s, const struct swim_addr *to, const char *to_name)
{
	if (s->n_tmp == 0)
		return;
	bool err = s->out_err; /* the messages' copies */
	struct swim_fx *fx = fx_begin(s, SWIM_FX_SEND);
	if (fx) {
		s->out_err = err;
		fx->to = *to;
		fx->to_name = out_str(s, to_name);
		struct swim_msg *msgs = out_alloc(s, s->n_tmp * sizeof(*msgs));
		if (msgs) {
			memcpy(msgs, s->tmp, s->n_tmp * sizeof(*msgs));
			fx->msgs = msgs;
			fx->n_msgs = s->n_tmp;
		}
	}
	fx_commit(s, fx);
	tmp_reset(s);
}

static void node_state_of(struct swim *s, struct swim_node_state *d, const struct member *m)
{
	d->name = out_str(s, member_name(m));
	d->addr = m->addr;
	d->meta = out_bytes(s, m->meta, m->meta_len);
	d->meta_len = m->meta_len;
	d->incarnation = m->incarnation;
	d->state = m->state;
	memcpy(d->vsn, m->vsn, SWIM_VSN_LEN);
	d->state_change_ms = m->state_change_ms;
}

static void emit_event(struct swim *s, enum swim_event ev, const struct member *m, const char *from)
{
	struct swim_fx *fx = fx_begin(s, SWIM_FX_EVENT);
	if (fx) {
		fx->event = ev;
		if (m) {
			node_state_of(s, &fx->node, m);
			fx->to = m->addr;
			fx->to_name = fx->node.name;
		} else {
			fx->node.name = "";
		}
		fx->from = out_str(s, from);
	}
	fx_commit(s, fx);
}

/* The end of every entry point: what waited for the packets of the call to be queued. */
static void end_call(struct swim *s)
{
	if (s->leave_done) {
		s->leave_done = false;
		emit_event(s, SWIM_EV_LEAVE_DONE, s->self, NULL);
	}
}

const struct swim_fx *swim_effects(struct swim *s, size_t *n)
{
	*n = s->n_fx;
	return s->fx;
}

void swim_effects_clear(struct swim *s)
{
	s->n_fx = 0;
	s->out_bytes = 0;
	/* keep the first chunk, free the rest (a burst does not pin memory) */
	if (s->chunks) {
		struct chunk *c = s->chunks->next;
		while (c) {
			struct chunk *next = c->next;
			free(c);
			c = next;
		}
		s->chunks->next = NULL;
		s->chunks->used = 0;
		if (s->chunks->size > CHUNK_SIZE) {
			free(s->chunks);
			s->chunks = NULL;
		}
	}
	s->chunk_cur = s->chunks;
}

/* ---- message sizes: go-msgpack's encoding (§4.3; tests/gossip captures) ---- */

static size_t mp_uint(uint64_t v)
{
	return v < 128 ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 : v <= 0xffffffffu ? 5 : 9;
}

/* Strings and []byte are written as msgpack raw: fixstr, str16, str32 (never str8: a 130-byte
 * ack payload is `da 0082` in the captures). */
static size_t mp_raw(size_t len)
{
	return len < 32 ? 1 + len : len < 65536 ? 3 + len : 5 + len;
}

static size_t mp_key(const char *k)
{
	return 1 + strlen(k);
}

static size_t f_uint(const char *k, uint64_t v)
{
	return mp_key(k) + mp_uint(v);
}

static size_t f_raw(const char *k, size_t len)
{
	return mp_key(k) + mp_raw(len);
}

static size_t f_str(const char *k, const char *v)
{
	return f_raw(k, strlen(str_or_empty(v)));
}

/* ping and indirectPingReq's omitempty SourceAddr/SourcePort/SourceNode */
static size_t f_source(const struct swim_msg *m)
{
	size_t n = 0;
	if (m->source.len)
		n += f_raw("SourceAddr", m->source.len);
	if (m->source.port)
		n += f_uint("SourcePort", m->source.port);
	if (m->from && m->from[0])
		n += f_str("SourceNode", m->from);
	return n;
}

size_t swim_msg_size(const struct swim_msg *m)
{
	size_t n = 2; /* type byte, fixmap header (at most 8 fields) */
	switch (m->type) {
	case SWIM_MSG_PING:
		n += f_uint("SeqNo", m->seq) + f_str("Node", m->node) + f_source(m);
		break;
	case SWIM_MSG_INDIRECT_PING:
		n += f_uint("SeqNo", m->seq) + f_raw("Target", m->addr.len) +
		     f_uint("Port", m->addr.port) + f_str("Node", m->node) + mp_key("Nack") + 1 +
		     f_source(m);
		break;
	case SWIM_MSG_ACK:
		n += f_uint("SeqNo", m->seq) + f_raw("Payload", m->payload_len);
		break;
	case SWIM_MSG_NACK:
		n += f_uint("SeqNo", m->seq);
		break;
	case SWIM_MSG_SUSPECT:
	case SWIM_MSG_DEAD:
		n += f_uint("Incarnation", m->incarnation) + f_str("Node", m->node) +
		     f_str("From", m->from);
		break;
	case SWIM_MSG_ALIVE:
		n += f_uint("Incarnation", m->incarnation) + f_str("Node", m->node) +
		     f_raw("Addr", m->addr.len) + f_uint("Port", m->addr.port) +
		     f_raw("Meta", m->meta_len) + f_raw("Vsn", m->vsn_len);
		break;
	case SWIM_MSG_USER:
		n = 1 + m->payload_len;
		break;
	}
	return n;
}

/* ---- members ---- */

static struct member *member_find(const struct swim *s, const char *name)
{
	return omap_get(s->byname, name);
}

static void member_set_meta(struct member *m, const uint8_t *meta, size_t len)
{
	if (bytes_eq(m->meta, m->meta_len, meta, len))
		return;
	free(m->meta);
	m->meta = NULL;
	m->meta_len = len;
	if (len) {
		m->meta = xmalloc(len);
		memcpy(m->meta, meta, len);
	}
}

/* A new member, state dead until its alive is applied (as memberlist's aliveNode), placed at a
 * random offset of the probe list: "important to ensure the failure detection bound is low on
 * average. If all nodes did an append, failure detection bound would be very high." */
static struct member *member_add(struct swim *s, const char *name)
{
	if (s->n_members >= SWIM_MEMBERS_MAX) {
		s->stats.table_full++;
		return NULL;
	}
	struct member *m = xcalloc(1, sizeof(*m));
	m->state = SWIM_DEAD;
	if (omap_put(s->byname, name, m, NULL) < 0)
		xalloc_fail(sizeof(*m));
	m->node = omap_find(s->byname, name);
	if (s->n_members == s->cap_members) {
		s->cap_members = s->cap_members ? s->cap_members * 2 : 16;
		s->members = xrealloc(s->members, s->cap_members * sizeof(*s->members));
	}
	size_t n = s->n_members;
	size_t off = rng_below(s, n);
	s->members[n] = m;
	s->members[n] = s->members[off];
	s->members[off] = m;
	s->n_members++;
	return m;
}

static void member_free(struct member *m)
{
	free(m->meta);
	free(m);
}

/* ---- awareness (Lifeguard, §4.2 step 5) ---- */

static void awareness_apply(struct swim *s, int delta)
{
	int64_t score = (int64_t)s->awareness + delta;
	if (score < 0)
		score = 0;
	if (score > (int64_t)s->c.awareness_max - 1)
		score = (int64_t)s->c.awareness_max - 1;
	s->awareness = (uint32_t)score;
}

static uint64_t awareness_scale(const struct swim *s, uint64_t t)
{
	return t * (s->awareness + 1);
}

/* ---- the broadcast queue (memberlist's TransmitLimitedQueue, §4.2 step 10) ---- */

/* Big-endian digits of 7 bits, each with the top bit set: no NUL, and byte order (strcmp's,
 * unsigned) is numeric order. */
static char *order_digits(char *p, uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--)
		*p++ = (char)(0x80 | ((v >> (7 * i)) & 0x7f));
	return p;
}

/* Ordered by transmits ascending, then size descending, then id descending (newest first):
 * memberlist's limitedBroadcast.Less. Short keys: the map compares them a lot. */
static void order_key(char *buf, uint32_t transmits, uint32_t size, uint64_t id)
{
	char *p = buf;
	p = order_digits(p, transmits < ORDER_TX_MAX ? transmits : ORDER_TX_MAX, 2);
	p = order_digits(p, 0xffff - (size < 0xffff ? size : 0xffff), 3);
	p = order_digits(p, ORDER_ID_MAX - (id < ORDER_ID_MAX ? id : ORDER_ID_MAX), 7);
	*p = '\0';
}

static void bcast_order_insert(struct swim *s, struct bcast *b)
{
	char key[ORDER_KEY_LEN + 1];
	order_key(key, b->transmits, b->size, b->id);
	if (omap_put(s->bq_order, key, b, NULL) < 0)
		xalloc_fail(sizeof(*b));
	b->by_order = omap_find(s->bq_order, key);
}

static void bcast_free(struct bcast *b)
{
	free(b->from);
	free(b->meta);
	free(b);
}

/* Removes b from the queue: finished (sent enough) or invalidated by a newer message. */
static void bcast_finish(struct swim *s, struct bcast *b)
{
	if (b->by_order)
		omap_del(s->bq_order, omap_key(b->by_order), NULL);
	omap_del(s->bq_name, omap_key(b->by_name), NULL);
	if (b->notify)
		s->leave_done = true; /* reported after the packet that carried it */
	bcast_free(b);
}

static void bcast_to_msg(const struct bcast *b, struct swim_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = b->type;
	m->incarnation = b->incarnation;
	m->node = omap_key(b->by_name);
	m->from = b->from;
	m->addr = b->addr;
	m->meta = b->meta;
	m->meta_len = b->meta_len;
	m->vsn_len = b->vsn_len;
	memcpy(m->vsn, b->vsn, SWIM_VSN_LEN);
}

/* Queues a suspect, alive or dead about m->node: "newer messages about the same node invalidate
 * older queued ones" (§4.2 step 10). */
static void bcast_queue(struct swim *s, const struct swim_msg *m, bool notify)
{
	struct omap_node *old = omap_find(s->bq_name, m->node);
	if (old)
		bcast_finish(s, omap_val(old));
	if (omap_count(s->bq_name) >= SWIM_BCAST_MAX) {
		/* memberlist's Prune: drop the most transmitted */
		struct bcast *last = omap_val(omap_last(s->bq_order));
		bcast_finish(s, last);
		s->stats.bcast_dropped++;
	}
	struct bcast *b = xcalloc(1, sizeof(*b));
	b->type = m->type;
	b->incarnation = m->incarnation;
	b->from = m->from ? xstrdup(m->from) : NULL;
	b->addr = m->addr;
	if (m->meta_len) {
		b->meta = xmalloc(m->meta_len);
		memcpy(b->meta, m->meta, m->meta_len);
		b->meta_len = m->meta_len;
	}
	b->vsn_len = m->vsn_len;
	memcpy(b->vsn, m->vsn, SWIM_VSN_LEN);
	b->id = ++s->bq_id;
	b->size = (uint32_t)swim_msg_size(m);
	b->notify = notify;
	if (omap_put(s->bq_name, m->node, b, NULL) < 0)
		xalloc_fail(sizeof(*b));
	b->by_name = omap_find(s->bq_name, m->node);
	bcast_order_insert(s, b);
}

/*
 * memberlist's GetBroadcasts: walk the tiers of transmit counts from the lowest, taking in each
 * the largest message that still fits (newest among equals), until the space is used. Taken
 * messages go to s->tmp; those sent RetransmitMult·ceil(log10(N+1)) times leave the queue.
 */
static size_t bcast_get(struct swim *s, size_t overhead, size_t limit)
{
	size_t used = 0, n_reinsert = 0, taken = 0;
	if (omap_count(s->bq_order) > 0) {
		uint32_t tx_limit = swim_retransmit_limit(s->c.retransmit_mult, s->n_members);
		const struct bcast *first = omap_val(omap_first(s->bq_order));
		const struct bcast *last = omap_val(omap_last(s->bq_order));
		uint32_t max_tr = last->transmits;
		for (uint32_t t = first->transmits; t <= max_tr;) {
			if (used + overhead >= limit)
				break;
			size_t space = limit - used - overhead;
			char key[ORDER_KEY_LEN + 1];
			order_key(key, t, space > 0xffff ? 0xffff : (uint32_t)space, ORDER_ID_MAX);
			struct omap_node *n = omap_seek(s->bq_order, key);
			struct bcast *b = n ? omap_val(n) : NULL;
			if (!b || b->transmits != t) {
				t++;
				continue;
			}
			assert(b->size <= space);
			struct swim_msg m;
			bcast_to_msg(b, &m);
			tmp_push(s, &m);
			taken++;
			used += overhead + b->size;
			omap_del(s->bq_order, omap_key(b->by_order), NULL);
			b->by_order = NULL;
			if (b->transmits + 1 >= tx_limit) {
				bcast_finish(s, b);
			} else {
				/* the next tier is still to be walked: reinsert after the walk */
				b->transmits++;
				if (n_reinsert == s->cap_reinsert) {
					s->cap_reinsert =
					    s->cap_reinsert ? s->cap_reinsert * 2 : 64;
					s->reinsert = xrealloc(
					    s->reinsert, s->cap_reinsert * sizeof(*s->reinsert));
				}
				s->reinsert[n_reinsert++] = b;
			}
		}
		for (size_t i = 0; i < n_reinsert; i++)
			bcast_order_insert(s, s->reinsert[i]);
	}

	/* then Serf's, framed as user messages (one type byte) */
	if (s->ops.user_broadcasts && limit > used && limit - used > overhead + 1) {
		struct swim_user_msg um[SWIM_USER_BCAST_MAX];
		size_t avail = limit - used;
		size_t k = s->ops.user_broadcasts(s->ops.arg, overhead + 1, avail, um,
		                                  SWIM_USER_BCAST_MAX);
		for (size_t i = 0; i < k && i < SWIM_USER_BCAST_MAX; i++) {
			if (used + overhead + 1 + um[i].len > limit)
				continue; /* the callback broke its contract: not sent */
			struct swim_msg m = {.type = SWIM_MSG_USER};
			m.payload = um[i].data;
			m.payload_len = um[i].len;
			tmp_push(s, &m);
			taken++;
			used += overhead + 1 + um[i].len;
		}
	}
	return taken;
}

/* Room for piggybacked broadcasts next to a message of msg_size bytes (memberlist sendMsg,
 * which forgets the message's own 2-byte length in the compound: counted here). */
static size_t piggyback_room(const struct swim *s, size_t msg_size)
{
	size_t fixed = msg_size + 2 + 2 + s->c.packet_overhead; /* compound header, own length */
	return s->c.udp_buffer_size > fixed ? s->c.udp_buffer_size - fixed : 0;
}

/* Sends m to `to` with queued broadcasts piggybacked (memberlist encodeAndSendMsg). */
static void send_msg(struct swim *s, const struct swim_addr *to, const char *to_name,
                     const struct swim_msg *m)
{
	tmp_reset(s);
	s->out_err = false;
	tmp_push(s, m);
	size_t room = piggyback_room(s, swim_msg_size(m));
	if (room > 0)
		bcast_get(s, 2, room); /* compoundOverhead: a u16 length per message */
	fx_send_tmp(s, to, to_name);
}

/* ---- suspicion timers (memberlist suspicion.go) ---- */

static void suspicion_clear(struct swim *s, struct member *m)
{
	struct suspicion *sp = m->susp;
	if (!sp)
		return;
	size_t i = m->susp_idx;
	assert(i < s->n_suspects && s->suspects[i] == m);
	s->suspects[i] = s->suspects[--s->n_suspects];
	s->suspects[i]->susp_idx = i;
	for (size_t j = 0; j < sp->n_from; j++)
		free(sp->from[j]);
	free(sp->from);
	free(sp);
	m->susp = NULL;
}

static void suspicion_start(struct swim *s, uint64_t now, struct member *m, const char *from,
                            uint32_t k, uint64_t min_ms, uint64_t max_ms)
{
	struct suspicion *sp = xcalloc(1, sizeof(*sp));
	sp->start_ms = now;
	sp->k = k;
	sp->min_ms = min_ms;
	sp->max_ms = max_ms;
	/* "If there aren't any confirmations to be made then take the min time from the start." */
	sp->deadline_ms = now + (k < 1 ? min_ms : max_ms);
	sp->from = xcalloc(k + 1, sizeof(*sp->from));
	sp->from[sp->n_from++] = xstrdup(from); /* the accuser is no confirmation */
	m->susp = sp;
	if (s->n_suspects == s->cap_suspects) {
		s->cap_suspects = s->cap_suspects ? s->cap_suspects * 2 : 16;
		s->suspects = xrealloc(s->suspects, s->cap_suspects * sizeof(*s->suspects));
	}
	m->susp_idx = s->n_suspects;
	s->suspects[s->n_suspects++] = m;
}

/* A suspect message from another accuser: true when it is a new, needed confirmation (and so
 * worth re-gossiping). Each shortens the timer (§4.2 step 6). */
static bool suspicion_confirm(struct member *m, const char *from)
{
	struct suspicion *sp = m->susp;
	if (sp->n >= sp->k)
		return false;
	from = str_or_empty(from);
	for (size_t i = 0; i < sp->n_from; i++)
		if (strcmp(sp->from[i], from) == 0)
			return false;
	sp->from[sp->n_from++] = xstrdup(from);
	sp->n++;
	sp->deadline_ms =
	    sp->start_ms + swim_suspicion_after_ms(sp->n, sp->k, sp->min_ms, sp->max_ms);
	return true;
}

/* ---- state changes (memberlist aliveNode, suspectNode, deadNode, refute) ---- */

static void self_alive_msg(const struct swim *s, struct swim_msg *a)
{
	const struct member *me = s->self;
	memset(a, 0, sizeof(*a));
	a->type = SWIM_MSG_ALIVE;
	a->incarnation = me->incarnation;
	a->node = s->name;
	a->addr = me->addr;
	a->meta = me->meta;
	a->meta_len = me->meta_len;
	a->vsn_len = SWIM_VSN_LEN;
	memcpy(a->vsn, me->vsn, SWIM_VSN_LEN);
}

/* §4.2 step 8: beat the accusation with accused+1 (or our next), broadcast alive; Lifeguard
 * counts being accused against our own health (+1). */
static void refute(struct swim *s, uint32_t accused)
{
	struct member *me = s->self;
	uint32_t inc = me->incarnation + 1;
	if (accused >= inc)
		inc = accused == UINT32_MAX ? UINT32_MAX : accused + 1;
	me->incarnation = inc;
	awareness_apply(s, 1);
	struct swim_msg a;
	self_alive_msg(s, &a);
	bcast_queue(s, &a, false);
	s->stats.refutes++;
	emit_event(s, SWIM_EV_REFUTE, me, NULL);
}

static void alive_node(struct swim *s, uint64_t now, const struct swim_msg *a, bool bootstrap)
{
	bool is_local = strcmp(a->node, s->name) == 0;
	/* an alive already queued when we left must not make us rejoin */
	if (s->left && is_local)
		return;
	if (a->vsn_len >= 3 && (a->vsn[0] == 0 || a->vsn[1] == 0 || a->vsn[0] > a->vsn[1])) {
		s->stats.malformed++;
		return;
	}
	bool updates = false;
	struct member *m = member_find(s, a->node);
	if (!m) {
		m = member_add(s, a->node);
		if (!m)
			return;
		m->addr = a->addr;
		member_set_meta(m, a->meta, a->meta_len);
		if (a->vsn_len == SWIM_VSN_LEN)
			memcpy(m->vsn, a->vsn, SWIM_VSN_LEN);
	} else if (!addr_eq(&m->addr, &a->addr)) {
		/* a name at a new address: allowed for a left member, or a dead one after
		 * DeadNodeReclaimTime; otherwise a conflict (Serf may resolve it) */
		bool reclaim = s->c.dead_node_reclaim_ms > 0 &&
		               now - m->state_change_ms > s->c.dead_node_reclaim_ms;
		if (m->state == SWIM_LEFT || (m->state == SWIM_DEAD && reclaim)) {
			updates = true;
		} else {
			s->stats.conflicts++;
			struct swim_fx *fx = fx_begin(s, SWIM_FX_EVENT);
			if (fx) {
				fx->event = SWIM_EV_CONFLICT;
				fx->node.name = out_str(s, a->node);
				fx->node.addr = a->addr;
				fx->node.meta = out_bytes(s, a->meta, a->meta_len);
				fx->node.meta_len = a->meta_len;
				fx->node.incarnation = a->incarnation;
				fx->node.state = SWIM_ALIVE;
				memcpy(fx->node.vsn, a->vsn, SWIM_VSN_LEN);
				fx->to = a->addr;
				fx->to_name = fx->node.name;
				fx->from = "";
			}
			fx_commit(s, fx);
			return;
		}
	}
	/* §4.2 step 8: only a newer incarnation overrides (ours: not older) */
	if (a->incarnation <= m->incarnation && !is_local && !updates)
		return;
	if (a->incarnation < m->incarnation && is_local)
		return;
	suspicion_clear(s, m);
	enum swim_state old_state = m->state;
	bool meta_changed = false;
	if (!bootstrap && is_local) {
		/* someone says we are alive with other meta or versions (a restart with a new
		 * config at the same incarnation): refute, unless it is exactly us */
		if (a->incarnation == m->incarnation &&
		    bytes_eq(a->meta, a->meta_len, m->meta, m->meta_len) &&
		    a->vsn_len == SWIM_VSN_LEN && memcmp(a->vsn, m->vsn, SWIM_VSN_LEN) == 0)
			return;
		refute(s, a->incarnation);
	} else {
		bcast_queue(s, a, false);
		if (a->vsn_len == SWIM_VSN_LEN)
			memcpy(m->vsn, a->vsn, SWIM_VSN_LEN);
		m->incarnation = a->incarnation;
		meta_changed = !bytes_eq(a->meta, a->meta_len, m->meta, m->meta_len);
		member_set_meta(m, a->meta, a->meta_len);
		m->addr = a->addr;
		if (m->state != SWIM_ALIVE) {
			m->state = SWIM_ALIVE;
			m->state_change_ms = now;
		}
	}
	if (old_state == SWIM_DEAD || old_state == SWIM_LEFT)
		emit_event(s, SWIM_EV_JOIN, m, NULL);
	else if (meta_changed)
		emit_event(s, SWIM_EV_UPDATE, m, NULL);
	else if (old_state == SWIM_SUSPECT && m->state == SWIM_ALIVE)
		emit_event(s, SWIM_EV_ALIVE, m, NULL);
}

static void dead_node(struct swim *s, uint64_t now, const struct swim_msg *d)
{
	struct member *m = member_find(s, d->node);
	if (!m)
		return;
	if (d->incarnation < m->incarnation)
		return;
	suspicion_clear(s, m);
	if (is_dead_or_left(m))
		return;
	bool notify = false;
	if (m == s->self) {
		if (!s->left) {
			refute(s, d->incarnation);
			return;
		}
		notify = true; /* our leave: tell the caller when it has gone out */
	}
	bcast_queue(s, d, notify);
	m->incarnation = d->incarnation;
	/* §4.2 step 9: dead from the node itself is a graceful leave */
	m->state = strcmp(d->node, str_or_empty(d->from)) == 0 ? SWIM_LEFT : SWIM_DEAD;
	m->state_change_ms = now;
	if (m->state == SWIM_DEAD)
		s->stats.deads++;
	emit_event(s, m->state == SWIM_LEFT ? SWIM_EV_LEFT : SWIM_EV_FAILED, m, d->from);
}

static void suspicion_expire(struct swim *s, uint64_t now, struct member *m)
{
	/* §4.2 step 7: timer expiry -> dead, declared by us */
	struct swim_msg d = {.type = SWIM_MSG_DEAD};
	d.incarnation = m->incarnation;
	d.node = member_name(m);
	d.from = s->name;
	dead_node(s, now, &d);
}

static void suspect_node(struct swim *s, uint64_t now, const struct swim_msg *sm)
{
	struct member *m = member_find(s, sm->node);
	if (!m)
		return;
	if (sm->incarnation < m->incarnation)
		return;
	/* "See if there's a suspicion timer we can confirm. If the info is new to us we will go
	 * ahead and re-gossip it. This allows for multiple independent confirmations to flow even
	 * when a node probes a node that's already suspect." */
	if (m->susp) {
		if (suspicion_confirm(m, sm->from)) {
			bcast_queue(s, sm, false);
			if (m->susp->deadline_ms <= now)
				suspicion_expire(s, now, m);
		}
		return;
	}
	if (m->state != SWIM_ALIVE)
		return;
	if (m == s->self) {
		refute(s, sm->incarnation);
		return;
	}
	bcast_queue(s, sm, false);
	m->incarnation = sm->incarnation;
	m->state = SWIM_SUSPECT;
	m->state_change_ms = now;
	s->stats.suspects++;
	/* k = SuspicionMult − 2 expected confirmations, none when fewer than k others (us and the
	 * suspect excluded) could give them; timeouts from the cluster size (§4.2 step 6) */
	size_t n = s->n_members;
	int64_t k = (int64_t)s->c.suspicion_mult - 2;
	if ((int64_t)n - 2 < k)
		k = 0;
	if (k < 0)
		k = 0;
	uint64_t min_ms = swim_suspicion_timeout_ms(s->c.suspicion_mult, n, s->c.probe_interval_ms);
	uint64_t max_ms = (uint64_t)s->c.suspicion_max_timeout_mult * min_ms;
	suspicion_start(s, now, m, str_or_empty(sm->from), (uint32_t)k, min_ms, max_ms);
	emit_event(s, SWIM_EV_SUSPECT, m, sm->from);
}

/* ---- random peers (memberlist kRandomNodes) ---- */

enum pick_kind { PICK_ALIVE, PICK_GOSSIP };

static bool pick_excluded(const struct swim *s, uint64_t now, const struct member *m,
                          enum pick_kind kind, const char *also)
{
	if (m == s->self || (also && strcmp(member_name(m), also) == 0))
		return true;
	if (kind == PICK_ALIVE)
		return m->state != SWIM_ALIVE;
	/* gossip: alive, suspect, and the recently dead so they can refute (§4.2 step 10) */
	switch (m->state) {
	case SWIM_ALIVE:
	case SWIM_SUSPECT:
		return false;
	case SWIM_DEAD:
		return now - m->state_change_ms > s->c.gossip_to_the_dead_ms;
	default:
		return true;
	}
}

/* Up to k distinct random members into s->pick, trying 3n times (exhaustive for small n). */
static size_t pick_random(struct swim *s, uint64_t now, size_t k, enum pick_kind kind,
                          const char *also)
{
	size_t got = 0, n = s->n_members;
	for (size_t i = 0; i < 3 * n && got < k; i++) {
		struct member *m = s->members[rng_below(s, n)];
		if (pick_excluded(s, now, m, kind, also))
			continue;
		bool dup = false;
		for (size_t j = 0; j < got && !dup; j++)
			dup = s->pick[j] == m;
		if (!dup)
			s->pick[got++] = m;
	}
	return got;
}

/* ---- probing (§4.2 steps 1–6) ---- */

static void ping_msg(const struct swim *s, struct swim_msg *p, uint32_t seq, const char *node)
{
	memset(p, 0, sizeof(*p));
	p->type = SWIM_MSG_PING;
	p->seq = seq;
	p->node = node;
	p->source = s->self->addr;
	p->from = s->name;
}

/* Move the dead and left out of the probe list once they are older than GossipToTheDead, then
 * shuffle: memberlist resetNodes(), at the end of each pass. We are never removed. */
static void reset_nodes(struct swim *s, uint64_t now)
{
	size_t j = 0;
	for (size_t i = 0; i < s->n_members; i++) {
		struct member *m = s->members[i];
		if (m != s->self && is_dead_or_left(m) &&
		    now - m->state_change_ms > s->c.gossip_to_the_dead_ms) {
			assert(!m->susp);
			omap_del(s->byname, member_name(m), NULL);
			member_free(m);
			s->stats.pruned++;
			continue;
		}
		s->members[j++] = m;
	}
	s->n_members = j;
	for (size_t i = s->n_members; i > 1; i--) {
		size_t r = rng_below(s, i);
		struct member *t = s->members[i - 1];
		s->members[i - 1] = s->members[r];
		s->members[r] = t;
	}
}

static void probe_node(struct swim *s, uint64_t now, struct member *m)
{
	struct probe *p = &s->probe;
	memset(p, 0, sizeof(*p));
	p->active = true;
	p->seq = ++s->seq;
	snprintf(p->target, sizeof(p->target), "%s", member_name(m));
	p->incarnation = m->incarnation;
	p->addr = m->addr;
	p->pmax = m->vsn[1];
	p->start_ms = now;
	/*
	 * Lifeguard (§4.2 steps 1, 5): the probe waits for an ack (direct, relayed or TCP) until
	 * ProbeInterval × (score+1). As memberlist, the direct ping's timeout that starts the
	 * indirect phase is not scaled ("we don't really expect waiting longer to help get UDP
	 * through"), and probes start on a ProbeInterval ticker that a running probe holds back:
	 * a degraded member probes more slowly only while its probes fail.
	 */
	p->timeout_ms = now + s->c.probe_timeout_ms;
	p->deadline_ms = now + awareness_scale(s, s->c.probe_interval_ms);
	s->stats.probes++;

	struct swim_msg ping;
	ping_msg(s, &ping, p->seq, p->target);
	if (m->state == SWIM_ALIVE) {
		send_msg(s, &m->addr, p->target, &ping);
	} else {
		/* §4.2 step 2: a suspect gets the accusation with the ping, to refute at once;
		 * a raw compound, nothing piggybacked (memberlist does the same) */
		struct swim_msg sus = {.type = SWIM_MSG_SUSPECT};
		sus.incarnation = m->incarnation;
		sus.node = p->target;
		sus.from = s->name;
		tmp_reset(s);
		s->out_err = false;
		tmp_push(s, &ping);
		tmp_push(s, &sus);
		fx_send_tmp(s, &m->addr, p->target);
	}
}

/* memberlist probe(): the next member of the shuffled list, skipping us and the dead/left;
 * at the end of a pass reset the list. */
static void probe_start(struct swim *s, uint64_t now)
{
	size_t checked = 0;
	while (checked < s->n_members) {
		if (s->probe_index >= s->n_members) {
			reset_nodes(s, now);
			s->probe_index = 0;
			checked++;
			continue;
		}
		struct member *m = s->members[s->probe_index++];
		if (m == s->self || is_dead_or_left(m)) {
			checked++;
			continue;
		}
		probe_node(s, now, m);
		return;
	}
}

/* §4.2 step 3: the probe timed out: indirect pings through IndirectChecks random alive peers
 * (asking for nacks from those that speak v4) and, for targets that speak v3, a TCP ping. */
static void probe_indirect(struct swim *s, uint64_t now)
{
	struct probe *p = &s->probe;
	p->indirect = true;
	size_t k = pick_random(s, now, s->c.indirect_checks, PICK_ALIVE, p->target);
	for (size_t i = 0; i < k; i++) {
		struct member *peer = s->pick[i];
		struct swim_msg ind = {.type = SWIM_MSG_INDIRECT_PING};
		ind.seq = p->seq;
		ind.addr = p->addr;
		ind.node = p->target;
		ind.nack = peer->vsn[1] >= 4;
		ind.source = s->self->addr;
		ind.from = s->name;
		if (ind.nack)
			p->expected_nacks++;
		s->stats.indirect_pings++;
		/* the name may go away with a prune during the send: copy it first */
		char peer_name[SWIM_NAME_MAX + 1];
		snprintf(peer_name, sizeof(peer_name), "%s", member_name(peer));
		send_msg(s, &peer->addr, peer_name, &ind);
	}
	if (!s->c.disable_tcp_pings && p->pmax >= 3) {
		struct swim_fx *fx = fx_begin(s, SWIM_FX_TCP_PING);
		if (fx) {
			struct swim_msg ping;
			ping_msg(s, &ping, p->seq, p->target);
			struct swim_msg *pm = out_alloc(s, sizeof(*pm));
			if (pm) {
				out_msg(s, pm, &ping);
				fx->msgs = pm;
				fx->n_msgs = 1;
			}
			fx->to = p->addr;
			fx->to_name = out_str(s, p->target);
			fx->seq = p->seq;
			fx->deadline_ms = p->deadline_ms;
		}
		fx_commit(s, fx);
		if (fx && !s->out_err)
			p->tcp = TCP_PENDING;
		s->stats.tcp_pings++;
	}
}

/* §4.2 steps 4–6: the probe's interval ended without an ack. */
static void probe_finish(struct swim *s, uint64_t now)
{
	struct probe *p = &s->probe;
	p->active = false;
	if (p->tcp == TCP_OK) {
		/* step 4: "UDP probes failed, network may be misconfigured"; alive */
		awareness_apply(s, -1);
		s->stats.tcp_only++;
		struct member *m = member_find(s, p->target);
		if (m)
			emit_event(s, SWIM_EV_TCP_ONLY, m, NULL);
		return;
	}
	/* step 5: +1 per expected nack that did not come, or +1 when nobody could nack */
	int delta = 1;
	if (p->expected_nacks > 0)
		delta = p->nacks < p->expected_nacks ? (int)(p->expected_nacks - p->nacks) : 0;
	awareness_apply(s, delta);
	s->stats.probe_failures++;
	/* step 6 */
	struct swim_msg sus = {.type = SWIM_MSG_SUSPECT};
	sus.incarnation = p->incarnation;
	sus.node = p->target;
	sus.from = s->name;
	suspect_node(s, now, &sus);
}

static void probe_acked(struct swim *s, uint64_t now, const struct swim_msg *ack)
{
	struct probe *p = &s->probe;
	p->active = false;
	awareness_apply(s, -1); /* step 5: a successful probe */
	if (!p->indirect) {
		/* memberlist's NotifyPingComplete: only for the direct ping's ack */
		struct member *m = member_find(s, p->target);
		struct swim_fx *fx = fx_begin(s, SWIM_FX_EVENT);
		if (fx) {
			fx->event = SWIM_EV_PING;
			if (m) {
				node_state_of(s, &fx->node, m);
			} else {
				fx->node.name = out_str(s, p->target);
				fx->node.addr = p->addr;
			}
			fx->to = p->addr;
			fx->to_name = fx->node.name;
			fx->from = "";
			fx->rtt_ms = now - p->start_ms;
			fx->payload = out_bytes(s, ack->payload, ack->payload_len);
			fx->payload_len = ack->payload_len;
		}
		fx_commit(s, fx);
	}
}

/* ---- relayed indirect pings ---- */

static void relay_remove(struct swim *s, size_t i)
{
	s->relays[i] = s->relays[--s->n_relays];
}

static void relay_expire(struct swim *s, size_t i)
{
	struct relay r = s->relays[i];
	relay_remove(s, i);
	if (r.nack) {
		/* the target did not answer in ProbeTimeout: tell the prober we are fine */
		struct swim_msg nack = {.type = SWIM_MSG_NACK};
		nack.seq = r.origin_seq;
		s->stats.nacks_sent++;
		send_msg(s, &r.origin, r.origin_name, &nack);
	}
}

static void handle_indirect(struct swim *s, uint64_t now, const struct swim_addr *from,
                            const struct swim_msg *ind)
{
	struct relay r = {0};
	if (ind->source.len && ind->source.port)
		r.origin = ind->source;
	else if (from)
		r.origin = *from;
	else
		return;
	if (s->n_relays >= SWIM_RELAYS_MAX) {
		s->stats.relays_full++;
		return;
	}
	r.local_seq = ++s->seq;
	r.origin_seq = ind->seq;
	snprintf(r.origin_name, sizeof(r.origin_name), "%s", str_or_empty(ind->from));
	r.nack = ind->nack;
	r.deadline_ms = now + s->c.probe_timeout_ms;
	if (s->n_relays == s->cap_relays) {
		s->cap_relays = s->cap_relays ? s->cap_relays * 2 : 8;
		s->relays = xrealloc(s->relays, s->cap_relays * sizeof(*s->relays));
	}
	s->relays[s->n_relays++] = r;
	s->stats.relays++;
	struct swim_addr target = ind->addr;
	if (target.port == 0)
		target.port = s->self->addr.port; /* protocol < 2: "use the configured port" */
	struct swim_msg ping;
	ping_msg(s, &ping, r.local_seq, ind->node);
	send_msg(s, &target, ind->node, &ping);
}

/* ---- timers ---- */

static void run_timers(struct swim *s, uint64_t now)
{
	if (now < s->now)
		now = s->now; /* time never goes back */
	s->now = now;

	for (size_t i = 0; i < s->n_suspects;) {
		struct member *m = s->suspects[i];
		if (m->susp->deadline_ms <= now)
			suspicion_expire(s, now, m); /* removes m from suspects[i] */
		else
			i++;
	}
	for (size_t i = 0; i < s->n_relays;) {
		if (s->relays[i].deadline_ms <= now)
			relay_expire(s, i);
		else
			i++;
	}
	struct probe *p = &s->probe;
	if (now >= s->next_tick_ms) {
		uint64_t k = (now - s->next_tick_ms) / s->c.probe_interval_ms + 1;
		s->next_tick_ms += k * s->c.probe_interval_ms; /* missed ticks collapse into one */
		s->tick_pending = true;
	}
	if (p->active && !p->indirect && now >= p->timeout_ms)
		probe_indirect(s, now);
	if (p->active && now >= p->deadline_ms)
		probe_finish(s, now);
	if (!p->active && s->tick_pending) {
		s->tick_pending = false;
		probe_start(s, now);
	}

	if (s->c.gossip_interval_ms > 0 && s->c.gossip_nodes > 0 && now >= s->next_gossip_ms) {
		s->next_gossip_ms += s->c.gossip_interval_ms;
		if (s->next_gossip_ms <= now) /* a late loop skips ticks, as a Go ticker does */
			s->next_gossip_ms = now + s->c.gossip_interval_ms;
		/* §4.2 step 10: GossipNodes random peers, each its own packet of broadcasts */
		size_t k = pick_random(s, now, s->c.gossip_nodes, PICK_GOSSIP, NULL);
		size_t hdr = 2 + s->c.packet_overhead; /* compoundHeaderOverhead + layers */
		size_t room = s->c.udp_buffer_size > hdr ? s->c.udp_buffer_size - hdr : 0;
		for (size_t i = 0; i < k; i++) {
			struct member *peer = s->pick[i];
			tmp_reset(s);
			s->out_err = false;
			if (bcast_get(s, 2, room) == 0)
				break;
			fx_send_tmp(s, &peer->addr, member_name(peer));
		}
	}

	if (s->c.push_pull_interval_ms > 0 && now >= s->next_push_pull_ms) {
		/* §4.2 step 11: one random alive member, interval scaled with the cluster size */
		s->next_push_pull_ms =
		    now + swim_push_pull_interval_ms(s->c.push_pull_interval_ms, s->n_members);
		if (pick_random(s, now, 1, PICK_ALIVE, NULL) == 1) {
			struct member *peer = s->pick[0];
			struct swim_fx *fx = fx_begin(s, SWIM_FX_PUSH_PULL);
			if (fx) {
				fx->to = peer->addr;
				fx->to_name = out_str(s, member_name(peer));
			}
			fx_commit(s, fx);
		}
	}
}

void swim_tick(struct swim *s, uint64_t now_ms)
{
	run_timers(s, now_ms);
	end_call(s);
}

uint64_t swim_next_deadline(const struct swim *s)
{
	uint64_t t = SWIM_NEVER;
	const struct probe *p = &s->probe;
	if (p->active) {
		/* ticks meanwhile only matter when the probe ends */
		if (!p->indirect && p->timeout_ms < t)
			t = p->timeout_ms;
		if (p->deadline_ms < t)
			t = p->deadline_ms;
	} else if (s->next_tick_ms < t) {
		t = s->next_tick_ms;
	}
	for (size_t i = 0; i < s->n_suspects; i++)
		if (s->suspects[i]->susp->deadline_ms < t)
			t = s->suspects[i]->susp->deadline_ms;
	for (size_t i = 0; i < s->n_relays; i++)
		if (s->relays[i].deadline_ms < t)
			t = s->relays[i].deadline_ms;
	if (s->c.gossip_interval_ms > 0 && s->c.gossip_nodes > 0 && s->next_gossip_ms < t)
		t = s->next_gossip_ms;
	if (s->c.push_pull_interval_ms > 0 && s->next_push_pull_ms < t)
		t = s->next_push_pull_ms;
	return t;
}

/* ---- receiving ---- */

static bool msg_ok(const struct swim_msg *m)
{
	if (!name_ok(m->from, true) || m->meta_len > SWIM_META_MAX ||
	    m->payload_len > SWIM_PAYLOAD_MAX || (m->meta_len && !m->meta) ||
	    (m->payload_len && !m->payload))
		return false;
	if (m->source.len && !addr_ok(&m->source))
		return false;
	switch (m->type) {
	case SWIM_MSG_PING:
		return name_ok(m->node, true);
	case SWIM_MSG_INDIRECT_PING:
		return name_ok(m->node, true) && addr_ok(&m->addr);
	case SWIM_MSG_ACK:
	case SWIM_MSG_NACK:
		return true;
	case SWIM_MSG_SUSPECT:
	case SWIM_MSG_DEAD:
		return name_ok(m->node, false);
	case SWIM_MSG_ALIVE:
		return name_ok(m->node, false) && addr_ok(&m->addr) &&
		       (m->vsn_len == 0 || m->vsn_len == SWIM_VSN_LEN);
	default:
		return false;
	}
}

int swim_recv(struct swim *s, uint64_t now_ms, const struct swim_addr *from,
              const struct swim_msg *m)
{
	run_timers(s, now_ms);
	uint64_t now = s->now;
	if (!msg_ok(m)) {
		s->stats.malformed++;
		return -1;
	}
	switch (m->type) {
	case SWIM_MSG_PING: {
		if (m->node && m->node[0] && strcmp(m->node, s->name) != 0) {
			s->stats.wrong_node++; /* "Got ping for unexpected node" */
			return 0;
		}
		struct swim_addr to;
		if (m->source.len && m->source.port)
			to = m->source;
		else if (from)
			to = *from;
		else
			return 0;
		struct swim_msg ack = {.type = SWIM_MSG_ACK};
		uint8_t payload[SWIM_ACK_PAYLOAD_MAX];
		ack.seq = m->seq;
		if (s->ops.ack_payload) {
			size_t len = s->ops.ack_payload(s->ops.arg, payload, sizeof(payload));
			if (len <= sizeof(payload)) {
				ack.payload = payload;
				ack.payload_len = len;
			}
		}
		send_msg(s, &to, str_or_empty(m->from), &ack);
		break;
	}
	case SWIM_MSG_INDIRECT_PING:
		handle_indirect(s, now, from, m);
		break;
	case SWIM_MSG_ACK: {
		struct probe *p = &s->probe;
		if (p->active && p->seq == m->seq) {
			probe_acked(s, now, m);
			break;
		}
		for (size_t i = 0; i < s->n_relays; i++) {
			if (s->relays[i].local_seq != m->seq)
				continue;
			struct relay r = s->relays[i];
			relay_remove(s, i);
			struct swim_msg ack = {.type = SWIM_MSG_ACK};
			ack.seq = r.origin_seq;
			send_msg(s, &r.origin, r.origin_name, &ack);
			break;
		}
		break;
	}
	case SWIM_MSG_NACK: {
		struct probe *p = &s->probe;
		if (p->active && p->seq == m->seq && p->nacks <= s->c.indirect_checks)
			p->nacks++;
		break;
	}
	case SWIM_MSG_SUSPECT:
		suspect_node(s, now, m);
		break;
	case SWIM_MSG_ALIVE:
		alive_node(s, now, m, false);
		break;
	case SWIM_MSG_DEAD:
		dead_node(s, now, m);
		break;
	default:
		break;
	}
	end_call(s);
	return 0;
}

void swim_tcp_ping_result(struct swim *s, uint64_t now_ms, uint32_t seq, bool ok)
{
	run_timers(s, now_ms);
	struct probe *p = &s->probe;
	if (p->active && p->seq == seq && p->tcp == TCP_PENDING)
		p->tcp = ok ? TCP_OK : TCP_FAILED;
	end_call(s);
}

/* ---- join, push/pull, leave, meta ---- */

void swim_join(struct swim *s, uint64_t now_ms, const struct swim_addr *addr)
{
	run_timers(s, now_ms);
	struct swim_fx *fx = fx_begin(s, SWIM_FX_PUSH_PULL);
	if (fx) {
		fx->to = *addr;
		fx->join = true;
	}
	fx_commit(s, fx);
	end_call(s);
}

size_t swim_push_pull_state(const struct swim *s, struct swim_node_state *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_members && n < max; i++) {
		const struct member *m = s->members[i];
		struct swim_node_state *d = &out[n++];
		d->name = member_name(m);
		d->addr = m->addr;
		d->meta = m->meta;
		d->meta_len = m->meta_len;
		d->incarnation = m->incarnation;
		d->state = m->state;
		memcpy(d->vsn, m->vsn, SWIM_VSN_LEN);
		d->state_change_ms = m->state_change_ms;
	}
	return n;
}

int swim_merge_remote_state(struct swim *s, uint64_t now_ms, const struct swim_node_state *nodes,
                            size_t n)
{
	run_timers(s, now_ms);
	uint64_t now = s->now;
	for (size_t i = 0; i < n; i++) {
		const struct swim_node_state *r = &nodes[i];
		if (!name_ok(r->name, false) || !addr_ok(&r->addr) || r->meta_len > SWIM_META_MAX ||
		    (r->meta_len && !r->meta) || (unsigned)r->state > SWIM_LEFT) {
			s->stats.malformed++;
			end_call(s);
			return -1;
		}
	}
	/* memberlist mergeState: alive as alive; left as dead from the node itself; dead and
	 * suspect as a suspicion of our own ("we prefer to suspect that node instead of
	 * declaring it dead instantly") */
	for (size_t i = 0; i < n; i++) {
		const struct swim_node_state *r = &nodes[i];
		struct swim_msg m = {0};
		m.incarnation = r->incarnation;
		m.node = r->name;
		switch (r->state) {
		case SWIM_ALIVE:
			m.type = SWIM_MSG_ALIVE;
			m.addr = r->addr;
			m.meta = r->meta;
			m.meta_len = r->meta_len;
			m.vsn_len = SWIM_VSN_LEN;
			memcpy(m.vsn, r->vsn, SWIM_VSN_LEN);
			alive_node(s, now, &m, false);
			break;
		case SWIM_LEFT:
			m.type = SWIM_MSG_DEAD;
			m.from = r->name;
			dead_node(s, now, &m);
			break;
		case SWIM_DEAD:
		case SWIM_SUSPECT:
			m.type = SWIM_MSG_SUSPECT;
			m.from = s->name;
			suspect_node(s, now, &m);
			break;
		}
	}
	end_call(s);
	return 0;
}

int swim_leave(struct swim *s, uint64_t now_ms)
{
	run_timers(s, now_ms);
	if (s->left) {
		end_call(s);
		return -1;
	}
	s->left = true;
	struct swim_msg d = {.type = SWIM_MSG_DEAD};
	d.incarnation = s->self->incarnation;
	d.node = s->name;
	d.from = s->name;
	dead_node(s, s->now, &d);
	/* memberlist anyAlive(): with nobody to tell, the leave is done */
	bool any = false;
	for (size_t i = 0; i < s->n_members && !any; i++)
		any = s->members[i] != s->self && !is_dead_or_left(s->members[i]);
	if (!any) {
		struct omap_node *b = omap_find(s->bq_name, s->name);
		if (b)
			((struct bcast *)omap_val(b))->notify = false;
		s->leave_done = true;
	}
	end_call(s);
	return 0;
}

int swim_set_meta(struct swim *s, uint64_t now_ms, const uint8_t *meta, size_t len)
{
	run_timers(s, now_ms);
	if (len > SWIM_META_MAX || (len && !meta) || s->left) {
		end_call(s);
		return -1;
	}
	/* memberlist UpdateNode: a new incarnation, applied as a bootstrap alive */
	struct swim_msg a;
	self_alive_msg(s, &a);
	a.incarnation = s->self->incarnation + 1;
	a.meta = meta;
	a.meta_len = len;
	alive_node(s, s->now, &a, true);
	end_call(s);
	return 0;
}

/* ---- life cycle ---- */

static bool config_ok(const struct swim_config *c)
{
	return name_ok(c->name, false) && addr_ok(&c->addr) && c->meta_len <= SWIM_META_MAX &&
	       (c->meta_len == 0 || c->meta) && c->probe_interval_ms > 0 &&
	       c->probe_timeout_ms > 0 && c->probe_timeout_ms < c->probe_interval_ms &&
	       c->gossip_nodes <= SWIM_GOSSIP_MAX && c->indirect_checks <= SWIM_INDIRECT_MAX &&
	       c->suspicion_mult >= 1 && c->suspicion_mult <= SWIM_SUSPICION_MULT_MAX &&
	       c->suspicion_max_timeout_mult >= 1 && c->awareness_max >= 1 &&
	       c->awareness_max <= SWIM_AWARENESS_MAX && c->retransmit_mult >= 1 &&
	       c->retransmit_mult <= SWIM_RETRANSMIT_MULT_MAX &&
	       c->udp_buffer_size > c->packet_overhead + 64 &&
	       c->udp_buffer_size <= SWIM_PACKET_MAX && c->vsn[0] > 0 && c->vsn[1] >= c->vsn[0];
}

struct swim *swim_new(const struct swim_config *c, const struct swim_ops *ops, uint64_t now_ms)
{
	if (!config_ok(c))
		return NULL;
	struct swim *s = xcalloc(1, sizeof(*s));
	s->c = *c;
	snprintf(s->name, sizeof(s->name), "%s", c->name);
	s->c.name = s->name;
	s->c.meta = NULL;
	if (ops)
		s->ops = *ops;
	s->rng = c->seed;
	s->now = now_ms;
	s->byname = omap_new(NULL);
	s->bq_name = omap_new(NULL);
	s->bq_order = omap_new(NULL);
	if (!s->byname || !s->bq_name || !s->bq_order)
		xalloc_fail(sizeof(*s));
	size_t pick_max =
	    c->indirect_checks > c->gossip_nodes ? c->indirect_checks : c->gossip_nodes;
	s->pick = xcalloc(pick_max + 1, sizeof(*s->pick));

	/* memberlist setAlive(): our own alive at incarnation 1, as a bootstrap */
	struct swim_msg a = {.type = SWIM_MSG_ALIVE};
	a.incarnation = 1;
	a.node = s->name;
	a.addr = c->addr;
	a.meta = c->meta;
	a.meta_len = c->meta_len;
	a.vsn_len = SWIM_VSN_LEN;
	memcpy(a.vsn, c->vsn, SWIM_VSN_LEN);
	alive_node(s, now_ms, &a, true);
	s->self = member_find(s, s->name);
	assert(s->self && s->self->state == SWIM_ALIVE);

	/* memberlist staggers its tickers by a random part of their interval */
	s->next_tick_ms = now_ms + rng_below(s, c->probe_interval_ms);
	s->next_gossip_ms =
	    now_ms + (c->gossip_interval_ms ? rng_below(s, c->gossip_interval_ms) : 0);
	s->next_push_pull_ms =
	    now_ms + (c->push_pull_interval_ms ? rng_below(s, c->push_pull_interval_ms) : 0);
	return s;
}

void swim_free(struct swim *s)
{
	if (!s)
		return;
	while (s->n_suspects)
		suspicion_clear(s, s->suspects[0]);
	for (size_t i = 0; i < s->n_members; i++)
		member_free(s->members[i]);
	free(s->members);
	free(s->suspects);
	omap_free(s->byname);
	for (struct omap_node *n = omap_first(s->bq_order); n; n = omap_next(n))
		bcast_free(omap_val(n));
	omap_free(s->bq_order);
	omap_free(s->bq_name);
	free(s->relays);
	free(s->fx);
	free(s->tmp);
	free(s->reinsert);
	free(s->pick);
	for (struct chunk *c = s->chunks; c;) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
	free(s);
}

/* ---- queries ---- */

bool swim_member(const struct swim *s, const char *name, struct swim_node_state *out)
{
	const struct member *m = name ? member_find(s, name) : NULL;
	if (!m)
		return false;
	if (out) {
		out->name = member_name(m);
		out->addr = m->addr;
		out->meta = m->meta;
		out->meta_len = m->meta_len;
		out->incarnation = m->incarnation;
		out->state = m->state;
		memcpy(out->vsn, m->vsn, SWIM_VSN_LEN);
		out->state_change_ms = m->state_change_ms;
	}
	return true;
}

size_t swim_num_members(const struct swim *s)
{
	return s->n_members;
}

size_t swim_num_alive(const struct swim *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_members; i++)
		n += !is_dead_or_left(s->members[i]);
	return n;
}

const char *swim_name(const struct swim *s)
{
	return s->name;
}

uint32_t swim_incarnation(const struct swim *s)
{
	return s->self->incarnation;
}

uint32_t swim_awareness(const struct swim *s)
{
	return s->awareness;
}

bool swim_has_left(const struct swim *s)
{
	return s->left;
}

size_t swim_bcast_len(const struct swim *s)
{
	return omap_count(s->bq_name);
}

bool swim_suspicion(const struct swim *s, const char *name, uint64_t *deadline_ms,
                    uint32_t *confirmations, uint32_t *k)
{
	const struct member *m = member_find(s, name);
	if (!m || !m->susp)
		return false;
	if (deadline_ms)
		*deadline_ms = m->susp->deadline_ms;
	if (confirmations)
		*confirmations = m->susp->n;
	if (k)
		*k = m->susp->k;
	return true;
}

const struct swim_stats *swim_stats(const struct swim *s)
{
	return &s->stats;
}

const char *swim_state_str(enum swim_state st)
{
	switch (st) {
	case SWIM_ALIVE:
		return "alive";
	case SWIM_SUSPECT:
		return "suspect";
	case SWIM_DEAD:
		return "dead";
	case SWIM_LEFT:
		return "left";
	}
	return "?";
}

const char *swim_event_str(enum swim_event ev)
{
	static const char *const names[] = {
	    [SWIM_EV_JOIN] = "join",
	    [SWIM_EV_UPDATE] = "update",
	    [SWIM_EV_SUSPECT] = "suspect",
	    [SWIM_EV_ALIVE] = "alive",
	    [SWIM_EV_FAILED] = "failed",
	    [SWIM_EV_LEFT] = "left",
	    [SWIM_EV_REFUTE] = "refute",
	    [SWIM_EV_CONFLICT] = "conflict",
	    [SWIM_EV_LEAVE_DONE] = "leave-done",
	    [SWIM_EV_PING] = "ping",
	    [SWIM_EV_TCP_ONLY] = "tcp-only",
	};
	return (unsigned)ev < sizeof(names) / sizeof(names[0]) && names[ev] ? names[ev] : "?";
}

const char *swim_msg_type_str(enum swim_msg_type t)
{
	switch (t) {
	case SWIM_MSG_PING:
		return "ping";
	case SWIM_MSG_INDIRECT_PING:
		return "indirect-ping";
	case SWIM_MSG_ACK:
		return "ack";
	case SWIM_MSG_SUSPECT:
		return "suspect";
	case SWIM_MSG_ALIVE:
		return "alive";
	case SWIM_MSG_DEAD:
		return "dead";
	case SWIM_MSG_USER:
		return "user";
	case SWIM_MSG_NACK:
		return "nack";
	}
	return "?";
}

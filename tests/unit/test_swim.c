/* test_swim.c: scripted scenarios for the SWIM core (one or more per rule of spec §4.2), and
 * seeded simulations (tests/unit/swimsim.h). */
#include "daemons/gossipd/swim.h"

#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "swimsim.h"

/* ---- one member driven by hand ---- */

static struct swim_addr addr_of(int i)
{
	struct swim_addr a = {.len = 4, .port = 7946};
	a.ip[0] = 10;
	a.ip[3] = (uint8_t)i;
	return a;
}

static struct swim *mk(const char *name, int i, uint64_t now)
{
	struct swim_config c;
	swim_config_lan(&c);
	c.name = name;
	c.addr = addr_of(i);
	c.seed = 1000 + (uint64_t)i;
	struct swim *s = swim_new(&c, NULL, now);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Merges n alive members "m1".."mn" at addresses 10.0.0.1.. (vsn: protocol 1..5). */
static void add_members(struct swim *s, uint64_t now, int n)
{
	struct swim_node_state st[256];
	char names[256][16];
	ck_assert_int_le(n, 256);
	for (int i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "m%d", i + 1);
		memset(&st[i], 0, sizeof(st[i]));
		st[i].name = names[i];
		st[i].addr = addr_of(i + 1);
		st[i].incarnation = 1;
		st[i].state = SWIM_ALIVE;
		const uint8_t vsn[6] = {1, 5, 2, 2, 5, 5};
		memcpy(st[i].vsn, vsn, 6);
	}
	ck_assert_int_eq(swim_merge_remote_state(s, now, st, (size_t)n), 0);
}

static enum swim_state state_of(struct swim *s, const char *name)
{
	struct swim_node_state st;
	ck_assert_msg(swim_member(s, name, &st), "%s not in the table", name);
	return st.state;
}

static uint32_t inc_of(struct swim *s, const char *name)
{
	struct swim_node_state st;
	ck_assert(swim_member(s, name, &st));
	return st.incarnation;
}

/* Counts events of a kind (about name, when given) among the pending effects. */
static size_t n_events(struct swim *s, enum swim_event ev, const char *name)
{
	size_t n, k = 0;
	const struct swim_fx *fx = swim_effects(s, &n);
	for (size_t i = 0; i < n; i++)
		if (fx[i].type == SWIM_FX_EVENT && fx[i].event == ev &&
		    (!name || strcmp(fx[i].node.name, name) == 0))
			k++;
	return k;
}

/* Counts sent messages of a type (about node, when given) among the pending effects. */
static size_t n_sent(struct swim *s, enum swim_msg_type t, const char *node)
{
	size_t n, k = 0;
	const struct swim_fx *fx = swim_effects(s, &n);
	for (size_t i = 0; i < n; i++) {
		if (fx[i].type != SWIM_FX_SEND)
			continue;
		for (size_t j = 0; j < fx[i].n_msgs; j++)
			if (fx[i].msgs[j].type == t &&
			    (!node || strcmp(fx[i].msgs[j].node, node) == 0))
				k++;
	}
	return k;
}

/* The first sent message of a type (NULL: none); *to gets the packet's address. */
static const struct swim_msg *sent_msg(struct swim *s, enum swim_msg_type t,
                                       const struct swim_fx **pkt)
{
	size_t n;
	const struct swim_fx *fx = swim_effects(s, &n);
	for (size_t i = 0; i < n; i++) {
		if (fx[i].type != SWIM_FX_SEND)
			continue;
		for (size_t j = 0; j < fx[i].n_msgs; j++) {
			if (fx[i].msgs[j].type == t) {
				if (pkt)
					*pkt = &fx[i];
				return &fx[i].msgs[j];
			}
		}
	}
	return NULL;
}

static const struct swim_fx *find_fx(struct swim *s, enum swim_fx_type t)
{
	size_t n;
	const struct swim_fx *fx = swim_effects(s, &n);
	for (size_t i = 0; i < n; i++)
		if (fx[i].type == t)
			return &fx[i];
	return NULL;
}

/* Runs s alone until its next probe starts (ping sent, perhaps by the last call, at now); the
 * ping's seq and target, and when it started. */
static uint64_t until_probe(struct swim *s, uint64_t now, uint32_t *seq, char *target)
{
	for (int guard = 0; guard < 10000; guard++) {
		if (guard > 0) {
			swim_effects_clear(s);
			now = swim_next_deadline(s);
			swim_tick(s, now);
		}
		const struct swim_msg *p = sent_msg(s, SWIM_MSG_PING, NULL);
		if (p && strcmp(p->from, swim_name(s)) == 0) {
			*seq = p->seq;
			strcpy(target, p->node);
			return now;
		}
	}
	ck_abort_msg("no probe");
	return now;
}

static void recv_msg(struct swim *s, uint64_t now, int from, const struct swim_msg *m)
{
	struct swim_addr a = addr_of(from);
	ck_assert_int_eq(swim_recv(s, now, &a, m), 0);
}

/* Acks at once every probe s just sent: for scripts about something else, where failing
 * background probes would add suspicions (and confirmations) of their own. */
static void auto_ack(struct swim *s, uint64_t now)
{
	uint32_t seqs[16];
	size_t k = 0, n;
	const struct swim_fx *fx = swim_effects(s, &n);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; fx[i].type == SWIM_FX_SEND && j < fx[i].n_msgs; j++)
			if (fx[i].msgs[j].type == SWIM_MSG_PING &&
			    strcmp(fx[i].msgs[j].from, swim_name(s)) == 0 && k < 16)
				seqs[k++] = fx[i].msgs[j].seq;
	for (size_t i = 0; i < k; i++) {
		struct swim_msg ack = {.type = SWIM_MSG_ACK, .seq = seqs[i]};
		recv_msg(s, now, 1, &ack);
	}
}

/* recv_msg() and tick, answering probes. */
static void recv_q(struct swim *s, uint64_t now, int from, const struct swim_msg *m)
{
	recv_msg(s, now, from, m);
	auto_ack(s, now);
}

static void tick_q(struct swim *s, uint64_t now)
{
	swim_tick(s, now);
	auto_ack(s, now);
}

static struct swim_msg suspect_msg(const char *node, uint32_t inc, const char *from)
{
	struct swim_msg m = {.type = SWIM_MSG_SUSPECT, .incarnation = inc};
	m.node = node;
	m.from = from;
	return m;
}

static struct swim_msg dead_msg(const char *node, uint32_t inc, const char *from)
{
	struct swim_msg m = suspect_msg(node, inc, from);
	m.type = SWIM_MSG_DEAD;
	return m;
}

static struct swim_msg alive_msg(const char *node, uint32_t inc, int addr)
{
	struct swim_msg m = {.type = SWIM_MSG_ALIVE, .incarnation = inc};
	m.node = node;
	m.addr = addr_of(addr);
	m.vsn_len = 6;
	const uint8_t vsn[6] = {1, 5, 2, 2, 5, 5};
	memcpy(m.vsn, vsn, 6);
	return m;
}

/* ---- formulas and sizes ---- */

START_TEST(test_formulas)
{
	/* §4.1's derived table */
	ck_assert_uint_eq(swim_suspicion_timeout_ms(4, 3, 1000), 4000);
	ck_assert_uint_eq(swim_suspicion_timeout_ms(4, 10, 1000), 4000);
	ck_assert_uint_eq(swim_suspicion_timeout_ms(4, 100, 1000), 8000);
	ck_assert_uint_eq(swim_suspicion_timeout_ms(4, 1000, 1000), 12000);
	ck_assert_uint_eq(swim_suspicion_timeout_ms(4, 5000, 1000), 14792); /* 14.8 s */
	ck_assert_uint_eq(swim_suspicion_timeout_ms(4, 10000, 1000), 16000);
	ck_assert_uint_eq(swim_suspicion_timeout_ms(6, 10, 5000), 30000);
	ck_assert_uint_eq(swim_suspicion_timeout_ms(6, 1000, 5000), 90000);
	ck_assert_uint_eq(swim_retransmit_limit(4, 3), 4);
	ck_assert_uint_eq(swim_retransmit_limit(4, 10), 8);
	ck_assert_uint_eq(swim_retransmit_limit(4, 100), 12);
	ck_assert_uint_eq(swim_retransmit_limit(4, 1000), 16);
	ck_assert_uint_eq(swim_retransmit_limit(4, 10000), 20);
	ck_assert_uint_eq(swim_push_pull_interval_ms(30000, 32), 30000);
	ck_assert_uint_eq(swim_push_pull_interval_ms(30000, 100), 90000);
	ck_assert_uint_eq(swim_push_pull_interval_ms(30000, 1000), 180000);
	ck_assert_uint_eq(swim_push_pull_interval_ms(30000, 5000), 270000);
	ck_assert_uint_eq(swim_push_pull_interval_ms(30000, 10000), 300000);
	/* §4.2 step 6: max − ln(c+1)/ln(k+1)·(max − min), floor min */
	ck_assert_uint_eq(swim_suspicion_after_ms(0, 2, 4000, 24000), 24000);
	ck_assert_uint_eq(swim_suspicion_after_ms(1, 2, 4000, 24000), 11381);
	ck_assert_uint_eq(swim_suspicion_after_ms(2, 2, 4000, 24000), 4000);
	ck_assert_uint_eq(swim_suspicion_after_ms(3, 2, 4000, 24000), 4000);
	ck_assert_uint_eq(swim_suspicion_after_ms(0, 0, 4000, 24000), 4000);
}
END_TEST

START_TEST(test_msg_size)
{
	/* sizes of the messages in tests/gossip/plain.txt, type byte included */
	struct swim_msg m = {.type = SWIM_MSG_PING, .seq = 1};
	m.node = "s1";
	m.from = "s2";
	m.source = addr_of(32);
	ck_assert_uint_eq(swim_msg_size(&m), 61);

	static const uint8_t meta[19] = {0xff, 0x82};
	m = alive_msg("s3", 1, 33);
	m.meta = meta;
	m.meta_len = sizeof(meta);
	ck_assert_uint_eq(swim_msg_size(&m), 77);

	m = (struct swim_msg){.type = SWIM_MSG_INDIRECT_PING, .seq = 9, .nack = true};
	m.node = "s3";
	m.from = "s1";
	m.addr = addr_of(33);
	m.source = addr_of(31);
	ck_assert_uint_eq(swim_msg_size(&m), 87);

	m = suspect_msg("s3", 1, "s1");
	ck_assert_uint_eq(swim_msg_size(&m), 31);
	m = dead_msg("s3", 1, "s1");
	ck_assert_uint_eq(swim_msg_size(&m), 31);

	m = (struct swim_msg){.type = SWIM_MSG_NACK, .seq = 9};
	ck_assert_uint_eq(swim_msg_size(&m), 9);

	static const uint8_t payload[130];
	m = (struct swim_msg){.type = SWIM_MSG_ACK, .seq = 1};
	m.payload = payload;
	m.payload_len = sizeof(payload); /* str16: da 0082 */
	ck_assert_uint_eq(swim_msg_size(&m), 150);

	m = (struct swim_msg){.type = SWIM_MSG_USER};
	m.payload = payload;
	m.payload_len = 17;
	ck_assert_uint_eq(swim_msg_size(&m), 18);
}
END_TEST

START_TEST(test_config)
{
	struct swim_config c;
	swim_config_lan(&c);
	ck_assert_uint_eq(c.probe_interval_ms, 1000);
	ck_assert_uint_eq(c.probe_timeout_ms, 500);
	ck_assert_uint_eq(c.suspicion_mult, 4);
	ck_assert_uint_eq(c.gossip_interval_ms, 200);
	ck_assert_uint_eq(c.awareness_max, 8);
	swim_config_wan(&c);
	ck_assert_uint_eq(c.probe_interval_ms, 5000);
	ck_assert_uint_eq(c.probe_timeout_ms, 3000);
	ck_assert_uint_eq(c.suspicion_mult, 6);
	ck_assert_uint_eq(c.gossip_nodes, 4);
	ck_assert_uint_eq(c.gossip_to_the_dead_ms, 60000);
	swim_config_local(&c);
	ck_assert_uint_eq(c.indirect_checks, 1);
	ck_assert_uint_eq(c.retransmit_mult, 2);
	ck_assert_uint_eq(c.probe_timeout_ms, 200);

	swim_config_lan(&c);
	c.addr = addr_of(1);
	c.name = "";
	ck_assert_ptr_null(swim_new(&c, NULL, 0));
	char longname[SWIM_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	c.name = longname;
	ck_assert_ptr_null(swim_new(&c, NULL, 0));
	c.name = "a";
	c.probe_timeout_ms = c.probe_interval_ms;
	ck_assert_ptr_null(swim_new(&c, NULL, 0));
	swim_config_lan(&c);
	c.name = "a";
	ck_assert_ptr_null(swim_new(&c, NULL, 0)); /* no address */
	c.addr = addr_of(1);
	c.meta_len = SWIM_META_MAX + 1;
	c.meta = (const uint8_t *)longname;
	ck_assert_ptr_null(swim_new(&c, NULL, 0));
}
END_TEST

/* ---- life cycle, join, push/pull ---- */

START_TEST(test_new_self)
{
	struct swim *s = mk("a", 1, 0);
	ck_assert_uint_eq(swim_num_members(s), 1);
	ck_assert_uint_eq(swim_incarnation(s), 1);
	ck_assert_int_eq(state_of(s, "a"), SWIM_ALIVE);
	ck_assert_uint_eq(n_events(s, SWIM_EV_JOIN, "a"), 1);
	ck_assert_uint_eq(swim_bcast_len(s), 1); /* our own alive */
	ck_assert_uint_lt(swim_next_deadline(s), 1000);
	swim_free(s);
	swim_free(NULL);
}
END_TEST

/* Exchanges push/pull states between a and b, as the daemon does for a PUSH_PULL effect. */
static void exchange(struct swim *a, struct swim *b, uint64_t now)
{
	struct swim_node_state sa[64], sb[64];
	size_t na = swim_push_pull_state(a, sa, 64);
	size_t nb = swim_push_pull_state(b, sb, 64);
	/* copies: a merge may change the other side's memory */
	char names[128][SWIM_NAME_MAX + 1];
	for (size_t i = 0; i < na; i++) {
		strcpy(names[i], sa[i].name);
		sa[i].name = names[i];
		sa[i].meta_len = 0;
		sa[i].meta = NULL;
	}
	for (size_t i = 0; i < nb; i++) {
		strcpy(names[64 + i], sb[i].name);
		sb[i].name = names[64 + i];
		sb[i].meta_len = 0;
		sb[i].meta = NULL;
	}
	ck_assert_int_eq(swim_merge_remote_state(b, now, sa, na), 0);
	ck_assert_int_eq(swim_merge_remote_state(a, now, sb, nb), 0);
}

START_TEST(test_join_two)
{
	struct swim *a = mk("a", 1, 0);
	struct swim *b = mk("b", 2, 0);
	swim_effects_clear(a);
	swim_effects_clear(b);
	struct swim_addr aa = addr_of(1);
	swim_join(b, 5, &aa);
	const struct swim_fx *fx = find_fx(b, SWIM_FX_PUSH_PULL);
	ck_assert_ptr_nonnull(fx);
	ck_assert(fx->join);
	ck_assert_int_eq(fx->to.ip[3], 1);
	swim_effects_clear(b);
	exchange(b, a, 10);
	ck_assert_int_eq(state_of(a, "b"), SWIM_ALIVE);
	ck_assert_int_eq(state_of(b, "a"), SWIM_ALIVE);
	ck_assert_uint_eq(n_events(a, SWIM_EV_JOIN, "b"), 1);
	ck_assert_uint_eq(n_events(b, SWIM_EV_JOIN, "a"), 1);
	ck_assert_uint_eq(swim_num_members(a), 2);
	ck_assert_uint_eq(swim_num_alive(b), 2);
	/* the join is gossiped on: a queued b's alive */
	ck_assert_uint_eq(swim_bcast_len(a), 2);
	swim_free(a);
	swim_free(b);
}
END_TEST

/* ---- a small scripted network (zero latency) ---- */

#define NET_MAX 8

struct net {
	int n;
	uint64_t now;
	struct swim *s[NET_MAX];
	bool down[NET_MAX];
	bool tcp_ok; /* how TCP pings to live members end */
	size_t events[NET_MAX][SWIM_EV_TCP_ONLY + 1];
	size_t failed_about[NET_MAX][NET_MAX], left_about[NET_MAX][NET_MAX];
	size_t sent[NET_MAX][12];
};

struct net_pkt {
	int from, to;
	size_t n;
	struct swim_msg msgs[64];
	char strs[64][2][32]; /* the scripts' names are short */
};

static int net_index(const struct net *net, const struct swim_addr *a)
{
	int i = a->ip[3] - 1;
	return i >= 0 && i < net->n ? i : -1;
}

static void net_drain(struct net *net, int i, struct net_pkt *q, size_t *nq);

static void net_deliver(struct net *net, struct net_pkt *q, size_t nq)
{
	for (size_t k = 0; k < nq; k++) {
		struct net_pkt *p = &q[k];
		if (net->down[p->to] || net->down[p->from])
			continue;
		struct swim_addr from = addr_of(p->from + 1);
		for (size_t j = 0; j < p->n; j++)
			ck_assert_int_eq(swim_recv(net->s[p->to], net->now, &from, &p->msgs[j]), 0);
		struct net_pkt *more = calloc(256, sizeof(*more));
		size_t nmore = 0;
		net_drain(net, p->to, more, &nmore);
		net_deliver(net, more, nmore);
		free(more);
	}
}

static void net_drain(struct net *net, int i, struct net_pkt *q, size_t *nq)
{
	size_t n;
	const struct swim_fx *fx = swim_effects(net->s[i], &n);
	for (size_t k = 0; k < n; k++) {
		const struct swim_fx *f = &fx[k];
		int j = net_index(net, &f->to);
		switch (f->type) {
		case SWIM_FX_SEND: {
			ck_assert_int_ge(j, 0);
			ck_assert_uint_lt(*nq, 256);
			ck_assert_uint_le(f->n_msgs, 64);
			struct net_pkt *p = &q[(*nq)++];
			p->from = i;
			p->to = j;
			p->n = f->n_msgs;
			for (size_t m = 0; m < f->n_msgs; m++) {
				p->msgs[m] = f->msgs[m];
				snprintf(p->strs[m][0], sizeof(p->strs[m][0]), "%s",
				         f->msgs[m].node);
				snprintf(p->strs[m][1], sizeof(p->strs[m][1]), "%s",
				         f->msgs[m].from);
				p->msgs[m].node = p->strs[m][0];
				p->msgs[m].from = p->strs[m][1];
				p->msgs[m].meta_len = 0; /* meta is not needed by these scripts */
				p->msgs[m].meta = NULL;
				p->msgs[m].payload_len = 0;
				p->msgs[m].payload = NULL;
				if (f->msgs[m].type < 12)
					net->sent[i][f->msgs[m].type]++;
			}
			break;
		}
		case SWIM_FX_TCP_PING:
			/* answered at once, outside this drain */
			break;
		case SWIM_FX_PUSH_PULL:
			break;
		case SWIM_FX_EVENT: {
			net->events[i][f->event]++;
			int x = net_index(net, &f->node.addr);
			if (x >= 0 && f->event == SWIM_EV_FAILED)
				net->failed_about[i][x]++;
			if (x >= 0 && f->event == SWIM_EV_LEFT)
				net->left_about[i][x]++;
			break;
		}
		}
	}
	/* TCP pings: collect, clear, answer */
	uint32_t tcp_seq[8];
	int tcp_to[8];
	size_t ntcp = 0;
	for (size_t k = 0; k < n && ntcp < 8; k++) {
		if (fx[k].type == SWIM_FX_TCP_PING) {
			tcp_seq[ntcp] = fx[k].seq;
			tcp_to[ntcp++] = net_index(net, &fx[k].to);
		}
	}
	swim_effects_clear(net->s[i]);
	for (size_t k = 0; k < ntcp; k++) {
		bool ok = net->tcp_ok && tcp_to[k] >= 0 && !net->down[tcp_to[k]];
		swim_tcp_ping_result(net->s[i], net->now, tcp_seq[k], ok);
	}
	if (ntcp)
		net_drain(net, i, q, nq);
}

static void net_init(struct net *net, int n)
{
	memset(net, 0, sizeof(*net));
	net->n = n;
	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", i);
		net->s[i] = mk(name, i + 1, 0);
	}
	/* everyone joins n0 */
	for (int i = 1; i < n; i++)
		exchange(net->s[i], net->s[0], 0);
	for (int i = 0; i < n; i++) {
		struct net_pkt *q = calloc(256, sizeof(*q));
		size_t nq = 0;
		net_drain(net, i, q, &nq);
		net_deliver(net, q, nq);
		free(q);
	}
}

/* Runs every member's timers up to until (deliveries take no time). */
static void net_run(struct net *net, uint64_t until)
{
	for (;;) {
		uint64_t t = SWIM_NEVER;
		for (int i = 0; i < net->n; i++) {
			if (net->down[i])
				continue;
			uint64_t d = swim_next_deadline(net->s[i]);
			t = d < t ? d : t;
		}
		if (t > until)
			break;
		net->now = t > net->now ? t : net->now;
		for (int i = 0; i < net->n; i++) {
			if (net->down[i] || swim_next_deadline(net->s[i]) > net->now)
				continue;
			swim_tick(net->s[i], net->now);
			struct net_pkt *q = calloc(256, sizeof(*q));
			size_t nq = 0;
			net_drain(net, i, q, &nq);
			net_deliver(net, q, nq);
			free(q);
		}
	}
	net->now = until;
}

static void net_free(struct net *net)
{
	for (int i = 0; i < net->n; i++)
		swim_free(net->s[i]);
}

START_TEST(test_probe_ack_keeps_alive)
{
	struct net net;
	net_init(&net, 4);
	net_run(&net, 30000);
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(swim_num_alive(net.s[i]), 4);
		ck_assert_uint_eq(net.events[i][SWIM_EV_SUSPECT], 0);
		ck_assert_uint_eq(swim_awareness(net.s[i]), 0);
		const struct swim_stats *st = swim_stats(net.s[i]);
		ck_assert_uint_ge(st->probes, 25);
		ck_assert_uint_eq(st->probe_failures, 0);
		ck_assert_uint_ge(net.events[i][SWIM_EV_PING], 25);
		/* pings and acks carry the gossip: every one of 4 was told of all */
		ck_assert_uint_eq(swim_bcast_len(net.s[i]), 0);
	}
	net_free(&net);
}
END_TEST

START_TEST(test_crash_suspect_dead_in_network)
{
	/* 4 members; n3 crashes: someone suspects it, k = 2 confirmations expected (n−2 = 2),
	 * everyone marks it dead, nobody marks a live member dead */
	struct net net;
	net_init(&net, 4);
	net_run(&net, 5000);
	net.down[3] = true;
	net_run(&net, 5000 + 2000 + 24000 + 2000);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(state_of(net.s[i], "n3"), SWIM_DEAD);
		ck_assert_uint_eq(net.failed_about[i][3], 1);
		for (int j = 0; j < 3; j++)
			ck_assert_uint_eq(net.failed_about[i][j], 0);
		ck_assert_uint_ge(net.sent[i][SWIM_MSG_INDIRECT_PING], 1);
	}
	net_free(&net);
}
END_TEST

/* ---- failure detection step by step (§4.2 steps 1–7), on one member ---- */

START_TEST(test_missed_ack_indirect_suspect_dead)
{
	/* a and two others: k = 0 (n − 2 < SuspicionMult − 2), so dead at exactly min */
	struct swim *s = mk("a", 10, 0);
	add_members(s, 0, 2);
	uint32_t seq;
	char target[SWIM_NAME_MAX + 1];
	uint64_t t0 = until_probe(s, 0, &seq, target);
	const struct swim_fx *pkt;
	const struct swim_msg *ping = sent_msg(s, SWIM_MSG_PING, &pkt);
	ck_assert_str_eq(ping->from, "a");
	ck_assert_int_eq(ping->source.ip[3], 10);
	ck_assert_str_eq(pkt->to_name, target);
	const char *other = strcmp(target, "m1") == 0 ? "m2" : "m1";

	/* step 3: no ack in ProbeTimeout: an indirect ping (nack asked: the peer speaks v5)
	 * and a TCP ping (the target speaks v3+) */
	swim_effects_clear(s);
	swim_tick(s, t0 + 499);
	ck_assert_uint_eq(n_sent(s, SWIM_MSG_INDIRECT_PING, NULL), 0);
	swim_tick(s, t0 + 500);
	const struct swim_msg *ind = sent_msg(s, SWIM_MSG_INDIRECT_PING, &pkt);
	ck_assert_ptr_nonnull(ind);
	ck_assert_str_eq(pkt->to_name, other);
	ck_assert_str_eq(ind->node, target);
	ck_assert_uint_eq(ind->seq, seq);
	ck_assert(ind->nack);
	const struct swim_fx *tcp = find_fx(s, SWIM_FX_TCP_PING);
	ck_assert_ptr_nonnull(tcp);
	ck_assert_uint_eq(tcp->seq, seq);
	ck_assert_uint_eq(tcp->deadline_ms, t0 + 1000);
	swim_effects_clear(s);
	swim_tcp_ping_result(s, t0 + 900, seq, false);

	/* step 6: nothing by the end of the interval: suspect, broadcast */
	swim_tick(s, t0 + 999);
	ck_assert_int_eq(state_of(s, target), SWIM_ALIVE);
	swim_tick(s, t0 + 1000);
	ck_assert_int_eq(state_of(s, target), SWIM_SUSPECT);
	ck_assert_uint_eq(n_events(s, SWIM_EV_SUSPECT, target), 1);
	uint64_t deadline;
	uint32_t conf, k;
	ck_assert(swim_suspicion(s, target, &deadline, &conf, &k));
	ck_assert_uint_eq(k, 0);
	ck_assert_uint_eq(deadline, t0 + 1000 + swim_suspicion_timeout_ms(4, 3, 1000));
	ck_assert_uint_eq(deadline, t0 + 5000);
	/* step 5: one expected nack missing */
	ck_assert_uint_eq(swim_awareness(s), 1);

	/* step 7: expiry at exactly the computed time */
	swim_effects_clear(s);
	swim_tick(s, deadline - 1);
	ck_assert_int_eq(state_of(s, target), SWIM_SUSPECT);
	swim_tick(s, deadline);
	ck_assert_int_eq(state_of(s, target), SWIM_DEAD);
	ck_assert_uint_eq(n_events(s, SWIM_EV_FAILED, target), 1);
	ck_assert(!swim_suspicion(s, target, NULL, NULL, NULL));
	swim_free(s);
}
END_TEST

START_TEST(test_ack_in_time)
{
	struct swim *s = mk("a", 10, 0);
	add_members(s, 0, 9);
	uint32_t seq;
	char target[SWIM_NAME_MAX + 1];
	uint64_t t0 = until_probe(s, 0, &seq, target);
	swim_effects_clear(s);
	/* a late direct ack, after the indirect pings went out, still counts */
	swim_tick(s, t0 + 500);
	ck_assert_uint_eq(n_sent(s, SWIM_MSG_INDIRECT_PING, target), 3);
	swim_effects_clear(s);
	struct swim_msg ack = {.type = SWIM_MSG_ACK, .seq = seq};
	recv_msg(s, t0 + 990, 1, &ack);
	ck_assert_uint_eq(n_events(s, SWIM_EV_PING, NULL), 0); /* rtt only for direct acks */
	swim_tick(s, t0 + 1000);
	ck_assert_int_eq(state_of(s, target), SWIM_ALIVE);
	ck_assert_uint_eq(swim_stats(s)->probe_failures, 0);
	ck_assert_uint_eq(swim_awareness(s), 0);

	/* a direct ack in time reports its round trip */
	t0 = until_probe(s, t0 + 1000, &seq, target);
	swim_effects_clear(s);
	uint8_t payload[3] = {1, 2, 3};
	ack.seq = seq;
	ack.payload = payload;
	ack.payload_len = 3;
	recv_msg(s, t0 + 42, 1, &ack);
	const struct swim_fx *fx = find_fx(s, SWIM_FX_EVENT);
	ck_assert_ptr_nonnull(fx);
	ck_assert_int_eq(fx->event, SWIM_EV_PING);
	ck_assert_str_eq(fx->node.name, target);
	ck_assert_uint_eq(fx->rtt_ms, 42);
	ck_assert_uint_eq(fx->payload_len, 3);
	ck_assert_int_eq(fx->payload[2], 3);
	/* an ack after the probe's end is ignored */
	swim_effects_clear(s);
	recv_msg(s, t0 + 60, 1, &ack);
	ck_assert_uint_eq(n_events(s, SWIM_EV_PING, NULL), 0);
	swim_free(s);
}
END_TEST

START_TEST(test_tcp_fallback)
{
	struct swim *s = mk("a", 10, 0);
	add_members(s, 0, 3);
	uint32_t seq;
	char target[SWIM_NAME_MAX + 1];
	uint64_t t0 = until_probe(s, 0, &seq, target);
	swim_tick(s, t0 + 500);
	swim_effects_clear(s);
	swim_tcp_ping_result(s, t0 + 600, seq, true);
	swim_tick(s, t0 + 1000);
	/* step 4: alive, "network may be misconfigured", a successful probe for Lifeguard */
	ck_assert_int_eq(state_of(s, target), SWIM_ALIVE);
	ck_assert_uint_eq(n_events(s, SWIM_EV_TCP_ONLY, target), 1);
	ck_assert_uint_eq(swim_awareness(s), 0);
	ck_assert_uint_eq(swim_stats(s)->tcp_only, 1);
	/* a stale or foreign result changes nothing */
	swim_tcp_ping_result(s, t0 + 1001, seq + 100, true);
	swim_free(s);
}
END_TEST

START_TEST(test_ping_carries_suspect)
{
	/* §4.2 step 2: probing a suspect member sends the accusation along, to refute at once */
	struct swim *s = mk("a", 10, 0);
	add_members(s, 0, 1);
	struct swim_msg sm = suspect_msg("m1", 1, "zz");
	recv_msg(s, 10, 1, &sm);
	ck_assert_int_eq(state_of(s, "m1"), SWIM_SUSPECT);
	uint32_t seq;
	char target[SWIM_NAME_MAX + 1];
	until_probe(s, 10, &seq, target);
	const struct swim_fx *pkt;
	sent_msg(s, SWIM_MSG_PING, &pkt);
	ck_assert_uint_eq(pkt->n_msgs, 2);
	ck_assert_int_eq(pkt->msgs[1].type, SWIM_MSG_SUSPECT);
	ck_assert_str_eq(pkt->msgs[1].node, "m1");
	ck_assert_str_eq(pkt->msgs[1].from, "a");
	ck_assert_uint_eq(pkt->msgs[1].incarnation, 1);
	swim_free(s);
}
END_TEST

START_TEST(test_suspicion_confirmations)
{
	/* 10 members: k = 2, min 4 s, max 24 s; each distinct accuser shortens the timer */
	struct swim *s = mk("a", 20, 0);
	add_members(s, 0, 9);
	swim_effects_clear(s);
	struct swim_msg sm = suspect_msg("m1", 1, "m2");
	recv_q(s, 1000, 2, &sm);
	uint64_t deadline;
	uint32_t conf, k;
	ck_assert(swim_suspicion(s, "m1", &deadline, &conf, &k));
	ck_assert_uint_eq(k, 2);
	ck_assert_uint_eq(conf, 0);
	uint64_t min = swim_suspicion_timeout_ms(4, 10, 1000), max = 6 * min;
	ck_assert_uint_eq(deadline, 1000 + max);
	ck_assert_uint_eq(n_events(s, SWIM_EV_SUSPECT, "m1"), 1);

	/* the accuser again: no confirmation; an older incarnation: ignored */
	sm = suspect_msg("m1", 1, "m2");
	recv_q(s, 1500, 2, &sm);
	sm = suspect_msg("m1", 0, "m3");
	recv_q(s, 1500, 3, &sm);
	ck_assert(swim_suspicion(s, "m1", &deadline, &conf, NULL));
	ck_assert_uint_eq(conf, 0);

	/* a second accuser: 1 of 2 */
	sm = suspect_msg("m1", 1, "m3");
	recv_q(s, 2000, 3, &sm);
	ck_assert(swim_suspicion(s, "m1", &deadline, &conf, NULL));
	ck_assert_uint_eq(conf, 1);
	ck_assert_uint_eq(deadline, 1000 + swim_suspicion_after_ms(1, 2, min, max));
	ck_assert_uint_eq(deadline, 1000 + 11381);
	/* the confirmation is re-gossiped, in place of the first accusation */
	size_t from_m3 = 0, from_m2 = 0;
	for (int i = 0; i < 3; i++) {
		swim_effects_clear(s);
		tick_q(s, 2001 + 200 * (uint64_t)i);
		size_t n;
		const struct swim_fx *fx = swim_effects(s, &n);
		for (size_t a = 0; a < n; a++)
			for (size_t b = 0; fx[a].type == SWIM_FX_SEND && b < fx[a].n_msgs; b++)
				if (fx[a].msgs[b].type == SWIM_MSG_SUSPECT) {
					from_m3 += strcmp(fx[a].msgs[b].from, "m3") == 0;
					from_m2 += strcmp(fx[a].msgs[b].from, "m2") == 0;
				}
	}
	ck_assert_uint_gt(from_m3, 0);
	ck_assert_uint_eq(from_m2, 0);
	sm = suspect_msg("m1", 1, "m3");
	recv_q(s, 2100, 3, &sm);
	ck_assert(swim_suspicion(s, "m1", NULL, &conf, NULL));
	ck_assert_uint_eq(conf, 1);

	/* a third: 2 of 2, the timer is at min */
	sm = suspect_msg("m1", 1, "m4");
	recv_q(s, 3000, 4, &sm);
	ck_assert(swim_suspicion(s, "m1", &deadline, &conf, NULL));
	ck_assert_uint_eq(conf, 2);
	ck_assert_uint_eq(deadline, 1000 + min);
	swim_effects_clear(s);
	tick_q(s, 1000 + min);
	ck_assert_int_eq(state_of(s, "m1"), SWIM_DEAD);
	ck_assert_uint_eq(n_events(s, SWIM_EV_FAILED, "m1"), 1);

	/* a confirmation after min has passed: dead at once */
	sm = suspect_msg("m5", 1, "m2");
	recv_q(s, 10000, 2, &sm);
	sm = suspect_msg("m5", 1, "m3");
	recv_q(s, 12000, 3, &sm);
	ck_assert_int_eq(state_of(s, "m5"), SWIM_SUSPECT); /* 11381 > 2000 elapsed */
	sm = suspect_msg("m5", 1, "m4");
	recv_q(s, 15000, 4, &sm);
	ck_assert_int_eq(state_of(s, "m5"), SWIM_DEAD);
	swim_free(s);
}
END_TEST

START_TEST(test_suspect_unknown_and_dead)
{
	struct swim *s = mk("a", 20, 0);
	add_members(s, 0, 3);
	struct swim_msg m = suspect_msg("nobody", 9, "m1");
	recv_msg(s, 10, 1, &m);
	ck_assert(!swim_member(s, "nobody", NULL));
	m = dead_msg("m1", 1, "m2");
	recv_msg(s, 10, 2, &m);
	ck_assert_int_eq(state_of(s, "m1"), SWIM_DEAD);
	/* suspect about a dead member: stays dead */
	m = suspect_msg("m1", 1, "m3");
	recv_msg(s, 20, 3, &m);
	ck_assert_int_eq(state_of(s, "m1"), SWIM_DEAD);
	/* dead with an older incarnation: ignored */
	m = dead_msg("m2", 0, "m3");
	recv_msg(s, 20, 3, &m);
	ck_assert_int_eq(state_of(s, "m2"), SWIM_ALIVE);
	swim_free(s);
}
END_TEST

/* ---- refutation, alive rules (§4.2 step 8) ---- */

START_TEST(test_refute)
{
	struct swim *s = mk("a", 20, 0);
	add_members(s, 0, 3);
	swim_effects_clear(s);
	struct swim_msg m = suspect_msg("a", 1, "m1");
	recv_msg(s, 100, 1, &m);
	ck_assert_uint_eq(swim_incarnation(s), 2);
	ck_assert_int_eq(state_of(s, "a"), SWIM_ALIVE);
	ck_assert_uint_eq(n_events(s, SWIM_EV_REFUTE, "a"), 1);
	ck_assert_uint_eq(swim_awareness(s), 1); /* Lifeguard: +1 when refuting */
	ck_assert_uint_eq(swim_stats(s)->refutes, 1);

	/* the refutation goes out: the next gossip carries alive a inc 2 */
	swim_effects_clear(s);
	swim_tick(s, 100 + 400);
	const struct swim_msg *al = NULL;
	size_t n;
	const struct swim_fx *fx = swim_effects(s, &n);
	for (size_t i = 0; i < n && !al; i++)
		for (size_t j = 0; fx[i].type == SWIM_FX_SEND && j < fx[i].n_msgs; j++)
			if (fx[i].msgs[j].type == SWIM_MSG_ALIVE &&
			    strcmp(fx[i].msgs[j].node, "a") == 0)
				al = &fx[i].msgs[j];
	ck_assert_ptr_nonnull(al);
	ck_assert_uint_eq(al->incarnation, 2);
	ck_assert_int_eq(al->addr.ip[3], 20);

	/* dead about us with a higher incarnation: accused + 1 */
	m = dead_msg("a", 5, "m2");
	recv_msg(s, 600, 2, &m);
	ck_assert_uint_eq(swim_incarnation(s), 6);
	ck_assert_int_eq(state_of(s, "a"), SWIM_ALIVE);
	ck_assert_uint_eq(swim_awareness(s), 2);
	/* a stale accusation: ignored */
	m = suspect_msg("a", 3, "m2");
	recv_msg(s, 700, 2, &m);
	ck_assert_uint_eq(swim_incarnation(s), 6);
	/* alive about us, same incarnation, same meta: nothing; other meta: refute */
	struct swim_msg al2 = alive_msg("a", 6, 20);
	recv_msg(s, 800, 3, &al2);
	ck_assert_uint_eq(swim_incarnation(s), 6);
	static const uint8_t other_meta[2] = {1, 2};
	al2.meta = other_meta;
	al2.meta_len = 2;
	recv_msg(s, 800, 3, &al2);
	ck_assert_uint_eq(swim_incarnation(s), 7);
	/* alive about us, older: nothing */
	al2 = alive_msg("a", 2, 20);
	recv_msg(s, 900, 3, &al2);
	ck_assert_uint_eq(swim_incarnation(s), 7);
	swim_free(s);
}
END_TEST

START_TEST(test_alive_overrides_suspect)
{
	struct swim *s = mk("a", 20, 0);
	add_members(s, 0, 5);
	struct swim_msg m = suspect_msg("m1", 1, "m2");
	recv_msg(s, 100, 2, &m);
	ck_assert_int_eq(state_of(s, "m1"), SWIM_SUSPECT);
	swim_effects_clear(s);
	/* same incarnation: ignored */
	struct swim_msg al = alive_msg("m1", 1, 1);
	recv_msg(s, 200, 1, &al);
	ck_assert_int_eq(state_of(s, "m1"), SWIM_SUSPECT);
	ck_assert(swim_suspicion(s, "m1", NULL, NULL, NULL));
	/* newer: alive, the timer gone */
	al = alive_msg("m1", 2, 1);
	recv_msg(s, 300, 1, &al);
	ck_assert_int_eq(state_of(s, "m1"), SWIM_ALIVE);
	ck_assert_uint_eq(inc_of(s, "m1"), 2);
	ck_assert(!swim_suspicion(s, "m1", NULL, NULL, NULL));
	ck_assert_uint_eq(n_events(s, SWIM_EV_ALIVE, "m1"), 1);
	swim_tick(s, 100 + 30000);
	ck_assert_int_eq(state_of(s, "m1"), SWIM_ALIVE);

	/* a dead member comes back with a newer incarnation: join */
	m = dead_msg("m2", 1, "m3");
	recv_msg(s, 40000, 3, &m);
	swim_effects_clear(s);
	al = alive_msg("m2", 2, 2);
	recv_msg(s, 40001, 2, &al);
	ck_assert_int_eq(state_of(s, "m2"), SWIM_ALIVE);
	ck_assert_uint_eq(n_events(s, SWIM_EV_JOIN, "m2"), 1);
	/* new meta at a newer incarnation: update */
	swim_effects_clear(s);
	static const uint8_t meta[3] = {0xff, 0x80, 0};
	al = alive_msg("m2", 3, 2);
	al.meta = meta;
	al.meta_len = 3;
	recv_msg(s, 40002, 2, &al);
	ck_assert_uint_eq(n_events(s, SWIM_EV_UPDATE, "m2"), 1);
	/* bad versions: ignored */
	al = alive_msg("m3", 9, 3);
	al.vsn[0] = 3;
	al.vsn[1] = 2;
	recv_msg(s, 40003, 3, &al);
	ck_assert_uint_eq(inc_of(s, "m3"), 1);
	swim_free(s);
}
END_TEST

START_TEST(test_conflict_and_reclaim)
{
	struct swim *s = mk("a", 20, 0);
	add_members(s, 0, 2);
	swim_effects_clear(s);
	struct swim_msg al = alive_msg("m1", 5, 9); /* m1 is at .1 */
	recv_msg(s, 100, 9, &al);
	ck_assert_uint_eq(n_events(s, SWIM_EV_CONFLICT, "m1"), 1);
	struct swim_node_state st;
	ck_assert(swim_member(s, "m1", &st));
	ck_assert_int_eq(st.addr.ip[3], 1);
	ck_assert_uint_eq(st.incarnation, 1);
	/* a left member's name may move */
	struct swim_msg d = dead_msg("m2", 1, "m2");
	recv_msg(s, 200, 2, &d);
	ck_assert_int_eq(state_of(s, "m2"), SWIM_LEFT);
	swim_effects_clear(s);
	al = alive_msg("m2", 1, 9);
	recv_msg(s, 300, 9, &al);
	ck_assert(swim_member(s, "m2", &st));
	ck_assert_int_eq(st.state, SWIM_ALIVE);
	ck_assert_int_eq(st.addr.ip[3], 9);
	ck_assert_uint_eq(n_events(s, SWIM_EV_JOIN, "m2"), 1);
	swim_free(s);
}
END_TEST

/* ---- leave (§4.2 step 9) ---- */

START_TEST(test_leave_is_left)
{
	struct net net;
	net_init(&net, 3);
	net_run(&net, 3000);
	swim_leave(net.s[1], net.now);
	ck_assert(swim_has_left(net.s[1]));
	ck_assert_int_eq(state_of(net.s[1], "n1"), SWIM_LEFT);
	ck_assert_int_eq(swim_leave(net.s[1], net.now), -1);
	struct net_pkt *q = calloc(256, sizeof(*q));
	size_t nq = 0;
	net_drain(&net, 1, q, &nq);
	net_deliver(&net, q, nq);
	free(q);
	net_run(&net, 6000);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(state_of(net.s[i], "n1"), SWIM_LEFT);
		ck_assert_uint_eq(net.failed_about[i][1], 0);
		ck_assert_uint_eq(net.left_about[i][1], 1);
	}
	/* the leave went out: LEAVE_DONE once */
	ck_assert_uint_eq(net.events[1][SWIM_EV_LEAVE_DONE], 1);
	/* an alive about us after the leave does not bring us back */
	struct swim_msg al = alive_msg("n1", 9, 2);
	recv_msg(net.s[1], net.now, 1, &al);
	ck_assert_int_eq(state_of(net.s[1], "n1"), SWIM_LEFT);
	ck_assert_int_eq(swim_set_meta(net.s[1], net.now, NULL, 0), -1);
	/* n1 stops: the others never call it dead */
	net.down[1] = true;
	net_run(&net, 60000);
	for (int i = 0; i < 3; i += 2) {
		ck_assert_uint_eq(net.failed_about[i][1], 0);
		ck_assert(!swim_member(net.s[i], "n1", NULL) ||
		          state_of(net.s[i], "n1") == SWIM_LEFT);
	}
	net_free(&net);
}
END_TEST

START_TEST(test_leave_alone)
{
	struct swim *s = mk("a", 20, 0);
	swim_effects_clear(s);
	ck_assert_int_eq(swim_leave(s, 10), 0);
	ck_assert_uint_eq(n_events(s, SWIM_EV_LEFT, "a"), 1);
	ck_assert_uint_eq(n_events(s, SWIM_EV_LEAVE_DONE, NULL), 1);
	swim_free(s);
}
END_TEST

/* ---- the broadcast queue (§4.2 step 10) ---- */

/* Gossips until the queue is empty. */
static uint64_t flush_queue(struct swim *s, uint64_t now)
{
	for (int i = 0; i < 1000 && swim_bcast_len(s) > 0; i++) {
		swim_effects_clear(s);
		now = swim_next_deadline(s);
		tick_q(s, now);
	}
	ck_assert_uint_eq(swim_bcast_len(s), 0);
	swim_effects_clear(s);
	return now;
}

START_TEST(test_coalescing)
{
	struct swim *s = mk("a", 20, 0);
	add_members(s, 0, 3);
	uint64_t now = flush_queue(s, 0);
	struct swim_msg m = suspect_msg("m1", 1, "m2");
	recv_q(s, now, 2, &m);
	ck_assert_uint_eq(swim_bcast_len(s), 1);
	struct swim_msg al = alive_msg("m1", 2, 1);
	recv_q(s, now, 1, &al);
	ck_assert_uint_eq(swim_bcast_len(s), 1); /* the alive replaced the suspect */
	m = dead_msg("m2", 1, "m3");
	recv_q(s, now, 3, &m);
	ck_assert_uint_eq(swim_bcast_len(s), 2);
	/* what goes out about m1 is the alive only */
	size_t suspects = 0, alives = 0;
	while (swim_bcast_len(s) > 0) {
		swim_effects_clear(s);
		now = swim_next_deadline(s);
		tick_q(s, now);
		suspects += n_sent(s, SWIM_MSG_SUSPECT, "m1");
		alives += n_sent(s, SWIM_MSG_ALIVE, "m1");
	}
	ck_assert_uint_eq(suspects, 0);
	ck_assert_uint_gt(alives, 0);
	swim_free(s);
}
END_TEST

START_TEST(test_retransmit_limit)
{
	/* 4 members: each broadcast goes out 4·ceil(log10(4+1)) = 4 times, then leaves the queue */
	struct swim *s = mk("a", 20, 0);
	add_members(s, 0, 3);
	uint64_t now = flush_queue(s, 0);
	struct swim_msg m = dead_msg("m1", 1, "m2");
	recv_q(s, now, 2, &m);
	size_t sent = 0;
	for (int i = 0; i < 100; i++) {
		swim_effects_clear(s);
		now = swim_next_deadline(s);
		tick_q(s, now);
		sent += n_sent(s, SWIM_MSG_DEAD, "m1");
	}
	ck_assert_uint_eq(sent, swim_retransmit_limit(4, 4));
	ck_assert_uint_eq(sent, 4);
	ck_assert_uint_eq(swim_bcast_len(s), 0);
	swim_free(s);
}
END_TEST

/* Serf's broadcasts through ops.user_broadcasts: packed after the core's own. */
static size_t user_cb(void *arg, size_t overhead, size_t limit, struct swim_user_msg *out,
                      size_t out_max)
{
	static const uint8_t msg[100] = {7};
	int *left = arg;
	size_t n = 0, used = 0;
	while (*left > 0 && n < out_max && used + overhead + sizeof(msg) <= limit) {
		out[n].data = msg;
		out[n].len = sizeof(msg);
		used += overhead + sizeof(msg);
		n++;
		(*left)--;
	}
	return n;
}

static size_t packet_size(const struct swim_fx *fx)
{
	if (fx->n_msgs == 1)
		return swim_msg_size(&fx->msgs[0]);
	size_t n = 2;
	for (size_t i = 0; i < fx->n_msgs; i++)
		n += 2 + swim_msg_size(&fx->msgs[i]);
	return n;
}

START_TEST(test_packet_limit)
{
	/* 120 members with 400-byte meta: gossip and piggybacked packets stay within 1400 */
	int user_left = 50;
	struct swim_ops ops = {.arg = &user_left, .user_broadcasts = user_cb};
	struct swim_config c;
	swim_config_lan(&c);
	c.name = "a";
	c.addr = addr_of(200);
	c.seed = 5;
	struct swim *s = swim_new(&c, &ops, 0);
	static uint8_t meta[400];
	struct swim_node_state st[120];
	char names[120][16];
	for (int i = 0; i < 120; i++) {
		snprintf(names[i], sizeof(names[i]), "m%d", i);
		memset(&st[i], 0, sizeof(st[i]));
		st[i].name = names[i];
		st[i].addr = addr_of(i + 1);
		st[i].meta = meta;
		st[i].meta_len = sizeof(meta);
		st[i].incarnation = 1;
		st[i].vsn[0] = 1;
		st[i].vsn[1] = 5;
	}
	ck_assert_int_eq(swim_merge_remote_state(s, 0, st, 120), 0);
	swim_effects_clear(s);
	size_t packets = 0, multi = 0, users = 0;
	uint64_t now = 0;
	for (int i = 0; i < 50; i++) {
		now = swim_next_deadline(s);
		swim_tick(s, now);
		/* a ping to us: the ack carries broadcasts too */
		struct swim_msg ping = {.type = SWIM_MSG_PING, .seq = 77};
		ping.node = "a";
		ping.from = "m1";
		ping.source = addr_of(1);
		recv_msg(s, now, 1, &ping);
		size_t n;
		const struct swim_fx *fx = swim_effects(s, &n);
		for (size_t k = 0; k < n; k++) {
			if (fx[k].type != SWIM_FX_SEND)
				continue;
			packets++;
			ck_assert_uint_le(packet_size(&fx[k]), 1400);
			multi += fx[k].n_msgs > 1;
			for (size_t j = 0; j < fx[k].n_msgs; j++)
				users += fx[k].msgs[j].type == SWIM_MSG_USER;
		}
		swim_effects_clear(s);
	}
	ck_assert_uint_gt(packets, 50);
	ck_assert_uint_gt(multi, 50);
	ck_assert_uint_eq(users, 50);
	swim_free(s);
}
END_TEST

/* ---- relaying (the other side of step 3) ---- */

START_TEST(test_indirect_relay)
{
	struct swim *s = mk("b", 2, 0);
	add_members(s, 0, 3);
	uint64_t now = flush_queue(s, 0);
	/* the next probe must not interfere: use times before it */
	struct swim_msg ind = {.type = SWIM_MSG_INDIRECT_PING, .seq = 4242, .nack = true};
	ind.node = "m3";
	ind.addr = addr_of(3);
	ind.from = "m1";
	ind.source = addr_of(1);
	recv_msg(s, now, 1, &ind);
	const struct swim_fx *pkt;
	const struct swim_msg *ping = sent_msg(s, SWIM_MSG_PING, &pkt);
	ck_assert_ptr_nonnull(ping);
	ck_assert_str_eq(ping->node, "m3");
	ck_assert_int_eq(pkt->to.ip[3], 3);
	uint32_t local = ping->seq;
	swim_effects_clear(s);
	/* the target answers: the ack goes to the prober with its seq */
	struct swim_msg ack = {.type = SWIM_MSG_ACK, .seq = local};
	recv_msg(s, now + 10, 3, &ack);
	const struct swim_msg *fwd = sent_msg(s, SWIM_MSG_ACK, &pkt);
	ck_assert_ptr_nonnull(fwd);
	ck_assert_uint_eq(fwd->seq, 4242);
	ck_assert_int_eq(pkt->to.ip[3], 1);
	ck_assert_str_eq(pkt->to_name, "m1");
	swim_effects_clear(s);
	/* no nack afterwards */
	swim_tick(s, now + 600);
	ck_assert_uint_eq(n_sent(s, SWIM_MSG_NACK, NULL), 0);

	/* no answer: a nack after ProbeTimeout */
	swim_effects_clear(s);
	now += 1000;
	ind.seq = 4343;
	recv_msg(s, now, 1, &ind);
	swim_effects_clear(s);
	swim_tick(s, now + 499);
	ck_assert_uint_eq(n_sent(s, SWIM_MSG_NACK, NULL), 0);
	swim_tick(s, now + 500);
	const struct swim_msg *nack = sent_msg(s, SWIM_MSG_NACK, &pkt);
	ck_assert_ptr_nonnull(nack);
	ck_assert_uint_eq(nack->seq, 4343);
	ck_assert_int_eq(pkt->to.ip[3], 1);
	ck_assert_uint_eq(swim_stats(s)->nacks_sent, 1);
	swim_free(s);
}
END_TEST

START_TEST(test_ping_answered)
{
	struct swim *s = mk("a", 20, 0);
	swim_effects_clear(s);
	struct swim_msg ping = {.type = SWIM_MSG_PING, .seq = 5};
	ping.node = "other";
	recv_msg(s, 10, 3, &ping);
	ck_assert_uint_eq(n_sent(s, SWIM_MSG_ACK, NULL), 0);
	ck_assert_uint_eq(swim_stats(s)->wrong_node, 1);
	/* no target name, no source: answered to the packet's address */
	ping.node = "";
	recv_msg(s, 10, 3, &ping);
	const struct swim_fx *pkt;
	const struct swim_msg *ack = sent_msg(s, SWIM_MSG_ACK, &pkt);
	ck_assert_ptr_nonnull(ack);
	ck_assert_uint_eq(ack->seq, 5);
	ck_assert_int_eq(pkt->to.ip[3], 3);
	/* malformed messages are refused */
	struct swim_msg bad = {.type = SWIM_MSG_ALIVE};
	bad.node = "x";
	struct swim_addr from = addr_of(3);
	ck_assert_int_eq(swim_recv(s, 10, &from, &bad), -1); /* no address */
	bad = (struct swim_msg){.type = SWIM_MSG_SUSPECT};
	ck_assert_int_eq(swim_recv(s, 10, &from, &bad), -1); /* no node */
	bad = (struct swim_msg){.type = 42};
	ck_assert_int_eq(swim_recv(s, 10, &from, &bad), -1);
	ck_assert_uint_eq(swim_stats(s)->malformed, 3);
	swim_free(s);
}
END_TEST

/* ---- Lifeguard awareness (§4.2 step 5) ---- */

START_TEST(test_awareness)
{
	struct swim *s = mk("a", 20, 0);
	add_members(s, 0, 9);
	uint64_t now = 0;
	uint32_t seq;
	char target[SWIM_NAME_MAX + 1];
	/* failed probes without nacks: +3 each (3 nack-capable peers), clamped at 7 */
	for (int i = 0; i < 3; i++) {
		uint32_t score = swim_awareness(s);
		now = until_probe(s, now, &seq, target);
		/* the probe waits ProbeInterval × (score+1) */
		swim_effects_clear(s);
		swim_tick(s, now + 500);
		ck_assert_uint_eq(n_sent(s, SWIM_MSG_INDIRECT_PING, target), 3);
		swim_effects_clear(s);
		swim_tcp_ping_result(s, now + 500, seq, false);
		uint64_t end = now + 1000ull * (score + 1);
		swim_tick(s, end - 1);
		ck_assert_int_eq(state_of(s, target), SWIM_ALIVE);
		swim_tick(s, end);
		ck_assert_int_eq(state_of(s, target), SWIM_SUSPECT);
		ck_assert_uint_eq(swim_awareness(s), score + 3 > 7 ? 7 : score + 3);
		/* a refutation clears the suspicion for the next round */
		struct swim_msg al = alive_msg(target, inc_of(s, target) + 1, target[1] - '0');
		recv_msg(s, end, 1, &al);
		now = end;
	}
	ck_assert_uint_eq(swim_awareness(s), 7);
	/* nacks from all three: a failed probe costs nothing */
	now = until_probe(s, now, &seq, target);
	swim_tick(s, now + 500);
	swim_tcp_ping_result(s, now + 500, seq, false);
	struct swim_msg nack = {.type = SWIM_MSG_NACK, .seq = seq};
	for (int i = 0; i < 3; i++)
		recv_msg(s, now + 1200, 1, &nack);
	/* a successful probe: −1 */
	swim_effects_clear(s);
	swim_tick(s, now + 8000);
	ck_assert_uint_eq(swim_awareness(s), 7);
	struct swim_msg al = alive_msg(target, inc_of(s, target) + 1, target[1] - '0');
	recv_msg(s, now + 8000, 1, &al);
	now = until_probe(s, now + 8000, &seq, target);
	struct swim_msg ack = {.type = SWIM_MSG_ACK, .seq = seq};
	recv_msg(s, now + 5, 1, &ack);
	ck_assert_uint_eq(swim_awareness(s), 6);
	/* probes start on the ProbeInterval ticker: the next one within a second */
	uint64_t next = swim_next_deadline(s);
	ck_assert_uint_le(next, now + 1000);
	swim_free(s);
}
END_TEST

/* ---- pruning (§4.2 step 1) ---- */

START_TEST(test_prune_after_gossip_to_the_dead)
{
	struct swim *s = mk("a", 20, 0);
	add_members(s, 0, 3);
	struct swim_msg d = dead_msg("m1", 1, "m2");
	recv_msg(s, 1000, 2, &d);
	struct swim_msg l = dead_msg("m2", 1, "m2");
	recv_msg(s, 1000, 2, &l);
	swim_effects_clear(s);
	/* gossip still reaches the recently dead (so they can refute), never the left */
	size_t to_dead = 0, to_left = 0;
	uint64_t now = 1000;
	while (now < 1000 + 30000) {
		swim_effects_clear(s);
		now = swim_next_deadline(s);
		swim_tick(s, now);
		size_t n;
		const struct swim_fx *fx = swim_effects(s, &n);
		for (size_t k = 0; k < n; k++) {
			if (fx[k].type != SWIM_FX_SEND)
				continue;
			to_dead += fx[k].to.ip[3] == 1;
			to_left += fx[k].to.ip[3] == 2;
		}
		ck_assert(swim_member(s, "m1", NULL));
	}
	ck_assert_uint_gt(to_dead, 0);
	ck_assert_uint_eq(to_left, 0);
	ck_assert(swim_member(s, "m2", NULL));
	/* past GossipToTheDead, the next pass of the probe list drops both */
	while (now < 1000 + 30000 + 10000) {
		swim_effects_clear(s);
		now = swim_next_deadline(s);
		swim_tick(s, now);
	}
	ck_assert(!swim_member(s, "m1", NULL));
	ck_assert(!swim_member(s, "m2", NULL));
	ck_assert_uint_eq(swim_stats(s)->pruned, 2);
	ck_assert_uint_eq(swim_num_members(s), 2);
	swim_free(s);
}
END_TEST

/* ---- push/pull merge rules (memberlist mergeState) ---- */

START_TEST(test_push_pull_merge)
{
	struct swim *s = mk("a", 20, 0);
	add_members(s, 0, 3);
	struct swim_msg l = dead_msg("m3", 1, "m3");
	recv_msg(s, 10, 3, &l);
	swim_effects_clear(s);
	struct swim_node_state r[8];
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 8; i++) {
		r[i].vsn[0] = 1;
		r[i].vsn[1] = 5;
	}
	/* 0: a new member; 1: m1 alive but older (ignored); 2: m2 dead there (suspect here);
	 * 3: us suspect there (refute); 4: m3 alive at its left incarnation (stays left) */
	r[0].name = "new";
	r[0].addr = addr_of(50);
	r[0].incarnation = 3;
	r[0].state = SWIM_ALIVE;
	r[1].name = "m1";
	r[1].addr = addr_of(1);
	r[1].incarnation = 0;
	r[1].state = SWIM_ALIVE;
	r[2].name = "m2";
	r[2].addr = addr_of(2);
	r[2].incarnation = 1;
	r[2].state = SWIM_DEAD;
	r[3].name = "a";
	r[3].addr = addr_of(20);
	r[3].incarnation = 1;
	r[3].state = SWIM_SUSPECT;
	r[4].name = "m3";
	r[4].addr = addr_of(3);
	r[4].incarnation = 1;
	r[4].state = SWIM_ALIVE;
	ck_assert_int_eq(swim_merge_remote_state(s, 20, r, 5), 0);
	ck_assert_int_eq(state_of(s, "new"), SWIM_ALIVE);
	ck_assert_uint_eq(inc_of(s, "new"), 3);
	ck_assert_uint_eq(n_events(s, SWIM_EV_JOIN, "new"), 1);
	ck_assert_int_eq(state_of(s, "m1"), SWIM_ALIVE);
	ck_assert_uint_eq(inc_of(s, "m1"), 1);
	ck_assert_int_eq(state_of(s, "m2"), SWIM_SUSPECT);
	ck_assert_uint_eq(n_events(s, SWIM_EV_FAILED, "m2"), 0);
	ck_assert_int_eq(state_of(s, "a"), SWIM_ALIVE);
	ck_assert_uint_eq(swim_incarnation(s), 2);
	ck_assert_int_eq(state_of(s, "m3"), SWIM_LEFT);

	/* left there: left here; dead about us there: refuted */
	r[0].name = "m1";
	r[0].addr = addr_of(1);
	r[0].incarnation = 1;
	r[0].state = SWIM_LEFT;
	r[1].name = "a";
	r[1].addr = addr_of(20);
	r[1].incarnation = 2;
	r[1].state = SWIM_DEAD;
	swim_effects_clear(s);
	ck_assert_int_eq(swim_merge_remote_state(s, 30, r, 2), 0);
	ck_assert_int_eq(state_of(s, "m1"), SWIM_LEFT);
	ck_assert_uint_eq(n_events(s, SWIM_EV_LEFT, "m1"), 1);
	ck_assert_uint_eq(swim_incarnation(s), 3);

	/* one malformed entry: nothing is merged */
	r[0].name = "fresh";
	r[0].addr = addr_of(60);
	r[0].state = SWIM_ALIVE;
	r[1].name = "";
	ck_assert_int_eq(swim_merge_remote_state(s, 40, r, 2), -1);
	ck_assert(!swim_member(s, "fresh", NULL));

	/* our side: every member, us included */
	struct swim_node_state out[16];
	size_t n = swim_push_pull_state(s, out, 16);
	ck_assert_uint_eq(n, swim_num_members(s));
	ck_assert_uint_eq(n, 5);
	bool self = false;
	for (size_t i = 0; i < n; i++)
		self |= strcmp(out[i].name, "a") == 0 && out[i].incarnation == 3;
	ck_assert(self);
	swim_free(s);
}
END_TEST

START_TEST(test_set_meta)
{
	struct swim *s = mk("a", 20, 0);
	swim_effects_clear(s);
	static const uint8_t meta[4] = {0xff, 0x81, 0xa1, 'x'};
	ck_assert_int_eq(swim_set_meta(s, 10, meta, sizeof(meta)), 0);
	ck_assert_uint_eq(swim_incarnation(s), 2);
	ck_assert_uint_eq(n_events(s, SWIM_EV_UPDATE, "a"), 1);
	struct swim_node_state st;
	ck_assert(swim_member(s, "a", &st));
	ck_assert_uint_eq(st.meta_len, 4);
	ck_assert_int_eq(swim_set_meta(s, 10, meta, SWIM_META_MAX + 1), -1);
	swim_free(s);
}
END_TEST

static size_t coord_cb(void *arg, uint8_t *buf, size_t size)
{
	(void)arg;
	ck_assert_uint_ge(size, 3);
	memcpy(buf, "\x01\x02\x03", 3);
	return 3;
}

START_TEST(test_ack_payload_and_reclaim)
{
	/* the ack carries ops.ack_payload (Serf: a Vivaldi coordinate) */
	struct swim_ops ops = {.ack_payload = coord_cb};
	struct swim_config c;
	swim_config_lan(&c);
	c.name = "a";
	c.addr = addr_of(20);
	c.dead_node_reclaim_ms = 30000; /* Consul's */
	struct swim *s = swim_new(&c, &ops, 0);
	add_members(s, 0, 2);
	swim_effects_clear(s);
	struct swim_msg ping = {.type = SWIM_MSG_PING, .seq = 9};
	ping.node = "a";
	ping.from = "m1";
	ping.source = addr_of(1);
	recv_msg(s, 10, 1, &ping);
	const struct swim_msg *ack = sent_msg(s, SWIM_MSG_ACK, NULL);
	ck_assert_ptr_nonnull(ack);
	ck_assert_uint_eq(ack->payload_len, 3);
	ck_assert_int_eq(ack->payload[2], 3);

	/* a dead name moves to a new address only after DeadNodeReclaimTime */
	struct swim_msg d = dead_msg("m2", 1, "m1");
	recv_msg(s, 1000, 1, &d);
	swim_effects_clear(s);
	struct swim_msg al = alive_msg("m2", 2, 9);
	recv_msg(s, 2000, 9, &al);
	ck_assert_uint_eq(n_events(s, SWIM_EV_CONFLICT, "m2"), 1);
	ck_assert_int_eq(state_of(s, "m2"), SWIM_DEAD);
	swim_effects_clear(s);
	recv_msg(s, 1000 + 30001, 9, &al);
	struct swim_node_state st;
	ck_assert(swim_member(s, "m2", &st));
	ck_assert_int_eq(st.state, SWIM_ALIVE);
	ck_assert_int_eq(st.addr.ip[3], 9);
	ck_assert_uint_eq(n_events(s, SWIM_EV_JOIN, "m2"), 1);
	swim_free(s);
}
END_TEST

START_TEST(test_relay_fallbacks)
{
	struct swim *s = mk("b", 2, 0);
	swim_effects_clear(s);
	/* no SourceAddr: answer the packet's sender; no Port (protocol < 2): ours */
	struct swim_msg ind = {.type = SWIM_MSG_INDIRECT_PING, .seq = 5, .nack = true};
	ind.node = "c";
	ind.addr = addr_of(3);
	ind.addr.port = 0;
	recv_msg(s, 10, 7, &ind);
	const struct swim_fx *pkt;
	ck_assert_ptr_nonnull(sent_msg(s, SWIM_MSG_PING, &pkt));
	ck_assert_int_eq(pkt->to.port, 7946);
	swim_effects_clear(s);
	swim_tick(s, 10 + 500);
	ck_assert_ptr_nonnull(sent_msg(s, SWIM_MSG_NACK, &pkt));
	ck_assert_int_eq(pkt->to.ip[3], 7);
	/* no source at all: nothing to answer to */
	swim_effects_clear(s);
	ck_assert_int_eq(swim_recv(s, 600, NULL, &ind), 0);
	ck_assert_uint_eq(n_sent(s, SWIM_MSG_PING, NULL), 0);
	/* at most SWIM_RELAYS_MAX relays at once */
	for (int i = 0; i < SWIM_RELAYS_MAX + 10; i++) {
		ind.seq = 100 + (uint32_t)i;
		recv_msg(s, 700, 7, &ind);
		swim_effects_clear(s);
	}
	ck_assert_uint_eq(swim_stats(s)->relays_full, 10);
	swim_free(s);
}
END_TEST

START_TEST(test_limits)
{
	/* effects: at most SWIM_FX_MAX between two clears, the rest counted */
	struct swim *s = mk("a", 20, 0);
	swim_effects_clear(s);
	struct swim_msg ping = {.type = SWIM_MSG_PING, .seq = 1};
	for (int i = 0; i < SWIM_FX_MAX + 5; i++)
		recv_msg(s, 10, 3, &ping);
	size_t n;
	swim_effects(s, &n);
	ck_assert_uint_eq(n, SWIM_FX_MAX);
	ck_assert_uint_eq(swim_stats(s)->fx_dropped, 5);
	swim_effects_clear(s);
	swim_effects(s, &n);
	ck_assert_uint_eq(n, 0);
	swim_free(s);

	/* the table: SWIM_MEMBERS_MAX members, us included; the queue as many broadcasts */
	s = mk("a", 20, 0);
	enum { BATCH = 4096 };
	struct swim_node_state *st = calloc(BATCH, sizeof(*st));
	char(*names)[16] = calloc(BATCH, sizeof(*names));
	for (int done = 0; done < SWIM_MEMBERS_MAX; done += BATCH) {
		for (int i = 0; i < BATCH; i++) {
			snprintf(names[i], sizeof(names[i]), "x%d", done + i);
			st[i].name = names[i];
			st[i].addr = addr_of(1);
			st[i].addr.port = (uint16_t)(done + i);
			st[i].incarnation = 1;
			st[i].vsn[0] = 1;
			st[i].vsn[1] = 5;
		}
		ck_assert_int_eq(swim_merge_remote_state(s, 10, st, BATCH), 0);
		swim_effects_clear(s);
	}
	ck_assert_uint_eq(swim_num_members(s), SWIM_MEMBERS_MAX);
	ck_assert_uint_eq(swim_stats(s)->table_full, 1);
	ck_assert_uint_eq(swim_bcast_len(s), SWIM_BCAST_MAX); /* one per member: full, no more */
	ck_assert_uint_eq(swim_stats(s)->bcast_dropped, 0);
	free(st);
	free(names);
	swim_free(s);

	ck_assert_str_eq(swim_state_str(SWIM_LEFT), "left");
	ck_assert_str_eq(swim_event_str(SWIM_EV_LEAVE_DONE), "leave-done");
	ck_assert_str_eq(swim_event_str((enum swim_event)99), "?");
	ck_assert_str_eq(swim_msg_type_str(SWIM_MSG_NACK), "nack");
}
END_TEST

/* ---- seeded simulations (a failure prints its seed) ---- */

static void sim_seeds(uint32_t nodes, uint64_t first, int count)
{
	for (int k = 0; k < count; k++) {
		struct swimsim_params p;
		struct swimsim_result r;
		swimsim_params_default(&p, nodes, first + (uint64_t)k);
		int rc = swimsim_run(&p, &r);
		ck_assert_msg(rc == 0,
		              "seed %" PRIu64 " (n %" PRIu32
		              ") failed: %s; replay: swim_sim --nodes "
		              "%" PRIu32 " --seed %" PRIu64,
		              p.seed, nodes, r.error, nodes, p.seed);
		/* detection within memberlist's bound; the heal and the joins converged */
		ck_assert_uint_le(r.detect_all_max_ms, r.detect_bound_ms);
		ck_assert_uint_gt(r.detect_first_max_ms, 0);
		ck_assert_uint_le(r.max_packet, 1400);
	}
}

START_TEST(test_sim_10)
{
	sim_seeds(10, 1, 40);
}
END_TEST

START_TEST(test_sim_100)
{
	sim_seeds(100, 1, 2);
}
END_TEST

static Suite *swim_suite(void)
{
	Suite *s = suite_create("swim");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_formulas);
	tcase_add_test(tc, test_msg_size);
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_new_self);
	tcase_add_test(tc, test_join_two);
	tcase_add_test(tc, test_probe_ack_keeps_alive);
	tcase_add_test(tc, test_crash_suspect_dead_in_network);
	tcase_add_test(tc, test_missed_ack_indirect_suspect_dead);
	tcase_add_test(tc, test_ack_in_time);
	tcase_add_test(tc, test_tcp_fallback);
	tcase_add_test(tc, test_ping_carries_suspect);
	tcase_add_test(tc, test_suspicion_confirmations);
	tcase_add_test(tc, test_suspect_unknown_and_dead);
	tcase_add_test(tc, test_refute);
	tcase_add_test(tc, test_alive_overrides_suspect);
	tcase_add_test(tc, test_conflict_and_reclaim);
	tcase_add_test(tc, test_leave_is_left);
	tcase_add_test(tc, test_leave_alone);
	tcase_add_test(tc, test_coalescing);
	tcase_add_test(tc, test_retransmit_limit);
	tcase_add_test(tc, test_packet_limit);
	tcase_add_test(tc, test_indirect_relay);
	tcase_add_test(tc, test_ping_answered);
	tcase_add_test(tc, test_awareness);
	tcase_add_test(tc, test_prune_after_gossip_to_the_dead);
	tcase_add_test(tc, test_push_pull_merge);
	tcase_add_test(tc, test_set_meta);
	tcase_add_test(tc, test_ack_payload_and_reclaim);
	tcase_add_test(tc, test_relay_fallbacks);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);
	TCase *sim = tcase_create("sim");
	tcase_set_timeout(sim, 60);
	tcase_add_test(sim, test_sim_10);
	tcase_add_test(sim, test_sim_100);
	suite_add_tcase(s, sim);
	return s;
}

int main(void)
{
	return testutil_run(swim_suite());
}

/* test_raft.c: scripted scenarios for the Raft core, one or more per rule, on in-memory nodes. */
#include "daemons/raftd/raft.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

#define N_MAX     8
#define QUEUE_MAX 4096
#define APPLY_MAX 4096

/* ---- a scripted network of in-memory nodes ---- */

struct applied {
	uint64_t index, term;
	uint8_t type;
	uint32_t len;
	uint8_t data[16];
};

struct node {
	struct raft *r;
	struct raft_memstore *ms;
	struct raft_config cfg;
	uint32_t jitter;
	struct applied applied[APPLY_MAX];
	size_t n_applied;
	struct raft_read_state reads[64];
	size_t n_reads;
	bool soft_leader_seen;
};

struct net {
	int n;
	struct node nodes[N_MAX + 1];
	bool cut[N_MAX + 1][N_MAX + 1]; /* cut[a][b]: a's messages to b are dropped */
	struct raft_msg q[QUEUE_MAX];
	size_t nq;
	size_t sent[RAFT_MSG_TYPE_MAX]; /* messages sent by type, since net_count_reset() */
	size_t sent_to[N_MAX + 1][RAFT_MSG_TYPE_MAX];
	size_t rejects[N_MAX + 1]; /* rejected appends, by sender */
};

static uint32_t test_rand(void *arg, uint32_t n)
{
	uint32_t j = *(uint32_t *)arg;
	return j < n ? j : n - 1;
}

static void msg_copy(struct raft_msg *d, const struct raft_msg *m)
{
	*d = *m;
	if (m->n_entries > 0) {
		d->entries = calloc(m->n_entries, sizeof(*d->entries));
		for (size_t i = 0; i < m->n_entries; i++) {
			d->entries[i] = m->entries[i];
			if (m->entries[i].len > 0) {
				d->entries[i].data = malloc(m->entries[i].len);
				memcpy(d->entries[i].data, m->entries[i].data, m->entries[i].len);
			}
		}
	}
	if (m->snapshot.len > 0) {
		d->snapshot.data = malloc(m->snapshot.len);
		memcpy(d->snapshot.data, m->snapshot.data, m->snapshot.len);
	}
}

static void msg_release(struct raft_msg *m)
{
	for (size_t i = 0; i < m->n_entries; i++)
		free(m->entries[i].data);
	free(m->entries);
	free(m->snapshot.data);
}

static void process(struct net *t, int id)
{
	struct node *n = &t->nodes[id];
	while (n->r != NULL && raft_has_ready(n->r)) {
		struct raft_ready rd;
		raft_ready(n->r, &rd);
		ck_assert_int_eq(raft_memstore_save(n->ms, &rd), 0);
		for (size_t i = 0; i < rd.n_msgs; i++) {
			const struct raft_msg *m = &rd.msgs[i];
			t->sent[m->type]++;
			t->sent_to[m->to][m->type]++;
			t->rejects[m->from] += m->type == RAFT_MSG_APP_RESP && m->reject;
			if (t->cut[m->from][m->to] || m->to > (uint64_t)t->n)
				continue;
			ck_assert_uint_lt(t->nq, QUEUE_MAX);
			msg_copy(&t->q[t->nq++], m);
		}
		for (size_t i = 0; i < rd.n_committed; i++) {
			const struct raft_entry *e = &rd.committed[i];
			ck_assert_uint_lt(n->n_applied, APPLY_MAX);
			struct applied *a = &n->applied[n->n_applied++];
			a->index = e->index;
			a->term = e->term;
			a->type = e->type;
			a->len = e->len;
			if (e->len > 0)
				memcpy(a->data, e->data, e->len < 16 ? e->len : 16);
		}
		for (size_t i = 0; i < rd.n_reads && n->n_reads < 64; i++)
			n->reads[n->n_reads++] = rd.reads[i];
		raft_advance(n->r, &rd);
	}
}

static void node_start(struct net *t, int id)
{
	struct node *n = &t->nodes[id];
	struct raft_storage st;
	raft_memstore_storage(n->ms, &st);
	n->cfg.rand_arg = &n->jitter;
	n->r = raft_new(&n->cfg, &st);
	ck_assert_ptr_nonnull(n->r);
	n->n_applied = 0;
	n->n_reads = 0;
}

static void config(struct raft_config *c, int id)
{
	raft_config_default(c, (uint64_t)id);
	c->rand = test_rand;
}

/* Server id's address: "10.0.0.<id>:8300". */
static const char *addr_of(uint64_t id)
{
	static char buf[8][RAFT_ADDR_MAX];
	static unsigned k;
	char *a = buf[k++ % 8];
	snprintf(a, RAFT_ADDR_MAX, "10.0.0.%" PRIu64 ":8300", id);
	return a;
}

/* n bootstrapped voters 1..n; node i's election jitter is (i - 1) * 3. */
static struct net *net_new(int n, void (*tweak)(struct raft_config *))
{
	struct net *t = calloc(1, sizeof(*t));
	struct raft_conf conf = {0};
	t->n = n;
	for (int i = 1; i <= n; i++)
		ck_assert_int_eq(raft_conf_apply_op(&conf, RAFT_CONF_ADD_VOTER, (uint64_t)i,
		                                    addr_of((uint64_t)i)),
		                 0);
	for (int i = 1; i <= n; i++) {
		struct node *nd = &t->nodes[i];
		nd->ms = raft_memstore_new();
		ck_assert_int_eq(raft_memstore_bootstrap(nd->ms, &conf), 0);
		config(&nd->cfg, i);
		if (tweak != NULL)
			tweak(&nd->cfg);
		nd->jitter = (uint32_t)(i - 1) * 3;
		node_start(t, i);
	}
	return t;
}

/* A server with empty storage, to be added by a configuration change. */
static void net_add_blank(struct net *t, int id, void (*tweak)(struct raft_config *))
{
	struct node *nd = &t->nodes[id];
	ck_assert_int_le(id, N_MAX);
	if (id > t->n)
		t->n = id;
	nd->ms = raft_memstore_new();
	config(&nd->cfg, id);
	if (tweak != NULL)
		tweak(&nd->cfg);
	nd->jitter = 0;
	node_start(t, id);
}

static void net_free(struct net *t)
{
	for (size_t i = 0; i < t->nq; i++)
		msg_release(&t->q[i]);
	for (int i = 1; i <= N_MAX; i++) {
		raft_free(t->nodes[i].r);
		raft_memstore_free(t->nodes[i].ms);
	}
	free(t);
}

static struct raft *R(struct net *t, int id)
{
	return t->nodes[id].r;
}

/* Deliver queued messages (and what they cause) until the network is quiet. */
static size_t net_deliver(struct net *t)
{
	size_t delivered = 0;
	while (t->nq > 0) {
		struct raft_msg m = t->q[0];
		memmove(t->q, t->q + 1, (t->nq - 1) * sizeof(t->q[0]));
		t->nq--;
		struct node *to = &t->nodes[m.to];
		if (to->r != NULL && !t->cut[m.from][m.to]) {
			ck_assert_int_eq(raft_step(to->r, &m), 0);
			process(t, (int)m.to);
			if (m.type == RAFT_MSG_SNAP && t->nodes[m.from].r != NULL) {
				raft_report_snapshot(t->nodes[m.from].r, m.to, true);
				process(t, (int)m.from);
			}
			delivered++;
		} else if (m.type == RAFT_MSG_SNAP && t->nodes[m.from].r != NULL) {
			raft_report_snapshot(t->nodes[m.from].r, m.to, false);
			process(t, (int)m.from);
		}
		msg_release(&m);
		ck_assert_uint_lt(delivered, 100000);
	}
	return delivered;
}

/* Deliver messages of two types (and those they cause, of the same types); drop the rest. */
static void net_deliver_only(struct net *t, enum raft_msg_type a, enum raft_msg_type b)
{
	while (t->nq > 0) {
		struct raft_msg m = t->q[0];
		memmove(t->q, t->q + 1, (t->nq - 1) * sizeof(t->q[0]));
		t->nq--;
		if ((m.type == a || m.type == b) && t->nodes[m.to].r != NULL &&
		    !t->cut[m.from][m.to]) {
			ck_assert_int_eq(raft_step(t->nodes[m.to].r, &m), 0);
			process(t, (int)m.to);
		}
		msg_release(&m);
	}
}

static void net_drop_queue(struct net *t)
{
	for (size_t i = 0; i < t->nq; i++)
		msg_release(&t->q[i]);
	t->nq = 0;
}

/* Tick every live node k times, delivering after each tick. */
static void net_tick(struct net *t, int k)
{
	for (int j = 0; j < k; j++) {
		for (int i = 1; i <= t->n; i++)
			if (t->nodes[i].r != NULL) {
				raft_tick(t->nodes[i].r);
				process(t, i);
			}
		net_deliver(t);
	}
}

static void net_isolate(struct net *t, int id, bool cut)
{
	for (int i = 1; i <= N_MAX; i++) {
		t->cut[id][i] = cut;
		t->cut[i][id] = cut;
	}
}

static void net_heal(struct net *t)
{
	memset(t->cut, 0, sizeof(t->cut));
}

static void net_count_reset(struct net *t)
{
	memset(t->sent, 0, sizeof(t->sent));
	memset(t->sent_to, 0, sizeof(t->sent_to));
	memset(t->rejects, 0, sizeof(t->rejects));
}

static void net_crash(struct net *t, int id)
{
	raft_free(t->nodes[id].r);
	t->nodes[id].r = NULL;
}

static void net_restart(struct net *t, int id)
{
	net_crash(t, id);
	node_start(t, id);
}

/* Let id's memory of a leader expire (thesis §4.2.3), short of its own election timeout. */
static void net_age(struct net *t, int id)
{
	for (int k = 0; k < 10; k++) {
		raft_tick(R(t, id));
		process(t, id);
	}
}

static void net_campaign(struct net *t, int id)
{
	raft_campaign(R(t, id));
	process(t, id);
	net_deliver(t);
}

/* Elect id by letting it time out first (realistic path: pre-vote, lease, boot). */
static void net_elect(struct net *t, int id)
{
	for (int i = 1; i <= t->n; i++) {
		t->nodes[i].jitter = i == id ? 0 : 9;
		net_restart(t, i); /* so the new jitter is used */
	}
	for (int k = 0; k < 40 && raft_role(R(t, id)) != RAFT_LEADER; k++)
		net_tick(t, 1);
	ck_assert_int_eq(raft_role(R(t, id)), RAFT_LEADER);
}

static uint64_t propose(struct net *t, int id, const char *s)
{
	uint64_t index = 0;
	ck_assert_int_eq(raft_propose(R(t, id), s, (uint32_t)strlen(s), &index), RAFT_OK);
	process(t, id);
	return index;
}

static void no_tweak(struct raft_config *c)
{
	(void)c;
}

static void plain(struct raft_config *c)
{
	c->pre_vote = false;
	c->check_quorum = false;
}

static const struct raft_entry *log_at(struct net *t, int id, uint64_t i)
{
	return raft_memstore_entry(t->nodes[id].ms, i);
}

/* ---- election (paper §5.2) ---- */

START_TEST(test_election_basic)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_LEADER);
	ck_assert_uint_eq(raft_term(R(t, 1)), 2);
	for (int i = 2; i <= 3; i++) {
		ck_assert_int_eq(raft_role(R(t, i)), RAFT_FOLLOWER);
		ck_assert_uint_eq(raft_term(R(t, i)), 2);
		ck_assert_uint_eq(raft_leader(R(t, i)), 1);
		ck_assert_uint_eq(raft_memstore_hard_state(t->nodes[i].ms)->vote, 1);
	}
	/* the no-op of term 2 is committed everywhere */
	for (int i = 1; i <= 3; i++) {
		ck_assert_uint_eq(raft_commit(R(t, i)), 2);
		ck_assert_int_eq(log_at(t, i, 2)->type, RAFT_ENTRY_NOOP);
		ck_assert_uint_eq(log_at(t, i, 2)->term, 2);
	}
	net_free(t);
}
END_TEST

START_TEST(test_election_randomized_timeout)
{
	struct net *t = net_new(3, plain);
	t->nodes[1].jitter = 4;
	t->nodes[2].jitter = 7;
	t->nodes[3].jitter = 9;
	for (int i = 1; i <= 3; i++)
		net_restart(t, i);
	/* election_ticks 10: node 1 times out after 10 + 4 ticks, not one sooner */
	for (int k = 0; k < 13; k++) {
		raft_tick(R(t, 1));
		ck_assert_int_eq(raft_role(R(t, 1)), RAFT_FOLLOWER);
	}
	raft_tick(R(t, 1));
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_CANDIDATE);
	process(t, 1);
	ck_assert_uint_eq(t->sent[RAFT_MSG_VOTE], 2);
	net_deliver(t);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_LEADER);
	net_free(t);
}
END_TEST

START_TEST(test_election_one_vote_per_term)
{
	struct net *t = net_new(3, plain);
	/* 2 and 3 campaign in the same term; 1 votes for whoever asks first, only */
	net_isolate(t, 3, true);
	raft_campaign(R(t, 2));
	process(t, 2);
	net_heal(t);
	raft_campaign(R(t, 3));
	process(t, 3);
	net_deliver(t);
	int leaders = (raft_role(R(t, 2)) == RAFT_LEADER) + (raft_role(R(t, 3)) == RAFT_LEADER);
	ck_assert_int_eq(leaders, 1);
	ck_assert_uint_eq(raft_memstore_hard_state(t->nodes[1].ms)->vote, 2);
	net_free(t);
}
END_TEST

START_TEST(test_election_up_to_date_log)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	net_isolate(t, 3, true);
	propose(t, 1, "a");
	net_deliver(t);
	net_heal(t);
	/* paper §5.4.1: 3 lacks entry 3, so neither 1 nor 2 votes for it */
	net_campaign(t, 3);
	ck_assert_int_ne(raft_role(R(t, 3)), RAFT_LEADER);
	/* 2 can win; 3 voted for itself in term 3, so it takes 2 a second try */
	net_campaign(t, 2);
	net_campaign(t, 2);
	ck_assert_int_eq(raft_role(R(t, 2)), RAFT_LEADER);
	net_free(t);
}
END_TEST

START_TEST(test_restart_keeps_term_and_vote)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	net_crash(t, 2);
	node_start(t, 2);
	ck_assert_uint_eq(raft_term(R(t, 2)), 2);
	/* a candidate of the same term cannot get 2's vote again */
	struct raft_msg m = {
	    .type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 2, .index = 9, .log_term = 2};
	ck_assert_int_eq(raft_step(R(t, 2), &m), 0);
	struct raft_ready rd;
	raft_ready(R(t, 2), &rd);
	ck_assert_uint_eq(rd.n_msgs, 1);
	ck_assert_int_eq(rd.msgs[0].type, RAFT_MSG_VOTE_RESP);
	ck_assert(rd.msgs[0].reject);
	raft_advance(R(t, 2), &rd);
	net_free(t);
}
END_TEST

/* ---- pre-vote (thesis §9.6) ---- */

START_TEST(test_prevote_partitioned_node_keeps_term)
{
	struct net *t = net_new(3, no_tweak);
	net_elect(t, 1);
	uint64_t term = raft_term(R(t, 1));
	net_isolate(t, 3, true);
	t->nodes[3].jitter = 0;
	net_tick(t, 100);
	/* many timeouts, but pre-votes fail: the term does not move */
	ck_assert_uint_eq(raft_term(R(t, 3)), term);
	ck_assert_int_eq(raft_role(R(t, 3)), RAFT_PRE_CANDIDATE);
	net_heal(t);
	net_tick(t, 3);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_LEADER);
	ck_assert_uint_eq(raft_term(R(t, 1)), term);
	ck_assert_int_eq(raft_role(R(t, 3)), RAFT_FOLLOWER);
	net_free(t);
}
END_TEST

static void no_prevote(struct raft_config *c)
{
	c->pre_vote = false;
}

START_TEST(test_no_prevote_partitioned_node_bumps_term)
{
	struct net *t = net_new(3, no_prevote);
	net_elect(t, 1);
	uint64_t term = raft_term(R(t, 1));
	net_isolate(t, 3, true);
	t->nodes[3].jitter = 0;
	net_tick(t, 50);
	ck_assert_uint_gt(raft_term(R(t, 3)), term + 3);
	net_free(t);
}
END_TEST

START_TEST(test_prevote_granted_elects)
{
	struct net *t = net_new(3, no_tweak);
	net_elect(t, 2);
	ck_assert_uint_eq(raft_term(R(t, 2)), 2);
	ck_assert_uint_ge(t->sent[RAFT_MSG_PREVOTE], 2);
	net_free(t);
}
END_TEST

/* ---- check quorum (thesis §6.2, §4.2.3) ---- */

START_TEST(test_check_quorum_leader_steps_down)
{
	struct net *t = net_new(3, no_tweak);
	net_elect(t, 1);
	net_isolate(t, 1, true);
	t->nodes[2].jitter = 9;
	t->nodes[3].jitter = 9;
	net_tick(t, 10);
	/* one full election timeout may have had contact; the second has none */
	net_tick(t, 10);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_FOLLOWER);
	net_free(t);
}
END_TEST

START_TEST(test_check_quorum_ignores_disruptive_vote)
{
	struct net *t = net_new(3, no_tweak);
	net_elect(t, 1);
	uint64_t term = raft_term(R(t, 1));
	/* a vote request of a higher term while 2 heard from its leader recently: ignored */
	struct raft_msg m = {.type = RAFT_MSG_VOTE,
	                     .from = 3,
	                     .to = 2,
	                     .term = term + 5,
	                     .index = 100,
	                     .log_term = term + 4};
	ck_assert_int_eq(raft_step(R(t, 2), &m), 0);
	ck_assert_uint_eq(raft_term(R(t, 2)), term);
	ck_assert(!raft_has_ready(R(t, 2)));
	/* but a forced one (leadership transfer) is not */
	m.context = 1;
	ck_assert_int_eq(raft_step(R(t, 2), &m), 0);
	ck_assert_uint_eq(raft_term(R(t, 2)), term + 5);
	net_free(t);
}
END_TEST

/* ---- replication (paper §5.3) ---- */

START_TEST(test_replication_and_commit)
{
	struct net *t = net_new(5, plain);
	net_campaign(t, 1);
	uint64_t a = propose(t, 1, "x=1");
	uint64_t b = propose(t, 1, "y=2");
	ck_assert_uint_eq(a, 3);
	ck_assert_uint_eq(b, 4);
	net_deliver(t);
	net_tick(t, 1); /* the heartbeat carries the new commit */
	for (int i = 1; i <= 5; i++) {
		ck_assert_uint_eq(raft_commit(R(t, i)), 4);
		ck_assert_uint_eq(log_at(t, i, 4)->len, 3);
		ck_assert_mem_eq(log_at(t, i, 4)->data, "y=2", 3);
		struct node *n = &t->nodes[i];
		ck_assert_uint_eq(n->applied[n->n_applied - 1].index, 4);
	}
	net_free(t);
}
END_TEST

START_TEST(test_commit_needs_majority)
{
	struct net *t = net_new(5, plain);
	net_campaign(t, 1);
	for (int i = 3; i <= 5; i++)
		net_isolate(t, i, true);
	propose(t, 1, "a");
	net_deliver(t);
	ck_assert_uint_eq(raft_commit(R(t, 1)), 2); /* only 1 and 2 have entry 3 */
	net_isolate(t, 3, false);
	net_tick(t, 2);
	ck_assert_uint_eq(raft_commit(R(t, 1)), 3);
	net_free(t);
}
END_TEST

START_TEST(test_follower_truncates_conflicts)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	/* old leader 1 appends entries only it has */
	net_isolate(t, 1, true);
	for (int i = 0; i < 5; i++)
		propose(t, 1, "old");
	net_drop_queue(t);
	net_age(t, 2);
	net_age(t, 3);
	net_campaign(t, 2);
	ck_assert_int_eq(raft_role(R(t, 2)), RAFT_LEADER);
	propose(t, 2, "new");
	net_deliver(t);
	net_heal(t);
	net_tick(t, 3);
	/* 1's entries 3..7 of term 2 are replaced by 2's of term 3 */
	ck_assert_uint_eq(raft_last_index(R(t, 1)), raft_last_index(R(t, 2)));
	for (uint64_t i = 1; i <= raft_last_index(R(t, 2)); i++)
		ck_assert_uint_eq(log_at(t, 1, i)->term, log_at(t, 2, i)->term);
	ck_assert_mem_eq(log_at(t, 1, 4)->data, "new", 3);
	net_free(t);
}
END_TEST

static void one_entry(struct raft_config *c)
{
	plain(c);
	c->max_append_entries = 1;
}

static void fill_log(struct net *t, int id, uint64_t term, int n)
{
	struct raft_hard_state hs = {.term = term, .vote = 0, .commit = 1};
	net_crash(t, id);
	for (int i = 0; i < n; i++) {
		struct raft_entry e = {
		    .term = term, .index = (uint64_t)i + 2, .len = 1, .data = (uint8_t *)"z"};
		ck_assert_int_eq(raft_memstore_append(t->nodes[id].ms, &e, 1), 0);
	}
	raft_memstore_set_hard_state(t->nodes[id].ms, &hs);
	node_start(t, id);
}

START_TEST(test_fast_backoff_by_term)
{
	struct net *t = net_new(3, one_entry);
	/* 1 holds 30 entries of term 2 that 2, with 30 of term 3, does not have */
	fill_log(t, 1, 2, 30);
	fill_log(t, 2, 3, 30);
	net_count_reset(t);
	net_campaign(t, 2);
	ck_assert_int_eq(raft_role(R(t, 2)), RAFT_LEADER);
	net_tick(t, 3);
	ck_assert_uint_eq(raft_last_index(R(t, 1)), 32);
	/* one rejection names 1's conflicting term; the next probe lands at the right spot */
	ck_assert_uint_eq(t->rejects[1], 1);
	for (uint64_t i = 2; i <= 32; i++)
		ck_assert_uint_eq(log_at(t, 1, i)->term, log_at(t, 2, i)->term);
	net_free(t);
}
END_TEST

static void small_window(struct raft_config *c)
{
	plain(c);
	c->max_inflight = 2;
	c->max_append_entries = 1;
}

START_TEST(test_flow_control_inflight)
{
	struct net *t = net_new(3, small_window);
	net_campaign(t, 1);
	net_tick(t, 1); /* followers are in replicate state */
	net_isolate(t, 3, true);
	net_count_reset(t);
	for (int i = 0; i < 10; i++)
		propose(t, 1, "p");
	/* 2 answers and gets everything; 3 gets max_inflight appends and no more */
	net_deliver(t);
	ck_assert_uint_eq(t->sent_to[3][RAFT_MSG_APP], 2);
	ck_assert_uint_ge(t->sent_to[2][RAFT_MSG_APP], 10);
	struct raft_progress_info pi;
	ck_assert_int_eq(raft_progress(R(t, 1), 3, &pi), 0);
	ck_assert_str_eq(pi.state, "replicate");
	ck_assert(pi.paused);
	ck_assert_uint_eq(pi.inflight, 2);
	net_heal(t);
	net_tick(t, 10);
	ck_assert_uint_eq(raft_last_index(R(t, 3)), 12);
	net_free(t);
}
END_TEST

START_TEST(test_flow_control_probe)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	net_isolate(t, 3, true);
	net_tick(t, 1);
	raft_report_unreachable(R(t, 1), 3);
	struct raft_progress_info pi;
	ck_assert_int_eq(raft_progress(R(t, 1), 3, &pi), 0);
	ck_assert_str_eq(pi.state, "probe");
	net_count_reset(t);
	for (int i = 0; i < 5; i++) {
		propose(t, 1, "p");
		net_deliver(t);
	}
	/* probe: one append until an answer (or a heartbeat answer) arrives */
	ck_assert_uint_le(t->sent_to[3][RAFT_MSG_APP], 1);
	net_free(t);
}
END_TEST

START_TEST(test_batching_proposals)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	net_tick(t, 1);
	net_count_reset(t);
	/* proposals made before one raft_ready() leave in one append per follower */
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(raft_propose(R(t, 1), "b", 1, NULL), RAFT_OK);
	process(t, 1);
	ck_assert_uint_eq(t->sent[RAFT_MSG_APP], 2);
	net_deliver(t);
	ck_assert_uint_eq(raft_commit(R(t, 1)), 12);
	net_free(t);
}
END_TEST

START_TEST(test_heartbeat_coalescing)
{
	struct net *t = net_new(5, plain);
	net_campaign(t, 1);
	net_count_reset(t);
	/* heartbeat_ticks 1: one heartbeat per follower per tick, carrying commit */
	for (int k = 0; k < 5; k++)
		ck_assert_int_eq(raft_read_index(R(t, 1), (uint64_t)k + 1), RAFT_OK);
	raft_tick(R(t, 1));
	process(t, 1);
	ck_assert_uint_eq(t->sent[RAFT_MSG_HEARTBEAT], 4);
	for (size_t i = 0; i < t->nq; i++)
		if (t->q[i].type == RAFT_MSG_HEARTBEAT)
			ck_assert_uint_eq(t->q[i].commit, 2);
	net_deliver(t);
	/* the five reads shared the heartbeat round */
	process(t, 1);
	ck_assert_uint_eq(t->nodes[1].n_reads, 5);
	net_free(t);
}
END_TEST

/* ---- commit rule (paper §5.4.2, Figure 8) ---- */

START_TEST(test_commit_only_current_term)
{
	struct net *t = net_new(5, one_entry);
	net_campaign(t, 1); /* term 2 */
	/* 1 appends entry 3 (term 2) and gets it to 2 only */
	for (int i = 3; i <= 5; i++)
		net_isolate(t, i, true);
	propose(t, 1, "f8");
	net_deliver(t);
	net_heal(t);
	ck_assert_uint_eq(raft_commit(R(t, 1)), 2);
	/* 1 comes back as leader of term 4 after a failed election of term 3 */
	net_crash(t, 1);
	node_start(t, 1);
	net_isolate(t, 1, true);
	net_campaign(t, 1);
	net_heal(t);
	for (int i = 2; i <= 5; i++)
		net_age(t, i);
	raft_campaign(R(t, 1));
	process(t, 1);
	net_deliver_only(t, RAFT_MSG_VOTE, RAFT_MSG_VOTE_RESP);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_LEADER);
	ck_assert_uint_eq(raft_term(R(t, 1)), 4);
	/* before the term-4 no-op is acknowledged, entry 3 sits on a majority (1, 2, 3) */
	net_drop_queue(t);
	ck_assert_uint_eq(raft_last_index(R(t, 1)), 4);
	struct raft_msg ack = {
	    .type = RAFT_MSG_APP_RESP, .from = 3, .to = 1, .term = 4, .index = 3};
	ck_assert_int_eq(raft_step(R(t, 1), &ack), 0);
	ack.from = 2;
	ck_assert_int_eq(raft_step(R(t, 1), &ack), 0);
	process(t, 1);
	ck_assert_uint_eq(raft_commit(R(t, 1)), 2); /* not by counting old-term replicas */
	ack.index = 4;
	ck_assert_int_eq(raft_step(R(t, 1), &ack), 0);
	ack.from = 3;
	ck_assert_int_eq(raft_step(R(t, 1), &ack), 0);
	process(t, 1);
	ck_assert_uint_eq(raft_commit(R(t, 1)), 4); /* the current-term entry commits both */
	net_drop_queue(t);
	net_free(t);
}
END_TEST

START_TEST(test_noop_on_election)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	/* a live leader ignores vote requests (thesis §4.2.3): 2 wins once 1 is gone */
	net_campaign(t, 2);
	ck_assert_int_ne(raft_role(R(t, 2)), RAFT_LEADER);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_LEADER);
	net_crash(t, 1);
	net_age(t, 3);
	net_campaign(t, 2);
	ck_assert_int_eq(raft_role(R(t, 2)), RAFT_LEADER);
	const struct raft_entry *e = log_at(t, 2, raft_last_index(R(t, 2)));
	ck_assert_int_eq(e->type, RAFT_ENTRY_NOOP);
	ck_assert_uint_eq(e->term, raft_term(R(t, 2)));
	ck_assert_uint_eq(raft_commit(R(t, 2)), 3);
	net_free(t);
}
END_TEST

/* ---- snapshots (paper §7) ---- */

START_TEST(test_snapshot_to_lagging_follower)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	net_crash(t, 3);
	for (int i = 0; i < 20; i++)
		propose(t, 1, "s");
	net_deliver(t);
	net_tick(t, 1);
	uint64_t c = raft_commit(R(t, 1));
	ck_assert_uint_eq(c, 22);
	/* the caller picks the compaction point */
	const struct raft_conf *conf = raft_conf_latest(R(t, 1));
	ck_assert_int_eq(raft_memstore_compact(t->nodes[1].ms, 20, conf, "SNAP", 4), 0);
	ck_assert_uint_eq(raft_memstore_first_index(t->nodes[1].ms), 21);
	node_start(t, 3);
	net_count_reset(t);
	net_tick(t, 3);
	ck_assert_uint_eq(t->sent_to[3][RAFT_MSG_SNAP], 1);
	const struct raft_snapshot *s = raft_memstore_snapshot(t->nodes[3].ms);
	ck_assert_uint_eq(s->index, 20);
	ck_assert_mem_eq(s->data, "SNAP", 4);
	ck_assert_uint_eq(raft_last_index(R(t, 3)), 22);
	ck_assert_uint_eq(raft_commit(R(t, 3)), 22);
	ck_assert_uint_eq(raft_applied(R(t, 3)), 22);
	/* what it applied after the snapshot: entries 21 and 22, none it covers */
	struct node *n3 = &t->nodes[3];
	ck_assert_uint_eq(n3->applied[n3->n_applied - 2].index, 21);
	for (size_t i = 0; i < n3->n_applied; i++)
		ck_assert(n3->applied[i].index < 3 || n3->applied[i].index > 20);
	/* and it restarts from its snapshot */
	ck_assert_str_eq(s->conf.m[2].addr, "10.0.0.3:8300"); /* the snapshot carries addresses */
	net_crash(t, 3);
	node_start(t, 3);
	ck_assert_uint_eq(raft_last_index(R(t, 3)), 22);
	ck_assert_uint_eq(raft_conf_latest(R(t, 3))->n, 3);
	ck_assert_str_eq(raft_conf_find(raft_conf_latest(R(t, 3)), 2)->addr, "10.0.0.2:8300");
	net_free(t);
}
END_TEST

START_TEST(test_snapshot_lost_retried)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	net_isolate(t, 3, true);
	for (int i = 0; i < 5; i++)
		propose(t, 1, "s");
	net_deliver(t);
	net_tick(t, 1);
	ck_assert_int_eq(
	    raft_memstore_compact(t->nodes[1].ms, 6, raft_conf_latest(R(t, 1)), "S", 1), 0);
	raft_report_unreachable(R(t, 1), 3);
	net_tick(t, 3); /* snapshots sent into the partition are reported lost */
	net_heal(t);
	net_tick(t, 5);
	ck_assert_uint_eq(raft_memstore_snapshot(t->nodes[3].ms)->index, 6);
	ck_assert_uint_eq(raft_last_index(R(t, 3)), 7);
	net_free(t);
}
END_TEST

/* ---- membership (thesis §4.1) ---- */

START_TEST(test_membership_add_promote_remove)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	net_add_blank(t, 4, plain);
	uint64_t idx;
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_ADD_NONVOTER, 4, addr_of(4), &idx),
	                 RAFT_OK);
	/* in use as soon as appended, before it commits */
	ck_assert_ptr_nonnull(raft_conf_find(raft_conf_latest(R(t, 1)), 4));
	ck_assert_uint_lt(raft_commit(R(t, 1)), idx);
	/* one at a time */
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_PROMOTE, 4, NULL, NULL),
	                 RAFT_ERR_CONF_PENDING);
	process(t, 1);
	net_deliver(t);
	net_tick(t, 2);
	ck_assert_uint_eq(raft_last_index(R(t, 4)), raft_last_index(R(t, 1)));
	ck_assert(!raft_conf_find(raft_conf_latest(R(t, 4)), 4)->voter);
	ck_assert_str_eq(raft_conf_find(raft_conf_latest(R(t, 4)), 4)->addr, "10.0.0.4:8300");
	ck_assert_str_eq(raft_conf_find(raft_conf_latest(R(t, 4)), 1)->addr, "10.0.0.1:8300");
	/* a non-voter never campaigns */
	t->nodes[4].jitter = 0;
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_ADD_NONVOTER, 4, addr_of(4), NULL),
	                 RAFT_ERR_CONF_INVALID);
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_PROMOTE, 4, NULL, NULL), RAFT_OK);
	process(t, 1);
	net_tick(t, 2);
	ck_assert(raft_conf_find(raft_conf_latest(R(t, 4)), 4)->voter);
	/* promotion keeps the address */
	ck_assert_str_eq(raft_conf_find(raft_conf_latest(R(t, 4)), 4)->addr, "10.0.0.4:8300");
	/* four voters: a quorum is three */
	net_isolate(t, 3, true);
	net_isolate(t, 4, true);
	uint64_t c = raft_commit(R(t, 1));
	propose(t, 1, "q");
	net_tick(t, 2);
	ck_assert_uint_eq(raft_commit(R(t, 1)), c);
	net_heal(t);
	net_tick(t, 2);
	ck_assert_uint_eq(raft_commit(R(t, 1)), c + 1);
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_REMOVE, 3, NULL, NULL), RAFT_OK);
	process(t, 1);
	net_tick(t, 2);
	ck_assert_ptr_null(raft_conf_find(raft_conf_latest(R(t, 2)), 3));
	ck_assert_uint_eq(raft_conf_latest(R(t, 1))->n, 3);
	net_free(t);
}
END_TEST

/* AddVoter of a member at a new address moves it, everywhere (hashicorp/raft nextConfiguration). */
START_TEST(test_membership_address_change)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_ADD_VOTER, 3, "10.0.1.3:8301", NULL),
	                 RAFT_OK);
	process(t, 1);
	net_tick(t, 2);
	for (int i = 1; i <= 3; i++) {
		const struct raft_conf *c = raft_conf_latest(R(t, i));
		ck_assert_uint_eq(c->n, 3);
		ck_assert(raft_conf_find(c, 3)->voter);
		ck_assert_str_eq(raft_conf_find(c, 3)->addr, "10.0.1.3:8301");
		ck_assert_str_eq(raft_conf_find(c, 2)->addr, "10.0.0.2:8300");
	}
	/* the same again changes nothing; another's address is taken */
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_ADD_VOTER, 3, "10.0.1.3:8301", NULL),
	                 RAFT_ERR_CONF_INVALID);
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_ADD_VOTER, 3, "10.0.0.2:8300", NULL),
	                 RAFT_ERR_CONF_INVALID);
	/* and a restart reads it back from the log */
	net_crash(t, 2);
	node_start(t, 2);
	ck_assert_str_eq(raft_conf_find(raft_conf_latest(R(t, 2)), 3)->addr, "10.0.1.3:8301");
	net_free(t);
}
END_TEST

START_TEST(test_membership_needs_current_term_commit)
{
	struct net *t = net_new(3, plain);
	net_isolate(t, 2, true);
	net_isolate(t, 3, true);
	raft_campaign(R(t, 1));
	process(t, 1);
	net_heal(t);
	net_drop_queue(t);
	/* 1 cannot win alone: make it leader by hand with 2's vote, but keep the no-op pending */
	struct raft_msg v = {.type = RAFT_MSG_VOTE_RESP, .from = 2, .to = 1, .term = 2};
	ck_assert_int_eq(raft_step(R(t, 1), &v), 0);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_LEADER);
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_REMOVE, 3, NULL, NULL),
	                 RAFT_ERR_CONF_PENDING);
	process(t, 1);
	net_deliver(t);
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_REMOVE, 3, NULL, NULL), RAFT_OK);
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_REMOVE, 2, NULL, NULL),
	                 RAFT_ERR_CONF_PENDING);
	process(t, 1);
	net_free(t);
}
END_TEST

START_TEST(test_removed_leader_steps_down)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_REMOVE, 1, NULL, NULL), RAFT_OK);
	/* still leading a configuration without itself until the removal commits */
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_LEADER);
	process(t, 1);
	net_deliver(t);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_FOLLOWER);
	/* it never campaigns again; the others elect a leader */
	t->nodes[1].jitter = 0;
	net_tick(t, 40);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_FOLLOWER);
	ck_assert(raft_role(R(t, 2)) == RAFT_LEADER || raft_role(R(t, 3)) == RAFT_LEADER);
	net_free(t);
}
END_TEST

START_TEST(test_membership_revert_on_truncation)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	net_isolate(t, 1, true);
	/* the removal reaches no one and never commits */
	ck_assert_int_eq(raft_propose_conf(R(t, 1), RAFT_CONF_REMOVE, 3, NULL, NULL), RAFT_OK);
	process(t, 1);
	ck_assert_uint_eq(raft_conf_latest(R(t, 1))->n, 2);
	net_age(t, 2);
	net_age(t, 3);
	net_campaign(t, 2);
	ck_assert_int_eq(raft_role(R(t, 2)), RAFT_LEADER);
	net_heal(t);
	net_tick(t, 3);
	/* 2's no-op replaced 1's entry 3: 1 is back to the configuration before it */
	ck_assert_int_eq(log_at(t, 1, 3)->type, RAFT_ENTRY_NOOP);
	ck_assert_uint_eq(raft_conf_latest(R(t, 1))->n, 3);
	net_free(t);
}
END_TEST

/* ---- leadership transfer (thesis §3.10) ---- */

START_TEST(test_transfer_leadership)
{
	struct net *t = net_new(3, no_tweak);
	net_elect(t, 1);
	uint64_t term = raft_term(R(t, 1));
	ck_assert_int_eq(raft_transfer_leadership(R(t, 1), 3), RAFT_OK);
	ck_assert_int_eq(raft_propose(R(t, 1), "x", 1, NULL), RAFT_ERR_TRANSFERRING);
	process(t, 1);
	ck_assert_uint_eq(t->sent_to[3][RAFT_MSG_TIMEOUT_NOW], 1);
	net_deliver(t);
	ck_assert_int_eq(raft_role(R(t, 3)), RAFT_LEADER);
	ck_assert_uint_eq(raft_term(R(t, 3)), term + 1);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_FOLLOWER);
	uint64_t hint = 0;
	ck_assert_int_eq(raft_propose(R(t, 1), "x", 1, NULL), RAFT_ERR_NOT_LEADER);
	hint = raft_leader(R(t, 1));
	ck_assert_uint_eq(hint, 3);
	ck_assert_int_eq(raft_transfer_leadership(R(t, 3), 9), RAFT_ERR_CONF_INVALID);
	net_free(t);
}
END_TEST

START_TEST(test_transfer_to_lagging_follower)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	net_isolate(t, 3, true);
	propose(t, 1, "a");
	net_deliver(t);
	net_heal(t);
	ck_assert_int_eq(raft_transfer_leadership(R(t, 1), 3), RAFT_OK);
	process(t, 1);
	ck_assert_uint_eq(t->sent_to[3][RAFT_MSG_TIMEOUT_NOW], 0); /* catch up first */
	net_deliver(t);
	ck_assert_uint_eq(t->sent_to[3][RAFT_MSG_TIMEOUT_NOW], 1);
	ck_assert_int_eq(raft_role(R(t, 3)), RAFT_LEADER);
	net_free(t);
}
END_TEST

START_TEST(test_transfer_aborts_after_timeout)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	net_isolate(t, 3, true);
	ck_assert_int_eq(raft_transfer_leadership(R(t, 1), 3), RAFT_OK);
	t->nodes[2].jitter = 9;
	for (int i = 0; i < 10; i++) {
		raft_tick(R(t, 1));
		process(t, 1);
	}
	net_drop_queue(t);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_LEADER);
	ck_assert_int_eq(raft_propose(R(t, 1), "x", 1, NULL), RAFT_OK);
	process(t, 1);
	net_free(t);
}
END_TEST

/* ---- reads (thesis §6.4) ---- */

START_TEST(test_read_index_quorum_round)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	propose(t, 1, "w");
	net_deliver(t);
	ck_assert_int_eq(raft_read_index(R(t, 1), 77), RAFT_OK);
	ck_assert_int_eq(raft_read_index(R(t, 2), 78), RAFT_ERR_NOT_LEADER);
	process(t, 1);
	ck_assert_uint_eq(t->nodes[1].n_reads, 0); /* not before the quorum answers */
	net_deliver(t);
	ck_assert_uint_eq(t->nodes[1].n_reads, 1);
	ck_assert_uint_eq(t->nodes[1].reads[0].context, 77);
	ck_assert_uint_eq(t->nodes[1].reads[0].index, 3);
	net_free(t);
}
END_TEST

START_TEST(test_read_index_waits_for_term_commit)
{
	struct net *t = net_new(3, plain);
	net_isolate(t, 2, true);
	net_isolate(t, 3, true);
	raft_campaign(R(t, 1));
	process(t, 1);
	net_drop_queue(t);
	net_heal(t);
	struct raft_msg v = {.type = RAFT_MSG_VOTE_RESP, .from = 2, .to = 1, .term = 2};
	ck_assert_int_eq(raft_step(R(t, 1), &v), 0);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_LEADER);
	net_isolate(t, 2, true);
	net_isolate(t, 3, true);
	ck_assert_int_eq(raft_read_index(R(t, 1), 5), RAFT_OK);
	process(t, 1);
	net_drop_queue(t);
	/* heartbeats answered, but the no-op of term 2 is not committed: no answer yet */
	struct raft_msg hb = {
	    .type = RAFT_MSG_HEARTBEAT_RESP, .from = 2, .to = 1, .term = 2, .context = 1};
	ck_assert_int_eq(raft_step(R(t, 1), &hb), 0);
	process(t, 1);
	ck_assert_uint_eq(t->nodes[1].n_reads, 0);
	net_drop_queue(t);
	struct raft_msg ack = {
	    .type = RAFT_MSG_APP_RESP, .from = 2, .to = 1, .term = 2, .index = 2};
	ck_assert_int_eq(raft_step(R(t, 1), &ack), 0);
	process(t, 1);
	ck_assert_uint_eq(t->nodes[1].n_reads, 1);
	ck_assert_uint_eq(t->nodes[1].reads[0].index, 2);
	net_drop_queue(t);
	net_free(t);
}
END_TEST

START_TEST(test_read_index_stale_leader)
{
	struct net *t = net_new(3, plain);
	net_campaign(t, 1);
	net_isolate(t, 1, true);
	ck_assert_int_eq(raft_read_index(R(t, 1), 9), RAFT_OK);
	process(t, 1);
	net_age(t, 2);
	net_age(t, 3);
	net_campaign(t, 2);
	ck_assert_int_eq(raft_role(R(t, 2)), RAFT_LEADER);
	net_tick(t, 5);
	ck_assert_uint_eq(t->nodes[1].n_reads, 0); /* never confirmed */
	net_heal(t);
	net_tick(t, 3);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_FOLLOWER);
	/* abandoned when it learned of the new term */
	ck_assert_uint_eq(t->nodes[1].n_reads, 1);
	ck_assert_uint_eq(t->nodes[1].reads[0].index, 0);
	net_free(t);
}
END_TEST

static void lease(struct raft_config *c)
{
	c->read_mode = RAFT_READ_LEASE;
}

START_TEST(test_lease_read)
{
	struct net *t = net_new(3, lease);
	net_elect(t, 1);
	net_tick(t, 1);
	ck_assert(raft_lease_valid(R(t, 1)));
	ck_assert_int_eq(raft_read_index(R(t, 1), 1), RAFT_OK);
	process(t, 1);
	ck_assert_uint_eq(t->nodes[1].n_reads, 1); /* at once, no round trip */
	/* cut off: the lease runs out after lease_ticks (5) */
	net_isolate(t, 1, true);
	t->nodes[2].jitter = t->nodes[3].jitter = 9;
	net_tick(t, 5);
	ck_assert(!raft_lease_valid(R(t, 1)));
	ck_assert_int_eq(raft_read_index(R(t, 1), 2), RAFT_OK);
	process(t, 1);
	ck_assert_uint_eq(t->nodes[1].n_reads, 1);
	net_free(t);
}
END_TEST

static void lease_without_cq(struct raft_config *c)
{
	c->read_mode = RAFT_READ_LEASE;
	c->check_quorum = false;
}

/* ---- limits and errors ---- */

static void tight(struct raft_config *c)
{
	plain(c);
	c->max_uncommitted_bytes = 10;
	c->max_entry_bytes = 8;
}

START_TEST(test_limits)
{
	struct net *t = net_new(3, tight);
	net_campaign(t, 1);
	net_isolate(t, 2, true);
	net_isolate(t, 3, true);
	ck_assert_int_eq(raft_propose(R(t, 1), "123456789", 9, NULL), RAFT_ERR_TOO_LARGE);
	ck_assert_int_eq(raft_propose(R(t, 1), "1234567", 7, NULL), RAFT_OK);
	ck_assert_int_eq(raft_propose(R(t, 1), "1234", 4, NULL), RAFT_ERR_UNCOMMITTED_FULL);
	ck_assert_int_eq(raft_propose(R(t, 1), "123", 3, NULL), RAFT_OK);
	process(t, 1);
	net_heal(t);
	net_tick(t, 2);
	/* committed and applied: room again */
	ck_assert_int_eq(raft_propose(R(t, 1), "1234", 4, NULL), RAFT_OK);
	ck_assert_int_eq(raft_propose(R(t, 2), "1", 1, NULL), RAFT_ERR_NOT_LEADER);
	ck_assert_uint_eq(raft_leader(R(t, 2)), 1);
	process(t, 1);
	ck_assert_str_eq(raft_status_str(RAFT_ERR_UNCOMMITTED_FULL), "too many uncommitted bytes");
	net_free(t);
}
END_TEST

START_TEST(test_config_validation)
{
	struct raft_memstore *ms = raft_memstore_new();
	struct raft_storage st;
	struct raft_config c;
	raft_memstore_storage(ms, &st);
	config(&c, 0);
	ck_assert_ptr_null(raft_new(&c, &st));
	config(&c, 1);
	c.heartbeat_ticks = c.election_ticks;
	ck_assert_ptr_null(raft_new(&c, &st));
	config(&c, 1);
	c.max_inflight = RAFT_INFLIGHT_MAX + 1;
	ck_assert_ptr_null(raft_new(&c, &st));
	config(&c, 1);
	lease_without_cq(&c);
	ck_assert_ptr_null(raft_new(&c, &st));
	config(&c, 1);
	c.rand = NULL;
	struct raft *r = raft_new(&c, &st);
	ck_assert_ptr_nonnull(r);
	/* no configuration: it never campaigns */
	for (int i = 0; i < 50; i++)
		raft_tick(r);
	ck_assert_int_eq(raft_role(r), RAFT_FOLLOWER);
	raft_free(r);
	raft_free(NULL);
	raft_memstore_free(ms);
}
END_TEST

START_TEST(test_malformed_messages)
{
	struct net *t = net_new(3, plain);
	struct raft_msg m = {.type = RAFT_MSG_APP, .from = 2, .to = 1, .term = 1};
	struct raft_entry e = {.term = 1, .index = 5};
	ck_assert_int_eq(raft_step(R(t, 1), &m), 0);
	m.to = 3; /* not for me */
	ck_assert_int_eq(raft_step(R(t, 1), &m), -1);
	m.to = 1;
	m.type = 99;
	ck_assert_int_eq(raft_step(R(t, 1), &m), -1);
	m.type = RAFT_MSG_APP;
	m.term = 0;
	ck_assert_int_eq(raft_step(R(t, 1), &m), -1);
	m.term = 1;
	m.n_entries = 1; /* entry index must follow prev index */
	m.entries = &e;
	m.index = 1;
	ck_assert_int_eq(raft_step(R(t, 1), &m), -1);
	m.type = RAFT_MSG_HEARTBEAT; /* entries only in appends */
	ck_assert_int_eq(raft_step(R(t, 1), &m), -1);
	m.n_entries = 0;
	m.from = 1; /* from myself */
	ck_assert_int_eq(raft_step(R(t, 1), &m), -1);
	m.from = 2;
	m.type = RAFT_MSG_SNAP;
	ck_assert_int_eq(raft_step(R(t, 1), &m), -1);
	/* a snapshot's configuration must be one raft_conf_encode() takes */
	m.snapshot.index = 10;
	m.snapshot.term = 1;
	m.snapshot.conf = *raft_conf_latest(R(t, 1));
	memset(m.snapshot.conf.m[1].addr, 'x', RAFT_ADDR_MAX); /* no NUL */
	ck_assert_int_eq(raft_step(R(t, 1), &m), -1);
	m.snapshot.conf = *raft_conf_latest(R(t, 1));
	m.snapshot.conf.m[1].id = m.snapshot.conf.m[0].id;
	ck_assert_int_eq(raft_step(R(t, 1), &m), -1);
	m.snapshot.conf = *raft_conf_latest(R(t, 1));
	ck_assert_int_eq(raft_step(R(t, 1), &m), 0);
	process(t, 1);
	net_free(t);
}
END_TEST

START_TEST(test_conf_ops)
{
	struct raft_conf c = {0};
	char longest[RAFT_ADDR_MAX], over[RAFT_ADDR_MAX + 1];
	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	memset(over, 'a', sizeof(over) - 1);
	over[sizeof(over) - 1] = '\0';
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 7, "10.0.0.7:8300"), 0);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_NONVOTER, 9, ""), 0);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_NONVOTER, 9, ""), -1); /* no change */
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_PROMOTE, 7, NULL), -1);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_REMOVE, 7, NULL), -1); /* last voter */
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_REMOVE, 8, NULL), -1);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 0, ""), -1);
	/* addresses: at most RAFT_ADDR_MAX - 1 bytes, one server per address ("" aside) */
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 5, over), -1);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 5, "10.0.0.7:8300"), -1);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_NONVOTER, 5, ""), 0);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_NONVOTER, 5, longest), 0);
	ck_assert_str_eq(raft_conf_find(&c, 5)->addr, longest);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 5, over), -1);
	ck_assert_str_eq(raft_conf_find(&c, 5)->addr, longest);
	ck_assert_uint_eq(c.n, 3);
	/* AddVoter of a voter at a new address moves it (hashicorp/raft nextConfiguration) */
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 7, "10.0.1.7:8300"), 0);
	ck_assert_str_eq(raft_conf_find(&c, 7)->addr, "10.0.1.7:8300");
	ck_assert(raft_conf_find(&c, 7)->voter);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 7, "10.0.1.7:8300"), -1);
	/* AddNonvoter of a voter moves it too, but it stays a voter */
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_NONVOTER, 7, "10.0.2.7:8300"), 0);
	ck_assert(raft_conf_find(&c, 7)->voter);
	ck_assert_str_eq(raft_conf_find(&c, 7)->addr, "10.0.2.7:8300");
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_NONVOTER, 7, "10.0.2.7:8300"), -1);
	/* AddVoter of a non-voter promotes it, at the given address */
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 9, "10.0.0.9:8300"), 0);
	ck_assert(raft_conf_find(&c, 9)->voter);
	ck_assert_str_eq(raft_conf_find(&c, 9)->addr, "10.0.0.9:8300");
	/* Promote keeps the address */
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_PROMOTE, 5, NULL), 0);
	ck_assert_str_eq(raft_conf_find(&c, 5)->addr, longest);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_REMOVE, 7, NULL), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_ptr_null(raft_conf_find(&c, 7));
	/* the address a removed server held is free again */
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_NONVOTER, 8, "10.0.2.7:8300"), 0);
	/* a full configuration takes no one new, but its members still move */
	for (uint64_t id = 100; c.n < RAFT_MEMBERS_MAX; id++)
		ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_NONVOTER, id, ""), 0);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_NONVOTER, 99, ""), -1);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 8, "10.0.3.8:8300"), 0);
}
END_TEST

/* Encodes c, checks the length, decodes it and compares member by member. */
static void conf_roundtrip(const struct raft_conf *c, size_t want_len)
{
	uint8_t buf[RAFT_CONF_ENCODED_MAX] = {0};
	struct raft_conf d;
	size_t n = raft_conf_encode(c, buf, sizeof(buf));
	ck_assert_uint_eq(n, want_len);
	ck_assert_uint_eq(raft_conf_encode(c, buf, n - 1), 0);
	memset(&d, 0xa5, sizeof(d));
	ck_assert_int_eq(raft_conf_decode(&d, buf, n), 0);
	ck_assert_uint_eq(d.n, c->n);
	for (uint32_t i = 0; i < c->n; i++) {
		ck_assert_uint_eq(d.m[i].id, c->m[i].id);
		ck_assert_int_eq(d.m[i].voter, c->m[i].voter);
		ck_assert_str_eq(d.m[i].addr, c->m[i].addr);
	}
	/* every strict prefix and every extension is refused */
	for (size_t k = 0; k < n; k++)
		ck_assert_int_eq(raft_conf_decode(&d, buf, k), -1);
	if (n < sizeof(buf))
		ck_assert_int_eq(raft_conf_decode(&d, buf, n + 1), -1);
}

START_TEST(test_conf_codec)
{
	struct raft_conf c = {0}, d;
	uint8_t buf[RAFT_CONF_ENCODED_MAX + 1] = {0};
	char longest[RAFT_ADDR_MAX];
	memset(longest, 'h', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';

	/* round trips: empty, without addresses, with addresses, the largest */
	conf_roundtrip(&c, 8);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 7, ""), 0);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_NONVOTER, 9, ""), 0);
	conf_roundtrip(&c, 8 + 2 * 10);
	ck_assert_int_eq(raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 7, "10.0.0.7:8300"), 0);
	ck_assert_int_eq(
	    raft_conf_apply_op(&c, RAFT_CONF_ADD_VOTER, 0x0102030405060708, "[::1]:8300"), 0);
	conf_roundtrip(&c, 8 + 3 * 10 + 13 + 10);
	struct raft_conf big = {0};
	for (uint64_t id = 1; big.n < RAFT_MEMBERS_MAX; id++) {
		memcpy(longest, &"0123456789abcdefghijklmnopqrstuv"[id - 1], 1); /* distinct */
		ck_assert_int_eq(raft_conf_apply_op(&big, RAFT_CONF_ADD_VOTER, id, longest), 0);
	}
	conf_roundtrip(&big, RAFT_CONF_ENCODED_MAX);

	/* the exact bytes, pinned: a change here is a change of the on-disk format */
	struct raft_conf one = {0};
	ck_assert_int_eq(raft_conf_apply_op(&one, RAFT_CONF_ADD_VOTER, 0x0102, "a:1"), 0);
	static const uint8_t v2[] = {'m', 'r', 'c', 2, 1, 0, 0, 0,   0x02, 0x01, 0,
	                             0,   0,   0,   0, 0, 1, 3, 'a', ':',  '1'};
	ck_assert_uint_eq(raft_conf_encode(&one, buf, sizeof(buf)), sizeof(v2));
	ck_assert_mem_eq(buf, v2, sizeof(v2));

	/* version 1 (earlier builds, 4 + 9n bytes) still decodes, addresses unknown */
	static const uint8_t v1[] = {2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0,
	                             0, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0};
	memset(&d, 0xa5, sizeof(d));
	ck_assert_int_eq(raft_conf_decode(&d, v1, sizeof(v1)), 0);
	ck_assert_uint_eq(d.n, 2);
	ck_assert(d.m[0].id == 7 && d.m[0].voter && d.m[1].id == 9 && !d.m[1].voter);
	ck_assert_str_eq(d.m[0].addr, "");
	ck_assert_str_eq(d.m[1].addr, "");
	static const uint8_t v1_empty[] = {0, 0, 0, 0};
	ck_assert_int_eq(raft_conf_decode(&d, v1_empty, sizeof(v1_empty)), 0);
	ck_assert_uint_eq(d.n, 0);
	for (size_t k = 0; k < sizeof(v1); k++)
		ck_assert_int_eq(raft_conf_decode(&d, v1, k), -1);
	memcpy(buf, v1, sizeof(v1));
	buf[sizeof(v1)] = 0;
	ck_assert_int_eq(raft_conf_decode(&d, buf, sizeof(v1) + 1), -1); /* trailing byte */
	buf[12] = 2;                                                     /* voter */
	ck_assert_int_eq(raft_conf_decode(&d, buf, sizeof(v1)), -1);
	memcpy(buf, v1, sizeof(v1));
	buf[13] = 7; /* duplicate id */
	ck_assert_int_eq(raft_conf_decode(&d, buf, sizeof(v1)), -1);
	memcpy(buf, v1, sizeof(v1));
	buf[4] = 0; /* id 0 */
	ck_assert_int_eq(raft_conf_decode(&d, buf, sizeof(v1)), -1);

	/* malformed version 2: each is refused and leaves d alone */
	struct raft_conf keep;
	memcpy(&keep, &d, sizeof(d));
	size_t n = raft_conf_encode(&c, buf, sizeof(buf)); /* 7 "10.0.0.7:8300", 9 "", 0x01..08 */
	ck_assert_uint_eq(n, 61);
	uint8_t bad[sizeof(buf)];
#define CONF_BAD(edit)                                                                             \
	do {                                                                                       \
		memcpy(bad, buf, n);                                                               \
		size_t blen = n;                                                                   \
		edit;                                                                              \
		ck_assert_int_eq(raft_conf_decode(&d, bad, blen), -1);                             \
		ck_assert_mem_eq(&d, &keep, sizeof(d));                                            \
	} while (0)
	CONF_BAD(bad[4] = RAFT_MEMBERS_MAX + 1); /* count over the limit */
	CONF_BAD(bad[4] = 4);                    /* count says more than there is */
	CONF_BAD(bad[4] = 2);                    /* count says less: trailing bytes */
	CONF_BAD(bad[7] = 1);                    /* count's high byte */
	CONF_BAD(bad[16] = 2);                   /* voter not 0 or 1 */
	CONF_BAD(bad[50] = 11);                  /* address longer than what is left */
	CONF_BAD(bad[50] = 9);                   /* ...shorter: a byte left over */
	CONF_BAD(bad[18 + 4] = '\0');            /* NUL inside an address */
	CONF_BAD(memset(bad + 8, 0, 8));         /* id 0 */
	CONF_BAD(memcpy(bad + 31, bad + 8, 8));  /* duplicate id (9 becomes 7) */
	CONF_BAD(bad[0] = 'M');                  /* unknown magic: not version 1 either */
	CONF_BAD(bad[3] = 3);                    /* a later version */
	CONF_BAD(blen = n + 1; bad[n] = 0);      /* trailing byte */
	/* an address of RAFT_ADDR_MAX bytes or more, even where the input holds it */
	uint8_t over[8 + 10 + RAFT_ADDR_MAX] = {'m', 'r', 'c', 2, 1, 0, 0, 0, 1};
	over[16] = 1;
	over[17] = RAFT_ADDR_MAX;
	memset(over + 18, 'x', RAFT_ADDR_MAX);
	ck_assert_int_eq(raft_conf_decode(&d, over, sizeof(over)), -1);
	over[17] = RAFT_ADDR_MAX - 1; /* the longest there is, then a byte too many */
	ck_assert_int_eq(raft_conf_decode(&d, over, sizeof(over) - 1), 0);
	ck_assert_uint_eq(strlen(d.m[0].addr), RAFT_ADDR_MAX - 1);
	ck_assert_int_eq(raft_conf_decode(&d, over, sizeof(over)), -1);
#undef CONF_BAD

	/* what does not decode does not encode */
	struct raft_conf inv = c;
	memset(inv.m[1].addr, 'x', RAFT_ADDR_MAX);
	ck_assert_uint_eq(raft_conf_encode(&inv, buf, sizeof(buf)), 0);
	inv = c;
	inv.m[1].id = inv.m[0].id;
	ck_assert_uint_eq(raft_conf_encode(&inv, buf, sizeof(buf)), 0);
	inv = c;
	inv.m[2].id = RAFT_NONE;
	ck_assert_uint_eq(raft_conf_encode(&inv, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(test_single_node)
{
	struct net *t = net_new(1, no_tweak);
	net_tick(t, 10);
	ck_assert_int_eq(raft_role(R(t, 1)), RAFT_LEADER);
	uint64_t i = propose(t, 1, "solo");
	ck_assert_uint_eq(raft_commit(R(t, 1)), i);
	ck_assert_int_eq(raft_read_index(R(t, 1), 3), RAFT_OK);
	process(t, 1);
	ck_assert_uint_eq(t->nodes[1].n_reads, 1);
	ck_assert_str_eq(raft_role_str(raft_role(R(t, 1))), "leader");
	ck_assert_str_eq(raft_msg_type_str(RAFT_MSG_TIMEOUT_NOW), "timeout_now");
	net_free(t);
}
END_TEST

static Suite *raft_suite(void)
{
	Suite *s = suite_create("raft");
	struct {
		const char *name;
		const TTest *tests[16];
	} groups[] = {
	    {"election",
	     {test_election_basic, test_election_randomized_timeout,
	      test_election_one_vote_per_term, test_election_up_to_date_log,
	      test_restart_keeps_term_and_vote, test_single_node}},
	    {"prevote",
	     {test_prevote_partitioned_node_keeps_term, test_no_prevote_partitioned_node_bumps_term,
	      test_prevote_granted_elects}},
	    {"check_quorum",
	     {test_check_quorum_leader_steps_down, test_check_quorum_ignores_disruptive_vote}},
	    {"replication",
	     {test_replication_and_commit, test_commit_needs_majority,
	      test_follower_truncates_conflicts, test_fast_backoff_by_term,
	      test_flow_control_inflight, test_flow_control_probe, test_batching_proposals,
	      test_heartbeat_coalescing}},
	    {"commit", {test_commit_only_current_term, test_noop_on_election}},
	    {"snapshot", {test_snapshot_to_lagging_follower, test_snapshot_lost_retried}},
	    {"membership",
	     {test_membership_add_promote_remove, test_membership_address_change,
	      test_membership_needs_current_term_commit, test_removed_leader_steps_down,
	      test_membership_revert_on_truncation}},
	    {"transfer",
	     {test_transfer_leadership, test_transfer_to_lagging_follower,
	      test_transfer_aborts_after_timeout}},
	    {"reads",
	     {test_read_index_quorum_round, test_read_index_waits_for_term_commit,
	      test_read_index_stale_leader, test_lease_read}},
	    {"limits",
	     {test_limits, test_config_validation, test_malformed_messages, test_conf_ops,
	      test_conf_codec}},
	};
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		TCase *tc = tcase_create(groups[g].name);
		tcase_set_timeout(tc, 30);
		for (size_t i = 0; i < 16 && groups[g].tests[i] != NULL; i++)
			tcase_add_test(tc, groups[g].tests[i]);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	return testutil_run(raft_suite());
}

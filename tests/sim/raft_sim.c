/* raft_sim.c: seeded simulation of Raft clusters under faults, checking safety after every step. */
#include "daemons/raftd/raft.h"
#include "prng.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * One seed = one run: a cluster of 3, 5 or 7 servers (plus spares added by membership changes)
 * over a network that loses, duplicates, delays and reorders messages, with symmetric and
 * asymmetric partitions, crashes (losing what was not synced), restarts, compaction, client
 * writes and reads. Only the seed drives randomness. Checked after every step:
 *   election safety      at most one leader per term
 *   log matching         an (index, term) pair names one entry and one predecessor term
 *   leader completeness  a new leader holds every entry committed so far
 *   state machine safety every server applies the same entry at an index
 *   commit monotonicity  commit and applied never go back within a server's life
 *   linearizable reads   a read's index covers every write acknowledged before it began
 * Then faults heal and a leader must commit a new write everywhere within LIVENESS_TICKS.
 */

#define NODES_MAX       10
#define NET_MAX         20000 /* messages in flight */
#define CHAOS_TICKS_MIN 300
#define CHAOS_TICKS_MAX 700
#define LIVENESS_TICKS  400
#define CATCHUP_TICKS   4000
#define READY_LOOPS_MAX 100000
#define ELECTION_TICKS  10
#define SM_MAGIC        0x736e6170u

static int verbose;

/* ---- PRNG: splitmix64 ---- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	return prng_next(&rng_state);
}

static uint32_t rng_below(uint32_t n)
{
	return n ? (uint32_t)(rng_next() % n) : 0;
}

static bool rng_chance(double p)
{
	return (double)(rng_next() >> 11) / (double)(1ull << 53) < p;
}

static uint32_t sim_rand(void *arg, uint32_t n)
{
	(void)arg;
	return rng_below(n);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

static uint64_t entry_hash(const struct raft_entry *e)
{
	uint64_t h = mix(e->term, e->type);
	for (uint32_t i = 0; i < e->len; i++)
		h = mix(h, e->data[i]);
	return h;
}

/* ---- the world ---- */

struct sim_msg {
	struct raft_msg m;
	uint64_t at;
};

struct node {
	uint64_t id;
	bool exists; /* started once, not retired */
	bool up;
	uint64_t down_until;
	struct raft *r;
	struct raft_memstore *ms;
	uint64_t synced_commit;
	/* state machine: a hash chain over applied entries, and the configuration as applied */
	uint64_t sm_index, sm_hash;
	struct raft_conf sm_conf;
	bool was_member;               /* its applied configuration listed it */
	bool proposed;                 /* an addition was proposed once: never reuse the id */
	uint64_t max_commit;           /* this life */
	bool snap_lost[NODES_MAX + 1]; /* snapshots to report lost after raft_advance() */
	uint64_t last_leader_term;
};

struct canon {
	uint64_t term, hash, chain;
	bool set;
};

struct lm_slot {
	uint64_t index, term, prev_term, hash;
	bool used;
};

struct read_rec {
	uint64_t id, floor;
	uint64_t node;
	bool open;
};

struct sim {
	uint64_t seed;
	int n_initial;
	struct node nodes[NODES_MAX];
	int n_nodes; /* ids 1..n_nodes may exist */
	struct raft_config base;
	uint64_t now;
	bool chaos;
	/* network */
	struct sim_msg *net;
	size_t n_net;
	double p_loss, p_dup, p_crash, p_crash_mid, p_part, p_propose, p_read, p_conf, p_transfer,
	    p_compact;
	uint32_t max_delay;
	bool blocked[NODES_MAX + 1][NODES_MAX + 1];
	/* checker state */
	uint64_t *leader_of_term;
	size_t n_terms;
	struct canon *canon;
	size_t n_canon;
	uint64_t max_committed;
	struct lm_slot *lm;
	size_t lm_cap, lm_used;
	uint64_t write_floor; /* highest index of a write applied anywhere */
	uint64_t next_write, next_read;
	struct read_rec *reads;
	size_t n_reads, cap_reads;
	uint64_t marker; /* liveness write id, 0 when none */
	uint64_t marker_index;
	uint64_t addr_moves; /* makes each moved-to address new */
	/* stats */
	uint64_t n_applied, n_elections, n_snapshots, n_confs, n_reads_ok, n_crashes;
	const char *failed;
	char why[256];
};

static void vlog(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void vlog(struct sim *s, const char *fmt, ...)
{
	if (!verbose)
		return;
	va_list ap;
	printf("[%5" PRIu64 "] ", s->now);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void fail(struct sim *s, const char *inv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct sim *s, const char *inv, const char *fmt, ...)
{
	if (s->failed != NULL)
		return;
	s->failed = inv;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	if (verbose)
		printf("[%5" PRIu64 "] FAIL %s: %s\n", s->now, inv, s->why);
}

/* ---- checker helpers ---- */

static struct canon *canon_at(struct sim *s, uint64_t i)
{
	if (i >= s->n_canon) {
		size_t n = s->n_canon ? s->n_canon : 1024;
		while (n <= i)
			n *= 2;
		s->canon = realloc(s->canon, n * sizeof(*s->canon));
		assert(s->canon != NULL);
		memset(s->canon + s->n_canon, 0, (n - s->n_canon) * sizeof(*s->canon));
		s->n_canon = n;
	}
	return &s->canon[i];
}

static void check_leader(struct sim *s, uint64_t term, uint64_t id)
{
	if (term >= s->n_terms) {
		size_t n = s->n_terms ? s->n_terms : 64;
		while (n <= term)
			n *= 2;
		s->leader_of_term = realloc(s->leader_of_term, n * sizeof(uint64_t));
		assert(s->leader_of_term != NULL);
		memset(s->leader_of_term + s->n_terms, 0, (n - s->n_terms) * sizeof(uint64_t));
		s->n_terms = n;
	}
	if (s->leader_of_term[term] == 0)
		s->leader_of_term[term] = id;
	else if (s->leader_of_term[term] != id)
		fail(s, "election safety", "term %" PRIu64 " has leaders %" PRIu64 " and %" PRIu64,
		     term, s->leader_of_term[term], id);
}

static void lm_grow(struct sim *s);

/* Log matching (paper §5.3): (index, term) determines the entry and the term before it. */
static void check_log_entry(struct sim *s, uint64_t index, uint64_t term, uint64_t prev_term,
                            uint64_t hash)
{
	if (s->lm_used * 2 >= s->lm_cap)
		lm_grow(s);
	size_t mask = s->lm_cap - 1, i = mix(index, term) & mask;
	for (;; i = (i + 1) & mask) {
		struct lm_slot *sl = &s->lm[i];
		if (!sl->used) {
			*sl = (struct lm_slot){index, term, prev_term, hash, true};
			s->lm_used++;
			return;
		}
		if (sl->index == index && sl->term == term) {
			if (sl->prev_term != prev_term || sl->hash != hash)
				fail(s, "log matching",
				     "entry %" PRIu64 "/%" PRIu64 " differs between logs", index,
				     term);
			return;
		}
	}
}

static void lm_grow(struct sim *s)
{
	struct lm_slot *old = s->lm;
	size_t oc = s->lm_cap;
	s->lm_cap = oc ? oc * 2 : 4096;
	s->lm = calloc(s->lm_cap, sizeof(*s->lm));
	assert(s->lm != NULL);
	s->lm_used = 0;
	for (size_t i = 0; i < oc; i++)
		if (old[i].used)
			check_log_entry(s, old[i].index, old[i].term, old[i].prev_term,
			                old[i].hash);
	free(old);
}

static bool ms_term(struct raft_memstore *ms, uint64_t i, uint64_t *t)
{
	const struct raft_snapshot *sn = raft_memstore_snapshot(ms);
	if (i == sn->index) {
		*t = sn->term;
		return true;
	}
	const struct raft_entry *e = raft_memstore_entry(ms, i);
	if (e == NULL)
		return false;
	*t = e->term;
	return true;
}

/* Committed entries agree everywhere; record them for leader completeness. */
static void record_commit(struct sim *s, struct node *n, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i <= to; i++) {
		const struct raft_entry *e = raft_memstore_entry(n->ms, i);
		if (e == NULL)
			continue; /* inside the snapshot */
		struct canon *c = canon_at(s, i);
		uint64_t h = entry_hash(e);
		if (!c->set) {
			c->set = true;
			c->term = e->term;
			c->hash = h;
		} else if (c->term != e->term || c->hash != h) {
			fail(s, "state machine safety",
			     "node %" PRIu64 " committed a different entry at %" PRIu64, n->id, i);
			return;
		}
	}
	if (to > s->max_committed)
		s->max_committed = to;
}

/* Paper §5.4: a leader's log holds every committed entry. */
static void check_leader_completeness(struct sim *s, struct node *n)
{
	uint64_t first = raft_memstore_first_index(n->ms);
	for (uint64_t i = first; i <= s->max_committed; i++) {
		struct canon *c = canon_at(s, i);
		uint64_t t;
		if (!c->set)
			continue;
		if (!ms_term(n->ms, i, &t) || t != c->term) {
			fail(s, "leader completeness",
			     "leader %" PRIu64 " of term %" PRIu64
			     " lacks committed entry %" PRIu64,
			     n->id, raft_term(n->r), i);
			return;
		}
	}
	if (raft_memstore_snapshot(n->ms)->index > s->max_committed)
		fail(s, "leader completeness", "snapshot past commit");
}

/* ---- state machine ---- */

/* Server id's address is "n<id>:8300", or "n<id>.<k>:8300" once moved: whatever path a
 * configuration took (log, snapshot, truncation), each address stays with its server. */
static void sim_addr(char *out, uint64_t id, uint64_t move)
{
	if (move == 0)
		snprintf(out, RAFT_ADDR_MAX, "n%" PRIu64 ":8300", id);
	else
		snprintf(out, RAFT_ADDR_MAX, "n%" PRIu64 ".%" PRIu64 ":8300", id, move);
}

static void check_conf_addrs(struct sim *s, const struct node *n, const struct raft_conf *c)
{
	for (uint32_t k = 0; k < c->n; k++) {
		char want[RAFT_ADDR_MAX];
		int len = snprintf(want, sizeof(want), "n%" PRIu64, c->m[k].id);
		const char *a = c->m[k].addr;
		if (strncmp(a, want, (size_t)len) != 0 || (a[len] != ':' && a[len] != '.'))
			fail(s, "configuration", "node %" PRIu64 ": member %" PRIu64 " at %s",
			     n->id, c->m[k].id, a);
	}
}

static void sm_apply(struct sim *s, struct node *n, const struct raft_entry *e)
{
	if (e->index != n->sm_index + 1) {
		fail(s, "state machine safety",
		     "node %" PRIu64 " applies %" PRIu64 " after %" PRIu64, n->id, e->index,
		     n->sm_index);
		return;
	}
	n->sm_index = e->index;
	n->sm_hash = mix(n->sm_hash, entry_hash(e));
	struct canon *c = canon_at(s, e->index);
	if (c->chain == 0)
		c->chain = n->sm_hash;
	else if (c->chain != n->sm_hash)
		fail(s, "state machine safety", "node %" PRIu64 " state differs at %" PRIu64, n->id,
		     e->index);
	if (!c->set) {
		c->set = true;
		c->term = e->term;
		c->hash = entry_hash(e);
	} else if (c->term != e->term || c->hash != entry_hash(e)) {
		fail(s, "state machine safety",
		     "node %" PRIu64 " applied another entry at %" PRIu64, n->id, e->index);
	}
	s->n_applied++;
	if (e->type == RAFT_ENTRY_CONF) {
		struct raft_conf c2;
		if (raft_conf_decode(&c2, e->data, e->len) == 0)
			n->sm_conf = c2;
		else
			fail(s, "configuration",
			     "node %" PRIu64 ": entry %" PRIu64 " does not decode", n->id,
			     e->index);
		check_conf_addrs(s, n, &n->sm_conf);
		if (raft_conf_find(&n->sm_conf, n->id) != NULL)
			n->was_member = true;
	} else if (e->type == RAFT_ENTRY_NORMAL) {
		if (e->index > s->write_floor)
			s->write_floor = e->index;
		uint64_t w = 0;
		memcpy(&w, e->data, sizeof(w));
		if (s->marker != 0 && w == s->marker && s->marker_index == 0)
			s->marker_index = e->index;
	}
}

static void sm_load(struct sim *s, struct node *n, const struct raft_snapshot *sn)
{
	uint32_t magic = 0;
	uint64_t idx = 0, h = 0;
	if (sn->index == 0) {
		n->sm_index = 0;
		n->sm_hash = 0;
		memset(&n->sm_conf, 0, sizeof(n->sm_conf));
		return;
	}
	if (sn->len != 20) {
		fail(s, "snapshot", "bad snapshot size %u", sn->len);
		return;
	}
	memcpy(&magic, sn->data, 4);
	memcpy(&idx, sn->data + 4, 8);
	memcpy(&h, sn->data + 12, 8);
	if (magic != SM_MAGIC || idx != sn->index) {
		fail(s, "snapshot", "snapshot data does not match its index");
		return;
	}
	struct canon *c = canon_at(s, idx);
	if (c->chain != 0 && c->chain != h)
		fail(s, "state machine safety", "snapshot at %" PRIu64 " differs", idx);
	n->sm_index = idx;
	n->sm_hash = h;
	n->sm_conf = sn->conf;
	check_conf_addrs(s, n, &n->sm_conf);
	if (raft_conf_find(&n->sm_conf, n->id) != NULL)
		n->was_member = true;
}

/* ---- network ---- */

static void net_send(struct sim *s, const struct raft_msg *m)
{
	int copies = 1 + (s->chaos && rng_chance(s->p_dup));
	for (int k = 0; k < copies; k++) {
		if (s->n_net >= NET_MAX || (s->chaos && rng_chance(s->p_loss))) {
			if (m->type == RAFT_MSG_SNAP && k == 0)
				s->nodes[m->from - 1].snap_lost[m->to] =
				    true; /* see node_process */
			continue;
		}
		struct sim_msg *sm = &s->net[s->n_net++];
		sm->m = *m;
		sm->at = s->now + 1 + (s->chaos ? rng_below(s->max_delay) : 0);
		if (m->n_entries > 0) {
			sm->m.entries = malloc(m->n_entries * sizeof(*m->entries));
			assert(sm->m.entries != NULL);
			for (size_t i = 0; i < m->n_entries; i++) {
				sm->m.entries[i] = m->entries[i];
				sm->m.entries[i].data = NULL;
				if (m->entries[i].len > 0) {
					sm->m.entries[i].data = malloc(m->entries[i].len);
					memcpy(sm->m.entries[i].data, m->entries[i].data,
					       m->entries[i].len);
				}
			}
		}
		if (m->snapshot.len > 0) {
			sm->m.snapshot.data = malloc(m->snapshot.len);
			memcpy(sm->m.snapshot.data, m->snapshot.data, m->snapshot.len);
		}
	}
}

static void net_free_msg(struct raft_msg *m)
{
	for (size_t i = 0; i < m->n_entries; i++)
		free(m->entries[i].data);
	free(m->entries);
	free(m->snapshot.data);
}

/* ---- nodes ---- */

static void node_crash(struct sim *s, struct node *n, const char *why);
static void node_process(struct sim *s, struct node *n);

static void node_start(struct sim *s, struct node *n)
{
	struct raft_config c = s->base;
	struct raft_storage st;
	c.id = n->id;
	raft_memstore_storage(n->ms, &st);
	n->r = raft_new(&c, &st);
	if (n->r == NULL) {
		fail(s, "restart", "raft_new failed for node %" PRIu64, n->id);
		return;
	}
	n->up = true;
	memset(n->snap_lost, 0, sizeof(n->snap_lost));
	n->was_member = false; /* state machine state, rebuilt below */
	n->synced_commit = raft_memstore_hard_state(n->ms)->commit;
	n->max_commit = raft_commit(n->r);
	sm_load(s, n, raft_memstore_snapshot(n->ms));
	vlog(s, "node %" PRIu64 " starts: term %" PRIu64 " commit %" PRIu64 " last %" PRIu64, n->id,
	     raft_term(n->r), raft_commit(n->r), raft_last_index(n->r));
}

static void node_crash(struct sim *s, struct node *n, const char *why)
{
	if (!n->up)
		return;
	vlog(s, "node %" PRIu64 " crashes (%s)", n->id, why);
	raft_free(n->r);
	n->r = NULL;
	n->up = false;
	n->down_until = s->now + 5 + rng_below(80);
	s->n_crashes++;
	/* what was written without fsync may be lost: the commit index */
	struct raft_hard_state hs = *raft_memstore_hard_state(n->ms);
	uint64_t snap = raft_memstore_snapshot(n->ms)->index;
	if (hs.commit > n->synced_commit && rng_chance(0.5)) {
		hs.commit = n->synced_commit > snap ? n->synced_commit : snap;
		raft_memstore_set_hard_state(n->ms, &hs);
	}
}

static void check_node(struct sim *s, struct node *n)
{
	if (!n->up)
		return;
	uint64_t c = raft_commit(n->r);
	if (c < n->max_commit)
		fail(s, "commit monotonicity", "node %" PRIu64 " commit %" PRIu64 " < %" PRIu64,
		     n->id, c, n->max_commit);
	n->max_commit = c;
	if (raft_applied(n->r) > c)
		fail(s, "commit monotonicity", "node %" PRIu64 " applied past commit", n->id);
	if (raft_role(n->r) == RAFT_LEADER)
		check_leader(s, raft_term(n->r), n->id);
}

static void read_done(struct sim *s, struct node *n, const struct raft_read_state *rs)
{
	for (size_t i = 0; i < s->n_reads; i++) {
		struct read_rec *q = &s->reads[i];
		if (q->id != rs->context || !q->open)
			continue;
		q->open = false;
		if (q->node != n->id) {
			fail(s, "linearizable reads", "read answered by the wrong node");
			return;
		}
		if (rs->index == 0)
			return; /* abandoned: leadership lost */
		if (rs->index < q->floor)
			fail(s, "linearizable reads",
			     "read %" PRIu64 " at index %" PRIu64
			     " misses a write acked at %" PRIu64,
			     q->id, rs->index, q->floor);
		s->n_reads_ok++;
		return;
	}
	fail(s, "linearizable reads", "unknown read %" PRIu64, rs->context);
}

static void node_process(struct sim *s, struct node *n)
{
	for (int loops = 0; n->up && raft_has_ready(n->r); loops++) {
		if (loops == READY_LOOPS_MAX) {
			fail(s, "ready loop", "node %" PRIu64 " never runs out of ready", n->id);
			return;
		}
		struct raft_ready rd;
		raft_ready(n->r, &rd);
		if (verbose > 1)
			vlog(s,
			     "node %" PRIu64
			     " ready: %zu entries, %zu committed, %zu msgs, %zu reads, "
			     "snap %d, hs %" PRIu64 "/%" PRIu64 "/%" PRIu64 " soft %d/%" PRIu64,
			     n->id, rd.n_entries, rd.n_committed, rd.n_msgs, rd.n_reads,
			     rd.snapshot != NULL, rd.hs.term, rd.hs.vote, rd.hs.commit,
			     rd.soft.role, rd.soft.leader);
		if (s->chaos && rng_chance(s->p_crash_mid)) {
			node_crash(s, n, "before persisting a ready");
			return;
		}
		/* persist: the log matching record covers every entry stored anywhere */
		for (size_t i = 0; i < rd.n_entries; i++) {
			const struct raft_entry *e = &rd.entries[i];
			uint64_t pt = 0;
			if (i > 0)
				pt = rd.entries[i - 1].term;
			else if (e->index > 1) {
				if (rd.snapshot != NULL && rd.snapshot->index == e->index - 1)
					pt = rd.snapshot->term;
				else if (!ms_term(n->ms, e->index - 1, &pt))
					fail(s, "log matching", "gap before %" PRIu64, e->index);
			}
			check_log_entry(s, e->index, e->term, pt, entry_hash(e));
		}
		if (rd.snapshot != NULL) {
			s->n_snapshots++;
			vlog(s, "node %" PRIu64 " installs snapshot %" PRIu64 "/%" PRIu64, n->id,
			     rd.snapshot->index, rd.snapshot->term);
		}
		uint64_t old_commit = raft_memstore_hard_state(n->ms)->commit;
		if (raft_memstore_save(n->ms, &rd) != 0) {
			fail(s, "storage", "node %" PRIu64 " cannot save a ready", n->id);
			return;
		}
		if (rd.must_sync || rd.snapshot != NULL)
			n->synced_commit = rd.hs.commit;
		if (rd.hs.commit > old_commit)
			record_commit(s, n, old_commit + 1, rd.hs.commit);
		if (rd.soft_changed) {
			vlog(s, "node %" PRIu64 " is %s, leader %" PRIu64 ", term %" PRIu64, n->id,
			     raft_role_str(rd.soft.role), rd.soft.leader, rd.hs.term);
			if (rd.soft.role == RAFT_LEADER) {
				s->n_elections++;
				check_leader(s, rd.hs.term, n->id);
				check_leader_completeness(s, n);
			}
		}
		if (s->chaos && rng_chance(s->p_crash_mid)) {
			node_crash(s, n, "after persisting, before sending");
			return;
		}
		for (size_t i = 0; i < rd.n_msgs; i++)
			net_send(s, &rd.msgs[i]);
		if (rd.snapshot != NULL)
			sm_load(s, n, rd.snapshot);
		for (size_t i = 0; i < rd.n_committed; i++)
			sm_apply(s, n, &rd.committed[i]);
		for (size_t i = 0; i < rd.n_reads; i++)
			read_done(s, n, &rd.reads[i]);
		raft_advance(n->r, &rd);
		for (int i = 1; i <= NODES_MAX; i++)
			if (n->snap_lost[i]) {
				n->snap_lost[i] = false;
				raft_report_snapshot(n->r, (uint64_t)i, false);
			}
		check_node(s, n);
		if (s->failed)
			return;
	}
}

static struct node *find_leader(struct sim *s)
{
	struct node *best = NULL;
	for (int i = 0; i < s->n_nodes; i++) {
		struct node *n = &s->nodes[i];
		if (n->up && raft_role(n->r) == RAFT_LEADER &&
		    (best == NULL || raft_term(n->r) > raft_term(best->r)))
			best = n;
	}
	return best;
}

/* ---- client actions ---- */

static void client_write(struct sim *s, uint64_t w)
{
	struct node *l = find_leader(s);
	if (l == NULL)
		return;
	uint8_t buf[64];
	uint32_t len = 8 + rng_below(56);
	memcpy(buf, &w, 8);
	for (uint32_t i = 8; i < len; i++)
		buf[i] = (uint8_t)mix(w, i);
	raft_propose(l->r, buf, len, NULL);
	node_process(s, l);
}

static void client_read(struct sim *s)
{
	struct node *l = find_leader(s);
	if (l == NULL)
		return;
	if (s->n_reads == s->cap_reads) {
		s->cap_reads = s->cap_reads ? s->cap_reads * 2 : 256;
		s->reads = realloc(s->reads, s->cap_reads * sizeof(*s->reads));
		assert(s->reads != NULL);
	}
	struct read_rec *q = &s->reads[s->n_reads];
	*q = (struct read_rec){++s->next_read, s->write_floor, l->id, true};
	if (raft_read_index(l->r, q->id) == RAFT_OK)
		s->n_reads++;
	node_process(s, l);
}

static void conf_change(struct sim *s)
{
	struct node *l = find_leader(s);
	if (l == NULL)
		return;
	const struct raft_conf *c = raft_conf_latest(l->r);
	int op = (int)rng_below(4);
	uint64_t id = 0;
	char addr[RAFT_ADDR_MAX];
	if ((op == RAFT_CONF_ADD_VOTER || op == RAFT_CONF_ADD_NONVOTER) && c->n > 0 &&
	    rng_below(4) == 0) {
		/* a member moves (hashicorp/raft: AddVoter/AddNonvoter of a server there) */
		id = c->m[rng_below(c->n)].id;
		sim_addr(addr, id, ++s->addr_moves);
	} else if (op == RAFT_CONF_ADD_VOTER || op == RAFT_CONF_ADD_NONVOTER) {
		/* a spare, or a fresh server */
		for (int i = 0; i < s->n_nodes; i++)
			if (s->nodes[i].exists && raft_conf_find(c, s->nodes[i].id) == NULL &&
			    s->nodes[i].up && !s->nodes[i].proposed && i >= s->n_initial)
				id = s->nodes[i].id;
		if (id == 0 && s->n_nodes < NODES_MAX) {
			struct node *n = &s->nodes[s->n_nodes++];
			memset(n, 0, sizeof(*n));
			n->id = (uint64_t)s->n_nodes;
			n->exists = true;
			n->ms = raft_memstore_new();
			node_start(s, n);
			id = n->id;
		}
		if (id == 0)
			return;
		sim_addr(addr, id, 0);
	} else if (c->n > 0) {
		const struct raft_member *m = &c->m[rng_below(c->n)];
		if (op == RAFT_CONF_PROMOTE && m->voter)
			return;
		id = m->id;
	}
	uint64_t index;
	bool add = op == RAFT_CONF_ADD_VOTER || op == RAFT_CONF_ADD_NONVOTER;
	bool moved = add && raft_conf_find(c, id) != NULL;
	int rc = raft_propose_conf(l->r, (enum raft_conf_op)op, id, add ? addr : NULL, &index);
	vlog(s, "leader %" PRIu64 " conf op %d on %" PRIu64 "%s%s: %s", l->id, op, id,
	     add ? " at " : "", add ? addr : "", raft_status_str(rc));
	if (rc == RAFT_OK && add && strcmp(raft_conf_find(raft_conf_latest(l->r), id)->addr, addr))
		fail(s, "configuration", "leader %" PRIu64 ": %" PRIu64 " not at %s", l->id, id,
		     addr);
	if (rc == RAFT_OK) {
		s->n_confs++;
		if (add && !moved)
			s->nodes[id - 1].proposed = true;
	}
	node_process(s, l);
}

/* A server the committed configuration no longer lists leaves (as a Consul server would). */
static void retire_removed(struct sim *s)
{
	for (int i = 0; i < s->n_nodes; i++) {
		struct node *n = &s->nodes[i];
		if (!n->exists || !n->up || !n->was_member)
			continue;
		if (raft_conf_find(&n->sm_conf, n->id) == NULL) {
			vlog(s,
			     "node %" PRIu64 " was removed and leaves (applied %" PRIu64
			     ", %u members)",
			     n->id, n->sm_index, n->sm_conf.n);
			raft_free(n->r);
			n->r = NULL;
			n->up = false;
			n->exists = false;
		}
	}
}

static void compact(struct sim *s, struct node *n)
{
	uint64_t first = raft_memstore_first_index(n->ms);
	if (n->sm_index < first + rng_below(20))
		return;
	uint8_t data[20];
	uint32_t magic = SM_MAGIC;
	memcpy(data, &magic, 4);
	memcpy(data + 4, &n->sm_index, 8);
	memcpy(data + 12, &n->sm_hash, 8);
	if (raft_memstore_compact(n->ms, n->sm_index, &n->sm_conf, data, sizeof(data)) == 0)
		vlog(s, "node %" PRIu64 " compacts to %" PRIu64 " (%u members)", n->id, n->sm_index,
		     n->sm_conf.n);
}

static void partition(struct sim *s)
{
	memset(s->blocked, 0, sizeof(s->blocked));
	int kind = (int)rng_below(4);
	if (kind == 0) {
		vlog(s, "network heals");
		return;
	}
	if (kind == 1) {
		/* symmetric split */
		bool side[NODES_MAX + 1];
		for (int i = 1; i <= s->n_nodes; i++)
			side[i] = rng_chance(0.5);
		for (int a = 1; a <= s->n_nodes; a++)
			for (int b = 1; b <= s->n_nodes; b++)
				s->blocked[a][b] = side[a] != side[b];
		vlog(s, "network splits in two");
	} else if (kind == 2) {
		/* isolate the leader, or someone */
		struct node *l = find_leader(s);
		int x = l ? (int)l->id : 1 + (int)rng_below((uint32_t)s->n_nodes);
		for (int b = 1; b <= s->n_nodes; b++)
			s->blocked[x][b] = s->blocked[b][x] = true;
		vlog(s, "node %d is isolated", x);
	} else {
		/* asymmetric: some one-way links fail */
		for (int a = 1; a <= s->n_nodes; a++)
			for (int b = 1; b <= s->n_nodes; b++)
				s->blocked[a][b] = a != b && rng_chance(0.25);
		vlog(s, "one-way links fail");
	}
}

/* ---- the run ---- */

static void deliver(struct sim *s)
{
	size_t due[NET_MAX];
	size_t nd = 0;
	for (size_t i = 0; i < s->n_net; i++)
		if (s->net[i].at <= s->now)
			due[nd++] = i;
	/* reorder what arrives together */
	for (size_t i = nd; i > 1; i--) {
		size_t j = rng_below((uint32_t)i), t = due[i - 1];
		due[i - 1] = due[j];
		due[j] = t;
	}
	struct sim_msg *batch = malloc((nd ? nd : 1) * sizeof(*batch));
	assert(batch != NULL);
	for (size_t i = 0; i < nd; i++)
		batch[i] = s->net[due[i]];
	/* remove delivered from the queue, keeping the rest */
	size_t w = 0;
	for (size_t i = 0; i < s->n_net; i++)
		if (s->net[i].at > s->now)
			s->net[w++] = s->net[i];
	s->n_net = w;
	for (size_t i = 0; i < nd && !s->failed; i++) {
		struct raft_msg *m = &batch[i].m;
		struct node *to = &s->nodes[m->to - 1];
		struct node *from = &s->nodes[m->from - 1];
		if (!to->up || s->blocked[m->from][m->to]) {
			if (m->type == RAFT_MSG_SNAP && from->up)
				raft_report_snapshot(from->r, m->to, false);
			if (from->up)
				node_process(s, from);
			continue;
		}
		if (verbose > 2)
			vlog(s,
			     "deliver %s %" PRIu64 "->%" PRIu64 " term %" PRIu64 " index %" PRIu64
			     " log_term %" PRIu64 " commit %" PRIu64
			     " n %zu reject %d hint %" PRIu64 " ctx %" PRIu64,
			     raft_msg_type_str(m->type), m->from, m->to, m->term, m->index,
			     m->log_term, m->commit, m->n_entries, m->reject, m->reject_hint,
			     m->context);
		if (raft_step(to->r, m) != 0)
			fail(s, "step", "node %" PRIu64 " rejected a %s", to->id,
			     raft_msg_type_str(m->type));
		node_process(s, to);
		/* a transport knows when a snapshot stream completes */
		if (m->type == RAFT_MSG_SNAP && from->up) {
			raft_report_snapshot(from->r, m->to, true);
			node_process(s, from);
		}
	}
	for (size_t i = 0; i < nd; i++)
		net_free_msg(&batch[i].m);
	free(batch);
}

static void sim_step(struct sim *s)
{
	s->now++;
	if (s->chaos) {
		for (int i = 0; i < s->n_nodes; i++) {
			struct node *n = &s->nodes[i];
			if (n->exists && !n->up && s->now >= n->down_until)
				node_start(s, n);
		}
		if (rng_chance(s->p_crash)) {
			struct node *n = &s->nodes[rng_below((uint32_t)s->n_nodes)];
			node_crash(s, n, "random");
		}
		if (rng_chance(s->p_part))
			partition(s);
		if (rng_chance(s->p_propose)) {
			int k = 1 + (int)rng_below(3);
			for (int i = 0; i < k; i++)
				client_write(s, ++s->next_write);
		}
		if (rng_chance(s->p_read))
			client_read(s);
		if (rng_chance(s->p_conf))
			conf_change(s);
		if (rng_chance(s->p_transfer)) {
			struct node *l = find_leader(s);
			if (l != NULL) {
				uint64_t to = 1 + rng_below((uint32_t)s->n_nodes);
				int rc = raft_transfer_leadership(l->r, to);
				vlog(s, "leader %" PRIu64 " transfers to %" PRIu64 ": %s", l->id,
				     to, raft_status_str(rc));
				node_process(s, l);
			}
		}
		for (int i = 0; i < s->n_nodes; i++)
			if (s->nodes[i].up && rng_chance(s->p_compact))
				compact(s, &s->nodes[i]);
	}
	deliver(s);
	for (int i = 0; i < s->n_nodes && !s->failed; i++) {
		struct node *n = &s->nodes[i];
		if (!n->up)
			continue;
		raft_tick(n->r);
		node_process(s, n);
	}
	retire_removed(s);
	for (int i = 0; i < s->n_nodes; i++)
		check_node(s, &s->nodes[i]);
}

static void sim_setup(struct sim *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->seed = seed;
	rng_state = seed * 0x2545f4914f6cdd1dull + 1;
	static const int sizes[] = {3, 5, 7};
	s->n_initial = sizes[rng_below(3)];
	s->n_nodes = s->n_initial;
	raft_config_default(&s->base, 1);
	s->base.election_ticks = ELECTION_TICKS;
	s->base.heartbeat_ticks = 1 + rng_below(3);
	s->base.pre_vote = rng_chance(0.7);
	s->base.check_quorum = rng_chance(0.7);
	s->base.read_mode =
	    s->base.check_quorum && rng_chance(0.5) ? RAFT_READ_LEASE : RAFT_READ_SAFE;
	s->base.lease_ticks = 0;
	s->base.max_append_entries = 1 + rng_below(8);
	s->base.max_append_bytes = 64 + rng_below(512);
	s->base.max_inflight = 1 + rng_below(8);
	s->base.max_uncommitted_bytes = 256 + rng_below(4096);
	s->base.max_apply_bytes = 64 + rng_below(1024);
	s->base.max_entry_bytes = 1024;
	s->base.rand = sim_rand;
	s->p_loss = rng_chance(0.2) ? 0 : rng_below(20) / 100.0;
	s->p_dup = rng_below(10) / 100.0;
	s->p_crash = rng_below(10) / 1000.0;
	s->p_crash_mid = rng_below(3) / 1000.0;
	s->p_part = rng_below(20) / 1000.0;
	s->p_propose = 0.1 + rng_below(50) / 100.0;
	s->p_read = rng_below(40) / 100.0;
	s->p_conf = rng_below(15) / 1000.0;
	s->p_transfer = rng_below(5) / 1000.0;
	s->p_compact = rng_below(30) / 1000.0;
	s->max_delay = 1 + rng_below(5);
	s->net = malloc(NET_MAX * sizeof(*s->net));
	assert(s->net != NULL);
	struct raft_conf conf = {0};
	for (int i = 0; i < s->n_initial; i++) {
		char addr[RAFT_ADDR_MAX];
		sim_addr(addr, (uint64_t)i + 1, 0);
		raft_conf_apply_op(&conf, RAFT_CONF_ADD_VOTER, (uint64_t)i + 1, addr);
	}
	for (int i = 0; i < s->n_initial; i++) {
		struct node *n = &s->nodes[i];
		n->id = (uint64_t)i + 1;
		n->exists = true;
		n->ms = raft_memstore_new();
		raft_memstore_bootstrap(n->ms, &conf);
		node_start(s, n);
	}
	record_commit(s, &s->nodes[0], 1, 1);
	vlog(s,
	     "seed %" PRIu64 ": %d nodes, heartbeat %u, pre_vote %d, check_quorum %d, lease %d, "
	     "append %u/%" PRIu64 "B, inflight %u, loss %.2f dup %.2f crash %.3f part %.3f",
	     seed, s->n_initial, s->base.heartbeat_ticks, s->base.pre_vote, s->base.check_quorum,
	     s->base.read_mode == RAFT_READ_LEASE, s->base.max_append_entries,
	     s->base.max_append_bytes, s->base.max_inflight, s->p_loss, s->p_dup, s->p_crash,
	     s->p_part);
}

static void sim_teardown(struct sim *s)
{
	for (int i = 0; i < s->n_nodes; i++) {
		raft_free(s->nodes[i].r);
		raft_memstore_free(s->nodes[i].ms);
	}
	for (size_t i = 0; i < s->n_net; i++)
		net_free_msg(&s->net[i].m);
	free(s->net);
	free(s->leader_of_term);
	free(s->canon);
	free(s->lm);
	free(s->reads);
}

/* After the faults: every member is up, the network is perfect; a new write must commit. */
static void liveness(struct sim *s)
{
	s->chaos = false;
	memset(s->blocked, 0, sizeof(s->blocked));
	for (int i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].exists && !s->nodes[i].up)
			node_start(s, &s->nodes[i]);
	vlog(s, "faults heal");
	s->marker = ++s->next_write;
	uint64_t start = s->now;
	/* a slow configuration (one entry per append, one in flight) needs time for a backlog */
	uint64_t hi = 0, lo = UINT64_MAX;
	for (int i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].up) {
			if (raft_last_index(s->nodes[i].r) > hi)
				hi = raft_last_index(s->nodes[i].r);
			if (raft_commit(s->nodes[i].r) < lo)
				lo = raft_commit(s->nodes[i].r);
		}
	uint64_t bound = LIVENESS_TICKS + 3 * (hi > lo ? hi - lo : 0);
	/* the write must commit within LIVENESS_TICKS; slow configurations may take longer to
	 * bring every follower up to date */
	while (!s->failed && s->now - start < bound + CATCHUP_TICKS) {
		if (s->marker_index == 0 && s->now - start >= bound)
			break;
		if (s->marker_index == 0 && (s->now - start) % 5 == 0)
			client_write(s, s->marker);
		sim_step(s);
		if (s->marker_index == 0)
			continue;
		struct node *l = find_leader(s);
		if (l == NULL)
			continue;
		bool all = true;
		const struct raft_conf *c = raft_conf_latest(l->r);
		for (uint32_t k = 0; k < c->n; k++) {
			struct node *n = &s->nodes[c->m[k].id - 1];
			if (!n->up || n->sm_index < s->marker_index)
				all = false;
		}
		if (all) {
			vlog(s,
			     "liveness: write %" PRIu64 " applied everywhere after %" PRIu64
			     " ticks",
			     s->marker_index, s->now - start);
			return;
		}
	}
	if (s->failed)
		return;
	if (s->marker_index == 0)
		fail(s, "liveness", "no write committed %" PRIu64 " ticks after faults healed",
		     bound);
	else
		fail(s, "liveness",
		     "write %" PRIu64 " not applied everywhere %" PRIu64
		     " ticks after faults healed",
		     s->marker_index, bound + CATCHUP_TICKS);
	struct node *ld = find_leader(s);
	for (uint32_t k = 0; verbose && ld != NULL && k < raft_conf_latest(ld->r)->n; k++)
		printf("  member %" PRIu64 " voter %d at %s\n", raft_conf_latest(ld->r)->m[k].id,
		       raft_conf_latest(ld->r)->m[k].voter, raft_conf_latest(ld->r)->m[k].addr);
	for (int i = 0; verbose && i < s->n_nodes; i++) {
		struct node *n = &s->nodes[i];
		if (!n->up)
			continue;
		printf("  node %" PRIu64 ": %s term %" PRIu64 " leader %" PRIu64 " commit %" PRIu64
		       " applied %" PRIu64 " last %" PRIu64 " first %" PRIu64 " (marker at %" PRIu64
		       ")\n",
		       n->id, raft_role_str(raft_role(n->r)), raft_term(n->r), raft_leader(n->r),
		       raft_commit(n->r), n->sm_index, raft_last_index(n->r),
		       raft_memstore_first_index(n->ms), s->marker_index);
		const struct raft_conf *nc = raft_conf_latest(n->r);
		printf("    conf:");
		for (uint32_t k = 0; k < nc->n; k++)
			printf(" %" PRIu64 "%s", nc->m[k].id, nc->m[k].voter ? "" : "(nv)");
		printf("\n");
		struct node *l = find_leader(s);
		struct raft_progress_info pi;
		if (l != NULL && raft_progress(l->r, n->id, &pi) == 0)
			printf("    progress: %s match %" PRIu64 " next %" PRIu64 " paused %d "
			       "inflight %u pending_snap %" PRIu64 "\n",
			       pi.state, pi.match, pi.next, pi.paused, pi.inflight,
			       pi.pending_snapshot);
	}
}

static int run_seed(uint64_t seed, uint64_t *ticks)
{
	struct sim *s = malloc(sizeof(*s));
	assert(s != NULL);
	sim_setup(s, seed);
	s->chaos = true;
	uint64_t chaos = CHAOS_TICKS_MIN + rng_below(CHAOS_TICKS_MAX - CHAOS_TICKS_MIN);
	while (!s->failed && s->now < chaos)
		sim_step(s);
	if (!s->failed)
		liveness(s);
	int rc = 0;
	if (s->failed) {
		printf("raft_sim: FAILED seed=%" PRIu64 ": %s: %s\n", seed, s->failed, s->why);
		printf("raft_sim: replay with: make sim SEED=%" PRIu64 "\n", seed);
		rc = -1;
	} else if (verbose) {
		printf("seed %" PRIu64 ": ok, %" PRIu64 " ticks, %" PRIu64 " applied, %" PRIu64
		       " elections, %" PRIu64 " snapshots, %" PRIu64 " conf changes, %" PRIu64
		       " reads, %" PRIu64 " crashes, max commit %" PRIu64 "\n",
		       seed, s->now, s->n_applied, s->n_elections, s->n_snapshots, s->n_confs,
		       s->n_reads_ok, s->n_crashes, s->max_committed);
	}
	if (ticks != NULL)
		*ticks = s->now;
	sim_teardown(s);
	free(s);
	return rc;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: raft_sim --seed N | --seeds N [--start S] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t seed = 0, seeds = 0, start = 1;
	bool one = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 10);
			one = true;
		} else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
			seeds = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--start") == 0 && i + 1 < argc) {
			start = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "-v") == 0) {
			verbose++;
		} else {
			usage();
		}
	}
	if (one) {
		verbose++;
		return run_seed(seed, NULL) == 0 ? 0 : 1;
	}
	if (seeds == 0)
		seeds = 100;
	double t0 = now_s();
	uint64_t failed = 0;
	for (uint64_t k = 0; k < seeds; k++)
		if (run_seed(start + k, NULL) != 0)
			failed++;
	double dt = now_s() - t0;
	printf("raft_sim: %" PRIu64 " seeds passed, %" PRIu64 " failed (%.0f seeds/s)\n",
	       seeds - failed, failed, dt > 0 ? (double)seeds / dt : 0.0);
	return failed ? 1 : 0;
}

/* swimsim.h: a seeded network simulator for the SWIM core (daemons/gossipd/swim.c), shared by
 * tests/unit/test_swim.c (small runs in make test) and tests/helpers/swim_sim.c (any N, seed). */
#ifndef MUSTER_SWIMSIM_H
#define MUSTER_SWIMSIM_H

#include "daemons/gossipd/swim.h"
#include "prng.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One seed = one run, replayable: only the seed drives randomness (the network's and, through
 * their config.seed, every member's). N members on a simulated network with loss, delay, slow
 * members (their inbound processing lags), crashes, graceful leaves and a partition, in phases:
 *
 *   1 join      members start over join_spread_ms, each joining (push/pull) an earlier one;
 *               all must agree on the alive set within converge_bound_ms of the last start
 *               (30 s + two push/pull intervals for N: a member that missed every copy of an
 *               alive learns it from a push/pull).
 *   2 faults    `crashes` members crash, `leaves` leave (and stop 3 s after their leave went
 *               out: Consul's LeavePropagateDelay), `slow` members lag slow_delay_ms on every
 *               packet they receive. Invariants: every live member declares each crashed one
 *               dead within detect_bound_ms (below); every live member has each leaver left
 *               and none ever declares it dead; nobody declares a slow or healthy member dead.
 *   3 partition one live member is cut off for partition_ms, then the cut heals; all live
 *               members must again agree on the alive set within heal_bound_ms of the heal:
 *               three of Serf's reconnect rounds (below; a round may pick a crashed member)
 *               plus the suspicion max.
 *
 * "Slow" within Lifeguard's bounds: a lag below ProbeTimeout minus the round trip (default
 * 400 ms of 500), so that even when one packet is lost the relays' pings still get an ack in
 * time and nobody has a reason to suspect it. With lags past the probe timeout (every direct
 * probe of it goes to the indirect phase, whose relays give up at ProbeTimeout), a lost packet
 * makes it suspect; it refutes, and a member that misses every retransmission of the
 * refutation (RetransmitMult·ceil(log10(N+1)) per holder) declares it dead when its timer runs
 * out: memberlist's behaviour, which swim_sim --slow-delay shows (about 1% of N=10 runs at
 * 800 ms with 1% loss, 16% at 1000 ms, 26% at 1500 ms; none at 800 ms without loss).
 *
 * detect_bound = 2 · awareness_max · probe_interval (someone starts probing the crashed member,
 * and that probe ends, even at the worst Lifeguard score) + suspicion max for N + 5 s for the
 * dead message to spread: memberlist's "probe interval + timeout + suspicion max" with awareness
 * slack. Every packet must fit udp_buffer_size.
 *
 * memberlist alone never heals a partition once each side has pruned the other; Serf does, by
 * retrying failed members (ReconnectInterval 30 s, with probability failed/alive: §4.4). The
 * simulator plays that part of Serf, as gossipd will, so phase 3 exercises refutation after a
 * heal.
 */

#define SWIMSIM_NODES_MAX      4096
#define SWIMSIM_RECONNECT_MS   30000 /* Serf ReconnectInterval */
#define SWIMSIM_LEAVE_DELAY_MS 3000  /* Consul's LeavePropagateDelay */
#define SWIMSIM_LEAVE_TIMEOUT  5000  /* Serf BroadcastTimeout */
#define SWIMSIM_CHECK_MS       250   /* convergence checks */
#define SWIMSIM_SPREAD_MS      5000  /* dissemination allowance in the bounds */

struct swimsim_params {
	uint64_t seed;
	uint32_t nodes;
	uint32_t join_spread_ms;
	double loss;                         /* UDP packets lost */
	uint32_t delay_min_ms, delay_max_ms; /* one way */
	uint32_t crashes, leaves, slow;
	uint32_t slow_delay_ms;
	uint32_t partition_ms; /* 0: no phase 3 */
	int verbose;
};

struct swimsim_result {
	char error[512]; /* "" when every invariant held */
	uint64_t converge_ms, converge_bound_ms;
	uint64_t suspicion_min_ms, suspicion_max_ms, detect_bound_ms;
	uint64_t detect_first_max_ms, detect_all_max_ms;
	double detect_first_mean_ms, detect_all_mean_ms;
	uint64_t leave_max_ms;
	uint64_t heal_ms, heal_bound_ms;
	uint64_t flaps; /* healthy members declared dead in phase 3 (allowed: a heal's churn) */
	uint64_t suspicions; /* suspicions started, all members */
	uint64_t packets, lost, max_packet, bytes;
	uint32_t max_awareness;
	uint64_t sim_ms;
};

static inline void swimsim_params_default(struct swimsim_params *p, uint32_t nodes, uint64_t seed)
{
	memset(p, 0, sizeof(*p));
	p->seed = seed;
	p->nodes = nodes;
	p->join_spread_ms = nodes <= 10 ? 2000 : nodes <= 100 ? 5000 : 20000;
	p->loss = 0.01;
	p->delay_min_ms = 1;
	p->delay_max_ms = 20;
	p->crashes = nodes >= 10 ? 2 : 1;
	p->leaves = 1;
	p->slow = 1;
	p->slow_delay_ms = 400; /* see "slow" above */
	p->partition_ms = 40000;
}

/* ---- internals ---- */

enum swimsim_ev {
	SIM_EV_DELIVER,
	SIM_EV_TIMER,
	SIM_EV_PUSH_PULL,
	SIM_EV_TCP_RESULT,
	SIM_EV_RECONNECT,
	SIM_EV_START,
	SIM_EV_CRASH,
	SIM_EV_LEAVE,
	SIM_EV_STOP,
	SIM_EV_PHASE,
	SIM_EV_CHECK,
};

struct swimsim_pkt {
	int from;
	size_t n;
	struct swim_msg *msgs;
};

struct swimsim_event {
	uint64_t at, seq;
	enum swimsim_ev kind;
	int node, peer;
	uint64_t gen;
	uint32_t tcp_seq;
	bool flag; /* TCP_RESULT: ok; PUSH_PULL: join */
	struct swimsim_pkt *pkt;
};

struct swimsim_node {
	struct swim *s;
	char name[16];
	struct swim_addr addr;
	bool started, crashed, stopped, leaving;
	uint64_t timer_at, timer_gen;
	uint64_t crash_at, leave_at;
	int group; /* the partition: members of different groups cannot talk */
	bool slow;
	int *failed; /* Serf's failed members, for the reconnect */
	size_t n_failed, cap_failed;
};

struct swimsim {
	struct swimsim_params p;
	struct swimsim_result *r;
	struct swim_config cfg;
	uint64_t rng, now, seq;
	int n;
	struct swimsim_node *nodes;
	struct swimsim_event *heap;
	size_t n_heap, cap_heap;
	int phase;
	uint64_t last_start, phase2_at, phase3_at, heal_at, check_deadline;
	int *col; /* member -> column of failed_at/left_at, or -1 */
	int n_cols;
	uint64_t *failed_at, *left_at; /* [observer * n_cols + col], 0: never */
	int partitioned;
	bool done, converged;
};

static uint64_t swimsim_rand(struct swimsim *sim)
{
	return prng_next(&sim->rng);
}

static uint64_t swimsim_below(struct swimsim *sim, uint64_t n)
{
	return n ? swimsim_rand(sim) % n : 0;
}

static bool swimsim_chance(struct swimsim *sim, double p)
{
	return (double)(swimsim_rand(sim) >> 11) / (double)(1ull << 53) < p;
}

static void swimsim_fail(struct swimsim *sim, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void swimsim_fail(struct swimsim *sim, const char *fmt, ...)
{
	if (sim->r->error[0])
		return;
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(sim->r->error, sizeof(sim->r->error), "t=%" PRIu64 "ms: %s", sim->now, msg);
	sim->done = true;
}

/* ---- the event heap: (at, seq) order, so equal times replay in insertion order ---- */

static bool swimsim_before(const struct swimsim_event *a, const struct swimsim_event *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void swimsim_push(struct swimsim *sim, struct swimsim_event ev)
{
	ev.seq = sim->seq++;
	if (sim->n_heap == sim->cap_heap) {
		sim->cap_heap = sim->cap_heap ? sim->cap_heap * 2 : 1024;
		sim->heap = realloc(sim->heap, sim->cap_heap * sizeof(*sim->heap));
		if (!sim->heap)
			abort();
	}
	size_t i = sim->n_heap++;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (!swimsim_before(&ev, &sim->heap[up]))
			break;
		sim->heap[i] = sim->heap[up];
		i = up;
	}
	sim->heap[i] = ev;
}

static struct swimsim_event swimsim_pop(struct swimsim *sim)
{
	struct swimsim_event top = sim->heap[0];
	struct swimsim_event last = sim->heap[--sim->n_heap];
	size_t i = 0, n = sim->n_heap;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && swimsim_before(&sim->heap[c + 1], &sim->heap[c]))
			c++;
		if (!swimsim_before(&sim->heap[c], &last))
			break;
		sim->heap[i] = sim->heap[c];
		i = c;
	}
	if (n > 0)
		sim->heap[i] = last;
	return top;
}

static void swimsim_at(struct swimsim *sim, uint64_t at, enum swimsim_ev kind, int node)
{
	struct swimsim_event ev = {.at = at, .kind = kind, .node = node, .peer = -1};
	swimsim_push(sim, ev);
}

/* ---- members and packets ---- */

static int swimsim_index(const struct swimsim *sim, const struct swim_addr *a)
{
	if (a->len != 4 || a->ip[0] != 10 || a->port != 7946)
		return -1;
	int i = (a->ip[1] << 16) | (a->ip[2] << 8) | a->ip[3];
	return i < sim->n ? i : -1;
}

static int swimsim_by_name(const struct swimsim *sim, const char *name)
{
	if (!name || name[0] != 'n')
		return -1;
	int i = atoi(name + 1);
	return i >= 0 && i < sim->n ? i : -1;
}

static bool swimsim_up(const struct swimsim_node *nd)
{
	return nd->started && !nd->crashed && !nd->stopped;
}

/* Live: up and not leaving; the members whose views must converge. */
static bool swimsim_live(const struct swimsim_node *nd)
{
	return swimsim_up(nd) && !nd->leaving;
}

static char *swimsim_strdup(const char *s)
{
	s = s ? s : "";
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (!d)
		abort();
	memcpy(d, s, n);
	return d;
}

static uint8_t *swimsim_memdup(const uint8_t *p, size_t n)
{
	if (!n)
		return NULL;
	uint8_t *d = malloc(n);
	if (!d)
		abort();
	memcpy(d, p, n);
	return d;
}

static struct swimsim_pkt *swimsim_pkt_copy(int from, const struct swim_fx *fx)
{
	struct swimsim_pkt *pkt = calloc(1, sizeof(*pkt));
	if (!pkt)
		abort();
	pkt->from = from;
	pkt->n = fx->n_msgs;
	pkt->msgs = calloc(fx->n_msgs, sizeof(*pkt->msgs));
	if (!pkt->msgs)
		abort();
	for (size_t i = 0; i < fx->n_msgs; i++) {
		struct swim_msg *d = &pkt->msgs[i];
		*d = fx->msgs[i];
		d->node = swimsim_strdup(fx->msgs[i].node);
		d->from = swimsim_strdup(fx->msgs[i].from);
		d->meta = swimsim_memdup(fx->msgs[i].meta, fx->msgs[i].meta_len);
		d->payload = swimsim_memdup(fx->msgs[i].payload, fx->msgs[i].payload_len);
	}
	return pkt;
}

static void swimsim_pkt_free(struct swimsim_pkt *pkt)
{
	if (!pkt)
		return;
	for (size_t i = 0; i < pkt->n; i++) {
		free((char *)pkt->msgs[i].node);
		free((char *)pkt->msgs[i].from);
		free((uint8_t *)pkt->msgs[i].meta);
		free((uint8_t *)pkt->msgs[i].payload);
	}
	free(pkt->msgs);
	free(pkt);
}

static size_t swimsim_packet_size(const struct swim_fx *fx)
{
	if (fx->n_msgs == 1)
		return swim_msg_size(&fx->msgs[0]);
	size_t n = 2; /* compound: type, count */
	for (size_t i = 0; i < fx->n_msgs; i++)
		n += 2 + swim_msg_size(&fx->msgs[i]);
	return n;
}

static uint64_t swimsim_delay(struct swimsim *sim, int to)
{
	uint64_t d =
	    sim->p.delay_min_ms + swimsim_below(sim, sim->p.delay_max_ms - sim->p.delay_min_ms + 1);
	if (to >= 0 && sim->nodes[to].slow)
		d += sim->p.slow_delay_ms; /* its inbound processing lags */
	return d;
}

static bool swimsim_reachable(const struct swimsim *sim, int a, int b)
{
	return swimsim_up(&sim->nodes[a]) && swimsim_up(&sim->nodes[b]) &&
	       sim->nodes[a].group == sim->nodes[b].group;
}

/* ---- effects ---- */

static void swimsim_failed_add(struct swimsim_node *nd, int x)
{
	for (size_t i = 0; i < nd->n_failed; i++)
		if (nd->failed[i] == x)
			return;
	if (nd->n_failed == nd->cap_failed) {
		nd->cap_failed = nd->cap_failed ? nd->cap_failed * 2 : 8;
		nd->failed = realloc(nd->failed, nd->cap_failed * sizeof(*nd->failed));
		if (!nd->failed)
			abort();
	}
	nd->failed[nd->n_failed++] = x;
}

static void swimsim_failed_del(struct swimsim_node *nd, int x)
{
	for (size_t i = 0; i < nd->n_failed; i++) {
		if (nd->failed[i] == x) {
			nd->failed[i] = nd->failed[--nd->n_failed];
			return;
		}
	}
}

/* Is a FAILED about x, seen by y now, an error? Crashed members fail; in phase 3 (partition and
 * heal) anything goes: that phase is judged by convergence. */
static bool swimsim_failure_ok(struct swimsim *sim, int y, int x)
{
	(void)y;
	if (sim->nodes[x].crashed)
		return true;
	if (sim->phase >= 3) {
		if (x != sim->partitioned && y != sim->partitioned)
			sim->r->flaps++;
		return true;
	}
	return false;
}

static void swimsim_event(struct swimsim *sim, int y, const struct swim_fx *fx)
{
	int x = swimsim_by_name(sim, fx->node.name);
	struct swimsim_node *nd = &sim->nodes[y];
	if (sim->p.verbose > 1 || (sim->p.verbose && fx->event != SWIM_EV_PING))
		fprintf(stderr, "%8" PRIu64 " %s: %s %s inc %" PRIu32 " from %s\n", sim->now,
		        nd->name, swim_event_str(fx->event), fx->node.name, fx->node.incarnation,
		        fx->from ? fx->from : "");
	if (x < 0)
		return;
	int col = sim->col[x];
	switch (fx->event) {
	case SWIM_EV_FAILED:
		if (col >= 0 && !sim->failed_at[(size_t)y * sim->n_cols + col])
			sim->failed_at[(size_t)y * sim->n_cols + col] = sim->now;
		if (!swimsim_failure_ok(sim, y, x))
			swimsim_fail(sim, "%s declared %s dead (%s)", nd->name, fx->node.name,
			             sim->nodes[x].slow      ? "slow but alive"
			             : sim->nodes[x].leaving ? "it left"
			                                     : "healthy");
		swimsim_failed_add(nd, x);
		break;
	case SWIM_EV_LEFT:
		if (col >= 0 && !sim->left_at[(size_t)y * sim->n_cols + col])
			sim->left_at[(size_t)y * sim->n_cols + col] = sim->now;
		swimsim_failed_del(nd, x);
		break;
	case SWIM_EV_JOIN:
	case SWIM_EV_ALIVE:
		swimsim_failed_del(nd, x);
		break;
	case SWIM_EV_SUSPECT:
		sim->r->suspicions++;
		break;
	case SWIM_EV_LEAVE_DONE:
		if (x == y)
			swimsim_at(sim, sim->now + SWIMSIM_LEAVE_DELAY_MS, SIM_EV_STOP, y);
		break;
	default:
		break;
	}
}

/* Carries out member i's effects, then re-arms its timer. */
static void swimsim_drain(struct swimsim *sim, int i)
{
	struct swimsim_node *nd = &sim->nodes[i];
	size_t n;
	const struct swim_fx *fx = swim_effects(nd->s, &n);
	for (size_t k = 0; k < n; k++) {
		const struct swim_fx *f = &fx[k];
		int j = swimsim_index(sim, &f->to);
		switch (f->type) {
		case SWIM_FX_SEND: {
			size_t size = swimsim_packet_size(f);
			sim->r->packets++;
			sim->r->bytes += size;
			if (size > sim->r->max_packet)
				sim->r->max_packet = size;
			if (size > sim->cfg.udp_buffer_size)
				swimsim_fail(sim, "%s sent a packet of %zu bytes", nd->name, size);
			if (j < 0 || !swimsim_reachable(sim, i, j) ||
			    swimsim_chance(sim, sim->p.loss)) {
				sim->r->lost++;
				break;
			}
			struct swimsim_event ev = {.at = sim->now + swimsim_delay(sim, j),
			                           .kind = SIM_EV_DELIVER,
			                           .node = j,
			                           .peer = i};
			ev.pkt = swimsim_pkt_copy(i, f);
			swimsim_push(sim, ev);
			break;
		}
		case SWIM_FX_TCP_PING: {
			/* TCP retransmits: no loss, but the cut and the lag count */
			uint64_t rtt = j < 0 ? 0 : swimsim_delay(sim, j) + swimsim_delay(sim, i);
			bool ok = j >= 0 && swimsim_reachable(sim, i, j) &&
			          sim->now + rtt < f->deadline_ms;
			struct swimsim_event ev = {.kind = SIM_EV_TCP_RESULT, .node = i, .peer = j};
			ev.at = ok ? sim->now + rtt : f->deadline_ms - 1;
			ev.tcp_seq = f->seq;
			ev.flag = ok;
			swimsim_push(sim, ev);
			break;
		}
		case SWIM_FX_PUSH_PULL: {
			if (j < 0)
				break;
			struct swimsim_event ev = {.kind = SIM_EV_PUSH_PULL, .node = i, .peer = j};
			ev.at = sim->now + swimsim_delay(sim, j) + swimsim_delay(sim, i);
			ev.flag = f->join;
			swimsim_push(sim, ev);
			break;
		}
		case SWIM_FX_EVENT:
			swimsim_event(sim, i, f);
			break;
		}
	}
	swim_effects_clear(nd->s);
	uint32_t aw = swim_awareness(nd->s);
	if (aw > sim->r->max_awareness)
		sim->r->max_awareness = aw;
	if (!swimsim_up(nd))
		return;
	uint64_t d = swim_next_deadline(nd->s);
	if (d <= sim->now)
		d = sim->now + 1;
	if (d != nd->timer_at && d != SWIM_NEVER) {
		nd->timer_at = d;
		struct swimsim_event ev = {.at = d, .kind = SIM_EV_TIMER, .node = i, .peer = -1};
		ev.gen = ++nd->timer_gen;
		swimsim_push(sim, ev);
	}
}

/* A deep copy of a member's push/pull state (the exporter may change before it is merged). */
static struct swim_node_state *swimsim_export(struct swim *s, size_t *n)
{
	size_t count = swim_num_members(s);
	struct swim_node_state *st = calloc(count ? count : 1, sizeof(*st));
	if (!st)
		abort();
	*n = swim_push_pull_state(s, st, count);
	for (size_t i = 0; i < *n; i++) {
		st[i].name = swimsim_strdup(st[i].name);
		st[i].meta = swimsim_memdup(st[i].meta, st[i].meta_len);
	}
	return st;
}

static void swimsim_export_free(struct swim_node_state *st, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)st[i].name);
		free((uint8_t *)st[i].meta);
	}
	free(st);
}

static void swimsim_push_pull(struct swimsim *sim, int a, int b, bool join)
{
	if (!swimsim_reachable(sim, a, b))
		return;
	/* memberlist: the remote sends its state before merging ours */
	size_t na, nb;
	struct swim_node_state *sa = swimsim_export(sim->nodes[a].s, &na);
	struct swim_node_state *sb = swimsim_export(sim->nodes[b].s, &nb);
	(void)join;
	if (swim_merge_remote_state(sim->nodes[b].s, sim->now, sa, na) != 0 ||
	    swim_merge_remote_state(sim->nodes[a].s, sim->now, sb, nb) != 0)
		swimsim_fail(sim, "push/pull %s <-> %s: malformed state", sim->nodes[a].name,
		             sim->nodes[b].name);
	swimsim_export_free(sa, na);
	swimsim_export_free(sb, nb);
	swimsim_drain(sim, b);
	swimsim_drain(sim, a);
}

/* ---- checks ---- */

/* Every live member sees exactly the live members as alive (or suspect). */
static bool swimsim_converged(struct swimsim *sim, char *why, size_t why_size)
{
	size_t live = 0;
	for (int i = 0; i < sim->n; i++)
		live += swimsim_live(&sim->nodes[i]);
	for (int y = 0; y < sim->n; y++) {
		if (!swimsim_live(&sim->nodes[y]))
			continue;
		size_t alive = swim_num_alive(sim->nodes[y].s);
		if (alive != live) {
			snprintf(why, why_size, "%s sees %zu alive of %zu", sim->nodes[y].name,
			         alive, live);
			return false;
		}
	}
	for (int y = 0; y < sim->n; y++) {
		if (!swimsim_live(&sim->nodes[y]))
			continue;
		for (int x = 0; x < sim->n; x++) {
			if (!swimsim_live(&sim->nodes[x]))
				continue;
			struct swim_node_state st;
			if (!swim_member(sim->nodes[y].s, sim->nodes[x].name, &st) ||
			    st.state == SWIM_DEAD || st.state == SWIM_LEFT) {
				snprintf(why, why_size, "%s does not see %s alive",
				         sim->nodes[y].name, sim->nodes[x].name);
				return false;
			}
		}
	}
	return true;
}

/* Phase 2's verdict: crash detection within the bound, leaves seen everywhere. */
static void swimsim_judge_faults(struct swimsim *sim)
{
	struct swimsim_result *r = sim->r;
	double first_sum = 0, all_sum = 0;
	int crashed = 0;
	for (int x = 0; x < sim->n; x++) {
		struct swimsim_node *xn = &sim->nodes[x];
		int col = sim->col[x];
		if (col < 0)
			continue;
		if (xn->crashed) {
			uint64_t first = SWIM_NEVER, all = 0;
			for (int y = 0; y < sim->n; y++) {
				if (!swimsim_live(&sim->nodes[y]))
					continue;
				uint64_t at = sim->failed_at[(size_t)y * sim->n_cols + col];
				if (!at || at - xn->crash_at > r->detect_bound_ms) {
					swimsim_fail(
					    sim,
					    "%s did not declare crashed %s dead within %" PRIu64
					    " ms (%s)",
					    sim->nodes[y].name, xn->name, r->detect_bound_ms,
					    at ? "late" : "never");
					return;
				}
				uint64_t d = at - xn->crash_at;
				first = d < first ? d : first;
				all = d > all ? d : all;
			}
			crashed++;
			first_sum += (double)first;
			all_sum += (double)all;
			if (first > r->detect_first_max_ms)
				r->detect_first_max_ms = first;
			if (all > r->detect_all_max_ms)
				r->detect_all_max_ms = all;
		} else if (xn->leaving) {
			for (int y = 0; y < sim->n; y++) {
				if (!swimsim_live(&sim->nodes[y]))
					continue;
				uint64_t at = sim->left_at[(size_t)y * sim->n_cols + col];
				struct swim_node_state st;
				bool known = swim_member(sim->nodes[y].s, xn->name, &st);
				if (!at || (known && st.state != SWIM_LEFT)) {
					swimsim_fail(sim, "%s does not have %s left (%s)",
					             sim->nodes[y].name, xn->name,
					             known ? swim_state_str(st.state) : "unknown");
					return;
				}
				if (at - xn->leave_at > r->leave_max_ms)
					r->leave_max_ms = at - xn->leave_at;
			}
		}
	}
	if (crashed) {
		r->detect_first_mean_ms = first_sum / crashed;
		r->detect_all_mean_ms = all_sum / crashed;
	}
}

/* Picks k distinct members, none of them member 0 (the seed) or already chosen. */
static void swimsim_choose(struct swimsim *sim, bool *taken, int *out, uint32_t k)
{
	for (uint32_t c = 0; c < k; c++) {
		int x;
		do
			x = 1 + (int)swimsim_below(sim, (uint64_t)sim->n - 1);
		while (taken[x]);
		taken[x] = true;
		out[c] = x;
	}
}

static void swimsim_phase(struct swimsim *sim)
{
	sim->phase++;
	if (sim->p.verbose)
		fprintf(stderr, "%8" PRIu64 " -- phase %d\n", sim->now, sim->phase);
	if (sim->phase == 2) {
		uint32_t nfault = sim->p.crashes + sim->p.leaves + sim->p.slow + 1;
		if (nfault > (uint32_t)sim->n - 1) {
			swimsim_fail(sim, "too few members for the faults asked");
			return;
		}
		bool *taken = calloc((size_t)sim->n, sizeof(*taken));
		int *pick = calloc(nfault, sizeof(*pick));
		if (!taken || !pick)
			abort();
		swimsim_choose(sim, taken, pick, nfault);
		for (uint32_t k = 0; k < nfault; k++)
			sim->col[pick[k]] = (int)k; /* their columns of failed_at/left_at */
		uint32_t c = 0;
		for (uint32_t i = 0; i < sim->p.crashes; i++) {
			int x = pick[c++];
			sim->nodes[x].crash_at = sim->now + swimsim_below(sim, 5000);
			swimsim_at(sim, sim->nodes[x].crash_at, SIM_EV_CRASH, x);
		}
		for (uint32_t i = 0; i < sim->p.leaves; i++) {
			int x = pick[c++];
			sim->nodes[x].leave_at = sim->now + swimsim_below(sim, 5000);
			swimsim_at(sim, sim->nodes[x].leave_at, SIM_EV_LEAVE, x);
		}
		for (uint32_t i = 0; i < sim->p.slow; i++)
			sim->nodes[pick[c++]].slow = true;
		sim->partitioned = pick[c++];
		free(taken);
		free(pick);
		/* the verdict after the last crash's bound */
		swimsim_at(sim, sim->now + 5000 + sim->r->detect_bound_ms + SWIMSIM_SPREAD_MS,
		           SIM_EV_PHASE, -1);
	} else if (sim->phase == 3) {
		swimsim_judge_faults(sim);
		for (int i = 0; i < sim->n; i++)
			sim->nodes[i].slow = false;
		if (sim->done || sim->p.partition_ms == 0) {
			sim->done = true;
			return;
		}
		sim->nodes[sim->partitioned].group = 1;
		sim->phase3_at = sim->now;
		swimsim_at(sim, sim->now + sim->p.partition_ms, SIM_EV_PHASE, -1);
	} else if (sim->phase == 4) {
		sim->nodes[sim->partitioned].group = 0;
		sim->heal_at = sim->now;
		sim->check_deadline = sim->now + sim->r->heal_bound_ms;
		swimsim_at(sim, sim->now + SWIMSIM_CHECK_MS, SIM_EV_CHECK, -1);
	}
}

static void swimsim_check(struct swimsim *sim)
{
	char why[200];
	bool ok = swimsim_converged(sim, why, sizeof(why));
	if (sim->phase == 1) {
		if (ok) {
			sim->r->converge_ms = sim->now - sim->last_start;
			swimsim_at(sim, sim->now + 2000, SIM_EV_PHASE, -1);
			return;
		}
		if (sim->now >= sim->check_deadline) {
			swimsim_fail(sim, "no convergence %" PRIu64 " ms after the joins: %s",
			             sim->r->converge_bound_ms, why);
			return;
		}
	} else if (sim->phase == 4) {
		if (ok) {
			sim->r->heal_ms = sim->now - sim->heal_at;
			sim->done = true;
			return;
		}
		if (sim->now >= sim->check_deadline) {
			swimsim_fail(sim, "no convergence %" PRIu64 " ms after the heal: %s",
			             sim->r->heal_bound_ms, why);
			return;
		}
	}
	swimsim_at(sim, sim->now + SWIMSIM_CHECK_MS, SIM_EV_CHECK, -1);
}

/* ---- the run ---- */

static void swimsim_reconnect(struct swimsim *sim, int i)
{
	struct swimsim_node *nd = &sim->nodes[i];
	swimsim_at(sim, sim->now + SWIMSIM_RECONNECT_MS, SIM_EV_RECONNECT, i);
	if (!swimsim_live(nd) || nd->n_failed == 0)
		return;
	/* Serf reconnect(): with probability failed / alive, join a random failed member */
	double alive = (double)swim_num_alive(nd->s);
	if (alive < 1)
		alive = 1;
	if (!swimsim_chance(sim, (double)nd->n_failed / alive))
		return;
	int x = nd->failed[swimsim_below(sim, nd->n_failed)];
	swim_join(nd->s, sim->now, &sim->nodes[x].addr);
	swimsim_drain(sim, i);
}

static void swimsim_start(struct swimsim *sim, int i)
{
	struct swimsim_node *nd = &sim->nodes[i];
	struct swim_config c = sim->cfg;
	c.name = nd->name;
	c.addr = nd->addr;
	static const uint8_t meta[] = {0xff, 0x81, 0xa4, 'r', 'o', 'l',
	                               'e',  0xa4, 'n',  'o', 'd', 'e'};
	c.meta = meta;
	c.meta_len = sizeof(meta);
	c.seed = sim->p.seed * 0x100000001b3ull + (uint64_t)i;
	nd->s = swim_new(&c, NULL, sim->now);
	if (!nd->s) {
		swimsim_fail(sim, "swim_new failed");
		return;
	}
	nd->started = true;
	sim->last_start = sim->now;
	if (i > 0) {
		/* join a random member started before */
		int j;
		do
			j = (int)swimsim_below(sim, (uint64_t)i);
		while (!sim->nodes[j].started);
		swim_join(nd->s, sim->now, &sim->nodes[j].addr);
	}
	swimsim_drain(sim, i);
	swimsim_at(sim, sim->now + swimsim_below(sim, SWIMSIM_RECONNECT_MS), SIM_EV_RECONNECT, i);
}

static void swimsim_step(struct swimsim *sim, struct swimsim_event *ev)
{
	int i = ev->node;
	struct swimsim_node *nd = i >= 0 ? &sim->nodes[i] : NULL;
	switch (ev->kind) {
	case SIM_EV_DELIVER:
		if (swimsim_reachable(sim, ev->peer, i)) {
			for (size_t k = 0; k < ev->pkt->n; k++) {
				if (sim->p.verbose > 2) {
					const struct swim_msg *m = &ev->pkt->msgs[k];
					fprintf(stderr,
					        "%8" PRIu64 " %s <- %s: %s seq %" PRIu32
					        " node %s inc %" PRIu32 " from %s\n",
					        sim->now, nd->name, sim->nodes[ev->peer].name,
					        swim_msg_type_str(m->type), m->seq, m->node,
					        m->incarnation, m->from);
				}
				if (swim_recv(nd->s, sim->now, &sim->nodes[ev->peer].addr,
				              &ev->pkt->msgs[k]) != 0)
					swimsim_fail(sim, "%s rejected a %s from %s", nd->name,
					             swim_msg_type_str(ev->pkt->msgs[k].type),
					             sim->nodes[ev->peer].name);
			}
			swimsim_drain(sim, i);
		}
		swimsim_pkt_free(ev->pkt);
		break;
	case SIM_EV_TIMER:
		if (swimsim_up(nd) && ev->gen == nd->timer_gen) {
			nd->timer_at = 0;
			swim_tick(nd->s, sim->now);
			swimsim_drain(sim, i);
		}
		break;
	case SIM_EV_PUSH_PULL:
		swimsim_push_pull(sim, i, ev->peer, ev->flag);
		break;
	case SIM_EV_TCP_RESULT:
		if (swimsim_up(nd)) {
			swim_tcp_ping_result(nd->s, sim->now, ev->tcp_seq, ev->flag);
			swimsim_drain(sim, i);
		}
		break;
	case SIM_EV_RECONNECT:
		swimsim_reconnect(sim, i);
		break;
	case SIM_EV_START:
		swimsim_start(sim, i);
		break;
	case SIM_EV_CRASH:
		nd->crashed = true;
		break;
	case SIM_EV_LEAVE:
		if (swimsim_up(nd)) {
			nd->leaving = true;
			swim_leave(nd->s, sim->now);
			swimsim_drain(sim, i);
			swimsim_at(sim, sim->now + SWIMSIM_LEAVE_TIMEOUT + SWIMSIM_LEAVE_DELAY_MS,
			           SIM_EV_STOP, i);
		}
		break;
	case SIM_EV_STOP:
		nd->stopped = true;
		break;
	case SIM_EV_PHASE:
		swimsim_phase(sim);
		break;
	case SIM_EV_CHECK:
		swimsim_check(sim);
		break;
	}
}

/* Runs one seed; 0 when every invariant held, else -1 with r->error set. */
static inline int swimsim_run(const struct swimsim_params *p, struct swimsim_result *r)
{
	memset(r, 0, sizeof(*r));
	if (p->nodes < 2 || p->nodes > SWIMSIM_NODES_MAX || p->delay_max_ms < p->delay_min_ms) {
		snprintf(r->error, sizeof(r->error), "bad parameters");
		return -1;
	}
	struct swimsim sim = {0};
	sim.p = *p;
	sim.r = r;
	sim.rng = p->seed;
	sim.n = (int)p->nodes;
	swim_config_lan(&sim.cfg);
	sim.nodes = calloc((size_t)sim.n, sizeof(*sim.nodes));
	sim.col = malloc((size_t)sim.n * sizeof(*sim.col));
	if (!sim.nodes || !sim.col)
		abort();
	for (int i = 0; i < sim.n; i++) {
		struct swimsim_node *nd = &sim.nodes[i];
		snprintf(nd->name, sizeof(nd->name), "n%d", i);
		nd->addr.len = 4;
		nd->addr.ip[0] = 10;
		nd->addr.ip[1] = (uint8_t)(i >> 16);
		nd->addr.ip[2] = (uint8_t)(i >> 8);
		nd->addr.ip[3] = (uint8_t)i;
		nd->addr.port = 7946;
		sim.col[i] = -1;
	}
	/* columns of failed_at/left_at: only for the members phase 2 picks */
	sim.n_cols = (int)(p->crashes + p->leaves + p->slow + 1);
	sim.failed_at = calloc((size_t)sim.n * (size_t)sim.n_cols, sizeof(uint64_t));
	sim.left_at = calloc((size_t)sim.n * (size_t)sim.n_cols, sizeof(uint64_t));
	if (!sim.failed_at || !sim.left_at)
		abort();
	sim.partitioned = -1;

	const struct swim_config *c = &sim.cfg;
	r->suspicion_min_ms =
	    swim_suspicion_timeout_ms(c->suspicion_mult, p->nodes, c->probe_interval_ms);
	r->suspicion_max_ms = r->suspicion_min_ms * c->suspicion_max_timeout_mult;
	r->detect_bound_ms = 2ull * c->awareness_max * c->probe_interval_ms + r->suspicion_max_ms +
	                     SWIMSIM_SPREAD_MS;
	r->converge_bound_ms =
	    30000 + 2 * swim_push_pull_interval_ms(c->push_pull_interval_ms, p->nodes);
	r->heal_bound_ms = 3 * SWIMSIM_RECONNECT_MS + r->suspicion_max_ms;

	/* phase 1: staggered starts */
	sim.phase = 1;
	swimsim_at(&sim, 0, SIM_EV_START, 0);
	uint64_t last = 0;
	for (int i = 1; i < sim.n; i++) {
		uint64_t at = 1 + swimsim_below(&sim, p->join_spread_ms ? p->join_spread_ms : 1);
		last = at > last ? at : last;
		swimsim_at(&sim, at, SIM_EV_START, i);
	}
	sim.check_deadline = last + r->converge_bound_ms;
	swimsim_at(&sim, last + SWIMSIM_CHECK_MS, SIM_EV_CHECK, -1);

	while (!sim.done && sim.n_heap > 0) {
		struct swimsim_event ev = swimsim_pop(&sim);
		sim.now = ev.at;
		swimsim_step(&sim, &ev);
	}
	r->sim_ms = sim.now;
	if (!sim.done && !r->error[0])
		snprintf(r->error, sizeof(r->error), "the simulation ran out of events");

	while (sim.n_heap > 0) {
		struct swimsim_event ev = swimsim_pop(&sim);
		if (ev.kind == SIM_EV_DELIVER)
			swimsim_pkt_free(ev.pkt);
	}
	for (int i = 0; i < sim.n; i++) {
		swim_free(sim.nodes[i].s);
		free(sim.nodes[i].failed);
	}
	free(sim.heap);
	free(sim.nodes);
	free(sim.col);
	free(sim.failed_at);
	free(sim.left_at);
	return r->error[0] ? -1 : 0;
}

static inline void swimsim_print(FILE *f, const struct swimsim_params *p,
                                 const struct swimsim_result *r)
{
	fprintf(f,
	        "seed %" PRIu64 " n %" PRIu32 ": converge %.1fs (bound %.0fs); crash detection: "
	        "first mean %.1fs max %.1fs, all mean %.1fs max %.1fs (suspicion %.0f-%.0fs, "
	        "bound %.0fs); leave %.1fs; heal %.1fs (bound %.0fs); flaps %" PRIu64
	        "; suspicions %" PRIu64 "; awareness max %" PRIu32 "; packets %" PRIu64
	        " (lost %" PRIu64 ", max %" PRIu64 " B); sim %.0fs\n",
	        p->seed, p->nodes, r->converge_ms / 1e3, r->converge_bound_ms / 1e3,
	        r->detect_first_mean_ms / 1e3, r->detect_first_max_ms / 1e3,
	        r->detect_all_mean_ms / 1e3, r->detect_all_max_ms / 1e3, r->suspicion_min_ms / 1e3,
	        r->suspicion_max_ms / 1e3, r->detect_bound_ms / 1e3, r->leave_max_ms / 1e3,
	        r->heal_ms / 1e3, r->heal_bound_ms / 1e3, r->flaps, r->suspicions, r->max_awareness,
	        r->packets, r->lost, r->max_packet, r->sim_ms / 1e3);
}

#endif

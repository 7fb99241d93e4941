/* swim.h: memberlist's SWIM + Lifeguard membership, a pure state machine (no I/O, clock or
 * global randomness of its own). */
#ifndef MUSTER_SWIM_H
#define MUSTER_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Usage (model: etcd-io/raft, daemons/raftd/raft.h). One thread drives a member:
 *
 *	s = swim_new(&config, &ops, now);
 *	loop:
 *		wait until swim_next_deadline(s) or a packet;
 *		swim_tick(s, now), or swim_recv(s, now, from, msg) per core message;
 *		do each effect of swim_effects(s, &n): send, TCP ping, push/pull, event;
 *		swim_effects_clear(s);
 *
 * Every call taking now_ms first runs what fell due by then (so a message never beats a timer
 * that expired before it arrived). Effects, and everything they point to, belong to s and stay
 * valid until swim_effects_clear(); messages given to swim_recv() are only borrowed. Between two
 * clears at most SWIM_FX_MAX effects and SWIM_OUT_BYTES_MAX bytes are queued; more are dropped
 * and counted (drain after every call and this never happens).
 *
 * The daemon maps struct swim_msg to memberlist's wire format (§4.3; mlwire.h), decodes packets
 * (compound, compress, CRC, encryption, label) and gives the core messages here one by one;
 * user (Serf) messages go to the Serf layer, never here. swim_msg_size() is the exact size of
 * a message in go-msgpack's encoding, which the core uses to pack packets.
 *
 * Mapping to mlwire.h (types and states have the same numbers; names there are bytes, here
 * NUL-terminated strings; an address there is bytes + port, here struct swim_addr):
 *   mlwire_ping            seq_no, node, source_addr/source_port, source_node
 *                          = seq, node, source, from
 *   mlwire_indirect_ping   seq_no, target/port, node, nack, source_*  = seq, addr, node, nack,
 *                          source, from
 *   mlwire_ack, _nack      seq_no, payload = seq, payload
 *   mlwire_suspect (3, 5)  incarnation, node, from (type SWIM_MSG_SUSPECT or SWIM_MSG_DEAD)
 *   mlwire_alive           incarnation, node, addr/port, meta, vsn/vsn_len = incarnation, node,
 *                          addr, meta, vsn/vsn_len (a vsn_len other than 0 or 6 is malformed)
 *   mlwire_push_node       = struct swim_node_state (state: same numbers)
 * A SWIM_MSG_USER in an effect is encoded with mlwire_enc_user().
 */

#define SWIM_NAME_MAX            512         /* bytes of a name, no NUL (= MLWIRE_NAME_MAX) */
#define SWIM_META_MAX            512         /* MetaMaxSize (§4.1): node meta = Serf tags */
#define SWIM_PAYLOAD_MAX         65536       /* a received ack's payload (= MLWIRE_PAYLOAD_MAX) */
#define SWIM_ACK_PAYLOAD_MAX     1024        /* what ops.ack_payload may put in our acks */
#define SWIM_PACKET_MAX          65507       /* cap on config.udp_buffer_size (a UDP datagram) */
#define SWIM_MEMBERS_MAX         65536       /* the table; alive messages about more are dropped */
#define SWIM_BCAST_MAX           65536       /* queued broadcasts (one per member: coalesced) */
#define SWIM_RELAYS_MAX          256         /* indirect pings relayed for others at once */
#define SWIM_INDIRECT_MAX        16          /* cap on config.indirect_checks */
#define SWIM_GOSSIP_MAX          64          /* cap on config.gossip_nodes */
#define SWIM_SUSPICION_MULT_MAX  32          /* cap on config.suspicion_mult (k = mult − 2) */
#define SWIM_AWARENESS_MAX       64          /* cap on config.awareness_max */
#define SWIM_RETRANSMIT_MULT_MAX 64          /* cap on config.retransmit_mult */
#define SWIM_USER_BCAST_MAX      256         /* user broadcasts taken per packet */
#define SWIM_FX_MAX              65536       /* effects queued between two swim_effects_clear() */
#define SWIM_OUT_BYTES_MAX       (64u << 20) /* bytes those effects point to */
#define SWIM_VSN_LEN             6           /* [pmin, pmax, pcur, dmin, dmax, dcur] */
#define SWIM_NEVER               UINT64_MAX

/* Message types: memberlist's numbers (§4.3), so the codec maps them one to one. */
enum swim_msg_type {
	SWIM_MSG_PING = 0,
	SWIM_MSG_INDIRECT_PING = 1,
	SWIM_MSG_ACK = 2,
	SWIM_MSG_SUSPECT = 3,
	SWIM_MSG_ALIVE = 4,
	SWIM_MSG_DEAD = 5,
	SWIM_MSG_USER = 8, /* only in effects: a Serf broadcast taken from ops.user_broadcasts */
	SWIM_MSG_NACK = 11,
};

/* memberlist's node states, with their push/pull numbers (§4.3 pushNodeState.State). */
enum swim_state { SWIM_ALIVE = 0, SWIM_SUSPECT = 1, SWIM_DEAD = 2, SWIM_LEFT = 3 };

/* An IPv4 (len 4) or IPv6 (len 16) address and a port; len 0 means absent. */
struct swim_addr {
	uint8_t ip[16];
	uint8_t len;
	uint16_t port;
};

/*
 * One core message (§4.3). Which fields mean something depends on the type; NULL strings read
 * as "". In effects every pointer points into memory owned by the core.
 *   PING           seq, node (target, may be ""), source + from (SourceAddr/Port/Node)
 *   INDIRECT_PING  seq, addr (Target/Port), node, nack, source + from
 *   ACK            seq, payload (Serf: version byte + msgpack coordinate)
 *   NACK           seq
 *   SUSPECT, DEAD  incarnation, node, from (dead with from == node: a graceful leave)
 *   ALIVE          incarnation, node, addr (Addr/Port), meta, vsn (vsn_len 0 or 6)
 *   USER           payload (the message after its type byte)
 */
struct swim_msg {
	enum swim_msg_type type;
	uint32_t seq;
	uint32_t incarnation;
	const char *node;
	const char *from;
	struct swim_addr addr;
	struct swim_addr source;
	bool nack;
	uint8_t vsn_len;
	uint8_t vsn[SWIM_VSN_LEN];
	const uint8_t *meta;
	size_t meta_len;
	const uint8_t *payload;
	size_t payload_len;
};

/* A member as push/pull carries it (§4.3 pushNodeState) and as events report it. */
struct swim_node_state {
	const char *name;
	struct swim_addr addr;
	const uint8_t *meta;
	size_t meta_len;
	uint32_t incarnation;
	enum swim_state state;
	uint8_t vsn[SWIM_VSN_LEN];
	uint64_t state_change_ms; /* when the state last changed (ignored by the merge) */
};

enum swim_fx_type {
	SWIM_FX_SEND,     /* send msgs[0..n_msgs) to `to` as one UDP packet (compound when n > 1) */
	SWIM_FX_TCP_PING, /* memberlist's TCP fallback ping (msgs[0]) to `to`; report the outcome
	                     with swim_tcp_ping_result() before deadline_ms */
	SWIM_FX_PUSH_PULL, /* a TCP state exchange with `to` (join: the Join flag); on success
	                      swim_merge_remote_state() the remote's nodes */
	SWIM_FX_EVENT,     /* a membership event about node */
};

enum swim_event {
	SWIM_EV_JOIN,     /* a member became alive (new, or back from dead/left); also self */
	SWIM_EV_UPDATE,   /* an alive member's meta changed */
	SWIM_EV_SUSPECT,  /* a member is suspected (from: the accuser) */
	SWIM_EV_ALIVE,    /* a suspected member refuted (suspect -> alive, no Serf event) */
	SWIM_EV_FAILED,   /* a member was declared dead (from: who declared it) */
	SWIM_EV_LEFT,     /* a member left gracefully (dead with from == node); also self */
	SWIM_EV_REFUTE,   /* we refuted an accusation about ourselves (node: us, new incarnation) */
	SWIM_EV_CONFLICT, /* an alive message names a known member at another address (node: the
	                     message's view; the table keeps ours) */
	SWIM_EV_LEAVE_DONE, /* our leave broadcast went out (or nobody is alive to hear it) */
	SWIM_EV_PING,       /* a direct probe was acked: rtt_ms and the ack's payload */
	SWIM_EV_TCP_ONLY,   /* "UDP probes failed, network may be misconfigured" (§4.2 step 4) */
};

struct swim_fx {
	enum swim_fx_type type;
	struct swim_addr to;
	const char *to_name; /* the peer's name ("" when not known, e.g. a join) */
	const struct swim_msg *msgs;
	size_t n_msgs;
	uint32_t seq;         /* TCP_PING */
	uint64_t deadline_ms; /* TCP_PING */
	bool join;            /* PUSH_PULL */
	enum swim_event event;
	struct swim_node_state node; /* EVENT: the member after the change */
	const char *from;            /* EVENT SUSPECT, FAILED: the accuser */
	uint64_t rtt_ms;             /* EVENT PING */
	const uint8_t *payload;      /* EVENT PING */
	size_t payload_len;
};

struct swim_config {
	const char *name;      /* this member (copied): 1..SWIM_NAME_MAX bytes */
	struct swim_addr addr; /* advertised address and port */
	const uint8_t *meta;   /* copied; <= SWIM_META_MAX */
	size_t meta_len;
	uint8_t vsn[SWIM_VSN_LEN];
	uint64_t seed; /* the core's own PRNG (shuffles, random peers, staggers) */
	/* §4.1, in milliseconds */
	uint32_t probe_interval_ms;
	uint32_t probe_timeout_ms; /* < probe_interval_ms */
	uint32_t gossip_interval_ms;
	uint32_t gossip_nodes;
	uint32_t indirect_checks;
	uint32_t retransmit_mult;
	uint32_t suspicion_mult;
	uint32_t suspicion_max_timeout_mult;
	uint32_t awareness_max; /* Lifeguard's AwarenessMaxMultiplier: score in [0, max) */
	uint32_t gossip_to_the_dead_ms;
	uint32_t push_pull_interval_ms; /* 0: no periodic push/pull */
	uint32_t dead_node_reclaim_ms;  /* 0: a dead name is never reclaimed by another address */
	bool disable_tcp_pings;
	uint32_t udp_buffer_size; /* packet payload limit (1400) */
	uint32_t
	    packet_overhead; /* bytes the daemon's layers add to a packet (label, encryption) */
};

/*
 * What the core asks of the caller while it runs (either may be NULL).
 * user_broadcasts: Serf's queued broadcasts to pack after the core's own (memberlist's
 * Delegate.GetBroadcasts): fill out[] with messages whose lengths, each plus overhead, add up
 * to at most limit; the core copies them at once. ack_payload: what to put in an ack (Serf: a
 * Vivaldi coordinate), written to buf; its length.
 */
struct swim_user_msg {
	const uint8_t *data;
	size_t len;
};
struct swim_ops {
	void *arg;
	size_t (*user_broadcasts)(void *arg, size_t overhead, size_t limit,
	                          struct swim_user_msg *out, size_t out_max);
	size_t (*ack_payload)(void *arg, uint8_t *buf, size_t size);
};

struct swim_stats {
	uint64_t probes, probe_failures, indirect_pings, tcp_pings, tcp_only;
	uint64_t suspects, deads, refutes, relays, nacks_sent;
	uint64_t malformed, wrong_node, conflicts, table_full, relays_full, bcast_dropped;
	uint64_t fx_dropped, pruned;
};

struct swim;

/* memberlist's DefaultLANConfig / DefaultWANConfig / DefaultLocalConfig (§4.1), name and
 * address left unset; vsn as serf 0.9.4 sends it (tests/gossip: 1 5 2 2 5 5). */
void swim_config_lan(struct swim_config *c);
void swim_config_wan(struct swim_config *c);
void swim_config_local(struct swim_config *c);

/* NULL when the config is invalid. Our own alive is queued and a JOIN event for us emitted. */
struct swim *swim_new(const struct swim_config *c, const struct swim_ops *ops, uint64_t now_ms);
void swim_free(struct swim *s);

/* Runs everything due by now_ms. */
void swim_tick(struct swim *s, uint64_t now_ms);
/* When swim_tick() has something to do next (SWIM_NEVER: nothing). */
uint64_t swim_next_deadline(const struct swim *s);
/* One core message of a packet from `from` (the UDP source). 0, or -1 when malformed. */
int swim_recv(struct swim *s, uint64_t now_ms, const struct swim_addr *from,
              const struct swim_msg *m);
/* The outcome of a SWIM_FX_TCP_PING (ignored unless it is the current probe's). */
void swim_tcp_ping_result(struct swim *s, uint64_t now_ms, uint32_t seq, bool ok);
/* Join through addr: a SWIM_FX_PUSH_PULL with join set. */
void swim_join(struct swim *s, uint64_t now_ms, const struct swim_addr *addr);
/* Merge a push/pull's remote nodes (memberlist's mergeState). 0, or -1 when one is malformed
 * (then nothing is merged). */
int swim_merge_remote_state(struct swim *s, uint64_t now_ms, const struct swim_node_state *nodes,
                            size_t n);
/* Our side of a push/pull: every member (up to max); pointers valid until the next call that
 * changes s. Returns the number written; swim_num_members() tells how many there are. */
size_t swim_push_pull_state(const struct swim *s, struct swim_node_state *out, size_t max);
/* Graceful leave (§4.2 step 9): dead about ourselves with From == us. SWIM_EV_LEAVE_DONE comes
 * when that broadcast has gone out RetransmitMult·ceil(log10(N+1)) times. -1 if already left. */
int swim_leave(struct swim *s, uint64_t now_ms);
/* New meta for ourselves (Serf tags): a new incarnation, broadcast. -1 if too long or left. */
int swim_set_meta(struct swim *s, uint64_t now_ms, const uint8_t *meta, size_t len);

const struct swim_fx *swim_effects(struct swim *s, size_t *n);
void swim_effects_clear(struct swim *s);

/* Queries. swim_member(): false when name is not in the table; out's pointers are valid until
 * the next call that changes s. */
bool swim_member(const struct swim *s, const char *name, struct swim_node_state *out);
size_t swim_num_members(const struct swim *s); /* memberlist's estNumNodes: all states, us too */
size_t swim_num_alive(const struct swim *s);   /* alive or suspect, us included */
const char *swim_name(const struct swim *s);
uint32_t swim_incarnation(const struct swim *s);
uint32_t swim_awareness(const struct swim *s); /* Lifeguard's score, 0..awareness_max-1 */
bool swim_has_left(const struct swim *s);
size_t swim_bcast_len(const struct swim *s); /* broadcasts queued */
/* A suspected member's timer: when it fires and how many confirmations it has (false: none). */
bool swim_suspicion(const struct swim *s, const char *name, uint64_t *deadline_ms,
                    uint32_t *confirmations, uint32_t *k);
const struct swim_stats *swim_stats(const struct swim *s);

/* Exact size of m in go-msgpack's encoding, its type byte included (§4.3). */
size_t swim_msg_size(const struct swim_msg *m);

/* The formulas of §4.1–§4.2, for the core, its tests and the daemon. */
/* min suspicion timeout = mult · max(1, log10(max(1, n))) · interval */
uint64_t swim_suspicion_timeout_ms(uint32_t mult, size_t n, uint32_t interval_ms);
/* timeout after c of k confirmations: max - ln(c+1)/ln(k+1)·(max - min), at least min */
uint64_t swim_suspicion_after_ms(uint32_t c, uint32_t k, uint64_t min_ms, uint64_t max_ms);
/* retransmits = mult · ceil(log10(n+1)) */
uint32_t swim_retransmit_limit(uint32_t mult, size_t n);
/* push/pull interval for n members: × (ceil(log2 n − 5) + 1) above 32 members */
uint64_t swim_push_pull_interval_ms(uint32_t interval_ms, size_t n);

const char *swim_state_str(enum swim_state st);
const char *swim_event_str(enum swim_event ev);
const char *swim_msg_type_str(enum swim_msg_type t);

#endif

/* serf.h: the Serf layer of gossipd (members with tags and intents, user events, queries,
 * push-pull state, reaping, reconnect, graceful leave) as a pure state machine over swim. */
#ifndef MUSTER_GOSSIPD_SERF_H
#define MUSTER_GOSSIPD_SERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "daemons/gossipd/serfwire.h"
#include "daemons/gossipd/swim.h"

/*
 * Spec §4.4; behaviour as hashicorp/serf 0.9.4 (serf.go, delegate.go, event.go, query.go).
 * Same model as swim.h: no clock (now_ms is passed in), no I/O, a seeded PRNG, effects drained
 * by the caller. The Serf owns its swim core (serf_swim()): the daemon loop is
 *
 *	s = serf_new(&sconf, &mconf, now);   creates the swim core with Serf's ops
 *	loop:
 *		wait until min(serf_next_deadline(s), swim_next_deadline(sw)) or a packet;
 *		serf_tick(s, now); swim_tick(sw, now);
 *		memberlist core messages: swim_recv(sw, ...);
 *		memberlist user messages (type 8 payload): serf_recv(s, now, payload, len);
 *		push/pull: send serf_local_state() as the user state, merge the remote's with
 *		           serf_merge_remote_state() (after swim_merge_remote_state());
 *		for each swim effect: SWIM_FX_EVENT -> serf_swim_event(s, now, fx), the rest as
 *swim.h; swim_effects_clear(sw); do each effect of serf_effects(s, &n); serf_effects_clear(s);
 *
 * Rebroadcasts: Serf's three broadcast queues (intents, events, queries: memberlist
 * TransmitLimitedQueue semantics, each message sent RetransmitMult·ceil(log10(N+1)) times,
 * fewest transmissions first) live here and are handed to swim through its user_broadcasts
 * hook, so they piggyback on swim's packets; nothing else is needed from the daemon.
 *
 * Effects and everything they point to belong to s and stay valid until serf_effects_clear().
 * Messages given to serf_recv() and serf_merge_remote_state() are only borrowed.
 */

/* serf/config.go DefaultConfig and Consul's overrides (§4.4), milliseconds. */
#define SERF_EVENT_BUFFER          SERFWIRE_EVENT_BUFFER /* Config.EventBuffer */
#define SERF_QUERY_BUFFER          512                   /* Config.QueryBuffer */
#define SERF_QUERY_TIMEOUT_MULT    16
#define SERF_REAP_INTERVAL_MS      15000
#define SERF_RECONNECT_INTERVAL_MS 30000
#define SERF_RECONNECT_TIMEOUT_MS  (72ull * 3600 * 1000) /* Consul; serf: 24 h */
#define SERF_TOMBSTONE_TIMEOUT_MS  (24ull * 3600 * 1000)
#define SERF_RECENT_INTENT_MS      (5u * 60 * 1000) /* RecentIntentTimeout */
#define SERF_BROADCAST_TIMEOUT_MS  5000
#define SERF_LEAVE_PROPAGATE_MS    3000 /* Consul; serf: 1 s */
#define SERF_MIN_QUEUE_DEPTH       4096 /* Consul MinQueueDepth: limit max(4096, 2N) */
#define SERF_RC_TM_TAG             "rc_tm"

/* Our bounds. */
#define SERF_MEMBERS_MAX      SWIM_MEMBERS_MAX
#define SERF_INTENTS_MAX      65536            /* buffered intents for unknown nodes */
#define SERF_QUERIES_OUT_MAX  256              /* our queries collecting responses at once */
#define SERF_QUERY_IDS_MAX    256              /* distinct queries remembered per Lamport time */
#define SERF_RESPONDERS_MAX   SWIM_MEMBERS_MAX /* acks or responses kept per query */
#define SERF_QUEUE_DEPTH_MAX  (2 * SWIM_MEMBERS_MAX) /* per broadcast queue */
#define SERF_REGEX_MAX        256 /* a tag filter's expression: longer never matches */
#define SERF_FX_MAX           65536
#define SERF_FILTER_NODES_MAX SERFWIRE_FILTER_NODES_MAX
#define SERF_NEVER            UINT64_MAX

/* serf.MemberStatus (its numbers). */
enum serf_status {
	SERF_STATUS_NONE = 0,
	SERF_STATUS_ALIVE = 1,
	SERF_STATUS_LEAVING = 2,
	SERF_STATUS_LEFT = 3,
	SERF_STATUS_FAILED = 4,
};

/* serf.SerfState of ourselves. */
enum serf_state { SERF_ALIVE = 0, SERF_LEAVING = 1, SERF_LEFT = 2 };

struct serf_config {
	uint64_t seed;
	uint64_t reap_interval_ms;
	uint64_t reconnect_interval_ms;
	uint64_t reconnect_timeout_ms;
	uint64_t tombstone_timeout_ms;
	uint64_t recent_intent_ms;
	uint64_t broadcast_timeout_ms;
	uint64_t leave_propagate_ms;
	uint32_t query_timeout_mult;
	uint32_t min_queue_depth;
	/* Serf's ping delegate: the ack payload (a Vivaldi coordinate); NULL: none. */
	void *arg;
	size_t (*ack_payload)(void *arg, uint8_t *buf, size_t size);
};

/* Consul's LAN defaults (the constants above). */
void serf_config_consul(struct serf_config *c);

/* A member (serf.Member + memberState). Pointers valid until the next call changing s. */
struct serf_member_info {
	const char *name;
	struct swim_addr addr;
	const uint8_t *meta;
	size_t meta_len;
	const struct serfwire_tag *tags; /* decoded from meta; views into it */
	size_t n_tags;
	enum serf_status status;
	uint64_t status_ltime;
	uint64_t leave_ms; /* when it became failed/left (0 while alive or leaving) */
	uint8_t vsn[SWIM_VSN_LEN];
};

enum serf_fx_type {
	SERF_FX_MEMBER,         /* a member event (event, member) */
	SERF_FX_USER_EVENT,     /* ltime, name, payload, cc */
	SERF_FX_QUERY,          /* a query to answer: ltime, id, name, payload, source_node, to
	                           (where responses go), deadline_ms; answer with serf_respond() */
	SERF_FX_SEND,           /* UDP: data (a Serf message) as a memberlist user message to `to`
	                           (query acks, responses, relays) */
	SERF_FX_QUERY_ACK,      /* our query ltime/id: an ack from `from` (first one per node) */
	SERF_FX_QUERY_RESPONSE, /* our query ltime/id: `from`'s payload (first one per node) */
	SERF_FX_QUERY_DONE,     /* our query ltime/id timed out: no more acks or responses */
	SERF_FX_RECONNECT,      /* push-pull join to member (a failed one): swim_join() */
	SERF_FX_LEAVE_DONE,     /* serf_leave() finished; error is NULL or serf's text */
};

enum serf_member_event {
	SERF_EV_JOIN,
	SERF_EV_LEAVE,
	SERF_EV_FAILED,
	SERF_EV_UPDATE,
	SERF_EV_REAP,
};

struct serf_fx {
	enum serf_fx_type type;
	enum serf_member_event event;
	struct serf_member_info member; /* MEMBER, RECONNECT */
	uint64_t ltime;
	uint32_t id;
	struct serfwire_bytes name;
	struct serfwire_bytes payload;
	bool cc;
	bool internal;           /* QUERY: a _serf_ query other than ping (keyring, conflict) */
	const char *source_node; /* QUERY */
	const char *from;        /* QUERY_ACK, QUERY_RESPONSE */
	struct swim_addr to;     /* QUERY (responses), SEND */
	uint8_t relay_factor;    /* QUERY */
	uint64_t deadline_ms;    /* QUERY */
	const uint8_t *data;     /* SEND */
	size_t len;
	const char *error; /* LEAVE_DONE */
};

/* Serf's QueryParam. */
struct serf_query_param {
	const char *const *filter_nodes;
	size_t n_filter_nodes;
	const struct serfwire_tag *filter_tags; /* tag name and regular expression */
	size_t n_filter_tags;
	bool request_ack;
	uint8_t relay_factor;
	uint64_t timeout_ms; /* 0: serf_default_query_timeout_ms() */
};

struct serf_stats {
	uint64_t malformed, intents_ignored, intents_buffered, events_old, events_dup;
	uint64_t queries_old, queries_dup, responses_unknown, responses_dup, bcast_dropped;
	uint64_t fx_dropped, reaped, reconnects;
};

struct serf;

/* NULL when either config is invalid (mc as swim_new; mc->meta are our tags). */
struct serf *serf_new(const struct serf_config *c, const struct swim_config *mc, uint64_t now_ms);
void serf_free(struct serf *s);
struct swim *serf_swim(struct serf *s);

/* Runs the reaper, the reconnector, our queries' timeouts and the leave steps due by now. */
void serf_tick(struct serf *s, uint64_t now_ms);
uint64_t serf_next_deadline(const struct serf *s);

/* A swim SWIM_FX_EVENT (others are ignored): JOIN, UPDATE, FAILED, LEFT, LEAVE_DONE. */
void serf_swim_event(struct serf *s, uint64_t now_ms, const struct swim_fx *fx);
/* A memberlist user message (Serf type byte + body). 0, or -1 when malformed/unknown. */
int serf_recv(struct serf *s, uint64_t now_ms, const uint8_t *msg, size_t len);

/* Push-pull user state (delegate LocalState / MergeRemoteState). Appends to b: 0 or -1. */
int serf_local_state(struct serf *s, struct buf *b);
/* join: the push-pull of a serf_join() with ignore_old (events up to its EventLTime are
 * then ignored). 0, or -1 when malformed (nothing merged). */
int serf_merge_remote_state(struct serf *s, uint64_t now_ms, const uint8_t *p, size_t len,
                            bool join);

/* Serf.Join through addr: a swim push-pull join; call serf_join_done() with its outcome
 * (on success our join intent is broadcast). */
void serf_join(struct serf *s, uint64_t now_ms, const struct swim_addr *addr, bool ignore_old);
/* serf_join() for a caller that runs the join push/pulls itself (several addresses at
 * once): only sets ignore_old; end with serf_join_done(). */
void serf_join_start(struct serf *s, bool ignore_old);
void serf_join_done(struct serf *s, uint64_t now_ms, bool ok);

/* Serf.Leave: our leave intent broadcast, then swim's leave, then LeavePropagateDelay; ends
 * with SERF_FX_LEAVE_DONE. -1 with serf's text if a leave is already in progress. */
int serf_leave(struct serf *s, uint64_t now_ms, const char **err);

/* Serf.UserEvent. -1 with serf's text when over UserEventSizeLimit (512). */
int serf_user_event(struct serf *s, uint64_t now_ms, struct serfwire_bytes name,
                    struct serfwire_bytes payload, bool cc, const char **err);
/* Serf.Query: ltime and id of the new query are returned. -1 with serf's text. */
int serf_query(struct serf *s, uint64_t now_ms, struct serfwire_bytes name,
               struct serfwire_bytes payload, const struct serf_query_param *p, uint64_t *ltime,
               uint32_t *id, const char **err);
/* Query.Respond for a SERF_FX_QUERY we emitted (ltime, id). -1 with serf's text. */
int serf_respond(struct serf *s, uint64_t now_ms, uint64_t ltime, uint32_t id,
                 struct serfwire_bytes payload, const char **err);
/* Serf.RemoveFailedNode[Prune]: a failed member becomes left (prune: forgotten). */
int serf_force_leave(struct serf *s, uint64_t now_ms, const char *node, bool prune,
                     const char **err);
/* A previous run's clocks (the member snapshot): witnessed, older events ignored. */
void serf_restore_clocks(struct serf *s, uint64_t clock, uint64_t event_clock,
                         uint64_t query_clock);
/* Serf.SetTags: new meta for us (swim_set_meta) and the tags our query filters see. */
int serf_set_tags(struct serf *s, uint64_t now_ms, const uint8_t *meta, size_t len);

/* GossipInterval × QueryTimeoutMult × ceil(log10(N+1)) */
uint64_t serf_default_query_timeout_ms(const struct serf *s);

const struct serf_fx *serf_effects(struct serf *s, size_t *n);
void serf_effects_clear(struct serf *s);

bool serf_member(const struct serf *s, const char *name, struct serf_member_info *out);
/* Every member in name order (up to max); serf_num_members() tells how many there are. */
size_t serf_members(const struct serf *s, struct serf_member_info *out, size_t max);
size_t serf_num_members(const struct serf *s);
enum serf_state serf_state(const struct serf *s);
uint64_t serf_clock(const struct serf *s);
uint64_t serf_event_clock(const struct serf *s);
uint64_t serf_query_clock(const struct serf *s);
size_t serf_intents(const struct serf *s); /* buffered intents */
size_t serf_queued(const struct serf *s);  /* broadcasts in the three queues */
const struct serf_stats *serf_stats(const struct serf *s);
const char *serf_status_str(enum serf_status st);
const char *serf_member_event_str(enum serf_member_event ev);

/* For tests and the daemon: the user_broadcasts hook serf_new() gives swim (arg = s). */
size_t serf_user_broadcasts(void *arg, size_t overhead, size_t limit, struct swim_user_msg *out,
                            size_t out_max);

#endif

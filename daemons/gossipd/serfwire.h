/* serfwire.h: Serf's wire messages, node tags, ping coordinate, Lamport clock (§4.4), pure. */
#ifndef MUSTER_GOSSIPD_SERFWIRE_H
#define MUSTER_GOSSIPD_SERFWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * Spec: spec/dns-cli-gossip-raft.md §4.4 (Serf), §4.3 (memberlist), §5.8
 * (coordinates); the field lists are serf's messages.go, keymanager.go and
 * internal_query.go, checked against serf 0.9.4's bytes in tests/gossip.
 *
 * What this module sees is the payload of a memberlist user message (§4.3
 * type 8, whose type byte mlwire strips or adds): one byte of Serf message
 * type, then a msgpack body. The body is what serf's go-msgpack (ugorji)
 * handle writes for a Go struct: a map keyed by the Go field names, in
 * sorted order (the captures in tests/gossip show it: messageQuery's fields
 * are declared LTime, ID, Addr... but travel Addr, Filters, Flags, ID...),
 * integers in their smallest form, strings and []byte as the old msgpack
 * raw (str, with no 8-bit length form: 32-255 bytes take str16), nil
 * slices as nil. Our encoders write exactly that, so what we send is byte for byte
 * what serf sends; our decoders take fields in any order, skip unknown
 * ones, and accept str or bin for bytes, as go-msgpack does.
 *
 * Decoded strings and byte fields are views into the input (no copy, not
 * NUL-terminated): the input must outlive the decoded struct. Arrays that
 * can be long (push-pull member lists and events, node filters) are
 * allocated; *_fini() frees them (only call it on what a decoder filled).
 */

/* Serf limits (serf/config.go, serf.go; §4.4). */
/* Config.UserEventSizeLimit: name+payload, and the encoded event */
#define SERFWIRE_USER_EVENT_SIZE_LIMIT 512
/* serf's UserEventSizeLimit const, the most it lets one configure: no
 * serf sends a bigger event */
#define SERFWIRE_USER_EVENT_SIZE_MAX 9216
/* Config.QuerySizeLimit and QueryResponseSizeLimit: the encoded message */
#define SERFWIRE_QUERY_SIZE_LIMIT          1024
#define SERFWIRE_QUERY_RESPONSE_SIZE_LIMIT 1024
/* Config.EventBuffer: the event slots a push-pull carries */
#define SERFWIRE_EVENT_BUFFER 512
/* memberlist MetaMaxSize: the encoded tags */
#define SERFWIRE_META_MAX 512

/* Our bounds on what a peer may make us hold; each is far above what the
 * limits above let serf send. */
/* members in a push-pull's StatusLTimes and LeftMembers: 10x the largest
 * LAN pools reported (§4.5) */
#define SERFWIRE_MEMBERS_MAX 100000
/* distinct user events sharing one Lamport time in a push-pull slot */
#define SERFWIRE_EVENTS_PER_LTIME_MAX 256
/* a tag filter is at least 14 bytes, so a 1024-byte query holds fewer */
#define SERFWIRE_QUERY_FILTERS_MAX 80
/* node names in one node filter (each at least one byte of the query) */
#define SERFWIRE_FILTER_NODES_MAX 1024
/* keys in a list-keys answer: serf truncates to 1024/25 = 40 */
#define SERFWIRE_KEYS_MAX 64
/* tag pairs: each takes at least 2 of the 511 bytes after the magic byte */
#define SERFWIRE_TAGS_MAX 255
/* Vivaldi dimensionality (coordinate.DefaultConfig: 8) */
#define SERFWIRE_COORD_DIM_MAX 8

/* Serf message types: the first byte of a user message (§4.4). */
enum serfwire_type {
	SERFWIRE_LEAVE = 0,
	SERFWIRE_JOIN = 1,
	SERFWIRE_PUSH_PULL = 2,
	SERFWIRE_USER_EVENT = 3,
	SERFWIRE_QUERY = 4,
	SERFWIRE_QUERY_RESPONSE = 5,
	SERFWIRE_CONFLICT_RESPONSE = 6,
	SERFWIRE_KEY_REQUEST = 7,
	SERFWIRE_KEY_RESPONSE = 8,
	SERFWIRE_RELAY = 9,
};
#define SERFWIRE_TYPE_COUNT 10

/* messageQuery.Flags */
#define SERFWIRE_QUERY_FLAG_ACK          1u
#define SERFWIRE_QUERY_FLAG_NO_BROADCAST 2u

/* Internal queries (serf/internal_query.go; §4.4). */
#define SERFWIRE_INTERNAL_QUERY_PREFIX "_serf_"

/* Bytes of a Go string or []byte. p == NULL is Go's nil slice (written as
 * msgpack nil); p != NULL with len 0 is an empty one (written as ""). For
 * Go strings, which cannot be nil, NULL is written as "". */
struct serfwire_bytes {
	const uint8_t *p;
	size_t len;
};

/* A view of a C string (NULL stays NULL). */
struct serfwire_bytes serfwire_cstr(const char *s);
/* True when the bytes are exactly the C string s. */
bool serfwire_bytes_eq(struct serfwire_bytes b, const char *s);
/* A NUL-terminated heap copy (xmalloc; never NULL). */
char *serfwire_bytes_dup(struct serfwire_bytes b);

/* messageLeave: a graceful leave intent; Prune asks members to forget the
 * node at once (serf's force-leave -prune). */
struct serfwire_leave {
	uint64_t ltime;
	struct serfwire_bytes node;
	bool prune;
};

/* messageJoin: a join intent. */
struct serfwire_join {
	uint64_t ltime;
	struct serfwire_bytes node;
};

/* One StatusLTimes entry (a Go map: order as found on the wire, or as the
 * encoder is given it). */
struct serfwire_status_ltime {
	struct serfwire_bytes node;
	uint64_t ltime;
};

/* userEvent: one event of a push-pull slot. */
struct serfwire_event {
	struct serfwire_bytes name;
	struct serfwire_bytes payload;
};

/* userEvents: one slot of serf's event buffer; a nil slot is !present. */
struct serfwire_event_slot {
	bool present;
	uint64_t ltime;
	struct serfwire_event *events;
	size_t n_events;
};

/* messagePushPull: the Serf state of a memberlist push-pull (its user
 * state). LeftMembers and Events are always written as arrays (serf makes
 * them non-nil). */
struct serfwire_push_pull {
	uint64_t ltime;
	struct serfwire_status_ltime *status_ltimes;
	size_t n_status_ltimes;
	struct serfwire_bytes *left_members;
	size_t n_left_members;
	uint64_t event_ltime;
	struct serfwire_event_slot *events; /* at most SERFWIRE_EVENT_BUFFER */
	size_t n_events;
	uint64_t query_ltime;
};

/* messageUserEvent; CC = "can coalesce". */
struct serfwire_user_event {
	uint64_t ltime;
	struct serfwire_bytes name;
	struct serfwire_bytes payload;
	bool cc;
};

/* messageQuery. Filters hold encoded filters (serfwire_filter_*); none is
 * written as nil, as serf does. Timeout is a Go time.Duration. */
struct serfwire_query {
	uint64_t ltime;
	uint32_t id;
	struct serfwire_bytes addr; /* 4 or 16 bytes: where to send the responses */
	uint16_t port;
	struct serfwire_bytes source_node;
	struct serfwire_bytes filters[SERFWIRE_QUERY_FILTERS_MAX];
	size_t n_filters;
	uint32_t flags;
	uint8_t relay_factor;
	int64_t timeout_ns;
	struct serfwire_bytes name;
	struct serfwire_bytes payload;
};

/* messageQueryResponse: an ack (flags has SERFWIRE_QUERY_FLAG_ACK, payload
 * nil) or a response. */
struct serfwire_query_response {
	uint64_t ltime;
	uint32_t id;
	struct serfwire_bytes from;
	uint32_t flags;
	struct serfwire_bytes payload;
};

/* Node tags: pairs in wire order (a Go map has none; keeping ours makes
 * decode-then-encode exact). Lookups take the last of duplicate keys, as
 * decoding into a Go map does. */
struct serfwire_tag {
	struct serfwire_bytes key;
	struct serfwire_bytes value;
};

struct serfwire_tags {
	size_t n;
	struct serfwire_tag tag[SERFWIRE_TAGS_MAX];
};

/* serf.Member, the answer to a _serf_conflict query (Tags a plain msgpack
 * map here, not Meta-encoded). */
struct serfwire_member {
	struct serfwire_bytes name;
	struct serfwire_bytes addr;
	uint16_t port;
	struct serfwire_tags tags;
	int64_t status; /* serf.MemberStatus: 0 none, 1 alive, 2 leaving, 3 left, 4 failed */
	uint8_t protocol_min, protocol_max, protocol_cur;
	uint8_t delegate_min, delegate_max, delegate_cur;
};

/* conflictResponse: a *Member, nil when the responder does not know the
 * node (!present). */
struct serfwire_conflict_response {
	bool present;
	struct serfwire_member member;
};

/* keyRequest: the payload of _serf_install-key, use-key, remove-key. */
struct serfwire_key_request {
	struct serfwire_bytes key;
};

/* nodeKeyResponse: a node's answer to a key query. Keys (base64) only in
 * list-keys answers; none is written as nil. PrimaryKey is newer than
 * serf 0.9.4, which ignores it. */
struct serfwire_key_response {
	bool result;
	struct serfwire_bytes message;
	struct serfwire_bytes keys[SERFWIRE_KEYS_MAX];
	size_t n_keys;
	struct serfwire_bytes primary_key;
};

/* relay: relayHeader{DestAddr net.UDPAddr{IP, Port, Zone}} followed by a
 * whole Serf message (type byte + body) that the receiver forwards, as a
 * user message, to DestAddr (query responses with RelayFactor > 0). */
struct serfwire_relay {
	struct serfwire_bytes dest_ip; /* 4 or 16 bytes */
	uint16_t dest_port;
	struct serfwire_bytes dest_zone;
	struct serfwire_bytes msg;
};

/* Any Serf message. */
struct serfwire_msg {
	enum serfwire_type type;
	union {
		struct serfwire_leave leave;
		struct serfwire_join join;
		struct serfwire_push_pull push_pull;
		struct serfwire_user_event user_event;
		struct serfwire_query query;
		struct serfwire_query_response query_response;
		struct serfwire_conflict_response conflict_response;
		struct serfwire_key_request key_request;
		struct serfwire_key_response key_response;
		struct serfwire_relay relay;
	} u;
};

/* "leave", "join", "pushPull", ... (serf's names, for logs); "unknown". */
const char *serfwire_type_name(unsigned type);

/* Decodes one Serf message (type byte + body; bytes after the body are
 * ignored, as go-msgpack does, except for relay where they are the wrapped
 * message). 0, or -1 with why (static text; why may be NULL, here and in
 * every function of this module) for an unknown type, bad or truncated
 * msgpack, a field of the wrong type or out of range, a duplicate field,
 * or a count over our limits; on -1 nothing is left to free. Free with
 * serfwire_msg_fini(). */
int serfwire_decode(const uint8_t *p, size_t len, struct serfwire_msg *m, const char **why);
void serfwire_msg_fini(struct serfwire_msg *m);

/* Encoders append type byte + body to b. 0, or -1 with why (NULL allowed)
 * when b is full (its sticky error is set) or a Serf limit is passed; on -1
 * b is left at its old length. The limits are the ones serf checks when it
 * originates a message (UserEvent, Query, Respond); messages relayed or
 * rebroadcast are sent as received, never re-encoded. */
int serfwire_encode(struct buf *b, const struct serfwire_msg *m, const char **why);
int serfwire_encode_leave(struct buf *b, const struct serfwire_leave *m, const char **why);
int serfwire_encode_join(struct buf *b, const struct serfwire_join *m, const char **why);
int serfwire_encode_push_pull(struct buf *b, const struct serfwire_push_pull *m, const char **why);
/* name+payload and the encoded event at most SERFWIRE_USER_EVENT_SIZE_LIMIT */
int serfwire_encode_user_event(struct buf *b, const struct serfwire_user_event *m,
                               const char **why);
/* the encoded query at most SERFWIRE_QUERY_SIZE_LIMIT */
int serfwire_encode_query(struct buf *b, const struct serfwire_query *m, const char **why);
/* the encoded response at most SERFWIRE_QUERY_RESPONSE_SIZE_LIMIT */
int serfwire_encode_query_response(struct buf *b, const struct serfwire_query_response *m,
                                   const char **why);
int serfwire_encode_conflict_response(struct buf *b, const struct serfwire_conflict_response *m,
                                      const char **why);
int serfwire_encode_key_request(struct buf *b, const struct serfwire_key_request *m,
                                const char **why);
int serfwire_encode_key_response(struct buf *b, const struct serfwire_key_response *m,
                                 const char **why);
/* m->msg must hold a whole Serf message (at least its type byte). */
int serfwire_encode_relay(struct buf *b, const struct serfwire_relay *m, const char **why);

/*
 * Query filters: each entry of messageQuery.Filters is a filter type byte
 * and msgpack: filterNode, a list of node names, or filterTag{Tag, Expr}
 * (a tag name and a regular expression its value must match).
 */
enum serfwire_filter_type {
	SERFWIRE_FILTER_NODE = 0,
	SERFWIRE_FILTER_TAG = 1,
};

struct serfwire_filter {
	enum serfwire_filter_type type;
	struct serfwire_bytes *nodes; /* NODE (allocated by the decoder) */
	size_t n_nodes;
	struct serfwire_bytes tag; /* TAG */
	struct serfwire_bytes expr;
};

int serfwire_filter_decode(const uint8_t *p, size_t len, struct serfwire_filter *f,
                           const char **why);
void serfwire_filter_fini(struct serfwire_filter *f);
int serfwire_filter_encode(struct buf *b, const struct serfwire_filter *f, const char **why);

/*
 * Tags: memberlist's node Meta is 0xFF + msgpack map[string]string, at most
 * SERFWIRE_META_MAX bytes. A Meta without the magic byte (Serf protocol < 3,
 * or empty) is the role alone: decoded as {role: <the whole Meta>}.
 */
#define SERFWIRE_TAG_MAGIC 0xff

int serfwire_tags_decode(const uint8_t *meta, size_t len, struct serfwire_tags *t,
                         const char **why);
/* Appends 0xFF + the map; -1 when it passes SERFWIRE_META_MAX. */
int serfwire_tags_encode(struct buf *b, const struct serfwire_tags *t, const char **why);
/* The value of key, or NULL. */
const struct serfwire_bytes *serfwire_tags_get(const struct serfwire_tags *t, const char *key);
/* Appends a pair of views of C strings (they must outlive t); -1 when full. */
int serfwire_tags_add(struct serfwire_tags *t, const char *key, const char *value);

/* Consul's RPC protocol versions and raft protocol, as its tags give them
 * (§4.4 "Consul serf tags"). */
#define SERFWIRE_CONSUL_VSN       2
#define SERFWIRE_CONSUL_VSN_MIN   2
#define SERFWIRE_CONSUL_VSN_MAX   3
#define SERFWIRE_CONSUL_RAFT_VSN  3
#define SERFWIRE_CONSUL_EXTRA_MAX 32

/* What Consul's tag set is built from (the agent's config, as plain values). */
struct serfwire_consul_conf {
	bool server;
	const char *dc;
	const char *segment;  /* "" for servers and the default segment */
	const char *node_id;  /* UUID */
	const char *version;  /* with any pre-release suffix: "1.9.5" */
	const char *revision; /* git commit: build = "<version>:<revision>" */
	/* servers only */
	unsigned port;          /* server RPC port (8300) */
	unsigned wan_join_port; /* the WAN Serf port, in the LAN pool; 0 in the WAN pool */
	bool bootstrap;
	unsigned expect; /* -bootstrap-expect; 0 = none */
	/* anything else to advertise (use_tls, ft_fs, grpc_port...), in order */
	const struct serfwire_tag *extra;
	size_t n_extra;
};

/* Appends the Meta of a Consul agent: role (consul|node), dc, segment, id,
 * vsn, vsn_min, vsn_max, build, and for servers port, raft_vsn,
 * wan_join_port (LAN), bootstrap (1), expect (N); then the extras. -1 when
 * it passes SERFWIRE_META_MAX or a string is missing. */
int serfwire_consul_meta(struct buf *b, const struct serfwire_consul_conf *c, const char **why);

/*
 * The ack payload of Serf's pings (serf/ping_delegate.go): one version byte
 * (SERFWIRE_PING_VERSION) and the sender's Vivaldi coordinate as msgpack
 * {Adjustment, Error, Height, Vec} (float64s, §5.8).
 */
#define SERFWIRE_PING_VERSION 1

struct serfwire_coord {
	double vec[SERFWIRE_COORD_DIM_MAX];
	size_t dim;
	double error;
	double adjustment;
	double height;
};

/* -1 with why for another version byte (serf ignores those payloads), bad
 * msgpack, or more than SERFWIRE_COORD_DIM_MAX dimensions. */
int serfwire_coord_decode(const uint8_t *p, size_t len, struct serfwire_coord *c, const char **why);
int serfwire_coord_encode(struct buf *b, const struct serfwire_coord *c);
/* Every component finite (serf's Coordinate.IsValid). */
bool serfwire_coord_is_valid(const struct serfwire_coord *c);

/*
 * Lamport clock (serf/lamport.go): Serf keeps three (members' intents,
 * events, queries; §4.4).
 */
struct serfwire_clock {
	uint64_t t;
};

static inline uint64_t serfwire_clock_time(const struct serfwire_clock *c)
{
	return c->t;
}

/* Advances the clock and returns the new time. */
static inline uint64_t serfwire_clock_increment(struct serfwire_clock *c)
{
	return ++c->t;
}

/* Seen time v elsewhere: the clock moves to v + 1 unless already past v. */
static inline void serfwire_clock_witness(struct serfwire_clock *c, uint64_t v)
{
	if (v >= c->t && v != UINT64_MAX)
		c->t = v + 1;
}

#endif

/* raft.h: the Raft consensus core, a pure state machine (no I/O, clock or randomness of its own).
 */
#ifndef MUSTER_RAFT_H
#define MUSTER_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Usage (model: etcd-io/raft). One thread drives a node:
 *
 *	raft_tick() every tick; raft_step() for every message received;
 *	raft_propose() / raft_read_index() for clients; then while raft_has_ready():
 *		raft_ready(r, &rd);
 *		persist rd.snapshot, rd.entries and rd.hs (fsync when rd.must_sync);
 *		send rd.msgs; install rd.snapshot, apply rd.committed; serve rd.reads;
 *		raft_advance(r, &rd);
 *
 * Nothing may be called on r between raft_ready() and raft_advance(); everything rd points to is
 * owned by r and valid until raft_advance(). Messages given to raft_step() are only borrowed.
 * Persisting rd.entries means: drop every stored entry with index >= rd.entries[0].index, then
 * append them.
 */

#define RAFT_MEMBERS_MAX     32   /* servers in a configuration (voters and non-voters) */
#define RAFT_INFLIGHT_MAX    128  /* cap on config.max_inflight */
#define RAFT_OUTBOX_MAX      4096 /* messages queued between two raft_ready(); more are dropped */
#define RAFT_READS_MAX       4096 /* ReadIndex requests waiting for confirmation */
#define RAFT_ENTRY_BYTES_MAX (64u << 20) /* one entry's payload */
#define RAFT_NONE            0           /* "no node" in vote, leader, ids */
#define RAFT_ADDR_MAX        64          /* a member's "host:port" with its NUL; "" is unknown */

enum raft_status {
	RAFT_OK = 0,
	RAFT_ERR_NOT_LEADER,       /* see raft_leader() for a hint */
	RAFT_ERR_TRANSFERRING,     /* a leadership transfer is in progress */
	RAFT_ERR_UNCOMMITTED_FULL, /* max_uncommitted_bytes would be exceeded */
	RAFT_ERR_CONF_PENDING,     /* a configuration change is not committed yet */
	RAFT_ERR_CONF_INVALID,     /* the change makes no sense for the current configuration */
	RAFT_ERR_TOO_LARGE,        /* an entry over max_entry_bytes */
	RAFT_ERR_READS_FULL,       /* RAFT_READS_MAX reads are waiting */
	RAFT_ERR_COMPACTED,        /* storage: index is below the log's start */
	RAFT_ERR_UNAVAILABLE,      /* storage: index is past the log's end */
};

enum raft_role { RAFT_FOLLOWER, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };

enum raft_entry_type { RAFT_ENTRY_NORMAL, RAFT_ENTRY_CONF, RAFT_ENTRY_NOOP };

/* A configuration change entry carries the whole new configuration (as hashicorp/raft does). */
enum raft_conf_op {
	RAFT_CONF_ADD_VOTER,
	RAFT_CONF_ADD_NONVOTER,
	RAFT_CONF_PROMOTE,
	RAFT_CONF_REMOVE
};

enum raft_read_mode {
	RAFT_READ_SAFE,  /* ReadIndex: a quorum heartbeat round per batch of reads (thesis §6.4) */
	RAFT_READ_LEASE, /* leader lease (thesis §6.4.1); needs check_quorum */
};

enum raft_msg_type {
	RAFT_MSG_APP = 1,
	RAFT_MSG_APP_RESP,
	RAFT_MSG_VOTE,
	RAFT_MSG_VOTE_RESP,
	RAFT_MSG_PREVOTE,
	RAFT_MSG_PREVOTE_RESP,
	RAFT_MSG_HEARTBEAT,
	RAFT_MSG_HEARTBEAT_RESP,
	RAFT_MSG_SNAP,
	RAFT_MSG_TIMEOUT_NOW,
	RAFT_MSG_TYPE_MAX
};

struct raft_entry {
	uint64_t term;
	uint64_t index;
	uint8_t type; /* enum raft_entry_type */
	uint32_t len;
	uint8_t *data;
};

/* A server as hashicorp/raft's Configuration lists it: ID, Address, Suffrage (voter or not). */
struct raft_member {
	uint64_t id;
	bool voter;
	char addr[RAFT_ADDR_MAX]; /* NUL-terminated "host:port"; "" when unknown */
};

struct raft_conf {
	uint32_t n;
	struct raft_member m[RAFT_MEMBERS_MAX];
};

struct raft_snapshot {
	uint64_t index; /* last entry the snapshot covers */
	uint64_t term;
	struct raft_conf conf; /* configuration as of index */
	uint32_t len;
	uint8_t *data;
};

struct raft_hard_state {
	uint64_t term;
	uint64_t vote;
	uint64_t commit;
};

struct raft_soft_state {
	uint64_t leader;
	enum raft_role role;
};

struct raft_msg {
	enum raft_msg_type type;
	uint64_t from, to, term;
	uint64_t log_term; /* APP: term of index; VOTE: last log term; APP_RESP reject: hint term */
	uint64_t index;    /* APP: prev index; VOTE: last index; APP_RESP: match or rejected */
	uint64_t commit;
	uint64_t context; /* HEARTBEAT(_RESP): read round; VOTE/PREVOTE: 1 when forced (transfer) */
	bool reject;
	uint64_t reject_hint; /* APP_RESP reject: the follower's guess of the next index to try */
	size_t n_entries;
	struct raft_entry *entries;
	struct raft_snapshot snapshot; /* SNAP only */
};

struct raft_read_state {
	uint64_t context; /* the caller's */
	uint64_t index;   /* serve the read once applied >= index */
};

struct raft_ready {
	struct raft_soft_state soft;
	bool soft_changed;
	struct raft_hard_state hs;
	bool hs_changed;
	bool must_sync;                       /* fsync entries and hard state before sending msgs */
	const struct raft_snapshot *snapshot; /* to persist and install, or NULL */
	const struct raft_entry *entries;
	size_t n_entries;
	const struct raft_entry *committed;
	size_t n_committed;
	const struct raft_msg *msgs;
	size_t n_msgs;
	const struct raft_read_state *reads;
	size_t n_reads;
};

/*
 * The caller's persisted log. term(first_index - 1) must answer (the snapshot's term). entries()
 * fills out[] with [lo, hi) up to max_bytes (but at least one), data valid until the next change
 * to the storage. snapshot() returns the latest snapshot the same way.
 */
struct raft_storage {
	void *arg;
	void (*hard_state)(void *arg, struct raft_hard_state *hs);
	uint64_t (*first_index)(void *arg);
	uint64_t (*last_index)(void *arg);
	int (*term)(void *arg, uint64_t index, uint64_t *term); /* 0 or enum raft_status */
	int (*entries)(void *arg, uint64_t lo, uint64_t hi, uint64_t max_bytes,
	               struct raft_entry *out, size_t out_max, size_t *n);
	void (*snapshot)(void *arg, struct raft_snapshot *snap);
};

struct raft_config {
	uint64_t id;
	unsigned election_ticks;  /* followers wait [e, 2e) ticks; leader's check_quorum period */
	unsigned heartbeat_ticks; /* < election_ticks */
	unsigned lease_ticks;     /* lease reads; 0 means election_ticks / 2; <= election_ticks */
	uint32_t max_append_entries;
	uint64_t max_append_bytes;
	uint32_t max_inflight; /* appends in flight per follower, <= RAFT_INFLIGHT_MAX */
	uint64_t max_uncommitted_bytes;
	uint64_t max_apply_bytes; /* committed entries per ready */
	uint32_t max_entry_bytes;
	bool pre_vote;
	bool check_quorum;
	enum raft_read_mode read_mode;
	uint64_t applied; /* already applied by the state machine (0: the snapshot's index) */
	/* Election jitter: a number in [0, n). The core has no randomness of its own. */
	uint32_t (*rand)(void *arg, uint32_t n);
	void *rand_arg;
};

struct raft;

/* Fill c with the defaults (hashicorp/raft's, in ticks of HeartbeatTimeout / 10). */
void raft_config_default(struct raft_config *c, uint64_t id);
/* NULL when the config is invalid or storage can't be read. */
struct raft *raft_new(const struct raft_config *c, const struct raft_storage *s);
void raft_free(struct raft *r);

void raft_tick(struct raft *r);
int raft_step(struct raft *r, const struct raft_msg *m); /* 0, or -1 for a malformed message */
int raft_propose(struct raft *r, const void *data, uint32_t len, uint64_t *index);
/* addr as for raft_conf_apply_op(). */
int raft_propose_conf(struct raft *r, enum raft_conf_op op, uint64_t id, const char *addr,
                      uint64_t *index);
int raft_read_index(struct raft *r, uint64_t context);
int raft_transfer_leadership(struct raft *r, uint64_t to);
/* Start an election now (tests, single-node bootstrap). */
void raft_campaign(struct raft *r);
/*
 * The transport's word on a snapshot sent to a follower (it must report every RAFT_MSG_SNAP, sent
 * or not: the follower stays in snapshot state until then), or on a follower being unreachable.
 */
void raft_report_snapshot(struct raft *r, uint64_t id, bool ok);
void raft_report_unreachable(struct raft *r, uint64_t id);

bool raft_has_ready(const struct raft *r);
void raft_ready(struct raft *r, struct raft_ready *rd);
void raft_advance(struct raft *r, struct raft_ready *rd);

uint64_t raft_id(const struct raft *r);
uint64_t raft_leader(const struct raft *r);
enum raft_role raft_role(const struct raft *r);
uint64_t raft_term(const struct raft *r);
uint64_t raft_commit(const struct raft *r);
uint64_t raft_applied(const struct raft *r);
uint64_t raft_last_index(const struct raft *r);
const struct raft_conf *raft_conf_latest(const struct raft *r);
bool raft_lease_valid(const struct raft *r);

/* What the leader knows of a follower (for autopilot, metrics and debugging). */
struct raft_progress_info {
	uint64_t match, next, pending_snapshot;
	const char *state; /* "probe", "replicate" or "snapshot" */
	bool paused, recent_active;
	uint32_t inflight;
};
int raft_progress(const struct raft *r, uint64_t id, struct raft_progress_info *out);

const char *raft_status_str(int status);
const char *raft_role_str(enum raft_role role);
const char *raft_msg_type_str(enum raft_msg_type t);

/* Configuration helpers (entries of type RAFT_ENTRY_CONF carry an encoded raft_conf). */
const struct raft_member *raft_conf_find(const struct raft_conf *c, uint64_t id);
/*
 * Apply one change to c (hashicorp/raft's nextConfiguration). addr is the server's "host:port"
 * for ADD_VOTER and ADD_NONVOTER (non-NULL, "" for unknown, shorter than RAFT_ADDR_MAX); PROMOTE
 * and REMOVE ignore it (it may be NULL). An ADD of a member already there updates its address
 * (and ADD_VOTER makes it a voter). An address another member holds is refused. -1, c unchanged,
 * when the change is invalid or changes nothing.
 */
int raft_conf_apply_op(struct raft_conf *c, enum raft_conf_op op, uint64_t id, const char *addr);
/* The encoded length, or 0 when buf is too small or c is not a valid configuration. */
size_t raft_conf_encode(const struct raft_conf *c, uint8_t *buf, size_t size);
/* Either encoding: the current one, or the address-less one of earlier builds (addresses ""). */
int raft_conf_decode(struct raft_conf *c, const uint8_t *buf, size_t len);
/* magic, count, then per member id(8) voter(1) addrlen(1) addr (no NUL): see raft.c */
#define RAFT_CONF_ENCODED_MAX (8 + RAFT_MEMBERS_MAX * (10 + RAFT_ADDR_MAX - 1))

/* An in-memory struct raft_storage, for tests and the simulator. */
struct raft_memstore;
struct raft_memstore *raft_memstore_new(void);
void raft_memstore_free(struct raft_memstore *ms);
void raft_memstore_storage(struct raft_memstore *ms, struct raft_storage *s);
/* Entry 1 (term 1) holds the initial configuration, as hashicorp/raft's BootstrapCluster. */
int raft_memstore_bootstrap(struct raft_memstore *ms, const struct raft_conf *c);
int raft_memstore_append(struct raft_memstore *ms, const struct raft_entry *e, size_t n);
void raft_memstore_set_hard_state(struct raft_memstore *ms, const struct raft_hard_state *hs);
int raft_memstore_apply_snapshot(struct raft_memstore *ms, const struct raft_snapshot *snap);
/* Take a snapshot at index (<= commit) holding data and conf, and drop the log before index. */
int raft_memstore_compact(struct raft_memstore *ms, uint64_t index, const struct raft_conf *conf,
                          const void *data, uint32_t len);
/* Persist a ready: snapshot, entries and hard state. */
int raft_memstore_save(struct raft_memstore *ms, const struct raft_ready *rd);
uint64_t raft_memstore_first_index(const struct raft_memstore *ms);
uint64_t raft_memstore_last_index(const struct raft_memstore *ms);
/* NULL when index is outside [first, last]; valid until the next change. */
const struct raft_entry *raft_memstore_entry(const struct raft_memstore *ms, uint64_t index);
const struct raft_snapshot *raft_memstore_snapshot(const struct raft_memstore *ms);
const struct raft_hard_state *raft_memstore_hard_state(const struct raft_memstore *ms);

#endif

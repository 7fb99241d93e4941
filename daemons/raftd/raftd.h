/* raftd.h: raftd's internals: the server that joins the Raft core, the store and the state machine.
 */
#ifndef MUSTER_RAFTD_H
#define MUSTER_RAFTD_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "omap.h"
#include "peer.h"
#include "cluster.h"
#include "fsm.h"
#include "raft.h"
#include "store.h"
#include "watch.h"

/* Limits (habit 7). */
#define RAFTD_WAITERS_MAX     65536       /* blocking queries held at once */
#define RAFTD_READS_MAX       4096        /* consistent reads waiting for ReadIndex */
#define RAFTD_PENDING_MAX     65536       /* proposals waiting for their commit */
#define RAFTD_WAIT_DEFAULT_MS 300000      /* spec §1.10: 5 min */
#define RAFTD_WAIT_MAX_MS     600000      /* spec §1.10: 10 min */
#define RAFTD_SESSION_TTL_MAX 86400000ull /* 24 h */
#define RAFTD_TOMB_QUEUE_MAX  1024        /* pending tombstone reaps (coalesced) */
#define RAFTD_FAIL_GRACE_MS   100         /* replies drain before a storage-failure exit */
#define RAFTD_HELD_MAX        4096        /* requests waiting for a leader */
#define RAFTD_HOLD_MS         7000        /* Consul's rpc_hold_timeout */
#define RAFTD_HOLD_RETRY_MS   100

/* A proposal waiting for its entry to be applied. */
struct raftd_pending {
	uint64_t index, term;
	struct ipc_from from;
	bool internal; /* proposed by raftd itself: no reply */
};

/* A read held: a consistent read waiting for its ReadIndex, or a blocking
 * query waiting for a change or its deadline. */
struct raftd_waiter {
	struct watcher w;
	struct raftd *rd;
	struct ipc_from from;
	struct msg req;      /* the request, owned */
	uint64_t read_index; /* consistent: serve once applied >= this */
	uint64_t context;    /* consistent: the ReadIndex context, 0 when confirmed */
	uint64_t deadline_ms;
	uint64_t timer;
	struct raftd_waiter *prev, *next; /* on rd->reads or rd->blocked */
};

struct raftd_tomb {
	uint64_t due_ms, index;
};

/* A request waiting for a leader (or a server) to forward it to: Consul
 * holds it up to rpc_hold_timeout, then answers "No cluster leader". */
struct raftd_held {
	struct raftd_held *next;
	struct ipc_from from;
	struct msg req;
	uint64_t hops;
	uint64_t deadline_ms;
};

struct raftd {
	struct daemon *d;
	bool server;
	bool failed; /* a storage write failed: refuse everything, exit soon */
	struct store *store;
	struct fsm *fsm;
	struct raft *raft;
	struct raft_storage rs;
	struct watch *watch;
	uint64_t id; /* Raft id, from node_id */
	char self_addr[96];
	uint64_t tick_ms, tick_timer, kick_timer, snap_timer, tomb_timer, fail_timer;
	uint64_t leader, term;
	bool is_leader, self_reg_due;
	uint64_t last_contact_ms; /* when the leader was last heard from */
	/* Unix ms of the last change of this server's autopilot health
	 * (spec §8.5 StableSince): start, becoming or ceasing to be leader,
	 * learning or losing its leader. */
	uint64_t stable_since_unix_ms;

	struct raftd_pending *pend;
	size_t pend_head, pend_n, pend_cap;

	struct raftd_waiter *reads; /* consistent reads */
	size_t n_reads;
	uint64_t read_ctx;
	struct raftd_waiter *blocked; /* blocking queries */
	size_t n_blocked;

	struct omap *sess; /* session id -> its TTL timer (the leader's) */

	struct peer *peer; /* the other servers, over ports.server */
	struct cluster *cluster; /* the LAN pool as gossipd sees it */
	struct raft_config rc; /* the core's, kept to reopen it after a bootstrap */
	struct raftd_held *held;
	size_t n_held;
	uint64_t hold_timer;
	uint64_t hold_deadline; /* set while a held request is dispatched again */
	/* a leader's graceful leave: the LEAVE is answered once another
	 * server leads (or the transfer timed out) */
	bool leaving;
	struct ipc_from leave_from;
	uint64_t leave_timer;

	struct raftd_tomb tombs[RAFTD_TOMB_QUEUE_MAX];
	size_t tomb_head, tomb_n;

	/* counters for STATS */
	uint64_t proposals, applied_entries, reads_served, blocked_woken, blocked_timeouts,
	    lock_delay_refusals, sessions_expired, forwarded, held_expired, snapshots_installed;
};

int raftd_start(struct raftd *rd, struct daemon *d);
void raftd_stop(struct raftd *rd);
bool raftd_request(struct raftd *rd, const struct ipc_from *from, struct msg *m);
/* A request another raftd forwarded (peer.c): as raftd_request(). */
bool raftd_serve_forwarded(struct raftd *rd, const struct ipc_from *from, struct msg *m,
                           uint64_t hops);
int raftd_reply(struct raftd *rd, const struct ipc_from *from, struct msg *reply);
void raftd_reply_result(struct raftd *rd, const struct ipc_from *from, unsigned status,
                        const char *error);
/* Runs the ready loop soon (after a message stepped into the core). */
void raftd_poke(struct raftd *rd);
/* The Raft id of a node: the first 16 hex digits of its node_id. */
uint64_t raftd_id_of(const char *node_id);
/* bootstrap_expect's end (cluster.c): conf as this store's first entry,
 * and the core reopened on it. 0, or -1 after logging why. */
int raftd_bootstrap(struct raftd *rd, const struct raft_conf *conf);
/* A write raftd makes itself (reconciliation): proposed when leading, no
 * reply to anyone. */
void raftd_propose_internal(struct raftd *rd, struct msg *m);
/* A forwarded read whose server was lost goes again (peer.c). */
void raftd_retry(struct raftd *rd, const struct ipc_from *from, struct msg *m, uint64_t hops);
/* An agent's registration by the leader (raftd_register_agent). */
struct raftd_agent_reg {
	const char *name, *id, *addr;
	bool server;   /* with the `consul` service on port */
	unsigned port;
	const char *status, *output; /* serfHealth's */
	bool skip_node;
	const struct msg_strmap *node_meta; /* NULL: none */
};
void raftd_register_agent(struct raftd *rd, const struct raftd_agent_reg *a);
/* The query meta of a read reply, NULL for another type. */
struct msg_query_meta *raftd_reply_meta(struct msg *reply);
/* cluster.c read gossip anew: held requests may have a server now. */
void raftd_servers_known(struct raftd *rd);
void raftd_stats(struct raftd *rd, struct msg_daemon_stats *out);

#endif

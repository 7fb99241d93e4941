/* peer.h: raftd to raftd over ports.server (8300, DESIGN.md §3): Raft messages between
 * servers, snapshots streamed in chunks, and requests forwarded to a server (a client agent's
 * raftd) or to the leader (a follower's), spec §5.5. ZeroMQ over TCP: each server binds one
 * ROUTER; each raftd keeps one DEALER per server address it talks to. */
#ifndef MUSTER_RAFTD_PEER_H
#define MUSTER_RAFTD_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc.h"
#include "msg.h"
#include "raft.h"

/* Limits (a limit on everything). */
#define PEER_MSG_MAX       (8u << 20)  /* one frame between servers */
#define PEER_LINKS_MAX     64          /* addresses talked to at once */
#define PEER_LINK_IDLE_MS  600000      /* an unused link is closed */
#define PEER_SNAP_CHUNK    (1u << 20)  /* snapshot bytes per frame */
#define PEER_SNAP_MAX      (16ull << 30) /* a snapshot received */
#define PEER_FWD_MAX       8192        /* forwarded requests waiting for their reply */
#define PEER_FWD_HOPS_MAX  2           /* client -> server -> leader */
#define PEER_FWD_MARGIN_MS 10000       /* a forward's deadline past the request's own wait */
#define PEER_FWD_PLAIN_MS  30000       /* a forward that does not block */
#define PEER_GAP_MS        2000        /* silence that ends a server's stable run */
/* A link to a server that is down retries from 100 ms, doubling up to
 * this: a server that comes back is reached within it (the cluster bench
 * measured a 2 s cap as most of a rejoin). */
#define PEER_RECONNECT_MAX_MS 400

struct raftd;
struct peer;

/* Binds the ROUTER on bind_addr:ports.server when this agent is a server
 * (0, or -1 after logging why); a client only connects. */
struct peer *peer_new(struct raftd *rd);
void peer_free(struct peer *p);

/* Sends a Raft message to m->to at its configured address; a message that
 * cannot go (no address, a full queue) is dropped and the core told the
 * follower is unreachable (Raft retries). A RAFT_MSG_SNAP streams the
 * newest snapshot file at or past m->snapshot.index. */
void peer_send_raft(struct peer *p, const struct raft_msg *m);

/* Forwards req (owned by the caller, unchanged) from a local caller (or a
 * forwarded one: from->name starting with '@') to the raftd at addr; the
 * reply goes back to from through raftd_reply(). hops: how many raftds the
 * request passed already. retryable (a read): when the server's
 * connection is lost, the request goes through raftd_retry() again (as
 * Consul retries a read whose RPC failed) rather than failing. 0, or -1
 * when it cannot be sent (the caller answers). */
int peer_forward(struct peer *p, const char *addr, const struct ipc_from *from,
                 const struct msg *req, uint64_t hops, uint64_t wait_ms, bool retryable);

/* When the server with this Raft id was last heard from (ev ms) and since
 * when without a gap; false when never. */
bool peer_heard(const struct peer *p, uint64_t id, uint64_t *heard_ms, uint64_t *since_ms);

/* Opens the link to addr now, so that the first request to it need not
 * wait for the connection (links queue only to connected servers). */
void peer_connect(struct peer *p, const char *addr);

/* Tells the core what the sends found (unreachable followers, snapshots
 * sent or failed): called outside raft_ready()..raft_advance(). */
void peer_apply_reports(struct peer *p);

/* raftd's own request to the raftd at addr (a bootstrap probe, a client
 * agent's call): cb gets the reply, or NULL after timeout_ms or on
 * shutdown. The origin it is checked against is raftd. */
typedef void (*peer_call_cb)(void *arg, struct msg *reply);
int peer_call(struct peer *p, const char *addr, const struct msg *req, uint64_t timeout_ms,
              peer_call_cb cb, void *arg);

/* The reply to a request that came in by FORWARD (from->name "@<route>"). */
int peer_reply(struct peer *p, const struct ipc_from *from, struct msg *reply);

/* A snapshot received whole, waiting for the core's ready to install it:
 * its file, or NULL when none is for index. */
const char *peer_incoming_snapshot(struct peer *p, uint64_t index);
void peer_incoming_snapshot_done(struct peer *p);

struct peer_stats {
	uint64_t sent, send_dropped, received, bad, forwarded, forward_replies, forward_timeouts,
	    forward_retries,
	    forwards_served, snaps_sent, snaps_received, links;
};
const struct peer_stats *peer_stats(const struct peer *p);

#endif

/* ipc.h: the bus: ROUTER/DEALER requests with deadlines, PUB/SUB events (DESIGN.md §2). */
#ifndef MUSTER_IPC_H
#define MUSTER_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct ev;

/* Limits (habit 7). A frame larger than IPC_MSG_SIZE_MAX is dropped by
 * ZeroMQ itself (ZMQ_MAXMSGSIZE) and the connection reset; HWMs bound the
 * queues on both sides; a caller has at most IPC_PENDING_MAX requests in
 * flight per peer. */
#define IPC_MSG_SIZE_MAX  (4u << 20)
#define IPC_HWM           10000
#define IPC_PENDING_MAX   4096
#define IPC_RECV_PER_TURN 64
#define IPC_NAME_MAX      32

/* The one ZeroMQ context of a process. */
void *ipc_ctx(void);
void ipc_ctx_term(void);

/* "ipc://<run_dir>/<name>.<kind>" into out; -1 if it passes the 107-byte
 * limit of a UNIX socket path (run_dir must stay short). */
int ipc_endpoint(char *out, size_t size, const char *run_dir, const char *name, const char *kind);

/* --- answering requests: a ROUTER bound at <run_dir>/<name>.rpc --- */

/* Who a request came from, kept to answer it later (asynchronously). */
struct ipc_from {
	char name[IPC_NAME_MAX];
	unsigned peer; /* MSG_PEER_* bit of name */
	uint64_t req_id;
};

struct ipc_server;
/* Called for each decoded request; m is freed after the call returns
 * (steal fields by zeroing them). Sender and type were checked against
 * msg.def already. */
typedef void (*ipc_request_cb)(struct ipc_server *s, const struct ipc_from *from, struct msg *m,
                               void *arg);

struct ipc_server *ipc_server_new(struct ev *ev, const char *run_dir, const char *name,
                                  ipc_request_cb cb, void *arg);
void ipc_server_free(struct ipc_server *s);
/* Sends reply with from's request id; -1 if the peer is gone or its queue
 * is full (counted, logged at debug: the caller's deadline covers it). */
int ipc_reply(struct ipc_server *s, const struct ipc_from *from, struct msg *reply);
/* Shorthand for a RESULT reply. */
int ipc_reply_result(struct ipc_server *s, const struct ipc_from *from, unsigned status,
                     const char *error);

struct ipc_counters {
	uint64_t received;
	uint64_t sent;
	uint64_t malformed; /* undecodable frames */
	uint64_t refused;   /* a type this sender may not send, or unknown peer */
	uint64_t dropped;   /* sends that failed (peer gone, HWM) */
	uint64_t timeouts;  /* requests whose deadline passed */
	uint64_t late;      /* replies that came after their deadline */
};
const struct ipc_counters *ipc_server_counters(const struct ipc_server *s);

/* --- calling a peer: a DEALER connected to <run_dir>/<peer>.rpc --- */

enum ipc_status {
	IPC_OK = 0,
	IPC_TIMEOUT,     /* deadline passed: peer gone, restarting or slow */
	IPC_UNAVAILABLE, /* could not even queue the request */
	IPC_BAD_REPLY,   /* undecodable or refused reply */
	IPC_CANCELLED,   /* the client was freed with the request pending */
};
const char *ipc_status_str(enum ipc_status st);

struct ipc_client;
/* reply is NULL unless st == IPC_OK; it is freed after the call. */
typedef void (*ipc_reply_cb)(void *arg, enum ipc_status st, struct msg *reply);

/* self: this daemon's name, sent as the routing id (DESIGN.md §2: the
 * receiver knows the sender by it). Two sockets must not share a routing
 * id (the newer takes the older's replies), so a tool with several uses
 * "<daemon>/<tag>", which the receiver counts as <daemon>. */
struct ipc_client *ipc_client_new(struct ev *ev, const char *run_dir, const char *self,
                                  const char *peer);
void ipc_client_free(struct ipc_client *c);
/* Assigns req->req_id; cb runs exactly once: on the reply, on the deadline
 * or with IPC_CANCELLED when the client is freed. 0, or -1 when it could
 * not be queued (cb is then not called). */
int ipc_call(struct ipc_client *c, struct msg *req, uint64_t timeout_ms, ipc_reply_cb cb,
             void *arg);
/* A one-way message (no reply expected). */
int ipc_send(struct ipc_client *c, struct msg *m);
size_t ipc_client_pending(const struct ipc_client *c);
const struct ipc_counters *ipc_client_counters(const struct ipc_client *c);

/* A blocking call for tools and tests that have no loop. */
enum ipc_status ipc_call_sync(const char *run_dir, const char *self, const char *peer,
                              struct msg *req, uint64_t timeout_ms, struct msg *reply);

/* --- events: a PUB bound at <run_dir>/<name>.pub, SUBs connected to it --- */

struct ipc_pub;
struct ipc_pub *ipc_pub_new(const char *run_dir, const char *name);
void ipc_pub_free(struct ipc_pub *p);
/* Publishes one frame; a slow subscriber loses messages past the HWM,
 * which the epoch and index fields in every event let it detect. */
int ipc_publish(struct ipc_pub *p, struct msg *m);

/* A SUB's reconnect interval to a publisher not (yet) bound, doubling up
 * to the max. What is published before the SUB is connected is lost: a
 * subscriber that must not miss events proves its subscription live with
 * msg.def's SUB_PROBE. */
#define IPC_SUB_RECONNECT_MS     10
#define IPC_SUB_RECONNECT_MAX_MS 200

struct ipc_sub;
typedef void (*ipc_event_cb)(struct ipc_sub *s, unsigned publisher, struct msg *m, void *arg);
struct ipc_sub *ipc_sub_new(struct ev *ev, const char *run_dir, const char *publisher,
                            ipc_event_cb cb, void *arg);
void ipc_sub_free(struct ipc_sub *s);
/* Topics are message-type prefixes: the frame starts with the array
 * header and the type, so ZeroMQ's prefix match filters by type. */
int ipc_subscribe(struct ipc_sub *s, enum msg_type type);
const struct ipc_counters *ipc_sub_counters(const struct ipc_sub *s);

#endif

/* pool.h: one gossip pool (LAN 8301 or WAN 8302): its UDP and TCP sockets in gossipd's loop,
 * driving the pure Serf + SWIM cores (serf.h, swim.h) with memberlist's wire format. */
#ifndef MUSTER_GOSSIPD_POOL_H
#define MUSTER_GOSSIPD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemons/gossipd/keyring.h"
#include "daemons/gossipd/mlwire.h"
#include "daemons/gossipd/serf.h"
#include "daemons/gossipd/swim.h"

struct ev;
struct pool;

/* Limits (CONVENTIONS: a limit on everything). memberlist: maxPushPullRequests 128. */
#define POOL_PUSH_PULL_IN_MAX 128  /* inbound push/pulls at once; more get an err reply */
#define POOL_CONNS_MAX        512  /* TCP streams at once, both ways */
#define POOL_UDP_PER_TURN     64   /* datagrams read per loop turn */
#define POOL_JOIN_ADDRS_MAX   64   /* addresses in one join */
#define POOL_JOINS_MAX        64   /* joins in progress */
#define POOL_DEFERRED_MAX     4096 /* serf effects handed to the caller after a drain */

struct pool_conf {
	bool wan;
	const char *bind_ip; /* "0.0.0.0", "127.0.0.1", "::" */
	uint16_t port;
	struct swim_config mc; /* name, advertised addr, meta (tags), timings */
	struct serf_config sc;
	uint64_t tcp_timeout_ms; /* memberlist TCPTimeout: 10 s LAN, 30 s WAN */
	/* Encryption and labels; keyring points at the daemon's (shared by both pools, so a
	 * keyring change applies at once). */
	const struct keyring *keyring;
	bool verify_incoming, verify_outgoing, compress;
};

/* What a pool tells the daemon. Called after the cores' effects were drained, so each
 * callback may call any pool_* function. */
struct pool_ops {
	void (*member)(void *arg, struct pool *p, enum serf_member_event ev,
	               const struct serf_member_info *m);
	void (*user_event)(void *arg, struct pool *p, uint64_t ltime, struct serfwire_bytes name,
	                   struct serfwire_bytes payload, bool cc);
	/* An internal _serf_ query (keyring) to answer with pool_respond(). */
	void (*query)(void *arg, struct pool *p, uint64_t ltime, uint32_t id,
	              struct serfwire_bytes name, struct serfwire_bytes payload);
	/* Our own query's responses and its end. */
	void (*query_response)(void *arg, struct pool *p, uint64_t ltime, uint32_t id,
	                       const char *from, struct serfwire_bytes payload);
	void (*query_done)(void *arg, struct pool *p, uint64_t ltime, uint32_t id);
	/* A pool_join() ended: joined is how many addresses answered; err lists the others
	 * (memberlist's multierror text), "" when none failed. */
	void (*join_done)(void *arg, struct pool *p, uint64_t join_id, size_t joined,
	                  const char *err);
	void (*leave_done)(void *arg, struct pool *p, const char *err);
};

struct pool_stats {
	uint64_t udp_in, udp_out, udp_bytes_in, udp_bytes_out, udp_bad, udp_send_failed;
	uint64_t msgs_bad, tcp_in, tcp_out, tcp_bytes_in, tcp_bytes_out, tcp_failed, tcp_refused;
	uint64_t push_pulls, push_pull_failed, tcp_pings;
};

/* Binds the sockets (UDP and TCP on bind_ip:port) and starts the cores. NULL with a reason. */
struct pool *pool_new(struct ev *ev, const struct pool_conf *c, const struct pool_ops *ops,
                      void *arg, char *err, size_t err_size);
void pool_free(struct pool *p);

struct serf *pool_serf(struct pool *p);
bool pool_is_wan(const struct pool *p);
const char *pool_name(const struct pool *p); /* our member name in this pool */

/* Push/pull joins to each address ("host", "host:port", "[v6]:port"; the pool's port when
 * none), at once; join_done comes once all ended. -1 with a reason (bad address, too many
 * joins in progress) and nothing started. */
int pool_join(struct pool *p, const char *const *addrs, size_t n, bool ignore_old,
              uint64_t *join_id, char *err, size_t err_size);
/* serf_leave; leave_done follows. -1 with serf's text. */
int pool_leave(struct pool *p, const char **err);
int pool_force_leave(struct pool *p, const char *node, bool prune, const char **err);
int pool_user_event(struct pool *p, const char *name, const uint8_t *payload, size_t len,
                    bool cc, const char **err);
int pool_query(struct pool *p, const char *name, const uint8_t *payload, size_t len,
               const struct serf_query_param *qp, uint64_t *ltime, uint32_t *id,
               const char **err);
int pool_respond(struct pool *p, uint64_t ltime, uint32_t id, const uint8_t *payload, size_t len,
                 const char **err);
int pool_set_tags(struct pool *p, const uint8_t *meta, size_t len);
void pool_restore_clocks(struct pool *p, uint64_t clock, uint64_t event_clock,
                         uint64_t query_clock);

const struct pool_stats *pool_stats(const struct pool *p);
size_t pool_conns(const struct pool *p);

#endif

/* cluster.h: raftd's view of the LAN gossip pool and what it does with it (spec §5.3-§5.5):
 * bootstrap_expect, the leader's reconciliation of members into the catalog and the Raft
 * configuration, and a client agent's choice of a server. */
#ifndef MUSTER_RAFTD_CLUSTER_H
#define MUSTER_RAFTD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits (a limit on everything). */
#define CLUSTER_MEMBERS_MAX   8192  /* LAN members kept */
#define CLUSTER_REFRESH_MS    2000  /* a full MEMBERS read, whatever the events said */
#define CLUSTER_EVENT_MS      50    /* a member event brings the next read this close */
#define CLUSTER_PROBE_MS      2000  /* bootstrap_expect's question to one server */
#define CLUSTER_CONF_WAIT_MS  500   /* between two Raft configuration changes */

struct raftd;
struct cluster;

struct cluster *cluster_new(struct raftd *rd);
void cluster_free(struct cluster *c);

/* A server of this datacenter for a client agent's raftd to send to
 * ("ip:port"), NULL when gossip knows none alive. attempt > 0 moves on to
 * another (the last one failed). */
const char *cluster_server(struct cluster *c, unsigned attempt);

/* The node name gossip gives the server with this Raft id, or NULL. */
const char *cluster_name_of(const struct cluster *c, uint64_t raft_id);

/* What gossip says of the server with this Raft id: false when unknown. */
struct cluster_info {
	const char *name, *node_id, *serf_status;
	char version[32];
};
bool cluster_server_info(const struct cluster *c, uint64_t raft_id, struct cluster_info *out);

/* This server just became leader: a full reconciliation soon. */
void cluster_leader_gained(struct cluster *c);

struct cluster_stats {
	uint64_t refreshes, refresh_errors, members, servers, registered, deregistered,
	    marked_critical, raft_added, raft_promoted, raft_removed, bootstrapped;
};
const struct cluster_stats *cluster_stats(const struct cluster *c);

#endif

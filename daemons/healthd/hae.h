/* hae.h: anti-entropy's comparison of this agent's local state with the catalog (pure). */
#ifndef MUSTER_HEALTHD_HAE_H
#define MUSTER_HEALTHD_HAE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/*
 * Consul's agent/local/state.go updateSyncState, the first half of a full
 * sync (spec/dns-cli-gossip-raft.md §5.6): given what this agent holds and
 * what the catalog holds for its node, which local entries are in sync,
 * which catalog entries must go, and whether the node's own fields (ID,
 * address, tagged addresses, meta) need a write. SyncChanges then writes
 * every entry that is not in sync (healthd's main.c).
 *
 * - A local service is in sync when the catalog has an equal one (kind,
 *   ID, name, tags in order, address, port, socket path, meta and tagged
 *   addresses as sets, weights, EnableTagOverride). With EnableTagOverride
 *   the catalog's tags win: they are handed back (adopt_tags) and the tags
 *   are left out of the comparison, as Consul copies them into its state.
 * - A local check is in sync when the catalog has an equal one (ID, name,
 *   status, notes, output, service ID, type, interval, timeout, the
 *   definition). A check whose output change is deferred (check_update_
 *   interval) is compared without its output: the deferral timer syncs it.
 * - A catalog service that is not local is deregistered, except the
 *   `consul` service of a server; a catalog check likewise, except
 *   `serfHealth` (both belong to the servers' reconciliation, not to us).
 */

struct hae_local_check {
	const struct msg_check *check;
	bool output_deferred;
};

struct hae_in {
	const struct msg_node *node;           /* the node fields this agent syncs */
	const struct msg_node *remote_node;    /* NULL: the node is not in the catalog */
	const struct msg_service *const *svcs; /* local */
	size_t n_svcs;
	const struct hae_local_check *chks; /* local */
	size_t n_chks;
	const struct msg_service *remote_svcs;
	size_t n_remote_svcs;
	const struct msg_check *remote_chks;
	size_t n_remote_chks;
};

/* Arrays sized by the caller: svc_in_sync and adopt_tags n_svcs,
 * chk_in_sync n_chks, dereg_svcs n_remote_svcs, dereg_chks n_remote_chks
 * (the IDs point into the remote records). */
struct hae_out {
	bool node_in_sync;
	bool *svc_in_sync;
	const struct msg_strlist **adopt_tags; /* NULL, or the catalog's tags to take */
	bool *chk_in_sync;
	const char **dereg_svcs;
	size_t n_dereg_svcs;
	const char **dereg_chks;
	size_t n_dereg_chks;
};

void hae_diff(const struct hae_in *in, struct hae_out *out);

/* The pieces, for the tests and for main.c's partial syncs. */
bool hae_node_same(const struct msg_node *local, const struct msg_node *remote);
bool hae_service_same(const struct msg_service *a, const struct msg_service *b, bool skip_tags);
bool hae_check_same(const struct msg_check *a, const struct msg_check *b, bool skip_output);

/* Consul's agent/ae scaleFactor: 1 up to 128 nodes, then
 * ceil(log2(n) - log2(128)) + 1. */
unsigned hae_scale_factor(size_t nodes);

#endif

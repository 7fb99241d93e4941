/* healthd.h: healthd's internals shared by main.c (bus, config), local.c (state, runners) and
 * sync.c (anti-entropy). */
#ifndef MUSTER_HEALTHD_H
#define MUSTER_HEALTHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "hstore.h"
#include "msg.h"
#include "omap.h"
#include "sched.h"

/* Limits and timings (habit 7; Consul's values where it has them). */
#define HEALTHD_SYNC_WAIT_MS     3000   /* a registration waits this long for the catalog */
#define HEALTHD_RAFTD_CALL_MS    5000   /* one catalog read or write */
#define HEALTHD_RETRY_MS         15000  /* Consul's ae retryFailIntv */
#define HEALTHD_WAITERS_MAX      4096   /* registrations waiting for a sync, hash watches */
#define HEALTHD_HASH_WAIT_MS     300000 /* §3.11: default 5 min */
#define HEALTHD_HASH_WAIT_MAX_MS 600000 /* capped at 10 min */
#define HEALTHD_ALIAS_WAIT_MS    60000  /* a remote alias's blocking query */
#define HEALTHD_ALIAS_RETRY_MS   1000
#define HEALTHD_PROBES_MAX       512 /* probes running at once */
#define HEALTHD_DUE_PER_TURN     256 /* probes started per scheduler turn */

struct probe;
struct probe_ctx;
struct hd;
struct hd_probe_arg;

enum hchk_runner {
	HCHK_NONE = 0, /* maintenance, or a kind that cannot run here */
	HCHK_TTL,
	HCHK_ALIAS,
	HCHK_PROBE,
};

struct hsvc {
	struct msg_agent_service as; /* as.service.node is this node */
	char *token;
	bool from_config;
	bool in_sync;
	uint64_t version; /* bumped by every change the catalog must see */
	uint64_t tried;   /* the sync round that last tried it */
};

struct hchk {
	struct hd *hd;
	struct msg_agent_check ac;
	char *token;
	bool from_config;
	bool in_sync;
	uint64_t version;
	uint64_t tried;
	enum hchk_runner runner;
	uint64_t critical_since_ms; /* monotonic; 0 = not critical */
	uint64_t defer_timer;       /* an output-only change waits for it */
	/* TTL */
	uint64_t ttl_timer;
	uint64_t ttl_expires_unix_ms;
	char *ttl_last_output;
	/* probes (H2's probe.h, sched.h) */
	struct probe *probe;
	struct hd_probe_arg *probe_arg; /* freed here when the probe is cancelled */
	struct sched_counts counts;
	/* a remote alias (AliasNode set): blocking reads of that node's checks */
	bool alias_call;
	uint64_t alias_index;
	uint64_t alias_timer;
	uint64_t alias_gen; /* a reply for an older generation is dropped */
};

/* A request answered later: a registration waiting for its sync, or a
 * SERVICE_GET waiting for a hash change. */
struct hwaiter {
	bool used;
	bool hash_watch;
	struct ipc_from from;
	uint64_t gen; /* registrations: the sync generation it waits for */
	char *id;     /* hash watches: the service and the hash it saw */
	char *hash;
	uint64_t timer;
};

struct hd_stats {
	uint64_t syncs_ok, syncs_failed, full_syncs, catalog_writes, reaped, ttl_expired;
	uint64_t probes_started, probes_refused, events;
};

struct hd {
	struct daemon *d;
	struct omap *svcs;     /* id -> struct hsvc */
	struct omap *chks;     /* id -> struct hchk */
	struct omap *del_svcs; /* ids to deregister from the catalog */
	struct omap *del_chks;
	struct msg_node node; /* this node's own fields, as anti-entropy writes them */
	bool node_in_sync;
	struct hstore store;
	struct ipc_client *raftd;
	struct ipc_client *gossipd;
	struct ipc_sub *raftd_sub;
	uint64_t seed; /* prng state */
	/* anti-entropy (sync.c) */
	bool round_running;
	bool round_full;
	int round_phase;
	uint64_t round; /* rounds started */
	uint64_t gen_req, gen_started, gen_done;
	uint64_t kick_timer, full_timer, retry_timer;
	bool full_due;
	size_t cluster_size;
	struct msg_catalog_node_reply remote_node; /* a full sync's catalog read */
	bool have_remote_node;
	/* runners (local.c) */
	struct sched *sched;
	struct probe_ctx *probes;
	uint64_t sched_timer, sched_timer_at;
	uint64_t reap_timer;
	uint64_t alias_timer; /* local aliases re-evaluated on the next turn */
	struct hwaiter waiters[HEALTHD_WAITERS_MAX];
	size_t n_sync_waiters, n_hash_waiters; /* so that a change need not scan them all */
	struct hd_stats st;
};

/* local.c: the state and what changes it. Records handed in are taken
 * (zeroed in the caller's struct). */
void hd_local_init(struct hd *hd);
void hd_local_fini(struct hd *hd);
void hd_local_reload(struct hd *hd); /* limits from a reloaded config */
struct hsvc *hd_svc(struct hd *hd, const char *id);
struct hchk *hd_chk(struct hd *hd, const char *id);
void hd_service_add(struct hd *hd, struct msg_agent_service *as,
                    struct msg_agent_check_list *checks, const char *token, bool replace_existing,
                    bool from_config, bool persist);
void hd_check_add(struct hd *hd, struct msg_agent_check *ac, const char *token, bool from_config,
                  bool persist);
void hd_service_remove(struct hd *hd, const char *id, bool persist);
void hd_check_remove(struct hd *hd, const char *id, bool persist);
/* Consul's UpdateCheck: status changes sync at once, output-only changes
 * wait for check_update_interval. */
void hd_check_update(struct hd *hd, struct hchk *c, const char *status, const char *output);
/* A TTL check's pass/warn/fail/update: 0, or the status with the text. */
int hd_ttl_update(struct hd *hd, const char *id, const char *status, const char *output, char *err,
                  size_t err_size);
void hd_persist_service(struct hd *hd, struct hsvc *s);
void hd_persist_check(struct hd *hd, struct hchk *c);
void hd_load_persisted(struct hd *hd);
void hd_reap_arm(struct hd *hd);
void hd_alias_dirty(struct hd *hd);
uint64_t hd_unix_ms(void);
uint64_t hd_rand(struct hd *hd, uint64_t n); /* uniform in [0, n) */
void hd_hash_waiters_wake(struct hd *hd, const char *service_id);

/* sync.c: anti-entropy. */
void hd_sync_start(struct hd *hd);
void hd_sync_stop(struct hd *hd);
/* Something changed: a partial sync soon; returns the generation a
 * registration waits for. */
uint64_t hd_sync_trigger(struct hd *hd);
void hd_sync_full_now(struct hd *hd);
void hd_sync_done(struct hd *hd); /* wakes registration waiters */
void hd_node_build(struct hd *hd);

#endif

/* conf.h: the agent configuration: Consul keys and defaults, files, flags, -dev, checks, JSON. */
#ifndef MUSTER_CONF_H
#define MUSTER_CONF_H

/*
 * How a configuration is resolved (spec/dns-cli-gossip-raft.md §3, DESIGN.md §6):
 *
 *   1. Consul's defaults (conf_init; agent/config/default.go DefaultSource).
 *   2. The -dev layer (spec §3.4: server, bind 127.0.0.1, log level debug, UI,
 *      gRPC 8502, fast gossip, raft_multiplier 1, dev raft timings...), under
 *      everything the user gives, as Consul's DevSource.
 *   3. The values of repeatable list flags (-retry-join, -recursor, -join...):
 *      Consul merges them before the files, so flags come first in the list.
 *   4. Every -config-file and -config-dir, in command-line order. A directory
 *      gives its *.yaml, *.yml and *.json files in strcmp order, not
 *      recursively; other files are skipped with a warning. Layers merge as in
 *      Consul: scalars replaced, lists appended, maps merged key by key.
 *   5. The other flags, on top.
 *   6. conf_validate: derived defaults (below), normalisation, checks.
 *   7. Host facts: node_name from gethostname() and, when bind_addr is
 *      0.0.0.0 or ::, advertise_addr from the one private IPv4 (RFC 1918 or
 *      RFC 6598) or public IPv6 of an interface that is up; none or several
 *      is an error, as in Consul.
 *
 * Files are YAML 1.2 read with libyaml; a Consul JSON config is valid YAML and
 * loads as it is. Types are Consul's (its JSON decoder is not weakly typed):
 *   - a string key takes a string: in YAML a plain scalar that is not null, a
 *     boolean or a number, or any quoted scalar ("server": "yes" is an error,
 *     and so is datacenter: 1 -- quote it);
 *   - a boolean takes true or false (also True/TRUE/False/FALSE, YAML 1.2);
 *   - an integer takes a number without a fraction (3, 3.0 and 3e0 load, 3.5
 *     does not);
 *   - a duration takes a Go duration string ("15.0s", "1h30m", "300ms",
 *     "1us", "2h45m10.5s", "0"). A bare number is an error, as in Consul,
 *     whose duration keys are strings parsed with time.ParseDuration. Values
 *     are stored in whole milliseconds (the *_ms fields), a non-zero
 *     remainder below 1 ms rounded up so that a positive duration never
 *     becomes 0. Negative durations are errors;
 *   - null (or ~) means "not given here": the key keeps its earlier value;
 *   - where one value is expected, a list of exactly one value is accepted
 *     (Consul's HookWeakDecodeFromSlice, for configs written for HCL).
 * A key given twice in one mapping: the last one wins, as Go's encoding/json
 * does (the earlier value is ignored entirely, a list is not appended).
 * services/checks (and Consul's single service/check, the same lists) are
 * kept as JSON texts, one definition each (a mapping, or a list of them);
 * healthd decodes them as it decodes an HTTP registration.
 * Keys Consul has but muster does not use yet (watches,
 * telemetry, connect, tls, ...) give one warning each and are skipped; a
 * key Consul does not have either is an error. YAML aliases are refused.
 *
 * Durations are written by conf_write_json in Go's time.Duration.String()
 * form, the form Consul prints: "0s", "200ms", "1.5s", "1m0s", "72h0m0s".
 * Ports are 1..65535; -1 (and 0, as Consul reads it) disables a listener and
 * is stored as -1.
 *
 * Keys muster adds to Consul's (documented in etc/muster.yaml):
 *
 *   dev_mode: written into <run_dir>/config.json so that children know;
 *     loading it does not apply the -dev layer again. Set by -dev. A dev
 *     server bootstraps itself (Consul: Bootstrap || DevMode) and needs no
 *     data_dir; bootstrap_expect is refused in dev mode.
 *
 *   test_timings: Consul's fixed intervals, which tests may shorten while the
 *     defaults stay Consul's:
 *       ae_interval 1m, check_reap_interval 30s, check_deregister_interval_min
 *       1m, session_ttl_min 10s (also Consul's top-level key session_ttl_min),
 *       tombstone_ttl 15m, server_health_interval 2s (10ms in -dev), and
 *       raft { heartbeat_timeout 1s, election_timeout 1s, leader_lease_timeout
 *       500ms, commit_timeout 50ms } -- hashicorp/raft's DefaultConfig, before
 *       the performance.raft_multiplier scaling (conf_raft_ms()); -dev sets
 *       35ms / 52ms / 20ms as Consul's DevConsulSource.
 *
 *   supervisor: musterd's limits (s6's rules, CONVENTIONS.md):
 *       restart_backoff_min 1s (≥ 100ms so tests can go faster),
 *       restart_backoff_max 30s, restart_reset_after 10s (ready that long
 *       resets the back-off), restart_max_deaths 5 in restart_window 60s
 *       (then the child is failed), stop_timeout 10s, ready_timeout 30s.
 *
 * Derived defaults, applied by conf_validate to keys no layer set:
 *   leave_on_terminate = !server, skip_leave_on_interrupt = server,
 *   enable_local_script_checks = enable_script_checks,
 *   primary_datacenter = datacenter, serf_lan = serf_wan = bind_addr,
 *   advertise_addr = bind_addr unless that is 0.0.0.0 or ::,
 *   advertise_addr_wan = advertise_addr.
 * bootstrap_expect = 1 becomes bootstrap = true (Consul, with its warning).
 * datacenter, domain and alt_domain are lower-cased; domain and alt_domain
 * get their trailing dot; ui_config.content_path its slashes; log_level is
 * one of trace, debug, info, warn, error.
 *
 * -n and -v are not agent flags: the caller takes them out of argv before
 * conf_resolve (cmdline.c does), so conf_resolve calls them unknown.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Limits (CONVENTIONS.md habit 7). */
#define CONF_FILE_SIZE_MAX  (4u << 20) /* bytes of one config file */
#define CONF_DEPTH_MAX      32         /* nesting of mappings and lists */
#define CONF_NODES_MAX      200000     /* scalars, mappings and lists in one file */
#define CONF_LIST_MAX       1024       /* entries of one list key, all layers together */
#define CONF_MAP_MAX        1024       /* entries of one map key (node_meta: then 64) */
#define CONF_SCALAR_MAX     8192       /* bytes of one value */
#define CONF_DIR_FILES_MAX  1024       /* config files read from one directory */
#define CONF_DIAG_MAX       100        /* errors (and warnings) kept; then one "too many" line */
#define CONF_KEYS_MAX       320        /* entries of the key table (a static assertion) */
#define CONF_NODE_META_MAX  64         /* Consul's metaMaxKeyPairs */
#define CONF_META_KEY_MAX   128        /* Consul's metaKeyMaxLength */
#define CONF_META_VALUE_MAX 512        /* Consul's metaValueMaxLength */
#define CONF_NAME_MAX       255        /* node_name, datacenter */

struct conf_list {
	char **v;
	size_t n;
};

struct conf_kv {
	char *key;
	char *value;
};

/* A string map, kept sorted by key, keys unique. */
struct conf_kvmap {
	struct conf_kv *v;
	size_t n;
};

struct conf_ttl {
	char *name; /* a service name, or a prefix ending in '*' ("*" = every service) */
	uint64_t ttl_ms;
};

/* dns_config.service_ttl, kept sorted by name. */
struct conf_ttlmap {
	struct conf_ttl *v;
	size_t n;
};

/* -1 = listener disabled. */
struct conf_ports {
	int dns;
	int http;
	int https;
	int grpc;
	int grpc_tls;
	int server;
	int serf_lan;
	int serf_wan;
};

/* Empty = client_addr. Consul's space-separated lists. */
struct conf_addresses {
	struct conf_list dns;
	struct conf_list http;
};

/* memberlist timings (spec §4.1). */
struct conf_gossip {
	int gossip_nodes;
	uint64_t gossip_interval_ms;
	uint64_t probe_interval_ms;
	uint64_t probe_timeout_ms;
	int retransmit_mult;
	int suspicion_mult;
};

/* SOA numbers, in seconds (spec §1.7). */
struct conf_dns_soa {
	uint64_t refresh;
	uint64_t retry;
	uint64_t expire;
	uint64_t min_ttl;
};

/* dns_config (spec §1.10). */
struct conf_dns {
	bool allow_stale;
	uint64_t max_stale_ms;
	uint64_t node_ttl_ms;
	struct conf_ttlmap service_ttl;
	bool enable_truncate;
	bool only_passing;
	uint64_t recursor_timeout_ms;
	char *recursor_strategy; /* "sequential" or "random" */
	int udp_answer_limit;
	int a_record_limit; /* 0 = no limit */
	struct conf_dns_soa soa;
	bool use_cache;
	uint64_t cache_max_age_ms;
	bool enable_additional_node_meta_txt;
	bool disable_compression;
};

struct conf_performance {
	int raft_multiplier; /* 1..10 */
	uint64_t leave_drain_time_ms;
	uint64_t rpc_hold_timeout_ms;
};

struct conf_limits {
	int http_max_conns_per_client;
	int rpc_max_conns_per_client;
	uint64_t kv_max_value_size;
	uint64_t txn_max_req_len;
};

struct conf_autopilot {
	bool cleanup_dead_servers;
	uint64_t last_contact_threshold_ms;
	uint64_t max_trailing_logs;
	uint64_t server_stabilization_time_ms;
	uint64_t min_quorum; /* cleanup_dead_servers never prunes below it (0: no floor) */
};

struct conf_acl_tokens {
	char *initial_management;
	char *agent;
	char *default_token; /* key "default" (a C keyword) */
};

/* Stored for later work; nothing enforces ACLs yet. */
struct conf_acl {
	bool enabled;
	char *default_policy; /* allow, deny */
	char *down_policy;    /* allow, deny, extend-cache, async-cache */
	struct conf_acl_tokens tokens;
};

struct conf_ui {
	bool enabled;
	char *dir;
	char *content_path; /* "/ui/" */
};

/* hashicorp/raft timings before performance.raft_multiplier scaling. */
struct conf_test_raft {
	uint64_t heartbeat_timeout_ms;
	uint64_t election_timeout_ms;
	uint64_t leader_lease_timeout_ms;
	uint64_t commit_timeout_ms;
};

struct conf_test_timings {
	uint64_t ae_interval_ms;
	uint64_t check_reap_interval_ms;
	uint64_t check_deregister_interval_min_ms;
	uint64_t session_ttl_min_ms;
	uint64_t tombstone_ttl_ms; /* how long KV tombstones live (Consul: 15 min) */
	uint64_t server_health_interval_ms;
	struct conf_test_raft raft;
};

struct conf_supervisor {
	uint64_t restart_backoff_min_ms;
	uint64_t restart_backoff_max_ms;
	uint64_t restart_reset_after_ms;
	int restart_max_deaths; /* 1..64 (SUP_DEATHS_MAX) */
	uint64_t restart_window_ms;
	uint64_t stop_timeout_ms;
	uint64_t ready_timeout_ms;
};

/* Every key, by Consul's name (the field is the key; nested keys are nested
 * structs). A char * is NULL when unset. */
struct conf {
	struct conf_acl acl;
	struct conf_addresses addresses;
	char *advertise_addr;
	char *advertise_addr_wan;
	char *alt_domain;
	struct conf_autopilot autopilot;
	char *bind_addr;
	bool bootstrap;
	int bootstrap_expect;
	uint64_t check_update_interval_ms;
	/* Consul's checks (and check): each entry one check definition as
	 * compact JSON, decoded and validated by healthd (spec/http-api.md
	 * §3.16); services (and service) likewise (§3.12). Reloadable. */
	struct conf_list checks;
	struct conf_list client_addr; /* Consul's space-separated string, split */
	char *data_dir;
	char *datacenter;
	uint64_t default_query_time_ms;
	bool dev_mode;
	bool disable_keyring_file;
	bool disable_remote_exec;
	struct conf_dns dns_config;
	char *domain;
	bool enable_local_script_checks;
	bool enable_script_checks;
	char *encrypt;
	bool encrypt_verify_incoming;
	bool encrypt_verify_outgoing;
	struct conf_gossip gossip_lan;
	struct conf_gossip gossip_wan;
	bool leave_on_terminate;
	struct conf_limits limits;
	bool log_json;
	char *log_level;
	uint64_t max_query_time_ms;
	char *node_id;
	struct conf_kvmap node_meta;
	char *node_name;
	struct conf_performance performance;
	char *pid_file;
	struct conf_ports ports;
	char *primary_datacenter;
	int raft_protocol;
	uint64_t raft_snapshot_interval_ms;
	uint64_t raft_snapshot_threshold;
	uint64_t raft_trailing_logs;
	uint64_t reconnect_timeout_ms;
	uint64_t reconnect_timeout_wan_ms;
	struct conf_list recursors;
	bool rejoin_after_leave;
	uint64_t retry_interval_ms;
	uint64_t retry_interval_wan_ms;
	struct conf_list retry_join; /* start_join and -join are appended here (Consul 1.15) */
	struct conf_list retry_join_wan;
	int retry_max;
	int retry_max_wan;
	char *serf_lan; /* bind address of the LAN pool */
	char *serf_wan; /* bind address of the WAN pool */
	bool server;
	struct conf_list services;
	bool skip_leave_on_interrupt;
	struct conf_supervisor supervisor;
	struct conf_test_timings test_timings;
	struct conf_ui ui_config;

	/* Which keys some layer set, by key-table index: derived defaults
	 * apply only to keys nobody set. Not configuration. */
	uint8_t key_set[CONF_KEYS_MAX / 8];
};

/* Each entry one full line ("config: file:line: ..."), malloc'd. */
struct conf_diag {
	char **errors;
	size_t n_errors;
	char **warnings;
	size_t n_warnings;
};

/* Consul's defaults. */
void conf_init(struct conf *c);
void conf_fini(struct conf *c);
void conf_diag_fini(struct conf_diag *d);

/* The whole resolution (above) of argv[1..argc-1] onto c fresh from
 * conf_init (argv[0] is the program name). 0 ok, -1 errors in d. */
int conf_resolve(struct conf *c, int argc, char **argv, struct conf_diag *d);
/* One YAML/JSON file merged onto c, whatever its extension. */
int conf_load_file(struct conf *c, const char *path, struct conf_diag *d);
/* A file, or a directory's *.yaml, *.yml and *.json files in order. */
int conf_load_path(struct conf *c, const char *path, struct conf_diag *d);
/* text need not be NUL-terminated; name is what messages call it. */
int conf_load_mem(struct conf *c, const char *name, const char *text, size_t len,
                  struct conf_diag *d);
/* Derived defaults, normalisation, then the checks; need_data_dir: a
 * running agent needs a data_dir unless dev_mode. Warnings go to d too. */
int conf_validate(struct conf *c, bool need_data_dir, struct conf_diag *d);

/* Every key with its value, sorted by key at each level, 2-space indent,
 * durations as Go strings, unset strings as null, disabled ports as -1, a
 * final newline. What -nv prints and <run_dir>/config.json holds: loading
 * it gives an equal struct (conf_equal). */
int conf_write_json(const struct conf *c, struct buf *out);

/* Compares every key (not key_set). */
bool conf_equal(const struct conf *a, const struct conf *b);
/* Writes up to max dotted names of keys that differ; returns how many differ. */
size_t conf_diff(const struct conf *a, const struct conf *b, const char **names, size_t max);
/* Whether a change of this key (dotted name) can be applied by a reload
 * (SIGHUP) without restarting the agent, as in Consul. */
bool conf_key_is_reloadable(const char *name);

/* A raft timing from test_timings.raft scaled by performance.raft_multiplier,
 * as Consul does (agent/config/builder.go). */
static inline uint64_t conf_raft_ms(const struct conf *c, uint64_t base_ms)
{
	return base_ms * (uint64_t)c->performance.raft_multiplier;
}

/* Go durations (time.ParseDuration / Duration.String) in whole ms. */
int conf_dur_parse(const char *s, uint64_t *ms, const char **why);
/* out must hold CONF_DUR_STR_MAX bytes. */
#define CONF_DUR_STR_MAX 40
void conf_dur_format(uint64_t ms, char *out);

#endif

/* conf.c: the key table, declared once, and what it drives: defaults, loading, printing. */
#include "conf_priv.h"
#include "buf.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum conf_type {
	CONF_T_SECTION = 0, /* a mapping of further keys */
	CONF_T_BOOL,        /* bool */
	CONF_T_INT,         /* int, in [min, max] */
	CONF_T_U64,         /* uint64_t, in [min, max] */
	CONF_T_DUR,         /* uint64_t ms, a Go duration, in [min, max] ms */
	CONF_T_PORT,        /* int, 1..65535 or -1 */
	CONF_T_STR,         /* char *, NULL = unset */
	CONF_T_ENUM,        /* char *, one of choices (stored in canonical form) */
	CONF_T_ADDRS,       /* struct conf_list from a space-separated string; replaced */
	CONF_T_LIST,        /* struct conf_list of strings; appended */
	CONF_T_META,        /* struct conf_kvmap; merged */
	CONF_T_TTLS,        /* struct conf_ttlmap; merged */
	CONF_T_DEFS,        /* struct conf_list of compact JSON objects (service/check definitions);
	                       appended */
	CONF_T_UNUSED,      /* a Consul key muster does not use yet: warned, skipped */
	CONF_T_ALIAS,       /* a deprecated Consul name of another key: warned, applied */
};

#define K_RELOAD 1u /* a reload applies it (Consul's reloadable subset, plus muster's own) */
#define K_MUSTER 2u /* muster's key, not Consul's */
#define K_HIDDEN 4u /* another name of a printed key's field (service -> services): not printed */

struct conf_key {
	const char *name; /* dotted path, e.g. "dns_config.soa.expire" */
	enum conf_type type;
	size_t off;
	const char *dflt; /* in flag syntax; NULL = none */
	int64_t min, max;
	const char *const *choices; /* CONF_T_ENUM: "name" or "alias=name" */
	const char *target;         /* CONF_T_ALIAS */
	unsigned flags;
};

/* Go's time.Duration limit, in ms. */
#define CONF_DUR_MAX_MS 9223372036854ll
/* reconnect_timeout(_wan) must be at least 8h (Consul's builder). */
#define CONF_RECONNECT_MIN_MS (8ll * 3600 * 1000)
/* A bound for bootstrap_expect: more voters than this is a mistake. */
#define CONF_SERVERS_MAX 64
/* limits.kv_max_value_size and txn_max_req_len: 1 GiB at most. */
#define CONF_VALUE_SIZE_MAX (1ll << 30)

#define CONF_OFF(m) offsetof(struct conf, m)
#define K_SECTION(n)                                                                               \
	{                                                                                          \
		n, CONF_T_SECTION, 0, NULL, 0, 0, NULL, NULL, 0                                    \
	}
#define K_BOOL(n, m, d, fl)                                                                        \
	{                                                                                          \
		n, CONF_T_BOOL, CONF_OFF(m), d, 0, 1, NULL, NULL, fl                               \
	}
#define K_INT(n, m, d, lo, hi, fl)                                                                 \
	{                                                                                          \
		n, CONF_T_INT, CONF_OFF(m), d, lo, hi, NULL, NULL, fl                              \
	}
#define K_U64(n, m, d, lo, hi, fl)                                                                 \
	{                                                                                          \
		n, CONF_T_U64, CONF_OFF(m), d, lo, hi, NULL, NULL, fl                              \
	}
#define K_DUR(n, m, d, lo, fl)                                                                     \
	{                                                                                          \
		n, CONF_T_DUR, CONF_OFF(m), d, lo, CONF_DUR_MAX_MS, NULL, NULL, fl                 \
	}
#define K_PORT(n, m, d)                                                                            \
	{                                                                                          \
		n, CONF_T_PORT, CONF_OFF(m), d, -1, 65535, NULL, NULL, 0                           \
	}
#define K_STR(n, m, d, fl)                                                                         \
	{                                                                                          \
		n, CONF_T_STR, CONF_OFF(m), d, 0, 0, NULL, NULL, fl                                \
	}
#define K_ENUM(n, m, d, ch, fl)                                                                    \
	{                                                                                          \
		n, CONF_T_ENUM, CONF_OFF(m), d, 0, 0, ch, NULL, fl                                 \
	}
#define K_ADDRS(n, m, d, fl)                                                                       \
	{                                                                                          \
		n, CONF_T_ADDRS, CONF_OFF(m), d, 0, 0, NULL, NULL, fl                              \
	}
#define K_LIST(n, m, fl)                                                                           \
	{                                                                                          \
		n, CONF_T_LIST, CONF_OFF(m), NULL, 0, 0, NULL, NULL, fl                            \
	}
#define K_META(n, m, fl)                                                                           \
	{                                                                                          \
		n, CONF_T_META, CONF_OFF(m), NULL, 0, 0, NULL, NULL, fl                            \
	}
#define K_TTLS(n, m, fl)                                                                           \
	{                                                                                          \
		n, CONF_T_TTLS, CONF_OFF(m), NULL, 0, 0, NULL, NULL, fl                            \
	}
#define K_DEFS(n, m, fl)                                                                           \
	{                                                                                          \
		n, CONF_T_DEFS, CONF_OFF(m), NULL, 0, 0, NULL, NULL, fl                            \
	}
#define K_UNUSED(n)                                                                                \
	{                                                                                          \
		n, CONF_T_UNUSED, 0, NULL, 0, 0, NULL, NULL, 0                                     \
	}
#define K_ALIAS(n, t)                                                                              \
	{                                                                                          \
		n, CONF_T_ALIAS, 0, NULL, 0, 0, NULL, t, 0                                         \
	}

static const char *const conf_log_levels[] = {
    "trace", "debug", "info", "warn", "error", "warning=warn", "err=error", NULL,
};
static const char *const conf_acl_policies[] = {"allow", "deny", NULL};
static const char *const conf_acl_down_policies[] = {
    "allow", "deny", "extend-cache", "async-cache", NULL,
};
static const char *const conf_recursor_strategies[] = {"sequential", "random", NULL};

/* Every key, sorted by name (strcmp; conf_init asserts it, lookups use
 * bsearch). Defaults are Consul's agent/config/default.go, memberlist's
 * (spec §4.1), hashicorp/raft's (spec §5.1) and the brief's for muster's
 * own sections. Keys Consul has and muster does not use yet are UNUSED. */
// clang-format off
static const struct conf_key conf_keys[] = {
	K_SECTION("acl"),
	K_ENUM("acl.default_policy", acl.default_policy, "allow", conf_acl_policies, 0),
	K_ENUM("acl.down_policy", acl.down_policy, "extend-cache", conf_acl_down_policies, 0),
	K_UNUSED("acl.enable_key_list_policy"),
	K_UNUSED("acl.enable_token_persistence"),
	K_UNUSED("acl.enable_token_replication"),
	K_BOOL("acl.enabled", acl.enabled, "false", 0),
	K_UNUSED("acl.msp_disable_bootstrap"),
	K_UNUSED("acl.policy_ttl"),
	K_UNUSED("acl.role_ttl"),
	K_UNUSED("acl.token_replication"),
	K_UNUSED("acl.token_ttl"),
	K_SECTION("acl.tokens"),
	K_STR("acl.tokens.agent", acl.tokens.agent, NULL, K_RELOAD),
	K_UNUSED("acl.tokens.agent_master"),
	K_UNUSED("acl.tokens.agent_recovery"),
	K_UNUSED("acl.tokens.config_file_service_registration"),
	K_STR("acl.tokens.default", acl.tokens.default_token, NULL, K_RELOAD),
	K_UNUSED("acl.tokens.dns"),
	K_STR("acl.tokens.initial_management", acl.tokens.initial_management, NULL, K_RELOAD),
	K_UNUSED("acl.tokens.managed_service_provider"),
	K_UNUSED("acl.tokens.master"),
	K_UNUSED("acl.tokens.replication"),
	K_UNUSED("acl_agent_master_token"),
	K_UNUSED("acl_agent_token"),
	K_UNUSED("acl_datacenter"),
	K_UNUSED("acl_default_policy"),
	K_UNUSED("acl_down_policy"),
	K_UNUSED("acl_enable_key_list_policy"),
	K_UNUSED("acl_enforce_version_8"),
	K_UNUSED("acl_master_token"),
	K_UNUSED("acl_replication_token"),
	K_UNUSED("acl_token"),
	K_UNUSED("acl_ttl"),
	K_SECTION("addresses"),
	K_ADDRS("addresses.dns", addresses.dns, NULL, 0),
	K_UNUSED("addresses.grpc"),
	K_UNUSED("addresses.grpc_tls"),
	K_ADDRS("addresses.http", addresses.http, NULL, 0),
	K_UNUSED("addresses.https"),
	K_STR("advertise_addr", advertise_addr, NULL, 0),
	K_UNUSED("advertise_addr_ipv4"),
	K_UNUSED("advertise_addr_ipv6"),
	K_STR("advertise_addr_wan", advertise_addr_wan, NULL, 0),
	K_UNUSED("advertise_addr_wan_ipv4"),
	K_UNUSED("advertise_addr_wan_ipv6"),
	K_UNUSED("advertise_addrs"),
	K_UNUSED("advertise_reconnect_timeout"),
	K_UNUSED("ae_interval"),
	K_STR("alt_domain", alt_domain, NULL, 0),
	K_UNUSED("audit"),
	K_UNUSED("auto_config"),
	K_UNUSED("auto_encrypt"),
	K_UNUSED("auto_reload_config"),
	K_SECTION("autopilot"),
	K_BOOL("autopilot.cleanup_dead_servers", autopilot.cleanup_dead_servers, "true", 0),
	K_UNUSED("autopilot.disable_upgrade_migration"),
	K_DUR("autopilot.last_contact_threshold", autopilot.last_contact_threshold_ms,
		"200ms", 0, 0),
	K_U64("autopilot.max_trailing_logs", autopilot.max_trailing_logs, "250", 0, INT64_MAX, 0),
	K_U64("autopilot.min_quorum", autopilot.min_quorum, "0", 0, 1000, 0),
	K_UNUSED("autopilot.redundancy_zone_tag"),
	K_DUR("autopilot.server_stabilization_time", autopilot.server_stabilization_time_ms,
		"10s", 0, 0),
	K_UNUSED("autopilot.upgrade_version_tag"),
	K_STR("bind_addr", bind_addr, "0.0.0.0", 0),
	K_BOOL("bootstrap", bootstrap, "false", 0),
	K_INT("bootstrap_expect", bootstrap_expect, "0", 0, CONF_SERVERS_MAX, 0),
	K_UNUSED("ca_file"),
	K_UNUSED("ca_path"),
	K_UNUSED("cache"),
	K_UNUSED("cert_file"),
	K_DEFS("check", checks, K_RELOAD | K_HIDDEN),
	K_UNUSED("check_deregister_interval_min"),
	K_UNUSED("check_output_max_size"),
	K_UNUSED("check_reap_interval"),
	K_DUR("check_update_interval", check_update_interval_ms, "5m", 0, 0),
	K_DEFS("checks", checks, K_RELOAD),
	K_ADDRS("client_addr", client_addr, "127.0.0.1", 0),
	K_UNUSED("cloud"),
	K_UNUSED("config_entries"),
	K_UNUSED("connect"),
	K_UNUSED("consul"),
	K_STR("data_dir", data_dir, NULL, 0),
	K_STR("datacenter", datacenter, "dc1", 0),
	K_DUR("default_query_time", default_query_time_ms, "300s", 1, 0),
	K_BOOL("dev_mode", dev_mode, "false", K_MUSTER),
	K_UNUSED("disable_anonymous_signature"),
	K_UNUSED("disable_coordinates"),
	K_UNUSED("disable_host_node_id"),
	K_UNUSED("disable_http_unprintable_char_filter"),
	K_BOOL("disable_keyring_file", disable_keyring_file, "false", 0),
	K_BOOL("disable_remote_exec", disable_remote_exec, "true", 0),
	K_UNUSED("disable_update_check"),
	K_UNUSED("discard_check_output"),
	K_UNUSED("discovery_max_stale"),
	K_SECTION("dns_config"),
	K_INT("dns_config.a_record_limit", dns_config.a_record_limit, "0", 0, 65535, K_RELOAD),
	K_BOOL("dns_config.allow_stale", dns_config.allow_stale, "true", K_RELOAD),
	K_DUR("dns_config.cache_max_age", dns_config.cache_max_age_ms, "0s", 0, K_RELOAD),
	K_BOOL("dns_config.disable_compression", dns_config.disable_compression, "false", K_RELOAD),
	K_BOOL("dns_config.enable_additional_node_meta_txt",
		dns_config.enable_additional_node_meta_txt, "true", K_RELOAD),
	K_BOOL("dns_config.enable_truncate", dns_config.enable_truncate, "false", K_RELOAD),
	K_DUR("dns_config.max_stale", dns_config.max_stale_ms, "87600h", 0, K_RELOAD),
	K_DUR("dns_config.node_ttl", dns_config.node_ttl_ms, "0s", 0, K_RELOAD),
	K_BOOL("dns_config.only_passing", dns_config.only_passing, "false", K_RELOAD),
	K_UNUSED("dns_config.prefer_namespace"),
	K_ENUM("dns_config.recursor_strategy", dns_config.recursor_strategy,
		"sequential", conf_recursor_strategies, K_RELOAD),
	K_DUR("dns_config.recursor_timeout", dns_config.recursor_timeout_ms, "2s", 1, K_RELOAD),
	K_TTLS("dns_config.service_ttl", dns_config.service_ttl, K_RELOAD),
	K_SECTION("dns_config.soa"),
	K_U64("dns_config.soa.expire", dns_config.soa.expire, "86400", 0, UINT32_MAX, K_RELOAD),
	K_U64("dns_config.soa.min_ttl", dns_config.soa.min_ttl, "0", 0, UINT32_MAX, K_RELOAD),
	K_U64("dns_config.soa.refresh", dns_config.soa.refresh, "3600", 0, UINT32_MAX, K_RELOAD),
	K_U64("dns_config.soa.retry", dns_config.soa.retry, "600", 0, UINT32_MAX, K_RELOAD),
	K_INT("dns_config.udp_answer_limit", dns_config.udp_answer_limit, "3", 1, 65535, K_RELOAD),
	K_BOOL("dns_config.use_cache", dns_config.use_cache, "false", K_RELOAD),
	K_STR("domain", domain, "consul.", 0),
	K_UNUSED("enable_acl_replication"),
	K_UNUSED("enable_agent_tls_for_checks"),
	K_UNUSED("enable_central_service_config"),
	K_UNUSED("enable_debug"),
	K_BOOL("enable_local_script_checks", enable_local_script_checks, "false", 0),
	K_BOOL("enable_script_checks", enable_script_checks, "false", 0),
	K_UNUSED("enable_syslog"),
	K_STR("encrypt", encrypt, NULL, 0),
	K_BOOL("encrypt_verify_incoming", encrypt_verify_incoming, "true", 0),
	K_BOOL("encrypt_verify_outgoing", encrypt_verify_outgoing, "true", 0),
	K_UNUSED("experiments"),
	K_SECTION("gossip_lan"),
	K_DUR("gossip_lan.gossip_interval", gossip_lan.gossip_interval_ms, "200ms", 1, 0),
	K_INT("gossip_lan.gossip_nodes", gossip_lan.gossip_nodes, "3", 1, 64, 0),
	K_DUR("gossip_lan.probe_interval", gossip_lan.probe_interval_ms, "1s", 1, 0),
	K_DUR("gossip_lan.probe_timeout", gossip_lan.probe_timeout_ms, "500ms", 1, 0),
	K_INT("gossip_lan.retransmit_mult", gossip_lan.retransmit_mult, "4", 1, 64, 0),
	K_INT("gossip_lan.suspicion_mult", gossip_lan.suspicion_mult, "4", 1, 64, 0),
	K_SECTION("gossip_wan"),
	K_DUR("gossip_wan.gossip_interval", gossip_wan.gossip_interval_ms, "500ms", 1, 0),
	K_INT("gossip_wan.gossip_nodes", gossip_wan.gossip_nodes, "3", 1, 64, 0),
	K_DUR("gossip_wan.probe_interval", gossip_wan.probe_interval_ms, "5s", 1, 0),
	K_DUR("gossip_wan.probe_timeout", gossip_wan.probe_timeout_ms, "3s", 1, 0),
	K_INT("gossip_wan.retransmit_mult", gossip_wan.retransmit_mult, "4", 1, 64, 0),
	K_INT("gossip_wan.suspicion_mult", gossip_wan.suspicion_mult, "6", 1, 64, 0),
	K_UNUSED("http_config"),
	K_UNUSED("key_file"),
	K_BOOL("leave_on_terminate", leave_on_terminate, "false", K_RELOAD),
	K_UNUSED("license_path"),
	K_SECTION("limits"),
	K_INT("limits.http_max_conns_per_client", limits.http_max_conns_per_client,
		"200", 0, INT32_MAX, K_RELOAD),
	K_UNUSED("limits.https_handshake_timeout"),
	K_U64("limits.kv_max_value_size", limits.kv_max_value_size,
		"524288", 1, CONF_VALUE_SIZE_MAX, K_RELOAD),
	K_UNUSED("limits.request_limits"),
	K_UNUSED("limits.rpc_client_timeout"),
	K_UNUSED("limits.rpc_handshake_timeout"),
	K_UNUSED("limits.rpc_max_burst"),
	K_INT("limits.rpc_max_conns_per_client", limits.rpc_max_conns_per_client,
		"100", 0, INT32_MAX, K_RELOAD),
	K_UNUSED("limits.rpc_rate"),
	K_U64("limits.txn_max_req_len", limits.txn_max_req_len,
		"524288", 1, CONF_VALUE_SIZE_MAX, K_RELOAD),
	K_UNUSED("locality"),
	K_UNUSED("log_file"),
	K_BOOL("log_json", log_json, "false", 0),
	K_ENUM("log_level", log_level, "info", conf_log_levels, K_RELOAD),
	K_UNUSED("log_rotate_bytes"),
	K_UNUSED("log_rotate_duration"),
	K_UNUSED("log_rotate_max_files"),
	K_DUR("max_query_time", max_query_time_ms, "600s", 1, 0),
	K_STR("node_id", node_id, NULL, 0),
	K_META("node_meta", node_meta, K_RELOAD),
	K_STR("node_name", node_name, NULL, 0),
	K_UNUSED("non_voting_server"),
	K_UNUSED("partition"),
	K_UNUSED("peering"),
	K_SECTION("performance"),
	K_DUR("performance.leave_drain_time", performance.leave_drain_time_ms, "5s", 0, 0),
	K_INT("performance.raft_multiplier", performance.raft_multiplier, "5", 1, 10, 0),
	K_DUR("performance.rpc_hold_timeout", performance.rpc_hold_timeout_ms, "7s", 0, 0),
	K_STR("pid_file", pid_file, NULL, 0),
	K_SECTION("ports"),
	K_PORT("ports.dns", ports.dns, "8600"),
	K_UNUSED("ports.expose_max_port"),
	K_UNUSED("ports.expose_min_port"),
	K_PORT("ports.grpc", ports.grpc, "-1"),
	K_PORT("ports.grpc_tls", ports.grpc_tls, "-1"),
	K_PORT("ports.http", ports.http, "8500"),
	K_PORT("ports.https", ports.https, "-1"),
	K_UNUSED("ports.proxy_max_port"),
	K_UNUSED("ports.proxy_min_port"),
	K_PORT("ports.serf_lan", ports.serf_lan, "8301"),
	K_PORT("ports.serf_wan", ports.serf_wan, "8302"),
	K_PORT("ports.server", ports.server, "8300"),
	K_UNUSED("ports.sidecar_max_port"),
	K_UNUSED("ports.sidecar_min_port"),
	K_STR("primary_datacenter", primary_datacenter, NULL, 0),
	K_UNUSED("primary_gateways"),
	K_UNUSED("primary_gateways_interval"),
	K_UNUSED("protocol"),
	K_UNUSED("raft_boltdb"),
	K_UNUSED("raft_logstore"),
	K_INT("raft_protocol", raft_protocol, "3", 3, 3, 0),
	K_DUR("raft_snapshot_interval", raft_snapshot_interval_ms, "30s", 5, K_RELOAD),
	K_U64("raft_snapshot_threshold", raft_snapshot_threshold, "16384", 1, INT64_MAX, K_RELOAD),
	K_U64("raft_trailing_logs", raft_trailing_logs, "10240", 0, INT64_MAX, K_RELOAD),
	K_UNUSED("read_replica"),
	K_DUR("reconnect_timeout", reconnect_timeout_ms, "72h", CONF_RECONNECT_MIN_MS, 0),
	K_DUR("reconnect_timeout_wan", reconnect_timeout_wan_ms, "72h", CONF_RECONNECT_MIN_MS, 0),
	K_ALIAS("recursor", "recursors"),
	K_LIST("recursors", recursors, K_RELOAD),
	K_BOOL("rejoin_after_leave", rejoin_after_leave, "false", 0),
	K_UNUSED("reporting"),
	K_DUR("retry_interval", retry_interval_ms, "30s", 1, 0),
	K_DUR("retry_interval_wan", retry_interval_wan_ms, "30s", 1, 0),
	K_LIST("retry_join", retry_join, 0),
	K_LIST("retry_join_wan", retry_join_wan, 0),
	K_INT("retry_max", retry_max, "0", 0, INT32_MAX, 0),
	K_INT("retry_max_wan", retry_max_wan, "0", 0, INT32_MAX, 0),
	K_UNUSED("rpc"),
	K_UNUSED("segment"),
	K_UNUSED("segment_limit"),
	K_UNUSED("segment_name_limit"),
	K_UNUSED("segments"),
	K_STR("serf_lan", serf_lan, NULL, 0),
	K_UNUSED("serf_lan_allowed_cidrs"),
	K_STR("serf_wan", serf_wan, NULL, 0),
	K_UNUSED("serf_wan_allowed_cidrs"),
	K_BOOL("server", server, "false", 0),
	K_UNUSED("server_name"),
	K_UNUSED("server_rejoin_age_max"),
	K_DEFS("service", services, K_RELOAD | K_HIDDEN),
	K_DEFS("services", services, K_RELOAD),
	K_ALIAS("session_ttl_min", "test_timings.session_ttl_min"),
	K_BOOL("skip_leave_on_interrupt", skip_leave_on_interrupt, "false", K_RELOAD),
	K_ALIAS("start_join", "retry_join"),
	K_ALIAS("start_join_wan", "retry_join_wan"),
	K_SECTION("supervisor"),
	K_DUR("supervisor.ready_timeout", supervisor.ready_timeout_ms,
		"30s", 100, K_RELOAD | K_MUSTER),
	K_DUR("supervisor.restart_backoff_max", supervisor.restart_backoff_max_ms,
		"30s", 100, K_RELOAD | K_MUSTER),
	K_DUR("supervisor.restart_backoff_min", supervisor.restart_backoff_min_ms,
		"1s", 100, K_RELOAD | K_MUSTER),
	K_INT("supervisor.restart_max_deaths", supervisor.restart_max_deaths,
		"5", 1, 64, K_RELOAD | K_MUSTER),
	K_DUR("supervisor.restart_reset_after", supervisor.restart_reset_after_ms,
		"10s", 0, K_RELOAD | K_MUSTER),
	K_DUR("supervisor.restart_window", supervisor.restart_window_ms,
		"60s", 100, K_RELOAD | K_MUSTER),
	K_DUR("supervisor.stop_timeout", supervisor.stop_timeout_ms,
		"10s", 100, K_RELOAD | K_MUSTER),
	K_UNUSED("sync_coordinate_interval_min"),
	K_UNUSED("sync_coordinate_rate_target"),
	K_UNUSED("syslog_facility"),
	K_UNUSED("tagged_addresses"),
	K_UNUSED("telemetry"),
	K_SECTION("test_timings"),
	K_DUR("test_timings.ae_interval", test_timings.ae_interval_ms, "1m", 1, K_MUSTER),
	K_DUR("test_timings.check_deregister_interval_min",
		test_timings.check_deregister_interval_min_ms, "1m", 1, K_MUSTER),
	K_DUR("test_timings.check_reap_interval", test_timings.check_reap_interval_ms,
		"30s", 1, K_MUSTER),
	K_SECTION("test_timings.raft"),
	K_DUR("test_timings.raft.commit_timeout", test_timings.raft.commit_timeout_ms,
		"50ms", 1, K_MUSTER),
	K_DUR("test_timings.raft.election_timeout", test_timings.raft.election_timeout_ms,
		"1s", 5, K_MUSTER),
	K_DUR("test_timings.raft.heartbeat_timeout", test_timings.raft.heartbeat_timeout_ms,
		"1s", 5, K_MUSTER),
	K_DUR("test_timings.raft.leader_lease_timeout", test_timings.raft.leader_lease_timeout_ms,
		"500ms", 5, K_MUSTER),
	K_DUR("test_timings.server_health_interval", test_timings.server_health_interval_ms,
		"2s", 1, K_MUSTER),
	K_DUR("test_timings.session_ttl_min", test_timings.session_ttl_min_ms, "10s", 1, K_MUSTER),
	K_DUR("test_timings.tombstone_ttl", test_timings.tombstone_ttl_ms, "15m", 1, K_MUSTER),
	K_UNUSED("tls"),
	K_UNUSED("tls_cipher_suites"),
	K_UNUSED("tls_min_version"),
	K_UNUSED("tls_prefer_server_cipher_suites"),
	K_UNUSED("translate_wan_addrs"),
	K_ALIAS("ui", "ui_config.enabled"),
	K_SECTION("ui_config"),
	K_STR("ui_config.content_path", ui_config.content_path, "/ui/", 0),
	K_UNUSED("ui_config.dashboard_url_templates"),
	K_STR("ui_config.dir", ui_config.dir, NULL, 0),
	K_BOOL("ui_config.enabled", ui_config.enabled, "false", 0),
	K_UNUSED("ui_config.metrics_provider"),
	K_UNUSED("ui_config.metrics_provider_files"),
	K_UNUSED("ui_config.metrics_provider_options_json"),
	K_UNUSED("ui_config.metrics_proxy"),
	K_ALIAS("ui_content_path", "ui_config.content_path"),
	K_ALIAS("ui_dir", "ui_config.dir"),
	K_UNUSED("unix_sockets"),
	K_UNUSED("use_streaming_backend"),
	K_UNUSED("verify_incoming"),
	K_UNUSED("verify_incoming_https"),
	K_UNUSED("verify_incoming_rpc"),
	K_UNUSED("verify_outgoing"),
	K_UNUSED("verify_server_hostname"),
	K_UNUSED("watches"),
	K_UNUSED("xds"),
};
// clang-format on

#define CONF_N_KEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))
_Static_assert(sizeof(conf_keys) / sizeof(conf_keys[0]) <= CONF_KEYS_MAX,
               "the key table outgrew CONF_KEYS_MAX");

/* Consul's DevSource and DevConsulSource (spec §3.4), as one more layer;
 * the raft timings are test_timings' (before scaling; multiplier 1). */
const char conf_dev_layer[] = "dev_mode: true\n"
                              "server: true\n"
                              "bind_addr: 127.0.0.1\n"
                              "disable_keyring_file: true\n"
                              "log_level: debug\n"
                              "ui_config: {enabled: true}\n"
                              "ports: {grpc: 8502}\n"
                              "performance: {raft_multiplier: 1}\n"
                              "gossip_lan: {gossip_interval: 100ms, probe_interval: 100ms,\n"
                              "             probe_timeout: 100ms, suspicion_mult: 3}\n"
                              "gossip_wan: {gossip_interval: 100ms, probe_interval: 100ms,\n"
                              "             probe_timeout: 100ms, suspicion_mult: 3}\n"
                              "test_timings:\n"
                              "  server_health_interval: 10ms\n"
                              "  raft: {heartbeat_timeout: 35ms, election_timeout: 52ms,\n"
                              "         leader_lease_timeout: 20ms}\n";

#define CONF_FIELD(c, k, T)  ((T *)(void *)((char *)(c) + (k)->off))
#define CONF_CFIELD(c, k, T) ((const T *)(const void *)((const char *)(c) + (k)->off))

/* ---- diagnostics ---- */

static void conf_diag_add(char ***v, size_t *n, const char *what, const char *fmt, va_list ap)
{
	char *line = NULL, **p;

	if (*n >= CONF_DIAG_MAX)
		return;
	if (*n == CONF_DIAG_MAX - 1) {
		if (asprintf(&line, "config: too many %s; the rest are not shown", what) < 0)
			return;
	} else if (vasprintf(&line, fmt, ap) < 0) {
		return;
	}
	p = realloc(*v, (*n + 1) * sizeof(*p));
	if (p == NULL) {
		free(line);
		return;
	}
	*v = p;
	(*v)[(*n)++] = line;
}

void conf_diag_error(struct conf_diag *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_diag_add(&d->errors, &d->n_errors, "errors", fmt, ap);
	va_end(ap);
}

void conf_diag_warn(struct conf_diag *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_diag_add(&d->warnings, &d->n_warnings, "warnings", fmt, ap);
	va_end(ap);
}

void conf_diag_fini(struct conf_diag *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n_errors; i++)
		free(d->errors[i]);
	for (size_t i = 0; i < d->n_warnings; i++)
		free(d->warnings[i]);
	free(d->errors);
	free(d->warnings);
	memset(d, 0, sizeof(*d));
}

/* ---- strings, lists, maps ---- */

char *conf_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

static void conf_list_clear(struct conf_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int conf_list_push(struct conf_list *l, const char *s, char *why, size_t why_size)
{
	char **p, *dup;

	if (l->n >= CONF_LIST_MAX) {
		snprintf(why, why_size, "more than the limit of %d entries", CONF_LIST_MAX);
		return -1;
	}
	dup = conf_strdup(s);
	p = dup ? realloc(l->v, (l->n + 1) * sizeof(*p)) : NULL;
	if (p == NULL) {
		free(dup);
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	l->v = p;
	l->v[l->n++] = dup;
	return 0;
}

static void conf_meta_clear(struct conf_kvmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].value);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/* Inserts or replaces, keeping the map sorted by key. */
static int conf_meta_put(struct conf_kvmap *m, const char *key, const char *value, char *why,
                         size_t why_size)
{
	size_t lo = 0, hi = m->n;
	char *v = conf_strdup(value), *k;
	struct conf_kv *p;

	if (v == NULL)
		goto nomem;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(m->v[mid].key, key);

		if (cmp == 0) {
			free(m->v[mid].value);
			m->v[mid].value = v;
			return 0;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (m->n >= CONF_MAP_MAX) {
		free(v);
		snprintf(why, why_size, "more than the limit of %d entries", CONF_MAP_MAX);
		return -1;
	}
	k = conf_strdup(key);
	p = k ? realloc(m->v, (m->n + 1) * sizeof(*p)) : NULL;
	if (p == NULL) {
		free(k);
		free(v);
		goto nomem;
	}
	m->v = p;
	memmove(&m->v[lo + 1], &m->v[lo], (m->n - lo) * sizeof(*p));
	m->v[lo].key = k;
	m->v[lo].value = v;
	m->n++;
	return 0;
nomem:
	snprintf(why, why_size, "out of memory");
	return -1;
}

static void conf_ttls_clear(struct conf_ttlmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].name);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static int conf_ttls_put(struct conf_ttlmap *m, const char *name, uint64_t ms, char *why,
                         size_t why_size)
{
	size_t lo = 0, hi = m->n;
	struct conf_ttl *p;
	char *k;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(m->v[mid].name, name);

		if (cmp == 0) {
			m->v[mid].ttl_ms = ms;
			return 0;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (m->n >= CONF_MAP_MAX) {
		snprintf(why, why_size, "more than the limit of %d entries", CONF_MAP_MAX);
		return -1;
	}
	k = conf_strdup(name);
	p = k ? realloc(m->v, (m->n + 1) * sizeof(*p)) : NULL;
	if (p == NULL) {
		free(k);
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	m->v = p;
	memmove(&m->v[lo + 1], &m->v[lo], (m->n - lo) * sizeof(*p));
	m->v[lo].name = k;
	m->v[lo].ttl_ms = ms;
	m->n++;
	return 0;
}

/* ---- the table ---- */

static int conf_key_cmp(const void *name, const void *key)
{
	return strcmp(name, ((const struct conf_key *)key)->name);
}

static const struct conf_key *conf_key_find(const char *name)
{
	return bsearch(name, conf_keys, CONF_N_KEYS, sizeof(conf_keys[0]), conf_key_cmp);
}

static size_t conf_key_index(const struct conf_key *k)
{
	return (size_t)(k - conf_keys);
}

static void conf_key_mark(struct conf *c, const struct conf_key *k)
{
	size_t i = conf_key_index(k);

	c->key_set[i / 8] |= (uint8_t)(1u << (i % 8));
}

bool conf_key_was_set(const struct conf *c, const char *name)
{
	const struct conf_key *k = conf_key_find(name);
	size_t i;

	assert(k != NULL);
	i = conf_key_index(k);
	return (c->key_set[i / 8] & (1u << (i % 8))) != 0;
}

/* Programmer errors in the table are caught on first use. */
static void conf_table_check(void)
{
	static bool checked;

	if (checked)
		return;
	for (size_t i = 0; i < CONF_N_KEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		assert(i == 0 || strcmp(conf_keys[i - 1].name, k->name) < 0);
		if (k->type == CONF_T_ALIAS)
			assert(conf_key_find(k->target) != NULL);
		if (k->type == CONF_T_ENUM)
			assert(k->choices != NULL);
	}
	checked = true;
}

static const struct conf_key *conf_key_resolve(const struct conf_key *k)
{
	if (k != NULL && k->type == CONF_T_ALIAS)
		k = conf_key_find(k->target);
	return k;
}

bool conf_key_is_list(const char *key)
{
	const struct conf_key *k = conf_key_resolve(conf_key_find(key));

	return k != NULL && k->type == CONF_T_LIST;
}

bool conf_key_is_bool(const char *key)
{
	const struct conf_key *k = conf_key_resolve(conf_key_find(key));

	return k != NULL && k->type == CONF_T_BOOL;
}

bool conf_key_is_reloadable(const char *name)
{
	const struct conf_key *k = conf_key_find(name);

	return k != NULL && (k->flags & K_RELOAD) != 0;
}

/* ---- scalars ---- */

enum conf_cls {
	CONF_CLS_NULL = 0,
	CONF_CLS_BOOL,
	CONF_CLS_INT,
	CONF_CLS_FLOAT,
	CONF_CLS_STR,
};

static bool conf_all(const char *s, const char *set)
{
	return *s != '\0' && s[strspn(s, set)] == '\0';
}

/* YAML 1.2 core schema for plain scalars (JSON's literals included). */
static enum conf_cls conf_classify(const char *s, bool quoted)
{
	const char *p = s;

	if (quoted)
		return CONF_CLS_STR;
	if (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	    strcmp(s, "NULL") == 0)
		return CONF_CLS_NULL;
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0 ||
	    strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
		return CONF_CLS_BOOL;
	if (strncmp(s, "0x", 2) == 0 && conf_all(s + 2, "0123456789abcdefABCDEF"))
		return CONF_CLS_INT;
	if (strncmp(s, "0o", 2) == 0 && conf_all(s + 2, "01234567"))
		return CONF_CLS_INT;
	if (*p == '-' || *p == '+')
		p++;
	if (conf_all(p, "0123456789"))
		return CONF_CLS_INT;
	if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0 ||
	    strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0)
		return CONF_CLS_FLOAT;
	{
		size_t i = 0, digits = 0;

		while (p[i] >= '0' && p[i] <= '9')
			i++, digits++;
		if (p[i] == '.') {
			i++;
			while (p[i] >= '0' && p[i] <= '9')
				i++, digits++;
		}
		if (digits == 0)
			return CONF_CLS_STR;
		if (p[i] == 'e' || p[i] == 'E') {
			size_t exp = 0;

			i++;
			if (p[i] == '-' || p[i] == '+')
				i++;
			while (p[i] >= '0' && p[i] <= '9')
				i++, exp++;
			if (exp == 0)
				return CONF_CLS_STR;
		}
		return p[i] == '\0' ? CONF_CLS_FLOAT : CONF_CLS_STR;
	}
}

/* Go's strconv.ParseBool, for flags. */
int conf_parse_bool_go(const char *s, bool *v)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};

	for (size_t i = 0; i < 6; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*v = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*v = false;
			return 0;
		}
	}
	return -1;
}

static int conf_parse_int(const char *s, enum conf_cls cls, bool from_flag, int64_t *v)
{
	char *end;
	long long ll;
	double dv;

	errno = 0;
	if (from_flag || cls == CONF_CLS_INT) {
		int base = 10;
		const char *p = s;

		if (from_flag) {
			if (!conf_all(*p == '-' || *p == '+' ? p + 1 : p, "0123456789"))
				return -1;
		} else if (strncmp(s, "0x", 2) == 0) {
			p = s + 2, base = 16;
		} else if (strncmp(s, "0o", 2) == 0) {
			p = s + 2, base = 8;
		}
		ll = strtoll(p, &end, base);
		if (errno != 0 || *end != '\0')
			return -2;
		*v = ll;
		return 0;
	}
	if (cls != CONF_CLS_FLOAT)
		return -1;
	/* JSON has only numbers: 3.0 or 3e0 is the integer 3 (Consul's
	 * decoder converts whole float64 values), 3.5 is not. */
	dv = strtod(s, &end);
	if (*end != '\0' || !isfinite(dv) || dv != floor(dv))
		return -1;
	if (dv < -9.2e18 || dv > 9.2e18)
		return -2;
	*v = (int64_t)dv;
	return 0;
}

/* Whether s is valid UTF-8 (flags come from argv as they are). */
static bool conf_utf8_ok(const unsigned char *s)
{
	while (*s != '\0') {
		unsigned c = *s, n, cp;

		if (c < 0x80) {
			s++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			n = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			n = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			n = 3, cp = c & 0x07;
		else
			return false;
		for (unsigned i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

static const char *conf_type_want(const struct conf_key *k)
{
	switch (k->type) {
	case CONF_T_BOOL:
		return "true or false";
	case CONF_T_INT:
	case CONF_T_U64:
		return "an integer";
	case CONF_T_PORT:
		return "a port number";
	case CONF_T_DUR:
		return "a duration string such as \"30s\"";
	case CONF_T_ADDRS:
		return "a string of space-separated addresses";
	case CONF_T_LIST:
		return "a list of strings";
	case CONF_T_META:
		return "a mapping of strings";
	case CONF_T_TTLS:
		return "a mapping of durations";
	case CONF_T_DEFS:
		return "a mapping or a list of mappings";
	case CONF_T_SECTION:
		return "a mapping";
	default:
		return "a string";
	}
}

static int conf_set_enum(struct conf *c, const struct conf_key *k, const char *s, char *why,
                         size_t why_size)
{
	size_t n = 0;
	char **f = CONF_FIELD(c, k, char *), *v;

	for (const char *const *ch = k->choices; *ch != NULL; ch++) {
		const char *eq = strchr(*ch, '=');
		size_t len = eq ? (size_t)(eq - *ch) : strlen(*ch);

		if (strlen(s) == len && strncasecmp(s, *ch, len) == 0) {
			v = conf_strdup(eq ? eq + 1 : *ch);
			if (v == NULL) {
				snprintf(why, why_size, "out of memory");
				return -1;
			}
			free(*f);
			*f = v;
			return 0;
		}
	}
	n = (size_t)snprintf(why, why_size, "expected one of");
	for (const char *const *ch = k->choices; *ch != NULL && n < why_size; ch++) {
		if (strchr(*ch, '=') == NULL)
			n += (size_t)snprintf(why + n, why_size - n, "%s %s",
			                      ch == k->choices ? "" : ",", *ch);
	}
	return -1;
}

static int conf_set_addrs(struct conf *c, const struct conf_key *k, const char *s, char *why,
                          size_t why_size)
{
	struct conf_list *l = CONF_FIELD(c, k, struct conf_list), fresh = {NULL, 0};
	const char *sep = " \t\r\n\v\f";

	while (*s != '\0') {
		size_t len;
		char one[CONF_SCALAR_MAX + 1];

		s += strspn(s, sep);
		len = strcspn(s, sep);
		if (len == 0)
			break;
		memcpy(one, s, len);
		one[len] = '\0';
		if (conf_list_push(&fresh, one, why, why_size) != 0) {
			conf_list_clear(&fresh);
			return -1;
		}
		s += len;
	}
	conf_list_clear(l);
	*l = fresh;
	return 0;
}

/* One scalar value onto key k. From a file, cls is its YAML class; from a
 * flag (or a default), the text is read the way Go's flag package would.
 * Returns 0, or -1 with the reason (without the value) in why. */
static int conf_set_scalar(struct conf *c, const struct conf_key *k, const char *s,
                           enum conf_cls cls, bool quoted, bool from_flag, char *why,
                           size_t why_size)
{
	int64_t iv = 0;
	uint64_t ms = 0;
	const char *dur_why = NULL;
	char lim[CONF_DUR_STR_MAX];
	bool bv;
	int rc;

	why[0] = '\0';
	if (!from_flag && cls != CONF_CLS_STR && k->type != CONF_T_BOOL && k->type != CONF_T_INT &&
	    k->type != CONF_T_U64 && k->type != CONF_T_PORT) {
		snprintf(why, why_size, "expected %s%s", conf_type_want(k),
		         k->type == CONF_T_DUR ? "" : " (quote it)");
		return -1;
	}
	if (from_flag && !conf_utf8_ok((const unsigned char *)s)) {
		snprintf(why, why_size, "not valid UTF-8");
		return -1;
	}
	if (strlen(s) > CONF_SCALAR_MAX) {
		snprintf(why, why_size, "longer than the limit of %d bytes", CONF_SCALAR_MAX);
		return -1;
	}
	switch (k->type) {
	case CONF_T_BOOL:
		if (from_flag) {
			rc = conf_parse_bool_go(s, &bv);
		} else {
			rc = cls == CONF_CLS_BOOL ? 0 : -1;
			bv = s[0] == 't' || s[0] == 'T';
		}
		if (rc != 0) {
			snprintf(why, why_size, "expected true or false%s",
			         quoted && conf_classify(s, false) == CONF_CLS_BOOL
			             ? " (without quotes)"
			             : "");
			return -1;
		}
		*CONF_FIELD(c, k, bool) = bv;
		return 0;
	case CONF_T_INT:
	case CONF_T_U64:
	case CONF_T_PORT:
		rc = conf_parse_int(s, cls, from_flag, &iv);
		if (rc == -1) {
			cls = conf_classify(s, false);
			snprintf(why, why_size, "expected %s%s", conf_type_want(k),
			         quoted && (cls == CONF_CLS_INT || cls == CONF_CLS_FLOAT)
			             ? " (without quotes)"
			             : "");
			return -1;
		}
		if (k->type == CONF_T_PORT) {
			/* Consul's portVal: 0 and -1 disable the listener. */
			if (rc == 0 && (iv == 0 || iv == -1))
				iv = -1;
			if (rc != 0 || iv < -1 || iv > 65535) {
				snprintf(why, why_size, "not a port (1..65535, or -1 to disable)");
				return -1;
			}
			*CONF_FIELD(c, k, int) = (int)iv;
			return 0;
		}
		if (rc != 0 || iv < k->min || iv > k->max) {
			snprintf(why, why_size, "out of range %lld..%lld", (long long)k->min,
			         (long long)k->max);
			return -1;
		}
		if (k->type == CONF_T_INT)
			*CONF_FIELD(c, k, int) = (int)iv;
		else
			*CONF_FIELD(c, k, uint64_t) = (uint64_t)iv;
		return 0;
	case CONF_T_DUR:
		if (conf_dur_parse(s, &ms, &dur_why) != 0) {
			snprintf(why, why_size, "%s", dur_why);
			return -1;
		}
		if (ms < (uint64_t)k->min) {
			conf_dur_format((uint64_t)k->min, lim);
			snprintf(why, why_size, "below the minimum of %s", lim);
			return -1;
		}
		*CONF_FIELD(c, k, uint64_t) = ms;
		return 0;
	case CONF_T_STR: {
		char *v = conf_strdup(s), **f = CONF_FIELD(c, k, char *);

		if (v == NULL) {
			snprintf(why, why_size, "out of memory");
			return -1;
		}
		free(*f);
		*f = v;
		return 0;
	}
	case CONF_T_ENUM:
		return conf_set_enum(c, k, s, why, why_size);
	case CONF_T_ADDRS:
		return conf_set_addrs(c, k, s, why, why_size);
	case CONF_T_LIST:
		return conf_list_push(CONF_FIELD(c, k, struct conf_list), s, why, why_size);
	default:
		snprintf(why, why_size, "expected %s", conf_type_want(k));
		return -1;
	}
}

/* ---- loading: a parsed file onto the struct ---- */

struct conf_load {
	struct conf *c;
	struct conf_diag *d;
	const char *name;
	const struct conf_yaml_doc *doc;
	int rc;
};

static const struct conf_yaml_node *conf_node(const struct conf_load *ld, size_t i)
{
	return &ld->doc->nodes[i];
}

/* A value quoted for a message: JSON-style escapes, cut at 64 bytes. */
const char *conf_quote(const char *s, char *out, size_t size)
{
	size_t o = 0;

	out[o++] = '"';
	for (; *s != '\0' && o + 8 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if (o > 64) {
			o += (size_t)snprintf(out + o, size - o, "...");
			break;
		}
		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(out + o, size - o, "\\u%04x", ch);
		else
			out[o++] = (char)ch;
	}
	snprintf(out + o, size - o, "\"");
	return out;
}

/* What a node is, for "expected ..., got ...": a scalar is quoted. */
static const char *conf_node_what(const struct conf_yaml_node *n, char *out, size_t size)
{
	if (n->kind == CONF_YAML_SCALAR)
		return conf_quote(n->text, out, size);
	return n->kind == CONF_YAML_MAP ? "a mapping" : "a list";
}

static void conf_load_error(struct conf_load *ld, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conf_load_error(struct conf_load *ld, unsigned line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_diag_error(ld->d, "config: %s:%u: %s", ld->name, line, msg);
	ld->rc = -1;
}

static void conf_apply_map(struct conf_load *ld, size_t map, const char *prefix);

/* The value of a key, as a scalar; reports the error and returns NULL when
 * it is a mapping or a list. */
static const struct conf_yaml_node *conf_want_scalar(struct conf_load *ld, const struct conf_key *k,
                                                     const struct conf_yaml_node *n)
{
	char q[96];

	if (n->kind == CONF_YAML_SCALAR)
		return n;
	conf_load_error(ld, n->line, "key \"%s\": expected %s, got %s", k->name, conf_type_want(k),
	                conf_node_what(n, q, sizeof(q)));
	return NULL;
}

static void conf_apply_scalar(struct conf_load *ld, const struct conf_key *k,
                              const struct conf_yaml_node *n)
{
	char why[256], q[96];

	if (conf_set_scalar(ld->c, k, n->text, conf_classify(n->text, n->quoted), n->quoted, false,
	                    why, sizeof(why)) != 0)
		conf_load_error(ld, n->line, "key \"%s\": %s, got %s", k->name, why,
		                conf_quote(n->text, q, sizeof(q)));
}

static void conf_apply_list(struct conf_load *ld, const struct conf_key *k,
                            const struct conf_yaml_node *n)
{
	struct conf_list *l = CONF_FIELD(ld->c, k, struct conf_list);
	char why[256], q[96];

	for (size_t i = n->first; i != CONF_YAML_NONE; i = conf_node(ld, i)->next) {
		const struct conf_yaml_node *e = conf_node(ld, i);

		if (e->kind != CONF_YAML_SCALAR) {
			conf_load_error(ld, e->line,
			                "key \"%s\": expected a list of strings, got %s", k->name,
			                conf_node_what(e, q, sizeof(q)));
		} else if (conf_classify(e->text, e->quoted) != CONF_CLS_STR) {
			conf_load_error(ld, e->line,
			                "key \"%s\": expected a list of strings (quote it), got %s",
			                k->name, conf_quote(e->text, q, sizeof(q)));
		} else if (conf_list_push(l, e->text, why, sizeof(why)) != 0) {
			conf_load_error(ld, e->line, "key \"%s\": %s", k->name, why);
			return;
		}
	}
}

/* node_meta and dns_config.service_ttl: any key, a string or a duration. */
static void conf_apply_pairs(struct conf_load *ld, const struct conf_key *k,
                             const struct conf_yaml_node *n)
{
	char why[256], q[96], full[160], qk[200];

	for (size_t i = n->first; i != CONF_YAML_NONE;) {
		const struct conf_yaml_node *key = conf_node(ld, i);
		const struct conf_yaml_node *val = conf_node(ld, key->next);
		const char *dur_why = NULL;
		uint64_t ms = 0;
		int rc;

		i = val->next;
		snprintf(full, sizeof(full), "%s.%s", k->name, key->text);
		conf_quote(full, qk, sizeof(qk));
		if (val->kind != CONF_YAML_SCALAR ||
		    conf_classify(val->text, val->quoted) != CONF_CLS_STR) {
			conf_load_error(ld, val->line, "key %s: expected %s, got %s", qk,
			                k->type == CONF_T_META
			                    ? "a string (quote it)"
			                    : "a duration string such as \"30s\"",
			                conf_node_what(val, q, sizeof(q)));
			continue;
		}
		if (k->type == CONF_T_META) {
			rc = conf_meta_put(CONF_FIELD(ld->c, k, struct conf_kvmap), key->text,
			                   val->text, why, sizeof(why));
		} else if (conf_dur_parse(val->text, &ms, &dur_why) != 0) {
			conf_load_error(ld, val->line, "key %s: %s, got %s", qk, dur_why,
			                conf_quote(val->text, q, sizeof(q)));
			continue;
		} else {
			rc = conf_ttls_put(CONF_FIELD(ld->c, k, struct conf_ttlmap), key->text, ms,
			                   why, sizeof(why));
		}
		if (rc != 0) {
			conf_load_error(ld, val->line, "key \"%s\": %s", k->name, why);
			return;
		}
	}
}

/* One YAML value as compact JSON (a service or check definition, which
 * healthd decodes with the same lenient rules as an HTTP registration):
 * strings through conf_json_str, so libyaml reads the text back as the same
 * bytes; integers in decimal (YAML's 0x/0o forms are not JSON); floats with
 * 17 digits, which read back as the same double; mapping keys as strings.
 * A second pass over the JSON gives the same text, so <run_dir>/config.json
 * loads back equal (conf_equal). Depth is bounded by CONF_DEPTH_MAX (the
 * parser refuses deeper documents). 0, or -1 with why. */
static void conf_json_str(struct buf *b, const char *s);
static int conf_node_json(const struct conf_load *ld, const struct conf_yaml_node *n, struct buf *b,
                          char *why, size_t why_size)
{
	switch (n->kind) {
	case CONF_YAML_MAP:
		buf_putc(b, '{');
		for (size_t i = n->first; i != CONF_YAML_NONE;) {
			const struct conf_yaml_node *key = conf_node(ld, i);
			const struct conf_yaml_node *val = conf_node(ld, key->next);

			if (i != n->first)
				buf_putc(b, ',');
			if (key->kind != CONF_YAML_SCALAR) {
				snprintf(why, why_size, "line %u: a mapping key must be a string",
				         key->line);
				return -1;
			}
			conf_json_str(b, key->text);
			buf_putc(b, ':');
			if (conf_node_json(ld, val, b, why, why_size) != 0)
				return -1;
			i = val->next;
		}
		buf_putc(b, '}');
		return 0;
	case CONF_YAML_SEQ:
		buf_putc(b, '[');
		for (size_t i = n->first; i != CONF_YAML_NONE; i = conf_node(ld, i)->next) {
			if (i != n->first)
				buf_putc(b, ',');
			if (conf_node_json(ld, conf_node(ld, i), b, why, why_size) != 0)
				return -1;
		}
		buf_putc(b, ']');
		return 0;
	default:
		break;
	}
	switch (conf_classify(n->text, n->quoted)) {
	case CONF_CLS_NULL:
		buf_printf(b, "null");
		return 0;
	case CONF_CLS_BOOL:
		buf_printf(b, "%s", (n->text[0] == 't' || n->text[0] == 'T') ? "true" : "false");
		return 0;
	case CONF_CLS_INT: {
		int64_t v = 0;

		if (conf_parse_int(n->text, CONF_CLS_INT, false, &v) != 0) {
			snprintf(why, why_size, "line %u: integer out of range", n->line);
			return -1;
		}
		buf_printf(b, "%lld", (long long)v);
		return 0;
	}
	case CONF_CLS_FLOAT: {
		char *end = NULL;
		const char *t = n->text;
		double d;

		d = strtod(t, &end);
		if (end == t || *end != '\0' || !isfinite(d)) {
			snprintf(why, why_size, "line %u: %s is not a JSON number", n->line, t);
			return -1;
		}
		buf_printf(b, "%.17g", d);
		return 0;
	}
	default:
		conf_json_str(b, n->text);
		return 0;
	}
}

/* services/checks (and Consul's single service/check): each definition is
 * kept as its JSON text; healthd validates it (spec §3.12, §3.16). */
static void conf_apply_defs(struct conf_load *ld, const struct conf_key *k,
                            const struct conf_yaml_node *n)
{
	struct conf_list *l = CONF_FIELD(ld->c, k, struct conf_list);
	char why[256], q[96];
	size_t one = (size_t)(n - ld->doc->nodes);

	for (size_t i = n->kind == CONF_YAML_SEQ ? n->first : one; i != CONF_YAML_NONE;
	     i = n->kind == CONF_YAML_SEQ ? conf_node(ld, i)->next : CONF_YAML_NONE) {
		const struct conf_yaml_node *e = conf_node(ld, i);
		struct buf b;

		if (e->kind != CONF_YAML_MAP) {
			conf_load_error(ld, e->line, "key \"%s\": expected %s, got %s", k->name,
			                conf_type_want(k), conf_node_what(e, q, sizeof(q)));
			continue;
		}
		buf_init(&b, CONF_FILE_SIZE_MAX);
		if (conf_node_json(ld, e, &b, why, sizeof(why)) != 0) {
			conf_load_error(ld, e->line, "key \"%s\": %s", k->name, why);
		} else if (b.err || buf_cstr(&b) == NULL) {
			conf_load_error(ld, e->line, "key \"%s\": definition too large", k->name);
		} else if (conf_list_push(l, buf_cstr(&b), why, sizeof(why)) != 0) {
			conf_load_error(ld, e->line, "key \"%s\": %s", k->name, why);
			buf_fini(&b);
			return;
		}
		buf_fini(&b);
	}
}

static void conf_apply_key(struct conf_load *ld, const struct conf_key *k,
                           const struct conf_yaml_node *keynode, const struct conf_yaml_node *n)
{
	const struct conf_key *t = k;
	bool via_alias = false;
	char q[96];

	if (k->type == CONF_T_UNUSED) {
		conf_diag_warn(ld->d, "config: %s:%u: key \"%s\" is not used by muster yet",
		               ld->name, keynode->line, k->name);
		return;
	}
	if (k->type == CONF_T_ALIAS) {
		t = conf_key_find(k->target);
		via_alias = true;
		conf_diag_warn(ld->d, "config: %s:%u: key \"%s\" is deprecated: use \"%s\"",
		               ld->name, keynode->line, k->name, t->name);
	}
	/* Consul's HookWeakDecodeFromSlice: [x] where x is expected. */
	if (n->kind == CONF_YAML_SEQ && n->n_kids == 1 && t->type != CONF_T_LIST &&
	    t->type != CONF_T_DEFS)
		n = conf_node(ld, n->first);
	if (n->kind == CONF_YAML_SCALAR && conf_classify(n->text, n->quoted) == CONF_CLS_NULL)
		return;
	switch (t->type) {
	case CONF_T_SECTION:
		if (n->kind != CONF_YAML_MAP) {
			conf_load_error(ld, n->line, "key \"%s\": expected a mapping, got %s",
			                t->name, conf_node_what(n, q, sizeof(q)));
			return;
		}
		conf_apply_map(ld, (size_t)(n - ld->doc->nodes), t->name);
		return;
	case CONF_T_LIST:
		if (n->kind == CONF_YAML_SCALAR && via_alias) {
			/* Consul's old single-valued names ("recursor"). */
			conf_apply_scalar(ld, t, n);
			break;
		}
		if (n->kind != CONF_YAML_SEQ) {
			conf_load_error(ld, n->line,
			                "key \"%s\": expected a list of strings, got %s", t->name,
			                conf_node_what(n, q, sizeof(q)));
			return;
		}
		conf_apply_list(ld, t, n);
		break;
	case CONF_T_META:
	case CONF_T_TTLS:
		if (n->kind != CONF_YAML_MAP) {
			conf_load_error(ld, n->line, "key \"%s\": expected %s, got %s", t->name,
			                conf_type_want(t), conf_node_what(n, q, sizeof(q)));
			return;
		}
		conf_apply_pairs(ld, t, n);
		break;
	case CONF_T_DEFS:
		if (n->kind == CONF_YAML_SCALAR) {
			conf_load_error(ld, n->line, "key \"%s\": expected %s, got %s", t->name,
			                conf_type_want(t), conf_node_what(n, q, sizeof(q)));
			return;
		}
		conf_apply_defs(ld, t, n);
		break;
	default:
		if (conf_want_scalar(ld, t, n) == NULL)
			return;
		conf_apply_scalar(ld, t, n);
		break;
	}
	conf_key_mark(ld->c, t);
}

/* prefix.name into out; false when name cannot be a key (empty, dotted,
 * too long): such a key is unknown. */
static bool conf_key_path(const char *prefix, const char *name, char *out, size_t size)
{
	int n;

	if (*name == '\0' || strchr(name, '.') != NULL)
		return false;
	n = *prefix ? snprintf(out, size, "%s.%s", prefix, name) : snprintf(out, size, "%s", name);
	return n > 0 && (size_t)n < size;
}

static void conf_apply_map(struct conf_load *ld, size_t map, const char *prefix)
{
	/* The last occurrence of each key in this mapping: Go's encoding/json
	 * keeps the last of duplicate keys, and so do we. */
	size_t last[CONF_N_KEYS];
	char path[128];

	for (size_t i = 0; i < CONF_N_KEYS; i++)
		last[i] = CONF_YAML_NONE;
	for (size_t i = conf_node(ld, map)->first; i != CONF_YAML_NONE;) {
		const struct conf_yaml_node *key = conf_node(ld, i);
		const struct conf_key *k;

		i = conf_node(ld, key->next)->next;
		if (conf_key_path(prefix, key->text, path, sizeof(path)) &&
		    (k = conf_key_find(path)) != NULL)
			last[conf_key_index(k)] = key->next;
	}
	for (size_t i = conf_node(ld, map)->first; i != CONF_YAML_NONE;) {
		const struct conf_yaml_node *key = conf_node(ld, i);
		size_t val = key->next;
		const struct conf_key *k = NULL;
		char q[96];

		i = conf_node(ld, val)->next;
		if (conf_key_path(prefix, key->text, path, sizeof(path)))
			k = conf_key_find(path);
		if (k == NULL) {
			char full[160];

			snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix ? "." : "",
			         key->text);
			conf_load_error(ld, key->line, "unknown key %s",
			                conf_quote(full, q, sizeof(q)));
			continue;
		}
		if (last[conf_key_index(k)] != val)
			continue;
		conf_apply_key(ld, k, key, conf_node(ld, val));
	}
}

int conf_load_mem(struct conf *c, const char *name, const char *text, size_t len,
                  struct conf_diag *d)
{
	struct conf_yaml_doc doc;
	struct conf_load ld = {c, d, name, &doc, 0};
	char err[512], q[96];
	unsigned line = 0;
	const struct conf_yaml_node *root;

	conf_table_check();
	if (len > CONF_FILE_SIZE_MAX) {
		conf_diag_error(d, "config: %s: larger than the limit of %u bytes", name,
		                CONF_FILE_SIZE_MAX);
		return -1;
	}
	if (conf_yaml_parse(&doc, text, len, err, sizeof(err), &line) != 0) {
		conf_diag_error(d, "config: %s:%u: %s", name, line, err);
		return -1;
	}
	if (doc.root != CONF_YAML_NONE) {
		root = &doc.nodes[doc.root];
		if (root->kind == CONF_YAML_MAP)
			conf_apply_map(&ld, doc.root, "");
		else if (root->kind != CONF_YAML_SCALAR ||
		         conf_classify(root->text, root->quoted) != CONF_CLS_NULL)
			conf_load_error(&ld, root->line,
			                "the top level must be a mapping of keys, got %s",
			                conf_node_what(root, q, sizeof(q)));
	}
	conf_yaml_free(&doc);
	return ld.rc;
}

/* ---- files and directories ---- */

static int conf_read(const char *path, char **text, size_t *len, struct conf_diag *d)
{
	struct stat st;
	size_t size = 0, n = 0;
	char *p = NULL;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		conf_diag_error(d, "config: %s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		conf_diag_error(d, "config: %s: is a directory", path);
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r;

		if (n == size) {
			char *q;

			if (size > CONF_FILE_SIZE_MAX) {
				conf_diag_error(d, "config: %s: larger than the limit of %u bytes",
				                path, CONF_FILE_SIZE_MAX);
				goto fail;
			}
			size = size ? size * 2 : 4096;
			if (size > CONF_FILE_SIZE_MAX + 1)
				size = CONF_FILE_SIZE_MAX + 1;
			q = realloc(p, size + 1);
			if (q == NULL) {
				conf_diag_error(d, "config: %s: out of memory", path);
				goto fail;
			}
			p = q;
		}
		r = read(fd, p + n, size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			conf_diag_error(d, "config: %s: cannot read: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	p = p ? p : malloc(1);
	if (p == NULL) {
		conf_diag_error(d, "config: %s: out of memory", path);
		return -1;
	}
	p[n] = '\0';
	*text = p;
	*len = n;
	return 0;
fail:
	close(fd);
	free(p);
	return -1;
}

int conf_load_file(struct conf *c, const char *path, struct conf_diag *d)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (conf_read(path, &text, &len, d) != 0)
		return -1;
	rc = conf_load_mem(c, path, text, len, d);
	free(text);
	return rc;
}

static bool conf_has_ext(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
	       (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static int conf_strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's config files in strcmp order, not recursively (Consul's
 * sourcesFromPath); any_ext: -config-format was given, every file counts. */
static int conf_load_dir(struct conf *c, const char *path, bool any_ext, struct conf_diag *d)
{
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *dir;
	bool listed = true;
	int rc = 0;

	dir = opendir(path);
	if (dir == NULL) {
		conf_diag_error(d, "config: %s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		char **p;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n >= CONF_DIR_FILES_MAX) {
			conf_diag_error(d, "config: %s: more than the limit of %d files", path,
			                CONF_DIR_FILES_MAX);
			listed = false;
			break;
		}
		p = realloc(names, (n + 1) * sizeof(*p));
		if (p == NULL || (p[n] = conf_strdup(de->d_name)) == NULL) {
			names = p ? p : names;
			conf_diag_error(d, "config: %s: out of memory", path);
			listed = false;
			break;
		}
		names = p;
		n++;
	}
	closedir(dir);
	if (n > 0)
		qsort(names, n, sizeof(*names), conf_strcmp_p);
	/* A file with errors does not stop the others: all errors at once. */
	for (size_t i = 0; i < n && listed; i++) {
		struct stat st;
		char *full = NULL;
		size_t plen = strlen(path);

		if (asprintf(&full, "%s%s%s", path, plen > 0 && path[plen - 1] == '/' ? "" : "/",
		             names[i]) < 0) {
			rc = -1;
			break;
		}
		if (stat(full, &st) != 0) {
			conf_diag_error(d, "config: %s: cannot open: %s", full, strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			/* not recursive */
		} else if (!any_ext && !conf_has_ext(names[i])) {
			conf_diag_warn(d,
			               "config: skipping %s: the extension must be .yaml, .yml or "
			               ".json, or set -config-format",
			               full);
		} else if (conf_load_file(c, full, d) != 0) {
			rc = -1;
		}
		free(full);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return listed ? rc : -1;
}

static int conf_load_any(struct conf *c, const char *path, bool any_ext, bool check_ext,
                         struct conf_diag *d)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		conf_diag_error(d, "config: %s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return conf_load_dir(c, path, any_ext, d);
	if (check_ext && !any_ext && !conf_has_ext(path)) {
		conf_diag_error(d,
		                "config: %s: unknown extension: it must be .yaml, .yml or .json, "
		                "or set -config-format",
		                path);
		return -1;
	}
	return conf_load_file(c, path, d);
}

int conf_load_path(struct conf *c, const char *path, struct conf_diag *d)
{
	return conf_load_any(c, path, false, false, d);
}

/* ---- lifecycle ---- */

void conf_init(struct conf *c)
{
	char why[256];

	conf_table_check();
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < CONF_N_KEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		int rc;

		if (k->dflt == NULL)
			continue;
		rc = conf_set_scalar(c, k, k->dflt, CONF_CLS_STR, false, true, why, sizeof(why));
		assert(rc == 0);
		(void)rc;
	}
}

void conf_fini(struct conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < CONF_N_KEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		switch (k->type) {
		case CONF_T_STR:
		case CONF_T_ENUM:
			free(*CONF_FIELD(c, k, char *));
			break;
		case CONF_T_ADDRS:
		case CONF_T_LIST:
			conf_list_clear(CONF_FIELD(c, k, struct conf_list));
			break;
		case CONF_T_DEFS:
			if (!(k->flags & K_HIDDEN)) /* one field, two names */
				conf_list_clear(CONF_FIELD(c, k, struct conf_list));
			break;
		case CONF_T_META:
			conf_meta_clear(CONF_FIELD(c, k, struct conf_kvmap));
			break;
		case CONF_T_TTLS:
			conf_ttls_clear(CONF_FIELD(c, k, struct conf_ttlmap));
			break;
		default:
			break;
		}
	}
	memset(c, 0, sizeof(*c));
}

/* ---- JSON ---- */

/* A JSON string that libyaml reads back as the same bytes: besides JSON's
 * escapes, what YAML forbids raw or reads as a line break is escaped too
 * (DEL, C1 controls with NEL, U+2028, U+2029, U+FEFF, U+FFFE, U+FFFF). The
 * text is valid UTF-8 (libyaml checked files, conf_utf8_ok flags). */
static void conf_json_str(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	buf_putc(b, '"');
	while (*p != '\0') {
		unsigned ch = *p, cp, n = 0;

		if (ch == '"' || ch == '\\') {
			buf_printf(b, "\\%c", ch);
		} else if (ch == '\n') {
			buf_printf(b, "\\n");
		} else if (ch == '\t') {
			buf_printf(b, "\\t");
		} else if (ch == '\r') {
			buf_printf(b, "\\r");
		} else if (ch < 0x20 || ch == 0x7f) {
			buf_printf(b, "\\u%04x", ch);
		} else if (ch < 0x80) {
			buf_putc(b, (uint8_t)ch);
		} else {
			unsigned k = 1;

			n = (ch & 0xe0) == 0xc0 ? 1 : (ch & 0xf0) == 0xe0 ? 2 : 3;
			cp = ch & (0x3f >> n);
			while (k <= n && (p[k] & 0xc0) == 0x80)
				cp = (cp << 6) | (p[k++] & 0x3f);
			if (k != n + 1 || (ch & 0xc0) == 0x80)
				n = 0, cp = 0x100; /* not UTF-8: cannot happen, copy the byte */
			if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
			    cp == 0xfffe || cp == 0xffff)
				buf_printf(b, "\\u%04x", cp);
			else
				buf_append(b, p, n + 1);
			p += n;
		}
		p++;
	}
	buf_putc(b, '"');
}

static void conf_json_indent(struct buf *b, int depth)
{
	for (int i = 0; i < depth; i++)
		buf_append(b, "  ", 2);
}

static void conf_json_dur(struct buf *b, uint64_t ms)
{
	char s[CONF_DUR_STR_MAX];

	conf_dur_format(ms, s);
	buf_printf(b, "\"%s\"", s);
}

/* The last component of a name if it is a direct child of prefix. */
static const char *conf_child_name(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);

	if (n > 0) {
		if (strncmp(name, prefix, n) != 0 || name[n] != '.')
			return NULL;
		name += n + 1;
	}
	return strchr(name, '.') == NULL ? name : NULL;
}

static bool conf_is_printed(const struct conf_key *k)
{
	return k->type != CONF_T_UNUSED && k->type != CONF_T_ALIAS && !(k->flags & K_HIDDEN);
}

static void conf_json_section(const struct conf *c, struct buf *b, const char *prefix, int depth);

static void conf_json_value(const struct conf *c, struct buf *b, const struct conf_key *k,
                            int depth)
{
	switch (k->type) {
	case CONF_T_SECTION:
		conf_json_section(c, b, k->name, depth);
		break;
	case CONF_T_BOOL:
		buf_printf(b, "%s", *CONF_CFIELD(c, k, bool) ? "true" : "false");
		break;
	case CONF_T_INT:
	case CONF_T_PORT:
		buf_printf(b, "%d", *CONF_CFIELD(c, k, int));
		break;
	case CONF_T_U64:
		buf_printf(b, "%llu", (unsigned long long)*CONF_CFIELD(c, k, uint64_t));
		break;
	case CONF_T_DUR:
		conf_json_dur(b, *CONF_CFIELD(c, k, uint64_t));
		break;
	case CONF_T_STR:
	case CONF_T_ENUM: {
		const char *s = *CONF_CFIELD(c, k, char *);

		if (s == NULL)
			buf_printf(b, "null");
		else
			conf_json_str(b, s);
		break;
	}
	case CONF_T_ADDRS: {
		const struct conf_list *l = CONF_CFIELD(c, k, struct conf_list);
		struct buf j;

		buf_init(&j, CONF_LIST_MAX * (CONF_SCALAR_MAX + 1));
		for (size_t i = 0; i < l->n; i++)
			buf_printf(&j, "%s%s", i ? " " : "", l->v[i]);
		conf_json_str(b, buf_cstr(&j) ? buf_cstr(&j) : "");
		buf_fini(&j);
		break;
	}
	case CONF_T_LIST: {
		const struct conf_list *l = CONF_CFIELD(c, k, struct conf_list);

		if (l->n == 0) {
			buf_printf(b, "[]");
			break;
		}
		buf_printf(b, "[\n");
		for (size_t i = 0; i < l->n; i++) {
			conf_json_indent(b, depth + 1);
			conf_json_str(b, l->v[i]);
			buf_printf(b, "%s\n", i + 1 < l->n ? "," : "");
		}
		conf_json_indent(b, depth);
		buf_putc(b, ']');
		break;
	}
	case CONF_T_DEFS: {
		const struct conf_list *l = CONF_CFIELD(c, k, struct conf_list);

		if (l->n == 0) {
			buf_printf(b, "[]");
			break;
		}
		buf_printf(b, "[\n");
		for (size_t i = 0; i < l->n; i++) {
			conf_json_indent(b, depth + 1);
			buf_printf(b, "%s%s\n", l->v[i], i + 1 < l->n ? "," : "");
		}
		conf_json_indent(b, depth);
		buf_putc(b, ']');
		break;
	}
	case CONF_T_META:
	case CONF_T_TTLS: {
		const struct conf_kvmap *m = CONF_CFIELD(c, k, struct conf_kvmap);
		const struct conf_ttlmap *t = CONF_CFIELD(c, k, struct conf_ttlmap);
		size_t n = k->type == CONF_T_META ? m->n : t->n;

		if (n == 0) {
			buf_printf(b, "{}");
			break;
		}
		buf_printf(b, "{\n");
		for (size_t i = 0; i < n; i++) {
			conf_json_indent(b, depth + 1);
			conf_json_str(b, k->type == CONF_T_META ? m->v[i].key : t->v[i].name);
			buf_printf(b, ": ");
			if (k->type == CONF_T_META)
				conf_json_str(b, m->v[i].value);
			else
				conf_json_dur(b, t->v[i].ttl_ms);
			buf_printf(b, "%s\n", i + 1 < n ? "," : "");
		}
		conf_json_indent(b, depth);
		buf_putc(b, '}');
		break;
	}
	default:
		break;
	}
}

/* The table is sorted by full name, so a section's direct children come
 * out sorted by their own names. */
static void conf_json_section(const struct conf *c, struct buf *b, const char *prefix, int depth)
{
	bool first = true;

	buf_putc(b, '{');
	for (size_t i = 0; i < CONF_N_KEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		const char *name = conf_child_name(k->name, prefix);

		if (name == NULL || !conf_is_printed(k))
			continue;
		buf_printf(b, "%s\n", first ? "" : ",");
		first = false;
		conf_json_indent(b, depth + 1);
		conf_json_str(b, name);
		buf_printf(b, ": ");
		conf_json_value(c, b, k, depth + 1);
	}
	if (!first) {
		buf_putc(b, '\n');
		conf_json_indent(b, depth);
	}
	buf_putc(b, '}');
}

int conf_write_json(const struct conf *c, struct buf *out)
{
	conf_table_check();
	conf_json_section(c, out, "", 0);
	buf_putc(out, '\n');
	return out->err ? -1 : 0;
}

/* ---- comparing ---- */

static bool conf_str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool conf_key_equal(const struct conf *a, const struct conf *b, const struct conf_key *k)
{
	switch (k->type) {
	case CONF_T_BOOL:
		return *CONF_CFIELD(a, k, bool) == *CONF_CFIELD(b, k, bool);
	case CONF_T_INT:
	case CONF_T_PORT:
		return *CONF_CFIELD(a, k, int) == *CONF_CFIELD(b, k, int);
	case CONF_T_U64:
	case CONF_T_DUR:
		return *CONF_CFIELD(a, k, uint64_t) == *CONF_CFIELD(b, k, uint64_t);
	case CONF_T_STR:
	case CONF_T_ENUM:
		return conf_str_eq(*CONF_CFIELD(a, k, char *), *CONF_CFIELD(b, k, char *));
	case CONF_T_ADDRS:
	case CONF_T_LIST:
	case CONF_T_DEFS: {
		const struct conf_list *x = CONF_CFIELD(a, k, struct conf_list);
		const struct conf_list *y = CONF_CFIELD(b, k, struct conf_list);

		if (x->n != y->n)
			return false;
		for (size_t i = 0; i < x->n; i++)
			if (strcmp(x->v[i], y->v[i]) != 0)
				return false;
		return true;
	}
	case CONF_T_META: {
		const struct conf_kvmap *x = CONF_CFIELD(a, k, struct conf_kvmap);
		const struct conf_kvmap *y = CONF_CFIELD(b, k, struct conf_kvmap);

		if (x->n != y->n)
			return false;
		for (size_t i = 0; i < x->n; i++)
			if (strcmp(x->v[i].key, y->v[i].key) != 0 ||
			    strcmp(x->v[i].value, y->v[i].value) != 0)
				return false;
		return true;
	}
	case CONF_T_TTLS: {
		const struct conf_ttlmap *x = CONF_CFIELD(a, k, struct conf_ttlmap);
		const struct conf_ttlmap *y = CONF_CFIELD(b, k, struct conf_ttlmap);

		if (x->n != y->n)
			return false;
		for (size_t i = 0; i < x->n; i++)
			if (strcmp(x->v[i].name, y->v[i].name) != 0 ||
			    x->v[i].ttl_ms != y->v[i].ttl_ms)
				return false;
		return true;
	}
	default:
		return true;
	}
}

size_t conf_diff(const struct conf *a, const struct conf *b, const char **names, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < CONF_N_KEYS; i++) {
		if ((conf_keys[i].flags & K_HIDDEN) || conf_key_equal(a, b, &conf_keys[i]))
			continue;
		if (n < max)
			names[n] = conf_keys[i].name;
		n++;
	}
	return n;
}

bool conf_equal(const struct conf *a, const struct conf *b)
{
	return conf_diff(a, b, NULL, 0) == 0;
}

/* ---- flags, validation, resolution ---- */

int conf_set_flag_value(struct conf *c, const char *key, const char *value, char *why,
                        size_t why_size)
{
	const struct conf_key *k = conf_key_resolve(conf_key_find(key));
	int rc;

	assert(k != NULL);
	if (k->type == CONF_T_META) {
		/* Consul's lib.ParseMetaPair: "key:value", or "key" alone. */
		const char *colon = strchr(value, ':');
		char mk[CONF_SCALAR_MAX + 1];
		size_t len = colon ? (size_t)(colon - value) : strlen(value);

		if (len > CONF_SCALAR_MAX || !conf_utf8_ok((const unsigned char *)value)) {
			snprintf(why, why_size, "expected key:value");
			return -1;
		}
		memcpy(mk, value, len);
		mk[len] = '\0';
		rc = conf_meta_put(CONF_FIELD(c, k, struct conf_kvmap), mk, colon ? colon + 1 : "",
		                   why, why_size);
	} else {
		rc = conf_set_scalar(c, k, value, CONF_CLS_STR, false, true, why, why_size);
	}
	if (rc == 0)
		conf_key_mark(c, k);
	return rc;
}

int conf_validate(struct conf *c, bool need_data_dir, struct conf_diag *d)
{
	conf_table_check();
	return conf_check_run(c, need_data_dir, d);
}

static void conf_flag_error(struct conf_diag *d, const struct conf_flag_use *u, const char *why)
{
	char q[96];

	conf_diag_error(d, "config: flag -%s: invalid value %s: %s", u->name,
	                conf_quote(u->value, q, sizeof(q)), why);
}

int conf_resolve(struct conf *c, int argc, char **argv, struct conf_diag *d)
{
	struct conf_flag_use *uses;
	bool dev = false, any_ext = false;
	char why[256];
	int n, rc = 0;

	conf_table_check();
	uses = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*uses));
	if (uses == NULL) {
		conf_diag_error(d, "config: out of memory");
		return -1;
	}
	n = conf_flag_parse(argc, argv, uses, d);
	if (n < 0) {
		free(uses);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (uses[i].kind == CONF_FLAG_DEV && conf_parse_bool_go(uses[i].value, &dev) != 0) {
			conf_flag_error(d, &uses[i], "expected true or false");
			rc = -1;
		} else if (uses[i].kind == CONF_FLAG_FORMAT) {
			if (strcmp(uses[i].value, "json") == 0 ||
			    strcmp(uses[i].value, "yaml") == 0) {
				any_ext = true;
			} else {
				conf_flag_error(d, &uses[i],
				                "expected json or yaml (HCL is not "
				                "supported by muster)");
				rc = -1;
			}
		}
	}
	if (rc == 0 && dev) {
		rc = conf_load_mem(c, "-dev", conf_dev_layer, sizeof(conf_dev_layer) - 1, d);
		assert(rc == 0);
	}
	/* Consul merges list flags before the files (builder.go: "flag
	 * values for slices are otherwise appended instead of prepended"). */
	for (int i = 0; i < n; i++) {
		if (uses[i].kind == CONF_FLAG_KEY && conf_key_is_list(uses[i].key) &&
		    conf_set_flag_value(c, uses[i].key, uses[i].value, why, sizeof(why)) != 0) {
			conf_flag_error(d, &uses[i], why);
			rc = -1;
		}
	}
	for (int i = 0; i < n; i++) {
		if ((uses[i].kind == CONF_FLAG_FILE || uses[i].kind == CONF_FLAG_DIR) &&
		    conf_load_any(c, uses[i].value, any_ext, true, d) != 0)
			rc = -1;
	}
	for (int i = 0; i < n; i++) {
		bool key = uses[i].kind == CONF_FLAG_KEY && !conf_key_is_list(uses[i].key);

		if ((key || uses[i].kind == CONF_FLAG_META) &&
		    conf_set_flag_value(c, uses[i].key, uses[i].value, why, sizeof(why)) != 0) {
			conf_flag_error(d, &uses[i], why);
			rc = -1;
		}
	}
	free(uses);
	if (rc == 0)
		rc = conf_validate(c, true, d);
	if (rc == 0)
		rc = conf_check_host(c, d);
	return rc;
}

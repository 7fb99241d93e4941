/* hdef.h: Consul's rules for agent service and check definitions: defaults, validation texts,
 * maintenance checks (pure). */
#ifndef MUSTER_HEALTHD_HDEF_H
#define MUSTER_HEALTHD_HDEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/*
 * The rules of spec/http-api.md §3.12 and §3.16 as Consul applies them
 * (agent/agent_endpoint.go AgentRegisterService and AgentRegisterCheck,
 * agent/agent.go addServiceInternal, validateService and addCheck,
 * agent/structs/check_type.go Validate and Type). httpd decodes Consul's
 * JSON into the records and healthd calls these, so an HTTP registration
 * and a config-file definition get the same defaults and the same texts.
 *
 * Each prepare function edits the records in place (they are msg-owned:
 * heap strings, freed with the record) and returns 0, or the HTTP status
 * of the failure (400, 404) with Consul's text in err.
 */

#define HDEF_ERR_MAX 512
/* Consul's checks.DefaultBufSize / check_output_max_size default. */
#define HDEF_OUTPUT_MAX_DEFAULT 4096
/* Consul's checks.MinInterval: shorter intervals are raised to it. */
#define HDEF_MIN_INTERVAL_MS 1000
/* The default probe timeout (Consul: 10 s for HTTP, TCP, gRPC, scripts). */
#define HDEF_TIMEOUT_DEFAULT_MS 10000
/* Limits on one agent (habit 7). */
#define HDEF_SERVICES_MAX           65536
#define HDEF_CHECKS_MAX             65536
#define HDEF_CHECKS_PER_SERVICE_MAX 1024
#define HDEF_ID_MAX                 1024 /* bytes of a service or check ID */

/* Consul's maintenance check IDs and default notes (agent/agent.go). */
#define HDEF_NODE_MAINT_ID        "_node_maintenance"
#define HDEF_SERVICE_MAINT_PREFIX "_service_maintenance:"
#define HDEF_NODE_MAINT_REASON                                                                     \
	"Maintenance mode is enabled for this node, but no reason was provided. This is a "        \
	"default message."
#define HDEF_SERVICE_MAINT_REASON                                                                  \
	"Maintenance mode is enabled for this service, but no reason was provided. This is a "     \
	"default message."

struct hdef_opts {
	const char *node;                /* this agent's node name, set on every check */
	bool enable_script_checks;       /* registrations over the API may carry Args */
	bool enable_local_script_checks; /* config-file definitions may */
	bool local;                      /* the definition comes from a config file */
};

/* "passing", "warning", "critical". */
bool hdef_status_valid(const char *s);
/* 0 passing, 1 warning, 2 critical (anything else counts as critical). */
int hdef_status_num(const char *s);
const char *hdef_status_name(int n);

/* Consul's CheckType.Type(): "grpc", "http", "ttl", "tcp", "udp", "alias",
 * "docker", "script", "h2ping", "os_service", or "" for none. */
const char *hdef_check_type(const struct msg_check_def *d);
/* Interval checks (script, HTTP, TCP, UDP, gRPC, H2PING, OS service). */
bool hdef_is_interval(const struct msg_check_def *d);
bool hdef_is_alias(const struct msg_check_def *d);
/* Consul's CheckType.Empty(): nothing at all given (such a Check in a
 * service definition is skipped). */
bool hdef_check_is_empty(const struct msg_agent_check *c);
/* CheckType.Validate(): NULL, or Consul's reason. */
const char *hdef_check_validate(const struct msg_agent_check *c);

/* PUT /v1/agent/service/register (§3.12) and a config-file service:
 * defaults (ID, Weights, check IDs and names, statuses, types), then the
 * checks in Consul's order. checks may have empty entries removed. */
int hdef_service_prepare(struct msg_agent_service *svc, struct msg_agent_check_list *checks,
                         const struct hdef_opts *o, char *err, size_t err_size);
/* PUT /v1/agent/check/register (§3.16) and a config-file check. svc is the
 * local service the check names (NULL when it names none or an unknown
 * one: 404 then). */
int hdef_check_prepare(struct msg_agent_check *c, const struct msg_service *svc,
                       const struct hdef_opts *o, char *err, size_t err_size);
/* The service's name and tags onto a check of it (after a re-register). */
void hdef_check_bind(struct msg_agent_check *c, const struct msg_service *svc);

/* The critical maintenance checks (§3.7, §3.14): Consul's IDs, names,
 * notes (the reason or the default) and type "maintenance". */
void hdef_node_maint(struct msg_agent_check *out, const char *node, const char *reason);
void hdef_service_maint(struct msg_agent_check *out, const char *node,
                        const struct msg_service *svc, const char *reason);
/* "_service_maintenance:<id>" into a malloc'd string. */
char *hdef_service_maint_id(const char *service_id);

/* A check's output capped as Consul's CheckTTL.SetStatus does:
 * "<first max bytes> ... (captured <max> of <total> bytes)"; malloc'd. */
char *hdef_output_cap(const char *output, size_t max);
/* The effective output cap of a check: the agent's default, lowered by
 * the definition's OutputMaxSize. */
size_t hdef_output_max(const struct msg_check_def *d);

/* ContentHash (§3.11) of a service: 64-bit FNV-1a over its encoded record
 * without the hash and the maintenance flag, "%x" as Consul prints its
 * hashstructure value. out holds 17 bytes. */
void hdef_content_hash(const struct msg_agent_service *s, char out[17]);

/* Duration in ns as Go prints it, or "" for 0 (spec §2.6: "" when unset). */
void hdef_dur_str(uint64_t ns, char out[48]);

/* Replaces *dst with a copy of s. */
void hdef_set_str(char **dst, const char *s);

#endif

/* hjson.h: Consul's JSON on the wire: lenient field lookup, base64 values, and the shapes of spec/http-api.md §2, pure. */
#ifndef MUSTER_HTTPD_HJSON_H
#define MUSTER_HTTPD_HJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct json_object;

#define HJSON_ERR_MAX   256
#define HJSON_DEPTH_MAX 64 /* json_tokener depth for request bodies */

/* --- reading request bodies (spec §1.3) ------------------------------------
 * Field names match case-insensitively with '_' ignored, so "ServiceID",
 * "serviceid" and "service_id" are one field; unknown fields are ignored;
 * null or absent leaves the default. A value of the wrong type is an error
 * whose text follows Go's encoding/json ("json: cannot unmarshal number into
 * Go struct field .Node of type string"); the first error sticks. */
struct hjson_dec {
	bool failed;
	char err[HJSON_ERR_MAX];
};

/* Parses a request body (any size the caller allowed); NULL with
 * d->err set ("invalid character 'x' looking for beginning of value"-like
 * json-c text) when malformed. An empty body, or a JSON null, gives NULL without error. */
struct json_object *hjson_parse(struct hjson_dec *d, const char *body, size_t len);
void hjson_fail(struct hjson_dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The member of o named name (the lenient match), NULL if absent or JSON
 * null, or if o is not an object. */
struct json_object *hjson_get(struct json_object *o, const char *name);
/* Typed members: absent/null returns def (or NULL), a wrong type fails d.
 * Strings are borrowed from o. */
const char *hjson_get_str(struct hjson_dec *d, struct json_object *o, const char *name);
bool hjson_get_bool(struct hjson_dec *d, struct json_object *o, const char *name, bool def);
uint64_t hjson_get_u64(struct hjson_dec *d, struct json_object *o, const char *name, uint64_t def);
int64_t hjson_get_i64(struct hjson_dec *d, struct json_object *o, const char *name, int64_t def);
/* Copies into out (msg-owned memory, freed with the message); true if the
 * member was present (an explicit [] counts as present: spec §10.7). */
bool hjson_get_strlist(struct hjson_dec *d, struct json_object *o, const char *name,
                       struct msg_strlist *out);
bool hjson_get_strmap(struct hjson_dec *d, struct json_object *o, const char *name,
                      struct msg_strmap *out);
/* A duration: a Go duration string or a JSON number of nanoseconds
 * (spec §1.3). Negative values fail. */
uint64_t hjson_get_dur_ns(struct hjson_dec *d, struct json_object *o, const char *name,
                          uint64_t def);

/* Go's name of a JSON value's kind in its unmarshal errors: "bool",
 * "number", "string", "array", "object", "null". */
const char *hjson_kind(struct json_object *v);

/* --- base64 (common/b64.c; Go durations and quoting: common/gofmt.h) ------ */

/* Standard base64 with padding. encode returns a malloc'd string. decode
 * fills out (malloc'd, *len) and returns 0, or -1 on bad input. */
char *hjson_b64_encode(const uint8_t *p, size_t len);
int hjson_b64_decode(const char *s, uint8_t **out, size_t *len);

/* Serialises o: compact, or with ?pretty indented by 4 spaces and ending in
 * a newline (spec §1.4); no "\/" escaping; uint64 exact. malloc'd. */
char *hjson_write(struct json_object *o, bool pretty, size_t *len);

/* --- records to Consul's JSON (spec §2) ------------------------------------
 * Each returns a new object the caller owns. Lists are [] never null where
 * §1.4 says so. */
struct json_object *hjson_kv_entry(const struct msg_kv_entry *e);          /* DirEntry §2.8 */
struct json_object *hjson_node(const struct msg_node *n);                  /* Node §2.1 */
struct json_object *hjson_node_service(const struct msg_service *s);       /* NodeService §2.4 */
struct json_object *hjson_catalog_service(const struct msg_node *n,
                                          const struct msg_service *s);    /* CatalogService §2.5 */
struct json_object *hjson_check(const struct msg_check *c);                /* HealthCheck §2.6 */
struct json_object *hjson_svc_entry(const struct msg_svc_entry *e);        /* ServiceEntry §2.7 */
struct json_object *hjson_session(const struct msg_session *s);            /* Session §2.9 */
struct json_object *hjson_gossip_member(const struct msg_member *m);       /* Member §2.10 */
struct json_object *hjson_user_event(const struct msg_consul_event *e);    /* UserEvent §2.12 */
/* One pool of a keyring listing (Consul's structs.KeyringResponse). */
struct json_object *hjson_keyring_pool(const struct msg_keyring_pool *p);
/* Consul's keyringErrorsOrNil as its HTTP 500 text (a go-multierror list:
 * "<dc> (LAN) error: <text>" or "WAN error: ...", then "<node>: <text>"
 * for each message of that pool, nodes in name order); NULL when no pool
 * has an error. malloc'd. */
char *hjson_keyring_errors(const struct msg_keyring_pool_list *l);

/* --- Consul's JSON to records (catalog register §4.1, txn §8.3) ------------
 * Fill out from o with the lenient rules above; strings are copied
 * (msg-owned). node_meta_key: "NodeMeta" in catalog register, "Meta" in a
 * txn Node op. */
void hjson_dec_node(struct hjson_dec *d, struct json_object *o, const char *node_meta_key,
                    struct msg_node *out);
/* A catalog service (name field "Service"; ID defaults are the caller's). */
void hjson_dec_service(struct hjson_dec *d, struct json_object *o, struct msg_service *out);
/* A HealthCheck-shaped check with its Definition (durations as strings or
 * ns numbers). */
void hjson_dec_check(struct hjson_dec *d, struct json_object *o, struct msg_check *out);
void hjson_dec_check_def(struct hjson_dec *d, struct json_object *o, struct msg_check_def *out);

/* Consul's decodeBody into a struct: true when o is a JSON object; else
 * fails d with Go's text: "EOF" for an empty body (o NULL), "json: cannot
 * unmarshal array into Go value of type <gotype>" for another kind. */
bool hjson_want_object(struct hjson_dec *d, struct json_object *o, const char *gotype);

/* --- the agent's own services and checks (§2.3, §3.10-§3.20) ---------------
 * Decoding only: healthd validates and fills Consul's defaults (IDs, names,
 * statuses), so config files and the HTTP API share the rules and texts. */

/* A service definition (§3.12, PUT /v1/agent/service/register): the
 * service (its name is "Name"; Weights {1, 1} when absent), Proxy and
 * Connect kept as JSON text (§3.12: stored and echoed, "" absent), and its
 * checks, Check first then Checks, into checks (msg-owned). */
void hjson_dec_agent_service(struct hjson_dec *d, struct json_object *o,
                             struct msg_agent_service *out, struct msg_agent_check_list *checks);
/* One check: a CheckType inside a service definition (definition false:
 * its ID is "CheckID") or a check definition (§3.16, definition true: "ID"),
 * the other name taken too. The probe's fields are flat in o
 * (hjson_dec_check_def: durations as Go strings or ns numbers, Args and
 * ScriptArgs); the thresholds; check.interval and check.timeout are the
 * Go strings of the durations ("" unset). python-consul 0.7.1's "script"
 * becomes ["/bin/sh", "-c", script]. */
void hjson_dec_agent_check(struct hjson_dec *d, struct json_object *o, bool definition,
                           struct msg_agent_check *out);

/* AgentService (§2.3) of the agent in datacenter dc: Tags and Meta never
 * null, Weights always an object, ContentHash only when with_hash
 * (agent/service/{id}), Proxy and Connect when given. */
struct json_object *hjson_agent_service(const struct msg_agent_service *a, const char *dc,
                                        bool with_hash);
/* A check in agent/health/service answers (§3.20): the api.HealthCheck
 * form Consul fills from nine fields (Node .. ServiceTags), the others
 * zero. */
struct json_object *hjson_agent_health_check(const struct msg_check *c);
/* api.HealthChecks.AggregatedStatus (§2.6, §3.20): "maintenance" when one
 * of them is a maintenance check (_node_maintenance,
 * _service_maintenance:<id>), else the worst of critical, warning,
 * passing; "passing" for none; "" when a status is none of those. */
const char *hjson_aggregated_status(const struct msg_check *const *checks, size_t n);

#endif

/* route.c: the route table of the HTTP API, declared once (spec/http-api.md §3–§8). */
#include "httpd.h"

#include <string.h>

/* Go's ServeMux rules (§1.1): a path ending in '/' is a prefix whose rest
 * is the whole identifier; others match exactly; exact beats prefix and
 * the longest prefix wins. GET brings HEAD and PUT brings POST (server.c).
 * Where python-consul 0.7.1 sends GET for a write (§1.2), GET is listed. */

#define Q  HTTP_F_QUERY
#define F  HTTP_F_FILTER
#define P  HTTP_F_PREFIX
#define G  HTTP_GET
#define U  HTTP_PUT
#define D  HTTP_DELETE

const struct http_route http_routes[] = {
    /* KV and txn (§6, §8.3) */
    {"/v1/kv/", G | U | D, Q | P | HTTP_F_BODY_KV, api_kv},
    {"/v1/txn", U, Q | HTTP_F_BODY_TXN, api_txn},

    /* sessions (§7) */
    {"/v1/session/create", U, 0, api_session_create},
    {"/v1/session/destroy/", U, P, api_session_destroy},
    {"/v1/session/renew/", U, P, api_session_renew},
    {"/v1/session/info/", G, Q | P, api_session_info},
    {"/v1/session/node/", G, Q | P, api_session_node},
    {"/v1/session/list", G, Q, api_session_list},

    /* catalog (§4) */
    {"/v1/catalog/register", U, 0, api_catalog_register},
    {"/v1/catalog/deregister", U, 0, api_catalog_deregister},
    {"/v1/catalog/datacenters", G, 0, api_catalog_datacenters},
    {"/v1/catalog/nodes", G, Q | F, api_catalog_nodes},
    {"/v1/catalog/services", G, Q | F, api_catalog_services},
    {"/v1/catalog/service/", G, Q | F | P, api_catalog_service},
    {"/v1/catalog/node/", G, Q | F | P, api_catalog_node},
    {"/v1/catalog/node-services/", G, Q | F | P, api_catalog_node_services},

    /* health (§5) */
    {"/v1/health/node/", G, Q | F | P, api_health_node},
    {"/v1/health/checks/", G, Q | F | P, api_health_checks},
    {"/v1/health/service/", G, Q | F | P, api_health_service},
    {"/v1/health/state/", G, Q | F | P, api_health_state},

    /* status and operator (§8.1, §8.5) */
    {"/v1/status/leader", G, 0, api_status_leader},
    {"/v1/status/peers", G, 0, api_status_peers},
    {"/v1/operator/raft/configuration", G, Q, api_operator_raft_configuration},
    {"/v1/operator/raft/peer", D, 0, api_operator_raft_peer},
    {"/v1/operator/raft/transfer-leader", U, 0, api_operator_raft_transfer_leader},
    {"/v1/operator/autopilot/health", G, 0, api_operator_autopilot_health},
    {"/v1/operator/keyring", G | U | D, 0, api_operator_keyring}, /* PUT brings POST */

    /* this agent (§3.1, §3.4, §3.6, §3.8, §3.9) */
    {"/v1/agent/self", G, 0, api_agent_self},
    {"/v1/agent/reload", U, 0, api_agent_reload},
    {"/v1/agent/leave", U, 0, api_agent_leave},
    {"/v1/agent/metrics", G, 0, api_agent_metrics},
    {"/v1/agent/monitor", G, 0, api_agent_monitor},

    /* The agent's own services and checks, answered by healthd (§3.7,
     * §3.10-§3.20). service/{id} parses ?wait as a query (hash blocking). */
    {"/v1/agent/services", G, F, api_agent_services},
    {"/v1/agent/service/", G, Q | P, api_agent_service},
    {"/v1/agent/service/register", U, 0, api_agent_service_register},
    {"/v1/agent/service/deregister/", U | G, P, api_agent_service_deregister},
    {"/v1/agent/service/maintenance/", U, P, api_agent_service_maintenance},
    {"/v1/agent/checks", G, F, api_agent_checks},
    {"/v1/agent/check/register", U, 0, api_agent_check_register},
    {"/v1/agent/check/deregister/", U | G, P, api_agent_check_deregister},
    {"/v1/agent/check/pass/", U | G, P, api_agent_check_pass},
    {"/v1/agent/check/warn/", U | G, P, api_agent_check_warn},
    {"/v1/agent/check/fail/", U | G, P, api_agent_check_fail},
    {"/v1/agent/check/update/", U, P, api_agent_check_update},
    {"/v1/agent/maintenance", U, 0, api_agent_maintenance},
    {"/v1/agent/health/service/id/", G, P, api_agent_health_service_id},
    {"/v1/agent/health/service/name/", G, P, api_agent_health_service_name},

    /* gossip membership and user events, answered by gossipd (§3.2,
     * §3.3, §3.5, §8.2); event/list blocks on ?index like a query. */
    {"/v1/agent/members", G, F, api_agent_members},
    {"/v1/agent/join/", U | G, P, api_agent_join},
    {"/v1/agent/force-leave/", U | G, P, api_agent_force_leave},
    {"/v1/event/fire/", U, P, api_event_fire},
    {"/v1/event/list", G, Q, api_event_list},

    /* Later issues: coordinates, prepared queries, snapshots, ACLs. */
    {"/v1/coordinate/", G | U, P, api_not_built},
    {"/v1/query", G | U, 0, api_not_built},
    {"/v1/query/", G | U | D, P, api_not_built},
    {"/v1/snapshot", G | U, 0, api_not_built},
    {"/v1/acl/", G | U | D, P, api_not_built},

    /* the UI (§1.1) */
    {"/ui/", G, P, api_ui},
    {"/", G, 0, api_root},
    {"/robots.txt", G, 0, api_root},
};

const size_t http_routes_n = sizeof(http_routes) / sizeof(http_routes[0]);

/* Exact paths first, then the longest prefix (Go's ServeMux). */
const struct http_route *http_route_find(const char *path, const char **rest)
{
	const struct http_route *best = NULL;
	size_t best_len = 0;
	for (size_t i = 0; i < http_routes_n; i++) {
		const struct http_route *rt = &http_routes[i];
		size_t l = strlen(rt->path);
		if (rt->flags & HTTP_F_PREFIX) {
			if (strncmp(path, rt->path, l) == 0 && l > best_len) {
				best = rt;
				best_len = l;
			}
		} else if (strcmp(path, rt->path) == 0) {
			*rest = "";
			return rt;
		}
	}
	if (best != NULL)
		*rest = path + best_len;
	return best;
}

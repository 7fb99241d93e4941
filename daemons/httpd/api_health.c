/* api_health.c: the health endpoints: node, checks, service, state (spec/http-api.md §5). */
#include "httpd.h"

#include <json-c/json.h>
#include <string.h>

#include "hjson.h"
#include "xalloc.h"

/* Every endpoint here is a blocking read of raftd's catalog: the core has
 * parsed the consistency and blocking options into r->opts and ?filter
 * into r->filter; raftd answers the per-service or checks-table index
 * (§1.10) and applies ?node-meta, ?tag and ?passing itself. ?near is
 * accepted and leaves raftd's order (no coordinates yet, §11 item 13). */

/* A [HealthCheck...] reply (§2.6), filtered per element. */
static void api_health_checks_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_checks_reply *cr;
	struct json_object *a;

	if (http_reply_bus_error(r, st, reply, MSG_CHECKS_REPLY))
		return;
	cr = &reply->u.checks_reply;
	a = json_object_new_array();
	for (uint32_t i = 0; i < cr->checks.n; i++) {
		struct json_object *e = hjson_check(&cr->checks.v[i]);

		http_filter_append(r, a, e);
	}
	http_set_meta(r, &cr->meta);
	http_reply_json(r, 200, a);
}

/* One HEALTH_CHECKS read: exactly one of node, service, state is set
 * (borrowed from the request); node_meta when the endpoint takes it. */
static void api_health_ask(struct http_req *r, const char *node, const char *service,
                           const char *state, bool node_meta)
{
	struct msg m = {0};
	struct msg_health_checks *q = &m.u.health_checks;

	m.type = MSG_HEALTH_CHECKS;
	q->q = r->opts;
	q->node = xstrdup(node);
	q->service = xstrdup(service);
	q->state = xstrdup(state);
	if (node_meta)
		http_node_meta(r, &q->node_meta);
	http_call(r, "raftd", &m, 0, api_health_checks_done);
	msg_free(&m);
}

/* --- GET /v1/health/node/{node} (§5.1) ------------------------------------ */

void api_health_node(struct http_req *r)
{
	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing node name");
		return;
	}
	/* Consul's health/node takes no ?node-meta. */
	api_health_ask(r, r->id, "", "", false);
}

/* --- GET /v1/health/checks/{service} (§5.2) ------------------------------- */

void api_health_checks(struct http_req *r)
{
	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing service name");
		return;
	}
	api_health_ask(r, "", r->id, "", true);
}

/* --- GET /v1/health/state/{state} (§5.4) ---------------------------------- */

/* Consul validates nothing past the empty state: an unknown one matches
 * no check and answers [] (spec §5.4; raftd does the same). The Go client
 * and node-consul check the state on their side before sending it. */
void api_health_state(struct http_req *r)
{
	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing check state");
		return;
	}
	api_health_ask(r, "", "", r->id, true);
}

/* --- GET /v1/health/service/{service} (§5.3) ------------------------------ */

static void api_health_service_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_service_nodes_reply *sr;
	struct json_object *a;

	if (http_reply_bus_error(r, st, reply, MSG_SERVICE_NODES_REPLY))
		return;
	sr = &reply->u.service_nodes_reply;
	a = json_object_new_array();
	for (uint32_t i = 0; i < sr->entries.n; i++) {
		/* ServiceEntry (§2.7): Checks holds node checks and the
		 * instance's own, never null; ?filter sees Node.*, Service.*
		 * and Checks.* of it. */
		struct json_object *e = hjson_svc_entry(&sr->entries.v[i]);

		http_filter_append(r, a, e);
	}
	http_set_meta(r, &sr->meta);
	http_reply_json(r, 200, a);
}

void api_health_service(struct http_req *r)
{
	struct msg m = {0};
	struct msg_service_nodes *q = &m.u.service_nodes;
	const char *passing = hquery_get(&r->query, "passing");
	bool pass = false;
	size_t n = 0;

	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing service name");
		return;
	}
	/* ?passing: present and empty means true, otherwise Go's ParseBool
	 * (§5.3); absent is false. */
	if (passing != NULL && passing[0] != '\0' && hquery_parse_bool(passing, &pass) != 0) {
		http_reply_text(r, 400, "Invalid value for ?passing");
		return;
	}
	if (passing != NULL && passing[0] == '\0')
		pass = true;
	m.type = MSG_SERVICE_NODES;
	q->q = r->opts;
	q->service = xstrdup(r->id);
	while (hquery_get_nth(&r->query, "tag", n) != NULL)
		n++;
	q->tags.v = n > 0 ? xcalloc(n, sizeof(char *)) : NULL;
	for (size_t i = 0; i < n; i++)
		q->tags.v[q->tags.n++] = xstrdup(hquery_get_nth(&r->query, "tag", i));
	http_node_meta(r, &q->node_meta);
	q->with_checks = true;
	q->passing = pass;
	http_call(r, "raftd", &m, 0, api_health_service_done);
	msg_free(&m);
}

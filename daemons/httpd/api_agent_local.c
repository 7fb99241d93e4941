/* api_agent_local.c: this agent's own services and checks, answered by healthd: services, service,
 * register, deregister, maintenance, checks, check register/deregister/pass/warn/fail/update, local
 * health (spec/http-api.md §3.7, §3.10-§3.20). */
#include "httpd.h"

#include <json-c/json.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "gofmt.h"
#include "hjson.h"
#include "xalloc.h"

/* httpd only decodes Consul's JSON and shapes the answers: healthd
 * validates, fills Consul's defaults and answers RESULT{code, Consul's
 * text} on a failure (proto/msg.def, healthd's part), so a service from a
 * config file and one from the API meet the same rules. */

/* --- shared ---------------------------------------------------------------- */

/* A write healthd answered: RESULT 200 (or 0) is Consul's 200 with an
 * empty body (§1.4); RESULT >= 400 is its code and text. */
static void api_local_write_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	if (st == IPC_OK && reply->type == MSG_RESULT &&
	    (reply->u.result.status == 0 ||
	     (reply->u.result.status >= 200 && reply->u.result.status < 300))) {
		http_reply_empty(r, 200);
		return;
	}
	if (http_reply_bus_error(r, st, reply, MSG_RESULT))
		return;
	http_reply_text(r, 500, "unexpected reply to the request");
}

/* ?enable of the two maintenance endpoints (§3.7, §3.14): Consul tests the
 * key's presence, then strconv.ParseBool of its first value. false after
 * answering 400. */
static bool api_local_enable(struct http_req *r, bool *enable)
{
	const char *v = hquery_get(&r->query, "enable");
	char *q;

	if (v == NULL) {
		http_reply_text(r, 400, "Missing value for enable");
		return false;
	}
	if (hquery_parse_bool(v, enable) != 0) {
		q = gofmt_quote(v, strlen(v));
		http_reply_errorf(r, 400, "Invalid value for enable: %s", q);
		free(q);
		return false;
	}
	return true;
}

/* A query parameter's first value, "" when absent (url.Values.Get). */
static const char *api_local_param(struct http_req *r, const char *key)
{
	const char *v = hquery_get(&r->query, key);

	return v != NULL ? v : "";
}

static void api_local_state(struct http_req *r,
                            void (*done)(struct http_req *r, enum ipc_status st, struct msg *reply))
{
	struct msg m = {0};

	m.type = MSG_AGENT_STATE;
	http_call(r, "healthd", &m, 0, done);
}

/* --- GET /v1/agent/services (§3.10), GET /v1/agent/checks (§3.15) --------- */

/* One value of an ID-keyed answer, when it passes ?filter; takes e. */
static void api_local_map_add(struct http_req *r, struct json_object *o, const char *key,
                              struct json_object *e)
{
	if (http_filter_ok(r, e))
		json_object_object_add(o, key != NULL ? key : "", e);
	else
		json_object_put(e);
}

static void api_agent_services_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_agent_state_reply *ar;
	struct json_object *o;

	if (http_reply_bus_error(r, st, reply, MSG_AGENT_STATE_REPLY))
		return;
	ar = &reply->u.agent_state_reply;
	/* ID -> AgentService, {} when none; healthd sends them in ID order,
	 * the order Go writes a map's keys in. ?filter applies to each value. */
	o = json_object_new_object();
	for (uint32_t i = 0; i < ar->services.n; i++) {
		const struct msg_agent_service *a = &ar->services.v[i];
		api_local_map_add(r, o, a->service.id,
		                  hjson_agent_service(a, http_datacenter(r), false));
	}
	http_reply_json(r, 200, o);
}

void api_agent_services(struct http_req *r)
{
	api_local_state(r, api_agent_services_done);
}

static void api_agent_checks_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_agent_state_reply *ar;
	struct json_object *o;

	if (http_reply_bus_error(r, st, reply, MSG_AGENT_STATE_REPLY))
		return;
	ar = &reply->u.agent_state_reply;
	/* CheckID -> HealthCheck (§2.6), ServiceTags never null. */
	o = json_object_new_object();
	for (uint32_t i = 0; i < ar->checks.n; i++) {
		const struct msg_check *c = &ar->checks.v[i].check;

		api_local_map_add(r, o, c->check_id, hjson_check(c));
	}
	http_reply_json(r, 200, o);
}

void api_agent_checks(struct http_req *r)
{
	api_local_state(r, api_agent_checks_done);
}

/* --- GET /v1/agent/service/{id} (§3.11) ------------------------------------ */

static void api_agent_service_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_service_get_reply *sr;

	if (http_reply_bus_error(r, st, reply, MSG_SERVICE_GET_REPLY))
		return;
	sr = &reply->u.service_get_reply;
	if (!sr->found) {
		http_reply_errorf(r, 404, "unknown service ID: %s", r->id);
		return;
	}
	if (sr->service.content_hash != NULL && sr->service.content_hash[0] != '\0')
		http_header(r, "X-Consul-ContentHash", sr->service.content_hash);
	http_reply_json(r, 200, hjson_agent_service(&sr->service, http_datacenter(r), true));
}

/* Blocks on ?hash (not ?index) for ?wait: the core parsed ?wait into
 * r->opts (the route is a query route, as Consul runs parseWait here). */
void api_agent_service(struct http_req *r)
{
	const char *hash = hquery_get(&r->query, "hash");
	struct msg m = {0};
	uint64_t timeout_ms = 0;

	m.type = MSG_SERVICE_GET;
	m.u.service_get.id = (char *)r->id;
	m.u.service_get.hash = (char *)(hash != NULL ? hash : "");
	m.u.service_get.wait_ms = r->opts.wait_ms;
	if (hash != NULL && hash[0] != '\0') {
		uint64_t wait = r->opts.wait_ms ? r->opts.wait_ms : HTTPD_WAIT_DEFAULT_MS;

		if (wait > HTTPD_WAIT_MAX_MS)
			wait = HTTPD_WAIT_MAX_MS;
		/* healthd answers by the wait (jitter below wait/16, §1.10);
		 * the margin covers the bus. A blocking call, so a stop does
		 * not wait for it (httpd_stop looks at opts.min_index). */
		timeout_ms = wait + wait / 16 + HTTPD_CALL_MARGIN_MS;
		if (r->opts.min_index == 0) {
			r->opts.min_index = 1;
			r->h->blocking++;
		}
	}
	/* Borrowed fields only: nothing to free. */
	http_call(r, "healthd", &m, timeout_ms, api_agent_service_done);
}

/* --- PUT /v1/agent/service/register (§3.12) -------------------------------- */

/* The end of a registration decoded from o into m: a decode error is 400
 * "Request decode failed: ...", else m goes to healthd with the request's
 * token (§1.6), or failing that the definition's own Token, in *token. */
static void api_local_register(struct http_req *r, struct hjson_dec *d, struct json_object *o,
                               struct msg *m, char **token)
{
	const char *tok = hjson_get_str(d, o, "Token");

	if (d->failed) {
		http_reply_errorf(r, 400, "Request decode failed: %s", d->err);
		return;
	}
	*token = xstrdup(r->token[0] != '\0' ? r->token : tok != NULL ? tok : "");
	http_call(r, "healthd", m, 0, api_local_write_done);
}

void api_agent_service_register(struct http_req *r)
{
	struct json_object *o = http_body_object(r, "structs.ServiceDefinition");
	struct msg m = {0};
	struct msg_service_register *sr = &m.u.service_register;
	struct hjson_dec d = {0};
	const char *rec;

	if (o == NULL)
		return;
	m.type = MSG_SERVICE_REGISTER;
	hjson_dec_agent_service(&d, o, &sr->service, &sr->checks);
	/* Consul: on when the key is present with "" or "true" as its value
	 * (agent_endpoint.go), not with ParseBool's other spellings. */
	rec = hquery_get(&r->query, "replace-existing-checks");
	sr->replace_existing_checks = rec != NULL && (rec[0] == '\0' || strcmp(rec, "true") == 0);
	api_local_register(r, &d, o, &m, &sr->token);
	msg_free(&m);
	json_object_put(o);
}

/* --- PUT|GET /v1/agent/service/deregister/{id} (§3.13) --------------------- */

void api_agent_service_deregister(struct http_req *r)
{
	struct msg m = {0};

	m.type = MSG_SERVICE_DEREGISTER;
	m.u.service_deregister.id = (char *)r->id;
	http_call(r, "healthd", &m, 0, api_local_write_done);
}

/* --- PUT /v1/agent/service/maintenance/{id} (§3.14), /maintenance (§3.7) --- */

/* Node maintenance (id "") or a service's: ?enable as Consul parses it,
 * ?reason ("" lets healthd write Consul's default Notes). */
static void api_local_maintenance(struct http_req *r, bool node)
{
	struct msg m = {0};
	bool enable;

	if (!api_local_enable(r, &enable))
		return;
	m.type = MSG_MAINTENANCE;
	m.u.maintenance.node = node;
	m.u.maintenance.id = (char *)(node ? "" : r->id);
	m.u.maintenance.enable = enable;
	m.u.maintenance.reason = (char *)api_local_param(r, "reason");
	http_call(r, "healthd", &m, 0, api_local_write_done);
}

void api_agent_service_maintenance(struct http_req *r)
{
	/* Consul checks the ID before ?enable. */
	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing service ID");
		return;
	}
	api_local_maintenance(r, false);
}

void api_agent_maintenance(struct http_req *r)
{
	api_local_maintenance(r, true);
}

/* --- PUT /v1/agent/check/register (§3.16), deregister/{id} (§3.17) -------- */

void api_agent_check_register(struct http_req *r)
{
	struct json_object *o = http_body_object(r, "structs.CheckDefinition");
	struct msg m = {0};
	struct hjson_dec d = {0};

	if (o == NULL)
		return;
	m.type = MSG_CHECK_REGISTER;
	hjson_dec_agent_check(&d, o, true, &m.u.check_register.check);
	api_local_register(r, &d, o, &m, &m.u.check_register.token);
	msg_free(&m);
	json_object_put(o);
}

void api_agent_check_deregister(struct http_req *r)
{
	struct msg m = {0};

	m.type = MSG_CHECK_DEREGISTER;
	m.u.check_deregister.check_id = (char *)r->id;
	http_call(r, "healthd", &m, 0, api_local_write_done);
}

/* --- TTL updates: check/pass|warn|fail/{id} (§3.18), check/update/{id} (§3.19) */

/* ?note is the new Output of pass, warn and fail ("" when absent). */
static void api_local_ttl(struct http_req *r, const char *status, const char *output)
{
	struct msg m = {0};

	m.type = MSG_CHECK_UPDATE;
	m.u.check_update.check_id = (char *)r->id;
	m.u.check_update.status = (char *)status;
	m.u.check_update.output = (char *)output;
	http_call(r, "healthd", &m, 0, api_local_write_done);
}

void api_agent_check_pass(struct http_req *r)
{
	api_local_ttl(r, "passing", api_local_param(r, "note"));
}

void api_agent_check_warn(struct http_req *r)
{
	api_local_ttl(r, "warning", api_local_param(r, "note"));
}

void api_agent_check_fail(struct http_req *r)
{
	api_local_ttl(r, "critical", api_local_param(r, "note"));
}

void api_agent_check_update(struct http_req *r)
{
	struct json_object *o = http_body_object(r, "agent.checkUpdate");
	struct hjson_dec d = {0};
	const char *status, *output;

	if (o == NULL)
		return;
	status = hjson_get_str(&d, o, "Status");
	output = hjson_get_str(&d, o, "Output");
	if (d.failed) {
		http_reply_errorf(r, 400, "Request decode failed: %s", d.err);
	} else if (status == NULL ||
	           (strcmp(status, "passing") != 0 && strcmp(status, "warning") != 0 &&
	            strcmp(status, "critical") != 0)) {
		http_reply_errorf(r, 400, "Invalid check status: '%s'",
		                  status != NULL ? status : "");
	} else {
		/* The call copies what it sends: o may go now. */
		api_local_ttl(r, status, output != NULL ? output : "");
	}
	json_object_put(o);
}

/* --- GET /v1/agent/health/service/id/{id} and name/{name} (§3.20) ---------- */

/* Plain text when ?format=text, or an Accept that starts with text/plain
 * (Consul's returnTextPlain: Accept first, then a non-empty ?format). */
static bool api_local_text(struct http_req *r)
{
	const char *accept = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept");
	const char *format = hquery_get(&r->query, "format");

	if (accept != NULL && strncmp(accept, "text/plain", 10) == 0)
		return true;
	return format != NULL && format[0] != '\0' && strcmp(format, "text") == 0;
}

/* The code of an aggregated status: passing 200, warning 429, anything
 * else (critical, maintenance, "") 503 (Consul's agentHealthService). */
static unsigned api_local_health_code(const char *status)
{
	if (strcmp(status, "passing") == 0)
		return 200;
	if (strcmp(status, "warning") == 0)
		return 429;
	return 503;
}

/* One instance's {"AggregatedStatus", "Service", "Checks"}: its own checks
 * and the node's (ServiceID ""), as Consul's ChecksForService(id, true). */
static struct json_object *api_local_health_of(struct http_req *r,
                                               const struct msg_agent_state_reply *ar,
                                               const struct msg_agent_service *a,
                                               const char **status)
{
	const char *id = a->service.id != NULL ? a->service.id : "";
	const struct msg_check **mine = xcalloc(ar->checks.n + 2, sizeof(*mine));
	struct msg_check maint = {0};
	struct json_object *o, *checks;
	size_t n = 0;

	checks = json_object_new_array();
	for (uint32_t i = 0; i < ar->checks.n; i++) {
		const struct msg_check *c = &ar->checks.v[i].check;
		const char *sid = c->service_id != NULL ? c->service_id : "";

		if (sid[0] != '\0' && strcmp(sid, id) != 0)
			continue;
		mine[n++] = c;
		json_object_array_add(checks, hjson_agent_health_check(c));
	}
	/* Maintenance flagged on the records but without its check in the
	 * list still counts as maintenance (§3.20: critical or maintenance). */
	if (a->maintenance || ar->node_maintenance) {
		maint.check_id =
		    (char *)(a->maintenance ? "_service_maintenance:" : "_node_maintenance");
		maint.status = (char *)"critical";
		mine[n++] = &maint;
	}
	*status = hjson_aggregated_status(mine, n);
	free(mine);
	o = json_object_new_object();
	json_object_object_add(o, "AggregatedStatus", json_object_new_string(*status));
	json_object_object_add(o, "Service", hjson_agent_service(a, http_datacenter(r), false));
	json_object_object_add(o, "Checks", checks);
	return o;
}

/* Answers with the X-Consul-Reason header on every code (§1.5, §3.20). */
static void api_local_health_reply(struct http_req *r, unsigned code, const char *reason,
                                   struct json_object *body)
{
	http_header(r, "X-Consul-Reason", reason);
	if (api_local_text(r)) {
		json_object_put(body);
		http_reply_raw(r, code, "text/plain", reason, strlen(reason));
		return;
	}
	http_reply_json(r, code, body);
}

static void api_agent_health_id_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_agent_state_reply *ar;
	struct json_object *o;
	const char *status;
	char *reason;

	if (http_reply_bus_error(r, st, reply, MSG_AGENT_STATE_REPLY))
		return;
	ar = &reply->u.agent_state_reply;
	for (uint32_t i = 0; i < ar->services.n; i++) {
		const struct msg_agent_service *a = &ar->services.v[i];

		if (a->service.id == NULL || strcmp(a->service.id, r->id) != 0)
			continue;
		o = api_local_health_of(r, ar, a, &status);
		api_local_health_reply(r, api_local_health_code(status), status, o);
		return;
	}
	reason = xasprintf("ServiceId %s not found", r->id);
	o = json_object_new_object();
	json_object_object_add(o, "AggregatedStatus", json_object_new_string("critical"));
	json_object_object_add(o, "Service", NULL);
	json_object_object_add(o, "Checks", NULL);
	api_local_health_reply(r, 404, reason, o);
	free(reason);
}

void api_agent_health_service_id(struct http_req *r)
{
	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing serviceID");
		return;
	}
	api_local_state(r, api_agent_health_id_done);
}

static void api_agent_health_name_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_agent_state_reply *ar;
	struct json_object *a;
	unsigned code = 404;
	char *not_found;
	const char *reason;

	if (http_reply_bus_error(r, st, reply, MSG_AGENT_STATE_REPLY))
		return;
	ar = &reply->u.agent_state_reply;
	not_found = xasprintf("ServiceName %s Not Found", r->id);
	reason = not_found;
	a = json_object_new_array();
	/* The worst instance decides the code (passing 200 < warning 429 <
	 * critical 503); names match exactly, as Consul's ServicesByName. */
	for (uint32_t i = 0; i < ar->services.n; i++) {
		const struct msg_agent_service *s = &ar->services.v[i];
		const char *status;
		unsigned c;

		if (s->service.service == NULL || strcmp(s->service.service, r->id) != 0)
			continue;
		json_object_array_add(a, api_local_health_of(r, ar, s, &status));
		c = api_local_health_code(status);
		if (code == 404 || code < c) {
			code = c;
			reason = status;
		}
	}
	api_local_health_reply(r, code, reason, a);
	free(not_found);
}

void api_agent_health_service_name(struct http_req *r)
{
	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing service Name");
		return;
	}
	api_local_state(r, api_agent_health_name_done);
}

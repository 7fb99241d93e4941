/* api_catalog.c: the catalog endpoints: register, deregister, datacenters, nodes, services,
 * service, node, node-services (spec/http-api.md §4). */
#include "httpd.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "hjson.h"
#include "xalloc.h"

/* raftd checks a registration the way Consul's Catalog.Register does
 * (node name, node ID, address, service ID and name, any-address, check
 * node, check ID from Name, empty status as critical) and answers
 * RESULT{500, Consul's text}; the handlers here decode the body, fill in
 * what only the agent knows (its datacenter) and shape the replies. */

/* The request's Datacenter: empty means the agent's; any other is not
 * reachable from a single-datacenter agent (spec §1.7, §4.1). Sets *dc
 * to a heap copy; false when answered. */
static bool api_catalog_dc(struct http_req *r, struct hjson_dec *d, struct json_object *o,
                           char **dc)
{
	const char *want = hjson_get_str(d, o, "Datacenter");
	const char *ours = http_datacenter(r);

	if (d->failed)
		return true; /* answered with the decode error by the caller */
	if (want != NULL && want[0] != '\0' && strcmp(want, ours) != 0) {
		http_reply_text(r, 500, "No path to datacenter");
		return false;
	}
	free(*dc);
	*dc = xstrdup(ours);
	return true;
}

static void api_catalog_write_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	if (http_reply_bus_error(r, st, reply, MSG_WRITE_REPLY))
		return;
	/* Consul answers true for every applied registration (spec §1.4). */
	http_reply_bool(r, true);
}

/* --- PUT /v1/catalog/register (§4.1) -------------------------------------- */

void api_catalog_register(struct http_req *r)
{
	struct json_object *o = http_body_object(r, "structs.RegisterRequest");
	struct msg m = {0};
	struct msg_catalog_register *cr = &m.u.catalog_register;
	struct hjson_dec d = {0};
	struct json_object *svc, *chk, *list;
	size_t n = 0;

	if (o == NULL)
		return;
	m.type = MSG_CATALOG_REGISTER;
	hjson_dec_node(&d, o, "NodeMeta", &cr->node);
	if (!api_catalog_dc(r, &d, o, &cr->node.datacenter))
		goto out;
	cr->skip_node_update = hjson_get_bool(&d, o, "SkipNodeUpdate", false);
	svc = hjson_get(o, "Service");
	if (svc != NULL && !json_object_is_type(svc, json_type_object)) {
		hjson_fail(&d,
		           "json: cannot unmarshal %s into Go struct field "
		           "RegisterRequest.Service of type structs.NodeService",
		           hjson_kind(svc));
	} else if (svc != NULL) {
		cr->has_service = true;
		hjson_dec_service(&d, svc, &cr->service);
	}
	/* Checks, then Check appended (Consul's Catalog.Register). */
	chk = hjson_get(o, "Check");
	list = hjson_get(o, "Checks");
	if (chk != NULL && !json_object_is_type(chk, json_type_object))
		hjson_fail(&d,
		           "json: cannot unmarshal %s into Go struct field "
		           "RegisterRequest.Check of type structs.HealthCheck",
		           hjson_kind(chk));
	if (list != NULL && !json_object_is_type(list, json_type_array))
		hjson_fail(&d,
		           "json: cannot unmarshal %s into Go struct field "
		           "RegisterRequest.Checks of type structs.HealthChecks",
		           hjson_kind(list));
	if (!d.failed) {
		n = list != NULL ? json_object_array_length(list) : 0;
		if (n + 1 > MSG_LIST_LEN_MAX)
			hjson_fail(&d, "json: too many checks (%zu > %u)", n, MSG_LIST_LEN_MAX - 1);
	}
	if (!d.failed) {
		cr->checks.v = xcalloc(n + 1, sizeof(*cr->checks.v));
		for (size_t i = 0; i < n && !d.failed; i++) {
			struct json_object *c = json_object_array_get_idx(list, i);

			if (c == NULL)
				continue; /* a null element registers nothing */
			if (!json_object_is_type(c, json_type_object)) {
				hjson_fail(&d,
				           "json: cannot unmarshal %s into Go struct field "
				           "RegisterRequest.Checks of type structs.HealthCheck",
				           hjson_kind(c));
				break;
			}
			hjson_dec_check(&d, c, &cr->checks.v[cr->checks.n++]);
		}
		if (chk != NULL && !d.failed)
			hjson_dec_check(&d, chk, &cr->checks.v[cr->checks.n++]);
	}
	if (d.failed) {
		http_reply_errorf(r, 400, "Request decode failed: %s", d.err);
		goto out;
	}
	http_call(r, "raftd", &m, 0, api_catalog_write_done);
out:
	msg_free(&m);
	json_object_put(o);
}

/* --- PUT /v1/catalog/deregister (§4.2) ------------------------------------ */

void api_catalog_deregister(struct http_req *r)
{
	struct json_object *o = http_body_object(r, "structs.DeregisterRequest");
	struct msg m = {0};
	struct msg_catalog_deregister *cd = &m.u.catalog_deregister;
	struct hjson_dec d = {0};
	char *dc = NULL;
	const char *s;

	if (o == NULL)
		return;
	m.type = MSG_CATALOG_DEREGISTER;
	if (!api_catalog_dc(r, &d, o, &dc))
		goto out;
	cd->node = xstrdup((s = hjson_get_str(&d, o, "Node")) != NULL ? s : "");
	cd->service_id = xstrdup((s = hjson_get_str(&d, o, "ServiceID")) != NULL ? s : "");
	cd->check_id = xstrdup((s = hjson_get_str(&d, o, "CheckID")) != NULL ? s : "");
	if (d.failed) {
		http_reply_errorf(r, 400, "Request decode failed: %s", d.err);
		goto out;
	}
	/* An empty Node is raftd's 500 "Must provide node". */
	http_call(r, "raftd", &m, 0, api_catalog_write_done);
out:
	free(dc);
	msg_free(&m);
	json_object_put(o);
}

/* --- GET /v1/catalog/datacenters (§4.3) ----------------------------------- */

/* One datacenter, the agent's: no WAN federation yet, so no RTT order to
 * compute; no index headers, no leader needed. */
void api_catalog_datacenters(struct http_req *r)
{
	struct json_object *a = json_object_new_array();

	json_object_array_add(a, json_object_new_string(http_datacenter(r)));
	http_reply_json(r, 200, a);
}

/* --- GET /v1/catalog/nodes (§4.4) ----------------------------------------- */

static void api_catalog_nodes_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_nodes_reply *nr;
	struct json_object *a;

	if (http_reply_bus_error(r, st, reply, MSG_NODES_REPLY))
		return;
	nr = &reply->u.nodes_reply;
	a = json_object_new_array();
	for (uint32_t i = 0; i < nr->nodes.n; i++) {
		struct json_object *e = hjson_node(&nr->nodes.v[i]);

		http_filter_append(r, a, e);
	}
	http_set_meta(r, &nr->meta);
	http_reply_json(r, 200, a);
}

/* ?near is accepted and the order stays raftd's, by node name: muster
 * keeps no network coordinates yet (spec §11 item 13 allows this). */
void api_catalog_nodes(struct http_req *r)
{
	struct msg m = {0};

	m.type = MSG_CATALOG_NODES;
	m.u.catalog_nodes.q = r->opts;
	http_node_meta(r, &m.u.catalog_nodes.node_meta);
	http_call(r, "raftd", &m, 0, api_catalog_nodes_done);
	msg_free(&m);
}

/* --- GET /v1/catalog/services (§4.5) -------------------------------------- */

/* A filter on catalog/services selects instances (ServiceNode fields,
 * spec §4.5), but raftd's CATALOG_SERVICES answers names and tag unions
 * only. With ?filter the handler therefore walks the names: one
 * SERVICE_NODES call per name, each instance shaped as a CatalogService
 * (§2.5) and filtered, and a name is kept with the tags of its matching
 * instances. The calls run one after another without blocking; the
 * blocking and the index are the CATALOG_SERVICES call's. The walk is
 * bounded by the reply's own limit (MSG_LIST_LEN_MAX names). */
struct api_catalog_scan {
	struct msg names; /* the SERVICES_REPLY, kept */
	uint32_t next;    /* the name asked for now */
	struct json_object *out;
	struct msg_strmap node_meta;
};

static void api_catalog_scan_free(void *arg)
{
	struct api_catalog_scan *s = arg;

	if (s == NULL)
		return;
	msg_free(&s->names);
	json_object_put(s->out);
	for (uint32_t i = 0; i < s->node_meta.n; i++) {
		free(s->node_meta.k[i]);
		free(s->node_meta.v[i]);
	}
	free(s->node_meta.k);
	free(s->node_meta.v);
	free(s);
}

static int api_catalog_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted, de-duplicated tags of some instances (§4.5). */
static struct json_object *api_catalog_tag_union(const char **tags, size_t n)
{
	struct json_object *a = json_object_new_array();

	if (n > 0)
		qsort(tags, n, sizeof(*tags), api_catalog_strcmp);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(tags[i - 1], tags[i]) != 0)
			json_object_array_add(a, json_object_new_string(tags[i]));
	return a;
}

static void api_catalog_scan_step(struct http_req *r);

static void api_catalog_scan_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	struct api_catalog_scan *s = r->arg;
	const struct msg_service_nodes_reply *sr;
	const char **tags = NULL;
	size_t n_tags = 0, cap = 0;
	bool any = false;

	if (http_reply_bus_error(r, st, reply, MSG_SERVICE_NODES_REPLY))
		return;
	sr = &reply->u.service_nodes_reply;
	for (uint32_t i = 0; i < sr->entries.n; i++) {
		const struct msg_svc_entry *e = &sr->entries.v[i];
		struct json_object *cs = hjson_catalog_service(&e->node, &e->service);
		bool ok = http_filter_ok(r, cs);

		json_object_put(cs);
		if (!ok)
			continue;
		any = true;
		if (n_tags + e->service.tags.n > cap) {
			cap = (n_tags + e->service.tags.n) * 2;
			tags = xrealloc(tags, cap * sizeof(*tags));
		}
		for (uint32_t j = 0; j < e->service.tags.n; j++)
			tags[n_tags++] = e->service.tags.v[j];
	}
	/* A name all of whose instances were filtered out is not listed; the
	 * name is the one CATALOG_SERVICES gave (the first instance's case). */
	if (any)
		json_object_object_add(s->out, s->names.u.services_reply.services.v[s->next].name,
		                       api_catalog_tag_union(tags, n_tags));
	free(tags);
	s->next++;
	api_catalog_scan_step(r);
}

static void api_catalog_scan_step(struct http_req *r)
{
	struct api_catalog_scan *s = r->arg;
	const struct msg_services_reply *names = &s->names.u.services_reply;
	struct msg m = {0};

	if (s->next >= names->services.n) {
		struct json_object *out = s->out;

		s->out = NULL;
		http_set_meta(r, &names->meta);
		http_reply_json(r, 200, out);
		return;
	}
	m.type = MSG_SERVICE_NODES;
	m.u.service_nodes.q.consistency = r->opts.consistency;
	m.u.service_nodes.q.max_stale_ms = r->opts.max_stale_ms;
	m.u.service_nodes.service = names->services.v[s->next].name;
	m.u.service_nodes.node_meta = s->node_meta;
	/* Borrowed fields only: nothing to free after the call. */
	http_call(r, "raftd", &m, HTTPD_CALL_TIMEOUT_MS, api_catalog_scan_done);
}

static void api_catalog_services_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_services_reply *sr;
	struct json_object *o;

	if (http_reply_bus_error(r, st, reply, MSG_SERVICES_REPLY))
		return;
	sr = &reply->u.services_reply;
	if (r->filter != NULL) {
		struct api_catalog_scan *s = r->arg;

		if (msg_copy(&s->names, reply) != 0) {
			http_reply_text(r, 500, "out of memory");
			return;
		}
		s->out = json_object_new_object();
		api_catalog_scan_step(r);
		return;
	}
	/* {} never null; names in raftd's order (case-insensitive by name),
	 * tags sorted and de-duplicated by raftd. */
	o = json_object_new_object();
	for (uint32_t i = 0; i < sr->services.n; i++) {
		const struct msg_svc_tags *t = &sr->services.v[i];
		struct json_object *a = json_object_new_array_ext((int)t->tags.n);

		for (uint32_t j = 0; j < t->tags.n; j++)
			json_object_array_add(a, json_object_new_string(t->tags.v[j]));
		json_object_object_add(o, t->name, a);
	}
	http_set_meta(r, &sr->meta);
	http_reply_json(r, 200, o);
}

void api_catalog_services(struct http_req *r)
{
	struct msg m = {0};

	m.type = MSG_CATALOG_SERVICES;
	m.u.catalog_services.q = r->opts;
	http_node_meta(r, &m.u.catalog_services.node_meta);
	if (r->filter != NULL) {
		struct api_catalog_scan *s = xcalloc(1, sizeof(*s));

		/* The per-name calls need the node-meta pairs again. */
		http_node_meta(r, &s->node_meta);
		r->arg = s;
		r->arg_free = api_catalog_scan_free;
	}
	http_call(r, "raftd", &m, 0, api_catalog_services_done);
	msg_free(&m);
}

/* --- GET /v1/catalog/service/{name} (§4.6) -------------------------------- */

static void api_catalog_service_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_service_nodes_reply *sr;
	struct json_object *a;

	if (http_reply_bus_error(r, st, reply, MSG_SERVICE_NODES_REPLY))
		return;
	sr = &reply->u.service_nodes_reply;
	a = json_object_new_array();
	for (uint32_t i = 0; i < sr->entries.n; i++) {
		struct json_object *e =
		    hjson_catalog_service(&sr->entries.v[i].node, &sr->entries.v[i].service);

		http_filter_append(r, a, e);
	}
	http_set_meta(r, &sr->meta);
	http_reply_json(r, 200, a);
}

/* Every ?tag value (repeatable; raftd matches all, case-insensitively). */
static void api_catalog_tags(struct http_req *r, struct msg_strlist *out)
{
	size_t n = 0;

	while (hquery_get_nth(&r->query, "tag", n) != NULL)
		n++;
	out->n = 0;
	out->v = n > 0 ? xcalloc(n, sizeof(char *)) : NULL;
	for (size_t i = 0; i < n; i++)
		out->v[out->n++] = xstrdup(hquery_get_nth(&r->query, "tag", i));
}

void api_catalog_service(struct http_req *r)
{
	struct msg m = {0};
	struct msg_service_nodes *q = &m.u.service_nodes;

	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing service name");
		return;
	}
	m.type = MSG_SERVICE_NODES;
	q->q = r->opts;
	q->service = xstrdup(r->id);
	api_catalog_tags(r, &q->tags);
	http_node_meta(r, &q->node_meta);
	http_call(r, "raftd", &m, 0, api_catalog_service_done);
	msg_free(&m);
}

/* --- GET /v1/catalog/node/{node} (§4.7), node-services/{node} (§4.8) ------ */

static void api_catalog_node_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_catalog_node_reply *nr;
	struct json_object *o, *svcs;

	if (http_reply_bus_error(r, st, reply, MSG_CATALOG_NODE_REPLY))
		return;
	nr = &reply->u.catalog_node_reply;
	http_set_meta(r, &nr->meta);
	if (!nr->found) {
		/* An unknown node is 200 null, not 404 (§4.7). */
		http_reply_json(r, 200, NULL);
		return;
	}
	/* ?filter applies to the values of Services (§1.8). */
	svcs = json_object_new_object();
	for (uint32_t i = 0; i < nr->services.n; i++) {
		struct json_object *e = hjson_node_service(&nr->services.v[i]);

		if (http_filter_ok(r, e))
			json_object_object_add(svcs, nr->services.v[i].id, e);
		else
			json_object_put(e);
	}
	o = json_object_new_object();
	json_object_object_add(o, "Node", hjson_node(&nr->node));
	json_object_object_add(o, "Services", svcs);
	http_reply_json(r, 200, o);
}

static void api_catalog_node_services_done(struct http_req *r, enum ipc_status st,
                                           struct msg *reply)
{
	const struct msg_catalog_node_reply *nr;
	struct json_object *o, *svcs;

	if (http_reply_bus_error(r, st, reply, MSG_CATALOG_NODE_REPLY))
		return;
	nr = &reply->u.catalog_node_reply;
	http_set_meta(r, &nr->meta);
	o = json_object_new_object();
	if (!nr->found) {
		/* Consul's zero value: {"Node":null,"Services":null} (§4.8). */
		json_object_object_add(o, "Node", NULL);
		json_object_object_add(o, "Services", NULL);
		http_reply_json(r, 200, o);
		return;
	}
	svcs = json_object_new_array_ext((int)nr->services.n);
	for (uint32_t i = 0; i < nr->services.n; i++) {
		struct json_object *e = hjson_node_service(&nr->services.v[i]);

		http_filter_append(r, svcs, e);
	}
	json_object_object_add(o, "Node", hjson_node(&nr->node));
	json_object_object_add(o, "Services", svcs);
	http_reply_json(r, 200, o);
}

static void api_catalog_node_ask(struct http_req *r,
                                 void (*done)(struct http_req *r, enum ipc_status st,
                                              struct msg *reply))
{
	struct msg m = {0};

	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing node name");
		return;
	}
	m.type = MSG_CATALOG_NODE;
	m.u.catalog_node.q = r->opts;
	m.u.catalog_node.node = xstrdup(r->id);
	http_call(r, "raftd", &m, 0, done);
	msg_free(&m);
}

void api_catalog_node(struct http_req *r)
{
	api_catalog_node_ask(r, api_catalog_node_done);
}

void api_catalog_node_services(struct http_req *r)
{
	api_catalog_node_ask(r, api_catalog_node_services_done);
}

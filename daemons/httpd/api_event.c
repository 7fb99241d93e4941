/* api_event.c: user events: fire and list, answered by gossipd (spec/http-api.md §8.2, §2.12;
 * Consul's agent/event_endpoint.go). */
#include "httpd.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "hjson.h"

/* --- PUT /v1/event/fire/{name} -------------------------------------------- */

/* gossipd answers EVENT_REPLY with the one event it fired (its new ID and
 * version, LTime 0), which is the answer as is. It refuses bad filters
 * with a RESULT 400; Consul's EventFire writes every failure of
 * agent.UserEvent (filters included) as a 500 with the error's text, so
 * httpd does too. */
static void api_event_fire_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_event_reply *er;

	if (st == IPC_OK && reply->type == MSG_RESULT && reply->u.result.status == 400) {
		http_reply_text(r, 500, reply->u.result.error);
		return;
	}
	if (http_reply_bus_error(r, st, reply, MSG_EVENT_REPLY))
		return;
	er = &reply->u.event_reply;
	if (er->events.n < 1) {
		http_reply_text(r, 500, "gossipd answered the fire without the event");
		return;
	}
	http_reply_json(r, 200, hjson_user_event(&er->events.v[0]));
}

/* The name is the rest of the path (decoded, may hold '/'); ?node,
 * ?service and ?tag are the filters (first value, "" is none); the body,
 * raw, is the payload, none when empty. */
void api_event_fire(struct http_req *r)
{
	struct msg m;
	struct msg_consul_event *e = &m.u.event_fire.event;
	const char *v;

	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing name");
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = MSG_EVENT_FIRE;
	e->name = (char *)r->id;
	v = hquery_get(&r->query, "node");
	e->node_filter = (char *)(v != NULL ? v : "");
	v = hquery_get(&r->query, "service");
	e->service_filter = (char *)(v != NULL ? v : "");
	v = hquery_get(&r->query, "tag");
	e->tag_filter = (char *)(v != NULL ? v : "");
	e->payload.p = r->body.p;
	e->payload.len = r->body.len;
	http_call(r, "gossipd", &m, 0, api_event_fire_done);
}

/* --- GET /v1/event/list --------------------------------------------------- */

/* X-Consul-Index is the event index gossipd computed (1 with no events,
 * else the newest listed event's ID halves XORed); Consul's EventList
 * sets that header alone (setIndex), no leader or contact headers. */
static void api_event_list_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_event_reply *er;
	struct json_object *a;
	char v[32];

	if (http_reply_bus_error(r, st, reply, MSG_EVENT_REPLY))
		return;
	er = &reply->u.event_reply;
	snprintf(v, sizeof(v), "%llu", (unsigned long long)(er->index ? er->index : 1));
	http_header(r, "X-Consul-Index", v);
	a = json_object_new_array_ext((int)er->events.n);
	for (uint32_t i = 0; i < er->events.n; i++)
		json_object_array_add(a, hjson_user_event(&er->events.v[i]));
	http_reply_json(r, 200, a);
}

/* ?name is an exact match ("" all). ?index and ?wait were parsed by the
 * core (a query route): gossipd blocks while the index equals ?index, up
 * to ?wait (5 min by default, 10 at most, as raftd), and r->call_timeout_ms
 * already covers that wait plus a margin. ?node, ?service and ?tag are
 * not filters here: Consul's EventList reads ?name only. */
void api_event_list(struct http_req *r)
{
	const char *name = hquery_get(&r->query, "name");
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_EVENT_LIST;
	m.u.event_list.name = (char *)(name != NULL ? name : "");
	m.u.event_list.min_index = r->opts.min_index;
	m.u.event_list.wait_ms = r->opts.wait_ms;
	if (m.u.event_list.wait_ms > HTTPD_WAIT_MAX_MS)
		m.u.event_list.wait_ms = HTTPD_WAIT_MAX_MS;
	http_call(r, "gossipd", &m, 0, api_event_list_done);
}

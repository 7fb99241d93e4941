/* api_status.c: the status and operator endpoints: leader, peers, Raft configuration, peer removal,
 * autopilot health (spec/http-api.md §8.1, §8.5). */
#include "httpd.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gofmt.h"
#include "hjson.h"

/* All of these read raftd's Raft configuration (RAFT_CONFIG_REPLY): the
 * leader's address and every server with its autopilot health. raftd
 * knows only its own address and node until servers learn each other's
 * (Cluster issue): the others have an empty address and "(unknown)". */

static void api_status_ask(struct http_req *r, uint64_t consistency,
                           void (*done)(struct http_req *r, enum ipc_status st, struct msg *reply))
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_RAFT_CONFIG;
	m.u.raft_config.q.consistency = consistency;
	http_call(r, "raftd", &m, 0, done);
}

/* --- /v1/status/leader, /v1/status/peers (§8.1) --------------------------- */

static void api_status_leader_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	if (http_reply_bus_error(r, st, reply, MSG_RAFT_CONFIG_REPLY))
		return;
	/* A JSON string, "" without a leader; no index headers. */
	http_reply_json(r, 200, json_object_new_string(reply->u.raft_config_reply.leader_addr));
}

/* Consul's Status.Leader answers from the server's own view, leader or
 * not: a stale read, so that "" comes back rather than an error. */
void api_status_leader(struct http_req *r)
{
	api_status_ask(r, 1, api_status_leader_done);
}

static void api_status_peers_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_raft_server_list *sv;
	struct json_object *a;

	if (http_reply_bus_error(r, st, reply, MSG_RAFT_CONFIG_REPLY))
		return;
	sv = &reply->u.raft_config_reply.servers;
	a = json_object_new_array();
	for (uint32_t i = 0; i < sv->n; i++) {
		/* Voters only; a server whose address raftd does not know yet
		 * is left out rather than listed as "". */
		if (sv->v[i].voter && sv->v[i].address[0] != '\0')
			json_object_array_add(a, json_object_new_string(sv->v[i].address));
	}
	http_reply_json(r, 200, a);
}

void api_status_peers(struct http_req *r)
{
	api_status_ask(r, 1, api_status_peers_done);
}

/* --- GET /v1/operator/raft/configuration (§8.5) ---------------------------- */

static void api_operator_raft_configuration_done(struct http_req *r, enum ipc_status st,
                                                 struct msg *reply)
{
	const struct msg_raft_config_reply *rc;
	struct json_object *o, *servers;

	if (http_reply_bus_error(r, st, reply, MSG_RAFT_CONFIG_REPLY))
		return;
	rc = &reply->u.raft_config_reply;
	servers = json_object_new_array();
	for (uint32_t i = 0; i < rc->servers.n; i++) {
		const struct msg_raft_server *s = &rc->servers.v[i];
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "ID", json_object_new_string(s->id));
		json_object_object_add(e, "Node", json_object_new_string(s->node));
		json_object_object_add(e, "Address", json_object_new_string(s->address));
		json_object_object_add(e, "Leader", json_object_new_boolean(s->leader));
		/* A string: the Go client decodes it so (§8.5). */
		json_object_object_add(e, "ProtocolVersion", json_object_new_string("3"));
		json_object_object_add(e, "Voter", json_object_new_boolean(s->voter));
		json_object_object_add(e, "LastIndex", json_object_new_uint64(s->last_index));
		json_object_array_add(servers, e);
	}
	o = json_object_new_object();
	json_object_object_add(o, "Servers", servers);
	json_object_object_add(o, "Index", json_object_new_uint64(rc->meta.index));
	http_reply_json(r, 200, o);
}

/* ?stale answers without a leader; otherwise raftd answers 500 "No
 * cluster leader" itself. Consul sends no index headers here. */
void api_operator_raft_configuration(struct http_req *r)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_RAFT_CONFIG;
	m.u.raft_config.q = r->opts;
	http_call(r, "raftd", &m, 0, api_operator_raft_configuration_done);
}

/* --- DELETE /v1/operator/raft/peer?id=|address= (§8.5) -------------------- */

static void api_operator_raft_peer_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	if (http_reply_bus_error(r, st, reply, MSG_WRITE_REPLY))
		return;
	http_reply_empty(r, 200);
}

/* Consul's OperatorRaftPeer: the parameters are tested for presence, and
 * it is a 400 to give neither or both (the spec's 500 is the server's
 * "not found", which raftd answers with Consul's text). */
void api_operator_raft_peer(struct http_req *r)
{
	bool has_id = hquery_has(&r->query, "id"), has_addr = hquery_has(&r->query, "address");
	struct msg m;

	if (!has_id && !has_addr) {
		http_reply_text(r, 400,
		                "Must specify either ?id with the server's ID or ?address with "
		                "IP:port of peer to remove");
		return;
	}
	if (has_id && has_addr) {
		http_reply_text(r, 400, "Must specify only one of ?id or ?address");
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = MSG_RAFT_REMOVE_PEER;
	m.u.raft_remove_peer.id = (char *)(has_id ? hquery_get(&r->query, "id") : "");
	m.u.raft_remove_peer.address = (char *)(has_addr ? hquery_get(&r->query, "address") : "");
	http_call(r, "raftd", &m, 0, api_operator_raft_peer_done);
}

/* --- GET /v1/operator/autopilot/health (§8.5) ------------------------------ */

/* Go's time.Time in JSON (RFC 3339), rounded to the second as Consul
 * does; 0 is Go's zero time. */
static void api_status_rfc3339(uint64_t unix_ms, char out[32])
{
	time_t t = (time_t)((unix_ms + 500) / 1000);
	struct tm tm;

	if (unix_ms == 0) {
		snprintf(out, 32, "0001-01-01T00:00:00Z");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void api_operator_autopilot_health_done(struct http_req *r, enum ipc_status st,
                                               struct msg *reply)
{
	const struct msg_raft_config_reply *rc;
	struct json_object *o, *servers;
	uint64_t voters = 0, healthy_voters = 0, quorum;
	bool healthy = true;

	if (http_reply_bus_error(r, st, reply, MSG_RAFT_CONFIG_REPLY))
		return;
	rc = &reply->u.raft_config_reply;
	servers = json_object_new_array();
	for (uint32_t i = 0; i < rc->servers.n; i++) {
		const struct msg_raft_server *s = &rc->servers.v[i];
		const char *node_id = r->h->d->conf.node_id;
		bool self = node_id != NULL && strcasecmp(s->id, node_id) == 0;
		struct json_object *e = json_object_new_object();
		char dur[40], since[32];

		voters += s->voter;
		healthy_voters += s->voter && s->healthy;
		healthy = healthy && s->healthy;
		gofmt_dur_format_ns((int64_t)(s->last_contact_ms * 1000000), dur);
		api_status_rfc3339(s->stable_since_unix_ms, since);
		json_object_object_add(e, "ID", json_object_new_string(s->id));
		json_object_object_add(e, "Name", json_object_new_string(s->node));
		json_object_object_add(e, "Address", json_object_new_string(s->address));
		/* Gossip (issue 8) will know the others' Serf status and
		 * version; this server is alive, since it answers. */
		json_object_object_add(e, "SerfStatus",
		                       json_object_new_string(self ? "alive" : "none"));
		json_object_object_add(e, "Version",
		                       json_object_new_string(self ? MUSTER_VERSION : ""));
		json_object_object_add(e, "Leader", json_object_new_boolean(s->leader));
		json_object_object_add(e, "LastContact", json_object_new_string(dur));
		json_object_object_add(e, "LastTerm", json_object_new_uint64(s->last_term));
		json_object_object_add(e, "LastIndex", json_object_new_uint64(s->last_index));
		json_object_object_add(e, "Healthy", json_object_new_boolean(s->healthy));
		json_object_object_add(e, "Voter", json_object_new_boolean(s->voter));
		json_object_object_add(e, "StableSince", json_object_new_string(since));
		json_object_array_add(servers, e);
	}
	/* Consul's autopilot: healthy voters beyond a quorum of voters. */
	quorum = voters / 2 + 1;
	o = json_object_new_object();
	json_object_object_add(o, "Healthy", json_object_new_boolean(healthy && voters > 0));
	json_object_object_add(
	    o, "FailureTolerance",
	    json_object_new_uint64(healthy_voters > quorum ? healthy_voters - quorum : 0));
	json_object_object_add(o, "Servers", servers);
	/* 429 is the status signal for "unhealthy", same body (§8.5). */
	http_reply_json(r, healthy && voters > 0 ? 200 : 429, o);
}

/* Autopilot runs on the leader: without one, raftd answers 500 "No
 * cluster leader". */
void api_operator_autopilot_health(struct http_req *r)
{
	api_status_ask(r, 0, api_operator_autopilot_health_done);
}

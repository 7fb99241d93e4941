/* api_status.c: the status and operator endpoints: leader, peers, Raft configuration, peer removal,
 * autopilot health (spec/http-api.md §8.1, §8.5). */
#include "httpd.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
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

/* --- POST /v1/operator/raft/transfer-leader?id= (Consul 1.15+) ------------- */

static void api_operator_raft_transfer_done(struct http_req *r, enum ipc_status st,
                                            struct msg *reply)
{
	struct json_object *o;

	/* raftd answers RESULT 200 once another server leads */
	if (!(st == IPC_OK && reply->type == MSG_RESULT && reply->u.result.status == 200)) {
		http_reply_bus_error(r, st, reply, MSG_RESULT);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "Success", json_object_new_boolean(true));
	http_reply_json(r, 200, o);
}

void api_operator_raft_transfer_leader(struct http_req *r)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_RAFT_TRANSFER_LEADER;
	m.u.raft_transfer_leader.id = (char *)(hquery_has(&r->query, "id")
	                                           ? hquery_get(&r->query, "id")
	                                           : "");
	http_call(r, "raftd", &m, MSG_LEAVE_RAFT_MS + 2000, api_operator_raft_transfer_done);
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
		/* raftd says what gossip knows of each server */
		json_object_object_add(
		    e, "SerfStatus",
		    json_object_new_string(s->serf_status && s->serf_status[0] ? s->serf_status
		                           : self                            ? "alive"
		                                                             : "none"));
		json_object_object_add(
		    e, "Version",
		    json_object_new_string(s->version && s->version[0] ? s->version
		                           : self                      ? MUSTER_VERSION
		                                                       : ""));
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

/* --- /v1/operator/keyring (Consul's OperatorKeyringEndpoint) -------------
 * GET lists, POST installs, PUT makes primary, DELETE removes; the key is
 * {"Key": "<base64>"} in the body. gossipd runs serf's _serf_*-key
 * queries on every pool (the WAN one first) and answers one result per
 * pool; a pool with an error makes the whole answer Consul's 500. */

#define API_KEYRING_TIMEOUT_MS 30000 /* a serf query per pool, each a few s */
#define API_RELAY_FACTOR_MAX   5     /* Consul's ParseRelayFactor */

/* Go's strconv.Atoi: an optional sign and decimal digits, the int64
 * range; 0, or -1 with *why "invalid syntax" or "value out of range". */
static int api_atoi(const char *s, int64_t *out, const char **why)
{
	const uint64_t lim = UINT64_C(1) << 63; /* |INT64_MIN| */
	bool neg = false, big = false;
	uint64_t v = 0;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (*s == '\0') {
		*why = "invalid syntax";
		return -1;
	}
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9') {
			*why = "invalid syntax"; /* Go reports syntax before range */
			return -1;
		}
		if (big || v > (lim - (uint64_t)(*s - '0')) / 10)
			big = true;
		else
			v = v * 10 + (uint64_t)(*s - '0');
	}
	if (big || v > (neg ? lim : lim - 1)) {
		*why = "value out of range";
		return -1;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static void api_operator_keyring_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_keyring_pool_list *pools;
	struct json_object *a;
	char *errs;

	if (http_reply_bus_error(r, st, reply, MSG_KEYRING_REPLY))
		return;
	pools = &reply->u.keyring_reply.pools;
	errs = hjson_keyring_errors(pools);
	if (errs != NULL) {
		/* keyringErrorsOrNil: the list, if any, is dropped with it. */
		http_reply_text(r, 500, errs);
		free(errs);
		return;
	}
	if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
		http_reply_empty(r, 200);
		return;
	}
	a = json_object_new_array_ext((int)pools->n);
	for (uint32_t i = 0; i < pools->n; i++)
		json_object_array_add(a, hjson_keyring_pool(&pools->v[i]));
	http_reply_json(r, 200, a);
}

/* The checks run in Consul's order: the body (writes only), then
 * ?relay-factor, then ?local-only (lists only). The body's RelayFactor is
 * keyringArgs' own field, which ?relay-factor overrides. */
void api_operator_keyring(struct http_req *r)
{
	const char *rf = hquery_get(&r->query, "relay-factor");
	const char *lo = hquery_get(&r->query, "local-only");
	bool list = r->method == HTTP_GET || r->method == HTTP_HEAD;
	struct json_object *body = NULL;
	struct msg m;
	bool failed;

	memset(&m, 0, sizeof(m));
	m.type = MSG_KEYRING;
	m.u.keyring.op = (char *)(list                     ? "list"
	                          : r->method == HTTP_POST ? "install"
	                          : r->method == HTTP_PUT  ? "use"
	                                                   : "remove");
	if (!list) {
		struct hjson_dec d = {0};
		struct json_object *v;

		body = http_body_json(r, &failed);
		if (failed)
			return;
		if (body == NULL) {
			http_reply_text(r, 400, "Request decode failed: EOF");
			return;
		}
		if (!json_object_is_type(body, json_type_object))
			hjson_fail(&d, "json: cannot unmarshal %s into Go value of type agent.keyringArgs",
			           hjson_kind(body));
		m.u.keyring.key = (char *)hjson_get_str(&d, body, "Key");
		v = hjson_get(body, "RelayFactor");
		m.u.keyring.relay_factor = hjson_get_u64(&d, body, "RelayFactor", 0);
		if (!d.failed && m.u.keyring.relay_factor > UINT8_MAX)
			hjson_fail(&d,
			           "json: cannot unmarshal number %s into Go struct field "
			           "keyringArgs.RelayFactor of type uint8",
			           json_object_get_string(v));
		if (d.failed) {
			http_reply_errorf(r, 400, "Request decode failed: %s", d.err);
			json_object_put(body);
			return;
		}
	}
	if (rf != NULL && *rf != '\0') {
		int64_t n;
		const char *why;
		char q[128];

		if (api_atoi(rf, &n, &why) != 0) {
			gofmt_quote_buf(rf, strlen(rf), q, sizeof(q));
			http_reply_errorf(r, 400,
			                  "Error parsing relay factor: strconv.Atoi: parsing %s: %s", q,
			                  why);
			json_object_put(body);
			return;
		}
		if (n < 0 || n > API_RELAY_FACTOR_MAX) {
			http_reply_text(r, 400,
			                "Invalid relay-factor: Relay factor must be in range: [0, 5]");
			json_object_put(body);
			return;
		}
		m.u.keyring.relay_factor = (uint64_t)n;
	}
	if (lo != NULL && *lo != '\0') {
		bool b;
		char q[128];

		if (hquery_parse_bool(lo, &b) != 0) {
			gofmt_quote_buf(lo, strlen(lo), q, sizeof(q));
			http_reply_errorf(r, 400,
			                  "Error parsing local-only: strconv.ParseBool: parsing %s: "
			                  "invalid syntax",
			                  q);
			json_object_put(body);
			return;
		}
		if (b && !list) {
			http_reply_text(r, 400, "Invalid use of local-only: local-only can only be set "
			                        "for list requests");
			json_object_put(body);
			return;
		}
		m.u.keyring.local_only = b;
	}
	if (m.u.keyring.key == NULL)
		m.u.keyring.key = "";
	http_call(r, "gossipd", &m, API_KEYRING_TIMEOUT_MS, api_operator_keyring_done);
	json_object_put(body); /* the key was borrowed from it until the call was sent */
}

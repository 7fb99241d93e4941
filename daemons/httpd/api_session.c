/* api_session.c: /v1/session: create, destroy, renew, info, node, list (spec §7). */
#include "httpd.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "gofmt.h"
#include "hjson.h"
#include "xalloc.h"

#define API_SESSION_SERF_CHECK     "serfHealth"         /* the default node check (§0.15) */
#define API_SESSION_LOCK_DELAY_NS  (15ull * 1000000000) /* §7.1 default */
#define API_SESSION_LOCK_DELAY_MIN 1000                 /* below: seconds (§7.1) */
#define API_SESSION_NS_PER_S       1000000000ll

/* api_txn.c: encoding/json's name of a value's type. */

/*
 * raftd validates Behavior and TTL and the node and its checks
 * (server.c raftd_session_precheck, fsm_session.c) with Consul's texts;
 * httpd decodes the body with Consul's defaults, applies LockDelay's
 * seconds rule and merges Checks into the effective node checks
 * (fixupEmptySessionChecks, §7.1), which is what raftd stores.
 */

/* A Session's LockDelay: a Go duration string or a number of ns; any other
 * type leaves 0, as Consul's UnmarshalJSON does. A value under 1000 (from
 * either form) is seconds, so 15 and "15ns" are 15 s (§7.1, §10.8). */
static uint64_t api_session_lock_delay(struct hjson_dec *d, struct json_object *o)
{
	struct json_object *v = hjson_get(o, "LockDelay");
	int64_t ns = 0;
	const char *why = NULL;

	if (v == NULL)
		return API_SESSION_LOCK_DELAY_NS;
	switch (json_object_get_type(v)) {
	case json_type_string:
		if (gofmt_dur_parse_ns(json_object_get_string(v), &ns, &why) != 0) {
			hjson_fail(d, "%s", why != NULL ? why : "invalid duration");
			return 0;
		}
		break;
	case json_type_int:
		ns = json_object_get_int64(v);
		break;
	case json_type_double:
		/* time.Duration(float64) truncates. */
		ns = (int64_t)json_object_get_double(v);
		break;
	default:
		break;
	}
	if (ns < API_SESSION_LOCK_DELAY_MIN)
		ns *= API_SESSION_NS_PER_S;
	/* A negative delay never applies (Consul only delays when > 0). */
	return ns > 0 ? (uint64_t)ns : 0;
}

/* ServiceChecks: [{"ID","Namespace"}], and bare IDs as a courtesy. true
 * when present; the IDs go to out. */
static bool api_session_service_checks(struct hjson_dec *d, struct json_object *o,
                                       struct msg_strlist *out)
{
	struct json_object *v = hjson_get(o, "ServiceChecks");
	size_t n;

	if (v == NULL || d->failed)
		return v != NULL;
	if (!json_object_is_type(v, json_type_array)) {
		hjson_fail(d,
		           "json: cannot unmarshal %s into Go struct field "
		           "Session.ServiceChecks of type []structs.ServiceCheck",
		           hjson_kind(v));
		return true;
	}
	n = json_object_array_length(v);
	out->v = n > 0 ? xcalloc(n, sizeof(char *)) : NULL;
	for (size_t i = 0; i < n && !d->failed; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		const char *id;

		if (e == NULL)
			continue;
		if (json_object_is_type(e, json_type_string)) {
			id = json_object_get_string(e);
		} else if (json_object_is_type(e, json_type_object)) {
			id = hjson_get_str(d, e, "ID");
		} else {
			hjson_fail(d,
			           "json: cannot unmarshal %s into Go struct field "
			           "Session.ServiceChecks of type structs.ServiceCheck",
			           hjson_kind(e));
			break;
		}
		out->v[out->n++] = xstrdup(id);
	}
	return true;
}

static bool api_session_has(const struct msg_strlist *l, const char *id)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], id) == 0)
			return true;
	return false;
}

static void api_session_add(struct msg_strlist *l, const char *id)
{
	if (api_session_has(l, id))
		return;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
	l->v[l->n++] = xstrdup(id);
}

static void api_session_strlist_free(struct msg_strlist *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/*
 * Consul's fixupEmptySessionChecks, then the union of Checks and NodeChecks
 * (Session.CheckIDs' order, without repeats) into out. Both lists default to
 * [serfHealth]:
 *   Checks empty         -> no node checks at all (Patroni's "checks": []);
 *   Checks [serfHealth]  -> NodeChecks alone decide;
 *   NodeChecks empty     -> Checks are dropped too;
 *   otherwise            -> both.
 */
static void api_session_merge(bool has_checks, struct msg_strlist *checks, bool has_node_checks,
                              struct msg_strlist *node_checks, struct msg_strlist *out)
{
	if (!has_checks)
		api_session_add(checks, API_SESSION_SERF_CHECK);
	if (!has_node_checks)
		api_session_add(node_checks, API_SESSION_SERF_CHECK);
	if (checks->n == 0)
		return;
	if (checks->n == 1 && strcmp(checks->v[0], API_SESSION_SERF_CHECK) == 0) {
		api_session_strlist_free(checks);
	} else if (node_checks->n == 0) {
		return;
	}
	for (uint32_t i = 0; i < checks->n; i++)
		api_session_add(out, checks->v[i]);
	for (uint32_t i = 0; i < node_checks->n; i++)
		api_session_add(out, node_checks->v[i]);
}

/* --- create --------------------------------------------------------------- */

static void api_session_create_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	struct json_object *o;

	if (http_reply_bus_error(r, st, reply, MSG_WRITE_REPLY))
		return;
	o = json_object_new_object();
	json_object_object_add(o, "ID", json_object_new_string(reply->u.write_reply.id));
	http_reply_json(r, 200, o);
}

void api_session_create(struct http_req *r)
{
	struct hjson_dec d = {0};
	struct json_object *o = NULL;
	struct msg m = {0};
	struct msg_session *s = &m.u.session_create.session;
	struct msg_strlist checks = {0}, node_checks = {0};
	bool has_checks = false, has_node_checks = false, failed = false;
	const char *v;

	m.type = MSG_SESSION_CREATE;
	/* The body is optional: empty means every default (§7.1). */
	if (r->body.len > 0) {
		o = http_body_json(r, &failed);
		if (failed)
			return;
	}
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		http_reply_errorf(
		    r, 400,
		    "Request decode failed: json: cannot unmarshal %s into Go value of "
		    "type structs.Session",
		    hjson_kind(o));
		json_object_put(o);
		return;
	}
	v = hjson_get_str(&d, o, "Node");
	s->node = xstrdup(v != NULL ? v : r->h->d->conf.node_name);
	s->name = xstrdup(hjson_get_str(&d, o, "Name"));
	s->lock_delay_ns = o != NULL ? api_session_lock_delay(&d, o) : API_SESSION_LOCK_DELAY_NS;
	v = hjson_get_str(&d, o, "Behavior");
	s->behavior = xstrdup(v != NULL ? v : "release");
	/* As given: raftd parses it and answers Consul's TTL texts. */
	s->ttl = xstrdup(hjson_get_str(&d, o, "TTL"));
	has_checks = hjson_get_strlist(&d, o, "Checks", &checks);
	has_node_checks = hjson_get_strlist(&d, o, "NodeChecks", &node_checks);
	api_session_service_checks(&d, o, &s->service_checks);
	json_object_put(o);
	if (d.failed) {
		http_reply_errorf(r, 400, "Request decode failed: %s", d.err);
		api_session_strlist_free(&checks);
		api_session_strlist_free(&node_checks);
		msg_free(&m);
		return;
	}
	api_session_merge(has_checks, &checks, has_node_checks, &node_checks, &s->node_checks);
	api_session_strlist_free(&checks);
	api_session_strlist_free(&node_checks);
	http_call(r, "raftd", &m, 0, api_session_create_done);
	msg_free(&m);
}

/* --- destroy and renew ---------------------------------------------------- */

static void api_session_destroy_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	if (http_reply_bus_error(r, st, reply, MSG_WRITE_REPLY))
		return;
	/* Idempotent: an unknown ID is true as well (§7.2). */
	http_reply_bool(r, true);
}

void api_session_destroy(struct http_req *r)
{
	struct msg m = {0};

	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing session");
		return;
	}
	m.type = MSG_SESSION_DESTROY;
	m.u.session_destroy.id = (char *)r->id;
	http_call(r, "raftd", &m, 0, api_session_destroy_done);
}

static struct json_object *api_session_list_json(const struct msg_sessions_reply *s)
{
	struct json_object *arr = json_object_new_array_ext((int)s->sessions.n);

	for (uint32_t i = 0; i < s->sessions.n; i++)
		json_object_array_add(arr, hjson_session(&s->sessions.v[i]));
	return arr;
}

static void api_session_renew_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	/* raftd answers an unknown ID with 404 "Session id '<id>' not found"
	 * (§7.3), passed through here. */
	if (http_reply_bus_error(r, st, reply, MSG_SESSIONS_REPLY))
		return;
	if (reply->u.sessions_reply.sessions.n == 0) {
		http_reply_errorf(r, 404, "Session id '%s' not found", r->id);
		return;
	}
	/* No index headers: a renew is not a read (§7.3). */
	http_reply_json(r, 200, api_session_list_json(&reply->u.sessions_reply));
}

void api_session_renew(struct http_req *r)
{
	struct msg m = {0};

	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing session");
		return;
	}
	m.type = MSG_SESSION_RENEW;
	m.u.session_renew.id = (char *)r->id;
	http_call(r, "raftd", &m, 0, api_session_renew_done);
}

/* --- reads: info, node, list ---------------------------------------------- */

static void api_session_read_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	if (http_reply_bus_error(r, st, reply, MSG_SESSIONS_REPLY))
		return;
	http_set_meta(r, &reply->u.sessions_reply.meta);
	/* [] when nothing matches, an unknown ID included (§7.4, §7.5). */
	http_reply_json(r, 200, api_session_list_json(&reply->u.sessions_reply));
}

/* A SESSION_QUERY by id, by node, or of every session (both ""). */
static void api_session_query(struct http_req *r, const char *id, const char *node)
{
	struct msg m = {0};

	m.type = MSG_SESSION_QUERY;
	m.u.session_query.q = r->opts;
	m.u.session_query.id = (char *)id;
	m.u.session_query.node = (char *)node;
	http_call(r, "raftd", &m, 0, api_session_read_done);
}

void api_session_info(struct http_req *r)
{
	/* Without this check raftd would list every session. */
	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing session");
		return;
	}
	api_session_query(r, r->id, "");
}

void api_session_node(struct http_req *r)
{
	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing node name");
		return;
	}
	api_session_query(r, "", r->id);
}

void api_session_list(struct http_req *r)
{
	api_session_query(r, "", "");
}

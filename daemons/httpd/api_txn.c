/* api_txn.c: PUT /v1/txn: KV, Node, Service and Check operations, atomically (spec §8.3). */
#include "httpd.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gofmt.h"
#include "hjson.h"
#include "xalloc.h"

/* Consul's maxTxnOps (§8.3; older releases had 64). */
#define API_TXN_OPS_MAX 128

/* api_kv.c: Go's %q. */

/*
 * What httpd does and raftd does not (fsm_txn.c): decoding Consul's API
 * shape into msg txn_op records (base64 values, the Service op's node
 * name, Index -> modify_index), the count limit and the per-value limit
 * against this agent's limits.kv_max_value_size, the Node op's default
 * datacenter, and the choice of read or write for the headers. raftd runs
 * every verb, refuses unknown verbs and empty keys with Consul's texts
 * (409), and decides which results carry values.
 */

/*
 * Where Go's base64.StdEncoding would refuse s, as its CorruptInputError
 * offset (the error text is part of the 400, "illegal base64 data at
 * input byte N"): -1 when s is valid. CR and LF are skipped as Go does.
 */
static long api_txn_b64_bad_at(const char *s, size_t len)
{
	size_t si = 0;

	for (;;) {
		int j;

		for (j = 0; j < 4; j++) {
			char c;

			if (si == len) {
				if (j == 0)
					return -1;
				return (long)(si - (size_t)j);
			}
			c = s[si++];
			if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '+' || c == '/')
				continue;
			if (c == '\n' || c == '\r') {
				j--;
				continue;
			}
			if (c != '=' || j < 2)
				return (long)(si - 1);
			/* Padding: "==" after two symbols, "=" after three. */
			if (j == 2) {
				while (si < len && (s[si] == '\n' || s[si] == '\r'))
					si++;
				if (si == len)
					return (long)len;
				if (s[si] != '=')
					return (long)(si - 1);
				si++;
			}
			while (si < len && (s[si] == '\n' || s[si] == '\r'))
				si++;
			return si < len ? (long)si : -1;
		}
	}
}

/* A KV op's Value: base64 or null. */
static void api_txn_value(struct hjson_dec *d, struct json_object *kv, struct msg_bytes *out)
{
	struct json_object *v = hjson_get(kv, "Value");
	const char *s;
	size_t len;
	long bad;

	if (v == NULL || d->failed)
		return;
	if (!json_object_is_type(v, json_type_string)) {
		hjson_fail(
		    d,
		    "json: cannot unmarshal %s into Go struct field KVTxnOp.KV.Value of type "
		    "[]uint8",
		    hjson_kind(v));
		return;
	}
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	bad = api_txn_b64_bad_at(s, len);
	if (bad < 0 && hjson_b64_decode(s, &out->p, &out->len) != 0)
		bad = 0;
	if (bad >= 0)
		hjson_fail(d, "illegal base64 data at input byte %ld", bad);
}

static void api_txn_dec_kv(struct hjson_dec *d, struct json_object *o, struct msg_txn_op *op)
{
	struct msg_kv_entry *e = &op->kv;

	op->verb = xstrdup(hjson_get_str(d, o, "Verb"));
	e->key = xstrdup(hjson_get_str(d, o, "Key"));
	api_txn_value(d, o, &e->value);
	e->flags = hjson_get_u64(d, o, "Flags", 0);
	e->modify_index = hjson_get_u64(d, o, "Index", 0);
	e->session = xstrdup(hjson_get_str(d, o, "Session"));
}

/* {"Verb", "Node": {Node, incl. ModifyIndex for cas}}: the datacenter
 * defaults to this agent's. */
static void api_txn_dec_node(struct http_req *r, struct hjson_dec *d, struct json_object *o,
                             struct msg_txn_op *op)
{
	struct json_object *n = hjson_get(o, "Node");

	op->verb = xstrdup(hjson_get_str(d, o, "Verb"));
	if (n != NULL) {
		hjson_dec_node(d, n, "Meta", &op->node);
		op->node.modify_index = hjson_get_u64(d, n, "ModifyIndex", 0);
	}
	if (op->node.datacenter == NULL || op->node.datacenter[0] == '\0') {
		free(op->node.datacenter);
		op->node.datacenter = xstrdup(http_datacenter(r));
	}
}

/* {"Verb", "Node": "<node name>", "Service": {...}}: the node name goes
 * in service.node, as msg.def says. */
static void api_txn_dec_service(struct hjson_dec *d, struct json_object *o, struct msg_txn_op *op)
{
	struct json_object *s = hjson_get(o, "Service");
	const char *node;

	op->verb = xstrdup(hjson_get_str(d, o, "Verb"));
	node = hjson_get_str(d, o, "Node");
	if (s != NULL) {
		hjson_dec_service(d, s, &op->service);
		op->service.modify_index = hjson_get_u64(d, s, "ModifyIndex", 0);
	}
	free(op->service.node);
	op->service.node = xstrdup(node);
}

static void api_txn_dec_check(struct hjson_dec *d, struct json_object *o, struct msg_txn_op *op)
{
	struct json_object *c = hjson_get(o, "Check");

	op->verb = xstrdup(hjson_get_str(d, o, "Verb"));
	if (c != NULL) {
		hjson_dec_check(d, c, &op->check);
		op->check.modify_index = hjson_get_u64(d, c, "ModifyIndex", 0);
	}
}

/*
 * One element of the body into out; false when it names no operation:
 * Consul's convertOps passes over such an element (and a null one)
 * without a word, so it is left out and OpIndex counts what is kept. The
 * first kind present wins, in Consul's order.
 */
static bool api_txn_dec_op(struct http_req *r, struct hjson_dec *d, struct json_object *o,
                           struct msg_txn_op *out)
{
	static const char *const kinds[] = {"KV", "Node", "Service", "Check"};
	struct json_object *x = NULL;
	size_t k;

	if (o == NULL)
		return false;
	if (!json_object_is_type(o, json_type_object)) {
		hjson_fail(d, "json: cannot unmarshal %s into Go value of type api.TxnOp",
		           hjson_kind(o));
		return false;
	}
	for (k = 0; k < 4 && x == NULL; k++)
		x = hjson_get(o, kinds[k]);
	if (x == NULL)
		return false;
	k--;
	if (!json_object_is_type(x, json_type_object)) {
		hjson_fail(d, "json: cannot unmarshal %s into Go struct field TxnOp.%s",
		           hjson_kind(x), kinds[k]);
		return false;
	}
	out->kind = xstrdup(kinds[k]);
	switch (k) {
	case 0:
		api_txn_dec_kv(d, x, out);
		break;
	case 1:
		api_txn_dec_node(r, d, x, out);
		break;
	case 2:
		api_txn_dec_service(d, x, out);
		break;
	default:
		api_txn_dec_check(d, x, out);
		break;
	}
	return true;
}

/* As raftd decides (fsm_txn.c): the KV reads and every kind's "get";
 * a transaction of reads only is served as a read. */
static bool api_txn_op_is_read(const struct msg_txn_op *op)
{
	static const char *const kv_reads[] = {"get",         "get-or-empty",  "get-tree",
	                                       "check-index", "check-session", "check-not-exists"};

	if (strcmp(op->kind, "KV") != 0)
		return strcmp(op->verb, "get") == 0;
	for (size_t i = 0; i < sizeof(kv_reads) / sizeof(kv_reads[0]); i++)
		if (strcmp(op->verb, kv_reads[i]) == 0)
			return true;
	return false;
}

static struct json_object *api_txn_result(const struct msg_txn_result *res)
{
	struct json_object *o = json_object_new_object();

	if (strcmp(res->kind, "KV") == 0)
		json_object_object_add(o, "KV", hjson_kv_entry(&res->kv));
	else if (strcmp(res->kind, "Node") == 0)
		json_object_object_add(o, "Node", hjson_node(&res->node));
	else if (strcmp(res->kind, "Service") == 0)
		json_object_object_add(o, "Service", hjson_node_service(&res->service));
	else if (strcmp(res->kind, "Check") == 0)
		json_object_object_add(o, "Check", hjson_check(&res->check));
	return o;
}

static void api_txn_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const bool *read_only = r->arg;
	const struct msg_txn_reply *t;
	struct json_object *o, *l;
	char v[32];

	if (http_reply_bus_error(r, st, reply, MSG_TXN_REPLY))
		return;
	t = &reply->u.txn_reply;
	if (*read_only) {
		/* No blocking, so no X-Consul-Index (§8.3). */
		http_header(r, "X-Consul-KnownLeader", t->meta.known_leader ? "true" : "false");
		snprintf(v, sizeof(v), "%" PRIu64, t->meta.last_contact_ms);
		http_header(r, "X-Consul-LastContact", v);
	}
	o = json_object_new_object();
	if (t->errors.n > 0 || !t->ok) {
		/* Rolled back: "Results": null and the errors, 409. */
		l = json_object_new_array_ext((int)t->errors.n);
		for (uint32_t i = 0; i < t->errors.n; i++) {
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "OpIndex",
			                       json_object_new_uint64(t->errors.v[i].op_index));
			json_object_object_add(e, "What",
			                       json_object_new_string(t->errors.v[i].what));
			json_object_array_add(l, e);
		}
		json_object_object_add(o, "Results", NULL);
		json_object_object_add(o, "Errors", l);
		http_reply_json(r, 409, o);
		return;
	}
	l = json_object_new_array_ext((int)t->results.n);
	for (uint32_t i = 0; i < t->results.n; i++)
		json_object_array_add(l, api_txn_result(&t->results.v[i]));
	json_object_object_add(o, "Results", l);
	json_object_object_add(o, "Errors", NULL);
	http_reply_json(r, 200, o);
}

void api_txn(struct http_req *r)
{
	uint64_t max_value = r->h->d->conf.limits.kv_max_value_size;
	struct hjson_dec d = {0};
	struct json_object *root;
	struct msg m = {0};
	struct msg_txn *t = &m.u.txn;
	bool read_only = true;
	size_t n;

	/* The core has refused a body over limits.txn_max_req_len. Go's
	 * decoder reads nothing from an empty body: io.EOF. */
	root = hjson_parse(&d, (const char *)r->body.p, r->body.len);
	if (d.failed) {
		http_reply_errorf(r, 400, "Failed to parse body: %s", d.err);
		return;
	}
	if (root == NULL) {
		size_t i = 0;

		while (i < r->body.len && strchr(" \t\r\n", r->body.p[i]) != NULL)
			i++;
		if (i == r->body.len) {
			http_reply_text(r, 400, "Failed to parse body: EOF");
			return;
		}
		/* A literal null is no operations, as in Go. */
	} else if (!json_object_is_type(root, json_type_array)) {
		http_reply_errorf(
		    r, 400,
		    "Failed to parse body: json: cannot unmarshal %s into Go value of "
		    "type api.TxnOps",
		    hjson_kind(root));
		json_object_put(root);
		return;
	}
	/* Counted before decoding (Consul decodes first): the count bounds
	 * what is allocated below. */
	n = root != NULL ? json_object_array_length(root) : 0;
	if (n > API_TXN_OPS_MAX) {
		http_reply_errorf(r, 413, "Transaction contains too many operations (%zu > %d)", n,
		                  API_TXN_OPS_MAX);
		json_object_put(root);
		return;
	}
	m.type = MSG_TXN;
	t->ops.v = n > 0 ? xcalloc(n, sizeof(t->ops.v[0])) : NULL;
	for (size_t i = 0; i < n && !d.failed; i++) {
		struct msg_txn_op *op = &t->ops.v[t->ops.n];

		if (api_txn_dec_op(r, &d, json_object_array_get_idx(root, i), op)) {
			t->ops.n++;
		} else {
			msg_rec_free_txn_op(op);
			memset(op, 0, sizeof(*op));
		}
	}
	json_object_put(root);
	if (d.failed) {
		http_reply_errorf(r, 400, "Failed to parse body: %s", d.err);
		msg_free(&m);
		return;
	}
	/* The per-value limit, after the whole body decoded (Consul's order). */
	for (uint32_t i = 0; i < t->ops.n; i++) {
		const struct msg_txn_op *op = &t->ops.v[i];

		if (strcmp(op->kind, "KV") == 0 && op->kv.value.len > max_value) {
			char *q = gofmt_quote(op->kv.key, strlen(op->kv.key));

			http_reply_errorf(r, 413,
			                  "Value for key %s is too large (%zu > %" PRIu64 " bytes)",
			                  q, op->kv.value.len, max_value);
			free(q);
			msg_free(&m);
			return;
		}
		if (!api_txn_op_is_read(op))
			read_only = false;
	}
	if (read_only) {
		/* Served as a read with the request's consistency mode (?stale,
		 * ?consistent); a txn never blocks (§8.3). */
		t->q = r->opts;
		t->q.min_index = 0;
		t->q.wait_ms = 0;
	}
	r->arg = xmalloc(sizeof(bool));
	*(bool *)r->arg = read_only;
	r->arg_free = free;
	http_call(r, "raftd", &m, HTTPD_CALL_TIMEOUT_MS, api_txn_done);
	msg_free(&m);
}

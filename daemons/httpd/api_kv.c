/* api_kv.c: /v1/kv/{key}: get, list, keys, raw; put with flags, cas, locks; delete (spec §6). */
#include "httpd.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gofmt.h"
#include "hjson.h"
#include "xalloc.h"

/*
 * The order of checks is Consul's kvs_endpoint.go: GET refuses an empty key
 * unless the read is a listing; PUT refuses an empty key, then conflicting
 * flags, then a bad ?flags or ?cas; DELETE refuses conflicting flags first
 * and an empty key only without ?recurse. raftd applies the operations
 * (fsm_kv.c) and answers the lock rules (§6.4) and their texts itself.
 */

/* The separator of ?keys, under its misspelt name too (§6.1): the
 * right spelling wins when both are given, as in Consul. */
static const char *api_kv_separator(const struct http_req *r)
{
	const char *sep = hquery_get(&r->query, "separator");

	if (sep == NULL)
		sep = hquery_get(&r->query, "seperator");
	return sep != NULL ? sep : "";
}

/* Go's url.QueryEscape of s onto b: unreserved bytes as they are, a space
 * as '+', every other byte as %XX. */
static void api_kv_query_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			buf_putc(b, c);
		} else if (c == ' ') {
			buf_putc(b, '+');
		} else {
			buf_putc(b, '%');
			buf_putc(b, (uint8_t)hex[c >> 4]);
			buf_putc(b, (uint8_t)hex[c & 15]);
		}
	}
}

static int api_kv_strcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * 400 "Conflicting flags: <query>" when more than one of the flags is
 * given. Consul prints url.Values.Encode() of the whole query: keys sorted,
 * each key's values in the order sent, all escaped (§6.2, §1.11).
 */
static bool api_kv_conflicting(struct http_req *r, const char *const *flags, size_t n_flags)
{
	const char *keys[HQUERY_PARAMS_MAX];
	size_t n_keys = 0, found = 0;
	struct buf b;

	for (size_t i = 0; i < n_flags; i++)
		if (hquery_has(&r->query, flags[i]))
			found++;
	if (found < 2)
		return false;
	for (size_t i = 0; i < r->query.n; i++) {
		bool seen = false;

		for (size_t j = 0; j < n_keys && !seen; j++)
			seen = strcmp(keys[j], r->query.v[i].key) == 0;
		if (!seen)
			keys[n_keys++] = r->query.v[i].key;
	}
	qsort(keys, n_keys, sizeof(keys[0]), api_kv_strcmp);
	/* The query string itself was at most HQUERY_LEN_MAX bytes; escaped,
	 * each byte grows to three at most. */
	buf_init(&b, 3 * HQUERY_LEN_MAX + 64);
	buf_printf(&b, "Conflicting flags: ");
	for (size_t i = 0; i < n_keys; i++) {
		const char *v;

		for (size_t j = 0; (v = hquery_get_nth(&r->query, keys[i], j)) != NULL; j++) {
			if (i > 0 || j > 0)
				buf_putc(&b, '&');
			api_kv_query_escape(&b, keys[i]);
			buf_putc(&b, '=');
			api_kv_query_escape(&b, v);
		}
	}
	http_reply_text(r, 400, b.err ? "Conflicting flags" : buf_cstr(&b));
	buf_fini(&b);
	return true;
}

/* ?flags and ?cas: strconv.ParseUint(v, 10, 64); a bad value is Consul's
 * 500 with Go's error text (§6.2). 0, or -1 after answering. */
static int api_kv_parse_u64(struct http_req *r, const char *v, uint64_t *out)
{
	char *q;
	bool digits = v[0] != '\0';

	if (hquery_parse_u64(v, out) == 0)
		return 0;
	for (const char *p = v; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			digits = false;
	q = gofmt_quote(v, strlen(v));
	/* All digits and still refused: it overflowed. */
	http_reply_errorf(r, 500, "strconv.ParseUint: parsing %s: %s", q,
	                  digits ? "value out of range" : "invalid syntax");
	free(q);
	return -1;
}

/* --- GET ------------------------------------------------------------------ */

static void api_kv_get_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_kv_get_reply *g;
	bool keys = hquery_has(&r->query, "keys");
	bool recurse = hquery_has(&r->query, "recurse");
	struct json_object *arr;

	if (http_reply_bus_error(r, st, reply, MSG_KV_GET_REPLY))
		return;
	g = &reply->u.kv_get_reply;
	/* The index headers go on 404s too: python-consul reads them
	 * unconditionally (§6.1, §0.7). */
	http_set_meta(r, &g->meta);
	if (keys) {
		/* No 404 for the root: an empty store lists as [] (§6.1). */
		if (g->keys.n == 0 && r->id[0] != '\0') {
			http_reply_empty(r, 404);
			return;
		}
		arr = json_object_new_array_ext((int)g->keys.n);
		for (uint32_t i = 0; i < g->keys.n; i++)
			json_object_array_add(arr, json_object_new_string(g->keys.v[i]));
		http_reply_json(r, 200, arr);
		return;
	}
	if (g->entries.n == 0) {
		http_reply_empty(r, 404);
		return;
	}
	if (!recurse && hquery_has(&r->query, "raw")) {
		const struct msg_bytes *v = &g->entries.v[0].value;

		/* The stored bytes, never interpreted by a browser (§6.1). */
		http_header(r, "X-Content-Type-Options", "nosniff");
		http_header(r, "Content-Security-Policy", "sandbox");
		http_reply_raw(r, 200, "text/plain", v->p, v->len);
		return;
	}
	arr = json_object_new_array_ext((int)g->entries.n);
	for (uint32_t i = 0; i < g->entries.n; i++)
		json_object_array_add(arr, hjson_kv_entry(&g->entries.v[i]));
	http_reply_json(r, 200, arr);
}

static void api_kv_get(struct http_req *r)
{
	bool keys = hquery_has(&r->query, "keys");
	bool recurse = hquery_has(&r->query, "recurse");
	struct msg m = {0};

	if (!keys && !recurse && r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing key name");
		return;
	}
	m.type = MSG_KV_GET;
	m.u.kv_get.q = r->opts;
	m.u.kv_get.key = (char *)r->id;
	/* ?keys implies the listing; its separator only means something
	 * there. */
	m.u.kv_get.recurse = recurse || keys;
	m.u.kv_get.keys_only = keys;
	m.u.kv_get.separator = keys ? (char *)api_kv_separator(r) : "";
	http_call(r, "raftd", &m, 0, api_kv_get_done);
}

/* --- PUT ------------------------------------------------------------------ */

static void api_kv_put_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	bool plain = !hquery_has(&r->query, "cas") && !hquery_has(&r->query, "acquire") &&
	             !hquery_has(&r->query, "release");

	if (http_reply_bus_error(r, st, reply, MSG_WRITE_REPLY))
		return;
	/* A plain set is always true; the others say whether they took. */
	http_reply_bool(r, plain || reply->u.write_reply.ok);
}

static void api_kv_put(struct http_req *r)
{
	static const char *const conflicts[] = {"cas", "acquire", "release"};
	struct msg m = {0};
	struct msg_kv_put *p = &m.u.kv_put;
	const char *v;

	if (r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing key name");
		return;
	}
	if (api_kv_conflicting(r, conflicts, 3))
		return;
	m.type = MSG_KV_PUT;
	p->op = "set";
	p->key = (char *)r->id;
	p->session = "";
	/* Without ?flags the flags are reset to 0 (§6.2). */
	if ((v = hquery_get(&r->query, "flags")) != NULL && api_kv_parse_u64(r, v, &p->flags) != 0)
		return;
	if ((v = hquery_get(&r->query, "cas")) != NULL) {
		if (api_kv_parse_u64(r, v, &p->cas_index) != 0)
			return;
		p->op = "cas";
	}
	if ((v = hquery_get(&r->query, "acquire")) != NULL) {
		p->op = "acquire";
		p->session = (char *)v;
	}
	if ((v = hquery_get(&r->query, "release")) != NULL) {
		p->op = "release";
		p->session = (char *)v;
	}
	/* The body is the value, any bytes; the core has already refused one
	 * over limits.kv_max_value_size with §6.2's 413. An empty body
	 * stores an empty value (JSON null). */
	p->value.p = r->body.p;
	p->value.len = r->body.len;
	http_call(r, "raftd", &m, 0, api_kv_put_done);
}

/* --- DELETE --------------------------------------------------------------- */

static void api_kv_delete_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	if (http_reply_bus_error(r, st, reply, MSG_WRITE_REPLY))
		return;
	/* Only the CAS form reports its outcome (§6.3). */
	http_reply_bool(r, !hquery_has(&r->query, "cas") || reply->u.write_reply.ok);
}

static void api_kv_delete(struct http_req *r)
{
	static const char *const conflicts[] = {"recurse", "cas"};
	struct msg m = {0};
	struct msg_kv_delete *d = &m.u.kv_delete;
	const char *v;

	if (api_kv_conflicting(r, conflicts, 2))
		return;
	d->recurse = hquery_has(&r->query, "recurse");
	/* An empty prefix with ?recurse deletes everything (§6.3). */
	if (!d->recurse && r->id[0] == '\0') {
		http_reply_text(r, 400, "Missing key name");
		return;
	}
	if ((v = hquery_get(&r->query, "cas")) != NULL) {
		if (api_kv_parse_u64(r, v, &d->cas.v) != 0)
			return;
		d->cas.has = true;
	}
	m.type = MSG_KV_DELETE;
	d->key = (char *)r->id;
	http_call(r, "raftd", &m, 0, api_kv_delete_done);
}

void api_kv(struct http_req *r)
{
	/* The core adds HEAD to GET and POST to PUT (§1.2). */
	if (r->method & (HTTP_GET | HTTP_HEAD))
		api_kv_get(r);
	else if (r->method & (HTTP_PUT | HTTP_POST))
		api_kv_put(r);
	else
		api_kv_delete(r);
}

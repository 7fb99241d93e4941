/* server.c: httpd's HTTP server: libmicrohttpd in the daemon's own loop, a request's life, routing, replies, bus calls. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "ev.h"
#include "filter.h"
#include "gofmt.h"
#include "hjson.h"
#include "log.h"
#include "xalloc.h"

/* MHD in external mode (spec: no internal threads; DESIGN.md §1): its
 * epoll fd is watched by ev, MHD_run() runs when it is readable and when
 * MHD's own timeout (idle connections) falls due. A request waiting on the
 * bus is suspended (MHD_suspend_connection) and resumed when its reply
 * comes, so a blocking query costs a connection and a pending bus call,
 * never a thread. */

static void httpd_run_mhd(struct httpd *h);
static void http_req_free(struct http_req *r);

/* --- streams (monitor) --------------------------------------------------- */

struct http_stream {
	struct httpd *h;
	struct http_req *r;
	struct MHD_Connection *conn;
	struct buf out;
	size_t off; /* bytes of out already handed to MHD */
	bool ended;
	bool suspended;
	uint64_t dropped;
	void (*on_close)(void *arg);
	void *arg;
	uint64_t poll_timer;
	struct http_stream *next, **pprev; /* httpd's list of live streams */
};

/* --- replies ------------------------------------------------------------- */

static void http_set_reply(struct http_req *r, unsigned status, char *body, size_t len)
{
	if (r->replied) {
		/* Programmer error, but a reply is already on its way: keep it. */
		log_warnx("http %s %s: second reply %u ignored", r->method_str, r->path ? r->path : "",
		          status);
		free(body);
		return;
	}
	r->status = status;
	r->resp = body;
	r->resp_len = len;
	r->replied = true;
}

void http_header(struct http_req *r, const char *name, const char *value)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		if (strcasecmp(r->headers[i].name, name) == 0) {
			free(r->headers[i].value);
			r->headers[i].value = xstrdup(value);
			return;
		}
	}
	if (r->n_headers == HTTPD_HEADERS_MAX) {
		log_warnx("http %s: too many response headers, %s dropped", r->path, name);
		return;
	}
	r->headers[r->n_headers].name = xstrdup(name);
	r->headers[r->n_headers].value = xstrdup(value);
	r->n_headers++;
}

void http_reply_json(struct http_req *r, unsigned status, struct json_object *o)
{
	size_t len = 0;
	char *s = hjson_write(o, r->pretty, &len);
	json_object_put(o);
	if (s == NULL) {
		http_reply_text(r, 500, "the response is too large to encode");
		return;
	}
	http_header(r, "Content-Type", "application/json");
	http_set_reply(r, status, s, len);
}

void http_reply_text(struct http_req *r, unsigned status, const char *text)
{
	http_header(r, "Content-Type", "text/plain; charset=utf-8");
	http_set_reply(r, status, xstrdup(text), strlen(text));
}

void http_reply_errorf(struct http_req *r, unsigned status, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	http_header(r, "Content-Type", "text/plain; charset=utf-8");
	http_set_reply(r, status, s, (size_t)n);
}

void http_reply_empty(struct http_req *r, unsigned status)
{
	http_set_reply(r, status, NULL, 0);
}

void http_reply_raw(struct http_req *r, unsigned status, const char *content_type, const void *p,
                    size_t len)
{
	char *copy = xmalloc(len + 1);
	if (len > 0)
		memcpy(copy, p, len);
	copy[len] = '\0';
	if (content_type != NULL)
		http_header(r, "Content-Type", content_type);
	http_set_reply(r, status, copy, len);
}

void http_reply_bool(struct http_req *r, bool v)
{
	http_reply_json(r, 200, json_object_new_boolean(v));
}

void http_set_meta(struct http_req *r, const struct msg_query_meta *m)
{
	char v[32];
	/* Consul's setIndex: an index of 0 is sent as 1, so clients that
	 * treat 0 as "no blocking support" keep working (spec §1.5). */
	snprintf(v, sizeof(v), "%llu", (unsigned long long)(m->index ? m->index : 1));
	http_header(r, "X-Consul-Index", v);
	http_header(r, "X-Consul-KnownLeader", m->known_leader ? "true" : "false");
	snprintf(v, sizeof(v), "%llu", (unsigned long long)m->last_contact_ms);
	http_header(r, "X-Consul-LastContact", v);
	http_header(r, "X-Consul-Effective-Consistency",
	            m->consistency == 1 ? "stale" : m->consistency == 2 ? "consistent" : "leader");
}

bool http_filter_ok(const struct http_req *r, struct json_object *elem)
{
	return r->filter == NULL || filter_match(r->filter, elem);
}

void http_filter_append(const struct http_req *r, struct json_object *list,
                        struct json_object *elem)
{
	if (http_filter_ok(r, elem))
		json_object_array_add(list, elem);
	else
		json_object_put(elem);
}

struct json_object *http_body_json(struct http_req *r, bool *failed)
{
	struct hjson_dec d = {0};
	*failed = false;
	struct json_object *o = hjson_parse(&d, (const char *)r->body.p, r->body.len);
	if (d.failed) {
		*failed = true;
		http_reply_errorf(r, 400, "Request decode failed: %s", d.err);
		return NULL;
	}
	return o;
}

struct json_object *http_body_object(struct http_req *r, const char *gotype)
{
	struct hjson_dec d = {0};
	bool failed;
	struct json_object *o = http_body_json(r, &failed);
	if (failed)
		return NULL;
	if (!hjson_want_object(&d, o, gotype)) {
		http_reply_errorf(r, 400, "Request decode failed: %s", d.err);
		json_object_put(o);
		return NULL;
	}
	return o;
}

void http_node_meta(struct http_req *r, struct msg_strmap *out)
{
	size_t n = 0;
	while (hquery_get_nth(&r->query, "node-meta", n) != NULL)
		n++;
	out->n = 0;
	out->k = n ? xcalloc(n, sizeof(char *)) : NULL;
	out->v = n ? xcalloc(n, sizeof(char *)) : NULL;
	for (size_t i = 0; i < n; i++) {
		const char *kv = hquery_get_nth(&r->query, "node-meta", i);
		const char *colon = strchr(kv, ':');
		/* A value without ':' means an empty value (spec §1.7). */
		out->k[i] = colon ? xasprintf("%.*s", (int)(colon - kv), kv) : xstrdup(kv);
		out->v[i] = xstrdup(colon ? colon + 1 : "");
		out->n++;
	}
}

const char *http_datacenter(const struct http_req *r)
{
	return r->h->d->conf.datacenter;
}

/* --- bus calls ------------------------------------------------------------ */

static struct ipc_client *http_client(struct httpd *h, const char *peer)
{
	if (strcmp(peer, "raftd") == 0)
		return h->raftd;
	if (strcmp(peer, "musterd") == 0)
		return h->musterd;
	if (strcmp(peer, "healthd") == 0)
		return h->healthd;
	if (strcmp(peer, "gossipd") == 0)
		return h->gossipd;
	return NULL;
}

static void http_suspend(struct http_req *r)
{
	struct httpd *h = r->h;
	r->suspended = true;
	MHD_suspend_connection(r->conn);
	r->susp_next = h->suspended;
	if (h->suspended != NULL)
		h->suspended->susp_pprev = &r->susp_next;
	r->susp_pprev = &h->suspended;
	h->suspended = r;
}

static void http_resume(struct http_req *r)
{
	if (r->suspended) {
		r->suspended = false;
		*r->susp_pprev = r->susp_next;
		if (r->susp_next != NULL)
			r->susp_next->susp_pprev = r->susp_pprev;
		r->susp_next = NULL;
		r->susp_pprev = NULL;
		MHD_resume_connection(r->conn);
		httpd_kick(r->h);
	}
}

/* Whether the client of a connection MHD is not reading has gone: end of
 * file (or an error) on a peek. */
static bool http_client_gone(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char c;
	if (ci == NULL)
		return false;
	ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* A client that left a blocking query must not hold its connection (and
 * its place under http_max_conns_per_client) until the wait ends, up to
 * 10 minutes: suspended requests are checked every HTTPD_SUSPEND_POLL_MS
 * and a gone one is resumed with a reply MHD fails to send, which closes
 * it. Its bus call still ends on its own; the callback then frees it. */
static void http_poll_suspended(struct ev *ev, void *arg)
{
	struct httpd *h = arg;
	(void)ev;
	h->suspend_timer = ev_timer_add(h->d->ev, HTTPD_SUSPEND_POLL_MS, http_poll_suspended, h);
	for (struct http_req *r = h->suspended, *next; r != NULL; r = next) {
		next = r->susp_next;
		if (!http_client_gone(r->conn))
			continue;
		r->closed = true;
		h->clients_gone++;
		http_reply_text(r, 503, "the client went away");
		http_resume(r);
	}
}

static void http_call_cb(void *arg, enum ipc_status st, struct msg *reply)
{
	struct http_req *r = arg;
	void (*done)(struct http_req *, enum ipc_status, struct msg *) = r->call_done;
	r->call_done = NULL;
	r->h->in_flight--;
	if (r->orphan) {
		/* MHD is done with its connection (the client went away). */
		http_req_free(r);
		return;
	}
	if (r->closed)
		return; /* answered already; MHD frees it when it lets go */
	if (done != NULL)
		done(r, st, reply);
	if (!r->replied && r->call_done == NULL) {
		log_errorx("http %s %s: handler ended without a reply", r->method_str, r->path);
		http_reply_text(r, 500, "internal error: the handler gave no answer");
	}
	if (r->replied)
		http_resume(r);
}

void http_call(struct http_req *r, const char *peer, struct msg *req, uint64_t timeout_ms,
               void (*done)(struct http_req *r, enum ipc_status st, struct msg *reply))
{
	struct ipc_client *c = http_client(r->h, peer);
	if (c == NULL) {
		http_reply_errorf(r, 500, "internal error: no bus peer %s", peer);
		return;
	}
	if (timeout_ms == 0)
		timeout_ms = r->call_timeout_ms ? r->call_timeout_ms : HTTPD_CALL_TIMEOUT_MS;
	snprintf(r->call_peer, sizeof(r->call_peer), "%s", peer);
	r->call_done = done;
	if (ipc_call(c, req, timeout_ms, http_call_cb, r) != 0) {
		r->call_done = NULL;
		r->h->bus_errors++;
		http_reply_errorf(r, 503, "%s is not reachable from httpd (its queue is full)", peer);
		return;
	}
	r->h->in_flight++;
}

bool http_reply_bus_error(struct http_req *r, enum ipc_status st, const struct msg *reply,
                          enum msg_type want)
{
	if (st != IPC_OK) {
		r->h->bus_errors++;
		switch (st) {
		case IPC_TIMEOUT:
			http_reply_errorf(r, 503, "%s did not answer in time (restarting or overloaded)",
			                  r->call_peer);
			break;
		case IPC_CANCELLED:
			http_reply_text(r, 503, "the agent is shutting down");
			break;
		default:
			http_reply_errorf(r, 503, "%s is not available: %s", r->call_peer,
			                  ipc_status_str(st));
			break;
		}
		return true;
	}
	if (reply->type == MSG_RESULT) {
		unsigned status = (unsigned)reply->u.result.status;
		if (status < 400 || status > 599)
			status = 500;
		http_reply_text(r, status, reply->u.result.error);
		return true;
	}
	if (reply->type != want) {
		r->h->bus_errors++;
		http_reply_errorf(r, 500, "unexpected reply %s from %s", msg_type_name(reply->type),
		                  r->call_peer);
		return true;
	}
	return false;
}

/* --- request parsing ------------------------------------------------------ */

static unsigned http_method_bit(const char *m)
{
	static const struct {
		const char *name;
		unsigned bit;
	} t[] = {{"GET", HTTP_GET},   {"HEAD", HTTP_HEAD},     {"PUT", HTTP_PUT},
	         {"POST", HTTP_POST}, {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(m, t[i].name) == 0)
			return t[i].bit;
	return HTTP_OTHER;
}

/* The methods a route takes: GET brings HEAD, and PUT brings POST (spec
 * §1.2: harmless, and older tools send it). */
static unsigned http_route_methods(const struct http_route *rt)
{
	unsigned m = rt->methods | HTTP_OPTIONS;
	if (m & HTTP_GET)
		m |= HTTP_HEAD;
	if (m & HTTP_PUT)
		m |= HTTP_POST;
	return m;
}

static void http_allow(unsigned m, char *out, size_t size)
{
	static const struct {
		const char *name;
		unsigned bit;
	} t[] = {{"OPTIONS", HTTP_OPTIONS}, {"GET", HTTP_GET},   {"HEAD", HTTP_HEAD},
	         {"PUT", HTTP_PUT},         {"POST", HTTP_POST}, {"DELETE", HTTP_DELETE}};
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!(m & t[i].bit))
			continue;
		size_t l = strlen(out);
		snprintf(out + l, size - l, "%s%s", l ? "," : "", t[i].name);
	}
}

static bool http_has_unprintable(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return true;
	return false;
}

static const char *http_conn_header(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* Tokens in Consul's order (spec §1.6); parsed now, enforced by the ACL
 * issue. */
static void http_parse_token(struct http_req *r)
{
	const char *t = hquery_get(&r->query, "token");
	if (t == NULL || *t == '\0')
		t = http_conn_header(r, "X-Consul-Token");
	if (t == NULL || *t == '\0') {
		const char *a = http_conn_header(r, "Authorization");
		if (a != NULL && strncasecmp(a, "Bearer", 6) == 0 && (a[6] == ' ' || a[6] == '\t')) {
			a += 6;
			while (*a == ' ' || *a == '\t')
				a++;
			size_t n = strcspn(a, " \t");
			snprintf(r->token_buf, sizeof(r->token_buf), "%.*s", (int)n, a);
			t = r->token_buf;
		}
	}
	r->token = t ? t : "";
}

/* Consistency, blocking and staleness options of a read (spec §1.7, §1.9,
 * §1.10). -1 after answering 400. */
static int http_parse_query_opts(struct http_req *r)
{
	struct msg_query_opts *o = &r->opts;
	bool stale = hquery_has(&r->query, "stale");
	bool consistent = hquery_has(&r->query, "consistent");
	if (stale && consistent) {
		http_reply_text(r, 400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
		return -1;
	}
	if (hquery_has(&r->query, "cached") && consistent) {
		http_reply_text(r, 400, "Cannot specify ?cached with ?consistent, conflicting semantics.");
		return -1;
	}
	o->consistency = stale ? 1 : consistent ? 2 : 0;
	const char *v = hquery_get(&r->query, "index");
	if (v != NULL && hquery_parse_u64(v, &o->min_index) != 0) {
		http_reply_text(r, 400, "Invalid index");
		return -1;
	}
	v = hquery_get(&r->query, "wait");
	if (v != NULL) {
		int64_t ns;
		const char *why;
		if (gofmt_dur_parse_ns(v, &ns, &why) != 0 || ns < 0) {
			http_reply_text(r, 400, "Invalid wait time");
			return -1;
		}
		/* Whole ms, a positive remainder rounded up: a tiny wait is
		 * not the default 5 min (0 means the default). */
		o->wait_ms = (uint64_t)ns / 1000000 + ((uint64_t)ns % 1000000 ? 1 : 0);
	}
	v = hquery_get(&r->query, "max_stale");
	if (v != NULL) {
		int64_t ns;
		const char *why;
		if (gofmt_dur_parse_ns(v, &ns, &why) != 0 || ns < 0) {
			http_reply_errorf(r, 400, "Invalid max_stale value \"%s\"", v);
			return -1;
		}
		o->max_stale_ms = (uint64_t)ns / 1000000;
	}
	if (o->min_index > 0) {
		uint64_t wait = o->wait_ms ? o->wait_ms : HTTPD_WAIT_DEFAULT_MS;
		if (wait > HTTPD_WAIT_MAX_MS)
			wait = HTTPD_WAIT_MAX_MS;
		/* raftd answers by wait + jitter (< wait/16); the margin covers
		 * the bus, not the client's budget. */
		r->call_timeout_ms = wait + wait / 16 + HTTPD_CALL_MARGIN_MS;
		r->h->blocking++;
	} else {
		r->call_timeout_ms = HTTPD_CALL_TIMEOUT_MS;
	}
	return 0;
}

static uint64_t http_body_limit(const struct http_req *r)
{
	const struct conf *c = &r->h->d->conf;
	if (r->route != NULL && (r->route->flags & HTTP_F_BODY_KV))
		return c->limits.kv_max_value_size;
	if (r->route != NULL && (r->route->flags & HTTP_F_BODY_TXN))
		return c->limits.txn_max_req_len;
	return HTTPD_BODY_MAX_OTHER;
}

static void http_reply_too_large(struct http_req *r, uint64_t len)
{
	uint64_t max = http_body_limit(r);
	if (r->route != NULL && (r->route->flags & HTTP_F_BODY_KV))
		http_reply_errorf(r, 413,
		                  "Request body(%llu bytes) too large, max size: %llu bytes. See "
		                  "https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size.",
		                  (unsigned long long)len, (unsigned long long)max);
	else
		http_reply_errorf(r, 413, "Request body too large, max size: %llu bytes",
		                  (unsigned long long)max);
}

/* Everything decided from the request line and headers: 0 to go on and
 * read the body, or a reply is set. */
static void http_begin(struct http_req *r, const char *method)
{
	struct httpd *h = r->h;
	r->method_str = method;
	r->method = http_method_bit(method);
	h->requests++;

	/* The raw URI (before MHD's own unescaping) is split here: the path
	 * is percent-decoded before routing (spec §0.2), the query string is
	 * parsed as url.ParseQuery. */
	char *q = strchr(r->uri, '?');
	if (q != NULL)
		*q++ = '\0';
	size_t plen = 0;
	r->path = hquery_unescape(r->uri, false, &plen);
	if (r->path == NULL) {
		http_reply_text(r, 400, "Invalid URL path: bad percent-encoding");
		return;
	}
	if (http_has_unprintable(r->path, plen)) {
		/* Consul's wrapper refuses encoded control characters (§1.1). */
		http_reply_errorf(r, 400, "Invalid URL path: contains unprintable characters");
		return;
	}
	const char *why = NULL;
	if (hquery_parse(&r->query, q, &why) != 0) {
		http_reply_errorf(r, 400, "Invalid query: %s", why);
		return;
	}
	r->pretty = hquery_has(&r->query, "pretty");
	http_parse_token(r);
	http_header(r, "X-Consul-Default-Acl-Policy",
	            h->d->conf.acl.default_policy ? h->d->conf.acl.default_policy : "allow");

	const char *rest = "";
	r->route = http_route_find(r->path, &rest);
	if (r->route == NULL) {
		/* Go's mux redirects "/v1/kv" to "/v1/kv/" (§1.1). */
		char *slashed = xasprintf("%s/", r->path);
		const char *rest2;
		const struct http_route *rt = http_route_find(slashed, &rest2);
		if (rt != NULL && (rt->flags & HTTP_F_PREFIX) && *rest2 == '\0') {
			char *loc = q ? xasprintf("%s?%s", slashed, q) : xstrdup(slashed);
			http_header(r, "Location", loc);
			free(loc);
			free(slashed);
			http_reply_empty(r, 301);
			return;
		}
		free(slashed);
		if (strncmp(r->path, "/v1/", 4) == 0)
			http_reply_text(r, 404, "Invalid URL path: not a recognized HTTP API endpoint");
		else
			http_reply_text(r, 404,
			                "Invalid URL path: if attempting to use the HTTP API, ensure the "
			                "path starts with '/v1/'");
		return;
	}
	r->id = rest;
	unsigned allowed = http_route_methods(r->route);
	char allow[64];
	http_allow(allowed, allow, sizeof(allow));
	if (r->method == HTTP_OPTIONS) {
		http_header(r, "Allow", allow);
		http_reply_empty(r, 200);
		return;
	}
	if (!(r->method & allowed)) {
		http_header(r, "Allow", allow);
		http_reply_errorf(r, 405, "method %s not allowed", method);
		return;
	}
	/* ?dc: this agent's datacenter only until WAN federation (§1.7). */
	const char *dc = hquery_get(&r->query, "dc");
	if (dc != NULL && *dc != '\0' && strncmp(r->path, "/v1/agent/", 10) != 0 &&
	    strcasecmp(dc, h->d->conf.datacenter) != 0) {
		http_reply_text(r, 500, "No path to datacenter");
		return;
	}
	/* Consul checks Content-Length before reading (§6.2); the real
	 * length is checked again as the body comes. */
	const char *cl = http_conn_header(r, "Content-Length");
	uint64_t len = 0;
	if (cl != NULL && hquery_parse_u64(cl, &len) == 0 && len > http_body_limit(r)) {
		http_reply_too_large(r, len);
		return;
	}
	if (r->route->flags & HTTP_F_QUERY) {
		if (http_parse_query_opts(r) != 0)
			return;
	}
	if (r->route->flags & HTTP_F_FILTER) {
		const char *f = hquery_get(&r->query, "filter");
		if (f != NULL && *f != '\0') {
			char err[256];
			r->filter = filter_parse(f, err, sizeof(err));
			if (r->filter == NULL) {
				/* A 500, as Consul (hashicorp/consul#7338, §1.8). */
				http_reply_errorf(r, 500, "Failed to create boolean expression evaluator: %s",
				                  err);
				return;
			}
		}
	}
}

/* --- MHD callbacks -------------------------------------------------------- */

static void http_req_free(struct http_req *r)
{
	if (r == NULL)
		return;
	free(r->uri);
	free(r->path);
	hquery_fini(&r->query);
	buf_fini(&r->body);
	filter_free(r->filter);
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->resp);
	if (r->arg_free != NULL)
		r->arg_free(r->arg);
	free(r);
}

static void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_req *r = xcalloc(1, sizeof(*r));
	r->h = cls;
	r->conn = conn;
	r->uri = xstrdup(uri ? uri : "/");
	r->started_ms = ev_now_ms(r->h->d->ev);
	return r;
}

static void http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct http_req *r = *con_cls;
	*con_cls = NULL;
	if (r == NULL)
		return;
	if (r->call_done != NULL) {
		/* Its client went away during a bus call (http_poll_suspended):
		 * the call's callback frees it. */
		r->orphan = true;
		return;
	}
	if (r->stream != NULL)
		r->stream->r = NULL;
	http_req_free(r);
}

static void http_count_status(struct httpd *h, unsigned status)
{
	if (status < 400)
		h->responses_2xx++;
	else if (status < 500)
		h->responses_4xx++;
	else
		h->responses_5xx++;
}

static ssize_t http_stream_read(void *cls, uint64_t pos, char *out, size_t max);
static void http_stream_free_cb(void *cls);

static enum MHD_Result http_queue(struct http_req *r)
{
	struct MHD_Response *resp;
	if (r->stream != NULL) {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTPD_STREAM_BLOCK, http_stream_read,
		                                         r->stream, http_stream_free_cb);
	} else {
		resp = MHD_create_response_from_buffer(r->resp_len, r->resp ? r->resp : (void *)"",
		                                       r->resp ? MHD_RESPMEM_MUST_FREE
		                                               : MHD_RESPMEM_PERSISTENT);
		if (resp != NULL)
			r->resp = NULL; /* MHD owns it now */
	}
	if (resp == NULL) {
		log_errorx("http %s: cannot create a response", r->path ? r->path : "");
		return MHD_NO;
	}
	for (size_t i = 0; i < r->n_headers; i++)
		MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
	http_count_status(r->h, r->status);
	log_trace("http %s %s: %u after %llu ms", r->method_str, r->path ? r->path : r->uri, r->status,
	          (unsigned long long)(ev_now_ms(r->h->d->ev) - r->started_ms));
	enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void http_dispatch(struct http_req *r)
{
	r->route->handler(r);
	if (r->replied)
		return;
	if (r->call_done != NULL) {
		http_suspend(r);
		return;
	}
	log_errorx("http %s %s: handler gave no answer", r->method_str, r->path);
	http_reply_text(r, 500, "internal error: the handler gave no answer");
}

static enum MHD_Result http_on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
	(void)cls;
	(void)url;
	(void)version;
	struct http_req *r = *con_cls;
	if (r == NULL)
		return MHD_NO;
	if (!r->started) {
		r->started = true;
		r->conn = conn;
		http_begin(r, method);
		buf_init(&r->body, http_body_limit(r));
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		if (!r->replied && buf_append(&r->body, upload_data, *upload_data_size) != 0)
			http_reply_too_large(r, r->body.len + *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->replied)
		return http_queue(r);
	if (r->dispatched)
		return MHD_YES; /* resumed without a reply: cannot happen */
	r->dispatched = true;
	http_dispatch(r);
	if (r->replied)
		return http_queue(r);
	return MHD_YES;
}

/* MHD's own messages (connection limits reached, requests too big): a
 * flood of clients must not become a flood of log lines, so at most
 * HTTPD_MHD_LOG_PER_S a second, then one line saying how many were not
 * written. */
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	uint64_t sec = ev_clock_ms() / 1000;
	char line[512];

	if (sec != h->mhd_log_sec) {
		if (h->mhd_log_dropped > 0)
			log_warnx("http server: %llu more messages not logged",
			          (unsigned long long)h->mhd_log_dropped);
		h->mhd_log_sec = sec;
		h->mhd_log_n = 0;
		h->mhd_log_dropped = 0;
	}
	if (h->mhd_log_n++ >= HTTPD_MHD_LOG_PER_S) {
		h->mhd_log_dropped++;
		return;
	}
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_warnx("http server: %s", line);
}

/* --- streams -------------------------------------------------------------- */

static void http_stream_resume(struct http_stream *s)
{
	if (s->suspended && s->conn != NULL) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
		httpd_kick(s->h);
	}
}

/* A suspended stream is resumed now and then so MHD sees a client that
 * went away (it reads EOF) even when no log line comes. */
static void http_stream_poll(struct ev *ev, void *arg)
{
	struct http_stream *s = arg;
	(void)ev;
	s->poll_timer = ev_timer_add(s->h->d->ev, HTTPD_STREAM_POLL_MS, http_stream_poll, s);
	/* MHD does not read a connection it is sending on, so a client that
	 * left a quiet stream is seen here: end of file on a peek. */
	if (http_client_gone(s->conn))
		s->ended = true;
	http_stream_resume(s);
}

struct http_stream *http_stream_start(struct http_req *r, const char *content_type,
                                      void (*on_close)(void *arg), void *arg)
{
	struct http_stream *s = xcalloc(1, sizeof(*s));
	s->h = r->h;
	s->r = r;
	s->conn = r->conn;
	buf_init(&s->out, HTTPD_MONITOR_BUF_MAX);
	s->on_close = on_close;
	s->arg = arg;
	r->stream = s;
	s->next = r->h->streams;
	if (s->next != NULL)
		s->next->pprev = &s->next;
	s->pprev = &r->h->streams;
	r->h->streams = s;
	http_header(r, "Content-Type", content_type);
	r->status = 200;
	r->replied = true;
	s->poll_timer = ev_timer_add(r->h->d->ev, HTTPD_STREAM_POLL_MS, http_stream_poll, s);
	return s;
}

int http_stream_write(struct http_stream *s, const void *p, size_t len)
{
	if (s->ended)
		return -1;
	if (s->off > 0 && s->out.len + len > s->out.cap) {
		/* Compact only when the space is needed: sent bytes are not
		 * moved once per chunk. */
		buf_consume(&s->out, s->off);
		s->off = 0;
	}
	if (buf_append(&s->out, p, len) != 0) {
		s->out.err = false; /* the sticky error would refuse every later line */
		s->dropped++;
		return -1;
	}
	http_stream_resume(s);
	return 0;
}

void http_stream_end(struct http_stream *s)
{
	s->ended = true;
	http_stream_resume(s);
}

static ssize_t http_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct http_stream *s = cls;
	(void)pos;
	if (s->out.len > s->off) {
		size_t n = s->out.len - s->off < max ? s->out.len - s->off : max;
		memcpy(out, s->out.p + s->off, n);
		s->off += n;
		if (s->off == s->out.len) {
			s->out.len = 0;
			s->off = 0;
		}
		return (ssize_t)n;
	}
	if (s->ended)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* Nothing to send: park the connection until a write (or the poll
	 * timer) resumes it, rather than have MHD spin on it. */
	if (!s->suspended) {
		s->suspended = true;
		MHD_suspend_connection(s->conn);
	}
	return 0;
}

static void http_stream_free_cb(void *cls)
{
	struct http_stream *s = cls;
	ev_timer_del(s->h->d->ev, s->poll_timer);
	*s->pprev = s->next;
	if (s->next != NULL)
		s->next->pprev = s->pprev;
	if (s->on_close != NULL)
		s->on_close(s->arg);
	if (s->r != NULL)
		s->r->stream = NULL;
	buf_fini(&s->out);
	free(s);
}

/* --- the server in the loop ----------------------------------------------- */

static void httpd_on_timer(struct ev *ev, void *arg)
{
	struct httpd *h = arg;
	(void)ev;
	h->mhd_timer = 0;
	h->kick_pending = false;
	httpd_run_mhd(h);
}

static void httpd_run_mhd(struct httpd *h)
{
	MHD_UNSIGNED_LONG_LONG next = HTTPD_MHD_TICK_MS, t;
	bool has = false;
	/* This run serves any kick pending (its timer is replaced below); a
	 * kick left marked pending would make every later one a no-op, and
	 * resumed requests would wait for the next tick. */
	h->kick_pending = false;
	for (size_t i = 0; i < h->n_mhd; i++) {
		/* MHD handles a bounded number of ready sockets per run and
		 * keeps the rest on its own ready list: a timeout of 0 says so,
		 * and it runs again (a few times, then the loop's turn). */
		for (int k = 0; k < HTTPD_MHD_RUNS_PER_TURN; k++) {
			MHD_run(h->mhd[i]);
			if (MHD_get_timeout(h->mhd[i], &t) != MHD_YES || t > 0)
				break;
		}
		if (MHD_get_timeout(h->mhd[i], &t) == MHD_YES) {
			if (!has || t < next)
				next = t;
			has = true;
		}
	}
	if (h->mhd_timer != 0) {
		ev_timer_del(h->d->ev, h->mhd_timer);
		h->mhd_timer = 0;
	}
	/* MHD closes a connection it failed (a request too big for its
	 * pool) only in a later MHD_run, and its timeout does not say so:
	 * run it at least every HTTPD_MHD_TICK_MS. */
	if (!has || next > HTTPD_MHD_TICK_MS)
		next = HTTPD_MHD_TICK_MS;
	if (h->kick_pending)
		next = 0;
	h->mhd_timer = ev_timer_add(h->d->ev, next, httpd_on_timer, h);
}

void httpd_kick(struct httpd *h)
{
	if (h->kick_pending)
		return;
	h->kick_pending = true;
	if (h->mhd_timer != 0)
		ev_timer_del(h->d->ev, h->mhd_timer);
	h->mhd_timer = ev_timer_add(h->d->ev, 0, httpd_on_timer, h);
}

static void httpd_on_epoll(struct ev *ev, int revents, void *arg)
{
	struct httpd *h = arg;
	(void)ev;
	(void)revents;
	httpd_run_mhd(h);
}

static int httpd_listen_one(struct httpd *h, const char *addr, int port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		flags |= MHD_USE_IPv6;
	} else {
		log_errorx("http: client address %s is not an IP address", addr);
		return -1;
	}
	if (h->n_mhd == HTTPD_LISTEN_MAX) {
		log_errorx("http: more than %d listen addresses", HTTPD_LISTEN_MAX);
		return -1;
	}
	int per_client = h->d->conf.limits.http_max_conns_per_client;
	struct MHD_OptionItem opts[] = {
	    {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http_mhd_log, h}, /* first, or MHD warns */
	    {MHD_OPTION_SOCK_ADDR, 0, &ss},
	    {MHD_OPTION_CONNECTION_LIMIT, HTTPD_CONN_MAX, NULL},
	    {MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_client > 0 ? per_client : 0, NULL},
	    {MHD_OPTION_CONNECTION_TIMEOUT, HTTPD_IDLE_TIMEOUT_S, NULL},
	    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)http_on_uri, h},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_on_completed, h},
	    {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
	    /* MHD keeps the request line, the headers and every query
	     * argument in this per-connection pool; past it, it fails the
	     * request. Room for HQUERY_LEN_MAX of query and headers; pages
	     * never touched cost nothing (MHD maps the pool). */
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTPD_CONN_MEMORY, NULL},
	    {MHD_OPTION_END, 0, NULL},
	};
	struct MHD_Daemon *m = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, http_on_access, h,
	                                        MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (m == NULL) {
		log_errorx("http: cannot listen on %s:%d: %s", addr, port, strerror(errno));
		return -1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL) {
		log_errorx("http: libmicrohttpd has no epoll fd");
		MHD_stop_daemon(m);
		return -1;
	}
	int id = ev_add_fd(h->d->ev, info->epoll_fd, EV_READ, httpd_on_epoll, h);
	if (id < 0) {
		MHD_stop_daemon(m);
		return -1;
	}
	h->mhd[h->n_mhd] = m;
	h->mhd_watch[h->n_mhd] = id;
	h->n_mhd++;
	log_info("http: listening on %s:%d", addr, port);
	return 0;
}

int httpd_start(struct httpd *h, struct daemon *d)
{
	memset(h, 0, sizeof(*h));
	h->d = d;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->start_unix_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	h->raftd = ipc_client_new(d->ev, d->run_dir, "httpd", "raftd");
	h->musterd = ipc_client_new(d->ev, d->run_dir, "httpd", "musterd");
	h->healthd = ipc_client_new(d->ev, d->run_dir, "httpd", "healthd");
	h->gossipd = ipc_client_new(d->ev, d->run_dir, "httpd", "gossipd");
	if (h->raftd == NULL || h->musterd == NULL || h->healthd == NULL || h->gossipd == NULL) {
		log_errorx("http: cannot open the bus clients");
		return -1;
	}
	api_agent_monitors_init(h);
	h->suspend_timer = ev_timer_add(d->ev, HTTPD_SUSPEND_POLL_MS, http_poll_suspended, h);
	const struct conf *c = &d->conf;
	if (c->ports.http <= 0) {
		log_info("http: ports.http is disabled; no HTTP listener");
		return 0;
	}
	const struct conf_list *addrs = c->addresses.http.n ? &c->addresses.http : &c->client_addr;
	if (addrs->n == 0) {
		if (httpd_listen_one(h, "127.0.0.1", c->ports.http) != 0)
			return -1;
	}
	for (size_t i = 0; i < addrs->n; i++)
		if (httpd_listen_one(h, addrs->v[i], c->ports.http) != 0)
			return -1;
	httpd_run_mhd(h);
	return 0;
}

/* Whether a request waits on a bus call that answers soon: anything but a
 * blocking query (which would hold a stop for its whole wait). */
static bool httpd_awaits_reply(const struct httpd *h)
{
	for (const struct http_req *r = h->suspended; r != NULL; r = r->susp_next)
		if (r->call_done != NULL && r->opts.min_index == 0)
			return true;
	return false;
}

void httpd_stop(struct httpd *h)
{
	/* A reply already on its way still reaches its client: musterd
	 * answers PUT /v1/agent/leave and stops httpd right after (§3.4),
	 * and both can arrive in one wake-up, the stop handled first. The
	 * loop runs on a little, HTTPD_STOP_DRAIN_MS at most, while a
	 * request waits on a call that is not a blocking query. */
	uint64_t deadline = ev_clock_ms() + HTTPD_STOP_DRAIN_MS;
	ev_resume(h->d->ev); /* the loop ended with ev_stop: dispatch again */
	while (httpd_awaits_reply(h)) {
		uint64_t now = ev_clock_ms();
		if (now >= deadline || ev_run_once(h->d->ev, (int)(deadline - now)) != 0)
			break;
	}
	ev_stop(h->d->ev);
	/* Pending bus calls end with IPC_CANCELLED (503 answers) and resume
	 * their connections, so MHD stops with nothing suspended. */
	api_agent_monitors_fini(h);
	for (struct http_stream *s = h->streams; s != NULL; s = s->next)
		http_stream_end(s);
	ipc_client_free(h->raftd);
	ipc_client_free(h->musterd);
	ipc_client_free(h->healthd);
	ipc_client_free(h->gossipd);
	h->raftd = h->musterd = h->healthd = h->gossipd = NULL;
	/* MHD panics when stopped with a suspended connection: the resumes
	 * above take effect in MHD_run. */
	for (size_t i = 0; i < h->n_mhd; i++) {
		MHD_run(h->mhd[i]);
		MHD_run(h->mhd[i]);
	}
	for (size_t i = 0; i < h->n_mhd; i++) {
		ev_del(h->d->ev, h->mhd_watch[i]);
		MHD_stop_daemon(h->mhd[i]);
	}
	h->n_mhd = 0;
	if (h->mhd_timer != 0)
		ev_timer_del(h->d->ev, h->mhd_timer);
	h->mhd_timer = 0;
	ev_timer_del(h->d->ev, h->suspend_timer);
	h->suspend_timer = 0;
}

void httpd_stats(struct httpd *h, struct msg_daemon_stats *out)
{
	daemon_stat_add(out, "http_requests", 1, (double)h->requests);
	daemon_stat_add(out, "http_responses_2xx", 1, (double)h->responses_2xx);
	daemon_stat_add(out, "http_responses_4xx", 1, (double)h->responses_4xx);
	daemon_stat_add(out, "http_responses_5xx", 1, (double)h->responses_5xx);
	daemon_stat_add(out, "http_blocking_queries", 1, (double)h->blocking);
	daemon_stat_add(out, "http_bus_errors", 1, (double)h->bus_errors);
	daemon_stat_add(out, "http_clients_gone", 1, (double)h->clients_gone);
	daemon_stat_add(out, "http_calls_in_flight", 0, (double)h->in_flight);
	daemon_stat_add(out, "http_monitors", 0, (double)h->n_monitors);
}

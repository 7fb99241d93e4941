/* probe_curl.c: the HTTP, gRPC and TCP-by-name probes on one libcurl multi handle, driven by
 * healthd's loop through libcurl's socket and timer callbacks (no threads of muster's own). */
#include "probe_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ev.h"
#include "log.h"

#define PROBE_MAX_REDIRS 10 /* Go's http.Client stops after 10 redirects */

static unsigned curl_users; /* curl_global_init is process-wide */

/* ---- the multi handle on ev ---- */

struct curl_sock {
	struct probe_ctx *c;
	curl_socket_t fd;
	int watch;
};

static void curl_collect(struct probe_ctx *c);

static void curl_on_fd(struct ev *ev, int revents, void *arg)
{
	struct curl_sock *cs = arg;
	struct probe_ctx *c = cs->c;
	curl_socket_t fd = cs->fd; /* cs may be freed inside socket_action */
	int flags = 0, running;

	(void)ev;
	if (revents & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	if (revents & EV_ERROR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	curl_collect(c);
}

static int curl_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct probe_ctx *c = userp;
	struct curl_sock *cs = socketp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (cs) {
			ev_del(c->ev, cs->watch);
			curl_multi_assign(c->multi, s, NULL);
			free(cs);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (cs) {
		ev_set_events(c->ev, cs->watch, events);
		return 0;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -1;
	cs->c = c;
	cs->fd = s;
	cs->watch = ev_add_fd(c->ev, s, events, curl_on_fd, cs);
	if (cs->watch < 0) {
		free(cs);
		return -1;
	}
	curl_multi_assign(c->multi, s, cs);
	return 0;
}

static void curl_on_timer(struct ev *ev, void *arg)
{
	struct probe_ctx *c = arg;
	int running;

	(void)ev;
	c->curl_timer = 0;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curl_collect(c);
}

/* libcurl asks for one timer; socket_action must not run from inside this callback, so even a
 * 0 ms timeout goes through the loop. */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct probe_ctx *c = userp;

	(void)multi;
	if (c->curl_timer)
		ev_timer_del(c->ev, c->curl_timer);
	c->curl_timer = 0;
	if (timeout_ms >= 0)
		c->curl_timer = ev_timer_add(c->ev, (uint64_t)timeout_ms, curl_on_timer, c);
	return 0;
}

int probe_curl_init(struct probe_ctx *c)
{
	if (curl_users++ == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		curl_users--;
		return -1;
	}
	c->multi = curl_multi_init();
	if (!c->multi) {
		if (--curl_users == 0)
			curl_global_cleanup();
		return -1;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return 0;
}

void probe_curl_fini(struct probe_ctx *c)
{
	if (!c->multi)
		return;
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	if (c->curl_timer)
		ev_timer_del(c->ev, c->curl_timer);
	c->curl_timer = 0;
	if (--curl_users == 0)
		curl_global_cleanup();
}

void probe_curl_stop(struct probe *p)
{
	if (p->easy) {
		curl_multi_remove_handle(p->c->multi, p->easy);
		curl_easy_cleanup(p->easy);
		p->easy = NULL;
	}
	curl_slist_free_all(p->hdrs);
	p->hdrs = NULL;
	curl_slist_free_all(p->connect_to);
	p->connect_to = NULL;
}

/* ---- Go's texts for transport errors ---- */

/* "127.0.0.1:80" or "[::1]:80" of the address libcurl last tried, else the URL's host. */
static void curl_peer(struct probe *p, char *out, size_t cap, const char *fallback)
{
	char *ip = NULL;
	long port = 0;

	curl_easy_getinfo(p->easy, CURLINFO_PRIMARY_IP, &ip);
	curl_easy_getinfo(p->easy, CURLINFO_PRIMARY_PORT, &port);
	if (ip && ip[0] && port > 0)
		snprintf(out, cap, strchr(ip, ':') ? "[%s]:%ld" : "%s:%ld", ip, port);
	else
		snprintf(out, cap, "%s", fallback);
}

/* The dial part of an error: "dial tcp 127.0.0.1:1: connect: connection refused". */
static void curl_dial_error(struct probe *p, CURLcode rc, const char *hostport, const char *host,
                            char *out, size_t cap)
{
	char peer[128], eb[128];
	long oserr = 0;

	curl_peer(p, peer, sizeof(peer), hostport);
	curl_easy_getinfo(p->easy, CURLINFO_OS_ERRNO, &oserr);
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(out, cap, "dial tcp: lookup %s: no such host", host);
		break;
	case CURLE_COULDNT_CONNECT:
		snprintf(out, cap, "dial tcp %s: connect: %s", peer,
		         oserr ? probe_errno_text((int)oserr, eb) : "connection refused");
		break;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(out, cap, "dial tcp %s: i/o timeout", peer);
		break;
	default:
		snprintf(out, cap, "%s", p->errbuf[0] ? p->errbuf : curl_easy_strerror(rc));
	}
}

static bool curl_is_dial_error(CURLcode rc, long connect_ok)
{
	return rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT ||
	       (rc == CURLE_OPERATION_TIMEDOUT && !connect_ok);
}

/* The host and host:port of a URL (for texts); "" when it cannot be parsed. */
static void url_host(const char *url, char *host, size_t hcap, char *hostport, size_t hpcap)
{
	CURLU *u = curl_url();
	char *h = NULL, *port = NULL;

	host[0] = hostport[0] = '\0';
	if (!u)
		return;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
		curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
		snprintf(host, hcap, "%s", h);
		snprintf(hostport, hpcap, "%s:%s", h, port ? port : "");
	}
	curl_free(h);
	curl_free(port);
	curl_url_cleanup(u);
}

/* ---- completion ---- */

static void http_done(struct probe *p, CURLcode rc);
static void grpc_done(struct probe *p, CURLcode rc);
static void tcpname_done(struct probe *p, CURLcode rc);

/* Finished transfers: each probe's result is queued (probe_finish), no callback runs here, so
 * the multi handle's message list is not touched by a user. */
static void curl_collect(struct probe_ctx *c)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left))) {
		struct probe *p = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		CURLcode rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
		if (!p || p->easy != m->easy_handle)
			continue;
		switch (p->kind) {
		case PROBE_K_HTTP:
			http_done(p, rc);
			break;
		case PROBE_K_GRPC:
			grpc_done(p, rc);
			break;
		default:
			tcpname_done(p, rc);
		}
	}
}

/* The common options of every probe's easy handle. */
static CURL *easy_new(struct probe *p, const char *url)
{
	CURL *e = curl_easy_init();

	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)p);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf);
	/* Consul's HTTP check transport disables keep-alives: a fresh connection each time. */
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	return e;
}

static int easy_go(struct probe *p, const char **why)
{
	if (!p->easy) {
		*why = "out of memory";
		return -1;
	}
	if (curl_multi_add_handle(p->c->multi, p->easy) != CURLM_OK) {
		probe_curl_stop(p);
		*why = "libcurl refused the transfer";
		return -1;
	}
	return 0;
}

/* ---- TCP to a host name: resolve and connect only ---- */

static bool host_chars_ok(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(".-_:[]", *s))
			return false;
	return true;
}

int probe_tcpname_start(struct probe *p, const char *addr, const char **why)
{
	char url[600];

	if (strlen(addr) > 512 || !host_chars_ok(addr)) {
		probe_finishf(p, PROBE_CRITICAL, "dial tcp: address %.512s: invalid address", addr);
		return 0;
	}
	snprintf(url, sizeof(url), "http://%s/", addr);
	p->easy = easy_new(p, url);
	if (p->easy)
		curl_easy_setopt(p->easy, CURLOPT_CONNECT_ONLY, 1L);
	return easy_go(p, why);
}

static void tcpname_done(struct probe *p, CURLcode rc)
{
	char host[300], msg[700];

	if (rc == CURLE_OK) {
		probe_curl_stop(p);
		probe_finishf(p, PROBE_PASSING, "TCP connect %s: Success", p->target);
		return;
	}
	{
		/* the address as given, "host:port" */
		const char *colon = strrchr(p->target, ':');
		size_t hl = colon ? (size_t)(colon - p->target) : strlen(p->target);
		if (hl >= sizeof(host))
			hl = sizeof(host) - 1;
		memcpy(host, p->target, hl);
		host[hl] = '\0';
	}
	if (rc == CURLE_OPERATION_TIMEDOUT)
		p->c->stats.timeouts++;
	curl_dial_error(p, rc, p->target, host, msg, sizeof(msg));
	probe_curl_stop(p);
	probe_finishf(p, PROBE_CRITICAL, "%s", msg);
}

/* ---- HTTP ---- */

static size_t http_on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct probe *p = arg;
	size_t len = size * n;

	if (p->kind == PROBE_K_GRPC) {
		probe_grpc_header(&p->g, buf, len);
		return len;
	}
	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		/* A new status line (a redirect, an interim 1xx): "HTTP/1.1 200 OK". */
		const char *sp = memchr(buf, ' ', len);
		p->reason[0] = '\0';
		p->http_code = 0;
		if (sp) {
			size_t i = (size_t)(sp - buf) + 1;
			while (i < len && buf[i] >= '0' && buf[i] <= '9')
				p->http_code = p->http_code * 10 + (buf[i++] - '0');
			if (i < len && buf[i] == ' ')
				i++;
			size_t e = len;
			while (e > i && (buf[e - 1] == '\r' || buf[e - 1] == '\n' || buf[e - 1] == ' '))
				e--;
			size_t k = e - i < sizeof(p->reason) - 1 ? e - i : sizeof(p->reason) - 1;
			memcpy(p->reason, buf + i, k);
			p->reason[k] = '\0';
		}
	}
	return len;
}

/* The body: the first output_max bytes (HTTP) or PROBE_GRPC_BODY_MAX (gRPC); past that the
 * transfer is stopped, the answer is complete enough. */
static size_t http_on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct probe *p = arg;
	size_t len = size * n;
	size_t cap = p->kind == PROBE_K_GRPC ? PROBE_GRPC_BODY_MAX : p->output_max;
	size_t room = cap - p->body_len;
	size_t take = len < room ? len : room;

	if (p->body_len + take > p->body_cap) {
		size_t nc = p->body_cap ? p->body_cap : 1024;
		while (nc < p->body_len + take)
			nc *= 2;
		if (nc > cap)
			nc = cap;
		char *nb = realloc(p->body, nc);
		if (!nb)
			return 0;
		p->body = nb;
		p->body_cap = nc;
	}
	memcpy(p->body + p->body_len, buf, take);
	p->body_len += take;
	if (take < len) {
		p->body_full = true;
		return 0; /* stops the transfer (CURLE_WRITE_ERROR) */
	}
	return len;
}

static bool header_given(const struct msg_check_def *def, const char *name)
{
	for (uint32_t i = 0; i < def->header.n; i++)
		if (def->header.v[i].name && strcasecmp(def->header.v[i].name, name) == 0)
			return true;
	return false;
}

static bool add_header(struct probe *p, const char *name, const char *value)
{
	char line[8192];
	struct curl_slist *l;

	if (value && value[0])
		snprintf(line, sizeof(line), "%s: %s", name, value);
	else
		snprintf(line, sizeof(line), "%s;", name); /* an empty value: "Name;" in libcurl */
	l = curl_slist_append(p->hdrs, line);
	if (!l)
		return false;
	p->hdrs = l;
	return true;
}

static void add_header_removal(struct probe *p, const char *name)
{
	char line[128];
	struct curl_slist *l;

	snprintf(line, sizeof(line), "%s:", name); /* "Name:" removes libcurl's own */
	l = curl_slist_append(p->hdrs, line);
	if (l)
		p->hdrs = l;
}

/* RFC 7230 token characters, as Go's httpguts.ValidHeaderFieldName. */
static bool token_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

static bool value_ok(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
	return true;
}

/* Go's "Get", "Post": the op of a url.Error (net/http/client.go urlErrorOp). */
static void go_op(const char *method, char *out, size_t cap)
{
	size_t i = 0;

	for (; method[i] && i + 1 < cap; i++)
		out[i] = (char)(i == 0 ? toupper((unsigned char)method[i])
		                       : tolower((unsigned char)method[i]));
	out[i] = '\0';
}

int probe_http_start(struct probe *p, const struct msg_check_def *def, const char **why)
{
	const char *method = def->method && def->method[0] ? def->method : "GET";
	const char *url = def->http;
	char host[300], hostport[320];

	p->target = strdup(url);
	p->method = strdup(method);
	if (!p->target || !p->method) {
		*why = "out of memory";
		return -1;
	}
	/* Go's http.NewRequest and header checks: refused as the client refuses them. */
	char op[32];
	go_op(method, op, sizeof(op));
	if (!token_ok(method)) {
		probe_finishf(p, PROBE_CRITICAL, "net/http: invalid method \"%.64s\"", method);
		return 0;
	}
	for (uint32_t i = 0; i < def->header.n; i++) {
		const struct msg_header *h = &def->header.v[i];
		if (!token_ok(h->name)) {
			probe_finishf(p, PROBE_CRITICAL, "%s \"%.512s\": net/http: invalid header field name \"%.64s\"",
			              op, url, h->name ? h->name : "");
			return 0;
		}
		for (uint32_t j = 0; j < h->values.n; j++)
			if (!value_ok(h->values.v[j])) {
				probe_finishf(p, PROBE_CRITICAL,
				              "%s \"%.512s\": net/http: invalid header field value for \"%.64s\"",
				              op, url, h->name);
				return 0;
			}
	}
	url_host(url, host, sizeof(host), hostport, sizeof(hostport));
	if (!host[0] || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)) {
		probe_finishf(p, PROBE_CRITICAL, "%s \"%.512s\": unsupported protocol scheme", op, url);
		return 0;
	}

	char *conn_url = NULL;
	bool https = strncasecmp(url, "https://", 8) == 0;
	p->easy = easy_new(p, url);
	if (!p->easy)
		return easy_go(p, why);
	CURL *e = p->easy;

	/* TLSServerName (Go's tls.Config.ServerName): the name sent in SNI and verified. libcurl
	 * takes both from the URL's host, so the URL names the server name and CONNECT_TO sends the
	 * connection to the real host; the Host header keeps the URL's. */
	struct curl_slist *connect_to = NULL;
	if (https && def->tls_server_name && def->tls_server_name[0]) {
		CURLU *u = curl_url();
		char *port = NULL, *h = NULL, *explicit_port = NULL;
		if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
		    curl_url_set(u, CURLUPART_HOST, def->tls_server_name, 0) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_URL, &conn_url, 0) == CURLUE_OK) {
			char ct[700];
			snprintf(ct, sizeof(ct), "%s:%s:%s:%s", def->tls_server_name, port, h, port);
			connect_to = curl_slist_append(NULL, ct);
			curl_url_get(u, CURLUPART_PORT, &explicit_port, 0);
			if (!header_given(def, "Host")) {
				char hv[400];
				if (explicit_port)
					snprintf(hv, sizeof(hv), "%s:%s", h, explicit_port);
				else
					snprintf(hv, sizeof(hv), "%s", h);
				add_header(p, "Host", hv);
			}
		}
		curl_free(port);
		curl_free(h);
		curl_free(explicit_port);
		curl_url_cleanup(u);
		if (conn_url && connect_to) {
			curl_easy_setopt(e, CURLOPT_URL, conn_url);
			curl_easy_setopt(e, CURLOPT_CONNECT_TO, connect_to);
		}
	}

	for (uint32_t i = 0; i < def->header.n; i++) {
		const struct msg_header *h = &def->header.v[i];
		for (uint32_t j = 0; j < h->values.n; j++)
			add_header(p, h->name, h->values.v[j]);
	}
	if (!header_given(def, "User-Agent"))
		add_header(p, "User-Agent", "Consul Health Check");
	if (!header_given(def, "Accept"))
		add_header(p, "Accept", "text/plain, text/*, */*");
	add_header_removal(p, "Expect");

	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0 || (def->body && def->body[0])) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	if (def->body && def->body[0]) {
		size_t bl = strlen(def->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bl);
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, def->body);
		if (!header_given(def, "Content-Type"))
			add_header_removal(p, "Content-Type"); /* Go sends none of its own */
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, p);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
	if (!def->disable_redirects) {
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)PROBE_MAX_REDIRS);
	}
	if (def->tls_skip_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	/* libcurl copies the URL; the CONNECT_TO list lives as long as the handle. */
	p->connect_to = connect_to;
	int rc = easy_go(p, why);
	curl_free(conn_url);
	return rc;
}

static void http_done(struct probe *p, CURLcode rc)
{
	char op[32], msg[1600];
	long code = 0, connect_ok = 0;

	go_op(p->method, op, sizeof(op));
	curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(p->easy, CURLINFO_CONNECT_TIME_T, &connect_ok);
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && p->body_full)) {
		const char *reason = p->reason[0] ? p->reason : probe_http_status_text((int)code);
		enum probe_status st = code >= 200 && code <= 299 ? PROBE_PASSING
		                       : code == 429              ? PROBE_WARNING
		                                                  : PROBE_CRITICAL;
		char head[1024];
		int hl = snprintf(head, sizeof(head), "HTTP %s %.512s: %ld %s Output: ", p->method,
		                  p->target, code, reason);
		if (hl < 0)
			hl = 0;
		if ((size_t)hl >= sizeof(head))
			hl = sizeof(head) - 1;
		char *out = malloc((size_t)hl + p->body_len + 1);
		probe_curl_stop(p);
		if (!out) {
			probe_finish(p, st, head, (size_t)hl);
			return;
		}
		memcpy(out, head, (size_t)hl);
		if (p->body_len)
			memcpy(out + hl, p->body, p->body_len);
		probe_finish(p, st, out, (size_t)hl + p->body_len);
		free(out);
		return;
	}
	char host[300], hostport[320], detail[800];
	url_host(p->target, host, sizeof(host), hostport, sizeof(hostport));
	if (rc == CURLE_OPERATION_TIMEDOUT)
		p->c->stats.timeouts++;
	if (curl_is_dial_error(rc, connect_ok)) {
		curl_dial_error(p, rc, hostport, host, detail, sizeof(detail));
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(detail, sizeof(detail), "context deadline exceeded (Client.Timeout %s)",
		         code ? "or context cancellation while reading body"
		              : "exceeded while awaiting headers");
	} else if (rc == CURLE_TOO_MANY_REDIRECTS) {
		snprintf(detail, sizeof(detail), "stopped after %d redirects", PROBE_MAX_REDIRS);
	} else if (rc == CURLE_PEER_FAILED_VERIFICATION) {
		snprintf(detail, sizeof(detail), "tls: failed to verify certificate: %s",
		         p->errbuf[0] ? p->errbuf : curl_easy_strerror(rc));
	} else {
		snprintf(detail, sizeof(detail), "%s", p->errbuf[0] ? p->errbuf : curl_easy_strerror(rc));
	}
	snprintf(msg, sizeof(msg), "%s \"%.512s\": %s", op, p->target, detail);
	probe_curl_stop(p);
	probe_finishf(p, PROBE_CRITICAL, "%s", msg);
}

/* ---- gRPC ---- */

int probe_grpc_start(struct probe *p, const struct msg_check_def *def, const char **why)
{
	const char *target = def->grpc;
	const char *slash = strchr(target, '/');
	size_t slen = slash ? strlen(slash + 1) : 0;
	size_t hl = slash ? (size_t)(slash - target) : strlen(target);
	uint8_t req[PROBE_GRPC_SERVICE_MAX + 16];
	char url[700], tmo[32];

	p->target = strdup(target);
	if (!p->target) {
		*why = "out of memory";
		return -1;
	}
	size_t rl = probe_grpc_request(slash ? slash + 1 : "", slen, req, sizeof(req));
	if (rl == 0 || hl == 0 || hl > 512) {
		probe_finishf(p, PROBE_CRITICAL, "gRPC target %.512s: invalid", target);
		return 0;
	}
	char hostport[520];
	memcpy(hostport, target, hl);
	hostport[hl] = '\0';
	if (!host_chars_ok(hostport)) {
		probe_finishf(p, PROBE_CRITICAL, "gRPC target %.512s: invalid address", target);
		return 0;
	}
	snprintf(url, sizeof(url), "%s://%s%s", def->grpc_use_tls ? "https" : "http", hostport,
	         PROBE_GRPC_PATH);
	p->easy = easy_new(p, url);
	if (!p->easy)
		return easy_go(p, why);
	CURL *e = p->easy;
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	                 def->grpc_use_tls ? (long)CURL_HTTP_VERSION_2TLS
	                                   : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rl);
	curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, (const char *)req);
	add_header(p, "Content-Type", "application/grpc");
	add_header(p, "TE", "trailers");
	add_header(p, "User-Agent", "Consul Health Check");
	snprintf(tmo, sizeof(tmo), "%llum", (unsigned long long)p->timeout_ms);
	add_header(p, "grpc-timeout", tmo);
	add_header_removal(p, "Accept");
	add_header_removal(p, "Expect");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, p);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
	if (def->tls_skip_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return easy_go(p, why);
}

static void grpc_done(struct probe *p, CURLcode rc)
{
	char msg[1024], detail[800];
	long connect_ok = 0;
	enum probe_status st;
	size_t len;

	curl_easy_getinfo(p->easy, CURLINFO_CONNECT_TIME_T, &connect_ok);
	if (rc == CURLE_OK) {
		st = probe_grpc_verdict(&p->g, (const uint8_t *)p->body, p->body_len, p->target, msg,
		                        sizeof(msg), &len);
		probe_curl_stop(p);
		probe_finish(p, st, msg, len);
		return;
	}
	if (rc == CURLE_WRITE_ERROR && p->body_full) {
		snprintf(msg, sizeof(msg),
		         "rpc error: code = ResourceExhausted desc = grpc: received message larger "
		         "than max (%u)",
		         PROBE_GRPC_BODY_MAX);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		p->c->stats.timeouts++;
		snprintf(msg, sizeof(msg),
		         "rpc error: code = DeadlineExceeded desc = context deadline exceeded");
	} else if (curl_is_dial_error(rc, connect_ok)) {
		char host[520];
		const char *slash = strchr(p->target, '/');
		size_t hl = slash ? (size_t)(slash - p->target) : strlen(p->target);
		if (hl >= sizeof(host))
			hl = sizeof(host) - 1;
		memcpy(host, p->target, hl);
		host[hl] = '\0';
		char *colon = strrchr(host, ':');
		char hostonly[520];
		snprintf(hostonly, sizeof(hostonly), "%.*s", colon ? (int)(colon - host) : (int)hl,
		         host);
		curl_dial_error(p, rc, host, hostonly, detail, sizeof(detail));
		snprintf(msg, sizeof(msg),
		         "rpc error: code = Unavailable desc = connection error: desc = \"transport: "
		         "Error while dialing: %s\"",
		         detail);
	} else {
		snprintf(msg, sizeof(msg), "rpc error: code = Unavailable desc = %s",
		         p->errbuf[0] ? p->errbuf : curl_easy_strerror(rc));
	}
	probe_curl_stop(p);
	probe_finishf(p, PROBE_CRITICAL, "%s", msg);
}

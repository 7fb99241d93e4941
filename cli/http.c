/* http.c: the CLI's HTTP client for the agent's Consul API (spec §2.1, http-api.md §9.1: what the Go api package sends). */
#include "http.h"

#include "gofmt.h"

#include <ctype.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_DEFAULT_ADDR "127.0.0.1:8500"

/* --- query strings and paths ------------------------------------------------ */

static const char http_hex[] = "0123456789ABCDEF";

void http_query_init(struct http_query *q)
{
	q->s[0] = '\0';
	q->len = 0;
	q->err = false;
}

static void http_query_putc(struct http_query *q, char ch)
{
	if (q->len + 1 >= sizeof(q->s)) {
		q->err = true;
		return;
	}
	q->s[q->len++] = ch;
	q->s[q->len] = '\0';
}

/* Go's url.QueryEscape: unreserved bytes kept, space as '+', the rest %XX. */
static void http_query_escape(struct http_query *q, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			http_query_putc(q, (char)*p);
		} else if (*p == ' ') {
			http_query_putc(q, '+');
		} else {
			http_query_putc(q, '%');
			http_query_putc(q, http_hex[*p >> 4]);
			http_query_putc(q, http_hex[*p & 15]);
		}
	}
}

void http_query_add(struct http_query *q, const char *key, const char *value)
{
	if (q->len > 0)
		http_query_putc(q, '&');
	http_query_escape(q, key);
	http_query_putc(q, '=');
	if (value != NULL)
		http_query_escape(q, value);
}

void http_query_addf(struct http_query *q, const char *key, const char *fmt, ...)
{
	char v[1024];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(v, sizeof(v), fmt, ap) >= (int)sizeof(v))
		q->err = true;
	va_end(ap);
	http_query_add(q, key, v);
}

/* Go's URL.EscapedPath (shouldEscape in encodePath mode): unreserved bytes
 * and $&+,/:;=@ are kept, everything else becomes %XX. */
static int http_path_escape(struct buf *out, const char *path)
{
	for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
		if (isalnum(*p) || strchr("-_.~$&+,/:;=@", *p) != NULL)
			buf_putc(out, *p);
		else
			buf_printf(out, "%%%c%c", http_hex[*p >> 4], http_hex[*p & 15]);
	}
	return out->err ? -1 : 0;
}

/* --- the client ------------------------------------------------------------- */

static const char *http_env(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int http_read_token_file(const char *path, char *out, size_t size, char *err,
                                size_t err_size)
{
	FILE *f = fopen(path, "r");
	size_t n;
	char *s, *e;

	if (f == NULL) {
		char why[256];
		snprintf(why, sizeof(why), "%s", strerror(errno));
		why[0] = (char)tolower((unsigned char)why[0]);
		snprintf(err, err_size, "Error loading token file: open %s: %s", path, why);
		return -1;
	}
	n = fread(out, 1, size - 1, f);
	fclose(f);
	out[n] = '\0';
	/* strings.TrimSpace */
	for (s = out; *s != '\0' && isspace((unsigned char)*s); s++)
		;
	memmove(out, s, strlen(s) + 1);
	for (e = out + strlen(out); e > out && isspace((unsigned char)e[-1]); e--)
		e[-1] = '\0';
	return 0;
}

int http_client_init(struct http_client *c, const struct http_opts *o, char *err, size_t err_size)
{
	const char *addr = o->addr, *sep, *v;
	bool ssl = false;

	memset(c, 0, sizeof(*c));
	c->opts = o;
	c->verify = true;
	/* api.DefaultConfig: the environment, then the flags on top. muster
	 * also reads MUSTER_HTTP_ADDR, which wins over CONSUL_HTTP_ADDR so a
	 * muster-only setting does not disturb Consul tools beside it. */
	if (addr == NULL)
		addr = http_env("MUSTER_HTTP_ADDR");
	if (addr == NULL)
		addr = http_env("CONSUL_HTTP_ADDR");
	if (addr == NULL)
		addr = HTTP_DEFAULT_ADDR;
	if ((v = http_env("CONSUL_HTTP_SSL")) != NULL)
		(void)cflag_parse_bool(v, &ssl);
	if ((v = http_env("CONSUL_HTTP_SSL_VERIFY")) != NULL) {
		/* As strconv.ParseBool's zero value: anything but true skips it. */
		bool verify = false;
		(void)cflag_parse_bool(v, &verify);
		c->verify = verify;
	}
	snprintf(c->scheme, sizeof(c->scheme), "%s", ssl ? "https" : "http");
	sep = strstr(addr, "://");
	if (sep != NULL) {
		size_t sl = (size_t)(sep - addr);
		if (sl == 4 && strncmp(addr, "http", 4) == 0) {
			snprintf(c->scheme, sizeof(c->scheme), "http");
		} else if (sl == 5 && strncmp(addr, "https", 5) == 0) {
			snprintf(c->scheme, sizeof(c->scheme), "https");
		} else if (sl == 4 && strncmp(addr, "unix", 4) == 0) {
			if (strlen(sep + 3) >= sizeof(c->unix_path)) {
				snprintf(err, err_size, "unix socket path too long: %s", sep + 3);
				return -1;
			}
			snprintf(c->unix_path, sizeof(c->unix_path), "%s", sep + 3);
		} else {
			snprintf(err, err_size, "Unknown protocol scheme: %.*s", (int)sl, addr);
			return -1;
		}
		addr = sep + 3;
	}
	if (c->unix_path[0] != '\0')
		addr = "localhost";
	if (strlen(addr) >= sizeof(c->host) || strpbrk(addr, "/?# ") != NULL) {
		snprintf(err, err_size, "invalid agent address %s", addr);
		return -1;
	}
	snprintf(c->host, sizeof(c->host), "%s", addr);

	/* -token-file wins over -token, and the flags over the environment. */
	if (o->token != NULL)
		snprintf(c->token, sizeof(c->token), "%s", o->token);
	else if ((v = http_env("CONSUL_HTTP_TOKEN")) != NULL)
		snprintf(c->token, sizeof(c->token), "%s", v);
	v = o->token_file != NULL ? o->token_file : http_env("CONSUL_HTTP_TOKEN_FILE");
	if (v != NULL) {
		char t[HTTP_TOKEN_MAX];
		if (http_read_token_file(v, t, sizeof(t), err, err_size) != 0)
			return -1;
		if (t[0] != '\0')
			snprintf(c->token, sizeof(c->token), "%s", t);
	}
	if ((v = http_env("CONSUL_HTTP_AUTH")) != NULL)
		snprintf(c->auth, sizeof(c->auth), "%s", v);

	/* -tls-server-name: the URL names that host (SNI and the certificate
	 * check) while the connection goes to the address given. */
	v = o->tls_server_name != NULL ? o->tls_server_name : http_env("CONSUL_TLS_SERVER_NAME");
	if (v != NULL && c->unix_path[0] == '\0') {
		const char *colon = strrchr(c->host, ':');
		const char *port =
		    colon ? colon + 1 : (strcmp(c->scheme, "https") == 0 ? "443" : "80");
		char realhost[256];
		snprintf(realhost, sizeof(realhost), "%.*s",
		         (int)(colon ? (size_t)(colon - c->host) : strlen(c->host)), c->host);
		snprintf(c->connect_to, sizeof(c->connect_to), "%s:%s:%s:%s", v, port, realhost,
		         port);
		snprintf(c->host, sizeof(c->host), "%s:%s", v, port);
	}

	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		snprintf(err, err_size, "cannot initialise libcurl");
		return -1;
	}
	return 0;
}

void http_client_fini(struct http_client *c)
{
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

void http_resp_init(struct http_resp *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, HTTP_BODY_MAX);
}

void http_resp_fini(struct http_resp *r)
{
	buf_fini(&r->body);
}

/* --- one request ------------------------------------------------------------- */

struct http_xfer {
	struct http_client *c;
	struct http_resp *r;
	struct buf line; /* streaming: the partial last line */
	bool too_big;
};

static size_t http_on_body(char *p, size_t size, size_t n, void *arg)
{
	struct http_xfer *x = arg;
	size_t len = size * n;

	if (x->c->line_fn == NULL || x->r->status != 200) {
		if (buf_append(&x->r->body, p, len) != 0) {
			x->too_big = true;
			return 0;
		}
		return len;
	}
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n') {
			const char *l = buf_cstr(&x->line);
			x->c->line_fn(l ? l : "", x->line.len, x->c->line_arg);
			buf_reset(&x->line);
		} else if (buf_putc(&x->line, (uint8_t)p[i]) != 0) {
			x->too_big = true;
			return 0;
		}
	}
	return len;
}

static size_t http_on_header(char *p, size_t size, size_t n, void *arg)
{
	struct http_xfer *x = arg;
	size_t len = size * n;
	static const char name[] = "x-consul-index:";

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a 100 Continue): forget the last one's. */
		x->r->has_index = false;
		long st = 0;
		const char *sp = memchr(p, ' ', len);
		if (sp != NULL)
			st = strtol(sp + 1, NULL, 10);
		x->r->status = st;
	} else if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		char v[32];
		size_t vl = len - (sizeof(name) - 1);
		if (vl >= sizeof(v))
			vl = sizeof(v) - 1;
		memcpy(v, p + sizeof(name) - 1, vl);
		v[vl] = '\0';
		x->r->index = strtoull(v, NULL, 10);
		x->r->has_index = true;
	}
	return len;
}

static int http_on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct http_xfer *x = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return x->c->abort_fn != NULL && x->c->abort_fn(x->c->abort_arg) ? 1 : 0;
}

/* Go's net/http error for a request that did not complete:
 * `Get "URL": dial tcp HOST: connect: connection refused`. */
static void http_transport_error(struct http_client *c, const char *method, const char *url,
                                 CURLcode rc, const char *detail, char *out, size_t size)
{
	char m[16], why[512];
	long oserr = 0;
	size_t i;

	for (i = 0; method[i] != '\0' && i + 1 < sizeof(m); i++)
		m[i] = (char)(i == 0 ? method[i] : tolower((unsigned char)method[i]));
	m[i] = '\0';
	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &oserr);
	if (rc == CURLE_COULDNT_CONNECT && oserr != 0) {
		snprintf(why, sizeof(why), "%s", strerror((int)oserr));
		why[0] = (char)tolower((unsigned char)why[0]);
		if (c->unix_path[0] != '\0')
			snprintf(out, size, "%s \"%s\": dial unix %s: connect: %s", m, url,
			         c->unix_path, why);
		else
			snprintf(out, size, "%s \"%s\": dial tcp %s: connect: %s", m, url, c->host,
			         why);
	} else if (rc == CURLE_COULDNT_RESOLVE_HOST) {
		char h[256];
		const char *colon = strrchr(c->host, ':');
		snprintf(h, sizeof(h), "%.*s",
		         (int)(colon ? (size_t)(colon - c->host) : strlen(c->host)), c->host);
		snprintf(out, size, "%s \"%s\": dial tcp: lookup %s: no such host", m, url, h);
	} else {
		snprintf(out, size, "%s \"%s\": %s", m, url,
		         detail[0] != '\0' ? detail : curl_easy_strerror(rc));
	}
}

enum http_rc http_call(struct http_client *c, const char *method, const char *path,
                       const struct http_query *q, const void *body, size_t body_len,
                       struct http_resp *r)
{
	struct http_xfer x = {c, r, {0}, false};
	struct curl_slist *hdrs = NULL, *connect_to = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", hdr[HTTP_TOKEN_MAX + 32];
	struct http_query dcq;
	struct buf url;
	const char *u;
	CURLcode rc;
	enum http_rc ret = HTTP_OK;

	buf_reset(&r->body);
	r->status = 0;
	r->index = 0;
	r->has_index = false;
	r->err[0] = '\0';
	buf_init(&x.line, HTTP_BODY_MAX);
	buf_init(&url, HTTP_URL_MAX + HTTP_QUERY_MAX);
	buf_printf(&url, "%s://%s", c->scheme, c->host);
	http_path_escape(&url, path);
	/* Config.Datacenter: ?dc= on every request. */
	http_query_init(&dcq);
	if (c->opts->datacenter != NULL && c->opts->datacenter[0] != '\0')
		http_query_add(&dcq, "dc", c->opts->datacenter);
	if ((q != NULL && q->len > 0) || dcq.len > 0)
		buf_printf(&url, "?%s%s%s", q != NULL ? q->s : "",
		           q != NULL && q->len > 0 && dcq.len > 0 ? "&" : "", dcq.s);
	u = buf_cstr(&url);
	if (u == NULL || url.err || (q != NULL && q->err) || dcq.err) {
		snprintf(r->err, sizeof(r->err), "request URL for %s longer than %d bytes", path,
		         HTTP_URL_MAX + HTTP_QUERY_MAX);
		ret = HTTP_FAIL;
		goto out;
	}

	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, u);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)HTTP_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, http_on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, http_on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, http_on_progress);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	if (c->unix_path[0] != '\0')
		curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
	if (c->connect_to[0] != '\0') {
		connect_to = curl_slist_append(NULL, c->connect_to);
		curl_easy_setopt(c->curl, CURLOPT_CONNECT_TO, connect_to);
	}
	if (strcmp(c->scheme, "https") == 0) {
		const char *v;
		v = c->opts->ca_file ? c->opts->ca_file : getenv("CONSUL_CACERT");
		if (v != NULL && v[0] != '\0')
			curl_easy_setopt(c->curl, CURLOPT_CAINFO, v);
		v = c->opts->ca_path ? c->opts->ca_path : getenv("CONSUL_CAPATH");
		if (v != NULL && v[0] != '\0')
			curl_easy_setopt(c->curl, CURLOPT_CAPATH, v);
		v = c->opts->client_cert ? c->opts->client_cert : getenv("CONSUL_CLIENT_CERT");
		if (v != NULL && v[0] != '\0')
			curl_easy_setopt(c->curl, CURLOPT_SSLCERT, v);
		v = c->opts->client_key ? c->opts->client_key : getenv("CONSUL_CLIENT_KEY");
		if (v != NULL && v[0] != '\0')
			curl_easy_setopt(c->curl, CURLOPT_SSLKEY, v);
		if (!c->verify) {
			curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 0L);
		}
	}
	if (c->auth[0] != '\0') {
		curl_easy_setopt(c->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c->curl, CURLOPT_USERPWD, c->auth);
	}
	/* The Go client sends no Content-Type and never waits for 100 Continue. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	hdrs = curl_slist_append(hdrs, "Content-Type:");
	if (c->token[0] != '\0') {
		snprintf(hdr, sizeof(hdr), "X-Consul-Token: %s", c->token);
		hdrs = curl_slist_append(hdrs, hdr);
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
		if (body != NULL || strcmp(method, "DELETE") != 0) {
			curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
			                 (curl_off_t)body_len);
			curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body != NULL ? body : "");
		}
	}

	rc = curl_easy_perform(c->curl);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
		if (c->line_fn != NULL && r->status == 200 && x.line.len > 0) {
			const char *l = buf_cstr(&x.line);
			c->line_fn(l ? l : "", x.line.len, c->line_arg);
		}
	} else if (rc == CURLE_ABORTED_BY_CALLBACK) {
		ret = HTTP_ABORTED;
		snprintf(r->err, sizeof(r->err), "request aborted");
	} else if (x.too_big) {
		snprintf(r->err, sizeof(r->err), "answer to %s %s larger than %u bytes", method,
		         path, HTTP_BODY_MAX);
		ret = HTTP_FAIL;
	} else {
		http_transport_error(c, method, u, rc, errbuf, r->err, sizeof(r->err));
		ret = HTTP_FAIL;
	}
out:
	curl_slist_free_all(hdrs);
	curl_slist_free_all(connect_to);
	buf_fini(&x.line);
	buf_fini(&url);
	return ret;
}

void http_status_error(const struct http_resp *r, char *out, size_t size)
{
	const char *p = (const char *)r->body.p;
	size_t n = r->body.len;

	while (n > 0 && isspace((unsigned char)p[0]))
		p++, n--;
	while (n > 0 && isspace((unsigned char)p[n - 1]))
		n--;
	snprintf(out, size, "Unexpected response code: %ld (%.*s)", r->status, (int)n,
	         n > 0 ? p : "");
}

int http_ok(struct http_client *c, const char *method, const char *path, const struct http_query *q,
            const void *body, size_t body_len, struct http_resp *r, char *err, size_t err_size)
{
	enum http_rc rc = http_call(c, method, path, q, body, body_len, r);

	if (rc != HTTP_OK) {
		snprintf(err, err_size, "%s", r->err);
		return -1;
	}
	if (r->status != 200) {
		http_status_error(r, err, err_size);
		return -1;
	}
	return 0;
}

int http_node_name(struct http_client *c, char *out, size_t size, char *err, size_t err_size)
{
	struct http_resp r;
	struct json_object *self, *cfg, *name;
	int rc = -1;

	http_resp_init(&r);
	if (http_ok(c, "GET", "/v1/agent/self", NULL, NULL, 0, &r, err, err_size) != 0)
		goto out;
	self = json_tokener_parse(buf_cstr(&r.body) ? buf_cstr(&r.body) : "");
	if (self != NULL && json_object_object_get_ex(self, "Config", &cfg) &&
	    json_object_object_get_ex(cfg, "NodeName", &name) &&
	    json_object_is_type(name, json_type_string)) {
		snprintf(out, size, "%s", json_object_get_string(name));
		rc = 0;
	} else {
		snprintf(err, err_size, "agent/self did not name the node");
	}
	json_object_put(self);
out:
	http_resp_fini(&r);
	return rc;
}

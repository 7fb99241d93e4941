/* http.h: the CLI's HTTP client for the agent's Consul API, and the HTTP flags every such command takes (spec §2.1). */
#ifndef MUSTER_CLI_HTTP_H
#define MUSTER_CLI_HTTP_H

#include "buf.h"
#include "cflag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A limit on everything: no answer of the agent is read past this (a KV
 * export of a large store fits; KV values are at most 512 KiB each). */
#define HTTP_BODY_MAX  (64u << 20)
#define HTTP_QUERY_MAX 8192
#define HTTP_URL_MAX   2048
#define HTTP_ERR_MAX   2048
#define HTTP_TOKEN_MAX 1024
/* The connect timeout; blocking queries themselves have no overall one. */
#define HTTP_CONNECT_TIMEOUT_MS 10000

/* The HTTP flags (command/flags/http.go): ClientFlags on every HTTP
 * command, ServerFlags (-datacenter, -stale) where Consul merges them. */
struct http_opts {
	const char *addr;
	const char *token;
	const char *token_file;
	const char *ca_file;
	const char *ca_path;
	const char *client_cert;
	const char *client_key;
	const char *tls_server_name;
	const char *datacenter;
	bool stale;
};

#define HTTP_CLIENT_FLAGS(o)                                                                       \
	CFLAG_STR("http-addr", &(o)->addr,                                                         \
	          "The address and port of the agent's HTTP API: host:port, http://, https:// or " \
	          "unix:///path. Also CONSUL_HTTP_ADDR (or MUSTER_HTTP_ADDR, which wins). "        \
	          "Default http://127.0.0.1:8500."),                                               \
	    CFLAG_STR(                                                                             \
	        "token", &(o)->token,                                                              \
	        "ACL token to use in the request (X-Consul-Token). Also CONSUL_HTTP_TOKEN."),      \
	    CFLAG_STR("token-file", &(o)->token_file,                                              \
	              "File containing the ACL token; wins over -token. Also "                     \
	              "CONSUL_HTTP_TOKEN_FILE."),                                                  \
	    CFLAG_STR("ca-file", &(o)->ca_file, "CA file for TLS. Also CONSUL_CACERT."),           \
	    CFLAG_STR("ca-path", &(o)->ca_path,                                                    \
	              "Directory of CA certificates for TLS. Also CONSUL_CAPATH."),                \
	    CFLAG_STR("client-cert", &(o)->client_cert,                                            \
	              "Client certificate for TLS. Also CONSUL_CLIENT_CERT."),                     \
	    CFLAG_STR("client-key", &(o)->client_key,                                              \
	              "Client key for TLS. Also CONSUL_CLIENT_KEY."),                              \
	    CFLAG_STR("tls-server-name", &(o)->tls_server_name,                                    \
	              "Server name (SNI) for TLS. Also CONSUL_TLS_SERVER_NAME.")

#define HTTP_SERVER_FLAGS(o)                                                                       \
	CFLAG_STR("datacenter", &(o)->datacenter,                                                  \
	          "Name of the datacenter to query (default: the agent's)."),                      \
	    CFLAG_BOOL("stale", &(o)->stale,                                                       \
	               "Permit any server (non-leader) to answer reads. Default false.")

/* A query string being built: key=value pairs escaped as Go's
 * url.QueryEscape does; an overflow sticks and fails the request. */
struct http_query {
	char s[HTTP_QUERY_MAX];
	size_t len;
	bool err;
};

void http_query_init(struct http_query *q);
/* value NULL sends the bare key with an empty value ("stale="), as Go's
 * url.Values does for params.Set(k, ""). */
void http_query_add(struct http_query *q, const char *key, const char *value);
void http_query_addf(struct http_query *q, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Aborts a request in progress when it returns true: lock and watch stop
 * a blocking query when their child exits or a signal asks them to. */
typedef bool (*http_abort_fn)(void *arg);

struct http_client {
	void *curl;           /* CURL *: one easy handle, its connection kept */
	char scheme[8];       /* http or https */
	char host[256];       /* host:port of the URL */
	char unix_path[108];  /* unix:///path: the socket */
	char connect_to[600]; /* -tls-server-name: CURLOPT_CONNECT_TO */
	char token[HTTP_TOKEN_MAX];
	char auth[256]; /* CONSUL_HTTP_AUTH user:pass */
	const struct http_opts *opts;
	bool verify; /* CONSUL_HTTP_SSL_VERIFY */
	http_abort_fn abort_fn;
	void *abort_arg;
	/* Streaming: called with each complete line of the body instead of
	 * keeping it (monitor); the line has no newline. */
	void (*line_fn)(const char *line, size_t len, void *arg);
	void *line_arg;
};

/* An answer: the status and body (NUL-terminated through buf_cstr), the
 * X-Consul-Index; or, when the request did not complete, err says why in
 * Go's net/http form ("Get \"http://...\": dial tcp ...: connect:
 * connection refused"). */
struct http_resp {
	long status;
	struct buf body;
	uint64_t index;
	bool has_index;
	char err[HTTP_ERR_MAX];
};

enum http_rc {
	HTTP_OK = 0,       /* the request completed: see status */
	HTTP_FAIL = -1,    /* transport error: see err */
	HTTP_ABORTED = -2, /* abort_fn said stop */
};

/* The address, token and TLS settings from the flags and the environment
 * (flag, then MUSTER_HTTP_ADDR, then CONSUL_HTTP_ADDR, then the default);
 * 0, or -1 with Consul's reason in err ("Unknown protocol scheme: ftp"). */
int http_client_init(struct http_client *c, const struct http_opts *o, char *err, size_t err_size);
void http_client_fini(struct http_client *c);

void http_resp_init(struct http_resp *r);
void http_resp_fini(struct http_resp *r);

/* One request. path is unescaped ("/v1/kv/a b") and escaped here as Go's
 * URL.EscapedPath does; q may be NULL; ?dc= is added when -datacenter was
 * given. */
enum http_rc http_call(struct http_client *c, const char *method, const char *path,
                       const struct http_query *q, const void *body, size_t body_len,
                       struct http_resp *r);

/* The Go api's requireOK error: "Unexpected response code: 500 (body)",
 * the body trimmed of surrounding white space. */
void http_status_error(const struct http_resp *r, char *out, size_t size);

/* http_call that must answer 200: 0, or -1 with the error text (transport
 * or status) in err. */
int http_ok(struct http_client *c, const char *method, const char *path, const struct http_query *q,
            const void *body, size_t body_len, struct http_resp *r, char *err, size_t err_size);

/* The agent's node name (GET /v1/agent/self, Config.NodeName), which
 * Consul's lock, watch, maint and event ask first to prove the agent is
 * there: 0, or -1 with the error in err. */
int http_node_name(struct http_client *c, char *out, size_t size, char *err, size_t err_size);

#endif

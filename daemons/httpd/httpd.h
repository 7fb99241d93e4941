/* httpd.h: httpd's internals: the server, a request's life, the route table, the handlers of each API area. */
#ifndef MUSTER_HTTPD_H
#define MUSTER_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "daemon.h"
#include "hquery.h"
#include "ipc.h"
#include "msg.h"

struct json_object;
struct filter;
struct MHD_Connection;
struct MHD_Daemon;

/* Limits (habit 7); the configurable ones come from limits.* in the
 * config (kv_max_value_size, txn_max_req_len, http_max_conns_per_client). */
#define HTTPD_LISTEN_MAX      16           /* addresses of client_addr / addresses.http */
#define HTTPD_CONN_MAX        8192         /* MHD_OPTION_CONNECTION_LIMIT: blocking queries */
#define HTTPD_BODY_MAX_OTHER  (1u << 20)   /* a body of an endpoint with no size rule of its own */
#define HTTPD_HEADERS_MAX     64           /* response headers of one request */
#define HTTPD_MHD_TICK_MS     500          /* MHD_run at least this often */
#define HTTPD_MHD_LOG_PER_S   10           /* libmicrohttpd's messages logged per second */
#define HTTPD_MHD_RUNS_PER_TURN 8          /* MHD_run again while it has ready sockets */
#define HTTPD_STREAM_POLL_MS  2000         /* a quiet stream checks its client is still there */
#define HTTPD_SUSPEND_POLL_MS 1000         /* so does a request waiting on the bus */
#define HTTPD_STREAM_BLOCK    (64u << 10)  /* bytes MHD takes from a stream at once */
#define HTTPD_CONN_MEMORY     (128u << 10) /* MHD's pool per connection: request line, headers, args */
#define HTTPD_IDLE_TIMEOUT_S  660          /* > max wait 10 min + jitter: a blocking reply is not cut */
#define HTTPD_CALL_TIMEOUT_MS 10000        /* a bus call that does not block */
#define HTTPD_CALL_MARGIN_MS  5000         /* added to wait + wait/16 for a blocking call */
#define HTTPD_STOP_DRAIN_MS   500          /* a stop waits this long for replies on their way */
#define HTTPD_WAIT_DEFAULT_MS (300u * 1000) /* spec §1.10: 5 min */
#define HTTPD_WAIT_MAX_MS     (600u * 1000) /* spec §1.10: 10 min */
#define HTTPD_MONITORS_MAX    64           /* concurrent /v1/agent/monitor streams */
#define HTTPD_MONITOR_BUF_MAX (256u << 10) /* log bytes queued for one slow monitor */

/* Method bits (a route's allowed methods, a request's method). */
enum http_method {
	HTTP_GET = 1u << 0,
	HTTP_HEAD = 1u << 1,
	HTTP_PUT = 1u << 2,
	HTTP_POST = 1u << 3,
	HTTP_DELETE = 1u << 4,
	HTTP_OPTIONS = 1u << 5,
	HTTP_OTHER = 1u << 6,
};

struct http_req;
typedef void (*http_handler)(struct http_req *r);

/* Route flags: what the core parses and checks before the handler runs. */
enum http_route_flag {
	/* A read with consistency modes and blocking (spec §1.7, §1.9, §1.10):
	 * the core parses ?stale ?consistent ?index ?wait ?max_stale ?cached
	 * into r->opts (400 on bad values) before the handler runs. */
	HTTP_F_QUERY = 1u << 0,
	/* ?filter is taken: the core parses it into r->filter (500 with
	 * Consul's text on a bad expression); NULL when absent. */
	HTTP_F_FILTER = 1u << 1,
	/* The route is a prefix (ends in '/'): r->id is the decoded rest,
	 * possibly empty, possibly with '/'. Otherwise the path must match
	 * exactly. */
	HTTP_F_PREFIX = 1u << 2,
	/* The body limit is limits.kv_max_value_size (413 with the KV text)
	 * or limits.txn_max_req_len (413 with the txn text). */
	HTTP_F_BODY_KV = 1u << 3,
	HTTP_F_BODY_TXN = 1u << 4,
};

struct http_route {
	const char *path; /* "/v1/kv/" (prefix) or "/v1/status/leader" */
	unsigned methods; /* HTTP_* bits; OPTIONS is always allowed */
	unsigned flags;   /* HTTP_F_* */
	http_handler handler;
};

/* One HTTP request, from its first header to the response queued. */
struct http_req {
	struct httpd *h;
	struct MHD_Connection *conn;
	const struct http_route *route;
	unsigned method;        /* one HTTP_* bit */
	const char *method_str; /* as sent */
	char *path;             /* percent-decoded */
	const char *id;         /* the decoded rest after a prefix route ("" none) */
	char *uri; /* raw, as sent (MHD's URI log callback) */
	struct hquery query;
	struct buf body;
	bool started;    /* the request line and headers were seen */
	bool dispatched; /* the handler ran */
	char token_buf[256];
	const char *token; /* ?token, X-Consul-Token, Authorization: Bearer (spec §1.6); "" none */
	bool pretty;

	/* Filled by the core for HTTP_F_QUERY routes. */
	struct msg_query_opts opts;
	uint64_t call_timeout_ms; /* for a call carrying opts: wait + wait/16 + margin */
	struct filter *filter;    /* HTTP_F_FILTER routes, NULL without ?filter */

	/* The response being built (core-private after http_reply_*). */
	unsigned status;
	size_t n_headers;
	struct {
		char *name;
		char *value;
	} headers[HTTPD_HEADERS_MAX];
	char *resp;
	size_t resp_len;
	bool replied;

	/* Bus call in flight (core-private). */
	bool suspended;
	bool closed; /* the client went away while suspended: answered, not resumed again */
	bool orphan; /* MHD let go of it with a bus call in flight: the call frees it */
	struct http_req *susp_next, **susp_pprev; /* httpd's list of suspended requests */
	char call_peer[IPC_NAME_MAX];
	void (*call_done)(struct http_req *r, enum ipc_status st, struct msg *reply);
	void *arg; /* the handler's own state across a call */
	void (*arg_free)(void *arg);

	/* Streaming (monitor): core-private. */
	struct http_stream *stream;
	uint64_t started_ms;
};

/* --- responses: exactly one http_reply_* per request --------------------- */

/* JSON body, application/json; takes o (may be NULL for a JSON null);
 * honours ?pretty. */
void http_reply_json(struct http_req *r, unsigned status, struct json_object *o);
/* Plain-text error or message (spec §1.4, §1.11); no explicit charset is
 * needed by clients but "text/plain; charset=utf-8" is sent as Go does. */
void http_reply_text(struct http_req *r, unsigned status, const char *text);
void http_reply_errorf(struct http_req *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* 200-style empty body, no Content-Type (spec §1.4). */
void http_reply_empty(struct http_req *r, unsigned status);
/* Raw bytes with a content type (KV ?raw, metrics text); copied. */
void http_reply_raw(struct http_req *r, unsigned status, const char *content_type,
                    const void *p, size_t len);
/* JSON true/false (KV PUT/DELETE, session destroy, catalog register). */
void http_reply_bool(struct http_req *r, bool v);

/* Adds a response header (copied); call before http_reply_*. */
void http_header(struct http_req *r, const char *name, const char *value);
/* X-Consul-Index (0 written as 1), X-Consul-KnownLeader,
 * X-Consul-LastContact, X-Consul-Effective-Consistency (spec §1.5). */
void http_set_meta(struct http_req *r, const struct msg_query_meta *m);

/* --- bus calls ----------------------------------------------------------
 * Sends req (its fields are borrowed: the caller frees its own strings
 * after the call returns) to peer ("raftd", "musterd", ...), suspends the
 * connection, and runs done(r, st, reply) when the reply, the deadline or
 * a cancellation comes; done must call http_reply_* (or another
 * http_call). timeout_ms 0 means r->call_timeout_ms when the route is a
 * query, else HTTPD_CALL_TIMEOUT_MS. When the request cannot be queued,
 * the core answers 503 itself and done is not called. */
void http_call(struct http_req *r, const char *peer, struct msg *req, uint64_t timeout_ms,
               void (*done)(struct http_req *r, enum ipc_status st, struct msg *reply));
/* For done callbacks: when st is not IPC_OK or reply is a RESULT (an error
 * with Consul's status and text), answers it (500/503 with a clear text)
 * and returns true. Otherwise checks reply->type == want and returns false
 * (a wrong type is answered 500 and true). */
bool http_reply_bus_error(struct http_req *r, enum ipc_status st, const struct msg *reply,
                          enum msg_type want);

/* Whether elem passes r->filter (true without a filter). */
bool http_filter_ok(const struct http_req *r, struct json_object *elem);
/* Appends elem to the JSON array list when it passes r->filter, else
 * drops it; takes elem. */
void http_filter_append(const struct http_req *r, struct json_object *list,
                        struct json_object *elem);

/* A request body as JSON (NULL for an empty body); on a decode error
 * answers 400 "Request decode failed: <reason>" and sets *failed. */
struct json_object *http_body_json(struct http_req *r, bool *failed);
/* A body that must be one JSON object, as Consul's decodeBody into a
 * struct of Go type gotype ("structs.ServiceDefinition"): NULL after
 * answering 400 "Request decode failed: EOF" (empty), "...: json: cannot
 * unmarshal array into Go value of type <gotype>" or the parse error. */
struct json_object *http_body_object(struct http_req *r, const char *gotype);

/* ?node-meta=k:v (repeated) into a strmap (msg-owned strings). */
void http_node_meta(struct http_req *r, struct msg_strmap *out);

/* ?dc: the agent's own datacenter only (spec §1.7). */
const char *http_datacenter(const struct http_req *r);

/* --- the server ---------------------------------------------------------- */

struct httpd {
	struct daemon *d;
	struct MHD_Daemon *mhd[HTTPD_LISTEN_MAX];
	int mhd_watch[HTTPD_LISTEN_MAX];
	size_t n_mhd;
	uint64_t mhd_timer;
	bool kick_pending;
	uint64_t mhd_log_sec, mhd_log_n, mhd_log_dropped;
	struct ipc_client *raftd;
	struct ipc_client *musterd;
	struct ipc_client *healthd;
	struct ipc_client *gossipd;
	struct http_stream *streams;   /* live streaming responses */
	struct http_req *suspended;    /* requests waiting on the bus */
	uint64_t suspend_timer;
	uint64_t clients_gone;
	struct http_monitor *monitors; /* /v1/agent/monitor streams (api_agent.c) */
	size_t n_monitors;
	int monitor_level; /* the MONITOR_LEVEL last sent: -1 none, -2 not known */
	struct ipc_sub *log_subs[6];  /* LOG_LINE of every daemon, while monitors exist */
	uint64_t start_unix_ms;
	/* counters for STATS */
	uint64_t requests, responses_2xx, responses_4xx, responses_5xx, blocking, bus_errors;
	uint64_t in_flight;
};

int httpd_start(struct httpd *h, struct daemon *d);
void httpd_stop(struct httpd *h);
void httpd_stats(struct httpd *h, struct msg_daemon_stats *out);
/* Runs MHD soon (after a resume or a new stream chunk). */
void httpd_kick(struct httpd *h);

/* The route table (route.c) and its lookup. */
extern const struct http_route http_routes[];
extern const size_t http_routes_n;
/* The route of a decoded path (NULL: none); *rest is the identifier after
 * a prefix route. */
const struct http_route *http_route_find(const char *path, const char **rest);

/* --- handlers, one file per API area ------------------------------------ */

/* api_kv.c (spec §6) */
void api_kv(struct http_req *r);
/* api_txn.c (spec §8.3) */
void api_txn(struct http_req *r);
/* api_session.c (spec §7) */
void api_session_create(struct http_req *r);
void api_session_destroy(struct http_req *r);
void api_session_renew(struct http_req *r);
void api_session_info(struct http_req *r);
void api_session_node(struct http_req *r);
void api_session_list(struct http_req *r);
/* api_catalog.c (spec §4) */
void api_catalog_register(struct http_req *r);
void api_catalog_deregister(struct http_req *r);
void api_catalog_datacenters(struct http_req *r);
void api_catalog_nodes(struct http_req *r);
void api_catalog_services(struct http_req *r);
void api_catalog_service(struct http_req *r);
void api_catalog_node(struct http_req *r);
void api_catalog_node_services(struct http_req *r);
/* api_health.c (spec §5) */
void api_health_node(struct http_req *r);
void api_health_checks(struct http_req *r);
void api_health_service(struct http_req *r);
void api_health_state(struct http_req *r);
/* api_status.c (spec §8.1, §8.5) */
void api_status_leader(struct http_req *r);
void api_status_peers(struct http_req *r);
void api_operator_raft_configuration(struct http_req *r);
void api_operator_raft_peer(struct http_req *r);
void api_operator_raft_transfer_leader(struct http_req *r);
void api_operator_autopilot_health(struct http_req *r);
/* /v1/operator/keyring: gossipd's keyring (Consul's operator_endpoint.go) */
void api_operator_keyring(struct http_req *r);
/* api_agent.c (spec §3) */
void api_agent_self(struct http_req *r);
void api_agent_reload(struct http_req *r);
void api_agent_leave(struct http_req *r);
void api_agent_metrics(struct http_req *r);
void api_agent_monitor(struct http_req *r);
/* api_agent.c: gossip membership, answered by gossipd (§3.2, §3.3, §3.5) */
void api_agent_members(struct http_req *r);
void api_agent_join(struct http_req *r);
void api_agent_force_leave(struct http_req *r);
/* api_agent_local.c: this agent's services and checks, answered by healthd
 * (§3.7, §3.10-§3.20) */
void api_agent_services(struct http_req *r);
void api_agent_service(struct http_req *r);
void api_agent_service_register(struct http_req *r);
void api_agent_service_deregister(struct http_req *r);
void api_agent_service_maintenance(struct http_req *r);
void api_agent_maintenance(struct http_req *r);
void api_agent_checks(struct http_req *r);
void api_agent_check_register(struct http_req *r);
void api_agent_check_deregister(struct http_req *r);
void api_agent_check_pass(struct http_req *r);
void api_agent_check_warn(struct http_req *r);
void api_agent_check_fail(struct http_req *r);
void api_agent_check_update(struct http_req *r);
void api_agent_health_service_id(struct http_req *r);
void api_agent_health_service_name(struct http_req *r);
/* api_event.c: user events, answered by gossipd (§8.2) */
void api_event_fire(struct http_req *r);
void api_event_list(struct http_req *r);
/* Endpoints whose daemon is a later issue: 503 naming what is missing. */
void api_not_built(struct http_req *r);
/* /ui/ static files and GET / (spec §1.1). */
void api_ui(struct http_req *r);
void api_root(struct http_req *r);
/* api_agent.c: monitor plumbing the core calls. */
void api_agent_monitors_init(struct httpd *h);
void api_agent_monitors_fini(struct httpd *h);

/* --- streaming responses (monitor) --------------------------------------
 * http_stream_start answers 200 with the given content type at once and
 * keeps the connection open; http_stream_write queues bytes (dropped with
 * a count when more than HTTPD_MONITOR_BUF_MAX are waiting);
 * on_close(arg) runs once when the client goes away or the stream ends
 * with http_stream_end. */
struct http_stream;
struct http_stream *http_stream_start(struct http_req *r, const char *content_type,
                                      void (*on_close)(void *arg), void *arg);
int http_stream_write(struct http_stream *s, const void *p, size_t len);
void http_stream_end(struct http_stream *s);

#endif

/* api_agent.c: this agent's endpoints: self, reload, leave, metrics, monitor; the UI, GET / and the
 * not-yet-built ones (spec/http-api.md §1.1, §3). Its services and checks: api_agent_local.c. */
#include "httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "gofmt.h"
#include "hjson.h"
#include "log.h"
#include "xalloc.h"

/* Limits (habit 7). */
#define API_DEBUG_CONFIG_MAX (1u << 20)  /* bytes of the resolved config in agent/self */
#define API_METRICS_MAX      4096        /* metrics in one agent/metrics answer */
#define API_METRICS_TEXT_MAX (4u << 20)  /* bytes of the Prometheus text */
#define API_MONITOR_MSG_MAX  2048        /* bytes of a log line kept (log.c's own cut) */
#define API_MONITOR_LINE_MAX 16384       /* bytes of one formatted line: JSON escapes */
#define API_UI_FILE_MAX      (32u << 20) /* bytes of one UI file served */
#define API_UI_PATH_MAX      4096
#define API_STATS_TIMEOUT_MS 8000 /* musterd gives each daemon 5 s to answer STATS */
/* A join (memberlist's 10 s TCP timeout per address) or a force-leave
 * (serf's 5 s broadcast timeout) answers later than an ordinary call. */
#define API_GOSSIP_SLOW_MS   30000

/* Where `make install` puts the UI: <datadir>/muster/ui. The Makefile may
 * pass MUSTER_DATADIR; otherwise it is the share/ beside libexec/. */
#ifndef MUSTER_DATADIR
#define MUSTER_DATADIR MUSTER_LIBEXECDIR "/../../share"
#endif
#define API_UI_INSTALLED_DIR MUSTER_DATADIR "/muster/ui"

/* --- endpoints whose daemon is a later issue ------------------------------ */

/* What is missing, by route: the route table sends every endpoint of a
 * daemon that does not exist yet here (route.c). */
static const struct {
	const char *prefix;
	const char *text;
} api_missing[] = {
    {"/v1/coordinate/", "network coordinates are not built yet: they arrive in a later issue"},
    {"/v1/query", "prepared queries are not built yet: they arrive in a later issue"},
    {"/v1/snapshot", "snapshots over HTTP are not built yet: they arrive in a later issue"},
    {"/v1/acl/", "the ACL system is not built yet: it arrives in a later issue"},
};

void api_not_built(struct http_req *r)
{
	const char *path = r->route != NULL ? r->route->path : r->path;

	for (size_t i = 0; i < sizeof(api_missing) / sizeof(api_missing[0]); i++) {
		if (strncmp(path, api_missing[i].prefix, strlen(api_missing[i].prefix)) == 0) {
			http_reply_text(r, 503, api_missing[i].text);
			return;
		}
	}
	http_reply_errorf(r, 503, "%s is not built yet", path);
}

/* --- GET / and /robots.txt, /ui/ (§1.1) ---------------------------------- */

void api_root(struct http_req *r)
{
	const struct conf_ui *ui = &r->h->d->conf.ui_config;

	if (strcmp(r->path, "/robots.txt") == 0) {
		/* Consul keeps crawlers off the agent. */
		http_reply_raw(r, 200, "text/plain; charset=utf-8", "User-agent: *\nDisallow: /\n",
		               26);
		return;
	}
	if (ui->enabled) {
		http_header(r, "Location", ui->content_path ? ui->content_path : "/ui/");
		http_reply_empty(r, 301);
		return;
	}
	http_reply_text(r, 200,
	                "muster agent: UI disabled. To enable, set ui_config.enabled=true in the "
	                "agent configuration and restart.");
}

static const char *api_ui_content_type(const char *path)
{
	static const struct {
		const char *ext;
		const char *type;
	} t[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".htm", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".mjs", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".map", "application/json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".jpg", "image/jpeg"},
	    {".jpeg", "image/jpeg"},
	    {".gif", "image/gif"},
	    {".ico", "image/x-icon"},
	    {".webp", "image/webp"},
	    {".woff", "font/woff"},
	    {".woff2", "font/woff2"},
	    {".ttf", "font/ttf"},
	    {".txt", "text/plain; charset=utf-8"},
	    {".xml", "text/xml; charset=utf-8"},
	    {".wasm", "application/wasm"},
	};
	const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');

	if (dot != NULL && (slash == NULL || dot > slash)) {
		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
			if (strcasecmp(dot, t[i].ext) == 0)
				return t[i].type;
	}
	return "application/octet-stream";
}

/* A path below the UI root: no "..", no ".", no empty segment in the
 * middle (Go's mux would have redirected it), no backslash tricks. */
static bool api_ui_path_ok(const char *rel)
{
	const char *p = rel;

	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (n == 0 && p[1] != '\0')
			return false; /* "a//b" */
		p += n;
		if (*p == '/')
			p++;
	}
	return strchr(rel, '\\') == NULL;
}

/* 0 with the file read, 1 when it is not a regular file there, -1 on an
 * error (too large, unreadable). */
static int api_ui_read(const char *path, struct buf *out)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == EISDIR ? 1 : -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 1;
	}
	if ((uint64_t)st.st_size > API_UI_FILE_MAX) {
		close(fd);
		return -1;
	}
	buf_init(out, API_UI_FILE_MAX);
	if (buf_reserve(out, (size_t)st.st_size) != 0) {
		close(fd);
		buf_fini(out);
		return -1;
	}
	while (out->len < (size_t)st.st_size) {
		ssize_t n = read(fd, out->p + out->len, (size_t)st.st_size - out->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		out->len += (size_t)n;
	}
	close(fd);
	return 0;
}

/* The UI is a single-page app: a path that names no file and has no
 * extension gets index.html, so the app's own routes load (Consul's UI
 * server does the same). */
void api_ui(struct http_req *r)
{
	const struct conf_ui *ui = &r->h->d->conf.ui_config;
	const char *root = ui->dir != NULL && ui->dir[0] != '\0' ? ui->dir : API_UI_INSTALLED_DIR;
	const char *rel = r->id;
	char path[API_UI_PATH_MAX];
	struct stat st;
	struct buf b;
	int rc;

	if (!ui->enabled) {
		http_reply_text(
		    r, 404,
		    "Invalid URL path: if attempting to use the HTTP API, ensure the path "
		    "starts with '/v1/'");
		return;
	}
	if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
		http_reply_errorf(
		    r, 404, "UI not found: no directory %s (set ui_config.dir to the UI's files)",
		    root);
		return;
	}
	if (!api_ui_path_ok(rel)) {
		http_reply_text(r, 404, "404 page not found");
		return;
	}
	rc = 1;
	if (rel[0] != '\0' && rel[strlen(rel) - 1] != '/') {
		if (snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int)sizeof(path)) {
			http_reply_text(r, 404, "404 page not found");
			return;
		}
		rc = api_ui_read(path, &b);
		if (rc == 1 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			/* A directory: its index.html, under a path ending in
			 * '/' so that relative links resolve (as http.FileServer). */
			char *loc = xasprintf("%s/", r->path);

			http_header(r, "Location", loc);
			free(loc);
			http_reply_empty(r, 301);
			return;
		}
	} else if (rel[0] != '\0') {
		if (snprintf(path, sizeof(path), "%s/%sindex.html", root, rel) >=
		    (int)sizeof(path)) {
			http_reply_text(r, 404, "404 page not found");
			return;
		}
		rc = api_ui_read(path, &b);
	}
	/* A missing asset (a name with an extension) stays a 404; an app
	 * route gets the app. */
	if (rc == 1 && strchr(strrchr(r->path, '/'), '.') == NULL) {
		snprintf(path, sizeof(path), "%s/index.html", root);
		rc = api_ui_read(path, &b);
	}
	if (rc == 1) {
		http_reply_text(r, 404, "404 page not found");
		return;
	}
	if (rc != 0) {
		http_reply_errorf(r, 500,
		                  "UI file %s cannot be served (unreadable, or over %u bytes)",
		                  path, API_UI_FILE_MAX);
		return;
	}
	http_reply_raw(r, 200, api_ui_content_type(path), b.p, b.len);
	buf_fini(&b);
}

/* --- PUT /v1/agent/reload (§3.6), PUT /v1/agent/leave (§3.4) ------------- */

/* musterd answers RESULT 200 once every daemon reloaded, or the error. */
static void api_agent_result_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	if (st == IPC_OK && reply->type == MSG_RESULT && reply->u.result.status == 200) {
		http_reply_empty(r, 200);
		return;
	}
	if (http_reply_bus_error(r, st, reply, MSG_RESULT))
		return;
	http_reply_text(r, 500, "unexpected reply to the request");
}

void api_agent_reload(struct http_req *r)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_RELOAD;
	http_call(r, "musterd", &m, API_STATS_TIMEOUT_MS, api_agent_result_done);
}

/* musterd asks gossipd to leave the cluster and, once it has, answers 200
 * and then stops the daemons (httpd first): the 200 is queued before the
 * stop reaches httpd. A failed leave leaves the agent running (musterd's
 * bus.c), with the reason as the answer. */
void api_agent_leave(struct http_req *r)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_LEAVE;
	http_call(r, "musterd", &m, MSG_LEAVE_TIMEOUT_MS + MSG_LEAVE_RAFT_MS + HTTPD_CALL_MARGIN_MS,
	          api_agent_result_done);
}

/* --- gossip membership: members, join, force-leave (§3.2, §3.3, §3.5) ------
 * Answered by gossipd from its pools; agent endpoints, so no index
 * headers. A gossipd not running yet (or restarting) is a 503. */

/* Consul's AgentMembers: the WAN pool when ?wan has any non-empty value;
 * ?segment "" or "_all" (what the CLI sends) is this agent's only
 * segment, with wan any other segment is a 400, without it the errors of
 * Consul CE's LANMembers (a server has no segments, a client only its
 * own ""). A client's WAN list is empty: gossipd answers it. */
static void api_agent_members_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	const struct msg_member_list *ml;
	struct json_object *a;

	if (http_reply_bus_error(r, st, reply, MSG_MEMBERS_REPLY))
		return;
	ml = &reply->u.members_reply.members;
	a = json_object_new_array_ext((int)ml->n);
	for (uint32_t i = 0; i < ml->n; i++)
		http_filter_append(r, a, hjson_gossip_member(&ml->v[i])); /* ?filter (Consul 1.10+) */
	http_reply_json(r, 200, a);
}

void api_agent_members(struct http_req *r)
{
	const char *wan = hquery_get(&r->query, "wan");
	const char *segment = hquery_get(&r->query, "segment");
	bool other_segment = segment != NULL && *segment != '\0' && strcmp(segment, "_all") != 0;
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_MEMBERS;
	m.u.members.wan = wan != NULL && *wan != '\0';
	if (other_segment) {
		if (m.u.members.wan)
			http_reply_text(r, 400, "Cannot provide a segment with wan=true");
		else if (r->h->d->conf.server)
			http_reply_text(r, 500,
			                "Network segments are not supported in this version of Consul");
		else
			http_reply_errorf(r, 500, "segment \"%s\" not found", segment);
		return;
	}
	http_call(r, "gossipd", &m, 0, api_agent_members_done);
}

/* A join or force-leave: 200 with an empty body, or gossipd's error as
 * it is (RESULT 500 "1 error occurred: ..." from serf's join). */
static void api_agent_gossip_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	if (st == IPC_OK && reply->type == MSG_RESULT && reply->u.result.status == 200) {
		http_reply_empty(r, 200);
		return;
	}
	if (st == IPC_OK && reply->type == MSG_JOIN_REPLY) {
		http_reply_empty(r, 200);
		return;
	}
	if (http_reply_bus_error(r, st, reply, MSG_RESULT))
		return;
	http_reply_text(r, 500, "unexpected reply to the request");
}

/* Consul's AgentJoin: the rest of the path is the address ("host" or
 * "host:port"), ?wan any non-empty value. gossipd answers once the
 * push/pull ended, which may wait for a TCP timeout. */
void api_agent_join(struct http_req *r)
{
	const char *wan = hquery_get(&r->query, "wan");
	char *addrs[1] = {(char *)r->id};
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_JOIN;
	m.u.join.addrs.v = addrs;
	m.u.join.addrs.n = 1;
	m.u.join.wan = wan != NULL && *wan != '\0';
	http_call(r, "gossipd", &m, API_GOSSIP_SLOW_MS, api_agent_gossip_done);
}

/* Consul's AgentForceLeave: ?prune and ?wan count by their presence
 * alone (`_, prune := req.URL.Query()["prune"]`). serf waits for the
 * leave intent to be broadcast before it answers. */
void api_agent_force_leave(struct http_req *r)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_FORCE_LEAVE;
	m.u.force_leave.node = (char *)r->id;
	m.u.force_leave.prune = hquery_has(&r->query, "prune");
	m.u.force_leave.wan = hquery_has(&r->query, "wan");
	http_call(r, "gossipd", &m, API_GOSSIP_SLOW_MS, api_agent_gossip_done);
}

/* --- shared: stats of every daemon --------------------------------------- */

static const struct msg_daemon_stats *api_daemon(const struct msg_stats_reply *sr, const char *name)
{
	for (uint32_t i = 0; i < sr->daemons.n; i++)
		if (strcmp(sr->daemons.v[i].name, name) == 0)
			return &sr->daemons.v[i];
	return NULL;
}

static const struct msg_stat *api_stat(const struct msg_daemon_stats *ds, const char *name)
{
	if (ds == NULL)
		return NULL;
	for (uint32_t i = 0; i < ds->stats.n; i++)
		if (strcmp(ds->stats.v[i].name, name) == 0)
			return &ds->stats.v[i];
	return NULL;
}

/* A number as Consul's Stats strings show it: integers without ".0". */
static void api_num_str(double v, char out[40])
{
	if (isfinite(v) && v == floor(v) && fabs(v) < 1e18)
		snprintf(out, 40, "%.0f", v);
	else
		snprintf(out, 40, "%g", v);
}

static void api_add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static void api_add_stat(struct json_object *o, const char *k, const struct msg_daemon_stats *ds,
                         const char *stat)
{
	const struct msg_stat *s = api_stat(ds, stat);
	char v[40];

	if (s == NULL)
		return;
	api_num_str(s->value, v);
	api_add_str(o, k, v);
}

/* --- GET /v1/agent/self (§3.1) ------------------------------------------- */

/* What the Raft configuration said, kept across the STATS call. */
struct api_self {
	struct json_object *member; /* gossipd's view of this agent, NULL: from the config */
	bool have_raft;
	bool known_leader, is_leader;
	char leader_addr[96];
	uint64_t voters, last_contact_ms, last_term;
};

/* Go's GOARCH names for the machines muster runs on; the rest as uname
 * says. */
static const char *api_goarch(const char *m)
{
	if (strcmp(m, "x86_64") == 0)
		return "amd64";
	if (strcmp(m, "aarch64") == 0 || strcmp(m, "arm64") == 0)
		return "arm64";
	if (strcmp(m, "i386") == 0 || strcmp(m, "i686") == 0)
		return "386";
	if (strncmp(m, "armv", 4) == 0)
		return "arm";
	return m;
}

/* RFC 3339 of the build: MUSTER_BUILD_DATE when the Makefile gives one,
 * else the compiler's date and time. */
static void api_build_date(char out[32])
{
#ifdef MUSTER_BUILD_DATE
	snprintf(out, 32, "%s", MUSTER_BUILD_DATE);
#else
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4] = "";
	int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
	const char *p;

	if (sscanf(__DATE__, "%3s %d %d", mon, &day, &year) != 3 ||
	    sscanf(__TIME__, "%d:%d:%d", &hh, &mm, &ss) != 3 || (p = strstr(months, mon)) == NULL) {
		snprintf(out, 32, "0001-01-01T00:00:00Z");
		return;
	}
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", year, (int)(p - months) / 3 + 1, day,
	         hh, mm, ss);
#endif
}

static struct json_object *api_self_config(const struct conf *c)
{
	struct json_object *o = json_object_new_object();
	char date[32];

	api_build_date(date);
	api_add_str(o, "Datacenter", c->datacenter);
	api_add_str(o, "PrimaryDatacenter", c->primary_datacenter);
	api_add_str(o, "NodeName", c->node_name);
	api_add_str(o, "NodeID", c->node_id);
	api_add_str(o, "Revision", MUSTER_REVISION);
	json_object_object_add(o, "Server", json_object_new_boolean(c->server));
	api_add_str(o, "Version", MUSTER_VERSION);
	api_add_str(o, "BuildDate", date);
	/* Pre-1.0 Consul put its whole config here: armon/consul-api's
	 * TestAgent_Join joins Config.AdvertiseAddr (a string, or it
	 * panics). Newer clients ignore it. */
	api_add_str(o, "AdvertiseAddr", c->advertise_addr);
	/* Patroni's adjust_ttl() reads it as nanoseconds (§3.1). */
	json_object_object_add(
	    o, "SessionTTLMin",
	    json_object_new_uint64(c->test_timings.session_ttl_min_ms * 1000000));
	return o;
}

/* A secret in DebugConfig reads "hidden", as Consul's sanitized config:
 * agent/self is readable by anyone with agent:read. */
static void api_hide(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) && v != NULL)
		json_object_object_add(o, key, json_object_new_string("hidden"));
}

/* The resolved configuration, as -nv prints it, its secrets hidden. */
static struct json_object *api_self_debug_config(const struct conf *c)
{
	struct json_object *o = NULL, *acl, *tokens;
	struct buf b;

	buf_init(&b, API_DEBUG_CONFIG_MAX);
	if (conf_write_json(c, &b) == 0 && !b.err && buf_cstr(&b) != NULL)
		o = json_tokener_parse(buf_cstr(&b));
	buf_fini(&b);
	if (o == NULL) {
		log_warnx("http agent/self: the configuration does not print as JSON");
		return json_object_new_object();
	}
	api_hide(o, "encrypt");
	if (json_object_object_get_ex(o, "acl", &acl) &&
	    json_object_object_get_ex(acl, "tokens", &tokens)) {
		json_object_object_foreach(tokens, k, v)
		{
			if (v != NULL)
				api_hide(tokens, k);
		}
	}
	return o;
}

/* This agent as a gossip member (§2.10), from its configuration, when
 * gossipd does not answer (it gives the same tags). */
static struct json_object *api_self_member(const struct conf *c)
{
	struct json_object *o = json_object_new_object(), *tags = json_object_new_object();
	char v[64];

	api_add_str(tags, "role", c->server ? "consul" : "node");
	api_add_str(tags, "dc", c->datacenter);
	api_add_str(tags, "id", c->node_id);
	if (c->server) {
		snprintf(v, sizeof(v), "%d", c->ports.server);
		api_add_str(tags, "port", v);
		snprintf(v, sizeof(v), "%d", c->ports.serf_wan);
		api_add_str(tags, "wan_join_port", v);
		api_add_str(tags, "raft_vsn", "3");
		if (c->bootstrap || c->dev_mode) /* a dev server bootstraps itself */
			api_add_str(tags, "bootstrap", "1");
		if (c->bootstrap_expect > 0) {
			snprintf(v, sizeof(v), "%d", c->bootstrap_expect);
			api_add_str(tags, "expect", v);
		}
	}
	api_add_str(tags, "vsn", "2");
	api_add_str(tags, "vsn_min", "2");
	api_add_str(tags, "vsn_max", "3");
	api_add_str(tags, "build", MUSTER_VERSION ":" MUSTER_REVISION);
	api_add_str(tags, "segment", "");

	api_add_str(o, "Name", c->node_name);
	api_add_str(o, "Addr", c->advertise_addr);
	json_object_object_add(o, "Port", json_object_new_int(c->ports.serf_lan));
	json_object_object_add(o, "Tags", tags);
	json_object_object_add(o, "Status", json_object_new_int(1)); /* alive */
	json_object_object_add(o, "ProtocolMin", json_object_new_int(1));
	json_object_object_add(o, "ProtocolMax", json_object_new_int(5));
	json_object_object_add(o, "ProtocolCur", json_object_new_int(2));
	json_object_object_add(o, "DelegateMin", json_object_new_int(2));
	json_object_object_add(o, "DelegateMax", json_object_new_int(5));
	json_object_object_add(o, "DelegateCur", json_object_new_int(4));
	return o;
}

static struct json_object *api_self_meta(const struct conf *c)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; i < c->node_meta.n; i++)
		api_add_str(o, c->node_meta.v[i].key, c->node_meta.v[i].value);
	return o;
}

/* Stats: a map of maps of strings (§3.1), from what raftd's configuration
 * and every daemon's STATS said; a section whose daemon did not answer is
 * left out rather than guessed. */
static struct json_object *api_self_stats(const struct conf *c, const struct api_self *s,
                                          const struct msg_stats_reply *sr)
{
	const struct msg_daemon_stats *raftd = sr ? api_daemon(sr, "raftd") : NULL;
	const struct msg_daemon_stats *healthd = sr ? api_daemon(sr, "healthd") : NULL;
	struct json_object *o = json_object_new_object(), *agent, *consul, *rt, *build;
	struct utsname u;
	char v[64];

	agent = json_object_new_object();
	api_add_stat(agent, "check_monitors", healthd, "check_monitors");
	api_add_stat(agent, "check_ttls", healthd, "check_ttls");
	api_add_stat(agent, "checks", healthd, "checks");
	api_add_stat(agent, "services", healthd, "services");
	json_object_object_add(o, "agent", agent);

	build = json_object_new_object();
	api_add_str(build, "prerelease", "");
	api_add_str(build, "revision", MUSTER_REVISION);
	api_add_str(build, "version", MUSTER_VERSION);
	api_add_str(build, "version_metadata", "");
	json_object_object_add(o, "build", build);

	consul = json_object_new_object();
	api_add_str(consul, "acl", c->acl.enabled ? "enabled" : "disabled");
	api_add_str(consul, "server", c->server ? "true" : "false");
	if (c->server) {
		api_add_str(consul, "bootstrap", c->bootstrap || c->dev_mode ? "true" : "false");
		api_add_str(consul, "known_datacenters", "1");
		if (s->have_raft) {
			api_add_str(consul, "leader", s->is_leader ? "true" : "false");
			api_add_str(consul, "leader_addr", s->leader_addr);
		}
	}
	json_object_object_add(o, "consul", consul);

	if (c->server && (s->have_raft || raftd != NULL)) {
		struct json_object *raft = json_object_new_object();
		const struct msg_stat *lead = api_stat(raftd, "is_leader");

		api_add_stat(raft, "applied_index", raftd, "applied_index");
		api_add_stat(raft, "commit_index", raftd, "commit_index");
		api_add_stat(raft, "last_log_index", raftd, "last_index");
		api_add_stat(raft, "last_snapshot_index", raftd, "snapshot_index");
		api_add_stat(raft, "term", raftd, "term");
		if (lead != NULL || s->have_raft)
			api_add_str(raft, "state",
			            (lead ? lead->value != 0 : s->is_leader) ? "Leader"
			                                                     : "Follower");
		if (s->have_raft) {
			snprintf(v, sizeof(v), "%llu", (unsigned long long)s->last_term);
			api_add_str(raft, "last_log_term", v);
			snprintf(v, sizeof(v), "%llu",
			         (unsigned long long)(s->voters > 0 ? s->voters - 1 : 0));
			api_add_str(raft, "num_peers", v);
			/* hashicorp/raft's Stats: "0" on the leader, "never"
			 * before any contact, else a duration. */
			if (s->is_leader)
				snprintf(v, sizeof(v), "0");
			else if (!s->known_leader)
				snprintf(v, sizeof(v), "never");
			else
				gofmt_dur_format_ns((int64_t)(s->last_contact_ms * 1000000), v);
			api_add_str(raft, "last_contact", v);
		}
		api_add_str(raft, "protocol_version", "3");
		api_add_str(raft, "protocol_version_min", "0");
		api_add_str(raft, "protocol_version_max", "3");
		json_object_object_add(o, "raft", raft);
	}

	/* serf_lan and serf_wan (servers): serf's Stats from gossipd's pools
	 * (spec §2.4 `info`). No queues are kept between loop turns, hence 0. */
	{
		const struct msg_daemon_stats *gd = sr ? api_daemon(sr, "gossipd") : NULL;
		static const char *const pools[] = {"lan", "wan"};

		for (int i = 0; i < (c->server ? 2 : 1) && gd != NULL; i++) {
			struct json_object *sp = json_object_new_object();
			char k[32];
			const struct msg_stat *enc = api_stat(gd, "encrypted");

			if (api_stat(gd, (snprintf(k, sizeof(k), "%s_members", pools[i]), k)) == NULL) {
				json_object_put(sp);
				continue;
			}
			api_add_str(sp, "encrypted", enc && enc->value != 0 ? "true" : "false");
			api_add_str(sp, "event_queue", "0");
			snprintf(k, sizeof(k), "%s_event_time", pools[i]);
			api_add_stat(sp, "event_time", gd, k);
			snprintf(k, sizeof(k), "%s_failed", pools[i]);
			api_add_stat(sp, "failed", gd, k);
			snprintf(k, sizeof(k), "%s_health_score", pools[i]);
			api_add_stat(sp, "health_score", gd, k);
			snprintf(k, sizeof(k), "%s_intent_queue", pools[i]);
			api_add_stat(sp, "intent_queue", gd, k);
			snprintf(k, sizeof(k), "%s_left", pools[i]);
			api_add_stat(sp, "left", gd, k);
			snprintf(k, sizeof(k), "%s_member_time", pools[i]);
			api_add_stat(sp, "member_time", gd, k);
			snprintf(k, sizeof(k), "%s_members", pools[i]);
			api_add_stat(sp, "members", gd, k);
			api_add_str(sp, "query_queue", "0");
			snprintf(k, sizeof(k), "%s_query_time", pools[i]);
			api_add_stat(sp, "query_time", gd, k);
			json_object_object_add(o, i == 0 ? "serf_lan" : "serf_wan", sp);
		}
	}

	rt = json_object_new_object();
	if (uname(&u) == 0) {
		for (char *p = u.sysname; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		api_add_str(rt, "arch", api_goarch(u.machine));
		api_add_str(rt, "os", u.sysname);
	}
	snprintf(v, sizeof(v), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	api_add_str(rt, "cpu_count", v);
	api_add_str(rt, "version", "cc " __VERSION__);
	json_object_object_add(o, "runtime", rt);
	return o;
}

static void api_self_reply(struct http_req *r, const struct msg_stats_reply *sr)
{
	const struct conf *c = &r->h->d->conf;
	struct json_object *o = json_object_new_object();

	/* Every top-level value an object or null (§0.14). */
	json_object_object_add(o, "Config", api_self_config(c));
	json_object_object_add(o, "DebugConfig", api_self_debug_config(c));
	json_object_object_add(o, "Coord", NULL); /* coordinates: a later issue */
	struct api_self *s = r->arg;
	json_object_object_add(o, "Member", s->member ? s->member : api_self_member(c));
	s->member = NULL; /* o owns it now */
	json_object_object_add(o, "Stats", api_self_stats(c, r->arg, sr));
	json_object_object_add(o, "Meta", api_self_meta(c));
	http_reply_json(r, 200, o);
}

/* agent/self does not need raftd or musterd to answer (Prometheus and the
 * Go client read Config only): their failures leave their parts out. */
static void api_self_stats_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	if (st == IPC_OK && reply->type == MSG_STATS_REPLY) {
		api_self_reply(r, &reply->u.stats_reply);
		return;
	}
	log_debug("http agent/self: no stats from musterd (%s)",
	          st == IPC_OK ? msg_type_name(reply->type) : ipc_status_str(st));
	api_self_reply(r, NULL);
}

/* gossipd knows this agent as a member (its real status and tags); without an answer the
 * configuration says what gossipd would (api_self_member). */
static void api_self_members_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	struct api_self *s = r->arg;
	struct msg m;

	if (st == IPC_OK && reply->type == MSG_MEMBERS_REPLY) {
		const struct msg_members_reply *mr = &reply->u.members_reply;

		for (uint32_t i = 0; i < mr->members.n && s->member == NULL; i++)
			if (strcmp(mr->members.v[i].name, mr->self) == 0)
				s->member = hjson_gossip_member(&mr->members.v[i]);
	}
	memset(&m, 0, sizeof(m));
	m.type = MSG_STATS;
	http_call(r, "musterd", &m, API_STATS_TIMEOUT_MS, api_self_stats_done);
}

static void api_self_free(void *arg)
{
	struct api_self *s = arg;

	if (s->member)
		json_object_put(s->member);
	free(s);
}

static void api_self_raft_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	struct api_self *s = r->arg;
	struct msg m;

	if (st == IPC_OK && reply->type == MSG_RAFT_CONFIG_REPLY) {
		const struct msg_raft_config_reply *rc = &reply->u.raft_config_reply;

		s->have_raft = true;
		s->known_leader = rc->meta.known_leader;
		s->last_contact_ms = rc->meta.last_contact_ms;
		snprintf(s->leader_addr, sizeof(s->leader_addr), "%s", rc->leader_addr);
		for (uint32_t i = 0; i < rc->servers.n; i++) {
			const struct msg_raft_server *sv = &rc->servers.v[i];

			s->voters += sv->voter;
			if (r->h->d->conf.node_id != NULL &&
			    strcasecmp(sv->id, r->h->d->conf.node_id) == 0) {
				s->is_leader = sv->leader;
				s->last_term = sv->last_term;
			}
		}
	}
	memset(&m, 0, sizeof(m));
	m.type = MSG_MEMBERS;
	http_call(r, "gossipd", &m, API_STATS_TIMEOUT_MS, api_self_members_done);
}

void api_agent_self(struct http_req *r)
{
	struct msg m;

	r->arg = xcalloc(1, sizeof(struct api_self));
	r->arg_free = api_self_free;
	memset(&m, 0, sizeof(m));
	m.type = MSG_RAFT_CONFIG;
	m.u.raft_config.q.consistency = 1; /* stale: this server's own view */
	if (r->h->d->conf.server)
		http_call(r, "raftd", &m, 0, api_self_raft_done);
	else
		api_self_raft_done(r, IPC_UNAVAILABLE, NULL);
}

/* --- GET /v1/agent/metrics (§3.8) ---------------------------------------- */

/* One metric, named muster.<daemon>.<stat>. */
struct api_metric {
	char *name;
	const struct msg_stat *st;
	size_t order;
};

static int api_metric_cmp(const void *a, const void *b)
{
	const struct api_metric *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

static size_t api_metrics_collect(const struct msg_stats_reply *sr, struct api_metric *out,
                                  size_t max)
{
	size_t n = 0;

	for (uint32_t i = 0; i < sr->daemons.n; i++) {
		const struct msg_daemon_stats *ds = &sr->daemons.v[i];

		for (uint32_t j = 0; j < ds->stats.n && n < max; j++) {
			out[n].name = xasprintf("muster.%s.%s", ds->name, ds->stats.v[j].name);
			out[n].st = &ds->stats.v[j];
			out[n].order = n;
			n++;
		}
	}
	return n;
}

static struct json_object *api_metric_labels(const struct msg_stat *st)
{
	struct json_object *o = json_object_new_object();

	for (uint32_t i = 0; i < st->labels.n; i++)
		api_add_str(o, st->labels.k[i], st->labels.v[i]);
	return o;
}

/* Go's time.Time.String() of a UTC time, as Consul's Timestamp. */
static void api_go_time(char out[48])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 48, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
}

static void api_metrics_json(struct http_req *r, struct api_metric *v, size_t n)
{
	struct json_object *o = json_object_new_object(), *gauges = json_object_new_array(),
	                   *counters = json_object_new_array();
	char ts[48];

	api_go_time(ts);
	for (size_t i = 0; i < n; i++) {
		const struct msg_stat *st = v[i].st;
		struct json_object *e = json_object_new_object();
		double x = isfinite(st->value) ? st->value : 0;

		json_object_object_add(e, "Name", json_object_new_string(v[i].name));
		if (st->kind == 1) {
			/* A counter is a running total here, not go-metrics'
			 * per-interval samples: one sample of the total. */
			json_object_object_add(e, "Count", json_object_new_int(1));
			json_object_object_add(e, "Sum", json_object_new_double(x));
			json_object_object_add(e, "Min", json_object_new_double(x));
			json_object_object_add(e, "Max", json_object_new_double(x));
			json_object_object_add(e, "Mean", json_object_new_double(x));
			json_object_object_add(e, "Stddev", json_object_new_double(0));
			json_object_object_add(e, "Labels", api_metric_labels(st));
			json_object_array_add(counters, e);
		} else {
			json_object_object_add(e, "Value", json_object_new_double(x));
			json_object_object_add(e, "Labels", api_metric_labels(st));
			json_object_array_add(gauges, e);
		}
	}
	json_object_object_add(o, "Timestamp", json_object_new_string(ts));
	json_object_object_add(o, "Gauges", gauges);
	json_object_object_add(o, "Points", json_object_new_array());
	json_object_object_add(o, "Counters", counters);
	json_object_object_add(o, "Samples", json_object_new_array());
	http_reply_json(r, 200, o);
}

/* Prometheus names: [a-zA-Z_:][a-zA-Z0-9_:]*, '.' and the rest as '_'. */
static void api_prom_name(struct buf *b, const char *s, bool colon_ok)
{
	for (size_t i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		          (colon_ok && c == ':') || (i > 0 && c >= '0' && c <= '9');

		buf_putc(b, (uint8_t)(ok ? c : '_'));
	}
}

static void api_prom_value(struct buf *b, double v)
{
	if (isnan(v))
		buf_printf(b, "NaN");
	else if (isinf(v))
		buf_printf(b, v > 0 ? "+Inf" : "-Inf");
	else
		buf_printf(b, "%.17g", v);
}

/* The text exposition format 0.0.4: one # TYPE line per name, its samples
 * together (hence sorted by name), label values escaped. */
static void api_metrics_prometheus(struct http_req *r, struct api_metric *v, size_t n)
{
	struct buf b;
	const char *prev = NULL;

	qsort(v, n, sizeof(*v), api_metric_cmp);
	buf_init(&b, API_METRICS_TEXT_MAX);
	for (size_t i = 0; i < n; i++) {
		const struct msg_stat *st = v[i].st;

		if (prev == NULL || strcmp(prev, v[i].name) != 0) {
			buf_printf(&b, "# TYPE ");
			api_prom_name(&b, v[i].name, true);
			buf_printf(&b, " %s\n", st->kind == 1 ? "counter" : "gauge");
		}
		prev = v[i].name;
		api_prom_name(&b, v[i].name, true);
		if (st->labels.n > 0) {
			buf_putc(&b, '{');
			for (uint32_t j = 0; j < st->labels.n; j++) {
				buf_printf(&b, "%s", j ? "," : "");
				api_prom_name(&b, st->labels.k[j], false);
				buf_printf(&b, "=\"");
				for (const char *p = st->labels.v[j]; *p; p++) {
					if (*p == '\\' || *p == '"')
						buf_printf(&b, "\\%c", *p);
					else if (*p == '\n')
						buf_printf(&b, "\\n");
					else
						buf_putc(&b, (uint8_t)*p);
				}
				buf_putc(&b, '"');
			}
			buf_putc(&b, '}');
		}
		buf_putc(&b, ' ');
		api_prom_value(&b, st->value);
		buf_putc(&b, '\n');
	}
	if (b.err)
		http_reply_errorf(r, 500, "metrics do not fit in %u bytes", API_METRICS_TEXT_MAX);
	else
		http_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
	buf_fini(&b);
}

/* ?format=prometheus, or a Prometheus scraper's Accept header (§3.8). */
static bool api_metrics_want_prometheus(struct http_req *r)
{
	const char *f = hquery_get(&r->query, "format");
	const char *accept = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept");

	if (f != NULL && strcmp(f, "prometheus") == 0)
		return true;
	return accept != NULL && (strcasestr(accept, "application/openmetrics-text") != NULL ||
	                          strcasestr(accept, "text/plain; version=0.4.0") != NULL ||
	                          strcasestr(accept, "text/plain;version=0.0.4") != NULL ||
	                          strcasestr(accept, "text/plain; version=0.0.4") != NULL);
}

static void api_metrics_done(struct http_req *r, enum ipc_status st, struct msg *reply)
{
	struct api_metric *v;
	size_t n;

	if (http_reply_bus_error(r, st, reply, MSG_STATS_REPLY))
		return;
	v = xcalloc(API_METRICS_MAX, sizeof(*v));
	n = api_metrics_collect(&reply->u.stats_reply, v, API_METRICS_MAX);
	if (api_metrics_want_prometheus(r))
		api_metrics_prometheus(r, v, n);
	else
		api_metrics_json(r, v, n);
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

void api_agent_metrics(struct http_req *r)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_STATS;
	http_call(r, "musterd", &m, API_STATS_TIMEOUT_MS, api_metrics_done);
}

/* --- GET /v1/agent/monitor (§3.9) ----------------------------------------
 *
 * Every daemon publishes its log lines as LOG_LINE on its PUB (the log tap,
 * common/daemon.c); httpd subscribes to all six PUBs, its own included,
 * only while a monitor is open, and writes each line to every monitor whose
 * level it passes. Every daemon taps the lines it emits down to the
 * lowest level an open monitor asks for (MONITOR_LEVEL), whatever the
 * agent's log_level. A line is stamped when httpd
 * gets it (the bus message carries no time), a millisecond or so late. A
 * client that reads too slowly loses lines (http_stream_write caps what is
 * queued), and is told how many once it catches up. */

struct http_monitor {
	struct httpd *h;
	struct http_stream *s;
	enum log_level level;
	bool json;
	uint64_t dropped; /* lines lost since the last one that got through */
	struct http_monitor *prev, *next;
};

static const char *const api_log_publishers[] = {"musterd", "raftd", "gossipd",
                                                 "httpd",   "dnsd",  "healthd"};
#define API_LOG_PUBLISHERS (sizeof(api_log_publishers) / sizeof(api_log_publishers[0]))

/* True while a LOG_LINE is being handed out: an ipc_sub must not be freed
 * from inside its own callback. */
static bool api_monitor_in_event;

static void api_monitor_subs_close(struct httpd *h)
{
	for (size_t i = 0; i < API_LOG_PUBLISHERS; i++) {
		ipc_sub_free(h->log_subs[i]);
		h->log_subs[i] = NULL;
	}
}

/* hclog's text form: "2026-11-25T06:30:00.123Z [INFO]  raftd: text". */
static void api_monitor_format(const struct http_monitor *mon, enum log_level level,
                               const char *module, const char *line, struct buf *out)
{
	static const char *const text[] = {"[TRACE] ", "[DEBUG] ", "[INFO]  ", "[WARN]  ",
	                                   "[ERROR] "};
	struct timespec ts;
	struct tm tm;
	char stamp[40];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	if (mon->json) {
		struct json_object *o = json_object_new_object();
		char full[64];

		snprintf(full, sizeof(full), "%s.%06dZ", stamp, (int)(ts.tv_nsec / 1000 % 1000000));
		api_add_str(o, "@level", log_level_name(level));
		api_add_str(o, "@message", line);
		api_add_str(o, "@module", module);
		api_add_str(o, "@timestamp", full);
		buf_printf(out, "%s\n",
		           json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		buf_printf(out, "%s.%03dZ %s%s: %s\n", stamp, (int)(ts.tv_nsec / 1000000 % 1000),
		           text[level], module, line);
	}
}

static void api_monitor_send(struct http_monitor *mon, enum log_level level, const char *module,
                             const char *line)
{
	struct buf b;

	if (level < mon->level)
		return;
	buf_init(&b, API_MONITOR_LINE_MAX);
	if (mon->dropped > 0) {
		char note[128];

		snprintf(note, sizeof(note),
		         "monitor: %llu log lines dropped: the client reads too slowly",
		         (unsigned long long)mon->dropped);
		api_monitor_format(mon, LOG_LEVEL_WARN, "httpd", note, &b);
		if (http_stream_write(mon->s, b.p, b.len) != 0) {
			mon->dropped++;
			buf_fini(&b);
			return;
		}
		mon->dropped = 0;
		buf_reset(&b);
	}
	api_monitor_format(mon, level, module, line, &b);
	if (b.err || http_stream_write(mon->s, b.p, b.len) != 0)
		mon->dropped++;
	buf_fini(&b);
}

static void api_monitor_on_event(struct ipc_sub *sub, unsigned publisher, struct msg *m, void *arg)
{
	struct httpd *h = arg;
	struct msg_log_line *ll = &m->u.log_line;
	const char *module = msg_peer_name(publisher);
	struct http_monitor *mon, *next;
	size_t len;

	(void)sub;
	if (m->type != MSG_LOG_LINE || ll->level > LOG_LEVEL_ERROR || module == NULL)
		return;
	/* A line is at most what log.c writes; a longer one (a newer or a
	 * broken sender) is cut on a UTF-8 boundary. */
	len = strlen(ll->line);
	if (len > API_MONITOR_MSG_MAX) {
		len = API_MONITOR_MSG_MAX;
		while (len > 0 && ((unsigned char)ll->line[len] & 0xc0) == 0x80)
			len--;
		ll->line[len] = '\0';
	}
	api_monitor_in_event = true;
	for (mon = h->monitors; mon != NULL; mon = next) {
		next = mon->next;
		api_monitor_send(mon, (enum log_level)ll->level, module, ll->line);
	}
	api_monitor_in_event = false;
}

/* Opens the subscriptions not open yet; a publisher that is not up yet is
 * fine (ZeroMQ connects when it binds). */
static void api_monitor_subs_open(struct httpd *h)
{
	for (size_t i = 0; i < API_LOG_PUBLISHERS; i++) {
		struct ipc_sub *s;

		if (h->log_subs[i] != NULL)
			continue;
		s = ipc_sub_new(h->d->ev, h->d->run_dir, api_log_publishers[i],
		                api_monitor_on_event, h);
		if (s != NULL && ipc_subscribe(s, MSG_LOG_LINE) != 0) {
			ipc_sub_free(s);
			s = NULL;
		}
		if (s == NULL)
			log_warnx("monitor: cannot subscribe to the log lines of %s",
			          api_log_publishers[i]);
		h->log_subs[i] = s;
	}
}

static void api_monitor_unlink(struct http_monitor *mon)
{
	struct httpd *h = mon->h;

	if (mon->prev != NULL)
		mon->prev->next = mon->next;
	else
		h->monitors = mon->next;
	if (mon->next != NULL)
		mon->next->prev = mon->prev;
	h->n_monitors--;
}

static void api_monitor_level_done(void *arg, enum ipc_status st, struct msg *reply)
{
	(void)arg;
	if (st != IPC_OK)
		log_warnx("monitor: musterd did not take the monitor level: %s", ipc_status_str(st));
	else if (reply->type == MSG_RESULT && reply->u.result.status != 200)
		log_warnx("monitor: setting the monitor level: %s", reply->u.result.error);
}

/* Tells every daemon (through musterd's fan-out) the lowest level an open
 * monitor wants, so a monitor at debug gets debug lines from an agent
 * logging at info, as Consul's does; "" again once the last one closes. */
static void api_monitor_level_sync(struct httpd *h)
{
	int want = -1;
	struct msg m;

	for (struct http_monitor *mon = h->monitors; mon != NULL; mon = mon->next)
		if (want < 0 || (int)mon->level < want)
			want = (int)mon->level;
	if (want == h->monitor_level || h->musterd == NULL)
		return;
	h->monitor_level = want;
	memset(&m, 0, sizeof(m));
	m.type = MSG_MONITOR_LEVEL;
	m.u.monitor_level.level = (char *)(want < 0 ? "" : log_level_name((enum log_level)want));
	if (ipc_call(h->musterd, &m, HTTPD_CALL_TIMEOUT_MS, api_monitor_level_done, NULL) != 0)
		log_warnx("monitor: cannot send the monitor level to musterd");
}

/* The stream is gone (client closed, or the end at shutdown): from MHD's
 * loop, never from inside a subscription's callback; the guard is for a
 * future caller that would. */
static void api_monitor_on_close(void *arg)
{
	struct http_monitor *mon = arg;
	struct httpd *h = mon->h;

	api_monitor_unlink(mon);
	free(mon);
	if (!h->d->stopping)
		api_monitor_level_sync(h);
	if (h->n_monitors == 0 && !api_monitor_in_event)
		api_monitor_subs_close(h);
}

/* Consul's levels (§3.9); log_level_parse also takes "warning". */
static int api_monitor_level(const char *s, enum log_level *out)
{
	return s != NULL && strcasecmp(s, "warning") != 0 ? log_level_parse(s, out) : -1;
}

void api_agent_monitor(struct http_req *r)
{
	struct httpd *h = r->h;
	const char *lvl = hquery_get(&r->query, "loglevel");
	enum log_level level = LOG_LEVEL_INFO;
	struct http_monitor *mon;

	if (lvl != NULL && lvl[0] != '\0' && api_monitor_level(lvl, &level) != 0) {
		http_reply_errorf(r, 400, "Unknown log level: %s", lvl);
		return;
	}
	if (h->n_monitors >= HTTPD_MONITORS_MAX) {
		http_reply_errorf(r, 503, "too many monitor streams open (limit %d)",
		                  HTTPD_MONITORS_MAX);
		return;
	}
	mon = xcalloc(1, sizeof(*mon));
	mon->h = h;
	mon->level = level;
	mon->json = hquery_has(&r->query, "logjson");
	/* The headers go out at once, before any line (§3.9). */
	mon->s = http_stream_start(r, "text/plain; charset=utf-8", api_monitor_on_close, mon);
	mon->next = h->monitors;
	if (h->monitors != NULL)
		h->monitors->prev = mon;
	h->monitors = mon;
	h->n_monitors++;
	api_monitor_subs_open(h);
	api_monitor_level_sync(h);
}

/* At httpd's start: a previous httpd may have died with monitors open,
 * leaving the daemons tapping lines down to their level; reset it. */
void api_agent_monitors_init(struct httpd *h)
{
	h->monitor_level = -2;
	api_monitor_level_sync(h);
}

/* At httpd's stop: every stream ends (their on_close frees the monitors
 * as MHD lets go of them) and the subscriptions close. */
void api_agent_monitors_fini(struct httpd *h)
{
	for (struct http_monitor *mon = h->monitors; mon != NULL; mon = mon->next)
		http_stream_end(mon->s);
	api_monitor_subs_close(h);
}

/* conf_check.c: derived defaults, normalisation and semantic checks of a merged config. */
#include "conf_priv.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Consul's structs.ValidateNodeMetadata. */
#define CONF_META_RESERVED "consul-"
/* A DNS label and name (RFC 1035 §2.3.4). */
#define CONF_DNS_LABEL_MAX 63
#define CONF_DNS_NAME_MAX  253
/* Addresses found on the interfaces when looking for the one to advertise. */
#define CONF_IFADDRS_MAX 16

struct conf_check {
	struct conf *c;
	struct conf_diag *d;
	int rc;
};

/* One "config: ..." line, an error (which fails the check) or a warning. */
static void conf_check_vsay(struct conf_check *ck, bool error, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (error) {
		conf_diag_error(ck->d, "config: %s", msg);
		ck->rc = -1;
	} else {
		conf_diag_warn(ck->d, "config: %s", msg);
	}
}

static void conf_check_err(struct conf_check *ck, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void conf_check_err(struct conf_check *ck, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_check_vsay(ck, true, fmt, ap);
	va_end(ap);
}

static void conf_check_warn(struct conf_check *ck, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void conf_check_warn(struct conf_check *ck, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_check_vsay(ck, false, fmt, ap);
	va_end(ap);
}

/* A value quoted for a message (see conf_quote), in a rotating buffer so
 * that one message can quote twice. */
static const char *conf_check_q(const char *s)
{
	static char bufs[2][96];
	static int i;

	i = (i + 1) % 2;
	return conf_quote(s, bufs[i], sizeof(bufs[i]));
}

static void conf_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static bool conf_chars_ok(const char *s, const char *extra, bool upper)
{
	for (; *s != '\0'; s++) {
		char ch = *s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    (upper && ch >= 'A' && ch <= 'Z') || strchr(extra, ch) != NULL)
			continue;
		return false;
	}
	return true;
}

/* Replaces a string field with a copy of v (NULL: unset). */
static void conf_check_set(struct conf_check *ck, char **f, const char *v)
{
	char *dup = NULL;

	if (v != NULL && (dup = conf_strdup(v)) == NULL) {
		conf_check_err(ck, "out of memory");
		return;
	}
	free(*f);
	*f = dup;
}

/* ---- addresses ---- */

/* An IPv4 or IPv6 address, IPv6 also in brackets ("[::]"). */
static bool conf_ip_parse(const char *s, struct in6_addr *a6, struct in_addr *a4, bool *v4)
{
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']' && n - 2 < sizeof(tmp)) {
		memcpy(tmp, s + 1, n - 2);
		tmp[n - 2] = '\0';
		*v4 = false;
		return inet_pton(AF_INET6, tmp, a6) == 1;
	}
	if (inet_pton(AF_INET, s, a4) == 1) {
		*v4 = true;
		return true;
	}
	*v4 = false;
	return inet_pton(AF_INET6, s, a6) == 1;
}

static bool conf_is_ip(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;
	bool v4;

	return conf_ip_parse(s, &a6, &a4, &v4);
}

/* 0.0.0.0, :: or [::] (Consul's ipaddr.IsAny). */
static bool conf_is_any(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;
	bool v4;

	if (!conf_ip_parse(s, &a6, &a4, &v4))
		return false;
	if (v4)
		return a4.s_addr == htonl(INADDR_ANY);
	return memcmp(&a6, &in6addr_any, sizeof(a6)) == 0;
}

static bool conf_check_ip(struct conf_check *ck, const char *key, const char *v, bool allow_any)
{
	if (strstr(v, "{{") != NULL) {
		conf_check_err(ck, "%s: go-sockaddr templates are not supported by muster, got %s",
		               key, conf_check_q(v));
		return false;
	}
	if (!conf_is_ip(v)) {
		conf_check_err(ck, "%s must be an IP address, got %s", key, conf_check_q(v));
		return false;
	}
	if (!allow_any && conf_is_any(v)) {
		conf_check_err(ck, "%s cannot be 0.0.0.0, :: or [::]", key);
		return false;
	}
	return true;
}

/* A DNS recursor: "ip", "ip:port" or "[ipv6]:port". */
static bool conf_recursor_ok(const char *s, bool *any)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port = NULL, *colon = strchr(s, ':');
	size_t n;

	*any = false;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL)
			return false;
		n = (size_t)(end - s - 1);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return false;
		s++;
	} else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		n = (size_t)(colon - s);
		port = colon + 1;
	} else {
		n = strlen(s);
	}
	if (n >= sizeof(host))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	if (!conf_is_ip(host))
		return false;
	if (port != NULL) {
		char *end;
		long p = strtol(port, &end, 10);

		if (*port < '0' || *port > '9' || *end != '\0' || p < 1 || p > 65535)
			return false;
	}
	*any = conf_is_any(host);
	return true;
}

static void conf_check_addresses(struct conf_check *ck)
{
	struct conf *c = ck->c;
	bool any;

	if (c->bind_addr == NULL || c->bind_addr[0] == '\0')
		conf_check_err(ck, "bind_addr cannot be empty");
	else
		conf_check_ip(ck, "bind_addr", c->bind_addr, true);
	if (c->advertise_addr != NULL)
		conf_check_ip(ck, "advertise_addr", c->advertise_addr, false);
	if (c->advertise_addr_wan != NULL)
		conf_check_ip(ck, "advertise_addr_wan", c->advertise_addr_wan, false);
	if (c->serf_lan != NULL)
		conf_check_ip(ck, "serf_lan", c->serf_lan, true);
	if (c->serf_wan != NULL)
		conf_check_ip(ck, "serf_wan", c->serf_wan, true);
	if (c->client_addr.n == 0)
		conf_check_warn(ck,
		                "client_addr is empty, client services (DNS, HTTP, HTTPS, GRPC) "
		                "will not be listening for connections");
	for (size_t i = 0; i < c->client_addr.n; i++)
		conf_check_ip(ck, "client_addr", c->client_addr.v[i], true);
	for (size_t i = 0; i < c->addresses.http.n; i++) {
		const char *a = c->addresses.http.v[i];

		if (strncmp(a, "unix://", 7) != 0 || a[7] == '\0')
			conf_check_ip(ck, "addresses.http", a, true);
	}
	for (size_t i = 0; i < c->addresses.dns.n; i++) {
		if (strncmp(c->addresses.dns.v[i], "unix://", 7) == 0)
			conf_check_err(ck, "addresses.dns cannot be a unix socket");
		else
			conf_check_ip(ck, "addresses.dns", c->addresses.dns.v[i], true);
	}
	for (size_t i = 0; i < c->recursors.n; i++) {
		if (!conf_recursor_ok(c->recursors.v[i], &any))
			conf_check_err(ck,
			               "recursors: %s is not an IP address with an optional port",
			               conf_check_q(c->recursors.v[i]));
		else if (any)
			conf_check_err(ck,
			               "recursors: %s: a DNS recursor cannot be 0.0.0.0, :: or "
			               "[::]",
			               conf_check_q(c->recursors.v[i]));
	}
	for (size_t i = 0; i < c->retry_join.n; i++) {
		if (strstr(c->retry_join.v[i], "provider=") != NULL)
			conf_check_warn(ck,
			                "retry_join: %s: cloud auto-join is not supported by "
			                "muster yet",
			                conf_check_q(c->retry_join.v[i]));
	}
}

static void conf_check_ports(struct conf_check *ck)
{
	const struct conf_ports *p = &ck->c->ports;
	const struct {
		const char *name;
		int port;
	} all[] = {
	    {"dns", p->dns},           {"http", p->http},         {"https", p->https},
	    {"grpc", p->grpc},         {"grpc_tls", p->grpc_tls}, {"server", p->server},
	    {"serf_lan", p->serf_lan}, {"serf_wan", p->serf_wan},
	};
	size_t n = sizeof(all) / sizeof(all[0]);

	/* Consul's builder: the RPC and LAN gossip listeners cannot be off. */
	if (p->server <= 0)
		conf_check_err(ck,
		               "ports.server must be greater than zero (it cannot be disabled)");
	if (p->serf_lan <= 0)
		conf_check_err(ck,
		               "ports.serf_lan must be greater than zero (it cannot be disabled)");
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			if (all[i].port > 0 && all[i].port == all[j].port)
				conf_check_err(ck, "ports.%s and ports.%s are both %d", all[i].name,
				               all[j].name, all[i].port);
		}
	}
}

/* ---- names ---- */

static void conf_check_dc(struct conf_check *ck, const char *key, char *s)
{
	conf_lower(s);
	if (*s == '\0')
		conf_check_err(ck, "%s cannot be empty", key);
	else if (strlen(s) > CONF_NAME_MAX)
		conf_check_err(ck, "%s is longer than %d characters", key, CONF_NAME_MAX);
	else if (!conf_chars_ok(s, "_-", false))
		conf_check_err(ck, "%s %s: only a-z, 0-9, _ and - are allowed", key,
		               conf_check_q(s));
}

static void conf_check_node_name(struct conf_check *ck)
{
	const char *s = ck->c->node_name;
	size_t len;

	if (s == NULL)
		return;
	len = strlen(s);
	if (len == 0) {
		conf_check_err(ck, "node_name cannot be empty");
		return;
	}
	if (len > CONF_NAME_MAX) {
		conf_check_err(ck, "node_name is longer than %d characters", CONF_NAME_MAX);
		return;
	}
	for (const char *p = s; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch <= ' ' || ch == 0x7f || ch == '"' || ch == '\'' || ch == '`') {
			conf_check_err(ck,
			               "node_name %s: whitespace, quotes and control characters "
			               "are not allowed",
			               conf_check_q(s));
			return;
		}
	}
	/* Consul's warnings (agent/config/builder.go validate). */
	if (!conf_chars_ok(s, "-", true))
		conf_check_warn(ck,
		                "node_name %s will not be discoverable via DNS due to invalid "
		                "characters; valid characters include all alpha-numerics and "
		                "dashes",
		                conf_check_q(s));
	else if (len > CONF_DNS_LABEL_MAX)
		conf_check_warn(ck,
		                "node_name %s will not be discoverable via DNS due to it being "
		                "too long; valid lengths are between 1 and 63 bytes",
		                conf_check_q(s));
}

static void conf_check_node_id(struct conf_check *ck)
{
	char *s = ck->c->node_id;
	bool ok;

	if (s == NULL)
		return;
	ok = strlen(s) == 36;
	for (size_t i = 0; ok && i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			ok = s[i] == '-';
		else
			ok = strchr("0123456789abcdefABCDEF", s[i]) != NULL && s[i] != '\0';
	}
	if (!ok) {
		conf_check_err(ck, "node_id %s is not a valid UUID", conf_check_q(s));
		return;
	}
	conf_lower(s);
}

/* domain and alt_domain: lower case, a trailing dot, sane labels. */
static void conf_check_domain(struct conf_check *ck, const char *key, char **f)
{
	char *s = *f, *fixed;
	size_t len, label = 0;
	bool ok;

	if (s == NULL)
		return;
	conf_lower(s);
	len = strlen(s);
	if (len == 0 || strcmp(s, ".") == 0) {
		conf_check_err(ck, "%s cannot be empty", key);
		return;
	}
	if (s[len - 1] != '.') {
		if (asprintf(&fixed, "%s.", s) < 0) {
			conf_check_err(ck, "out of memory");
			return;
		}
		free(*f);
		*f = s = fixed;
		len++;
	}
	/* Labels of 1..63 characters of [a-z0-9_-], each ending with a dot. */
	ok = len <= CONF_DNS_NAME_MAX + 1;
	for (size_t i = 0; ok && i < len; i++) {
		char ch = s[i];

		if (ch == '.') {
			ok = label > 0;
			label = 0;
		} else {
			ok = ++label <= CONF_DNS_LABEL_MAX &&
			     ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
			      ch == '-');
		}
	}
	if (ok)
		return;
	conf_check_err(ck, "%s %s is not a valid DNS domain", key, conf_check_q(s));
}

static void conf_check_alt_domain(struct conf_check *ck)
{
	static const char *const reserved[] = {"service", "connect", "node", "query", "addr"};
	const char *s = ck->c->alt_domain, *dot;
	size_t n;

	if (s == NULL)
		return;
	conf_check_domain(ck, "alt_domain", &ck->c->alt_domain);
	s = ck->c->alt_domain;
	dot = strchr(s, '.');
	n = dot ? (size_t)(dot - s) : strlen(s);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (strlen(reserved[i]) == n && strncmp(s, reserved[i], n) == 0)
			goto bad;
	}
	if (ck->c->datacenter != NULL && strlen(ck->c->datacenter) == n &&
	    strncmp(s, ck->c->datacenter, n) == 0)
		goto bad;
	return;
bad:
	conf_check_err(ck,
	               "alt_domain cannot start with service, connect, node, query, addr or "
	               "the datacenter, got %s",
	               conf_check_q(s));
}

static void conf_check_node_meta(struct conf_check *ck)
{
	const struct conf_kvmap *m = &ck->c->node_meta;

	if (m->n > CONF_NODE_META_MAX)
		conf_check_err(ck, "node_meta cannot contain more than %d key/value pairs",
		               CONF_NODE_META_MAX);
	for (size_t i = 0; i < m->n; i++) {
		const char *k = m->v[i].key;

		if (*k == '\0')
			conf_check_err(ck, "node_meta: a key cannot be empty");
		else if (strlen(k) > CONF_META_KEY_MAX)
			conf_check_err(ck, "node_meta key %s: longer than %d characters",
			               conf_check_q(k), CONF_META_KEY_MAX);
		else if (!conf_chars_ok(k, "_-", true))
			conf_check_err(ck,
			               "node_meta key %s: only A-Z, a-z, 0-9, _ and - are allowed",
			               conf_check_q(k));
		else if (strncmp(k, CONF_META_RESERVED, strlen(CONF_META_RESERVED)) == 0)
			conf_check_err(ck,
			               "node_meta key %s: the prefix \"consul-\" is reserved for "
			               "internal use",
			               conf_check_q(k));
		else if (strlen(m->v[i].value) > CONF_META_VALUE_MAX)
			conf_check_err(ck,
			               "node_meta key %s: the value is longer than %d characters",
			               conf_check_q(k), CONF_META_VALUE_MAX);
	}
}

/* Length of standard base64 with padding decoded, or -1. */
static long conf_b64_len(const char *s)
{
	size_t n = strlen(s), pad = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '=') {
			if (i < n - 2)
				return -1;
			pad++;
		} else if (pad > 0 || !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		                        (ch >= '0' && ch <= '9') || ch == '+' || ch == '/')) {
			return -1;
		}
	}
	return (long)(n / 4 * 3 - pad);
}

static void conf_check_encrypt(struct conf_check *ck)
{
	long n;

	if (ck->c->encrypt == NULL || ck->c->encrypt[0] == '\0')
		return;
	n = conf_b64_len(ck->c->encrypt);
	if (n < 0)
		conf_check_err(ck, "encrypt: invalid key: not standard base64");
	else if (n != 16 && n != 24 && n != 32)
		conf_check_err(ck,
		               "encrypt: invalid key: %ld bytes, must be 16, 24 or 32 (AES-128, "
		               "-192 or -256)",
		               n);
}

/* Consul's uiConfigVal / UIPathBuilder and the content path checks. */
static void conf_check_ui(struct conf_check *ck)
{
	struct conf_ui *ui = &ck->c->ui_config;
	const char *s = ui->content_path ? ui->content_path : "";
	char *fixed;
	size_t n;

	if (asprintf(&fixed, "%s%s%s", s[0] == '/' ? "" : "/", s,
	             s[0] != '\0' && s[strlen(s) - 1] == '/' ? "" : "/") < 0) {
		conf_check_err(ck, "out of memory");
		return;
	}
	if (strcmp(fixed, "//") == 0)
		fixed[1] = '\0';
	free(ui->content_path);
	ui->content_path = fixed;
	n = strlen(fixed);
	if (!conf_chars_ok(fixed, "/_-", true))
		conf_check_err(ck,
		               "ui_config.content_path can only contain alphanumeric, -, _, or "
		               "/, got %s",
		               conf_check_q(fixed));
	else if (n >= 4 && fixed[1] == 'v' && strspn(fixed + 2, "0123456789") == n - 3 &&
	         fixed[n - 1] == '/')
		conf_check_err(ck, "ui_config.content_path cannot be /v[0-9]+/, got %s",
		               conf_check_q(fixed));
	if (!ck->c->dev_mode && ui->enabled && ui->dir != NULL && ui->dir[0] != '\0')
		conf_check_err(ck, "ui_config.enabled and ui_config.dir were both given: the UI is "
		                   "built in (use ui_config.enabled), or serve your own "
		                   "(ui_config.dir)");
}

/* ---- roles ---- */

static void conf_check_bootstrap(struct conf_check *ck)
{
	struct conf *c = ck->c;
	int before = ck->rc;

	ck->rc = 0;
	if (c->bootstrap && !c->server)
		conf_check_err(ck, "bootstrap requires server = true");
	if (c->bootstrap_expect > 0 && !c->server)
		conf_check_err(ck, "bootstrap_expect requires server = true");
	if (c->bootstrap_expect > 0 && c->dev_mode)
		conf_check_err(ck, "bootstrap_expect is not allowed in dev mode");
	if (c->bootstrap_expect > 0 && c->bootstrap)
		conf_check_err(ck, "bootstrap and bootstrap_expect are mutually exclusive");
	if (ck->rc != 0)
		return;
	ck->rc = before;
	/* Consul's builder, and its warnings, in its words. */
	if (c->bootstrap_expect == 1) {
		c->bootstrap = true;
		c->bootstrap_expect = 0;
		conf_check_warn(ck, "bootstrap_expect = 1 is the same as bootstrap = true");
	}
	if (c->server && !c->dev_mode && !c->bootstrap && c->bootstrap_expect == 2)
		conf_check_warn(ck,
		                "bootstrap_expect = 2: A cluster with 2 servers will provide no "
		                "failure tolerance. See "
		                "https://www.consul.io/docs/internals/"
		                "consensus.html#deployment-table");
	if (c->server && !c->bootstrap && c->bootstrap_expect > 2 && c->bootstrap_expect % 2 == 0)
		conf_check_warn(ck,
		                "bootstrap_expect is even number: A cluster with an even number "
		                "of servers does not achieve optimum fault tolerance. See "
		                "https://www.consul.io/docs/internals/"
		                "consensus.html#deployment-table");
	if (c->server && c->bootstrap && c->bootstrap_expect == 0)
		conf_check_warn(ck, "bootstrap = true: do not enable unless necessary");
	if (c->server && !c->dev_mode && !c->bootstrap && c->bootstrap_expect > 1)
		conf_check_warn(ck, "bootstrap_expect > 0: expecting %d servers",
		                c->bootstrap_expect);
}

/* Defaults that follow other keys, for keys no layer set. */
static void conf_check_derive(struct conf_check *ck)
{
	struct conf *c = ck->c;

	if (!conf_key_was_set(c, "leave_on_terminate"))
		c->leave_on_terminate = !c->server;
	if (!conf_key_was_set(c, "skip_leave_on_interrupt"))
		c->skip_leave_on_interrupt = c->server;
	if (!conf_key_was_set(c, "enable_local_script_checks"))
		c->enable_local_script_checks = c->enable_script_checks;
	if (c->primary_datacenter == NULL || c->primary_datacenter[0] == '\0')
		conf_check_set(ck, &c->primary_datacenter, c->datacenter);
	/* From a bind_addr that is not an IP, only its own error. */
	if (c->bind_addr == NULL || !conf_is_ip(c->bind_addr))
		return;
	if (c->serf_lan == NULL)
		conf_check_set(ck, &c->serf_lan, c->bind_addr);
	if (c->serf_wan == NULL)
		conf_check_set(ck, &c->serf_wan, c->bind_addr);
	if (c->advertise_addr == NULL && !conf_is_any(c->bind_addr))
		conf_check_set(ck, &c->advertise_addr, c->bind_addr);
	if (c->advertise_addr_wan == NULL && c->advertise_addr != NULL)
		conf_check_set(ck, &c->advertise_addr_wan, c->advertise_addr);
}

static void conf_check_timings(struct conf_check *ck)
{
	const struct conf *c = ck->c;
	const struct conf_test_raft *r = &c->test_timings.raft;

	/* hashicorp/raft's ValidateConfig. */
	if (r->election_timeout_ms < r->heartbeat_timeout_ms)
		conf_check_err(ck, "test_timings.raft.election_timeout must be at least "
		                   "test_timings.raft.heartbeat_timeout");
	if (r->leader_lease_timeout_ms > r->heartbeat_timeout_ms)
		conf_check_err(ck, "test_timings.raft.leader_lease_timeout cannot be larger than "
		                   "test_timings.raft.heartbeat_timeout");
	if (c->supervisor.restart_backoff_max_ms < c->supervisor.restart_backoff_min_ms)
		conf_check_err(ck, "supervisor.restart_backoff_max must be at least "
		                   "supervisor.restart_backoff_min");
	if (c->default_query_time_ms > c->max_query_time_ms)
		conf_check_err(ck, "default_query_time cannot be larger than max_query_time");
}

int conf_check_run(struct conf *c, bool need_data_dir, struct conf_diag *d)
{
	struct conf_check ck = {c, d, 0};

	if (need_data_dir && !c->dev_mode && (c->data_dir == NULL || c->data_dir[0] == '\0'))
		conf_check_err(&ck, "data_dir is required (or use -dev)");
	if (c->datacenter == NULL)
		conf_check_err(&ck, "datacenter cannot be empty");
	else
		conf_check_dc(&ck, "datacenter", c->datacenter);
	conf_check_derive(&ck);
	if (c->primary_datacenter != NULL && c->datacenter != NULL &&
	    strcasecmp(c->primary_datacenter, c->datacenter) != 0)
		conf_check_dc(&ck, "primary_datacenter", c->primary_datacenter);
	else if (c->primary_datacenter != NULL)
		conf_lower(c->primary_datacenter);
	conf_check_node_name(&ck);
	conf_check_node_id(&ck);
	conf_check_bootstrap(&ck);
	conf_check_addresses(&ck);
	conf_check_ports(&ck);
	if (c->domain == NULL)
		conf_check_err(&ck, "domain cannot be empty");
	else
		conf_check_domain(&ck, "domain", &c->domain);
	if (c->alt_domain != NULL && c->alt_domain[0] == '\0')
		conf_check_set(&ck, &c->alt_domain, NULL);
	conf_check_alt_domain(&ck);
	conf_check_node_meta(&ck);
	conf_check_encrypt(&ck);
	conf_check_ui(&ck);
	conf_check_timings(&ck);
	return ck.rc;
}

/* ---- host facts ---- */

/* Consul's ipaddr.GetPrivateIPv4 blocks: RFC 1918 and RFC 6598. */
static bool conf_is_private4(const struct in_addr *a)
{
	uint32_t v = ntohl(a->s_addr);

	return (v >> 24) == 10 || (v >> 22) == ((100u << 2) | 1) ||
	       (v >> 20) == ((172u << 4) | 1) || (v >> 16) == ((192u << 8) | 168);
}

/* Global unicast (2000::/3), so neither link-local nor unique-local. */
static bool conf_is_public6(const struct in6_addr *a)
{
	return (a->s6_addr[0] & 0xe0) == 0x20;
}

/* Consul's advertiseAddrFunc: with bind_addr any, the one private IPv4
 * (or public IPv6) of an interface that is up. */
static int conf_check_advertise(struct conf_check *ck)
{
	char found[CONF_IFADDRS_MAX][INET6_ADDRSTRLEN], list[256] = "";
	bool v6 = strchr(ck->c->bind_addr, ':') != NULL;
	const char *kind = v6 ? "public IPv6" : "private IPv4";
	struct ifaddrs *ifs, *ifa;
	size_t n = 0, len = 0;

	if (getifaddrs(&ifs) != 0) {
		conf_check_err(ck,
		               "cannot list the network interfaces to find the %s address to "
		               "advertise: set bind_addr or advertise_addr",
		               kind);
		return -1;
	}
	for (ifa = ifs; ifa != NULL; ifa = ifa->ifa_next) {
		char s[INET6_ADDRSTRLEN];
		bool dup = false;

		if (ifa->ifa_addr == NULL || !(ifa->ifa_flags & IFF_UP) ||
		    (ifa->ifa_flags & IFF_LOOPBACK))
			continue;
		if (!v6 && ifa->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)ifa->ifa_addr;

			if (!conf_is_private4(&sin->sin_addr))
				continue;
			inet_ntop(AF_INET, &sin->sin_addr, s, sizeof(s));
		} else if (v6 && ifa->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const void *)ifa->ifa_addr;

			if (!conf_is_public6(&sin6->sin6_addr))
				continue;
			inet_ntop(AF_INET6, &sin6->sin6_addr, s, sizeof(s));
		} else {
			continue;
		}
		for (size_t i = 0; i < n; i++)
			dup = dup || strcmp(found[i], s) == 0;
		if (!dup && n < CONF_IFADDRS_MAX) {
			snprintf(found[n++], sizeof(found[0]), "%s", s);
			if (len < sizeof(list))
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
				                        n > 1 ? ", " : "", s);
		}
	}
	freeifaddrs(ifs);
	if (n == 0) {
		conf_check_err(ck,
		               "no %s address found to advertise: set bind_addr or "
		               "advertise_addr (-bind, -advertise)",
		               kind);
		return -1;
	}
	if (n > 1) {
		conf_check_err(ck,
		               "multiple %s addresses found (%s): set bind_addr or "
		               "advertise_addr (-bind, -advertise)",
		               kind, list);
		return -1;
	}
	conf_check_set(ck, &ck->c->advertise_addr, found[0]);
	if (ck->c->advertise_addr_wan == NULL)
		conf_check_set(ck, &ck->c->advertise_addr_wan, found[0]);
	return ck->rc;
}

int conf_check_host(struct conf *c, struct conf_diag *d)
{
	struct conf_check ck = {c, d, 0};

	if (c->node_name == NULL || c->node_name[0] == '\0') {
		char host[256];

		if (gethostname(host, sizeof(host)) != 0) {
			conf_check_err(&ck, "node_name is not set and the host name is unknown");
			return -1;
		}
		host[sizeof(host) - 1] = '\0';
		conf_check_set(&ck, &c->node_name, host);
		conf_check_node_name(&ck);
	}
	if (c->advertise_addr == NULL && c->bind_addr != NULL && conf_is_any(c->bind_addr))
		conf_check_advertise(&ck);
	return ck.rc;
}

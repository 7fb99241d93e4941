/* conf_flag.c: the `consul agent` flags (spec §3.2) in Go flag syntax, each mapped to a key. */
#include "conf_priv.h"

#include <stdio.h>
#include <string.h>

#define CONF_FLAG_DEPRECATED 1u /* warned: the note says what to use */
#define CONF_FLAG_UNUSED     2u /* a Consul flag muster does not use yet: warned, ignored */
#define CONF_FLAG_NOVALUE    4u /* an unused flag that is boolean */
#define CONF_FLAG_REFUSED    8u /* an error: the note says why */

struct conf_flag_def {
	const char *name;
	enum conf_flag_kind kind;
	const char *key; /* CONF_FLAG_KEY, CONF_FLAG_META */
	unsigned flags;
	const char *note;
};

/* Whether a flag is boolean (no separate value) follows from its key. */
static const struct conf_flag_def conf_flag_defs[] = {
    {"advertise", CONF_FLAG_KEY, "advertise_addr", 0, NULL},
    {"advertise-wan", CONF_FLAG_KEY, "advertise_addr_wan", 0, NULL},
    {"alt-domain", CONF_FLAG_KEY, "alt_domain", 0, NULL},
    {"bind", CONF_FLAG_KEY, "bind_addr", 0, NULL},
    {"bootstrap", CONF_FLAG_KEY, "bootstrap", 0, NULL},
    {"bootstrap-expect", CONF_FLAG_KEY, "bootstrap_expect", 0, NULL},
    {"client", CONF_FLAG_KEY, "client_addr", 0, NULL},
    {"config-dir", CONF_FLAG_DIR, NULL, 0, NULL},
    {"config-file", CONF_FLAG_FILE, NULL, 0, NULL},
    {"config-format", CONF_FLAG_FORMAT, NULL, 0, NULL},
    {"data-dir", CONF_FLAG_KEY, "data_dir", 0, NULL},
    {"datacenter", CONF_FLAG_KEY, "datacenter", 0, NULL},
    {"dc", CONF_FLAG_KEY, "datacenter", 0, NULL},
    {"default-query-time", CONF_FLAG_KEY, "default_query_time", 0, NULL},
    {"dev", CONF_FLAG_DEV, NULL, 0, NULL},
    {"disable-keyring-file", CONF_FLAG_KEY, "disable_keyring_file", 0, NULL},
    {"dns-port", CONF_FLAG_KEY, "ports.dns", 0, NULL},
    {"domain", CONF_FLAG_KEY, "domain", 0, NULL},
    {"enable-local-script-checks", CONF_FLAG_KEY, "enable_local_script_checks", 0, NULL},
    {"enable-script-checks", CONF_FLAG_KEY, "enable_script_checks", 0, NULL},
    {"encrypt", CONF_FLAG_KEY, "encrypt", 0, NULL},
    {"grpc-port", CONF_FLAG_KEY, "ports.grpc", 0, NULL},
    {"grpc-tls-port", CONF_FLAG_KEY, "ports.grpc_tls", 0, NULL},
    {"hcl", CONF_FLAG_KEY, NULL, CONF_FLAG_REFUSED,
     "HCL is not supported by muster: use -config-file with YAML or JSON"},
    {"http-port", CONF_FLAG_KEY, "ports.http", 0, NULL},
    {"https-port", CONF_FLAG_KEY, "ports.https", 0, NULL},
    /* Consul 1.15: -join and -join-wan are aliases of the retry forms. */
    {"join", CONF_FLAG_KEY, "retry_join", CONF_FLAG_DEPRECATED, "use -retry-join"},
    {"join-wan", CONF_FLAG_KEY, "retry_join_wan", CONF_FLAG_DEPRECATED, "use -retry-join-wan"},
    {"log-file", CONF_FLAG_KEY, NULL, CONF_FLAG_UNUSED, NULL},
    {"log-json", CONF_FLAG_KEY, "log_json", 0, NULL},
    {"log-level", CONF_FLAG_KEY, "log_level", 0, NULL},
    {"log-rotate-bytes", CONF_FLAG_KEY, NULL, CONF_FLAG_UNUSED, NULL},
    {"log-rotate-duration", CONF_FLAG_KEY, NULL, CONF_FLAG_UNUSED, NULL},
    {"log-rotate-max-files", CONF_FLAG_KEY, NULL, CONF_FLAG_UNUSED, NULL},
    {"max-query-time", CONF_FLAG_KEY, "max_query_time", 0, NULL},
    {"node", CONF_FLAG_KEY, "node_name", 0, NULL},
    {"node-id", CONF_FLAG_KEY, "node_id", 0, NULL},
    {"node-meta", CONF_FLAG_META, "node_meta", 0, NULL},
    {"pid-file", CONF_FLAG_KEY, "pid_file", 0, NULL},
    {"primary-gateway", CONF_FLAG_KEY, NULL, CONF_FLAG_UNUSED, NULL},
    {"protocol", CONF_FLAG_KEY, NULL, CONF_FLAG_UNUSED, NULL},
    {"raft-protocol", CONF_FLAG_KEY, "raft_protocol", 0, NULL},
    {"recursor", CONF_FLAG_KEY, "recursors", 0, NULL},
    {"rejoin", CONF_FLAG_KEY, "rejoin_after_leave", 0, NULL},
    {"retry-interval", CONF_FLAG_KEY, "retry_interval", 0, NULL},
    {"retry-interval-wan", CONF_FLAG_KEY, "retry_interval_wan", 0, NULL},
    {"retry-join", CONF_FLAG_KEY, "retry_join", 0, NULL},
    {"retry-join-wan", CONF_FLAG_KEY, "retry_join_wan", 0, NULL},
    {"retry-max", CONF_FLAG_KEY, "retry_max", 0, NULL},
    {"retry-max-wan", CONF_FLAG_KEY, "retry_max_wan", 0, NULL},
    {"serf-lan-allowed-cidrs", CONF_FLAG_KEY, NULL, CONF_FLAG_UNUSED, NULL},
    {"serf-lan-bind", CONF_FLAG_KEY, "serf_lan", 0, NULL},
    {"serf-lan-port", CONF_FLAG_KEY, "ports.serf_lan", 0, NULL},
    {"serf-wan-allowed-cidrs", CONF_FLAG_KEY, NULL, CONF_FLAG_UNUSED, NULL},
    {"serf-wan-bind", CONF_FLAG_KEY, "serf_wan", 0, NULL},
    {"serf-wan-port", CONF_FLAG_KEY, "ports.serf_wan", 0, NULL},
    {"server", CONF_FLAG_KEY, "server", 0, NULL},
    {"server-port", CONF_FLAG_KEY, "ports.server", 0, NULL},
    {"syslog", CONF_FLAG_KEY, NULL, CONF_FLAG_UNUSED | CONF_FLAG_NOVALUE, NULL},
    {"ui", CONF_FLAG_KEY, "ui_config.enabled", 0, NULL},
    {"ui-content-path", CONF_FLAG_KEY, "ui_config.content_path", 0, NULL},
    {"ui-dir", CONF_FLAG_KEY, "ui_config.dir", 0, NULL},
};

static const struct conf_flag_def *conf_flag_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(conf_flag_defs) / sizeof(conf_flag_defs[0]); i++) {
		if (strlen(conf_flag_defs[i].name) == len &&
		    memcmp(conf_flag_defs[i].name, name, len) == 0)
			return &conf_flag_defs[i];
	}
	return NULL;
}

static bool conf_flag_is_bool(const struct conf_flag_def *f)
{
	if (f->kind == CONF_FLAG_DEV)
		return true;
	if (f->flags & CONF_FLAG_UNUSED)
		return (f->flags & CONF_FLAG_NOVALUE) != 0;
	return f->kind == CONF_FLAG_KEY && f->key != NULL && conf_key_is_bool(f->key);
}

/* Go's flag package: "-name", "--name", "-name=value", "-name value"
 * (not for booleans, which take "-name" or "-name=false"); "--" ends the
 * flags. conf_resolve takes no positional argument, so one is an error. */
int conf_flag_parse(int argc, char **argv, struct conf_flag_use *out, struct conf_diag *d)
{
	int n = 0, rc = 0;
	bool dashdash = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *value;
		const struct conf_flag_def *f;
		size_t len;

		if (dashdash || a[0] != '-' || a[1] == '\0') {
			char q[96];

			conf_diag_error(d, "config: unexpected argument %s (agent flags only)",
			                conf_quote(a, q, sizeof(q)));
			rc = -1;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = true;
			continue;
		}
		name = a[1] == '-' ? a + 2 : a + 1;
		if (name[0] == '-' || name[0] == '=' || name[0] == '\0') {
			conf_diag_error(d, "config: bad flag syntax: %s", a);
			rc = -1;
			continue;
		}
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		f = conf_flag_find(name, len);
		if (f == NULL) {
			conf_diag_error(d, "config: unknown flag -%.*s", (int)len, name);
			rc = -1;
			continue;
		}
		if (eq != NULL) {
			value = eq + 1;
		} else if (conf_flag_is_bool(f)) {
			value = "true";
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			conf_diag_error(d, "config: flag -%s needs a value", f->name);
			rc = -1;
			continue;
		}
		if (f->flags & CONF_FLAG_REFUSED) {
			conf_diag_error(d, "config: flag -%s: %s", f->name, f->note);
			rc = -1;
			continue;
		}
		if (f->flags & CONF_FLAG_UNUSED) {
			conf_diag_warn(d, "config: flag -%s is not used by muster yet", f->name);
			continue;
		}
		if (f->flags & CONF_FLAG_DEPRECATED)
			conf_diag_warn(d, "config: flag -%s is deprecated: %s", f->name, f->note);
		out[n].kind = f->kind;
		out[n].name = f->name;
		out[n].key = f->key;
		out[n].value = value;
		n++;
	}
	return rc == 0 ? n : -1;
}

/* cmd_agent.c: reload, info, monitor and maint: this agent's own state (spec §2.4; Consul's command/reload, info, monitor, maint). */
#include "child.h"
#include "cli.h"
#include "gofmt.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char reload_help[] =
    "Usage: muster reload\n\n"
    "  Causes the agent to reload configurations. This can be used instead\n"
    "  of sending the SIGHUP signal to the agent.";

int cmd_reload(int argc, char **argv)
{
	struct http_opts o = {0};
	const struct cflag flags[] = {HTTP_CLIENT_FLAGS(&o), CFLAG_DONE};
	struct http_client c;
	struct http_resp r;
	char err[HTTP_ERR_MAX];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, reload_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	rc = http_ok(&c, "PUT", "/v1/agent/reload", NULL, NULL, 0, &r, err, sizeof(err));
	http_resp_fini(&r);
	http_client_fini(&c);
	if (rc != 0) {
		fprintf(stderr, "Error reloading: %s\n", err);
		return 1;
	}
	printf("Configuration reload triggered\n");
	return 0;
}

static int info_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of an object, sorted (Go's sort.Strings over a map). */
static size_t info_keys(struct json_object *obj, const char **keys, size_t max)
{
	size_t n = 0;

	json_object_object_foreach(obj, k, v)
	{
		(void)v;
		if (n < max)
			keys[n++] = k;
	}
	qsort(keys, n, sizeof(*keys), info_key_cmp);
	return n;
}

static const char info_help[] = "Usage: muster info [options]\n\n"
                                "  Provides debugging information for operators";

int cmd_info(int argc, char **argv)
{
	struct http_opts o = {0};
	const struct cflag flags[] = {HTTP_CLIENT_FLAGS(&o), CFLAG_DONE};
	struct http_client c;
	struct http_resp r;
	struct json_object *self = NULL, *stats;
	const char *sections[64], *keys[256];
	char err[HTTP_ERR_MAX];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, info_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	rc = 1;
	if (http_ok(&c, "GET", "/v1/agent/self", NULL, NULL, 0, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "Error querying agent: %s\n", err);
		goto out;
	}
	self = json_tokener_parse(buf_cstr(&r.body) ? buf_cstr(&r.body) : "");
	if (!json_object_object_get_ex(self, "Stats", &stats) ||
	    !json_object_is_type(stats, json_type_object)) {
		fprintf(stderr, "Agent response did not contain 'Stats' key\n");
		goto out;
	}
	/* Each section "name:" then "\tkey = value", both sorted. */
	size_t ns = info_keys(stats, sections, sizeof(sections) / sizeof(sections[0]));
	for (size_t i = 0; i < ns; i++) {
		struct json_object *sec = json_object_object_get(stats, sections[i]);
		printf("%s:\n", sections[i]);
		if (!json_object_is_type(sec, json_type_object)) {
			fprintf(stderr, "Got invalid subkey in stats: %s\n",
			        json_object_to_json_string(sec));
			goto out;
		}
		size_t nk = info_keys(sec, keys, sizeof(keys) / sizeof(keys[0]));
		for (size_t k = 0; k < nk; k++) {
			struct json_object *v = json_object_object_get(sec, keys[k]);
			printf("\t%s = %s\n", keys[k],
			       json_object_is_type(v, json_type_string)
			           ? json_object_get_string(v)
			           : json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		}
	}
	rc = 0;
out:
	json_object_put(self);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

static void monitor_line(const char *line, size_t len, void *arg)
{
	(void)arg;
	fwrite(line, 1, len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

static bool monitor_abort(void *arg)
{
	(void)arg;
	return child_stop_requested();
}

static const char monitor_help[] =
    "Usage: muster monitor [options]\n\n"
    "  Shows recent log messages of an agent, and attaches to the agent,\n"
    "  outputting log messages as they occur in real time. The monitor lets you\n"
    "  listen for log levels that may be filtered out of the agent's log.\n"
    "  Stops on SIGINT.";

int cmd_monitor(int argc, char **argv)
{
	struct http_opts o = {0};
	const char *level = "INFO";
	bool json = false;
	const struct cflag flags[] = {
	    CFLAG_STR("log-level", &level,
	              "Log level of the agent (trace, debug, info, warn, error)."),
	    CFLAG_BOOL("log-json", &json, "Output logs in JSON format."),
	    HTTP_CLIENT_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	char err[HTTP_ERR_MAX];
	enum http_rc hrc;
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, monitor_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (cli_connect(&c, &o) != 0)
		return 1;
	child_signals_init();
	c.line_fn = monitor_line;
	c.abort_fn = monitor_abort;
	http_resp_init(&r);
	http_query_init(&q);
	http_query_add(&q, "loglevel", level);
	if (json)
		http_query_add(&q, "logjson", "true");
	hrc = http_call(&c, "GET", "/v1/agent/monitor", &q, NULL, 0, &r);
	rc = 1;
	if (hrc == HTTP_ABORTED) {
		rc = 0; /* interrupted: Consul's shutdownCh */
	} else if (hrc != HTTP_OK) {
		fprintf(stderr, "Error starting monitor: %s\n", r.err);
	} else if (r.status != 200) {
		http_status_error(&r, err, sizeof(err));
		fprintf(stderr, "Error starting monitor: %s\n", err);
	} else {
		printf("\nRemote side ended the monitor! This usually means that the\n"
		       "remote side has exited or crashed.\n");
	}
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

static const char maint_help[] =
    "Usage: muster maint [options]\n\n"
    "  Places a node or service into maintenance mode. During maintenance mode,\n"
    "  the node or service will be excluded from all queries through the DNS\n"
    "  or API interfaces, effectively taking it out of the pool of available\n"
    "  nodes. This is done by registering an additional critical health check.\n\n"
    "  By default, we operate on the node as a whole. By specifying the\n"
    "  \"-service\" argument, this behavior can be changed to enable or disable\n"
    "  only a specific service.\n\n"
    "  If no arguments are given, the agent's maintenance status will be shown.\n"
    "  This will return blank if nothing is currently under maintenance.";

static const char *maint_str(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : "";
}

int cmd_maint(int argc, char **argv)
{
	struct http_opts o = {0};
	bool enable = false, disable = false;
	const char *reason = NULL, *service = NULL;
	const struct cflag flags[] = {
	    HTTP_CLIENT_FLAGS(&o),
	    CFLAG_BOOL("enable", &enable, "Enable maintenance mode."),
	    CFLAG_BOOL("disable", &disable, "Disable maintenance mode."),
	    CFLAG_STR("reason", &reason, "Text describing the maintenance reason."),
	    CFLAG_STR("service", &service, "Control maintenance mode for a specific service ID."),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	struct json_object *checks = NULL;
	char err[HTTP_ERR_MAX], node[512], path[1024];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, maint_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (reason != NULL && reason[0] == '\0')
		reason = NULL;
	if (service != NULL && service[0] == '\0')
		service = NULL;
	if (enable && disable) {
		fprintf(stderr, "Only one of -enable or -disable may be provided\n");
		return 1;
	}
	if (!enable && reason != NULL) {
		fprintf(stderr, "Reason may only be provided with -enable\n");
		return 1;
	}
	if (!enable && !disable && service != NULL) {
		fprintf(stderr, "Service requires either -enable or -disable\n");
		return 1;
	}
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	rc = 1;
	if (http_node_name(&c, node, sizeof(node), err, sizeof(err)) != 0) {
		fprintf(stderr, "Error querying Consul agent: %s\n", err);
		goto out;
	}
	if (!enable && !disable) {
		/* List mode: the maintenance checks of this agent. */
		if (http_ok(&c, "GET", "/v1/agent/checks", NULL, NULL, 0, &r, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "Error getting checks: %s\n", err);
			goto out;
		}
		checks = json_tokener_parse(buf_cstr(&r.body) ? buf_cstr(&r.body) : "");
		if (json_object_is_type(checks, json_type_object)) {
			json_object_object_foreach(checks, id, chk)
			{
				const char *cid = maint_str(chk, "CheckID");
				(void)id;
				if (strcmp(cid, "_node_maintenance") == 0) {
					printf("Node:\n  Name:   %s\n  Reason: %s\n\n", node,
					       maint_str(chk, "Notes"));
				} else if (strncmp(cid, "_service_maintenance:", 21) == 0) {
					printf("Service:\n  ID:     %s\n  Reason: %s\n\n",
					       maint_str(chk, "ServiceID"),
					       maint_str(chk, "Notes"));
				}
			}
		}
		rc = 0;
		goto out;
	}
	http_query_init(&q);
	http_query_add(&q, "enable", enable ? "true" : "false");
	if (enable)
		http_query_add(&q, "reason", reason != NULL ? reason : "");
	if (service == NULL)
		snprintf(path, sizeof(path), "/v1/agent/maintenance");
	else
		snprintf(path, sizeof(path), "/v1/agent/service/maintenance/%s", service);
	if (http_ok(&c, "PUT", path, &q, NULL, 0, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "Error %s %s maintenance: %s\n", enable ? "enabling" : "disabling",
		        service == NULL ? "node" : "service", err);
		goto out;
	}
	if (service == NULL)
		printf("Node maintenance is now %s\n", enable ? "enabled" : "disabled");
	else {
		char qs[600];
		gofmt_quote_buf(service, strlen(service), qs, sizeof(qs));
		printf("Service maintenance is now %s for %s\n", enable ? "enabled" : "disabled",
		       qs);
	}
	rc = 0;
out:
	json_object_put(checks);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

/* cmd_event.c: event: fire a user event over gossip through the agent (spec §2.4; Consul's command/event). */
#include "cli.h"
#include "rex.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static const char event_help[] =
    "Usage: muster event [options] [payload]\n\n"
    "  Dispatches a custom user event across a datacenter. An event must provide\n"
    "  a name, but a payload is optional. Events support filtering using\n"
    "  regular expressions on node name, service, and tag definitions.\n"
    "  Serf keeps name and payload under 512 bytes together.";

/* The filters are only checked here, as Consul does; the agents that
 * receive the event apply them. */
static int event_check_re(const char *what, const char *pat)
{
	char why[256];
	regex_t re;

	if (pat == NULL || pat[0] == '\0')
		return 0;
	if (rex_compile(&re, pat, strlen(pat), why, sizeof(why)) != 0) {
		fprintf(stderr, "Failed to compile %s filter regexp: %s\n", what, why);
		return -1;
	}
	regfree(&re);
	return 0;
}

int cmd_event(int argc, char **argv)
{
	struct http_opts o = {0};
	const char *name = NULL, *node = NULL, *service = NULL, *tag = NULL;
	const struct cflag flags[] = {
	    CFLAG_STR("name", &name, "Name of the event."),
	    CFLAG_STR("node", &node, "Regular expression to filter on node names."),
	    CFLAG_STR("service", &service, "Regular expression to filter on service instances."),
	    CFLAG_STR("tag", &tag,
	              "Regular expression to filter on service tags. Must be used with -service."),
	    HTTP_CLIENT_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	struct json_object *ans = NULL, *id;
	const char *payload = NULL;
	char err[HTTP_ERR_MAX], path[1024], nodename[512];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, event_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (name == NULL || name[0] == '\0') {
		fprintf(stderr, "Event name must be specified\n\n");
		cflag_usage(flags, event_help, stderr);
		return 1;
	}
	if (event_check_re("node", node) != 0 || event_check_re("service", service) != 0 ||
	    event_check_re("tag", tag) != 0)
		return 1;
	if (tag != NULL && tag[0] != '\0' && (service == NULL || service[0] == '\0')) {
		fprintf(stderr, "Cannot provide tag filter without service filter.\n");
		return 1;
	}
	if (argc - first > 1) {
		fprintf(stderr, "Too many command line arguments.\n\n");
		cflag_usage(flags, event_help, stderr);
		return 1;
	}
	if (argc - first == 1)
		payload = argv[first];
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	rc = 1;
	if (http_node_name(&c, nodename, sizeof(nodename), err, sizeof(err)) != 0) {
		fprintf(stderr, "Error querying Consul agent: %s\n", err);
		goto out;
	}
	http_query_init(&q);
	if (node != NULL && node[0] != '\0')
		http_query_add(&q, "node", node);
	if (service != NULL && service[0] != '\0')
		http_query_add(&q, "service", service);
	if (tag != NULL && tag[0] != '\0')
		http_query_add(&q, "tag", tag);
	snprintf(path, sizeof(path), "/v1/event/fire/%s", name);
	if (http_ok(&c, "PUT", path, &q, payload != NULL ? payload : "",
	            payload != NULL ? strlen(payload) : 0, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "Error firing event: %s\n", err);
		goto out;
	}
	ans = json_tokener_parse(buf_cstr(&r.body) ? buf_cstr(&r.body) : "");
	if (!json_object_object_get_ex(ans, "ID", &id)) {
		fprintf(stderr, "Error firing event: the agent's answer has no ID\n");
		goto out;
	}
	printf("Event ID: %s\n", json_object_get_string(id));
	rc = 0;
out:
	json_object_put(ans);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

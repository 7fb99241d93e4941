/* cmd_catalog.c: catalog datacenters|nodes|services (spec §2.4; Consul's command/catalog/list). */
#include "cli.h"
#include "table.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *cat_str(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : "";
}

static struct json_object *cat_parse(struct http_resp *r)
{
	return json_tokener_parse(buf_cstr(&r->body) ? buf_cstr(&r->body) : "");
}

static int cat_strcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* -node-meta k=v, repeated: node-meta=k:v each (the Go api's form). */
static void cat_node_meta(struct http_query *q, const struct cflag_list *meta)
{
	char kv[1024];

	for (size_t i = 0; i < meta->n; i++) {
		const char *eq = strchr(meta->v[i], '=');
		snprintf(kv, sizeof(kv), "%.*s:%s", (int)(eq - meta->v[i]), meta->v[i], eq + 1);
		http_query_add(q, "node-meta", kv);
	}
}

static const char dcs_help[] =
    "Usage: muster catalog datacenters [options]\n\n"
    "  Retrieves the list of all known datacenters. This datacenters are sorted in\n"
    "  ascending order based on the estimated median round trip time from the servers\n"
    "  in this datacenter to the servers in the other datacenters.";

static int cat_datacenters(int argc, char **argv)
{
	struct http_opts o = {0};
	const struct cflag flags[] = {HTTP_CLIENT_FLAGS(&o), HTTP_SERVER_FLAGS(&o), CFLAG_DONE};
	struct http_client c;
	struct http_resp r;
	struct json_object *dcs = NULL;
	char err[HTTP_ERR_MAX];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, dcs_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (cli_args_max(argc - first, 0) != 0)
		return 1;
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	rc = 1;
	/* Consul prints this error yet exits 0; spec §2.2 says an API error is 1. */
	if (http_ok(&c, "GET", "/v1/catalog/datacenters", NULL, NULL, 0, &r, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "Error listing datacenters: %s\n", err);
		goto out;
	}
	dcs = cat_parse(&r);
	for (size_t i = 0;
	     json_object_is_type(dcs, json_type_array) && i < json_object_array_length(dcs); i++)
		printf("%s\n", json_object_get_string(json_object_array_get_idx(dcs, i)));
	rc = 0;
out:
	json_object_put(dcs);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

/* mapToKV: "k=v" pairs sorted by key, joined by ", ". */
static void cat_map_kv(struct buf *out, struct json_object *m)
{
	const char *keys[256];
	size_t n = 0;

	if (!json_object_is_type(m, json_type_object))
		return;
	json_object_object_foreach(m, k, v)
	{
		(void)v;
		if (n < sizeof(keys) / sizeof(keys[0]))
			keys[n++] = k;
	}
	qsort(keys, n, sizeof(keys[0]), cat_strcmp);
	for (size_t i = 0; i < n; i++)
		buf_printf(out, "%s%s=%s", i ? ", " : "", keys[i], cat_str(m, keys[i]));
}

static const char nodes_help[] =
    "Usage: muster catalog nodes [options]\n\n"
    "  Retrieves the list nodes registered in a given datacenter. By default, the\n"
    "  datacenter of the local agent is queried. -detailed prints full node IDs,\n"
    "  tagged addresses and metadata; -service lists the nodes providing a service;\n"
    "  -node-meta filters by node metadata; -near sorts by round-trip time.";

static int cat_nodes(int argc, char **argv)
{
	struct http_opts o = {0};
	bool detailed = false;
	const char *near = NULL, *service = NULL, *filter = NULL;
	struct cflag_list meta = {.n = 0};
	const struct cflag flags[] = {
	    CFLAG_STR("filter", &filter, "Filter to use with the request"),
	    CFLAG_BOOL("detailed", &detailed,
	               "Output detailed information about the nodes including their addresses "
	               "and metadata."),
	    CFLAG_STR("near", &near,
	              "Node name to sort the node list in ascending order based on estimated "
	              "round-trip time from that node. Passing \"_agent\" will use this agent's "
	              "node for sorting."),
	    CFLAG_MAP("node-meta", &meta,
	              "Metadata to filter nodes with the given key=value pairs. This flag may be "
	              "specified multiple times to filter on multiple sources of metadata."),
	    CFLAG_STR("service", &service,
	              "Service id or name to filter nodes. Only nodes which are providing the "
	              "given service will be returned."),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	struct json_object *list = NULL;
	struct buf t;
	char err[HTTP_ERR_MAX], path[HTTP_URL_MAX];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, nodes_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (cli_args_max(argc - first, 0) != 0)
		return 1;
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	http_query_init(&q);
	buf_init(&t, HTTP_BODY_MAX);
	if (near != NULL && near[0] != '\0')
		http_query_add(&q, "near", near);
	cat_node_meta(&q, &meta);
	if (filter != NULL && filter[0] != '\0')
		http_query_add(&q, "filter", filter);
	rc = 1;
	if (service != NULL && service[0] != '\0') {
		snprintf(path, sizeof(path), "/v1/catalog/service/%s", service);
		if (http_ok(&c, "GET", path, &q, NULL, 0, &r, err, sizeof(err)) != 0) {
			fprintf(stderr, "Error listing nodes for service: %s\n", err);
			goto out;
		}
	} else if (http_ok(&c, "GET", "/v1/catalog/nodes", &q, NULL, 0, &r, err, sizeof(err)) !=
	           0) {
		fprintf(stderr, "Error listing nodes: %s\n", err);
		goto out;
	}
	list = cat_parse(&r);
	size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	if (n == 0) {
		fprintf(stderr, "No nodes match the given query - try expanding your search.\n");
		rc = 0;
		goto out;
	}
	if (detailed)
		buf_printf(&t, "Node" TABLE_SEP "ID" TABLE_SEP "Address" TABLE_SEP "DC" TABLE_SEP
		               "TaggedAddresses" TABLE_SEP "Meta\n");
	else
		buf_printf(&t, "Node" TABLE_SEP "ID" TABLE_SEP "Address" TABLE_SEP "DC\n");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(list, i), *ta = NULL, *m = NULL;
		const char *id = cat_str(e, "ID");
		/* A catalog/service entry names its node's meta NodeMeta. */
		json_object_object_get_ex(e, "TaggedAddresses", &ta);
		if (!json_object_object_get_ex(e, service ? "NodeMeta" : "Meta", &m))
			json_object_object_get_ex(e, "Meta", &m);
		if (detailed) {
			buf_printf(&t, "%s" TABLE_SEP "%s" TABLE_SEP "%s" TABLE_SEP "%s" TABLE_SEP,
			           cat_str(e, "Node"), id, cat_str(e, "Address"),
			           cat_str(e, "Datacenter"));
			cat_map_kv(&t, ta);
			buf_printf(&t, TABLE_SEP);
			cat_map_kv(&t, m);
			buf_printf(&t, "\n");
		} else {
			/* The ID shortened to its first group. */
			const char *dash = strchr(id, '-');
			int idl = dash != NULL && dash > id ? (int)(dash - id) : (int)strlen(id);
			buf_printf(&t, "%s" TABLE_SEP "%.*s" TABLE_SEP "%s" TABLE_SEP "%s\n",
			           cat_str(e, "Node"), idl, id, cat_str(e, "Address"),
			           cat_str(e, "Datacenter"));
		}
	}
	if (buf_cstr(&t) == NULL) {
		fprintf(stderr, "Error printing nodes: larger than %u bytes\n", HTTP_BODY_MAX);
		goto out;
	}
	table_columnize(buf_cstr(&t), stdout);
	rc = 0;
out:
	json_object_put(list);
	buf_fini(&t);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

static const char services_help[] =
    "Usage: muster catalog services [options]\n\n"
    "  Retrieves the list services registered in a given datacenter. By default, the\n"
    "  datacenter of the local agent is queried. -tags shows each service's tags;\n"
    "  -node lists the services of one node; -node-meta filters on node metadata.";

/* One service name and its tags, gathered from either answer form. */
struct cat_svc {
	const char *name;
	const char *tags[128];
	size_t ntags;
};

static struct cat_svc *cat_svc_get(struct cat_svc *svcs, size_t *n, size_t max, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(svcs[i].name, name) == 0)
			return &svcs[i];
	if (*n >= max) {
		fprintf(stderr, "Warning: more than %zu services; the rest are not listed\n", max);
		return NULL;
	}
	svcs[*n].name = name;
	svcs[*n].ntags = 0;
	return &svcs[(*n)++];
}

static void cat_svc_tags(struct cat_svc *s, struct json_object *tags)
{
	for (size_t i = 0;
	     json_object_is_type(tags, json_type_array) && i < json_object_array_length(tags) &&
	     s->ntags < sizeof(s->tags) / sizeof(s->tags[0]);
	     i++)
		s->tags[s->ntags++] = json_object_get_string(json_object_array_get_idx(tags, i));
}

static int cat_svc_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cat_svc *)a)->name, ((const struct cat_svc *)b)->name);
}

/* Services listed at most, and tags per service (more are cut, with a warning). */
#define CAT_SERVICES_MAX 4096

static int cat_services(int argc, char **argv)
{
	struct http_opts o = {0};
	const char *node = NULL;
	bool tags = false;
	struct cflag_list meta = {.n = 0};
	const struct cflag flags[] = {
	    CFLAG_STR("node", &node, "Node id or name for which to list services."),
	    CFLAG_MAP("node-meta", &meta,
	              "Metadata to filter nodes with the given key=value pairs. If specified, "
	              "only services running on nodes matching the given metadata will be "
	              "returned. This flag may be specified multiple times."),
	    CFLAG_BOOL("tags", &tags,
	               "Display each service's tags as a comma-separated list beside each service "
	               "entry."),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	struct json_object *ans = NULL, *svcmap;
	struct cat_svc *svcs = NULL;
	size_t n = 0;
	char err[HTTP_ERR_MAX], path[HTTP_URL_MAX];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, services_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (cli_args_max(argc - first, 0) != 0)
		return 1;
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	http_query_init(&q);
	cat_node_meta(&q, &meta);
	svcs = calloc(CAT_SERVICES_MAX, sizeof(*svcs));
	rc = 1;
	if (svcs == NULL)
		goto out;
	if (node != NULL && node[0] != '\0') {
		snprintf(path, sizeof(path), "/v1/catalog/node/%s", node);
		if (http_ok(&c, "GET", path, &q, NULL, 0, &r, err, sizeof(err)) != 0) {
			fprintf(stderr, "Error listing services for node: %s\n", err);
			goto out;
		}
		ans = cat_parse(&r);
		if (json_object_object_get_ex(ans, "Services", &svcmap) &&
		    json_object_is_type(svcmap, json_type_object)) {
			json_object_object_foreach(svcmap, id, s)
			{
				struct cat_svc *cs;
				struct json_object *t = NULL;
				(void)id;
				cs = cat_svc_get(svcs, &n, CAT_SERVICES_MAX, cat_str(s, "Service"));
				if (cs == NULL)
					break;
				json_object_object_get_ex(s, "Tags", &t);
				cat_svc_tags(cs, t);
			}
		}
	} else {
		if (http_ok(&c, "GET", "/v1/catalog/services", &q, NULL, 0, &r, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "Error listing services: %s\n", err);
			goto out;
		}
		ans = cat_parse(&r);
		if (json_object_is_type(ans, json_type_object)) {
			json_object_object_foreach(ans, name, t)
			{
				struct cat_svc *cs = cat_svc_get(svcs, &n, CAT_SERVICES_MAX, name);
				if (cs == NULL)
					break;
				cat_svc_tags(cs, t);
			}
		}
	}
	if (n == 0) {
		fprintf(stderr, "No services match the given query - try expanding your search.\n");
		rc = 0;
		goto out;
	}
	qsort(svcs, n, sizeof(*svcs), cat_svc_cmp);
	if (tags) {
		/* A tabwriter (padding 6), then the whole trimmed of white space. */
		struct buf t;
		const char *s;
		size_t len;
		FILE *mem;
		char *text = NULL;

		buf_init(&t, HTTP_BODY_MAX);
		for (size_t i = 0; i < n; i++) {
			qsort(svcs[i].tags, svcs[i].ntags, sizeof(svcs[i].tags[0]), cat_strcmp);
			buf_printf(&t, "%s\t", svcs[i].name);
			for (size_t k = 0; k < svcs[i].ntags; k++)
				buf_printf(&t, "%s%s", k ? "," : "", svcs[i].tags[k]);
			buf_printf(&t, "\n");
		}
		s = buf_cstr(&t);
		mem = open_memstream(&text, &len);
		if (s != NULL && mem != NULL) {
			table_tabwrite(s, 6, mem);
			fclose(mem);
			while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' ||
			                   text[len - 1] == '\t'))
				len--;
			fwrite(text, 1, len, stdout);
			printf("\n");
		} else if (mem != NULL) {
			fclose(mem);
		}
		free(text);
		buf_fini(&t);
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", svcs[i].name);
	}
	rc = 0;
out:
	free(svcs);
	json_object_put(ans);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

static const struct cli_sub catalog_subs[] = {
    {"datacenters", cat_datacenters, "Lists all known datacenters"},
    {"nodes", cat_nodes, "Lists all nodes in the given datacenter"},
    {"services", cat_services, "Lists all registered services in a datacenter"},
    {NULL, NULL, NULL},
};

int cmd_catalog(int argc, char **argv)
{
	return cli_sub_run("Usage: muster catalog <subcommand> [options] [args]\n\n"
	                   "  Interacts with the catalog: datacenters, nodes and services.",
	                   catalog_subs, argc, argv);
}

/* cmd_members.c: members, join, leave and force-leave: gossip membership through the agent (spec §2.4; Consul's command/members, join, leave, forceleave). */
#include "cli.h"
#include "rex.h"
#include "table.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* serf.MemberStatus.String() */
static const char *members_status(int64_t s)
{
	static const char *const names[] = {"none", "alive", "leaving", "left", "failed"};
	return s >= 0 && s <= 4 ? names[s] : "unknown";
}

static const char *members_tag(struct json_object *m, const char *key)
{
	struct json_object *tags, *v;

	if (json_object_object_get_ex(m, "Tags", &tags) &&
	    json_object_object_get_ex(tags, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return "";
}

static const char *members_str(struct json_object *m, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(m, key, &v) && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : "";
}

static int64_t members_int(struct json_object *m, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(m, key, &v) ? json_object_get_int64(v) : 0;
}

static bool members_is_default(const char *partition)
{
	return partition[0] == '\0' || strcmp(partition, "default") == 0;
}

/* ByMemberNamePartitionAndSegment: servers (role=consul) first, then the
 * default partition, then by segment, partition and name. */
static int members_cmp(const void *a, const void *b)
{
	struct json_object *x = *(struct json_object *const *)a,
	                   *y = *(struct json_object *const *)b;
	bool xs = strcmp(members_tag(x, "role"), "consul") == 0;
	bool ys = strcmp(members_tag(y, "role"), "consul") == 0;
	const char *xp = members_tag(x, "ap"), *yp = members_tag(y, "ap");
	int c;

	if (xs != ys)
		return xs ? -1 : 1;
	if (members_is_default(xp) != members_is_default(yp))
		return members_is_default(xp) ? -1 : 1;
	if ((c = strcmp(members_tag(x, "segment"), members_tag(y, "segment"))) != 0)
		return c;
	if ((c = strcmp(xp, yp)) != 0)
		return c;
	return strcmp(members_str(x, "Name"), members_str(y, "Name"));
}

/* net.TCPAddr.String: an IPv6 address in brackets. */
static void members_addr(struct json_object *m, char *out, size_t size)
{
	const char *ip = members_str(m, "Addr");
	long long port = (long long)members_int(m, "Port");

	if (strchr(ip, ':') != NULL)
		snprintf(out, size, "[%s]:%lld", ip, port);
	else
		snprintf(out, size, "%s:%lld", ip, port);
}

static int members_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void members_row(struct buf *out, struct json_object *m, bool detailed)
{
	char addr[128];
	const char *status = members_status(members_int(m, "Status"));

	members_addr(m, addr, sizeof(addr));
	if (detailed) {
		struct json_object *tags;
		const char *keys[256];
		size_t n = 0;

		buf_printf(out, "%s" TABLE_SEP "%s" TABLE_SEP "%s" TABLE_SEP,
		           members_str(m, "Name"), addr, status);
		if (json_object_object_get_ex(m, "Tags", &tags) &&
		    json_object_is_type(tags, json_type_object)) {
			json_object_object_foreach(tags, k, v)
			{
				(void)v;
				if (n < sizeof(keys) / sizeof(keys[0]))
					keys[n++] = k;
			}
		}
		qsort(keys, n, sizeof(keys[0]), members_key_cmp);
		for (size_t i = 0; i < n; i++)
			buf_printf(out, "%s%s=%s", i ? "," : "", keys[i], members_tag(m, keys[i]));
		buf_putc(out, '\n');
		return;
	}
	const char *role = members_tag(m, "role");
	const char *type = strcmp(role, "node") == 0     ? "client"
	                   : strcmp(role, "consul") == 0 ? "server"
	                                                 : NULL;
	if (type == NULL) {
		buf_printf(out,
		           "%s" TABLE_SEP "%s" TABLE_SEP "%s" TABLE_SEP
		           "unknown" TABLE_SEP TABLE_SEP TABLE_SEP TABLE_SEP TABLE_SEP "\n",
		           members_str(m, "Name"), addr, status);
		return;
	}
	/* Build: the build tag up to its first ':', "< 0.3" when absent. */
	char build[128];
	const char *b = members_tag(m, "build");
	if (b[0] == '\0')
		snprintf(build, sizeof(build), "< 0.3");
	else
		snprintf(build, sizeof(build), "%.*s", (int)strcspn(b, ":"), b);
	buf_printf(out,
	           "%s" TABLE_SEP "%s" TABLE_SEP "%s" TABLE_SEP "%s" TABLE_SEP "%s" TABLE_SEP
	           "%s" TABLE_SEP "%s" TABLE_SEP "%s" TABLE_SEP "%s\n",
	           members_str(m, "Name"), addr, status, type, build, members_tag(m, "vsn"),
	           members_tag(m, "dc"), members_tag(m, "ap"), members_tag(m, "segment"));
}

static const char members_help[] = "Usage: muster members [options]\n\n"
                                   "  Outputs the members of a running agent.";

int cmd_members(int argc, char **argv)
{
	struct http_opts o = {0};
	bool detailed = false, wan = false;
	const char *status_re = ".*", *filter = NULL;
	const struct cflag flags[] = {
	    CFLAG_BOOL("detailed", &detailed, "Provides detailed information about nodes."),
	    CFLAG_BOOL("wan", &wan,
	               "If the agent is in server mode, this can be used to return the other "
	               "peers in the WAN pool."),
	    CFLAG_STR("status", &status_re,
	              "If provided, output is filtered to only nodes matching the regular "
	              "expression for status."),
	    CFLAG_STR("filter", &filter, "Filter to use with the request"),
	    HTTP_CLIENT_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	struct json_object *list = NULL, **ms = NULL;
	char err[HTTP_ERR_MAX];
	regex_t re;
	size_t n = 0;
	int first, rc = 1;

	if ((rc = cflag_parse(flags, argc, argv, members_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	rc = 1;
	if (rex_compile(&re, status_re, strlen(status_re), err, sizeof(err)) != 0) {
		fprintf(stderr, "Failed to compile status regexp: %s\n", err);
		return 1;
	}
	if (cli_connect(&c, &o) != 0) {
		regfree(&re);
		return 1;
	}
	http_resp_init(&r);
	http_query_init(&q);
	/* MembersOpts: segment _all (every segment), wan=1, filter. */
	http_query_add(&q, "segment", "_all");
	if (wan)
		http_query_add(&q, "wan", "1");
	if (filter != NULL && filter[0] != '\0')
		http_query_add(&q, "filter", filter);
	if (http_ok(&c, "GET", "/v1/agent/members", &q, NULL, 0, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "Error retrieving members: %s\n", err);
		goto out;
	}
	list = json_tokener_parse(buf_cstr(&r.body) ? buf_cstr(&r.body) : "");
	if (!json_object_is_type(list, json_type_array)) {
		fprintf(stderr, "Error retrieving members: the agent's answer is not a list\n");
		goto out;
	}
	ms = calloc(json_object_array_length(list) + 1, sizeof(*ms));
	if (ms == NULL)
		goto out;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *m = json_object_array_get_idx(list, i), *tags;
		if (!json_object_object_get_ex(m, "Tags", &tags) ||
		    !json_object_is_type(tags, json_type_object)) {
			tags = json_object_new_object();
			json_object_object_add(m, "Tags", tags);
		}
		/* Consul fills the partition and segment in before sorting and
		 * printing, so -detailed shows them too: ap=default, and
		 * segment=<all> for servers (all segments were asked for),
		 * <default> for the rest. */
		if (members_tag(m, "ap")[0] == '\0')
			json_object_object_add(tags, "ap", json_object_new_string("default"));
		if (members_is_default(members_tag(m, "ap"))) {
			if (strcmp(members_tag(m, "role"), "consul") == 0)
				json_object_object_add(tags, "segment",
				                       json_object_new_string("<all>"));
			else if (members_tag(m, "segment")[0] == '\0')
				json_object_object_add(tags, "segment",
				                       json_object_new_string("<default>"));
		} else {
			json_object_object_add(tags, "segment", json_object_new_string(""));
		}
		if (regexec(&re, members_status(members_int(m, "Status")), 0, NULL, 0) == 0)
			ms[n++] = m;
	}
	if (n == 0) { /* spec §2.2: no member matches */
		rc = 2;
		goto out;
	}
	qsort(ms, n, sizeof(*ms), members_cmp);
	struct buf t;
	buf_init(&t, HTTP_BODY_MAX);
	if (detailed)
		buf_printf(&t, "Node" TABLE_SEP "Address" TABLE_SEP "Status" TABLE_SEP "Tags\n");
	else
		buf_printf(&t, "Node" TABLE_SEP "Address" TABLE_SEP "Status" TABLE_SEP
		               "Type" TABLE_SEP "Build" TABLE_SEP "Protocol" TABLE_SEP
		               "DC" TABLE_SEP "Partition" TABLE_SEP "Segment\n");
	for (size_t i = 0; i < n; i++)
		members_row(&t, ms[i], detailed);
	if (buf_cstr(&t) != NULL)
		table_columnize(buf_cstr(&t), stdout);
	buf_fini(&t);
	rc = 0;
out:
	free(ms);
	json_object_put(list);
	regfree(&re);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

static const char join_help[] =
    "Usage: muster join [options] address ...\n\n"
    "  Tells a running agent to join the cluster by specifying at least one\n"
    "  existing member.";

int cmd_join(int argc, char **argv)
{
	struct http_opts o = {0};
	bool wan = false;
	const struct cflag flags[] = {
	    CFLAG_BOOL("wan", &wan, "Joins a server to another server in the WAN pool."),
	    HTTP_CLIENT_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	char err[HTTP_ERR_MAX], path[1024];
	int first, rc, joins = 0;

	if ((rc = cflag_parse(flags, argc, argv, join_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (first >= argc) {
		fprintf(stderr, "At least one address to join must be specified.\n\n");
		cflag_usage(flags, join_help, stderr);
		return 1;
	}
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	for (int i = first; i < argc; i++) {
		struct http_query q;
		http_query_init(&q);
		if (wan)
			http_query_add(&q, "wan", "1");
		snprintf(path, sizeof(path), "/v1/agent/join/%s", argv[i]);
		if (http_ok(&c, "PUT", path, &q, NULL, 0, &r, err, sizeof(err)) != 0)
			fprintf(stderr, "Error joining address '%s': %s\n", argv[i], err);
		else
			joins++;
	}
	http_resp_fini(&r);
	http_client_fini(&c);
	if (joins == 0) {
		fprintf(stderr, "Failed to join any nodes.\n");
		return 1;
	}
	printf("Successfully joined cluster by contacting %d nodes.\n", joins);
	return 0;
}

static const char leave_help[] = "Usage: muster leave [options]\n\n"
                                 "  Causes the agent to gracefully leave the cluster and shutdown.";

int cmd_leave(int argc, char **argv)
{
	struct http_opts o = {0};
	const struct cflag flags[] = {HTTP_CLIENT_FLAGS(&o), CFLAG_DONE};
	struct http_client c;
	struct http_resp r;
	char err[HTTP_ERR_MAX];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, leave_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (first < argc) {
		/* Go's %v of a []string: [a b] */
		fprintf(stderr, "Error found unexpected args: [");
		for (int i = first; i < argc; i++)
			fprintf(stderr, "%s%s", i > first ? " " : "", argv[i]);
		fprintf(stderr, "]\n");
		cflag_usage(flags, leave_help, stdout);
		return 1;
	}
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	rc = http_ok(&c, "PUT", "/v1/agent/leave", NULL, NULL, 0, &r, err, sizeof(err));
	http_resp_fini(&r);
	http_client_fini(&c);
	if (rc != 0) {
		fprintf(stderr, "Error leaving: %s\n", err);
		return 1;
	}
	printf("Graceful leave complete\n");
	return 0;
}

static const char force_leave_help[] =
    "Usage: muster force-leave [options] name\n\n"
    "  Forces a member of the cluster to enter the \"left\" state. Note\n"
    "  that if the member is still actually alive, it will eventually rejoin\n"
    "  the cluster. This command is most useful for cleaning out \"failed\" nodes\n"
    "  that are never coming back.";

int cmd_force_leave(int argc, char **argv)
{
	struct http_opts o = {0};
	bool prune = false, wan = false;
	const struct cflag flags[] = {
	    CFLAG_BOOL("prune", &prune, "Remove agent completely from list of members"),
	    CFLAG_BOOL("wan", &wan, "Exclusively leave the agent from the WAN serf pool."),
	    HTTP_CLIENT_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	char err[HTTP_ERR_MAX], path[1024];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, force_leave_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (argc - first != 1) {
		fprintf(stderr, "A single node name must be specified to force leave.\n\n");
		cflag_usage(flags, force_leave_help, stderr);
		return 1;
	}
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	http_query_init(&q);
	if (prune)
		http_query_add(&q, "prune", "1");
	if (wan)
		http_query_add(&q, "wan", "1");
	snprintf(path, sizeof(path), "/v1/agent/force-leave/%s", argv[first]);
	rc = http_ok(&c, "PUT", path, &q, NULL, 0, &r, err, sizeof(err));
	http_resp_fini(&r);
	http_client_fini(&c);
	if (rc != 0) {
		fprintf(stderr, "Error force leaving: %s\n", err);
		return 1;
	}
	return 0;
}

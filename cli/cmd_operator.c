/* cmd_operator.c: operator raft list-peers|remove-peer|transfer-leader (spec §2.4; Consul's command/operator/raft). */
#include "cli.h"
#include "gofmt.h"
#include "table.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static const char *op_str(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : "";
}

static bool op_bool(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static uint64_t op_u64(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static struct json_object *op_parse(struct http_resp *r)
{
	return json_tokener_parse(buf_cstr(&r->body) ? buf_cstr(&r->body) : "");
}

/* The autopilot health entry of server id, or NULL. */
static struct json_object *op_health_of(struct json_object *health, const char *id)
{
	struct json_object *servers;

	if (!json_object_object_get_ex(health, "Servers", &servers) ||
	    !json_object_is_type(servers, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(servers); i++) {
		struct json_object *s = json_object_array_get_idx(servers, i);
		if (strcmp(op_str(s, "ID"), id) == 0)
			return s;
	}
	return NULL;
}

static const char list_peers_help[] = "Usage: muster operator raft list-peers [options]\n\n"
                                      "  Displays the current Raft peer configuration.";

static int op_list_peers(int argc, char **argv)
{
	struct http_opts o = {0};
	const struct cflag flags[] = {HTTP_CLIENT_FLAGS(&o), HTTP_SERVER_FLAGS(&o), CFLAG_DONE};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	struct json_object *conf = NULL, *health = NULL, *servers;
	struct buf t;
	char err[HTTP_ERR_MAX];
	uint64_t leader_index = 0;
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, list_peers_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	http_query_init(&q);
	buf_init(&t, HTTP_BODY_MAX);
	if (o.stale)
		http_query_add(&q, "stale", NULL);
	rc = 1;
	if (http_ok(&c, "GET", "/v1/operator/raft/configuration", &q, NULL, 0, &r, err,
	            sizeof(err)) != 0) {
		fprintf(stderr, "Error getting peers: Failed to retrieve raft configuration: %s\n",
		        err);
		goto out;
	}
	conf = op_parse(&r);
	/* 429 is the health of a cluster that is not healthy: its body is the
	 * same report (the Go api's AutopilotServerHealth accepts 200 and 429) */
	if (http_call(&c, "GET", "/v1/operator/autopilot/health", &q, NULL, 0, &r) != HTTP_OK ||
	    (r.status != 200 && r.status != 429)) {
		if (r.err[0])
			snprintf(err, sizeof(err), "%s", r.err);
		else
			http_status_error(&r, err, sizeof(err));
		fprintf(stderr, "Error getting peers: Failed to retrieve autopilot health: %s\n",
		        err);
		goto out;
	}
	health = op_parse(&r);
	if (!json_object_object_get_ex(conf, "Servers", &servers) ||
	    !json_object_is_type(servers, json_type_array)) {
		fprintf(stderr, "Error getting peers: the raft configuration has no Servers\n");
		goto out;
	}
	/* The leader's last index, from which the others trail. */
	for (size_t i = 0; i < json_object_array_length(servers); i++) {
		struct json_object *s = json_object_array_get_idx(servers, i), *h;
		if (op_bool(s, "Leader") && (h = op_health_of(health, op_str(s, "ID"))) != NULL)
			leader_index = op_u64(h, "LastIndex");
	}
	buf_printf(&t, "Node" TABLE_SEP "ID" TABLE_SEP "Address" TABLE_SEP "State" TABLE_SEP
	               "Voter" TABLE_SEP "RaftProtocol" TABLE_SEP "Commit Index" TABLE_SEP
	               "Trails Leader By\n");
	for (size_t i = 0; i < json_object_array_length(servers); i++) {
		struct json_object *s = json_object_array_get_idx(servers, i);
		struct json_object *h = op_health_of(health, op_str(s, "ID"));
		const char *proto = op_str(s, "ProtocolVersion");
		bool leader = op_bool(s, "Leader");

		buf_printf(&t,
		           "%s" TABLE_SEP "%s" TABLE_SEP "%s" TABLE_SEP "%s" TABLE_SEP
		           "%s" TABLE_SEP "%s" TABLE_SEP,
		           op_str(s, "Node"), op_str(s, "ID"), op_str(s, "Address"),
		           leader ? "leader" : "follower", op_bool(s, "Voter") ? "true" : "false",
		           proto[0] != '\0' ? proto : "<=1");
		if (h == NULL) {
			buf_printf(&t, "_\n");
			continue;
		}
		uint64_t last = op_u64(h, "LastIndex"), trails = leader_index - last;
		buf_printf(&t, "%" PRIu64 TABLE_SEP, last);
		if (leader)
			buf_printf(&t, "_\n");
		else if (trails <= 1)
			buf_printf(&t, "%" PRIu64 " Commit\n", trails);
		else
			buf_printf(&t, "%" PRIu64 " Commits\n", trails);
	}
	if (buf_cstr(&t) == NULL)
		goto out;
	table_columnize(buf_cstr(&t), stdout);
	rc = 0;
out:
	json_object_put(conf);
	json_object_put(health);
	buf_fini(&t);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

static const char remove_peer_help[] =
    "Usage: muster operator raft remove-peer [options]\n\n"
    "  Remove the server with given -address (or -id) from the Raft configuration.\n\n"
    "  There are rare cases where a peer may be left behind in the Raft quorum even\n"
    "  though the server is no longer present and known to the cluster. This command\n"
    "  can be used to remove the failed server so that it is no longer affects the Raft\n"
    "  quorum. If the server still shows in the output of the \"muster members\" command,\n"
    "  it is preferable to clean up by simply running \"muster force-leave\" instead of\n"
    "  this command.";

static int op_remove_peer(int argc, char **argv)
{
	struct http_opts o = {0};
	const char *address = "", *id = "";
	const struct cflag flags[] = {
	    CFLAG_STR("address", &address, "The address to remove from the Raft configuration."),
	    CFLAG_STR("id", &id, "The ID to remove from the Raft configuration."),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	char err[HTTP_ERR_MAX], qs[600];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, remove_peer_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (address[0] == '\0' && id[0] == '\0') {
		fprintf(
		    stderr,
		    "Error removing peer: an address or id is required for the peer to remove\n");
		return 1;
	}
	if (address[0] != '\0' && id[0] != '\0') {
		fprintf(stderr, "Error removing peer: cannot give both an address and id\n");
		return 1;
	}
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	http_query_init(&q);
	http_query_add(&q, address[0] != '\0' ? "address" : "id",
	               address[0] != '\0' ? address : id);
	rc = http_ok(&c, "DELETE", "/v1/operator/raft/peer", &q, NULL, 0, &r, err, sizeof(err));
	http_resp_fini(&r);
	http_client_fini(&c);
	if (rc != 0) {
		fprintf(stderr, "Error removing peer: %s\n", err);
		return 1;
	}
	const char *v = address[0] != '\0' ? address : id;
	gofmt_quote_buf(v, strlen(v), qs, sizeof(qs));
	printf("Removed peer with %s %s\n", address[0] != '\0' ? "address" : "id", qs);
	return 0;
}

static const char transfer_help[] = "Usage: muster operator raft transfer-leader [options]\n\n"
                                    "  Transfer raft leadership to another node (-id, or any).";

static int op_transfer_leader(int argc, char **argv)
{
	struct http_opts o = {0};
	const char *id = "";
	const struct cflag flags[] = {
	    CFLAG_STR("id", &id, "The ID of the node to transfer leadership to."),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	struct json_object *ans = NULL, *ok;
	char err[HTTP_ERR_MAX];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, transfer_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	http_query_init(&q);
	if (o.stale)
		http_query_add(&q, "stale", NULL);
	if (id[0] != '\0')
		http_query_add(&q, "id", id);
	rc = 1;
	/* POST /v1/operator/raft/transfer-leader answers {"Success": bool}. */
	if (http_ok(&c, "POST", "/v1/operator/raft/transfer-leader", &q, NULL, 0, &r, err,
	            sizeof(err)) != 0) {
		fprintf(stderr, "Error transfering leadership: Failed to transfer leadership %s\n",
		        err);
		goto out;
	}
	ans = op_parse(&r);
	if (!json_object_object_get_ex(ans, "Success", &ok) || !json_object_get_boolean(ok)) {
		fprintf(stderr, "Error transfering leadership: Failed to transfer leadership\n");
		goto out;
	}
	printf("Success\n");
	rc = 0;
out:
	json_object_put(ans);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

static const struct cli_sub raft_subs[] = {
    {"list-peers", op_list_peers, "Display the current Raft peer configuration"},
    {"remove-peer", op_remove_peer, "Remove a server from the Raft configuration"},
    {"transfer-leader", op_transfer_leader, "Transfer raft leadership to another node"},
    {NULL, NULL, NULL},
};

static int op_raft(int argc, char **argv)
{
	return cli_sub_run("Usage: muster operator raft <subcommand> [options]\n\n"
	                   "  The Raft operator command is used to interact with the Raft\n"
	                   "  subsystem.",
	                   raft_subs, argc, argv);
}

/* The other operator areas come with later work and say so. */
static int op_later(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "muster operator %s: not available in this build yet\n", argv[0]);
	return 1;
}

static const struct cli_sub operator_subs[] = {
    {"raft", op_raft, "Provides cluster-level tools for Consul operators"},
    {"autopilot", op_later, "Provides tools for modifying Autopilot configuration (not built yet)"},
    {"usage", op_later, "Provides cluster-level usage information (not built yet)"},
    {"utilization", op_later, "Generates a bundle of usage information (not built yet)"},
    {NULL, NULL, NULL},
};

int cmd_operator(int argc, char **argv)
{
	return cli_sub_run("Usage: muster operator <subcommand> [options]\n\n"
	                   "  Provides cluster-level tools for operators.",
	                   operator_subs, argc, argv);
}

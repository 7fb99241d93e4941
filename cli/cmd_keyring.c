/* cmd_keyring.c: keyring and keygen: the gossip encryption keys (spec §2.4; Consul's command/keyring, keygen). */
#include "b64.h"
#include "cli.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* keygen: 32 random bytes, an AES-256 key (current Consul; older releases
 * made 16), base64 as the agent's `encrypt` expects. */
#define KEYGEN_BYTES 32

static const char keygen_help[] =
    "Usage: muster keygen\n\n"
    "  Generates a new encryption key that can be used to configure the\n"
    "  agent to encrypt traffic. The output of this command is already\n"
    "  in the proper format that the agent expects.";

int cmd_keygen(int argc, char **argv)
{
	const struct cflag flags[] = {CFLAG_DONE};
	uint8_t key[KEYGEN_BYTES];
	char out[B64_ENCODED_SIZE(KEYGEN_BYTES)];
	size_t got = 0;
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, keygen_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	while (got < sizeof(key)) {
		ssize_t n = getrandom(key + got, sizeof(key) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "Error reading random data: %s\n", strerror(errno));
			return 1;
		}
		got += (size_t)n;
	}
	b64_encode(key, sizeof(key), out, sizeof(out));
	printf("%s\n", out);
	return 0;
}

static const char keyring_help[] =
    "Usage: muster keyring [options]\n\n"
    "  Manages encryption keys used for gossip messages. Gossip encryption is\n"
    "  optional. When enabled, this command may be used to examine active encryption\n"
    "  keys in the cluster, add new keys, and remove old ones. When combined, this\n"
    "  functionality provides the ability to perform key rotation cluster-wide,\n"
    "  without disrupting the cluster.\n\n"
    "  All operations performed by this command can only be run against server nodes,\n"
    "  and affect both the LAN and WAN keyrings in lock-step.\n\n"
    "  All variations of the keyring command return 0 if all nodes reply and there\n"
    "  are no errors. If any node fails to reply or reports failure, the exit code\n"
    "  will be 1.";

/* One pool of the list: "\n<dc> (LAN):" or "\nWAN:", the messages, then
 * "  <key> [<n>/<total>]" per key (Consul's formatResponse). */
static void keyring_print(struct json_object *resp, const char *keys_field)
{
	struct json_object *v, *keys, *msgs;
	const char *dc = "", *seg = "", *part = "";
	bool wan = false;
	int64_t total = 0;

	if (json_object_object_get_ex(resp, "Datacenter", &v))
		dc = json_object_get_string(v);
	if (json_object_object_get_ex(resp, "WAN", &v))
		wan = json_object_get_boolean(v);
	if (json_object_object_get_ex(resp, "Segment", &v) && json_object_get_string(v) != NULL)
		seg = json_object_get_string(v);
	if (json_object_object_get_ex(resp, "Partition", &v) && json_object_get_string(v) != NULL)
		part = json_object_get_string(v);
	if (json_object_object_get_ex(resp, "NumNodes", &v))
		total = json_object_get_int64(v);
	printf("\n");
	if (wan)
		printf("WAN");
	else
		printf("%s (LAN)", dc);
	if (seg[0] != '\0')
		printf(" [%s]", seg);
	else if (part[0] != '\0' && strcmp(part, "default") != 0)
		printf(" [partition: %s]", part);
	printf(":\n");
	if (json_object_object_get_ex(resp, "Messages", &msgs) &&
	    json_object_is_type(msgs, json_type_object)) {
		json_object_object_foreach(msgs, from, msg)
		    printf("  ===> %s: %s\n", from, json_object_get_string(msg));
	}
	if (json_object_object_get_ex(resp, keys_field, &keys) &&
	    json_object_is_type(keys, json_type_object)) {
		json_object_object_foreach(keys, k, n) printf(
		    "  %s [%lld/%lld]\n", k, (long long)json_object_get_int64(n), (long long)total);
	}
}

int cmd_keyring(int argc, char **argv)
{
	struct http_opts o = {0};
	const char *install = NULL, *use = NULL, *remove = NULL;
	bool list = false, list_primary = false, local_only = false;
	int64_t relay = 0;
	const struct cflag flags[] = {
	    CFLAG_STR("install", &install,
	              "Install a new encryption key. This will broadcast the new key to all "
	              "members in the cluster."),
	    CFLAG_STR("use", &use,
	              "Change the primary encryption key, which is used to encrypt messages. The "
	              "key must already be installed before this operation can succeed."),
	    CFLAG_STR("remove", &remove,
	              "Remove the given key from the cluster. This operation may only be "
	              "performed on keys which are not currently the primary key."),
	    CFLAG_BOOL("list", &list, "List all keys currently in use within the cluster."),
	    CFLAG_BOOL("list-primary", &list_primary,
	               "List all primary keys currently in use within the cluster."),
	    CFLAG_INT("relay-factor", &relay,
	              "Setting this to a non-zero value will cause nodes to relay their response "
	              "to the operation through this many randomly-chosen other nodes in the "
	              "cluster. The maximum allowed value is 5."),
	    CFLAG_BOOL("local-only", &local_only,
	               "Setting this to true will force the keyring query to only hit local "
	               "servers (no WAN traffic). This flag can only be set for list queries."),
	    HTTP_CLIENT_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	struct json_object *ans = NULL, *body = NULL;
	char err[HTTP_ERR_MAX];
	int first, rc, actions;

	if ((rc = cflag_parse(flags, argc, argv, keyring_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (install != NULL && install[0] == '\0')
		install = NULL;
	if (use != NULL && use[0] == '\0')
		use = NULL;
	if (remove != NULL && remove[0] == '\0')
		remove = NULL;
	actions = list + list_primary + (install != NULL) + (use != NULL) + (remove != NULL);
	if (actions == 0) {
		cflag_usage(flags, keyring_help, stderr);
		return 1;
	}
	if (actions > 1) {
		fprintf(stderr, "Only a single action is allowed\n");
		return 1;
	}
	/* agent.ParseRelayFactor, agent.ValidateLocalOnly */
	if (relay < 0 || relay > 5) {
		fprintf(stderr,
		        "Error parsing relay factor: Relay factor must be in range: [0, 5]\n");
		return 1;
	}
	if (local_only && !list) {
		fprintf(
		    stderr,
		    "Error validating local-only: local-only can only be set for list requests\n");
		return 1;
	}
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	http_query_init(&q);
	if (relay > 0)
		http_query_addf(&q, "relay-factor", "%lld", (long long)relay);
	rc = 1;
	if (list || list_primary) {
		printf("==> Gathering installed %sencryption keys...\n",
		       list_primary ? "primary " : "");
		fflush(stdout);
		if (local_only)
			http_query_add(&q, "local-only", "true");
		if (http_ok(&c, "GET", "/v1/operator/keyring", &q, NULL, 0, &r, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "error: %s\n", err);
			goto out;
		}
		ans = json_tokener_parse(buf_cstr(&r.body) ? buf_cstr(&r.body) : "");
		if (!json_object_is_type(ans, json_type_array)) {
			fprintf(stderr, "error: the agent's answer is not a list\n");
			goto out;
		}
		for (size_t i = 0; i < json_object_array_length(ans); i++)
			keyring_print(json_object_array_get_idx(ans, i),
			              list_primary ? "PrimaryKeys" : "Keys");
		rc = 0;
		goto out;
	}
	/* install: POST, use: PUT, remove: DELETE, each with {"Key": k}. */
	const char *method = install ? "POST" : use ? "PUT" : "DELETE";
	const char *key = install ? install : use ? use : remove;
	printf("==> %s\n", install ? "Installing new gossip encryption key..."
	                   : use   ? "Changing primary gossip encryption key..."
	                           : "Removing gossip encryption key...");
	fflush(stdout);
	body = json_object_new_object();
	json_object_object_add(body, "Key", json_object_new_string(key));
	const char *js = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	if (http_ok(&c, method, "/v1/operator/keyring", &q, js, strlen(js), &r, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "error: %s\n", err);
		goto out;
	}
	rc = 0;
out:
	json_object_put(ans);
	json_object_put(body);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

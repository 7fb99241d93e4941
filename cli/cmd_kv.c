/* cmd_kv.c: kv get|put|delete|export|import: the KV store through the agent (spec §2.4; Consul's command/kv). */
#include "b64.h"
#include "cli.h"
#include "gojson.h"
#include "table.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *kv_str(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : "";
}

static uint64_t kv_u64(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

/* A pair's Value, base64 in the API's JSON (null when the key has none):
 * 0 with the bytes in out, or -1. */
static int kv_value(struct json_object *pair, struct buf *out)
{
	struct json_object *v;
	const char *s;
	size_t n, len;

	buf_reset(out);
	if (!json_object_object_get_ex(pair, "Value", &v) ||
	    !json_object_is_type(v, json_type_string))
		return 0;
	s = json_object_get_string(v);
	n = strlen(s);
	if (buf_reserve(out, B64_DECODED_MAX(n) + 1) != 0)
		return -1;
	if (b64_decode(s, out->p, out->size, &len) != 0)
		return -1;
	out->len = len;
	return 0;
}

static struct json_object *kv_parse(struct http_resp *r)
{
	return json_tokener_parse(buf_cstr(&r->body) ? buf_cstr(&r->body) : "");
}

/* prettyKVPair: a tabwriter (padding 6) of the pair's fields, the value
 * last and without a newline (UI.Info adds it). */
static void kv_pretty(struct json_object *pair, const struct buf *value, bool b64)
{
	struct buf t;
	const char *sess = kv_str(pair, "Session");

	buf_init(&t, HTTP_BODY_MAX * 2);
	buf_printf(&t, "CreateIndex\t%" PRIu64 "\n", kv_u64(pair, "CreateIndex"));
	buf_printf(&t, "Flags\t%" PRIu64 "\n", kv_u64(pair, "Flags"));
	buf_printf(&t, "Key\t%s\n", kv_str(pair, "Key"));
	buf_printf(&t, "LockIndex\t%" PRIu64 "\n", kv_u64(pair, "LockIndex"));
	buf_printf(&t, "ModifyIndex\t%" PRIu64 "\n", kv_u64(pair, "ModifyIndex"));
	buf_printf(&t, "Session\t%s\n", sess[0] != '\0' ? sess : "-");
	buf_printf(&t, "Value\t");
	if (b64) {
		char *enc = malloc(B64_ENCODED_SIZE(value->len));
		if (enc != NULL) {
			b64_encode(value->p, value->len, enc, B64_ENCODED_SIZE(value->len));
			buf_printf(&t, "%s", enc);
		}
		free(enc);
	} else {
		buf_append(&t, value->p, value->len);
	}
	if (buf_cstr(&t) != NULL)
		table_tabwrite(buf_cstr(&t), 6, stdout);
	buf_fini(&t);
}

static void kv_print_value(const struct buf *value, bool b64)
{
	if (b64) {
		char *enc = malloc(B64_ENCODED_SIZE(value->len));
		if (enc != NULL) {
			b64_encode(value->p, value->len, enc, B64_ENCODED_SIZE(value->len));
			fputs(enc, stdout);
		}
		free(enc);
	} else if (value->len > 0) {
		/* an empty value has no buffer at all: nothing to write */
		fwrite(value->p, 1, value->len, stdout);
	}
}

static const char kv_get_help[] =
    "Usage: muster kv get [options] [KEY_OR_PREFIX]\n\n"
    "  Retrieves the value from the key-value store at the given key name. If no\n"
    "  key exists with that name, an error is returned. If a key exists with that\n"
    "  name but has no data, nothing is returned. If the name or prefix is omitted,\n"
    "  it defaults to \"\" which is the root of the key-value store.\n\n"
    "  -detailed prints the key's metadata, -recurse every key under the prefix\n"
    "  as key:value, -keys only the key names (up to -separator).";

static int kv_get(int argc, char **argv)
{
	struct http_opts o = {0};
	bool b64 = false, detailed = false, keys = false, recurse = false;
	const char *sep = "/";
	const struct cflag flags[] = {
	    CFLAG_BOOL("base64", &b64, "Base64 encode the value. The default value is false."),
	    CFLAG_BOOL("detailed", &detailed,
	               "Provide additional metadata about the key in addition to the value such "
	               "as the ModifyIndex and any flags that may have been set on the key."),
	    CFLAG_BOOL("keys", &keys,
	               "List keys which start with the given prefix, but not their values."),
	    CFLAG_BOOL("recurse", &recurse,
	               "Recursively look at all keys prefixed with the given path."),
	    CFLAG_STR("separator", &sep,
	              "String to use as a separator between keys. The default value is \"/\", "
	              "but this option is only taken into account when paired with the -keys "
	              "flag."),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	struct json_object *ans = NULL;
	struct buf value;
	const char *key = "";
	char err[HTTP_ERR_MAX], path[HTTP_URL_MAX];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, kv_get_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (cli_args_max(argc - first, 1) != 0)
		return 1;
	if (argc - first == 1)
		key = argv[first];
	/* Keys cannot start with '/': Consul strips one for the user. */
	if (key[0] == '/')
		key++;
	if (key[0] == '\0' && !(recurse || keys)) {
		fprintf(stderr, "Error! Missing KEY argument\n");
		return 1;
	}
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	http_query_init(&q);
	buf_init(&value, HTTP_BODY_MAX);
	if (o.stale)
		http_query_add(&q, "stale", NULL);
	if (keys) {
		http_query_add(&q, "keys", NULL);
		if (sep != NULL && sep[0] != '\0')
			http_query_add(&q, "separator", sep);
	} else if (recurse) {
		http_query_add(&q, "recurse", NULL);
	}
	snprintf(path, sizeof(path), "/v1/kv/%s", key);
	rc = 1;
	if (http_call(&c, "GET", path, &q, NULL, 0, &r) != HTTP_OK) {
		fprintf(stderr, "Error querying Consul agent: %s\n", r.err);
		goto out;
	}
	if (r.status == 404) { /* no such key: nil to the Go api */
		if (keys || recurse)
			rc = 0;
		else
			fprintf(stderr, "Error! No key exists at: %s\n", key);
		goto out;
	}
	if (r.status != 200) {
		http_status_error(&r, err, sizeof(err));
		fprintf(stderr, "Error querying Consul agent: %s\n", err);
		goto out;
	}
	ans = kv_parse(&r);
	if (!json_object_is_type(ans, json_type_array)) {
		fprintf(stderr, "Error querying Consul agent: the answer is not a list\n");
		goto out;
	}
	size_t n = json_object_array_length(ans);
	if (n == 0 && !keys && !recurse) { /* KV().Get: no entry is nil */
		fprintf(stderr, "Error! No key exists at: %s\n", key);
		goto out;
	}
	if (keys) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", json_object_get_string(json_object_array_get_idx(ans, i)));
		rc = 0;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *pair = json_object_array_get_idx(ans, i);
		if (kv_value(pair, &value) != 0) {
			fprintf(stderr, "Error querying Consul agent: bad value of %s\n",
			        kv_str(pair, "Key"));
			goto out;
		}
		if (detailed) {
			kv_pretty(pair, &value, b64);
			printf("\n");
			if (recurse && i + 1 < n)
				printf("\n");
		} else if (recurse) {
			printf("%s:", kv_str(pair, "Key"));
			kv_print_value(&value, b64);
			printf("\n");
		} else {
			kv_print_value(&value, b64);
			printf("\n");
		}
		if (!recurse)
			break;
	}
	rc = 0;
out:
	json_object_put(ans);
	buf_fini(&value);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

static const char kv_put_help[] =
    "Usage: muster kv put [options] KEY [DATA]\n\n"
    "  Writes the data to the given path in the key-value store. The data can be of\n"
    "  any type.\n\n"
    "      $ muster kv put config/redis/maxconns 5\n\n"
    "  The data can also be consumed from a file on disk by prefixing with the \"@\"\n"
    "  symbol, or read from stdin using the \"-\" symbol. The DATA argument itself\n"
    "  is optional: without it an empty value is written. With -base64 the data is\n"
    "  base64 encoded. -cas with -modify-index performs a Check-And-Set.";

static int kv_put(int argc, char **argv)
{
	struct http_opts o = {0};
	bool cas = false, b64 = false, acquire = false, release = false;
	uint64_t kvflags = 0, modify_index = 0;
	const char *session = "";
	const struct cflag flags[] = {
	    CFLAG_BOOL("cas", &cas,
	               "Perform a Check-And-Set operation. Specifying this value also requires "
	               "the -modify-index flag to be set."),
	    CFLAG_U64("flags", &kvflags,
	              "Unsigned integer value to assign to this key-value pair."),
	    CFLAG_BOOL("base64", &b64, "Treat the data as base 64 encoded."),
	    CFLAG_U64("modify-index", &modify_index,
	              "Unsigned integer representing the ModifyIndex of the key. This is used in "
	              "combination with the -cas flag."),
	    CFLAG_STR("session", &session,
	              "User-defined identifer for this session as a string, used with -acquire "
	              "and -release."),
	    CFLAG_BOOL("acquire", &acquire,
	               "Obtain a lock on the key. If the key does not exist, this operation will "
	               "create the key and obtain the lock. The session must already exist and be "
	               "specified via the -session flag."),
	    CFLAG_BOOL("release", &release,
	               "Forfeit the lock on the key at the given path. This requires the -session "
	               "flag to be set."),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	struct buf data, bytes;
	const char *key, *body;
	char err[HTTP_ERR_MAX], path[HTTP_URL_MAX];
	size_t body_len;
	int first, rc, nargs;

	if ((rc = cflag_parse(flags, argc, argv, kv_put_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	nargs = argc - first;
	if (nargs == 0) {
		fprintf(stderr, "Error! Missing KEY argument\n");
		return 1;
	}
	if (nargs > 2) {
		fprintf(stderr, "Error! Too many arguments (expected 1 or 2, got %d)\n", nargs);
		return 1;
	}
	key = argv[first];
	buf_init(&data, CLI_DATA_MAX);
	buf_init(&bytes, CLI_DATA_MAX);
	rc = 1;
	if (nargs == 2 && argv[first + 1][0] != '\0') {
		const char *d = argv[first + 1];
		/* "-x" is data; only a lone "-" is stdin. */
		if (d[0] == '-' && d[1] != '\0') {
			buf_append(&data, d, strlen(d));
		} else if (cli_data_arg(d, &data, err, sizeof(err)) != 0) {
			fprintf(stderr, "Error! %s\n", err);
			goto early;
		}
	}
	body = (const char *)data.p;
	body_len = data.len;
	if (b64) {
		size_t n;
		buf_putc(&data, 0);
		if (buf_reserve(&bytes, B64_DECODED_MAX(data.len) + 1) != 0 ||
		    b64_decode(data.len ? (const char *)data.p : "", bytes.p, bytes.size, &n) !=
		        0) {
			fprintf(stderr, "Error! Cannot base 64 decode data: illegal base64 data\n");
			goto early;
		}
		body = (const char *)bytes.p;
		body_len = n;
	}
	if ((release || acquire) && session[0] == '\0') {
		fprintf(stderr, "Error! Missing -session (required with -acquire and -release)\n");
		goto early;
	}
	if (cas && modify_index == 0) {
		fprintf(stderr, "Must specify -modify-index with -cas!\n");
		goto early;
	}
	if (cli_connect(&c, &o) != 0)
		goto early;
	http_resp_init(&r);
	http_query_init(&q);
	if (cas)
		http_query_addf(&q, "cas", "%" PRIu64, modify_index);
	else if (acquire)
		http_query_add(&q, "acquire", session);
	else if (release)
		http_query_add(&q, "release", session);
	if (kvflags != 0)
		http_query_addf(&q, "flags", "%" PRIu64, kvflags);
	snprintf(path, sizeof(path), "/v1/kv/%s", key);
	/* The Go api refuses a key that starts with '/' before sending. */
	if (key[0] == '/') {
		snprintf(err, sizeof(err), "Invalid key. Key must not begin with a '/': %s", key);
		rc = -1;
	} else {
		rc = http_ok(&c, "PUT", path, &q, body_len ? body : "", body_len, &r, err,
		             sizeof(err));
	}
	bool ok = rc == 0 && strncmp(buf_cstr(&r.body) ? buf_cstr(&r.body) : "", "true", 4) == 0;
	if (cas) {
		if (rc != 0)
			fprintf(stderr, "Error! Did not write to %s: %s\n", key, err);
		else if (!ok)
			fprintf(stderr, "Error! Did not write to %s: CAS failed\n", key);
		else
			printf("Success! Data written to: %s\n", key);
	} else if (acquire) {
		if (rc != 0)
			fprintf(stderr, "Error! Failed writing data: %s\n", err);
		else if (!ok)
			fprintf(stderr, "Error! Did not acquire lock\n");
		else
			printf("Success! Lock acquired on: %s\n", key);
	} else if (release) {
		if (rc != 0)
			fprintf(stderr, "Error! Failed writing data: %s\n", err);
		else if (!ok)
			fprintf(stderr, "Error! Did not release lock\n");
		else
			printf("Success! Lock released on: %s\n", key);
	} else {
		ok = rc == 0; /* a plain put ignores the answer's bool */
		if (rc != 0)
			fprintf(stderr, "Error! Failed writing data: %s\n", err);
		else
			printf("Success! Data written to: %s\n", key);
	}
	rc = ok ? 0 : 1;
	http_resp_fini(&r);
	http_client_fini(&c);
early:
	buf_fini(&data);
	buf_fini(&bytes);
	return rc;
}

static const char kv_delete_help[] =
    "Usage: muster kv delete [options] KEY_OR_PREFIX\n\n"
    "  Removes the value from the key-value store at the given path. If no\n"
    "  key exists at the path, no action is taken. -recurse deletes every key\n"
    "  that starts with the prefix.";

static int kv_delete(int argc, char **argv)
{
	struct http_opts o = {0};
	bool cas = false, recurse = false;
	uint64_t modify_index = 0;
	const struct cflag flags[] = {
	    CFLAG_BOOL("cas", &cas,
	               "Perform a Check-And-Set operation. Specifying this value also requires "
	               "the -modify-index flag to be set."),
	    CFLAG_U64("modify-index", &modify_index,
	              "Unsigned integer representing the ModifyIndex of the key. This is used in "
	              "combination with the -cas flag."),
	    CFLAG_BOOL("recurse", &recurse, "Recursively delete all keys with the path."),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	const char *key = "";
	char err[HTTP_ERR_MAX], path[HTTP_URL_MAX];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, kv_delete_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (cli_args_max(argc - first, 1) != 0)
		return 1;
	if (argc - first == 1)
		key = argv[first];
	if (key[0] == '/')
		key++;
	if (key[0] == '\0' && !recurse) {
		fprintf(stderr, "Error! Missing KEY argument\n");
		return 1;
	}
	if (cas && modify_index == 0) {
		fprintf(stderr, "Cannot delete a key that does not exist. Provide a -modify-index "
		                "greater than than 0.\n");
		return 1;
	}
	if (modify_index != 0 && !cas) {
		fprintf(stderr, "Cannot specify -modify-index without -cas!\n");
		return 1;
	}
	if (recurse && cas) {
		fprintf(stderr, "Cannot specify both -cas and -recurse!\n");
		return 1;
	}
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	http_query_init(&q);
	if (recurse)
		http_query_add(&q, "recurse", NULL);
	else if (cas)
		http_query_addf(&q, "cas", "%" PRIu64, modify_index);
	snprintf(path, sizeof(path), "/v1/kv/%s", key);
	rc = http_ok(&c, "DELETE", path, &q, NULL, 0, &r, err, sizeof(err));
	if (recurse) {
		if (rc != 0)
			fprintf(stderr, "Error! Did not delete prefix %s: %s\n", key, err);
		else
			printf("Success! Deleted keys with prefix: %s\n", key);
	} else if (cas) {
		if (rc != 0) {
			fprintf(stderr, "Error! Did not delete key %s: %s\n", key, err);
		} else if (strncmp(buf_cstr(&r.body) ? buf_cstr(&r.body) : "", "true", 4) != 0) {
			fprintf(stderr, "Error! Did not delete key %s: CAS failed\n", key);
			rc = 1;
		} else {
			printf("Success! Deleted key: %s\n", key);
		}
	} else {
		if (rc != 0)
			fprintf(stderr, "Error deleting key %s: %s\n", key, err);
		else
			printf("Success! Deleted key: %s\n", key);
	}
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc == 0 ? 0 : 1;
}

static const char kv_export_help[] =
    "Usage: muster kv export [options] [KEY_OR_PREFIX]\n\n"
    "  Retrieves key-value pairs for the given prefix from the key-value store,\n"
    "  and writes a JSON representation to stdout. This can be used with the command\n"
    "  \"muster kv import\" to move entire trees between clusters.";

static int kv_export(int argc, char **argv)
{
	struct http_opts o = {0};
	const struct cflag flags[] = {HTTP_CLIENT_FLAGS(&o), HTTP_SERVER_FLAGS(&o), CFLAG_DONE};
	struct http_client c;
	struct http_resp r;
	struct http_query q;
	struct json_object *ans = NULL;
	struct buf out;
	const char *key = "";
	char err[HTTP_ERR_MAX], path[HTTP_URL_MAX];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, kv_export_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (cli_args_max(argc - first, 1) != 0)
		return 1;
	if (argc - first == 1)
		key = argv[first];
	if (key[0] == '/')
		key++;
	if (cli_connect(&c, &o) != 0)
		return 1;
	http_resp_init(&r);
	http_query_init(&q);
	buf_init(&out, HTTP_BODY_MAX * 2);
	if (o.stale)
		http_query_add(&q, "stale", NULL);
	http_query_add(&q, "recurse", NULL);
	snprintf(path, sizeof(path), "/v1/kv/%s", key);
	rc = 1;
	if (http_call(&c, "GET", path, &q, NULL, 0, &r) != HTTP_OK) {
		fprintf(stderr, "Error querying Consul agent: %s\n", r.err);
		goto out;
	}
	if (r.status != 200 && r.status != 404) {
		http_status_error(&r, err, sizeof(err));
		fprintf(stderr, "Error querying Consul agent: %s\n", err);
		goto out;
	}
	ans = r.status == 200 ? kv_parse(&r) : json_object_new_array();
	if (!json_object_is_type(ans, json_type_array)) {
		fprintf(stderr, "Error querying Consul agent: the answer is not a list\n");
		goto out;
	}
	/* impexp.Entry in json.MarshalIndent(exported, "", "\t"): key, flags,
	 * value (base64 of the bytes, "" for none). */
	size_t n = json_object_array_length(ans);
	if (n == 0) {
		buf_printf(&out, "[]");
	} else {
		buf_putc(&out, '[');
		for (size_t i = 0; i < n; i++) {
			struct json_object *pair = json_object_array_get_idx(ans, i), *v;
			const char *key_s = kv_str(pair, "Key"), *val = "";
			if (json_object_object_get_ex(pair, "Value", &v) &&
			    json_object_is_type(v, json_type_string))
				val = json_object_get_string(v);
			buf_printf(&out, "%s\n\t{\n\t\t\"key\": ", i ? "," : "");
			gojson_string(&out, key_s, strlen(key_s));
			buf_printf(&out, ",\n\t\t\"flags\": %" PRIu64 ",\n\t\t\"value\": ",
			           kv_u64(pair, "Flags"));
			gojson_string(&out, val, strlen(val));
			buf_printf(&out, "\n\t}");
		}
		buf_printf(&out, "\n]");
	}
	if (out.err) {
		fprintf(stderr, "Error exporting KV data: larger than %u bytes\n",
		        HTTP_BODY_MAX * 2);
		goto out;
	}
	fwrite(out.p, 1, out.len, stdout);
	printf("\n");
	rc = 0;
out:
	json_object_put(ans);
	buf_fini(&out);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

/* A field of an import entry; Go's json.Unmarshal matches field names
 * case-insensitively ("key" or "Key"). */
static struct json_object *kv_field(struct json_object *o, const char *name)
{
	json_object_object_foreach(o, k, v) if (strcasecmp(k, name) == 0) return v;
	return NULL;
}

static const char kv_import_help[] =
    "Usage: muster kv import [options] [DATA]\n\n"
    "  Imports key-value pairs to the key-value store from the JSON representation\n"
    "  generated by the \"muster kv export\" command.\n\n"
    "  The data can be read from a file by prefixing the filename with the \"@\"\n"
    "  symbol, or from stdin using the \"-\" symbol. -prefix puts every key under\n"
    "  the given prefix.";

static int kv_import(int argc, char **argv)
{
	struct http_opts o = {0};
	const char *prefix = "";
	const struct cflag flags[] = {
	    CFLAG_STR("prefix", &prefix,
	              "Key prefix for imported data. The default value is empty meaning root."),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct json_object *entries = NULL;
	struct json_tokener *tok = NULL;
	struct buf data, value, key;
	char err[HTTP_ERR_MAX], path[HTTP_URL_MAX];
	int first, rc;

	if ((rc = cflag_parse(flags, argc, argv, kv_import_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (argc - first == 0) {
		fprintf(stderr, "Error! Missing DATA argument\n");
		return 1;
	}
	if (argc - first > 1) {
		fprintf(stderr, "Error! Too many arguments (expected 1, got %d)\n", argc - first);
		return 1;
	}
	if (argv[first][0] == '\0') {
		fprintf(stderr, "Error! Empty DATA argument\n");
		return 1;
	}
	buf_init(&data, CLI_DATA_MAX);
	buf_init(&value, CLI_DATA_MAX);
	buf_init(&key, 65536);
	rc = 1;
	{
		const char *d = argv[first];
		if (d[0] == '-' && d[1] != '\0') {
			buf_append(&data, d, strlen(d));
		} else if (cli_data_arg(d, &data, err, sizeof(err)) != 0) {
			fprintf(stderr, "Error! %s\n", err);
			goto early;
		}
	}
	if (cli_connect(&c, &o) != 0)
		goto early;
	http_resp_init(&r);
	tok = json_tokener_new();
	entries = json_tokener_parse_ex(tok, data.len ? (const char *)data.p : "", (int)data.len);
	if (entries == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(entries, json_type_array)) {
		enum json_tokener_error je = json_tokener_get_error(tok);
		fprintf(stderr, "Cannot unmarshal data: %s\n",
		        entries == NULL
		            ? json_tokener_error_desc(
		                  je != json_tokener_success ? je : json_tokener_continue)
		            : "the data is not a JSON array");
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(entries); i++) {
		struct json_object *e = json_object_array_get_idx(entries, i);
		struct json_object *k = kv_field(e, "key"), *f = kv_field(e, "flags"),
		                   *v = kv_field(e, "value");
		const char *ks = k ? json_object_get_string(k) : "";
		const char *vs = v ? json_object_get_string(v) : "";
		uint64_t fl = f ? json_object_get_uint64(f) : 0;
		struct http_query q;
		size_t n;

		buf_reset(&value);
		if (vs == NULL)
			vs = "";
		if (buf_reserve(&value, B64_DECODED_MAX(strlen(vs)) + 1) != 0 ||
		    b64_decode(vs, value.p, value.size, &n) != 0) {
			fprintf(stderr,
			        "Error base 64 decoding value for key %s: illegal base64 data\n",
			        ks);
			goto out;
		}
		/* -prefix joins with one '/', keeping a folder key's own trailing
		 * slash (Go's path.Join would drop it). */
		buf_reset(&key);
		if (prefix[0] != '\0') {
			size_t pl = strlen(prefix);
			while (pl > 0 && prefix[pl - 1] == '/')
				pl--;
			while (*ks == '/')
				ks++;
			buf_printf(&key, "%.*s/%s", (int)pl, prefix, ks);
		} else {
			buf_printf(&key, "%s", ks);
		}
		const char *kk = buf_cstr(&key);
		if (kk == NULL) {
			fprintf(stderr, "Error! key too long\n");
			goto out;
		}
		http_query_init(&q);
		if (fl != 0)
			http_query_addf(&q, "flags", "%" PRIu64, fl);
		snprintf(path, sizeof(path), "/v1/kv/%s", kk);
		if (kk[0] == '/') {
			fprintf(stderr,
			        "Error! Failed writing data for key %s: Invalid key. Key must not "
			        "begin "
			        "with a '/': %s\n",
			        kk, kk);
			goto out;
		}
		if (http_ok(&c, "PUT", path, &q, n ? (const char *)value.p : "", n, &r, err,
		            sizeof(err)) != 0) {
			fprintf(stderr, "Error! Failed writing data for key %s: %s\n", kk, err);
			goto out;
		}
		printf("Imported: %s\n", kk);
	}
	rc = 0;
out:
	json_object_put(entries);
	if (tok != NULL)
		json_tokener_free(tok);
	http_resp_fini(&r);
	http_client_fini(&c);
early:
	buf_fini(&data);
	buf_fini(&value);
	buf_fini(&key);
	return rc;
}

static const struct cli_sub kv_subs[] = {
    {"delete", kv_delete, "Removes data from the KV store"},
    {"export", kv_export, "Exports a tree from the KV store as JSON"},
    {"get", kv_get, "Retrieves or lists data from the KV store"},
    {"import", kv_import, "Imports a tree stored as JSON to the KV store"},
    {"put", kv_put, "Sets or updates data in the KV store"},
    {NULL, NULL, NULL},
};

int cmd_kv(int argc, char **argv)
{
	return cli_sub_run("Usage: muster kv <subcommand> [options] [args]\n\n"
	                   "  Interacts with the key-value store.",
	                   kv_subs, argc, argv);
}

/* cmd_services.c: services register|deregister: this agent's services, from flags or JSON definition files (spec §2.4; Consul's command/services). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Definitions read from all the files of one command, at most. */
#define SVC_DEFS_MAX 256

/* Consul's config keys are snake_case in files and CamelCase in the API;
 * the agent takes either. Fields are found whatever the case or the
 * underscores: "socket_path" is SocketPath. */
static bool svc_key_eq(const char *a, const char *b)
{
	for (;;) {
		while (*a == '_')
			a++;
		while (*b == '_')
			b++;
		if (*a == '\0' || *b == '\0')
			return *a == *b;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		a++, b++;
	}
}

static struct json_object *svc_field(struct json_object *o, const char *name, const char **key)
{
	json_object_object_foreach(o, k, v)
	{
		if (svc_key_eq(k, name)) {
			if (key != NULL)
				*key = k;
			return v;
		}
	}
	return NULL;
}

static const char *svc_field_str(struct json_object *o, const char *name)
{
	struct json_object *v = svc_field(o, name, NULL);
	return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
	                                                             : "";
}

static bool svc_is_hcl(const char *path)
{
	size_t n = strlen(path);
	return n >= 4 && strcmp(path + n - 4, ".hcl") == 0;
}

/* The service definitions of Consul agent configuration files: "service"
 * (an object, or a list) and "services" (a list) at the top of each JSON
 * file; other keys are ignored. HCL is not read. 0, or -1 with the error
 * printed as Consul's "Error: ...". */
static int svc_from_files(char **files, int nfiles, struct json_object *defs)
{
	char why[256];

	for (int i = 0; i < nfiles; i++) {
		struct json_object *doc;
		if (svc_is_hcl(files[i])) {
			fprintf(
			    stderr,
			    "Error: %s: muster reads service definitions from JSON files only, not "
			    "HCL\n",
			    files[i]);
			return -1;
		}
		doc = json_object_from_file(files[i]);
		if (doc == NULL) {
			FILE *f = fopen(files[i], "r");
			if (f == NULL) {
				cli_strerror(errno, why, sizeof(why));
				fprintf(stderr, "Error: open %s: %s\n", files[i], why);
			} else {
				fclose(f);
				fprintf(stderr, "Error: failed to parse %s: %s\n", files[i],
				        json_util_get_last_err() ? json_util_get_last_err()
				                                 : "not JSON");
			}
			return -1;
		}
		if (!json_object_is_type(doc, json_type_object)) {
			fprintf(stderr, "Error: failed to parse %s: not a JSON object\n", files[i]);
			json_object_put(doc);
			return -1;
		}
		json_object_object_foreach(doc, k, v)
		{
			if (!svc_key_eq(k, "service") && !svc_key_eq(k, "services"))
				continue;
			if (json_object_is_type(v, json_type_object)) {
				json_object_array_add(defs, json_object_get(v));
			} else if (json_object_is_type(v, json_type_array)) {
				for (size_t j = 0; j < json_object_array_length(v); j++)
					json_object_array_add(
					    defs, json_object_get(json_object_array_get_idx(v, j)));
			} else {
				fprintf(stderr, "Error: %s: %s must be an object or a list\n",
				        files[i], k);
				json_object_put(doc);
				return -1;
			}
		}
		json_object_put(doc);
		if (json_object_array_length(defs) > SVC_DEFS_MAX) {
			fprintf(stderr, "Error: more than %d service definitions\n", SVC_DEFS_MAX);
			return -1;
		}
	}
	return 0;
}

/* api.ParseServiceAddr: "host:port" or a bare host. */
static struct json_object *svc_service_addr(const char *v, char *err, size_t err_size)
{
	struct json_object *a = json_object_new_object();
	const char *colon = strrchr(v, ':');

	if (colon != NULL && strchr(v, ']') <= colon) {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		const char *h = v;
		size_t hl = (size_t)(colon - v);
		if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535) {
			snprintf(err, err_size, "invalid port in %s", v);
			json_object_put(a);
			return NULL;
		}
		if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
			h++, hl -= 2;
		json_object_object_add(a, "Address", json_object_new_string_len(h, (int)hl));
		json_object_object_add(a, "Port", json_object_new_int((int)port));
	} else {
		json_object_object_add(a, "Address", json_object_new_string(v));
	}
	return a;
}

struct svc_flags {
	const char *id, *name, *address, *socket, *kind;
	int64_t port;
	struct cflag_list meta, tags, tagged;
};

/* Sets key in o to v, replacing a field of the same name in any case. */
static void svc_set(struct json_object *o, const char *name, struct json_object *v)
{
	const char *old = NULL;
	if (svc_field(o, name, &old) != NULL) {
		char *k = strdup(old);
		json_object_object_del(o, k);
		free(k);
	}
	json_object_object_add(o, name, v);
}

/* The flag values as an object to merge: CombineArgs takes a flag's value
 * where the file has none, merges Meta and TaggedAddresses and appends
 * Tags. From flags alone it is the registration itself. */
static int svc_combine(struct json_object *svc, const struct svc_flags *f, char *err,
                       size_t err_size)
{
	struct json_object *m, *t;

	if (f->id != NULL && f->id[0] != '\0' && svc_field_str(svc, "ID")[0] == '\0')
		svc_set(svc, "ID", json_object_new_string(f->id));
	if (f->name != NULL && f->name[0] != '\0' && svc_field_str(svc, "Name")[0] == '\0')
		svc_set(svc, "Name", json_object_new_string(f->name));
	if (f->address != NULL && f->address[0] != '\0' && svc_field_str(svc, "Address")[0] == '\0')
		svc_set(svc, "Address", json_object_new_string(f->address));
	if (f->port != 0) {
		struct json_object *p = svc_field(svc, "Port", NULL);
		if (p == NULL || json_object_get_int64(p) == 0)
			svc_set(svc, "Port", json_object_new_int64(f->port));
	}
	if (f->kind != NULL && f->kind[0] != '\0' && svc_field_str(svc, "Kind")[0] == '\0')
		svc_set(svc, "Kind", json_object_new_string(f->kind));
	if (f->socket != NULL && f->socket[0] != '\0' &&
	    svc_field_str(svc, "SocketPath")[0] == '\0')
		svc_set(svc, "SocketPath", json_object_new_string(f->socket));
	if (f->meta.n > 0) {
		m = svc_field(svc, "Meta", NULL);
		if (!json_object_is_type(m, json_type_object)) {
			m = json_object_new_object();
			svc_set(svc, "Meta", m);
		}
		for (size_t i = 0; i < f->meta.n; i++) {
			const char *eq = strchr(f->meta.v[i], '=');
			char *k = strndup(f->meta.v[i], (size_t)(eq - f->meta.v[i]));
			json_object_object_add(m, k, json_object_new_string(eq + 1));
			free(k);
		}
	}
	if (f->tagged.n > 0) {
		m = svc_field(svc, "TaggedAddresses", NULL);
		if (!json_object_is_type(m, json_type_object)) {
			m = json_object_new_object();
			svc_set(svc, "TaggedAddresses", m);
		}
		for (size_t i = 0; i < f->tagged.n; i++) {
			const char *eq = strchr(f->tagged.v[i], '=');
			struct json_object *a = svc_service_addr(eq + 1, err, err_size);
			if (a == NULL)
				return -1;
			char *k = strndup(f->tagged.v[i], (size_t)(eq - f->tagged.v[i]));
			json_object_object_add(m, k, a);
			free(k);
		}
	}
	if (f->tags.n > 0) {
		t = svc_field(svc, "Tags", NULL);
		if (!json_object_is_type(t, json_type_array)) {
			t = json_object_new_array();
			svc_set(svc, "Tags", t);
		}
		for (size_t i = 0; i < f->tags.n; i++)
			json_object_array_add(t, json_object_new_string(f->tags.v[i]));
	}
	return 0;
}

static const char register_help[] =
    "Usage: muster services register [options] [FILE...]\n\n"
    "  Register one or more services using the local agent API. Services can\n"
    "  be registered from agent configuration files (JSON only: a \"service\"\n"
    "  object or a \"services\" list, as in Consul's config files; muster does not\n"
    "  read HCL) or using flags. The service is registered and the command returns.\n"
    "  The caller must remember to call \"muster services deregister\" or a similar\n"
    "  API to deregister the service when complete.\n\n"
    "      $ muster services register web.json";

static int svc_register(int argc, char **argv)
{
	struct http_opts o = {0};
	struct svc_flags f = {0};
	const struct cflag flags[] = {
	    CFLAG_STR("id", &f.id,
	              "ID of the service to register for arg-based registration. If this isn't "
	              "set, it will default to the -name value."),
	    CFLAG_STR("name", &f.name,
	              "Name of the service to register for arg-based registration."),
	    CFLAG_STR("address", &f.address,
	              "Address of the service to register for arg-based registration."),
	    CFLAG_INT("port", &f.port,
	              "Port of the service to register for arg-based registration."),
	    CFLAG_STR("socket", &f.socket,
	              "Path to the Unix domain socket to register for arg-based registration "
	              "(conflicts with address and port)."),
	    CFLAG_MAP("meta", &f.meta,
	              "Metadata to set on the service, formatted as key=value. This flag may be "
	              "specified multiple times to set multiple meta fields."),
	    CFLAG_LIST("tag", &f.tags,
	               "Tag to add to the service. This flag can be specified multiple times to "
	               "set multiple tags."),
	    CFLAG_MAP("tagged-address", &f.tagged,
	              "Tagged address to set on the service, formatted as key=value. This flag may "
	              "be specified multiple times to set multiple addresses."),
	    CFLAG_STR("kind", &f.kind, "The services 'kind'"),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct json_object *defs = NULL;
	char err[HTTP_ERR_MAX];
	int first, rc;
	bool has_name;

	if ((rc = cflag_parse(flags, argc, argv, register_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	has_name = f.name != NULL && f.name[0] != '\0';
	if (argc - first == 0 && !has_name) {
		fprintf(stderr, "Service registration requires at least one argument or flags.\n");
		return 1;
	}
	if (argc - first > 0 && has_name) {
		fprintf(stderr, "Service registration requires arguments or -id, not both.\n");
		return 1;
	}
	defs = json_object_new_array();
	if (argc - first > 0) {
		if (svc_from_files(argv + first, argc - first, defs) != 0) {
			json_object_put(defs);
			return 1;
		}
	} else {
		json_object_array_add(defs, json_object_new_object());
	}
	for (size_t i = 0; i < json_object_array_length(defs); i++) {
		if (svc_combine(json_object_array_get_idx(defs, i), &f, err, sizeof(err)) != 0) {
			fprintf(stderr, "Invalid Tagged Address: %s\n", err);
			json_object_put(defs);
			return 1;
		}
	}
	if (cli_connect(&c, &o) != 0) {
		json_object_put(defs);
		return 1;
	}
	http_resp_init(&r);
	rc = 0;
	for (size_t i = 0; i < json_object_array_length(defs); i++) {
		struct json_object *svc = json_object_array_get_idx(defs, i);
		const char *js = json_object_to_json_string_ext(svc, JSON_C_TO_STRING_PLAIN);
		if (http_ok(&c, "PUT", "/v1/agent/service/register", NULL, js, strlen(js), &r, err,
		            sizeof(err)) != 0) {
			fprintf(stderr, "Error registering service \"%s\": %s\n",
			        svc_field_str(svc, "Name"), err);
			rc = 1;
			break;
		}
		printf("Registered service: %s\n", svc_field_str(svc, "Name"));
	}
	json_object_put(defs);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

static const char deregister_help[] =
    "Usage: muster services deregister [options] [FILE...]\n\n"
    "  Deregister one or more services that were previously registered with\n"
    "  the local agent (JSON definition files only, as for register).\n\n"
    "      $ muster services deregister web.json db.json\n\n"
    "  The -id flag may be used to deregister a single service by ID:\n\n"
    "      $ muster services deregister -id=web\n\n"
    "  Services are deregistered from the local agent catalog. This command must\n"
    "  be run against the same agent where the service was registered.";

static int svc_deregister(int argc, char **argv)
{
	struct http_opts o = {0};
	const char *id = NULL;
	const struct cflag flags[] = {
	    CFLAG_STR("id", &id, "ID to delete. This must not be set if arguments are given."),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	struct http_client c;
	struct http_resp r;
	struct json_object *defs;
	char err[HTTP_ERR_MAX], path[HTTP_URL_MAX];
	int first, rc;
	bool has_id;

	if ((rc = cflag_parse(flags, argc, argv, deregister_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	has_id = id != NULL && id[0] != '\0';
	if (argc - first == 0 && !has_id) {
		fprintf(stderr, "Service deregistration requires at least one argument or -id.\n");
		return 1;
	}
	if (argc - first > 0 && has_id) {
		fprintf(stderr, "Service deregistration requires arguments or -id, not both.\n");
		return 1;
	}
	defs = json_object_new_array();
	if (argc - first > 0) {
		if (svc_from_files(argv + first, argc - first, defs) != 0) {
			json_object_put(defs);
			return 1;
		}
	} else {
		struct json_object *s = json_object_new_object();
		json_object_object_add(s, "ID", json_object_new_string(id));
		json_object_array_add(defs, s);
	}
	if (cli_connect(&c, &o) != 0) {
		json_object_put(defs);
		return 1;
	}
	http_resp_init(&r);
	rc = 0;
	for (size_t i = 0; i < json_object_array_length(defs); i++) {
		struct json_object *svc = json_object_array_get_idx(defs, i);
		const char *sid = svc_field_str(svc, "ID");
		if (sid[0] == '\0')
			sid = svc_field_str(svc, "Name");
		if (sid[0] == '\0')
			continue;
		snprintf(path, sizeof(path), "/v1/agent/service/deregister/%s", sid);
		if (http_ok(&c, "PUT", path, NULL, NULL, 0, &r, err, sizeof(err)) != 0) {
			fprintf(stderr, "Error deregistering service \"%s\": %s\n", sid, err);
			rc = 1;
			break;
		}
		printf("Deregistered service: %s\n", sid);
	}
	json_object_put(defs);
	http_resp_fini(&r);
	http_client_fini(&c);
	return rc;
}

static const struct cli_sub services_subs[] = {
    {"deregister", svc_deregister, "Deregister services with the local agent"},
    {"register", svc_register, "Register services with the local agent"},
    {NULL, NULL, NULL},
};

int cmd_services(int argc, char **argv)
{
	return cli_sub_run("Usage: muster services <subcommand> [options] [args]\n\n"
	                   "  Registers and deregisters this agent's services.",
	                   services_subs, argc, argv);
}

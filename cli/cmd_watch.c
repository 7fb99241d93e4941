/* cmd_watch.c: watch: blocking queries on a view of the cluster, its JSON to stdout once or to a child's stdin on every change (spec §2.4; Consul's command/watch over api/watch). */
#include "child.h"
#include "cli.h"
#include "gojson.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* api/watch/plan.go: after a failed query, wait retryInterval times the
 * square of the failures in a row, up to maxBackoffTime. */
#define WATCH_RETRY_MS       5000
#define WATCH_MAX_BACKOFF_MS 180000

struct watch {
	const char *type;
	const char *key, *prefix, *service, *tag, *state, *name;
	int passing; /* -1: not given */
	bool stale;
};

/* Go's map fields in these views: written with sorted keys, as Go does. */
static const char *const watch_map_fields[] = {
    "Meta", "TaggedAddresses", "NodeMeta", "ServiceMeta", "ServiceTaggedAddresses", NULL,
};

static bool watch_given(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* watch.Parse: each type takes some parameters and needs some; the rest
 * are refused ("Invalid parameters: [tag]"). 0, or -1 with the error
 * printed. */
static int watch_check(const struct watch *w)
{
	struct {
		const char *name;
		bool given;
	} params[] = {
	    {"key", watch_given(w->key)},
	    {"prefix", watch_given(w->prefix)},
	    {"service", watch_given(w->service)},
	    {"tag", watch_given(w->tag)},
	    {"stale", w->stale},
	    {"state", watch_given(w->state)},
	    {"name", watch_given(w->name)},
	    {"passingonly", w->passing >= 0},
	};
	const char *takes;
	char bad[256] = "";

	if (strcmp(w->type, "key") == 0) {
		takes = " stale key ";
		if (!watch_given(w->key)) {
			fprintf(stderr, "Must specify a single key to watch\n");
			return -1;
		}
	} else if (strcmp(w->type, "keyprefix") == 0) {
		takes = " stale prefix ";
		if (!watch_given(w->prefix)) {
			fprintf(stderr, "Must specify a single prefix to watch\n");
			return -1;
		}
	} else if (strcmp(w->type, "services") == 0 || strcmp(w->type, "nodes") == 0) {
		takes = " stale ";
	} else if (strcmp(w->type, "service") == 0) {
		takes = " stale service tag passingonly ";
		if (!watch_given(w->service)) {
			fprintf(stderr, "Must specify a single service to watch\n");
			return -1;
		}
	} else if (strcmp(w->type, "checks") == 0) {
		takes = " stale service state tag ";
		if (watch_given(w->service) && watch_given(w->state)) {
			fprintf(stderr, "Cannot specify service and state\n");
			return -1;
		}
	} else if (strcmp(w->type, "event") == 0) {
		takes = " name ";
	} else {
		fprintf(stderr, "Unsupported watch type: %s\n", w->type);
		return -1;
	}
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		char needle[32];
		snprintf(needle, sizeof(needle), " %s ", params[i].name);
		if (params[i].given && strstr(takes, needle) == NULL)
			snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad), "%s%s",
			         bad[0] ? " " : "", params[i].name);
	}
	if (bad[0] != '\0') {
		fprintf(stderr, "Invalid parameters: [%s]\n", bad);
		return -1;
	}
	return 0;
}

/* event.IDToIndex: the UUID's halves XORed, the index of an event. */
static uint64_t watch_event_index(const char *id)
{
	char lo[17], hi[17];

	if (strlen(id) != 36)
		return 0;
	snprintf(lo, sizeof(lo), "%.8s%.4s%.4s", id, id + 9, id + 14);
	snprintf(hi, sizeof(hi), "%.4s%.12s", id + 19, id + 24);
	return strtoull(lo, NULL, 16) ^ strtoull(hi, NULL, 16);
}

/* The Go api's KVPair, in its field order (the watch prints the api's
 * struct, not the agent's JSON): Key, CreateIndex, ModifyIndex,
 * LockIndex, Flags, Value, Session, then Namespace and Partition when set. */
static struct json_object *watch_kvpair(struct json_object *p)
{
	static const char *const fields[] = {"Key",   "CreateIndex", "ModifyIndex", "LockIndex",
	                                     "Flags", "Value",       "Session",     NULL};
	struct json_object *out = json_object_new_object(), *v;

	for (int i = 0; fields[i] != NULL; i++) {
		if (json_object_object_get_ex(p, fields[i], &v))
			json_object_object_add(out, fields[i], json_object_get(v));
		else if (strcmp(fields[i], "Session") == 0 || strcmp(fields[i], "Key") == 0)
			json_object_object_add(out, fields[i], json_object_new_string(""));
		else if (strcmp(fields[i], "Value") == 0)
			json_object_object_add(out, fields[i], NULL);
		else
			json_object_object_add(out, fields[i], json_object_new_int(0));
	}
	for (int i = 0; i < 2; i++) {
		const char *f = i ? "Partition" : "Namespace";
		if (json_object_object_get_ex(p, f, &v) && json_object_get_string_len(v) > 0)
			json_object_object_add(out, f, json_object_get(v));
	}
	return out;
}

/* One query of the view, blocking on index: 0 with the data (a new
 * reference; NULL is JSON null) and the new index, -1 with err, or
 * HTTP_ABORTED. */
static int watch_query(struct http_client *c, const struct watch *w, uint64_t index,
                       uint64_t last_index, struct json_object **data, uint64_t *new_index,
                       char *err, size_t err_size)
{
	struct http_resp r;
	struct http_query q;
	char path[HTTP_URL_MAX];
	struct json_object *ans = NULL;
	enum http_rc hrc;
	int rc = -1;

	*data = NULL;
	http_resp_init(&r);
	http_query_init(&q);
	if (w->stale && strcmp(w->type, "event") != 0)
		http_query_add(&q, "stale", NULL);
	if (index > 0)
		http_query_addf(&q, "index", "%" PRIu64, index);
	if (strcmp(w->type, "key") == 0) {
		snprintf(path, sizeof(path), "/v1/kv/%s", w->key);
	} else if (strcmp(w->type, "keyprefix") == 0) {
		snprintf(path, sizeof(path), "/v1/kv/%s", w->prefix);
		http_query_add(&q, "recurse", NULL);
	} else if (strcmp(w->type, "services") == 0) {
		snprintf(path, sizeof(path), "/v1/catalog/services");
	} else if (strcmp(w->type, "nodes") == 0) {
		snprintf(path, sizeof(path), "/v1/catalog/nodes");
	} else if (strcmp(w->type, "service") == 0) {
		snprintf(path, sizeof(path), "/v1/health/service/%s", w->service);
		if (watch_given(w->tag))
			http_query_add(&q, "tag", w->tag);
		if (w->passing > 0)
			http_query_add(&q, "passing", "1");
	} else if (strcmp(w->type, "checks") == 0) {
		if (watch_given(w->service))
			snprintf(path, sizeof(path), "/v1/health/checks/%s", w->service);
		else
			snprintf(path, sizeof(path), "/v1/health/state/%s",
			         watch_given(w->state) ? w->state : "any");
		if (watch_given(w->tag)) {
			char f[600];
			snprintf(f, sizeof(f), "\"%s\" in ServiceTags", w->tag);
			http_query_add(&q, "filter", f);
		}
	} else { /* event */
		snprintf(path, sizeof(path), "/v1/event/list");
		if (watch_given(w->name))
			http_query_add(&q, "name", w->name);
	}
	hrc = http_call(c, "GET", path, &q, NULL, 0, &r);
	if (hrc == HTTP_ABORTED) {
		rc = HTTP_ABORTED;
		goto out;
	}
	if (hrc != HTTP_OK) {
		snprintf(err, err_size, "%s", r.err);
		goto out;
	}
	*new_index = r.index;
	/* KV reads answer 404 for no key: nil, which is null. */
	if (r.status == 404 && (strcmp(w->type, "key") == 0 || strcmp(w->type, "keyprefix") == 0)) {
		rc = 0;
		goto out;
	}
	if (r.status != 200) {
		http_status_error(&r, err, err_size);
		goto out;
	}
	ans = json_tokener_parse(buf_cstr(&r.body) ? buf_cstr(&r.body) : "");
	if (ans == NULL && r.body.len > 0 && strncmp((const char *)r.body.p, "null", 4) != 0) {
		snprintf(err, err_size, "the agent's answer to %.200s is not JSON", path);
		goto out;
	}
	if (strcmp(w->type, "key") == 0) {
		*data =
		    json_object_is_type(ans, json_type_array) && json_object_array_length(ans) > 0
		        ? watch_kvpair(json_object_array_get_idx(ans, 0))
		        : NULL;
	} else if (strcmp(w->type, "keyprefix") == 0 && json_object_is_type(ans, json_type_array)) {
		*data = json_object_new_array();
		for (size_t i = 0; i < json_object_array_length(ans); i++)
			json_object_array_add(*data,
			                      watch_kvpair(json_object_array_get_idx(ans, i)));
	} else if (strcmp(w->type, "event") == 0 && json_object_is_type(ans, json_type_array)) {
		/* Only the events after the last one seen. */
		size_t n = json_object_array_length(ans), from = 0;
		for (size_t i = 0; i < n; i++) {
			struct json_object *id;
			if (json_object_object_get_ex(json_object_array_get_idx(ans, i), "ID",
			                              &id) &&
			    last_index != 0 &&
			    watch_event_index(json_object_get_string(id)) == last_index) {
				from = i + 1;
				break;
			}
		}
		*data = json_object_new_array();
		for (size_t i = from; i < n; i++)
			json_object_array_add(*data,
			                      json_object_get(json_object_array_get_idx(ans, i)));
	} else {
		*data = json_object_get(ans);
	}
	rc = 0;
out:
	json_object_put(ans);
	http_resp_fini(&r);
	return rc;
}

static bool watch_abort(void *arg)
{
	(void)arg;
	return child_stop_requested();
}

/* Runs the child with the data on its stdin and CONSUL_INDEX set; 0 when
 * it succeeded, 1 after Consul's "Error executing handler: ...", 2 when a
 * signal stopped the wait. */
static int watch_run_child(char **args, int nargs, bool shell, const struct buf *data,
                           uint64_t index)
{
	char env_index[64];
	const char *env[] = {env_index, NULL};
	struct child ch;
	char why[128];
	int fd, rc = 0;

	snprintf(env_index, sizeof(env_index), "CONSUL_INDEX=%" PRIu64, index);
	/* The data in a memory file, so a child that reads late (or never)
	 * cannot block the watch on a full pipe. */
	fd = memfd_create("muster-watch", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data->p, data->len) != (ssize_t)data->len ||
	    lseek(fd, 0, SEEK_SET) != 0) {
		fprintf(stderr, "Error executing handler: stdin: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	fflush(stdout);
	if (child_start(&ch, args, nargs, shell, fd, env) != 0) {
		close(fd);
		return 1;
	}
	close(fd);
	if (!child_wait(&ch, true)) {
		child_kill(&ch, CHILD_KILL_GRACE_MS, false);
		return 2;
	}
	if (!child_succeeded(&ch)) {
		child_describe(&ch, why, sizeof(why));
		fprintf(stderr, "Error executing handler: %s\n", why);
		rc = 1;
	}
	return rc;
}

static const char watch_help[] =
    "Usage: muster watch [options] [child...]\n\n"
    "  Watches for changes in a given data view. If a child process is specified,\n"
    "  it will be invoked with the latest results on changes (the JSON on its\n"
    "  stdin, CONSUL_INDEX in its environment). Otherwise, the latest values are\n"
    "  dumped to stdout and the watch terminates.\n\n"
    "  Providing the watch type is required, and other parameters may be required\n"
    "  or supported depending on the watch type: key (-key), keyprefix (-prefix),\n"
    "  services, nodes, service (-service, -tag, -passingonly), checks (-service or\n"
    "  -state), event (-name).";

int cmd_watch(int argc, char **argv)
{
	struct http_opts o = {0};
	struct watch w = {0};
	const char *passing = NULL;
	bool shell = true;
	const struct cflag flags[] = {
	    CFLAG_STR("type", &w.type,
	              "Specifies the watch type. One of key, keyprefix, services, nodes, service, "
	              "checks, or event."),
	    CFLAG_STR("key", &w.key, "Specifies the key to watch. Only for 'key' type."),
	    CFLAG_STR("prefix", &w.prefix,
	              "Specifies the key prefix to watch. Only for 'keyprefix' type."),
	    CFLAG_STR("service", &w.service,
	              "Specifies the service to watch. Required for 'service' type, optional for "
	              "'checks' type."),
	    CFLAG_STR("tag", &w.tag,
	              "Specifies the service tag to filter on. Optional for 'service' type."),
	    CFLAG_STR("passingonly", &passing,
	              "Specifies if only hosts passing all checks are displayed. Optional for "
	              "'service' type, must be one of `[true|false]`. Defaults false."),
	    CFLAG_BOOL("shell", &shell,
	               "Use a shell to run the command (can set a custom shell via the SHELL "
	               "environment variable)."),
	    CFLAG_STR("state", &w.state,
	              "Specifies the states to watch. Optional for 'checks' type."),
	    CFLAG_STR("name", &w.name, "Specifies an event name to watch. Only for 'event' type."),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	const struct gojson_opts indent = {"    ", false, watch_map_fields};
	const struct gojson_opts compact = {NULL, false, watch_map_fields};
	struct http_client c;
	struct json_object *last = NULL;
	struct buf out, prev;
	char err[HTTP_ERR_MAX], node[512];
	uint64_t index = 0, last_index = 0;
	bool have_index = false, have_last = false;
	int first, rc, failures = 0;

	if ((rc = cflag_parse(flags, argc, argv, watch_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (!watch_given(w.type)) {
		fprintf(stderr, "Watch type must be specified\n\n");
		cflag_usage(flags, watch_help, stderr);
		return 1;
	}
	w.stale = o.stale;
	w.passing = -1;
	if (passing != NULL && passing[0] != '\0') {
		bool b;
		if (cflag_parse_bool(passing, &b) != 0) {
			fprintf(
			    stderr,
			    "Failed to parse passingonly flag: strconv.ParseBool: parsing \"%s\": "
			    "invalid syntax\n",
			    passing);
			return 1;
		}
		w.passing = b;
	}
	if (watch_check(&w) != 0)
		return 1;
	if (cli_connect(&c, &o) != 0)
		return 1;
	child_signals_init();
	c.abort_fn = watch_abort;
	rc = 1;
	buf_init(&out, HTTP_BODY_MAX * 2);
	buf_init(&prev, HTTP_BODY_MAX * 2);
	if (http_node_name(&c, node, sizeof(node), err, sizeof(err)) != 0) {
		fprintf(stderr, "Error querying Consul agent: %s\n", err);
		goto out;
	}
	for (;;) {
		struct json_object *data = NULL;
		uint64_t new_index = 0;
		int q;

		if (child_stop_requested()) {
			rc = 0;
			break;
		}
		q = watch_query(&c, &w, index, last_index, &data, &new_index, err, sizeof(err));
		if (q == HTTP_ABORTED) {
			rc = 0;
			break;
		}
		if (q != 0) {
			long retry = WATCH_RETRY_MS * (long)(failures + 1) * (failures + 1);
			failures++;
			if (retry > WATCH_MAX_BACKOFF_MS)
				retry = WATCH_MAX_BACKOFF_MS;
			fprintf(stderr,
			        "[ERROR] watch: Watch errored: type=%s error=\"%s\" retry=%lds\n",
			        w.type, err, retry / 1000);
			if (!child_sleep_ms(retry)) {
				rc = 0;
				break;
			}
			continue;
		}
		failures = 0;
		/* No change of index: the query timed out. */
		if (have_index && new_index == index) {
			json_object_put(data);
			continue;
		}
		index = new_index < index ? 0 : new_index;
		have_index = true;
		last_index = new_index;
		/* No change of the data: nothing to hand over (reflect.DeepEqual). */
		buf_reset(&out);
		gojson_write(&out, data, &compact);
		if (have_last && out.len == prev.len && memcmp(out.p, prev.p, out.len) == 0) {
			json_object_put(data);
			continue;
		}
		buf_reset(&prev);
		buf_append(&prev, out.p, out.len);
		have_last = true;
		json_object_put(last);
		last = data;
		if (first >= argc) {
			/* No child: print the view once, indented, and stop. */
			buf_reset(&out);
			gojson_write(&out, data, &indent);
			if (out.err) {
				fprintf(stderr, "Error encoding output: larger than %u bytes\n",
				        HTTP_BODY_MAX * 2);
				break;
			}
			fwrite(out.p, 1, out.len, stdout);
			printf("\n");
			rc = 0;
			break;
		}
		/* json.Encoder: compact, then a newline. */
		buf_putc(&out, '\n');
		int crc = watch_run_child(argv + first, argc - first, shell, &out, new_index);
		if (crc == 2) {
			rc = 0;
			break;
		}
		if (crc != 0)
			break;
	}
out:
	json_object_put(last);
	buf_fini(&out);
	buf_fini(&prev);
	http_client_fini(&c);
	return rc;
}

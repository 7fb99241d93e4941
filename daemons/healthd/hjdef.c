/* hjdef.c: Consul's JSON service and check definitions (config files) decoded into bus records. */
#include "hjdef.h"

#include "buf.h"
#include "gofmt.h"
#include "xalloc.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HJDEF_DEPTH_MAX 32

struct hjdef {
	char *err;
	size_t err_size;
	bool failed;
};

static void hj_fail(struct hjdef *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hj_fail(struct hjdef *d, const char *fmt, ...)
{
	va_list ap;

	if (d->failed)
		return;
	d->failed = true;
	va_start(ap, fmt);
	vsnprintf(d->err, d->err_size, fmt, ap);
	va_end(ap);
}

/* Consul's lenient names: case ignored, '_' ignored. */
static bool hj_name_eq(const char *key, const char *want)
{
	for (;;) {
		while (*key == '_')
			key++;
		while (*want == '_')
			want++;
		if (*key == '\0' || *want == '\0')
			return *key == *want;
		if (tolower((unsigned char)*key) != tolower((unsigned char)*want))
			return false;
		key++, want++;
	}
}

/* The member named name (the last of duplicates, as Go keeps), NULL when
 * absent or null. */
static struct json_object *hj_get(struct json_object *o, const char *name)
{
	struct json_object *hit = NULL;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		return NULL;
	json_object_object_foreach(o, k, v)
	{
		if (hj_name_eq(k, name))
			hit = v;
	}
	return hit;
}

static void hj_str(struct hjdef *d, struct json_object *o, const char *name, char **out)
{
	struct json_object *v = hj_get(o, name);

	if (v == NULL)
		return;
	if (!json_object_is_type(v, json_type_string)) {
		hj_fail(d, "%s: expected a string", name);
		return;
	}
	free(*out);
	*out = xstrdup(json_object_get_string(v));
}

static void hj_bool(struct hjdef *d, struct json_object *o, const char *name, bool *out)
{
	struct json_object *v = hj_get(o, name);

	if (v == NULL)
		return;
	if (!json_object_is_type(v, json_type_boolean)) {
		hj_fail(d, "%s: expected true or false", name);
		return;
	}
	*out = json_object_get_boolean(v);
}

static void hj_u64(struct hjdef *d, struct json_object *o, const char *name, uint64_t *out)
{
	struct json_object *v = hj_get(o, name);
	int64_t n;

	if (v == NULL)
		return;
	if (!json_object_is_type(v, json_type_int)) {
		hj_fail(d, "%s: expected an integer", name);
		return;
	}
	n = json_object_get_int64(v);
	if (n < 0) {
		hj_fail(d, "%s: must not be negative", name);
		return;
	}
	*out = (uint64_t)n;
}

/* A duration: a Go duration string or a number of nanoseconds. */
static void hj_dur(struct hjdef *d, struct json_object *o, const char *name, uint64_t *out)
{
	struct json_object *v = hj_get(o, name);
	const char *why = NULL;
	int64_t ns = 0;

	if (v == NULL)
		return;
	if (json_object_is_type(v, json_type_string)) {
		if (gofmt_dur_parse_ns(json_object_get_string(v), &ns, &why) != 0) {
			hj_fail(d, "%s: %s", name, why);
			return;
		}
	} else if (json_object_is_type(v, json_type_int) ||
	           json_object_is_type(v, json_type_double)) {
		ns = json_object_get_int64(v);
	} else {
		hj_fail(d, "%s: expected a duration", name);
		return;
	}
	if (ns < 0) {
		hj_fail(d, "%s: must not be negative", name);
		return;
	}
	*out = (uint64_t)ns;
}

static void hj_strlist(struct hjdef *d, struct json_object *o, const char *name,
                       struct msg_strlist *out)
{
	struct json_object *v = hj_get(o, name);
	size_t n;

	if (v == NULL)
		return;
	if (!json_object_is_type(v, json_type_array)) {
		hj_fail(d, "%s: expected a list of strings", name);
		return;
	}
	n = json_object_array_length(v);
	for (uint32_t i = 0; i < out->n; i++)
		free(out->v[i]);
	free(out->v);
	out->v = xcalloc(n ? n : 1, sizeof(char *));
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string)) {
			hj_fail(d, "%s: expected a list of strings", name);
			return;
		}
		out->v[out->n++] = xstrdup(json_object_get_string(e));
	}
}

static void hj_strmap(struct hjdef *d, struct json_object *o, const char *name,
                      struct msg_strmap *out)
{
	struct json_object *v = hj_get(o, name);
	size_t n;

	if (v == NULL)
		return;
	if (!json_object_is_type(v, json_type_object)) {
		hj_fail(d, "%s: expected a mapping of strings", name);
		return;
	}
	n = (size_t)json_object_object_length(v);
	out->k = xcalloc(n ? n : 1, sizeof(char *));
	out->v = xcalloc(n ? n : 1, sizeof(char *));
	out->n = 0;
	json_object_object_foreach(v, k, e)
	{
		if (!json_object_is_type(e, json_type_string)) {
			hj_fail(d, "%s: expected a mapping of strings", name);
			return;
		}
		out->k[out->n] = xstrdup(k);
		out->v[out->n++] = xstrdup(json_object_get_string(e));
	}
}

static void hj_check_type(struct hjdef *d, struct json_object *o, struct msg_agent_check *c,
                          bool in_service)
{
	struct msg_check *h = &c->check;
	struct msg_check_def *df = &h->definition;
	struct json_object *hdr;

	if (!json_object_is_type(o, json_type_object)) {
		hj_fail(d, "a check must be a mapping");
		return;
	}
	hj_str(d, o, "CheckID", &h->check_id);
	if (!in_service || hj_get(o, "CheckID") == NULL)
		hj_str(d, o, "ID", &h->check_id);
	hj_str(d, o, "Name", &h->name);
	hj_str(d, o, "Status", &h->status);
	hj_str(d, o, "Notes", &h->notes);
	if (!in_service)
		hj_str(d, o, "ServiceID", &h->service_id);
	hj_strlist(d, o, "ScriptArgs", &df->script_args);
	if (df->script_args.n == 0)
		hj_strlist(d, o, "Args", &df->script_args);
	hj_str(d, o, "HTTP", &df->http);
	hdr = hj_get(o, "Header");
	if (hdr != NULL) {
		if (!json_object_is_type(hdr, json_type_object)) {
			hj_fail(d, "Header: expected a mapping of lists of strings");
		} else {
			size_t n = (size_t)json_object_object_length(hdr);

			df->header.v = xcalloc(n ? n : 1, sizeof(*df->header.v));
			json_object_object_foreach(hdr, k, v)
			{
				struct msg_header *e = &df->header.v[df->header.n++];
				struct json_object *wrap = json_object_new_object();

				e->name = xstrdup(k);
				json_object_object_add(wrap, "v", json_object_get(v));
				hj_strlist(d, wrap, "v", &e->values);
				json_object_put(wrap);
			}
		}
	}
	hj_str(d, o, "Method", &df->method);
	hj_str(d, o, "Body", &df->body);
	hj_bool(d, o, "DisableRedirects", &df->disable_redirects);
	hj_str(d, o, "TCP", &df->tcp);
	hj_str(d, o, "UDP", &df->udp);
	hj_str(d, o, "H2PING", &df->h2ping);
	hj_bool(d, o, "H2PingUseTLS", &df->h2ping_use_tls);
	hj_str(d, o, "OSService", &df->os_service);
	hj_dur(d, o, "Interval", &df->interval_ns);
	hj_dur(d, o, "Timeout", &df->timeout_ns);
	hj_dur(d, o, "TTL", &df->ttl_ns);
	hj_dur(d, o, "DeregisterCriticalServiceAfter", &df->deregister_critical_service_after_ns);
	hj_u64(d, o, "OutputMaxSize", &df->output_max_size);
	hj_str(d, o, "DockerContainerID", &df->docker_container_id);
	hj_str(d, o, "Shell", &df->shell);
	hj_str(d, o, "GRPC", &df->grpc);
	hj_bool(d, o, "GRPCUseTLS", &df->grpc_use_tls);
	hj_str(d, o, "AliasNode", &df->alias_node);
	hj_str(d, o, "AliasService", &df->alias_service);
	hj_str(d, o, "TLSServerName", &df->tls_server_name);
	hj_bool(d, o, "TLSSkipVerify", &df->tls_skip_verify);
	hj_u64(d, o, "SuccessBeforePassing", &c->success_before_passing);
	hj_u64(d, o, "FailuresBeforeWarning", &c->failures_before_warning);
	hj_u64(d, o, "FailuresBeforeCritical", &c->failures_before_critical);
}

static struct json_object *hj_parse(struct hjdef *d, const char *json)
{
	struct json_tokener *t = json_tokener_new_ex(HJDEF_DEPTH_MAX);
	struct json_object *o;

	if (t == NULL)
		xalloc_fail(sizeof(*t));
	o = json_tokener_parse_ex(t, json, (int)strlen(json));
	if (o == NULL || json_tokener_get_error(t) != json_tokener_success)
		hj_fail(d, "not valid JSON: %s",
		        json_tokener_error_desc(json_tokener_get_error(t)));
	else if (!json_object_is_type(o, json_type_object))
		hj_fail(d, "a definition must be a mapping");
	json_tokener_free(t);
	return o;
}

static char *hj_raw(struct json_object *v)
{
	if (v == NULL)
		return xstrdup("");
	return xstrdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Every string of a record made here is heap "" rather than NULL where not
 * given, as msg_decode() makes them: an encode and decode round trip. */
static void hj_norm_service(struct msg_agent_service *s)
{
	struct msg_agent_service fresh;
	struct buf b;

	buf_init(&b, 64u << 20);
	msg_rec_encode_agent_service(s, &b);
	if (b.err || msg_rec_decode_agent_service(b.p, b.len, &fresh) != MSG_OK)
		xalloc_fail(b.len);
	buf_fini(&b);
	msg_rec_free_agent_service(s);
	*s = fresh;
}

static void hj_norm_check(struct msg_agent_check *c)
{
	struct msg_agent_check fresh;
	struct buf b;

	buf_init(&b, 64u << 20);
	msg_rec_encode_agent_check(c, &b);
	if (b.err || msg_rec_decode_agent_check(b.p, b.len, &fresh) != MSG_OK)
		xalloc_fail(b.len);
	buf_fini(&b);
	msg_rec_free_agent_check(c);
	*c = fresh;
}

int hjdef_service(const char *json, struct msg_agent_service *as,
                  struct msg_agent_check_list *checks, char *err, size_t err_size)
{
	struct hjdef d = {err, err_size, false};
	struct json_object *o = hj_parse(&d, json), *v;
	struct msg_service *s = &as->service;
	size_t n = 0;

	memset(as, 0, sizeof(*as));
	memset(checks, 0, sizeof(*checks));
	if (d.failed)
		goto out;
	hj_str(&d, o, "Kind", &s->kind);
	hj_str(&d, o, "ID", &s->id);
	hj_str(&d, o, "Name", &s->service);
	hj_strlist(&d, o, "Tags", &s->tags);
	hj_str(&d, o, "Address", &s->address);
	hj_strmap(&d, o, "Meta", &s->meta);
	hj_u64(&d, o, "Port", &s->port);
	hj_str(&d, o, "SocketPath", &s->socket_path);
	hj_bool(&d, o, "EnableTagOverride", &s->enable_tag_override);
	v = hj_get(o, "Weights");
	if (v != NULL) {
		hj_u64(&d, v, "Passing", &s->weight_passing);
		hj_u64(&d, v, "Warning", &s->weight_warning);
	}
	v = hj_get(o, "TaggedAddresses");
	if (v != NULL && json_object_is_type(v, json_type_object)) {
		size_t m = (size_t)json_object_object_length(v);

		s->tagged_addresses.v = xcalloc(m ? m : 1, sizeof(*s->tagged_addresses.v));
		json_object_object_foreach(v, k, e)
		{
			struct msg_svc_addr *a = &s->tagged_addresses.v[s->tagged_addresses.n++];

			a->name = xstrdup(k);
			hj_str(&d, e, "Address", &a->address);
			hj_u64(&d, e, "Port", &a->port);
		}
	} else if (v != NULL) {
		hj_fail(&d, "TaggedAddresses: expected a mapping");
	}
	v = hj_get(o, "Proxy");
	if (v != NULL)
		as->proxy_json = hj_raw(v);
	v = hj_get(o, "Connect");
	if (v != NULL)
		as->connect_json = hj_raw(v);
	/* Check first, then Checks (§3.12). */
	v = hj_get(o, "Checks");
	if (v != NULL && !json_object_is_type(v, json_type_array))
		hj_fail(&d, "Checks: expected a list");
	n = (hj_get(o, "Check") ? 1 : 0) + (v != NULL && json_object_is_type(v, json_type_array)
	                                        ? json_object_array_length(v)
	                                        : 0);
	checks->v = xcalloc(n ? n : 1, sizeof(*checks->v));
	if (hj_get(o, "Check") != NULL)
		hj_check_type(&d, hj_get(o, "Check"), &checks->v[checks->n++], true);
	if (v != NULL && json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			hj_check_type(&d, json_object_array_get_idx(v, i), &checks->v[checks->n++],
			              true);
out:
	json_object_put(o);
	hj_norm_service(as);
	for (uint32_t i = 0; i < checks->n; i++)
		hj_norm_check(&checks->v[i]);
	return d.failed ? -1 : 0;
}

int hjdef_check(const char *json, struct msg_agent_check *c, char *err, size_t err_size)
{
	struct hjdef d = {err, err_size, false};
	struct json_object *o = hj_parse(&d, json);

	memset(c, 0, sizeof(*c));
	if (!d.failed)
		hj_check_type(&d, o, c, false);
	json_object_put(o);
	hj_norm_check(c);
	return d.failed ? -1 : 0;
}

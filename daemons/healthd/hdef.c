/* hdef.c: Consul's rules for agent service and check definitions: defaults, validation texts,
 * maintenance checks (pure). */
#include "hdef.h"

#include "buf.h"
#include "gofmt.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Consul's structs metadata limits (agent/structs/structs.go). */
#define HDEF_META_PAIRS_MAX 64
#define HDEF_META_KEY_MAX   128
#define HDEF_META_VALUE_MAX 512
#define HDEF_WEIGHT_MAX     65535

void hdef_set_str(char **dst, const char *s)
{
	char *n = xstrdup(s);

	free(*dst);
	*dst = n;
}

static void hdef_err(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void hdef_err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

static bool hdef_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

bool hdef_status_valid(const char *s)
{
	return s != NULL && (strcmp(s, "passing") == 0 || strcmp(s, "warning") == 0 ||
	                     strcmp(s, "critical") == 0);
}

int hdef_status_num(const char *s)
{
	if (s != NULL && strcmp(s, "passing") == 0)
		return 0;
	if (s != NULL && strcmp(s, "warning") == 0)
		return 1;
	return 2;
}

const char *hdef_status_name(int n)
{
	return n == 0 ? "passing" : n == 1 ? "warning" : "critical";
}

bool hdef_is_interval(const struct msg_check_def *d)
{
	return d->script_args.n > 0 || !hdef_empty(d->http) || !hdef_empty(d->tcp) ||
	       !hdef_empty(d->udp) || !hdef_empty(d->grpc) || !hdef_empty(d->h2ping) ||
	       !hdef_empty(d->os_service);
}

bool hdef_is_alias(const struct msg_check_def *d)
{
	return !hdef_empty(d->alias_node) || !hdef_empty(d->alias_service);
}

const char *hdef_check_type(const struct msg_check_def *d)
{
	bool iv = d->interval_ns > 0;

	if (!hdef_empty(d->grpc) && iv)
		return "grpc";
	if (!hdef_empty(d->http) && iv)
		return "http";
	if (d->ttl_ns > 0)
		return "ttl";
	if (!hdef_empty(d->tcp) && iv)
		return "tcp";
	if (!hdef_empty(d->udp) && iv)
		return "udp";
	if (hdef_is_alias(d))
		return "alias";
	if (d->script_args.n > 0 && !hdef_empty(d->docker_container_id) && iv)
		return "docker";
	if (d->script_args.n > 0 && iv)
		return "script";
	if (!hdef_empty(d->h2ping) && iv)
		return "h2ping";
	if (!hdef_empty(d->os_service) && iv)
		return "os_service";
	return "";
}

const char *hdef_check_validate(const struct msg_agent_check *c)
{
	const struct msg_check_def *d = &c->check.definition;
	bool interval = hdef_is_interval(d);

	if (d->interval_ns > 0 && d->ttl_ns > 0)
		return "Interval and TTL cannot both be specified";
	if (interval && d->interval_ns == 0)
		return "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService "
		       "checks";
	if (interval && hdef_is_alias(d))
		return "Interval cannot be set for Alias checks";
	if (hdef_is_alias(d) && d->ttl_ns > 0)
		return "TTL must be not be set for Alias checks";
	if (!interval && !hdef_is_alias(d) && d->ttl_ns == 0)
		return "TTL must be > 0 for TTL checks";
	if (c->failures_before_warning > c->failures_before_critical)
		return "FailuresBeforeWarning can't be higher than FailuresBeforeCritical";
	return NULL;
}

bool hdef_check_is_empty(const struct msg_agent_check *c)
{
	struct msg_agent_check zero;
	struct buf a, b;
	bool same;

	memset(&zero, 0, sizeof(zero));
	buf_init(&a, 1u << 24);
	buf_init(&b, 1u << 24);
	msg_rec_encode_agent_check(c, &a);
	msg_rec_encode_agent_check(&zero, &b);
	same = !a.err && !b.err && a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
	buf_fini(&a);
	buf_fini(&b);
	return same;
}

void hdef_dur_str(uint64_t ns, char out[48])
{
	if (ns == 0) {
		out[0] = '\0';
		return;
	}
	gofmt_dur_format_ns(ns > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)ns, out);
}

/* Consul's "any" addresses (ipaddr.IsAny). */
static bool hdef_is_any(const char *a)
{
	return a != NULL &&
	       (strcmp(a, "0.0.0.0") == 0 || strcmp(a, "::") == 0 || strcmp(a, "[::]") == 0);
}

static bool hdef_meta_key_ok(const char *k)
{
	for (const char *p = k; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return *k != '\0';
}

/* validateMetadata (agent/structs/structs.go), in key order so that the
 * text does not depend on Go's map order. */
static int hdef_meta_check(const struct msg_strmap *m, char *err, size_t size)
{
	uint32_t *order;

	if (m->n > HDEF_META_PAIRS_MAX) {
		hdef_err(err, size, "Node metadata cannot contain more than %d key/value pairs",
		         HDEF_META_PAIRS_MAX);
		return -1;
	}
	order = xcalloc(m->n ? m->n : 1, sizeof(*order));
	for (uint32_t i = 0; i < m->n; i++) {
		uint32_t j = i;

		while (j > 0 && strcmp(m->k[order[j - 1]], m->k[i]) > 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (uint32_t x = 0; x < m->n; x++) {
		const char *k = m->k[order[x]], *v = m->v[order[x]], *why = NULL;
		char tmp[64];

		if (*k == '\0') {
			why = "Key cannot be blank";
		} else if (!hdef_meta_key_ok(k)) {
			why = "Key contains invalid characters";
		} else if (strlen(k) > HDEF_META_KEY_MAX) {
			snprintf(tmp, sizeof(tmp), "Key is too long (limit: %d characters)",
			         HDEF_META_KEY_MAX);
			why = tmp;
		} else if (strncmp(k, "consul-", 7) == 0) {
			why = "Key prefix 'consul-' is reserved for internal use";
		} else if (strlen(v) > HDEF_META_VALUE_MAX) {
			snprintf(tmp, sizeof(tmp), "Value is too long (limit: %d characters)",
			         HDEF_META_VALUE_MAX);
			why = tmp;
		}
		if (why != NULL) {
			hdef_err(err, size, "Couldn't load metadata pair ('%s', '%s'): %s", k, v,
			         why);
			free(order);
			return -1;
		}
	}
	free(order);
	return 0;
}

void hdef_check_bind(struct msg_agent_check *c, const struct msg_service *svc)
{
	struct msg_strlist tags = {0};

	if (svc == NULL)
		return;
	hdef_set_str(&c->check.service_id, svc->id);
	hdef_set_str(&c->check.service_name, svc->service);
	tags.n = svc->tags.n;
	tags.v = xcalloc(tags.n ? tags.n : 1, sizeof(char *));
	for (uint32_t i = 0; i < tags.n; i++)
		tags.v[i] = xstrdup(svc->tags.v[i]);
	for (uint32_t i = 0; i < c->check.service_tags.n; i++)
		free(c->check.service_tags.v[i]);
	free(c->check.service_tags.v);
	c->check.service_tags = tags;
}

/* What every check gets whatever its origin: node, type, interval and
 * timeout strings, the default status. */
static void hdef_check_common(struct msg_agent_check *c, const struct hdef_opts *o)
{
	const struct msg_check_def *d = &c->check.definition;
	char s[48];

	hdef_set_str(&c->check.node, o->node);
	hdef_set_str(&c->check.type, hdef_check_type(d));
	hdef_dur_str(d->interval_ns, s);
	hdef_set_str(&c->check.interval, s);
	hdef_dur_str(d->timeout_ns, s);
	hdef_set_str(&c->check.timeout, s);
	if (hdef_empty(c->check.status))
		hdef_set_str(&c->check.status, "critical");
	if (c->check.notes == NULL)
		c->check.notes = xstrdup("");
	if (c->check.output == NULL)
		c->check.output = xstrdup("");
}

/* addCheck: script checks need the agent's permission. */
static int hdef_script_allowed(const struct msg_agent_check *c, const struct hdef_opts *o,
                               char *err, size_t size)
{
	if (c->check.definition.script_args.n == 0)
		return 0;
	if (o->local && !o->enable_local_script_checks) {
		hdef_err(err, size,
		         "Scripts are disabled on this agent; to enable, configure "
		         "'enable_script_checks' or 'enable_local_script_checks' to true");
		return 400;
	}
	if (!o->local && !o->enable_script_checks) {
		hdef_err(err, size,
		         "Scripts are disabled on this agent from remote calls; to enable, "
		         "configure 'enable_script_checks' to true");
		return 400;
	}
	return 0;
}

int hdef_service_prepare(struct msg_agent_service *as, struct msg_agent_check_list *checks,
                         const struct hdef_opts *o, char *err, size_t err_size)
{
	struct msg_service *svc = &as->service;
	uint32_t n = 0;
	char tmp[HDEF_ERR_MAX];

	if (hdef_empty(svc->service)) {
		hdef_err(err, err_size, "Missing service name");
		return 400;
	}
	if (hdef_is_any(svc->address)) {
		hdef_err(err, err_size, "Invalid service address");
		return 400;
	}
	/* Weights: both 0 is "not given" ({1, 1}, agent.go validateService). */
	if (svc->weight_passing == 0 && svc->weight_warning == 0) {
		svc->weight_passing = 1;
		svc->weight_warning = 1;
	} else if (svc->weight_passing < 1) {
		hdef_err(err, err_size, "Invalid Weights: Passing must be greater than 0");
		return 400;
	} else if (svc->weight_passing > HDEF_WEIGHT_MAX || svc->weight_warning > HDEF_WEIGHT_MAX) {
		hdef_err(err, err_size, "Invalid Weights: Weight must be smaller than 65535");
		return 400;
	}
	if (hdef_meta_check(&svc->meta, tmp, sizeof(tmp)) != 0) {
		hdef_err(err, err_size, "Invalid Service Meta: %s", tmp);
		return 400;
	}
	if (hdef_empty(svc->id))
		hdef_set_str(&svc->id, svc->service);
	if (strlen(svc->id) > HDEF_ID_MAX) {
		hdef_err(err, err_size, "Invalid service ID: longer than %d bytes", HDEF_ID_MAX);
		return 400;
	}
	hdef_set_str(&svc->node, o->node);
	/* ServiceDefinition.CheckTypes(): an empty Check is skipped. */
	for (uint32_t i = 0; i < checks->n; i++) {
		if (hdef_check_is_empty(&checks->v[i])) {
			msg_rec_free_agent_check(&checks->v[i]);
			continue;
		}
		if (n != i)
			checks->v[n] = checks->v[i];
		n++;
	}
	for (uint32_t i = n; i < checks->n; i++)
		memset(&checks->v[i], 0, sizeof(checks->v[i]));
	checks->n = n;
	if (n > HDEF_CHECKS_PER_SERVICE_MAX) {
		hdef_err(err, err_size, "Invalid check: more than %d checks in one service",
		         HDEF_CHECKS_PER_SERVICE_MAX);
		return 400;
	}
	for (uint32_t i = 0; i < n; i++) {
		const char *why = hdef_check_validate(&checks->v[i]);

		if (why != NULL) {
			hdef_err(err, err_size, "Invalid check: %s", why);
			return 400;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!hdef_empty(checks->v[i].check.status) &&
		    !hdef_status_valid(checks->v[i].check.status)) {
			hdef_err(err, err_size,
			         "Status for checks must 'passing', 'warning', 'critical'");
			return 400;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		struct msg_agent_check *c = &checks->v[i];
		int rc = hdef_script_allowed(c, o, err, err_size);

		if (rc != 0)
			return rc;
		if (hdef_empty(c->check.check_id)) {
			char *id = n > 1 ? xasprintf("service:%s:%u", svc->id, i + 1)
			                 : xasprintf("service:%s", svc->id);

			free(c->check.check_id);
			c->check.check_id = id;
		}
		if (hdef_empty(c->check.name)) {
			free(c->check.name);
			c->check.name = xasprintf("Service '%s' check", svc->service);
		}
		hdef_check_bind(c, svc);
		hdef_check_common(c, o);
	}
	return 0;
}

int hdef_check_prepare(struct msg_agent_check *c, const struct msg_service *svc,
                       const struct hdef_opts *o, char *err, size_t err_size)
{
	const char *why;
	int rc;

	if (hdef_empty(c->check.name)) {
		hdef_err(err, err_size, "Missing check name");
		return 400;
	}
	if (!hdef_empty(c->check.status) && !hdef_status_valid(c->check.status)) {
		hdef_err(err, err_size, "Bad check status");
		return 400;
	}
	if (hdef_empty(c->check.check_id))
		hdef_set_str(&c->check.check_id, c->check.name);
	if (strlen(c->check.check_id) > HDEF_ID_MAX) {
		hdef_err(err, err_size, "Invalid check: CheckID longer than %d bytes", HDEF_ID_MAX);
		return 400;
	}
	why = hdef_check_validate(c);
	if (why != NULL) {
		hdef_err(err, err_size, "Invalid check: %s", why);
		return 400;
	}
	if (!hdef_empty(c->check.service_id)) {
		if (svc == NULL) {
			char *q = gofmt_quote(c->check.service_id, strlen(c->check.service_id));

			hdef_err(err, err_size, "ServiceID %s does not exist", q);
			free(q);
			return 404;
		}
		hdef_check_bind(c, svc);
	} else {
		hdef_set_str(&c->check.service_name, "");
	}
	rc = hdef_script_allowed(c, o, err, err_size);
	if (rc != 0)
		return rc;
	hdef_check_common(c, o);
	return 0;
}

char *hdef_service_maint_id(const char *service_id)
{
	return xasprintf("%s%s", HDEF_SERVICE_MAINT_PREFIX, service_id);
}

static void hdef_maint(struct msg_agent_check *out, const char *node, const char *id,
                       const char *name, const char *reason)
{
	memset(out, 0, sizeof(*out));
	out->check.node = xstrdup(node);
	out->check.check_id = xstrdup(id);
	out->check.name = xstrdup(name);
	out->check.status = xstrdup("critical");
	out->check.notes = xstrdup(reason);
	out->check.output = xstrdup("");
	out->check.service_id = xstrdup("");
	out->check.service_name = xstrdup("");
	out->check.type = xstrdup("maintenance");
	out->check.interval = xstrdup("");
	out->check.timeout = xstrdup("");
}

void hdef_node_maint(struct msg_agent_check *out, const char *node, const char *reason)
{
	hdef_maint(out, node, HDEF_NODE_MAINT_ID, "Node Maintenance Mode",
	           hdef_empty(reason) ? HDEF_NODE_MAINT_REASON : reason);
}

void hdef_service_maint(struct msg_agent_check *out, const char *node,
                        const struct msg_service *svc, const char *reason)
{
	char *id = hdef_service_maint_id(svc->id);

	hdef_maint(out, node, id, "Service Maintenance Mode",
	           hdef_empty(reason) ? HDEF_SERVICE_MAINT_REASON : reason);
	hdef_check_bind(out, svc);
	free(id);
}

size_t hdef_output_max(const struct msg_check_def *d)
{
	size_t max = HDEF_OUTPUT_MAX_DEFAULT;

	if (d->output_max_size > 0 && d->output_max_size < max)
		max = (size_t)d->output_max_size;
	return max;
}

char *hdef_output_cap(const char *output, size_t max)
{
	size_t total = output ? strlen(output) : 0;

	if (total <= max)
		return xstrdup(output);
	return xasprintf("%.*s ... (captured %zu of %zu bytes)", (int)max, output, max, total);
}

void hdef_content_hash(const struct msg_agent_service *s, char out[17])
{
	struct msg_agent_service tmp = *s;
	uint64_t h = 0xcbf29ce484222325ull;
	struct buf b;

	tmp.content_hash = "";
	tmp.maintenance = false;
	buf_init(&b, 1u << 24);
	msg_rec_encode_agent_service(&tmp, &b);
	for (size_t i = 0; i < b.len; i++) {
		h ^= b.p[i];
		h *= 0x100000001b3ull;
	}
	buf_fini(&b);
	snprintf(out, 17, "%" PRIx64, h);
}

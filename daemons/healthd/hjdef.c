/* hjdef.c: config files' service and check definitions, decoded by httpd's hjson (one decoder
 * for the HTTP API and the config files, so both take the same JSON the same way). */
#include "hjdef.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "daemons/httpd/hjson.h"

static struct json_object *hjdef_parse(struct hjson_dec *d, const char *json, const char *gotype)
{
	struct json_object *o = hjson_parse(d, json, strlen(json));

	if (o == NULL) {
		if (!d->failed)
			hjson_fail(d, "empty definition");
		return NULL;
	}
	if (!hjson_want_object(d, o, gotype)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* The decoders leave absent strings NULL (the bus sends them as ""); healthd's records come
 * from the bus otherwise, with every string set: a copy through the record codec makes these
 * the same. */
static int normalize_check(struct msg_agent_check *c)
{
	struct msg_agent_check n;

	if (msg_rec_copy_agent_check(&n, c) != 0)
		return -1;
	msg_rec_free_agent_check(c);
	*c = n;
	return 0;
}

static int normalize_checks(struct msg_agent_check_list *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (normalize_check(&l->v[i]) != 0)
			return -1;
	return 0;
}

static int normalize_service(struct msg_agent_service *s)
{
	struct msg_agent_service n;

	if (msg_rec_copy_agent_service(&n, s) != 0)
		return -1;
	msg_rec_free_agent_service(s);
	*s = n;
	return 0;
}

int hjdef_service(const char *json, struct msg_agent_service *svc,
                  struct msg_agent_check_list *checks, char *err, size_t err_size)
{
	struct hjson_dec d;
	struct json_object *o;

	memset(&d, 0, sizeof(d));
	memset(svc, 0, sizeof(*svc));
	memset(checks, 0, sizeof(*checks));
	o = hjdef_parse(&d, json, "structs.ServiceDefinition");
	if (o != NULL) {
		hjson_dec_agent_service(&d, o, svc, checks);
		json_object_put(o);
	}
	if (!d.failed && (normalize_service(svc) != 0 || normalize_checks(checks) != 0))
		hjson_fail(&d, "definition too large");
	if (d.failed) {
		snprintf(err, err_size, "%s", d.err);
		msg_rec_free_agent_service(svc);
		for (uint32_t i = 0; i < checks->n; i++)
			msg_rec_free_agent_check(&checks->v[i]);
		free(checks->v);
		memset(svc, 0, sizeof(*svc));
		memset(checks, 0, sizeof(*checks));
		return -1;
	}
	return 0;
}

int hjdef_check(const char *json, struct msg_agent_check *c, char *err, size_t err_size)
{
	struct hjson_dec d;
	struct json_object *o;

	memset(&d, 0, sizeof(d));
	memset(c, 0, sizeof(*c));
	o = hjdef_parse(&d, json, "structs.CheckDefinition");
	if (o != NULL) {
		hjson_dec_agent_check(&d, o, true, c);
		json_object_put(o);
	}
	if (!d.failed && normalize_check(c) != 0)
		hjson_fail(&d, "definition too large");
	if (d.failed) {
		snprintf(err, err_size, "%s", d.err);
		msg_rec_free_agent_check(c);
		memset(c, 0, sizeof(*c));
		return -1;
	}
	return 0;
}

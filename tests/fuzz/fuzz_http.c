/* fuzz_http.c: libFuzzer target for httpd's request path: URI decoding, routing, query parsing, JSON bodies and filters. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemons/httpd/filter.h"
#include "gofmt.h"
#include "daemons/httpd/hjson.h"
#include "daemons/httpd/hquery.h"
#include "daemons/httpd/httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_HTTP_INPUT_MAX (1u << 20)

/* Runs every body decoder a handler may apply to one JSON value. */
static void fuzz_http_decode(struct json_object *o)
{
	struct hjson_dec d = {0};
	struct msg_node n = {0};
	struct msg_service s = {0};
	struct msg_check c = {0};
	struct msg_strlist l = {0};
	struct msg_strmap m = {0};

	hjson_dec_node(&d, o, "NodeMeta", &n);
	hjson_dec_service(&d, hjson_get(o, "Service"), &s);
	hjson_dec_check(&d, hjson_get(o, "Check"), &c);
	hjson_get_strlist(&d, o, "Checks", &l);
	hjson_get_strmap(&d, o, "Meta", &m);
	(void)hjson_get_dur_ns(&d, o, "LockDelay", 0);
	(void)hjson_get_dur_ns(&d, o, "TTL", 0);
	(void)hjson_get_u64(&d, o, "Flags", 0);
	(void)hjson_get_bool(&d, o, "SkipNodeUpdate", false);
	msg_rec_free_node(&n);
	msg_rec_free_service(&s);
	msg_rec_free_check(&c);

	/* The agent's own service and check definitions (§3.12, §3.16), each
	 * with a fresh error so every decoder runs, and their shapes. */
	struct hjson_dec da = {0}, dc = {0};
	struct msg reg = {0};
	struct msg_agent_check ac = {0};
	reg.type = MSG_SERVICE_REGISTER;
	hjson_dec_agent_service(&da, o, &reg.u.service_register.service,
	                        &reg.u.service_register.checks);
	if (!da.failed) {
		struct json_object *e =
		    hjson_agent_service(&reg.u.service_register.service, "dc1", true);
		size_t len;
		free(hjson_write(e, false, &len));
		json_object_put(e);
		for (uint32_t i = 0; i < reg.u.service_register.checks.n; i++)
			json_object_put(hjson_check(&reg.u.service_register.checks.v[i].check));
	}
	msg_free(&reg);
	hjson_dec_agent_check(&dc, o, true, &ac);
	json_object_put(hjson_agent_health_check(&ac.check));
	msg_rec_free_agent_check(&ac);
	(void)hjson_want_object(&dc, o, "structs.CheckDefinition");

	struct msg tmp = {0};
	tmp.type = MSG_ECHO;
	tmp.u.echo.list = l;
	tmp.u.echo.map = m;
	msg_free(&tmp);
}

/* Input: "<raw URI>\n<body>". Nothing may crash or leak; every string a
 * decoder returns must be a valid C string. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_HTTP_INPUT_MAX)
		return 0;
	char *in = malloc(size + 1);
	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	char *body = strchr(in, '\n');
	size_t body_len = 0;
	if (body != NULL) {
		*body++ = '\0';
		body_len = size - (size_t)(body - in);
	}
	char *q = strchr(in, '?');
	if (q != NULL)
		*q++ = '\0';

	size_t plen;
	char *path = hquery_unescape(in, false, &plen);
	if (path != NULL) {
		const char *rest = NULL;
		const struct http_route *rt = http_route_find(path, &rest);
		if (rt != NULL && rest == NULL)
			abort();
		free(path);
	}

	struct hquery query;
	const char *why = NULL;
	struct filter *f = NULL;
	if (hquery_parse(&query, q, &why) == 0) {
		for (size_t i = 0; i < query.n; i++) {
			uint64_t u;
			bool b;
			int64_t ns;
			char out[40];
			(void)hquery_parse_u64(query.v[i].value, &u);
			(void)hquery_parse_bool(query.v[i].value, &b);
			if (gofmt_dur_parse_ns(query.v[i].value, &ns, &why) == 0)
				gofmt_dur_format_ns(ns, out);
		}
		const char *fx = hquery_get(&query, "filter");
		char err[256];
		if (fx != NULL)
			f = filter_parse(fx, err, sizeof(err));
		hquery_fini(&query);
	}

	if (body != NULL) {
		struct hjson_dec d = {0};
		struct json_object *o = hjson_parse(&d, body, body_len);
		if (o != NULL) {
			if (f != NULL)
				(void)filter_match(f, o);
			if (json_object_is_type(o, json_type_array)) {
				size_t n = json_object_array_length(o);
				for (size_t i = 0; i < n && i < 256; i++) {
					struct json_object *e = json_object_array_get_idx(o, i);
					fuzz_http_decode(e);
					fuzz_http_decode(hjson_get(e, "KV"));
					fuzz_http_decode(hjson_get(e, "Node"));
				}
			} else {
				fuzz_http_decode(o);
			}
			size_t len;
			free(hjson_write(o, true, &len));
			json_object_put(o);
		}
	}
	filter_free(f);
	free(in);
	return 0;
}

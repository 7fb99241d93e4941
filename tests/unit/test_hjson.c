/* test_hjson.c: Consul's JSON (spec/http-api.md §1.3, §1.4, §2): parsing, lenient lookup,
 * base64, every shape, the decoders. */
#include "daemons/httpd/hjson.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "testutil.h"
#include "xalloc.h"

/* ---- helpers ---- */

static struct json_object *parse_ok(const char *text)
{
	struct hjson_dec d = {0};
	struct json_object *o = hjson_parse(&d, text, strlen(text));

	ck_assert_msg(!d.failed, "%s: %s", text, d.err);
	ck_assert_ptr_nonnull(o);
	return o;
}

/* Compact JSON of o (o is released). */
static char *compact(struct json_object *o)
{
	size_t len;
	char *s = hjson_write(o, false, &len);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s), len);
	json_object_put(o);
	return s;
}

static void ck_json(struct json_object *o, const char *want)
{
	char *got = compact(o);

	ck_assert_str_eq(got, want);
	free(got);
}

static bool has_key(struct json_object *o, const char *k)
{
	return json_object_object_get_ex(o, k, NULL);
}

static struct json_object *member(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, k, &v), "missing key %s", k);
	return v;
}

static const char *member_str(struct json_object *o, const char *k)
{
	return json_object_get_string(member(o, k));
}

static void strlist_set(struct msg_strlist *l, int n, ...)
{
	va_list ap;

	l->n = (uint32_t)n;
	l->v = xcalloc((size_t)n + 1, sizeof(char *));
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		l->v[i] = xstrdup(va_arg(ap, const char *));
	va_end(ap);
}

static void strmap_set(struct msg_strmap *m, int n, ...)
{
	va_list ap;

	m->n = (uint32_t)n;
	m->k = xcalloc((size_t)n + 1, sizeof(char *));
	m->v = xcalloc((size_t)n + 1, sizeof(char *));
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		m->k[i] = xstrdup(va_arg(ap, const char *));
		m->v[i] = xstrdup(va_arg(ap, const char *));
	}
	va_end(ap);
}

/* ---- parsing ---- */

struct parse_case {
	const char *in;
	const char *err; /* NULL: valid */
};

/* encoding/json's texts (Consul decodes bodies with a json.Decoder). */
static const struct parse_case parse_cases[] = {
    {"{}", NULL},
    {" \t\r\n{\"a\":[1,2.5,-3e2,true,false,null,\"x\\u00e9\\n\"]} \n", NULL},
    {"[]", NULL},
    {"\"str\"", NULL},
    {"123", NULL},
    {"-0.5E+2", NULL},
    {"{\"a\":1} x", "invalid character 'x' after top-level value"},
    {"{\"a\":1}{}", "invalid character '{' after top-level value"},
    {"{'a':1}", "invalid character '\\'' looking for beginning of object key string"},
    {"{\"a\" 1}", "invalid character '1' after object key"},
    {"{\"a\":1 \"b\":2}", "invalid character '\"' after object key:value pair"},
    {"[1 2]", "invalid character '2' after array element"},
    {"[1,]", "invalid character ']' looking for beginning of value"},
    {"NaN", "invalid character 'N' looking for beginning of value"},
    {"tru", "unexpected EOF"},
    {"trUe", "invalid character 'U' in literal true (expecting 'u')"},
    {"nul", "unexpected EOF"},
    {"[1,2", "unexpected EOF"},
    {"{\"a\":", "unexpected EOF"},
    {"\"abc", "unexpected EOF"},
    {"01", "invalid character '1' after top-level value"},
    {"-", "unexpected EOF"},
    {"-a", "invalid character 'a' in numeric literal"},
    {"1.", "unexpected EOF"},
    {"1.x", "invalid character 'x' after decimal point in numeric literal"},
    {"1ex", "invalid character 'x' in exponent of numeric literal"},
    {"\"a\tb\"", "invalid character '\\t' in string literal"},
    {"\"\\x\"", "invalid character 'x' in string escape code"},
    {"\"\\u12G4\"", "invalid character 'G' in \\u hexadecimal character escape"},
    {"/* c */ {}", "invalid character '/' looking for beginning of value"},
};

START_TEST(test_parse_table)
{
	const struct parse_case *c = &parse_cases[_i];
	struct hjson_dec d = {0};
	struct json_object *o = hjson_parse(&d, c->in, strlen(c->in));

	if (c->err == NULL) {
		ck_assert_msg(!d.failed, "%s: %s", c->in, d.err);
		ck_assert_ptr_nonnull(o);
	} else {
		ck_assert_msg(d.failed, "%s parsed", c->in);
		ck_assert_ptr_null(o);
		ck_assert_str_eq(d.err, c->err);
	}
	json_object_put(o);
}
END_TEST

START_TEST(test_parse_empty_and_limits)
{
	struct hjson_dec d = {0};
	char *deep;
	size_t n = HJSON_DEPTH_MAX;

	/* Empty and blank bodies are "no body", not an error. */
	ck_assert_ptr_null(hjson_parse(&d, "", 0));
	ck_assert_ptr_null(hjson_parse(&d, NULL, 0));
	ck_assert_ptr_null(hjson_parse(&d, " \n\t", 3));
	ck_assert(!d.failed);

	/* HJSON_DEPTH_MAX nested arrays parse; one more does not. */
	deep = xmalloc(2 * n + 3);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	deep[2 * n] = '\0';
	json_object_put(parse_ok(deep));
	memset(deep, '[', n + 1);
	memset(deep + n + 1, ']', n + 1);
	deep[2 * n + 2] = '\0';
	ck_assert_ptr_null(hjson_parse(&d, deep, strlen(deep)));
	ck_assert(d.failed);
	ck_assert_str_eq(d.err, "exceeded max depth");
	free(deep);

	/* Invalid UTF-8 is refused (json-c's check). */
	memset(&d, 0, sizeof(d));
	ck_assert_ptr_null(hjson_parse(&d, "\"\xff\"", 3));
	ck_assert(d.failed);

	/* A NUL byte is a character like any other, never an end. */
	memset(&d, 0, sizeof(d));
	ck_assert_ptr_null(hjson_parse(&d, "{\"a\":1}\0", 8));
	ck_assert_str_eq(d.err, "invalid character '\\x00' after top-level value");
	memset(&d, 0, sizeof(d));
	ck_assert_ptr_null(hjson_parse(&d, "\"a\0b\"", 5));
	ck_assert_str_eq(d.err, "invalid character '\\x00' in string literal");

	/* The length bounds the text: no NUL needed, trailing bytes ignored. */
	memset(&d, 0, sizeof(d));
	json_object_put(hjson_parse(&d, "{\"a\":1}garbage", 7));
	ck_assert(!d.failed);
	/* A bare number at the end of the input is complete. */
	{
		struct json_object *o = hjson_parse(&d, "18446744073709551615", 20);

		ck_assert_ptr_nonnull(o);
		ck_assert_uint_eq(json_object_get_uint64(o), UINT64_MAX);
		json_object_put(o);
	}
}
END_TEST

START_TEST(test_fail_sticks)
{
	struct hjson_dec d = {0};

	hjson_fail(&d, "first %d", 1);
	hjson_fail(&d, "second");
	ck_assert(d.failed);
	ck_assert_str_eq(d.err, "first 1");
	hjson_fail(NULL, "ignored");
}
END_TEST

/* ---- lenient lookup and typed getters ---- */

START_TEST(test_lookup)
{
	struct json_object *o =
	    parse_ok("{\"serviceid\":\"a\",\"check_id\":\"b\",\"ID\":\"exact\",\"id\":\"lower\","
	             "\"Notes\":null,\"x\":1,\"dup\":\"1\",\"DUP\":\"2\",\"__n_a_m_e__\":\"n\"}");
	struct hjson_dec d = {0};

	ck_assert_str_eq(hjson_get_str(&d, o, "ServiceID"), "a");
	ck_assert_str_eq(hjson_get_str(&d, o, "service_id"), "a");
	ck_assert_str_eq(hjson_get_str(&d, o, "CheckID"), "b");
	/* An exact match wins over a lenient one in either order. */
	ck_assert_str_eq(hjson_get_str(&d, o, "ID"), "exact");
	ck_assert_str_eq(hjson_get_str(&d, o, "id"), "lower");
	/* Otherwise the last lenient match, as a later duplicate wins in Go. */
	ck_assert_str_eq(hjson_get_str(&d, o, "Id"), "lower");
	ck_assert_str_eq(hjson_get_str(&d, o, "Dup"), "2");
	ck_assert_str_eq(hjson_get_str(&d, o, "Name"), "n");
	/* null and absent are the default. */
	ck_assert_ptr_null(hjson_get(o, "Notes"));
	ck_assert_ptr_null(hjson_get_str(&d, o, "Notes"));
	ck_assert_ptr_null(hjson_get(o, "missing"));
	ck_assert_ptr_null(hjson_get(NULL, "x"));
	ck_assert_ptr_null(hjson_get(member(o, "x"), "x"));
	/* "" and "_" do not match everything. */
	ck_assert_ptr_null(hjson_get(o, ""));
	ck_assert_ptr_null(hjson_get(o, "_"));
	ck_assert(!d.failed);
	json_object_put(o);
}
END_TEST

START_TEST(test_getters)
{
	struct json_object *o = parse_ok(
	    "{\"s\":\"v\",\"b\":true,\"u\":18446744073709551615,\"i\":-5,\"big\":"
	    "9223372036854775808,"
	    "\"l\":[\"a\",null,\"c\"],\"el\":[],\"m\":{\"k\":\"v\",\"n\":null},\"d1\":\"1.5s\","
	    "\"d2\":1500000000,\"d3\":1.5e9,\"d0\":\"0\"}");
	struct hjson_dec d = {0};
	struct msg_strlist l = {0}, el = {0}, none = {0};
	struct msg_strmap m = {0};

	ck_assert_str_eq(hjson_get_str(&d, o, "s"), "v");
	ck_assert(hjson_get_bool(&d, o, "b", false));
	ck_assert(hjson_get_bool(&d, o, "nob", true));
	ck_assert_uint_eq(hjson_get_u64(&d, o, "u", 0), UINT64_MAX);
	ck_assert_uint_eq(hjson_get_u64(&d, o, "nou", 7), 7);
	ck_assert_int_eq(hjson_get_i64(&d, o, "i", 0), -5);
	ck_assert_int_eq(hjson_get_i64(&d, o, "noi", -7), -7);
	ck_assert(hjson_get_strlist(&d, o, "l", &l));
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.v[1], "");
	ck_assert_str_eq(l.v[2], "c");
	/* An explicit [] is present (spec §10.7); absent is not. */
	ck_assert(hjson_get_strlist(&d, o, "el", &el));
	ck_assert_uint_eq(el.n, 0);
	ck_assert(!hjson_get_strlist(&d, o, "none", &none));
	ck_assert(hjson_get_strmap(&d, o, "m", &m));
	ck_assert_uint_eq(m.n, 2);
	ck_assert_str_eq(m.k[0], "k");
	ck_assert_str_eq(m.v[0], "v");
	ck_assert_str_eq(m.v[1], "");
	ck_assert_uint_eq(hjson_get_dur_ns(&d, o, "d1", 0), 1500000000ull);
	ck_assert_uint_eq(hjson_get_dur_ns(&d, o, "d2", 0), 1500000000ull);
	ck_assert_uint_eq(hjson_get_dur_ns(&d, o, "d3", 0), 1500000000ull);
	ck_assert_uint_eq(hjson_get_dur_ns(&d, o, "d0", 9), 0);
	ck_assert_uint_eq(hjson_get_dur_ns(&d, o, "dx", 9), 9);
	ck_assert_msg(!d.failed, "%s", d.err);
	/* int64 refuses a value past INT64_MAX. */
	hjson_get_i64(&d, o, "big", 0);
	ck_assert(d.failed);
	ck_assert_str_eq(d.err, "json: cannot unmarshal number 9223372036854775808 into Go "
	                        "struct field .big of type int64");
	for (uint32_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	free(el.v);
	for (uint32_t i = 0; i < m.n; i++) {
		free(m.k[i]);
		free(m.v[i]);
	}
	free(m.k);
	free(m.v);
	json_object_put(o);
}
END_TEST

struct type_case {
	const char *json;
	char kind; /* s str, b bool, u u64, i i64, l strlist, m strmap, d duration */
	const char *err;
};

static const struct type_case type_cases[] = {
    {"{\"Node\":5}", 's',
     "json: cannot unmarshal number into Go struct field .Node of type string"},
    {"{\"Node\":true}", 's',
     "json: cannot unmarshal bool into Go struct field .Node of type string"},
    {"{\"Node\":[]}", 's',
     "json: cannot unmarshal array into Go struct field .Node of type string"},
    {"{\"Node\":{}}", 's',
     "json: cannot unmarshal object into Go struct field .Node of type string"},
    {"{\"Node\":\"a\\u0000b\"}", 's',
     "json: invalid NUL byte in Go struct field .Node of type string"},
    {"{\"Node\":\"true\"}", 'b',
     "json: cannot unmarshal string into Go struct field .Node of type bool"},
    {"{\"Node\":1}", 'b', "json: cannot unmarshal number into Go struct field .Node of type bool"},
    {"{\"Node\":-1}", 'u',
     "json: cannot unmarshal number -1 into Go struct field .Node of type uint64"},
    {"{\"Node\":1.5}", 'u',
     "json: cannot unmarshal number 1.5 into Go struct field .Node of type uint64"},
    {"{\"Node\":\"1\"}", 'u',
     "json: cannot unmarshal string into Go struct field .Node of type uint64"},
    {"{\"Node\":2.0}", 'i',
     "json: cannot unmarshal number 2.0 into Go struct field .Node of type int64"},
    {"{\"Node\":\"a\"}", 'l',
     "json: cannot unmarshal string into Go struct field .Node of type []string"},
    {"{\"Node\":[1]}", 'l',
     "json: cannot unmarshal number into Go struct field .Node of type string"},
    {"{\"Node\":[]}", 'm',
     "json: cannot unmarshal array into Go struct field .Node of type map[string]string"},
    {"{\"Node\":{\"a\":1}}", 'm',
     "json: cannot unmarshal number into Go struct field .Node of type string"},
    {"{\"Node\":\"10\"}", 'd', "time: missing unit in duration \"10\""},
    {"{\"Node\":\"-1s\"}", 'd', "json: negative duration in Go struct field .Node"},
    {"{\"Node\":-1}", 'd', "json: negative duration in Go struct field .Node"},
    {"{\"Node\":true}", 'd',
     "json: cannot unmarshal bool into Go struct field .Node of type time.Duration"},
    {"{\"Node\":1e300}", 'd',
     "json: cannot unmarshal number 1e300 into Go struct field .Node of type time.Duration"},
};

START_TEST(test_type_errors)
{
	const struct type_case *c = &type_cases[_i];
	struct json_object *o = parse_ok(c->json);
	struct hjson_dec d = {0};
	struct msg_strlist l = {0};
	struct msg_strmap m = {0};

	switch (c->kind) {
	case 's':
		ck_assert_ptr_null(hjson_get_str(&d, o, "Node"));
		break;
	case 'b':
		ck_assert(hjson_get_bool(&d, o, "Node", true));
		break;
	case 'u':
		ck_assert_uint_eq(hjson_get_u64(&d, o, "Node", 42), 42);
		break;
	case 'i':
		ck_assert_int_eq(hjson_get_i64(&d, o, "Node", 42), 42);
		break;
	case 'l':
		hjson_get_strlist(&d, o, "Node", &l);
		break;
	case 'm':
		hjson_get_strmap(&d, o, "Node", &m);
		break;
	case 'd':
		ck_assert_uint_eq(hjson_get_dur_ns(&d, o, "Node", 42), 42);
		break;
	}
	ck_assert_msg(d.failed, "%s accepted", c->json);
	ck_assert_str_eq(d.err, c->err);
	free(l.v);
	free(m.k);
	free(m.v);
	json_object_put(o);
}
END_TEST

/* ---- base64 ---- */

START_TEST(test_b64_vectors)
{
	/* RFC 4648 §10. */
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char *e = hjson_b64_encode((const uint8_t *)plain[i], strlen(plain[i]));
		uint8_t *p;
		size_t n;

		ck_assert_str_eq(e, enc[i]);
		ck_assert_int_eq(hjson_b64_decode(enc[i], &p, &n), 0);
		ck_assert_uint_eq(n, strlen(plain[i]));
		ck_assert(memcmp(p, plain[i], n) == 0);
		free(e);
		free(p);
	}
}
END_TEST

START_TEST(test_b64_decode_edges)
{
	static const char *const bad[] = {"Zg",    "Zg=",      "Z===",       "=",
	                                  "Zm9v!", "Zg==Zg==", "Zm 9v",      "Zg=a",
	                                  "Zm9vY", "Zm9vYg=",  "Zm9v\tYmFy", "===="};
	uint8_t *p;
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(hjson_b64_decode(bad[i], &p, &n) == -1, "%s decoded", bad[i]);
		ck_assert_ptr_null(p);
	}
	/* CR and LF are skipped anywhere, as Go's decoder does. */
	ck_assert_int_eq(hjson_b64_decode("Zm9v\r\nYmFy\n", &p, &n), 0);
	ck_assert_uint_eq(n, 6);
	ck_assert(memcmp(p, "foobar", 6) == 0);
	free(p);
	ck_assert_int_eq(hjson_b64_decode("Zm9vYg=\n=", &p, &n), 0);
	ck_assert_uint_eq(n, 4);
	free(p);
	/* Go's non-strict decoder ignores unused low bits. */
	ck_assert_int_eq(hjson_b64_decode("Zh==", &p, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(p[0], 'f');
	free(p);
}
END_TEST

START_TEST(test_b64_round_trip)
{
	uint8_t all[256 + 2];

	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	all[256] = 0;
	all[257] = 255;
	for (size_t len = 0; len <= sizeof(all); len++) {
		char *e = hjson_b64_encode(all + (sizeof(all) - len), len);
		uint8_t *p;
		size_t n;

		ck_assert_uint_eq(strlen(e), (len + 2) / 3 * 4);
		ck_assert_int_eq(hjson_b64_decode(e, &p, &n), 0);
		ck_assert_uint_eq(n, len);
		ck_assert(len == 0 || memcmp(p, all + (sizeof(all) - len), len) == 0);
		free(e);
		free(p);
	}
}
END_TEST

/* ---- writing ---- */

START_TEST(test_write_pretty)
{
	struct json_object *o =
	    parse_ok("{\"a\":1,\"b\":[1,\"x/y\"],\"c\":{},\"d\":[],\"e\":{\"f\":null,\"g\":true},"
	             "\"u\":18446744073709551615,\"s\":\"q\\\"\\\\\\n\\u0001\"}");
	size_t len;
	char *s = hjson_write(o, true, &len);

	ck_assert_str_eq(s, "{\n"
	                    "    \"a\": 1,\n"
	                    "    \"b\": [\n"
	                    "        1,\n"
	                    "        \"x/y\"\n"
	                    "    ],\n"
	                    "    \"c\": {},\n"
	                    "    \"d\": [],\n"
	                    "    \"e\": {\n"
	                    "        \"f\": null,\n"
	                    "        \"g\": true\n"
	                    "    },\n"
	                    "    \"u\": 18446744073709551615,\n"
	                    "    \"s\": \"q\\\"\\\\\\n\\u0001\"\n"
	                    "}\n");
	ck_assert_uint_eq(len, strlen(s));
	free(s);
	/* Compact: no spaces, no "\/", and the same strings. */
	s = hjson_write(o, false, &len);
	ck_assert_str_eq(s, "{\"a\":1,\"b\":[1,\"x/y\"],\"c\":{},\"d\":[],\"e\":{\"f\":null,\"g\":"
	                    "true},\"u\":18446744073709551615,\"s\":\"q\\\"\\\\\\n\\u0001\"}");
	free(s);
	json_object_put(o);
	/* NULL is JSON null; scalars at the top. */
	s = hjson_write(NULL, false, &len);
	ck_assert_str_eq(s, "null");
	free(s);
	s = hjson_write(NULL, true, &len);
	ck_assert_str_eq(s, "null\n");
	free(s);
	o = json_object_new_boolean(true);
	s = hjson_write(o, true, &len);
	ck_assert_str_eq(s, "true\n");
	free(s);
	json_object_put(o);
}
END_TEST

/* ---- shapes ---- */

static void fill_node(struct msg_node *n)
{
	n->id = xstrdup("b6a2a2f0-2c4f-4d2a-9b8e-1f0e7c3d5a11");
	n->node = xstrdup("node1");
	n->address = xstrdup("10.0.0.1");
	n->datacenter = xstrdup("dc1");
	strmap_set(&n->tagged_addresses, 1, "lan", "10.0.0.1");
	strmap_set(&n->meta, 1, "consul-network-segment", "");
	n->create_index = 5;
	n->modify_index = UINT64_MAX;
}

static void fill_service(struct msg_service *s)
{
	s->node = xstrdup("node1");
	s->kind = xstrdup("");
	s->id = xstrdup("web1");
	s->service = xstrdup("web");
	s->address = xstrdup("");
	s->socket_path = xstrdup("");
	s->weight_passing = 1;
	s->weight_warning = 1;
	s->create_index = 10;
	s->modify_index = 11;
}

START_TEST(test_shape_kv)
{
	struct msg_kv_entry e = {0};
	struct json_object *o;

	e.key = xstrdup("service/a/leader");
	e.flags = UINT64_MAX;
	e.lock_index = 2;
	e.create_index = 100;
	e.modify_index = 200;
	e.session = xstrdup("");
	ck_json(hjson_kv_entry(&e), "{\"LockIndex\":2,\"Key\":\"service/a/leader\",\"Flags\":"
	                            "18446744073709551615,\"Value\":null,\"CreateIndex\":100,"
	                            "\"ModifyIndex\":200}");
	e.value.p = (uint8_t *)xstrdup("postgresql0");
	e.value.len = 11;
	free(e.session);
	e.session = xstrdup("adf4238a-882b-9ddc-4a9d-5b6758e4159e");
	o = hjson_kv_entry(&e);
	ck_assert_str_eq(member_str(o, "Value"), "cG9zdGdyZXNxbDA=");
	ck_assert_str_eq(member_str(o, "Session"), "adf4238a-882b-9ddc-4a9d-5b6758e4159e");
	json_object_put(o);
	msg_rec_free_kv_entry(&e);
	/* A zeroed record (NULL strings) writes "" not a crash. */
	ck_json(hjson_kv_entry(&e), "{\"LockIndex\":0,\"Key\":\"\",\"Flags\":0,\"Value\":null,"
	                            "\"CreateIndex\":0,\"ModifyIndex\":0}");
}
END_TEST

START_TEST(test_shape_node)
{
	struct msg_node n = {0};

	fill_node(&n);
	ck_json(hjson_node(&n),
	        "{\"ID\":\"b6a2a2f0-2c4f-4d2a-9b8e-1f0e7c3d5a11\",\"Node\":\"node1\",\"Address\":"
	        "\"10.0.0.1\",\"Datacenter\":\"dc1\",\"TaggedAddresses\":{\"lan\":\"10.0.0.1\"},"
	        "\"Meta\":{\"consul-network-segment\":\"\"},\"CreateIndex\":5,\"ModifyIndex\":"
	        "18446744073709551615}");
	msg_rec_free_node(&n);
	/* Empty maps are {}. */
	ck_json(hjson_node(&n), "{\"ID\":\"\",\"Node\":\"\",\"Address\":\"\",\"Datacenter\":\"\","
	                        "\"TaggedAddresses\":{},\"Meta\":{},\"CreateIndex\":0,"
	                        "\"ModifyIndex\":0}");
}
END_TEST

START_TEST(test_shape_node_service)
{
	struct msg_service s = {0};
	struct json_object *o;

	fill_service(&s);
	/* A plain service: no Kind, Port, SocketPath, TaggedAddresses; Tags []. */
	ck_json(hjson_node_service(&s),
	        "{\"ID\":\"web1\",\"Service\":\"web\",\"Tags\":[],\"Address\":\"\",\"Meta\":{},"
	        "\"Weights\":{\"Passing\":1,\"Warning\":1},\"EnableTagOverride\":false,"
	        "\"Proxy\":{\"Mode\":\"\",\"MeshGateway\":{},\"Expose\":{}},\"Connect\":{},"
	        "\"PeerName\":\"\",\"CreateIndex\":10,\"ModifyIndex\":11}");
	free(s.kind);
	s.kind = xstrdup("connect-proxy");
	s.port = 8080;
	free(s.socket_path);
	s.socket_path = xstrdup("/tmp/s");
	strlist_set(&s.tags, 2, "v1", "primary");
	strmap_set(&s.meta, 1, "env", "prod");
	s.tagged_addresses.n = 1;
	s.tagged_addresses.v = xcalloc(1, sizeof(*s.tagged_addresses.v));
	s.tagged_addresses.v[0].name = xstrdup("lan_ipv4");
	s.tagged_addresses.v[0].address = xstrdup("10.0.0.2");
	s.tagged_addresses.v[0].port = 80;
	s.enable_tag_override = true;
	o = hjson_node_service(&s);
	ck_assert_str_eq(member_str(o, "Kind"), "connect-proxy");
	ck_assert_int_eq(json_object_get_int(member(o, "Port")), 8080);
	ck_assert_str_eq(member_str(o, "SocketPath"), "/tmp/s");
	ck_assert(json_object_get_boolean(member(o, "EnableTagOverride")));
	ck_json(json_object_get(member(o, "TaggedAddresses")),
	        "{\"lan_ipv4\":{\"Address\":\"10.0.0.2\",\"Port\":80}}");
	ck_json(json_object_get(member(o, "Tags")), "[\"v1\",\"primary\"]");
	ck_json(json_object_get(member(o, "Meta")), "{\"env\":\"prod\"}");
	json_object_put(o);
	msg_rec_free_service(&s);
}
END_TEST

START_TEST(test_shape_catalog_service)
{
	struct msg_node n = {0};
	struct msg_service s = {0};
	struct json_object *o;

	fill_node(&n);
	fill_service(&s);
	ck_json(hjson_catalog_service(&n, &s),
	        "{\"ID\":\"b6a2a2f0-2c4f-4d2a-9b8e-1f0e7c3d5a11\",\"Node\":\"node1\",\"Address\":"
	        "\"10.0.0.1\",\"Datacenter\":\"dc1\",\"TaggedAddresses\":{\"lan\":\"10.0.0.1\"},"
	        "\"NodeMeta\":{\"consul-network-segment\":\"\"},\"ServiceKind\":\"\","
	        "\"ServiceID\":\"web1\",\"ServiceName\":\"web\",\"ServiceTags\":[],"
	        "\"ServiceAddress\":\"\",\"ServiceWeights\":{\"Passing\":1,\"Warning\":1},"
	        "\"ServiceMeta\":{},\"ServicePort\":0,\"ServiceSocketPath\":\"\","
	        "\"ServiceEnableTagOverride\":false,\"ServiceProxy\":{\"Mode\":\"\","
	        "\"MeshGateway\":{},\"Expose\":{}},\"ServiceConnect\":{},\"CreateIndex\":10,"
	        "\"ModifyIndex\":11}");
	s.tagged_addresses.n = 1;
	s.tagged_addresses.v = xcalloc(1, sizeof(*s.tagged_addresses.v));
	s.tagged_addresses.v[0].name = xstrdup("wan");
	o = hjson_catalog_service(&n, &s);
	ck_json(json_object_get(member(o, "ServiceTaggedAddresses")),
	        "{\"wan\":{\"Address\":\"\",\"Port\":0}}");
	json_object_put(o);
	msg_rec_free_node(&n);
	msg_rec_free_service(&s);
}
END_TEST

START_TEST(test_shape_check)
{
	struct msg_check c = {0};
	struct msg_check_def *def = &c.definition;
	struct json_object *o, *d;

	c.node = xstrdup("node1");
	c.check_id = xstrdup("serfHealth");
	c.name = xstrdup("Serf Health Status");
	c.status = xstrdup("passing");
	c.output = xstrdup("Agent alive and reachable");
	c.create_index = 1;
	c.modify_index = 2;
	/* A node check: ServiceTags [], Definition {}, Interval/Timeout "". */
	ck_json(hjson_check(&c),
	        "{\"Node\":\"node1\",\"CheckID\":\"serfHealth\",\"Name\":\"Serf Health Status\","
	        "\"Status\":\"passing\",\"Notes\":\"\",\"Output\":\"Agent alive and reachable\","
	        "\"ServiceID\":\"\",\"ServiceName\":\"\",\"ServiceTags\":[],\"Type\":\"\","
	        "\"Interval\":\"\",\"Timeout\":\"\",\"ExposedPort\":0,\"Definition\":{},"
	        "\"CreateIndex\":1,\"ModifyIndex\":2}");
	def->http = xstrdup("http://localhost:8080/health");
	def->tls_skip_verify = true;
	def->header.n = 1;
	def->header.v = xcalloc(1, sizeof(*def->header.v));
	def->header.v[0].name = xstrdup("X-A");
	strlist_set(&def->header.v[0].values, 2, "1", "2");
	def->method = xstrdup("POST");
	def->interval_ns = 10000000000ull;
	def->timeout_ns = 1500000000ull;
	def->deregister_critical_service_after_ns = 90000000000ull;
	def->ttl_ns = 15000000000ull;
	def->output_max_size = 4096;
	strlist_set(&def->script_args, 2, "/bin/true", "-x");
	def->grpc_use_tls = true;
	def->alias_service = xstrdup("web1");
	o = hjson_check(&c);
	d = member(o, "Definition");
	ck_json(json_object_get(d),
	        "{\"HTTP\":\"http://localhost:8080/health\",\"TLSSkipVerify\":true,\"Header\":"
	        "{\"X-A\":[\"1\",\"2\"]},\"Method\":\"POST\",\"Interval\":\"10s\",\"Timeout\":"
	        "\"1.5s\",\"DeregisterCriticalServiceAfter\":\"1m30s\",\"OutputMaxSize\":4096,"
	        "\"ScriptArgs\":[\"/bin/true\",\"-x\"],\"GRPCUseTLS\":true,\"AliasService\":"
	        "\"web1\",\"TTL\":15000000000}");
	json_object_put(o);
	msg_rec_free_check(&c);
}
END_TEST

START_TEST(test_shape_svc_entry)
{
	struct msg_svc_entry e = {0};
	struct json_object *o;

	fill_node(&e.node);
	fill_service(&e.service);
	o = hjson_svc_entry(&e);
	ck_json(json_object_get(member(o, "Checks")), "[]"); /* never null */
	ck_assert_str_eq(member_str(member(o, "Node"), "Node"), "node1");
	ck_assert_str_eq(member_str(member(o, "Service"), "ID"), "web1");
	ck_assert(!has_key(member(o, "Service"), "Port"));
	json_object_put(o);
	e.checks.n = 2;
	e.checks.v = xcalloc(2, sizeof(*e.checks.v));
	e.checks.v[0].check_id = xstrdup("serfHealth");
	e.checks.v[1].check_id = xstrdup("service:web1");
	o = hjson_svc_entry(&e);
	ck_assert_int_eq((int)json_object_array_length(member(o, "Checks")), 2);
	ck_assert_str_eq(member_str(json_object_array_get_idx(member(o, "Checks"), 1), "CheckID"),
	                 "service:web1");
	json_object_put(o);
	msg_rec_free_svc_entry(&e);
}
END_TEST

START_TEST(test_shape_session)
{
	struct msg_session s = {0};

	s.id = xstrdup("adf4238a-882b-9ddc-4a9d-5b6758e4159e");
	s.node = xstrdup("node1");
	s.lock_delay_ns = 15000000000ull;
	s.behavior = xstrdup("release");
	s.ttl = xstrdup("30s");
	strlist_set(&s.node_checks, 1, "serfHealth");
	s.create_index = 1086449;
	s.modify_index = 1086449;
	/* The default session: Checks repeats serfHealth for pre-1.7
	 * clients; ServiceChecks null. */
	ck_json(
	    hjson_session(&s),
	    "{\"ID\":\"adf4238a-882b-9ddc-4a9d-5b6758e4159e\",\"Name\":\"\",\"Node\":"
	    "\"node1\",\"LockDelay\":15000000000,\"Behavior\":\"release\",\"TTL\":\"30s\","
	    "\"NodeChecks\":[\"serfHealth\"],\"ServiceChecks\":null,\"Checks\":[\"serfHealth\"],"
	    "\"CreateIndex\":1086449,"
	    "\"ModifyIndex\":1086449}");
	strlist_set(&s.service_checks, 1, "service:web");
	ck_json(hjson_session(&s),
	        "{\"ID\":\"adf4238a-882b-9ddc-4a9d-5b6758e4159e\",\"Name\":\"\",\"Node\":"
	        "\"node1\",\"LockDelay\":15000000000,\"Behavior\":\"release\",\"TTL\":\"30s\","
	        "\"NodeChecks\":[\"serfHealth\"],\"ServiceChecks\":[{\"ID\":\"service:web\","
	        "\"Namespace\":\"\"}],\"Checks\":[\"serfHealth\",\"service:web\"],"
	        "\"CreateIndex\":1086449,\"ModifyIndex\":1086449}");
	msg_rec_free_session(&s);
	/* No checks at all ("Checks": [] at create): both null, no Checks. */
	s.behavior = xstrdup("delete");
	ck_json(hjson_session(&s), "{\"ID\":\"\",\"Name\":\"\",\"Node\":\"\",\"LockDelay\":0,"
	                           "\"Behavior\":\"delete\",\"TTL\":\"\",\"NodeChecks\":null,"
	                           "\"ServiceChecks\":null,\"CreateIndex\":0,\"ModifyIndex\":0}");
	msg_rec_free_session(&s);
	strlist_set(&s.node_checks, 2, "serfHealth", "c1");
	{
		char *out = compact(hjson_session(&s));

		ck_assert_ptr_nonnull(strstr(out, "\"Checks\":[\"serfHealth\",\"c1\"]"));
		free(out);
	}
	msg_rec_free_session(&s);
}
END_TEST

/* ---- decoders ---- */

/* python-consul 0.7.1's catalog.register body: lowercase keys, the unknown
 * WriteRequest (spec §4.1). */
START_TEST(test_dec_register_python)
{
	struct json_object *o = parse_ok(
	    "{\"node\":\"n1\",\"address\":\"10.1.1.1\",\"datacenter\":\"dc1\","
	    "\"service\":{\"service\":\"redis\",\"port\":6379,\"tags\":[\"a\"]},"
	    "\"check\":{\"node\":\"n1\",\"checkid\":\"c1\",\"name\":\"n\",\"status\":\"passing\","
	    "\"serviceid\":\"redis\"},\"WriteRequest\":{\"Token\":\"t\"}}");
	struct hjson_dec d = {0};
	struct msg_node n = {0};
	struct msg_service s = {0};
	struct msg_check c = {0};

	hjson_dec_node(&d, o, "NodeMeta", &n);
	hjson_dec_service(&d, hjson_get(o, "Service"), &s);
	hjson_dec_check(&d, hjson_get(o, "Check"), &c);
	ck_assert_msg(!d.failed, "%s", d.err);
	ck_assert_str_eq(n.node, "n1");
	ck_assert_str_eq(n.address, "10.1.1.1");
	ck_assert_str_eq(n.datacenter, "dc1");
	ck_assert_ptr_null(n.id);
	ck_assert_uint_eq(n.meta.n, 0);
	ck_assert_str_eq(s.service, "redis");
	ck_assert_ptr_null(s.id);
	ck_assert_uint_eq(s.port, 6379);
	ck_assert_uint_eq(s.tags.n, 1);
	/* Weights absent: {1, 1} (spec §2.2). */
	ck_assert_uint_eq(s.weight_passing, 1);
	ck_assert_uint_eq(s.weight_warning, 1);
	ck_assert_str_eq(c.check_id, "c1");
	ck_assert_str_eq(c.status, "passing");
	ck_assert_str_eq(c.service_id, "redis");
	msg_rec_free_node(&n);
	msg_rec_free_service(&s);
	msg_rec_free_check(&c);
	json_object_put(o);
}
END_TEST

START_TEST(test_dec_full)
{
	struct json_object *o = parse_ok(
	    "{\"ID\":\"b6a2a2f0-2c4f-4d2a-9b8e-1f0e7c3d5a11\",\"Node\":\"n1\",\"Address\":\"a\","
	    "\"tagged_addresses\":{\"wan\":\"1.2.3.4\"},\"NodeMeta\":{\"os\":\"linux\"},"
	    "\"Meta\":{\"ignored\":\"x\"},\"ModifyIndex\":7,"
	    "\"Service\":{\"ID\":\"r1\",\"Service\":\"redis\",\"Kind\":\"connect-proxy\","
	    "\"TaggedAddresses\":{\"lan\":{\"address\":\"10.0.0.1\",\"port\":1},\"wan\":"
	    "{\"Address\":\"1.1.1.1\",\"PORT\":2},\"none\":null},\"Meta\":{\"k\":\"v\"},"
	    "\"Weights\":{\"Passing\":10},\"enable_tag_override\":true,\"socket_path\":\"/s\","
	    "\"ModifyIndex\":9},"
	    "\"Check\":{\"check_id\":\"c\",\"Name\":\"n\",\"service_id\":\"r1\",\"Notes\":\"no\","
	    "\"Output\":\"out\",\"Type\":\"http\",\"Interval\":\"10s\",\"Timeout\":\"1s\","
	    "\"ExposedPort\":21,\"ServiceTags\":[\"t\"],\"ModifyIndex\":3,"
	    "\"Definition\":{\"http\":\"http://x\",\"tls_server_name\":\"sni\","
	    "\"tls_skip_verify\":true,\"Header\":{\"X-A\":[\"1\",\"2\"],\"X-B\":null},"
	    "\"Method\":\"GET\",\"Body\":\"b\",\"DisableRedirects\":true,\"TCP\":\"t:1\","
	    "\"UDP\":\"u:1\",\"H2PING\":\"h:1\",\"h2ping_use_tls\":true,\"os_service\":\"svc\","
	    "\"Interval\":\"10s\",\"Timeout\":1500000000,"
	    "\"deregister_critical_service_after\":\"1m30s\",\"output_max_size\":99,"
	    "\"args\":[\"a\",\"b\"],\"docker_container_id\":\"d\",\"Shell\":\"sh\","
	    "\"GRPC\":\"g:1\",\"grpc_use_tls\":true,\"alias_node\":\"an\",\"alias_service\":"
	    "\"as\",\"TTL\":\"15s\"}}}");
	struct hjson_dec d = {0};
	struct msg_node n = {0};
	struct msg_service s = {0};
	struct msg_check c = {0};
	const struct msg_check_def *def = &c.definition;

	hjson_dec_node(&d, o, "NodeMeta", &n);
	hjson_dec_service(&d, hjson_get(o, "Service"), &s);
	hjson_dec_check(&d, hjson_get(o, "Check"), &c);
	ck_assert_msg(!d.failed, "%s", d.err);
	ck_assert_str_eq(n.id, "b6a2a2f0-2c4f-4d2a-9b8e-1f0e7c3d5a11");
	ck_assert_uint_eq(n.tagged_addresses.n, 1);
	ck_assert_str_eq(n.tagged_addresses.v[0], "1.2.3.4");
	ck_assert_uint_eq(n.meta.n, 1);
	ck_assert_str_eq(n.meta.k[0], "os");
	ck_assert_uint_eq(n.modify_index, 7);

	ck_assert_str_eq(s.id, "r1");
	ck_assert_str_eq(s.kind, "connect-proxy");
	ck_assert_uint_eq(s.tagged_addresses.n, 3);
	ck_assert_str_eq(s.tagged_addresses.v[0].name, "lan");
	ck_assert_str_eq(s.tagged_addresses.v[0].address, "10.0.0.1");
	ck_assert_uint_eq(s.tagged_addresses.v[0].port, 1);
	ck_assert_uint_eq(s.tagged_addresses.v[1].port, 2);
	ck_assert_str_eq(s.tagged_addresses.v[2].address, "");
	/* A given Weights decodes as Go's struct: a missing member is 0. */
	ck_assert_uint_eq(s.weight_passing, 10);
	ck_assert_uint_eq(s.weight_warning, 0);
	ck_assert(s.enable_tag_override);
	ck_assert_str_eq(s.socket_path, "/s");
	ck_assert_uint_eq(s.modify_index, 9);

	ck_assert_str_eq(c.check_id, "c");
	ck_assert_str_eq(c.service_id, "r1");
	ck_assert_str_eq(c.notes, "no");
	ck_assert_str_eq(c.output, "out");
	ck_assert_str_eq(c.type, "http");
	ck_assert_str_eq(c.interval, "10s");
	ck_assert_str_eq(c.timeout, "1s");
	ck_assert_uint_eq(c.exposed_port, 21);
	ck_assert_uint_eq(c.service_tags.n, 1);
	ck_assert_uint_eq(c.modify_index, 3);
	ck_assert_str_eq(def->http, "http://x");
	ck_assert_str_eq(def->tls_server_name, "sni");
	ck_assert(def->tls_skip_verify);
	ck_assert_uint_eq(def->header.n, 2);
	ck_assert_str_eq(def->header.v[0].name, "X-A");
	ck_assert_uint_eq(def->header.v[0].values.n, 2);
	ck_assert_str_eq(def->header.v[0].values.v[1], "2");
	ck_assert_uint_eq(def->header.v[1].values.n, 0);
	ck_assert_str_eq(def->method, "GET");
	ck_assert_str_eq(def->body, "b");
	ck_assert(def->disable_redirects);
	ck_assert_str_eq(def->tcp, "t:1");
	ck_assert_str_eq(def->udp, "u:1");
	ck_assert_str_eq(def->h2ping, "h:1");
	ck_assert(def->h2ping_use_tls);
	ck_assert_str_eq(def->os_service, "svc");
	ck_assert_uint_eq(def->interval_ns, 10000000000ull);
	ck_assert_uint_eq(def->timeout_ns, 1500000000ull);
	ck_assert_uint_eq(def->deregister_critical_service_after_ns, 90000000000ull);
	ck_assert_uint_eq(def->output_max_size, 99);
	ck_assert_uint_eq(def->script_args.n, 2);
	ck_assert_str_eq(def->docker_container_id, "d");
	ck_assert_str_eq(def->shell, "sh");
	ck_assert_str_eq(def->grpc, "g:1");
	ck_assert(def->grpc_use_tls);
	ck_assert_str_eq(def->alias_node, "an");
	ck_assert_str_eq(def->alias_service, "as");
	ck_assert_uint_eq(def->ttl_ns, 15000000000ull);

	/* The decoded check writes back with the same Definition. */
	{
		struct json_object *w = hjson_check(&c);
		struct json_object *wd = member(w, "Definition");

		ck_assert_str_eq(member_str(wd, "Interval"), "10s");
		ck_assert_str_eq(member_str(wd, "Timeout"), "1.5s");
		ck_assert_uint_eq(json_object_get_uint64(member(wd, "TTL")), 15000000000ull);
		json_object_put(w);
	}
	msg_rec_free_node(&n);
	msg_rec_free_service(&s);
	msg_rec_free_check(&c);
	json_object_put(o);
}
END_TEST

/* txn's Node op reads the node's meta from "Meta" (spec §8.3). */
START_TEST(test_dec_txn_node_meta)
{
	struct json_object *o = parse_ok("{\"Node\":\"n\",\"Meta\":{\"a\":\"b\"},\"NodeMeta\":{}}");
	struct hjson_dec d = {0};
	struct msg_node n = {0};

	hjson_dec_node(&d, o, "Meta", &n);
	ck_assert(!d.failed);
	ck_assert_uint_eq(n.meta.n, 1);
	msg_rec_free_node(&n);
	json_object_put(o);
}
END_TEST

struct dec_err_case {
	const char *json;
	char what; /* n node, s service, c check */
	const char *err;
};

static const struct dec_err_case dec_err_cases[] = {
    {"{\"Node\":1}", 'n',
     "json: cannot unmarshal number into Go struct field .Node of type string"},
    {"{\"NodeMeta\":{\"a\":1}}", 'n',
     "json: cannot unmarshal number into Go struct field .NodeMeta of type string"},
    {"{\"TaggedAddresses\":{\"lan\":{\"Address\":\"x\"}}}", 'n',
     "json: cannot unmarshal object into Go struct field .TaggedAddresses of type string"},
    {"{\"Port\":\"80\"}", 's',
     "json: cannot unmarshal string into Go struct field .Port of type uint64"},
    {"{\"Tags\":\"a\"}", 's',
     "json: cannot unmarshal string into Go struct field .Tags of type []string"},
    {"{\"Weights\":[]}", 's',
     "json: cannot unmarshal array into Go struct field .Weights of type structs.Weights"},
    {"{\"Weights\":{\"Passing\":-1}}", 's',
     "json: cannot unmarshal number -1 into Go struct field .Passing of type uint64"},
    {"{\"TaggedAddresses\":{\"lan\":\"10.0.0.1\"}}", 's',
     "json: cannot unmarshal string into Go struct field .TaggedAddresses of type "
     "structs.ServiceAddress"},
    {"{\"TaggedAddresses\":{\"lan\":{\"Port\":\"1\"}}}", 's',
     "json: cannot unmarshal string into Go struct field .Port of type uint64"},
    {"{\"EnableTagOverride\":\"yes\"}", 's',
     "json: cannot unmarshal string into Go struct field .EnableTagOverride of type bool"},
    {"{\"Definition\":\"x\"}", 'c',
     "json: cannot unmarshal string into Go struct field .Definition of type "
     "structs.HealthCheckDefinition"},
    {"{\"Definition\":{\"Interval\":\"10\"}}", 'c', "time: missing unit in duration \"10\""},
    {"{\"Definition\":{\"Header\":{\"X\":\"v\"}}}", 'c',
     "json: cannot unmarshal string into Go struct field .Header of type []string"},
    {"{\"Definition\":{\"Header\":[]}}", 'c',
     "json: cannot unmarshal array into Go struct field .Header of type map[string][]string"},
    {"{\"Status\":1,\"Name\":2}", 'c',
     "json: cannot unmarshal number into Go struct field .Name of type string"},
};

START_TEST(test_dec_errors)
{
	const struct dec_err_case *c = &dec_err_cases[_i];
	struct json_object *o = parse_ok(c->json);
	struct hjson_dec d = {0};
	struct msg_node n = {0};
	struct msg_service s = {0};
	struct msg_check k = {0};

	if (c->what == 'n')
		hjson_dec_node(&d, o, "NodeMeta", &n);
	else if (c->what == 's')
		hjson_dec_service(&d, o, &s);
	else
		hjson_dec_check(&d, o, &k);
	ck_assert_msg(d.failed, "%s accepted", c->json);
	ck_assert_str_eq(d.err, c->err);
	msg_rec_free_node(&n);
	msg_rec_free_service(&s);
	msg_rec_free_check(&k);
	json_object_put(o);
}
END_TEST

/* ---- gossipd's shapes (§2.10, §2.12, operator/keyring) ---- */

START_TEST(test_shape_gossip_member)
{
	struct msg_member m = {0};

	m.name = xstrdup("node1");
	m.addr = xstrdup("10.0.0.1");
	m.port = 8301;
	strmap_set(&m.tags, 4, "vsn", "2", "role", "consul", "dc", "dc1", "build", "1.0:abc");
	m.status = 1;
	m.protocol_min = 1;
	m.protocol_max = 5;
	m.protocol_cur = 2;
	m.delegate_min = 2;
	m.delegate_max = 5;
	m.delegate_cur = 4;
	/* Consul's field order; tags in Go's map order (sorted keys). */
	ck_json(hjson_gossip_member(&m),
	        "{\"Name\":\"node1\",\"Addr\":\"10.0.0.1\",\"Port\":8301,\"Tags\":{\"build\":"
	        "\"1.0:abc\",\"dc\":\"dc1\",\"role\":\"consul\",\"vsn\":\"2\"},\"Status\":1,"
	        "\"ProtocolMin\":1,\"ProtocolMax\":5,\"ProtocolCur\":2,\"DelegateMin\":2,"
	        "\"DelegateMax\":5,\"DelegateCur\":4}");
	msg_rec_free_member(&m);
	memset(&m, 0, sizeof(m));
	ck_json(hjson_gossip_member(&m),
	        "{\"Name\":\"\",\"Addr\":\"\",\"Port\":0,\"Tags\":{},\"Status\":0,"
	        "\"ProtocolMin\":0,\"ProtocolMax\":0,\"ProtocolCur\":0,\"DelegateMin\":0,"
	        "\"DelegateMax\":0,\"DelegateCur\":0}");
}
END_TEST

START_TEST(test_shape_user_event)
{
	struct msg_consul_event e = {0};
	struct json_object *o;

	e.id = xstrdup("b54fe110-7af5-cafc-d1fb-afc8ba432b1c");
	e.name = xstrdup("deploy");
	e.version = 1;
	e.ltime = 19;
	/* No payload: null, as Go's nil []byte. */
	ck_json(hjson_user_event(&e),
	        "{\"ID\":\"b54fe110-7af5-cafc-d1fb-afc8ba432b1c\",\"Name\":\"deploy\","
	        "\"Payload\":null,\"NodeFilter\":\"\",\"ServiceFilter\":\"\",\"TagFilter\":\"\","
	        "\"Version\":1,\"LTime\":19}");
	e.payload.p = (uint8_t *)xstrdup("abc\n");
	e.payload.len = 4;
	e.node_filter = xstrdup("^web");
	e.service_filter = xstrdup("api");
	e.tag_filter = xstrdup("v1");
	o = hjson_user_event(&e);
	ck_assert_str_eq(member_str(o, "Payload"), "YWJjCg==");
	ck_assert_str_eq(member_str(o, "NodeFilter"), "^web");
	ck_assert_str_eq(member_str(o, "ServiceFilter"), "api");
	ck_assert_str_eq(member_str(o, "TagFilter"), "v1");
	json_object_put(o);
	msg_rec_free_consul_event(&e);
}
END_TEST

static void keyring_key_set(struct msg_keyring_key *k, const char *key, uint64_t count,
                            uint64_t primary)
{
	k->key = xstrdup(key);
	k->count = count;
	k->primary_count = primary;
}

START_TEST(test_shape_keyring_pool)
{
	struct msg_keyring_pool p = {0};

	p.wan = false;
	p.datacenter = xstrdup("dc1");
	p.keys.v = xcalloc(2, sizeof(struct msg_keyring_key));
	p.keys.n = 2;
	keyring_key_set(&p.keys.v[0], "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", 3, 0);
	keyring_key_set(&p.keys.v[1], "HS5lJ+XuTlYKWaeGYyG+/A==", 3, 3);
	p.num_nodes = 3;
	ck_json(hjson_keyring_pool(&p),
	        "{\"WAN\":false,\"Datacenter\":\"dc1\",\"Segment\":\"\",\"Keys\":{"
	        "\"HS5lJ+XuTlYKWaeGYyG+/A==\":3,\"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=\":3},"
	        "\"PrimaryKeys\":{\"HS5lJ+XuTlYKWaeGYyG+/A==\":3},\"NumNodes\":3}");
	msg_rec_free_keyring_pool(&p);
	memset(&p, 0, sizeof(p));
	p.wan = true;
	ck_json(hjson_keyring_pool(&p), "{\"WAN\":true,\"Datacenter\":\"\",\"Segment\":\"\","
	                                "\"Keys\":{},\"PrimaryKeys\":{},\"NumNodes\":0}");
}
END_TEST

START_TEST(test_keyring_errors)
{
	struct msg_keyring_pool_list l = {0};
	char *t;

	l.v = xcalloc(2, sizeof(struct msg_keyring_pool));
	l.n = 2;
	l.v[0].wan = true;
	l.v[0].datacenter = xstrdup("dc1");
	l.v[1].datacenter = xstrdup("dc1");
	ck_assert_ptr_null(hjson_keyring_errors(&l));

	/* One error: go-multierror's singular form. */
	l.v[0].error = xstrdup("1/2 nodes reported failure");
	t = hjson_keyring_errors(&l);
	ck_assert_str_eq(t, "1 error occurred:\n\t* WAN error: 1/2 nodes reported failure\n\n");
	free(t);

	/* The pool's line, then its node messages in name order. */
	l.v[1].error = xstrdup("2/3 nodes reported failure");
	strmap_set(&l.v[1].messages, 2, "n2", "key not installed", "n1", "timeout");
	t = hjson_keyring_errors(&l);
	ck_assert_str_eq(t, "4 errors occurred:\n"
	                    "\t* WAN error: 1/2 nodes reported failure\n"
	                    "\t* dc1 (LAN) error: 2/3 nodes reported failure\n"
	                    "\t* n1: timeout\n"
	                    "\t* n2: key not installed\n\n");
	free(t);
	for (uint32_t i = 0; i < l.n; i++)
		msg_rec_free_keyring_pool(&l.v[i]);
	free(l.v);
}
END_TEST

/* ---- the agent's services and checks (§2.3, §3.12, §3.16, §3.20) ---- */

/* A service definition decoded into a SERVICE_REGISTER (msg_free frees it). */
static void dec_agent_service(const char *text, struct msg *m, struct hjson_dec *d)
{
	struct json_object *o = parse_ok(text);

	memset(m, 0, sizeof(*m));
	m->type = MSG_SERVICE_REGISTER;
	hjson_dec_agent_service(d, o, &m->u.service_register.service,
	                        &m->u.service_register.checks);
	json_object_put(o);
}

START_TEST(test_dec_agent_service_python)
{
	/* python-consul 0.7.1's Agent.Service.register with Check.ttl. */
	struct msg m;
	struct hjson_dec d = {0};
	const struct msg_service *s;
	const struct msg_agent_check *c;

	dec_agent_service("{\"name\":\"redis\",\"enabletagoverride\":true,\"id\":\"r1\","
	                  "\"address\":\"10.0.0.1\",\"port\":6379,\"tags\":[\"a\",\"b\"],"
	                  "\"check\":{\"ttl\":\"10s\"}}",
	                  &m, &d);
	ck_assert_msg(!d.failed, "%s", d.err);
	s = &m.u.service_register.service.service;
	ck_assert_str_eq(s->service, "redis");
	ck_assert_str_eq(s->id, "r1");
	ck_assert_str_eq(s->address, "10.0.0.1");
	ck_assert_uint_eq(s->port, 6379);
	ck_assert_uint_eq(s->tags.n, 2);
	ck_assert(s->enable_tag_override);
	ck_assert_uint_eq(s->weight_passing, 1);
	ck_assert_uint_eq(s->weight_warning, 1);
	ck_assert_ptr_null(m.u.service_register.service.proxy_json);
	ck_assert_uint_eq(m.u.service_register.checks.n, 1);
	c = &m.u.service_register.checks.v[0];
	ck_assert_uint_eq(c->check.definition.ttl_ns, 10000000000ull);
	ck_assert_ptr_null(c->check.check_id); /* healthd names it service:r1 */
	ck_assert_str_eq(c->check.interval, "");
	ck_assert_str_eq(c->check.timeout, "");
	msg_free(&m);
}
END_TEST

START_TEST(test_dec_agent_service_go)
{
	/* The Go client's CamelCase, durations as ns numbers, Check before
	 * Checks, mesh objects kept as JSON text. */
	struct msg m;
	struct hjson_dec d = {0};
	const struct msg_agent_service *a;
	const struct msg_agent_check_list *l;

	dec_agent_service(
	    "{\"ID\":\"w1\",\"Name\":\"web\",\"Kind\":\"connect-proxy\",\"Port\":80,"
	    "\"Meta\":{\"env\":\"prod\"},\"Weights\":{\"Passing\":3,\"Warning\":2},"
	    "\"TaggedAddresses\":{\"lan\":{\"Address\":\"10.0.0.2\",\"Port\":80}},"
	    "\"Proxy\":{\"DestinationServiceName\":\"web\",\"Upstreams\":[{\"a\":\"b/c\"}]},"
	    "\"Connect\":{\"Native\":true},\"Service\":\"ignored\",\"Token\":\"t\","
	    "\"Checks\":[{\"CheckID\":\"c2\",\"HTTP\":\"http://x/\",\"Interval\":10000000000,"
	    "\"Timeout\":1.5e9,\"Header\":{\"X\":[\"1\"]},\"Method\":\"POST\","
	    "\"SuccessBeforePassing\":2,\"FailuresBeforeWarning\":3,"
	    "\"FailuresBeforeCritical\":4},null,{\"ID\":\"c3\",\"TTL\":\"1m\"}],"
	    "\"Check\":{\"Name\":\"first\",\"TCP\":\"h:1\",\"Interval\":\"1h30m\","
	    "\"Status\":\"passing\",\"Notes\":\"n\"}}",
	    &m, &d);
	ck_assert_msg(!d.failed, "%s", d.err);
	a = &m.u.service_register.service;
	ck_assert_str_eq(a->service.service, "web");
	ck_assert_str_eq(a->service.kind, "connect-proxy");
	ck_assert_uint_eq(a->service.weight_passing, 3);
	ck_assert_uint_eq(a->service.weight_warning, 2);
	ck_assert_uint_eq(a->service.meta.n, 1);
	ck_assert_uint_eq(a->service.tagged_addresses.n, 1);
	ck_assert_str_eq(a->proxy_json,
	                 "{\"DestinationServiceName\":\"web\",\"Upstreams\":[{\"a\":\"b/c\"}]}");
	ck_assert_str_eq(a->connect_json, "{\"Native\":true}");
	l = &m.u.service_register.checks;
	ck_assert_uint_eq(l->n, 3);
	ck_assert_str_eq(l->v[0].check.name, "first");
	ck_assert_str_eq(l->v[0].check.status, "passing");
	ck_assert_str_eq(l->v[0].check.notes, "n");
	ck_assert_str_eq(l->v[0].check.definition.tcp, "h:1");
	ck_assert_str_eq(l->v[0].check.interval, "1h30m0s");
	ck_assert_str_eq(l->v[1].check.check_id, "c2");
	ck_assert_str_eq(l->v[1].check.interval, "10s");
	ck_assert_str_eq(l->v[1].check.timeout, "1.5s");
	ck_assert_uint_eq(l->v[1].check.definition.timeout_ns, 1500000000ull);
	ck_assert_str_eq(l->v[1].check.definition.method, "POST");
	ck_assert_uint_eq(l->v[1].check.definition.header.n, 1);
	ck_assert_uint_eq(l->v[1].success_before_passing, 2);
	ck_assert_uint_eq(l->v[1].failures_before_warning, 3);
	ck_assert_uint_eq(l->v[1].failures_before_critical, 4);
	/* A CheckType's "ID" is taken as its CheckID too. */
	ck_assert_str_eq(l->v[2].check.check_id, "c3");
	ck_assert_uint_eq(l->v[2].check.definition.ttl_ns, 60000000000ull);
	msg_free(&m);
}
END_TEST

START_TEST(test_dec_agent_service_patroni)
{
	/* py-consul as Patroni drives it: an ID with '/', snake_case, float
	 * seconds as Go strings. */
	struct msg m;
	struct hjson_dec d = {0};
	const struct msg_check *c;

	dec_agent_service("{\"name\":\"pg\",\"id\":\"batman/pg0\",\"enable_tag_override\":true,"
	                  "\"meta\":{\"role\":\"master\"},\"socket_path\":\"/s\","
	                  "\"check\":{\"http\":\"https://h:8008/master\",\"interval\":\"5.0s\","
	                  "\"DeregisterCriticalServiceAfter\":\"150.0s\","
	                  "\"tls_skip_verify\":true,\"TLSServerName\":\"pg.local\"}}",
	                  &m, &d);
	ck_assert_msg(!d.failed, "%s", d.err);
	ck_assert_str_eq(m.u.service_register.service.service.id, "batman/pg0");
	ck_assert_str_eq(m.u.service_register.service.service.socket_path, "/s");
	ck_assert(m.u.service_register.service.service.enable_tag_override);
	c = &m.u.service_register.checks.v[0].check;
	ck_assert_str_eq(c->definition.http, "https://h:8008/master");
	ck_assert_uint_eq(c->definition.interval_ns, 5000000000ull);
	ck_assert_uint_eq(c->definition.deregister_critical_service_after_ns, 150000000000ull);
	ck_assert(c->definition.tls_skip_verify);
	ck_assert_str_eq(c->definition.tls_server_name, "pg.local");
	ck_assert_str_eq(c->interval, "5s");
	msg_free(&m);
}
END_TEST

START_TEST(test_dec_agent_check_definition)
{
	struct json_object *o;
	struct hjson_dec d = {0};
	struct msg_agent_check c = {0};

	/* python-consul 0.7.1: flat, lowercase; its Check.script. */
	o = parse_ok("{\"name\":\"disk\",\"script\":\"df -h | grep /\",\"interval\":\"10s\","
	             "\"id\":\"d1\",\"notes\":\"n\",\"serviceid\":\"web\"}");
	hjson_dec_agent_check(&d, o, true, &c);
	ck_assert_msg(!d.failed, "%s", d.err);
	ck_assert_str_eq(c.check.check_id, "d1");
	ck_assert_str_eq(c.check.name, "disk");
	ck_assert_str_eq(c.check.notes, "n");
	ck_assert_str_eq(c.check.service_id, "web");
	ck_assert_uint_eq(c.check.definition.script_args.n, 3);
	ck_assert_str_eq(c.check.definition.script_args.v[0], "/bin/sh");
	ck_assert_str_eq(c.check.definition.script_args.v[1], "-c");
	ck_assert_str_eq(c.check.definition.script_args.v[2], "df -h | grep /");
	ck_assert_str_eq(c.check.interval, "10s");
	msg_rec_free_agent_check(&c);
	json_object_put(o);

	/* Args win over script; ID wins over CheckID in a definition; H2PING
	 * uses TLS unless told. */
	memset(&c, 0, sizeof(c));
	o = parse_ok("{\"Name\":\"x\",\"CheckID\":\"loser\",\"ID\":\"winner\",\"args\":[\"a\"],"
	             "\"script\":\"b\",\"H2PING\":\"h:1\",\"Interval\":\"1s\","
	             "\"service_id\":\"s\"}");
	hjson_dec_agent_check(&d, o, true, &c);
	ck_assert_msg(!d.failed, "%s", d.err);
	ck_assert_str_eq(c.check.check_id, "winner");
	ck_assert_uint_eq(c.check.definition.script_args.n, 1);
	ck_assert(c.check.definition.h2ping_use_tls);
	ck_assert_str_eq(c.check.service_id, "s");
	msg_rec_free_agent_check(&c);
	json_object_put(o);

	memset(&c, 0, sizeof(c));
	o = parse_ok("{\"Name\":\"x\",\"H2PING\":\"h:1\",\"h2ping_use_tls\":false,"
	             "\"Interval\":\"1s\",\"Status\":\"warning\"}");
	hjson_dec_agent_check(&d, o, false, &c);
	ck_assert_msg(!d.failed, "%s", d.err);
	ck_assert(!c.check.definition.h2ping_use_tls);
	ck_assert_str_eq(c.check.status, "warning");
	ck_assert_ptr_null(c.check.check_id);
	msg_rec_free_agent_check(&c);
	json_object_put(o);
}
END_TEST

struct dec_agent_err_case {
	const char *json;
	const char *err;
};

static const struct dec_agent_err_case dec_agent_err_cases[] = {
    {"{\"Name\":1}", "json: cannot unmarshal number into Go struct field .Name of type string"},
    {"{\"Check\":\"x\"}",
     "json: cannot unmarshal string into Go struct field .Check of type structs.CheckType"},
    {"{\"Checks\":{}}",
     "json: cannot unmarshal object into Go struct field .Checks of type structs.CheckTypes"},
    {"{\"Checks\":[1]}",
     "json: cannot unmarshal number into Go struct field .Checks of type structs.CheckType"},
    {"{\"Proxy\":[]}",
     "json: cannot unmarshal array into Go struct field .Proxy of type "
     "structs.ConnectProxyConfig"},
    {"{\"Connect\":true}",
     "json: cannot unmarshal bool into Go struct field .Connect of type structs.ServiceConnect"},
    {"{\"Check\":{\"TTL\":\"10\"}}", "time: missing unit in duration \"10\""},
    {"{\"Check\":{\"Interval\":true}}",
     "json: cannot unmarshal bool into Go struct field .Interval of type time.Duration"},
    {"{\"Check\":{\"Timeout\":-1}}", "json: negative duration in Go struct field .Timeout"},
    {"{\"Checks\":[{\"SuccessBeforePassing\":\"2\"}]}",
     "json: cannot unmarshal string into Go struct field .SuccessBeforePassing of type uint64"},
    {"{\"Check\":{\"script\":7}}",
     "json: cannot unmarshal number into Go struct field .Script of type string"},
};

START_TEST(test_dec_agent_errors)
{
	const struct dec_agent_err_case *c = &dec_agent_err_cases[_i];
	struct msg m;
	struct hjson_dec d = {0};

	dec_agent_service(c->json, &m, &d);
	ck_assert_msg(d.failed, "%s accepted", c->json);
	ck_assert_str_eq(d.err, c->err);
	msg_free(&m);
}
END_TEST

START_TEST(test_want_object)
{
	struct hjson_dec d = {0};
	struct json_object *o = parse_ok("[1]");

	ck_assert(!hjson_want_object(&d, NULL, "structs.ServiceDefinition"));
	ck_assert_str_eq(d.err, "EOF");
	memset(&d, 0, sizeof(d));
	ck_assert(!hjson_want_object(&d, o, "structs.ServiceDefinition"));
	ck_assert_str_eq(d.err, "json: cannot unmarshal array into Go value of type "
	                        "structs.ServiceDefinition");
	json_object_put(o);
	memset(&d, 0, sizeof(d));
	o = parse_ok("{}");
	ck_assert(hjson_want_object(&d, o, "x"));
	ck_assert(!d.failed);
	json_object_put(o);
}
END_TEST

START_TEST(test_shape_agent_service)
{
	struct msg_agent_service a = {0};
	struct json_object *o;

	fill_service(&a.service);
	a.service.create_index = 0;
	a.service.modify_index = 0;
	a.content_hash = xstrdup("4ecd29c7bc647ca8");
	/* Tags [] and Meta {} never null, Weights an object, no index when 0,
	 * ContentHash only on agent/service/{id} (§2.3). */
	ck_json(hjson_agent_service(&a, "dc1", false),
	        "{\"ID\":\"web1\",\"Service\":\"web\",\"Tags\":[],\"Meta\":{},\"Port\":0,"
	        "\"Address\":\"\",\"Weights\":{\"Passing\":1,\"Warning\":1},"
	        "\"EnableTagOverride\":false,\"Datacenter\":\"dc1\"}");
	ck_json(hjson_agent_service(&a, "dc1", true),
	        "{\"ID\":\"web1\",\"Service\":\"web\",\"Tags\":[],\"Meta\":{},\"Port\":0,"
	        "\"Address\":\"\",\"Weights\":{\"Passing\":1,\"Warning\":1},"
	        "\"EnableTagOverride\":false,\"ContentHash\":\"4ecd29c7bc647ca8\","
	        "\"Datacenter\":\"dc1\"}");
	/* Consul's buildAgentService shows a Passing of 0 as 1; the mesh
	 * objects come back as given; a broken one is left out. */
	free(a.service.kind);
	a.service.kind = xstrdup("connect-proxy");
	a.service.weight_passing = 0;
	a.service.weight_warning = 0;
	a.service.port = 21000;
	a.service.create_index = 5;
	a.service.modify_index = 6;
	a.proxy_json = xstrdup("{\"DestinationServiceName\":\"web\"}");
	a.connect_json = xstrdup("{\"Native\":");
	strlist_set(&a.service.tags, 1, "t");
	ck_json(hjson_agent_service(&a, "dc9", false),
	        "{\"Kind\":\"connect-proxy\",\"ID\":\"web1\",\"Service\":\"web\",\"Tags\":[\"t\"],"
	        "\"Meta\":{},\"Port\":21000,\"Address\":\"\","
	        "\"Weights\":{\"Passing\":1,\"Warning\":0},\"EnableTagOverride\":false,"
	        "\"CreateIndex\":5,\"ModifyIndex\":6,"
	        "\"Proxy\":{\"DestinationServiceName\":\"web\"},\"Datacenter\":\"dc9\"}");
	o = hjson_agent_service(&a, "dc1", false);
	ck_assert(!has_key(o, "Connect"));
	json_object_put(o);
	msg_rec_free_agent_service(&a);
}
END_TEST

START_TEST(test_shape_agent_health_check)
{
	struct msg_check c = {0};

	c.node = xstrdup("n1");
	c.check_id = xstrdup("service:web1");
	c.name = xstrdup("Service 'web' check");
	c.status = xstrdup("passing");
	c.service_id = xstrdup("web1");
	c.service_name = xstrdup("web");
	c.type = xstrdup("ttl");
	c.definition.ttl_ns = 1;
	c.create_index = 9;
	/* Consul fills nine fields of api.HealthCheck; the rest stay zero. */
	ck_json(hjson_agent_health_check(&c),
	        "{\"Node\":\"n1\",\"CheckID\":\"service:web1\",\"Name\":\"Service 'web' check\","
	        "\"Status\":\"passing\",\"Notes\":\"\",\"Output\":\"\",\"ServiceID\":\"web1\","
	        "\"ServiceName\":\"web\",\"ServiceTags\":[],\"Type\":\"\",\"Definition\":{},"
	        "\"CreateIndex\":0,\"ModifyIndex\":0}");
	msg_rec_free_check(&c);
}
END_TEST

START_TEST(test_aggregated_status)
{
	struct msg_check k[4] = {{0}};
	const struct msg_check *v[4] = {&k[0], &k[1], &k[2], &k[3]};

	ck_assert_str_eq(hjson_aggregated_status(v, 0), "passing");
	k[0].check_id = (char *)"a";
	k[0].status = (char *)"passing";
	k[1].check_id = (char *)"b";
	k[1].status = (char *)"warning";
	ck_assert_str_eq(hjson_aggregated_status(v, 1), "passing");
	ck_assert_str_eq(hjson_aggregated_status(v, 2), "warning");
	k[2].check_id = (char *)"c";
	k[2].status = (char *)"critical";
	ck_assert_str_eq(hjson_aggregated_status(v, 3), "critical");
	/* A maintenance check wins over everything, whatever its status. */
	k[3].check_id = (char *)"_service_maintenance:web1";
	k[3].status = (char *)"passing";
	ck_assert_str_eq(hjson_aggregated_status(v, 4), "maintenance");
	k[3].check_id = (char *)"_node_maintenance";
	ck_assert_str_eq(hjson_aggregated_status(v, 4), "maintenance");
	/* An unknown status makes the whole "" (api.HealthChecks). */
	k[1].status = (char *)"bogus";
	ck_assert_str_eq(hjson_aggregated_status(v, 3), "");
	k[1].status = NULL;
	ck_assert_str_eq(hjson_aggregated_status(v, 2), "");
}
END_TEST

static Suite *hjson_suite(void)
{
	Suite *s = suite_create("hjson");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse_table, 0,
	                    (int)(sizeof(parse_cases) / sizeof(parse_cases[0])));
	tcase_add_test(tc, test_parse_empty_and_limits);
	tcase_add_test(tc, test_fail_sticks);
	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_getters);
	tcase_add_loop_test(tc, test_type_errors, 0,
	                    (int)(sizeof(type_cases) / sizeof(type_cases[0])));
	tcase_add_test(tc, test_b64_vectors);
	tcase_add_test(tc, test_b64_decode_edges);
	tcase_add_test(tc, test_b64_round_trip);
	tcase_add_test(tc, test_write_pretty);
	tcase_add_test(tc, test_shape_kv);
	tcase_add_test(tc, test_shape_node);
	tcase_add_test(tc, test_shape_node_service);
	tcase_add_test(tc, test_shape_catalog_service);
	tcase_add_test(tc, test_shape_check);
	tcase_add_test(tc, test_shape_svc_entry);
	tcase_add_test(tc, test_shape_session);
	tcase_add_test(tc, test_shape_gossip_member);
	tcase_add_test(tc, test_shape_user_event);
	tcase_add_test(tc, test_shape_keyring_pool);
	tcase_add_test(tc, test_keyring_errors);
	tcase_add_test(tc, test_dec_register_python);
	tcase_add_test(tc, test_dec_full);
	tcase_add_test(tc, test_dec_txn_node_meta);
	tcase_add_loop_test(tc, test_dec_errors, 0,
	                    (int)(sizeof(dec_err_cases) / sizeof(dec_err_cases[0])));
	tcase_add_test(tc, test_dec_agent_service_python);
	tcase_add_test(tc, test_dec_agent_service_go);
	tcase_add_test(tc, test_dec_agent_service_patroni);
	tcase_add_test(tc, test_dec_agent_check_definition);
	tcase_add_loop_test(tc, test_dec_agent_errors, 0,
	                    (int)(sizeof(dec_agent_err_cases) / sizeof(dec_agent_err_cases[0])));
	tcase_add_test(tc, test_want_object);
	tcase_add_test(tc, test_shape_agent_service);
	tcase_add_test(tc, test_shape_agent_health_check);
	tcase_add_test(tc, test_aggregated_status);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(hjson_suite());
}

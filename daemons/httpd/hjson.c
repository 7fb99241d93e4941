/* hjson.c: Consul's JSON on the wire: lenient field lookup, Go durations, base64, the §2 shapes and
 * the §4.1/§8.3 decoders. */
#include "hjson.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "buf.h"
#include "b64.h"
#include "gofmt.h"
#include "xalloc.h"

/* The largest JSON text hjson_write produces (a limit on everything): a
 * reply past it is a bug or an attack, not a result. */
#define HJSON_WRITE_MAX ((size_t)1 << 30)
#define HJSON_KEYRING_ERR_MAX (256u << 10) /* bytes of a keyring error text */
/* Go keeps a duration in an int64 of nanoseconds. */

/* ---- errors ------------------------------------------------------------- */

void hjson_fail(struct hjson_dec *d, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL || d->failed)
		return;
	d->failed = true;
	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
}

/* Go's names for a JSON value's kind in UnmarshalTypeError. */
const char *hjson_kind(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_boolean:
		return "bool";
	case json_type_double:
	case json_type_int:
		return "number";
	case json_type_string:
		return "string";
	case json_type_array:
		return "array";
	case json_type_object:
		return "object";
	case json_type_null:
		break;
	}
	return "null";
}

/* encoding/json's UnmarshalTypeError text. A number that does not fit a
 * numeric field carries its literal ("number 1.5"), as Go's does; a
 * number where a string belongs is just "number". */
static void hjson_type_err(struct hjson_dec *d, struct json_object *v, const char *field,
                           const char *gotype)
{
	bool numeric = strcmp(gotype, "uint64") == 0 || strcmp(gotype, "int64") == 0 ||
	               strcmp(gotype, "time.Duration") == 0;

	if (numeric && (json_object_get_type(v) == json_type_double ||
	                json_object_get_type(v) == json_type_int))
		hjson_fail(
		    d, "json: cannot unmarshal number %s into Go struct field .%s of type %s",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), field, gotype);
	else
		hjson_fail(d, "json: cannot unmarshal %s into Go struct field .%s of type %s",
		           hjson_kind(v), field, gotype);
}

/* ---- parsing (a strict RFC 8259 check with Go's texts, then json-c) ------ */

/* Go's quoteChar: 'x', '\'' and '\x00'-style escapes. */
static void hjson_quote_char(unsigned char c, char out[16])
{
	if (c == '\'')
		snprintf(out, 16, "'\\''");
	else if (c == '"')
		snprintf(out, 16, "'\"'");
	else if (c == '\n')
		snprintf(out, 16, "'\\n'");
	else if (c == '\r')
		snprintf(out, 16, "'\\r'");
	else if (c == '\t')
		snprintf(out, 16, "'\\t'");
	else if (c < 0x20 || c >= 0x7f)
		snprintf(out, 16, "'\\x%02x'", c);
	else
		snprintf(out, 16, "'%c'", c);
}

struct hjson_scan {
	const unsigned char *p;
	size_t len, off;
	struct hjson_dec *d;
};

static bool hjson_scan_eof(struct hjson_scan *s)
{
	if (s->off < s->len)
		return false;
	/* json.Decoder's text for a body cut short (Consul decodes bodies
	 * with a Decoder). */
	hjson_fail(s->d, "unexpected EOF");
	return true;
}

static void hjson_scan_bad(struct hjson_scan *s, const char *context)
{
	char q[16];

	hjson_quote_char(s->p[s->off], q);
	hjson_fail(s->d, "invalid character %s %s", q, context);
}

static void hjson_scan_ws(struct hjson_scan *s)
{
	while (s->off < s->len && (s->p[s->off] == ' ' || s->p[s->off] == '\t' ||
	                           s->p[s->off] == '\n' || s->p[s->off] == '\r'))
		s->off++;
}

static int hjson_scan_string(struct hjson_scan *s)
{
	s->off++; /* the opening quote */
	for (;;) {
		unsigned char c;

		if (hjson_scan_eof(s))
			return -1;
		c = s->p[s->off];
		if (c == '"') {
			s->off++;
			return 0;
		}
		if (c < 0x20) {
			hjson_scan_bad(s, "in string literal");
			return -1;
		}
		if (c != '\\') {
			s->off++;
			continue;
		}
		s->off++;
		if (hjson_scan_eof(s))
			return -1;
		c = s->p[s->off];
		if (strchr("\"\\/bfnrt", c) != NULL && c != '\0') {
			s->off++;
			continue;
		}
		if (c != 'u') {
			hjson_scan_bad(s, "in string escape code");
			return -1;
		}
		s->off++;
		for (int i = 0; i < 4; i++) {
			if (hjson_scan_eof(s))
				return -1;
			if (!isxdigit(s->p[s->off])) {
				hjson_scan_bad(s, "in \\u hexadecimal character escape");
				return -1;
			}
			s->off++;
		}
	}
}

static bool hjson_scan_digit(struct hjson_scan *s)
{
	return s->off < s->len && s->p[s->off] >= '0' && s->p[s->off] <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int hjson_scan_number(struct hjson_scan *s)
{
	if (s->p[s->off] == '-') {
		s->off++;
		if (hjson_scan_eof(s))
			return -1;
		if (!hjson_scan_digit(s)) {
			hjson_scan_bad(s, "in numeric literal");
			return -1;
		}
	}
	if (s->p[s->off] == '0') {
		s->off++;
	} else {
		while (hjson_scan_digit(s))
			s->off++;
	}
	if (s->off < s->len && s->p[s->off] == '.') {
		s->off++;
		if (hjson_scan_eof(s))
			return -1;
		if (!hjson_scan_digit(s)) {
			hjson_scan_bad(s, "after decimal point in numeric literal");
			return -1;
		}
		while (hjson_scan_digit(s))
			s->off++;
	}
	if (s->off < s->len && (s->p[s->off] == 'e' || s->p[s->off] == 'E')) {
		s->off++;
		if (hjson_scan_eof(s))
			return -1;
		if (s->p[s->off] == '+' || s->p[s->off] == '-')
			s->off++;
		if (hjson_scan_eof(s))
			return -1;
		if (!hjson_scan_digit(s)) {
			hjson_scan_bad(s, "in exponent of numeric literal");
			return -1;
		}
		while (hjson_scan_digit(s))
			s->off++;
	}
	return 0;
}

static int hjson_scan_literal(struct hjson_scan *s, const char *word)
{
	char ctx[64];

	for (size_t i = 0; word[i] != '\0'; i++) {
		if (hjson_scan_eof(s))
			return -1;
		if (s->p[s->off] != (unsigned char)word[i]) {
			snprintf(ctx, sizeof(ctx), "in literal %s (expecting '%c')", word, word[i]);
			hjson_scan_bad(s, ctx);
			return -1;
		}
		s->off++;
	}
	return 0;
}

static int hjson_scan_value(struct hjson_scan *s, int depth)
{
	unsigned char c;

	hjson_scan_ws(s);
	if (hjson_scan_eof(s))
		return -1;
	c = s->p[s->off];
	if (c == '{' || c == '[') {
		unsigned char close = c == '{' ? '}' : ']';

		if (depth >= HJSON_DEPTH_MAX) {
			hjson_fail(s->d, "exceeded max depth");
			return -1;
		}
		s->off++;
		hjson_scan_ws(s);
		if (hjson_scan_eof(s))
			return -1;
		if (s->p[s->off] == close) {
			s->off++;
			return 0;
		}
		for (;;) {
			if (c == '{') {
				hjson_scan_ws(s);
				if (hjson_scan_eof(s))
					return -1;
				if (s->p[s->off] != '"') {
					hjson_scan_bad(
					    s, "looking for beginning of object key string");
					return -1;
				}
				if (hjson_scan_string(s) != 0)
					return -1;
				hjson_scan_ws(s);
				if (hjson_scan_eof(s))
					return -1;
				if (s->p[s->off] != ':') {
					hjson_scan_bad(s, "after object key");
					return -1;
				}
				s->off++;
			}
			if (hjson_scan_value(s, depth + 1) != 0)
				return -1;
			hjson_scan_ws(s);
			if (hjson_scan_eof(s))
				return -1;
			if (s->p[s->off] == close) {
				s->off++;
				return 0;
			}
			if (s->p[s->off] != ',') {
				hjson_scan_bad(s, c == '{' ? "after object key:value pair"
				                           : "after array element");
				return -1;
			}
			s->off++;
		}
	}
	if (c == '"')
		return hjson_scan_string(s);
	if (c == '-' || (c >= '0' && c <= '9'))
		return hjson_scan_number(s);
	if (c == 't')
		return hjson_scan_literal(s, "true");
	if (c == 'f')
		return hjson_scan_literal(s, "false");
	if (c == 'n')
		return hjson_scan_literal(s, "null");
	hjson_scan_bad(s, "looking for beginning of value");
	return -1;
}

struct json_object *hjson_parse(struct hjson_dec *d, const char *body, size_t len)
{
	struct hjson_scan s = {(const unsigned char *)body, len, 0, d};
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error e;

	hjson_scan_ws(&s);
	if (s.off == len)
		return NULL; /* an empty body: the caller's default */
	/* json-c is more lenient than Go (single quotes, NaN, comments), so
	 * the syntax is checked here first, with encoding/json's texts; the
	 * whole body must be one value (trailing bytes are an error). */
	if (hjson_scan_value(&s, 0) != 0)
		return NULL;
	hjson_scan_ws(&s);
	if (s.off < len) {
		hjson_scan_bad(&s, "after top-level value");
		return NULL;
	}
	if (len > (size_t)INT32_MAX) {
		hjson_fail(d, "request body too large");
		return NULL;
	}
	tok = json_tokener_new_ex(HJSON_DEPTH_MAX + 1);
	if (tok == NULL)
		xalloc_fail(sizeof(struct json_tokener *));
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)len);
	e = json_tokener_get_error(tok);
	if (e == json_tokener_continue) {
		/* A bare top-level number ends at the end of input. */
		o = json_tokener_parse_ex(tok, "", 1);
		e = json_tokener_get_error(tok);
	}
	if (e == json_tokener_success && o == NULL) {
		/* The body was a JSON null: as Go, the caller's defaults. */
	} else if (e != json_tokener_success || o == NULL) {
		/* After the check above only invalid UTF-8 gets here. */
		hjson_fail(d, "%s at offset %zu", json_tokener_error_desc(e),
		           json_tokener_get_parse_end(tok));
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* ---- lenient lookup (spec §1.3) ----------------------------------------- */

/* Equal ignoring ASCII case and '_': "service_id" is "ServiceID". */
static bool hjson_name_eq(const char *a, const char *b)
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
		a++;
		b++;
	}
}

/* The member named name: an exact match wins, else the last lenient one
 * (encoding/json lets a later duplicate overwrite an earlier one). */
static struct json_object *hjson_member(struct json_object *o, const char *name)
{
	struct json_object *exact = NULL, *loose = NULL;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		return NULL;
	if (json_object_object_get_ex(o, name, &exact))
		return exact;
	json_object_object_foreach(o, k, v)
	{
		if (hjson_name_eq(k, name))
			loose = v;
	}
	return loose;
}

struct json_object *hjson_get(struct json_object *o, const char *name)
{
	struct json_object *v = hjson_member(o, name);

	return v != NULL && !json_object_is_type(v, json_type_null) ? v : NULL;
}

/* A JSON string as a C string; an embedded NUL would silently cut it, so
 * it is refused. */
static const char *hjson_as_str(struct hjson_dec *d, struct json_object *v, const char *name)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string)) {
		hjson_type_err(d, v, name, "string");
		return NULL;
	}
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v)) {
		hjson_fail(d, "json: invalid NUL byte in Go struct field .%s of type string", name);
		return NULL;
	}
	return s;
}

const char *hjson_get_str(struct hjson_dec *d, struct json_object *o, const char *name)
{
	struct json_object *v = hjson_get(o, name);

	return v != NULL ? hjson_as_str(d, v, name) : NULL;
}

bool hjson_get_bool(struct hjson_dec *d, struct json_object *o, const char *name, bool def)
{
	struct json_object *v = hjson_get(o, name);

	if (v == NULL)
		return def;
	if (!json_object_is_type(v, json_type_boolean)) {
		hjson_type_err(d, v, name, "bool");
		return def;
	}
	return json_object_get_boolean(v);
}

/* An integer JSON number as uint64: Go refuses fractions, exponents and
 * negative values for an unsigned field. json-c keeps integers exactly
 * (it saturates past the uint64 range, where Go would refuse). */
static bool hjson_as_u64(struct json_object *v, uint64_t *out)
{
	if (!json_object_is_type(v, json_type_int))
		return false;
	if (json_object_get_int64(v) < 0)
		return false;
	*out = json_object_get_uint64(v);
	return true;
}

uint64_t hjson_get_u64(struct hjson_dec *d, struct json_object *o, const char *name, uint64_t def)
{
	struct json_object *v = hjson_get(o, name);
	uint64_t u;

	if (v == NULL)
		return def;
	if (!hjson_as_u64(v, &u)) {
		hjson_type_err(d, v, name, "uint64");
		return def;
	}
	return u;
}

int64_t hjson_get_i64(struct hjson_dec *d, struct json_object *o, const char *name, int64_t def)
{
	struct json_object *v = hjson_get(o, name);
	int64_t i;

	if (v == NULL)
		return def;
	if (!json_object_is_type(v, json_type_int)) {
		hjson_type_err(d, v, name, "int64");
		return def;
	}
	i = json_object_get_int64(v);
	/* json-c gives INT64_MAX for a uint64 beyond it. */
	if (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX) {
		hjson_type_err(d, v, name, "int64");
		return def;
	}
	return i;
}

bool hjson_get_strlist(struct hjson_dec *d, struct json_object *o, const char *name,
                       struct msg_strlist *out)
{
	struct json_object *v = hjson_get(o, name);
	size_t n;

	if (v == NULL)
		return false;
	if (!json_object_is_type(v, json_type_array)) {
		hjson_type_err(d, v, name, "[]string");
		return false;
	}
	n = json_object_array_length(v);
	if (n > MSG_LIST_LEN_MAX) {
		hjson_fail(d, "json: too many elements in .%s (%zu > %u)", name, n,
		           MSG_LIST_LEN_MAX);
		return false;
	}
	out->n = 0;
	out->v = xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		const char *s = "";

		/* Go leaves a null element as the zero value "". */
		if (e != NULL && (s = hjson_as_str(d, e, name)) == NULL)
			return true;
		out->v[out->n++] = xstrdup(s);
	}
	return true;
}

bool hjson_get_strmap(struct hjson_dec *d, struct json_object *o, const char *name,
                      struct msg_strmap *out)
{
	struct json_object *v = hjson_get(o, name);
	size_t n;

	if (v == NULL)
		return false;
	if (!json_object_is_type(v, json_type_object)) {
		hjson_type_err(d, v, name, "map[string]string");
		return false;
	}
	n = (size_t)json_object_object_length(v);
	if (n > MSG_LIST_LEN_MAX) {
		hjson_fail(d, "json: too many members in .%s (%zu > %u)", name, n,
		           MSG_LIST_LEN_MAX);
		return false;
	}
	out->n = 0;
	out->k = xcalloc(n ? n : 1, sizeof(char *));
	out->v = xcalloc(n ? n : 1, sizeof(char *));
	json_object_object_foreach(v, k, e)
	{
		const char *s = "";

		if (e != NULL && (s = hjson_as_str(d, e, name)) == NULL)
			return true;
		out->k[out->n] = xstrdup(k);
		out->v[out->n] = xstrdup(s);
		out->n++;
	}
	return true;
}

uint64_t hjson_get_dur_ns(struct hjson_dec *d, struct json_object *o, const char *name,
                          uint64_t def)
{
	struct json_object *v = hjson_get(o, name);
	int64_t ns;
	const char *why;

	if (v == NULL)
		return def;
	switch (json_object_get_type(v)) {
	case json_type_string:
		if (gofmt_dur_parse_ns(json_object_get_string(v), &ns, &why) != 0) {
			hjson_fail(d, "%s", why);
			return def;
		}
		break;
	case json_type_int:
		ns = json_object_get_int64(v);
		if (ns == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX) {
			hjson_type_err(d, v, name, "time.Duration");
			return def;
		}
		break;
	case json_type_double: {
		/* Consul's check definition decoder takes any JSON number
		 * (a float64) as nanoseconds. */
		double f = json_object_get_double(v);

		if (!(f > -9.2e18 && f < 9.2e18)) {
			hjson_type_err(d, v, name, "time.Duration");
			return def;
		}
		ns = (int64_t)f;
		break;
	}
	default:
		hjson_type_err(d, v, name, "time.Duration");
		return def;
	}
	if (ns < 0) {
		hjson_fail(d, "json: negative duration in Go struct field .%s", name);
		return def;
	}
	return (uint64_t)ns;
}

/* ---- base64: malloc'd forms of common/b64.c ------------------------------ */

char *hjson_b64_encode(const uint8_t *p, size_t len)
{
	size_t size = B64_ENCODED_SIZE(len);
	char *out = xmalloc(size);

	if (b64_encode(p, len, out, size) < 0)
		abort(); /* sized above: cannot happen */
	return out;
}

int hjson_b64_decode(const char *s, uint8_t **out, size_t *len)
{
	size_t size = B64_DECODED_MAX(strlen(s));
	uint8_t *p = xmalloc(size);

	if (b64_decode(s, p, size, len) != 0) {
		free(p);
		*out = NULL;
		return -1;
	}
	*out = p;
	return 0;
}

/* ---- writing ------------------------------------------------------------ */

/* A JSON string as json-c writes it with NOSLASHESCAPE, so compact and
 * pretty output agree byte for byte. */
static void hjson_put_str(struct buf *b, const char *s, size_t n)
{
	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"':
			buf_append(b, "\\\"", 2);
			break;
		case '\\':
			buf_append(b, "\\\\", 2);
			break;
		case '\b':
			buf_append(b, "\\b", 2);
			break;
		case '\f':
			buf_append(b, "\\f", 2);
			break;
		case '\n':
			buf_append(b, "\\n", 2);
			break;
		case '\r':
			buf_append(b, "\\r", 2);
			break;
		case '\t':
			buf_append(b, "\\t", 2);
			break;
		default:
			if (c < 0x20)
				buf_printf(b, "\\u%04x", c);
			else
				buf_putc(b, c);
		}
	}
	buf_putc(b, '"');
}

static void hjson_indent(struct buf *b, int level)
{
	buf_putc(b, '\n');
	for (int i = 0; i < level; i++)
		buf_append(b, "    ", 4);
}

/* encoding/json's MarshalIndent(v, "", "    "): empty containers stay
 * "{}" and "[]", members are "key": value. */
static void hjson_put_pretty(struct buf *b, struct json_object *o, int level)
{
	size_t n = 0;

	switch (json_object_get_type(o)) {
	case json_type_object:
		if (json_object_object_length(o) == 0) {
			buf_append(b, "{}", 2);
			return;
		}
		buf_putc(b, '{');
		json_object_object_foreach(o, k, v)
		{
			if (n++ > 0)
				buf_putc(b, ',');
			hjson_indent(b, level + 1);
			hjson_put_str(b, k, strlen(k));
			buf_append(b, ": ", 2);
			hjson_put_pretty(b, v, level + 1);
		}
		hjson_indent(b, level);
		buf_putc(b, '}');
		return;
	case json_type_array:
		n = json_object_array_length(o);
		if (n == 0) {
			buf_append(b, "[]", 2);
			return;
		}
		buf_putc(b, '[');
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				buf_putc(b, ',');
			hjson_indent(b, level + 1);
			hjson_put_pretty(b, json_object_array_get_idx(o, i), level + 1);
		}
		hjson_indent(b, level);
		buf_putc(b, ']');
		return;
	case json_type_string:
		hjson_put_str(b, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		return;
	case json_type_null:
		buf_append(b, "null", 4);
		return;
	case json_type_boolean:
	case json_type_double:
	case json_type_int: {
		size_t len = 0;
		const char *s = json_object_to_json_string_length(
		    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

		buf_append(b, s, len);
		return;
	}
	}
}

char *hjson_write(struct json_object *o, bool pretty, size_t *len)
{
	struct buf b;
	char *out;

	buf_init(&b, HJSON_WRITE_MAX);
	if (pretty) {
		hjson_put_pretty(&b, o, 0);
		buf_putc(&b, '\n');
	} else {
		size_t n = 0;
		const char *s = json_object_to_json_string_length(
		    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);

		buf_append(&b, s, n);
	}
	if (b.err) {
		buf_fini(&b);
		*len = 0;
		return NULL;
	}
	*len = b.len;
	out = (char *)b.p;
	if (out == NULL) /* cannot happen: every value writes something */
		out = xstrdup("");
	else
		out[b.len] = '\0'; /* buf_reserve keeps room for it */
	return out;
}

/* ---- records to Consul's JSON (spec §2) --------------------------------- */

static void hjson_add(struct json_object *o, const char *k, struct json_object *v)
{
	json_object_object_add(o, k, v);
}

static struct json_object *hjson_str(const char *s)
{
	return json_object_new_string(s != NULL ? s : "");
}

static struct json_object *hjson_u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static bool hjson_empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

/* A string list: [] never null (§1.4). */
static struct json_object *hjson_strlist(const struct msg_strlist *l)
{
	struct json_object *a = json_object_new_array_ext((int)l->n);

	for (uint32_t i = 0; i < l->n; i++)
		json_object_array_add(a, hjson_str(l->v[i]));
	return a;
}

/* A string map: {} never null. */
static struct json_object *hjson_strmap(const struct msg_strmap *m)
{
	struct json_object *o = json_object_new_object();

	for (uint32_t i = 0; i < m->n; i++)
		hjson_add(o, m->k[i] != NULL ? m->k[i] : "", hjson_str(m->v[i]));
	return o;
}

static struct json_object *hjson_weights(uint64_t passing, uint64_t warning)
{
	struct json_object *o = json_object_new_object();

	hjson_add(o, "Passing", hjson_u64(passing));
	hjson_add(o, "Warning", hjson_u64(warning));
	return o;
}

/* A service's TaggedAddresses: name -> {Address, Port} (§2.2). */
static struct json_object *hjson_svc_addrs(const struct msg_svc_addr_list *l)
{
	struct json_object *o = json_object_new_object();

	for (uint32_t i = 0; i < l->n; i++) {
		struct json_object *a = json_object_new_object();

		hjson_add(a, "Address", hjson_str(l->v[i].address));
		hjson_add(a, "Port", hjson_u64(l->v[i].port));
		hjson_add(o, l->v[i].name != NULL ? l->v[i].name : "", a);
	}
	return o;
}

/* A plain service's mesh fields (§2.4): muster stores no proxy
 * configuration, so these are the empty shapes Consul emits. */
static struct json_object *hjson_proxy(void)
{
	struct json_object *o = json_object_new_object();

	hjson_add(o, "Mode", hjson_str(""));
	hjson_add(o, "MeshGateway", json_object_new_object());
	hjson_add(o, "Expose", json_object_new_object());
	return o;
}

struct json_object *hjson_kv_entry(const struct msg_kv_entry *e)
{
	struct json_object *o = json_object_new_object();

	hjson_add(o, "LockIndex", hjson_u64(e->lock_index));
	hjson_add(o, "Key", hjson_str(e->key));
	hjson_add(o, "Flags", hjson_u64(e->flags));
	/* An empty value is null (§2.8): Patroni and python-consul rely on it. */
	if (e->value.len > 0) {
		char *b64 = hjson_b64_encode(e->value.p, e->value.len);

		hjson_add(o, "Value", json_object_new_string(b64));
		free(b64);
	} else {
		hjson_add(o, "Value", NULL);
	}
	/* Absent, not "", when unlocked (§2.8). */
	if (!hjson_empty(e->session))
		hjson_add(o, "Session", hjson_str(e->session));
	hjson_add(o, "CreateIndex", hjson_u64(e->create_index));
	hjson_add(o, "ModifyIndex", hjson_u64(e->modify_index));
	return o;
}

struct json_object *hjson_node(const struct msg_node *n)
{
	struct json_object *o = json_object_new_object();

	hjson_add(o, "ID", hjson_str(n->id));
	hjson_add(o, "Node", hjson_str(n->node));
	hjson_add(o, "Address", hjson_str(n->address));
	hjson_add(o, "Datacenter", hjson_str(n->datacenter));
	/* A string map (§2.1); Consul may send null when empty, {} decodes
	 * the same in every client. */
	hjson_add(o, "TaggedAddresses", hjson_strmap(&n->tagged_addresses));
	hjson_add(o, "Meta", hjson_strmap(&n->meta));
	hjson_add(o, "CreateIndex", hjson_u64(n->create_index));
	hjson_add(o, "ModifyIndex", hjson_u64(n->modify_index));
	return o;
}

struct json_object *hjson_node_service(const struct msg_service *s)
{
	struct json_object *o = json_object_new_object();

	if (!hjson_empty(s->kind))
		hjson_add(o, "Kind", hjson_str(s->kind));
	hjson_add(o, "ID", hjson_str(s->id));
	hjson_add(o, "Service", hjson_str(s->service));
	hjson_add(o, "Tags", hjson_strlist(&s->tags));
	hjson_add(o, "Address", hjson_str(s->address));
	if (s->tagged_addresses.n > 0)
		hjson_add(o, "TaggedAddresses", hjson_svc_addrs(&s->tagged_addresses));
	hjson_add(o, "Meta", hjson_strmap(&s->meta));
	if (s->port != 0)
		hjson_add(o, "Port", hjson_u64(s->port));
	if (!hjson_empty(s->socket_path))
		hjson_add(o, "SocketPath", hjson_str(s->socket_path));
	hjson_add(o, "Weights", hjson_weights(s->weight_passing, s->weight_warning));
	hjson_add(o, "EnableTagOverride", json_object_new_boolean(s->enable_tag_override));
	hjson_add(o, "Proxy", hjson_proxy());
	hjson_add(o, "Connect", json_object_new_object());
	hjson_add(o, "PeerName", hjson_str(""));
	hjson_add(o, "CreateIndex", hjson_u64(s->create_index));
	hjson_add(o, "ModifyIndex", hjson_u64(s->modify_index));
	return o;
}

struct json_object *hjson_catalog_service(const struct msg_node *n, const struct msg_service *s)
{
	struct json_object *o = json_object_new_object();

	hjson_add(o, "ID", hjson_str(n->id));
	hjson_add(o, "Node", hjson_str(n->node));
	hjson_add(o, "Address", hjson_str(n->address));
	hjson_add(o, "Datacenter", hjson_str(n->datacenter));
	hjson_add(o, "TaggedAddresses", hjson_strmap(&n->tagged_addresses));
	hjson_add(o, "NodeMeta", hjson_strmap(&n->meta));
	hjson_add(o, "ServiceKind", hjson_str(s->kind));
	hjson_add(o, "ServiceID", hjson_str(s->id));
	hjson_add(o, "ServiceName", hjson_str(s->service));
	hjson_add(o, "ServiceTags", hjson_strlist(&s->tags));
	hjson_add(o, "ServiceAddress", hjson_str(s->address));
	if (s->tagged_addresses.n > 0)
		hjson_add(o, "ServiceTaggedAddresses", hjson_svc_addrs(&s->tagged_addresses));
	hjson_add(o, "ServiceWeights", hjson_weights(s->weight_passing, s->weight_warning));
	hjson_add(o, "ServiceMeta", hjson_strmap(&s->meta));
	hjson_add(o, "ServicePort", hjson_u64(s->port));
	hjson_add(o, "ServiceSocketPath", hjson_str(s->socket_path));
	hjson_add(o, "ServiceEnableTagOverride", json_object_new_boolean(s->enable_tag_override));
	hjson_add(o, "ServiceProxy", hjson_proxy());
	hjson_add(o, "ServiceConnect", json_object_new_object());
	/* ServiceLocality and PeerName are omitempty and always empty here. */
	hjson_add(o, "CreateIndex", hjson_u64(s->create_index));
	hjson_add(o, "ModifyIndex", hjson_u64(s->modify_index));
	return o;
}

static void hjson_def_str(struct json_object *o, const char *k, const char *v)
{
	if (!hjson_empty(v))
		hjson_add(o, k, hjson_str(v));
}

static void hjson_def_bool(struct json_object *o, const char *k, bool v)
{
	if (v)
		hjson_add(o, k, json_object_new_boolean(true));
}

static void hjson_def_dur(struct json_object *o, const char *k, uint64_t ns)
{
	char s[40];

	if (ns == 0)
		return;
	gofmt_dur_format_ns(ns > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)ns, s);
	hjson_add(o, k, hjson_str(s));
}

/* HealthCheckDefinition (§2.6): every key omitempty; three durations as
 * strings, TTL as a number of ns (Consul's marshaller skips it). */
static struct json_object *hjson_check_def(const struct msg_check_def *c)
{
	struct json_object *o = json_object_new_object();

	hjson_def_str(o, "HTTP", c->http);
	hjson_def_str(o, "TLSServerName", c->tls_server_name);
	hjson_def_bool(o, "TLSSkipVerify", c->tls_skip_verify);
	if (c->header.n > 0) {
		struct json_object *h = json_object_new_object();

		for (uint32_t i = 0; i < c->header.n; i++)
			hjson_add(h, c->header.v[i].name != NULL ? c->header.v[i].name : "",
			          hjson_strlist(&c->header.v[i].values));
		hjson_add(o, "Header", h);
	}
	hjson_def_str(o, "Method", c->method);
	hjson_def_str(o, "Body", c->body);
	hjson_def_bool(o, "DisableRedirects", c->disable_redirects);
	hjson_def_str(o, "TCP", c->tcp);
	hjson_def_str(o, "UDP", c->udp);
	hjson_def_str(o, "H2PING", c->h2ping);
	hjson_def_str(o, "OSService", c->os_service);
	hjson_def_bool(o, "H2PingUseTLS", c->h2ping_use_tls);
	hjson_def_dur(o, "Interval", c->interval_ns);
	hjson_def_dur(o, "Timeout", c->timeout_ns);
	hjson_def_dur(o, "DeregisterCriticalServiceAfter", c->deregister_critical_service_after_ns);
	if (c->output_max_size != 0)
		hjson_add(o, "OutputMaxSize", hjson_u64(c->output_max_size));
	if (c->script_args.n > 0)
		hjson_add(o, "ScriptArgs", hjson_strlist(&c->script_args));
	hjson_def_str(o, "DockerContainerID", c->docker_container_id);
	hjson_def_str(o, "Shell", c->shell);
	hjson_def_str(o, "GRPC", c->grpc);
	hjson_def_bool(o, "GRPCUseTLS", c->grpc_use_tls);
	hjson_def_str(o, "AliasNode", c->alias_node);
	hjson_def_str(o, "AliasService", c->alias_service);
	if (c->ttl_ns != 0)
		hjson_add(o, "TTL", hjson_u64(c->ttl_ns));
	return o;
}

/* A HealthCheck's first nine fields, Node to ServiceTags: all that
 * Consul's agent health endpoints copy into an api.HealthCheck. */
static struct json_object *hjson_check_head(const struct msg_check *c)
{
	struct json_object *o = json_object_new_object();

	hjson_add(o, "Node", hjson_str(c->node));
	hjson_add(o, "CheckID", hjson_str(c->check_id));
	hjson_add(o, "Name", hjson_str(c->name));
	hjson_add(o, "Status", hjson_str(c->status));
	hjson_add(o, "Notes", hjson_str(c->notes));
	hjson_add(o, "Output", hjson_str(c->output));
	hjson_add(o, "ServiceID", hjson_str(c->service_id));
	hjson_add(o, "ServiceName", hjson_str(c->service_name));
	hjson_add(o, "ServiceTags", hjson_strlist(&c->service_tags));
	return o;
}

struct json_object *hjson_check(const struct msg_check *c)
{
	struct json_object *o = hjson_check_head(c);

	hjson_add(o, "Type", hjson_str(c->type));
	hjson_add(o, "Interval", hjson_str(c->interval));
	hjson_add(o, "Timeout", hjson_str(c->timeout));
	hjson_add(o, "ExposedPort", hjson_u64(c->exposed_port));
	hjson_add(o, "Definition", hjson_check_def(&c->definition));
	hjson_add(o, "CreateIndex", hjson_u64(c->create_index));
	hjson_add(o, "ModifyIndex", hjson_u64(c->modify_index));
	return o;
}

struct json_object *hjson_svc_entry(const struct msg_svc_entry *e)
{
	struct json_object *o = json_object_new_object();
	struct json_object *checks = json_object_new_array_ext((int)e->checks.n);

	hjson_add(o, "Node", hjson_node(&e->node));
	hjson_add(o, "Service", hjson_node_service(&e->service));
	for (uint32_t i = 0; i < e->checks.n; i++)
		json_object_array_add(checks, hjson_check(&e->checks.v[i]));
	hjson_add(o, "Checks", checks); /* never null (§2.7) */
	return o;
}

/* A string list that is null when empty (a Go nil slice). */
static struct json_object *hjson_strlist_or_null(const struct msg_strlist *l)
{
	return l->n > 0 ? hjson_strlist(l) : NULL;
}

struct json_object *hjson_session(const struct msg_session *s)
{
	struct json_object *o = json_object_new_object();
	struct json_object *svc = NULL, *checks = NULL;

	hjson_add(o, "ID", hjson_str(s->id));
	hjson_add(o, "Name", hjson_str(s->name));
	hjson_add(o, "Node", hjson_str(s->node));
	hjson_add(o, "LockDelay", hjson_u64(s->lock_delay_ns)); /* integer ns (§2.9) */
	hjson_add(o, "Behavior", hjson_str(s->behavior));
	hjson_add(o, "TTL", hjson_str(s->ttl));
	hjson_add(o, "NodeChecks", hjson_strlist_or_null(&s->node_checks));
	if (s->service_checks.n > 0) {
		svc = json_object_new_array_ext((int)s->service_checks.n);
		for (uint32_t i = 0; i < s->service_checks.n; i++) {
			struct json_object *c = json_object_new_object();

			hjson_add(c, "ID", hjson_str(s->service_checks.v[i]));
			hjson_add(c, "Namespace", hjson_str(""));
			json_object_array_add(svc, c);
		}
	}
	hjson_add(o, "ServiceChecks", svc);
	/* The deprecated Checks (omitempty): node checks then service check
	 * IDs. Where muster differs: Consul 1.7+ leaves it out of sessions
	 * it created itself, but pre-1.7 clients read only this field
	 * (§2.9: the older Go client's SessionEntry; armon/consul-api's
	 * Session.Info test wants it non-empty for a default session), and
	 * newer clients ignore it. So it is written whenever non-empty. */
	if (s->node_checks.n + s->service_checks.n > 0) {
		checks = json_object_new_array();
		for (uint32_t i = 0; i < s->node_checks.n; i++)
			json_object_array_add(checks, hjson_str(s->node_checks.v[i]));
		for (uint32_t i = 0; i < s->service_checks.n; i++)
			json_object_array_add(checks, hjson_str(s->service_checks.v[i]));
		hjson_add(o, "Checks", checks);
	}
	hjson_add(o, "CreateIndex", hjson_u64(s->create_index));
	hjson_add(o, "ModifyIndex", hjson_u64(s->modify_index));
	return o;
}

/* ---- gossipd's records (§2.10, §2.12, /v1/operator/keyring) --------------- */

static int hjson_idx_cmp(const void *a, const void *b, void *arg)
{
	char *const *keys = arg;
	const char *x = keys[*(const uint32_t *)a];
	const char *y = keys[*(const uint32_t *)b];

	return strcmp(x != NULL ? x : "", y != NULL ? y : "");
}

/* The order of n keys, sorted as Go's encoding/json writes a map (byte
 * order): gossipd sends tags in whatever order serf decoded them.
 * malloc'd; NULL when n is 0. */
static uint32_t *hjson_key_order(char *const *keys, uint32_t n)
{
	uint32_t *ix;

	if (n == 0)
		return NULL;
	ix = xcalloc(n, sizeof(*ix));
	for (uint32_t i = 0; i < n; i++)
		ix[i] = i;
	qsort_r(ix, n, sizeof(*ix), hjson_idx_cmp, (void *)keys);
	return ix;
}

static struct json_object *hjson_strmap_sorted(const struct msg_strmap *m)
{
	struct json_object *o = json_object_new_object();
	uint32_t *ix = hjson_key_order(m->k, m->n);

	for (uint32_t i = 0; i < m->n; i++)
		hjson_add(o, m->k[ix[i]] != NULL ? m->k[ix[i]] : "", hjson_str(m->v[ix[i]]));
	free(ix);
	return o;
}

/* serf.Member as encoding/json writes it: Addr is a net.IP (its text),
 * Status a number; the Go client decodes Port as uint16 and the versions
 * as uint8, gossipd's values fit them. */
struct json_object *hjson_gossip_member(const struct msg_member *m)
{
	struct json_object *o = json_object_new_object();

	hjson_add(o, "Name", hjson_str(m->name));
	hjson_add(o, "Addr", hjson_str(m->addr));
	hjson_add(o, "Port", hjson_u64(m->port));
	hjson_add(o, "Tags", hjson_strmap_sorted(&m->tags));
	hjson_add(o, "Status", hjson_u64(m->status));
	hjson_add(o, "ProtocolMin", hjson_u64(m->protocol_min));
	hjson_add(o, "ProtocolMax", hjson_u64(m->protocol_max));
	hjson_add(o, "ProtocolCur", hjson_u64(m->protocol_cur));
	hjson_add(o, "DelegateMin", hjson_u64(m->delegate_min));
	hjson_add(o, "DelegateMax", hjson_u64(m->delegate_max));
	hjson_add(o, "DelegateCur", hjson_u64(m->delegate_cur));
	return o;
}

/* Consul's agent.UserEvent: Payload is a []byte, so base64, and null
 * when empty (python-consul and the Go client both accept null). */
struct json_object *hjson_user_event(const struct msg_consul_event *e)
{
	struct json_object *o = json_object_new_object();

	hjson_add(o, "ID", hjson_str(e->id));
	hjson_add(o, "Name", hjson_str(e->name));
	if (e->payload.len > 0) {
		char *b64 = hjson_b64_encode(e->payload.p, e->payload.len);

		hjson_add(o, "Payload", json_object_new_string(b64));
		free(b64);
	} else {
		hjson_add(o, "Payload", NULL);
	}
	hjson_add(o, "NodeFilter", hjson_str(e->node_filter));
	hjson_add(o, "ServiceFilter", hjson_str(e->service_filter));
	hjson_add(o, "TagFilter", hjson_str(e->tag_filter));
	hjson_add(o, "Version", hjson_u64(e->version));
	hjson_add(o, "LTime", hjson_u64(e->ltime));
	return o;
}

/* structs.KeyringResponse: WAN, Datacenter, Segment, Partition
 * (omitempty, never set without partitions), Messages (omitempty), Keys,
 * PrimaryKeys, NumNodes, Error (omitempty). The key maps are {} rather
 * than null: serf's answer always makes them. */
struct json_object *hjson_keyring_pool(const struct msg_keyring_pool *p)
{
	struct json_object *o = json_object_new_object();
	struct json_object *keys = json_object_new_object();
	struct json_object *primary = json_object_new_object();
	char **names = p->keys.n ? xcalloc(p->keys.n, sizeof(char *)) : NULL;
	uint32_t *ix;

	for (uint32_t i = 0; i < p->keys.n; i++)
		names[i] = p->keys.v[i].key;
	ix = hjson_key_order(names, p->keys.n);
	for (uint32_t i = 0; i < p->keys.n; i++) {
		const struct msg_keyring_key *k = &p->keys.v[ix[i]];
		const char *name = k->key != NULL ? k->key : "";

		hjson_add(keys, name, hjson_u64(k->count));
		if (k->primary_count > 0)
			hjson_add(primary, name, hjson_u64(k->primary_count));
	}
	free(ix);
	free(names);

	hjson_add(o, "WAN", json_object_new_boolean(p->wan));
	hjson_add(o, "Datacenter", hjson_str(p->datacenter));
	hjson_add(o, "Segment", hjson_str(p->segment));
	if (p->messages.n > 0)
		hjson_add(o, "Messages", hjson_strmap_sorted(&p->messages));
	hjson_add(o, "Keys", keys);
	hjson_add(o, "PrimaryKeys", primary);
	hjson_add(o, "NumNodes", hjson_u64(p->num_nodes));
	if (!hjson_empty(p->error))
		hjson_add(o, "Error", hjson_str(p->error));
	return o;
}

/* One error line of the list: go-multierror's ListFormatFunc writes
 * "1 error occurred:\n\t* <e>\n\n" or "<n> errors occurred:\n\t* <e1>\n\t* <e2>\n\n". */
static void hjson_keyring_line(struct buf *lines, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void hjson_keyring_line(struct buf *lines, size_t *n, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	buf_append(lines, *n ? "\n\t* " : "\t* ", *n ? 4 : 3);
	buf_append(lines, tmp, strnlen(tmp, sizeof(tmp) - 1));
	(*n)++;
}

char *hjson_keyring_errors(const struct msg_keyring_pool_list *l)
{
	struct buf lines, out;
	size_t n = 0;
	char *text;

	buf_init(&lines, HJSON_KEYRING_ERR_MAX);
	for (uint32_t i = 0; i < l->n; i++) {
		const struct msg_keyring_pool *p = &l->v[i];
		uint32_t *ix;

		if (hjson_empty(p->error))
			continue;
		if (p->wan)
			hjson_keyring_line(&lines, &n, "WAN%s%s%s error: %s",
			                   hjson_empty(p->segment) ? "" : " [segment: ",
			                   hjson_empty(p->segment) ? "" : p->segment,
			                   hjson_empty(p->segment) ? "" : "]", p->error);
		else
			hjson_keyring_line(&lines, &n, "%s (LAN)%s%s%s error: %s",
			                   p->datacenter != NULL ? p->datacenter : "",
			                   hjson_empty(p->segment) ? "" : " [segment: ",
			                   hjson_empty(p->segment) ? "" : p->segment,
			                   hjson_empty(p->segment) ? "" : "]", p->error);
		/* Go ranges over the map in random order; name order here. */
		ix = hjson_key_order(p->messages.k, p->messages.n);
		for (uint32_t j = 0; j < p->messages.n; j++)
			hjson_keyring_line(&lines, &n, "%s: %s",
			                   p->messages.k[ix[j]] ? p->messages.k[ix[j]] : "",
			                   p->messages.v[ix[j]] ? p->messages.v[ix[j]] : "");
		free(ix);
	}
	if (n == 0) {
		buf_fini(&lines);
		return NULL;
	}
	buf_init(&out, HJSON_KEYRING_ERR_MAX + 64);
	if (n == 1)
		buf_printf(&out, "1 error occurred:\n");
	else
		buf_printf(&out, "%zu errors occurred:\n", n);
	buf_append(&out, lines.p, lines.len);
	buf_append(&out, "\n\n", 2);
	text = xstrdup(buf_cstr(&out) != NULL ? buf_cstr(&out) : "keyring errors: too long to show");
	buf_fini(&out);
	buf_fini(&lines);
	return text;
}

/* ---- Consul's JSON to records (§4.1, §8.3) ------------------------------ */

/* Copies a present string member over *dst (msg-owned). */
static void hjson_dec_str(struct hjson_dec *d, struct json_object *o, const char *name, char **dst)
{
	const char *s = hjson_get_str(d, o, name);

	if (s != NULL) {
		free(*dst);
		*dst = xstrdup(s);
	}
}

/* A member that must be an object when present. */
static struct json_object *hjson_get_obj(struct hjson_dec *d, struct json_object *o,
                                         const char *name, const char *gotype)
{
	struct json_object *v = hjson_get(o, name);

	if (v != NULL && !json_object_is_type(v, json_type_object)) {
		hjson_type_err(d, v, name, gotype);
		return NULL;
	}
	return v;
}

void hjson_dec_node(struct hjson_dec *d, struct json_object *o, const char *node_meta_key,
                    struct msg_node *out)
{
	hjson_dec_str(d, o, "ID", &out->id);
	hjson_dec_str(d, o, "Node", &out->node);
	hjson_dec_str(d, o, "Address", &out->address);
	hjson_dec_str(d, o, "Datacenter", &out->datacenter);
	hjson_get_strmap(d, o, "TaggedAddresses", &out->tagged_addresses);
	hjson_get_strmap(d, o, node_meta_key, &out->meta);
	out->create_index = hjson_get_u64(d, o, "CreateIndex", out->create_index);
	out->modify_index = hjson_get_u64(d, o, "ModifyIndex", out->modify_index);
}

static void hjson_dec_svc_addrs(struct hjson_dec *d, struct json_object *o,
                                struct msg_svc_addr_list *out)
{
	struct json_object *m =
	    hjson_get_obj(d, o, "TaggedAddresses", "map[string]structs.ServiceAddress");
	size_t n;

	if (m == NULL)
		return;
	n = (size_t)json_object_object_length(m);
	if (n > MSG_LIST_LEN_MAX) {
		hjson_fail(d, "json: too many members in .TaggedAddresses (%zu > %u)", n,
		           MSG_LIST_LEN_MAX);
		return;
	}
	out->v = xcalloc(n ? n : 1, sizeof(*out->v));
	json_object_object_foreach(m, k, v)
	{
		struct msg_svc_addr *a = &out->v[out->n];

		/* A null value is Go's zero ServiceAddress. */
		if (v != NULL && !json_object_is_type(v, json_type_object)) {
			hjson_type_err(d, v, "TaggedAddresses", "structs.ServiceAddress");
			return;
		}
		a->name = xstrdup(k);
		a->address = xstrdup(hjson_get_str(d, v, "Address"));
		a->port = hjson_get_u64(d, v, "Port", 0);
		out->n++;
	}
}

/* The fields a catalog NodeService (§4.1) and an agent service definition
 * (§3.12) share; their name is "Service" in one and "Name" in the other. */
static void hjson_dec_service_fields(struct hjson_dec *d, struct json_object *o,
                                     const char *name_key, struct msg_service *out)
{
	struct json_object *w;

	hjson_dec_str(d, o, "Kind", &out->kind);
	hjson_dec_str(d, o, "ID", &out->id);
	hjson_dec_str(d, o, name_key, &out->service);
	hjson_get_strlist(d, o, "Tags", &out->tags);
	hjson_dec_str(d, o, "Address", &out->address);
	hjson_dec_svc_addrs(d, o, &out->tagged_addresses);
	hjson_get_strmap(d, o, "Meta", &out->meta);
	out->port = hjson_get_u64(d, o, "Port", out->port);
	hjson_dec_str(d, o, "SocketPath", &out->socket_path);
	/* Weights default to {1, 1} when absent (§2.2); a given object
	 * decodes as Go's struct does, a missing member is 0. */
	w = hjson_get_obj(d, o, "Weights", "structs.Weights");
	if (w != NULL) {
		out->weight_passing = hjson_get_u64(d, w, "Passing", 0);
		out->weight_warning = hjson_get_u64(d, w, "Warning", 0);
	} else {
		out->weight_passing = 1;
		out->weight_warning = 1;
	}
	out->enable_tag_override =
	    hjson_get_bool(d, o, "EnableTagOverride", out->enable_tag_override);
}

void hjson_dec_service(struct hjson_dec *d, struct json_object *o, struct msg_service *out)
{
	hjson_dec_service_fields(d, o, "Service", out);
	out->create_index = hjson_get_u64(d, o, "CreateIndex", out->create_index);
	out->modify_index = hjson_get_u64(d, o, "ModifyIndex", out->modify_index);
}

static void hjson_dec_headers(struct hjson_dec *d, struct json_object *o,
                              struct msg_header_list *out)
{
	struct json_object *m = hjson_get_obj(d, o, "Header", "map[string][]string");
	size_t n;

	if (m == NULL)
		return;
	n = (size_t)json_object_object_length(m);
	if (n > MSG_LIST_LEN_MAX) {
		hjson_fail(d, "json: too many members in .Header (%zu > %u)", n, MSG_LIST_LEN_MAX);
		return;
	}
	out->v = xcalloc(n ? n : 1, sizeof(*out->v));
	json_object_object_foreach(m, k, v)
	{
		struct msg_header *h = &out->v[out->n++];
		struct json_object *wrap;

		h->name = xstrdup(k);
		if (v == NULL)
			continue;
		/* The list is read through a one-member object so the
		 * strlist getter's checks and texts apply. */
		wrap = json_object_new_object();
		json_object_object_add(wrap, "Header", json_object_get(v));
		hjson_get_strlist(d, wrap, "Header", &h->values);
		json_object_put(wrap);
		if (d->failed)
			return;
	}
}

void hjson_dec_check_def(struct hjson_dec *d, struct json_object *o, struct msg_check_def *out)
{
	hjson_dec_str(d, o, "HTTP", &out->http);
	hjson_dec_str(d, o, "TLSServerName", &out->tls_server_name);
	out->tls_skip_verify = hjson_get_bool(d, o, "TLSSkipVerify", out->tls_skip_verify);
	hjson_dec_headers(d, o, &out->header);
	hjson_dec_str(d, o, "Method", &out->method);
	hjson_dec_str(d, o, "Body", &out->body);
	out->disable_redirects = hjson_get_bool(d, o, "DisableRedirects", out->disable_redirects);
	hjson_dec_str(d, o, "TCP", &out->tcp);
	hjson_dec_str(d, o, "UDP", &out->udp);
	hjson_dec_str(d, o, "H2PING", &out->h2ping);
	out->h2ping_use_tls = hjson_get_bool(d, o, "H2PingUseTLS", out->h2ping_use_tls);
	hjson_dec_str(d, o, "OSService", &out->os_service);
	out->interval_ns = hjson_get_dur_ns(d, o, "Interval", out->interval_ns);
	out->timeout_ns = hjson_get_dur_ns(d, o, "Timeout", out->timeout_ns);
	out->deregister_critical_service_after_ns = hjson_get_dur_ns(
	    d, o, "DeregisterCriticalServiceAfter", out->deregister_critical_service_after_ns);
	out->output_max_size = hjson_get_u64(d, o, "OutputMaxSize", out->output_max_size);
	/* ScriptArgs is the field; Args is the CheckType alias (§3.12). */
	if (!hjson_get_strlist(d, o, "ScriptArgs", &out->script_args))
		hjson_get_strlist(d, o, "Args", &out->script_args);
	hjson_dec_str(d, o, "DockerContainerID", &out->docker_container_id);
	hjson_dec_str(d, o, "Shell", &out->shell);
	hjson_dec_str(d, o, "GRPC", &out->grpc);
	out->grpc_use_tls = hjson_get_bool(d, o, "GRPCUseTLS", out->grpc_use_tls);
	hjson_dec_str(d, o, "AliasNode", &out->alias_node);
	hjson_dec_str(d, o, "AliasService", &out->alias_service);
	out->ttl_ns = hjson_get_dur_ns(d, o, "TTL", out->ttl_ns);
}

/* The fields a catalog HealthCheck (§4.1) and an agent check (§3.12,
 * §3.16) share, but for the check's ID (CheckID, or ID in a check
 * definition). */
static void hjson_dec_check_fields(struct hjson_dec *d, struct json_object *o,
                                   struct msg_check *out)
{
	hjson_dec_str(d, o, "Name", &out->name);
	hjson_dec_str(d, o, "Status", &out->status);
	hjson_dec_str(d, o, "Notes", &out->notes);
	hjson_dec_str(d, o, "ServiceID", &out->service_id);
}

void hjson_dec_check(struct hjson_dec *d, struct json_object *o, struct msg_check *out)
{
	struct json_object *def;

	hjson_dec_str(d, o, "Node", &out->node);
	hjson_dec_str(d, o, "CheckID", &out->check_id);
	hjson_dec_check_fields(d, o, out);
	hjson_dec_str(d, o, "Output", &out->output);
	hjson_dec_str(d, o, "ServiceName", &out->service_name);
	hjson_get_strlist(d, o, "ServiceTags", &out->service_tags);
	hjson_dec_str(d, o, "Type", &out->type);
	hjson_dec_str(d, o, "Interval", &out->interval);
	hjson_dec_str(d, o, "Timeout", &out->timeout);
	out->exposed_port = hjson_get_u64(d, o, "ExposedPort", out->exposed_port);
	def = hjson_get_obj(d, o, "Definition", "structs.HealthCheckDefinition");
	if (def != NULL)
		hjson_dec_check_def(d, def, &out->definition);
	out->create_index = hjson_get_u64(d, o, "CreateIndex", out->create_index);
	out->modify_index = hjson_get_u64(d, o, "ModifyIndex", out->modify_index);
}

/* ---- the agent's own services and checks (§2.3, §3.10-§3.20) ------------ */

/* Interval and Timeout as a HealthCheck shows them: Go's Duration.String(),
 * "" when unset (proto/msg.def, record check). */
static char *hjson_dur_text(uint64_t ns)
{
	char s[GOFMT_DUR_STR_MAX];

	if (ns == 0)
		return xstrdup("");
	gofmt_dur_format_ns(ns > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)ns, s);
	return xstrdup(s);
}

/* A member kept as the JSON text given (§3.12: the mesh fields are stored
 * and echoed back, never acted on); "" when absent. */
static void hjson_dec_json_text(struct hjson_dec *d, struct json_object *o, const char *name,
                                const char *gotype, char **dst)
{
	struct json_object *v = hjson_get_obj(d, o, name, gotype);

	if (v == NULL || d->failed)
		return;
	free(*dst);
	*dst = xstrdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
}

void hjson_dec_agent_check(struct hjson_dec *d, struct json_object *o, bool definition,
                           struct msg_agent_check *out)
{
	struct msg_check *c = &out->check;
	struct msg_check_def *def = &c->definition;
	const char *script;

	/* A check definition's ID is "ID", a CheckType's "CheckID" (Consul's
	 * structs.CheckDefinition and structs.CheckType); each also takes the
	 * other's name, so a client that mixes them up still names its check. */
	hjson_dec_str(d, o, definition ? "CheckID" : "ID", &c->check_id);
	hjson_dec_str(d, o, definition ? "ID" : "CheckID", &c->check_id);
	hjson_dec_check_fields(d, o, c);
	hjson_dec_check_def(d, o, def);
	/* Consul's CheckDefinition.UnmarshalJSON: an H2PING check uses TLS
	 * unless told otherwise. */
	if (!hjson_empty(def->h2ping) && hjson_get(o, "H2PingUseTLS") == NULL)
		def->h2ping_use_tls = true;
	/* python-consul 0.7.1's Check.script sends {"script": "<command>"}:
	 * Consul before 1.1 ran it with `/bin/sh -c`, so it becomes those
	 * arguments (still a script check: enable_script_checks applies). */
	script = hjson_get_str(d, o, "Script");
	if (script != NULL && script[0] != '\0' && def->script_args.n == 0) {
		free(def->script_args.v); /* an empty list at most */
		def->script_args.v = xcalloc(3, sizeof(char *));
		def->script_args.v[0] = xstrdup("/bin/sh");
		def->script_args.v[1] = xstrdup("-c");
		def->script_args.v[2] = xstrdup(script);
		def->script_args.n = 3;
	}
	out->success_before_passing =
	    hjson_get_u64(d, o, "SuccessBeforePassing", out->success_before_passing);
	out->failures_before_warning =
	    hjson_get_u64(d, o, "FailuresBeforeWarning", out->failures_before_warning);
	out->failures_before_critical =
	    hjson_get_u64(d, o, "FailuresBeforeCritical", out->failures_before_critical);
	free(c->interval);
	c->interval = hjson_dur_text(def->interval_ns);
	free(c->timeout);
	c->timeout = hjson_dur_text(def->timeout_ns);
}

void hjson_dec_agent_service(struct hjson_dec *d, struct json_object *o,
                             struct msg_agent_service *out, struct msg_agent_check_list *checks)
{
	struct json_object *chk, *list;
	size_t n = 0;

	hjson_dec_service_fields(d, o, "Name", &out->service);
	hjson_dec_json_text(d, o, "Proxy", "structs.ConnectProxyConfig", &out->proxy_json);
	hjson_dec_json_text(d, o, "Connect", "structs.ServiceConnect", &out->connect_json);
	/* Check first, then Checks (Consul's ServiceDefinition.CheckTypes). */
	chk = hjson_get_obj(d, o, "Check", "structs.CheckType");
	list = hjson_get(o, "Checks");
	if (list != NULL && !json_object_is_type(list, json_type_array)) {
		hjson_type_err(d, list, "Checks", "structs.CheckTypes");
		return;
	}
	if (d->failed)
		return;
	n = list != NULL ? json_object_array_length(list) : 0;
	if (n + 1 > MSG_LIST_LEN_MAX) {
		hjson_fail(d, "json: too many checks (%zu > %u)", n, MSG_LIST_LEN_MAX - 1);
		return;
	}
	checks->v = xcalloc(n + 1, sizeof(*checks->v));
	if (chk != NULL)
		hjson_dec_agent_check(d, chk, false, &checks->v[checks->n++]);
	for (size_t i = 0; i < n && !d->failed; i++) {
		struct json_object *c = json_object_array_get_idx(list, i);

		if (c == NULL)
			continue; /* a null element is no check */
		if (!json_object_is_type(c, json_type_object)) {
			hjson_type_err(d, c, "Checks", "structs.CheckType");
			return;
		}
		hjson_dec_agent_check(d, c, false, &checks->v[checks->n++]);
	}
}

bool hjson_want_object(struct hjson_dec *d, struct json_object *o, const char *gotype)
{
	if (d->failed)
		return false;
	if (o == NULL) {
		/* Consul decodes with a json.Decoder: nothing to read is io.EOF. */
		hjson_fail(d, "EOF");
		return false;
	}
	if (!json_object_is_type(o, json_type_object)) {
		hjson_fail(d, "json: cannot unmarshal %s into Go value of type %s", hjson_kind(o),
		           gotype);
		return false;
	}
	return true;
}

struct json_object *hjson_agent_service(const struct msg_agent_service *a, const char *dc,
                                        bool with_hash)
{
	const struct msg_service *s = &a->service;
	struct json_object *o = json_object_new_object();

	if (!hjson_empty(s->kind))
		hjson_add(o, "Kind", hjson_str(s->kind));
	hjson_add(o, "ID", hjson_str(s->id));
	hjson_add(o, "Service", hjson_str(s->service));
	hjson_add(o, "Tags", hjson_strlist(&s->tags)); /* never null (§2.3) */
	hjson_add(o, "Meta", hjson_strmap(&s->meta));  /* never null (§2.3) */
	hjson_add(o, "Port", hjson_u64(s->port));
	hjson_add(o, "Address", hjson_str(s->address));
	if (!hjson_empty(s->socket_path))
		hjson_add(o, "SocketPath", hjson_str(s->socket_path));
	if (s->tagged_addresses.n > 0)
		hjson_add(o, "TaggedAddresses", hjson_svc_addrs(&s->tagged_addresses));
	/* Consul's buildAgentService: a Passing of 0 shows as 1; an object
	 * always (the Go client's AgentService.Weights is not a pointer). */
	hjson_add(o, "Weights",
	          hjson_weights(s->weight_passing ? s->weight_passing : 1, s->weight_warning));
	hjson_add(o, "EnableTagOverride", json_object_new_boolean(s->enable_tag_override));
	if (s->create_index != 0)
		hjson_add(o, "CreateIndex", hjson_u64(s->create_index));
	if (s->modify_index != 0)
		hjson_add(o, "ModifyIndex", hjson_u64(s->modify_index));
	if (with_hash)
		hjson_add(o, "ContentHash", hjson_str(a->content_hash));
	/* The mesh objects as they were given (omitempty). */
	if (!hjson_empty(a->proxy_json)) {
		struct json_object *v = json_tokener_parse(a->proxy_json);

		if (v != NULL)
			hjson_add(o, "Proxy", v);
	}
	if (!hjson_empty(a->connect_json)) {
		struct json_object *v = json_tokener_parse(a->connect_json);

		if (v != NULL)
			hjson_add(o, "Connect", v);
	}
	hjson_add(o, "Datacenter", hjson_str(dc));
	return o;
}

struct json_object *hjson_agent_health_check(const struct msg_check *c)
{
	/* Consul's agentHealthService fills the head; the rest keeps Go's
	 * zero values. */
	struct json_object *o = hjson_check_head(c);

	hjson_add(o, "Type", hjson_str(""));
	hjson_add(o, "Definition", json_object_new_object());
	hjson_add(o, "CreateIndex", hjson_u64(0));
	hjson_add(o, "ModifyIndex", hjson_u64(0));
	return o;
}

const char *hjson_aggregated_status(const struct msg_check *const *checks, size_t n)
{
	bool warning = false, critical = false, maintenance = false;

	/* api.HealthChecks.AggregatedStatus: a maintenance check wins, then
	 * critical, warning, passing; none at all is passing; an unknown
	 * status makes the whole "". */
	for (size_t i = 0; i < n; i++) {
		const char *id = checks[i]->check_id != NULL ? checks[i]->check_id : "";
		const char *st = checks[i]->status != NULL ? checks[i]->status : "";

		if (strcmp(id, "_node_maintenance") == 0 ||
		    strncmp(id, "_service_maintenance:", 21) == 0) {
			maintenance = true;
			continue;
		}
		if (strcmp(st, "passing") == 0)
			continue;
		if (strcmp(st, "warning") == 0)
			warning = true;
		else if (strcmp(st, "critical") == 0)
			critical = true;
		else
			return "";
	}
	if (maintenance)
		return "maintenance";
	if (critical)
		return "critical";
	if (warning)
		return "warning";
	return "passing";
}

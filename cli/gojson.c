/* gojson.c: JSON written as Go's encoding/json writes it (kv export, watch output). */
#include "gojson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The length of the UTF-8 sequence at p (n bytes left), or 0 when it is
 * not valid UTF-8 (Go writes U+FFFD for each such byte). */
static size_t gojson_utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void gojson_string(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;

	buf_putc(out, '"');
	for (size_t i = 0; i < len;) {
		unsigned char ch = p[i];
		size_t l;

		if (ch < 0x80) {
			if (ch == '"' || ch == '\\') {
				buf_putc(out, '\\');
				buf_putc(out, ch);
			} else if (ch == '\n') {
				buf_append(out, "\\n", 2);
			} else if (ch == '\r') {
				buf_append(out, "\\r", 2);
			} else if (ch == '\t') {
				buf_append(out, "\\t", 2);
			} else if (ch < 0x20 || ch == '<' || ch == '>' || ch == '&') {
				buf_printf(out, "\\u00%c%c", hex[ch >> 4], hex[ch & 15]);
			} else {
				buf_putc(out, ch);
			}
			i++;
			continue;
		}
		l = gojson_utf8_len(p + i, len - i);
		if (l == 0) {
			buf_append(out, "\\ufffd", 6);
			i++;
		} else if (l == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 &&
		           (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
			buf_printf(out, "\\u202%c", p[i + 2] == 0xa8 ? '8' : '9');
			i += 3;
		} else {
			buf_append(out, p + i, l);
			i += l;
		}
	}
	buf_putc(out, '"');
}

static void gojson_newline(struct buf *out, const char *indent, int depth)
{
	buf_putc(out, '\n');
	for (int i = 0; i < depth; i++)
		buf_printf(out, "%s", indent);
}

static int gojson_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool gojson_is_map_field(const struct gojson_opts *o, const char *key)
{
	if (o->map_fields == NULL || key == NULL)
		return false;
	for (const char *const *f = o->map_fields; *f != NULL; f++)
		if (strcmp(*f, key) == 0)
			return true;
	return false;
}

static void gojson_value(struct buf *out, struct json_object *v, const struct gojson_opts *o,
                         int depth, bool sorted);

static void gojson_object(struct buf *out, struct json_object *v, const struct gojson_opts *o,
                          int depth, bool sorted)
{
	size_t n = (size_t)json_object_object_length(v), i = 0;
	const char **keys;

	if (n == 0) {
		buf_append(out, "{}", 2);
		return;
	}
	keys = calloc(n, sizeof(*keys));
	if (keys == NULL) {
		out->err = true;
		return;
	}
	json_object_object_foreach(v, k, val)
	{
		(void)val;
		if (i < n)
			keys[i++] = k;
	}
	if (sorted)
		qsort(keys, i, sizeof(*keys), gojson_key_cmp);
	buf_putc(out, '{');
	for (size_t j = 0; j < i; j++) {
		struct json_object *fv = json_object_object_get(v, keys[j]);
		if (j > 0)
			buf_putc(out, ',');
		if (o->indent != NULL)
			gojson_newline(out, o->indent, depth + 1);
		gojson_string(out, keys[j], strlen(keys[j]));
		buf_putc(out, ':');
		if (o->indent != NULL)
			buf_putc(out, ' ');
		gojson_value(out, fv, o, depth + 1, gojson_is_map_field(o, keys[j]));
	}
	if (o->indent != NULL)
		gojson_newline(out, o->indent, depth);
	buf_putc(out, '}');
	free(keys);
}

static void gojson_value(struct buf *out, struct json_object *v, const struct gojson_opts *o,
                         int depth, bool sorted)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		buf_append(out, "null", 4);
		break;
	case json_type_string:
		gojson_string(out, json_object_get_string(v),
		              (size_t)json_object_get_string_len(v));
		break;
	case json_type_object:
		gojson_object(out, v, o, depth, sorted);
		break;
	case json_type_array: {
		size_t n = json_object_array_length(v);
		if (n == 0) {
			buf_append(out, "[]", 2);
			break;
		}
		buf_putc(out, '[');
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				buf_putc(out, ',');
			if (o->indent != NULL)
				gojson_newline(out, o->indent, depth + 1);
			/* The elements of a map-typed field's array keep the
			 * field's kind only for maps of maps; none here. */
			gojson_value(out, json_object_array_get_idx(v, i), o, depth + 1, false);
		}
		if (o->indent != NULL)
			gojson_newline(out, o->indent, depth);
		buf_putc(out, ']');
		break;
	}
	default: /* numbers and booleans: json-c keeps a parsed number's text */
		buf_printf(out, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		break;
	}
}

void gojson_write(struct buf *out, struct json_object *v, const struct gojson_opts *o)
{
	gojson_value(out, v, o, 0, o->sort_top);
}

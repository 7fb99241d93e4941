/* gojson.h: JSON written as Go's encoding/json writes it (MarshalIndent and Encoder.Encode), for kv export and watch. */
#ifndef MUSTER_GOJSON_H
#define MUSTER_GOJSON_H

#include "buf.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* Go marshals a map with its keys sorted and a struct in field order.
 * json-c keeps the agent's order, which is the struct order already; the
 * objects that are Go maps (the whole value when sort_top, and the values
 * of the fields named in map_fields, e.g. "Meta", "TaggedAddresses") are
 * written with sorted keys. */
struct gojson_opts {
	const char *indent; /* MarshalIndent's indent; NULL: compact (Encoder) */
	bool sort_top;
	const char *const *map_fields; /* NULL-terminated, or NULL */
};

/* A string with Go's escapes: \" \\ \n \r \t, \u00XX for other control
 * bytes, \u003c \u003e \u0026 for < > & (HTML-safe), \u2028 \u2029, and
 * U+FFFD for bytes that are not UTF-8. */
void gojson_string(struct buf *out, const char *s, size_t len);

/* v (NULL is null) into out; out's sticky error tells an overflow. */
void gojson_write(struct buf *out, struct json_object *v, const struct gojson_opts *o);

#endif

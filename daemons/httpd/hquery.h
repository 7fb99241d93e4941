/* hquery.h: request paths and query strings as Go's net/url reads them (spec/http-api.md §0, §1.3), pure. */
#ifndef MUSTER_HTTPD_HQUERY_H
#define MUSTER_HTTPD_HQUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HQUERY_PARAMS_MAX 128  /* key=value pairs kept from one query string */
#define HQUERY_LEN_MAX    16384 /* bytes of one query string */

struct hquery_param {
	char *key;
	char *value; /* "" when the key came without '=' */
};

/* A query string decoded like url.ParseQuery: '+' is a space, %XX decoded,
 * keys may repeat (tag, node-meta), order kept. */
struct hquery {
	struct hquery_param v[HQUERY_PARAMS_MAX];
	size_t n;
};

/* The value of one hex digit, or -1. */
int hquery_hexval(char c);

/* Percent-decodes s (NUL-terminated) into a fresh string; plus_is_space for
 * query components. NULL when an escape is malformed ("%zz", "%4"). The
 * result may hold NUL bytes only if the input had "%00": *len_out tells. */
char *hquery_unescape(const char *s, bool plus_is_space, size_t *len_out);

/* 0, or -1 with a reason for a malformed string (too long, bad escape,
 * too many parameters). Fills q; hquery_fini frees it. */
int hquery_parse(struct hquery *q, const char *raw, const char **why);
void hquery_fini(struct hquery *q);

/* First value of key, or NULL when absent. */
const char *hquery_get(const struct hquery *q, const char *key);
bool hquery_has(const struct hquery *q, const char *key);
/* Values of a repeated key: call with i = 0, 1, ... until NULL. */
const char *hquery_get_nth(const struct hquery *q, const char *key, size_t i);

/* Go strconv.ParseBool: 1 t T TRUE true True 0 f F FALSE false False;
 * -1 otherwise. */
int hquery_parse_bool(const char *s, bool *out);
/* Decimal uint64 with no sign, space or overflow; -1 otherwise. */
int hquery_parse_u64(const char *s, uint64_t *out);

#endif

/* fuzz_filter.c: libFuzzer target for filter_parse()/filter_match(): refused or matched, no crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "daemons/httpd/filter.h"

/* Room for "not (" expr ")" around a longest expression. */
#define FUZZ_FILTER_WRAP (FILTER_EXPR_MAX + 8)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input is an expression, a newline, and a JSON document (an empty
 * object when it is not a JSON object). */
static struct json_object *fuzz_filter_doc(const uint8_t *p, size_t n)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *doc = NULL;

	if (tok == NULL)
		abort();
	if (n > 0)
		doc = json_tokener_parse_ex(tok, (const char *)p,
		                            (int)(n > INT32_MAX ? INT32_MAX : n));
	if (doc == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		doc = json_object_new_object();
	}
	json_tokener_free(tok);
	return doc;
}

/* An expression that parses matches exactly when "not (expr)" does not,
 * and gives the same answer twice (evaluation keeps no state). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t elen = nl != NULL ? (size_t)(nl - data) : size;
	struct json_object *doc;
	struct filter *f, *g;
	char err[256], *expr, *wrapped;
	bool m;

	doc = nl != NULL ? fuzz_filter_doc(nl + 1, size - elen - 1) : json_object_new_object();
	expr = malloc(elen + 1);
	if (expr == NULL)
		abort();
	memcpy(expr, data, elen);
	expr[elen] = '\0';

	f = filter_parse(expr, err, sizeof(err));
	if (f == NULL) {
		if (err[0] == '\0')
			abort(); /* a refusal always says why */
	} else {
		m = filter_match(f, doc);
		if (filter_match(f, doc) != m)
			abort();
		wrapped = malloc(FUZZ_FILTER_WRAP);
		if (wrapped == NULL)
			abort();
		snprintf(wrapped, FUZZ_FILTER_WRAP, "not (%s)", expr);
		g = filter_parse(wrapped, err, sizeof(err));
		if (g != NULL && filter_match(g, doc) == m)
			abort();
		filter_free(g);
		free(wrapped);
		filter_free(f);
	}
	free(expr);
	json_object_put(doc);
	return 0;
}

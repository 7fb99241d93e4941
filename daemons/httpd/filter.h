/* filter.h: the ?filter expression language (go-bexpr subset, spec/http-api.md §1.8), pure. */
#ifndef MUSTER_HTTPD_FILTER_H
#define MUSTER_HTTPD_FILTER_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

/* Limits (habit 7). */
#define FILTER_EXPR_MAX  4096 /* bytes of one expression */
#define FILTER_NODES_MAX 256  /* operators and matchers in one expression */
#define FILTER_DEPTH_MAX 32   /* nesting of parentheses and not */

struct filter;

/* Parses expr; NULL with a parser message in err (httpd prefixes it with
 * "Failed to create boolean expression evaluator: ", Consul's 500). An
 * empty expression is an error here: Consul does not filter at all when
 * ?filter= is empty, so httpd should not call this for "". */
struct filter *filter_parse(const char *expr, char *err, size_t err_size);
void filter_free(struct filter *f);

/* Whether one element of a result (the JSON object httpd is about to send:
 * selectors are its JSON field names, dotted, or Meta["key"]) matches.
 * Allocates nothing itself (glibc's regexec may, for "matches"); the
 * recursion is bounded by FILTER_DEPTH_MAX. */
bool filter_match(const struct filter *f, struct json_object *elem);

#endif

/* gofmt.h: Go's text forms that clients and errors expect: strconv.Quote, time.ParseDuration, Duration.String. */
#ifndef MUSTER_GOFMT_H
#define MUSTER_GOFMT_H

#include <stddef.h>
#include <stdint.h>

/* strconv.Quote (Go's %q) of n bytes of s, for error texts; malloc'd. */
char *gofmt_quote(const char *s, size_t n);
/* The same into out (cap bytes, cut short to fit); the length written. */
size_t gofmt_quote_buf(const char *s, size_t n, char *out, size_t cap);

/* time.ParseDuration: "10s", "1.5s", "0.001s", "1h30m", "-2m", "0"; a bare
 * number other than 0 is an error. 0, or -1 with why set to Go's text
 * ("time: invalid duration \"x\"", valid until the next call). */
int gofmt_dur_parse_ns(const char *s, int64_t *ns, const char **why);
/* time.Duration.String: "0s", "1.5s", "1m0s", "72h0m0s", "15ms", "2µs". */
#define GOFMT_DUR_STR_MAX 40
void gofmt_dur_format_ns(int64_t ns, char out[GOFMT_DUR_STR_MAX]);

#endif

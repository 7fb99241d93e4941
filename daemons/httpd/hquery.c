/* hquery.c: request paths and query strings as Go's net/url reads them (spec/http-api.md §0, §1.3). */
#include "hquery.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

int hquery_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *hquery_unescape_n(const char *s, size_t n, bool plus_is_space, size_t *len_out)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			int hi = i + 1 < n ? hquery_hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? hquery_hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			out[o++] = ' ';
		} else {
			out[o++] = c;
		}
	}
	out[o] = '\0';
	if (len_out != NULL)
		*len_out = o;
	return out;
}

char *hquery_unescape(const char *s, bool plus_is_space, size_t *len_out)
{
	return hquery_unescape_n(s, strlen(s), plus_is_space, len_out);
}

/* url.ParseQuery: pairs split on '&' (Go 1.17+ refuses ';', and so do we by
 * keeping it literal), key and value unescaped with '+' as space. */
int hquery_parse(struct hquery *q, const char *raw, const char **why)
{
	memset(q, 0, sizeof(*q));
	if (raw == NULL || raw[0] == '\0')
		return 0;
	size_t total = strlen(raw);
	if (total > HQUERY_LEN_MAX) {
		*why = "query string too long";
		return -1;
	}
	const char *p = raw;
	while (*p != '\0') {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		if (n > 0) {
			if (q->n == HQUERY_PARAMS_MAX) {
				*why = "too many query parameters";
				hquery_fini(q);
				return -1;
			}
			const char *eq = memchr(p, '=', n);
			size_t kn = eq ? (size_t)(eq - p) : n;
			char *k = hquery_unescape_n(p, kn, true, NULL);
			char *v = eq ? hquery_unescape_n(eq + 1, n - kn - 1, true, NULL) : xstrdup("");
			if (k == NULL || v == NULL) {
				free(k);
				free(v);
				*why = "invalid URL escape in query";
				hquery_fini(q);
				return -1;
			}
			q->v[q->n].key = k;
			q->v[q->n].value = v;
			q->n++;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return 0;
}

void hquery_fini(struct hquery *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->v[i].key);
		free(q->v[i].value);
	}
	q->n = 0;
}

const char *hquery_get_nth(const struct hquery *q, const char *key, size_t nth)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->v[i].key, key) == 0 && nth-- == 0)
			return q->v[i].value;
	return NULL;
}

const char *hquery_get(const struct hquery *q, const char *key)
{
	return hquery_get_nth(q, key, 0);
}

bool hquery_has(const struct hquery *q, const char *key)
{
	return hquery_get(q, key) != NULL;
}

int hquery_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int hquery_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

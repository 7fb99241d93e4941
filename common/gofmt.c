/* gofmt.c: Go's text forms that clients and errors expect: strconv.Quote, time.ParseDuration, Duration.String. */
#include "gofmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Go keeps a duration in an int64 of nanoseconds. */
#define GOFMT_DUR_LIMIT ((uint64_t)1 << 63)
#define GOFMT_NS_PER_S  1000000000ull
#define GOFMT_ERR_MAX   512

struct gofmt_unit {
	const char *name;
	uint64_t ns;
};

/* time.ParseDuration's unitMap; "µs" as U+00B5 and U+03BC. */
static const struct gofmt_unit gofmt_units[] = {
    {"ns", 1ull},
    {"us", 1000ull},
    {"\xc2\xb5s", 1000ull},
    {"\xce\xbcs", 1000ull},
    {"ms", 1000000ull},
    {"s", GOFMT_NS_PER_S},
    {"m", 60 * GOFMT_NS_PER_S},
    {"h", 3600 * GOFMT_NS_PER_S},
};

/* The text of the last failed parse: why points here (httpd is one
 * thread). */
static char gofmt_dur_why[GOFMT_ERR_MAX];

/* strconv.Quote's form, as Go's %q prints it: printable ASCII as is, '"'
 * and '\\' escaped, \n \t \r, other control bytes as \xNN; bytes of 0x80
 * and above pass through (Go keeps printable UTF-8 too). */
char *gofmt_quote(const char *s, size_t n)
{
	char *out = xmalloc(4 * n + 3), *o = out;

	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c == '\n' || c == '\t' || c == '\r') {
			*o++ = '\\';
			*o++ = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
		} else if (c < 0x20 || c == 0x7f) {
			o += sprintf(o, "\\x%02x", c);
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

/* gofmt_quote into a bounded buffer (error texts), cut short to fit. */
size_t gofmt_quote_buf(const char *s, size_t n, char *out, size_t cap)
{
	char *q = gofmt_quote(s, n);
	size_t w = strlen(q);

	if (w >= cap)
		w = cap - 1;
	memcpy(out, q, w);
	out[w] = '\0';
	free(q);
	return w;
}

static int gofmt_dur_err(const char **why, const char *what, const char *orig)
{
	char q[GOFMT_ERR_MAX / 2];

	gofmt_quote_buf(orig, strlen(orig), q, sizeof(q));
	snprintf(gofmt_dur_why, sizeof(gofmt_dur_why), "time: %s %s", what, q);
	if (why != NULL)
		*why = gofmt_dur_why;
	return -1;
}

static bool gofmt_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ or "0", summed in
 * nanoseconds with Go's overflow checks; a fraction is scaled in floating
 * point exactly as Go does it, so "1.1s" and "0.3h" round the same way. */
int gofmt_dur_parse_ns(const char *orig, int64_t *ns, const char **why)
{
	const char *s = orig;
	uint64_t total = 0;
	bool neg = false;

	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	if (*s == '\0')
		return gofmt_dur_err(why, "invalid duration", orig);
	while (*s != '\0') {
		uint64_t v = 0, f = 0, unit = 0;
		double scale = 1;
		bool pre = false, post = false, f_over = false;
		const char *u;
		size_t ulen;

		if (*s != '.' && !gofmt_is_digit(*s))
			return gofmt_dur_err(why, "invalid duration", orig);
		for (; gofmt_is_digit(*s); s++) {
			pre = true;
			if (v > GOFMT_DUR_LIMIT / 10)
				return gofmt_dur_err(why, "invalid duration", orig);
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > GOFMT_DUR_LIMIT)
				return gofmt_dur_err(why, "invalid duration", orig);
		}
		if (*s == '.') {
			s++;
			for (; gofmt_is_digit(*s); s++) {
				uint64_t y;

				post = true;
				if (f_over)
					continue;
				if (f > (GOFMT_DUR_LIMIT - 1) / 10) {
					f_over = true;
					continue;
				}
				y = f * 10 + (uint64_t)(*s - '0');
				if (y > GOFMT_DUR_LIMIT) {
					f_over = true;
					continue;
				}
				f = y;
				scale *= 10;
			}
		}
		if (!pre && !post)
			return gofmt_dur_err(why, "invalid duration", orig);
		for (u = s; *s != '\0' && *s != '.' && !gofmt_is_digit(*s); s++)
			;
		ulen = (size_t)(s - u);
		if (ulen == 0)
			return gofmt_dur_err(why, "missing unit in duration", orig);
		for (size_t i = 0; i < sizeof(gofmt_units) / sizeof(gofmt_units[0]); i++) {
			if (strlen(gofmt_units[i].name) == ulen &&
			    memcmp(gofmt_units[i].name, u, ulen) == 0)
				unit = gofmt_units[i].ns;
		}
		if (unit == 0) {
			char qu[64], what[128];

			gofmt_quote_buf(u, ulen, qu, sizeof(qu));
			snprintf(what, sizeof(what), "unknown unit %s in duration", qu);
			return gofmt_dur_err(why, what, orig);
		}
		if (v > GOFMT_DUR_LIMIT / unit)
			return gofmt_dur_err(why, "invalid duration", orig);
		v *= unit;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > GOFMT_DUR_LIMIT)
				return gofmt_dur_err(why, "invalid duration", orig);
		}
		total += v;
		if (total > GOFMT_DUR_LIMIT)
			return gofmt_dur_err(why, "invalid duration", orig);
	}
	if (neg) {
		*ns = total == GOFMT_DUR_LIMIT ? INT64_MIN : -(int64_t)total;
		return 0;
	}
	if (total > GOFMT_DUR_LIMIT - 1)
		return gofmt_dur_err(why, "invalid duration", orig);
	*ns = (int64_t)total;
	return 0;
}

/* Writes the fraction v % 10^prec backwards before *w without trailing
 * zeros (and without the point when it is 0); returns v / 10^prec. */
static uint64_t gofmt_dur_frac(char *buf, size_t *w, uint64_t v, int prec)
{
	bool print = false;

	for (int i = 0; i < prec; i++) {
		unsigned digit = (unsigned)(v % 10);

		print = print || digit != 0;
		if (print)
			buf[--*w] = (char)('0' + digit);
		v /= 10;
	}
	if (print)
		buf[--*w] = '.';
	return v;
}

static void gofmt_dur_int(char *buf, size_t *w, uint64_t v)
{
	do {
		buf[--*w] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
}

/* time.Duration.String: "1h2m3.5s" from the largest unit down; below a
 * second one unit with a fraction ("1.5ms", "2µs", "7ns"). Built from the
 * end of a 40-byte scratch, like Go's 32-byte one. */
void gofmt_dur_format_ns(int64_t ns, char out[40])
{
	char buf[40];
	size_t w = sizeof(buf);
	bool neg = ns < 0;
	uint64_t u = neg ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

	buf[--w] = '\0';
	if (u < GOFMT_NS_PER_S) {
		int prec;

		buf[--w] = 's';
		if (u == 0) {
			buf[--w] = '0';
			memcpy(out, buf + w, sizeof(buf) - w);
			return;
		}
		if (u < 1000) {
			prec = 0;
			buf[--w] = 'n';
		} else if (u < 1000000) {
			prec = 3;
			buf[--w] = '\xb5'; /* U+00B5 MICRO SIGN, as Go writes it */
			buf[--w] = '\xc2';
		} else {
			prec = 6;
			buf[--w] = 'm';
		}
		u = gofmt_dur_frac(buf, &w, u, prec);
		gofmt_dur_int(buf, &w, u);
	} else {
		buf[--w] = 's';
		u = gofmt_dur_frac(buf, &w, u, 9);
		gofmt_dur_int(buf, &w, u % 60);
		u /= 60;
		if (u > 0) {
			buf[--w] = 'm';
			gofmt_dur_int(buf, &w, u % 60);
			u /= 60;
			if (u > 0) {
				buf[--w] = 'h';
				gofmt_dur_int(buf, &w, u);
			}
		}
	}
	if (neg)
		buf[--w] = '-';
	memcpy(out, buf + w, sizeof(buf) - w);
}

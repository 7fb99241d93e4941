/* conf_dur.c: Go durations (time.ParseDuration, Duration.String) in whole milliseconds. */
#include "conf.h"

#include <stdio.h>
#include <string.h>

/* Go keeps a duration in an int64 of nanoseconds. */
#define CONF_DUR_NS_LIMIT ((uint64_t)1 << 63)
#define CONF_NS_PER_MS    1000000ull
#define CONF_DUR_SYNTAX   "expected a duration such as \"30s\" or \"1h30m\""

struct conf_dur_unit {
	const char *name;
	uint64_t ns;
};

/* time.ParseDuration's units; "µs" is U+00B5 or U+03BC in UTF-8. */
static const struct conf_dur_unit conf_dur_units[] = {
    {"ns", 1ull},       {"us", 1000ull},      {"\xc2\xb5s", 1000ull}, {"\xce\xbcs", 1000ull},
    {"ms", 1000000ull}, {"s", 1000000000ull}, {"m", 60000000000ull},  {"h", 3600000000000ull},
};

static bool conf_dur_is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int conf_dur_fail(const char **why, const char *msg)
{
	if (why != NULL)
		*why = msg;
	return -1;
}

/* Go's grammar: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, or "0". Each number with
 * its unit is added up in nanoseconds, then rounded up to whole ms. */
int conf_dur_parse(const char *s, uint64_t *ms, const char **why)
{
	uint64_t total = 0;
	bool neg = false;

	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (*s == '\0')
		return conf_dur_fail(why, CONF_DUR_SYNTAX);
	while (*s != '\0') {
		uint64_t v = 0, frac = 0, scale = 1, unit = 0, part;
		bool digits = false;
		const char *u;
		size_t ulen, i;

		if (!conf_dur_is_digit(*s) && *s != '.')
			return conf_dur_fail(why, CONF_DUR_SYNTAX);
		while (conf_dur_is_digit(*s)) {
			uint64_t dig = (uint64_t)(*s - '0');

			if (v > (CONF_DUR_NS_LIMIT - dig) / 10)
				return conf_dur_fail(why, "duration out of range");
			v = v * 10 + dig;
			digits = true;
			s++;
		}
		if (*s == '.') {
			s++;
			while (conf_dur_is_digit(*s)) {
				/* Digits past 18 cannot matter at ns precision. */
				if (scale < 1000000000000000000ull) {
					frac = frac * 10 + (uint64_t)(*s - '0');
					scale *= 10;
				}
				digits = true;
				s++;
			}
		}
		if (!digits)
			return conf_dur_fail(why, CONF_DUR_SYNTAX);
		u = s;
		while (*s != '\0' && *s != '.' && !conf_dur_is_digit(*s))
			s++;
		ulen = (size_t)(s - u);
		if (ulen == 0)
			return conf_dur_fail(why, "missing duration unit (ns, us, ms, s, m or h)");
		for (i = 0; i < sizeof(conf_dur_units) / sizeof(conf_dur_units[0]); i++) {
			if (strlen(conf_dur_units[i].name) == ulen &&
			    memcmp(conf_dur_units[i].name, u, ulen) == 0) {
				unit = conf_dur_units[i].ns;
				break;
			}
		}
		if (unit == 0)
			return conf_dur_fail(why, "unknown duration unit (ns, us, ms, s, m or h)");
		if (v > CONF_DUR_NS_LIMIT / unit)
			return conf_dur_fail(why, "duration out of range");
		part = v * unit;
		if (frac > 0) {
			/* As Go: the fraction times the unit, in floating point. */
			part += (uint64_t)((double)frac * ((double)unit / (double)scale));
		}
		if (part > CONF_DUR_NS_LIMIT || total > CONF_DUR_NS_LIMIT - part)
			return conf_dur_fail(why, "duration out of range");
		total += part;
	}
	if (neg && total != 0)
		return conf_dur_fail(why, "negative durations are not allowed");
	if (total == CONF_DUR_NS_LIMIT)
		return conf_dur_fail(why, "duration out of range");
	*ms = total / CONF_NS_PER_MS + (total % CONF_NS_PER_MS != 0 ? 1 : 0);
	return 0;
}

/* Duration.String() of a whole number of milliseconds: "0s", "250ms",
 * "1.5s", "1m0s", "72h0m0s", "1h0m0.001s". */
void conf_dur_format(uint64_t ms, char *out)
{
	unsigned long long h, m, s, frac;
	int n = 0;

	if (ms == 0) {
		snprintf(out, CONF_DUR_STR_MAX, "0s");
		return;
	}
	if (ms < 1000) {
		snprintf(out, CONF_DUR_STR_MAX, "%llums", (unsigned long long)ms);
		return;
	}
	h = ms / 3600000;
	m = ms / 60000 % 60;
	s = ms / 1000 % 60;
	frac = ms % 1000;
	if (h > 0)
		n += snprintf(out + n, CONF_DUR_STR_MAX - (size_t)n, "%lluh", h);
	if (h > 0 || m > 0)
		n += snprintf(out + n, CONF_DUR_STR_MAX - (size_t)n, "%llum", m);
	n += snprintf(out + n, CONF_DUR_STR_MAX - (size_t)n, "%llu", s);
	if (frac > 0) {
		char digits[4];

		snprintf(digits, sizeof(digits), "%03llu", frac);
		for (int i = 2; i > 0 && digits[i] == '0'; i--)
			digits[i] = '\0';
		n += snprintf(out + n, CONF_DUR_STR_MAX - (size_t)n, ".%s", digits);
	}
	snprintf(out + n, CONF_DUR_STR_MAX - (size_t)n, "s");
}

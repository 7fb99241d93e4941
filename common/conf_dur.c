/* conf_dur.c: Go durations (time.ParseDuration, Duration.String) in whole milliseconds. */
#include "conf.h"

#include "gofmt.h"

#include <stdint.h>
#include <stdio.h>

#define CONF_NS_PER_MS 1000000ull

/* Go's time.ParseDuration (common/gofmt.c) with Go's error texts, then
 * the config's rules: no negative durations, whole ms with a positive
 * remainder rounded up so that a positive duration never becomes 0. */
int conf_dur_parse(const char *s, uint64_t *ms, const char **why)
{
	int64_t ns;

	if (gofmt_dur_parse_ns(s, &ns, why) != 0)
		return -1;
	if (ns < 0) {
		if (why != NULL)
			*why = "negative durations are not allowed";
		return -1;
	}
	*ms = (uint64_t)ns / CONF_NS_PER_MS + ((uint64_t)ns % CONF_NS_PER_MS != 0 ? 1 : 0);
	return 0;
}

/* Duration.String() of a whole number of milliseconds: "0s", "250ms",
 * "1.5s", "1m0s", "72h0m0s", "1h0m0.001s". */
void conf_dur_format(uint64_t ms, char *out)
{
	char s[GOFMT_DUR_STR_MAX];

	/* Beyond int64 ns Go cannot hold it either; clamp as Go would refuse. */
	if (ms > (uint64_t)INT64_MAX / CONF_NS_PER_MS)
		ms = (uint64_t)INT64_MAX / CONF_NS_PER_MS;
	gofmt_dur_format_ns((int64_t)(ms * CONF_NS_PER_MS), s);
	snprintf(out, CONF_DUR_STR_MAX, "%s", s);
}

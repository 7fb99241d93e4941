/* cflag.c: Go `flag` package parsing for the Consul-style subcommands (spec §2.1). */
#include "cflag.h"

#include "gofmt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const struct cflag *cflag_find(const struct cflag *flags, const char *name, size_t len)
{
	for (const struct cflag *f = flags; f->name != NULL; f++)
		if (strlen(f->name) == len && memcmp(f->name, name, len) == 0)
			return f;
	return NULL;
}

int cflag_parse_bool(const char *s, bool *out)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False", NULL};

	for (int i = 0; t[i] != NULL; i++) {
		if (strcmp(s, t[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, f[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static const char *cflag_type_name(enum cflag_type t)
{
	switch (t) {
	case CFLAG_BOOL:
		return "";
	case CFLAG_INT:
		return "=<int>";
	case CFLAG_U64:
		return "=<uint>";
	case CFLAG_DUR:
		return "=<duration>";
	case CFLAG_MAP:
		return "=<key=value>";
	default:
		return "=<string>";
	}
}

void cflag_usage(const struct cflag *flags, const char *help, FILE *f)
{
	fprintf(f, "%s\n", help);
	if (flags[0].name == NULL)
		return;
	fprintf(f, "\nOptions:\n");
	for (const struct cflag *fl = flags; fl->name != NULL; fl++)
		fprintf(f, "\n  -%s%s\n     %s\n", fl->name, cflag_type_name(fl->type),
		        fl->usage ? fl->usage : "");
}

/* Go's failf: the error, then the usage, on stderr. */
static enum cflag_result cflag_fail(const struct cflag *flags, const char *help, const char *msg)
{
	fprintf(stderr, "%s\n", msg);
	cflag_usage(flags, help, stderr);
	return CFLAG_ERR;
}

/* Sets one non-bool value; NULL, or Go's reason ("parse error",
 * "value out of range", or the map flag's own text in why). */
static const char *cflag_set(const struct cflag *f, const char *v, char *why, size_t why_size)
{
	char *end;
	const char *dwhy;

	errno = 0;
	switch (f->type) {
	case CFLAG_STR:
		*(const char **)f->ptr = v;
		return NULL;
	case CFLAG_INT: {
		long long n = strtoll(v, &end, 0);
		if (*v == '\0' || *end != '\0')
			return "parse error";
		if (errno == ERANGE)
			return "value out of range";
		*(int64_t *)f->ptr = n;
		return NULL;
	}
	case CFLAG_U64: {
		unsigned long long n;
		if (*v == '-' || *v == '+')
			return "parse error";
		n = strtoull(v, &end, 0);
		if (*v == '\0' || *end != '\0')
			return "parse error";
		if (errno == ERANGE)
			return "value out of range";
		*(uint64_t *)f->ptr = n;
		return NULL;
	}
	case CFLAG_DUR:
		if (gofmt_dur_parse_ns(v, (int64_t *)f->ptr, &dwhy) != 0)
			return "parse error";
		return NULL;
	case CFLAG_MAP:
	case CFLAG_LIST: {
		struct cflag_list *l = f->ptr;
		/* Consul's FlagMapValue.Set */
		if (f->type == CFLAG_MAP && strchr(v, '=') == NULL) {
			snprintf(why, why_size, "Missing \"=\" value in argument: %s", v);
			return why;
		}
		if (l->n >= CFLAG_LIST_MAX) {
			snprintf(why, why_size, "more than %d values", CFLAG_LIST_MAX);
			return why;
		}
		l->v[l->n++] = v;
		return NULL;
	}
	default:
		return "parse error";
	}
}

enum cflag_result cflag_parse(const struct cflag *flags, int argc, char **argv, const char *help,
                              int *first)
{
	char msg[1024], why[256], q[512];
	int i = 1;

	while (i < argc) {
		const char *s = argv[i], *name, *eq, *value = NULL;
		const struct cflag *f;
		size_t nlen;

		if (strlen(s) < 2 || s[0] != '-')
			break;
		name = s + 1;
		if (s[1] == '-') {
			if (s[2] == '\0') { /* "--" ends the flags */
				i++;
				break;
			}
			name = s + 2;
		}
		if (name[0] == '\0' || name[0] == '-' || name[0] == '=') {
			snprintf(msg, sizeof(msg), "bad flag syntax: %s", s);
			return cflag_fail(flags, help, msg);
		}
		i++;
		eq = strchr(name + 1, '=');
		nlen = eq ? (size_t)(eq - name) : strlen(name);
		if (eq != NULL)
			value = eq + 1;
		f = cflag_find(flags, name, nlen);
		if (f == NULL) {
			if ((nlen == 1 && name[0] == 'h') ||
			    (nlen == 4 && memcmp(name, "help", 4) == 0)) {
				cflag_usage(flags, help, stdout);
				return CFLAG_HELP;
			}
			snprintf(msg, sizeof(msg), "flag provided but not defined: -%.*s",
			         (int)nlen, name);
			return cflag_fail(flags, help, msg);
		}
		if (f->type == CFLAG_BOOL) {
			if (value != NULL && cflag_parse_bool(value, f->ptr) != 0) {
				gofmt_quote_buf(value, strlen(value), q, sizeof(q));
				snprintf(msg, sizeof(msg),
				         "invalid boolean value %s for -%s: parse error", q,
				         f->name);
				return cflag_fail(flags, help, msg);
			}
			if (value == NULL)
				*(bool *)f->ptr = true;
			continue;
		}
		if (value == NULL) {
			if (i >= argc) {
				snprintf(msg, sizeof(msg), "flag needs an argument: -%s", f->name);
				return cflag_fail(flags, help, msg);
			}
			value = argv[i++];
		}
		const char *err = cflag_set(f, value, why, sizeof(why));
		if (err != NULL) {
			gofmt_quote_buf(value, strlen(value), q, sizeof(q));
			snprintf(msg, sizeof(msg), "invalid value %s for flag -%s: %s", q, f->name,
			         err);
			return cflag_fail(flags, help, msg);
		}
	}
	*first = i;
	return CFLAG_OK;
}

/* rex.c: RE2 patterns (Consul's regexp syntax) compiled as bounded POSIX extended regexes. */
#include "rex.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/*
 * Consul's regexes are Go's (RE2 syntax): ?filter's "matches" (http-api
 * §1.8) and the node, service and tag filters of user events (§8.2). We
 * compile with POSIX extended regexes (glibc), which agree on the common
 * subset. This pass maps the RE2 forms people write that ERE spells
 * differently: a leading (?i), (?:...),
 * \d \D \s \S \w \W (outside and, for \d \s \w, inside brackets), \A and
 * \z, \n \t \r \f \v, and a "{" that starts no repeat count (a literal in
 * RE2). Anything else is left to regcomp, so an RE2-only construct is a
 * parse error rather than a silent mismatch. A match only needs
 * match/no-match, so RE2's lazy quantifiers (*? +? ?? {n}?) drop their "?".
 *
 * The pattern comes from any HTTP client or gossip peer, and glibc copies a repeated
 * group once per repetition ("a+" is "aa*", "x{3}" is "xxx"), so nested
 * repetitions multiply: "(((a+)+)+)..." or "(a{999}){999}" would take
 * gigabytes in regcomp. Like RE2 we refuse what RE2 refuses (a repetition
 * of a repetition, a count above 1000, backreferences, which also make
 * glibc's matcher exponential) and, beyond RE2, bound an estimate of the
 * compiled size and the nesting of groups.
 *
 * Matching time: glibc's regexec tries an unanchored pattern at every
 * start, which is quadratic in the subject for patterns that run long
 * ("(a|aa)*z", or "(.{0,1000})(.{0,1000})z": 30 s on a 4 KB check output).
 * We compile P as ^(.|[^.])*(P) instead: one start, one pass of glibc's
 * lazily built DFA, linear in the subject for a given pattern. (".|[^.]"
 * is any byte: "." does not match NUL, and a JSON string may hold one.)
 * With the size bound the worst we measured is ~50 ms on a 4 KB subject.
 */

/* Estimated compiled size: atoms plus the copies repetitions make.
 * RE2 allows a{1000}; beyond that, DFA states cost in time (see above). */
#define REX_COST_MAX 1100
/* RE2's largest repeat count. */
#define REX_REPEAT_MAX 1000
/* Nested groups (glibc parses them recursively). */
#define REX_GROUPS_MAX 32
/* Longest expansion: \W (2 bytes) becomes [^[:alnum:]_] (13). */
#define REX_GROWTH 7
/* The single-start wrapper around the pattern. */
#define REX_PREFIX "^(.|[^.])*("
#define REX_SUFFIX ")"
#define REX_WRAP   (sizeof(REX_PREFIX) + sizeof(REX_SUFFIX))

struct rex {
	const char *in;
	size_t len, i;
	char *out;
	size_t o;
	char *why; /* the refusal, for the parse error */
	size_t why_size;
	bool failed;
	unsigned d; /* open groups */
	/* Per open group (0 is the whole pattern): cost so far, cost of the
	 * last atom (0: none, a repetition has nothing to repeat), and
	 * whether that atom is already repeated (1) or repeated lazily (2). */
	uint64_t total[REX_GROUPS_MAX + 1];
	uint64_t last[REX_GROUPS_MAX + 1];
	int rep[REX_GROUPS_MAX + 1];
};

static void rex_fail(struct rex *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void rex_fail(struct rex *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return;
	r->failed = true;
	va_start(ap, fmt);
	vsnprintf(r->why, r->why_size, fmt, ap);
	va_end(ap);
}

static uint64_t rex_sat(uint64_t v)
{
	return v > REX_COST_MAX + 1 ? REX_COST_MAX + 1 : v;
}

static void rex_total(struct rex *r, uint64_t total)
{
	r->total[r->d] = rex_sat(total);
	if (r->total[r->d] > REX_COST_MAX)
		rex_fail(r,
		         "pattern is too large once repetitions are expanded "
		         "(more than %d)",
		         REX_COST_MAX);
}

static void rex_atom(struct rex *r, uint64_t cost)
{
	rex_total(r, r->total[r->d] + cost);
	r->last[r->d] = cost;
	r->rep[r->d] = 0;
}

/* Applies a repetition making copies copies of the last atom; lazy marks
 * a following "?" (dropped by the caller). */
static void rex_repeat(struct rex *r, uint64_t copies, const char *op)
{
	uint64_t l = r->last[r->d], cost;

	if (l == 0) {
		rex_fail(r, "missing argument to repetition operator %s", op);
		return;
	}
	if (r->rep[r->d] != 0) {
		rex_fail(r, "invalid nested repetition operator %s", op);
		return;
	}
	cost = rex_sat(l * copies + 1);
	rex_total(r, r->total[r->d] - l + cost);
	r->last[r->d] = cost;
	r->rep[r->d] = 1;
}

static void rex_put(struct rex *r, const char *s, size_t n)
{
	assert(r->o + n <= r->len * REX_GROWTH + REX_WRAP);
	memcpy(r->out + r->o, s, n);
	r->o += n;
}

static const char *rex_class(char c, bool in_bracket)
{
	switch (c) {
	case 'd':
		return in_bracket ? "0-9" : "[0-9]";
	case 'D':
		return in_bracket ? NULL : "[^0-9]";
	case 's':
		return in_bracket ? "[:space:]" : "[[:space:]]";
	case 'S':
		return in_bracket ? NULL : "[^[:space:]]";
	case 'w':
		return in_bracket ? "[:alnum:]_" : "[[:alnum:]_]";
	case 'W':
		return in_bracket ? NULL : "[^[:alnum:]_]";
	default:
		return NULL;
	}
}

static char rex_ctl(char c)
{
	switch (c) {
	case 'n':
		return '\n';
	case 't':
		return '\t';
	case 'r':
		return '\r';
	case 'f':
		return '\f';
	case 'v':
		return '\v';
	default:
		return 0;
	}
}

/* A bracket expression from its "[" to its "]", one atom. */
static void rex_bracket(struct rex *r)
{
	const char *in = r->in;

	rex_put(r, "[", 1);
	r->i++;
	if (r->i < r->len && in[r->i] == '^')
		rex_put(r, in + r->i++, 1);
	if (r->i < r->len && in[r->i] == ']')
		rex_put(r, in + r->i++, 1); /* a leading "]" is a literal */
	while (r->i < r->len && !r->failed) {
		char c = in[r->i];

		if (c == ']') {
			rex_put(r, "]", 1);
			r->i++;
			rex_atom(r, 1);
			return;
		}
		if (c == '[' && r->i + 1 < r->len &&
		    (in[r->i + 1] == ':' || in[r->i + 1] == '=' || in[r->i + 1] == '.')) {
			/* [:alpha:] and friends go through whole. */
			char kind = in[r->i + 1];
			size_t j = r->i + 2;

			while (j + 1 < r->len && !(in[j] == kind && in[j + 1] == ']'))
				j++;
			if (j + 1 < r->len) {
				rex_put(r, in + r->i, j + 2 - r->i);
				r->i = j + 2;
				continue;
			}
		}
		if (c == '\\' && r->i + 1 < r->len) {
			char e = in[r->i + 1], ctl = rex_ctl(e);
			const char *cls = rex_class(e, true);

			if (cls != NULL) {
				rex_put(r, cls, strlen(cls));
			} else if (ctl != 0) {
				rex_put(r, &ctl, 1);
			} else if (isalnum((unsigned char)e)) {
				rex_fail(r, "\\%c inside [] is not supported", e);
			} else {
				/* \\ \. \- inside []: POSIX has no escapes there, so
				 * the character itself is the literal. */
				rex_put(r, &e, 1);
			}
			r->i += 2;
			continue;
		}
		rex_put(r, &c, 1);
		r->i++;
	}
	/* Unterminated: regcomp reports it. */
}

/* "{n}", "{n,}" or "{n,m}" at i: true with the counts (m = -1 for
 * "{n,}"), false when it is no repeat count (then "{" is a literal). */
static bool rex_interval(const struct rex *r, long *n, long *m, size_t *end)
{
	size_t j = r->i + 1;
	long a = 0, b = -1;
	bool digits = false;

	while (j < r->len && isdigit((unsigned char)r->in[j])) {
		a = a > REX_REPEAT_MAX ? a : a * 10 + (r->in[j] - '0');
		digits = true;
		j++;
	}
	if (!digits)
		return false;
	if (j < r->len && r->in[j] == ',') {
		j++;
		if (j < r->len && isdigit((unsigned char)r->in[j])) {
			b = 0;
			while (j < r->len && isdigit((unsigned char)r->in[j])) {
				b = b > REX_REPEAT_MAX ? b : b * 10 + (r->in[j] - '0');
				j++;
			}
		}
	} else {
		b = a;
	}
	if (j >= r->len || r->in[j] != '}')
		return false;
	*n = a;
	*m = b;
	*end = j + 1;
	return true;
}

static void rex_step(struct rex *r)
{
	const char *in = r->in;
	char c = in[r->i];
	const char *cls;
	long n, m;
	size_t end;

	switch (c) {
	case '[':
		rex_bracket(r);
		return;
	case '(':
		if (r->d == REX_GROUPS_MAX) {
			rex_fail(r, "groups nest deeper than %d", REX_GROUPS_MAX);
			return;
		}
		rex_put(r, "(", 1);
		r->i += r->i + 2 < r->len && in[r->i + 1] == '?' && in[r->i + 2] == ':' ? 3 : 1;
		r->d++;
		r->total[r->d] = 0;
		r->last[r->d] = 0;
		r->rep[r->d] = 0;
		return;
	case ')':
		if (r->d == 0) {
			/* glibc would read it as a literal, and it would close
			 * our wrapper; RE2 refuses it too. */
			rex_fail(r, "unexpected )");
			return;
		}
		rex_put(r, ")", 1);
		r->i++;
		r->d--;
		rex_atom(r, rex_sat(r->total[r->d + 1] + 1));
		return;
	case '|':
		rex_put(r, "|", 1);
		r->i++;
		rex_total(r, r->total[r->d] + 1);
		r->last[r->d] = 0;
		r->rep[r->d] = 0;
		return;
	case '*':
	case '+':
	case '?':
		r->i++;
		if (c == '?' && r->rep[r->d] == 1) {
			r->rep[r->d] = 2; /* lazy: the same strings match */
			return;
		}
		rex_put(r, &c, 1);
		rex_repeat(r, c == '+' ? 2 : 1, c == '*' ? "*" : c == '+' ? "+" : "?");
		return;
	case '{':
		if (!rex_interval(r, &n, &m, &end)) {
			rex_put(r, "\\{", 2);
			r->i++;
			rex_atom(r, 1);
			return;
		}
		if (n > REX_REPEAT_MAX || m > REX_REPEAT_MAX || (m >= 0 && m < n)) {
			rex_fail(r, "invalid repeat count %.*s", (int)(end - r->i), in + r->i);
			return;
		}
		rex_put(r, in + r->i, end - r->i);
		r->i = end;
		/* glibc makes m copies, or n and a starred one for "{n,}". */
		rex_repeat(r, (uint64_t)(m >= 0 ? m : n + 1), "{}");
		return;
	case '\\':
		if (r->i + 1 >= r->len) {
			/* It would escape our wrapper's ")". */
			rex_fail(r, "trailing backslash");
			return;
		}
		c = in[r->i + 1];
		r->i += 2;
		if ((cls = rex_class(c, false)) != NULL) {
			rex_put(r, cls, strlen(cls));
		} else if (c == 'A' || c == 'z') {
			rex_put(r, c == 'A' ? "^" : "$", 1);
		} else if (c >= '1' && c <= '9') {
			rex_fail(r, "backreferences (\\%c) are not supported", c);
			return;
		} else if (rex_ctl(c) != 0) {
			char ctl = rex_ctl(c);

			rex_put(r, &ctl, 1);
		} else {
			rex_put(r, "\\", 1);
			rex_put(r, &c, 1);
		}
		rex_atom(r, 1);
		return;
	default:
		break;
	}
	rex_put(r, &c, 1);
	r->i++;
	rex_atom(r, 1);
}

/* The ERE for an RE2 pattern, or NULL with the reason in why. */
char *rex_translate(const char *in, size_t len, int *cflags, char *why, size_t why_size)
{
	struct rex r;

	memset(&r, 0, sizeof(r));
	r.in = in;
	r.len = len;
	r.out = xmalloc(len * REX_GROWTH + REX_WRAP);
	r.why = why;
	r.why_size = why_size;
	if (len >= 4 && memcmp(in, "(?i)", 4) == 0) {
		*cflags |= REG_ICASE;
		r.i = 4;
	}
	rex_put(&r, REX_PREFIX, strlen(REX_PREFIX));
	while (r.i < len && !r.failed)
		rex_step(&r);
	if (r.failed) {
		free(r.out);
		return NULL;
	}
	rex_put(&r, REX_SUFFIX, strlen(REX_SUFFIX));
	r.out[r.o] = '\0';
	return r.out;
}

int rex_compile(regex_t *re, const char *pat, size_t len, char *why, size_t why_size)
{
	int cflags = REG_EXTENDED | REG_NOSUB, rc;
	char *ere;

	if (memchr(pat, '\0', len) != NULL) {
		snprintf(why, why_size, "contains NUL");
		return -1;
	}
	ere = rex_translate(pat, len, &cflags, why, why_size);
	if (ere == NULL)
		return -1;
	rc = regcomp(re, ere, cflags);
	free(ere);
	if (rc != 0) {
		regerror(rc, re, why, why_size);
		return -1;
	}
	return 0;
}

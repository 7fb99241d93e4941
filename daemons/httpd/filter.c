/* filter.c: the ?filter expression language (go-bexpr subset, http-api.md §1.8): parse, match. */
#include "filter.h"
#include "hquery.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "rex.h"
#include "xalloc.h"

/*
 * Grammar (§1.8; precedence not > and > or, keywords case-sensitive as in
 * go-bexpr):
 *
 *   expr  := and ("or" and)*
 *   and   := unary ("and" unary)*
 *   unary := "not" unary | "(" expr ")" | match
 *   match := sel ("==" | "!=") value | sel "is" ["not"] "empty"
 *          | value ["not"] "in" sel | sel ["not"] ("contains" | "matches") value
 *   sel   := ident ("." ident | "[" string "]")*     ident := [A-Za-z][A-Za-z0-9_]*
 *   value := "double quoted" | `raw` | -?(0|[1-9][0-9]*)(.[0-9]+)? | sel (its text)
 *
 * Where muster differs: go-bexpr requires whitespace around "and", "or",
 * "not", "in"...; a keyword here only needs a word boundary. go-bexpr checks
 * selectors and values against the Go type of the element; we have only the
 * JSON, so an unknown selector is a null value and values compare with the
 * JSON value's text (spec: "Every scalar or string-map field of the element
 * is allowed").
 *
 * The AST is a flat array of nodes linked by index; "and"/"or" are n-ary so
 * a long chain does not make a deep tree. Evaluation recursion is bounded by
 * the nesting the parser allows: at most two node levels per level of
 * parentheses or "not" (FILTER_DEPTH_MAX), plus the match.
 */

/* Segments of one selector (Service.Meta.env is three). */
#define FILTER_SEL_SEGS_MAX 32
/* Arrays inside arrays a selector flattens before it gives up on a branch. */
#define FILTER_WALK_DEPTH_MAX FILTER_DEPTH_MAX
/* Room for an int64/uint64 or a %.17g double as text. */
#define FILTER_NUM_TEXT 40

enum filter_kind { FILTER_OR, FILTER_AND, FILTER_NOT, FILTER_MATCH };

/* Each operator has a negated twin ("!=", "not in", "is not empty",
 * "not contains", "not matches"): same test, result inverted. */
enum filter_op { FILTER_OP_EQ, FILTER_OP_IN, FILTER_OP_EMPTY, FILTER_OP_MATCHES };

struct filter_seg {
	char *name; /* NUL-terminated; never contains NUL (checked at parse) */
};

struct filter_node {
	enum filter_kind kind;
	int child; /* first operand of or/and/not, -1 for a match */
	int next;  /* next operand of the parent or/and, -1 at the end */

	/* FILTER_MATCH only. */
	enum filter_op op;
	bool negate;
	struct filter_seg *segs;
	size_t nsegs;
	char *value; /* NUL-terminated copy; value_len may count inner NULs */
	size_t value_len;
	int value_bool;   /* Go strconv.ParseBool of value: 1, 0, or -1 */
	bool value_isnum; /* value is a decimal number (for JSON doubles) */
	double value_num;
	bool has_re;
	regex_t re;
};

struct filter {
	struct filter_node *nodes;
	size_t n;
	size_t cap;
	int root;
};

struct filter_parser {
	const char *s;
	size_t len;
	size_t pos;
	char *err;
	size_t err_size;
	bool failed;
	unsigned depth;
	unsigned terms;
	struct filter *f;
};

/* --- errors --- */

static void filter_errf(struct filter_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The first error wins: it is the one nearest the cause. */
static void filter_errf(struct filter_parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	if (p->err == NULL || p->err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err, p->err_size, fmt, ap);
	va_end(ap);
}

static void filter_expected(struct filter_parser *p, size_t at, const char *what)
{
	if (at >= p->len)
		filter_errf(p, "syntax error at offset %zu: expected %s, found end of expression",
		            at, what);
	else if (isprint((unsigned char)p->s[at]))
		filter_errf(p, "syntax error at offset %zu: expected %s, found '%c'", at, what,
		            p->s[at]);
	else
		filter_errf(p, "syntax error at offset %zu: expected %s, found byte 0x%02x", at,
		            what, (unsigned char)p->s[at]);
}

/* --- nodes --- */

static int filter_node_new(struct filter_parser *p, enum filter_kind kind)
{
	struct filter *f = p->f;
	struct filter_node *n;

	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->nodes = xrealloc(f->nodes, f->cap * sizeof(*f->nodes));
	}
	n = &f->nodes[f->n];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->child = -1;
	n->next = -1;
	n->value_bool = -1;
	return (int)f->n++;
}

/* Every match and every and/or/not keyword is a term (FILTER_NODES_MAX);
 * the node array never holds more nodes than terms. */
static bool filter_term(struct filter_parser *p)
{
	if (++p->terms > FILTER_NODES_MAX) {
		filter_errf(p, "expression has more than %d operators and matches",
		            FILTER_NODES_MAX);
		return false;
	}
	return true;
}

/* --- lexing helpers --- */

static bool filter_is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool filter_is_ident(char c)
{
	return filter_is_ident_start(c) || (c >= '0' && c <= '9') || c == '_';
}

static void filter_skip_ws(struct filter_parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
	                           p->s[p->pos] == '\r' || p->s[p->pos] == '\n'))
		p->pos++;
}

/* Length of the identifier at pos, 0 if none. */
static size_t filter_word_len(const struct filter_parser *p, size_t at)
{
	size_t n = 0;

	if (at >= p->len || !filter_is_ident_start(p->s[at]))
		return 0;
	while (at + n < p->len && filter_is_ident(p->s[at + n]))
		n++;
	return n;
}

static bool filter_is_kw_at(const struct filter_parser *p, size_t at, const char *kw)
{
	size_t n = filter_word_len(p, at);

	return n == strlen(kw) && memcmp(p->s + at, kw, n) == 0;
}

/* Skips whitespace and the keyword if it is next (whole word). */
static bool filter_accept_kw(struct filter_parser *p, const char *kw)
{
	filter_skip_ws(p);
	if (!filter_is_kw_at(p, p->pos, kw))
		return false;
	p->pos += strlen(kw);
	return true;
}

/* --- string literals --- */

static size_t filter_utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One escape after a backslash, as Go's strconv.Unquote reads it (bexpr
 * unquotes its double-quoted strings with it): \a \b \f \n \r \t \v \\ \"
 * \' \xHH \ooo \uHHHH \UHHHHHHHH. Appends to out; -1 on a bad escape. */
static int filter_escape(struct filter_parser *p, char *out, size_t *olen)
{
	size_t at = p->pos; /* the backslash */
	char c;
	int digits = 0, base = 16;
	uint32_t v = 0;

	if (at + 1 >= p->len) {
		filter_expected(p, at + 1, "an escape character");
		return -1;
	}
	c = p->s[at + 1];
	p->pos = at + 2;
	switch (c) {
	case 'a':
		out[(*olen)++] = '\a';
		return 0;
	case 'b':
		out[(*olen)++] = '\b';
		return 0;
	case 'f':
		out[(*olen)++] = '\f';
		return 0;
	case 'n':
		out[(*olen)++] = '\n';
		return 0;
	case 'r':
		out[(*olen)++] = '\r';
		return 0;
	case 't':
		out[(*olen)++] = '\t';
		return 0;
	case 'v':
		out[(*olen)++] = '\v';
		return 0;
	case '\\':
	case '"':
	case '\'':
		out[(*olen)++] = c;
		return 0;
	case 'x':
		digits = 2;
		break;
	case 'u':
		digits = 4;
		break;
	case 'U':
		digits = 8;
		break;
	default:
		if (c >= '0' && c <= '7') {
			digits = 3;
			base = 8;
			p->pos = at + 1;
			break;
		}
		filter_errf(p, "syntax error at offset %zu: unknown escape sequence \"\\%c\"", at,
		            isprint((unsigned char)c) ? c : '?');
		return -1;
	}
	for (int i = 0; i < digits; i++) {
		int d = p->pos < p->len ? hquery_hexval(p->s[p->pos]) : -1;

		if (d < 0 || d >= base) {
			filter_expected(p, p->pos, base == 8 ? "an octal digit" : "a hex digit");
			return -1;
		}
		v = v * (uint32_t)base + (uint32_t)d;
		p->pos++;
	}
	if (c == 'x' || base == 8) {
		/* A byte, not a code point (Go: \377 is the byte 0xff). */
		if (v > 0xff) {
			filter_errf(p, "syntax error at offset %zu: octal escape above \\377", at);
			return -1;
		}
		out[(*olen)++] = (char)v;
		return 0;
	}
	if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
		filter_errf(p, "syntax error at offset %zu: escape is not a valid code point", at);
		return -1;
	}
	*olen += filter_utf8_put(out + *olen, v);
	return 0;
}

/* A "double quoted" or `raw` string at pos into a fresh NUL-terminated
 * copy. The decoded text is never longer than the literal (the longest
 * escape result, 4 UTF-8 bytes, comes from a 6- or 10-byte escape). */
static char *filter_string(struct filter_parser *p, size_t *len_out)
{
	size_t start = p->pos, olen = 0;
	char q = p->s[p->pos];
	char *out = xmalloc(p->len - start + 1);

	assert(q == '"' || q == '`');
	p->pos++;
	for (;;) {
		char c;

		if (p->pos >= p->len) {
			filter_errf(p, "syntax error at offset %zu: string is not terminated",
			            start);
			break;
		}
		c = p->s[p->pos];
		if (c == q) {
			p->pos++;
			out[olen] = '\0';
			*len_out = olen;
			return out;
		}
		if (q == '"' && c == '\\') {
			if (filter_escape(p, out, &olen) != 0)
				break;
			continue;
		}
		if (q == '"' && c == '\n') {
			/* Go: a double-quoted string cannot span lines. */
			filter_errf(p, "syntax error at offset %zu: newline in string", p->pos);
			break;
		}
		out[olen++] = c;
		p->pos++;
	}
	free(out);
	return NULL;
}

/* --- selectors and values --- */

static void filter_segs_free(struct filter_seg *segs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(segs[i].name);
	free(segs);
}

/* sel := ident ("." ident | "[" string "]")*. Returns the segments (NULL
 * on error) and leaves pos after the selector. */
static struct filter_seg *filter_selector(struct filter_parser *p, size_t *nsegs)
{
	struct filter_seg *segs = xcalloc(FILTER_SEL_SEGS_MAX, sizeof(*segs));
	size_t n = 0, wl;

	wl = filter_word_len(p, p->pos);
	if (wl == 0) {
		filter_expected(p, p->pos, "a selector");
		goto fail;
	}
	for (;;) {
		if (n == FILTER_SEL_SEGS_MAX) {
			filter_errf(p,
			            "syntax error at offset %zu: selector has more than %d parts",
			            p->pos, FILTER_SEL_SEGS_MAX);
			goto fail;
		}
		if (wl > 0) {
			segs[n].name = xmalloc(wl + 1);
			memcpy(segs[n].name, p->s + p->pos, wl);
			segs[n].name[wl] = '\0';
			p->pos += wl;
		} else {
			/* Meta["some-key"]: whitespace allowed inside the brackets. */
			size_t klen;
			char *key;

			p->pos++;
			filter_skip_ws(p);
			if (p->pos >= p->len || (p->s[p->pos] != '"' && p->s[p->pos] != '`')) {
				filter_expected(p, p->pos, "a quoted map key after \"[\"");
				goto fail;
			}
			key = filter_string(p, &klen);
			if (key == NULL)
				goto fail;
			if (strlen(key) != klen) {
				filter_errf(p, "syntax error at offset %zu: map key contains NUL",
				            p->pos);
				free(key);
				goto fail;
			}
			segs[n].name = key;
			filter_skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ']') {
				n++;
				filter_expected(p, p->pos, "\"]\"");
				goto fail;
			}
			p->pos++;
		}
		n++;
		if (p->pos < p->len && p->s[p->pos] == '.') {
			wl = filter_word_len(p, p->pos + 1);
			if (wl == 0) {
				filter_expected(p, p->pos + 1, "a field name after \".\"");
				goto fail;
			}
			p->pos++;
		} else if (p->pos < p->len && p->s[p->pos] == '[') {
			wl = 0;
		} else {
			break;
		}
	}
	*nsegs = n;
	return segs;
fail:
	filter_segs_free(segs, n);
	return NULL;
}

/* Go strconv.ParseBool, plus any case of true/false (bexpr is lenient with
 * "True"; we are a little more). */
static int filter_parse_bool(const char *v)
{
	static const char *const yes[] = {"1", "t", "T"};
	static const char *const no[] = {"0", "f", "F"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(v, yes[i]) == 0)
			return 1;
		if (strcmp(v, no[i]) == 0)
			return 0;
	}
	if (strcasecmp(v, "true") == 0)
		return 1;
	if (strcasecmp(v, "false") == 0)
		return 0;
	return -1;
}

/* Fills value, value_len and the precomputed bool/number forms of node. */
static void filter_set_value(struct filter_parser *p, int idx, char *v, size_t len)
{
	struct filter_node *n = &p->f->nodes[idx];
	char *end;

	n->value = v;
	n->value_len = len;
	if (strlen(v) != len)
		return; /* inner NUL: only a string can equal it */
	n->value_bool = filter_parse_bool(v);
	if (len > 0 &&
	    (isdigit((unsigned char)v[0]) || v[0] == '-' || v[0] == '+' || v[0] == '.')) {
		n->value_num = strtod(v, &end);
		n->value_isnum = *end == '\0' && !isnan(n->value_num);
	}
}

/* value := string | number | selector text. Returns a fresh copy, or NULL
 * with the error set. */
static char *filter_value(struct filter_parser *p, const char *after, size_t *len)
{
	size_t start;
	char c;

	filter_skip_ws(p);
	start = p->pos;
	if (p->pos >= p->len) {
		filter_errf(p, "syntax error at offset %zu: expected a value after %s", p->pos,
		            after);
		return NULL;
	}
	c = p->s[p->pos];
	if (c == '"' || c == '`')
		return filter_string(p, len);
	if (c == '-' || (c >= '0' && c <= '9')) {
		/* -?(0|[1-9][0-9]*)(.[0-9]+)? then whitespace, ")" or the end. */
		char *out;

		if (c == '-')
			p->pos++;
		if (p->pos < p->len && p->s[p->pos] == '0') {
			p->pos++;
		} else if (p->pos < p->len && p->s[p->pos] >= '1' && p->s[p->pos] <= '9') {
			while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos]))
				p->pos++;
		} else {
			filter_expected(p, p->pos, "a digit");
			return NULL;
		}
		if (p->pos < p->len && p->s[p->pos] == '.') {
			p->pos++;
			if (p->pos >= p->len || !isdigit((unsigned char)p->s[p->pos])) {
				filter_expected(p, p->pos, "a digit after \".\"");
				return NULL;
			}
			while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos]))
				p->pos++;
		}
		if (p->pos < p->len && !strchr(" \t\r\n)", p->s[p->pos])) {
			filter_expected(p, p->pos, "whitespace, \")\" or the end after a number");
			return NULL;
		}
		*len = p->pos - start;
		out = xmalloc(*len + 1);
		memcpy(out, p->s + start, *len);
		out[*len] = '\0';
		return out;
	}
	if (filter_is_ident_start(c)) {
		/* A bare word is a string: `Checks.Status == passing`. */
		struct filter_seg *segs;
		size_t nsegs;
		char *out;

		segs = filter_selector(p, &nsegs);
		if (segs == NULL)
			return NULL;
		filter_segs_free(segs, nsegs);
		*len = p->pos - start;
		out = xmalloc(*len + 1);
		memcpy(out, p->s + start, *len);
		out[*len] = '\0';
		return out;
	}
	filter_errf(p, "syntax error at offset %zu: expected a value after %s", p->pos, after);
	return NULL;
}

/* --- regular expressions: common/rex.c --- */

static bool filter_compile_re(struct filter_parser *p, int idx, size_t at)
{
	struct filter_node *n = &p->f->nodes[idx];
	char msg[128];

	if (strlen(n->value) != n->value_len) {
		filter_errf(p, "invalid regular expression at offset %zu: contains NUL", at);
		return false;
	}
	if (rex_compile(&n->re, n->value, n->value_len, msg, sizeof(msg)) != 0) {
		filter_errf(p, "invalid regular expression at offset %zu: %s", at, msg);
		return false;
	}
	n->has_re = true;
	return true;
}

/* --- the parser --- */

static int filter_or(struct filter_parser *p);

/* match := after a selector, or a value followed by ["not"] "in" sel. */
static int filter_match_node(struct filter_parser *p)
{
	struct filter_seg *segs = NULL;
	size_t nsegs = 0, vlen = 0, start, op_at;
	char *v = NULL;
	enum filter_op op;
	bool negate = false, value_first = false;
	const char *opname;
	int idx;
	char c;

	filter_skip_ws(p);
	start = p->pos;
	if (p->pos >= p->len) {
		filter_expected(p, p->pos, "a selector, a value or \"(\"");
		return -1;
	}
	c = p->s[p->pos];
	if (filter_is_kw_at(p, p->pos, "and") || filter_is_kw_at(p, p->pos, "or")) {
		/* A clearer message than reading "or" as a field name. */
		filter_expected(p, p->pos, "a selector, a value or \"(\"");
		return -1;
	}
	if (c == '"' || c == '`' || c == '-' || (c >= '0' && c <= '9')) {
		v = filter_value(p, "start", &vlen);
		if (v == NULL)
			return -1;
		value_first = true;
	} else if (filter_is_ident_start(c)) {
		segs = filter_selector(p, &nsegs);
		if (segs == NULL)
			return -1;
	} else {
		filter_expected(p, p->pos, "a selector, a value or \"(\"");
		return -1;
	}

	filter_skip_ws(p);
	op_at = p->pos;
	if (!value_first && p->pos + 1 < p->len && p->s[p->pos + 1] == '=' &&
	    (p->s[p->pos] == '=' || p->s[p->pos] == '!')) {
		negate = p->s[p->pos] == '!';
		opname = negate ? "\"!=\"" : "\"==\"";
		p->pos += 2;
		op = FILTER_OP_EQ;
	} else if (!value_first && filter_accept_kw(p, "is")) {
		negate = filter_accept_kw(p, "not");
		if (!filter_accept_kw(p, "empty")) {
			filter_expected(p, p->pos,
			                negate ? "\"empty\"" : "\"empty\" or \"not empty\"");
			goto fail;
		}
		op = FILTER_OP_EMPTY;
		opname = NULL;
	} else {
		negate = filter_accept_kw(p, "not");
		if (!value_first && filter_accept_kw(p, "contains")) {
			op = FILTER_OP_IN;
			opname = "\"contains\"";
		} else if (!value_first && filter_accept_kw(p, "matches")) {
			op = FILTER_OP_MATCHES;
			opname = "\"matches\"";
		} else if (filter_accept_kw(p, "in")) {
			op = FILTER_OP_IN;
			opname = NULL;
			if (!value_first) {
				/* The bare word was the value: `v1 in Service.Tags`. */
				vlen = op_at - start;
				while (vlen > 0 && strchr(" \t\r\n", p->s[start + vlen - 1]))
					vlen--;
				v = xmalloc(vlen + 1);
				memcpy(v, p->s + start, vlen);
				v[vlen] = '\0';
				filter_segs_free(segs, nsegs);
				segs = NULL;
			}
			filter_skip_ws(p);
			segs = filter_selector(p, &nsegs);
			if (segs == NULL)
				goto fail;
		} else if (value_first) {
			filter_expected(p, p->pos, negate ? "\"in\"" : "\"in\" or \"not in\"");
			goto fail;
		} else if (negate) {
			filter_expected(p, p->pos,
			                "\"contains\", \"matches\" or \"in\" after \"not\"");
			goto fail;
		} else {
			filter_expected(p, p->pos,
			                "\"==\", \"!=\", \"is\", \"contains\", \"matches\", \"in\" "
			                "or \"not\"");
			goto fail;
		}
	}
	if (opname != NULL) {
		size_t vat;

		filter_skip_ws(p);
		vat = p->pos;
		v = filter_value(p, opname, &vlen);
		if (v == NULL)
			goto fail;
		op_at = vat;
	}
	if (!filter_term(p))
		goto fail;

	idx = filter_node_new(p, FILTER_MATCH);
	p->f->nodes[idx].op = op;
	p->f->nodes[idx].negate = negate;
	p->f->nodes[idx].segs = segs;
	p->f->nodes[idx].nsegs = nsegs;
	if (v != NULL)
		filter_set_value(p, idx, v, vlen);
	if (op == FILTER_OP_MATCHES && !filter_compile_re(p, idx, op_at))
		return -1; /* the node owns segs and v now */
	return idx;
fail:
	if (segs != NULL)
		filter_segs_free(segs, nsegs);
	free(v);
	return -1;
}

static bool filter_enter(struct filter_parser *p)
{
	if (++p->depth > FILTER_DEPTH_MAX) {
		filter_errf(p, "expression nests parentheses and \"not\" deeper than %d levels",
		            FILTER_DEPTH_MAX);
		return false;
	}
	return true;
}

static int filter_unary(struct filter_parser *p)
{
	int idx, child;

	filter_skip_ws(p);
	if (filter_is_kw_at(p, p->pos, "not")) {
		p->pos += 3;
		if (!filter_enter(p) || !filter_term(p))
			return -1;
		child = filter_unary(p);
		p->depth--;
		if (child < 0)
			return -1;
		idx = filter_node_new(p, FILTER_NOT);
		p->f->nodes[idx].child = child;
		return idx;
	}
	if (p->pos < p->len && p->s[p->pos] == '(') {
		p->pos++;
		if (!filter_enter(p))
			return -1;
		child = filter_or(p);
		p->depth--;
		if (child < 0)
			return -1;
		filter_skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != ')') {
			filter_expected(p, p->pos, "\"and\", \"or\" or \")\"");
			return -1;
		}
		p->pos++;
		return child;
	}
	return filter_match_node(p);
}

/* One level of an n-ary "and" or "or": operand (kw operand)*. */
static int filter_chain(struct filter_parser *p, enum filter_kind kind)
{
	const char *kw = kind == FILTER_OR ? "or" : "and";
	int first, last, idx;

	first = kind == FILTER_OR ? filter_chain(p, FILTER_AND) : filter_unary(p);
	if (first < 0)
		return -1;
	if (!filter_accept_kw(p, kw))
		return first;
	idx = filter_node_new(p, kind);
	p->f->nodes[idx].child = first;
	last = first;
	do {
		int next;

		if (!filter_term(p))
			return -1;
		next = kind == FILTER_OR ? filter_chain(p, FILTER_AND) : filter_unary(p);
		if (next < 0)
			return -1;
		p->f->nodes[last].next = next;
		last = next;
	} while (filter_accept_kw(p, kw));
	return idx;
}

static int filter_or(struct filter_parser *p)
{
	return filter_chain(p, FILTER_OR);
}

struct filter *filter_parse(const char *expr, char *err, size_t err_size)
{
	struct filter_parser p;
	struct filter *f;

	memset(&p, 0, sizeof(p));
	p.err = err;
	p.err_size = err_size;
	if (err != NULL && err_size > 0)
		err[0] = '\0';
	if (expr == NULL)
		expr = "";
	p.s = expr;
	p.len = strnlen(expr, FILTER_EXPR_MAX + 1);
	if (p.len > FILTER_EXPR_MAX) {
		filter_errf(&p, "expression is longer than %d bytes", FILTER_EXPR_MAX);
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	p.f = f;
	f->root = filter_or(&p);
	if (f->root >= 0) {
		filter_skip_ws(&p);
		if (p.pos < p.len)
			filter_expected(&p, p.pos, "\"and\", \"or\" or the end of the expression");
	}
	if (p.failed || f->root < 0) {
		if (!p.failed)
			filter_errf(&p, "syntax error");
		filter_free(f);
		return NULL;
	}
	return f;
}

void filter_free(struct filter *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++) {
		struct filter_node *n = &f->nodes[i];

		filter_segs_free(n->segs, n->nsegs);
		free(n->value);
		if (n->has_re)
			regfree(&n->re);
	}
	free(f->nodes);
	free(f);
}

/* --- evaluation --- */

/* One selector's walk over an element: the values it reaches are fed to
 * the match's test one by one; the walk stops at the first hit. */
struct filter_walk {
	const struct filter_node *m;
	bool hit;
};

/* Exact key first, then case-insensitively (JSON field names of the
 * element; Go's decoder matches fields the same way, §1.3). */
static struct json_object *filter_lookup(struct json_object *obj, const char *name, bool *found)
{
	struct json_object *v = NULL;

	if (json_object_object_get_ex(obj, name, &v)) {
		*found = true;
		return v;
	}
	json_object_object_foreach(obj, key, val)
	{
		if (strcasecmp(key, name) == 0) {
			*found = true;
			return val;
		}
	}
	*found = false;
	return NULL;
}

/* Decimal text of a JSON integer, exact over int64 and uint64 (json-c
 * keeps either; get_int64 clamps a large uint64 to INT64_MAX). */
static size_t filter_int_text(struct json_object *v, char *buf)
{
	int64_t i = json_object_get_int64(v);

	if (i == INT64_MAX)
		return (size_t)snprintf(buf, FILTER_NUM_TEXT, "%" PRIu64,
		                        json_object_get_uint64(v));
	return (size_t)snprintf(buf, FILTER_NUM_TEXT, "%" PRId64, i);
}

/* Shortest %g text that reads back as the same double. */
static size_t filter_double_text(double d, char *buf)
{
	int n = snprintf(buf, FILTER_NUM_TEXT, "%.15g", d);

	if (strtod(buf, NULL) != d)
		n = snprintf(buf, FILTER_NUM_TEXT, "%.17g", d);
	return (size_t)n;
}

/* The text a scalar compares as: strings as they are, numbers in decimal,
 * booleans "true"/"false", null "". Not for objects or arrays. */
static const char *filter_scalar_text(struct json_object *v, char *buf, size_t *len)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		*len = 0;
		return "";
	case json_type_string:
		*len = (size_t)json_object_get_string_len(v);
		return json_object_get_string(v);
	case json_type_boolean:
		*len = json_object_get_boolean(v) ? 4 : 5;
		return json_object_get_boolean(v) ? "true" : "false";
	case json_type_int:
		*len = filter_int_text(v, buf);
		return buf;
	case json_type_double:
		*len = filter_double_text(json_object_get_double(v), buf);
		return buf;
	default:
		*len = 0;
		return NULL;
	}
}

static bool filter_eq(const struct filter_node *m, struct json_object *v)
{
	char buf[FILTER_NUM_TEXT];
	const char *t;
	size_t len;

	switch (json_object_get_type(v)) {
	case json_type_boolean:
		return m->value_bool >= 0 && m->value_bool == (json_object_get_boolean(v) ? 1 : 0);
	case json_type_double:
		return m->value_isnum && m->value_num == json_object_get_double(v);
	case json_type_object:
	case json_type_array:
		return false;
	default:
		t = filter_scalar_text(v, buf, &len);
		return t != NULL && len == m->value_len && memcmp(t, m->value, len) == 0;
	}
}

static bool filter_has_key(const struct filter_node *m, struct json_object *obj)
{
	return strlen(m->value) == m->value_len && json_object_object_get_ex(obj, m->value, NULL);
}

static bool filter_re_text(const struct filter_node *m, const char *t, size_t len)
{
	regmatch_t range[1];

	/* REG_STARTEND: a JSON string may hold a NUL; match all of it. */
	range[0].rm_so = 0;
	range[0].rm_eo = (regoff_t)len;
	return regexec(&m->re, t, 1, range, REG_STARTEND) == 0;
}

/* The match's test on one value the selector reached. flat: the value
 * came out of an array, so it is one element of a collection. */
static bool filter_test(const struct filter_node *m, struct json_object *v, bool flat)
{
	enum json_type type = json_object_get_type(v);
	char buf[FILTER_NUM_TEXT];
	const char *t;
	size_t len;

	switch (m->op) {
	case FILTER_OP_EQ:
		return filter_eq(m, v);
	case FILTER_OP_IN:
		/* Membership in a collection or an object's keys; a lone string
		 * (or null, as "") is searched for the value as a substring. */
		if (type == json_type_object)
			return filter_has_key(m, v);
		if (!flat && (type == json_type_string || type == json_type_null)) {
			t = filter_scalar_text(v, buf, &len);
			return memmem(t, len, m->value, m->value_len) != NULL;
		}
		return filter_eq(m, v);
	case FILTER_OP_EMPTY:
		/* The test is "is not empty": any element of a collection makes
		 * it so; a lone value is empty when "", null, or {}. */
		if (flat)
			return true;
		if (type == json_type_null)
			return false;
		if (type == json_type_string)
			return json_object_get_string_len(v) > 0;
		if (type == json_type_object)
			return json_object_object_length(v) > 0;
		return true;
	case FILTER_OP_MATCHES:
		if (type == json_type_object) {
			json_object_object_foreach(v, key, val)
			{
				(void)val;
				if (filter_re_text(m, key, strlen(key)))
					return true;
			}
			return false;
		}
		t = filter_scalar_text(v, buf, &len);
		return t != NULL && filter_re_text(m, t, len);
	}
	return false;
}

/*
 * Follows the selector from segment seg on v. An array anywhere on the
 * path (Checks.Status on a health entry whose Checks is a list) or at its
 * end (Service.Tags) is flattened: each element continues the walk, and the
 * values reached form a collection. A segment that is missing, or lands
 * on a non-object, gives null (bexpr has the Go field; we have only JSON).
 * Recursion happens only per array level, at most FILTER_WALK_DEPTH_MAX.
 */
static void filter_walk(struct filter_walk *w, struct json_object *v, size_t seg, bool flat,
                        unsigned depth)
{
	const struct filter_node *m = w->m;

	for (;;) {
		if (json_object_is_type(v, json_type_array)) {
			size_t n = json_object_array_length(v);

			if (depth >= FILTER_WALK_DEPTH_MAX)
				return;
			for (size_t i = 0; i < n && !w->hit; i++)
				filter_walk(w, json_object_array_get_idx(v, i), seg, true,
				            depth + 1);
			return;
		}
		if (seg == m->nsegs)
			break;
		if (json_object_is_type(v, json_type_object)) {
			bool found;

			v = filter_lookup(v, m->segs[seg].name, &found);
		} else {
			v = NULL;
		}
		seg++;
		if (v == NULL)
			break;
	}
	if (filter_test(m, v, flat))
		w->hit = true;
}

static bool filter_eval_match(const struct filter_node *m, struct json_object *elem)
{
	struct filter_walk w = {.m = m, .hit = false};
	bool result;

	filter_walk(&w, elem, 0, false, 0);
	/* EQ: some value equals; IN: some value has it; MATCHES: some value
	 * matches; EMPTY: no value is non-empty. The negated forms invert:
	 * "!=" on a collection means no element equals. */
	result = m->op == FILTER_OP_EMPTY ? !w.hit : w.hit;
	return m->negate ? !result : result;
}

static bool filter_eval(const struct filter *f, int idx, struct json_object *elem)
{
	const struct filter_node *n = &f->nodes[idx];
	int c;

	switch (n->kind) {
	case FILTER_AND:
		for (c = n->child; c >= 0; c = f->nodes[c].next)
			if (!filter_eval(f, c, elem))
				return false;
		return true;
	case FILTER_OR:
		for (c = n->child; c >= 0; c = f->nodes[c].next)
			if (filter_eval(f, c, elem))
				return true;
		return false;
	case FILTER_NOT:
		return !filter_eval(f, n->child, elem);
	case FILTER_MATCH:
		return filter_eval_match(n, elem);
	}
	return false;
}

bool filter_match(const struct filter *f, struct json_object *elem)
{
	assert(f != NULL && f->root >= 0);
	return filter_eval(f, f->root, elem);
}

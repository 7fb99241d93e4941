/* test_filter.c: ?filter expressions (http-api.md §1.8): operators, precedence, errors, limits. */
#include "daemons/httpd/filter.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "testutil.h"

/* An agent/catalog service element, with the scalar kinds the filter
 * compares: strings, int64, uint64, doubles, booleans, null, {} and []. */
static const char doc_svc[] =
    "{\"ID\":\"web-1\",\"Service\":\"web\",\"Tags\":[\"v1\",\"primary\"],"
    "\"Meta\":{\"env\":\"prod\",\"some-key\":\"x\",\"Version\":\"2\"},"
    "\"Port\":8080,\"Address\":\"\",\"EnableTagOverride\":false,\"Online\":true,"
    "\"Weights\":{\"Passing\":1,\"Warning\":1},\"Big\":18446744073709551615,"
    "\"Neg\":-42,\"Ratio\":0.5,\"Nothing\":null,\"Empty\":{},\"NoTags\":[],"
    "\"Brace\":\"a{b}\",\"Quote\":\"say "
    "\\\"hi\\\"\",\"Uni\":\"h\\u00e9llo\",\"Path\":\"C:\\\\tmp\"}";

/* A /v1/health/service entry: Checks is a list, so Checks.Status flattens. */
static const char doc_health[] =
    "{\"Node\":{\"Node\":\"n1\",\"Address\":\"10.0.0.1\",\"Meta\":{\"os\":\"linux\"}},"
    "\"Service\":{\"ID\":\"web-1\",\"Service\":\"web\",\"Tags\":[\"v1\"],"
    "\"Meta\":{\"env\":\"prod\"},\"Port\":80},"
    "\"Checks\":[{\"CheckID\":\"serfHealth\",\"Status\":\"passing\",\"ServiceTags\":[]},"
    "{\"CheckID\":\"service:web-1\",\"Status\":\"warning\",\"ServiceTags\":[\"v1\"],"
    "\"Output\":\"HTTP GET: 200 OK\"}]}";

/* The same with no checks: a collection of nothing. */
static const char doc_nochecks[] = "{\"Checks\":[],\"Service\":{\"Service\":\"db\"}}";

struct match_case {
	const char *doc;
	const char *expr;
	bool want;
};

static const struct match_case match_cases[] = {
    /* == and != on strings; bare words are strings; keys fall back to
     * a case-insensitive match. */
    {doc_svc, "Service == \"web\"", true},
    {doc_svc, "Service == web", true},
    {doc_svc, "Service != \"web\"", false},
    {doc_svc, "Service != db", true},
    {doc_svc, "Service == \"Web\"", false},
    {doc_svc, "service == \"web\"", true},
    {doc_svc, "ID == \"web-1\"", true},
    {doc_svc, "ID == web", false},
    /* Numbers compare as their decimal text, uint64-exact; doubles by value. */
    {doc_svc, "Port == 8080", true},
    {doc_svc, "Port == \"8080\"", true},
    {doc_svc, "Port != 80", true},
    {doc_svc, "Port == 8080.0", false},
    {doc_svc, "Big == 18446744073709551615", true},
    {doc_svc, "Big == 18446744073709551614", false},
    {doc_svc, "Big == 9223372036854775807", false},
    {doc_svc, "Neg == -42", true},
    {doc_svc, "Neg == 42", false},
    {doc_svc, "Ratio == 0.5", true},
    {doc_svc, "Ratio == \"0.50\"", true},
    {doc_svc, "Ratio == 0.6", false},
    {doc_svc, "Ratio == half", false},
    {doc_svc, "Weights.Passing == 1", true},
    /* Booleans: Go ParseBool forms and any case of true/false. */
    {doc_svc, "EnableTagOverride == false", true},
    {doc_svc, "EnableTagOverride == False", true},
    {doc_svc, "EnableTagOverride == \"FALSE\"", true},
    {doc_svc, "EnableTagOverride == 0", true},
    {doc_svc, "EnableTagOverride == true", false},
    {doc_svc, "EnableTagOverride != true", true},
    {doc_svc, "Online == tRuE", true},
    {doc_svc, "Online == yes", false},
    /* null and missing fields are "" and empty. */
    {doc_svc, "Nothing == \"\"", true},
    {doc_svc, "Nothing is empty", true},
    {doc_svc, "Missing == \"\"", true},
    {doc_svc, "Missing is empty", true},
    {doc_svc, "Missing == \"x\"", false},
    {doc_svc, "Missing != \"x\"", true},
    {doc_svc, "Missing.Deeper is not empty", false},
    {doc_svc, "Service.Deeper is empty", true},
    {doc_svc, "\"x\" in Missing", false},
    /* is empty / is not empty. */
    {doc_svc, "Address is empty", true},
    {doc_svc, "Address is not empty", false},
    {doc_svc, "Service is empty", false},
    {doc_svc, "Service is not empty", true},
    {doc_svc, "Tags is empty", false},
    {doc_svc, "NoTags is empty", true},
    {doc_svc, "Empty is empty", true},
    {doc_svc, "Meta is not empty", true},
    {doc_svc, "Port is empty", false},
    {doc_svc, "EnableTagOverride is empty", false},
    /* in / contains: membership in a list, keys of a map, substring of a string. */
    {doc_svc, "\"v1\" in Tags", true},
    {doc_svc, "v1 in Tags", true},
    {doc_svc, "\"v\" in Tags", false},
    {doc_svc, "\"v2\" not in Tags", true},
    {doc_svc, "v1 not in Tags", false},
    {doc_svc, "Tags contains \"primary\"", true},
    {doc_svc, "Tags not contains \"primary\"", false},
    {doc_svc, "Tags not contains v3", true},
    {doc_svc, "\"eb\" in Service", true},
    {doc_svc, "Service contains \"we\"", true},
    {doc_svc, "Service not contains \"x\"", true},
    {doc_svc, "\"\" in Service", true},
    {doc_svc, "\"env\" in Meta", true},
    {doc_svc, "\"prod\" in Meta", false},
    {doc_svc, "Meta contains \"some-key\"", true},
    {doc_svc, "Meta not contains \"Env\"", true},
    {doc_svc, "8080 in Port", true},
    /* A list on the right of == / != : any element equals / none does. */
    {doc_svc, "Tags == \"v1\"", true},
    {doc_svc, "Tags != \"v1\"", false},
    {doc_svc, "Tags != \"v3\"", true},
    {doc_svc, "Tags == \"\"", false},
    {doc_svc, "NoTags == \"\"", false},
    {doc_svc, "NoTags != \"x\"", true},
    /* Map indexing, dotted or bracketed, raw or quoted keys. */
    {doc_svc, "Meta.env == prod", true},
    {doc_svc, "Meta[\"env\"] == \"prod\"", true},
    {doc_svc, "Meta[\"some-key\"] == \"x\"", true},
    {doc_svc, "Meta[ \"some-key\" ] == x", true},
    {doc_svc, "Meta[`some-key`] == `x`", true},
    {doc_svc, "Meta.Env == \"prod\"", true},
    {doc_svc, "Meta.version == \"2\"", true},
    {doc_svc, "Meta.version == 2", true},
    {doc_svc, "Meta.missing is empty", true},
    {doc_svc, "Meta[\"missing\"] == \"\"", true},
    /* matches: POSIX ERE with RE2's common spellings translated. */
    {doc_svc, "Service matches \"^w.b$\"", true},
    {doc_svc, "Service matches \"^x\"", false},
    {doc_svc, "Service not matches \"^x\"", true},
    {doc_svc, "Service not matches \"web\"", false},
    {doc_svc, "Tags matches \"^prim\"", true},
    {doc_svc, "Tags not matches \"^v[0-9]$\"", false},
    {doc_svc, "Port matches \"^80[0-9]+$\"", true},
    {doc_svc, "Port matches \"^\\\\d+$\"", true},
    {doc_svc, "ID matches `^\\w+-\\d$`", true},
    {doc_svc, "ID matches `^[\\w]+\\D[\\d]$`", true},
    {doc_svc, "ID matches `^(?:web|db)-1\\z`", true},
    {doc_svc, "Service matches \"(?i)^WEB$\"", true},
    {doc_svc, "Service matches \"^WEB$\"", false},
    {doc_svc, "Meta matches \"^some\"", true},
    {doc_svc, "Nothing matches \"^$\"", true},
    {doc_svc, "Online matches \"^tr\"", true},
    {doc_svc, "Ratio matches \"^0\\\\.5$\"", true},
    {doc_svc, "Service matches \"^we+?b$\"", true},
    {doc_svc, "Service matches \"^w{1}e{1,}?b{0,2}$\"", true},
    {doc_svc, "Service matches \"^((((w))))(e|x)b\"", true},
    {doc_svc, "Brace matches \"^a{b}$\"", true},
    {doc_svc, "Brace matches \"a{\"", true},
    {doc_svc, "Service matches \"(a*)*web\"", true},
    {doc_svc, "Service matches \"\"", true},
    {doc_svc, "Service matches \"x|\"", true},
    {doc_svc, "Service matches \"^(w|x)\"", true},
    {doc_svc, "Service matches \"^eb\"", false},
    {doc_svc, "Service matches \"e$|^x\"", false},
    {doc_svc, "Service matches \"b$|^x\"", true},
    {doc_svc, "Service matches \"a{1000}|w.{0,50}\"", true},
    /* and / or / not, precedence not > and > or, parentheses. */
    {doc_svc, "Service == \"web\" and Port == 8080", true},
    {doc_svc, "Service == \"web\" and Port == 80", false},
    {doc_svc, "Service == \"x\" or Port == 8080", true},
    {doc_svc, "Service == \"x\" or Port == 1", false},
    {doc_svc, "not Service == \"x\"", true},
    {doc_svc, "not Service == \"web\"", false},
    {doc_svc, "Service == \"web\" or Port == 1 and Service == \"x\"", true},
    {doc_svc, "(Service == \"web\" or Port == 1) and Service == \"x\"", false},
    {doc_svc, "not Service == \"x\" and Port == 1", false},
    {doc_svc, "not (Service == \"x\" and Port == 1)", true},
    {doc_svc, "not not Service == \"web\"", true},
    {doc_svc, "not(Service == x)", true},
    {doc_svc, "((Service == \"web\"))", true},
    {doc_svc, "Service==\"web\"and Port==8080", true},
    {doc_svc, "\tService == web\nand\r\nPort == 8080 ", true},
    {doc_svc, "Port == 1 or Port == 2 or Port == 3 or Port == 8080", true},
    {doc_svc, "Port == 8080 and Port == 8080 and Service == web and ID == x", false},
    /* Quoting and escapes (Go strconv.Unquote). */
    {doc_svc, "ID == \"web\\x2d1\"", true},
    {doc_svc, "ID == \"web\\u002d1\"", true},
    {doc_svc, "ID == \"web\\0551\"", true},
    {doc_svc, "Quote == \"say \\\"hi\\\"\"", true},
    {doc_svc, "Quote == `say \"hi\"`", true},
    {doc_svc, "Uni == \"h\\u00e9llo\"", true},
    {doc_svc, "Uni == \"h\\U000000e9llo\"", true},
    {doc_svc, "Uni == \"h\\xc3\\xa9llo\"", true},
    {doc_svc, "Path == \"C:\\\\tmp\"", true},
    {doc_svc, "Path == `C:\\tmp`", true},
    /* Arrays of objects flatten: any element for ==, none for !=. */
    {doc_health, "Checks.Status == passing", true},
    {doc_health, "Checks.Status == critical", false},
    {doc_health, "Checks.Status != critical", true},
    {doc_health, "Checks.Status != warning", false},
    {doc_health, "passing in Checks.Status", true},
    {doc_health, "\"pass\" in Checks.Status", false},
    {doc_health, "Checks.Status contains \"warning\"", true},
    {doc_health, "Checks.Status not contains \"warning\"", false},
    {doc_health, "Checks.Status is empty", false},
    {doc_health, "Checks.Status matches \"^warn\"", true},
    {doc_health, "Checks.Status not matches \"^crit\"", true},
    {doc_health, "Checks.Output == \"\"", true},
    {doc_health, "Checks.ServiceTags contains \"v1\"", true},
    {doc_health, "Checks.ServiceTags is not empty", true},
    {doc_health, "Checks.CheckID == \"service:web-1\"", true},
    {doc_health, "Node.Meta.os == linux", true},
    {doc_health, "Service.Meta.env == prod and Node.Node == n1", true},
    {doc_health, "Service.Tags contains v1 and Service.Port == 80", true},
    {doc_health, "checks.status == PASSING", false},
    {doc_health, "checks.status == passing", true},
    {doc_nochecks, "Checks.Status is empty", true},
    {doc_nochecks, "Checks.Status == \"\"", false},
    {doc_nochecks, "Checks.Status != \"passing\"", true},
    {doc_nochecks, "passing not in Checks.Status", true},
    {doc_nochecks, "Checks is empty and Service.Service == db", true},
};

START_TEST(test_match_table)
{
	const struct match_case *c = &match_cases[_i];
	struct json_object *doc = json_tokener_parse(c->doc);
	struct filter *f;
	char err[256];

	ck_assert_ptr_nonnull(doc);
	f = filter_parse(c->expr, err, sizeof(err));
	ck_assert_msg(f != NULL, "parse %s: %s", c->expr, err);
	ck_assert_msg(filter_match(f, doc) == c->want, "%s: want %s", c->expr,
	              c->want ? "true" : "false");
	/* Evaluation leaves no state behind: the same answer again. */
	ck_assert(filter_match(f, doc) == c->want);
	filter_free(f);
	json_object_put(doc);
}
END_TEST

struct error_case {
	const char *expr;
	const char *want; /* a substring of the message */
};

static const struct error_case error_cases[] = {
    {"", "offset 0: expected a selector, a value or \"(\""},
    {"   ", "offset 3: expected a selector"},
    {"Service", "offset 7: expected \"==\", \"!=\", \"is\""},
    {"Service ==", "syntax error at offset 10: expected a value after \"==\""},
    {"Service == \"web", "offset 11: string is not terminated"},
    {"Service == `web", "string is not terminated"},
    {"Service = \"web\"", "offset 8: expected \"==\""},
    {"(Service == web", "expected \"and\", \"or\" or \")\", found end of expression"},
    {"Service == web)", "offset 14: expected \"and\", \"or\" or the end of the expression"},
    {"Service == web and", "offset 18: expected a selector"},
    {"Service == web or or Port == 1", "expected a selector"},
    {"Service == web && Port == 1", "offset 15: expected \"and\", \"or\" or the end"},
    {"not", "expected a selector"},
    {"Service is", "expected \"empty\" or \"not empty\""},
    {"Service is not", "expected \"empty\""},
    {"Service is full", "offset 11: expected \"empty\""},
    {"Service not", "after \"not\""},
    {"Service not == web", "after \"not\""},
    {"\"x\" == Service", "offset 4: expected \"in\" or \"not in\""},
    {"\"x\" not contains Service", "expected \"in\""},
    {"\"x\" in", "expected a selector"},
    {"\"x\" in \"y\"", "offset 7: expected a selector, found '\"'"},
    {"Meta[env] == x", "offset 5: expected a quoted map key"},
    {"Meta[\"env\" == x", "expected \"]\""},
    {"Meta. == x", "offset 5: expected a field name after \".\""},
    {"Meta.1 == x", "expected a field name"},
    {"_x == y", "offset 0: expected a selector"},
    {"Port == 08", "offset 9: expected whitespace, \")\" or the end after a number"},
    {"Port == 1.", "expected a digit after \".\""},
    {"Port == -x", "expected a digit"},
    {"Port == 5and Port == 6", "after a number"},
    {"Service == \"\\q\"", "offset 12: unknown escape sequence \"\\q\""},
    {"Service == \"\\u12\"", "expected a hex digit"},
    {"Service == \"\\ud800\"", "not a valid code point"},
    {"Service == \"\\U00110000\"", "not a valid code point"},
    {"Service == \"\\400\"", "above \\377"},
    {"Service == \"\\8\"", "unknown escape"},
    {"Service == \"a\nb\"", "newline in string"},
    {"Service == @", "offset 11: expected a value after \"==\""},
    {"Service == \xc3\xa9", "expected a value"},
    {"Service \x01== x", "found byte 0x01"},
    {"Service matches \"(\"", "invalid regular expression at offset 16"},
    {"Service matches \"a{2,1}\"", "invalid regular expression"},
    {"Service matches \"[\\\\D]\"", "\\D inside [] is not supported"},
    {"Service matches \"a\\x00b\"", "contains NUL"},
    /* What RE2 refuses, and what would blow up glibc's regcomp. */
    {"Service matches \"a**\"", "invalid nested repetition operator *"},
    {"Service matches \"a+?+\"", "invalid nested repetition operator +"},
    {"Service matches \"a{2}*\"", "invalid nested repetition operator *"},
    {"Service matches \"*a\"", "missing argument to repetition operator *"},
    {"Service matches \"a|+\"", "missing argument to repetition operator +"},
    {"Service matches \"(?P<n>a)\"", "missing argument to repetition operator ?"},
    {"Service matches \"a{1001}\"", "invalid repeat count {1001}"},
    {"Service matches \"a{3,2}\"", "invalid repeat count {3,2}"},
    {"Service matches \"(a{1000}){1000}\"", "pattern is too large"},
    {"Service matches \"((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+\"", "too large"},
    {"Service matches \"(a)\\\\1\"", "backreferences (\\1) are not supported"},
    {"Service matches \"a)\"", "unexpected )"},
    {"Service matches `a\\`", "trailing backslash"},
    {"Service matches \"a{1000}b{100}\"", "pattern is too large"},
    {"Meta[\"a\\x00\"] == x", "map key contains NUL"},
    {"Service == x and (Port == 1 or", "expected a selector"},
    {"()", "offset 1: expected a selector"},
};

START_TEST(test_error_table)
{
	const struct error_case *c = &error_cases[_i];
	struct filter *f;
	char err[256];

	memset(err, 'X', sizeof(err));
	f = filter_parse(c->expr, err, sizeof(err));
	ck_assert_msg(f == NULL, "%s: parsed", c->expr);
	ck_assert_msg(strstr(err, c->want) != NULL, "%s: message \"%s\" lacks \"%s\"", c->expr, err,
	              c->want);
}
END_TEST

/* A long chain: and n-ary nodes keep the tree flat. */
static char *chain(const char *term, const char *op, int n)
{
	size_t tl = strlen(term), ol = strlen(op);
	char *s = malloc((tl + ol) * (size_t)n + 1);
	size_t o = 0;

	ck_assert_ptr_nonnull(s);
	for (int i = 0; i < n; i++) {
		if (i > 0) {
			memcpy(s + o, op, ol);
			o += ol;
		}
		memcpy(s + o, term, tl);
		o += tl;
	}
	s[o] = '\0';
	return s;
}

static char *nested(const char *open, const char *inner, const char *close, int n)
{
	char *a = chain(open, "", n), *b = chain(close, "", n);
	size_t la = strlen(a), li = strlen(inner), lb = strlen(b);
	char *s = malloc(la + li + lb + 1);

	ck_assert_ptr_nonnull(s);
	memcpy(s, a, la);
	memcpy(s + la, inner, li);
	memcpy(s + la + li, b, lb + 1);
	free(a);
	free(b);
	return s;
}

static bool parses(const char *expr, char *err, size_t err_size, struct json_object *doc,
                   bool *matched)
{
	struct filter *f = filter_parse(expr, err, err_size);

	if (f == NULL)
		return false;
	if (matched != NULL)
		*matched = filter_match(f, doc);
	filter_free(f);
	return true;
}

START_TEST(test_limit_length)
{
	struct json_object *doc = json_tokener_parse(doc_svc);
	char *s = malloc(FILTER_EXPR_MAX + 2);
	const char *term = "Service == web";
	char err[256];
	bool m = false;

	/* Exactly the limit parses; one byte more does not. */
	memset(s, ' ', FILTER_EXPR_MAX + 1);
	memcpy(s, term, strlen(term));
	s[FILTER_EXPR_MAX] = '\0';
	ck_assert_msg(parses(s, err, sizeof(err), doc, &m), "%s", err);
	ck_assert(m);
	s[FILTER_EXPR_MAX] = ' ';
	s[FILTER_EXPR_MAX + 1] = '\0';
	ck_assert(!parses(s, err, sizeof(err), doc, NULL));
	ck_assert_str_eq(err, "expression is longer than 4096 bytes");
	free(s);
	json_object_put(doc);
}
END_TEST

START_TEST(test_limit_depth)
{
	struct json_object *doc = json_tokener_parse(doc_svc);
	char err[256];
	bool m = false;
	char *s;

	s = nested("(", "Service == web", ")", FILTER_DEPTH_MAX);
	ck_assert_msg(parses(s, err, sizeof(err), doc, &m), "%s", err);
	ck_assert(m);
	free(s);
	s = nested("(", "Service == web", ")", FILTER_DEPTH_MAX + 1);
	ck_assert(!parses(s, err, sizeof(err), doc, NULL));
	ck_assert_str_eq(err, "expression nests parentheses and \"not\" deeper than 32 levels");
	free(s);

	/* An even number of nots is the match itself. */
	s = nested("not ", "Service == web", "", FILTER_DEPTH_MAX);
	ck_assert_msg(parses(s, err, sizeof(err), doc, &m), "%s", err);
	ck_assert(m);
	free(s);
	s = nested("not ", "Service == web", "", FILTER_DEPTH_MAX + 1);
	ck_assert(!parses(s, err, sizeof(err), doc, NULL));
	ck_assert_ptr_nonnull(strstr(err, "deeper than 32"));
	free(s);

	/* Mixed: 16 "not (" pairs are 32 levels. */
	s = nested("not (", "Service == web", ")", FILTER_DEPTH_MAX / 2);
	ck_assert_msg(parses(s, err, sizeof(err), doc, &m), "%s", err);
	ck_assert(m);
	free(s);
	s = nested("not (", "Service == web", ")", FILTER_DEPTH_MAX / 2 + 1);
	ck_assert(!parses(s, err, sizeof(err), doc, NULL));
	free(s);
	json_object_put(doc);
}
END_TEST

START_TEST(test_limit_terms)
{
	struct json_object *doc = json_tokener_parse(doc_svc);
	char err[256];
	bool m = true;
	char *s;

	/* 128 matches and 127 "or"s: 255 terms; the last one is true. */
	s = chain("Port == 1", " or ", FILTER_NODES_MAX / 2);
	ck_assert_msg(parses(s, err, sizeof(err), doc, &m), "%s", err);
	ck_assert(!m);
	free(s);
	s = chain("Port == 1 or ", "", FILTER_NODES_MAX / 2 - 1);
	{
		char *t = malloc(strlen(s) + 20);

		ck_assert_ptr_nonnull(t);
		sprintf(t, "%sPort == 8080", s);
		ck_assert_msg(parses(t, err, sizeof(err), doc, &m), "%s", err);
		ck_assert(m);
		free(t);
	}
	free(s);
	/* 129 matches and 128 "and"s: 257 terms. */
	s = chain("Port == 8080", " and ", FILTER_NODES_MAX / 2 + 1);
	ck_assert(!parses(s, err, sizeof(err), doc, NULL));
	ck_assert_str_eq(err, "expression has more than 256 operators and matches");
	free(s);
	json_object_put(doc);
}
END_TEST

START_TEST(test_limit_regex_groups)
{
	struct json_object *doc = json_tokener_parse(doc_svc);
	char err[256], expr[512];
	bool m = false;
	char *s;

	s = nested("(", "w", ")", 32);
	snprintf(expr, sizeof(expr), "Service matches \"^%seb$\"", s);
	free(s);
	ck_assert_msg(parses(expr, err, sizeof(err), doc, &m), "%s", err);
	ck_assert(m);
	s = nested("(", "w", ")", 33);
	snprintf(expr, sizeof(expr), "Service matches \"^%seb$\"", s);
	free(s);
	ck_assert(!parses(expr, err, sizeof(err), doc, NULL));
	ck_assert_ptr_nonnull(strstr(err, "groups nest deeper than 32"));
	json_object_put(doc);
}
END_TEST

START_TEST(test_limit_selector)
{
	struct json_object *doc = json_tokener_parse(doc_svc);
	char err[256], expr[512];
	char *s;

	s = chain("a", ".", 32);
	snprintf(expr, sizeof(expr), "%s is empty", s);
	free(s);
	ck_assert_msg(parses(expr, err, sizeof(err), doc, NULL), "%s", err);
	s = chain("a", ".", 33);
	snprintf(expr, sizeof(expr), "%s is empty", s);
	free(s);
	ck_assert(!parses(expr, err, sizeof(err), doc, NULL));
	ck_assert_ptr_nonnull(strstr(err, "selector has more than 32 parts"));
	json_object_put(doc);
}
END_TEST

/* Values json-c builds rather than parses: the uint64/int64 edges, and a
 * string holding a NUL. */
START_TEST(test_built_values)
{
	struct json_object *doc = json_object_new_object();
	static const struct {
		const char *expr;
		bool want;
	} cases[] = {
	    {"U == 18446744073709551615", true},
	    {"U == 9223372036854775807", false},
	    {"I == 9223372036854775807", true},
	    {"I == 18446744073709551615", false},
	    {"Min == -9223372036854775808", true},
	    {"Z == 0", true},
	    {"Z == -0", false},
	    {"S == \"a\\x00b\"", true},
	    {"S == a", false},
	    {"S matches \"b$\"", true},
	    {"\"\\x00\" in S", true},
	    {"D == 1000", true},
	    {"D == 1000.0", true},
	};
	char err[256];

	json_object_object_add(doc, "U", json_object_new_uint64(UINT64_MAX));
	json_object_object_add(doc, "I", json_object_new_int64(INT64_MAX));
	json_object_object_add(doc, "Min", json_object_new_int64(INT64_MIN));
	json_object_object_add(doc, "Z", json_object_new_int64(0));
	json_object_object_add(doc, "S", json_object_new_string_len("a\0b", 3));
	json_object_object_add(doc, "D", json_object_new_double(1000.0));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct filter *f = filter_parse(cases[i].expr, err, sizeof(err));

		ck_assert_msg(f != NULL, "%s: %s", cases[i].expr, err);
		ck_assert_msg(filter_match(f, doc) == cases[i].want, "%s", cases[i].expr);
		filter_free(f);
	}
	/* 1e3 is not a bexpr number literal, but a quoted one compares by value. */
	ck_assert_ptr_null(filter_parse("D == 1e3", err, sizeof(err)));
	{
		struct filter *f = filter_parse("D == \"1e3\"", err, sizeof(err));

		ck_assert_ptr_nonnull(f);
		ck_assert(filter_match(f, doc));
		filter_free(f);
	}
	json_object_put(doc);
}
END_TEST

/* Nested arrays flatten; a deep enough nest is cut off, not recursed into. */
START_TEST(test_nested_arrays)
{
	struct json_object *doc = json_object_new_object();
	struct json_object *inner = json_object_new_string("deep");
	struct filter *f;
	char err[256];

	for (int i = 0; i < FILTER_DEPTH_MAX - 1; i++) {
		struct json_object *a = json_object_new_array();

		json_object_array_add(a, inner);
		inner = a;
	}
	json_object_object_add(doc, "A", inner);
	f = filter_parse("A == deep", err, sizeof(err));
	ck_assert_ptr_nonnull(f);
	ck_assert(filter_match(f, doc));
	filter_free(f);
	/* Two more levels pass the walk limit: the branch gives nothing. */
	{
		struct json_object *a = json_object_new_array(), *b = json_object_new_array();

		json_object_array_add(a, json_object_get(inner));
		json_object_array_add(b, a);
		json_object_object_add(doc, "B", b);
	}
	f = filter_parse("B == deep", err, sizeof(err));
	ck_assert(!filter_match(f, doc));
	filter_free(f);
	f = filter_parse("B is empty", err, sizeof(err));
	ck_assert(filter_match(f, doc));
	filter_free(f);
	json_object_put(doc);
}
END_TEST

START_TEST(test_err_buffers)
{
	char small[8];
	struct filter *f;

	/* No buffer, a zero-sized one, and one too small: NULL all the same. */
	ck_assert_ptr_null(filter_parse("Service ==", NULL, 0));
	ck_assert_ptr_null(filter_parse("Service ==", small, 0));
	ck_assert_ptr_null(filter_parse("Service ==", small, sizeof(small)));
	ck_assert_str_eq(small, "syntax ");
	ck_assert_ptr_null(filter_parse(NULL, small, sizeof(small)));
	/* Success clears the message. */
	f = filter_parse("a == b", small, sizeof(small));
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(small, "");
	filter_free(f);
	filter_free(NULL);
}
END_TEST

/* The first error is reported, not a later consequence of it. */
START_TEST(test_error_exact)
{
	char err[256];

	ck_assert_ptr_null(filter_parse("Service == web and Port =", err, sizeof(err)));
	ck_assert_str_eq(err, "syntax error at offset 24: expected \"==\", \"!=\", \"is\", "
	                      "\"contains\", \"matches\", \"in\" or \"not\", found '='");
	ck_assert_ptr_null(filter_parse("Service matches \"a(\"", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "invalid regular expression at offset 16: "));
}
END_TEST

static Suite *filter_suite(void)
{
	Suite *s = suite_create("filter");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_match_table, 0,
	                    (int)(sizeof(match_cases) / sizeof(match_cases[0])));
	tcase_add_loop_test(tc, test_error_table, 0,
	                    (int)(sizeof(error_cases) / sizeof(error_cases[0])));
	tcase_add_test(tc, test_limit_length);
	tcase_add_test(tc, test_limit_depth);
	tcase_add_test(tc, test_limit_terms);
	tcase_add_test(tc, test_limit_selector);
	tcase_add_test(tc, test_limit_regex_groups);
	tcase_add_test(tc, test_built_values);
	tcase_add_test(tc, test_nested_arrays);
	tcase_add_test(tc, test_err_buffers);
	tcase_add_test(tc, test_error_exact);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(filter_suite());
}

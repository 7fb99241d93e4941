/* conf_yaml.c: a YAML or JSON config file as a bounded tree of nodes, from libyaml events. */
#include "conf_priv.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* A limit's value in a message. */
#define CONF_STR_(x) #x
#define CONF_STR(x)  CONF_STR_(x)

/* Open mappings and lists while building: the depth limit plus the root. */
struct conf_yaml_open {
	size_t node;
	size_t n_kids;
};

static size_t conf_yaml_new(struct conf_yaml_doc *doc, enum conf_yaml_kind kind, unsigned line)
{
	struct conf_yaml_node *n;

	if (doc->n == doc->size) {
		size_t size = doc->size ? doc->size * 2 : 64;
		struct conf_yaml_node *p;

		if (size > CONF_NODES_MAX)
			size = CONF_NODES_MAX;
		if (size <= doc->n)
			return CONF_YAML_NONE;
		p = realloc(doc->nodes, size * sizeof(*p));
		if (p == NULL)
			return CONF_YAML_NONE;
		doc->nodes = p;
		doc->size = size;
	}
	n = &doc->nodes[doc->n];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = line;
	n->first = n->last = n->next = CONF_YAML_NONE;
	return doc->n++;
}

static bool conf_yaml_hex(const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char ch = p[i];

		*v <<= 4;
		if (ch >= '0' && ch <= '9')
			*v |= (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			*v |= (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			*v |= (unsigned)(ch - 'A' + 10);
		else
			return false;
	}
	return true;
}

/* JSON writes a character outside the BMP as a UTF-16 surrogate pair
 * ("\ud83d\ude00"); libyaml refuses those, YAML has "\U0001f600". JSON
 * input only (it starts with '{'), inside double-quoted strings, where the
 * rewrite is exact; the line numbers stay. Returns a new text, or NULL when
 * nothing needs rewriting (or no memory: libyaml then reports the escape). */
static char *conf_yaml_surrogates(const char *text, size_t len, size_t *out_len)
{
	size_t i = 0, o = 0;
	bool in_str = false, any = false;
	char *out;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
		i++;
	if (i == len || text[i] != '{' || memmem(text, len, "\\u", 2) == NULL)
		return NULL;
	out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < len;) {
		unsigned hi, lo;

		if (!in_str) {
			if (text[i] == '"')
				in_str = true;
			out[o++] = text[i++];
			continue;
		}
		if (text[i] == '"') {
			in_str = false;
			out[o++] = text[i++];
			continue;
		}
		if (text[i] != '\\' || i + 1 >= len) {
			out[o++] = text[i++];
			continue;
		}
		if (text[i + 1] == 'u' && i + 12 <= len && conf_yaml_hex(text + i + 2, &hi) &&
		    hi >= 0xd800 && hi <= 0xdbff && text[i + 6] == '\\' && text[i + 7] == 'u' &&
		    conf_yaml_hex(text + i + 8, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
			unsigned cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);

			o += (size_t)snprintf(out + o, 11, "\\U%08x", cp);
			i += 12;
			any = true;
			continue;
		}
		/* Any other escape: copy both bytes, so "\\" and "\"" stay. */
		out[o++] = text[i++];
		out[o++] = text[i++];
	}
	if (!any) {
		free(out);
		return NULL;
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

static int conf_yaml_fail(char *err, size_t err_size, unsigned *err_line, unsigned line,
                          const char *msg)
{
	snprintf(err, err_size, "%s", msg);
	*err_line = line;
	return -1;
}

/* Attaches a new node to the innermost open container (or makes it the
 * root); a mapping's keys must be scalars. */
static int conf_yaml_attach(struct conf_yaml_doc *doc, struct conf_yaml_open *open, size_t depth,
                            size_t id, char *err, size_t err_size, unsigned *err_line)
{
	struct conf_yaml_node *parent, *n = &doc->nodes[id];
	struct conf_yaml_open *top;

	if (depth == 0) {
		if (doc->root != CONF_YAML_NONE)
			return conf_yaml_fail(err, err_size, err_line, n->line,
			                      "more than one YAML document");
		doc->root = id;
		return 0;
	}
	top = &open[depth - 1];
	parent = &doc->nodes[top->node];
	if (parent->kind == CONF_YAML_MAP && top->n_kids % 2 == 0 && n->kind != CONF_YAML_SCALAR)
		return conf_yaml_fail(err, err_size, err_line, n->line,
		                      "a mapping key must be a string");
	if (parent->last == CONF_YAML_NONE)
		parent->first = id;
	else
		doc->nodes[parent->last].next = id;
	parent->last = id;
	parent->n_kids++;
	top->n_kids++;
	return 0;
}

static bool conf_yaml_is_str_tag(const yaml_char_t *tag)
{
	return tag != NULL && (strcmp((const char *)tag, "tag:yaml.org,2002:str") == 0 ||
	                       strcmp((const char *)tag, "!!str") == 0);
}

static int conf_yaml_event(struct conf_yaml_doc *doc, struct conf_yaml_open *open, size_t *depth,
                           const yaml_event_t *ev, char *err, size_t err_size, unsigned *err_line)
{
	unsigned line = (unsigned)ev->start_mark.line + 1;
	size_t id;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		/* An alias can make a small file expand without bound. */
		return conf_yaml_fail(err, err_size, err_line, line,
		                      "YAML aliases (*name) are not supported");
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.length > CONF_SCALAR_MAX)
			return conf_yaml_fail(
			    err, err_size, err_line, line,
			    "value longer than the limit of " CONF_STR(CONF_SCALAR_MAX) " bytes");
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL)
			return conf_yaml_fail(err, err_size, err_line, line,
			                      "value contains a NUL character");
		id = conf_yaml_new(doc, CONF_YAML_SCALAR, line);
		if (id == CONF_YAML_NONE)
			break;
		doc->nodes[id].quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
		                        conf_yaml_is_str_tag(ev->data.scalar.tag);
		doc->nodes[id].text = malloc(ev->data.scalar.length + 1);
		if (doc->nodes[id].text == NULL)
			return conf_yaml_fail(err, err_size, err_line, line, "out of memory");
		memcpy(doc->nodes[id].text, ev->data.scalar.value, ev->data.scalar.length);
		doc->nodes[id].text[ev->data.scalar.length] = '\0';
		return conf_yaml_attach(doc, open, *depth, id, err, err_size, err_line);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (*depth >= CONF_DEPTH_MAX)
			return conf_yaml_fail(
			    err, err_size, err_line, line,
			    "nested deeper than the limit of " CONF_STR(CONF_DEPTH_MAX) " levels");
		id = conf_yaml_new(
		    doc, ev->type == YAML_SEQUENCE_START_EVENT ? CONF_YAML_SEQ : CONF_YAML_MAP,
		    line);
		if (id == CONF_YAML_NONE)
			break;
		if (conf_yaml_attach(doc, open, *depth, id, err, err_size, err_line) != 0)
			return -1;
		open[*depth].node = id;
		open[*depth].n_kids = 0;
		(*depth)++;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		assert(*depth > 0);
		/* libyaml gives a mapping's keys and values in pairs (an
		 * absent value is an empty scalar); the loader relies on it. */
		assert(ev->type == YAML_SEQUENCE_END_EVENT || open[*depth - 1].n_kids % 2 == 0);
		(*depth)--;
		return 0;
	default:
		return 0;
	}
	if (doc->n >= CONF_NODES_MAX)
		return conf_yaml_fail(
		    err, err_size, err_line, line,
		    "more values than the limit of " CONF_STR(CONF_NODES_MAX) " in one file");
	return conf_yaml_fail(err, err_size, err_line, line, "out of memory");
}

int conf_yaml_parse(struct conf_yaml_doc *doc, const char *text, size_t len, char *err,
                    size_t err_size, unsigned *err_line)
{
	struct conf_yaml_open open[CONF_DEPTH_MAX];
	yaml_parser_t parser;
	yaml_event_t ev;
	size_t depth = 0, fixed_len = 0;
	char *fixed;
	int rc = 0;
	bool done = false;

	memset(doc, 0, sizeof(*doc));
	doc->root = CONF_YAML_NONE;
	*err_line = 0;
	fixed = conf_yaml_surrogates(text, len, &fixed_len);
	if (!yaml_parser_initialize(&parser)) {
		free(fixed);
		return conf_yaml_fail(err, err_size, err_line, 0, "out of memory");
	}
	if (fixed != NULL)
		yaml_parser_set_input_string(&parser, (const unsigned char *)fixed, fixed_len);
	else
		yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			const char *problem = parser.problem ? parser.problem : "syntax error";

			if (parser.context != NULL)
				snprintf(err, err_size, "syntax error: %s (%s at line %zu)",
				         problem, parser.context, parser.context_mark.line + 1);
			else
				snprintf(err, err_size, "syntax error: %s", problem);
			*err_line = (unsigned)parser.problem_mark.line + 1;
			rc = -1;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		rc = conf_yaml_event(doc, open, &depth, &ev, err, err_size, err_line);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	free(fixed);
	if (rc != 0)
		conf_yaml_free(doc);
	return rc;
}

void conf_yaml_free(struct conf_yaml_doc *doc)
{
	if (doc == NULL)
		return;
	for (size_t i = 0; i < doc->n; i++)
		free(doc->nodes[i].text);
	free(doc->nodes);
	memset(doc, 0, sizeof(*doc));
	doc->root = CONF_YAML_NONE;
}

/* table.c: the two table layouts Consul's commands print (members, list-peers, catalog nodes: columnize; kv get -detailed, catalog services -tags: tabwriter). */
#include "table.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Columns of one table at most: the widest Consul table has nine. */
#define TABLE_COLS_MAX 32

static size_t table_runes(const char *s, size_t n)
{
	size_t r = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			r++;
	return r;
}

/* The next field of a line, up to delim or the line's end, trimmed when
 * trim; *p moves past the delimiter and *last says it was the line's end. */
static void table_field(const char **p, const char *eol, char delim, bool trim, const char **fs,
                        size_t *fl, bool *last)
{
	const char *s = *p, *e = memchr(s, delim, (size_t)(eol - s));

	*last = e == NULL;
	if (e == NULL)
		e = eol;
	*p = *last ? eol : e + 1;
	if (trim) {
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
	}
	*fs = s;
	*fl = (size_t)(e - s);
}

static void table_layout(const char *text, char delim, bool trim, const char *glue, int padding,
                         bool add_newline, FILE *out)
{
	size_t width[TABLE_COLS_MAX] = {0};
	const char *line, *eol, *p, *fs;
	size_t fl;
	bool last;
	int col;

	/* Pass 1: the widths. columnize measures every field; tabwriter only
	 * cells a tab terminates (the text after a line's last tab is not
	 * part of a column). */
	for (line = text; *line != '\0'; line = *eol ? eol + 1 : eol) {
		eol = strchr(line, '\n');
		if (eol == NULL)
			eol = line + strlen(line);
		for (p = line, col = 0; col < TABLE_COLS_MAX; col++) {
			table_field(&p, eol, delim, trim, &fs, &fl, &last);
			if (!last || delim == '\x1f') {
				size_t w = table_runes(fs, fl) + (size_t)padding;
				if (w > width[col])
					width[col] = w;
			}
			if (last)
				break;
		}
	}
	/* Pass 2: the output. */
	for (line = text; *line != '\0'; line = *eol ? eol + 1 : eol) {
		eol = strchr(line, '\n');
		if (eol == NULL)
			eol = line + strlen(line);
		for (p = line, col = 0;; col++) {
			table_field(&p, eol, delim, trim, &fs, &fl, &last);
			fwrite(fs, 1, fl, out);
			if (last || col + 1 >= TABLE_COLS_MAX) {
				if (!last) /* past the limit: the rest as is */
					fwrite(p, 1, (size_t)(eol - p), out);
				break;
			}
			for (size_t w = table_runes(fs, fl); w < width[col]; w++)
				fputc(' ', out);
			fputs(glue, out);
		}
		if (*eol == '\n' || add_newline)
			fputc('\n', out);
	}
}

void table_columnize(const char *text, FILE *out)
{
	table_layout(text, '\x1f', true, "  ", 0, true, out);
}

void table_tabwrite(const char *text, int padding, FILE *out)
{
	table_layout(text, '\t', false, "", padding, false, out);
}

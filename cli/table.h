/* table.h: the two table layouts Consul's commands print: ryanuber/columnize and Go's text/tabwriter. */
#ifndef MUSTER_TABLE_H
#define MUSTER_TABLE_H

#include <stdio.h>

/* The field separator of table_columnize (Consul's unit separator). */
#define TABLE_SEP "\x1f"

/* columnize.Format with Delim "\x1f" and the defaults (Glue "  ", no
 * prefix): text holds lines separated by '\n' and fields by '\x1f'; each
 * field is trimmed of white space, every column but a line's last is
 * padded to the widest field of that column (counted in runes), and each
 * line ends with '\n' (what UI.Output adds). */
void table_columnize(const char *text, FILE *out);

/* tabwriter.NewWriter(w, 0, 2, padding, ' ', 0) then Flush: text holds
 * lines separated by '\n' and cells by '\t'; a tab-terminated cell is
 * padded to the widest such cell of its column plus padding. Written as
 * is otherwise (no newline added). */
void table_tabwrite(const char *text, int padding, FILE *out);

#endif

/* cmdline.c: the configuration part of every program's command line: agent flags, -n and -nv. */
#include "cmdline.h"
#include "buf.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Errors to stderr, one per line; warnings through the log. */
static void cmdline_print_diag(const struct conf_diag *d, bool show_warnings)
{
	for (size_t i = 0; show_warnings && i < d->n_warnings; i++)
		log_warnx("%s", d->warnings[i]);
	for (size_t i = 0; i < d->n_errors; i++)
		fprintf(stderr, "%s\n", d->errors[i]);
}

enum cmdline_result cmdline_conf(int argc, char **argv, struct conf *out, bool show_warnings)
{
	char **rest = calloc((size_t)argc + 1, sizeof(char *));
	struct conf_diag d;
	bool check = false, verbose = false;
	int n = 0, rc;

	if (rest == NULL)
		return CMDLINE_EXIT_ERR;
	rest[n++] = argv[0];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0)
			check = true;
		else if (strcmp(argv[i], "-nv") == 0 || strcmp(argv[i], "-vn") == 0)
			check = verbose = true;
		else if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else
			rest[n++] = argv[i];
	}
	memset(&d, 0, sizeof(d));
	conf_init(out);
	rc = conf_resolve(out, n, rest, &d);
	free(rest);
	/* -n / -nv is a check by hand: always show what it found. */
	cmdline_print_diag(&d, show_warnings || check);
	conf_diag_fini(&d);
	if (rc != 0)
		return CMDLINE_EXIT_ERR;
	if (!check)
		return CMDLINE_RUN;
	if (verbose) {
		struct buf b;

		buf_init(&b, 16u << 20);
		if (conf_write_json(out, &b) != 0 || buf_cstr(&b) == NULL) {
			fprintf(stderr, "config: cannot print the configuration\n");
			buf_fini(&b);
			return CMDLINE_EXIT_ERR;
		}
		fputs(buf_cstr(&b), stdout);
		buf_fini(&b);
	} else {
		fprintf(stderr, "configuration OK\n");
	}
	return CMDLINE_EXIT_OK;
}

/* cli.c: what the Consul-compatible subcommands share: subcommand dispatch, the client, DATA arguments (spec §2.2). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int cli_sub_run(const char *usage, const struct cli_sub *subs, int argc, char **argv)
{
	if (argc >= 2) {
		for (const struct cli_sub *s = subs; s->name != NULL; s++)
			if (strcmp(argv[1], s->name) == 0)
				return s->fn(argc - 1, argv + 1);
		if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "-help") == 0 ||
		    strcmp(argv[1], "--help") == 0) {
			fprintf(stdout, "%s\n\nSubcommands:\n", usage);
			for (const struct cli_sub *s = subs; s->name != NULL; s++)
				fprintf(stdout, "    %-16s %s\n", s->name, s->synopsis);
			return 0;
		}
	}
	fprintf(stderr, "%s\n\nSubcommands:\n", usage);
	for (const struct cli_sub *s = subs; s->name != NULL; s++)
		fprintf(stderr, "    %-16s %s\n", s->name, s->synopsis);
	return 1;
}

int cli_connect(struct http_client *c, const struct http_opts *o)
{
	char err[HTTP_ERR_MAX];

	if (http_client_init(c, o, err, sizeof(err)) != 0) {
		fprintf(stderr, "Error connecting to Consul agent: %s\n", err);
		http_client_fini(c);
		return 1;
	}
	return 0;
}

void cli_strerror(int errnum, char *out, size_t size)
{
	snprintf(out, size, "%s", strerror(errnum));
	if (out[0] != '\0')
		out[0] = (char)tolower((unsigned char)out[0]);
}

static int cli_read_all(FILE *f, struct buf *out)
{
	char b[65536];
	size_t n;

	while ((n = fread(b, 1, sizeof(b), f)) > 0)
		if (buf_append(out, b, n) != 0)
			return -1;
	return ferror(f) ? -1 : 0;
}

int cli_data_arg(const char *arg, struct buf *out, char *err, size_t err_size)
{
	char why[256];

	if (arg[0] == '@') {
		FILE *f = fopen(arg + 1, "rb");
		if (f == NULL) {
			cli_strerror(errno, why, sizeof(why));
			snprintf(err, err_size, "Failed to read file: open %s: %s", arg + 1, why);
			return -1;
		}
		int rc = cli_read_all(f, out);
		int e = errno;
		fclose(f);
		if (rc != 0) {
			if (out->err)
				snprintf(err, err_size,
				         "Failed to read file: %s is larger than %u bytes", arg + 1,
				         CLI_DATA_MAX);
			else {
				cli_strerror(e, why, sizeof(why));
				snprintf(err, err_size, "Failed to read file: read %s: %s", arg + 1,
				         why);
			}
			return -1;
		}
		return 0;
	}
	if (strcmp(arg, "-") == 0) {
		if (cli_read_all(stdin, out) != 0) {
			if (out->err)
				snprintf(err, err_size, "Failed to read stdin: more than %u bytes",
				         CLI_DATA_MAX);
			else {
				cli_strerror(errno, why, sizeof(why));
				snprintf(err, err_size, "Failed to read stdin: %s", why);
			}
			return -1;
		}
		return 0;
	}
	if (buf_append(out, arg, strlen(arg)) != 0) {
		snprintf(err, err_size, "DATA longer than %u bytes", CLI_DATA_MAX);
		return -1;
	}
	return 0;
}

int cli_args_max(int nargs, int max)
{
	if (nargs <= max)
		return 0;
	fprintf(stderr, "Too many arguments (expected %d, got %d)\n", max, nargs);
	return 1;
}

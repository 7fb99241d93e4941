/* cmdline.h: the configuration part of every program's command line: agent flags, -n and -nv. */
#ifndef MUSTER_CMDLINE_H
#define MUSTER_CMDLINE_H

#include <stdbool.h>
#include "conf.h"

enum cmdline_result {
	CMDLINE_RUN = 0,  /* configuration resolved: go on */
	CMDLINE_EXIT_OK,  /* -n / -nv done */
	CMDLINE_EXIT_ERR, /* errors printed to stderr */
};

/* Resolves the agent configuration from argv (consul agent flags, files,
 * dirs) after taking out this program's own `-n` (check and exit) and `-v`
 * / `-nv` (with -n: print the normalised configuration as JSON), as bgpd
 * does. Errors go to stderr one per line; warnings to the log when
 * show_warnings (a supervised daemon leaves them to musterd, which reads
 * the same configuration first and logs them once). */
enum cmdline_result cmdline_conf(int argc, char **argv, struct conf *out, bool show_warnings);

#endif

/* cli.h: the Consul-compatible subcommands of `muster` (spec §2) and what they share. */
#ifndef MUSTER_CLI_H
#define MUSTER_CLI_H

#include "buf.h"
#include "cflag.h"
#include "http.h"

#include <stdbool.h>
#include <stddef.h>

/* Every subcommand: argv[0] is its own name, the flags follow. The exit
 * code is spec §2.2's: 0 success, 1 any error, 2 where Consul says so. */
typedef int (*cli_cmd_fn)(int argc, char **argv);

int cmd_members(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_leave(int argc, char **argv);
int cmd_force_leave(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_maint(int argc, char **argv);
int cmd_event(int argc, char **argv);
int cmd_keyring(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_kv(int argc, char **argv);
int cmd_catalog(int argc, char **argv);
int cmd_services(int argc, char **argv);
int cmd_operator(int argc, char **argv);
int cmd_lock(int argc, char **argv);
int cmd_watch(int argc, char **argv);

/* A command with subcommands (kv, catalog, services, operator raft). */
struct cli_sub {
	const char *name;
	cli_cmd_fn fn;
	const char *synopsis;
};

/* Runs argv[1] among subs; without one (or an unknown one), the list
 * goes to stderr and the exit is 1, as mitchellh/cli's help result. */
int cli_sub_run(const char *usage, const struct cli_sub *subs, int argc, char **argv);

/* The client for the flags: 0, or 1 after Consul's "Error connecting to
 * Consul agent: ..." on stderr. */
int cli_connect(struct http_client *c, const struct http_opts *o);

/* Consul's positional-argument check: 0 when nargs <= max, else 1 after
 * "Too many arguments (expected <max>, got <nargs>)" on stderr. */
int cli_args_max(int nargs, int max);

/* The largest DATA argument read from a file or stdin (kv put, kv import). */
#define CLI_DATA_MAX (64u << 20)

/* Consul's DATA argument: "@path" is the file's bytes, "-" is stdin, any
 * other text is itself. 0 with the bytes in out, or -1 with Consul's
 * reason in err ("Failed to read file: ..."). */
int cli_data_arg(const char *arg, struct buf *out, char *err, size_t err_size);

/* The first byte of an OS error lower-cased, as Go's errors read. */
void cli_strerror(int errnum, char *out, size_t size);

#endif

/* rundir.h: where the bus endpoints, ctl.sock and config.json live (DESIGN.md §2). */
#ifndef MUSTER_RUNDIR_H
#define MUSTER_RUNDIR_H

#include <stddef.h>

#define RUNDIR_ENV "MUSTER_RUN_DIR"
/* The longest run_dir whose endpoints still fit a UNIX socket path (107
 * bytes and a NUL): "<run_dir>/healthd.rpc", the longest name, adds 12. */
#define RUNDIR_PATH_MAX 95

/* $MUSTER_RUN_DIR if set; else $RUNTIME_DIRECTORY (systemd's
 * RuntimeDirectory=muster, i.e. /run/muster); else <data_dir>/run. Returns
 * 0, or -1 when none applies (no data_dir) or the result is too long. */
int rundir_resolve(const char *data_dir, char *out, size_t size);
/* mkdir -p with mode 0700 for the last component, and checks it is a
 * directory this user owns. */
int rundir_make(const char *path);
/* Removes a directory tree (a -dev agent's temporary state). */
int rundir_remove_tree(const char *path);

#endif

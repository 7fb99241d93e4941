/* fsutil.h: durable small-file writes: a temporary file, fsync, rename, fsync of the directory. */
#ifndef MUSTER_FSUTIL_H
#define MUSTER_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* fsync of the directory holding path, so a rename into it survives a
 * crash. 0, or -1 with errno. */
int fsutil_fsync_dir(const char *path);

/* Replaces path with len bytes of p, atomically and durably: written to
 * "<path>.tmp" with mode (forced even on a stale tmp file: the content may
 * be secret), fsynced, renamed over path, then the directory fsynced. On
 * failure the tmp file is removed and path is untouched. 0, or -1 with
 * errno and *what naming the step that failed ("create", "write",
 * "rename", "sync directory"). */
int fsutil_write_atomic(const char *path, const void *p, size_t len, mode_t mode,
                        const char **what);

#endif

/* exe.h: where muster's programs are: MUSTER_LIBEXEC_DIR, beside the running binary, or installed.
 */
#ifndef MUSTER_EXE_H
#define MUSTER_EXE_H

#include <stddef.h>

#define EXE_LIBEXEC_ENV "MUSTER_LIBEXEC_DIR"

/* The directory holding program `probe`: $MUSTER_LIBEXEC_DIR when set
 * (tests run the build tree), else the first of rels (relative to the
 * running binary's directory, NULL-terminated) where probe is executable,
 * else installed_dir. Returns 0 when probe is executable there. */
int exe_find_dir(const char *probe, const char *const *rels, const char *installed_dir, char *dir,
                 size_t size);

#endif

/* xalloc.h: allocation that aborts on failure, for state that cannot be half-built. */
#ifndef MUSTER_XALLOC_H
#define MUSTER_XALLOC_H

#include <stddef.h>

/*
 * For code where running out of memory has no sane partial outcome (a
 * replica must apply an entry whole or not at all; raftd's loop owns the
 * log): log "<what>: out of memory" and abort, so musterd restarts the
 * daemon and the Raft log rebuilds the state. Elsewhere, handle NULL.
 * Zero sizes allocate one byte, so a result is never NULL.
 */
void xalloc_fail(size_t n) __attribute__((noreturn));
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s); /* NULL gives "" */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

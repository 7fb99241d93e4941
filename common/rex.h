/* rex.h: RE2 patterns (Consul's regexp syntax) compiled as bounded POSIX extended regexes. */
#ifndef MUSTER_REX_H
#define MUSTER_REX_H

#include <regex.h>
#include <stddef.h>

/* The ERE for the RE2 pattern in (len bytes, no NUL), wrapped for a
 * single-start match, with REG_ICASE added to *cflags for a leading (?i);
 * malloc'd. NULL with the reason in why when the pattern uses what we
 * refuse (rex.c says what and why). */
char *rex_translate(const char *in, size_t len, int *cflags, char *why, size_t why_size);

/* Compiles the RE2 pattern pat (len bytes) into re with REG_EXTENDED |
 * REG_NOSUB: a match answers Go's regexp MatchString (an unanchored
 * search). 0 (free re with regfree), or -1 with the reason in why (from
 * rex_translate or regerror; re needs no regfree). */
int rex_compile(regex_t *re, const char *pat, size_t len, char *why, size_t why_size);

#endif

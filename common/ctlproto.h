/* ctlproto.h: the control socket's line protocol, shared by musterd's ctl.sock and `muster ctl`. */
#ifndef MUSTER_CTLPROTO_H
#define MUSTER_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>

/* A request is one line: a command and its arguments, separated by
 * blanks. A reply is zero or more lines of output and a last line that is
 * "ok" or "error: <why>" (socat-friendly, model: bgpctl). */
#define CTLPROTO_LINE_MAX  256 /* bytes of one request line, newline included */
#define CTLPROTO_WORDS_MAX 4   /* a command and its arguments */

/* Splits a line (its newline already removed) in place into at most max
 * words. Returns the number of words (0 for a blank line), or -1 when there
 * are more than max words or a byte that is not printable ASCII or a
 * blank (a control socket never needs one; refusing them keeps log lines
 * and replies clean). */
int ctlproto_split(char *line, char **words, int max);

#endif

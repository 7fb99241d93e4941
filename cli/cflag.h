/* cflag.h: Go `flag` package parsing for the Consul-style subcommands (spec §2.1: single or double dash, -x=v or -x v, flags before positional args). */
#ifndef MUSTER_CFLAG_H
#define MUSTER_CFLAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A repeated flag (-tag a -tag b, -meta k=v) keeps at most this many values. */
#define CFLAG_LIST_MAX 64

enum cflag_type {
	CFLAG_END = 0,
	CFLAG_BOOL, /* bool *; takes no separate argument, -x=false works */
	CFLAG_STR,  /* const char ** (points into argv; NULL = not given) */
	CFLAG_INT,  /* int64_t * (strconv.ParseInt, base prefixes allowed) */
	CFLAG_U64,  /* uint64_t * */
	CFLAG_DUR,  /* int64_t * nanoseconds (time.ParseDuration) */
	CFLAG_LIST, /* struct cflag_list *: every value, in order */
	CFLAG_MAP,  /* struct cflag_list *: every value, each must be key=value */
};

struct cflag_list {
	const char *v[CFLAG_LIST_MAX];
	size_t n;
};

struct cflag {
	const char *name;
	enum cflag_type type;
	void *ptr;
	const char *usage;
};

#define CFLAG_BOOL(n, p, u) {(n), CFLAG_BOOL, (p), (u)}
#define CFLAG_STR(n, p, u)  {(n), CFLAG_STR, (p), (u)}
#define CFLAG_INT(n, p, u)  {(n), CFLAG_INT, (p), (u)}
#define CFLAG_U64(n, p, u)  {(n), CFLAG_U64, (p), (u)}
#define CFLAG_DUR(n, p, u)  {(n), CFLAG_DUR, (p), (u)}
#define CFLAG_LIST(n, p, u) {(n), CFLAG_LIST, (p), (u)}
#define CFLAG_MAP(n, p, u)  {(n), CFLAG_MAP, (p), (u)}
#define CFLAG_DONE          {NULL, CFLAG_END, NULL, NULL}

enum cflag_result {
	CFLAG_OK = 0,  /* *first is the index of the first positional argument */
	CFLAG_ERR = 1, /* error and usage printed to stderr: exit 1 (spec §2.2) */
	CFLAG_HELP = 2 /* -h / -help: usage printed to stdout: exit 0 */
};

/* Parses argv[1..argc) against flags (ended by CFLAG_DONE) as Go's
 * FlagSet.Parse does: parsing stops at the first non-flag argument, at a
 * lone "-", or after "--". help is the command's usage text, printed with
 * the flag list on -h or after an error. */
enum cflag_result cflag_parse(const struct cflag *flags, int argc, char **argv, const char *help,
                              int *first);

/* The usage text and the flags, as `consul <cmd> -h` prints them. */
void cflag_usage(const struct cflag *flags, const char *help, FILE *f);

/* strconv.ParseBool: 1 t T TRUE true True 0 f F FALSE false False. */
int cflag_parse_bool(const char *s, bool *out);

#endif

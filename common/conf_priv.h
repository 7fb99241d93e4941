/* conf_priv.h: what the conf_*.c files share: the parsed YAML tree, diagnostics, checks, flags. */
#ifndef MUSTER_CONF_PRIV_H
#define MUSTER_CONF_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/* conf_yaml.c: one YAML (or JSON) document as a tree of nodes in one array,
 * so that a mapping can be looked over twice (the last duplicate key wins)
 * and nothing is recursive in the parser. */
enum conf_yaml_kind {
	CONF_YAML_SCALAR = 0,
	CONF_YAML_MAP,
	CONF_YAML_SEQ,
};

#define CONF_YAML_NONE SIZE_MAX

struct conf_yaml_node {
	enum conf_yaml_kind kind;
	bool quoted;   /* quoted, block or !!str scalar: always a string */
	unsigned line; /* 1-based */
	char *text;    /* scalars: the value, NUL-terminated */
	size_t first;  /* first child (a mapping's children alternate key, value) */
	size_t last;
	size_t next; /* next sibling */
	size_t n_kids;
};

struct conf_yaml_doc {
	struct conf_yaml_node *nodes;
	size_t n;
	size_t size;
	size_t root; /* CONF_YAML_NONE for an empty document */
};

/* 0, or -1 with a message (without "config: file:") and its line. */
int conf_yaml_parse(struct conf_yaml_doc *doc, const char *text, size_t len, char *err,
                    size_t err_size, unsigned *err_line);
void conf_yaml_free(struct conf_yaml_doc *doc);

/* conf.c */
void conf_diag_error(struct conf_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void conf_diag_warn(struct conf_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Whether some layer set this key (dotted name). */
bool conf_key_was_set(const struct conf *c, const char *name);
/* Sets a key from a command-line value (Go flag syntax); lists append,
 * maps insert. 0, or -1 with a reason in why. */
int conf_set_flag_value(struct conf *c, const char *key, const char *value, char *why,
                        size_t why_size);
/* Whether a key exists and its type is a list, or a boolean. */
bool conf_key_is_list(const char *key);
bool conf_key_is_bool(const char *key);
/* The -dev layer (Consul's DevSource and DevConsulSource). */
extern const char conf_dev_layer[];

char *conf_strdup(const char *s);
/* s quoted and escaped for a message, cut after 64 bytes; returns out. */
const char *conf_quote(const char *s, char *out, size_t size);
/* Go's strconv.ParseBool. */
int conf_parse_bool_go(const char *s, bool *v);

/* conf_check.c */
int conf_check_run(struct conf *c, bool need_data_dir, struct conf_diag *d);
/* node_name from the host name, advertise_addr from the interfaces. */
int conf_check_host(struct conf *c, struct conf_diag *d);

/* conf_flag.c: the agent flags of spec §3.2 in Go's flag syntax. */
enum conf_flag_kind {
	CONF_FLAG_KEY = 0, /* sets a key */
	CONF_FLAG_DEV,     /* -dev */
	CONF_FLAG_FILE,    /* -config-file */
	CONF_FLAG_DIR,     /* -config-dir */
	CONF_FLAG_FORMAT,  /* -config-format */
	CONF_FLAG_META,    /* -node-meta key:value */
};

struct conf_flag_use {
	enum conf_flag_kind kind;
	const char *name;  /* the flag, without dashes */
	const char *key;   /* CONF_FLAG_KEY: the key it sets */
	const char *value; /* "true" for a bare boolean flag */
};

/* Splits argv[1..] into flag uses (out has room for argc). Errors and
 * deprecation warnings go to d. Returns the count, or -1. */
int conf_flag_parse(int argc, char **argv, struct conf_flag_use *out, struct conf_diag *d);

#endif

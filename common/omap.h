/* omap.h: an ordered map from NUL-terminated string keys to pointers (an AVL tree). */
#ifndef MUSTER_OMAP_H
#define MUSTER_OMAP_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Keys are copied in and ordered byte-wise (strcmp: unsigned bytes, a
 * prefix before its extensions). Every operation is O(log n) and no
 * recursion is involved. Nodes are never moved or reused by an insert or
 * a delete of another key, so a struct omap_node * stays valid until its
 * own key is deleted: a caller may fetch omap_next() before deleting the
 * current node.
 */

struct omap;
struct omap_node;

/* Destroys a value the map owns (NULL: values are not owned). */
typedef void (*omap_free_fn)(void *val);

/* NULL when out of memory. */
struct omap *omap_new(omap_free_fn free_val);
/* Destroys every value with free_val; accepts NULL. */
void omap_free(struct omap *m);
/* Removes (and destroys) every entry. */
void omap_clear(struct omap *m);

size_t omap_count(const struct omap *m);
/* The node of key, or NULL. */
struct omap_node *omap_find(const struct omap *m, const char *key);
/* The value of key, or NULL (also when the stored value is NULL). */
void *omap_get(const struct omap *m, const char *key);

/*
 * Sets key to val. When the key was there, the old value is handed to
 * *old when old is non-NULL, else destroyed with free_val (and *old is
 * NULL when the key is new). Returns 1 when the key was new, 0 when
 * replaced, -1 when out of memory (nothing changed; val is not taken).
 */
int omap_put(struct omap *m, const char *key, void *val, void **old);
/* Removes key: true if it was there. Its value goes to *old when old is
 * non-NULL, else is destroyed. */
bool omap_del(struct omap *m, const char *key, void **old);

/* Ordered iteration: the smallest key; the smallest key >= key (a prefix
 * scan starts here); the next key after n. NULL at the end. */
struct omap_node *omap_first(const struct omap *m);
struct omap_node *omap_last(const struct omap *m);
struct omap_node *omap_seek(const struct omap *m, const char *key);
struct omap_node *omap_next(const struct omap_node *n);

const char *omap_key(const struct omap_node *n);
size_t omap_klen(const struct omap_node *n);
void *omap_val(const struct omap_node *n);
/* Replaces the value in place (the old one is neither returned nor freed). */
void omap_set_val(struct omap_node *n, void *val);

/* Checks the tree's invariants (order, parent links, heights, balance,
 * count); 0, or -1 when broken. For tests; O(n). */
int omap_verify(const struct omap *m);

/* Whether s starts with prefix (plen bytes). */
bool omap_has_prefix(const char *s, size_t slen, const char *prefix, size_t plen);

#endif

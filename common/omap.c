/* omap.c: an ordered map from string keys to pointers: an AVL tree with parent links. */
#include "omap.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * A classic AVL tree (Adelson-Velsky and Landis, 1962): every node keeps
 * the height of its subtree, and after an insert or a delete the path to
 * the root is walked once (parent links, no recursion), each node's height
 * recomputed and a single or double rotation done where the two children's
 * heights differ by 2. A delete of a node with two children relinks its
 * successor into its place instead of copying the successor's key and
 * value, so no other node moves (omap.h's iteration promise).
 */

struct omap_node {
	struct omap_node *left, *right, *parent;
	void *val;
	size_t klen;
	int height;
	char key[];
};

struct omap {
	struct omap_node *root;
	size_t count;
	omap_free_fn free_val;
};

struct omap *omap_new(omap_free_fn free_val)
{
	struct omap *m = calloc(1, sizeof(*m));

	if (m != NULL)
		m->free_val = free_val;
	return m;
}

static void omap_destroy_node(struct omap *m, struct omap_node *n)
{
	if (m->free_val != NULL && n->val != NULL)
		m->free_val(n->val);
	free(n);
}

void omap_clear(struct omap *m)
{
	struct omap_node *n;

	if (m == NULL)
		return;
	/* Post-order without a stack: descend to a leaf, free it, go up. */
	n = m->root;
	while (n != NULL) {
		if (n->left != NULL) {
			n = n->left;
		} else if (n->right != NULL) {
			n = n->right;
		} else {
			struct omap_node *p = n->parent;

			if (p != NULL) {
				if (p->left == n)
					p->left = NULL;
				else
					p->right = NULL;
			}
			omap_destroy_node(m, n);
			n = p;
		}
	}
	m->root = NULL;
	m->count = 0;
}

void omap_free(struct omap *m)
{
	if (m == NULL)
		return;
	omap_clear(m);
	free(m);
}

size_t omap_count(const struct omap *m)
{
	return m->count;
}

struct omap_node *omap_find(const struct omap *m, const char *key)
{
	struct omap_node *n = m->root;

	while (n != NULL) {
		int c = strcmp(key, n->key);

		if (c == 0)
			return n;
		n = c < 0 ? n->left : n->right;
	}
	return NULL;
}

void *omap_get(const struct omap *m, const char *key)
{
	struct omap_node *n = omap_find(m, key);

	return n != NULL ? n->val : NULL;
}

static int omap_h(const struct omap_node *n)
{
	return n != NULL ? n->height : 0;
}

static void omap_fix_height(struct omap_node *n)
{
	int l = omap_h(n->left), r = omap_h(n->right);

	n->height = (l > r ? l : r) + 1;
}

/* Puts c where n was under n's parent (or as the root). */
static void omap_replace_child(struct omap *m, struct omap_node *n, struct omap_node *c)
{
	struct omap_node *p = n->parent;

	if (p == NULL)
		m->root = c;
	else if (p->left == n)
		p->left = c;
	else
		p->right = c;
	if (c != NULL)
		c->parent = p;
}

static struct omap_node *omap_rotate_left(struct omap *m, struct omap_node *x)
{
	struct omap_node *y = x->right;

	x->right = y->left;
	if (y->left != NULL)
		y->left->parent = x;
	omap_replace_child(m, x, y);
	y->left = x;
	x->parent = y;
	omap_fix_height(x);
	omap_fix_height(y);
	return y;
}

static struct omap_node *omap_rotate_right(struct omap *m, struct omap_node *x)
{
	struct omap_node *y = x->left;

	x->left = y->right;
	if (y->right != NULL)
		y->right->parent = x;
	omap_replace_child(m, x, y);
	y->right = x;
	x->parent = y;
	omap_fix_height(x);
	omap_fix_height(y);
	return y;
}

/* Restores the AVL property at n; returns the subtree's new root. */
static struct omap_node *omap_balance(struct omap *m, struct omap_node *n)
{
	int bf;

	omap_fix_height(n);
	bf = omap_h(n->left) - omap_h(n->right);
	if (bf > 1) {
		if (omap_h(n->left->left) < omap_h(n->left->right))
			omap_rotate_left(m, n->left);
		return omap_rotate_right(m, n);
	}
	if (bf < -1) {
		if (omap_h(n->right->right) < omap_h(n->right->left))
			omap_rotate_right(m, n->right);
		return omap_rotate_left(m, n);
	}
	return n;
}

/* Walks from n up to the root, rebalancing (O(log n) nodes). */
static void omap_retrace(struct omap *m, struct omap_node *n)
{
	while (n != NULL) {
		n = omap_balance(m, n);
		n = n->parent;
	}
}

int omap_put(struct omap *m, const char *key, void *val, void **old)
{
	struct omap_node *p = NULL, **link = &m->root, *n;
	size_t klen;

	if (old != NULL)
		*old = NULL;
	while (*link != NULL) {
		int c = strcmp(key, (*link)->key);

		if (c == 0) {
			if (old != NULL)
				*old = (*link)->val;
			else if (m->free_val != NULL && (*link)->val != NULL && (*link)->val != val)
				m->free_val((*link)->val);
			(*link)->val = val;
			return 0;
		}
		p = *link;
		link = c < 0 ? &p->left : &p->right;
	}
	klen = strlen(key);
	n = malloc(sizeof(*n) + klen + 1);
	if (n == NULL)
		return -1;
	memcpy(n->key, key, klen + 1);
	n->klen = klen;
	n->val = val;
	n->left = n->right = NULL;
	n->parent = p;
	n->height = 1;
	*link = n;
	m->count++;
	omap_retrace(m, p);
	return 1;
}

static struct omap_node *omap_min(struct omap_node *n)
{
	while (n != NULL && n->left != NULL)
		n = n->left;
	return n;
}

static struct omap_node *omap_max(struct omap_node *n)
{
	while (n != NULL && n->right != NULL)
		n = n->right;
	return n;
}

bool omap_del(struct omap *m, const char *key, void **old)
{
	struct omap_node *z = omap_find(m, key), *start;

	if (z == NULL) {
		if (old != NULL)
			*old = NULL;
		return false;
	}
	if (z->left != NULL && z->right != NULL) {
		/* Relink z's successor y (it has no left child) into z's place. */
		struct omap_node *y = omap_min(z->right);

		if (y->parent == z) {
			start = y;
		} else {
			start = y->parent;
			omap_replace_child(m, y, y->right);
			y->right = z->right;
			y->right->parent = y;
		}
		omap_replace_child(m, z, y);
		y->left = z->left;
		y->left->parent = y;
	} else {
		start = z->parent;
		omap_replace_child(m, z, z->left != NULL ? z->left : z->right);
	}
	omap_retrace(m, start);
	m->count--;
	if (old != NULL) {
		*old = z->val;
		z->val = NULL;
	}
	omap_destroy_node(m, z);
	return true;
}

struct omap_node *omap_first(const struct omap *m)
{
	return omap_min(m->root);
}

struct omap_node *omap_last(const struct omap *m)
{
	return omap_max(m->root);
}

struct omap_node *omap_seek(const struct omap *m, const char *key)
{
	struct omap_node *n = m->root, *best = NULL;

	while (n != NULL) {
		int c = strcmp(key, n->key);

		if (c == 0)
			return n;
		if (c < 0) {
			best = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

struct omap_node *omap_next(const struct omap_node *n)
{
	const struct omap_node *p;

	if (n->right != NULL)
		return omap_min(n->right);
	p = n->parent;
	while (p != NULL && n == p->right) {
		n = p;
		p = p->parent;
	}
	return (struct omap_node *)p;
}

const char *omap_key(const struct omap_node *n)
{
	return n->key;
}

size_t omap_klen(const struct omap_node *n)
{
	return n->klen;
}

void *omap_val(const struct omap_node *n)
{
	return n->val;
}

void omap_set_val(struct omap_node *n, void *val)
{
	n->val = val;
}

bool omap_has_prefix(const char *s, size_t slen, const char *prefix, size_t plen)
{
	return slen >= plen && memcmp(s, prefix, plen) == 0;
}

int omap_verify(const struct omap *m)
{
	const struct omap_node *n, *prev = NULL;
	size_t count = 0;

	if (m->root != NULL && m->root->parent != NULL)
		return -1;
	for (n = omap_first(m); n != NULL; prev = n, n = omap_next(n)) {
		int l = omap_h(n->left), r = omap_h(n->right);

		if (prev != NULL && strcmp(prev->key, n->key) >= 0)
			return -1;
		if ((n->left != NULL && n->left->parent != n) ||
		    (n->right != NULL && n->right->parent != n))
			return -1;
		if (n->height != (l > r ? l : r) + 1 || l - r > 1 || r - l > 1)
			return -1;
		if (n->klen != strlen(n->key))
			return -1;
		count++;
	}
	return count == m->count ? 0 : -1;
}

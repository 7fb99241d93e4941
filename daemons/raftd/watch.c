/* watch.c: shared watch sets for blocking queries (a chained hash of intrusive waiter lists). */
#include "watch.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_BUCKETS_MIN 64
#define WATCH_PREFIX_MAX  (64u << 10) /* FSM_KEY_MAX: longest prefix tracked */

/* One key's list of waiters. */
struct watch_key {
	struct watch_key *next; /* hash chain */
	struct watch_link *head;
	uint64_t hash;
	size_t len;  /* of name */
	char name[]; /* NUL-terminated */
};

/* One waiter under one key. */
struct watch_link {
	struct watch_link *prev, *next;
	struct watch_key *key;
	struct watcher *w;
};

/* How many linked waiters hold a "p/" key of each prefix length. */
struct watch_plen {
	size_t len;
	size_t refs;
};

struct watch {
	struct watch_key **buckets;
	size_t n_buckets, n_keys, n_waiters;
	struct watch_plen *plens;
	size_t n_plens, cap_plens;
};

/* FNV-1a, 64-bit. */
static uint64_t watch_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

struct watch *watch_new(void)
{
	struct watch *wt = calloc(1, sizeof(*wt));

	if (wt == NULL)
		return NULL;
	wt->n_buckets = WATCH_BUCKETS_MIN;
	wt->buckets = calloc(wt->n_buckets, sizeof(*wt->buckets));
	if (wt->buckets == NULL) {
		free(wt);
		return NULL;
	}
	return wt;
}

void watch_free(struct watch *wt)
{
	if (wt == NULL)
		return;
	assert(wt->n_waiters == 0);
	for (size_t i = 0; i < wt->n_buckets; i++) {
		struct watch_key *k = wt->buckets[i], *next;

		for (; k != NULL; k = next) {
			next = k->next;
			free(k);
		}
	}
	free(wt->buckets);
	free(wt->plens);
	free(wt);
}

static struct watch_key *watch_lookup(const struct watch *wt, const char *name, size_t len,
                                      uint64_t h)
{
	struct watch_key *k = wt->buckets[h & (wt->n_buckets - 1)];

	for (; k != NULL; k = k->next)
		if (k->hash == h && k->len == len && memcmp(k->name, name, len) == 0)
			return k;
	return NULL;
}

static void watch_grow(struct watch *wt)
{
	size_t n = wt->n_buckets * 2;
	struct watch_key **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < wt->n_buckets; i++) {
		struct watch_key *k = wt->buckets[i], *next;

		for (; k != NULL; k = next) {
			next = k->next;
			k->next = b[k->hash & (n - 1)];
			b[k->hash & (n - 1)] = k;
		}
	}
	free(wt->buckets);
	wt->buckets = b;
	wt->n_buckets = n;
}

static struct watch_key *watch_key_get(struct watch *wt, const char *name)
{
	size_t len = strlen(name);
	uint64_t h = watch_hash(name, len);
	struct watch_key *k = watch_lookup(wt, name, len, h);

	if (k != NULL)
		return k;
	k = malloc(sizeof(*k) + len + 1);
	if (k == NULL)
		return NULL;
	k->head = NULL;
	k->hash = h;
	k->len = len;
	memcpy(k->name, name, len + 1);
	k->next = wt->buckets[h & (wt->n_buckets - 1)];
	wt->buckets[h & (wt->n_buckets - 1)] = k;
	if (++wt->n_keys > wt->n_buckets)
		watch_grow(wt);
	return k;
}

/* A key without waiters is dropped, so the table holds only live keys. */
static void watch_key_drop(struct watch *wt, struct watch_key *k)
{
	struct watch_key **pp = &wt->buckets[k->hash & (wt->n_buckets - 1)];

	assert(k->head == NULL);
	while (*pp != k)
		pp = &(*pp)->next;
	*pp = k->next;
	wt->n_keys--;
	free(k);
}

static bool watch_is_prefix_key(const struct watch_key *k)
{
	return k->len >= 2 && k->name[0] == 'p' && k->name[1] == '/';
}

static int watch_plen_ref(struct watch *wt, size_t len)
{
	for (size_t i = 0; i < wt->n_plens; i++) {
		if (wt->plens[i].len == len) {
			wt->plens[i].refs++;
			return 0;
		}
	}
	if (wt->n_plens == wt->cap_plens) {
		size_t cap = wt->cap_plens ? wt->cap_plens * 2 : 16;
		struct watch_plen *p = realloc(wt->plens, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		wt->plens = p;
		wt->cap_plens = cap;
	}
	wt->plens[wt->n_plens].len = len;
	wt->plens[wt->n_plens].refs = 1;
	wt->n_plens++;
	return 0;
}

static void watch_plen_unref(struct watch *wt, size_t len)
{
	for (size_t i = 0; i < wt->n_plens; i++) {
		if (wt->plens[i].len == len) {
			if (--wt->plens[i].refs == 0)
				wt->plens[i] = wt->plens[--wt->n_plens];
			return;
		}
	}
	assert(!"prefix length not referenced");
}

static void watch_unlink(struct watch *wt, struct watch_link *l)
{
	struct watch_key *k = l->key;

	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		k->head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	if (watch_is_prefix_key(k))
		watch_plen_unref(wt, k->len - 2);
	if (k->head == NULL)
		watch_key_drop(wt, k);
	free(l);
}

void watch_remove(struct watch *wt, struct watcher *w)
{
	if (w->n_links == 0)
		return;
	for (uint32_t i = 0; i < w->n_links; i++)
		watch_unlink(wt, w->links[i]);
	w->n_links = 0;
	wt->n_waiters--;
}

int watch_add(struct watch *wt, struct watcher *w, const char *const *keys, size_t n)
{
	assert(w->n_links == 0);
	if (n == 0 || n > WATCH_KEYS_MAX)
		return -1;
	w->fired = false;
	wt->n_waiters++;
	for (size_t i = 0; i < n; i++) {
		struct watch_key *k = watch_key_get(wt, keys[i]);
		struct watch_link *l = k ? malloc(sizeof(*l)) : NULL;

		if (l == NULL || (watch_is_prefix_key(k) && watch_plen_ref(wt, k->len - 2) != 0)) {
			free(l);
			if (k != NULL && k->head == NULL)
				watch_key_drop(wt, k);
			if (i == 0)
				wt->n_waiters--; /* nothing linked: remove is a no-op */
			else
				watch_remove(wt, w);
			return -1;
		}
		l->key = k;
		l->w = w;
		l->prev = NULL;
		l->next = k->head;
		if (k->head != NULL)
			k->head->prev = l;
		k->head = l;
		w->links[w->n_links++] = l;
	}
	return 0;
}

static void watch_fire_len(struct watch *wt, const char *name, size_t len, watch_cb cb, void *arg)
{
	struct watch_key *k = watch_lookup(wt, name, len, watch_hash(name, len));

	/* Each waiter is unlinked from all its keys before its callback, so
	 * the list is re-read from the head every time (cb may add waiters,
	 * never under a key being fired: a re-armed read waits for the next
	 * change). */
	while (k != NULL && k->head != NULL) {
		struct watcher *w = k->head->w;
		bool last = k->head->next == NULL;

		w->fired = true;
		watch_remove(wt, w); /* may free k when w was its last waiter */
		cb(w, arg);
		if (last)
			break;
		k = watch_lookup(wt, name, len, watch_hash(name, len));
	}
}

void watch_fire(struct watch *wt, const char *key, watch_cb cb, void *arg)
{
	watch_fire_len(wt, key, strlen(key), cb, arg);
}

void watch_fire_kv(struct watch *wt, const char *key, watch_cb cb, void *arg)
{
	size_t klen = strlen(key);
	char stack[256], *buf = stack;

	if (klen + 3 > sizeof(stack)) {
		buf = malloc(klen + 3);
		if (buf == NULL)
			return;
	}
	buf[0] = 'k';
	buf[1] = '/';
	memcpy(buf + 2, key, klen + 1);
	watch_fire_len(wt, buf, klen + 2, cb, arg);
	buf[0] = 'p';
	/* Only the prefix lengths somebody watches. Firing may drop entries
	 * from wt->plens (swapping the last into the hole), so walk a copy. */
	if (wt->n_plens > 0 && klen <= WATCH_PREFIX_MAX) {
		size_t n = wt->n_plens, lens_stack[64], *lens = lens_stack;

		if (n > sizeof(lens_stack) / sizeof(lens_stack[0]))
			lens = malloc(n * sizeof(*lens));
		if (lens != NULL) {
			for (size_t i = 0; i < n; i++)
				lens[i] = wt->plens[i].len;
			for (size_t i = 0; i < n; i++)
				if (lens[i] <= klen)
					watch_fire_len(wt, buf, lens[i] + 2, cb, arg);
			if (lens != lens_stack)
				free(lens);
		}
	}
	if (buf != stack)
		free(buf);
}

size_t watch_count(const struct watch *wt)
{
	return wt->n_waiters;
}

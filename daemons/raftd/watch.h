/* watch.h: shared watch sets for blocking queries: key -> the watchers waiting on it. */
#ifndef MUSTER_WATCH_H
#define MUSTER_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Consul's blocking queries wait on the memdb watch channels of what they
 * read; one change closes a channel and wakes every waiter once
 * (spec/http-api.md §1.10). Here a waiter registers the watch keys its read
 * depends on (fsm.h names them); watch_fire() of a key wakes each waiter
 * registered under it, once, and unlinks it from all its keys. A waiter is
 * linked into one list per key (intrusive, O(1) unlink), so the cost of a
 * change is the number of waiters it wakes, not the number held.
 *
 * "p/<prefix>" keys are fired by watch_fire_kv() for every prefix of a
 * changed KV key; only prefix lengths that some waiter holds are looked up.
 */

#define WATCH_KEYS_MAX 16 /* keys of one waiter */

struct watch;
struct watch_link;

struct watcher {
	void *arg; /* the caller's */
	uint32_t n_links;
	struct watch_link *links[WATCH_KEYS_MAX];
	bool fired;
};

typedef void (*watch_cb)(struct watcher *w, void *arg);

struct watch *watch_new(void);
/* Every waiter must have been removed first. */
void watch_free(struct watch *wt);

/* Links w under keys (at most WATCH_KEYS_MAX); -1 when out of memory or
 * too many keys (w is then linked under none). w must be zeroed or
 * removed before. */
int watch_add(struct watch *wt, struct watcher *w, const char *const *keys, size_t n);
/* Unlinks w from every key (a no-op when not linked). */
void watch_remove(struct watch *wt, struct watcher *w);

/* Unlinks every waiter of key and calls cb for each (once per waiter even
 * when it holds several fired keys: cb sees w already unlinked). */
void watch_fire(struct watch *wt, const char *key, watch_cb cb, void *arg);
/* Fires "k/<key>" and "p/<prefix>" for every watched prefix of key. */
void watch_fire_kv(struct watch *wt, const char *key, watch_cb cb, void *arg);

size_t watch_count(const struct watch *wt); /* waiters linked */

#endif

/* cache.h: dnsd's data view (answer.h's struct dns_view) over raftd's
 * replies, cached until raftd's INDEX_BUMP says the tables changed
 * (issue 7: a hot name costs no bus round trip). */
#ifndef MUSTER_DNSD_CACHE_H
#define MUSTER_DNSD_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "answer.h"
#include "conf.h"

struct ev;
struct dcache;

/* Limits (a limit on everything). */
#define DCACHE_ENTRIES_MAX 4096  /* cached names; the least recently used goes */
#define DCACHE_FETCH_MAX   256   /* raftd reads in flight */
#define DCACHE_CALL_MS     3000  /* one raftd read */
#define DCACHE_MAX_AGE_MS  60000 /* a safety net should a bump be lost */
#define DCACHE_ERROR_MS    1000  /* a failed read is remembered this long */
#define DCACHE_PROBE_MS    1000  /* the subscription's proof of life, each round */
#define DCACHE_PROBE_FAST_MS 50  /* the same while it is not live */
#define DCACHE_UNLIVE_MS   1000  /* an entry's life while bumps may be lost */

/* Runs after a raftd reply landed in the cache (or failed): parked queries
 * may now be answerable. */
typedef void (*dcache_ready_cb)(void *arg);

struct dcache_stats {
	uint64_t hits, misses, fetches, fetch_errors, invalidations, evictions, probes, unlive;
};

/* dns is borrowed (allow_stale, max_stale). NULL on failure. */
struct dcache *dcache_new(struct ev *ev, const char *run_dir, const struct conf_dns *dns,
			  dcache_ready_cb cb, void *arg);
void dcache_free(struct dcache *c);
const struct dns_view *dcache_view(struct dcache *c);
/* Call before dns_answer(); after it, missed() says whether the view
 * lacked some key (a fetch for it is on its way): the answer is then not
 * to be sent, the query waits for the ready callback. */
void dcache_begin(struct dcache *c);
bool dcache_missed(const struct dcache *c);
size_t dcache_count(const struct dcache *c);
const struct dcache_stats *dcache_stats(const struct dcache *c);

#endif

/* sched.c: when each interval check runs (a min-heap of due times over an ID map), and Consul's
 * StatusHandler thresholds; pure and seeded (sched.h). */
#include "sched.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "omap.h"
#include "prng.h"

struct sched_entry {
	const char *id; /* the omap's copy of the key */
	uint64_t interval_ms;
	uint64_t due_ms;
	uint64_t seq; /* ties on due_ms go in scheduling order */
	size_t heap_idx;
	bool running;
};

struct sched {
	struct omap *by_id; /* id -> struct sched_entry (owned) */
	struct sched_entry **heap;
	size_t n, cap;
	uint64_t rng;
	uint64_t seq;
	uint64_t skipped;
};

static bool entry_before(const struct sched_entry *a, const struct sched_entry *b)
{
	return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_set(struct sched *s, size_t i, struct sched_entry *e)
{
	s->heap[i] = e;
	e->heap_idx = i;
}

static void heap_up(struct sched *s, size_t i)
{
	struct sched_entry *e = s->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!entry_before(e, s->heap[p]))
			break;
		heap_set(s, i, s->heap[p]);
		i = p;
	}
	heap_set(s, i, e);
}

static void heap_down(struct sched *s, size_t i)
{
	struct sched_entry *e = s->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct sched_entry *best = e;
		if (l < s->n && entry_before(s->heap[l], best)) {
			m = l;
			best = s->heap[l];
		}
		if (r < s->n && entry_before(s->heap[r], best))
			m = r;
		if (m == i)
			break;
		heap_set(s, i, s->heap[m]);
		i = m;
	}
	heap_set(s, i, e);
}

/* Re-sorts e after its due time changed. */
static void heap_fix(struct sched *s, struct sched_entry *e)
{
	size_t i = e->heap_idx;

	heap_up(s, i);
	heap_down(s, e->heap_idx);
}

static void heap_remove(struct sched *s, struct sched_entry *e)
{
	size_t i = e->heap_idx;

	assert(i < s->n && s->heap[i] == e);
	s->n--;
	if (i == s->n)
		return;
	heap_set(s, i, s->heap[s->n]);
	heap_fix(s, s->heap[i]);
}

/* Uniform in [0, n) for n > 0 (the modulo bias is below 2^-40 for any interval muster takes). */
static uint64_t rand_below(struct sched *s, uint64_t n)
{
	return n ? prng_next(&s->rng) % n : 0;
}

static void set_due(struct sched *s, struct sched_entry *e, uint64_t due_ms)
{
	e->due_ms = due_ms;
	e->seq = s->seq++;
}

/* First run: a stagger in [0, min(1 s, interval)) (sched.h). */
static uint64_t first_due(struct sched *s, uint64_t interval_ms, uint64_t now_ms)
{
	uint64_t span = interval_ms < SCHED_STAGGER_MAX_MS ? interval_ms : SCHED_STAGGER_MAX_MS;

	return now_ms + rand_below(s, span);
}

/* Next run: interval ± J after now (sched.h); always > now since J <= interval / 20. */
static uint64_t next_due(struct sched *s, uint64_t interval_ms, uint64_t now_ms)
{
	uint64_t j = interval_ms / SCHED_JITTER_DIV;

	if (j > SCHED_JITTER_MAX_MS)
		j = SCHED_JITTER_MAX_MS;
	uint64_t off = rand_below(s, 2 * j + 1); /* [0, 2J] */
	uint64_t base = now_ms + interval_ms;
	if (base < now_ms) /* an absurd interval: never again rather than wrap */
		return UINT64_MAX - j;
	return base - j + off;
}

struct sched *sched_new(uint64_t seed)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->by_id = omap_new(free);
	if (!s->by_id) {
		free(s);
		return NULL;
	}
	s->rng = seed;
	return s;
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	omap_free(s->by_id);
	free(s->heap);
	free(s);
}

void sched_add(struct sched *s, const char *check_id, uint64_t interval_ms, uint64_t now_ms)
{
	struct sched_entry *e = omap_get(s->by_id, check_id);

	if (interval_ms == 0)
		interval_ms = 1;
	if (e) {
		e->interval_ms = interval_ms;
		set_due(s, e, first_due(s, interval_ms, now_ms));
		heap_fix(s, e);
		return;
	}
	if (s->n >= SCHED_CHECKS_MAX)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct sched_entry **h = realloc(s->heap, cap * sizeof(*h));
		if (!h)
			return;
		s->heap = h;
		s->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	if (omap_put(s->by_id, check_id, e, NULL) < 0) {
		free(e);
		return;
	}
	e->id = omap_key(omap_find(s->by_id, check_id));
	e->interval_ms = interval_ms;
	set_due(s, e, first_due(s, interval_ms, now_ms));
	s->heap[s->n] = e;
	e->heap_idx = s->n++;
	heap_up(s, e->heap_idx);
}

void sched_remove(struct sched *s, const char *check_id)
{
	struct sched_entry *e = omap_get(s->by_id, check_id);

	if (!e)
		return;
	heap_remove(s, e);
	omap_del(s->by_id, check_id, NULL); /* frees e */
}

bool sched_has(const struct sched *s, const char *check_id)
{
	return omap_find(s->by_id, check_id) != NULL;
}

size_t sched_due(struct sched *s, uint64_t now_ms, const char **ids, size_t max)
{
	size_t n = 0;

	/* Each entry taken is rescheduled after now, so the loop visits an entry at most once. */
	while (n < max && s->n > 0 && s->heap[0]->due_ms <= now_ms) {
		struct sched_entry *e = s->heap[0];
		set_due(s, e, next_due(s, e->interval_ms, now_ms));
		heap_down(s, 0);
		if (e->running) {
			s->skipped++;
			continue;
		}
		ids[n++] = e->id;
	}
	return n;
}

void sched_running(struct sched *s, const char *check_id, bool running)
{
	struct sched_entry *e = omap_get(s->by_id, check_id);

	if (e)
		e->running = running;
}

uint64_t sched_next_deadline(const struct sched *s)
{
	return s->n ? s->heap[0]->due_ms : UINT64_MAX;
}

size_t sched_count(const struct sched *s)
{
	return s->n;
}

uint64_t sched_skipped(const struct sched *s)
{
	return s->skipped;
}

void sched_counts_init(const struct sched_thresh *t, struct sched_counts *c)
{
	c->successes = t->success_before_passing;
	c->failures = t->failures_before_critical;
}

static uint64_t sat_inc(uint64_t v)
{
	return v == UINT64_MAX ? v : v + 1;
}

int sched_status(const struct sched_thresh *t, struct sched_counts *c, int current, int result)
{
	if (result == 0 || result == 1) {
		c->successes = sat_inc(c->successes);
		c->failures = 0;
		return c->successes >= t->success_before_passing ? result : current;
	}
	uint64_t warn = t->failures_before_warning ? t->failures_before_warning
	                                           : t->failures_before_critical;
	c->failures = sat_inc(c->failures);
	c->successes = 0;
	if (c->failures >= t->failures_before_critical)
		return 2;
	if (c->failures >= warn)
		return 1;
	return current;
}

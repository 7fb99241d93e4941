/* fuzz_gsnap.c: libFuzzer target for Serf's snapshot replay: any bytes replay, and a compacted form replays the same. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "daemons/gossipd/gsnap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The member set and clocks written as a compaction writes them. */
static void fuzz_gsnap_compacted(const struct gsnap_prev *p, struct buf *b)
{
	for (size_t i = 0; i < p->n_alive; i++)
		buf_printf(b, "alive: %s %s\n", p->alive[i].name, p->alive[i].addr);
	buf_printf(b, "clock: %llu\nevent-clock: %llu\nquery-clock: %llu\n",
	           (unsigned long long)p->clock, (unsigned long long)p->event_clock,
	           (unsigned long long)p->query_clock);
}

static void fuzz_gsnap_one(const char *text, size_t len, bool rejoin)
{
	struct gsnap_prev p, q;
	size_t lines = 0;
	struct buf b;

	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (gsnap_replay(text, len, rejoin, &p) != 0)
		abort();
	if (p.n_alive > GSNAP_NODES_MAX || p.bad_lines > lines + 1 || (rejoin && p.left))
		abort();
	for (size_t i = 0; i < p.n_alive; i++) {
		const struct gsnap_node *n = &p.alive[i];

		if (n->name[0] == '\0' || n->addr[0] == '\0' || strchr(n->name, '\n') != NULL ||
		    strpbrk(n->addr, " \n") != NULL)
			abort();
	}
	/* Replaying the compacted form gives the same members, in the same
	 * order, and the same clocks, with nothing bad. */
	buf_init(&b, (size_t)GSNAP_NODES_MAX * (GSNAP_LINE_MAX + 1) + 256);
	fuzz_gsnap_compacted(&p, &b);
	if (b.err || gsnap_replay((const char *)b.p, b.len, false, &q) != 0)
		abort();
	if (q.n_alive != p.n_alive || q.clock != p.clock || q.event_clock != p.event_clock ||
	    q.query_clock != p.query_clock || q.bad_lines != 0)
		abort();
	for (size_t i = 0; i < p.n_alive; i++)
		if (strcmp(p.alive[i].name, q.alive[i].name) != 0 ||
		    strcmp(p.alive[i].addr, q.alive[i].addr) != 0)
			abort();
	gsnap_prev_free(&q);
	buf_fini(&b);
	gsnap_prev_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_gsnap_one((const char *)data, size, false);
	fuzz_gsnap_one((const char *)data, size, true);
	return 0;
}

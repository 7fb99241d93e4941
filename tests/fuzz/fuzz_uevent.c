/* fuzz_uevent.c: libFuzzer target for Consul's user event body: decode, encode, decode again, filters, index. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "daemons/gossipd/uevent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_UEVENT_OUT_CAP (1u << 20)

static bool fuzz_uevent_str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Every field survives an encode and a decode. */
static void fuzz_uevent_same(const struct uevent *a, const struct uevent *b)
{
	if (strcmp(a->id, b->id) != 0 || strcmp(a->name, b->name) != 0 ||
	    a->payload_len != b->payload_len || a->version != b->version ||
	    !fuzz_uevent_str_same(a->node_filter, b->node_filter) ||
	    !fuzz_uevent_str_same(a->service_filter, b->service_filter) ||
	    !fuzz_uevent_str_same(a->tag_filter, b->tag_filter))
		abort();
	if (a->payload_len > 0 && memcmp(a->payload, b->payload, a->payload_len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tags[] = {"v1", "prod", ""};
	static const struct uevent_service svcs[] = {{"api", tags, 3}, {"web-1", NULL, 0}};
	const struct uevent *one[1];
	struct uevent e, again, copy;
	struct uevent_ring *ring;
	char err[256];
	struct buf b;

	if (uevent_decode(data, size, &e) != 0)
		return 0;
	if (e.name == NULL)
		abort(); /* never NULL after a decode */
	buf_init(&b, FUZZ_UEVENT_OUT_CAP);
	/* What decodes is within the bounds the encoder checks. */
	if (uevent_encode(&e, &b) != 0)
		abort();
	if (uevent_decode(b.p, b.len, &again) != 0)
		abort();
	fuzz_uevent_same(&e, &again);
	uevent_free(&again);
	buf_fini(&b);

	/* Filters come from any cluster member: compiling and matching
	 * must stay bounded whatever they hold. */
	(void)uevent_validate(&e, err, sizeof(err));
	(void)uevent_accept(&e, "web-1", svcs, 2);
	(void)uevent_accept(&e, e.name, svcs, 1);

	ring = calloc(1, sizeof(*ring));
	if (ring == NULL)
		abort();
	uevent_ring_init(ring);
	uevent_copy(&copy, &e);
	uevent_ring_push(ring, &copy);
	uevent_ring_push(ring, &e);
	if (uevent_ring_list(ring, ring->ev[0].name, one, 1) != 1)
		abort();
	(void)uevent_index(one, 1);
	uevent_ring_fini(ring);
	free(ring);
	return 0;
}

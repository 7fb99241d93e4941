/* fuzz_serf.c: libFuzzer target for Serf's wire format: messages, query filters, tags, ack coordinates. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "daemons/gossipd/serfwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SERF_OUT_CAP (1u << 20)

/* What decodes and then encodes (serfwire may refuse to send what it
 * accepted: its sending limits are tighter) decodes again. */
static void fuzz_serf_msg(const uint8_t *p, size_t len)
{
	struct serfwire_msg m, again;
	const char *why = NULL;
	struct buf b;

	if (serfwire_decode(p, len, &m, &why) != 0) {
		if (why == NULL)
			abort(); /* every refusal says why */
		return;
	}
	buf_init(&b, FUZZ_SERF_OUT_CAP);
	if (serfwire_encode(&b, &m, &why) == 0) {
		if (serfwire_decode(b.p, b.len, &again, &why) != 0)
			abort();
		serfwire_msg_fini(&again);
	}
	buf_fini(&b);
	serfwire_msg_fini(&m);
}

static void fuzz_serf_filter(const uint8_t *p, size_t len)
{
	struct serfwire_filter f;
	const char *why = NULL;
	struct buf b;

	if (serfwire_filter_decode(p, len, &f, &why) != 0)
		return;
	buf_init(&b, FUZZ_SERF_OUT_CAP);
	(void)serfwire_filter_encode(&b, &f, &why);
	buf_fini(&b);
	serfwire_filter_fini(&f);
}

static void fuzz_serf_tags(const uint8_t *p, size_t len)
{
	struct serfwire_tags t;
	const char *why = NULL;
	struct buf b;

	if (serfwire_tags_decode(p, len, &t, &why) != 0)
		return;
	buf_init(&b, FUZZ_SERF_OUT_CAP);
	(void)serfwire_tags_encode(&b, &t, &why);
	buf_fini(&b);
}

static void fuzz_serf_coord(const uint8_t *p, size_t len)
{
	struct serfwire_coord c;
	const char *why = NULL;
	struct buf b;

	if (serfwire_coord_decode(p, len, &c, &why) != 0)
		return;
	buf_init(&b, FUZZ_SERF_OUT_CAP);
	(void)serfwire_coord_encode(&b, &c);
	buf_fini(&b);
}

/* The same bytes through every Serf decoder: a message (the user payload
 * of memberlist), a query filter, node Meta, an ack payload. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_serf_msg(data, size);
	fuzz_serf_filter(data, size);
	fuzz_serf_tags(data, size);
	fuzz_serf_coord(data, size);
	return 0;
}

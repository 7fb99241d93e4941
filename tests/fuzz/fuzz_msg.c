/* fuzz_msg.c: libFuzzer target for msg_decode(): any input decodes or is refused, never crashes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

#define FUZZ_FRAME_CAP (16u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A decoded message re-encodes, and that encoding decodes to a message
 * whose encoding is the same bytes (the input itself need not be the
 * smallest encoding, so it is not compared). */
static void fuzz_msg_roundtrip(const struct msg *m)
{
	struct buf b1, b2;
	struct msg again;

	buf_init(&b1, FUZZ_FRAME_CAP);
	buf_init(&b2, FUZZ_FRAME_CAP);
	if (msg_encode(m, &b1) != 0)
		abort();
	if (msg_decode(b1.p, b1.len, 0, &again) != MSG_OK)
		abort();
	if (msg_encode(&again, &b2) != 0)
		abort();
	if (b1.len != b2.len || memcmp(b1.p, b2.p, b1.len) != 0)
		abort();
	/* The printer walks every field too. */
	buf_reset(&b2);
	(void)msg_format(&again, &b2);
	msg_free(&again);
	buf_fini(&b1);
	buf_fini(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg m;
	enum msg_err e0, e;
	enum msg_type type;

	e0 = msg_decode(data, size, 0, &m);
	type = m.type;
	if (e0 == MSG_OK)
		fuzz_msg_roundtrip(&m);
	msg_free(&m);
	/* The sender check is made before the fields are read: it can only
	 * turn another outcome into MSG_ESENDER, and a good frame is refused
	 * exactly when its sender is not allowed. */
	for (unsigned bit = 1; bit <= MSG_PEER_ANY; bit <<= 1) {
		e = msg_decode(data, size, bit, &m);
		if (e != e0 && e != MSG_ESENDER)
			abort();
		if (e0 == MSG_OK && (e == MSG_OK) != msg_sender_allowed(type, bit))
			abort();
		msg_free(&m);
	}
	return 0;
}

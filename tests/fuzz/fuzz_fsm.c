/* fuzz_fsm.c: libFuzzer target for raftd's state machine: any command sequence applies or is
 * refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemons/raftd/fsm.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input is a sequence of frames, each a 2-byte big-endian length and a
 * bus frame (msgpack [type, req_id, field...]). Each frame that decodes is
 * applied at the next index when it is a write, or served when it is a read
 * (a write is also served as a read, which the fsm must refuse cleanly).
 * Whatever happens, nothing crashes or leaks, and the writes the fsm hands
 * out load into a fresh fsm that holds the same indexes (what a restarted
 * raftd would see).
 */
#define FUZZ_FSM_FRAMES_MAX 256

static void fuzz_fsm_check_reload(struct fsm *f, struct fsm *copy)
{
	const struct fsm_write *w;
	size_t n;

	w = fsm_writes(f, &n);
	for (size_t i = 0; i < n; i++) {
		if (w[i].del)
			continue; /* a reload starts empty: deletes of what it never had */
		if (fsm_load(copy, w[i].table, w[i].key, w[i].klen, w[i].val.p, w[i].val.len) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsm *f = fsm_new();
	uint64_t index = 1, now = 1000;
	size_t off = 0;
	unsigned frames = 0;

	if (f == NULL)
		abort();
	while (off + 2 <= size && frames++ < FUZZ_FSM_FRAMES_MAX) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		struct msg m, reply;

		off += 2;
		if (len > size - off)
			len = size - off;
		if (msg_decode(data + off, len, 0, &m) == MSG_OK) {
			memset(&reply, 0, sizeof(reply));
			if (fsm_is_write(&m)) {
				(void)fsm_apply(f, ++index, &m, now, &reply);
				msg_free(&reply);
			}
			{
				struct fsm_watchset ws = {0};

				(void)fsm_query(f, &m, &reply, &ws);
				msg_free(&reply);
				fsm_watchset_fini(&ws);
			}
			msg_free(&m);
		}
		off += len;
		now += 10;
	}
	{
		struct fsm *copy = fsm_new();

		if (copy == NULL)
			abort();
		fuzz_fsm_check_reload(f, copy);
		/* Rows deleted later are still in the copy (it loads puts
		 * only), so only the table indexes, never deleted, are
		 * compared. */
		if (fsm_max_index(copy) != fsm_max_index(f))
			abort();
		fsm_free(copy);
	}
	fsm_free(f);
	return 0;
}

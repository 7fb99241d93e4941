/* fuzz_raftconf.c: libFuzzer target for raft_conf_decode(): a Raft configuration as raftd's store
 * and log hold it (either encoding) decodes or is refused, never crashes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemons/raftd/raft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * What decodes re-encodes (in the current encoding) and decodes to the same members; an input
 * in the current encoding is canonical, so it re-encodes to the same bytes. A refused input
 * leaves the configuration untouched.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[RAFT_CONF_ENCODED_MAX];
	struct raft_conf c, d, keep;

	memset(&c, 0x5a, sizeof(c));
	memcpy(&keep, &c, sizeof(c));
	if (raft_conf_decode(&c, data, size) != 0) {
		if (memcmp(&c, &keep, sizeof(c)) != 0)
			abort();
		return 0;
	}
	size_t n = raft_conf_encode(&c, buf, sizeof(buf));
	if (n == 0 || raft_conf_decode(&d, buf, n) != 0 || d.n != c.n)
		abort();
	for (uint32_t i = 0; i < c.n; i++) {
		if (d.m[i].id != c.m[i].id || d.m[i].voter != c.m[i].voter ||
		    strcmp(d.m[i].addr, c.m[i].addr) != 0)
			abort();
	}
	if (size >= 4 && memcmp(data, buf, 4) == 0 && (n != size || memcmp(data, buf, n) != 0))
		abort();
	return 0;
}

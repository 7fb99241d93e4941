/* mkstore.c: writes a fresh raftd store whose first entry is a given Raft configuration, for tests of membership. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemons/raftd/raft.h"
#include "daemons/raftd/store.h"

/* mkstore DIR ID[:nonvoter][@HOST:PORT] ...: IDs in hex, as raftd derives
 * them from node_id (the first 16 hex digits); without @, the address is
 * unknown (""), as in stores written before configurations held addresses. */
int main(int argc, char **argv)
{
	struct raft_conf c;
	char err[256];

	memset(&c, 0, sizeof(c));
	if (argc < 3 || (size_t)(argc - 2) > sizeof(c.m) / sizeof(c.m[0])) {
		fprintf(stderr, "usage: mkstore DIR ID[:nonvoter][@HOST:PORT]...\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		char *end;
		uint64_t id = strtoull(argv[i], &end, 16);
		bool voter = strncmp(end, ":nonvoter", 9) != 0;
		const char *addr = "";

		if (!voter)
			end += 9;
		if (*end == '@')
			addr = end + 1;
		else if (*end != '\0')
			end = argv[i]; /* trailing junk */
		if (end == argv[i] || raft_conf_find(&c, id) != NULL ||
		    raft_conf_apply_op(&c, voter ? RAFT_CONF_ADD_VOTER : RAFT_CONF_ADD_NONVOTER, id,
		                       addr) != 0) {
			fprintf(stderr, "mkstore: bad server %s\n", argv[i]);
			return 2;
		}
	}
	struct store *s = store_open(argv[1], true, err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "mkstore: %s\n", err);
		return 1;
	}
	int rc = store_bootstrap(s, &c);
	store_close(s);
	if (rc != 0) {
		fprintf(stderr, "mkstore: %s is not empty\n", argv[1]);
		return 1;
	}
	return 0;
}

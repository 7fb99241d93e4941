/* mkstore.c: writes a fresh raftd store whose first entry is a given Raft configuration, for tests of membership. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemons/raftd/raft.h"
#include "daemons/raftd/store.h"

/* mkstore DIR ID[:nonvoter] ...: IDs in hex, as raftd derives them from
 * node_id (the first 16 hex digits). */
int main(int argc, char **argv)
{
	struct raft_conf c;
	char err[256];

	memset(&c, 0, sizeof(c));
	if (argc < 3 || (size_t)(argc - 2) > sizeof(c.m) / sizeof(c.m[0])) {
		fprintf(stderr, "usage: mkstore DIR ID[:nonvoter]...\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		char *end;
		c.m[c.n].id = strtoull(argv[i], &end, 16);
		c.m[c.n].voter = strcmp(end, ":nonvoter") != 0;
		if (end == argv[i] || (*end != '\0' && c.m[c.n].voter)) {
			fprintf(stderr, "mkstore: bad server %s\n", argv[i]);
			return 2;
		}
		c.n++;
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

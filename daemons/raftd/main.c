/* main.c: raftd, the replicated catalog, KV and sessions (Raft, RocksDB) on 8300 (DESIGN.md §1). */
#include "daemon.h"

/* Until its subsystem lands, raftd runs the common part only: its loop, its
 * bus endpoints, PING/STATUS/STATS/RELOAD/LOG_LEVEL/SHUTDOWN, readiness.
 * It binds no network port and answers every other request with a clear
 * error rather than made-up data. */
static const struct daemon_ops raftd_ops = {
    .name = "raftd",
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &raftd_ops);
}

/* main.c: raftd, the replicated catalog, KV and sessions (Raft, RocksDB) on 8300 (DESIGN.md §1). */
#include "raftd.h"

static struct raftd raftd_state;

static int raftd_on_start(struct daemon *d)
{
	d->priv = &raftd_state;
	return raftd_start(&raftd_state, d);
}

static void raftd_on_stop(struct daemon *d)
{
	raftd_stop(d->priv);
}

static bool raftd_on_request(struct daemon *d, const struct ipc_from *from, struct msg *m)
{
	return raftd_request(d->priv, from, m);
}

static void raftd_on_stats(struct daemon *d, struct msg_daemon_stats *out)
{
	raftd_stats(d->priv, out);
}

static const struct daemon_ops raftd_ops = {
    .name = "raftd",
    .start = raftd_on_start,
    .stop = raftd_on_stop,
    .request = raftd_on_request,
    .stats = raftd_on_stats,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &raftd_ops);
}

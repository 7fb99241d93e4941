/* main.c: gossipd, SWIM/Lifeguard membership in Serf's wire format on 8301/8302 (DESIGN.md §1). */
#include "daemon.h"

/* Until its subsystem lands, gossipd runs the common part only: its loop, its
 * bus endpoints, PING/STATUS/STATS/RELOAD/LOG_LEVEL/SHUTDOWN, readiness.
 * It binds no network port and answers every other request with a clear
 * error rather than made-up data. */
static const struct daemon_ops gossipd_ops = {
    .name = "gossipd",
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &gossipd_ops);
}

/* main.c: dnsd, the Consul DNS interface on 8600 (DESIGN.md §1). */
#include "daemon.h"

/* Until its subsystem lands, dnsd runs the common part only: its loop, its
 * bus endpoints, PING/STATUS/STATS/RELOAD/LOG_LEVEL/SHUTDOWN, readiness.
 * It binds no network port and answers every other request with a clear
 * error rather than made-up data. */
static const struct daemon_ops dnsd_ops = {
    .name = "dnsd",
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &dnsd_ops);
}

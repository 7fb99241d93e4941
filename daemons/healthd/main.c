/* main.c: healthd, this agent's services and checks, check runners and anti-entropy (DESIGN.md §1).
 */
#include "daemon.h"

/* Until its subsystem lands, healthd runs the common part only: its loop, its
 * bus endpoints, PING/STATUS/STATS/RELOAD/LOG_LEVEL/SHUTDOWN, readiness.
 * It binds no network port and answers every other request with a clear
 * error rather than made-up data. */
static const struct daemon_ops healthd_ops = {
    .name = "healthd",
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &healthd_ops);
}

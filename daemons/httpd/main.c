/* main.c: httpd, the Consul HTTP API on 8500 (DESIGN.md §1). */
#include "daemon.h"

/* Until its subsystem lands, httpd runs the common part only: its loop, its
 * bus endpoints, PING/STATUS/STATS/RELOAD/LOG_LEVEL/SHUTDOWN, readiness.
 * It binds no network port and answers every other request with a clear
 * error rather than made-up data. */
static const struct daemon_ops httpd_ops = {
    .name = "httpd",
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &httpd_ops);
}

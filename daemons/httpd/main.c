/* main.c: httpd, the Consul HTTP API on 8500 (DESIGN.md §1, spec/http-api.md). */
#include "httpd.h"

static struct httpd httpd_state;

static int httpd_on_start(struct daemon *d)
{
	d->priv = &httpd_state;
	return httpd_start(&httpd_state, d);
}

static void httpd_on_stop(struct daemon *d)
{
	httpd_stop(d->priv);
}

static void httpd_on_stats(struct daemon *d, struct msg_daemon_stats *out)
{
	httpd_stats(d->priv, out);
}

static const struct daemon_ops httpd_ops = {
    .name = "httpd",
    .start = httpd_on_start,
    .stop = httpd_on_stop,
    .stats = httpd_on_stats,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &httpd_ops);
}

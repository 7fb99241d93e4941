/* daemon.c: what every child daemon shares: config, loop, bus, lifeline, common messages. */
#include "daemon.h"
#include "cmdline.h"
#include "ev.h"
#include "lifeline.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

uint64_t daemon_random64(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
		/* getrandom on Linux ≥ 3.17 does not fail for 8 bytes once
		 * the pool is ready; this is a last resort, not randomness. */
		v = ((uint64_t)getpid() << 32) ^ ev_clock_ms();
	}
	return v;
}

void daemon_uuid(char out[37])
{
	uint8_t b[16];
	uint64_t r1 = daemon_random64(), r2 = daemon_random64();

	memcpy(b, &r1, 8);
	memcpy(b + 8, &r2, 8);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* RFC 4122 §4.4: version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

void daemon_stat_add(struct msg_daemon_stats *out, const char *name, unsigned kind, double value)
{
	struct msg_stat *v = realloc(out->stats.v, (out->stats.n + 1) * sizeof(*v));

	if (v == NULL)
		return;
	out->stats.v = v;
	v += out->stats.n;
	memset(v, 0, sizeof(*v));
	v->name = strdup(name);
	if (v->name == NULL)
		return;
	v->kind = kind;
	v->value = value;
	out->stats.n++;
}

void daemon_log_tap(enum log_level level, const char *line, void *arg)
{
	const struct daemon_log_pub *lp = arg;
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_LOG_LINE;
	m.u.log_line.daemon = (char *)lp->name;
	m.u.log_line.level = (uint64_t)level;
	m.u.log_line.line = (char *)line;
	/* A failure is the PUB's HWM or a frame too big: the line still went
	 * to stderr, and log.c keeps what ipc_publish logs out of the tap. */
	ipc_publish(lp->pub, &m);
}

static void daemon_stop(struct daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = true;
	log_info("stopping: %s", why);
	ev_stop(d->ev);
}

void daemon_fail(struct daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->exit_code = 1;
	d->stopping = true;
	log_errorx("exiting for a restart: %s", why);
	ev_stop(d->ev);
}

static int daemon_reload(struct daemon *d, char *err, size_t err_size)
{
	struct conf old = d->conf, fresh;
	enum log_level lvl;
	int rc = 0;

	if (cmdline_conf(d->argc, d->argv, &fresh, !d->supervised) != CMDLINE_RUN) {
		snprintf(err, err_size, "configuration has errors; keeping the running one");
		conf_fini(&fresh);
		return -1;
	}
	d->conf = fresh;
	if (d->ops->reload != NULL)
		rc = d->ops->reload(d, &old, err, err_size);
	if (rc != 0) {
		conf_fini(&d->conf);
		d->conf = old;
		return -1;
	}
	conf_fini(&old);
	if (log_level_parse(d->conf.log_level, &lvl) == 0)
		log_set_level(lvl);
	log_info("configuration reloaded");
	return 0;
}

static void daemon_stats_reply(struct daemon *d, const struct ipc_from *from)
{
	const struct ipc_counters *c = ipc_server_counters(d->rpc);
	struct msg r;
	struct msg_daemon_stats *ds;

	memset(&r, 0, sizeof(r));
	r.type = MSG_STATS_REPLY;
	ds = calloc(1, sizeof(*ds));
	if (ds == NULL) {
		ipc_reply_result(d->rpc, from, 500, "out of memory");
		return;
	}
	ds->name = strdup(d->ops->name);
	ds->pid = (uint64_t)getpid();
	daemon_stat_add(ds, "uptime_ms", 0, (double)(ev_now_ms(d->ev) - d->start_ms));
	daemon_stat_add(ds, "bus.received", 1, (double)c->received);
	daemon_stat_add(ds, "bus.sent", 1, (double)c->sent);
	daemon_stat_add(ds, "bus.malformed", 1, (double)c->malformed);
	daemon_stat_add(ds, "bus.refused", 1, (double)c->refused);
	daemon_stat_add(ds, "bus.dropped", 1, (double)c->dropped);
	if (d->ops->stats != NULL)
		d->ops->stats(d, ds);
	r.u.stats_reply.daemons.v = ds;
	r.u.stats_reply.daemons.n = 1;
	ipc_reply(d->rpc, from, &r);
	msg_free(&r);
}

bool daemon_answer_probe(struct ipc_server *s, const struct ipc_from *from, struct msg *m,
                         uint64_t epoch)
{
	struct msg r;

	if (m->type == MSG_ECHO) {
		/* The round-trip probe: the request itself is the answer. */
		ipc_reply(s, from, m);
		return true;
	}
	if (m->type != MSG_PING)
		return false;
	memset(&r, 0, sizeof(r));
	r.type = MSG_PONG;
	r.u.pong.nonce = m->u.ping.nonce;
	r.u.pong.epoch = epoch;
	ipc_reply(s, from, &r);
	return true;
}

int daemon_set_monitor_level(struct ipc_server *s, const struct ipc_from *from, const char *level)
{
	enum log_level lvl;

	if (level == NULL || level[0] == '\0') {
		log_set_tap_level(-1);
		return 0;
	}
	if (log_level_parse(level, &lvl) != 0) {
		ipc_reply_result(s, from, 400, "unknown log level");
		return -1;
	}
	log_set_tap_level((int)lvl);
	/* The pid tells a restarted daemon's line from its predecessor's. */
	log_debug("monitor level %s (from %s, pid %d)", log_level_name(lvl), from->name,
	          (int)getpid());
	return 0;
}

int daemon_set_log_level(struct ipc_server *s, const struct ipc_from *from, const char *level)
{
	enum log_level lvl;
	char err[128];

	if (log_level_parse(level, &lvl) != 0) {
		snprintf(err, sizeof(err), "unknown log level \"%.64s\"", level);
		ipc_reply_result(s, from, 400, err);
		return -1;
	}
	log_set_level(lvl);
	log_info("log level set to %s by %s", log_level_name(lvl), from->name);
	return 0;
}

static void daemon_on_request(struct ipc_server *s, const struct ipc_from *from, struct msg *m,
                              void *arg)
{
	struct daemon *d = arg;
	struct msg r;
	char err[256];

	memset(&r, 0, sizeof(r));
	if (daemon_answer_probe(s, from, m, d->epoch))
		return;
	switch (m->type) {
	case MSG_STATUS:
		r.type = MSG_STATUS_REPLY;
		r.u.status_reply.name = (char *)d->ops->name;
		r.u.status_reply.pid = (uint64_t)getpid();
		r.u.status_reply.epoch = d->epoch;
		r.u.status_reply.uptime_ms = ev_now_ms(d->ev) - d->start_ms;
		r.u.status_reply.state = (char *)(d->stopping ? "stopping"
		                                  : d->ready  ? "ready"
		                                              : "starting");
		ipc_reply(s, from, &r);
		return;
	case MSG_STATS:
		daemon_stats_reply(d, from);
		return;
	case MSG_RELOAD:
		if (daemon_reload(d, err, sizeof(err)) != 0)
			ipc_reply_result(s, from, 500, err);
		else
			ipc_reply_result(s, from, 200, "");
		return;
	case MSG_LOG_LEVEL:
		if (daemon_set_log_level(s, from, m->u.log_level.level) == 0)
			ipc_reply_result(s, from, 200, "");
		return;
	case MSG_MONITOR_LEVEL:
		if (daemon_set_monitor_level(s, from, m->u.monitor_level.level) == 0)
			ipc_reply_result(s, from, 200, "");
		return;
	case MSG_SUB_PROBE:
		/* msg.def SUB_PROBE: the request comes back on our PUB */
		m->u.sub_probe.epoch = d->epoch;
		if (ipc_publish(d->pub, m) != 0)
			ipc_reply_result(s, from, 500, "cannot publish the probe");
		else
			ipc_reply_result(s, from, 200, "");
		return;
	case MSG_SHUTDOWN:
		ipc_reply_result(s, from, 200, "");
		daemon_stop(d, m->u.shutdown.reason && m->u.shutdown.reason[0]
		                   ? m->u.shutdown.reason
		                   : "shutdown requested");
		return;
	default:
		break;
	}
	if (d->ops->request != NULL && d->ops->request(d, from, m))
		return;
	/* A message meant for this daemon whose subsystem is not built yet
	 * is a 503 that says so; one that is not meant for it, a 400. */
	if (msg_receiver_allowed(m->type, msg_peer_from_name(d->ops->name, strlen(d->ops->name)))) {
		snprintf(err, sizeof(err), "%s: %s is not built yet", d->ops->name,
		         msg_type_name(m->type));
		ipc_reply_result(s, from, 503, err);
		return;
	}
	snprintf(err, sizeof(err), "%s does not handle %s", d->ops->name, msg_type_name(m->type));
	ipc_reply_result(s, from, 400, err);
}

static void daemon_on_signal(struct ev *ev, int signo, void *arg)
{
	struct daemon *d = arg;
	char err[256];

	(void)ev;
	switch (signo) {
	case SIGTERM:
	case SIGINT:
		daemon_stop(d, signo == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGHUP:
		if (daemon_reload(d, err, sizeof(err)) != 0)
			log_errorx("reload on SIGHUP failed: %s", err);
		break;
	default:
		break;
	}
}

static void daemon_lifeline_gone(struct ev *ev, void *arg)
{
	(void)ev;
	daemon_stop(arg, "supervisor gone");
}

int daemon_main(int argc, char **argv, const struct daemon_ops *ops)
{
	struct daemon d;
	struct daemon_log_pub log_pub;
	enum log_level lvl = LOG_LEVEL_INFO;
	enum cmdline_result cr;
	int rc = 1, attached;
	bool started_badly = false;

	memset(&d, 0, sizeof(d));
	d.ops = ops;
	d.argc = argc;
	d.argv = argv;
	log_init(ops->name, LOG_LEVEL_INFO);
	d.supervised = getenv(LIFELINE_ENV) != NULL;
	cr = cmdline_conf(argc, argv, &d.conf, !d.supervised);
	if (cr != CMDLINE_RUN) {
		conf_fini(&d.conf);
		return cr == CMDLINE_EXIT_OK ? 0 : 1;
	}
	if (log_level_parse(d.conf.log_level, &lvl) == 0)
		log_set_level(lvl);
	if (rundir_resolve(d.conf.data_dir, d.run_dir, sizeof(d.run_dir)) != 0) {
		log_errorx("no run_dir: set %s or data_dir", RUNDIR_ENV);
		goto out;
	}
	/* A dying peer must not kill us with SIGPIPE; errors come back as EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	d.ev = ev_new();
	if (d.ev == NULL)
		goto out;
	d.start_ms = ev_now_ms(d.ev);
	d.epoch = daemon_random64();
	if (ev_signal(d.ev, SIGTERM, daemon_on_signal, &d) != 0 ||
	    ev_signal(d.ev, SIGINT, daemon_on_signal, &d) != 0 ||
	    ev_signal(d.ev, SIGHUP, daemon_on_signal, &d) != 0)
		goto out;
	attached = lifeline_attach(d.ev, daemon_lifeline_gone, &d);
	if (attached < 0)
		goto out;
	if (rundir_make(d.run_dir) != 0)
		goto out;
	d.rpc = ipc_server_new(d.ev, d.run_dir, ops->name, daemon_on_request, &d);
	d.pub = ipc_pub_new(d.run_dir, ops->name);
	if (d.rpc == NULL || d.pub == NULL)
		goto out;
	log_pub.pub = d.pub;
	log_pub.name = ops->name;
	log_set_tap(daemon_log_tap, &log_pub);
	if (ops->start != NULL && ops->start(&d) != 0) {
		log_errorx("cannot start");
		/* a half-done start may hold sockets its daemon's stop would not
		 * know to close, and zmq's context would wait on them forever:
		 * the process exits without terminating it */
		started_badly = true;
		goto out;
	}
	d.ready = true;
	if (lifeline_ready() != 0) {
		/* musterd went between our start and our ready: stop what start
		 * opened, or ipc_ctx_term() below waits on those sockets forever
		 * (an orphan holding the agent's ports) */
		if (ops->stop != NULL)
			ops->stop(&d);
		goto out;
	}
	log_info("ready (run_dir %s, epoch %016llx%s)", d.run_dir, (unsigned long long)d.epoch,
	         attached ? "" : ", no supervisor");
	rc = ev_run(d.ev) == 0 ? d.exit_code : 1;
	if (ops->stop != NULL)
		ops->stop(&d);
out:
	log_set_tap(NULL, NULL);
	ipc_server_free(d.rpc);
	ipc_pub_free(d.pub);
	if (d.ev != NULL)
		lifeline_detach(d.ev);
	if (!started_badly)
		ipc_ctx_term();
	ev_free(d.ev);
	conf_fini(&d.conf);
	return rc;
}

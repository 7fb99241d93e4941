/* bus.c: musterd.rpc (RELOAD, LEAVE, SHUTDOWN, LOG_LEVEL, MONITOR_LEVEL, STATS, STATUS) and the fan-out. */
#include "musterd.h"
#include "daemon.h"
#include "ev.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUS_CHILD_TIMEOUT_MS 5000

/* One request sent to every running child and answered to the caller
 * (if any) once every child replied or timed out. */
struct fanout {
	struct musterd *m;
	enum msg_type type;
	bool has_caller;
	struct ipc_from caller;
	int waiting;
	struct buf errors; /* "healthd: timeout; dnsd: ..." */
	struct msg stats;  /* MSG_STATS_REPLY being gathered */
	size_t stats_cap;
	/* or a function to tell (the control socket's reload): errors NULL when all went well */
	void (*done)(struct musterd *m, uint64_t tag, const char *errors);
	uint64_t tag;
};

static void bus_fanout_finish(struct fanout *f)
{
	struct musterd *m = f->m;

	if (f->has_caller) {
		if (f->type == MSG_STATS) {
			ipc_reply(m->rpc, &f->caller, &f->stats);
		} else if (f->errors.len > 0) {
			ipc_reply_result(m->rpc, &f->caller, 500, buf_cstr(&f->errors));
		} else {
			ipc_reply_result(m->rpc, &f->caller, 200, "");
		}
	}
	if (f->done)
		f->done(m, f->tag, f->errors.len > 0 ? buf_cstr(&f->errors) : NULL);
	if (f->errors.len > 0)
		log_warnx("%s: %s", msg_type_name(f->type), buf_cstr(&f->errors));
	buf_fini(&f->errors);
	msg_free(&f->stats);
	free(f);
}

static void bus_note_error(struct fanout *f, const char *who, const char *what)
{
	buf_printf(&f->errors, "%s%s: %s", f->errors.len ? "; " : "", who, what);
}

/* Moves the one daemon_stats of a child's reply into the gathered reply. */
static void bus_take_stats(struct fanout *f, struct msg *reply)
{
	struct msg_stats_reply *dst = &f->stats.u.stats_reply, *src = &reply->u.stats_reply;

	for (uint32_t i = 0; i < src->daemons.n; i++) {
		struct msg_daemon_stats *v;

		if (dst->daemons.n == f->stats_cap) {
			size_t cap = f->stats_cap ? f->stats_cap * 2 : 8;

			v = realloc(dst->daemons.v, cap * sizeof(*v));
			if (v == NULL)
				return;
			dst->daemons.v = v;
			f->stats_cap = cap;
		}
		dst->daemons.v[dst->daemons.n++] = src->daemons.v[i];
		memset(&src->daemons.v[i], 0, sizeof(src->daemons.v[i]));
	}
}

struct fanout_call {
	struct fanout *f;
	const char *child;
};

static void bus_fanout_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	struct fanout_call *fc = arg;
	struct fanout *f = fc->f;

	if (st != IPC_OK) {
		bus_note_error(f, fc->child, ipc_status_str(st));
	} else if (reply->type == MSG_RESULT) {
		if (reply->u.result.status != 200)
			bus_note_error(f, fc->child, reply->u.result.error);
	} else if (reply->type == MSG_STATS_REPLY && f->type == MSG_STATS) {
		bus_take_stats(f, reply);
	} else {
		bus_note_error(f, fc->child, "unexpected reply");
	}
	free(fc);
	if (--f->waiting == 0)
		bus_fanout_finish(f);
}

static void bus_add_own_stats(struct fanout *f)
{
	struct musterd *m = f->m;
	struct msg_daemon_stats *ds;
	struct msg one;
	int running = 0;

	memset(&one, 0, sizeof(one));
	one.type = MSG_STATS_REPLY;
	ds = calloc(1, sizeof(*ds));
	if (ds == NULL)
		return;
	ds->name = strdup("musterd");
	ds->pid = (uint64_t)getpid();
	daemon_stat_add(ds, "uptime_ms", 0, (double)(ev_now_ms(m->ev) - m->start_ms));
	for (int i = 0; i < SUP_CHILDREN; i++) {
		char name[64];

		if (m->children[i].pid > 0)
			running++;
		snprintf(name, sizeof(name), "supervisor.%s.restarts", m->children[i].name);
		daemon_stat_add(ds, name, 1, (double)m->children[i].restarts);
	}
	daemon_stat_add(ds, "supervisor.running", 0, running);
	one.u.stats_reply.daemons.v = ds;
	one.u.stats_reply.daemons.n = 1;
	bus_take_stats(f, &one);
	msg_free(&one);
}

/* caller NULL: nobody to answer on the bus (SIGHUP, ctl); done, when set, is told instead. */
static void bus_fanout_to(struct musterd *m, const struct ipc_from *caller, struct msg *req,
                          void (*done)(struct musterd *, uint64_t, const char *), uint64_t tag)
{
	struct fanout *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		if (caller != NULL)
			ipc_reply_result(m->rpc, caller, 500, "out of memory");
		if (done != NULL)
			done(m, tag, "out of memory");
		return;
	}
	f->done = done;
	f->tag = tag;
	f->m = m;
	f->type = req->type;
	buf_init(&f->errors, 4096);
	f->stats.type = MSG_STATS_REPLY;
	if (caller != NULL) {
		f->has_caller = true;
		f->caller = *caller;
	}
	if (f->type == MSG_STATS)
		bus_add_own_stats(f);
	f->waiting = 1; /* held until every call is placed */
	for (int i = 0; i < SUP_CHILDREN; i++) {
		struct child *c = &m->children[i];
		struct fanout_call *fc;

		if (c->state != CHILD_READY)
			continue;
		fc = malloc(sizeof(*fc));
		if (fc == NULL)
			continue;
		fc->f = f;
		fc->child = c->name;
		f->waiting++;
		if (ipc_call(c->bus, req, BUS_CHILD_TIMEOUT_MS, bus_fanout_reply, fc) != 0) {
			f->waiting--;
			bus_note_error(f, c->name, "unavailable");
			free(fc);
		}
	}
	if (--f->waiting == 0)
		bus_fanout_finish(f);
}

static void bus_fanout(struct musterd *m, const struct ipc_from *caller, struct msg *req)
{
	bus_fanout_to(m, caller, req, NULL, 0);
}

void bus_reload_then(struct musterd *m, void (*done)(struct musterd *, uint64_t, const char *),
                     uint64_t tag)
{
	struct msg req;

	memset(&req, 0, sizeof(req));
	req.type = MSG_RELOAD;
	bus_fanout_to(m, NULL, &req, done, tag);
}

void bus_fanout_simple(struct musterd *m, enum msg_type type, const char *level)
{
	struct msg req;

	memset(&req, 0, sizeof(req));
	req.type = type;
	if (type == MSG_LOG_LEVEL)
		req.u.log_level.level = (char *)level;
	bus_fanout(m, NULL, &req);
}

static void bus_monitor_level_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	const char *name = arg;

	if (st != IPC_OK)
		log_warnx("%s: monitor level not taken: %s", name, ipc_status_str(st));
	else if (reply->type == MSG_RESULT && reply->u.result.status != 200)
		log_warnx("%s: monitor level not taken: %s", name, reply->u.result.error);
}

/* A daemon (re)started while a monitor is open taps its lines down to the
 * monitor's level like the others, not only down to its log_level. */
void bus_child_ready(struct musterd *m, struct child *c)
{
	struct msg req;

	if (m->monitor_level[0] == '\0')
		return;
	memset(&req, 0, sizeof(req));
	req.type = MSG_MONITOR_LEVEL;
	req.u.monitor_level.level = m->monitor_level;
	if (ipc_call(c->bus, &req, BUS_CHILD_TIMEOUT_MS, bus_monitor_level_reply,
	             (void *)c->name) != 0)
		log_warnx("%s: cannot send the monitor level", c->name);
}

struct leave_call {
	struct musterd *m;
	bool has_caller; /* false: a signal asked (leave_on_terminate, SIGINT) */
	struct ipc_from caller;
	char why[32];
};

/* A graceful leave is gossip's to do (DESIGN.md §4 "Leave"); the agent
 * stops only once gossipd has left, so a failed leave leaves it running. */
static void bus_leave_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	struct leave_call *lc = arg;
	struct musterd *m = lc->m;
	unsigned code = 200;
	char err[256] = "";

	if (st != IPC_OK) {
		code = 503;
		snprintf(err, sizeof(err), "rpc error: gossipd %s", ipc_status_str(st));
	} else if (reply->type != MSG_RESULT || reply->u.result.status != 200) {
		code = reply->type == MSG_RESULT ? (unsigned)reply->u.result.status : 500;
		snprintf(err, sizeof(err), "%s",
		         reply->type == MSG_RESULT ? reply->u.result.error : "bad reply");
	}
	if (lc->has_caller) {
		ipc_reply_result(m->rpc, &lc->caller, code, code == 200 ? "" : err);
		if (code == 200)
			sup_shutdown(m, "graceful leave");
	} else {
		/* a signal asked to leave and then stop: it stops either way */
		if (code != 200)
			log_warnx("graceful leave on %s failed: %s", lc->why, err);
		sup_shutdown(m, lc->why);
	}
	free(lc);
}

static int bus_leave_gossip(struct leave_call *lc)
{
	struct child *g = sup_find(lc->m, "gossipd");
	struct msg req;

	if (g->state != CHILD_READY)
		return -1;
	memset(&req, 0, sizeof(req));
	req.type = MSG_LEAVE;
	return ipc_call(g->bus, &req, MSG_LEAVE_TIMEOUT_MS, bus_leave_reply, lc);
}

/* A server's raftd answers once it no longer leads (or at once): then
 * gossip. Its failure only delays nothing: the leave goes on. */
static void bus_leave_raft_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	struct leave_call *lc = arg;

	if (st != IPC_OK || reply->type != MSG_RESULT || reply->u.result.status != 200)
		log_warnx("leave: raftd did not hand over leadership (%s); leaving anyway",
		          st != IPC_OK ? ipc_status_str(st)
		          : reply->type == MSG_RESULT ? reply->u.result.error
		                                      : "bad reply");
	if (bus_leave_gossip(lc) != 0) {
		struct msg r;

		memset(&r, 0, sizeof(r));
		r.type = MSG_RESULT;
		r.u.result.status = 503;
		r.u.result.error = "gossipd unavailable";
		bus_leave_reply(lc, IPC_OK, &r);
	}
}

static int bus_leave_start(struct musterd *m, const struct ipc_from *from, const char *why)
{
	struct child *g = sup_find(m, "gossipd"), *r = sup_find(m, "raftd");
	struct leave_call *lc;
	struct msg req;

	if (g->state != CHILD_READY)
		return -1;
	lc = calloc(1, sizeof(*lc));
	if (lc == NULL)
		return -1;
	lc->m = m;
	lc->has_caller = from != NULL;
	if (from)
		lc->caller = *from;
	snprintf(lc->why, sizeof(lc->why), "%s", why);
	memset(&req, 0, sizeof(req));
	req.type = MSG_LEAVE;
	if (m->conf.server && r != NULL && r->state == CHILD_READY &&
	    ipc_call(r->bus, &req, MSG_LEAVE_RAFT_MS, bus_leave_raft_reply, lc) == 0)
		return 0;
	if (bus_leave_gossip(lc) != 0) {
		free(lc);
		return -1;
	}
	return 0;
}

static void bus_leave(struct musterd *m, const struct ipc_from *from)
{
	if (bus_leave_start(m, from, "graceful leave") != 0)
		ipc_reply_result(m->rpc, from, 503, "rpc error: gossipd unavailable");
}

/* SIGINT (unless skip_leave_on_interrupt) and SIGTERM (with leave_on_terminate) leave the
 * cluster before stopping, as Consul's agent does (spec §3: true for clients, false for
 * servers by default). Without a ready gossipd the agent just stops. */
void bus_leave_then_stop(struct musterd *m, const char *why)
{
	if (m->leaving_on_signal)
		return; /* a second signal waits for the first leave */
	log_info("%s: leaving the cluster before stopping", why);
	if (bus_leave_start(m, NULL, why) != 0) {
		sup_shutdown(m, why);
		return;
	}
	m->leaving_on_signal = true;
}

static void bus_status(struct musterd *m, const struct ipc_from *from)
{
	struct msg r;
	struct msg_child_status kids[SUP_CHILDREN];

	memset(&r, 0, sizeof(r));
	r.type = MSG_STATUS_REPLY;
	r.u.status_reply.name = (char *)"musterd";
	r.u.status_reply.pid = (uint64_t)getpid();
	r.u.status_reply.epoch = m->epoch;
	r.u.status_reply.uptime_ms = ev_now_ms(m->ev) - m->start_ms;
	r.u.status_reply.state = (char *)(m->shutting_down    ? "stopping"
	                                  : m->all_ready_once ? "ready"
	                                                      : "starting");
	for (int i = 0; i < SUP_CHILDREN; i++)
		sup_child_status(m, &m->children[i], &kids[i]);
	r.u.status_reply.children.v = kids;
	r.u.status_reply.children.n = SUP_CHILDREN;
	ipc_reply(m->rpc, from, &r);
}

void bus_on_request(struct ipc_server *s, const struct ipc_from *from, struct msg *msg, void *arg)
{
	struct musterd *m = arg;
	char err[256];

	if (daemon_answer_probe(s, from, msg, m->epoch))
		return;
	switch (msg->type) {
	case MSG_STATUS:
		bus_status(m, from);
		return;
	case MSG_STATS:
		bus_fanout(m, from, msg);
		return;
	case MSG_RELOAD:
		/* Answered once every daemon has reloaded too. */
		if (musterd_reload(m, err, sizeof(err)) != 0)
			ipc_reply_result(s, from, 500, err);
		else
			bus_fanout(m, from, msg);
		return;
	case MSG_LOG_LEVEL:
		/* Answered once every daemon has its new level too. */
		if (daemon_set_log_level(s, from, msg->u.log_level.level) == 0)
			bus_fanout(m, from, msg);
		return;
	case MSG_MONITOR_LEVEL:
		if (daemon_set_monitor_level(s, from, msg->u.monitor_level.level) == 0) {
			snprintf(m->monitor_level, sizeof(m->monitor_level), "%s",
			         msg->u.monitor_level.level ? msg->u.monitor_level.level : "");
			bus_fanout(m, from, msg);
		}
		return;
	case MSG_LEAVE:
		bus_leave(m, from);
		return;
	case MSG_SHUTDOWN:
		ipc_reply_result(s, from, 200, "");
		sup_shutdown(m, msg->u.shutdown.reason && msg->u.shutdown.reason[0]
		                    ? msg->u.shutdown.reason
		                    : "shutdown requested");
		return;
	default:
		snprintf(err, sizeof(err), "musterd does not handle %s", msg_type_name(msg->type));
		ipc_reply_result(s, from, 400, err);
		return;
	}
}

/* main.c: gossipd, SWIM/Lifeguard membership in Serf's wire format on 8301/8302 (DESIGN.md §1,
 * spec §4): the LAN pool (every agent) and the WAN pool (servers), the bus, the keyring, the
 * member snapshots and Consul's user events. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include "b64.h"
#include "daemon.h"
#include "daemons/gossipd/gsnap.h"
#include "daemons/gossipd/keyring.h"
#include "daemons/gossipd/mlmap.h"
#include "daemons/gossipd/pool.h"
#include "daemons/gossipd/serfwire.h"
#include "daemons/gossipd/uevent.h"
#include "ev.h"
#include "xalloc.h"

#define GOSSIPD_JOINS_MAX      64  /* JOIN requests in progress */
#define GOSSIPD_LIST_WAITERS   256 /* blocked /v1/event/list requests */
#define GOSSIPD_KEYRING_OPS    4   /* keyring operations in progress */
#define GOSSIPD_WAIT_DEFAULT   (5 * 60 * 1000ull)
#define GOSSIPD_WAIT_MAX       (10 * 60 * 1000ull) /* Consul's maxQueryTime */
#define GOSSIPD_KEYS_MAX       KEYRING_KEYS_MAX
#define GOSSIPD_CLOCK_SAVE_MS  500 /* serf's snapshot flush interval for its clocks */
#define GOSSIPD_EVENT_WAIT_MAX 256  /* events waiting for healthd's services */
#define GOSSIPD_STATE_CALL_MS  2000 /* healthd's AGENT_STATE deadline */
/* Consul's DeadNodeReclaimTime for both pools (§4.1) */
#define GOSSIPD_DEAD_NODE_RECLAIM_MS 30000

enum pool_id { LAN = 0, WAN = 1 };

struct join_req {
	bool used;
	bool internal; /* retry_join / rejoin, no bus caller */
	enum pool_id pool;
	uint64_t join_id;
	struct ipc_from from;
};

struct list_waiter {
	bool used;
	struct ipc_from from;
	char *name;
	uint64_t min_index;
	uint64_t timer;
	struct gossipd *g;
};

/* One pool's part of a keyring operation: its query and what came back (Consul's
 * KeyResponse, serf keymanager.go streamKeyResp). */
struct key_part {
	bool active, done;
	uint64_t ltime;
	uint32_t id;
	size_t num_nodes, num_resp, num_err;
	char *keys[64];
	size_t key_count[64], key_primary[64], n_keys;
	struct msg_strmap messages;
	char error[256];
};

struct key_op {
	bool used;
	struct ipc_from from;
	char op[16];
	struct key_part part[2];
};

struct retry {
	enum pool_id pool;
	int attempts;
	uint64_t timer;
	struct gossipd *g;
};

struct gossipd {
	struct daemon *d;
	struct keyring kr;
	char keyring_path[1024]; /* "" when the keyring is not kept on disk */
	struct pool *pool[2];
	struct gsnap *snap[2];
	char self_name[2][600];
	struct uevent_ring ring;
	struct join_req joins[GOSSIPD_JOINS_MAX];
	struct list_waiter waiters[GOSSIPD_LIST_WAITERS];
	struct key_op keyops[GOSSIPD_KEYRING_OPS];
	struct retry retry[2];
	/* graceful leave: WAN first, then LAN (Consul's Server.Leave) */
	bool leaving;
	bool leave_has_caller;
	struct ipc_from leave_from;
	uint64_t clock_timer;
	uint64_t events_in, events_accepted, events_bad, member_events;
	/* Consul events waiting for the local services their filters match against (healthd's
	 * AGENT_STATE), oldest first: events are accepted in the order they came */
	struct ipc_client *healthd;
	struct uevent ev_wait[GOSSIPD_EVENT_WAIT_MAX];
	size_t ev_wait_head, ev_wait_n;
	bool ev_wait_call;
};

static struct gossipd gossipd_state;

static const char *pool_label(enum pool_id id)
{
	return id == WAN ? "wan" : "lan";
}

static enum pool_id pool_id_of(struct gossipd *g, struct pool *p)
{
	(void)g;
	return pool_is_wan(p) ? WAN : LAN;
}

/* ---- members ---- */

/* A member into the bus record; its strings live in store (freed by the caller). */
struct member_store {
	char addr[64];
	char **k, **v;
	size_t n;
};

static void member_to_msg(const struct serf_member_info *m, struct msg_member *out,
                          struct member_store *st)
{
	memset(out, 0, sizeof(*out));
	memset(st, 0, sizeof(*st));
	mlmap_ip_str(&m->addr, st->addr, sizeof(st->addr));
	if (m->n_tags) {
		st->k = xcalloc(m->n_tags, sizeof(char *));
		st->v = xcalloc(m->n_tags, sizeof(char *));
	}
	for (size_t i = 0; i < m->n_tags; i++) {
		const struct serfwire_tag *t = &m->tags[i];
		st->k[i] = xmalloc(t->key.len + 1);
		memcpy(st->k[i], t->key.p, t->key.len);
		st->k[i][t->key.len] = '\0';
		st->v[i] = xmalloc(t->value.len + 1);
		memcpy(st->v[i], t->value.p, t->value.len);
		st->v[i][t->value.len] = '\0';
		st->n++;
	}
	out->name = (char *)m->name;
	out->addr = st->addr;
	out->port = m->addr.port;
	out->tags = (struct msg_strmap){st->k, st->v, (uint32_t)st->n};
	out->status = (uint64_t)m->status;
	out->protocol_min = m->vsn[0];
	out->protocol_max = m->vsn[1];
	out->protocol_cur = m->vsn[2];
	out->delegate_min = m->vsn[3];
	out->delegate_max = m->vsn[4];
	out->delegate_cur = m->vsn[5];
}

static void member_store_free(struct member_store *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->k[i]);
		free(st->v[i]);
	}
	free(st->k);
	free(st->v);
}

static void on_member(void *arg, struct pool *p, enum serf_member_event ev,
                      const struct serf_member_info *m)
{
	struct gossipd *g = arg;
	enum pool_id id = pool_id_of(g, p);
	char a[64];
	g->member_events++;
	log_info("gossip(%s): %s: %s %s", pool_label(id), serf_member_event_str(ev), m->name,
	         mlmap_addr_str(&m->addr, a, sizeof(a)));
	/* serf's snapshotter: alive members are remembered for a rejoin, the others dropped */
	if (g->snap[id] && strcmp(m->name, g->self_name[id]) != 0) {
		int rc = ev == SERF_EV_JOIN || ev == SERF_EV_UPDATE
		             ? gsnap_alive(g->snap[id], m->name, a)
		             : gsnap_not_alive(g->snap[id], m->name);
		if (rc != 0)
			log_warn("gossip(%s): cannot write the member snapshot", pool_label(id));
	}
	struct msg e;
	struct member_store st;
	memset(&e, 0, sizeof(e));
	e.type = MSG_MEMBER_EVENT;
	e.u.member_event.epoch = g->d->epoch;
	e.u.member_event.event = (char *)serf_member_event_str(ev);
	e.u.member_event.wan = id == WAN;
	member_to_msg(m, &e.u.member_event.member, &st);
	ipc_publish(g->d->pub, &e);
	member_store_free(&st);
}

static void reply_members(struct gossipd *g, const struct ipc_from *from, bool wan)
{
	struct pool *p = g->pool[wan ? WAN : LAN];
	struct msg r;
	memset(&r, 0, sizeof(r));
	r.type = MSG_MEMBERS_REPLY;
	if (!p) { /* a client has no WAN pool: Consul lists nobody */
		r.u.members_reply.self = "";
		ipc_reply(g->d->rpc, from, &r);
		return;
	}
	struct serf *s = pool_serf(p);
	size_t n = serf_num_members(s);
	struct serf_member_info *mi = xcalloc(n ? n : 1, sizeof(*mi));
	n = serf_members(s, mi, n);
	struct msg_member *mm = xcalloc(n ? n : 1, sizeof(*mm));
	struct member_store *st = xcalloc(n ? n : 1, sizeof(*st));
	for (size_t i = 0; i < n; i++)
		member_to_msg(&mi[i], &mm[i], &st[i]);
	r.u.members_reply.members = (struct msg_member_list){mm, (uint32_t)n};
	r.u.members_reply.self = (char *)pool_name(p);
	ipc_reply(g->d->rpc, from, &r);
	for (size_t i = 0; i < n; i++)
		member_store_free(&st[i]);
	free(st);
	free(mm);
	free(mi);
}

/* ---- user events ---- */

static uint64_t list_index(struct gossipd *g, const char *name)
{
	const struct uevent *out[UEVENT_BUF];
	size_t n = uevent_ring_list(&g->ring, name, out, UEVENT_BUF);
	return uevent_index(out, n);
}

static void uevent_to_msg(const struct uevent *e, struct msg_consul_event *o)
{
	memset(o, 0, sizeof(*o));
	o->id = (char *)e->id;
	o->name = e->name ? e->name : "";
	o->payload = (struct msg_bytes){e->payload, e->payload_len};
	o->node_filter = e->node_filter ? e->node_filter : "";
	o->service_filter = e->service_filter ? e->service_filter : "";
	o->tag_filter = e->tag_filter ? e->tag_filter : "";
	o->version = e->version;
	o->ltime = e->ltime;
}

static void reply_events(struct gossipd *g, const struct ipc_from *from, const char *name)
{
	const struct uevent *ev[UEVENT_BUF];
	struct msg_consul_event out[UEVENT_BUF];
	size_t n = uevent_ring_list(&g->ring, name, ev, UEVENT_BUF);
	for (size_t i = 0; i < n; i++)
		uevent_to_msg(ev[i], &out[i]);
	struct msg r;
	memset(&r, 0, sizeof(r));
	r.type = MSG_EVENT_REPLY;
	r.u.event_reply.index = uevent_index(ev, n);
	r.u.event_reply.events = (struct msg_consul_event_list){out, (uint32_t)n};
	ipc_reply(g->d->rpc, from, &r);
}

static void waiter_free(struct gossipd *g, struct list_waiter *w)
{
	if (w->timer)
		ev_timer_del(g->d->ev, w->timer);
	free(w->name);
	memset(w, 0, sizeof(*w));
}

static void waiter_timeout(struct ev *ev, void *arg)
{
	struct list_waiter *w = arg;
	struct gossipd *g = w->g;
	(void)ev;
	w->timer = 0;
	reply_events(g, &w->from, w->name);
	waiter_free(g, w);
}

/* Consul's EventList wakes on every new event and answers once the index of what it lists
 * differs from the one it was given (the index is not monotonic, only different). */
static void wake_waiters(struct gossipd *g)
{
	for (size_t i = 0; i < GOSSIPD_LIST_WAITERS; i++) {
		struct list_waiter *w = &g->waiters[i];
		if (!w->used || list_index(g, w->name) == w->min_index)
			continue;
		reply_events(g, &w->from, w->name);
		waiter_free(g, w);
	}
}

static void handle_event_list(struct gossipd *g, const struct ipc_from *from,
                              const struct msg_event_list *m)
{
	const char *name = m->name ? m->name : "";
	if (m->min_index == 0 || list_index(g, name) != m->min_index) {
		reply_events(g, from, name);
		return;
	}
	struct list_waiter *w = NULL;
	for (size_t i = 0; i < GOSSIPD_LIST_WAITERS && !w; i++)
		if (!g->waiters[i].used)
			w = &g->waiters[i];
	if (!w) {
		ipc_reply_result(g->d->rpc, from, 503, "too many blocking event list requests");
		return;
	}
	uint64_t wait = m->wait_ms ? m->wait_ms : GOSSIPD_WAIT_DEFAULT;
	if (wait > GOSSIPD_WAIT_MAX)
		wait = GOSSIPD_WAIT_MAX;
	w->used = true;
	w->g = g;
	w->from = *from;
	w->name = xstrdup(name);
	w->min_index = m->min_index;
	w->timer = ev_timer_add(g->d->ev, wait, waiter_timeout, w);
}

/* Consul's shouldProcessUserEvent, then ingestUserEvent: the ring and the blocked lists. */
static void event_ingest(struct gossipd *g, struct uevent *ue, const struct uevent_service *svcs,
                         size_t n)
{
	if (!uevent_accept(ue, g->d->conf.node_name, svcs, n)) {
		log_debug("gossip: event %s (%s) filtered out", ue->name, ue->id);
		uevent_free(ue);
		return;
	}
	log_debug("gossip: new event: %s (%s)", ue->name, ue->id);
	g->events_accepted++;
	uevent_ring_push(&g->ring, ue);
	wake_waiters(g);
}

static void events_drain(struct gossipd *g, const struct msg_agent_state_reply *st);

static void on_agent_state(void *arg, enum ipc_status st, struct msg *reply)
{
	struct gossipd *g = arg;
	g->ev_wait_call = false;
	if (st == IPC_CANCELLED)
		return; /* gossipd is stopping */
	if (st != IPC_OK || reply->type != MSG_AGENT_STATE_REPLY) {
		/* without healthd no service is known here: the filters match nothing */
		log_warnx("gossip: cannot read the local services for event filters (%s)",
		          st != IPC_OK ? ipc_status_str(st) : "unexpected reply");
		struct msg_agent_state_reply none;
		memset(&none, 0, sizeof(none));
		events_drain(g, &none);
		return;
	}
	events_drain(g, &reply->u.agent_state_reply);
}

/* Takes the waiting events in order: those without a service filter at once, the others
 * once st (the local services, by ID as Consul's filter sees them) is at hand. */
static void events_drain(struct gossipd *g, const struct msg_agent_state_reply *st)
{
	struct uevent_service *svcs = NULL;
	size_t n = 0;
	if (st) {
		svcs = xcalloc(st->services.n ? st->services.n : 1, sizeof(*svcs));
		for (uint32_t i = 0; i < st->services.n; i++) {
			const struct msg_service *sv = &st->services.v[i].service;
			svcs[n].name = sv->id;
			svcs[n].tags = (const char *const *)sv->tags.v;
			svcs[n].n_tags = sv->tags.n;
			n++;
		}
	}
	while (g->ev_wait_n) {
		struct uevent *ue = &g->ev_wait[g->ev_wait_head];
		if (ue->service_filter && !st) {
			if (g->ev_wait_call)
				break;
			struct msg req;
			memset(&req, 0, sizeof(req));
			req.type = MSG_AGENT_STATE;
			if (ipc_call(g->healthd, &req, GOSSIPD_STATE_CALL_MS, on_agent_state, g) == 0) {
				g->ev_wait_call = true;
				break;
			}
			log_warnx("gossip: healthd is not reachable for event filters");
			struct msg_agent_state_reply none;
			memset(&none, 0, sizeof(none));
			free(svcs);
			events_drain(g, &none);
			return;
		}
		event_ingest(g, ue, svcs, n);
		memset(ue, 0, sizeof(*ue));
		g->ev_wait_head = (g->ev_wait_head + 1) % GOSSIPD_EVENT_WAIT_MAX;
		g->ev_wait_n--;
	}
	free(svcs);
}

static void on_user_event(void *arg, struct pool *p, uint64_t ltime, struct serfwire_bytes name,
                          struct serfwire_bytes payload, bool cc)
{
	struct gossipd *g = arg;
	enum pool_id id = pool_id_of(g, p);
	char *nm = xmalloc(name.len + 1);
	memcpy(nm, name.p, name.len);
	nm[name.len] = '\0';
	g->events_in++;

	struct msg e;
	memset(&e, 0, sizeof(e));
	e.type = MSG_USER_EVENT;
	e.u.user_event.epoch = g->d->epoch;
	e.u.user_event.wan = id == WAN;
	e.u.user_event.ltime = ltime;
	e.u.user_event.name = nm;
	e.u.user_event.payload = (struct msg_bytes){(uint8_t *)payload.p, payload.len};
	e.u.user_event.coalesce = cc;
	ipc_publish(g->d->pub, &e);

	/* Consul's agent handles "consul:event:" events of the LAN pool (agent.go
	 * handleEvents); the rest are for others (consul:new-leader, serf users). */
	size_t pl = strlen(UEVENT_PREFIX);
	if (id != LAN || strncmp(nm, UEVENT_PREFIX, pl) != 0) {
		log_debug("gossip(%s): user event %s (ltime %llu)", pool_label(id), nm,
		          (unsigned long long)ltime);
		free(nm);
		return;
	}
	struct uevent ue;
	if (uevent_decode(payload.p, payload.len, &ue) != 0) {
		g->events_bad++;
		log_warnx("gossip: failed to decode event %s", nm);
		free(nm);
		return;
	}
	ue.ltime = ltime;
	if (ue.version > UEVENT_VERSION)
		log_warnx("gossip: event version %llu may have unsupported features (%s)",
		          (unsigned long long)ue.version, ue.name);
	free(nm);
	/* a service filter needs the agent's services (healthd's); events keep their order */
	if (ue.service_filter || g->ev_wait_n) {
		if (g->ev_wait_n == GOSSIPD_EVENT_WAIT_MAX) {
			log_warnx("gossip: too many events waiting for the local services; %s dropped",
			          ue.id);
			uevent_free(&ue);
			return;
		}
		g->ev_wait[(g->ev_wait_head + g->ev_wait_n++) % GOSSIPD_EVENT_WAIT_MAX] = ue;
		events_drain(g, NULL);
		return;
	}
	event_ingest(g, &ue, NULL, 0);
}

static void handle_event_fire(struct gossipd *g, const struct ipc_from *from,
                              const struct msg_event_fire *m)
{
	const struct msg_consul_event *in = &m->event;
	struct uevent ue;
	char err[256];
	memset(&ue, 0, sizeof(ue));
	ue.name = in->name ? in->name : "";
	ue.payload = in->payload.len ? in->payload.p : NULL;
	ue.payload_len = in->payload.len;
	ue.node_filter = in->node_filter && *in->node_filter ? in->node_filter : NULL;
	ue.service_filter = in->service_filter && *in->service_filter ? in->service_filter : NULL;
	ue.tag_filter = in->tag_filter && *in->tag_filter ? in->tag_filter : NULL;
	ue.version = UEVENT_VERSION;
	/* Consul answers every failure of Agent.UserEvent with 500 and its text */
	if (uevent_validate(&ue, err, sizeof(err)) != 0) {
		ipc_reply_result(g->d->rpc, from, 500, err);
		return;
	}
	if (!g->pool[LAN]) {
		ipc_reply_result(g->d->rpc, from, 503, "gossip is not running");
		return;
	}
	daemon_uuid(ue.id);
	struct buf b;
	buf_init(&b, 64 * 1024);
	const char *why = NULL;
	char name[UEVENT_NAME_MAX + sizeof(UEVENT_PREFIX)];
	snprintf(name, sizeof(name), "%s%s", UEVENT_PREFIX, ue.name);
	if (uevent_encode(&ue, &b) != 0) {
		ipc_reply_result(g->d->rpc, from, 500, "UserEvent encoding failed");
		buf_fini(&b);
		return;
	}
	if (pool_user_event(g->pool[LAN], name, b.p, b.len, false, &why) != 0) {
		ipc_reply_result(g->d->rpc, from, 500, why ? why : "user event failed");
		buf_fini(&b);
		return;
	}
	buf_fini(&b);
	struct msg_consul_event out;
	uevent_to_msg(&ue, &out);
	out.ltime = 0;
	struct msg r;
	memset(&r, 0, sizeof(r));
	r.type = MSG_EVENT_REPLY;
	r.u.event_reply.events = (struct msg_consul_event_list){&out, 1};
	ipc_reply(g->d->rpc, from, &r);
}

/* ---- join, leave, force-leave ---- */

static struct join_req *join_slot(struct gossipd *g)
{
	for (size_t i = 0; i < GOSSIPD_JOINS_MAX; i++)
		if (!g->joins[i].used)
			return &g->joins[i];
	return NULL;
}

static void retry_arm(struct gossipd *g, enum pool_id id);

static void on_join_done(void *arg, struct pool *p, uint64_t join_id, size_t joined,
                         const char *err)
{
	struct gossipd *g = arg;
	enum pool_id id = pool_id_of(g, p);
	for (size_t i = 0; i < GOSSIPD_JOINS_MAX; i++) {
		struct join_req *j = &g->joins[i];
		if (!j->used || j->pool != id || j->join_id != join_id)
			continue;
		if (j->internal) {
			struct retry *r = &g->retry[id];
			if (joined > 0) {
				log_info("gossip(%s): join cluster completed, synced with %zu initial "
				         "agents",
				         pool_label(id), joined);
			} else {
				log_warnx("gossip(%s): join failed: %s", pool_label(id), err);
				if (r->g)
					retry_arm(g, id);
			}
		} else if (joined > 0) {
			struct msg r;
			memset(&r, 0, sizeof(r));
			r.type = MSG_JOIN_REPLY;
			r.u.join_reply.joined = joined;
			ipc_reply(g->d->rpc, &j->from, &r);
		} else {
			ipc_reply_result(g->d->rpc, &j->from, 500, err);
		}
		memset(j, 0, sizeof(*j));
		return;
	}
}

static int start_join(struct gossipd *g, enum pool_id id, const char *const *addrs, size_t n,
                      const struct ipc_from *from, char *err, size_t err_size)
{
	struct join_req *j = join_slot(g);
	if (!j) {
		snprintf(err, err_size, "too many joins in progress");
		return -1;
	}
	uint64_t jid;
	/* Consul joins with ignoreOld: events from before the join are not replayed */
	if (pool_join(g->pool[id], addrs, n, true, &jid, err, err_size) != 0)
		return -1;
	j->used = true;
	j->internal = from == NULL;
	j->pool = id;
	j->join_id = jid;
	if (from)
		j->from = *from;
	return 0;
}

static void handle_join(struct gossipd *g, const struct ipc_from *from, const struct msg_join *m)
{
	enum pool_id id = m->wan ? WAN : LAN;
	char err[512];
	if (!g->pool[id]) {
		ipc_reply_result(g->d->rpc, from, 500,
		                 id == WAN ? "Must be a server to join WAN cluster"
		                           : "gossip is not running");
		return;
	}
	if (m->addrs.n == 0) {
		ipc_reply_result(g->d->rpc, from, 400, "no address to join");
		return;
	}
	if (start_join(g, id, (const char *const *)m->addrs.v, m->addrs.n, from, err,
	               sizeof(err)) != 0)
		ipc_reply_result(g->d->rpc, from, 500, err);
}

static void handle_force_leave(struct gossipd *g, const struct ipc_from *from,
                               const struct msg_force_leave *m)
{
	const char *node = m->node ? m->node : "";
	const char *why = NULL;
	char err[600];
	int done = 0;
	/* Consul: the LAN pool, and on servers the WAN pool too unless wan names it alone */
	for (int id = m->wan ? WAN : LAN; id <= WAN; id++) {
		struct pool *p = g->pool[id];
		struct serf_member_info mi;
		if (!p || !serf_member(pool_serf(p), node, &mi))
			continue;
		if (pool_force_leave(p, node, m->prune, &why) != 0) {
			ipc_reply_result(g->d->rpc, from, 500, why ? why : "force leave failed");
			return;
		}
		done++;
	}
	if (!done) {
		snprintf(err, sizeof(err), "agent: No node found with name '%s'", node);
		ipc_reply_result(g->d->rpc, from, 500, err);
		return;
	}
	log_info("gossip: force leaving node %s%s", node, m->prune ? " (prune)" : "");
	ipc_reply_result(g->d->rpc, from, 200, "");
}

static void leave_next(struct gossipd *g);

static void leave_finish(struct gossipd *g, const char *err)
{
	g->leaving = false;
	if (!err) {
		for (int id = LAN; id <= WAN; id++)
			if (g->snap[id] && gsnap_leave(g->snap[id]) != 0)
				log_warn("gossip(%s): cannot record the leave in the snapshot",
				         pool_label(id));
		log_info("gossip: graceful leave complete");
	}
	if (g->leave_has_caller)
		ipc_reply_result(g->d->rpc, &g->leave_from, err ? 500 : 200, err ? err : "");
	g->leave_has_caller = false;
}

/* WAN first, then LAN, each waiting for serf's leave to finish. */
static void leave_next(struct gossipd *g)
{
	for (int id = WAN; id >= LAN; id--) {
		struct pool *p = g->pool[id];
		if (!p || serf_state(pool_serf(p)) != SERF_ALIVE)
			continue;
		const char *why = NULL;
		log_info("gossip(%s): leaving the cluster", pool_label(id));
		if (pool_leave(p, &why) != 0) {
			leave_finish(g, why ? why : "leave failed");
			return;
		}
		return; /* on_leave_done goes on */
	}
	leave_finish(g, NULL);
}

static void on_leave_done(void *arg, struct pool *p, const char *err)
{
	struct gossipd *g = arg;
	if (err) {
		log_warnx("gossip(%s): leave: %s", pool_label(pool_id_of(g, p)), err);
		leave_finish(g, err);
		return;
	}
	leave_next(g);
}

static void handle_leave(struct gossipd *g, const struct ipc_from *from)
{
	if (g->leaving) {
		ipc_reply_result(g->d->rpc, from, 500, "Leave already in progress");
		return;
	}
	g->leaving = true;
	g->leave_has_caller = true;
	g->leave_from = *from;
	leave_next(g);
}

/* ---- retry_join ---- */

static void retry_fire(struct ev *ev, void *arg)
{
	struct retry *r = arg;
	struct gossipd *g = r->g;
	const struct conf *c = &g->d->conf;
	const struct conf_list *l = r->pool == WAN ? &c->retry_join_wan : &c->retry_join;
	char err[512];
	(void)ev;
	r->timer = 0;
	r->attempts++;
	log_info("gossip(%s): joining cluster (attempt %d)", pool_label(r->pool), r->attempts);
	if (start_join(g, r->pool, (const char *const *)l->v, l->n, NULL, err, sizeof(err)) != 0) {
		log_warnx("gossip(%s): join failed: %s", pool_label(r->pool), err);
		retry_arm(g, r->pool);
	}
}

static void retry_arm(struct gossipd *g, enum pool_id id)
{
	const struct conf *c = &g->d->conf;
	struct retry *r = &g->retry[id];
	int max = id == WAN ? c->retry_max_wan : c->retry_max;
	uint64_t interval = id == WAN ? c->retry_interval_wan_ms : c->retry_interval_ms;
	if (max > 0 && r->attempts >= max) {
		log_errorx("gossip(%s): max join retry exhausted, giving up", pool_label(id));
		return;
	}
	log_warnx("gossip(%s): join failed, retrying in %llu ms", pool_label(id),
	          (unsigned long long)interval);
	r->timer = ev_timer_add(g->d->ev, interval, retry_fire, r);
}

/* ---- keyring ---- */

static int keyring_persist(struct gossipd *g, const char **why)
{
	if (!g->keyring_path[0])
		return 0;
	return keyring_save_file(&g->kr, g->keyring_path, why);
}

/* serf internal_query.go: a node's answer to a _serf_*-key query. */
static void answer_key_query(struct gossipd *g, struct pool *p, uint64_t ltime, uint32_t id,
                             const char *op, struct serfwire_bytes payload)
{
	struct serfwire_key_response resp;
	char keys_b64[KEYRING_KEYS_MAX][KEYRING_B64_MAX];
	char primary_b64[KEYRING_B64_MAX] = "";
	const char *why = NULL;
	memset(&resp, 0, sizeof(resp));
	bool list = strcmp(op, "list-keys") == 0;
	struct serfwire_msg req;
	memset(&req, 0, sizeof(req));
	if (!list && (serfwire_decode(payload.p, payload.len, &req, &why) != 0 ||
	              req.type != SERFWIRE_KEY_REQUEST)) {
		if (why == NULL)
			why = "not a key request";
		resp.message = serfwire_cstr("Failed to decode key request");
		log_warnx("gossip: failed to decode a %s query: %s", op, why);
		goto send;
	}
	if (g->kr.n == 0) {
		resp.message = serfwire_cstr(list ? "Keyring is empty (encryption not enabled)"
		                                  : "No keyring to modify (encryption not enabled)");
		goto send;
	}
	log_info("gossip: received %s query", op);
	if (list) {
		for (size_t i = 0; i < g->kr.n && i < SERFWIRE_KEYS_MAX; i++) {
			b64_encode(g->kr.keys[i], g->kr.lens[i], keys_b64[i], sizeof(keys_b64[i]));
			resp.keys[resp.n_keys++] = serfwire_cstr(keys_b64[i]);
		}
		b64_encode(g->kr.keys[0], g->kr.lens[0], primary_b64, sizeof(primary_b64));
		resp.primary_key = serfwire_cstr(primary_b64);
		resp.result = true;
		goto send;
	}
	const struct serfwire_bytes *k = &req.u.key_request.key;
	int rc = strcmp(op, "install-key") == 0 ? keyring_add(&g->kr, k->p, k->len, &why)
	         : strcmp(op, "use-key") == 0   ? keyring_use(&g->kr, k->p, k->len, &why)
	                                        : keyring_remove(&g->kr, k->p, k->len, &why);
	if (rc != 0) {
		resp.message = serfwire_cstr(why ? why : "keyring operation failed");
		goto send;
	}
	if (keyring_persist(g, &why) != 0) {
		resp.message = serfwire_cstr(why ? why : "cannot write the keyring file");
		goto send;
	}
	resp.result = true;
send:;
	struct buf b;
	buf_init(&b, 64 * 1024);
	if (serfwire_encode_key_response(&b, &resp, NULL) == 0 &&
	    pool_respond(p, ltime, id, b.p, b.len, &why) != 0)
		log_warnx("gossip: cannot answer the %s query: %s", op, why ? why : "?");
	buf_fini(&b);
	serfwire_msg_fini(&req);
}

static void on_query(void *arg, struct pool *p, uint64_t ltime, uint32_t id,
                     struct serfwire_bytes name, struct serfwire_bytes payload)
{
	struct gossipd *g = arg;
	static const char pfx[] = "_serf_";
	char op[32];
	if (name.len <= sizeof(pfx) - 1 || name.len - (sizeof(pfx) - 1) >= sizeof(op) ||
	    memcmp(name.p, pfx, sizeof(pfx) - 1) != 0)
		return;
	memcpy(op, name.p + sizeof(pfx) - 1, name.len - (sizeof(pfx) - 1));
	op[name.len - (sizeof(pfx) - 1)] = '\0';
	if (strcmp(op, "install-key") == 0 || strcmp(op, "use-key") == 0 ||
	    strcmp(op, "remove-key") == 0 || strcmp(op, "list-keys") == 0)
		answer_key_query(g, p, ltime, id, op, payload);
	/* _serf_conflict: Consul turns name conflict resolution off (§4.4) */
}

static struct key_part *key_part_of(struct gossipd *g, struct pool *p, uint64_t ltime,
                                    uint32_t id, struct key_op **op_out)
{
	enum pool_id pid = pool_id_of(g, p);
	for (size_t i = 0; i < GOSSIPD_KEYRING_OPS; i++) {
		struct key_op *o = &g->keyops[i];
		struct key_part *kp = &o->part[pid];
		if (o->used && kp->active && !kp->done && kp->ltime == ltime && kp->id == id) {
			*op_out = o;
			return kp;
		}
	}
	return NULL;
}

static void strmap_add(struct msg_strmap *m, const char *k, const char *v)
{
	m->k = xrealloc(m->k, (m->n + 1) * sizeof(char *));
	m->v = xrealloc(m->v, (m->n + 1) * sizeof(char *));
	m->k[m->n] = xstrdup(k);
	m->v[m->n] = xstrdup(v);
	m->n++;
}

static void key_count(struct key_part *kp, const char *key, bool primary)
{
	size_t i;
	for (i = 0; i < kp->n_keys; i++)
		if (strcmp(kp->keys[i], key) == 0)
			break;
	if (i == kp->n_keys) {
		if (kp->n_keys == 64)
			return;
		kp->keys[kp->n_keys++] = xstrdup(key);
	}
	if (primary)
		kp->key_primary[i]++;
	else
		kp->key_count[i]++;
}

static void key_op_reply(struct gossipd *g, struct key_op *o);

static void on_query_response(void *arg, struct pool *p, uint64_t ltime, uint32_t id,
                              const char *from, struct serfwire_bytes payload)
{
	struct gossipd *g = arg;
	struct key_op *o;
	struct key_part *kp = key_part_of(g, p, ltime, id, &o);
	if (!kp)
		return;
	struct serfwire_msg m;
	const char *why = NULL;
	memset(&m, 0, sizeof(m));
	if (serfwire_decode(payload.p, payload.len, &m, &why) != 0 ||
	    m.type != SERFWIRE_KEY_RESPONSE) {
		strmap_add(&kp->messages, from, "Failed to decode key response");
		kp->num_err++;
		serfwire_msg_fini(&m);
		return;
	}
	const struct serfwire_key_response *r = &m.u.key_response;
	char text[600];
	if (r->message.len) {
		snprintf(text, sizeof(text), "%.*s", (int)r->message.len, (const char *)r->message.p);
		strmap_add(&kp->messages, from, text);
	}
	if (!r->result) {
		kp->num_err++;
	} else {
		kp->num_resp++;
		for (size_t i = 0; i < r->n_keys; i++) {
			snprintf(text, sizeof(text), "%.*s", (int)r->keys[i].len,
			         (const char *)r->keys[i].p);
			key_count(kp, text, false);
		}
		if (r->primary_key.len) {
			snprintf(text, sizeof(text), "%.*s", (int)r->primary_key.len,
			         (const char *)r->primary_key.p);
			key_count(kp, text, true);
		}
	}
	serfwire_msg_fini(&m);
	/* serf waits out the query's timeout; once every member answered there is nothing
	 * left to wait for */
	if (kp->num_resp + kp->num_err >= kp->num_nodes) {
		kp->done = true;
		for (int i = 0; i < 2; i++)
			if (o->part[i].active && !o->part[i].done)
				return;
		key_op_reply(g, o);
	}
}

static void key_op_free(struct key_op *o)
{
	for (int i = 0; i < 2; i++) {
		struct key_part *kp = &o->part[i];
		for (size_t k = 0; k < kp->n_keys; k++)
			free(kp->keys[k]);
		for (uint32_t k = 0; k < kp->messages.n; k++) {
			free(kp->messages.k[k]);
			free(kp->messages.v[k]);
		}
		free(kp->messages.k);
		free(kp->messages.v);
	}
	memset(o, 0, sizeof(*o));
}

static void key_op_reply(struct gossipd *g, struct key_op *o)
{
	struct msg_keyring_pool pools[2];
	struct msg_keyring_key keys[2][64];
	uint32_t np = 0;
	/* Consul lists the WAN pool first */
	for (int id = WAN; id >= LAN; id--) {
		struct key_part *kp = &o->part[id];
		if (!kp->active)
			continue;
		struct msg_keyring_pool *pp = &pools[np++];
		memset(pp, 0, sizeof(*pp));
		pp->wan = id == WAN;
		pp->datacenter = g->d->conf.datacenter;
		pp->segment = "";
		for (size_t k = 0; k < kp->n_keys; k++)
			keys[id][k] = (struct msg_keyring_key){kp->keys[k], kp->key_count[k],
			                                       kp->key_primary[k]};
		pp->keys = (struct msg_keyring_key_list){keys[id], (uint32_t)kp->n_keys};
		pp->num_nodes = kp->num_nodes;
		pp->num_resp = kp->num_resp;
		pp->num_err = kp->num_err;
		pp->messages = kp->messages;
		/* serf keymanager.go handleKeyRequest's verdict, unless the query itself failed */
		if (kp->error[0] == '\0' && kp->num_err)
			snprintf(kp->error, sizeof(kp->error), "%zu/%zu nodes reported failure",
			         kp->num_err, kp->num_nodes);
		else if (kp->error[0] == '\0' && kp->num_resp != kp->num_nodes)
			snprintf(kp->error, sizeof(kp->error), "%zu/%zu nodes reported success",
			         kp->num_resp, kp->num_nodes);
		pp->error = kp->error;
	}
	struct msg r;
	memset(&r, 0, sizeof(r));
	r.type = MSG_KEYRING_REPLY;
	r.u.keyring_reply.pools = (struct msg_keyring_pool_list){pools, np};
	ipc_reply(g->d->rpc, &o->from, &r);
	key_op_free(o);
}

static void on_query_done(void *arg, struct pool *p, uint64_t ltime, uint32_t id)
{
	struct gossipd *g = arg;
	struct key_op *o;
	struct key_part *kp = key_part_of(g, p, ltime, id, &o);
	if (!kp)
		return;
	kp->done = true;
	for (int i = 0; i < 2; i++)
		if (o->part[i].active && !o->part[i].done)
			return;
	key_op_reply(g, o);
}

/* Our own keyring alone (?local-only), no query. */
static void key_local(struct gossipd *g, struct key_part *kp)
{
	char b64[KEYRING_B64_MAX];
	kp->active = kp->done = true;
	kp->num_nodes = kp->num_resp = 1;
	for (size_t i = 0; i < g->kr.n; i++) {
		b64_encode(g->kr.keys[i], g->kr.lens[i], b64, sizeof(b64));
		key_count(kp, b64, false);
		if (i == 0)
			key_count(kp, b64, true);
	}
}

static void handle_keyring(struct gossipd *g, const struct ipc_from *from,
                           const struct msg_keyring *m)
{
	const char *op = m->op ? m->op : "";
	const char *qname;
	if (strcmp(op, "list") == 0)
		qname = "_serf_list-keys";
	else if (strcmp(op, "install") == 0)
		qname = "_serf_install-key";
	else if (strcmp(op, "use") == 0)
		qname = "_serf_use-key";
	else if (strcmp(op, "remove") == 0)
		qname = "_serf_remove-key";
	else {
		ipc_reply_result(g->d->rpc, from, 400, "unknown keyring operation");
		return;
	}
	if (m->relay_factor > 5) {
		ipc_reply_result(g->d->rpc, from, 400, "Relay factor must be in range: [0, 5]");
		return;
	}
	struct key_op *o = NULL;
	for (size_t i = 0; i < GOSSIPD_KEYRING_OPS && !o; i++)
		if (!g->keyops[i].used)
			o = &g->keyops[i];
	if (!o) {
		ipc_reply_result(g->d->rpc, from, 503, "too many keyring operations in progress");
		return;
	}
	uint8_t raw[64];
	size_t raw_len = 0;
	if (strcmp(op, "list") != 0) {
		if (b64_decode(m->key ? m->key : "", raw, sizeof(raw), &raw_len) != 0) {
			/* serf's KeyManager fails on base64.DecodeString; Consul answers 500 */
			ipc_reply_result(g->d->rpc, from, 500, "illegal base64 data in the key");
			return;
		}
	}
	memset(o, 0, sizeof(*o));
	o->used = true;
	o->from = *from;
	snprintf(o->op, sizeof(o->op), "%s", op);
	if (m->local_only) {
		if (strcmp(op, "list") != 0) {
			memset(o, 0, sizeof(*o));
			ipc_reply_result(g->d->rpc, from, 400, "local-only is for listing only");
			return;
		}
		for (int id = LAN; id <= WAN; id++)
			if (g->pool[id])
				key_local(g, &o->part[id]);
		key_op_reply(g, o);
		return;
	}
	struct buf req;
	buf_init(&req, 1024);
	struct serfwire_key_request kr = {.key = {raw, raw_len}};
	if (serfwire_encode_key_request(&req, &kr, NULL) != 0) {
		buf_fini(&req);
		memset(o, 0, sizeof(*o));
		ipc_reply_result(g->d->rpc, from, 500, "cannot encode the key request");
		return;
	}
	for (int id = WAN; id >= LAN; id--) {
		struct pool *p = g->pool[id];
		struct key_part *kp = &o->part[id];
		if (!p)
			continue;
		struct serf_query_param qp = {.relay_factor = (uint8_t)m->relay_factor};
		const char *why = NULL;
		kp->active = true;
		/* serf: memberlist.NumMembers(), the members not dead or left */
		kp->num_nodes = swim_num_alive(serf_swim(pool_serf(p)));
		if (pool_query(p, qname, req.p, req.len, &qp, &kp->ltime, &kp->id, &why) != 0) {
			snprintf(kp->error, sizeof(kp->error), "%s", why ? why : "query failed");
			kp->done = true;
		}
	}
	buf_fini(&req);
	bool all_done = true;
	for (int i = 0; i < 2; i++)
		all_done = all_done && (!o->part[i].active || o->part[i].done);
	if (all_done)
		key_op_reply(g, o);
}

/* -encrypt and serf/local.keyring (Consul agent/keyring.go setupKeyrings): the file, once
 * written, is the truth; -encrypt only seeds it. */
static int keyring_setup(struct gossipd *g, char *err, size_t err_size)
{
	const struct conf *c = &g->d->conf;
	const char *why = NULL;
	keyring_init(&g->kr);
	g->keyring_path[0] = '\0';
	if (c->data_dir && !c->disable_keyring_file)
		snprintf(g->keyring_path, sizeof(g->keyring_path), "%s/serf/local.keyring",
		         c->data_dir);
	struct stat stt;
	bool have_file = g->keyring_path[0] && stat(g->keyring_path, &stt) == 0;
	if (have_file) {
		if (keyring_load_file(&g->kr, g->keyring_path, &why) != 0) {
			snprintf(err, err_size, "failed to load the keyring %.400s: %s", g->keyring_path,
			         why ? why : "?");
			return -1;
		}
		if (c->encrypt && *c->encrypt)
			log_info("gossip: loaded the keyring from %s; encrypt only seeds a new one",
			         g->keyring_path);
		return 0;
	}
	if (c->encrypt && *c->encrypt) {
		if (keyring_add_b64(&g->kr, c->encrypt, &why) != 0) {
			snprintf(err, err_size, "invalid encrypt key: %s", why ? why : "?");
			return -1;
		}
		if (g->keyring_path[0]) {
			char dir[1024];
			snprintf(dir, sizeof(dir), "%s/serf", c->data_dir);
			if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
				snprintf(err, err_size, "cannot create %.400s: %s", dir, strerror(errno));
				return -1;
			}
			if (keyring_save_file(&g->kr, g->keyring_path, &why) != 0) {
				snprintf(err, err_size, "cannot write the keyring %.400s: %s",
				         g->keyring_path, why ? why : strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

/* ---- setup ---- */

/* serf's snapshotter writes the last time seen, Time() - 1: a restart witnesses it, and
 * only events and queries after it are news (serf_restore_clocks). */
static uint64_t last_seen(uint64_t t)
{
	return t ? t - 1 : 0;
}

static int snap_clocks(struct gossipd *g, enum pool_id id)
{
	struct serf *s = pool_serf(g->pool[id]);
	return gsnap_clocks(g->snap[id], last_seen(serf_clock(s)), last_seen(serf_event_clock(s)),
	                    last_seen(serf_query_clock(s)));
}

static void clock_save(struct ev *ev, void *arg)
{
	struct gossipd *g = arg;
	(void)ev;
	for (int id = LAN; id <= WAN; id++) {
		if (!g->snap[id] || !g->pool[id])
			continue;
		if (snap_clocks(g, id) != 0)
			log_warn("gossip(%s): cannot write the member snapshot", pool_label(id));
	}
	g->clock_timer = ev_timer_add(g->d->ev, GOSSIPD_CLOCK_SAVE_MS, clock_save, g);
}

static const struct pool_ops gossipd_pool_ops = {
    .member = on_member,
    .user_event = on_user_event,
    .query = on_query,
    .query_response = on_query_response,
    .query_done = on_query_done,
    .join_done = on_join_done,
    .leave_done = on_leave_done,
};

static int start_pool(struct gossipd *g, enum pool_id id, char *err, size_t err_size)
{
	const struct conf *c = &g->d->conf;
	const struct conf_gossip *gc = id == WAN ? &c->gossip_wan : &c->gossip_lan;
	struct pool_conf pc;
	struct buf meta;
	const char *why = NULL;
	memset(&pc, 0, sizeof(pc));
	if (id == WAN)
		swim_config_wan(&pc.mc);
	else
		swim_config_lan(&pc.mc);
	serf_config_consul(&pc.sc);
	pc.wan = id == WAN;
	pc.bind_ip = id == WAN ? (c->serf_wan ? c->serf_wan : c->bind_addr)
	                       : (c->serf_lan ? c->serf_lan : c->bind_addr);
	pc.port = (uint16_t)(id == WAN ? c->ports.serf_wan : c->ports.serf_lan);
	pc.tcp_timeout_ms = id == WAN ? 30000 : 10000;
	const char *adv = id == WAN ? c->advertise_addr_wan : c->advertise_addr;
	if (!adv || mlmap_parse_ip(adv, &pc.mc.addr) != 0) {
		snprintf(err, err_size, "no usable advertise address for the %s pool (%s)",
		         pool_label(id), adv ? adv : "unset");
		return -1;
	}
	pc.mc.addr.port = pc.port;
	if (id == WAN)
		snprintf(g->self_name[id], sizeof(g->self_name[id]), "%s.%s", c->node_name,
		         c->datacenter);
	else
		snprintf(g->self_name[id], sizeof(g->self_name[id]), "%s", c->node_name);
	pc.mc.name = g->self_name[id];
	pc.mc.seed = daemon_random64();
	pc.sc.seed = daemon_random64();
	pc.mc.gossip_interval_ms = (uint32_t)gc->gossip_interval_ms;
	pc.mc.gossip_nodes = (uint32_t)gc->gossip_nodes;
	pc.mc.probe_interval_ms = (uint32_t)gc->probe_interval_ms;
	pc.mc.probe_timeout_ms = (uint32_t)gc->probe_timeout_ms;
	/* memberlist lets the timeout equal the interval (Consul's -dev does: 100 ms each); the
	 * core wants room for the indirect round, so keep a tenth of the interval for it */
	if (pc.mc.probe_timeout_ms >= pc.mc.probe_interval_ms)
		pc.mc.probe_timeout_ms =
		    pc.mc.probe_interval_ms > 1 ? pc.mc.probe_interval_ms * 9 / 10 : 1;
	if (pc.mc.probe_timeout_ms == 0)
		pc.mc.probe_timeout_ms = 1;
	pc.mc.retransmit_mult = (uint32_t)gc->retransmit_mult;
	pc.mc.suspicion_mult = (uint32_t)gc->suspicion_mult;
	pc.mc.dead_node_reclaim_ms = GOSSIPD_DEAD_NODE_RECLAIM_MS;
	/* Consul runs serf at protocol 4 (consul/config.go protocolVersionMap), so members
	 * show DelegateCur 4 (spec/http-api.md §2.10) */
	pc.mc.vsn[5] = 4;
	pc.sc.reconnect_timeout_ms = id == WAN ? c->reconnect_timeout_wan_ms : c->reconnect_timeout_ms;
	pc.keyring = &g->kr;
	pc.verify_incoming = c->encrypt_verify_incoming;
	pc.verify_outgoing = c->encrypt_verify_outgoing;
	pc.compress = true;

	struct serfwire_consul_conf cc = {
	    .server = c->server,
	    .dc = c->datacenter,
	    .segment = "",
	    .node_id = c->node_id ? c->node_id : "",
	    .version = MUSTER_VERSION,
	    .revision = MUSTER_REVISION,
	    .port = (unsigned)c->ports.server,
	    .wan_join_port = id == LAN && c->server ? (unsigned)c->ports.serf_wan : 0,
	    .bootstrap = c->bootstrap || c->dev_mode,
	    .expect = c->bootstrap_expect > 0 ? (unsigned)c->bootstrap_expect : 0,
	};
	buf_init(&meta, SWIM_META_MAX + 64);
	if (serfwire_consul_meta(&meta, &cc, &why) != 0) {
		snprintf(err, err_size, "cannot build the serf tags: %s", why ? why : "?");
		buf_fini(&meta);
		return -1;
	}
	pc.mc.meta = meta.p;
	pc.mc.meta_len = meta.len;
	g->pool[id] = pool_new(g->d->ev, &pc, &gossipd_pool_ops, g, err, err_size);
	buf_fini(&meta);
	if (!g->pool[id])
		return -1;
	log_info("gossip(%s): %s listening on %s:%u, advertising %s", pool_label(id),
	         g->self_name[id], pc.bind_ip, (unsigned)pc.port, adv);

	/* the member snapshot: rejoin what the last run knew (serf snapshot.go) */
	if (c->data_dir) {
		char path[1100], serr[256];
		struct gsnap_prev prev;
		memset(&prev, 0, sizeof(prev));
		snprintf(path, sizeof(path), "%s/serf/%s.snapshot", c->data_dir,
		         id == WAN ? "remote" : "local");
		if (gsnap_open(path, c->rejoin_after_leave, &g->snap[id], &prev, serr, sizeof(serr)) !=
		    0) {
			log_warnx("gossip(%s): running without a member snapshot: %s", pool_label(id),
			          serr);
			g->snap[id] = NULL;
		} else {
			if (prev.bad_lines)
				log_warnx("gossip(%s): %zu unreadable lines in %s skipped", pool_label(id),
				          prev.bad_lines, path);
			pool_restore_clocks(g->pool[id], prev.clock, prev.event_clock, prev.query_clock);
			const char *addrs[POOL_JOIN_ADDRS_MAX];
			size_t n = 0;
			for (size_t i = 0; i < prev.n_alive && n < POOL_JOIN_ADDRS_MAX; i++)
				if (strcmp(prev.alive[i].name, g->self_name[id]) != 0)
					addrs[n++] = prev.alive[i].addr;
			if (prev.left)
				log_info("gossip(%s): a previous leave is in the snapshot: not "
				         "rejoining (rejoin_after_leave is off)",
				         pool_label(id));
			if (n) {
				char jerr[512];
				log_info("gossip(%s): attempting to rejoin %zu previous members",
				         pool_label(id), n);
				if (start_join(g, id, addrs, n, NULL, jerr, sizeof(jerr)) != 0)
					log_warnx("gossip(%s): rejoin failed: %s", pool_label(id), jerr);
			}
			gsnap_prev_free(&prev);
		}
	}
	return 0;
}

static int gossipd_start(struct daemon *d)
{
	struct gossipd *g = &gossipd_state;
	const struct conf *c = &d->conf;
	char err[512];
	memset(g, 0, sizeof(*g));
	g->d = d;
	d->priv = g;
	uevent_ring_init(&g->ring);
	g->healthd = ipc_client_new(d->ev, d->run_dir, "gossipd", "healthd");
	if (!g->healthd) {
		log_errorx("gossip: cannot open the bus to healthd");
		return -1;
	}
	if (c->ports.serf_lan < 0) {
		log_errorx("gossip: ports.serf_lan is disabled; gossipd cannot run without it");
		return -1;
	}
	if (keyring_setup(g, err, sizeof(err)) != 0) {
		log_errorx("gossip: %s", err);
		return -1;
	}
	if (g->kr.n)
		log_info("gossip: encryption on (%zu key%s)", g->kr.n, g->kr.n == 1 ? "" : "s");
	if (start_pool(g, LAN, err, sizeof(err)) != 0) {
		log_errorx("gossip(lan): %s", err);
		return -1;
	}
	if (c->server && c->ports.serf_wan >= 0 && start_pool(g, WAN, err, sizeof(err)) != 0) {
		log_errorx("gossip(wan): %s", err);
		return -1;
	}
	for (int id = LAN; id <= WAN; id++) {
		const struct conf_list *l = id == WAN ? &c->retry_join_wan : &c->retry_join;
		g->retry[id].pool = (enum pool_id)id;
		if (!g->pool[id] || l->n == 0)
			continue;
		g->retry[id].g = g;
		g->retry[id].timer = ev_timer_add(d->ev, 0, retry_fire, &g->retry[id]);
	}
	g->clock_timer = ev_timer_add(d->ev, GOSSIPD_CLOCK_SAVE_MS, clock_save, g);
	return 0;
}

static void gossipd_stop(struct daemon *d)
{
	struct gossipd *g = d->priv;
	if (!g)
		return;
	for (size_t i = 0; i < GOSSIPD_LIST_WAITERS; i++)
		if (g->waiters[i].used)
			waiter_free(g, &g->waiters[i]);
	for (size_t i = 0; i < GOSSIPD_KEYRING_OPS; i++)
		if (g->keyops[i].used)
			key_op_free(&g->keyops[i]);
	for (int id = LAN; id <= WAN; id++) {
		if (g->retry[id].timer)
			ev_timer_del(d->ev, g->retry[id].timer);
		if (g->snap[id] && g->pool[id])
			snap_clocks(g, id);
		gsnap_close(g->snap[id]);
		pool_free(g->pool[id]);
		g->pool[id] = NULL;
		g->snap[id] = NULL;
	}
	if (g->clock_timer)
		ev_timer_del(d->ev, g->clock_timer);
	ipc_client_free(g->healthd); /* a pending AGENT_STATE ends with IPC_CANCELLED */
	g->healthd = NULL;
	while (g->ev_wait_n) {
		uevent_free(&g->ev_wait[g->ev_wait_head]);
		g->ev_wait_head = (g->ev_wait_head + 1) % GOSSIPD_EVENT_WAIT_MAX;
		g->ev_wait_n--;
	}
	uevent_ring_fini(&g->ring);
	keyring_fini(&g->kr);
	d->priv = NULL;
}

static bool gossipd_request(struct daemon *d, const struct ipc_from *from, struct msg *m)
{
	struct gossipd *g = d->priv;
	if (!g)
		return false;
	switch (m->type) {
	case MSG_MEMBERS:
		reply_members(g, from, m->u.members.wan);
		return true;
	case MSG_JOIN:
		handle_join(g, from, &m->u.join);
		return true;
	case MSG_LEAVE:
		handle_leave(g, from);
		return true;
	case MSG_FORCE_LEAVE:
		handle_force_leave(g, from, &m->u.force_leave);
		return true;
	case MSG_EVENT_FIRE:
		handle_event_fire(g, from, &m->u.event_fire);
		return true;
	case MSG_EVENT_LIST:
		handle_event_list(g, from, &m->u.event_list);
		return true;
	case MSG_KEYRING:
		handle_keyring(g, from, &m->u.keyring);
		return true;
	default:
		return false;
	}
}

static void pool_stats_add(struct msg_daemon_stats *out, struct pool *p, const char *pfx)
{
	const struct pool_stats *st = pool_stats(p);
	const struct serf_stats *ss = serf_stats(pool_serf(p));
	const struct swim_stats *ws = swim_stats(serf_swim(pool_serf(p)));
	struct serf *s = pool_serf(p);
	size_t n = serf_num_members(s), alive = 0, failed = 0, left = 0;
	struct serf_member_info *mi = xcalloc(n ? n : 1, sizeof(*mi));
	n = serf_members(s, mi, n);
	for (size_t i = 0; i < n; i++) {
		alive += mi[i].status == SERF_STATUS_ALIVE;
		failed += mi[i].status == SERF_STATUS_FAILED;
		left += mi[i].status == SERF_STATUS_LEFT;
	}
	free(mi);
	char name[64];
#define G(k, v)                                                                                    \
	do {                                                                                       \
		snprintf(name, sizeof(name), "%s_%s", pfx, k);                                     \
		daemon_stat_add(out, name, 0, (double)(v));                                        \
	} while (0)
#define C(k, v)                                                                                    \
	do {                                                                                       \
		snprintf(name, sizeof(name), "%s_%s", pfx, k);                                     \
		daemon_stat_add(out, name, 1, (double)(v));                                        \
	} while (0)
	G("members", n);
	G("alive", alive);
	G("failed", failed);
	G("left", left);
	G("health_score", swim_awareness(serf_swim(s)));
	G("member_time", serf_clock(s));
	G("event_time", serf_event_clock(s));
	G("query_time", serf_query_clock(s));
	G("intent_queue", serf_intents(s));
	G("broadcast_queue", serf_queued(s));
	G("streams", pool_conns(p));
	C("udp_in", st->udp_in);
	C("udp_out", st->udp_out);
	C("udp_bytes_in", st->udp_bytes_in);
	C("udp_bytes_out", st->udp_bytes_out);
	C("udp_bad", st->udp_bad);
	C("udp_send_failed", st->udp_send_failed);
	C("msgs_bad", st->msgs_bad);
	C("tcp_in", st->tcp_in);
	C("tcp_out", st->tcp_out);
	C("tcp_bytes_in", st->tcp_bytes_in);
	C("tcp_bytes_out", st->tcp_bytes_out);
	C("tcp_failed", st->tcp_failed);
	C("tcp_refused", st->tcp_refused);
	C("push_pulls", st->push_pulls);
	C("push_pull_failed", st->push_pull_failed);
	C("tcp_pings", st->tcp_pings);
	C("probes", ws->probes);
	C("probe_failures", ws->probe_failures);
	C("suspects", ws->suspects);
	C("deads", ws->deads);
	C("refutes", ws->refutes);
	C("core_malformed", ws->malformed);
	C("serf_malformed", ss->malformed);
	C("events_dup", ss->events_dup);
	C("reaped", ss->reaped);
	C("reconnects", ss->reconnects);
#undef G
#undef C
}

static void gossipd_stats(struct daemon *d, struct msg_daemon_stats *out)
{
	struct gossipd *g = d->priv;
	if (!g)
		return;
	for (int id = LAN; id <= WAN; id++)
		if (g->pool[id])
			pool_stats_add(out, g->pool[id], id == WAN ? "wan" : "lan");
	daemon_stat_add(out, "encrypted", 0, g->kr.n ? 1 : 0);
	daemon_stat_add(out, "keys", 0, (double)g->kr.n);
	daemon_stat_add(out, "user_events_in", 1, (double)g->events_in);
	daemon_stat_add(out, "user_events_accepted", 1, (double)g->events_accepted);
	daemon_stat_add(out, "user_events_bad", 1, (double)g->events_bad);
	daemon_stat_add(out, "member_events", 1, (double)g->member_events);
}

static const struct daemon_ops gossipd_ops = {
    .name = "gossipd",
    .start = gossipd_start,
    .stop = gossipd_stop,
    .request = gossipd_request,
    .stats = gossipd_stats,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &gossipd_ops);
}

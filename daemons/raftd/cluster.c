/* cluster.c: raftd's view of the LAN gossip pool (cluster.h). gossipd is read whole every
 * CLUSTER_REFRESH_MS and soon after each member event it publishes (a missed event costs at
 * most one refresh); each read drives, on a server, bootstrap_expect until there is a Raft
 * configuration (spec §5.3) and, on the leader, the reconciliation of members into the
 * catalog and the Raft configuration (spec §5.4, autopilot's promotion §5.2). */
#include "cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ev.h"
#include "ipc.h"
#include "log.h"
#include "raftd.h"
#include "xalloc.h"

/* serf.MemberStatus (gossipd's member.status). */
enum { ST_ALIVE = 1, ST_LEAVING = 2, ST_LEFT = 3, ST_FAILED = 4 };

struct cmember {
	char *name, *ip, *id, *dc;
	char build[32]; /* the build tag up to its ':' (Consul's version) */
	uint64_t status;
	bool server, bootstrap;
	unsigned port; /* the server's ports.server (tag "port") */
	unsigned expect;
	uint64_t raft_id;
	char raft_addr[RAFT_ADDR_MAX];
};

/* A non-voter the leader added: promoted once healthy this long
 * (autopilot's server_stabilization_time). */
struct nonvoter {
	uint64_t id;
	uint64_t healthy_since_ms; /* 0: not healthy now */
};

/* A client agent's blocking read of one table on a server, whose index
 * moves are republished as INDEX_BUMPs on this agent's bus (DESIGN.md §4,
 * DNS: dnsd's cache works on a client agent too). */
struct twatch {
	struct cluster *c;
	const char *table;
	enum msg_type type;
	uint64_t index;
	bool out;
	uint64_t retry_timer;
};
#define TWATCHES 3
#define TWATCH_WAIT_MS  300000 /* spec §1.10's default wait */
#define TWATCH_RETRY_MS 1000

struct cluster {
	struct raftd *rd;
	struct twatch tw[TWATCHES];
	struct ipc_client *gossipd;
	struct ipc_sub *sub;
	struct cmember *m;
	size_t n;
	bool have_list;
	bool reading;
	uint64_t timer, soon_timer;
	/* bootstrap_expect */
	bool expect_mode;
	bool probing;
	size_t probes_out;
	bool probe_failed, probe_found;
	struct cmember *probe_set;
	size_t probe_n;
	/* a client's server choice */
	size_t pick;
	/* the leader's */
	struct nonvoter nv[RAFT_MEMBERS_MAX];
	size_t nnv;
	uint64_t last_conf_ms;
	size_t voters, failed_voters; /* this round's, for cleanup_dead_servers */
	struct cluster_stats st;
};

static uint64_t now_ms(const struct cluster *c)
{
	return ev_now_ms(c->rd->d->ev);
}

static const char *tag(const struct msg_strmap *t, const char *k)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (strcmp(t->k[i], k) == 0)
			return t->v[i];
	return NULL;
}

static void members_free(struct cmember *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].ip);
		free(m[i].id);
		free(m[i].dc);
	}
	free(m);
}

static bool member_from(struct cmember *out, const struct msg_member *in)
{
	const char *role = tag(&in->tags, "role"), *port = tag(&in->tags, "port");
	const char *expect = tag(&in->tags, "expect"), *id = tag(&in->tags, "id");
	const char *dc = tag(&in->tags, "dc");

	if (in->name == NULL || in->addr == NULL)
		return false;
	memset(out, 0, sizeof(*out));
	out->name = xstrdup(in->name);
	out->ip = xstrdup(in->addr);
	out->id = xstrdup(id ? id : "");
	out->dc = xstrdup(dc ? dc : "");
	out->status = in->status;
	out->server = role != NULL && strcmp(role, "consul") == 0;
	out->bootstrap = tag(&in->tags, "bootstrap") != NULL;
	out->port = port ? (unsigned)strtoul(port, NULL, 10) : 0;
	out->expect = expect ? (unsigned)strtoul(expect, NULL, 10) : 0;
	{
		const char *b = tag(&in->tags, "build");
		size_t bl = b ? strcspn(b, ":") : 0;

		if (bl >= sizeof(out->build))
			bl = sizeof(out->build) - 1;
		memcpy(out->build, b ? b : "", bl);
		out->build[bl] = '\0';
	}
	if (out->server && out->port > 0 && out->port < 65536) {
		out->raft_id = raftd_id_of(out->id);
		snprintf(out->raft_addr, sizeof(out->raft_addr),
		         strchr(out->ip, ':') ? "[%s]:%u" : "%s:%u", out->ip, out->port);
	}
	return true;
}

static bool same_dc(const struct cluster *c, const struct cmember *m)
{
	return strcasecmp(m->dc, c->rd->d->conf.datacenter) == 0;
}

static void on_soon(struct ev *ev, void *arg);

static const struct cmember *server_of(const struct cluster *c, uint64_t raft_id)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->m[i].server && c->m[i].raft_id == raft_id)
			return &c->m[i];
	return NULL;
}

const char *cluster_name_of(const struct cluster *c, uint64_t raft_id)
{
	const struct cmember *m = server_of(c, raft_id);

	return m ? m->name : NULL;
}

bool cluster_server_info(const struct cluster *c, uint64_t raft_id, struct cluster_info *out)
{
	static const char *const st[] = {"none", "alive", "leaving", "left", "failed"};
	const struct cmember *m = server_of(c, raft_id);

	if (m == NULL)
		return false;
	out->name = m->name;
	out->node_id = m->id;
	out->serf_status = m->status < 5 ? st[m->status] : "none";
	snprintf(out->version, sizeof(out->version), "%s", m->build);
	return true;
}

/* ---- client agents: which server ---- */

const char *cluster_server(struct cluster *c, unsigned attempt)
{
	size_t alive = 0, want;

	for (size_t i = 0; i < c->n; i++)
		if (c->m[i].server && c->m[i].status == ST_ALIVE && same_dc(c, &c->m[i]) &&
		    c->m[i].raft_addr[0])
			alive++;
	if (alive == 0)
		return NULL;
	if (attempt > 0)
		c->pick++; /* the last one failed: the next */
	want = c->pick % alive;
	for (size_t i = 0; i < c->n; i++)
		if (c->m[i].server && c->m[i].status == ST_ALIVE && same_dc(c, &c->m[i]) &&
		    c->m[i].raft_addr[0] && want-- == 0)
			return c->m[i].raft_addr;
	return NULL;
}

/* ---- bootstrap_expect (spec §5.3, Consul's maybeBootstrap) ---- */

static void bootstrap_now(struct cluster *c)
{
	struct raft_conf conf;

	memset(&conf, 0, sizeof(conf));
	for (size_t i = 0; i < c->probe_n; i++)
		if (raft_conf_apply_op(&conf, RAFT_CONF_ADD_VOTER, c->probe_set[i].raft_id,
		                       c->probe_set[i].raft_addr) != 0) {
			log_warnx("bootstrap: server %s (id %s, %s) does not fit in a configuration",
			          c->probe_set[i].name, c->probe_set[i].id, c->probe_set[i].raft_addr);
			return;
		}
	if (raftd_bootstrap(c->rd, &conf) != 0)
		return;
	c->expect_mode = false;
	c->st.bootstrapped++;
}

static void probe_reply(void *arg, struct msg *reply)
{
	struct cluster *c = arg;

	c->probes_out--;
	if (reply == NULL || reply->type != MSG_RAFT_CONFIG_REPLY)
		c->probe_failed = true;
	else if (reply->u.raft_config_reply.servers.n > 0)
		c->probe_found = true;
	if (c->probes_out > 0 || c->rd->peer == NULL)
		return;
	c->probing = false;
	if (!c->expect_mode)
		return;
	if (c->probe_found) {
		/* spec §5.3 step 4: a server already has peers: join that
		 * cluster (its leader adds this server) instead */
		log_info("bootstrap: a server already has a Raft configuration; waiting to be "
		         "added to it");
		c->expect_mode = false;
	} else if (c->probe_failed) {
		/* a link still connecting refuses at once: ask again soon */
		log_info("bootstrap: not every server answered; asking again");
		if (c->soon_timer == 0)
			c->soon_timer = ev_timer_add(c->rd->d->ev, 200, on_soon, c);
	} else {
		bootstrap_now(c);
	}
	members_free(c->probe_set, c->probe_n);
	c->probe_set = NULL;
	c->probe_n = 0;
}

static void maybe_bootstrap(struct cluster *c)
{
	struct raftd *rd = c->rd;
	unsigned expect = (unsigned)rd->d->conf.bootstrap_expect;
	size_t voters = 0;
	struct msg q;

	if (!c->expect_mode || c->probing)
		return;
	/* spec §5.3 step 1: any Raft entry means bootstrapped already */
	if (raft_last_index(rd->raft) > 0 || raft_conf_latest(rd->raft)->n > 0) {
		c->expect_mode = false;
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct cmember *m = &c->m[i];

		if (!m->server || m->status != ST_ALIVE)
			continue;
		if (!same_dc(c, m))
			continue; /* Consul logs these; they never count */
		if (m->expect != expect) {
			log_warnx("bootstrap: member %s has bootstrap_expect %u, this server %u; not "
			          "bootstrapping",
			          m->name, m->expect, expect);
			return;
		}
		if (m->bootstrap) {
			log_warnx("bootstrap: member %s is in bootstrap mode; not bootstrapping",
			          m->name);
			return;
		}
		if (m->raft_addr[0] == '\0' || m->raft_id == RAFT_NONE)
			return; /* its tags are not complete yet */
		voters++;
	}
	if (voters < expect)
		return;
	/* step 4: ask every other server whether it has peers already */
	c->probe_set = xcalloc(voters, sizeof(*c->probe_set));
	c->probe_n = 0;
	c->probe_failed = c->probe_found = false;
	for (size_t i = 0; i < c->n; i++) {
		const struct cmember *m = &c->m[i];
		struct cmember *d;

		if (!m->server || m->status != ST_ALIVE || !same_dc(c, m))
			continue;
		d = &c->probe_set[c->probe_n++];
		*d = *m;
		d->name = xstrdup(m->name);
		d->ip = xstrdup(m->ip);
		d->id = xstrdup(m->id);
		d->dc = xstrdup(m->dc);
	}
	memset(&q, 0, sizeof(q));
	q.type = MSG_RAFT_CONFIG;
	q.u.raft_config.q.consistency = 1; /* stale: each answers for itself */
	c->probing = true;
	c->probes_out = 1; /* held while the calls go out */
	for (size_t i = 0; i < c->probe_n; i++) {
		if (c->probe_set[i].raft_id == rd->id)
			continue;
		if (peer_call(rd->peer, c->probe_set[i].raft_addr, &q, CLUSTER_PROBE_MS, probe_reply,
		              c) == 0)
			c->probes_out++;
		else
			c->probe_failed = true;
	}
	log_info("bootstrap: %zu servers of %u expected are in gossip; asking them for peers",
	         c->probe_n, expect);
	probe_reply(c, &(struct msg){.type = MSG_RAFT_CONFIG_REPLY}); /* the one held above */
}

/* ---- the leader's reconciliation (spec §5.4) ---- */

static void register_member(struct cluster *c, const struct cmember *m, const char *status,
                            const char *output, bool skip_node)
{
	raftd_register_agent(c->rd, &(struct raftd_agent_reg){
	                                .name = m->name,
	                                .id = m->id,
	                                .addr = m->ip,
	                                .server = m->server,
	                                .port = m->port,
	                                .status = status,
	                                .output = output,
	                                .skip_node = skip_node,
	                            });
}

static void reconcile_alive(struct cluster *c, const struct cmember *m)
{
	const struct fsm *f = c->rd->fsm;
	const struct msg_node *n = fsm_node_get(f, m->name);
	const struct msg_check *ck = fsm_check_get(f, m->name, "serfHealth");
	const struct msg_service *sv = m->server ? fsm_service_get(f, m->name, "consul") : NULL;

	if (n != NULL && strcmp(n->address, m->ip) == 0 && strcasecmp(n->id, m->id) == 0 &&
	    ck != NULL && strcmp(ck->status, "passing") == 0 && (!m->server || (sv && sv->port == m->port)))
		return;
	log_info("member %s (%s) alive: registering it", m->name, m->ip);
	register_member(c, m, "passing", "Agent alive and reachable", false);
	c->st.registered++;
}

static void reconcile_failed(struct cluster *c, const struct cmember *m)
{
	const struct msg_check *ck = fsm_check_get(c->rd->fsm, m->name, "serfHealth");

	if (ck != NULL && strcmp(ck->status, "critical") == 0)
		return;
	log_info("member %s (%s) failed: serfHealth critical", m->name, m->ip);
	/* Consul's SkipNodeUpdate: the node's own registration stays */
	register_member(c, m, "critical", "Agent not live or unreachable",
	                fsm_node_get(c->rd->fsm, m->name) != NULL);
	c->st.marked_critical++;
}

static void deregister(struct cluster *c, const char *node, const char *why)
{
	struct msg r;

	memset(&r, 0, sizeof(r));
	r.type = MSG_CATALOG_DEREGISTER;
	r.u.catalog_deregister.node = (char *)node;
	log_info("member %s %s: deregistering it", node, why);
	raftd_propose_internal(c->rd, &r);
	c->st.deregistered++;
}

static bool conf_busy(struct cluster *c)
{
	/* one configuration change at a time (the core refuses a second
	 * until the first committed), paced */
	return now_ms(c) - c->last_conf_ms < CLUSTER_CONF_WAIT_MS;
}

static void conf_change(struct cluster *c, enum raft_conf_op op, const struct cmember *m,
                        const char *what)
{
	uint64_t index = 0;
	int rc = raft_propose_conf(c->rd->raft, op, m->raft_id, m->raft_addr, &index);

	c->last_conf_ms = now_ms(c);
	if (rc != RAFT_OK) {
		if (rc != RAFT_ERR_CONF_PENDING)
			log_warnx("raft: %s %s (%s): %s", what, m->name, m->raft_addr,
			          raft_status_str(rc));
		return;
	}
	log_info("raft: %s server %s (id %016" PRIx64 ", %s), entry %" PRIu64, what, m->name,
	         m->raft_id, m->raft_addr, index);
	raftd_poke(c->rd);
}

static struct nonvoter *nv_get(struct cluster *c, uint64_t id, bool make)
{
	for (size_t i = 0; i < c->nnv; i++)
		if (c->nv[i].id == id)
			return &c->nv[i];
	if (!make || c->nnv >= RAFT_MEMBERS_MAX)
		return NULL;
	c->nv[c->nnv] = (struct nonvoter){.id = id};
	return &c->nv[c->nnv++];
}

/* Servers join Raft as non-voters and are promoted once they kept up for
 * server_stabilization_time (autopilot, spec §5.2); a left one goes. */
static void reconcile_raft(struct cluster *c, const struct cmember *m)
{
	struct raftd *rd = c->rd;
	const struct raft_conf *conf = raft_conf_latest(rd->raft);
	const struct raft_member *rm = raft_conf_find(conf, m->raft_id);
	const struct conf *cf = &rd->d->conf;

	if (m->raft_id == RAFT_NONE || m->raft_addr[0] == '\0' || conf_busy(c))
		return;
	if (m->status == ST_LEFT) {
		if (rm != NULL && m->raft_id != rd->id) {
			conf_change(c, RAFT_CONF_REMOVE, m, "removing left");
			c->st.raft_removed++;
		}
		return;
	}
	if (m->status == ST_FAILED) {
		/* autopilot's cleanup_dead_servers (spec §5.2): a failed server
		 * leaves the configuration while the failed ones are a
		 * minority of the voters, so the rest keep a quorum, and never
		 * below min_quorum voters */
		if (rm != NULL && cf->autopilot.cleanup_dead_servers && m->raft_id != rd->id &&
		    c->failed_voters * 2 < c->voters && c->voters > 1 &&
		    (!rm->voter || c->voters - 1 >= cf->autopilot.min_quorum)) {
			conf_change(c, RAFT_CONF_REMOVE, m, "removing dead");
			c->st.raft_removed++;
		}
		return;
	}
	if (m->status != ST_ALIVE)
		return;
	if (rm == NULL) {
		conf_change(c, RAFT_CONF_ADD_NONVOTER, m, "adding (non-voter)");
		c->st.raft_added++;
		nv_get(c, m->raft_id, true);
		return;
	}
	if (strcmp(rm->addr, m->raft_addr) != 0) {
		conf_change(c, rm->voter ? RAFT_CONF_ADD_VOTER : RAFT_CONF_ADD_NONVOTER, m,
		            "moving address of");
		return;
	}
	if (!rm->voter) {
		struct raft_progress_info pi;
		struct nonvoter *nv = nv_get(c, m->raft_id, true);
		bool healthy = raft_progress(rd->raft, m->raft_id, &pi) == 0 &&
		               pi.match + cf->autopilot.max_trailing_logs >= raft_last_index(rd->raft) &&
		               pi.recent_active;

		if (nv == NULL)
			return;
		if (!healthy) {
			nv->healthy_since_ms = 0;
			return;
		}
		if (nv->healthy_since_ms == 0)
			nv->healthy_since_ms = now_ms(c);
		if (now_ms(c) - nv->healthy_since_ms >= cf->autopilot.server_stabilization_time_ms) {
			conf_change(c, RAFT_CONF_PROMOTE, m, "promoting");
			c->st.raft_promoted++;
		}
	}
}

static void reconcile(struct cluster *c)
{
	struct raftd *rd = c->rd;

	if (!rd->is_leader || !c->have_list || rd->failed)
		return;
	{
		const struct raft_conf *conf = raft_conf_latest(rd->raft);

		c->voters = c->failed_voters = 0;
		for (uint32_t i = 0; i < conf->n; i++) {
			const struct cmember *m = server_of(c, conf->m[i].id);

			if (!conf->m[i].voter)
				continue;
			c->voters++;
			c->failed_voters += m != NULL && m->status == ST_FAILED;
		}
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct cmember *m = &c->m[i];

		if (!same_dc(c, m))
			continue;
		switch (m->status) {
		case ST_ALIVE:
			/* this server registers itself (raftd_self_register) */
			if (strcasecmp(m->name, rd->d->conf.node_name) != 0)
				reconcile_alive(c, m);
			break;
		case ST_FAILED:
			reconcile_failed(c, m);
			break;
		case ST_LEFT:
			if (fsm_node_get(rd->fsm, m->name) != NULL)
				deregister(c, m->name, "left");
			break;
		default:
			break;
		}
		if (m->server)
			reconcile_raft(c, m);
	}
	/* reap: a node with serfHealth that gossip no longer knows (reaped
	 * after reconnect_timeout, or force-left with prune) */
	{
		struct msg q, r;

		memset(&q, 0, sizeof(q));
		memset(&r, 0, sizeof(r));
		q.type = MSG_CATALOG_NODES;
		if (fsm_query(rd->fsm, &q, &r, NULL) == 0 && r.type == MSG_NODES_REPLY) {
			const struct msg_node_list *l = &r.u.nodes_reply.nodes;

			for (uint32_t i = 0; i < l->n; i++) {
				bool known = false;

				for (size_t k = 0; k < c->n && !known; k++)
					known = strcasecmp(c->m[k].name, l->v[i].node) == 0;
				if (!known && fsm_check_get(rd->fsm, l->v[i].node, "serfHealth") != NULL)
					deregister(c, l->v[i].node, "reaped (gossip forgot it)");
			}
		}
		msg_free(&r);
	}
}

/* ---- a client agent's table watches ---- */

static void twatch_send(struct twatch *w);

static void twatch_bump(struct twatch *w, uint64_t index)
{
	struct msg ev;
	char *tables[1] = {(char *)w->table};

	memset(&ev, 0, sizeof(ev));
	ev.type = MSG_INDEX_BUMP;
	ev.u.index_bump.epoch = w->c->rd->d->epoch;
	ev.u.index_bump.index = index;
	ev.u.index_bump.tables.v = tables;
	ev.u.index_bump.tables.n = 1;
	ipc_publish(w->c->rd->d->pub, &ev);
}

static void twatch_retry(struct ev *ev, void *arg)
{
	struct twatch *w = arg;

	(void)ev;
	w->retry_timer = 0;
	twatch_send(w);
}

static void twatch_reply(void *arg, struct msg *reply)
{
	struct twatch *w = arg;
	const struct msg_query_meta *meta = reply ? raftd_reply_meta(reply) : NULL;

	w->out = false;
	if (w->c->rd->peer == NULL)
		return; /* stopping */
	if (meta == NULL) {
		/* the server failed or went: what was cached may be stale, and
		 * another server's index is not this one's */
		if (w->index != 0)
			twatch_bump(w, w->index);
		w->index = 0;
		(void)cluster_server(w->c, 1);
		w->retry_timer = ev_timer_add(w->c->rd->d->ev, TWATCH_RETRY_MS, twatch_retry, w);
		return;
	}
	if (meta->index != w->index)
		twatch_bump(w, meta->index);
	w->index = meta->index;
	twatch_send(w);
}

static void twatch_send(struct twatch *w)
{
	struct cluster *c = w->c;
	const char *addr = cluster_server(c, 0);
	struct msg q;
	struct msg_query_opts *o;

	if (w->out || w->retry_timer)
		return;
	if (addr == NULL || c->rd->peer == NULL) {
		w->retry_timer = ev_timer_add(c->rd->d->ev, TWATCH_RETRY_MS, twatch_retry, w);
		return;
	}
	memset(&q, 0, sizeof(q));
	q.type = w->type;
	o = w->type == MSG_CATALOG_NODES      ? &q.u.catalog_nodes.q
	    : w->type == MSG_CATALOG_SERVICES ? &q.u.catalog_services.q
	                                      : &q.u.health_checks.q;
	if (w->type == MSG_HEALTH_CHECKS)
		q.u.health_checks.state = "any";
	o->consistency = 1; /* stale: the server answers from its own state */
	o->min_index = w->index;
	o->wait_ms = w->index ? TWATCH_WAIT_MS : 0;
	if (peer_call(c->rd->peer, addr, &q, TWATCH_WAIT_MS + PEER_FWD_MARGIN_MS, twatch_reply,
	              w) != 0) {
		w->retry_timer = ev_timer_add(c->rd->d->ev, TWATCH_RETRY_MS, twatch_retry, w);
		return;
	}
	w->out = true;
}

void cluster_leader_gained(struct cluster *c)
{
	/* a new leader reconciles at once (spec §5.4), from a fresh read */
	c->nnv = 0;
	if (c->soon_timer == 0)
		c->soon_timer = ev_timer_add(c->rd->d->ev, 0, on_soon, c);
}

/* ---- reading gossipd ---- */

static void read_members(struct cluster *c);

static void members_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	struct cluster *c = arg;
	const struct msg_member_list *l;
	struct cmember *m;
	size_t n = 0;

	c->reading = false;
	if (st != IPC_OK || reply == NULL || reply->type != MSG_MEMBERS_REPLY) {
		if (st != IPC_CANCELLED)
			c->st.refresh_errors++;
		return;
	}
	l = &reply->u.members_reply.members;
	m = xcalloc(l->n ? l->n : 1, sizeof(*m));
	for (uint32_t i = 0; i < l->n && n < CLUSTER_MEMBERS_MAX; i++)
		if (member_from(&m[n], &l->v[i]))
			n++;
	members_free(c->m, c->n);
	c->m = m;
	c->n = n;
	c->have_list = true;
	c->st.refreshes++;
	c->st.members = n;
	c->st.servers = 0;
	for (size_t i = 0; i < n; i++) {
		bool up = m[i].server && m[i].status == ST_ALIVE && m[i].raft_addr[0] != '\0';

		c->st.servers += up;
		/* connected ahead of the first request or vote */
		if (up && same_dc(c, &m[i]) && c->rd->peer != NULL && m[i].raft_id != c->rd->id)
			peer_connect(c->rd->peer, m[i].raft_addr);
	}
	if (c->rd->server && c->rd->raft != NULL) {
		maybe_bootstrap(c);
		reconcile(c);
	}
	if (!c->rd->server)
		for (int i = 0; i < TWATCHES; i++)
			twatch_send(&c->tw[i]);
	raftd_servers_known(c->rd);
}

static void read_members(struct cluster *c)
{
	struct msg q;

	if (c->reading || c->gossipd == NULL)
		return;
	memset(&q, 0, sizeof(q));
	q.type = MSG_MEMBERS;
	if (ipc_call(c->gossipd, &q, 2000, members_reply, c) == 0)
		c->reading = true;
}

static void on_timer(struct ev *ev, void *arg)
{
	struct cluster *c = arg;

	c->timer = ev_timer_add(ev, CLUSTER_REFRESH_MS, on_timer, c);
	read_members(c);
}

static void on_soon(struct ev *ev, void *arg)
{
	struct cluster *c = arg;

	(void)ev;
	c->soon_timer = 0;
	read_members(c);
}

static void on_event(struct ipc_sub *s, unsigned publisher, struct msg *m, void *arg)
{
	struct cluster *c = arg;

	(void)s;
	(void)publisher;
	if (m->type != MSG_MEMBER_EVENT || m->u.member_event.wan || c->soon_timer != 0)
		return;
	c->soon_timer = ev_timer_add(c->rd->d->ev, CLUSTER_EVENT_MS, on_soon, c);
}

struct cluster *cluster_new(struct raftd *rd)
{
	struct cluster *c = xcalloc(1, sizeof(*c));

	c->rd = rd;
	{
		static const char *const names[TWATCHES] = {"nodes", "services", "checks"};
		static const enum msg_type types[TWATCHES] = {MSG_CATALOG_NODES, MSG_CATALOG_SERVICES,
		                                              MSG_HEALTH_CHECKS};

		for (int i = 0; i < TWATCHES; i++) {
			c->tw[i].c = c;
			c->tw[i].table = names[i];
			c->tw[i].type = types[i];
		}
	}
	c->expect_mode = rd->server && rd->d->conf.bootstrap_expect > 1;
	c->gossipd = ipc_client_new(rd->d->ev, rd->d->run_dir, "raftd", "gossipd");
	c->sub = ipc_sub_new(rd->d->ev, rd->d->run_dir, "gossipd", on_event, c);
	if (c->sub != NULL)
		ipc_subscribe(c->sub, MSG_MEMBER_EVENT);
	if (c->gossipd == NULL) {
		cluster_free(c);
		return NULL;
	}
	/* gossipd starts beside raftd: the first read soon, then periodic */
	c->soon_timer = ev_timer_add(rd->d->ev, CLUSTER_EVENT_MS, on_soon, c);
	c->timer = ev_timer_add(rd->d->ev, CLUSTER_REFRESH_MS, on_timer, c);
	return c;
}

void cluster_free(struct cluster *c)
{
	if (c == NULL)
		return;
	if (c->timer)
		ev_timer_del(c->rd->d->ev, c->timer);
	if (c->soon_timer)
		ev_timer_del(c->rd->d->ev, c->soon_timer);
	for (int i = 0; i < TWATCHES; i++)
		if (c->tw[i].retry_timer)
			ev_timer_del(c->rd->d->ev, c->tw[i].retry_timer);
	ipc_sub_free(c->sub);
	ipc_client_free(c->gossipd); /* a read on its way ends with IPC_CANCELLED */
	members_free(c->m, c->n);
	members_free(c->probe_set, c->probe_n);
	free(c);
}

const struct cluster_stats *cluster_stats(const struct cluster *c)
{
	return &c->st;
}

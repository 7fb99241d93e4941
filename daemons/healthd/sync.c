/* sync.c: anti-entropy: this agent's services and checks written into the catalog through raftd
 * (spec §5.6). */
#include "healthd.h"

#include "ev.h"
#include "hae.h"
#include "hdef.h"
#include "log.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Consul's agent/ae StateSyncer and agent/local/state.go, on one loop:
 *
 * - A round is either partial (SyncChanges: write what is not in sync,
 *   deregister what was removed) or full (SyncFull: read this node's
 *   services and checks from the catalog first, mark what differs, then
 *   the same writes). One round runs at a time; changes during a round
 *   start another right after it.
 * - Writes go one at a time, in Consul's order: services (with their
 *   checks that are out of sync) and their removals, then checks, then
 *   the node's own fields if nothing else carried them. The first failure
 *   ends the round; a full sync follows after 15 s (HEALTHD_RETRY_MS, or
 *   ae_interval when tests made that shorter) or when raftd announces a
 *   leader (Consul syncs when a server comes up).
 * - Full syncs every ae_interval plus a random stagger of up to
 *   ae_interval times Consul's scale factor for the cluster size (gossipd's
 *   member count): 1 up to 128 nodes, +1 per doubling.
 */

enum { PH_IDLE = 0, PH_READ_NODE, PH_READ_CHECKS, PH_WRITE };

static void hd_round_next(struct hd *hd);
static void hd_round_end(struct hd *hd, bool ok, const char *why);

void hd_node_build(struct hd *hd)
{
	const struct conf *c = &hd->d->conf;
	const char *addr = c->advertise_addr && c->advertise_addr[0] ? c->advertise_addr
	                   : c->bind_addr && strcmp(c->bind_addr, "0.0.0.0") != 0 &&
	                           strcmp(c->bind_addr, "::") != 0
	                       ? c->bind_addr
	                       : "127.0.0.1";
	const char *wan =
	    c->advertise_addr_wan && c->advertise_addr_wan[0] ? c->advertise_addr_wan : addr;
	bool v6 = strchr(addr, ':') != NULL, wv6 = strchr(wan, ':') != NULL;
	struct msg_node *n = &hd->node;
	uint32_t m = 0;

	msg_rec_free_node(n);
	memset(n, 0, sizeof(*n));
	n->id = xstrdup(c->node_id);
	n->node = xstrdup(c->node_name);
	n->address = xstrdup(addr);
	n->datacenter = xstrdup(c->datacenter);
	n->tagged_addresses.k = xcalloc(4, sizeof(char *));
	n->tagged_addresses.v = xcalloc(4, sizeof(char *));
	n->tagged_addresses.k[0] = xstrdup("lan");
	n->tagged_addresses.v[0] = xstrdup(addr);
	n->tagged_addresses.k[1] = xstrdup(v6 ? "lan_ipv6" : "lan_ipv4");
	n->tagged_addresses.v[1] = xstrdup(addr);
	n->tagged_addresses.k[2] = xstrdup("wan");
	n->tagged_addresses.v[2] = xstrdup(wan);
	n->tagged_addresses.k[3] = xstrdup(wv6 ? "wan_ipv6" : "wan_ipv4");
	n->tagged_addresses.v[3] = xstrdup(wan);
	n->tagged_addresses.n = 4;
	/* node_meta plus what Consul's agent adds (spec §2.1) */
	n->meta.k = xcalloc(c->node_meta.n + 2, sizeof(char *));
	n->meta.v = xcalloc(c->node_meta.n + 2, sizeof(char *));
	for (size_t i = 0; i < c->node_meta.n; i++) {
		n->meta.k[m] = xstrdup(c->node_meta.v[i].key);
		n->meta.v[m++] = xstrdup(c->node_meta.v[i].value);
	}
	n->meta.k[m] = xstrdup("consul-network-segment");
	n->meta.v[m++] = xstrdup("");
	n->meta.k[m] = xstrdup("consul-version");
	n->meta.v[m++] = xstrdup(MUSTER_VERSION);
	n->meta.n = m;
	hd->node_in_sync = false;
}

/* ---- scheduling ---- */

static uint64_t hd_ae_ms(struct hd *hd)
{
	uint64_t v = hd->d->conf.test_timings.ae_interval_ms;

	return v ? v : 60000;
}

static uint64_t hd_retry_ms(struct hd *hd)
{
	uint64_t ae = hd_ae_ms(hd);

	return ae < HEALTHD_RETRY_MS ? ae : HEALTHD_RETRY_MS;
}

static void hd_kick(struct ev *ev, void *arg)
{
	struct hd *hd = arg;

	(void)ev;
	hd->kick_timer = 0;
	if (hd->round_running)
		return; /* hd_round_end starts the next one */
	hd->round_running = true;
	hd->round_full = hd->full_due;
	hd->full_due = false;
	hd->round++;
	hd->gen_started = hd->gen_req;
	hd->round_phase = hd->round_full ? PH_READ_NODE : PH_WRITE;
	if (hd->round_full)
		hd->st.full_syncs++;
	hd_round_next(hd);
}

static void hd_kick_soon(struct hd *hd)
{
	if (hd->kick_timer == 0 && !hd->round_running)
		hd->kick_timer = ev_timer_add(hd->d->ev, 0, hd_kick, hd);
}

uint64_t hd_sync_trigger(struct hd *hd)
{
	hd->gen_req++;
	hd_kick_soon(hd);
	return hd->gen_req;
}

static void hd_full_fire(struct ev *ev, void *arg)
{
	struct hd *hd = arg;

	(void)ev;
	hd->full_timer = 0;
	hd_sync_full_now(hd);
}

void hd_sync_full_now(struct hd *hd)
{
	if (hd->retry_timer) {
		ev_timer_del(hd->d->ev, hd->retry_timer);
		hd->retry_timer = 0;
	}
	hd->full_due = true;
	hd->gen_req++;
	hd_kick_soon(hd);
}

static void hd_members_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	struct hd *hd = arg;
	uint64_t ae, f;

	if (st == IPC_CANCELLED)
		return;
	if (st == IPC_OK && reply->type == MSG_MEMBERS_REPLY)
		hd->cluster_size = reply->u.members_reply.members.n;
	ae = hd_ae_ms(hd);
	f = hae_scale_factor(hd->cluster_size);
	if (hd->full_timer == 0)
		hd->full_timer =
		    ev_timer_add(hd->d->ev, ae + hd_rand(hd, f * ae), hd_full_fire, hd);
}

/* The next full sync: the cluster size first (gossipd), then the timer. */
static void hd_full_schedule(struct hd *hd)
{
	struct msg m;

	if (hd->full_timer)
		return;
	memset(&m, 0, sizeof(m));
	m.type = MSG_MEMBERS;
	if (hd->gossipd == NULL || ipc_call(hd->gossipd, &m, 2000, hd_members_reply, hd) != 0)
		hd_members_reply(hd, IPC_UNAVAILABLE, NULL);
}

static void hd_retry_fire(struct ev *ev, void *arg)
{
	struct hd *hd = arg;

	(void)ev;
	hd->retry_timer = 0;
	hd_sync_full_now(hd);
}

static void hd_round_end(struct hd *hd, bool ok, const char *why)
{
	hd->round_running = false;
	hd->round_phase = PH_IDLE;
	if (hd->have_remote_node) {
		struct msg m = {.type = MSG_CATALOG_NODE_REPLY};

		m.u.catalog_node_reply = hd->remote_node;
		msg_free(&m);
		memset(&hd->remote_node, 0, sizeof(hd->remote_node));
		hd->have_remote_node = false;
	}
	hd->gen_done = hd->gen_started;
	hd_sync_done(hd);
	if (ok) {
		hd->st.syncs_ok++;
		if (hd->round_full)
			hd_full_schedule(hd);
	} else {
		hd->st.syncs_failed++;
		log_warnx("healthd: %s sync failed: %s; retrying in %llu ms",
		          hd->round_full ? "full" : "partial", why,
		          (unsigned long long)hd_retry_ms(hd));
		if (hd->retry_timer == 0)
			hd->retry_timer =
			    ev_timer_add(hd->d->ev, hd_retry_ms(hd), hd_retry_fire, hd);
	}
	if (hd->gen_req > hd->gen_started && (ok || hd->full_due))
		hd_kick_soon(hd);
}

/* ---- one write ---- */

struct hd_op {
	struct hd *hd;
	uint64_t round;
	bool node; /* the node's fields went along */
	char *svc;
	uint64_t svc_version;
	char **chks;
	uint64_t *chk_versions;
	size_t n_chks;
	char *dereg_svc, *dereg_chk;
};

static void hd_op_free(struct hd_op *op)
{
	free(op->svc);
	for (size_t i = 0; i < op->n_chks; i++)
		free(op->chks[i]);
	free(op->chks);
	free(op->chk_versions);
	free(op->dereg_svc);
	free(op->dereg_chk);
	free(op);
}

static const char *hd_reply_error(enum ipc_status st, struct msg *reply, char *buf, size_t size)
{
	if (st != IPC_OK)
		return ipc_status_str(st);
	if (reply->type == MSG_RESULT && reply->u.result.status != 200) {
		snprintf(buf, size, "%llu %s", (unsigned long long)reply->u.result.status,
		         reply->u.result.error);
		return buf;
	}
	return NULL;
}

static void hd_op_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	struct hd_op *op = arg;
	struct hd *hd = op->hd;
	char buf[512];
	const char *err;

	if (st == IPC_CANCELLED || op->round != hd->round || !hd->round_running) {
		hd_op_free(op);
		return;
	}
	err = hd_reply_error(st, reply, buf, sizeof(buf));
	if (err != NULL) {
		hd_op_free(op);
		hd_round_end(hd, false, err);
		return;
	}
	hd->st.catalog_writes++;
	if (op->node)
		hd->node_in_sync = true;
	if (op->svc) {
		struct hsvc *s = hd_svc(hd, op->svc);

		if (s && s->version == op->svc_version)
			s->in_sync = true;
	}
	for (size_t i = 0; i < op->n_chks; i++) {
		struct hchk *c = hd_chk(hd, op->chks[i]);

		if (c && c->version == op->chk_versions[i]) {
			c->in_sync = true;
			if (c->defer_timer) { /* its output went along */
				ev_timer_del(hd->d->ev, c->defer_timer);
				c->defer_timer = 0;
			}
		}
	}
	if (op->dereg_svc && hd_svc(hd, op->dereg_svc) == NULL)
		omap_del(hd->del_svcs, op->dereg_svc, NULL);
	if (op->dereg_chk && hd_chk(hd, op->dereg_chk) == NULL)
		omap_del(hd->del_chks, op->dereg_chk, NULL);
	hd_op_free(op);
	hd_round_next(hd);
}

static void hd_op_add_check(struct hd_op *op, struct hchk *c, struct msg_check *v, uint32_t *n)
{
	v[(*n)++] = c->ac.check;
	op->chks = xrealloc(op->chks, (op->n_chks + 1) * sizeof(*op->chks));
	op->chk_versions = xrealloc(op->chk_versions, (op->n_chks + 1) * sizeof(uint64_t));
	op->chks[op->n_chks] = xstrdup(c->ac.check.check_id);
	op->chk_versions[op->n_chks++] = c->version;
	c->tried = op->round;
}

static void hd_send(struct hd *hd, struct hd_op *op, struct msg *m)
{
	if (ipc_call(hd->raftd, m, HEALTHD_RAFTD_CALL_MS, hd_op_reply, op) != 0) {
		hd_op_free(op);
		hd_round_end(hd, false, "raftd unreachable");
	}
}

/* CATALOG_REGISTER of the service s (may be NULL) with checks. */
static void hd_register(struct hd *hd, struct hsvc *s, struct hchk *only)
{
	struct hd_op *op = xcalloc(1, sizeof(*op));
	size_t n = omap_count(hd->chks);
	struct msg_check *v = xcalloc(n ? n : 1, sizeof(*v));
	uint32_t nv = 0;
	struct msg m;

	op->hd = hd;
	op->round = hd->round;
	memset(&m, 0, sizeof(m));
	m.type = MSG_CATALOG_REGISTER;
	m.u.catalog_register.node = hd->node;
	m.u.catalog_register.skip_node_update = hd->node_in_sync;
	op->node = !hd->node_in_sync;
	if (s != NULL) {
		m.u.catalog_register.has_service = true;
		m.u.catalog_register.service = s->as.service;
		op->svc = xstrdup(s->as.service.id);
		op->svc_version = s->version;
		s->tried = hd->round;
		if (only == NULL) {
			for (struct omap_node *it = omap_first(hd->chks); it; it = omap_next(it)) {
				struct hchk *c = omap_val(it);

				if (!c->in_sync &&
				    strcmp(c->ac.check.service_id, s->as.service.id) == 0)
					hd_op_add_check(op, c, v, &nv);
			}
		}
	}
	if (only != NULL)
		hd_op_add_check(op, only, v, &nv);
	m.u.catalog_register.checks = (struct msg_check_list){v, nv};
	hd_send(hd, op, &m);
	free(v);
}

static void hd_deregister(struct hd *hd, const char *svc, const char *chk)
{
	struct hd_op *op = xcalloc(1, sizeof(*op));
	struct msg m;

	op->hd = hd;
	op->round = hd->round;
	memset(&m, 0, sizeof(m));
	m.type = MSG_CATALOG_DEREGISTER;
	m.u.catalog_deregister.node = hd->node.node;
	m.u.catalog_deregister.service_id = (char *)(svc ? svc : "");
	m.u.catalog_deregister.check_id = (char *)(chk ? chk : "");
	op->dereg_svc = svc ? xstrdup(svc) : NULL;
	op->dereg_chk = chk ? xstrdup(chk) : NULL;
	hd_send(hd, op, &m);
}

/* The next write of this round, or its end. */
static void hd_write_next(struct hd *hd)
{
	struct omap_node *it;

	it = omap_first(hd->del_svcs);
	if (it != NULL) {
		hd_deregister(hd, omap_key(it), NULL);
		return;
	}
	for (it = omap_first(hd->svcs); it; it = omap_next(it)) {
		struct hsvc *s = omap_val(it);

		if (!s->in_sync && s->tried != hd->round) {
			hd_register(hd, s, NULL);
			return;
		}
	}
	it = omap_first(hd->del_chks);
	if (it != NULL) {
		hd_deregister(hd, NULL, omap_key(it));
		return;
	}
	for (it = omap_first(hd->chks); it; it = omap_next(it)) {
		struct hchk *c = omap_val(it);

		if (!c->in_sync && c->tried != hd->round) {
			hd_register(
			    hd, *c->ac.check.service_id ? hd_svc(hd, c->ac.check.service_id) : NULL,
			    c);
			return;
		}
	}
	if (!hd->node_in_sync) {
		hd_register(hd, NULL, NULL);
		return;
	}
	hd_round_end(hd, true, NULL);
}

/* ---- a full sync's reads ---- */

static void hd_full_compare(struct hd *hd, const struct msg_checks_reply *cr)
{
	const struct msg_catalog_node_reply *nr = &hd->remote_node;
	size_t ns = omap_count(hd->svcs), nc = omap_count(hd->chks), i;
	const struct msg_service **svcs = xcalloc(ns + 1, sizeof(*svcs));
	struct hsvc **sp = xcalloc(ns + 1, sizeof(*sp));
	struct hae_local_check *chks = xcalloc(nc + 1, sizeof(*chks));
	struct hchk **cp = xcalloc(nc + 1, sizeof(*cp));
	struct hae_in in = {0};
	struct hae_out out = {0};
	struct omap_node *it;

	i = 0;
	for (it = omap_first(hd->svcs); it; it = omap_next(it), i++) {
		sp[i] = omap_val(it);
		svcs[i] = &sp[i]->as.service;
	}
	i = 0;
	for (it = omap_first(hd->chks); it; it = omap_next(it), i++) {
		cp[i] = omap_val(it);
		chks[i].check = &cp[i]->ac.check;
		chks[i].output_deferred = cp[i]->defer_timer != 0;
	}
	in.node = &hd->node;
	in.remote_node = nr->found ? &nr->node : NULL;
	in.svcs = svcs;
	in.n_svcs = ns;
	in.chks = chks;
	in.n_chks = nc;
	in.remote_svcs = nr->services.v;
	in.n_remote_svcs = nr->services.n;
	in.remote_chks = cr->checks.v;
	in.n_remote_chks = cr->checks.n;
	out.svc_in_sync = xcalloc(ns + 1, sizeof(bool));
	out.adopt_tags = xcalloc(ns + 1, sizeof(*out.adopt_tags));
	out.chk_in_sync = xcalloc(nc + 1, sizeof(bool));
	out.dereg_svcs = xcalloc(nr->services.n + 1, sizeof(char *));
	out.dereg_chks = xcalloc(cr->checks.n + 1, sizeof(char *));
	hae_diff(&in, &out);
	hd->node_in_sync = out.node_in_sync;
	for (i = 0; i < ns; i++) {
		if (out.adopt_tags[i] != NULL) { /* EnableTagOverride: the catalog's tags */
			struct msg_strlist *t = &sp[i]->as.service.tags;
			char hash[17];

			for (uint32_t k = 0; k < t->n; k++)
				free(t->v[k]);
			free(t->v);
			t->n = out.adopt_tags[i]->n;
			t->v = xcalloc(t->n + 1, sizeof(char *));
			for (uint32_t k = 0; k < t->n; k++)
				t->v[k] = xstrdup(out.adopt_tags[i]->v[k]);
			hdef_content_hash(&sp[i]->as, hash);
			hdef_set_str(&sp[i]->as.content_hash, hash);
		}
		if (sp[i]->in_sync != out.svc_in_sync[i]) {
			sp[i]->in_sync = out.svc_in_sync[i];
			if (!sp[i]->in_sync)
				sp[i]->version++;
		}
	}
	for (i = 0; i < nc; i++) {
		if (cp[i]->in_sync != out.chk_in_sync[i]) {
			cp[i]->in_sync = out.chk_in_sync[i];
			if (!cp[i]->in_sync)
				cp[i]->version++;
		}
	}
	for (i = 0; i < out.n_dereg_svcs; i++)
		if (hd_svc(hd, out.dereg_svcs[i]) == NULL)
			omap_put(hd->del_svcs, out.dereg_svcs[i], NULL, NULL);
	for (i = 0; i < out.n_dereg_chks; i++)
		if (hd_chk(hd, out.dereg_chks[i]) == NULL)
			omap_put(hd->del_chks, out.dereg_chks[i], NULL, NULL);
	free(out.svc_in_sync);
	free(out.adopt_tags);
	free(out.chk_in_sync);
	free(out.dereg_svcs);
	free(out.dereg_chks);
	free(svcs);
	free(sp);
	free(chks);
	free(cp);
}

static void hd_read_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	struct hd *hd = arg;
	char buf[512];
	const char *err;

	if (st == IPC_CANCELLED || !hd->round_running)
		return;
	err = hd_reply_error(st, reply, buf, sizeof(buf));
	if (err == NULL && hd->round_phase == PH_READ_NODE && reply->type != MSG_CATALOG_NODE_REPLY)
		err = "unexpected reply";
	if (err == NULL && hd->round_phase == PH_READ_CHECKS && reply->type != MSG_CHECKS_REPLY)
		err = "unexpected reply";
	if (err != NULL) {
		hd_round_end(hd, false, err);
		return;
	}
	if (hd->round_phase == PH_READ_NODE) {
		hd->remote_node = reply->u.catalog_node_reply; /* taken */
		memset(&reply->u.catalog_node_reply, 0, sizeof(reply->u.catalog_node_reply));
		hd->have_remote_node = true;
		hd->round_phase = PH_READ_CHECKS;
	} else {
		hd_full_compare(hd, &reply->u.checks_reply);
		hd->round_phase = PH_WRITE;
	}
	hd_round_next(hd);
}

static void hd_round_next(struct hd *hd)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	switch (hd->round_phase) {
	case PH_READ_NODE:
		m.type = MSG_CATALOG_NODE;
		m.u.catalog_node.node = hd->node.node;
		break;
	case PH_READ_CHECKS:
		m.type = MSG_HEALTH_CHECKS;
		m.u.health_checks.node = hd->node.node;
		break;
	default:
		hd_write_next(hd);
		return;
	}
	if (ipc_call(hd->raftd, &m, HEALTHD_RAFTD_CALL_MS, hd_read_reply, hd) != 0)
		hd_round_end(hd, false, "raftd unreachable");
}

/* ---- raftd's events: a leader appearing syncs at once ---- */

static void hd_raftd_event(struct ipc_sub *s, unsigned publisher, struct msg *m, void *arg)
{
	struct hd *hd = arg;

	(void)s;
	(void)publisher;
	if (m->type == MSG_LEADER_CHANGE && m->u.leader_change.known_leader &&
	    (hd->retry_timer != 0 || hd->st.syncs_ok == 0))
		hd_sync_full_now(hd);
}

void hd_sync_start(struct hd *hd)
{
	hd->raftd = ipc_client_new(hd->d->ev, hd->d->run_dir, "healthd", "raftd");
	hd->gossipd = ipc_client_new(hd->d->ev, hd->d->run_dir, "healthd", "gossipd");
	hd->raftd_sub = ipc_sub_new(hd->d->ev, hd->d->run_dir, "raftd", hd_raftd_event, hd);
	if (hd->raftd_sub)
		ipc_subscribe(hd->raftd_sub, MSG_LEADER_CHANGE);
	hd->cluster_size = 1;
	/* Consul's first full sync comes at start, after a short stagger */
	hd->full_due = true;
	hd->full_timer = ev_timer_add(hd->d->ev, hd_rand(hd, 500), hd_full_fire, hd);
}

void hd_sync_stop(struct hd *hd)
{
	struct ev *ev = hd->d->ev;

	if (hd->kick_timer)
		ev_timer_del(ev, hd->kick_timer);
	if (hd->full_timer)
		ev_timer_del(ev, hd->full_timer);
	if (hd->retry_timer)
		ev_timer_del(ev, hd->retry_timer);
	hd->kick_timer = hd->full_timer = hd->retry_timer = 0;
	hd->round_running = false;
	ipc_sub_free(hd->raftd_sub);
	ipc_client_free(hd->raftd); /* pending calls end with IPC_CANCELLED */
	ipc_client_free(hd->gossipd);
	hd->raftd = hd->gossipd = NULL;
	hd->raftd_sub = NULL;
	if (hd->have_remote_node) {
		struct msg m = {.type = MSG_CATALOG_NODE_REPLY};

		m.u.catalog_node_reply = hd->remote_node;
		msg_free(&m);
		hd->have_remote_node = false;
	}
	msg_rec_free_node(&hd->node);
}

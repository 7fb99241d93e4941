/* server.c: raftd's server: Raft core + RocksDB store + state machine, reads, blocking, sessions.
 */
#include "raftd.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/types.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "ev.h"
#include "log.h"
#include "omap.h"
#include "xalloc.h"

/*
 * One loop turn: requests arrive (reads are answered from the fsm at once,
 * writes are proposed), then a zero-delay "kick" timer drains the Raft
 * core's ready: entries and hard state go to the store in one batch
 * (synced: the group commit of every proposal of the turn), committed
 * entries are applied to the fsm and their effects written with the
 * applied index, proposers get their replies, blocking queries whose watch
 * keys changed are re-run, and raftd's PUB announces the new index.
 *
 * Replication between servers (port 8300) is the Cluster issue; here a
 * server is a one-voter cluster (-dev, -bootstrap), or waits without a
 * leader (bootstrap_expect), answering "No cluster leader".
 */

static void raftd_kick(struct raftd *rd);
static void raftd_hold_sweep(struct ev *ev, void *arg);
static void raftd_leave_done(struct raftd *rd, unsigned status, const char *err);
static void raftd_transfer_leader(struct raftd *rd, const struct ipc_from *from, struct msg *m);
static void raftd_serve_read(struct raftd *rd, struct raftd_waiter *w);

static uint64_t raftd_now(const struct raftd *rd)
{
	return ev_now_ms(rd->d->ev);
}

/* --- replies --------------------------------------------------------------- */

/* Every reply goes through here: a request that came from another raftd
 * (from->name "@<route>", peer.c) is answered over 8300, a local one on
 * the bus. */
int raftd_reply(struct raftd *rd, const struct ipc_from *from, struct msg *reply)
{
	if (from->name[0] == '@')
		return rd->peer ? peer_reply(rd->peer, from, reply) : -1;
	return ipc_reply(rd->d->rpc, from, reply);
}

void raftd_reply_result(struct raftd *rd, const struct ipc_from *from, unsigned status,
                        const char *error)
{
	struct msg r;

	memset(&r, 0, sizeof(r));
	r.type = MSG_RESULT;
	r.u.result.status = status;
	r.u.result.error = (char *)(error ? error : "");
	raftd_reply(rd, from, &r);
}

static void raftd_result(struct raftd *rd, const struct ipc_from *from, unsigned status,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void raftd_result(struct raftd *rd, const struct ipc_from *from, unsigned status,
                         const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	raftd_reply_result(rd, from, status, text);
}

/* The meta of every read reply (spec §1.5, §1.9). */
struct msg_query_meta *raftd_reply_meta(struct msg *reply)
{
	switch (reply->type) {
	case MSG_KV_GET_REPLY:
		return &reply->u.kv_get_reply.meta;
	case MSG_NODES_REPLY:
		return &reply->u.nodes_reply.meta;
	case MSG_SERVICES_REPLY:
		return &reply->u.services_reply.meta;
	case MSG_SERVICE_NODES_REPLY:
		return &reply->u.service_nodes_reply.meta;
	case MSG_CATALOG_NODE_REPLY:
		return &reply->u.catalog_node_reply.meta;
	case MSG_CHECKS_REPLY:
		return &reply->u.checks_reply.meta;
	case MSG_SESSIONS_REPLY:
		return &reply->u.sessions_reply.meta;
	case MSG_TXN_REPLY:
		return &reply->u.txn_reply.meta;
	case MSG_RAFT_CONFIG_REPLY:
		return &reply->u.raft_config_reply.meta;
	default:
		return NULL;
	}
}

static const struct msg_query_opts *raftd_req_opts(const struct msg *m)
{
	switch (m->type) {
	case MSG_KV_GET:
		return &m->u.kv_get.q;
	case MSG_CATALOG_NODES:
		return &m->u.catalog_nodes.q;
	case MSG_CATALOG_SERVICES:
		return &m->u.catalog_services.q;
	case MSG_SERVICE_NODES:
		return &m->u.service_nodes.q;
	case MSG_CATALOG_NODE:
		return &m->u.catalog_node.q;
	case MSG_HEALTH_CHECKS:
		return &m->u.health_checks.q;
	case MSG_SESSION_QUERY:
		return &m->u.session_query.q;
	case MSG_TXN:
		return &m->u.txn.q;
	case MSG_RAFT_CONFIG:
		return &m->u.raft_config.q;
	default:
		return NULL;
	}
}

static void raftd_fill_meta(struct raftd *rd, struct msg_query_meta *meta, uint64_t consistency)
{
	uint64_t last = rd->last_contact_ms, heard = 0, since = 0;

	/* X-Consul-LastContact: when a follower last heard its leader */
	if (!rd->is_leader && rd->leader != RAFT_NONE && rd->peer != NULL &&
	    peer_heard(rd->peer, rd->leader, &heard, &since) && heard > last)
		last = heard;
	meta->known_leader = rd->leader != RAFT_NONE;
	meta->last_contact_ms = rd->is_leader || last == 0 ? 0 : raftd_now(rd) - last;
	meta->consistency = consistency;
	if (meta->index == 0)
		meta->index = 1; /* spec §1.10: never 0 */
}

/* --- pending proposals: a FIFO in index order ----------------------------- */

static int raftd_pending_push(struct raftd *rd, const struct raftd_pending *p)
{
	if (rd->pend_n == rd->pend_cap) {
		size_t cap = rd->pend_cap ? rd->pend_cap * 2 : 256;
		struct raftd_pending *n;

		if (cap > RAFTD_PENDING_MAX)
			return -1;
		n = malloc(cap * sizeof(*n));
		if (n == NULL)
			return -1;
		for (size_t i = 0; i < rd->pend_n; i++)
			n[i] = rd->pend[(rd->pend_head + i) % rd->pend_cap];
		free(rd->pend);
		rd->pend = n;
		rd->pend_cap = cap;
		rd->pend_head = 0;
	}
	rd->pend[(rd->pend_head + rd->pend_n) % rd->pend_cap] = *p;
	rd->pend_n++;
	return 0;
}

static struct raftd_pending *raftd_pending_front(struct raftd *rd)
{
	return rd->pend_n ? &rd->pend[rd->pend_head] : NULL;
}

static void raftd_pending_pop(struct raftd *rd)
{
	rd->pend_head = (rd->pend_head + 1) % rd->pend_cap;
	rd->pend_n--;
}

/* Every proposal still waiting gets err (leadership lost, storage failed). */
static void raftd_pending_fail_all(struct raftd *rd, unsigned status, const char *err)
{
	struct raftd_pending *p;

	while ((p = raftd_pending_front(rd)) != NULL) {
		if (!p->internal)
			raftd_reply_result(rd, &p->from, status, err);
		raftd_pending_pop(rd);
	}
}

/* --- storage failure ------------------------------------------------------- */

static void raftd_fail_exit(struct ev *ev, void *arg)
{
	struct raftd *rd = arg;

	(void)ev;
	daemon_fail(rd->d, "storage write failed");
}

/*
 * A failed append or apply: nothing of it may be acknowledged, and RocksDB
 * may refuse every later write (a failed WAL sync makes it read-only). The
 * waiting proposers get the error, new requests a 503, and raftd exits a
 * moment later so that musterd restarts it; on restart the store holds
 * exactly what was durable, and the log replays what was committed.
 */
static void raftd_storage_failed(struct raftd *rd, const char *what)
{
	char err[600];

	if (rd->failed)
		return;
	rd->failed = true;
	snprintf(err, sizeof(err), "storage write failed: %s: %s", what, store_error(rd->store));
	log_errorx("%s", err);
	raftd_pending_fail_all(rd, 500, err);
	rd->fail_timer = ev_timer_add(rd->d->ev, RAFTD_FAIL_GRACE_MS, raftd_fail_exit, rd);
}

/* --- session TTL timers (the leader's; spec §7.6: TTL × 2) ---------------- */

/* A session's timer; rd->sess maps its id to this, owned there. */
struct raftd_sess_arg {
	struct raftd *rd;
	uint64_t timer;
	char id[64];
};

static void raftd_sess_disarm(struct raftd *rd, const char *id)
{
	struct raftd_sess_arg *a;

	if (omap_del(rd->sess, id, (void **)&a)) {
		ev_timer_del(rd->d->ev, a->timer);
		free(a);
	}
}

static int raftd_propose_msg(struct raftd *rd, const struct msg *m, const struct ipc_from *from);

static void raftd_sess_expired(struct ev *ev, void *arg)
{
	struct raftd_sess_arg *a = arg;
	struct raftd *rd = a->rd;
	char id[sizeof(a->id)];
	struct msg m;

	(void)ev;
	if (rd->is_leader && fsm_session_exists(rd->fsm, a->id)) {
		memset(&m, 0, sizeof(m));
		m.type = MSG_SESSION_DESTROY;
		m.u.session_destroy.id = a->id;
		log_info("session %s: TTL expired, destroying", a->id);
		rd->sessions_expired++;
		raftd_propose_msg(rd, &m, NULL);
	}
	snprintf(id, sizeof(id), "%s", a->id);
	omap_del(rd->sess, id, NULL); /* frees a: its timer has fired */
}

/* (Re)arms the session's timer for TTL × 2 (spec §7.6), on the leader. */
static void raftd_sess_arm(struct raftd *rd, const char *id)
{
	uint64_t ttl = fsm_session_ttl_ms(rd->fsm, id);
	struct raftd_sess_arg *a;

	raftd_sess_disarm(rd, id);
	if (ttl == 0 || !rd->is_leader || strlen(id) >= sizeof(a->id))
		return;
	a = malloc(sizeof(*a));
	if (a == NULL)
		return;
	a->rd = rd;
	snprintf(a->id, sizeof(a->id), "%s", id);
	if (omap_put(rd->sess, id, a, NULL) < 0) {
		free(a);
		return;
	}
	a->timer = ev_timer_add(rd->d->ev, ttl * 2, raftd_sess_expired, a);
}

static void raftd_sess_disarm_all(struct raftd *rd)
{
	struct omap_node *n;

	for (n = omap_first(rd->sess); n != NULL; n = omap_next(n))
		ev_timer_del(rd->d->ev, ((struct raftd_sess_arg *)omap_val(n))->timer);
	omap_clear(rd->sess);
}

static void raftd_sess_arm_one(const char *id, void *arg)
{
	raftd_sess_arm(arg, id);
}

/* --- proposing ------------------------------------------------------------- */

/* 0, or -1 after answering from (when given). */
static int raftd_propose_msg(struct raftd *rd, const struct msg *m, const struct ipc_from *from)
{
	struct raftd_pending p;
	struct buf b;
	uint64_t index = 0;
	int rc;

	buf_init(&b, RAFT_ENTRY_BYTES_MAX);
	if (msg_encode(m, &b) != 0) {
		buf_fini(&b);
		if (from)
			raftd_result(rd, from, 413, "request too large for one log entry");
		return -1;
	}
	rc = raft_propose(rd->raft, b.p, (uint32_t)b.len, &index);
	buf_fini(&b);
	if (rc == RAFT_ERR_NOT_LEADER) {
		if (from)
			raftd_result(rd, from, 500, "No cluster leader");
		return -1;
	}
	if (rc != RAFT_OK) {
		if (from)
			raftd_result(rd, from, rc == RAFT_ERR_TOO_LARGE ? 413 : 503, "raft: %s",
			             raft_status_str(rc));
		return -1;
	}
	memset(&p, 0, sizeof(p));
	p.index = index;
	p.term = raft_term(rd->raft);
	p.internal = from == NULL;
	if (from)
		p.from = *from;
	if (raftd_pending_push(rd, &p) != 0) {
		/* The entry is in the log and will apply; only its reply is lost. */
		log_warnx("proposal %" PRIu64 ": pending queue full, no reply", index);
		if (from)
			raftd_result(rd, from, 503, "raftd: too many writes in flight");
	}
	rd->proposals++;
	raftd_kick(rd);
	return 0;
}

/* The session checks Consul's endpoint makes before Raft (session_endpoint.go). */
static int raftd_session_precheck(struct raftd *rd, const struct ipc_from *from,
                                  struct msg_session *s)
{
	uint64_t ttl_ms = 0, min_ms = rd->d->conf.test_timings.session_ttl_min_ms;
	const char *why = NULL;
	char min_s[CONF_DUR_STR_MAX], max_s[CONF_DUR_STR_MAX];

	if (s->behavior == NULL || s->behavior[0] == '\0') {
		free(s->behavior);
		s->behavior = xstrdup("release");
	}
	if (strcmp(s->behavior, "release") != 0 && strcmp(s->behavior, "delete") != 0) {
		raftd_result(rd, from, 500, "Invalid Behavior setting '%s'", s->behavior);
		return -1;
	}
	if (s->ttl != NULL && s->ttl[0] != '\0') {
		if (conf_dur_parse(s->ttl, &ttl_ms, &why) != 0) {
			raftd_result(rd, from, 500, "Session TTL '%s' invalid: %s", s->ttl, why);
			return -1;
		}
		if (ttl_ms != 0 && (ttl_ms < min_ms || ttl_ms > RAFTD_SESSION_TTL_MAX)) {
			conf_dur_format(min_ms, min_s);
			conf_dur_format(RAFTD_SESSION_TTL_MAX, max_s);
			raftd_result(rd, from, 500,
			             "Invalid Session TTL '%" PRIu64 "', must be between [%s=%s]",
			             ttl_ms * (uint64_t)1000000, min_s, max_s);
			return -1;
		}
	}
	if (s->node == NULL || s->node[0] == '\0') {
		free(s->node);
		s->node = xstrdup(rd->d->conf.node_name);
	}
	free(s->id);
	s->id = xmalloc(37);
	daemon_uuid(s->id);
	return 0;
}

/* Consul's txn endpoint refuses a lock op on a key under lock delay before
 * Raft, as KV acquire (spec §6.4 step 1): the txn is rolled back (409). */
static bool raftd_txn_lock_delayed(struct raftd *rd, const struct ipc_from *from,
                                   const struct msg_txn *t)
{
	for (uint32_t i = 0; i < t->ops.n; i++) {
		const struct msg_txn_op *op = &t->ops.v[i];
		struct msg_txn_error err;
		struct msg r;
		char what[512];

		if (strcmp(op->kind, "KV") != 0 || strcmp(op->verb, "lock") != 0 ||
		    !fsm_kv_lock_delayed(rd->fsm, op->kv.key, raftd_now(rd)))
			continue;
		snprintf(what, sizeof(what), "failed to lock key \"%s\" due to lock delay",
		         op->kv.key);
		memset(&r, 0, sizeof(r));
		r.type = MSG_TXN_REPLY;
		r.u.txn_reply.meta.index = raft_applied(rd->raft);
		err.op_index = i;
		err.what = what;
		r.u.txn_reply.errors = (struct msg_txn_error_list){&err, 1};
		raftd_fill_meta(rd, &r.u.txn_reply.meta, 0);
		rd->lock_delay_refusals++;
		raftd_reply(rd, from, &r);
		return true;
	}
	return false;
}

static void raftd_write(struct raftd *rd, const struct ipc_from *from, struct msg *m)
{
	const struct conf *c = &rd->d->conf;

	if (!rd->is_leader) {
		raftd_result(rd, from, 500, "No cluster leader");
		return;
	}
	switch (m->type) {
	case MSG_KV_PUT: {
		struct msg_kv_put *p = &m->u.kv_put;

		/* httpd answers 400 "Missing key name" first; this is the
		 * server's own text (Consul's KVS.Apply). */
		if (p->key == NULL || p->key[0] == '\0') {
			raftd_result(rd, from, 500, "Must provide key");
			return;
		}
		if (p->value.len > c->limits.kv_max_value_size) {
			raftd_result(
			    rd, from, 413,
			    "Request body(%zu bytes) too large, max size: %" PRIu64
			    " bytes. See https://developer.hashicorp.com/docs/agent/config/"
			    "config-files#kv_max_value_size.",
			    p->value.len, c->limits.kv_max_value_size);
			return;
		}
		/* spec §6.4 step 1: lock delay answers false without a write. */
		if (p->op != NULL && strcmp(p->op, "acquire") == 0 &&
		    fsm_kv_lock_delayed(rd->fsm, p->key, raftd_now(rd))) {
			struct msg r;

			memset(&r, 0, sizeof(r));
			r.type = MSG_WRITE_REPLY;
			r.u.write_reply.index = raft_applied(rd->raft);
			r.u.write_reply.ok = false;
			rd->lock_delay_refusals++;
			raftd_reply(rd, from, &r);
			return;
		}
		break;
	}
	case MSG_KV_DELETE:
		if ((m->u.kv_delete.key == NULL || m->u.kv_delete.key[0] == '\0') &&
		    !m->u.kv_delete.recurse) {
			raftd_result(rd, from, 500, "Must provide key");
			return;
		}
		break;
	case MSG_SESSION_CREATE:
		if (raftd_session_precheck(rd, from, &m->u.session_create.session) != 0)
			return;
		break;
	case MSG_CATALOG_REGISTER: {
		uint64_t status;
		char *what = NULL;

		if (fsm_cat_register_check(&m->u.catalog_register, &status, &what) != 0) {
			raftd_result(rd, from, (unsigned)status, "%s", what);
			free(what);
			return;
		}
		break;
	}
	case MSG_TXN:
		if (m->u.txn.ops.n > FSM_TXN_OPS_MAX) {
			raftd_result(rd, from, 413,
			             "Transaction contains too many operations (%u > %u)",
			             m->u.txn.ops.n, FSM_TXN_OPS_MAX);
			return;
		}
		if (raftd_txn_lock_delayed(rd, from, &m->u.txn))
			return;
		break;
	default:
		break;
	}
	raftd_propose_msg(rd, m, from);
}

/* spec §7.3: a renew is the leader resetting the timer, no Raft write. */
static void raftd_renew(struct raftd *rd, const struct ipc_from *from, struct msg *m)
{
	const char *id = m->u.session_renew.id;
	struct msg q, r;

	if (!rd->is_leader) {
		raftd_result(rd, from, 500, "No cluster leader");
		return;
	}
	if (id == NULL || id[0] == '\0') {
		raftd_result(rd, from, 400, "Missing session");
		return;
	}
	if (!fsm_session_exists(rd->fsm, id)) {
		raftd_result(rd, from, 404, "Session id '%s' not found", id);
		return;
	}
	raftd_sess_arm(rd, id);
	memset(&q, 0, sizeof(q));
	memset(&r, 0, sizeof(r));
	q.type = MSG_SESSION_QUERY;
	q.u.session_query.id = (char *)id;
	if (fsm_query(rd->fsm, &q, &r, NULL) != 0) {
		raftd_reply(rd, from, &r);
		msg_free(&r);
		return;
	}
	raftd_fill_meta(rd, &r.u.sessions_reply.meta, 0);
	raftd_reply(rd, from, &r);
	msg_free(&r);
}

/* --- reads ----------------------------------------------------------------- */

static void raftd_list_add(struct raftd_waiter **head, struct raftd_waiter *w)
{
	w->prev = NULL;
	w->next = *head;
	if (*head)
		(*head)->prev = w;
	*head = w;
}

static void raftd_list_del(struct raftd_waiter **head, struct raftd_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		*head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
}

static void raftd_waiter_free(struct raftd *rd, struct raftd_waiter *w)
{
	watch_remove(rd->watch, &w->w);
	if (w->timer)
		ev_timer_del(rd->d->ev, w->timer);
	msg_free(&w->req);
	free(w);
}

static uint64_t raftd_effective(const struct msg_query_opts *q)
{
	return q && q->consistency <= 2 ? q->consistency : 0;
}

static uint64_t raftd_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The id /v1/operator/raft/configuration shows for a member: this server's
 * node ID; another's Raft id in hex until servers learn each other's node
 * IDs and addresses (Cluster issue; Consul shows "(unknown)" nodes too). */
static void raftd_member_id(const struct raftd *rd, uint64_t id, char *out, size_t size)
{
	struct cluster_info ci;

	if (id == rd->id)
		snprintf(out, size, "%s", rd->d->conf.node_id ? rd->d->conf.node_id : "");
	else if (rd->cluster != NULL && cluster_server_info(rd->cluster, id, &ci) &&
	         ci.node_id[0] != '\0')
		snprintf(out, size, "%s", ci.node_id); /* its node ID, as Consul shows it */
	else
		snprintf(out, size, "%016" PRIx64, id);
}

static const char *raftd_member_addr(const struct raftd *rd, uint64_t id)
{
	const struct raft_member *m =
	    rd->raft ? raft_conf_find(raft_conf_latest(rd->raft), id) : NULL;

	if (m != NULL && m->addr[0] != '\0')
		return m->addr;
	return id == rd->id ? rd->self_addr : "";
}

/* The term of the entry at index, 0 when the log no longer holds it. */
static uint64_t raftd_term_at(struct raftd *rd, uint64_t index)
{
	uint64_t t = 0;

	if (index == 0 || rd->rs.term(rd->rs.arg, index, &t) != 0)
		return 0;
	return t;
}

/* One member as autopilot sees it (spec §8.5; Consul's ServerHealth). This
 * server: the leader is in contact with itself and healthy; a follower is
 * healthy while it heard from its leader within
 * autopilot.last_contact_threshold. Another server, seen from the leader:
 * its log position from the replication progress; its contact is unknown
 * until the transport between servers exists (Cluster issue), so it counts
 * as never contacted, hence unhealthy (what Consul's autopilot reports for
 * a server whose stats it cannot fetch). */
static void raftd_member_health(struct raftd *rd, uint64_t id, struct msg_raft_server *s)
{
	const struct conf *cf = &rd->d->conf;
	struct raft_progress_info pi;
	struct cluster_info ci;
	uint64_t heard = 0, since = 0, now = raftd_now(rd);
	bool serf_alive;

	if (id == rd->id) {
		s->last_index = raft_last_index(rd->raft);
		s->last_term = raftd_term_at(rd, s->last_index);
		s->serf_status = xstrdup("alive");
		s->version = xstrdup(MUSTER_VERSION);
		if (rd->is_leader) {
			s->last_contact_ms = 0;
			s->healthy = true;
		} else if (rd->leader != RAFT_NONE) {
			/* a follower: when its leader was last heard from */
			uint64_t last = rd->last_contact_ms;

			if (rd->peer != NULL && peer_heard(rd->peer, rd->leader, &heard, &since) &&
			    heard > last)
				last = heard;
			if (last != 0) {
				s->last_contact_ms = now - last;
				s->healthy = s->last_contact_ms <= cf->autopilot.last_contact_threshold_ms;
			}
		}
		s->stable_since_unix_ms = rd->stable_since_unix_ms;
		return;
	}
	serf_alive = false;
	if (rd->cluster != NULL && cluster_server_info(rd->cluster, id, &ci)) {
		s->serf_status = xstrdup(ci.serf_status);
		s->version = xstrdup(ci.version);
		serf_alive = strcmp(ci.serf_status, "alive") == 0;
	}
	if (!rd->is_leader || raft_progress(rd->raft, id, &pi) != 0)
		return;
	s->last_index = pi.match;
	s->last_term = raftd_term_at(rd, pi.match);
	/* autopilot's server health (spec §5.2): heard from within
	 * last_contact_threshold, within max_trailing_logs of the leader,
	 * alive in gossip */
	if (rd->peer != NULL && peer_heard(rd->peer, id, &heard, &since)) {
		s->last_contact_ms = now - heard;
		s->healthy = s->last_contact_ms <= cf->autopilot.last_contact_threshold_ms &&
		             pi.match + cf->autopilot.max_trailing_logs >= raft_last_index(rd->raft) &&
		             serf_alive;
		if (s->healthy)
			s->stable_since_unix_ms = raftd_unix_ms() - (now - since);
	}
}

static void raftd_raft_config(struct raftd *rd, struct msg *reply)
{
	const struct raft_conf *c = rd->raft ? raft_conf_latest(rd->raft) : NULL;
	struct msg_raft_config_reply *r = &reply->u.raft_config_reply;

	memset(reply, 0, sizeof(*reply));
	reply->type = MSG_RAFT_CONFIG_REPLY;
	r->meta.index = rd->raft ? raft_applied(rd->raft) : 0;
	/* a follower names its leader too: its address is in the configuration */
	r->leader_addr = xstrdup(rd->leader != RAFT_NONE ? raftd_member_addr(rd, rd->leader) : "");
	if (c == NULL || c->n == 0)
		return;
	r->servers.v = xcalloc(c->n, sizeof(*r->servers.v));
	r->servers.n = c->n;
	for (uint32_t i = 0; i < c->n; i++) {
		struct msg_raft_server *s = &r->servers.v[i];
		uint64_t id = c->m[i].id;
		char idbuf[64];

		raftd_member_id(rd, id, idbuf, sizeof(idbuf));
		s->id = xstrdup(idbuf);
		{
			const char *nm = rd->cluster ? cluster_name_of(rd->cluster, id) : NULL;

			s->node = xstrdup(id == rd->id ? rd->d->conf.node_name
			                  : nm     ? nm
			                           : "(unknown)");
		}
		s->address = xstrdup(raftd_member_addr(rd, id));
		s->leader = id == rd->leader;
		s->voter = c->m[i].voter;
		raftd_member_health(rd, id, s);
	}
}

/* DELETE /v1/operator/raft/peer (spec §8.5; Consul's RaftRemovePeerByID
 * and ...ByAddress): the server is looked up in the latest configuration,
 * then a configuration without it is proposed; the caller gets
 * WRITE_REPLY once that entry is committed (raftd_apply), like a write. */
static void raftd_remove_peer(struct raftd *rd, const struct ipc_from *from, struct msg *m)
{
	const char *want_id = m->u.raft_remove_peer.id, *want_addr = m->u.raft_remove_peer.address;
	bool by_id = want_id != NULL && want_id[0] != '\0';
	const struct raft_conf *c;
	struct raftd_pending p;
	uint64_t index = 0, found = RAFT_NONE;
	int rc;

	if (!by_id && (want_addr == NULL || want_addr[0] == '\0')) {
		raftd_result(rd, from, 400,
		             "Must specify either ?id with the server's ID or ?address with "
		             "IP:port of peer to remove");
		return;
	}
	if (!rd->is_leader) {
		raftd_result(rd, from, 500, "No cluster leader");
		return;
	}
	c = raft_conf_latest(rd->raft);
	for (uint32_t i = 0; i < c->n && found == RAFT_NONE; i++) {
		char idbuf[64];

		raftd_member_id(rd, c->m[i].id, idbuf, sizeof(idbuf));
		if (by_id ? strcasecmp(idbuf, want_id) == 0 || raftd_id_of(want_id) == c->m[i].id
		          : strcmp(raftd_member_addr(rd, c->m[i].id), want_addr) == 0)
			found = c->m[i].id;
	}
	if (found == RAFT_NONE) {
		if (by_id)
			raftd_result(rd, from, 500,
			             "id \"%s\" was not found in the Raft configuration", want_id);
		else
			raftd_result(rd, from, 500,
			             "address \"%s\" was not found in the Raft configuration",
			             want_addr);
		return;
	}
	rc = raft_propose_conf(rd->raft, RAFT_CONF_REMOVE, found, NULL, &index);
	if (rc == RAFT_ERR_CONF_INVALID) {
		/* The member is there: it is the last voter, whose removal
		 * would leave nobody to commit anything. */
		raftd_result(rd, from, 500,
		             "cannot remove %s: it is the only voter in the Raft configuration",
		             by_id ? want_id : want_addr);
		return;
	}
	if (rc != RAFT_OK) {
		raftd_result(rd, from, 500, "%s",
		             rc == RAFT_ERR_NOT_LEADER ? "No cluster leader" : raft_status_str(rc));
		return;
	}
	log_info("removing server %016" PRIx64 " from the Raft configuration (entry %" PRIu64
	         ", asked by %s)",
	         found, index, from->name);
	memset(&p, 0, sizeof(p));
	p.index = index;
	p.term = raft_term(rd->raft);
	p.from = *from;
	if (raftd_pending_push(rd, &p) != 0) {
		log_warnx("proposal %" PRIu64 ": pending queue full, no reply", index);
		raftd_result(rd, from, 503, "raftd: too many writes in flight");
	}
	rd->proposals++;
	raftd_kick(rd);
}

/* Runs the read now and answers, or holds it when it blocks (spec §1.10):
 * true when held (the caller arms its deadline). */
static bool raftd_run_read(struct raftd *rd, struct raftd_waiter *w)
{
	const struct msg_query_opts *q = raftd_req_opts(&w->req);
	struct fsm_watchset ws = {0};
	struct msg reply;
	struct msg_query_meta *meta;
	uint64_t min_index = q ? q->min_index : 0;
	bool expired = w->deadline_ms != 0 && raftd_now(rd) >= w->deadline_ms;

	memset(&reply, 0, sizeof(reply));

	if (w->req.type == MSG_RAFT_CONFIG) {
		raftd_raft_config(rd, &reply);
	} else if (fsm_query(rd->fsm, &w->req, &reply, &ws) != 0) {
		raftd_reply(rd, &w->from, &reply);
		msg_free(&reply);
		fsm_watchset_fini(&ws);
		raftd_waiter_free(rd, w);
		return false;
	}
	meta = raftd_reply_meta(&reply);
	if (meta != NULL && min_index > 0 && meta->index <= min_index && !expired && ws.n > 0 &&
	    w->req.type != MSG_TXN && w->req.type != MSG_RAFT_CONFIG) {
		if (w->deadline_ms == 0) {
			/* Consul's RPCQueryTimeout: wait (default 5 min, at most
			 * 10 min) plus a jitter below wait/16, so the reply comes
			 * before wait * 17/16 (Patroni's and node-consul's budget). */
			uint64_t wait = q->wait_ms ? q->wait_ms : RAFTD_WAIT_DEFAULT_MS;

			if (wait > RAFTD_WAIT_MAX_MS)
				wait = RAFTD_WAIT_MAX_MS;
			if (wait >= 16)
				wait += daemon_random64() % (wait / 16);
			w->deadline_ms = raftd_now(rd) + wait;
		}
		if (rd->n_blocked >= RAFTD_WAITERS_MAX ||
		    watch_add(rd->watch, &w->w, (const char *const *)ws.keys, ws.n) != 0) {
			fsm_watchset_fini(&ws);
			msg_free(&reply);
			raftd_result(rd, &w->from, 503,
			             "raftd: too many blocking queries held (limit %u)",
			             RAFTD_WAITERS_MAX);
			raftd_waiter_free(rd, w);
			return false;
		}
		fsm_watchset_fini(&ws);
		msg_free(&reply);
		raftd_list_add(&rd->blocked, w);
		rd->n_blocked++;
		return true;
	}
	fsm_watchset_fini(&ws);
	if (meta != NULL)
		raftd_fill_meta(rd, meta, raftd_effective(q));
	raftd_reply(rd, &w->from, &reply);
	msg_free(&reply);
	rd->reads_served++;
	raftd_waiter_free(rd, w);
	return false;
}

static void raftd_blocked_timeout(struct ev *ev, void *arg)
{
	struct raftd_waiter *w = arg;
	struct raftd *rd = w->rd;

	(void)ev;
	w->timer = 0;
	watch_remove(rd->watch, &w->w);
	raftd_list_del(&rd->blocked, w);
	rd->n_blocked--;
	rd->blocked_timeouts++;
	/* The loop's cached clock may lag the timer by a millisecond: the
	 * deadline is whatever now is, so the read answers and never holds. */
	w->deadline_ms = raftd_now(rd);
	raftd_run_read(rd, w);
}

/* Arms the deadline timer of a read that raftd_run_read() just held. */
static void raftd_arm_blocked(struct raftd *rd, struct raftd_waiter *w)
{
	uint64_t now = raftd_now(rd);

	if (w->timer == 0 && w->w.n_links > 0)
		w->timer = ev_timer_add(rd->d->ev, w->deadline_ms > now ? w->deadline_ms - now : 0,
		                        raftd_blocked_timeout, w);
}

static void raftd_serve_read(struct raftd *rd, struct raftd_waiter *w)
{
	if (raftd_run_read(rd, w))
		raftd_arm_blocked(rd, w);
}

static void raftd_read(struct raftd *rd, const struct ipc_from *from, struct msg *m)
{
	const struct msg_query_opts *q = raftd_req_opts(m);
	uint64_t mode = raftd_effective(q);
	struct raftd_waiter *w = calloc(1, sizeof(*w));
	int rc;

	if (w == NULL) {
		raftd_result(rd, from, 500, "out of memory");
		return;
	}
	w->rd = rd;
	w->w.arg = w;
	w->from = *from;
	w->req = *m; /* steal the request: the caller's copy is zeroed */
	memset(m, 0, sizeof(*m));

	/* spec §1.9: stale reads work without a leader; default and
	 * consistent ones need this server to lead (forwarding to the leader
	 * comes with the Cluster issue). */
	if (mode != 1 && !rd->is_leader) {
		raftd_result(rd, from, 500, "No cluster leader");
		raftd_waiter_free(rd, w);
		return;
	}
	/* default: the leader's lease (thesis §6.4.1) stands for the quorum
	 * round; without it, and for consistent, a ReadIndex round. */
	if (mode == 2 || (mode == 0 && !raft_lease_valid(rd->raft))) {
		if (rd->n_reads >= RAFTD_READS_MAX) {
			raftd_result(rd, from, 503, "raftd: too many consistent reads waiting");
			raftd_waiter_free(rd, w);
			return;
		}
		w->context = ++rd->read_ctx;
		rc = raft_read_index(rd->raft, w->context);
		if (rc != RAFT_OK) {
			raftd_result(rd, from, rc == RAFT_ERR_NOT_LEADER ? 500 : 503, "%s",
			             rc == RAFT_ERR_NOT_LEADER ? "No cluster leader"
			                                       : raft_status_str(rc));
			raftd_waiter_free(rd, w);
			return;
		}
		raftd_list_add(&rd->reads, w);
		rd->n_reads++;
		raftd_kick(rd);
		return;
	}
	raftd_serve_read(rd, w);
}

/* Consistent reads whose ReadIndex came back, once applied reaches it. */
static void raftd_release_reads(struct raftd *rd)
{
	struct raftd_waiter *w = rd->reads, *next;
	uint64_t applied = raft_applied(rd->raft);

	for (; w != NULL; w = next) {
		next = w->next;
		if (w->context != 0 || w->read_index > applied)
			continue;
		raftd_list_del(&rd->reads, w);
		rd->n_reads--;
		raftd_serve_read(rd, w);
	}
}

static void raftd_fail_reads(struct raftd *rd, const char *err)
{
	while (rd->reads != NULL) {
		struct raftd_waiter *w = rd->reads;

		raftd_list_del(&rd->reads, w);
		rd->n_reads--;
		raftd_reply_result(rd, &w->from, 500, err);
		raftd_waiter_free(rd, w);
	}
}

/* --- applying -------------------------------------------------------------- */

struct raftd_woken {
	struct raftd_waiter **v;
	size_t n, cap;
};

static void raftd_on_fire(struct watcher *wr, void *arg)
{
	struct raftd_woken *wk = arg;
	struct raftd_waiter *w = wr->arg;

	if (wk->n == wk->cap) {
		size_t cap = wk->cap ? wk->cap * 2 : 16;
		struct raftd_waiter **v = realloc(wk->v, cap * sizeof(*v));

		if (v == NULL)
			abort();
		wk->v = v;
		wk->cap = cap;
	}
	wk->v[wk->n++] = w;
}

static bool raftd_is_table(const char *k)
{
	return strchr(k, '/') == NULL;
}

/* After an apply batch: wake the blocked reads whose keys changed (each
 * once), re-arm session timers, queue tombstone reaps, announce the index. */
static void raftd_after_apply(struct raftd *rd, uint64_t index)
{
	struct raftd_woken wk = {0};
	const char *const *keys, *const *sess;
	size_t n_keys, n_sess, n_tables = 0;
	struct msg ev;
	char *tables[FSM_T_COUNT + 2];
	bool tomb = false;

	keys = fsm_changed_keys(rd->fsm, &n_keys);
	for (size_t i = 0; i < n_keys; i++) {
		if (strncmp(keys[i], "k/", 2) == 0)
			watch_fire_kv(rd->watch, keys[i] + 2, raftd_on_fire, &wk);
		else
			watch_fire(rd->watch, keys[i], raftd_on_fire, &wk);
		if (strcmp(keys[i], "tomb") == 0)
			tomb = true;
		if (raftd_is_table(keys[i]) && n_tables < sizeof(tables) / sizeof(tables[0]))
			tables[n_tables++] = (char *)keys[i];
	}
	for (size_t i = 0; i < wk.n; i++) {
		struct raftd_waiter *w = wk.v[i];

		raftd_list_del(&rd->blocked, w);
		rd->n_blocked--;
		rd->blocked_woken++;
		if (w->timer) {
			ev_timer_del(rd->d->ev, w->timer);
			w->timer = 0;
		}
		raftd_serve_read(rd, w);
	}
	free(wk.v);

	sess = fsm_changed_sessions(rd->fsm, &n_sess);
	for (size_t i = 0; i < n_sess; i++) {
		if (fsm_session_exists(rd->fsm, sess[i]))
			raftd_sess_arm(rd, sess[i]);
		else
			raftd_sess_disarm(rd, sess[i]);
	}

	/* Tombstones are reaped tombstone_ttl after they were written
	 * (Consul's TombstoneGC), coalesced into buckets of ttl/64. */
	if (tomb) {
		uint64_t ttl = rd->d->conf.test_timings.tombstone_ttl_ms;
		uint64_t due = raftd_now(rd) + ttl, gran = ttl / 64 ? ttl / 64 : 1;
		struct raftd_tomb *last =
		    rd->tomb_n ? &rd->tombs[(rd->tomb_head + rd->tomb_n - 1) % RAFTD_TOMB_QUEUE_MAX]
		               : NULL;

		if (last != NULL &&
		    (due - last->due_ms < gran || rd->tomb_n == RAFTD_TOMB_QUEUE_MAX))
			last->index = index;
		else {
			rd->tombs[(rd->tomb_head + rd->tomb_n) % RAFTD_TOMB_QUEUE_MAX] =
			    (struct raftd_tomb){due, index};
			rd->tomb_n++;
		}
	}

	if (n_tables > 0) {
		memset(&ev, 0, sizeof(ev));
		ev.type = MSG_INDEX_BUMP;
		ev.u.index_bump.epoch = rd->d->epoch;
		ev.u.index_bump.index = index;
		ev.u.index_bump.tables.v = tables;
		ev.u.index_bump.tables.n = (uint32_t)n_tables;
		ipc_publish(rd->d->pub, &ev);
	}
	fsm_changes_clear(rd->fsm);
}

static void raftd_apply(struct raftd *rd, const struct raft_entry *e, size_t n)
{
	uint64_t now = raftd_now(rd);
	const struct fsm_write *w;
	size_t n_w;

	for (size_t i = 0; i < n; i++) {
		struct raftd_pending *p;
		struct msg cmd, reply;
		bool have_reply = false;

		memset(&reply, 0, sizeof(reply));
		if (e[i].type == RAFT_ENTRY_NORMAL && e[i].len > 0) {
			enum msg_err me = msg_decode(e[i].data, e[i].len, 0, &cmd);

			if (me != MSG_OK) {
				/* Never expected (the leader encoded it); skip it the
				 * same way on every server. */
				log_errorx("entry %" PRIu64 ": undecodable command: %s", e[i].index,
				           msg_err_str(me));
			} else {
				if (fsm_apply(rd->fsm, e[i].index, &cmd, now, &reply) != 0)
					log_errorx("entry %" PRIu64 ": %s is not a write",
					           e[i].index, msg_type_name(cmd.type));
				have_reply = reply.type != MSG_NONE;
				msg_free(&cmd);
			}
		} else if (e[i].type == RAFT_ENTRY_CONF) {
			/* A membership change (RAFT_REMOVE_PEER) is answered as a
			 * write once committed; the core already uses it. */
			reply.type = MSG_WRITE_REPLY;
			reply.u.write_reply.index = e[i].index;
			reply.u.write_reply.ok = true;
			have_reply = true;
		}
		rd->applied_entries++;
		/* Proposals below this index were lost (a new leader overwrote
		 * them); the one at it is answered if its term matches. */
		while ((p = raftd_pending_front(rd)) != NULL && p->index <= e[i].index) {
			if (!p->internal) {
				if (p->index == e[i].index && p->term == e[i].term && have_reply)
					raftd_reply(rd, &p->from, &reply);
				else if (p->index == e[i].index && p->term == e[i].term)
					raftd_result(rd, &p->from, 500,
					             "entry %" PRIu64 " not applied", e[i].index);
				else
					raftd_result(rd, &p->from, 500,
					             "leadership lost while committing");
			}
			raftd_pending_pop(rd);
		}
		msg_free(&reply);
	}
	w = fsm_writes(rd->fsm, &n_w);
	if (store_apply(rd->store, w, n_w, e[n - 1].index, e[n - 1].term) != 0) {
		raftd_storage_failed(rd, "apply");
		return;
	}
	raftd_after_apply(rd, e[n - 1].index);
}

/* --- leadership -------------------------------------------------------------- */

/* Until gossip exists the server registers itself; the Cluster issue
 * replaces this with the leader reconciling gossip into the catalog. */
/* An agent's catalog registration as the leader writes it (spec §5.4):
 * the node with its tagged addresses, the `consul` service for a server
 * (port = its ports.server), and serfHealth with status and output.
 * skip_node keeps the node's own registration (Consul's SkipNodeUpdate);
 * node_meta may be NULL. */
void raftd_register_agent(struct raftd *rd, const struct raftd_agent_reg *a)
{
	static char *ta_k[] = {"lan", "lan_ipv4", "wan", "wan_ipv4"};
	char *ta_v[4];
	char *svc_meta_k[] = {"raft_version", "serf_protocol_current", "serf_protocol_max",
	                      "serf_protocol_min", "version"};
	char *svc_meta_v[] = {"3", "2", "5", "1", MUSTER_VERSION};
	struct msg_check chk;
	struct msg m;

	for (int i = 0; i < 4; i++)
		ta_v[i] = (char *)a->addr;
	memset(&m, 0, sizeof(m));
	memset(&chk, 0, sizeof(chk));
	m.type = MSG_CATALOG_REGISTER;
	m.u.catalog_register.node.id = (char *)a->id;
	m.u.catalog_register.node.node = (char *)a->name;
	m.u.catalog_register.node.address = (char *)a->addr;
	m.u.catalog_register.node.datacenter = rd->d->conf.datacenter;
	m.u.catalog_register.node.tagged_addresses = (struct msg_strmap){ta_k, ta_v, 4};
	if (a->node_meta != NULL)
		m.u.catalog_register.node.meta = *a->node_meta;
	m.u.catalog_register.skip_node_update = a->skip_node;
	if (a->server && !a->skip_node) {
		m.u.catalog_register.has_service = true;
		m.u.catalog_register.service.node = (char *)a->name;
		m.u.catalog_register.service.id = "consul";
		m.u.catalog_register.service.service = "consul";
		m.u.catalog_register.service.port = a->port;
		m.u.catalog_register.service.weight_passing = 1;
		m.u.catalog_register.service.weight_warning = 1;
		m.u.catalog_register.service.meta = (struct msg_strmap){svc_meta_k, svc_meta_v, 5};
	}
	chk.node = (char *)a->name;
	chk.check_id = "serfHealth";
	chk.name = "Serf Health Status";
	chk.status = (char *)a->status;
	chk.output = (char *)a->output;
	m.u.catalog_register.checks = (struct msg_check_list){&chk, 1};
	raftd_propose_internal(rd, &m);
}

static void raftd_self_register(struct raftd *rd)
{
	const struct conf *c = &rd->d->conf;
	const char *addr = c->advertise_addr && c->advertise_addr[0] ? c->advertise_addr
	                   : c->bind_addr && strcmp(c->bind_addr, "0.0.0.0") != 0 ? c->bind_addr
	                                                                          : "127.0.0.1";
	const struct msg_node *n = fsm_node_get(rd->fsm, c->node_name);
	const struct msg_check *ck = fsm_check_get(rd->fsm, c->node_name, "serfHealth");
	const struct msg_service *sv = fsm_service_get(rd->fsm, c->node_name, "consul");
	char *meta_k[] = {"consul-network-segment", "consul-version"};
	char *meta_v[] = {"", MUSTER_VERSION};
	struct msg_strmap meta = {meta_k, meta_v, 2};

	if (n != NULL && strcmp(n->address, addr) == 0 &&
	    strcmp(n->id, c->node_id ? c->node_id : "") == 0 && ck != NULL &&
	    strcmp(ck->status, "passing") == 0 && sv != NULL &&
	    (uint64_t)c->ports.server == sv->port)
		return;
	log_info("registering this server (%s, %s) in the catalog", c->node_name, addr);
	raftd_register_agent(rd, &(struct raftd_agent_reg){
	                             .name = c->node_name,
	                             .id = c->node_id ? c->node_id : "",
	                             .addr = addr,
	                             .server = true,
	                             .port = (unsigned)c->ports.server,
	                             .status = "passing",
	                             .output = "Agent alive and reachable",
	                             .node_meta = &meta,
	                         });
}

static void raftd_on_soft(struct raftd *rd, const struct raft_soft_state *ss)
{
	bool was = rd->is_leader;
	struct msg ev;

	if ((ss->leader != RAFT_NONE) != (rd->leader != RAFT_NONE) ||
	    (ss->role == RAFT_LEADER) != rd->is_leader)
		rd->stable_since_unix_ms = raftd_unix_ms(); /* autopilot health changed */
	rd->leader = ss->leader;
	rd->is_leader = ss->role == RAFT_LEADER;
	rd->term = raft_term(rd->raft);
	if (rd->leader != RAFT_NONE && !rd->is_leader)
		rd->last_contact_ms = raftd_now(rd);
	if (rd->is_leader && !was) {
		log_info("leader of term %" PRIu64, rd->term);
		rd->self_reg_due = true;
		if (rd->cluster != NULL)
			cluster_leader_gained(rd->cluster);
		/* spec §7.6: timers restart on a leader change. */
		fsm_session_foreach(rd->fsm, raftd_sess_arm_one, rd);
	} else if (!rd->is_leader && was) {
		log_warnx("lost leadership (term %" PRIu64 ")", rd->term);
		if (rd->leaving) {
			/* the reply may go now: it touches no Raft state */
			raftd_leave_done(rd, 200, "");
		}
		raftd_sess_disarm_all(rd);
		raftd_fail_reads(rd, "No cluster leader");
		/* Their entries may still commit under the next leader, or be
		 * overwritten: either way this server cannot tell the caller
		 * (hashicorp/raft's ErrLeadershipLost). */
		raftd_pending_fail_all(rd, 500, "leadership lost while committing log");
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = MSG_LEADER_CHANGE;
	ev.u.leader_change.epoch = rd->d->epoch;
	ev.u.leader_change.term = rd->term;
	ev.u.leader_change.known_leader = rd->leader != RAFT_NONE;
	ev.u.leader_change.leader_addr = rd->is_leader ? rd->self_addr : "";
	ipc_publish(rd->d->pub, &ev);
	/* inside the ready loop: the held requests go once it is over */
	if (rd->held != NULL && rd->leader != RAFT_NONE) {
		if (rd->hold_timer)
			ev_timer_del(rd->d->ev, rd->hold_timer);
		rd->hold_timer = ev_timer_add(rd->d->ev, 0, raftd_hold_sweep, rd);
	}
}

/* --- the ready loop -------------------------------------------------------- */

/* A snapshot the leader streamed (peer.c put it in a file, whole and
 * synced): the store takes its state, the log behind it goes, and the fsm
 * is reloaded from the store; every watcher wakes (anything may have
 * changed). */
static int raftd_install_snapshot(struct raftd *rd, const struct raft_snapshot *snap)
{
	const char *path = peer_incoming_snapshot(rd->peer, snap->index);
	struct fsm *f;
	uint64_t bad = 0;
	static const char *const all[] = {"nodes", "services", "checks", "kvs", "sessions"};

	if (path == NULL) {
		log_warnx("snapshot %" PRIu64 ": no file received for it", snap->index);
		raftd_storage_failed(rd, "snapshot install (no file)");
		return -1;
	}
	if (store_snapshot_restore(rd->store, path) != 0) {
		log_warnx("snapshot %" PRIu64 ": %s", snap->index, store_error(rd->store));
		raftd_storage_failed(rd, "snapshot install");
		return -1;
	}
	peer_incoming_snapshot_done(rd->peer);
	f = fsm_new();
	if (f == NULL || store_load(rd->store, f, &bad) != 0 || bad > 0) {
		fsm_free(f);
		raftd_storage_failed(rd, "snapshot load");
		return -1;
	}
	fsm_free(rd->fsm);
	rd->fsm = f;
	fsm_changes_clear(rd->fsm);
	rd->snapshots_installed++;
	log_info("installed snapshot %" PRIu64 " (term %" PRIu64 ")", snap->index, snap->term);
	{
		/* every blocked read re-runs: it answers if what it reads
		 * moved past its index, else it blocks again */
		struct raftd_waiter *list = rd->blocked, *w, *next;
		struct msg ev;

		rd->blocked = NULL;
		rd->n_blocked = 0;
		for (w = list; w != NULL; w = next) {
			next = w->next;
			w->prev = w->next = NULL;
			watch_remove(rd->watch, &w->w);
			if (w->timer) {
				ev_timer_del(rd->d->ev, w->timer);
				w->timer = 0;
			}
			raftd_serve_read(rd, w);
		}
		memset(&ev, 0, sizeof(ev));
		ev.type = MSG_INDEX_BUMP;
		ev.u.index_bump.epoch = rd->d->epoch;
		ev.u.index_bump.index = snap->index;
		ev.u.index_bump.tables.v = (char **)all;
		ev.u.index_bump.tables.n = 5;
		ipc_publish(rd->d->pub, &ev);
	}
	return 0;
}

static void raftd_process_ready(struct raftd *rd)
{
	struct raft_ready r;

	if (rd->peer != NULL)
		peer_apply_reports(rd->peer);
	while (!rd->failed && raft_has_ready(rd->raft)) {
		raft_ready(rd->raft, &r);
		if (r.soft_changed)
			raftd_on_soft(rd, &r.soft);
		if (r.n_entries > 0 || r.hs_changed) {
			if (store_append(rd->store, r.entries, r.n_entries,
			                 r.hs_changed ? &r.hs : NULL, r.must_sync) != 0) {
				raftd_storage_failed(rd, "append");
				return; /* no advance: nothing of this ready happened */
			}
		}
		if (r.snapshot != NULL && raftd_install_snapshot(rd, r.snapshot) != 0)
			return; /* the storage failed: nothing of this ready happened */
		for (size_t i = 0; i < r.n_msgs; i++)
			peer_send_raft(rd->peer, &r.msgs[i]);
		if (r.n_committed > 0)
			raftd_apply(rd, r.committed, r.n_committed);
		for (size_t i = 0; i < r.n_reads; i++) {
			for (struct raftd_waiter *w = rd->reads; w != NULL; w = w->next) {
				if (w->context == r.reads[i].context) {
					w->context = 0;
					w->read_index = r.reads[i].index;
					break;
				}
			}
		}
		raft_advance(rd->raft, &r);
		if (rd->failed)
			return;
	}
	raftd_release_reads(rd);
	if (rd->self_reg_due && rd->is_leader && raft_applied(rd->raft) >= raft_commit(rd->raft) &&
	    raft_commit(rd->raft) >= raft_last_index(rd->raft)) {
		rd->self_reg_due = false;
		raftd_self_register(rd);
	}
}

static void raftd_on_kick(struct ev *ev, void *arg)
{
	struct raftd *rd = arg;

	(void)ev;
	rd->kick_timer = 0;
	raftd_process_ready(rd);
}

void raftd_poke(struct raftd *rd)
{
	raftd_kick(rd);
}

static void raftd_kick(struct raftd *rd)
{
	if (rd->kick_timer == 0 && !rd->failed)
		rd->kick_timer = ev_timer_add(rd->d->ev, 0, raftd_on_kick, rd);
}

static void raftd_on_tick(struct ev *ev, void *arg)
{
	struct raftd *rd = arg;

	rd->tick_timer = ev_timer_add(ev, rd->tick_ms, raftd_on_tick, rd);
	if (rd->failed)
		return;
	raft_tick(rd->raft);
	raftd_process_ready(rd);
}

/* --- log compaction and tombstones ----------------------------------------- */

/* Snapshot files kept, as Consul's raft snapshot store (retain 2). */
#define RAFTD_SNAPSHOTS_KEPT 2

static int raftd_snap_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)b, *(char *const *)a); /* newest first */
}

/*
 * The state families as one stream file at the compaction point, written
 * in the same loop turn so the file and the log's snapshot point agree:
 * what a leader streams to a follower that fell behind the log (the
 * Cluster issue) and what /v1/snapshot serves. The state itself needs no
 * file (it is durable in RocksDB), so a failure here is only logged.
 */
static void raftd_snapshot_file(struct raftd *rd, uint64_t index)
{
	char dir[4200], path[4300], *names[64];
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/raft/snapshots", rd->d->conf.data_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_warnx("snapshot %" PRIu64 ": mkdir %s: %s", index, dir, strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/%020" PRIu64 ".snap", dir, index);
	if (store_snapshot_write(rd->store, path) != 0) {
		log_warnx("snapshot %" PRIu64 ": %s not written: %s", index, path,
		          store_error(rd->store));
		return;
	}
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && n < sizeof(names) / sizeof(names[0])) {
		size_t len = strlen(de->d_name);
		char *nm =
		    len == 25 && strcmp(de->d_name + 20, ".snap") == 0 ? strdup(de->d_name) : NULL;

		if (nm != NULL)
			names[n++] = nm;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), raftd_snap_name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i >= RAFTD_SNAPSHOTS_KEPT) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			if (unlink(path) != 0)
				log_warnx("snapshot: unlink %s: %s", path, strerror(errno));
		}
		free(names[i]);
	}
}

static void raftd_on_snapshot(struct ev *ev, void *arg)
{
	struct raftd *rd = arg;
	const struct conf *c = &rd->d->conf;
	uint64_t applied = store_applied_index(rd->store), snap = store_snapshot_index(rd->store);
	uint64_t iv = c->raft_snapshot_interval_ms;

	rd->snap_timer =
	    ev_timer_add(ev, iv + daemon_random64() % (iv ? iv : 1), raftd_on_snapshot, rd);
	if (rd->failed || applied < snap + c->raft_snapshot_threshold)
		return;
	/* hashicorp/raft: snapshot at the applied index, keep TrailingLogs
	 * entries behind it for followers that lag a little. */
	uint64_t keep_from =
	    applied > c->raft_trailing_logs ? applied - c->raft_trailing_logs + 1 : 1;

	if (store_compact(rd->store, applied, store_applied_term(rd->store),
	                  raft_conf_latest(rd->raft), keep_from) != 0) {
		raftd_storage_failed(rd, "log compaction");
		return;
	}
	log_info("snapshot at index %" PRIu64 ", log kept from %" PRIu64, applied,
	         keep_from < applied ? keep_from : applied);
	raftd_snapshot_file(rd, applied);
}

static void raftd_on_tomb(struct ev *ev, void *arg)
{
	struct raftd *rd = arg;
	uint64_t now = raftd_now(rd), reap = 0;
	struct msg m;

	rd->tomb_timer = ev_timer_add(ev, 1000, raftd_on_tomb, rd);
	while (rd->tomb_n > 0 && rd->tombs[rd->tomb_head].due_ms <= now) {
		reap = rd->tombs[rd->tomb_head].index;
		rd->tomb_head = (rd->tomb_head + 1) % RAFTD_TOMB_QUEUE_MAX;
		rd->tomb_n--;
	}
	if (reap == 0 || !rd->is_leader || rd->failed)
		return;
	memset(&m, 0, sizeof(m));
	m.type = MSG_TOMBSTONE_REAP;
	m.u.tombstone_reap.index = reap;
	raftd_propose_msg(rd, &m, NULL);
}

/* --- start and stop ---------------------------------------------------------- */

/* The Raft id: the node ID's first 64 bits (hex), never 0. */
uint64_t raftd_id_of(const char *node_id)
{
	uint64_t v = 0;
	int digits = 0;

	for (const char *p = node_id; p && *p && digits < 16; p++) {
		int x;

		if (*p >= '0' && *p <= '9')
			x = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			x = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			x = *p - 'A' + 10;
		else
			continue;
		v = v << 4 | (uint64_t)x;
		digits++;
	}
	return v ? v : 1;
}

static uint32_t raftd_rand(void *arg, uint32_t n)
{
	(void)arg;
	return n ? (uint32_t)(daemon_random64() % n) : 0;
}

int raftd_bootstrap(struct raftd *rd, const struct raft_conf *conf)
{
	struct raft *r;

	if (!store_is_empty(rd->store)) {
		log_warnx("bootstrap: the store is not empty; not bootstrapping");
		return -1;
	}
	if (store_bootstrap(rd->store, conf) != 0) {
		raftd_storage_failed(rd, "bootstrap");
		return -1;
	}
	rd->rc.applied = store_applied_index(rd->store);
	r = raft_new(&rd->rc, &rd->rs);
	if (r == NULL) {
		raftd_storage_failed(rd, "bootstrap (the log does not open)");
		return -1;
	}
	raft_free(rd->raft);
	rd->raft = r;
	log_info("bootstrapped a Raft configuration of %u servers", conf->n);
	raftd_kick(rd);
	return 0;
}

void raftd_propose_internal(struct raftd *rd, struct msg *m)
{
	if (rd->is_leader && !rd->failed)
		raftd_propose_msg(rd, m, NULL);
}

int raftd_start(struct raftd *rd, struct daemon *d)
{
	const struct conf *c = &d->conf;
	struct raft_config *rc = &rd->rc;
	char dir[4096], err[512];
	uint64_t hb, el, lease, bad = 0;

	memset(rd, 0, sizeof(*rd));
	rd->d = d;
	rd->server = c->server;
	if (!rd->server) {
		/* a client agent's raftd forwards every request to a server
		 * gossip knows (spec §5.5) */
		rd->id = raftd_id_of(c->node_id);
		rd->peer = peer_new(rd);
		rd->cluster = cluster_new(rd);
		return rd->peer != NULL && rd->cluster != NULL ? 0 : -1;
	}
	snprintf(rd->self_addr, sizeof(rd->self_addr), "%s:%d",
	         c->advertise_addr && c->advertise_addr[0] ? c->advertise_addr : "127.0.0.1",
	         c->ports.server);
	if (snprintf(dir, sizeof(dir), "%s/raft", c->data_dir) >= (int)sizeof(dir)) {
		log_errorx("data_dir too long");
		return -1;
	}
	rd->store = store_open(dir, !c->dev_mode, err, sizeof(err));
	if (rd->store == NULL) {
		log_errorx("store %s: %s", dir, err);
		return -1;
	}
	rd->fsm = fsm_new();
	rd->watch = watch_new();
	rd->sess = omap_new(free);
	if (rd->fsm == NULL || rd->watch == NULL || rd->sess == NULL)
		return -1;
	if (store_load(rd->store, rd->fsm, &bad) != 0)
		return -1;
	/* Serving part of the state would let this replica drift from the
	 * others without a word: refuse to start, and say why. */
	if (bad > 0) {
		log_errorx("store %s: %" PRIu64 " records do not decode: the state is corrupt; "
		           "restore a snapshot or remove the store to rejoin",
		           dir, bad);
		return -1;
	}
	fsm_changes_clear(rd->fsm);
	rd->id = raftd_id_of(c->node_id);
	rd->stable_since_unix_ms = raftd_unix_ms();
	if (store_is_empty(rd->store) && (c->dev_mode || c->bootstrap)) {
		struct raft_conf conf = {0};

		if (raft_conf_apply_op(&conf, RAFT_CONF_ADD_VOTER, rd->id, rd->self_addr) != 0) {
			log_errorx("bootstrap: bad server (raft id %016" PRIx64 ", address %s)",
			           rd->id, rd->self_addr);
			return -1;
		}
		log_info("bootstrapping a one-server cluster (raft id %016" PRIx64 ")", rd->id);
		if (store_bootstrap(rd->store, &conf) != 0)
			return -1;
	}
	/* hashicorp/raft timings scaled by raft_multiplier (conf_raft_ms),
	 * counted in ticks of HeartbeatTimeout / 10 (at least 10 ms). */
	hb = conf_raft_ms(c, c->test_timings.raft.heartbeat_timeout_ms);
	el = conf_raft_ms(c, c->test_timings.raft.election_timeout_ms);
	lease = conf_raft_ms(c, c->test_timings.raft.leader_lease_timeout_ms);
	rd->tick_ms = hb / 10 < 10 ? 10 : hb / 10;
	raft_config_default(rc, rd->id);
	rc->heartbeat_ticks = 1;
	rc->election_ticks = (unsigned)(el / rd->tick_ms > 2 ? el / rd->tick_ms : 2);
	rc->lease_ticks = (unsigned)(lease / rd->tick_ms);
	if (rc->lease_ticks == 0 || rc->lease_ticks > rc->election_ticks)
		rc->lease_ticks = rc->election_ticks / 2 ? rc->election_ticks / 2 : 1;
	rc->applied = store_applied_index(rd->store);
	rc->rand = raftd_rand;
	store_raft_storage(rd->store, &rd->rs);
	rd->raft = raft_new(rc, &rd->rs);
	if (rd->raft == NULL) {
		log_errorx("store %s: the Raft log does not open (applied %" PRIu64 ")", dir,
		           rc->applied);
		return -1;
	}
	if (c->bootstrap_expect == 2 || (c->bootstrap_expect > 2 && c->bootstrap_expect % 2 == 0))
		log_warnx("bootstrap_expect = %d: an even number of servers tolerates no more "
		          "failures than one server fewer (Consul's warning)",
		          c->bootstrap_expect);
	log_info("raft: last index %" PRIu64 ", applied %" PRIu64 ", snapshot %" PRIu64
	         ", tick %" PRIu64 " ms%s",
	         raft_last_index(rd->raft), rc->applied, store_snapshot_index(rd->store),
	         rd->tick_ms, c->dev_mode ? " (dev: no fsync)" : "");
	/* A lone voter need not wait an election timeout to lead. */
	{
		const struct raft_conf *conf = raft_conf_latest(rd->raft);

		if (conf->n == 1 && conf->m[0].id == rd->id && conf->m[0].voter)
			raft_campaign(rd->raft);
	}
	rd->tick_timer = ev_timer_add(d->ev, rd->tick_ms, raftd_on_tick, rd);
	rd->snap_timer = 0;
	{
		uint64_t iv = c->raft_snapshot_interval_ms;

		rd->snap_timer = ev_timer_add(d->ev, iv + daemon_random64() % (iv ? iv : 1),
		                              raftd_on_snapshot, rd);
	}
	rd->tomb_timer = ev_timer_add(d->ev, 1000, raftd_on_tomb, rd);
	rd->peer = peer_new(rd);
	rd->cluster = cluster_new(rd);
	if (rd->peer == NULL || rd->cluster == NULL)
		return -1;
	raftd_process_ready(rd);
	return 0;
}

void raftd_stop(struct raftd *rd)
{
	struct peer *p = rd->peer;

	/* the peer first: its calls end (callbacks into the cluster see no
	 * peer any more), then the cluster */
	raftd_leave_done(rd, 503, "raftd: stopping");
	rd->peer = NULL;
	peer_free(p);
	cluster_free(rd->cluster);
	rd->cluster = NULL;
	if (!rd->server) {
		if (rd->hold_timer)
			ev_timer_del(rd->d->ev, rd->hold_timer);
		while (rd->held != NULL) {
			struct raftd_held *h = rd->held;

			rd->held = h->next;
			raftd_result(rd, &h->from, 503, "raftd: stopping");
			msg_free(&h->req);
			free(h);
		}
		return;
	}
	raftd_pending_fail_all(rd, 503, "raftd: stopping");
	raftd_fail_reads(rd, "raftd: stopping");
	while (rd->blocked != NULL) {
		struct raftd_waiter *w = rd->blocked;

		raftd_list_del(&rd->blocked, w);
		rd->n_blocked--;
		raftd_waiter_free(rd, w);
	}
	raftd_sess_disarm_all(rd);
	omap_free(rd->sess);
	free(rd->pend);
	if (rd->hold_timer)
		ev_timer_del(rd->d->ev, rd->hold_timer);
	while (rd->held != NULL) {
		struct raftd_held *h = rd->held;

		rd->held = h->next;
		raftd_result(rd, &h->from, 503, "raftd: stopping");
		msg_free(&h->req);
		free(h);
	}
	raft_free(rd->raft);
	watch_free(rd->watch);
	fsm_free(rd->fsm);
	store_close(rd->store);
}

/* --- the dispatch of bus requests ------------------------------------------ */

/* The address of the raftd a request goes to when this one cannot answer
 * it: the leader's for a follower; NULL when none is known (yet). */
static const char *raftd_leader_addr(const struct raftd *rd)
{
	const struct raft_member *m;

	if (!rd->server)
		return rd->cluster ? cluster_server(rd->cluster, 0) : NULL;
	if (rd->raft == NULL || rd->leader == RAFT_NONE || rd->is_leader)
		return NULL;
	m = raft_conf_find(raft_conf_latest(rd->raft), rd->leader);
	return m != NULL && m->addr[0] != '\0' ? m->addr : NULL;
}

/* Whether this server answers m itself: every write, renew and peer
 * removal goes to the leader, and so do default and consistent reads
 * (spec §5.5); a stale read is served by any server. */
static bool raftd_local(const struct raftd *rd, const struct msg *m, bool is_read)
{
	if (!rd->server)
		return false; /* a client agent holds no state: all of it goes */
	if (rd->is_leader)
		return true;
	if (is_read)
		return raftd_effective(raftd_req_opts(m)) == 1;
	return false;
}

static void raftd_hold_sweep(struct ev *ev, void *arg);
static void raftd_dispatch(struct raftd *rd, const struct ipc_from *from, struct msg *m,
                           uint64_t hops);

/* Holds a request until a leader is known, up to rpc_hold_timeout. */
static void raftd_hold(struct raftd *rd, const struct ipc_from *from, struct msg *m, uint64_t hops)
{
	struct raftd_held *h;

	if (rd->n_held >= RAFTD_HELD_MAX) {
		raftd_result(rd, from, 500, "No cluster leader");
		return;
	}
	h = xcalloc(1, sizeof(*h));
	h->from = *from;
	h->req = *m; /* stolen: the caller's copy is zeroed */
	memset(m, 0, sizeof(*m));
	h->hops = hops;
	/* held again on a retry: the first hold's deadline stands */
	h->deadline_ms = rd->hold_deadline ? rd->hold_deadline : raftd_now(rd) + RAFTD_HOLD_MS;
	h->next = rd->held;
	rd->held = h;
	rd->n_held++;
	if (rd->hold_timer == 0)
		rd->hold_timer = ev_timer_add(rd->d->ev, RAFTD_HOLD_RETRY_MS, raftd_hold_sweep, rd);
}

/* Retries the held requests (a leader may be known now); those past
 * their hold time get Consul's answer. */
static void raftd_hold_retry(struct raftd *rd)
{
	struct raftd_held *list = rd->held, *h, *next;
	uint64_t now = raftd_now(rd);

	rd->held = NULL;
	rd->n_held = 0;
	for (h = list; h != NULL; h = next) {
		next = h->next;
		if (now >= h->deadline_ms) {
			const char *addr = raftd_leader_addr(rd);

			rd->held_expired++;
			if (!rd->server && addr == NULL)
				raftd_result(rd, &h->from, 500, "No known Consul servers");
			else if (addr != NULL)
				raftd_result(rd, &h->from, 500, "rpc error: the leader at %s cannot be reached",
				             addr);
			else
				raftd_result(rd, &h->from, 500, "No cluster leader");
		} else if (rd->is_leader || raftd_leader_addr(rd) != NULL) {
			rd->hold_deadline = h->deadline_ms;
			raftd_dispatch(rd, &h->from, &h->req, h->hops);
			rd->hold_deadline = 0;
		} else {
			h->next = rd->held;
			rd->held = h;
			rd->n_held++;
			continue;
		}
		msg_free(&h->req);
		free(h);
	}
}

static void raftd_hold_sweep(struct ev *ev, void *arg)
{
	struct raftd *rd = arg;

	rd->hold_timer = 0;
	raftd_hold_retry(rd);
	if (rd->held != NULL)
		rd->hold_timer = ev_timer_add(ev, RAFTD_HOLD_RETRY_MS, raftd_hold_sweep, rd);
}

/* A forwarded read whose server was lost (peer.c): held, so it goes again
 * within rpc_hold_timeout, to another server on a client agent. */
void raftd_retry(struct raftd *rd, const struct ipc_from *from, struct msg *m, uint64_t hops)
{
	if (!rd->server && rd->cluster != NULL)
		(void)cluster_server(rd->cluster, 1);
	raftd_hold(rd, from, m, hops);
}

void raftd_servers_known(struct raftd *rd)
{
	if (rd->held != NULL && !rd->server && rd->hold_timer == 0)
		rd->hold_timer = ev_timer_add(rd->d->ev, 0, raftd_hold_sweep, rd);
}

static void raftd_dispatch(struct raftd *rd, const struct ipc_from *from, struct msg *m,
                           uint64_t hops)
{
	bool is_write = fsm_is_write(m) && m->type != MSG_TOMBSTONE_REAP;
	bool is_read = !is_write && raftd_req_opts(m) != NULL;

	if (rd->failed) {
		raftd_result(rd, from, 503, "raftd: storage failed, restarting");
		return;
	}
	if (!raftd_local(rd, m, is_read)) {
		const char *addr = raftd_leader_addr(rd);
		const struct msg_query_opts *q = is_read ? raftd_req_opts(m) : NULL;

		if (addr == NULL) {
			raftd_hold(rd, from, m, hops);
			return;
		}
		if (peer_forward(rd->peer, addr, from, m, hops,
		                 q && q->min_index ? (q->wait_ms ? q->wait_ms
		                                                 : RAFTD_WAIT_DEFAULT_MS)
		                                   : 0,
		                 is_read) != 0) {
			/* not connected (yet), or a full queue: retried until
			 * rpc_hold_timeout, as Consul retries a failed RPC (a
			 * client agent tries another server next) */
			if (!rd->server && rd->cluster != NULL)
				(void)cluster_server(rd->cluster, 1);
			raftd_hold(rd, from, m, hops);
			return;
		}
		rd->forwarded++;
		return;
	}
	if (m->type == MSG_RAFT_REMOVE_PEER)
		raftd_remove_peer(rd, from, m);
	else if (m->type == MSG_RAFT_TRANSFER_LEADER)
		raftd_transfer_leader(rd, from, m);
	else if (m->type == MSG_SESSION_RENEW)
		raftd_renew(rd, from, m);
	else if (is_read)
		raftd_read(rd, from, m);
	else
		raftd_write(rd, from, m);
}

static bool raftd_handles(const struct msg *m)
{
	/* A read is a request that carries query options; a write is what the
	 * fsm applies, except the reaps only raftd itself proposes. */
	bool is_write = fsm_is_write(m) && m->type != MSG_TOMBSTONE_REAP;

	return is_write || raftd_req_opts(m) != NULL || m->type == MSG_SESSION_RENEW ||
	       m->type == MSG_RAFT_REMOVE_PEER || m->type == MSG_RAFT_TRANSFER_LEADER;
}

static void raftd_leave_done(struct raftd *rd, unsigned status, const char *err)
{
	if (!rd->leaving)
		return;
	rd->leaving = false;
	if (rd->leave_timer)
		ev_timer_del(rd->d->ev, rd->leave_timer);
	rd->leave_timer = 0;
	raftd_reply_result(rd, &rd->leave_from, status, err);
}

static void raftd_leave_timeout(struct ev *ev, void *arg)
{
	struct raftd *rd = arg;

	(void)ev;
	rd->leave_timer = 0;
	log_warnx("leave: leadership transfer timed out");
	raftd_leave_done(rd, 500, "leadership transfer timed out");
}

/* Hands leadership to want (or, RAFT_NONE, to the most up-to-date voter)
 * and answers from once another server leads (raftd_on_soft) or the
 * transfer timed out; true when under way, else from was answered. */
static bool raftd_transfer(struct raftd *rd, const struct ipc_from *from, uint64_t want,
                           bool ok_alone)
{
	const struct raft_conf *conf = raft_conf_latest(rd->raft);
	uint64_t to = RAFT_NONE, best = 0;
	int rc;

	for (uint32_t i = 0; i < conf->n; i++) {
		struct raft_progress_info pi;

		if (conf->m[i].id == rd->id || !conf->m[i].voter ||
		    raft_progress(rd->raft, conf->m[i].id, &pi) != 0)
			continue;
		if (want != RAFT_NONE ? conf->m[i].id == want : (to == RAFT_NONE || pi.match > best)) {
			to = conf->m[i].id;
			best = pi.match;
		}
	}
	if (to == RAFT_NONE) {
		if (ok_alone)
			raftd_reply_result(rd, from, 200, ""); /* alone: nobody to hand over to */
		else
			raftd_reply_result(rd, from, 500,
			                   want != RAFT_NONE
			                       ? "cannot find server to transfer leadership to"
			                       : "cannot find a voter to transfer leadership to");
		return false;
	}
	rc = raft_transfer_leadership(rd->raft, to);
	if (rc != RAFT_OK) {
		log_warnx("leadership transfer to %016" PRIx64 ": %s", to, raft_status_str(rc));
		raftd_reply_result(rd, from, ok_alone ? 200 : 500, ok_alone ? "" : raft_status_str(rc));
		return false;
	}
	log_info("handing leadership over to %016" PRIx64, to);
	rd->leaving = true;
	rd->leave_from = *from;
	rd->leave_timer = ev_timer_add(rd->d->ev, MSG_LEAVE_RAFT_MS - 1000, raftd_leave_timeout, rd);
	raftd_kick(rd);
	return true;
}

/* A server's graceful leave (musterd asks before gossip): a leader hands
 * its leadership to the most up-to-date voter (Consul's server leave), so
 * the cluster does not wait an election timeout; the new leader removes
 * this server once gossip says it left (cluster.c). */
static void raftd_leave(struct raftd *rd, const struct ipc_from *from)
{
	if (!rd->server || rd->raft == NULL || !rd->is_leader || rd->leaving) {
		raftd_reply_result(rd, from, 200, "");
		return;
	}
	log_info("leave: this server leads");
	raftd_transfer(rd, from, RAFT_NONE, true);
}

/* operator raft transfer-leader: on the leader (dispatch forwards it). */
static void raftd_transfer_leader(struct raftd *rd, const struct ipc_from *from, struct msg *m)
{
	const char *id = m->u.raft_transfer_leader.id;
	uint64_t want = RAFT_NONE;

	if (rd->leaving) {
		raftd_result(rd, from, 500, "a leadership transfer is already under way");
		return;
	}
	if (id != NULL && id[0] != '\0') {
		const struct raft_conf *conf = raft_conf_latest(rd->raft);

		for (uint32_t i = 0; i < conf->n && want == RAFT_NONE; i++) {
			char idbuf[64];

			raftd_member_id(rd, conf->m[i].id, idbuf, sizeof(idbuf));
			if (strcasecmp(idbuf, id) == 0 || raftd_id_of(id) == conf->m[i].id)
				want = conf->m[i].id;
		}
		if (want == RAFT_NONE || want == rd->id) {
			raftd_result(rd, from, 500, "cannot find server to transfer leadership to: %s",
			             id);
			return;
		}
	}
	raftd_transfer(rd, from, want, false);
}

bool raftd_request(struct raftd *rd, const struct ipc_from *from, struct msg *m)
{
	if (m->type == MSG_LEAVE) {
		raftd_leave(rd, from);
		return true;
	}
	if (!raftd_handles(m))
		return false;
	raftd_dispatch(rd, from, m, 0);
	return true;
}

bool raftd_serve_forwarded(struct raftd *rd, const struct ipc_from *from, struct msg *m,
                           uint64_t hops)
{
	if (!raftd_handles(m) || !rd->server)
		return false;
	raftd_dispatch(rd, from, m, hops);
	return true;
}

void raftd_stats(struct raftd *rd, struct msg_daemon_stats *out)
{
	const struct store_stats *ss;

	if (!rd->server)
		return;
	ss = store_stats(rd->store);
	daemon_stat_add(out, "store_appends", 1, (double)ss->appends);
	daemon_stat_add(out, "store_entries", 1, (double)ss->entries);
	daemon_stat_add(out, "store_syncs", 1, (double)ss->syncs);
	daemon_stat_add(out, "store_applies", 1, (double)ss->applies);
	daemon_stat_add(out, "store_write_errors", 1, (double)ss->write_errors);
	daemon_stat_add(out, "store_compactions", 1, (double)ss->compactions);
	daemon_stat_add(out, "applied_index", 0, (double)raft_applied(rd->raft));
	daemon_stat_add(out, "commit_index", 0, (double)raft_commit(rd->raft));
	daemon_stat_add(out, "last_index", 0, (double)raft_last_index(rd->raft));
	daemon_stat_add(out, "snapshot_index", 0, (double)store_snapshot_index(rd->store));
	daemon_stat_add(out, "term", 0, (double)raft_term(rd->raft));
	daemon_stat_add(out, "is_leader", 0, rd->is_leader ? 1 : 0);
	daemon_stat_add(out, "proposals", 1, (double)rd->proposals);
	daemon_stat_add(out, "applied_entries", 1, (double)rd->applied_entries);
	daemon_stat_add(out, "reads_served", 1, (double)rd->reads_served);
	daemon_stat_add(out, "watchers", 0, (double)rd->n_blocked);
	daemon_stat_add(out, "blocked_woken", 1, (double)rd->blocked_woken);
	daemon_stat_add(out, "blocked_timeouts", 1, (double)rd->blocked_timeouts);
	daemon_stat_add(out, "consistent_reads_waiting", 0, (double)rd->n_reads);
	daemon_stat_add(out, "lock_delay_refusals", 1, (double)rd->lock_delay_refusals);
	daemon_stat_add(out, "sessions_expired", 1, (double)rd->sessions_expired);
	daemon_stat_add(out, "session_timers", 0, (double)omap_count(rd->sess));
	daemon_stat_add(out, "forwarded", 1, (double)rd->forwarded);
	daemon_stat_add(out, "held", 0, (double)rd->n_held);
	daemon_stat_add(out, "held_expired", 1, (double)rd->held_expired);
	daemon_stat_add(out, "snapshots_installed", 1, (double)rd->snapshots_installed);
	if (rd->cluster != NULL) {
		const struct cluster_stats *cs = cluster_stats(rd->cluster);

		daemon_stat_add(out, "cluster_refreshes", 1, (double)cs->refreshes);
		daemon_stat_add(out, "cluster_members", 0, (double)cs->members);
		daemon_stat_add(out, "cluster_registered", 1, (double)cs->registered);
		daemon_stat_add(out, "cluster_deregistered", 1, (double)cs->deregistered);
		daemon_stat_add(out, "cluster_marked_critical", 1, (double)cs->marked_critical);
		daemon_stat_add(out, "cluster_raft_added", 1, (double)cs->raft_added);
		daemon_stat_add(out, "cluster_raft_promoted", 1, (double)cs->raft_promoted);
		daemon_stat_add(out, "cluster_raft_removed", 1, (double)cs->raft_removed);
	}
	if (rd->peer != NULL) {
		const struct peer_stats *ps = peer_stats(rd->peer);

		daemon_stat_add(out, "peer_sent", 1, (double)ps->sent);
		daemon_stat_add(out, "peer_send_dropped", 1, (double)ps->send_dropped);
		daemon_stat_add(out, "peer_received", 1, (double)ps->received);
		daemon_stat_add(out, "peer_bad", 1, (double)ps->bad);
		daemon_stat_add(out, "peer_forwards_served", 1, (double)ps->forwards_served);
		daemon_stat_add(out, "peer_forward_timeouts", 1, (double)ps->forward_timeouts);
		daemon_stat_add(out, "peer_forward_retries", 1, (double)ps->forward_retries);
		daemon_stat_add(out, "peer_snaps_sent", 1, (double)ps->snaps_sent);
		daemon_stat_add(out, "peer_snaps_received", 1, (double)ps->snaps_received);
	}
}

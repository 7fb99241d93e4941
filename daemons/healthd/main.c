/* main.c: healthd, this agent's services and checks, check runners and anti-entropy (DESIGN.md §1).
 */
#include "healthd.h"

#include "ev.h"
#include "hdef.h"
#include "hjdef.h"
#include "log.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * healthd owns what is registered on this agent (spec/http-api.md
 * §3.10-§3.20, spec/dns-cli-gossip-raft.md §5.6-§5.7): local.c keeps the
 * services and checks (persisted under data_dir, or under run_dir for a
 * -dev agent without one, so that a restart of healthd alone keeps them)
 * and runs the checks; sync.c writes them into the catalog. This file is
 * the bus (ids 59-68 of msg.def) and the config-file definitions.
 */

static struct hd healthd_state;

/* ---- replies that wait ---- */

static struct hwaiter *hd_waiter_new(struct hd *hd)
{
	for (size_t i = 0; i < HEALTHD_WAITERS_MAX; i++)
		if (!hd->waiters[i].used) {
			memset(&hd->waiters[i], 0, sizeof(hd->waiters[i]));
			hd->waiters[i].used = true;
			return &hd->waiters[i];
		}
	return NULL;
}

static void hd_waiter_free(struct hd *hd, struct hwaiter *w)
{
	if (w->hash_watch)
		hd->n_hash_waiters--;
	else
		hd->n_sync_waiters--;
	if (w->timer)
		ev_timer_del(hd->d->ev, w->timer);
	free(w->id);
	free(w->hash);
	memset(w, 0, sizeof(*w));
}

static void hd_reply_service(struct hd *hd, const struct ipc_from *from, const char *id)
{
	struct hsvc *s = hd_svc(hd, id);
	struct msg r;

	memset(&r, 0, sizeof(r));
	r.type = MSG_SERVICE_GET_REPLY;
	if (s != NULL) {
		char *mid = hdef_service_maint_id(id);

		r.u.service_get_reply.found = true;
		r.u.service_get_reply.service = s->as;
		r.u.service_get_reply.service.maintenance = hd_chk(hd, mid) != NULL;
		free(mid);
	}
	ipc_reply(hd->d->rpc, from, &r);
}

static void hd_waiter_fire(struct ev *ev, void *arg)
{
	struct hwaiter *w = arg;
	struct hd *hd = &healthd_state;

	(void)ev;
	w->timer = 0;
	if (w->hash_watch)
		hd_reply_service(hd, &w->from, w->id);
	else
		ipc_reply_result(hd->d->rpc, &w->from, 200, "");
	hd_waiter_free(hd, w);
}

/* Answers a registration once the catalog has it, or after the deadline
 * (it stays local then, and anti-entropy retries: spec §3.12). */
static void hd_wait_sync(struct hd *hd, const struct ipc_from *from, uint64_t gen)
{
	struct hwaiter *w;

	if (hd->gen_done >= gen || (w = hd_waiter_new(hd)) == NULL) {
		ipc_reply_result(hd->d->rpc, from, 200, "");
		return;
	}
	w->from = *from;
	w->gen = gen;
	hd->n_sync_waiters++;
	w->timer = ev_timer_add(hd->d->ev, HEALTHD_SYNC_WAIT_MS, hd_waiter_fire, w);
}

void hd_sync_done(struct hd *hd)
{
	for (size_t i = 0; hd->n_sync_waiters > 0 && i < HEALTHD_WAITERS_MAX; i++) {
		struct hwaiter *w = &hd->waiters[i];

		if (w->used && !w->hash_watch && w->gen <= hd->gen_done) {
			ipc_reply_result(hd->d->rpc, &w->from, 200, "");
			hd_waiter_free(hd, w);
		}
	}
}

void hd_hash_waiters_wake(struct hd *hd, const char *service_id)
{
	for (size_t i = 0; hd->n_hash_waiters > 0 && i < HEALTHD_WAITERS_MAX; i++) {
		struct hwaiter *w = &hd->waiters[i];
		struct hsvc *s;

		if (!w->used || !w->hash_watch || strcmp(w->id, service_id) != 0)
			continue;
		s = hd_svc(hd, service_id);
		if (s != NULL && strcmp(s->as.content_hash, w->hash) == 0)
			continue;
		hd_reply_service(hd, &w->from, w->id);
		hd_waiter_free(hd, w);
	}
}

/* ---- the bus: ids 59-68 ---- */

static struct hdef_opts hd_opts(struct hd *hd, bool local)
{
	struct hdef_opts o = {hd->d->conf.node_name, hd->d->conf.enable_script_checks,
	                      hd->d->conf.enable_local_script_checks, local};

	return o;
}

static void hd_agent_state(struct hd *hd, const struct ipc_from *from)
{
	size_t ns = omap_count(hd->svcs), nc = omap_count(hd->chks), i = 0;
	struct msg_agent_service *sv = xcalloc(ns + 1, sizeof(*sv));
	struct msg_agent_check *cv = xcalloc(nc + 1, sizeof(*cv));
	struct msg r;

	for (struct omap_node *it = omap_first(hd->svcs); it; it = omap_next(it), i++) {
		char *mid = hdef_service_maint_id(omap_key(it));

		sv[i] = ((struct hsvc *)omap_val(it))->as;
		sv[i].maintenance = hd_chk(hd, mid) != NULL;
		free(mid);
	}
	i = 0;
	for (struct omap_node *it = omap_first(hd->chks); it; it = omap_next(it), i++)
		cv[i] = ((struct hchk *)omap_val(it))->ac;
	memset(&r, 0, sizeof(r));
	r.type = MSG_AGENT_STATE_REPLY;
	r.u.agent_state_reply.services = (struct msg_agent_service_list){sv, (uint32_t)ns};
	r.u.agent_state_reply.checks = (struct msg_agent_check_list){cv, (uint32_t)nc};
	r.u.agent_state_reply.node_maintenance = hd_chk(hd, HDEF_NODE_MAINT_ID) != NULL;
	r.u.agent_state_reply.node = hd->d->conf.node_name;
	ipc_reply(hd->d->rpc, from, &r);
	free(sv);
	free(cv);
}

/* DEVELOPERS.md: no write is acknowledged that is not durable, and Consul answers 500 when it
 * cannot persist a registration. The entry's files are written before anything changes here, so
 * a failure leaves the agent as it was; hd_service_add / hd_check_add then write them again
 * with the state they carry over. */
static int hd_preflight_check(struct hd *hd, const struct msg_agent_check *ac, const char *token,
                              char *err, size_t err_size)
{
	struct buf b;
	const char *what = "encode";
	int rc;

	buf_init(&b, HSTORE_FILE_MAX);
	rc = hstore_encode_check(ac, token, 0, &b) != 0 ||
	             hstore_put(&hd->store, HSTORE_CHECK, ac->check.check_id, &b, &what) != 0
	         ? -1
	         : 0;
	buf_fini(&b);
	if (rc != 0)
		snprintf(err, err_size, "failed to persist check %.200s: %s", ac->check.check_id, what);
	return rc;
}

static int hd_preflight_service(struct hd *hd, const struct msg_agent_service *as,
                                const struct msg_agent_check_list *checks, const char *token,
                                char *err, size_t err_size)
{
	struct buf b;
	const char *what = "encode";
	int rc;

	buf_init(&b, HSTORE_FILE_MAX);
	rc = hstore_encode_service(as, token, &b) != 0 ||
	             hstore_put(&hd->store, HSTORE_SERVICE, as->service.id, &b, &what) != 0
	         ? -1
	         : 0;
	buf_fini(&b);
	if (rc != 0) {
		snprintf(err, err_size, "failed to persist service %.200s: %s", as->service.id, what);
		return -1;
	}
	for (uint32_t i = 0; i < checks->n; i++)
		if (hd_preflight_check(hd, &checks->v[i], token, err, err_size) != 0)
			return -1;
	return 0;
}

static void hd_service_register(struct hd *hd, const struct ipc_from *from,
                                struct msg_service_register *m)
{
	struct hdef_opts o = hd_opts(hd, false);
	char err[HDEF_ERR_MAX];
	int rc;

	if (omap_count(hd->svcs) >= HDEF_SERVICES_MAX &&
	    hd_svc(hd, m->service.service.id) == NULL) {
		ipc_reply_result(hd->d->rpc, from, 500, "too many services on this agent");
		return;
	}
	rc = hdef_service_prepare(&m->service, &m->checks, &o, err, sizeof(err));
	if (rc != 0) {
		ipc_reply_result(hd->d->rpc, from, (unsigned)rc, err);
		return;
	}
	if (omap_count(hd->chks) + m->checks.n > HDEF_CHECKS_MAX) {
		ipc_reply_result(hd->d->rpc, from, 500, "too many checks on this agent");
		return;
	}
	if (hd_preflight_service(hd, &m->service, &m->checks, m->token, err, sizeof(err)) != 0) {
		log_errorx("healthd: %s", err);
		ipc_reply_result(hd->d->rpc, from, 500, err);
		return;
	}
	log_debug("healthd: registering service %s", m->service.service.id);
	hd_service_add(hd, &m->service, &m->checks, m->token, m->replace_existing_checks, false,
	               true);
	hd_wait_sync(hd, from, hd->gen_req);
}

static void hd_unknown_service(struct hd *hd, const struct ipc_from *from, const char *id)
{
	char *err = xasprintf("Unknown service ID \"%s\". Ensure that the service ID is passed, "
	                      "not the service name.",
	                      id);

	ipc_reply_result(hd->d->rpc, from, 404, err);
	free(err);
}

static void hd_service_deregister(struct hd *hd, const struct ipc_from *from, const char *id)
{
	if (hd_svc(hd, id) == NULL) {
		hd_unknown_service(hd, from, id);
		return;
	}
	log_debug("healthd: deregistering service %s", id);
	hd_service_remove(hd, id, true);
	hd_wait_sync(hd, from, hd->gen_req);
}

static void hd_maintenance(struct hd *hd, const struct ipc_from *from,
                           const struct msg_maintenance *m)
{
	struct msg_agent_check c;
	char *cid;
	struct hsvc *s = NULL;

	if (!m->node) {
		if (*m->id == '\0') {
			ipc_reply_result(hd->d->rpc, from, 400, "Missing service ID");
			return;
		}
		s = hd_svc(hd, m->id);
		if (s == NULL) {
			hd_unknown_service(hd, from, m->id);
			return;
		}
	}
	cid = m->node ? xstrdup(HDEF_NODE_MAINT_ID) : hdef_service_maint_id(m->id);
	if (m->enable && hd_chk(hd, cid) == NULL) {
		if (m->node)
			hdef_node_maint(&c, hd->d->conf.node_name, m->reason);
		else
			hdef_service_maint(&c, hd->d->conf.node_name, &s->as.service, m->reason);
		log_info("healthd: %s%s entered maintenance mode", m->node ? "node" : "service ",
		         m->node ? "" : m->id);
		hd_check_add(hd, &c, "", false, true);
		hd_hash_waiters_wake(hd, m->id);
	} else if (!m->enable && hd_chk(hd, cid) != NULL) {
		log_info("healthd: %s%s left maintenance mode", m->node ? "node" : "service ",
		         m->node ? "" : m->id);
		hd_check_remove(hd, cid, true);
		hd_hash_waiters_wake(hd, m->id);
	}
	free(cid);
	hd_wait_sync(hd, from, hd->gen_req);
}

static void hd_check_register(struct hd *hd, const struct ipc_from *from,
                              struct msg_check_register *m)
{
	struct hdef_opts o = hd_opts(hd, false);
	struct hsvc *s = *m->check.check.service_id ? hd_svc(hd, m->check.check.service_id) : NULL;
	char err[HDEF_ERR_MAX];
	int rc;

	rc = hdef_check_prepare(&m->check, s ? &s->as.service : NULL, &o, err, sizeof(err));
	if (rc != 0) {
		ipc_reply_result(hd->d->rpc, from, (unsigned)rc, err);
		return;
	}
	if (omap_count(hd->chks) >= HDEF_CHECKS_MAX &&
	    hd_chk(hd, m->check.check.check_id) == NULL) {
		ipc_reply_result(hd->d->rpc, from, 500, "too many checks on this agent");
		return;
	}
	if (hd_preflight_check(hd, &m->check, m->token, err, sizeof(err)) != 0) {
		log_errorx("healthd: %s", err);
		ipc_reply_result(hd->d->rpc, from, 500, err);
		return;
	}
	log_debug("healthd: registering check %s", m->check.check.check_id);
	hd_check_add(hd, &m->check, m->token, false, true);
	hd_wait_sync(hd, from, hd->gen_req);
}

static void hd_check_deregister(struct hd *hd, const struct ipc_from *from, const char *id)
{
	if (hd_chk(hd, id) == NULL) {
		char *err =
		    xasprintf("Unknown check ID \"%s\". Ensure that the check ID is passed, "
		              "not the check name.",
		              id);

		ipc_reply_result(hd->d->rpc, from, 404, err);
		free(err);
		return;
	}
	hd_check_remove(hd, id, true);
	hd_wait_sync(hd, from, hd->gen_req);
}

static void hd_check_update_req(struct hd *hd, const struct ipc_from *from,
                                const struct msg_check_update *m)
{
	char err[HDEF_ERR_MAX];
	int rc;

	if (!hdef_status_valid(m->status)) {
		snprintf(err, sizeof(err), "Invalid check status: '%s'", m->status);
		ipc_reply_result(hd->d->rpc, from, 400, err);
		return;
	}
	rc = hd_ttl_update(hd, m->check_id, m->status, m->output, err, sizeof(err));
	if (rc != 0) {
		ipc_reply_result(hd->d->rpc, from, (unsigned)rc, err);
		return;
	}
	hd_wait_sync(hd, from, hd->gen_req);
}

static void hd_service_get(struct hd *hd, const struct ipc_from *from,
                           const struct msg_service_get *m)
{
	struct hsvc *s = hd_svc(hd, m->id);
	struct hwaiter *w;
	uint64_t wait = m->wait_ms ? m->wait_ms : HEALTHD_HASH_WAIT_MS;

	if (*m->hash == '\0' || s == NULL || strcmp(s->as.content_hash, m->hash) != 0 ||
	    (w = hd_waiter_new(hd)) == NULL) {
		hd_reply_service(hd, from, m->id);
		return;
	}
	if (wait > HEALTHD_HASH_WAIT_MAX_MS)
		wait = HEALTHD_HASH_WAIT_MAX_MS;
	w->hash_watch = true;
	hd->n_hash_waiters++;
	w->from = *from;
	w->id = xstrdup(m->id);
	w->hash = xstrdup(m->hash);
	w->timer = ev_timer_add(hd->d->ev, wait, hd_waiter_fire, w);
}

static bool healthd_request(struct daemon *d, const struct ipc_from *from, struct msg *m)
{
	struct hd *hd = d->priv;

	if (hd == NULL)
		return false;
	switch (m->type) {
	case MSG_AGENT_STATE:
		hd_agent_state(hd, from);
		return true;
	case MSG_SERVICE_REGISTER:
		hd_service_register(hd, from, &m->u.service_register);
		return true;
	case MSG_SERVICE_DEREGISTER:
		hd_service_deregister(hd, from, m->u.service_deregister.id);
		return true;
	case MSG_MAINTENANCE:
		hd_maintenance(hd, from, &m->u.maintenance);
		return true;
	case MSG_CHECK_REGISTER:
		hd_check_register(hd, from, &m->u.check_register);
		return true;
	case MSG_CHECK_DEREGISTER:
		hd_check_deregister(hd, from, m->u.check_deregister.check_id);
		return true;
	case MSG_CHECK_UPDATE:
		hd_check_update_req(hd, from, &m->u.check_update);
		return true;
	case MSG_SERVICE_GET:
		hd_service_get(hd, from, &m->u.service_get);
		return true;
	default:
		return false;
	}
}

/* ---- config-file definitions (services/checks, common/conf.h) ---- */

struct hd_cfg {
	struct msg_agent_service *svcs;
	struct msg_agent_check_list *svc_checks;
	size_t n_svcs;
	struct msg_agent_check *chks;
	size_t n_chks;
};

static void hd_cfg_free(struct hd_cfg *cf)
{
	for (size_t i = 0; i < cf->n_svcs; i++) {
		msg_rec_free_agent_service(&cf->svcs[i]);
		for (uint32_t k = 0; k < cf->svc_checks[i].n; k++)
			msg_rec_free_agent_check(&cf->svc_checks[i].v[k]);
		free(cf->svc_checks[i].v);
	}
	for (size_t i = 0; i < cf->n_chks; i++)
		msg_rec_free_agent_check(&cf->chks[i]);
	free(cf->svcs);
	free(cf->svc_checks);
	free(cf->chks);
	memset(cf, 0, sizeof(*cf));
}

static bool hd_cfg_has_svc(const struct hd_cfg *cf, const char *id)
{
	for (size_t i = 0; i < cf->n_svcs; i++)
		if (strcmp(cf->svcs[i].service.id, id) == 0)
			return true;
	return false;
}

static bool hd_cfg_has_chk(const struct hd_cfg *cf, const char *id)
{
	for (size_t i = 0; i < cf->n_chks; i++)
		if (strcmp(cf->chks[i].check.check_id, id) == 0)
			return true;
	for (size_t i = 0; i < cf->n_svcs; i++)
		for (uint32_t k = 0; k < cf->svc_checks[i].n; k++)
			if (strcmp(cf->svc_checks[i].v[k].check.check_id, id) == 0)
				return true;
	return false;
}

/* Decodes and validates every definition; strict: the first bad one fails
 * (a reload is then refused with its reason; at start it is logged and the
 * valid ones are kept). */
static int hd_cfg_read(struct hd *hd, const struct conf *c, struct hd_cfg *cf, bool strict,
                       char *err, size_t err_size)
{
	struct hdef_opts o = hd_opts(hd, true);
	char why[HDEF_ERR_MAX];
	int rc = 0;

	memset(cf, 0, sizeof(*cf));
	cf->svcs = xcalloc(c->services.n + 1, sizeof(*cf->svcs));
	cf->svc_checks = xcalloc(c->services.n + 1, sizeof(*cf->svc_checks));
	cf->chks = xcalloc(c->checks.n + 1, sizeof(*cf->chks));
	for (size_t i = 0; i < c->services.n; i++) {
		struct msg_agent_service *s = &cf->svcs[cf->n_svcs];
		struct msg_agent_check_list *l = &cf->svc_checks[cf->n_svcs];

		if (hjdef_service(c->services.v[i], s, l, why, sizeof(why)) != 0 ||
		    hdef_service_prepare(s, l, &o, why, sizeof(why)) != 0) {
			snprintf(err, err_size, "services[%zu]: %s", i, why);
			log_errorx("healthd: config: %s", err);
			msg_rec_free_agent_service(s);
			for (uint32_t k = 0; k < l->n; k++)
				msg_rec_free_agent_check(&l->v[k]);
			free(l->v);
			memset(l, 0, sizeof(*l));
			rc = -1;
			if (strict)
				return -1;
			continue;
		}
		cf->n_svcs++;
	}
	for (size_t i = 0; i < c->checks.n; i++) {
		struct msg_agent_check *k = &cf->chks[cf->n_chks];
		const struct msg_service *svc = NULL;

		int drc = hjdef_check(c->checks.v[i], k, why, sizeof(why));

		if (drc == 0 && *k->check.service_id) {
			struct hsvc *hs = hd_svc(hd, k->check.service_id);

			for (size_t x = 0; x < cf->n_svcs && svc == NULL; x++)
				if (strcmp(cf->svcs[x].service.id, k->check.service_id) == 0)
					svc = &cf->svcs[x].service;
			if (svc == NULL && hs != NULL)
				svc = &hs->as.service;
		}
		if (drc != 0 || hdef_check_prepare(k, svc, &o, why, sizeof(why)) != 0) {
			snprintf(err, err_size, "checks[%zu]: %s", i, why);
			log_errorx("healthd: config: %s", err);
			msg_rec_free_agent_check(k);
			rc = -1;
			if (strict)
				return -1;
			continue;
		}
		cf->n_chks++;
	}
	return rc;
}

/* Config-file entries replace the previous config's: gone ones are
 * removed, the others registered again (their check states kept). */
static void hd_cfg_apply(struct hd *hd, struct hd_cfg *cf)
{
	for (struct omap_node *it = omap_first(hd->chks), *next; it; it = next) {
		struct hchk *c = omap_val(it);

		next = omap_next(it);
		if (c->from_config && !hd_cfg_has_chk(cf, omap_key(it)))
			hd_check_remove(hd, omap_key(it), false);
	}
	for (struct omap_node *it = omap_first(hd->svcs), *next; it; it = next) {
		struct hsvc *s = omap_val(it);

		next = omap_next(it);
		if (s->from_config && !hd_cfg_has_svc(cf, omap_key(it)))
			hd_service_remove(hd, omap_key(it), false);
	}
	for (size_t i = 0; i < cf->n_svcs; i++) {
		/* a config service wins over one registered through the API */
		hstore_del(&hd->store, HSTORE_SERVICE, cf->svcs[i].service.id);
		hd_service_add(hd, &cf->svcs[i], &cf->svc_checks[i], "", false, true, false);
	}
	for (size_t i = 0; i < cf->n_chks; i++)
		if (!*cf->chks[i].check.service_id || hd_svc(hd, cf->chks[i].check.service_id))
			hd_check_add(hd, &cf->chks[i], "", true, false);
}

/* ---- the daemon ---- */

static int healthd_start(struct daemon *d)
{
	struct hd *hd = &healthd_state;
	const struct conf *c = &d->conf;
	char err[512], *dir;
	struct hd_cfg cf;

	memset(hd, 0, sizeof(*hd));
	hd->d = d;
	hd->seed = daemon_random64();
	d->priv = hd;
	hd_local_init(hd);
	dir = c->data_dir && *c->data_dir ? xstrdup(c->data_dir)
	                                  : xasprintf("%s/healthd", d->run_dir);
	if (hstore_open(&hd->store, dir, err, sizeof(err)) != 0) {
		log_errorx("healthd: %s", err);
		free(dir);
		return -1;
	}
	free(dir);
	hd_node_build(hd);
	hd_sync_start(hd);
	hd_cfg_read(hd, c, &cf, false, err, sizeof(err));
	hd_cfg_apply(hd, &cf);
	hd_cfg_free(&cf);
	hd_load_persisted(hd);
	hd_reap_arm(hd);
	return 0;
}

static void healthd_stop(struct daemon *d)
{
	struct hd *hd = d->priv;

	if (hd == NULL)
		return;
	for (size_t i = 0; i < HEALTHD_WAITERS_MAX; i++)
		if (hd->waiters[i].used)
			hd_waiter_free(hd, &hd->waiters[i]);
	hd_sync_stop(hd);
	hd_local_fini(hd);
	hstore_close(&hd->store);
	d->priv = NULL;
}

static int healthd_reload(struct daemon *d, const struct conf *old, char *err, size_t err_size)
{
	struct hd *hd = d->priv;
	struct hd_cfg cf;

	(void)old;
	if (hd == NULL)
		return 0;
	if (hd_cfg_read(hd, &d->conf, &cf, true, err, err_size) != 0) {
		hd_cfg_free(&cf);
		return -1;
	}
	hd_local_reload(hd);
	hd_cfg_apply(hd, &cf);
	hd_cfg_free(&cf);
	hd_node_build(hd);
	hd_reap_arm(hd);
	hd_sync_trigger(hd);
	return 0;
}

static void healthd_stats(struct daemon *d, struct msg_daemon_stats *out)
{
	struct hd *hd = d->priv;

	if (hd == NULL)
		return;
	daemon_stat_add(out, "services", 0, (double)omap_count(hd->svcs));
	daemon_stat_add(out, "checks", 0, (double)omap_count(hd->chks));
	daemon_stat_add(out, "scheduled_checks", 0, (double)sched_count(hd->sched));
	daemon_stat_add(out, "syncs_ok", 1, (double)hd->st.syncs_ok);
	daemon_stat_add(out, "syncs_failed", 1, (double)hd->st.syncs_failed);
	daemon_stat_add(out, "full_syncs", 1, (double)hd->st.full_syncs);
	daemon_stat_add(out, "catalog_writes", 1, (double)hd->st.catalog_writes);
	daemon_stat_add(out, "reaped", 1, (double)hd->st.reaped);
	daemon_stat_add(out, "ttl_expired", 1, (double)hd->st.ttl_expired);
	daemon_stat_add(out, "probes_started", 1, (double)hd->st.probes_started);
	daemon_stat_add(out, "probes_refused", 1, (double)hd->st.probes_refused);
	daemon_stat_add(out, "check_events", 1, (double)hd->st.events);
}

static const struct daemon_ops healthd_ops = {
    .name = "healthd",
    .start = healthd_start,
    .stop = healthd_stop,
    .reload = healthd_reload,
    .request = healthd_request,
    .stats = healthd_stats,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &healthd_ops);
}

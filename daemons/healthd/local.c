/* local.c: healthd's local state (services, checks), its persistence, and the check runners: TTL,
 * alias, probes, the reaper. */
#include "healthd.h"

#include "ev.h"
#include "hdef.h"
#include "log.h"
#include "prng.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "probe.h"

uint64_t hd_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t hd_rand(struct hd *hd, uint64_t n)
{
	return n ? prng_next(&hd->seed) % n : 0;
}

static uint64_t hd_now(struct hd *hd)
{
	return ev_now_ms(hd->d->ev);
}

struct hsvc *hd_svc(struct hd *hd, const char *id)
{
	return omap_get(hd->svcs, id);
}

struct hchk *hd_chk(struct hd *hd, const char *id)
{
	return omap_get(hd->chks, id);
}

/* ---- persistence ---- */

void hd_persist_service(struct hd *hd, struct hsvc *s)
{
	struct buf b;
	const char *what = "encode";

	buf_init(&b, HSTORE_FILE_MAX);
	if (hstore_encode_service(&s->as, s->token, &b) != 0 ||
	    hstore_put(&hd->store, HSTORE_SERVICE, s->as.service.id, &b, &what) != 0)
		log_warn("healthd: service %s: cannot persist (%s)", s->as.service.id, what);
	buf_fini(&b);
}

void hd_persist_check(struct hd *hd, struct hchk *c)
{
	struct buf b;
	const char *what = "encode";

	buf_init(&b, HSTORE_FILE_MAX);
	if (hstore_encode_check(&c->ac, c->token, c->ttl_expires_unix_ms, &b) != 0 ||
	    hstore_put(&hd->store, HSTORE_CHECK, c->ac.check.check_id, &b, &what) != 0)
		log_warn("healthd: check %s: cannot persist (%s)", c->ac.check.check_id, what);
	buf_fini(&b);
}

/* ---- events ---- */

static void hd_publish(struct hd *hd, const char *previous, const struct hchk *c)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_CHECK_EVENT;
	m.u.check_event.epoch = hd->d->epoch;
	m.u.check_event.previous = (char *)previous;
	m.u.check_event.check = c->ac;
	ipc_publish(hd->d->pub, &m);
	hd->st.events++;
}

/* ---- runners ---- */

struct hd_probe_arg {
	struct hd *hd;
	char *id;
};

static void hd_runner_stop(struct hd *hd, struct hchk *c)
{
	struct ev *ev = hd->d->ev;

	if (c->ttl_timer)
		ev_timer_del(ev, c->ttl_timer);
	if (c->alias_timer)
		ev_timer_del(ev, c->alias_timer);
	if (c->defer_timer)
		ev_timer_del(ev, c->defer_timer);
	c->ttl_timer = c->alias_timer = c->defer_timer = 0;
	c->alias_gen++;
	if (c->probe) {
		probe_cancel(c->probe); /* no callback: its argument is ours to free */
		sched_running(hd->sched, c->ac.check.check_id, false);
		free(c->probe_arg->id);
		free(c->probe_arg);
	}
	c->probe = NULL;
	c->probe_arg = NULL;
	if (hd->sched && sched_has(hd->sched, c->ac.check.check_id))
		sched_remove(hd->sched, c->ac.check.check_id);
}

static void hd_check_free(void *p)
{
	struct hchk *c = p;

	if (c == NULL)
		return;
	hd_runner_stop(c->hd, c);
	msg_rec_free_agent_check(&c->ac);
	free(c->token);
	free(c->ttl_last_output);
	free(c);
}

static void hd_service_free(void *p)
{
	struct hsvc *s = p;

	if (s == NULL)
		return;
	msg_rec_free_agent_service(&s->as);
	free(s->token);
	free(s);
}

static void hd_ttl_expired(struct ev *ev, void *arg)
{
	struct hchk *c = arg;
	char *out;

	(void)ev;
	c->ttl_timer = 0;
	log_warnx("healthd: check %s missed its TTL, is now critical", c->ac.check.check_id);
	c->hd->st.ttl_expired++;
	/* Consul's CheckTTL.getExpiredOutput */
	if (c->ttl_last_output == NULL || *c->ttl_last_output == '\0')
		out = xstrdup("TTL expired");
	else
		out = xasprintf("TTL expired (last output before timeout follows): %s",
		                c->ttl_last_output);
	hd_check_update(c->hd, c, "critical", out);
	free(out);
}

static void hd_ttl_arm(struct hd *hd, struct hchk *c, uint64_t delay_ms)
{
	if (c->ttl_timer)
		ev_timer_del(hd->d->ev, c->ttl_timer);
	c->ttl_timer = ev_timer_add(hd->d->ev, delay_ms, hd_ttl_expired, c);
}

static uint64_t hd_ns_ms(uint64_t ns)
{
	return ns / 1000000 + (ns % 1000000 ? 1 : 0);
}

/* A remote alias (AliasNode set): Consul's CheckAlias.runQuery, a
 * blocking read of that node's checks, then its processChecks. */
static void hd_alias_query(struct hd *hd, struct hchk *c);

static void hd_alias_retry(struct ev *ev, void *arg)
{
	struct hchk *c = arg;

	(void)ev;
	c->alias_timer = 0;
	hd_alias_query(c->hd, c);
}

struct hd_alias_call {
	struct hd *hd;
	char *id;
	uint64_t gen;
};

/* Consul's CheckAlias.processChecks: the worst status among the target's
 * checks (and its node's), critical when the service is not there. */
static void hd_alias_eval(const struct msg_check *const *checks, size_t n, const char *node,
                          const char *service, const char *self, bool service_known, char **status,
                          char **output)
{
	const char *health = "passing";
	char *msg = xstrdup("No checks found.");
	bool found = false;

	for (size_t i = 0; i < n; i++) {
		const struct msg_check *k = checks[i];
		bool match;

		if (self != NULL && strcmp(k->check_id, self) == 0)
			continue;
		if (*node && strcasecmp(node, k->node) != 0)
			continue;
		match = *service && strcmp(k->service_id, service) == 0;
		if (*k->service_id && !match && *service)
			continue;
		if (match)
			found = true;
		if (strcmp(k->status, "critical") == 0 || strcmp(k->status, "warning") == 0) {
			health = strcmp(k->status, "critical") == 0 ? "critical" : "warning";
			free(msg);
			msg = xasprintf("Aliased check \"%s\" failing: %s", k->name, k->output);
			if (strcmp(k->status, "critical") == 0)
				break;
		} else if (strcmp(health, "passing") == 0) {
			free(msg);
			msg = xstrdup("All checks passing.");
		}
	}
	if (*service && !found && !service_known) {
		health = "critical";
		free(msg);
		msg = xasprintf("Service %s could not be found on node %s", service, node);
	}
	*status = xstrdup(health);
	*output = msg;
}

static void hd_alias_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	struct hd_alias_call *call = arg;
	struct hd *hd = call->hd;
	struct hchk *c = st == IPC_CANCELLED ? NULL : hd_chk(hd, call->id);

	if (c == NULL || c->alias_gen != call->gen) {
		free(call->id);
		free(call);
		return;
	}
	c->alias_call = false;
	if (st == IPC_OK && reply->type == MSG_CHECKS_REPLY) {
		const struct msg_checks_reply *r = &reply->u.checks_reply;
		const struct msg_check **v = xcalloc(r->checks.n ? r->checks.n : 1, sizeof(*v));
		const struct msg_check_def *df = &c->ac.check.definition;
		char *status, *output;

		for (uint32_t i = 0; i < r->checks.n; i++)
			v[i] = &r->checks.v[i];
		hd_alias_eval(v, r->checks.n, df->alias_node, df->alias_service,
		              c->ac.check.check_id, false, &status, &output);
		free(v);
		c->alias_index = r->meta.index < c->alias_index ? 0 : r->meta.index;
		hd_check_update(hd, c, status, output);
		free(status);
		free(output);
		hd_alias_query(hd, c);
	} else {
		c->alias_timer = ev_timer_add(hd->d->ev, HEALTHD_ALIAS_RETRY_MS, hd_alias_retry, c);
	}
	free(call->id);
	free(call);
}

static void hd_alias_query(struct hd *hd, struct hchk *c)
{
	struct hd_alias_call *call = xcalloc(1, sizeof(*call));
	struct msg m;

	if (c->alias_call)
		return;
	call->hd = hd;
	call->id = xstrdup(c->ac.check.check_id);
	call->gen = c->alias_gen;
	memset(&m, 0, sizeof(m));
	m.type = MSG_HEALTH_CHECKS;
	m.u.health_checks.q.consistency = 1; /* stale: Consul's alias reads AllowStale */
	m.u.health_checks.q.min_index = c->alias_index;
	m.u.health_checks.q.wait_ms = HEALTHD_ALIAS_WAIT_MS;
	m.u.health_checks.node = c->ac.check.definition.alias_node;
	if (ipc_call(hd->raftd, &m, HEALTHD_ALIAS_WAIT_MS + HEALTHD_RAFTD_CALL_MS, hd_alias_reply,
	             call) != 0) {
		free(call->id);
		free(call);
		c->alias_timer = ev_timer_add(hd->d->ev, HEALTHD_ALIAS_RETRY_MS, hd_alias_retry, c);
		return;
	}
	c->alias_call = true;
}

/* Local aliases (AliasNode ""): Consul's runLocal, re-evaluated whenever a
 * local check or service changes. */
static void hd_alias_local_run(struct ev *ev, void *arg)
{
	struct hd *hd = arg;
	size_t n = omap_count(hd->chks), k = 0;
	const struct msg_check **all = xcalloc(n ? n : 1, sizeof(*all));

	(void)ev;
	hd->alias_timer = 0;
	for (struct omap_node *it = omap_first(hd->chks); it; it = omap_next(it))
		all[k++] = &((struct hchk *)omap_val(it))->ac.check;
	for (struct omap_node *it = omap_first(hd->chks); it; it = omap_next(it)) {
		struct hchk *c = omap_val(it);
		const struct msg_check_def *df = &c->ac.check.definition;
		char *status, *output;

		if (c->runner != HCHK_ALIAS || *df->alias_node)
			continue;
		hd_alias_eval(all, k, "", df->alias_service, c->ac.check.check_id,
		              hd_svc(hd, df->alias_service) != NULL, &status, &output);
		hd_check_update(hd, c, status, output);
		free(status);
		free(output);
	}
	free(all);
}

void hd_alias_dirty(struct hd *hd)
{
	if (hd->alias_timer == 0)
		hd->alias_timer = ev_timer_add(hd->d->ev, 0, hd_alias_local_run, hd);
}

static void hd_sched_arm(struct hd *hd);

static void hd_probe_done(void *arg, enum probe_status st, const char *output, size_t len)
{
	struct hd_probe_arg *pa = arg;
	struct hd *hd = pa->hd;
	struct hchk *c = hd_chk(hd, pa->id);

	if (c != NULL) {
		struct sched_thresh t = {c->ac.success_before_passing,
		                         c->ac.failures_before_warning,
		                         c->ac.failures_before_critical};
		int now =
		    sched_status(&t, &c->counts, hdef_status_num(c->ac.check.status), (int)st);
		char *out = xmalloc(len + 1);

		memcpy(out, output, len);
		out[len] = '\0';
		c->probe = NULL;
		c->probe_arg = NULL;
		sched_running(hd->sched, pa->id, false);
		hd_check_update(hd, c, hdef_status_name(now), out);
		free(out);
	}
	free(pa->id);
	free(pa);
}

static void hd_sched_run(struct ev *ev, void *arg)
{
	struct hd *hd = arg;
	const char *ids[HEALTHD_DUE_PER_TURN];
	size_t n;

	(void)ev;
	hd->sched_timer = 0;
	n = sched_due(hd->sched, hd_now(hd), ids, HEALTHD_DUE_PER_TURN);
	for (size_t i = 0; i < n; i++) {
		struct hchk *c = hd_chk(hd, ids[i]);
		const struct msg_check_def *df;
		struct hd_probe_arg *pa;
		const char *why = NULL;
		uint64_t timeout_ms;

		if (c == NULL || c->probe != NULL)
			continue;
		df = &c->ac.check.definition;
		timeout_ms =
		    df->timeout_ns ? hd_ns_ms(df->timeout_ns) : 0; /* 0: the kind's default */
		pa = xcalloc(1, sizeof(*pa));
		pa->hd = hd;
		pa->id = xstrdup(c->ac.check.check_id);
		c->probe = probe_start(hd->probes, df, timeout_ms, hdef_output_max(df),
		                       hd_probe_done, pa, &why);
		if (c->probe == NULL) {
			free(pa->id);
			free(pa);
			hd->st.probes_refused++;
			if (probe_running(hd->probes) < HEALTHD_PROBES_MAX && why != NULL)
				hd_check_update(hd, c, "critical", why);
			continue;
		}
		c->probe_arg = pa;
		hd->st.probes_started++;
		sched_running(hd->sched, c->ac.check.check_id, true);
	}
	hd_sched_arm(hd);
}

static void hd_sched_arm(struct hd *hd)
{
	uint64_t at = sched_next_deadline(hd->sched), now = hd_now(hd);

	if (hd->sched_timer && hd->sched_timer_at == at)
		return;
	if (hd->sched_timer)
		ev_timer_del(hd->d->ev, hd->sched_timer);
	hd->sched_timer = 0;
	if (at == UINT64_MAX)
		return;
	hd->sched_timer_at = at;
	hd->sched_timer = ev_timer_add(hd->d->ev, at > now ? at - now : 0, hd_sched_run, hd);
}

/* Starts what keeps a check's status current. */
static void hd_runner_start(struct hd *hd, struct hchk *c)
{
	const struct msg_check_def *df = &c->ac.check.definition;
	const char *type = c->ac.check.type;

	c->runner = HCHK_NONE;
	if (strcmp(type, "ttl") == 0) {
		uint64_t now = hd_unix_ms(), ttl = hd_ns_ms(df->ttl_ns);

		c->runner = HCHK_TTL;
		if (c->ttl_expires_unix_ms > now)
			hd_ttl_arm(hd, c, c->ttl_expires_unix_ms - now);
		else
			hd_ttl_arm(hd, c, ttl);
	} else if (strcmp(type, "alias") == 0) {
		c->runner = HCHK_ALIAS;
		if (*df->alias_node)
			hd_alias_query(hd, c);
		else
			hd_alias_dirty(hd);
	} else if (hdef_is_interval(df)) {
		uint64_t iv = hd_ns_ms(df->interval_ns);
		struct sched_thresh t = {c->ac.success_before_passing,
		                         c->ac.failures_before_warning,
		                         c->ac.failures_before_critical};

		if (iv < HDEF_MIN_INTERVAL_MS) {
			log_warnx("healthd: check %s has interval below minimum of 1s",
			          c->ac.check.check_id);
			iv = HDEF_MIN_INTERVAL_MS;
		}
		c->runner = HCHK_PROBE;
		sched_counts_init(&t, &c->counts);
		sched_add(hd->sched, c->ac.check.check_id, iv, hd_now(hd));
		hd_sched_arm(hd);
	}
}

/* ---- changes ---- */

static void hd_mark(struct hd *hd, struct hchk *c)
{
	c->in_sync = false;
	c->version++;
	(void)hd;
}

static void hd_critical_track(struct hd *hd, struct hchk *c)
{
	if (strcmp(c->ac.check.status, "critical") == 0) {
		if (c->critical_since_ms == 0)
			c->critical_since_ms = hd_now(hd) ? hd_now(hd) : 1;
	} else {
		c->critical_since_ms = 0;
	}
}

static void hd_defer_fire(struct ev *ev, void *arg)
{
	struct hchk *c = arg;

	(void)ev;
	c->defer_timer = 0;
	hd_mark(c->hd, c);
	hd_sync_trigger(c->hd);
}

void hd_check_update(struct hd *hd, struct hchk *c, const char *status, const char *output)
{
	const struct conf *conf = &hd->d->conf;
	char *prev;

	if (strcmp(c->ac.check.status, status) == 0 && strcmp(c->ac.check.output, output) == 0) {
		hd_critical_track(hd, c);
		return;
	}
	if (conf->check_update_interval_ms > 0 && strcmp(c->ac.check.status, status) == 0) {
		/* Consul's UpdateCheck: output-only changes are written back
		 * after check_update_interval/2 + a random stagger up to it. */
		hdef_set_str(&c->ac.check.output, output);
		if (c->defer_timer == 0) {
			uint64_t d = conf->check_update_interval_ms;

			c->defer_timer =
			    ev_timer_add(hd->d->ev, d / 2 + hd_rand(hd, d), hd_defer_fire, c);
		}
		return;
	}
	prev = xstrdup(c->ac.check.status);
	hdef_set_str(&c->ac.check.status, status);
	hdef_set_str(&c->ac.check.output, output);
	hd_critical_track(hd, c);
	hd_mark(hd, c);
	if (strcmp(prev, status) != 0) {
		log_debug("healthd: check %s is now %s", c->ac.check.check_id, status);
		hd_publish(hd, prev, c);
		hd_alias_dirty(hd);
	}
	free(prev);
	hd_sync_trigger(hd);
}

/* Adds or replaces one check; the state of an existing one carries over
 * (Consul snapshots check state around a re-registration). */
static struct hchk *hd_check_put(struct hd *hd, struct msg_agent_check *ac, const char *token,
                                 bool from_config, bool persist, uint64_t ttl_expires)
{
	struct hchk *old = hd_chk(hd, ac->check.check_id), *c = xcalloc(1, sizeof(*c));
	const char *prev = NULL;
	void *replaced = NULL;

	c->hd = hd;
	c->ac = *ac;
	memset(ac, 0, sizeof(*ac));
	c->token = xstrdup(token);
	c->from_config = from_config;
	c->ttl_expires_unix_ms = ttl_expires;
	if (old != NULL) {
		hdef_set_str(&c->ac.check.status, old->ac.check.status);
		hdef_set_str(&c->ac.check.output, old->ac.check.output);
		c->critical_since_ms = old->critical_since_ms;
		c->version = old->version;
		c->counts = old->counts;
		if (old->ttl_last_output)
			c->ttl_last_output = xstrdup(old->ttl_last_output);
		if (strcmp(old->ac.check.type, "ttl") == 0)
			c->ttl_expires_unix_ms = old->ttl_expires_unix_ms;
		prev = old->ac.check.status;
	}
	hd_critical_track(hd, c);
	hd_mark(hd, c);
	if (prev == NULL || strcmp(prev, c->ac.check.status) != 0)
		hd_publish(hd, prev ? prev : "", c);
	if (omap_put(hd->chks, c->ac.check.check_id, c, &replaced) < 0)
		xalloc_fail(sizeof(*c));
	hd_check_free(replaced);
	omap_del(hd->del_chks, c->ac.check.check_id, NULL);
	hd_runner_start(hd, c);
	if (persist)
		hd_persist_check(hd, c);
	hd_alias_dirty(hd);
	return c;
}

void hd_check_add(struct hd *hd, struct msg_agent_check *ac, const char *token, bool from_config,
                  bool persist)
{
	hd_check_put(hd, ac, token, from_config, persist, 0);
	hd_sync_trigger(hd);
}

void hd_service_add(struct hd *hd, struct msg_agent_service *as,
                    struct msg_agent_check_list *checks, const char *token, bool replace_existing,
                    bool from_config, bool persist)
{
	struct hsvc *old = hd_svc(hd, as->service.id), *s = xcalloc(1, sizeof(*s));
	char hash[17], **ids;
	void *replaced = NULL;

	s->as = *as;
	memset(as, 0, sizeof(*as));
	s->token = xstrdup(token);
	s->from_config = from_config;
	s->version = old ? old->version + 1 : 1;
	s->as.maintenance = false;
	hdef_content_hash(&s->as, hash);
	hdef_set_str(&s->as.content_hash, hash);
	if (omap_put(hd->svcs, s->as.service.id, s, &replaced) < 0)
		xalloc_fail(sizeof(*s));
	hd_service_free(replaced);
	omap_del(hd->del_svcs, s->as.service.id, NULL);
	/* the service's existing checks see its new name and tags */
	for (struct omap_node *it = omap_first(hd->chks); it; it = omap_next(it)) {
		struct hchk *c = omap_val(it);

		if (strcmp(c->ac.check.service_id, s->as.service.id) == 0)
			hdef_check_bind(&c->ac, &s->as.service);
	}
	ids = xcalloc(checks->n ? checks->n : 1, sizeof(*ids));
	for (uint32_t i = 0; i < checks->n; i++) {
		ids[i] = xstrdup(checks->v[i].check.check_id);
		hd_check_put(hd, &checks->v[i], token, from_config, persist, 0);
	}
	/* ?replace-existing-checks: the service's checks not listed go */
	for (struct omap_node *it = omap_first(hd->chks), *next; replace_existing && it;
	     it = next) {
		struct hchk *c = omap_val(it);
		bool keep = false;

		next = omap_next(it);
		if (strcmp(c->ac.check.service_id, s->as.service.id) != 0)
			continue;
		for (uint32_t i = 0; i < checks->n && !keep; i++)
			keep = strcmp(ids[i], omap_key(it)) == 0;
		if (!keep)
			hd_check_remove(hd, omap_key(it), persist);
	}
	for (uint32_t i = 0; i < checks->n; i++)
		free(ids[i]);
	free(ids);
	if (persist)
		hd_persist_service(hd, s);
	hd_alias_dirty(hd);
	hd_hash_waiters_wake(hd, s->as.service.id);
	hd_sync_trigger(hd);
}

void hd_check_remove(struct hd *hd, const char *id, bool persist)
{
	struct hchk *c = hd_chk(hd, id);
	char *key;

	if (c == NULL)
		return;
	key = xstrdup(id);
	omap_put(hd->del_chks, key, NULL, NULL);
	omap_del(hd->chks, key, NULL);
	if (persist)
		hstore_del(&hd->store, HSTORE_CHECK, key);
	free(key);
	hd_alias_dirty(hd);
	hd_sync_trigger(hd);
}

void hd_service_remove(struct hd *hd, const char *id, bool persist)
{
	char *key;

	if (hd_svc(hd, id) == NULL)
		return;
	key = xstrdup(id);
	for (struct omap_node *it = omap_first(hd->chks), *next; it; it = next) {
		struct hchk *c = omap_val(it);

		next = omap_next(it);
		if (strcmp(c->ac.check.service_id, key) == 0)
			hd_check_remove(hd, omap_key(it), persist);
	}
	omap_put(hd->del_svcs, key, NULL, NULL);
	omap_del(hd->svcs, key, NULL);
	if (persist)
		hstore_del(&hd->store, HSTORE_SERVICE, key);
	hd_hash_waiters_wake(hd, key);
	free(key);
	hd_alias_dirty(hd);
	hd_sync_trigger(hd);
}

int hd_ttl_update(struct hd *hd, const char *id, const char *status, const char *output, char *err,
                  size_t err_size)
{
	struct hchk *c = hd_chk(hd, id);
	char *out;

	if (c == NULL) {
		snprintf(
		    err, err_size,
		    "Unknown check ID \"%s\". Ensure that the check ID is passed, not the check "
		    "name.",
		    id);
		return 404;
	}
	if (c->runner != HCHK_TTL) {
		snprintf(err, err_size, "CheckID \"%s\" does not have associated TTL", id);
		return 500;
	}
	out = hdef_output_cap(output, hdef_output_max(&c->ac.check.definition));
	hd_check_update(hd, c, status, out);
	free(c->ttl_last_output);
	c->ttl_last_output = out;
	hd_ttl_arm(hd, c, hd_ns_ms(c->ac.check.definition.ttl_ns));
	/* Consul's persistCheckState: the state and when it lapses. */
	c->ttl_expires_unix_ms = hd_unix_ms() + hd_ns_ms(c->ac.check.definition.ttl_ns);
	if (!c->from_config)
		hd_persist_check(hd, c);
	return 0;
}

/* ---- the reaper: DeregisterCriticalServiceAfter (Consul's reapServices) ---- */

static void hd_reap(struct ev *ev, void *arg)
{
	struct hd *hd = arg;
	const struct conf *conf = &hd->d->conf;
	uint64_t now = hd_now(hd);

	(void)ev;
	hd->reap_timer = 0;
	for (struct omap_node *it = omap_first(hd->chks), *next; it; it = next) {
		struct hchk *c = omap_val(it);
		uint64_t after =
		    hd_ns_ms(c->ac.check.definition.deregister_critical_service_after_ns);
		char *sid;

		next = omap_next(it);
		if (after == 0 || c->critical_since_ms == 0 || *c->ac.check.service_id == '\0')
			continue;
		if (after < conf->test_timings.check_deregister_interval_min_ms)
			after = conf->test_timings.check_deregister_interval_min_ms;
		if (now - c->critical_since_ms <= after)
			continue;
		sid = xstrdup(c->ac.check.service_id);
		log_info("healthd: check %s for service %s has been critical for too long; "
		         "deregistered service",
		         omap_key(it), sid);
		hd->st.reaped++;
		hd_service_remove(hd, sid, true);
		free(sid);
		next = omap_first(hd->chks); /* the removal may have taken any of them */
	}
	hd_reap_arm(hd);
}

void hd_reap_arm(struct hd *hd)
{
	uint64_t iv = hd->d->conf.test_timings.check_reap_interval_ms;

	if (hd->reap_timer)
		ev_timer_del(hd->d->ev, hd->reap_timer);
	hd->reap_timer = ev_timer_add(hd->d->ev, iv ? iv : 30000, hd_reap, hd);
}

/* ---- loading what was saved ---- */

static void hd_load_svc(void *arg, struct hstore_entry *e)
{
	struct hd *hd = arg;
	struct msg_agent_check_list none = {0};

	if (hd_svc(hd, e->svc.service.id) == NULL) { /* a config file's wins */
		hdef_set_str(&e->svc.service.node, hd->d->conf.node_name);
		hd_service_add(hd, &e->svc, &none, e->token, false, false, false);
	}
	hstore_entry_free(e);
}

static void hd_load_chk(void *arg, struct hstore_entry *e)
{
	struct hd *hd = arg;
	struct msg_check *k = &e->chk.check;
	uint64_t now = hd_unix_ms();

	if (hd_chk(hd, k->check_id) != NULL) {
		hstore_entry_free(e);
		return;
	}
	if (*k->service_id && hd_svc(hd, k->service_id) == NULL) {
		log_warnx("healthd: saved check %s names service %s, which is gone: dropped",
		          k->check_id, k->service_id);
		hstore_del(&hd->store, HSTORE_CHECK, k->check_id);
		hstore_entry_free(e);
		return;
	}
	hdef_set_str(&k->node, hd->d->conf.node_name);
	/* Consul's loadCheckState: a TTL state past its deadline is stale. */
	if (strcmp(k->type, "ttl") == 0 && e->ttl_expires_unix_ms != 0 &&
	    e->ttl_expires_unix_ms <= now) {
		hdef_set_str(&k->status, "critical");
		hdef_set_str(&k->output, "TTL expired");
		e->ttl_expires_unix_ms = 0;
	}
	hd_check_put(hd, &e->chk, e->token, false, false, e->ttl_expires_unix_ms);
	hstore_entry_free(e);
}

void hd_load_persisted(struct hd *hd)
{
	size_t bad = hstore_load(&hd->store, HSTORE_SERVICE, hd_load_svc, hd);

	bad += hstore_load(&hd->store, HSTORE_CHECK, hd_load_chk, hd);
	log_info("healthd: %zu services and %zu checks%s", omap_count(hd->svcs),
	         omap_count(hd->chks), bad ? " (some saved files were bad)" : "");
}

void hd_local_init(struct hd *hd)
{
	hd->svcs = omap_new(hd_service_free);
	hd->chks = omap_new(hd_check_free);
	hd->del_svcs = omap_new(NULL);
	hd->del_chks = omap_new(NULL);
	if (!hd->svcs || !hd->chks || !hd->del_svcs || !hd->del_chks)
		xalloc_fail(sizeof(*hd));
	hd->sched = sched_new(hd->seed);
	{
		struct probe_limits lim = {HEALTHD_PROBES_MAX,
		                           hd->d->conf.enable_script_checks ||
		                               hd->d->conf.enable_local_script_checks};

		hd->probes = probe_ctx_new(hd->d->ev, &lim);
	}
}

void hd_local_reload(struct hd *hd)
{
	struct probe_limits lim = {HEALTHD_PROBES_MAX, hd->d->conf.enable_script_checks ||
	                                                   hd->d->conf.enable_local_script_checks};

	if (hd->probes)
		probe_ctx_set_limits(hd->probes, &lim);
}

void hd_local_fini(struct hd *hd)
{
	omap_free(hd->chks); /* stops every runner */
	omap_free(hd->svcs);
	omap_free(hd->del_svcs);
	omap_free(hd->del_chks);
	probe_ctx_free(hd->probes);
	sched_free(hd->sched);
	if (hd->sched_timer)
		ev_timer_del(hd->d->ev, hd->sched_timer);
	if (hd->reap_timer)
		ev_timer_del(hd->d->ev, hd->reap_timer);
	if (hd->alias_timer)
		ev_timer_del(hd->d->ev, hd->alias_timer);
	hd->chks = hd->svcs = hd->del_svcs = hd->del_chks = NULL;
}

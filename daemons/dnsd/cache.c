/* cache.c: dnsd's view of the catalog, a bounded cache of raftd's replies
 * (spec/dns-cli-gossip-raft.md §1: answers come from raftd, stale allowed,
 * max_stale) invalidated by raftd's INDEX_BUMP publications. dns_answer()
 * reads the view synchronously, so a miss is reported as "unknown" for
 * this run, the key is fetched, and the caller re-runs the query when the
 * reply lands: an answer is only sent when every key it read was cached. */
#include "cache.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ev.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "xalloc.h"

#define DCACHE_BUCKETS 1024

/* K_PTR caches every node (reverse lookups scan addresses), K_LIST the
 * service names (a reverse lookup that no node matches scans the
 * services' instances next, spec §1.2). */
enum dkind { K_SVC = 'S', K_NODE = 'N', K_PTR = 'P', K_LIST = 'L' };
enum dstate { D_PENDING, D_READY, D_ERROR };

struct dentry {
	struct dentry *next; /* hash chain */
	struct dcache *c;
	char kind;
	char *name;
	enum dstate state;
	uint64_t gen;     /* the invalidation generation it was fetched in */
	uint64_t born_ms; /* when it became READY/ERROR */
	uint64_t used;    /* LRU tick */
	bool has_reply;
	struct msg reply;
	/* Service: the instances, pointing into reply. */
	struct dns_instance *inst;
	size_t ninst;
	uint8_t *checks;
	struct dns_kv *kvs;
	/* Node. */
	bool found;
	struct dns_node node;
};

struct dcache {
	struct ev *ev;
	const struct conf_dns *dns;
	struct ipc_client *raftd;
	struct ipc_sub *sub;
	char run_dir[256];
	dcache_ready_cb cb;
	void *cb_arg;
	struct dns_view view;
	struct dentry *b[DCACHE_BUCKETS];
	size_t count;
	size_t fetching;
	uint64_t gen;
	uint64_t tick;
	uint64_t run_tick; /* the tick when the current dns_answer() began */
	uint64_t raft_epoch;
	/* The subscription's proof of life (msg.def SUB_PROBE): live once a
	 * probe came back on the SUB; a round that does not come back within
	 * DCACHE_PROBE_MS makes it not live, and entries then age out after
	 * DCACHE_UNLIVE_MS instead of waiting for bumps that may be lost. */
	bool live;
	bool probe_seen;
	uint64_t probe_token;
	uint64_t probe_timer;
	bool missed;
	struct dcache_stats st;
};

static uint32_t dhash(char kind, const char *s)
{
	uint32_t h = 2166136261u ^ (uint8_t)kind;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % DCACHE_BUCKETS;
}

static void dentry_clear(struct dentry *e)
{
	if (e->has_reply)
		msg_free(&e->reply);
	e->has_reply = false;
	free(e->inst);
	free(e->checks);
	free(e->kvs);
	e->inst = NULL;
	e->checks = NULL;
	e->kvs = NULL;
	e->ninst = 0;
	e->found = false;
	memset(&e->node, 0, sizeof(e->node));
}

/* Unlinks and frees; a PENDING entry is only unlinked when its fetch
 * ends, so callers never pass one. */
static void dentry_remove(struct dcache *c, struct dentry *e)
{
	struct dentry **pp = &c->b[dhash(e->kind, e->name)];

	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp)
		*pp = e->next;
	c->count--;
	dentry_clear(e);
	free(e->name);
	free(e);
}

static struct dentry *dentry_find(struct dcache *c, char kind, const char *name)
{
	struct dentry *e;

	for (e = c->b[dhash(kind, name)]; e; e = e->next)
		if (e->kind == kind && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

/* Makes room by dropping the least recently used finished entry, never one
 * the running dns_answer() has read (its pointers must stay valid). */
static void dcache_evict(struct dcache *c)
{
	struct dentry *old = NULL;

	for (size_t i = 0; i < DCACHE_BUCKETS; i++)
		for (struct dentry *e = c->b[i]; e; e = e->next)
			if (e->state != D_PENDING && e->used <= c->run_tick &&
			    (old == NULL || e->used < old->used))
				old = e;
	if (old) {
		dentry_remove(c, old);
		c->st.evictions++;
	}
}

static uint8_t health_of(const char *status)
{
	if (status && strcmp(status, "passing") == 0)
		return DNS_HEALTH_PASSING;
	if (status && strcmp(status, "warning") == 0)
		return DNS_HEALTH_WARNING;
	return DNS_HEALTH_CRITICAL;
}

static void fill_meta(const struct msg_strmap *m, struct dns_kv *kv, struct dns_node *n)
{
	for (uint32_t i = 0; i < m->n; i++) {
		kv[i].key = m->k[i];
		kv[i].value = m->v[i];
	}
	n->meta = kv;
	n->nmeta = m->n;
}

static void node_from(const struct msg_node *src, struct dns_kv *kv, struct dns_node *n)
{
	n->name = src->node;
	n->addr = src->address;
	fill_meta(&src->meta, kv, n);
}

/* Builds the answerer's shapes over the reply (which the entry keeps). */
static int dentry_build(struct dentry *e)
{
	struct msg *r = &e->reply;

	if (e->kind == K_SVC) {
		const struct msg_svc_entry_list *l;
		size_t nchk = 0, nkv = 0, ci = 0, ki = 0;

		if (r->type != MSG_SERVICE_NODES_REPLY)
			return -1;
		l = &r->u.service_nodes_reply.entries;
		for (uint32_t i = 0; i < l->n; i++) {
			nchk += l->v[i].checks.n;
			nkv += l->v[i].node.meta.n;
		}
		e->inst = xcalloc(l->n ? l->n : 1, sizeof(*e->inst));
		e->checks = xcalloc(nchk ? nchk : 1, 1);
		e->kvs = xcalloc(nkv ? nkv : 1, sizeof(*e->kvs));
		for (uint32_t i = 0; i < l->n; i++) {
			const struct msg_svc_entry *se = &l->v[i];
			struct dns_instance *in = &e->inst[i];

			node_from(&se->node, e->kvs + ki, &in->node);
			ki += se->node.meta.n;
			in->service = se->service.service;
			in->svc_addr = se->service.address;
			in->port = (uint16_t)se->service.port;
			in->tags = (const char *const *)se->service.tags.v;
			in->ntags = se->service.tags.n;
			in->checks = e->checks + ci;
			for (uint32_t k = 0; k < se->checks.n; k++)
				e->checks[ci++] = health_of(se->checks.v[k].status);
			in->nchecks = se->checks.n;
			/* Consul's default Weights are {Passing: 1, Warning: 1};
			 * zero both means they were never set. */
			if (se->service.weight_passing == 0 && se->service.weight_warning == 0) {
				in->weight_passing = 1;
				in->weight_warning = 1;
			} else {
				in->weight_passing = (uint16_t)se->service.weight_passing;
				in->weight_warning = (uint16_t)se->service.weight_warning;
			}
		}
		e->ninst = l->n;
		return 0;
	}
	if (e->kind == K_NODE) {
		const struct msg_catalog_node_reply *nr;

		if (r->type != MSG_CATALOG_NODE_REPLY)
			return -1;
		nr = &r->u.catalog_node_reply;
		e->found = nr->found;
		if (nr->found) {
			e->kvs = xcalloc(nr->node.meta.n ? nr->node.meta.n : 1, sizeof(*e->kvs));
			node_from(&nr->node, e->kvs, &e->node);
		}
		return 0;
	}
	if (e->kind == K_LIST)
		return r->type == MSG_SERVICES_REPLY ? 0 : -1;
	return r->type == MSG_NODES_REPLY ? 0 : -1;
}

static void on_raftd_event(struct ipc_sub *s, unsigned publisher, struct msg *m, void *arg);
static void dcache_invalidate(struct dcache *c);

/* Subscribes to raftd's INDEX_BUMP and to the probes that prove the
 * subscription live (a SUB that has just connected may lose the first
 * publications: the PUB drops what it publishes before it has read the
 * subscription). What was cached before may have missed a bump, so it all
 * goes. */
static void dcache_subscribe(struct dcache *c)
{
	c->sub = ipc_sub_new(c->ev, c->run_dir, "raftd", on_raftd_event, c);
	if (c->sub != NULL && (ipc_subscribe(c->sub, MSG_INDEX_BUMP) != 0 ||
			       ipc_subscribe(c->sub, MSG_SUB_PROBE) != 0)) {
		ipc_sub_free(c->sub);
		c->sub = NULL;
	}
	if (c->sub == NULL)
		log_warnx("dnsd: cannot subscribe to raftd's index bumps; retrying");
	dcache_invalidate(c);
}

static void fetch_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	struct dentry *e = arg;
	struct dcache *c = e->c;

	c->fetching--;
	if (st == IPC_CANCELLED) { /* dcache_free: the table goes next */
		e->state = D_ERROR;
		return;
	}
	if (e->gen != c->gen) {
		/* Invalidated while on its way: the data may predate the
		 * change, so it is not kept; the query re-runs and refetches. */
		dentry_remove(c, e);
	} else {
		e->born_ms = ev_now_ms(c->ev);
		if (st == IPC_OK && reply) {
			e->reply = *reply;
			e->has_reply = true;
			memset(reply, 0, sizeof(*reply)); /* the entry owns it now */
			reply->type = MSG_NONE;
		}
		if (e->has_reply && dentry_build(e) == 0) {
			e->state = D_READY;
		} else {
			if (e->has_reply && e->reply.type == MSG_RESULT)
				log_warnx("dnsd: raftd read %c %s: %s", e->kind, e->name,
					  e->reply.u.result.error ? e->reply.u.result.error : "");
			else
				log_warnx("dnsd: raftd read %c %s: %s", e->kind, e->name,
					  ipc_status_str(st));
			dentry_clear(e);
			e->state = D_ERROR;
			c->st.fetch_errors++;
		}
	}
	if (c->cb)
		c->cb(c->cb_arg);
}

static void query_opts(const struct dcache *c, struct msg_query_opts *q)
{
	/* spec §1.10: allow_stale (default true) reads from any server,
	 * within max_stale */
	q->consistency = c->dns->allow_stale ? 1 : 0;
	q->max_stale_ms = c->dns->allow_stale ? c->dns->max_stale_ms : 0;
}

static int dentry_fetch(struct dcache *c, struct dentry *e)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	switch (e->kind) {
	case K_SVC:
		m.type = MSG_SERVICE_NODES;
		query_opts(c, &m.u.service_nodes.q);
		m.u.service_nodes.service = e->name;
		m.u.service_nodes.with_checks = true;
		break;
	case K_NODE:
		m.type = MSG_CATALOG_NODE;
		query_opts(c, &m.u.catalog_node.q);
		m.u.catalog_node.node = e->name;
		break;
	case K_LIST:
		m.type = MSG_CATALOG_SERVICES;
		query_opts(c, &m.u.catalog_services.q);
		break;
	default:
		m.type = MSG_CATALOG_NODES;
		query_opts(c, &m.u.catalog_nodes.q);
		break;
	}
	if (c->raftd == NULL || ipc_call(c->raftd, &m, DCACHE_CALL_MS, fetch_reply, e) != 0)
		return -1;
	c->fetching++;
	c->st.fetches++;
	return 0;
}

/* The entry for a key when it is usable now; NULL after recording a miss
 * (and starting its fetch). *err is set when the view must fail. */
static struct dentry *dcache_get(struct dcache *c, char kind, const char *name, bool *err)
{
	struct dentry *e = dentry_find(c, kind, name);
	uint64_t now = ev_now_ms(c->ev);

	*err = false;
	if (e && e->state == D_READY &&
	    now - e->born_ms >= (c->live ? DCACHE_MAX_AGE_MS : DCACHE_UNLIVE_MS)) {
		dentry_remove(c, e);
		e = NULL;
	} else if (e && e->state == D_ERROR && now - e->born_ms >= DCACHE_ERROR_MS) {
		dentry_remove(c, e);
		e = NULL;
	}
	if (e && e->state != D_PENDING) {
		e->used = ++c->tick;
		if (e->state == D_ERROR) {
			*err = true;
			return NULL;
		}
		c->st.hits++;
		return e;
	}
	c->missed = true;
	c->st.misses++;
	if (e) /* its fetch is on its way */
		return NULL;
	if (c->fetching >= DCACHE_FETCH_MAX) {
		*err = true;
		return NULL;
	}
	if (c->count >= DCACHE_ENTRIES_MAX)
		dcache_evict(c);
	if (c->count >= DCACHE_ENTRIES_MAX) {
		*err = true;
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->c = c;
	e->kind = kind;
	e->name = xstrdup(name);
	e->state = D_PENDING;
	e->gen = c->gen;
	e->used = ++c->tick;
	{
		uint32_t h = dhash(kind, name);

		e->next = c->b[h];
		c->b[h] = e;
		c->count++;
	}
	if (dentry_fetch(c, e) != 0) {
		e->state = D_ERROR;
		e->born_ms = now;
		*err = true;
	}
	return NULL;
}

static int view_service(void *arg, const char *name, const struct dns_instance **out, size_t *n)
{
	bool err;
	struct dentry *e = dcache_get(arg, K_SVC, name, &err);

	*out = NULL;
	*n = 0;
	if (err)
		return -1;
	if (e) {
		*out = e->inst;
		*n = e->ninst;
	}
	return 0;
}

static int view_node(void *arg, const char *name, struct dns_node *out, bool *found)
{
	bool err;
	struct dentry *e = dcache_get(arg, K_NODE, name, &err);

	*found = false;
	if (err)
		return -1;
	if (e && e->found) {
		*out = e->node;
		*found = true;
	}
	return 0;
}

/* Whether a stored address is the literal ip (inet_ntop form): compared as
 * addresses, so "2001:DB8::1" and "2001:db8::1" match. */
static bool addr_is(const char *stored, const char *ip)
{
	unsigned char a[16], b[16];
	int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;

	if (stored == NULL || stored[0] == 0)
		return false;
	if (inet_pton(fam, stored, a) != 1 || inet_pton(fam, ip, b) != 1)
		return false;
	return memcmp(a, b, fam == AF_INET6 ? 16 : 4) == 0;
}

/* Spec §1.2: the first node with that address, else a service instance
 * with that service address. Every service is read for the second, so
 * the first reverse lookup of an unknown address fetches them all (at
 * most DCACHE_FETCH_MAX at once; the query re-runs as they land). */
static int view_ptr(void *arg, const char *ip, const char **node, const char **service)
{
	struct dcache *c = arg;
	bool err;
	struct dentry *e = dcache_get(c, K_PTR, "", &err);
	const struct msg_svc_tags_list *names;
	bool incomplete = false;

	*node = NULL;
	*service = NULL;
	if (err)
		return -1;
	if (e == NULL)
		return 0;
	for (uint32_t i = 0; i < e->reply.u.nodes_reply.nodes.n; i++) {
		const struct msg_node *n = &e->reply.u.nodes_reply.nodes.v[i];

		if (addr_is(n->address, ip)) {
			*node = n->node;
			return 0;
		}
	}
	e = dcache_get(c, K_LIST, "", &err);
	if (err)
		return -1;
	if (e == NULL)
		return 0;
	names = &e->reply.u.services_reply.services;
	for (uint32_t i = 0; i < names->n; i++) {
		struct dentry *se = dcache_get(c, K_SVC, names->v[i].name, &err);

		if (se == NULL) {
			/* a miss (fetching) or the fetch limit: the run is
			 * incomplete either way and re-runs */
			incomplete = true;
			continue;
		}
		for (size_t k = 0; k < se->ninst; k++)
			if (addr_is(se->inst[k].svc_addr, ip)) {
				*service = se->inst[k].service;
				return 0;
			}
	}
	if (incomplete)
		c->missed = true;
	return 0;
}

/* Drops every finished entry; fetches on their way are discarded when they
 * land (their generation is old). */
static void dcache_invalidate(struct dcache *c)
{
	c->gen++;
	c->st.invalidations++;
	for (size_t i = 0; i < DCACHE_BUCKETS; i++) {
		struct dentry *e = c->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (e->state != D_PENDING)
				dentry_remove(c, e);
		}
	}
}

static void on_raftd_event(struct ipc_sub *s, unsigned publisher, struct msg *m, void *arg)
{
	struct dcache *c = arg;
	const struct msg_index_bump *b;

	(void)s;
	(void)publisher;
	if (m->type == MSG_SUB_PROBE) {
		if (m->u.sub_probe.epoch != c->raft_epoch) {
			c->raft_epoch = m->u.sub_probe.epoch;
			dcache_invalidate(c);
		}
		if (m->u.sub_probe.token == c->probe_token && !c->probe_seen) {
			c->probe_seen = true;
			if (!c->live) {
				/* bumps may have been lost until now */
				c->live = true;
				dcache_invalidate(c);
			}
		}
		return;
	}
	if (m->type != MSG_INDEX_BUMP)
		return;
	b = &m->u.index_bump;
	if (b->epoch != c->raft_epoch) {
		/* a new raftd: what was cached came from another life */
		c->raft_epoch = b->epoch;
		dcache_invalidate(c);
		return;
	}
	for (uint32_t i = 0; i < b->tables.n; i++) {
		const char *t = b->tables.v[i];

		if (strcmp(t, "nodes") == 0 || strcmp(t, "services") == 0 ||
		    strcmp(t, "checks") == 0) {
			dcache_invalidate(c);
			return;
		}
	}
}

static void probe_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	/* the answer that matters comes on the SUB; a failed call shows as a
	 * probe that never came back */
	(void)arg;
	(void)st;
	(void)reply;
}

/* One probe round: the last one must have come back, else the subscription
 * is not live (its bumps cannot be trusted) until a probe does. */
static void probe_tick(struct ev *ev, void *arg)
{
	struct dcache *c = arg;
	struct msg m;

	/* until live, probe often: entries expire fast meanwhile */
	c->probe_timer = ev_timer_add(ev, c->live ? DCACHE_PROBE_MS : DCACHE_PROBE_FAST_MS,
				      probe_tick, c);
	if (c->live && !c->probe_seen) {
		c->live = false;
		c->st.unlive++;
		log_warnx("dnsd: raftd's index bumps are not arriving; names expire after %d ms",
			  DCACHE_UNLIVE_MS);
		dcache_invalidate(c);
	}
	if (c->sub == NULL)
		dcache_subscribe(c);
	if (c->sub == NULL || c->raftd == NULL)
		return;
	memset(&m, 0, sizeof(m));
	m.type = MSG_SUB_PROBE;
	m.u.sub_probe.token = ++c->probe_token;
	c->probe_seen = false;
	if (ipc_call(c->raftd, &m, DCACHE_PROBE_MS, probe_reply, c) == 0)
		c->st.probes++;
}

struct dcache *dcache_new(struct ev *ev, const char *run_dir, const struct conf_dns *dns,
			  dcache_ready_cb cb, void *arg)
{
	struct dcache *c = xcalloc(1, sizeof(*c));

	c->ev = ev;
	c->dns = dns;
	c->cb = cb;
	c->cb_arg = arg;
	c->view.arg = c;
	c->view.service = view_service;
	c->view.node = view_node;
	c->view.ptr = view_ptr;
	snprintf(c->run_dir, sizeof(c->run_dir), "%s", run_dir);
	c->raftd = ipc_client_new(ev, run_dir, "dnsd", "raftd");
	if (c->raftd == NULL || strlen(run_dir) >= sizeof(c->run_dir)) {
		dcache_free(c);
		return NULL;
	}
	dcache_subscribe(c);
	probe_tick(ev, c);
	return c;
}

void dcache_free(struct dcache *c)
{
	if (c == NULL)
		return;
	if (c->probe_timer)
		ev_timer_del(c->ev, c->probe_timer);
	ipc_sub_free(c->sub);
	c->cb = NULL;
	ipc_client_free(c->raftd); /* pending fetches end with IPC_CANCELLED */
	for (size_t i = 0; i < DCACHE_BUCKETS; i++) {
		struct dentry *e = c->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			dentry_clear(e);
			free(e->name);
			free(e);
		}
	}
	free(c);
}

const struct dns_view *dcache_view(struct dcache *c)
{
	return &c->view;
}

void dcache_begin(struct dcache *c)
{
	c->missed = false;
	c->run_tick = c->tick;
}

bool dcache_missed(const struct dcache *c)
{
	return c->missed;
}

size_t dcache_count(const struct dcache *c)
{
	return c->count;
}

const struct dcache_stats *dcache_stats(const struct dcache *c)
{
	return &c->st;
}

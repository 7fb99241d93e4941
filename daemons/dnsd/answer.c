/* answer.c: the pure DNS answerer: spec §1 name forms, health filtering, shuffling, limits, NXDOMAIN/NODATA with the SOA, truncation (§1.6). */
#include "answer.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

/* Instances one query looks at (a service may have more; they are not
 * read beyond this). */
#define DNS_ANSWER_INSTANCES_MAX 65536
/* Records of one encoding whose ends dns_ans_fit reads. */
#define DNS_ANSWER_ENDS_MAX (DNS_ANSWER_TCP_MAX + DNS_ANSWER_AR_MAX + DNS_ANSWER_NS_SEC_MAX)
/* The duplicate set (spec §1.4): open addressing, at most half full. */
#define DNS_SEEN_SLOTS (2 * DNS_ANSWER_INSTANCES_MAX)
#define DNS_ANSWER_AR_MAX        (2 * DNS_ANSWER_TCP_MAX)
#define DNS_ANSWER_NS_SEC_MAX    8
#define DNS_ANSWER_LABELS        DNS_LABELS_MAX
#define DNS_ANSWER_TEXT          (DNS_NAME_MAX + 1)

struct dns_label {
	const char *p;
	size_t n;
};

struct dns_answerer {
	struct dns_answer_conf cf;
	const struct dns_view *v;
	struct dns_name domain, alt, in_addr, ip6;
	struct dns_name ns_name[2], host_name[2]; /* ns.<d>, hostmaster.<d> per domain */
	bool has_alt;
	/* per query */
	struct dns_query q;
	const struct dns_name *rdomain;
	int rdi; /* 0 = primary, 1 = alt */
	uint64_t now_s;
	uint64_t *rng;
	uint8_t rcode;
	bool aa;
	bool srv; /* answers are SRV: additional synced per answer */
	size_t want; /* answers worth building for this transport */
	bool more;   /* instances were left out by want: trimmed */
	struct dns_name *names;
	size_t nnames;
	struct dns_rr *an, *ns, *ar;
	size_t nan, nns, nar;
	size_t *ar_end; /* additional records owed to answers 0..i */
	size_t *idx;
	/* (node, address, port) already answered in this query: slots whose
	 * gen is the query's; bumping gen empties the set without a sweep */
	struct dns_seen {
		uint32_t gen;
		uint32_t inst;
	} *seen;
	uint32_t seen_gen;
	size_t *ends; /* record end offsets of one encoding (dns_ans_fit) */
	char *txt;
	size_t ntxt;
	char lc[DNS_ANSWER_TEXT]; /* the lower-cased qname, labels NUL-split */
	struct dns_label lab[DNS_ANSWER_LABELS];
	size_t nlab; /* labels before the domain */
};

static uint64_t dns_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static int dns_name_cat(struct dns_name *n, const char *prefix, const struct dns_name *suffix)
{
	struct dns_name p;

	if (dns_name_from_text(&p, prefix) != 0 || p.len + suffix->len - 1 > DNS_NAME_MAX)
		return -1;
	memcpy(n->wire, p.wire, p.len - 1u);
	memcpy(n->wire + p.len - 1, suffix->wire, suffix->len);
	n->len = (uint8_t)(p.len - 1 + suffix->len);
	return 0;
}

struct dns_answerer *dns_answerer_new(const struct dns_answer_conf *cf, const struct dns_view *v)
{
	struct dns_answerer *a = xcalloc(1, sizeof *a);

	a->cf = *cf;
	a->v = v;
	if (dns_name_from_text(&a->domain, cf->domain) != 0 || a->domain.len <= 1)
		goto bad;
	a->has_alt = cf->alt_domain != NULL && cf->alt_domain[0] != '\0';
	if (a->has_alt && (dns_name_from_text(&a->alt, cf->alt_domain) != 0 || a->alt.len <= 1))
		goto bad;
	if (cf->dc == NULL || strchr(cf->dc, '.') != NULL || cf->dc[0] == '\0' || strlen(cf->dc) > DNS_LABEL_MAX)
		goto bad;
	dns_name_from_text(&a->in_addr, "in-addr.arpa");
	dns_name_from_text(&a->ip6, "ip6.arpa");
	for (int i = 0; i < (a->has_alt ? 2 : 1); i++) {
		const struct dns_name *d = i == 0 ? &a->domain : &a->alt;
		if (dns_name_cat(&a->ns_name[i], "ns", d) != 0 ||
		    dns_name_cat(&a->host_name[i], "hostmaster", d) != 0)
			goto bad;
	}
	a->names = xcalloc(DNS_ANSWER_NAMES_MAX, sizeof *a->names);
	a->an = xcalloc(DNS_ANSWER_TCP_MAX, sizeof *a->an);
	a->ns = xcalloc(DNS_ANSWER_NS_SEC_MAX, sizeof *a->ns);
	a->ar = xcalloc(DNS_ANSWER_AR_MAX, sizeof *a->ar);
	a->ar_end = xcalloc(DNS_ANSWER_TCP_MAX, sizeof *a->ar_end);
	a->idx = xcalloc(DNS_ANSWER_INSTANCES_MAX, sizeof *a->idx);
	a->seen = xcalloc(DNS_SEEN_SLOTS, sizeof *a->seen);
	a->ends = xcalloc(DNS_ANSWER_ENDS_MAX, sizeof *a->ends);
	a->txt = xmalloc(DNS_ANSWER_TXT_ARENA);
	return a;
bad:
	free(a);
	return NULL;
}

void dns_answerer_free(struct dns_answerer *a)
{
	if (a == NULL)
		return;
	free(a->names);
	free(a->an);
	free(a->ns);
	free(a->ar);
	free(a->ar_end);
	free(a->idx);
	free(a->seen);
	free(a->ends);
	free(a->txt);
	free(a);
}

uint32_t dns_answer_service_ttl(const struct conf_dns *dns, const char *service)
{
	const struct conf_ttl *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < dns->service_ttl.n; i++) {
		const struct conf_ttl *t = &dns->service_ttl.v[i];
		size_t l = strlen(t->name);

		if (l > 0 && t->name[l - 1] == '*') {
			/* "*" has an empty prefix: the default, beaten by any longer prefix. */
			if (strncmp(service, t->name, l - 1) == 0 && (best == NULL || (best->name[strlen(best->name) - 1] == '*' && l > best_len))) {
				best = t;
				best_len = l;
			}
		} else if (strcmp(service, t->name) == 0) {
			return (uint32_t)(t->ttl_ms / 1000); /* exact beats any prefix */
		}
	}
	return best != NULL ? (uint32_t)(best->ttl_ms / 1000) : 0;
}

/* ---- building records ---- */

static struct dns_name *dns_ans_name(struct dns_answerer *a)
{
	return a->nnames < DNS_ANSWER_NAMES_MAX ? &a->names[a->nnames++] : NULL;
}

static struct dns_rr *dns_ans_rr(struct dns_answerer *a, int sec, const struct dns_name *owner, uint16_t type,
				 uint32_t ttl)
{
	struct dns_rr *rr;

	if (sec == DNS_SEC_AN) {
		if (a->nan >= DNS_ANSWER_TCP_MAX)
			return NULL;
		rr = &a->an[a->nan++];
	} else if (sec == DNS_SEC_NS) {
		if (a->nns >= DNS_ANSWER_NS_SEC_MAX)
			return NULL;
		rr = &a->ns[a->nns++];
	} else {
		if (a->nar >= DNS_ANSWER_AR_MAX)
			return NULL;
		rr = &a->ar[a->nar++];
	}
	memset(rr, 0, sizeof *rr);
	rr->owner = owner;
	rr->type = type;
	rr->rclass = DNS_C_IN;
	rr->ttl = ttl;
	return rr;
}

static uint32_t dns_ans_node_ttl(const struct dns_answerer *a)
{
	return (uint32_t)(a->cf.dns->node_ttl_ms / 1000);
}

/* Spec §1.7: the SOA is built per response; serial = Unix time. */
static void dns_ans_soa(struct dns_answerer *a, int sec)
{
	const struct conf_dns_soa *s = &a->cf.dns->soa;
	struct dns_rr *rr = dns_ans_rr(a, sec, a->rdomain, DNS_T_SOA, (uint32_t)s->min_ttl);

	if (rr == NULL)
		return;
	rr->u.soa.mname = &a->ns_name[a->rdi];
	rr->u.soa.rname = &a->host_name[a->rdi];
	rr->u.soa.serial = (uint32_t)a->now_s;
	rr->u.soa.refresh = (uint32_t)s->refresh;
	rr->u.soa.retry = (uint32_t)s->retry;
	rr->u.soa.expire = (uint32_t)s->expire;
	rr->u.soa.minimum = (uint32_t)s->min_ttl;
}

static void dns_ans_nxdomain(struct dns_answerer *a)
{
	a->rcode = DNS_R_NXDOMAIN;
	a->nan = a->nar = a->nns = 0;
	dns_ans_soa(a, DNS_SEC_NS);
}

/* RFC 2308 type-2 NODATA: NOERROR, empty answer, the SOA in authority. */
static void dns_ans_nodata(struct dns_answerer *a)
{
	a->rcode = DNS_R_NOERROR;
	a->nan = 0;
	dns_ans_soa(a, DNS_SEC_NS);
}

enum dns_addr_kind { DNS_ADDR_NONE, DNS_ADDR_V4, DNS_ADDR_V6, DNS_ADDR_HOST };

static enum dns_addr_kind dns_addr_parse(const char *s, uint8_t ip[16])
{
	if (s == NULL || s[0] == '\0')
		return DNS_ADDR_NONE;
	if (inet_pton(AF_INET, s, ip) == 1)
		return DNS_ADDR_V4;
	if (inet_pton(AF_INET6, s, ip) == 1)
		return DNS_ADDR_V6;
	return DNS_ADDR_HOST;
}

/* "a.b" + ".node.<dc>." + domain, each dotted part a label. */
static struct dns_name *dns_ans_join(struct dns_answerer *a, const char *first, const char *kind)
{
	struct dns_name *n = dns_ans_name(a);
	char text[DNS_NAME_TEXT_MAX];
	struct dns_name pre;

	if (n == NULL)
		return NULL;
	if (strchr(first, '\\') != NULL ||
	    snprintf(text, sizeof text, "%s.%s.%s", first, kind, a->cf.dc) >= (int)sizeof text ||
	    dns_name_from_text(&pre, text) != 0 || pre.len - 1 + a->rdomain->len > DNS_NAME_MAX) {
		a->nnames--;
		return NULL;
	}
	memcpy(n->wire, pre.wire, pre.len - 1u);
	memcpy(n->wire + pre.len - 1, a->rdomain->wire, a->rdomain->len);
	n->len = (uint8_t)(pre.len - 1 + a->rdomain->len);
	return n;
}

/* An A, AAAA or CNAME for addr at owner; false when addr is nothing or
 * the family is not wanted. */
static bool dns_ans_addr_rr(struct dns_answerer *a, int sec, const struct dns_name *owner, const char *addr,
			    uint32_t ttl, bool want4, bool want6)
{
	uint8_t ip[16];
	struct dns_rr *rr;
	struct dns_name *t;

	switch (dns_addr_parse(addr, ip)) {
	case DNS_ADDR_V4:
		if (!want4 || (rr = dns_ans_rr(a, sec, owner, DNS_T_A, ttl)) == NULL)
			return false;
		memcpy(rr->u.a, ip, 4);
		return true;
	case DNS_ADDR_V6:
		if (!want6 || (rr = dns_ans_rr(a, sec, owner, DNS_T_AAAA, ttl)) == NULL)
			return false;
		memcpy(rr->u.aaaa, ip, 16);
		return true;
	case DNS_ADDR_HOST:
		/* Spec §1.3: a hostname address is a CNAME (its chain is
		 * not resolved here). */
		if ((t = dns_ans_name(a)) == NULL)
			return false;
		if (dns_name_from_text(t, addr) != 0 || (rr = dns_ans_rr(a, sec, owner, DNS_T_CNAME, ttl)) == NULL) {
			a->nnames--;
			return false;
		}
		rr->u.name = t;
		return true;
	default:
		return false;
	}
}

/* RFC 1464 as Consul writes node meta (spec §1.3): ` and = in the key
 * and its leading/trailing spaces backquoted, ` in the value doubled;
 * keys starting "rfc1035-" give the raw value. */
static const char *dns_ans_txt_kv(struct dns_answerer *a, const struct dns_kv *kv, size_t *len)
{
	size_t klen = strlen(kv->key), vlen = strlen(kv->value);
	size_t need = 2 * klen + 2 * vlen + 2, o;
	char *p;

	if (a->ntxt + need > DNS_ANSWER_TXT_ARENA)
		return NULL;
	p = a->txt + a->ntxt;
	if (strncmp(kv->key, "rfc1035-", 8) == 0) {
		memcpy(p, kv->value, vlen);
		*len = vlen;
		a->ntxt += vlen;
		return p;
	}
	size_t lead = 0, trail = 0;
	while (lead < klen && kv->key[lead] == ' ')
		lead++;
	while (trail < klen - lead && kv->key[klen - 1 - trail] == ' ')
		trail++;
	o = 0;
	for (size_t i = 0; i < klen; i++) {
		char c = kv->key[i];
		if (c == '`' || c == '=' || (c == ' ' && (i < lead || i >= klen - trail)))
			p[o++] = '`';
		p[o++] = c;
	}
	p[o++] = '=';
	for (size_t i = 0; i < vlen; i++) {
		if (kv->value[i] == '`')
			p[o++] = '`';
		p[o++] = kv->value[i];
	}
	*len = o;
	a->ntxt += o;
	return p;
}

static void dns_ans_meta(struct dns_answerer *a, int sec, const struct dns_name *owner, const struct dns_node *nd,
			 uint32_t ttl)
{
	for (size_t i = 0; i < nd->nmeta; i++) {
		size_t len;
		const char *s = dns_ans_txt_kv(a, &nd->meta[i], &len);
		struct dns_rr *rr;

		if (s == NULL || len > 0xff00 || (rr = dns_ans_rr(a, sec, owner, DNS_T_TXT, ttl)) == NULL)
			return;
		rr->u.txt.s[0] = (struct dns_str){s, len};
		rr->u.txt.n = 1;
	}
}

/* ---- health (spec §1.5) ---- */

static bool dns_ans_healthy(const struct dns_answerer *a, const struct dns_instance *in, bool *warning)
{
	*warning = false;
	for (size_t i = 0; i < in->nchecks; i++) {
		if (in->checks[i] == DNS_HEALTH_CRITICAL)
			return false;
		if (in->checks[i] == DNS_HEALTH_WARNING)
			*warning = true;
	}
	return !(*warning && a->cf.dns->only_passing);
}

static bool dns_ans_has_tag(const struct dns_instance *in, const char *tag)
{
	for (size_t i = 0; i < in->ntags; i++)
		if (strcasecmp(in->tags[i], tag) == 0)
			return true;
	return false;
}

/* Healthy instances (with the tag) into a->idx; the count. They are
 * shuffled as they are taken (dns_ans_take): a reply that keeps 3 of
 * 1,000 shuffles 3. */
static size_t dns_ans_pick(struct dns_answerer *a, const struct dns_instance *in, size_t n, const char *tag)
{
	size_t k = 0;
	bool warn;

	for (size_t i = 0; i < n && k < DNS_ANSWER_INSTANCES_MAX; i++)
		if (dns_ans_healthy(a, &in[i], &warn) && (tag == NULL || dns_ans_has_tag(&in[i], tag)))
			a->idx[k++] = i;
	return k;
}

/* Spec §1.5: shuffled on every query. Position i of k gets a uniform pick
 * of the ones not taken yet (Fisher-Yates, one step at a time). */
static size_t dns_ans_take(struct dns_answerer *a, size_t i, size_t k)
{
	size_t j = i + (size_t)(dns_rand(a->rng) % (k - i)), t = a->idx[i];

	a->idx[i] = a->idx[j];
	a->idx[j] = t;
	return a->idx[i];
}

static const char *dns_ans_inst_addr(const struct dns_instance *in)
{
	return in->svc_addr != NULL && in->svc_addr[0] != '\0' ? in->svc_addr : in->node.addr;
}

static void dns_ans_seen_reset(struct dns_answerer *a)
{
	if (++a->seen_gen == 0) { /* wrapped: old marks could match again */
		memset(a->seen, 0, DNS_SEEN_SLOTS * sizeof *a->seen);
		a->seen_gen = 1;
	}
}

/* Spec §1.4: same node + address + port is one answer. True when instance
 * x was seen in this query; else it is recorded. Linear in the answers
 * (a hash set), where comparing with every kept one was quadratic. */
static bool dns_ans_dup(struct dns_answerer *a, const struct dns_instance *in, size_t x)
{
	const struct dns_instance *xi = &in[x];
	const char *addr = dns_ans_inst_addr(xi);
	uint32_t h = 2166136261u ^ xi->port;

	for (const char *p = xi->node.name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (const char *p = addr; p && *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (uint32_t i = h & (DNS_SEEN_SLOTS - 1);; i = (i + 1) & (DNS_SEEN_SLOTS - 1)) {
		struct dns_seen *sl = &a->seen[i];
		const struct dns_instance *y;

		if (sl->gen != a->seen_gen) {
			sl->gen = a->seen_gen;
			sl->inst = (uint32_t)x;
			return false;
		}
		y = &in[sl->inst];
		if (y->port == xi->port && strcmp(y->node.name, xi->node.name) == 0 &&
		    strcmp(dns_ans_inst_addr(y), addr) == 0)
			return true;
	}
}

static int dns_ans_service(struct dns_answerer *a, const char *svc, const char *tag)
{
	const struct dns_instance *in = NULL;
	size_t n = 0, k, kept = 0;
	uint16_t qt = a->q.qtype;
	uint32_t ttl;

	if (a->v->service(a->v->arg, svc, &in, &n) != 0)
		return -1;
	k = dns_ans_pick(a, in, n, tag);
	if (k == 0) {
		dns_ans_nxdomain(a); /* spec §1.5: no healthy instance is NXDOMAIN */
		return 0;
	}
	ttl = dns_answer_service_ttl(a->cf.dns, svc);
	dns_ans_seen_reset(a);
	if (qt == DNS_T_SRV) {
		a->srv = true;
		size_t cap = a->want < DNS_ANSWER_TCP_SRV_MAX ? a->want : DNS_ANSWER_TCP_SRV_MAX, i;

		for (i = 0; i < k && a->nan < cap; i++) {
			size_t xi = dns_ans_take(a, i, k);
			const struct dns_instance *x = &in[xi];
			uint8_t ip[16];
			struct dns_name *target = NULL;
			enum dns_addr_kind svk = dns_addr_parse(x->svc_addr, ip);
			bool warn;
			struct dns_rr *rr;

			if (dns_ans_dup(a, in, xi))
				continue;
			/* Spec §1.4: a service address that is an IP is named
			 * <hex>.addr.<dc>.<domain>; a hostname is itself; none
			 * is the node's name. */
			if (svk == DNS_ADDR_V4 || svk == DNS_ADDR_V6) {
				char hex[33];
				size_t l = svk == DNS_ADDR_V4 ? 4 : 16;
				for (size_t b = 0; b < l; b++)
					snprintf(hex + 2 * b, 3, "%02x", ip[b]);
				target = dns_ans_join(a, hex, "addr");
			} else if (svk == DNS_ADDR_HOST) {
				if ((target = dns_ans_name(a)) != NULL && dns_name_from_text(target, x->svc_addr) != 0) {
					a->nnames--;
					target = NULL;
				}
			} else {
				target = dns_ans_join(a, x->node.name, "node");
			}
			if (target == NULL || (rr = dns_ans_rr(a, DNS_SEC_AN, &a->q.qname, DNS_T_SRV, ttl)) == NULL)
				continue;
			dns_ans_healthy(a, x, &warn);
			rr->u.srv.priority = 1;
			rr->u.srv.weight = warn ? x->weight_warning : x->weight_passing;
			rr->u.srv.port = x->port;
			rr->u.srv.target = target;
			if (svk != DNS_ADDR_HOST)
				dns_ans_addr_rr(a, DNS_SEC_AR, target, dns_ans_inst_addr(x), ttl, true, true);
			if (a->cf.dns->enable_additional_node_meta_txt && svk == DNS_ADDR_NONE)
				dns_ans_meta(a, DNS_SEC_AR, target, &x->node, ttl);
			a->idx[kept++] = a->idx[i];
			a->ar_end[a->nan - 1] = a->nar;
		}
		a->more = i < k;
		return 0;
	}
	if (qt == DNS_T_A || qt == DNS_T_AAAA || qt == DNS_T_ANY) {
		size_t limit = a->cf.dns->a_record_limit > 0 ? (size_t)a->cf.dns->a_record_limit : SIZE_MAX, i;

		for (i = 0; i < k && a->nan < limit && a->nan < a->want; i++) {
			size_t xi = dns_ans_take(a, i, k);

			if (dns_ans_dup(a, in, xi))
				continue;
			if (dns_ans_addr_rr(a, DNS_SEC_AN, &a->q.qname, dns_ans_inst_addr(&in[xi]), ttl,
					    qt != DNS_T_AAAA, qt != DNS_T_A))
				a->idx[kept++] = xi;
		}
		/* a_record_limit is a policy, not a trim: no TC for it. */
		a->more = i < k && a->nan >= a->want && a->nan < limit;
	}
	if (a->nan == 0)
		dns_ans_nodata(a);
	return 0;
}

static int dns_ans_node(struct dns_answerer *a, const char *name)
{
	struct dns_node nd = {0};
	bool found = false;
	uint16_t qt = a->q.qtype;
	uint32_t ttl = dns_ans_node_ttl(a);

	if (a->v->node(a->v->arg, name, &nd, &found) != 0)
		return -1;
	if (!found) {
		dns_ans_nxdomain(a);
		return 0;
	}
	if (qt == DNS_T_A || qt == DNS_T_AAAA || qt == DNS_T_ANY) {
		dns_ans_addr_rr(a, DNS_SEC_AN, &a->q.qname, nd.addr, ttl, qt != DNS_T_AAAA, qt != DNS_T_A);
		if (qt == DNS_T_ANY)
			dns_ans_meta(a, DNS_SEC_AN, &a->q.qname, &nd, ttl);
		else if (a->nan > 0 && a->cf.dns->enable_additional_node_meta_txt)
			dns_ans_meta(a, DNS_SEC_AR, &a->q.qname, &nd, ttl);
		if (a->nan == 0)
			dns_ans_nodata(a);
	} else if (qt == DNS_T_TXT) {
		dns_ans_meta(a, DNS_SEC_AN, &a->q.qname, &nd, ttl);
		if (a->nan == 0)
			dns_ans_nodata(a);
	}
	/* Other types: empty NOERROR without the SOA (spec §1.3). */
	return 0;
}

static int dns_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Spec §1.2: <hex>.addr: 8 hex digits are an A, 32 an AAAA. */
static void dns_ans_addr(struct dns_answerer *a, const struct dns_label *l)
{
	uint8_t ip[16];
	size_t n = l->n / 2;
	struct dns_rr *rr;
	bool match;

	if (l->n != 8 && l->n != 32) {
		dns_ans_nxdomain(a);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int hi = dns_hexval(l->p[2 * i]), lo = dns_hexval(l->p[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			dns_ans_nxdomain(a);
			return;
		}
		ip[i] = (uint8_t)(hi << 4 | lo);
	}
	match = a->q.qtype == DNS_T_ANY || a->q.qtype == (n == 4 ? DNS_T_A : DNS_T_AAAA);
	/* Spec §1.3: another type gets the record in the additional section. */
	rr = dns_ans_rr(a, match ? DNS_SEC_AN : DNS_SEC_AR, &a->q.qname, n == 4 ? DNS_T_A : DNS_T_AAAA,
			dns_ans_node_ttl(a));
	if (rr != NULL)
		memcpy(n == 4 ? rr->u.a : rr->u.aaaa, ip, n);
}

/* Spec §1.7: NS = up to 3 random healthy `consul` instances, glue in
 * additional; nodes with names that are not DNS names are skipped. */
static int dns_ans_ns(struct dns_answerer *a, int sec)
{
	const struct dns_instance *in = NULL;
	size_t n = 0, k, got = 0;

	if (a->v->service(a->v->arg, "consul", &in, &n) != 0)
		return -1;
	k = dns_ans_pick(a, in, n, NULL);
	for (size_t i = 0; i < k && got < DNS_ANSWER_NS_MAX; i++) {
		const struct dns_instance *x = &in[dns_ans_take(a, i, k)];
		struct dns_name *t;
		struct dns_rr *rr;
		bool ok = x->node.name[0] != '\0';

		for (const char *p = x->node.name; *p != '\0'; p++)
			if (!isalnum((unsigned char)*p) && *p != '-')
				ok = false;
		if (!ok || (t = dns_ans_join(a, x->node.name, "node")) == NULL)
			continue;
		if ((rr = dns_ans_rr(a, sec, a->rdomain, DNS_T_NS, dns_ans_node_ttl(a))) == NULL)
			break;
		rr->u.name = t;
		dns_ans_addr_rr(a, DNS_SEC_AR, t, x->node.addr, dns_ans_node_ttl(a), true, true);
		got++;
	}
	return 0;
}

static bool dns_lab_is(const struct dns_label *l, const char *s)
{
	return l->n == strlen(s) && memcmp(l->p, s, l->n) == 0;
}

/* Labels i..j-1 joined with dots into out. */
static void dns_lab_join(const struct dns_label *l, size_t i, size_t j, char *out)
{
	size_t o = 0;

	for (size_t k = i; k < j; k++) {
		if (k > i)
			out[o++] = '.';
		memcpy(out + o, l[k].p, l[k].n);
		o += l[k].n;
	}
	out[o] = '\0';
}

/* Spec §1.2: after the kind label come nothing, <dc> or <dc>.dc. */
static bool dns_ans_local_dc(const struct dns_answerer *a, size_t from)
{
	size_t left = a->nlab - from;

	if (left == 0)
		return true;
	if (left == 1 || (left == 2 && dns_lab_is(&a->lab[from + 1], "dc")))
		return a->lab[from].n == strlen(a->cf.dc) && strncasecmp(a->lab[from].p, a->cf.dc, a->lab[from].n) == 0;
	return false;
}

static int dns_ans_ptr(struct dns_answerer *a, bool v6, enum dns_answer_result *res)
{
	char ip[INET6_ADDRSTRLEN], text[DNS_ANSWER_TEXT];
	uint8_t bin[16];
	const char *node = NULL, *svc = NULL;
	struct dns_name *t;
	struct dns_rr *rr;
	bool ok = true;

	a->rdomain = &a->domain; /* spec §1.1: PTR answers use the primary domain */
	a->rdi = 0;
	if (!v6 && a->nlab == 4) {
		for (size_t i = 0; i < 4 && ok; i++) {
			unsigned v = 0;
			if (a->lab[3 - i].n == 0 || a->lab[3 - i].n > 3)
				ok = false;
			for (size_t c = 0; c < a->lab[3 - i].n && ok; c++) {
				if (!isdigit((unsigned char)a->lab[3 - i].p[c]))
					ok = false;
				v = v * 10 + (unsigned)(a->lab[3 - i].p[c] - '0');
			}
			if (v > 255)
				ok = false;
			bin[i] = (uint8_t)v;
		}
		ok = ok && inet_ntop(AF_INET, bin, ip, sizeof ip) != NULL;
	} else if (v6 && a->nlab == 32) {
		for (size_t i = 0; i < 32 && ok; i++) {
			int h = a->lab[31 - i].n == 1 ? dns_hexval(a->lab[31 - i].p[0]) : -1;
			if (h < 0)
				ok = false;
			else if (i % 2 == 0)
				bin[i / 2] = (uint8_t)(h << 4);
			else
				bin[i / 2] |= (uint8_t)h;
		}
		ok = ok && inet_ntop(AF_INET6, bin, ip, sizeof ip) != NULL;
	} else {
		ok = false;
	}
	if (ok && a->v->ptr(a->v->arg, ip, &node, &svc) != 0)
		return -1;
	if (!ok || (node == NULL && svc == NULL)) {
		if (a->cf.has_recursors) {
			*res = DNS_ANSWER_RECURSE;
			return 0;
		}
		dns_ans_nxdomain(a);
		return 0;
	}
	snprintf(text, sizeof text, "%s", node != NULL ? node : svc);
	t = dns_ans_join(a, text, node != NULL ? "node" : "service");
	if (t == NULL) {
		dns_ans_nxdomain(a);
		return 0;
	}
	if (a->q.qtype == DNS_T_PTR || a->q.qtype == DNS_T_ANY) {
		if ((rr = dns_ans_rr(a, DNS_SEC_AN, &a->q.qname, DNS_T_PTR, 0)) != NULL)
			rr->u.name = t; /* spec §1.5: PTR TTL is always 0 */
	} else {
		dns_ans_nodata(a);
	}
	return 0;
}

/* Lower-cases the qname and splits the labels before suffix_len bytes
 * of suffix; false when a label holds a byte a lookup cannot carry. */
static bool dns_ans_split(struct dns_answerer *a, size_t suffix_len)
{
	const struct dns_name *n = &a->q.qname;
	size_t i = 0, o = 0, end = n->len - suffix_len;

	a->nlab = 0;
	while (i < end && n->wire[i] != 0 && a->nlab < DNS_ANSWER_LABELS) {
		size_t l = n->wire[i++];
		a->lab[a->nlab].p = a->lc + o;
		a->lab[a->nlab++].n = l;
		for (size_t k = 0; k < l; k++) {
			unsigned char c = n->wire[i++];
			if (c == '.' || c == '\0' || c == '\\')
				return false;
			a->lc[o++] = (char)tolower(c);
		}
		a->lc[o++] = '\0';
	}
	return true;
}

/* Classifies the name (spec §1.2: right to left, the first reserved label
 * found selects the kind) and fills the sections. */
static int dns_ans_build(struct dns_answerer *a, enum dns_answer_result *res)
{
	const struct dns_name *qn = &a->q.qname;
	char s1[DNS_ANSWER_TEXT], s2[DNS_ANSWER_TEXT];
	size_t kind_at;
	const char *kind = NULL;
	bool apex;

	if (dns_name_has_suffix(qn, &a->domain)) {
		a->rdomain = &a->domain;
		a->rdi = 0;
	} else if (a->has_alt && dns_name_has_suffix(qn, &a->alt)) {
		a->rdomain = &a->alt;
		a->rdi = 1;
	} else if (dns_name_has_suffix(qn, &a->in_addr) || dns_name_has_suffix(qn, &a->ip6)) {
		bool v6 = dns_name_has_suffix(qn, &a->ip6);
		a->aa = true;
		if (!dns_ans_split(a, v6 ? a->ip6.len : a->in_addr.len))
			a->nlab = 0;
		return dns_ans_ptr(a, v6, res);
	} else {
		/* Spec §1.1: forwarded with recursors, else REFUSED. */
		if (a->cf.has_recursors)
			*res = DNS_ANSWER_RECURSE;
		a->rcode = DNS_R_REFUSED;
		return 0;
	}
	a->aa = true;
	apex = qn->len == a->rdomain->len;
	/* Consul answers SOA and NS for any name of its domain with the
	 * apex records (agent/dns.go handleQuery). ANY at the apex gets the
	 * SOA answer too: a non-empty subset, as RFC 8482 §4.2 allows. */
	if (a->q.qtype == DNS_T_SOA || (apex && a->q.qtype == DNS_T_ANY)) {
		dns_ans_soa(a, DNS_SEC_AN);
		return dns_ans_ns(a, DNS_SEC_NS);
	}
	if (a->q.qtype == DNS_T_NS)
		return dns_ans_ns(a, DNS_SEC_AN);
	/* The apex exists (it holds the SOA and NS): another type there is
	 * NODATA (spec §1.7 "name exists but no record of that type"), not
	 * NXDOMAIN, which by RFC 8020 denies every name below the domain.
	 * Consul says NXDOMAIN here (hashicorp/consul#1906); dnsviz warns
	 * INCONSISTENT_NXDOMAIN for it. */
	if (apex) {
		dns_ans_nodata(a);
		return 0;
	}
	if (!dns_ans_split(a, a->rdomain->len)) {
		dns_ans_nxdomain(a);
		return 0;
	}
	for (kind_at = a->nlab; kind_at-- > 0;) {
		static const char *const kinds[] = {"service", "connect", "virtual", "ingress", "node", "query", "addr"};
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0] && kind == NULL; k++)
			if (dns_lab_is(&a->lab[kind_at], kinds[k]))
				kind = kinds[k];
		if (kind != NULL)
			break;
	}
	/* RFC 2782 without ".service" (spec §1.2): _<service>._<tag>[.<dc>],
	 * for SRV questions only. */
	if (kind == NULL && a->q.qtype == DNS_T_SRV && a->nlab >= 2 && a->lab[0].n > 1 && a->lab[0].p[0] == '_' && a->lab[1].n > 1 &&
	    a->lab[1].p[0] == '_') {
		kind = "service";
		kind_at = 2;
		if (!dns_ans_local_dc(a, 2)) {
			dns_ans_nxdomain(a);
			return 0;
		}
		goto rfc2782;
	}
	if (kind == NULL || kind_at == 0) {
		dns_ans_nxdomain(a);
		return 0;
	}
	if (strcmp(kind, "addr") == 0) {
		/* The datacenter label is ignored (spec §1.2). */
		if (kind_at != 1) {
			dns_ans_nxdomain(a);
			return 0;
		}
		dns_ans_addr(a, &a->lab[0]);
		return 0;
	}
	if (!dns_ans_local_dc(a, kind_at + 1)) {
		dns_ans_nxdomain(a); /* other datacenters: NXDOMAIN for now */
		return 0;
	}
	if (strcmp(kind, "node") == 0) {
		dns_lab_join(a->lab, 0, kind_at, s1);
		return dns_ans_node(a, s1);
	}
	if (strcmp(kind, "service") != 0) {
		/* .query (until prepared queries exist), .connect, .ingress,
		 * .virtual: NXDOMAIN. */
		dns_ans_nxdomain(a);
		return 0;
	}
	if (kind_at == 2 && a->lab[0].n > 1 && a->lab[0].p[0] == '_' && a->lab[1].n > 1 && a->lab[1].p[0] == '_') {
	rfc2782:
		snprintf(s1, sizeof s1, "%s", a->lab[0].p + 1);
		snprintf(s2, sizeof s2, "%s", a->lab[1].p + 1);
		/* Tag "tcp" means no tag filter. */
		return dns_ans_service(a, s1, strcmp(s2, "tcp") == 0 ? NULL : s2);
	}
	/* [<tag>.]<service>: everything before the service label is the tag. */
	dns_lab_join(a->lab, kind_at - 1, kind_at, s1);
	if (kind_at == 1)
		return dns_ans_service(a, s1, NULL);
	dns_lab_join(a->lab, 0, kind_at - 1, s2);
	return dns_ans_service(a, s1, s2);
}

/* ---- writing and trimming (spec §1.6) ---- */

static void dns_ans_msg(struct dns_answerer *a, const struct dns_query *q, struct dns_msg *m, uint8_t rcode)
{
	memset(m, 0, sizeof *m);
	m->h.id = q->h.id;
	m->h.flags = (uint16_t)(DNS_F_QR | (q->h.flags & (0x7800u | DNS_F_RD)) | (rcode & 0xf));
	if (a->cf.has_recursors)
		m->h.flags |= DNS_F_RA; /* spec §1.7: RA only with recursors */
	m->has_question = q->h.qdcount > 0 && q->qname.len > 0;
	m->qname = &q->qname;
	m->qtype = q->qtype;
	m->qclass = q->qclass;
	m->compress = !a->cf.dns->disable_compression;
	if (q->edns.present) {
		/* Spec §1.8: the client's size echoed, ECS echoed with scope 0. */
		m->edns.present = true;
		m->edns.udp_size = q->edns.udp_size;
		m->edns.ecs = q->edns.ecs;
		m->edns.ecs.scope = 0;
	}
}

int dns_answer_error(struct dns_answerer *a, const struct dns_query *q, uint8_t rcode, struct buf *out)
{
	struct dns_msg m;
	struct dns_written w;

	dns_ans_msg(a, q, &m, rcode);
	/* Header, question and OPT only: they fit in the classic 512. */
	return dns_msg_write(&m, DNS_UDP_MIN, out, &w);
}

/* Writes answers 0..k-1 with the additional records they need; true
 * when all of them fit. */
static bool dns_ans_try(struct dns_answerer *a, struct dns_msg *m, size_t k, bool with_ns, size_t max,
			struct buf *out, size_t base, struct dns_written *w)
{
	out->len = base;
	m->n[DNS_SEC_AN] = k;
	m->n[DNS_SEC_NS] = with_ns ? a->nns : 0;
	m->n[DNS_SEC_AR] = k == 0 ? a->nar : a->srv ? a->ar_end[k - 1] : a->nar;
	if (dns_msg_write(m, max, out, w) != 0)
		return false;
	return !w->trimmed;
}

/* How many of the k answers fit in max, from one encoding of all of them
 * with room to spare: each record's end offset is known, names only ever
 * point back, so a message of the first j answers (and the additional
 * records they own, spec §1.6) encodes those records to the same bytes.
 * 0 when the whole does not encode even in 64 KiB. This replaces about
 * ten encodings of the binary search with two. */
static size_t dns_ans_fit(struct dns_answerer *a, struct dns_msg *m, size_t k, size_t max,
			  struct buf *out, size_t base)
{
	struct dns_written w;
	size_t nar_k, last, total, opt, j;

	out->len = base;
	m->n[DNS_SEC_AN] = k;
	m->n[DNS_SEC_NS] = 0;
	m->n[DNS_SEC_AR] = k == 0 ? a->nar : a->srv ? a->ar_end[k - 1] : a->nar;
	nar_k = m->n[DNS_SEC_AR];
	if (k + nar_k > DNS_ANSWER_ENDS_MAX ||
	    dns_msg_write_ends(m, 65535, out, &w, a->ends, DNS_ANSWER_ENDS_MAX) != 0 || w.trimmed ||
	    w.n[DNS_SEC_AN] != k || w.n[DNS_SEC_AR] != nar_k)
		return 0;
	total = out->len - base;
	last = k + nar_k > 0 ? a->ends[k + nar_k - 1] : 0;
	opt = total - last; /* the OPT record, when there is one */
	for (j = k; j >= 1; j--) {
		size_t nar_j = a->srv ? a->ar_end[j - 1] : nar_k, size = a->ends[j - 1] + opt;

		/* additional records 0..nar_j-1 follow all answers in the full
		 * encoding: add their own lengths */
		if (nar_j > 0)
			size += a->ends[k + nar_j - 1] - a->ends[k - 1];
		if (size <= max)
			return j;
	}
	return 1;
}

static int dns_ans_write(struct dns_answerer *a, bool tcp, struct buf *out)
{
	struct dns_msg m;
	struct dns_written w;
	size_t max, k = a->nan, base = out->len;
	bool trimmed = a->more;
	uint8_t rcode = a->rcode;

	dns_ans_msg(a, &a->q, &m, rcode);
	if (a->aa)
		m.h.flags |= DNS_F_AA;
	m.rr[DNS_SEC_AN] = a->an;
	m.rr[DNS_SEC_NS] = a->ns;
	m.rr[DNS_SEC_AR] = a->ar;
	if (tcp) {
		max = DNS_ANSWER_TCP_BYTES;
	} else {
		max = DNS_UDP_MIN;
		if (a->q.edns.present && a->q.edns.udp_size > DNS_UDP_MIN)
			max = a->q.edns.udp_size > DNS_ANSWER_UDP_MAX ? DNS_ANSWER_UDP_MAX : a->q.edns.udp_size;
		if (max == DNS_UDP_MIN) {
			/* Without usable EDNS at most min(8, udp_answer_limit). */
			int lim = a->cf.dns->udp_answer_limit;
			size_t cap = lim <= 0 ? 3 : lim > DNS_ANSWER_UDP_LIMIT_MAX ? DNS_ANSWER_UDP_LIMIT_MAX : (size_t)lim;
			if (k > cap) {
				k = cap;
				trimmed = true;
			}
		}
	}
	if (!dns_ans_try(a, &m, k, true, max, out, base, &w)) {
		/* The authority goes first, then answers until the rest fits
		 * (computed from one encoding); one answer is always kept. */
		trimmed = true;
		size_t j = dns_ans_fit(a, &m, k, max, out, base);

		/* the computed cut, checked by writing it (3 encodings in all);
		 * the binary search only when it cannot be computed or is off */
		if (j < 1 || !dns_ans_try(a, &m, j, false, max, out, base, &w)) {
			size_t lo = 1, hi = k; /* lo fits or is the floor; hi does not */

			if (j > 1)
				hi = j;
			while (k > 1 && hi - lo > 1) {
				size_t mid = lo + (hi - lo) / 2;
				if (dns_ans_try(a, &m, mid, false, max, out, base, &w))
					lo = mid;
				else
					hi = mid;
			}
			dns_ans_try(a, &m, k == 0 ? 0 : lo, false, max, out, base, &w);
			if (out->len == base)
				return -1;
		}
	}
	if (trimmed && a->cf.dns->enable_truncate) {
		out->p[base + 2] |= (uint8_t)(DNS_F_TC >> 8);
	}
	return 0;
}

enum dns_answer_result dns_answer(struct dns_answerer *a, const uint8_t *pkt, size_t len, bool tcp, uint64_t now_s,
				  uint64_t *rng, struct buf *out)
{
	enum dns_parse_result pr = dns_parse_query(pkt, len, &a->q);
	enum dns_answer_result res = DNS_ANSWER_REPLY;
	const struct dns_query *q = &a->q;

	if (pr == DNS_PARSE_SHORT)
		return DNS_ANSWER_DROP;
	if (q->h.flags & DNS_F_QR)
		return DNS_ANSWER_DROP; /* a response: answering it could loop */
	if (pr == DNS_PARSE_FORMERR || q->h.qdcount > 1) {
		struct dns_query h = {.h = q->h};
		h.h.qdcount = 0;
		dns_answer_error(a, &h, DNS_R_FORMERR, out);
		return DNS_ANSWER_REPLY;
	}
	if (DNS_OPCODE(q->h.flags) != 0) {
		dns_answer_error(a, q, DNS_R_NOTIMP, out);
		return DNS_ANSWER_REPLY;
	}
	if (q->h.qdcount == 0) {
		dns_answer_error(a, q, DNS_R_REFUSED, out); /* spec §1.7 (v2) */
		return DNS_ANSWER_REPLY;
	}
	if (q->qtype == DNS_T_AXFR || q->qtype == 251 /* IXFR */) {
		dns_answer_error(a, q, DNS_R_NOTIMP, out);
		return DNS_ANSWER_REPLY;
	}
	a->now_s = now_s;
	a->rng = rng;
	a->rcode = DNS_R_NOERROR;
	a->aa = false;
	a->srv = false;
	a->nnames = a->nan = a->nns = a->nar = 0;
	a->ntxt = 0;
	a->rdomain = &a->domain;
	a->rdi = 0;
	a->more = false;
	/* Build no more answers than the transport can carry (spec §1.6):
	 * the UDP cap without EDNS, else what the size could hold (an A
	 * record is at least 16 bytes), else the TCP cap. */
	if (tcp) {
		a->want = DNS_ANSWER_TCP_MAX;
	} else if (!q->edns.present || q->edns.udp_size <= DNS_UDP_MIN) {
		int lim = a->cf.dns->udp_answer_limit;
		a->want = lim <= 0 ? 3 : lim > DNS_ANSWER_UDP_LIMIT_MAX ? DNS_ANSWER_UDP_LIMIT_MAX : (size_t)lim;
	} else {
		a->want = q->edns.udp_size / 16 + 1;
	}
	if (dns_ans_build(a, &res) != 0) {
		dns_answer_error(a, q, DNS_R_SERVFAIL, out);
		return DNS_ANSWER_REPLY;
	}
	if (res == DNS_ANSWER_RECURSE)
		return res;
	if (dns_ans_write(a, tcp, out) != 0)
		dns_answer_error(a, q, DNS_R_SERVFAIL, out);
	return DNS_ANSWER_REPLY;
}

/* test_answer.c: the pure DNS answerer against a fake view: spec §1 name forms, §1.5 filtering and limits, §1.6 trimming, §1.7 rows. */
#include "daemons/dnsd/answer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define NOW 1700000000u

/* ---- the fake view ---- */

static const uint8_t H_PASS[] = {DNS_HEALTH_PASSING, DNS_HEALTH_PASSING};
static const uint8_t H_WARN[] = {DNS_HEALTH_PASSING, DNS_HEALTH_WARNING};
static const uint8_t H_CRIT[] = {DNS_HEALTH_CRITICAL, DNS_HEALTH_PASSING}; /* e.g. serfHealth critical */
static const char *const TAGS_V1[] = {"v1", "primary"};
static const char *const TAGS_V2[] = {"v2"};
static const struct dns_kv META[] = {{"rack", "r1"}, {"a=b", "x`y"}, {"rfc1035-raw", "just this"}};

#define INST(nd, ad, svc, sad, pt, tg, nt, ck)                                                                   \
	{.node = {nd, ad, META, 3}, .service = svc, .svc_addr = sad, .port = pt, .tags = tg, .ntags = nt,         \
	 .checks = ck, .nchecks = 2, .weight_passing = 10, .weight_warning = 1}

static struct dns_instance web[] = {
	INST("n1", "10.0.0.1", "web", NULL, 80, TAGS_V1, 2, H_PASS),
	INST("n2", "10.0.0.2", "web", "", 80, TAGS_V2, 1, H_WARN),
	INST("n3", "10.0.0.3", "web", NULL, 80, TAGS_V1, 2, H_CRIT),
	INST("n4", "10.0.0.4", "web", "192.168.1.4", 8080, TAGS_V2, 1, H_PASS),
	INST("n1", "10.0.0.1", "web", NULL, 80, TAGS_V1, 2, H_PASS), /* a duplicate of the first */
};
static struct dns_instance dead[] = {INST("n3", "10.0.0.3", "dead", NULL, 1, NULL, 0, H_CRIT)};
static struct dns_instance v6[] = {INST("n6", "2001:db8::6", "v6", NULL, 443, NULL, 0, H_PASS)};
static struct dns_instance ext[] = {INST("n1", "10.0.0.1", "ext", "db.example.com", 5432, NULL, 0, H_PASS)};
static struct dns_instance servers[] = {
	INST("s1", "10.1.0.1", "consul", NULL, 8300, NULL, 0, H_PASS),
	INST("s2", "10.1.0.2", "consul", NULL, 8300, NULL, 0, H_PASS),
	INST("bad_name", "10.1.0.9", "consul", NULL, 8300, NULL, 0, H_PASS),
};
#define MANY 1000
static struct dns_instance many[MANY];
static char many_names[MANY][16], many_addrs[MANY][32]; /* room for any int, as gcc -O1 counts */

static int fake_service(void *arg, const char *name, const struct dns_instance **out, size_t *n)
{
	(void)arg;
	*n = 0;
	if (strcmp(name, "boom") == 0)
		return -1;
#define S(nm, arr)                                                                                                   \
	if (strcmp(name, nm) == 0) {                                                                                 \
		*out = arr;                                                                                           \
		*n = sizeof arr / sizeof arr[0];                                                                      \
	}
	S("web", web) S("dead", dead) S("v6", v6) S("ext", ext) S("consul", servers) S("many", many)
#undef S
	return 0;
}

static int fake_node(void *arg, const char *name, struct dns_node *out, bool *found)
{
	(void)arg;
	*found = false;
	for (size_t i = 0; i < 4; i++)
		if (strcmp(web[i].node.name, name) == 0) {
			*out = web[i].node;
			*found = true;
		}
	if (strcmp(name, "n6") == 0) {
		*out = v6[0].node;
		*found = true;
	}
	if (strcmp(name, "hosty") == 0) {
		*out = (struct dns_node){"hosty", "box.example.com", NULL, 0};
		*found = true;
	}
	return 0;
}

static int fake_ptr(void *arg, const char *ip, const char **node, const char **service)
{
	(void)arg;
	if (strcmp(ip, "10.0.0.1") == 0)
		*node = "n1";
	else if (strcmp(ip, "192.168.1.4") == 0)
		*service = "web";
	else if (strcmp(ip, "2001:db8::6") == 0)
		*node = "n6";
	return 0;
}

static const struct dns_view VIEW = {NULL, fake_service, fake_node, fake_ptr};

static struct conf_ttl ttls[] = {{"*", 5000}, {"we*", 7000}, {"web", 9000}, {"w*", 6000}};

static struct conf_dns dnsconf;

static void conf_reset(void)
{
	memset(&dnsconf, 0, sizeof dnsconf);
	dnsconf.udp_answer_limit = 3;
	dnsconf.soa = (struct conf_dns_soa){3600, 600, 86400, 0};
	dnsconf.enable_additional_node_meta_txt = true;
	for (int i = 0; i < MANY; i++) {
		snprintf(many_names[i], sizeof many_names[i], "m%d", i);
		snprintf(many_addrs[i], sizeof many_addrs[i], "10.9.%d.%d", i / 250, i % 250 + 1);
		many[i] = (struct dns_instance)INST(many_names[i], many_addrs[i], "many", NULL, 9000, NULL, 0, H_PASS);
	}
}

static struct dns_answerer *mk(const char *alt, bool recursors)
{
	struct dns_answer_conf cf = {"consul.", alt, "dc1", &dnsconf, recursors};
	struct dns_answerer *a = dns_answerer_new(&cf, &VIEW);

	ck_assert_ptr_nonnull(a);
	return a;
}

/* ---- queries and replies ---- */

struct q_opts {
	bool edns;
	uint16_t size;
	bool ecs;
	bool tcp;
	uint64_t seed;
};

struct rr_view {
	int sec;
	char owner[DNS_NAME_TEXT_MAX];
	uint16_t type;
	uint32_t ttl;
	char data[DNS_NAME_TEXT_MAX * 3]; /* A/AAAA text, names, "prio weight port target", SOA fields, TXT */
};

#define RR_MAX 6000

struct reply {
	enum dns_answer_result res;
	size_t len;
	uint16_t id, flags, cnt[4];
	struct dns_query q; /* the OPT echoed */
	struct rr_view *rr;
	size_t n;
	size_t sec_n[3];
};

static void rdata_text(struct cur *c, uint16_t type, uint16_t rdlen, char *out, size_t size)
{
	struct dns_name a, b;
	char t1[DNS_NAME_TEXT_MAX], t2[DNS_NAME_TEXT_MAX];
	size_t end = c->off + rdlen;

	out[0] = '\0';
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA: {
		uint8_t ip[16];
		cur_copy(c, ip, type == DNS_T_A ? 4 : 16);
		inet_ntop(type == DNS_T_A ? AF_INET : AF_INET6, ip, out, (socklen_t)size);
		break;
	}
	case DNS_T_CNAME:
	case DNS_T_NS:
	case DNS_T_PTR:
		dns_name_read(c, &a);
		dns_name_to_text(&a, out, size);
		break;
	case DNS_T_SRV: {
		uint16_t pr = cur_be16(c), w = cur_be16(c), port = cur_be16(c);
		dns_name_read(c, &a);
		dns_name_to_text(&a, t1, sizeof t1);
		snprintf(out, size, "%u %u %u %s", pr, w, port, t1);
		break;
	}
	case DNS_T_SOA: {
		dns_name_read(c, &a);
		dns_name_read(c, &b);
		dns_name_to_text(&a, t1, sizeof t1);
		dns_name_to_text(&b, t2, sizeof t2);
		uint32_t s = cur_be32(c), r = cur_be32(c), rt = cur_be32(c), e = cur_be32(c), m = cur_be32(c);
		snprintf(out, size, "%s %s %u %u %u %u %u", t1, t2, s, r, rt, e, m);
		break;
	}
	case DNS_T_TXT: {
		size_t o = 0;
		while (c->off < end && cur_ok(c)) {
			uint8_t l = cur_u8(c);
			const uint8_t *p = cur_take(c, l);
			if (p == NULL || o + l + 3 >= size)
				break;
			out[o++] = '"';
			memcpy(out + o, p, l);
			o += l;
			out[o++] = '"';
		}
		out[o] = '\0';
		break;
	}
	default:
		break;
	}
	cur_seek(c, end);
}

static struct reply ask_raw(struct dns_answerer *a, const uint8_t *p, size_t len, const struct q_opts *o)
{
	struct reply r = {0};
	struct buf b;
	uint64_t rng = o != NULL && o->seed ? o->seed : 42;
	struct cur c;
	struct dns_name nm;

	r.rr = malloc(RR_MAX * sizeof *r.rr);
	buf_init(&b, 1 << 20);
	r.res = dns_answer(a, p, len, o != NULL && o->tcp, NOW, &rng, &b);
	r.len = b.len;
	if (r.res != DNS_ANSWER_REPLY) {
		ck_assert_uint_eq(b.len, 0);
		buf_fini(&b);
		return r;
	}
	ck_assert_int_eq(dns_parse_query(b.p, b.len, &r.q), DNS_PARSE_OK);
	cur_init(&c, b.p, b.len);
	r.id = cur_be16(&c);
	r.flags = cur_be16(&c);
	for (int i = 0; i < 4; i++)
		r.cnt[i] = cur_be16(&c);
	for (unsigned i = 0; i < r.cnt[0]; i++) {
		dns_name_read(&c, &nm);
		cur_skip(&c, 4);
	}
	for (int s = 0; s < 3; s++) {
		for (unsigned i = 0; i < r.cnt[s + 1]; i++) {
			struct rr_view *v = &r.rr[r.n];
			dns_name_read(&c, &nm);
			dns_name_to_text(&nm, v->owner, sizeof v->owner);
			v->type = cur_be16(&c);
			cur_skip(&c, 2);
			v->ttl = cur_be32(&c);
			uint16_t rdlen = cur_be16(&c);
			v->sec = s;
			rdata_text(&c, v->type, rdlen, v->data, sizeof v->data);
			if (v->type == DNS_T_OPT)
				continue;
			ck_assert(r.n < RR_MAX);
			r.n++;
			r.sec_n[s]++;
		}
	}
	ck_assert(cur_ok(&c));
	ck_assert_uint_eq(cur_left(&c), 0);
	buf_fini(&b);
	return r;
}

static struct reply ask(struct dns_answerer *a, const char *name, uint16_t type, const struct q_opts *o)
{
	struct dns_name qn;
	struct dns_msg m = {.h = {.id = 0x4242, .flags = DNS_F_RD}, .has_question = true, .qname = &qn,
			    .qtype = type, .qclass = DNS_C_IN};
	struct dns_written w;
	struct buf b;
	struct reply r;

	ck_assert_int_eq(dns_name_from_text(&qn, name), 0);
	if (o != NULL && o->edns) {
		m.edns.present = true;
		m.edns.udp_size = o->size;
		if (o->ecs)
			m.edns.ecs = (struct dns_ecs){true, 1, 24, 0, 3, {192, 0, 2}};
	}
	buf_init(&b, 4096);
	ck_assert_int_eq(dns_msg_write(&m, 4096, &b, &w), 0);
	r = ask_raw(a, b.p, b.len, o);
	buf_fini(&b);
	return r;
}

static size_t count(const struct reply *r, int sec, uint16_t type)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += r->rr[i].sec == sec && r->rr[i].type == type;
	return n;
}

static const struct rr_view *find(const struct reply *r, int sec, uint16_t type, const char *data)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->rr[i].sec == sec && r->rr[i].type == type && (data == NULL || strcmp(r->rr[i].data, data) == 0))
			return &r->rr[i];
	return NULL;
}

static void done(struct reply *r)
{
	free(r->rr);
}

#define RCODE(r) DNS_RCODE((r).flags)

/* The §1.7 SOA in authority, exactly. */
static void assert_soa_authority(const struct reply *r, const char *domain)
{
	char want[512];
	const struct rr_view *s = find(r, 1, DNS_T_SOA, NULL);

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->owner, domain);
	snprintf(want, sizeof want, "ns.%s hostmaster.%s %u 3600 600 86400 %u", domain, domain, NOW,
		 (unsigned)dnsconf.soa.min_ttl);
	ck_assert_str_eq(s->data, want);
	ck_assert_uint_eq(s->ttl, dnsconf.soa.min_ttl);
	ck_assert_uint_eq(r->sec_n[0], 0);
}

/* ---- §1.7 rows ---- */

START_TEST(test_nxdomain_rows)
{
	static const char *const names[] = {
		"nosuch.service.consul.", "dead.service.consul.", "nosuch.node.consul.", "foo.consul.",
		"web.service.dc2.consul.", "web.service.dc2.dc.consul.", "geo.query.consul.", "web.connect.consul.",
		"web.service.x.peer.consul.", "zz.addr.dc1.consul.", "7f00000g.addr.consul.", "_web.consul.",
	};

	conf_reset();
	dnsconf.soa.min_ttl = 7;
	struct dns_answerer *a = mk(NULL, false);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct reply r = ask(a, names[i], DNS_T_A, NULL);
		ck_assert_msg(RCODE(r) == DNS_R_NXDOMAIN, "%s: rcode %u", names[i], RCODE(r));
		ck_assert(r.flags & DNS_F_AA);
		ck_assert(!(r.flags & DNS_F_RA));
		ck_assert(r.flags & DNS_F_RD);
		ck_assert(r.flags & DNS_F_QR);
		ck_assert_uint_eq(r.id, 0x4242);
		assert_soa_authority(&r, "consul.");
		done(&r);
	}
	dns_answerer_free(a);
}
END_TEST

START_TEST(test_nodata_rows)
{
	conf_reset();
	struct dns_answerer *a = mk(NULL, false);
	struct reply r = ask(a, "web.service.consul.", DNS_T_AAAA, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_NOERROR);
	ck_assert(r.flags & DNS_F_AA);
	assert_soa_authority(&r, "consul.");
	done(&r);
	r = ask(a, "web.service.consul.", DNS_T_TXT, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_NOERROR);
	assert_soa_authority(&r, "consul.");
	done(&r);
	r = ask(a, "n6.node.consul.", DNS_T_A, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_NOERROR);
	assert_soa_authority(&r, "consul.");
	done(&r);
	/* The apex exists (SOA, NS): other types are NODATA, not NXDOMAIN,
	 * which would deny every name below it (RFC 8020); dnsviz flagged
	 * INCONSISTENT_NXDOMAIN for consul. A/CNAME/DNSKEY. */
	static const uint16_t apex_types[] = {DNS_T_A, DNS_T_AAAA, DNS_T_CNAME, DNS_T_TXT, 48 /* DNSKEY */};
	for (size_t i = 0; i < sizeof apex_types / sizeof apex_types[0]; i++) {
		r = ask(a, "consul.", apex_types[i], NULL);
		ck_assert_msg(RCODE(r) == DNS_R_NOERROR, "consul. type %u: rcode %u", apex_types[i], RCODE(r));
		ck_assert(r.flags & DNS_F_AA);
		ck_assert_uint_eq(r.sec_n[0], 0);
		assert_soa_authority(&r, "consul.");
		done(&r);
	}
	/* ANY at the apex: the SOA, with the NS set in authority (RFC 8482 §4.2). */
	r = ask(a, "CONSUL.", DNS_T_ANY, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_NOERROR);
	ck_assert_uint_eq(r.sec_n[0], 1);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_SOA, NULL));
	ck_assert_uint_eq(count(&r, 1, DNS_T_NS), 2); /* s1, s2; bad_name is skipped */
	done(&r);
	/* A node and a type nodes never have: empty NOERROR, no SOA (§1.3). */
	r = ask(a, "n1.node.consul.", DNS_T_SRV, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_NOERROR);
	ck_assert_uint_eq(r.n, 0);
	done(&r);
	dns_answerer_free(a);
}
END_TEST

START_TEST(test_refused_servfail_notimp_formerr)
{
	conf_reset();
	struct dns_answerer *a = mk(NULL, false), *rec = mk(NULL, true);
	struct reply r = ask(a, "example.com.", DNS_T_A, NULL);

	ck_assert_uint_eq(RCODE(r), DNS_R_REFUSED);
	ck_assert(!(r.flags & DNS_F_AA));
	done(&r);
	r = ask(rec, "example.com.", DNS_T_A, NULL);
	ck_assert_int_eq(r.res, DNS_ANSWER_RECURSE);
	done(&r);
	/* A PTR nobody has: recursors get it, else NXDOMAIN. */
	r = ask(rec, "9.9.9.9.in-addr.arpa.", DNS_T_PTR, NULL);
	ck_assert_int_eq(r.res, DNS_ANSWER_RECURSE);
	done(&r);
	r = ask(a, "boom.service.consul.", DNS_T_A, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_SERVFAIL);
	ck_assert(!(r.flags & DNS_F_RA));
	done(&r);
	r = ask(rec, "boom.service.consul.", DNS_T_A, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_SERVFAIL);
	ck_assert(r.flags & DNS_F_RA);
	done(&r);
	r = ask(rec, "web.service.consul.", DNS_T_A, NULL);
	ck_assert(r.flags & DNS_F_RA);
	ck_assert(r.flags & DNS_F_AA);
	done(&r);
	r = ask(a, "consul.", DNS_T_AXFR, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_NOTIMP);
	done(&r);

	/* Raw packets: an opcode other than QUERY, two questions, none,
	 * a compression loop, a truncated header. */
	uint8_t p[64] = {0x12, 0x34, 0x28, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 6, 'c', 'o', 'n', 's', 'u', 'l', 0, 0, 1, 0, 1};
	r = ask_raw(a, p, 24, NULL); /* opcode 5 (UPDATE) */
	ck_assert_uint_eq(RCODE(r), DNS_R_NOTIMP);
	ck_assert_uint_eq(DNS_OPCODE(r.flags), 5);
	done(&r);
	p[2] = 0x01;
	p[5] = 2;
	memcpy(p + 24, "\xc0\x0c\x00\x01\x00\x01", 6);
	r = ask_raw(a, p, 30, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_FORMERR);
	ck_assert_uint_eq(r.id, 0x1234);
	ck_assert_uint_eq(r.cnt[0], 0);
	done(&r);
	p[5] = 0;
	r = ask_raw(a, p, 12, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_REFUSED);
	done(&r);
	p[5] = 1;
	memcpy(p + 12, "\xc0\x0c\x00\x01\x00\x01", 6);
	r = ask_raw(a, p, 18, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_FORMERR);
	done(&r);
	r = ask_raw(a, p, 11, NULL);
	ck_assert_int_eq(r.res, DNS_ANSWER_DROP);
	done(&r);
	dns_answerer_free(a);
	dns_answerer_free(rec);
}
END_TEST

/* ---- services (§1.2, §1.4, §1.5) ---- */

START_TEST(test_service_a_health)
{
	conf_reset();
	struct dns_answerer *a = mk(NULL, false);
	struct reply r = ask(a, "web.service.consul.", DNS_T_A, &(struct q_opts){.edns = true, .size = 4096});

	/* n3 critical: gone; the duplicate n1: one answer; n2 warning stays. */
	ck_assert_uint_eq(RCODE(r), DNS_R_NOERROR);
	ck_assert(r.flags & DNS_F_AA);
	ck_assert_uint_eq(count(&r, 0, DNS_T_A), 3);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_A, "10.0.0.1"));
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_A, "10.0.0.2"));
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_A, "192.168.1.4"));
	ck_assert_ptr_null(find(&r, 0, DNS_T_A, "10.0.0.3"));
	ck_assert_str_eq(r.rr[0].owner, "web.service.consul.");
	done(&r);
	dnsconf.only_passing = true;
	r = ask(a, "web.service.consul.", DNS_T_A, &(struct q_opts){.edns = true, .size = 4096});
	ck_assert_uint_eq(count(&r, 0, DNS_T_A), 2);
	ck_assert_ptr_null(find(&r, 0, DNS_T_A, "10.0.0.2"));
	done(&r);
	/* Tag filter, the legacy form and a datacenter. */
	r = ask(a, "v1.web.service.dc1.consul.", DNS_T_A, NULL);
	ck_assert_uint_eq(r.sec_n[0], 1);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_A, "10.0.0.1"));
	done(&r);
	r = ask(a, "v2.web.service.dc1.dc.consul.", DNS_T_A, NULL);
	ck_assert_uint_eq(r.sec_n[0], 1); /* only_passing drops n2 */
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_A, "192.168.1.4"));
	done(&r);
	/* Case does not matter. */
	r = ask(a, "WEB.Service.CONSUL.", DNS_T_A, NULL);
	ck_assert_uint_eq(r.sec_n[0], 2);
	ck_assert_str_eq(r.rr[0].owner, "WEB.Service.CONSUL.");
	done(&r);
	r = ask(a, "v6.service.consul.", DNS_T_AAAA, NULL);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_AAAA, "2001:db8::6"));
	done(&r);
	r = ask(a, "ext.service.consul.", DNS_T_A, NULL);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_CNAME, "db.example.com."));
	done(&r);
	dns_answerer_free(a);
}
END_TEST

START_TEST(test_srv)
{
	static const char *const names[] = {"web.service.consul.", "_web._tcp.service.consul.", "_web._tcp.consul.",
					    "_web._tcp.dc1.consul."};
	conf_reset();
	struct dns_answerer *a = mk(NULL, false);

	for (size_t i = 0; i < 4; i++) {
		struct reply r = ask(a, names[i], DNS_T_SRV, &(struct q_opts){.edns = true, .size = 4096});
		ck_assert_msg(r.sec_n[0] == 3, "%s", names[i]);
		ck_assert_ptr_nonnull(find(&r, 0, DNS_T_SRV, "1 10 80 n1.node.dc1.consul."));
		ck_assert_ptr_nonnull(find(&r, 0, DNS_T_SRV, "1 1 80 n2.node.dc1.consul.")); /* warning weight */
		ck_assert_ptr_nonnull(find(&r, 0, DNS_T_SRV, "1 10 8080 c0a80104.addr.dc1.consul."));
		ck_assert_str_eq(r.rr[0].owner, names[i]);
		ck_assert_uint_eq(count(&r, 2, DNS_T_A), 3);
		const struct rr_view *g = find(&r, 2, DNS_T_A, "10.0.0.1");
		ck_assert_ptr_nonnull(g);
		ck_assert_str_eq(g->owner, "n1.node.dc1.consul.");
		g = find(&r, 2, DNS_T_A, "192.168.1.4");
		ck_assert_str_eq(g->owner, "c0a80104.addr.dc1.consul.");
		/* Node meta in additional (enable_additional_node_meta_txt). */
		ck_assert_uint_eq(count(&r, 2, DNS_T_TXT), 2 * 3);
		done(&r);
	}
	/* Without ".service" the RFC 2782 form is an SRV question's only. */
	struct reply x = ask(a, "_web._tcp.consul.", DNS_T_A, NULL);
	ck_assert_uint_eq(RCODE(x), DNS_R_NXDOMAIN);
	done(&x);
	x = ask(a, "_web._tcp.service.consul.", DNS_T_A, NULL);
	ck_assert_uint_eq(count(&x, 0, DNS_T_A), 3);
	done(&x);
	/* RFC 2782 with a tag. */
	struct reply r = ask(a, "_web._v2.service.consul.", DNS_T_SRV, NULL);
	ck_assert_uint_eq(r.sec_n[0], 2);
	done(&r);
	dnsconf.enable_additional_node_meta_txt = false;
	r = ask(a, "_web._v1.consul.", DNS_T_SRV, NULL);
	ck_assert_uint_eq(r.sec_n[0], 1);
	ck_assert_uint_eq(count(&r, 2, DNS_T_TXT), 0);
	ck_assert_uint_eq(count(&r, 2, DNS_T_A), 1);
	done(&r);
	/* A hostname service address is the target itself. */
	r = ask(a, "ext.service.consul.", DNS_T_SRV, NULL);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_SRV, "1 10 5432 db.example.com."));
	done(&r);
	dns_answerer_free(a);
}
END_TEST

/* §1.5: a seeded shuffle; every instance comes first for some seed and
 * the same seed gives the same order. */
START_TEST(test_shuffle_seeded)
{
	bool first[MANY] = {0};
	size_t distinct = 0;

	conf_reset();
	struct dns_answerer *a = mk(NULL, false);
	for (uint64_t seed = 1; seed <= 3000; seed++) {
		struct reply r = ask(a, "many.service.consul.", DNS_T_A, &(struct q_opts){.seed = seed});
		struct reply again = ask(a, "many.service.consul.", DNS_T_A, &(struct q_opts){.seed = seed});
		ck_assert_msg(r.sec_n[0] == 3, "seed %llu", (unsigned long long)seed);
		for (int k = 0; k < 3; k++)
			ck_assert_msg(strcmp(r.rr[k].data, again.rr[k].data) == 0, "seed %llu: answer %d %s vs %s",
				      (unsigned long long)seed, k, r.rr[k].data, again.rr[k].data);
		unsigned x, y, z, w;
		ck_assert(sscanf(r.rr[0].data, "%u.%u.%u.%u", &x, &y, &z, &w) == 4);
		size_t i = z * 250 + w - 1;
		if (!first[i]) {
			first[i] = true;
			distinct++;
		}
		done(&r);
		done(&again);
	}
	/* 3000 draws over 1000: expect ~950 distinct; 800 is far below any seed's chance. */
	ck_assert_msg(distinct > 800, "distinct first answers %zu", distinct);
	dns_answerer_free(a);
}
END_TEST

/* ---- limits and trimming (§1.6) ---- */

/* The cut of a large answer (spec §1.6) is computed from one encoding:
 * across EDNS sizes it always fits, keeps each SRV's A, and is maximal
 * (one more answer would have fitted: an SRV + A pair here costs at most
 * 60 bytes, an A record 16). */
START_TEST(test_trim_cut_is_maximal)
{
	conf_reset();
	struct dns_answerer *a = mk(NULL, false);

	dnsconf.enable_additional_node_meta_txt = false;
	for (unsigned size = 600; size <= 4096; size += 97) {
		struct reply r = ask(a, "many.service.consul.", DNS_T_SRV,
				     &(struct q_opts){.edns = true, .size = (uint16_t)size});

		ck_assert_uint_le(r.len, size);
		ck_assert_uint_eq(count(&r, 2, DNS_T_A), r.sec_n[0]);
		ck_assert_msg(r.len + 60 > size, "size %u: %zu bytes, %zu answers: one more fits",
			      size, r.len, r.sec_n[0]);
		done(&r);
		r = ask(a, "many.service.consul.", DNS_T_A,
			&(struct q_opts){.edns = true, .size = (uint16_t)size});
		ck_assert_uint_le(r.len, size);
		ck_assert_msg(r.len + 16 > size, "size %u: %zu bytes, %zu A: one more fits", size, r.len,
			      r.sec_n[0]);
		done(&r);
	}
	dns_answerer_free(a);
}
END_TEST

START_TEST(test_limits)
{
	conf_reset();
	struct dns_answerer *a = mk(NULL, false);
	struct reply r = ask(a, "many.service.consul.", DNS_T_A, NULL);

	ck_assert_uint_eq(r.sec_n[0], 3); /* udp_answer_limit without EDNS */
	ck_assert(!(r.flags & DNS_F_TC));
	done(&r);
	dnsconf.enable_truncate = true;
	r = ask(a, "many.service.consul.", DNS_T_A, NULL);
	ck_assert_uint_eq(r.sec_n[0], 3);
	ck_assert(r.flags & DNS_F_TC);
	done(&r);
	dnsconf.udp_answer_limit = 50; /* hard max 8 */
	r = ask(a, "many.service.consul.", DNS_T_A, NULL);
	ck_assert_uint_eq(r.sec_n[0], 8);
	done(&r);
	/* EDNS lifts the cap; the size trims. 1232 - 36 - 11 = 1185 / 16 = 74. */
	r = ask(a, "many.service.consul.", DNS_T_A, &(struct q_opts){.edns = true, .size = 1232});
	ck_assert_uint_eq(r.sec_n[0], 74);
	ck_assert_uint_le(r.len, 1232);
	ck_assert(r.flags & DNS_F_TC);
	ck_assert(r.q.edns.present);
	ck_assert_uint_eq(r.q.edns.udp_size, 1232);
	done(&r);
	dnsconf.enable_truncate = false;
	r = ask(a, "many.service.consul.", DNS_T_A, &(struct q_opts){.edns = true, .size = 1232});
	ck_assert(!(r.flags & DNS_F_TC));
	done(&r);
	/* a_record_limit caps A even over TCP, not SRV. */
	dnsconf.a_record_limit = 1;
	r = ask(a, "many.service.consul.", DNS_T_A, &(struct q_opts){.tcp = true});
	ck_assert_uint_eq(r.sec_n[0], 1);
	done(&r);
	/* TCP: SRV capped at 1024 records and 65523 bytes; every answer kept has its A. */
	r = ask(a, "many.service.consul.", DNS_T_SRV, &(struct q_opts){.tcp = true});
	ck_assert_uint_gt(r.sec_n[0], 100);
	ck_assert_uint_le(r.len, DNS_ANSWER_TCP_BYTES);
	ck_assert_uint_eq(count(&r, 2, DNS_T_A), r.sec_n[0]);
	done(&r);
	/* SRV over plain UDP with node meta TXT: the size trims, each SRV kept
	 * keeps its A. */
	r = ask(a, "many.service.consul.", DNS_T_SRV, NULL);
	ck_assert_uint_ge(r.sec_n[0], 1);
	ck_assert_uint_lt(r.sec_n[0], 8);
	ck_assert_uint_le(r.len, 512);
	ck_assert_uint_eq(count(&r, 2, DNS_T_A), r.sec_n[0]);
	done(&r);
	/* Without: 37 (header 12, question 21 + 4) + per answer an SRV (owner pointer 2 + 10 + 6 + its
	 * target written out, RFC 2782: "m<i>.node.dc1.consul." is the
	 * name's length + 18) and an A of 16 (its owner a pointer into the
	 * target): all 8 fit in 512 whichever instances the shuffle took. */
	dnsconf.enable_additional_node_meta_txt = false;
	r = ask(a, "many.service.consul.", DNS_T_SRV, NULL);
	ck_assert_uint_eq(r.sec_n[0], 8);
	{
		size_t want = 12 + 21 + 4;

		for (size_t i = 0; i < r.n; i++)
			if (r.rr[i].sec == 0 && r.rr[i].type == DNS_T_SRV) {
				const char *t = strrchr(r.rr[i].data, ' ') + 1;

				want += 2 + 10 + 6 + (strlen(t) - strlen(".node.dc1.consul.")) + 18 + 16;
			}
		ck_assert_uint_eq(r.len, want);
	}
	ck_assert_uint_eq(count(&r, 2, DNS_T_A), 8);
	done(&r);
	/* SRV over EDNS 1232: trimmed, additional in step with answers. */
	r = ask(a, "many.service.consul.", DNS_T_SRV, &(struct q_opts){.edns = true, .size = 1232});
	ck_assert_uint_gt(r.sec_n[0], 5);
	ck_assert_uint_le(r.len, 1232);
	ck_assert_uint_eq(count(&r, 2, DNS_T_A), r.sec_n[0]);
	done(&r);
	dns_answerer_free(a);
}
END_TEST

START_TEST(test_edns_echo)
{
	conf_reset();
	struct dns_answerer *a = mk(NULL, false);
	struct reply r = ask(a, "web.service.consul.", DNS_T_A, &(struct q_opts){.edns = true, .size = 4000, .ecs = true});

	ck_assert(r.q.edns.present);
	ck_assert_uint_eq(r.q.edns.udp_size, 4000);
	ck_assert(r.q.edns.ecs.present);
	ck_assert_uint_eq(r.q.edns.ecs.source, 24);
	ck_assert_uint_eq(r.q.edns.ecs.scope, 0);
	ck_assert_mem_eq(r.q.edns.ecs.addr, "\xc0\x00\x02", 3);
	done(&r);
	r = ask(a, "nosuch.service.consul.", DNS_T_A, &(struct q_opts){.edns = true, .size = 4000, .ecs = true});
	ck_assert(r.q.edns.ecs.present);
	ck_assert_uint_eq(RCODE(r), DNS_R_NXDOMAIN);
	done(&r);
	r = ask(a, "web.service.consul.", DNS_T_A, NULL);
	ck_assert(!r.q.edns.present);
	done(&r);
	dns_answerer_free(a);
}
END_TEST

/* ---- nodes, addr, PTR, SOA, NS, TTLs, alt_domain ---- */

START_TEST(test_node)
{
	conf_reset();
	dnsconf.node_ttl_ms = 30000;
	struct dns_answerer *a = mk(NULL, false);
	struct reply r = ask(a, "n1.node.consul.", DNS_T_A, NULL);

	ck_assert_uint_eq(r.sec_n[0], 1);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_A, "10.0.0.1"));
	ck_assert_uint_eq(r.rr[0].ttl, 30);
	ck_assert_uint_eq(count(&r, 2, DNS_T_TXT), 3);
	done(&r);
	/* RFC 1464 (spec §1.3): ` and = backquoted in keys; rfc1035- raw. */
	r = ask(a, "n1.node.dc1.consul.", DNS_T_TXT, NULL);
	ck_assert_uint_eq(r.sec_n[0], 3);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_TXT, "\"rack=r1\""));
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_TXT, "\"a`=b=x``y\""));
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_TXT, "\"just this\""));
	done(&r);
	r = ask(a, "n1.node.consul.", DNS_T_ANY, &(struct q_opts){.edns = true, .size = 4096});
	ck_assert_uint_eq(count(&r, 0, DNS_T_A), 1);
	ck_assert_uint_eq(count(&r, 0, DNS_T_TXT), 3);
	done(&r);
	r = ask(a, "hosty.node.consul.", DNS_T_A, NULL);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_CNAME, "box.example.com."));
	done(&r);
	r = ask(a, "n6.node.consul.", DNS_T_AAAA, NULL);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_AAAA, "2001:db8::6"));
	done(&r);
	r = ask(a, "7f000001.addr.dc1.consul.", DNS_T_A, NULL);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_A, "127.0.0.1"));
	ck_assert_uint_eq(r.rr[0].ttl, 30);
	done(&r);
	r = ask(a, "20010db8000000000000000000000001.addr.dc9.consul.", DNS_T_AAAA, NULL);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_AAAA, "2001:db8::1"));
	done(&r);
	r = ask(a, "7f000001.addr.dc1.consul.", DNS_T_AAAA, NULL);
	ck_assert_uint_eq(r.sec_n[0], 0);
	ck_assert_ptr_nonnull(find(&r, 2, DNS_T_A, "127.0.0.1"));
	done(&r);
	dns_answerer_free(a);
}
END_TEST

START_TEST(test_ptr)
{
	conf_reset();
	struct dns_answerer *a = mk("alt.example.", false);
	struct reply r = ask(a, "1.0.0.10.in-addr.arpa.", DNS_T_PTR, NULL);

	ck_assert(r.flags & DNS_F_AA);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_PTR, "n1.node.dc1.consul."));
	ck_assert_uint_eq(r.rr[0].ttl, 0);
	done(&r);
	r = ask(a, "4.1.168.192.in-addr.arpa.", DNS_T_PTR, NULL);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_PTR, "web.service.dc1.consul."));
	done(&r);
	r = ask(a, "6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", DNS_T_PTR, NULL);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_PTR, "n6.node.dc1.consul."));
	done(&r);
	r = ask(a, "9.9.9.9.in-addr.arpa.", DNS_T_PTR, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_NXDOMAIN);
	assert_soa_authority(&r, "consul.");
	done(&r);
	r = ask(a, "300.0.0.10.in-addr.arpa.", DNS_T_PTR, NULL);
	ck_assert_uint_eq(RCODE(r), DNS_R_NXDOMAIN);
	done(&r);
	dns_answerer_free(a);
}
END_TEST

START_TEST(test_soa_ns_alt)
{
	conf_reset();
	struct dns_answerer *a = mk("alt.example.", false);
	struct reply r = ask(a, "consul.", DNS_T_SOA, NULL);
	char want[256];

	ck_assert_uint_eq(RCODE(r), DNS_R_NOERROR);
	ck_assert(r.flags & DNS_F_AA);
	const struct rr_view *s = find(&r, 0, DNS_T_SOA, NULL);
	ck_assert_ptr_nonnull(s);
	snprintf(want, sizeof want, "ns.consul. hostmaster.consul. %u 3600 600 86400 0", NOW);
	ck_assert_str_eq(s->data, want);
	/* Two valid server names; "bad_name" is skipped. */
	ck_assert_uint_eq(count(&r, 1, DNS_T_NS), 2);
	ck_assert_ptr_nonnull(find(&r, 1, DNS_T_NS, "s1.node.dc1.consul."));
	ck_assert_ptr_nonnull(find(&r, 2, DNS_T_A, "10.1.0.2"));
	done(&r);
	r = ask(a, "consul.", DNS_T_NS, NULL);
	ck_assert_uint_eq(count(&r, 0, DNS_T_NS), 2);
	ck_assert_uint_eq(count(&r, 2, DNS_T_A), 2);
	ck_assert_str_eq(r.rr[0].owner, "consul.");
	done(&r);
	/* alt_domain: the answer uses the question's domain (spec §1.1). */
	r = ask(a, "alt.example.", DNS_T_SOA, NULL);
	s = find(&r, 0, DNS_T_SOA, NULL);
	ck_assert_str_eq(s->owner, "alt.example.");
	snprintf(want, sizeof want, "ns.alt.example. hostmaster.alt.example. %u 3600 600 86400 0", NOW);
	ck_assert_str_eq(s->data, want);
	done(&r);
	r = ask(a, "web.service.alt.example.", DNS_T_SRV, NULL);
	ck_assert_ptr_nonnull(find(&r, 0, DNS_T_SRV, "1 10 80 n1.node.dc1.alt.example."));
	done(&r);
	r = ask(a, "nosuch.service.alt.example.", DNS_T_A, NULL);
	assert_soa_authority(&r, "alt.example.");
	done(&r);
	dns_answerer_free(a);
}
END_TEST

START_TEST(test_ttls)
{
	conf_reset();
	dnsconf.service_ttl.v = ttls;
	dnsconf.service_ttl.n = 4;
	ck_assert_uint_eq(dns_answer_service_ttl(&dnsconf, "web"), 9);   /* exact */
	ck_assert_uint_eq(dns_answer_service_ttl(&dnsconf, "webby"), 7); /* longest prefix */
	ck_assert_uint_eq(dns_answer_service_ttl(&dnsconf, "wx"), 6);
	ck_assert_uint_eq(dns_answer_service_ttl(&dnsconf, "db"), 5); /* "*" */
	dnsconf.service_ttl.n = 0;
	ck_assert_uint_eq(dns_answer_service_ttl(&dnsconf, "db"), 0);
	dnsconf.service_ttl.n = 4;
	struct dns_answerer *a = mk(NULL, false);
	struct reply r = ask(a, "web.service.consul.", DNS_T_SRV, NULL);
	for (size_t i = 0; i < r.n; i++)
		ck_assert_uint_eq(r.rr[i].ttl, 9);
	done(&r);
	r = ask(a, "v6.service.consul.", DNS_T_AAAA, NULL);
	ck_assert_uint_eq(r.rr[0].ttl, 5);
	done(&r);
	dns_answerer_free(a);
}
END_TEST

static Suite *answer_suite(void)
{
	Suite *s = suite_create("answer");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_nxdomain_rows);
	tcase_add_test(tc, test_nodata_rows);
	tcase_add_test(tc, test_refused_servfail_notimp_formerr);
	tcase_add_test(tc, test_service_a_health);
	tcase_add_test(tc, test_srv);
	tcase_add_test(tc, test_shuffle_seeded);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_trim_cut_is_maximal);
	tcase_add_test(tc, test_edns_echo);
	tcase_add_test(tc, test_node);
	tcase_add_test(tc, test_ptr);
	tcase_add_test(tc, test_soa_ns_alt);
	tcase_add_test(tc, test_ttls);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(answer_suite());
}

/* fuzz_dnswire.c: libFuzzer target for dnsd's query parser and answerer: parse, write back, parse again, same result; then answer it over UDP and TCP. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "daemons/dnsd/answer.h"
#include "daemons/dnsd/dnswire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_DNSWIRE_OUT_CAP 65536

static void fuzz_dnswire_same(const struct dns_query *a, const struct dns_query *b)
{
	if (a->h.id != b->h.id || a->h.flags != b->h.flags || !dns_name_equal(&a->qname, &b->qname) ||
	    a->qname.len != b->qname.len || memcmp(a->qname.wire, b->qname.wire, a->qname.len) != 0 ||
	    a->qtype != b->qtype || a->qclass != b->qclass || a->edns.present != b->edns.present ||
	    a->edns.udp_size != b->edns.udp_size || a->edns.do_bit != b->edns.do_bit ||
	    a->edns.version != b->edns.version || a->edns.ext_rcode != b->edns.ext_rcode ||
	    a->edns.ecs.present != b->edns.ecs.present || a->edns.ecs.family != b->edns.ecs.family ||
	    a->edns.ecs.source != b->edns.ecs.source || a->edns.ecs.scope != b->edns.ecs.scope ||
	    a->edns.ecs.addr_len != b->edns.ecs.addr_len ||
	    memcmp(a->edns.ecs.addr, b->edns.ecs.addr, a->edns.ecs.addr_len) != 0)
		abort();
}

/* A small fixed catalog for the answerer. */
static const uint8_t fz_pass[] = {DNS_HEALTH_PASSING};
static const uint8_t fz_warn[] = {DNS_HEALTH_WARNING};
static const uint8_t fz_crit[] = {DNS_HEALTH_CRITICAL};
static const char *const fz_tags[] = {"v1"};
static const struct dns_kv fz_meta[] = {{"k", "v"}, {" a=`", "b`"}};
static const struct dns_instance fz_web[] = {
	{{"n1", "10.0.0.1", fz_meta, 2}, "web", NULL, 80, fz_tags, 1, fz_pass, 1, 1, 1},
	{{"n2", "2001:db8::2", NULL, 0}, "web", "10.1.1.1", 81, NULL, 0, fz_warn, 1, 5, 1},
	{{"n3", "host.example", NULL, 0}, "web", NULL, 82, NULL, 0, fz_pass, 1, 1, 1},
	{{"n4", "10.0.0.4", NULL, 0}, "web", "svc.example", 83, fz_tags, 1, fz_crit, 1, 1, 1},
	{{"s1", "10.0.0.9", NULL, 0}, "consul", NULL, 8300, NULL, 0, fz_pass, 1, 1, 1},
};

static int fz_service(void *arg, const char *name, const struct dns_instance **out, size_t *n)
{
	(void)arg;
	*out = fz_web;
	*n = strcmp(name, "web") == 0 ? 4 : strcmp(name, "consul") == 0 ? 1 : 0;
	if (strcmp(name, "consul") == 0)
		*out = fz_web + 4;
	return strcmp(name, "err") == 0 ? -1 : 0;
}

static int fz_node(void *arg, const char *name, struct dns_node *out, bool *found)
{
	(void)arg;
	*found = false;
	for (size_t i = 0; i < 5; i++)
		if (strcmp(name, fz_web[i].node.name) == 0) {
			*out = fz_web[i].node;
			*found = true;
		}
	return 0;
}

static int fz_ptr(void *arg, const char *ip, const char **node, const char **service)
{
	(void)arg;
	if (strcmp(ip, "10.0.0.1") == 0)
		*node = "n1";
	else if (strcmp(ip, "10.1.1.1") == 0)
		*service = "web";
	return 0;
}

static void fuzz_dnswire_answer(const uint8_t *data, size_t size)
{
	static const struct dns_view view = {NULL, fz_service, fz_node, fz_ptr};
	static struct conf_dns dns = {.udp_answer_limit = 3, .soa = {3600, 600, 86400, 0},
				      .enable_additional_node_meta_txt = true};
	static struct dns_answerer *a;
	struct dns_answer_conf cf = {"consul.", "alt.", "dc1", &dns, false};
	struct dns_query r;
	uint64_t rng = size + 1;
	struct buf b;

	if (a == NULL && (a = dns_answerer_new(&cf, &view)) == NULL)
		abort();
	buf_init(&b, 1 << 17);
	for (int tcp = 0; tcp < 2; tcp++) {
		enum dns_answer_result res;

		buf_reset(&b);
		dns.enable_truncate = tcp == 0;
		res = dns_answer(a, data, size, tcp, 1700000000, &rng, &b);
		if (res != DNS_ANSWER_REPLY)
			continue;
		/* Every reply is a well-formed message within the size rules. */
		if (b.len > DNS_ANSWER_TCP_BYTES || dns_parse_query(b.p, b.len, &r) != DNS_PARSE_OK ||
		    !(r.h.flags & DNS_F_QR))
			abort();
		if (!tcp && b.len > 512 && !r.edns.present)
			abort();
	}
	buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_query q, again;
	struct dns_msg m = {0};
	struct dns_written w;
	struct buf b;

	fuzz_dnswire_answer(data, size);
	if (dns_parse_query(data, size, &q) != DNS_PARSE_OK)
		return 0;
	/* What parses is a valid name: within the limits the writer keeps. */
	if (q.h.qdcount > 0 && (q.qname.len == 0 || q.qname.wire[q.qname.len - 1] != 0))
		abort();
	m.h = q.h;
	m.has_question = q.h.qdcount > 0;
	m.qname = &q.qname;
	m.qtype = q.qtype;
	m.qclass = q.qclass;
	m.edns = q.edns;
	m.compress = true;
	buf_init(&b, FUZZ_DNSWIRE_OUT_CAP);
	if (dns_msg_write(&m, FUZZ_DNSWIRE_OUT_CAP, &b, &w) != 0)
		abort();
	if (dns_parse_query(b.p, b.len, &again) != DNS_PARSE_OK)
		abort();
	if (m.has_question)
		fuzz_dnswire_same(&q, &again);
	buf_fini(&b);
	return 0;
}

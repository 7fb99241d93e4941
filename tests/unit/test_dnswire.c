/* test_dnswire.c: the DNS wire codec: byte-exact vectors, round trips, compression, truncation and malformed names. */
#include "daemons/dnsd/dnswire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Vectors made once with dnspython 2.3 (Debian 12 python3-dnspython):
 *   dns.message.make_query("web.service.consul.", "A", id=0x1234).to_wire()
 *   dns.message.make_query("_web._tcp.service.consul.", "SRV", id=0xbeef,
 *       use_edns=0, payload=4096, want_dnssec=True,
 *       options=[dns.edns.ECSOption("192.0.2.0", 24)]).to_wire()
 *   r = dns.message.make_response(<the first query>); r.flags |= AA;
 *   r.answer.append(rrset "web.service.consul." 0 IN A 10.0.0.2 10.0.0.1) */
static const char Q_A[] = "12340100000100000000000003776562077365727669636506636f6e73756c0000010001";
static const char Q_SRV_ECS[] = "beef01000001000000000001045f776562045f746370077365727669636506636f6e73756c"
				"0000210001000029100000008000000b0008000700011800c00002";
static const char R_A[] = "12348500000100020000000003776562077365727669636506636f6e73756c0000010001"
			  "c00c000100010000000000040a000002c00c000100010000000000040a000001";

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert(sscanf(h + 2 * i, "%2x", &v) == 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static struct dns_name name(const char *t)
{
	struct dns_name n;

	ck_assert_int_eq(dns_name_from_text(&n, t), 0);
	return n;
}

static void text(const struct dns_name *n, char *out)
{
	dns_name_to_text(n, out, DNS_NAME_TEXT_MAX);
}

START_TEST(test_parse_plain_a)
{
	uint8_t p[512];
	size_t n = unhex(Q_A, p);
	struct dns_query q;
	char t[DNS_NAME_TEXT_MAX];

	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_OK);
	ck_assert_uint_eq(q.h.id, 0x1234);
	ck_assert_uint_eq(q.h.flags, DNS_F_RD);
	ck_assert_uint_eq(q.h.qdcount, 1);
	ck_assert_uint_eq(q.qtype, DNS_T_A);
	ck_assert_uint_eq(q.qclass, DNS_C_IN);
	ck_assert(!q.edns.present);
	text(&q.qname, t);
	ck_assert_str_eq(t, "web.service.consul.");
}
END_TEST

START_TEST(test_parse_edns_ecs)
{
	uint8_t p[512];
	size_t n = unhex(Q_SRV_ECS, p);
	struct dns_query q;
	char t[DNS_NAME_TEXT_MAX];

	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_OK);
	ck_assert_uint_eq(q.qtype, DNS_T_SRV);
	text(&q.qname, t);
	ck_assert_str_eq(t, "_web._tcp.service.consul.");
	ck_assert(q.edns.present);
	ck_assert_uint_eq(q.edns.udp_size, 4096);
	ck_assert(q.edns.do_bit);
	ck_assert(q.edns.ecs.present);
	ck_assert_uint_eq(q.edns.ecs.family, 1);
	ck_assert_uint_eq(q.edns.ecs.source, 24);
	ck_assert_uint_eq(q.edns.ecs.scope, 0);
	ck_assert_uint_eq(q.edns.ecs.addr_len, 3);
	ck_assert_mem_eq(q.edns.ecs.addr, "\xc0\x00\x02", 3);
}
END_TEST

/* Writing the parsed query back gives the same bytes (no compression
 * opportunity in one name, so exact). */
static void requery(const char *hex)
{
	uint8_t p[512];
	size_t n = unhex(hex, p);
	struct dns_query q;
	struct dns_msg m = {0};
	struct dns_written w;
	struct buf b;

	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_OK);
	m.h = q.h;
	m.has_question = true;
	m.qname = &q.qname;
	m.qtype = q.qtype;
	m.qclass = q.qclass;
	m.edns = q.edns;
	m.compress = true;
	buf_init(&b, 65536);
	ck_assert_int_eq(dns_msg_write(&m, 512, &b, &w), 0);
	ck_assert_uint_eq(b.len, n);
	ck_assert_mem_eq(b.p, p, n);
	buf_fini(&b);
}

START_TEST(test_query_round_trip)
{
	requery(Q_A);
	requery(Q_SRV_ECS);
}
END_TEST

START_TEST(test_write_exact_compressed_a)
{
	uint8_t want[512];
	size_t n = unhex(R_A, want);
	struct dns_name qn = name("web.service.consul");
	struct dns_rr rr[2] = {
		{.owner = &qn, .type = DNS_T_A, .rclass = DNS_C_IN, .u.a = {10, 0, 0, 2}},
		{.owner = &qn, .type = DNS_T_A, .rclass = DNS_C_IN, .u.a = {10, 0, 0, 1}},
	};
	struct dns_msg m = {.h = {.id = 0x1234, .flags = DNS_F_QR | DNS_F_AA | DNS_F_RD},
			    .has_question = true, .qname = &qn, .qtype = DNS_T_A, .qclass = DNS_C_IN,
			    .compress = true};
	struct dns_written w;
	struct buf b;

	m.rr[DNS_SEC_AN] = rr;
	m.n[DNS_SEC_AN] = 2;
	buf_init(&b, 65536);
	ck_assert_int_eq(dns_msg_write(&m, 512, &b, &w), 0);
	ck_assert_uint_eq(w.n[DNS_SEC_AN], 2);
	ck_assert(!w.trimmed);
	ck_assert_uint_eq(b.len, n);
	ck_assert_mem_eq(b.p, want, n);
	buf_fini(&b);
}
END_TEST

/* Every record type written, then read back by hand with a cursor. */
START_TEST(test_write_all_types)
{
	struct dns_name qn = name("db.service.consul"), tgt = name("n1.node.dc1.consul"),
			mn = name("ns.consul"), rn = name("hostmaster.consul"), dom = name("consul");
	static char big[600];
	memset(big, 'x', sizeof big);
	struct dns_rr rr[8] = {
		{.owner = &qn, .type = DNS_T_SRV, .rclass = 1, .ttl = 5,
		 .u.srv = {.priority = 1, .weight = 2, .port = 8080, .target = &tgt}},
		{.owner = &qn, .type = DNS_T_AAAA, .rclass = 1, .u.aaaa = {0x20, 1, 0xd, 0xb8, [15] = 1}},
		{.owner = &qn, .type = DNS_T_CNAME, .rclass = 1, .u.name = &tgt},
		{.owner = &qn, .type = DNS_T_PTR, .rclass = 1, .u.name = &tgt},
		{.owner = &dom, .type = DNS_T_NS, .rclass = 1, .u.name = &mn},
		{.owner = &tgt, .type = DNS_T_TXT, .rclass = 1,
		 .u.txt = {.s = {{"a=b", 3}, {big, sizeof big}}, .n = 2}},
		{.owner = &dom, .type = DNS_T_SOA, .rclass = 1, .ttl = 7,
		 .u.soa = {&mn, &rn, 1700000000, 3600, 600, 86400, 7}},
		{.owner = &tgt, .type = DNS_T_A, .rclass = 1, .u.a = {127, 0, 0, 1}},
	};
	struct dns_msg m = {.h = {.id = 1, .flags = DNS_F_QR}, .has_question = true, .qname = &qn,
			    .qtype = DNS_T_ANY, .qclass = 1, .compress = true};
	struct dns_written w;
	struct buf b;
	struct cur c;
	struct dns_name x;
	char t[DNS_NAME_TEXT_MAX];

	m.rr[DNS_SEC_AN] = rr;
	m.n[DNS_SEC_AN] = 8;
	buf_init(&b, 65536);
	ck_assert_int_eq(dns_msg_write(&m, 65535, &b, &w), 0);
	ck_assert_uint_eq(w.n[DNS_SEC_AN], 8);
	cur_init(&c, b.p, b.len);
	cur_skip(&c, 12);
	dns_name_read(&c, &x);
	cur_skip(&c, 4);
	/* SRV */
	dns_name_read(&c, &x);
	ck_assert(dns_name_equal(&x, &qn));
	ck_assert_uint_eq(cur_be16(&c), DNS_T_SRV);
	cur_skip(&c, 2);
	ck_assert_uint_eq(cur_be32(&c), 5);
	ck_assert_uint_eq(cur_be16(&c), 6 + tgt.len); /* target not compressed */
	ck_assert_uint_eq(cur_be16(&c), 1);
	ck_assert_uint_eq(cur_be16(&c), 2);
	ck_assert_uint_eq(cur_be16(&c), 8080);
	dns_name_read(&c, &x);
	ck_assert(dns_name_equal(&x, &tgt));
	/* AAAA */
	dns_name_read(&c, &x);
	ck_assert_uint_eq(cur_be16(&c), DNS_T_AAAA);
	cur_skip(&c, 6);
	ck_assert_uint_eq(cur_be16(&c), 16);
	cur_skip(&c, 16);
	/* CNAME, PTR: compressed names read back equal */
	for (int i = 0; i < 2; i++) {
		dns_name_read(&c, &x);
		cur_skip(&c, 10);
		dns_name_read(&c, &x);
		ck_assert(dns_name_equal(&x, &tgt));
	}
	/* NS */
	dns_name_read(&c, &x);
	ck_assert(dns_name_equal(&x, &dom));
	cur_skip(&c, 10);
	dns_name_read(&c, &x);
	ck_assert(dns_name_equal(&x, &mn));
	/* TXT: "a=b", then 600 bytes as 255 + 255 + 90 */
	dns_name_read(&c, &x);
	ck_assert_uint_eq(cur_be16(&c), DNS_T_TXT);
	cur_skip(&c, 6);
	ck_assert_uint_eq(cur_be16(&c), 4 + 3 * 1 + 600);
	ck_assert_uint_eq(cur_u8(&c), 3);
	cur_skip(&c, 3);
	ck_assert_uint_eq(cur_u8(&c), 255);
	cur_skip(&c, 255);
	ck_assert_uint_eq(cur_u8(&c), 255);
	cur_skip(&c, 255);
	ck_assert_uint_eq(cur_u8(&c), 90);
	cur_skip(&c, 90);
	/* SOA */
	dns_name_read(&c, &x);
	ck_assert_uint_eq(cur_be16(&c), DNS_T_SOA);
	cur_skip(&c, 2);
	ck_assert_uint_eq(cur_be32(&c), 7);
	cur_skip(&c, 2);
	dns_name_read(&c, &x);
	ck_assert(dns_name_equal(&x, &mn));
	dns_name_read(&c, &x);
	text(&x, t);
	ck_assert_str_eq(t, "hostmaster.consul.");
	ck_assert_uint_eq(cur_be32(&c), 1700000000);
	ck_assert_uint_eq(cur_be32(&c), 3600);
	ck_assert_uint_eq(cur_be32(&c), 600);
	ck_assert_uint_eq(cur_be32(&c), 86400);
	ck_assert_uint_eq(cur_be32(&c), 7);
	/* A */
	dns_name_read(&c, &x);
	ck_assert(dns_name_equal(&x, &tgt));
	cur_skip(&c, 8);
	ck_assert_uint_eq(cur_be16(&c), 4);
	ck_assert_uint_eq(cur_be32(&c), 0x7f000001);
	ck_assert(cur_ok(&c));
	ck_assert_uint_eq(cur_left(&c), 0);
	buf_fini(&b);
}
END_TEST

/* Compression shrinks; disable_compression writes names whole. */
START_TEST(test_compression_off)
{
	struct dns_name qn = name("web.service.consul");
	struct dns_rr rr = {.owner = &qn, .type = DNS_T_A, .rclass = 1};
	struct dns_msg m = {.has_question = true, .qname = &qn, .qtype = 1, .qclass = 1};
	struct dns_written w;
	struct buf a, b;

	m.rr[0] = &rr;
	m.n[0] = 1;
	buf_init(&a, 4096);
	buf_init(&b, 4096);
	m.compress = true;
	ck_assert_int_eq(dns_msg_write(&m, 512, &a, &w), 0);
	m.compress = false;
	ck_assert_int_eq(dns_msg_write(&m, 512, &b, &w), 0);
	ck_assert_uint_eq(b.len - a.len, qn.len - 2);
	buf_fini(&a);
	buf_fini(&b);
}
END_TEST

/* Whole records until one does not fit; the OPT always fits. */
START_TEST(test_truncation)
{
	struct dns_name qn = name("web.service.consul");
	struct dns_rr rr[100];
	struct dns_msg m = {.has_question = true, .qname = &qn, .qtype = 1, .qclass = 1, .compress = true};
	struct dns_written w;
	struct buf b;
	struct dns_query q;

	for (int i = 0; i < 100; i++)
		rr[i] = (struct dns_rr){.owner = &qn, .type = DNS_T_A, .rclass = 1, .u.a = {10, 0, 0, (uint8_t)i}};
	m.rr[DNS_SEC_AN] = rr;
	m.n[DNS_SEC_AN] = 100;
	m.rr[DNS_SEC_AR] = rr;
	m.n[DNS_SEC_AR] = 5;
	buf_init(&b, 65536);
	/* header 12 + question 24 = 36; each A = 16 bytes: (512-36)/16 = 29 */
	ck_assert_int_eq(dns_msg_write(&m, 512, &b, &w), 0);
	ck_assert_uint_eq(w.n[DNS_SEC_AN], 29);
	ck_assert_uint_eq(w.n[DNS_SEC_AR], 0);
	ck_assert(w.trimmed);
	ck_assert_uint_le(b.len, 512);
	ck_assert_uint_eq(b.p[7], 29);
	dns_set_tc(&b);
	ck_assert_int_eq(dns_parse_query(b.p, b.len, &q), DNS_PARSE_OK);
	ck_assert(q.h.flags & DNS_F_TC);
	buf_reset(&b);
	m.edns = (struct dns_edns){.present = true, .udp_size = 512};
	/* 36 + 29 * 16 + 11 = 511: in 510 the OPT takes one A's room. */
	ck_assert_int_eq(dns_msg_write(&m, 510, &b, &w), 0);
	ck_assert_uint_eq(w.n[DNS_SEC_AN], 28);
	ck_assert_uint_eq(b.len, 36 + 28 * 16 + 11);
	ck_assert_int_eq(dns_parse_query(b.p, b.len, &q), DNS_PARSE_OK);
	ck_assert(q.edns.present);
	ck_assert_uint_eq(q.h.arcount, 1);
	buf_reset(&b);
	/* Everything fits in 64 KiB. */
	ck_assert_int_eq(dns_msg_write(&m, 65535, &b, &w), 0);
	ck_assert_uint_eq(w.n[DNS_SEC_AN], 100);
	ck_assert_uint_eq(w.n[DNS_SEC_AR], 5);
	ck_assert(!w.trimmed);
	buf_reset(&b);
	/* Not even the header: -1 and nothing left behind. */
	ck_assert_int_eq(dns_msg_write(&m, 20, &b, &w), -1);
	ck_assert_uint_eq(b.len, 0);
	buf_fini(&b);
}
END_TEST

/* A header and a question, then the given name bytes as the qname. */
static size_t pkt(uint8_t *p, const uint8_t *nm, size_t nlen)
{
	static const uint8_t h[12] = {0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};

	memcpy(p, h, 12);
	memcpy(p + 12, nm, nlen);
	memcpy(p + 12 + nlen, "\x00\x01\x00\x01", 4);
	return 12 + nlen + 4;
}

START_TEST(test_malformed)
{
	uint8_t p[1024], nm[600];
	struct dns_query q;
	size_t n;

	/* Truncated headers: nothing to answer. */
	for (size_t len = 0; len < 12; len++)
		ck_assert_int_eq(dns_parse_query((const uint8_t *)"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00", len, &q),
				 DNS_PARSE_SHORT);
	/* Header only but QDCOUNT 1: FORMERR with the id kept. */
	n = pkt(p, (const uint8_t *)"", 0) - 4;
	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_FORMERR);
	ck_assert_uint_eq(q.h.id, 0xabcd);
	/* A pointer to itself (offset 12). */
	n = pkt(p, (const uint8_t *)"\xc0\x0c", 2);
	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_FORMERR);
	/* A label then a pointer back to that label: a loop through a backward pointer. */
	n = pkt(p, (const uint8_t *)"\x01" "a\xc0\x0c", 4);
	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_FORMERR);
	/* A forward pointer. */
	n = pkt(p, (const uint8_t *)"\xc0\x10\x01" "a\x00", 5);
	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_FORMERR);
	/* A label of 64. */
	nm[0] = 64;
	memset(nm + 1, 'a', 64);
	nm[65] = 0;
	n = pkt(p, nm, 66);
	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_FORMERR);
	/* Reserved label types 0x40 and 0x80. */
	n = pkt(p, (const uint8_t *)"\x41" "a\x00", 3);
	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_FORMERR);
	n = pkt(p, (const uint8_t *)"\x81" "a\x00", 3);
	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_FORMERR);
	/* 255 bytes is the limit: 4 labels of 63 = 256 with the root. */
	size_t o = 0;
	for (int i = 0; i < 4; i++) {
		nm[o++] = 63;
		memset(nm + o, 'b', 63);
		o += 63;
	}
	nm[o++] = 0;
	n = pkt(p, nm, o);
	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_FORMERR);
	/* 3 x 63 + 61 + root = 255: accepted. */
	nm[3 * 64] = 61;
	nm[3 * 64 + 62] = 0;
	n = pkt(p, nm, 3 * 64 + 63);
	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_OK);
	ck_assert_uint_eq(q.qname.len, 255);
	/* A name cut by the end of the packet. */
	ck_assert_int_eq(dns_parse_query(p, 12 + 100, &q), DNS_PARSE_FORMERR);
}
END_TEST

/* Pointers that go backward in a chain are fine: the second question's
 * name points into the first. */
START_TEST(test_compressed_pointer_chain)
{
	uint8_t p[512];
	struct dns_query q;
	struct cur c;
	struct dns_name a, b;
	char t[DNS_NAME_TEXT_MAX];
	/* header, "www.example.com." A IN, then "ftp" + ptr to "example" (13+4). */
	size_t n = pkt(p, (const uint8_t *)"\x03www\x07" "example\x03" "com\x00", 17);

	memcpy(p + n, "\x03" "ftp\xc0\x10\xc0\x21", 8); /* ftp.example.com, then a pointer to that */
	n += 8;
	cur_init(&c, p, n);
	cur_seek(&c, 33);
	ck_assert_int_eq(dns_name_read(&c, &a), 0);
	text(&a, t);
	ck_assert_str_eq(t, "ftp.example.com.");
	ck_assert_uint_eq(c.off, 39);
	ck_assert_int_eq(dns_name_read(&c, &b), 0);
	ck_assert(dns_name_equal(&a, &b));
	ck_assert_uint_eq(c.off, 41);
	ck_assert_int_eq(dns_parse_query(p, 33, &q), DNS_PARSE_OK);
}
END_TEST

START_TEST(test_opt_rules)
{
	uint8_t p[512];
	size_t n = unhex(Q_SRV_ECS, p), base = n;
	struct dns_query q;

	/* Two OPTs: FORMERR. */
	memcpy(p + n, "\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00", 11);
	n += 11;
	p[11] = 2;
	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_FORMERR);
	/* ECS address longer than the source prefix needs: FORMERR. */
	n = unhex(Q_SRV_ECS, p);
	p[base - 9] = 16; /* source /16 but 3 address bytes */
	ck_assert_int_eq(dns_parse_query(p, n, &q), DNS_PARSE_FORMERR);
}
END_TEST

START_TEST(test_name_text)
{
	struct dns_name a, b;
	char t[DNS_NAME_TEXT_MAX];
	char longl[70];

	ck_assert_int_eq(dns_name_from_text(&a, "."), 0);
	ck_assert_uint_eq(a.len, 1);
	text(&a, t);
	ck_assert_str_eq(t, ".");
	ck_assert_int_eq(dns_name_from_text(&a, "Web.Service.CONSUL."), 0);
	ck_assert_int_eq(dns_name_from_text(&b, "web.service.consul"), 0);
	ck_assert(dns_name_equal(&a, &b));
	ck_assert_int_eq(dns_name_from_text(&a, "a\\.b.c"), 0);
	ck_assert_uint_eq(a.wire[0], 3);
	text(&a, t);
	ck_assert_str_eq(t, "a\\.b.c.");
	ck_assert_int_eq(dns_name_from_text(&a, "a..b"), -1);
	memset(longl, 'x', 64);
	longl[64] = '\0';
	ck_assert_int_eq(dns_name_from_text(&a, longl), -1);
	longl[63] = '\0';
	ck_assert_int_eq(dns_name_from_text(&a, longl), 0);
	ck_assert_int_eq(dns_name_from_text(&a, "x.consul"), 0);
	ck_assert_int_eq(dns_name_from_text(&b, "consul"), 0);
	ck_assert(dns_name_has_suffix(&a, &b));
	ck_assert_int_eq(dns_name_from_text(&a, "xconsul"), 0);
	ck_assert(!dns_name_has_suffix(&a, &b));
}
END_TEST

static Suite *dnswire_suite(void)
{
	Suite *s = suite_create("dnswire");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_plain_a);
	tcase_add_test(tc, test_parse_edns_ecs);
	tcase_add_test(tc, test_query_round_trip);
	tcase_add_test(tc, test_write_exact_compressed_a);
	tcase_add_test(tc, test_write_all_types);
	tcase_add_test(tc, test_compression_off);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_compressed_pointer_chain);
	tcase_add_test(tc, test_opt_rules);
	tcase_add_test(tc, test_name_text);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(dnswire_suite());
}

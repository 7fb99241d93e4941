/* fuzz_dnswire.c: libFuzzer target for dnsd's query parser: parse, write the query back, parse again, same result. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_query q, again;
	struct dns_msg m = {0};
	struct dns_written w;
	struct buf b;

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

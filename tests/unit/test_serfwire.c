/* test_serfwire.c: Check suite for serfwire: serf 0.9.4's captures, round trips, hostile input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemons/gossipd/serfwire.h"
#include "mpk.h"
#include "serf_vectors.h"
#include "testutil.h"

#define TEST_TIMEOUT_S 30
#define BUF_CAP        (1 << 20)

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * decode.py's rendering of what we decoded (its show(): dict items in wire
 * order, which is the sorted order serf writes; printable strings as
 * Python reprs, other bytes as 0x-hex; a long all-None list as
 * "[None x N]"), so each golden vector is checked against the very line the
 * capture's .txt shows for it.
 */
static void show_bytes(struct buf *o, struct serfwire_bytes v)
{
	size_t i;
	bool printable = true;

	if (v.p == NULL) {
		buf_printf(o, "None");
		return;
	}
	for (i = 0; i < v.len; i++)
		if (v.p[i] < 0x20 || v.p[i] > 0x7e)
			printable = false;
	if (!printable) {
		buf_printf(o, "0x");
		for (i = 0; i < v.len; i++)
			buf_printf(o, "%02x", v.p[i]);
		return;
	}
	buf_putc(o, '\'');
	for (i = 0; i < v.len; i++) {
		if (v.p[i] == '\'' || v.p[i] == '\\')
			buf_putc(o, '\\');
		buf_putc(o, v.p[i]);
	}
	buf_putc(o, '\'');
}

static const char *py_bool(bool v)
{
	return v ? "True" : "False";
}

static void show_event_slot(struct buf *o, const struct serfwire_event_slot *s)
{
	size_t i;

	if (!s->present) {
		buf_printf(o, "None");
		return;
	}
	buf_printf(o, "{'Events': [");
	for (i = 0; i < s->n_events; i++) {
		buf_printf(o, "%s{'Name': ", i ? ", " : "");
		show_bytes(o, s->events[i].name);
		buf_printf(o, ", 'Payload': ");
		show_bytes(o, s->events[i].payload);
		buf_printf(o, "}");
	}
	buf_printf(o, "], 'LTime': %llu}", (unsigned long long)s->ltime);
}

static void show_push_pull(struct buf *o, const struct serfwire_push_pull *m)
{
	size_t i;
	bool all_nil = true;

	buf_printf(o, "{'EventLTime': %llu, 'Events': ", (unsigned long long)m->event_ltime);
	for (i = 0; i < m->n_events; i++)
		if (m->events[i].present)
			all_nil = false;
	if (m->n_events > 8 && all_nil) {
		buf_printf(o, "[None x %zu]", m->n_events);
	} else {
		buf_printf(o, "[");
		for (i = 0; i < m->n_events; i++) {
			buf_printf(o, "%s", i ? ", " : "");
			show_event_slot(o, &m->events[i]);
		}
		buf_printf(o, "]");
	}
	buf_printf(o, ", 'LTime': %llu, 'LeftMembers': [", (unsigned long long)m->ltime);
	for (i = 0; i < m->n_left_members; i++) {
		buf_printf(o, "%s", i ? ", " : "");
		show_bytes(o, m->left_members[i]);
	}
	buf_printf(o, "], 'QueryLTime': %llu, 'StatusLTimes': {",
	           (unsigned long long)m->query_ltime);
	for (i = 0; i < m->n_status_ltimes; i++) {
		buf_printf(o, "%s", i ? ", " : "");
		show_bytes(o, m->status_ltimes[i].node);
		buf_printf(o, ": %llu", (unsigned long long)m->status_ltimes[i].ltime);
	}
	buf_printf(o, "}}");
}

static void show_query(struct buf *o, const struct serfwire_query *q)
{
	size_t i;

	buf_printf(o, "{'Addr': ");
	show_bytes(o, q->addr);
	buf_printf(o, ", 'Filters': ");
	if (q->n_filters == 0) {
		buf_printf(o, "None");
	} else {
		buf_printf(o, "[");
		for (i = 0; i < q->n_filters; i++) {
			buf_printf(o, "%s", i ? ", " : "");
			show_bytes(o, q->filters[i]);
		}
		buf_printf(o, "]");
	}
	buf_printf(o, ", 'Flags': %u, 'ID': %u, 'LTime': %llu, 'Name': ", q->flags, q->id,
	           (unsigned long long)q->ltime);
	show_bytes(o, q->name);
	buf_printf(o, ", 'Payload': ");
	show_bytes(o, q->payload);
	buf_printf(o, ", 'Port': %u, 'RelayFactor': %u, 'SourceNode': ", q->port, q->relay_factor);
	show_bytes(o, q->source_node);
	buf_printf(o, ", 'Timeout': %lld}", (long long)q->timeout_ns);
}

/* "serf.<type> {...}" for the message types the captures hold. */
static void show_msg(struct buf *o, const struct serfwire_msg *m)
{
	buf_printf(o, "serf.%s ", serfwire_type_name(m->type));
	switch (m->type) {
	case SERFWIRE_LEAVE:
		buf_printf(o, "{'LTime': %llu, 'Node': ", (unsigned long long)m->u.leave.ltime);
		show_bytes(o, m->u.leave.node);
		buf_printf(o, ", 'Prune': %s}", py_bool(m->u.leave.prune));
		break;
	case SERFWIRE_JOIN:
		buf_printf(o, "{'LTime': %llu, 'Node': ", (unsigned long long)m->u.join.ltime);
		show_bytes(o, m->u.join.node);
		buf_printf(o, "}");
		break;
	case SERFWIRE_PUSH_PULL:
		show_push_pull(o, &m->u.push_pull);
		break;
	case SERFWIRE_USER_EVENT:
		buf_printf(o, "{'CC': %s, 'LTime': %llu, 'Name': ", py_bool(m->u.user_event.cc),
		           (unsigned long long)m->u.user_event.ltime);
		show_bytes(o, m->u.user_event.name);
		buf_printf(o, ", 'Payload': ");
		show_bytes(o, m->u.user_event.payload);
		buf_printf(o, "}");
		break;
	case SERFWIRE_QUERY:
		show_query(o, &m->u.query);
		break;
	case SERFWIRE_QUERY_RESPONSE:
		buf_printf(o, "{'Flags': %u, 'From': ", m->u.query_response.flags);
		show_bytes(o, m->u.query_response.from);
		buf_printf(o, ", 'ID': %u, 'LTime': %llu, 'Payload': ", m->u.query_response.id,
		           (unsigned long long)m->u.query_response.ltime);
		show_bytes(o, m->u.query_response.payload);
		buf_printf(o, "}");
		break;
	default:
		buf_printf(o, "(not in the captures)");
	}
}

static void expect_bytes(const struct buf *b, const uint8_t *want, size_t len, const char *what)
{
	size_t i;

	ck_assert_msg(!b->err, "%s: buffer failed", what);
	for (i = 0; i < b->len && i < len; i++)
		if (b->p[i] != want[i])
			break;
	ck_assert_msg(b->len == len && i == len, "%s: %zu bytes, want %zu; first difference at %zu",
	              what, b->len, len, i);
}

static size_t unhex(const char *hex, uint8_t *out, size_t size)
{
	size_t n = strlen(hex) / 2, i;
	unsigned x;

	ck_assert_uint_le(n, size);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &x), 1);
		out[i] = (uint8_t)x;
	}
	return n;
}

/* Every map in an encoded body has its keys in strictly increasing byte
 * order when they are strings (struct maps), as go-msgpack writes them;
 * Go maps (StatusLTimes, Tags) are exempt by path. */
static void check_sorted(struct cur *c, int depth, bool go_map)
{
	uint32_t n, i;
	const char *prev = NULL, *k;
	size_t prev_len = 0, len;

	ck_assert_int_lt(depth, 16);
	switch (mpk_peek(c)) {
	case MPK_ARRAY:
		n = mpk_rd_array(c);
		for (i = 0; i < n; i++)
			check_sorted(c, depth + 1, false);
		return;
	case MPK_MAP:
		n = mpk_rd_map(c);
		for (i = 0; i < n; i++) {
			k = mpk_rd_str(c, &len);
			ck_assert(k != NULL);
			if (!go_map && prev != NULL) {
				int cmp = memcmp(prev, k, prev_len < len ? prev_len : len);

				ck_assert_msg(cmp < 0 || (cmp == 0 && prev_len < len),
				              "keys out of order");
			}
			prev = k;
			prev_len = len;
			check_sorted(c, depth + 1,
			             mpk_str_eq(k, len, "StatusLTimes") ||
			                 mpk_str_eq(k, len, "Tags"));
		}
		return;
	default:
		mpk_skip(c);
	}
}

static void expect_sorted(const uint8_t *p, size_t len)
{
	struct cur c;

	cur_init(&c, p, len);
	check_sorted(&c, 0, false);
	ck_assert(cur_ok(&c));
}

/* Golden: decode serf's bytes to the fields the .txt shows, encode them
 * back to the same bytes, and no prefix of them decodes. */
START_TEST(test_golden)
{
	const struct serf_vector *v = &serf_vectors[_i];
	struct serfwire_msg m;
	struct buf o, e;
	const char *why = NULL;
	size_t cut;

	ck_assert_msg(serfwire_decode(v->bytes, v->len, &m, &why) == 0, "%s: %s", v->src, why);
	buf_init(&o, BUF_CAP);
	show_msg(&o, &m);
	ck_assert_msg(buf_cstr(&o) != NULL && strcmp(buf_cstr(&o), v->shown) == 0,
	              "%s:\n got %s\nwant %s", v->src, buf_cstr(&o), v->shown);

	buf_init(&e, BUF_CAP);
	ck_assert_msg(serfwire_encode(&e, &m, &why) == 0, "%s: encode: %s", v->src, why);
	expect_bytes(&e, v->bytes, v->len, v->src);
	expect_sorted(e.p + 1, e.len - 1);

	for (cut = 0; cut < v->len; cut++) {
		struct serfwire_msg t;

		ck_assert_msg(serfwire_decode(v->bytes, cut, &t, &why) == -1,
		              "%s: %zu-byte prefix decoded", v->src, cut);
	}
	serfwire_msg_fini(&m);
	buf_fini(&o);
	buf_fini(&e);
}
END_TEST

static bool f64_is(double d, uint64_t bits)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u == bits;
}

START_TEST(test_golden_coord)
{
	const struct serf_coord_vector *v = &serf_coord_vectors[_i];
	struct serfwire_coord c;
	struct buf e;
	const char *why = NULL;
	size_t i, cut;

	ck_assert_msg(serfwire_coord_decode(v->bytes, v->len, &c, &why) == 0, "%s: %s", v->src,
	              why);
	ck_assert_uint_eq(c.dim, 8);
	ck_assert(f64_is(c.adjustment, v->adjustment));
	ck_assert(f64_is(c.error, v->error));
	ck_assert(f64_is(c.height, v->height));
	for (i = 0; i < 8; i++)
		ck_assert_msg(f64_is(c.vec[i], v->vec[i]), "%s: Vec[%zu]", v->src, i);
	ck_assert(serfwire_coord_is_valid(&c));

	buf_init(&e, 4096);
	ck_assert_int_eq(serfwire_coord_encode(&e, &c), 0);
	expect_bytes(&e, v->bytes, v->len, v->src);
	for (cut = 0; cut < v->len; cut++)
		ck_assert_int_eq(serfwire_coord_decode(v->bytes, cut, &c, &why), -1);
	buf_fini(&e);
}
END_TEST

/* The captures hold every message the brief names, with these values. */
START_TEST(test_golden_fields)
{
	bool seen[SERFWIRE_TYPE_COUNT] = {false};
	size_t i;

	for (i = 0; i < NELEM(serf_vectors); i++) {
		struct serfwire_msg m;
		const char *why;

		ck_assert_int_eq(
		    serfwire_decode(serf_vectors[i].bytes, serf_vectors[i].len, &m, &why), 0);
		seen[m.type] = true;
		switch (m.type) {
		case SERFWIRE_JOIN:
			ck_assert_uint_eq(m.u.join.ltime, 1);
			ck_assert(serfwire_bytes_eq(m.u.join.node, "s2") ||
			          serfwire_bytes_eq(m.u.join.node, "s3"));
			break;
		case SERFWIRE_LEAVE:
			ck_assert_uint_eq(m.u.leave.ltime, 2);
			ck_assert(serfwire_bytes_eq(m.u.leave.node, "s2"));
			ck_assert(!m.u.leave.prune);
			break;
		case SERFWIRE_USER_EVENT:
			ck_assert(serfwire_bytes_eq(m.u.user_event.name, "deploy"));
			ck_assert(serfwire_bytes_eq(m.u.user_event.payload, "v1"));
			ck_assert(m.u.user_event.cc);
			break;
		case SERFWIRE_QUERY:
			ck_assert(serfwire_bytes_eq(m.u.query.name, "ping-q"));
			ck_assert(serfwire_bytes_eq(m.u.query.payload, "hi"));
			ck_assert_uint_eq(m.u.query.addr.len, 4);
			ck_assert_mem_eq(m.u.query.addr.p, "\x7f\x00\x00\x1f", 4);
			ck_assert_uint_eq(m.u.query.port, 7946);
			ck_assert_int_eq(m.u.query.timeout_ns, 2000000000);
			ck_assert_uint_eq(m.u.query.flags, SERFWIRE_QUERY_FLAG_ACK);
			ck_assert_uint_eq(m.u.query.n_filters, 0);
			break;
		case SERFWIRE_QUERY_RESPONSE:
			ck_assert_uint_eq(m.u.query_response.flags, SERFWIRE_QUERY_FLAG_ACK);
			ck_assert(m.u.query_response.payload.p == NULL);
			break;
		case SERFWIRE_PUSH_PULL:
			ck_assert_uint_eq(m.u.push_pull.n_events, SERFWIRE_EVENT_BUFFER);
			ck_assert(m.u.push_pull.left_members == NULL);
			ck_assert_uint_ge(m.u.push_pull.n_status_ltimes, 1);
			break;
		default:
			break;
		}
		serfwire_msg_fini(&m);
	}
	ck_assert(seen[SERFWIRE_JOIN] && seen[SERFWIRE_LEAVE] && seen[SERFWIRE_PUSH_PULL]);
	ck_assert(seen[SERFWIRE_USER_EVENT] && seen[SERFWIRE_QUERY] &&
	          seen[SERFWIRE_QUERY_RESPONSE]);
	ck_assert_uint_ge(NELEM(serf_coord_vectors), 1);
}
END_TEST

/* Encodes m, compares with hex (python3-msgpack's old-spec packing of the
 * same Go struct as a sorted map, which is go-msgpack's output), decodes it
 * back into *out (caller finis it). */
static void encode_expect(const struct serfwire_msg *m, const char *hex, struct serfwire_msg *out)
{
	uint8_t want[1024];
	size_t n = unhex(hex, want, sizeof(want));
	struct buf b;
	const char *why = NULL;

	buf_init(&b, BUF_CAP);
	ck_assert_msg(serfwire_encode(&b, m, &why) == 0, "%s", why);
	expect_bytes(&b, want, n, serfwire_type_name(m->type));
	expect_sorted(b.p + 1, b.len - 1);
	/* decode from want: views must outlive b */
	buf_fini(&b);
	{
		static uint8_t keep[4][1024];
		static int k;
		uint8_t *p = keep[k++ % 4];

		memcpy(p, want, n);
		ck_assert_msg(serfwire_decode(p, n, out, &why) == 0, "%s", why);
	}
	ck_assert_int_eq(out->type, m->type);
}

START_TEST(test_key_request_response)
{
	struct serfwire_msg m = {.type = SERFWIRE_KEY_REQUEST}, d;
	struct serfwire_bytes k1 = serfwire_cstr("a2V5MQ=="), k2 = serfwire_cstr("a2V5Mg==");

	m.u.key_request.key = serfwire_cstr("0123456789abcdef");
	encode_expect(&m, "0781a34b6579b030313233343536373839616263646566", &d);
	ck_assert(serfwire_bytes_eq(d.u.key_request.key, "0123456789abcdef"));

	memset(&m, 0, sizeof(m));
	m.type = SERFWIRE_KEY_RESPONSE;
	m.u.key_response.result = true;
	m.u.key_response.keys[0] = k1;
	m.u.key_response.keys[1] = k2;
	m.u.key_response.n_keys = 2;
	m.u.key_response.primary_key = k1;
	encode_expect(&m,
	              "0884a44b65797392a8613256354d513d3da8613256354d673d3da74d657373616765a0aa5072"
	              "696d6172794b6579a8613256354d513d3da6526573756c74c3",
	              &d);
	ck_assert(d.u.key_response.result);
	ck_assert_uint_eq(d.u.key_response.n_keys, 2);
	ck_assert(serfwire_bytes_eq(d.u.key_response.keys[1], "a2V5Mg=="));
	ck_assert(serfwire_bytes_eq(d.u.key_response.primary_key, "a2V5MQ=="));

	/* An error answer: Keys nil; a 45-byte Message takes str16 (da 002d),
	 * not str8, as go-msgpack writes it. */
	memset(&m, 0, sizeof(m));
	m.type = SERFWIRE_KEY_RESPONSE;
	m.u.key_response.message = serfwire_cstr("No keyring to modify (encryption not enabled)");
	encode_expect(
	    &m,
	    "0884a44b657973c0a74d657373616765da002d4e6f206b657972696e6720746f206d6f6469667920"
	    "28656e6372797074696f6e206e6f7420656e61626c656429aa5072696d6172794b6579a0a6526573"
	    "756c74c2",
	    &d);
	ck_assert(!d.u.key_response.result);
	ck_assert_uint_eq(d.u.key_response.n_keys, 0);
}
END_TEST

START_TEST(test_conflict_response)
{
	struct serfwire_msg m = {.type = SERFWIRE_CONFLICT_RESPONSE}, d;
	struct serfwire_member *mb = &m.u.conflict_response.member;
	static const uint8_t addr[4] = {127, 0, 0, 32};

	m.u.conflict_response.present = true;
	mb->name = serfwire_cstr("s2");
	mb->addr.p = addr;
	mb->addr.len = 4;
	mb->port = 7946;
	serfwire_tags_add(&mb->tags, "role", "node");
	serfwire_tags_add(&mb->tags, "dc", "dc1");
	mb->status = 1;
	mb->protocol_min = 1;
	mb->protocol_max = 5;
	mb->protocol_cur = 2;
	mb->delegate_min = 2;
	mb->delegate_max = 5;
	mb->delegate_cur = 5;
	encode_expect(
	    &m,
	    "068ba441646472a47f000020ab44656c656761746543757205ab44656c65676174654d617805ab"
	    "44656c65676174654d696e02a44e616d65a27332a4506f7274cd1f0aab50726f746f636f6c4375"
	    "7202ab50726f746f636f6c4d617805ab50726f746f636f6c4d696e01a653746174757301a45461"
	    "677382a4726f6c65a46e6f6465a26463a3646331",
	    &d);
	ck_assert(d.u.conflict_response.present);
	ck_assert(serfwire_bytes_eq(d.u.conflict_response.member.name, "s2"));
	ck_assert_uint_eq(d.u.conflict_response.member.port, 7946);
	ck_assert_uint_eq(d.u.conflict_response.member.tags.n, 2);
	ck_assert(
	    serfwire_bytes_eq(*serfwire_tags_get(&d.u.conflict_response.member.tags, "dc"), "dc1"));
	ck_assert_uint_eq(d.u.conflict_response.member.delegate_min, 2);
	ck_assert_uint_eq(d.u.conflict_response.member.protocol_max, 5);

	/* the responder does not know the node: a nil *Member */
	memset(&m, 0, sizeof(m));
	m.type = SERFWIRE_CONFLICT_RESPONSE;
	encode_expect(&m, "06c0", &d);
	ck_assert(!d.u.conflict_response.present);
}
END_TEST

START_TEST(test_relay)
{
	struct serfwire_msg m = {.type = SERFWIRE_RELAY}, d, inner;
	static const uint8_t ip[4] = {127, 0, 0, 31};
	struct serfwire_query_response qr = {.ltime = 3,
	                                     .id = 7,
	                                     .from = {(const uint8_t *)"s2", 2},
	                                     .payload = {(const uint8_t *)"pong", 4}};
	struct buf ib;
	const char *why;

	buf_init(&ib, 1024);
	ck_assert_int_eq(serfwire_encode_query_response(&ib, &qr, &why), 0);
	m.u.relay.dest_ip.p = ip;
	m.u.relay.dest_ip.len = 4;
	m.u.relay.dest_port = 7946;
	m.u.relay.msg.p = ib.p;
	m.u.relay.msg.len = ib.len;
	encode_expect(
	    &m,
	    "0981a8446573744164647283a24950a47f00001fa4506f7274cd1f0aa45a6f6e65a00585a5466c"
	    "61677300a446726f6da27332a2494407a54c54696d6503a75061796c6f6164a4706f6e67",
	    &d);
	ck_assert_uint_eq(d.u.relay.dest_port, 7946);
	ck_assert_uint_eq(d.u.relay.dest_ip.len, 4);
	ck_assert_mem_eq(d.u.relay.dest_ip.p, ip, 4);
	ck_assert_uint_eq(d.u.relay.dest_zone.len, 0);
	ck_assert_uint_eq(d.u.relay.msg.len, ib.len);
	ck_assert_int_eq(serfwire_decode(d.u.relay.msg.p, d.u.relay.msg.len, &inner, &why), 0);
	ck_assert_int_eq(inner.type, SERFWIRE_QUERY_RESPONSE);
	ck_assert(serfwire_bytes_eq(inner.u.query_response.payload, "pong"));
	ck_assert_uint_eq(inner.u.query_response.id, 7);

	/* nothing to relay */
	m.u.relay.msg.len = 0;
	buf_reset(&ib);
	ck_assert_int_eq(serfwire_encode(&ib, &m, &why), -1);
	ck_assert_uint_eq(ib.len, 0);
	ck_assert_int_eq(serfwire_decode((const uint8_t *)"\x09\x81\xa8"
	                                                  "DestAddr\x80",
	                                 12, &d, &why),
	                 -1);
	ck_assert_str_eq(why, "relay without a message");
	buf_fini(&ib);
}
END_TEST

START_TEST(test_push_pull_events)
{
	struct serfwire_msg m = {.type = SERFWIRE_PUSH_PULL}, d;
	struct serfwire_push_pull *pp = &m.u.push_pull;
	struct serfwire_status_ltime st[2] = {{serfwire_cstr("s1"), 3}, {serfwire_cstr("s3"), 4}};
	struct serfwire_bytes left[1] = {serfwire_cstr("s3")};
	struct serfwire_event ev[2] = {{serfwire_cstr("deploy"), serfwire_cstr("v1")},
	                               {serfwire_cstr("x"), {NULL, 0}}};
	struct serfwire_event_slot slots[3] = {{0}, {true, 8, ev, 2}, {0}};

	pp->ltime = 4;
	pp->status_ltimes = st;
	pp->n_status_ltimes = 2;
	pp->left_members = left;
	pp->n_left_members = 1;
	pp->event_ltime = 9;
	pp->events = slots;
	pp->n_events = 3;
	pp->query_ltime = 2;
	encode_expect(
	    &m,
	    "0286aa4576656e744c54696d6509a64576656e747393c082a64576656e74739282a44e616d65a6"
	    "6465706c6f79a75061796c6f6164a2763182a44e616d65a178a75061796c6f6164c0a54c54696d"
	    "6508c0a54c54696d6504ab4c6566744d656d6265727391a27333aa51756572794c54696d6502ac"
	    "5374617475734c54696d657382a2733103a2733304",
	    &d);
	pp = &d.u.push_pull;
	ck_assert_uint_eq(pp->n_events, 3);
	ck_assert(!pp->events[0].present && pp->events[1].present && !pp->events[2].present);
	ck_assert_uint_eq(pp->events[1].ltime, 8);
	ck_assert_uint_eq(pp->events[1].n_events, 2);
	ck_assert(serfwire_bytes_eq(pp->events[1].events[0].payload, "v1"));
	ck_assert(pp->events[1].events[1].payload.p == NULL);
	ck_assert_uint_eq(pp->n_left_members, 1);
	ck_assert(serfwire_bytes_eq(pp->left_members[0], "s3"));
	ck_assert_uint_eq(pp->status_ltimes[1].ltime, 4);
	serfwire_msg_fini(&d);
}
END_TEST

START_TEST(test_filters)
{
	struct serfwire_filter f = {.type = SERFWIRE_FILTER_TAG}, g;
	struct serfwire_bytes nodes[2] = {serfwire_cstr("s1"), serfwire_cstr("s2")};
	struct serfwire_query q = {0};
	struct serfwire_msg d;
	struct buf b, fb;
	const char *why;
	uint8_t want[64];
	size_t n;

	buf_init(&b, 4096);
	f.tag = serfwire_cstr("role");
	f.expr = serfwire_cstr("^consul$");
	ck_assert_int_eq(serfwire_filter_encode(&b, &f, &why), 0);
	n = unhex("0182a445787072a85e636f6e73756c24a3546167a4726f6c65", want, sizeof(want));
	expect_bytes(&b, want, n, "tag filter");
	ck_assert_int_eq(serfwire_filter_decode(b.p, b.len, &g, &why), 0);
	ck_assert_int_eq(g.type, SERFWIRE_FILTER_TAG);
	ck_assert(serfwire_bytes_eq(g.tag, "role") && serfwire_bytes_eq(g.expr, "^consul$"));
	serfwire_filter_fini(&g);

	buf_init(&fb, 4096);
	memset(&f, 0, sizeof(f));
	f.type = SERFWIRE_FILTER_NODE;
	f.nodes = nodes;
	f.n_nodes = 2;
	ck_assert_int_eq(serfwire_filter_encode(&fb, &f, &why), 0);
	n = unhex("0092a27331a27332", want, sizeof(want));
	expect_bytes(&fb, want, n, "node filter");
	ck_assert_int_eq(serfwire_filter_decode(fb.p, fb.len, &g, &why), 0);
	ck_assert_int_eq(g.type, SERFWIRE_FILTER_NODE);
	ck_assert_uint_eq(g.n_nodes, 2);
	ck_assert(serfwire_bytes_eq(g.nodes[1], "s2"));
	serfwire_filter_fini(&g);

	/* a query carrying both: Filters is an array of the encoded filters */
	q.name = serfwire_cstr("_serf_ping");
	q.filters[0].p = fb.p;
	q.filters[0].len = fb.len;
	q.filters[1].p = b.p;
	q.filters[1].len = b.len;
	q.n_filters = 2;
	q.flags = SERFWIRE_QUERY_FLAG_ACK | SERFWIRE_QUERY_FLAG_NO_BROADCAST;
	q.timeout_ns = 1500000000;
	{
		struct buf qb;

		buf_init(&qb, 4096);
		ck_assert_int_eq(serfwire_encode_query(&qb, &q, &why), 0);
		expect_sorted(qb.p + 1, qb.len - 1);
		ck_assert_int_eq(serfwire_decode(qb.p, qb.len, &d, &why), 0);
		ck_assert_uint_eq(d.u.query.n_filters, 2);
		ck_assert_uint_eq(d.u.query.filters[1].len, b.len);
		ck_assert_mem_eq(d.u.query.filters[1].p, b.p, b.len);
		ck_assert_uint_eq(d.u.query.flags, 3);
		ck_assert_int_eq(d.u.query.timeout_ns, 1500000000);
		ck_assert(d.u.query.payload.p == NULL);
		buf_fini(&qb);
	}

	ck_assert_int_eq(serfwire_filter_decode((const uint8_t *)"\x02\x90", 2, &g, &why), -1);
	ck_assert_str_eq(why, "unknown query filter type");
	ck_assert_int_eq(serfwire_filter_decode(NULL, 0, &g, &why), -1);
	ck_assert_int_eq(serfwire_filter_decode((const uint8_t *)"\x00\x92\xa1x", 4, &g, &why), -1);
	ck_assert_int_eq(
	    serfwire_filter_decode((const uint8_t *)"\x01\x81\xa3Tag\x01", 7, &g, &why), -1);
	buf_fini(&b);
	buf_fini(&fb);
}
END_TEST

/* Tags as the captures' alive messages carry them, and Consul's. */
START_TEST(test_tags)
{
	/* Meta of s1..s3 in tests/gossip/plain.txt */
	static const uint8_t meta[] = {0xff, 0x82, 0xa4, 'r', 'o', 'l',  'e', 0xa4, 'n', 'o',
	                               'd',  'e',  0xa2, 'd', 'c', 0xa3, 'd', 'c',  '1'};
	struct serfwire_tags t;
	struct buf b;
	const char *why;
	const struct serfwire_bytes *v;

	ck_assert_int_eq(serfwire_tags_decode(meta, sizeof(meta), &t, &why), 0);
	ck_assert_uint_eq(t.n, 2);
	ck_assert(serfwire_bytes_eq(*serfwire_tags_get(&t, "role"), "node"));
	ck_assert(serfwire_bytes_eq(*serfwire_tags_get(&t, "dc"), "dc1"));
	ck_assert(serfwire_tags_get(&t, "id") == NULL);
	buf_init(&b, 4096);
	ck_assert_int_eq(serfwire_tags_encode(&b, &t, &why), 0);
	expect_bytes(&b, meta, sizeof(meta), "meta");

	/* legacy (protocol < 3): the whole Meta is the role; empty is role "" */
	ck_assert_int_eq(serfwire_tags_decode((const uint8_t *)"web", 3, &t, &why), 0);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(serfwire_bytes_eq(*serfwire_tags_get(&t, "role"), "web"));
	ck_assert_int_eq(serfwire_tags_decode(NULL, 0, &t, &why), 0);
	v = serfwire_tags_get(&t, "role");
	ck_assert(v != NULL && v->len == 0);

	/* duplicates: the last one wins, as in a Go map */
	ck_assert_int_eq(serfwire_tags_decode((const uint8_t *)"\xff\x82\xa1"
	                                                       "a\xa1"
	                                                       "1\xa1"
	                                                       "a\xa1"
	                                                       "2",
	                                      10, &t, &why),
	                 0);
	ck_assert(serfwire_bytes_eq(*serfwire_tags_get(&t, "a"), "2"));

	/* bad: not a map, truncated */
	ck_assert_int_eq(serfwire_tags_decode((const uint8_t *)"\xff\x01", 2, &t, &why), -1);
	ck_assert_int_eq(serfwire_tags_decode(meta, sizeof(meta) - 1, &t, &why), -1);
	buf_fini(&b);
}
END_TEST

START_TEST(test_tags_limit)
{
	static char val[600];
	struct serfwire_tags t = {0};
	struct buf b;
	const char *why = NULL;

	/* 0xff + map + "k" + str16 header: 1 + 1 + 2 + 3 + 505 = 512 fits */
	memset(val, 'x', 505);
	serfwire_tags_add(&t, "k", val);
	buf_init(&b, 4096);
	ck_assert_int_eq(serfwire_tags_encode(&b, &t, &why), 0);
	ck_assert_uint_eq(b.len, SERFWIRE_META_MAX);
	val[505] = 'x';
	t.n = 0;
	serfwire_tags_add(&t, "k", val);
	buf_reset(&b);
	ck_assert_int_eq(serfwire_tags_encode(&b, &t, &why), -1);
	ck_assert_str_eq(why, "encoded length of tags exceeds limit of 512 bytes");
	ck_assert_uint_eq(b.len, 0);
	buf_fini(&b);
}
END_TEST

START_TEST(test_consul_meta)
{
	struct serfwire_consul_conf c = {
	    .server = true,
	    .dc = "dc1",
	    .segment = "",
	    .node_id = "4e4a7f0f-8c2b-4c7d-9a3e-1f2b3c4d5e6f",
	    .version = "1.9.5",
	    .revision = "3c1c2267",
	    .port = 8300,
	    .wan_join_port = 8302,
	    .bootstrap = true,
	    .expect = 3,
	};
	static const char *const want_server[][2] = {
	    {"role", "consul"},
	    {"dc", "dc1"},
	    {"segment", ""},
	    {"id", "4e4a7f0f-8c2b-4c7d-9a3e-1f2b3c4d5e6f"},
	    {"vsn", "2"},
	    {"vsn_min", "2"},
	    {"vsn_max", "3"},
	    {"build", "1.9.5:3c1c2267"},
	    {"port", "8300"},
	    {"raft_vsn", "3"},
	    {"wan_join_port", "8302"},
	    {"bootstrap", "1"},
	    {"expect", "3"},
	    {"ft_fs", "1"},
	};
	struct serfwire_tag extra[1] = {{serfwire_cstr("ft_fs"), serfwire_cstr("1")}};
	struct serfwire_tags t;
	struct buf b;
	const char *why = NULL;
	size_t i;

	c.extra = extra;
	c.n_extra = 1;
	buf_init(&b, 4096);
	ck_assert_msg(serfwire_consul_meta(&b, &c, &why) == 0, "%s", why);
	ck_assert_uint_le(b.len, SERFWIRE_META_MAX);
	ck_assert_uint_eq(b.p[0], SERFWIRE_TAG_MAGIC);
	ck_assert_int_eq(serfwire_tags_decode(b.p, b.len, &t, &why), 0);
	ck_assert_uint_eq(t.n, NELEM(want_server));
	for (i = 0; i < t.n; i++) {
		ck_assert_msg(serfwire_bytes_eq(t.tag[i].key, want_server[i][0]), "tag %zu", i);
		ck_assert_msg(serfwire_bytes_eq(t.tag[i].value, want_server[i][1]), "tag %s",
		              want_server[i][0]);
	}
	/* the 36-byte id is str16, as go-msgpack writes it */
	ck_assert(memmem(b.p, b.len,
	                 "\xda\x00\x24"
	                 "4e4a7f0f",
	                 11) != NULL);

	/* a client: no server tags; a WAN server: no wan_join_port */
	c.server = false;
	c.segment = "alpha";
	c.n_extra = 0;
	buf_reset(&b);
	ck_assert_int_eq(serfwire_consul_meta(&b, &c, &why), 0);
	ck_assert_int_eq(serfwire_tags_decode(b.p, b.len, &t, &why), 0);
	ck_assert_uint_eq(t.n, 8);
	ck_assert(serfwire_bytes_eq(*serfwire_tags_get(&t, "role"), "node"));
	ck_assert(serfwire_bytes_eq(*serfwire_tags_get(&t, "segment"), "alpha"));
	ck_assert(serfwire_tags_get(&t, "port") == NULL);
	ck_assert(serfwire_tags_get(&t, "expect") == NULL);

	c.server = true;
	c.segment = "";
	c.wan_join_port = 0;
	c.bootstrap = false;
	c.expect = 0;
	buf_reset(&b);
	ck_assert_int_eq(serfwire_consul_meta(&b, &c, &why), 0);
	ck_assert_int_eq(serfwire_tags_decode(b.p, b.len, &t, &why), 0);
	ck_assert_uint_eq(t.n, 10);
	ck_assert(serfwire_tags_get(&t, "wan_join_port") == NULL);
	ck_assert(serfwire_tags_get(&t, "bootstrap") == NULL);
	ck_assert(serfwire_bytes_eq(*serfwire_tags_get(&t, "raft_vsn"), "3"));

	/* over 512 bytes, or a missing string */
	{
		static char big[480];

		memset(big, 'v', sizeof(big) - 1);
		c.version = big;
		buf_reset(&b);
		ck_assert_int_eq(serfwire_consul_meta(&b, &c, &why), -1);
		ck_assert_uint_eq(b.len, 0);
		c.version = "1.9.5";
	}
	c.dc = NULL;
	ck_assert_int_eq(serfwire_consul_meta(&b, &c, &why), -1);
	buf_fini(&b);
}
END_TEST

START_TEST(test_coord)
{
	struct serfwire_coord c = {.dim = 3,
	                           .vec = {0.5, -0.25, 1e-3},
	                           .error = 1.5,
	                           .adjustment = -1e-6,
	                           .height = 1e-5},
	                      d;
	struct buf b;
	const char *why;

	buf_init(&b, 4096);
	ck_assert_int_eq(serfwire_coord_encode(&b, &c), 0);
	ck_assert_int_eq(serfwire_coord_decode(b.p, b.len, &d, &why), 0);
	ck_assert_uint_eq(d.dim, 3);
	ck_assert(d.vec[1] == -0.25 && d.error == 1.5 && d.adjustment == -1e-6 && d.height == 1e-5);
	ck_assert(serfwire_coord_is_valid(&d));
	d.vec[2] = NAN;
	ck_assert(!serfwire_coord_is_valid(&d));
	d.vec[2] = 0;
	d.height = INFINITY;
	ck_assert(!serfwire_coord_is_valid(&d));

	/* another ping version: serf ignores those */
	b.p[0] = 2;
	ck_assert_int_eq(serfwire_coord_decode(b.p, b.len, &d, &why), -1);
	ck_assert_str_eq(why, "unsupported ping version");
	ck_assert_int_eq(serfwire_coord_decode(b.p, 0, &d, &why), -1);
	/* nine dimensions */
	ck_assert_int_eq(serfwire_coord_decode((const uint8_t *)"\x01\x81\xa3Vec\x99"
	                                                        "\0\0\0\0\0\0\0\0\0",
	                                       16, &d, &why),
	                 -1);
	ck_assert_str_eq(why, "coordinate dimensionality too high");
	/* float32 and integer components are read too */
	ck_assert_int_eq(serfwire_coord_decode((const uint8_t *)"\x01\x82\xa5"
	                                                        "Error\xca\x3f\xc0\x00\x00"
	                                                        "\xa3Vec\x91\x02",
	                                       19, &d, &why),
	                 0);
	ck_assert(d.error == 1.5 && d.dim == 1 && d.vec[0] == 2.0);
	/* a string is not a float */
	ck_assert_int_eq(serfwire_coord_decode((const uint8_t *)"\x01\x81\xa5"
	                                                        "Error\xa1x",
	                                       10, &d, &why),
	                 -1);
	c.dim = SERFWIRE_COORD_DIM_MAX + 1;
	ck_assert_int_eq(serfwire_coord_encode(&b, &c), -1);
	buf_fini(&b);
}
END_TEST

START_TEST(test_clock)
{
	struct serfwire_clock c = {0};

	ck_assert_uint_eq(serfwire_clock_time(&c), 0);
	ck_assert_uint_eq(serfwire_clock_increment(&c), 1);
	ck_assert_uint_eq(serfwire_clock_increment(&c), 2);
	serfwire_clock_witness(&c, 1); /* older: no change */
	ck_assert_uint_eq(serfwire_clock_time(&c), 2);
	serfwire_clock_witness(&c, 2); /* equal: one ahead */
	ck_assert_uint_eq(serfwire_clock_time(&c), 3);
	serfwire_clock_witness(&c, 10);
	ck_assert_uint_eq(serfwire_clock_time(&c), 11);
	serfwire_clock_witness(&c, UINT64_MAX); /* cannot be passed: stays */
	ck_assert_uint_eq(serfwire_clock_time(&c), 11);
}
END_TEST

/* Serf's sending limits (serf.go UserEvent, Query, query.go Respond). */
START_TEST(test_limits)
{
	static uint8_t big[2048];
	struct serfwire_user_event ue = {.ltime = 1, .name = serfwire_cstr("deploy")};
	struct serfwire_query q = {.name = serfwire_cstr("q")};
	struct serfwire_query_response r = {.from = serfwire_cstr("s1")};
	struct buf b;
	const char *why = NULL;

	buf_init(&b, 4096);
	buf_putc(&b, 0xee); /* a prefix the encoders must leave alone */

	/* name+payload 512: passes the first check, not the encoded one */
	ue.payload.p = big;
	ue.payload.len = SERFWIRE_USER_EVENT_SIZE_LIMIT - 6;
	ck_assert_int_eq(serfwire_encode_user_event(&b, &ue, &why), -1);
	ck_assert_str_eq(why,
	                 "encoded user event exceeds configured limit of 512 bytes after encoding");
	ck_assert_uint_eq(b.len, 1);
	ue.payload.len++;
	ck_assert_int_eq(serfwire_encode_user_event(&b, &ue, &why), -1);
	ck_assert_str_eq(why, "user event exceeds configured limit of 512 bytes before encoding");
	/* around the payload: type 1 + map 1 + "CC" 3+1 + "LTime" 6+1 +
	 * "Name" 5+7 + "Payload" 8 + str16 3 = 36 bytes */
	ue.payload.len = SERFWIRE_USER_EVENT_SIZE_LIMIT - 36;
	ck_assert_int_eq(serfwire_encode_user_event(&b, &ue, &why), 0);
	ck_assert_uint_eq(b.len, 1 + SERFWIRE_USER_EVENT_SIZE_LIMIT);
	ue.payload.len++;
	buf_reset(&b);
	ck_assert_int_eq(serfwire_encode_user_event(&b, &ue, &why), -1);

	q.payload.p = big;
	q.payload.len = 1000;
	buf_reset(&b);
	ck_assert_int_eq(serfwire_encode_query(&b, &q, &why), -1);
	ck_assert_str_eq(why, "query exceeds limit of 1024 bytes");
	ck_assert_uint_eq(b.len, 0);
	q.payload.len = 900;
	ck_assert_int_eq(serfwire_encode_query(&b, &q, &why), 0);
	ck_assert_uint_le(b.len, SERFWIRE_QUERY_SIZE_LIMIT);

	r.payload.p = big;
	r.payload.len = 1000;
	buf_reset(&b);
	ck_assert_int_eq(serfwire_encode_query_response(&b, &r, &why), -1);
	ck_assert_str_eq(why, "response exceeds limit of 1024 bytes");
	r.payload.len = 980;
	ck_assert_int_eq(serfwire_encode_query_response(&b, &r, &why), 0);

	/* a full buffer: -1, sticky error, length restored */
	buf_fini(&b);
	buf_init(&b, 16);
	buf_putc(&b, 0xee);
	ck_assert_int_eq(serfwire_encode_query_response(&b, &r, &why), -1);
	ck_assert(b.err);
	ck_assert_uint_eq(b.len, 1);
	buf_fini(&b);
}
END_TEST

/* Hostile or foreign input: every case must fail cleanly (ASan watches). */
struct bad {
	const char *what;
	const char *hex;
	size_t pad; /* nils appended: counts past our limits must be backed by bytes */
	const char *why;
};

static const struct bad bad_inputs[] = {
    {"empty", "", 0, "empty serf message"},
    {"unknown type 10", "0a80", 0, "unknown serf message type"},
    {"type 255", "ff80", 0, "unknown serf message type"},
    {"body not a map", "0192a54c54696d6501", 0, "malformed join message"},
    {"nil body", "01c0", 0, "malformed join message"},
    {"LTime a string", "0181a54c54696d65a131", 0, "malformed join message"},
    {"LTime negative", "0181a54c54696d65ff", 0, "malformed join message"},
    {"Node an int", "0181a44e6f646501", 0, "malformed join message"},
    {"Prune an int", "0081a55072756e6501", 0, "malformed leave message"},
    {"duplicate LTime", "0182a54c54696d6501a54c54696d6502", 0, "duplicate field"},
    {"key not a string", "018101a27332", 0, "malformed join message"},
    {"Port over u16", "0481a4506f7274ce00010000", 0, "malformed query"},
    {"RelayFactor over u8", "0481ab52656c6179466163746f72cd0100", 0, "malformed query"},
    {"ID over u32", "0581a24944cf0000000100000000", 0, "malformed query response"},
    {"Filters a map", "0481a746696c7465727380", 0, "malformed query"},
    {"Filters holds an int", "0481a746696c746572739101", 0, "malformed query"},
    {"81 filters", "0481a746696c74657273dc0051", 81, "too many query filters"},
    {"513 event slots", "0281a64576656e7473dc0201", 513, "too many event slots"},
    {"StatusLTimes an array", "0281ac5374617475734c54696d657390", 0, "malformed push-pull state"},
    {"status time a string", "0281ac5374617475734c54696d657381a27331a131", 0,
     "malformed push-pull state"},
    {"slot not a map", "0281a64576656e74739101", 0, "malformed push-pull state"},
    {"257 events at one time", "0281a64576656e74739181a64576656e7473dc0101", 257,
     "too many events at one Lamport time"},
    {"truncated in a slot", "0281a64576656e74739181a64576656e74739181a44e616d65", 0,
     "malformed push-pull state"},
    {"65 keys", "0881a44b657973dc0041", 65, "too many keys"},
    {"Result a string", "0881a6526573756c74a474727565", 0, "malformed key response"},
    {"member Tags an array", "0681a45461677390", 0, "malformed conflict response"},
    {"256 tags", "0681a454616773de0100", 512, "too many tags"},
    {"relay port negative",
     "0981a84465737441646472"
     "81a4506f7274ff"
     "01",
     0, "malformed relay message"},
    {"relay header only",
     "0981a84465737441646472"
     "80",
     0, "relay without a message"},
    {"key request Key an array", "0781a34b657990", 0, "malformed key request"},
};

START_TEST(test_bad)
{
	const struct bad *t = &bad_inputs[_i];
	uint8_t in[1024];
	size_t n = unhex(t->hex, in, sizeof(in));
	struct serfwire_msg m;
	const char *why = NULL;

	ck_assert_uint_le(n + t->pad, sizeof(in));
	memset(in + n, 0xc0, t->pad);
	n += t->pad;
	ck_assert_msg(serfwire_decode(in, n, &m, NULL) == -1, "%s decoded", t->what);
	ck_assert_msg(serfwire_decode(in, n, &m, &why) == -1, "%s decoded", t->what);
	ck_assert_msg(strcmp(why, t->why) == 0, "%s: why \"%s\", want \"%s\"", t->what, why,
	              t->why);
}
END_TEST

/* A user event beyond serf's sane limit (9216) is no serf event. */
START_TEST(test_event_over_sane_limit)
{
	size_t pl = SERFWIRE_USER_EVENT_SIZE_MAX;
	uint8_t *in = calloc(1, pl + 64);
	size_t n = 0;
	struct serfwire_msg m;
	const char *why = NULL;

	ck_assert(in != NULL);
	in[n++] = SERFWIRE_USER_EVENT;
	in[n++] = 0x82;
	memcpy(in + n, "\xa4Name\xa1x", 7);
	n += 7;
	memcpy(in + n, "\xa7Payload\xda", 9);
	n += 9;
	in[n++] = (uint8_t)(pl >> 8);
	in[n++] = (uint8_t)pl;
	n += pl;
	ck_assert_int_eq(serfwire_decode(in, n, &m, &why), -1);
	ck_assert_str_eq(why, "user event over serf's size limit");
	/* one byte less fits */
	in[n - pl - 2] = (uint8_t)((pl - 1) >> 8);
	in[n - pl - 1] = (uint8_t)(pl - 1);
	ck_assert_int_eq(serfwire_decode(in, n - 1, &m, &why), 0);
	ck_assert_uint_eq(m.u.user_event.payload.len, pl - 1);
	free(in);
}
END_TEST

/* Forward compatibility and go-msgpack's leniency: unknown fields are
 * skipped, bin is read as bytes, nil as zero, fields in any order, bytes
 * after the body ignored. */
START_TEST(test_lenient)
{
	struct serfwire_msg m;
	const char *why = NULL;
	uint8_t in[64];
	size_t n;

	/* {Node: bin "s2", Extra: [1, {a: 2}], LTime: 7} + trailing byte */
	n = unhex("0183a44e6f6465c4027332a545787472619201"
	          "81a16102a54c54696d6507ee",
	          in, sizeof(in));
	ck_assert_msg(serfwire_decode(in, n, &m, &why) == 0, "%s", why);
	ck_assert_uint_eq(m.u.join.ltime, 7);
	ck_assert(serfwire_bytes_eq(m.u.join.node, "s2"));

	/* {LTime: nil, Payload: nil, Name: "e"} */
	n = unhex("0383a54c54696d65c0a75061796c6f6164c0a44e616d65a165", in, sizeof(in));
	ck_assert_int_eq(serfwire_decode(in, n, &m, &why), 0);
	ck_assert_uint_eq(m.u.user_event.ltime, 0);
	ck_assert(m.u.user_event.payload.p == NULL);
	ck_assert(!m.u.user_event.cc);

	/* an empty payload stays empty (not nil) through a round trip */
	n = unhex("0384a24343c2a54c54696d6501a44e616d65a165a75061796c6f6164a0", in, sizeof(in));
	ck_assert_int_eq(serfwire_decode(in, n, &m, &why), 0);
	ck_assert(m.u.user_event.payload.p != NULL && m.u.user_event.payload.len == 0);
	{
		struct buf b;

		buf_init(&b, 256);
		ck_assert_int_eq(serfwire_encode(&b, &m, &why), 0);
		expect_bytes(&b, in, n, "empty payload");
		buf_fini(&b);
	}
}
END_TEST

/* Random mutations of the golden vectors: decode must never crash, leak
 * (ASan) or return views outside the input. Seeded, reproducible. */
START_TEST(test_mutations)
{
	uint64_t seed = 0x5e7f1234abcdULL;
	uint8_t buf[1024];
	size_t i, k, flips;
	int r;

	for (i = 0; i < 20000; i++) {
		const struct serf_vector *v = &serf_vectors[i % NELEM(serf_vectors)];
		struct serfwire_msg m;
		const char *why;
		size_t len = v->len;

		ck_assert_uint_le(len, sizeof(buf));
		memcpy(buf, v->bytes, len);
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		flips = 1 + (seed >> 60) % 4;
		for (k = 0; k < flips; k++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			buf[(seed >> 33) % len] ^= (uint8_t)(1u << ((seed >> 20) % 8));
		}
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		if ((seed >> 40) % 3 == 0)
			len = (seed >> 8) % len;
		r = serfwire_decode(buf, len, &m, &why);
		if (r == 0) {
			struct buf e;

			buf_init(&e, BUF_CAP);
			(void)serfwire_encode(&e, &m, &why);
			buf_fini(&e);
			serfwire_msg_fini(&m);
		}
		/* the same bytes as the other parsers' input */
		{
			struct serfwire_filter f;
			struct serfwire_tags t;
			struct serfwire_coord c;
			const struct serf_coord_vector *cv =
			    &serf_coord_vectors[i % NELEM(serf_coord_vectors)];

			if (serfwire_filter_decode(buf, len, &f, NULL) == 0)
				serfwire_filter_fini(&f);
			buf[0] = SERFWIRE_TAG_MAGIC;
			(void)serfwire_tags_decode(buf, len, &t, NULL);
			memcpy(buf, cv->bytes, cv->len);
			buf[(seed >> 24) % cv->len] ^= (uint8_t)(1u << ((seed >> 12) % 8));
			(void)serfwire_coord_decode(buf, cv->len - (seed >> 50) % 3, &c, NULL);
		}
	}
}
END_TEST

static Suite *serfwire_suite(void)
{
	Suite *s = suite_create("serfwire");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	tcase_add_loop_test(tc, test_golden, 0, (int)NELEM(serf_vectors));
	tcase_add_loop_test(tc, test_golden_coord, 0, (int)NELEM(serf_coord_vectors));
	tcase_add_test(tc, test_golden_fields);
	tcase_add_test(tc, test_key_request_response);
	tcase_add_test(tc, test_conflict_response);
	tcase_add_test(tc, test_relay);
	tcase_add_test(tc, test_push_pull_events);
	tcase_add_test(tc, test_filters);
	tcase_add_test(tc, test_tags);
	tcase_add_test(tc, test_tags_limit);
	tcase_add_test(tc, test_consul_meta);
	tcase_add_test(tc, test_coord);
	tcase_add_test(tc, test_clock);
	tcase_add_test(tc, test_limits);
	tcase_add_loop_test(tc, test_bad, 0, (int)NELEM(bad_inputs));
	tcase_add_test(tc, test_event_over_sane_limit);
	tcase_add_test(tc, test_lenient);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(serfwire_suite());
}

/* test_mlmap.c: swim.h's messages <-> memberlist's wire messages: every core message both
 * ways, push/pull states, and the refusals (bad addresses, names, vsn). */
#include "daemons/gossipd/mlmap.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static struct swim_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct swim_addr x = {.ip = {a, b, c, d}, .len = 4, .port = port};
	return x;
}

/* encode m, decode it back, compare the fields the type carries */
static void round_trip(const struct swim_msg *m)
{
	struct buf b;
	struct swim_msg out;
	struct mlmap_scratch sc;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(mlmap_encode(&b, m), 0);
	ck_assert_uint_eq(b.p[0], (unsigned)m->type);
	ck_assert_uint_eq(b.len, swim_msg_size(m));
	ck_assert_int_eq(mlmap_decode(b.p[0], b.p + 1, b.len - 1, &out, &sc), 0);
	ck_assert_int_eq(out.type, m->type);
	ck_assert_uint_eq(out.seq, m->seq);
	ck_assert_uint_eq(out.incarnation, m->incarnation);
	ck_assert_str_eq(out.node, m->node ? m->node : "");
	ck_assert_str_eq(out.from, m->from ? m->from : "");
	ck_assert_uint_eq(out.addr.len, m->addr.len);
	ck_assert_mem_eq(out.addr.ip, m->addr.ip, m->addr.len);
	if (m->addr.len)
		ck_assert_uint_eq(out.addr.port, m->addr.port);
	ck_assert_uint_eq(out.source.len, m->source.len);
	if (m->source.len)
		ck_assert_uint_eq(out.source.port, m->source.port);
	ck_assert(out.nack == m->nack);
	ck_assert_uint_eq(out.meta_len, m->meta_len);
	if (m->meta_len)
		ck_assert_mem_eq(out.meta, m->meta, m->meta_len);
	ck_assert_uint_eq(out.payload_len, m->payload_len);
	ck_assert_uint_eq(out.vsn_len, m->vsn_len);
	buf_fini(&b);
}

START_TEST(test_messages)
{
	static const uint8_t meta[] = {0xff, 0x81, 0xa4, 'r', 'o', 'l', 'e', 0xa4, 'n', 'o', 'd', 'e'};
	static const uint8_t payload[] = {1, 2, 3};
	struct swim_msg ping = {.type = SWIM_MSG_PING, .seq = 7, .node = "b", .from = "a",
	                        .source = v4(127, 0, 0, 1, 8301)};
	struct swim_msg iping = {.type = SWIM_MSG_INDIRECT_PING, .seq = 70000, .node = "c",
	                         .from = "a", .addr = v4(10, 0, 0, 3, 8301), .nack = true,
	                         .source = v4(10, 0, 0, 1, 8301)};
	struct swim_msg ack = {.type = SWIM_MSG_ACK, .seq = 9, .payload = payload,
	                       .payload_len = sizeof(payload)};
	struct swim_msg nack = {.type = SWIM_MSG_NACK, .seq = 10};
	struct swim_msg sus = {.type = SWIM_MSG_SUSPECT, .incarnation = 3, .node = "b", .from = "a"};
	struct swim_msg dead = {.type = SWIM_MSG_DEAD, .incarnation = 4, .node = "b", .from = "b"};
	struct swim_msg alive = {.type = SWIM_MSG_ALIVE, .incarnation = 1, .node = "b",
	                         .addr = v4(10, 0, 0, 2, 8301), .meta = meta,
	                         .meta_len = sizeof(meta), .vsn_len = 6,
	                         .vsn = {1, 5, 2, 2, 5, 4}};
	struct swim_msg ipv6 = {.type = SWIM_MSG_ALIVE, .incarnation = 2, .node = "v6",
	                        .addr = {.ip = {0xfe, 0x80, [15] = 1}, .len = 16, .port = 1},
	                        .vsn_len = 0};
	round_trip(&ping);
	round_trip(&iping);
	round_trip(&ack);
	round_trip(&nack);
	round_trip(&sus);
	round_trip(&dead);
	round_trip(&alive);
	round_trip(&ipv6);
}
END_TEST

START_TEST(test_refusals)
{
	struct mlmap_scratch sc;
	struct swim_msg out;
	struct buf b;
	buf_init(&b, 1 << 20);
	/* an alive whose address is 5 bytes */
	struct mlwire_alive a = {.incarnation = 1, .node = {(const uint8_t *)"x", 1},
	                         .addr = {(const uint8_t *)"\x01\x02\x03\x04\x05", 5}, .port = 1};
	ck_assert_int_eq(mlwire_enc_alive(&b, &a), 0);
	ck_assert_int_eq(mlmap_decode(b.p[0], b.p + 1, b.len - 1, &out, &sc), -1);
	/* a name with a NUL inside */
	buf_reset(&b);
	struct mlwire_suspect s = {.incarnation = 1, .node = {(const uint8_t *)"a\0b", 3},
	                           .from = {(const uint8_t *)"c", 1}};
	ck_assert_int_eq(mlwire_enc_suspect(&b, MLWIRE_SUSPECT, &s), 0);
	ck_assert_int_eq(mlmap_decode(b.p[0], b.p + 1, b.len - 1, &out, &sc), -1);
	/* a vsn of 3 bytes */
	buf_reset(&b);
	struct mlwire_alive v = {.incarnation = 1, .node = {(const uint8_t *)"x", 1},
	                         .addr = {(const uint8_t *)"\x01\x02\x03\x04", 4}, .port = 1,
	                         .vsn = {1, 2, 3}, .vsn_len = 3};
	ck_assert_int_eq(mlwire_enc_alive(&b, &v), 0);
	ck_assert_int_eq(mlmap_decode(b.p[0], b.p + 1, b.len - 1, &out, &sc), -1);
	/* not a core message, truncated bodies */
	ck_assert_int_eq(mlmap_decode(MLWIRE_USER, (const uint8_t *)"\x01", 1, &out, &sc), -1);
	ck_assert_int_eq(mlmap_decode(MLWIRE_PING, (const uint8_t *)"\x81", 1, &out, &sc), -1);
	ck_assert_int_eq(mlmap_decode(MLWIRE_ACK, NULL, 0, &out, &sc), -1);
	buf_fini(&b);
}
END_TEST

START_TEST(test_push_pull)
{
	static const uint8_t meta[] = {0xff, 0x80};
	static const uint8_t user[] = {2, 0x80};
	struct swim_node_state nodes[3] = {
	    {.name = "a", .addr = v4(127, 0, 0, 1, 8301), .incarnation = 1, .state = SWIM_ALIVE,
	     .vsn = {1, 5, 2, 2, 5, 4}},
	    {.name = "b", .addr = v4(127, 0, 0, 2, 8301), .meta = meta, .meta_len = 2,
	     .incarnation = 5, .state = SWIM_DEAD, .vsn = {1, 5, 2, 2, 5, 4}},
	    {.name = "c", .addr = v4(127, 0, 0, 3, 9), .incarnation = 2, .state = SWIM_LEFT,
	     .vsn = {1, 5, 2, 2, 5, 4}},
	};
	struct buf b;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(mlmap_encode_push_pull(&b, nodes, 3, user, sizeof(user), true), 0);
	ck_assert_uint_eq(b.p[0], MLWIRE_PUSH_PULL);
	struct mlwire_push_pull hdr;
	struct mlmap_push_state st;
	const uint8_t *us = NULL;
	size_t ul = 0;
	ck_assert_int_eq(mlmap_decode_push_pull(b.p + 1, b.len - 1, &hdr, &st, &us, &ul), 0);
	ck_assert(hdr.join);
	ck_assert_uint_eq(st.n, 3);
	ck_assert_uint_eq(ul, sizeof(user));
	ck_assert_mem_eq(us, user, ul);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_str_eq(st.nodes[i].name, nodes[i].name);
		ck_assert_uint_eq(st.nodes[i].incarnation, nodes[i].incarnation);
		ck_assert_int_eq(st.nodes[i].state, nodes[i].state);
		ck_assert_uint_eq(st.nodes[i].addr.port, nodes[i].addr.port);
		ck_assert_uint_eq(st.nodes[i].meta_len, nodes[i].meta_len);
		ck_assert_mem_eq(st.nodes[i].vsn, nodes[i].vsn, 6);
	}
	mlmap_push_state_fini(&st);
	/* the user state cut short: refused, nothing to free */
	ck_assert_int_eq(mlmap_decode_push_pull(b.p + 1, b.len - 2, &hdr, &st, &us, &ul), -1);
	ck_assert_ptr_null(st.nodes);
	/* a header that claims more nodes than bytes follow */
	buf_reset(&b);
	struct mlwire_push_pull big = {.nodes = 60000, .user_state_len = 0};
	ck_assert_int_eq(mlwire_enc_push_pull(&b, &big), 0);
	ck_assert_int_eq(mlmap_decode_push_pull(b.p + 1, b.len - 1, &hdr, &st, &us, &ul), -1);
	buf_fini(&b);
}
END_TEST

START_TEST(test_addr_text)
{
	char out[64];
	struct swim_addr a = v4(10, 1, 2, 3, 8301);
	ck_assert_str_eq(mlmap_addr_str(&a, out, sizeof(out)), "10.1.2.3:8301");
	ck_assert_str_eq(mlmap_ip_str(&a, out, sizeof(out)), "10.1.2.3");
	struct swim_addr b = {.ip = {[15] = 1}, .len = 16, .port = 8302};
	ck_assert_str_eq(mlmap_addr_str(&b, out, sizeof(out)), "[::1]:8302");
}
END_TEST

static Suite *mlmap_suite(void)
{
	Suite *s = suite_create("mlmap");
	TCase *tc = tcase_create("mlmap");
	tcase_add_test(tc, test_messages);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_push_pull);
	tcase_add_test(tc, test_addr_text);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(mlmap_suite());
}

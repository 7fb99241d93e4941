/* test_serf.c: scripted cases for the Serf layer (spec §4.4): intents, events, queries,
 * push-pull, reaping, reconnect, leave. */
#include "daemons/gossipd/serf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

static struct swim_addr addr_of(int i)
{
	struct swim_addr a = {.len = 4, .port = 7946};
	a.ip[0] = 10;
	a.ip[3] = (uint8_t)i;
	return a;
}

/* Feeds swim's events to the Serf (the daemon's loop). */
static void pump(struct serf *s, uint64_t now)
{
	size_t n;
	const struct swim_fx *fx = swim_effects(serf_swim(s), &n);
	for (size_t i = 0; i < n; i++)
		serf_swim_event(s, now, &fx[i]);
	swim_effects_clear(serf_swim(s));
}

static struct buf self_meta;

static struct serf *mk(uint64_t seed)
{
	struct swim_config mc;
	swim_config_lan(&mc);
	mc.name = "self";
	mc.addr = addr_of(100);
	mc.seed = seed;
	struct serfwire_tags t = {0};
	serfwire_tags_add(&t, "role", "consul");
	serfwire_tags_add(&t, "dc", "dc1");
	buf_init(&self_meta, 512);
	ck_assert_int_eq(serfwire_tags_encode(&self_meta, &t, NULL), 0);
	mc.meta = self_meta.p;
	mc.meta_len = self_meta.len;
	struct serf_config c;
	serf_config_consul(&c);
	c.seed = seed;
	struct serf *s = serf_new(&c, &mc, 0);
	ck_assert_ptr_nonnull(s);
	buf_fini(&self_meta);
	pump(s, 0);
	serf_effects_clear(s);
	return s;
}

/* A swim event about member name (index i: its address). */
static void swim_ev(struct serf *s, uint64_t now, enum swim_event ev, const char *name, int i,
                    const char *rc_tm)
{
	struct swim_fx fx = {.type = SWIM_FX_EVENT, .event = ev};
	struct serfwire_tags t = {0};
	struct buf b;
	buf_init(&b, 512);
	serfwire_tags_add(&t, "role", "node");
	if (rc_tm)
		serfwire_tags_add(&t, "rc_tm", rc_tm);
	ck_assert_int_eq(serfwire_tags_encode(&b, &t, NULL), 0);
	fx.node.name = name;
	fx.node.addr = addr_of(i);
	fx.node.meta = b.p;
	fx.node.meta_len = b.len;
	const uint8_t vsn[6] = {1, 5, 2, 2, 5, 5};
	memcpy(fx.node.vsn, vsn, 6);
	serf_swim_event(s, now, &fx);
	buf_fini(&b);
}

static enum serf_status status_of(struct serf *s, const char *name)
{
	struct serf_member_info mi;
	if (!serf_member(s, name, &mi))
		return SERF_STATUS_NONE;
	return mi.status;
}

static uint64_t ltime_of(struct serf *s, const char *name)
{
	struct serf_member_info mi;
	ck_assert(serf_member(s, name, &mi));
	return mi.status_ltime;
}

static int recv_intent(struct serf *s, uint64_t now, bool leave, const char *node, uint64_t ltime,
                       bool prune)
{
	struct buf b;
	buf_init(&b, 4096);
	if (leave) {
		struct serfwire_leave l = {
		    .ltime = ltime, .node = serfwire_cstr(node), .prune = prune};
		ck_assert_int_eq(serfwire_encode_leave(&b, &l, NULL), 0);
	} else {
		struct serfwire_join j = {.ltime = ltime, .node = serfwire_cstr(node)};
		ck_assert_int_eq(serfwire_encode_join(&b, &j, NULL), 0);
	}
	int rc = serf_recv(s, now, b.p, b.len);
	buf_fini(&b);
	return rc;
}

/* How many effects of a type (and for MEMBER, event) are queued; the last one in *out. */
static size_t count_fx(struct serf *s, enum serf_fx_type type, int event,
                       const struct serf_fx **out)
{
	size_t n, k = 0;
	const struct serf_fx *fx = serf_effects(s, &n);
	for (size_t i = 0; i < n; i++) {
		if (fx[i].type != type || (event >= 0 && (int)fx[i].event != event))
			continue;
		k++;
		if (out)
			*out = &fx[i];
	}
	return k;
}

/* Takes everything queued as swim would, times times; returns messages taken the last time. */
static size_t drain(struct serf *s, int times)
{
	struct swim_user_msg um[256];
	size_t k = 0;
	for (int i = 0; i < times; i++)
		k = serf_user_broadcasts(s, 3, 1 << 20, um, 256);
	return k;
}

/* ---- intents ---- */

START_TEST(intents_ordered_by_ltime)
{
	struct serf *s = mk(1);
	swim_ev(s, 10, SWIM_EV_JOIN, "a", 1, NULL);
	ck_assert_int_eq(status_of(s, "a"), SERF_STATUS_ALIVE);
	ck_assert_uint_eq(count_fx(s, SERF_FX_MEMBER, SERF_EV_JOIN, NULL), 1);
	size_t q0 = serf_queued(s);

	ck_assert_int_eq(recv_intent(s, 20, true, "a", 5, false), 0);
	ck_assert_int_eq(status_of(s, "a"), SERF_STATUS_LEAVING);
	ck_assert_uint_eq(ltime_of(s, "a"), 5);
	ck_assert_uint_eq(serf_queued(s), q0 + 1); /* changed something: rebroadcast */
	ck_assert_uint_eq(serf_clock(s), 6);       /* witnessed */

	/* an older join is ignored and not rebroadcast */
	ck_assert_int_eq(recv_intent(s, 21, false, "a", 3, false), 0);
	ck_assert_int_eq(status_of(s, "a"), SERF_STATUS_LEAVING);
	ck_assert_uint_eq(serf_queued(s), q0 + 1);
	/* the same leave again: ignored */
	recv_intent(s, 22, true, "a", 5, false);
	ck_assert_uint_eq(serf_queued(s), q0 + 1);

	/* a newer join: back to alive */
	recv_intent(s, 23, false, "a", 6, false);
	ck_assert_int_eq(status_of(s, "a"), SERF_STATUS_ALIVE);
	ck_assert_uint_eq(ltime_of(s, "a"), 6);
	ck_assert_uint_eq(serf_queued(s), q0 + 2);

	/* leave intent then memberlist's left: left */
	recv_intent(s, 24, true, "a", 7, false);
	serf_effects_clear(s);
	swim_ev(s, 25, SWIM_EV_LEFT, "a", 1, NULL);
	ck_assert_int_eq(status_of(s, "a"), SERF_STATUS_LEFT);
	ck_assert_uint_eq(count_fx(s, SERF_FX_MEMBER, SERF_EV_LEAVE, NULL), 1);
	ck_assert_uint_eq(count_fx(s, SERF_FX_MEMBER, SERF_EV_FAILED, NULL), 0);
	serf_free(s);
}
END_TEST

START_TEST(intents_buffered_for_unknown)
{
	struct serf *s = mk(2);
	recv_intent(s, 10, false, "x", 3, false);
	recv_intent(s, 11, true, "x", 4, false);  /* newer: replaces the join */
	recv_intent(s, 12, false, "x", 2, false); /* older: ignored */
	ck_assert_uint_eq(serf_intents(s), 1);
	ck_assert_uint_eq(serf_queued(s), 2);
	swim_ev(s, 13, SWIM_EV_JOIN, "x", 2, NULL);
	ck_assert_int_eq(status_of(s, "x"), SERF_STATUS_LEAVING);
	ck_assert_uint_eq(ltime_of(s, "x"), 4);
	swim_ev(s, 14, SWIM_EV_FAILED, "x", 2, NULL);
	ck_assert_int_eq(status_of(s, "x"), SERF_STATUS_LEFT); /* a leave, not a failure */

	/* a join intent buffered gives its ltime */
	recv_intent(s, 20, false, "y", 9, false);
	swim_ev(s, 21, SWIM_EV_JOIN, "y", 3, NULL);
	ck_assert_int_eq(status_of(s, "y"), SERF_STATUS_ALIVE);
	ck_assert_uint_eq(ltime_of(s, "y"), 9);

	/* buffered intents expire after RecentIntentTimeout (at a reap) */
	recv_intent(s, 30, false, "z", 11, false);
	ck_assert_uint_eq(serf_intents(s), 3);
	serf_tick(s, 30 + SERF_RECENT_INTENT_MS - 1000);
	ck_assert_uint_eq(serf_intents(s), 3);
	serf_tick(s, 30 + SERF_RECENT_INTENT_MS + SERF_REAP_INTERVAL_MS);
	ck_assert_uint_eq(serf_intents(s), 0);
	serf_free(s);
}
END_TEST

START_TEST(leave_vs_fail)
{
	struct serf *s = mk(3);
	swim_ev(s, 1, SWIM_EV_JOIN, "a", 1, NULL);
	swim_ev(s, 1, SWIM_EV_JOIN, "b", 2, NULL);
	serf_effects_clear(s);
	/* no intent: memberlist's dead or left both read as failed (serf 0.9.4) */
	swim_ev(s, 5, SWIM_EV_FAILED, "a", 1, NULL);
	ck_assert_int_eq(status_of(s, "a"), SERF_STATUS_FAILED);
	ck_assert_uint_eq(count_fx(s, SERF_FX_MEMBER, SERF_EV_FAILED, NULL), 1);
	/* a leave intent for a failed member: left, with a leave event (forced leave) */
	serf_effects_clear(s);
	recv_intent(s, 6, true, "a", 2, false);
	ck_assert_int_eq(status_of(s, "a"), SERF_STATUS_LEFT);
	ck_assert_uint_eq(count_fx(s, SERF_FX_MEMBER, SERF_EV_LEAVE, NULL), 1);
	/* it comes back: alive, join event */
	serf_effects_clear(s);
	swim_ev(s, 7, SWIM_EV_JOIN, "a", 1, NULL);
	ck_assert_int_eq(status_of(s, "a"), SERF_STATUS_ALIVE);
	ck_assert_uint_eq(count_fx(s, SERF_FX_MEMBER, SERF_EV_JOIN, NULL), 1);
	/* update: new tags */
	serf_effects_clear(s);
	swim_ev(s, 8, SWIM_EV_UPDATE, "b", 2, "8h");
	const struct serf_fx *f = NULL;
	ck_assert_uint_eq(count_fx(s, SERF_FX_MEMBER, SERF_EV_UPDATE, &f), 1);
	ck_assert_uint_eq(f->member.n_tags, 2);
	ck_assert(serfwire_bytes_eq(f->member.tags[1].value, "8h"));
	/* a leave intent about ourselves while alive is refuted by a join */
	size_t q = serf_queued(s);
	recv_intent(s, 9, true, "self", 50, false);
	ck_assert_int_eq(status_of(s, "self"), SERF_STATUS_ALIVE);
	ck_assert_uint_eq(serf_queued(s), q + 1);
	ck_assert_uint_ge(ltime_of(s, "self"), 51);
	/* prune: a left member is erased at once */
	serf_effects_clear(s);
	recv_intent(s, 10, true, "a", 60, false);
	swim_ev(s, 10, SWIM_EV_LEFT, "a", 1, NULL);
	recv_intent(s, 11, true, "a", 61, true);
	ck_assert_int_eq(status_of(s, "a"), SERF_STATUS_NONE);
	ck_assert_uint_eq(count_fx(s, SERF_FX_MEMBER, SERF_EV_REAP, NULL), 1);
	serf_free(s);
}
END_TEST

/* ---- user events ---- */

static int recv_event(struct serf *s, uint64_t ltime, const char *name, const char *payload)
{
	struct buf b;
	buf_init(&b, 4096);
	struct serfwire_user_event e = {
	    .ltime = ltime, .name = serfwire_cstr(name), .payload = serfwire_cstr(payload)};
	ck_assert_int_eq(serfwire_encode_user_event(&b, &e, NULL), 0);
	int rc = serf_recv(s, 1, b.p, b.len);
	buf_fini(&b);
	return rc;
}

START_TEST(events_dedupe_and_rebroadcast)
{
	struct serf *s = mk(4);
	recv_event(s, 10, "deploy", "v1");
	recv_event(s, 10, "deploy", "v1"); /* seen */
	recv_event(s, 10, "deploy", "v2"); /* same time, other event */
	const struct serf_fx *f = NULL;
	ck_assert_uint_eq(count_fx(s, SERF_FX_USER_EVENT, -1, &f), 2);
	ck_assert(serfwire_bytes_eq(f->payload, "v2"));
	ck_assert_uint_eq(serf_queued(s), 2);
	ck_assert_uint_eq(serf_event_clock(s), 11);
	/* rebroadcast as received: the queued bytes are the original message */
	struct swim_user_msg um[8];
	ck_assert_uint_eq(serf_user_broadcasts(s, 3, 1400, um, 8), 2);
	struct serfwire_msg m;
	ck_assert_int_eq(serfwire_decode(um[0].data, um[0].len, &m, NULL), 0);
	ck_assert_int_eq(m.type, SERFWIRE_USER_EVENT);
	ck_assert_uint_eq(m.u.user_event.ltime, 10);
	serfwire_msg_fini(&m);
	/* each sent RetransmitMult(4) * ceil(log10(1+1)) = 4 times, then gone */
	ck_assert_uint_eq(drain(s, 3), 2);
	ck_assert_uint_eq(serf_queued(s), 0);
	ck_assert_uint_eq(drain(s, 1), 0);
	/* too old: below clock - EventBuffer */
	serf_effects_clear(s);
	recv_event(s, 2000, "x", "");
	recv_event(s, 2000 - 513, "old", "");
	ck_assert_uint_eq(count_fx(s, SERF_FX_USER_EVENT, -1, NULL), 1);
	ck_assert_uint_eq(serf_stats(s)->events_old, 1);
	/* a slot reused by a newer time forgets the old one */
	recv_event(s, 2000 + 512, "x", "");
	ck_assert_uint_eq(count_fx(s, SERF_FX_USER_EVENT, -1, NULL), 2);
	serf_free(s);
}
END_TEST

START_TEST(events_fire)
{
	struct serf *s = mk(5);
	const char *err = NULL;
	char big[600];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ck_assert_int_eq(serf_user_event(s, 1, serfwire_cstr("e"), serfwire_cstr(big), false, &err),
	                 -1);
	ck_assert_str_eq(err, "user event exceeds configured limit of 512 bytes before encoding");
	big[505] = 0; /* 506 bytes: fits before encoding, not after */
	ck_assert_int_eq(serf_user_event(s, 1, serfwire_cstr("e"), serfwire_cstr(big), false, &err),
	                 -1);
	ck_assert_str_eq(err,
	                 "encoded user event exceeds configured limit of 512 bytes after encoding");
	ck_assert_int_eq(serf_user_event(s, 1, serfwire_cstr("consul:event:web"),
	                                 serfwire_cstr("p"), true, &err),
	                 0);
	const struct serf_fx *f = NULL;
	ck_assert_uint_eq(count_fx(s, SERF_FX_USER_EVENT, -1, &f), 1); /* we see our own */
	ck_assert_uint_eq(f->ltime, 1);                                /* clocks start at 1 */
	ck_assert(f->cc);
	ck_assert_uint_eq(serf_event_clock(s), 2);
	ck_assert_uint_eq(serf_queued(s), 1);
	serf_free(s);
}
END_TEST

/* ---- queries ---- */

static void recv_query(struct serf *s, uint64_t now, uint64_t ltime, uint32_t id, const char *name,
                       uint32_t flags, const struct serfwire_filter *fl, size_t nfl)
{
	struct buf b, fb[4];
	buf_init(&b, 4096);
	struct serfwire_query q = {.ltime = ltime,
	                           .id = id,
	                           .port = 8301,
	                           .source_node = serfwire_cstr("src"),
	                           .flags = flags,
	                           .timeout_ns = 5000000000ll,
	                           .name = serfwire_cstr(name),
	                           .payload = serfwire_cstr("pl")};
	static const uint8_t ip[4] = {10, 0, 0, 9};
	q.addr.p = ip;
	q.addr.len = 4;
	for (size_t i = 0; i < nfl; i++) {
		buf_init(&fb[i], 1024);
		ck_assert_int_eq(serfwire_filter_encode(&fb[i], &fl[i], NULL), 0);
		q.filters[i].p = fb[i].p;
		q.filters[i].len = fb[i].len;
	}
	q.n_filters = nfl;
	ck_assert_int_eq(serfwire_encode_query(&b, &q, NULL), 0);
	ck_assert_int_eq(serf_recv(s, now, b.p, b.len), 0);
	buf_fini(&b);
	for (size_t i = 0; i < nfl; i++)
		buf_fini(&fb[i]);
}

START_TEST(query_ping_and_filters)
{
	struct serf *s = mk(6);
	/* _serf_ping with the ack flag: answered by an ack, not given to the daemon */
	recv_query(s, 1, 5, 77, "_serf_ping", SERFWIRE_QUERY_FLAG_ACK, NULL, 0);
	const struct serf_fx *f = NULL;
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, NULL), 0);
	ck_assert_uint_eq(count_fx(s, SERF_FX_SEND, -1, &f), 1);
	ck_assert_uint_eq(f->to.ip[3], 9);
	ck_assert_uint_eq(f->to.port, 8301);
	struct serfwire_msg m;
	ck_assert_int_eq(serfwire_decode(f->data, f->len, &m, NULL), 0);
	ck_assert_int_eq(m.type, SERFWIRE_QUERY_RESPONSE);
	ck_assert_uint_eq(m.u.query_response.id, 77);
	ck_assert_uint_eq(m.u.query_response.flags, SERFWIRE_QUERY_FLAG_ACK);
	ck_assert(serfwire_bytes_eq(m.u.query_response.from, "self"));
	serfwire_msg_fini(&m);
	ck_assert_uint_eq(serf_queued(s), 1); /* rebroadcast */
	/* duplicate: nothing */
	serf_effects_clear(s);
	recv_query(s, 1, 5, 77, "_serf_ping", SERFWIRE_QUERY_FLAG_ACK, NULL, 0);
	ck_assert_uint_eq(count_fx(s, SERF_FX_SEND, -1, NULL), 0);
	ck_assert_uint_eq(serf_queued(s), 1);

	/* node filter without us: not processed but rebroadcast */
	struct serfwire_bytes nodes[2] = {serfwire_cstr("a"), serfwire_cstr("b")};
	struct serfwire_filter nf = {.type = SERFWIRE_FILTER_NODE, .nodes = nodes, .n_nodes = 2};
	recv_query(s, 2, 6, 1, "q", 0, &nf, 1);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, NULL), 0);
	ck_assert_uint_eq(serf_queued(s), 2);
	nodes[1] = serfwire_cstr("self");
	recv_query(s, 2, 6, 2, "q", 0, &nf, 1);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, NULL), 1);
	/* tag filters: unanchored regex on our tags */
	struct serfwire_filter tf = {.type = SERFWIRE_FILTER_TAG,
	                             .tag = serfwire_cstr("role"),
	                             .expr = serfwire_cstr("^cons")};
	recv_query(s, 2, 7, 3, "q", 0, &tf, 1);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, NULL), 2);
	tf.expr = serfwire_cstr("sul");
	recv_query(s, 2, 7, 4, "q", 0, &tf, 1);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, NULL), 3);
	tf.expr = serfwire_cstr("^node$");
	recv_query(s, 2, 7, 5, "q", 0, &tf, 1);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, NULL), 3);
	tf.tag = serfwire_cstr("missing");
	tf.expr = serfwire_cstr("^$"); /* a missing tag reads as "" */
	recv_query(s, 2, 7, 6, "q", 0, &tf, 1);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, NULL), 4);
	tf.expr = serfwire_cstr("(");
	recv_query(s, 2, 7, 7, "q", 0, &tf, 1); /* bad expression: no match */
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, NULL), 4);
	/* both filters must pass */
	struct serfwire_filter two[2] = {nf, tf};
	two[1].tag = serfwire_cstr("dc");
	two[1].expr = serfwire_cstr("dc[0-9]");
	recv_query(s, 2, 7, 8, "q", 0, two, 2);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, &f), 5);
	ck_assert_uint_eq(f->id, 8);
	ck_assert_str_eq(f->source_node, "src");
	ck_assert_uint_eq(f->deadline_ms, 2 + 5000);
	ck_assert(!f->internal);

	/* respond: once, before the deadline, within the size limit */
	const char *err = NULL;
	serf_effects_clear(s);
	char big[1100];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ck_assert_int_eq(serf_respond(s, 3, 7, 8, serfwire_cstr(big), &err), -1);
	ck_assert_str_eq(err, "response exceeds limit of 1024 bytes");
	ck_assert_int_eq(serf_respond(s, 3, 7, 8, serfwire_cstr("answer"), &err), 0);
	ck_assert_uint_eq(count_fx(s, SERF_FX_SEND, -1, &f), 1);
	ck_assert_int_eq(serfwire_decode(f->data, f->len, &m, NULL), 0);
	ck_assert(serfwire_bytes_eq(m.u.query_response.payload, "answer"));
	ck_assert_uint_eq(m.u.query_response.flags, 0);
	serfwire_msg_fini(&m);
	ck_assert_int_eq(serf_respond(s, 3, 7, 8, serfwire_cstr("again"), &err), -1);
	ck_assert_str_eq(err, "response already sent");
	ck_assert_int_eq(serf_respond(s, 9000, 7, 6, serfwire_cstr("late"), &err), -1);
	ck_assert_str_eq(err, "response is past the deadline");
	/* an internal query other than ping goes to the daemon, flagged */
	serf_effects_clear(s);
	recv_query(s, 2, 8, 9, "_serf_list-keys", 0, NULL, 0);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, &f), 1);
	ck_assert(f->internal);
	/* no-broadcast flag: not rebroadcast */
	size_t q = serf_queued(s);
	recv_query(s, 2, 8, 10, "q", SERFWIRE_QUERY_FLAG_NO_BROADCAST, NULL, 0);
	ck_assert_uint_eq(serf_queued(s), q);
	serf_free(s);
}
END_TEST

static void recv_response(struct serf *s, uint64_t now, uint64_t ltime, uint32_t id,
                          const char *from, bool ack, const char *payload)
{
	struct buf b;
	buf_init(&b, 4096);
	struct serfwire_query_response r = {.ltime = ltime,
	                                    .id = id,
	                                    .from = serfwire_cstr(from),
	                                    .flags = ack ? SERFWIRE_QUERY_FLAG_ACK : 0,
	                                    .payload = serfwire_cstr(payload)};
	ck_assert_int_eq(serfwire_encode_query_response(&b, &r, NULL), 0);
	ck_assert_int_eq(serf_recv(s, now, b.p, b.len), 0);
	buf_fini(&b);
}

START_TEST(query_send_collect)
{
	struct serf *s = mk(7);
	/* default timeout: 200 ms × 16 × ceil(log10(1+1)) */
	ck_assert_uint_eq(serf_default_query_timeout_ms(s), 3200);
	uint64_t lt;
	uint32_t id;
	const char *err = NULL;
	struct serf_query_param p = {.request_ack = true};
	ck_assert_int_eq(
	    serf_query(s, 100, serfwire_cstr("hello"), serfwire_cstr("x"), &p, &lt, &id, &err), 0);
	ck_assert_uint_eq(lt, 1);
	ck_assert_uint_eq(serf_query_clock(s), 2);
	const struct serf_fx *f = NULL;
	/* processed locally: our own QUERY and our ack to ourselves */
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, &f), 1);
	ck_assert_uint_eq(f->to.ip[3], 100);
	ck_assert_uint_eq(count_fx(s, SERF_FX_SEND, -1, NULL), 1);
	ck_assert_uint_eq(serf_queued(s), 1);
	ck_assert_uint_eq(serf_next_deadline(s), 100 + 3200);
	serf_effects_clear(s);

	recv_response(s, 200, lt, id, "a", true, NULL);
	recv_response(s, 201, lt, id, "a", true, NULL);
	recv_response(s, 202, lt, id, "a", false, "ra");
	recv_response(s, 203, lt, id, "a", false, "ra2");
	recv_response(s, 204, lt, id, "b", false, "rb");
	recv_response(s, 205, lt, id + 1, "c", false, "rc"); /* wrong id */
	recv_response(s, 206, lt + 5, id, "c", false, "rc"); /* not running */
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY_ACK, -1, NULL), 1);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY_RESPONSE, -1, &f), 2);
	ck_assert_str_eq(f->from, "b");
	ck_assert(serfwire_bytes_eq(f->payload, "rb"));
	ck_assert_uint_eq(serf_stats(s)->responses_dup, 2);
	ck_assert_uint_eq(serf_stats(s)->responses_unknown, 2);

	serf_tick(s, 100 + 3199);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY_DONE, -1, NULL), 0);
	serf_tick(s, 100 + 3200);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY_DONE, -1, &f), 1);
	ck_assert_uint_eq(f->id, id);
	recv_response(s, 3400, lt, id, "d", false, "late");
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY_RESPONSE, -1, NULL), 2);

	/* size limit */
	char big[1100];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ck_assert_int_eq(
	    serf_query(s, 4000, serfwire_cstr("q"), serfwire_cstr(big), NULL, NULL, NULL, &err),
	    -1);
	ck_assert_str_eq(err, "query exceeds limit of 1024 bytes");
	/* filters are carried: a node filter without us is not processed locally */
	serf_effects_clear(s);
	const char *only[] = {"zz"};
	struct serf_query_param p2 = {.filter_nodes = only, .n_filter_nodes = 1, .timeout_ms = 50};
	ck_assert_int_eq(
	    serf_query(s, 5000, serfwire_cstr("q"), serfwire_cstr(""), &p2, &lt, &id, &err), 0);
	ck_assert_uint_eq(count_fx(s, SERF_FX_QUERY, -1, NULL), 0);
	ck_assert_uint_eq(serf_next_deadline(s), 5050);
	serf_free(s);
}
END_TEST

/* ---- push-pull ---- */

START_TEST(push_pull_merge)
{
	struct serf *s = mk(8);
	swim_ev(s, 1, SWIM_EV_JOIN, "a", 1, NULL);
	swim_ev(s, 1, SWIM_EV_JOIN, "b", 2, NULL);
	swim_ev(s, 1, SWIM_EV_FAILED, "b", 2, NULL);
	serf_effects_clear(s);

	struct serfwire_status_ltime lts[3] = {
	    {serfwire_cstr("a"), 7}, {serfwire_cstr("b"), 4}, {serfwire_cstr("c"), 9}};
	struct serfwire_bytes left[1] = {serfwire_cstr("b")};
	struct serfwire_event evs[2] = {{serfwire_cstr("e1"), serfwire_cstr("p1")},
	                                {serfwire_cstr("e2"), serfwire_cstr("")}};
	struct serfwire_event_slot slots[3] = {
	    {.present = false}, {.present = true, .ltime = 20, .events = evs, .n_events = 2}, {0}};
	struct serfwire_push_pull pp = {.ltime = 30,
	                                .status_ltimes = lts,
	                                .n_status_ltimes = 3,
	                                .left_members = left,
	                                .n_left_members = 1,
	                                .event_ltime = 25,
	                                .events = slots,
	                                .n_events = 3,
	                                .query_ltime = 40};
	struct buf b;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(serfwire_encode_push_pull(&b, &pp, NULL), 0);
	ck_assert_int_eq(serf_merge_remote_state(s, 2, b.p, b.len, false), 0);
	buf_fini(&b);
	ck_assert_uint_eq(serf_clock(s), 30);
	ck_assert_uint_eq(serf_event_clock(s), 25);
	ck_assert_uint_eq(serf_query_clock(s), 40);
	ck_assert_uint_eq(ltime_of(s, "a"), 7);
	ck_assert_int_eq(status_of(s, "a"), SERF_STATUS_ALIVE);
	ck_assert_int_eq(status_of(s, "b"), SERF_STATUS_LEFT); /* failed + leave at 4+1 */
	ck_assert_uint_eq(ltime_of(s, "b"), 5);
	ck_assert_uint_eq(serf_intents(s), 1); /* c: unknown, buffered */
	ck_assert_uint_eq(count_fx(s, SERF_FX_USER_EVENT, -1, NULL), 2);
	ck_assert_uint_eq(count_fx(s, SERF_FX_MEMBER, SERF_EV_LEAVE, NULL), 1);
	ck_assert_uint_eq(serf_queued(s), 0); /* merges are not rebroadcast */
	ck_assert_int_eq(serf_merge_remote_state(s, 2, (const uint8_t *)"\x03", 1, false), -1);

	/* our state: the same clocks, members and buffered events */
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(serf_local_state(s, &b), 0);
	struct serfwire_msg m;
	ck_assert_int_eq(serfwire_decode(b.p, b.len, &m, NULL), 0);
	ck_assert_uint_eq(m.u.push_pull.ltime, 30);
	ck_assert_uint_eq(m.u.push_pull.event_ltime, 25);
	ck_assert_uint_eq(m.u.push_pull.query_ltime, 40);
	ck_assert_uint_eq(m.u.push_pull.n_status_ltimes, 3); /* a, b, self */
	ck_assert_uint_eq(m.u.push_pull.n_left_members, 1);
	ck_assert(serfwire_bytes_eq(m.u.push_pull.left_members[0], "b"));
	ck_assert_uint_eq(m.u.push_pull.n_events, SERF_EVENT_BUFFER);
	ck_assert(m.u.push_pull.events[20].present);
	ck_assert_uint_eq(m.u.push_pull.events[20].n_events, 2);
	/* merging it into another Serf replays the events once */
	struct serf *t = mk(9);
	ck_assert_int_eq(serf_merge_remote_state(t, 1, b.p, b.len, false), 0);
	ck_assert_int_eq(serf_merge_remote_state(t, 1, b.p, b.len, false), 0);
	ck_assert_uint_eq(count_fx(t, SERF_FX_USER_EVENT, -1, NULL), 2);
	/* a join with ignore_old: events up to EventLTime are ignored */
	struct serf *u = mk(10);
	struct swim_addr a1 = addr_of(1);
	serf_join(u, 1, &a1, true);
	ck_assert_int_eq(serf_merge_remote_state(u, 1, b.p, b.len, true), 0);
	ck_assert_uint_eq(count_fx(u, SERF_FX_USER_EVENT, -1, NULL), 0);
	serf_join_done(u, 2, true);
	ck_assert_uint_eq(serf_queued(u), 1); /* our join intent */
	ck_assert_uint_eq(ltime_of(u, "self"), 30);
	serfwire_msg_fini(&m);
	buf_fini(&b);
	serf_free(u);
	serf_free(t);
	serf_free(s);
}
END_TEST

/* ---- reaping, reconnect ---- */

START_TEST(reap_times)
{
	struct serf *s = mk(11);
	const uint64_t H = 3600ull * 1000;
	swim_ev(s, 0, SWIM_EV_JOIN, "f", 1, NULL);
	swim_ev(s, 0, SWIM_EV_JOIN, "r", 2, "10h");
	swim_ev(s, 0, SWIM_EV_JOIN, "l", 3, NULL);
	swim_ev(s, 0, SWIM_EV_JOIN, "z", 4, "0s"); /* 0: the default */
	swim_ev(s, 1000, SWIM_EV_FAILED, "f", 1, NULL);
	swim_ev(s, 1000, SWIM_EV_FAILED, "r", 2, NULL);
	swim_ev(s, 1000, SWIM_EV_FAILED, "z", 4, NULL);
	recv_intent(s, 1000, true, "l", 3, false);
	swim_ev(s, 1000, SWIM_EV_LEFT, "l", 3, NULL);
	ck_assert_int_eq(status_of(s, "l"), SERF_STATUS_LEFT);
	serf_effects_clear(s);
	uint64_t t = 0;
	bool r_gone = false, l_gone = false, f_gone = false;
	uint64_t r_at = 0, l_at = 0, f_at = 0;
	while (t < 80 * H) {
		t = serf_next_deadline(s);
		serf_tick(s, t);
		serf_effects_clear(s);
		if (!r_gone && status_of(s, "r") == SERF_STATUS_NONE)
			r_gone = true, r_at = t;
		if (!l_gone && status_of(s, "l") == SERF_STATUS_NONE)
			l_gone = true, l_at = t;
		if (!f_gone && status_of(s, "f") == SERF_STATUS_NONE)
			f_gone = true, f_at = t;
	}
	ck_assert(r_gone && l_gone && f_gone);
	/* reaped at the first reap (every 15 s) past the timeout */
	ck_assert_uint_gt(r_at, 1000 + 10 * H);
	ck_assert_uint_le(r_at, 1000 + 10 * H + SERF_REAP_INTERVAL_MS);
	ck_assert_uint_gt(l_at, 1000 + 24 * H);
	ck_assert_uint_le(l_at, 1000 + 24 * H + SERF_REAP_INTERVAL_MS);
	ck_assert_uint_gt(f_at, 1000 + 72 * H);
	ck_assert_uint_le(f_at, 1000 + 72 * H + SERF_REAP_INTERVAL_MS);
	ck_assert_int_eq(status_of(s, "z"), SERF_STATUS_NONE);
	ck_assert_uint_eq(serf_stats(s)->reaped, 4);
	serf_free(s);
}
END_TEST

START_TEST(reap_event)
{
	struct serf *s = mk(12);
	swim_ev(s, 0, SWIM_EV_JOIN, "f", 1, "1m");
	swim_ev(s, 0, SWIM_EV_FAILED, "f", 1, NULL);
	serf_effects_clear(s);
	serf_tick(s, 60000);
	ck_assert_int_eq(status_of(s, "f"), SERF_STATUS_FAILED); /* not past yet */
	serf_tick(s, 75000);
	const struct serf_fx *f = NULL;
	ck_assert_uint_eq(count_fx(s, SERF_FX_MEMBER, SERF_EV_REAP, &f), 1);
	ck_assert_str_eq(f->member.name, "f");
	ck_assert_int_eq(f->member.status, SERF_STATUS_FAILED);
	serf_free(s);
}
END_TEST

START_TEST(reconnect_probability)
{
	/* self + 3 alive + 1 failed: prob = 1/4 per ReconnectInterval */
	struct serf *s = mk(13);
	swim_ev(s, 0, SWIM_EV_JOIN, "a", 1, NULL);
	swim_ev(s, 0, SWIM_EV_JOIN, "b", 2, NULL);
	swim_ev(s, 0, SWIM_EV_JOIN, "c", 3, NULL);
	swim_ev(s, 0, SWIM_EV_JOIN, "f", 4, NULL);
	swim_ev(s, 0, SWIM_EV_FAILED, "f", 4, NULL);
	serf_effects_clear(s);
	size_t hits = 0, rounds = 0;
	uint64_t t = 0;
	while (rounds < 2000) {
		t += SERF_RECONNECT_INTERVAL_MS;
		serf_tick(s, t);
		rounds++;
		const struct serf_fx *f = NULL;
		if (count_fx(s, SERF_FX_RECONNECT, -1, &f)) {
			ck_assert_str_eq(f->member.name, "f");
			ck_assert_uint_eq(f->member.addr.ip[3], 4);
			hits++;
		}
		serf_effects_clear(s);
		if (t > 70ull * 3600 * 1000)
			break;
	}
	ck_assert_uint_eq(rounds, 2000);
	/* 500 expected; a seeded PRNG: deterministic, within 4 sigma (~78) */
	ck_assert_uint_gt(hits, 420);
	ck_assert_uint_lt(hits, 580);
	ck_assert_uint_eq(serf_stats(s)->reconnects, hits);

	/* more failed than alive: every time */
	struct serf *u = mk(14);
	swim_ev(u, 0, SWIM_EV_JOIN, "x", 1, NULL);
	swim_ev(u, 0, SWIM_EV_JOIN, "y", 2, NULL);
	swim_ev(u, 0, SWIM_EV_FAILED, "x", 1, NULL);
	swim_ev(u, 0, SWIM_EV_FAILED, "y", 2, NULL);
	serf_effects_clear(u);
	size_t nx = 0, ny = 0;
	for (int i = 1; i <= 100; i++) {
		serf_tick(u, (uint64_t)i * SERF_RECONNECT_INTERVAL_MS);
		const struct serf_fx *f = NULL;
		ck_assert_uint_eq(count_fx(u, SERF_FX_RECONNECT, -1, &f), 1);
		if (strcmp(f->member.name, "x") == 0)
			nx++;
		else
			ny++;
		serf_effects_clear(u);
	}
	ck_assert_uint_gt(nx, 25);
	ck_assert_uint_gt(ny, 25);
	/* no failed members: nothing */
	struct serf *v = mk(15);
	serf_tick(v, SERF_RECONNECT_INTERVAL_MS);
	ck_assert_uint_eq(count_fx(v, SERF_FX_RECONNECT, -1, NULL), 0);
	serf_free(v);
	serf_free(u);
	serf_free(s);
}
END_TEST

/* ---- leave ---- */

START_TEST(graceful_leave)
{
	struct serf *s = mk(16);
	struct swim_node_state peer = {.name = "a", .addr = addr_of(1), .incarnation = 1};
	const uint8_t vsn[6] = {1, 5, 2, 2, 5, 5};
	memcpy(peer.vsn, vsn, 6);
	ck_assert_int_eq(swim_merge_remote_state(serf_swim(s), 1, &peer, 1), 0);
	pump(s, 1);
	ck_assert_int_eq(status_of(s, "a"), SERF_STATUS_ALIVE);
	serf_effects_clear(s);
	const char *err = NULL;
	ck_assert_int_eq(serf_leave(s, 100, &err), 0);
	ck_assert_int_eq(serf_state(s), SERF_LEAVING);
	ck_assert_int_eq(status_of(s, "self"), SERF_STATUS_LEAVING);
	ck_assert_int_eq(serf_leave(s, 101, &err), -1);
	ck_assert_str_eq(err, "Leave already in progress");
	ck_assert_uint_eq(serf_queued(s), 1);
	ck_assert(!swim_has_left(serf_swim(s)));
	/* N = 2: 4 × ceil(log10 3) = 4 transmissions, then swim's leave */
	drain(s, 4);
	ck_assert_uint_eq(serf_queued(s), 0);
	ck_assert_uint_le(serf_next_deadline(s), 102);
	serf_tick(s, 102);
	ck_assert(swim_has_left(serf_swim(s)));
	/* swim sends its dead-about-us; when done, LeavePropagateDelay */
	uint64_t t = 102;
	for (int i = 0; i < 200 && serf_state(s) != SERF_LEFT; i++) {
		t += 200;
		swim_tick(serf_swim(s), t);
		pump(s, t);
		serf_tick(s, t);
	}
	const struct serf_fx *f = NULL;
	ck_assert_int_eq(serf_state(s), SERF_LEFT);
	ck_assert_uint_eq(count_fx(s, SERF_FX_LEAVE_DONE, -1, &f), 1);
	ck_assert_ptr_null(f->error);
	ck_assert_uint_ge(t, 102 + SERF_LEAVE_PROPAGATE_MS);
	serf_free(s);

	/* nobody takes the leave intent within BroadcastTimeout: serf's error */
	s = mk(17);
	swim_ev(s, 1, SWIM_EV_JOIN, "a", 1, NULL);
	serf_effects_clear(s);
	ck_assert_int_eq(serf_leave(s, 100, &err), 0);
	serf_tick(s, 100 + SERF_BROADCAST_TIMEOUT_MS);
	ck_assert_uint_eq(count_fx(s, SERF_FX_LEAVE_DONE, -1, &f), 1);
	ck_assert_str_eq(f->error, "timeout while waiting for graceful leave");
	serf_free(s);

	/* alone: straight to swim's leave */
	s = mk(18);
	ck_assert_int_eq(serf_leave(s, 100, &err), 0);
	ck_assert_uint_eq(serf_queued(s), 0);
	ck_assert(swim_has_left(serf_swim(s)));
	pump(s, 100);
	serf_tick(s, 100 + SERF_LEAVE_PROPAGATE_MS);
	ck_assert_int_eq(serf_state(s), SERF_LEFT);
	serf_free(s);
}
END_TEST

START_TEST(relay_and_malformed)
{
	struct serf *s = mk(19);
	ck_assert_int_eq(serf_recv(s, 1, (const uint8_t *)"\x01\xc1", 2), -1);
	ck_assert_int_eq(serf_recv(s, 1, (const uint8_t *)"\x63", 1), -1);
	/* relay: the wrapped message is forwarded to its destination */
	struct buf inner, b;
	buf_init(&inner, 1024);
	buf_init(&b, 2048);
	struct serfwire_query_response r = {.ltime = 1, .id = 2, .from = serfwire_cstr("n")};
	ck_assert_int_eq(serfwire_encode_query_response(&inner, &r, NULL), 0);
	static const uint8_t ip[4] = {10, 1, 2, 3};
	struct serfwire_relay rl = {
	    .dest_ip = {ip, 4}, .dest_port = 8301, .msg = {inner.p, inner.len}};
	ck_assert_int_eq(serfwire_encode_relay(&b, &rl, NULL), 0);
	ck_assert_int_eq(serf_recv(s, 1, b.p, b.len), 0);
	const struct serf_fx *f = NULL;
	ck_assert_uint_eq(count_fx(s, SERF_FX_SEND, -1, &f), 1);
	ck_assert_uint_eq(f->to.ip[3], 3);
	ck_assert_uint_eq(f->len, inner.len);
	ck_assert_mem_eq(f->data, inner.p, inner.len);
	buf_fini(&inner);
	buf_fini(&b);
	/* a query with relay factor: the ack also goes via alive peers of protocol >= 5 */
	swim_ev(s, 1, SWIM_EV_JOIN, "p1", 1, NULL);
	swim_ev(s, 1, SWIM_EV_JOIN, "p2", 2, NULL);
	serf_effects_clear(s);
	struct buf q;
	buf_init(&q, 2048);
	struct serfwire_query qq = {.ltime = 3,
	                            .id = 4,
	                            .port = 8301,
	                            .flags = 1,
	                            .relay_factor = 1,
	                            .timeout_ns = 1000000000,
	                            .name = serfwire_cstr("q")};
	qq.addr.p = ip;
	qq.addr.len = 4;
	ck_assert_int_eq(serfwire_encode_query(&q, &qq, NULL), 0);
	ck_assert_int_eq(serf_recv(s, 1, q.p, q.len), 0);
	buf_fini(&q);
	ck_assert_uint_eq(count_fx(s, SERF_FX_SEND, -1, &f), 2);
	ck_assert_uint_eq(f->data[0], SERFWIRE_RELAY);
	ck_assert(f->to.ip[3] == 1 || f->to.ip[3] == 2);
	serf_free(s);
}
END_TEST

static Suite *serf_suite(void)
{
	Suite *s = suite_create("serf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, intents_ordered_by_ltime);
	tcase_add_test(tc, intents_buffered_for_unknown);
	tcase_add_test(tc, leave_vs_fail);
	tcase_add_test(tc, events_dedupe_and_rebroadcast);
	tcase_add_test(tc, events_fire);
	tcase_add_test(tc, query_ping_and_filters);
	tcase_add_test(tc, query_send_collect);
	tcase_add_test(tc, push_pull_merge);
	tcase_add_test(tc, reap_times);
	tcase_add_test(tc, reap_event);
	tcase_add_test(tc, reconnect_probability);
	tcase_add_test(tc, graceful_leave);
	tcase_add_test(tc, relay_and_malformed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(serf_suite());
}

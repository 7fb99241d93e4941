/* test_ipc.c: the bus: requests and replies, deadlines, sender checks, pub/sub with epochs, limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "ev.h"
#include "ipc.h"
#include "rundir.h"
#include "testutil.h"

static char run_dir[64];

static void make_run_dir(void)
{
	snprintf(run_dir, sizeof(run_dir), "/tmp/mti-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(run_dir));
}

static void drop_run_dir(void)
{
	ipc_ctx_term();
	rundir_remove_tree(run_dir);
}

/* A server that answers PING with PONG and ignores nothing else. */
static void answer(struct ipc_server *s, const struct ipc_from *from, struct msg *m, void *arg)
{
	struct msg r;
	int *count = arg;

	(*count)++;
	memset(&r, 0, sizeof(r));
	if (m->type == MSG_PING) {
		r.type = MSG_PONG;
		r.u.pong.nonce = m->u.ping.nonce;
		r.u.pong.epoch = 77;
		ck_assert_str_eq(from->name, "httpd");
		ck_assert_uint_eq(from->peer, MSG_PEER_HTTPD);
		ipc_reply(s, from, &r);
	} else {
		ipc_reply_result(s, from, 400, "nope");
	}
}

struct got {
	int calls;
	enum ipc_status st;
	uint64_t nonce;
	enum msg_type type;
	unsigned status;
};

static void on_reply(void *arg, enum ipc_status st, struct msg *reply)
{
	struct got *g = arg;

	g->calls++;
	g->st = st;
	if (reply != NULL) {
		g->type = reply->type;
		if (reply->type == MSG_PONG)
			g->nonce = reply->u.pong.nonce;
		if (reply->type == MSG_RESULT)
			g->status = (unsigned)reply->u.result.status;
	}
}

static void run_until(struct ev *ev, int *flag, int want, uint64_t max_ms)
{
	uint64_t end = ev_clock_ms() + max_ms;

	while (*flag < want && ev_clock_ms() < end)
		ev_run_once(ev, 10);
}

START_TEST(ipc_request_reply)
{
	struct ev *ev = ev_new();
	int served = 0;
	struct ipc_server *s;
	struct ipc_client *c;
	struct got g;
	struct msg req;

	make_run_dir();
	memset(&g, 0, sizeof(g));
	s = ipc_server_new(ev, run_dir, "raftd", answer, &served);
	ck_assert_ptr_nonnull(s);
	c = ipc_client_new(ev, run_dir, "httpd", "raftd");
	ck_assert_ptr_nonnull(c);
	memset(&req, 0, sizeof(req));
	req.type = MSG_PING;
	req.u.ping.nonce = 4242;
	ck_assert_int_eq(ipc_call(c, &req, 5000, on_reply, &g), 0);
	ck_assert_uint_eq(ipc_client_pending(c), 1);
	run_until(ev, &g.calls, 1, 5000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.st, IPC_OK);
	ck_assert_int_eq(g.type, MSG_PONG);
	ck_assert_uint_eq(g.nonce, 4242);
	ck_assert_uint_eq(ipc_client_pending(c), 0);
	ck_assert_uint_eq(ipc_server_counters(s)->received, 1);
	ipc_client_free(c);
	ipc_server_free(s);
	ev_free(ev);
	drop_run_dir();
}
END_TEST

START_TEST(ipc_many_in_flight_are_matched)
{
	struct ev *ev = ev_new();
	int served = 0;
	struct ipc_server *s;
	struct ipc_client *c;
	struct got g[200];

	make_run_dir();
	s = ipc_server_new(ev, run_dir, "raftd", answer, &served);
	c = ipc_client_new(ev, run_dir, "httpd", "raftd");
	memset(g, 0, sizeof(g));
	for (int i = 0; i < 200; i++) {
		struct msg req;

		memset(&req, 0, sizeof(req));
		req.type = MSG_PING;
		req.u.ping.nonce = 1000 + (uint64_t)i;
		ck_assert_int_eq(ipc_call(c, &req, 5000, on_reply, &g[i]), 0);
	}
	{
		uint64_t end = ev_clock_ms() + 5000;

		while (ipc_client_pending(c) > 0 && ev_clock_ms() < end)
			ev_run_once(ev, 10);
	}
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(g[i].calls, 1);
		ck_assert_int_eq(g[i].st, IPC_OK);
		ck_assert_uint_eq(g[i].nonce, 1000 + (uint64_t)i);
	}
	ipc_client_free(c);
	ipc_server_free(s);
	ev_free(ev);
	drop_run_dir();
}
END_TEST

START_TEST(ipc_deadline_when_peer_is_gone)
{
	struct ev *ev = ev_new();
	struct ipc_client *c;
	struct got g;
	struct msg req;
	uint64_t t0;

	make_run_dir();
	memset(&g, 0, sizeof(g));
	c = ipc_client_new(ev, run_dir, "httpd", "raftd"); /* nobody serves raftd */
	memset(&req, 0, sizeof(req));
	req.type = MSG_PING;
	t0 = ev_clock_ms();
	ck_assert_int_eq(ipc_call(c, &req, 150, on_reply, &g), 0);
	run_until(ev, &g.calls, 1, 5000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.st, IPC_TIMEOUT);
	ck_assert_uint_ge(ev_clock_ms() - t0, 150);
	ck_assert_uint_eq(ipc_client_counters(c)->timeouts, 1);
	ipc_client_free(c);
	ev_free(ev);
	drop_run_dir();
}
END_TEST

START_TEST(ipc_forbidden_sender_is_refused)
{
	struct ev *ev = ev_new();
	int served = 0;
	struct ipc_server *s;
	struct ipc_client *c, *stranger;
	struct got g, g2;
	struct msg req;

	make_run_dir();
	memset(&g, 0, sizeof(g));
	memset(&g2, 0, sizeof(g2));
	s = ipc_server_new(ev, run_dir, "raftd", answer, &served);
	/* CHILD_STATE may only come from musterd (msg.def). */
	c = ipc_client_new(ev, run_dir, "httpd", "raftd");
	memset(&req, 0, sizeof(req));
	req.type = MSG_CHILD_STATE;
	ck_assert_int_eq(ipc_call(c, &req, 300, on_reply, &g), 0);
	/* A routing id that is no daemon's name is refused too. */
	stranger = ipc_client_new(ev, run_dir, "mallory", "raftd");
	memset(&req, 0, sizeof(req));
	req.type = MSG_PING;
	ck_assert_int_eq(ipc_call(stranger, &req, 300, on_reply, &g2), 0);
	run_until(ev, &g.calls, 1, 5000);
	run_until(ev, &g2.calls, 1, 5000);
	ck_assert_int_eq(g.st, IPC_TIMEOUT);
	ck_assert_int_eq(g2.st, IPC_TIMEOUT);
	ck_assert_int_eq(served, 0);
	ck_assert_uint_eq(ipc_server_counters(s)->refused, 2);
	ipc_client_free(stranger);
	ipc_client_free(c);
	ipc_server_free(s);
	ev_free(ev);
	drop_run_dir();
}
END_TEST

/* Garbage, an empty frame and a multipart burst from a raw socket: each
 * counted as malformed, none reaching the handler, and the server goes on
 * answering (DEVELOPERS.md: a corrupt message never crashes a daemon). */
START_TEST(ipc_malformed_frames_are_counted_not_fatal)
{
	struct ev *ev = ev_new();
	int served = 0;
	struct ipc_server *s;
	struct ipc_client *c;
	void *raw;
	char ep[256];
	struct got g;
	struct msg req;
	static const uint8_t junk[] = {0xc1, 0xff, 0x00, 0x93};

	make_run_dir();
	memset(&g, 0, sizeof(g));
	s = ipc_server_new(ev, run_dir, "raftd", answer, &served);
	raw = zmq_socket(ipc_ctx(), ZMQ_DEALER);
	zmq_setsockopt(raw, ZMQ_ROUTING_ID, "httpd", 5);
	ck_assert_int_eq(ipc_endpoint(ep, sizeof(ep), run_dir, "raftd", "rpc"), 0);
	ck_assert_int_eq(zmq_connect(raw, ep), 0);
	ck_assert_int_eq(zmq_send(raw, junk, sizeof(junk), 0), (int)sizeof(junk));
	ck_assert_int_eq(zmq_send(raw, "", 0, 0), 0);
	ck_assert_int_eq(zmq_send(raw, "\x91", 1, ZMQ_SNDMORE), 1);
	ck_assert_int_eq(zmq_send(raw, "\x91", 1, 0), 1);
	{
		uint64_t end = ev_clock_ms() + 5000;

		while (ipc_server_counters(s)->malformed < 3 && ev_clock_ms() < end)
			ev_run_once(ev, 10);
	}
	ck_assert_uint_eq(ipc_server_counters(s)->malformed, 3);
	ck_assert_int_eq(served, 0);
	c = ipc_client_new(ev, run_dir, "httpd", "raftd");
	memset(&req, 0, sizeof(req));
	req.type = MSG_PING;
	req.u.ping.nonce = 9;
	ck_assert_int_eq(ipc_call(c, &req, 5000, on_reply, &g), 0);
	run_until(ev, &g.calls, 1, 5000);
	ck_assert_int_eq(g.st, IPC_OK);
	ck_assert_uint_eq(g.nonce, 9);
	zmq_close(raw);
	ipc_client_free(c);
	ipc_server_free(s);
	ev_free(ev);
	drop_run_dir();
}
END_TEST

START_TEST(ipc_cancel_on_free)
{
	struct ev *ev = ev_new();
	struct ipc_client *c;
	struct got g;
	struct msg req;

	make_run_dir();
	memset(&g, 0, sizeof(g));
	c = ipc_client_new(ev, run_dir, "httpd", "raftd");
	memset(&req, 0, sizeof(req));
	req.type = MSG_PING;
	ck_assert_int_eq(ipc_call(c, &req, 5000, on_reply, &g), 0);
	ipc_client_free(c);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.st, IPC_CANCELLED);
	/* Its deadline timer went with it. */
	ck_assert_uint_eq(ev_timer_count(ev), 0);
	ev_free(ev);
	drop_run_dir();
}
END_TEST

START_TEST(ipc_oversize_message_is_not_sent)
{
	struct ev *ev = ev_new();
	struct ipc_client *c;
	struct got g;
	struct msg req;
	char *big = malloc(IPC_MSG_SIZE_MAX + 16);

	make_run_dir();
	memset(&g, 0, sizeof(g));
	memset(big, 'a', IPC_MSG_SIZE_MAX + 15);
	big[IPC_MSG_SIZE_MAX + 15] = '\0';
	c = ipc_client_new(ev, run_dir, "httpd", "raftd");
	memset(&req, 0, sizeof(req));
	req.type = MSG_LOG_LEVEL;
	req.u.log_level.level = big;
	ck_assert_int_eq(ipc_call(c, &req, 5000, on_reply, &g), -1);
	ck_assert_int_eq(g.calls, 0);
	ck_assert_uint_eq(ipc_client_pending(c), 0);
	ipc_client_free(c);
	free(big);
	ev_free(ev);
	drop_run_dir();
}
END_TEST

struct events {
	int n;
	uint64_t epoch;
	enum msg_type type;
	char name[32];
};

static void on_event(struct ipc_sub *s, unsigned publisher, struct msg *m, void *arg)
{
	struct events *e = arg;

	(void)s;
	ck_assert_uint_eq(publisher, MSG_PEER_MUSTERD);
	e->n++;
	e->type = m->type;
	if (m->type == MSG_CHILD_STATE) {
		e->epoch = m->u.child_state.epoch;
		snprintf(e->name, sizeof(e->name), "%s", m->u.child_state.child.name);
	}
}

START_TEST(ipc_pub_sub_filters_by_type)
{
	struct ev *ev = ev_new();
	struct ipc_pub *p;
	struct ipc_sub *s;
	struct events e;
	uint64_t end;

	make_run_dir();
	memset(&e, 0, sizeof(e));
	p = ipc_pub_new(run_dir, "musterd");
	ck_assert_ptr_nonnull(p);
	s = ipc_sub_new(ev, run_dir, "musterd", on_event, &e);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(ipc_subscribe(s, MSG_CHILD_STATE), 0);
	/* ZeroMQ drops what is published before the subscription reaches
	 * the publisher (DESIGN.md §2), so publish until one arrives; the
	 * unsubscribed PING must never be delivered. */
	end = ev_clock_ms() + 5000;
	while (e.n == 0 && ev_clock_ms() < end) {
		struct msg m;

		memset(&m, 0, sizeof(m));
		m.type = MSG_PING;
		ipc_publish(p, &m);
		memset(&m, 0, sizeof(m));
		m.type = MSG_CHILD_STATE;
		m.u.child_state.epoch = 0xfeed;
		m.u.child_state.child.name = (char *)"raftd";
		m.u.child_state.child.state = (char *)"ready";
		ipc_publish(p, &m);
		ev_run_once(ev, 20);
	}
	ck_assert_int_ge(e.n, 1);
	ck_assert_int_eq(e.type, MSG_CHILD_STATE);
	ck_assert_uint_eq(e.epoch, 0xfeed);
	ck_assert_str_eq(e.name, "raftd");
	ipc_sub_free(s);
	ipc_pub_free(p);
	ev_free(ev);
	drop_run_dir();
}
END_TEST

START_TEST(ipc_endpoint_length_limit)
{
	char ep[512], dir[200];

	ck_assert_int_eq(ipc_endpoint(ep, sizeof(ep), "/run/muster", "healthd", "rpc"), 0);
	ck_assert_str_eq(ep, "ipc:///run/muster/healthd.rpc");
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	ck_assert_int_eq(ipc_endpoint(ep, sizeof(ep), dir, "healthd", "rpc"), -1);
	/* RUNDIR_PATH_MAX is the longest run_dir that still fits. */
	dir[RUNDIR_PATH_MAX] = '\0';
	ck_assert_int_eq(ipc_endpoint(ep, sizeof(ep), dir, "healthd", "rpc"), 0);
	dir[RUNDIR_PATH_MAX] = 'd';
	dir[RUNDIR_PATH_MAX + 1] = '\0';
	ck_assert_int_eq(ipc_endpoint(ep, sizeof(ep), dir, "healthd", "rpc"), -1);
}
END_TEST

START_TEST(ipc_call_sync_times_out_without_peer)
{
	struct msg req, reply;
	uint64_t t0 = ev_clock_ms();

	make_run_dir();
	memset(&req, 0, sizeof(req));
	req.type = MSG_STATUS;
	ck_assert_int_eq(ipc_call_sync(run_dir, "httpd", "raftd", &req, 100, &reply), IPC_TIMEOUT);
	ck_assert_uint_ge(ev_clock_ms() - t0, 100);
	drop_run_dir();
}
END_TEST

static Suite *ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, ipc_request_reply);
	tcase_add_test(tc, ipc_many_in_flight_are_matched);
	tcase_add_test(tc, ipc_deadline_when_peer_is_gone);
	tcase_add_test(tc, ipc_forbidden_sender_is_refused);
	tcase_add_test(tc, ipc_malformed_frames_are_counted_not_fatal);
	tcase_add_test(tc, ipc_cancel_on_free);
	tcase_add_test(tc, ipc_oversize_message_is_not_sent);
	tcase_add_test(tc, ipc_pub_sub_filters_by_type);
	tcase_add_test(tc, ipc_endpoint_length_limit);
	tcase_add_test(tc, ipc_call_sync_times_out_without_peer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(ipc_suite());
}

/* test_ev.c: the event loop: timers, fds, ZeroMQ sockets, signals, deletion during dispatch. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "ev.h"
#include "testutil.h"

struct order {
	int seen[16];
	int n;
};

static void record(struct ev *ev, void *arg)
{
	struct order *o = arg;

	(void)ev;
	o->seen[o->n] = o->n;
	o->n++;
}

struct tagged {
	struct order *o;
	int tag;
	uint64_t fired_ms;
	struct ev *ev;
};

static void record_tag(struct ev *ev, void *arg)
{
	struct tagged *t = arg;

	t->o->seen[t->o->n++] = t->tag;
	t->fired_ms = ev_clock_ms();
	if (t->o->n == 3)
		ev_stop(ev);
}

START_TEST(ev_timers_fire_in_deadline_order)
{
	struct ev *ev = ev_new();
	struct order o = {{0}, 0};
	struct tagged a = {&o, 1, 0, ev}, b = {&o, 2, 0, ev}, c = {&o, 3, 0, ev};
	uint64_t t0 = ev_clock_ms();

	ev_timer_add(ev, 60, record_tag, &c);
	ev_timer_add(ev, 20, record_tag, &a);
	ev_timer_add(ev, 40, record_tag, &b);
	ck_assert_int_eq(ev_run(ev), 0);
	ck_assert_int_eq(o.n, 3);
	ck_assert_int_eq(o.seen[0], 1);
	ck_assert_int_eq(o.seen[1], 2);
	ck_assert_int_eq(o.seen[2], 3);
	/* Never early: a timer fires at or after its deadline. */
	ck_assert_uint_ge(a.fired_ms - t0, 20);
	ck_assert_uint_ge(c.fired_ms - t0, 60);
	ev_free(ev);
}
END_TEST

static void stop_cb(struct ev *ev, void *arg)
{
	(void)arg;
	ev_stop(ev);
}

START_TEST(ev_timer_delete)
{
	struct ev *ev = ev_new();
	struct order o = {{0}, 0};
	uint64_t id;

	id = ev_timer_add(ev, 10, record, &o);
	ev_timer_add(ev, 30, stop_cb, NULL);
	ck_assert_uint_eq(ev_timer_count(ev), 2);
	ev_timer_del(ev, id);
	ev_timer_del(ev, 999999); /* unknown: no-op */
	ck_assert_uint_eq(ev_timer_count(ev), 1);
	ev_run(ev);
	ck_assert_int_eq(o.n, 0);
	ev_free(ev);
}
END_TEST

START_TEST(ev_equal_deadlines_keep_order)
{
	struct ev *ev = ev_new();
	struct order o = {{0}, 0};
	struct tagged t[3];

	for (int i = 0; i < 3; i++) {
		t[i] = (struct tagged){&o, 10 + i, 0, ev};
	}
	/* Added within the same millisecond more often than not; the
	 * sequence number orders them either way. */
	for (int i = 0; i < 3; i++)
		ev_timer_add(ev, 0, record_tag, &t[i]);
	ev_run(ev);
	ck_assert_int_eq(o.seen[0], 10);
	ck_assert_int_eq(o.seen[1], 11);
	ck_assert_int_eq(o.seen[2], 12);
	ev_free(ev);
}
END_TEST

static int burst_count;

static void burst_cb(struct ev *ev, void *arg)
{
	(void)ev;
	(void)arg;
	burst_count++;
}

START_TEST(ev_timer_burst_is_bounded_per_turn)
{
	struct ev *ev = ev_new();

	burst_count = 0;
	for (int i = 0; i < 3 * EV_TIMERS_PER_TURN; i++)
		ev_timer_add(ev, 0, burst_cb, NULL);
	usleep(2000);
	ev_run_once(ev, 0);
	ck_assert_int_eq(burst_count, EV_TIMERS_PER_TURN);
	ev_run_once(ev, 0);
	ev_run_once(ev, 0);
	ck_assert_int_eq(burst_count, 3 * EV_TIMERS_PER_TURN);
	ev_free(ev);
}
END_TEST

struct pipe_ctx {
	int fds[2];
	int reads;
	int watch;
	char got[16];
};

static void pipe_cb(struct ev *ev, int revents, void *arg)
{
	struct pipe_ctx *p = arg;
	ssize_t n;

	ck_assert(revents & EV_READ);
	n = read(p->fds[0], p->got, sizeof(p->got) - 1);
	ck_assert_int_gt(n, 0);
	p->got[n] = '\0';
	p->reads++;
	/* Deleting the watch being dispatched is allowed. */
	ev_del(ev, p->watch);
	ev_stop(ev);
}

START_TEST(ev_fd_readable)
{
	struct ev *ev = ev_new();
	struct pipe_ctx p;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(pipe(p.fds), 0);
	p.watch = ev_add_fd(ev, p.fds[0], EV_READ, pipe_cb, &p);
	ck_assert_int_gt(p.watch, 0);
	ck_assert_int_eq(write(p.fds[1], "hi", 2), 2);
	ev_run(ev);
	ck_assert_int_eq(p.reads, 1);
	ck_assert_str_eq(p.got, "hi");
	close(p.fds[0]);
	close(p.fds[1]);
	ev_free(ev);
}
END_TEST

struct z_ctx {
	void *pull;
	char got[16];
};

static void z_cb(struct ev *ev, int revents, void *arg)
{
	struct z_ctx *z = arg;
	int n;

	ck_assert(revents & EV_READ);
	n = zmq_recv(z->pull, z->got, sizeof(z->got) - 1, ZMQ_DONTWAIT);
	ck_assert_int_gt(n, 0);
	z->got[n] = '\0';
	ev_stop(ev);
}

START_TEST(ev_zmq_socket_readable)
{
	struct ev *ev = ev_new();
	void *ctx = zmq_ctx_new();
	void *push = zmq_socket(ctx, ZMQ_PUSH);
	struct z_ctx z;

	memset(&z, 0, sizeof(z));
	z.pull = zmq_socket(ctx, ZMQ_PULL);
	ck_assert_int_eq(zmq_bind(z.pull, "inproc://ev-test"), 0);
	ck_assert_int_eq(zmq_connect(push, "inproc://ev-test"), 0);
	ev_add_zsock(ev, z.pull, EV_READ, z_cb, &z);
	ev_timer_add(ev, 5000, stop_cb, NULL); /* a bound if nothing arrives */
	ck_assert_int_eq(zmq_send(push, "zmq!", 4, 0), 4);
	ev_run(ev);
	ck_assert_str_eq(z.got, "zmq!");
	zmq_close(push);
	zmq_close(z.pull);
	zmq_ctx_term(ctx);
	ev_free(ev);
}
END_TEST

static int sig_seen;

static void sig_cb(struct ev *ev, int signo, void *arg)
{
	(void)arg;
	sig_seen = signo;
	ev_stop(ev);
}

START_TEST(ev_signal_via_signalfd)
{
	struct ev *ev = ev_new();

	sig_seen = 0;
	ck_assert_int_eq(ev_signal(ev, SIGUSR1, sig_cb, NULL), 0);
	ev_timer_add(ev, 5000, stop_cb, NULL);
	kill(getpid(), SIGUSR1);
	ev_run(ev);
	ck_assert_int_eq(sig_seen, SIGUSR1);
	ev_free(ev);
}
END_TEST

struct del_ctx {
	int fds[2][2];
	int watch[2];
	int calls[2];
};

static void del_other_cb(struct ev *ev, int revents, void *arg);
static struct del_ctx *del_g;

static void del_other_cb(struct ev *ev, int revents, void *arg)
{
	int i = (int)(intptr_t)arg;
	char b[8];

	(void)revents;
	(void)!read(del_g->fds[i][0], b, sizeof(b));
	del_g->calls[i]++;
	/* The first to run deletes the other, also ready in this turn. */
	ev_del(ev, del_g->watch[1 - i]);
}

START_TEST(ev_delete_other_during_dispatch)
{
	struct ev *ev = ev_new();
	struct del_ctx d;

	memset(&d, 0, sizeof(d));
	del_g = &d;
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(pipe(d.fds[i]), 0);
		d.watch[i] = ev_add_fd(ev, d.fds[i][0], EV_READ, del_other_cb, (void *)(intptr_t)i);
		ck_assert_int_eq(write(d.fds[i][1], "x", 1), 1);
	}
	ev_run_once(ev, 100);
	ck_assert_int_eq(d.calls[0] + d.calls[1], 1);
	for (int i = 0; i < 2; i++) {
		close(d.fds[i][0]);
		close(d.fds[i][1]);
	}
	ev_free(ev);
}
END_TEST

static Suite *ev_suite(void)
{
	Suite *s = suite_create("ev");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, ev_timers_fire_in_deadline_order);
	tcase_add_test(tc, ev_timer_delete);
	tcase_add_test(tc, ev_equal_deadlines_keep_order);
	tcase_add_test(tc, ev_timer_burst_is_bounded_per_turn);
	tcase_add_test(tc, ev_fd_readable);
	tcase_add_test(tc, ev_zmq_socket_readable);
	tcase_add_test(tc, ev_signal_via_signalfd);
	tcase_add_test(tc, ev_delete_other_during_dispatch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(ev_suite());
}

/* ev.c: the one event loop of a daemon: ZeroMQ sockets, plain fds, monotonic timers, signals. */
#include "ev.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

struct ev_watch {
	int id;
	void *zsock;
	int fd;
	int events;
	ev_io_cb cb;
	void *arg;
	bool dead;
};

struct ev_timer {
	uint64_t id;
	uint64_t due_ms;
	uint64_t seq; /* equal deadlines fire in the order they were added */
	ev_timer_cb cb;
	void *arg;
};

struct ev_sig {
	int signo;
	ev_signal_cb cb;
	void *arg;
};

struct ev {
	struct ev_watch *w;
	size_t nw, w_size;
	int next_watch_id;
	zmq_pollitem_t *items;
	size_t items_size;
	int *item_watch; /* poll item index -> watch index */
	bool dispatching;

	/* A min-heap of timers by (due, seq); a deleted timer is found by a
	 * linear scan and removed, which is fine for the few hundred timers a
	 * daemon keeps (blocking queries keep theirs in their own wheel). */
	struct ev_timer *t;
	size_t nt, t_size;
	uint64_t next_timer_id;
	uint64_t seq;

	int sigfd;
	int sigfd_watch;
	sigset_t sigmask;
	struct ev_sig sigs[32];
	size_t nsigs;

	uint64_t now_ms;
	bool stopped;
};

uint64_t ev_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct ev *ev_new(void)
{
	struct ev *ev = calloc(1, sizeof(*ev));

	if (ev == NULL)
		return NULL;
	ev->next_watch_id = 1;
	ev->next_timer_id = 1;
	ev->sigfd = -1;
	ev->sigfd_watch = -1;
	sigemptyset(&ev->sigmask);
	ev->now_ms = ev_clock_ms();
	return ev;
}

void ev_free(struct ev *ev)
{
	if (ev == NULL)
		return;
	if (ev->sigfd >= 0)
		close(ev->sigfd);
	free(ev->w);
	free(ev->items);
	free(ev->item_watch);
	free(ev->t);
	free(ev);
}

static int ev_add(struct ev *ev, void *zsock, int fd, int events, ev_io_cb cb, void *arg)
{
	struct ev_watch *w;

	assert(cb != NULL);
	if (ev->nw >= EV_WATCH_MAX) {
		log_errorx("ev: watch limit %d reached", EV_WATCH_MAX);
		return -1;
	}
	if (ev->nw == ev->w_size) {
		size_t n = ev->w_size ? ev->w_size * 2 : 16;
		struct ev_watch *nw = realloc(ev->w, n * sizeof(*nw));

		if (nw == NULL)
			return -1;
		ev->w = nw;
		ev->w_size = n;
	}
	w = &ev->w[ev->nw++];
	memset(w, 0, sizeof(*w));
	w->id = ev->next_watch_id++;
	w->zsock = zsock;
	w->fd = fd;
	w->events = events;
	w->cb = cb;
	w->arg = arg;
	return w->id;
}

int ev_add_zsock(struct ev *ev, void *zsock, int events, ev_io_cb cb, void *arg)
{
	return ev_add(ev, zsock, -1, events, cb, arg);
}

int ev_add_fd(struct ev *ev, int fd, int events, ev_io_cb cb, void *arg)
{
	return ev_add(ev, NULL, fd, events, cb, arg);
}

static struct ev_watch *ev_find(struct ev *ev, int id)
{
	for (size_t i = 0; i < ev->nw; i++)
		if (ev->w[i].id == id && !ev->w[i].dead)
			return &ev->w[i];
	return NULL;
}

int ev_set_events(struct ev *ev, int id, int events)
{
	struct ev_watch *w = ev_find(ev, id);

	if (w == NULL)
		return -1;
	w->events = events;
	return 0;
}

/* Watches are only marked during dispatch and compacted after it, so a
 * callback may delete any watch, itself included. */
static void ev_compact(struct ev *ev)
{
	size_t j = 0;

	for (size_t i = 0; i < ev->nw; i++)
		if (!ev->w[i].dead)
			ev->w[j++] = ev->w[i];
	ev->nw = j;
}

void ev_del(struct ev *ev, int id)
{
	struct ev_watch *w = ev_find(ev, id);

	if (w == NULL)
		return;
	w->dead = true;
	if (!ev->dispatching)
		ev_compact(ev);
}

static bool ev_timer_less(const struct ev_timer *a, const struct ev_timer *b)
{
	return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void ev_heap_swap(struct ev *ev, size_t a, size_t b)
{
	struct ev_timer tmp = ev->t[a];

	ev->t[a] = ev->t[b];
	ev->t[b] = tmp;
}

static void ev_heap_up(struct ev *ev, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!ev_timer_less(&ev->t[i], &ev->t[p]))
			break;
		ev_heap_swap(ev, i, p);
		i = p;
	}
}

static void ev_heap_down(struct ev *ev, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < ev->nt && ev_timer_less(&ev->t[l], &ev->t[m]))
			m = l;
		if (r < ev->nt && ev_timer_less(&ev->t[r], &ev->t[m]))
			m = r;
		if (m == i)
			return;
		ev_heap_swap(ev, i, m);
		i = m;
	}
}

static void ev_heap_remove(struct ev *ev, size_t i)
{
	ev->nt--;
	if (i == ev->nt)
		return;
	ev->t[i] = ev->t[ev->nt];
	ev_heap_up(ev, i);
	ev_heap_down(ev, i);
}

uint64_t ev_timer_add(struct ev *ev, uint64_t delay_ms, ev_timer_cb cb, void *arg)
{
	struct ev_timer *t;

	assert(cb != NULL);
	if (ev->nt == ev->t_size) {
		size_t n = ev->t_size ? ev->t_size * 2 : 16;
		struct ev_timer *nt = realloc(ev->t, n * sizeof(*nt));

		if (nt == NULL)
			return 0;
		ev->t = nt;
		ev->t_size = n;
	}
	t = &ev->t[ev->nt++];
	t->id = ev->next_timer_id++;
	t->due_ms = ev_clock_ms() + delay_ms;
	t->seq = ev->seq++;
	t->cb = cb;
	t->arg = arg;
	ev_heap_up(ev, ev->nt - 1);
	return ev->next_timer_id - 1;
}

void ev_timer_del(struct ev *ev, uint64_t id)
{
	for (size_t i = 0; i < ev->nt; i++) {
		if (ev->t[i].id == id) {
			ev_heap_remove(ev, i);
			return;
		}
	}
}

size_t ev_timer_count(const struct ev *ev)
{
	return ev->nt;
}

static void ev_sigfd_cb(struct ev *ev, int revents, void *arg)
{
	struct signalfd_siginfo si;

	(void)revents;
	(void)arg;
	/* Bounded: at most one read per pending signal kind per turn. */
	for (int n = 0; n < 32; n++) {
		ssize_t r = read(ev->sigfd, &si, sizeof(si));

		if (r != (ssize_t)sizeof(si)) {
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				log_warn("ev: signalfd read");
			return;
		}
		for (size_t i = 0; i < ev->nsigs; i++)
			if (ev->sigs[i].signo == (int)si.ssi_signo)
				ev->sigs[i].cb(ev, (int)si.ssi_signo, ev->sigs[i].arg);
	}
}

int ev_signal(struct ev *ev, int signo, ev_signal_cb cb, void *arg)
{
	int fd;

	if (ev->nsigs == sizeof(ev->sigs) / sizeof(ev->sigs[0]))
		return -1;
	sigaddset(&ev->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &ev->sigmask, NULL) != 0)
		return -1;
	fd = signalfd(ev->sigfd, &ev->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		log_error("ev: signalfd");
		return -1;
	}
	if (ev->sigfd < 0) {
		ev->sigfd = fd;
		ev->sigfd_watch = ev_add_fd(ev, fd, EV_READ, ev_sigfd_cb, NULL);
		if (ev->sigfd_watch < 0)
			return -1;
	}
	ev->sigs[ev->nsigs++] = (struct ev_sig){signo, cb, arg};
	return 0;
}

void ev_signal_mask(const struct ev *ev, void *sigset_out)
{
	memcpy(sigset_out, &ev->sigmask, sizeof(sigset_t));
}

uint64_t ev_now_ms(const struct ev *ev)
{
	return ev->now_ms;
}

uint64_t ev_update_now(struct ev *ev)
{
	ev->now_ms = ev_clock_ms();
	return ev->now_ms;
}

void ev_stop(struct ev *ev)
{
	ev->stopped = true;
}

void ev_resume(struct ev *ev)
{
	ev->stopped = false;
}

static int ev_build_items(struct ev *ev)
{
	if (ev->items_size < ev->nw) {
		size_t n = ev->nw + 16;
		zmq_pollitem_t *it = realloc(ev->items, n * sizeof(*it));
		int *iw;

		if (it == NULL)
			return -1;
		ev->items = it;
		iw = realloc(ev->item_watch, n * sizeof(*iw));
		if (iw == NULL)
			return -1;
		ev->item_watch = iw;
		ev->items_size = n;
	}
	return 0;
}

static void ev_fire_timers(struct ev *ev)
{
	for (int n = 0; n < EV_TIMERS_PER_TURN && ev->nt > 0; n++) {
		struct ev_timer t = ev->t[0];

		if (t.due_ms > ev->now_ms)
			return;
		ev_heap_remove(ev, 0);
		t.cb(ev, t.arg);
		if (ev->stopped)
			return;
	}
}

int ev_run_once(struct ev *ev, int max_wait_ms)
{
	long timeout = max_wait_ms;
	size_t n = 0;
	int rc;

	if (ev_build_items(ev) != 0)
		return -1;
	for (size_t i = 0; i < ev->nw; i++) {
		struct ev_watch *w = &ev->w[i];

		if (w->events == 0)
			continue;
		ev->items[n].socket = w->zsock;
		ev->items[n].fd = w->fd;
		ev->items[n].events = (short)w->events;
		ev->items[n].revents = 0;
		ev->item_watch[n] = w->id;
		n++;
	}
	ev_update_now(ev);
	if (ev->nt > 0) {
		uint64_t due = ev->t[0].due_ms;
		long until = due > ev->now_ms ? (long)(due - ev->now_ms) : 0;

		if (timeout < 0 || until < timeout)
			timeout = until;
	}
	rc = zmq_poll(ev->items, (int)n, timeout);
	if (rc < 0 && errno != EINTR) {
		log_errorx("ev: zmq_poll: %s", zmq_strerror(errno));
		return -1;
	}
	ev_update_now(ev);
	ev_fire_timers(ev);
	if (rc <= 0 || ev->stopped)
		return 0;
	ev->dispatching = true;
	for (size_t i = 0; i < n && !ev->stopped; i++) {
		struct ev_watch *w;

		if (ev->items[i].revents == 0)
			continue;
		/* Looked up by id: an earlier callback this turn may have
		 * deleted it, or added watches that moved the array. */
		w = ev_find(ev, ev->item_watch[i]);
		if (w == NULL)
			continue;
		w->cb(ev, ev->items[i].revents, w->arg);
	}
	ev->dispatching = false;
	ev_compact(ev);
	return 0;
}

int ev_run(struct ev *ev)
{
	while (!ev->stopped)
		if (ev_run_once(ev, -1) != 0)
			return -1;
	return 0;
}

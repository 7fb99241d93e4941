/* ev.h: the one event loop of a daemon: ZeroMQ sockets, plain fds, monotonic timers, signals. */
#ifndef MUSTER_EV_H
#define MUSTER_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Readiness bits, the same values as ZMQ_POLLIN/ZMQ_POLLOUT/ZMQ_POLLERR. */
#define EV_READ  1
#define EV_WRITE 2
#define EV_ERROR 4

/* Limits per loop turn (CONVENTIONS habit 7): at most this many timers
 * fire in one turn, so a burst of expiries cannot starve the sockets;
 * socket callbacks are expected to bound their own reads likewise. */
#define EV_TIMERS_PER_TURN 64
#define EV_WATCH_MAX       1024

struct ev;

typedef void (*ev_io_cb)(struct ev *ev, int revents, void *arg);
typedef void (*ev_timer_cb)(struct ev *ev, void *arg);
typedef void (*ev_signal_cb)(struct ev *ev, int signo, void *arg);

struct ev *ev_new(void);
/* Closes the signalfd; watched sockets and fds stay the caller's. */
void ev_free(struct ev *ev);

/* Watch a ZeroMQ socket or a plain fd; returns a watch id (> 0) or -1. */
int ev_add_zsock(struct ev *ev, void *zsock, int events, ev_io_cb cb, void *arg);
int ev_add_fd(struct ev *ev, int fd, int events, ev_io_cb cb, void *arg);
int ev_set_events(struct ev *ev, int id, int events);
/* Safe from inside any callback, also for the watch being dispatched. */
void ev_del(struct ev *ev, int id);

/* One-shot timer after delay_ms on the monotonic clock; id > 0.
 * Deleting a fired or unknown id is a no-op. */
uint64_t ev_timer_add(struct ev *ev, uint64_t delay_ms, ev_timer_cb cb, void *arg);
void ev_timer_del(struct ev *ev, uint64_t id);
size_t ev_timer_count(const struct ev *ev);

/* Signals through a signalfd: the signal is blocked for the process and
 * read by the loop, so no handler runs in signal context (habit 5). */
int ev_signal(struct ev *ev, int signo, ev_signal_cb cb, void *arg);
/* The mask ev blocked; a forked child unblocks it before exec. */
void ev_signal_mask(const struct ev *ev, void *sigset_out);

/* Runs until ev_stop(); 0, or -1 on a poll failure other than EINTR. */
int ev_run(struct ev *ev);
/* One turn, waiting at most max_wait_ms (-1: until the next timer). */
int ev_run_once(struct ev *ev, int max_wait_ms);
void ev_stop(struct ev *ev);
/* Undoes ev_stop, so ev_run_once dispatches again: a daemon that finishes
 * what is on its way before it exits (httpd's stop). */
void ev_resume(struct ev *ev);

/* Monotonic milliseconds, cached at the start of each turn. */
uint64_t ev_now_ms(const struct ev *ev);
uint64_t ev_update_now(struct ev *ev);
uint64_t ev_clock_ms(void);

#endif

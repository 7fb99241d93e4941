/* lifeline.h: the child side of the supervisor link (a socketpair on fd 3). */
#ifndef MUSTER_LIFELINE_H
#define MUSTER_LIFELINE_H

#include <stdbool.h>

struct ev;

/* musterd passes the link as fd LIFELINE_FD and names that fd in the
 * environment, so a daemon started by hand (no variable) runs alone. */
#define LIFELINE_FD    3
#define LIFELINE_ENV   "MUSTER_LIFELINE"
#define LIFELINE_READY "ready\n"

/* Takes the link if there is one: marks it close-on-exec (check scripts
 * must not inherit it) and watches it; when the supervisor is gone (EOF,
 * also after a SIGKILL of musterd: the kernel closes its end) gone() runs.
 * Returns 1 when attached, 0 when running without a supervisor, -1 on
 * error. */
int lifeline_attach(struct ev *ev, void (*gone)(struct ev *ev, void *arg), void *arg);
/* Tells the supervisor this daemon can serve (CONVENTIONS habit 8). */
int lifeline_ready(void);
bool lifeline_is_attached(void);
void lifeline_detach(struct ev *ev);

#endif

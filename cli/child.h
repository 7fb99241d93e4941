/* child.h: the child process of `lock` and `watch` (Consul's ExecScript / ExecSubprocess), and the signals that stop them. */
#ifndef MUSTER_CHILD_H
#define MUSTER_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* How long a child has between SIGTERM and SIGKILL when the lock is lost
 * (Consul's lockKillGracePeriod, from the default 15 s lock-delay). */
#define CHILD_KILL_GRACE_MS 5000

struct child {
	pid_t pid;  /* 0: none running */
	int status; /* waitpid's, once reaped */
	bool reaped;
};

/* SIGINT, SIGTERM and SIGHUP set the stop flag and SIGCHLD the child flag;
 * nothing else happens in the handlers. SIGPIPE is ignored (a child that
 * does not read its stdin). */
void child_signals_init(void);
bool child_stop_requested(void);
/* True once a SIGCHLD came since the last child_poll. */
bool child_signalled(void);

/* Starts argv[0..argc) as Consul does: with shell, `$SHELL -c "<args
 * joined by spaces>"` (/bin/sh when SHELL is unset), else exec'd
 * directly. extra_env (NULL-terminated, may be NULL) is added to the
 * environment; stdin_fd becomes its stdin (-1: /dev/null). 0, or -1 with
 * the reason printed. */
int child_start(struct child *ch, char **argv, int argc, bool shell, int stdin_fd,
                const char *const *extra_env);
/* Reaps the child if it exited: true when it has. */
bool child_poll(struct child *ch);
/* Waits for it (interruptible by the stop flag when stoppable): true when reaped. */
bool child_wait(struct child *ch, bool stoppable);
/* SIGTERM, up to grace_ms for it to exit, then SIGKILL (Consul's killChild). */
void child_kill(struct child *ch, int grace_ms, bool verbose);
/* True when it exited with status 0. */
bool child_succeeded(const struct child *ch);
/* "exit status 3" / "signal: killed", as Go's ExitError prints. */
void child_describe(const struct child *ch, char *out, size_t size);

/* Sleeps ms, in steps, returning early (false) on a stop request. */
bool child_sleep_ms(long ms);

#endif

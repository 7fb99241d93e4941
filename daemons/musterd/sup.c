/* sup.c: spawning, reaping, back-off and ordered stop of the five daemons (model: s6-supervise). */
#include "musterd.h"
#include "ev.h"
#include "lifeline.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Start order; the stop order is its reverse in phases: the daemons that
 * face clients go first, raftd, which holds the state, last (DESIGN.md §4
 * "Leave"). */
static const char *const sup_names[SUP_CHILDREN] = {"raftd", "gossipd", "healthd", "dnsd", "httpd"};
static const char *const sup_stop_phases[][3] = {
    {"httpd", "dnsd", NULL},
    {"healthd", NULL},
    {"gossipd", NULL},
    {"raftd", NULL},
};
#define SUP_PHASES ((int)(sizeof(sup_stop_phases) / sizeof(sup_stop_phases[0])))

static void sup_spawn(struct musterd *m, struct child *c);
static void sup_crashed(struct musterd *m, struct child *c, uint64_t now);
static void sup_next_phase(struct musterd *m);

const char *sup_state_name(enum child_state s)
{
	switch (s) {
	case CHILD_STOPPED:
		return "stopped";
	case CHILD_STARTING:
		return "starting";
	case CHILD_READY:
		return "ready";
	case CHILD_BACKOFF:
		return "backoff";
	case CHILD_STOPPING:
		return "stopping";
	case CHILD_FAILED:
		return "failed";
	}
	return "unknown";
}

bool sup_is_running(const struct child *c)
{
	return c->pid > 0;
}

void sup_child_status(struct musterd *m, const struct child *c, struct msg_child_status *out)
{
	uint64_t now = ev_now_ms(m->ev);

	memset(out, 0, sizeof(*out));
	out->name = (char *)c->name;
	out->pid = c->pid > 0 ? (uint64_t)c->pid : 0;
	out->state = (char *)sup_state_name(c->state);
	out->ready = c->state == CHILD_READY;
	out->restarts = c->restarts;
	out->uptime_ms = c->pid > 0 ? now - c->spawn_ms : 0;
	out->last_exit = c->last_exit[0] ? (char *)c->last_exit : NULL;
}

static void sup_publish(struct musterd *m, struct child *c)
{
	struct msg ev;

	if (m->pub == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = MSG_CHILD_STATE;
	ev.u.child_state.epoch = m->epoch;
	sup_child_status(m, c, &ev.u.child_state.child);
	ipc_publish(m->pub, &ev);
}

static void sup_set_state(struct musterd *m, struct child *c, enum child_state s)
{
	if (c->state == s)
		return;
	log_debug("%s: %s -> %s", c->name, sup_state_name(c->state), sup_state_name(s));
	c->state = s;
	sup_publish(m, c);
}

void sup_init(struct musterd *m)
{
	for (int i = 0; i < SUP_CHILDREN; i++) {
		struct child *c = &m->children[i];

		memset(c, 0, sizeof(*c));
		c->m = m;
		c->name = sup_names[i];
		c->lifeline_fd = -1;
		c->lifeline_watch = -1;
		c->backoff_ms = m->conf.supervisor.restart_backoff_min_ms;
		snprintf(c->path, sizeof(c->path), "%s/%s", m->libexec_dir, c->name);
		c->bus = ipc_client_new(m->ev, m->run_dir, "musterd", c->name);
	}
}

struct child *sup_find(struct musterd *m, const char *name)
{
	for (int i = 0; i < SUP_CHILDREN; i++)
		if (strcmp(m->children[i].name, name) == 0)
			return &m->children[i];
	return NULL;
}

static void sup_check_all_ready(struct musterd *m)
{
	int ready = 0, wanted = 0;

	for (int i = 0; i < SUP_CHILDREN; i++) {
		if (!m->children[i].want_up)
			continue;
		wanted++;
		if (m->children[i].state == CHILD_READY)
			ready++;
	}
	if (ready == wanted && wanted > 0 && !m->shutting_down) {
		if (!m->all_ready_once) {
			m->all_ready_once = true;
			log_info("all %d daemons ready", ready);
			musterd_notify(m, "READY=1\nSTATUS=all %d daemons ready", ready);
		} else {
			musterd_notify(m, "STATUS=all %d daemons ready", ready);
		}
	}
}

static void sup_lifeline_read(struct ev *ev, int revents, void *arg)
{
	struct child *c = arg;
	struct musterd *m = c->m;
	char b[64];
	ssize_t n;

	(void)revents;
	n = recv(c->lifeline_fd, b, sizeof(b) - 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF: the child is exiting; SIGCHLD does the rest. */
		ev_del(ev, c->lifeline_watch);
		c->lifeline_watch = -1;
		return;
	}
	b[n] = '\0';
	if (strcmp(b, LIFELINE_READY) != 0) {
		log_warnx("%s: unexpected lifeline message (%zd bytes)", c->name, n);
		return;
	}
	if (c->state != CHILD_STARTING)
		return;
	if (c->ready_timer != 0) {
		ev_timer_del(ev, c->ready_timer);
		c->ready_timer = 0;
	}
	c->ready_ms = ev_now_ms(ev);
	log_info("%s: ready (pid %d, %llu ms after spawn)", c->name, (int)c->pid,
	         (unsigned long long)(c->ready_ms - c->spawn_ms));
	sup_set_state(m, c, CHILD_READY);
	bus_child_ready(m, c);
	sup_check_all_ready(m);
}

static void sup_ready_timeout(struct ev *ev, void *arg)
{
	struct child *c = arg;

	(void)ev;
	c->ready_timer = 0;
	if (c->state != CHILD_STARTING || c->pid <= 0)
		return;
	log_errorx("%s: not ready %llu ms after spawn, killing pid %d", c->name,
	           (unsigned long long)c->m->conf.supervisor.ready_timeout_ms, (int)c->pid);
	kill(c->pid, SIGKILL);
}

static void sup_restart_timer(struct ev *ev, void *arg)
{
	struct child *c = arg;

	(void)ev;
	c->restart_timer = 0;
	if (c->state == CHILD_BACKOFF && c->want_up && !c->m->shutting_down)
		sup_spawn(c->m, c);
}

/* Builds "NAME=value" for the child's environment. */
static char *sup_env(const char *name, const char *value)
{
	char *s;

	if (asprintf(&s, "%s=%s", name, value) < 0)
		return NULL;
	return s;
}

static void sup_spawn(struct musterd *m, struct child *c)
{
	char *argv[4], **envp = NULL, *env_run = NULL, *env_life = NULL;
	size_t nenv = 0, i = 0;
	int sv[2];
	pid_t pid;

	for (char **e = environ; *e != NULL; e++)
		nenv++;
	/* Everything the child needs is built before fork(): musterd has
	 * ZeroMQ's threads, so the forked child may only call
	 * async-signal-safe functions until it execs. */
	env_run = sup_env(RUNDIR_ENV, m->run_dir);
	env_life = sup_env(LIFELINE_ENV, "3");
	envp = calloc(nenv + 3, sizeof(char *));
	if (envp == NULL || env_run == NULL || env_life == NULL)
		goto fail;
	for (char **e = environ; *e != NULL; e++) {
		/* The daemons must not talk to systemd themselves: musterd
		 * reports for all of them. */
		if (strncmp(*e, "NOTIFY_SOCKET=", 14) == 0 ||
		    strncmp(*e, RUNDIR_ENV "=", strlen(RUNDIR_ENV) + 1) == 0 ||
		    strncmp(*e, LIFELINE_ENV "=", strlen(LIFELINE_ENV) + 1) == 0)
			continue;
		envp[i++] = *e;
	}
	envp[i++] = env_run;
	envp[i++] = env_life;
	envp[i] = NULL;
	argv[0] = (char *)c->name;
	argv[1] = (char *)"-config-file";
	argv[2] = m->config_path;
	argv[3] = NULL;

	/* SEQPACKET keeps "ready\n" one message; CLOEXEC keeps the link
	 * out of every other child. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		log_error("%s: socketpair", c->name);
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		log_error("%s: fork", c->name);
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Its own process group: a Ctrl-C on musterd's terminal must
		 * reach musterd only, which then stops the children in order. */
		setpgid(0, 0);
		/* A second line of defence beside the lifeline: if musterd dies
		 * while the child is stuck and not reading it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (sv[1] == LIFELINE_FD) {
			fcntl(LIFELINE_FD, F_SETFD, 0);
		} else if (dup2(sv[1], LIFELINE_FD) < 0) {
			_exit(126);
		}
		execve(c->path, argv, envp);
		_exit(127);
	}
	close(sv[1]);
	free(env_run);
	free(env_life);
	free(envp);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	c->pid = pid;
	c->lifeline_fd = sv[0];
	c->lifeline_watch = ev_add_fd(m->ev, sv[0], EV_READ, sup_lifeline_read, c);
	c->spawn_ms = ev_update_now(m->ev);
	c->ready_ms = 0;
	c->ready_timer =
	    ev_timer_add(m->ev, m->conf.supervisor.ready_timeout_ms, sup_ready_timeout, c);
	log_info("%s: started, pid %d", c->name, (int)pid);
	sup_set_state(m, c, CHILD_STARTING);
	return;
fail:
	free(env_run);
	free(env_life);
	free(envp);
	/* No process to reap: count it as a death here, so that a lasting
	 * failure (no memory, no fds) ends in "failed" too. */
	snprintf(c->last_exit, sizeof(c->last_exit), "spawn failed");
	c->spawn_ms = ev_update_now(m->ev);
	sup_crashed(m, c, c->spawn_ms);
}

void sup_start_all(struct musterd *m)
{
	for (int i = 0; i < SUP_CHILDREN; i++) {
		m->children[i].want_up = true;
		sup_spawn(m, &m->children[i]);
	}
}

/* By hand (ctl `start`): also revives a failed child, with a clean slate. */
int sup_start(struct musterd *m, struct child *c)
{
	if (m->shutting_down)
		return -1;
	c->want_up = true;
	if (sup_is_running(c))
		return 0;
	if (c->restart_timer != 0) {
		ev_timer_del(m->ev, c->restart_timer);
		c->restart_timer = 0;
	}
	c->ndeaths = 0;
	c->backoff_ms = m->conf.supervisor.restart_backoff_min_ms;
	sup_spawn(m, c);
	return 0;
}

static void sup_kill_timeout(struct ev *ev, void *arg)
{
	struct child *c = arg;

	(void)ev;
	c->kill_timer = 0;
	if (c->pid > 0) {
		log_warnx("%s: still running %llu ms after SIGTERM, sending SIGKILL", c->name,
		          (unsigned long long)c->m->conf.supervisor.stop_timeout_ms);
		kill(c->pid, SIGKILL);
	}
}

static void sup_term(struct musterd *m, struct child *c)
{
	if (c->pid <= 0)
		return;
	if (c->state != CHILD_STOPPING) {
		kill(c->pid, SIGTERM);
		sup_set_state(m, c, CHILD_STOPPING);
	}
	if (c->kill_timer == 0)
		c->kill_timer =
		    ev_timer_add(m->ev, m->conf.supervisor.stop_timeout_ms, sup_kill_timeout, c);
}

int sup_stop(struct musterd *m, struct child *c)
{
	c->want_up = false;
	c->restart_now = false;
	if (c->restart_timer != 0) {
		ev_timer_del(m->ev, c->restart_timer);
		c->restart_timer = 0;
	}
	if (sup_is_running(c))
		sup_term(m, c);
	else
		sup_set_state(m, c, CHILD_STOPPED);
	return 0;
}

int sup_restart(struct musterd *m, struct child *c)
{
	if (m->shutting_down)
		return -1;
	if (!sup_is_running(c))
		return sup_start(m, c);
	c->want_up = true;
	c->restart_now = true;
	sup_term(m, c);
	return 0;
}

static void sup_exit_text(int status, char *out, size_t size)
{
	if (WIFEXITED(status))
		snprintf(out, size, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, size, "signal %d", WTERMSIG(status));
	else
		snprintf(out, size, "status %d", status);
}

/* Deaths within the window, counting this one (K deaths in W seconds). */
static size_t sup_recent_deaths(struct musterd *m, struct child *c, uint64_t now)
{
	size_t n = 0;

	c->deaths[c->death_pos] = now;
	c->death_pos = (c->death_pos + 1) % SUP_DEATHS_MAX;
	if (c->ndeaths < SUP_DEATHS_MAX)
		c->ndeaths++;
	for (size_t i = 0; i < c->ndeaths; i++)
		if (now - c->deaths[i] <= m->conf.supervisor.restart_window_ms)
			n++;
	return n;
}

/* A child died unasked (or could not be spawned): restart it after its
 * back-off, or mark it failed after K deaths in W seconds. */
static void sup_crashed(struct musterd *m, struct child *c, uint64_t now)
{
	uint64_t delay, next;
	size_t deaths = sup_recent_deaths(m, c, now);

	if (deaths >= (size_t)m->conf.supervisor.restart_max_deaths) {
		log_errorx("%s: died %zu times in %llu ms (%s): failed, not restarting until "
		           "started by hand (muster ctl start %s)",
		           c->name, deaths,
		           (unsigned long long)m->conf.supervisor.restart_window_ms, c->last_exit,
		           c->name);
		sup_set_state(m, c, CHILD_FAILED);
		musterd_notify(m, "STATUS=%s failed", c->name);
		return;
	}
	/* At least backoff between two spawns: a child that ran longer than
	 * that comes back at once. */
	next = c->spawn_ms + c->backoff_ms;
	delay = next > now ? next - now : 0;
	log_warnx("%s: died (%s), restarting in %llu ms", c->name, c->last_exit,
	          (unsigned long long)delay);
	c->backoff_ms *= 2;
	if (c->backoff_ms > m->conf.supervisor.restart_backoff_max_ms)
		c->backoff_ms = m->conf.supervisor.restart_backoff_max_ms;
	c->restarts++;
	sup_set_state(m, c, CHILD_BACKOFF);
	musterd_notify(m, "STATUS=%s restarting", c->name);
	if (delay == 0)
		sup_spawn(m, c);
	else
		c->restart_timer = ev_timer_add(m->ev, delay, sup_restart_timer, c);
}

static void sup_died(struct musterd *m, struct child *c, int status)
{
	uint64_t now = ev_update_now(m->ev);
	bool was_ready = c->state == CHILD_READY;

	sup_exit_text(status, c->last_exit, sizeof(c->last_exit));
	if (c->lifeline_watch >= 0)
		ev_del(m->ev, c->lifeline_watch);
	if (c->lifeline_fd >= 0)
		close(c->lifeline_fd);
	c->lifeline_fd = -1;
	c->lifeline_watch = -1;
	if (c->ready_timer != 0)
		ev_timer_del(m->ev, c->ready_timer);
	if (c->kill_timer != 0)
		ev_timer_del(m->ev, c->kill_timer);
	c->ready_timer = c->kill_timer = 0;
	c->pid = 0;

	if (m->shutting_down || !c->want_up) {
		log_info("%s: stopped (%s)", c->name, c->last_exit);
		sup_set_state(m, c, CHILD_STOPPED);
		if (m->shutting_down)
			sup_next_phase(m);
		return;
	}
	if (c->restart_now) {
		c->restart_now = false;
		log_info("%s: restarting by request (%s)", c->name, c->last_exit);
		c->restarts++;
		sup_spawn(m, c);
		return;
	}
	/* Ready long enough resets the back-off (s6: the service was
	 * healthy); otherwise it keeps doubling up to its cap. */
	if (was_ready && now - c->ready_ms >= m->conf.supervisor.restart_reset_after_ms)
		c->backoff_ms = m->conf.supervisor.restart_backoff_min_ms;
	sup_crashed(m, c, now);
}

void sup_reap(struct musterd *m)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		bool found = false;

		if (pid <= 0)
			return;
		for (int i = 0; i < SUP_CHILDREN; i++) {
			if (m->children[i].pid == pid) {
				sup_died(m, &m->children[i], status);
				found = true;
				break;
			}
		}
		if (!found)
			log_debug("reaped unknown pid %d", (int)pid);
	}
}

static void sup_stop_deadline(struct ev *ev, void *arg)
{
	struct musterd *m = arg;

	(void)ev;
	m->stop_timer = 0;
	for (int i = 0; i < SUP_CHILDREN; i++) {
		struct child *c = &m->children[i];

		if (c->pid > 0) {
			log_warnx("%s: not stopped within %llu ms, sending SIGKILL", c->name,
			          (unsigned long long)m->conf.supervisor.stop_timeout_ms);
			kill(c->pid, SIGKILL);
		}
	}
}

/* Moves through the stop phases: each phase's children get SIGTERM and
 * the next phase starts when they are all gone. One deadline covers the
 * whole stop; past it everything left is killed. */
static void sup_next_phase(struct musterd *m)
{
	while (m->stop_phase < SUP_PHASES) {
		bool waiting = false;

		for (int j = 0; sup_stop_phases[m->stop_phase][j] != NULL; j++) {
			struct child *c = sup_find(m, sup_stop_phases[m->stop_phase][j]);

			if (c->pid > 0) {
				waiting = true;
				if (c->state != CHILD_STOPPING) {
					kill(c->pid, SIGTERM);
					sup_set_state(m, c, CHILD_STOPPING);
				}
			}
		}
		if (waiting)
			return;
		m->stop_phase++;
	}
	if (m->stop_timer != 0) {
		ev_timer_del(m->ev, m->stop_timer);
		m->stop_timer = 0;
	}
	log_info("all daemons stopped");
	ev_stop(m->ev);
}

void sup_shutdown(struct musterd *m, const char *why)
{
	if (m->shutting_down)
		return;
	m->shutting_down = true;
	log_info("shutting down: %s", why);
	musterd_notify(m, "STOPPING=1\nSTATUS=shutting down");
	for (int i = 0; i < SUP_CHILDREN; i++) {
		struct child *c = &m->children[i];

		c->want_up = false;
		if (c->restart_timer != 0) {
			ev_timer_del(m->ev, c->restart_timer);
			c->restart_timer = 0;
		}
		if (c->kill_timer != 0) {
			ev_timer_del(m->ev, c->kill_timer);
			c->kill_timer = 0;
		}
		if (c->pid <= 0 && c->state != CHILD_FAILED)
			sup_set_state(m, c, CHILD_STOPPED);
	}
	m->stop_phase = 0;
	m->stop_timer =
	    ev_timer_add(m->ev, m->conf.supervisor.stop_timeout_ms, sup_stop_deadline, m);
	sup_next_phase(m);
}

/* probe_script.c: the script check (Consul's CheckMonitor with ScriptArgs): a process group of
 * its own, one output pipe read without blocking, SIGKILL to the group on timeout, reaped
 * through a pidfd. */
#include "probe_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ev.h"
#include "gofmt.h"
#include "log.h"

extern char **environ;

#define SCRIPT_READ_MAX    65536 /* bytes read per wake-up (habit 7: bounded work per turn) */
#define SCRIPT_DRAIN_MAX   (1u << 20) /* bytes read after the exit, from what is still queued */
#define SCRIPT_POLL_MS     20    /* waitpid polling when the kernel has no pidfd_open */

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* ---- output: the last output_max bytes (armon/circbuf, as Consul) ---- */

static void ring_put(struct probe *p, const char *b, size_t n)
{
	size_t cap = p->output_max;

	p->total += n;
	if (n >= cap) { /* only the tail fits */
		memcpy(p->ring, b + n - cap, cap);
		p->ring_pos = 0;
		p->ring_len = cap;
		return;
	}
	size_t first = cap - p->ring_pos < n ? cap - p->ring_pos : n;
	memcpy(p->ring + p->ring_pos, b, first);
	memcpy(p->ring, b + first, n - first);
	p->ring_pos = (p->ring_pos + n) % cap;
	p->ring_len = p->ring_len + n > cap ? cap : p->ring_len + n;
}

/* The kept bytes in order, with Consul's "Captured <n> of <total> bytes\n...\n" when cut. */
static char *ring_text(struct probe *p, size_t *len)
{
	char head[96];
	int hl = 0;

	if (p->total > p->ring_len)
		hl = snprintf(head, sizeof(head), "Captured %zu of %llu bytes\n...\n", p->ring_len,
		              (unsigned long long)p->total);
	char *out = malloc((size_t)hl + p->ring_len + 1);
	if (!out) {
		*len = 0;
		return NULL;
	}
	memcpy(out, head, (size_t)hl);
	size_t start = p->ring_len < p->output_max ? 0 : p->ring_pos;
	size_t tail = p->ring_len - start;
	memcpy(out + hl, p->ring + start, tail);
	memcpy(out + hl + tail, p->ring, start);
	*len = (size_t)hl + p->ring_len;
	out[*len] = '\0';
	return out;
}

/* Reads what the pipe holds, up to max bytes; closes it at EOF. */
static void script_read(struct probe *p, size_t max)
{
	char buf[4096];
	size_t got = 0;

	while (p->outfd >= 0 && got < max) {
		ssize_t r = read(p->outfd, buf, sizeof(buf));
		if (r > 0) {
			ring_put(p, buf, (size_t)r);
			got += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		/* EOF or an error: nothing more will come */
		ev_del(p->c->ev, p->outwatch);
		p->outwatch = -1;
		close(p->outfd);
		p->outfd = -1;
	}
}

static void script_on_output(struct ev *ev, int revents, void *arg)
{
	(void)ev;
	(void)revents;
	script_read(arg, SCRIPT_READ_MAX);
}

/* Frees the fds, watches and timer (the process is reaped or handed to a zombie record). */
static void script_release(struct probe *p)
{
	struct ev *ev = p->c->ev;

	if (p->outwatch >= 0)
		ev_del(ev, p->outwatch);
	if (p->outfd >= 0)
		close(p->outfd);
	if (p->pidwatch >= 0)
		ev_del(ev, p->pidwatch);
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->timer)
		ev_timer_del(ev, p->timer);
	p->outwatch = p->outfd = p->pidwatch = p->pidfd = -1;
	p->timer = 0;
}

/* The result, once the process is gone (or the kill guard gave up waiting). */
static void script_done(struct probe *p)
{
	size_t olen;
	char *out;

	script_read(p, SCRIPT_DRAIN_MAX);
	script_release(p);
	out = ring_text(p, &olen);
	if (p->timed_out) {
		char dur[GOFMT_DUR_STR_MAX], head[96];
		gofmt_dur_format_ns((int64_t)p->timeout_ms * 1000000, dur);
		int hl = snprintf(head, sizeof(head), "Timed out (%s) running check", dur);
		size_t tl = (size_t)hl + (olen ? 2 + olen : 0);
		char *t = malloc(tl + 1);
		if (t) {
			memcpy(t, head, (size_t)hl);
			if (olen) {
				memcpy(t + hl, "\n\n", 2);
				memcpy(t + hl + 2, out, olen);
			}
			probe_finish(p, PROBE_CRITICAL, t, tl);
			free(t);
		} else {
			probe_finish(p, PROBE_CRITICAL, head, (size_t)hl);
		}
		free(out);
		return;
	}
	enum probe_status st = PROBE_CRITICAL;
	if (WIFEXITED(p->wstatus) && WEXITSTATUS(p->wstatus) == 0)
		st = PROBE_PASSING;
	else if (WIFEXITED(p->wstatus) && WEXITSTATUS(p->wstatus) == 1)
		st = PROBE_WARNING;
	probe_finish(p, st, out ? out : "", out ? olen : 0);
	free(out);
}

static bool script_reap(struct probe *p)
{
	int status;
	pid_t r;

	do
		r = waitpid(p->pid, &status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == p->pid || (r < 0 && errno == ECHILD)) {
		p->exited = true;
		p->wstatus = r == p->pid ? status : 0;
		p->pid = 0;
		return true;
	}
	return false;
}

static void script_on_exit(struct ev *ev, int revents, void *arg)
{
	struct probe *p = arg;

	(void)ev;
	(void)revents;
	if (script_reap(p))
		script_done(p);
}

static void script_on_poll(struct ev *ev, void *arg);

static void script_arm_poll(struct probe *p, uint64_t ms)
{
	/* The kind's one timer does double duty without a pidfd: the timeout is checked here. */
	p->timer = ev_timer_add(p->c->ev, ms, script_on_poll, p);
}

static void script_kill(struct probe *p)
{
	if (p->pid > 0) {
		/* The whole group: what the script started goes too (exec.KillCommandSubtree). */
		if (kill(-p->pid, SIGKILL) != 0)
			kill(p->pid, SIGKILL);
	}
}

static void script_on_guard(struct ev *ev, void *arg);

static void script_on_timeout(struct ev *ev, void *arg)
{
	struct probe *p = arg;

	p->timer = 0;
	p->timed_out = true;
	p->c->stats.timeouts++;
	script_kill(p);
	if (script_reap(p)) {
		script_done(p);
		return;
	}
	p->timer = ev_timer_add(ev, p->pidfd >= 0 ? PROBE_KILL_GUARD_MS : SCRIPT_POLL_MS,
	                        p->pidfd >= 0 ? script_on_guard : script_on_poll, p);
}

/* ---- zombie records: killed processes that outlived the guard ---- */

static void zombie_free(struct probe_zombie *z)
{
	struct probe_ctx *c = z->c;
	struct probe_zombie **pp = &c->zombies;

	while (*pp && *pp != z)
		pp = &(*pp)->next;
	if (*pp)
		*pp = z->next;
	c->nzombies--;
	if (z->watch >= 0)
		ev_del(c->ev, z->watch);
	if (z->pidfd >= 0)
		close(z->pidfd);
	if (z->timer)
		ev_timer_del(c->ev, z->timer);
	free(z);
}

static bool zombie_reap(struct probe_zombie *z)
{
	pid_t r = waitpid(z->pid, NULL, WNOHANG);

	return r == z->pid || (r < 0 && errno == ECHILD);
}

static void zombie_on_exit(struct ev *ev, int revents, void *arg)
{
	(void)ev;
	(void)revents;
	if (zombie_reap(arg))
		zombie_free(arg);
}

static void zombie_on_poll(struct ev *ev, void *arg)
{
	struct probe_zombie *z = arg;

	z->timer = 0;
	if (zombie_reap(z))
		zombie_free(z);
	else
		z->timer = ev_timer_add(ev, 1000, zombie_on_poll, z);
}

/* Hands p's killed, unreaped process to a zombie record, so p can report and go. */
static void script_detach(struct probe *p, bool late)
{
	struct probe_ctx *c = p->c;
	struct probe_zombie *z = calloc(1, sizeof(*z));

	if (p->pid <= 0)
		return;
	if (!z) {
		log_warnx("probe: script pid %d: out of memory, left unreaped", (int)p->pid);
		return;
	}
	z->c = c;
	z->pid = p->pid;
	z->pidfd = -1;
	z->watch = -1;
	if (p->pidfd >= 0) {
		if (p->pidwatch >= 0)
			ev_del(c->ev, p->pidwatch);
		p->pidwatch = -1;
		z->pidfd = p->pidfd;
		p->pidfd = -1;
		z->watch = ev_add_fd(c->ev, z->pidfd, EV_READ, zombie_on_exit, z);
	}
	if (z->watch < 0)
		z->timer = ev_timer_add(c->ev, 1000, zombie_on_poll, z);
	z->next = c->zombies;
	c->zombies = z;
	c->nzombies++;
	p->pid = 0;
	if (late)
		log_warnx("probe: script pid %d did not go within %d ms of SIGKILL", (int)z->pid,
		          PROBE_KILL_GUARD_MS);
}

static void script_on_guard(struct ev *ev, void *arg)
{
	struct probe *p = arg;

	(void)ev;
	p->timer = 0;
	if (script_reap(p)) {
		script_done(p);
		return;
	}
	script_detach(p, true);
	script_done(p);
}

static void script_on_poll(struct ev *ev, void *arg)
{
	struct probe *p = arg;

	p->timer = 0;
	if (script_reap(p)) {
		script_done(p);
		return;
	}
	uint64_t now = ev_now_ms(ev);
	if (!p->timed_out && now >= p->deadline_ms) {
		script_on_timeout(ev, p);
		return;
	}
	if (p->timed_out && now >= p->deadline_ms + PROBE_KILL_GUARD_MS) {
		script_detach(p, true);
		script_done(p);
		return;
	}
	script_arm_poll(p, SCRIPT_POLL_MS);
}

void probe_zombies_free(struct probe_ctx *c)
{
	while (c->zombies) {
		struct probe_zombie *z = c->zombies;
		kill(-z->pid, SIGKILL);
		zombie_reap(z);
		zombie_free(z);
	}
}

/* ---- start and stop ---- */

/* Go's exec.Cmd.Start texts: a bare name not found on $PATH, else fork/exec's errno. */
static void script_spawn_error(struct probe *p, const char *argv0, int err)
{
	char eb[128];

	if (!strchr(argv0, '/') && (err == ENOENT || err == EACCES))
		probe_finishf(p, PROBE_CRITICAL, "exec: \"%.256s\": executable file not found in $PATH",
		              argv0);
	else
		probe_finishf(p, PROBE_CRITICAL, "fork/exec %.256s: %s", argv0, probe_errno_text(err, eb));
}

int probe_script_start(struct probe *p, const struct msg_check_def *def, const char **why)
{
	const struct msg_strlist *args = &def->script_args;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int fds[2], err;
	char **argv;

	p->ring = malloc(p->output_max);
	argv = calloc((size_t)args->n + 1, sizeof(*argv));
	if (!p->ring || !argv) {
		free(argv);
		*why = "out of memory";
		return -1;
	}
	for (uint32_t i = 0; i < args->n; i++)
		argv[i] = args->v[i] ? args->v[i] : "";
	p->target = strdup(argv[0]);
	if (!p->target || pipe2(fds, O_CLOEXEC) != 0) {
		free(argv);
		*why = "out of memory or file descriptors";
		return -1;
	}
	/* The read end does not block the loop; the write end goes to the child as 1 and 2. */
	fcntl(fds[0], F_SETFL, O_NONBLOCK);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	/* Nothing else of healthd's (bus sockets, the lifeline) reaches the script. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);  /* ev blocks the signals it reads */
	posix_spawnattr_setsigdefault(&at, &all); /* daemon.c ignores SIGPIPE */
	posix_spawnattr_setpgroup(&at, 0);        /* a group of its own, killed whole */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                  POSIX_SPAWN_SETSIGDEF);
	err = posix_spawnp(&p->pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(fds[1]);
	free(argv);
	if (err != 0) {
		close(fds[0]);
		p->pid = 0;
		script_spawn_error(p, p->target, err);
		return 0;
	}
	p->outfd = fds[0];
	p->outwatch = ev_add_fd(p->c->ev, p->outfd, EV_READ, script_on_output, p);
	p->pidfd = pidfd_open_(p->pid);
	if (p->pidfd >= 0) {
		p->pidwatch = ev_add_fd(p->c->ev, p->pidfd, EV_READ, script_on_exit, p);
		if (p->pidwatch < 0) {
			close(p->pidfd);
			p->pidfd = -1;
		}
	}
	if (p->outwatch < 0) {
		/* No room to watch the output: the script runs, its output is read at exit. */
		log_warnx("probe: script %s: output not watched (ev limit)", p->target);
	}
	p->deadline_ms = ev_now_ms(p->c->ev) + p->timeout_ms;
	if (p->pidfd >= 0)
		p->timer = ev_timer_add(p->c->ev, p->timeout_ms, script_on_timeout, p);
	else
		script_arm_poll(p, SCRIPT_POLL_MS);
	return 0;
}

void probe_script_stop(struct probe *p)
{
	script_kill(p);
	if (p->pid > 0 && !script_reap(p))
		script_detach(p, false);
	script_release(p);
}

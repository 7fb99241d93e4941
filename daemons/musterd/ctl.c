/* ctl.c: the control socket <run_dir>/ctl.sock, a line protocol usable with socat (model: bgpctl).
 */
#include "musterd.h"
#include "ctlproto.h"
#include "ev.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Limits: connections, what one reply may buffer, and how
 * long an idle connection is kept. */
#define CTL_CONN_MAX 16
#define CTL_OUT_MAX  (64u << 10)
#define CTL_IDLE_MS  60000

struct ctl_conn {
	struct musterd *m;
	struct ctl_conn *next;
	int fd;
	int watch;
	uint64_t idle_timer;
	char in[CTLPROTO_LINE_MAX];
	size_t in_len;
	struct buf out;
	bool closing; /* close once out is written */
	uint64_t id;
	bool waiting; /* a reply still to come (reload waits for the daemons) */
};

static void ctl_conn_free(struct ctl_conn *c)
{
	struct musterd *m = c->m;

	for (struct ctl_conn **pp = &m->ctl_conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ev_del(m->ev, c->watch);
	if (c->idle_timer != 0)
		ev_timer_del(m->ev, c->idle_timer);
	close(c->fd);
	buf_fini(&c->out);
	free(c);
}

static void ctl_flush(struct ctl_conn *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			c->out.len = 0;
			c->closing = true;
			break;
		}
		buf_consume(&c->out, (size_t)n);
	}
	ev_set_events(c->m->ev, c->watch, c->out.len > 0 ? EV_READ | EV_WRITE : EV_READ);
}

static void ctl_status(struct ctl_conn *c)
{
	struct musterd *m = c->m;
	uint64_t now = ev_now_ms(m->ev);

	buf_printf(&c->out, "musterd state=%s pid=%d uptime=%.1fs run_dir=%s\n",
	           m->shutting_down    ? "stopping"
	           : m->all_ready_once ? "ready"
	                               : "starting",
	           (int)getpid(), (double)(now - m->start_ms) / 1000.0, m->run_dir);
	for (int i = 0; i < SUP_CHILDREN; i++) {
		const struct child *k = &m->children[i];

		/* key=value words; a value with a space is quoted (shell rules). */
		buf_printf(&c->out,
		           "%s state=%s pid=%d uptime=%.1fs restarts=%llu last-exit=\"%s\"\n",
		           k->name, sup_state_name(k->state), k->pid > 0 ? (int)k->pid : 0,
		           k->pid > 0 ? (double)(now - k->spawn_ms) / 1000.0 : 0.0,
		           (unsigned long long)k->restarts, k->last_exit[0] ? k->last_exit : "-");
	}
}

static void ctl_daemon(struct ctl_conn *c, char **w, int (*op)(struct musterd *, struct child *))
{
	struct child *k = sup_find(c->m, w[1]);

	if (k == NULL) {
		buf_printf(&c->out,
		           "error: unknown daemon \"%s\" (raftd gossipd httpd dnsd healthd)\n",
		           w[1]);
		return;
	}
	if (c->m->shutting_down) {
		buf_printf(&c->out, "error: shutting down\n");
		return;
	}
	op(c->m, k);
	buf_printf(&c->out, "ok\n");
}

static void ctl_start(struct ctl_conn *c, char **w)
{
	ctl_daemon(c, w, sup_start);
}

static void ctl_stop(struct ctl_conn *c, char **w)
{
	ctl_daemon(c, w, sup_stop);
}

static void ctl_restart(struct ctl_conn *c, char **w)
{
	ctl_daemon(c, w, sup_restart);
}

static void ctl_cmd_status(struct ctl_conn *c, char **w)
{
	(void)w;
	ctl_status(c);
	buf_printf(&c->out, "ok\n");
}

/* The daemons' verdict on a reload reaches the connection that asked, if it is still open. */
static void ctl_reload_done(struct musterd *m, uint64_t tag, const char *errors)
{
	struct ctl_conn *c;

	for (c = m->ctl_conns; c != NULL && c->id != tag; c = c->next)
		;
	if (c == NULL)
		return;
	c->waiting = false;
	if (errors != NULL)
		buf_printf(&c->out, "error: %s\n", errors);
	else
		buf_printf(&c->out, "ok\n");
	ctl_flush(c);
	if (c->closing && c->out.len == 0)
		ctl_conn_free(c);
}

/* musterd's configuration first, then every daemon's: "ok" only when all of them took it. */
static void ctl_reload(struct ctl_conn *c, char **w)
{
	char err[256];

	(void)w;
	if (musterd_reload(c->m, err, sizeof(err)) != 0) {
		buf_printf(&c->out, "error: %s\n", err);
		return;
	}
	c->waiting = true;
	bus_reload_then(c->m, ctl_reload_done, c->id);
}

static void ctl_shutdown(struct ctl_conn *c, char **w)
{
	(void)w;
	buf_printf(&c->out, "ok\n");
	sup_shutdown(c->m, "ctl shutdown");
}

static void ctl_log_level(struct ctl_conn *c, char **w)
{
	enum log_level lvl;

	if (log_level_parse(w[1], &lvl) != 0) {
		buf_printf(&c->out,
		           "error: unknown log level \"%s\" (trace debug info warn error)\n", w[1]);
		return;
	}
	log_set_level(lvl);
	bus_fanout_simple(c->m, MSG_LOG_LEVEL, log_level_name(lvl));
	buf_printf(&c->out, "ok\n");
}

static void ctl_help(struct ctl_conn *c, char **w);

/* The commands, declared once: name, words after it, handler, usage. */
static const struct ctl_cmd {
	const char *name;
	int nargs;
	void (*fn)(struct ctl_conn *c, char **words);
	const char *usage;
} ctl_cmds[] = {
    {"status", 0, ctl_cmd_status, "status"},
    {"start", 1, ctl_start, "start NAME"},
    {"stop", 1, ctl_stop, "stop NAME"},
    {"restart", 1, ctl_restart, "restart NAME"},
    {"reload", 0, ctl_reload, "reload"},
    {"shutdown", 0, ctl_shutdown, "shutdown"},
    {"log-level", 1, ctl_log_level, "log-level LEVEL"},
    {"help", 0, ctl_help, "help"},
};

static void ctl_help(struct ctl_conn *c, char **w)
{
	(void)w;
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		buf_printf(&c->out, "%s\n", ctl_cmds[i].usage);
	buf_printf(&c->out, "ok\n");
}

static void ctl_command(struct ctl_conn *c, char *line)
{
	char *w[CTLPROTO_WORDS_MAX];
	int n = ctlproto_split(line, w, CTLPROTO_WORDS_MAX);

	if (n == 0)
		return;
	if (n < 0) {
		buf_printf(&c->out, "error: malformed line\n");
		return;
	}
	log_debug("ctl: %s%s%s", w[0], n > 1 ? " " : "", n > 1 ? w[1] : "");
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
		if (strcmp(w[0], ctl_cmds[i].name) != 0)
			continue;
		if (n - 1 != ctl_cmds[i].nargs) {
			buf_printf(&c->out, "error: usage: %s\n", ctl_cmds[i].usage);
			return;
		}
		ctl_cmds[i].fn(c, w);
		return;
	}
	buf_printf(&c->out, "error: unknown command \"%s\" (try help)\n", w[0]);
}

static void ctl_idle(struct ev *ev, void *arg)
{
	struct ctl_conn *c = arg;

	(void)ev;
	c->idle_timer = 0;
	ctl_conn_free(c);
}

static void ctl_conn_io(struct ev *ev, int revents, void *arg)
{
	struct ctl_conn *c = arg;

	if (revents & EV_READ) {
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			/* The peer closed its side: finish writing, then close
			 * (`echo status | socat - UNIX:ctl.sock` shuts down its
			 * write side first). */
			c->closing = true;
		} else if (n > 0) {
			char *nl;

			c->in_len += (size_t)n;
			while ((nl = memchr(c->in, '\n', c->in_len)) != NULL) {
				size_t len = (size_t)(nl - c->in);

				*nl = '\0';
				ctl_command(c, c->in);
				memmove(c->in, nl + 1, c->in_len - len - 1);
				c->in_len -= len + 1;
			}
			if (c->in_len == sizeof(c->in)) {
				buf_printf(&c->out, "error: line longer than %d bytes\n",
				           CTLPROTO_LINE_MAX);
				c->closing = true;
			}
			if (c->out.err) {
				c->out.len = 0;
				c->closing = true;
			}
		}
		if (c->idle_timer != 0)
			ev_timer_del(ev, c->idle_timer);
		c->idle_timer = ev_timer_add(ev, CTL_IDLE_MS, ctl_idle, c);
	}
	ctl_flush(c);
	if (c->closing && c->out.len == 0 && !c->waiting)
		ctl_conn_free(c);
}

static void ctl_accept(struct ev *ev, int revents, void *arg)
{
	struct musterd *m = arg;
	struct ctl_conn *c;
	int fd, n = 0;

	(void)revents;
	fd = accept4(m->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (c = m->ctl_conns; c != NULL; c = c->next)
		n++;
	if (n >= CTL_CONN_MAX) {
		static const char busy[] = "error: too many control connections\n";

		(void)!send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->m = m;
	c->fd = fd;
	c->id = ++m->ctl_next_id;
	buf_init(&c->out, CTL_OUT_MAX);
	c->watch = ev_add_fd(ev, fd, EV_READ, ctl_conn_io, c);
	if (c->watch < 0) {
		close(fd);
		buf_fini(&c->out);
		free(c);
		return;
	}
	c->idle_timer = ev_timer_add(ev, CTL_IDLE_MS, ctl_idle, c);
	c->next = m->ctl_conns;
	m->ctl_conns = c;
}

int ctl_open(struct musterd *m)
{
	struct sockaddr_un sun;
	mode_t old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/ctl.sock", m->run_dir) >=
	    (int)sizeof(sun.sun_path)) {
		log_errorx("ctl: %s/ctl.sock is too long for a UNIX socket path", m->run_dir);
		return -1;
	}
	m->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->ctl_fd < 0) {
		log_error("ctl: socket");
		return -1;
	}
	/* We hold the run_dir lock (musterd.pid), so a socket left here is a
	 * stale one from a musterd that died. */
	unlink(sun.sun_path);
	old = umask(0077);
	if (bind(m->ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		umask(old);
		log_error("ctl: bind %s", sun.sun_path);
		return -1;
	}
	umask(old);
	if (chmod(sun.sun_path, 0600) != 0 || listen(m->ctl_fd, CTL_CONN_MAX) != 0) {
		log_error("ctl: %s", sun.sun_path);
		return -1;
	}
	m->ctl_watch = ev_add_fd(m->ev, m->ctl_fd, EV_READ, ctl_accept, m);
	return m->ctl_watch < 0 ? -1 : 0;
}

void ctl_close(struct musterd *m)
{
	char path[RUNDIR_PATH_MAX + 16];

	while (m->ctl_conns != NULL)
		ctl_conn_free(m->ctl_conns);
	if (m->ctl_fd >= 0) {
		ev_del(m->ev, m->ctl_watch);
		close(m->ctl_fd);
		m->ctl_fd = -1;
		snprintf(path, sizeof(path), "%s/ctl.sock", m->run_dir);
		unlink(path);
	}
}

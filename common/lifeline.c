/* lifeline.c: the child side of the supervisor link (a socketpair on fd 3). */
#include "lifeline.h"
#include "ev.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int lifeline_fd = -1;
static int lifeline_watch = -1;
static void (*lifeline_gone)(struct ev *, void *);
static void *lifeline_arg;

static void lifeline_read(struct ev *ev, int revents, void *arg)
{
	char b[64];
	ssize_t n;

	(void)revents;
	(void)arg;
	n = recv(lifeline_fd, b, sizeof(b), MSG_DONTWAIT);
	if (n > 0)
		return; /* musterd sends nothing yet; ignore */
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	log_info("lifeline: supervisor gone, exiting");
	lifeline_detach(ev);
	if (lifeline_gone != NULL)
		lifeline_gone(ev, lifeline_arg);
}

int lifeline_attach(struct ev *ev, void (*gone)(struct ev *, void *), void *arg)
{
	const char *v = getenv(LIFELINE_ENV);
	int fd, flags;

	if (v == NULL)
		return 0;
	/* musterd always passes fd 3; the variable names it so that tests
	 * (whose runner may own fd 3) can pass another. */
	fd = atoi(v);
	if (fd < 3 || fcntl(fd, F_GETFD) < 0) {
		log_errorx("lifeline: %s=%s does not name the supervisor link (an open fd above 2)",
		           LIFELINE_ENV, v);
		return -1;
	}
	/* Not inherited by what this daemon runs (check scripts), and
	 * not seen by a daemon that a child of ours might exec. */
	unsetenv(LIFELINE_ENV);
	flags = fcntl(fd, F_GETFD);
	fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	lifeline_fd = fd;
	lifeline_gone = gone;
	lifeline_arg = arg;
	lifeline_watch = ev_add_fd(ev, fd, EV_READ, lifeline_read, NULL);
	if (lifeline_watch < 0)
		return -1;
	return 1;
}

int lifeline_ready(void)
{
	ssize_t n;

	if (lifeline_fd < 0)
		return 0;
	n = send(lifeline_fd, LIFELINE_READY, strlen(LIFELINE_READY), MSG_NOSIGNAL);
	if (n != (ssize_t)strlen(LIFELINE_READY)) {
		log_warn("lifeline: cannot signal readiness");
		return -1;
	}
	return 0;
}

bool lifeline_is_attached(void)
{
	return lifeline_fd >= 0;
}

void lifeline_detach(struct ev *ev)
{
	if (lifeline_watch >= 0)
		ev_del(ev, lifeline_watch);
	lifeline_watch = -1;
	if (lifeline_fd >= 0)
		close(lifeline_fd);
	lifeline_fd = -1;
}

/* probe_tcp.c: the TCP check, a non-blocking connect to a numeric address within the timeout
 * (Consul's CheckTCP; a host name is handed to libcurl's resolver, probe_curl.c), and the UDP
 * check (Consul's CheckUDP). */
#include "probe_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ev.h"

/* Go's net.SplitHostPort on addr: host (brackets gone) and port text; 0, or -1 with Go's
 * complaint in why. */
static int split_host_port(const char *addr, char *host, size_t hcap, const char **port,
                           const char **why)
{
	const char *colon;
	size_t hlen;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (!end) {
			*why = "missing ']' in address";
			return -1;
		}
		if (end[1] != ':') {
			*why = "missing port in address";
			return -1;
		}
		hlen = (size_t)(end - addr - 1);
		if (hlen >= hcap) {
			*why = "address too long";
			return -1;
		}
		memcpy(host, addr + 1, hlen);
		host[hlen] = '\0';
		*port = end + 2;
		return 0;
	}
	colon = strrchr(addr, ':');
	if (!colon) {
		*why = "missing port in address";
		return -1;
	}
	if (memchr(addr, ':', (size_t)(colon - addr))) {
		*why = "too many colons in address";
		return -1;
	}
	hlen = (size_t)(colon - addr);
	if (hlen >= hcap) {
		*why = "address too long";
		return -1;
	}
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	*port = colon + 1;
	return 0;
}

/* The target of a TCP or UDP probe (net "tcp" or "udp") as a numeric address: 0 with *ss and
 * p->peer set; 1 when it is a host name (nothing done); -1 when the probe has already finished
 * with Go's complaint about the address. */
static int numeric_target(struct probe *p, const char *addr, const char *net,
                          struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[256];
	const char *port_s, *bad;
	unsigned long port;
	char *end;

	if (split_host_port(addr, host, sizeof(host), &port_s, &bad) != 0) {
		probe_finishf(p, PROBE_CRITICAL, "dial %s: address %s: %s", net, addr, bad);
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (host[0] == '\0') {
		/* Go dials the local system for ":port". */
		snprintf(host, sizeof(host), "127.0.0.1");
	}
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		*sslen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		*sslen = sizeof(*s6);
	} else {
		return 1;
	}
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (port_s[0] == '\0' || *end != '\0' || port > 65535 || errno) {
		probe_finishf(p, PROBE_CRITICAL, "dial %s: lookup %s/%s: unknown port", net, net, port_s);
		return -1;
	}
	if (ss->ss_family == AF_INET) {
		s4->sin_port = htons((uint16_t)port);
		snprintf(p->peer, sizeof(p->peer), "%s:%lu", host, port);
	} else {
		s6->sin6_port = htons((uint16_t)port);
		snprintf(p->peer, sizeof(p->peer), "[%s]:%lu", host, port);
	}
	return 0;
}

static void tcp_on_timeout(struct ev *ev, void *arg)
{
	struct probe *p = arg;

	(void)ev;
	p->timer = 0;
	probe_tcp_stop(p);
	p->c->stats.timeouts++;
	probe_finishf(p, PROBE_CRITICAL, "dial tcp %s: i/o timeout", p->peer);
}

static void tcp_result(struct probe *p, int err)
{
	char eb[128];

	probe_tcp_stop(p);
	if (err == 0)
		probe_finishf(p, PROBE_PASSING, "TCP connect %s: Success", p->target);
	else
		probe_finishf(p, PROBE_CRITICAL, "dial tcp %s: connect: %s", p->peer,
		              probe_errno_text(err, eb));
}

static void tcp_on_ready(struct ev *ev, int revents, void *arg)
{
	struct probe *p = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)ev;
	(void)revents;
	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return; /* not yet: a spurious wake-up */
	tcp_result(p, err);
}

int probe_tcp_start(struct probe *p, const char *addr, const char **why)
{
	char eb[128];
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	int rc;

	p->target = strdup(addr);
	if (!p->target) {
		*why = "out of memory";
		return -1;
	}
	rc = numeric_target(p, addr, "tcp", &ss, &sslen);
	if (rc < 0)
		return 0;
	if (rc > 0) {
		/* A name: resolved by libcurl off the loop, then connected there. */
		p->kind = PROBE_K_TCPNAME;
		return probe_tcpname_start(p, addr, why);
	}

	p->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		probe_finishf(p, PROBE_CRITICAL, "dial tcp %s: socket: %s", p->peer,
		              probe_errno_text(errno, eb));
		return 0;
	}
	if (connect(p->fd, (struct sockaddr *)&ss, sslen) == 0) {
		tcp_result(p, 0);
		return 0;
	}
	if (errno != EINPROGRESS) {
		tcp_result(p, errno);
		return 0;
	}
	p->watch = ev_add_fd(p->c->ev, p->fd, EV_WRITE, tcp_on_ready, p);
	if (p->watch < 0) {
		close(p->fd);
		p->fd = -1;
		*why = "no room for another watched fd";
		return -1;
	}
	p->timer = ev_timer_add(p->c->ev, p->timeout_ms, tcp_on_timeout, p);
	return 0;
}

void probe_tcp_stop(struct probe *p)
{
	if (p->watch >= 0)
		ev_del(p->c->ev, p->watch);
	p->watch = -1;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	if (p->timer)
		ev_timer_del(p->c->ev, p->timer);
	p->timer = 0;
}

/* ---- UDP (Consul's CheckUDP) ----
 * Consul dials, writes its Message (empty: a zero-length datagram), then reads one byte until
 * the timeout: any answer, and silence too ("i/o timeout"), is passing; an error, which on a
 * connected UDP socket is the ICMP port-unreachable a closed port sends back, is critical. */

static void udp_on_timeout(struct ev *ev, void *arg)
{
	struct probe *p = arg;

	(void)ev;
	p->timer = 0;
	probe_tcp_stop(p);
	probe_finishf(p, PROBE_PASSING, "UDP connect %s: Success", p->target);
}

static void udp_local(struct probe *p, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;

	out[0] = '\0';
	if (getsockname(p->fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
		snprintf(out, size, "%s:%u", ip, port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(out, size, "[%s]:%u", ip, port);
	}
}

static void udp_on_ready(struct ev *ev, int revents, void *arg)
{
	struct probe *p = arg;
	char b[1], eb[128], local[80];
	ssize_t n;

	(void)ev;
	(void)revents;
	n = recv(p->fd, b, sizeof(b), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n >= 0) {
		probe_tcp_stop(p);
		probe_finishf(p, PROBE_PASSING, "UDP connect %s: Success", p->target);
		return;
	}
	int err = errno;
	udp_local(p, local, sizeof(local));
	probe_tcp_stop(p);
	probe_finishf(p, PROBE_CRITICAL, "read udp %s->%s: read: %s", local, p->peer,
	              probe_errno_text(err, eb));
}

int probe_udp_start(struct probe *p, const char *addr, const char **why)
{
	char eb[128];
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	int rc;

	p->target = strdup(addr);
	if (!p->target) {
		*why = "out of memory";
		return -1;
	}
	rc = numeric_target(p, addr, "udp", &ss, &sslen);
	if (rc < 0)
		return 0;
	if (rc > 0) {
		/* resolving would block the loop (libcurl resolves only for its own transfers) */
		probe_finishf(p, PROBE_CRITICAL,
		              "dial udp %s: host names are not resolved for UDP checks; use an address",
		              addr);
		return 0;
	}
	p->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		probe_finishf(p, PROBE_CRITICAL, "dial udp %s: socket: %s", p->peer,
		              probe_errno_text(errno, eb));
		return 0;
	}
	if (connect(p->fd, (struct sockaddr *)&ss, sslen) != 0 || send(p->fd, "", 0, 0) < 0) {
		int err = errno;
		probe_tcp_stop(p);
		probe_finishf(p, PROBE_CRITICAL, "dial udp %s: %s", p->peer, probe_errno_text(err, eb));
		return 0;
	}
	p->watch = ev_add_fd(p->c->ev, p->fd, EV_READ, udp_on_ready, p);
	if (p->watch < 0) {
		close(p->fd);
		p->fd = -1;
		*why = "no room for another watched fd";
		return -1;
	}
	p->timer = ev_timer_add(p->c->ev, p->timeout_ms, udp_on_timeout, p);
	return 0;
}

/* test_probe.c: healthd's probes against real local servers (a TCP listener, an HTTP server in a
 * child process, Python's TLS and gRPC health servers, scripts), each driven by an ev loop. */
#include "daemons/healthd/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ev.h"
#include "testutil.h"

/* ---- results ---- */

struct result {
	int calls;
	enum probe_status st;
	char out[1 << 17];
	size_t len;
	uint64_t at_ms;
};

static void on_done(void *arg, enum probe_status st, const char *out, size_t len)
{
	struct result *r = arg;

	r->calls++;
	r->st = st;
	r->len = len < sizeof(r->out) - 1 ? len : sizeof(r->out) - 1;
	memcpy(r->out, out, r->len);
	r->out[r->len] = '\0';
	r->at_ms = ev_clock_ms();
}

/* Runs the loop until r has its result (or max_ms pass: the test then fails). */
static void wait_result(struct ev *ev, struct result *r, uint64_t max_ms)
{
	uint64_t end = ev_clock_ms() + max_ms;

	while (r->calls == 0 && ev_clock_ms() < end)
		ev_run_once(ev, 20);
	ck_assert_msg(r->calls == 1, "no result within %llu ms", (unsigned long long)max_ms);
}

static void run_for(struct ev *ev, uint64_t ms)
{
	uint64_t end = ev_clock_ms() + ms;

	while (ev_clock_ms() < end)
		ev_run_once(ev, 10);
}

static struct ev *g_ev;
static struct probe_ctx *g_pc;

static void setup_ctx(bool scripts, size_t max_running)
{
	struct probe_limits lim = {.max_running = max_running, .enable_script_checks = scripts};

	g_ev = ev_new();
	ck_assert_ptr_nonnull(g_ev);
	g_pc = probe_ctx_new(g_ev, &lim);
	ck_assert_ptr_nonnull(g_pc);
}

static void teardown_ctx(void)
{
	probe_ctx_free(g_pc);
	ev_free(g_ev);
	g_pc = NULL;
	g_ev = NULL;
}

/* Starts one probe and waits for its result; checks it did not come from inside probe_start. */
static void run_probe(const struct msg_check_def *def, uint64_t timeout_ms, size_t output_max,
                      struct result *r, uint64_t max_ms)
{
	const char *why = NULL;

	memset(r, 0, sizeof(*r));
	struct probe *p = probe_start(g_pc, def, timeout_ms, output_max, on_done, r, &why);
	ck_assert_msg(p != NULL, "refused: %s", why ? why : "?");
	ck_assert_int_eq(r->calls, 0);
	wait_result(g_ev, r, max_ms);
}

/* ---- servers ---- */

static int listen_on(int backlog, int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, backlog), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A port nothing listens on (bound, then closed). */
static int closed_port(void)
{
	int port, fd = listen_on(1, &port);

	close(fd);
	return port;
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void reply(int fd, const char *status, const char *extra, const char *body, size_t blen)
{
	char head[512];
	int hl = snprintf(head, sizeof(head),
	                  "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
	                  blen, extra);
	write_all(fd, head, (size_t)hl);
	write_all(fd, body, blen);
}

/* One request of the test HTTP server (a child per connection). */
static void http_serve(int fd)
{
	static char req[65536];
	size_t n = 0;
	char *eoh = NULL;

	while (n < sizeof(req) - 1 && !(eoh = strstr(req, "\r\n\r\n"))) {
		ssize_t r = read(fd, req + n, sizeof(req) - 1 - n);
		if (r <= 0)
			return;
		n += (size_t)r;
		req[n] = '\0';
	}
	if (!eoh)
		return;
	size_t hlen = (size_t)(eoh - req) + 4, clen = 0;
	const char *cl = strcasestr(req, "\r\nContent-Length:");
	if (cl && cl < eoh)
		clen = strtoul(cl + 17, NULL, 10);
	while (n < hlen + clen && n < sizeof(req) - 1) {
		ssize_t r = read(fd, req + n, sizeof(req) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	req[n] = '\0';
	char method[16] = "", path[256] = "";
	sscanf(req, "%15s %255s", method, path);
	if (strcmp(path, "/200") == 0) {
		reply(fd, "200 OK", "", "ok body", 7);
	} else if (strcmp(path, "/204") == 0) {
		reply(fd, "204 No Content", "", "", 0);
	} else if (strcmp(path, "/429") == 0) {
		reply(fd, "429 Too Many Requests", "", "slow down", 9);
	} else if (strcmp(path, "/500") == 0) {
		reply(fd, "500 Internal Server Error", "", "boom", 4);
	} else if (strcmp(path, "/teapot") == 0) {
		reply(fd, "418 Short And Stout", "", "", 0); /* the server's own reason phrase */
	} else if (strcmp(path, "/slow") == 0) {
		sleep(5);
		reply(fd, "200 OK", "", "late", 4);
	} else if (strcmp(path, "/redirect") == 0) {
		reply(fd, "302 Found", "Location: /200\r\n", "", 0);
	} else if (strcmp(path, "/loop") == 0) {
		reply(fd, "302 Found", "Location: /loop\r\n", "", 0);
	} else if (strcmp(path, "/big") == 0) {
		static char big[200000];
		memset(big, 'x', sizeof(big));
		reply(fd, "200 OK", "", big, sizeof(big));
	} else if (strcmp(path, "/echo") == 0) {
		reply(fd, "200 OK", "", req, n); /* the whole request: line, headers, body */
	} else {
		reply(fd, "404 Not Found", "", "no", 2);
	}
}

static pid_t http_pid;
static int http_port;

static void http_server_start(void)
{
	int lfd = listen_on(64, &http_port);

	http_pid = fork();
	ck_assert_int_ge(http_pid, 0);
	if (http_pid == 0) {
		signal(SIGCHLD, SIG_IGN); /* no zombies from the per-connection children */
		for (;;) {
			int c = accept(lfd, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				close(lfd);
				http_serve(c);
				shutdown(c, SHUT_WR);
				close(c);
				_exit(0);
			}
			close(c);
		}
	}
	close(lfd);
}

static void http_server_stop(void)
{
	if (http_pid > 0) {
		kill(http_pid, SIGKILL);
		waitpid(http_pid, NULL, 0);
	}
	http_pid = 0;
}

/* A Python server from a script in the source tree's test: prints its port on its first line. */
static pid_t py_start(const char *script, char *const extra[], int *port)
{
	int fds[2];
	char path[] = "/tmp/muster-probe-py-XXXXXX";
	int sfd = mkstemp(path);

	ck_assert_int_ge(sfd, 0);
	write_all(sfd, script, strlen(script));
	close(sfd);
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *argv[8] = {"/usr/bin/python3", path};
		int i = 2;
		for (; extra && extra[i - 2] && i < 7; i++)
			argv[i] = extra[i - 2];
		argv[i] = NULL;
		dup2(fds[1], 1);
		close(fds[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	/* Readiness: the port line, within 15 s (no sleeping and hoping). */
	char line[64] = "";
	size_t n = 0;
	uint64_t end = ev_clock_ms() + 15000;
	while (n < sizeof(line) - 1 && !strchr(line, '\n') && ev_clock_ms() < end) {
		struct pollfd pf = {.fd = fds[0], .events = POLLIN};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t r = read(fds[0], line + n, sizeof(line) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		line[n] = '\0';
	}
	close(fds[0]);
	unlink(path);
	*port = atoi(line);
	ck_assert_msg(*port > 0, "python server did not start (is python3-grpcio installed?): %s",
	              line);
	return pid;
}

static void py_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- definitions ---- */

static struct msg_check_def def_tcp(const char *addr)
{
	struct msg_check_def d;

	memset(&d, 0, sizeof(d));
	d.tcp = (char *)addr;
	return d;
}

static char g_url[128];

static struct msg_check_def def_http(const char *path)
{
	struct msg_check_def d;

	memset(&d, 0, sizeof(d));
	snprintf(g_url, sizeof(g_url), "http://127.0.0.1:%d%s", http_port, path);
	d.http = g_url;
	return d;
}

/* ---- TCP ---- */

START_TEST(test_tcp_open_closed)
{
	struct result r;
	char addr[64], want[128];
	int port, lfd = listen_on(16, &port);

	setup_ctx(false, 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	struct msg_check_def d = def_tcp(addr);
	run_probe(&d, 1000, 0, &r, 3000);
	snprintf(want, sizeof(want), "TCP connect 127.0.0.1:%d: Success", port);
	ck_assert_int_eq(r.st, PROBE_PASSING);
	ck_assert_str_eq(r.out, want);

	/* A host name goes through the resolver. */
	snprintf(addr, sizeof(addr), "localhost:%d", port);
	d = def_tcp(addr);
	run_probe(&d, 2000, 0, &r, 4000);
	snprintf(want, sizeof(want), "TCP connect localhost:%d: Success", port);
	ck_assert_int_eq(r.st, PROBE_PASSING);
	ck_assert_str_eq(r.out, want);

	close(lfd);
	int cp = closed_port();
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", cp);
	d = def_tcp(addr);
	run_probe(&d, 1000, 0, &r, 3000);
	snprintf(want, sizeof(want), "dial tcp 127.0.0.1:%d: connect: connection refused", cp);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	ck_assert_str_eq(r.out, want);

	/* Malformed addresses fail as Go's dialer words it, through the callback. */
	d = def_tcp("127.0.0.1");
	run_probe(&d, 1000, 0, &r, 1000);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	ck_assert_str_eq(r.out, "dial tcp: address 127.0.0.1: missing port in address");
	d = def_tcp("127.0.0.1:http-alt");
	run_probe(&d, 1000, 0, &r, 1000);
	ck_assert_str_eq(r.out, "dial tcp: lookup tcp/http-alt: unknown port");
	d = def_tcp("no-such-host.invalid:80");
	run_probe(&d, 3000, 0, &r, 5000);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	ck_assert_str_eq(r.out, "dial tcp: lookup no-such-host.invalid: no such host");
	teardown_ctx();
}
END_TEST


/* Consul's CheckUDP: silence until the timeout is passing, an answer is passing at once, a closed
 * port (ICMP port unreachable) is critical. */
START_TEST(test_udp)
{
	struct result r;
	struct msg_check_def d;
	char addr[64], want[160];
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	setup_ctx(false, 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	memset(&d, 0, sizeof(d));
	d.udp = addr;
	uint64_t t0 = ev_clock_ms();
	run_probe(&d, 300, 0, &r, 3000);
	snprintf(want, sizeof(want), "UDP connect %s: Success", addr);
	ck_assert_int_eq(r.st, PROBE_PASSING);
	ck_assert_str_eq(r.out, want);
	ck_assert_uint_ge(ev_clock_ms() - t0, 250); /* it waited for an answer first */
	close(fd);

	int cp = closed_port();
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", cp);
	d.udp = addr;
	run_probe(&d, 2000, 0, &r, 4000);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	snprintf(want, sizeof(want), "->127.0.0.1:%d: read: connection refused", cp);
	ck_assert_msg(strstr(r.out, want) != NULL && strncmp(r.out, "read udp 127.0.0.1:", 19) == 0,
	              "%s", r.out);
	ck_assert_str_eq(probe_kind(&d), "udp");

	d.udp = "not-an-address";
	run_probe(&d, 500, 0, &r, 2000);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	ck_assert_str_eq(r.out, "dial udp: address not-an-address: missing port in address");
}
END_TEST

START_TEST(test_tcp_ipv6)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "test_tcp_ipv6: no IPv6 loopback here, skipped\n");
		return;
	}
	ck_assert_int_eq(listen(fd, 4), 0);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	char addr[64], want[128];
	snprintf(addr, sizeof(addr), "[::1]:%d", ntohs(sa.sin6_port));
	setup_ctx(false, 0);
	struct msg_check_def d = def_tcp(addr);
	struct result r;
	run_probe(&d, 1000, 0, &r, 3000);
	snprintf(want, sizeof(want), "TCP connect %s: Success", addr);
	ck_assert_str_eq(r.out, want);
	teardown_ctx();
	close(fd);
}
END_TEST

/* A listener whose accept queue is full drops SYNs: the connect hangs until the timeout. */
START_TEST(test_tcp_timeout)
{
	int port, lfd = listen_on(0, &port), fill[8];
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 8; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	usleep(200000);
	setup_ctx(false, 0);
	char addr[64], want[128];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	struct msg_check_def d = def_tcp(addr);
	struct result r;
	uint64_t t0 = ev_clock_ms();
	run_probe(&d, 300, 0, &r, 3000);
	snprintf(want, sizeof(want), "dial tcp 127.0.0.1:%d: i/o timeout", port);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	ck_assert_str_eq(r.out, want);
	ck_assert_uint_ge(r.at_ms - t0, 290);
	ck_assert_uint_lt(r.at_ms - t0, 1500);
	struct probe_stats ps;
	probe_ctx_stats(g_pc, &ps);
	ck_assert_uint_eq(ps.timeouts, 1);
	teardown_ctx();
	for (int i = 0; i < 8; i++)
		close(fill[i]);
	close(lfd);
}
END_TEST

START_TEST(test_many_tcp_at_once)
{
	int port, lfd = listen_on(512, &port);
	static struct result rs[200];
	char addr[64];

	setup_ctx(false, 300);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	struct msg_check_def d = def_tcp(addr);
	memset(rs, 0, sizeof(rs));
	for (int i = 0; i < 200; i++)
		ck_assert_ptr_nonnull(probe_start(g_pc, &d, 2000, 0, on_done, &rs[i], NULL));
	ck_assert_uint_le(probe_running(g_pc), 200);
	uint64_t end = ev_clock_ms() + 5000;
	int done = 0;
	while (done < 200 && ev_clock_ms() < end) {
		ev_run_once(g_ev, 10);
		done = 0;
		for (int i = 0; i < 200; i++)
			done += rs[i].calls;
	}
	ck_assert_int_eq(done, 200);
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(rs[i].st, PROBE_PASSING);
	ck_assert_uint_eq(probe_running(g_pc), 0);
	teardown_ctx();
	close(lfd);
}
END_TEST

/* ---- limits, kinds, cancel ---- */

START_TEST(test_kinds_and_refusals)
{
	struct msg_check_def d;
	const char *why = NULL;
	char *args[] = {"/bin/true"};

	memset(&d, 0, sizeof(d));
	ck_assert_ptr_null(probe_kind(&d));
	d.ttl_ns = 1000;
	ck_assert_ptr_null(probe_kind(&d));
	d.tcp = "127.0.0.1:1";
	ck_assert_str_eq(probe_kind(&d), "tcp");
	d.http = "http://x/";
	ck_assert_str_eq(probe_kind(&d), "http");
	memset(&d, 0, sizeof(d));
	d.grpc = "127.0.0.1:1";
	ck_assert_str_eq(probe_kind(&d), "grpc");
	memset(&d, 0, sizeof(d));
	d.script_args.v = args;
	d.script_args.n = 1;
	ck_assert_str_eq(probe_kind(&d), "script");
	d.docker_container_id = "abc";
	ck_assert_ptr_null(probe_kind(&d));

	setup_ctx(false, 2);
	ck_assert_ptr_null(probe_start(g_pc, &d, 0, 0, on_done, NULL, &why));
	ck_assert_str_eq(why, "Docker checks are not supported");
	d.docker_container_id = NULL;
	ck_assert_ptr_null(probe_start(g_pc, &d, 0, 0, on_done, NULL, &why));
	ck_assert_msg(strstr(why, "Scripts are disabled on this agent") != NULL, "%s", why);
	memset(&d, 0, sizeof(d));
	d.h2ping = "127.0.0.1:8443";
	ck_assert_ptr_null(probe_start(g_pc, &d, 0, 0, on_done, NULL, &why));
	ck_assert_str_eq(why, "H2PING checks are not supported");

	/* max_running: two hanging connects fill it; a third is refused until one goes. */
	int port, lfd = listen_on(0, &port), fill[8];
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 8; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	usleep(100000);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	d = def_tcp(addr);
	struct result r1 = {0}, r2 = {0}, r3 = {0};
	struct probe *p1 = probe_start(g_pc, &d, 5000, 0, on_done, &r1, &why);
	struct probe *p2 = probe_start(g_pc, &d, 5000, 0, on_done, &r2, &why);
	ck_assert_ptr_nonnull(p1);
	ck_assert_ptr_nonnull(p2);
	ck_assert_uint_eq(probe_running(g_pc), 2);
	ck_assert_ptr_null(probe_start(g_pc, &d, 5000, 0, on_done, &r3, &why));
	ck_assert_msg(strstr(why, "max_running") != NULL, "%s", why);
	probe_cancel(p1);
	ck_assert_uint_eq(probe_running(g_pc), 1);
	struct probe *p3 = probe_start(g_pc, &d, 5000, 0, on_done, &r3, &why);
	ck_assert_ptr_nonnull(p3);
	run_for(g_ev, 100);
	ck_assert_int_eq(r1.calls + r2.calls + r3.calls, 0);
	/* A probe whose result is queued but not handed out yet can be cancelled too. */
	struct msg_check_def bad = def_tcp("nonsense");
	struct result rb = {0};
	probe_cancel(p2);
	struct probe *pb = probe_start(g_pc, &bad, 0, 0, on_done, &rb, &why);
	ck_assert_ptr_nonnull(pb);
	probe_cancel(pb);
	run_for(g_ev, 50);
	ck_assert_int_eq(rb.calls, 0);
	struct probe_stats ps;
	probe_ctx_stats(g_pc, &ps);
	ck_assert_uint_eq(ps.cancelled, 3);
	/* Freeing the context with p3 running: no callback, nothing leaks (ASan). */
	teardown_ctx();
	ck_assert_int_eq(r3.calls, 0);
	for (int i = 0; i < 8; i++)
		close(fill[i]);
	close(lfd);
}
END_TEST

/* ---- HTTP ---- */

static void http_expect(const char *path, enum probe_status st, const char *status_text,
                        const char *body)
{
	struct result r;
	char want[1024];
	struct msg_check_def d = def_http(path);

	run_probe(&d, 3000, 0, &r, 5000);
	snprintf(want, sizeof(want), "HTTP GET %s: %s Output: %s", g_url, status_text, body);
	ck_assert_int_eq(r.st, st);
	ck_assert_str_eq(r.out, want);
}

START_TEST(test_http_status)
{
	http_server_start();
	setup_ctx(false, 0);
	http_expect("/200", PROBE_PASSING, "200 OK", "ok body");
	http_expect("/204", PROBE_PASSING, "204 No Content", "");
	http_expect("/429", PROBE_WARNING, "429 Too Many Requests", "slow down");
	http_expect("/500", PROBE_CRITICAL, "500 Internal Server Error", "boom");
	http_expect("/nothing", PROBE_CRITICAL, "404 Not Found", "no");
	http_expect("/teapot", PROBE_CRITICAL, "418 Short And Stout", "");
	/* Redirects are followed as Go's client does, unless disabled. */
	{
		struct result r;
		char want[1024];
		struct msg_check_def d = def_http("/redirect");
		run_probe(&d, 3000, 0, &r, 5000);
		snprintf(want, sizeof(want), "HTTP GET %s: 200 OK Output: ok body", g_url);
		ck_assert_str_eq(r.out, want);
		d.disable_redirects = true;
		run_probe(&d, 3000, 0, &r, 5000);
		snprintf(want, sizeof(want), "HTTP GET %s: 302 Found Output: ", g_url);
		ck_assert_int_eq(r.st, PROBE_CRITICAL);
		ck_assert_str_eq(r.out, want);
		d = def_http("/loop");
		run_probe(&d, 3000, 0, &r, 5000);
		snprintf(want, sizeof(want), "Get \"%s\": stopped after 10 redirects", g_url);
		ck_assert_str_eq(r.out, want);
	}
	teardown_ctx();
	http_server_stop();
}
END_TEST

START_TEST(test_http_echo)
{
	struct result r;
	char *vals_a[] = {"a", "b"}, *vals_h[] = {"text/x-test"};
	struct msg_header hs[2] = {
	    {.name = "X-Test", .values = {.v = vals_a, .n = 2}},
	    {.name = "Accept", .values = {.v = vals_h, .n = 1}},
	};

	http_server_start();
	setup_ctx(false, 0);
	struct msg_check_def d = def_http("/echo");
	run_probe(&d, 3000, 0, &r, 5000);
	ck_assert_int_eq(r.st, PROBE_PASSING);
	ck_assert_msg(strstr(r.out, "Output: GET /echo HTTP/1.1\r\n") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "\r\nUser-Agent: Consul Health Check\r\n") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "\r\nAccept: text/plain, text/*, */*\r\n") != NULL, "%s", r.out);

	d.method = "PUT";
	d.body = "hello body";
	d.header.v = hs;
	d.header.n = 2;
	run_probe(&d, 3000, 0, &r, 5000);
	ck_assert_int_eq(r.st, PROBE_PASSING);
	ck_assert_msg(strncmp(r.out, "HTTP PUT ", 9) == 0, "%s", r.out);
	ck_assert_msg(strstr(r.out, "Output: PUT /echo HTTP/1.1\r\n") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "\r\nX-Test: a\r\n") && strstr(r.out, "\r\nX-Test: b\r\n"), "%s",
	              r.out);
	ck_assert_msg(strstr(r.out, "\r\nAccept: text/x-test\r\n") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "text/plain") == NULL, "default Accept sent too: %s", r.out);
	ck_assert_msg(strstr(r.out, "Content-Type") == NULL, "a Content-Type of libcurl's: %s", r.out);
	ck_assert_msg(strstr(r.out, "Expect") == NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "\r\n\r\nhello body") != NULL, "%s", r.out);

	/* A Host header names the host; GET with a body keeps its method. */
	char *vals_host[] = {"check.example"};
	struct msg_header hh = {.name = "Host", .values = {.v = vals_host, .n = 1}};
	d.header.v = &hh;
	d.header.n = 1;
	d.method = NULL;
	d.body = "q";
	run_probe(&d, 3000, 0, &r, 5000);
	ck_assert_msg(strstr(r.out, "Output: GET /echo HTTP/1.1\r\nHost: check.example\r\n") != NULL,
	              "%s", r.out);

	/* Header injection is refused as Go's client refuses it. */
	char *vals_bad[] = {"x\r\nEvil: 1"};
	struct msg_header hb = {.name = "X-Bad", .values = {.v = vals_bad, .n = 1}};
	d.header.v = &hb;
	d.body = NULL;
	run_probe(&d, 3000, 0, &r, 5000);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	ck_assert_msg(strstr(r.out, "net/http: invalid header field value for \"X-Bad\"") != NULL,
	              "%s", r.out);
	teardown_ctx();
	http_server_stop();
}
END_TEST

START_TEST(test_http_output_cap)
{
	struct result r;
	char want[1024];

	http_server_start();
	setup_ctx(false, 0);
	struct msg_check_def d = def_http("/big");
	run_probe(&d, 3000, 0, &r, 5000);
	snprintf(want, sizeof(want), "HTTP GET %s: 200 OK Output: ", g_url);
	ck_assert_int_eq(r.st, PROBE_PASSING);
	ck_assert_uint_eq(r.len, strlen(want) + PROBE_OUTPUT_DEFAULT);
	ck_assert(strncmp(r.out, want, strlen(want)) == 0);
	ck_assert_int_eq(r.out[r.len - 1], 'x');
	run_probe(&d, 3000, 100, &r, 5000);
	ck_assert_uint_eq(r.len, strlen(want) + 100);
	teardown_ctx();
	http_server_stop();
}
END_TEST

START_TEST(test_http_errors)
{
	struct result r;
	char want[1024];

	http_server_start();
	setup_ctx(false, 0);
	struct msg_check_def d = def_http("/slow");
	uint64_t t0 = ev_clock_ms();
	run_probe(&d, 300, 0, &r, 3000);
	snprintf(want, sizeof(want),
	         "Get \"%s\": context deadline exceeded (Client.Timeout exceeded while awaiting "
	         "headers)",
	         g_url);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	ck_assert_str_eq(r.out, want);
	ck_assert_uint_lt(r.at_ms - t0, 1500);

	int cp = closed_port();
	snprintf(g_url, sizeof(g_url), "http://127.0.0.1:%d/x", cp);
	d.http = g_url;
	d.method = "POST";
	run_probe(&d, 1000, 0, &r, 3000);
	snprintf(want, sizeof(want),
	         "Post \"%s\": dial tcp 127.0.0.1:%d: connect: connection refused", g_url, cp);
	ck_assert_str_eq(r.out, want);

	d.http = "ftp://127.0.0.1/x";
	d.method = NULL;
	run_probe(&d, 1000, 0, &r, 3000);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	ck_assert_str_eq(r.out, "Get \"ftp://127.0.0.1/x\": unsupported protocol scheme");
	teardown_ctx();
	http_server_stop();
}
END_TEST

static const char tls_server_py[] =
    "import ssl, sys, http.server\n"
    "sni = {'name': '-'}\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        b = ('sni=' + sni['name'] + ' host=' + self.headers.get('Host', '')).encode()\n"
    "        self.send_response(200)\n"
    "        self.send_header('Content-Length', str(len(b)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b)\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "def cb(sock, name, c):\n"
    "    sni['name'] = name or '-'\n"
    "ctx.sni_callback = cb\n"
    "srv = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
    "srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
    "print(srv.server_address[1], flush=True)\n"
    "srv.serve_forever()\n";

START_TEST(test_https)
{
	char dir[] = "/tmp/muster-probe-tls-XXXXXX", cmd[1024], crt[256], key[256];
	struct result r;
	int port;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(crt, sizeof(crt), "%s/c.pem", dir);
	snprintf(key, sizeof(key), "%s/k.pem", dir);
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
	         "-keyout %s -out %s >/dev/null 2>&1",
	         key, crt);
	ck_assert_int_eq(system(cmd), 0);
	char *extra[] = {crt, key, NULL};
	pid_t py = py_start(tls_server_py, extra, &port);
	setup_ctx(false, 0);

	struct msg_check_def d;
	memset(&d, 0, sizeof(d));
	snprintf(g_url, sizeof(g_url), "https://127.0.0.1:%d/", port);
	d.http = g_url;
	/* A self-signed certificate fails verification... */
	run_probe(&d, 3000, 0, &r, 5000);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	ck_assert_msg(strstr(r.out, "tls: failed to verify certificate") != NULL, "%s", r.out);
	/* ...unless TLSSkipVerify. No SNI for an IP address. */
	d.tls_skip_verify = true;
	run_probe(&d, 3000, 0, &r, 5000);
	ck_assert_int_eq(r.st, PROBE_PASSING);
	ck_assert_msg(strstr(r.out, "Output: sni=- host=127.0.0.1:") != NULL, "%s", r.out);
	/* TLSServerName is sent as SNI; the URL's host stays the Host header and in the text. */
	d.tls_server_name = "check.example";
	run_probe(&d, 3000, 0, &r, 5000);
	ck_assert_int_eq(r.st, PROBE_PASSING);
	char want[1024];
	snprintf(want, sizeof(want), "HTTP GET %s: 200 OK Output: sni=check.example host=127.0.0.1:%d",
	         g_url, port);
	ck_assert_str_eq(r.out, want);
	teardown_ctx();
	py_stop(py);
	unlink(crt);
	unlink(key);
	rmdir(dir);
}
END_TEST

/* ---- gRPC against grpcio's server (a Health service written with generic handlers) ---- */

static const char grpc_server_py[] =
    "import grpc, sys, time\n"
    "from concurrent import futures\n"
    "def deser(b):\n"
    "    i, svc = 0, b''\n"
    "    while i < len(b):\n"
    "        key = b[i]; i += 1\n"
    "        if key != 0x0a:\n"
    "            raise ValueError('field')\n"
    "        n, shift = 0, 0\n"
    "        while True:\n"
    "            c = b[i]; i += 1; n |= (c & 0x7f) << shift; shift += 7\n"
    "            if c < 0x80:\n"
    "                break\n"
    "        svc = b[i:i + n]; i += n\n"
    "    return svc.decode()\n"
    "status = {'': 1, 'ok': 1, 'down': 2, 'unknown': 0, 'svcunknown': 3}\n"
    "def check(svc, ctx):\n"
    "    if svc == 'slow':\n"
    "        time.sleep(3)\n"
    "        return 1\n"
    "    if svc not in status:\n"
    "        ctx.abort(grpc.StatusCode.NOT_FOUND, 'unknown service')\n"
    "    return status[svc]\n"
    "def ser(st):\n"
    "    return bytes([0x08, st]) if st else b''\n"
    "h = grpc.method_handlers_generic_handler('grpc.health.v1.Health', {'Check':\n"
    "    grpc.unary_unary_rpc_method_handler(check, request_deserializer=deser,\n"
    "                                        response_serializer=ser)})\n"
    "srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))\n"
    "srv.add_generic_rpc_handlers((h,))\n"
    "port = srv.add_insecure_port('127.0.0.1:0')\n"
    "srv.start()\n"
    "print(port, flush=True)\n"
    "srv.wait_for_termination()\n";

static void grpc_expect(int port, const char *svc, uint64_t timeout_ms, enum probe_status st,
                        const char *fmt)
{
	struct msg_check_def d;
	char target[128], want[512];
	struct result r;

	memset(&d, 0, sizeof(d));
	snprintf(target, sizeof(target), "127.0.0.1:%d%s%s", port, svc ? "/" : "", svc ? svc : "");
	d.grpc = target;
	run_probe(&d, timeout_ms, 0, &r, timeout_ms + 3000);
	snprintf(want, sizeof(want), fmt, target);
	ck_assert_int_eq(r.st, st);
	ck_assert_str_eq(r.out, want);
}

START_TEST(test_grpc)
{
	int port;
	pid_t py = py_start(grpc_server_py, NULL, &port);

	setup_ctx(false, 0);
	grpc_expect(port, NULL, 3000, PROBE_PASSING, "gRPC check %s: success");
	grpc_expect(port, "ok", 3000, PROBE_PASSING, "gRPC check %s: success");
	grpc_expect(port, "down", 3000, PROBE_CRITICAL, "gRPC %s serving status: NOT_SERVING");
	grpc_expect(port, "unknown", 3000, PROBE_CRITICAL, "gRPC %s serving status: UNKNOWN");
	grpc_expect(port, "svcunknown", 3000, PROBE_CRITICAL,
	            "gRPC %s serving status: SERVICE_UNKNOWN");
	grpc_expect(port, "nope", 3000, PROBE_CRITICAL,
	            "rpc error: code = NotFound desc = unknown service%.0s");
	/* The deadline is ours and, through grpc-timeout, the server's too: whichever fires
	 * first writes the description (Go's client races the same way). */
	{
		struct msg_check_def d;
		char target[128];
		struct result r;
		static const char pfx[] = "rpc error: code = DeadlineExceeded desc = ";

		memset(&d, 0, sizeof(d));
		snprintf(target, sizeof(target), "127.0.0.1:%d/slow", port);
		d.grpc = target;
		run_probe(&d, 300, 0, &r, 3300);
		ck_assert_int_eq(r.st, PROBE_CRITICAL);
		ck_assert_msg(strncmp(r.out, pfx, sizeof(pfx) - 1) == 0, "%s", r.out);
	}
	/* Nothing listening. */
	int cp = closed_port();
	char want[1024];
	snprintf(want, sizeof(want),
	         "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error "
	         "while dialing: dial tcp 127.0.0.1:%d: connect: connection refused\"%%.0s",
	         cp);
	grpc_expect(cp, NULL, 1000, PROBE_CRITICAL, want);
	teardown_ctx();
	py_stop(py);

	/* An HTTP/1 server is no gRPC server. */
	http_server_start();
	setup_ctx(false, 0);
	struct msg_check_def d;
	struct result r;
	char target[64];
	memset(&d, 0, sizeof(d));
	snprintf(target, sizeof(target), "127.0.0.1:%d", http_port);
	d.grpc = target;
	run_probe(&d, 1000, 0, &r, 4000);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	ck_assert_msg(strncmp(r.out, "rpc error: code = ", 18) == 0, "%s", r.out);
	teardown_ctx();
	http_server_stop();
}
END_TEST

/* ---- scripts ---- */

static struct msg_check_def def_script(char **argv)
{
	struct msg_check_def d;

	memset(&d, 0, sizeof(d));
	d.script_args.v = argv;
	for (d.script_args.n = 0; argv[d.script_args.n]; d.script_args.n++)
		;
	return d;
}

static void script_expect(char **argv, enum probe_status st, const char *out)
{
	struct msg_check_def d = def_script(argv);
	struct result r;

	run_probe(&d, 3000, 0, &r, 5000);
	ck_assert_int_eq(r.st, st);
	ck_assert_str_eq(r.out, out);
}

START_TEST(test_script_exit_codes)
{
	char *pass[] = {"/bin/sh", "-c", "echo hello; echo oops >&2; exit 0", NULL};
	char *warn[] = {"sh", "-c", "echo warn; exit 1", NULL};
	char *crit[] = {"sh", "-c", "echo crit; exit 2", NULL};
	char *sig[] = {"sh", "-c", "kill -9 $$", NULL};
	char *nf[] = {"no-such-command-muster", NULL};
	char *nf2[] = {"/nonexistent/muster-check", NULL};

	setup_ctx(true, 0);
	script_expect(pass, PROBE_PASSING, "hello\noops\n");
	script_expect(warn, PROBE_WARNING, "warn\n");
	script_expect(crit, PROBE_CRITICAL, "crit\n");
	script_expect(sig, PROBE_CRITICAL, "");
	script_expect(nf, PROBE_CRITICAL,
	              "exec: \"no-such-command-muster\": executable file not found in $PATH");
	script_expect(nf2, PROBE_CRITICAL,
	              "fork/exec /nonexistent/muster-check: no such file or directory");
	teardown_ctx();
}
END_TEST

START_TEST(test_script_output_and_fds)
{
	char *big[] = {"sh", "-c", "head -c 10000 /dev/zero | tr '\\0' a; printf END", NULL};
	char *fds[] = {"sh", "-c", "ls /proc/$$/fd", NULL};
	char *sigpipe[] = {"sh", "-c", "trap - PIPE; yes | head -c 3", NULL};
	struct result r;

	setup_ctx(true, 0);
	struct msg_check_def d = def_script(big);
	run_probe(&d, 3000, 100, &r, 5000);
	ck_assert_int_eq(r.st, PROBE_PASSING);
	char want[256] = "Captured 100 of 10003 bytes\n...\n";
	size_t wl = strlen(want);
	memset(want + wl, 'a', 97);
	memcpy(want + wl + 97, "END", 4);
	ck_assert_str_eq(r.out, want);
	/* Only stdin, stdout and stderr reach the script (and ls's own directory fd). */
	d = def_script(fds);
	run_probe(&d, 3000, 0, &r, 5000);
	ck_assert_msg(strcmp(r.out, "0\n1\n2\n") == 0 || strcmp(r.out, "0\n1\n2\n3\n") == 0,
	              "fds leaked into the script: %s", r.out);
	/* SIGPIPE is back to its default in the script (healthd ignores it). */
	d = def_script(sigpipe);
	run_probe(&d, 3000, 0, &r, 5000);
	ck_assert_int_eq(r.st, PROBE_PASSING);
	ck_assert_str_eq(r.out, "y\ny");
	teardown_ctx();
}
END_TEST

static bool pid_gone(pid_t pid)
{
	char path[64], stat[256] = "";

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	const char *rp = strrchr(stat, ')');
	return rp && (rp[2] == 'Z' || rp[2] == 'X'); /* killed, waiting for its reaper */
}

START_TEST(test_script_timeout_kills_group)
{
	char pidfile[] = "/tmp/muster-probe-pid-XXXXXX", cmd[256];
	int fd = mkstemp(pidfile);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "sleep 100 & echo $! > %s; echo started; sleep 100", pidfile);
	char *argv[] = {"sh", "-c", cmd, NULL};
	struct result r;

	setup_ctx(true, 0);
	struct msg_check_def d = def_script(argv);
	uint64_t t0 = ev_clock_ms();
	run_probe(&d, 400, 0, &r, 4000);
	ck_assert_int_eq(r.st, PROBE_CRITICAL);
	ck_assert_str_eq(r.out, "Timed out (400ms) running check\n\nstarted\n");
	ck_assert_uint_ge(r.at_ms - t0, 390);
	ck_assert_uint_lt(r.at_ms - t0, 2500);
	/* The background sleep was in the group: killed too. */
	FILE *f = fopen(pidfile, "r");
	int bg = 0;
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%d", &bg), 1);
	fclose(f);
	unlink(pidfile);
	uint64_t end = ev_clock_ms() + 2000;
	while (!pid_gone(bg) && ev_clock_ms() < end)
		usleep(10000);
	ck_assert_msg(pid_gone(bg), "background child %d of the script survived", bg);
	ck_assert_uint_eq(probe_running(g_pc), 0);

	/* Default timeout text uses Go's duration form. */
	char *quick[] = {"sh", "-c", "sleep 5", NULL};
	d = def_script(quick);
	run_probe(&d, 1500, 0, &r, 4000);
	ck_assert_str_eq(r.out, "Timed out (1.5s) running check");
	teardown_ctx();
}
END_TEST

START_TEST(test_script_background_holder_and_cancel)
{
	/* The script exits at once but leaves a child holding the output pipe: the result does
	 * not wait for that child. */
	char *holder[] = {"sh", "-c", "sleep 3 & echo done", NULL};
	struct result r;

	setup_ctx(true, 0);
	struct msg_check_def d = def_script(holder);
	uint64_t t0 = ev_clock_ms();
	run_probe(&d, 10000, 0, &r, 5000);
	ck_assert_int_eq(r.st, PROBE_PASSING);
	ck_assert_str_eq(r.out, "done\n");
	ck_assert_uint_lt(r.at_ms - t0, 2000);

	/* Cancel: no callback, the group is killed and reaped. */
	char *sleeper[] = {"sh", "-c", "sleep 100", NULL};
	d = def_script(sleeper);
	memset(&r, 0, sizeof(r));
	struct probe *p = probe_start(g_pc, &d, 0, 0, on_done, &r, NULL);
	ck_assert_ptr_nonnull(p);
	run_for(g_ev, 100);
	probe_cancel(p);
	uint64_t end = ev_clock_ms() + 2000;
	while (probe_running(g_pc) > 0 && ev_clock_ms() < end)
		ev_run_once(g_ev, 10);
	ck_assert_uint_eq(probe_running(g_pc), 0);
	ck_assert_int_eq(r.calls, 0);
	teardown_ctx();
}
END_TEST

/* A callback may start the next probe (healthd does: a result, then the next run). */
static struct result chain_r[3];
static int chain_n;
static struct msg_check_def chain_def;

static void chain_done(void *arg, enum probe_status st, const char *out, size_t len)
{
	on_done(arg, st, out, len);
	if (++chain_n < 3)
		ck_assert_ptr_nonnull(
		    probe_start(g_pc, &chain_def, 1000, 0, chain_done, &chain_r[chain_n], NULL));
}

START_TEST(test_start_from_callback)
{
	int port, lfd = listen_on(16, &port);
	char addr[64];

	setup_ctx(false, 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	chain_def = def_tcp(addr);
	chain_n = 0;
	memset(chain_r, 0, sizeof(chain_r));
	ck_assert_ptr_nonnull(probe_start(g_pc, &chain_def, 1000, 0, chain_done, &chain_r[0], NULL));
	wait_result(g_ev, &chain_r[0], 2000);
	wait_result(g_ev, &chain_r[1], 2000);
	wait_result(g_ev, &chain_r[2], 2000);
	ck_assert_int_eq(chain_n, 3);
	teardown_ctx();
	close(lfd);
}
END_TEST

static Suite *probe_suite(void)
{
	Suite *s = suite_create("probe");
	TCase *tc = tcase_create("probe");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_tcp_open_closed);
	tcase_add_test(tc, test_tcp_ipv6);
	tcase_add_test(tc, test_udp);
	tcase_add_test(tc, test_tcp_timeout);
	tcase_add_test(tc, test_many_tcp_at_once);
	tcase_add_test(tc, test_kinds_and_refusals);
	tcase_add_test(tc, test_http_status);
	tcase_add_test(tc, test_http_echo);
	tcase_add_test(tc, test_http_output_cap);
	tcase_add_test(tc, test_http_errors);
	tcase_add_test(tc, test_https);
	tcase_add_test(tc, test_grpc);
	tcase_add_test(tc, test_script_exit_codes);
	tcase_add_test(tc, test_script_output_and_fds);
	tcase_add_test(tc, test_script_timeout_kills_group);
	tcase_add_test(tc, test_script_background_holder_and_cancel);
	tcase_add_test(tc, test_start_from_callback);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(probe_suite());
}

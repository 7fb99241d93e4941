/* probe.h: one probe of a check (TCP, HTTP/HTTPS, gRPC, script), run inside healthd's loop,
 * never blocking it. */
#ifndef MUSTER_PROBE_H
#define MUSTER_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h" /* struct msg_check_def */

/*
 * Each kind follows Consul's runner in agent/checks/check.go and its texts:
 *   tcp     a non-blocking connect; "TCP connect <addr>: Success", else Go's dial error
 *           ("dial tcp 127.0.0.1:1: connect: connection refused", "... i/o timeout"). A
 *           numeric address is connected directly; a host name goes through libcurl's
 *           resolver (connect only), so no lookup blocks the loop.
 *   http    libcurl multi on the loop's fds and timers; 2xx passing, 429 warning, else
 *           critical; "HTTP <METHOD> <url>: <code> <reason> Output: <body>" (the body's first
 *           output_max bytes; the transfer stops there). Method, Header (one line per value;
 *           a Host header sets the host), Body, TLSSkipVerify, TLSServerName (SNI and the name
 *           verified), DisableRedirects (else up to 10 followed, as Go's client); User-Agent
 *           "Consul Health Check" and Consul's Accept (text/plain, then any text, then
 *           anything) unless given; no
 *           connection reuse (Consul disables keep-alives). Errors as Go's client words them:
 *           `Get "<url>": dial tcp ...: connect: connection refused`, `Get "<url>": context
 *           deadline exceeded (Client.Timeout exceeded while awaiting headers)`.
 *   grpc    grpc.health.v1.Health/Check over HTTP/2 (h2c with prior knowledge; TLS with
 *           grpc_use_tls, ALPN h2): target "host:port[/service]"; SERVING passing ("gRPC check
 *           <target>: success"), any other answer critical ("gRPC <target> serving status:
 *           NOT_SERVING", "rpc error: code = NotFound desc = unknown service", ...).
 *   script  script_args run in a process group of their own, stdout and stderr into one pipe
 *           (the last output_max bytes kept, "Captured <n> of <total> bytes\n...\n" before them
 *           when cut, as Consul's circbuf); exit 0 passing, 1 warning, else critical; on
 *           timeout the whole group gets SIGKILL: "Timed out (<dur>) running check" plus
 *           "\n\n<output>" when there was any. Reaped through a pidfd (no SIGCHLD handler, so
 *           nothing of common/daemon.c's signals or musterd's lifeline changes). Only with
 *           enable_script_checks.
 * Timeout 0 means Consul's default for the kind: 10 s, 30 s for a script (CheckMonitor).
 */

#define PROBE_OUTPUT_DEFAULT  4096   /* output_max 0 (checks.DefaultBufSize) */
#define PROBE_OUTPUT_MAX      (1u << 20)
#define PROBE_TIMEOUT_DEFAULT 10000  /* ms (TCP, HTTP, gRPC) */
#define PROBE_SCRIPT_TIMEOUT_DEFAULT 30000
#define PROBE_RUNNING_DEFAULT 256    /* max_running 0; each probe holds 1–2 fds of ev's 1024 */
#define PROBE_GRPC_BODY_MAX   65536  /* bytes of a gRPC answer read */
#define PROBE_DELIVER_PER_TURN 256   /* results handed out per loop turn */

struct ev;
enum probe_status { PROBE_PASSING = 0, PROBE_WARNING = 1, PROBE_CRITICAL = 2 };
struct probe_limits {
	size_t max_running;        /* probes at once; more are refused by probe_start (NULL) */
	bool enable_script_checks; /* or enable_local_script_checks: script probes allowed */
};
/* Called once per probe (never from inside probe_start): output is Consul's text for that kind
 * (agent/checks/check.go: e.g. "TCP connect 127.0.0.1:80: Success", "HTTP GET http://x: 200 OK
 * Output: ...", "gRPC check 127.0.0.1:50051: success", a script's stdout+stderr), capped at the
 * output_max given. Valid during the call only. The callback may start and cancel probes, but
 * not free the context. */
typedef void (*probe_done_fn)(void *arg, enum probe_status st, const char *output, size_t len);
struct probe_ctx;
struct probe;
/* NULL when out of memory (or libcurl cannot start). */
struct probe_ctx *probe_ctx_new(struct ev *ev, const struct probe_limits *lim);
void probe_ctx_free(struct probe_ctx *c); /* cancels every running probe (no callbacks) */
/* kind is taken from def: tcp, http (method, header, body, tls_skip_verify, tls_server_name,
 * disable_redirects), grpc (grpc_use_tls), script_args (needs enable_script_checks). timeout_ms 0:
 * 10 s. NULL when refused (limit reached, or a kind it cannot run: *why says so). A probe that
 * fails at once (a malformed address, a script that cannot be executed) is not refused: its
 * critical result comes through fn like any other. */
struct probe *probe_start(struct probe_ctx *c, const struct msg_check_def *def, uint64_t timeout_ms,
                          size_t output_max, probe_done_fn fn, void *arg, const char **why);
void probe_cancel(struct probe *p); /* no callback afterwards */
size_t probe_running(const struct probe_ctx *c);
/* "tcp", "http", "grpc", "script", or NULL when def names no probe kind */
const char *probe_kind(const struct msg_check_def *def);

/* Changes the limits (a config reload); running probes are not touched. */
void probe_ctx_set_limits(struct probe_ctx *c, const struct probe_limits *lim);

/* Counters for healthd's STATS. */
struct probe_stats {
	uint64_t started, refused, passing, warning, critical, timeouts, cancelled;
};
void probe_ctx_stats(const struct probe_ctx *c, struct probe_stats *out);

#endif

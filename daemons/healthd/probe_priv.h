/* probe_priv.h: what the probe kinds (probe_tcp.c, probe_curl.c, probe_script.c) share with
 * probe.c; not for the rest of healthd. */
#ifndef MUSTER_PROBE_PRIV_H
#define MUSTER_PROBE_PRIV_H

#include <curl/curl.h>
#include <sys/types.h>

#include "probe.h"
#include "probe_grpc.h"

enum probe_kind_id { PROBE_K_TCP, PROBE_K_TCPNAME, PROBE_K_HTTP, PROBE_K_GRPC, PROBE_K_SCRIPT, PROBE_K_UDP };

enum probe_state {
	PROBE_S_RUNNING,  /* in flight: counted in probe_running() */
	PROBE_S_READY,    /* result kept, waiting in the ready queue */
};

/* A killed script's process that did not go within PROBE_KILL_GUARD_MS: its result was handed
 * out, the process is reaped here when it finally goes (and counted in probe_running()). */
#define PROBE_KILL_GUARD_MS 2000
struct probe_zombie {
	struct probe_zombie *next;
	struct probe_ctx *c;
	pid_t pid;
	int pidfd, watch;
	uint64_t timer; /* the poll when there is no pidfd */
};

struct probe {
	struct probe_ctx *c;
	struct probe *prev, *next;   /* c->all */
	struct probe *rnext;         /* c->ready_head.. */
	enum probe_kind_id kind;
	enum probe_state state;
	bool delivering;
	probe_done_fn fn;
	void *arg;
	size_t output_max;
	uint64_t timeout_ms;
	uint64_t timer; /* the kind's own timer (TCP timeout, script timeout / kill guard) */
	char *target;   /* the address, URL or gRPC target as given (for texts) */

	/* the result */
	enum probe_status st;
	char *out;
	size_t outlen;

	/* tcp */
	int fd, watch;
	char peer[300]; /* "127.0.0.1:80", "[::1]:80" for Go's texts */

	/* curl (http, grpc, tcp by name) */
	CURL *easy;
	struct curl_slist *hdrs;
	struct curl_slist *connect_to;
	char *method;
	char *body;
	size_t body_len, body_cap;
	bool body_full;
	int http_code;
	char reason[128];
	struct probe_grpc_resp g;
	char errbuf[CURL_ERROR_SIZE];

	/* script */
	pid_t pid;
	int pidfd, pidwatch, outfd, outwatch;
	char *ring;
	size_t ring_len, ring_pos;
	uint64_t total;
	bool exited, timed_out;
	uint64_t deadline_ms;
	int wstatus;
};

struct probe_ctx {
	struct ev *ev;
	struct probe_limits lim;
	struct probe *all;
	struct probe *ready_head, *ready_tail;
	uint64_t deliver_timer;
	size_t running;
	struct probe_stats stats;
	/* libcurl multi, driven by ev (probe_curl.c) */
	CURLM *multi;
	uint64_t curl_timer;
	struct probe_zombie *zombies;
	size_t nzombies;
};

/* Keeps the result and queues it for the loop (never calls fn from here). text is copied. */
void probe_finish(struct probe *p, enum probe_status st, const char *text, size_t len);
void probe_finishf(struct probe *p, enum probe_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Go's lower-case syscall texts ("connection refused"). */
const char *probe_errno_text(int err, char buf[128]);

/* Each kind: start (0, or -1 with *why: refused) and stop (frees the kind's resources, no
 * result). A start may finish at once through probe_finish. */
int probe_tcp_start(struct probe *p, const char *addr, const char **why);
/* Consul's CheckUDP: an empty datagram, then a read until the timeout (probe_tcp.c). */
int probe_udp_start(struct probe *p, const char *addr, const char **why);
void probe_tcp_stop(struct probe *p);
int probe_curl_init(struct probe_ctx *c);
void probe_curl_fini(struct probe_ctx *c);
int probe_http_start(struct probe *p, const struct msg_check_def *def, const char **why);
int probe_grpc_start(struct probe *p, const struct msg_check_def *def, const char **why);
int probe_tcpname_start(struct probe *p, const char *addr, const char **why);
void probe_curl_stop(struct probe *p);
int probe_script_start(struct probe *p, const struct msg_check_def *def, const char **why);
/* Stops a script probe: SIGKILL to its group; a process not reaped at once becomes a zombie
 * record of the context. */
void probe_script_stop(struct probe *p);
/* Kills and forgets every zombie record (the context going away). */
void probe_zombies_free(struct probe_ctx *c);

#endif

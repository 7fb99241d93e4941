/* probe.c: the probe context: starting, limiting, cancelling probes and handing their results to
 * the loop (probe.h); the kinds live in probe_tcp.c, probe_curl.c and probe_script.c. */
#include "probe_priv.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ev.h"
#include "log.h"

static bool str_set(const char *s)
{
	return s && s[0];
}

const char *probe_kind(const struct msg_check_def *def)
{
	/* agent.go addCheck tests HTTP, TCP, ..., Docker, Monitor (script), GRPC in this order. */
	if (str_set(def->http))
		return "http";
	if (str_set(def->tcp))
		return "tcp";
	if (str_set(def->udp))
		return "udp";
	if (def->script_args.n > 0 && !str_set(def->docker_container_id))
		return "script";
	if (str_set(def->grpc))
		return "grpc";
	return NULL;
}

static const char *why_unsupported(const struct msg_check_def *def)
{
	if (str_set(def->h2ping))
		return "H2PING checks are not supported";
	if (str_set(def->os_service))
		return "OSService checks are not supported";
	if (str_set(def->docker_container_id))
		return "Docker checks are not supported";
	return "the check names no probe (tcp, http, grpc or args)";
}

const char *probe_errno_text(int err, char buf[128])
{
	const char *s = strerror_r(err, buf, 128);

	if (s != buf) {
		snprintf(buf, 128, "%s", s);
	}
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

static void probe_set_limits(struct probe_ctx *c, const struct probe_limits *lim)
{
	c->lim = *lim;
	if (c->lim.max_running == 0)
		c->lim.max_running = PROBE_RUNNING_DEFAULT;
}

struct probe_ctx *probe_ctx_new(struct ev *ev, const struct probe_limits *lim)
{
	struct probe_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ev = ev;
	probe_set_limits(c, lim);
	if (probe_curl_init(c) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

void probe_ctx_set_limits(struct probe_ctx *c, const struct probe_limits *lim)
{
	probe_set_limits(c, lim);
}

void probe_ctx_stats(const struct probe_ctx *c, struct probe_stats *out)
{
	*out = c->stats;
}

size_t probe_running(const struct probe_ctx *c)
{
	return c->running + c->nzombies;
}

static void probe_free(struct probe *p)
{
	struct probe_ctx *c = p->c;

	if (p->prev)
		p->prev->next = p->next;
	else
		c->all = p->next;
	if (p->next)
		p->next->prev = p->prev;
	free(p->target);
	free(p->out);
	free(p->method);
	free(p->body);
	free(p->ring);
	free(p);
}

/* Frees what the kind holds, without a result. */
static void probe_stop_kind(struct probe *p)
{
	switch (p->kind) {
	case PROBE_K_TCP:
	case PROBE_K_UDP:
		probe_tcp_stop(p);
		break;
	case PROBE_K_TCPNAME:
	case PROBE_K_HTTP:
	case PROBE_K_GRPC:
		probe_curl_stop(p);
		break;
	case PROBE_K_SCRIPT:
		probe_script_stop(p);
		break;
	}
}

void probe_ctx_free(struct probe_ctx *c)
{
	if (!c)
		return;
	while (c->all) {
		struct probe *p = c->all;
		if (p->state == PROBE_S_RUNNING)
			probe_stop_kind(p);
		probe_free(p);
	}
	if (c->deliver_timer)
		ev_timer_del(c->ev, c->deliver_timer);
	probe_zombies_free(c);
	probe_curl_fini(c);
	free(c);
}

/* ---- results: queued, then handed out from a timer of the loop ---- */

static void probe_deliver(struct ev *ev, void *arg)
{
	struct probe_ctx *c = arg;

	c->deliver_timer = 0;
	for (int i = 0; i < PROBE_DELIVER_PER_TURN && c->ready_head; i++) {
		struct probe *p = c->ready_head;
		c->ready_head = p->rnext;
		if (!c->ready_head)
			c->ready_tail = NULL;
		p->delivering = true;
		if (p->fn)
			p->fn(p->arg, p->st, p->out ? p->out : "", p->outlen);
		probe_free(p);
	}
	if (c->ready_head)
		c->deliver_timer = ev_timer_add(ev, 0, probe_deliver, c);
}

void probe_finish(struct probe *p, enum probe_status st, const char *text, size_t len)
{
	struct probe_ctx *c = p->c;

	assert(p->state == PROBE_S_RUNNING);
	p->out = malloc(len + 1);
	if (p->out) {
		memcpy(p->out, text, len);
		p->out[len] = '\0';
		p->outlen = len;
	} else {
		p->outlen = 0;
	}
	p->st = st;
	p->state = PROBE_S_READY;
	assert(c->running > 0);
	c->running--;
	if (st == PROBE_PASSING)
		c->stats.passing++;
	else if (st == PROBE_WARNING)
		c->stats.warning++;
	else
		c->stats.critical++;
	p->rnext = NULL;
	if (c->ready_tail)
		c->ready_tail->rnext = p;
	else
		c->ready_head = p;
	c->ready_tail = p;
	if (!c->deliver_timer)
		c->deliver_timer = ev_timer_add(c->ev, 0, probe_deliver, c);
}

void probe_finishf(struct probe *p, enum probe_status st, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	probe_finish(p, st, buf, (size_t)n);
}

/* ---- start and cancel ---- */

struct probe *probe_start(struct probe_ctx *c, const struct msg_check_def *def, uint64_t timeout_ms,
                          size_t output_max, probe_done_fn fn, void *arg, const char **why)
{
	const char *kind = probe_kind(def);
	const char *dummy;
	struct probe *p;
	int rc;

	if (!why)
		why = &dummy;
	if (!kind) {
		*why = why_unsupported(def);
		c->stats.refused++;
		return NULL;
	}
	if (strcmp(kind, "script") == 0 && !c->lim.enable_script_checks) {
		/* agent.go's text for a script check on an agent that does not allow them. */
		*why = "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' "
		       "or 'enable_local_script_checks' to true";
		c->stats.refused++;
		return NULL;
	}
	if (probe_running(c) >= c->lim.max_running) {
		*why = "too many probes running at once (max_running)";
		c->stats.refused++;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		*why = "out of memory";
		c->stats.refused++;
		return NULL;
	}
	p->c = c;
	p->fn = fn;
	p->arg = arg;
	p->fd = p->pidfd = p->outfd = -1;
	p->watch = p->pidwatch = p->outwatch = -1;
	p->output_max = output_max ? output_max : PROBE_OUTPUT_DEFAULT;
	if (p->output_max > PROBE_OUTPUT_MAX)
		p->output_max = PROBE_OUTPUT_MAX;
	p->state = PROBE_S_RUNNING;
	p->next = c->all;
	if (c->all)
		c->all->prev = p;
	c->all = p;
	c->running++;

	if (strcmp(kind, "script") == 0) {
		p->kind = PROBE_K_SCRIPT;
		p->timeout_ms = timeout_ms ? timeout_ms : PROBE_SCRIPT_TIMEOUT_DEFAULT;
		rc = probe_script_start(p, def, why);
	} else {
		p->timeout_ms = timeout_ms ? timeout_ms : PROBE_TIMEOUT_DEFAULT;
		if (strcmp(kind, "http") == 0) {
			p->kind = PROBE_K_HTTP;
			rc = probe_http_start(p, def, why);
		} else if (strcmp(kind, "grpc") == 0) {
			p->kind = PROBE_K_GRPC;
			rc = probe_grpc_start(p, def, why);
		} else if (strcmp(kind, "udp") == 0) {
			p->kind = PROBE_K_UDP;
			rc = probe_udp_start(p, def->udp, why);
		} else {
			p->kind = PROBE_K_TCP;
			rc = probe_tcp_start(p, def->tcp, why);
		}
	}
	if (rc != 0) {
		if (p->state == PROBE_S_RUNNING)
			c->running--;
		probe_free(p);
		c->stats.refused++;
		return NULL;
	}
	c->stats.started++;
	return p;
}

void probe_cancel(struct probe *p)
{
	if (!p || p->delivering)
		return;
	struct probe_ctx *c = p->c;
	if (p->state == PROBE_S_READY) {
		struct probe **pp = &c->ready_head, *prev = NULL;
		while (*pp && *pp != p) {
			prev = *pp;
			pp = &(*pp)->rnext;
		}
		assert(*pp == p);
		*pp = p->rnext;
		if (c->ready_tail == p)
			c->ready_tail = prev;
	} else {
		probe_stop_kind(p);
		assert(c->running > 0);
		c->running--;
	}
	c->stats.cancelled++;
	probe_free(p);
}

/* ipc.c: the bus: ROUTER/DEALER requests with deadlines, PUB/SUB events (DESIGN.md §2). */
#include "ipc.h"
#include "buf.h"
#include "ev.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define IPC_SUN_PATH_MAX 107

static void *ipc_zctx;

void *ipc_ctx(void)
{
	if (ipc_zctx == NULL) {
		ipc_zctx = zmq_ctx_new();
		assert(ipc_zctx != NULL);
		/* One I/O thread is plenty for IPC; keep daemons small. */
		zmq_ctx_set(ipc_zctx, ZMQ_IO_THREADS, 1);
	}
	return ipc_zctx;
}

void ipc_ctx_term(void)
{
	if (ipc_zctx != NULL) {
		zmq_ctx_term(ipc_zctx);
		ipc_zctx = NULL;
	}
}

int ipc_endpoint(char *out, size_t size, const char *run_dir, const char *name, const char *kind)
{
	int n = snprintf(out, size, "ipc://%s/%s.%s", run_dir, name, kind);

	if (n < 0 || (size_t)n >= size || (size_t)n - strlen("ipc://") > IPC_SUN_PATH_MAX) {
		log_errorx("ipc: endpoint %s/%s.%s is longer than a UNIX socket path allows (%d)",
		           run_dir, name, kind, IPC_SUN_PATH_MAX);
		return -1;
	}
	return 0;
}

/* Options every bus socket gets: bounded frames and queues, and no linger
 * at close (a daemon that exits must not hang on undelivered replies). */
static void *ipc_socket(int type)
{
	void *z = zmq_socket(ipc_ctx(), type);
	int64_t maxsize = IPC_MSG_SIZE_MAX;
	int hwm = IPC_HWM, linger = 0;

	if (z == NULL) {
		log_errorx("ipc: zmq_socket: %s", zmq_strerror(errno));
		return NULL;
	}
	zmq_setsockopt(z, ZMQ_MAXMSGSIZE, &maxsize, sizeof(maxsize));
	zmq_setsockopt(z, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(z, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(z, ZMQ_LINGER, &linger, sizeof(linger));
	return z;
}

/* A bus socket at <run_dir>/<name>.<kind>: bound (the owner of the
 * endpoint) or connected (a peer of it). routing_id names the caller on a
 * DEALER. NULL after logging why. */
static void *ipc_open(int type, const char *run_dir, const char *name, const char *kind, bool bind,
                      const char *routing_id)
{
	char ep[256];
	void *z;
	int one = 1;

	if (ipc_endpoint(ep, sizeof(ep), run_dir, name, kind) != 0)
		return NULL;
	z = ipc_socket(type);
	if (z == NULL)
		return NULL;
	if (type == ZMQ_ROUTER) {
		/* A restarted peer reconnects with the same routing id: let the
		 * new connection take the id over instead of being refused. */
		zmq_setsockopt(z, ZMQ_ROUTER_HANDOVER, &one, sizeof(one));
		/* Replies to a peer that is gone fail at once (EHOSTUNREACH). */
		zmq_setsockopt(z, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	}
	if (routing_id != NULL)
		zmq_setsockopt(z, ZMQ_ROUTING_ID, routing_id, strlen(routing_id));
	if ((bind ? zmq_bind(z, ep) : zmq_connect(z, ep)) != 0) {
		log_errorx("ipc: %s %s: %s", bind ? "bind" : "connect", ep, zmq_strerror(errno));
		zmq_close(z);
		return NULL;
	}
	return z;
}

static int ipc_encode(struct msg *m, struct buf *out)
{
	buf_init(out, IPC_MSG_SIZE_MAX);
	if (msg_encode(m, out) != 0 || out->err) {
		log_errorx("ipc: %s does not fit in %u bytes", msg_type_name(m->type),
		           IPC_MSG_SIZE_MAX);
		buf_fini(out);
		return -1;
	}
	return 0;
}

/* Logs a frame that failed to decode, once per kind of failure and peer
 * at warn level, the rest at debug (a flood must not flood the log). */
static void ipc_log_refused(const char *where, const char *peer, enum msg_err e, uint64_t count)
{
	enum log_level lvl = count <= 10 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;

	log_msg(lvl, "ipc %s: frame from %s refused: %s (%llu so far)", where, peer, msg_err_str(e),
	        (unsigned long long)count);
}

/* Reads and drops the rest of a multipart message (its parts arrive
 * together, so DONTWAIT finds them all). */
static void ipc_drain_multipart(void *z)
{
	int more = 1;

	while (more) {
		zmq_msg_t part;

		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, z, ZMQ_DONTWAIT) < 0)
			more = 0;
		else
			more = zmq_msg_more(&part);
		zmq_msg_close(&part);
	}
}

/* ------------------------------------------------------------------ server */

struct ipc_server {
	struct ev *ev;
	void *z;
	int watch;
	char name[IPC_NAME_MAX];
	ipc_request_cb cb;
	void *arg;
	struct ipc_counters ctr;
};

static void ipc_server_read(struct ev *ev, int revents, void *arg)
{
	struct ipc_server *s = arg;

	(void)ev;
	(void)revents;
	for (int n = 0; n < IPC_RECV_PER_TURN; n++) {
		zmq_msg_t id, body;
		struct ipc_from from;
		struct msg m;
		enum msg_err e;
		size_t idlen;
		int more;

		zmq_msg_init(&id);
		if (zmq_msg_recv(&id, s->z, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&id);
			return;
		}
		more = zmq_msg_more(&id);
		zmq_msg_init(&body);
		if (!more || zmq_msg_recv(&body, s->z, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&id);
			zmq_msg_close(&body);
			s->ctr.malformed++;
			continue;
		}
		/* One message is one frame (DESIGN.md §2): drop the whole
		 * multipart, counted once. */
		if (zmq_msg_more(&body)) {
			ipc_drain_multipart(s->z);
			zmq_msg_close(&id);
			zmq_msg_close(&body);
			s->ctr.malformed++;
			continue;
		}
		s->ctr.received++;
		memset(&from, 0, sizeof(from));
		idlen = zmq_msg_size(&id);
		if (idlen >= sizeof(from.name))
			idlen = sizeof(from.name) - 1;
		memcpy(from.name, zmq_msg_data(&id), idlen);
		/* "<daemon>/<tag>" is that daemon too: a tool or test that holds
		 * several sockets needs distinct routing ids, since a ROUTER
		 * hands a reused id over to its newest connection. */
		{
			const char *slash = memchr(from.name, '/', idlen);

			from.peer = msg_peer_from_name(
			    from.name, slash ? (size_t)(slash - from.name) : idlen);
		}
		zmq_msg_close(&id);
		if (from.peer == 0) {
			s->ctr.refused++;
			ipc_log_refused(s->name, "an unknown peer", MSG_ESENDER, s->ctr.refused);
			zmq_msg_close(&body);
			continue;
		}
		e = msg_decode(zmq_msg_data(&body), zmq_msg_size(&body), from.peer, &m);
		zmq_msg_close(&body);
		if (e != MSG_OK) {
			if (e == MSG_ESENDER)
				s->ctr.refused++;
			else
				s->ctr.malformed++;
			ipc_log_refused(s->name, from.name, e,
			                e == MSG_ESENDER ? s->ctr.refused : s->ctr.malformed);
			continue;
		}
		from.req_id = m.req_id;
		s->cb(s, &from, &m, s->arg);
		msg_free(&m);
	}
}

struct ipc_server *ipc_server_new(struct ev *ev, const char *run_dir, const char *name,
                                  ipc_request_cb cb, void *arg)
{
	struct ipc_server *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->ev = ev;
	s->cb = cb;
	s->arg = arg;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->z = ipc_open(ZMQ_ROUTER, run_dir, name, "rpc", true, NULL);
	if (s->z != NULL)
		s->watch = ev_add_zsock(ev, s->z, EV_READ, ipc_server_read, s);
	if (s->z == NULL || s->watch < 0) {
		if (s->z != NULL)
			zmq_close(s->z);
		free(s);
		return NULL;
	}
	return s;
}

void ipc_server_free(struct ipc_server *s)
{
	if (s == NULL)
		return;
	ev_del(s->ev, s->watch);
	zmq_close(s->z);
	free(s);
}

int ipc_reply(struct ipc_server *s, const struct ipc_from *from, struct msg *reply)
{
	struct buf b;
	int rc = -1;

	reply->req_id = from->req_id;
	if (ipc_encode(reply, &b) != 0)
		return -1;
	if (zmq_send(s->z, from->name, strlen(from->name), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
	    zmq_send(s->z, b.p, b.len, ZMQ_DONTWAIT) >= 0) {
		s->ctr.sent++;
		rc = 0;
	} else {
		s->ctr.dropped++;
		log_debug("ipc %s: reply %s to %s dropped: %s", s->name, msg_type_name(reply->type),
		          from->name, zmq_strerror(errno));
	}
	buf_fini(&b);
	return rc;
}

int ipc_reply_result(struct ipc_server *s, const struct ipc_from *from, unsigned status,
                     const char *error)
{
	struct msg r;

	memset(&r, 0, sizeof(r));
	r.type = MSG_RESULT;
	r.u.result.status = status;
	r.u.result.error = (char *)(error ? error : "");
	return ipc_reply(s, from, &r);
}

const struct ipc_counters *ipc_server_counters(const struct ipc_server *s)
{
	return &s->ctr;
}

/* ------------------------------------------------------------------ client */

struct ipc_pending {
	uint64_t req_id;
	uint64_t timer;
	ipc_reply_cb cb;
	void *arg;
	struct ipc_client *c;
	bool used;
};

struct ipc_client {
	struct ev *ev;
	void *z;
	int watch;
	char peer[IPC_NAME_MAX];
	unsigned peer_bit;
	uint64_t next_req_id;
	struct ipc_pending *pend; /* IPC_PENDING_MAX slots, see ipc_pending_find */
	size_t npend, pend_size;
	struct ipc_counters ctr;
};

const char *ipc_status_str(enum ipc_status st)
{
	switch (st) {
	case IPC_OK:
		return "ok";
	case IPC_TIMEOUT:
		return "timeout";
	case IPC_UNAVAILABLE:
		return "unavailable";
	case IPC_BAD_REPLY:
		return "bad reply";
	case IPC_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

/* Request ids are sequential, so slot = id mod IPC_PENDING_MAX finds a
 * pending request in O(1); ipc_call skips ids whose slot is still taken. */
static struct ipc_pending *ipc_pending_find(struct ipc_client *c, uint64_t req_id)
{
	struct ipc_pending *p;

	if (c->pend == NULL)
		return NULL;
	p = &c->pend[req_id % IPC_PENDING_MAX];
	return p->used && p->req_id == req_id ? p : NULL;
}

static void ipc_pending_done(struct ipc_client *c, struct ipc_pending *p, enum ipc_status st,
                             struct msg *reply)
{
	ipc_reply_cb cb = p->cb;
	void *arg = p->arg;

	if (p->timer != 0)
		ev_timer_del(c->ev, p->timer);
	p->used = false;
	c->npend--;
	cb(arg, st, reply);
}

static void ipc_client_read(struct ev *ev, int revents, void *arg)
{
	struct ipc_client *c = arg;

	(void)ev;
	(void)revents;
	for (int n = 0; n < IPC_RECV_PER_TURN; n++) {
		zmq_msg_t body;
		struct ipc_pending *p;
		struct msg m;
		enum msg_err e;

		zmq_msg_init(&body);
		if (zmq_msg_recv(&body, c->z, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&body);
			return;
		}
		if (zmq_msg_more(&body)) {
			/* Not a frame we send: skip the whole multipart. */
			ipc_drain_multipart(c->z);
			c->ctr.malformed++;
			zmq_msg_close(&body);
			continue;
		}
		c->ctr.received++;
		e = msg_decode(zmq_msg_data(&body), zmq_msg_size(&body), c->peer_bit, &m);
		zmq_msg_close(&body);
		if (e != MSG_OK) {
			/* Without a decoded request id the pending request
			 * cannot be matched; its deadline reports it. */
			c->ctr.malformed++;
			ipc_log_refused(c->peer, c->peer, e, c->ctr.malformed);
			continue;
		}
		p = ipc_pending_find(c, m.req_id);
		if (p == NULL) {
			c->ctr.late++;
			log_debug("ipc: late or unknown reply %s req=%llu from %s",
			          msg_type_name(m.type), (unsigned long long)m.req_id, c->peer);
		} else {
			ipc_pending_done(c, p, IPC_OK, &m);
		}
		msg_free(&m);
	}
}

struct ipc_client *ipc_client_new(struct ev *ev, const char *run_dir, const char *self,
                                  const char *peer)
{
	struct ipc_client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->ev = ev;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->peer_bit = msg_peer_from_name(peer, strlen(peer));
	c->next_req_id = 1;
	c->z = ipc_open(ZMQ_DEALER, run_dir, peer, "rpc", false, self);
	if (c->z != NULL && ev != NULL)
		c->watch = ev_add_zsock(ev, c->z, EV_READ, ipc_client_read, c);
	if (c->z == NULL || c->watch < 0) {
		if (c->z != NULL)
			zmq_close(c->z);
		free(c);
		return NULL;
	}
	return c;
}

void ipc_client_free(struct ipc_client *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->pend_size; i++)
		if (c->pend[i].used)
			ipc_pending_done(c, &c->pend[i], IPC_CANCELLED, NULL);
	if (c->ev != NULL)
		ev_del(c->ev, c->watch);
	zmq_close(c->z);
	free(c->pend);
	free(c);
}

static void ipc_call_timeout(struct ev *ev, void *arg)
{
	struct ipc_pending *p = arg;
	struct ipc_client *c = p->c;

	(void)ev;
	p->timer = 0;
	c->ctr.timeouts++;
	log_debug("ipc: request req=%llu to %s timed out", (unsigned long long)p->req_id, c->peer);
	ipc_pending_done(c, p, IPC_TIMEOUT, NULL);
}

static int ipc_send_frame(struct ipc_client *c, struct msg *m)
{
	struct buf b;
	int rc;

	if (ipc_encode(m, &b) != 0)
		return -1;
	rc = zmq_send(c->z, b.p, b.len, ZMQ_DONTWAIT);
	buf_fini(&b);
	if (rc < 0) {
		c->ctr.dropped++;
		log_debug("ipc: send %s to %s: %s", msg_type_name(m->type), c->peer,
		          zmq_strerror(errno));
		return -1;
	}
	c->ctr.sent++;
	return 0;
}

int ipc_call(struct ipc_client *c, struct msg *req, uint64_t timeout_ms, ipc_reply_cb cb, void *arg)
{
	struct ipc_pending *p;

	assert(c->ev != NULL && cb != NULL);
	if (c->npend >= IPC_PENDING_MAX) {
		c->ctr.dropped++;
		log_warnx("ipc: %zu requests in flight to %s, refusing more", c->npend, c->peer);
		return -1;
	}
	/* The table never shrinks; pending entries are addressed by pointer
	 * from their timers, so it must not move while any is in use. It is
	 * allocated at its full bound on first use. */
	if (c->pend == NULL) {
		c->pend = calloc(IPC_PENDING_MAX, sizeof(*c->pend));
		if (c->pend == NULL)
			return -1;
		c->pend_size = IPC_PENDING_MAX;
	}
	while (c->pend[c->next_req_id % IPC_PENDING_MAX].used)
		c->next_req_id++;
	p = &c->pend[c->next_req_id % IPC_PENDING_MAX];
	req->req_id = c->next_req_id++;
	if (ipc_send_frame(c, req) != 0)
		return -1;
	p->used = true;
	p->req_id = req->req_id;
	p->cb = cb;
	p->arg = arg;
	p->c = c;
	p->timer = ev_timer_add(c->ev, timeout_ms, ipc_call_timeout, p);
	c->npend++;
	return 0;
}

int ipc_send(struct ipc_client *c, struct msg *m)
{
	m->req_id = 0;
	return ipc_send_frame(c, m);
}

size_t ipc_client_pending(const struct ipc_client *c)
{
	return c->npend;
}

const struct ipc_counters *ipc_client_counters(const struct ipc_client *c)
{
	return &c->ctr;
}

enum ipc_status ipc_call_sync(const char *run_dir, const char *self, const char *peer,
                              struct msg *req, uint64_t timeout_ms, struct msg *reply)
{
	struct ipc_client *c = ipc_client_new(NULL, run_dir, self, peer);
	uint64_t deadline = ev_clock_ms() + timeout_ms;
	enum ipc_status st = IPC_TIMEOUT;

	memset(reply, 0, sizeof(*reply));
	if (c == NULL)
		return IPC_UNAVAILABLE;
	req->req_id = 1;
	if (ipc_send_frame(c, req) != 0) {
		ipc_client_free(c);
		return IPC_UNAVAILABLE;
	}
	for (;;) {
		uint64_t now = ev_clock_ms();
		zmq_pollitem_t it = {c->z, -1, ZMQ_POLLIN, 0};
		zmq_msg_t body;

		if (now >= deadline)
			break;
		if (zmq_poll(&it, 1, (long)(deadline - now)) <= 0)
			continue;
		zmq_msg_init(&body);
		if (zmq_msg_recv(&body, c->z, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&body);
			continue;
		}
		if (msg_decode(zmq_msg_data(&body), zmq_msg_size(&body), c->peer_bit, reply) !=
		    MSG_OK) {
			st = IPC_BAD_REPLY;
			zmq_msg_close(&body);
			break;
		}
		zmq_msg_close(&body);
		if (reply->req_id == req->req_id) {
			st = IPC_OK;
			break;
		}
		msg_free(reply);
	}
	ipc_client_free(c);
	return st;
}

/* ------------------------------------------------------------------ pub/sub */

struct ipc_pub {
	void *z;
	char name[IPC_NAME_MAX];
	uint64_t sent, dropped;
};

struct ipc_pub *ipc_pub_new(const char *run_dir, const char *name)
{
	struct ipc_pub *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->z = ipc_open(ZMQ_PUB, run_dir, name, "pub", true, NULL);
	if (p->z == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

void ipc_pub_free(struct ipc_pub *p)
{
	if (p == NULL)
		return;
	zmq_close(p->z);
	free(p);
}

int ipc_publish(struct ipc_pub *p, struct msg *m)
{
	struct buf b;
	int rc;

	m->req_id = 0;
	if (ipc_encode(m, &b) != 0)
		return -1;
	/* PUB never blocks: past the HWM ZeroMQ drops for that subscriber. */
	rc = zmq_send(p->z, b.p, b.len, ZMQ_DONTWAIT);
	buf_fini(&b);
	if (rc < 0) {
		p->dropped++;
		return -1;
	}
	p->sent++;
	return 0;
}

struct ipc_sub {
	struct ev *ev;
	void *z;
	int watch;
	char publisher[IPC_NAME_MAX];
	unsigned pub_bit;
	ipc_event_cb cb;
	void *arg;
	struct ipc_counters ctr;
};

static void ipc_sub_read(struct ev *ev, int revents, void *arg)
{
	struct ipc_sub *s = arg;

	(void)ev;
	(void)revents;
	for (int n = 0; n < IPC_RECV_PER_TURN; n++) {
		zmq_msg_t body;
		struct msg m;
		enum msg_err e;

		zmq_msg_init(&body);
		if (zmq_msg_recv(&body, s->z, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&body);
			return;
		}
		s->ctr.received++;
		e = msg_decode(zmq_msg_data(&body), zmq_msg_size(&body), s->pub_bit, &m);
		zmq_msg_close(&body);
		if (e != MSG_OK) {
			s->ctr.malformed++;
			ipc_log_refused("sub", s->publisher, e, s->ctr.malformed);
			continue;
		}
		s->cb(s, s->pub_bit, &m, s->arg);
		msg_free(&m);
	}
}

struct ipc_sub *ipc_sub_new(struct ev *ev, const char *run_dir, const char *publisher,
                            ipc_event_cb cb, void *arg)
{
	struct ipc_sub *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->ev = ev;
	s->cb = cb;
	s->arg = arg;
	snprintf(s->publisher, sizeof(s->publisher), "%s", publisher);
	s->pub_bit = msg_peer_from_name(publisher, strlen(publisher));
	s->z = ipc_open(ZMQ_SUB, run_dir, publisher, "pub", false, NULL);
	if (s->z != NULL) {
		/* A SUB sees nothing until it is connected, and libzmq retries a
		 * connect to a publisher not bound yet (or restarting) only
		 * every 100-200 ms by default: retry sooner, backing off. */
		int ivl = IPC_SUB_RECONNECT_MS, ivl_max = IPC_SUB_RECONNECT_MAX_MS;

		zmq_setsockopt(s->z, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
		zmq_setsockopt(s->z, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
	}
	if (s->z != NULL)
		s->watch = ev_add_zsock(ev, s->z, EV_READ, ipc_sub_read, s);
	if (s->z == NULL || s->watch < 0) {
		if (s->z != NULL)
			zmq_close(s->z);
		free(s);
		return NULL;
	}
	return s;
}

void ipc_sub_free(struct ipc_sub *s)
{
	if (s == NULL)
		return;
	ev_del(s->ev, s->watch);
	zmq_close(s->z);
	free(s);
}

/* The prefix of an encoded frame up to and including its type: the array
 * header (fixarray, array16 or array32) then the type as a msgpack uint.
 * The field count is fixed per type within one build, so the prefix is. */
int ipc_subscribe(struct ipc_sub *s, enum msg_type type)
{
	struct msg m;
	struct buf b;
	size_t hlen, tlen;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	m.type = type;
	if (ipc_encode(&m, &b) != 0)
		return -1;
	if (b.len < 2)
		goto out;
	if ((b.p[0] & 0xf0) == 0x90)
		hlen = 1;
	else if (b.p[0] == 0xdc)
		hlen = 3;
	else if (b.p[0] == 0xdd)
		hlen = 5;
	else
		goto out;
	if (b.len <= hlen)
		goto out;
	if (b.p[hlen] < 0x80)
		tlen = 1;
	else if (b.p[hlen] == 0xcc)
		tlen = 2;
	else if (b.p[hlen] == 0xcd)
		tlen = 3;
	else
		goto out;
	if (b.len < hlen + tlen)
		goto out;
	rc = zmq_setsockopt(s->z, ZMQ_SUBSCRIBE, b.p, hlen + tlen);
out:
	buf_fini(&b);
	return rc;
}

const struct ipc_counters *ipc_sub_counters(const struct ipc_sub *s)
{
	return &s->ctr;
}

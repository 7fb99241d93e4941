/* pool.c: one gossip pool's sockets and its Serf + SWIM cores in gossipd's loop (spec §4). */
#include "daemons/gossipd/pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "daemons/gossipd/mlmap.h"
#include "ev.h"
#include "log.h"
#include "xalloc.h"

/*
 * The cores are pure (no clock, no I/O): this file feeds them packets, stream messages and
 * ticks, and carries out their effects. memberlist's transport (net.go) is what it mirrors:
 *   - UDP: every packet is opened layer by layer (mlwire_packet_open) and each core message
 *     goes to swim_recv(), each user message (Serf's) to serf_recv();
 *   - TCP: a stream carries one message each way; the dialer writes the label header first.
 *     Outbound: push/pull (join, periodic, reconnect) and the fallback ping. Inbound:
 *     push/pull (answered with our state, then the remote's merged), ping (acked), user.
 * Effects are drained after every input (pool_pump): a swim effect can make Serf effects
 * (member events) and a Serf effect swim ones (a reconnect's push/pull), so it loops until
 * both are empty. Nothing that adds effects runs while an effects array is being walked:
 * stream outcomes are delivered from their socket or timer callbacks, and Serf effects the
 * daemon acts on (queries, leave done) are copied and handed over after the drain.
 */

/* A stream buffer holds one whole message (memberlist's limits, mlwire.h) and a read's room. */
#define POOL_STREAM_BUF_MAX (MLWIRE_STREAM_MAX + MLWIRE_LABEL_MAX + 2 + 128 * 1024)
#define POOL_ERRS_MAX       (16 * 1024) /* a join's error text */

enum conn_kind { CK_PUSH_PULL, CK_PING, CK_IN };

struct join_batch {
	uint64_t id; /* 0: slot free */
	size_t pending, joined, failed;
	struct buf errs;
};

struct conn {
	struct pool *p;
	struct conn *prev, *next;
	enum conn_kind kind;
	int fd;
	int watch;
	uint64_t timer;
	bool connecting, done;
	bool label_seen; /* inbound: the label header was checked */
	bool pp_counted; /* inbound push/pull counted against POOL_PUSH_PULL_IN_MAX */
	const char *fail_why;
	struct buf out;
	size_t out_off;
	struct buf in;
	struct swim_addr peer;
	/* outbound */
	bool join;
	uint64_t batch; /* join_batch id, 0 none */
	uint32_t seq;   /* CK_PING */
};

enum deferred_kind { DF_QUERY, DF_RESPONSE, DF_DONE, DF_LEAVE };

struct deferred {
	enum deferred_kind kind;
	uint64_t ltime;
	uint32_t id;
	char *name;  /* DF_QUERY: query name; DF_RESPONSE: responder */
	uint8_t *payload;
	size_t len;
	const char *err; /* DF_LEAVE: a static text or NULL */
};

struct pool {
	struct ev *ev;
	struct pool_conf c;
	struct pool_ops ops;
	void *arg;
	char *name;
	struct serf *serf;
	struct swim *sw;
	struct mlwire_cfg ml;
	int udp_fd, tcp_fd;
	int udp_watch, tcp_watch;
	uint64_t timer;
	uint64_t timer_at;
	struct conn *conns;
	size_t n_conns, n_pp_in;
	struct join_batch joins[POOL_JOINS_MAX];
	uint64_t next_join_id;
	struct deferred *def;
	size_t n_def, cap_def;
	bool pumping;
	struct pool_stats st;
	struct buf scratch, pkt;
	uint8_t rxbuf[MLWIRE_PACKET_MAX];
	struct swim_addr rx_from;
	struct mlmap_scratch msc;
	uint64_t bad_log_ms; /* rate limit of the "bad packet" lines */
	unsigned bad_logged;
};

static void pool_pump(struct pool *p);
static void conn_close(struct conn *k);
static void conn_io(struct ev *ev, int revents, void *arg);

/* ---- addresses ---- */

static socklen_t to_sockaddr(const struct swim_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->len == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->ip, 4);
		return sizeof(*in);
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(a->port);
	memcpy(&in6->sin6_addr, a->ip, 16);
	return sizeof(*in6);
}

static bool from_sockaddr(const struct sockaddr_storage *ss, struct swim_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		memcpy(a->ip, &in->sin_addr, 4);
		a->len = 4;
		a->port = ntohs(in->sin_port);
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(&in6->sin6_addr, v4mapped, 12) == 0) {
			memcpy(a->ip, (const uint8_t *)&in6->sin6_addr + 12, 4);
			a->len = 4;
		} else {
			memcpy(a->ip, &in6->sin6_addr, 16);
			a->len = 16;
		}
		a->port = ntohs(in6->sin6_port);
		return true;
	}
	return false;
}

/* "host", "host:port", "[v6]", "[v6]:port". A name is resolved with getaddrinfo: this
 * blocks the loop for the lookup, which only an operator's join with a host name does. */
static int parse_join_addr(const char *s, uint16_t def_port, struct swim_addr *out, char *err,
                           size_t err_size)
{
	char host[256];
	unsigned long port = def_port;
	const char *colon;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || (size_t)(end - s - 1) >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			goto bad;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			colon = NULL; /* a bare IPv6 address */
		size_t hl = colon ? (size_t)(colon - s) : strlen(s);
		if (hl == 0 || hl >= sizeof(host))
			goto bad;
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	if (colon) {
		char *e;
		errno = 0;
		port = strtoul(colon + 1, &e, 10);
		if (errno || *e || e == colon + 1 || port == 0 || port > 65535)
			goto bad;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, err_size, "Failed to resolve %s: %s", s, gai_strerror(rc));
		return -1;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (!from_sockaddr(&ss, out))
		goto bad;
	out->port = (uint16_t)port;
	return 0;
bad:
	snprintf(err, err_size, "Failed to join %s: invalid address", s);
	return -1;
}

/* ---- UDP out ---- */

static void udp_send(struct pool *p, const struct swim_addr *to, const struct mlwire_bytes *msgs,
                     size_t n, bool crc)
{
	const char *why = NULL;
	buf_reset(&p->pkt);
	if (mlwire_packet_seal(&p->ml, msgs, n, crc, &p->pkt, &why) != 0) {
		p->st.udp_send_failed++;
		log_debug("gossip: cannot build a packet: %s", why ? why : "?");
		return;
	}
	struct sockaddr_storage ss;
	socklen_t sl = to_sockaddr(to, &ss);
	if (sendto(p->udp_fd, p->pkt.p, p->pkt.len, 0, (struct sockaddr *)&ss, sl) < 0) {
		p->st.udp_send_failed++;
		return;
	}
	p->st.udp_out++;
	p->st.udp_bytes_out += p->pkt.len;
}

/* memberlist adds a CRC when the receiver speaks protocol 5 (its vsn's max). */
static bool peer_wants_crc(struct pool *p, const char *name)
{
	struct swim_node_state st;
	if (!name || !*name || !swim_member(p->sw, name, &st))
		return false;
	return st.vsn[1] >= 5;
}

static void send_swim(struct pool *p, const struct swim_fx *fx)
{
	struct mlwire_bytes parts[MLWIRE_COMPOUND_MAX];
	size_t offs[MLWIRE_COMPOUND_MAX + 1];
	size_t n = fx->n_msgs > MLWIRE_COMPOUND_MAX ? MLWIRE_COMPOUND_MAX : fx->n_msgs;
	buf_reset(&p->scratch);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		offs[k] = p->scratch.len;
		if (mlmap_encode(&p->scratch, &fx->msgs[i]) != 0) {
			p->st.udp_send_failed++;
			continue;
		}
		k++;
		offs[k] = p->scratch.len;
	}
	if (k == 0)
		return;
	for (size_t i = 0; i < k; i++)
		parts[i] = (struct mlwire_bytes){p->scratch.p + offs[i], offs[i + 1] - offs[i]};
	udp_send(p, &fx->to, parts, k, peer_wants_crc(p, fx->to_name));
}

static void send_serf(struct pool *p, const struct swim_addr *to, const uint8_t *data, size_t len)
{
	buf_reset(&p->scratch);
	if (mlwire_enc_user(&p->scratch, data, len) != 0) {
		p->st.udp_send_failed++;
		return;
	}
	struct mlwire_bytes one = {p->scratch.p, p->scratch.len};
	udp_send(p, to, &one, 1, false); /* serf's SendToAddress: no node, no CRC */
}

/* ---- UDP in ---- */

static void bad_input(struct pool *p, const struct swim_addr *from, const char *what,
                      const char *why)
{
	uint64_t now = ev_now_ms(p->ev);
	if (now - p->bad_log_ms >= 1000) {
		p->bad_log_ms = now;
		p->bad_logged = 0;
	}
	if (p->bad_logged++ < 5) {
		char a[64];
		log_warnx("gossip(%s): %s from %s: %s", p->c.wan ? "wan" : "lan", what,
		          mlmap_addr_str(from, a, sizeof(a)), why ? why : "malformed");
	}
}

static void on_packet_msg(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
	struct pool *p = arg;
	uint64_t now = ev_now_ms(p->ev);
	if (type == MLWIRE_USER) {
		if (serf_recv(p->serf, now, body, len) != 0) {
			p->st.msgs_bad++;
			bad_input(p, &p->rx_from, "bad serf message", NULL);
		}
		return;
	}
	struct swim_msg m;
	if (mlmap_decode(type, body, len, &m, &p->msc) != 0 ||
	    swim_recv(p->sw, now, &p->rx_from, &m) != 0) {
		p->st.msgs_bad++;
		bad_input(p, &p->rx_from, "bad message", mlwire_type_name(type));
	}
}

static void udp_readable(struct ev *ev, int revents, void *arg)
{
	struct pool *p = arg;
	(void)ev;
	(void)revents;
	for (int i = 0; i < POOL_UDP_PER_TURN; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t n = recvfrom(p->udp_fd, p->rxbuf, sizeof(p->rxbuf), MSG_TRUNC,
		                     (struct sockaddr *)&ss, &sl);
		if (n < 0)
			break;
		p->st.udp_in++;
		p->st.udp_bytes_in += (uint64_t)n;
		if (!from_sockaddr(&ss, &p->rx_from))
			continue;
		if ((size_t)n > sizeof(p->rxbuf)) {
			p->st.udp_bad++;
			bad_input(p, &p->rx_from, "oversized packet", NULL);
			continue;
		}
		struct mlwire_rx_info info;
		if (mlwire_packet_open(&p->ml, p->rxbuf, (size_t)n, on_packet_msg, p, &info) != 0) {
			p->st.udp_bad++;
			bad_input(p, &p->rx_from, "bad packet", info.why);
		}
	}
	pool_pump(p);
}

/* ---- TCP streams ---- */

static struct conn *conn_new(struct pool *p, enum conn_kind kind, int fd)
{
	struct conn *k = xcalloc(1, sizeof(*k));
	k->p = p;
	k->kind = kind;
	k->fd = fd;
	k->watch = -1;
	buf_init(&k->out, POOL_STREAM_BUF_MAX);
	buf_init(&k->in, POOL_STREAM_BUF_MAX);
	k->next = p->conns;
	if (p->conns)
		p->conns->prev = k;
	p->conns = k;
	p->n_conns++;
	return k;
}

static struct join_batch *batch_get(struct pool *p, uint64_t id)
{
	for (size_t i = 0; id && i < POOL_JOINS_MAX; i++)
		if (p->joins[i].id == id)
			return &p->joins[i];
	return NULL;
}

static void batch_end_one(struct pool *p, uint64_t id, bool ok, const struct conn *k,
                          const char *why)
{
	struct join_batch *b = batch_get(p, id);
	if (!b)
		return;
	if (ok) {
		b->joined++;
	} else {
		char a[64];
		b->failed++;
		buf_printf(&b->errs, "\t* Failed to join %s: %s\n", mlmap_addr_str(&k->peer, a, sizeof(a)),
		           why ? why : "failed");
	}
	if (--b->pending)
		return;
	uint64_t now = ev_now_ms(p->ev);
	serf_join_done(p->serf, now, b->joined > 0);
	struct buf msg;
	buf_init(&msg, POOL_ERRS_MAX + 64);
	if (b->failed)
		buf_printf(&msg, "%zu error%s occurred:\n%s\n", b->failed, b->failed == 1 ? "" : "s",
		           buf_cstr(&b->errs));
	uint64_t bid = b->id;
	size_t joined = b->joined;
	buf_fini(&b->errs);
	memset(b, 0, sizeof(*b));
	if (p->ops.join_done)
		p->ops.join_done(p->arg, p, bid, joined, msg.len ? buf_cstr(&msg) : "");
	buf_fini(&msg);
}

/* The outcome of an outbound stream, told to whoever asked for it. */
static void conn_outcome(struct conn *k, bool ok, const char *why)
{
	struct pool *p = k->p;
	uint64_t now = ev_now_ms(p->ev);
	if (!ok)
		p->st.tcp_failed++;
	switch (k->kind) {
	case CK_PING:
		swim_tcp_ping_result(p->sw, now, k->seq, ok);
		break;
	case CK_PUSH_PULL:
		if (!ok) {
			char a[64];
			p->st.push_pull_failed++;
			log_debug("gossip(%s): push/pull with %s failed: %s", p->c.wan ? "wan" : "lan",
			          mlmap_addr_str(&k->peer, a, sizeof(a)), why ? why : "?");
		}
		if (k->batch)
			batch_end_one(p, k->batch, ok, k, why);
		break;
	case CK_IN:
		break;
	}
}

static void conn_close(struct conn *k)
{
	struct pool *p = k->p;
	if (k->watch > 0)
		ev_del(p->ev, k->watch);
	if (k->timer)
		ev_timer_del(p->ev, k->timer);
	if (k->fd >= 0)
		close(k->fd);
	if (k->pp_counted)
		p->n_pp_in--;
	if (k->prev)
		k->prev->next = k->next;
	else
		p->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	p->n_conns--;
	buf_fini(&k->out);
	buf_fini(&k->in);
	free(k);
}

static void conn_finish(struct conn *k, bool ok, const char *why)
{
	struct pool *p = k->p;
	if (!k->done) {
		k->done = true;
		conn_outcome(k, ok, why);
	}
	conn_close(k);
	pool_pump(p);
}

static void conn_timeout(struct ev *ev, void *arg)
{
	struct conn *k = arg;
	(void)ev;
	k->timer = 0;
	conn_finish(k, false, k->fail_why ? k->fail_why : "i/o timeout");
}

/* Queue a whole stream message (type byte + body) for writing: compressed and encrypted as
 * configured (mlwire_stream_seal). */
static int conn_put_msg(struct conn *k, const uint8_t *msg, size_t len)
{
	const char *why = NULL;
	if (mlwire_stream_seal(&k->p->ml, msg, len, &k->out, &why) != 0) {
		log_debug("gossip: cannot seal a stream message: %s", why ? why : "?");
		return -1;
	}
	return 0;
}

static void conn_want(struct conn *k, int events)
{
	if (k->watch > 0)
		ev_set_events(k->p->ev, k->watch, events);
}

/* Our side of a push/pull (memberlist sendLocalState): every member, then Serf's state. */
static int put_local_state(struct conn *k, bool join)
{
	struct pool *p = k->p;
	size_t n = swim_num_members(p->sw);
	struct swim_node_state *nodes = xcalloc(n ? n : 1, sizeof(*nodes));
	n = swim_push_pull_state(p->sw, nodes, n);
	struct buf user, msg;
	buf_init(&user, MLWIRE_USER_STATE_MAX);
	buf_init(&msg, MLWIRE_STREAM_MAX);
	int rc = serf_local_state(p->serf, &user);
	if (rc == 0)
		rc = mlmap_encode_push_pull(&msg, nodes, n, user.p, user.len, join);
	if (rc == 0)
		rc = conn_put_msg(k, msg.p, msg.len);
	free(nodes);
	buf_fini(&user);
	buf_fini(&msg);
	return rc;
}

/* memberlist mergeRemoteState: the nodes, then the delegate's (Serf's) user state. join: the
 * exchange is a join (our own push/pull's flag, or for an inbound one the remote's header,
 * which join_out then reports): serf's ignore-old then applies to the remote's events. */
static int merge_remote(struct pool *p, const uint8_t *body, size_t len, bool join,
                        bool *join_out)
{
	struct mlwire_push_pull hdr;
	struct mlmap_push_state st;
	const uint8_t *user = NULL;
	size_t ulen = 0;
	if (mlmap_decode_push_pull(body, len, &hdr, &st, &user, &ulen) != 0)
		return -1;
	if (join_out) {
		*join_out = hdr.join;
		join = hdr.join;
	}
	uint64_t now = ev_now_ms(p->ev);
	int rc = swim_merge_remote_state(p->sw, now, st.nodes, st.n);
	mlmap_push_state_fini(&st);
	if (rc == 0 && ulen > 0)
		rc = serf_merge_remote_state(p->serf, now, user, ulen, join);
	return rc;
}

/* Whole stream message in k->in at off? Returns 1 with msg set (possibly inside tmp), 0 for
 * more, -1 bad. */
static int conn_take_msg(struct conn *k, size_t off, struct buf *tmp, struct mlwire_bytes *msg,
                         size_t *used, const char **why)
{
	size_t flen = 0;
	enum mlwire_frame f = mlwire_stream_frame(k->in.p + off, k->in.len - off, &flen, why);
	if (f == MLWIRE_FRAME_MORE)
		return 0;
	if (f == MLWIRE_FRAME_BAD)
		return -1;
	if (mlwire_stream_open(&k->p->ml, k->in.p + off, flen, tmp, msg, why) != 0 || msg->len == 0)
		return -1;
	*used = flen;
	return 1;
}

/* Outbound: the reply to our push/pull or ping is in. */
static void out_reply(struct conn *k, const struct mlwire_bytes *msg)
{
	struct pool *p = k->p;
	uint8_t type = msg->p[0];
	if (type == MLWIRE_ERR) {
		struct mlwire_err e;
		struct cur c;
		char text[256];
		cur_init(&c, msg->p + 1, msg->len - 1);
		if (mlwire_dec_err(&c, &e) == 0)
			snprintf(text, sizeof(text), "remote error: %.*s", (int)e.error.len,
			         (const char *)e.error.p);
		else
			snprintf(text, sizeof(text), "remote error");
		/* the text lives on the stack: report it before returning */
		conn_finish(k, false, text);
		return;
	}
	if (k->kind == CK_PING) {
		struct swim_msg m;
		bool ok = type == MLWIRE_ACK &&
		          mlmap_decode(type, msg->p + 1, msg->len - 1, &m, &p->msc) == 0 && m.seq == k->seq;
		conn_finish(k, ok, ok ? NULL : "unexpected reply to a ping");
		return;
	}
	if (type != MLWIRE_PUSH_PULL) {
		conn_finish(k, false, "unexpected reply to a push/pull");
		return;
	}
	p->st.push_pulls++;
	if (merge_remote(p, msg->p + 1, msg->len - 1, k->join, NULL) != 0) {
		p->st.msgs_bad++;
		conn_finish(k, false, "malformed push/pull state");
		return;
	}
	conn_finish(k, true, NULL);
}

/* Inbound (memberlist handleConn): one message, answered, then the stream is closed. */
static void in_message(struct conn *k, const struct mlwire_bytes *msg)
{
	struct pool *p = k->p;
	uint8_t type = msg->p[0];
	uint64_t now = ev_now_ms(p->ev);
	struct buf reply;
	buf_init(&reply, 65536);
	switch (type) {
	case MLWIRE_PUSH_PULL: {
		if (p->n_pp_in >= POOL_PUSH_PULL_IN_MAX) {
			struct mlwire_err e = {
			    {(const uint8_t *)"too many pending push/pull requests", 35}};
			if (mlwire_enc_err(&reply, &e) == 0)
				conn_put_msg(k, reply.p, reply.len);
			break;
		}
		p->n_pp_in++;
		k->pp_counted = true;
		/* our state first, then the remote's merged (memberlist's order) */
		struct mlwire_push_pull hdr;
		struct cur c;
		cur_init(&c, msg->p + 1, msg->len - 1);
		bool join = mlwire_dec_push_pull(&c, &hdr) == 0 && hdr.join;
		if (put_local_state(k, join) != 0) {
			buf_fini(&reply);
			conn_finish(k, false, "cannot encode our state");
			return;
		}
		p->st.push_pulls++;
		if (merge_remote(p, msg->p + 1, msg->len - 1, join, &join) != 0) {
			p->st.msgs_bad++;
			bad_input(p, &k->peer, "bad push/pull", NULL);
		}
		break;
	}
	case MLWIRE_PING: {
		struct swim_msg m;
		if (mlmap_decode(type, msg->p + 1, msg->len - 1, &m, &p->msc) != 0) {
			p->st.msgs_bad++;
			break;
		}
		if (m.node[0] && strcmp(m.node, p->name) != 0) {
			log_warnx("gossip(%s): got a stream ping for unexpected node '%s'",
			          p->c.wan ? "wan" : "lan", m.node);
			break;
		}
		struct swim_msg ack = {.type = SWIM_MSG_ACK, .seq = m.seq};
		if (mlmap_encode(&reply, &ack) == 0)
			conn_put_msg(k, reply.p, reply.len);
		break;
	}
	case MLWIRE_USER: {
		struct mlwire_user_stream h;
		struct cur c;
		cur_init(&c, msg->p + 1, msg->len - 1);
		if (mlwire_dec_user_stream(&c, &h) != 0 || cur_left(&c) < h.user_msg_len) {
			p->st.msgs_bad++;
			break;
		}
		const uint8_t *um = cur_take(&c, h.user_msg_len);
		if (serf_recv(p->serf, now, um, h.user_msg_len) != 0)
			p->st.msgs_bad++;
		break;
	}
	default:
		p->st.msgs_bad++;
		bad_input(p, &k->peer, "unexpected stream message", mlwire_type_name(type));
		break;
	}
	buf_fini(&reply);
	if (k->out.len == k->out_off) {
		conn_finish(k, true, NULL);
		return;
	}
	k->done = true; /* only the reply is left to write */
	conn_want(k, EV_WRITE);
	pool_pump(p);
}

/* The peer closed in the middle of a message: from a dialer that is a malformed stream. */
static void stream_cut(struct conn *k)
{
	if (k->kind == CK_IN) {
		k->p->st.msgs_bad++;
		bad_input(k->p, &k->peer, "stream cut short", NULL);
	}
	conn_finish(k, false, "EOF");
}

static void conn_readable(struct conn *k)
{
	struct pool *p = k->p;
	bool eof = false; /* the peer closed: what came before it is still parsed */
	for (int i = 0; i < 16 && !eof; i++) {
		if (buf_reserve(&k->in, 65536) != 0) {
			conn_finish(k, false, "out of memory");
			return;
		}
		ssize_t n = read(k->fd, k->in.p + k->in.len, 65536);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_finish(k, false, strerror(errno));
			return;
		}
		if (n == 0) {
			eof = true;
			break;
		}
		k->in.len += (size_t)n;
		p->st.tcp_bytes_in += (uint64_t)n;
		if (k->in.len > MLWIRE_STREAM_MAX + MLWIRE_LABEL_MAX + 2) {
			conn_finish(k, false, "stream message too large");
			return;
		}
	}
	const char *why = NULL;
	size_t off = 0;
	if (k->in.len == 0 && eof) {
		conn_finish(k, false, "EOF");
		return;
	}
	if (k->kind == CK_IN && !k->label_seen) {
		struct mlwire_bytes label;
		size_t used = 0;
		enum mlwire_frame f = mlwire_stream_label(&p->ml, k->in.p, k->in.len, &label, &used, &why);
		if (f == MLWIRE_FRAME_MORE) {
			if (eof)
				stream_cut(k);
			return;
		}
		if (f == MLWIRE_FRAME_BAD) {
			bad_input(p, &k->peer, "stream refused", why);
			p->st.msgs_bad++;
			conn_finish(k, false, why);
			return;
		}
		k->label_seen = true;
		buf_consume(&k->in, used);
	}
	struct buf tmp;
	struct mlwire_bytes msg;
	size_t used = 0;
	buf_init(&tmp, MLWIRE_DECOMPRESS_MAX + 65536);
	int rc = conn_take_msg(k, off, &tmp, &msg, &used, &why);
	if (rc == 0) {
		buf_fini(&tmp);
		if (eof)
			stream_cut(k);
		return;
	}
	if (rc < 0) {
		if (k->kind == CK_IN) {
			p->st.msgs_bad++;
			bad_input(p, &k->peer, "bad stream message", why);
		}
		char text[160];
		snprintf(text, sizeof(text), "%s", why ? why : "malformed stream message");
		buf_fini(&tmp);
		conn_finish(k, false, text);
		return;
	}
	conn_want(k, 0);
	if (k->kind == CK_IN)
		in_message(k, &msg);
	else
		out_reply(k, &msg);
	buf_fini(&tmp);
}

static void conn_writable(struct conn *k)
{
	struct pool *p = k->p;
	if (k->connecting) {
		int e = 0;
		socklen_t el = sizeof(e);
		if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
			e = errno;
		if (e) {
			char text[128];
			snprintf(text, sizeof(text), "dial tcp: %s", strerror(e));
			conn_finish(k, false, text);
			return;
		}
		k->connecting = false;
	}
	while (k->out_off < k->out.len) {
		ssize_t n = write(k->fd, k->out.p + k->out_off, k->out.len - k->out_off);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_finish(k, false, strerror(errno));
			return;
		}
		k->out_off += (size_t)n;
		p->st.tcp_bytes_out += (uint64_t)n;
	}
	if (k->kind == CK_IN && k->done) {
		conn_close(k); /* our reply went out: memberlist closes the stream */
		pool_pump(p);
		return;
	}
	conn_want(k, EV_READ);
}

static void conn_io(struct ev *ev, int revents, void *arg)
{
	struct conn *k = arg;
	(void)ev;
	if (revents & EV_WRITE) {
		conn_writable(k);
		return; /* k may be gone */
	}
	if (revents & (EV_READ | EV_ERROR))
		conn_readable(k);
}

/* Starts an outbound stream; a failure before the socket is in the loop is reported from a
 * timer (never from inside the effects walk that asked for it). */
static struct conn *conn_dial(struct pool *p, enum conn_kind kind, const struct swim_addr *to,
                              uint64_t deadline_ms)
{
	uint64_t now = ev_now_ms(p->ev);
	struct conn *k = conn_new(p, kind, -1);
	k->peer = *to;
	p->st.tcp_out++;
	if (p->n_conns > POOL_CONNS_MAX) {
		k->fail_why = "too many streams open";
		k->timer = ev_timer_add(p->ev, 0, conn_timeout, k);
		return k;
	}
	uint64_t delay = deadline_ms > now ? deadline_ms - now : 0;
	if (delay > p->c.tcp_timeout_ms)
		delay = p->c.tcp_timeout_ms;
	struct sockaddr_storage ss;
	socklen_t sl = to_sockaddr(to, &ss);
	k->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->fd < 0) {
		k->fail_why = "cannot open a socket";
		k->timer = ev_timer_add(p->ev, 0, conn_timeout, k);
		return k;
	}
	if (connect(k->fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
		k->fail_why = errno == ECONNREFUSED ? "dial tcp: connection refused" : "dial tcp failed";
		k->timer = ev_timer_add(p->ev, 0, conn_timeout, k);
		return k;
	}
	k->connecting = true;
	if (mlwire_label_put(&k->out, p->ml.label, p->ml.label_len) != 0) {
		k->fail_why = "label too long";
		k->timer = ev_timer_add(p->ev, 0, conn_timeout, k);
		return k;
	}
	k->watch = ev_add_fd(p->ev, k->fd, EV_WRITE, conn_io, k);
	k->timer = ev_timer_add(p->ev, delay, conn_timeout, k);
	if (k->watch < 0)
		k->fail_why = "too many watches";
	return k;
}

static void push_pull_start(struct pool *p, const struct swim_addr *to, bool join, uint64_t batch)
{
	uint64_t now = ev_now_ms(p->ev);
	struct conn *k = conn_dial(p, CK_PUSH_PULL, to, now + p->c.tcp_timeout_ms);
	k->join = join;
	k->batch = batch;
	if (k->fd >= 0 && !k->fail_why && put_local_state(k, join) != 0)
		k->fail_why = "cannot encode our state";
}

static void tcp_ping_start(struct pool *p, const struct swim_fx *fx)
{
	struct conn *k = conn_dial(p, CK_PING, &fx->to, fx->deadline_ms);
	k->seq = fx->seq;
	p->st.tcp_pings++;
	if (k->fd < 0 || k->fail_why)
		return;
	buf_reset(&p->scratch);
	if (fx->n_msgs < 1 || mlmap_encode(&p->scratch, &fx->msgs[0]) != 0 ||
	    conn_put_msg(k, p->scratch.p, p->scratch.len) != 0)
		k->fail_why = "cannot encode the ping";
}

static void tcp_acceptable(struct ev *ev, int revents, void *arg)
{
	struct pool *p = arg;
	(void)ev;
	(void)revents;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(p->tcp_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		p->st.tcp_in++;
		if (p->n_conns >= POOL_CONNS_MAX) {
			p->st.tcp_refused++;
			close(fd);
			continue;
		}
		struct conn *k = conn_new(p, CK_IN, fd);
		from_sockaddr(&ss, &k->peer);
		k->watch = ev_add_fd(p->ev, fd, EV_READ, conn_io, k);
		k->timer = ev_timer_add(p->ev, p->c.tcp_timeout_ms, conn_timeout, k);
		if (k->watch < 0)
			conn_close(k);
	}
}

/* ---- effects ---- */

static void defer_push(struct pool *p, const struct deferred *d)
{
	if (p->n_def >= POOL_DEFERRED_MAX) {
		free(d->name);
		free(d->payload);
		log_warnx("gossip: too many serf effects waiting; one dropped");
		return;
	}
	if (p->n_def == p->cap_def) {
		p->cap_def = p->cap_def ? 2 * p->cap_def : 16;
		p->def = xrealloc(p->def, p->cap_def * sizeof(*p->def));
	}
	p->def[p->n_def++] = *d;
}

static uint8_t *dup_bytes(const uint8_t *b, size_t n)
{
	uint8_t *o = xmalloc(n ? n : 1);
	if (n)
		memcpy(o, b, n);
	return o;
}

static char *dup_name(struct serfwire_bytes b)
{
	char *o = xmalloc(b.len + 1);
	if (b.len)
		memcpy(o, b.p, b.len);
	o[b.len] = '\0';
	return o;
}

static bool do_swim_effects(struct pool *p)
{
	size_t n;
	const struct swim_fx *fx = swim_effects(p->sw, &n);
	uint64_t now = ev_now_ms(p->ev);
	for (size_t i = 0; i < n; i++) {
		const struct swim_fx *f = &fx[i];
		switch (f->type) {
		case SWIM_FX_SEND:
			send_swim(p, f);
			break;
		case SWIM_FX_TCP_PING:
			tcp_ping_start(p, f);
			break;
		case SWIM_FX_PUSH_PULL:
			push_pull_start(p, &f->to, f->join, 0);
			break;
		case SWIM_FX_EVENT:
			if (f->event == SWIM_EV_SUSPECT)
				log_info("gossip(%s): member %s suspected by %s", p->c.wan ? "wan" : "lan",
				         f->node.name, f->from ? f->from : "?");
			else if (f->event == SWIM_EV_REFUTE)
				log_warnx("gossip(%s): refuting a suspect message (incarnation %u)",
				          p->c.wan ? "wan" : "lan", f->node.incarnation);
			else if (f->event == SWIM_EV_CONFLICT)
				log_warnx("gossip(%s): name conflict: %s claimed by another address",
				          p->c.wan ? "wan" : "lan", f->node.name);
			else if (f->event == SWIM_EV_TCP_ONLY)
				log_warnx("gossip(%s): was able to connect to %s over TCP but UDP probes "
				          "failed, network may be misconfigured",
				          p->c.wan ? "wan" : "lan", f->node.name);
			serf_swim_event(p->serf, now, f);
			break;
		}
	}
	swim_effects_clear(p->sw);
	return n > 0;
}

static bool do_serf_effects(struct pool *p)
{
	size_t n;
	const struct serf_fx *fx = serf_effects(p->serf, &n);
	for (size_t i = 0; i < n; i++) {
		const struct serf_fx *f = &fx[i];
		struct deferred d = {0};
		switch (f->type) {
		case SERF_FX_MEMBER:
			if (p->ops.member)
				p->ops.member(p->arg, p, f->event, &f->member);
			break;
		case SERF_FX_USER_EVENT:
			if (p->ops.user_event)
				p->ops.user_event(p->arg, p, f->ltime, f->name, f->payload, f->cc);
			break;
		case SERF_FX_SEND:
			send_serf(p, &f->to, f->data, f->len);
			break;
		case SERF_FX_RECONNECT:
			log_info("gossip(%s): attempting reconnect to %s", p->c.wan ? "wan" : "lan",
			         f->member.name);
			push_pull_start(p, &f->member.addr, true, 0);
			break;
		case SERF_FX_QUERY:
			if (!f->internal)
				break; /* Consul answers no user query (its serf event handler ignores them) */
			d.kind = DF_QUERY;
			d.ltime = f->ltime;
			d.id = f->id;
			d.name = dup_name(f->name);
			d.payload = dup_bytes(f->payload.p, f->payload.len);
			d.len = f->payload.len;
			defer_push(p, &d);
			break;
		case SERF_FX_QUERY_ACK:
			break;
		case SERF_FX_QUERY_RESPONSE:
			d.kind = DF_RESPONSE;
			d.ltime = f->ltime;
			d.id = f->id;
			d.name = xstrdup(f->from ? f->from : "");
			d.payload = dup_bytes(f->payload.p, f->payload.len);
			d.len = f->payload.len;
			defer_push(p, &d);
			break;
		case SERF_FX_QUERY_DONE:
			d.kind = DF_DONE;
			d.ltime = f->ltime;
			d.id = f->id;
			defer_push(p, &d);
			break;
		case SERF_FX_LEAVE_DONE:
			d.kind = DF_LEAVE;
			d.err = f->error;
			defer_push(p, &d);
			break;
		}
	}
	serf_effects_clear(p->serf);
	return n > 0;
}

static void pool_tick(struct ev *ev, void *arg);

static void schedule(struct pool *p)
{
	uint64_t a = serf_next_deadline(p->serf), b = swim_next_deadline(p->sw);
	uint64_t at = a < b ? a : b;
	if (p->timer && at == p->timer_at)
		return;
	if (p->timer)
		ev_timer_del(p->ev, p->timer);
	p->timer = 0;
	if (at == SWIM_NEVER)
		return;
	uint64_t now = ev_now_ms(p->ev);
	p->timer_at = at;
	p->timer = ev_timer_add(p->ev, at > now ? at - now : 0, pool_tick, p);
}

static void pool_pump(struct pool *p)
{
	if (p->pumping)
		return; /* the outer pump will see what this call added */
	p->pumping = true;
	for (int round = 0; round < 64; round++) {
		bool any = do_swim_effects(p);
		any = do_serf_effects(p) || any;
		if (!any && p->n_def == 0)
			break;
		/* hand over what the daemon acts on, now that no effects array is being walked */
		size_t nd = p->n_def;
		struct deferred *d = p->def;
		p->def = NULL;
		p->n_def = p->cap_def = 0;
		for (size_t i = 0; i < nd; i++) {
			switch (d[i].kind) {
			case DF_QUERY:
				if (p->ops.query)
					p->ops.query(p->arg, p, d[i].ltime, d[i].id,
					             serfwire_cstr(d[i].name),
					             (struct serfwire_bytes){d[i].payload, d[i].len});
				break;
			case DF_RESPONSE:
				if (p->ops.query_response)
					p->ops.query_response(p->arg, p, d[i].ltime, d[i].id, d[i].name,
					                      (struct serfwire_bytes){d[i].payload, d[i].len});
				break;
			case DF_DONE:
				if (p->ops.query_done)
					p->ops.query_done(p->arg, p, d[i].ltime, d[i].id);
				break;
			case DF_LEAVE:
				if (p->ops.leave_done)
					p->ops.leave_done(p->arg, p, d[i].err);
				break;
			}
			free(d[i].name);
			free(d[i].payload);
		}
		free(d);
	}
	p->pumping = false;
	schedule(p);
}

static void pool_tick(struct ev *ev, void *arg)
{
	struct pool *p = arg;
	uint64_t now = ev_now_ms(ev);
	p->timer = 0;
	serf_tick(p->serf, now);
	swim_tick(p->sw, now);
	pool_pump(p);
}

/* ---- life ---- */

static int bind_socket(int type, const char *ip, uint16_t port, char *err, size_t err_size)
{
	struct swim_addr a;
	struct sockaddr_storage ss;
	if (mlmap_parse_ip(ip, &a) != 0) {
		snprintf(err, err_size, "bind address %s is not an IP address", ip);
		return -1;
	}
	a.port = port;
	socklen_t sl = to_sockaddr(&a, &ss);
	int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_size, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM) {
		/* memberlist sets 2 MiB buffers so bursts of gossip are not dropped */
		int sz = 2 * 1024 * 1024;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
		snprintf(err, err_size, "bind %s %s:%u: %s", type == SOCK_DGRAM ? "udp" : "tcp", ip,
		         (unsigned)port, strerror(errno));
		close(fd);
		return -1;
	}
	if (type == SOCK_STREAM && listen(fd, 128) != 0) {
		snprintf(err, err_size, "listen tcp %s:%u: %s", ip, (unsigned)port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct pool *pool_new(struct ev *ev, const struct pool_conf *c, const struct pool_ops *ops,
                      void *arg, char *err, size_t err_size)
{
	struct pool *p = xcalloc(1, sizeof(*p));
	p->ev = ev;
	p->c = *c;
	p->ops = *ops;
	p->arg = arg;
	p->udp_fd = p->tcp_fd = -1;
	p->udp_watch = p->tcp_watch = -1;
	p->name = xstrdup(c->mc.name);
	p->c.mc.name = p->name;
	p->c.bind_ip = NULL;
	buf_init(&p->scratch, 2 * MLWIRE_PACKET_MAX);
	buf_init(&p->pkt, 2 * MLWIRE_PACKET_MAX);
	p->ml.keyring = c->keyring;
	p->ml.verify_incoming = c->verify_incoming;
	p->ml.verify_outgoing = c->verify_outgoing;
	p->ml.compress = c->compress;
	/* room for the encryption layer in every packet the core packs */
	p->c.mc.packet_overhead = (c->keyring ? KEYRING_OVERHEAD : 0) + MLWIRE_CRC_OVERHEAD;
	p->udp_fd = bind_socket(SOCK_DGRAM, c->bind_ip, c->port, err, err_size);
	if (p->udp_fd < 0)
		goto fail;
	p->tcp_fd = bind_socket(SOCK_STREAM, c->bind_ip, c->port, err, err_size);
	if (p->tcp_fd < 0)
		goto fail;
	p->udp_watch = ev_add_fd(ev, p->udp_fd, EV_READ, udp_readable, p);
	p->tcp_watch = ev_add_fd(ev, p->tcp_fd, EV_READ, tcp_acceptable, p);
	if (p->udp_watch < 0 || p->tcp_watch < 0) {
		snprintf(err, err_size, "cannot watch the gossip sockets");
		goto fail;
	}
	p->serf = serf_new(&c->sc, &p->c.mc, ev_now_ms(ev));
	if (!p->serf) {
		snprintf(err, err_size, "invalid gossip configuration");
		goto fail;
	}
	p->sw = serf_swim(p->serf);
	pool_pump(p);
	return p;
fail:
	pool_free(p);
	return NULL;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	while (p->conns)
		conn_close(p->conns);
	if (p->timer)
		ev_timer_del(p->ev, p->timer);
	if (p->udp_watch > 0)
		ev_del(p->ev, p->udp_watch);
	if (p->tcp_watch > 0)
		ev_del(p->ev, p->tcp_watch);
	if (p->udp_fd >= 0)
		close(p->udp_fd);
	if (p->tcp_fd >= 0)
		close(p->tcp_fd);
	serf_free(p->serf);
	for (size_t i = 0; i < POOL_JOINS_MAX; i++)
		if (p->joins[i].id)
			buf_fini(&p->joins[i].errs);
	for (size_t i = 0; i < p->n_def; i++) {
		free(p->def[i].name);
		free(p->def[i].payload);
	}
	free(p->def);
	buf_fini(&p->scratch);
	buf_fini(&p->pkt);
	free(p->name);
	free(p);
}

struct serf *pool_serf(struct pool *p)
{
	return p->serf;
}

bool pool_is_wan(const struct pool *p)
{
	return p->c.wan;
}

const char *pool_name(const struct pool *p)
{
	return p->name;
}

int pool_join(struct pool *p, const char *const *addrs, size_t n, bool ignore_old,
              uint64_t *join_id, char *err, size_t err_size)
{
	struct swim_addr to[POOL_JOIN_ADDRS_MAX];
	struct join_batch *b = NULL;
	if (n == 0 || n > POOL_JOIN_ADDRS_MAX) {
		snprintf(err, err_size, "a join takes 1 to %d addresses", POOL_JOIN_ADDRS_MAX);
		return -1;
	}
	for (size_t i = 0; i < POOL_JOINS_MAX && !b; i++)
		if (!p->joins[i].id)
			b = &p->joins[i];
	if (!b) {
		snprintf(err, err_size, "too many joins in progress (limit %d)", POOL_JOINS_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (parse_join_addr(addrs[i], p->c.port, &to[i], err, err_size) != 0)
			return -1;
	memset(b, 0, sizeof(*b));
	b->id = ++p->next_join_id;
	b->pending = n;
	buf_init(&b->errs, POOL_ERRS_MAX);
	*join_id = b->id;
	serf_join_start(p->serf, ignore_old);
	for (size_t i = 0; i < n; i++)
		push_pull_start(p, &to[i], true, b->id);
	pool_pump(p);
	return 0;
}

int pool_leave(struct pool *p, const char **err)
{
	int rc = serf_leave(p->serf, ev_now_ms(p->ev), err);
	pool_pump(p);
	return rc;
}

int pool_force_leave(struct pool *p, const char *node, bool prune, const char **err)
{
	int rc = serf_force_leave(p->serf, ev_now_ms(p->ev), node, prune, err);
	pool_pump(p);
	return rc;
}

int pool_user_event(struct pool *p, const char *name, const uint8_t *payload, size_t len,
                    bool cc, const char **err)
{
	int rc = serf_user_event(p->serf, ev_now_ms(p->ev), serfwire_cstr(name),
	                         (struct serfwire_bytes){payload, len}, cc, err);
	pool_pump(p);
	return rc;
}

int pool_query(struct pool *p, const char *name, const uint8_t *payload, size_t len,
               const struct serf_query_param *qp, uint64_t *ltime, uint32_t *id,
               const char **err)
{
	int rc = serf_query(p->serf, ev_now_ms(p->ev), serfwire_cstr(name),
	                    (struct serfwire_bytes){payload, len}, qp, ltime, id, err);
	pool_pump(p);
	return rc;
}

int pool_respond(struct pool *p, uint64_t ltime, uint32_t id, const uint8_t *payload, size_t len,
                 const char **err)
{
	int rc = serf_respond(p->serf, ev_now_ms(p->ev), ltime, id,
	                      (struct serfwire_bytes){payload, len}, err);
	pool_pump(p);
	return rc;
}

int pool_set_tags(struct pool *p, const uint8_t *meta, size_t len)
{
	int rc = serf_set_tags(p->serf, ev_now_ms(p->ev), meta, len);
	pool_pump(p);
	return rc;
}

void pool_restore_clocks(struct pool *p, uint64_t clock, uint64_t event_clock,
                         uint64_t query_clock)
{
	serf_restore_clocks(p->serf, clock, event_clock, query_clock);
}

const struct pool_stats *pool_stats(const struct pool *p)
{
	return &p->st;
}

size_t pool_conns(const struct pool *p)
{
	return p->n_conns;
}

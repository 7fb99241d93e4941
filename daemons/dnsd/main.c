/* main.c: dnsd, the Consul DNS interface on 8600 (DESIGN.md §1,
 * spec/dns-cli-gossip-raft.md §1): UDP and TCP listeners on every
 * addresses.dns (else client_addr) at ports.dns, in the daemon's one loop.
 * Answers come from the pure answerer (answer.c) over a cached view of
 * raftd (cache.c); a query whose data is not cached yet is parked until
 * the fetch lands, then answered by re-running dns_answer(). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "buf.h"
#include "cache.h"
#include "daemon.h"
#include "dnswire.h"
#include "ev.h"
#include "log.h"
#include "xalloc.h"

/* Limits (a limit on everything). */
#define DNSD_LISTEN_MAX      16     /* addresses (each a UDP and a TCP socket) */
#define DNSD_UDP_PER_WAKE    64     /* datagrams read per readiness */
#define DNSD_TCP_CONNS_MAX   256    /* open TCP connections; more are refused */
#define DNSD_TCP_IDLE_MS     10000  /* an idle TCP connection is closed */
#define DNSD_TCP_IN_MAX      (2 + 65535 + 2)
#define DNSD_TCP_OUT_MAX     (256u << 10) /* stop reading while this much is unsent */
#define DNSD_PARKED_MAX      1024   /* queries waiting for raftd */
#define DNSD_PARK_MS         2500   /* a parked query gets SERVFAIL after this */
#define DNSD_PARK_RERUNS     16     /* re-runs before SERVFAIL (keys keep changing) */
#define DNSD_SWEEP_MS        250
#define DNSD_OUT_MAX         (DNS_ANSWER_TCP_BYTES + 4096)
#define DNSD_RECURSORS_MAX   16
#define DNSD_FWD_MAX         256    /* queries forwarded to recursors at once */

struct dnsd;

struct tconn {
	struct dnsd *s;
	struct tconn *prev, *next;
	int fd;
	int watch;
	bool closed;
	bool parked; /* a query of this connection waits: the next waits behind it */
	unsigned refs; /* parked queries pointing here */
	struct buf in, out;
	uint64_t last_ms;
};

struct parked {
	struct parked *next;
	uint8_t *pkt;
	size_t len;
	bool tcp;
	int ufd; /* UDP: the socket it came in on */
	struct sockaddr_storage sa;
	socklen_t salen;
	struct tconn *conn; /* TCP */
	uint64_t deadline_ms;
	unsigned reruns;
	/* Forwarding to a recursor (spec §1.9). */
	struct parked *fprev;
	int ffd, fwatch;
	uint64_t ftimer;
	size_t tried, first;
	/* TCP: the framed query going out, the framed reply coming in. */
	size_t fsent;
	uint8_t *fin;
	size_t fgot;
	struct dnsd *s;
};

struct lsock {
	int fd;
	int watch;
	bool tcp;
	struct dnsd *s;
};

struct dnsd_stats {
	uint64_t udp_queries, tcp_queries, answered, dropped, parked, servfail_timeout,
	    tcp_refused, tcp_accepted, forwarded, recursor_failures;
};

struct dnsd {
	struct daemon *d;
	struct dcache *cache;
	struct dns_answerer *ans;
	struct dns_answer_conf acf;
	struct lsock ls[DNSD_LISTEN_MAX * 2];
	size_t nls;
	struct tconn *conns;
	size_t nconns;
	struct parked *parked;
	size_t nparked;
	struct buf out;
	uint64_t rng;
	uint64_t sweep_timer;
	struct sockaddr_storage rec[DNSD_RECURSORS_MAX];
	socklen_t reclen[DNSD_RECURSORS_MAX];
	size_t nrec;
	struct parked *fwds; /* forwarded queries, waiting for a recursor */
	size_t nfwd;
	struct dnsd_stats st;
};

static uint8_t udp_buf[65536];

static void tcp_process(struct tconn *k);
static void tcp_want(struct tconn *k);
static void forward(struct dnsd *s, const uint8_t *pkt, size_t len, bool tcp, int ufd,
		    const struct sockaddr_storage *sa, socklen_t salen, struct tconn *k);

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- answering ---- */

enum run_result { RUN_SEND, RUN_DROP, RUN_MISS, RUN_RECURSE };

/* Runs the answerer once; the reply is in s->out when RUN_SEND. */
static enum run_result run_query(struct dnsd *s, const uint8_t *pkt, size_t len, bool tcp)
{
	enum dns_answer_result r;

	buf_reset(&s->out);
	dcache_begin(s->cache);
	r = dns_answer(s->ans, pkt, len, tcp, (uint64_t)time(NULL), &s->rng, &s->out);
	if (dcache_missed(s->cache))
		return RUN_MISS;
	if (r == DNS_ANSWER_RECURSE && s->nrec > 0)
		return RUN_RECURSE;
	if (r != DNS_ANSWER_REPLY || s->out.err || s->out.len == 0)
		return RUN_DROP; /* RECURSE cannot happen: no recursors yet */
	return RUN_SEND;
}

/* SERVFAIL for a query we could not answer in time (spec §1.7). */
static bool servfail(struct dnsd *s, const uint8_t *pkt, size_t len)
{
	struct dns_query q;

	buf_reset(&s->out);
	if (dns_parse_query(pkt, len, &q) != DNS_PARSE_OK)
		return false;
	return dns_answer_error(s->ans, &q, DNS_R_SERVFAIL, &s->out) == 0 && !s->out.err &&
	       s->out.len > 0;
}

static void udp_send(int fd, const struct sockaddr_storage *sa, socklen_t salen, struct buf *b)
{
	/* a full socket buffer loses the reply as the network would; the
	 * client retries */
	(void)sendto(fd, b->p, b->len, MSG_DONTWAIT, (const struct sockaddr *)sa, salen);
}

static void tcp_send(struct tconn *k, struct buf *b)
{
	if (k->closed)
		return;
	buf_put_be16(&k->out, (uint16_t)b->len);
	buf_append(&k->out, b->p, b->len);
	tcp_want(k);
}

/* A copy of a query that waits (for raftd, or a recursor): NULL after
 * answering SERVFAIL when full waiters already wait. The connection (TCP)
 * waits behind it. */
static struct parked *parked_new(struct dnsd *s, const uint8_t *pkt, size_t len, bool tcp, int ufd,
				 const struct sockaddr_storage *sa, socklen_t salen, struct tconn *k,
				 bool full)
{
	struct parked *p;

	if (full) {
		if (servfail(s, pkt, len)) {
			if (tcp)
				tcp_send(k, &s->out);
			else
				udp_send(ufd, sa, salen, &s->out);
		}
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->pkt = xmalloc(len);
	memcpy(p->pkt, pkt, len);
	p->len = len;
	p->tcp = tcp;
	p->ufd = ufd;
	if (sa)
		memcpy(&p->sa, sa, salen);
	p->salen = salen;
	p->conn = k;
	if (k) {
		k->refs++;
		k->parked = true;
	}
	p->ffd = -1;
	return p;
}

static void park(struct dnsd *s, const uint8_t *pkt, size_t len, bool tcp, int ufd,
		 const struct sockaddr_storage *sa, socklen_t salen, struct tconn *k)
{
	struct parked *p = parked_new(s, pkt, len, tcp, ufd, sa, salen, k,
				      s->nparked >= DNSD_PARKED_MAX);

	if (p == NULL)
		return;
	p->deadline_ms = ev_now_ms(s->d->ev) + DNSD_PARK_MS;
	p->next = s->parked;
	s->parked = p;
	s->nparked++;
	s->st.parked++;
}

static void tconn_release(struct tconn *k)
{
	if (--k->refs == 0 && k->closed) {
		buf_fini(&k->in);
		buf_fini(&k->out);
		free(k);
	}
}

/* Delivers (or drops) a parked query's reply in s->out and frees it. */
static void unpark(struct dnsd *s, struct parked *p, bool send)
{
	struct tconn *k = p->conn;

	if (send) {
		if (p->tcp)
			tcp_send(k, &s->out);
		else
			udp_send(p->ufd, &p->sa, p->salen, &s->out);
	}
	free(p->pkt);
	free(p->fin);
	free(p);
	s->nparked--;
	if (k) {
		k->parked = false;
		if (!k->closed)
			tcp_process(k); /* the queries behind it, in order */
		tconn_release(k);
	}
}

/* The cache got a reply: every parked query re-runs; those still missing
 * a key wait on. */
static void on_cache_ready(void *arg)
{
	struct dnsd *s = arg;
	struct parked *list = s->parked, *p, *next, *keep = NULL;

	s->parked = NULL;
	for (p = list; p; p = next) {
		enum run_result r;

		next = p->next;
		r = run_query(s, p->pkt, p->len, p->tcp);
		if (r == RUN_MISS && ++p->reruns < DNSD_PARK_RERUNS) {
			p->next = keep;
			keep = p;
			continue;
		}
		if (r == RUN_MISS)
			r = servfail(s, p->pkt, p->len) ? RUN_SEND : RUN_DROP;
		if (r == RUN_RECURSE) {
			/* the connection passes to the forwarded copy, so the
			 * queries behind it keep waiting */
			struct tconn *k = p->conn;

			p->conn = NULL;
			forward(s, p->pkt, p->len, p->tcp, p->ufd, &p->sa, p->salen, k);
			if (k)
				tconn_release(k);
			unpark(s, p, false);
			continue;
		}
		if (r == RUN_SEND)
			s->st.answered++;
		unpark(s, p, r == RUN_SEND);
	}
	/* queries parked while re-running went to s->parked */
	while (keep) {
		p = keep;
		keep = p->next;
		p->next = s->parked;
		s->parked = p;
	}
}

/* ---- recursors (spec §1.9): names outside the domain are forwarded ---- */

static void fwd_try(struct parked *p);

/* Ends the current attempt's socket and timer. */
static void fwd_attempt_end(struct parked *p)
{
	struct dnsd *s = p->s;

	if (p->ftimer)
		ev_timer_del(s->d->ev, p->ftimer);
	p->ftimer = 0;
	if (p->ffd >= 0) {
		ev_del(s->d->ev, p->fwatch);
		close(p->ffd);
	}
	p->ffd = -1;
}

/* Takes p off the forwarding list and answers its client from s->out. */
static void fwd_done(struct parked *p, bool send)
{
	struct dnsd *s = p->s;

	fwd_attempt_end(p);
	if (p->fprev)
		p->fprev->next = p->next;
	else
		s->fwds = p->next;
	if (p->next)
		p->next->fprev = p->fprev;
	s->nfwd--;
	s->nparked++; /* unpark counts it down */
	unpark(s, p, send);
}

/* A recursor's reply to p, relayed verbatim (spec §1.9); false when it is
 * not usable: another recursor is tried. Any RCODE but NOERROR and
 * NXDOMAIN moves on, as Consul does. */
static bool fwd_reply(struct parked *p, const uint8_t *r, size_t n)
{
	struct dnsd *s = p->s;
	uint8_t rcode;

	if (n < 12 || memcmp(r, p->pkt, 2) != 0 || !(r[2] & 0x80))
		return false;
	rcode = r[3] & 0x0f;
	if (rcode != DNS_R_NOERROR && rcode != DNS_R_NXDOMAIN)
		return false;
	buf_reset(&s->out);
	buf_append(&s->out, r, n);
	if (s->out.err)
		return false;
	s->st.answered++;
	fwd_done(p, true);
	return true;
}

static void fwd_next(struct parked *p)
{
	p->s->st.recursor_failures++;
	fwd_attempt_end(p);
	fwd_try(p);
}

static void fwd_udp_readable(struct ev *ev, int revents, void *arg)
{
	struct parked *p = arg;
	ssize_t n;

	(void)ev;
	(void)revents;
	n = recv(p->ffd, udp_buf, sizeof(udp_buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		fwd_next(p); /* refused: the next recursor */
		return;
	}
	if (n < 12 || memcmp(udp_buf, p->pkt, 2) != 0)
		return; /* not the reply to this query: keep waiting */
	if (!fwd_reply(p, udp_buf, (size_t)n))
		fwd_next(p);
}

/* TCP to the recursor: a client that asked over TCP is forwarded over TCP
 * (spec §1.9: the same transport as the client used). One query per
 * connection, framed as RFC 1035 §4.2.2. */
static void fwd_tcp_io(struct ev *ev, int revents, void *arg)
{
	struct parked *p = arg;
	ssize_t n;

	if (p->fsent < 2 + p->len) {
		uint8_t hdr[2] = {(uint8_t)(p->len >> 8), (uint8_t)p->len};
		struct iovec iov[2];
		int niov = 0;

		if (!(revents & (EV_WRITE | EV_ERROR)))
			return;
		if (p->fsent < 2) {
			iov[niov].iov_base = hdr + p->fsent;
			iov[niov++].iov_len = 2 - p->fsent;
			iov[niov].iov_base = p->pkt;
			iov[niov++].iov_len = p->len;
		} else {
			iov[niov].iov_base = p->pkt + (p->fsent - 2);
			iov[niov++].iov_len = p->len - (p->fsent - 2);
		}
		n = writev(p->ffd, iov, niov);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			fwd_next(p); /* refused, reset: the next recursor */
			return;
		}
		p->fsent += (size_t)n;
		if (p->fsent == 2 + p->len)
			ev_set_events(ev, p->fwatch, EV_READ);
		return;
	}
	if (p->fin == NULL)
		p->fin = xmalloc(2 + 65535);
	n = read(p->ffd, p->fin + p->fgot, 2 + 65535 - p->fgot);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fwd_next(p); /* closed before a whole reply */
		return;
	}
	p->fgot += (size_t)n;
	if (p->fgot >= 2) {
		size_t flen = ((size_t)p->fin[0] << 8) | p->fin[1];

		if (p->fgot < 2 + flen)
			return;
		if (!fwd_reply(p, p->fin + 2, flen))
			fwd_next(p);
	}
}

static void fwd_timeout(struct ev *ev, void *arg)
{
	struct parked *p = arg;

	(void)ev;
	p->ftimer = 0;
	fwd_next(p);
}

/* The next recursor, sequential or from a random start (spec §1.10
 * recursor_strategy), each given recursor_timeout; SERVFAIL when all
 * failed. */
static void fwd_try(struct parked *p)
{
	struct dnsd *s = p->s;

	while (p->tried < s->nrec) {
		size_t i = (p->first + p->tried++) % s->nrec;
		int fd = socket(s->rec[i].ss_family,
				(p->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0)
			continue;
		if (connect(fd, (struct sockaddr *)&s->rec[i], s->reclen[i]) != 0 &&
		    !(p->tcp && errno == EINPROGRESS)) {
			close(fd);
			s->st.recursor_failures++;
			continue;
		}
		if (!p->tcp && send(fd, p->pkt, p->len, 0) != (ssize_t)p->len) {
			close(fd);
			s->st.recursor_failures++;
			continue;
		}
		p->fsent = 0;
		p->fgot = 0;
		p->ffd = fd;
		p->fwatch = p->tcp ? ev_add_fd(s->d->ev, fd, EV_WRITE, fwd_tcp_io, p)
				   : ev_add_fd(s->d->ev, fd, EV_READ, fwd_udp_readable, p);
		if (p->fwatch < 0) {
			close(fd);
			p->ffd = -1;
			continue;
		}
		p->ftimer = ev_timer_add(s->d->ev, s->d->conf.dns_config.recursor_timeout_ms,
					 fwd_timeout, p);
		return;
	}
	fwd_done(p, servfail(s, p->pkt, p->len));
}

/* Forwards one query; the client's connection (TCP) waits behind it. */
static void forward(struct dnsd *s, const uint8_t *pkt, size_t len, bool tcp, int ufd,
		    const struct sockaddr_storage *sa, socklen_t salen, struct tconn *k)
{
	struct parked *p = parked_new(s, pkt, len, tcp, ufd, sa, salen, k, s->nfwd >= DNSD_FWD_MAX);

	if (p == NULL)
		return;
	if (strcmp(s->d->conf.dns_config.recursor_strategy, "random") == 0)
		p->first = (size_t)(s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull) %
			   s->nrec;
	p->next = s->fwds;
	if (s->fwds)
		s->fwds->fprev = p;
	s->fwds = p;
	s->nfwd++;
	s->st.forwarded++;
	fwd_try(p);
}

static int parse_recursor(const char *r, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[64];
	const char *port = NULL;
	size_t hl;
	unsigned long pn = 53;

	memset(ss, 0, sizeof(*ss));
	if (r[0] == '[') {
		const char *e = strchr(r, ']');

		if (e == NULL)
			return -1;
		hl = (size_t)(e - r - 1);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, r + 1, hl);
		host[hl] = 0;
		if (e[1] == ':')
			port = e + 2;
	} else if (strchr(r, ':') && strchr(r, ':') == strrchr(r, ':')) {
		hl = (size_t)(strchr(r, ':') - r);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, r, hl);
		host[hl] = 0;
		port = strchr(r, ':') + 1;
	} else {
		if (strlen(r) >= sizeof(host))
			return -1;
		strcpy(host, r);
	}
	if (port) {
		char *end;

		pn = strtoul(port, &end, 10);
		if (*end || pn == 0 || pn > 65535)
			return -1;
	}
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)pn);
		*sl = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)pn);
		*sl = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -1;
}

/* ---- UDP ---- */

static void udp_readable(struct ev *ev, int revents, void *arg)
{
	struct lsock *l = arg;
	struct dnsd *s = l->s;

	(void)ev;
	(void)revents;
	for (int i = 0; i < DNSD_UDP_PER_WAKE; i++) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		ssize_t n = recvfrom(l->fd, udp_buf, sizeof(udp_buf), 0, (struct sockaddr *)&sa, &salen);

		if (n < 0)
			break;
		s->st.udp_queries++;
		switch (run_query(s, udp_buf, (size_t)n, false)) {
		case RUN_SEND:
			s->st.answered++;
			udp_send(l->fd, &sa, salen, &s->out);
			break;
		case RUN_MISS:
			park(s, udp_buf, (size_t)n, false, l->fd, &sa, salen, NULL);
			break;
		case RUN_RECURSE:
			forward(s, udp_buf, (size_t)n, false, l->fd, &sa, salen, NULL);
			break;
		default:
			s->st.dropped++;
			break;
		}
	}
}

/* ---- TCP (RFC 1035 §4.2.2 framing, RFC 7766 several queries) ---- */

static void tcp_close(struct tconn *k)
{
	struct dnsd *s = k->s;

	if (k->closed)
		return;
	k->closed = true;
	ev_del(s->d->ev, k->watch);
	close(k->fd);
	if (k->prev)
		k->prev->next = k->next;
	else
		s->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	s->nconns--;
	tconn_release(k); /* the connection's own reference */
}

static void tcp_want(struct tconn *k)
{
	int ev = 0;

	if (k->closed)
		return;
	if (k->in.len < DNSD_TCP_IN_MAX && k->out.len < DNSD_TCP_OUT_MAX)
		ev |= EV_READ;
	if (k->out.len > 0)
		ev |= EV_WRITE;
	ev_set_events(k->s->d->ev, k->watch, ev);
}

/* Answers the complete frames in the input, in order; stops behind a
 * parked query. */
static void tcp_process(struct tconn *k)
{
	struct dnsd *s = k->s;

	while (!k->closed && !k->parked && k->in.len >= 2 && k->out.len < DNSD_TCP_OUT_MAX) {
		size_t flen = ((size_t)k->in.p[0] << 8) | k->in.p[1];

		if (k->in.len < 2 + flen)
			break;
		s->st.tcp_queries++;
		switch (run_query(s, k->in.p + 2, flen, true)) {
		case RUN_SEND:
			s->st.answered++;
			tcp_send(k, &s->out);
			break;
		case RUN_MISS:
			park(s, k->in.p + 2, flen, true, -1, NULL, 0, k);
			break;
		case RUN_RECURSE:
			forward(s, k->in.p + 2, flen, true, -1, NULL, 0, k);
			break;
		default:
			s->st.dropped++;
			break;
		}
		buf_consume(&k->in, 2 + flen);
	}
	tcp_want(k);
}

static void tcp_io(struct ev *ev, int revents, void *arg)
{
	struct tconn *k = arg;

	k->last_ms = ev_now_ms(ev);
	if (revents & EV_WRITE) {
		ssize_t n = write(k->fd, k->out.p, k->out.len);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			tcp_close(k);
			return;
		}
		if (n > 0)
			buf_consume(&k->out, (size_t)n);
	}
	if (revents & (EV_READ | EV_ERROR)) {
		ssize_t n;

		if (buf_reserve(&k->in, 4096) != 0) {
			tcp_close(k);
			return;
		}
		n = read(k->fd, k->in.p + k->in.len, k->in.size - k->in.len < DNSD_TCP_IN_MAX - k->in.len
							     ? k->in.size - k->in.len
							     : DNSD_TCP_IN_MAX - k->in.len);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			tcp_close(k);
			return;
		}
		if (n > 0)
			k->in.len += (size_t)n;
	}
	tcp_process(k);
}

static void tcp_acceptable(struct ev *ev, int revents, void *arg)
{
	struct lsock *l = arg;
	struct dnsd *s = l->s;

	(void)revents;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct tconn *k;

		if (fd < 0)
			return;
		if (s->nconns >= DNSD_TCP_CONNS_MAX) {
			s->st.tcp_refused++;
			close(fd);
			continue;
		}
		k = xcalloc(1, sizeof(*k));
		k->s = s;
		k->fd = fd;
		k->refs = 1; /* the connection's own */
		buf_init(&k->in, DNSD_TCP_IN_MAX + 4096);
		buf_init(&k->out, DNSD_TCP_OUT_MAX + DNSD_OUT_MAX);
		k->last_ms = ev_now_ms(ev);
		k->watch = ev_add_fd(ev, fd, EV_READ, tcp_io, k);
		if (k->watch < 0) {
			close(fd);
			buf_fini(&k->in);
			buf_fini(&k->out);
			free(k);
			continue;
		}
		k->next = s->conns;
		if (s->conns)
			s->conns->prev = k;
		s->conns = k;
		s->nconns++;
		s->st.tcp_accepted++;
	}
}

/* ---- timers: parked deadlines, idle connections ---- */

static void sweep(struct ev *ev, void *arg)
{
	struct dnsd *s = arg;
	uint64_t now = ev_now_ms(ev);
	struct parked **pp = &s->parked;
	struct tconn *k, *next;

	s->sweep_timer = ev_timer_add(ev, DNSD_SWEEP_MS, sweep, s);
	while (*pp) {
		struct parked *p = *pp;

		if (now < p->deadline_ms) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		s->st.servfail_timeout++;
		unpark(s, p, servfail(s, p->pkt, p->len));
		pp = &s->parked; /* unpark may have parked more: start over */
	}
	for (k = s->conns; k; k = next) {
		next = k->next;
		if (!k->parked && k->out.len == 0 && now - k->last_ms >= DNSD_TCP_IDLE_MS)
			tcp_close(k);
	}
}

/* ---- listeners ---- */

static int listen_one(struct dnsd *s, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fam;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		fam = a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		sl = sizeof(*a);
	} else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		fam = a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		sl = sizeof(*a);
	} else {
		log_error("dnsd: %s: not an IP address", addr);
		return -1;
	}
	for (int tcp = 0; tcp < 2; tcp++) {
		int one = 1;
		int fd;
		struct lsock *l;

		if (s->nls >= DNSD_LISTEN_MAX * 2) {
			log_error("dnsd: more than %d DNS addresses", DNSD_LISTEN_MAX);
			return -1;
		}
		fd = socket(fam, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fam == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (set_nonblock(fd) != 0 || bind(fd, (struct sockaddr *)&ss, sl) != 0 ||
		    (tcp && listen(fd, 128) != 0)) {
			log_error("dnsd: %s %s:%d: %s", tcp ? "tcp" : "udp", addr, port, strerror(errno));
			close(fd);
			return -1;
		}
		l = &s->ls[s->nls];
		l->fd = fd;
		l->tcp = tcp;
		l->s = s;
		l->watch = ev_add_fd(s->d->ev, fd, EV_READ, tcp ? tcp_acceptable : udp_readable, l);
		if (l->watch < 0) {
			close(fd);
			return -1;
		}
		s->nls++;
	}
	log_info("dnsd: DNS on %s:%d (udp, tcp)", addr, port);
	return 0;
}

static void dnsd_stop(struct daemon *d);

/* The answerer and the recursors from the configuration: at start and on
 * each reload (the answerer keeps pointers into d->conf, which a reload
 * replaces). */
static int dnsd_configure(struct dnsd *s, char *err, size_t err_size)
{
	const struct conf *cf = &s->d->conf;
	struct dns_answerer *ans;

	s->nrec = 0;
	for (size_t i = 0; i < cf->recursors.n && s->nrec < DNSD_RECURSORS_MAX; i++) {
		if (parse_recursor(cf->recursors.v[i], &s->rec[s->nrec], &s->reclen[s->nrec]) != 0) {
			log_warnx("dnsd: recursor %s: not ip[:port]; ignored", cf->recursors.v[i]);
			continue;
		}
		s->nrec++;
	}
	s->acf.domain = cf->domain;
	s->acf.alt_domain = cf->alt_domain;
	s->acf.dc = cf->datacenter;
	s->acf.dns = &cf->dns_config;
	s->acf.has_recursors = s->nrec > 0; /* spec §1.9: RA and forwarding */
	ans = dns_answerer_new(&s->acf, dcache_view(s->cache));
	if (ans == NULL) {
		snprintf(err, err_size, "dnsd: invalid domain, alt_domain or datacenter");
		return -1;
	}
	dns_answerer_free(s->ans);
	s->ans = ans;
	return 0;
}

static int dnsd_start(struct daemon *d)
{
	struct dnsd *s = xcalloc(1, sizeof(*s));
	const struct conf *cf = &d->conf;
	const struct conf_list *addrs = cf->addresses.dns.n ? &cf->addresses.dns : &cf->client_addr;
	char err[128];

	d->priv = s;
	s->d = d;
	s->rng = daemon_random64() | 1;
	buf_init(&s->out, DNSD_OUT_MAX);
	s->cache = dcache_new(d->ev, d->run_dir, &cf->dns_config, on_cache_ready, s);
	if (s->cache == NULL) {
		log_error("dnsd: cannot reach raftd's bus endpoints");
		goto fail;
	}
	if (dnsd_configure(s, err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto fail;
	}
	if (cf->ports.dns > 0)
		for (size_t i = 0; i < addrs->n; i++)
			if (listen_one(s, addrs->v[i], cf->ports.dns) != 0)
				goto fail;
	s->sweep_timer = ev_timer_add(d->ev, DNSD_SWEEP_MS, sweep, s);
	return 0;
fail:
	dnsd_stop(d);
	return -1;
}

/* Listeners stay as they were (a changed ports.dns or address needs a
 * restart); the answerer and the recursors follow the new configuration.
 * Queries forwarded or parked keep their copies. */
static int dnsd_reload(struct daemon *d, const struct conf *old, char *err, size_t err_size)
{
	struct dnsd *s = d->priv;

	(void)old;
	if (s == NULL)
		return 0;
	if (s->nfwd > 0) {
		/* a forwarded query indexes the recursor table */
		snprintf(err, err_size, "dnsd: queries are being forwarded; retry the reload");
		return -1;
	}
	return dnsd_configure(s, err, err_size);
}

static void dnsd_stop(struct daemon *d)
{
	struct dnsd *s = d->priv;

	if (s == NULL)
		return;
	if (s->sweep_timer)
		ev_timer_del(d->ev, s->sweep_timer);
	/* connections first: a closed one processes nothing more */
	while (s->conns)
		tcp_close(s->conns);
	while (s->parked) {
		struct parked *p = s->parked;

		s->parked = p->next;
		unpark(s, p, false);
	}
	while (s->fwds)
		fwd_done(s->fwds, false);
	for (size_t i = 0; i < s->nls; i++) {
		ev_del(d->ev, s->ls[i].watch);
		close(s->ls[i].fd);
	}
	dns_answerer_free(s->ans);
	dcache_free(s->cache);
	buf_fini(&s->out);
	free(s);
	d->priv = NULL;
}

static void dnsd_stats(struct daemon *d, struct msg_daemon_stats *out)
{
	struct dnsd *s = d->priv;
	const struct dcache_stats *cs;

	if (s == NULL)
		return;
	cs = dcache_stats(s->cache);
	daemon_stat_add(out, "udp_queries", 0, (double)s->st.udp_queries);
	daemon_stat_add(out, "tcp_queries", 0, (double)s->st.tcp_queries);
	daemon_stat_add(out, "answered", 0, (double)s->st.answered);
	daemon_stat_add(out, "dropped", 0, (double)s->st.dropped);
	daemon_stat_add(out, "parked", 0, (double)s->st.parked);
	daemon_stat_add(out, "servfail_timeout", 0, (double)s->st.servfail_timeout);
	daemon_stat_add(out, "tcp_conns", 0, (double)s->nconns);
	daemon_stat_add(out, "tcp_refused", 0, (double)s->st.tcp_refused);
	daemon_stat_add(out, "forwarded", 0, (double)s->st.forwarded);
	daemon_stat_add(out, "recursor_failures", 0, (double)s->st.recursor_failures);
	daemon_stat_add(out, "cache_entries", 0, (double)dcache_count(s->cache));
	daemon_stat_add(out, "cache_hits", 0, (double)cs->hits);
	daemon_stat_add(out, "cache_misses", 0, (double)cs->misses);
	daemon_stat_add(out, "cache_fetches", 0, (double)cs->fetches);
	daemon_stat_add(out, "cache_fetch_errors", 0, (double)cs->fetch_errors);
	daemon_stat_add(out, "cache_invalidations", 0, (double)cs->invalidations);
	daemon_stat_add(out, "cache_evictions", 0, (double)cs->evictions);
	daemon_stat_add(out, "sub_probes", 0, (double)cs->probes);
	daemon_stat_add(out, "sub_unlive", 0, (double)cs->unlive);
}

static const struct daemon_ops dnsd_ops = {
    .name = "dnsd",
    .start = dnsd_start,
    .stop = dnsd_stop,
    .reload = dnsd_reload,
    .stats = dnsd_stats,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &dnsd_ops);
}

/* peer.c: raftd to raftd over ports.server (peer.h). One loop, one dispatch: every frame a
 * server's ROUTER receives is a RAFT_STEP (stepped into the core; snapshot chunks gathered
 * into a file first) or a FORWARD (handed to raftd_request() as if a local daemon had sent it,
 * its reply routed back); a DEALER only ever receives FORWARD_REPLYs. */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "buf.h"
#include "daemon.h"
#include "ev.h"
#include "log.h"
#include "raftd.h"
#include "store.h"
#include "xalloc.h"

/* An outbound DEALER to one address. */
struct plink {
	struct peer *p;
	char addr[RAFT_ADDR_MAX];
	void *z;
	int watch;
	void *mon; /* ZMQ_EVENT_DISCONNECTED of z: its forwards fail at once */
	int mwatch;
	uint64_t used_ms;
	/* A snapshot being streamed through this link (one at a time). */
	int snap_fd;
	uint64_t snap_to, snap_index, snap_term, snap_total, snap_off;
	uint8_t snap_conf[RAFT_CONF_ENCODED_MAX];
	size_t snap_conf_len;
};

/* A request this raftd forwarded, waiting for its FORWARD_REPLY. */
struct pfwd {
	struct pfwd *next;
	struct plink *link; /* the link it went out on */
	uint64_t id;
	struct ipc_from from;
	uint64_t deadline_ms;
	peer_call_cb cb; /* raftd's own call (peer_call): the reply goes here */
	void *arg;
	/* a read, kept encoded to go again when its server is lost */
	uint8_t *retry;
	size_t retry_len;
	uint64_t hops;
};

/* What the core is told about a follower, after the ready that sent to it
 * (nothing may touch the core between raft_ready() and raft_advance()). */
enum rep_kind { REP_UNREACHABLE, REP_SNAP_OK, REP_SNAP_FAIL };
#define PEER_REPORTS_MAX 256

struct peer {
	struct raftd *rd;
	struct {
		uint64_t id;
		enum rep_kind kind;
	} reports[PEER_REPORTS_MAX];
	size_t nreports;
	void *router;
	int rwatch;
	char route_id[IPC_NAME_MAX]; /* this raftd's DEALER routing id */
	struct plink *links[PEER_LINKS_MAX];
	size_t nlinks;
	/* Where servers said they listen (RAFT_STEP's from_addr): for those
	 * the configuration does not name yet. */
	struct {
		uint64_t id;
		char addr[RAFT_ADDR_MAX];
		uint64_t heard_ms; /* the last RAFT_STEP from it */
		uint64_t since_ms; /* heard without a gap since */
	} book[PEER_LINKS_MAX];
	size_t nbook;
	struct pfwd *fwds;
	size_t nfwd;
	uint64_t next_fwd;
	uint64_t sweep_timer;
	/* The snapshot being received (one at a time: the leader sends one). */
	int in_fd;
	uint64_t in_from, in_index, in_got;
	char in_path[4300];
	bool in_ready; /* whole, stepped, waiting for the core's ready */
	struct peer_stats st;
};

static uint64_t now_ms(struct peer *p)
{
	return ev_now_ms(p->rd->d->ev);
}

static void report(struct peer *p, uint64_t id, enum rep_kind kind)
{
	for (size_t i = 0; i < p->nreports; i++)
		if (p->reports[i].id == id && p->reports[i].kind == kind)
			return;
	if (p->nreports < PEER_REPORTS_MAX) {
		p->reports[p->nreports].id = id;
		p->reports[p->nreports].kind = kind;
		p->nreports++;
	}
	raftd_poke(p->rd);
}

void peer_apply_reports(struct peer *p)
{
	for (size_t i = 0; i < p->nreports; i++) {
		if (p->reports[i].kind == REP_UNREACHABLE)
			raft_report_unreachable(p->rd->raft, p->reports[i].id);
		else
			raft_report_snapshot(p->rd->raft, p->reports[i].id,
			                     p->reports[i].kind == REP_SNAP_OK);
	}
	p->nreports = 0;
}

/* ---- sending ---- */

static int zsend(void *z, const void *rid, size_t rid_len, struct msg *m)
{
	struct buf b;
	int rc;

	buf_init(&b, PEER_MSG_MAX);
	if (msg_encode(m, &b) != 0 || b.err) {
		log_warnx("raftd: %s does not fit in %u bytes", msg_type_name(m->type), PEER_MSG_MAX);
		buf_fini(&b);
		return -1;
	}
	rc = 0;
	if (rid != NULL && zmq_send(z, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		rc = -1;
	if (rc == 0 && zmq_send(z, b.p, b.len, ZMQ_DONTWAIT) < 0)
		rc = -1;
	buf_fini(&b);
	return rc;
}

static void link_io(struct ev *ev, int revents, void *arg);
static void link_mon(struct ev *ev, int revents, void *arg);
static void fwd_fail_link(struct peer *p, struct plink *l, const char *why);

static void link_free(struct peer *p, struct plink *l)
{
	if (l->mon != NULL) {
		ev_del(p->rd->d->ev, l->mwatch);
		zmq_socket_monitor(l->z, NULL, 0);
		zmq_close(l->mon);
	}
	ev_del(p->rd->d->ev, l->watch);
	zmq_close(l->z);
	free(l);
}

static void link_close(struct peer *p, size_t i)
{
	struct plink *l = p->links[i];

	if (l->snap_fd >= 0) {
		close(l->snap_fd);
		report(p, l->snap_to, REP_SNAP_FAIL);
	}
	fwd_fail_link(p, l, "rpc error: the connection was closed");
	p->links[i] = p->links[--p->nlinks];
	link_free(p, l);
}

/* A link's monitor: a disconnection fails the forwards waiting on it at
 * once (the server went: a blocking read would otherwise wait its whole
 * deadline), as a Consul RPC fails when its connection closes. */
static void link_mon(struct ev *ev, int revents, void *arg)
{
	struct plink *l = arg;

	(void)ev;
	(void)revents;
	for (int n = 0; n < 64; n++) {
		zmq_msg_t a, b;
		uint16_t event = 0;

		zmq_msg_init(&a);
		if (zmq_msg_recv(&a, l->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&a);
			return;
		}
		if (zmq_msg_size(&a) >= 2)
			memcpy(&event, zmq_msg_data(&a), 2);
		zmq_msg_close(&a);
		zmq_msg_init(&b); /* the endpoint */
		(void)zmq_msg_recv(&b, l->mon, ZMQ_DONTWAIT);
		zmq_msg_close(&b);
		if (event == ZMQ_EVENT_DISCONNECTED)
			fwd_fail_link(l->p, l, "rpc error: the connection to the server was lost");
	}
}

static struct plink *link_get(struct peer *p, const char *addr)
{
	char ep[RAFT_ADDR_MAX + 16];
	int64_t maxsize = PEER_MSG_MAX;
	int hwm = 1000, linger = 0, ivl = 100, ivl_max = PEER_RECONNECT_MAX_MS;
	struct plink *l;

	if (addr == NULL || addr[0] == '\0' || strlen(addr) >= RAFT_ADDR_MAX)
		return NULL;
	for (size_t i = 0; i < p->nlinks; i++)
		if (strcmp(p->links[i]->addr, addr) == 0) {
			p->links[i]->used_ms = now_ms(p);
			return p->links[i];
		}
	if (p->nlinks >= PEER_LINKS_MAX) {
		/* the least recently used link goes (its address is likely gone) */
		size_t old = 0;

		for (size_t i = 1; i < p->nlinks; i++)
			if (p->links[i]->used_ms < p->links[old]->used_ms)
				old = i;
		link_close(p, old);
	}
	l = xcalloc(1, sizeof(*l));
	l->p = p;
	l->snap_fd = -1;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	snprintf(ep, sizeof(ep), "tcp://%s", addr);
	l->z = zmq_socket(ipc_ctx(), ZMQ_DEALER);
	if (l->z == NULL) {
		free(l);
		return NULL;
	}
	zmq_setsockopt(l->z, ZMQ_MAXMSGSIZE, &maxsize, sizeof(maxsize));
	zmq_setsockopt(l->z, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(l->z, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(l->z, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(l->z, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	zmq_setsockopt(l->z, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
	zmq_setsockopt(l->z, ZMQ_ROUTING_ID, p->route_id, strlen(p->route_id));
	/* Queue only to a connected peer: a server that is down must not
	 * get minutes of stale appends when it comes back (Raft resends what
	 * is needed), and a request that cannot go now is held and retried
	 * (raftd_hold) rather than parked in a socket. */
	{
		int one = 1;

		zmq_setsockopt(l->z, ZMQ_IMMEDIATE, &one, sizeof(one));
	}
	if (zmq_connect(l->z, ep) != 0) {
		log_warnx("raftd: connect %s: %s", ep, zmq_strerror(errno));
		zmq_close(l->z);
		free(l);
		return NULL;
	}
	l->watch = ev_add_zsock(p->rd->d->ev, l->z, EV_READ, link_io, l);
	if (l->watch < 0) {
		zmq_close(l->z);
		free(l);
		return NULL;
	}
	{
		char mep[64];

		snprintf(mep, sizeof(mep), "inproc://raftd-link-%p", (void *)l);
		if (zmq_socket_monitor(l->z, mep, ZMQ_EVENT_DISCONNECTED) == 0 &&
		    (l->mon = zmq_socket(ipc_ctx(), ZMQ_PAIR)) != NULL) {
			int zero = 0;

			zmq_setsockopt(l->mon, ZMQ_LINGER, &zero, sizeof(zero));
			if (zmq_connect(l->mon, mep) != 0 ||
			    (l->mwatch = ev_add_zsock(p->rd->d->ev, l->mon, EV_READ, link_mon, l)) < 0) {
				zmq_close(l->mon);
				l->mon = NULL;
			}
		}
		/* without a monitor a lost server costs a forward its deadline */
	}
	l->used_ms = now_ms(p);
	p->links[p->nlinks++] = l;
	p->st.links++;
	return l;
}

static void book_set(struct peer *p, uint64_t id, const char *addr)
{
	size_t i;

	if (id == RAFT_NONE || addr == NULL || addr[0] == '\0' || strlen(addr) >= RAFT_ADDR_MAX)
		return;
	for (i = 0; i < p->nbook && p->book[i].id != id; i++)
		;
	if (i == p->nbook) {
		if (p->nbook == PEER_LINKS_MAX)
			i = (size_t)(id % PEER_LINKS_MAX); /* full: one goes */
		else
			p->nbook++;
	}
	if (p->book[i].id != id || now_ms(p) - p->book[i].heard_ms > PEER_GAP_MS)
		p->book[i].since_ms = now_ms(p);
	p->book[i].id = id;
	p->book[i].heard_ms = now_ms(p);
	snprintf(p->book[i].addr, sizeof(p->book[i].addr), "%s", addr);
}

bool peer_heard(const struct peer *p, uint64_t id, uint64_t *heard_ms, uint64_t *since_ms)
{
	for (size_t i = 0; i < p->nbook; i++)
		if (p->book[i].id == id) {
			*heard_ms = p->book[i].heard_ms;
			*since_ms = p->book[i].since_ms;
			return true;
		}
	return false;
}

static const char *addr_of(struct peer *p, uint64_t id)
{
	const struct raft_member *mem = raft_conf_find(raft_conf_latest(p->rd->raft), id);

	if (mem != NULL && mem->addr[0] != '\0')
		return mem->addr;
	for (size_t i = 0; i < p->nbook; i++)
		if (p->book[i].id == id)
			return p->book[i].addr;
	return NULL;
}

static void step_fill(struct msg *out, const struct raft_msg *m)
{
	struct msg_raft_step *s = &out->u.raft_step;

	memset(out, 0, sizeof(*out));
	out->type = MSG_RAFT_STEP;
	s->type = m->type;
	s->from = m->from;
	s->to = m->to;
	s->term = m->term;
	s->log_term = m->log_term;
	s->index = m->index;
	s->commit = m->commit;
	s->context = m->context;
	s->reject = m->reject;
	s->reject_hint = m->reject_hint;
}

/* The newest snapshot file at or past index: <data_dir>/raft/snapshots. */
static int snap_file(struct peer *p, uint64_t index, char *path, size_t size)
{
	char dir[4200];
	struct dirent *de;
	uint64_t best = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/raft/snapshots", p->rd->d->conf.data_dir);
	d = opendir(dir);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char *end;
		unsigned long long v;

		if (strlen(de->d_name) != 25 || strcmp(de->d_name + 20, ".snap") != 0)
			continue;
		v = strtoull(de->d_name, &end, 10);
		if (end == de->d_name + 20 && v >= index && v > best)
			best = v;
	}
	closedir(d);
	if (best == 0)
		return -1;
	snprintf(path, size, "%s/%020" PRIu64 ".snap", dir, best);
	return 0;
}

/* Sends snapshot chunks while the link takes them (ZeroMQ's queue is the
 * back-pressure: at its high-water mark the rest waits for POLLOUT). */
static void snap_pump(struct plink *l)
{
	struct peer *p = l->p;
	static uint8_t chunk[PEER_SNAP_CHUNK];

	while (l->snap_fd >= 0) {
		struct msg m;
		struct msg_raft_step *s = &m.u.raft_step;
		ssize_t n = pread(l->snap_fd, chunk, sizeof(chunk), (off_t)l->snap_off);

		if (n < 0 || (n == 0 && l->snap_off < l->snap_total)) {
			log_warnx("raftd: snapshot %" PRIu64 " to %016" PRIx64 ": read: %s",
			          l->snap_index, l->snap_to, n < 0 ? strerror(errno) : "short file");
			close(l->snap_fd);
			l->snap_fd = -1;
			report(p, l->snap_to, REP_SNAP_FAIL);
			raftd_poke(p->rd);
			break;
		}
		memset(&m, 0, sizeof(m));
		m.type = MSG_RAFT_STEP;
		s->type = RAFT_MSG_SNAP;
		s->from = p->rd->id;
		s->to = l->snap_to;
		s->term = raft_term(p->rd->raft);
		s->snap_index = l->snap_index;
		s->snap_term = l->snap_term;
		s->snap_conf.p = l->snap_conf;
		s->snap_conf.len = l->snap_conf_len;
		s->snap_total = l->snap_total;
		s->snap_offset = l->snap_off;
		s->snap_chunk.p = chunk;
		s->snap_chunk.len = (size_t)n;
		s->snap_last = l->snap_off + (uint64_t)n >= l->snap_total;
		s->from_addr = p->rd->self_addr;
		if (zsend(l->z, NULL, 0, &m) != 0) {
			if (errno == EAGAIN) {
				ev_set_events(p->rd->d->ev, l->watch, EV_READ | EV_WRITE);
				return;
			}
			close(l->snap_fd);
			l->snap_fd = -1;
			report(p, l->snap_to, REP_SNAP_FAIL);
			raftd_poke(p->rd);
			break;
		}
		l->snap_off += (uint64_t)n;
		if (s->snap_last) {
			close(l->snap_fd);
			l->snap_fd = -1;
			p->st.snaps_sent++;
			log_info("raftd: snapshot %" PRIu64 " (%" PRIu64 " bytes) sent to %016" PRIx64,
			         l->snap_index, l->snap_total, l->snap_to);
			report(p, l->snap_to, REP_SNAP_OK);
			raftd_poke(p->rd);
		}
	}
	ev_set_events(p->rd->d->ev, l->watch, EV_READ);
}

static void snap_start(struct peer *p, struct plink *l, const struct raft_msg *m)
{
	char path[4300];
	struct raft_conf conf;
	struct stat st;

	if (l->snap_fd >= 0)
		return; /* one at a time: the core asks again after this one */
	if (snap_file(p, m->snapshot.index, path, sizeof(path)) != 0 ||
	    store_snapshot_info(path, &l->snap_index, &l->snap_term, &conf) != 0) {
		log_warnx("raftd: no snapshot file at or past %" PRIu64 " for %016" PRIx64,
		          m->snapshot.index, m->to);
		report(p, m->to, REP_SNAP_FAIL);
		return;
	}
	l->snap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (l->snap_fd < 0 || fstat(l->snap_fd, &st) != 0) {
		log_warnx("raftd: %s: %s", path, strerror(errno));
		if (l->snap_fd >= 0)
			close(l->snap_fd);
		l->snap_fd = -1;
		report(p, m->to, REP_SNAP_FAIL);
		return;
	}
	l->snap_conf_len = raft_conf_encode(&conf, l->snap_conf, sizeof(l->snap_conf));
	l->snap_to = m->to;
	l->snap_total = (uint64_t)st.st_size;
	l->snap_off = 0;
	log_info("raftd: streaming snapshot %" PRIu64 " (%" PRIu64 " bytes) to %016" PRIx64,
	         l->snap_index, l->snap_total, m->to);
	snap_pump(l);
}

void peer_send_raft(struct peer *p, const struct raft_msg *m)
{
	const char *addr = addr_of(p, m->to);
	struct plink *l = addr ? link_get(p, addr) : NULL;
	struct msg out;
	struct msg_raft_ent *ents = NULL;

	if (l == NULL) {
		p->st.send_dropped++;
		if (m->type == RAFT_MSG_SNAP)
			report(p, m->to, REP_SNAP_FAIL);
		else
			report(p, m->to, REP_UNREACHABLE);
		return;
	}
	if (m->type == RAFT_MSG_SNAP) {
		snap_start(p, l, m);
		return;
	}
	step_fill(&out, m);
	out.u.raft_step.from_addr = p->rd->self_addr;
	if (m->n_entries > 0) {
		ents = xcalloc(m->n_entries, sizeof(*ents));
		for (size_t i = 0; i < m->n_entries; i++) {
			ents[i].term = m->entries[i].term;
			ents[i].index = m->entries[i].index;
			ents[i].type = m->entries[i].type;
			ents[i].data.p = m->entries[i].data;
			ents[i].data.len = m->entries[i].len;
		}
		out.u.raft_step.entries.v = ents;
		out.u.raft_step.entries.n = (uint32_t)m->n_entries;
	}
	if (zsend(l->z, NULL, 0, &out) != 0) {
		p->st.send_dropped++;
		report(p, m->to, REP_UNREACHABLE);
	} else {
		p->st.sent++;
	}
	free(ents);
}

/* ---- receiving Raft messages ---- */

static void in_reset(struct peer *p)
{
	if (p->in_fd >= 0)
		close(p->in_fd);
	p->in_fd = -1;
	p->in_got = 0;
	p->in_index = 0;
}

/* Gathers a snapshot chunk; steps the whole snapshot once the last one is
 * on disk (fsynced: the core persists nothing more of it). */
static void recv_snap_chunk(struct peer *p, const struct msg_raft_step *s)
{
	struct raft_msg m;

	if (s->snap_offset == 0) {
		in_reset(p);
		p->in_ready = false;
		snprintf(p->in_path, sizeof(p->in_path), "%s/raft/incoming.snap",
		         p->rd->d->conf.data_dir);
		p->in_fd = open(p->in_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (p->in_fd < 0) {
			log_warnx("raftd: %s: %s", p->in_path, strerror(errno));
			return;
		}
		p->in_from = s->from;
		p->in_index = s->snap_index;
	}
	if (p->in_fd < 0 || s->from != p->in_from || s->snap_index != p->in_index ||
	    s->snap_offset != p->in_got || s->snap_total > PEER_SNAP_MAX ||
	    p->in_got + s->snap_chunk.len > s->snap_total) {
		if (p->in_fd >= 0)
			log_warnx("raftd: snapshot %" PRIu64 " from %016" PRIx64
			          ": chunk at %" PRIu64 " out of order; dropped",
			          s->snap_index, s->from, s->snap_offset);
		in_reset(p);
		return;
	}
	if (s->snap_chunk.len > 0 &&
	    write(p->in_fd, s->snap_chunk.p, s->snap_chunk.len) != (ssize_t)s->snap_chunk.len) {
		log_warnx("raftd: %s: %s", p->in_path, strerror(errno));
		in_reset(p);
		return;
	}
	p->in_got += s->snap_chunk.len;
	if (!s->snap_last)
		return;
	if (p->in_got != s->snap_total || fsync(p->in_fd) != 0) {
		in_reset(p);
		return;
	}
	close(p->in_fd);
	p->in_fd = -1;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_SNAP;
	m.from = s->from;
	m.to = s->to;
	m.term = s->term;
	m.snapshot.index = s->snap_index;
	m.snapshot.term = s->snap_term;
	if (raft_conf_decode(&m.snapshot.conf, s->snap_conf.p, s->snap_conf.len) != 0) {
		p->st.bad++;
		return;
	}
	p->in_ready = true;
	p->st.snaps_received++;
	log_info("raftd: snapshot %" PRIu64 " (%" PRIu64 " bytes) received from %016" PRIx64,
	         s->snap_index, s->snap_total, s->from);
	if (raft_step(p->rd->raft, &m) != 0)
		p->st.bad++;
	raftd_poke(p->rd);
}

static void recv_step(struct peer *p, const struct msg_raft_step *s)
{
	struct raft_msg m;
	struct raft_entry *ents = NULL;

	if (s->to != p->rd->id || s->type == 0 || s->type >= RAFT_MSG_TYPE_MAX) {
		p->st.bad++;
		return;
	}
	book_set(p, s->from, s->from_addr);
	if (s->type == RAFT_MSG_SNAP) {
		recv_snap_chunk(p, s);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = (enum raft_msg_type)s->type;
	m.from = s->from;
	m.to = s->to;
	m.term = s->term;
	m.log_term = s->log_term;
	m.index = s->index;
	m.commit = s->commit;
	m.context = s->context;
	m.reject = s->reject;
	m.reject_hint = s->reject_hint;
	if (s->entries.n > 0) {
		ents = xcalloc(s->entries.n, sizeof(*ents));
		for (uint32_t i = 0; i < s->entries.n; i++) {
			ents[i].term = s->entries.v[i].term;
			ents[i].index = s->entries.v[i].index;
			ents[i].type = (uint8_t)s->entries.v[i].type;
			ents[i].data = s->entries.v[i].data.p;
			ents[i].len = (uint32_t)s->entries.v[i].data.len;
		}
		m.entries = ents;
		m.n_entries = s->entries.n;
	}
	if (raft_step(p->rd->raft, &m) != 0)
		p->st.bad++;
	free(ents);
	raftd_poke(p->rd);
}

/* ---- forwarding ---- */

static struct pfwd *fwd_send(struct peer *p, const char *addr, const char *origin,
                             const struct msg *req, uint64_t hops, uint64_t timeout_ms)
{
	struct plink *l;
	struct msg m;
	struct buf inner;
	struct pfwd *f;
	int rc;

	if (p->nfwd >= PEER_FWD_MAX || hops >= PEER_FWD_HOPS_MAX)
		return NULL;
	l = link_get(p, addr);
	if (l == NULL)
		return NULL;
	buf_init(&inner, PEER_MSG_MAX - 4096);
	if (msg_encode(req, &inner) != 0 || inner.err) {
		buf_fini(&inner);
		return NULL;
	}
	memset(&m, 0, sizeof(m));
	m.type = MSG_FORWARD;
	m.req_id = ++p->next_fwd;
	m.u.forward.origin = (char *)origin;
	m.u.forward.inner.p = inner.p;
	m.u.forward.inner.len = inner.len;
	m.u.forward.hops = hops + 1;
	rc = zsend(l->z, NULL, 0, &m);
	buf_fini(&inner);
	if (rc != 0)
		return NULL;
	f = xcalloc(1, sizeof(*f));
	f->id = m.req_id;
	f->link = l;
	f->deadline_ms = now_ms(p) + timeout_ms;
	f->next = p->fwds;
	p->fwds = f;
	p->nfwd++;
	return f;
}

int peer_forward(struct peer *p, const char *addr, const struct ipc_from *from,
                 const struct msg *req, uint64_t hops, uint64_t wait_ms, bool retryable)
{
	/* a forwarded request forwarded again keeps its first origin */
	const char *origin = from->name[0] == '@' ? msg_peer_name(from->peer) : from->name;
	struct pfwd *f = fwd_send(p, addr, origin, req, hops,
	                          wait_ms ? wait_ms + PEER_FWD_MARGIN_MS : PEER_FWD_PLAIN_MS);

	if (f == NULL)
		return -1;
	f->from = *from;
	f->hops = hops;
	if (retryable) {
		struct buf b;

		buf_init(&b, PEER_MSG_MAX);
		if (msg_encode(req, &b) == 0 && !b.err) {
			f->retry = b.p; /* the buffer's bytes pass to f */
			f->retry_len = b.len;
			b.p = NULL;
		}
		buf_fini(&b);
	}
	p->st.forwarded++;
	return 0;
}

int peer_call(struct peer *p, const char *addr, const struct msg *req, uint64_t timeout_ms,
              peer_call_cb cb, void *arg)
{
	struct pfwd *f = fwd_send(p, addr, "raftd", req, 0, timeout_ms);

	if (f == NULL)
		return -1;
	f->cb = cb;
	f->arg = arg;
	return 0;
}

static void fwd_answer(struct peer *p, uint64_t id, const struct msg_bytes *inner)
{
	struct pfwd **pp = &p->fwds, *f;
	struct msg reply;

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return; /* timed out already */
	f = *pp;
	*pp = f->next;
	p->nfwd--;
	p->st.forward_replies++;
	if (f->cb != NULL) {
		bool ok = msg_decode(inner->p, inner->len, MSG_PEER_RAFTD, &reply) == MSG_OK;

		f->cb(f->arg, ok ? &reply : NULL);
		if (ok)
			msg_free(&reply);
		free(f);
		return;
	}
	free(f->retry);
	f->retry = NULL;
	if (msg_decode(inner->p, inner->len, MSG_PEER_RAFTD, &reply) != MSG_OK) {
		struct msg r;

		memset(&r, 0, sizeof(r));
		r.type = MSG_RESULT;
		r.u.result.status = 500;
		r.u.result.error = "rpc error: the server's reply does not decode";
		raftd_reply(p->rd, &f->from, &r);
	} else {
		raftd_reply(p->rd, &f->from, &reply);
		msg_free(&reply);
	}
	free(f);
}

/* A FORWARD that came in: decoded as its origin would have sent it on
 * this server's bus, and answered through peer_reply(). */
static void serve_forward(struct peer *p, const void *rid, size_t rid_len, uint64_t req_id,
                          const struct msg_forward *fw)
{
	struct ipc_from from;
	unsigned origin = fw->origin ? msg_peer_from_name(fw->origin, strlen(fw->origin)) : 0;
	struct msg inner;

	memset(&from, 0, sizeof(from));
	if (rid_len + 2 > sizeof(from.name))
		return;
	from.name[0] = '@';
	memcpy(from.name + 1, rid, rid_len);
	from.peer = origin;
	from.req_id = req_id;
	p->st.forwards_served++;
	if (origin == 0 || fw->hops > PEER_FWD_HOPS_MAX ||
	    msg_decode(fw->inner.p, fw->inner.len, origin, &inner) != MSG_OK) {
		struct msg r;

		memset(&r, 0, sizeof(r));
		r.type = MSG_RESULT;
		r.u.result.status = 400;
		r.u.result.error = "rpc error: a forwarded request that does not decode";
		peer_reply(p, &from, &r);
		return;
	}
	if (!raftd_serve_forwarded(p->rd, &from, &inner, fw->hops)) {
		struct msg r;

		memset(&r, 0, sizeof(r));
		r.type = MSG_RESULT;
		r.u.result.status = 400;
		r.u.result.error = "rpc error: not a request a server answers";
		peer_reply(p, &from, &r);
	}
	msg_free(&inner);
}

int peer_reply(struct peer *p, const struct ipc_from *from, struct msg *reply)
{
	struct buf inner;
	struct msg m;
	int rc;

	if (p->router == NULL || from->name[0] != '@')
		return -1;
	buf_init(&inner, PEER_MSG_MAX - 4096);
	reply->req_id = 0;
	if (msg_encode(reply, &inner) != 0 || inner.err) {
		buf_fini(&inner);
		return -1;
	}
	memset(&m, 0, sizeof(m));
	m.type = MSG_FORWARD_REPLY;
	m.req_id = from->req_id;
	m.u.forward_reply.inner.p = inner.p;
	m.u.forward_reply.inner.len = inner.len;
	rc = zsend(p->router, from->name + 1, strlen(from->name + 1), &m);
	buf_fini(&inner);
	return rc;
}

/* ---- the loop ---- */

static int zrecv(void *z, uint8_t *rid, size_t *rid_len, zmq_msg_t *body, bool routed)
{
	int more = 0;
	size_t ml = sizeof(more);

	if (routed) {
		zmq_msg_t id;

		zmq_msg_init(&id);
		if (zmq_msg_recv(&id, z, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&id);
			return -1;
		}
		*rid_len = zmq_msg_size(&id) < IPC_NAME_MAX - 2 ? zmq_msg_size(&id) : 0;
		memcpy(rid, zmq_msg_data(&id), *rid_len);
		zmq_getsockopt(z, ZMQ_RCVMORE, &more, &ml);
		zmq_msg_close(&id);
		if (!more)
			return 1; /* a lone frame: ignored */
	}
	zmq_msg_init(body);
	if (zmq_msg_recv(body, z, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(body);
		return -1;
	}
	/* a frame with more parts is not ours: drain them */
	zmq_getsockopt(z, ZMQ_RCVMORE, &more, &ml);
	while (more) {
		zmq_msg_t x;

		zmq_msg_init(&x);
		zmq_msg_recv(&x, z, ZMQ_DONTWAIT);
		zmq_msg_close(&x);
		zmq_getsockopt(z, ZMQ_RCVMORE, &more, &ml);
	}
	return 0;
}

static void router_read(struct ev *ev, int revents, void *arg)
{
	struct peer *p = arg;

	(void)ev;
	(void)revents;
	for (int n = 0; n < 256; n++) {
		uint8_t rid[IPC_NAME_MAX];
		size_t rid_len = 0;
		zmq_msg_t body;
		struct msg m;
		int rc = zrecv(p->router, rid, &rid_len, &body, true);

		if (rc < 0)
			return;
		if (rc > 0)
			continue;
		p->st.received++;
		if (rid_len == 0 ||
		    msg_decode(zmq_msg_data(&body), zmq_msg_size(&body), MSG_PEER_RAFTD, &m) != MSG_OK) {
			p->st.bad++;
			zmq_msg_close(&body);
			continue;
		}
		zmq_msg_close(&body);
		if (m.type == MSG_RAFT_STEP && p->rd->server && p->rd->raft != NULL)
			recv_step(p, &m.u.raft_step);
		else if (m.type == MSG_FORWARD)
			serve_forward(p, rid, rid_len, m.req_id, &m.u.forward);
		else
			p->st.bad++;
		msg_free(&m);
	}
}

static void link_io(struct ev *ev, int revents, void *arg)
{
	struct plink *l = arg;
	struct peer *p = l->p;

	(void)ev;
	if (revents & EV_WRITE)
		snap_pump(l);
	if (!(revents & EV_READ))
		return;
	for (int n = 0; n < 256; n++) {
		zmq_msg_t body;
		struct msg m;

		if (zrecv(l->z, NULL, NULL, &body, false) != 0)
			return;
		if (msg_decode(zmq_msg_data(&body), zmq_msg_size(&body), MSG_PEER_RAFTD, &m) !=
		    MSG_OK) {
			p->st.bad++;
			zmq_msg_close(&body);
			continue;
		}
		zmq_msg_close(&body);
		if (m.type == MSG_FORWARD_REPLY)
			fwd_answer(p, m.req_id, &m.u.forward_reply.inner);
		else
			p->st.bad++;
		msg_free(&m);
	}
}

/* The forwards that went out on link l end now with why. */
static void fwd_fail_link(struct peer *p, struct plink *l, const char *why)
{
	struct pfwd **pp = &p->fwds;

	while (*pp) {
		struct pfwd *f = *pp;
		struct msg r;

		if (f->link != l) {
			pp = &f->next;
			continue;
		}
		*pp = f->next;
		p->nfwd--;
		p->st.forward_timeouts++;
		if (f->cb != NULL) {
			f->cb(f->arg, NULL);
		} else if (f->retry != NULL &&
		           msg_decode(f->retry, f->retry_len, f->from.peer, &r) == MSG_OK) {
			/* a read: it goes again, to another server if need be */
			p->st.forward_retries++;
			raftd_retry(p->rd, &f->from, &r, f->hops);
			msg_free(&r);
		} else {
			memset(&r, 0, sizeof(r));
			r.type = MSG_RESULT;
			r.u.result.status = 500;
			r.u.result.error = (char *)why;
			raftd_reply(p->rd, &f->from, &r);
		}
		free(f->retry);
		free(f);
		pp = &p->fwds; /* a callback may have sent more: start over */
	}
}

/* Forwards past their deadline get their error; idle links close. */
static void sweep(struct ev *ev, void *arg)
{
	struct peer *p = arg;
	uint64_t now = ev_now_ms(ev);
	struct pfwd **pp = &p->fwds;

	p->sweep_timer = ev_timer_add(ev, 500, sweep, p);
	while (*pp) {
		struct pfwd *f = *pp;
		struct msg r;

		if (now < f->deadline_ms) {
			pp = &f->next;
			continue;
		}
		*pp = f->next;
		p->nfwd--;
		p->st.forward_timeouts++;
		if (f->cb != NULL) {
			f->cb(f->arg, NULL);
			free(f);
			continue;
		}
		free(f->retry);
		memset(&r, 0, sizeof(r));
		r.type = MSG_RESULT;
		r.u.result.status = 500;
		r.u.result.error = "rpc error: timeout waiting for the server";
		raftd_reply(p->rd, &f->from, &r);
		free(f);
	}
	for (size_t i = 0; i < p->nlinks;) {
		if (p->links[i]->snap_fd < 0 && now - p->links[i]->used_ms > PEER_LINK_IDLE_MS)
			link_close(p, i);
		else
			i++;
	}
}

struct peer *peer_new(struct raftd *rd)
{
	const struct conf *c = &rd->d->conf;
	struct peer *p = xcalloc(1, sizeof(*p));

	p->rd = rd;
	p->in_fd = -1;
	p->rwatch = -1;
	/* unique per life, so a restarted raftd never gets its predecessor's
	 * replies (the ROUTER hands a routing id over to the newest) */
	snprintf(p->route_id, sizeof(p->route_id), "r%016" PRIx64 "%08" PRIx32, rd->id,
	         (uint32_t)daemon_random64());
	if (rd->server && c->ports.server > 0) {
		char ep[300];
		int64_t maxsize = PEER_MSG_MAX;
		int hwm = 10000, linger = 0, one = 1;
		const char *bind = c->bind_addr && c->bind_addr[0] ? c->bind_addr : "0.0.0.0";

		snprintf(ep, sizeof(ep), strchr(bind, ':') ? "tcp://[%s]:%d" : "tcp://%s:%d", bind,
		         c->ports.server);
		p->router = zmq_socket(ipc_ctx(), ZMQ_ROUTER);
		if (p->router == NULL) {
			peer_free(p);
			return NULL;
		}
		zmq_setsockopt(p->router, ZMQ_MAXMSGSIZE, &maxsize, sizeof(maxsize));
		zmq_setsockopt(p->router, ZMQ_SNDHWM, &hwm, sizeof(hwm));
		zmq_setsockopt(p->router, ZMQ_RCVHWM, &hwm, sizeof(hwm));
		zmq_setsockopt(p->router, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_setsockopt(p->router, ZMQ_ROUTER_HANDOVER, &one, sizeof(one));
		zmq_setsockopt(p->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
		if (zmq_bind(p->router, ep) != 0) {
			log_errorx("raftd: bind %s: %s", ep, zmq_strerror(errno));
			peer_free(p);
			return NULL;
		}
		p->rwatch = ev_add_zsock(rd->d->ev, p->router, EV_READ, router_read, p);
		if (p->rwatch < 0) {
			peer_free(p);
			return NULL;
		}
		log_info("raftd: servers' RPC on %s", ep);
	}
	p->sweep_timer = ev_timer_add(rd->d->ev, 500, sweep, p);
	return p;
}

void peer_free(struct peer *p)
{
	if (p == NULL)
		return;
	if (p->sweep_timer)
		ev_timer_del(p->rd->d->ev, p->sweep_timer);
	while (p->fwds) {
		struct pfwd *f = p->fwds;

		p->fwds = f->next;
		if (f->cb != NULL)
			f->cb(f->arg, NULL); /* its caller learns it ended */
		free(f->retry);
		free(f);
	}
	while (p->nlinks > 0) {
		struct plink *l = p->links[p->nlinks - 1];

		if (l->snap_fd >= 0)
			close(l->snap_fd);
		p->nlinks--;
		link_free(p, l);
	}
	if (p->rwatch >= 0)
		ev_del(p->rd->d->ev, p->rwatch);
	if (p->router)
		zmq_close(p->router);
	in_reset(p);
	free(p);
}

void peer_connect(struct peer *p, const char *addr)
{
	(void)link_get(p, addr);
}

const char *peer_incoming_snapshot(struct peer *p, uint64_t index)
{
	return p->in_ready && p->in_index == index ? p->in_path : NULL;
}

void peer_incoming_snapshot_done(struct peer *p)
{
	if (p->in_ready)
		unlink(p->in_path);
	p->in_ready = false;
}

const struct peer_stats *peer_stats(const struct peer *p)
{
	return &p->st;
}

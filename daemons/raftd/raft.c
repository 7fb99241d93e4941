/* raft.c: the Raft consensus core, a pure state machine after etcd-io/raft (Ongaro's thesis). */
#include "raft.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * References: "In Search of an Understandable Consensus Algorithm" (Ongaro & Ousterhout 2014,
 * "paper") and "Consensus: Bridging Theory and Practice" (Ongaro 2014, "thesis").
 * Where muster differs from etcd-io/raft:
 *  - membership changes are single-server (thesis §4.1) and every configuration entry carries the
 *    whole configuration (as hashicorp/raft); a configuration takes effect when appended;
 *  - a follower does not forward ReadIndex requests: Consul forwards reads to the leader anyway;
 *  - ReadIndex requests arriving together share one heartbeat round (coalesced in raft_ready).
 */

#define READ_RING 64 /* heartbeat rounds whose send tick is remembered for the lease */

enum pr_state { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

struct ents {
	struct raft_entry *v;
	size_t n, cap;
};

/* What the leader knows of one member (etcd's tracker.Progress); thesis §3.5, §10.2.1. */
struct progress {
	uint64_t id;
	bool voter;
	int8_t vote; /* 0 none, 1 granted, -1 rejected, in the current election */
	enum pr_state state;
	bool probe_sent;    /* PROBE: an append is out, wait for its answer or a heartbeat */
	bool recent_active; /* heard from it since the last check_quorum round (thesis §6.2) */
	bool acked;         /* an append was acknowledged since the last heartbeat answer */
	uint64_t match, next;
	uint64_t pending_snapshot;
	uint64_t read_ack; /* highest heartbeat round it acknowledged this term */
	uint32_t in_start, in_count;
	uint64_t inflight[RAFT_INFLIGHT_MAX]; /* last index of each append in flight */
};

struct conf_rec {
	uint64_t index;
	struct raft_conf conf;
};

struct read_req {
	uint64_t context;
	uint64_t index; /* 0 until the leader has committed an entry of its term */
	uint64_t seq;   /* heartbeat round that must be acknowledged by a quorum */
};

struct raft {
	struct raft_config c;
	struct raft_storage st;
	uint64_t id;

	/* persistent (paper Figure 2) */
	uint64_t term, vote;

	/* log: storage, then unstable entries from offset, maybe an unstable snapshot */
	struct raft_snapshot *usnap;
	struct ents unstable;
	uint64_t offset;
	uint64_t committed, applied;

	/* configurations in the log: confs[0] is committed (or the snapshot's), the last is in use
	 */
	struct conf_rec *confs;
	size_t n_confs, cap_confs;

	enum raft_role role;
	uint64_t lead;
	struct progress *prs;
	size_t n_prs;

	uint64_t now; /* ticks since raft_new */
	uint32_t election_elapsed, heartbeat_elapsed, randomized_timeout;
	bool
	    booting; /* the first election timeout after a start counts as a lease (see in_lease) */

	uint64_t term_start;   /* leader: index of the no-op appended on election */
	uint64_t transferee;   /* leader: leadership transfer target */
	bool timeout_now_sent; /* leader: lease reads are over for this term */
	uint64_t uncommitted_bytes;
	bool bcast_pending;

	uint64_t read_seq; /* heartbeat rounds sent this term */
	uint64_t read_send_tick[READ_RING];
	bool read_round_wanted;
	struct read_req *reads;
	size_t reads_head, reads_n;

	struct raft_msg *outbox;
	size_t n_out, cap_out;
	struct raft_msg scratch; /* where messages over RAFT_OUTBOX_MAX go to be dropped */
	uint64_t dropped;

	struct raft_read_state *rstates;
	size_t n_rstates;

	struct raft_hard_state prev_hs;
	struct raft_soft_state prev_soft;
	bool in_ready;
	struct ents ready_committed;
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "raft: out of memory (%zu bytes)\n", n);
		abort();
	}
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "raft: out of memory (%zu bytes)\n", n);
		abort();
	}
	return p;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- entry vectors (each entry owns its data) ---- */

static void ents_push(struct ents *es, const struct raft_entry *e)
{
	if (es->n == es->cap) {
		es->cap = es->cap ? es->cap * 2 : 8;
		es->v = xrealloc(es->v, es->cap * sizeof(*es->v));
	}
	struct raft_entry *d = &es->v[es->n++];
	*d = *e;
	d->data = NULL;
	if (e->len > 0) {
		d->data = xmalloc(e->len);
		memcpy(d->data, e->data, e->len);
	}
}

static void ents_truncate(struct ents *es, size_t n)
{
	for (size_t i = n; i < es->n; i++)
		free(es->v[i].data);
	if (n < es->n)
		es->n = n;
}

static void ents_free(struct ents *es)
{
	ents_truncate(es, 0);
	free(es->v);
	memset(es, 0, sizeof(*es));
}

static void snapshot_copy(struct raft_snapshot *d, const struct raft_snapshot *s)
{
	*d = *s;
	d->data = NULL;
	if (s->len > 0) {
		d->data = xmalloc(s->len);
		memcpy(d->data, s->data, s->len);
	}
}

static void msg_free(struct raft_msg *m)
{
	for (size_t i = 0; i < m->n_entries; i++)
		free(m->entries[i].data);
	free(m->entries);
	free(m->snapshot.data);
	memset(m, 0, sizeof(*m));
}

/* ---- configurations ---- */

const struct raft_member *raft_conf_find(const struct raft_conf *c, uint64_t id)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->m[i].id == id)
			return &c->m[i];
	return NULL;
}

static uint32_t conf_voters(const struct raft_conf *c)
{
	uint32_t v = 0;
	for (uint32_t i = 0; i < c->n; i++)
		v += c->m[i].voter;
	return v;
}

/* The address is NUL-terminated within RAFT_ADDR_MAX. */
static bool addr_is_valid(const char *addr)
{
	return memchr(addr, '\0', RAFT_ADDR_MAX) != NULL;
}

/* What raft_conf_decode() accepts, so that a configuration that encodes also decodes. */
static bool conf_is_valid(const struct raft_conf *c)
{
	if (c->n > RAFT_MEMBERS_MAX)
		return false;
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->m[i].id == RAFT_NONE || !addr_is_valid(c->m[i].addr))
			return false;
		for (uint32_t k = 0; k < i; k++)
			if (c->m[k].id == c->m[i].id)
				return false;
	}
	return true;
}

static void member_set_addr(struct raft_member *m, const char *addr, size_t len)
{
	memset(m->addr, 0, sizeof(m->addr)); /* equal configurations are equal bytes */
	memcpy(m->addr, addr, len);
}

int raft_conf_apply_op(struct raft_conf *c, enum raft_conf_op op, uint64_t id, const char *addr)
{
	struct raft_member *m = (struct raft_member *)raft_conf_find(c, id);
	size_t len = 0;
	if (id == RAFT_NONE)
		return -1;
	if (op == RAFT_CONF_ADD_VOTER || op == RAFT_CONF_ADD_NONVOTER) {
		assert(addr != NULL);
		len = strnlen(addr, RAFT_ADDR_MAX);
		if (len == RAFT_ADDR_MAX)
			return -1;
		/*
		 * hashicorp/raft's checkConfiguration refuses two servers at one address; Consul
		 * removes the server that held it first (leader.go, joinConsulServer). Unknown ("")
		 * addresses, as earlier stores hold, are not compared.
		 */
		for (uint32_t i = 0; len > 0 && i < c->n; i++)
			if (&c->m[i] != m && strcmp(c->m[i].addr, addr) == 0)
				return -1;
	}
	switch (op) {
	case RAFT_CONF_ADD_VOTER:
	case RAFT_CONF_ADD_NONVOTER:
		if (m != NULL) {
			/*
			 * hashicorp/raft's nextConfiguration: AddVoter of a server already there
			 * makes it a voter at the given address; AddNonvoter only moves it (a voter
			 * stays one). Unlike hashicorp, a change that changes nothing is refused:
			 * it would hold up the next change until committed, for nothing.
			 */
			bool voter = m->voter || op == RAFT_CONF_ADD_VOTER;
			if (voter == m->voter && strcmp(m->addr, addr) == 0)
				return -1;
			m->voter = voter;
			member_set_addr(m, addr, len);
			return 0;
		}
		if (c->n == RAFT_MEMBERS_MAX)
			return -1;
		c->m[c->n].id = id;
		c->m[c->n].voter = op == RAFT_CONF_ADD_VOTER;
		member_set_addr(&c->m[c->n], addr, len);
		c->n++;
		return 0;
	case RAFT_CONF_PROMOTE:
		if (m == NULL || m->voter)
			return -1;
		m->voter = true;
		return 0;
	case RAFT_CONF_REMOVE:
		if (m == NULL || (m->voter && conf_voters(c) == 1))
			return -1;
		*m = c->m[--c->n];
		memset(&c->m[c->n], 0, sizeof(c->m[c->n]));
		return 0;
	}
	return -1;
}

/*
 * Encodings of a configuration (integers little-endian):
 *  - version 1 (earlier builds, decoded only): n:u32, then per member id:u64 voter:u8; exactly
 *    4 + 9n bytes;
 *  - version 2: the magic "mrc\2", n:u32, then per member id:u64 voter:u8 addrlen:u8 addr (no NUL,
 *    addrlen < RAFT_ADDR_MAX). Read as version 1, the magic would be a count far over
 *    RAFT_MEMBERS_MAX, so no input is valid as both.
 * Both are strict: the lengths add up to exactly len, voter is 0 or 1, ids are non-zero and
 * distinct, and an address holds no NUL.
 */
static const uint8_t conf_magic[4] = {'m', 'r', 'c', 2};

/* A bounded read cursor whose first error sticks (checked once at the end). */
struct conf_rd {
	const uint8_t *buf;
	size_t len, off;
	bool err;
};

static const uint8_t *conf_rd_get(struct conf_rd *r, size_t n)
{
	if (r->err || r->len - r->off < n) {
		r->err = true;
		return NULL;
	}
	r->off += n;
	return r->buf + r->off - n;
}

static uint64_t conf_rd_le(struct conf_rd *r, size_t n)
{
	const uint8_t *p = conf_rd_get(r, n);
	uint64_t v = 0;
	for (size_t i = 0; p != NULL && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static size_t conf_put_le(uint8_t *buf, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(v >> (8 * i));
	return n;
}

size_t raft_conf_encode(const struct raft_conf *c, uint8_t *buf, size_t size)
{
	size_t need = sizeof(conf_magic) + 4, p = 0;
	if (!conf_is_valid(c))
		return 0;
	for (uint32_t k = 0; k < c->n; k++)
		need += 10 + strlen(c->m[k].addr);
	assert(need <= RAFT_CONF_ENCODED_MAX);
	if (size < need)
		return 0;
	memcpy(buf, conf_magic, sizeof(conf_magic));
	p += sizeof(conf_magic);
	p += conf_put_le(buf + p, c->n, 4);
	for (uint32_t k = 0; k < c->n; k++) {
		size_t alen = strlen(c->m[k].addr);
		p += conf_put_le(buf + p, c->m[k].id, 8);
		buf[p++] = c->m[k].voter;
		buf[p++] = (uint8_t)alen;
		memcpy(buf + p, c->m[k].addr, alen);
		p += alen;
	}
	assert(p == need);
	return need;
}

int raft_conf_decode(struct raft_conf *c, const uint8_t *buf, size_t len)
{
	struct conf_rd r = {.buf = buf, .len = len};
	bool v2 = len >= sizeof(conf_magic) && memcmp(buf, conf_magic, sizeof(conf_magic)) == 0;
	struct raft_conf d;
	memset(&d, 0, sizeof(d));
	if (v2)
		conf_rd_get(&r, sizeof(conf_magic));
	uint64_t n = conf_rd_le(&r, 4);
	/* version 1 has no magic: it is recognised by its exact length */
	if (r.err || n > RAFT_MEMBERS_MAX || (!v2 && len != 4 + n * 9))
		return -1;
	for (uint32_t k = 0; k < n && !r.err; k++) {
		struct raft_member *m = &d.m[k];
		m->id = conf_rd_le(&r, 8);
		uint64_t voter = conf_rd_le(&r, 1);
		if (v2) {
			size_t alen = (size_t)conf_rd_le(&r, 1);
			const uint8_t *a = alen < RAFT_ADDR_MAX ? conf_rd_get(&r, alen) : NULL;
			if (a == NULL || memchr(a, '\0', alen) != NULL)
				return -1;
			memcpy(m->addr, a, alen);
		}
		if (r.err || m->id == RAFT_NONE || voter > 1 || raft_conf_find(&d, m->id) != NULL)
			return -1;
		m->voter = voter;
		d.n = k + 1;
	}
	if (r.err || r.off != len)
		return -1;
	*c = d;
	return 0;
}

static const struct raft_conf *conf_latest(const struct raft *r)
{
	return &r->confs[r->n_confs - 1].conf;
}

static bool is_promotable(const struct raft *r)
{
	const struct raft_member *m = raft_conf_find(conf_latest(r), r->id);
	return m != NULL && m->voter;
}

/*
 * May this server stand for election? A voter of the configuration in use may; so may a server
 * whose removal is not committed yet (as hashicorp/raft): a leader that appended its own removal
 * and lost leadership may hold the only copy, and must be able to get it committed.
 */
static bool can_campaign(const struct raft *r)
{
	return is_promotable(r) || r->confs[r->n_confs - 1].index > r->committed;
}

static struct progress *pr_find(struct raft *r, uint64_t id)
{
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}

static void pr_init(struct raft *r, struct progress *pr, uint64_t id, bool voter);

/* Make the progress table follow the configuration in use, keeping what is known. */
static void prs_sync(struct raft *r)
{
	const struct raft_conf *c = conf_latest(r);
	struct progress *np = xmalloc((c->n ? c->n : 1) * sizeof(*np));
	for (uint32_t i = 0; i < c->n; i++) {
		struct progress *old = pr_find(r, c->m[i].id);
		if (old != NULL)
			np[i] = *old;
		else
			pr_init(r, &np[i], c->m[i].id, c->m[i].voter);
		np[i].voter = c->m[i].voter;
	}
	free(r->prs);
	r->prs = np;
	r->n_prs = c->n;
	if (r->role == RAFT_LEADER && r->transferee != RAFT_NONE) {
		struct progress *t = pr_find(r, r->transferee);
		if (t == NULL || !t->voter)
			r->transferee = RAFT_NONE;
	}
}

static void confs_push(struct raft *r, uint64_t index, const struct raft_conf *c)
{
	if (r->n_confs == r->cap_confs) {
		r->cap_confs = r->cap_confs ? r->cap_confs * 2 : 4;
		r->confs = xrealloc(r->confs, r->cap_confs * sizeof(*r->confs));
	}
	r->confs[r->n_confs].index = index;
	r->confs[r->n_confs].conf = *c;
	r->n_confs++;
}

/* Entries from index on are gone: the configuration reverts to the one before (thesis §4.1). */
static void confs_truncate(struct raft *r, uint64_t index)
{
	size_t n = r->n_confs;
	while (r->n_confs > 1 && r->confs[r->n_confs - 1].index >= index)
		r->n_confs--;
	assert(r->confs[0].index < index);
	if (n != r->n_confs)
		prs_sync(r);
}

static void confs_track(struct raft *r, const struct raft_entry *e, size_t n)
{
	bool changed = false;
	for (size_t i = 0; i < n; i++) {
		if (e[i].type != RAFT_ENTRY_CONF)
			continue;
		struct raft_conf c;
		if (raft_conf_decode(&c, e[i].data, e[i].len) != 0)
			c = *conf_latest(r); /* a malformed change changes nothing */
		confs_push(r, e[i].index, &c);
		changed = true;
	}
	if (changed)
		prs_sync(r);
}

/* Keep only the newest committed configuration and those after it. */
static void confs_prune(struct raft *r)
{
	size_t k = 0;
	for (size_t i = 1; i < r->n_confs; i++)
		if (r->confs[i].index <= r->committed)
			k = i;
	if (k > 0) {
		memmove(r->confs, r->confs + k, (r->n_confs - k) * sizeof(*r->confs));
		r->n_confs -= k;
	}
}

static void confs_reset(struct raft *r, uint64_t index, const struct raft_conf *c)
{
	r->n_confs = 0;
	confs_push(r, index, c);
	prs_sync(r);
}

/* ---- the log: storage + unstable (etcd raftLog) ---- */

static uint64_t log_first_index(const struct raft *r)
{
	if (r->usnap != NULL)
		return r->usnap->index + 1;
	return r->st.first_index(r->st.arg);
}

static uint64_t log_last_index(const struct raft *r)
{
	if (r->unstable.n > 0)
		return r->offset + r->unstable.n - 1;
	if (r->usnap != NULL)
		return r->usnap->index;
	return r->st.last_index(r->st.arg);
}

static int log_term(const struct raft *r, uint64_t i, uint64_t *t)
{
	if (r->usnap != NULL && i == r->usnap->index) {
		*t = r->usnap->term;
		return 0;
	}
	if (i >= r->offset && i < r->offset + r->unstable.n) {
		*t = r->unstable.v[i - r->offset].term;
		return 0;
	}
	if (i + 1 < log_first_index(r))
		return RAFT_ERR_COMPACTED;
	if (i > log_last_index(r))
		return RAFT_ERR_UNAVAILABLE;
	if (r->usnap != NULL)
		return RAFT_ERR_COMPACTED;
	return r->st.term(r->st.arg, i, t);
}

static uint64_t log_term0(const struct raft *r, uint64_t i)
{
	uint64_t t;
	return log_term(r, i, &t) == 0 ? t : 0;
}

static uint64_t log_last_term(const struct raft *r)
{
	return log_term0(r, log_last_index(r));
}

static bool log_match_term(const struct raft *r, uint64_t i, uint64_t term)
{
	uint64_t t;
	return log_term(r, i, &t) == 0 && t == term;
}

/* Paper §5.4.1: the voter denies its vote if its own log is more up-to-date. */
static bool log_is_up_to_date(const struct raft *r, uint64_t last, uint64_t term)
{
	uint64_t lt = log_last_term(r);
	return term > lt || (term == lt && last >= log_last_index(r));
}

/* Copy entries [lo, hi) into out, at most max_n and max_bytes (but at least one). */
static int log_entries(struct raft *r, uint64_t lo, uint64_t hi, size_t max_n, uint64_t max_bytes,
                       struct ents *out)
{
	enum { CHUNK = 256 };
	struct raft_entry tmp[CHUNK];
	uint64_t bytes = 0;
	size_t n0 = out->n;
	if (lo < log_first_index(r))
		return RAFT_ERR_COMPACTED;
	assert(hi <= log_last_index(r) + 1);
	if (lo >= hi)
		return 0;
	if (max_n < hi - lo)
		hi = lo + max_n;
	while (lo < hi && lo < r->offset) {
		uint64_t shi = min_u64(min_u64(hi, r->offset), lo + CHUNK);
		size_t want = shi - lo, got = 0;
		int rc = r->st.entries(r->st.arg, lo, shi, max_bytes, tmp, want, &got);
		if (rc != 0)
			return rc;
		assert(got <= want && got > 0);
		for (size_t i = 0; i < got; i++) {
			assert(tmp[i].index == lo + i);
			if (out->n > n0 && bytes + tmp[i].len > max_bytes)
				return 0;
			bytes += tmp[i].len;
			ents_push(out, &tmp[i]);
		}
		if (got < want)
			return 0; /* the storage's byte limit */
		lo = shi;
	}
	for (uint64_t i = lo; i < hi; i++) {
		const struct raft_entry *e = &r->unstable.v[i - r->offset];
		if (out->n > n0 && bytes + e->len > max_bytes)
			break;
		bytes += e->len;
		ents_push(out, e);
	}
	return 0;
}

static void log_commit_to(struct raft *r, uint64_t c)
{
	if (c <= r->committed)
		return;
	assert(c <= log_last_index(r));
	r->committed = c;
	confs_prune(r);
}

/* Append entries (which may replace a conflicting suffix), tracking configurations. */
static void log_append(struct raft *r, const struct raft_entry *e, size_t n)
{
	if (n == 0)
		return;
	uint64_t after = e[0].index;
	assert(after > r->committed);
	if (after == r->offset + r->unstable.n) {
		/* plain append */
	} else if (after <= r->offset) {
		/* the caller must drop stored entries >= after when it persists these */
		ents_truncate(&r->unstable, 0);
		r->offset = after;
	} else {
		ents_truncate(&r->unstable, after - r->offset);
	}
	if (after <= r->confs[r->n_confs - 1].index)
		confs_truncate(r, after);
	for (size_t i = 0; i < n; i++) {
		assert(e[i].index == after + i);
		ents_push(&r->unstable, &e[i]);
	}
	confs_track(r, e, n);
}

/* The first entry whose term differs from the log's, or 0 (paper §5.3). */
static uint64_t log_find_conflict(const struct raft *r, const struct raft_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!log_match_term(r, e[i].index, e[i].term))
			return e[i].index;
	return 0;
}

/*
 * The largest index <= index whose term is <= term (thesis §5.4.2 / etcd findConflictByTerm):
 * the fast back-off after a rejected append skips a whole term per round trip.
 */
static uint64_t log_find_conflict_by_term(const struct raft *r, uint64_t index, uint64_t term,
                                          uint64_t *found_term)
{
	for (; index > 0; index--) {
		uint64_t t;
		if (log_term(r, index, &t) != 0) {
			*found_term = 0;
			return index;
		}
		if (t <= term) {
			*found_term = t;
			return index;
		}
	}
	*found_term = 0;
	return 0;
}

static bool log_maybe_append(struct raft *r, const struct raft_msg *m, uint64_t *last_new)
{
	if (!log_match_term(r, m->index, m->log_term))
		return false;
	*last_new = m->index + m->n_entries;
	uint64_t ci = log_find_conflict(r, m->entries, m->n_entries);
	if (ci != 0) {
		/* Leader Completeness (paper §5.4): a committed entry never conflicts */
		assert(ci > r->committed);
		log_append(r, m->entries + (ci - m->index - 1), m->n_entries - (ci - m->index - 1));
	}
	log_commit_to(r, min_u64(m->commit, *last_new));
	return true;
}

static void log_restore(struct raft *r, const struct raft_snapshot *s)
{
	ents_truncate(&r->unstable, 0);
	if (r->usnap != NULL)
		free(r->usnap->data);
	else
		r->usnap = xmalloc(sizeof(*r->usnap));
	snapshot_copy(r->usnap, s);
	r->offset = s->index + 1;
	r->committed = s->index;
	confs_reset(r, s->index, &s->conf);
}

/* ---- progress (etcd tracker) ---- */

static void pr_init(struct raft *r, struct progress *pr, uint64_t id, bool voter)
{
	memset(pr, 0, sizeof(*pr));
	pr->id = id;
	pr->voter = voter;
	pr->next = log_last_index(r) + 1;
	pr->recent_active = true;
	pr->state = PR_PROBE;
}

static void pr_reset_state(struct progress *pr, enum pr_state s)
{
	pr->state = s;
	pr->probe_sent = false;
	pr->pending_snapshot = 0;
	pr->in_start = pr->in_count = 0;
}

static void pr_become_probe(struct progress *pr)
{
	uint64_t next = pr->match + 1;
	if (pr->state == PR_SNAPSHOT)
		next = max_u64(next, pr->pending_snapshot + 1);
	pr_reset_state(pr, PR_PROBE);
	pr->next = next;
}

static void pr_become_replicate(struct progress *pr)
{
	pr_reset_state(pr, PR_REPLICATE);
	pr->next = pr->match + 1;
}

static void pr_become_snapshot(struct progress *pr, uint64_t index)
{
	pr_reset_state(pr, PR_SNAPSHOT);
	pr->pending_snapshot = index;
}

static bool pr_maybe_update(struct progress *pr, uint64_t n)
{
	bool updated = false;
	if (pr->match < n) {
		pr->match = n;
		updated = true;
		pr->probe_sent = false;
	}
	pr->next = max_u64(pr->next, n + 1);
	return updated;
}

/* A rejected append: move next back (etcd MaybeDecrTo); false when the rejection is stale. */
static bool pr_maybe_decr_to(struct progress *pr, uint64_t rejected, uint64_t match_hint)
{
	if (pr->state == PR_REPLICATE) {
		if (rejected <= pr->match)
			return false;
		pr->next = pr->match + 1;
		return true;
	}
	if (pr->next - 1 != rejected)
		return false;
	pr->next = max_u64(min_u64(rejected, match_hint + 1), pr->match + 1);
	pr->probe_sent = false;
	return true;
}

static bool pr_is_paused(const struct raft *r, const struct progress *pr)
{
	switch (pr->state) {
	case PR_PROBE:
		return pr->probe_sent;
	case PR_REPLICATE:
		return pr->in_count >= r->c.max_inflight;
	case PR_SNAPSHOT:
		return true;
	}
	return true;
}

static void pr_inflight_add(struct progress *pr, uint64_t last)
{
	assert(pr->in_count < RAFT_INFLIGHT_MAX);
	pr->inflight[(pr->in_start + pr->in_count) % RAFT_INFLIGHT_MAX] = last;
	pr->in_count++;
}

static void pr_inflight_free_to(struct progress *pr, uint64_t index)
{
	while (pr->in_count > 0 && pr->inflight[pr->in_start] <= index) {
		pr->in_start = (pr->in_start + 1) % RAFT_INFLIGHT_MAX;
		pr->in_count--;
	}
}

/* ---- messages ---- */

static struct raft_msg *msg_new(struct raft *r, enum raft_msg_type t, uint64_t to)
{
	struct raft_msg *m;
	if (r->n_out >= RAFT_OUTBOX_MAX) {
		/* a limit on everything: Raft survives a lost message, not an unbounded queue */
		r->dropped++;
		m = &r->scratch;
		msg_free(m);
	} else {
		if (r->n_out == r->cap_out) {
			r->cap_out = r->cap_out ? r->cap_out * 2 : 16;
			r->outbox = xrealloc(r->outbox, r->cap_out * sizeof(*r->outbox));
		}
		m = &r->outbox[r->n_out++];
		memset(m, 0, sizeof(*m));
	}
	m->type = t;
	m->from = r->id;
	m->to = to;
	m->term = r->term;
	return m;
}

static void send_snapshot(struct raft *r, struct progress *pr)
{
	struct raft_snapshot s;
	r->st.snapshot(r->st.arg, &s);
	if (s.index == 0)
		return; /* nothing to send yet */
	struct raft_msg *m = msg_new(r, RAFT_MSG_SNAP, pr->id);
	snapshot_copy(&m->snapshot, &s);
	pr_become_snapshot(pr, s.index);
}

/* Send an append to pr (paper §5.3), or a snapshot when it is behind the log's start (§7). */
static bool send_append(struct raft *r, struct progress *pr, bool send_if_empty)
{
	if (pr->id == r->id || pr_is_paused(r, pr))
		return false;
	uint64_t prev = pr->next - 1, prev_term, last = log_last_index(r);
	struct ents es = {0};
	if (log_term(r, prev, &prev_term) != 0 ||
	    log_entries(r, pr->next, last + 1, r->c.max_append_entries, r->c.max_append_bytes,
	                &es) != 0) {
		ents_free(&es);
		send_snapshot(r, pr);
		return pr->state == PR_SNAPSHOT;
	}
	if (es.n == 0 && !send_if_empty) {
		ents_free(&es);
		return false;
	}
	struct raft_msg *m = msg_new(r, RAFT_MSG_APP, pr->id);
	m->index = prev;
	m->log_term = prev_term;
	m->commit = r->committed;
	m->n_entries = es.n;
	m->entries = es.v;
	if (pr->state == PR_REPLICATE && es.n > 0) {
		/* pipelining: optimistically assume delivery (thesis §10.2.1) */
		uint64_t l = es.v[es.n - 1].index;
		pr->next = l + 1;
		pr_inflight_add(pr, l);
	} else if (pr->state == PR_PROBE) {
		pr->probe_sent = true;
	}
	return true;
}

static void bcast_append(struct raft *r)
{
	for (size_t i = 0; i < r->n_prs; i++)
		send_append(r, &r->prs[i], true);
}

/* One heartbeat per follower per round; it carries the commit and the read round (§6.4). */
static void bcast_heartbeat(struct raft *r)
{
	r->read_seq++;
	r->read_send_tick[r->read_seq % READ_RING] = r->now;
	r->read_round_wanted = false;
	for (size_t i = 0; i < r->n_prs; i++) {
		struct progress *pr = &r->prs[i];
		if (pr->id == r->id)
			continue;
		struct raft_msg *m = msg_new(r, RAFT_MSG_HEARTBEAT, pr->id);
		m->commit = min_u64(pr->match, r->committed);
		m->context = r->read_seq;
	}
}

static void send_timeout_now(struct raft *r, uint64_t to)
{
	msg_new(r, RAFT_MSG_TIMEOUT_NOW, to);
	r->timeout_now_sent = true;
}

/* ---- roles ---- */

static uint32_t quorum(const struct raft *r)
{
	return conf_voters(conf_latest(r)) / 2 + 1;
}

/* The largest value a quorum of voters has reached: their match index
 * (commit, §5.4.2) or, with read_acks, the read round each acknowledged
 * (the leader itself counting as every round). 0 without voters. */
static uint64_t quorum_value(const struct raft *r, bool read_acks)
{
	uint64_t a[RAFT_MEMBERS_MAX];
	size_t n = 0;

	for (size_t i = 0; i < r->n_prs; i++) {
		if (!r->prs[i].voter)
			continue;
		if (!read_acks)
			a[n++] = r->prs[i].match;
		else
			a[n++] = r->prs[i].id == r->id ? UINT64_MAX : r->prs[i].read_ack;
	}
	if (n == 0)
		return 0;
	/* Insertion sort, descending: n is at most RAFT_MEMBERS_MAX. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && a[j - 1] < a[j]; j--) {
			uint64_t t = a[j];
			a[j] = a[j - 1];
			a[j - 1] = t;
		}
	return a[quorum(r) - 1];
}

static void reset_randomized_timeout(struct raft *r)
{
	/* paper §5.2: randomized in [e, 2e); the caller supplies the randomness */
	uint32_t j = r->c.rand ? r->c.rand(r->c.rand_arg, r->c.election_ticks) : 0;
	assert(j < r->c.election_ticks);
	r->randomized_timeout = r->c.election_ticks + j;
}

static void reads_abandon(struct raft *r)
{
	/* index 0 tells the caller the read failed: leadership was lost */
	while (r->reads_n > 0) {
		struct read_req *q = &r->reads[r->reads_head];
		if (r->n_rstates < RAFT_READS_MAX)
			r->rstates[r->n_rstates++] = (struct raft_read_state){q->context, 0};
		r->reads_head = (r->reads_head + 1) % RAFT_READS_MAX;
		r->reads_n--;
	}
	r->reads_head = 0;
	r->read_round_wanted = false;
}

static void reset(struct raft *r, uint64_t term)
{
	if (r->term != term) {
		r->term = term;
		r->vote = RAFT_NONE;
	}
	r->lead = RAFT_NONE;
	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	reset_randomized_timeout(r);
	r->transferee = RAFT_NONE;
	r->timeout_now_sent = false;
	r->uncommitted_bytes = 0;
	r->bcast_pending = false;
	r->term_start = 0;
	r->read_seq = 0;
	reads_abandon(r);
	uint64_t last = log_last_index(r);
	for (size_t i = 0; i < r->n_prs; i++) {
		struct progress *pr = &r->prs[i];
		pr_reset_state(pr, PR_PROBE);
		pr->match = 0;
		pr->next = last + 1;
		pr->vote = 0;
		pr->recent_active = false;
		pr->read_ack = 0;
	}
}

static void become_follower(struct raft *r, uint64_t term, uint64_t lead)
{
	reset(r, term);
	r->role = RAFT_FOLLOWER;
	r->lead = lead;
}

static void become_pre_candidate(struct raft *r)
{
	/* thesis §9.6: a pre-election changes neither term nor vote */
	assert(r->role != RAFT_LEADER);
	for (size_t i = 0; i < r->n_prs; i++)
		r->prs[i].vote = 0;
	r->lead = RAFT_NONE;
	r->role = RAFT_PRE_CANDIDATE;
}

static void become_candidate(struct raft *r)
{
	assert(r->role != RAFT_LEADER);
	reset(r, r->term + 1);
	r->vote = r->id;
	r->role = RAFT_CANDIDATE;
}

static void append_entry(struct raft *r, uint8_t type, const void *data, uint32_t len)
{
	struct raft_entry e = {.term = r->term,
	                       .index = log_last_index(r) + 1,
	                       .type = type,
	                       .len = len,
	                       .data = (uint8_t *)data};
	log_append(r, &e, 1);
	r->uncommitted_bytes += len;
	r->bcast_pending = true;
}

static void become_leader(struct raft *r)
{
	assert(r->role == RAFT_CANDIDATE);
	reset(r, r->term);
	r->role = RAFT_LEADER;
	r->lead = r->id;
	/* the leader's own entries count once persisted: see raft_advance */
	struct progress *self = pr_find(r, r->id);
	if (self != NULL) {
		self->match = r->usnap != NULL ? 0 : r->offset - 1;
		pr_become_replicate(self);
		self->recent_active = true;
	}
	for (size_t i = 0; i < r->n_prs; i++)
		r->prs[i].recent_active = true;
	/* thesis §6.4 and paper §8: a no-op commits the previous terms' entries (§5.4.2) */
	r->term_start = log_last_index(r) + 1;
	append_entry(r, RAFT_ENTRY_NOOP, NULL, 0);
	r->uncommitted_bytes = 0;
}

static bool committed_current_term(const struct raft *r)
{
	return r->role == RAFT_LEADER && r->committed >= r->term_start;
}

static void release_reads(struct raft *r);

/* Paper §5.4.2: only entries of the current term are committed by counting replicas. */
static bool maybe_commit(struct raft *r)
{
	uint64_t mci = quorum_value(r, false);
	if (mci <= r->committed || log_term0(r, mci) != r->term)
		return false;
	log_commit_to(r, mci);
	return true;
}

/* Commit advanced on the leader: tell followers, serve reads, and leave if removed (§4.2.2). */
static void leader_committed(struct raft *r)
{
	bcast_append(r);
	release_reads(r);
	if (!is_promotable(r) && r->confs[r->n_confs - 1].index <= r->committed &&
	    raft_conf_find(conf_latest(r), r->id) == NULL)
		become_follower(r, r->term, RAFT_NONE);
}

/* Tally a vote: 1 won, -1 lost, 0 pending. */
static int poll(struct raft *r, uint64_t id, bool granted)
{
	struct progress *pr = pr_find(r, id);
	if (pr != NULL && pr->voter && pr->vote == 0)
		pr->vote = granted ? 1 : -1;
	uint32_t yes = 0, no = 0, q = quorum(r);
	for (size_t i = 0; i < r->n_prs; i++) {
		if (!r->prs[i].voter)
			continue;
		yes += r->prs[i].vote == 1;
		no += r->prs[i].vote == -1;
	}
	if (yes >= q)
		return 1;
	if (no > conf_voters(conf_latest(r)) - q)
		return -1;
	return 0;
}

static void campaign(struct raft *r, bool pre, bool force)
{
	if (!can_campaign(r))
		return;
	uint64_t vterm;
	enum raft_msg_type t;
	if (pre) {
		become_pre_candidate(r);
		vterm = r->term + 1;
		t = RAFT_MSG_PREVOTE;
	} else {
		become_candidate(r);
		vterm = r->term;
		t = RAFT_MSG_VOTE;
	}
	struct progress *self = pr_find(r, r->id);
	if (self != NULL && self->voter && poll(r, r->id, true) == 1) {
		if (pre)
			campaign(r, false, force);
		else
			become_leader(r);
		return;
	}
	for (size_t i = 0; i < r->n_prs; i++) {
		struct progress *pr = &r->prs[i];
		if (pr->id == r->id || !pr->voter)
			continue;
		struct raft_msg *m = msg_new(r, t, pr->id);
		m->term = vterm;
		m->index = log_last_index(r);
		m->log_term = log_last_term(r);
		m->context = force;
	}
}

/* ---- reads (thesis §6.4) ---- */

/* The newest read round a quorum of voters has acknowledged (the leader
 * counts as having acknowledged every round). */
static uint64_t read_confirmed(const struct raft *r)
{
	return quorum_value(r, true);
}

static void release_reads(struct raft *r)
{
	if (!committed_current_term(r) || r->reads_n == 0)
		return;
	uint64_t ok = read_confirmed(r);
	for (size_t k = 0; k < r->reads_n; k++) {
		struct read_req *q = &r->reads[(r->reads_head + k) % RAFT_READS_MAX];
		if (q->index == 0)
			q->index = r->committed;
	}
	while (r->reads_n > 0) {
		struct read_req *q = &r->reads[r->reads_head];
		if (q->seq > ok)
			break;
		assert(r->n_rstates < RAFT_READS_MAX);
		r->rstates[r->n_rstates++] = (struct raft_read_state){q->context, q->index};
		r->reads_head = (r->reads_head + 1) % RAFT_READS_MAX;
		r->reads_n--;
	}
}

bool raft_lease_valid(const struct raft *r)
{
	/*
	 * Thesis §6.4.1: a quorum acknowledged a heartbeat sent at tick t; none of them grants a
	 * vote before t + election_ticks (see in_lease), so no other leader exists before then.
	 */
	if (r->role != RAFT_LEADER || !r->c.check_quorum || r->transferee != RAFT_NONE ||
	    r->timeout_now_sent)
		return false;
	uint64_t s = read_confirmed(r);
	if (s == UINT64_MAX)
		return true; /* a single voter */
	if (s == 0 || r->read_seq - s >= READ_RING)
		return false;
	return r->now < r->read_send_tick[s % READ_RING] + r->c.lease_ticks;
}

int raft_read_index(struct raft *r, uint64_t context)
{
	assert(!r->in_ready);
	if (r->role != RAFT_LEADER)
		return RAFT_ERR_NOT_LEADER;
	if (r->reads_n >= RAFT_READS_MAX || r->n_rstates >= RAFT_READS_MAX)
		return RAFT_ERR_READS_FULL;
	if (r->c.read_mode == RAFT_READ_LEASE && committed_current_term(r) && raft_lease_valid(r)) {
		r->rstates[r->n_rstates++] = (struct raft_read_state){context, r->committed};
		return RAFT_OK;
	}
	struct read_req *q = &r->reads[(r->reads_head + r->reads_n) % RAFT_READS_MAX];
	q->context = context;
	q->index = committed_current_term(r) ? r->committed : 0;
	q->seq = r->read_seq + 1;
	r->reads_n++;
	r->read_round_wanted = true;
	release_reads(r);
	if (r->reads_n == 0)
		r->read_round_wanted = false;
	return RAFT_OK;
}

/* ---- step ---- */

static void handle_append(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg *o;
	uint64_t last_new;
	if (m->index < r->committed) {
		o = msg_new(r, RAFT_MSG_APP_RESP, m->from);
		o->index = r->committed;
		return;
	}
	if (log_maybe_append(r, m, &last_new)) {
		o = msg_new(r, RAFT_MSG_APP_RESP, m->from);
		o->index = last_new;
		return;
	}
	/* paper §5.3 with the thesis' optimisation: hint where the logs may agree */
	uint64_t hint_term;
	uint64_t hint = log_find_conflict_by_term(r, min_u64(m->index, log_last_index(r)),
	                                          m->log_term, &hint_term);
	o = msg_new(r, RAFT_MSG_APP_RESP, m->from);
	o->index = m->index;
	o->reject = true;
	o->reject_hint = hint;
	o->log_term = hint_term;
}

static void handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
	log_commit_to(r, min_u64(m->commit, log_last_index(r)));
	struct raft_msg *o = msg_new(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
	o->context = m->context;
}

static void handle_snapshot(struct raft *r, const struct raft_msg *m)
{
	const struct raft_snapshot *s = &m->snapshot;
	struct raft_msg *o;
	if (s->index <= r->committed) {
		o = msg_new(r, RAFT_MSG_APP_RESP, m->from);
		o->index = r->committed;
		return;
	}
	if (log_match_term(r, s->index, s->term)) {
		/* the log already has it: only the commit index moves (etcd restore) */
		log_commit_to(r, s->index);
		o = msg_new(r, RAFT_MSG_APP_RESP, m->from);
		o->index = r->committed;
		return;
	}
	log_restore(r, s);
	o = msg_new(r, RAFT_MSG_APP_RESP, m->from);
	o->index = log_last_index(r);
}

static void step_leader(struct raft *r, const struct raft_msg *m)
{
	struct progress *pr = pr_find(r, m->from);
	if (pr == NULL)
		return;
	switch (m->type) {
	case RAFT_MSG_APP_RESP:
		pr->recent_active = true;
		if (m->reject) {
			uint64_t next_probe = m->reject_hint, t;
			if (m->log_term > 0)
				next_probe =
				    log_find_conflict_by_term(r, m->reject_hint, m->log_term, &t);
			if (pr_maybe_decr_to(pr, m->index, next_probe)) {
				if (pr->state == PR_REPLICATE)
					pr_become_probe(pr);
				send_append(r, pr, false);
			}
			return;
		}
		if (m->index > log_last_index(r))
			return;
		bool was_paused = pr_is_paused(r, pr);
		if (!pr_maybe_update(pr, m->index))
			return;
		pr->acked = true;
		if (pr->state == PR_PROBE) {
			pr_become_replicate(pr);
		} else if (pr->state == PR_SNAPSHOT && pr->match >= pr->pending_snapshot) {
			pr_become_probe(pr);
			pr_become_replicate(pr);
		} else if (pr->state == PR_REPLICATE) {
			pr_inflight_free_to(pr, m->index);
		}
		if (maybe_commit(r)) {
			leader_committed(r);
			if (r->role != RAFT_LEADER)
				return;
		} else if (was_paused) {
			send_append(r, pr, true); /* it may not know the commit index yet */
		}
		while (send_append(r, pr, false))
			;
		if (m->from == r->transferee && pr->match == log_last_index(r))
			send_timeout_now(r, m->from);
		return;
	case RAFT_MSG_HEARTBEAT_RESP:
		pr->recent_active = true;
		pr->probe_sent = false;
		if (pr->state == PR_REPLICATE && pr->in_count >= r->c.max_inflight && !pr->acked) {
			/*
			 * The pipe is full and nothing came back for a heartbeat interval: an
			 * append may be lost, free one slot (etcd FreeFirstOne). While acks flow,
			 * don't: the extra append would overtake the ones in flight and be
			 * rejected.
			 */
			pr->in_start = (pr->in_start + 1) % RAFT_INFLIGHT_MAX;
			pr->in_count--;
		}
		pr->acked = false;
		/* an empty append also finds out whether an optimistic one was lost */
		if (pr->match < log_last_index(r))
			send_append(r, pr, true);
		if (m->context > pr->read_ack && m->context <= r->read_seq) {
			pr->read_ack = m->context;
			release_reads(r);
		}
		return;
	default:
		return;
	}
}

static void step_candidate(struct raft *r, const struct raft_msg *m)
{
	enum raft_msg_type want =
	    r->role == RAFT_PRE_CANDIDATE ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
	switch (m->type) {
	case RAFT_MSG_APP:
		become_follower(r, m->term, m->from);
		handle_append(r, m);
		return;
	case RAFT_MSG_HEARTBEAT:
		become_follower(r, m->term, m->from);
		handle_heartbeat(r, m);
		return;
	case RAFT_MSG_SNAP:
		become_follower(r, m->term, m->from);
		handle_snapshot(r, m);
		return;
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_PREVOTE_RESP:
		if (m->type != want)
			return;
		switch (poll(r, m->from, !m->reject)) {
		case 1:
			if (r->role == RAFT_PRE_CANDIDATE) {
				campaign(r, false, false);
			} else {
				become_leader(r);
				bcast_append(r);
			}
			return;
		case -1:
			become_follower(r, r->term, RAFT_NONE);
			return;
		}
		return;
	default:
		return;
	}
}

static void step_follower(struct raft *r, const struct raft_msg *m)
{
	switch (m->type) {
	case RAFT_MSG_APP:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAP:
		r->election_elapsed = 0;
		r->lead = m->from;
		if (m->type == RAFT_MSG_APP)
			handle_append(r, m);
		else if (m->type == RAFT_MSG_HEARTBEAT)
			handle_heartbeat(r, m);
		else
			handle_snapshot(r, m);
		return;
	case RAFT_MSG_TIMEOUT_NOW:
		/* thesis §3.10: start an election at once, skipping the pre-vote */
		campaign(r, false, true);
		return;
	default:
		return;
	}
}

/*
 * Thesis §4.2.3: a server that heard from a leader within the minimum election timeout ignores
 * vote requests, so a partitioned or removed server cannot disrupt a healthy cluster. A freshly
 * started server treats its first election timeout the same way: it may have acknowledged a
 * leader's heartbeat just before it stopped, and that leader may be serving lease reads.
 */
static bool in_lease(const struct raft *r)
{
	/*
	 * etcd applies this only with check_quorum; muster always does, as the thesis and
	 * hashicorp/raft do: without it a removed server that does not know it is removed keeps
	 * deposing leaders when pre_vote is off.
	 */
	if (r->election_elapsed >= r->c.election_ticks)
		return false;
	/*
	 * A leader too (thesis §4.2.3), even without check_quorum: a server whose term ran ahead
	 * still deposes it by answering its appends with that term (see raft_step).
	 */
	if (r->lead != RAFT_NONE)
		return true;
	/* the boot rule protects lease reads, which need check_quorum */
	return r->booting && r->c.check_quorum;
}

static bool msg_valid(const struct raft *r, const struct raft_msg *m)
{
	if (m->type < RAFT_MSG_APP || m->type >= RAFT_MSG_TYPE_MAX)
		return false;
	if (m->from == RAFT_NONE || m->from == r->id || m->to != r->id || m->term == 0)
		return false;
	if (m->n_entries > 0 && (m->type != RAFT_MSG_APP || m->entries == NULL))
		return false;
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		if (e->index != m->index + 1 + i || e->term > m->term || e->term < m->log_term ||
		    (i > 0 && e->term < e[-1].term) || (e->len > 0 && e->data == NULL) ||
		    e->type > RAFT_ENTRY_NOOP)
			return false;
	}
	if (m->type == RAFT_MSG_SNAP &&
	    (m->snapshot.index == 0 || m->snapshot.term == 0 || !conf_is_valid(&m->snapshot.conf) ||
	     (m->snapshot.len > 0 && m->snapshot.data == NULL)))
		return false;
	return true;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
	assert(!r->in_ready);
	if (!msg_valid(r, m))
		return -1;
	bool vote_req = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
	if (m->term > r->term) {
		if (vote_req && m->context != 1 && in_lease(r))
			return 0;
		if (m->type == RAFT_MSG_PREVOTE ||
		    (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject)) {
			/* pre-votes do not move terms (thesis §9.6) */
		} else if (m->type == RAFT_MSG_APP || m->type == RAFT_MSG_HEARTBEAT ||
		           m->type == RAFT_MSG_SNAP) {
			become_follower(r, m->term, m->from);
		} else {
			become_follower(r, m->term, RAFT_NONE);
		}
	} else if (m->term < r->term) {
		if (m->type == RAFT_MSG_APP || m->type == RAFT_MSG_HEARTBEAT) {
			/*
			 * A stale leader learns the new term. etcd does this only with check_quorum
			 * or pre_vote; muster always ignores votes within a lease (see in_lease),
			 * so a server whose term ran ahead could otherwise never rejoin.
			 */
			msg_new(r, RAFT_MSG_APP_RESP, m->from);
		} else if (m->type == RAFT_MSG_PREVOTE) {
			struct raft_msg *o = msg_new(r, RAFT_MSG_PREVOTE_RESP, m->from);
			o->reject = true;
		}
		return 0;
	}
	if (vote_req) {
		bool can_vote = r->vote == m->from ||
		                (r->vote == RAFT_NONE && r->lead == RAFT_NONE) ||
		                (m->type == RAFT_MSG_PREVOTE && m->term > r->term);
		enum raft_msg_type rt =
		    m->type == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP : RAFT_MSG_PREVOTE_RESP;
		if (can_vote && log_is_up_to_date(r, m->index, m->log_term)) {
			/* a granted (pre-)vote carries the requested term */
			struct raft_msg *o = msg_new(r, rt, m->from);
			o->term = m->term;
			if (m->type == RAFT_MSG_VOTE) {
				r->election_elapsed = 0;
				r->vote = m->from;
			}
		} else {
			struct raft_msg *o = msg_new(r, rt, m->from);
			o->reject = true;
		}
		return 0;
	}
	switch (r->role) {
	case RAFT_LEADER:
		step_leader(r, m);
		break;
	case RAFT_CANDIDATE:
	case RAFT_PRE_CANDIDATE:
		step_candidate(r, m);
		break;
	case RAFT_FOLLOWER:
		step_follower(r, m);
		break;
	}
	return 0;
}

/* ---- tick ---- */

/* Thesis §6.2: a leader that has not heard from a quorum in an election timeout steps down. */
static bool quorum_active(struct raft *r)
{
	uint32_t n = 0;
	for (size_t i = 0; i < r->n_prs; i++) {
		struct progress *pr = &r->prs[i];
		if (pr->voter && (pr->recent_active || pr->id == r->id))
			n++;
		if (pr->id != r->id)
			pr->recent_active = false;
	}
	return n >= quorum(r);
}

void raft_tick(struct raft *r)
{
	assert(!r->in_ready);
	r->now++;
	if (r->election_elapsed < UINT32_MAX)
		r->election_elapsed++;
	if (r->election_elapsed >= r->c.election_ticks)
		r->booting = false;
	if (r->role != RAFT_LEADER) {
		if (can_campaign(r) && r->election_elapsed >= r->randomized_timeout) {
			r->election_elapsed = 0;
			campaign(r, r->c.pre_vote, false);
		}
		return;
	}
	r->heartbeat_elapsed++;
	if (r->election_elapsed >= r->c.election_ticks) {
		r->election_elapsed = 0;
		if (r->c.check_quorum && !quorum_active(r)) {
			become_follower(r, r->term, RAFT_NONE);
			return;
		}
		r->transferee = RAFT_NONE; /* thesis §3.10: abort a transfer after a timeout */
	}
	if (r->heartbeat_elapsed >= r->c.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		bcast_heartbeat(r);
	}
}

void raft_campaign(struct raft *r)
{
	assert(!r->in_ready);
	if (r->role != RAFT_LEADER)
		campaign(r, r->c.pre_vote, false);
}

/* ---- proposals ---- */

static int propose_check(const struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return RAFT_ERR_NOT_LEADER;
	if (r->transferee != RAFT_NONE)
		return RAFT_ERR_TRANSFERRING;
	return RAFT_OK;
}

int raft_propose(struct raft *r, const void *data, uint32_t len, uint64_t *index)
{
	assert(!r->in_ready);
	int rc = propose_check(r);
	if (rc != RAFT_OK)
		return rc;
	if (len > r->c.max_entry_bytes)
		return RAFT_ERR_TOO_LARGE;
	/* etcd: a lone entry is always let through, or a big one could never be proposed */
	if (r->uncommitted_bytes > 0 && r->uncommitted_bytes + len > r->c.max_uncommitted_bytes)
		return RAFT_ERR_UNCOMMITTED_FULL;
	append_entry(r, RAFT_ENTRY_NORMAL, data, len);
	if (index != NULL)
		*index = log_last_index(r);
	return RAFT_OK;
}

int raft_propose_conf(struct raft *r, enum raft_conf_op op, uint64_t id, const char *addr,
                      uint64_t *index)
{
	assert(!r->in_ready);
	int rc = propose_check(r);
	if (rc != RAFT_OK)
		return rc;
	/*
	 * Thesis §4.1: one change at a time, and only once the previous one is committed. Ongaro's
	 * 2015 correction: also only after an entry of this term is committed.
	 */
	if (!committed_current_term(r) || r->confs[r->n_confs - 1].index > r->committed)
		return RAFT_ERR_CONF_PENDING;
	struct raft_conf c = *conf_latest(r);
	if (raft_conf_apply_op(&c, op, id, addr) != 0)
		return RAFT_ERR_CONF_INVALID;
	uint8_t buf[RAFT_CONF_ENCODED_MAX];
	size_t n = raft_conf_encode(&c, buf, sizeof(buf));
	assert(n > 0);
	append_entry(r, RAFT_ENTRY_CONF, buf, (uint32_t)n);
	if (index != NULL)
		*index = log_last_index(r);
	return RAFT_OK;
}

int raft_transfer_leadership(struct raft *r, uint64_t to)
{
	assert(!r->in_ready);
	if (r->role != RAFT_LEADER)
		return RAFT_ERR_NOT_LEADER;
	struct progress *pr = pr_find(r, to);
	if (to == r->id || pr == NULL || !pr->voter)
		return RAFT_ERR_CONF_INVALID;
	if (r->transferee == to)
		return RAFT_OK;
	r->transferee = to;
	r->election_elapsed = 0; /* the transfer must finish within an election timeout */
	if (pr->match == log_last_index(r))
		send_timeout_now(r, to);
	else
		send_append(r, pr, true);
	return RAFT_OK;
}

void raft_report_snapshot(struct raft *r, uint64_t id, bool ok)
{
	struct progress *pr = pr_find(r, id);
	assert(!r->in_ready);
	/* either way: probe; on success the follower's answer moves it on */
	if (r->role != RAFT_LEADER || pr == NULL || pr->state != PR_SNAPSHOT)
		return;
	if (!ok)
		pr->pending_snapshot = 0;
	pr_become_probe(pr);
	pr->probe_sent = true; /* wait for a heartbeat's answer before probing */
}

void raft_report_unreachable(struct raft *r, uint64_t id)
{
	struct progress *pr = pr_find(r, id);
	assert(!r->in_ready);
	if (r->role == RAFT_LEADER && pr != NULL && pr->state == PR_REPLICATE)
		pr_become_probe(pr);
}

/* ---- ready / advance ---- */

static struct raft_hard_state hard_state(const struct raft *r)
{
	return (struct raft_hard_state){r->term, r->vote, r->committed};
}

bool raft_has_ready(const struct raft *r)
{
	struct raft_hard_state hs = hard_state(r);
	if (r->n_out > 0 || r->unstable.n > 0 || r->usnap != NULL || r->n_rstates > 0 ||
	    r->bcast_pending || (r->read_round_wanted && r->role == RAFT_LEADER))
		return true;
	if (hs.term != r->prev_hs.term || hs.vote != r->prev_hs.vote ||
	    hs.commit != r->prev_hs.commit)
		return true;
	if (r->lead != r->prev_soft.leader || r->role != r->prev_soft.role)
		return true;
	return r->committed > r->applied;
}

void raft_ready(struct raft *r, struct raft_ready *rd)
{
	assert(!r->in_ready);
	if (r->role == RAFT_LEADER) {
		if (r->bcast_pending)
			bcast_append(r);
		if (r->read_round_wanted && r->reads_n > 0)
			bcast_heartbeat(r);
	}
	r->bcast_pending = false;
	r->read_round_wanted = false;
	memset(rd, 0, sizeof(*rd));
	rd->soft = (struct raft_soft_state){r->lead, r->role};
	rd->soft_changed =
	    rd->soft.leader != r->prev_soft.leader || rd->soft.role != r->prev_soft.role;
	rd->hs = hard_state(r);
	rd->hs_changed = rd->hs.term != r->prev_hs.term || rd->hs.vote != r->prev_hs.vote ||
	                 rd->hs.commit != r->prev_hs.commit;
	rd->snapshot = r->usnap;
	rd->entries = r->unstable.v;
	rd->n_entries = r->unstable.n;
	rd->must_sync = rd->n_entries > 0 || rd->snapshot != NULL ||
	                rd->hs.term != r->prev_hs.term || rd->hs.vote != r->prev_hs.vote;
	ents_truncate(&r->ready_committed, 0);
	uint64_t lo = max_u64(r->applied + 1, log_first_index(r));
	if (r->committed >= lo) {
		int rc = log_entries(r, lo, r->committed + 1, SIZE_MAX, r->c.max_apply_bytes,
		                     &r->ready_committed);
		assert(rc == 0);
	}
	rd->committed = r->ready_committed.v;
	rd->n_committed = r->ready_committed.n;
	rd->msgs = r->outbox;
	rd->n_msgs = r->n_out;
	rd->reads = r->rstates;
	rd->n_reads = r->n_rstates;
	r->in_ready = true;
}

void raft_advance(struct raft *r, struct raft_ready *rd)
{
	assert(r->in_ready);
	r->in_ready = false;
	if (rd->snapshot != NULL) {
		r->applied = max_u64(r->applied, r->usnap->index);
		free(r->usnap->data);
		free(r->usnap);
		r->usnap = NULL;
	}
	if (rd->n_entries > 0) {
		r->offset += r->unstable.n;
		ents_truncate(&r->unstable, 0);
	}
	if (rd->n_committed > 0) {
		r->applied = rd->committed[rd->n_committed - 1].index;
		if (r->role == RAFT_LEADER) {
			for (size_t i = 0; i < rd->n_committed; i++) {
				uint64_t l = rd->committed[i].len;
				r->uncommitted_bytes -= min_u64(l, r->uncommitted_bytes);
			}
		}
	}
	for (size_t i = 0; i < r->n_out; i++)
		msg_free(&r->outbox[i]);
	r->n_out = 0;
	r->n_rstates = 0;
	r->prev_hs = rd->hs;
	r->prev_soft = rd->soft;
	ents_truncate(&r->ready_committed, 0);
	memset(rd, 0, sizeof(*rd));
	if (r->role == RAFT_LEADER) {
		/* the leader's own copy counts toward a quorum once on disk (thesis §10.2.1) */
		struct progress *self = pr_find(r, r->id);
		if (self != NULL && self->match < r->offset - 1 && r->usnap == NULL) {
			self->match = r->offset - 1;
			if (maybe_commit(r))
				leader_committed(r);
		}
	}
}

/* ---- lifecycle and accessors ---- */

void raft_config_default(struct raft_config *c, uint64_t id)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	/* hashicorp/raft: heartbeats every HeartbeatTimeout/10, election 1000 ms, lease 500 ms */
	c->heartbeat_ticks = 1;
	c->election_ticks = 10;
	c->lease_ticks = 5;
	c->max_append_entries = 64; /* MaxAppendEntries */
	c->max_append_bytes = 1u << 20;
	c->max_inflight = 128; /* net_transport maxInFlight */
	c->max_uncommitted_bytes = 64u << 20;
	c->max_apply_bytes = 16u << 20;
	c->max_entry_bytes = 4u << 20;
	c->pre_vote = true;
	c->check_quorum = true;
	c->read_mode = RAFT_READ_SAFE;
}

struct raft *raft_new(const struct raft_config *c, const struct raft_storage *s)
{
	if (c->id == RAFT_NONE || c->heartbeat_ticks == 0 ||
	    c->election_ticks <= c->heartbeat_ticks || c->lease_ticks > c->election_ticks ||
	    c->max_inflight == 0 || c->max_inflight > RAFT_INFLIGHT_MAX ||
	    c->max_append_entries == 0 || c->max_entry_bytes > RAFT_ENTRY_BYTES_MAX ||
	    (c->read_mode == RAFT_READ_LEASE && !c->check_quorum))
		return NULL;
	struct raft *r = xmalloc(sizeof(*r));
	memset(r, 0, sizeof(*r));
	r->c = *c;
	if (r->c.lease_ticks == 0)
		r->c.lease_ticks = r->c.election_ticks / 2;
	r->st = *s;
	r->id = c->id;
	r->reads = xmalloc(RAFT_READS_MAX * sizeof(*r->reads));
	r->rstates = xmalloc(RAFT_READS_MAX * sizeof(*r->rstates));

	struct raft_hard_state hs;
	struct raft_snapshot snap;
	s->hard_state(s->arg, &hs);
	s->snapshot(s->arg, &snap);
	uint64_t first = s->first_index(s->arg), last = s->last_index(s->arg);
	r->offset = last + 1;
	r->committed = max_u64(hs.commit, snap.index);
	r->applied = c->applied ? c->applied : snap.index;
	if (r->committed > last || r->applied > r->committed || first != snap.index + 1) {
		raft_free(r);
		return NULL;
	}
	confs_push(r, snap.index, &snap.conf);
	/* the configuration in use is the log's last (thesis §4.1): scan what the snapshot lacks */
	for (uint64_t i = first; i <= last;) {
		struct ents es = {0};
		if (log_entries(r, i, last + 1, 256, 1u << 20, &es) != 0 || es.n == 0) {
			ents_free(&es);
			raft_free(r);
			return NULL;
		}
		confs_track(r, es.v, es.n);
		i = es.v[es.n - 1].index + 1;
		ents_free(&es);
	}
	confs_prune(r);
	prs_sync(r);
	r->term = hs.term;
	become_follower(r, hs.term, RAFT_NONE);
	r->vote = hs.vote;
	r->prev_hs = hard_state(r);
	r->prev_soft = (struct raft_soft_state){RAFT_NONE, RAFT_FOLLOWER};
	r->booting = true;
	return r;
}

void raft_free(struct raft *r)
{
	if (r == NULL)
		return;
	if (r->usnap != NULL)
		free(r->usnap->data);
	free(r->usnap);
	ents_free(&r->unstable);
	ents_free(&r->ready_committed);
	for (size_t i = 0; i < r->n_out; i++)
		msg_free(&r->outbox[i]);
	msg_free(&r->scratch);
	free(r->outbox);
	free(r->confs);
	free(r->prs);
	free(r->reads);
	free(r->rstates);
	free(r);
}

uint64_t raft_id(const struct raft *r)
{
	return r->id;
}

uint64_t raft_leader(const struct raft *r)
{
	return r->lead;
}

enum raft_role raft_role(const struct raft *r)
{
	return r->role;
}

uint64_t raft_term(const struct raft *r)
{
	return r->term;
}

uint64_t raft_commit(const struct raft *r)
{
	return r->committed;
}

uint64_t raft_applied(const struct raft *r)
{
	return r->applied;
}

uint64_t raft_last_index(const struct raft *r)
{
	return log_last_index(r);
}

int raft_progress(const struct raft *r, uint64_t id, struct raft_progress_info *out)
{
	static const char *const names[] = {"probe", "replicate", "snapshot"};
	const struct progress *pr = pr_find((struct raft *)r, id);
	if (r->role != RAFT_LEADER || pr == NULL)
		return -1;
	out->match = pr->match;
	out->next = pr->next;
	out->pending_snapshot = pr->pending_snapshot;
	out->state = names[pr->state];
	out->paused = pr_is_paused(r, pr);
	out->recent_active = pr->recent_active;
	out->inflight = pr->in_count;
	return 0;
}

const struct raft_conf *raft_conf_latest(const struct raft *r)
{
	return conf_latest(r);
}

const char *raft_status_str(int status)
{
	switch (status) {
	case RAFT_OK:
		return "ok";
	case RAFT_ERR_NOT_LEADER:
		return "not the leader";
	case RAFT_ERR_TRANSFERRING:
		return "leadership transfer in progress";
	case RAFT_ERR_UNCOMMITTED_FULL:
		return "too many uncommitted bytes";
	case RAFT_ERR_CONF_PENDING:
		return "configuration change pending";
	case RAFT_ERR_CONF_INVALID:
		return "invalid configuration change";
	case RAFT_ERR_TOO_LARGE:
		return "entry too large";
	case RAFT_ERR_READS_FULL:
		return "too many pending reads";
	case RAFT_ERR_COMPACTED:
		return "log compacted";
	case RAFT_ERR_UNAVAILABLE:
		return "log entry unavailable";
	}
	return "unknown";
}

const char *raft_role_str(enum raft_role role)
{
	static const char *const s[] = {"follower", "pre-candidate", "candidate", "leader"};
	return (unsigned)role < 4 ? s[role] : "?";
}

const char *raft_msg_type_str(enum raft_msg_type t)
{
	static const char *const s[] = {"?",         "app",     "app_resp",     "vote",
	                                "vote_resp", "prevote", "prevote_resp", "heartbeat",
	                                "hb_resp",   "snap",    "timeout_now"};
	return (unsigned)t < RAFT_MSG_TYPE_MAX ? s[t] : "?";
}

/* ---- raft_memstore: an in-memory struct raft_storage ---- */

struct raft_memstore {
	struct raft_hard_state hs;
	struct raft_snapshot snap; /* data owned */
	struct ents log;           /* entries snap.index + 1 ... */
};

struct raft_memstore *raft_memstore_new(void)
{
	struct raft_memstore *ms = xmalloc(sizeof(*ms));
	memset(ms, 0, sizeof(*ms));
	return ms;
}

void raft_memstore_free(struct raft_memstore *ms)
{
	if (ms == NULL)
		return;
	ents_free(&ms->log);
	free(ms->snap.data);
	free(ms);
}

uint64_t raft_memstore_first_index(const struct raft_memstore *ms)
{
	return ms->snap.index + 1;
}

uint64_t raft_memstore_last_index(const struct raft_memstore *ms)
{
	return ms->snap.index + ms->log.n;
}

static void ms_hard_state(void *arg, struct raft_hard_state *hs)
{
	*hs = ((struct raft_memstore *)arg)->hs;
}

static uint64_t ms_first_index(void *arg)
{
	return raft_memstore_first_index(arg);
}

static uint64_t ms_last_index(void *arg)
{
	return raft_memstore_last_index(arg);
}

static int ms_term(void *arg, uint64_t i, uint64_t *t)
{
	struct raft_memstore *ms = arg;
	if (i < ms->snap.index)
		return RAFT_ERR_COMPACTED;
	if (i > raft_memstore_last_index(ms))
		return RAFT_ERR_UNAVAILABLE;
	*t = i == ms->snap.index ? ms->snap.term : ms->log.v[i - ms->snap.index - 1].term;
	return 0;
}

static int ms_entries(void *arg, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                      struct raft_entry *out, size_t out_max, size_t *n)
{
	struct raft_memstore *ms = arg;
	uint64_t bytes = 0;
	*n = 0;
	if (lo <= ms->snap.index)
		return RAFT_ERR_COMPACTED;
	if (hi > raft_memstore_last_index(ms) + 1)
		return RAFT_ERR_UNAVAILABLE;
	for (uint64_t i = lo; i < hi && *n < out_max; i++) {
		const struct raft_entry *e = &ms->log.v[i - ms->snap.index - 1];
		if (*n > 0 && bytes + e->len > max_bytes)
			break;
		bytes += e->len;
		out[(*n)++] = *e;
	}
	return 0;
}

static void ms_snapshot(void *arg, struct raft_snapshot *s)
{
	*s = ((struct raft_memstore *)arg)->snap;
}

void raft_memstore_storage(struct raft_memstore *ms, struct raft_storage *s)
{
	s->arg = ms;
	s->hard_state = ms_hard_state;
	s->first_index = ms_first_index;
	s->last_index = ms_last_index;
	s->term = ms_term;
	s->entries = ms_entries;
	s->snapshot = ms_snapshot;
}

int raft_memstore_bootstrap(struct raft_memstore *ms, const struct raft_conf *c)
{
	uint8_t buf[RAFT_CONF_ENCODED_MAX];
	size_t n = raft_conf_encode(c, buf, sizeof(buf));
	if (n == 0 || raft_memstore_last_index(ms) != 0 || ms->hs.term != 0)
		return -1;
	struct raft_entry e = {
	    .term = 1, .index = 1, .type = RAFT_ENTRY_CONF, .len = n, .data = buf};
	ents_push(&ms->log, &e);
	ms->hs.term = 1;
	ms->hs.commit = 1;
	return 0;
}

int raft_memstore_append(struct raft_memstore *ms, const struct raft_entry *e, size_t n)
{
	if (n == 0)
		return 0;
	uint64_t first = raft_memstore_first_index(ms);
	/* entries before the snapshot are already in it */
	while (n > 0 && e[0].index < first) {
		e++;
		n--;
	}
	if (n == 0)
		return 0;
	if (e[0].index > raft_memstore_last_index(ms) + 1)
		return -1;
	ents_truncate(&ms->log, e[0].index - first);
	for (size_t i = 0; i < n; i++)
		ents_push(&ms->log, &e[i]);
	return 0;
}

void raft_memstore_set_hard_state(struct raft_memstore *ms, const struct raft_hard_state *hs)
{
	ms->hs = *hs;
}

int raft_memstore_apply_snapshot(struct raft_memstore *ms, const struct raft_snapshot *snap)
{
	if (snap->index < ms->snap.index)
		return -1;
	ents_truncate(&ms->log, 0);
	free(ms->snap.data);
	snapshot_copy(&ms->snap, snap);
	ms->hs.commit = max_u64(ms->hs.commit, snap->index);
	return 0;
}

int raft_memstore_compact(struct raft_memstore *ms, uint64_t index, const struct raft_conf *conf,
                          const void *data, uint32_t len)
{
	uint64_t t;
	if (index <= ms->snap.index || index > raft_memstore_last_index(ms) ||
	    ms_term(ms, index, &t) != 0)
		return -1;
	size_t drop = index - ms->snap.index;
	for (size_t i = 0; i < drop; i++)
		free(ms->log.v[i].data);
	memmove(ms->log.v, ms->log.v + drop, (ms->log.n - drop) * sizeof(*ms->log.v));
	ms->log.n -= drop;
	free(ms->snap.data);
	struct raft_snapshot s = {
	    .index = index, .term = t, .conf = *conf, .len = len, .data = (uint8_t *)data};
	snapshot_copy(&ms->snap, &s);
	return 0;
}

int raft_memstore_save(struct raft_memstore *ms, const struct raft_ready *rd)
{
	if (rd->snapshot != NULL && raft_memstore_apply_snapshot(ms, rd->snapshot) != 0)
		return -1;
	if (raft_memstore_append(ms, rd->entries, rd->n_entries) != 0)
		return -1;
	if (rd->hs_changed || rd->snapshot != NULL)
		ms->hs = rd->hs;
	return 0;
}

const struct raft_entry *raft_memstore_entry(const struct raft_memstore *ms, uint64_t index)
{
	if (index <= ms->snap.index || index > raft_memstore_last_index(ms))
		return NULL;
	return &ms->log.v[index - ms->snap.index - 1];
}

const struct raft_snapshot *raft_memstore_snapshot(const struct raft_memstore *ms)
{
	return &ms->snap;
}

const struct raft_hard_state *raft_memstore_hard_state(const struct raft_memstore *ms)
{
	return &ms->hs;
}

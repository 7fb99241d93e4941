/* mlmap.c: swim.h's messages <-> memberlist's wire messages (mlwire.h). */
#include "daemons/gossipd/mlmap.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static struct mlwire_bytes bytes_of(const char *s)
{
	struct mlwire_bytes b = {(const uint8_t *)(s ? s : ""), s ? strlen(s) : 0};
	return b;
}

/* A wire name into a C string: no NUL inside, within SWIM_NAME_MAX. */
static int name_of(struct mlwire_bytes b, char *out)
{
	if (b.len > SWIM_NAME_MAX || (b.len && memchr(b.p, 0, b.len)))
		return -1;
	if (b.len)
		memcpy(out, b.p, b.len);
	out[b.len] = '\0';
	return 0;
}

bool mlmap_addr(const struct mlwire_bytes *ip, uint16_t port, struct swim_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (ip->len == 0)
		return true; /* absent */
	if (ip->len != 4 && ip->len != 16)
		return false;
	memcpy(out->ip, ip->p, ip->len);
	out->len = (uint8_t)ip->len;
	out->port = port;
	return true;
}

static struct mlwire_bytes addr_bytes(const struct swim_addr *a)
{
	struct mlwire_bytes b = {a->ip, a->len};
	return b;
}

int mlmap_parse_ip(const char *s, struct swim_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->ip) == 1)
		a->len = 4;
	else if (inet_pton(AF_INET6, s, a->ip) == 1)
		a->len = 16;
	else
		return -1;
	return 0;
}

const char *mlmap_ip_str(const struct swim_addr *a, char *out, size_t size)
{
	if (a->len == 4 || a->len == 16) {
		if (inet_ntop(a->len == 4 ? AF_INET : AF_INET6, a->ip, out, (socklen_t)size))
			return out;
	}
	snprintf(out, size, "%s", "");
	return out;
}

const char *mlmap_addr_str(const struct swim_addr *a, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	mlmap_ip_str(a, ip, sizeof(ip));
	snprintf(out, size, a->len == 16 ? "[%s]:%u" : "%s:%u", ip, (unsigned)a->port);
	return out;
}

int mlmap_decode(uint8_t type, const uint8_t *body, size_t len, struct swim_msg *m,
                 struct mlmap_scratch *sc)
{
	struct cur c;
	cur_init(&c, body, len);
	memset(m, 0, sizeof(*m));
	sc->node[0] = sc->from[0] = '\0';
	m->node = sc->node;
	m->from = sc->from;
	switch (type) {
	case MLWIRE_PING: {
		struct mlwire_ping p;
		if (mlwire_dec_ping(&c, &p) != 0 || name_of(p.node, sc->node) != 0 ||
		    name_of(p.source_node, sc->from) != 0 ||
		    !mlmap_addr(&p.source_addr, p.source_port, &m->source))
			return -1;
		m->type = SWIM_MSG_PING;
		m->seq = p.seq_no;
		return 0;
	}
	case MLWIRE_INDIRECT_PING: {
		struct mlwire_indirect_ping p;
		if (mlwire_dec_indirect_ping(&c, &p) != 0 || name_of(p.node, sc->node) != 0 ||
		    name_of(p.source_node, sc->from) != 0 || p.target.len == 0 ||
		    !mlmap_addr(&p.target, p.port, &m->addr) ||
		    !mlmap_addr(&p.source_addr, p.source_port, &m->source))
			return -1;
		m->type = SWIM_MSG_INDIRECT_PING;
		m->seq = p.seq_no;
		m->nack = p.nack;
		return 0;
	}
	case MLWIRE_ACK: {
		struct mlwire_ack a;
		if (mlwire_dec_ack(&c, &a) != 0 || a.payload.len > SWIM_PAYLOAD_MAX)
			return -1;
		m->type = SWIM_MSG_ACK;
		m->seq = a.seq_no;
		m->payload = a.payload.p;
		m->payload_len = a.payload.len;
		return 0;
	}
	case MLWIRE_NACK: {
		struct mlwire_nack n;
		if (mlwire_dec_nack(&c, &n) != 0)
			return -1;
		m->type = SWIM_MSG_NACK;
		m->seq = n.seq_no;
		return 0;
	}
	case MLWIRE_SUSPECT:
	case MLWIRE_DEAD: {
		struct mlwire_suspect s;
		if (mlwire_dec_suspect(&c, &s) != 0 || name_of(s.node, sc->node) != 0 ||
		    name_of(s.from, sc->from) != 0)
			return -1;
		m->type = type == MLWIRE_SUSPECT ? SWIM_MSG_SUSPECT : SWIM_MSG_DEAD;
		m->incarnation = s.incarnation;
		return 0;
	}
	case MLWIRE_ALIVE: {
		struct mlwire_alive a;
		if (mlwire_dec_alive(&c, &a) != 0 || name_of(a.node, sc->node) != 0 ||
		    a.addr.len == 0 || !mlmap_addr(&a.addr, a.port, &m->addr) ||
		    (a.vsn_len != 0 && a.vsn_len != SWIM_VSN_LEN) || a.meta.len > SWIM_META_MAX)
			return -1;
		m->type = SWIM_MSG_ALIVE;
		m->incarnation = a.incarnation;
		m->meta = a.meta.p;
		m->meta_len = a.meta.len;
		m->vsn_len = a.vsn_len;
		memcpy(m->vsn, a.vsn, sizeof(m->vsn));
		return 0;
	}
	default:
		return -1;
	}
}

int mlmap_encode(struct buf *b, const struct swim_msg *m)
{
	switch (m->type) {
	case SWIM_MSG_PING: {
		struct mlwire_ping p = {.seq_no = m->seq,
		                        .node = bytes_of(m->node),
		                        .source_addr = addr_bytes(&m->source),
		                        .source_port = m->source.len ? m->source.port : 0,
		                        .source_node = bytes_of(m->from)};
		return mlwire_enc_ping(b, &p);
	}
	case SWIM_MSG_INDIRECT_PING: {
		struct mlwire_indirect_ping p = {.seq_no = m->seq,
		                                 .target = addr_bytes(&m->addr),
		                                 .port = m->addr.port,
		                                 .node = bytes_of(m->node),
		                                 .nack = m->nack,
		                                 .source_addr = addr_bytes(&m->source),
		                                 .source_port = m->source.len ? m->source.port : 0,
		                                 .source_node = bytes_of(m->from)};
		return mlwire_enc_indirect_ping(b, &p);
	}
	case SWIM_MSG_ACK: {
		struct mlwire_ack a = {.seq_no = m->seq, .payload = {m->payload, m->payload_len}};
		return mlwire_enc_ack(b, &a);
	}
	case SWIM_MSG_NACK: {
		struct mlwire_nack n = {.seq_no = m->seq};
		return mlwire_enc_nack(b, &n);
	}
	case SWIM_MSG_SUSPECT:
	case SWIM_MSG_DEAD: {
		struct mlwire_suspect s = {.incarnation = m->incarnation,
		                           .node = bytes_of(m->node),
		                           .from = bytes_of(m->from)};
		return mlwire_enc_suspect(b, m->type == SWIM_MSG_SUSPECT ? MLWIRE_SUSPECT : MLWIRE_DEAD,
		                          &s);
	}
	case SWIM_MSG_ALIVE: {
		struct mlwire_alive a = {.incarnation = m->incarnation,
		                         .node = bytes_of(m->node),
		                         .addr = addr_bytes(&m->addr),
		                         .port = m->addr.port,
		                         .meta = {m->meta, m->meta_len},
		                         .vsn_len = m->vsn_len};
		memcpy(a.vsn, m->vsn, sizeof(a.vsn));
		return mlwire_enc_alive(b, &a);
	}
	case SWIM_MSG_USER:
		return mlwire_enc_user(b, m->payload, m->payload_len);
	}
	return -1;
}

int mlmap_decode_push_pull(const uint8_t *body, size_t len, struct mlwire_push_pull *hdr,
                           struct mlmap_push_state *st, const uint8_t **user_state,
                           size_t *user_state_len)
{
	struct cur c;
	cur_init(&c, body, len);
	memset(st, 0, sizeof(*st));
	if (mlwire_dec_push_pull(&c, hdr) != 0 || hdr->nodes > MLWIRE_PUSH_NODES_MAX)
		return -1;
	/* Every node costs at least a few bytes on the wire: a count larger than what is left
	 * cannot be true, and must not size an allocation. */
	if (hdr->nodes > cur_left(&c))
		return -1;
	if (hdr->nodes) {
		st->nodes = xcalloc(hdr->nodes, sizeof(*st->nodes));
		st->names = xmalloc((size_t)hdr->nodes * (SWIM_NAME_MAX + 1));
	}
	for (uint32_t i = 0; i < hdr->nodes; i++) {
		struct mlwire_push_node pn;
		struct swim_node_state *n = &st->nodes[i];
		char *name = st->names + (size_t)i * (SWIM_NAME_MAX + 1);
		if (mlwire_dec_push_node(&c, &pn) != 0 || name_of(pn.name, name) != 0 ||
		    !mlmap_addr(&pn.addr, pn.port, &n->addr) || pn.meta.len > SWIM_META_MAX ||
		    (pn.vsn_len != 0 && pn.vsn_len != SWIM_VSN_LEN))
			goto bad;
		n->name = name;
		n->meta = pn.meta.p;
		n->meta_len = pn.meta.len;
		n->incarnation = pn.incarnation;
		n->state = (enum swim_state)pn.state;
		memcpy(n->vsn, pn.vsn, sizeof(n->vsn));
		st->n++;
	}
	if (cur_left(&c) < hdr->user_state_len)
		goto bad;
	*user_state = cur_take(&c, hdr->user_state_len);
	*user_state_len = hdr->user_state_len;
	if (!cur_ok(&c))
		goto bad;
	return 0;
bad:
	mlmap_push_state_fini(st);
	return -1;
}

void mlmap_push_state_fini(struct mlmap_push_state *st)
{
	free(st->nodes);
	free(st->names);
	memset(st, 0, sizeof(*st));
}

int mlmap_encode_push_pull(struct buf *b, const struct swim_node_state *nodes, size_t n,
                           const uint8_t *user_state, size_t user_state_len, bool join)
{
	if (n > MLWIRE_PUSH_NODES_MAX || user_state_len > MLWIRE_USER_STATE_MAX)
		return -1;
	struct mlwire_push_pull h = {.nodes = (uint32_t)n,
	                             .user_state_len = (uint32_t)user_state_len,
	                             .join = join};
	if (mlwire_enc_push_pull(b, &h) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct swim_node_state *s = &nodes[i];
		struct mlwire_push_node pn = {.name = bytes_of(s->name),
		                              .addr = addr_bytes(&s->addr),
		                              .port = s->addr.port,
		                              .meta = {s->meta, s->meta_len},
		                              .incarnation = s->incarnation,
		                              .state = (uint8_t)s->state,
		                              .vsn_len = SWIM_VSN_LEN};
		memcpy(pn.vsn, s->vsn, sizeof(pn.vsn));
		if (mlwire_enc_push_node(b, &pn) != 0)
			return -1;
	}
	return buf_append(b, user_state, user_state_len);
}

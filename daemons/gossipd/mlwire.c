/* mlwire.c: memberlist's wire format: messages, packet and stream layers (spec §4.3), pure. */
#include <string.h>

#include "lzw.h"
#include "mlwire.h"
#include "mpk.h"

/*
 * msgpack as serf writes it. memberlist encodes with hashicorp/go-msgpack
 * (ugorji's codec before the 2013 spec revision): strings and []byte are
 * both the "raw" family (fixstr a0-bf, raw16 da, raw32 db; never str8 d9
 * nor bin c4-c6), integers take their smallest form, struct fields are map
 * entries keyed by Go field name in sorted order (the captures in
 * tests/gossip show it), a nil []byte is nil (c0). Reading accepts every
 * modern form too (str8, bin), as the Go decoder does.
 */

static int mlwire_wr_raw(struct buf *b, const void *p, size_t len)
{
	if (len < 32) {
		buf_putc(b, (uint8_t)(0xa0 | len));
	} else if (len <= 0xffff) {
		buf_putc(b, 0xda);
		buf_put_be16(b, (uint16_t)len);
	} else if (len <= 0xffffffff) {
		buf_putc(b, 0xdb);
		buf_put_be32(b, (uint32_t)len);
	} else {
		b->err = true;
		return -1;
	}
	return buf_append(b, p, len);
}

static void mlwire_wr_key(struct buf *b, const char *key)
{
	mlwire_wr_raw(b, key, strlen(key));
}

/* A Go string: always written, "" included. */
static void mlwire_wr_str(struct buf *b, const struct mlwire_bytes *s)
{
	mlwire_wr_raw(b, s->p, s->len);
}

/* A Go []byte: nil when empty (what Go holds for a field never set). */
static void mlwire_wr_bytes(struct buf *b, const uint8_t *p, size_t len)
{
	if (len == 0)
		mpk_wr_nil(b);
	else
		mlwire_wr_raw(b, p, len);
}

static void mlwire_wr_type(struct buf *b, uint8_t type, uint32_t fields)
{
	buf_putc(b, type);
	mpk_wr_map(b, fields);
}

static int mlwire_wr_done(const struct buf *b)
{
	return b->err ? -1 : 0;
}

/* A struct: a map (nil reads as an empty one); its entry count. */
static uint32_t mlwire_rd_map(struct cur *c)
{
	if (mpk_rd_try_nil(c))
		return 0;
	return mpk_rd_map(c);
}

/* A raw value: str (any width) or bin, or nil for empty. */
static void mlwire_rd_raw(struct cur *c, struct mlwire_bytes *v, size_t max)
{
	enum mpk_type t = mpk_peek(c);
	const void *p = NULL;
	size_t len = 0;

	v->p = NULL;
	v->len = 0;
	if (t == MPK_NIL) {
		mpk_rd_nil(c);
		return;
	}
	if (t == MPK_STR)
		p = mpk_rd_str(c, &len);
	else if (t == MPK_BIN)
		p = mpk_rd_bin(c, &len);
	else
		cur_fail(c);
	if (!cur_ok(c))
		return;
	if (len > max) {
		cur_fail(c);
		return;
	}
	v->p = p;
	v->len = len;
}

/* A map key: a str (or bin); anything else fails. */
static const char *mlwire_rd_key(struct cur *c, size_t *len)
{
	*len = 0;
	if (mpk_peek(c) == MPK_BIN)
		return (const char *)mpk_rd_bin(c, len);
	return mpk_rd_str(c, len);
}

/* An unsigned Go integer field; nil is 0, a negative value or one over
 * max fails (go-msgpack refuses both). */
static uint64_t mlwire_rd_uint(struct cur *c, uint64_t max)
{
	uint64_t v;

	if (mpk_rd_try_nil(c))
		return 0;
	v = mpk_rd_u64(c);
	if (v > max) {
		cur_fail(c);
		return 0;
	}
	return v;
}

static bool mlwire_rd_bool(struct cur *c)
{
	if (mpk_rd_try_nil(c))
		return false;
	return mpk_rd_bool(c);
}

/* Vsn []uint8: raw bytes as serf sends it; an array of small integers is
 * the other form go-msgpack reads into a []uint8. */
static void mlwire_rd_vsn(struct cur *c, uint8_t *vsn, uint8_t *vsn_len)
{
	struct mlwire_bytes v;
	uint32_t n;

	*vsn_len = 0;
	memset(vsn, 0, MLWIRE_VSN_LEN);
	if (mpk_peek(c) == MPK_ARRAY) {
		n = mpk_rd_array(c);
		if (n > MLWIRE_VSN_LEN) {
			cur_fail(c);
			return;
		}
		for (uint32_t i = 0; i < n; i++)
			vsn[i] = (uint8_t)mlwire_rd_uint(c, UINT8_MAX);
		*vsn_len = cur_ok(c) ? (uint8_t)n : 0;
		return;
	}
	mlwire_rd_raw(c, &v, MLWIRE_VSN_LEN);
	if (!cur_ok(c))
		return;
	if (v.len > 0)
		memcpy(vsn, v.p, v.len);
	*vsn_len = (uint8_t)v.len;
}

static int mlwire_rd_done(struct cur *c)
{
	return cur_ok(c) ? 0 : -1;
}

#define KEY(k) mpk_str_eq(key, klen, k)

/* Every decoder: zero the struct, then one map entry at a time. */
#define MLWIRE_FOR_KEYS(c, m)                                                                      \
	const char *key;                                                                           \
	size_t klen;                                                                               \
	uint32_t nkeys;                                                                            \
	memset((m), 0, sizeof(*(m)));                                                              \
	nkeys = mlwire_rd_map(c);                                                                  \
	for (uint32_t ki = 0; ki < nkeys && cur_ok(c); ki++)                                       \
		if ((key = mlwire_rd_key((c), &klen)) == NULL)                                     \
			break;                                                                     \
		else

static bool mlwire_fits(const struct mlwire_bytes *v, size_t max)
{
	return v->len <= max;
}

/* ping: Node, SeqNo, SourceAddr?, SourceNode?, SourcePort? (sorted). */
int mlwire_enc_ping(struct buf *b, const struct mlwire_ping *m)
{
	bool sa = m->source_addr.len > 0, sn = m->source_node.len > 0, sp = m->source_port != 0;

	if (!mlwire_fits(&m->node, MLWIRE_NAME_MAX) ||
	    !mlwire_fits(&m->source_addr, MLWIRE_ADDR_MAX) ||
	    !mlwire_fits(&m->source_node, MLWIRE_NAME_MAX))
		return -1;
	mlwire_wr_type(b, MLWIRE_PING, 2u + sa + sn + sp);
	mlwire_wr_key(b, "Node");
	mlwire_wr_str(b, &m->node);
	mlwire_wr_key(b, "SeqNo");
	mpk_wr_uint(b, m->seq_no);
	if (sa) {
		mlwire_wr_key(b, "SourceAddr");
		mlwire_wr_bytes(b, m->source_addr.p, m->source_addr.len);
	}
	if (sn) {
		mlwire_wr_key(b, "SourceNode");
		mlwire_wr_str(b, &m->source_node);
	}
	if (sp) {
		mlwire_wr_key(b, "SourcePort");
		mpk_wr_uint(b, m->source_port);
	}
	return mlwire_wr_done(b);
}

int mlwire_dec_ping(struct cur *c, struct mlwire_ping *m)
{
	MLWIRE_FOR_KEYS(c, m)
	{
		if (KEY("SeqNo"))
			m->seq_no = (uint32_t)mlwire_rd_uint(c, UINT32_MAX);
		else if (KEY("Node"))
			mlwire_rd_raw(c, &m->node, MLWIRE_NAME_MAX);
		else if (KEY("SourceAddr"))
			mlwire_rd_raw(c, &m->source_addr, MLWIRE_ADDR_MAX);
		else if (KEY("SourcePort"))
			m->source_port = (uint16_t)mlwire_rd_uint(c, UINT16_MAX);
		else if (KEY("SourceNode"))
			mlwire_rd_raw(c, &m->source_node, MLWIRE_NAME_MAX);
		else
			mpk_skip(c);
	}
	return mlwire_rd_done(c);
}

/* indirectPing: Nack, Node, Port, SeqNo, SourceAddr?, SourceNode?,
 * SourcePort?, Target. */
int mlwire_enc_indirect_ping(struct buf *b, const struct mlwire_indirect_ping *m)
{
	bool sa = m->source_addr.len > 0, sn = m->source_node.len > 0, sp = m->source_port != 0;

	if (!mlwire_fits(&m->node, MLWIRE_NAME_MAX) || !mlwire_fits(&m->target, MLWIRE_ADDR_MAX) ||
	    !mlwire_fits(&m->source_addr, MLWIRE_ADDR_MAX) ||
	    !mlwire_fits(&m->source_node, MLWIRE_NAME_MAX))
		return -1;
	mlwire_wr_type(b, MLWIRE_INDIRECT_PING, 5u + sa + sn + sp);
	mlwire_wr_key(b, "Nack");
	mpk_wr_bool(b, m->nack);
	mlwire_wr_key(b, "Node");
	mlwire_wr_str(b, &m->node);
	mlwire_wr_key(b, "Port");
	mpk_wr_uint(b, m->port);
	mlwire_wr_key(b, "SeqNo");
	mpk_wr_uint(b, m->seq_no);
	if (sa) {
		mlwire_wr_key(b, "SourceAddr");
		mlwire_wr_bytes(b, m->source_addr.p, m->source_addr.len);
	}
	if (sn) {
		mlwire_wr_key(b, "SourceNode");
		mlwire_wr_str(b, &m->source_node);
	}
	if (sp) {
		mlwire_wr_key(b, "SourcePort");
		mpk_wr_uint(b, m->source_port);
	}
	mlwire_wr_key(b, "Target");
	mlwire_wr_bytes(b, m->target.p, m->target.len);
	return mlwire_wr_done(b);
}

int mlwire_dec_indirect_ping(struct cur *c, struct mlwire_indirect_ping *m)
{
	MLWIRE_FOR_KEYS(c, m)
	{
		if (KEY("SeqNo"))
			m->seq_no = (uint32_t)mlwire_rd_uint(c, UINT32_MAX);
		else if (KEY("Target"))
			mlwire_rd_raw(c, &m->target, MLWIRE_ADDR_MAX);
		else if (KEY("Port"))
			m->port = (uint16_t)mlwire_rd_uint(c, UINT16_MAX);
		else if (KEY("Node"))
			mlwire_rd_raw(c, &m->node, MLWIRE_NAME_MAX);
		else if (KEY("Nack"))
			m->nack = mlwire_rd_bool(c);
		else if (KEY("SourceAddr"))
			mlwire_rd_raw(c, &m->source_addr, MLWIRE_ADDR_MAX);
		else if (KEY("SourcePort"))
			m->source_port = (uint16_t)mlwire_rd_uint(c, UINT16_MAX);
		else if (KEY("SourceNode"))
			mlwire_rd_raw(c, &m->source_node, MLWIRE_NAME_MAX);
		else
			mpk_skip(c);
	}
	return mlwire_rd_done(c);
}

/* ackResp: Payload, SeqNo. */
int mlwire_enc_ack(struct buf *b, const struct mlwire_ack *m)
{
	if (!mlwire_fits(&m->payload, MLWIRE_PAYLOAD_MAX))
		return -1;
	mlwire_wr_type(b, MLWIRE_ACK, 2);
	mlwire_wr_key(b, "Payload");
	mlwire_wr_bytes(b, m->payload.p, m->payload.len);
	mlwire_wr_key(b, "SeqNo");
	mpk_wr_uint(b, m->seq_no);
	return mlwire_wr_done(b);
}

int mlwire_dec_ack(struct cur *c, struct mlwire_ack *m)
{
	MLWIRE_FOR_KEYS(c, m)
	{
		if (KEY("SeqNo"))
			m->seq_no = (uint32_t)mlwire_rd_uint(c, UINT32_MAX);
		else if (KEY("Payload"))
			mlwire_rd_raw(c, &m->payload, MLWIRE_PAYLOAD_MAX);
		else
			mpk_skip(c);
	}
	return mlwire_rd_done(c);
}

/* nackResp: SeqNo. */
int mlwire_enc_nack(struct buf *b, const struct mlwire_nack *m)
{
	mlwire_wr_type(b, MLWIRE_NACK, 1);
	mlwire_wr_key(b, "SeqNo");
	mpk_wr_uint(b, m->seq_no);
	return mlwire_wr_done(b);
}

int mlwire_dec_nack(struct cur *c, struct mlwire_nack *m)
{
	MLWIRE_FOR_KEYS(c, m)
	{
		if (KEY("SeqNo"))
			m->seq_no = (uint32_t)mlwire_rd_uint(c, UINT32_MAX);
		else
			mpk_skip(c);
	}
	return mlwire_rd_done(c);
}

/* suspect and dead: From, Incarnation, Node. */
int mlwire_enc_suspect(struct buf *b, uint8_t type, const struct mlwire_suspect *m)
{
	if ((type != MLWIRE_SUSPECT && type != MLWIRE_DEAD) ||
	    !mlwire_fits(&m->node, MLWIRE_NAME_MAX) || !mlwire_fits(&m->from, MLWIRE_NAME_MAX))
		return -1;
	mlwire_wr_type(b, type, 3);
	mlwire_wr_key(b, "From");
	mlwire_wr_str(b, &m->from);
	mlwire_wr_key(b, "Incarnation");
	mpk_wr_uint(b, m->incarnation);
	mlwire_wr_key(b, "Node");
	mlwire_wr_str(b, &m->node);
	return mlwire_wr_done(b);
}

int mlwire_dec_suspect(struct cur *c, struct mlwire_suspect *m)
{
	MLWIRE_FOR_KEYS(c, m)
	{
		if (KEY("Incarnation"))
			m->incarnation = (uint32_t)mlwire_rd_uint(c, UINT32_MAX);
		else if (KEY("Node"))
			mlwire_rd_raw(c, &m->node, MLWIRE_NAME_MAX);
		else if (KEY("From"))
			mlwire_rd_raw(c, &m->from, MLWIRE_NAME_MAX);
		else
			mpk_skip(c);
	}
	return mlwire_rd_done(c);
}

/* alive: Addr, Incarnation, Meta, Node, Port, Vsn. */
int mlwire_enc_alive(struct buf *b, const struct mlwire_alive *m)
{
	if (!mlwire_fits(&m->node, MLWIRE_NAME_MAX) || !mlwire_fits(&m->addr, MLWIRE_ADDR_MAX) ||
	    !mlwire_fits(&m->meta, MLWIRE_META_MAX) || m->vsn_len > MLWIRE_VSN_LEN)
		return -1;
	mlwire_wr_type(b, MLWIRE_ALIVE, 6);
	mlwire_wr_key(b, "Addr");
	mlwire_wr_bytes(b, m->addr.p, m->addr.len);
	mlwire_wr_key(b, "Incarnation");
	mpk_wr_uint(b, m->incarnation);
	mlwire_wr_key(b, "Meta");
	mlwire_wr_bytes(b, m->meta.p, m->meta.len);
	mlwire_wr_key(b, "Node");
	mlwire_wr_str(b, &m->node);
	mlwire_wr_key(b, "Port");
	mpk_wr_uint(b, m->port);
	mlwire_wr_key(b, "Vsn");
	mlwire_wr_bytes(b, m->vsn, m->vsn_len);
	return mlwire_wr_done(b);
}

int mlwire_dec_alive(struct cur *c, struct mlwire_alive *m)
{
	MLWIRE_FOR_KEYS(c, m)
	{
		if (KEY("Incarnation"))
			m->incarnation = (uint32_t)mlwire_rd_uint(c, UINT32_MAX);
		else if (KEY("Node"))
			mlwire_rd_raw(c, &m->node, MLWIRE_NAME_MAX);
		else if (KEY("Addr"))
			mlwire_rd_raw(c, &m->addr, MLWIRE_ADDR_MAX);
		else if (KEY("Port"))
			m->port = (uint16_t)mlwire_rd_uint(c, UINT16_MAX);
		else if (KEY("Meta"))
			mlwire_rd_raw(c, &m->meta, MLWIRE_META_MAX);
		else if (KEY("Vsn"))
			mlwire_rd_vsn(c, m->vsn, &m->vsn_len);
		else
			mpk_skip(c);
	}
	return mlwire_rd_done(c);
}

/* pushPullHeader: Join, Nodes, UserStateLen. Go ints: a negative count
 * would panic memberlist's make(); we refuse it. */
int mlwire_enc_push_pull(struct buf *b, const struct mlwire_push_pull *m)
{
	if (m->nodes > MLWIRE_PUSH_NODES_MAX || m->user_state_len > MLWIRE_USER_STATE_MAX)
		return -1;
	mlwire_wr_type(b, MLWIRE_PUSH_PULL, 3);
	mlwire_wr_key(b, "Join");
	mpk_wr_bool(b, m->join);
	mlwire_wr_key(b, "Nodes");
	mpk_wr_uint(b, m->nodes);
	mlwire_wr_key(b, "UserStateLen");
	mpk_wr_uint(b, m->user_state_len);
	return mlwire_wr_done(b);
}

int mlwire_dec_push_pull(struct cur *c, struct mlwire_push_pull *m)
{
	MLWIRE_FOR_KEYS(c, m)
	{
		if (KEY("Nodes"))
			m->nodes = (uint32_t)mlwire_rd_uint(c, MLWIRE_PUSH_NODES_MAX);
		else if (KEY("UserStateLen"))
			m->user_state_len = (uint32_t)mlwire_rd_uint(c, MLWIRE_USER_STATE_MAX);
		else if (KEY("Join"))
			m->join = mlwire_rd_bool(c);
		else
			mpk_skip(c);
	}
	return mlwire_rd_done(c);
}

/* pushNodeState: Addr, Incarnation, Meta, Name, Port, State, Vsn. */
int mlwire_enc_push_node(struct buf *b, const struct mlwire_push_node *m)
{
	if (!mlwire_fits(&m->name, MLWIRE_NAME_MAX) || !mlwire_fits(&m->addr, MLWIRE_ADDR_MAX) ||
	    !mlwire_fits(&m->meta, MLWIRE_META_MAX) || m->vsn_len > MLWIRE_VSN_LEN)
		return -1;
	mpk_wr_map(b, 7);
	mlwire_wr_key(b, "Addr");
	mlwire_wr_bytes(b, m->addr.p, m->addr.len);
	mlwire_wr_key(b, "Incarnation");
	mpk_wr_uint(b, m->incarnation);
	mlwire_wr_key(b, "Meta");
	mlwire_wr_bytes(b, m->meta.p, m->meta.len);
	mlwire_wr_key(b, "Name");
	mlwire_wr_str(b, &m->name);
	mlwire_wr_key(b, "Port");
	mpk_wr_uint(b, m->port);
	mlwire_wr_key(b, "State");
	mpk_wr_uint(b, m->state);
	mlwire_wr_key(b, "Vsn");
	mlwire_wr_bytes(b, m->vsn, m->vsn_len);
	return mlwire_wr_done(b);
}

int mlwire_dec_push_node(struct cur *c, struct mlwire_push_node *m)
{
	MLWIRE_FOR_KEYS(c, m)
	{
		if (KEY("Name"))
			mlwire_rd_raw(c, &m->name, MLWIRE_NAME_MAX);
		else if (KEY("Addr"))
			mlwire_rd_raw(c, &m->addr, MLWIRE_ADDR_MAX);
		else if (KEY("Port"))
			m->port = (uint16_t)mlwire_rd_uint(c, UINT16_MAX);
		else if (KEY("Meta"))
			mlwire_rd_raw(c, &m->meta, MLWIRE_META_MAX);
		else if (KEY("Incarnation"))
			m->incarnation = (uint32_t)mlwire_rd_uint(c, UINT32_MAX);
		else if (KEY("State"))
			m->state = (uint8_t)mlwire_rd_uint(c, UINT8_MAX);
		else if (KEY("Vsn"))
			mlwire_rd_vsn(c, m->vsn, &m->vsn_len);
		else
			mpk_skip(c);
	}
	return mlwire_rd_done(c);
}

int mlwire_enc_user(struct buf *b, const uint8_t *p, size_t len)
{
	buf_putc(b, MLWIRE_USER);
	buf_append(b, p, len);
	return mlwire_wr_done(b);
}

/* userMsgHeader: UserMsgLen. */
int mlwire_enc_user_stream(struct buf *b, const uint8_t *p, size_t len)
{
	if (len > MLWIRE_USER_MSG_MAX)
		return -1;
	mlwire_wr_type(b, MLWIRE_USER, 1);
	mlwire_wr_key(b, "UserMsgLen");
	mpk_wr_uint(b, len);
	buf_append(b, p, len);
	return mlwire_wr_done(b);
}

int mlwire_dec_user_stream(struct cur *c, struct mlwire_user_stream *m)
{
	MLWIRE_FOR_KEYS(c, m)
	{
		if (KEY("UserMsgLen"))
			m->user_msg_len = (uint32_t)mlwire_rd_uint(c, MLWIRE_USER_MSG_MAX);
		else
			mpk_skip(c);
	}
	return mlwire_rd_done(c);
}

/* compress: Algo, Buf. */
int mlwire_enc_compress(struct buf *b, const struct mlwire_compress *m)
{
	mlwire_wr_type(b, MLWIRE_COMPRESS, 2);
	mlwire_wr_key(b, "Algo");
	mpk_wr_uint(b, m->algo);
	mlwire_wr_key(b, "Buf");
	mlwire_wr_bytes(b, m->buf.p, m->buf.len);
	return mlwire_wr_done(b);
}

int mlwire_dec_compress(struct cur *c, struct mlwire_compress *m)
{
	MLWIRE_FOR_KEYS(c, m)
	{
		if (KEY("Algo"))
			m->algo = (uint8_t)mlwire_rd_uint(c, UINT8_MAX);
		else if (KEY("Buf"))
			mlwire_rd_raw(c, &m->buf, MLWIRE_STREAM_MAX);
		else
			mpk_skip(c);
	}
	return mlwire_rd_done(c);
}

/* errResp: Error. */
int mlwire_enc_err(struct buf *b, const struct mlwire_err *m)
{
	if (!mlwire_fits(&m->error, MLWIRE_ERROR_MAX))
		return -1;
	mlwire_wr_type(b, MLWIRE_ERR, 1);
	mlwire_wr_key(b, "Error");
	mlwire_wr_str(b, &m->error);
	return mlwire_wr_done(b);
}

int mlwire_dec_err(struct cur *c, struct mlwire_err *m)
{
	MLWIRE_FOR_KEYS(c, m)
	{
		if (KEY("Error"))
			mlwire_rd_raw(c, &m->error, MLWIRE_ERROR_MAX);
		else
			mpk_skip(c);
	}
	return mlwire_rd_done(c);
}

const char *mlwire_type_name(uint8_t type)
{
	switch (type) {
	case MLWIRE_PING:
		return "ping";
	case MLWIRE_INDIRECT_PING:
		return "indirectPing";
	case MLWIRE_ACK:
		return "ackResp";
	case MLWIRE_SUSPECT:
		return "suspect";
	case MLWIRE_ALIVE:
		return "alive";
	case MLWIRE_DEAD:
		return "dead";
	case MLWIRE_PUSH_PULL:
		return "pushPull";
	case MLWIRE_COMPOUND:
		return "compound";
	case MLWIRE_USER:
		return "user";
	case MLWIRE_COMPRESS:
		return "compress";
	case MLWIRE_ENCRYPT:
		return "encrypt";
	case MLWIRE_NACK:
		return "nackResp";
	case MLWIRE_HAS_CRC:
		return "hasCrc";
	case MLWIRE_ERR:
		return "err";
	case MLWIRE_HAS_LABEL:
		return "hasLabel";
	default:
		return "unknown";
	}
}

/* CRC-32 IEEE 802.3 (reflected polynomial 0xedb88320), table-driven; the
 * table is built on first use. */
uint32_t mlwire_crc32(const uint8_t *p, size_t len)
{
	static uint32_t table[256];
	static bool ready;
	uint32_t crc = 0xffffffffu;

	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t v = i;

			for (int k = 0; k < 8; k++)
				v = (v & 1) ? 0xedb88320u ^ (v >> 1) : v >> 1;
			table[i] = v;
		}
		ready = true;
	}
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

/* --- Layers ------------------------------------------------------------ */

static bool mlwire_encrypting(const struct mlwire_cfg *cfg)
{
	return cfg->keyring != NULL && cfg->keyring->n > 0;
}

static bool mlwire_label_is(const struct mlwire_cfg *cfg, const uint8_t *label, size_t len)
{
	return len == cfg->label_len && (len == 0 || memcmp(label, cfg->label, len) == 0);
}

/* One receive: where messages go, and the decompression budget left. */
struct mlwire_rx {
	mlwire_msg_fn *fn;
	void *arg;
	struct mlwire_rx_info *info;
	size_t inflate_left;
};

static void mlwire_rx_drop(struct mlwire_rx *rx, unsigned n, const char *why)
{
	rx->info->dropped += n;
	if (rx->info->why == NULL)
		rx->info->why = why;
}

static void mlwire_rx_msg(struct mlwire_rx *rx, const uint8_t *p, size_t len, unsigned depth);

/* compound: count, count big-endian u16 lengths, the parts. memberlist
 * (decodeCompoundMessage) refuses a packet too short for its lengths, and
 * handles the whole parts of one cut short, warning about the rest. */
static void mlwire_rx_compound(struct mlwire_rx *rx, const uint8_t *p, size_t len, unsigned depth)
{
	size_t n, off, part;

	if (len < 1) {
		mlwire_rx_drop(rx, 1, "missing compound length byte");
		return;
	}
	n = p[0];
	if (len - 1 < 2 * n) {
		mlwire_rx_drop(rx, 1, "truncated len slice");
		return;
	}
	rx->info->compounds++;
	off = 1 + 2 * n;
	for (size_t i = 0; i < n; i++) {
		part = (size_t)p[1 + 2 * i] << 8 | p[2 + 2 * i];
		if (len - off < part) {
			mlwire_rx_drop(rx, (unsigned)(n - i),
			               "compound request had truncated messages");
			return;
		}
		mlwire_rx_msg(rx, p + off, part, depth + 1);
		off += part;
	}
}

/* compress: {Algo, Buf}; the expansion is a message again. */
static void mlwire_rx_compressed(struct mlwire_rx *rx, const uint8_t *p, size_t len, unsigned depth)
{
	struct mlwire_compress z;
	struct buf out;
	struct cur c;
	const char *why = NULL;

	cur_init(&c, p, len);
	if (mlwire_dec_compress(&c, &z) != 0) {
		mlwire_rx_drop(rx, 1, "failed to decode compressed message");
		return;
	}
	if (z.algo != 0) {
		mlwire_rx_drop(rx, 1, "cannot decompress unknown algorithm");
		return;
	}
	buf_init(&out, MLWIRE_DECOMPRESS_MAX);
	if (lzw_decode(z.buf.p, z.buf.len, rx->inflate_left, &out, &why) != 0) {
		mlwire_rx_drop(rx, 1, why);
	} else {
		rx->inflate_left -= out.len;
		rx->info->compressed++;
		mlwire_rx_msg(rx, out.p, out.len, depth + 1);
	}
	buf_fini(&out);
}

/* memberlist handleCommand: what a packet (or a part) may be. */
static void mlwire_rx_msg(struct mlwire_rx *rx, const uint8_t *p, size_t len, unsigned depth)
{
	if (len < 1) {
		mlwire_rx_drop(rx, 1, "missing message type byte");
		return;
	}
	switch (p[0]) {
	case MLWIRE_COMPOUND:
	case MLWIRE_COMPRESS:
		if (depth >= MLWIRE_DEPTH_MAX) {
			mlwire_rx_drop(rx, 1, "messages nested too deep");
			return;
		}
		if (p[0] == MLWIRE_COMPOUND)
			mlwire_rx_compound(rx, p + 1, len - 1, depth);
		else
			mlwire_rx_compressed(rx, p + 1, len - 1, depth);
		return;
	case MLWIRE_PING:
	case MLWIRE_INDIRECT_PING:
	case MLWIRE_ACK:
	case MLWIRE_NACK:
	case MLWIRE_SUSPECT:
	case MLWIRE_ALIVE:
	case MLWIRE_DEAD:
	case MLWIRE_USER:
		rx->info->msgs++;
		rx->fn(rx->arg, p[0], p + 1, len - 1);
		return;
	default:
		mlwire_rx_drop(rx, 1, "msg type not supported");
		return;
	}
}

int mlwire_packet_open(const struct mlwire_cfg *cfg, const uint8_t *pkt, size_t len,
                       mlwire_msg_fn *fn, void *arg, struct mlwire_rx_info *info)
{
	struct mlwire_rx_info scratch;
	struct mlwire_rx rx = {.fn = fn, .arg = arg, .inflate_left = MLWIRE_DECOMPRESS_MAX};
	const uint8_t *label = NULL;
	size_t label_len = 0;
	struct buf plain;
	const char *why = NULL;

	if (info == NULL)
		info = &scratch;
	memset(info, 0, sizeof(*info));
	rx.info = info;
	/* memberlist RemoveLabelHeaderFromPacket. */
	if (len >= 1 && pkt[0] == MLWIRE_HAS_LABEL) {
		if (len < 2 || len - 2 < pkt[1]) {
			info->why = "cannot decode label; packet has been truncated";
			return -1;
		}
		if (pkt[1] == 0) {
			info->why = "label header cannot be empty when present";
			return -1;
		}
		label = pkt + 2;
		label_len = pkt[1];
		info->labeled = true;
		pkt += 2 + label_len;
		len -= 2 + label_len;
	}
	if (!mlwire_label_is(cfg, label, label_len)) {
		info->why = "discarding packet with unacceptable label";
		return -1;
	}
	buf_init(&plain, MLWIRE_PACKET_MAX);
	if (mlwire_encrypting(cfg)) {
		/* The AAD of a packet is its label (spec §4.3). */
		if (keyring_decrypt(cfg->keyring, pkt, len, label, label_len, &plain, &why) == 0) {
			info->encrypted = true;
			pkt = plain.p;
			len = plain.len;
		} else if (cfg->verify_incoming) {
			info->why = why != NULL ? why : "decrypt packet failed";
			buf_fini(&plain);
			return -1;
		} else {
			/* GossipVerifyIncoming=false: take it as plaintext
			 * (rolling encryption onto a live cluster). */
			info->plaintext = true;
		}
	}
	if (len >= MLWIRE_CRC_OVERHEAD && pkt[0] == MLWIRE_HAS_CRC) {
		if (mlwire_crc32(pkt + MLWIRE_CRC_OVERHEAD, len - MLWIRE_CRC_OVERHEAD) !=
		    be32_get(pkt + 1)) {
			info->why = "got invalid checksum for UDP packet";
			buf_fini(&plain);
			return -1;
		}
		info->crc = true;
		pkt += MLWIRE_CRC_OVERHEAD;
		len -= MLWIRE_CRC_OVERHEAD;
	}
	mlwire_rx_msg(&rx, pkt, len, 0);
	buf_fini(&plain);
	return info->why != NULL ? -1 : 0;
}

size_t mlwire_packet_room(const struct mlwire_cfg *cfg, bool crc)
{
	size_t room = MLWIRE_UDP_BUFFER - MLWIRE_COMPOUND_HEADER;

	if (cfg->label_len > 0)
		room -= 2 + cfg->label_len;
	if (crc)
		room -= MLWIRE_CRC_OVERHEAD;
	if (mlwire_encrypting(cfg) && cfg->verify_outgoing)
		room -= KEYRING_OVERHEAD;
	return room;
}

int mlwire_compound_put(struct buf *out, const struct mlwire_bytes *msgs, size_t n)
{
	if (n < 1 || n > MLWIRE_COMPOUND_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (msgs[i].len > UINT16_MAX)
			return -1;
	buf_putc(out, MLWIRE_COMPOUND);
	buf_putc(out, (uint8_t)n);
	for (size_t i = 0; i < n; i++)
		buf_put_be16(out, (uint16_t)msgs[i].len);
	for (size_t i = 0; i < n; i++)
		buf_append(out, msgs[i].p, msgs[i].len);
	return mlwire_wr_done(out);
}

int mlwire_compress_put(struct buf *out, const uint8_t *msg, size_t len)
{
	struct mlwire_compress z = {.algo = 0};
	struct buf lz;
	int rc;

	buf_init(&lz, MLWIRE_STREAM_MAX);
	rc = lzw_encode(msg, len, &lz);
	if (rc == 0) {
		z.buf.p = lz.p;
		z.buf.len = lz.len;
		rc = mlwire_enc_compress(out, &z);
	}
	buf_fini(&lz);
	return rc;
}

int mlwire_label_put(struct buf *out, const uint8_t *label, size_t len)
{
	if (len > MLWIRE_LABEL_MAX)
		return -1;
	if (len == 0)
		return 0;
	buf_putc(out, MLWIRE_HAS_LABEL);
	buf_putc(out, (uint8_t)len);
	buf_append(out, label, len);
	return mlwire_wr_done(out);
}

int mlwire_packet_seal(const struct mlwire_cfg *cfg, const struct mlwire_bytes *msgs, size_t n,
                       bool crc, struct buf *out, const char **why)
{
	struct buf a, z;
	size_t start = out->len;
	uint8_t hdr[MLWIRE_CRC_OVERHEAD];
	int rc = -1;

	*why = NULL;
	if (n < 1 || n > MLWIRE_COMPOUND_MAX || cfg->label_len > MLWIRE_LABEL_MAX) {
		*why = "bad message count or label";
		return -1;
	}
	buf_init(&a, MLWIRE_PACKET_MAX);
	buf_init(&z, MLWIRE_PACKET_MAX);
	if (n == 1)
		buf_append(&a, msgs[0].p, msgs[0].len);
	else
		mlwire_compound_put(&a, msgs, n);
	/* Compressed only when that is smaller (rawSendMsgPacket). */
	if (cfg->compress && !a.err && mlwire_compress_put(&z, a.p, a.len) == 0 && z.len < a.len) {
		buf_reset(&a);
		buf_append(&a, z.p, z.len);
	}
	if (a.err) {
		*why = "packet too large";
		goto out;
	}
	if (crc) {
		hdr[0] = MLWIRE_HAS_CRC;
		be32_put(hdr + 1, mlwire_crc32(a.p, a.len));
	}
	if (mlwire_label_put(out, cfg->label, cfg->label_len) != 0)
		goto full;
	if (mlwire_encrypting(cfg) && cfg->verify_outgoing) {
		buf_reset(&z);
		if (crc)
			buf_append(&z, hdr, sizeof(hdr));
		buf_append(&z, a.p, a.len);
		if (z.err) {
			*why = "packet too large";
			goto out;
		}
		if (keyring_encrypt(cfg->keyring, z.p, z.len, cfg->label, cfg->label_len, out) !=
		    0) {
			*why = "encryption failed";
			goto out;
		}
	} else {
		if (crc)
			buf_append(out, hdr, sizeof(hdr));
		buf_append(out, a.p, a.len);
	}
	if (out->err)
		goto full;
	rc = 0;
	goto out;
full:
	*why = "output buffer full";
out:
	if (rc != 0 && out->len > start)
		out->len = start;
	buf_fini(&a);
	buf_fini(&z);
	return rc;
}

/* --- Streams ----------------------------------------------------------- */

enum mlwire_frame mlwire_stream_label(const struct mlwire_cfg *cfg, const uint8_t *p, size_t len,
                                      struct mlwire_bytes *label, size_t *used, const char **why)
{
	label->p = NULL;
	label->len = 0;
	*used = 0;
	if (len < 1)
		return MLWIRE_FRAME_MORE;
	if (p[0] == MLWIRE_HAS_LABEL) {
		if (len < 2)
			return MLWIRE_FRAME_MORE;
		if (p[1] == 0) {
			*why = "label header cannot be empty when present";
			return MLWIRE_FRAME_BAD;
		}
		if (len - 2 < p[1])
			return MLWIRE_FRAME_MORE;
		label->p = p + 2;
		label->len = p[1];
		*used = 2 + (size_t)p[1];
	}
	if (!mlwire_label_is(cfg, label->p, label->len)) {
		*why = "discarding stream with unacceptable label";
		return MLWIRE_FRAME_BAD;
	}
	return MLWIRE_FRAME_OK;
}

/* Reads an n-byte big-endian length at p. */
static uint64_t mlwire_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The length of the msgpack value at p[0..len): OK (*used), MORE when it
 * runs past len, BAD when it cannot be msgpack or cannot fit in max bytes.
 * Iterative: a count of values still to read, so nesting costs no stack. */
static enum mlwire_frame mlwire_mp_span(const uint8_t *p, size_t len, size_t max, size_t *used,
                                        const char **why)
{
	uint64_t pending = 1, body;
	size_t off = 0;
	unsigned lenw;
	uint8_t t;

	while (pending > 0) {
		if (off >= len)
			return MLWIRE_FRAME_MORE;
		t = p[off++];
		pending--;
		body = 0;
		lenw = 0;
		if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
			/* fixint, nil, bool */
		} else if (t <= 0x8f) {
			pending += 2u * (t & 0x0f);
		} else if (t <= 0x9f) {
			pending += t & 0x0f;
		} else if (t <= 0xbf) {
			body = t & 0x1f;
		} else {
			switch (t) {
			case 0xcc:
			case 0xd0:
				body = 1;
				break;
			case 0xcd:
			case 0xd1:
			case 0xd4: /* fixext 1: type + 1 byte */
				body = 2;
				break;
			case 0xce:
			case 0xd2:
			case 0xca:
				body = 4;
				break;
			case 0xcf:
			case 0xd3:
			case 0xcb:
				body = 8;
				break;
			case 0xd5:
				body = 3;
				break;
			case 0xd6:
				body = 5;
				break;
			case 0xd7:
				body = 9;
				break;
			case 0xd8:
				body = 17;
				break;
			case 0xc4:
			case 0xd9:
				lenw = 1;
				break;
			case 0xc5:
			case 0xda:
				lenw = 2;
				break;
			case 0xc6:
			case 0xdb:
				lenw = 4;
				break;
			case 0xc7:
			case 0xc8:
			case 0xc9:
				lenw = t == 0xc7 ? 1 : t == 0xc8 ? 2 : 4;
				break;
			case 0xdc:
			case 0xdd:
			case 0xde:
			case 0xdf: {
				unsigned w = (t == 0xdc || t == 0xde) ? 2 : 4;
				uint64_t n;

				if (len - off < w)
					return MLWIRE_FRAME_MORE;
				n = mlwire_be(p + off, w);
				off += w;
				pending += (t >= 0xde) ? 2 * n : n;
				break;
			}
			default: /* 0xc1 */
				*why = "not msgpack";
				return MLWIRE_FRAME_BAD;
			}
		}
		if (lenw > 0) {
			if (len - off < lenw)
				return MLWIRE_FRAME_MORE;
			body = mlwire_be(p + off, lenw);
			off += lenw;
			if (t >= 0xc7 && t <= 0xc9)
				body += 1; /* ext: the type byte */
		}
		/* Every value left takes at least a byte. */
		if (body > max || pending > max || off + body + pending > max) {
			*why = "stream message over limit";
			return MLWIRE_FRAME_BAD;
		}
		if (len - off < body)
			return MLWIRE_FRAME_MORE;
		off += body;
	}
	*used = off;
	return MLWIRE_FRAME_OK;
}

/* Adds a msgpack value at p + *off to the frame. */
static enum mlwire_frame mlwire_frame_value(const uint8_t *p, size_t len, size_t *off,
                                            const char **why)
{
	enum mlwire_frame f;
	size_t used;

	f = mlwire_mp_span(p + *off, len - *off, MLWIRE_STREAM_MAX - *off, &used, why);
	if (f == MLWIRE_FRAME_OK)
		*off += used;
	return f;
}

/* Adds n raw bytes at p + *off to the frame. */
static enum mlwire_frame mlwire_frame_bytes(size_t len, size_t *off, uint64_t n, const char **why)
{
	if (n > MLWIRE_STREAM_MAX - *off) {
		*why = "stream message over limit";
		return MLWIRE_FRAME_BAD;
	}
	if (len - *off < n)
		return MLWIRE_FRAME_MORE;
	*off += n;
	return MLWIRE_FRAME_OK;
}

enum mlwire_frame mlwire_stream_frame(const uint8_t *p, size_t len, size_t *frame_len,
                                      const char **why)
{
	struct mlwire_push_pull pp;
	struct mlwire_user_stream us;
	enum mlwire_frame f;
	struct cur c;
	size_t off = 1, hdr;
	uint32_t n;

	*frame_len = 0;
	if (len < 1)
		return MLWIRE_FRAME_MORE;
	switch (p[0]) {
	case MLWIRE_ENCRYPT:
		/* decryptRemoteState: a length over maxPushStateBytes is refused
		 * before anything is read. */
		if (len < MLWIRE_STREAM_HEADER)
			return MLWIRE_FRAME_MORE;
		n = be32_get(p + 1);
		if (n > MLWIRE_USER_STATE_MAX) {
			*why = "remote node state is larger than limit";
			return MLWIRE_FRAME_BAD;
		}
		off = MLWIRE_STREAM_HEADER;
		f = mlwire_frame_bytes(len, &off, n, why);
		break;
	case MLWIRE_COMPRESS:
	case MLWIRE_PING:
	case MLWIRE_ACK:
	case MLWIRE_ERR:
		f = mlwire_frame_value(p, len, &off, why);
		break;
	case MLWIRE_PUSH_PULL:
		f = mlwire_frame_value(p, len, &off, why);
		if (f != MLWIRE_FRAME_OK)
			break;
		cur_init(&c, p + 1, off - 1);
		if (mlwire_dec_push_pull(&c, &pp) != 0) {
			*why = "failed to decode push/pull header";
			return MLWIRE_FRAME_BAD;
		}
		for (uint32_t i = 0; i < pp.nodes && f == MLWIRE_FRAME_OK; i++)
			f = mlwire_frame_value(p, len, &off, why);
		if (f == MLWIRE_FRAME_OK)
			f = mlwire_frame_bytes(len, &off, pp.user_state_len, why);
		break;
	case MLWIRE_USER:
		f = mlwire_frame_value(p, len, &off, why);
		if (f != MLWIRE_FRAME_OK)
			break;
		hdr = off;
		cur_init(&c, p + 1, hdr - 1);
		if (mlwire_dec_user_stream(&c, &us) != 0) {
			*why = "failed to decode user message header";
			return MLWIRE_FRAME_BAD;
		}
		f = mlwire_frame_bytes(len, &off, us.user_msg_len, why);
		break;
	default:
		*why = "received invalid msgType";
		return MLWIRE_FRAME_BAD;
	}
	if (f == MLWIRE_FRAME_OK)
		*frame_len = off;
	return f;
}

/* What handleConn (and a push/pull or ping client) takes from a stream. */
static bool mlwire_stream_type_ok(uint8_t type)
{
	return type == MLWIRE_PUSH_PULL || type == MLWIRE_USER || type == MLWIRE_PING ||
	       type == MLWIRE_ACK || type == MLWIRE_ERR;
}

int mlwire_stream_open(const struct mlwire_cfg *cfg, const uint8_t *frame, size_t len,
                       struct buf *out, struct mlwire_bytes *msg, const char **why)
{
	uint8_t aad[MLWIRE_STREAM_HEADER + MLWIRE_LABEL_MAX];
	struct mlwire_compress z;
	struct buf plain;
	struct cur c;
	size_t start = out->len;
	bool opened = false;
	int rc = -1;

	msg->p = NULL;
	msg->len = 0;
	*why = NULL;
	buf_init(&plain, MLWIRE_USER_STATE_MAX);
	if (len < 1) {
		*why = "missing message type byte";
		goto out;
	}
	if (frame[0] == MLWIRE_ENCRYPT) {
		if (!mlwire_encrypting(cfg)) {
			*why = "remote state is encrypted and encryption is not configured";
			goto out;
		}
		if (len < MLWIRE_STREAM_HEADER ||
		    be32_get(frame + 1) != len - MLWIRE_STREAM_HEADER ||
		    cfg->label_len > MLWIRE_LABEL_MAX) {
			*why = "truncated encrypted stream";
			goto out;
		}
		/* AAD: [type][length][label] (memberlist decryptRemoteState). */
		memcpy(aad, frame, MLWIRE_STREAM_HEADER);
		if (cfg->label_len > 0)
			memcpy(aad + MLWIRE_STREAM_HEADER, cfg->label, cfg->label_len);
		if (keyring_decrypt(cfg->keyring, frame + MLWIRE_STREAM_HEADER,
		                    len - MLWIRE_STREAM_HEADER, aad,
		                    MLWIRE_STREAM_HEADER + cfg->label_len, &plain, why) != 0) {
			if (*why == NULL)
				*why = "decrypt stream failed";
			goto out;
		}
		frame = plain.p;
		len = plain.len;
		opened = true;
		if (len < 1) {
			*why = "missing message type byte";
			goto out;
		}
	} else if (mlwire_encrypting(cfg) && cfg->verify_incoming) {
		*why = "encryption is configured but remote state is not encrypted";
		goto out;
	}
	if (frame[0] == MLWIRE_COMPRESS) {
		cur_init(&c, frame + 1, len - 1);
		if (mlwire_dec_compress(&c, &z) != 0) {
			*why = "failed to decode compressed message";
			goto out;
		}
		if (z.algo != 0) {
			*why = "cannot decompress unknown algorithm";
			goto out;
		}
		if (lzw_decode(z.buf.p, z.buf.len, MLWIRE_DECOMPRESS_MAX, out, why) != 0)
			goto out;
		if (out->len == start) {
			*why = "missing message type byte";
			goto out;
		}
	} else if (opened) {
		if (buf_append(out, frame, len) != 0) {
			*why = "output buffer full";
			goto out;
		}
	}
	if (out->len > start) {
		msg->p = out->p + start;
		msg->len = out->len - start;
	} else {
		msg->p = frame;
		msg->len = len;
	}
	if (!mlwire_stream_type_ok(msg->p[0])) {
		*why = "received invalid msgType";
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		out->len = start;
		msg->p = NULL;
		msg->len = 0;
	}
	buf_fini(&plain);
	return rc;
}

int mlwire_stream_seal(const struct mlwire_cfg *cfg, const uint8_t *msg, size_t len,
                       struct buf *out, const char **why)
{
	uint8_t aad[MLWIRE_STREAM_HEADER + MLWIRE_LABEL_MAX];
	struct buf z;
	size_t start = out->len, sealed;
	int rc = -1;

	*why = NULL;
	buf_init(&z, MLWIRE_STREAM_MAX);
	if (cfg->label_len > MLWIRE_LABEL_MAX) {
		*why = "label too long";
		goto out;
	}
	/* rawSendMsgStream / sendLocalState: compressed whenever on. */
	if (cfg->compress) {
		if (mlwire_compress_put(&z, msg, len) != 0) {
			*why = "stream message over limit";
			goto out;
		}
		msg = z.p;
		len = z.len;
	}
	if (mlwire_encrypting(cfg) && cfg->verify_outgoing) {
		if (len > MLWIRE_USER_STATE_MAX - KEYRING_OVERHEAD) {
			*why = "stream message over limit";
			goto out;
		}
		sealed = len + KEYRING_OVERHEAD;
		aad[0] = MLWIRE_ENCRYPT;
		be32_put(aad + 1, (uint32_t)sealed);
		if (cfg->label_len > 0)
			memcpy(aad + MLWIRE_STREAM_HEADER, cfg->label, cfg->label_len);
		buf_append(out, aad, MLWIRE_STREAM_HEADER);
		if (out->err ||
		    keyring_encrypt(cfg->keyring, msg, len, aad,
		                    MLWIRE_STREAM_HEADER + cfg->label_len, out) != 0 ||
		    out->len - start != MLWIRE_STREAM_HEADER + sealed) {
			*why = out->err ? "output buffer full" : "encryption failed";
			goto out;
		}
	} else if (buf_append(out, msg, len) != 0) {
		*why = "output buffer full";
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		out->len = start;
	buf_fini(&z);
	return rc;
}

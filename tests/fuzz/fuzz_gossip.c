/* fuzz_gossip.c: libFuzzer target for mlwire, mlmap and lzw: any input is handled or refused. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemons/gossipd/lzw.h"
#include "daemons/gossipd/mlmap.h"
#include "daemons/gossipd/mlwire.h"
#include "daemons/gossipd/serfwire.h"

/* tests/gossip/README.md's key: seeds cut from encrypted.pcap open with it. */
#define FUZZ_KEY       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define FUZZ_LABEL     "fz"
#define FUZZ_OUT_CAP   (64u << 20)
#define FUZZ_KEEP_MAX  MLWIRE_COMPOUND_MAX /* messages kept to seal again */
#define FUZZ_LZW_MAX   (1u << 20)
#define FUZZ_INPUT_MAX MLWIRE_PACKET_MAX /* larger inputs: only the codecs */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keyring fuzz_kr;

static void fuzz_setup(void)
{
	static bool ready;
	const char *why;

	if (ready)
		return;
	keyring_init(&fuzz_kr);
	if (keyring_add_b64(&fuzz_kr, FUZZ_KEY, &why) != 0)
		abort();
	ready = true;
}

static bool fuzz_same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* Decodes a message body with the decoder of its type into b (type byte
 * included); 1 when it decoded, 0 when refused, -1 for types without a
 * decoder. A pushPull's node states and user state are walked too. */
static int fuzz_decode(uint8_t type, const uint8_t *body, size_t len, struct buf *b)
{
	struct cur c;
	int rc = -1;

	cur_init(&c, body, len);
	switch (type) {
	case MLWIRE_PING: {
		struct mlwire_ping m;

		if ((rc = mlwire_dec_ping(&c, &m)) == 0)
			rc = mlwire_enc_ping(b, &m);
		break;
	}
	case MLWIRE_INDIRECT_PING: {
		struct mlwire_indirect_ping m;

		if ((rc = mlwire_dec_indirect_ping(&c, &m)) == 0)
			rc = mlwire_enc_indirect_ping(b, &m);
		break;
	}
	case MLWIRE_ACK: {
		struct mlwire_ack m;

		if ((rc = mlwire_dec_ack(&c, &m)) == 0)
			rc = mlwire_enc_ack(b, &m);
		break;
	}
	case MLWIRE_NACK: {
		struct mlwire_nack m;

		if ((rc = mlwire_dec_nack(&c, &m)) == 0)
			rc = mlwire_enc_nack(b, &m);
		break;
	}
	case MLWIRE_SUSPECT:
	case MLWIRE_DEAD: {
		struct mlwire_suspect m;

		if ((rc = mlwire_dec_suspect(&c, &m)) == 0)
			rc = mlwire_enc_suspect(b, type, &m);
		break;
	}
	case MLWIRE_ALIVE: {
		struct mlwire_alive m;

		if ((rc = mlwire_dec_alive(&c, &m)) == 0)
			rc = mlwire_enc_alive(b, &m);
		break;
	}
	case MLWIRE_PUSH_PULL: {
		struct mlwire_push_pull m;
		struct mlwire_push_node n;

		if ((rc = mlwire_dec_push_pull(&c, &m)) != 0 ||
		    (rc = mlwire_enc_push_pull(b, &m)) != 0)
			break;
		for (uint32_t i = 0; i < m.nodes && rc == 0; i++)
			if ((rc = mlwire_dec_push_node(&c, &n)) == 0)
				rc = mlwire_enc_push_node(b, &n);
		if (rc == 0) {
			const uint8_t *us = cur_take(&c, m.user_state_len);

			rc = us != NULL ? buf_append(b, us, m.user_state_len) : -1;
		}
		break;
	}
	case MLWIRE_COMPRESS: {
		struct mlwire_compress m;

		if ((rc = mlwire_dec_compress(&c, &m)) == 0)
			rc = mlwire_enc_compress(b, &m);
		break;
	}
	case MLWIRE_ERR: {
		struct mlwire_err m;

		if ((rc = mlwire_dec_err(&c, &m)) == 0)
			rc = mlwire_enc_err(b, &m);
		break;
	}
	case MLWIRE_USER: {
		struct mlwire_user_stream m;
		struct serfwire_msg sm;
		const char *why = NULL;

		/* Serf's message inside: what decodes encodes and decodes again
		 * (serfwire's own limits may refuse to send what it accepted). */
		if (serfwire_decode(body, len, &sm, &why) == 0) {
			struct buf sb;

			buf_init(&sb, FUZZ_OUT_CAP);
			if (serfwire_encode(&sb, &sm, &why) == 0) {
				struct serfwire_msg again;

				if (serfwire_decode(sb.p, sb.len, &again, &why) != 0)
					abort();
				serfwire_msg_fini(&again);
			}
			buf_fini(&sb);
			serfwire_msg_fini(&sm);
		}
		/* Both readings: the UDP one (raw bytes) and the stream one. */
		rc = mlwire_enc_user(b, body, len);
		if (rc == 0 && mlwire_dec_user_stream(&c, &m) == 0 &&
		    cur_left(&c) >= m.user_msg_len)
			(void)cur_take(&c, m.user_msg_len);
		break;
	}
	default:
		return -1;
	}
	if (rc != 0)
		return 0;
	return 1;
}

/* What decodes encodes; that encoding decodes and encodes to the same
 * bytes (the input need not be the shortest form, so it is not compared). */
static void fuzz_roundtrip(uint8_t type, const uint8_t *body, size_t len)
{
	struct buf b1, b2;

	buf_init(&b1, FUZZ_OUT_CAP);
	buf_init(&b2, FUZZ_OUT_CAP);
	if (fuzz_decode(type, body, len, &b1) == 1) {
		if (b1.len < 1 || b1.p[0] != type)
			abort();
		if (fuzz_decode(type, b1.p + 1, b1.len - 1, &b2) != 1 || !fuzz_same(&b1, &b2))
			abort();
	}
	buf_fini(&b1);
	buf_fini(&b2);
}

/* The messages one packet delivered: a hash of all, copies of the first. */
struct fuzz_got {
	uint64_t hash;
	size_t n;
	size_t kept;
	uint8_t *msg[FUZZ_KEEP_MAX];
	size_t len[FUZZ_KEEP_MAX];
	bool decode;
};

static uint64_t fuzz_fnv(uint64_t h, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void fuzz_msg(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
	struct fuzz_got *g = arg;
	uint8_t lenb[8];

	for (int i = 0; i < 8; i++)
		lenb[i] = (uint8_t)(len >> (8 * i));
	g->hash = fuzz_fnv(g->hash, &type, 1);
	g->hash = fuzz_fnv(g->hash, lenb, sizeof(lenb));
	g->hash = fuzz_fnv(g->hash, body, len);
	g->n++;
	if (g->kept < FUZZ_KEEP_MAX && len < UINT16_MAX) {
		uint8_t *m = malloc(len + 1);

		if (m == NULL)
			abort();
		m[0] = type;
		if (len > 0)
			memcpy(m + 1, body, len);
		g->msg[g->kept] = m;
		g->len[g->kept] = len + 1;
		g->kept++;
	}
	if (g->decode)
		fuzz_roundtrip(type, body, len);
}

static void fuzz_got_init(struct fuzz_got *g, bool decode)
{
	memset(g, 0, sizeof(*g));
	g->hash = 0xcbf29ce484222325ull;
	g->decode = decode;
}

static void fuzz_got_fini(struct fuzz_got *g)
{
	for (size_t i = 0; i < g->kept; i++)
		free(g->msg[i]);
	memset(g, 0, sizeof(*g));
}

static void fuzz_cfg(struct mlwire_cfg *cfg, const struct keyring *kr, bool verify)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->keyring = kr;
	cfg->verify_incoming = verify;
	cfg->verify_outgoing = true;
}

static int fuzz_open(const struct mlwire_cfg *cfg, const uint8_t *p, size_t len, struct fuzz_got *g,
                     struct mlwire_rx_info *info)
{
	int rc = mlwire_packet_open(cfg, p, len, fuzz_msg, g, info);

	if ((rc == 0) != (info->why == NULL) || info->msgs != g->n)
		abort();
	return rc;
}

/* The receive path over the input as a packet, then the same packet
 * sealed with the key (and a label) must open to the same messages; the
 * messages sealed again (compound, compressed, CRC) too. */
static void fuzz_packet(const uint8_t *data, size_t size)
{
	struct mlwire_cfg cfg;
	struct mlwire_rx_info info, info2;
	struct fuzz_got plain, again;
	struct mlwire_bytes msgs[FUZZ_KEEP_MAX];
	struct buf sealed;
	const char *why;
	int rc;

	buf_init(&sealed, FUZZ_OUT_CAP);
	fuzz_cfg(&cfg, NULL, true);
	fuzz_got_init(&plain, true);
	rc = fuzz_open(&cfg, data, size, &plain, &info);

	/* With the key: refused (not sealed), or taken as plaintext. */
	fuzz_cfg(&cfg, &fuzz_kr, true);
	fuzz_got_init(&again, false);
	if (fuzz_open(&cfg, data, size, &again, &info2) == 0 && !info2.encrypted)
		abort();
	fuzz_got_fini(&again);
	cfg.verify_incoming = false;
	fuzz_got_init(&again, false);
	(void)fuzz_open(&cfg, data, size, &again, &info2);
	if (!info2.encrypted && (again.n != plain.n || again.hash != plain.hash ||
	                         (info2.why == NULL) != (info.why == NULL)))
		abort();
	fuzz_got_fini(&again);

	/* Sealed under the key and a label, it opens to the same. */
	if (size > 0 && data[0] != MLWIRE_HAS_LABEL && info.why == NULL) {
		cfg.verify_incoming = true;
		cfg.label = (const uint8_t *)FUZZ_LABEL;
		cfg.label_len = strlen(FUZZ_LABEL);
		buf_reset(&sealed);
		if (mlwire_label_put(&sealed, cfg.label, cfg.label_len) != 0 ||
		    keyring_encrypt(&fuzz_kr, data, size, cfg.label, cfg.label_len, &sealed) != 0)
			abort();
		fuzz_got_init(&again, false);
		if (fuzz_open(&cfg, sealed.p, sealed.len, &again, &info2) != 0 ||
		    !info2.encrypted || !info2.labeled || again.n != plain.n ||
		    again.hash != plain.hash)
			abort();
		fuzz_got_fini(&again);
	}

	/* What was delivered, sealed as gossip would send it, opens to it. */
	if (rc == 0 && plain.n > 0 && plain.n == plain.kept) {
		for (int variant = 0; variant < 4; variant++) {
			fuzz_cfg(&cfg, (variant & 2) ? &fuzz_kr : NULL, true);
			cfg.compress = variant & 1;
			for (size_t i = 0; i < plain.kept; i++) {
				msgs[i].p = plain.msg[i];
				msgs[i].len = plain.len[i];
			}
			buf_reset(&sealed);
			if (mlwire_packet_seal(&cfg, msgs, plain.kept, variant & 1, &sealed,
			                       &why) != 0)
				continue; /* too large for a packet */
			fuzz_got_init(&again, false);
			if (fuzz_open(&cfg, sealed.p, sealed.len, &again, &info2) != 0 ||
			    again.n != plain.n || again.hash != plain.hash)
				abort();
			fuzz_got_fini(&again);
		}
	}
	fuzz_got_fini(&plain);
	buf_fini(&sealed);
}

/* The input as the start of a TCP stream: label, frame, open, decode. */
static void fuzz_stream(const uint8_t *data, size_t size)
{
	struct mlwire_cfg cfg;
	struct mlwire_bytes label, msg;
	struct buf out, sealed, out2;
	const char *why = NULL;
	size_t used, flen, flen2;
	enum mlwire_frame f;

	buf_init(&out, FUZZ_OUT_CAP);
	buf_init(&out2, FUZZ_OUT_CAP);
	buf_init(&sealed, FUZZ_OUT_CAP);
	fuzz_cfg(&cfg, NULL, true);
	if (mlwire_stream_label(&cfg, data, size, &label, &used, &why) != MLWIRE_FRAME_OK) {
		/* Let a labelled input on through a matching config. */
		if (size < 2 || data[0] != MLWIRE_HAS_LABEL || data[1] == 0 || size - 2 < data[1])
			goto out;
		cfg.label = data + 2;
		cfg.label_len = data[1];
		if (mlwire_stream_label(&cfg, data, size, &label, &used, &why) != MLWIRE_FRAME_OK)
			abort();
	}
	data += used;
	size -= used;
	f = mlwire_stream_frame(data, size, &flen, &why);
	if (f != MLWIRE_FRAME_OK)
		goto out;
	/* A frame is complete exactly at its end, whatever follows. */
	if (flen == 0 || flen > size)
		abort();
	if (mlwire_stream_frame(data, flen, &flen2, &why) != MLWIRE_FRAME_OK || flen2 != flen)
		abort();
	if (mlwire_stream_frame(data, flen - 1, &flen2, &why) != MLWIRE_FRAME_MORE)
		abort();
	for (int keyed = 0; keyed < 2; keyed++) {
		struct mlwire_cfg k = cfg;

		if (keyed) {
			k.keyring = &fuzz_kr;
			k.verify_incoming = false;
		}
		buf_reset(&out);
		if (mlwire_stream_open(&k, data, flen, &out, &msg, &why) != 0)
			continue;
		fuzz_roundtrip(msg.p[0], msg.p + 1, msg.len - 1);
		/* Sealed for a stream (compressed, encrypted), it opens to the
		 * same message. */
		k.keyring = keyed ? &fuzz_kr : NULL;
		k.verify_incoming = true;
		k.compress = true;
		buf_reset(&sealed);
		if (mlwire_stream_seal(&k, msg.p, msg.len, &sealed, &why) != 0)
			continue;
		if (mlwire_stream_frame(sealed.p, sealed.len, &flen2, &why) != MLWIRE_FRAME_OK ||
		    flen2 != sealed.len)
			abort();
		buf_reset(&out2);
		{
			struct mlwire_bytes msg2;

			if (mlwire_stream_open(&k, sealed.p, sealed.len, &out2, &msg2, &why) != 0 ||
			    msg2.len != msg.len || memcmp(msg2.p, msg.p, msg.len) != 0)
				abort();
		}
	}
out:
	buf_fini(&out);
	buf_fini(&out2);
	buf_fini(&sealed);
}

/* LZW: what decodes re-encodes to something that decodes the same; any
 * input encodes and decodes back to itself. */
static void fuzz_lzw(const uint8_t *data, size_t size)
{
	struct buf d1, e, d2;
	const char *why = NULL;

	buf_init(&d1, FUZZ_OUT_CAP);
	buf_init(&e, FUZZ_OUT_CAP);
	buf_init(&d2, FUZZ_OUT_CAP);
	if (lzw_decode(data, size, FUZZ_LZW_MAX, &d1, &why) == 0) {
		if (lzw_encode(d1.p, d1.len, &e) != 0 ||
		    lzw_decode(e.p, e.len, FUZZ_LZW_MAX, &d2, &why) != 0 || !fuzz_same(&d1, &d2))
			abort();
	}
	buf_reset(&e);
	buf_reset(&d2);
	if (lzw_encode(data, size, &e) != 0 || lzw_decode(e.p, e.len, size, &d2, &why) != 0 ||
	    d2.len != size || (size > 0 && memcmp(d2.p, data, size) != 0))
		abort();
	buf_fini(&d1);
	buf_fini(&e);
	buf_fini(&d2);
}

/* mlmap: a message gossipd's daemon hands to the core decodes to a swim_msg that encodes back
 * to bytes which decode to the same message (and the same bytes again); a push/pull's state
 * likewise. */
static void fuzz_mlmap(uint8_t type, const uint8_t *body, size_t len)
{
	struct swim_msg m, m2;
	struct mlmap_scratch sc, sc2;
	struct buf a, b;

	buf_init(&a, FUZZ_OUT_CAP);
	buf_init(&b, FUZZ_OUT_CAP);
	if (mlmap_decode(type, body, len, &m, &sc) == 0) {
		if (mlmap_encode(&a, &m) != 0 || a.len != swim_msg_size(&m))
			abort();
		if (mlmap_decode(a.p[0], a.p + 1, a.len - 1, &m2, &sc2) != 0 ||
		    mlmap_encode(&b, &m2) != 0 || !fuzz_same(&a, &b))
			abort();
	}
	if (type == MLWIRE_PUSH_PULL) {
		struct mlwire_push_pull h, h2;
		struct mlmap_push_state st, st2;
		const uint8_t *us, *us2;
		size_t ul, ul2;

		buf_reset(&a);
		buf_reset(&b);
		if (mlmap_decode_push_pull(body, len, &h, &st, &us, &ul) == 0) {
			if (mlmap_encode_push_pull(&a, st.nodes, st.n, us, ul, h.join) != 0)
				abort();
			if (mlmap_decode_push_pull(a.p + 1, a.len - 1, &h2, &st2, &us2, &ul2) != 0 ||
			    st2.n != st.n || ul2 != ul || h2.join != h.join)
				abort();
			if (mlmap_encode_push_pull(&b, st2.nodes, st2.n, us2, ul2, h2.join) != 0 ||
			    !fuzz_same(&a, &b))
				abort();
			mlmap_push_state_fini(&st2);
			mlmap_push_state_fini(&st);
		}
	}
	buf_fini(&a);
	buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_setup();
	/* Each decoder on the bytes after a type byte. */
	if (size > 0) {
		fuzz_roundtrip(data[0], data + 1, size - 1);
		fuzz_mlmap(data[0], data + 1, size - 1);
	}
	fuzz_lzw(data, size);
	if (size > FUZZ_INPUT_MAX)
		return 0;
	fuzz_packet(data, size);
	fuzz_stream(data, size);
	return 0;
}

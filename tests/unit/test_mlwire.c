/* test_mlwire.c: memberlist's wire format and Go's LZW against serf 0.9.4's packets. */
#include "daemons/gossipd/lzw.h"
#include "daemons/gossipd/mlwire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpk.h"
#include "pcaputil.h"
#include "testutil.h"

/* tests/gossip/README.md: three serf agents on 127.0.0.31-33:7946; the
 * encrypted capture used this key. */
#define GOSSIP_PORT   7946
#define GOLDEN_KEY    "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define TXT_FILE_MAX  (4u << 20)
#define TXT_RECS_MAX  512
#define TXT_MSGS_MAX  32
#define TXT_NODES_MAX 8
#define GOT_MAX       64
/* Message lines ("hex ...") of plain.txt, compressed.txt, encrypted.txt. */
#define GOLDEN_PLAIN_MSGS      215
#define GOLDEN_COMPRESSED_MSGS 202
#define GOLDEN_ENCRYPTED_MSGS  205
#define OUT_CAP                (64u << 20)

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal as bytes and length (its NUL left out). */
#define LIT(s) (const uint8_t *)(s), sizeof(s) - 1

/* --- decode.py's .txt, parsed ---------------------------------------- */

/* One message line ("alive {...}") and its "hex ..." line. */
struct txt_msg {
	char name[48];
	const char *fields;
	uint8_t *hex;
	size_t hex_len;
	int line;
};

/* One "== udp ..." or "== tcp ..." record and its layers. */
struct txt_rec {
	bool tcp;
	int line;
	unsigned crc, compress, compound, aes, label;
	struct txt_msg msgs[TXT_MSGS_MAX];
	size_t n;
	const char *nodes[TXT_NODES_MAX];
	size_t nn;
};

struct txt {
	char *data;
	struct txt_rec *recs;
	size_t n;
	size_t udp, tcp;
};

static int unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static uint8_t *hex_decode(const char *s, size_t *len)
{
	size_t n = strlen(s);
	uint8_t *p;

	ck_assert_msg(n % 2 == 0, "odd hex %s", s);
	p = malloc(n / 2 + 1);
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);

		ck_assert_msg(hi >= 0 && lo >= 0, "bad hex %s", s);
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return p;
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void txt_load(struct txt *t, const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t len;
	char *line, *next;
	int lineno = 0;
	struct txt_rec *r = NULL;

	ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", path);
	memset(t, 0, sizeof(*t));
	t->data = malloc(TXT_FILE_MAX + 1);
	t->recs = calloc(TXT_RECS_MAX, sizeof(*t->recs));
	ck_assert_ptr_nonnull(t->data);
	ck_assert_ptr_nonnull(t->recs);
	len = fread(t->data, 1, TXT_FILE_MAX, f);
	fclose(f);
	ck_assert_uint_lt(len, TXT_FILE_MAX);
	t->data[len] = '\0';
	for (line = t->data; line != NULL && *line != '\0'; line = next) {
		char *s = line, *sp;
		struct txt_msg *m;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		while (*s == ' ')
			s++;
		ck_assert_msg(!starts(s, "(undecoded"), "%s:%d: decode.py failed here", path,
		              lineno);
		if (starts(s, "== ")) {
			ck_assert_uint_lt(t->n, TXT_RECS_MAX);
			r = &t->recs[t->n++];
			r->tcp = starts(s, "== tcp");
			r->line = lineno;
			if (r->tcp)
				t->tcp++;
			else
				t->udp++;
			continue;
		}
		ck_assert_msg(r != NULL, "%s:%d: no record", path, lineno);
		if (starts(s, "hasCrc "))
			r->crc++;
		else if (starts(s, "compress algo="))
			r->compress++;
		else if (starts(s, "compound of "))
			r->compound++;
		else if (starts(s, "aes-gcm "))
			r->aes++;
		else if (starts(s, "label "))
			r->label++;
		else if (starts(s, "encrypt(stream)") || starts(s, "serf."))
			; /* the stream's length; Serf's state (serfwire's) */
		else if (starts(s, "node {")) {
			ck_assert_uint_lt(r->nn, TXT_NODES_MAX);
			r->nodes[r->nn++] = s + 5;
		} else if (starts(s, "hex ")) {
			ck_assert_msg(r->n > 0 && r->msgs[r->n - 1].hex == NULL, "%s:%d: stray hex",
			              path, lineno);
			m = &r->msgs[r->n - 1];
			m->hex = hex_decode(s + 4, &m->hex_len);
		} else {
			sp = strchr(s, ' ');
			ck_assert_msg(sp != NULL && sp[1] == '{', "%s:%d: unknown line %s", path,
			              lineno, s);
			ck_assert_uint_lt(r->n, TXT_MSGS_MAX);
			m = &r->msgs[r->n++];
			*sp = '\0';
			ck_assert_uint_lt(strlen(s), sizeof(m->name));
			strcpy(m->name, s);
			m->fields = sp + 1;
			m->line = lineno;
		}
	}
	for (size_t i = 0; i < t->n; i++)
		for (size_t j = 0; j < t->recs[i].n; j++)
			ck_assert_msg(t->recs[i].msgs[j].hex != NULL, "%s:%d: no hex", path,
			              t->recs[i].msgs[j].line);
}

static void txt_free(struct txt *t)
{
	for (size_t i = 0; i < t->n; i++)
		for (size_t j = 0; j < t->recs[i].n; j++)
			free(t->recs[i].msgs[j].hex);
	free(t->recs);
	free(t->data);
	memset(t, 0, sizeof(*t));
}

/* decode.py's names for memberlist's types. */
static int txt_type(const char *name)
{
	static const struct {
		const char *name;
		int type;
	} names[] = {
	    {"ping", MLWIRE_PING},
	    {"indirectPing", MLWIRE_INDIRECT_PING},
	    {"ack", MLWIRE_ACK},
	    {"suspect", MLWIRE_SUSPECT},
	    {"alive", MLWIRE_ALIVE},
	    {"dead", MLWIRE_DEAD},
	    {"pushPull", MLWIRE_PUSH_PULL},
	    {"nack", MLWIRE_NACK},
	    {"err", MLWIRE_ERR},
	};

	if (starts(name, "user/"))
		return MLWIRE_USER;
	for (size_t i = 0; i < NELEM(names); i++)
		if (strcmp(names[i].name, name) == 0)
			return names[i].type;
	return -1;
}

/* --- decode.py's show(), for our decoded fields ----------------------- */

/* Python's repr of printable ASCII bytes (as decode.py shows str values),
 * or 0x-hex for anything else. */
static void show_bytes(struct buf *o, const uint8_t *p, size_t len)
{
	bool printable = true, squote = false, dquote = false;
	char q;

	for (size_t i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e)
			printable = false;
		squote |= p[i] == '\'';
		dquote |= p[i] == '"';
	}
	if (!printable) {
		buf_printf(o, "0x");
		for (size_t i = 0; i < len; i++)
			buf_printf(o, "%02x", p[i]);
		return;
	}
	q = squote && !dquote ? '"' : '\'';
	buf_putc(o, (uint8_t)q);
	for (size_t i = 0; i < len; i++) {
		if (p[i] == q || p[i] == '\\')
			buf_putc(o, '\\');
		buf_putc(o, p[i]);
	}
	buf_putc(o, (uint8_t)q);
}

static void show_key(struct buf *o, const char *key)
{
	if (o->len > 1)
		buf_printf(o, ", ");
	buf_printf(o, "'%s': ", key);
}

static void show_str(struct buf *o, const char *key, const struct mlwire_bytes *v)
{
	show_key(o, key);
	show_bytes(o, v->p, v->len);
}

/* A []byte: our encoder writes nil for empty, which Python shows None. */
static void show_raw(struct buf *o, const char *key, const uint8_t *p, size_t len)
{
	show_key(o, key);
	if (len == 0)
		buf_printf(o, "None");
	else
		show_bytes(o, p, len);
}

static void show_uint(struct buf *o, const char *key, uint64_t v)
{
	show_key(o, key);
	buf_printf(o, "%llu", (unsigned long long)v);
}

static void show_bool(struct buf *o, const char *key, bool v)
{
	show_key(o, key);
	buf_printf(o, "%s", v ? "True" : "False");
}

static void show_push_node(struct buf *o, const struct mlwire_push_node *n)
{
	buf_printf(o, "{");
	show_raw(o, "Addr", n->addr.p, n->addr.len);
	show_uint(o, "Incarnation", n->incarnation);
	show_raw(o, "Meta", n->meta.p, n->meta.len);
	show_str(o, "Name", &n->name);
	show_uint(o, "Port", n->port);
	show_uint(o, "State", n->state);
	show_raw(o, "Vsn", n->vsn, n->vsn_len);
	buf_printf(o, "}");
}

/* Decodes one message (type byte + body), shows its fields the way
 * decode.py does, and encodes it again. 0, or -1 when it does not decode.
 * A pushPull is its header only; a user message is its bytes. */
static int golden_one(const uint8_t *msg, size_t len, struct buf *shown, struct buf *again)
{
	struct cur c;
	int rc;

	ck_assert_uint_gt(len, 0);
	cur_init(&c, msg + 1, len - 1);
	buf_printf(shown, "{");
	switch (msg[0]) {
	case MLWIRE_PING: {
		struct mlwire_ping m;

		if ((rc = mlwire_dec_ping(&c, &m)) != 0)
			break;
		show_str(shown, "Node", &m.node);
		show_uint(shown, "SeqNo", m.seq_no);
		if (m.source_addr.len > 0)
			show_raw(shown, "SourceAddr", m.source_addr.p, m.source_addr.len);
		if (m.source_node.len > 0)
			show_str(shown, "SourceNode", &m.source_node);
		if (m.source_port != 0)
			show_uint(shown, "SourcePort", m.source_port);
		rc = mlwire_enc_ping(again, &m);
		break;
	}
	case MLWIRE_INDIRECT_PING: {
		struct mlwire_indirect_ping m;

		if ((rc = mlwire_dec_indirect_ping(&c, &m)) != 0)
			break;
		show_bool(shown, "Nack", m.nack);
		show_str(shown, "Node", &m.node);
		show_uint(shown, "Port", m.port);
		show_uint(shown, "SeqNo", m.seq_no);
		if (m.source_addr.len > 0)
			show_raw(shown, "SourceAddr", m.source_addr.p, m.source_addr.len);
		if (m.source_node.len > 0)
			show_str(shown, "SourceNode", &m.source_node);
		if (m.source_port != 0)
			show_uint(shown, "SourcePort", m.source_port);
		show_raw(shown, "Target", m.target.p, m.target.len);
		rc = mlwire_enc_indirect_ping(again, &m);
		break;
	}
	case MLWIRE_ACK: {
		struct mlwire_ack m;

		if ((rc = mlwire_dec_ack(&c, &m)) != 0)
			break;
		show_raw(shown, "Payload", m.payload.p, m.payload.len);
		show_uint(shown, "SeqNo", m.seq_no);
		rc = mlwire_enc_ack(again, &m);
		break;
	}
	case MLWIRE_NACK: {
		struct mlwire_nack m;

		if ((rc = mlwire_dec_nack(&c, &m)) != 0)
			break;
		show_uint(shown, "SeqNo", m.seq_no);
		rc = mlwire_enc_nack(again, &m);
		break;
	}
	case MLWIRE_SUSPECT:
	case MLWIRE_DEAD: {
		struct mlwire_suspect m;

		if ((rc = mlwire_dec_suspect(&c, &m)) != 0)
			break;
		show_str(shown, "From", &m.from);
		show_uint(shown, "Incarnation", m.incarnation);
		show_str(shown, "Node", &m.node);
		rc = mlwire_enc_suspect(again, msg[0], &m);
		break;
	}
	case MLWIRE_ALIVE: {
		struct mlwire_alive m;

		if ((rc = mlwire_dec_alive(&c, &m)) != 0)
			break;
		show_raw(shown, "Addr", m.addr.p, m.addr.len);
		show_uint(shown, "Incarnation", m.incarnation);
		show_raw(shown, "Meta", m.meta.p, m.meta.len);
		show_str(shown, "Node", &m.node);
		show_uint(shown, "Port", m.port);
		show_raw(shown, "Vsn", m.vsn, m.vsn_len);
		rc = mlwire_enc_alive(again, &m);
		break;
	}
	case MLWIRE_PUSH_PULL: {
		struct mlwire_push_pull m;

		if ((rc = mlwire_dec_push_pull(&c, &m)) != 0)
			break;
		show_bool(shown, "Join", m.join);
		show_uint(shown, "Nodes", m.nodes);
		show_uint(shown, "UserStateLen", m.user_state_len);
		rc = mlwire_enc_push_pull(again, &m);
		break;
	}
	case MLWIRE_USER:
		rc = mlwire_enc_user(again, msg + 1, len - 1);
		break;
	default:
		rc = -1;
		break;
	}
	buf_printf(shown, "}");
	return rc;
}

/* Every message line of a .txt: its hex decodes to the fields shown and
 * encodes back to the same bytes. Returns how many were checked. */
static size_t golden_txt(const char *path)
{
	struct txt t;
	struct buf shown, again;
	size_t checked = 0;

	txt_load(&t, path);
	buf_init(&shown, OUT_CAP);
	buf_init(&again, OUT_CAP);
	for (size_t i = 0; i < t.n; i++) {
		for (size_t j = 0; j < t.recs[i].n; j++) {
			const struct txt_msg *m = &t.recs[i].msgs[j];

			buf_reset(&shown);
			buf_reset(&again);
			ck_assert_msg(txt_type(m->name) == m->hex[0], "%s:%d: %s is type %u", path,
			              m->line, m->name, m->hex[0]);
			ck_assert_msg(golden_one(m->hex, m->hex_len, &shown, &again) == 0,
			              "%s:%d: %s does not decode", path, m->line, m->name);
			if (m->hex[0] != MLWIRE_USER)
				ck_assert_msg(strcmp(buf_cstr(&shown), m->fields) == 0,
				              "%s:%d: %s\n got  %s\n want %s", path, m->line,
				              m->name, buf_cstr(&shown), m->fields);
			ck_assert_msg(again.len == m->hex_len &&
			                  memcmp(again.p, m->hex, m->hex_len) == 0,
			              "%s:%d: %s re-encodes differently", path, m->line, m->name);
			checked++;
		}
	}
	buf_fini(&shown);
	buf_fini(&again);
	txt_free(&t);
	return checked;
}

START_TEST(test_golden_messages)
{
	size_t plain = golden_txt("tests/gossip/plain.txt");
	size_t compressed = golden_txt("tests/gossip/compressed.txt");
	size_t encrypted = golden_txt("tests/gossip/encrypted.txt");

	/* Every message line of the three captures (grep -c "hex "). */
	ck_assert_uint_eq(plain, GOLDEN_PLAIN_MSGS);
	ck_assert_uint_eq(compressed, GOLDEN_COMPRESSED_MSGS);
	ck_assert_uint_eq(encrypted, GOLDEN_ENCRYPTED_MSGS);
}
END_TEST

/* --- the receive path over every packet of the captures -------------- */

struct got {
	size_t n;
	uint8_t type[GOT_MAX];
	uint8_t *msg[GOT_MAX]; /* type byte + body */
	size_t len[GOT_MAX];
};

static void got_msg(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
	struct got *g = arg;

	ck_assert_uint_lt(g->n, GOT_MAX);
	g->type[g->n] = type;
	g->msg[g->n] = malloc(len + 1);
	ck_assert_ptr_nonnull(g->msg[g->n]);
	g->msg[g->n][0] = type;
	memcpy(g->msg[g->n] + 1, body, len);
	g->len[g->n] = len + 1;
	g->n++;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->msg[i]);
	memset(g, 0, sizeof(*g));
}

static bool is_gossip(const struct pcaputil_pkt *p)
{
	return p->sport == GOSSIP_PORT || p->dport == GOSSIP_PORT;
}

static void cfg_init(struct mlwire_cfg *cfg, const struct keyring *kr, bool compress)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->keyring = kr;
	cfg->verify_incoming = true;
	cfg->verify_outgoing = true;
	cfg->compress = compress;
}

static void golden_key(struct keyring *kr)
{
	const char *why = NULL;

	keyring_init(kr);
	ck_assert_msg(keyring_add_b64(kr, GOLDEN_KEY, &why) == 0, "key: %s", why);
}

/* Every UDP packet of pcap opens without a problem into the messages of
 * the matching .txt record, with the same layers; and sealing those
 * messages again gives serf's very bytes (when there is no encryption,
 * whose nonce is random). Returns how many packets. */
static size_t capture_udp(const char *pcap, const char *txt, const struct keyring *kr,
                          bool compress)
{
	struct pcaputil_file f;
	struct pcaputil_pkt pkt;
	struct mlwire_cfg cfg;
	struct mlwire_rx_info info;
	struct txt t;
	struct buf out;
	size_t ri = 0, count = 0;
	int r;

	cfg_init(&cfg, kr, compress);
	txt_load(&t, txt);
	buf_init(&out, MLWIRE_PACKET_MAX);
	ck_assert_int_eq(pcaputil_open(&f, pcap), 0);
	while ((r = pcaputil_next(&f, &pkt)) == 1) {
		struct got g = {0};
		struct mlwire_bytes msgs[GOT_MAX];
		const struct txt_rec *rec;
		const char *why = NULL;

		if (pkt.proto != PCAPUTIL_UDP || !is_gossip(&pkt))
			continue;
		while (ri < t.n && t.recs[ri].tcp)
			ri++;
		ck_assert_msg(ri < t.n, "%s: more UDP packets than %s records", pcap, txt);
		rec = &t.recs[ri++];
		ck_assert_msg(
		    mlwire_packet_open(&cfg, pkt.payload, pkt.len, got_msg, &g, &info) == 0,
		    "%s packet %zu (%s:%d): %s", pcap, pkt.index, txt, rec->line, info.why);
		ck_assert_ptr_null(info.why);
		ck_assert_uint_eq(info.dropped, 0);
		ck_assert_msg(info.crc == (rec->crc > 0) && info.compressed == rec->compress &&
		                  info.compounds == rec->compound &&
		                  info.encrypted == (rec->aes > 0) &&
		                  info.labeled == (rec->label > 0) && !info.plaintext,
		              "%s:%d: layers differ", txt, rec->line);
		ck_assert_msg(g.n == rec->n, "%s:%d: %zu messages, want %zu", txt, rec->line, g.n,
		              rec->n);
		ck_assert_uint_eq(info.msgs, g.n);
		for (size_t i = 0; i < g.n; i++) {
			ck_assert_int_eq(g.type[i], txt_type(rec->msgs[i].name));
			ck_assert_msg(g.len[i] == rec->msgs[i].hex_len &&
			                  memcmp(g.msg[i], rec->msgs[i].hex, g.len[i]) == 0,
			              "%s:%d: message %zu differs", txt, rec->line, i);
			msgs[i].p = g.msg[i];
			msgs[i].len = g.len[i];
		}
		/* The send path, same choices: compound if several, compressed
		 * if on and smaller, the CRC if serf sent one. */
		buf_reset(&out);
		ck_assert_msg(mlwire_packet_seal(&cfg, msgs, g.n, info.crc, &out, &why) == 0, "%s",
		              why);
		if (kr == NULL) {
			ck_assert_msg(out.len == pkt.len &&
			                  memcmp(out.p, pkt.payload, pkt.len) == 0,
			              "%s:%d: sealed differently", txt, rec->line);
		} else {
			struct got g2 = {0};

			ck_assert_uint_eq(out.len, pkt.len);
			ck_assert_int_eq(
			    mlwire_packet_open(&cfg, out.p, out.len, got_msg, &g2, &info), 0);
			ck_assert_uint_eq(g2.n, g.n);
			for (size_t i = 0; i < g.n; i++)
				ck_assert_mem_eq(g2.msg[i], g.msg[i], g.len[i]);
			got_free(&g2);
		}
		got_free(&g);
		count++;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(count, t.udp);
	pcaputil_close(&f);
	buf_fini(&out);
	txt_free(&t);
	return count;
}

START_TEST(test_capture_udp_plain)
{
	ck_assert_uint_gt(
	    capture_udp("tests/gossip/plain.pcap", "tests/gossip/plain.txt", NULL, false), 100);
}
END_TEST

START_TEST(test_capture_udp_compressed)
{
	ck_assert_uint_gt(
	    capture_udp("tests/gossip/compressed.pcap", "tests/gossip/compressed.txt", NULL, true),
	    100);
}
END_TEST

START_TEST(test_capture_udp_encrypted)
{
	struct keyring kr;

	golden_key(&kr);
	ck_assert_uint_gt(
	    capture_udp("tests/gossip/encrypted.pcap", "tests/gossip/encrypted.txt", &kr, false),
	    100);
	keyring_fini(&kr);
}
END_TEST

/* Without the key, encrypted packets are refused; with verify_incoming
 * off, plaintext is taken while encryption is on. */
START_TEST(test_capture_udp_key_rules)
{
	struct pcaputil_file f;
	struct pcaputil_pkt pkt;
	struct mlwire_cfg cfg;
	struct mlwire_rx_info info;
	struct keyring kr, other;
	uint8_t key16[16];
	const char *why;
	size_t n = 0;

	golden_key(&kr);
	keyring_init(&other);
	memset(key16, 7, sizeof(key16));
	ck_assert_int_eq(keyring_add(&other, key16, sizeof(key16), &why), 0);
	ck_assert_int_eq(pcaputil_open(&f, "tests/gossip/encrypted.pcap"), 0);
	while (pcaputil_next(&f, &pkt) == 1) {
		struct got g = {0};

		if (pkt.proto != PCAPUTIL_UDP || !is_gossip(&pkt))
			continue;
		/* No keyring: its version byte 1 reads as an indirectPing
		 * whose body is ciphertext (memberlist would fail to decode it
		 * the same way); the layers see nothing else. */
		cfg_init(&cfg, NULL, false);
		(void)mlwire_packet_open(&cfg, pkt.payload, pkt.len, got_msg, &g, &info);
		ck_assert(!info.encrypted && !info.crc && info.compounds == 0);
		ck_assert_uint_le(g.n, 1);
		if (g.n == 1)
			ck_assert_int_eq(g.type[0], MLWIRE_INDIRECT_PING);
		got_free(&g);
		/* The wrong key. */
		cfg_init(&cfg, &other, false);
		ck_assert_int_eq(mlwire_packet_open(&cfg, pkt.payload, pkt.len, got_msg, &g, &info),
		                 -1);
		ck_assert_str_eq(info.why, "no installed keys could decrypt the message");
		ck_assert_uint_eq(g.n, 0);
		/* Both keys installed, the wrong one primary: all are tried. */
		ck_assert_int_eq(keyring_add(&other, kr.keys[0], kr.lens[0], &why), 0);
		ck_assert_int_eq(mlwire_packet_open(&cfg, pkt.payload, pkt.len, got_msg, &g, &info),
		                 0);
		ck_assert(info.encrypted);
		ck_assert_uint_gt(g.n, 0);
		ck_assert_int_eq(keyring_remove(&other, kr.keys[0], kr.lens[0], &why), 0);
		got_free(&g);
		n++;
	}
	pcaputil_close(&f);
	ck_assert_uint_gt(n, 100);

	/* Plain packets while encryption is on. */
	ck_assert_int_eq(pcaputil_open(&f, "tests/gossip/plain.pcap"), 0);
	n = 0;
	while (pcaputil_next(&f, &pkt) == 1) {
		struct got g = {0};

		if (pkt.proto != PCAPUTIL_UDP || !is_gossip(&pkt))
			continue;
		cfg_init(&cfg, &kr, false);
		ck_assert_int_eq(mlwire_packet_open(&cfg, pkt.payload, pkt.len, got_msg, &g, &info),
		                 -1);
		ck_assert_uint_eq(g.n, 0);
		cfg.verify_incoming = false;
		ck_assert_int_eq(mlwire_packet_open(&cfg, pkt.payload, pkt.len, got_msg, &g, &info),
		                 0);
		ck_assert(info.plaintext && !info.encrypted);
		ck_assert_uint_gt(g.n, 0);
		got_free(&g);
		n++;
	}
	pcaputil_close(&f);
	ck_assert_uint_gt(n, 100);
	keyring_fini(&kr);
	keyring_fini(&other);
}
END_TEST

/* --- TCP push/pulls --------------------------------------------------- */

/* Every TCP stream of pcap: one push/pull frame, complete only at its last
 * byte; it opens to the header, node states and user state of the .txt,
 * and encodes back to the same bytes; sealing it again gives serf's
 * stream (compressed) or one of its length (encrypted). */
static void capture_tcp(const char *pcap, const char *txt, const struct keyring *kr, bool compress)
{
	struct pcaputil_streams s;
	struct mlwire_cfg cfg;
	struct txt t;
	struct buf out, again, shown, sealed;
	size_t ri = 0;

	cfg_init(&cfg, kr, compress);
	txt_load(&t, txt);
	buf_init(&out, OUT_CAP);
	buf_init(&again, OUT_CAP);
	buf_init(&shown, OUT_CAP);
	buf_init(&sealed, OUT_CAP);
	ck_assert_int_eq(pcaputil_streams(pcap, GOSSIP_PORT, &s), 0);
	ck_assert_uint_eq(s.n, t.tcp);
	for (size_t i = 0; i < s.n; i++) {
		const struct pcaputil_stream *st = &s.v[i];
		const struct txt_rec *rec;
		struct mlwire_bytes label, msg;
		struct mlwire_push_pull hdr;
		struct mlwire_push_node node;
		const uint8_t *us;
		const char *why = NULL;
		size_t used, flen;
		struct cur c;

		ck_assert(!st->gap);
		while (ri < t.n && !t.recs[ri].tcp)
			ri++;
		ck_assert_uint_lt(ri, t.n);
		rec = &t.recs[ri++];
		ck_assert_int_eq(mlwire_stream_label(&cfg, st->data, st->len, &label, &used, &why),
		                 MLWIRE_FRAME_OK);
		ck_assert_uint_eq(used, 0);
		for (size_t k = 0; k < st->len; k++)
			ck_assert_msg(mlwire_stream_frame(st->data, k, &flen, &why) ==
			                  MLWIRE_FRAME_MORE,
			              "%s:%d: complete at %zu of %zu", txt, rec->line, k, st->len);
		ck_assert_int_eq(mlwire_stream_frame(st->data, st->len, &flen, &why),
		                 MLWIRE_FRAME_OK);
		ck_assert_uint_eq(flen, st->len);
		buf_reset(&out);
		ck_assert_msg(mlwire_stream_open(&cfg, st->data, flen, &out, &msg, &why) == 0,
		              "%s:%d: %s", txt, rec->line, why);
		ck_assert_int_eq(msg.p[0], MLWIRE_PUSH_PULL);
		/* Opened, the push/pull frames itself exactly. */
		ck_assert_int_eq(mlwire_stream_frame(msg.p, msg.len, &flen, &why), MLWIRE_FRAME_OK);
		ck_assert_uint_eq(flen, msg.len);
		ck_assert_uint_eq(rec->n, 1);
		ck_assert_uint_ge(msg.len, rec->msgs[0].hex_len);
		ck_assert_mem_eq(msg.p, rec->msgs[0].hex, rec->msgs[0].hex_len);
		cur_init(&c, msg.p + 1, msg.len - 1);
		ck_assert_int_eq(mlwire_dec_push_pull(&c, &hdr), 0);
		ck_assert_uint_eq(hdr.nodes, rec->nn);
		buf_reset(&again);
		ck_assert_int_eq(mlwire_enc_push_pull(&again, &hdr), 0);
		for (size_t k = 0; k < hdr.nodes; k++) {
			ck_assert_int_eq(mlwire_dec_push_node(&c, &node), 0);
			buf_reset(&shown);
			show_push_node(&shown, &node);
			ck_assert_msg(strcmp(buf_cstr(&shown), rec->nodes[k]) == 0,
			              "%s:%d: node %zu\n got  %s\n want %s", txt, rec->line, k,
			              buf_cstr(&shown), rec->nodes[k]);
			ck_assert_int_eq(mlwire_enc_push_node(&again, &node), 0);
		}
		/* Serf's push/pull state: its type byte 2 (serfwire reads it). */
		us = cur_take(&c, hdr.user_state_len);
		ck_assert_ptr_nonnull(us);
		ck_assert_int_eq(us[0], 2);
		ck_assert_uint_eq(cur_left(&c), 0);
		buf_append(&again, us, hdr.user_state_len);
		ck_assert_uint_eq(again.len, msg.len);
		ck_assert_mem_eq(again.p, msg.p, msg.len);

		buf_reset(&sealed);
		ck_assert_msg(mlwire_stream_seal(&cfg, again.p, again.len, &sealed, &why) == 0,
		              "%s", why);
		ck_assert_uint_eq(sealed.len, st->len);
		if (kr == NULL)
			ck_assert_mem_eq(sealed.p, st->data, st->len);
		buf_reset(&out);
		ck_assert_int_eq(mlwire_stream_open(&cfg, sealed.p, sealed.len, &out, &msg, &why),
		                 0);
		ck_assert_uint_eq(msg.len, again.len);
		ck_assert_mem_eq(msg.p, again.p, again.len);
	}
	pcaputil_streams_free(&s);
	buf_fini(&out);
	buf_fini(&again);
	buf_fini(&shown);
	buf_fini(&sealed);
	txt_free(&t);
}

START_TEST(test_capture_tcp)
{
	struct keyring kr;

	capture_tcp("tests/gossip/plain.pcap", "tests/gossip/plain.txt", NULL, false);
	capture_tcp("tests/gossip/compressed.pcap", "tests/gossip/compressed.txt", NULL, true);
	golden_key(&kr);
	capture_tcp("tests/gossip/encrypted.pcap", "tests/gossip/encrypted.txt", &kr, false);
	keyring_fini(&kr);
}
END_TEST

/* Stream rules: the label header, the encrypt/plain refusals, limits. */
START_TEST(test_stream_rules)
{
	static const uint8_t lbl[] = "dc1-lan";
	struct mlwire_cfg cfg, other;
	struct keyring kr;
	struct mlwire_push_pull hdr = {.nodes = 0, .user_state_len = 3, .join = true};
	struct mlwire_err er = {{(const uint8_t *)"boom", 4}};
	struct mlwire_bytes label, msg;
	struct buf m, s, out;
	const char *why = NULL;
	size_t used, flen;
	uint8_t big[MLWIRE_STREAM_HEADER] = {MLWIRE_ENCRYPT, 0x01, 0x40, 0x00, 0x01};

	buf_init(&m, OUT_CAP);
	buf_init(&s, OUT_CAP);
	buf_init(&out, OUT_CAP);
	golden_key(&kr);
	ck_assert_int_eq(mlwire_enc_push_pull(&m, &hdr), 0);
	buf_append(&m, "\x02\x80\x80", 3);

	/* A label header, then a compressed and encrypted push/pull. */
	cfg_init(&cfg, &kr, true);
	cfg.label = lbl;
	cfg.label_len = sizeof(lbl) - 1;
	ck_assert_int_eq(mlwire_label_put(&s, cfg.label, cfg.label_len), 0);
	ck_assert_int_eq(mlwire_stream_seal(&cfg, m.p, m.len, &s, &why), 0);
	for (size_t k = 0; k < 2 + cfg.label_len; k++)
		ck_assert_int_eq(mlwire_stream_label(&cfg, s.p, k, &label, &used, &why),
		                 MLWIRE_FRAME_MORE);
	ck_assert_int_eq(mlwire_stream_label(&cfg, s.p, s.len, &label, &used, &why),
	                 MLWIRE_FRAME_OK);
	ck_assert_uint_eq(used, 2 + cfg.label_len);
	ck_assert_mem_eq(label.p, lbl, label.len);
	ck_assert_int_eq(s.p[used], MLWIRE_ENCRYPT);
	ck_assert_int_eq(mlwire_stream_frame(s.p + used, s.len - used, &flen, &why),
	                 MLWIRE_FRAME_OK);
	ck_assert_uint_eq(flen, s.len - used);
	ck_assert_int_eq(mlwire_stream_open(&cfg, s.p + used, flen, &out, &msg, &why), 0);
	ck_assert_uint_eq(msg.len, m.len);
	ck_assert_mem_eq(msg.p, m.p, m.len);

	/* The label is authenticated: another label cannot open it. */
	other = cfg;
	other.label = (const uint8_t *)"dc2-lan";
	buf_reset(&out);
	ck_assert_int_eq(mlwire_stream_label(&other, s.p, s.len, &label, &used, &why),
	                 MLWIRE_FRAME_BAD);
	ck_assert_str_eq(why, "discarding stream with unacceptable label");
	ck_assert_int_eq(
	    mlwire_stream_open(&other, s.p + 2 + cfg.label_len, flen, &out, &msg, &why), -1);
	ck_assert_uint_eq(out.len, 0);
	/* No label configured, one sent; one configured, none sent. */
	other.label = NULL;
	other.label_len = 0;
	ck_assert_int_eq(mlwire_stream_label(&other, s.p, s.len, &label, &used, &why),
	                 MLWIRE_FRAME_BAD);
	ck_assert_int_eq(mlwire_stream_label(&cfg, m.p, m.len, &label, &used, &why),
	                 MLWIRE_FRAME_BAD);
	ck_assert_int_eq(
	    mlwire_stream_label(&cfg, (const uint8_t *)"\xf4\x00", 2, &label, &used, &why),
	    MLWIRE_FRAME_BAD);
	ck_assert_str_eq(why, "label header cannot be empty when present");

	/* Encrypted, but no key here. */
	cfg_init(&other, NULL, false);
	ck_assert_int_eq(
	    mlwire_stream_open(&other, s.p + 2 + cfg.label_len, flen, &out, &msg, &why), -1);
	ck_assert_str_eq(why, "remote state is encrypted and encryption is not configured");
	/* Plain, but encryption is on: refused unless verify_incoming is off. */
	cfg.label_len = 0;
	ck_assert_int_eq(mlwire_stream_open(&cfg, m.p, m.len, &out, &msg, &why), -1);
	ck_assert_str_eq(why, "encryption is configured but remote state is not encrypted");
	cfg.verify_incoming = false;
	ck_assert_int_eq(mlwire_stream_open(&cfg, m.p, m.len, &out, &msg, &why), 0);
	ck_assert_ptr_eq(msg.p, m.p);

	/* An encrypted stream over 20 MiB is refused from its header. */
	ck_assert_int_eq(mlwire_stream_frame(big, sizeof(big), &flen, &why), MLWIRE_FRAME_BAD);
	ck_assert_str_eq(why, "remote node state is larger than limit");
	big[1] = 0x00;
	ck_assert_int_eq(mlwire_stream_frame(big, sizeof(big), &flen, &why), MLWIRE_FRAME_MORE);
	/* Types a stream cannot start with. */
	ck_assert_int_eq(mlwire_stream_frame((const uint8_t *)"\x04\x80", 2, &flen, &why),
	                 MLWIRE_FRAME_BAD);
	ck_assert_int_eq(mlwire_stream_frame((const uint8_t *)"\x07\x01", 2, &flen, &why),
	                 MLWIRE_FRAME_BAD);
	/* A push/pull header over its limits. */
	ck_assert_int_eq(
	    mlwire_stream_frame(LIT("\x06\x81\xa5Nodes\xce\x00\x01\x00\x01"), &flen, &why),
	    MLWIRE_FRAME_BAD);
	/* A msgpack header promising more elements than a stream may hold. */
	ck_assert_int_eq(
	    mlwire_stream_frame((const uint8_t *)"\x00\xdf\x7f\xff\xff\xff", 6, &flen, &why),
	    MLWIRE_FRAME_BAD);
	ck_assert_int_eq(mlwire_stream_frame((const uint8_t *)"\x00\xc1", 2, &flen, &why),
	                 MLWIRE_FRAME_BAD);

	/* An err reply, and a user message with its header, in the clear. */
	cfg_init(&cfg, NULL, false);
	buf_reset(&m);
	ck_assert_int_eq(mlwire_enc_err(&m, &er), 0);
	ck_assert_int_eq(mlwire_stream_frame(m.p, m.len, &flen, &why), MLWIRE_FRAME_OK);
	ck_assert_uint_eq(flen, m.len);
	buf_reset(&m);
	ck_assert_int_eq(mlwire_enc_user_stream(&m, (const uint8_t *)"\x01hello", 6), 0);
	for (size_t k = 0; k < m.len; k++)
		ck_assert_int_eq(mlwire_stream_frame(m.p, k, &flen, &why), MLWIRE_FRAME_MORE);
	buf_putc(&m, 0x99); /* the next message's first byte */
	ck_assert_int_eq(mlwire_stream_frame(m.p, m.len, &flen, &why), MLWIRE_FRAME_OK);
	ck_assert_uint_eq(flen, m.len - 1);
	ck_assert_int_eq(mlwire_stream_open(&cfg, m.p, flen, &out, &msg, &why), 0);
	{
		struct mlwire_user_stream u;
		struct cur c;

		cur_init(&c, msg.p + 1, msg.len - 1);
		ck_assert_int_eq(mlwire_dec_user_stream(&c, &u), 0);
		ck_assert_uint_eq(u.user_msg_len, 6);
		ck_assert_mem_eq(cur_take(&c, 6), "\x01hello", 6);
	}
	/* compress in compress is not a stream message. */
	buf_reset(&s);
	ck_assert_int_eq(mlwire_compress_put(&s, m.p, flen), 0);
	buf_reset(&m);
	ck_assert_int_eq(mlwire_compress_put(&m, s.p, s.len), 0);
	ck_assert_int_eq(mlwire_stream_open(&cfg, m.p, m.len, &out, &msg, &why), -1);
	ck_assert_str_eq(why, "received invalid msgType");

	keyring_fini(&kr);
	buf_fini(&m);
	buf_fini(&s);
	buf_fini(&out);
}
END_TEST

/* --- LZW --------------------------------------------------------------- */

/* The compress wrapper of every compressed packet and stream of the
 * capture: Go's LZW output, rebuilt byte for byte from its expansion. */
START_TEST(test_lzw_capture)
{
	struct pcaputil_file f;
	struct pcaputil_pkt pkt;
	struct pcaputil_streams s;
	struct buf dec, enc;
	size_t n = 0;

	buf_init(&dec, OUT_CAP);
	buf_init(&enc, OUT_CAP);
	ck_assert_int_eq(pcaputil_open(&f, "tests/gossip/compressed.pcap"), 0);
	ck_assert_int_eq(pcaputil_streams("tests/gossip/compressed.pcap", GOSSIP_PORT, &s), 0);
	for (size_t i = 0;; i++) {
		const uint8_t *p;
		size_t len;
		struct mlwire_compress z;
		struct cur c;
		const char *why = NULL;

		if (i < s.n) {
			p = s.v[i].data;
			len = s.v[i].len;
		} else if (pcaputil_next(&f, &pkt) == 1) {
			if (pkt.proto != PCAPUTIL_UDP || !is_gossip(&pkt))
				continue;
			p = pkt.payload;
			len = pkt.len;
		} else {
			break;
		}
		if (len >= 5 && p[0] == MLWIRE_HAS_CRC) {
			p += 5;
			len -= 5;
		}
		if (len < 1 || p[0] != MLWIRE_COMPRESS)
			continue;
		cur_init(&c, p + 1, len - 1);
		ck_assert_int_eq(mlwire_dec_compress(&c, &z), 0);
		ck_assert_uint_eq(z.algo, 0);
		buf_reset(&dec);
		ck_assert_msg(lzw_decode(z.buf.p, z.buf.len, MLWIRE_DECOMPRESS_MAX, &dec, &why) ==
		                  0,
		              "%s", why);
		buf_reset(&enc);
		ck_assert_int_eq(mlwire_compress_put(&enc, dec.p, dec.len), 0);
		ck_assert_uint_eq(enc.len, len);
		ck_assert_mem_eq(enc.p, p, len);
		n++;
	}
	/* compressed.txt: 17 compress layers, all at the top. */
	ck_assert_uint_eq(n, 17);
	pcaputil_close(&f);
	pcaputil_streams_free(&s);
	buf_fini(&dec);
	buf_fini(&enc);
}
END_TEST

static void lcg_fill(uint8_t *p, size_t n, uint8_t mask)
{
	uint32_t x = 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16) & mask;
	}
}

/* Go 1.19's compress/lzw (NewWriter(w, LSB, 8)) over lcg_fill inputs:
 * the output's length, CRC-32 and first bytes, taken by running Go. These
 * cover the table reset at code 4095 many times over. */
START_TEST(test_lzw_go_vectors)
{
	static const struct {
		size_t n;
		uint8_t mask;
		size_t out_len;
		uint32_t crc;
		uint8_t head[8];
	} v[] = {
	    {300000, 0x0f, 187861, 0x233e0c4a, {0x00, 0x0d, 0x38, 0x08, 0xb0, 0xa0, 0xa0, 0x80}},
	    {100000, 0xff, 136869, 0xbff31cb8, {0x00, 0x8d, 0xf9, 0x09, 0xb4, 0x66, 0xc9, 0x3e}},
	};
	struct buf enc, dec;
	const char *why = NULL;

	buf_init(&enc, OUT_CAP);
	buf_init(&dec, OUT_CAP);
	for (size_t i = 0; i < NELEM(v); i++) {
		uint8_t *in = malloc(v[i].n);

		ck_assert_ptr_nonnull(in);
		lcg_fill(in, v[i].n, v[i].mask);
		buf_reset(&enc);
		ck_assert_int_eq(lzw_encode(in, v[i].n, &enc), 0);
		ck_assert_uint_eq(enc.len, v[i].out_len);
		ck_assert_mem_eq(enc.p, v[i].head, sizeof(v[i].head));
		ck_assert_uint_eq(mlwire_crc32(enc.p, enc.len), v[i].crc);
		buf_reset(&dec);
		ck_assert_int_eq(lzw_decode(enc.p, enc.len, v[i].n, &dec, &why), 0);
		ck_assert_uint_eq(dec.len, v[i].n);
		ck_assert_mem_eq(dec.p, in, v[i].n);
		/* One byte less of room is refused. */
		buf_reset(&dec);
		ck_assert_int_eq(lzw_decode(enc.p, enc.len, v[i].n - 1, &dec, &why), -1);
		ck_assert_str_eq(why, "lzw: decompressed size over limit");
		free(in);
	}
	/* Empty input: clear, end (Go writes 00 03 02); one byte 'a'. */
	buf_reset(&enc);
	ck_assert_int_eq(lzw_encode(NULL, 0, &enc), 0);
	ck_assert_uint_eq(enc.len, 3);
	ck_assert_mem_eq(enc.p, "\x00\x03\x02", 3);
	buf_reset(&enc);
	ck_assert_int_eq(lzw_encode((const uint8_t *)"a", 1, &enc), 0);
	ck_assert_uint_eq(enc.len, 4);
	ck_assert_mem_eq(enc.p, "\x00\xc3\x04\x04", 4);
	buf_fini(&enc);
	buf_fini(&dec);
}
END_TEST

START_TEST(test_lzw_round_trip)
{
	static const size_t sizes[] = {0, 1, 2, 3, 255, 256, 257, 4093, 4094, 4095, 4096, 70000};
	struct buf enc, dec;
	const char *why = NULL;
	uint8_t *in = malloc(70000);

	ck_assert_ptr_nonnull(in);
	buf_init(&enc, OUT_CAP);
	buf_init(&dec, OUT_CAP);
	for (unsigned kind = 0; kind < 4; kind++) {
		for (size_t i = 0; i < NELEM(sizes); i++) {
			size_t n = sizes[i];

			if (kind == 0)
				memset(in, 'z', n);
			else
				lcg_fill(in, n, kind == 1 ? 0x01 : kind == 2 ? 0x3f : 0xff);
			buf_reset(&enc);
			buf_reset(&dec);
			ck_assert_int_eq(lzw_encode(in, n, &enc), 0);
			ck_assert_msg(lzw_decode(enc.p, enc.len, n, &dec, &why) == 0, "%u/%zu: %s",
			              kind, n, why);
			ck_assert_uint_eq(dec.len, n);
			if (n > 0)
				ck_assert_mem_eq(dec.p, in, n);
			/* Cut short anywhere: refused, as Go's reader does. */
			for (size_t cut = 0; cut < enc.len && cut < 64; cut++) {
				buf_reset(&dec);
				ck_assert_int_eq(lzw_decode(enc.p, cut, n, &dec, &why), -1);
			}
		}
	}
	/* A code above the next one to be assigned. */
	buf_reset(&dec);
	ck_assert_int_eq(lzw_decode((const uint8_t *)"\x00\xff\x07", 3, 100, &dec, &why), -1);
	ck_assert_str_eq(why, "lzw: invalid code");
	/* Bytes after the end code are ignored. */
	buf_reset(&dec);
	ck_assert_int_eq(
	    lzw_decode((const uint8_t *)"\x00\xc3\x04\x04\xff\xff", 6, 100, &dec, &why), 0);
	ck_assert_uint_eq(dec.len, 1);
	free(in);
	buf_fini(&enc);
	buf_fini(&dec);
}
END_TEST

/* --- the codec: rules for fields ----------------------------------------- */

static void dec_alive(const void *p, size_t len, int want_rc, struct mlwire_alive *m)
{
	struct cur c;

	cur_init(&c, p, len);
	ck_assert_int_eq(mlwire_dec_alive(&c, m), want_rc);
}

START_TEST(test_codec_fields)
{
	struct mlwire_alive a;
	struct mlwire_ping pg;
	struct mlwire_push_node pn;
	struct buf b;
	struct cur c;
	uint8_t big[600];

	/* Unknown keys are skipped (any value), missing ones stay zero. */
	dec_alive(LIT("\x83\xa4Node\xa2s1\xa5"
	              "Extra\x92\x01\x81\xa1x\xc0\xa4Port\xcd\x1f\x0a"),
	          0, &a);
	ck_assert_uint_eq(a.node.len, 2);
	ck_assert_mem_eq(a.node.p, "s1", 2);
	ck_assert_uint_eq(a.port, 7946);
	ck_assert_uint_eq(a.incarnation, 0);
	ck_assert_uint_eq(a.vsn_len, 0);
	/* nil is zero; bin and str8 are read like raw. */
	dec_alive(LIT("\x83\xa4Meta\xc0\xa4"
	              "Addr\xc4\x04\x7f\x00\x00\x01\xa4Node\xd9\x02s2"),
	          0, &a);
	ck_assert_uint_eq(a.meta.len, 0);
	ck_assert_uint_eq(a.addr.len, 4);
	ck_assert_mem_eq(a.node.p, "s2", 2);
	/* A nil map is an empty struct. */
	dec_alive(LIT("\xc0"), 0, &a);
	/* Vsn as an array of integers. */
	dec_alive(LIT("\x81\xa3Vsn\x96\x01\x05\x02\x02\x05\x05"), 0, &a);
	ck_assert_uint_eq(a.vsn_len, 6);
	ck_assert_mem_eq(a.vsn, "\x01\x05\x02\x02\x05\x05", 6);
	/* Wrong types, out of range, over limits. */
	dec_alive(LIT("\x81\xa4Port\xa1x"), -1, &a);
	dec_alive(LIT("\x81\xa4Port\xce\x00\x01\x00\x00"), -1, &a);
	dec_alive(LIT("\x81\xabIncarnation\xff"), -1, &a);
	dec_alive(LIT("\x81\xabIncarnation\xcf\x00\x00\x00\x01\x00\x00\x00\x00"), -1, &a);
	dec_alive(LIT("\x81\xa4Node\x01"), -1, &a);
	dec_alive(LIT("\x81\xa3Vsn\xa7\x01\x02\x03\x04\x05\x06\x07"), -1, &a);
	dec_alive(LIT("\x81\xa4"
	              "Addr\xb1"
	              "0123456789abcdefg"),
	          -1, &a);
	dec_alive(LIT("\x81\x01\x02"), -1, &a);       /* key not a string */
	dec_alive(LIT("\x91\x01"), -1, &a);           /* an array */
	dec_alive(LIT("\x82\xa4Node\xa2s1"), -1, &a); /* cut short */
	memset(big, 'n', sizeof(big));
	big[0] = 0x81;
	big[1] = 0xa4;
	memcpy(big + 2, "Node", 4);
	big[6] = 0xda;
	big[7] = (MLWIRE_NAME_MAX + 1) >> 8;
	big[8] = (MLWIRE_NAME_MAX + 1) & 0xff;
	dec_alive(big, 9 + MLWIRE_NAME_MAX + 1, -1, &a);
	big[8] = MLWIRE_NAME_MAX & 0xff;
	big[7] = MLWIRE_NAME_MAX >> 8;
	dec_alive(big, 9 + MLWIRE_NAME_MAX, 0, &a);
	ck_assert_uint_eq(a.node.len, MLWIRE_NAME_MAX);
	/* The booleans. */
	{
		struct mlwire_indirect_ping ip;

		cur_init(&c, LIT("\x81\xa4Nack\x01"));
		ck_assert_int_eq(mlwire_dec_indirect_ping(&c, &ip), -1);
		cur_init(&c, LIT("\x81\xa4Nack\xc3"));
		ck_assert_int_eq(mlwire_dec_indirect_ping(&c, &ip), 0);
		ck_assert(ip.nack);
	}
	/* Push/pull counts: negative and over the limits are refused. */
	{
		struct mlwire_push_pull pp;

		cur_init(&c, LIT("\x81\xa5Nodes\xff"));
		ck_assert_int_eq(mlwire_dec_push_pull(&c, &pp), -1);
		cur_init(&c, LIT("\x81\xacUserStateLen\xce\x01\x40\x00\x01"));
		ck_assert_int_eq(mlwire_dec_push_pull(&c, &pp), -1);
		cur_init(&c, LIT("\x81\xacUserStateLen\xce\x01\x40\x00\x00"));
		ck_assert_int_eq(mlwire_dec_push_pull(&c, &pp), 0);
		ck_assert_uint_eq(pp.user_state_len, MLWIRE_USER_STATE_MAX);
	}

	/* Encoding: omitempty fields of ping go; a 40-byte name is raw16, as
	 * go-msgpack writes it (never str8). */
	buf_init(&b, OUT_CAP);
	memset(&pg, 0, sizeof(pg));
	pg.seq_no = 300;
	pg.node.p = (const uint8_t *)"0123456789012345678901234567890123456789";
	pg.node.len = 40;
	ck_assert_int_eq(mlwire_enc_ping(&b, &pg), 0);
	ck_assert_uint_eq(b.len, 1 + 1 + 5 + 3 + 40 + 6 + 3);
	ck_assert_mem_eq(b.p, "\x00\x82\xa4Node\xda\x00\x28", 10);
	ck_assert_mem_eq(b.p + 50, "\xa5SeqNo\xcd\x01\x2c", 9);
	/* Empty []byte is nil, empty string is "". */
	buf_reset(&b);
	memset(&pn, 0, sizeof(pn));
	ck_assert_int_eq(mlwire_enc_push_node(&b, &pn), 0);
	ck_assert_mem_eq(b.p,
	                 "\x87\xa4"
	                 "Addr\xc0\xabIncarnation\x00\xa4Meta\xc0\xa4Name\xa0\xa4Port\x00"
	                 "\xa5State\x00\xa3Vsn\xc0",
	                 b.len);
	/* Over a limit: refused, nothing written. */
	buf_reset(&b);
	memset(&a, 0, sizeof(a));
	a.meta.p = big;
	a.meta.len = MLWIRE_META_MAX + 1;
	ck_assert_int_eq(mlwire_enc_alive(&b, &a), -1);
	a.meta.len = 0;
	a.vsn_len = MLWIRE_VSN_LEN + 1;
	ck_assert_int_eq(mlwire_enc_alive(&b, &a), -1);
	ck_assert_uint_eq(b.len, 0);
	{
		struct mlwire_suspect su = {0};

		ck_assert_int_eq(mlwire_enc_suspect(&b, MLWIRE_ALIVE, &su), -1);
	}
	buf_fini(&b);
	ck_assert_str_eq(mlwire_type_name(MLWIRE_NACK), "nackResp");
	ck_assert_str_eq(mlwire_type_name(200), "unknown");
	/* The IEEE CRC's check value. */
	ck_assert_uint_eq(mlwire_crc32((const uint8_t *)"123456789", 9), 0xcbf43926);
}
END_TEST

/* --- packets: layers, refusals, limits ------------------------------------ */

/* A ping to a node named like the Consul agents of a big cluster. */
static void ping_msg(struct buf *b, uint32_t seq)
{
	static const char node[] = "ip-10-0-0-1.eu-west-1.compute.internal";
	struct mlwire_ping p = {.seq_no = seq, .node = {LIT(node)}};

	ck_assert_int_eq(mlwire_enc_ping(b, &p), 0);
}

static int open_pkt(const struct mlwire_cfg *cfg, const struct buf *b, struct got *g,
                    struct mlwire_rx_info *info)
{
	got_free(g);
	return mlwire_packet_open(cfg, b->p, b->len, got_msg, g, info);
}

START_TEST(test_packet_layers)
{
	static const uint8_t lbl[] = "lan";
	struct mlwire_cfg cfg;
	struct mlwire_rx_info info;
	struct buf m1, m2, p;
	struct got g = {0};
	struct mlwire_bytes msgs[2];
	struct keyring kr;
	const char *why;
	size_t room;

	buf_init(&m1, OUT_CAP);
	buf_init(&m2, OUT_CAP);
	buf_init(&p, OUT_CAP);
	ping_msg(&m1, 1);
	ping_msg(&m2, 2);
	msgs[0].p = m1.p;
	msgs[0].len = m1.len;
	msgs[1].p = m2.p;
	msgs[1].len = m2.len;
	cfg_init(&cfg, NULL, false);

	/* One message: as is. Two: a compound. */
	ck_assert_int_eq(mlwire_packet_seal(&cfg, msgs, 1, false, &p, &why), 0);
	ck_assert_uint_eq(p.len, m1.len);
	ck_assert_mem_eq(p.p, m1.p, m1.len);
	buf_reset(&p);
	ck_assert_int_eq(mlwire_packet_seal(&cfg, msgs, 2, false, &p, &why), 0);
	ck_assert_uint_eq(p.len, 2 + 4 + m1.len + m2.len);
	ck_assert_int_eq(p.p[0], MLWIRE_COMPOUND);
	ck_assert_int_eq(p.p[1], 2);
	ck_assert_uint_eq(be32_get(p.p + 2), (uint32_t)(m1.len << 16 | m2.len));
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), 0);
	ck_assert_uint_eq(g.n, 2);
	ck_assert_uint_eq(info.compounds, 1);
	ck_assert_mem_eq(g.msg[1], m2.p, m2.len);

	/* Compression only when smaller: a lone ping is not, two are. */
	cfg.compress = true;
	buf_reset(&p);
	ck_assert_int_eq(mlwire_packet_seal(&cfg, msgs, 1, false, &p, &why), 0);
	ck_assert_int_eq(p.p[0], MLWIRE_PING);
	buf_reset(&p);
	ck_assert_int_eq(mlwire_packet_seal(&cfg, msgs, 2, true, &p, &why), 0);
	ck_assert_int_eq(p.p[0], MLWIRE_HAS_CRC);
	ck_assert_int_eq(p.p[5], MLWIRE_COMPRESS);
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), 0);
	ck_assert(info.crc);
	ck_assert_uint_eq(info.compressed, 1);
	ck_assert_uint_eq(g.n, 2);
	/* A flipped bit fails the CRC: nothing is delivered. */
	p.p[p.len - 1] ^= 1;
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "got invalid checksum for UDP packet");
	ck_assert_uint_eq(g.n, 0);

	/* Label: required exactly, authenticated with encryption. */
	golden_key(&kr);
	cfg_init(&cfg, &kr, true);
	cfg.label = lbl;
	cfg.label_len = 3;
	buf_reset(&p);
	ck_assert_int_eq(mlwire_packet_seal(&cfg, msgs, 2, true, &p, &why), 0);
	ck_assert_mem_eq(p.p, "\xf4\x03lan\x01", 6);
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), 0);
	ck_assert(info.labeled && info.encrypted && info.crc);
	ck_assert_uint_eq(g.n, 2);
	/* The same ciphertext under another label of the same length. */
	memcpy(p.p + 2, "wan", 3);
	cfg.label = (const uint8_t *)"wan";
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "no installed keys could decrypt the message");
	cfg.label = lbl;
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "discarding packet with unacceptable label");
	cfg.label_len = 0;
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "discarding packet with unacceptable label");
	/* Label headers cut short or empty. */
	cfg_init(&cfg, NULL, false);
	buf_reset(&p);
	buf_append(&p, "\xf4", 1);
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "cannot decode label; packet has been truncated");
	buf_reset(&p);
	buf_append(&p, "\xf4\x00\x00", 3);
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "label header cannot be empty when present");
	buf_reset(&p);
	buf_append(&p, "\xf4\x05lan", 5);
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);

	/* Room: 1400 less the compound header, label, CRC, encryption. */
	cfg_init(&cfg, &kr, false);
	cfg.label = lbl;
	cfg.label_len = 3;
	room = mlwire_packet_room(&cfg, true);
	ck_assert_uint_eq(room, MLWIRE_UDP_BUFFER - 2 - 5 - 5 - KEYRING_OVERHEAD);
	cfg_init(&cfg, NULL, false);
	ck_assert_uint_eq(mlwire_packet_room(&cfg, false), MLWIRE_UDP_BUFFER - 2);
	/* Counts. */
	ck_assert_int_eq(mlwire_packet_seal(&cfg, msgs, 0, false, &p, &why), -1);
	ck_assert_int_eq(mlwire_compound_put(&p, msgs, 256), -1);

	got_free(&g);
	keyring_fini(&kr);
	buf_fini(&m1);
	buf_fini(&m2);
	buf_fini(&p);
}
END_TEST

START_TEST(test_packet_hostile)
{
	struct mlwire_cfg cfg;
	struct mlwire_rx_info info;
	struct buf m, p, z;
	struct got g = {0};
	struct mlwire_bytes parts[3];
	uint8_t *zeros;

	cfg_init(&cfg, NULL, false);
	buf_init(&m, OUT_CAP);
	buf_init(&p, OUT_CAP);
	buf_init(&z, OUT_CAP);
	ping_msg(&m, 9);

	/* Empty packet; unknown and stream-only types. */
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "missing message type byte");
	for (unsigned t = 0; t < 256; t++) {
		bool ok = t <= 5 || t == 8 || t == 11;

		if (t == MLWIRE_COMPOUND || t == MLWIRE_COMPRESS || t == MLWIRE_HAS_LABEL)
			continue;
		buf_reset(&p);
		buf_putc(&p, (uint8_t)t);
		ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), ok ? 0 : -1);
		ck_assert_uint_eq(g.n, ok ? 1 : 0);
	}

	/* A compound cut short: the whole parts go through. */
	parts[0].p = m.p;
	parts[0].len = m.len;
	parts[1] = parts[0];
	parts[2] = parts[0];
	buf_reset(&p);
	ck_assert_int_eq(mlwire_compound_put(&p, parts, 3), 0);
	p.len -= 1;
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "compound request had truncated messages");
	ck_assert_uint_eq(g.n, 2);
	ck_assert_uint_eq(info.dropped, 1);
	/* Too short for its lengths: nothing. */
	buf_reset(&p);
	buf_append(&p, "\x07\x03\x00\x01\x00", 5);
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "truncated len slice");
	buf_reset(&p);
	buf_putc(&p, MLWIRE_COMPOUND);
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "missing compound length byte");
	/* A bad part is dropped, the others delivered; an empty part too. */
	buf_reset(&p);
	buf_append(&p, "\x07\x03\x00\x01\x00\x00\x00\x01\x0d\x02", 10);
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_int_eq(g.type[0], MLWIRE_ACK);
	ck_assert_uint_eq(info.dropped, 2);
	ck_assert_str_eq(info.why, "msg type not supported");

	/* Nesting: compound in compound ... is cut at MLWIRE_DEPTH_MAX. */
	buf_reset(&p);
	buf_append(&p, m.p, m.len);
	for (unsigned d = 0; d < MLWIRE_DEPTH_MAX + 1; d++) {
		parts[0].p = p.p;
		parts[0].len = p.len;
		buf_reset(&z);
		ck_assert_int_eq(mlwire_compound_put(&z, parts, 1), 0);
		buf_reset(&p);
		buf_append(&p, z.p, z.len);
		ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), d < MLWIRE_DEPTH_MAX ? 0 : -1);
	}
	ck_assert_str_eq(info.why, "messages nested too deep");

	/* compress: unknown algorithm, bad LZW, not a map. */
	buf_reset(&p);
	buf_append(&p, LIT("\x09\x82\xa4"
	                   "Algo\x01\xa3"
	                   "Buf\xa3\x00\x03\x02"));
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "cannot decompress unknown algorithm");
	p.p[7] = 0;
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "missing message type byte"); /* it expands to nothing */
	p.len -= 1;
	p.p[p.len - 3] = 0xa2;
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "lzw: unexpected EOF");
	buf_reset(&p);
	buf_append(&p, "\x09\x91\x00", 3);
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "failed to decode compressed message");

	/* A decompression bomb: 41 MiB of zeros is a few KiB of LZW. */
	zeros = calloc(1, MLWIRE_DECOMPRESS_MAX + (1u << 20));
	ck_assert_ptr_nonnull(zeros);
	zeros[0] = MLWIRE_USER;
	buf_reset(&p);
	ck_assert_int_eq(mlwire_compress_put(&p, zeros, MLWIRE_DECOMPRESS_MAX + (1u << 20)), 0);
	ck_assert_uint_lt(p.len, MLWIRE_PACKET_MAX);
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_str_eq(info.why, "lzw: decompressed size over limit");
	ck_assert_uint_eq(g.n, 0);
	/* Exactly at the limit: delivered. Twice in one packet: the second
	 * is over the packet's budget. */
	buf_reset(&z);
	ck_assert_int_eq(mlwire_compress_put(&z, zeros, MLWIRE_DECOMPRESS_MAX), 0);
	ck_assert_int_eq(open_pkt(&cfg, &z, &g, &info), 0);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_uint_eq(g.len[0], MLWIRE_DECOMPRESS_MAX);
	parts[0].p = z.p;
	parts[0].len = z.len;
	parts[1] = parts[0];
	buf_reset(&p);
	ck_assert_int_eq(mlwire_compound_put(&p, parts, 2), 0);
	ck_assert_int_eq(open_pkt(&cfg, &p, &g, &info), -1);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_str_eq(info.why, "lzw: decompressed size over limit");
	free(zeros);

	got_free(&g);
	buf_fini(&m);
	buf_fini(&p);
	buf_fini(&z);
}
END_TEST

static Suite *mlwire_suite(void)
{
	Suite *s = suite_create("mlwire");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_codec_fields);
	tcase_add_test(tc, test_lzw_round_trip);
	suite_add_tcase(s, tc);
	tc = tcase_create("golden");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_golden_messages);
	tcase_add_test(tc, test_capture_udp_plain);
	tcase_add_test(tc, test_capture_udp_compressed);
	tcase_add_test(tc, test_capture_udp_encrypted);
	tcase_add_test(tc, test_capture_udp_key_rules);
	tcase_add_test(tc, test_capture_tcp);
	tcase_add_test(tc, test_lzw_capture);
	tcase_add_test(tc, test_lzw_go_vectors);
	suite_add_tcase(s, tc);
	tc = tcase_create("layers");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_packet_layers);
	tcase_add_test(tc, test_packet_hostile);
	tcase_add_test(tc, test_stream_rules);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(mlwire_suite());
}

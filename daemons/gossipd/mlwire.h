/* mlwire.h: memberlist's wire format: messages, packet and stream layers (spec §4.3), pure. */
#ifndef MUSTER_GOSSIPD_MLWIRE_H
#define MUSTER_GOSSIPD_MLWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "keyring.h"

/* Message types: the first byte of every message (memberlist net.go;
 * append-only, the numbers are protocol). */
enum mlwire_type {
	MLWIRE_PING = 0,
	MLWIRE_INDIRECT_PING = 1,
	MLWIRE_ACK = 2,
	MLWIRE_SUSPECT = 3,
	MLWIRE_ALIVE = 4,
	MLWIRE_DEAD = 5,
	MLWIRE_PUSH_PULL = 6,
	MLWIRE_COMPOUND = 7,
	MLWIRE_USER = 8,
	MLWIRE_COMPRESS = 9,
	MLWIRE_ENCRYPT = 10,
	MLWIRE_NACK = 11,
	MLWIRE_HAS_CRC = 12,
	MLWIRE_ERR = 13,
	MLWIRE_HAS_LABEL = 244,
};

/* Limits. memberlist has few; ours are named here (CONVENTIONS: a limit
 * on everything) and a field over its limit fails the decode. */
#define MLWIRE_NAME_MAX       512   /* node names (memberlist: none; Consul's are DNS-ish) */
#define MLWIRE_META_MAX       512   /* node meta = Serf tags (memberlist MetaMaxSize) */
#define MLWIRE_ADDR_MAX       16    /* an IPv6 address (IPv4: 4 bytes) */
#define MLWIRE_VSN_LEN        6     /* pmin, pmax, pcur, dmin, dmax, dcur */
#define MLWIRE_PAYLOAD_MAX    65536 /* ack payload (serf: version + coordinate, ~130 B) */
#define MLWIRE_ERROR_MAX      1024  /* err reply text */
#define MLWIRE_LABEL_MAX      255   /* label header: one length byte, 1..255 */
#define MLWIRE_COMPOUND_MAX   255   /* compound: one count byte */
#define MLWIRE_PUSH_NODES_MAX 65536 /* node states in one push/pull */
/* memberlist maxPushStateBytes: push/pull user state and encrypted streams. */
#define MLWIRE_USER_STATE_MAX (20u << 20)
#define MLWIRE_USER_MSG_MAX   (20u << 20) /* a user message sent over a stream */
/* Decompressed output, per compress message and per packet (spec §4.3). */
#define MLWIRE_DECOMPRESS_MAX (40u << 20)
/* A stream message before decryption or decompression (header, node
 * states and user state; a compressed one never expands past the above). */
#define MLWIRE_STREAM_MAX (40u << 20)
#define MLWIRE_PACKET_MAX 65536 /* a UDP datagram */
/* Layers inside layers (compound in compress in compound ...): memberlist
 * recurses without limit; real traffic nests two deep. */
#define MLWIRE_DEPTH_MAX 4
/* memberlist UDPBufferSize: what gossip packs into one packet. */
#define MLWIRE_UDP_BUFFER        1400
#define MLWIRE_COMPOUND_HEADER   2 /* type + count */
#define MLWIRE_COMPOUND_OVERHEAD 2 /* per part: a big-endian u16 length */
#define MLWIRE_CRC_OVERHEAD      5 /* type + big-endian CRC32 */
#define MLWIRE_STREAM_HEADER     5 /* encrypt: type + big-endian u32 length */

/* Bytes inside a buffer the caller owns (decoded fields point into the
 * input; encoders read them). Not NUL-terminated. */
struct mlwire_bytes {
	const uint8_t *p;
	size_t len;
};

/*
 * The messages. Field names on the wire are memberlist's Go field names,
 * written in sorted order as serf's go-msgpack does (so our bytes equal
 * serf's); a Go string is a msgpack str, and []byte is a msgpack str as
 * well (go-msgpack's old "raw" type), nil when empty. Fields marked
 * omitempty are left out when zero, as memberlist marks them.
 */

/* ping (0): SourceAddr/Port/Node omitempty (memberlist ≥ 0.2 fills them). */
struct mlwire_ping {
	uint32_t seq_no;
	struct mlwire_bytes node; /* the target, so a restarted peer can refuse */
	struct mlwire_bytes source_addr;
	uint16_t source_port;
	struct mlwire_bytes source_node;
};

/* indirectPing (1): ask a peer to ping target for us. */
struct mlwire_indirect_ping {
	uint32_t seq_no;
	struct mlwire_bytes target; /* IP, 4 or 16 bytes */
	uint16_t port;
	struct mlwire_bytes node;
	bool nack; /* reply with a nack if the target does not answer (v4) */
	struct mlwire_bytes source_addr;
	uint16_t source_port;
	struct mlwire_bytes source_node;
};

/* ackResp (2). Payload: serf's ping delegate (version byte + coordinate). */
struct mlwire_ack {
	uint32_t seq_no;
	struct mlwire_bytes payload;
};

/* nackResp (11). */
struct mlwire_nack {
	uint32_t seq_no;
};

/* suspect (3) and dead (5) share a shape; dead with from == node is a
 * graceful leave (spec §4.2 step 9). */
struct mlwire_suspect {
	uint32_t incarnation;
	struct mlwire_bytes node;
	struct mlwire_bytes from;
};

/* alive (4). */
struct mlwire_alive {
	uint32_t incarnation;
	struct mlwire_bytes node;
	struct mlwire_bytes addr;
	uint16_t port;
	struct mlwire_bytes meta;
	uint8_t vsn[MLWIRE_VSN_LEN];
	uint8_t vsn_len; /* 0 (none sent) .. MLWIRE_VSN_LEN */
};

/* pushPull (6, streams only): this header, then `nodes` pushNodeStates,
 * then user_state_len raw bytes (Serf's state). */
struct mlwire_push_pull {
	uint32_t nodes;          /* ≤ MLWIRE_PUSH_NODES_MAX */
	uint32_t user_state_len; /* ≤ MLWIRE_USER_STATE_MAX */
	bool join;
};

enum mlwire_state {
	MLWIRE_STATE_ALIVE = 0,
	MLWIRE_STATE_SUSPECT = 1,
	MLWIRE_STATE_DEAD = 2,
	MLWIRE_STATE_LEFT = 3,
};

struct mlwire_push_node {
	struct mlwire_bytes name;
	struct mlwire_bytes addr;
	uint16_t port;
	struct mlwire_bytes meta;
	uint32_t incarnation;
	uint8_t state; /* enum mlwire_state; others decode and are the caller's to ignore */
	uint8_t vsn[MLWIRE_VSN_LEN];
	uint8_t vsn_len;
};

/* user (8) over a stream: this header, then user_msg_len bytes. Over UDP a
 * user message is the type byte and the bytes, no header. */
struct mlwire_user_stream {
	uint32_t user_msg_len; /* ≤ MLWIRE_USER_MSG_MAX */
};

/* compress (9). Algo 0 = LZW (lzw.h); others are refused on decompression. */
struct mlwire_compress {
	uint8_t algo;
	struct mlwire_bytes buf;
};

/* err (13): a stream's error reply. */
struct mlwire_err {
	struct mlwire_bytes error;
};

/*
 * Encoders append the type byte and the msgpack body to b (memberlist's
 * encode()); 0, or -1 when b is full or a field is over its limit.
 * Decoders read the body (after the type byte) from a cursor, leaving it
 * after the value: unknown keys are skipped, missing keys stay zero, nil
 * reads as zero (as go-msgpack does), a wrong type or a value out of range
 * or over its limit fails the cursor. 0 or -1.
 */
int mlwire_enc_ping(struct buf *b, const struct mlwire_ping *m);
int mlwire_dec_ping(struct cur *c, struct mlwire_ping *m);
int mlwire_enc_indirect_ping(struct buf *b, const struct mlwire_indirect_ping *m);
int mlwire_dec_indirect_ping(struct cur *c, struct mlwire_indirect_ping *m);
int mlwire_enc_ack(struct buf *b, const struct mlwire_ack *m);
int mlwire_dec_ack(struct cur *c, struct mlwire_ack *m);
int mlwire_enc_nack(struct buf *b, const struct mlwire_nack *m);
int mlwire_dec_nack(struct cur *c, struct mlwire_nack *m);
/* type: MLWIRE_SUSPECT or MLWIRE_DEAD. */
int mlwire_enc_suspect(struct buf *b, uint8_t type, const struct mlwire_suspect *m);
int mlwire_dec_suspect(struct cur *c, struct mlwire_suspect *m);
int mlwire_enc_alive(struct buf *b, const struct mlwire_alive *m);
int mlwire_dec_alive(struct cur *c, struct mlwire_alive *m);
/* The header with its type byte; node states follow without one. */
int mlwire_enc_push_pull(struct buf *b, const struct mlwire_push_pull *m);
int mlwire_dec_push_pull(struct cur *c, struct mlwire_push_pull *m);
int mlwire_enc_push_node(struct buf *b, const struct mlwire_push_node *m);
int mlwire_dec_push_node(struct cur *c, struct mlwire_push_node *m);
/* UDP: type byte + p. */
int mlwire_enc_user(struct buf *b, const uint8_t *p, size_t len);
/* Stream: type byte + {UserMsgLen} + p. */
int mlwire_enc_user_stream(struct buf *b, const uint8_t *p, size_t len);
int mlwire_dec_user_stream(struct cur *c, struct mlwire_user_stream *m);
int mlwire_enc_compress(struct buf *b, const struct mlwire_compress *m);
int mlwire_dec_compress(struct cur *c, struct mlwire_compress *m);
int mlwire_enc_err(struct buf *b, const struct mlwire_err *m);
int mlwire_dec_err(struct cur *c, struct mlwire_err *m);

/* "ping", "alive", ... memberlist's names, or "unknown". */
const char *mlwire_type_name(uint8_t type);
/* CRC-32 (IEEE, as Go's crc32.ChecksumIEEE) of p. */
uint32_t mlwire_crc32(const uint8_t *p, size_t len);

/*
 * Layers. Receiving a UDP packet (memberlist ingestPacket/handleCommand):
 *   [label] -> [decrypt, when encryption is on] -> [hasCrc check] ->
 *   compress / compound (recursively) -> messages.
 * Sending (rawSendMsgPacket, gossip): messages -> compound (if several) ->
 *   compress (if on and smaller) -> CRC (if the peer speaks ≥ 5) ->
 *   encrypt (if on) -> label.
 */
struct mlwire_cfg {
	/* NULL or no keys: encryption off (memberlist EncryptionEnabled()). */
	const struct keyring *keyring;
	/* Encryption on: refuse what is not encrypted (GossipVerifyIncoming);
	 * send encrypted (GossipVerifyOutgoing). Both default to true. */
	bool verify_incoming;
	bool verify_outgoing;
	bool compress; /* EnableCompression */
	/* The gossip network label (-label / gossip_lan label), 0..255 bytes;
	 * packets and streams must carry exactly this one (none when empty). */
	const uint8_t *label;
	size_t label_len;
};

/* Called for each message a packet carries: its type (ping, indirectPing,
 * ack, nack, suspect, alive, dead, user) and its body after the type byte.
 * body is valid during the call only. */
typedef void mlwire_msg_fn(void *arg, uint8_t type, const uint8_t *body, size_t len);

/* What a received packet was wrapped in, and what went wrong. */
struct mlwire_rx_info {
	bool labeled;
	bool encrypted;
	bool plaintext; /* accepted unencrypted while encryption is on */
	bool crc;
	unsigned compressed; /* compress layers opened */
	unsigned compounds;  /* compound layers opened */
	unsigned msgs;       /* messages delivered */
	unsigned dropped;    /* parts refused (memberlist logs those and goes on) */
	const char *why;     /* the first problem, memberlist's words; NULL if none */
};

/* Opens a UDP packet and calls fn for each message in it, in order. A
 * packet-level failure (label, decryption, CRC) delivers nothing; a bad
 * part of a compound is dropped and the other parts are still delivered,
 * as memberlist does. 0 when everything was delivered, -1 when anything
 * was refused (info->why says what). info may be NULL. */
int mlwire_packet_open(const struct mlwire_cfg *cfg, const uint8_t *pkt, size_t len,
                       mlwire_msg_fn *fn, void *arg, struct mlwire_rx_info *info);

/* Bytes of messages one packet can carry: MLWIRE_UDP_BUFFER less the
 * compound header, the label, the CRC (when crc) and the encryption
 * overhead. Each message costs its length + MLWIRE_COMPOUND_OVERHEAD. */
size_t mlwire_packet_room(const struct mlwire_cfg *cfg, bool crc);

/* Appends a compound of n (1..255) messages (each type byte + body, each
 * under 64 KiB). 0 or -1. */
int mlwire_compound_put(struct buf *out, const struct mlwire_bytes *msgs, size_t n);
/* Appends compress{Algo: LZW, Buf: lzw(msg)}. 0 or -1. */
int mlwire_compress_put(struct buf *out, const uint8_t *msg, size_t len);
/* Appends the label header (nothing when len is 0). 0 or -1 (over 255). */
int mlwire_label_put(struct buf *out, const uint8_t *label, size_t len);

/* Builds a UDP packet from n (1..255) messages, the layers as above; crc
 * when the peer's protocol max is ≥ 5. Appends to out; 0, or -1 with why. */
int mlwire_packet_seal(const struct mlwire_cfg *cfg, const struct mlwire_bytes *msgs, size_t n,
                       bool crc, struct buf *out, const char **why);

/*
 * TCP streams (memberlist net.go): a stream starts with the label header
 * (when a label is set), then carries messages: pushPull, user, ping, ack
 * or err, each possibly compressed (compress; streams are compressed
 * whenever compression is on, not only when smaller) and then encrypted
 * (type 10, BE u32 length, sealed with AAD = those 5 bytes + label).
 */
enum mlwire_frame {
	MLWIRE_FRAME_BAD = -1, /* refused: why says why */
	MLWIRE_FRAME_MORE = 0, /* not complete yet: read more */
	MLWIRE_FRAME_OK = 1,
};

/* The label header at the start of a stream: *used bytes of it (0 when
 * the stream has none) and the label; a label other than cfg's is BAD. */
enum mlwire_frame mlwire_stream_label(const struct mlwire_cfg *cfg, const uint8_t *p, size_t len,
                                      struct mlwire_bytes *label, size_t *used, const char **why);
/* How long the stream message at p is: OK with *frame_len when all of it
 * is in p[0..len), MORE when not yet, BAD when it cannot be one (unknown
 * type, over a limit, not msgpack). */
enum mlwire_frame mlwire_stream_frame(const uint8_t *p, size_t len, size_t *frame_len,
                                      const char **why);
/* Opens one whole frame: decrypts (type 10; refused when encryption is
 * off, and a plain frame refused when encryption is on and
 * verify_incoming), then decompresses (type 9). *msg is the message (type
 * byte + body): inside frame, or inside out when a layer was opened.
 * 0, or -1 with why. */
int mlwire_stream_open(const struct mlwire_cfg *cfg, const uint8_t *frame, size_t len,
                       struct buf *out, struct mlwire_bytes *msg, const char **why);
/* Wraps one message (type byte + body) for a stream: compress when on,
 * encrypt when on. Appends to out; the label header is the caller's to
 * send first (mlwire_label_put). 0, or -1 with why. */
int mlwire_stream_seal(const struct mlwire_cfg *cfg, const uint8_t *msg, size_t len,
                       struct buf *out, const char **why);

#endif

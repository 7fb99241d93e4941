/* msg.h: the bus messages, expanded from msg.def: types, structs, codec, printer. */
#ifndef MUSTER_MSG_H
#define MUSTER_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Peers. A daemon is known on the bus by its ZeroMQ routing id, its name. */
#define MSG_PEER_MUSTERD (1u << 0)
#define MSG_PEER_RAFTD   (1u << 1)
#define MSG_PEER_GOSSIPD (1u << 2)
#define MSG_PEER_HTTPD   (1u << 3)
#define MSG_PEER_DNSD    (1u << 4)
#define MSG_PEER_HEALTHD (1u << 5)
#define MSG_PEER_ANY     0x3fu

/* 0 if unknown; name is len bytes, not necessarily NUL-terminated. */
unsigned msg_peer_from_name(const char *name, size_t len);
/* NULL unless peer_bit is exactly one MSG_PEER_* bit. */
const char *msg_peer_name(unsigned peer_bit);

/* Decode limits (a limit on everything): a longer value is MSG_ETOOBIG. */
#define MSG_LIST_LEN_MAX  (1u << 16) /* elements of a list, strlist or strmap */
#define MSG_STR_LEN_MAX   (1u << 20) /* bytes of one str */
#define MSG_BYTES_LEN_MAX (4u << 20) /* bytes of one bytes field */
#define MSG_DEPTH_MAX     8          /* records within records */
/* Bytes one msg_decode() may allocate: a one-byte empty record in the input
 * costs a whole struct here, so the input size alone does not bound it. */
#define MSG_DECODE_MEM_MAX (64u << 20)

/* The C types of the field kinds. */
struct msg_bytes {
	uint8_t *p;
	size_t len;
};

struct msg_opt_u64 {
	uint64_t v;
	bool has;
};

struct msg_opt_bool {
	bool v;
	bool has;
};

struct msg_strlist {
	char **v;
	uint32_t n;
};

struct msg_strmap {
	char **k;
	char **v;
	uint32_t n;
};

/*
 * Expansion hooks. msg.def's field macros route to MSG_X_FIELD(kind, name),
 * MSG_X_REC(name, rec), MSG_X_LIST(name, rec) and MSG_X_NONE, which each
 * place that includes msg.def defines (and undefines after). A kind is a
 * token to paste (msg_enc_##kind), never to use bare: "bool" is a macro.
 */
#define MSG_F_U64(n)      MSG_X_FIELD(u64, n)
#define MSG_F_I64(n)      MSG_X_FIELD(i64, n)
#define MSG_F_BOOL(n)     MSG_X_FIELD(bool, n)
#define MSG_F_F64(n)      MSG_X_FIELD(f64, n)
#define MSG_F_STR(n)      MSG_X_FIELD(str, n)
#define MSG_F_BYTES(n)    MSG_X_FIELD(bytes, n)
#define MSG_F_OPT_U64(n)  MSG_X_FIELD(opt_u64, n)
#define MSG_F_OPT_BOOL(n) MSG_X_FIELD(opt_bool, n)
#define MSG_F_OPT_STR(n)  MSG_X_FIELD(opt_str, n)
#define MSG_F_STRLIST(n)  MSG_X_FIELD(strlist, n)
#define MSG_F_STRMAP(n)   MSG_X_FIELD(strmap, n)
#define MSG_F_REC(n, r)   MSG_X_REC(n, r)
#define MSG_F_LIST(n, r)  MSG_X_LIST(n, r)
#define MSG_F_NONE        MSG_X_NONE

#define MSG_CTYPE_u64      uint64_t
#define MSG_CTYPE_i64      int64_t
#define MSG_CTYPE_bool     bool
#define MSG_CTYPE_f64      double
#define MSG_CTYPE_str      char *
#define MSG_CTYPE_bytes    struct msg_bytes
#define MSG_CTYPE_opt_u64  struct msg_opt_u64
#define MSG_CTYPE_opt_bool struct msg_opt_bool
#define MSG_CTYPE_opt_str  char *
#define MSG_CTYPE_strlist  struct msg_strlist
#define MSG_CTYPE_strmap   struct msg_strmap

/* struct msg_<record>, struct msg_<record>_list, struct msg_<message>. */
#define MSG_X_FIELD(k, fld)  MSG_CTYPE_##k fld;
#define MSG_X_REC(fld, rec)  struct msg_##rec fld;
#define MSG_X_LIST(fld, rec) struct msg_##rec##_list fld;
#define MSG_X_NONE           char none_;
#define MSG_DEF_RECORD(rec, fields)                                                                \
	struct msg_##rec {                                                                         \
		fields                                                                             \
	};                                                                                         \
	struct msg_##rec##_list {                                                                  \
		struct msg_##rec *v;                                                               \
		uint32_t n;                                                                        \
	};
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)                                \
	struct msg_##name {                                                                        \
		fields                                                                             \
	};
#include "msg.def"
#undef MSG_X_FIELD
#undef MSG_X_REC
#undef MSG_X_LIST
#undef MSG_X_NONE
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE

/* MSG_TYPE_MAX is one past the last id, so ids are appended in order. */
enum msg_type {
	MSG_NONE = 0,
#define MSG_DEF_RECORD(rec, fields)
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields) MSG_##NAME = id,
#include "msg.def"
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE
	MSG_TYPE_MAX
};

struct msg {
	enum msg_type type;
	uint64_t req_id;
	union {
#define MSG_DEF_RECORD(rec, fields)
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields) struct msg_##name name;
#include "msg.def"
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE
	} u;
};

enum msg_err {
	MSG_OK = 0,
	MSG_EMALFORMED,    /* not msgpack, wrong field type, trailing bytes */
	MSG_EUNKNOWN_TYPE, /* a type number this build does not know */
	MSG_ESENDER,       /* the sender may not send this type */
	MSG_ETOOBIG,       /* a MSG_*_MAX limit passed */
	MSG_ENOMEM,
};

/* Appends one frame to out; -1 (out->err set) if out's cap is passed or a
 * value is over a MSG_*_MAX limit the peer would refuse. m is not changed;
 * NULL strings are sent as "". */
int msg_encode(const struct msg *m, struct buf *out);
/* sender: the MSG_PEER_* bit of the peer it came from, 0 not to check.
 * Every str field of the result is a heap string (never NULL, missing
 * fields are ""), except an absent opt_str. On error *out is zeroed. */
enum msg_err msg_decode(const void *p, size_t len, unsigned sender, struct msg *out);
const char *msg_err_str(enum msg_err e);
/* Frees what msg_decode() allocated, then zeroes *m; safe on a zeroed msg. */
void msg_free(struct msg *m);
/* One line for logs and tests: `PING req=3 nonce=5`. Long strings and
 * lists are cut short. Appends to out; -1 if out's cap is passed. */
int msg_format(const struct msg *m, struct buf *out);
/* "PING"; "UNKNOWN" for a type this build does not know. */
const char *msg_type_name(enum msg_type t);
/* Whether every bit of sender (receiver) is in the type's mask in msg.def;
 * false for 0 (nobody) and for an unknown type. */
bool msg_sender_allowed(enum msg_type t, unsigned sender);
bool msg_receiver_allowed(enum msg_type t, unsigned receiver);
bool msg_is_known(uint64_t type);

/*
 * Per-record codec, for records stored on their own (raftd's state tables)
 * and for deep copies: msg_rec_encode_<rec>() appends the record as one
 * msgpack array; msg_rec_decode_<rec>() reads exactly one (trailing bytes are
 * MSG_EMALFORMED) into a zeroed *out that msg_rec_free_<rec>() frees;
 * msg_rec_copy_<rec>() deep-copies (0, or -1 when out of memory; dst is
 * then zeroed).
 */
#define MSG_DEF_RECORD(rec, fields)                                                                \
	int msg_rec_encode_##rec(const struct msg_##rec *r, struct buf *out);                      \
	enum msg_err msg_rec_decode_##rec(const void *p, size_t len, struct msg_##rec *out);       \
	void msg_rec_free_##rec(struct msg_##rec *r);                                              \
	int msg_rec_copy_##rec(struct msg_##rec *dst, const struct msg_##rec *src);
#define MSG_DEF_MESSAGE(NAME, name, id, senders, receivers, fields)
#include "msg.def"
#undef MSG_DEF_RECORD
#undef MSG_DEF_MESSAGE

/* A deep copy of a whole message (0, or -1 with *dst zeroed). */
int msg_copy(struct msg *dst, const struct msg *src);

/* Fault injection for tests: the nth allocation msg_decode() makes from now
 * on fails (MSG_ENOMEM); 0 turns it off. */
void msg_test_fail_alloc(unsigned nth);

#endif

/* mlmap.h: swim.h's messages <-> memberlist's wire messages (mlwire.h), as swim.h's mapping
 * table says; pure. */
#ifndef MUSTER_GOSSIPD_MLMAP_H
#define MUSTER_GOSSIPD_MLMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "daemons/gossipd/mlwire.h"
#include "daemons/gossipd/swim.h"

/* Where a decoded message's strings live (swim wants them NUL-terminated; the wire's are
 * bytes): valid until the next decode into the same scratch. */
struct mlmap_scratch {
	char node[SWIM_NAME_MAX + 1];
	char from[SWIM_NAME_MAX + 1];
};

/* A core message (ping, indirect ping, ack, nack, suspect, alive, dead) of type `type` with
 * body (after the type byte) into m. 0, or -1 when malformed: bad msgpack, an address that is
 * not 4 or 16 bytes, a vsn of another length than 0 or 6, a name with a NUL byte or over
 * SWIM_NAME_MAX, or a type that is not a core message. */
int mlmap_decode(uint8_t type, const uint8_t *body, size_t len, struct swim_msg *m,
                 struct mlmap_scratch *sc);
/* Appends m (type byte + body; SWIM_MSG_USER as memberlist's user message). 0 or -1. */
int mlmap_encode(struct buf *b, const struct swim_msg *m);

/* Names and addresses. */
bool mlmap_addr(const struct mlwire_bytes *ip, uint16_t port, struct swim_addr *out);
/* An IPv4 or IPv6 address in text into a (port 0). 0, or -1 when it is not one. */
int mlmap_parse_ip(const char *s, struct swim_addr *a);
/* The text form "ip" (inet_ntop); out needs 46 bytes. */
const char *mlmap_ip_str(const struct swim_addr *a, char *out, size_t size);
/* "ip:port", "[ip6]:port". out needs 54 bytes. */
const char *mlmap_addr_str(const struct swim_addr *a, char *out, size_t size);

/* A push/pull's nodes. */
struct mlmap_push_state {
	struct swim_node_state *nodes;
	size_t n;
	char *names; /* one arena for every name */
};
/* Decodes the header and the n node states of a push/pull message body (after the type
 * byte); user_state points at the remote's Serf state (inside body). 0 or -1. Free with
 * mlmap_push_state_fini. */
int mlmap_decode_push_pull(const uint8_t *body, size_t len, struct mlwire_push_pull *hdr,
                           struct mlmap_push_state *st, const uint8_t **user_state,
                           size_t *user_state_len);
void mlmap_push_state_fini(struct mlmap_push_state *st);
/* Appends a whole push/pull message: header, the nodes, then the user state. 0 or -1. */
int mlmap_encode_push_pull(struct buf *b, const struct swim_node_state *nodes, size_t n,
                           const uint8_t *user_state, size_t user_state_len, bool join);

#endif

/* uevent.h: Consul's user events (§8.2): the msgpack body, filters, the agent's ring of recent events, pure. */
#ifndef MUSTER_GOSSIPD_UEVENT_H
#define MUSTER_GOSSIPD_UEVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * Spec: spec/http-api.md §2.12 (the JSON shape), §8.2 (fire and list);
 * Consul's agent/user_event.go and agent/event_endpoint.go. A Consul user
 * event travels as a Serf user event named UEVENT_PREFIX + name whose
 * payload is this module's encoding of struct uevent (Consul's UserEvent).
 */

/* Consul's eventBuf: how many accepted events an agent keeps */
#define UEVENT_BUF 256
/* the Serf event name prefix Consul uses (agent/consul/internal_endpoint.go) */
#define UEVENT_PREFIX "consul:event:"
/* userEventMaxVersion */
#define UEVENT_VERSION 1

/* Our bounds on what a decoded event may hold; Serf's own size limit
 * (512 bytes of name and payload by default, 9 KiB at most) keeps every
 * real event far below them. */
#define UEVENT_NAME_MAX    512
#define UEVENT_PAYLOAD_MAX (64u * 1024)
#define UEVENT_FILTER_MAX  512
/* the text of a UUID */
#define UEVENT_ID_LEN 36

struct uevent {
	char id[UEVENT_ID_LEN + 1]; /* UUID text, "" when absent */
	char *name;                 /* malloc'd, never NULL after decode */
	uint8_t *payload;           /* NULL/0 = none (JSON null) */
	size_t payload_len;
	char *node_filter; /* malloc'd, or NULL for none ("" never) */
	char *service_filter;
	char *tag_filter;
	uint64_t version;
	uint64_t ltime; /* Serf's LTime of the carrying event, not encoded */
};

/* Consul's validateUserEventParams: 0, or -1 with Consul's text in err:
 * "User event missing name", "Cannot provide tag filter without service
 * filter", "Invalid node filter: <why>", "Invalid service filter: <why>",
 * "Invalid tag filter: <why>" (<why> is ours, not Go's regexp message). */
int uevent_validate(const struct uevent *e, char *err, size_t err_size);

/* What Consul's encodeMsgPack(UserEvent) writes (go-msgpack, WriteExt):
 * a map keyed by the codec names in sorted order, "ID", "n", "nf" (omitempty),
 * "p" (omitempty, bin), "sf", "tf" (omitempty), "v"; strings as str with
 * str8. 0, or -1 (a field over our bounds, or out's cap passed). */
int uevent_encode(const struct uevent *e, struct buf *out);

/* Decodes a map in any key order: str or bin for any text or bytes, nil as
 * the zero value, unknown keys skipped, the last of duplicate keys taken,
 * bytes after the map ignored (as go-msgpack's Decode does). Refuses text
 * with a NUL, an ID longer than a UUID and fields over the bounds above.
 * 0, or -1 (e zeroed). Allocates: free with uevent_free. */
int uevent_decode(const uint8_t *p, size_t len, struct uevent *e);

/* Frees the members and zeroes e; NULL-safe. */
void uevent_free(struct uevent *e);
/* A deep copy into dst (overwritten, not freed first). 0 (allocation
 * failure aborts, xalloc.h). */
int uevent_copy(struct uevent *dst, const struct uevent *src);

/* A local service as Consul's filter sees it. Consul matches the service
 * filter against the key of the agent's service map, the service ID
 * (which is the name unless the registration gave an ID): pass that. */
struct uevent_service {
	const char *name;
	const char *const *tags;
	size_t n_tags;
};

/* Consul's shouldProcessUserEvent: the node filter must match node, and
 * the service filter must match one service (and, with a tag filter, one
 * of that service's tags). Matching is Go's MatchString, an unanchored
 * search (common/rex.h). A filter that does not compile: not accepted.
 * A version above UEVENT_VERSION is accepted (Consul only warns). */
bool uevent_accept(const struct uevent *e, const char *node, const struct uevent_service *svcs,
                   size_t n_svcs);

/* The ring of the last UEVENT_BUF accepted events (the oldest dropped). */
struct uevent_ring {
	struct uevent ev[UEVENT_BUF];
	size_t next, n;
};

void uevent_ring_init(struct uevent_ring *r);
void uevent_ring_fini(struct uevent_ring *r);
/* Takes e's memory; e is zeroed. */
void uevent_ring_push(struct uevent_ring *r, struct uevent *e);
/* Oldest first, only events named name_filter when it is non-NULL and
 * non-empty (exact match); at most max pointers into the ring; returns
 * the count. */
size_t uevent_ring_list(const struct uevent_ring *r, const char *name_filter,
                        const struct uevent **out, size_t max);

/* Consul's index of a listing (event_endpoint.go uuidToUint64): 1 when n
 * is 0, else the hex of id[0:8]+id[9:13]+id[14:18] XOR the hex of
 * id[19:23]+id[24:36] of the last event. Consul panics on a malformed ID;
 * we give 1. */
uint64_t uevent_index(const struct uevent *const *list, size_t n);
/* The same for one ID (0 when malformed). */
uint64_t uevent_id_index(const char *id);

#endif

/* serfwire.c: Serf's messages in memberlist user messages, tags, ping coordinates (§4.4), pure. */
#include "serfwire.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpk.h"
#include "xalloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct serfwire_bytes serfwire_cstr(const char *s)
{
	struct serfwire_bytes b = {(const uint8_t *)s, s != NULL ? strlen(s) : 0};

	return b;
}

bool serfwire_bytes_eq(struct serfwire_bytes b, const char *s)
{
	size_t n = strlen(s);

	return b.len == n && (n == 0 || memcmp(b.p, s, n) == 0);
}

char *serfwire_bytes_dup(struct serfwire_bytes b)
{
	char *s = xmalloc(b.len + 1);

	if (b.len > 0)
		memcpy(s, b.p, b.len);
	s[b.len] = '\0';
	return s;
}

static const char *const type_names[SERFWIRE_TYPE_COUNT] = {
    "leave",       "join",          "pushPull",         "userEvent",
    "query",       "queryResponse", "conflictResponse", "keyRequest",
    "keyResponse", "relay",
};

const char *serfwire_type_name(unsigned type)
{
	return type < SERFWIRE_TYPE_COUNT ? type_names[type] : "unknown";
}

/*
 * Decoding. A struct is a msgpack map read field by field; a key matched
 * against the struct's field names (exactly, as go-msgpack matches them);
 * unknown keys skipped. Like go-msgpack, nil decodes to the zero value and
 * bytes may be str or bin. Unlike it, a field given twice is refused: serf
 * never does that, and it would make us allocate twice.
 */
struct dec {
	struct cur c;
	const char *why; /* set by a limit failure; else the caller's generic text */
};

static void dec_fail(struct dec *d, const char *why)
{
	if (!d->c.err && d->why == NULL)
		d->why = why;
	cur_fail(&d->c);
}

static uint64_t rd_uint(struct dec *d, uint64_t max)
{
	uint64_t v;

	if (mpk_rd_try_nil(&d->c))
		return 0;
	v = mpk_rd_u64(&d->c);
	if (v > max) {
		cur_fail(&d->c);
		return 0;
	}
	return v;
}

static int64_t rd_int(struct dec *d)
{
	if (mpk_rd_try_nil(&d->c))
		return 0;
	return mpk_rd_i64(&d->c);
}

static bool rd_bool(struct dec *d)
{
	if (mpk_rd_try_nil(&d->c))
		return false;
	return mpk_rd_bool(&d->c);
}

static double rd_float(struct dec *d)
{
	if (mpk_rd_try_nil(&d->c))
		return 0;
	if (mpk_peek(&d->c) == MPK_INT)
		return (double)mpk_rd_i64(&d->c);
	return mpk_rd_f64(&d->c);
}

static void rd_bytes(struct dec *d, struct serfwire_bytes *v)
{
	size_t len = 0;

	v->p = NULL;
	v->len = 0;
	switch (mpk_peek(&d->c)) {
	case MPK_NIL:
		mpk_rd_nil(&d->c);
		return;
	case MPK_STR:
		v->p = (const uint8_t *)mpk_rd_str(&d->c, &len);
		break;
	case MPK_BIN:
		v->p = mpk_rd_bin(&d->c, &len);
		break;
	default:
		cur_fail(&d->c);
		return;
	}
	v->len = v->p != NULL ? len : 0;
}

/* An array or map header (nil counts as empty) of at most max entries. */
static uint32_t rd_count(struct dec *d, enum mpk_type type, uint32_t max, const char *why)
{
	uint32_t n;

	if (mpk_rd_try_nil(&d->c))
		return 0;
	n = type == MPK_ARRAY ? mpk_rd_array(&d->c) : mpk_rd_map(&d->c);
	if (n > max) {
		dec_fail(d, why);
		return 0;
	}
	return n;
}

/* The header of a struct: a map (nil is not accepted: serf never sends a
 * nil struct where a message is due). */
static uint32_t rd_struct(struct dec *d)
{
	return mpk_rd_map(&d->c);
}

/* Reads a key; returns its index in names, or -1 for an unknown one (the
 * caller skips its value). */
static int rd_key(struct dec *d, const char *const *names, size_t n, unsigned *seen)
{
	struct serfwire_bytes k;
	size_t i;

	rd_bytes(d, &k);
	if (!cur_ok(&d->c))
		return -1;
	for (i = 0; i < n; i++) {
		if (!serfwire_bytes_eq(k, names[i]))
			continue;
		if (*seen & (1u << i)) {
			dec_fail(d, "duplicate field");
			return -1;
		}
		*seen |= 1u << i;
		return (int)i;
	}
	return -1;
}

/* Field names, in the sorted order go-msgpack writes them (and our
 * encoders below); the enums index them. */
enum { LEAVE_LTIME, LEAVE_NODE, LEAVE_PRUNE };
static const char *const leave_keys[] = {"LTime", "Node", "Prune"};

enum { JOIN_LTIME, JOIN_NODE };
static const char *const join_keys[] = {"LTime", "Node"};

enum { PP_EVENT_LTIME, PP_EVENTS, PP_LTIME, PP_LEFT_MEMBERS, PP_QUERY_LTIME, PP_STATUS_LTIMES };
static const char *const pp_keys[] = {"EventLTime",  "Events",     "LTime",
                                      "LeftMembers", "QueryLTime", "StatusLTimes"};

enum { UES_EVENTS, UES_LTIME };
static const char *const ues_keys[] = {"Events", "LTime"};

enum { UE1_NAME, UE1_PAYLOAD };
static const char *const ue1_keys[] = {"Name", "Payload"};

enum { UE_CC, UE_LTIME, UE_NAME, UE_PAYLOAD };
static const char *const ue_keys[] = {"CC", "LTime", "Name", "Payload"};

enum {
	Q_ADDR,
	Q_FILTERS,
	Q_FLAGS,
	Q_ID,
	Q_LTIME,
	Q_NAME,
	Q_PAYLOAD,
	Q_PORT,
	Q_RELAY_FACTOR,
	Q_SOURCE_NODE,
	Q_TIMEOUT
};
static const char *const query_keys[] = {"Addr",        "Filters",    "Flags",   "ID",
                                         "LTime",       "Name",       "Payload", "Port",
                                         "RelayFactor", "SourceNode", "Timeout"};

enum { QR_FLAGS, QR_FROM, QR_ID, QR_LTIME, QR_PAYLOAD };
static const char *const qr_keys[] = {"Flags", "From", "ID", "LTime", "Payload"};

enum {
	M_ADDR,
	M_DELEGATE_CUR,
	M_DELEGATE_MAX,
	M_DELEGATE_MIN,
	M_NAME,
	M_PORT,
	M_PROTOCOL_CUR,
	M_PROTOCOL_MAX,
	M_PROTOCOL_MIN,
	M_STATUS,
	M_TAGS
};
static const char *const member_keys[] = {
    "Addr",        "DelegateCur", "DelegateMax", "DelegateMin", "Name", "Port",
    "ProtocolCur", "ProtocolMax", "ProtocolMin", "Status",      "Tags"};

enum { KQ_KEY };
static const char *const kreq_keys[] = {"Key"};

enum { KR_KEYS, KR_MESSAGE, KR_PRIMARY_KEY, KR_RESULT };
static const char *const kresp_keys[] = {"Keys", "Message", "PrimaryKey", "Result"};

enum { RH_DEST_ADDR };
static const char *const relay_keys[] = {"DestAddr"};

enum { UDP_IP, UDP_PORT, UDP_ZONE };
static const char *const udp_keys[] = {"IP", "Port", "Zone"};

enum { FT_EXPR, FT_TAG };
static const char *const ftag_keys[] = {"Expr", "Tag"};

enum { C_ADJUSTMENT, C_ERROR, C_HEIGHT, C_VEC };
static const char *const coord_keys[] = {"Adjustment", "Error", "Height", "Vec"};

#define KEY(d, keys, seen) rd_key((d), (keys), NELEM(keys), (seen))

static void dec_leave(struct dec *d, struct serfwire_leave *m)
{
	uint32_t i, n = rd_struct(d);
	unsigned seen = 0;

	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, leave_keys, &seen)) {
		case LEAVE_LTIME:
			m->ltime = rd_uint(d, UINT64_MAX);
			break;
		case LEAVE_NODE:
			rd_bytes(d, &m->node);
			break;
		case LEAVE_PRUNE:
			m->prune = rd_bool(d);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
}

static void dec_join(struct dec *d, struct serfwire_join *m)
{
	uint32_t i, n = rd_struct(d);
	unsigned seen = 0;

	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, join_keys, &seen)) {
		case JOIN_LTIME:
			m->ltime = rd_uint(d, UINT64_MAX);
			break;
		case JOIN_NODE:
			rd_bytes(d, &m->node);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
}

/* An event's name and payload: serf refuses to send more than its sane
 * limit, so more is not an event of serf's. */
static void check_event_size(struct dec *d, const struct serfwire_bytes *name,
                             const struct serfwire_bytes *payload)
{
	if (name->len + payload->len > SERFWIRE_USER_EVENT_SIZE_MAX)
		dec_fail(d, "user event over serf's size limit");
}

static void dec_event(struct dec *d, struct serfwire_event *e)
{
	uint32_t i, n = rd_struct(d);
	unsigned seen = 0;

	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, ue1_keys, &seen)) {
		case UE1_NAME:
			rd_bytes(d, &e->name);
			break;
		case UE1_PAYLOAD:
			rd_bytes(d, &e->payload);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
	check_event_size(d, &e->name, &e->payload);
}

static void dec_event_slot(struct dec *d, struct serfwire_event_slot *s)
{
	uint32_t i, n;
	unsigned seen = 0;

	if (mpk_rd_try_nil(&d->c))
		return;
	s->present = true;
	n = rd_struct(d);
	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, ues_keys, &seen)) {
		case UES_EVENTS: {
			uint32_t j, k = rd_count(d, MPK_ARRAY, SERFWIRE_EVENTS_PER_LTIME_MAX,
			                         "too many events at one Lamport time");

			if (k == 0)
				break;
			s->events = xcalloc(k, sizeof(*s->events));
			s->n_events = k;
			for (j = 0; j < k && cur_ok(&d->c); j++)
				dec_event(d, &s->events[j]);
			break;
		}
		case UES_LTIME:
			s->ltime = rd_uint(d, UINT64_MAX);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
}

static void dec_push_pull(struct dec *d, struct serfwire_push_pull *m)
{
	uint32_t i, j, k, n = rd_struct(d);
	unsigned seen = 0;

	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, pp_keys, &seen)) {
		case PP_EVENT_LTIME:
			m->event_ltime = rd_uint(d, UINT64_MAX);
			break;
		case PP_EVENTS:
			k = rd_count(d, MPK_ARRAY, SERFWIRE_EVENT_BUFFER, "too many event slots");
			if (k == 0)
				break;
			m->events = xcalloc(k, sizeof(*m->events));
			m->n_events = k;
			for (j = 0; j < k && cur_ok(&d->c); j++)
				dec_event_slot(d, &m->events[j]);
			break;
		case PP_LTIME:
			m->ltime = rd_uint(d, UINT64_MAX);
			break;
		case PP_LEFT_MEMBERS:
			k = rd_count(d, MPK_ARRAY, SERFWIRE_MEMBERS_MAX, "too many left members");
			if (k == 0)
				break;
			m->left_members = xcalloc(k, sizeof(*m->left_members));
			m->n_left_members = k;
			for (j = 0; j < k && cur_ok(&d->c); j++)
				rd_bytes(d, &m->left_members[j]);
			break;
		case PP_QUERY_LTIME:
			m->query_ltime = rd_uint(d, UINT64_MAX);
			break;
		case PP_STATUS_LTIMES:
			k = rd_count(d, MPK_MAP, SERFWIRE_MEMBERS_MAX, "too many members");
			if (k == 0)
				break;
			m->status_ltimes = xcalloc(k, sizeof(*m->status_ltimes));
			m->n_status_ltimes = k;
			for (j = 0; j < k && cur_ok(&d->c); j++) {
				rd_bytes(d, &m->status_ltimes[j].node);
				m->status_ltimes[j].ltime = rd_uint(d, UINT64_MAX);
			}
			break;
		default:
			mpk_skip(&d->c);
		}
	}
}

static void dec_user_event(struct dec *d, struct serfwire_user_event *m)
{
	uint32_t i, n = rd_struct(d);
	unsigned seen = 0;

	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, ue_keys, &seen)) {
		case UE_CC:
			m->cc = rd_bool(d);
			break;
		case UE_LTIME:
			m->ltime = rd_uint(d, UINT64_MAX);
			break;
		case UE_NAME:
			rd_bytes(d, &m->name);
			break;
		case UE_PAYLOAD:
			rd_bytes(d, &m->payload);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
	check_event_size(d, &m->name, &m->payload);
}

static void dec_query(struct dec *d, struct serfwire_query *m)
{
	uint32_t i, j, k, n = rd_struct(d);
	unsigned seen = 0;

	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, query_keys, &seen)) {
		case Q_ADDR:
			rd_bytes(d, &m->addr);
			break;
		case Q_FILTERS:
			k = rd_count(d, MPK_ARRAY, SERFWIRE_QUERY_FILTERS_MAX,
			             "too many query filters");
			m->n_filters = k;
			for (j = 0; j < k && cur_ok(&d->c); j++)
				rd_bytes(d, &m->filters[j]);
			break;
		case Q_FLAGS:
			m->flags = (uint32_t)rd_uint(d, UINT32_MAX);
			break;
		case Q_ID:
			m->id = (uint32_t)rd_uint(d, UINT32_MAX);
			break;
		case Q_LTIME:
			m->ltime = rd_uint(d, UINT64_MAX);
			break;
		case Q_NAME:
			rd_bytes(d, &m->name);
			break;
		case Q_PAYLOAD:
			rd_bytes(d, &m->payload);
			break;
		case Q_PORT:
			m->port = (uint16_t)rd_uint(d, UINT16_MAX);
			break;
		case Q_RELAY_FACTOR:
			m->relay_factor = (uint8_t)rd_uint(d, UINT8_MAX);
			break;
		case Q_SOURCE_NODE:
			rd_bytes(d, &m->source_node);
			break;
		case Q_TIMEOUT:
			m->timeout_ns = rd_int(d);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
}

static void dec_query_response(struct dec *d, struct serfwire_query_response *m)
{
	uint32_t i, n = rd_struct(d);
	unsigned seen = 0;

	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, qr_keys, &seen)) {
		case QR_FLAGS:
			m->flags = (uint32_t)rd_uint(d, UINT32_MAX);
			break;
		case QR_FROM:
			rd_bytes(d, &m->from);
			break;
		case QR_ID:
			m->id = (uint32_t)rd_uint(d, UINT32_MAX);
			break;
		case QR_LTIME:
			m->ltime = rd_uint(d, UINT64_MAX);
			break;
		case QR_PAYLOAD:
			rd_bytes(d, &m->payload);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
}

/* A map[string]string into t (nil is empty). */
static void dec_tag_map(struct dec *d, struct serfwire_tags *t)
{
	uint32_t i, n = rd_count(d, MPK_MAP, SERFWIRE_TAGS_MAX, "too many tags");

	t->n = 0;
	for (i = 0; i < n && cur_ok(&d->c); i++) {
		rd_bytes(d, &t->tag[i].key);
		rd_bytes(d, &t->tag[i].value);
		t->n = i + 1;
	}
}

static void dec_conflict_response(struct dec *d, struct serfwire_conflict_response *m)
{
	struct serfwire_member *mb = &m->member;
	uint32_t i, n;
	unsigned seen = 0;

	if (mpk_rd_try_nil(&d->c))
		return;
	m->present = true;
	n = rd_struct(d);
	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, member_keys, &seen)) {
		case M_ADDR:
			rd_bytes(d, &mb->addr);
			break;
		case M_DELEGATE_CUR:
			mb->delegate_cur = (uint8_t)rd_uint(d, UINT8_MAX);
			break;
		case M_DELEGATE_MAX:
			mb->delegate_max = (uint8_t)rd_uint(d, UINT8_MAX);
			break;
		case M_DELEGATE_MIN:
			mb->delegate_min = (uint8_t)rd_uint(d, UINT8_MAX);
			break;
		case M_NAME:
			rd_bytes(d, &mb->name);
			break;
		case M_PORT:
			mb->port = (uint16_t)rd_uint(d, UINT16_MAX);
			break;
		case M_PROTOCOL_CUR:
			mb->protocol_cur = (uint8_t)rd_uint(d, UINT8_MAX);
			break;
		case M_PROTOCOL_MAX:
			mb->protocol_max = (uint8_t)rd_uint(d, UINT8_MAX);
			break;
		case M_PROTOCOL_MIN:
			mb->protocol_min = (uint8_t)rd_uint(d, UINT8_MAX);
			break;
		case M_STATUS:
			mb->status = rd_int(d);
			break;
		case M_TAGS:
			dec_tag_map(d, &mb->tags);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
}

static void dec_key_request(struct dec *d, struct serfwire_key_request *m)
{
	uint32_t i, n = rd_struct(d);
	unsigned seen = 0;

	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, kreq_keys, &seen)) {
		case KQ_KEY:
			rd_bytes(d, &m->key);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
}

static void dec_key_response(struct dec *d, struct serfwire_key_response *m)
{
	uint32_t i, j, k, n = rd_struct(d);
	unsigned seen = 0;

	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, kresp_keys, &seen)) {
		case KR_KEYS:
			k = rd_count(d, MPK_ARRAY, SERFWIRE_KEYS_MAX, "too many keys");
			m->n_keys = k;
			for (j = 0; j < k && cur_ok(&d->c); j++)
				rd_bytes(d, &m->keys[j]);
			break;
		case KR_MESSAGE:
			rd_bytes(d, &m->message);
			break;
		case KR_PRIMARY_KEY:
			rd_bytes(d, &m->primary_key);
			break;
		case KR_RESULT:
			m->result = rd_bool(d);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
}

/* net.UDPAddr{IP, Port int, Zone}. */
static void dec_udp_addr(struct dec *d, struct serfwire_relay *m)
{
	uint32_t i, n = rd_struct(d);
	unsigned seen = 0;
	int64_t port;

	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, udp_keys, &seen)) {
		case UDP_IP:
			rd_bytes(d, &m->dest_ip);
			break;
		case UDP_PORT:
			port = rd_int(d);
			if (port < 0 || port > UINT16_MAX)
				cur_fail(&d->c);
			m->dest_port = (uint16_t)port;
			break;
		case UDP_ZONE:
			rd_bytes(d, &m->dest_zone);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
}

static void dec_relay(struct dec *d, struct serfwire_relay *m)
{
	uint32_t i, n = rd_struct(d);
	unsigned seen = 0;
	size_t left;

	for (i = 0; i < n && cur_ok(&d->c); i++) {
		switch (KEY(d, relay_keys, &seen)) {
		case RH_DEST_ADDR:
			dec_udp_addr(d, m);
			break;
		default:
			mpk_skip(&d->c);
		}
	}
	/* The rest is the message to forward, at least its type byte. */
	left = cur_left(&d->c);
	if (left == 0) {
		dec_fail(d, "relay without a message");
		return;
	}
	m->msg.p = cur_take(&d->c, left);
	m->msg.len = left;
}

static const char *const malformed[SERFWIRE_TYPE_COUNT] = {
    "malformed leave message",     "malformed join message", "malformed push-pull state",
    "malformed user event",        "malformed query",        "malformed query response",
    "malformed conflict response", "malformed key request",  "malformed key response",
    "malformed relay message",
};

int serfwire_decode(const uint8_t *p, size_t len, struct serfwire_msg *m, const char **why)
{
	struct dec d = {.why = NULL};
	const char *ignored;

	if (why == NULL)
		why = &ignored;
	memset(m, 0, sizeof(*m));
	if (len == 0) {
		*why = "empty serf message";
		return -1;
	}
	if (p[0] >= SERFWIRE_TYPE_COUNT) {
		*why = "unknown serf message type";
		return -1;
	}
	m->type = (enum serfwire_type)p[0];
	cur_init(&d.c, p + 1, len - 1);
	switch (m->type) {
	case SERFWIRE_LEAVE:
		dec_leave(&d, &m->u.leave);
		break;
	case SERFWIRE_JOIN:
		dec_join(&d, &m->u.join);
		break;
	case SERFWIRE_PUSH_PULL:
		dec_push_pull(&d, &m->u.push_pull);
		break;
	case SERFWIRE_USER_EVENT:
		dec_user_event(&d, &m->u.user_event);
		break;
	case SERFWIRE_QUERY:
		dec_query(&d, &m->u.query);
		break;
	case SERFWIRE_QUERY_RESPONSE:
		dec_query_response(&d, &m->u.query_response);
		break;
	case SERFWIRE_CONFLICT_RESPONSE:
		dec_conflict_response(&d, &m->u.conflict_response);
		break;
	case SERFWIRE_KEY_REQUEST:
		dec_key_request(&d, &m->u.key_request);
		break;
	case SERFWIRE_KEY_RESPONSE:
		dec_key_response(&d, &m->u.key_response);
		break;
	case SERFWIRE_RELAY:
		dec_relay(&d, &m->u.relay);
		break;
	}
	if (!cur_ok(&d.c)) {
		*why = d.why != NULL ? d.why : malformed[m->type];
		serfwire_msg_fini(m);
		return -1;
	}
	return 0;
}

void serfwire_msg_fini(struct serfwire_msg *m)
{
	struct serfwire_push_pull *pp;
	size_t i;

	if (m == NULL)
		return;
	if (m->type == SERFWIRE_PUSH_PULL) {
		pp = &m->u.push_pull;
		free(pp->status_ltimes);
		free(pp->left_members);
		for (i = 0; i < pp->n_events; i++)
			free(pp->events[i].events);
		free(pp->events);
	}
	memset(&m->u, 0, sizeof(m->u));
}

/*
 * Encoding: fields in sorted order (see serfwire.h), every field written
 * (serf's structs have no omitempty).
 *
 * Strings and []byte: go-msgpack writes the old msgpack "raw" format,
 * which has no 8-bit length (0xd9 came later): 32 to 255 bytes take str16
 * (the captures' 130-byte ack payloads are "da 00 82"). mpk_wr_str would
 * pick str8, so strings go through mpk_wr_raw to stay byte for byte serf's.
 */
static void wr_raw(struct buf *b, const void *p, size_t len)
{
	mpk_wr_raw(b, p, len);
}

static void wr_key(struct buf *b, const char *k)
{
	wr_raw(b, k, strlen(k));
}

/* A Go []byte: nil or str. */
static void wr_bytes(struct buf *b, struct serfwire_bytes v)
{
	if (v.p == NULL)
		mpk_wr_nil(b);
	else
		wr_raw(b, v.p, v.len);
}

/* A Go string: never nil. */
static void wr_string(struct buf *b, struct serfwire_bytes v)
{
	wr_raw(b, v.p, v.p != NULL ? v.len : 0);
}

/* Ends an encoding begun at start: rolls back on a full buffer or past a
 * limit (0 = none). */
static int enc_end(struct buf *b, size_t start, size_t limit, const char *limit_why,
                   const char **why)
{
	const char *w = NULL;

	if (b->err)
		w = "serf message does not fit the buffer";
	else if (limit != 0 && b->len - start > limit)
		w = limit_why;
	if (w == NULL)
		return 0;
	b->len = start;
	if (why != NULL)
		*why = w;
	return -1;
}

int serfwire_encode_leave(struct buf *b, const struct serfwire_leave *m, const char **why)
{
	size_t start = b->len;

	buf_putc(b, SERFWIRE_LEAVE);
	mpk_wr_map(b, 3);
	wr_key(b, "LTime");
	mpk_wr_uint(b, m->ltime);
	wr_key(b, "Node");
	wr_string(b, m->node);
	wr_key(b, "Prune");
	mpk_wr_bool(b, m->prune);
	return enc_end(b, start, 0, NULL, why);
}

int serfwire_encode_join(struct buf *b, const struct serfwire_join *m, const char **why)
{
	size_t start = b->len;

	buf_putc(b, SERFWIRE_JOIN);
	mpk_wr_map(b, 2);
	wr_key(b, "LTime");
	mpk_wr_uint(b, m->ltime);
	wr_key(b, "Node");
	wr_string(b, m->node);
	return enc_end(b, start, 0, NULL, why);
}

int serfwire_encode_push_pull(struct buf *b, const struct serfwire_push_pull *m, const char **why)
{
	size_t start = b->len, i, j;
	const struct serfwire_event_slot *s;

	if (m->n_events > SERFWIRE_EVENT_BUFFER || m->n_status_ltimes > SERFWIRE_MEMBERS_MAX ||
	    m->n_left_members > SERFWIRE_MEMBERS_MAX) {
		if (why != NULL)
			*why = "push-pull state over our limits";
		return -1;
	}
	buf_putc(b, SERFWIRE_PUSH_PULL);
	mpk_wr_map(b, 6);
	wr_key(b, "EventLTime");
	mpk_wr_uint(b, m->event_ltime);
	wr_key(b, "Events");
	mpk_wr_array(b, (uint32_t)m->n_events);
	for (i = 0; i < m->n_events; i++) {
		s = &m->events[i];
		if (!s->present) {
			mpk_wr_nil(b);
			continue;
		}
		mpk_wr_map(b, 2);
		wr_key(b, "Events");
		mpk_wr_array(b, (uint32_t)s->n_events);
		for (j = 0; j < s->n_events; j++) {
			mpk_wr_map(b, 2);
			wr_key(b, "Name");
			wr_string(b, s->events[j].name);
			wr_key(b, "Payload");
			wr_bytes(b, s->events[j].payload);
		}
		wr_key(b, "LTime");
		mpk_wr_uint(b, s->ltime);
	}
	wr_key(b, "LTime");
	mpk_wr_uint(b, m->ltime);
	wr_key(b, "LeftMembers");
	mpk_wr_array(b, (uint32_t)m->n_left_members);
	for (i = 0; i < m->n_left_members; i++)
		wr_string(b, m->left_members[i]);
	wr_key(b, "QueryLTime");
	mpk_wr_uint(b, m->query_ltime);
	wr_key(b, "StatusLTimes");
	mpk_wr_map(b, (uint32_t)m->n_status_ltimes);
	for (i = 0; i < m->n_status_ltimes; i++) {
		wr_string(b, m->status_ltimes[i].node);
		mpk_wr_uint(b, m->status_ltimes[i].ltime);
	}
	return enc_end(b, start, 0, NULL, why);
}

int serfwire_encode_user_event(struct buf *b, const struct serfwire_user_event *m, const char **why)
{
	size_t start = b->len;

	/* serf's UserEvent checks name+payload, then the encoded message,
	 * against UserEventSizeLimit; Consul keeps the default 512. */
	if (m->name.len + m->payload.len > SERFWIRE_USER_EVENT_SIZE_LIMIT) {
		if (why != NULL)
			*why = "user event exceeds configured limit of 512 bytes before encoding";
		return -1;
	}
	buf_putc(b, SERFWIRE_USER_EVENT);
	mpk_wr_map(b, 4);
	wr_key(b, "CC");
	mpk_wr_bool(b, m->cc);
	wr_key(b, "LTime");
	mpk_wr_uint(b, m->ltime);
	wr_key(b, "Name");
	wr_string(b, m->name);
	wr_key(b, "Payload");
	wr_bytes(b, m->payload);
	return enc_end(b, start, SERFWIRE_USER_EVENT_SIZE_LIMIT,
	               "encoded user event exceeds configured limit of 512 bytes after encoding",
	               why);
}

int serfwire_encode_query(struct buf *b, const struct serfwire_query *m, const char **why)
{
	size_t start = b->len, i;

	if (m->n_filters > SERFWIRE_QUERY_FILTERS_MAX) {
		if (why != NULL)
			*why = "too many query filters";
		return -1;
	}
	buf_putc(b, SERFWIRE_QUERY);
	mpk_wr_map(b, 11);
	wr_key(b, "Addr");
	wr_bytes(b, m->addr);
	wr_key(b, "Filters");
	/* serf appends to a nil [][]byte: no filter is nil */
	if (m->n_filters == 0)
		mpk_wr_nil(b);
	else
		mpk_wr_array(b, (uint32_t)m->n_filters);
	for (i = 0; i < m->n_filters; i++)
		wr_bytes(b, m->filters[i]);
	wr_key(b, "Flags");
	mpk_wr_uint(b, m->flags);
	wr_key(b, "ID");
	mpk_wr_uint(b, m->id);
	wr_key(b, "LTime");
	mpk_wr_uint(b, m->ltime);
	wr_key(b, "Name");
	wr_string(b, m->name);
	wr_key(b, "Payload");
	wr_bytes(b, m->payload);
	wr_key(b, "Port");
	mpk_wr_uint(b, m->port);
	wr_key(b, "RelayFactor");
	mpk_wr_uint(b, m->relay_factor);
	wr_key(b, "SourceNode");
	wr_string(b, m->source_node);
	wr_key(b, "Timeout");
	mpk_wr_int(b, m->timeout_ns);
	return enc_end(b, start, SERFWIRE_QUERY_SIZE_LIMIT, "query exceeds limit of 1024 bytes",
	               why);
}

int serfwire_encode_query_response(struct buf *b, const struct serfwire_query_response *m,
                                   const char **why)
{
	size_t start = b->len;

	buf_putc(b, SERFWIRE_QUERY_RESPONSE);
	mpk_wr_map(b, 5);
	wr_key(b, "Flags");
	mpk_wr_uint(b, m->flags);
	wr_key(b, "From");
	wr_string(b, m->from);
	wr_key(b, "ID");
	mpk_wr_uint(b, m->id);
	wr_key(b, "LTime");
	mpk_wr_uint(b, m->ltime);
	wr_key(b, "Payload");
	wr_bytes(b, m->payload);
	return enc_end(b, start, SERFWIRE_QUERY_RESPONSE_SIZE_LIMIT,
	               "response exceeds limit of 1024 bytes", why);
}

static void wr_tag_map(struct buf *b, const struct serfwire_tags *t)
{
	size_t i;

	mpk_wr_map(b, (uint32_t)t->n);
	for (i = 0; i < t->n; i++) {
		wr_string(b, t->tag[i].key);
		wr_string(b, t->tag[i].value);
	}
}

int serfwire_encode_conflict_response(struct buf *b, const struct serfwire_conflict_response *m,
                                      const char **why)
{
	const struct serfwire_member *mb = &m->member;
	size_t start = b->len;

	if (m->present && mb->tags.n > SERFWIRE_TAGS_MAX) {
		if (why != NULL)
			*why = "too many tags";
		return -1;
	}
	buf_putc(b, SERFWIRE_CONFLICT_RESPONSE);
	if (!m->present) {
		mpk_wr_nil(b);
		return enc_end(b, start, 0, NULL, why);
	}
	mpk_wr_map(b, 11);
	wr_key(b, "Addr");
	wr_bytes(b, mb->addr);
	wr_key(b, "DelegateCur");
	mpk_wr_uint(b, mb->delegate_cur);
	wr_key(b, "DelegateMax");
	mpk_wr_uint(b, mb->delegate_max);
	wr_key(b, "DelegateMin");
	mpk_wr_uint(b, mb->delegate_min);
	wr_key(b, "Name");
	wr_string(b, mb->name);
	wr_key(b, "Port");
	mpk_wr_uint(b, mb->port);
	wr_key(b, "ProtocolCur");
	mpk_wr_uint(b, mb->protocol_cur);
	wr_key(b, "ProtocolMax");
	mpk_wr_uint(b, mb->protocol_max);
	wr_key(b, "ProtocolMin");
	mpk_wr_uint(b, mb->protocol_min);
	wr_key(b, "Status");
	mpk_wr_int(b, mb->status);
	wr_key(b, "Tags");
	wr_tag_map(b, &mb->tags);
	return enc_end(b, start, 0, NULL, why);
}

int serfwire_encode_key_request(struct buf *b, const struct serfwire_key_request *m,
                                const char **why)
{
	size_t start = b->len;

	buf_putc(b, SERFWIRE_KEY_REQUEST);
	mpk_wr_map(b, 1);
	wr_key(b, "Key");
	wr_bytes(b, m->key);
	return enc_end(b, start, 0, NULL, why);
}

int serfwire_encode_key_response(struct buf *b, const struct serfwire_key_response *m,
                                 const char **why)
{
	size_t start = b->len, i;

	if (m->n_keys > SERFWIRE_KEYS_MAX) {
		if (why != NULL)
			*why = "too many keys";
		return -1;
	}
	buf_putc(b, SERFWIRE_KEY_RESPONSE);
	mpk_wr_map(b, 4);
	wr_key(b, "Keys");
	/* nil unless a list-keys answer appended some */
	if (m->n_keys == 0)
		mpk_wr_nil(b);
	else
		mpk_wr_array(b, (uint32_t)m->n_keys);
	for (i = 0; i < m->n_keys; i++)
		wr_string(b, m->keys[i]);
	wr_key(b, "Message");
	wr_string(b, m->message);
	wr_key(b, "PrimaryKey");
	wr_string(b, m->primary_key);
	wr_key(b, "Result");
	mpk_wr_bool(b, m->result);
	return enc_end(b, start, 0, NULL, why);
}

int serfwire_encode_relay(struct buf *b, const struct serfwire_relay *m, const char **why)
{
	size_t start = b->len;

	if (m->msg.p == NULL || m->msg.len == 0) {
		if (why != NULL)
			*why = "relay without a message";
		return -1;
	}
	buf_putc(b, SERFWIRE_RELAY);
	mpk_wr_map(b, 1);
	wr_key(b, "DestAddr");
	mpk_wr_map(b, 3);
	wr_key(b, "IP");
	wr_bytes(b, m->dest_ip);
	wr_key(b, "Port");
	mpk_wr_uint(b, m->dest_port);
	wr_key(b, "Zone");
	wr_string(b, m->dest_zone);
	buf_append(b, m->msg.p, m->msg.len);
	return enc_end(b, start, 0, NULL, why);
}

int serfwire_encode(struct buf *b, const struct serfwire_msg *m, const char **why)
{
	switch (m->type) {
	case SERFWIRE_LEAVE:
		return serfwire_encode_leave(b, &m->u.leave, why);
	case SERFWIRE_JOIN:
		return serfwire_encode_join(b, &m->u.join, why);
	case SERFWIRE_PUSH_PULL:
		return serfwire_encode_push_pull(b, &m->u.push_pull, why);
	case SERFWIRE_USER_EVENT:
		return serfwire_encode_user_event(b, &m->u.user_event, why);
	case SERFWIRE_QUERY:
		return serfwire_encode_query(b, &m->u.query, why);
	case SERFWIRE_QUERY_RESPONSE:
		return serfwire_encode_query_response(b, &m->u.query_response, why);
	case SERFWIRE_CONFLICT_RESPONSE:
		return serfwire_encode_conflict_response(b, &m->u.conflict_response, why);
	case SERFWIRE_KEY_REQUEST:
		return serfwire_encode_key_request(b, &m->u.key_request, why);
	case SERFWIRE_KEY_RESPONSE:
		return serfwire_encode_key_response(b, &m->u.key_response, why);
	case SERFWIRE_RELAY:
		return serfwire_encode_relay(b, &m->u.relay, why);
	}
	if (why != NULL)
		*why = "unknown serf message type";
	return -1;
}

/* Query filters (serf/messages.go encodeFilter). */
int serfwire_filter_decode(const uint8_t *p, size_t len, struct serfwire_filter *f,
                           const char **why)
{
	struct dec d = {.why = NULL};
	const char *ignored;
	uint32_t i, n;
	unsigned seen = 0;

	if (why == NULL)
		why = &ignored;
	memset(f, 0, sizeof(*f));
	if (len == 0) {
		*why = "empty query filter";
		return -1;
	}
	cur_init(&d.c, p + 1, len - 1);
	switch (p[0]) {
	case SERFWIRE_FILTER_NODE:
		f->type = SERFWIRE_FILTER_NODE;
		n = rd_count(&d, MPK_ARRAY, SERFWIRE_FILTER_NODES_MAX,
		             "too many nodes in a filter");
		if (n == 0)
			break;
		f->nodes = xcalloc(n, sizeof(*f->nodes));
		f->n_nodes = n;
		for (i = 0; i < n && cur_ok(&d.c); i++)
			rd_bytes(&d, &f->nodes[i]);
		break;
	case SERFWIRE_FILTER_TAG:
		f->type = SERFWIRE_FILTER_TAG;
		n = rd_struct(&d);
		for (i = 0; i < n && cur_ok(&d.c); i++) {
			switch (KEY(&d, ftag_keys, &seen)) {
			case FT_EXPR:
				rd_bytes(&d, &f->expr);
				break;
			case FT_TAG:
				rd_bytes(&d, &f->tag);
				break;
			default:
				mpk_skip(&d.c);
			}
		}
		break;
	default:
		*why = "unknown query filter type";
		return -1;
	}
	if (!cur_ok(&d.c)) {
		*why = d.why != NULL ? d.why : "malformed query filter";
		serfwire_filter_fini(f);
		return -1;
	}
	return 0;
}

void serfwire_filter_fini(struct serfwire_filter *f)
{
	if (f == NULL)
		return;
	free(f->nodes);
	f->nodes = NULL;
	f->n_nodes = 0;
}

int serfwire_filter_encode(struct buf *b, const struct serfwire_filter *f, const char **why)
{
	size_t start = b->len, i;

	switch (f->type) {
	case SERFWIRE_FILTER_NODE:
		if (f->n_nodes > SERFWIRE_FILTER_NODES_MAX) {
			if (why != NULL)
				*why = "too many nodes in a filter";
			return -1;
		}
		buf_putc(b, SERFWIRE_FILTER_NODE);
		mpk_wr_array(b, (uint32_t)f->n_nodes);
		for (i = 0; i < f->n_nodes; i++)
			wr_string(b, f->nodes[i]);
		break;
	case SERFWIRE_FILTER_TAG:
		buf_putc(b, SERFWIRE_FILTER_TAG);
		mpk_wr_map(b, 2);
		wr_key(b, "Expr");
		wr_string(b, f->expr);
		wr_key(b, "Tag");
		wr_string(b, f->tag);
		break;
	default:
		if (why != NULL)
			*why = "unknown query filter type";
		return -1;
	}
	return enc_end(b, start, 0, NULL, why);
}

/* Tags (serf.go encodeTags/decodeTags). */
int serfwire_tags_decode(const uint8_t *meta, size_t len, struct serfwire_tags *t, const char **why)
{
	struct dec d = {.why = NULL};
	const char *ignored;

	if (why == NULL)
		why = &ignored;
	t->n = 0;
	if (len == 0 || meta[0] != SERFWIRE_TAG_MAGIC) {
		/* Serf protocol < 3 put the role there, raw; serf reads an empty
		 * Meta the same way, as role "". */
		t->tag[0].key = serfwire_cstr("role");
		t->tag[0].value.p = len > 0 ? meta : (const uint8_t *)"";
		t->tag[0].value.len = len;
		t->n = 1;
		return 0;
	}
	cur_init(&d.c, meta + 1, len - 1);
	dec_tag_map(&d, t);
	if (!cur_ok(&d.c)) {
		*why = d.why != NULL ? d.why : "malformed tags";
		t->n = 0;
		return -1;
	}
	return 0;
}

int serfwire_tags_encode(struct buf *b, const struct serfwire_tags *t, const char **why)
{
	size_t start = b->len;

	if (t->n > SERFWIRE_TAGS_MAX) {
		if (why != NULL)
			*why = "too many tags";
		return -1;
	}
	buf_putc(b, SERFWIRE_TAG_MAGIC);
	wr_tag_map(b, t);
	return enc_end(b, start, SERFWIRE_META_MAX,
	               "encoded length of tags exceeds limit of 512 bytes", why);
}

const struct serfwire_bytes *serfwire_tags_get(const struct serfwire_tags *t, const char *key)
{
	size_t i;

	for (i = t->n; i > 0; i--)
		if (serfwire_bytes_eq(t->tag[i - 1].key, key))
			return &t->tag[i - 1].value;
	return NULL;
}

int serfwire_tags_add(struct serfwire_tags *t, const char *key, const char *value)
{
	if (t->n >= SERFWIRE_TAGS_MAX)
		return -1;
	t->tag[t->n].key = serfwire_cstr(key);
	t->tag[t->n].value = serfwire_cstr(value != NULL ? value : "");
	t->n++;
	return 0;
}

/* Consul's tags (agent/consul/server_serf.go and client_serf.go set them;
 * §4.4 lists them). */
int serfwire_consul_meta(struct buf *b, const struct serfwire_consul_conf *c, const char **why)
{
	struct serfwire_tags t;
	char vsn[3][12], port[12], raft_vsn[12], wan[12], expect[12], build[SERFWIRE_META_MAX + 1];
	int n;
	size_t i;

	if (c->dc == NULL || c->node_id == NULL || c->version == NULL || c->revision == NULL) {
		if (why != NULL)
			*why = "consul tags: dc, id or build missing";
		return -1;
	}
	if (c->n_extra > SERFWIRE_CONSUL_EXTRA_MAX) {
		if (why != NULL)
			*why = "consul tags: too many extra tags";
		return -1;
	}
	n = snprintf(build, sizeof(build), "%s:%s", c->version, c->revision);
	if (n < 0 || (size_t)n >= sizeof(build)) {
		if (why != NULL)
			*why = "encoded length of tags exceeds limit of 512 bytes";
		return -1;
	}
	snprintf(vsn[0], sizeof(vsn[0]), "%d", SERFWIRE_CONSUL_VSN);
	snprintf(vsn[1], sizeof(vsn[1]), "%d", SERFWIRE_CONSUL_VSN_MIN);
	snprintf(vsn[2], sizeof(vsn[2]), "%d", SERFWIRE_CONSUL_VSN_MAX);

	t.n = 0;
	serfwire_tags_add(&t, "role", c->server ? "consul" : "node");
	serfwire_tags_add(&t, "dc", c->dc);
	serfwire_tags_add(&t, "segment", c->segment != NULL ? c->segment : "");
	serfwire_tags_add(&t, "id", c->node_id);
	serfwire_tags_add(&t, "vsn", vsn[0]);
	serfwire_tags_add(&t, "vsn_min", vsn[1]);
	serfwire_tags_add(&t, "vsn_max", vsn[2]);
	serfwire_tags_add(&t, "build", build);
	if (c->server) {
		snprintf(port, sizeof(port), "%u", c->port);
		snprintf(raft_vsn, sizeof(raft_vsn), "%d", SERFWIRE_CONSUL_RAFT_VSN);
		serfwire_tags_add(&t, "port", port);
		serfwire_tags_add(&t, "raft_vsn", raft_vsn);
		if (c->wan_join_port != 0) {
			snprintf(wan, sizeof(wan), "%u", c->wan_join_port);
			serfwire_tags_add(&t, "wan_join_port", wan);
		}
		if (c->bootstrap)
			serfwire_tags_add(&t, "bootstrap", "1");
		if (c->expect != 0) {
			snprintf(expect, sizeof(expect), "%u", c->expect);
			serfwire_tags_add(&t, "expect", expect);
		}
	}
	/* at most 13 above + SERFWIRE_CONSUL_EXTRA_MAX: within SERFWIRE_TAGS_MAX */
	for (i = 0; i < c->n_extra; i++)
		t.tag[t.n++] = c->extra[i];
	return serfwire_tags_encode(b, &t, why);
}

/* The ping ack payload (serf/ping_delegate.go AckPayload). */
int serfwire_coord_decode(const uint8_t *p, size_t len, struct serfwire_coord *c, const char **why)
{
	struct dec d = {.why = NULL};
	const char *ignored;
	uint32_t i, j, k, n;
	unsigned seen = 0;

	if (why == NULL)
		why = &ignored;
	memset(c, 0, sizeof(*c));
	if (len == 0) {
		*why = "empty ack payload";
		return -1;
	}
	if (p[0] != SERFWIRE_PING_VERSION) {
		*why = "unsupported ping version";
		return -1;
	}
	cur_init(&d.c, p + 1, len - 1);
	n = rd_struct(&d);
	for (i = 0; i < n && cur_ok(&d.c); i++) {
		switch (KEY(&d, coord_keys, &seen)) {
		case C_ADJUSTMENT:
			c->adjustment = rd_float(&d);
			break;
		case C_ERROR:
			c->error = rd_float(&d);
			break;
		case C_HEIGHT:
			c->height = rd_float(&d);
			break;
		case C_VEC:
			k = rd_count(&d, MPK_ARRAY, SERFWIRE_COORD_DIM_MAX,
			             "coordinate dimensionality too high");
			c->dim = k;
			for (j = 0; j < k && cur_ok(&d.c); j++)
				c->vec[j] = rd_float(&d);
			break;
		default:
			mpk_skip(&d.c);
		}
	}
	if (!cur_ok(&d.c)) {
		*why = d.why != NULL ? d.why : "malformed coordinate";
		return -1;
	}
	return 0;
}

int serfwire_coord_encode(struct buf *b, const struct serfwire_coord *c)
{
	size_t start = b->len, i;

	if (c->dim > SERFWIRE_COORD_DIM_MAX)
		return -1;
	buf_putc(b, SERFWIRE_PING_VERSION);
	mpk_wr_map(b, 4);
	wr_key(b, "Adjustment");
	mpk_wr_f64(b, c->adjustment);
	wr_key(b, "Error");
	mpk_wr_f64(b, c->error);
	wr_key(b, "Height");
	mpk_wr_f64(b, c->height);
	wr_key(b, "Vec");
	mpk_wr_array(b, (uint32_t)c->dim);
	for (i = 0; i < c->dim; i++)
		mpk_wr_f64(b, c->vec[i]);
	return enc_end(b, start, 0, NULL, NULL);
}

bool serfwire_coord_is_valid(const struct serfwire_coord *c)
{
	size_t i;

	for (i = 0; i < c->dim && i < SERFWIRE_COORD_DIM_MAX; i++)
		if (!isfinite(c->vec[i]))
			return false;
	return isfinite(c->error) && isfinite(c->adjustment) && isfinite(c->height);
}

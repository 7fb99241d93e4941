/* dnswire.h: DNS messages on the wire (RFC 1035, RFC 6891 EDNS0, RFC 7871 ECS): parse a query, write a reply with compression and truncation; pure. */
#ifndef MUSTER_DNSD_DNSWIRE_H
#define MUSTER_DNSD_DNSWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* RFC 1035 §2.3.4: a name is at most 255 bytes on the wire, a label 63. */
#define DNS_NAME_MAX   255
#define DNS_LABEL_MAX  63
#define DNS_LABELS_MAX 128 /* 255 bytes hold at most 127 one-byte labels + root */
/* Presentation form: every byte may become \DDD, plus the dots. */
#define DNS_NAME_TEXT_MAX (DNS_NAME_MAX * 4 + 2)
#define DNS_HEADER_LEN    12
/* Compression targets remembered per message (a limit on everything). */
#define DNS_COMPRESS_MAX 512
#define DNS_COMPRESS_HT  1024 /* a power of two, at least twice DNS_COMPRESS_MAX */
/* RFC 1035 §4.2.1: the classic UDP payload limit. */
#define DNS_UDP_MIN 512
/* A TXT character-string is at most 255 bytes (RFC 1035 §3.3.14). */
#define DNS_TXT_CHUNK 255
/* Strings in one TXT record this writer accepts. */
#define DNS_TXT_STRS_MAX 16

enum dns_type {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_PTR = 12,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_SRV = 33,
	DNS_T_OPT = 41,
	DNS_T_AXFR = 252,
	DNS_T_ANY = 255,
};

#define DNS_C_IN 1

enum dns_rcode {
	DNS_R_NOERROR = 0,
	DNS_R_FORMERR = 1,
	DNS_R_SERVFAIL = 2,
	DNS_R_NXDOMAIN = 3,
	DNS_R_NOTIMP = 4,
	DNS_R_REFUSED = 5,
};

/* Header flag bits (RFC 1035 §4.1.1). */
#define DNS_F_QR 0x8000u
#define DNS_F_AA 0x0400u
#define DNS_F_TC 0x0200u
#define DNS_F_RD 0x0100u
#define DNS_F_RA 0x0080u
#define DNS_F_AD 0x0020u
#define DNS_F_CD 0x0010u
#define DNS_OPCODE(f) (((f) >> 11) & 0xfu)
#define DNS_RCODE(f)  ((f) & 0xfu)

/* RFC 7871 option code and the DO bit of the OPT TTL (RFC 3225). */
#define DNS_OPT_ECS 8
#define DNS_EDNS_DO 0x8000u

/* A name in uncompressed wire form, root label included: len bytes. */
struct dns_name {
	uint8_t len;
	uint8_t wire[DNS_NAME_MAX];
};

struct dns_header {
	uint16_t id;
	uint16_t flags;
	uint16_t qdcount;
	uint16_t ancount;
	uint16_t nscount;
	uint16_t arcount;
};

/* EDNS Client Subnet (RFC 7871 §6): address bytes beyond the source
 * prefix must be zero; addr_len = ceil(source/8). */
struct dns_ecs {
	bool present;
	uint16_t family; /* 1 = IPv4, 2 = IPv6 */
	uint8_t source;
	uint8_t scope;
	uint8_t addr_len;
	uint8_t addr[16];
};

struct dns_edns {
	bool present;
	uint16_t udp_size;
	uint8_t ext_rcode;
	uint8_t version;
	bool do_bit;
	struct dns_ecs ecs;
};

/* A parsed query: the header, the first question and the request's OPT. */
struct dns_query {
	struct dns_header h;
	struct dns_name qname;
	uint16_t qtype;
	uint16_t qclass;
	struct dns_edns edns;
};

enum dns_parse_result {
	DNS_PARSE_OK = 0,
	DNS_PARSE_SHORT,   /* not even a header: drop, there is no id to answer */
	DNS_PARSE_FORMERR, /* header read (q->h valid), the rest is malformed */
};

/* Parses a request. Answer/authority records are walked and skipped; the
 * additional section is searched for one OPT (two are FORMERR, RFC 6891
 * §6.1.1). QDCOUNT other than 1 parses (qdcount says how many): the
 * answerer returns FORMERR (or REFUSED for 0, spec §1.7). */
enum dns_parse_result dns_parse_query(const uint8_t *p, size_t len, struct dns_query *q);

/* Reads a name at the cursor, following compression pointers inside the
 * whole message msg[0..msg_len): only strictly backward pointers
 * (so no loop), labels ≤ 63, ≤ 255 bytes in all, no 0x40/0x80 label types.
 * The cursor moves past the name as it appears in place. Fails the cursor. */
int dns_name_read(struct cur *c, struct dns_name *n);

/* Presentation form <-> wire form. from_text accepts "a.b.c" or "a.b.c."
 * and "\." / "\DDD" escapes; "." or "" is the root. -1 when too long. */
int dns_name_from_text(struct dns_name *n, const char *text);
/* Writes lower-case-preserving text with a trailing dot ("." for the root);
 * dots and bytes outside printable ASCII inside labels are escaped. */
void dns_name_to_text(const struct dns_name *n, char *out, size_t out_size);
bool dns_name_equal(const struct dns_name *a, const struct dns_name *b);
/* Offsets of each label's length byte (root excluded); returns the count. */
size_t dns_name_labels(const struct dns_name *n, uint8_t off[DNS_LABELS_MAX]);
/* Builds a name from labels (each a pointer and length) followed by a
 * suffix name (may be NULL = root). -1 when too long or a label > 63. */
int dns_name_join(struct dns_name *n, const char *const *labels, const size_t *lens, size_t nlabels,
		  const struct dns_name *suffix);
/* True when n ends with suffix (case-insensitive, whole labels). */
bool dns_name_has_suffix(const struct dns_name *n, const struct dns_name *suffix);

struct dns_str {
	const void *p;
	size_t len;
};

/* One resource record to write. Names are pointers: the reply owns them. */
struct dns_rr {
	const struct dns_name *owner;
	uint16_t type;
	uint16_t rclass;
	uint32_t ttl;
	union {
		uint8_t a[4];
		uint8_t aaaa[16];
		const struct dns_name *name; /* CNAME, NS, PTR */
		struct {
			const struct dns_name *mname;
			const struct dns_name *rname;
			uint32_t serial, refresh, retry, expire, minimum;
		} soa;
		struct {
			uint16_t priority, weight, port;
			const struct dns_name *target;
		} srv;
		/* Each string longer than 255 bytes is cut into 255-byte
		 * character-strings, one after the other. */
		struct {
			struct dns_str s[DNS_TXT_STRS_MAX];
			uint8_t n;
		} txt;
	} u;
};

enum dns_section { DNS_SEC_AN, DNS_SEC_NS, DNS_SEC_AR, DNS_SEC_N };

/* A reply to write: header, the question echoed, three sections and the
 * OPT to add (edns.present). Sections point at arrays the caller owns. */
struct dns_msg {
	struct dns_header h; /* counts are filled by the writer */
	bool has_question;
	const struct dns_name *qname;
	uint16_t qtype, qclass;
	const struct dns_rr *rr[DNS_SEC_N];
	size_t n[DNS_SEC_N];
	struct dns_edns edns;
	bool compress; /* false = dns_config.disable_compression */
};

/* What the writer fitted. */
struct dns_written {
	size_t n[DNS_SEC_N]; /* records written per section */
	bool trimmed;        /* a record of some section did not fit */
};

/* Writes m into out (appended; out is expected empty) in at most max bytes.
 * Header, question and the OPT always go in (room for the OPT is kept
 * from the start); then answer records in order until one does not fit,
 * then authority, then additional, each stopping at the first record that
 * does not fit (later sections are skipped once one is cut, so a cut
 * message is a prefix of the whole). Counts in the header are what was
 * written. Returns 0, or -1 if not even header, question and OPT fit, or
 * a record is malformed (e.g. a TXT of more than 65535 bytes). */
int dns_msg_write(const struct dns_msg *m, size_t max, struct buf *out, struct dns_written *w);
/* The same, also giving the end offset in the message of each record
 * written, in order (up to ends_max of them): what a cut must keep. */
int dns_msg_write_ends(const struct dns_msg *m, size_t max, struct buf *out, struct dns_written *w,
		       size_t *ends, size_t ends_max);

/* Sets the TC bit of a written message (spec §1.6: only when
 * enable_truncate; the caller decides). */
void dns_set_tc(struct buf *out);

#endif

/* answer.h: the pure DNS answerer (spec §1): classify the name, read a data view, build and trim the reply; no I/O, no clock, no randomness of its own. */
#ifndef MUSTER_DNSD_ANSWER_H
#define MUSTER_DNSD_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "dnswire.h"

/* Limits (a limit on everything). Spec §1.6: TCP answers are capped at
 * 4096 records, 1024 for SRV, and 65523 bytes. */
#define DNS_ANSWER_TCP_MAX     4096
#define DNS_ANSWER_TCP_SRV_MAX 1024
#define DNS_ANSWER_TCP_BYTES   65523
#define DNS_ANSWER_UDP_MAX     (65535 - 68)
#define DNS_ANSWER_UDP_LIMIT_MAX 8 /* spec §1.6: udp_answer_limit hard max */
#define DNS_ANSWER_NS_MAX      3   /* spec §1.7: NS answers */
#define DNS_ANSWER_NAMES_MAX   (DNS_ANSWER_TCP_MAX + 16)
#define DNS_ANSWER_TXT_ARENA   (256u << 10)

enum dns_health {
	DNS_HEALTH_PASSING = 0,
	DNS_HEALTH_WARNING = 1,
	DNS_HEALTH_CRITICAL = 2,
};

struct dns_kv {
	const char *key;
	const char *value;
};

struct dns_node {
	const char *name;
	const char *addr; /* an IPv4/IPv6 literal, or a hostname (CNAME) */
	const struct dns_kv *meta;
	size_t nmeta;
};

/* One service instance as the health endpoint gives it (spec §1.5):
 * every node- and service-level check status, serfHealth and maintenance
 * included. */
struct dns_instance {
	struct dns_node node;
	const char *service;
	const char *svc_addr; /* NULL or "" = the node's address */
	uint16_t port;
	const char *const *tags;
	size_t ntags;
	const uint8_t *checks; /* enum dns_health */
	size_t nchecks;
	uint16_t weight_passing; /* Weights.Passing (Consul's default 1) */
	uint16_t weight_warning; /* Weights.Warning (default 1) */
};

/* Where answers come from: the daemon backs it with raftd's replies and
 * its cache; tests with a table. Pointers returned stay valid until
 * dns_answer() returns. Each returns 0, or -1 on an internal error
 * (the reply is SERVFAIL). */
struct dns_view {
	void *arg;
	/* Every instance of a service in the local datacenter, healthy or
	 * not (the answerer filters); *n = 0 when the service is unknown. */
	int (*service)(void *arg, const char *name, const struct dns_instance **out, size_t *n);
	/* A node of the local datacenter; *found = false when unknown. */
	int (*node)(void *arg, const char *name, struct dns_node *out, bool *found);
	/* Reverse lookup of an address literal (inet_ntop form): the node
	 * with that address, else the service with that service address;
	 * both NULL when none. */
	int (*ptr)(void *arg, const char *ip, const char **node, const char **service);
};

struct dns_answer_conf {
	const char *domain;     /* "consul." */
	const char *alt_domain; /* NULL or "" = none */
	const char *dc;         /* the local datacenter */
	const struct conf_dns *dns;
	bool has_recursors; /* RA, and names outside the domain are forwarded */
};

struct dns_answerer;

/* NULL when a domain or the dc is not a valid name. The conf and view are
 * borrowed for the answerer's life. Scratch space is allocated here once,
 * so answering allocates nothing. */
struct dns_answerer *dns_answerer_new(const struct dns_answer_conf *cf, const struct dns_view *v);
void dns_answerer_free(struct dns_answerer *a);

enum dns_answer_result {
	DNS_ANSWER_REPLY = 0, /* out holds the reply */
	DNS_ANSWER_DROP,      /* not even a header: send nothing */
	DNS_ANSWER_RECURSE,   /* outside the domain (or PTR miss) and recursors exist */
};

/* Answers one request packet. tcp selects the size rules of spec §1.6;
 * now_s is the SOA serial; *rng is the shuffle's xorshift64 state (non
 * zero), advanced. The reply is appended to out (which should be empty). */
enum dns_answer_result dns_answer(struct dns_answerer *a, const uint8_t *pkt, size_t len, bool tcp, uint64_t now_s,
				  uint64_t *rng, struct buf *out);

/* A reply with just the question, the OPT echoed and rcode (SERVFAIL when
 * all recursors failed, spec §1.9: RA set when recursors exist). */
int dns_answer_error(struct dns_answerer *a, const struct dns_query *q, uint8_t rcode, struct buf *out);

/* service_ttl lookup (spec §1.5): exact name, else the longest "prefix*"
 * key, else 0; in seconds. */
uint32_t dns_answer_service_ttl(const struct conf_dns *dns, const char *service);

#endif

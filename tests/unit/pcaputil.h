/* pcaputil.h: a minimal classic-pcap reader for the gossip tests: IPv4 UDP datagrams and TCP streams of a capture. */
#ifndef MUSTER_PCAPUTIL_H
#define MUSTER_PCAPUTIL_H

/*
 * Reads the captures under tests/gossip/ (tcpdump, classic pcap; not
 * pcapng). Link types: Ethernet (1), BSD loopback (0, 108), raw IPv4
 * (101, 228) and Linux cooked (113). Only IPv4 is decoded; fragments,
 * IPv6 and other protocols are skipped.
 *
 *   struct pcaputil_file f;
 *   struct pcaputil_pkt pkt;
 *   ck_assert_int_eq(pcaputil_open(&f, "tests/gossip/plain.pcap"), 0);
 *   while (pcaputil_next(&f, &pkt) == 1)
 *           if (pkt.proto == PCAPUTIL_UDP && pkt.dport == 7946) ...
 *   pcaputil_close(&f);
 *
 * pcaputil_streams() joins the TCP payloads of each direction of each
 * connection in sequence order, as decode.py does (in the order the
 * streams first carry data).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCAPUTIL_FILE_MAX    (64u << 20) /* captures are kept small */
#define PCAPUTIL_STREAMS_MAX 1024
#define PCAPUTIL_STREAM_MAX  (32u << 20)

enum { PCAPUTIL_UDP = 17, PCAPUTIL_TCP = 6 };

#define PCAPUTIL_TCP_FIN 0x01
#define PCAPUTIL_TCP_SYN 0x02
#define PCAPUTIL_TCP_RST 0x04

struct pcaputil_file {
	uint8_t *data;
	size_t len, off;
	bool swap; /* the file's byte order is not ours */
	bool nsec; /* timestamps in nanoseconds (magic a1b23c4d) */
	uint32_t linktype;
	size_t index; /* packets read so far, every kind */
};

/* One IPv4 UDP or TCP packet; payload points into the file's memory. */
struct pcaputil_pkt {
	int proto;         /* PCAPUTIL_UDP or PCAPUTIL_TCP */
	uint32_t src, dst; /* IPv4 addresses, host order: 127.0.0.31 is 0x7f00001f */
	uint16_t sport, dport;
	uint32_t seq;      /* TCP only */
	uint8_t tcp_flags; /* TCP only */
	uint64_t ts_usec;  /* capture time */
	size_t index;      /* its number in the file, from 0 */
	const uint8_t *payload;
	size_t len;
};

static inline uint16_t pcaputil_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t pcaputil_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t pcaputil_u32(const struct pcaputil_file *f, const uint8_t *p)
{
	uint32_t le = (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];

	/* The header's magic tells the writer's order; tcpdump writes its own. */
	return f->swap ? pcaputil_be32(p) : le;
}

static inline void pcaputil_close(struct pcaputil_file *f)
{
	free(f->data);
	memset(f, 0, sizeof(*f));
}

/* 0, or -1 (cannot read, not a classic pcap, too large). */
static inline int pcaputil_open(struct pcaputil_file *f, const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint32_t magic;
	size_t n;

	memset(f, 0, sizeof(*f));
	if (fp == NULL)
		return -1;
	f->data = malloc(PCAPUTIL_FILE_MAX);
	n = f->data != NULL ? fread(f->data, 1, PCAPUTIL_FILE_MAX, fp) : 0;
	fclose(fp);
	f->len = n;
	if (n < 24 || n == PCAPUTIL_FILE_MAX) {
		pcaputil_close(f);
		return -1;
	}
	/* Written little-endian here: a1b2c3d4 (usec) or a1b23c4d (nsec). */
	magic = (uint32_t)f->data[3] << 24 | (uint32_t)f->data[2] << 16 |
	        (uint32_t)f->data[1] << 8 | f->data[0];
	if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d)
		f->swap = false;
	else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1)
		f->swap = true;
	else {
		pcaputil_close(f);
		return -1;
	}
	f->nsec = magic == 0xa1b23c4d || magic == 0x4d3cb2a1;
	/* The top bits may carry FCS information: the link type is below. */
	f->linktype = pcaputil_u32(f, f->data + 20) & 0x0fffffff;
	f->off = 24;
	return 0;
}

/* The IPv4 header inside a frame, or NULL. */
static inline const uint8_t *pcaputil_ipv4(const struct pcaputil_file *f, const uint8_t *p,
                                           size_t len, size_t *ip_len)
{
	size_t skip;
	uint32_t lt = f->linktype;

	switch (lt) {
	case 0:   /* LINKTYPE_NULL: 4-byte family in the writer's order */
	case 108: /* LINKTYPE_LOOP: the same in network order */
		if (len < 4)
			return NULL;
		{
			uint32_t fam = lt == 108 ? pcaputil_be32(p) : pcaputil_u32(f, p);
			if (fam != 2)
				return NULL;
		}
		skip = 4;
		break;
	case 1: /* Ethernet, with 802.1Q tags skipped */
		skip = 12;
		while (len >= skip + 2 && pcaputil_be16(p + skip) == 0x8100)
			skip += 4;
		if (len < skip + 2 || pcaputil_be16(p + skip) != 0x0800)
			return NULL;
		skip += 2;
		break;
	case 101: /* raw IP */
	case 228: /* raw IPv4 */
		skip = 0;
		break;
	case 113: /* Linux cooked capture v1 */
		if (len < 16 || pcaputil_be16(p + 14) != 0x0800)
			return NULL;
		skip = 16;
		break;
	default:
		return NULL;
	}
	if (len < skip + 20)
		return NULL;
	*ip_len = len - skip;
	return p + skip;
}

/* The next IPv4 UDP or TCP packet: 1, 0 at the end, -1 when the file is
 * cut short. Other packets are skipped. */
static inline int pcaputil_next(struct pcaputil_file *f, struct pcaputil_pkt *pkt)
{
	while (f->off < f->len) {
		const uint8_t *rec = f->data + f->off, *ip, *l4;
		size_t caplen, ip_len, ihl, tot, l4_len;
		uint64_t sec, frac;

		if (f->len - f->off < 16)
			return -1;
		sec = pcaputil_u32(f, rec);
		frac = pcaputil_u32(f, rec + 4);
		caplen = pcaputil_u32(f, rec + 8);
		if (caplen > f->len - f->off - 16)
			return -1;
		f->off += 16 + caplen;
		memset(pkt, 0, sizeof(*pkt));
		pkt->index = f->index++;
		pkt->ts_usec = sec * 1000000 + (f->nsec ? frac / 1000 : frac);
		ip = pcaputil_ipv4(f, rec + 16, caplen, &ip_len);
		if (ip == NULL || ip[0] >> 4 != 4)
			continue;
		ihl = (size_t)(ip[0] & 0x0f) * 4;
		tot = pcaputil_be16(ip + 2);
		/* Ethernet pads short frames: the IP total length rules. */
		if (ihl < 20 || tot < ihl || tot > ip_len)
			continue;
		/* A fragment (MF set or an offset) is not a whole datagram. */
		if ((pcaputil_be16(ip + 6) & 0x3fff) != 0)
			continue;
		pkt->src = pcaputil_be32(ip + 12);
		pkt->dst = pcaputil_be32(ip + 16);
		l4 = ip + ihl;
		l4_len = tot - ihl;
		if (ip[9] == PCAPUTIL_UDP) {
			size_t ulen;

			if (l4_len < 8)
				continue;
			ulen = pcaputil_be16(l4 + 4);
			if (ulen < 8 || ulen > l4_len)
				continue;
			pkt->proto = PCAPUTIL_UDP;
			pkt->sport = pcaputil_be16(l4);
			pkt->dport = pcaputil_be16(l4 + 2);
			pkt->payload = l4 + 8;
			pkt->len = ulen - 8;
			return 1;
		}
		if (ip[9] == PCAPUTIL_TCP) {
			size_t doff;

			if (l4_len < 20)
				continue;
			doff = (size_t)(l4[12] >> 4) * 4;
			if (doff < 20 || doff > l4_len)
				continue;
			pkt->proto = PCAPUTIL_TCP;
			pkt->sport = pcaputil_be16(l4);
			pkt->dport = pcaputil_be16(l4 + 2);
			pkt->seq = pcaputil_be32(l4 + 4);
			pkt->tcp_flags = l4[13];
			pkt->payload = l4 + doff;
			pkt->len = l4_len - doff;
			return 1;
		}
	}
	return 0;
}

/* Formats a host-order IPv4 address and port: "127.0.0.31:7946". */
static inline void pcaputil_addr(uint32_t ip, uint16_t port, char *out, size_t size)
{
	snprintf(out, size, "%u.%u.%u.%u:%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255,
	         port);
}

/* One direction of one TCP connection, its payload bytes joined. */
struct pcaputil_stream {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t *data;
	size_t len;
	uint32_t next_seq; /* the sequence number of data[len] */
	bool started;      /* next_seq is known (SYN or first data) */
	size_t first;      /* the packet index of its first data */
	bool gap;          /* a segment was missing: data is incomplete */
	bool fin;
};

struct pcaputil_streams {
	struct pcaputil_stream *v;
	size_t n;
};

static inline void pcaputil_streams_free(struct pcaputil_streams *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].data);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Appends one TCP segment to its stream, by sequence number: retransmitted
 * bytes are dropped, a hole marks the stream gap. */
static inline int pcaputil_stream_add(struct pcaputil_stream *st, const struct pcaputil_pkt *pkt)
{
	uint32_t seq = pkt->seq;
	const uint8_t *p = pkt->payload;
	size_t len = pkt->len;
	uint8_t *nd;

	if (pkt->tcp_flags & PCAPUTIL_TCP_SYN) {
		st->next_seq = seq + 1;
		st->started = true;
		seq++;
	}
	if (pkt->tcp_flags & PCAPUTIL_TCP_FIN)
		st->fin = true;
	if (len == 0)
		return 0;
	if (!st->started) {
		/* The capture began mid-connection. */
		st->next_seq = seq;
		st->started = true;
	}
	if (st->len == 0)
		st->first = pkt->index;
	if ((int32_t)(seq - st->next_seq) > 0) {
		st->gap = true;
		st->next_seq = seq;
	} else {
		uint32_t dup = st->next_seq - seq;

		if (dup >= len)
			return 0; /* wholly retransmitted */
		p += dup;
		len -= dup;
	}
	if (len > PCAPUTIL_STREAM_MAX - st->len)
		return -1;
	nd = realloc(st->data, st->len + len);
	if (nd == NULL)
		return -1;
	st->data = nd;
	memcpy(st->data + st->len, p, len);
	st->len += len;
	st->next_seq += (uint32_t)len;
	return 0;
}

/* The TCP streams of a capture to or from port (0: any), in the order
 * they first carry data; streams that never do are left out. 0 or -1. */
static inline int pcaputil_streams(const char *path, uint16_t port, struct pcaputil_streams *out)
{
	struct pcaputil_file f;
	struct pcaputil_pkt pkt;
	int r;

	memset(out, 0, sizeof(*out));
	if (pcaputil_open(&f, path) != 0)
		return -1;
	while ((r = pcaputil_next(&f, &pkt)) == 1) {
		struct pcaputil_stream *st = NULL;

		if (pkt.proto != PCAPUTIL_TCP ||
		    (port != 0 && pkt.sport != port && pkt.dport != port))
			continue;
		for (size_t i = 0; i < out->n; i++) {
			struct pcaputil_stream *c = &out->v[i];
			if (c->src == pkt.src && c->dst == pkt.dst && c->sport == pkt.sport &&
			    c->dport == pkt.dport) {
				st = c;
				break;
			}
		}
		if (st == NULL) {
			struct pcaputil_stream *nv;

			if (out->n == PCAPUTIL_STREAMS_MAX)
				goto fail;
			nv = realloc(out->v, (out->n + 1) * sizeof(*nv));
			if (nv == NULL)
				goto fail;
			out->v = nv;
			st = &out->v[out->n++];
			memset(st, 0, sizeof(*st));
			st->src = pkt.src;
			st->dst = pkt.dst;
			st->sport = pkt.sport;
			st->dport = pkt.dport;
		}
		if (pcaputil_stream_add(st, &pkt) != 0)
			goto fail;
	}
	pcaputil_close(&f);
	if (r < 0) {
		pcaputil_streams_free(out);
		return -1;
	}
	/* decode.py's order: by first data; streams without data go. */
	{
		size_t w = 0;
		for (size_t i = 0; i < out->n; i++) {
			struct pcaputil_stream st = out->v[i];
			size_t j;

			if (st.len == 0) {
				free(st.data);
				continue;
			}
			for (j = w; j > 0 && out->v[j - 1].first > st.first; j--)
				out->v[j] = out->v[j - 1];
			out->v[j] = st;
			w++;
		}
		out->n = w;
	}
	return 0;
fail:
	pcaputil_close(&f);
	pcaputil_streams_free(out);
	return -1;
}

#endif

/* dnswire.c: DNS messages on the wire: a bounded-cursor query parser and a reply writer with compression and truncation (RFC 1035, 6891, 7871). */
#include "dnswire.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- names ---- */

/* RFC 1035 §4.1.4. A pointer must point before the start of the run of
 * labels it ends, so every jump goes strictly backward and a loop (even
 * through a pointer that is reached again by reading forward) is refused
 * rather than counted; the 255-byte limit bounds the rest. */
int dns_name_read(struct cur *c, struct dns_name *n)
{
	size_t pos, run_start, after = 0, out = 0;
	bool jumped = false;

	n->len = 0;
	if (!cur_ok(c))
		return -1;
	pos = run_start = c->off;
	for (;;) {
		uint8_t b;

		if (pos >= c->len)
			return cur_fail(c);
		b = c->p[pos];
		if (b == 0) {
			pos++;
			break;
		}
		if ((b & 0xc0) == 0xc0) {
			size_t ptr;

			if (pos + 1 >= c->len)
				return cur_fail(c);
			ptr = (size_t)(b & 0x3f) << 8 | c->p[pos + 1];
			if (ptr >= run_start)
				return cur_fail(c); /* forward, self or loop */
			if (!jumped) {
				after = pos + 2;
				jumped = true;
			}
			pos = run_start = ptr;
			continue;
		}
		if (b & 0xc0)
			return cur_fail(c); /* 0x40 extended / 0x80 reserved label types */
		/* The label, its length byte and the root still to come. */
		if (pos + 1 + b > c->len || out + 1 + b + 1 > DNS_NAME_MAX)
			return cur_fail(c);
		memcpy(n->wire + out, c->p + pos, (size_t)b + 1);
		out += (size_t)b + 1;
		pos += (size_t)b + 1;
	}
	n->wire[out++] = 0;
	n->len = (uint8_t)out;
	cur_seek(c, jumped ? after : pos);
	return cur_ok(c) ? 0 : -1;
}

int dns_name_from_text(struct dns_name *n, const char *text)
{
	size_t out = 0, lab = 0;
	const char *s = text;

	n->len = 0;
	if (strcmp(text, ".") == 0)
		s = "";
	n->wire[0] = 0;
	out = 1; /* wire[lab] is the current label's length byte */
	while (*s != '\0') {
		unsigned ch = (unsigned char)*s++;

		if (ch == '.') {
			if (out - lab - 1 == 0)
				return -1; /* empty label */
			if (*s == '\0')
				break;
			lab = out;
			if (out >= DNS_NAME_MAX - 1)
				return -1;
			n->wire[out++] = 0;
			continue;
		}
		if (ch == '\\') {
			if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
			    isdigit((unsigned char)s[2])) {
				ch = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 +
				     (unsigned)(s[2] - '0');
				if (ch > 255)
					return -1;
				s += 3;
			} else if (*s != '\0') {
				ch = (unsigned char)*s++;
			} else {
				return -1;
			}
		}
		if (out - lab - 1 >= DNS_LABEL_MAX || out + 1 >= DNS_NAME_MAX)
			return -1;
		n->wire[out++] = (uint8_t)ch;
		n->wire[lab] = (uint8_t)(out - lab - 1);
	}
	if (out == 1) { /* root */
		n->len = 1;
		return 0;
	}
	if (n->wire[lab] == 0)
		return -1;
	n->wire[out++] = 0;
	n->len = (uint8_t)out;
	return 0;
}

void dns_name_to_text(const struct dns_name *n, char *out, size_t out_size)
{
	size_t o = 0, i = 0;

	if (out_size == 0)
		return;
	if (n->len <= 1) {
		snprintf(out, out_size, ".");
		return;
	}
	while (i < n->len && n->wire[i] != 0) {
		uint8_t l = n->wire[i++];

		for (uint8_t k = 0; k < l && i < n->len; k++, i++) {
			uint8_t ch = n->wire[i];
			char tmp[5];
			size_t tl;

			if (ch == '.' || ch == '\\')
				tl = (size_t)snprintf(tmp, sizeof tmp, "\\%c", ch);
			else if (ch <= 0x20 || ch >= 0x7f)
				tl = (size_t)snprintf(tmp, sizeof tmp, "\\%03u", ch);
			else
				tl = (size_t)snprintf(tmp, sizeof tmp, "%c", ch);
			if (o + tl + 1 >= out_size)
				goto done;
			memcpy(out + o, tmp, tl);
			o += tl;
		}
		if (o + 2 >= out_size)
			break;
		out[o++] = '.';
	}
done:
	out[o] = '\0';
}

bool dns_name_equal(const struct dns_name *a, const struct dns_name *b)
{
	if (a->len != b->len)
		return false;
	/* Length bytes are < 64, never letters, so tolower is harmless on them. */
	for (size_t i = 0; i < a->len; i++)
		if (tolower(a->wire[i]) != tolower(b->wire[i]))
			return false;
	return true;
}

size_t dns_name_labels(const struct dns_name *n, uint8_t off[DNS_LABELS_MAX])
{
	size_t k = 0, i = 0;

	while (i < n->len && n->wire[i] != 0 && k < DNS_LABELS_MAX) {
		off[k++] = (uint8_t)i;
		i += (size_t)n->wire[i] + 1;
	}
	return k;
}

int dns_name_join(struct dns_name *n, const char *const *labels, const size_t *lens, size_t nlabels,
		  const struct dns_name *suffix)
{
	size_t out = 0;
	size_t slen = suffix != NULL ? suffix->len : 1;

	n->len = 0;
	for (size_t i = 0; i < nlabels; i++) {
		if (lens[i] == 0 || lens[i] > DNS_LABEL_MAX || out + 1 + lens[i] + slen > DNS_NAME_MAX)
			return -1;
		n->wire[out++] = (uint8_t)lens[i];
		memcpy(n->wire + out, labels[i], lens[i]);
		out += lens[i];
	}
	if (suffix != NULL)
		memcpy(n->wire + out, suffix->wire, suffix->len);
	else
		n->wire[out] = 0;
	n->len = (uint8_t)(out + slen);
	return 0;
}

bool dns_name_has_suffix(const struct dns_name *n, const struct dns_name *suffix)
{
	size_t i = 0;

	if (suffix->len > n->len)
		return false;
	/* Walk label boundaries so "xconsul." does not end with "consul.". */
	while (i < n->len) {
		if (n->len - i == suffix->len) {
			for (size_t k = 0; k < suffix->len; k++)
				if (tolower(n->wire[i + k]) != tolower(suffix->wire[k]))
					return false;
			return true;
		}
		if (n->wire[i] == 0)
			break;
		i += (size_t)n->wire[i] + 1;
	}
	return false;
}

/* ---- parse ---- */

static void dns_parse_opt(struct cur *c, uint16_t rclass, uint32_t ttl, uint16_t rdlen, struct dns_query *q)
{
	struct cur o;
	const uint8_t *rd = cur_take(c, rdlen);

	q->edns.present = true;
	q->edns.udp_size = rclass;
	q->edns.ext_rcode = (uint8_t)(ttl >> 24);
	q->edns.version = (uint8_t)(ttl >> 16);
	q->edns.do_bit = (ttl & DNS_EDNS_DO) != 0;
	if (rd == NULL)
		return;
	cur_init(&o, rd, rdlen);
	while (cur_ok(&o) && cur_left(&o) > 0) {
		uint16_t code = cur_be16(&o), olen = cur_be16(&o);
		struct cur e;
		const uint8_t *od = cur_take(&o, olen);

		if (od == NULL)
			break;
		if (code != DNS_OPT_ECS)
			continue; /* unknown options are ignored (RFC 6891 §6.1.2) */
		if (q->edns.ecs.present) {
			cur_fail(c);
			return;
		}
		cur_init(&e, od, olen);
		struct dns_ecs *x = &q->edns.ecs;
		x->family = cur_be16(&e);
		x->source = cur_u8(&e);
		x->scope = cur_u8(&e);
		/* RFC 7871 §6: address truncated to ceil(source/8) bytes;
		 * anything else is FORMERR (§7.1.1). */
		size_t need = ((size_t)x->source + 7) / 8;
		size_t fam_max = x->family == 1 ? 4 : x->family == 2 ? 16 : 0;
		if (!cur_ok(&e) || fam_max == 0 || need > fam_max || x->source > fam_max * 8 ||
		    cur_left(&e) != need) {
			cur_fail(c);
			return;
		}
		x->addr_len = (uint8_t)need;
		cur_copy(&e, x->addr, need);
		x->present = true;
	}
	if (!cur_ok(&o))
		cur_fail(c); /* an option overruns the OPT rdata */
}

enum dns_parse_result dns_parse_query(const uint8_t *p, size_t len, struct dns_query *q)
{
	struct cur c;
	struct dns_name skip;

	memset(q, 0, sizeof *q);
	if (len < DNS_HEADER_LEN)
		return DNS_PARSE_SHORT;
	cur_init(&c, p, len);
	q->h.id = cur_be16(&c);
	q->h.flags = cur_be16(&c);
	q->h.qdcount = cur_be16(&c);
	q->h.ancount = cur_be16(&c);
	q->h.nscount = cur_be16(&c);
	q->h.arcount = cur_be16(&c);
	for (unsigned i = 0; i < q->h.qdcount && cur_ok(&c); i++) {
		if (i == 0) {
			dns_name_read(&c, &q->qname);
			q->qtype = cur_be16(&c);
			q->qclass = cur_be16(&c);
		} else {
			dns_name_read(&c, &skip);
			cur_skip(&c, 4);
		}
	}
	unsigned nrr = (unsigned)q->h.ancount + q->h.nscount + q->h.arcount;
	for (unsigned i = 0; i < nrr && cur_ok(&c); i++) {
		dns_name_read(&c, &skip);
		uint16_t type = cur_be16(&c), rclass = cur_be16(&c);
		uint32_t ttl = cur_be32(&c);
		uint16_t rdlen = cur_be16(&c);
		bool additional = i >= (unsigned)q->h.ancount + q->h.nscount;

		if (!cur_ok(&c))
			break;
		if (type == DNS_T_OPT) {
			/* RFC 6891 §6.1.1: one OPT, owned by the root, in the
			 * additional section; anything else is FORMERR. */
			if (!additional || q->edns.present || skip.len != 1) {
				cur_fail(&c);
				break;
			}
			dns_parse_opt(&c, rclass, ttl, rdlen, q);
		} else {
			cur_skip(&c, rdlen);
		}
	}
	if (!cur_ok(&c)) {
		struct dns_header h = q->h;

		memset(q, 0, sizeof *q);
		q->h = h;
		return DNS_PARSE_FORMERR;
	}
	return DNS_PARSE_OK;
}

/* ---- write ---- */

struct dns_w {
	struct buf *b;
	size_t base;  /* the message starts at b->p + base */
	size_t limit; /* absolute end in b->len terms */
	bool over;
	bool compress;
	uint16_t comp[DNS_COMPRESS_MAX];
	size_t ncomp;
	/* comp indexed by a hash of the suffix (index + 1; 0 empty): a
	 * lookup costs one or two comparisons, not a scan of all 512 */
	uint16_t ht[DNS_COMPRESS_HT];
};

/* FNV-1a of an uncompressed suffix, case-folded (names compare that way). */
static uint32_t dns_w_hash(const uint8_t *s)
{
	uint32_t h = 2166136261u;

	for (;;) {
		uint8_t l = *s;

		h = (h ^ l) * 16777619u;
		if (l == 0)
			return h;
		for (size_t k = 1; k <= l; k++)
			h = (h ^ (uint8_t)tolower(s[k])) * 16777619u;
		s += (size_t)l + 1;
	}
}

static uint8_t *dns_w_msg(struct dns_w *w)
{
	return w->b->p + w->base;
}

static void dns_w_put(struct dns_w *w, const void *p, size_t n)
{
	if (w->over)
		return;
	if (w->b->len + n > w->limit || buf_append(w->b, p, n) != 0)
		w->over = true;
}

static void dns_w_u8(struct dns_w *w, uint8_t v)
{
	dns_w_put(w, &v, 1);
}

static void dns_w_16(struct dns_w *w, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	dns_w_put(w, x, 2);
}

static void dns_w_32(struct dns_w *w, uint32_t v)
{
	uint8_t x[4];

	be32_put(x, v);
	dns_w_put(w, x, 4);
}

/* Does the uncompressed labels at s (ending in the root) equal the name
 * written at message offset off (which may itself use pointers)? The
 * written message is our own, so pointers there go backward; hops are
 * still bounded. */
static bool dns_w_same(struct dns_w *w, const uint8_t *s, size_t off)
{
	const uint8_t *m = dns_w_msg(w);
	size_t mlen = w->b->len - w->base;
	unsigned hops = 0;

	for (;;) {
		if (off >= mlen)
			return false;
		while ((m[off] & 0xc0) == 0xc0) {
			if (off + 1 >= mlen || ++hops > DNS_LABELS_MAX)
				return false;
			off = (size_t)(m[off] & 0x3f) << 8 | m[off + 1];
			if (off >= mlen)
				return false;
		}
		if (m[off] != *s)
			return false;
		if (*s == 0)
			return true;
		if (off + 1 + *s > mlen)
			return false;
		for (size_t k = 1; k <= *s; k++)
			if (tolower(m[off + k]) != tolower(s[k]))
				return false;
		off += (size_t)*s + 1;
		s += (size_t)*s + 1;
	}
}

/* RFC 1035 §4.1.4: each suffix of the name is looked up among the
 * suffixes already written; the first hit ends the name with a pointer. */
static void dns_w_name(struct dns_w *w, const struct dns_name *n, bool may_point)
{
	size_t i = 0;

	while (i < n->len && n->wire[i] != 0) {
		uint32_t slot = w->compress ? dns_w_hash(n->wire + i) & (DNS_COMPRESS_HT - 1) : 0;

		if (w->compress && may_point) {
			for (uint32_t j = slot; w->ht[j] != 0; j = (j + 1) & (DNS_COMPRESS_HT - 1)) {
				uint16_t off = w->comp[w->ht[j] - 1];

				if (dns_w_same(w, n->wire + i, off)) {
					dns_w_16(w, (uint16_t)(0xc000u | off));
					return;
				}
			}
		}
		if (w->compress) {
			/* Even a name that may not point (an SRV target) can be
			 * pointed at: its A record's owner then costs 2 bytes. */
			size_t here = w->b->len - w->base;
			if (here < 0x4000 && w->ncomp < DNS_COMPRESS_MAX && !w->over) {
				uint32_t j = slot;

				while (w->ht[j] != 0)
					j = (j + 1) & (DNS_COMPRESS_HT - 1);
				w->comp[w->ncomp++] = (uint16_t)here;
				w->ht[j] = (uint16_t)w->ncomp;
			}
		}
		dns_w_put(w, n->wire + i, (size_t)n->wire[i] + 1);
		i += (size_t)n->wire[i] + 1;
	}
	dns_w_u8(w, 0);
}

/* Writes one RR; -1 if it is malformed. Overflow only sets w->over. */
static int dns_w_rr(struct dns_w *w, const struct dns_rr *rr)
{
	size_t rdpos;

	dns_w_name(w, rr->owner, true);
	dns_w_16(w, rr->type);
	dns_w_16(w, rr->rclass);
	dns_w_32(w, rr->ttl);
	rdpos = w->b->len;
	dns_w_16(w, 0); /* rdlength, patched below */
	switch (rr->type) {
	case DNS_T_A:
		dns_w_put(w, rr->u.a, 4);
		break;
	case DNS_T_AAAA:
		dns_w_put(w, rr->u.aaaa, 16);
		break;
	case DNS_T_CNAME:
	case DNS_T_NS:
	case DNS_T_PTR:
		dns_w_name(w, rr->u.name, true);
		break;
	case DNS_T_SOA:
		dns_w_name(w, rr->u.soa.mname, true);
		dns_w_name(w, rr->u.soa.rname, true);
		dns_w_32(w, rr->u.soa.serial);
		dns_w_32(w, rr->u.soa.refresh);
		dns_w_32(w, rr->u.soa.retry);
		dns_w_32(w, rr->u.soa.expire);
		dns_w_32(w, rr->u.soa.minimum);
		break;
	case DNS_T_SRV:
		dns_w_16(w, rr->u.srv.priority);
		dns_w_16(w, rr->u.srv.weight);
		dns_w_16(w, rr->u.srv.port);
		/* RFC 2782: "name compression is not to be used for this
		 * field" (RFC 3597 §4 only asks decoders to tolerate it). */
		dns_w_name(w, rr->u.srv.target, false);
		break;
	case DNS_T_TXT:
		if (rr->u.txt.n > DNS_TXT_STRS_MAX)
			return -1;
		if (rr->u.txt.n == 0)
			dns_w_u8(w, 0); /* RFC 1035: at least one string */
		for (size_t s = 0; s < rr->u.txt.n; s++) {
			const uint8_t *p = rr->u.txt.s[s].p;
			size_t left = rr->u.txt.s[s].len;

			do {
				size_t k = left > DNS_TXT_CHUNK ? DNS_TXT_CHUNK : left;

				dns_w_u8(w, (uint8_t)k);
				dns_w_put(w, p, k);
				p += k;
				left -= k;
			} while (left > 0);
		}
		break;
	default:
		return -1;
	}
	if (!w->over) {
		size_t rdlen = w->b->len - rdpos - 2;

		if (rdlen > 0xffff)
			return -1;
		w->b->p[rdpos] = (uint8_t)(rdlen >> 8);
		w->b->p[rdpos + 1] = (uint8_t)rdlen;
	}
	return 0;
}

static size_t dns_opt_len(const struct dns_edns *e)
{
	if (!e->present)
		return 0;
	return 11 + (e->ecs.present ? 8u + e->ecs.addr_len : 0u);
}

static void dns_w_opt(struct dns_w *w, const struct dns_edns *e)
{
	dns_w_u8(w, 0);
	dns_w_16(w, DNS_T_OPT);
	dns_w_16(w, e->udp_size);
	dns_w_32(w, (uint32_t)e->ext_rcode << 24 | (uint32_t)e->version << 16 | (e->do_bit ? DNS_EDNS_DO : 0));
	if (e->ecs.present) {
		dns_w_16(w, (uint16_t)(8 + e->ecs.addr_len));
		dns_w_16(w, DNS_OPT_ECS);
		dns_w_16(w, (uint16_t)(4 + e->ecs.addr_len));
		dns_w_16(w, e->ecs.family);
		dns_w_u8(w, e->ecs.source);
		dns_w_u8(w, e->ecs.scope);
		dns_w_put(w, e->ecs.addr, e->ecs.addr_len);
	} else {
		dns_w_16(w, 0);
	}
}

int dns_msg_write(const struct dns_msg *m, size_t max, struct buf *out, struct dns_written *wr)
{
	return dns_msg_write_ends(m, max, out, wr, NULL, 0);
}

int dns_msg_write_ends(const struct dns_msg *m, size_t max, struct buf *out, struct dns_written *wr,
		       size_t *ends, size_t ends_max)
{
	struct dns_w w = {.b = out, .base = out->len, .compress = m->compress};
	size_t optlen = dns_opt_len(&m->edns);
	bool cut = false;
	size_t nends = 0;

	memset(wr, 0, sizeof *wr);
	if (m->edns.ecs.addr_len > 16)
		return -1;
	if (max < DNS_HEADER_LEN + optlen)
		return -1;
	/* Room for the OPT is kept aside until the records are in. */
	w.limit = out->len + max - optlen;
	dns_w_16(&w, m->h.id);
	dns_w_16(&w, m->h.flags);
	dns_w_16(&w, m->has_question ? 1 : 0);
	dns_w_16(&w, 0);
	dns_w_16(&w, 0);
	dns_w_16(&w, 0);
	if (m->has_question) {
		dns_w_name(&w, m->qname, true);
		dns_w_16(&w, m->qtype);
		dns_w_16(&w, m->qclass);
	}
	if (w.over)
		goto fail;
	for (int s = 0; s < DNS_SEC_N && !cut; s++) {
		for (size_t i = 0; i < m->n[s]; i++) {
			size_t mark = out->len, ncomp = w.ncomp;

			if (dns_w_rr(&w, &m->rr[s][i]) != 0)
				goto fail;
			if (w.over) {
				out->len = mark;
				w.ncomp = ncomp;
				w.over = false;
				cut = true;
				break;
			}
			wr->n[s]++;
			if (ends != NULL && nends < ends_max)
				ends[nends++] = out->len - w.base;
		}
	}
	wr->trimmed = cut;
	w.limit += optlen;
	if (m->edns.present)
		dns_w_opt(&w, &m->edns);
	if (w.over)
		goto fail;
	uint8_t *h = dns_w_msg(&w);
	size_t ar = wr->n[DNS_SEC_AR] + (m->edns.present ? 1 : 0);
	h[6] = (uint8_t)(wr->n[DNS_SEC_AN] >> 8);
	h[7] = (uint8_t)wr->n[DNS_SEC_AN];
	h[8] = (uint8_t)(wr->n[DNS_SEC_NS] >> 8);
	h[9] = (uint8_t)wr->n[DNS_SEC_NS];
	h[10] = (uint8_t)(ar >> 8);
	h[11] = (uint8_t)ar;
	return 0;
fail:
	out->len = w.base;
	return -1;
}

void dns_set_tc(struct buf *out)
{
	if (out->len >= DNS_HEADER_LEN)
		out->p[2] |= (uint8_t)(DNS_F_TC >> 8);
}

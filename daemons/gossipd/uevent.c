/* uevent.c: Consul's user events (§8.2): the msgpack body, filters, the agent's ring of recent events, pure. */
#include "uevent.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpk.h"
#include "rex.h"
#include "xalloc.h"

/* --- validation and filters --- */

/* Compiles one filter; 0, or -1 with the reason in why. */
static int uevent_re(regex_t *re, const char *pat, char *why, size_t why_size)
{
	return rex_compile(re, pat, strlen(pat), why, why_size);
}

static bool uevent_has(const char *s)
{
	return s != NULL && s[0] != '\0';
}

int uevent_validate(const struct uevent *e, char *err, size_t err_size)
{
	static const char *const what[] = {"node", "service", "tag"};
	const char *pats[3] = {e->node_filter, e->service_filter, e->tag_filter};
	char why[128];
	regex_t re;

	/* validateUserEventParams, in its order. */
	if (!uevent_has(e->name)) {
		snprintf(err, err_size, "User event missing name");
		return -1;
	}
	if (uevent_has(e->tag_filter) && !uevent_has(e->service_filter)) {
		snprintf(err, err_size, "Cannot provide tag filter without service filter");
		return -1;
	}
	for (size_t i = 0; i < 3; i++) {
		if (!uevent_has(pats[i]))
			continue;
		if (strlen(pats[i]) > UEVENT_FILTER_MAX) {
			snprintf(err, err_size, "Invalid %s filter: longer than %d bytes", what[i],
			         UEVENT_FILTER_MAX);
			return -1;
		}
		if (uevent_re(&re, pats[i], why, sizeof(why)) != 0) {
			snprintf(err, err_size, "Invalid %s filter: %s", what[i], why);
			return -1;
		}
		regfree(&re);
	}
	return 0;
}

static bool uevent_match(const regex_t *re, const char *s)
{
	return regexec(re, s != NULL ? s : "", 0, NULL, 0) == 0;
}

/* The service part of shouldProcessUserEvent: some service's ID matches,
 * and with a tag filter one of that service's tags does too. */
static bool uevent_accept_services(const struct uevent *e, const struct uevent_service *svcs,
                                   size_t n_svcs)
{
	regex_t sre, tre;
	bool tags = uevent_has(e->tag_filter), found = false;
	char why[128];

	if (uevent_re(&sre, e->service_filter, why, sizeof(why)) != 0)
		return false;
	if (tags && uevent_re(&tre, e->tag_filter, why, sizeof(why)) != 0) {
		regfree(&sre);
		return false;
	}
	for (size_t i = 0; i < n_svcs && !found; i++) {
		if (!uevent_match(&sre, svcs[i].name))
			continue;
		if (!tags) {
			found = true;
			break;
		}
		for (size_t j = 0; j < svcs[i].n_tags && !found; j++)
			found = uevent_match(&tre, svcs[i].tags[j]);
	}
	if (tags)
		regfree(&tre);
	regfree(&sre);
	return found;
}

bool uevent_accept(const struct uevent *e, const char *node, const struct uevent_service *svcs,
                   size_t n_svcs)
{
	char why[128];
	regex_t re;
	bool ok;

	if (uevent_has(e->node_filter)) {
		if (uevent_re(&re, e->node_filter, why, sizeof(why)) != 0)
			return false;
		ok = uevent_match(&re, node);
		regfree(&re);
		if (!ok)
			return false;
	}
	/* A tag filter alone is ignored, as in Consul: validation refuses
	 * it at the sender, and a receiver only looks at it under a
	 * service filter. */
	if (uevent_has(e->service_filter))
		return uevent_accept_services(e, svcs, n_svcs);
	return true;
}

/* --- msgpack --- */

/* A str field: NULL (omitted) counts as "". */
static void uevent_wr_text(struct buf *b, const char *key, const char *s)
{
	mpk_wr_cstr(b, key);
	mpk_wr_cstr(b, s);
}

int uevent_encode(const struct uevent *e, struct buf *out)
{
	uint32_t n = 3; /* ID, n, v: never omitted */
	size_t name_len = e->name != NULL ? strlen(e->name) : 0;

	if (name_len > UEVENT_NAME_MAX || e->payload_len > UEVENT_PAYLOAD_MAX ||
	    strlen(e->id) > UEVENT_ID_LEN)
		return -1;
	if (uevent_has(e->node_filter) && strlen(e->node_filter) > UEVENT_FILTER_MAX)
		return -1;
	if (uevent_has(e->service_filter) && strlen(e->service_filter) > UEVENT_FILTER_MAX)
		return -1;
	if (uevent_has(e->tag_filter) && strlen(e->tag_filter) > UEVENT_FILTER_MAX)
		return -1;
	n += e->payload_len > 0;
	n += uevent_has(e->node_filter) + uevent_has(e->service_filter) + uevent_has(e->tag_filter);

	/* go-msgpack writes a struct as a map in the sorted order of the
	 * codec names (its kStruct: "if toMap, use the sorted array"), not
	 * the declaration order: "ID" < "n" < "nf" < "p" < "sf" < "tf" < "v"
	 * byte-wise. Payload is a []byte: bin under WriteExt. Version is a Go
	 * int: 1 is a positive fixint in every go-msgpack version. */
	mpk_wr_map(out, n);
	uevent_wr_text(out, "ID", e->id);
	uevent_wr_text(out, "n", e->name);
	if (uevent_has(e->node_filter))
		uevent_wr_text(out, "nf", e->node_filter);
	if (e->payload_len > 0) {
		mpk_wr_cstr(out, "p");
		mpk_wr_bin(out, e->payload, e->payload_len);
	}
	if (uevent_has(e->service_filter))
		uevent_wr_text(out, "sf", e->service_filter);
	if (uevent_has(e->tag_filter))
		uevent_wr_text(out, "tf", e->tag_filter);
	mpk_wr_cstr(out, "v");
	mpk_wr_uint(out, e->version);
	return out->err ? -1 : 0;
}

/* Text or bytes as go-msgpack decodes them into a string or []byte: str
 * or bin, nil as empty. Sets *len; NULL with the cursor failed on any
 * other type or over max bytes. */
static const uint8_t *uevent_rd_bytes(struct cur *c, size_t *len, size_t max)
{
	const uint8_t *p;

	*len = 0;
	switch (mpk_peek(c)) {
	case MPK_NIL:
		mpk_rd_nil(c);
		return (const uint8_t *)"";
	case MPK_STR:
		p = (const uint8_t *)mpk_rd_str(c, len);
		break;
	case MPK_BIN:
		p = mpk_rd_bin(c, len);
		break;
	default:
		cur_fail(c);
		return NULL;
	}
	if (!cur_ok(c) || *len > max) {
		cur_fail(c);
		return NULL;
	}
	return p;
}

/* A NUL-terminated copy of a text field: NULL for empty when empty_null
 * (filters), else "" (the name); a NUL inside fails the cursor (the
 * name and filters are C strings everywhere after this). */
static char *uevent_rd_text(struct cur *c, size_t max, bool empty_null)
{
	size_t len;
	const uint8_t *p = uevent_rd_bytes(c, &len, max);
	char *s;

	if (p == NULL)
		return NULL;
	if (memchr(p, '\0', len) != NULL) {
		cur_fail(c);
		return NULL;
	}
	if (len == 0 && empty_null)
		return NULL;
	s = xmalloc(len + 1);
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

/* Version is a Go int: a negative one (no Consul sends it) reads as 0. */
static uint64_t uevent_rd_version(struct cur *c)
{
	struct cur save = *c;
	uint64_t v;

	if (mpk_rd_try_nil(c))
		return 0;
	v = mpk_rd_u64(c);
	if (cur_ok(c))
		return v;
	*c = save;
	(void)mpk_rd_i64(c);
	return 0;
}

static void uevent_set(char **field, char *v)
{
	free(*field);
	*field = v;
}

int uevent_decode(const uint8_t *p, size_t len, struct uevent *e)
{
	struct cur c;
	uint32_t n;

	memset(e, 0, sizeof(*e));
	cur_init(&c, p, len);
	n = mpk_rd_map(&c);
	for (uint32_t i = 0; i < n && cur_ok(&c); i++) {
		size_t klen, vlen;
		const char *k = (const char *)uevent_rd_bytes(&c, &klen, 64);
		const uint8_t *v;

		if (k == NULL)
			break;
		/* go-msgpack matches struct keys exactly (case too). */
		if (mpk_str_eq(k, klen, "ID")) {
			v = uevent_rd_bytes(&c, &vlen, UEVENT_ID_LEN);
			if (v != NULL && memchr(v, '\0', vlen) != NULL)
				cur_fail(&c);
			if (cur_ok(&c)) {
				memcpy(e->id, v, vlen);
				e->id[vlen] = '\0';
			}
		} else if (mpk_str_eq(k, klen, "n")) {
			char *s = uevent_rd_text(&c, UEVENT_NAME_MAX, false);

			if (s != NULL)
				uevent_set(&e->name, s);
		} else if (mpk_str_eq(k, klen, "p")) {
			v = uevent_rd_bytes(&c, &vlen, UEVENT_PAYLOAD_MAX);
			if (v != NULL) {
				free(e->payload);
				e->payload = NULL;
				e->payload_len = vlen;
				if (vlen > 0) {
					e->payload = xmalloc(vlen);
					memcpy(e->payload, v, vlen);
				}
			}
		} else if (mpk_str_eq(k, klen, "nf")) {
			uevent_set(&e->node_filter, uevent_rd_text(&c, UEVENT_FILTER_MAX, true));
		} else if (mpk_str_eq(k, klen, "sf")) {
			uevent_set(&e->service_filter, uevent_rd_text(&c, UEVENT_FILTER_MAX, true));
		} else if (mpk_str_eq(k, klen, "tf")) {
			uevent_set(&e->tag_filter, uevent_rd_text(&c, UEVENT_FILTER_MAX, true));
		} else if (mpk_str_eq(k, klen, "v")) {
			e->version = uevent_rd_version(&c);
		} else {
			mpk_skip(&c);
		}
	}
	if (!cur_ok(&c)) {
		uevent_free(e);
		return -1;
	}
	if (e->name == NULL)
		e->name = xstrdup("");
	return 0;
}

void uevent_free(struct uevent *e)
{
	if (e == NULL)
		return;
	free(e->name);
	free(e->payload);
	free(e->node_filter);
	free(e->service_filter);
	free(e->tag_filter);
	memset(e, 0, sizeof(*e));
}

static char *uevent_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

int uevent_copy(struct uevent *dst, const struct uevent *src)
{
	*dst = *src;
	dst->name = uevent_dup(src->name);
	dst->node_filter = uevent_dup(src->node_filter);
	dst->service_filter = uevent_dup(src->service_filter);
	dst->tag_filter = uevent_dup(src->tag_filter);
	dst->payload = NULL;
	if (src->payload_len > 0) {
		dst->payload = xmalloc(src->payload_len);
		memcpy(dst->payload, src->payload, src->payload_len);
	}
	return 0;
}

/* --- the ring (agent.go eventBuf, eventIndex) --- */

void uevent_ring_init(struct uevent_ring *r)
{
	memset(r, 0, sizeof(*r));
}

void uevent_ring_fini(struct uevent_ring *r)
{
	for (size_t i = 0; i < UEVENT_BUF; i++)
		uevent_free(&r->ev[i]);
	memset(r, 0, sizeof(*r));
}

void uevent_ring_push(struct uevent_ring *r, struct uevent *e)
{
	uevent_free(&r->ev[r->next]);
	r->ev[r->next] = *e;
	memset(e, 0, sizeof(*e));
	r->next = (r->next + 1) % UEVENT_BUF;
	if (r->n < UEVENT_BUF)
		r->n++;
}

size_t uevent_ring_list(const struct uevent_ring *r, const char *name_filter,
                        const struct uevent **out, size_t max)
{
	size_t first = (r->next + UEVENT_BUF - r->n) % UEVENT_BUF, k = 0;

	for (size_t i = 0; i < r->n && k < max; i++) {
		const struct uevent *e = &r->ev[(first + i) % UEVENT_BUF];

		if (uevent_has(name_filter) &&
		    strcmp(e->name != NULL ? e->name : "", name_filter) != 0)
			continue;
		out[k++] = e;
	}
	return k;
}

/* --- the index --- */

/* strconv.ParseUint(s, 16, 64) over n hex digits (n <= 16, so no overflow). */
static bool uevent_hex(const char *s, size_t n, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		unsigned d;

		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			d = (unsigned)(ch - 'A' + 10);
		else
			return false;
		*v = *v << 4 | d;
	}
	return true;
}

uint64_t uevent_id_index(const char *id)
{
	char lo[16], hi[16];
	uint64_t a, b;

	/* uuidToUint64 slices by position and ignores what sits at the
	 * dashes; a shorter ID panics in Consul. */
	if (id == NULL || strnlen(id, UEVENT_ID_LEN) < UEVENT_ID_LEN)
		return 0;
	memcpy(lo, id, 8);
	memcpy(lo + 8, id + 9, 4);
	memcpy(lo + 12, id + 14, 4);
	memcpy(hi, id + 19, 4);
	memcpy(hi + 4, id + 24, 12);
	if (!uevent_hex(lo, 16, &a) || !uevent_hex(hi, 16, &b))
		return 0;
	return a ^ b;
}

uint64_t uevent_index(const struct uevent *const *list, size_t n)
{
	uint64_t v;

	if (n == 0)
		return 1;
	v = uevent_id_index(list[n - 1]->id);
	/* Consul's setIndex never sends 0 (a blocking client would spin on
	 * ?index=0); a malformed ID, where Consul panics, gives 1 too. */
	return v != 0 ? v : 1;
}

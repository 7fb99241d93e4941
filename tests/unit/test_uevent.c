/* test_uevent.c: Consul's user events: the msgpack body byte for byte, filters, the ring of recent events, the listing index. */
#include "daemons/gossipd/uevent.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mpk.h"
#include "testutil.h"
#include "xalloc.h"

#define ID_A "11111111-2222-3333-4444-555555555555"

/* What Consul 1.x's encodeMsgPack(&UserEvent{...}) writes for the event
 * below, built by hand from go-msgpack's rules (MsgpackHandle{WriteExt:
 * true}): the struct as a fixmap keyed by its codec names in sorted
 * order, fixstr keys, str8 for the 36-byte ID (WriteExt allows str8), bin8
 * for the []byte payload, Version 1 as a positive fixint. */
/* clang-format off */
static const uint8_t consul_full[] = {
	0x87,                                               /* map of 7 */
	0xa2, 'I', 'D', 0xd9, 36,                           /* "ID": str8(36) */
	'1', '1', '1', '1', '1', '1', '1', '1', '-', '2', '2', '2', '2', '-', '3', '3', '3', '3',
	'-', '4', '4', '4', '4', '-', '5', '5', '5', '5', '5', '5', '5', '5', '5', '5', '5', '5',
	0xa1, 'n', 0xa6, 'd', 'e', 'p', 'l', 'o', 'y',      /* "n": "deploy" */
	0xa2, 'n', 'f', 0xa6, 'w', 'e', 'b', '-', '.', '*', /* "nf": "web-.*" */
	0xa1, 'p', 0xc4, 3, 'a', 'b', 'c',                  /* "p": bin8 "abc" */
	0xa2, 's', 'f', 0xa3, 'a', 'p', 'i',                /* "sf": "api" */
	0xa2, 't', 'f', 0xa2, 'v', '1',                     /* "tf": "v1" */
	0xa1, 'v', 0x01,                                    /* "v": 1 */
};
/* clang-format on */

/* The same rules for an event with no payload and no filters: those keys
 * are omitempty; ID, n and v never are. */
static const uint8_t consul_min[] = {
    0x83, 0xa2, 'I', 'D', 0xa0, 0xa1, 'n', 0xa1, 'x', 0xa1, 'v', 0x01,
};

static void fill_full(struct uevent *e)
{
	memset(e, 0, sizeof(*e));
	strcpy(e->id, ID_A);
	e->name = xstrdup("deploy");
	e->payload = xmalloc(3);
	memcpy(e->payload, "abc", 3);
	e->payload_len = 3;
	e->node_filter = xstrdup("web-.*");
	e->service_filter = xstrdup("api");
	e->tag_filter = xstrdup("v1");
	e->version = UEVENT_VERSION;
}

static bool str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void assert_same(const struct uevent *a, const struct uevent *b)
{
	ck_assert_str_eq(a->id, b->id);
	ck_assert_str_eq(a->name, b->name);
	ck_assert_uint_eq(a->payload_len, b->payload_len);
	if (a->payload_len > 0)
		ck_assert_mem_eq(a->payload, b->payload, a->payload_len);
	ck_assert(str_same(a->node_filter, b->node_filter));
	ck_assert(str_same(a->service_filter, b->service_filter));
	ck_assert(str_same(a->tag_filter, b->tag_filter));
	ck_assert_uint_eq(a->version, b->version);
}

START_TEST(test_encode_consul_bytes)
{
	struct uevent e, m;
	struct buf b;

	fill_full(&e);
	buf_init(&b, 4096);
	ck_assert_int_eq(uevent_encode(&e, &b), 0);
	ck_assert_uint_eq(b.len, sizeof(consul_full));
	ck_assert_mem_eq(b.p, consul_full, sizeof(consul_full));

	memset(&m, 0, sizeof(m));
	m.name = xstrdup("x");
	m.version = 1;
	buf_reset(&b);
	ck_assert_int_eq(uevent_encode(&m, &b), 0);
	ck_assert_uint_eq(b.len, sizeof(consul_min));
	ck_assert_mem_eq(b.p, consul_min, sizeof(consul_min));

	/* An empty payload is omitted like a nil one (omitempty: len 0). */
	m.payload = xmalloc(1);
	m.payload_len = 0;
	buf_reset(&b);
	ck_assert_int_eq(uevent_encode(&m, &b), 0);
	ck_assert_mem_eq(b.p, consul_min, sizeof(consul_min));
	buf_fini(&b);
	uevent_free(&m);
	uevent_free(&e);
}
END_TEST

START_TEST(test_decode_consul_bytes)
{
	struct uevent e, want;

	ck_assert_int_eq(uevent_decode(consul_full, sizeof(consul_full), &e), 0);
	fill_full(&want);
	assert_same(&e, &want);
	ck_assert_uint_eq(e.ltime, 0);
	uevent_free(&e);
	uevent_free(&want);

	ck_assert_int_eq(uevent_decode(consul_min, sizeof(consul_min), &e), 0);
	ck_assert_str_eq(e.id, "");
	ck_assert_str_eq(e.name, "x");
	ck_assert_ptr_null(e.payload);
	ck_assert_ptr_null(e.node_filter);
	ck_assert_ptr_null(e.service_filter);
	ck_assert_ptr_null(e.tag_filter);
	ck_assert_uint_eq(e.version, 1);
	uevent_free(&e);
}
END_TEST

START_TEST(test_round_trip)
{
	struct uevent e, d, c;
	struct buf b;

	fill_full(&e);
	e.version = 300; /* beyond a fixint */
	buf_init(&b, 4096);
	ck_assert_int_eq(uevent_encode(&e, &b), 0);
	ck_assert_int_eq(uevent_decode(b.p, b.len, &d), 0);
	assert_same(&e, &d);
	ck_assert_int_eq(uevent_copy(&c, &d), 0);
	assert_same(&c, &d);
	ck_assert_ptr_ne(c.name, d.name);
	ck_assert_ptr_ne(c.payload, d.payload);
	uevent_free(&c);
	uevent_free(&d);

	/* A long payload takes bin16, a long filter str16. */
	free(e.payload);
	e.payload_len = 1000;
	e.payload = xcalloc(1, e.payload_len);
	e.payload[999] = 0xff;
	free(e.node_filter);
	e.node_filter = xmalloc(301);
	memset(e.node_filter, 'a', 300);
	e.node_filter[300] = '\0';
	buf_reset(&b);
	ck_assert_int_eq(uevent_encode(&e, &b), 0);
	ck_assert_int_eq(uevent_decode(b.p, b.len, &d), 0);
	assert_same(&e, &d);
	uevent_free(&d);
	buf_fini(&b);
	uevent_free(&e);
	uevent_free(NULL);
}
END_TEST

/* Builds a map with the given pairs by hand. */
START_TEST(test_decode_forms)
{
	struct uevent e;
	struct buf b;

	buf_init(&b, 1 << 20);
	/* Any key order; "p" as str; the name as bin; an unknown key with a
	 * nested value; nil filters and version; bytes after the map. */
	mpk_wr_map(&b, 7);
	mpk_wr_cstr(&b, "v");
	mpk_wr_nil(&b);
	mpk_wr_cstr(&b, "p");
	mpk_wr_str(&b, "hi", 2);
	mpk_wr_cstr(&b, "Extra");
	mpk_wr_array(&b, 2);
	mpk_wr_map(&b, 1);
	mpk_wr_cstr(&b, "k");
	mpk_wr_uint(&b, 7);
	mpk_wr_bool(&b, true);
	mpk_wr_cstr(&b, "n");
	mpk_wr_bin(&b, "nm", 2);
	mpk_wr_cstr(&b, "nf");
	mpk_wr_nil(&b);
	mpk_wr_cstr(&b, "sf");
	mpk_wr_cstr(&b, "");
	mpk_wr_cstr(&b, "ID");
	mpk_wr_raw(&b, ID_A, 36);
	buf_append(&b, "\xc0\xc0", 2);
	ck_assert_int_eq(uevent_decode(b.p, b.len, &e), 0);
	ck_assert_str_eq(e.name, "nm");
	ck_assert_uint_eq(e.payload_len, 2);
	ck_assert_mem_eq(e.payload, "hi", 2);
	ck_assert_ptr_null(e.node_filter);
	ck_assert_ptr_null(e.service_filter);
	ck_assert_str_eq(e.id, ID_A);
	ck_assert_uint_eq(e.version, 0);
	uevent_free(&e);

	/* Duplicate keys: the last one wins (and the first is freed). */
	buf_reset(&b);
	mpk_wr_map(&b, 3);
	mpk_wr_cstr(&b, "n");
	mpk_wr_cstr(&b, "first");
	mpk_wr_cstr(&b, "n");
	mpk_wr_cstr(&b, "second");
	mpk_wr_cstr(&b, "v");
	mpk_wr_int(&b, -3); /* a Go int: negative reads as 0 */
	ck_assert_int_eq(uevent_decode(b.p, b.len, &e), 0);
	ck_assert_str_eq(e.name, "second");
	ck_assert_uint_eq(e.version, 0);
	uevent_free(&e);

	/* No name at all: "" (never NULL). An empty map. */
	ck_assert_int_eq(uevent_decode((const uint8_t *)"\x80", 1, &e), 0);
	ck_assert_ptr_nonnull(e.name);
	ck_assert_str_eq(e.name, "");
	uevent_free(&e);
	buf_fini(&b);
}
END_TEST

static int decode_one(const char *key, const void *v, size_t len, bool bin)
{
	struct uevent e;
	struct buf b;
	int rc;

	buf_init(&b, 1 << 20);
	mpk_wr_map(&b, 1);
	mpk_wr_cstr(&b, key);
	if (bin)
		mpk_wr_bin(&b, v, len);
	else
		mpk_wr_str(&b, v, len);
	rc = uevent_decode(b.p, b.len, &e);
	if (rc == 0)
		uevent_free(&e);
	else
		ck_assert_ptr_null(e.name); /* zeroed on failure */
	buf_fini(&b);
	return rc;
}

START_TEST(test_decode_limits)
{
	char *big = xcalloc(1, UEVENT_PAYLOAD_MAX + 2);
	struct uevent e;

	memset(big, 'a', UEVENT_PAYLOAD_MAX + 1);
	ck_assert_int_eq(decode_one("n", big, UEVENT_NAME_MAX, false), 0);
	ck_assert_int_eq(decode_one("n", big, UEVENT_NAME_MAX + 1, false), -1);
	ck_assert_int_eq(decode_one("nf", big, UEVENT_FILTER_MAX, false), 0);
	ck_assert_int_eq(decode_one("sf", big, UEVENT_FILTER_MAX + 1, false), -1);
	ck_assert_int_eq(decode_one("tf", big, UEVENT_FILTER_MAX + 1, false), -1);
	ck_assert_int_eq(decode_one("p", big, UEVENT_PAYLOAD_MAX, true), 0);
	ck_assert_int_eq(decode_one("p", big, UEVENT_PAYLOAD_MAX + 1, true), -1);
	ck_assert_int_eq(decode_one("ID", big, 36, false), 0);
	ck_assert_int_eq(decode_one("ID", big, 37, false), -1);
	/* A NUL inside text (C strings from here on), not inside a payload. */
	ck_assert_int_eq(decode_one("n", "a\0b", 3, false), -1);
	ck_assert_int_eq(decode_one("nf", "a\0b", 3, true), -1);
	ck_assert_int_eq(decode_one("ID", "a\0b", 3, false), -1);
	ck_assert_int_eq(decode_one("p", "a\0b", 3, true), 0);
	free(big);

	/* Not a map; cut short; a wrong type for a field. */
	ck_assert_int_eq(uevent_decode((const uint8_t *)"\x90", 1, &e), -1);
	ck_assert_int_eq(uevent_decode((const uint8_t *)"", 0, &e), -1);
	ck_assert_int_eq(uevent_decode(consul_full, sizeof(consul_full) - 1, &e), -1);
	ck_assert_int_eq(uevent_decode((const uint8_t *)"\x81\xa1n\x01", 4, &e), -1);
	ck_assert_int_eq(uevent_decode((const uint8_t *)"\x81\xa1v\xa1x", 5, &e), -1);
	ck_assert_int_eq(uevent_decode((const uint8_t *)"\x81\xa1v\xcb\0\0\0\0\0\0\0\0", 12, &e),
	                 -1);
	/* A map count the input cannot hold is refused before any work. */
	ck_assert_int_eq(uevent_decode((const uint8_t *)"\xdf\xff\xff\xff\xff", 5, &e), -1);
}
END_TEST

START_TEST(test_encode_limits)
{
	struct uevent e;
	struct buf b;

	memset(&e, 0, sizeof(e));
	e.name = xcalloc(1, UEVENT_NAME_MAX + 2);
	memset(e.name, 'n', UEVENT_NAME_MAX + 1);
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(uevent_encode(&e, &b), -1);
	e.name[UEVENT_NAME_MAX] = '\0';
	buf_reset(&b);
	ck_assert_int_eq(uevent_encode(&e, &b), 0);
	buf_fini(&b);
	/* The buffer's cap is honoured. */
	buf_init(&b, 16);
	ck_assert_int_eq(uevent_encode(&e, &b), -1);
	buf_fini(&b);
	uevent_free(&e);
}
END_TEST

static int validate(const char *name, const char *nf, const char *sf, const char *tf, char *err,
                    size_t size)
{
	struct uevent e;

	memset(&e, 0, sizeof(e));
	e.name = (char *)name;
	e.node_filter = (char *)nf;
	e.service_filter = (char *)sf;
	e.tag_filter = (char *)tf;
	err[0] = '\0';
	return uevent_validate(&e, err, size);
}

START_TEST(test_validate)
{
	char err[256];

	ck_assert_int_eq(validate("deploy", NULL, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(validate("deploy", "^web", "api", "v1", err, sizeof(err)), 0);
	ck_assert_int_eq(validate("deploy", "", "", "", err, sizeof(err)), 0);
	ck_assert_int_eq(validate("", NULL, NULL, NULL, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "User event missing name");
	ck_assert_int_eq(validate(NULL, NULL, NULL, NULL, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "User event missing name");
	ck_assert_int_eq(validate("d", NULL, NULL, "v1", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "Cannot provide tag filter without service filter");
	ck_assert_int_eq(validate("d", "(", NULL, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "Invalid node filter: ", 21) == 0 && strlen(err) > 21, "%s",
	              err);
	ck_assert_int_eq(validate("d", NULL, "[a", NULL, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "Invalid service filter: ", 24) == 0, "%s", err);
	ck_assert_int_eq(validate("d", NULL, "api", "a**", err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "Invalid tag filter: ", 20) == 0, "%s", err);
	/* What RE2 refuses and what would make glibc's regcomp explode. */
	ck_assert_int_eq(validate("d", "((a{999}){999}){999}", NULL, NULL, err, sizeof(err)), -1);
	ck_assert_int_eq(validate("d", "(a)\\1", NULL, NULL, err, sizeof(err)), -1);
}
END_TEST

static bool accept(const char *nf, const char *sf, const char *tf, const char *node)
{
	static const char *const api_tags[] = {"v1", "prod"};
	static const char *const db_tags[] = {"primary"};
	static const struct uevent_service svcs[] = {
	    {"api-v2", api_tags, 2},
	    {"db", db_tags, 1},
	    {"cache", NULL, 0},
	};
	struct uevent e;

	memset(&e, 0, sizeof(e));
	e.name = (char *)"d";
	e.node_filter = (char *)nf;
	e.service_filter = (char *)sf;
	e.tag_filter = (char *)tf;
	e.version = 1;
	return uevent_accept(&e, node, svcs, 3);
}

START_TEST(test_accept)
{
	ck_assert(accept(NULL, NULL, NULL, "web-12"));
	ck_assert(accept("", "", "", "web-12"));
	/* Node filter: Go's MatchString is a search, not a full match. */
	ck_assert(accept("^web-[0-9]+$", NULL, NULL, "web-12"));
	ck_assert(!accept("^web-[0-9]+$", NULL, NULL, "db-1"));
	ck_assert(accept("eb", NULL, NULL, "web-12"));
	ck_assert(accept("^web-\\d+$", NULL, NULL, "web-12")); /* RE2's \d */
	ck_assert(!accept("^web-\\d+$", NULL, NULL, "web-x"));
	ck_assert(accept("(?i)^WEB", NULL, NULL, "web-12"));
	/* Service filter: one service must match. */
	ck_assert(accept(NULL, "api", NULL, "n"));
	ck_assert(accept(NULL, "^cache$", NULL, "n"));
	ck_assert(!accept(NULL, "^api$", NULL, "n"));
	ck_assert(!accept(NULL, "web", NULL, "n"));
	/* ... and with a tag filter, one of that same service's tags. */
	ck_assert(accept(NULL, "api", "^prod$", "n"));
	ck_assert(accept(NULL, ".", "primary", "n"));
	ck_assert(!accept(NULL, "api", "primary", "n"));
	ck_assert(!accept(NULL, "cache", ".", "n"));
	ck_assert(!accept(NULL, "api", "staging", "n"));
	/* Both filters must pass. */
	ck_assert(accept("web", "db", "prim", "web-1"));
	ck_assert(!accept("web", "db", "prim", "db-1"));
	/* A tag filter without a service filter is not looked at. */
	ck_assert(accept(NULL, NULL, "nothing", "n"));
	/* A filter that does not compile accepts nothing. */
	ck_assert(!accept("(", NULL, NULL, "("));
	ck_assert(!accept(NULL, "[", NULL, "n"));
	ck_assert(!accept(NULL, "api", "a**", "n"));
	ck_assert(!accept("((a{999}){999}){999}", NULL, NULL, "a"));
	/* No local services: a service filter matches nothing. */
	{
		struct uevent e;

		memset(&e, 0, sizeof(e));
		e.name = (char *)"d";
		e.service_filter = (char *)".*";
		ck_assert(!uevent_accept(&e, "n", NULL, 0));
		e.service_filter = NULL;
		e.version = 99; /* newer than we know: Consul only warns */
		ck_assert(uevent_accept(&e, "n", NULL, 0));
	}
}
END_TEST

static void push_named(struct uevent_ring *r, const char *name, unsigned i)
{
	struct uevent e;

	memset(&e, 0, sizeof(e));
	snprintf(e.id, sizeof(e.id), "00000000-0000-0000-0000-%012x", i);
	e.name = xstrdup(name);
	e.ltime = i;
	uevent_ring_push(r, &e);
	ck_assert_ptr_null(e.name); /* taken */
}

START_TEST(test_ring_overflow)
{
	struct uevent_ring *r = xmalloc(sizeof(*r));
	const struct uevent *out[UEVENT_BUF + 10];
	char name[32];
	size_t n;

	uevent_ring_init(r);
	ck_assert_uint_eq(uevent_ring_list(r, NULL, out, UEVENT_BUF), 0);
	for (unsigned i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "e%u", i);
		push_named(r, name, i);
	}
	n = uevent_ring_list(r, NULL, out, UEVENT_BUF + 10);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(out[0]->name, "e0");
	ck_assert_str_eq(out[2]->name, "e2");
	for (unsigned i = 3; i < 257; i++) {
		snprintf(name, sizeof(name), "e%u", i);
		push_named(r, name, i);
	}
	n = uevent_ring_list(r, NULL, out, UEVENT_BUF + 10);
	ck_assert_uint_eq(n, UEVENT_BUF);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "e%zu", i + 1);
		ck_assert_str_eq(out[i]->name, name);
		ck_assert_uint_eq(out[i]->ltime, i + 1);
	}
	/* max bounds the answer: the oldest first. */
	ck_assert_uint_eq(uevent_ring_list(r, "", out, 2), 2);
	ck_assert_str_eq(out[1]->name, "e2");
	/* Many laps around the ring. */
	for (unsigned i = 257; i < 1000; i++)
		push_named(r, "lap", i);
	n = uevent_ring_list(r, NULL, out, UEVENT_BUF);
	ck_assert_uint_eq(n, UEVENT_BUF);
	ck_assert_uint_eq(out[0]->ltime, 1000 - UEVENT_BUF);
	ck_assert_uint_eq(out[n - 1]->ltime, 999);
	ck_assert_uint_eq(uevent_index(out, n), 999);
	uevent_ring_fini(r);
	free(r);
}
END_TEST

START_TEST(test_ring_name_filter)
{
	struct uevent_ring r;
	const struct uevent *out[UEVENT_BUF];
	size_t n;

	uevent_ring_init(&r);
	push_named(&r, "a", 1);
	push_named(&r, "b", 2);
	push_named(&r, "a", 3);
	push_named(&r, "ab", 4);
	n = uevent_ring_list(&r, "a", out, UEVENT_BUF);
	ck_assert_uint_eq(n, 2); /* exact: "ab" is not "a" */
	ck_assert_uint_eq(out[0]->ltime, 1);
	ck_assert_uint_eq(out[1]->ltime, 3);
	ck_assert_uint_eq(uevent_index(out, n), 3);
	ck_assert_uint_eq(uevent_ring_list(&r, "b", out, UEVENT_BUF), 1);
	ck_assert_uint_eq(uevent_ring_list(&r, "c", out, UEVENT_BUF), 0);
	ck_assert_uint_eq(uevent_index(out, 0), 1);
	ck_assert_uint_eq(uevent_ring_list(&r, "", out, UEVENT_BUF), 4);
	ck_assert_uint_eq(uevent_ring_list(&r, NULL, out, UEVENT_BUF), 4);
	uevent_ring_fini(&r);
}
END_TEST

static uint64_t index_of(const char *id)
{
	struct uevent e;
	const struct uevent *list[1] = {&e};

	memset(&e, 0, sizeof(e));
	snprintf(e.id, sizeof(e.id), "%s", id);
	return uevent_index(list, 1);
}

START_TEST(test_index)
{
	ck_assert_uint_eq(uevent_index(NULL, 0), 1);
	ck_assert_uint_eq(index_of("00000000-0000-0000-0000-000000000001"), 1);
	ck_assert_uint_eq(index_of("00000000-0000-0000-0000-000000000abc"), 0xabc);
	/* lower = 00000000 0000 0001, upper = 0000 000000000003: 1 ^ 3 */
	ck_assert_uint_eq(index_of("00000000-0000-0001-0000-000000000003"), 2);
	ck_assert_uint_eq(index_of(ID_A), 0x1111111122223333ull ^ 0x4444555555555555ull);
	ck_assert_uint_eq(index_of("ffffffff-ffff-ffff-0000-000000000000"), UINT64_MAX);
	ck_assert_uint_eq(index_of("FFFFFFFF-FFFF-FFFF-0000-000000000000"), UINT64_MAX);
	/* uuidToUint64 slices by position: what is at the dashes is ignored. */
	ck_assert_uint_eq(index_of("00000000x0000x0000x0000x000000000005"), 5);
	/* Both halves equal: Consul's XOR is 0, and setIndex sends 1. */
	ck_assert_uint_eq(index_of("00000000-0000-0007-0000-000000000007"), 1);
	/* Malformed (Consul panics): 1. */
	ck_assert_uint_eq(index_of(""), 1);
	ck_assert_uint_eq(index_of("00000000-0000-0000-0000-00000000001"), 1);
	ck_assert_uint_eq(index_of("0000000g-0000-0000-0000-000000000001"), 1);
	ck_assert_uint_eq(index_of("00000000-0000-0000-0000-00000000000+"), 1);
	ck_assert_uint_eq(uevent_id_index("x"), 0);
	ck_assert_uint_eq(uevent_id_index(NULL), 0);
}
END_TEST

static Suite *uevent_suite(void)
{
	Suite *s = suite_create("uevent");
	TCase *tc = tcase_create("uevent");

	tcase_add_test(tc, test_encode_consul_bytes);
	tcase_add_test(tc, test_decode_consul_bytes);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_decode_forms);
	tcase_add_test(tc, test_decode_limits);
	tcase_add_test(tc, test_encode_limits);
	tcase_add_test(tc, test_validate);
	tcase_add_test(tc, test_accept);
	tcase_add_test(tc, test_ring_overflow);
	tcase_add_test(tc, test_ring_name_filter);
	tcase_add_test(tc, test_index);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(uevent_suite());
}

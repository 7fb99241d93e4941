/* kvbench.c: KV put/get load with N requests in flight against raftd over the bus or against
 * etcd (gRPC or its JSON gateway): ops/s, latency percentiles, fsyncs per written key. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "ev.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"

/* Limits (habit 7): a run is bounded in clients, operations, sizes and time. */
#define KVB_CLIENTS_MAX      1024
#define KVB_OPS_MAX          10000000u
#define KVB_VALUE_SIZE_MAX   (256u << 10)
#define KVB_KEYS_MAX         10000000u
#define KVB_KEY_MAX          128
#define KVB_RESP_MAX         (1u << 20)
#define KVB_METRICS_MAX      (8u << 20)
#define KVB_POOL_EXTRA       4096
#define KVB_RETRY_GAP_MS     200
#define KVB_STATS_TIMEOUT_MS 5000

enum kvb_target { KVB_MUSTER, KVB_ETCD };
enum kvb_op { KVB_PUT, KVB_GET, KVB_WAIT };
enum kvb_etcd_api { KVB_GRPC, KVB_JSON };

struct kvb_opts {
	enum kvb_target target;
	enum kvb_op op;
	enum kvb_etcd_api api;
	const char *run_dir;
	const char *self; /* the bus name kvbench sends as */
	const char *etcd; /* http://127.0.0.1:2379 */
	const char *prefix;
	unsigned clients;
	uint64_t ops;
	size_t value_size;
	uint64_t keys;
	uint64_t timeout_ms;
	uint64_t max_errors;  /* stop issuing after this many failures */
	uint64_t duration_ms; /* 0: run -ops; else stop starting requests after it */
	uint64_t seed;
	unsigned consistency; /* muster KV_GET: 0 default, 1 stale, 2 consistent */
	bool serializable;    /* etcd Range */
};

/* What a run measured. Every latency is kept (an array that doubles up to
 * ops), then sorted once for the percentiles. */
struct kvb_run {
	const struct kvb_opts *o;
	uint64_t issued, done, ok, errors, misses;
	uint64_t *lat_ns;
	size_t nlat, lat_cap;
	uint64_t deadline_ns; /* with -duration-ms: no request starts after it */
	uint8_t *pool;        /* random bytes; values are slices of it */
	size_t pool_len;
	uint64_t rng;
	uint64_t stride; /* put keys: i * stride mod keys visits every key once per round */
	char first_error[256];
};

static uint64_t kvb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: quick and seedable, so a run can be repeated. */
static uint64_t kvb_rand(struct kvb_run *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 2685821657736338717ull;
}

static uint64_t kvb_gcd(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static int kvb_run_init(struct kvb_run *r, const struct kvb_opts *o)
{
	memset(r, 0, sizeof(*r));
	r->o = o;
	r->rng = o->seed ? o->seed : 0x9e3779b97f4a7c15ull;
	r->lat_cap = o->ops < 65536 ? o->ops : 65536;
	r->lat_ns = calloc(r->lat_cap, sizeof(*r->lat_ns));
	r->pool_len = o->value_size + KVB_POOL_EXTRA;
	r->pool = malloc(r->pool_len);
	if (r->lat_ns == NULL || r->pool == NULL)
		return -1;
	for (size_t i = 0; i < r->pool_len; i++)
		r->pool[i] = (uint8_t)(kvb_rand(r) >> 56);
	/* A stride near keys * golden ratio, coprime with keys: consecutive
	 * puts land far apart, and the first `keys` puts write every key once
	 * (so a later get run finds them all). */
	r->stride = o->keys > 2 ? (uint64_t)((double)o->keys * 0.6180339887) | 1 : 1;
	while (o->keys > 1 && kvb_gcd(r->stride, o->keys) != 1)
		r->stride += 2;
	return 0;
}

static void kvb_run_fini(struct kvb_run *r)
{
	free(r->lat_ns);
	free(r->pool);
}

/* Key of operation i: a permutation of the keyspace for puts, uniform for gets. */
static size_t kvb_key(struct kvb_run *r, uint64_t i, char *out, size_t size)
{
	uint64_t k = r->o->op == KVB_PUT ? (i * r->stride) % r->o->keys : kvb_rand(r) % r->o->keys;
	int n = snprintf(out, size, "%s%08" PRIx64, r->o->prefix, k);

	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static const uint8_t *kvb_value(struct kvb_run *r)
{
	return r->pool + kvb_rand(r) % KVB_POOL_EXTRA;
}

static void kvb_error(struct kvb_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void kvb_error(struct kvb_run *r, const char *fmt, ...)
{
	va_list ap;

	r->errors++;
	if (r->first_error[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(r->first_error, sizeof(r->first_error), fmt, ap);
	va_end(ap);
}

/* Whether another request should go out: a run is bounded by its count and,
 * when the server stops answering, by its failures (each costs a timeout). */
static bool kvb_more(const struct kvb_run *r)
{
	if (r->issued >= r->o->ops || r->errors >= r->o->max_errors)
		return false;
	return r->deadline_ns == 0 || kvb_now_ns() < r->deadline_ns;
}

/* Marks the start of the measured run. */
static uint64_t kvb_start(struct kvb_run *r)
{
	uint64_t now = kvb_now_ns();

	if (r->o->duration_ms > 0)
		r->deadline_ns = now + r->o->duration_ms * 1000000u;
	return now;
}

static void kvb_done(struct kvb_run *r, uint64_t t0, bool ok)
{
	r->done++;
	if (!ok)
		return;
	r->ok++;
	if (r->nlat == r->lat_cap) {
		/* Grows by doubling up to ops (which bounds issued). */
		size_t cap = r->lat_cap * 2 < r->o->ops ? r->lat_cap * 2 : r->o->ops;
		uint64_t *p = realloc(r->lat_ns, cap * sizeof(*p));

		if (p == NULL || cap == r->lat_cap)
			return; /* not kept: the percentiles see fewer samples */
		r->lat_ns = p;
		r->lat_cap = cap;
	}
	r->lat_ns[r->nlat++] = kvb_now_ns() - t0;
}

static int kvb_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest latency with at least p of them at or below it. */
static double kvb_pct_us(const struct kvb_run *r, double p)
{
	size_t i;

	if (r->nlat == 0)
		return 0;
	i = (size_t)(p * (double)r->nlat + 0.999999);
	i = i == 0 ? 0 : i - 1;
	if (i >= r->nlat)
		i = r->nlat - 1;
	return (double)r->lat_ns[i] / 1000.0;
}

/* Fsync counters read before and after a run; -1 when the server does not
 * export them. */
struct kvb_syncs {
	double syncs;   /* muster: store_syncs; etcd: WAL fsyncs */
	double appends; /* muster: store_appends; etcd: backend (bbolt) commits */
};

/* --------------------------------------------------------------- muster */

struct kvb_mslot {
	struct kvb_run *r;
	struct ipc_client *c;
	uint64_t t0;
	char key[KVB_KEY_MAX];
};

/* One turn of the loop. A failed poll is not an operating error (ev retries
 * EINTR itself): leaving here with requests pending would leave their
 * callbacks pointing at freed slots, so it ends the program. */
static void kvb_turn(struct ev *ev, int max_wait_ms)
{
	if (ev_run_once(ev, max_wait_ms) != 0) {
		fprintf(stderr, "kvbench: the event loop failed\n");
		exit(1);
	}
}

struct kvb_wait {
	bool done;
	enum ipc_status st;
	struct msg reply;
};

static void kvb_wait_cb(void *arg, enum ipc_status st, struct msg *reply)
{
	struct kvb_wait *w = arg;

	w->done = true;
	w->st = st;
	if (st == IPC_OK)
		msg_copy(&w->reply, reply);
}

/* One request through the loop's own client: a second DEALER with the same
 * name would take the ROUTER's route over (ZMQ_ROUTER_HANDOVER). */
static enum ipc_status kvb_call_wait(struct ev *ev, struct ipc_client *c, struct msg *req,
                                     uint64_t timeout_ms, struct msg *reply)
{
	struct kvb_wait w;

	memset(&w, 0, sizeof(w));
	memset(reply, 0, sizeof(*reply));
	if (ipc_call(c, req, timeout_ms, kvb_wait_cb, &w) != 0)
		return IPC_UNAVAILABLE;
	while (!w.done) /* the call's deadline bounds this */
		kvb_turn(ev, 100);
	*reply = w.reply;
	return w.st;
}

static void kvb_reply_text(const struct msg *m, char *out, size_t size)
{
	if (m->type == MSG_RESULT)
		snprintf(out, size, "RESULT %" PRIu64 " %s", m->u.result.status,
		         m->u.result.error ? m->u.result.error : "");
	else
		snprintf(out, size, "unexpected %s", msg_type_name(m->type));
}

static double kvb_stat_find(const struct msg *m, const char *a, const char *b)
{
	if (m->type != MSG_STATS_REPLY)
		return -1;
	for (size_t d = 0; d < m->u.stats_reply.daemons.n; d++) {
		const struct msg_daemon_stats *ds = &m->u.stats_reply.daemons.v[d];

		for (size_t i = 0; i < ds->stats.n; i++)
			if (strcmp(ds->stats.v[i].name, a) == 0 ||
			    strcmp(ds->stats.v[i].name, b) == 0)
				return ds->stats.v[i].value;
	}
	return -1;
}

static void kvb_muster_syncs(struct ev *ev, struct ipc_client *c, struct kvb_syncs *s)
{
	struct msg req, reply;

	s->syncs = s->appends = -1;
	memset(&req, 0, sizeof(req));
	req.type = MSG_STATS;
	if (kvb_call_wait(ev, c, &req, KVB_STATS_TIMEOUT_MS, &reply) != IPC_OK)
		return;
	s->syncs = kvb_stat_find(&reply, "store_syncs", "store.syncs");
	s->appends = kvb_stat_find(&reply, "store_appends", "store.appends");
	msg_free(&reply);
}

static void kvb_muster_fill(struct kvb_run *r, struct kvb_mslot *s, struct msg *req)
{
	const struct kvb_opts *o = r->o;

	memset(req, 0, sizeof(*req));
	kvb_key(r, r->issued, s->key, sizeof(s->key));
	if (o->op == KVB_GET) {
		req->type = MSG_KV_GET;
		req->u.kv_get.q.consistency = o->consistency;
		req->u.kv_get.key = s->key;
		req->u.kv_get.separator = (char *)"";
	} else {
		req->type = MSG_KV_PUT;
		req->u.kv_put.op = (char *)"set";
		req->u.kv_put.key = s->key;
		req->u.kv_put.value.p = (uint8_t *)kvb_value(r);
		req->u.kv_put.value.len = o->value_size;
		req->u.kv_put.session = (char *)"";
	}
}

static void kvb_muster_cb(void *arg, enum ipc_status st, struct msg *reply);

static void kvb_muster_issue(struct kvb_mslot *s)
{
	struct kvb_run *r = s->r;
	struct msg req;

	if (!kvb_more(r))
		return;
	/* The request is encoded by ipc_call: its strings are borrowed. */
	kvb_muster_fill(r, s, &req);
	s->t0 = kvb_now_ns();
	r->issued++;
	if (ipc_call(s->c, &req, r->o->timeout_ms, kvb_muster_cb, s) != 0) {
		r->done++;
		kvb_error(r, "ipc_call: could not queue the request");
		kvb_muster_issue(s);
	}
}

static void kvb_muster_cb(void *arg, enum ipc_status st, struct msg *reply)
{
	struct kvb_mslot *s = arg;
	struct kvb_run *r = s->r;
	char why[200];
	bool ok = false;

	if (st != IPC_OK) {
		kvb_error(r, "%s", ipc_status_str(st));
	} else if (reply->type == MSG_WRITE_REPLY && r->o->op == KVB_PUT) {
		ok = true;
	} else if (reply->type == MSG_KV_GET_REPLY && r->o->op == KVB_GET) {
		ok = true;
		if (reply->u.kv_get_reply.entries.n == 0)
			r->misses++;
	} else if (reply->type == MSG_RESULT && reply->u.result.status == 404 &&
	           r->o->op == KVB_GET) {
		ok = true; /* a miss is an answer too; counted apart */
		r->misses++;
	} else {
		kvb_reply_text(reply, why, sizeof(why));
		kvb_error(r, "%s", why);
	}
	kvb_done(r, s->t0, ok);
	kvb_muster_issue(s);
}

/* Retries one KV_PUT until raftd acknowledges it (a leader exists and the
 * write path works) or timeout_ms passes. */
static int kvb_muster_wait(struct ev *ev, struct ipc_client *c, const struct kvb_opts *o)
{
	uint64_t deadline = ev_clock_ms() + o->timeout_ms;
	char key[KVB_KEY_MAX], why[256] = "no answer";
	struct msg req, reply;

	snprintf(key, sizeof(key), "%sready", o->prefix);
	for (;;) {
		enum ipc_status st;

		memset(&req, 0, sizeof(req));
		req.type = MSG_KV_PUT;
		req.u.kv_put.op = (char *)"set";
		req.u.kv_put.key = key;
		req.u.kv_put.value.p = (uint8_t *)"1";
		req.u.kv_put.value.len = 1;
		req.u.kv_put.session = (char *)"";
		st = kvb_call_wait(ev, c, &req, 2000, &reply);
		if (st == IPC_OK && reply.type == MSG_WRITE_REPLY) {
			msg_free(&reply);
			return 0;
		}
		if (st == IPC_OK) {
			bool never = reply.type == MSG_RESULT && reply.u.result.error != NULL &&
			             strstr(reply.u.result.error, "is not built yet") != NULL;

			kvb_reply_text(&reply, why, sizeof(why));
			msg_free(&reply);
			/* Retrying cannot help: this raftd has no write path. */
			if (never)
				break;
		} else {
			snprintf(why, sizeof(why), "%s", ipc_status_str(st));
		}
		if (ev_clock_ms() + KVB_RETRY_GAP_MS >= deadline)
			break;
		/* Between tries the loop runs too (late replies are dropped). */
		for (uint64_t until = ev_clock_ms() + KVB_RETRY_GAP_MS; ev_clock_ms() < until;)
			kvb_turn(ev, KVB_RETRY_GAP_MS);
	}
	fprintf(stderr, "kvbench: raftd did not acknowledge a KV_PUT: %s\n", why);
	return -1;
}

static int kvb_muster(struct kvb_run *r, struct kvb_syncs *before, struct kvb_syncs *after,
                      uint64_t *elapsed_ns)
{
	const struct kvb_opts *o = r->o;
	struct ev *ev = ev_new();
	struct ipc_client *c;
	struct kvb_mslot *slots;
	uint64_t t0;
	int rc = 0;

	if (ev == NULL)
		return -1;
	c = ipc_client_new(ev, o->run_dir, o->self, "raftd");
	if (c == NULL) {
		fprintf(stderr, "kvbench: cannot connect to raftd in %s\n", o->run_dir);
		ev_free(ev);
		return -1;
	}
	if (o->op == KVB_WAIT) {
		rc = kvb_muster_wait(ev, c, o);
		goto out;
	}
	slots = calloc(o->clients, sizeof(*slots));
	if (slots == NULL) {
		rc = -1;
		goto out;
	}
	kvb_muster_syncs(ev, c, before);
	t0 = kvb_start(r);
	for (unsigned i = 0; i < o->clients; i++) {
		slots[i].r = r;
		slots[i].c = c;
		kvb_muster_issue(&slots[i]);
	}
	/* Turns of the loop rather than ev_run(): ev_stop() is for good, and
	 * the loop still carries the STATS call after the run. */
	while (r->done < r->issued)
		kvb_turn(ev, 100);
	*elapsed_ns = kvb_now_ns() - t0;
	kvb_muster_syncs(ev, c, after);
	free(slots);
out:
	ipc_client_free(c);
	ev_free(ev);
	return rc;
}

/* ----------------------------------------------------------------- etcd */

struct kvb_eslot {
	struct kvb_run *r;
	CURL *h;
	struct curl_slist *hdrs;
	uint64_t t0;
	char key[KVB_KEY_MAX];
	uint8_t *body; /* request body */
	size_t body_len;
	uint8_t *resp; /* response body, up to resp_max (0: KVB_RESP_MAX) */
	size_t resp_len, resp_size, resp_max;
	int grpc_status; /* -1 until the trailer (or a trailers-only header) */
	char grpc_message[128];
	bool overflow;
};

static size_t kvb_write_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct kvb_eslot *s = arg;
	size_t len = sz * n;

	if (s->resp_len + len > (s->resp_max ? s->resp_max : KVB_RESP_MAX)) {
		s->overflow = true;
		return len;
	}
	if (s->resp_len + len > s->resp_size) {
		size_t ns = (s->resp_len + len) * 2;
		uint8_t *np = realloc(s->resp, ns);

		if (np == NULL)
			return 0;
		s->resp = np;
		s->resp_size = ns;
	}
	memcpy(s->resp + s->resp_len, p, len);
	s->resp_len += len;
	return len;
}

/* gRPC status comes as an HTTP/2 trailer, which libcurl hands to the header
 * callback like any header line. */
static size_t kvb_header_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct kvb_eslot *s = arg;
	size_t len = sz * n;

	if (len > 12 && strncasecmp(p, "grpc-status:", 12) == 0)
		s->grpc_status = atoi(p + 12);
	else if (len > 13 && strncasecmp(p, "grpc-message:", 13) == 0) {
		size_t m =
		    len - 13 < sizeof(s->grpc_message) - 1 ? len - 13 : sizeof(s->grpc_message) - 1;
		memcpy(s->grpc_message, p + 13, m);
		s->grpc_message[m] = '\0';
		s->grpc_message[strcspn(s->grpc_message, "\r\n")] = '\0';
	}
	return len;
}

static size_t kvb_pb_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

static size_t kvb_pb_bytes(uint8_t *out, unsigned field, const void *p, size_t len)
{
	size_t n = kvb_pb_varint(out, (uint64_t)field << 3 | 2);

	n += kvb_pb_varint(out + n, len);
	memcpy(out + n, p, len);
	return n + len;
}

static const char kvb_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t kvb_base64(char *out, const uint8_t *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[n++] = kvb_b64[v >> 18 & 63];
		out[n++] = kvb_b64[v >> 12 & 63];
		out[n++] = i + 1 < len ? kvb_b64[v >> 6 & 63] : '=';
		out[n++] = i + 2 < len ? kvb_b64[v & 63] : '=';
	}
	return n;
}

/* A gRPC message: 1 byte "compressed" flag, 4 bytes big-endian length,
 * then the protobuf (etcdserverpb PutRequest{key=1, value=2},
 * RangeRequest{key=1, serializable=7}). */
static void kvb_etcd_body_grpc(struct kvb_run *r, struct kvb_eslot *s, size_t klen)
{
	uint8_t *b = s->body + 5;
	size_t n;

	n = kvb_pb_bytes(b, 1, s->key, klen);
	if (r->o->op == KVB_PUT)
		n += kvb_pb_bytes(b + n, 2, kvb_value(r), r->o->value_size);
	else if (r->o->serializable) {
		b[n++] = 7 << 3;
		b[n++] = 1;
	}
	s->body[0] = 0;
	s->body[1] = (uint8_t)(n >> 24);
	s->body[2] = (uint8_t)(n >> 16);
	s->body[3] = (uint8_t)(n >> 8);
	s->body[4] = (uint8_t)n;
	s->body_len = n + 5;
}

static void kvb_etcd_body_json(struct kvb_run *r, struct kvb_eslot *s, size_t klen)
{
	char *b = (char *)s->body;
	size_t n = 0;

	n += (size_t)sprintf(b + n, "{\"key\":\"");
	n += kvb_base64(b + n, (const uint8_t *)s->key, klen);
	if (r->o->op == KVB_PUT) {
		n += (size_t)sprintf(b + n, "\",\"value\":\"");
		n += kvb_base64(b + n, kvb_value(r), r->o->value_size);
	}
	n += (size_t)sprintf(b + n, "\"%s}",
	                     r->o->op == KVB_GET && r->o->serializable ? ",\"serializable\":true"
	                                                               : "");
	s->body_len = n;
}

/* Whether a RangeResponse holds a kv: protobuf field 2 (kvs) at top level. */
static bool kvb_pb_has_kvs(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint64_t tag = 0, v = 0;
		unsigned sh = 0;

		while (i < len && sh < 64) {
			tag |= (uint64_t)(p[i] & 0x7f) << sh;
			sh += 7;
			if (!(p[i++] & 0x80))
				break;
		}
		if ((tag & 7) == 2 && tag >> 3 == 2)
			return true;
		if ((tag & 7) == 0) {
			while (i < len && (p[i++] & 0x80))
				;
			continue;
		}
		if ((tag & 7) != 2)
			return false; /* RangeResponse has no other wire types */
		for (sh = 0; i < len && sh < 64; sh += 7) {
			v |= (uint64_t)(p[i] & 0x7f) << sh;
			if (!(p[i++] & 0x80))
				break;
		}
		if (v > len - i)
			return false;
		i += (size_t)v;
	}
	return false;
}

static void kvb_etcd_issue(CURLM *m, struct kvb_eslot *s)
{
	struct kvb_run *r = s->r;
	size_t klen;

	if (!kvb_more(r))
		return;
	klen = kvb_key(r, r->issued, s->key, sizeof(s->key));
	if (r->o->api == KVB_GRPC)
		kvb_etcd_body_grpc(r, s, klen);
	else
		kvb_etcd_body_json(r, s, klen);
	s->resp_len = 0;
	s->grpc_status = -1;
	s->grpc_message[0] = '\0';
	s->overflow = false;
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body);
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)s->body_len);
	s->t0 = kvb_now_ns();
	r->issued++;
	curl_multi_add_handle(m, s->h);
}

static void kvb_etcd_finish(struct kvb_eslot *s, CURLcode cc)
{
	struct kvb_run *r = s->r;
	long http = 0;
	bool ok = false;

	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &http);
	if (cc != CURLE_OK) {
		kvb_error(r, "curl: %s", curl_easy_strerror(cc));
	} else if (http != 200) {
		kvb_error(r, "HTTP %ld", http);
	} else if (r->o->api == KVB_GRPC && s->grpc_status != 0) {
		kvb_error(r, "grpc-status %d: %s", s->grpc_status, s->grpc_message);
	} else {
		ok = true;
		if (r->o->op == KVB_GET) {
			bool hit =
			    r->o->api == KVB_GRPC
			        ? s->resp_len >= 5 && kvb_pb_has_kvs(s->resp + 5, s->resp_len - 5)
			        : s->resp_len > 0 && memmem(s->resp, s->resp_len, "\"kvs\"", 5);
			if (!hit)
				r->misses++;
		}
	}
	kvb_done(r, s->t0, ok);
}

static int kvb_etcd_slot_init(struct kvb_eslot *s, struct kvb_run *r, const char *url)
{
	const struct kvb_opts *o = r->o;

	s->r = r;
	s->h = curl_easy_init();
	/* gRPC: protobuf; JSON: base64 of key and value, quotes, braces. */
	s->body = malloc(5 + 2 * (KVB_KEY_MAX + o->value_size) + 64);
	if (s->h == NULL || s->body == NULL)
		return -1;
	if (o->api == KVB_GRPC) {
		s->hdrs = curl_slist_append(s->hdrs, "Content-Type: application/grpc");
		s->hdrs = curl_slist_append(s->hdrs, "TE: trailers");
		/* The connection was opened by kvb_etcd_warm. */
		curl_easy_setopt(s->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_0);
		/* Wait for the shared HTTP/2 connection rather than open another. */
		curl_easy_setopt(s->h, CURLOPT_PIPEWAIT, 1L);
	} else {
		s->hdrs = curl_slist_append(s->hdrs, "Content-Type: application/json");
		curl_easy_setopt(s->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	}
	s->hdrs = curl_slist_append(s->hdrs, "Expect:");
	s->hdrs = curl_slist_append(s->hdrs, "Accept:");
	curl_easy_setopt(s->h, CURLOPT_URL, url);
	curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, kvb_write_cb);
	curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->h, CURLOPT_HEADERFUNCTION, kvb_header_cb);
	curl_easy_setopt(s->h, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->h, CURLOPT_TCP_NODELAY, 1L);
	return 0;
}

static void kvb_etcd_slot_fini(struct kvb_eslot *s)
{
	curl_easy_cleanup(s->h);
	curl_slist_free_all(s->hdrs);
	free(s->body);
	free(s->resp);
}

/* Prometheus text: the value of the first sample line that starts with name
 * followed by a space (no labels). */
static double kvb_metric(const char *text, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
			return strtod(p + nl + 1, NULL);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

static void kvb_etcd_syncs(const struct kvb_opts *o, struct kvb_syncs *out)
{
	struct kvb_eslot s;
	char url[512];
	CURL *h = curl_easy_init();

	out->syncs = out->appends = -1;
	if (h == NULL)
		return;
	memset(&s, 0, sizeof(s));
	s.resp_max = KVB_METRICS_MAX;
	snprintf(url, sizeof(url), "%s/metrics", o->etcd);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kvb_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)KVB_STATS_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(h) == CURLE_OK && !s.overflow && kvb_write_cb("", 1, 1, &s) == 1) {
		s.resp[s.resp_len - 1] = '\0';
		out->syncs =
		    kvb_metric((char *)s.resp, "etcd_disk_wal_fsync_duration_seconds_count");
		out->appends =
		    kvb_metric((char *)s.resp, "etcd_disk_backend_commit_duration_seconds_count");
	}
	free(s.resp);
	curl_easy_cleanup(h);
}

/* Opens the one HTTP/2 connection with a Range (no write, so no fsync).
 * Only this first request says "prior knowledge": libcurl 7.88 fails a
 * prior-knowledge request that reuses a connection ("Error in the HTTP2
 * framing layer", curl issue #10634, fixed in 8.0), so the measured
 * requests ask for plain HTTP/2 and find this connection open. */
static int kvb_etcd_warm(CURLM *m, const struct kvb_opts *o, char *why, size_t why_size)
{
	struct kvb_run r;
	struct kvb_eslot s;
	struct kvb_opts one = *o;
	char url[512];
	int running = 0, rc = -1;
	CURLMsg *msg;

	one.op = KVB_GET;
	one.ops = 1;
	one.keys = 1;
	one.serializable = true;
	if (kvb_run_init(&r, &one) != 0)
		return -1;
	memset(&s, 0, sizeof(s));
	snprintf(url, sizeof(url), "%s/etcdserverpb.KV/Range", o->etcd);
	if (kvb_etcd_slot_init(&s, &r, url) != 0)
		goto out;
	curl_easy_setopt(s.h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	kvb_etcd_issue(m, &s);
	do {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (running > 0 && curl_multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK)
			break;
	} while (running > 0);
	while ((msg = curl_multi_info_read(m, &running)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == s.h)
			kvb_etcd_finish(&s, msg->data.result);
	curl_multi_remove_handle(m, s.h);
	if (r.ok == 1)
		rc = 0;
	else
		snprintf(why, why_size, "%s", r.first_error[0] ? r.first_error : "no answer");
out:
	kvb_etcd_slot_fini(&s);
	kvb_run_fini(&r);
	return rc;
}

static int kvb_etcd_run(struct kvb_run *r, uint64_t *elapsed_ns)
{
	const struct kvb_opts *o = r->o;
	struct kvb_eslot *slots = calloc(o->clients, sizeof(*slots));
	CURLM *m = curl_multi_init();
	char url[512];
	uint64_t t0;
	int rc = 0, running = 0;

	if (slots == NULL || m == NULL) {
		free(slots);
		curl_multi_cleanup(m);
		return -1;
	}
	if (o->api == KVB_GRPC) {
		snprintf(url, sizeof(url), "%s/etcdserverpb.KV/%s", o->etcd,
		         o->op == KVB_GET ? "Range" : "Put");
		curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
		curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
		/* Go's HTTP/2 server takes 250 streams per connection by default;
		 * etcd raises it, and libcurl's own default is 100. */
		curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)KVB_CLIENTS_MAX);
	} else {
		snprintf(url, sizeof(url), "%s/v3/kv/%s", o->etcd,
		         o->op == KVB_GET ? "range" : "put");
	}
	for (unsigned i = 0; i < o->clients; i++)
		if (kvb_etcd_slot_init(&slots[i], r, url) != 0)
			rc = -1;
	if (rc == 0 && o->api == KVB_GRPC)
		rc = kvb_etcd_warm(m, o, r->first_error, sizeof(r->first_error));
	if (rc != 0)
		goto out;
	t0 = kvb_start(r);
	for (unsigned i = 0; i < o->clients; i++)
		kvb_etcd_issue(m, &slots[i]);
	while (r->done < r->issued) {
		CURLMsg *msg;
		int left;

		if (curl_multi_perform(m, &running) != CURLM_OK) {
			rc = -1;
			break;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct kvb_eslot *s;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			curl_multi_remove_handle(m, s->h);
			kvb_etcd_finish(s, msg->data.result);
			kvb_etcd_issue(m, s);
		}
		if (r->done < r->issued && curl_multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK) {
			rc = -1;
			break;
		}
	}
	*elapsed_ns = kvb_now_ns() - t0;
out:
	for (unsigned i = 0; i < o->clients; i++) {
		if (slots[i].h != NULL)
			curl_multi_remove_handle(m, slots[i].h);
		kvb_etcd_slot_fini(&slots[i]);
	}
	free(slots);
	curl_multi_cleanup(m);
	return rc;
}

/* Retries one put until etcd acknowledges it. */
static int kvb_etcd_wait(const struct kvb_opts *o)
{
	struct kvb_opts one = *o;
	uint64_t deadline = ev_clock_ms() + o->timeout_ms;
	struct kvb_run r;
	int rc = -1;

	one.op = KVB_PUT;
	one.ops = 1;
	one.clients = 1;
	one.keys = 1;
	one.prefix = "kvbench/ready/";
	one.timeout_ms = 2000;
	while (rc != 0 && ev_clock_ms() < deadline) {
		uint64_t ns;

		if (kvb_run_init(&r, &one) != 0)
			return -1;
		if (kvb_etcd_run(&r, &ns) == 0 && r.ok == 1)
			rc = 0;
		else if (ev_clock_ms() + KVB_RETRY_GAP_MS < deadline)
			nanosleep(&(struct timespec){0, KVB_RETRY_GAP_MS * 1000000L}, NULL);
		if (rc != 0 && ev_clock_ms() >= deadline)
			fprintf(stderr,
			        "kvbench: etcd did not acknowledge a put within %" PRIu64
			        " ms: %s\n",
			        o->timeout_ms, r.first_error[0] ? r.first_error : "no answer");
		kvb_run_fini(&r);
	}
	return rc;
}

/* ------------------------------------------------------------------ main */

static int kvb_usage(void)
{
	fprintf(stderr,
	        "usage: kvbench [-target muster|etcd] -op put|get|wait [-clients N] [-ops M]\n"
	        "               [-value-size B] [-keys K] [-prefix P] [-timeout-ms T] [-seed S]\n"
	        "               [-duration-ms D] [-max-errors E]\n"
	        "  muster: -run-dir DIR [-as NAME] [-consistency default|stale|consistent]\n"
	        "  etcd:   -etcd URL [-api grpc|json] [-serializable]\n"
	        "-duration-ms: stop starting requests after D ms (or after -ops, if sooner).\n"
	        "-op wait retries one put until it is acknowledged (within -timeout-ms).\n");
	return 2;
}

static bool kvb_u64_arg(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static int kvb_parse(int argc, char **argv, struct kvb_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->self = "httpd/kvbench"; /* "<daemon>/<tag>": never takes httpd's own route */
	o->etcd = "http://127.0.0.1:2379";
	o->prefix = "kvbench/";
	o->clients = 1;
	o->ops = 1000;
	o->value_size = 128;
	o->keys = 1000;
	o->timeout_ms = 10000;
	o->max_errors = 100;
	o->op = KVB_PUT;
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;

		if (strcmp(f, "-serializable") == 0) {
			o->serializable = true;
			continue;
		}
		if (v == NULL)
			return -1;
		i++;
		if (strcmp(f, "-target") == 0 && strcmp(v, "muster") == 0)
			o->target = KVB_MUSTER;
		else if (strcmp(f, "-target") == 0 && strcmp(v, "etcd") == 0)
			o->target = KVB_ETCD;
		else if (strcmp(f, "-op") == 0 && strcmp(v, "put") == 0)
			o->op = KVB_PUT;
		else if (strcmp(f, "-op") == 0 && strcmp(v, "get") == 0)
			o->op = KVB_GET;
		else if (strcmp(f, "-op") == 0 && strcmp(v, "wait") == 0)
			o->op = KVB_WAIT;
		else if (strcmp(f, "-api") == 0 && strcmp(v, "grpc") == 0)
			o->api = KVB_GRPC;
		else if (strcmp(f, "-api") == 0 && strcmp(v, "json") == 0)
			o->api = KVB_JSON;
		else if (strcmp(f, "-consistency") == 0 && strcmp(v, "default") == 0)
			o->consistency = 0;
		else if (strcmp(f, "-consistency") == 0 && strcmp(v, "stale") == 0)
			o->consistency = 1;
		else if (strcmp(f, "-consistency") == 0 && strcmp(v, "consistent") == 0)
			o->consistency = 2;
		else if (strcmp(f, "-run-dir") == 0)
			o->run_dir = v;
		else if (strcmp(f, "-as") == 0 && strlen(v) < IPC_NAME_MAX)
			o->self = v;
		else if (strcmp(f, "-etcd") == 0 && strlen(v) < 400)
			o->etcd = v;
		else if (strcmp(f, "-prefix") == 0 && strlen(v) < KVB_KEY_MAX - 24)
			o->prefix = v;
		else if (strcmp(f, "-clients") == 0 && kvb_u64_arg(v, 1, KVB_CLIENTS_MAX, &n))
			o->clients = (unsigned)n;
		else if (strcmp(f, "-ops") == 0 && kvb_u64_arg(v, 1, KVB_OPS_MAX, &n))
			o->ops = n;
		else if (strcmp(f, "-value-size") == 0 && kvb_u64_arg(v, 0, KVB_VALUE_SIZE_MAX, &n))
			o->value_size = (size_t)n;
		else if (strcmp(f, "-keys") == 0 && kvb_u64_arg(v, 1, KVB_KEYS_MAX, &n))
			o->keys = n;
		else if (strcmp(f, "-timeout-ms") == 0 && kvb_u64_arg(v, 1, 3600000, &n))
			o->timeout_ms = n;
		else if (strcmp(f, "-duration-ms") == 0 && kvb_u64_arg(v, 1, 3600000, &n))
			o->duration_ms = n;
		else if (strcmp(f, "-max-errors") == 0 && kvb_u64_arg(v, 1, UINT64_MAX, &n))
			o->max_errors = n;
		else if (strcmp(f, "-seed") == 0 && kvb_u64_arg(v, 0, UINT64_MAX, &n))
			o->seed = n;
		else
			return -1;
	}
	if (o->target == KVB_MUSTER && o->run_dir == NULL)
		return -1;
	return 0;
}

static void kvb_report(const struct kvb_run *r, const struct kvb_syncs *b,
                       const struct kvb_syncs *a, uint64_t elapsed_ns)
{
	const struct kvb_opts *o = r->o;
	double secs = (double)elapsed_ns / 1e9;
	double syncs = b->syncs >= 0 && a->syncs >= 0 ? a->syncs - b->syncs : -1;
	double appends = b->appends >= 0 && a->appends >= 0 ? a->appends - b->appends : -1;
	char spw[32] = "n/a", sy[32] = "n/a", ap[32] = "n/a";

	if (syncs >= 0) {
		snprintf(sy, sizeof(sy), "%.0f", syncs);
		if (o->op == KVB_PUT && r->ok > 0)
			snprintf(spw, sizeof(spw), "%.4f", syncs / (double)r->ok);
	}
	if (appends >= 0)
		snprintf(ap, sizeof(ap), "%.0f", appends);
	/* One line of key=value for scripts (bench/run.sh reads it). */
	printf("target=%s op=%s clients=%u ops=%" PRIu64 " ok=%" PRIu64 " errors=%" PRIu64
	       " misses=%" PRIu64 " secs=%.3f ops_per_s=%.0f p50_us=%.0f p99_us=%.0f"
	       " p999_us=%.0f syncs=%s %s=%s syncs_per_write=%s\n",
	       o->target == KVB_MUSTER ? "muster" : "etcd", o->op == KVB_PUT ? "put" : "get",
	       o->clients, r->issued, r->ok, r->errors, r->misses, secs,
	       secs > 0 ? (double)r->ok / secs : 0, kvb_pct_us(r, 0.50), kvb_pct_us(r, 0.99),
	       kvb_pct_us(r, 0.999), sy, o->target == KVB_MUSTER ? "appends" : "backend_commits",
	       ap, spw);
	if (r->errors > 0)
		fprintf(
		    stderr, "kvbench: %" PRIu64 " of %" PRIu64 " requests failed%s; first: %s\n",
		    r->errors, r->issued,
		    r->errors >= o->max_errors ? " (the run stopped there)" : "", r->first_error);
}

int main(int argc, char **argv)
{
	struct kvb_opts o;
	struct kvb_run r;
	struct kvb_syncs before = {-1, -1}, after = {-1, -1};
	uint64_t elapsed_ns = 0;
	int rc;

	if (kvb_parse(argc, argv, &o) != 0)
		return kvb_usage();
	log_init("kvbench", LOG_LEVEL_WARN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	if (kvb_run_init(&r, &o) != 0) {
		fprintf(stderr, "kvbench: out of memory\n");
		return 1;
	}
	if (o.target == KVB_MUSTER) {
		rc = kvb_muster(&r, &before, &after, &elapsed_ns);
	} else if (o.op == KVB_WAIT) {
		rc = kvb_etcd_wait(&o);
	} else {
		kvb_etcd_syncs(&o, &before);
		rc = kvb_etcd_run(&r, &elapsed_ns);
		kvb_etcd_syncs(&o, &after);
		if (rc != 0)
			fprintf(stderr, "kvbench: etcd at %s: %s\n", o.etcd,
			        r.first_error[0] ? r.first_error : "failed");
	}
	if (rc == 0 && o.op != KVB_WAIT) {
		qsort(r.lat_ns, r.nlat, sizeof(*r.lat_ns), kvb_cmp_u64);
		kvb_report(&r, &before, &after, elapsed_ns);
		if (r.ok == 0 || r.errors >= o.max_errors)
			rc = -1;
	}
	kvb_run_fini(&r);
	curl_global_cleanup();
	if (o.target == KVB_MUSTER)
		ipc_ctx_term();
	return rc == 0 ? 0 : 1;
}

/* cmd_lock.c: lock: run a child while holding a KV lock (-n 1) or a semaphore slot (-n > 1), as Consul's command/lock over api.Lock and api.Semaphore (spec §2.4). */
#include "b64.h"
#include "child.h"
#include "cli.h"
#include "gofmt.h"
#include "gojson.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* api/lock.go and api/semaphore.go: the magic flags that tell a lock key
 * from a semaphore's, the key of the holders inside a prefix, the session
 * TTL (renewed every TTL/2), and the pause after a failed acquire (so a
 * lock-delay is not hot-looped). */
#define LOCK_FLAG_VALUE      UINT64_C(0x2ddccbc058a50c18)
#define SEMAPHORE_FLAG_VALUE UINT64_C(0xe0f69a2baa414de0)
#define LOCK_KEY             ".lock"
#define LOCK_SESSION_TTL     "15s"
#define LOCK_RETRY_MS        5000
/* Consul's -monitor-retry pause between retries of a failed monitor read. */
#define LOCK_MONITOR_RETRY_MS 1000
/* Consul blocks 15 s per read; a CLI without threads renews its session
 * between reads, so each read blocks at most this long (TTL/2 + this
 * stays well under the TTL). */
#define LOCK_WAIT_MS 3000
#define LOCK_KEY_MAX 4096

struct lock {
	struct http_client *c;
	int limit; /* 1: a lock; more: a semaphore */
	char prefix[LOCK_KEY_MAX];
	char key[LOCK_KEY_MAX];       /* prefix/.lock */
	char contender[LOCK_KEY_MAX]; /* semaphore: prefix/<session> */
	char session[128];
	char name[1024];
	int64_t ttl_ns;
	struct timespec renewed;
	bool renewing;
	bool verbose;
	int monitor_retry;
	int64_t timeout_ns; /* > 0: one attempt bounded by it (-timeout) */
	struct timespec started;
	struct child *child;
	char err[HTTP_ERR_MAX + 128]; /* a prefix, then the HTTP error */
};

static int64_t lock_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t lock_ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* Go's path.Join for prefix and name: one '/' between, none doubled. */
static void lock_join(char *out, size_t size, const char *prefix, const char *name)
{
	size_t pl = strlen(prefix);

	while (pl > 0 && prefix[pl - 1] == '/')
		pl--;
	if (pl == 0)
		snprintf(out, size, "%s", name);
	else
		snprintf(out, size, "%.*s/%s", (int)pl, prefix, name);
}

/* Stops a request when the child exits or a signal asks to stop. */
static bool lock_abort(void *arg)
{
	struct lock *l = arg;

	if (child_stop_requested())
		return true;
	return l->child != NULL && child_signalled() && child_poll(l->child);
}

static bool lock_child_done(struct lock *l)
{
	return l->child != NULL && child_poll(l->child);
}

/* Session renewal every TTL/2 (renewSession); a failed renewal stops
 * renewing and lets the monitor see the lock go. */
static void lock_renew(struct lock *l)
{
	struct http_resp r;
	char path[256];
	struct json_object *ans, *e, *ttl;

	if (!l->renewing || lock_now_ns() - lock_ts_ns(&l->renewed) < l->ttl_ns / 2)
		return;
	clock_gettime(CLOCK_MONOTONIC, &l->renewed);
	http_resp_init(&r);
	snprintf(path, sizeof(path), "/v1/session/renew/%s", l->session);
	if (http_call(l->c, "PUT", path, NULL, NULL, 0, &r) != HTTP_OK || r.status != 200) {
		l->renewing = false;
	} else {
		/* The server may change the TTL. */
		ans = json_tokener_parse(buf_cstr(&r.body) ? buf_cstr(&r.body) : "");
		e = json_object_is_type(ans, json_type_array) ? json_object_array_get_idx(ans, 0)
		                                              : NULL;
		if (e != NULL && json_object_object_get_ex(e, "TTL", &ttl)) {
			int64_t ns;
			const char *why;
			if (gofmt_dur_parse_ns(json_object_get_string(ttl), &ns, &why) == 0 &&
			    ns > 0)
				l->ttl_ns = ns;
		}
		json_object_put(ans);
	}
	http_resp_fini(&r);
}

static int lock_session_create(struct lock *l)
{
	struct http_resp r;
	struct json_object *body = json_object_new_object(), *ans = NULL, *id;
	const char *js;
	char err[HTTP_ERR_MAX];
	int rc = -1;

	json_object_object_add(body, "Name", json_object_new_string(l->name));
	if (l->limit > 1)
		json_object_object_add(body, "Behavior", json_object_new_string("delete"));
	json_object_object_add(body, "TTL", json_object_new_string(LOCK_SESSION_TTL));
	js = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	http_resp_init(&r);
	if (http_ok(l->c, "PUT", "/v1/session/create", NULL, js, strlen(js), &r, err,
	            sizeof(err)) != 0) {
		snprintf(l->err, sizeof(l->err), "failed to create session: %s", err);
		goto out;
	}
	ans = json_tokener_parse(buf_cstr(&r.body) ? buf_cstr(&r.body) : "");
	if (!json_object_object_get_ex(ans, "ID", &id)) {
		snprintf(l->err, sizeof(l->err), "failed to create session: no ID in the answer");
		goto out;
	}
	snprintf(l->session, sizeof(l->session), "%s", json_object_get_string(id));
	gofmt_dur_parse_ns(LOCK_SESSION_TTL, &l->ttl_ns, &js);
	clock_gettime(CLOCK_MONOTONIC, &l->renewed);
	l->renewing = true;
	rc = 0;
out:
	json_object_put(body);
	json_object_put(ans);
	http_resp_fini(&r);
	return rc;
}

static void lock_session_destroy(struct lock *l)
{
	struct http_resp r;
	char path[256];

	if (l->session[0] == '\0')
		return;
	http_resp_init(&r);
	snprintf(path, sizeof(path), "/v1/session/destroy/%s", l->session);
	(void)http_call(l->c, "PUT", path, NULL, NULL, 0, &r);
	http_resp_fini(&r);
	l->renewing = false;
}

/* A read of key (recurse: the prefix) blocking on index for at most
 * wait_ms: HTTP_OK with the parsed answer (NULL on 404) in *out. */
static enum http_rc lock_read(struct lock *l, const char *key, bool recurse, bool consistent,
                              uint64_t index, long wait_ms, struct http_resp *r,
                              struct json_object **out, char *err, size_t err_size)
{
	struct http_query q;
	char path[LOCK_KEY_MAX + 16];
	enum http_rc rc;

	*out = NULL;
	http_query_init(&q);
	if (recurse)
		http_query_add(&q, "recurse", NULL);
	if (consistent)
		http_query_add(&q, "consistent", NULL);
	if (index > 0) {
		http_query_addf(&q, "index", "%" PRIu64, index);
		http_query_addf(&q, "wait", "%ldms", wait_ms > 0 ? wait_ms : 1);
	}
	snprintf(path, sizeof(path), "/v1/kv/%s", key);
	rc = http_call(l->c, "GET", path, &q, NULL, 0, r);
	if (rc != HTTP_OK) {
		snprintf(err, err_size, "%s", r->err);
		return rc;
	}
	if (r->status == 404)
		return HTTP_OK;
	if (r->status != 200) {
		http_status_error(r, err, err_size);
		return HTTP_FAIL;
	}
	*out = json_tokener_parse(buf_cstr(&r->body) ? buf_cstr(&r->body) : "");
	if (!json_object_is_type(*out, json_type_array)) {
		json_object_put(*out);
		*out = NULL;
		snprintf(err, err_size, "the agent's KV answer is not a list");
		return HTTP_FAIL;
	}
	return HTTP_OK;
}

static const char *lock_str(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : "";
}

static uint64_t lock_u64(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

/* A KV write with ?<op>=<arg> and the given flags; true when the answer
 * is true. -1 with the error in err. */
static int lock_put(struct lock *l, const char *key, const char *op, const char *arg,
                    uint64_t flags, const void *body, size_t len, bool *ok, char *err,
                    size_t err_size)
{
	struct http_resp r;
	struct http_query q;
	char path[LOCK_KEY_MAX + 16];
	int rc;

	http_resp_init(&r);
	http_query_init(&q);
	if (op != NULL)
		http_query_add(&q, op, arg);
	if (flags != 0)
		http_query_addf(&q, "flags", "%" PRIu64, flags);
	snprintf(path, sizeof(path), "/v1/kv/%s", key);
	rc = http_ok(l->c, "PUT", path, &q, body != NULL ? body : "", len, &r, err, err_size);
	*ok = rc == 0 && strncmp(buf_cstr(&r.body) ? buf_cstr(&r.body) : "", "true", 4) == 0;
	http_resp_fini(&r);
	return rc;
}

static int lock_delete_cas(struct lock *l, const char *key, uint64_t index, bool *ok, char *err,
                           size_t err_size)
{
	struct http_resp r;
	struct http_query q;
	char path[LOCK_KEY_MAX + 16];
	int rc;

	http_resp_init(&r);
	http_query_init(&q);
	http_query_addf(&q, "cas", "%" PRIu64, index);
	snprintf(path, sizeof(path), "/v1/kv/%s", key);
	rc = http_ok(l->c, "DELETE", path, &q, NULL, 0, &r, err, err_size);
	*ok = rc == 0 && strncmp(buf_cstr(&r.body) ? buf_cstr(&r.body) : "", "true", 4) == 0;
	http_resp_fini(&r);
	return rc;
}

/* -timeout: one attempt; true when it is over. */
static bool lock_timed_out(struct lock *l)
{
	return l->timeout_ns > 0 && lock_now_ns() - lock_ts_ns(&l->started) >= l->timeout_ns;
}

static long lock_wait_ms(struct lock *l)
{
	long ms = LOCK_WAIT_MS;

	if (l->timeout_ns > 0) {
		int64_t left =
		    (l->timeout_ns - (lock_now_ns() - lock_ts_ns(&l->started))) / 1000000;
		if (left < ms)
			ms = left > 1 ? (long)left : 1;
	}
	return ms;
}

enum lock_got {
	LOCK_GOT = 0,
	LOCK_ERROR = -1,  /* l->err says why */
	LOCK_STOPPED = -2 /* a signal, or -timeout ran out */
};

/* --- a lock (-n 1): api.Lock ------------------------------------------------- */

static enum lock_got lock_acquire(struct lock *l)
{
	struct http_resp r;
	struct json_object *ans = NULL;
	uint64_t index = 0;
	char err[HTTP_ERR_MAX];
	enum lock_got got = LOCK_ERROR;

	http_resp_init(&r);
	for (;;) {
		enum http_rc rc;
		bool ok;

		if (child_stop_requested()) {
			got = LOCK_STOPPED;
			break;
		}
		lock_renew(l);
		json_object_put(ans);
		rc = lock_read(l, l->key, false, false, index, lock_wait_ms(l), &r, &ans, err,
		               sizeof(err));
		if (rc == HTTP_ABORTED) {
			got = LOCK_STOPPED;
			break;
		}
		if (rc != HTTP_OK) {
			snprintf(l->err, sizeof(l->err), "failed to read lock: %s", err);
			break;
		}
		struct json_object *pair = ans ? json_object_array_get_idx(ans, 0) : NULL;
		if (pair != NULL && lock_u64(pair, "Flags") != LOCK_FLAG_VALUE) {
			snprintf(l->err, sizeof(l->err), "Existing key does not match lock use");
			break;
		}
		if (pair != NULL && lock_str(pair, "Session")[0] != '\0') {
			/* Held by another: block until it changes. */
			if (lock_timed_out(l)) {
				got = LOCK_STOPPED;
				break;
			}
			index = r.index;
			continue;
		}
		if (lock_put(l, l->key, "acquire", l->session, LOCK_FLAG_VALUE, NULL, 0, &ok, err,
		             sizeof(err)) != 0) {
			snprintf(l->err, sizeof(l->err), "failed to acquire lock: %s", err);
			break;
		}
		if (ok) {
			got = LOCK_GOT;
			break;
		}
		/* Lost the race, or a lock-delay: pause, then look again. */
		if (lock_timed_out(l) || !child_sleep_ms(LOCK_RETRY_MS) || lock_timed_out(l)) {
			got = LOCK_STOPPED;
			break;
		}
		index = 0;
	}
	json_object_put(ans);
	http_resp_fini(&r);
	return got;
}

/* True while our session holds the key (monitorLock). */
static bool lock_held(struct json_object *ans, const struct lock *l)
{
	struct json_object *pair = ans ? json_object_array_get_idx(ans, 0) : NULL;
	return pair != NULL && strcmp(lock_str(pair, "Session"), l->session) == 0;
}

/* --- a semaphore (-n > 1): api.Semaphore ----------------------------------- */

/* The holders record at prefix/.lock: {"Limit": n, "Holders": {sid: true}}. */
static struct json_object *sem_find(struct json_object *pairs, const struct lock *l)
{
	for (size_t i = 0; pairs != NULL && i < json_object_array_length(pairs); i++) {
		struct json_object *p = json_object_array_get_idx(pairs, i);
		if (strcmp(lock_str(p, "Key"), l->key) == 0)
			return p;
	}
	return NULL;
}

static struct json_object *sem_decode(struct json_object *pair, const struct lock *l, char *err,
                                      size_t err_size)
{
	struct json_object *v, *lk, *h;
	const char *s;
	uint8_t *bytes;
	size_t n;

	if (pair == NULL || !json_object_object_get_ex(pair, "Value", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		lk = json_object_new_object();
		json_object_object_add(lk, "Limit", json_object_new_int(l->limit));
		json_object_object_add(lk, "Holders", json_object_new_object());
		return lk;
	}
	s = json_object_get_string(v);
	bytes = malloc(B64_DECODED_MAX(strlen(s)) + 1);
	if (bytes == NULL || b64_decode(s, bytes, B64_DECODED_MAX(strlen(s)), &n) != 0) {
		free(bytes);
		snprintf(err, err_size, "lock decoding failed: illegal base64 data");
		return NULL;
	}
	bytes[n] = '\0';
	lk = json_tokener_parse((const char *)bytes);
	free(bytes);
	if (!json_object_is_type(lk, json_type_object)) {
		json_object_put(lk);
		snprintf(err, err_size, "lock decoding failed: not a JSON object");
		return NULL;
	}
	if (!json_object_object_get_ex(lk, "Holders", &h) ||
	    !json_object_is_type(h, json_type_object))
		json_object_object_add(lk, "Holders", json_object_new_object());
	return lk;
}

static struct json_object *sem_holders(struct json_object *lk)
{
	struct json_object *h = NULL;
	json_object_object_get_ex(lk, "Holders", &h);
	return h;
}

static int64_t sem_limit(struct json_object *lk)
{
	struct json_object *v;
	return json_object_object_get_ex(lk, "Limit", &v) ? json_object_get_int64(v) : 0;
}

/* pruneDeadHolders: a holder without a live session on any key of the
 * prefix is gone. */
static void sem_prune(struct json_object *lk, struct json_object *pairs)
{
	struct json_object *h = sem_holders(lk);
	const char *dead[256];
	size_t nd = 0;

	json_object_object_foreach(h, sid, v)
	{
		bool alive = false;
		(void)v;
		for (size_t i = 0; pairs != NULL && i < json_object_array_length(pairs); i++)
			if (strcmp(lock_str(json_object_array_get_idx(pairs, i), "Session"), sid) ==
			    0)
				alive = true;
		if (!alive && nd < sizeof(dead) / sizeof(dead[0]))
			dead[nd++] = sid;
	}
	for (size_t i = 0; i < nd; i++) {
		char *k = strdup(dead[i]);
		json_object_object_del(h, k);
		free(k);
	}
}

/* encodeLock: json.Marshal of the record, holders sorted as Go maps are. */
static void sem_encode(struct json_object *lk, struct buf *out)
{
	static const char *const maps[] = {"Holders", NULL};
	const struct gojson_opts o = {NULL, false, maps};
	struct json_object *enc = json_object_new_object();

	json_object_object_add(enc, "Limit", json_object_new_int64(sem_limit(lk)));
	json_object_object_add(enc, "Holders", json_object_get(sem_holders(lk)));
	buf_reset(out);
	gojson_write(out, enc, &o);
	json_object_put(enc);
}

static enum lock_got sem_acquire(struct lock *l)
{
	struct http_resp r;
	struct json_object *pairs = NULL, *lk = NULL;
	struct buf enc;
	uint64_t index = 0;
	char err[HTTP_ERR_MAX];
	enum lock_got got = LOCK_ERROR;
	bool ok;

	http_resp_init(&r);
	buf_init(&enc, 1u << 20);
	/* The contender entry, held by our session. */
	if (lock_put(l, l->contender, "acquire", l->session, SEMAPHORE_FLAG_VALUE, NULL, 0, &ok,
	             err, sizeof(err)) != 0 ||
	    !ok) {
		snprintf(l->err, sizeof(l->err), "failed to make contender entry: %s",
		         ok ? err : "<nil>");
		goto out;
	}
	for (;;) {
		enum http_rc rc;
		struct json_object *pair;

		if (child_stop_requested()) {
			got = LOCK_STOPPED;
			break;
		}
		lock_renew(l);
		json_object_put(pairs);
		json_object_put(lk);
		lk = NULL;
		rc = lock_read(l, l->prefix, true, false, index, lock_wait_ms(l), &r, &pairs, err,
		               sizeof(err));
		if (rc == HTTP_ABORTED) {
			got = LOCK_STOPPED;
			break;
		}
		if (rc != HTTP_OK) {
			snprintf(l->err, sizeof(l->err), "failed to read prefix: %s", err);
			break;
		}
		pair = sem_find(pairs, l);
		if (pair != NULL && lock_u64(pair, "Flags") != SEMAPHORE_FLAG_VALUE) {
			snprintf(l->err, sizeof(l->err),
			         "Existing key does not match semaphore use");
			break;
		}
		lk = sem_decode(pair, l, l->err, sizeof(l->err));
		if (lk == NULL)
			break;
		if (sem_limit(lk) != l->limit) {
			snprintf(l->err, sizeof(l->err),
			         "semaphore limit conflict (lock: %lld, local: %d)",
			         (long long)sem_limit(lk), l->limit);
			break;
		}
		sem_prune(lk, pairs);
		if (json_object_object_length(sem_holders(lk)) >= l->limit) {
			if (lock_timed_out(l)) {
				got = LOCK_STOPPED;
				break;
			}
			index = r.index;
			continue;
		}
		json_object_object_add(sem_holders(lk), l->session, json_object_new_boolean(1));
		sem_encode(lk, &enc);
		char cas[32];
		snprintf(cas, sizeof(cas), "%" PRIu64, pair ? lock_u64(pair, "ModifyIndex") : 0);
		if (lock_put(l, l->key, "cas", cas, SEMAPHORE_FLAG_VALUE, enc.p, enc.len, &ok, err,
		             sizeof(err)) != 0) {
			snprintf(l->err, sizeof(l->err), "failed to update lock: %s", err);
			break;
		}
		if (ok) {
			got = LOCK_GOT;
			break;
		}
		index = 0; /* raced with another contender: read again */
	}
out:
	json_object_put(pairs);
	json_object_put(lk);
	buf_fini(&enc);
	http_resp_fini(&r);
	return got;
}

static bool sem_held(struct json_object *pairs, const struct lock *l)
{
	char err[256];
	struct json_object *lk = sem_decode(sem_find(pairs, l), l, err, sizeof(err));
	bool held = false;

	if (lk != NULL) {
		sem_prune(lk, pairs);
		held = json_object_object_get_ex(sem_holders(lk), l->session, NULL);
	}
	json_object_put(lk);
	return held;
}

/* Release: take ourselves out of the holders (CAS, retried), then the
 * contender entry. */
static int sem_release(struct lock *l)
{
	struct http_resp r;
	struct json_object *ans = NULL, *lk = NULL;
	struct buf enc;
	char err[HTTP_ERR_MAX], cas[32];
	int rc = -1;
	bool ok;

	http_resp_init(&r);
	buf_init(&enc, 1u << 20);
	for (int tries = 0; tries < 100; tries++) {
		json_object_put(ans);
		json_object_put(lk);
		lk = NULL;
		if (lock_read(l, l->key, false, false, 0, 0, &r, &ans, err, sizeof(err)) !=
		    HTTP_OK) {
			snprintf(l->err, sizeof(l->err), "%s", err);
			goto out;
		}
		struct json_object *pair = ans ? json_object_array_get_idx(ans, 0) : NULL;
		lk = sem_decode(pair, l, l->err, sizeof(l->err));
		if (lk == NULL)
			goto out;
		if (!json_object_object_get_ex(sem_holders(lk), l->session, NULL))
			break;
		json_object_object_del(sem_holders(lk), l->session);
		sem_encode(lk, &enc);
		snprintf(cas, sizeof(cas), "%" PRIu64, pair ? lock_u64(pair, "ModifyIndex") : 0);
		if (lock_put(l, l->key, "cas", cas, SEMAPHORE_FLAG_VALUE, enc.p, enc.len, &ok, err,
		             sizeof(err)) != 0) {
			snprintf(l->err, sizeof(l->err), "failed to update lock: %s", err);
			goto out;
		}
		if (ok)
			break;
	}
	{
		struct http_resp d;
		char path[LOCK_KEY_MAX + 16];
		http_resp_init(&d);
		snprintf(path, sizeof(path), "/v1/kv/%s", l->contender);
		if (http_ok(l->c, "DELETE", path, NULL, NULL, 0, &d, err, sizeof(err)) != 0) {
			snprintf(l->err, sizeof(l->err), "%s", err);
			http_resp_fini(&d);
			goto out;
		}
		http_resp_fini(&d);
	}
	rc = 0;
out:
	json_object_put(ans);
	json_object_put(lk);
	buf_fini(&enc);
	http_resp_fini(&r);
	return rc;
}

enum lock_cleanup { CLEANUP_DONE, CLEANUP_IN_USE, CLEANUP_ERROR };

/* Destroy: remove the lock key (the holders record) when nobody uses it. */
static enum lock_cleanup lock_cleanup(struct lock *l)
{
	struct http_resp r;
	struct json_object *ans = NULL, *lk = NULL, *pair;
	char err[HTTP_ERR_MAX];
	enum lock_cleanup res = CLEANUP_ERROR;
	bool ok;

	http_resp_init(&r);
	if (lock_read(l, l->limit > 1 ? l->prefix : l->key, l->limit > 1, false, 0, 0, &r, &ans,
	              err, sizeof(err)) != HTTP_OK) {
		snprintf(l->err, sizeof(l->err), "failed to read %s: %s",
		         l->limit > 1 ? "prefix" : "lock", err);
		goto out;
	}
	pair = l->limit > 1 ? sem_find(ans, l) : (ans ? json_object_array_get_idx(ans, 0) : NULL);
	if (pair == NULL) {
		res = CLEANUP_DONE;
		goto out;
	}
	if (lock_u64(pair, "Flags") != (l->limit > 1 ? SEMAPHORE_FLAG_VALUE : LOCK_FLAG_VALUE)) {
		snprintf(l->err, sizeof(l->err), "Existing key does not match %s use",
		         l->limit > 1 ? "semaphore" : "lock");
		goto out;
	}
	if (l->limit > 1) {
		lk = sem_decode(pair, l, l->err, sizeof(l->err));
		if (lk == NULL)
			goto out;
		sem_prune(lk, ans);
		if (json_object_object_length(sem_holders(lk)) > 0) {
			res = CLEANUP_IN_USE;
			goto out;
		}
	} else if (lock_str(pair, "Session")[0] != '\0') {
		res = CLEANUP_IN_USE;
		goto out;
	}
	if (lock_delete_cas(l, l->key, lock_u64(pair, "ModifyIndex"), &ok, err, sizeof(err)) != 0) {
		snprintf(l->err, sizeof(l->err), "failed to remove %s: %s",
		         l->limit > 1 ? "semaphore" : "lock", err);
		goto out;
	}
	res = ok ? CLEANUP_DONE : CLEANUP_IN_USE;
out:
	json_object_put(ans);
	json_object_put(lk);
	http_resp_fini(&r);
	return res;
}

enum lock_event { EV_CHILD_EXITED, EV_LOCK_LOST, EV_SHUTDOWN };

/* Watches the lock while the child runs (monitorLock, with -monitor-retry
 * retries of a failed read one second apart). */
static enum lock_event lock_monitor(struct lock *l)
{
	struct http_resp r;
	struct json_object *ans = NULL;
	uint64_t index = 0;
	int retries = l->monitor_retry;
	char err[HTTP_ERR_MAX];
	enum lock_event ev = EV_LOCK_LOST;

	http_resp_init(&r);
	for (;;) {
		enum http_rc rc;

		if (child_stop_requested()) {
			ev = EV_SHUTDOWN;
			break;
		}
		if (lock_child_done(l)) {
			ev = EV_CHILD_EXITED;
			break;
		}
		lock_renew(l);
		json_object_put(ans);
		rc = lock_read(l, l->limit > 1 ? l->prefix : l->key, l->limit > 1, true, index,
		               LOCK_WAIT_MS, &r, &ans, err, sizeof(err));
		if (rc == HTTP_ABORTED)
			continue; /* the loop's top says which */
		if (rc != HTTP_OK) {
			if (retries > 0 && (r.status == 0 || r.status >= 500)) {
				retries--;
				index = 0;
				(void)child_sleep_ms(LOCK_MONITOR_RETRY_MS);
				continue;
			}
			break;
		}
		retries = l->monitor_retry;
		if (!(l->limit > 1 ? sem_held(ans, l) : lock_held(ans, l)))
			break;
		index = r.index;
	}
	json_object_put(ans);
	http_resp_fini(&r);
	return ev;
}

static const char lock_help[] =
    "Usage: muster lock [options] prefix child...\n\n"
    "  Acquires a lock or semaphore at a given path, and invokes a child process\n"
    "  when successful. The child process can assume the lock is held while it\n"
    "  executes. If the lock is lost or communication is disrupted the child\n"
    "  process will be sent a SIGTERM signal and given time to gracefully exit.\n"
    "  After the grace period expires the process will be hard terminated.\n\n"
    "  When -n=1, only a single lock holder or leader exists providing mutual\n"
    "  exclusion. Setting a higher value switches to a semaphore allowing multiple\n"
    "  holders to coordinate.\n\n"
    "  The prefix provided must have write privileges.";

int cmd_lock(int argc, char **argv)
{
	struct http_opts o = {0};
	bool child_exit_code = false, pass_stdin = false, shell = true, verbose = false;
	int64_t limit = 1, monitor_retry = 3, timeout = 0, try_ = 0;
	const char *name = NULL;
	const struct cflag flags[] = {
	    CFLAG_BOOL("child-exit-code", &child_exit_code,
	               "Exit 2 if the child process exited with an error if this is true, "
	               "otherwise this doesn't propagate an error from the child. The default "
	               "value is false."),
	    CFLAG_INT("n", &limit,
	              "Optional limit on the number of concurrent lock holders. The underlying "
	              "implementation switches from a lock to a semaphore when the value is "
	              "greater than 1. The default value is 1."),
	    CFLAG_INT("monitor-retry", &monitor_retry,
	              "Number of times to retry if the agent returns a 500 error while monitoring "
	              "the lock. The default value is 3, with a 1s wait between retries. Set this "
	              "value to 0 to disable retires."),
	    CFLAG_STR("name", &name,
	              "Optional name to associate with the lock session. It not provided, one is "
	              "generated based on the provided child command."),
	    CFLAG_BOOL("pass-stdin", &pass_stdin, "Pass stdin to the child process."),
	    CFLAG_BOOL("shell", &shell,
	               "Use a shell to run the command (can set a custom shell via the SHELL "
	               "environment variable)."),
	    CFLAG_DUR("timeout", &timeout,
	              "Maximum amount of time to wait to acquire the lock, specified as a duration "
	              "like \"1s\" or \"3h\". The default value is 0."),
	    CFLAG_BOOL("verbose", &verbose, "Enable verbose (debugging) output."),
	    CFLAG_DUR("try", &try_, "DEPRECATED. Use -timeout instead."),
	    HTTP_CLIENT_FLAGS(&o),
	    HTTP_SERVER_FLAGS(&o),
	    CFLAG_DONE,
	};
	static const char *const held_env[] = {"CONSUL_LOCK_HELD=true", NULL};
	struct http_client c;
	struct lock l;
	struct child ch = {0};
	const char *prefix;
	char err[HTTP_ERR_MAX], node[512];
	enum lock_got got;
	enum lock_event ev = EV_CHILD_EXITED;
	int first, rc, child_code = 0;

	if ((rc = cflag_parse(flags, argc, argv, lock_help, &first)) != CFLAG_OK)
		return rc == CFLAG_HELP ? 0 : 1;
	if (try_ != 0 && timeout == 0)
		timeout = try_;
	if (limit <= 0) {
		fprintf(stderr, "Lock holder limit must be positive\n");
		return 1;
	}
	if (argc - first < 2) {
		fprintf(stderr, "Key prefix and child command must be specified\n");
		return 1;
	}
	prefix = argv[first];
	if (prefix[0] == '/')
		prefix++;
	if (timeout < 0) {
		fprintf(stderr, "Timeout must be positive\n");
		return 1;
	}
	if (monitor_retry < 0) {
		fprintf(stderr, "Number for 'monitor-retry' must be >= 0\n");
		return 1;
	}
	if (limit > 1 && prefix[0] == '\0') {
		fprintf(stderr, "Lock setup failed: missing prefix\n");
		return 1;
	}
	memset(&l, 0, sizeof(l));
	l.limit = limit > 1024 ? 1024 : (int)limit;
	l.verbose = verbose;
	l.monitor_retry = (int)monitor_retry;
	l.timeout_ns = timeout;
	snprintf(l.prefix, sizeof(l.prefix), "%s", prefix);
	lock_join(l.key, sizeof(l.key), prefix, LOCK_KEY);
	if (name != NULL && name[0] != '\0') {
		snprintf(l.name, sizeof(l.name), "%s", name);
	} else {
		/* Consul's generated session name (its words kept: tools read it). */
		struct buf b;
		buf_init(&b, sizeof(l.name) - 1);
		buf_printf(&b, "Consul lock for '");
		for (int i = first + 1; i < argc; i++)
			buf_printf(&b, "%s%s", i > first + 1 ? " " : "", argv[i]);
		buf_printf(&b, "' at '%s'", prefix);
		snprintf(l.name, sizeof(l.name), "%.*s", (int)b.len, b.p ? (const char *)b.p : "");
		buf_fini(&b);
	}

	if (cli_connect(&c, &o) != 0)
		return 1;
	child_signals_init();
	l.c = &c;
	c.abort_fn = lock_abort;
	c.abort_arg = &l;
	rc = 1;
	if (http_node_name(&c, node, sizeof(node), err, sizeof(err)) != 0) {
		fprintf(stderr, "Error querying Consul agent: %s\n", err);
		goto out;
	}
	if (verbose) {
		if (l.limit == 1)
			printf("Setting up lock at path: %s\n", l.key);
		else
			printf("Setting up semaphore (limit %d) at prefix: %s\n", l.limit, prefix);
		printf("Attempting lock acquisition\n");
		fflush(stdout);
	}
	clock_gettime(CLOCK_MONOTONIC, &l.started);
	if (lock_session_create(&l) != 0) {
		fprintf(stderr, "Lock acquisition failed: %s\n", l.err);
		goto out;
	}
	if (l.limit > 1)
		lock_join(l.contender, sizeof(l.contender), prefix, l.session);
	got = l.limit > 1 ? sem_acquire(&l) : lock_acquire(&l);
	if (got != LOCK_GOT) {
		/* Not acquired: the session goes (Lock's deferred cleanup). */
		if (got == LOCK_ERROR)
			fprintf(stderr, "Lock acquisition failed: %s\n", l.err);
		else
			fprintf(stderr, "Shutdown triggered or timeout during lock acquisition\n");
		if (l.limit > 1) {
			struct http_resp d;
			char path[LOCK_KEY_MAX + 16];
			http_resp_init(&d);
			snprintf(path, sizeof(path), "/v1/kv/%s", l.contender);
			c.abort_fn = NULL;
			(void)http_call(&c, "DELETE", path, NULL, NULL, 0, &d);
			http_resp_fini(&d);
		}
		c.abort_fn = NULL;
		lock_session_destroy(&l);
		goto out;
	}
	if (child_stop_requested()) {
		fprintf(stderr, "Shutdown triggered during lock acquisition\n");
		goto release;
	}
	if (verbose) {
		printf("Starting handler\n");
		if (pass_stdin)
			printf("Stdin passed to handler process\n");
		fflush(stdout);
	}
	fflush(stdout);
	if (child_start(&ch, argv + first + 1, argc - first - 1, shell, pass_stdin ? 0 : -1,
	                held_env) != 0) {
		child_code = 2;
		goto release;
	}
	l.child = &ch;
	ev = lock_monitor(&l);
	if (ev == EV_CHILD_EXITED) {
		if (!child_succeeded(&ch)) {
			child_describe(&ch, err, sizeof(err));
			fprintf(stderr, "Error running handler: %s\n", err);
			child_code = 2;
		}
		if (verbose)
			printf("Child terminated, releasing lock\n");
	} else {
		if (verbose)
			printf("%s\n", ev == EV_SHUTDOWN ? "Shutdown triggered, killing child"
			                                 : "Lock lost, killing child");
		fflush(stdout);
		child_kill(&ch, CHILD_KILL_GRACE_MS, verbose);
	}
	l.child = NULL;
release:
	/* Release and clean up even after a signal. */
	c.abort_fn = NULL;
	if (l.limit > 1) {
		if (sem_release(&l) != 0) {
			fprintf(stderr, "Lock release failed: %s\n", l.err);
			lock_session_destroy(&l);
			goto out;
		}
	} else {
		bool ok;
		if (lock_put(&l, l.key, "release", l.session, LOCK_FLAG_VALUE, NULL, 0, &ok, err,
		             sizeof(err)) != 0) {
			fprintf(stderr, "Lock release failed: failed to release lock: %s\n", err);
			lock_session_destroy(&l);
			goto out;
		}
	}
	lock_session_destroy(&l);
	switch (lock_cleanup(&l)) {
	case CLEANUP_DONE:
		if (verbose)
			printf("Cleanup succeeded\n");
		break;
	case CLEANUP_IN_USE:
		if (verbose)
			printf("Cleanup aborted, lock in use\n");
		break;
	case CLEANUP_ERROR:
		fprintf(stderr, "Lock cleanup failed: %s\n", l.err);
		goto out;
	}
	rc = child_exit_code ? child_code : 0;
out:
	fflush(stdout);
	http_client_fini(&c);
	return rc;
}

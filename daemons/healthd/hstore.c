/* hstore.c: healthd's persisted services and checks: one file per entry under <dir>/services and
 * <dir>/checks. */
#include "hstore.h"

#include "fsutil.h"
#include "log.h"
#include "mpk.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const hstore_subdir[2] = {"services", "checks"};

int hstore_encode_service(const struct msg_agent_service *s, const char *token, struct buf *out)
{
	struct buf rec;

	buf_init(&rec, HSTORE_FILE_MAX);
	msg_rec_encode_agent_service(s, &rec);
	mpk_wr_array(out, 5);
	mpk_wr_uint(out, HSTORE_VERSION);
	mpk_wr_uint(out, HSTORE_SERVICE);
	mpk_wr_bin(out, rec.p, rec.len);
	mpk_wr_cstr(out, token);
	mpk_wr_uint(out, 0);
	if (rec.err)
		out->err = true;
	buf_fini(&rec);
	return out->err ? -1 : 0;
}

int hstore_encode_check(const struct msg_agent_check *c, const char *token,
                        uint64_t ttl_expires_unix_ms, struct buf *out)
{
	struct buf rec;

	buf_init(&rec, HSTORE_FILE_MAX);
	msg_rec_encode_agent_check(c, &rec);
	mpk_wr_array(out, 5);
	mpk_wr_uint(out, HSTORE_VERSION);
	mpk_wr_uint(out, HSTORE_CHECK);
	mpk_wr_bin(out, rec.p, rec.len);
	mpk_wr_cstr(out, token);
	mpk_wr_uint(out, ttl_expires_unix_ms);
	if (rec.err)
		out->err = true;
	buf_fini(&rec);
	return out->err ? -1 : 0;
}

void hstore_entry_free(struct hstore_entry *e)
{
	if (e == NULL)
		return;
	msg_rec_free_agent_service(&e->svc);
	msg_rec_free_agent_check(&e->chk);
	free(e->token);
	memset(e, 0, sizeof(*e));
}

int hstore_decode(const void *p, size_t len, struct hstore_entry *out)
{
	struct cur c;
	const uint8_t *rec;
	const char *tok;
	size_t rlen = 0, tlen = 0;
	uint32_t n;
	uint64_t kind;
	enum msg_err err;

	memset(out, 0, sizeof(*out));
	cur_init(&c, p, len);
	n = (uint32_t)mpk_rd_array(&c);
	if (!cur_ok(&c) || n < 5 || mpk_rd_u64(&c) != HSTORE_VERSION)
		return -1;
	kind = mpk_rd_u64(&c);
	rec = mpk_rd_bin(&c, &rlen);
	tok = mpk_rd_str(&c, &tlen);
	out->ttl_expires_unix_ms = mpk_rd_u64(&c);
	if (!cur_ok(&c) || rec == NULL || tok == NULL || kind > HSTORE_CHECK)
		return -1;
	out->kind = (enum hstore_kind)kind;
	if (out->kind == HSTORE_SERVICE)
		err = msg_rec_decode_agent_service(rec, rlen, &out->svc);
	else
		err = msg_rec_decode_agent_check(rec, rlen, &out->chk);
	if (err != MSG_OK) {
		hstore_entry_free(out);
		return -1;
	}
	out->token = xmalloc(tlen + 1);
	memcpy(out->token, tok, tlen);
	out->token[tlen] = '\0';
	return 0;
}

void hstore_name(const char *id, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *s = (const unsigned char *)id; *s; s++) {
		h ^= *s;
		h *= 0x100000001b3ull;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static int hstore_mkdir(const char *path, char *err, size_t err_size)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, err_size, "%s: cannot create: %s", path, strerror(errno));
	return -1;
}

int hstore_open(struct hstore *h, const char *dir, char *err, size_t err_size)
{
	memset(h, 0, sizeof(*h));
	h->dir = xstrdup(dir);
	if (hstore_mkdir(dir, err, err_size) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		h->sub[i] = xasprintf("%s/%s", dir, hstore_subdir[i]);
		if (hstore_mkdir(h->sub[i], err, err_size) != 0)
			return -1;
	}
	return 0;
}

void hstore_close(struct hstore *h)
{
	if (h == NULL)
		return;
	free(h->dir);
	free(h->sub[0]);
	free(h->sub[1]);
	memset(h, 0, sizeof(*h));
}

static char *hstore_path(const struct hstore *h, enum hstore_kind kind, const char *id)
{
	char name[17];

	hstore_name(id, name);
	return xasprintf("%s/%s", h->sub[kind], name);
}

int hstore_put(struct hstore *h, enum hstore_kind kind, const char *id, const struct buf *data,
               const char **what)
{
	char *path;
	int rc;

	if (h->dir == NULL)
		return 0;
	path = hstore_path(h, kind, id);
	rc = fsutil_write_atomic(path, data->p, data->len, 0600, what);
	free(path);
	return rc;
}

int hstore_del(struct hstore *h, enum hstore_kind kind, const char *id)
{
	char *path;
	int rc = 0;

	if (h->dir == NULL)
		return 0;
	path = hstore_path(h, kind, id);
	if (unlink(path) != 0 && errno != ENOENT)
		rc = -1;
	free(path);
	return rc;
}

static int hstore_read(const char *path, struct buf *b)
{
	uint8_t chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(b, chunk, (size_t)n);
	close(fd);
	return n < 0 || b->err ? -1 : 0;
}

size_t hstore_load(struct hstore *h, enum hstore_kind kind, hstore_load_cb cb, void *arg)
{
	DIR *dir;
	struct dirent *de;
	size_t bad = 0, files = 0;

	if (h->dir == NULL || (dir = opendir(h->sub[kind])) == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL && files < HSTORE_FILES_MAX) {
		struct hstore_entry e;
		struct buf b;
		char *path;

		/* only our own names: 16 hex digits (a stale ".tmp" is not one) */
		if (strlen(de->d_name) != 16 || strspn(de->d_name, "0123456789abcdef") != 16)
			continue;
		files++;
		path = xasprintf("%s/%s", h->sub[kind], de->d_name);
		memset(&e, 0, sizeof(e));
		buf_init(&b, HSTORE_FILE_MAX);
		if (hstore_read(path, &b) != 0 || hstore_decode(b.p, b.len, &e) != 0 ||
		    e.kind != kind) {
			hstore_entry_free(&e);
			log_warnx("healthd: %s: not a saved %s, skipped", path,
			          kind == HSTORE_SERVICE ? "service" : "check");
			bad++;
		} else {
			cb(arg, &e);
		}
		buf_fini(&b);
		free(path);
	}
	closedir(dir);
	return bad;
}

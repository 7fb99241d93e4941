/* gsnap.c: Serf's member snapshot (serf/snapshot.go): known members and clocks kept on disk for a rejoin. */
#include "gsnap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "omap.h"
#include "xalloc.h"

/* serf's snapshotBytesPerNode: a compacted file's size per member, for
 * sizing the compaction buffer */
#define GSNAP_BYTES_PER_NODE 128

/* A member in the set: its address and when its last alive line came
 * (to give the members back in file order). */
struct gsnap_ent {
	char *addr;
	uint64_t seq;
};

/* The member set and clocks, as a replay builds them and the writer
 * keeps them. */
struct gsnap_set {
	struct omap *alive; /* name -> struct gsnap_ent */
	uint64_t seq;
	uint64_t clock, event_clock, query_clock;
	bool left;
	size_t bad_lines;
};

struct gsnap {
	char *path;
	int fd; /* -1 after a failed reopen: the next append compacts */
	struct gsnap_set set;
	bool rejoin_after_leave;
	bool leaving;
	bool broken; /* a write failed: the file may end in a torn line */
	uint64_t offset;
	uint64_t compacted; /* size of the last compaction's output */
	uint64_t compact_min;
};

static void gsnap_ent_free(void *v)
{
	struct gsnap_ent *e = v;

	if (e != NULL)
		free(e->addr);
	free(e);
}

static void gsnap_set_init(struct gsnap_set *set)
{
	memset(set, 0, sizeof(*set));
	set->alive = omap_new(gsnap_ent_free);
	if (set->alive == NULL)
		xalloc_fail(sizeof(struct gsnap_ent));
}

static void gsnap_set_fini(struct gsnap_set *set)
{
	omap_free(set->alive);
	memset(set, 0, sizeof(*set));
}

/* Records name as alive at addr (lengths given: the text is not
 * NUL-terminated). False when the set is full and name is new. */
static bool gsnap_set_alive(struct gsnap_set *set, const char *name, size_t nlen, const char *addr,
                            size_t alen)
{
	char *key = xmalloc(nlen + 1);
	struct omap_node *n;
	struct gsnap_ent *e;

	memcpy(key, name, nlen);
	key[nlen] = '\0';
	n = omap_find(set->alive, key);
	if (n != NULL) {
		e = omap_val(n);
		free(e->addr);
	} else {
		if (omap_count(set->alive) >= GSNAP_NODES_MAX) {
			free(key);
			return false;
		}
		e = xcalloc(1, sizeof(*e));
		if (omap_put(set->alive, key, e, NULL) < 0)
			xalloc_fail(nlen);
	}
	e->addr = xmalloc(alen + 1);
	memcpy(e->addr, addr, alen);
	e->addr[alen] = '\0';
	e->seq = ++set->seq;
	free(key);
	return true;
}

static void gsnap_set_not_alive(struct gsnap_set *set, const char *name, size_t nlen)
{
	char *key = xmalloc(nlen + 1);

	memcpy(key, name, nlen);
	key[nlen] = '\0';
	omap_del(set->alive, key, NULL);
	free(key);
}

/* strconv.ParseUint(s, 10, 64): digits only, no sign, no overflow. */
static bool gsnap_parse_u64(const char *s, size_t len, uint64_t *v)
{
	uint64_t x = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

static bool gsnap_prefix(const char *line, size_t len, const char *prefix, size_t *plen)
{
	*plen = strlen(prefix);
	return len >= *plen && memcmp(line, prefix, *plen) == 0;
}

/* One line without its newline (serf's replay, line by line); false
 * when it is counted as bad. */
static bool gsnap_line(struct gsnap_set *set, const char *line, size_t len, bool rejoin_after_leave)
{
	const char *rest;
	size_t plen, rlen;
	uint64_t *clk = NULL;

	if (len > GSNAP_LINE_MAX || memchr(line, '\0', len) != NULL)
		return false;
	if (gsnap_prefix(line, len, "alive: ", &plen)) {
		/* The address is after the last space: a name may hold spaces. */
		size_t sp;

		rest = line + plen;
		rlen = len - plen;
		for (sp = rlen; sp > 0 && rest[sp - 1] != ' '; sp--)
			;
		/* serf would take an empty name or address; nothing can
		 * join one, so we count it as corrupt. */
		if (sp <= 1 || sp == rlen)
			return false;
		if (!gsnap_set_alive(set, rest, sp - 1, rest + sp, rlen - sp))
			return false;
		set->left = false;
		return true;
	}
	if (gsnap_prefix(line, len, "not-alive: ", &plen)) {
		gsnap_set_not_alive(set, line + plen, len - plen);
		return true;
	}
	if (gsnap_prefix(line, len, "clock: ", &plen))
		clk = &set->clock;
	else if (gsnap_prefix(line, len, "event-clock: ", &plen))
		clk = &set->event_clock;
	else if (gsnap_prefix(line, len, "query-clock: ", &plen))
		clk = &set->query_clock;
	if (clk != NULL)
		return gsnap_parse_u64(line + plen, len - plen, clk);
	if (gsnap_prefix(line, len, "coordinate: ", &plen))
		return true; /* old serf persisted coordinates; serf ignores them now */
	if (len == 5 && memcmp(line, "leave", 5) == 0) {
		/* A leave forgets everything, so a restart does not rejoin
		 * the cluster it left, unless the agent is told to rejoin. */
		if (rejoin_after_leave)
			return true;
		omap_clear(set->alive);
		set->clock = set->event_clock = set->query_clock = 0;
		set->left = true;
		return true;
	}
	return len > 0 && line[0] == '#';
}

static void gsnap_set_replay(struct gsnap_set *set, const char *text, size_t len,
                             bool rejoin_after_leave)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);

		if (nl == NULL) {
			/* serf's ReadString drops a last line without its
			 * newline: a write cut short. */
			set->bad_lines++;
			break;
		}
		if (!gsnap_line(set, text + pos, (size_t)(nl - (text + pos)), rejoin_after_leave))
			set->bad_lines++;
		pos = (size_t)(nl - text) + 1;
	}
}

static int gsnap_node_cmp(const void *a, const void *b)
{
	const struct gsnap_ent *x = omap_val(*(struct omap_node *const *)a);
	const struct gsnap_ent *y = omap_val(*(struct omap_node *const *)b);

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The members in the order of their last alive line. *n is the count;
 * the array is malloc'd (NULL when empty). */
static struct omap_node **gsnap_set_ordered(const struct gsnap_set *set, size_t *n)
{
	struct omap_node **v;
	size_t i = 0;

	*n = omap_count(set->alive);
	if (*n == 0)
		return NULL;
	v = xcalloc(*n, sizeof(*v));
	for (struct omap_node *o = omap_first(set->alive); o != NULL; o = omap_next(o))
		v[i++] = o;
	qsort(v, *n, sizeof(*v), gsnap_node_cmp);
	return v;
}

static void gsnap_set_export(const struct gsnap_set *set, struct gsnap_prev *out)
{
	size_t n;
	struct omap_node **v = gsnap_set_ordered(set, &n);

	memset(out, 0, sizeof(*out));
	if (n > 0)
		out->alive = xcalloc(n, sizeof(*out->alive));
	for (size_t i = 0; i < n; i++) {
		out->alive[i].name = xstrdup(omap_key(v[i]));
		out->alive[i].addr = xstrdup(((struct gsnap_ent *)omap_val(v[i]))->addr);
	}
	out->n_alive = n;
	out->clock = set->clock;
	out->event_clock = set->event_clock;
	out->query_clock = set->query_clock;
	out->left = set->left;
	out->bad_lines = set->bad_lines;
	free(v);
}

int gsnap_replay(const char *text, size_t len, bool rejoin_after_leave, struct gsnap_prev *out)
{
	struct gsnap_set set;

	gsnap_set_init(&set);
	gsnap_set_replay(&set, text, len, rejoin_after_leave);
	gsnap_set_export(&set, out);
	gsnap_set_fini(&set);
	return 0;
}

void gsnap_prev_free(struct gsnap_prev *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_alive; i++) {
		free(p->alive[i].name);
		free(p->alive[i].addr);
	}
	free(p->alive);
	memset(p, 0, sizeof(*p));
}

/* --- the writer --- */

static void gsnap_errf(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void gsnap_errf(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/* mkdir -p of path's directory, new directories 0700 (the snapshot
 * names every member: Consul's data directory is private). */
static int gsnap_mkdirs(const char *path, char *err, size_t err_size)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');

	if (slash == NULL || slash == dir) {
		free(dir);
		return 0;
	}
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		bool end = *p == '\0';

		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			gsnap_errf(err, err_size, "mkdir %s: %s", dir, strerror(errno));
			free(dir);
			return -1;
		}
		if (end)
			break;
		*p = '/';
	}
	free(dir);
	return 0;
}

static int gsnap_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static uint64_t gsnap_limit(const struct gsnap *s)
{
	/* serf's snapshotMaxSize bounds the file by an estimate of the
	 * compacted size (members x 128 bytes x 2); we know the real one. */
	uint64_t twice = s->compacted * 2;

	return twice > s->compact_min ? twice : s->compact_min;
}

int gsnap_compact(struct gsnap *s)
{
	size_t n;
	struct omap_node **v = gsnap_set_ordered(&s->set, &n);
	const char *what = NULL;
	struct buf b;
	int fd, rc = 0;

	/* The set holds at most GSNAP_NODES_MAX lines of at most
	 * GSNAP_LINE_MAX, then four short ones. */
	buf_init(&b, (size_t)GSNAP_NODES_MAX * (GSNAP_LINE_MAX + 1) + 256);
	buf_reserve(&b, n * GSNAP_BYTES_PER_NODE + 128);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "alive: %s %s\n", omap_key(v[i]),
		           ((struct gsnap_ent *)omap_val(v[i]))->addr);
	free(v);
	/* A leave survives compaction (serf drops it: a compaction while
	 * leaving writes the emptied set). The clocks go after it, as
	 * serf's shutdown writes its last clock after the leave. */
	if (s->leaving)
		buf_printf(&b, "leave\n");
	buf_printf(&b, "clock: %" PRIu64 "\nevent-clock: %" PRIu64 "\nquery-clock: %" PRIu64 "\n",
	           s->set.clock, s->set.event_clock, s->set.query_clock);
	if (b.err) {
		buf_fini(&b);
		errno = ENOMEM;
		return -1;
	}
	if (fsutil_write_atomic(s->path, b.p, b.len, 0600, &what) != 0) {
		buf_fini(&b);
		return -1;
	}
	if (s->fd >= 0)
		close(s->fd);
	fd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	s->fd = fd;
	if (fd < 0) {
		rc = -1;
		s->broken = true;
	} else {
		s->broken = false;
		s->offset = b.len;
		s->compacted = b.len;
	}
	buf_fini(&b);
	return rc;
}

/* Appends text (whole lines), compacting first when a write failed
 * before and after when the file has grown past its limit. */
static int gsnap_append(struct gsnap *s, const char *text, size_t len)
{
	if ((s->broken || s->fd < 0) && gsnap_compact(s) != 0)
		return -1;
	if (gsnap_write_all(s->fd, text, len) != 0) {
		s->broken = true;
		return -1;
	}
	s->offset += len;
	if (s->offset > gsnap_limit(s))
		return gsnap_compact(s);
	return 0;
}

int gsnap_alive(struct gsnap *s, const char *name, const char *addr)
{
	size_t nlen = strlen(name), alen = strlen(addr);
	char *line;
	int rc;

	if (s->leaving)
		return 0;
	/* A newline would split the line; a space in the address would
	 * move the split between name and address; an empty part is
	 * refused on replay. */
	if (nlen == 0 || alen == 0 || strchr(name, '\n') != NULL || strpbrk(addr, " \n") != NULL ||
	    nlen + alen + 8 > GSNAP_LINE_MAX) {
		errno = EINVAL;
		return -1;
	}
	(void)gsnap_set_alive(&s->set, name, nlen, addr, alen);
	line = xasprintf("alive: %s %s\n", name, addr);
	rc = gsnap_append(s, line, strlen(line));
	free(line);
	return rc;
}

int gsnap_not_alive(struct gsnap *s, const char *name)
{
	size_t nlen = strlen(name);
	char *line;
	int rc;

	if (s->leaving)
		return 0;
	if (strchr(name, '\n') != NULL || nlen + 12 > GSNAP_LINE_MAX) {
		errno = EINVAL;
		return -1;
	}
	gsnap_set_not_alive(&s->set, name, nlen);
	line = xasprintf("not-alive: %s\n", name);
	rc = gsnap_append(s, line, strlen(line));
	free(line);
	return rc;
}

int gsnap_clocks(struct gsnap *s, uint64_t clock, uint64_t event_clock, uint64_t query_clock)
{
	char text[3 * 48];
	size_t len = 0;

	if (clock != s->set.clock) {
		len +=
		    (size_t)snprintf(text + len, sizeof(text) - len, "clock: %" PRIu64 "\n", clock);
		s->set.clock = clock;
	}
	if (event_clock != s->set.event_clock) {
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		                        "event-clock: %" PRIu64 "\n", event_clock);
		s->set.event_clock = event_clock;
	}
	if (query_clock != s->set.query_clock) {
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		                        "query-clock: %" PRIu64 "\n", query_clock);
		s->set.query_clock = query_clock;
	}
	return len > 0 ? gsnap_append(s, text, len) : 0;
}

int gsnap_leave(struct gsnap *s)
{
	s->leaving = true;
	if (!s->rejoin_after_leave)
		omap_clear(s->set.alive);
	if (gsnap_append(s, "leave\n", 6) != 0)
		return -1;
	/* The one line serf syncs: a crash right after a leave must not
	 * make the next start rejoin. */
	return fsync(s->fd);
}

size_t gsnap_num_alive(const struct gsnap *s)
{
	return omap_count(s->set.alive);
}

uint64_t gsnap_size(const struct gsnap *s)
{
	return s->offset;
}

void gsnap_set_compact_min(struct gsnap *s, uint64_t bytes)
{
	s->compact_min = bytes;
}

/* Reads the whole file at fd (at most GSNAP_FILE_MAX) into *text. */
static int gsnap_read(int fd, const char *path, char **text, size_t *len, char *err,
                      size_t err_size)
{
	struct stat st;
	size_t n = 0, size;
	char *p;

	if (fstat(fd, &st) != 0) {
		gsnap_errf(err, err_size, "stat %s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > GSNAP_FILE_MAX) {
		gsnap_errf(err, err_size, "%s: larger than %u bytes", path, GSNAP_FILE_MAX);
		return -1;
	}
	size = (size_t)st.st_size;
	p = xmalloc(size + 1);
	while (n < size) {
		ssize_t r = pread(fd, p + n, size - n, (off_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			gsnap_errf(err, err_size, "read %s: %s", path, strerror(errno));
			free(p);
			return -1;
		}
		if (r == 0)
			break; /* shrank under us: replay what is there */
		n += (size_t)r;
	}
	*text = p;
	*len = n;
	return 0;
}

int gsnap_open(const char *path, bool rejoin_after_leave, struct gsnap **out,
               struct gsnap_prev *prev, char *err, size_t err_size)
{
	struct gsnap *s;
	char *text = NULL;
	size_t len = 0;
	int fd;

	*out = NULL;
	memset(prev, 0, sizeof(*prev));
	if (gsnap_mkdirs(path, err, err_size) != 0)
		return -1;
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		gsnap_errf(err, err_size, "open %s: %s", path, strerror(errno));
		return -1;
	}
	if (gsnap_read(fd, path, &text, &len, err, err_size) != 0) {
		close(fd);
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	s->fd = fd;
	s->rejoin_after_leave = rejoin_after_leave;
	s->compact_min = GSNAP_COMPACT_MIN;
	s->offset = len;
	gsnap_set_init(&s->set);
	gsnap_set_replay(&s->set, text, len, rejoin_after_leave);
	/* A torn last line gets its newline, so what we append next starts
	 * a line of its own (the fragment stays one bad line). */
	if (len > 0 && text[len - 1] != '\n') {
		if (gsnap_write_all(fd, "\n", 1) != 0) {
			gsnap_errf(err, err_size, "write %s: %s", path, strerror(errno));
			free(text);
			gsnap_close(s);
			return -1;
		}
		s->offset++;
	}
	free(text);
	gsnap_set_export(&s->set, prev);
	*out = s;
	return 0;
}

void gsnap_close(struct gsnap *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	gsnap_set_fini(&s->set);
	free(s->path);
	free(s);
}

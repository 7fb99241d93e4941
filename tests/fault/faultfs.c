/* faultfs.c: an LD_PRELOAD shim that makes writes and syncs of files under one directory fail. */

/*
 * RocksDB's C API has no Env hook, so faults are injected at the system
 * call level (SQLite's and TigerBeetle's habit: fail the N-th write or sync
 * on purpose).
 *
 * Usage:
 *	LD_PRELOAD=build/tests/libfaultfs.so \
 *	MUSTER_FAULT_DIR=/tmp/x/data \
 *	MUSTER_FAULT_CTL=/tmp/x/fault.ctl  raftd ...
 *
 *	echo "fsync EIO" > /tmp/x/fault.ctl	# every fsync under the dir fails
 *	echo "write ENOSPC after 3" > /tmp/x/fault.ctl	# 3 more writes pass, then fail
 *	rm /tmp/x/fault.ctl			# back to normal
 *
 * The control file holds one rule a line: "<op> <errno> [after <n>]", op
 * "fsync" (fsync, fdatasync; not sync_file_range, see there) or "write" (write, pwrite,
 * pwrite64, writev, pwritev); errno a name (EIO, ENOSPC, EDQUOT, EROFS,
 * EFBIG, EPERM, EBADF, EINTR, EAGAIN) or a number. '#' starts a comment. A matching
 * call fails with -1 and that errno. "after n" lets n more matching calls
 * succeed first (counted from when the file was last changed); then every
 * matching call fails until the file changes or goes. Write the file
 * whole and atomically (echo > tmp; mv tmp ctl) if calls run meanwhile.
 *
 * Only regular files whose path (readlink /proc/self/fd/N, cached per fd
 * with its device and inode) is under MUSTER_FAULT_DIR are touched;
 * directories, sockets, pipes and every other file pass. The control file
 * is looked at with one stat() per matching call and re-read only when its
 * inode, size or mtime changed. Without both variables the shim is a pure
 * pass-through.
 *
 * RocksDB's info log (LOG, LOG.old.*) is spared: Debian's librocksdb is
 * built with assertions on, and its info logger asserts on the write after
 * a failed one (WritableFileWriter::AssertFalseAndGetStatusForPrevError),
 * which would abort the process instead of exercising the WAL's and the
 * tables' error paths. (A real full disk can hit that abort; raftd then
 * dies and is restarted like after any crash.)
 *
 * Writes through glibc's stdio are not seen (stdio calls write inside
 * libc, past the PLT). The shim never allocates on a call path (stat,
 * open, read, readlink and a spinlock only), so it is safe to preload
 * before libasan with ASAN_OPTIONS=verify_asan_link_order=0, and a
 * thread-local guard passes through any call made while the shim is
 * already active on that thread (a signal handler, dlsym's own I/O).
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define FD_CACHE  4096 /* fds whose target-ness is cached */
#define RULES_MAX 8
#define CTL_MAX   1024 /* bytes of the control file read */

enum op { OP_WRITE, OP_FSYNC };

struct rule {
	enum op op;
	int err;
	long after; /* matching calls still to let through */
};

struct fd_ent {
	dev_t dev;
	ino_t ino;
	int state; /* 0 unknown, 1 under the dir, 2 not */
};

static bool enabled;
static char dir[PATH_MAX];
static size_t dir_len;
static char ctl[PATH_MAX];

static atomic_flag lock = ATOMIC_FLAG_INIT;
static struct fd_ent fds[FD_CACHE];
static struct rule rules[RULES_MAX];
static int n_rules;
static bool ctl_seen; /* the control file existed at the last look */
static dev_t ctl_dev;
static ino_t ctl_ino;
static off_t ctl_size;
static struct timespec ctl_mtime;

static __thread int busy __attribute__((tls_model("initial-exec")));

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_sync_file_range)(int, off64_t, off64_t, unsigned int);
static int (*real_close)(int);

/* Looks the real functions up once; a call made by dlsym itself finds the
 * pointers still NULL and goes straight to the system call. */
static void resolve(void)
{
	static atomic_int done;
	static __thread int resolving __attribute__((tls_model("initial-exec")));
	if (atomic_load_explicit(&done, memory_order_acquire) || resolving)
		return;
	resolving = 1;
	busy++;
	real_write = dlsym(RTLD_NEXT, "write");
	real_pwrite = dlsym(RTLD_NEXT, "pwrite");
	real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
	real_writev = dlsym(RTLD_NEXT, "writev");
	real_pwritev = dlsym(RTLD_NEXT, "pwritev");
	real_fsync = dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
	real_sync_file_range = dlsym(RTLD_NEXT, "sync_file_range");
	real_close = dlsym(RTLD_NEXT, "close");
	busy--;
	resolving = 0;
	atomic_store_explicit(&done, 1, memory_order_release);
}

__attribute__((constructor)) static void faultfs_init(void)
{
	const char *d = getenv("MUSTER_FAULT_DIR"), *c = getenv("MUSTER_FAULT_CTL");

	resolve();
	if (d == NULL || c == NULL || *d == '\0' || *c == '\0' || strlen(c) >= sizeof(ctl))
		return;
	/* the fd paths /proc shows are canonical: compare with the canonical dir */
	if (realpath(d, dir) == NULL) {
		if (strlen(d) >= sizeof(dir))
			return;
		strcpy(dir, d); /* not there yet: taken as written */
	}
	dir_len = strlen(dir);
	while (dir_len > 1 && dir[dir_len - 1] == '/')
		dir[--dir_len] = '\0';
	strcpy(ctl, c);
	enabled = true;
}

static void lock_take(void)
{
	while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
		;
}

static void lock_give(void)
{
	atomic_flag_clear_explicit(&lock, memory_order_release);
}

/* Whether fd is a regular file under dir (lock held). */
static bool fd_is_target(int fd)
{
	struct stat st;
	char link[64], path[PATH_MAX];

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	struct fd_ent *c = fd < FD_CACHE ? &fds[fd] : NULL;
	if (c != NULL && c->state != 0 && c->dev == st.st_dev && c->ino == st.st_ino)
		return c->state == 1;
	/* no snprintf: it is not async-signal-safe */
	static const char pre[] = "/proc/self/fd/";
	char num[16];
	int k = 0;
	unsigned v = (unsigned)fd;
	do
		num[k++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	memcpy(link, pre, sizeof(pre) - 1);
	for (int i = 0; i < k; i++)
		link[sizeof(pre) - 1 + i] = num[k - 1 - i];
	link[sizeof(pre) - 1 + k] = '\0';
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	bool hit =
	    n > 0 && (size_t)n > dir_len && memcmp(path, dir, dir_len) == 0 && path[dir_len] == '/';
	if (hit) {
		/* RocksDB's info log is spared (see the top of the file) */
		path[n] = '\0';
		const char *base = strrchr(path, '/') + 1;
		if (strncmp(base, "LOG", 3) == 0 && (base[3] == '\0' || base[3] == '.'))
			hit = false;
	}
	if (c != NULL) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
		c->state = hit ? 1 : 2;
	}
	return hit;
}

static int errno_parse(const char *s, size_t n)
{
	static const struct {
		const char *name;
		int err;
	} names[] = {{"EIO", EIO},     {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT},
	             {"EROFS", EROFS}, {"EFBIG", EFBIG},   {"EPERM", EPERM},
	             {"EBADF", EBADF}, {"EINTR", EINTR},   {"EAGAIN", EAGAIN}};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0)
			return names[i].err;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > 100000)
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static bool word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(s, w, n) == 0;
}

/* Parses the control file's text into rules[] (lock held). */
static void rules_parse(const char *p, size_t len)
{
	const char *end = p + len;

	n_rules = 0;
	while (p < end && n_rules < RULES_MAX) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		const char *w[4];
		size_t wl[4];
		int nw = 0;
		for (const char *q = p; q < eol && *q != '#' && nw < 4;) {
			while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
				q++;
			if (q == eol || *q == '#')
				break;
			w[nw] = q;
			while (q < eol && *q != ' ' && *q != '\t' && *q != '\r' && *q != '#')
				q++;
			wl[nw] = (size_t)(q - w[nw]);
			nw++;
		}
		p = eol + 1;
		if (nw != 2 && nw != 4)
			continue;
		struct rule r = {0};
		if (word_is(w[0], wl[0], "write"))
			r.op = OP_WRITE;
		else if (word_is(w[0], wl[0], "fsync"))
			r.op = OP_FSYNC;
		else
			continue;
		if ((r.err = errno_parse(w[1], wl[1])) <= 0)
			continue;
		if (nw == 4) {
			if (!word_is(w[2], wl[2], "after"))
				continue;
			for (size_t i = 0; i < wl[3] && r.after >= 0; i++) {
				if (w[3][i] < '0' || w[3][i] > '9' || r.after > 1000000000L)
					r.after = -1;
				else
					r.after = r.after * 10 + (w[3][i] - '0');
			}
			if (r.after < 0)
				continue;
		}
		rules[n_rules++] = r;
	}
}

/* Looks at the control file, re-reading it when it changed (lock held). */
static void ctl_check(void)
{
	struct stat st;

	if (stat(ctl, &st) != 0) {
		ctl_seen = false;
		n_rules = 0;
		return;
	}
	if (ctl_seen && st.st_dev == ctl_dev && st.st_ino == ctl_ino && st.st_size == ctl_size &&
	    st.st_mtim.tv_sec == ctl_mtime.tv_sec && st.st_mtim.tv_nsec == ctl_mtime.tv_nsec)
		return;
	ctl_seen = true;
	ctl_dev = st.st_dev;
	ctl_ino = st.st_ino;
	ctl_size = st.st_size;
	ctl_mtime = st.st_mtim;
	n_rules = 0;
	int fd = open(ctl, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char text[CTL_MAX];
	size_t len = 0;
	for (;;) {
		ssize_t k = read(fd, text + len, sizeof(text) - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
		if (len == sizeof(text))
			break;
	}
	syscall(SYS_close, fd);
	rules_parse(text, len);
}

/* The errno to fail this call with, or 0 to let it through. */
static int fault(int fd, enum op op)
{
	int err = 0;

	if (!enabled || busy)
		return 0;
	busy++;
	int saved = errno;
	lock_take();
	if (fd_is_target(fd)) {
		ctl_check();
		for (int i = 0; i < n_rules; i++) {
			if (rules[i].op != op)
				continue;
			if (rules[i].after > 0)
				rules[i].after--;
			else
				err = rules[i].err;
			break;
		}
	}
	lock_give();
	errno = saved;
	busy--;
	return err;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	int e = fault(fd, OP_WRITE);
	if (e != 0) {
		errno = e;
		return -1;
	}
	resolve();
	if (real_write == NULL)
		return syscall(SYS_write, fd, buf, n);
	return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	int e = fault(fd, OP_WRITE);
	if (e != 0) {
		errno = e;
		return -1;
	}
	resolve();
	if (real_pwrite == NULL)
		return syscall(SYS_pwrite64, fd, buf, n, off);
	return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	int e = fault(fd, OP_WRITE);
	if (e != 0) {
		errno = e;
		return -1;
	}
	resolve();
	if (real_pwrite64 == NULL)
		return syscall(SYS_pwrite64, fd, buf, n, off);
	return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	int e = fault(fd, OP_WRITE);
	if (e != 0) {
		errno = e;
		return -1;
	}
	resolve();
	if (real_writev == NULL)
		return syscall(SYS_writev, fd, iov, n);
	return real_writev(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	int e = fault(fd, OP_WRITE);
	if (e != 0) {
		errno = e;
		return -1;
	}
	resolve();
	if (real_pwritev == NULL) /* the offset's low and high halves (64-bit: all low) */
		return syscall(SYS_pwritev, fd, iov, n, (unsigned long)off, 0UL);
	return real_pwritev(fd, iov, n, off);
}

int fsync(int fd)
{
	int e = fault(fd, OP_FSYNC);
	if (e != 0) {
		errno = e;
		return -1;
	}
	resolve();
	if (real_fsync == NULL)
		return (int)syscall(SYS_fsync, fd);
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	int e = fault(fd, OP_FSYNC);
	if (e != 0) {
		errno = e;
		return -1;
	}
	resolve();
	if (real_fdatasync == NULL)
		return (int)syscall(SYS_fdatasync, fd);
	return real_fdatasync(fd);
}

/* Passed through: RocksDB probes sync_file_range when it opens a file and
 * asserts that it works or is ENOSYS, so failing it tests RocksDB's
 * assertion, not raftd; its durability rests on fsync/fdatasync. */
int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
	resolve();
	if (real_sync_file_range == NULL)
		return (int)syscall(SYS_sync_file_range, fd, off, n, flags);
	return real_sync_file_range(fd, off, n, flags);
}

/* Forgets what the fd pointed at (the dev/inode check catches closes this
 * does not see, such as fclose()'s inside libc). */
int close(int fd)
{
	if (enabled && !busy && fd >= 0 && fd < FD_CACHE) {
		busy++;
		lock_take();
		fds[fd].state = 0;
		lock_give();
		busy--;
	}
	resolve();
	if (real_close == NULL)
		return (int)syscall(SYS_close, fd);
	return real_close(fd);
}

/* rundir.c: where the bus endpoints, ctl.sock and config.json live (DESIGN.md §2). */
#include "rundir.h"
#include "log.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rundir_resolve(const char *data_dir, char *out, size_t size)
{
	const char *env = getenv(RUNDIR_ENV);
	const char *rt = getenv("RUNTIME_DIRECTORY");
	int n;

	if (env != NULL && env[0] != '\0')
		n = snprintf(out, size, "%s", env);
	else if (rt != NULL && rt[0] != '\0' && strchr(rt, ':') == NULL)
		n = snprintf(out, size, "%s", rt);
	else if (data_dir != NULL && data_dir[0] != '\0')
		n = snprintf(out, size, "%s/run", data_dir);
	else
		return -1;
	if (n < 0 || (size_t)n >= size || n > RUNDIR_PATH_MAX) {
		log_errorx("run_dir %s is too long: UNIX socket paths under it would pass 107 "
		           "bytes; set %s to a shorter directory",
		           out, RUNDIR_ENV);
		return -1;
	}
	return 0;
}

int rundir_make(const char *path)
{
	char tmp[256];
	struct stat st;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -1;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
			log_error("run_dir: mkdir %s", tmp);
			return -1;
		}
		*p = '/';
	}
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
		log_error("run_dir: mkdir %s", tmp);
		return -1;
	}
	if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_errorx("run_dir: %s is not a directory", tmp);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_errorx("run_dir: %s belongs to uid %u, not to us", tmp, (unsigned)st.st_uid);
		return -1;
	}
	if ((st.st_mode & 0077) != 0 && chmod(tmp, 0700) != 0) {
		log_error("run_dir: chmod 0700 %s", tmp);
		return -1;
	}
	return 0;
}

static int rundir_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		log_warn("cannot remove %s", path);
	return 0;
}

int rundir_remove_tree(const char *path)
{
	return nftw(path, rundir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* exe.c: where muster's programs are: MUSTER_LIBEXEC_DIR, beside the running binary, or installed.
 */
#include "exe.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exe_probe(const char *dir, const char *probe)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", dir, probe) >= (int)sizeof(path))
		return -1;
	return access(path, X_OK);
}

int exe_find_dir(const char *probe, const char *const *rels, const char *installed_dir, char *dir,
                 size_t size)
{
	const char *env = getenv(EXE_LIBEXEC_ENV);
	char self[PATH_MAX];
	ssize_t n;

	if (env != NULL && env[0] != '\0') {
		snprintf(dir, size, "%s", env);
		return exe_probe(dir, probe);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			for (size_t i = 0; rels[i] != NULL; i++) {
				if (snprintf(dir, size, "%s/%s", self, rels[i]) >= (int)size)
					continue;
				if (exe_probe(dir, probe) == 0)
					return 0;
			}
		}
	}
	snprintf(dir, size, "%s", installed_dir);
	return exe_probe(dir, probe);
}

/* replay.c: runs a fuzz target's LLVMFuzzerTestOneInput over corpus files, as an ordinary test. */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A corpus file larger than this is an error, not an input. */
#define REPLAY_FILE_MAX (64u << 20)
/* Path length for a directory entry. */
#define REPLAY_PATH_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a file into an exactly sized heap copy, so a sanitizer sees any
 * read past the input's end. */
static int replay_file(const char *path, unsigned long *count)
{
	struct stat st;
	uint8_t *p;
	size_t n;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > REPLAY_FILE_MAX) {
		fprintf(stderr, "replay: %s: larger than %u bytes\n", path, REPLAY_FILE_MAX);
		fclose(f);
		return -1;
	}
	n = (size_t)st.st_size;
	p = malloc(n ? n : 1);
	if (p == NULL || fread(p, 1, n, f) != n) {
		fprintf(stderr, "replay: %s: read failed\n", path);
		free(p);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(p, n);
	free(p);
	(*count)++;
	return 0;
}

static int replay_stat(const char *path, bool *regular, bool *dir)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	*regular = S_ISREG(st.st_mode);
	*dir = S_ISDIR(st.st_mode);
	return 0;
}

/* Regular files of a directory, sorted by name, not recursing; dot files
 * (.gitkeep) are not inputs. */
static int replay_dir(const char *dir, unsigned long *count)
{
	struct dirent **ents;
	char path[REPLAY_PATH_MAX];
	bool regular, isdir;
	int n, rc = 0;

	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (rc == 0 && ents[i]->d_name[0] != '.') {
			if (snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name) >=
			    (int)sizeof(path)) {
				fprintf(stderr, "replay: %s/%s: path too long\n", dir,
				        ents[i]->d_name);
				rc = -1;
			} else if (replay_stat(path, &regular, &isdir) != 0) {
				rc = -1;
			} else if (regular && replay_file(path, count) != 0) {
				rc = -1;
			}
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

static int replay_path(const char *path, unsigned long *count)
{
	bool regular, isdir;

	if (replay_stat(path, &regular, &isdir) != 0)
		return -1;
	if (isdir)
		return replay_dir(path, count);
	if (regular)
		return replay_file(path, count);
	fprintf(stderr, "replay: %s: not a file or directory\n", path);
	return -1;
}

int main(int argc, char **argv)
{
	const char *env = getenv("FUZZ_CORPUS");
	unsigned long count = 0;

	if (argc < 2) {
		if (env == NULL || env[0] == '\0') {
			fprintf(stderr, "usage: %s file|dir... (or FUZZ_CORPUS=dir)\n", argv[0]);
			return 2;
		}
		if (replay_path(env, &count) != 0)
			return 1;
	}
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) != 0)
			return 1;
	/* A crash never gets here: it aborts with the sanitizer's report. */
	printf("replay: %lu inputs, 0 crashes\n", count);
	return 0;
}

/* probe_once.c: runs one healthd probe and prints its result, for tests and by hand:
 *   probe_once [-t timeout_ms] [-o output_max] [-k] tcp|http|grpc ADDR
 *   probe_once [-t timeout_ms] [-o output_max] script ARG...
 * (-k: TLSSkipVerify). Prints "passing|warning|critical\n<output>\n"; exits 0, 1 or 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemons/healthd/probe.h"
#include "ev.h"

static int g_status = -1;

static void done(void *arg, enum probe_status st, const char *out, size_t len)
{
	static const char *const names[] = {"passing", "warning", "critical"};

	(void)arg;
	g_status = (int)st;
	printf("%s\n%.*s\n", names[st], (int)len, out);
}

int main(int argc, char **argv)
{
	struct probe_limits lim = {.max_running = 1, .enable_script_checks = true};
	struct msg_check_def def;
	uint64_t timeout_ms = 0;
	size_t output_max = 0;
	const char *why = NULL;
	int opt;

	memset(&def, 0, sizeof(def));
	while ((opt = getopt(argc, argv, "+t:o:k")) != -1) {
		if (opt == 't')
			timeout_ms = strtoull(optarg, NULL, 10);
		else if (opt == 'o')
			output_max = strtoull(optarg, NULL, 10);
		else if (opt == 'k')
			def.tls_skip_verify = true;
		else
			return 64;
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: probe_once [-t ms] [-o bytes] [-k] tcp|http|grpc|script ...\n");
		return 64;
	}
	const char *kind = argv[optind];
	if (strcmp(kind, "tcp") == 0)
		def.tcp = argv[optind + 1];
	else if (strcmp(kind, "http") == 0)
		def.http = argv[optind + 1];
	else if (strcmp(kind, "grpc") == 0)
		def.grpc = argv[optind + 1];
	else if (strcmp(kind, "script") == 0) {
		def.script_args.v = argv + optind + 1;
		def.script_args.n = (uint32_t)(argc - optind - 1);
	} else {
		fprintf(stderr, "probe_once: unknown kind %s\n", kind);
		return 64;
	}
	struct ev *ev = ev_new();
	struct probe_ctx *c = ev ? probe_ctx_new(ev, &lim) : NULL;
	if (!c) {
		fprintf(stderr, "probe_once: cannot start\n");
		return 70;
	}
	if (!probe_start(c, &def, timeout_ms, output_max, done, NULL, &why)) {
		fprintf(stderr, "probe_once: refused: %s\n", why);
		return 64;
	}
	while (g_status < 0)
		ev_run_once(ev, -1);
	probe_ctx_free(c);
	ev_free(ev);
	return g_status;
}

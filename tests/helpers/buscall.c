/* buscall.c: a test tool that sends one bus request to a daemon and prints the reply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ipc.h"

static int usage(void)
{
	fprintf(stderr,
	        "usage: buscall [-as NAME] [-t MS] RUN_DIR PEER "
	        "PING|ECHO|STATUS|STATS|RELOAD|LEAVE|SHUTDOWN|LOG_LEVEL LEVEL|CHILD_STATE\n");
	return 1;
}

int main(int argc, char **argv)
{
	const char *self = "httpd";
	uint64_t timeout_ms = 5000;
	struct msg req, reply;
	enum ipc_status st;
	struct buf out;
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-as") == 0 && i + 1 < argc)
			self = argv[i + 1];
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			timeout_ms = strtoull(argv[i + 1], NULL, 10);
		else
			return usage();
		i += 2;
	}
	if (argc - i < 3)
		return usage();
	memset(&req, 0, sizeof(req));
	for (int t = 1; t < MSG_TYPE_MAX; t++) {
		if (msg_is_known((uint64_t)t) &&
		    strcmp(msg_type_name((enum msg_type)t), argv[i + 2]) == 0)
			req.type = (enum msg_type)t;
	}
	if (req.type == MSG_NONE)
		return usage();
	if (req.type == MSG_PING)
		req.u.ping.nonce = 12345;
	if (req.type == MSG_LOG_LEVEL)
		req.u.log_level.level = argc - i > 3 ? argv[i + 3] : (char *)"";
	if (req.type == MSG_ECHO) {
		/* A value of every kind, to see them come back whole. */
		static char *list[] = {(char *)"a", (char *)"b"};
		static char *keys[] = {(char *)"k"}, *vals[] = {(char *)"v"};

		req.u.echo.u = UINT64_MAX;
		req.u.echo.i = INT64_MIN;
		req.u.echo.b = true;
		req.u.echo.d = 0.5;
		req.u.echo.s = (char *)"echo";
		req.u.echo.raw.p = (uint8_t *)"\x00\x01";
		req.u.echo.raw.len = 2;
		req.u.echo.ou.has = true;
		req.u.echo.ou.v = 7;
		req.u.echo.list.v = list;
		req.u.echo.list.n = 2;
		req.u.echo.map.k = keys;
		req.u.echo.map.v = vals;
		req.u.echo.map.n = 1;
		req.u.echo.one.name = (char *)"raftd";
	}
	if (req.type == MSG_SHUTDOWN)
		req.u.shutdown.reason = (char *)"buscall";
	st = ipc_call_sync(argv[i], self, argv[i + 1], &req, timeout_ms, &reply);
	if (st != IPC_OK) {
		fprintf(stderr, "buscall: %s\n", ipc_status_str(st));
		ipc_ctx_term();
		return st == IPC_TIMEOUT ? 2 : 1;
	}
	buf_init(&out, 1u << 20);
	msg_format(&reply, &out);
	printf("%s\n", buf_cstr(&out) ? buf_cstr(&out) : "(unprintable)");
	buf_fini(&out);
	msg_free(&reply);
	ipc_ctx_term();
	return 0;
}

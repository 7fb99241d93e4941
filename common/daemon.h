/* daemon.h: what every child daemon shares: config, loop, bus, lifeline, common messages. */
#ifndef MUSTER_DAEMON_H
#define MUSTER_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "rundir.h"

struct ev;
struct daemon;

/* One daemon's own parts; every hook is optional. */
struct daemon_ops {
	const char *name; /* "raftd": process name, routing id, endpoint name */
	/* Set up the subsystem; 0 means this daemon can serve, and readiness
	 * goes to musterd right after. */
	int (*start)(struct daemon *d);
	void (*stop)(struct daemon *d);
	/* d->conf already holds the new configuration, old the previous one.
	 * Return 0, or -1 with a reason in err (the reload is then answered
	 * with 500 and the reason). */
	int (*reload)(struct daemon *d, const struct conf *old, char *err, size_t err_size);
	/* A request the common part does not answer. Return true when it was
	 * taken (answered now or later through d->rpc); false gets a 400
	 * "unsupported message" RESULT. */
	bool (*request)(struct daemon *d, const struct ipc_from *from, struct msg *m);
	/* Appends this daemon's own statistics (the common part adds its
	 * uptime and bus counters). */
	void (*stats)(struct daemon *d, struct msg_daemon_stats *out);
};

struct daemon {
	const struct daemon_ops *ops;
	struct ev *ev;
	struct conf conf;
	int argc;
	char **argv; /* kept to re-resolve the configuration on reload */
	char run_dir[RUNDIR_PATH_MAX + 1];
	struct ipc_server *rpc;
	struct ipc_pub *pub;
	uint64_t epoch;    /* fresh at each start; in every event published */
	uint64_t start_ms; /* monotonic */
	bool ready;
	bool stopping;
	bool supervised; /* started by musterd (which logs config warnings) */
	int exit_code;   /* main()'s, when the loop ends; daemon_fail() sets 1 */
	void *priv;
};

/* The whole life of a child daemon; returns main()'s exit code. */
int daemon_main(int argc, char **argv, const struct daemon_ops *ops);

/* Ends the loop and exits with 1, so that musterd restarts this daemon: for
 * a state it cannot recover in place (raftd after a failed storage write).
 * Bus sockets close with linger 0, so a caller that has just queued error
 * replies lets the loop run a moment (a short timer) before calling this. */
void daemon_fail(struct daemon *d, const char *why);

/* A fresh random 64-bit value (epochs, ids). */
uint64_t daemon_random64(void);
/* A random version-4 UUID, lower-case 8-4-4-4-12 (node ids, session ids,
 * as Consul's uuid.GenerateUUID). */
void daemon_uuid(char out[37]);

/* Answers PING (with this epoch) and ECHO, the probes every bus member
 * answers alike; false for any other message. */
bool daemon_answer_probe(struct ipc_server *s, const struct ipc_from *from, struct msg *m,
                         uint64_t epoch);
/* Applies a LOG_LEVEL request: 0, or -1 after answering 400 for an
 * unknown level. The caller sends the success reply. */
int daemon_set_log_level(struct ipc_server *s, const struct ipc_from *from, const char *level);

/* The log tap of every bus member (spec/http-api.md §3.9): each line it
 * logs is published on its PUB as LOG_LINE {daemon, level, line}, which
 * httpd subscribes to while a /v1/agent/monitor stream is open (ZeroMQ
 * drops the frames at the publisher when nobody subscribes). arg is a
 * struct daemon_log_pub; daemon_main installs it, musterd does for its own
 * PUB. Remove it (log_set_tap(NULL, NULL)) before freeing the PUB. */
struct daemon_log_pub {
	struct ipc_pub *pub;
	const char *name;
};
void daemon_log_tap(enum log_level level, const char *line, void *arg);

/* Applies a MONITOR_LEVEL request (log_set_tap_level; "" resets): 0, or
 * -1 after answering 400. The caller sends the success reply. */
int daemon_set_monitor_level(struct ipc_server *s, const struct ipc_from *from, const char *level);
/* Appends one statistic to out (the stats hook's helper). */
void daemon_stat_add(struct msg_daemon_stats *out, const char *name, unsigned kind, double value);

#endif

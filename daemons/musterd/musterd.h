/* musterd.h: the supervisor's internals (model: s6-supervise; DESIGN.md §1, issue 2). */
#ifndef MUSTERD_H
#define MUSTERD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "ipc.h"
#include "msg.h"
#include "rundir.h"

struct ev;

enum child_state {
	CHILD_STOPPED = 0, /* not running and not wanted (stopped by hand, or shut down) */
	CHILD_STARTING,    /* spawned, not yet ready */
	CHILD_READY,       /* said "ready" on its lifeline */
	CHILD_BACKOFF,     /* died; waiting to be spawned again */
	CHILD_STOPPING,    /* SIGTERM sent, waiting for it to exit */
	CHILD_FAILED,      /* K deaths in W seconds: no more restarts until started by hand */
};

#define SUP_CHILDREN   5
#define SUP_DEATHS_MAX 64 /* bound of the death-time ring: restart_max_deaths ≤ this */

struct musterd;

struct child {
	struct musterd *m;
	const char *name;
	char path[PATH_MAX + 16];
	enum child_state state;
	pid_t pid;
	int lifeline_fd;
	int lifeline_watch;
	bool want_up;     /* restart it when it dies */
	bool restart_now; /* a requested restart: the death is not a crash */
	uint64_t spawn_ms;
	uint64_t ready_ms;
	uint64_t restarts;
	uint64_t backoff_ms;
	uint64_t restart_timer;
	uint64_t ready_timer;
	uint64_t kill_timer;
	uint64_t deaths[SUP_DEATHS_MAX]; /* monotonic ms of recent deaths, a ring */
	size_t ndeaths, death_pos;
	char last_exit[32];
	struct ipc_client *bus; /* requests to the child's <name>.rpc */
};

struct musterd {
	struct ev *ev;
	struct conf conf;
	int argc;
	char **argv;
	char run_dir[RUNDIR_PATH_MAX + 1];
	char libexec_dir[PATH_MAX];
	char dev_dir[256]; /* -dev without data_dir: removed at exit */
	char config_path[RUNDIR_PATH_MAX + 32];
	char pid_path[RUNDIR_PATH_MAX + 32];
	int pid_fd;
	uint64_t epoch;
	uint64_t start_ms;
	struct child children[SUP_CHILDREN];
	bool all_ready_once;
	bool shutting_down;
	bool leaving_on_signal; /* a signal's graceful leave is under way */
	int stop_phase;
	uint64_t stop_timer;
	int exit_code;
	struct ipc_server *rpc;
	struct ipc_pub *pub;
	int ctl_fd;
	int ctl_watch;
	struct ctl_conn *ctl_conns;
	uint64_t ctl_next_id; /* names a control connection across an asynchronous reply */
	/* The last MONITOR_LEVEL (httpd's open monitors): "" none. A child
	 * that becomes ready later gets it too. */
	char monitor_level[16];
};

/* bus.c: a child just became ready (sup.c). */
void bus_child_ready(struct musterd *m, struct child *c);

/* sup.c: the children */
void sup_init(struct musterd *m);
void sup_start_all(struct musterd *m);
struct child *sup_find(struct musterd *m, const char *name);
int sup_start(struct musterd *m, struct child *c);
int sup_stop(struct musterd *m, struct child *c);
int sup_restart(struct musterd *m, struct child *c);
void sup_reap(struct musterd *m);
void sup_shutdown(struct musterd *m, const char *why);
const char *sup_state_name(enum child_state s);
void sup_child_status(struct musterd *m, const struct child *c, struct msg_child_status *out);
bool sup_is_running(const struct child *c);

/* main.c. musterd_reload re-resolves the configuration and rewrites
 * config.json; the caller then tells the daemons (bus_fanout_simple). */
int musterd_reload(struct musterd *m, char *err, size_t err_size);
void musterd_notify(struct musterd *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* bus.c: musterd.rpc and the fan-out to children */
void bus_on_request(struct ipc_server *s, const struct ipc_from *from, struct msg *msg, void *arg);
/* Sends a request of this type to every ready child, nobody to answer:
 * failures are logged. */
void bus_fanout_simple(struct musterd *m, enum msg_type type, const char *level);
void bus_leave_then_stop(struct musterd *m, const char *why);
/* RELOAD to every ready child; done gets their errors ("healthd: ...; ...") or NULL. */
void bus_reload_then(struct musterd *m, void (*done)(struct musterd *, uint64_t, const char *),
                     uint64_t tag);

/* ctl.c: the control socket */
int ctl_open(struct musterd *m);
void ctl_close(struct musterd *m);

#endif

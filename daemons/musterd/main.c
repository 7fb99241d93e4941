/* main.c: musterd, one agent's supervisor: config, run_dir, children, bus, ctl, systemd. */
#include "musterd.h"
#include "fsutil.h"
#include "cmdline.h"
#include "daemon.h"
#include "ev.h"
#include "exe.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

void musterd_notify(struct musterd *m, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	(void)m;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* A no-op outside systemd (no NOTIFY_SOCKET). */
	sd_notify(0, text);
}

/* The daemons: MUSTER_LIBEXEC_DIR (tests), beside musterd (the build
 * tree keeps all six in build/libexec), else the installed libexec dir. */
static void musterd_find_libexec(struct musterd *m)
{
	static const char *const rels[] = {".", NULL};

	if (exe_find_dir("raftd", rels, MUSTER_LIBEXECDIR, m->libexec_dir,
	                 sizeof(m->libexec_dir)) != 0)
		log_warnx("no executable raftd in %s: the daemons will fail to start",
		          m->libexec_dir);
}

static int musterd_write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	const char *step = NULL;

	if (fsutil_write_atomic(path, text, len, mode, &step) != 0) {
		log_error("cannot write %s (%s)", path, step);
		return -1;
	}
	return 0;
}

/* The node id is generated once and kept in <data_dir>/node-id, as
 * Consul does (spec §3.2 -node-id, §3.3). */
static int musterd_node_id(struct musterd *m)
{
	char path[PATH_MAX], id[64];
	FILE *f;

	if (m->conf.node_id != NULL && m->conf.node_id[0] != '\0')
		return 0;
	snprintf(path, sizeof(path), "%s/node-id", m->conf.data_dir);
	f = fopen(path, "re");
	if (f != NULL) {
		size_t n = fread(id, 1, sizeof(id) - 1, f);

		fclose(f);
		id[n] = '\0';
		id[strcspn(id, " \t\r\n")] = '\0';
		if (strlen(id) == 36) {
			m->conf.node_id = strdup(id);
			return m->conf.node_id ? 0 : -1;
		}
		log_errorx("%s: not a node id (expected a UUID), remove it to generate one", path);
		return -1;
	}
	daemon_uuid(id);
	if (musterd_write_file(path, id, strlen(id), 0600) != 0)
		return -1;
	m->conf.node_id = strdup(id);
	return m->conf.node_id ? 0 : -1;
}

/* What musterd adds to the resolved configuration before the children
 * see it: the -dev state directory, the node id, the node name. The same
 * on reload, so the children always read a complete config.json. */
static int musterd_complete_conf(struct musterd *m)
{
	if (m->conf.dev_mode && (m->conf.data_dir == NULL || m->conf.data_dir[0] == '\0')) {
		if (m->dev_dir[0] == '\0') {
			snprintf(m->dev_dir, sizeof(m->dev_dir), "/tmp/muster-dev-XXXXXX");
			if (mkdtemp(m->dev_dir) == NULL) {
				log_error("cannot create a -dev state directory");
				m->dev_dir[0] = '\0';
				return -1;
			}
		}
		free(m->conf.data_dir);
		m->conf.data_dir = strdup(m->dev_dir);
		if (m->conf.data_dir == NULL)
			return -1;
	}
	if (m->conf.data_dir == NULL || m->conf.data_dir[0] == '\0') {
		log_errorx("data_dir is required (or use -dev)");
		return -1;
	}
	if (rundir_make(m->conf.data_dir) != 0)
		return -1;
	if (m->conf.node_name == NULL || m->conf.node_name[0] == '\0') {
		char host[256];

		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		free(m->conf.node_name);
		m->conf.node_name = strdup(host);
	}
	return musterd_node_id(m);
}

static int musterd_write_config(struct musterd *m)
{
	struct buf b;
	int rc = -1;

	buf_init(&b, 16u << 20);
	if (conf_write_json(&m->conf, &b) == 0 && !b.err)
		rc = musterd_write_file(m->config_path, (const char *)b.p, b.len, 0600);
	else
		log_errorx("cannot encode the configuration");
	buf_fini(&b);
	return rc;
}

int musterd_reload(struct musterd *m, char *err, size_t err_size)
{
	struct conf old = m->conf;
	enum log_level lvl;

	musterd_notify(m, "RELOADING=1\nSTATUS=reloading");
	if (cmdline_conf(m->argc, m->argv, &m->conf, true) != CMDLINE_RUN ||
	    musterd_complete_conf(m) != 0) {
		conf_fini(&m->conf);
		m->conf = old;
		snprintf(err, err_size, "configuration has errors; keeping the running one");
		musterd_notify(m, "READY=1\nSTATUS=reload failed");
		return -1;
	}
	if (musterd_write_config(m) != 0) {
		conf_fini(&m->conf);
		m->conf = old;
		snprintf(err, err_size, "cannot write %s", m->config_path);
		musterd_notify(m, "READY=1\nSTATUS=reload failed");
		return -1;
	}
	conf_fini(&old);
	if (log_level_parse(m->conf.log_level, &lvl) == 0)
		log_set_level(lvl);
	log_info("configuration reloaded; reloading the daemons");
	musterd_notify(m, "READY=1\nSTATUS=configuration reloaded");
	return 0;
}

static void musterd_on_signal(struct ev *ev, int signo, void *arg)
{
	struct musterd *m = arg;
	char err[256];

	(void)ev;
	switch (signo) {
	case SIGCHLD:
		sup_reap(m);
		break;
	case SIGTERM:
		if (m->conf.leave_on_terminate)
			bus_leave_then_stop(m, "SIGTERM");
		else
			sup_shutdown(m, "SIGTERM");
		break;
	case SIGINT:
		if (!m->conf.skip_leave_on_interrupt)
			bus_leave_then_stop(m, "SIGINT");
		else
			sup_shutdown(m, "SIGINT");
		break;
	case SIGHUP:
		if (musterd_reload(m, err, sizeof(err)) != 0)
			log_errorx("reload on SIGHUP failed: %s", err);
		else
			bus_fanout_simple(m, MSG_RELOAD, NULL);
		break;
	default:
		break;
	}
}

/* The pid file in run_dir doubles as the lock that keeps a second musterd
 * off the same run_dir (and its sockets). */
static int musterd_lock(struct musterd *m)
{
	char pid[32];
	int n;

	snprintf(m->pid_path, sizeof(m->pid_path), "%s/musterd.pid", m->run_dir);
	m->pid_fd = open(m->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (m->pid_fd < 0) {
		log_error("cannot open %s", m->pid_path);
		return -1;
	}
	if (flock(m->pid_fd, LOCK_EX | LOCK_NB) != 0) {
		char other[32] = "?";
		ssize_t r = pread(m->pid_fd, other, sizeof(other) - 1, 0);

		other[r > 0 ? r : 0] = '\0';
		other[strcspn(other, "\n")] = '\0';
		log_errorx("another musterd (pid %s) runs with run_dir %s", other, m->run_dir);
		close(m->pid_fd);
		m->pid_fd = -1;
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(m->pid_fd, 0) != 0 || pwrite(m->pid_fd, pid, (size_t)n, 0) != n) {
		log_error("cannot write %s", m->pid_path);
		return -1;
	}
	if (m->conf.pid_file != NULL && m->conf.pid_file[0] != '\0' &&
	    musterd_write_file(m->conf.pid_file, pid, (size_t)n, 0644) != 0)
		return -1;
	return 0;
}

static void musterd_raise_nofile(void)
{
	struct rlimit rl;

	/* Many blocking queries and DNS/TCP clients: take what we may. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise RLIMIT_NOFILE to %llu",
			         (unsigned long long)rl.rlim_max);
	}
}

static void musterd_banner(struct musterd *m)
{
	fprintf(stderr,
	        "==> Starting muster agent...\n"
	        "           Version: '%s'\n"
	        "           Node ID: '%s'\n"
	        "         Node name: '%s'\n"
	        "        Datacenter: '%s'\n"
	        "            Server: %s (Bootstrap: %s)\n"
	        "          Data dir: %s%s\n"
	        "           Run dir: %s\n"
	        "       Control sock: %s/ctl.sock\n"
	        "==> Log data will now stream in as it occurs:\n",
	        MUSTER_VERSION, m->conf.node_id, m->conf.node_name, m->conf.datacenter,
	        m->conf.server ? "true" : "false", m->conf.bootstrap ? "true" : "false",
	        m->conf.data_dir, m->dev_dir[0] ? " (dev: removed at exit)" : "", m->run_dir,
	        m->run_dir);
}

static void musterd_cleanup(struct musterd *m)
{
	ctl_close(m);
	for (int i = 0; i < SUP_CHILDREN; i++)
		ipc_client_free(m->children[i].bus);
	ipc_server_free(m->rpc);
	log_set_tap(NULL, NULL);
	ipc_pub_free(m->pub);
	ipc_ctx_term();
	if (m->pid_fd >= 0) {
		unlink(m->pid_path);
		close(m->pid_fd);
	}
	if (m->conf.pid_file != NULL && m->conf.pid_file[0] != '\0')
		unlink(m->conf.pid_file);
	if (m->config_path[0] != '\0')
		unlink(m->config_path);
	if (m->dev_dir[0] != '\0') {
		log_info("removing -dev state %s", m->dev_dir);
		rundir_remove_tree(m->dev_dir);
	}
	ev_free(m->ev);
	conf_fini(&m->conf);
}

int main(int argc, char **argv)
{
	struct musterd m;
	struct daemon_log_pub log_pub;
	enum log_level lvl = LOG_LEVEL_INFO;
	enum cmdline_result cr;

	memset(&m, 0, sizeof(m));
	m.pid_fd = -1;
	m.ctl_fd = -1;
	m.argc = argc;
	m.argv = argv;
	m.exit_code = 0;
	log_init("musterd", LOG_LEVEL_INFO);
	cr = cmdline_conf(argc, argv, &m.conf, true);
	if (cr != CMDLINE_RUN) {
		conf_fini(&m.conf);
		return cr == CMDLINE_EXIT_OK ? 0 : 1;
	}
	if (log_level_parse(m.conf.log_level, &lvl) == 0)
		log_set_level(lvl);
	signal(SIGPIPE, SIG_IGN);
	m.ev = ev_new();
	if (m.ev == NULL)
		return 1;
	m.start_ms = ev_now_ms(m.ev);
	m.epoch = daemon_random64();
	/* Signals first: a SIGTERM during start-up must not be lost. */
	if (ev_signal(m.ev, SIGCHLD, musterd_on_signal, &m) != 0 ||
	    ev_signal(m.ev, SIGTERM, musterd_on_signal, &m) != 0 ||
	    ev_signal(m.ev, SIGINT, musterd_on_signal, &m) != 0 ||
	    ev_signal(m.ev, SIGHUP, musterd_on_signal, &m) != 0)
		goto fail;
	if (musterd_complete_conf(&m) != 0)
		goto fail;
	if (rundir_resolve(m.conf.data_dir, m.run_dir, sizeof(m.run_dir)) != 0 ||
	    rundir_make(m.run_dir) != 0)
		goto fail;
	if (musterd_lock(&m) != 0)
		goto fail;
	snprintf(m.config_path, sizeof(m.config_path), "%s/config.json", m.run_dir);
	if (musterd_write_config(&m) != 0)
		goto fail;
	musterd_raise_nofile();
	musterd_find_libexec(&m);
	m.rpc = ipc_server_new(m.ev, m.run_dir, "musterd", bus_on_request, &m);
	m.pub = ipc_pub_new(m.run_dir, "musterd");
	if (m.rpc == NULL || m.pub == NULL || ctl_open(&m) != 0)
		goto fail;
	/* musterd's lines reach /v1/agent/monitor as the daemons' do. */
	log_pub.pub = m.pub;
	log_pub.name = "musterd";
	log_set_tap(daemon_log_tap, &log_pub);
	musterd_banner(&m);
	sup_init(&m);
	sup_start_all(&m);
	if (ev_run(m.ev) != 0)
		m.exit_code = 1;
	musterd_cleanup(&m);
	log_info("exit");
	return m.exit_code;
fail:
	musterd_cleanup(&m);
	return 1;
}

/* muster.c: the `muster` command: agent, version, validate, ctl and the Consul-compatible HTTP subcommands (spec §2, §3). */
#include "buf.h"
#include "cli.h"
#include "cmdline.h"
#include "conf.h"
#include "ctlproto.h"
#include "exe.h"
#include "log.h"
#include "rundir.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CTL_REPLY_MAX  (1u << 20)
#define CTL_TIMEOUT_MS 10000

/* The Consul-compatible subcommands over the agent's HTTP API (spec §2.3,
 * §2.4), declared once: the dispatch and the usage list both read this. */
static const struct cli_sub cli_http_cmds[] = {
    {"catalog", cmd_catalog, "Interact with the catalog"},
    {"event", cmd_event, "Fire a new event"},
    {"force-leave", cmd_force_leave, "Forces a member of the cluster to enter the \"left\" state"},
    {"info", cmd_info, "Provides debugging information for operators."},
    {"join", cmd_join, "Tell the agent to join cluster"},
    {"keygen", cmd_keygen, "Generates a new encryption key"},
    {"keyring", cmd_keyring, "Manages gossip layer encryption keys"},
    {"kv", cmd_kv, "Interact with the key-value store"},
    {"leave", cmd_leave, "Gracefully leaves the cluster and shuts down"},
    {"lock", cmd_lock, "Execute a command holding a lock"},
    {"maint", cmd_maint, "Controls node or service maintenance mode"},
    {"members", cmd_members, "Lists the members of a cluster"},
    {"monitor", cmd_monitor, "Stream logs from an agent"},
    {"operator", cmd_operator, "Provides cluster-level tools for operators"},
    {"reload", cmd_reload, "Triggers the agent to reload configuration files"},
    {"services", cmd_services, "Interact with services"},
    {"watch", cmd_watch, "Watch for changes"},
    {NULL, NULL, NULL},
};

/* Consul commands that later work brings; until then they say so. */
static const char *const cli_later[] = {
    "acl",     "config",   "connect", "debug",    "exec", "intention",    "login", "logout",
    "peering", "resource", "rtt",     "snapshot", "tls",  "troubleshoot", NULL,
};

static void cli_usage(FILE *f)
{
	fprintf(f,
	        "Usage: muster [--version] [--help] <command> [<args>]\n\n"
	        "Available commands are:\n"
	        "    %-14s%s\n"
	        "    %-14s%s\n",
	        "agent", "Runs a muster agent (the consul agent flags)", "ctl",
	        "Talks to the local agent's supervisor (status, start, stop, restart,\n"
	        "                  reload, shutdown, log-level)");
	for (const struct cli_sub *c = cli_http_cmds; c->name != NULL; c++)
		fprintf(f, "    %-14s%s\n", c->name, c->synopsis);
	fprintf(f, "    %-14s%s\n    %-14s%s\n", "validate", "Validate config files/directories",
	        "version", "Prints the muster version");
}

/* musterd: MUSTER_LIBEXEC_DIR (tests), beside this binary (the build tree:
 * build/bin/muster and build/libexec/musterd; an install: bin/muster and
 * sbin/musterd), then the configured sbin. */
static int cli_find_musterd(char *out, size_t size)
{
	static const char *const rels[] = {"../libexec", "../sbin", NULL};
	char dir[PATH_MAX];
	int rc = exe_find_dir("musterd", rels, MUSTER_SBINDIR, dir, sizeof(dir));

	snprintf(out, size, "%s/musterd", dir);
	return rc;
}

static int cli_agent(char **argv)
{
	char path[PATH_MAX + 32];

	if (cli_find_musterd(path, sizeof(path)) != 0) {
		fprintf(stderr,
		        "muster agent: cannot find musterd (tried %s); set "
		        "MUSTER_LIBEXEC_DIR\n",
		        path);
		return 1;
	}
	/* musterd takes the same flags; argv[0] becomes its name. */
	argv[0] = (char *)"musterd";
	execv(path, argv);
	fprintf(stderr, "muster agent: exec %s: %s\n", path, strerror(errno));
	return 1;
}

static int cli_version(void)
{
	printf("Muster v%s\nRevision %s\n"
	       "Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use "
	       "protocol >2 when speaking to compatible agents)\n",
	       MUSTER_VERSION, MUSTER_REVISION);
	return 0;
}

static int cli_validate(int argc, char **argv)
{
	struct conf c;
	struct conf_diag d;
	bool quiet = false;
	int i, rc = 0, nfiles = 0;

	memset(&d, 0, sizeof(d));
	conf_init(&c);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-quiet") == 0 || strcmp(argv[i], "--quiet") == 0) {
			quiet = true;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "muster validate: unknown flag %s\n", argv[i]);
			conf_fini(&c);
			return 1;
		} else {
			nfiles++;
			if (conf_load_path(&c, argv[i], &d) != 0)
				rc = 1;
		}
	}
	if (nfiles == 0) {
		fprintf(stderr,
		        "muster validate: expected at least one config file or directory\n");
		conf_fini(&c);
		return 1;
	}
	if (rc == 0 && conf_validate(&c, false, &d) != 0)
		rc = 1;
	for (size_t k = 0; k < d.n_warnings && !quiet; k++)
		fprintf(stderr, "%s\n", d.warnings[k]);
	for (size_t k = 0; k < d.n_errors; k++)
		fprintf(stderr, "%s\n", d.errors[k]);
	if (rc == 0 && !quiet)
		printf("Configuration is valid!\n");
	conf_diag_fini(&d);
	conf_fini(&c);
	return rc;
}

/* The one -dev agent of this user, whose run_dir is a fresh directory
 * under /tmp: 0 and its socket when there is exactly one. */
static int cli_find_dev_socket(char *out, size_t size)
{
	glob_t g;
	struct stat st;
	int found = 0;

	if (glob("/tmp/muster-dev-*/run/ctl.sock", 0, NULL, &g) != 0)
		return -1;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		if (stat(g.gl_pathv[i], &st) != 0 || st.st_uid != geteuid() ||
		    !S_ISSOCK(st.st_mode))
			continue;
		if (found++ == 0)
			snprintf(out, size, "%s", g.gl_pathv[i]);
		else
			fprintf(stderr, "muster ctl: several -dev agents (%s, %s): use -socket\n",
			        out, g.gl_pathv[i]);
	}
	globfree(&g);
	return found == 1 ? 0 : -1;
}

/* -socket, then MUSTER_CTL_SOCKET, then <data_dir>/run/ctl.sock (or the
 * run_dir resolution musterd uses), then /run/muster/ctl.sock (systemd),
 * then the single -dev agent of this user (`make run`). */
static int cli_ctl_path(const char *sock, const char *data_dir, char *out, size_t size)
{
	const char *env = getenv("MUSTER_CTL_SOCKET");
	char rd[RUNDIR_PATH_MAX + 1];

	if (sock != NULL)
		return snprintf(out, size, "%s", sock) < (int)size ? 0 : -1;
	if (env != NULL && env[0] != '\0')
		return snprintf(out, size, "%s", env) < (int)size ? 0 : -1;
	if (data_dir != NULL || getenv(RUNDIR_ENV) != NULL) {
		if (rundir_resolve(data_dir, rd, sizeof(rd)) != 0)
			return -1;
		return snprintf(out, size, "%s/ctl.sock", rd) < (int)size ? 0 : -1;
	}
	snprintf(out, size, "/run/muster/ctl.sock");
	if (access(out, F_OK) != 0 && cli_find_dev_socket(rd, sizeof(rd)) == 0)
		snprintf(out, size, "%s", rd);
	return 0;
}

static long cli_ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static int cli_ctl(int argc, char **argv)
{
	const char *sock = NULL, *data_dir = NULL;
	struct sockaddr_un sun;
	struct timespec deadline;
	struct buf line, reply;
	const char *text, *last;
	int i, fd, rc = 1;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *f = argv[i] + (argv[i][1] == '-' ? 2 : 1);
		const char *v = strchr(f, '=');
		size_t flen = v ? (size_t)(v - f) : strlen(f);

		if (v != NULL)
			v++;
		else if (i + 1 < argc)
			v = argv[++i];
		if ((flen == 6 && strncmp(f, "socket", 6) == 0) ||
		    (flen == 8 && strncmp(f, "data-dir", 8) == 0)) {
			if (v == NULL) {
				fprintf(stderr, "muster ctl: flag -%.*s needs a value\n", (int)flen,
				        f);
				return 1;
			}
			if (f[0] == 's')
				sock = v;
			else
				data_dir = v;
		} else {
			fprintf(stderr, "muster ctl: unknown flag %s\n", argv[i]);
			return 1;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: muster ctl [-socket PATH | -data-dir DIR] "
		                "status|start NAME|stop NAME|restart NAME|reload|shutdown|"
		                "log-level LEVEL\n");
		return 1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (cli_ctl_path(sock, data_dir, sun.sun_path, sizeof(sun.sun_path)) != 0) {
		fprintf(stderr, "muster ctl: control socket path too long\n");
		return 1;
	}
	buf_init(&line, CTLPROTO_LINE_MAX);
	for (int k = i; k < argc; k++)
		buf_printf(&line, "%s%s", k > i ? " " : "", argv[k]);
	buf_putc(&line, '\n');
	if (line.err) {
		fprintf(stderr, "muster ctl: command too long\n");
		buf_fini(&line);
		return 1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		fprintf(stderr, "muster ctl: cannot connect to %s: %s\n", sun.sun_path,
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		buf_fini(&line);
		return 1;
	}
	buf_init(&reply, CTL_REPLY_MAX);
	if (send(fd, line.p, line.len, MSG_NOSIGNAL) != (ssize_t)line.len) {
		fprintf(stderr, "muster ctl: send: %s\n", strerror(errno));
		goto out;
	}
	shutdown(fd, SHUT_WR);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += CTL_TIMEOUT_MS / 1000;
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		char b[4096];
		long left = cli_ms_left(&deadline);
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			fprintf(stderr, "muster ctl: no reply within %d ms\n", CTL_TIMEOUT_MS);
			goto out;
		}
		n = recv(fd, b, sizeof(b), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_append(&reply, b, (size_t)n) != 0) {
			fprintf(stderr, "muster ctl: reply larger than %u bytes\n", CTL_REPLY_MAX);
			goto out;
		}
	}
	text = buf_cstr(&reply);
	if (text == NULL || reply.len == 0 || text[reply.len - 1] != '\n') {
		fprintf(stderr, "muster ctl: incomplete reply from %s\n", sun.sun_path);
		goto out;
	}
	/* The last line says ok or error: print what comes before it. */
	((char *)text)[reply.len - 1] = '\0';
	last = strrchr(text, '\n');
	last = last ? last + 1 : text;
	fwrite(text, 1, (size_t)(last - text), stdout);
	if (strcmp(last, "ok") == 0) {
		rc = 0;
	} else {
		fprintf(stderr, "muster ctl: %s\n", last);
	}
out:
	close(fd);
	buf_fini(&line);
	buf_fini(&reply);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd;

	log_init("muster", LOG_LEVEL_WARN);
	if (argc < 2) {
		cli_usage(stderr);
		return 1;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-help") == 0 ||
	    strcmp(cmd, "help") == 0) {
		cli_usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0 ||
	    strcmp(cmd, "-version") == 0 || strcmp(cmd, "-v") == 0)
		return cli_version();
	if (strcmp(cmd, "agent") == 0)
		return cli_agent(argv + 1);
	if (strcmp(cmd, "validate") == 0)
		return cli_validate(argc - 1, argv + 1);
	if (strcmp(cmd, "ctl") == 0)
		return cli_ctl(argc - 1, argv + 1);
	for (const struct cli_sub *c = cli_http_cmds; c->name != NULL; c++)
		if (strcmp(cmd, c->name) == 0)
			return c->fn(argc - 1, argv + 1);
	for (int i = 0; cli_later[i] != NULL; i++) {
		if (strcmp(cmd, cli_later[i]) == 0) {
			fprintf(stderr, "muster %s: not available in this build yet\n", cmd);
			return 1;
		}
	}
	fprintf(stderr, "muster: unknown command \"%s\"\n", cmd);
	cli_usage(stderr);
	return 1;
}

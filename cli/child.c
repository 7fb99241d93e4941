/* child.c: the child process of `lock` and `watch`, and the signals that stop them (handlers set flags only). */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A bound on the child's command line once joined for the shell. */
#define CHILD_SCRIPT_MAX    65536
#define CHILD_ENV_EXTRA_MAX 8

static volatile sig_atomic_t child_stop_flag;
static volatile sig_atomic_t child_chld_flag;

static void child_on_stop(int sig)
{
	(void)sig;
	child_stop_flag = 1;
}

static void child_on_chld(int sig)
{
	(void)sig;
	child_chld_flag = 1;
}

void child_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = child_on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = child_on_chld;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

bool child_stop_requested(void)
{
	return child_stop_flag != 0;
}

bool child_signalled(void)
{
	return child_chld_flag != 0;
}

int child_start(struct child *ch, char **argv, int argc, bool shell, int stdin_fd,
                const char *const *extra_env)
{
	char *script = NULL;
	const char *sh = getenv("SHELL");
	pid_t pid;

	memset(ch, 0, sizeof(*ch));
	if (argc <= 0)
		return -1;
	if (shell) {
		size_t len = 0;
		for (int i = 0; i < argc; i++)
			len += strlen(argv[i]) + 1;
		if (len > CHILD_SCRIPT_MAX) {
			fprintf(stderr, "Error executing handler: command longer than %d bytes\n",
			        CHILD_SCRIPT_MAX);
			return -1;
		}
		script = malloc(len + 1);
		if (script == NULL)
			return -1;
		script[0] = '\0';
		for (int i = 0; i < argc; i++) {
			if (i > 0)
				strcat(script, " ");
			strcat(script, argv[i]);
		}
		if (sh == NULL || sh[0] == '\0')
			sh = "/bin/sh";
	}
	child_chld_flag = 0;
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "Error starting handler: fork: %s\n", strerror(errno));
		free(script);
		return -1;
	}
	if (pid == 0) {
		struct sigaction sa;
		int fd = stdin_fd;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		sigaction(SIGCHLD, &sa, NULL);
		sigaction(SIGPIPE, &sa, NULL);
		if (fd < 0)
			fd = open("/dev/null", O_RDONLY);
		if (fd >= 0 && fd != 0) {
			dup2(fd, 0);
			close(fd);
		}
		for (int i = 0;
		     extra_env != NULL && extra_env[i] != NULL && i < CHILD_ENV_EXTRA_MAX; i++)
			putenv((char *)extra_env[i]);
		if (shell)
			execl(sh, sh, "-c", script, (char *)NULL);
		else
			execvp(argv[0], argv);
		fprintf(stderr, "Error starting handler: exec %s: %s\n", shell ? sh : argv[0],
		        strerror(errno));
		_exit(127);
	}
	free(script);
	ch->pid = pid;
	return 0;
}

bool child_poll(struct child *ch)
{
	int st;
	pid_t r;

	if (ch->reaped || ch->pid <= 0)
		return true;
	child_chld_flag = 0;
	r = waitpid(ch->pid, &st, WNOHANG);
	if (r == ch->pid) {
		ch->status = st;
		ch->reaped = true;
	}
	return ch->reaped;
}

bool child_sleep_ms(long ms)
{
	while (ms > 0) {
		long step = ms < 50 ? ms : 50;
		struct timespec ts = {0, step * 1000000L};

		if (child_stop_flag)
			return false;
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return !child_stop_flag;
}

bool child_wait(struct child *ch, bool stoppable)
{
	while (!child_poll(ch)) {
		if (stoppable && child_stop_flag)
			return false;
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return true;
}

void child_kill(struct child *ch, int grace_ms, bool verbose)
{
	if (ch->pid <= 0 || child_poll(ch)) {
		if (verbose && ch->pid <= 0)
			printf("No child process to kill\n");
		return;
	}
	if (verbose)
		printf("Terminating child pid %d\n", (int)ch->pid);
	if (kill(ch->pid, SIGTERM) != 0 && errno != ESRCH) {
		fprintf(stderr, "Failed to terminate %d: %s\n", (int)ch->pid, strerror(errno));
		return;
	}
	for (int waited = 0; waited < grace_ms; waited += 20) {
		struct timespec ts = {0, 20 * 1000000L};
		if (child_poll(ch)) {
			if (verbose)
				printf("Child terminated\n");
			return;
		}
		nanosleep(&ts, NULL);
	}
	if (verbose) {
		printf("Child did not exit after grace period of %ds\n", grace_ms / 1000);
		printf("Killing child pid %d\n", (int)ch->pid);
	}
	if (kill(ch->pid, SIGKILL) != 0 && errno != ESRCH)
		fprintf(stderr, "Failed to kill %d: %s\n", (int)ch->pid, strerror(errno));
	child_wait(ch, false);
}

bool child_succeeded(const struct child *ch)
{
	return ch->reaped && WIFEXITED(ch->status) && WEXITSTATUS(ch->status) == 0;
}

void child_describe(const struct child *ch, char *out, size_t size)
{
	if (WIFEXITED(ch->status))
		snprintf(out, size, "exit status %d", WEXITSTATUS(ch->status));
	else if (WIFSIGNALED(ch->status))
		snprintf(out, size, "signal: %s", strsignal(WTERMSIG(ch->status)));
	else
		snprintf(out, size, "status %d", ch->status);
}

/* Small helpers of the builder: where mkimage lives, time, sizes,
 * directories, command lines that grow, and running a tool (go, musl-gcc,
 * make, cmake) with extra env, its output passed on and its start kept. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"

extern char **environ;

/* The build tool running now (its process group), for the signal handler. */
static volatile pid_t running_child;
/* The signal that interrupted it (see on_fatal_signal). */
static volatile sig_atomic_t got_signal;

char *util_self_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return strdup(dirname(buf));
}

static void vsay(const char *fmt, va_list ap)
{
	fputs("mkimage: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int mk_die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	return code;
}

void mk_say(const struct mk_opts *o, const char *fmt, ...)
{
	if (o && o->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

double util_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *util_human_size(uint64_t n, char *buf, size_t len)
{
	if (n < 1024)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else if (n < 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", (double)n / 1024);
	else
		snprintf(buf, len, "%.1f MiB", (double)n / (1024 * 1024));
	return buf;
}

int util_pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int util_run_strv(const struct strv *a, const struct strv *env, const char *dir,
                  char *cap, size_t caplen, struct mb_err *err)
{
	if (a->nomem || !a->v || (env && env->nomem))
		return mb_error(err, 0, "cannot run a build tool: out of memory");
	return util_run_tee(a->v, env ? env->v : NULL, dir, cap, caplen, err);
}

int util_run(char *const argv[], char *const envp_add[], const char *dir, struct mb_err *err)
{
	return util_run_tee(argv, envp_add, dir, NULL, 0, err);
}

/* Copies what the tool writes from fd to our stderr, keeping its start in
 * cap (the errors worth explaining, e.g. go's "no required module", come
 * first). */
static void tee_output(int fd, char *cap, size_t caplen, bool pass)
{
	size_t kept = 0;
	char buf[4096];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		/* passed on as far as stderr takes it; the capture goes on */
		if (pass)
			rootfs_write_all(STDERR_FILENO, buf, (size_t)r);
		if (kept + 1 < caplen) {
			size_t n = (size_t)r < caplen - 1 - kept ? (size_t)r : caplen - 1 - kept;
			memcpy(cap + kept, buf, n);
			kept += n;
			cap[kept] = '\0';
		}
	}
}

static int run_impl(char *const argv[], char *const envp_add[], const char *dir, char *cap,
                    size_t caplen, bool pass, struct mb_err *err)
{
	int pfd[2] = { -1, -1 };
	if (cap && caplen) {
		cap[0] = '\0';
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return mb_error(err, errno, "cannot run `%s`: pipe", argv[0]);
	}
	pid_t pid = fork();
	if (pid < 0) {
		mb_error(err, errno, "cannot run `%s`: fork", argv[0]);
		if (pfd[0] >= 0) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return -1;
	}
	if (pid == 0) {
		/* Own process group: an interrupted mkimage kills the whole
		 * build (go's compile and link children too), see below. */
		setpgid(0, 0);
		if (envp_add)
			for (size_t i = 0; envp_add[i]; i++)
				putenv(envp_add[i]);
		if (dir && chdir(dir) < 0) {
			fprintf(stderr, "mkimage: cannot enter `%s`: %s\n", dir, strerror(errno));
			_exit(127);
		}
		if (pfd[1] >= 0)
			dup2(pfd[1], STDERR_FILENO);
		/* Tools' stdout goes to our stderr: mkimage's stdout stays clean. */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "mkimage: cannot run `%s`: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* both sides: no race with the child's exec */
	running_child = pid;
	if (pfd[0] >= 0) {
		close(pfd[1]);
		tee_output(pfd[0], cap, caplen, pass);
		close(pfd[0]);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return mb_error(err, errno, "cannot wait for `%s`", argv[0]);
	}
	running_child = 0;
	if (got_signal)
		return mb_error(err, 0, "interrupted by signal %d while `%s` ran", (int)got_signal,
		                argv[0]);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

bool util_have_program(const char *prog)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char buf[PATH_MAX];
	for (const char *p = path; *p;) {
		size_t l = strcspn(p, ":");
		if (l > 0 && snprintf(buf, sizeof(buf), "%.*s/%s", (int)l, p, prog) < (int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
		p += l;
		if (*p == ':')
			p++;
	}
	return false;
}

/* Temporary paths to remove if mkimage is interrupted: a fixed table, so
 * that the signal handler only calls unlink() and rmdir() (async-signal-
 * safe) on strings that are complete before they are published. */
#define CLEANUP_MAX 4
static struct {
	char file[PATH_MAX];
	char dir[PATH_MAX];
	volatile sig_atomic_t used;
} cleanups[CLEANUP_MAX];

static void on_fatal_signal(int sig)
{
	pid_t child = running_child;
	if (child > 0) {
		/* A build tool runs: pass SIGINT on, as a terminal would, and let
		 * the normal error path remove everything (go's work directory
		 * included, which needs more than a signal handler may do); main()
		 * then dies of the signal. */
		got_signal = sig;
		kill(-child, SIGINT);
		return;
	}
	/* Newest first: a build directory may sit inside an older one. */
	for (int i = CLEANUP_MAX - 1; i >= 0; i--) {
		if (!cleanups[i].used)
			continue;
		if (cleanups[i].file[0])
			unlink(cleanups[i].file);
		rmdir(cleanups[i].dir);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

int util_interrupted(void)
{
	return got_signal;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void util_rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void util_cleanup_on_signal(void)
{
	struct sigaction sa = { .sa_handler = on_fatal_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int util_cleanup_push(const char *dir, const char *file)
{
	for (int i = 0; i < CLEANUP_MAX; i++) {
		if (cleanups[i].used)
			continue;
		snprintf(cleanups[i].dir, sizeof(cleanups[i].dir), "%s", dir);
		snprintf(cleanups[i].file, sizeof(cleanups[i].file), "%s", file ? file : "");
		cleanups[i].used = 1;
		return i;
	}
	return -1;
}

void util_cleanup_pop(int slot)
{
	if (slot >= 0 && slot < CLEANUP_MAX)
		cleanups[slot].used = 0;
}

int util_run_tee(char *const argv[], char *const envp_add[], const char *dir, char *cap,
                 size_t caplen, struct mb_err *err)
{
	return run_impl(argv, envp_add, dir, cap, caplen, true, err);
}

int util_run_capture(char *const argv[], const char *dir, char *out, size_t outlen, struct mb_err *err)
{
	return run_impl(argv, NULL, dir, out, outlen, false, err);
}

void util_interrupts_hold(sigset_t *old)
{
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, old);
}

void util_interrupts_release(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

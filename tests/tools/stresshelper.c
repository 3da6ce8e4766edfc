/* stresshelper: the service side of `make stress` for minbase-init (static,
 * no shell needed).
 *   sigcount N SIG      block everything but the faults, print "ready", count
 *                       deliveries of SIG (queued real-time signals are not
 *                       merged), print "count K" every 1000 and "got N" at N;
 *                       exit 1 with "got K of N" when none arrives for 30 s
 *   forkloop N          N times: fork a child that forks a grandchild and
 *                       exits at once (the grandchild exits too: an orphan
 *                       for PID 1 to reap); then wait up to 30 s until no
 *                       process but us is left and print "forked N left K"
 *   ignoreterm          ignore SIGTERM and SIGINT, print "ready", sleep */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	ssize_t w = write(1, buf, (size_t)n);
	(void)w;
}

static int sigcount(long n, int sig)
{
	uint64_t all = ~0ull;
	int faults[] = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS };
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
		all &= ~(1ull << (faults[i] - 1));
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
	uint64_t want = 1ull << (sig - 1);
	out("ready\n");
	long k = 0;
	while (k < n) {
		struct timespec ts = { 30, 0 };
		siginfo_t si;
		long s = syscall(SYS_rt_sigtimedwait, &want, &si, &ts, 8);
		if (s < 0 && errno == EINTR)
			continue;
		if (s < 0) {
			out("got %ld of %ld\n", k, n);
			return 1;
		}
		if (++k % 1000 == 0)
			out("count %ld\n", k);
	}
	out("got %ld\n", k);
	return 0;
}

/* Processes in our PID namespace other than PID 1 and us. */
static int others(void)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	int k = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		long pid = strtol(e->d_name, NULL, 10);
		if (pid > 1 && pid != getpid())
			k++;
	}
	closedir(d);
	return k;
}

static int forkloop(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t c = fork();
		if (c < 0) {
			out("fork failed at %ld: %s\n", i, strerror(errno));
			return 1;
		}
		if (c == 0) {
			if (fork() == 0)
				_exit(0);
			_exit(0);
		}
		while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
			;
	}
	int left = others();
	for (int tries = 0; left != 0 && tries < 3000; tries++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		left = others();
	}
	out("forked %ld left %d\n", n, left);
	return left == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc > 3 && !strcmp(argv[1], "sigcount"))
		return sigcount(atol(argv[2]), atoi(argv[3]));
	if (argc > 2 && !strcmp(argv[1], "forkloop"))
		return forkloop(atol(argv[2]));
	if (argc > 1 && !strcmp(argv[1], "ignoreterm")) {
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		out("ready\n");
		for (;;)
			pause();
	}
	out("usage: stresshelper sigcount N SIG | forkloop N | ignoreterm\n");
	return 2;
}

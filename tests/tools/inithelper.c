/* inithelper: a static multi-call program for minbase-init's tests, used
 * inside namespaces and runc containers that have no shell.
 *   exit N                 exit with N
 *   kill SIG               kill itself with SIG
 *   sigwait COUNT          print "ready", then "signal N" for each of COUNT signals
 *   group N SIG            fork N-1 group members; each prints "got SIG" when SIG arrives
 *   orphans N [MS]         make N orphans, wait (MS, 10 s by default) until they are
 *                          reaped, print "made N left K" (K = processes other
 *                          than us and our ancestors); exit 0 when K is 0
 *   sigmask                print SigBlk/SigIgn of /proc/self/status
 *   status [PID]           print Uid, Gid, Groups, Cap*, NoNewPrivs, Seccomp
 *   ids                    print pid, ppid and process group
 *   fg                     print "foreground" when our group owns the terminal on stdin
 *   syscall NAME...        try mount/unshare/ptrace/chroot/setuid0/getpid; print errno
 *   httpserver PORT PLAN   serve GET on 127.0.0.1:PORT; PLAN "200x2,slowx1,500":
 *                          each request takes the next reply, the last one repeats
 *   tcpserver PORT         accept and close on 127.0.0.1:PORT forever
 *   sleep MS               sleep
 *   detach MS              leave a child in its own session holding our
 *                          stdout for MS, and exit 0 at once
 *   bindport PORT          try to bind 0.0.0.0:PORT; print "bind ok" or the errno
 *   open PATH [rw]         open PATH (read-only, or read-write); print "open ok" or the errno
 *   spew N                 print "spew N" on a line, then N bytes of 'x', and exit 0
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	ssize_t w = write(1, buf, (size_t)n);
	(void)w;
}

static uint64_t all_but_faults(void)
{
	uint64_t m = ~0ull;
	int own[] = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS, SIGKILL, SIGSTOP };
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
		m &= ~(1ull << (own[i] - 1));
	return m;
}

static int do_sigwait(int count)
{
	uint64_t m = all_but_faults();
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &m, NULL, 8);
	out("ready\n");
	for (int i = 0; i < count; i++) {
		siginfo_t si;
		long s = syscall(SYS_rt_sigtimedwait, &m, &si, NULL, 8);
		if (s < 0) {
			i--;
			continue;
		}
		out("signal %ld\n", s);
	}
	return 0;
}

static int do_group(int n, int sig)
{
	uint64_t m = 1ull << (sig - 1);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &m, NULL, 8);
	for (int i = 1; i < n; i++)
		if (fork() == 0)
			break;
	out("ready %d\n", (int)getpid());
	siginfo_t si;
	while (syscall(SYS_rt_sigtimedwait, &m, &si, NULL, 8) < 0)
		;
	out("got %d in %d\n", sig, (int)getpid());
	while (wait(NULL) > 0)
		;
	return 0;
}

static int ppid_of(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	int ppid = -1;
	if (!f)
		return -1;
	if (fgets(buf, sizeof buf, f)) {
		char *rp = strrchr(buf, ')');
		if (rp)
			sscanf(rp + 2, "%*c %d", &ppid);
	}
	fclose(f);
	return ppid;
}

/* Processes other than us and our ancestors (the init and whatever runs it). */
static int count_others(void)
{
	int anc[32], na = 0;
	for (int p = getpid(); p > 0 && na < 32; p = ppid_of(p))
		anc[na++] = p;
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		int pid = atoi(e->d_name), mine = 0;
		for (int i = 0; i < na; i++)
			mine |= anc[i] == pid;
		if (pid > 0 && !mine)
			n++;
	}
	closedir(d);
	return n;
}

static int do_orphans(int n, int wait_ms)
{
	pid_t mid = fork();
	if (mid == 0) {
		for (int i = 0; i < n; i++) {
			pid_t p = fork();
			if (p == 0) {
				msleep(i % 2 ? 20 : 0);
				_exit(0);
			}
			if (p < 0) {
				out("fork failed after %d: %s\n", i, strerror(errno));
				_exit(1);
			}
		}
		_exit(0); /* the grandchildren are now orphans of the init */
	}
	int st;
	waitpid(mid, &st, 0);
	int left = -1;
	for (int i = 0; i <= wait_ms / 20; i++) {
		left = count_others();
		if (left == 0)
			break;
		msleep(20);
	}
	out("made %d left %d\n", n, left);
	return left == 0 && WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : 1;
}

static int print_status(const char *const *keys, const char *pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%s/status", pid ? pid : "self");
	FILE *f = fopen(path, "re");
	char line[512];
	if (!f)
		return 1;
	while (fgets(line, sizeof line, f))
		for (const char *const *k = keys; *k; k++)
			if (!strncmp(line, *k, strlen(*k)) && line[strlen(*k)] == ':')
				out("%s", line);
	fclose(f);
	return 0;
}

static int do_syscall(const char *name)
{
	long r;
	if (!strcmp(name, "mount"))
		r = mount("none", "/tmp", "tmpfs", 0, NULL);
	else if (!strcmp(name, "unshare"))
		r = syscall(SYS_unshare, 0x00020000 /* CLONE_NEWNS */);
	else if (!strcmp(name, "ptrace"))
		r = syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0);
	else if (!strcmp(name, "chroot"))
		r = chroot("/");
	else if (!strcmp(name, "setuid0"))
		r = syscall(SYS_setuid, 0);
	else if (!strcmp(name, "getpid"))
		r = syscall(SYS_getpid);
	else
		return out("unknown syscall %s\n", name), 2;
	if (r < 0)
		out("%s errno %d %s\n", name, errno, strerror(errno));
	else
		out("%s ok\n", name);
	return 0;
}

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) {
		out("listen %d: %s\n", port, strerror(errno));
		exit(1);
	}
	return fd;
}

__attribute__((noreturn)) static int do_httpserver(int port, const char *plan)
{
	char *items[64];
	int counts[64], n = 0, cur = 0, used = 0;
	char *p = strdup(plan);
	for (char *s, *t = strtok_r(p, ",", &s); t && n < 64; t = strtok_r(NULL, ",", &s)) {
		char *x = strchr(t, 'x');
		counts[n] = x ? atoi(x + 1) : 1;
		if (x)
			*x = 0;
		items[n++] = t;
	}
	int lfd = listen_on(port);
	out("listening\n");
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		char req[2048];
		ssize_t r = read(c, req, sizeof req);
		(void)r;
		const char *mode = items[cur];
		if (++used >= counts[cur] && cur < n - 1)
			cur++, used = 0;
		if (!strcmp(mode, "slow")) {
			/* Never answer; wait until the prober gives up and closes. */
			struct pollfd pf = { c, POLLIN, 0 };
			while (poll(&pf, 1, 60000) > 0 && read(c, req, sizeof req) > 0)
				;
		} else {
			char resp[256];
			int len = snprintf(resp, sizeof resp, "HTTP/1.0 %s X\r\nContent-Length: 0\r\n\r\n", mode);
			ssize_t w = write(c, resp, (size_t)len);
			(void)w;
		}
		close(c);
	}
}

__attribute__((noreturn)) static int do_tcpserver(int port)
{
	int lfd = listen_on(port);
	out("listening\n");
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			close(c);
	}
}

static int do_bindport(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
		out("bind errno %d %s\n", errno, strerror(errno));
	else
		out("bind ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const status_keys[] = { "Uid", "Gid", "Groups", "CapInh", "CapPrm",
		"CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", NULL };
	static const char *const mask_keys[] = { "SigBlk", "SigIgn", NULL };
	const char *cmd = argc > 1 ? argv[1] : "";
	int a = argc > 2 ? atoi(argv[2]) : 0;

	if (!strcmp(cmd, "exit"))
		return a;
	if (!strcmp(cmd, "true"))
		return 0;
	if (!strcmp(cmd, "kill")) {
		signal(a, SIG_DFL);
		kill(getpid(), a);
		msleep(1000);
		return 99;
	}
	if (!strcmp(cmd, "sigwait"))
		return do_sigwait(a ? a : 1);
	if (!strcmp(cmd, "group") && argc > 3)
		return do_group(a, atoi(argv[3]));
	if (!strcmp(cmd, "orphans"))
		return do_orphans(a, argc > 3 ? atoi(argv[3]) : 10000);
	if (!strcmp(cmd, "sigmask"))
		return print_status(mask_keys, NULL);
	if (!strcmp(cmd, "status"))
		return print_status(status_keys, argc > 2 ? argv[2] : NULL);
	if (!strcmp(cmd, "syscall")) {
		for (int i = 2; i < argc; i++)
			do_syscall(argv[i]);
		return 0;
	}
	if (!strcmp(cmd, "httpserver") && argc > 3)
		return do_httpserver(a, argv[3]);
	if (!strcmp(cmd, "tcpserver"))
		return do_tcpserver(a);
	if (!strcmp(cmd, "fg")) {
		pid_t t = tcgetpgrp(0);
		out("%s tpgid %d pgid %d\n", t == getpgrp() ? "foreground" : "background", (int)t,
		    (int)getpgrp());
		return 0;
	}
	if (!strcmp(cmd, "ids")) {
		out("pid %d ppid %d pgid %d\n", (int)getpid(), (int)getppid(), (int)getpgrp());
		return 0;
	}
	if (!strcmp(cmd, "detach")) {
		if (fork() == 0) {
			setsid();
			msleep(a);
			_exit(0);
		}
		return 0;
	}
	if (!strcmp(cmd, "sleep")) {
		msleep(a);
		return 0;
	}
	if (!strcmp(cmd, "bindport"))
		return do_bindport(a);
	if (!strcmp(cmd, "open") && argc > 2) {
		int fd = open(argv[2], (argc > 3 && !strcmp(argv[3], "rw") ? O_RDWR : O_RDONLY) |
		                       O_CLOEXEC);
		if (fd < 0)
			return out("open errno %d %s\n", errno, strerror(errno)), 0;
		close(fd);
		return out("open ok\n"), 0;
	}
	if (!strcmp(cmd, "spew")) {
		static char junk[65536];
		memset(junk, 'x', sizeof junk);
		out("spew %d\n", a);
		for (long left = a; left > 0;) {
			ssize_t w = write(1, junk, left < (long)sizeof junk ? (size_t)left : sizeof junk);
			if (w <= 0)
				return 1;
			left -= w;
		}
		return 0;
	}
	out("usage: inithelper exit|kill|sigwait|group|orphans|sigmask|status|syscall|"
	    "httpserver|tcpserver|sleep|bindport|open|spew ...\n");
	return 2;
}

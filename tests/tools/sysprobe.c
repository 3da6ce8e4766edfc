/* sysprobe: a static test helper that makes named system calls and prints
 * one line per call, "NAME ok" or "NAME ERRNO" (EPERM, ENOSYS, ...), so a
 * test can see what a seccomp filter allows.  The arguments are chosen so
 * that, without a filter and with full capabilities, each call gives a
 * known, harmless result, and under a filter the filter's answer shows.
 *
 *   sysprobe [--seccomp FILE] CALL...     (FILE: minbase seccomp format v1,
 *                                          loaded with no-new-privs first)
 *   sysprobe [--seccomp FILE] loop-getppid N | loop-read N | loop-personality N
 *                                          (prints "ns_per_call X.Y"; personality
 *                                          has argument rules in Moby's profile, so
 *                                          the kernel cannot cache its verdict)
 *
 * Output goes through write(2) only (no stdio), so that it works under
 * tight policies. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>

#include "../../init/seccomp_file.h"

static void out(const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(1, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void out_u(unsigned long long v)
{
	char b[32];
	int i = 31;
	b[i] = 0;
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	out(b + i);
}

static const char *ename(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EBADF: return "EBADF";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case ENOKEY: return "ENOKEY";
	case E2BIG: return "E2BIG";
	case EBUSY: return "EBUSY";
	default: return "EOTHER";
	}
}

static void report(const char *name, long rc)
{
	out(name);
	if (rc >= 0) {
		out(" ok\n");
	} else {
		out(" ");
		out(ename(errno));
		out("\n");
	}
}

static long probe(const char *c)
{
	if (!strcmp(c, "getppid"))
		return syscall(SYS_getppid);
	if (!strcmp(c, "write"))
		return write(1, "", 0);
	if (!strcmp(c, "mount"))            /* ENOENT without a filter */
		return mount("none", "/nonexistent-sysprobe", "tmpfs", 0, NULL);
	if (!strcmp(c, "unshare"))          /* ok with CAP_SYS_ADMIN */
		return unshare(CLONE_NEWUTS);
	if (!strcmp(c, "keyctl"))           /* an unknown keyctl op: EOPNOTSUPP */
		return syscall(SYS_keyctl, 9999, 0, 0, 0, 0);
	if (!strcmp(c, "ptrace"))           /* no such process: ESRCH */
		return ptrace(PTRACE_PEEKDATA, 0x3fffffff, NULL, NULL);
	if (!strcmp(c, "clone3"))           /* a NULL argument: EFAULT or EINVAL */
		return syscall(SYS_clone3, NULL, 0);
	if (!strcmp(c, "personality-query"))
		return personality(0xffffffff);
	if (!strcmp(c, "personality-bad"))  /* READ_IMPLIES_EXEC: Docker refuses */
		return personality(READ_IMPLIES_EXEC) < 0 ? -1 : (personality(PER_LINUX), 0);
	if (!strcmp(c, "socket-inet")) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			close(fd);
		return fd;
	}
	if (!strcmp(c, "socket-packet")) {  /* ok with CAP_NET_RAW */
		int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			close(fd);
		return fd;
	}
	if (!strcmp(c, "mseal"))            /* 462, newer than libseccomp 2.5.4 */
		return syscall(462, 0, 0, 0);
	if (!strcmp(c, "listmount"))        /* 458 (Linux 6.8): a NULL request, EFAULT */
		return syscall(458, NULL, NULL, 0, 0);
	if (!strcmp(c, "statmount"))        /* 457 (Linux 6.8): a NULL request, EFAULT */
		return syscall(457, NULL, NULL, 0, 0);
	if (!strcmp(c, "open_tree_attr"))   /* 467 (Linux 6.15): an empty path, ENOENT */
		return syscall(467, -1, "", 0, NULL, 0);
	if (!strcmp(c, "chroot"))           /* ENOENT with CAP_SYS_CHROOT */
		return chroot("/nonexistent-sysprobe");
	if (!strcmp(c, "fork")) {
		pid_t p = fork();
		if (p == 0)
			_exit(0);
		return p;
	}
	errno = EINVAL;
	out("sysprobe: unknown call ");
	out(c);
	out("\n");
	exit(2);
}

/* crc32 (IEEE), bitwise: the file format's checksum. */
static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static uint32_t le32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void load_filter(const char *path)
{
	static unsigned char buf[FILTER_FILE_SIZE(FILTER_FILE_MAXINSNS)];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
	if (n < (ssize_t)FILTER_FILE_SIZE(0) || memcmp(buf, FILTER_FILE_MAGIC, 8) ||
	    le32(buf + 8) != FILTER_FILE_VERSION || (size_t)n != FILTER_FILE_SIZE(le32(buf + 16)) ||
	    crc32_ieee(buf, (size_t)n - 4) != le32(buf + n - 4)) {
		out("sysprobe: bad seccomp file\n");
		exit(3);
	}
	close(fd);
	struct sock_fprog prog = { (unsigned short)le32(buf + 16),
	                           (struct sock_filter *)(buf + FILTER_FILE_HDR) };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		out("sysprobe: cannot load the filter\n");
		exit(3);
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int loop(const char *what, long n)
{
	char c;
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		if (what[5] == 'g')
			syscall(SYS_getppid);
		else if (what[5] == 'p')
			syscall(SYS_personality, 0xffffffffUL);
		else if (read(fd, &c, 1) != 1)
			return 1;
	}
	uint64_t dt = now_ns() - t0;
	out("ns_per_call ");
	out_u(dt / (uint64_t)n);
	out(".");
	out_u((dt * 10 / (uint64_t)n) % 10);
	out("\n");
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;
	if (i + 1 < argc && !strcmp(argv[i], "--seccomp")) {
		load_filter(argv[i + 1]);
		i += 2;
	}
	if (i < argc && !strncmp(argv[i], "loop-", 5) && i + 1 < argc)
		return loop(argv[i], atol(argv[i + 1]) > 0 ? atol(argv[i + 1]) : 1);
	for (; i < argc; i++) {
		errno = 0;
		report(argv[i], probe(argv[i]));
	}
	return 0;
}

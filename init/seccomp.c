/* The seccomp file format v1 (seccomp_file.h) written by mkimage's policy
 * compiler, parsed and checked here before the kernel sees it. */
#include "init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/audit.h>

#define POLICY_SUFFIX ".bpf"

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t filter_crc32(const unsigned char *buf, size_t len)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		c ^= buf[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

uint32_t filter_native_arch(void)
{
#if defined(__x86_64__)
	return AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
	return AUDIT_ARCH_AARCH64;
#else
	return 0;
#endif
}

static const char *arch_name(uint32_t a)
{
	return a == AUDIT_ARCH_X86_64 ? "x86_64" : a == AUDIT_ARCH_AARCH64 ? "aarch64" : "unknown";
}

int filter_parse(const unsigned char *buf, size_t len, uint32_t want_arch,
                  const struct sock_filter **insns, unsigned short *n, char *err)
{
	if (len < FILTER_FILE_SIZE(0) || memcmp(buf, FILTER_FILE_MAGIC, 8)) {
		snprintf(err, INIT_ERRLEN, "not a minbase seccomp file (bad magic or too short)");
		return -1;
	}
	uint32_t version = le32(buf + 8), arch = le32(buf + 12), count = le32(buf + 16);
	uint32_t flags = le32(buf + 20);
	if (version != FILTER_FILE_VERSION) {
		snprintf(err, INIT_ERRLEN, "unsupported seccomp file version %u (this init reads %d)",
		         version, FILTER_FILE_VERSION);
		return -1;
	}
	if (arch != want_arch) {
		snprintf(err, INIT_ERRLEN,
		         "seccomp file is for %s (0x%08x), this machine is %s: rebuild the image "
		         "for this architecture", arch_name(arch), arch, arch_name(want_arch));
		return -1;
	}
	if (count < 1 || count > FILTER_FILE_MAXINSNS) {
		snprintf(err, INIT_ERRLEN, "invalid seccomp instruction count %u (1..%d)", count,
		         FILTER_FILE_MAXINSNS);
		return -1;
	}
	if (flags) {
		snprintf(err, INIT_ERRLEN, "unknown seccomp file flags 0x%x", flags);
		return -1;
	}
	if (len != FILTER_FILE_SIZE(count)) {
		snprintf(err, INIT_ERRLEN, "seccomp file is %zu bytes, expected %zu (truncated?)",
		         len, FILTER_FILE_SIZE(count));
		return -1;
	}
	uint32_t want = le32(buf + FILTER_FILE_HDR + 8 * (size_t)count), got = filter_crc32(buf, FILTER_FILE_HDR + 8 * (size_t)count);
	if (want != got) {
		snprintf(err, INIT_ERRLEN, "seccomp file checksum mismatch (file 0x%08x, computed 0x%08x): "
		         "the file is corrupt", want, got);
		return -1;
	}
	/* struct sock_filter has the file's layout on little-endian hosts,
	 * the only ones minbase targets; the header keeps it 8-aligned. */
	*insns = (const struct sock_filter *)(const void *)(buf + FILTER_FILE_HDR);
	*n = (unsigned short)count;
	return 0;
}

int filter_read_file(const char *path, unsigned char **out,
                      const struct sock_filter **insns, unsigned short *n, char *err)
{
	char perr[INIT_ERRLEN];
	struct stat st;
	unsigned char *buf = NULL;
	size_t max = FILTER_FILE_SIZE(FILTER_FILE_MAXINSNS), len = 0;
	/* O_NONBLOCK: a FIFO given by mistake is refused below instead of
	 * blocking the start until something writes to it; it changes nothing
	 * for a regular file. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, INIT_ERRLEN, "cannot open seccomp file `%s`: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		snprintf(err, INIT_ERRLEN, "seccomp file `%s` is not a regular file of at most %zu bytes",
		         path, max);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1); /* +1: a file that grew is seen */
	if (!buf) {
		snprintf(err, INIT_ERRLEN, "cannot read seccomp file `%s`: out of memory", path);
		goto fail;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, INIT_ERRLEN, "cannot read seccomp file `%s`: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0 || (len += (size_t)r) > (size_t)st.st_size)
			break;
	}
	if (filter_parse(buf, len, filter_native_arch(), insns, n, perr) < 0) {
		snprintf(err, INIT_ERRLEN, "seccomp file `%.100s`: %.380s", path, perr);
		errno = EINVAL;
		goto fail;
	}
	close(fd);
	*out = buf;
	return 0;
fail:;
	int e = errno; /* ENOENT tells filter_read_policy the file is missing */
	free(buf);
	if (fd >= 0)
		close(fd);
	errno = e;
	return -1;
}

/* qemu-user answers seccomp() with ENOSYS and PR_SET_SECCOMP with EINVAL,
 * so that the program it emulates cannot filter the syscalls qemu itself
 * makes (a kernel without CONFIG_SECCOMP_FILTER answers the same).  Still
 * fail closed, but say so: the image is fine, the platform is not. */
static void no_seccomp(char *err)
{
	snprintf(err, INIT_ERRLEN, "cannot load the seccomp filter: seccomp is not available here "
	         "(seccomp() is not implemented): this looks like emulation (qemu-user does not "
	         "implement seccomp, e.g. an %s image run on another architecture): run the image "
	         "natively, or build it without --policy", arch_name(filter_native_arch()));
}

int filter_check_available(char *err)
{
	if (sys_seccomp_available())
		return 0;
	no_seccomp(err);
	errno = ENOSYS;
	return -1;
}

int filter_load(const struct sock_filter *f, unsigned short n, char *err)
{
	if (sys_seccomp_load(f, n) == 0)
		return 0;
	int e = errno;
	if (e == ENOSYS) /* sys_seccomp_load's "no seccomp here" */
		no_seccomp(err);
	else
		snprintf(err, INIT_ERRLEN, "cannot load the seccomp filter: %s%s", strerror(e),
		         e == EINVAL ? " (the kernel rejects the program: rebuild the image's policy)"
		         : e == EACCES ? " (no-new-privileges is not set and the init lacks "
		                         "CAP_SYS_ADMIN)" : "");
	errno = e;
	return -1;
}

/* ---- policies by name ------------------------------------------------------ */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "default, service, strict", sorted, of the DIR/NAME.bpf with plain names;
 * "none" when there are none. */
static void list_policies(const char *dir, char *out, size_t outlen)
{
	char names[64][65], *sorted[64];
	size_t n = 0, len = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) && n < 64) {
		size_t l = strlen(de->d_name), sl = sizeof POLICY_SUFFIX - 1;
		if (l <= sl || l - sl > 64 || strcmp(de->d_name + l - sl, POLICY_SUFFIX))
			continue;
		memcpy(names[n], de->d_name, l - sl);
		names[n][l - sl] = 0;
		if (filter_policy_name_ok(names[n]))
			sorted[n] = names[n], n++;
	}
	if (d)
		closedir(d);
	qsort(sorted, n, sizeof sorted[0], cmp_str);
	out[0] = 0;
	for (size_t i = 0; i < n && len < outlen; i++)
		len += (size_t)snprintf(out + len, outlen - len, "%s%s", i ? ", " : "", sorted[i]);
	if (!n)
		snprintf(out, outlen, "none");
}

int filter_read_policy(const char *dir, const char *name, unsigned char **buf,
                       const struct sock_filter **insns, unsigned short *n, char *err)
{
	char path[512], ferr[INIT_ERRLEN], have[300];
	/* A name, never a path: MINBASE_POLICY=../../tmp/x must not pick a
	 * file the service could have written. */
	if (!filter_policy_name_ok(name)) {
		snprintf(err, INIT_ERRLEN, "invalid policy name `%.100s`: use a plain name like "
		         "`service` (a-z, 0-9, `-`, `_`), not a path (a file is --seccomp FILE)", name);
		return -1;
	}
	snprintf(path, sizeof path, "%s/%s" POLICY_SUFFIX, dir, name);
	if (filter_read_file(path, buf, insns, n, ferr) == 0)
		return 0;
	int missing = errno == ENOENT;
	list_policies(dir, have, sizeof have);
	if (missing)
		snprintf(err, INIT_ERRLEN, "unknown policy `%s`: this image has no %.200s (its "
		         "policies: %.200s)", name, path, have);
	else
		snprintf(err, INIT_ERRLEN, "policy `%s`: %.250s (this image's policies: %.150s)", name,
		         ferr, have);
	return -1;
}

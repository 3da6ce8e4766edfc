/* minbase-init seccomp file v1: the reader accepts exactly the format
 * documented in init/README.md and init/seccomp.c and rejects wrong magic, version, arch, count, flags, size
 * and checksum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/audit.h>

#include "test_init_fakesys.h"

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

/* A 2-instruction "allow all" program (ld arch; ret ALLOW). */
static size_t make_file(unsigned char *buf, uint32_t arch, uint32_t n)
{
	memcpy(buf, "MBSECCMP", 8);
	put32(buf + 8, 1);
	put32(buf + 12, arch);
	put32(buf + 16, n);
	put32(buf + 20, 0);
	for (uint32_t i = 0; i < n; i++) {
		unsigned char *in = buf + 24 + 8 * i;
		memset(in, 0, 8);
		in[0] = 0x06; /* BPF_RET|BPF_K */
		put32(in + 4, 0x7fff0000);
	}
	put32(buf + 24 + 8 * n, filter_crc32(buf, 24 + 8 * n));
	return 28 + 8 * n;
}

static void test_crc32(void **state)
{
	assert_int_equal(filter_crc32((const unsigned char *)"123456789", 9), 0xCBF43926u);
	assert_int_equal(filter_crc32((const unsigned char *)"", 0), 0);
}

static void test_good(void **state)
{
	static unsigned char buf[28 + 8 * 4096];
	const struct sock_filter *f;
	unsigned short n;
	char err[INIT_ERRLEN];
	size_t len = make_file(buf, AUDIT_ARCH_X86_64, 2);
	assert_int_equal(filter_parse(buf, len, AUDIT_ARCH_X86_64, &f, &n, err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(f[1].code, 6);
	assert_int_equal(f[1].k, 0x7fff0000);
	len = make_file(buf, AUDIT_ARCH_X86_64, 4096);
	assert_int_equal(filter_parse(buf, len, AUDIT_ARCH_X86_64, &f, &n, err), 0);
	assert_int_equal(n, 4096);
}

static void expect_bad(const unsigned char *buf, size_t len, const char *needle)
{
	const struct sock_filter *f;
	unsigned short n;
	char err[INIT_ERRLEN] = "";
	assert_int_equal(filter_parse(buf, len, AUDIT_ARCH_X86_64, &f, &n, err), -1);
	if (!strstr(err, needle))
		fail_msg("error `%s` lacks `%s`", err, needle);
}

static void test_bad(void **state)
{
	static unsigned char buf[28 + 8 * 4097 + 8];
	size_t len;

	len = make_file(buf, AUDIT_ARCH_X86_64, 3);
	buf[0] = 'X';
	expect_bad(buf, len, "bad magic");
	expect_bad(buf, 10, "too short");

	len = make_file(buf, AUDIT_ARCH_X86_64, 3);
	put32(buf + 8, 2);
	expect_bad(buf, len, "version 2");

	len = make_file(buf, AUDIT_ARCH_AARCH64, 3);
	expect_bad(buf, len, "is for aarch64");

	len = make_file(buf, AUDIT_ARCH_X86_64, 3);
	put32(buf + 16, 0);
	expect_bad(buf, len, "instruction count 0");
	len = make_file(buf, AUDIT_ARCH_X86_64, 4097);
	expect_bad(buf, len, "instruction count 4097");

	len = make_file(buf, AUDIT_ARCH_X86_64, 3);
	put32(buf + 20, 1);
	expect_bad(buf, len, "flags");

	len = make_file(buf, AUDIT_ARCH_X86_64, 3);
	expect_bad(buf, len - 1, "truncated");
	expect_bad(buf, len + 1, "expected");

	len = make_file(buf, AUDIT_ARCH_X86_64, 3);
	buf[30] ^= 1;
	expect_bad(buf, len, "checksum mismatch");
}

static void test_read_file(void **state)
{
	static unsigned char buf[28 + 16];
	char path[] = "/tmp/test_init_seccomp.XXXXXX", err[INIT_ERRLEN];
	unsigned char *owned;
	const struct sock_filter *f;
	unsigned short n;
	int fd = mkstemp(path);
	size_t len = make_file(buf, filter_native_arch(), 2);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	assert_int_equal(filter_read_file(path, &owned, &f, &n, err), 0);
	assert_int_equal(n, 2);
	free(owned);
	assert_int_equal(truncate(path, (off_t)len - 4), 0);
	assert_int_equal(filter_read_file(path, &owned, &f, &n, err), -1);
	assert_non_null(strstr(err, path));
	unlink(path);
	assert_int_equal(filter_read_file(path, &owned, &f, &n, err), -1);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(filter_read_file("/tmp", &owned, &f, &n, err), -1);
	assert_non_null(strstr(err, "not a regular file"));
	/* A FIFO is refused too, without waiting for a writer: alarm()
	 * turns a hang in open() into a failure. */
	char fifo[] = "/tmp/test_init_seccomp.XXXXXX";
	fd = mkstemp(fifo);
	close(fd);
	unlink(fifo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10);
	int rc = filter_read_file(fifo, &owned, &f, &n, err);
	alarm(0);
	unlink(fifo);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "not a regular file"));
}

static void put_file(const char *dir, const char *name, uint32_t arch)
{
	static unsigned char buf[28 + 16];
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	size_t len = make_file(buf, arch, 2);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static void expect_policy_error(const char *dir, const char *name, const char *const *want)
{
	unsigned char *owned = NULL;
	const struct sock_filter *f;
	unsigned short n;
	char err[INIT_ERRLEN] = "";
	if (filter_read_policy(dir, name, &owned, &f, &n, err) == 0)
		fail_msg("policy `%s` accepted", name);
	for (; *want; want++)
		if (!strstr(err, *want))
			fail_msg("policy `%s`: `%s` not in: %s", name, *want, err);
}

/* MINBASE_POLICY=NAME: DIR/NAME.bpf for this machine, or a start stopped
 * with the list of the policies there; names, never paths. */
static void test_policy_by_name(void **state)
{
	char dir[] = "/tmp/test_init_policies.XXXXXX", err[INIT_ERRLEN];
	unsigned char *owned;
	const struct sock_filter *f;
	unsigned short n;
	uint32_t other = filter_native_arch() == AUDIT_ARCH_X86_64 ? AUDIT_ARCH_AARCH64
	                                                            : AUDIT_ARCH_X86_64;
	assert_non_null(mkdtemp(dir));
	expect_policy_error(dir, "service", (const char *[]){ "unknown policy `service`",
	                    "policies: none)", NULL });
	put_file(dir, "strict.bpf", filter_native_arch());
	put_file(dir, "service.bpf", filter_native_arch());
	put_file(dir, "other-arch.bpf", other);
	put_file(dir, "Upper.bpf", filter_native_arch()); /* not a policy name: not listed */
	put_file(dir, "notes.txt", filter_native_arch());
	assert_int_equal(filter_read_policy(dir, "service", &owned, &f, &n, err), 0);
	assert_int_equal(n, 2);
	free(owned);
	expect_policy_error(dir, "nosuch", (const char *[]){ "unknown policy `nosuch`", "nosuch.bpf",
	                    "policies: other-arch, service, strict)", NULL });
	expect_policy_error(dir, "other-arch", (const char *[]){ "policy `other-arch`", "is for",
	                    "rebuild the image for this architecture",
	                    "policies: other-arch, service, strict)", NULL });
	static const char *const bad[] = { "", "../service", "/etc/passwd", "a/b", "Service",
		"service.bpf", "ser vice", ".", "..",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 65 */ };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_policy_error(dir, bad[i], (const char *[]){ "invalid policy name", "not a path",
		                    NULL });
	assert_true(filter_policy_name_ok("default"));
	assert_true(filter_policy_name_ok("my_svc-2"));
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Every single-bit flip of a valid file is refused (CRC-32 catches them
 * all), and random bytes never parse or read out of bounds (ASan build:
 * each buffer is malloc'd to its exact length). */
static void test_mutations(void **state)
{
	static unsigned char good[28 + 8 * 3];
	const struct sock_filter *f;
	unsigned short n;
	char err[INIT_ERRLEN];
	size_t len = make_file(good, AUDIT_ARCH_X86_64, 3);
	for (size_t bit = 0; bit < len * 8; bit++) {
		unsigned char *b = malloc(len);
		memcpy(b, good, len);
		b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		if (filter_parse(b, len, AUDIT_ARCH_X86_64, &f, &n, err) == 0)
			fail_msg("bit %zu flipped and still accepted", bit);
		free(b);
	}
	srand(12345);
	for (int i = 0; i < 20000; i++) {
		size_t l = (size_t)(rand() % 80);
		unsigned char *b = malloc(l ? l : 1);
		for (size_t k = 0; k < l; k++)
			b[k] = (unsigned char)rand();
		if (l >= 8 && rand() % 2)
			memcpy(b, "MBSECCMP", 8);
		assert_int_equal(filter_parse(b, l, AUDIT_ARCH_X86_64, &f, &n, err), -1);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_policy_by_name),
		cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

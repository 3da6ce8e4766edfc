/* Unit tests of builder/elf.c: synthetic ELF files written byte by byte
 * (static, static-PIE, dynamic with interpreter and needed libraries, other
 * architectures, truncated and corrupt headers), scripts and non-files, plus
 * real binaries of this machine where they exist. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../builder/builder.h"

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/test_elf.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/bin", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

#define BASE 0x400000ULL

struct synth {
	uint16_t type;          /* ET_EXEC / ET_DYN / ET_REL */
	uint16_t machine;
	const char *interp;     /* or NULL */
	const char *needed[3];  /* NULL-terminated */
	bool dynamic;           /* emit PT_DYNAMIC even without needed */
	uint64_t flags1;
};

/* Writes a minimal 64-bit little-endian ELF: header, program headers (LOAD,
 * INTERP?, DYNAMIC?), interpreter string, dynamic array, string table. */
static size_t synth_elf(const struct synth *s, unsigned char *buf, size_t cap)
{
	memset(buf, 0, cap);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	size_t nph = 1 + (s->interp ? 1 : 0) + (s->dynamic || s->needed[0] ? 1 : 0);
	size_t off = sizeof(*eh) + nph * sizeof(Elf64_Phdr);
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(*eh));
	size_t k = 1;

	size_t interp_off = off;
	if (s->interp) {
		strcpy((char *)buf + off, s->interp);
		off += strlen(s->interp) + 1;
		ph[k].p_type = PT_INTERP;
		ph[k].p_offset = interp_off;
		ph[k].p_vaddr = BASE + interp_off;
		ph[k].p_filesz = ph[k].p_memsz = strlen(s->interp) + 1;
		k++;
	}
	if (s->dynamic || s->needed[0]) {
		off = (off + 7) & ~7UL;
		size_t str_off = off + 8 * sizeof(Elf64_Dyn);
		size_t str_len = 1;
		Elf64_Dyn *d = (Elf64_Dyn *)(buf + off);
		size_t nd = 0;
		for (int i = 0; s->needed[i]; i++) {
			strcpy((char *)buf + str_off + str_len, s->needed[i]);
			d[nd].d_tag = DT_NEEDED;
			d[nd++].d_un.d_val = str_len;
			str_len += strlen(s->needed[i]) + 1;
		}
		d[nd].d_tag = DT_STRTAB;
		d[nd++].d_un.d_ptr = BASE + str_off;
		if (s->flags1) {
			d[nd].d_tag = DT_FLAGS_1;
			d[nd++].d_un.d_val = s->flags1;
		}
		d[nd++].d_tag = DT_NULL;
		ph[k].p_type = PT_DYNAMIC;
		ph[k].p_offset = off;
		ph[k].p_vaddr = BASE + off;
		ph[k].p_filesz = ph[k].p_memsz = nd * sizeof(Elf64_Dyn);
		k++;
		off = str_off + str_len;
	}
	off += 16;
	assert_true(off <= cap);
	ph[0].p_type = PT_LOAD;
	ph[0].p_offset = 0;
	ph[0].p_vaddr = BASE;
	ph[0].p_filesz = ph[0].p_memsz = off;
	ph[0].p_flags = PF_R | PF_X;

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = s->type;
	eh->e_machine = s->machine;
	eh->e_version = EV_CURRENT;
	eh->e_entry = BASE + 0x80;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (uint16_t)nph;
	return off;
}

static unsigned char buf[4096];
static struct mb_err err;

static void put(struct fx *f, const struct synth *s)
{
	size_t n = synth_elf(s, buf, sizeof(buf));
	write_file(f->path, buf, n);
}

static void test_static_exec(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_EXEC, .machine = EM_X86_64 };
	put(f, &s);
	struct elf_info info;
	assert_int_equal(elf_inspect(f->path, &info, &err), 0);
	assert_int_equal(info.link, ELF_LINK_STATIC);
	assert_string_equal(info.arch, "amd64");
	assert_null(info.interp);
	assert_int_equal(info.nneeded, 0);
	elf_info_free(&info);
	assert_int_equal(elf_check_static(f->path, "amd64", NULL, &err), 0);
	assert_int_equal(elf_check_static(f->path, "x86_64", NULL, &err), 0);
}

/* Two PT_INTERP headers: the first counts, as for the kernel (found by
 * fuzz_elf: the second copy leaked the first; the ASan run checks it). */
static void test_two_interpreters(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_EXEC, .machine = EM_X86_64, .interp = "/lib/ld-second.so" };
	size_t n = synth_elf(&s, buf, sizeof(buf));
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(Elf64_Ehdr));
	strcpy((char *)buf + n, "/lib/ld-first.so");
	ph[0].p_type = PT_INTERP;
	ph[0].p_offset = n;
	ph[0].p_filesz = ph[0].p_memsz = strlen("/lib/ld-first.so") + 1;
	write_file(f->path, buf, n + 32);
	struct elf_info info;
	assert_int_equal(elf_inspect(f->path, &info, &err), 0);
	assert_int_equal(info.link, ELF_LINK_DYNAMIC);
	assert_string_equal(info.interp, "/lib/ld-first.so");
	elf_info_free(&info);
}

static void test_static_pie_accepted(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_DYN, .machine = EM_X86_64, .dynamic = true,
	                   .flags1 = DF_1_PIE };
	put(f, &s);
	struct elf_info info;
	assert_int_equal(elf_check_static(f->path, "amd64", &info, &err), 0);
	assert_int_equal(info.link, ELF_LINK_STATIC_PIE);
	elf_info_free(&info);
}

static void test_dynamic_glibc(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_DYN, .machine = EM_X86_64,
	                   .interp = "/lib64/ld-linux-x86-64.so.2",
	                   .needed = { "libssl.so.3", "libc.so.6", NULL } };
	put(f, &s);
	struct elf_info info;
	assert_int_equal(elf_inspect(f->path, &info, &err), 0);
	assert_int_equal(info.link, ELF_LINK_DYNAMIC);
	assert_string_equal(info.interp, "/lib64/ld-linux-x86-64.so.2");
	assert_int_equal(info.nneeded, 2);
	assert_string_equal(info.needed[0], "libssl.so.3");
	assert_string_equal(info.needed[1], "libc.so.6");
	assert_null(info.needed[2]);
	assert_string_equal(info.toolchain, "c/glibc");
	elf_info_free(&info);

	assert_int_equal(elf_check_static(f->path, "amd64", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "dynamically linked"));
	assert_non_null(strstr(err.msg, "/lib64/ld-linux-x86-64.so.2"));
	assert_non_null(strstr(err.msg, "libssl.so.3, libc.so.6"));
	assert_non_null(strstr(err.msg, "-static"));
}

static void test_dynamic_musl_hint(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_DYN, .machine = EM_X86_64,
	                   .interp = "/lib/ld-musl-x86_64.so.1",
	                   .needed = { "libc.musl-x86_64.so.1", NULL } };
	put(f, &s);
	assert_int_equal(elf_check_static(f->path, "amd64", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "c/musl"));
	assert_non_null(strstr(err.msg, "musl-gcc -static"));
}

static void test_dynamic_cxx(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_EXEC, .machine = EM_X86_64,
	                   .interp = "/lib64/ld-linux-x86-64.so.2",
	                   .needed = { "libstdc++.so.6", "libc.so.6", NULL } };
	put(f, &s);
	struct elf_info info;
	assert_int_equal(elf_inspect(f->path, &info, &err), 0);
	assert_string_equal(info.toolchain, "c++/glibc");
	elf_info_free(&info);
}

static void test_wrong_arch(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_EXEC, .machine = EM_AARCH64 };
	put(f, &s);
	struct elf_info info;
	assert_int_equal(elf_inspect(f->path, &info, &err), 0);
	assert_string_equal(info.arch, "arm64");
	elf_info_free(&info);
	assert_int_equal(elf_check_static(f->path, "arm64", NULL, &err), 0);
	assert_int_equal(elf_check_static(f->path, "amd64", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "built for arm64"));
	assert_non_null(strstr(err.msg, "image is for amd64"));
	assert_non_null(strstr(err.msg, "--arch"));
}

static void test_unsupported_machine(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_EXEC, .machine = EM_RISCV };
	put(f, &s);
	assert_int_equal(elf_check_static(f->path, "amd64", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "built for riscv"));
	assert_non_null(strstr(err.msg, "amd64 or arm64"));
}

static void test_object_file(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_REL, .machine = EM_X86_64 };
	put(f, &s);
	struct elf_info info;
	assert_int_equal(elf_inspect(f->path, &info, &err), -1);
	assert_non_null(strstr(err.msg, "object file"));
}

static void test_truncated(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_EXEC, .machine = EM_X86_64,
	                   .interp = "/lib64/ld-linux-x86-64.so.2" };
	size_t n = synth_elf(&s, buf, sizeof(buf));
	struct elf_info info;
	/* Cut inside the ELF header, inside the program headers, inside the
	 * interpreter string: each is reported as truncated or corrupt. */
	size_t cuts[] = { 10, 40, sizeof(Elf64_Ehdr) + 20, n - 30 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		write_file(f->path, buf, cuts[i]);
		assert_int_equal(elf_inspect(f->path, &info, &err), -1);
		if (!strstr(err.msg, "truncated") && !strstr(err.msg, "corrupt"))
			fail_msg("cut at %zu: %s", cuts[i], err.msg);
		assert_non_null(strstr(err.msg, f->path));
	}
}

static void test_corrupt_phoff(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_EXEC, .machine = EM_X86_64 };
	size_t n = synth_elf(&s, buf, sizeof(buf));
	((Elf64_Ehdr *)buf)->e_phoff = 0x7fffffff;
	write_file(f->path, buf, n);
	struct elf_info info;
	assert_int_equal(elf_inspect(f->path, &info, &err), -1);
	if (!strstr(err.msg, "corrupt"))
		fail_msg("%s", err.msg);
	/* and a bogus class byte */
	synth_elf(&s, buf, sizeof(buf));
	buf[EI_CLASS] = 9;
	write_file(f->path, buf, n);
	assert_int_equal(elf_inspect(f->path, &info, &err), -1);
	assert_non_null(strstr(err.msg, "corrupt"));
}

static void test_script(void **state)
{
	struct fx *f = *state;
	const char *sc = "#!/bin/sh\necho hi\n";
	write_file(f->path, sc, strlen(sc));
	struct elf_info info;
	assert_int_equal(elf_inspect(f->path, &info, &err), -1);
	assert_non_null(strstr(err.msg, "is a script"));
	assert_non_null(strstr(err.msg, "#!/bin/sh"));
}

static void test_not_elf_and_empty(void **state)
{
	struct fx *f = *state;
	write_file(f->path, "hello world\n", 12);
	struct elf_info info;
	assert_int_equal(elf_inspect(f->path, &info, &err), -1);
	assert_non_null(strstr(err.msg, "not an ELF binary"));
	write_file(f->path, "", 0);
	assert_int_equal(elf_inspect(f->path, &info, &err), -1);
	assert_non_null(strstr(err.msg, "empty"));
}

static void test_missing_and_dir(void **state)
{
	struct fx *f = *state;
	struct elf_info info;
	assert_int_equal(elf_inspect("/nonexistent/app", &info, &err), -1);
	assert_string_equal(err.msg, "cannot open `/nonexistent/app`: No such file or directory");
	assert_int_equal(elf_inspect(f->dir, &info, &err), -1);
	assert_non_null(strstr(err.msg, "is a directory"));
}

static void test_real_binaries(void **state)
{
	(void)state;
	struct elf_info info;
	/* This test program itself: a glibc PIE with libcmocka and libelf. */
	assert_int_equal(elf_inspect("/proc/self/exe", &info, &err), 0);
	assert_int_equal(info.link, ELF_LINK_DYNAMIC);
	assert_non_null(info.interp);
	bool cm = false;
	for (size_t i = 0; i < info.nneeded; i++)
		cm |= strstr(info.needed[i], "libcmocka") != NULL;
	assert_true(cm);
	assert_string_equal(info.toolchain, "c/glibc");
	elf_info_free(&info);
	if (access("/usr/bin/tini-static", R_OK) == 0) {
		assert_int_equal(elf_check_static("/usr/bin/tini-static", arch_host(), &info, &err), 0);
		assert_int_not_equal(info.link, ELF_LINK_DYNAMIC);
		elf_info_free(&info);
	}
	/* Debian's Go toolchain: a Go binary is recognised by its sections. */
	if (access("/usr/lib/go/bin/go", R_OK) == 0) {
		assert_int_equal(elf_inspect("/usr/lib/go/bin/go", &info, &err), 0);
		assert_string_equal(info.toolchain, "go");
		elf_info_free(&info);
	}
}

/* Bounded mutation fuzzing of the header parser (a fixed seed, so a
 * failure reproduces): flipped bytes in the headers, the dynamic array and
 * the string table, random truncation.  Under ASan/UBSan this catches any
 * read out of bounds; here it checks every answer is coherent. */
static void test_fuzz_mutations(void **state)
{
	struct fx *f = *state;
	struct synth s = { .type = ET_DYN, .machine = EM_X86_64,
	                   .interp = "/lib/ld-musl-x86_64.so.1",
	                   .needed = { "libcap.so.2", "libc.musl-x86_64.so.1", NULL } };
	unsigned char orig[4096], m[4096];
	size_t n = synth_elf(&s, orig, sizeof(orig));
	unsigned seed = 12345;
	/* in memory when we can: thousands of small writes */
	char path[160];
	snprintf(path, sizeof(path), "/dev/shm/test_elf.%d", (int)getpid());
	FILE *probe = fopen(path, "wb");
	if (probe)
		fclose(probe);
	else
		snprintf(path, sizeof(path), "%s", f->path);
	for (int it = 0; it < 2000; it++) {
		memcpy(m, orig, n);
		size_t len = n;
		int flips = 1 + (int)(rand_r(&seed) % 8);
		for (int k = 0; k < flips; k++)
			m[rand_r(&seed) % n] = (unsigned char)rand_r(&seed);
		if (rand_r(&seed) % 4 == 0)
			len = rand_r(&seed) % n;
		write_file(path, m, len);
		struct elf_info info;
		int rc = elf_inspect(path, &info, &err);
		if (rc == 0) {
			assert_non_null(info.needed);
			assert_null(info.needed[info.nneeded]);
			assert_true(info.link <= ELF_LINK_DYNAMIC);
			elf_info_free(&info);
		} else {
			assert_int_equal(rc, -1);
			assert_true(err.msg[0] != '\0');
			assert_non_null(strstr(err.msg, path));
		}
	}
	unlink(path);
}

static void test_arch_names(void **state)
{
	(void)state;
	assert_string_equal(arch_normalize("x86_64"), "amd64");
	assert_string_equal(arch_normalize("aarch64"), "arm64");
	assert_string_equal(arch_normalize("arm64"), "arm64");
	assert_null(arch_normalize("sparc"));
	assert_null(arch_normalize(NULL));
	assert_string_equal(arch_kernel_name("amd64"), "x86_64");
	assert_string_equal(arch_kernel_name("arm64"), "aarch64");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_static_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_interpreters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_static_pie_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dynamic_glibc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dynamic_musl_hint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dynamic_cxx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_arch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsupported_machine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_phoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_script, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_elf_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fuzz_mutations, setup, teardown),
		cmocka_unit_test(test_real_binaries),
		cmocka_unit_test(test_arch_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

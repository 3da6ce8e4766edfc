/* Unit tests of builder/build.c's classification and naming: which kind of
 * APP a path is, and the name the service gets in /app. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../builder/builder.h"

static char dir[64];
static struct mb_err err;

static void put(const char *rel, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char *at(const char *rel)
{
	static char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return p;
}

static int setup(void **s)
{
	(void)s;
	strcpy(dir, "/tmp/test_builder_build.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_detect_kinds(void **s)
{
	(void)s;
	enum app_kind k;
	assert_int_equal(mkdir(at("gomod"), 0755), 0);
	put("gomod/go.mod", "module example.com/team/devops-info\n\ngo 1.19\n");
	assert_int_equal(build_detect(at("gomod"), &k, &err), 0);
	assert_int_equal(k, APP_GO);

	assert_int_equal(mkdir(at("withmake"), 0755), 0);
	put("withmake/Makefile", "all:\n");
	put("withmake/a.c", "int main(void){return 0;}\n");
	assert_int_equal(build_detect(at("withmake"), &k, &err), 0);
	assert_int_equal(k, APP_MAKEFILE);

	assert_int_equal(mkdir(at("cdir"), 0755), 0);
	put("cdir/a.c", "int main(void){return 0;}\n");
	assert_int_equal(build_detect(at("cdir"), &k, &err), 0);
	assert_int_equal(k, APP_C_DIR);
	assert_int_equal(build_detect(at("cdir/a.c"), &k, &err), 0);
	assert_int_equal(k, APP_C_FILE);

	put("binary", "\177ELF...");
	assert_int_equal(build_detect(at("binary"), &k, &err), 0);
	assert_int_equal(k, APP_ELF);

	assert_int_equal(mkdir(at("empty"), 0755), 0);
	put("empty/README", "nothing\n");
	assert_int_equal(build_detect(at("empty"), &k, &err), -1);
	assert_non_null(strstr(err.msg, "nothing mkimage can build"));

	put("main.go", "package main\n");
	assert_int_equal(build_detect(at("main.go"), &k, &err), -1);
	assert_non_null(strstr(err.msg, "package directory"));
	put("x.cpp", "int main(){}\n");
	assert_int_equal(build_detect(at("x.cpp"), &k, &err), -1);
	assert_non_null(strstr(err.msg, "g++ -static"));
	assert_int_equal(mkdir(at("crate"), 0755), 0);
	put("crate/Cargo.toml", "[package]\n");
	assert_int_equal(build_detect(at("crate"), &k, &err), -1);
	assert_non_null(strstr(err.msg, "x86_64-unknown-linux-musl"));

	/* a Go package below its module root (cmd/NAME), the folders between */
	assert_int_equal(mkdir(at("gomod/cmd"), 0755), 0);
	assert_int_equal(mkdir(at("gomod/cmd/server"), 0755), 0);
	put("gomod/cmd/server/main.go", "package main\nfunc main() {}\n");
	assert_int_equal(build_detect(at("gomod/cmd/server"), &k, &err), 0);
	assert_int_equal(k, APP_GO);
	assert_int_equal(build_detect(at("gomod/cmd"), &k, &err), 0);
	assert_int_equal(k, APP_GO);
	char root[4096], want[4096];
	assert_int_equal(build_go_root(at("gomod/cmd/server"), root, sizeof(root)), 0);
	assert_non_null(realpath(at("gomod"), want));
	assert_string_equal(root, want);
	assert_int_equal(build_go_root(at("cdir"), root, sizeof(root)), -1);
	/* CMake wins over a Makefile beside it (often a wrapper that runs cmake) */
	assert_int_equal(mkdir(at("cm"), 0755), 0);
	put("cm/CMakeLists.txt", "project(x C)\n");
	assert_int_equal(build_detect(at("cm"), &k, &err), 0);
	assert_int_equal(k, APP_CMAKE);
	put("cm/Makefile", "all:\n");
	assert_int_equal(build_detect(at("cm"), &k, &err), 0);
	assert_int_equal(k, APP_CMAKE);

	assert_int_equal(build_detect(at("missing"), &k, &err), -1);
	assert_non_null(strstr(err.msg, "No such file or directory"));
	assert_int_equal(build_detect("/dev/null", &k, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
}

static void expect_name(const char *app, enum app_kind k, const char *want)
{
	char *n = build_app_name(app, k);
	assert_non_null(n);
	if (strcmp(n, want))
		fail_msg("%s: got `%s`, want `%s`", app, n, want);
	free(n);
}

static void test_names(void **s)
{
	(void)s;
	assert_int_equal(mkdir(at("svc"), 0755), 0);
	put("svc/go.mod", "// comment\nmodule \"example.com/team/devops-info\" // x\n\ngo 1.19\n");
	expect_name(at("svc"), APP_GO, "devops-info");
	put("svc/go.mod", "module hello\n");
	expect_name(at("svc"), APP_GO, "hello");
	/* no module line: the directory's name */
	put("svc/go.mod", "go 1.19\n");
	expect_name(at("svc"), APP_GO, "svc");
	/* go build's names: a package below the root by its directory, the
	 * root by the module path without its major version */
	assert_int_equal(mkdir(at("svc/cmd"), 0755), 0);
	assert_int_equal(mkdir(at("svc/cmd/api server"), 0755), 0);
	put("svc/go.mod", "module example.com/team/tool/v2\n");
	expect_name(at("svc"), APP_GO, "tool");
	expect_name(at("svc/cmd/api server"), APP_GO, "api-server");
	expect_name("/src/server.c", APP_C_FILE, "server");
	expect_name("my server.c", APP_C_FILE, "my-server");
	expect_name("./bin/app", APP_ELF, "app");
	expect_name("weird$$name", APP_ELF, "weird-name");
	expect_name("...", APP_ELF, "app");
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(at("svc")), 0);
	expect_name(".", APP_C_DIR, "svc");
	expect_name("./", APP_MAKEFILE, "svc");
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(build_kind_name(APP_GO), "go module");
}

/* An empty cache path (`--cache ""`) is refused with a message; the
 * directory walk must not start past its end. */
static void test_mkdir_p_and_cache_dir(void **s)
{
	(void)s;
	char buf[4096];
	err.msg[0] = '\0';
	assert_int_equal(rootfs_mkdir_p("", 0755, 0755, &err), -1);
	assert_non_null(strstr(err.msg, "empty"));
	err.msg[0] = '\0';
	assert_int_equal(build_cache_dir("", buf, sizeof(buf), &err), -1);
	assert_non_null(strstr(err.msg, "empty"));
	assert_int_equal(rootfs_mkdir_p(at("a/b/c/"), 0755, 0700, &err), 0);
	struct stat st;
	assert_int_equal(stat(at("a/b/c"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(build_cache_dir(at("a/b"), buf, sizeof(buf), &err), 0);
	assert_true(buf[0] == '/');
}

static void test_go_messages(void **s)
{
	(void)s;
	char w[256];
	assert_null(build_go_missing_module("main.go:3:2: undefined: x\n", w, sizeof(w)));
	assert_string_equal(build_go_missing_module(
		"main.go:2:8: no required module provides package example.com/absent; to add it:\n",
		w, sizeof(w)), "example.com/absent");
	assert_string_equal(build_go_missing_module(
		"main.go:2:8: missing go.sum entry for module providing package example.com/a/b "
		"(imported by x)\n", w, sizeof(w)), "example.com/a/b");
	assert_string_equal(build_go_missing_module(
		"go: downloading example.com/absent v1.0.0\nmain.go:2:8: module lookup disabled by "
		"GOPROXY=off\n", w, sizeof(w)), "example.com/absent@v1.0.0");
	assert_string_equal(build_go_missing_module(
		"go: example.com/dep@v1.2.0: module lookup disabled by GOPROXY=off\n", w, sizeof(w)),
		"example.com/dep@v1.2.0");
	/* a download that worked is no missing module */
	assert_null(build_go_missing_module("go: downloading example.com/ok v1.0.0\n"
	                                    "./main.go:9:1: syntax error\n", w, sizeof(w)));

	assert_int_equal(build_go_version_cmp("1.22", "go1.22.0"), 0);
	assert_int_equal(build_go_version_cmp("1.22", "1.23.5"), -1);
	assert_int_equal(build_go_version_cmp("go1.19.8", "1.19"), 1);
	assert_int_equal(build_go_version_cmp("1.21rc1", "1.21"), 0);
	assert_int_equal(build_go_version_cmp("1.100", "1.99.9"), 1);
	assert_int_equal(build_go_version_cmp("", "1.2"), -2);
	assert_int_equal(build_go_version_cmp("x1.2", "1.2"), -2);
}

/* util_copy_tree does what `cp -a` did for the make build's private copy:
 * modes (a read-only directory too), times, symlinks as links; and
 * util_copy_file names what it cannot copy. */
static void test_copy_tree_and_file(void **s)
{
	char src[300], dst[300], p[400], q[400];
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	assert_int_equal(mkdir(src, 0755), 0);
	assert_int_equal(mkdir(at("src/ro"), 0755), 0);
	put("src/run.sh", "#!/bin/sh\n");
	put("src/ro/data", "data\n");
	assert_int_equal(chmod(at("src/run.sh"), 0750), 0);
	assert_int_equal(symlink("ro/data", at("src/link")), 0);
	struct timespec t[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, at("src/ro/data"), t, 0), 0);
	assert_int_equal(chmod(at("src/ro"), 0555), 0);

	assert_int_equal(util_copy_tree(src, dst, &err), 0);
	struct stat st;
	assert_int_equal(stat(at("dst/run.sh"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(stat(at("dst/ro"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0555);
	assert_int_equal(stat(at("dst/ro/data"), &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(readlink(at("dst/link"), p, sizeof(p)), 7);
	assert_memory_equal(p, "ro/data", 7);

	snprintf(p, sizeof(p), "%s/run.sh", src);
	snprintf(q, sizeof(q), "%s/copy", dir);
	assert_int_equal(util_copy_file(p, q, &err), 0);
	assert_int_equal(stat(q, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(util_copy_file(at("src/missing"), q, &err), -1);
	assert_non_null(strstr(err.msg, "cannot copy `"));
	assert_non_null(strstr(err.msg, "src/missing`: No such file or directory"));
	chmod(at("src/ro"), 0755);
	chmod(at("dst/ro"), 0755);
}

/* mb_wrap puts context before a callee's message and returns -1; a
 * message too long for MB_ERRLEN loses its end, never the context. */
static void test_error_wrap(void **s)
{
	(void)s;
	mb_error(&err, 0, "`%s` is dynamically linked", "app");
	assert_int_equal(mb_wrap(&err, "the build of `%s` is not usable", "app"), -1);
	assert_string_equal(err.msg, "the build of `app` is not usable: `app` is dynamically linked");
	memset(err.msg, 'x', MB_ERRLEN - 1);
	err.msg[MB_ERRLEN - 1] = '\0';
	assert_int_equal(mb_wrap(&err, "context"), -1);
	assert_int_equal(strncmp(err.msg, "context: xxx", 12), 0);
	assert_int_equal(strlen(err.msg), MB_ERRLEN - 1);
	assert_string_equal(err.msg + MB_ERRLEN - 4, "...");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_detect_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_p_and_cache_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_tree_and_file, setup, teardown),
		cmocka_unit_test(test_error_wrap),
		cmocka_unit_test(test_go_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

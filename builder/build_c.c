/* The C drivers: one .c file or a directory of them (musl-gcc -static
 * against the minbase sysroot), a Makefile project (make with our CC and
 * flags, in a private copy of the tree: the user's directory is left
 * byte-for-byte as it was) and a CMake project (configured out of tree with
 * a toolchain file for musl).  The program a project builds is found among
 * the new executables; its name becomes the service's. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"

/* The sysroot: --sysroot, $MINBASE_SYSROOT, or build/sysroot beside
 * build/bin/mkimage.  For arm64: $MINBASE_SYSROOT_ARM64, build/sysroot-aarch64
 * or, installed, lib/minbase/sysroot-aarch64 (builder/sysroot.mk).
 * Returns 0 and an empty buf when there is none. */
static void find_sysroot(const struct build_opts *o, char *buf, size_t len)
{
	struct stat st;
	char cand[PATH_MAX] = "";
	bool arm = !strcmp(o->arch, "arm64");
	const char *env = getenv(arm ? "MINBASE_SYSROOT_ARM64" : "MINBASE_SYSROOT");
	if (o->sysroot)
		snprintf(cand, sizeof(cand), "%s", o->sysroot);
	else if (env && *env)
		snprintf(cand, sizeof(cand), "%s", env);
	else {
		char *self = util_self_dir();
		if (self) {
			snprintf(cand, sizeof(cand), "%s/../sysroot%s", self, arm ? "-aarch64" : "");
			if (arm && stat(cand, &st) != 0)
				snprintf(cand, sizeof(cand), "%s/../lib/minbase/sysroot-aarch64", self);
			free(self);
		}
	}
	buf[0] = '\0';
	if (cand[0] && stat(cand, &st) == 0 && S_ISDIR(st.st_mode))
		if (!realpath(cand, buf))
			buf[0] = '\0';
}

/* Kernel headers for musl-gcc when there is no sysroot: musl-gcc hides
 * /usr/include, so link the three kernel header folders into one. */
static int kernel_headers(const char *cache, const char *arch, char *buf, size_t len,
                          struct mb_err *err)
{
	if (util_pathf(buf, len, "%s/kh-%s", cache, arch) < 0 || rootfs_mkdir_p(buf, 0755, 0755, err) < 0)
		return -1;
	const char *asmdir = strcmp(arch, "arm64") == 0 ? "/usr/aarch64-linux-gnu/include/asm"
	                                                : "/usr/include/x86_64-linux-gnu/asm";
	const char *links[][2] = { { "linux", "/usr/include/linux" },
	                           { "asm", asmdir },
	                           { "asm-generic", "/usr/include/asm-generic" } };
	for (size_t i = 0; i < 3; i++) {
		char p[PATH_MAX];
		util_pathf(p, sizeof(p), "%s/%s", buf, links[i][0]);
		if (symlink(links[i][1], p) < 0 && errno != EEXIST)
			return mb_error(err, errno, "cannot link kernel headers at `%s`", p);
	}
	return 0;
}

/* The C compiler for arch with its target flags. */
static int c_compiler(const char *arch, struct strv *a, struct mb_err *err)
{
	if (!strcmp(arch, arch_host()) && !strcmp(arch, "amd64")) {
		if (!util_have_program("musl-gcc"))
			return mb_error(err, 0, "`musl-gcc` is not installed: run `make deps` (musl-tools)");
		strv_add(a, "musl-gcc");
		return 0;
	}
	if (!strcmp(arch, "arm64")) {
		const char *specs = "/usr/lib/aarch64-linux-musl/musl-gcc.specs";
		if (!util_have_program("aarch64-linux-gnu-gcc") || access(specs, R_OK) != 0)
			return mb_error(err, 0, "building C for arm64 needs aarch64-linux-gnu-gcc and musl for arm64 "
			       "(`dpkg --add-architecture arm64; apt-get install gcc-aarch64-linux-gnu "
			       "musl-dev:arm64`)");
		strv_add(a, "aarch64-linux-gnu-gcc");
		strv_add(a, "-specs");
		strv_add(a, specs);
		return 0;
	}
	return mb_error(err, 0, "cannot build C for %s on this machine", arch);
}

static const char *const C_FLAGS[] = {
	"-static", "-Os", "-s", "-pipe", "-ffunction-sections", "-fdata-sections",
	"-Wl,--gc-sections", "-Wl,--build-id=none", "-fstack-protector-strong",
	"-D_FORTIFY_SOURCE=2", NULL,
};

static int c_env_flags(const struct build_opts *o, const char *dir, struct strv *a,
                       bool *libs, struct mb_err *err)
{
	char sys[PATH_MAX];
	*libs = false;
	find_sysroot(o, sys, sizeof(sys));
	for (size_t i = 0; C_FLAGS[i]; i++)
		strv_add(a, C_FLAGS[i]);
	/* Reproducible: no absolute source paths, no random symbol names. */
	strv_addf(a, "-ffile-prefix-map=%s=.", dir);
	strv_add(a, "-frandom-seed=minbase");
	if (sys[0]) {
		strv_addf(a, "-isystem%s/kh", sys);
		strv_addf(a, "-isystem%s/include", sys);
		strv_addf(a, "-L%s/lib", sys);
		*libs = true;
	} else {
		char cache[PATH_MAX], kh[PATH_MAX];
		if (build_cache_dir(o->cache_dir, cache, sizeof(cache), err) < 0 ||
		    kernel_headers(cache, o->arch, kh, sizeof(kh), err) < 0)
			return -1;
		strv_addf(a, "-isystem%s", kh);
	}
	return 0;
}


/* A word for sh: make and cmake's generated Makefiles run their recipes
 * with /bin/sh, so a path with spaces in CFLAGS needs quotes. */
static int sh_word(const char *s, char *buf, size_t len)
{
	if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                    "_./=,+:-%@") == strlen(s))
		return util_pathf(buf, len, "%s", s);
	size_t j = 0;
	if (len < 3)
		return -1;
	buf[j++] = '\'';
	for (; *s; s++) {
		const char *piece = *s == '\'' ? "'\\''" : NULL;
		size_t pl = piece ? 4 : 1;
		if (j + pl + 2 > len)
			return -1;
		if (piece)
			memcpy(buf + j, piece, pl);
		else
			buf[j] = *s;
		j += pl;
	}
	buf[j++] = '\'';
	buf[j] = '\0';
	return 0;
}

/* Joins words (sh-quoted) into buf; skip_ld leaves out link-only flags. */
static int join_words(const struct strv *a, bool skip_ld, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < a->n; i++) {
		if (skip_ld && (!strncmp(a->v[i], "-Wl,", 4) || !strcmp(a->v[i], "-static") ||
		                !strcmp(a->v[i], "-s")))
			continue;
		char w[PATH_MAX + 64];
		size_t l = strlen(buf);
		if (sh_word(a->v[i], w, sizeof(w)) < 0 ||
		    util_pathf(buf + l, len - l, "%s%s", l ? " " : "", w) < 0)
			return -1;
	}
	return 0;
}

int build_c(struct build_opts *o, enum app_kind kind, const char *dir, const char *file,
            const char *tmp, struct mb_err *err)
{
	struct strv a = { 0 };
	bool libs;
	int rc = -1;
	char **files = NULL;
	if (c_compiler(o->arch, &a, err) < 0 || c_env_flags(o, dir, &a, &libs, err) < 0)
		goto out;
	strv_add(&a, "-o");
	strv_add(&a, tmp);
	if (kind == APP_C_FILE) {
		strv_add(&a, file);
	} else {
		size_t n;
		files = build_list_files(dir, ".c", &n);
		for (size_t i = 0; i < n; i++)
			strv_add(&a, files[i]);
	}
	/* libcap and libseccomp from the sysroot, for services that use them;
	 * a static link only pulls what is referenced. */
	if (libs) {
		strv_add(&a, "-lseccomp");
		strv_add(&a, "-lcap");
	}
	struct strv env = { 0 };
	if (!getenv("SOURCE_DATE_EPOCH"))
		strv_add(&env, "SOURCE_DATE_EPOCH=0");
	rc = util_run_strv(&a, &env, dir, NULL, 0, err);
	strv_clear(&env);
	if (rc > 0)
		rc = mb_error(err, 0, "compiling `%s` failed (exit %d): see the compiler's messages above",
		       o->app, rc);
out:
	strv_free(files);
	strv_clear(&a);
	return rc;
}

/* ---- the programs a project built ------------------------------------------ */

/* nftw has no user pointer: the walk's state. */
static struct {
	const char *root;
	time_t since;
	char names[1024];        /* "a, tools/b" for messages */
	char picked[PATH_MAX];
	const char *want;        /* --bin */
	int n, npicked;
} pw;

static int find_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *base = path + ftw->base;
	if (flag == FTW_D && (!strcmp(base, "CMakeFiles") || (base[0] == '.' && ftw->level > 0)))
		return FTW_SKIP_SUBTREE; /* cmake's compiler probes, hidden dirs */
	if (flag != FTW_F || !S_ISREG(st->st_mode) || !(st->st_mode & 0111) ||
	    st->st_mtime < pw.since || strstr(base, ".so"))
		return FTW_CONTINUE;
	unsigned char h[18];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r = fd >= 0 ? read(fd, h, sizeof(h)) : -1;
	if (fd >= 0)
		close(fd);
	/* ELF, e_type (little-endian at 16) EXEC or DYN (static-pie) */
	if (r != (ssize_t)sizeof(h) || memcmp(h, "\177ELF", 4) != 0 || (h[16] != 2 && h[16] != 3))
		return FTW_CONTINUE;
	const char *rel = path + strlen(pw.root) + 1;
	size_t l = strlen(pw.names);
	snprintf(pw.names + l, sizeof(pw.names) - l, "%s%s", pw.n ? ", " : "", rel);
	pw.n++;
	if (!pw.want || !strcmp(pw.want, base) || !strcmp(pw.want, rel)) {
		snprintf(pw.picked, sizeof(pw.picked), "%s", path);
		pw.npicked++;
	}
	return FTW_CONTINUE;
}

/* The one new program under root (or the one named --bin), copied to tmp;
 * its name goes to o->built_name. */
static int take_program(struct build_opts *o, const char *tool, const char *root, time_t since,
                        const char *tmp, struct mb_err *err)
{
	memset(&pw, 0, sizeof(pw));
	pw.root = root;
	pw.since = since;
	pw.want = o->bin;
	nftw(root, find_one, 16, FTW_PHYS | FTW_ACTIONRETVAL);
	if (pw.n == 0)
		return mb_error(err, 0, "%s in `%s` built no executable", tool, o->app);
	if (o->bin && pw.npicked == 0)
		return mb_error(err, 0, "%s in `%s` built no program named `%s`: it built %s (choose with "
		       "--bin NAME)", tool, o->app, o->bin, pw.names);
	if (pw.npicked > 1)
		return mb_error(err, 0, "%s in `%s` built several programs (%s): choose one with --bin NAME",
		       tool, o->app, pw.names);
	if (util_copy_file(pw.picked, tmp, err) < 0)
		return -1;
	const char *b = strrchr(pw.picked, '/') + 1;
	free(o->built_name);
	o->built_name = mk_clean_name(b, strlen(b), MK_NAME_FILE);
	return 0;
}

/* A private work directory under $TMPDIR (not beside the output, which may
 * be inside the user's tree), removed on failure and on signals. */
static int work_dir(const char *what, char *buf, size_t len, int *slot, struct mb_err *err)
{
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "mkimage-%s", what);
	if (rootfs_tmpdir(prefix, buf, len, err) < 0)
		return -1;
	*slot = util_cleanup_push(buf, NULL);
	return 0;
}

/* What a make or cmake build holds: the compiler and its flags, the
 * command line being run and its environment, the work directory. */
struct c_job {
	struct strv cc, fl, a, env;
	char work[PATH_MAX];
	int slot;
};

/* Runs j->a in dir: 0, or -1 with err naming the step (`what` `app`
 * `after`) and the tool's exit status. */
static int job_run(struct c_job *j, const char *dir, const char *what, const char *app,
                   const char *after, struct mb_err *err)
{
	int rc = util_run_strv(&j->a, &j->env, dir, NULL, 0, err);
	if (rc > 0)
		mb_error(err, 0, "%s `%s`%s (exit %d): see its messages above", what, app, after, rc);
	return rc == 0 ? 0 : -1;
}

/* The work directory removed and what the job holds freed; returns rc,
 * so that a failed step is one line: `return job_end(&j, -1);`. */
static int job_end(struct c_job *j, int rc)
{
	if (j->work[0])
		util_rm_rf(j->work);
	util_cleanup_pop(j->slot);
	strv_clear(&j->cc);
	strv_clear(&j->fl);
	strv_clear(&j->a);
	strv_clear(&j->env);
	return rc;
}

/* `make -B` with CC=musl-gcc and static flags, in a copy of the tree. */
int build_make(struct build_opts *o, const char *dir, const char *tmp, struct mb_err *err)
{
	struct c_job j = { .slot = -1 };
	struct strv *cc = &j.cc, *fl = &j.fl, *a = &j.a, *env = &j.env;
	char *work = j.work, src[PATH_MAX];
	bool libs;
	if (!util_have_program("make"))
		return mb_error(err, 0, "cannot build `%s`: `make` is not installed (run `make deps`)", o->app);
	if (work_dir("make", work, sizeof(j.work), &j.slot, err) < 0)
		return -1;
	if (util_pathf(src, sizeof(src), "%s/src", work) < 0) {
		mb_error(err, 0, "path too long: `%s`", dir);
		return job_end(&j, -1);
	}
	if (c_compiler(o->arch, cc, err) < 0 || c_env_flags(o, src, fl, &libs, err) < 0)
		return job_end(&j, -1);
	char ccs[1024], cfl[8192];
	const char *ldf = "-static -s -Wl,--gc-sections -Wl,--build-id=none";
	/* A cut flag list would build with other flags than ours, silently. */
	if (join_words(cc, false, ccs, sizeof(ccs)) < 0 || join_words(fl, true, cfl, 4096) < 0) {
		mb_error(err, 0, "cannot build with make: the compiler flags are longer than 4095 bytes "
		       "(a very long path to the sources or the sysroot?): `%.200s`", o->app);
		return job_end(&j, -1);
	}
	/* The tree as it is (modes, times, links); the build writes only into
	 * the copy. */
	if (util_copy_tree(dir, src, err) < 0)
		return job_end(&j, -1);
	strv_add(a, "make");
	/* -B: everything is made again, with our CC and flags (a program made
	 * by an earlier plain `make` is in the copy, up to date). */
	strv_add(a, "-B");
	if (o->quiet)
		strv_add(a, "-s"); /* no command echo; errors still print */
	strv_addf(a, "CC=%s", ccs);
	strv_addf(a, "CFLAGS=%s", cfl);
	strv_addf(a, "LDFLAGS=%s", ldf);
	time_t start = time(NULL);
	if (!getenv("SOURCE_DATE_EPOCH"))
		strv_add(env, "SOURCE_DATE_EPOCH=0");
	if (job_run(&j, src, "make in", o->app, " failed", err) < 0)
		return job_end(&j, -1);
	return job_end(&j, take_program(o, "make", src, start - 1, tmp, err));
}

/* A string for a CMake quoted argument. */
static void cmake_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\' || *s == '$' || *s == ';')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* cmake -S DIR -B WORK/build with a musl toolchain file, then cmake --build. */
int build_cmake(struct build_opts *o, const char *dir, const char *tmp, struct mb_err *err)
{
	struct c_job j = { .slot = -1 };
	struct strv *cc = &j.cc, *fl = &j.fl, *a = &j.a, *env = &j.env;
	char *work = j.work, bdir[PATH_MAX], tc[PATH_MAX];
	bool libs;
	if (!util_have_program("cmake"))
		return mb_error(err, 0, "cannot build the CMake project `%s`: `cmake` is not installed (run "
		       "`make deps`)", o->app);
	if (work_dir("cmake", work, sizeof(j.work), &j.slot, err) < 0)
		return -1;
	if (util_pathf(bdir, sizeof(bdir), "%s/build", work) < 0 ||
	    util_pathf(tc, sizeof(tc), "%s/musl.cmake", work) < 0) {
		mb_error(err, 0, "path too long: `%s`", work);
		return job_end(&j, -1);
	}
	if (c_compiler(o->arch, cc, err) < 0 || c_env_flags(o, dir, fl, &libs, err) < 0)
		return job_end(&j, -1);
	char cfl[8192], extra[1024];
	struct strv ccx = { 0 };
	for (size_t i = 1; i < cc->n; i++) /* "-specs FILE" for arm64 */
		strv_add(&ccx, cc->v[i]);
	bool cut = join_words(fl, false, cfl, sizeof(cfl)) < 0 ||
	           join_words(&ccx, false, extra, sizeof(extra)) < 0;
	strv_clear(&ccx);
	if (cut) {
		mb_error(err, 0, "cannot build with cmake: the compiler flags are too long (a very "
		       "long path to the sources or the sysroot?): `%.200s`", o->app);
		return job_end(&j, -1);
	}
	FILE *f = fopen(tc, "we");
	if (!f) {
		mb_error(err, errno, "cannot write `%s`", tc);
		return job_end(&j, -1);
	}
	char sys[PATH_MAX] = "";
	const char *kfl = arch_kernel_name(o->arch);
	fprintf(f, "# minbase: static musl builds\nset(CMAKE_SYSTEM_NAME Linux)\n"
	        "set(CMAKE_SYSTEM_PROCESSOR %s)\nset(CMAKE_C_COMPILER ", kfl ? kfl : o->arch);
	cmake_str(f, cc->v[0]);
	fprintf(f, ")\nset(CMAKE_C_FLAGS_INIT ");
	util_pathf(sys, sizeof(sys), "%s%s%s", extra, extra[0] ? " " : "", cfl);
	cmake_str(f, sys);
	fprintf(f, ")\nset(CMAKE_EXE_LINKER_FLAGS_INIT \"-static -s -Wl,--gc-sections "
	        "-Wl,--build-id=none\")\n"
	        "set(CMAKE_FIND_LIBRARY_SUFFIXES \".a\")\n"
	        "set(BUILD_SHARED_LIBS OFF CACHE BOOL \"static\")\n"
	        "set(CMAKE_POSITION_INDEPENDENT_CODE OFF CACHE BOOL \"static\")\n");
	find_sysroot(o, sys, sizeof(sys));
	if (sys[0]) {
		fprintf(f, "set(CMAKE_FIND_ROOT_PATH ");
		cmake_str(f, sys);
		fprintf(f, ")\nset(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)\n"
		        "set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)\n"
		        "set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)\n");
	}
	if (fclose(f) != 0) {
		mb_error(err, errno, "cannot write `%s`", tc);
		return job_end(&j, -1);
	}
	if (!getenv("SOURCE_DATE_EPOCH"))
		strv_add(env, "SOURCE_DATE_EPOCH=0");
	strv_add(a, "cmake");
	if (o->quiet)
		strv_add(a, "--log-level=WARNING");
	strv_add(a, "-S");
	strv_add(a, dir);
	strv_add(a, "-B");
	strv_add(a, bdir);
	strv_addf(a, "-DCMAKE_TOOLCHAIN_FILE=%s", tc);
	strv_add(a, "-DCMAKE_BUILD_TYPE=MinSizeRel");
	if (job_run(&j, work, "cmake could not configure", o->app, "", err) < 0)
		return job_end(&j, -1);
	strv_clear(a);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	strv_add(a, "cmake");
	strv_add(a, "--build");
	strv_add(a, bdir);
	strv_addf(a, "-j%ld", ncpu > 0 ? ncpu : 1);
	time_t start = time(NULL);
	if (job_run(&j, work, "the cmake build of", o->app, " failed", err) < 0)
		return job_end(&j, -1);
	return job_end(&j, take_program(o, "cmake", bdir, start - 1, tmp, err));
}

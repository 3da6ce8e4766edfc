/* Static build drivers: a Go module (CGO_ENABLED=0 go build), C sources
 * (musl-gcc -static against the minbase sysroot), a directory with a
 * Makefile (make with CC=musl-gcc), or a prebuilt ELF (checked, copied).
 * Whatever the route, the result is checked to be static for the target
 * architecture before it is renamed into place; nothing half-built is left
 * at the output path. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"


/* snprintf into a path buffer; vsnprintf so that truncation is checked
 * here, at run time, rather than guessed at by the compiler. */
static int pathf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

static bool file_in(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;
	return pathf(p, sizeof(p), "%s/%s", dir, name) == 0 && stat(p, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .c files directly in dir, sorted (so the link order is stable). */
static char **list_c_files(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	*n = 0;
	if (!d)
		return NULL;
	char **l = NULL;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || !has_suffix(e->d_name, ".c") || !file_in(dir, e->d_name))
			continue;
		char **nl = realloc(l, (*n + 2) * sizeof(*nl));
		if (!nl)
			break;
		l = nl;
		l[(*n)++] = strdup(e->d_name);
		l[*n] = NULL;
	}
	closedir(d);
	if (l)
		qsort(l, *n, sizeof(*l), cmp_str);
	return l;
}

static void free_strv(char **l)
{
	if (!l)
		return;
	for (size_t i = 0; l[i]; i++)
		free(l[i]);
	free(l);
}

const char *build_kind_name(enum app_kind k)
{
	switch (k) {
	case APP_GO: return "go module";
	case APP_C_FILE: return "c file";
	case APP_C_DIR: return "c sources";
	case APP_MAKEFILE: return "makefile";
	default: return "prebuilt binary";
	}
}

int build_detect(const char *app, enum app_kind *kind, char *err)
{
	struct stat st;
	if (stat(app, &st) < 0) {
		mk_seterr(err, "cannot open `%s`: %s", app, strerror(errno));
		return -1;
	}
	if (S_ISREG(st.st_mode)) {
		if (has_suffix(app, ".go")) {
			mk_seterr(err, "`%s` is a Go source file: give its module directory (the one "
			       "with go.mod)", app);
			return -1;
		}
		if (has_suffix(app, ".cc") || has_suffix(app, ".cpp") || has_suffix(app, ".cxx") ||
		    has_suffix(app, ".rs")) {
			mk_seterr(err, "`%s`: mkimage builds Go modules and C sources; build this one "
			       "statically yourself (%s) and give mkimage the binary", app,
			       has_suffix(app, ".rs") ? "cargo build --release --target "
			                               "x86_64-unknown-linux-musl"
			                             : "g++ -static -static-libstdc++");
			return -1;
		}
		*kind = has_suffix(app, ".c") ? APP_C_FILE : APP_ELF;
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		mk_seterr(err, "`%s` is not a regular file or a directory", app);
		return -1;
	}
	if (file_in(app, "go.mod")) {
		*kind = APP_GO;
		return 0;
	}
	if (file_in(app, "Makefile") || file_in(app, "makefile") || file_in(app, "GNUmakefile")) {
		*kind = APP_MAKEFILE;
		return 0;
	}
	if (file_in(app, "Cargo.toml")) {
		mk_seterr(err, "`%s` is a Rust crate: build it with `cargo build --release --target "
		       "x86_64-unknown-linux-musl` (static) and give mkimage the binary", app);
		return -1;
	}
	size_t n;
	char **c = list_c_files(app, &n);
	free_strv(c);
	if (n > 0) {
		*kind = APP_C_DIR;
		return 0;
	}
	mk_seterr(err, "`%s` is a directory with nothing mkimage can build (no go.mod, Makefile "
	       "or .c files): give a static binary, a Go module directory or C sources", app);
	return -1;
}

/* Keeps what a file or directory name can hold; "" becomes "app". */
static char *clean_name(const char *s, size_t len)
{
	char *n = malloc(len + 4);
	if (!n)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.')
			n[j++] = ch;
		else if (j > 0 && n[j - 1] != '-')
			n[j++] = '-';
	}
	while (j > 0 && (n[j - 1] == '-' || n[j - 1] == '.'))
		j--;
	if (j == 0 || n[0] == '.')
		strcpy(n, "app");
	else
		n[j] = '\0';
	return n;
}

/* The last element of the `module` path in go.mod, or NULL. */
static char *go_module_name(const char *dir)
{
	char p[PATH_MAX], line[1024];
	snprintf(p, sizeof(p), "%s/go.mod", dir);
	FILE *f = fopen(p, "re");
	if (!f)
		return NULL;
	char *res = NULL;
	while (fgets(line, sizeof(line), f)) {
		char *s = line + strspn(line, " \t");
		if (strncmp(s, "module", 6) != 0 || (s[6] != ' ' && s[6] != '\t'))
			continue;
		s += 6;
		s += strspn(s, " \t\"");
		size_t l = strcspn(s, " \t\"\r\n/");
		while (s[l] == '/') { /* keep the last element */
			s += l + 1;
			l = strcspn(s, " \t\"\r\n/");
		}
		if (l > 0)
			res = clean_name(s, l);
		break;
	}
	fclose(f);
	return res;
}

char *build_app_name(const char *app, enum app_kind kind)
{
	char real[PATH_MAX];
	if (kind == APP_GO) {
		char *m = go_module_name(app);
		if (m)
			return m;
	}
	const char *src = app;
	if (kind != APP_ELF && kind != APP_C_FILE && realpath(app, real))
		src = real;
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", src);
	size_t l = strlen(tmp);
	while (l > 1 && tmp[l - 1] == '/')
		tmp[--l] = '\0';
	const char *b = strrchr(tmp, '/');
	b = b ? b + 1 : tmp;
	l = strlen(b);
	if (kind == APP_C_FILE && l > 2)
		l -= 2;
	return clean_name(b, l);
}

/* The cache directory: --cache, $XDG_CACHE_HOME/minbase, ~/.cache/minbase. */
int build_cache_dir(const char *opt_dir, char *buf, size_t len, char *err)
{
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	if (opt_dir)
		snprintf(buf, len, "%s", opt_dir);
	else if (x && *x == '/')
		snprintf(buf, len, "%s/minbase", x);
	else if (home && *home == '/')
		snprintf(buf, len, "%s/.cache/minbase", home);
	else {
		mk_seterr(err, "no cache directory: set XDG_CACHE_HOME or HOME, or pass --cache DIR");
		return -1;
	}
	if (util_mkdir_p(buf, true, err) < 0)
		return -1;
	/* Go wants absolute GOCACHE/GOPATH, and the tools run elsewhere. */
	char abs[PATH_MAX];
	if (!realpath(buf, abs) || pathf(buf, len, "%s", abs) < 0) {
		mk_seterr(err, "cannot use the cache directory `%s`: %s", buf, strerror(errno));
		return -1;
	}
	return 0;
}

/* The sysroot: --sysroot, $MINBASE_SYSROOT, or build/sysroot beside
 * build/bin/mkimage.  Returns 0 and an empty buf when there is none. */
static void find_sysroot(const struct build_opts *o, char *buf, size_t len)
{
	struct stat st;
	char cand[PATH_MAX] = "";
	const char *env = getenv("MINBASE_SYSROOT");
	if (o->sysroot)
		snprintf(cand, sizeof(cand), "%s", o->sysroot);
	else if (env && *env)
		snprintf(cand, sizeof(cand), "%s", env);
	else {
		char *self = util_self_dir();
		if (self) {
			snprintf(cand, sizeof(cand), "%s/../sysroot", self);
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
                          char *err)
{
	if (pathf(buf, len, "%s/kh-%s", cache, arch) < 0 || util_mkdir_p(buf, false, err) < 0)
		return -1;
	const char *asmdir = strcmp(arch, "arm64") == 0 ? "/usr/aarch64-linux-gnu/include/asm"
	                                                : "/usr/include/x86_64-linux-gnu/asm";
	const char *links[][2] = { { "linux", "/usr/include/linux" },
	                           { "asm", asmdir },
	                           { "asm-generic", "/usr/include/asm-generic" } };
	for (size_t i = 0; i < 3; i++) {
		char p[PATH_MAX];
		pathf(p, sizeof(p), "%s/%s", buf, links[i][0]);
		if (symlink(links[i][1], p) < 0 && errno != EEXIST) {
			mk_seterr(err, "cannot link kernel headers at `%s`: %s", p, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* A command line or environment list that grows as needed (a directory
 * may hold any number of C files: none is ever dropped). */
struct argv_b {
	char **v;                /* NULL-terminated once anything was added */
	size_t n, cap;
	char **owned;            /* strings made by av_addf, freed by av_free */
	size_t nowned, ocap;
	bool nomem;
};

static bool av_grow(char ***v, size_t *cap, size_t need)
{
	if (need <= *cap)
		return true;
	size_t nc = *cap ? *cap * 2 : 32;
	while (nc < need)
		nc *= 2;
	char **nv = realloc(*v, nc * sizeof(*nv));
	if (!nv)
		return false;
	*v = nv;
	*cap = nc;
	return true;
}

static void av_add(struct argv_b *a, const char *s)
{
	if (!av_grow(&a->v, &a->cap, a->n + 2)) {
		a->nomem = true;
		return;
	}
	a->v[a->n++] = (char *)s;
	a->v[a->n] = NULL;
}

static void av_addf(struct argv_b *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void av_addf(struct argv_b *a, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s || !av_grow(&a->owned, &a->ocap, a->nowned + 1)) {
		free(s);
		a->nomem = true;
		return;
	}
	a->owned[a->nowned++] = s;
	av_add(a, s);
}

static void av_free(struct argv_b *a)
{
	for (size_t i = 0; i < a->nowned; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* util_run of a command line (and extra environment) built here. */
static int av_run(const struct argv_b *a, const struct argv_b *env, const char *dir, char *err)
{
	if (a->nomem || !a->v || (env && env->nomem)) {
		mk_seterr(err, "cannot run a build tool: out of memory");
		return -1;
	}
	return util_run(a->v, env ? env->v : NULL, dir, err);
}

static int build_go(const struct build_opts *o, const char *dir, const char *tmp, char *err)
{
	if (!util_have_program("go")) {
		mk_seterr(err, "cannot build the Go module `%s`: `go` is not installed (run `make deps` "
		       "or install golang-go)", o->app);
		return -1;
	}
	char cache[PATH_MAX];
	if (build_cache_dir(o->cache_dir, cache, sizeof(cache), err) < 0)
		return -1;
	struct argv_b env = { 0 };
	av_add(&env, "CGO_ENABLED=0");
	av_add(&env, "GOOS=linux");
	av_addf(&env, "GOARCH=%s", o->arch);
	if (!strcmp(o->arch, "amd64"))
		av_add(&env, "GOAMD64=v1");
	av_addf(&env, "GOCACHE=%s/go-build", cache);
	av_addf(&env, "GOMODCACHE=%s/go-mod", cache);
	av_addf(&env, "GOPATH=%s/go", cache);
	/* No proxy is reachable and a build must not depend on the network:
	 * modules come from the module cache or vendor/, nothing else. */
	char vend[PATH_MAX];
	bool vendored = pathf(vend, sizeof(vend), "%s/vendor", dir) == 0 &&
	                file_in(vend, "modules.txt");
	av_add(&env, vendored ? "GOFLAGS=-mod=vendor" : "GOFLAGS=-mod=mod");
	av_add(&env, "GOPROXY=off");
	av_add(&env, "GOTOOLCHAIN=local");
	av_add(&env, "GO111MODULE=on");
	av_add(&env, "GOENV=off");
	av_add(&env, "GOWORK=off");
	/* go's own work directory inside ours: removed with it, even when
	 * go is interrupted (it does not clean up after SIGINT). */
	char gotmp[PATH_MAX];
	if (pathf(gotmp, sizeof(gotmp), "%s.gotmp", tmp) < 0 || mkdir(gotmp, 0700) < 0) {
		mk_seterr(err, "cannot create `%s`: %s", gotmp, strerror(errno));
		av_free(&env);
		return -1;
	}
	av_addf(&env, "GOTMPDIR=%s", gotmp);
	struct argv_b a = { 0 };
	av_add(&a, "go");
	av_add(&a, "build");
	av_add(&a, "-trimpath");
	av_add(&a, "-buildvcs=false");
	av_add(&a, "-ldflags=-s -w -buildid=");
	av_add(&a, "-o");
	av_add(&a, tmp);
	av_add(&a, ".");
	int rc = av_run(&a, &env, dir, err);
	av_free(&env);
	av_free(&a);
	util_rm_rf(gotmp);
	if (rc < 0)
		return -1;
	if (rc != 0) {
		mk_seterr(err, "go build of `%s` failed (exit %d): see the compiler's messages above "
		       "(builds are offline: dependencies must be vendored with `go mod vendor` "
		       "or already be in the cache)", o->app, rc);
		return -1;
	}
	return 0;
}

/* The C compiler for arch with its target flags. */
static int c_compiler(const char *arch, struct argv_b *a, char *err)
{
	if (!strcmp(arch, arch_host()) && !strcmp(arch, "amd64")) {
		if (!util_have_program("musl-gcc")) {
			mk_seterr(err, "`musl-gcc` is not installed: run `make deps` (musl-tools)");
			return -1;
		}
		av_add(a, "musl-gcc");
		return 0;
	}
	if (!strcmp(arch, "arm64")) {
		const char *specs = "/usr/lib/aarch64-linux-musl/musl-gcc.specs";
		if (!util_have_program("aarch64-linux-gnu-gcc") || access(specs, R_OK) != 0) {
			mk_seterr(err, "building C for arm64 needs aarch64-linux-gnu-gcc and musl for arm64 "
			       "(`dpkg --add-architecture arm64; apt-get install gcc-aarch64-linux-gnu "
			       "musl-dev:arm64`)");
			return -1;
		}
		av_add(a, "aarch64-linux-gnu-gcc");
		av_add(a, "-specs");
		av_add(a, specs);
		return 0;
	}
	mk_seterr(err, "cannot build C for %s on this machine", arch);
	return -1;
}

static const char *const C_FLAGS[] = {
	"-static", "-Os", "-s", "-pipe", "-ffunction-sections", "-fdata-sections",
	"-Wl,--gc-sections", "-Wl,--build-id=none", "-fstack-protector-strong",
	"-D_FORTIFY_SOURCE=2", NULL,
};

static int c_env_flags(const struct build_opts *o, const char *dir, struct argv_b *a,
                       bool *libs, char *err)
{
	char sys[PATH_MAX];
	*libs = false;
	find_sysroot(o, sys, sizeof(sys));
	for (size_t i = 0; C_FLAGS[i]; i++)
		av_add(a, C_FLAGS[i]);
	/* Reproducible: no absolute source paths, no random symbol names. */
	av_addf(a, "-ffile-prefix-map=%s=.", dir);
	av_add(a, "-frandom-seed=minbase");
	if (sys[0] && !strcmp(o->arch, "amd64")) {
		av_addf(a, "-isystem%s/kh", sys);
		av_addf(a, "-isystem%s/include", sys);
		av_addf(a, "-L%s/lib", sys);
		*libs = true;
	} else {
		char cache[PATH_MAX], kh[PATH_MAX];
		if (build_cache_dir(o->cache_dir, cache, sizeof(cache), err) < 0 ||
		    kernel_headers(cache, o->arch, kh, sizeof(kh), err) < 0)
			return -1;
		av_addf(a, "-isystem%s", kh);
	}
	return 0;
}

static int build_c(const struct build_opts *o, enum app_kind kind, const char *dir,
                   const char *file, const char *tmp, char *err)
{
	struct argv_b a = { 0 };
	bool libs;
	int rc = -1;
	char **files = NULL;
	if (c_compiler(o->arch, &a, err) < 0 || c_env_flags(o, dir, &a, &libs, err) < 0)
		goto out;
	av_add(&a, "-o");
	av_add(&a, tmp);
	if (kind == APP_C_FILE) {
		av_add(&a, file);
	} else {
		size_t n;
		files = list_c_files(dir, &n);
		for (size_t i = 0; i < n; i++)
			av_add(&a, files[i]);
	}
	/* libcap and libseccomp from the sysroot, for services that use them;
	 * a static link only pulls what is referenced. */
	if (libs) {
		av_add(&a, "-lseccomp");
		av_add(&a, "-lcap");
	}
	struct argv_b env = { 0 };
	if (!getenv("SOURCE_DATE_EPOCH"))
		av_add(&env, "SOURCE_DATE_EPOCH=0");
	rc = av_run(&a, &env, dir, err);
	av_free(&env);
	if (rc > 0) {
		mk_seterr(err, "compiling `%s` failed (exit %d): see the compiler's messages above",
		       o->app, rc);
		rc = -1;
	}
out:
	free_strv(files);
	av_free(&a);
	return rc;
}

/* `make` with CC=musl-gcc and static flags, then the one new executable. */
static int build_make(const struct build_opts *o, const char *dir, const char *tmp, char *err)
{
	struct argv_b cc = { 0 }, fl = { 0 }, a = { 0 };
	bool libs;
	int rc = -1;
	if (c_compiler(o->arch, &cc, err) < 0 || c_env_flags(o, dir, &fl, &libs, err) < 0)
		goto out;
	char ccs[1024] = "", cfl[4096] = "", ldf[1024] = "-static -s -Wl,--gc-sections";
	bool cut = false;
	for (size_t i = 0; i < cc.n; i++)
		cut |= pathf(ccs + strlen(ccs), sizeof(ccs) - strlen(ccs), "%s%s", i ? " " : "",
		             cc.v[i]) < 0;
	for (size_t i = 0; i < fl.n; i++)
		if (strncmp(fl.v[i], "-Wl,", 4) && strcmp(fl.v[i], "-static") && strcmp(fl.v[i], "-s"))
			cut |= pathf(cfl + strlen(cfl), sizeof(cfl) - strlen(cfl), "%s%s",
			             *cfl ? " " : "", fl.v[i]) < 0;
	/* A cut flag list would build with other flags than ours, silently. */
	if (cut) {
		mk_seterr(err, "cannot build with make: the compiler flags are longer than %zu bytes "
		       "(a very long path to the sources or the sysroot?): `%.200s`", sizeof(cfl) - 1,
		       o->app);
		goto out;
	}
	av_add(&a, "make");
	/* -B: everything is made again, with our CC and flags.  Without it a
	 * second mkimage of the same directory (or one after a plain `make`)
	 * found the program up to date, older than the start of make, and
	 * failed with "built no new executable". */
	av_add(&a, "-B");
	if (o->quiet)
		av_add(&a, "-s"); /* no command echo; errors still print */
	av_addf(&a, "CC=%s", ccs);
	av_addf(&a, "CFLAGS=%s", cfl);
	av_addf(&a, "LDFLAGS=%s", ldf);
	time_t start = time(NULL);
	struct argv_b env = { 0 };
	if (!getenv("SOURCE_DATE_EPOCH"))
		av_add(&env, "SOURCE_DATE_EPOCH=0");
	rc = av_run(&a, &env, dir, err);
	av_free(&env);
	if (rc != 0) {
		if (rc > 0)
			mk_seterr(err, "make in `%s` failed (exit %d): see its messages above", o->app, rc);
		rc = -1;
		goto out;
	}
	/* The program the Makefile made: an ELF executable at the top of dir,
	 * newer than the start of make; the dir's own name wins a tie. */
	rc = -1;
	DIR *d = opendir(dir);
	if (!d) {
		mk_seterr(err, "cannot read `%s`: %s", dir, strerror(errno));
		goto out;
	}
	char found[PATH_MAX] = "", names[512] = "";
	int nfound = 0;
	char *want = build_app_name(dir, APP_MAKEFILE);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char p[PATH_MAX];
		struct stat st;
		unsigned char mag[4];
		if (pathf(p, sizeof(p), "%s/%s", dir, e->d_name) < 0)
			continue;
		if (e->d_name[0] == '.' || stat(p, &st) < 0 || !S_ISREG(st.st_mode) ||
		    !(st.st_mode & 0111) || st.st_mtime < start - 1)
			continue;
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		ssize_t r = fd >= 0 ? read(fd, mag, 4) : -1;
		if (fd >= 0)
			close(fd);
		if (r != 4 || memcmp(mag, "\177ELF", 4) != 0)
			continue;
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
		         nfound ? ", " : "", e->d_name);
		if (nfound == 0 || (want && !strcmp(e->d_name, want)))
			snprintf(found, sizeof(found), "%s", p);
		nfound++;
	}
	closedir(d);
	bool named = want && found[0] && !strcmp(strrchr(found, '/') + 1, want);
	free(want);
	if (nfound == 0) {
		mk_seterr(err, "make in `%s` built no new executable at the top of the directory", o->app);
		goto out;
	}
	if (nfound > 1 && !named) {
		mk_seterr(err, "make in `%s` built several programs (%s): build the one you want and "
		       "give mkimage that binary", o->app, names);
		goto out;
	}
	struct argv_b cp = { 0 };
	av_add(&cp, "cp");
	av_add(&cp, found);
	av_add(&cp, tmp);
	rc = av_run(&cp, NULL, NULL, err) == 0 ? 0 : -1;
	av_free(&cp);
	if (rc < 0)
		mk_seterr(err, "cannot copy `%s` to `%s`", found, tmp);
out:
	av_free(&cc);
	av_free(&fl);
	av_free(&a);
	return rc;
}

int build_app(const struct build_opts *o, enum app_kind *kindp, char *err)
{
	enum app_kind kind;
	if (build_detect(o->app, &kind, err) < 0)
		return -1;
	if (kindp)
		*kindp = kind;
	char dir[PATH_MAX], file[PATH_MAX] = "", outdir[PATH_MAX], tmp[PATH_MAX];
	/* Output: a temporary name beside o->out, absolute (the tools run in
	 * the source directory). */
	char obuf[PATH_MAX];
	snprintf(obuf, sizeof(obuf), "%s", o->out);
	const char *od = dirname(obuf);
	if (!realpath(od, outdir)) {
		mk_seterr(err, "cannot write `%s`: directory `%s`: %s", o->out, od, strerror(errno));
		return -1;
	}
	if (access(outdir, W_OK | X_OK) < 0) {
		mk_seterr(err, "cannot write `%s`: directory `%s`: %s", o->out, od, strerror(errno));
		return -1;
	}
	/* A private directory beside the output: tools (go) refuse to
	 * overwrite a file they did not make, so the binary is new in it. */
	char tdir[PATH_MAX];
	snprintf(obuf, sizeof(obuf), "%s", o->out);
	int n = snprintf(tdir, sizeof(tdir), "%s/.%s.mkimage-XXXXXX", outdir, basename(obuf));
	if (n < 0 || n >= (int)sizeof(tdir) - 8) {
		mk_seterr(err, "path too long: `%s`", o->out);
		return -1;
	}
	if (!mkdtemp(tdir)) {
		mk_seterr(err, "cannot write `%s`: %s", o->out, strerror(errno));
		return -1;
	}
	pathf(tmp, sizeof(tmp), "%s/out", tdir);
	int slot = util_cleanup_push(tdir, tmp);

	int rc = -1;
	if (kind == APP_C_FILE) {
		char fb[PATH_MAX];
		snprintf(fb, sizeof(fb), "%s", o->app);
		if (!realpath(dirname(fb), dir)) {
			mk_seterr(err, "cannot open `%s`: %s", o->app, strerror(errno));
			goto out;
		}
		snprintf(fb, sizeof(fb), "%s", o->app);
		snprintf(file, sizeof(file), "%s", basename(fb));
	} else if (!realpath(o->app, dir)) {
		mk_seterr(err, "cannot open `%s`: %s", o->app, strerror(errno));
		goto out;
	}

	switch (kind) {
	case APP_GO: rc = build_go(o, dir, tmp, err); break;
	case APP_C_FILE:
	case APP_C_DIR: rc = build_c(o, kind, dir, file, tmp, err); break;
	case APP_MAKEFILE: rc = build_make(o, dir, tmp, err); break;
	case APP_ELF: {
		struct argv_b cp = { 0 };
		av_add(&cp, "cp");
		av_add(&cp, o->app);
		av_add(&cp, tmp);
		/* check first: a dynamic binary is refused before any copy */
		rc = elf_check_static(o->app, o->arch, NULL, err);
		if (rc == 0 && av_run(&cp, NULL, NULL, err) != 0) {
			mk_seterr(err, "cannot copy `%s` to `%s`", o->app, o->out);
			rc = -1;
		}
		av_free(&cp);
		break;
	}
	}
	if (rc < 0)
		goto out;
	char cerr[MB_ERRLEN];
	if (elf_check_static(tmp, o->arch, NULL, cerr) < 0) {
		/* Name the user's app, not our temporary file. */
		const char *why = strstr(cerr, "` ");
		mk_seterr(err, "the build of `%s` is not usable: %s", o->app, why ? why + 2 : cerr);
		rc = -1;
		goto out;
	}
	if (chmod(tmp, 0755) < 0 || rename(tmp, o->out) < 0) {
		mk_seterr(err, "cannot write `%s`: %s", o->out, strerror(errno));
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	util_rm_rf(tdir);
	util_cleanup_pop(slot);
	return rc;
}

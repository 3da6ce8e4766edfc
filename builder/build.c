/* Static build drivers, the common part: which kind of APP a path is, the
 * name its service gets, and build_app, which runs a driver (build_go.c:
 * a Go package; build_c.c: C sources, a Makefile or CMake project) or
 * copies a prebuilt ELF.  Whatever the route, the result is checked to be
 * static for the target architecture before it is renamed into place;
 * nothing half-built is left at the output path. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"

bool build_has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

bool build_file_in(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;
	return util_pathf(p, sizeof(p), "%s/%s", dir, name) == 0 && stat(p, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **build_list_files(const char *dir, const char *suffix, size_t *n)
{
	DIR *d = opendir(dir);
	*n = 0;
	if (!d)
		return NULL;
	char **l = NULL;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || !build_has_suffix(e->d_name, suffix) ||
		    !build_file_in(dir, e->d_name))
			continue;
		if (strv_push(&l, n, e->d_name) < 0)
			break;
	}
	closedir(d);
	if (l)
		qsort(l, *n, sizeof(*l), cmp_str);
	return l;
}

const char *build_kind_name(enum app_kind k)
{
	switch (k) {
	case APP_GO: return "go module";
	case APP_C_FILE: return "c file";
	case APP_C_DIR: return "c sources";
	case APP_MAKEFILE: return "makefile";
	case APP_CMAKE: return "cmake project";
	default: return "prebuilt binary";
	}
}

static size_t count_files(const char *dir, const char *suffix)
{
	size_t n;
	strv_free(build_list_files(dir, suffix, &n));
	return n;
}

int build_detect(const char *app, enum app_kind *kind, struct mb_err *err)
{
	struct stat st;
	if (stat(app, &st) < 0)
		return mb_error(err, errno, "cannot open `%s`", app);
	if (S_ISREG(st.st_mode)) {
		if (build_has_suffix(app, ".go"))
			return mb_error(err, 0, "`%s` is a Go source file: give its package directory (as with "
			       "`go build ./cmd/NAME`)", app);
		if (build_has_suffix(app, ".cc") || build_has_suffix(app, ".cpp") ||
		    build_has_suffix(app, ".cxx") || build_has_suffix(app, ".rs"))
			return mb_error(err, 0, "`%s`: mkimage builds Go modules and C sources; build this one "
			       "statically yourself (%s) and give mkimage the binary", app,
			       build_has_suffix(app, ".rs") ? "cargo build --release --target "
			                                           "x86_64-unknown-linux-musl"
			                                         : "g++ -static -static-libstdc++");
		*kind = build_has_suffix(app, ".c") ? APP_C_FILE : APP_ELF;
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return mb_error(err, 0, "`%s` is not a regular file or a directory", app);
	/* A build file in the directory itself decides; then Go files in a
	 * module (a package such as ./cmd/server); then C files; then any
	 * directory of a module (go list then names its main packages). */
	char root[PATH_MAX];
	bool in_module = build_go_root(app, root, sizeof(root)) == 0;
	if (build_file_in(app, "go.mod"))
		*kind = APP_GO;
	else if (build_file_in(app, "CMakeLists.txt"))
		*kind = APP_CMAKE;
	else if (build_file_in(app, "Makefile") || build_file_in(app, "makefile") ||
	         build_file_in(app, "GNUmakefile"))
		*kind = APP_MAKEFILE;
	else if (build_file_in(app, "Cargo.toml")) {
		return mb_error(err, 0, "`%s` is a Rust crate: build it with `cargo build --release --target "
		       "x86_64-unknown-linux-musl` (static) and give mkimage the binary", app);
	} else if (in_module && count_files(app, ".go") > 0)
		*kind = APP_GO;
	else if (count_files(app, ".c") > 0)
		*kind = APP_C_DIR;
	else if (in_module)
		*kind = APP_GO;
	else {
		return mb_error(err, 0, "`%s` is a directory with nothing mkimage can build (no go.mod, "
		       "Makefile, CMakeLists.txt or .c files): give a static binary, a Go package "
		       "directory or C sources", app);
	}
	return 0;
}

/* The reference grammar's pass (MK_NAME_REF), in place over a clean file
 * name: lowercase; a separator run is kept where the grammar allows it
 * (one `.` `_` or `-`, `__`, any run of `-`) and not at the start, any
 * other becomes one `-`; none at the end. */
static void ref_component(char *d)
{
	const char *s = d;
	size_t len = strlen(s), j = 0;
	/* j never passes i: what is written is never longer than what is read */
	for (size_t i = 0; i < len;) {
		char ch = s[i];
		if (!strchr("._-", ch)) {
			d[j++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
			i++;
			continue;
		}
		size_t r = strspn(s + i, "._-");
		bool dashes = strspn(s + i, "-") == r;
		if (j > 0 && (r == 1 || dashes || (r == 2 && !strncmp(s + i, "__", 2)))) {
			memmove(d + j, s + i, r);
			j += r;
		} else if (j > 0) {
			d[j++] = '-';
		}
		i += r;
	}
	while (j > 0 && strchr("._-", d[j - 1]))
		j--;
	if (j == 0)
		strcpy(d, "app");
	else
		d[j] = '\0';
}

char *mk_clean_name(const char *s, size_t len, enum mk_name_kind kind)
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
	if (kind == MK_NAME_REF)
		ref_component(n);
	return n;
}

char *build_app_name(const char *app, enum app_kind kind)
{
	char real[PATH_MAX];
	if (kind == APP_GO) {
		char *m = build_go_name(app);
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
	return mk_clean_name(b, l, MK_NAME_FILE);
}

/* The cache directory: --cache, $XDG_CACHE_HOME/minbase, ~/.cache/minbase. */
int build_cache_dir(const char *opt_dir, char *buf, size_t len, struct mb_err *err)
{
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	if (opt_dir)
		snprintf(buf, len, "%s", opt_dir);
	else if (x && *x == '/')
		snprintf(buf, len, "%s/minbase", x);
	else if (home && *home == '/')
		snprintf(buf, len, "%s/.cache/minbase", home);
	else {
		return mb_error(err, 0, "no cache directory: set XDG_CACHE_HOME or HOME, or pass --cache DIR");
	}
	if (rootfs_mkdir_p(buf, 0755, 0700, err) < 0)
		return -1;
	/* Go wants absolute GOCACHE/GOPATH, and the tools run elsewhere. */
	char abs[PATH_MAX];
	if (!realpath(buf, abs) || util_pathf(buf, len, "%s", abs) < 0)
		return mb_error(err, errno, "cannot use the cache directory `%s`", buf);
	return 0;
}

int build_app(struct build_opts *o, enum app_kind *kindp, struct mb_err *err)
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
	if (image_check_output(o->out, err) < 0)
		return -1;
	if (!realpath(od, outdir))
		return mb_error(err, errno, "cannot write `%s`: directory `%s`", o->out, od);
	/* A private directory beside the output: tools (go) refuse to
	 * overwrite a file they did not make, so the binary is new in it.  It
	 * is rootfs_temp_make's (locked while we build: a killed build's is
	 * swept by the next image written there). */
	char tdir[PATH_MAX], tname[NAME_MAX + 1];
	snprintf(obuf, sizeof(obuf), "%s", o->out);
	int odfd = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int tfd = odfd < 0 ? -1 : rootfs_temp_make(odfd, basename(obuf), true, tname, sizeof(tname));
	if (tfd < 0 || util_pathf(tdir, sizeof(tdir), "%s/%s", outdir, tname) < 0 ||
	    util_pathf(tmp, sizeof(tmp), "%s/out", tdir) < 0) {
		mb_error(err, 0, "cannot write `%s`: %s", o->out,
		         tfd < 0 ? strerror(errno) : "path too long");
		if (tfd >= 0) {
			unlinkat(odfd, tname, AT_REMOVEDIR);
			close(tfd);
		}
		if (odfd >= 0)
			close(odfd);
		return -1;
	}
	close(odfd);
	int slot = util_cleanup_push(tdir, tmp);

	int rc = -1;
	if (kind == APP_C_FILE) {
		char fb[PATH_MAX];
		snprintf(fb, sizeof(fb), "%s", o->app);
		if (!realpath(dirname(fb), dir)) {
			mb_error(err, errno, "cannot open `%s`", o->app);
			goto out;
		}
		snprintf(fb, sizeof(fb), "%s", o->app);
		snprintf(file, sizeof(file), "%s", basename(fb));
	} else if (!realpath(o->app, dir)) {
		mb_error(err, errno, "cannot open `%s`", o->app);
		goto out;
	}

	switch (kind) {
	case APP_GO: rc = build_go(o, dir, tmp, err); break;
	case APP_C_FILE:
	case APP_C_DIR: rc = build_c(o, kind, dir, file, tmp, err); break;
	case APP_MAKEFILE: rc = build_make(o, dir, tmp, err); break;
	case APP_CMAKE: rc = build_cmake(o, dir, tmp, err); break;
	case APP_ELF:
		/* check first: a dynamic binary is refused before any copy */
		rc = elf_check_static(o->app, o->arch, NULL, err);
		if (rc == 0)
			rc = util_copy_file(o->app, tmp, err);
		break;
	}
	if (rc < 0)
		goto out;
	/* The verdict names the user's app, not our temporary file. */
	if (elf_check_static_as(tmp, o->app, o->arch, NULL, err) < 0) {
		rc = mb_wrap(err, "the build of `%s` is not usable", o->app);
		goto out;
	}
	if (chmod(tmp, 0755) < 0 || rootfs_replace_file(AT_FDCWD, tmp, o->out) < 0) {
		rc = mb_error(err, errno, "cannot write `%s`", o->out);
		goto out;
	}
	rc = 0;
out:
	util_rm_rf(tdir);
	util_cleanup_pop(slot);
	close(tfd);
	return rc;
}

/* The Go driver: a main package anywhere in a module, built as `go build`
 * builds it on the user's machine.  The module root is the nearest go.mod
 * above the package; the user's Go environment (GOPROXY, GOFLAGS, GOCACHE,
 * go env -w, go.work...) is inherited as it is, and only minbase's own
 * settings are added: CGO_ENABLED=0, GOOS/GOARCH, -trimpath, -buildvcs=false
 * and -ldflags=-s -w -buildid= after the user's ldflags.  The toolchain is
 * the newest Go found that satisfies the module's `go` line (or --go / $GO).
 * A failure is explained from go's own output where it says more than "it
 * failed": a missing module, a Go too old, a directory that is no main. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"

int build_go_root(const char *dir, char *root, size_t len)
{
	char cur[PATH_MAX];
	if (!realpath(dir, cur))
		return -1;
	for (;;) {
		if (build_file_in(cur, "go.mod"))
			return util_pathf(root, len, "%s", cur);
		char *slash = strrchr(cur, '/');
		if (!slash || slash == cur)
			return -1;
		*slash = '\0';
	}
}

/* The value of the first `KEY value` line of a go.mod or go.work file. */
static int gomod_field(const char *file, const char *key, char *val, size_t len)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return -1;
	char line[1024];
	size_t kl = strlen(key);
	int rc = -1;
	while (fgets(line, sizeof(line), f)) {
		char *s = line + strspn(line, " \t");
		if (strncmp(s, key, kl) != 0 || (s[kl] != ' ' && s[kl] != '\t'))
			continue;
		s += kl;
		s += strspn(s, " \t\"");
		size_t l = strcspn(s, " \t\"\r\n");
		if (l > 0 && l < len) {
			memcpy(val, s, l);
			val[l] = '\0';
			rc = 0;
		}
		break;
	}
	fclose(f);
	return rc;
}

char *build_go_name(const char *dir)
{
	char root[PATH_MAX], real[PATH_MAX], mod[512];
	if (!realpath(dir, real) || build_go_root(dir, root, sizeof(root)) < 0)
		return NULL;
	if (strcmp(root, real) != 0) {
		const char *b = strrchr(real, '/');
		return mk_clean_name(b + 1, strlen(b + 1), MK_NAME_FILE);
	}
	char gm[PATH_MAX];
	if (util_pathf(gm, sizeof(gm), "%s/go.mod", root) < 0 ||
	    gomod_field(gm, "module", mod, sizeof(mod)) < 0)
		return NULL;
	/* As go build: the last path element, skipping a major version (/v2). */
	char *last = strrchr(mod, '/');
	if (last && last[1] == 'v' && last[2] && strspn(last + 2, "0123456789") == strlen(last + 2) &&
	    last != mod) {
		*last = '\0';
		last = strrchr(mod, '/');
	}
	last = last ? last + 1 : mod;
	return mk_clean_name(last, strlen(last), MK_NAME_FILE);
}

/* ---- toolchains ---------------------------------------------------------- */

struct gover {
	int v[3];
};

/* "1.22", "1.22.3", "go1.23.5", "1.21rc1" (as 1.21.0). */
static int gover_parse(const char *s, struct gover *g)
{
	if (!strncmp(s, "go", 2))
		s += 2;
	memset(g, 0, sizeof(*g));
	for (int i = 0; i < 3; i++) {
		char *end;
		long n = strtol(s, &end, 10);
		if (end == s || n < 0 || n > 100000)
			return i >= 2 ? 0 : -1;
		g->v[i] = (int)n;
		if (*end != '.')
			return i >= 1 ? 0 : -1;
		s = end + 1;
	}
	return 0;
}

static int gover_cmp(const struct gover *a, const struct gover *b)
{
	for (int i = 0; i < 3; i++)
		if (a->v[i] != b->v[i])
			return a->v[i] < b->v[i] ? -1 : 1;
	return 0;
}

int build_go_version_cmp(const char *a, const char *b)
{
	struct gover x, y;
	if (gover_parse(a, &x) < 0 || gover_parse(b, &y) < 0)
		return -2;
	return gover_cmp(&x, &y);
}

/* The version of the go command at path: $GOROOT/VERSION beside its bin/
 * (no process to start), else `go env GOVERSION`. */
static int go_version(const char *path, struct gover *g, char *vs, size_t vlen)
{
	char real[PATH_MAX], vf[PATH_MAX], line[64] = "";
	if (realpath(path, real)) {
		char *d = dirname(dirname(real));
		FILE *f = util_pathf(vf, sizeof(vf), "%s/VERSION", d) == 0 ? fopen(vf, "re") : NULL;
		if (f) {
			if (!fgets(line, sizeof(line), f))
				line[0] = '\0';
			fclose(f);
		}
	}
	if (strncmp(line, "go", 2) != 0) {
		char out[256];
		struct mb_err e = {0};
		char *argv[] = { (char *)path, "env", "GOVERSION", NULL };
		if (util_run_capture(argv, NULL, out, sizeof(out), &e) != 0)
			return -1;
		(void)util_pathf(line, sizeof(line), "%.60s", out);
	}
	line[strcspn(line, " \r\n")] = '\0';
	if (gover_parse(line, g) < 0)
		return -1;
	snprintf(vs, vlen, "%s", line + 2);
	return 0;
}

/* The go command to use: --go, $GO, else the newest of `go` on PATH and
 * /usr/lib/go-1.N/bin/go that satisfies need (the module's go line).  */
static int go_pick(const struct build_opts *o, const struct gover *need, const char *needs,
                   const char *root, char *go, size_t len, struct mb_err *err)
{
	const char *given = o->go ? o->go : getenv("GO");
	const char *gvia = o->go ? "--go" : "$GO";
	struct gover g;
	char vs[64];
	if (given && *given) {
		if (!util_have_program(given) || go_version(given, &g, vs, sizeof(vs)) < 0)
			return mb_error(err, 0, "%s `%s` is not a working go command: give the path of a Go "
			       "toolchain's bin/go", gvia, given);
		const char *tc = getenv("GOTOOLCHAIN");
		if (needs[0] && gover_cmp(&g, need) < 0 && !(tc && *tc && strcmp(tc, "local")))
			return mb_error(err, 0, "the Go module at `%s` needs Go %s (its go.mod says `go %s`), and "
			       "%s `%s` is Go %s: give a newer one", root, needs, needs, gvia, given, vs);
		util_pathf(go, len, "%s", given);
		return 0;
	}
	char found[PATH_MAX * 2] = "", seen[8][PATH_MAX];
	size_t nseen = 0;
	struct gover best = { { -1, 0, 0 } };
	char cands[16][PATH_MAX];
	size_t nc = 0;
	const char *path = getenv("PATH");
	for (const char *p = path ? path : ""; *p && nc < 8;) {
		size_t l = strcspn(p, ":");
		if (l > 0 && util_pathf(cands[nc], PATH_MAX, "%.*s/go", (int)l, p) == 0 &&
		    access(cands[nc], X_OK) == 0) {
			nc++;
			break; /* the first go on PATH is the user's go */
		}
		p += l;
		if (*p == ':')
			p++;
	}
	glob_t gl;
	if (glob("/usr/lib/go-1.*/bin/go", 0, NULL, &gl) == 0) {
		for (size_t i = 0; i < gl.gl_pathc && nc < 16; i++)
			util_pathf(cands[nc++], PATH_MAX, "%s", gl.gl_pathv[i]);
		globfree(&gl);
	}
	go[0] = '\0';
	for (size_t i = 0; i < nc; i++) {
		char real[PATH_MAX];
		if (!realpath(cands[i], real))
			continue;
		bool dup = false;
		for (size_t j = 0; j < nseen; j++)
			dup |= !strcmp(seen[j], real);
		if (dup || nseen >= 8 || go_version(cands[i], &g, vs, sizeof(vs)) < 0)
			continue;
		snprintf(seen[nseen++], PATH_MAX, "%s", real);
		size_t fl = strlen(found);
		(void)util_pathf(found + fl, sizeof(found) - fl, "%s%s (%s)", fl ? ", " : "", vs,
		                 cands[i]);
		if (gover_cmp(&g, &best) > 0) {
			best = g;
			util_pathf(go, len, "%s", cands[i]);
		}
	}
	if (!go[0])
		return mb_error(err, 0, "cannot build the Go package `%s`: no Go toolchain found (`go` on PATH, "
		       "/usr/lib/go-1.*/bin/go): run `make deps` or install golang-go", o->app);
	/* go 1.21+ may fetch the toolchain go.mod asks for, but only when the
	 * user asked for that explicitly (GOTOOLCHAIN other than local): a
	 * download that cannot happen otherwise only hides the real cause. */
	const char *tc = getenv("GOTOOLCHAIN");
	if (needs[0] && gover_cmp(&best, need) < 0 && !(tc && *tc && strcmp(tc, "local")))
		return mb_error(err, 0, "the Go module at `%s` needs Go %s (its go.mod says `go %s`), and the "
		       "Go toolchains found are older: %s; install a newer Go (`make deps` installs "
		       "golang-1.23 from bookworm-backports) or give one with --go PATH", root, needs,
		       needs, found);
	return 0;
}

/* ---- what go said -------------------------------------------------------- */

/* The word after marker in out (a module or package path), or NULL. */
static const char *word_after(const char *out, const char *marker, char *w, size_t len)
{
	const char *p = strstr(out, marker);
	if (!p)
		return NULL;
	p += strlen(marker);
	p += strspn(p, " \"");
	size_t l = strcspn(p, " \"\r\n:;");
	if (l == 0 || l >= len)
		return NULL;
	memcpy(w, p, l);
	w[l] = '\0';
	return w;
}

/* The module go could not find, from its messages. */
const char *build_go_missing_module(const char *out, char *w, size_t len)
{
	static const char *const markers[] = {
		"no required module provides package ",
		"missing go.sum entry for module providing package ",
		"cannot find module providing package ",
		NULL,
	};
	for (size_t i = 0; markers[i]; i++)
		if (word_after(out, markers[i], w, len))
			return w;
	/* "go: downloading example.com/x v1.0.0" then a failed lookup ("module
	 * lookup disabled by GOPROXY=off", "reading https://...: 404") */
	if (!strstr(out, "module lookup disabled") && !strstr(out, ": reading http") &&
	    !strstr(out, "unrecognized import path") && !strstr(out, "dial tcp"))
		return NULL;
	const char *d = strstr(out, "go: downloading ");
	if (d) {
		d += strlen("go: downloading ");
		size_t l = strcspn(d, " \r\n");
		size_t v = d[l] == ' ' ? strcspn(d + l + 1, " \r\n") : 0;
		if (l > 0 && l + v + 2 < len) {
			memcpy(w, d, l);
			w[l] = '\0';
			if (v)
				snprintf(w + l, len - l, "@%.*s", (int)v, d + l + 1);
			return w;
		}
	}
	/* "example.com/x@v1.0.0: module lookup disabled by GOPROXY=off" */
	for (const char *p = strchr(out, '@'); p; p = strchr(p + 1, '@')) {
		const char *s = p, *e = p;
		while (s > out && !strchr(" \t\n\"", s[-1]))
			s--;
		while (*e && *e != ':' && !strchr(" \t\n\"", *e))
			e++;
		if (*e == ':' && e > p + 1 && (size_t)(e - s) < len) {
			memcpy(w, s, (size_t)(e - s));
			w[e - s] = '\0';
			return w;
		}
	}
	return NULL;
}

/* Package clauses of the non-test .go files of dir: 1 all main, 0 none is
 * main (or no Go files), -1 mixed (go build will say what is wrong).
 * Files excluded with `//go:build ignore` (generators) do not count. */
static int scan_main(const char *dir, char *pkg, size_t plen)
{
	size_t n;
	char **files = build_list_files(dir, ".go", &n);
	int main_n = 0, other_n = 0;
	pkg[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (build_has_suffix(files[i], "_test.go"))
			continue;
		char p[PATH_MAX], line[512];
		FILE *f = util_pathf(p, sizeof(p), "%s/%s", dir, files[i]) == 0 ? fopen(p, "re") : NULL;
		if (!f)
			continue;
		bool ignored = false, in_block = false;
		while (fgets(line, sizeof(line), f)) {
			char *s = line + strspn(line, " \t");
			if (in_block) {
				in_block = !strstr(s, "*/");
				continue;
			}
			if (!strncmp(s, "//go:build", 10) && strstr(s, "ignore"))
				ignored = true;
			if (!strncmp(s, "/*", 2)) {
				in_block = !strstr(s + 2, "*/");
				continue;
			}
			if (strncmp(s, "package", 7) || (s[7] != ' ' && s[7] != '\t'))
				continue;
			s += 8;
			s += strspn(s, " \t");
			s[strcspn(s, " \t\r\n/;")] = '\0';
			if (!ignored) {
				if (!strcmp(s, "main"))
					main_n++;
				else {
					other_n++;
					snprintf(pkg, plen, "%s", s);
				}
			}
			break;
		}
		fclose(f);
	}
	strv_free(files);
	return main_n && !other_n ? 1 : main_n ? -1 : 0;
}

/* The message for a directory that is not a main package: the module's
 * main packages, as `go list` sees them (relative to the module root). */
static void not_main(const struct build_opts *o, const char *go, const char *root,
                     const char *pkg, struct mb_err *err)
{
	char out[8192], list[1024] = "";
	struct mb_err e = {0};
	char *argv[] = { (char *)go, "list", "-e", "-f", "{{if eq .Name \"main\"}}{{.Dir}}{{end}}",
	                 "./...", NULL };
	int rc = util_run_capture(argv, root, out, sizeof(out), &e);
	size_t rl = strlen(root), count = 0;
	for (char *l = out; rc == 0 && *l;) {
		size_t n = strcspn(l, "\n");
		if (n > rl && !strncmp(l, root, rl) && l[rl] == '/') {
			size_t ll = strlen(list);
			snprintf(list + ll, sizeof(list) - ll, "%s./%.*s", ll ? ", " : "",
			         (int)(n - rl - 1), l + rl + 1);
			count++;
		}
		l += n;
		if (*l)
			l++;
	}
	char what[160];
	if (pkg[0])
		snprintf(what, sizeof(what), "the package `%s`, not main", pkg);
	else
		snprintf(what, sizeof(what), "no Go package");
	if (count)
		mb_error(err, 0, "`%s` holds %s: give one of the main packages of the module at `%s`: "
		       "%s", o->app, what, root, list);
	else
		mb_error(err, 0, "`%s` holds %s, and the module at `%s` has no main package%s", o->app,
		       what, root, rc == 0 ? "" : " that `go list` could read");
}

/* Go's lock files for downloads that never happened: `go build` with a
 * module it cannot fetch leaves empty `@v/VERSION.lock` files behind. */
static time_t lock_since;
static int rm_new_lock(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_F && st->st_size == 0 && st->st_mtime >= lock_since &&
	    build_has_suffix(path, ".lock"))
		unlink(path);
	else if (flag == FTW_DP && st->st_mtime >= lock_since)
		rmdir(path); /* only when empty: what the failed lookup made */
	return 0;
}

static void clean_locks(const char *go, const char *cache, time_t since)
{
	char dl[PATH_MAX], out[PATH_MAX] = "";
	struct mb_err e = {0};
	const char *mc = getenv("GOMODCACHE");
	if (cache)
		util_pathf(out, sizeof(out), "%s/go-mod", cache);
	else if (mc && *mc)
		util_pathf(out, sizeof(out), "%s", mc);
	else {
		char *argv[] = { (char *)go, "env", "GOMODCACHE", NULL };
		if (util_run_capture(argv, NULL, out, sizeof(out), &e) != 0)
			return;
		out[strcspn(out, "\r\n")] = '\0';
	}
	if (!out[0] || util_pathf(dl, sizeof(dl), "%s/cache/download", out) < 0)
		return;
	lock_since = since;
	nftw(dl, rm_new_lock, 16, FTW_DEPTH | FTW_PHYS);
	/* and the folders above, when this build made them and they are empty */
	char up[PATH_MAX];
	struct stat st;
	if (util_pathf(up, sizeof(up), "%s/cache", out) == 0 && stat(up, &st) == 0 &&
	    st.st_mtime >= since)
		rmdir(up);
	if (cache && stat(out, &st) == 0 && st.st_mtime >= since)
		rmdir(out);
}

/* ---- the build ------------------------------------------------------------ */

/* GOFLAGS entries -ldflags= and -tags= move to the command line (joined
 * with minbase's and --ldflags/--tags: on the command line they would
 * replace the user's); the rest stays in GOFLAGS.  Returns whether GOFLAGS
 * changed. */
static bool split_goflags(char *rest, size_t rlen, char *ld, size_t ldlen, char *tags,
                          size_t tlen)
{
	const char *gf = getenv("GOFLAGS");
	bool changed = false;
	rest[0] = ld[0] = tags[0] = '\0';
	for (const char *p = gf ? gf : ""; *p;) {
		p += strspn(p, " \t\n");
		size_t l = strcspn(p, " \t\n");
		if (!l)
			break;
		const char *v = NULL;
		char *dst = NULL;
		size_t dlen = 0;
		const char *f = p + (p[1] == '-' ? 2 : 1);
		if (!strncmp(f, "ldflags=", 8)) {
			v = f + 8, dst = ld, dlen = ldlen;
		} else if (!strncmp(f, "tags=", 5)) {
			v = f + 5, dst = tags, dlen = tlen;
		}
		if (dst) {
			size_t vl = l - (size_t)(v - p);
			if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0])
				v++, vl -= 2;
			snprintf(dst, dlen, "%.*s", (int)vl, v);
			changed = true;
		} else {
			size_t rl = strlen(rest);
			snprintf(rest + rl, rlen - rl, "%s%.*s", rl ? " " : "", (int)l, p);
		}
		p += l;
	}
	return changed;
}

int build_go(struct build_opts *o, const char *dir, const char *tmp, struct mb_err *err)
{
	char root[PATH_MAX], gm[PATH_MAX], needs[32] = "", go[PATH_MAX], pkg[128];
	struct gover need = { { 0, 0, 0 } };
	if (build_go_root(dir, root, sizeof(root)) < 0)
		return mb_error(err, 0, "`%s` is not inside a Go module (no go.mod here or above)", o->app);
	if (util_pathf(gm, sizeof(gm), "%s/go.mod", root) == 0 &&
	    gomod_field(gm, "go", needs, sizeof(needs)) == 0 && gover_parse(needs, &need) < 0)
		needs[0] = '\0';
	if (go_pick(o, &need, needs, root, go, sizeof(go), err) < 0)
		return -1;
	int m = scan_main(dir, pkg, sizeof(pkg));
	if (m == 0) {
		not_main(o, go, root, pkg, err);
		return -1;
	}
	char cache[PATH_MAX];
	if (o->cache_dir && build_cache_dir(o->cache_dir, cache, sizeof(cache), err) < 0)
		return -1;
	struct strv env = { 0 }, a = { 0 };
	strv_add(&env, "CGO_ENABLED=0");
	strv_add(&env, "GOOS=linux");
	strv_addf(&env, "GOARCH=%s", o->arch);
	/* The baseline amd64, so that the image runs on any amd64 machine,
	 * unless the user chose a level. */
	if (!strcmp(o->arch, "amd64") && !getenv("GOAMD64"))
		strv_add(&env, "GOAMD64=v1");
	if (o->cache_dir) { /* --cache: a private cache instead of Go's own */
		strv_addf(&env, "GOCACHE=%s/go-build", cache);
		strv_addf(&env, "GOMODCACHE=%s/go-mod", cache);
		strv_addf(&env, "GOPATH=%s/go", cache);
	}
	char rest[4096], uld[4096], utags[1024];
	if (split_goflags(rest, sizeof(rest), uld, sizeof(uld), utags, sizeof(utags)))
		strv_addf(&env, "GOFLAGS=%s", rest);
	/* go's own work directory inside ours: removed with it, even when
	 * go is interrupted (it does not clean up after SIGINT). */
	char gotmp[PATH_MAX];
	if (util_pathf(gotmp, sizeof(gotmp), "%s.gotmp", tmp) < 0 || mkdir(gotmp, 0700) < 0) {
		mb_error(err, errno, "cannot create `%s`", gotmp);
		strv_clear(&env);
		return -1;
	}
	strv_addf(&env, "GOTMPDIR=%s", gotmp);
	strv_add(&a, go);
	strv_add(&a, "build");
	strv_add(&a, "-trimpath");
	const char *gf = getenv("GOFLAGS");
	if (!gf || !strstr(gf, "-buildvcs")) /* reproducible unless the user wants VCS stamps */
		strv_add(&a, "-buildvcs=false");
	strv_addf(&a, "-ldflags=%s%s%s%s-s -w -buildid=", uld, uld[0] ? " " : "",
	             o->ldflags ? o->ldflags : "", o->ldflags && *o->ldflags ? " " : "");
	if (utags[0] || (o->tags && *o->tags))
		strv_addf(&a, "-tags=%s%s%s", utags, utags[0] && o->tags && *o->tags ? "," : "",
		             o->tags ? o->tags : "");
	strv_add(&a, "-o");
	strv_add(&a, tmp);
	strv_add(&a, ".");
	char out[16384];
	time_t start = time(NULL);
	int rc = util_run_strv(&a, &env, dir, out, sizeof(out), err);
	strv_clear(&env);
	strv_clear(&a);
	util_rm_rf(gotmp);
	if (rc == 0 && access(tmp, F_OK) != 0) {
		not_main(o, go, root, pkg, err); /* go build of a non-main package writes nothing */
		return -1;
	}
	if (rc != 0)
		clean_locks(go, o->cache_dir ? cache : NULL, start - 1);
	if (rc < 0)
		return -1;
	if (rc != 0) {
		char mod[512];
		if (build_go_missing_module(out, mod, sizeof(mod)))
			mb_error(err, 0, "go build of `%s` failed: the module providing `%s` is neither in "
			       "vendor/ nor in the module cache, and go could not download it: with a "
			       "module proxy, check GOPROXY/GOPRIVATE (`go mod download`); offline, "
			       "vendor the dependencies with `go mod vendor`", o->app, mod);
		else
			mb_error(err, 0, "go build of `%s` failed (exit %d, %s): see the compiler's "
			       "messages above", o->app, rc, go);
		return -1;
	}
	return 0;
}

/* The image pipeline: `mkimage --static APP`, from the parsed options to
 * the renamed output.  mk_image owns it.  Every default is resolved here,
 * once, before anything is built: SOURCE_DATE_EPOCH, the output and the tag
 * (from the service's name), the layer cache, and the init of each
 * platform, read and checked once (the bytes checked are the bytes that go
 * in).  Then, for each platform, the service is built into a temporary
 * directory (build.c) or taken as it is (a prebuilt ELF), compose.c makes
 * the image from those inputs, and images/ writes it, or the index over
 * every platform's image, under a temporary name renamed into place.
 * main.c's cmd_image only parses, calls mk_image and prints.  The whole
 * path from main() to the output, file by file, is in builder.h's top
 * comment. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"
#include "../images/images.h"

enum image_format mk_image_format(const char *format)
{
	return !strcmp(format, "oci") ? IMAGE_FORMAT_OCI_DIR : IMAGE_FORMAT_ARCHIVE;
}

int mk_read_file(const char *path, unsigned char **out, size_t *len, struct mb_err *err)
{
	struct stat st;
	int fd;

	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return mb_error(err, errno, "cannot open `%s`", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		mb_error(err, 0, "`%s` is %s", path, S_ISDIR(st.st_mode) ? "a directory, not a binary"
		                                                       : "not a regular file");
		close(fd);
		return -1;
	}
	size_t cap = (size_t)st.st_size, n = 0;
	unsigned char *buf = malloc(cap + 1);
	if (!buf) {
		mb_error(err, 0, "cannot read `%s`: out of memory", path);
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, cap + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			mb_error(err, errno, "cannot read `%s`", path);
			break;
		}
		if (r == 0 && n == cap) {
			close(fd);
			buf[n] = '\0';
			*out = buf;
			*len = n;
			return 0;
		}
		n += (size_t)r;
		if (r == 0 || n > cap) {
			mb_error(err, 0, "cannot read `%s`: it changed size while it was read", path);
			break;
		}
	}
	free(buf);
	close(fd);
	return -1;
}

/* Is path a static init for arch?  0 yes, with its bytes (the ones
 * checked) in *in; -1 with err saying why not. */
static int check_init(const char *path, const char *arch, const char *envname,
                      struct mk_init *in, struct mb_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return mb_error(err, 0, "cannot find the init at `%s`: %s; run `make` to build it, set "
		       "%s, or pass --no-init", path, errno ? strerror(errno) : "not a regular file",
		       envname);
	unsigned char *raw;
	size_t n;
	if (mk_read_file(path, &raw, &n, err) < 0)
		return -1;
	struct elf_info info;
	if (elf_inspect_mem(path, raw, n, &info, err) < 0) {
		free(raw);
		return -1;
	}
	bool ok = info.arch && !strcmp(info.arch, arch) && info.link != ELF_LINK_DYNAMIC;
	if (!ok && info.link == ELF_LINK_DYNAMIC)
		mb_error(err, 0, "the init `%s` is dynamically linked: set %s to a static "
		       "minbase-init (`make` builds one), or pass --no-init", path, envname);
	else if (!ok)
		mb_error(err, 0, "the init `%s` is built for %s, but the image is for %s: set "
		       "%s to a minbase-init built for %s, or pass --no-init", path,
		       info.arch ? info.arch : "another machine", arch, envname, arch);
	elf_info_free(&info);
	if (!ok) {
		free(raw);
		return -1;
	}
	in->bytes = raw;
	in->len = n;
	snprintf(in->path, sizeof(in->path), "%s", path);
	return 0;
}

/* The init for an image of arch, static for that architecture like the
 * service: $MINBASE_INIT_ARM64 (_AMD64) or $MINBASE_INIT when set, else the
 * first of minbase-init beside mkimage (the host's), aarch64/minbase-init
 * or x86_64/ beside it (the build tree), ../lib/minbase/ARCH/minbase-init
 * (`make install`) that is built for arch. */
int mk_init_load(const char *arch, struct mk_init *in, struct mb_err *err)
{
	char envname[32];
	memset(in, 0, sizeof(*in));
	snprintf(envname, sizeof(envname), "MINBASE_INIT_%s", !strcmp(arch, "arm64") ? "ARM64"
	         : !strcmp(arch, "amd64") ? "AMD64" : "OTHER");
	const char *env = getenv(envname);
	if (!env || !*env) {
		env = getenv("MINBASE_INIT");
		if (env && *env)
			snprintf(envname, sizeof(envname), "MINBASE_INIT");
	}
	if (env && *env)
		return check_init(env, arch, envname, in, err);
	char *self = util_self_dir();
	if (!self)
		return mb_error(err, errno, "cannot find mkimage's own directory");
	const char *karch = arch_kernel_name(arch);
	char cand[3][PATH_MAX];
	struct mb_err first_err = {0};
	snprintf(cand[0], sizeof(cand[0]), "%s/minbase-init", self);
	snprintf(cand[1], sizeof(cand[1]), "%s/%s/minbase-init", self, karch ? karch : arch);
	snprintf(cand[2], sizeof(cand[2]), "%s/../lib/minbase/%s/minbase-init", self,
	         karch ? karch : arch);
	free(self);
	for (size_t i = 0; i < 3; i++) {
		if (i > 0 && access(cand[i], F_OK) != 0)
			continue;
		if (check_init(cand[i], arch, envname, in, i == 0 ? &first_err : err) == 0)
			return 0;
	}
	/* Nothing for arch: the host's init explains best (missing, or built
	 * for another machine); name the other places too. */
	return mb_error(err, 0, "%s (looked for an init for %s at `%s`, `%s` and `%s`)",
	                first_err.msg, arch, cand[0], cand[1], cand[2]);
}

void mk_init_free(struct mk_init *in)
{
	free(in->bytes);
	in->bytes = NULL;
	in->len = 0;
}

int mk_source_date_epoch(int64_t *out, struct mb_err *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	*out = 0;
	if (!s || !*s)
		return 0;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	/* reproducible-builds.org: a malformed value is an error, not a
	 * silent fallback that would give another digest. */
	if (*end || v < 0 || errno || end == s)
		return mb_error(err, 0, "invalid SOURCE_DATE_EPOCH `%s`: give the time as seconds since "
		                "1970-01-01 UTC, a non-negative integer (or unset it for 0)", s);
	*out = (int64_t)v;
	return 0;
}

/* The defaults that follow from the service's name, where the user gave
 * none: -o NAME.tar (NAME.oci) and -t NAME:latest (mk_ref_name: the
 * reference grammar).  Run again when a Makefile's program renames the
 * service.  -1: out of memory. */
static int name_defaults(struct mk_opts *o, struct mk_result *r, bool out, bool tag)
{
	if (out) {
		free(r->out);
		if (asprintf(&r->out, "%s%s", r->name, !strcmp(o->format, "oci") ? ".oci" : ".tar") < 0)
			r->out = NULL;
		if (!(o->out = r->out))
			return -1;
	}
	if (tag) {
		char *ln = mk_clean_name(r->name, strlen(r->name), MK_NAME_REF);
		free(r->tag);
		if (!ln || asprintf(&r->tag, "%s:latest", ln) < 0)
			r->tag = NULL;
		free(ln);
		if (!(o->tag = r->tag))
			return -1;
	}
	return 0;
}

/* A prebuilt binary is for one machine: several platforms need sources. */
int mk_need_sources(const struct mk_opts *o, struct mb_err *err)
{
	return mb_error(err, 0, "`%s` is a prebuilt binary, built for one architecture: an image for "
	                "several platforms needs the sources (a Go module, C files or a Makefile "
	                "directory), or build one image per binary with a single --arch", o->app);
}

/* The platform `docker load` gets from an archive: --load-platform, else
 * this machine's when it is built, else the first. */
static const char *load_arch(const struct mk_opts *o)
{
	if (o->load_platform)
		return mk_platform_arch(o->load_platform);
	for (size_t i = 0; i < o->nplats; i++)
		if (!strcmp(o->plats[i], arch_host()))
			return o->plats[i];
	return o->plats[0];
}

/* A build directory under $TMPDIR for one platform's binary (one file, as
 * util_cleanup_push wants), removed by drop_tmp. */
struct tmp_build {
	char dir[PATH_MAX], binary[PATH_MAX];
	int slot;
};

static void drop_tmp(struct tmp_build *tb)
{
	if (!tb->dir[0])
		return;
	unlink(tb->binary);
	rmdir(tb->dir);
	util_cleanup_pop(tb->slot);
	tb->dir[0] = tb->binary[0] = '\0';
	tb->slot = -1;
}

/* o->arch's binary of the service, in tb->binary.  *built_name: what a
 * Makefile's program is called (malloc'd), or NULL. */
static int build_one(const struct mk_opts *o, enum app_kind kind, const char *name,
                     struct tmp_build *tb, char **built_name, struct mb_err *err)
{
	*built_name = NULL;
	if (rootfs_tmpdir("mkimage", tb->dir, sizeof(tb->dir), err) < 0)
		return -1;
	if (util_pathf(tb->binary, sizeof(tb->binary), "%s/%s", tb->dir, name) < 0) {
		mb_error(err, 0, "temporary path too long under `%s`: set TMPDIR to a shorter path",
		         tb->dir);
		rmdir(tb->dir);
		tb->dir[0] = '\0';
		return -1;
	}
	tb->slot = util_cleanup_push(tb->dir, tb->binary);
	struct build_opts bo = { .app = o->app, .arch = o->arch, .cache_dir = o->cache_dir,
	                         .out = tb->binary, .quiet = o->quiet, .bin = o->bin, .go = o->go,
	                         .ldflags = o->ldflags, .tags = o->tags };
	mk_say(o, "build   %s `%s` for linux/%s", build_kind_name(kind), o->app, o->arch);
	if (build_app(&bo, NULL, err) < 0) {
		free(bo.built_name);
		return -1;
	}
	*built_name = bo.built_name;
	return 0;
}

/* One platform's image: its binary built (or the prebuilt one taken),
 * then composed, written at o->out or added to set (several platforms). */
static int one_platform(struct mk_opts *o, const char *arch, enum app_kind kind,
                        struct tmp_build *tb, struct mk_image_in *in, struct image_set *set,
                        struct mk_result *res, struct mb_err *err)
{
	struct mk_opts po = *o;  /* the same options, for one platform */
	char sz[32];
	po.arch = arch;
	in->binary = o->app;
	double t0 = util_now();
	if (kind != APP_ELF) {
		char *built;
		if (build_one(&po, kind, res->name, tb, &built, err) < 0)
			return -1;
		in->binary = tb->binary;
		/* A Makefile's program names the service (and the defaults). */
		if (!set && built && strcmp(built, res->name)) {
			bool out = o->out == res->out, tag = o->tag == res->tag;
			free(res->name);
			res->name = built;
			built = NULL;
			if (name_defaults(o, res, out, tag) < 0)
				return mb_error(err, 0, "out of memory");
			po.out = o->out;
			po.tag = o->tag;
		}
		free(built);
	}
	struct stat st;
	if (stat(in->binary, &st) == 0)
		mk_say(o, "binary  %s: %s static linux/%s (%.2f s)", res->name,
		       util_human_size((uint64_t)st.st_size, sz, sizeof(sz)), arch, util_now() - t0);
	in->name = res->name;
	if (!set)
		return mk_compose(&po, in, NULL, res, err);
	struct mk_result one = { 0 };
	if (mk_compose(&po, in, set, &one, err) < 0)
		return -1;
	mk_say(o, "image   linux/%s: %s", arch, one.manifest_digest);
	return 0;
}

int mk_image(struct mk_opts *o, enum app_kind kind, const char *name, struct mk_result *res,
             struct mb_err *err)
{
	struct mk_init init[MK_MAX_PLATFORMS] = { 0 };
	struct tmp_build tb = { .slot = -1 };
	struct image_set *set = NULL;
	char cache[PATH_MAX];
	struct mb_err cerr = {0};
	bool multi = o->nplats > 1;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	struct mk_image_in in = { 0 };
	if (mk_source_date_epoch(&in.epoch, err) < 0)
		return -1;
	if (multi && kind == APP_ELF)
		return mk_need_sources(o, err);
	if (multi && o->base)
		return mb_error(err, 0, "--base with several platforms is not supported: a base image is for "
		                "one platform; build one image per --arch on its base");
	if (!(res->name = strdup(name)))
		goto oom;
	/* --push without -o: the image goes to a temporary layout, pushed
	 * from there (the caller) and removed by mk_result_free */
	if (o->push && !o->out) {
		if (rootfs_tmpdir("mkimage-push", res->pushdir, sizeof(res->pushdir), err) < 0)
			return -1;
		snprintf(res->pushout, sizeof(res->pushout), "%s/image", res->pushdir);
		o->out = res->pushout;
		o->format = "oci";
	}
	if (name_defaults(o, res, !o->out, !o->tag) < 0)
		goto oom;
	if (image_check_output(o->out, err) < 0)
		return -1;
	/* the SBOM names the musl a C service mkimage builds is linked with */
	o->app_musl = kind == APP_C_FILE || kind == APP_C_DIR || kind == APP_MAKEFILE;
	/* Every platform's init, before a build that may take a while. */
	for (size_t i = 0; i < o->nplats && !o->no_init; i++)
		if (mk_init_load(o->plats[i], &init[i], err) < 0)
			goto out;
	/* The layer cache is best effort: without a cache directory, none. */
	in.cache_dir = build_cache_dir(o->cache_dir, cache, sizeof(cache), &cerr) == 0 ? cache : NULL;
	if (multi && !(set = image_set_new()))
		goto oom;

	for (size_t i = 0; i < o->nplats; i++) {
		in.init = o->no_init ? NULL : &init[i];
		int r = one_platform(o, o->plats[i], kind, &tb, &in, set, res, err);
		drop_tmp(&tb);
		if (r < 0) {
			if (multi)
				mb_wrap(err, "linux/%s", o->plats[i]);
			goto out;
		}
	}
	if (multi) {
		enum image_format fmt = mk_image_format(o->format);
		struct image_result ir;
		sigset_t old;
		double t0 = util_now();
		util_interrupts_hold(&old);
		int wr = image_set_write(set, fmt, o->out, load_arch(o), &ir, err);
		util_interrupts_release(&old);
		if (wr < 0)
			goto out;
		mk_say(o, "write   %s (%s, docker load: linux/%s) (%.2f s)", o->out,
		       fmt == IMAGE_FORMAT_OCI_DIR ? "OCI layout" : "OCI + docker archive",
		       load_arch(o), util_now() - t0);
		snprintf(res->manifest_digest, sizeof(res->manifest_digest), "%s", ir.manifest_digest);
		res->compressed = ir.compressed;
		res->uncompressed = ir.uncompressed;
	}
	rc = 0;
	goto out;
oom:
	mb_error(err, 0, "out of memory");
out:
	drop_tmp(&tb);
	for (size_t i = 0; i < MK_MAX_PLATFORMS; i++)
		mk_init_free(&init[i]);
	image_set_free(set);
	return rc;
}

void mk_result_free(struct mk_result *res)
{
	if (res->pushdir[0])
		util_rm_rf(res->pushdir);
	res->pushdir[0] = '\0';
	free(res->name);
	free(res->out);
	free(res->tag);
	res->name = res->out = res->tag = NULL;
}

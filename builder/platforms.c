/* Several platforms at once: `--arch amd64,arm64` (or `--platform
 * linux/amd64,linux/arm64`) on `mkimage --static` and `mkimage build`.
 *
 * One build per platform, and for an image one image per platform (its own
 * service binary, its own static init, its own compiled policy: syscall
 * numbers differ), all under one OCI image index (images/index.c).  The
 * per-platform work is the single-platform pipeline (build_app, then
 * mk_compose_into), run once per platform. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"
#include "../images/images.h"

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

/* A prebuilt binary is for one machine: several platforms need sources. */
static int refuse_elf(const struct mk_opts *o)
{
	return mk_die(MK_EXIT_FAIL, "`%s` is a prebuilt binary, built for one architecture: an image for "
	           "several platforms needs the sources (a Go module, C files or a Makefile "
	           "directory), or build one image per binary with a single --arch", o->app);
}

/* One platform's binary, in a temporary directory of its own (one file,
 * as util_cleanup_push wants). */
static int build_one(const struct mk_opts *o, enum app_kind kind, const char *name,
                     char *tmpdir, size_t tlen, char *binary, size_t blen, int *slot,
                     struct mb_err *err)
{
	const char *td = getenv("TMPDIR");
	snprintf(tmpdir, tlen, "%s/mkimage.XXXXXX", td && *td ? td : "/tmp");
	if (!mkdtemp(tmpdir)) {
		mb_error(err, errno, "cannot create a temporary directory `%s`", tmpdir);
		tmpdir[0] = '\0';
		return -1;
	}
	if ((size_t)snprintf(binary, blen, "%s/%s", tmpdir, name) >= blen) {
		mb_error(err, 0, "temporary path too long under `%s`: set TMPDIR to a shorter path",
		         tmpdir);
		rmdir(tmpdir);
		tmpdir[0] = '\0';
		return -1;
	}
	*slot = util_cleanup_push(tmpdir, binary);
	struct build_opts bo = { .app = o->app, .arch = o->arch, .cache_dir = o->cache_dir,
	                         .out = binary, .quiet = o->quiet };
	mk_say(o, "build   %s `%s` for linux/%s", build_kind_name(kind), o->app, o->arch);
	double t0 = util_now();
	if (build_app(&bo, NULL, err) < 0)
		return -1;
	struct stat st;
	char sz[32];
	if (stat(binary, &st) == 0)
		mk_say(o, "binary  %s: %s static linux/%s (%.2f s)", name,
		    util_human_size((uint64_t)st.st_size, sz, sizeof(sz)), o->arch, util_now() - t0);
	return 0;
}

static void drop_tmp(char *tmpdir, const char *binary, int slot)
{
	if (!tmpdir[0])
		return;
	unlink(binary);
	rmdir(tmpdir);
	if (slot >= 0)
		util_cleanup_pop(slot);
	tmpdir[0] = '\0';
}

int mk_image_platforms(struct mk_opts *o, enum app_kind kind, const char *name)
{
	char init[PATH_MAX], sz1[32], sz2[32];
	struct mb_err err = {0};
	char tmpdir[PATH_MAX] = "", binary[PATH_MAX] = "";
	int rc = MK_EXIT_FAIL, slot = -1;

	if (kind == APP_ELF)
		return refuse_elf(o);
	if (o->base)
		return mk_die(MK_EXIT_FAIL, "--base with several platforms is not supported: a base image is for one "
		           "platform; build one image per --arch on its base");
	/* Every platform's init is checked before a build that may take a while. */
	for (size_t i = 0; i < o->nplats && !o->no_init; i++)
		if (mk_find_init(o->plats[i], init, sizeof(init), &err) < 0)
			return mk_die(MK_EXIT_FAIL, "%s", err.msg);

	struct image_set *set = image_set_new();
	if (!set)
		return mk_die(MK_EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < o->nplats; i++) {
		struct mk_opts po = *o;  /* the same options, for one platform */
		po.arch = o->plats[i];
		struct mk_result res = { 0 };
		if (build_one(&po, kind, name, tmpdir, sizeof(tmpdir), binary, sizeof(binary), &slot,
		              &err) < 0 ||
		    mk_compose_into(&po, binary, name, set, &res, &err) < 0) {
			rc = mk_die(MK_EXIT_FAIL, "linux/%s: %s", po.arch, err.msg);
			goto out;
		}
		mk_say(o, "image   linux/%s: %s", po.arch, res.manifest_digest);
		drop_tmp(tmpdir, binary, slot);
		slot = -1;
	}

	enum image_format fmt = !strcmp(o->format, "oci") ? IMAGE_FORMAT_OCI_DIR
	                                                   : IMAGE_FORMAT_ARCHIVE;
	sigset_t old;
	struct image_result ir;
	double t0 = util_now();
	util_interrupts_hold(&old);
	int wr = image_set_write(set, fmt, o->out, load_arch(o), &ir, &err);
	util_interrupts_release(&old);
	if (wr < 0) {
		rc = mk_die(MK_EXIT_FAIL, "%s", err.msg);
		goto out;
	}
	mk_say(o, "write   %s (%s, docker load: linux/%s) (%.2f s)", o->out,
	    fmt == IMAGE_FORMAT_OCI_DIR ? "OCI layout" : "OCI + docker archive", load_arch(o),
	    util_now() - t0);
	if (!o->quiet) {
		fprintf(stderr, "mkimage: done    %s -> %s:", o->tag, o->out);
		for (size_t i = 0; i < o->nplats; i++)
			fprintf(stderr, " linux/%s", o->plats[i]);
		fprintf(stderr, "\nmkimage:         index %s, %s compressed, %s uncompressed\n",
		        ir.manifest_digest, util_human_size(ir.compressed, sz1, sizeof(sz1)),
		        util_human_size(ir.uncompressed, sz2, sizeof(sz2)));
	}
	rc = MK_EXIT_OK;
out:
	drop_tmp(tmpdir, binary, slot);
	image_set_free(set);
	return rc;
}

int mk_build_platforms(struct mk_opts *o, enum app_kind kind, const char *name)
{
	char dirs[MK_MAX_PLATFORMS][PATH_MAX], outs[MK_MAX_PLATFORMS][PATH_MAX];
	struct mb_err err = {0};
	size_t made = 0;
	bool made_top = false;
	struct stat st;

	if (kind == APP_ELF)
		return refuse_elf(o);
	/* DIR/linux_amd64/NAME, DIR/linux_arm64/NAME: the layout of
	 * `docker buildx --output type=local` for several platforms. */
	if (lstat(o->out, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return mk_die(MK_EXIT_FAIL, "cannot write `%s`: with several platforms -o names a directory "
			           "(each binary goes to DIR/linux_ARCH/%s), and `%s` is not one",
			           o->out, name, o->out);
	} else if (mkdir(o->out, 0755) < 0) {
		return mk_die(MK_EXIT_FAIL, "cannot create `%s`: %s", o->out, strerror(errno));
	} else {
		made_top = true;
	}
	for (size_t i = 0; i < o->nplats; i++) {
		struct mk_opts po = *o;
		po.arch = o->plats[i];
		snprintf(dirs[i], sizeof(dirs[i]), "%s/linux_%s", o->out, po.arch);
		snprintf(outs[i], sizeof(outs[i]), "%s/%s", dirs[i], name);
		if (mkdir(dirs[i], 0755) < 0 && errno != EEXIST) {
			mb_error(&err, errno, "cannot create `%s`", dirs[i]);
			goto fail;
		}
		made = i + 1;
		mk_say(o, "build   %s `%s` for linux/%s", build_kind_name(kind), o->app, po.arch);
		double t0 = util_now();
		struct build_opts bo = { .app = o->app, .arch = po.arch, .cache_dir = o->cache_dir,
		                         .out = outs[i], .quiet = o->quiet };
		if (build_app(&bo, NULL, &err) < 0)
			goto fail;
		char sz[32];
		if (stat(outs[i], &st) == 0)
			mk_say(o, "done    %s: %s static linux/%s (%.2f s)", outs[i],
			    util_human_size((uint64_t)st.st_size, sz, sizeof(sz)), po.arch,
			    util_now() - t0);
	}
	return MK_EXIT_OK;
fail:
	/* Nothing half-done stays: the binaries and directories made here. */
	for (size_t i = 0; i < made; i++) {
		unlink(outs[i]);
		rmdir(dirs[i]);
	}
	if (made_top)
		rmdir(o->out);
	return mk_die(MK_EXIT_FAIL, "%s", err.msg);
}

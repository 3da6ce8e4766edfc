/* Several platforms at once: `--arch amd64,arm64` (or `--platform
 * linux/amd64,linux/arm64`) on `mkimage --static` and `mkimage build`.
 *
 * One build per platform, and for an image one image per platform (its own
 * service binary, its own static init, its own compiled policy: syscall
 * numbers differ), all under one OCI image index (images/index.c).  An
 * image for several platforms is the pipeline's (pipeline.c: mk_image runs
 * build and compose once per platform); `mkimage build` for several
 * platforms is here. */
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

int mk_build_platforms(struct mk_opts *o, enum app_kind kind, const char *name)
{
	char dirs[MK_MAX_PLATFORMS][PATH_MAX], outs[MK_MAX_PLATFORMS][PATH_MAX];
	struct mb_err err = {0};
	size_t made = 0;
	bool made_top = false;
	struct stat st;

	if (kind == APP_ELF && mk_need_sources(o, &err) < 0)
		return mk_die(MK_EXIT_FAIL, "%s", err.msg);
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

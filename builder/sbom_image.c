/* The SBOM of an image mkimage writes: the packages (sbom.c) from the files
 * that go into the image, read here through a read-only mapping so that the
 * checksums are those of the same bytes and a large service costs no heap;
 * and --sbom FILE, the same document written beside the image.
 *
 * The document itself is made by images/ (image_sbom_spdx) from the
 * packages and the manifest digest, deterministically, so the copy written
 * here is byte for byte the blob in the image. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"
#include "../images/images.h"

struct mapped {
	void *p;
	size_t len;
};

static int map_file(const char *path, struct mapped *m, struct mb_err *err)
{
	m->p = NULL;
	m->len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		mb_error(err, errno, "cannot read `%s` for the SBOM", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	m->len = (size_t)st.st_size;
	if (m->len)
		m->p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m->p == MAP_FAILED) {
		m->p = NULL;
		return mb_error(err, errno, "cannot read `%s` for the SBOM", path);
	}
	return 0;
}

static void unmap(struct mapped *m)
{
	if (m->p)
		munmap(m->p, m->len);
	m->p = NULL;
}

bool mk_sbom_wanted(const struct mk_opts *o)
{
	return !o->sbom || strcmp(o->sbom, "none") != 0;
}

int mk_sbom_packages(const struct mk_opts *o, const char *init, const char *binary,
                     const char *name, bool busybox, struct sbom_build *b, struct mb_err *err)
{
	memset(b, 0, sizeof(*b));
	if (!mk_sbom_wanted(o))
		return 0;
	struct mapped mi = { 0 }, ma = { 0 };
	int r = -1;
	if ((!init || map_file(init, &mi, err) == 0) && (!binary || map_file(binary, &ma, err) == 0))
		r = mk_sbom_packages_mem(o, mi.p, mi.len, ma.p, ma.len, name, busybox, b, err);
	unmap(&mi);
	unmap(&ma);
	return r;
}

int mk_sbom_packages_mem(const struct mk_opts *o, const unsigned char *init, size_t init_len,
                         const unsigned char *app, size_t app_len, const char *name,
                         bool busybox, struct sbom_build *b, struct mb_err *err)
{
	return mk_sbom_packages_with(o, init, init_len, app, app_len, name, busybox, true, b, err);
}

int mk_sbom_packages_with(const struct mk_opts *o, const unsigned char *init, size_t init_len,
                          const unsigned char *app, size_t app_len, const char *name,
                          bool busybox, bool ca, struct sbom_build *b, struct mb_err *err)
{
	memset(b, 0, sizeof(*b));
	if (!mk_sbom_wanted(o))
		return 0;
	char app_path[4200];
	snprintf(app_path, sizeof(app_path), "/app/%s", name ? name : "");
	const char *colon = o->tag ? strrchr(o->tag, ':') : NULL;
	if (colon && strchr(colon, '/'))
		colon = NULL; /* a registry port, not a tag */
	struct sbom_inputs in = {
		.image_name = o->tag ? o->tag : "image",
		.image_version = colon ? colon + 1 : NULL,
		.init = init, .init_len = init_len,
		.ca = ca, .extra_ca = ca && o->ca_file != NULL, .tzdata = ca && o->tzdata,
		.busybox = busybox,
		.app = app, .app_len = app_len, .app_name = name, .app_path = app_path,
		.app_musl = o->app_musl, .deb_arch = o->arch,
	};
	return sbom_collect(&in, b, err);
}

int mk_sbom_write_file(const struct mk_opts *o, const struct sbom_build *b,
                       const char *manifest_digest, int64_t created, struct mb_err *err)
{
	if (!o->sbom || !strcmp(o->sbom, "none") || !b->n)
		return 0;
	struct sbom_doc d = {
		.packages = b->pkgs, .npackages = b->n,
		.manifest_digest = manifest_digest, .created = created,
		.ext = b->ext.ns ? &b->ext : NULL,
	};
	char *doc = NULL;
	if (image_sbom_spdx(&d, &doc, err) < 0)
		return -1;
	/* temporary name beside it, then rename: never a half-written SBOM */
	struct mb_err why = {0};
	int r = rootfs_write_file(o->sbom, doc, strlen(doc), 0644, ROOTFS_DURABLE, &why);
	int e = errno;
	free(doc);
	if (r < 0)
		mb_error(err, e, "cannot write the SBOM to `%s`", o->sbom);
	return r;
}

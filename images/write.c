/* images write: one tar that is both an OCI layout and a `docker load`
 * archive, or an OCI image layout directory (layout.c).  Everything is
 * written under a temporary name (temp.c) beside the output, fsync'ed, and
 * renamed into place at the end. */
#include "images_priv.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int img_open_parent(const char *out_path, int *dfd, char **base, struct mb_err *err)
{
	char *a = strdup(out_path), *b = strdup(out_path);

	*dfd = -1;
	*base = NULL;
	if (!a || !b) {
		free(a);
		free(b);
		return mb_error(err, 0, "cannot write `%s`: out of memory", out_path);
	}
	const char *dir = dirname(a), *name = basename(b);
	if (!*name || strcmp(name, "/") == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		mb_error(err, 0, "cannot write `%s`: not a file name", out_path);
		goto fail;
	}
	*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dfd < 0) {
		if (errno == ENOENT)
			mb_error(err, 0, "cannot write `%s`: directory `%s` does not exist: %s (create it first)",
			         out_path, dir, strerror(errno));
		else if (errno == ENOTDIR)
			mb_error(err, 0, "cannot write `%s`: `%s` is not a directory", out_path, dir);
		else
			mb_error(err, errno, "cannot write `%s`: cannot open directory `%s`", out_path, dir);
		goto fail;
	}
	if (faccessat(*dfd, ".", W_OK, AT_EACCESS) < 0) {
		mb_error(err, errno, "cannot write `%s`: directory `%s` is not writable", out_path, dir);
		close(*dfd);
		*dfd = -1;
		goto fail;
	}
	*base = strdup(name);
	free(a);
	free(b);
	if (!*base) {
		close(*dfd);
		*dfd = -1;
		return mb_error(err, 0, "cannot write `%s`: out of memory", out_path);
	}
	return 0;
fail:
	free(a);
	free(b);
	return -1;
}

int image_check_output(const char *out_path, struct mb_err *err)
{
	int dfd;
	char *base;
	if (img_open_parent(out_path, &dfd, &base, err) < 0)
		return -1;
	close(dfd);
	free(base);
	return 0;
}

/* The set of files of the layout, in tar order (sorted): the JSON blobs
 * (configs, manifests, an image index) and the layer blobs, deduplicated by
 * digest (a layer two images share is stored once). */
static size_t collect(const struct img_json *mem, size_t nmem, const struct image_layer *layers,
                      size_t nl, struct img_blob *b, char (*names)[96])
{
	size_t n = 0;

	for (size_t i = 0; i < nmem + nl; i++) {
		const char *digest = i < nmem ? mem[i].digest : layers[i - nmem].layer->digest;
		snprintf(names[n], 96, "blobs/sha256/%s", digest + 7);
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			if (!strcmp(names[k], names[n]))
				dup = true;
		if (dup)
			continue;
		if (i < nmem) {
			b[n] = (struct img_blob){ names[n], mem[i].data, mem[i].len, NULL };
		} else {
			const struct rootfs_layer *l = layers[i - nmem].layer;
			b[n] = (struct img_blob){ names[n], l->blob, l->blob_len, l->spooled ? l : NULL };
		}
		n++;
	}
	return n;
}

static int blob_cmp(const void *a, const void *b)
{
	return strcmp(((const struct img_blob *)a)->name, ((const struct img_blob *)b)->name);
}

const char *const img_tar_dirs[2] = { "blobs/", "blobs/sha256/" };

void img_tar_header(struct archive_entry *ae, const char *name, bool dir, uint64_t size,
                    int64_t mtime)
{
	archive_entry_clear(ae);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	archive_entry_set_mtime(ae, (time_t)mtime, 0);
	archive_entry_set_pathname(ae, name);
	archive_entry_set_filetype(ae, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(ae, dir ? 0755 : 0644);
	if (!dir)
		archive_entry_set_size(ae, (la_int64_t)size);
}

/* libarchive's own fd writer reports a failed write(2) as "Write error",
 * whatever errno said: "No space left on device" is what the user needs
 * to read, so the bytes go through write_all here and errno is kept. */
struct arch_sink {
	int fd;
	int err;
	struct img_fill fill;    /* a spooled blob's bytes in place of NULs */
};

static la_ssize_t sink_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct arch_sink *k = ctx;
	ssize_t spooled = img_fill_take(&k->fill, k->fd, len);

	if (spooled < 0 || rootfs_write_all(k->fd, (const char *)buf + spooled, len - (size_t)spooled) < 0) {
		k->err = errno;
		archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	return (la_ssize_t)len;
}

static int write_archive(int fd, const struct img_blob *b, size_t n, int64_t mtime, struct mb_err *err)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	struct arch_sink sink = { .fd = fd };
	int ret = -1;

	if (!a || !ae) {
		mb_error(err, 0, "out of memory");
		goto out;
	}
	/* No blocking: blobs go straight from memory to write(2), and the
	 * archive ends after its two zero blocks. */
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_open2(a, &sink, NULL, sink_write, NULL, NULL) != ARCHIVE_OK) {
		mb_error(err, 0, "%s", archive_error_string(a));
		goto out;
	}
	for (size_t i = 0; i < 2 + n; i++) {
		img_tar_header(ae, i < 2 ? img_tar_dirs[i] : b[i - 2].name, i < 2,
		               i < 2 ? 0 : b[i - 2].len, mtime);
		if (archive_write_header(a, ae) != ARCHIVE_OK)
			goto fail;
		if (i >= 2 && b[i - 2].spool) {
			sink.fill = (struct img_fill){ &b[i - 2], sink.fill.pos, sink.fill.pos, false };
			if (archive_write_finish_entry(a) != ARCHIVE_OK)
				goto fail;
			if (!sink.fill.copied && b[i - 2].len) {
				archive_set_error(a, EIO, "a layer was not copied into the archive");
				goto fail;
			}
			sink.fill.blob = NULL;
		} else if (i >= 2) {
			const unsigned char *p = b[i - 2].data;
			size_t left = b[i - 2].len;
			while (left) {
				la_ssize_t w = archive_write_data(a, p, left);
				if (w <= 0)
					goto fail;
				p += w;
				left -= (size_t)w;
			}
		}
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		goto fail;
	ret = 0;
	goto out;
fail:
	mb_error(err, 0, "%s", sink.err ? strerror(sink.err) : archive_error_string(a));
out:
	if (a)
		archive_write_free(a);
	archive_entry_free(ae);
	return ret;
}

/* The archive: a temporary file beside out_path, fsync'ed, renamed over
 * it, then the directory fsync'ed (rootfs_replace_file says why). */
static int write_archive_file(int dfd, const char *base, const char *out_path,
                              const struct img_blob *b, size_t n, int64_t mtime, struct mb_err *err)
{
	char tmp[4096 + 32];
	struct mb_err emsg = {0};
	struct stat st;

	if (fstatat(dfd, base, &st, 0) == 0 && S_ISDIR(st.st_mode))
		return mb_error(err, 0, "cannot write image archive `%s`: it is a directory "
		                "(name a .tar file, or use the oci format for a directory)", out_path);
	int fd = rootfs_temp_make(dfd, base, false, tmp, sizeof(tmp));
	if (fd < 0)
		return mb_error(err, errno, "cannot create a temporary file beside `%s`", out_path);
	if (write_archive(fd, b, n, mtime, &emsg) < 0) {
		mb_error(err, 0, "cannot write image archive `%s`: %s", out_path, emsg.msg);
		goto fail;
	}
	/* A full disk may only show here, when delayed allocation finds no
	 * room for what write(2) accepted. */
	if (fsync(fd) < 0) {
		mb_error(err, errno, "cannot write image archive `%s`", out_path);
		goto fail;
	}
	if (rootfs_replace_file(dfd, tmp, base) < 0) {
		mb_error(err, errno, "cannot rename `%s` to `%s`", tmp, out_path);
		goto fail;
	}
	close(fd); /* after the rename: the lock tells a sweeper we are alive */
	if (img_fsync_dir(dfd, ".") < 0)
		return mb_error(err, errno, "cannot write image archive `%s`: syncing its directory", out_path);
	return 0;
fail:
	unlinkat(dfd, tmp, 0);
	close(fd);
	return -1;
}

/* What every writer refuses before any work: no output path, or a format
 * it does not know. */
static int check_request(const char *out_path, enum image_format fmt, struct mb_err *err)
{
	if (!out_path || !*out_path)
		return mb_error(err, 0, "cannot write image: no output path");
	if (fmt != IMAGE_FORMAT_ARCHIVE && fmt != IMAGE_FORMAT_OCI_DIR)
		return mb_error(err, 0, "cannot write `%s`: unknown image format %d", out_path, (int)fmt);
	return 0;
}

int img_write_layout(const struct img_json *mem, size_t nmem, const struct image_layer *layers,
                     size_t nlayers, const char *index, const char *docker,
                     enum image_format fmt, const char *out_path, int64_t mtime, struct mb_err *err)
{
	char *base = NULL;
	int dfd = -1, ret = -1;

	if (check_request(out_path, fmt, err) < 0)
		return -1;
	size_t nb = nmem + nlayers;
	struct img_blob *b = calloc(nb + 3, sizeof(*b));
	char (*names)[96] = calloc(nb ? nb : 1, sizeof(*names));
	if (!b || !names) {
		mb_error(err, 0, "cannot write `%s`: out of memory", out_path);
		goto out;
	}
	size_t n = collect(mem, nmem, layers, nlayers, b, names);
	if (img_open_parent(out_path, &dfd, &base, err) < 0)
		goto out;
	/* What killed writers left beside the output goes first. */
	img_temp_sweep(dfd);

	if (fmt == IMAGE_FORMAT_ARCHIVE) {
		b[n++] = (struct img_blob){ "index.json", index, strlen(index), NULL };
		b[n++] = (struct img_blob){ "manifest.json", docker, strlen(docker), NULL };
		b[n++] = (struct img_blob){ "oci-layout", IMG_LAYOUT, strlen(IMG_LAYOUT), NULL };
		qsort(b, n, sizeof(*b), blob_cmp);
		if (write_archive_file(dfd, base, out_path, b, n, mtime, err) < 0)
			goto out;
	} else if (img_layout_write(dfd, base, out_path, b, n, index, err) < 0) {
		goto out;
	}
	ret = 0;
out:
	if (dfd >= 0)
		close(dfd);
	free(base);
	free(b);
	free(names);
	return ret;
}

int image_write(const struct image_config *c, const struct image_layer *layers,
                size_t nlayers, enum image_format fmt, const char *out_path,
                struct image_result *res, struct mb_err *err)
{
	struct img_docs d;

	if (check_request(out_path, fmt, err) < 0)
		return -1;
	if (img_docs_build(c, layers, nlayers, &d, err) < 0)
		return -1;
	/* with the SBOM artifact: reachable from index.json by annotation only */
	const struct img_json mem[5] = {
		{ d.config_digest, d.config, strlen(d.config) },
		{ d.manifest_digest, d.manifest, strlen(d.manifest) },
		{ IMG_EMPTY_DIGEST, IMG_EMPTY_JSON, 2 },
		{ d.sbom.doc_digest, d.sbom.doc, d.sbom.doc ? strlen(d.sbom.doc) : 0 },
		{ d.sbom.manifest_digest, d.sbom.manifest, d.sbom.manifest ? strlen(d.sbom.manifest) : 0 },
	};
	int ret = img_write_layout(mem, d.sbom.manifest ? 5 : 2, layers, nlayers, d.index, d.docker,
	                           fmt, out_path, c->created, err);
	if (ret == 0 && res) {
		memset(res, 0, sizeof(*res));
		memcpy(res->manifest_digest, d.manifest_digest, ROOTFS_DIGEST_LEN);
		memcpy(res->config_digest, d.config_digest, ROOTFS_DIGEST_LEN);
		for (size_t i = 0; i < nlayers; i++) {
			res->compressed += layers[i].layer->blob_len;
			res->uncompressed += layers[i].layer->tar_len;
		}
	}
	img_docs_free(&d);
	return ret;
}

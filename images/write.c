/* images write: an OCI image layout directory, or one tar that is both an
 * OCI layout and a `docker load` archive.  Everything is written under a
 * temporary name beside the output and renamed into place at the end. */
#include "images_priv.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

struct blob {
	const char *name;          /* path inside the layout */
	const void *data;
	size_t len;
};

static int write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Splits out_path into its directory (opened) and base name; explains a
 * missing or unwritable directory. */
static int open_parent(const char *out_path, int *dfd, char **base, char *err)
{
	char *a = strdup(out_path), *b = strdup(out_path);

	*dfd = -1;
	*base = NULL;
	if (!a || !b) {
		free(a);
		free(b);
		img_seterr(err, "cannot write `%s`: out of memory", out_path);
		return -1;
	}
	const char *dir = dirname(a), *name = basename(b);
	if (!*name || strcmp(name, "/") == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		img_seterr(err, "cannot write `%s`: not a file name", out_path);
		goto fail;
	}
	*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dfd < 0) {
		if (errno == ENOENT)
			img_seterr(err, "cannot write `%s`: directory `%s` does not exist: %s (create it first)",
			           out_path, dir, strerror(errno));
		else if (errno == ENOTDIR)
			img_seterr(err, "cannot write `%s`: `%s` is not a directory", out_path, dir);
		else
			img_seterr(err, "cannot write `%s`: cannot open directory `%s`: %s", out_path, dir,
			           strerror(errno));
		goto fail;
	}
	if (faccessat(*dfd, ".", W_OK, AT_EACCESS) < 0) {
		img_seterr(err, "cannot write `%s`: directory `%s` is not writable: %s", out_path, dir,
		           strerror(errno));
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
		img_seterr(err, "cannot write `%s`: out of memory", out_path);
		return -1;
	}
	return 0;
fail:
	free(a);
	free(b);
	return -1;
}

/* ".NAME.tmp-XXXXXX" made with O_EXCL / mkdir, mode from the umask. */
static int make_temp(int dfd, const char *base, bool dir, char *tmp, size_t tmplen, int *fd)
{
	static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";

	for (int tries = 0; tries < 100; tries++) {
		unsigned char r[6];
		char suf[7];
		if (getrandom(r, sizeof(r), 0) != sizeof(r))
			return -1;
		for (int i = 0; i < 6; i++)
			suf[i] = al[r[i] % (sizeof(al) - 1)];
		suf[6] = '\0';
		if (snprintf(tmp, tmplen, ".%s.tmp-%s", base, suf) >= (int)tmplen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (dir) {
			if (mkdirat(dfd, tmp, 0777) == 0)
				return 0;
		} else {
			*fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
			if (*fd >= 0)
				return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/* rename(tmp, base), atomically.  Over an existing regular file, swap the
 * two and unlink the old one instead: ext4 (auto_da_alloc) starts a
 * synchronous writeback of the new file when a rename replaces another,
 * which costs more than writing the whole image; an exchange does not,
 * and base never stops being a complete file either way. */
static int replace_file(int dfd, const char *tmp, const char *base)
{
	struct stat st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
		if (renameat2(dfd, tmp, dfd, base, RENAME_EXCHANGE) == 0) {
			unlinkat(dfd, tmp, 0); /* the old image; a leftover only costs space */
			return 0;
		}
		if (errno != EINVAL && errno != ENOSYS)
			return -1;
	}
	return renameat(dfd, tmp, dfd, base);
}

/* Removes a tree we created (or an old OCI layout) without following
 * symlinks. */
static int remove_tree(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return unlinkat(dfd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *de;
	int ret = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) {
			if (remove_tree(dirfd(d), de->d_name) < 0)
				ret = -1;
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			ret = -1;
		}
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		ret = -1;
	return ret;
}

/* The set of files of the layout, in tar order (sorted), config and layer
 * blobs deduplicated by digest. */
static size_t collect(const struct img_docs *d, const struct image_layer *layers, size_t nl,
                      struct blob *b, char (*names)[96])
{
	size_t n = 0;

	snprintf(names[0], 96, "blobs/sha256/%s", d->config_digest + 7);
	b[0] = (struct blob){ names[0], d->config, strlen(d->config) };
	snprintf(names[1], 96, "blobs/sha256/%s", d->manifest_digest + 7);
	b[1] = (struct blob){ names[1], d->manifest, strlen(d->manifest) };
	n = 2;
	for (size_t i = 0; i < nl; i++) {
		snprintf(names[n], 96, "blobs/sha256/%s", layers[i].layer->digest + 7);
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			if (!strcmp(names[k], names[n]))
				dup = true;
		if (!dup) {
			b[n] = (struct blob){ names[n], layers[i].layer->blob, layers[i].layer->blob_len };
			n++;
		}
	}
	return n;
}

static int blob_cmp(const void *a, const void *b)
{
	return strcmp(((const struct blob *)a)->name, ((const struct blob *)b)->name);
}

static int write_archive(int fd, const struct blob *b, size_t n, int64_t mtime, char *err)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	int ret = -1;

	if (!a || !ae) {
		img_seterr(err, "out of memory");
		goto out;
	}
	/* No blocking: blobs go straight from memory to write(2), and the
	 * archive ends after its two zero blocks. */
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		img_seterr(err, "%s", archive_error_string(a));
		goto out;
	}
	static const char *const dirs[] = { "blobs/", "blobs/sha256/" };
	for (size_t i = 0; i < 2 + n; i++) {
		archive_entry_clear(ae);
		archive_entry_set_uid(ae, 0);
		archive_entry_set_gid(ae, 0);
		archive_entry_set_mtime(ae, (time_t)mtime, 0);
		if (i < 2) {
			archive_entry_set_pathname(ae, dirs[i]);
			archive_entry_set_filetype(ae, AE_IFDIR);
			archive_entry_set_perm(ae, 0755);
		} else {
			archive_entry_set_pathname(ae, b[i - 2].name);
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_perm(ae, 0644);
			archive_entry_set_size(ae, (la_int64_t)b[i - 2].len);
		}
		if (archive_write_header(a, ae) != ARCHIVE_OK) {
			img_seterr(err, "%s", archive_error_string(a));
			goto out;
		}
		if (i >= 2) {
			const unsigned char *p = b[i - 2].data;
			size_t left = b[i - 2].len;
			while (left) {
				la_ssize_t w = archive_write_data(a, p, left);
				if (w <= 0) {
					img_seterr(err, "%s", archive_error_string(a));
					goto out;
				}
				p += w;
				left -= (size_t)w;
			}
		}
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		img_seterr(err, "%s", archive_error_string(a));
		goto out;
	}
	ret = 0;
out:
	if (a)
		archive_write_free(a);
	archive_entry_free(ae);
	return ret;
}

static int write_file_at(int dfd, const char *name, const void *data, size_t len)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);

	if (fd < 0)
		return -1;
	if (write_all(fd, data, len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

static int write_layout(int dfd, const char *tmp, const struct blob *b, size_t n, char *err)
{
	int fd = openat(dfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int ret = -1;

	if (fd < 0) {
		img_seterr(err, "cannot open `%s`: %s", tmp, strerror(errno));
		return -1;
	}
	if (mkdirat(fd, "blobs", 0777) < 0 || mkdirat(fd, "blobs/sha256", 0777) < 0) {
		img_seterr(err, "cannot create `%s/blobs/sha256`: %s", tmp, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (write_file_at(fd, b[i].name, b[i].data, b[i].len) < 0) {
			img_seterr(err, "cannot write `%s/%s`: %s", tmp, b[i].name, strerror(errno));
			goto out;
		}
	ret = 0;
out:
	close(fd);
	return ret;
}

/* May an existing path at the output be replaced by a new layout?  Only
 * an empty directory or one that holds an OCI layout. */
static int check_replace_dir(int dfd, const char *base, const char *out_path, bool *exists, char *err)
{
	struct stat st;

	*exists = false;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		img_seterr(err, "cannot write `%s`: %s", out_path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		img_seterr(err, "cannot write OCI layout `%s`: it exists and is not a directory "
		           "(remove it or choose another -o)", out_path);
		return -1;
	}
	*exists = true;
	int fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		img_seterr(err, "cannot open `%s`: %s", out_path, strerror(errno));
		return -1;
	}
	if (faccessat(fd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		close(fd);
		return 0;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		img_seterr(err, "cannot read `%s`: %s", out_path, strerror(errno));
		return -1;
	}
	struct dirent *de;
	bool empty = true;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	closedir(d);
	if (!empty) {
		img_seterr(err, "refusing to replace `%s`: it is a non-empty directory that is not an "
		           "OCI image layout (no oci-layout file); remove it or choose another -o", out_path);
		return -1;
	}
	return 0;
}

int image_write(const struct image_config *c, const struct image_layer *layers,
                size_t nlayers, enum image_format fmt, const char *out_path,
                struct image_result *res, char *err)
{
	struct img_docs d;
	char tmp[4096 + 32], emsg[MB_ERRLEN];
	char *base = NULL;
	int dfd = -1, fd = -1, ret = -1;
	bool tmp_made = false;

	if (!out_path || !*out_path) {
		img_seterr(err, "cannot write image: no output path");
		return -1;
	}
	if (img_docs_build(c, layers, nlayers, &d, err) < 0)
		return -1;
	size_t nb = nlayers + 2;
	struct blob *b = calloc(nb + 3, sizeof(*b));
	char (*names)[96] = calloc(nb, sizeof(*names));
	if (!b || !names) {
		img_seterr(err, "cannot write `%s`: out of memory", out_path);
		goto out;
	}
	size_t n = collect(&d, layers, nlayers, b, names);
	b[n++] = (struct blob){ "index.json", d.index, strlen(d.index) };
	if (fmt == IMAGE_FORMAT_ARCHIVE)
		b[n++] = (struct blob){ "manifest.json", d.docker, strlen(d.docker) };
	b[n++] = (struct blob){ "oci-layout", IMG_LAYOUT, strlen(IMG_LAYOUT) };
	qsort(b, n, sizeof(*b), blob_cmp);

	if (open_parent(out_path, &dfd, &base, err) < 0)
		goto out;

	if (fmt == IMAGE_FORMAT_ARCHIVE) {
		struct stat st;
		if (fstatat(dfd, base, &st, 0) == 0 && S_ISDIR(st.st_mode)) {
			img_seterr(err, "cannot write image archive `%s`: it is a directory "
			           "(name a .tar file, or use the oci format for a directory)", out_path);
			goto out;
		}
		if (make_temp(dfd, base, false, tmp, sizeof(tmp), &fd) < 0) {
			img_seterr(err, "cannot create a temporary file beside `%s`: %s", out_path, strerror(errno));
			goto out;
		}
		tmp_made = true;
		if (write_archive(fd, b, n, c->created, emsg) < 0) {
			img_seterr(err, "cannot write image archive `%s`: %s", out_path, emsg);
			goto out;
		}
		if (close(fd) < 0) {
			fd = -1;
			img_seterr(err, "cannot write image archive `%s`: %s", out_path, strerror(errno));
			goto out;
		}
		fd = -1;
		if (replace_file(dfd, tmp, base) < 0) {
			img_seterr(err, "cannot rename `%s` to `%s`: %s", tmp, out_path, strerror(errno));
			goto out;
		}
		tmp_made = false;
	} else if (fmt == IMAGE_FORMAT_OCI_DIR) {
		bool exists;
		if (check_replace_dir(dfd, base, out_path, &exists, err) < 0)
			goto out;
		if (make_temp(dfd, base, true, tmp, sizeof(tmp), NULL) < 0) {
			img_seterr(err, "cannot create a temporary directory beside `%s`: %s", out_path,
			           strerror(errno));
			goto out;
		}
		tmp_made = true;
		if (write_layout(dfd, tmp, b, n, emsg) < 0) {
			img_seterr(err, "cannot write OCI layout `%s`: %s", out_path, emsg);
			goto out;
		}
		if (exists) {
			/* Swap atomically, then remove the old layout (now at tmp). */
			if (renameat2(dfd, tmp, dfd, base, RENAME_EXCHANGE) < 0) {
				img_seterr(err, "cannot replace `%s`: %s", out_path, strerror(errno));
				goto out;
			}
		} else if (renameat(dfd, tmp, dfd, base) < 0) {
			img_seterr(err, "cannot rename `%s` to `%s`: %s", tmp, out_path, strerror(errno));
			goto out;
		} else {
			tmp_made = false;
		}
	} else {
		img_seterr(err, "cannot write `%s`: unknown image format %d", out_path, (int)fmt);
		goto out;
	}
	if (res) {
		memset(res, 0, sizeof(*res));
		memcpy(res->manifest_digest, d.manifest_digest, ROOTFS_DIGEST_LEN);
		memcpy(res->config_digest, d.config_digest, ROOTFS_DIGEST_LEN);
		for (size_t i = 0; i < nlayers; i++) {
			res->compressed += layers[i].layer->blob_len;
			res->uncompressed += layers[i].layer->tar_len;
		}
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp_made) {
		if (fmt == IMAGE_FORMAT_ARCHIVE)
			unlinkat(dfd, tmp, 0);
		else
			remove_tree(dfd, tmp);
	}
	if (dfd >= 0)
		close(dfd);
	free(base);
	free(b);
	free(names);
	img_docs_free(&d);
	return ret;
}

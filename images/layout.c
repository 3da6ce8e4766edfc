/* images layout: an image written as, or into, an OCI image layout
 * directory (image-spec image-layout.md: `oci-layout`, `index.json`,
 * `blobs/<alg>/<encoded>`).
 *
 * A directory that holds a layout already (ours, skopeo's `oci:DIR:TAG`,
 * umoci's) keeps everything it holds: our blobs go in beside the others,
 * and index.json gets our descriptor in place of the one that carries the
 * same org.opencontainers.image.ref.name, every other entry unchanged.
 * The layout format has no atomic update of several files, so the order
 * is what keeps it readable at every instant: blobs first (each under a
 * temporary name, fsync'ed, renamed), index.json last (temporary, fsync,
 * rename, directory fsync).  Until that last rename the layout is the old
 * one plus blobs nothing names yet; a failure before it removes the blobs
 * it added.  Two mkimage writing the same layout are serialised by an
 * flock(2) on its directory, so neither loses the other's reference.
 *
 * A directory that holds anything else is refused before anything in it
 * is touched.  A missing directory is made under a temporary name beside
 * it and renamed into place (a killed run leaves no half layout at the
 * output); an empty one is filled in place (it may be a mount point). */
#include "images_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define REF_NAME "org.opencontainers.image.ref.name"
#define BLOB_DIR "blobs/sha256/"
#define SMALL_MAX (4u << 20)

/* Writes b to a temporary beside name in dirfd, fsyncs it and renames it
 * over name.  -1 with errno. */
static int put_file(int dirfd, const char *name, const struct img_blob *b)
{
	char tmp[512];
	/* a spooled layer: its own (complete, fsync'ed) file gets the name */
	if (b->spool && img_blob_link(dirfd, name, b) == 0)
		return 0;
	int fd = rootfs_temp_make(dirfd, name, false, tmp, sizeof(tmp));

	if (fd < 0)
		return -1;
	if (img_blob_write(fd, b) < 0 || fsync(fd) < 0 || rootfs_replace_file(dirfd, tmp, name) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

static int read_small(int dirfd, const char *name, char **out, size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SMALL_MAX) {
		close(fd);
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		return -1;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t n = 0;
	while (buf && n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!buf)
		return -1;
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int stat_kind(int dirfd, const char *name, mode_t want)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	return (st.st_mode & S_IFMT) == want ? 1 : -2;
}

/* blobs/ holds directories (one per algorithm) of regular files, and
 * nothing else; *foreign names the first thing that is not so. */
static int check_blobs(int lfd, char *foreign, size_t flen)
{
	int bfd = openat(lfd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = bfd >= 0 ? fdopendir(bfd) : NULL;
	struct dirent *de;
	int ret = 0;

	if (!d) {
		if (bfd >= 0)
			close(bfd);
		return -1;
	}
	while (!foreign[0] && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int afd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *a = afd >= 0 ? fdopendir(afd) : NULL;
		if (!a) {
			if (afd >= 0)
				close(afd);
			snprintf(foreign, flen, "blobs/%s", de->d_name);
			break;
		}
		struct dirent *e;
		while ((e = readdir(a))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
			    rootfs_temp_is_ours(e->d_name))
				continue;
			if (stat_kind(dirfd(a), e->d_name, S_IFREG) != 1) {
				snprintf(foreign, flen, "blobs/%s/%s", de->d_name, e->d_name);
				break;
			}
		}
		closedir(a);
	}
	closedir(d);
	return ret;
}

/* Is the directory empty (but for our temporaries), an OCI layout, or
 * something else (refused, with what does not belong)? */
static int classify(int lfd, const char *out_path, bool *is_layout, struct mb_err *err)
{
	int fd = dup(lfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	char foreign[600] = "";
	bool any = false;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return mb_error(err, errno, "cannot read `%s`", out_path);
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    rootfs_temp_is_ours(de->d_name))
			continue;
		bool ok = (!strcmp(de->d_name, "oci-layout") || !strcmp(de->d_name, "index.json"))
		          ? stat_kind(lfd, de->d_name, S_IFREG) == 1
		          : !strcmp(de->d_name, "blobs") && stat_kind(lfd, de->d_name, S_IFDIR) == 1;
		if (!ok) {
			snprintf(foreign, sizeof(foreign), "%s", de->d_name);
			break;
		}
		any = true;
	}
	closedir(d);
	*is_layout = any;
	if (!foreign[0] && any) {
		const char *miss = stat_kind(lfd, "oci-layout", S_IFREG) != 1 ? "oci-layout"
		                 : stat_kind(lfd, "index.json", S_IFREG) != 1 ? "index.json" : NULL;
		if (miss)
			return mb_error(err, 0, "refusing to write into `%s`: it has no `%s` file, so it is not "
			                "an OCI image layout; remove it or choose another -o", out_path, miss);
		if (stat_kind(lfd, "blobs", S_IFDIR) == 1 && check_blobs(lfd, foreign, sizeof(foreign)) < 0)
			return mb_error(err, errno, "cannot read `%s/blobs`", out_path);
	}
	if (foreign[0])
		return mb_error(err, 0, "refusing to write into `%s`: it is not an OCI image layout (it holds "
		                "`%s`); remove it or choose another -o", out_path, foreign);
	return 0;
}

/* index.json of the layout with ours (one descriptor) in place of the
 * entry of the same ref.name; NULL with err on a document that is not an
 * image index (refused: we would not know what we drop). */
static char *merge_index(int lfd, const char *out_path, const char *ours, struct mb_err *err)
{
	char *old = NULL, *out = NULL;
	size_t len;
	json_error_t je;
	json_t *idx = NULL, *mine = NULL, *keep = NULL;

	if (read_small(lfd, "index.json", &old, &len) < 0) {
		mb_error(err, errno, "cannot read `%s/index.json`", out_path);
		return NULL;
	}
	idx = json_loadb(old, len, 0, &je);
	json_t *ms = json_object_get(idx, "manifests");
	if (!json_is_object(idx) || !json_is_array(ms)) {
		mb_error(err, 0, "refusing to write into `%s`: its index.json is not an OCI image index "
		         "(%s); repair or remove it", out_path,
		         idx ? "no `manifests` list" : je.text);
		goto out;
	}
	mine = json_loads(ours, 0, &je);
	json_t *desc = json_array_get(json_object_get(mine, "manifests"), 0);
	const char *ref = json_string_value(json_object_get(json_object_get(desc, "annotations"), REF_NAME));
	const char *dig = json_string_value(json_object_get(desc, "digest"));
	if (!desc || !dig || !(keep = json_array())) {
		mb_error(err, 0, "cannot write `%s`: out of memory", out_path);
		goto out;
	}
	bool placed = false;
	size_t i;
	json_t *m;
	json_array_foreach(ms, i, m) {
		if (!json_is_object(m)) {
			mb_error(err, 0, "refusing to write into `%s`: entry %zu of its index.json is not a "
			         "descriptor; repair or remove it", out_path, i + 1);
			goto out;
		}
		const char *r = json_string_value(json_object_get(json_object_get(m, "annotations"), REF_NAME));
		const char *md = json_string_value(json_object_get(m, "digest"));
		/* Ours replaces the entry of our reference where it stood; an
		 * untagged image replaces only an untagged copy of itself. */
		bool same = ref ? (r && !strcmp(r, ref)) : (!r && md && !strcmp(md, dig));
		if (same && placed)
			continue;
		if (json_array_append(keep, same ? desc : m) < 0)
			goto nomem;
		placed |= same;
	}
	if (!placed && json_array_append(keep, desc) < 0)
		goto nomem;
	if (json_object_set(idx, "manifests", keep) < 0 ||
	    !(out = json_dumps(idx, JSON_SORT_KEYS | JSON_COMPACT)))
		goto nomem;
	goto out;
nomem:
	mb_error(err, 0, "cannot write `%s`: out of memory", out_path);
out:
	json_decref(idx);
	json_decref(mine);
	json_decref(keep);
	free(old);
	return out;
}

static int mkdir_new(int dfd, const char *name, bool *made)
{
	*made = false;
	if (mkdirat(dfd, name, 0777) == 0) {
		*made = true;
		return 0;
	}
	return errno == EEXIST ? 0 : -1;
}

/* Puts the blobs of b and index.json (and oci-layout when fresh) into the
 * directory lfd, in the order the opening comment gives.  On failure
 * before index.json is in place, removes what it added. */
static int fill(int lfd, const char *out_path, const struct img_blob *b, size_t n,
                const char *index, bool fresh, struct mb_err *err)
{
	bool made_blobs = false, made_sha = false, made_layout = false;
	bool *added = calloc(n ? n : 1, sizeof(*added));
	int sfd = -1, ret = -1;
	const char *what = "blobs/sha256";

	if (!added)
		return mb_error(err, 0, "cannot write `%s`: out of memory", out_path);
	if (mkdir_new(lfd, "blobs", &made_blobs) < 0 || mkdir_new(lfd, "blobs/sha256", &made_sha) < 0 ||
	    (sfd = openat(lfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		goto fail;
	if (!fresh)
		img_temp_sweep(sfd);
	for (size_t i = 0; i < n; i++) {
		const char *hex = b[i].name + strlen(BLOB_DIR);
		struct stat st;
		/* Content-addressed: a file of that name and size is that blob
		 * (readers check digests; rewriting it would only cost time). */
		if (fstatat(sfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    (uint64_t)st.st_size == b[i].len)
			continue;
		what = b[i].name;
		if (put_file(sfd, hex, &b[i]) < 0)
			goto fail;
		added[i] = true;
	}
	what = "blobs/sha256";
	if (fsync(sfd) < 0 || ((made_blobs || made_sha) && img_fsync_dir(lfd, "blobs") < 0))
		goto fail;
	if (fresh) {
		what = "oci-layout";
		struct img_blob lay = { "oci-layout", IMG_LAYOUT, strlen(IMG_LAYOUT), NULL };
		if (put_file(lfd, "oci-layout", &lay) < 0)
			goto fail;
		made_layout = true;
	}
	what = "index.json";
	struct img_blob ib = { "index.json", index, strlen(index), NULL };
	if (put_file(lfd, "index.json", &ib) < 0)
		goto fail;
	/* From here on the layout names our blobs: nothing to undo. */
	if (fsync(lfd) < 0) {
		mb_error(err, errno, "cannot write OCI layout `%s`: syncing the directory", out_path);
		goto out;
	}
	ret = 0;
	goto out;
fail:
	mb_error(err, errno, "cannot write OCI layout `%s`: cannot write `%s/%s`", out_path, out_path,
	         what);
	for (size_t i = 0; sfd >= 0 && i < n; i++)
		if (added[i])
			unlinkat(sfd, b[i].name + strlen(BLOB_DIR), 0);
	if (made_layout)
		unlinkat(lfd, "oci-layout", 0);
	if (made_sha)
		unlinkat(lfd, "blobs/sha256", AT_REMOVEDIR);
	if (made_blobs)
		unlinkat(lfd, "blobs", AT_REMOVEDIR);
out:
	if (sfd >= 0)
		close(sfd);
	free(added);
	return ret;
}

/* No directory yet: a temporary one beside it, renamed into place. */
static int new_layout(int dfd, const char *base, const char *out_path,
                      const struct img_blob *b, size_t n, const char *index, struct mb_err *err)
{
	char tmp[4096 + 32];
	int tfd = rootfs_temp_make(dfd, base, true, tmp, sizeof(tmp));

	if (tfd < 0)
		return mb_error(err, errno, "cannot create a temporary directory beside `%s`", out_path);
	if (fill(tfd, out_path, b, n, index, true, err) < 0)
		goto fail;
	/* NOREPLACE: a directory made there meanwhile is not ours to drop. */
	if (renameat2(dfd, tmp, dfd, base, RENAME_NOREPLACE) < 0) {
		mb_error(err, 0, "cannot rename `%s` to `%s`: %s%s", tmp, out_path, strerror(errno),
		         errno == EEXIST ? " (it was created while mkimage wrote; run again)" : "");
		goto fail;
	}
	close(tfd);
	if (img_fsync_dir(dfd, ".") < 0)
		return mb_error(err, errno, "cannot write OCI layout `%s`: syncing its directory", out_path);
	return 0;
fail:
	img_remove_tree(dfd, tmp);
	close(tfd);
	return -1;
}

int img_layout_write(int dfd, const char *base, const char *out_path,
                     const struct img_blob *b, size_t n, const char *index, struct mb_err *err)
{
	struct stat st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return new_layout(dfd, base, out_path, b, n, index, err);
		return mb_error(err, errno, "cannot write `%s`", out_path);
	}
	if (!S_ISDIR(st.st_mode))
		return mb_error(err, 0, "cannot write OCI layout `%s`: it exists and is not a directory "
		                "(remove it or choose another -o)", out_path);
	int lfd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lfd < 0)
		return mb_error(err, errno, "cannot open `%s`", out_path);
	int ret = -1;
	char *merged = NULL;
	bool is_layout = false;
	while (flock(lfd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			mb_error(err, errno, "cannot lock `%s`", out_path);
			goto out;
		}
	}
	if (classify(lfd, out_path, &is_layout, err) < 0)
		goto out;
	merged = is_layout ? merge_index(lfd, out_path, index, err) : strdup(index);
	if (!merged) {
		if (!is_layout)
			mb_error(err, 0, "cannot write `%s`: out of memory", out_path);
		goto out;
	}
	img_temp_sweep(lfd);
	ret = fill(lfd, out_path, b, n, merged, !is_layout, err);
out:
	free(merged);
	close(lfd);
	return ret;
}

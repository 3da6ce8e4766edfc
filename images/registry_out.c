/* images registry_out: the output of a pull or of a build on a base image,
 * assembled as a temporary OCI layout beside OUT (blobs streamed into
 * blobs/sha256/ by the caller), then finished: the manifest, index.json
 * named after the reference, oci-layout, and for an archive docker's
 * manifest.json and the tar, with write.c's entries, order and headers, so
 * the same image under the same name is the same bytes.  Renamed into
 * place at the end; nothing is left at OUT on failure. */
#include "registry_priv.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int reg_put_file(int dfd, const char *name, const void *data, size_t len)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return -1;
	if (rootfs_write_all(fd, data, len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

/* The name of a temporary (rootfs_temp_make's, in the output's directory)
 * from its full path in w. */
static const char *tmp_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Our archive from the layout at dfd: the entries write.c writes, in its
 * order, with the same headers (pax, root-owned, one mtime). */
static int write_tar(int dfd, int fd, const char **names, size_t n, int64_t mtime, struct mb_err *err)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	static char buf[1 << 16];
	int ret = -1;

	if (!a || !ae || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		mb_error(err, 0, "%s", a ? archive_error_string(a) : "out of memory");
		goto out;
	}
	for (size_t i = 0; i < 2 + n; i++) {
		int in = -1;
		struct stat st = { 0 };
		if (i >= 2) {
			in = openat(dfd, names[i - 2], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (in < 0 || fstat(in, &st) < 0) {
				mb_error(err, errno, "cannot read `%s`", names[i - 2]);
				if (in >= 0)
					close(in);
				goto out;
			}
		}
		img_tar_header(ae, i < 2 ? img_tar_dirs[i] : names[i - 2], i < 2, (uint64_t)st.st_size,
		               mtime);
		if (archive_write_header(a, ae) != ARCHIVE_OK) {
			mb_error(err, 0, "%s", archive_error_string(a));
			if (in >= 0)
				close(in);
			goto out;
		}
		ssize_t r;
		while (in >= 0 && (r = read(in, buf, sizeof(buf))) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 || archive_write_data(a, buf, (size_t)r) != r) {
				mb_error(err, 0, "cannot write the archive: %s",
				         r < 0 ? strerror(errno) : archive_error_string(a));
				close(in);
				goto out;
			}
		}
		if (in >= 0)
			close(in);
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		mb_error(err, 0, "%s", archive_error_string(a));
		goto out;
	}
	ret = 0;
out:
	if (a)
		archive_write_free(a);
	archive_entry_free(ae);
	return ret;
}

/* "2006-01-02T15:04:05Z" (and fractions, which we drop) -> seconds. */
static int64_t parse_created(const char *s)
{
	struct tm tm = { 0 };
	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return (int64_t)timegm(&tm);
}


int reg_out_begin(const char *out, struct reg_out *w, struct mb_err *err)
{
	char *base;

	memset(w, 0, sizeof(*w));
	w->dfd = w->pdfd = -1;
	if (img_open_parent(out, &w->pdfd, &base, err) < 0)
		return -1;
	snprintf(w->out, sizeof(w->out), "%s", out);
	/* the directory's path, for the temporaries' full names */
	char d[sizeof(w->dir)];
	snprintf(d, sizeof(d), "%s", out);
	snprintf(w->dir, sizeof(w->dir), "%s", dirname(d));
	snprintf(w->base, sizeof(w->base), "%s", base);
	free(base);
	/* the temporary's lock, held until the rename, tells a sweeper
	 * (temp.c) that this writer is alive */
	char name[300];
	w->dfd = rootfs_temp_make(w->pdfd, w->base, true, name, sizeof(name));
	if (w->dfd < 0)
		return mb_error(err, errno, "cannot create a temporary directory beside `%s`", out);
	snprintf(w->tmp, sizeof(w->tmp), "%s/%s", w->dir, name);
	if (mkdirat(w->dfd, "blobs", 0755) < 0 ||
	    mkdirat(w->dfd, "blobs/sha256", 0755) < 0)
		return mb_error(err, errno, "cannot create `%s/blobs/sha256`", w->tmp);
	return 0;
}

void reg_out_abort(struct reg_out *w)
{
	if (w->tmptar[0])
		unlink(w->tmptar);
	if (w->tmp[0] && w->pdfd >= 0)
		img_remove_tree(w->pdfd, tmp_name(w->tmp));
	if (w->dfd >= 0)
		close(w->dfd);
	if (w->pdfd >= 0)
		close(w->pdfd);
	w->dfd = w->pdfd = -1;
	w->tmp[0] = w->tmptar[0] = '\0';
}

/* The sorted names of the layout's files: blobs, then the top files. */
static int list_files(int dfd, bool docker, char ***names, size_t *n)
{
	int fd = openat(dfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t cap = 8, k = 0;
	char **v = calloc(cap, sizeof(*v));

	if (!d || !v) {
		if (fd >= 0 && !d)
			close(fd);
		if (d)
			closedir(d);
		free(v);
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) != 64)
			continue;
		if (k + 4 >= cap) {
			char **nv = realloc(v, cap * 2 * sizeof(*nv));
			if (!nv)
				break;
			v = nv;
			cap *= 2;
		}
		if (asprintf(&v[k], "blobs/sha256/%s", de->d_name) < 0)
			break;
		k++;
	}
	closedir(d);
	v[k++] = strdup("index.json");
	if (docker)
		v[k++] = strdup("manifest.json");
	v[k++] = strdup("oci-layout");
	qsort(v, k, sizeof(*v), name_cmp);
	*names = v;
	*n = k;
	return 0;
}

int reg_out_finish(struct reg_out *w, enum image_format fmt, const char *mdig, const char *mt,
                   const char *man, size_t mlen, const char *name, const char *dflt_name,
                   struct mb_err *err)
{
	char mname[100], cpath[100], *full = NULL, *tag = NULL, *cfg = NULL;
	json_t *mj = NULL, *cj = NULL;
	json_error_t je;
	char **names = NULL;
	size_t nn = 0;
	int ret = -1, tfd = -1;

	snprintf(mname, sizeof(mname), "blobs/sha256/%s", mdig + 7);
	if (reg_put_file(w->dfd, mname, man, mlen) < 0 ||
	    reg_put_file(w->dfd, "oci-layout", IMG_LAYOUT, strlen(IMG_LAYOUT)) < 0) {
		mb_error(err, errno, "cannot write `%s`", w->tmp);
		goto out;
	}
	mj = json_loadb(man, mlen, 0, &je);
	const char *cd = json_string_value(json_object_get(json_object_get(mj, "config"), "digest"));
	if (!reg_digest_ok(cd)) {
		mb_error(err, 0, "manifest %s has no config", mdig);
		goto out;
	}
	snprintf(cpath, sizeof(cpath), "blobs/sha256/%s", cd + 7);
	int cfd = openat(w->dfd, cpath, O_RDONLY | O_CLOEXEC);
	struct stat cst;
	if (cfd >= 0 && fstat(cfd, &cst) == 0 && cst.st_size < (off_t)REG_MANIFEST_MAX &&
	    (cfg = malloc((size_t)cst.st_size + 1)) && read(cfd, cfg, (size_t)cst.st_size) == cst.st_size)
		cj = json_loadb(cfg, (size_t)cst.st_size, 0, &je);
	if (cfd >= 0)
		close(cfd);
	if (img_parse_tag(name ? name : dflt_name, &full, &tag, err) < 0)
		goto out;

	/* index.json as json.c writes it: platform, ref.name, containerd name */
	json_t *desc = json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", mdig, "size",
	                         (json_int_t)mlen);
	const char *arch = json_string_value(json_object_get(cj, "architecture"));
	const char *os = json_string_value(json_object_get(cj, "os"));
	const char *variant = json_string_value(json_object_get(cj, "variant"));
	if (arch && os)
		json_object_set_new(desc, "platform", variant ?
		                    json_pack("{s:s, s:s, s:s}", "architecture", arch, "os", os, "variant", variant) :
		                    json_pack("{s:s, s:s}", "architecture", arch, "os", os));
	json_t *ann = json_pack("{s:s, s:s}", "org.opencontainers.image.ref.name", tag,
	                        "io.containerd.image.name", full);
	if (ann && w->sbom[0]) /* reached by annotation only, as json.c writes it */
		json_object_set_new(ann, IMAGE_SBOM_ANNOTATION, json_string(w->sbom));
	json_object_set_new(desc, "annotations", ann);
	json_t *idx = json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", IMG_MT_INDEX,
	                        "manifests", desc);
	char *idx_s = json_dumps(idx, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(idx);
	int wr = idx_s ? reg_put_file(w->dfd, "index.json", idx_s, strlen(idx_s)) : -1;
	free(idx_s);
	if (wr < 0) {
		mb_error(err, errno, "cannot write `%s/index.json`", w->tmp);
		goto out;
	}

	if (fmt == IMAGE_FORMAT_ARCHIVE) {
		json_t *dl = json_array(), *l;
		size_t i;
		json_array_foreach(json_object_get(mj, "layers"), i, l) {
			const char *ld = json_string_value(json_object_get(l, "digest"));
			char lp[100];
			snprintf(lp, sizeof(lp), "blobs/sha256/%s", ld && strlen(ld) > 7 ? ld + 7 : "");
			json_array_append_new(dl, json_string(lp));
		}
		json_t *dm = json_pack("[{s:s, s:[s], s:o}]", "Config", cpath, "RepoTags", full, "Layers", dl);
		char *dm_s = json_dumps(dm, JSON_SORT_KEYS | JSON_COMPACT);
		json_decref(dm);
		wr = dm_s ? reg_put_file(w->dfd, "manifest.json", dm_s, strlen(dm_s)) : -1;
		free(dm_s);
		struct stat st;
		if (stat(w->out, &st) == 0 && S_ISDIR(st.st_mode)) {
			mb_error(err, 0, "cannot write image archive `%s`: it is a directory (use --format oci)",
			         w->out);
			goto out;
		}
		char tname[300];
		if (wr < 0 || list_files(w->dfd, true, &names, &nn) < 0 ||
		    (tfd = rootfs_temp_make(w->pdfd, w->base, false, tname, sizeof(tname))) < 0) {
			mb_error(err, errno, "cannot write beside `%s`", w->out);
			goto out;
		}
		snprintf(w->tmptar, sizeof(w->tmptar), "%s/%s", w->dir, tname);
		if (write_tar(w->dfd, tfd, (const char **)names, nn,
		              parse_created(json_string_value(json_object_get(cj, "created"))), err) < 0)
			goto out;
		if (rootfs_replace_file(w->pdfd, tname, w->base) < 0) {
			mb_error(err, errno, "cannot write `%s`", w->out);
			goto out;
		}
		w->tmptar[0] = '\0';
		/* closed after the rename: the lock tells a sweeper we are alive */
		int c = close(tfd);
		tfd = -1;
		if (c < 0) {
			mb_error(err, errno, "cannot write `%s`", w->out);
			goto out;
		}
	} else {
		struct stat st;
		if (lstat(w->out, &st) == 0) {
			char ol[4200];
			snprintf(ol, sizeof(ol), "%s/oci-layout", w->out);
			if (!S_ISDIR(st.st_mode) || access(ol, F_OK) < 0) {
				mb_error(err, 0, "refusing to replace `%s`: it exists and is not an OCI image "
				         "layout; remove it or choose another -o", w->out);
				goto out;
			}
			/* swapped atomically; the old layout is removed at tmp */
			if (renameat2(AT_FDCWD, w->tmp, AT_FDCWD, w->out, RENAME_EXCHANGE) < 0) {
				mb_error(err, errno, "cannot replace `%s`", w->out);
				goto out;
			}
		} else if (rename(w->tmp, w->out) < 0) {
			mb_error(err, errno, "cannot rename to `%s`", w->out);
			goto out;
		} else {
			w->tmp[0] = '\0';
		}
	}
	ret = 0;
out:
	if (tfd >= 0)
		close(tfd);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	json_decref(mj);
	json_decref(cj);
	free(cfg);
	free(full);
	free(tag);
	return ret;
}

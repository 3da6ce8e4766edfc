/* images read: an OCI layout directory or an image archive, back into
 * its manifest and config (inspect, tests).  Every blob read is checked
 * against its digest; layers are checked for presence and size. */
#include "images_priv.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SMALL_MAX (4u << 20) /* JSON documents and config blobs */

struct file {
	char *name;
	unsigned char *data; /* NULL when only the size was kept */
	uint64_t size;
};

struct src {
	const char *path;
	int dfd;             /* layout directory, or -1 for an archive */
	uint64_t size;       /* the archive's size in bytes */
	struct file *f;      /* archive members */
	size_t n;
};

static void src_free(struct src *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->f[i].name);
		free(s->f[i].data);
	}
	free(s->f);
	if (s->dfd >= 0)
		close(s->dfd);
}

static int read_fd(int fd, size_t size, unsigned char **out, size_t *len)
{
	unsigned char *buf = malloc(size + 1);
	size_t n = 0;

	if (!buf)
		return -1;
	while (n < size) {
		ssize_t r = read(fd, buf + n, size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO; /* shrank while being read */
			free(buf);
			return -1;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int load_archive(struct src *s, struct mb_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	size_t cap = 0;
	uint64_t kept = 0;
	int ret = -1, r;

	if (!a)
		return mb_error(err, 0, "cannot read `%s`: out of memory", s->path);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, s->path, 65536) != ARCHIVE_OK) {
		mb_error(err, 0, "cannot read image archive `%s`: %s", s->path, archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		const char *nm = archive_entry_pathname(ae);
		if (!nm || archive_entry_filetype(ae) != AE_IFREG)
			continue;
		while (nm[0] == '.' && nm[1] == '/')
			nm += 2;
		if (s->n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct file *nf = realloc(s->f, nc * sizeof(*nf));
			if (!nf)
				goto nomem;
			s->f = nf;
			cap = nc;
		}
		struct file *f = &s->f[s->n];
		memset(f, 0, sizeof(*f));
		f->size = (uint64_t)archive_entry_size(ae);
		if (!(f->name = strdup(nm)))
			goto nomem;
		s->n++;
		if (f->size <= SMALL_MAX) {
			/* Every byte kept is a byte of the archive, unless an entry
			 * is sparse: a small hostile archive of sparse entries would
			 * otherwise make us hold gigabytes of zeros. */
			kept += f->size;
			if (kept > s->size) {
				mb_error(err, 0, "cannot read image archive `%s`: its entries hold more data than "
				         "the archive itself (sparse entries?): not an image archive", s->path);
				goto out;
			}
			f->data = malloc(f->size + 1);
			if (!f->data)
				goto nomem;
			la_ssize_t got = archive_read_data(a, f->data, f->size);
			if (got < 0 || (uint64_t)got != f->size) {
				mb_error(err, 0, "cannot read `%s` in `%s`: %s", nm, s->path,
				         got < 0 ? archive_error_string(a) : "truncated");
				goto out;
			}
			f->data[f->size] = '\0';
		}
	}
	if (r != ARCHIVE_EOF) {
		mb_error(err, 0, "cannot read image archive `%s`: %s", s->path, archive_error_string(a));
		goto out;
	}
	ret = 0;
	goto out;
nomem:
	mb_error(err, 0, "cannot read `%s`: out of memory", s->path);
out:
	archive_read_free(a);
	return ret;
}

/* Small file by name (NUL-terminated copy), or its size only. */
static int src_get(struct src *s, const char *name, char **data, size_t *len, uint64_t *size, struct mb_err *err)
{
	if (s->dfd < 0) {
		/* Twice in one tar: extractors keep the last copy, readers that
		 * stop at the first see the other; which one an engine loads is
		 * not for us to guess, and no image writer makes such a tar. */
		size_t seen = 0;
		for (size_t i = 0; i < s->n; i++)
			seen += !strcmp(s->f[i].name, name);
		if (seen > 1)
			return mb_error(err, 0, "cannot read `%s` in `%s`: it is in the archive %zu times", name,
			                s->path, seen);
		for (size_t i = 0; i < s->n; i++)
			if (!strcmp(s->f[i].name, name)) {
				if (size)
					*size = s->f[i].size;
				if (!data)
					return 0;
				if (!s->f[i].data)
					return mb_error(err, 0, "cannot read `%s` in `%s`: larger than %u bytes", name, s->path, SMALL_MAX);
				*data = malloc(s->f[i].size + 1);
				if (!*data)
					return mb_error(err, 0, "cannot read `%s`: out of memory", name);
				memcpy(*data, s->f[i].data, s->f[i].size + 1);
				*len = s->f[i].size;
				return 0;
			}
		return mb_error(err, 0, "cannot find `%s` in image archive `%s`", name, s->path);
	}
	/* O_NONBLOCK: a fifo planted in a layout must not hang the reader
	 * (it is then refused as not a regular file). */
	int fd = openat(s->dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		mb_error(err, 0, "cannot open `%s/%s`: %s", s->path, name, fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (size)
		*size = (uint64_t)st.st_size;
	if (!data) {
		close(fd);
		return 0;
	}
	if ((uint64_t)st.st_size > SMALL_MAX) {
		mb_error(err, 0, "cannot read `%s/%s`: larger than %u bytes", s->path, name, SMALL_MAX);
		close(fd);
		return -1;
	}
	unsigned char *buf;
	size_t n;
	if (read_fd(fd, (size_t)st.st_size, &buf, &n) < 0) {
		mb_error(err, errno, "cannot read `%s/%s`", s->path, name);
		close(fd);
		return -1;
	}
	close(fd);
	*data = (char *)buf;
	*len = n;
	return 0;
}

/* A blob by digest, verified. */
static int get_blob(struct src *s, const char *digest, char **data, size_t *len, struct mb_err *err)
{
	char name[128], got[ROOTFS_DIGEST_LEN];

	if (strncmp(digest, "sha256:", 7) || strlen(digest) != 71 || strspn(digest + 7, "0123456789abcdef") != 64)
		return mb_error(err, 0, "invalid digest `%.80s` in `%s`", digest, s->path);
	snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
	if (src_get(s, name, data, len, NULL, err) < 0)
		return -1;
	if (img_sha256(*data, *len, got) < 0 || strcmp(got, digest)) {
		mb_error(err, 0, "blob `%s` in `%s` does not match its digest (got %s)", name, s->path, got);
		free(*data);
		*data = NULL;
		return -1;
	}
	return 0;
}

static char *dupstr(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* When index.json names an image index (a multi-platform image, index.c):
 * list its platforms in info and point *mdig at the manifest of arch (NULL:
 * the first).  Nothing to do for a plain manifest. */
static int read_index(struct src *s, json_t *m0, const char *arch, struct image_info *info,
                      char **sub_s, json_t **sub, const char **mdig, struct mb_err *err)
{
	const char *mt = json_string_value(json_object_get(m0, "mediaType"));
	if (!mt || strcmp(mt, IMG_MT_INDEX))
		return 0;
	size_t len;
	json_error_t je;
	if (get_blob(s, *mdig, sub_s, &len, err) < 0)
		return -1;
	json_t *ms = json_object_get(*sub = json_loadb(*sub_s, len, 0, &je), "manifests");
	size_t n = json_array_size(ms);
	if (!*sub || n == 0)
		return mb_error(err, 0, "invalid image index %s in `%s`: no manifests", *mdig, s->path);
	info->index_digest = strdup(*mdig);
	info->platforms = calloc(n + 1, sizeof(char *));
	info->platform_digests = calloc(n + 1, sizeof(char *));
	if (!info->index_digest || !info->platforms || !info->platform_digests)
		goto nomem;
	const char *pick = NULL;
	for (size_t i = 0; i < n; i++) {
		json_t *d = json_array_get(ms, i), *p = json_object_get(d, "platform");
		const char *dg = json_string_value(json_object_get(d, "digest"));
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *a = json_string_value(json_object_get(p, "architecture"));
		const char *v = json_string_value(json_object_get(p, "variant"));
		if (!dg || !os || !a)
			return mb_error(err, 0, "invalid image index %s in `%s`: manifest %zu has no digest or "
			                "platform", *mdig, s->path, i + 1);
		if (asprintf(&info->platforms[i], "%s/%s%s%s", os, a, v ? "/" : "", v ? v : "") < 0) {
			info->platforms[i] = NULL;
			goto nomem;
		}
		if (!(info->platform_digests[i] = strdup(dg)))
			goto nomem;
		info->nplatforms = i + 1;
		if (!pick && (!arch || !strcmp(arch, a))) {
			pick = dg;
			/* the picked platform's SBOM (images.h) */
			const char *sb = json_string_value(json_object_get(json_object_get(d, "annotations"),
			                                                   IMAGE_SBOM_ANNOTATION));
			free(info->sbom_digest);
			info->sbom_digest = sb ? strdup(sb) : NULL;
		}
	}
	if (!pick)
		return mb_error(err, 0, "`%s` has no image for linux/%s", s->path, arch);
	*mdig = pick;
	return 0;
nomem:
	return mb_error(err, 0, "cannot read `%s`: out of memory", s->path);
}

int image_read(const char *path, struct image_info *info, struct mb_err *err)
{
	return image_read_platform(path, NULL, info, err);
}

int image_read_platform(const char *path, const char *arch, struct image_info *info, struct mb_err *err)
{
	struct src s = { .path = path, .dfd = -1 };
	char *idx_s = NULL, *sub_s = NULL, *split = NULL;
	const char *want = NULL;
	size_t len;
	json_t *idx = NULL, *man = NULL, *sub = NULL;
	json_error_t je;
	struct stat st;
	int ret = -1;

	memset(info, 0, sizeof(*info));
	if (stat(path, &st) < 0) {
		/* PATH:REF, as skopeo's oci:PATH:REF: one image of a layout that
		 * holds several (an -o DIR merged into an existing layout). */
		const char *colon = strrchr(path, ':');
		int e = errno;
		if (e == ENOENT && colon && colon[1] && !strchr(colon, '/') &&
		    (split = strndup(path, (size_t)(colon - path))) && stat(split, &st) == 0 &&
		    S_ISDIR(st.st_mode)) {
			want = colon + 1;
			s.path = path = split;
		} else {
			mb_error(err, e, "cannot open image `%s`", path);
			free(split);
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return mb_error(err, 0, "cannot read image `%s`: not a regular file or a directory", path);
	if (S_ISDIR(st.st_mode)) {
		s.dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s.dfd < 0)
			return mb_error(err, errno, "cannot open image `%s`", path);
	} else {
		s.size = (uint64_t)st.st_size;
		if (load_archive(&s, err) < 0)
			goto out;
	}
	if (src_get(&s, "oci-layout", NULL, NULL, NULL, err) < 0 ||
	    src_get(&s, "index.json", &idx_s, &len, NULL, err) < 0) {
		mb_wrap(err, "`%s` is not an OCI image layout", path);
		goto out;
	}
	if (!(idx = json_loadb(idx_s, len, 0, &je))) {
		mb_error(err, 0, "invalid index.json in `%s`: %s (line %d)", path, je.text, je.line);
		goto out;
	}
	json_t *ms = json_object_get(idx, "manifests"), *m0 = json_array_get(ms, 0);
	if (want) {
		size_t i;
		json_t *m;
		m0 = NULL;
		json_array_foreach(ms, i, m) {
			const char *r = json_string_value(json_object_get(json_object_get(m, "annotations"),
			                                                  "org.opencontainers.image.ref.name"));
			if (r && !strcmp(r, want) && !m0)
				m0 = m;
		}
		if (!m0) {
			mb_error(err, 0, "no image `%s` in the OCI layout `%s` (no index.json entry has "
			         "that org.opencontainers.image.ref.name)", want, path);
			goto out;
		}
	}
	const char *mdig = json_string_value(json_object_get(m0, "digest"));
	if (!mdig) {
		mb_error(err, 0, "invalid index.json in `%s`: no manifest descriptor", path);
		goto out;
	}
	json_t *ann = json_object_get(m0, "annotations");
	info->ref_name = dupstr(json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name")));
	info->image_name = dupstr(json_string_value(json_object_get(ann, "io.containerd.image.name")));
	if (read_index(&s, m0, arch, info, &sub_s, &sub, &mdig, err) < 0)
		goto out;
	if (!info->sbom_digest)
		info->sbom_digest = dupstr(json_string_value(json_object_get(ann, IMAGE_SBOM_ANNOTATION)));
	info->manifest_digest = strdup(mdig);
	if (get_blob(&s, mdig, &info->manifest_json, &len, err) < 0)
		goto out;
	if (!(man = json_loadb(info->manifest_json, len, 0, &je))) {
		mb_error(err, 0, "invalid manifest %s in `%s`: %s", mdig, path, je.text);
		goto out;
	}
	const char *cdig = json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
	if (!cdig) {
		mb_error(err, 0, "invalid manifest %s in `%s`: no config descriptor", mdig, path);
		goto out;
	}
	if (get_blob(&s, cdig, &info->config_json, &len, err) < 0)
		goto out;
	json_t *layers = json_object_get(man, "layers");
	size_t nl = json_array_size(layers);
	info->layer_digests = calloc(nl + 1, sizeof(char *));
	info->layer_sizes = calloc(nl + 1, sizeof(uint64_t));
	if (!info->layer_digests || !info->layer_sizes) {
		mb_error(err, 0, "cannot read `%s`: out of memory", path);
		goto out;
	}
	for (size_t i = 0; i < nl; i++) {
		json_t *l = json_array_get(layers, i);
		const char *ld = json_string_value(json_object_get(l, "digest"));
		json_int_t sz = json_integer_value(json_object_get(l, "size"));
		char name[128];
		uint64_t have = 0;
		if (!ld || strncmp(ld, "sha256:", 7) || strlen(ld) != 71 || strspn(ld + 7, "0123456789abcdef") != 64) {
			mb_error(err, 0, "invalid manifest %s in `%s`: layer %zu has no valid digest", mdig, path, i + 1);
			goto out;
		}
		snprintf(name, sizeof(name), "blobs/sha256/%s", ld + 7);
		if (src_get(&s, name, NULL, NULL, &have, err) < 0)
			goto out;
		if (have != (uint64_t)sz) {
			mb_error(err, 0, "layer %s in `%s` is %llu bytes, the manifest says %lld", ld, path,
			         (unsigned long long)have, (long long)sz);
			goto out;
		}
		if (!(info->layer_digests[i] = strdup(ld)))
			goto out;
		info->layer_sizes[i] = have;
		info->nlayers = i + 1;
	}
	ret = 0;
out:
	json_decref(idx);
	json_decref(man);
	json_decref(sub);
	free(idx_s);
	free(sub_s);
	src_free(&s);
	free(split);
	if (ret < 0)
		image_info_free(info);
	return ret;
}

void image_info_free(struct image_info *info)
{
	if (!info)
		return;
	free(info->manifest_digest);
	free(info->config_json);
	free(info->manifest_json);
	for (size_t i = 0; info->layer_digests && i < info->nlayers; i++)
		free(info->layer_digests[i]);
	free(info->layer_digests);
	free(info->layer_sizes);
	free(info->ref_name);
	free(info->image_name);
	free(info->index_digest);
	for (size_t i = 0; info->platforms && i < info->nplatforms; i++) {
		free(info->platforms[i]);
		free(info->platform_digests[i]);
	}
	free(info->platforms);
	free(info->platform_digests);
	free(info->sbom_digest);
	memset(info, 0, sizeof(*info));
}

/* images base: a service image on top of another image (`--base`).
 *
 * The base is a registry reference (pulled first, for the service's
 * platform), an OCI layout, our archive, or a `docker save` tar (docker
 * 20.10's: manifest.json naming <id>/layer.tar, uncompressed).  Its layers
 * are kept byte for byte, with their digests: the image reuses them as
 * they are, under the OCI media type of their compression.  Each is read
 * through once, with libarchive, to learn whether it holds
 * /usr/bin/minbase-init (whiteouts included) and to refuse one we cannot
 * read: a layer we cannot read is one whose contents we cannot vouch for.
 *
 * The config is the base's, merged (as a Dockerfile FROM does): Env,
 * Labels, ExposedPorts and WorkingDir stay unless ours set them; User,
 * Entrypoint, Cmd (reset with the Entrypoint) and Healthcheck are ours;
 * diff_ids and history go on. */
#include "registry_priv.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MT_TAR  "application/vnd.oci.image.layer.v1.tar"
#define MT_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

struct base_layer {
	char digest[ROOTFS_DIGEST_LEN];
	char *member;              /* its file in the source */
	char *mt;                  /* OCI media type */
	uint64_t size;
};

struct image_base {
	char tmpdir[4096];         /* a pulled base, removed at close */
	char spec[512];
	struct reg_src src;
	json_t *config;
	struct base_layer *l;
	size_t nl;
	bool has_init, pulled;
	char *name;                /* io.containerd.image.name of the layout, if any */
	char manifest_digest[ROOTFS_DIGEST_LEN]; /* "" for a docker save tar */
	char *sbom;                /* its own SPDX document (IMAGE_SBOM_ANNOTATION) */
	size_t sbom_len;
	struct mb_err sbom_err;    /* why an announced one cannot be read (msg "" if not) */
};

void image_base_close(struct image_base *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nl; i++) {
		free(b->l[i].member);
		free(b->l[i].mt);
	}
	free(b->l);
	free(b->name);
	free(b->sbom);
	json_decref(b->config);
	reg_src_close(&b->src);
	if (b->tmpdir[0]) {
		/* our own mkdtemp directory and the layout pulled into it */
		int dfd = open(b->tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			img_remove_tree(dfd, "base");
			close(dfd);
		}
		rmdir(b->tmpdir);
	}
	free(b);
}

/* The OCI media type of a layer, from its descriptor or (docker save) its
 * first bytes; NULL for what we do not read. */
static const char *layer_mt(const char *mt, const unsigned char *magic, size_t n)
{
	if (!mt) {
		if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
			return MT_GZIP;
		if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
			return MT_ZSTD;
		return MT_TAR;
	}
	if (strstr(mt, "nondistributable") || strstr(mt, "foreign"))
		return NULL;
	if (!strcmp(mt, MT_GZIP) || !strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar.gzip"))
		return MT_GZIP;
	if (!strcmp(mt, MT_TAR) || !strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar"))
		return MT_TAR;
	if (!strcmp(mt, MT_ZSTD))
		return MT_ZSTD;
	return NULL;
}

/* ---- reading a layer in place ------------------------------------------ */

struct lread {
	int fd;
	uint64_t off, size, pos;
	EVP_MD_CTX *md;
	unsigned char buf[1 << 16];
};

static la_ssize_t lr_read(struct archive *a, void *ud, const void **out)
{
	struct lread *r = ud;
	uint64_t left = r->size - r->pos;
	size_t want = left < sizeof(r->buf) ? (size_t)left : sizeof(r->buf);
	if (!want)
		return 0;
	ssize_t n;
	do
		n = pread(r->fd, r->buf, want, (off_t)(r->off + r->pos));
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		archive_set_error(a, n < 0 ? errno : EIO, "cannot read the layer");
		return -1;
	}
	EVP_DigestUpdate(r->md, r->buf, (size_t)n);
	r->pos += (uint64_t)n;
	*out = r->buf;
	return n;
}

/* Reads layer i through: its digest (checked, or learnt for docker save)
 * and what it does to /usr/bin/minbase-init. */
static int scan_layer(struct image_base *b, size_t i, bool learn_digest, struct mb_err *err)
{
	struct base_layer *l = &b->l[i];
	struct lread *r = calloc(1, sizeof(*r));
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int ret = -1, rc;

	if (!r || !a || !(r->md = EVP_MD_CTX_new()) ||
	    EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1) {
		mb_error(err, 0, "out of memory");
		goto out;
	}
	r->fd = b->src.fd >= 0 ? b->src.fd : -1;
	if (r->fd < 0) {
		int fd;
		if (reg_src_blob(&b->src, l->digest, &fd, &r->off, &r->size, err) < 0)
			goto out;
		r->fd = fd;
	} else {
		for (size_t k = 0; k < b->src.n; k++)
			if (!strcmp(b->src.m[k].name, l->member)) {
				r->off = b->src.m[k].off;
				r->size = b->src.m[k].size;
			}
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open(a, r, NULL, lr_read, NULL) != ARCHIVE_OK)
		goto unreadable;
	while ((rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		const char *nm = archive_entry_pathname(ae);
		while (nm && (*nm == '/' || (nm[0] == '.' && nm[1] == '/')))
			nm += *nm == '/' ? 1 : 2;
		if (!nm)
			continue;
		if (!strcmp(nm, "usr/bin/minbase-init"))
			b->has_init = archive_entry_filetype(ae) == AE_IFREG;
		else if (!strcmp(nm, "usr/bin/.wh.minbase-init") || !strcmp(nm, "usr/bin/.wh..wh..opq") ||
		         !strcmp(nm, "usr/.wh.bin") || !strcmp(nm, ".wh.usr"))
			b->has_init = false;
	}
	if (rc != ARCHIVE_EOF)
		goto unreadable;
	/* the rest of the blob (padding after the tar's end) is hashed too */
	const void *dummy;
	while (r->pos < r->size)
		if (lr_read(a, r, &dummy) <= 0)
			goto unreadable;
	unsigned char md[32];
	unsigned int ml = 0;
	char got[ROOTFS_DIGEST_LEN];
	EVP_DigestFinal_ex(r->md, md, &ml);
	rootfs_hex(md, got);
	if (learn_digest) {
		memcpy(l->digest, got, ROOTFS_DIGEST_LEN);
	} else if (strcmp(got, l->digest)) {
		mb_error(err, 0, "base `%s`: layer %zu does not match its digest %s", b->spec, i + 1, l->digest);
		goto out;
	}
	ret = 0;
	goto out;
unreadable:
	mb_error(err, 0, "base `%s`: layer %zu (%s, %s) cannot be read: %s; mkimage reads "
	         "uncompressed, gzip and zstd tar layers", b->spec, i + 1, l->digest[0] ? l->digest : l->member,
	         l->mt, archive_error_string(a) ? archive_error_string(a) : "unknown format");
out:
	if (r && b->src.fd < 0 && r->fd >= 0)
		close(r->fd);
	if (a)
		archive_read_free(a);
	if (r)
		EVP_MD_CTX_free(r->md);
	free(r);
	return ret;
}

/* ---- the base's manifest and config ------------------------------------ */

static int add_layer(struct image_base *b, const char *digest, const char *member,
                     const char *mt, uint64_t size, struct mb_err *err)
{
	struct base_layer *nl = realloc(b->l, (b->nl + 1) * sizeof(*nl));
	if (!nl)
		return mb_error(err, 0, "out of memory");
	b->l = nl;
	struct base_layer *l = &nl[b->nl++];
	memset(l, 0, sizeof(*l));
	if (digest)
		snprintf(l->digest, sizeof(l->digest), "%s", digest);
	l->member = strdup(member);
	l->mt = strdup(mt);
	l->size = size;
	return l->member && l->mt ? 0 : -1;
}

/* The SPDX document of the base's SBOM artifact (art: its manifest's
 * digest), both checked against their digests.  One that is announced and
 * not there, or not an SBOM of the base, fails the image's SBOM (not the
 * build with --sbom none): it would otherwise silently say less than the
 * base claims of itself. */
static int read_sbom(struct image_base *b, const char *art, struct mb_err *err)
{
	char *data = NULL;
	size_t len;
	json_error_t je;
	if (reg_src_read_blob(&b->src, art, REG_MANIFEST_MAX, &data, &len, err) < 0)
		return mb_error(err, 0, "base `%s`: its %s annotation names no SBOM artifact in it (%s)",
		                b->spec, IMAGE_SBOM_ANNOTATION, art);
	json_t *m = json_loadb(data, len, 0, &je), *l = json_array_get(json_object_get(m, "layers"), 0);
	free(data);
	const char *sub = json_string_value(json_object_get(json_object_get(m, "subject"), "digest"));
	const char *at = json_string_value(json_object_get(m, "artifactType"));
	const char *ld = json_string_value(json_object_get(l, "digest"));
	int ret = -1;
	if (!sub || strcmp(sub, b->manifest_digest) || !at || strcmp(at, IMAGE_SBOM_MEDIA_TYPE) ||
	    !reg_digest_ok(ld)) {
		mb_error(err, 0, "base `%s`: its SBOM artifact %s is not an SPDX document about its "
		         "manifest %s", b->spec, art, b->manifest_digest);
	} else if (reg_src_read_blob(&b->src, ld, REG_MANIFEST_MAX, &b->sbom, &b->sbom_len, err) == 0) {
		ret = 0;
	}
	json_decref(m);
	return ret;
}

/* index.json -> the manifest for arch (an index inside is resolved). */
static int open_oci(struct image_base *b, const char *arch, struct mb_err *err)
{
	char *s = NULL, *man = NULL, *cfg = NULL, *sbom_art = NULL;
	size_t len;
	json_error_t je;
	json_t *j = NULL, *m = NULL;
	int ret = -1;

	if (reg_src_read(&b->src, "index.json", REG_MANIFEST_MAX, &s, &len, err) < 0)
		return -1;
	j = json_loadb(s, len, 0, &je);
	for (int depth = 0; depth < 3; depth++) {
		json_t *ms = json_object_get(j, "manifests"), *d, *pick = NULL;
		size_t i;
		json_array_foreach(ms, i, d) {
			const char *a = json_string_value(json_object_get(json_object_get(d, "platform"), "architecture"));
			if (json_array_size(ms) == 1 || (a && !strcmp(a, arch)))
				pick = pick ? pick : d;
		}
		const char *dg = json_string_value(json_object_get(pick, "digest"));
		if (!dg) {
			mb_error(err, 0, "base `%s` has no image for linux/%s", b->spec, arch);
			goto out;
		}
		json_t *ann = json_object_get(pick, "annotations");
		const char *nm = json_string_value(json_object_get(ann, "io.containerd.image.name"));
		if (depth == 0 && nm && !(b->name = strdup(nm)))
			goto nomem;
		/* the SBOM of the image picked (at the level that names it) */
		const char *sb = json_string_value(json_object_get(ann, IMAGE_SBOM_ANNOTATION));
		if (sb) {
			free(sbom_art);
			if (!(sbom_art = strdup(sb)))
				goto nomem;
		}
		snprintf(b->manifest_digest, sizeof(b->manifest_digest), "%s", dg);
		free(man);
		man = NULL;
		if (reg_src_read_blob(&b->src, dg, REG_MANIFEST_MAX, &man, &len, err) < 0)
			goto out;
		json_decref(m);
		m = json_loadb(man, len, 0, &je);
		if (!json_object_get(m, "manifests"))
			break;
		json_decref(j);
		j = m;
		m = NULL;
	}
	const char *cd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
	if (!cd || reg_src_read_blob(&b->src, cd, REG_MANIFEST_MAX, &cfg, &len, err) < 0) {
		if (!cd)
			mb_error(err, 0, "base `%s`: its manifest has no config", b->spec);
		goto out;
	}
	b->config = json_loadb(cfg, len, 0, &je);
	json_t *l;
	size_t i;
	json_array_foreach(json_object_get(m, "layers"), i, l) {
		const char *ld = json_string_value(json_object_get(l, "digest"));
		const char *omt = json_string_value(json_object_get(l, "mediaType"));
		const char *mt = layer_mt(omt ? omt : MT_GZIP, NULL, 0);
		char member[100];
		if (!reg_digest_ok(ld)) {
			mb_error(err, 0, "base `%s`: layer %zu has no valid digest", b->spec, i + 1);
			goto out;
		}
		if (!mt) {
			mb_error(err, 0, "base `%s`: layer %zu is %s, which mkimage cannot read (it reads "
			         "uncompressed, gzip and zstd tar layers)", b->spec, i + 1, omt);
			goto out;
		}
		snprintf(member, sizeof(member), "blobs/sha256/%s", ld + 7);
		if (add_layer(b, ld, member, mt, (uint64_t)json_integer_value(json_object_get(l, "size")), err) < 0)
			goto out;
	}
	/* only the SBOM needs it: a build with --sbom none goes on */
	if (sbom_art && read_sbom(b, sbom_art, &b->sbom_err) < 0) {
		free(b->sbom);
		b->sbom = NULL;
	}
	ret = 0;
	goto out;
nomem:
	mb_error(err, 0, "out of memory");
out:
	json_decref(j);
	json_decref(m);
	free(s);
	free(man);
	free(cfg);
	free(sbom_art);
	return ret;
}

/* docker save (20.10): manifest.json [{Config, Layers: [<id>/layer.tar]}]. */
static int open_docker_save(struct image_base *b, struct mb_err *err)
{
	char *s = NULL, *cfg = NULL;
	size_t len;
	json_error_t je;
	int ret = -1;

	if (reg_src_read(&b->src, "manifest.json", REG_MANIFEST_MAX, &s, &len, err) < 0)
		return mb_error(err, 0, "base `%s` is neither an OCI layout nor a docker save archive (no "
		                "index.json or manifest.json)", b->spec);
	json_t *j = json_loadb(s, len, 0, &je), *e = json_array_get(j, 0), *l;
	const char *cp = json_string_value(json_object_get(e, "Config"));
	if (json_array_size(j) != 1 || !cp) {
		mb_error(err, 0, "base `%s`: its manifest.json must name exactly one image", b->spec);
		goto out;
	}
	if (reg_src_read(&b->src, cp, REG_MANIFEST_MAX, &cfg, &len, err) < 0)
		goto out;
	b->config = json_loadb(cfg, len, 0, &je);
	size_t i;
	json_array_foreach(json_object_get(e, "Layers"), i, l) {
		const char *p = json_string_value(l);
		size_t k;
		for (k = 0; p && k < b->src.n && strcmp(b->src.m[k].name, p); k++)
			;
		if (!p || k == b->src.n) {
			mb_error(err, 0, "base `%s`: layer %zu is missing from the archive", b->spec, i + 1);
			goto out;
		}
		unsigned char magic[4] = { 0 };
		ssize_t n = pread(b->src.fd, magic, sizeof(magic), (off_t)b->src.m[k].off);
		if (add_layer(b, NULL, p, layer_mt(NULL, magic, n > 0 ? (size_t)n : 0),
		              b->src.m[k].size, err) < 0)
			goto out;
	}
	ret = 0;
out:
	json_decref(j);
	free(s);
	free(cfg);
	return ret;
}

int image_base_open(const char *spec, const char *arch, const struct image_remote_opts *o,
                    struct image_base **out, struct mb_err *err)
{
	struct image_base *b = calloc(1, sizeof(*b));
	struct stat st;
	const char *path = spec;
	char pulled[4200];

	*out = NULL;
	if (!b)
		return mb_error(err, 0, "out of memory");
	b->src.fd = b->src.dfd = -1;
	snprintf(b->spec, sizeof(b->spec), "%s", spec);
	if (stat(spec, &st) < 0) {
		/* not a file: a registry reference, pulled for our platform */
		if (errno != ENOENT || strchr("./", spec[0])) {
			mb_error(err, errno, "cannot open base `%s`", spec);
			goto fail;
		}
		if (rootfs_tmpdir("mkimage-base", b->tmpdir, sizeof(b->tmpdir), err) < 0)
			goto fail;
		char plat[64];
		struct mb_err why = {0};
		struct image_pull_result pr;
		snprintf(plat, sizeof(plat), "linux/%s", arch);
		snprintf(pulled, sizeof(pulled), "%s/base", b->tmpdir);
		if (image_pull(spec, plat, IMAGE_FORMAT_OCI_DIR, pulled, o, &pr, &why) < 0) {
			mb_error(err, 0, "cannot pull base `%s` (not a file either): %.400s", spec, why.msg);
			goto fail;
		}
		path = pulled;
		b->pulled = true;
	}
	if (reg_src_open(path, &b->src, err) < 0)
		goto fail;
	bool oci = b->src.dfd >= 0;
	for (size_t k = 0; !oci && k < b->src.n; k++)
		oci = !strcmp(b->src.m[k].name, "index.json");
	if ((oci ? open_oci(b, arch, err) : open_docker_save(b, err)) < 0)
		goto fail;
	const char *ba = json_string_value(json_object_get(b->config, "architecture"));
	if (!json_is_object(b->config) || (ba && strcmp(ba, arch))) {
		mb_error(err, 0, "base `%s` is for %s, the service for %s: use a base for %s or --arch %s",
		         spec, ba ? ba : "(no config)", arch, arch, ba ? ba : arch);
		goto fail;
	}
	for (size_t i = 0; i < b->nl; i++)
		if (scan_layer(b, i, !oci, err) < 0)
			goto fail;
	*out = b;
	return 0;
fail:
	image_base_close(b);
	return -1;
}

bool image_base_has_init(const struct image_base *b)
{
	return b->has_init;
}

size_t image_base_layers(const struct image_base *b)
{
	return b->nl;
}

void image_base_facts(const struct image_base *b, struct image_base_facts *f)
{
	*f = (struct image_base_facts){
		.spec = b->spec, .name = b->name, .pulled = b->pulled,
		.manifest_digest = b->manifest_digest[0] ? b->manifest_digest : NULL,
		.sbom = b->sbom, .sbom_len = b->sbom_len,
		.sbom_error = b->sbom_err.msg[0] ? b->sbom_err.msg : NULL,
	};
}

/* ---- the image on the base ---------------------------------------------- */

/* base's array member k, then ours (replacing equal keys: "K=V" lists
 * compare the K). */
static json_t *merge_env(json_t *base, json_t *ours)
{
	json_t *out = json_array(), *v;
	size_t i;
	json_array_foreach(base, i, v) {
		const char *s = json_string_value(v);
		if (!s)
			continue;
		size_t kl = strcspn(s, "=");
		bool replaced = false;
		size_t k;
		json_t *w;
		json_array_foreach(ours, k, w) {
			const char *t = json_string_value(w);
			/* the base's PATH stays: its programs live there */
			if (t && !strncmp(t, s, kl) && t[kl] == '=' && strncmp(s, "PATH=", 5))
				replaced = true;
		}
		if (!replaced)
			json_array_append(out, v);
	}
	json_array_foreach(ours, i, v) {
		const char *t = json_string_value(v);
		bool base_path = false;
		size_t k;
		json_t *w;
		json_array_foreach(base, k, w) {
			const char *s = json_string_value(w);
			base_path |= s && t && !strncmp(t, "PATH=", 5) && !strncmp(s, "PATH=", 5);
		}
		if (!base_path)
			json_array_append(out, v);
	}
	return out;
}

static void merge_obj(json_t *dst, const char *key, json_t *ours)
{
	json_t *b = json_object_get(dst, key);
	if (!json_is_object(ours))
		return;
	if (!json_is_object(b))
		json_object_set(dst, key, ours);
	else
		json_object_update(b, ours);
}

static char *merged_config(const struct image_base *b, const char *ours_s, bool keep_workdir,
                           struct mb_err *err)
{
	json_error_t je;
	json_t *ours = json_loads(ours_s, 0, &je), *bc = json_deep_copy(b->config);
	char *out = NULL;

	if (!ours || !bc) {
		mb_error(err, 0, "cannot merge the base's config: out of memory");
		goto out;
	}
	json_t *oc = json_object_get(ours, "config"), *cc = json_object_get(bc, "config");
	if (!json_is_object(cc)) {
		cc = json_object();
		json_object_set_new(bc, "config", cc);
	}
	/* ours outright: who runs, what runs, how it is checked */
	static const char *const mine[] = { "User", "Entrypoint", "Cmd" };
	for (size_t i = 0; i < 3; i++) {
		json_t *v = json_object_get(oc, mine[i]);
		if (v)
			json_object_set(cc, mine[i], v);
		else
			json_object_del(cc, mine[i]); /* a new Entrypoint resets Cmd, as in a Dockerfile */
	}
	if (json_object_get(oc, "Healthcheck"))
		json_object_set(cc, "Healthcheck", json_object_get(oc, "Healthcheck"));
	json_object_set_new(cc, "Env", merge_env(json_object_get(cc, "Env"), json_object_get(oc, "Env")));
	merge_obj(cc, "Labels", json_object_get(oc, "Labels"));
	merge_obj(cc, "ExposedPorts", json_object_get(oc, "ExposedPorts"));
	const char *bw = json_string_value(json_object_get(cc, "WorkingDir"));
	if (json_object_get(oc, "WorkingDir") && (!keep_workdir || !bw || !*bw))
		json_object_set(cc, "WorkingDir", json_object_get(oc, "WorkingDir"));
	json_object_set(bc, "created", json_object_get(ours, "created"));
	/* arm64's variant, when the base does not say it itself */
	if (json_object_get(ours, "variant") && !json_object_get(bc, "variant"))
		json_object_set(bc, "variant", json_object_get(ours, "variant"));
	json_t *rf = json_object_get(bc, "rootfs");
	if (!json_is_object(rf)) {
		rf = json_pack("{s:s, s:[]}", "type", "layers", "diff_ids");
		json_object_set_new(bc, "rootfs", rf);
	}
	json_array_extend(json_object_get(rf, "diff_ids"),
	                  json_object_get(json_object_get(ours, "rootfs"), "diff_ids"));
	json_t *h = json_object_get(bc, "history");
	if (!json_is_array(h)) {
		h = json_array();
		json_object_set_new(bc, "history", h);
	}
	json_array_extend(h, json_object_get(ours, "history"));
	out = json_dumps(bc, JSON_SORT_KEYS | JSON_COMPACT);
	if (!out)
		mb_error(err, 0, "cannot write the merged config: invalid UTF-8 in the base's config");
out:
	json_decref(ours);
	json_decref(bc);
	return out;
}

/* A base blob into the output layout: copied from where it lies (the
 * layout's file or the archive's member), with copy_file_range. */
static int copy_blob(const struct image_base *b, const struct base_layer *l, int dfd, struct mb_err *err)
{
	char name[100];
	int in = -1, out = -1, ret = -1;
	uint64_t off = 0, size = l->size;

	snprintf(name, sizeof(name), "blobs/sha256/%s", l->digest + 7);
	if (b->src.fd >= 0) {
		in = b->src.fd;
		for (size_t k = 0; k < b->src.n; k++)
			if (!strcmp(b->src.m[k].name, l->member)) {
				off = b->src.m[k].off;
				size = b->src.m[k].size;
			}
	} else {
		struct reg_src *s = (struct reg_src *)&b->src;
		if (reg_src_blob(s, l->digest, &in, &off, &size, err) < 0)
			return -1;
	}
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (out < 0) {
		ret = errno == EEXIST ? 0 : -1; /* the same layer twice */
		if (ret < 0)
			mb_error(err, errno, "cannot write `%s`", name);
		goto done;
	}
	loff_t o = (loff_t)off;
	while (size) {
		ssize_t n = copy_file_range(in, &o, out, NULL, size, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			mb_error(err, 0, "cannot copy base layer %s: %s", l->digest, n < 0 ? strerror(errno) : "short file");
			goto done;
		}
		size -= (uint64_t)n;
	}
	ret = close(out);
	out = -1;
	if (ret < 0)
		mb_error(err, errno, "cannot write `%s`", name);
done:
	if (out >= 0)
		close(out);
	if (b->src.fd < 0 && in >= 0)
		close(in);
	return ret;
}

int image_write_on_base(const struct image_base *b, const struct image_config *c,
                        const struct image_layer *layers, size_t n, bool keep_workdir,
                        enum image_format fmt, const char *out, struct image_result *res,
                        struct mb_err *err)
{
	struct img_docs d;
	struct reg_out w = { .dfd = -1, .pdfd = -1 };
	char *cfg = NULL, *man = NULL, cdig[ROOTFS_DIGEST_LEN], mdig[ROOTFS_DIGEST_LEN];
	json_t *mj = NULL;
	json_error_t je;
	int ret = -1;
	/* The SBOM's subject is the merged manifest made below, not the one
	 * img_docs_build makes: it is built here, once that one is known. */
	struct image_config c0 = *c;
	struct img_sbom sbom = { 0 };
	c0.sbom = NULL;
	c0.nsbom = 0;
	c0.sbom_ext = NULL;

	if (img_docs_build(&c0, layers, n, &d, err) < 0)
		return -1;
	if (!(cfg = merged_config(b, d.config, keep_workdir, err)) ||
	    img_sha256(cfg, strlen(cfg), cdig) < 0)
		goto out;
	/* our manifest, with the base's layers first and the merged config */
	mj = json_loads(d.manifest, 0, &je);
	json_t *ls = json_array();
	for (size_t i = 0; i < b->nl; i++)
		json_array_append_new(ls, json_pack("{s:s, s:s, s:I}", "mediaType", b->l[i].mt,
		                                    "digest", b->l[i].digest, "size", (json_int_t)b->l[i].size));
	json_array_extend(ls, json_object_get(mj, "layers"));
	json_object_set_new(mj, "layers", ls);
	json_object_set_new(mj, "config", json_pack("{s:s, s:s, s:I}", "mediaType", IMG_MT_CONFIG,
	                                            "digest", cdig, "size", (json_int_t)strlen(cfg)));
	if (!(man = json_dumps(mj, JSON_SORT_KEYS | JSON_COMPACT)) ||
	    img_sha256(man, strlen(man), mdig) < 0) {
		mb_error(err, 0, "out of memory");
		goto out;
	}
	if (img_sbom_build(c, mdig, strlen(man), &sbom, err) < 0 || reg_out_begin(out, &w, err) < 0)
		goto out;
	if (sbom.manifest) {
		/* the artifact as write.c stores it: empty config, the document, the
		 * artifact manifest, named by the annotation reg_out_finish writes */
		char sn[3][100];
		const char *dg[3] = { IMG_EMPTY_DIGEST, sbom.doc_digest, sbom.manifest_digest };
		const char *data[3] = { IMG_EMPTY_JSON, sbom.doc, sbom.manifest };
		for (int k = 0; k < 3; k++) {
			snprintf(sn[k], sizeof(sn[k]), "blobs/sha256/%s", dg[k] + 7);
			if (reg_put_file(w.dfd, sn[k], data[k], strlen(data[k])) < 0 && errno != EEXIST) {
				mb_error(err, errno, "cannot write `%s`", sn[k]);
				goto out;
			}
		}
		snprintf(w.sbom, sizeof(w.sbom), "%s", sbom.manifest_digest);
	}
	for (size_t i = 0; i < b->nl; i++)
		if (copy_blob(b, &b->l[i], w.dfd, err) < 0)
			goto out;
	/* Our layers are written by image_write (however it holds blobs: in
	 * memory or spooled) to a layout inside ours, then moved across. */
	char name[100], ours[4500], from[4700];
	snprintf(ours, sizeof(ours), "%s/ours", w.tmp);
	if (image_write(&c0, layers, n, IMAGE_FORMAT_OCI_DIR, ours, NULL, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "blobs/sha256/%s", layers[i].layer->digest + 7);
		snprintf(from, sizeof(from), "ours/%s", name);
		if (renameat(w.dfd, from, w.dfd, name) < 0 && errno != ENOENT) {
			mb_error(err, errno, "cannot move `%s`", name);
			goto out;
		}
	}
	img_remove_tree(w.dfd, "ours");
	snprintf(name, sizeof(name), "blobs/sha256/%s", cdig + 7);
	if (reg_put_file(w.dfd, name, cfg, strlen(cfg)) < 0) {
		mb_error(err, errno, "cannot write `%s`", name);
		goto out;
	}
	if (reg_out_finish(&w, fmt, mdig, IMG_MT_MANIFEST, man, strlen(man), NULL,
	                   c->tag ? c->tag : "image:latest", err) < 0)
		goto out;
	if (res) {
		memset(res, 0, sizeof(*res));
		memcpy(res->manifest_digest, mdig, ROOTFS_DIGEST_LEN);
		memcpy(res->config_digest, cdig, ROOTFS_DIGEST_LEN);
		for (size_t i = 0; i < b->nl; i++)
			res->compressed += b->l[i].size;
		for (size_t i = 0; i < n; i++) {
			res->compressed += layers[i].layer->blob_len;
			res->uncompressed += layers[i].layer->tar_len;
		}
	}
	ret = 0;
out:
	reg_out_abort(&w);
	img_sbom_free(&sbom);
	json_decref(mj);
	free(cfg);
	free(man);
	img_docs_free(&d);
	return ret;
}

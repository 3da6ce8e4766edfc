/* images index: several platform images under one OCI image index.
 *
 * The layout is the one `docker buildx --output type=oci` writes, which
 * skopeo (--override-arch, --all), podman, buildah and containerd read:
 *
 *   index.json        -> one descriptor of the image index, with the tag in
 *                        org.opencontainers.image.ref.name and the full name
 *                        in io.containerd.image.name
 *   blobs/<index>     -> the image index: one manifest per platform, each
 *                        descriptor with its platform (arm64: variant v8)
 *   blobs/<manifest>  -> config + layers of that platform, as image_write
 *
 * An archive also holds manifest.json for `docker load` (which reads no OCI
 * index): it names the image of one platform, normally the machine's own. */
#include "images_priv.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

struct img_plat {
	struct img_docs d;         /* config, manifest, docker manifest.json */
	char *arch, *os, *variant;
};

struct image_set {
	struct img_plat *p;
	size_t np;
	struct rootfs_layer *layers;  /* distinct blobs, owned */
	size_t nlayers;
	char *tag;                    /* of the first image */
	int64_t created;
};

struct image_set *image_set_new(void)
{
	return calloc(1, sizeof(struct image_set));
}

void image_set_free(struct image_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->np; i++) {
		img_docs_free(&s->p[i].d);
		free(s->p[i].arch);
		free(s->p[i].os);
		free(s->p[i].variant);
	}
	for (size_t i = 0; i < s->nlayers; i++)
		rootfs_layer_free(&s->layers[i]);
	free(s->p);
	free(s->layers);
	free(s->tag);
	free(s);
}

static bool same_platform(const struct img_plat *p, const char *arch, const char *os,
                          const char *variant)
{
	return !strcmp(p->arch, arch) && !strcmp(p->os, os) &&
	       !strcmp(p->variant ? p->variant : "", variant ? variant : "");
}

int image_set_add(struct image_set *s, const struct image_config *c, const char *variant,
                  const struct image_layer *layers, size_t nlayers,
                  struct image_result *res, struct mb_err *err)
{
	if (!s || !c || !c->architecture || !c->os)
		return mb_error(err, 0, "cannot add an image to the index: architecture and os are required");
	for (size_t i = 0; i < s->np; i++)
		if (same_platform(&s->p[i], c->architecture, c->os, variant))
			return mb_error(err, 0, "cannot add a second image for %s/%s to one index: give each "
			                "platform once", c->os, c->architecture);
	struct img_plat *np = realloc(s->p, (s->np + 1) * sizeof(*np));
	if (!np)
		goto nomem;
	s->p = np;
	struct rootfs_layer *nl = realloc(s->layers, (s->nlayers + nlayers + 1) * sizeof(*nl));
	if (!nl)
		goto nomem;
	s->layers = nl;
	struct img_plat *p = &s->p[s->np];
	memset(p, 0, sizeof(*p));
	if (img_docs_build(c, layers, nlayers, &p->d, err) < 0)
		return -1;
	p->arch = strdup(c->architecture);
	p->os = strdup(c->os);
	p->variant = variant ? strdup(variant) : NULL;
	if (!p->arch || !p->os || (variant && !p->variant) || (!s->np && c->tag && !(s->tag = strdup(c->tag)))) {
		img_docs_free(&p->d);
		free(p->arch);
		free(p->os);
		free(p->variant);
		goto nomem;
	}
	if (!s->np)
		s->created = c->created;
	s->np++;
	if (res) {
		memset(res, 0, sizeof(*res));
		memcpy(res->manifest_digest, p->d.manifest_digest, ROOTFS_DIGEST_LEN);
		memcpy(res->config_digest, p->d.config_digest, ROOTFS_DIGEST_LEN);
	}
	/* Nothing fails from here: the blobs change hands.  A layer another
	 * platform already has (the same digest) is dropped here. */
	for (size_t i = 0; i < nlayers; i++) {
		struct rootfs_layer *l = (struct rootfs_layer *)layers[i].layer;
		if (res) {
			res->compressed += l->blob_len;
			res->uncompressed += l->tar_len;
		}
		bool dup = false;
		for (size_t k = 0; k < s->nlayers && !dup; k++)
			dup = !strcmp(s->layers[k].digest, l->digest);
		if (dup)
			rootfs_layer_free(l);
		else
			s->layers[s->nlayers++] = *l;
		memset(l, 0, sizeof(*l));
	}
	return 0;
nomem:
	return mb_error(err, 0, "cannot add an image to the index: out of memory");
}

static json_t *descriptor(const char *mt, const char *digest, size_t size)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t)size);
}

static char *dump(json_t *j)
{
	char *str = j ? json_dumps(j, JSON_FLAGS) : NULL;

	json_decref(j);
	return str;
}

/* The image index blob: the platforms in the order they were added. */
static char *index_blob(const struct image_set *s)
{
	json_t *ms = json_array();

	for (size_t i = 0; ms && i < s->np; i++) {
		const struct img_plat *p = &s->p[i];
		json_t *d = descriptor(IMG_MT_MANIFEST, p->d.manifest_digest, strlen(p->d.manifest));
		json_t *plat = json_pack("{s:s, s:s}", "architecture", p->arch, "os", p->os);
		if (plat && p->variant)
			json_object_set_new(plat, "variant", json_string(p->variant));
		/* each platform's SBOM artifact, by annotation (images.h) */
		if (d && p->d.sbom.manifest)
			json_object_set_new(d, "annotations", json_pack("{s:s}", IMAGE_SBOM_ANNOTATION,
			                                                p->d.sbom.manifest_digest));
		if (!d || !plat || json_object_set_new(d, "platform", plat) < 0 ||
		    json_array_append_new(ms, d) < 0) {
			json_decref(ms);
			return NULL;
		}
	}
	return dump(json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", IMG_MT_INDEX,
	                      "manifests", ms));
}

/* index.json: one descriptor of the image index, named by the tag. */
static char *top_index(const struct image_set *s, const char *digest, size_t size, struct mb_err *err)
{
	json_t *d = descriptor(IMG_MT_INDEX, digest, size);

	if (s->tag) {
		char *full, *tag;
		if (img_parse_tag(s->tag, &full, &tag, err) < 0) {
			json_decref(d);
			return NULL;
		}
		json_object_set_new(d, "annotations",
		                    json_pack("{s:s, s:s}", "org.opencontainers.image.ref.name", tag,
		                              "io.containerd.image.name", full));
		free(full);
		free(tag);
	}
	return dump(json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", IMG_MT_INDEX,
	                      "manifests", d));
}

int image_set_write(const struct image_set *s, enum image_format fmt, const char *out_path,
                    const char *load_arch, struct image_result *res, struct mb_err *err)
{
	char *idx = NULL, *top = NULL;
	char idx_digest[ROOTFS_DIGEST_LEN];
	struct img_json *mem = NULL;
	struct image_layer *layers = NULL;
	int ret = -1;

	if (!s || s->np == 0)
		return mb_error(err, 0, "cannot write `%s`: the index has no image", out_path ? out_path : "");
	const struct img_plat *load = &s->p[0];
	if (load_arch) {
		load = NULL;
		for (size_t i = 0; i < s->np && !load; i++)
			if (!strcmp(s->p[i].arch, load_arch))
				load = &s->p[i];
		if (!load)
			return mb_error(err, 0, "cannot write `%s`: the image for docker load is linux/%s, which "
			                "is not among the platforms built; name one of them", out_path, load_arch);
	}
	if (!(idx = index_blob(s)) || img_sha256(idx, strlen(idx), idx_digest) < 0 ||
	    !(top = top_index(s, idx_digest, strlen(idx), err))) {
		if (!err || !err->msg[0])
			mb_error(err, 0, "cannot write `%s`: out of memory", out_path);
		goto out;
	}
	mem = calloc(5 * s->np + 1, sizeof(*mem));
	layers = calloc(s->nlayers + 1, sizeof(*layers));
	if (!mem || !layers) {
		mb_error(err, 0, "cannot write `%s`: out of memory", out_path);
		goto out;
	}
	size_t nmem = 0;
	mem[nmem++] = (struct img_json){ idx_digest, idx, strlen(idx) };
	for (size_t i = 0; i < s->np; i++) {
		const struct img_docs *d = &s->p[i].d;
		mem[nmem++] = (struct img_json){ d->config_digest, d->config, strlen(d->config) };
		mem[nmem++] = (struct img_json){ d->manifest_digest, d->manifest, strlen(d->manifest) };
		if (d->sbom.manifest) {
			mem[nmem++] = (struct img_json){ IMG_EMPTY_DIGEST, IMG_EMPTY_JSON, 2 };
			mem[nmem++] = (struct img_json){ d->sbom.doc_digest, d->sbom.doc, strlen(d->sbom.doc) };
			mem[nmem++] = (struct img_json){ d->sbom.manifest_digest, d->sbom.manifest,
			                                 strlen(d->sbom.manifest) };
		}
	}
	for (size_t i = 0; i < s->nlayers; i++)
		layers[i].layer = &s->layers[i];
	if (img_write_layout(mem, nmem, layers, s->nlayers, top, load->d.docker, fmt, out_path,
	                     s->created, err) < 0)
		goto out;
	if (res) {
		memset(res, 0, sizeof(*res));
		memcpy(res->manifest_digest, idx_digest, ROOTFS_DIGEST_LEN);
		for (size_t i = 0; i < s->nlayers; i++) {
			res->compressed += s->layers[i].blob_len;
			res->uncompressed += s->layers[i].tar_len;
		}
	}
	ret = 0;
out:
	free(idx);
	free(top);
	free(mem);
	free(layers);
	return ret;
}

/* images: private declarations shared by the files of this folder only. */
#ifndef MINBASE_IMAGES_PRIV_H
#define MINBASE_IMAGES_PRIV_H

#include "images.h"

#define IMG_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_INDEX    "application/vnd.oci.image.index.v1+json"
#define IMG_MT_CONFIG   "application/vnd.oci.image.config.v1+json"
#define IMG_MT_LAYER    "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMG_LAYOUT      "{\"imageLayoutVersion\":\"1.0.0\"}"

/* The JSON documents of one image, all compact with sorted keys. */
struct img_docs {
	char *config;          /* config blob */
	char config_digest[ROOTFS_DIGEST_LEN];
	char *manifest;        /* manifest blob */
	char manifest_digest[ROOTFS_DIGEST_LEN];
	char *index;           /* index.json */
	char *docker;          /* manifest.json for docker load */
};

int img_docs_build(const struct image_config *c, const struct image_layer *layers,
                   size_t nlayers, struct img_docs *d, char *err);
void img_docs_free(struct img_docs *d);

void img_seterr(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "sha256:<hex>" of buf. */
int img_sha256(const void *buf, size_t len, char out[ROOTFS_DIGEST_LEN]);
/* Splits "name[:tag]" into a malloc'd full "name:tag" and the tag part;
 * validates both against the distribution reference grammar. */
int img_parse_tag(const char *in, char **full, char **tag, char *err);

#endif

/* images: OCI image config, manifest and index, written as an OCI image
 * layout directory or as one tar that is both an OCI layout and a
 * `docker load` archive.  Also reads such an image back (inspect).
 *
 * Knows nothing of how the binary was built.  Library code: never prints,
 * never exits; fallible calls return a negative value and fill err. */
#ifndef MINBASE_IMAGES_H
#define MINBASE_IMAGES_H

#include <stddef.h>
#include <stdint.h>
#include "../rootfs/rootfs.h"

enum image_format {
	IMAGE_FORMAT_ARCHIVE = 0, /* one tar: OCI layout + manifest.json (docker load) */
	IMAGE_FORMAT_OCI_DIR,     /* OCI image layout directory */
};

struct image_health {
	char **test;               /* NULL = no Healthcheck; else e.g. {"CMD","/usr/bin/minbase-init","health",NULL} */
	int64_t interval_ns, timeout_ns, start_period_ns;
	int retries;
};

/* All string arrays are NULL-terminated; NULL means absent. */
struct image_config {
	const char *architecture;  /* OCI GOARCH name: "amd64", "arm64" */
	const char *os;            /* "linux" */
	const char *user;          /* numeric "65532:65532" */
	char **entrypoint;
	char **cmd;
	char **env;                /* "K=V" */
	const char *workdir;
	char **ports;              /* "8080/tcp" */
	char **labels;             /* "K=V" */
	struct image_health health;
	int64_t created;           /* SOURCE_DATE_EPOCH */
	const char *tag;           /* "name:tag" -> org.opencontainers.image.ref.name and RepoTags */
	char **annotations;        /* extra manifest annotations "K=V" */
};

struct image_layer {
	const struct rootfs_layer *layer;
	const char *created_by;    /* history entry text */
};

struct image_result {
	char manifest_digest[ROOTFS_DIGEST_LEN];
	char config_digest[ROOTFS_DIGEST_LEN];
	uint64_t compressed;       /* sum of layer blobs */
	uint64_t uncompressed;     /* sum of layer tars */
};

/* Writes to a temporary name beside out_path and renames at the end: on
 * failure nothing is left at out_path.  JSON keys are sorted and compact,
 * so identical input gives identical digests. */
int image_write(const struct image_config *c, const struct image_layer *layers,
                size_t nlayers, enum image_format fmt, const char *out_path,
                struct image_result *res, char *err);

/* 0 when ref is a NAME[:TAG] an image can carry (the reference grammar:
 * what `docker load` and registries accept), else -1 with the reason. */
int image_ref_check(const char *ref, char *err);

/* SPDX 2.3 bill of materials (sbom.c).  packages[0] is the image itself;
 * every other package names the earlier package that CONTAINS it. */
struct sbom_package {
	const char *name;
	const char *version;       /* NULL = NOASSERTION */
	const char *purl;          /* pkg:golang/..., pkg:deb/debian/..., or NULL */
	const char *license;       /* SPDX expression, NULL = NOASSERTION */
	const char *sha256;        /* hex of the file in the image, or NULL */
	const char *download;      /* NULL = NOASSERTION */
	const char *supplier;      /* "Organization: ..." or NULL */
	const char *purpose;       /* primaryPackagePurpose (CONTAINER, APPLICATION, ...) or NULL */
	const char *comment;       /* e.g. the path in the image */
	long parent;               /* index of the containing package; -1 for packages[0] */
};
struct sbom_doc {
	const struct sbom_package *packages;
	size_t npackages;
	const char *manifest_digest;  /* "sha256:..." of the image manifest: the namespace */
	int64_t created;              /* SOURCE_DATE_EPOCH */
};
/* *out = the document (malloc'd, compact, sorted keys): same input, same bytes. */
int image_sbom_spdx(const struct sbom_doc *d, char **out, char *err);

/* Reading an image back (archive or layout directory). */
struct image_info {
	char *manifest_digest;
	char *config_json;         /* the config blob, as stored */
	char *manifest_json;
	size_t nlayers;
	char **layer_digests;
	uint64_t *layer_sizes;
	char *ref_name;            /* tag, if any */
	char *image_name;          /* full "name:tag" (io.containerd.image.name), if any */
};
int image_read(const char *path, struct image_info *info, char *err);
void image_info_free(struct image_info *info);

#endif

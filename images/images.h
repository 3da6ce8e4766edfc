/* images: OCI image config, manifest and index, written as an OCI image
 * layout directory or as one tar that is both an OCI layout and a
 * `docker load` archive.  Also reads such an image back (inspect).
 *
 * Knows nothing of how the binary was built.  Library code: never prints,
 * never exits; fallible calls return -1 and fill the caller's struct mb_err
 * (rootfs/error.h: mb_error/mb_wrap, one line each), or a documented
 * positive value for a third answer. */
#ifndef MINBASE_IMAGES_H
#define MINBASE_IMAGES_H

#include <stddef.h>
#include <stdbool.h>
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

struct sbom_package;
struct sbom_extdoc;

/* All string arrays are NULL-terminated; NULL means absent. */
struct image_config {
	const char *architecture;  /* OCI GOARCH name: "amd64", "arm64" */
	const char *os;            /* "linux" */
	const char *variant;       /* "v8" for arm64 (as docker/containerd write it), else NULL */
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
	/* SBOM (sbom.c): packages for the image's SPDX document, attached as an
	 * OCI 1.1 artifact whose subject is the manifest; NULL = none. */
	const struct sbom_package *sbom;
	size_t nsbom;
	const struct sbom_extdoc *sbom_ext; /* the base image's own SBOM, or NULL */
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

/* Can out_path be written: its directory exists, is one and is writable,
 * and it names a file?  The one check of an output's place, made by the
 * writers and by mkimage before a long build (so it does not end in a
 * late failure); the message says which and how to fix it. */
int image_check_output(const char *out_path, struct mb_err *err);
/* Writes to a temporary name beside out_path and renames at the end: on
 * failure nothing is left at out_path.  JSON keys are sorted and compact,
 * so identical input gives identical digests. */
int image_write(const struct image_config *c, const struct image_layer *layers,
                size_t nlayers, enum image_format fmt, const char *out_path,
                struct image_result *res, struct mb_err *err);

/* ---- multi-platform images (index.c) -----------------------------------
 * One image per platform under one OCI image index, laid out as `docker
 * buildx --output type=oci` does: index.json -> the image index (with the
 * reference annotations) -> one manifest per platform.  Layers that are the
 * same bytes on several platforms are stored once. */
struct image_set;

struct image_set *image_set_new(void);
void image_set_free(struct image_set *s);
/* Adds the image of one platform (c->architecture, c->os; variant such as
 * "v8", or NULL).  Its config and manifest are made now, so c need not
 * outlive the call; the layers' blobs are moved into the set: on success
 * each layers[i].layer is left empty (the caller frees nothing of it). */
int image_set_add(struct image_set *s, const struct image_config *c, const char *variant,
                  const struct image_layer *layers, size_t nlayers,
                  struct image_result *res, struct mb_err *err);
/* Writes the set as image_write does (temporary name, then rename).  An
 * archive's manifest.json (what `docker load` reads) names the image of
 * load_arch ("amd64"), which must be in the set.  res: the index's digest
 * and the sizes of the distinct layers. */
int image_set_write(const struct image_set *s, enum image_format fmt, const char *out_path,
                    const char *load_arch, struct image_result *res, struct mb_err *err);

/* 0 when ref is a NAME[:TAG] an image can carry (the reference grammar:
 * what `docker load` and registries accept), else -1 with the reason. */
int image_ref_check(const char *ref, struct mb_err *err);

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
/* Another SPDX document (the base image's own SBOM) that describes
 * package: listed in externalDocumentRefs as DocumentRef-base (SPDX 2.3
 * section 6.6: its namespace and SHA1) and related to it by
 * package DESCRIBED_BY DocumentRef-base:SPDXRef-DOCUMENT. */
struct sbom_extdoc {
	const char *ns;            /* its documentNamespace */
	const char *sha1;          /* hex SHA1 of its bytes */
	long package;              /* index of the package it describes */
};
struct sbom_doc {
	const struct sbom_package *packages;
	size_t npackages;
	const char *manifest_digest;  /* "sha256:..." of the image manifest: the namespace */
	int64_t created;              /* SOURCE_DATE_EPOCH */
	const struct sbom_extdoc *ext; /* NULL = none */
};
/* *out = the document (malloc'd, compact, sorted keys): same input, same bytes. */
int image_sbom_spdx(const struct sbom_doc *d, char **out, struct mb_err *err);
/* The packages of an SPDX 2.3 JSON document (another image's SBOM), in its
 * order, each parent the index of the package that CONTAINS it (-1: none,
 * or the package the document DESCRIBES: top level).  Strings point into
 * the list (valid until image_sbom_list_free); ns is its namespace, sha1
 * the hex SHA1 of doc. */
struct sbom_list {
	struct sbom_package *pkgs;
	size_t n;
	long described;            /* index of the package the document DESCRIBES, or -1 */
	const char *ns;
	char sha1[41];
	void *json;
};
int image_sbom_parse(const char *doc, size_t len, struct sbom_list *l, struct mb_err *err);
void image_sbom_list_free(struct sbom_list *l);
/* The SBOM artifact is found from the image's descriptor (in index.json, or
 * in the image index of a multi-platform image) by this annotation, whose
 * value is the artifact manifest's digest.  It is not listed in index.json
 * itself: a second manifest there makes `skopeo copy oci:DIR` (without a
 * reference) refuse the layout. */
#define IMAGE_SBOM_ANNOTATION "dev.minbase.sbom"
#define IMAGE_SBOM_MEDIA_TYPE "application/spdx+json"

/* Reading an image back (archive or layout directory; "DIR:REF" picks the
 * image of a layout whose org.opencontainers.image.ref.name is REF, else
 * the first of its index). */
struct image_info {
	char *manifest_digest;
	char *config_json;         /* the config blob, as stored */
	char *manifest_json;
	size_t nlayers;
	char **layer_digests;
	uint64_t *layer_sizes;
	char *ref_name;            /* tag, if any */
	char *image_name;          /* full "name:tag" (io.containerd.image.name), if any */
	/* a multi-platform image (index.json -> image index): its digest and,
	 * in index order, each "os/arch[/variant]" and manifest digest */
	char *index_digest;
	size_t nplatforms;
	char **platforms, **platform_digests;
	char *sbom_digest;         /* the SBOM artifact manifest (IMAGE_SBOM_ANNOTATION), if any */
};
/* Reads the image; of a multi-platform image, the first platform's. */
int image_read(const char *path, struct image_info *info, struct mb_err *err);
/* The same for the image of arch ("arm64") in a multi-platform image. */
int image_read_platform(const char *path, const char *arch, struct image_info *info,
                        struct mb_err *err);
void image_info_free(struct image_info *info);

/* ---- registry client (ref.c auth.c registry*.c) ------------------------
 * Push an image written before, or pull one, over the OCI distribution
 * API (libcurl).  Credentials come from docker's and podman's stores and
 * never reach err or an event.  Progress goes to o->event (library code
 * does not print); events may come from worker threads, one at a time. */
enum image_event_kind {
	IMAGE_EV_BLOB_DONE = 0,    /* a blob is in place: how = exists/mounted/uploaded/downloaded */
	IMAGE_EV_BLOB_PROGRESS,    /* bytes moved so far of a blob */
	IMAGE_EV_RETRY,            /* msg says what failed and is retried */
};
struct image_remote_event {
	enum image_event_kind kind;
	const char *digest;
	uint64_t done, total;
	const char *how;
	const char *msg;
};
struct image_remote_opts {
	const char *ca_file;           /* --registry-ca: a PEM CA beside the system's */
	char **insecure;               /* --insecure-registry HOST[:PORT], NULL-terminated */
	double retry_time;             /* seconds all retries may take; 0 = 120 */
	const char *cache_dir;         /* record of pushed blobs (cross-repo mounts); NULL = none */
	int parallel;                  /* blobs at once; 0 = 3 */
	uint64_t chunk_size;           /* blobs above this go in PATCH chunks of it; 0 = 16 MiB */
	const char *pull_name;         /* pull: NAME:TAG the output carries; NULL = the reference */
	void (*event)(void *ctx, const struct image_remote_event *ev);
	void *event_ctx;
};
struct image_push_result {
	char digest[ROOTFS_DIGEST_LEN]; /* the manifest (or index) pushed */
	size_t blobs, uploaded, present, mounted;
	uint64_t bytes_uploaded;
};
/* Pushes the image at path (archive or layout; ref_name picks one of a
 * layout's references, NULL = the only one) to ref: blobs first (those the
 * registry has are skipped), the manifest last, so a failed push leaves no tag. */
int image_push(const char *path, const char *ref_name, const char *ref,
               const struct image_remote_opts *o, struct image_push_result *res, struct mb_err *err);
struct image_pull_result {
	char digest[ROOTFS_DIGEST_LEN]; /* the image manifest written */
	size_t blobs;
	uint64_t bytes;
};
/* Pulls ref (platform "os/arch[/variant]" picks from an index; NULL = linux
 * and the host's arch) to out as an archive or a layout, with the image's
 * SBOM artifact when a referrer (the referrers API, else the sha256-<hex>
 * tag) lists one, stored as mkimage writes it (IMAGE_SBOM_ANNOTATION).
 * Every blob and manifest is checked against its digest; nothing is left at
 * out on failure. */
int image_pull(const char *ref, const char *platform, enum image_format fmt, const char *out,
               const struct image_remote_opts *o, struct image_pull_result *res, struct mb_err *err);

/* --base (base.c): spec is a registry reference (pulled for linux/arch) or
 * a file: an OCI layout, our archive, a `docker save` tar.  Every layer is
 * read through once (digest checked; one we cannot decompress refused). */
struct image_base;
int image_base_open(const char *spec, const char *arch, const struct image_remote_opts *o,
                    struct image_base **b, struct mb_err *err);
bool image_base_has_init(const struct image_base *b);   /* /usr/bin/minbase-init */
/* What the SBOM says of the base: the reference it came from (spec), the
 * name it carries (io.containerd.image.name, NULL if none), the digest of
 * its manifest (NULL for a docker save tar, which keeps none), and the SPDX
 * document it carries itself (IMAGE_SBOM_ANNOTATION; NULL if none, or if
 * the one it announces is missing or broken: sbom_error), all owned by b. */
struct image_base_facts {
	const char *spec, *name, *manifest_digest;
	bool pulled;               /* spec is a registry reference */
	const char *sbom;
	size_t sbom_len;
	const char *sbom_error;    /* it announces one that cannot be read: why */
};
void image_base_facts(const struct image_base *b, struct image_base_facts *f);
size_t image_base_layers(const struct image_base *b);
/* image_write, with the base's layers (byte for byte) under ours and its
 * config merged: Env/Labels/ports/WorkingDir (keep_workdir: the base's,
 * if it has one) kept unless ours set them; User, Entrypoint, Cmd and
 * Healthcheck ours; diff_ids and history extended. */
int image_write_on_base(const struct image_base *b, const struct image_config *c,
                        const struct image_layer *layers, size_t n, bool keep_workdir,
                        enum image_format fmt, const char *out, struct image_result *res,
                        struct mb_err *err);
void image_base_close(struct image_base *b);

#endif

/* images: private declarations shared by the files of this folder only. */
#ifndef MINBASE_IMAGES_PRIV_H
#define MINBASE_IMAGES_PRIV_H

#include <stdbool.h>

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
	struct img_sbom {      /* the SBOM artifact, when c->sbom is set */
		char *doc;         /* SPDX JSON (the artifact's layer) */
		char doc_digest[ROOTFS_DIGEST_LEN];
		char *manifest;    /* artifact manifest, subject = the image manifest */
		char manifest_digest[ROOTFS_DIGEST_LEN];
	} sbom;
};

#define IMG_MT_EMPTY     "application/vnd.oci.empty.v1+json"
#define IMG_EMPTY_JSON   "{}"
#define IMG_EMPTY_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/* The SBOM artifact of the image whose manifest is (digest, size), from
 * c->sbom (sbom.c).  s is left zeroed when c->sbom is NULL. */
int img_sbom_build(const struct image_config *c, const char *manifest_digest,
                   size_t manifest_size, struct img_sbom *s, struct mb_err *err);
void img_sbom_free(struct img_sbom *s);

int img_docs_build(const struct image_config *c, const struct image_layer *layers,
                   size_t nlayers, struct img_docs *d, struct mb_err *err);
void img_docs_free(struct img_docs *d);

/* A JSON blob of the layout (config, manifest, image index), by digest. */
struct img_json {
	const char *digest;    /* "sha256:<hex>" */
	const char *data;
	size_t len;
};

/* Writes an OCI layout (fmt OCI_DIR, merged into one already there) or a
 * layout + docker archive (fmt ARCHIVE, with docker as its manifest.json):
 * the blobs mem and the layers' blobs (each digest stored once), index as
 * index.json, the oci-layout file; tar entries dated mtime (write.c). */
int img_write_layout(const struct img_json *mem, size_t nmem, const struct image_layer *layers,
                     size_t nlayers, const char *index, const char *docker,
                     enum image_format fmt, const char *out_path, int64_t mtime, struct mb_err *err);

/* "sha256:<hex>" of buf. */
int img_sha256(const void *buf, size_t len, char out[ROOTFS_DIGEST_LEN]);
/* Splits "name[:tag]" into a malloc'd full "name:tag" and the tag part;
 * validates both against the distribution reference grammar. */
int img_parse_tag(const char *in, char **full, char **tag, struct mb_err *err);

/* One file of an image: a blob, index.json, oci-layout or manifest.json,
 * by its path inside the layout. */
struct img_blob {
	const char *name;
	const void *data;
	size_t len;
	const struct rootfs_layer *spool; /* non-NULL: the len bytes are in spool->blob_fd */
};
/* How the bytes of a blob reach a file (blob.c).  img_blob_write writes
 * all of b at fd's offset (retrying EINTR and short writes; a spooled
 * blob copied in the kernel); img_blob_link gives a spooled blob the name
 * name in dirfd without a copy (fsync'ed first, so the name only ever
 * shows complete bytes), -1 when it cannot (not spooled, another file
 * system, name taken).  errno set on failure. */
int img_blob_write(int fd, const struct img_blob *b);
int img_blob_link(int dirfd, const char *name, const struct img_blob *b);
/* A spooled blob in an archive: its header is written with its size and
 * no data, and libarchive pads the entry with NULs up to that size
 * (archive_write_finish_entry); the output callback copies the spool in
 * their place.  Set blob and from (the archive offset where its data
 * starts) before the finish; the callback passes each write through
 * img_fill_take: of the n bytes coming at pos, the count that stand for
 * the blob (not to be written; the blob was copied to fd when the first
 * came), -1 with errno.  pos is advanced by n. */
struct img_fill {
	const struct img_blob *blob;
	uint64_t pos, from;
	bool copied;
};
ssize_t img_fill_take(struct img_fill *f, int fd, size_t n);

/* The output's directory, opened, and its base name (malloc'd), for every
 * writer of an image (write.c, registry_out.c): explains a missing or
 * unwritable directory, or an output that is no file name. */
int img_open_parent(const char *out_path, int *dfd, char **base, struct mb_err *err);

/* Our archives' entries (write.c; registry_out.c writes the same bytes for
 * the same image): blobs/ and blobs/sha256/ first, then the files, all
 * root-owned with one mtime, directories 0755 and files 0644. */
struct archive_entry;
extern const char *const img_tar_dirs[2];
void img_tar_header(struct archive_entry *ae, const char *name, bool dir, uint64_t size,
                    int64_t mtime);

/* Temporaries: made by rootfs_temp_make and renamed into place by
 * rootfs_replace_file (rootfs/files.c, the one copy for every host folder). */
/* Removes the temporaries of dead writers in dfd (only names of the
 * pattern, only regular files and directories of our euid, only those
 * whose lock is free); best effort, returns how many. */
size_t img_temp_sweep(int dfd);
/* Removes a tree without following symlinks. */
int img_remove_tree(int dfd, const char *name);
/* fsync of the directory name (relative to dfd; "." for dfd itself). */
int img_fsync_dir(int dfd, const char *name);

/* The OCI layout directory at base in dfd (layout.c): created with b
 * (blob files) and index, or, when it holds a layout already, merged into:
 * the blobs are added and index.json gets index's one descriptor in place
 * of the one with the same ref.name; everything else is kept. */
int img_layout_write(int dfd, const char *base, const char *out_path,
                     const struct img_blob *b, size_t n, const char *index, struct mb_err *err);

#endif

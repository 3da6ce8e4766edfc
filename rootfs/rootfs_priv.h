/* rootfs: private declarations shared by the files of this folder only
 * (tree.c, hosttree.c, skeleton.c, layer.c, gzip.c).  Not a public header. */
#ifndef MINBASE_ROOTFS_PRIV_H
#define MINBASE_ROOTFS_PRIV_H

#include "rootfs.h"

enum rootfs_kind { ROOTFS_DIR, ROOTFS_FILE, ROOTFS_LINK };

struct rootfs_entry {
	char *path;              /* normalised: "/etc/passwd", never "/" */
	enum rootfs_kind kind;
	mode_t mode;             /* permission bits only (07777) */
	uid_t uid;
	gid_t gid;
	unsigned char *data;     /* ROOTFS_FILE */
	size_t len;
	char *target;            /* ROOTFS_LINK */
	size_t nchildren;        /* entries directly below a ROOTFS_DIR */
};

struct rootfs_tree {
	struct rootfs_entry *e;
	size_t n, cap;
	size_t *slots;           /* open addressing: index + 1, 0 = empty */
	size_t nslots;
};

/* Fills err (MB_ERRLEN bytes; NULL ignored) like snprintf. */
void rootfs_seterr(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adds or replaces the entry at path (normalised by the callee); takes
 * ownership of data/target on success and on failure. */
int rootfs_tree_put(struct rootfs_tree *t, const char *path,
                    enum rootfs_kind kind, mode_t mode, uid_t uid, gid_t gid,
                    unsigned char *data, size_t len, char *target, char *err);

/* Reads a whole regular file from an fd (retrying EINTR, tolerating a
 * file that changes size while it is read). */
int rootfs_read_fd(int fd, unsigned char **out, size_t *len);

/* Walks host_dir (opened relative to nothing) and adds it below dest.
 * skip: NULL-terminated names to skip at the top level only;
 * drop_abs_links: skip symlinks with absolute targets instead of keeping. */
int rootfs_walk_host(struct rootfs_tree *t, const char *dest,
                     const char *host_dir, uid_t uid, gid_t gid,
                     const char *const *skip, bool drop_abs_links, char *err);

/* The entries in tar order (component-wise sorted, parents first);
 * returns a malloc'd array of n pointers or NULL on ENOMEM. */
const struct rootfs_entry **rootfs_tree_sorted(const struct rootfs_tree *t);

/* Parallel gzip of n tars as fixed-size independent members (the bytes do
 * not depend on the number of threads), hashing tars and blobs; fills
 * blob, blob_len, tar_len, digest and diff_id of each out[k]. */
struct rootfs_seg {
	const unsigned char *p;
	size_t off;              /* offset in the tar */
	size_t len;
	size_t ownoff;           /* layer.c's bookkeeping while p is not yet known */
};
struct rootfs_gzip_in {
	const struct rootfs_seg *seg; /* contiguous, in order, covering [0, len) */
	size_t nseg;
	size_t len;
};
int rootfs_gzip(const struct rootfs_gzip_in *in, size_t n, struct rootfs_layer *out, char *err);

#ifndef ROOTFS_GZIP_CHUNK
#define ROOTFS_GZIP_CHUNK (256u * 1024u)
#endif
#ifndef ROOTFS_GZIP_LEVEL
#define ROOTFS_GZIP_LEVEL 2
#endif
/* Tars up to this size are compressed at ROOTFS_GZIP_LEVEL_SMALL. */
#define ROOTFS_GZIP_SMALL (512u * 1024u)
#define ROOTFS_GZIP_LEVEL_SMALL 6
/* The level for a tar of len bytes (a function of the size only). */
int rootfs_gzip_level(size_t len);

/* Layer cache (cache.c): tars up to ROOTFS_CACHE_MAX are kept compressed
 * in DIR/layers/.  get: 1 on a verified hit (out filled), else 0;
 * put: best effort, silent. */
#define ROOTFS_CACHE_MAX (4u << 20)
bool rootfs_cache_wanted(size_t tar_len);
int rootfs_cache_get(const char *dir, const struct rootfs_gzip_in *in, struct rootfs_layer *out);
void rootfs_cache_put(const char *dir, const struct rootfs_layer *l);

#endif

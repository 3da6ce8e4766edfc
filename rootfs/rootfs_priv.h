/* rootfs: private declarations shared by the files of this folder only
 * (tree.c, hosttree.c, skeleton.c, layer.c, gzip.c, spool.c, cache.c).
 * Not a public header. */
#ifndef MINBASE_ROOTFS_PRIV_H
#define MINBASE_ROOTFS_PRIV_H

#include "rootfs.h"

#include <openssl/evp.h>
#include <sys/stat.h>

enum rootfs_kind { ROOTFS_DIR, ROOTFS_FILE, ROOTFS_LINK };

struct rootfs_entry {
	char *path;              /* normalised: "/etc/passwd", never "/" */
	enum rootfs_kind kind;
	mode_t mode;             /* permission bits only (07777) */
	uid_t uid;
	gid_t gid;
	unsigned char *data;     /* ROOTFS_FILE held in memory, or NULL */
	size_t len;              /* ROOTFS_FILE: its size (for host, the size it had when added) */
	char *host;              /* ROOTFS_FILE read from this host path when the layer is written */
	dev_t dev;               /* ... which must still be this file (dev, ino) */
	ino_t ino;
	char *target;            /* ROOTFS_LINK */
	size_t nchildren;        /* entries directly below a ROOTFS_DIR */
};

struct rootfs_tree {
	struct rootfs_entry *e;
	size_t n, cap;
	size_t *slots;           /* open addressing: index + 1, 0 = empty */
	size_t nslots;
};

/* Adds or replaces the entry at path (normalised by the callee); takes
 * ownership of data/target on success and on failure. */
int rootfs_tree_put(struct rootfs_tree *t, const char *path,
                    enum rootfs_kind kind, mode_t mode, uid_t uid, gid_t gid,
                    unsigned char *data, size_t len, char *target, struct mb_err *err);

/* Reads a whole regular file from an fd (retrying EINTR, tolerating a
 * file that changes size while it is read).  For small files only (the CA
 * bundle, cache entries): layer contents are streamed (layer.c). */
int rootfs_read_fd(int fd, unsigned char **out, size_t *len);

/* Adds a regular file whose contents are read when the layer is written:
 * st is what fstat() said of it now (size and identity, checked again
 * then).  host is copied. */
int rootfs_tree_put_host(struct rootfs_tree *t, const char *path, mode_t mode, uid_t uid,
                         gid_t gid, const char *host, const struct stat *st, struct mb_err *err);

/* Walks host_dir (opened relative to nothing) and adds it below dest.
 * skip: NULL-terminated names to skip at the top level only;
 * drop_abs_links: skip symlinks with absolute targets instead of keeping. */
int rootfs_walk_host(struct rootfs_tree *t, const char *dest,
                     const char *host_dir, uid_t uid, gid_t gid,
                     const char *const *skip, bool drop_abs_links, struct mb_err *err);

/* The entries in tar order (component-wise sorted, parents first);
 * returns a malloc'd array of n pointers or NULL on ENOMEM. */
const struct rootfs_entry **rootfs_tree_sorted(const struct rootfs_tree *t);

/* A contiguous piece of a tar in memory, at offset off. */
struct rootfs_seg {
	const unsigned char *p;
	size_t off;
	size_t len;
};
/* A whole tar, as segments in order covering [0, len). */
struct rootfs_gzip_in {
	const struct rootfs_seg *seg;
	size_t nseg;
	size_t len;
};

/* Where a blob goes (spool.c): memory, or an unnamed file in a directory;
 * keep_mem also keeps a copy in memory (for the layer cache). */
struct rootfs_sink {
	int fd;                  /* -1: memory only */
	bool linkable;           /* fd is an O_TMPFILE (linkat works) */
	bool keep_mem;
	const char *name;        /* what the spool is for, in messages */
	unsigned char *mem;
	size_t mem_len, mem_cap;
	uint64_t blob_len;
	EVP_MD_CTX *md;          /* sha256 of the blob so far */
};
int rootfs_sink_init(struct rootfs_sink *s, const char *spool_dir, const char *name,
                     bool keep_mem, struct mb_err *err);
int rootfs_sink_write(struct rootfs_sink *s, const unsigned char *p, size_t n, struct mb_err *err);
/* Fills out's digest, blob_len and blob or blob_fd (handed over). */
int rootfs_sink_finish(struct rootfs_sink *s, struct rootfs_layer *out, struct mb_err *err);
void rootfs_sink_free(struct rootfs_sink *s);

/* The compressing pool (gzip.c): chunks of ROOTFS_GZIP_CHUNK tar bytes
 * each become one gzip member, written to their sink in submission order. */
struct rootfs_chunk {
	unsigned char *in;       /* ROOTFS_GZIP_CHUNK bytes */
	size_t len;
	unsigned char *out;
	size_t out_len;          /* 0 after a failed compression */
	int level;
	int state;
	struct rootfs_sink *sink;
	struct rootfs_chunk *next;
};
struct rootfs_pool;
struct rootfs_pool *rootfs_pool_new(void);
/* A free chunk to fill (len 0), or NULL on ENOMEM. */
struct rootfs_chunk *rootfs_pool_chunk(struct rootfs_pool *p);
/* Gives back a chunk that was not submitted. */
void rootfs_pool_release(struct rootfs_pool *p, struct rootfs_chunk *c);
/* Queues c for sink s; may write finished chunks and compress one. */
int rootfs_pool_submit(struct rootfs_pool *p, struct rootfs_chunk *c, struct rootfs_sink *s,
                       int level, struct mb_err *err);
/* Everything submitted is compressed and written. */
int rootfs_pool_flush(struct rootfs_pool *p, struct mb_err *err);
/* Flushes (errors ignored: call rootfs_pool_flush first) and frees. */
void rootfs_pool_free(struct rootfs_pool *p);

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
int rootfs_gzip_level(uint64_t len);

/* Layer cache (cache.c): tars up to ROOTFS_CACHE_MAX are kept compressed
 * in DIR/layers/, keyed by the tar's diff_id (which the writer hashed on
 * the way: the tar is not hashed again).  get: 1 on a verified hit (out
 * filled), else 0; put: best effort, silent. */
#define ROOTFS_CACHE_MAX (4u << 20)
bool rootfs_cache_wanted(uint64_t tar_len);
int rootfs_cache_get(const char *dir, const char *diff_id, const struct rootfs_gzip_in *in,
                     struct rootfs_layer *out);
void rootfs_cache_put(const char *dir, const struct rootfs_layer *l);

#endif

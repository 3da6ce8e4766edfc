/* rootfs: the filesystem skeleton of a minbase image and the writer that
 * turns a tree of entries into a deterministic, gzip-compressed tar layer.
 *
 * Knows nothing of OCI JSON or registries.  Library code: never prints,
 * never exits; fallible calls return -1 and fill the caller's struct mb_err
 * with a lowercase message naming the object: the host side's one error
 * convention, error.h (this folder is the lowest one, so it owns it). */
#ifndef MINBASE_ROOTFS_H
#define MINBASE_ROOTFS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

#include "error.h"

/* The image's unprivileged user and group ("nonroot" in /etc/passwd):
 * distroless's number, which sits below the 65534 of nobody. */
#define MB_NONROOT_UID 65532
#define MB_NONROOT_GID 65532
/* The same as the "UID:GID" the OCI config's User field takes. */
#define MB_NONROOT_USER "65532:65532"

/* mkdir -p (files.c): missing parents made with mode parents, the last
 * one with leaf; -1 with err filled when a part cannot be made or the
 * path is not a directory in the end. */
int rootfs_mkdir_p(const char *path, mode_t parents, mode_t leaf, struct mb_err *err);
/* All of buf to fd, through short writes and EINTR; -1 with errno set. */
int rootfs_write_all(int fd, const void *buf, size_t len);
/* Write to a temporary name, then rename (files.c): the one way every
 * host folder replaces a file, so that a failed or killed run leaves the
 * old file or the new one, never part of one.
 * temp_make: a new temporary ".BASE.mkimage.tmp-XXXXXX" in dfd, a file
 * (O_RDWR, mode 0666 under the umask) or a directory (O_RDONLY fd), its
 * name in tmp, its fd returned holding an flock(2) that tells a sweeper
 * (images/temp.c) its writer is alive; -1 with errno.
 * temp_is_ours: whether a name has that pattern.
 * replace_file: rename(tmp, base) in dfd, atomically (an exchange over a
 * regular file: the comment in files.c says why); -1 with errno.  The
 * caller fsyncs the file before and the directory after, when it must
 * survive a power cut.
 * write_file: len bytes at data to path that way, with mode;
 * ROOTFS_DURABLE fsyncs the file and its directory.  -1 with err filled
 * and errno kept, nothing left beside path. */
int rootfs_temp_make(int dfd, const char *base, bool dir, char *tmp, size_t tmplen);
bool rootfs_temp_is_ours(const char *name);
int rootfs_replace_file(int dfd, const char *tmp, const char *base);
#define ROOTFS_DURABLE 1u
int rootfs_write_file(const char *path, const void *data, size_t len, mode_t mode,
                      unsigned flags, struct mb_err *err);
/* A new private directory $TMPDIR/PREFIX.XXXXXX (/tmp when TMPDIR is unset
 * or empty), its path in buf; -1 with err filled and buf "" when it cannot
 * be made. */
int rootfs_tmpdir(const char *prefix, char *buf, size_t len, struct mb_err *err);

/* "sha256:" + 64 hex digits + NUL */
#define ROOTFS_DIGEST_LEN 72
/* A sha256 (32 bytes) as a digest string "sha256:" + 64 lowercase hex
 * digits: the one hex writer of every host folder (out + 7 is the bare
 * hex).  Inline, so that a program using only images/json.c or the SBOM
 * code links no rootfs object for it. */
static inline void rootfs_hex(const unsigned char md[32], char out[ROOTFS_DIGEST_LEN])
{
	static const char x[] = "0123456789abcdef";

	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = x[md[i] >> 4];
		out[8 + 2 * i] = x[md[i] & 15];
	}
	out[71] = '\0';
}

/* A set of entries keyed by their absolute path inside the image ("/etc/passwd").
 * Adding an entry whose parents are missing adds them as 0755 root:root
 * directories.  Adding the same path twice replaces the earlier entry
 * (a directory replacing a directory keeps its children). */
struct rootfs_tree;

struct rootfs_tree *rootfs_tree_new(void);
void rootfs_tree_free(struct rootfs_tree *t);

int rootfs_add_dir(struct rootfs_tree *t, const char *path, mode_t mode,
                   uid_t uid, gid_t gid, struct mb_err *err);
/* Content is copied. */
int rootfs_add_data(struct rootfs_tree *t, const char *path, const void *data,
                    size_t len, mode_t mode, uid_t uid, gid_t gid, struct mb_err *err);
/* Takes ownership of data (malloc'd; freed by the tree, also on failure):
 * no copy, for a caller that already holds the file (e.g. after checking
 * its ELF headers) and would otherwise make the tree read it again. */
int rootfs_add_buffer(struct rootfs_tree *t, const char *path, void *data,
                      size_t len, mode_t mode, uid_t uid, gid_t gid, struct mb_err *err);
/* host_path must be a regular file now; its contents are read when the
 * layer is written, in bounded chunks, and it must then still be the same
 * file (device and inode) with the same size, or the write fails naming it
 * (a file that grows, shrinks or is replaced while an image is made never
 * gives a corrupt layer).  mode (mode_t)-1 keeps the host file's bits
 * (masked with 0755). */
int rootfs_add_host_file(struct rootfs_tree *t, const char *path,
                         const char *host_path, mode_t mode, uid_t uid,
                         gid_t gid, struct mb_err *err);
int rootfs_add_symlink(struct rootfs_tree *t, const char *path,
                       const char *target, struct mb_err *err);
/* Copy a host directory tree to dest (files are read when the layer is
 * written, with the checks of rootfs_add_host_file).  Never follows a symlink out of
 * host_dir, keeps symlinks as symlinks only when their target stays inside
 * the image, refuses devices, sockets and fifos with a message.  Modes are
 * normalised (directories and files with an execute bit 0755, other files
 * 0644, whatever the host's umask made them), owned uid:gid.  An absolute link target names an image path and is
 * kept; a relative one that climbs above the image root is refused.  Every
 * name and link target must be UTF-8 (the tar carries them as such). */
int rootfs_add_host_tree(struct rootfs_tree *t, const char *dest,
                         const char *host_dir, uid_t uid, gid_t gid, struct mb_err *err);
size_t rootfs_tree_count(const struct rootfs_tree *t);
/* What the tree holds at path (normalised as the adders do): 0 with st
 * filled, or -1 when it holds nothing there.  For the rules that compare
 * a layer with the one below it (builder's --add checks). */
struct rootfs_stat {
	char kind;               /* 'd' directory, 'f' file, 'l' symlink */
	mode_t mode;
	uid_t uid;
	gid_t gid;
};
int rootfs_tree_stat(const struct rootfs_tree *t, const char *path, struct rootfs_stat *st);
/* The path of entry i (i < rootfs_tree_count), entries in the order they
 * were first added (implicit parents before their children). */
const char *rootfs_tree_path(const struct rootfs_tree *t, size_t i);

/* The distroless-like base. */
struct rootfs_skeleton_opts {
	uid_t uid;               /* nonroot user, default MB_NONROOT_UID */
	gid_t gid;               /* default MB_NONROOT_GID */
	const char *version;     /* minbase version for /etc/os-release */
	const char *ca_bundle;   /* host CA bundle; NULL = /etc/ssl/certs/ca-certificates.crt */
	const char *extra_ca;    /* optional PEM file appended to the bundle, or NULL */
	bool tzdata;             /* add /usr/share/zoneinfo from the host's tzdata */
};
/* Adds /etc/passwd, /etc/group, /etc/nsswitch.conf, /etc/os-release, /tmp
 * (1777), /home/nonroot (0700 uid:gid), /root (0700), the CA bundle at
 * /etc/ssl/certs/ca-certificates.crt and, optionally, zoneinfo. */
int rootfs_add_skeleton(struct rootfs_tree *t,
                        const struct rootfs_skeleton_opts *o, struct mb_err *err);
#define ROOTFS_CA_PATH "/etc/ssl/certs/ca-certificates.crt"

/* One written layer: its blob in memory, or spooled to an unnamed file. */
struct rootfs_layer {
	unsigned char *blob;            /* gzip-compressed tar, when not spooled */
	size_t blob_len;
	bool spooled;                   /* the blob is in blob_fd (from offset 0) */
	int blob_fd;                    /* O_RDWR; valid only when spooled */
	bool blob_linkable;             /* blob_fd is an O_TMPFILE: linkat() can name it */
	uint64_t tar_len;               /* uncompressed size */
	char digest[ROOTFS_DIGEST_LEN]; /* sha256 of blob */
	char diff_id[ROOTFS_DIGEST_LEN];/* sha256 of the uncompressed tar */
};

/* Deterministic: entries sorted by path (parents first), numeric owners
 * only (no names), every mtime = mtime, no atime/ctime/pax times, gzip
 * header with no name and no time.  The same tree and mtime always give the
 * same bytes.
 *
 * Streamed: entries are written in order, host files read in bounded
 * chunks, the tar cut into fixed 256 KiB gzip members compressed on every
 * core with a bounded number in flight, both sha256s taken on the way.
 * Memory does not grow with the size of the layer when the blob is spooled. */
struct rootfs_write_opts {
	int64_t mtime;           /* every entry's mtime (SOURCE_DATE_EPOCH) */
	const char *cache_dir;   /* layer cache (small layers only), or NULL */
	const char *spool_dir;   /* blobs to unnamed files in this directory (put it
	                          * beside the output: same file system, so a layout
	                          * links them), or NULL: blobs in memory */
	const char *spool_for;   /* the output, named in messages about the spool
	                          * (a full disk), or NULL */
};
/* n trees (n <= 64), one after the other through one pool of threads.
 * out[k] is exactly what rootfs_layer_write(trees[k]) gives.  A small
 * layer (tar <= 4 MiB: the base, with its init and zoneinfo) is kept in
 * cache_dir/layers/; a hit is checked to decompress to exactly the tar and
 * to be laid out as a compression would lay it out.  The cache is best
 * effort: it never makes this fail.  On failure no out[k] holds memory or
 * a file. */
int rootfs_layers_write_opts(const struct rootfs_tree *const *trees, size_t n,
                             const struct rootfs_write_opts *o,
                             struct rootfs_layer *out, struct mb_err *err);
/* The same, blobs in memory. */
int rootfs_layer_write(const struct rootfs_tree *t, int64_t mtime,
                       struct rootfs_layer *out, struct mb_err *err);
int rootfs_layers_write(const struct rootfs_tree *const *trees, size_t n,
                        int64_t mtime, struct rootfs_layer *out, struct mb_err *err);
int rootfs_layers_write_cached(const struct rootfs_tree *const *trees, size_t n,
                               int64_t mtime, const char *cache_dir,
                               struct rootfs_layer *out, struct mb_err *err);
void rootfs_layer_free(struct rootfs_layer *l);

#endif

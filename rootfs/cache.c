/* rootfs cache: compressed small layers kept between runs, so that the
 * base layer (skeleton, CA bundle, init, zoneinfo), which is the same from
 * one build to the next, is compressed once and its blob reused.
 *
 * Key: the tar's sha256 plus everything that shapes the gzip bytes (level,
 * chunk size, libdeflate version), so a hit gives exactly the bytes a
 * compression would.  A hit is only trusted when its members are laid out
 * as rootfs_gzip lays them out and decompress to exactly the tar in
 * memory; anything else is a miss.  Best effort: a
 * cache that cannot be read or written never fails a build.  Only small
 * layers are kept: big ones are the service, which changes on every build
 * and would only grow the cache. */
#include "rootfs_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_PATH_LEN 4096

bool rootfs_cache_wanted(uint64_t tar_len)
{
	return tar_len <= ROOTFS_CACHE_MAX;
}

static int entry_path(const char *dir, const char *hex, size_t len, char *out)
{
	int n = snprintf(out, CACHE_PATH_LEN, "%s/layers/%s-g%d-c%u-ld%s.gz", dir, hex,
	                 rootfs_gzip_level(len), (unsigned)ROOTFS_GZIP_CHUNK,
	                 LIBDEFLATE_VERSION_STRING);
	return (n < 0 || n >= CACHE_PATH_LEN) ? -1 : 0;
}

/* The 10-byte member header libdeflate writes at this level (no name, no
 * comment, no extra field, MTIME 0, its XFL and OS bytes). */
static bool member_header(int level, unsigned char hdr[10])
{
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	unsigned char buf[64];
	size_t n = c ? libdeflate_gzip_compress(c, "", 0, buf, sizeof(buf)) : 0;

	libdeflate_free_compressor(c);
	if (n < 10)
		return false;
	memcpy(hdr, buf, 10);
	return true;
}

/* Is blob what rootfs_gzip would have made of the tar, as far as can be
 * told without compressing again: one member per ROOTFS_GZIP_CHUNK of the
 * tar, in order, each with exactly libdeflate's header, decompressing to
 * exactly its chunk, and nothing after the last one?  Decompressing to the
 * right tar is not enough: a damaged or planted entry could otherwise put
 * other members, a file name, a comment or an extra field (any bytes at
 * all) into the blob, changing the image's digest or carrying data out. */
static bool blob_matches(const unsigned char *blob, size_t blob_len, const struct rootfs_gzip_in *in)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	unsigned char *tar = malloc(in->len ? in->len : 1);
	unsigned char hdr[10];
	size_t off = 0, got = 0;
	bool ok = d && tar && member_header(rootfs_gzip_level(in->len), hdr), first = true;

	while (ok && (got < in->len || first)) {
		size_t want = in->len - got < ROOTFS_GZIP_CHUNK ? in->len - got : ROOTFS_GZIP_CHUNK;
		size_t used = 0, n = 0;
		first = false;
		ok = blob_len - off >= sizeof(hdr) && memcmp(blob + off, hdr, sizeof(hdr)) == 0 &&
		     libdeflate_gzip_decompress_ex(d, blob + off, blob_len - off, tar + got, want,
		                                   &used, &n) == LIBDEFLATE_SUCCESS && n == want;
		off += used;
		got += n;
	}
	ok = ok && got == in->len && off == blob_len;
	for (size_t i = 0; ok && i < in->nseg; i++)
		ok = memcmp(tar + in->seg[i].off, in->seg[i].p, in->seg[i].len) == 0;
	libdeflate_free_decompressor(d);
	free(tar);
	return ok;
}

int rootfs_cache_get(const char *dir, const char *diff_id, const struct rootfs_gzip_in *in,
                     struct rootfs_layer *out)
{
	char path[CACHE_PATH_LEN];
	struct stat st;
	unsigned char *blob = NULL;
	size_t len;
	int fd;

	if (!dir || !*dir || !rootfs_cache_wanted(in->len) || strlen(diff_id) != 71)
		return 0;
	if (entry_path(dir, diff_id + 7, in->len, path) < 0)
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > 2 * (uint64_t)in->len + 65536 ||
	    rootfs_read_fd(fd, &blob, &len) < 0) {
		close(fd);
		return 0;
	}
	close(fd);
	if (!blob_matches(blob, len, in)) {
		free(blob);
		return 0;
	}
	unsigned int mdlen = 0;
	unsigned char bmd[32];
	if (EVP_Digest(blob, len, bmd, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		free(blob);
		return 0;
	}
	memcpy(out->diff_id, diff_id, ROOTFS_DIGEST_LEN);
	rootfs_hex(bmd, out->digest);
	out->blob = blob;
	out->blob_len = len;
	out->tar_len = in->len;
	return 1;
}

void rootfs_cache_put(const char *dir, const struct rootfs_layer *l)
{
	char path[CACHE_PATH_LEN], ldir[CACHE_PATH_LEN];

	if (!dir || !*dir || !rootfs_cache_wanted(l->tar_len) || strlen(l->diff_id) != 71)
		return;
	if (entry_path(dir, l->diff_id + 7, l->tar_len, path) < 0 ||
	    snprintf(ldir, sizeof(ldir), "%s/layers", dir) >= (int)sizeof(ldir))
		return;
	/* called on a miss: an entry already there is damaged; replace it */
	struct mb_err merr = {0};
	if (rootfs_mkdir_p(ldir, 0700, 0700, &merr) < 0)
		return;
	/* a cache need not survive a power cut: a damaged entry is a miss */
	rootfs_write_file(path, l->blob, l->blob_len, 0600, 0, &merr);
}

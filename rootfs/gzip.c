/* rootfs gzip: compress a layer on every core, deterministically.
 *
 * The tar is cut into fixed-size chunks (ROOTFS_GZIP_CHUNK, independent of
 * the number of threads) and each chunk becomes one complete gzip member;
 * the blob is their concatenation.  RFC 1952 section 2.2 defines a gzip
 * file as a series of members, and every reader that matters here (Go's
 * compress/gzip in docker, containerd, skopeo and umoci; zlib's gunzip)
 * reads them all.  libdeflate writes MTIME 0, no FNAME and OS 255, so the
 * bytes depend only on the input, the chunk size and the level.
 *
 * While the helpers compress, the calling thread hashes the tar (diff_id);
 * the blob is hashed in order as the members are joined. */
#include "rootfs_priv.h"

#include <errno.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 16

struct chunk {
	unsigned char *out;
	size_t len;
};

struct job {
	const unsigned char *buf;
	size_t len;
	size_t nchunks;
	struct chunk *chunks;
	atomic_size_t next;
	atomic_int failed;
};

static void seterr(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seterr(char *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err, MB_ERRLEN, fmt, ap);
	va_end(ap);
}

static void *worker(void *arg)
{
	struct job *j = arg;
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(ROOTFS_GZIP_LEVEL);

	if (!c) {
		atomic_store(&j->failed, 1);
		return NULL;
	}
	for (;;) {
		size_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->nchunks || atomic_load(&j->failed))
			break;
		size_t off = i * (size_t)ROOTFS_GZIP_CHUNK;
		size_t n = j->len - off < ROOTFS_GZIP_CHUNK ? j->len - off : ROOTFS_GZIP_CHUNK;
		size_t bound = libdeflate_gzip_compress_bound(c, n);
		unsigned char *o = malloc(bound);
		if (!o) {
			atomic_store(&j->failed, 1);
			break;
		}
		size_t r = libdeflate_gzip_compress(c, j->buf + off, n, o, bound);
		if (r == 0) {
			free(o);
			atomic_store(&j->failed, 1);
			break;
		}
		j->chunks[i].out = o;
		j->chunks[i].len = r;
	}
	libdeflate_free_compressor(c);
	return NULL;
}

static int sha256(const unsigned char *buf, size_t len, unsigned char md[32])
{
	unsigned int mdlen = 0;

	return EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32 ? 0 : -1;
}

int rootfs_gzip(const unsigned char *buf, size_t len, unsigned char **out,
                size_t *out_len, unsigned char sha_blob[32],
                unsigned char sha_tar[32], char *err)
{
	struct job j = { .buf = buf, .len = len };
	pthread_t th[MAX_THREADS];
	size_t nth = 0, total = 0;
	int ret = -1;

	/* An empty input still becomes one (empty) member: a valid gzip file. */
	j.nchunks = len ? (len + ROOTFS_GZIP_CHUNK - 1) / ROOTFS_GZIP_CHUNK : 1;
	j.chunks = calloc(j.nchunks, sizeof(*j.chunks));
	if (!j.chunks) {
		seterr(err, "cannot compress layer: out of memory");
		return -1;
	}
	atomic_init(&j.next, 0);
	atomic_init(&j.failed, 0);

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = ncpu > 0 ? (size_t)ncpu : 1;
	if (want > MAX_THREADS)
		want = MAX_THREADS;
	if (want > j.nchunks)
		want = j.nchunks;
	/* helpers: want - 1 (the caller works too); thread failures only cost speed */
	for (size_t i = 0; i + 1 < want; i++) {
		if (pthread_create(&th[nth], NULL, worker, &j) != 0)
			break;
		nth++;
	}
	bool hash_failed = sha256(buf, len, sha_tar) < 0;
	if (hash_failed)
		atomic_store(&j.failed, 1);
	worker(&j);
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&j.failed)) {
		seterr(err, hash_failed ? "cannot hash layer: sha256 failed"
		                        : "cannot compress layer: out of memory");
		goto out;
	}

	for (size_t i = 0; i < j.nchunks; i++)
		total += j.chunks[i].len;
	unsigned char *blob = malloc(total ? total : 1);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!blob || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		free(blob);
		EVP_MD_CTX_free(ctx);
		seterr(err, "cannot compress layer: out of memory");
		goto out;
	}
	size_t off = 0;
	for (size_t i = 0; i < j.nchunks; i++) {
		memcpy(blob + off, j.chunks[i].out, j.chunks[i].len);
		EVP_DigestUpdate(ctx, j.chunks[i].out, j.chunks[i].len);
		off += j.chunks[i].len;
	}
	unsigned int mdlen = 0;
	if (EVP_DigestFinal_ex(ctx, sha_blob, &mdlen) != 1 || mdlen != 32) {
		free(blob);
		EVP_MD_CTX_free(ctx);
		seterr(err, "cannot hash layer: sha256 failed");
		goto out;
	}
	EVP_MD_CTX_free(ctx);
	*out = blob;
	*out_len = total;
	ret = 0;
out:
	for (size_t i = 0; i < j.nchunks; i++)
		free(j.chunks[i].out);
	free(j.chunks);
	return ret;
}

/* rootfs gzip: compress layers on every core, deterministically.
 *
 * Each tar is cut into fixed-size chunks (ROOTFS_GZIP_CHUNK, independent of
 * the number of threads) and each chunk becomes one complete gzip member;
 * a blob is the concatenation of its members.  RFC 1952 section 2.2 defines
 * a gzip file as a series of members, and every reader that matters here
 * (Go's compress/gzip in docker, containerd, skopeo and umoci; zlib's
 * gunzip; libarchive) reads them all.  libdeflate writes MTIME 0, no FNAME
 * and OS 255, and its output depends only on the input, the level and the
 * libdeflate version, not on the CPU: so do our bytes.
 *
 * The chunks of all the layers given in one call go to one pool of
 * threads, so a small layer never leaves a core idle.  The calling thread
 * first hashes the tars (diff_ids), then compresses too; a finished chunk
 * is fed to its blob's sha256 as soon as every chunk before it is done, so
 * the digest is ready when the last chunk is. */
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
	size_t in;               /* which input */
	size_t off, len;         /* range of the input */
	size_t seg;              /* the input's segment holding off */
	unsigned char *out;      /* its slot in the input's arena */
	size_t bound;            /* slot size */
	size_t out_len;
	bool done;
};

struct input {
	unsigned char *arena;    /* every chunk's slot; compacted into the blob */
	EVP_MD_CTX *blob_md;
	size_t first, nchunks;   /* its chunks in job.chunks */
	size_t hashed;           /* chunks fed to blob_md so far */
};

struct job {
	const struct rootfs_gzip_in *ins;
	struct input *in;
	size_t nin;
	struct chunk *chunks;
	size_t nchunks;
	atomic_size_t next;
	atomic_int failed;
	pthread_mutex_t lock;    /* guards done/hashed and the blob digests */
};

/* Feeds every newly contiguous finished chunk of input k to its digest. */
static void hash_ready(struct job *j, size_t k)
{
	struct input *in = &j->in[k];

	while (in->hashed < in->nchunks) {
		struct chunk *c = &j->chunks[in->first + in->hashed];
		if (!c->done)
			break;
		if (EVP_DigestUpdate(in->blob_md, c->out, c->out_len) != 1)
			atomic_store(&j->failed, 1);
		in->hashed++;
	}
}

/* The level is a function of the input's size only, so the bytes stay
 * reproducible: small layers (the base, an init) get a thorough level that
 * costs little; big ones a fast level that still beats umoci's default
 * (pgzip) in size on Go and C binaries. */
int rootfs_gzip_level(size_t len)
{
	return len <= ROOTFS_GZIP_SMALL ? ROOTFS_GZIP_LEVEL_SMALL : ROOTFS_GZIP_LEVEL;
}

/* The bytes of a chunk: in place when one segment holds them all (the
 * usual case inside a big file), else gathered into scratch. */
static const unsigned char *chunk_src(const struct job *j, const struct chunk *ch,
                                      unsigned char **scratch)
{
	const struct rootfs_gzip_in *in = &j->ins[ch->in];
	static const unsigned char empty[1];

	if (ch->len == 0)
		return empty;
	const struct rootfs_seg *sg = &in->seg[ch->seg];
	if (ch->off + ch->len <= sg->off + sg->len)
		return sg->p + (ch->off - sg->off);
	if (!*scratch && !(*scratch = malloc(ROOTFS_GZIP_CHUNK)))
		return NULL;
	size_t done = 0;
	for (size_t si = ch->seg; done < ch->len; si++) {
		sg = &in->seg[si];
		size_t from = ch->off + done - sg->off;
		size_t n = sg->len - from < ch->len - done ? sg->len - from : ch->len - done;
		memcpy(*scratch + done, sg->p + from, n);
		done += n;
	}
	return *scratch;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	struct libdeflate_compressor *comp[2] = { NULL, NULL }; /* big, small */
	unsigned char *scratch = NULL;

	for (;;) {
		size_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->nchunks || atomic_load(&j->failed))
			break;
		struct chunk *ch = &j->chunks[i];
		size_t total = j->ins[ch->in].len;
		int small = total <= ROOTFS_GZIP_SMALL;
		if (!comp[small] && !(comp[small] = libdeflate_alloc_compressor(rootfs_gzip_level(total)))) {
			atomic_store(&j->failed, 1);
			break;
		}
		const unsigned char *src = chunk_src(j, ch, &scratch);
		size_t r = src ? libdeflate_gzip_compress(comp[small], src, ch->len, ch->out, ch->bound) : 0;
		if (r == 0) {
			atomic_store(&j->failed, 1);
			break;
		}
		pthread_mutex_lock(&j->lock);
		ch->out_len = r;
		ch->done = true;
		hash_ready(j, ch->in);
		pthread_mutex_unlock(&j->lock);
	}
	libdeflate_free_compressor(comp[0]);
	libdeflate_free_compressor(comp[1]);
	free(scratch);
	return NULL;
}

static void hex(const unsigned char md[32], char out[ROOTFS_DIGEST_LEN])
{
	static const char x[] = "0123456789abcdef";

	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = x[md[i] >> 4];
		out[8 + 2 * i] = x[md[i] & 15];
	}
	out[71] = '\0';
}

int rootfs_gzip(const struct rootfs_gzip_in *ins, size_t nin, struct rootfs_layer *outs, char *err)
{
	struct job j = { .ins = ins, .nin = nin };
	pthread_t th[MAX_THREADS];
	size_t nth = 0;
	bool hash_failed = false, nomem = false;
	int ret = -1;

	j.in = calloc(nin ? nin : 1, sizeof(*j.in));
	for (size_t k = 0; k < nin; k++)
		/* an empty input still becomes one (empty) member: valid gzip */
		j.nchunks += ins[k].len ? (ins[k].len + ROOTFS_GZIP_CHUNK - 1) / ROOTFS_GZIP_CHUNK : 1;
	j.chunks = calloc(j.nchunks ? j.nchunks : 1, sizeof(*j.chunks));
	if (!j.in || !j.chunks) {
		free(j.in);
		free(j.chunks);
		rootfs_seterr(err, "cannot compress layer: out of memory");
		return -1;
	}
	size_t c = 0;
	for (size_t k = 0; k < nin; k++) {
		j.in[k].first = c;
		size_t off = 0, si = 0;
		do {
			size_t n = ins[k].len - off < ROOTFS_GZIP_CHUNK ? ins[k].len - off : ROOTFS_GZIP_CHUNK;
			while (si + 1 < ins[k].nseg && ins[k].seg[si].off + ins[k].seg[si].len <= off)
				si++;
			j.chunks[c++] = (struct chunk){ .in = k, .off = off, .len = n, .seg = si };
			off += n;
		} while (off < ins[k].len);
		j.in[k].nchunks = c - j.in[k].first;
		/* One allocation per layer: chunks compress into their slots, then
		 * slide down into one blob (no second buffer, no copy). */
		size_t total = 0;
		for (size_t i = j.in[k].first; i < c; i++) {
			j.chunks[i].bound = libdeflate_gzip_compress_bound(NULL, j.chunks[i].len);
			total += j.chunks[i].bound;
		}
		j.in[k].arena = malloc(total);
		if (!j.in[k].arena)
			hash_failed = nomem = true;
		for (size_t i = j.in[k].first, o = 0; j.in[k].arena && i < c; i++) {
			j.chunks[i].out = j.in[k].arena + o;
			o += j.chunks[i].bound;
		}
		j.in[k].blob_md = EVP_MD_CTX_new();
		if (!j.in[k].blob_md || EVP_DigestInit_ex(j.in[k].blob_md, EVP_sha256(), NULL) != 1)
			hash_failed = true;
	}
	atomic_init(&j.next, 0);
	atomic_init(&j.failed, hash_failed);
	pthread_mutex_init(&j.lock, NULL);

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = ncpu > 0 ? (size_t)ncpu : 1;
	if (want > MAX_THREADS)
		want = MAX_THREADS;
	if (want > j.nchunks)
		want = j.nchunks;
	/* want - 1 helpers: the caller works too.  A helper that cannot be
	 * started only costs speed, never changes the bytes. */
	for (size_t i = 0; i + 1 < want; i++) {
		if (pthread_create(&th[nth], NULL, worker, &j) != 0)
			break;
		nth++;
	}
	/* diff_ids, while the helpers compress */
	for (size_t k = 0; k < nin && !hash_failed; k++) {
		unsigned char md[32];
		unsigned int mdlen = 0;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
		for (size_t i = 0; ok && i < ins[k].nseg; i++)
			ok = EVP_DigestUpdate(ctx, ins[k].seg[i].p, ins[k].seg[i].len) == 1;
		ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
		EVP_MD_CTX_free(ctx);
		if (!ok) {
			hash_failed = true;
			atomic_store(&j.failed, 1);
			break;
		}
		hex(md, outs[k].diff_id);
	}
	worker(&j);
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&j.failed)) {
		rootfs_seterr(err, hash_failed && !nomem ? "cannot hash layer: sha256 failed"
		                                         : "cannot compress layer: out of memory");
		goto out;
	}
	for (size_t k = 0; k < nin; k++) {
		struct input *in = &j.in[k];
		size_t total = 0, off = 0;
		unsigned char md[32];
		unsigned int mdlen = 0;
		for (size_t i = 0; i < in->nchunks; i++) {
			struct chunk *ch = &j.chunks[in->first + i];
			memmove(in->arena + off, ch->out, ch->out_len);
			off += ch->out_len;
		}
		total = off;
		unsigned char *blob = realloc(in->arena, total ? total : 1);
		if (!blob)
			blob = in->arena;
		in->arena = NULL;
		if (in->hashed != in->nchunks || EVP_DigestFinal_ex(in->blob_md, md, &mdlen) != 1 || mdlen != 32) {
			free(blob);
			rootfs_seterr(err, "cannot hash layer: sha256 failed");
			goto out;
		}
		outs[k].blob = blob;
		outs[k].blob_len = total;
		outs[k].tar_len = ins[k].len;
		hex(md, outs[k].digest);
	}
	ret = 0;
out:
	if (ret < 0)
		for (size_t k = 0; k < nin; k++) {
			free(outs[k].blob);
			outs[k].blob = NULL;
		}
	for (size_t k = 0; k < nin; k++) {
		free(j.in[k].arena);
		EVP_MD_CTX_free(j.in[k].blob_md);
	}
	pthread_mutex_destroy(&j.lock);
	free(j.chunks);
	free(j.in);
	return ret;
}

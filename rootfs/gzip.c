/* rootfs gzip: compress layers on every core, deterministically, as they
 * stream by.
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
 * The caller fills chunks (rootfs_pool_chunk) and submits them in tar
 * order; one thread per core compresses them.  Only a bounded number of
 * chunks is ever in flight (max_inflight): when the caller is that far
 * ahead, it writes the oldest finished chunks to their sinks, in order
 * (feeding the blob's sha256 on the way), and compresses a queued chunk
 * itself rather than wait.  So memory does not grow with the layer, and a
 * sink sees its members in tar order whatever order the threads finish
 * them in.  Sinks are only touched by the calling thread.
 *
 * The threads never allocate: their compressors and every buffer are made
 * by the caller.  glibc gives each thread that mallocs an arena of its own,
 * 64 MiB of address space each, which under `ulimit -v` would make the
 * memory a build needs grow with the number of cores; so does a default
 * 8 MiB stack, hence a small one (deflate needs little). */
#include "rootfs_priv.h"

#include <errno.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 16
#define MAX_LEVEL 12
#define STACK_SIZE (256u * 1024u)

enum { C_QUEUED, C_BUSY, C_DONE };

struct rootfs_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;          /* a chunk was queued, or quit */
	pthread_cond_t done;          /* a chunk was compressed */
	struct rootfs_chunk *head, *tail; /* submitted, oldest first, not yet written */
	struct rootfs_chunk *todo;    /* the first queued chunk (all after it are queued too) */
	struct rootfs_chunk *spare;   /* free chunks, for reuse */
	size_t inflight, max_inflight;
	bool quit;
	pthread_t th[MAX_THREADS];
	size_t nth;
	/* comp[0]: the caller's own, comp[1 + i]: thread i's, by level */
	struct libdeflate_compressor *comp[MAX_THREADS + 1][MAX_LEVEL + 1];
	struct worker_arg *args[MAX_THREADS];
};

struct worker_arg {
	struct rootfs_pool *p;
	size_t idx;
};


/* The level is a function of the tar's size only, so the bytes stay
 * reproducible: small layers (the base, an init) get a thorough level that
 * costs little; big ones a fast level that still beats umoci's default
 * (pgzip) in size on Go and C binaries. */
int rootfs_gzip_level(uint64_t len)
{
	return len <= ROOTFS_GZIP_SMALL ? ROOTFS_GZIP_LEVEL_SMALL : ROOTFS_GZIP_LEVEL;
}

static size_t out_bound(void)
{
	return libdeflate_gzip_compress_bound(NULL, ROOTFS_GZIP_CHUNK);
}

/* comp: this thread's compressors, made by the caller for c->level. */
static void compress_chunk(struct libdeflate_compressor *const *comp, struct rootfs_chunk *c)
{
	static const unsigned char empty[1];
	struct libdeflate_compressor *z = comp[c->level];

	c->out_len = z ? libdeflate_gzip_compress(z, c->len ? c->in : empty, c->len, c->out, out_bound())
	               : 0;
}

/* Takes the first queued chunk (lock held), or NULL. */
static struct rootfs_chunk *take(struct rootfs_pool *p)
{
	struct rootfs_chunk *c = p->todo;

	if (c) {
		c->state = C_BUSY;
		p->todo = c->next;
	}
	return c;
}

static void *worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct rootfs_pool *p = wa->p;
	struct libdeflate_compressor *const *comp = p->comp[1 + wa->idx];

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct rootfs_chunk *c = take(p);
		if (!c) {
			if (p->quit)
				break;
			pthread_cond_wait(&p->work, &p->lock);
			continue;
		}
		pthread_mutex_unlock(&p->lock);
		compress_chunk(comp, c);
		pthread_mutex_lock(&p->lock);
		c->state = C_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct rootfs_pool *rootfs_pool_new(void)
{
	struct rootfs_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = ncpu > 0 ? (size_t)ncpu : 1;
	if (want > MAX_THREADS)
		want = MAX_THREADS;
	/* One compressing thread per core: the caller's own work (reading,
	 * the tar, both sha256s, the writes) is light beside deflate, and it
	 * compresses too whenever it would otherwise wait.  A thread that
	 * cannot be started only costs speed, never changes the bytes. */
	pthread_attr_t attr;
	bool attr_ok = pthread_attr_init(&attr) == 0;
	if (attr_ok)
		pthread_attr_setstacksize(&attr, STACK_SIZE);
	for (size_t i = 0; i < want; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (!wa)
			break;
		*wa = (struct worker_arg){ p, i };
		if (pthread_create(&p->th[p->nth], attr_ok ? &attr : NULL, worker, wa) != 0) {
			free(wa);
			break;
		}
		p->args[p->nth++] = wa;
	}
	if (attr_ok)
		pthread_attr_destroy(&attr);
	/* Enough to keep every thread busy while the caller fills the next
	 * chunk and writes finished ones: ~0.5 MiB each. */
	p->max_inflight = 2 * (p->nth ? p->nth : 1) + 2;
	return p;
}

static void chunk_free(struct rootfs_chunk *c)
{
	if (c) {
		free(c->in);
		free(c->out);
		free(c);
	}
}

struct rootfs_chunk *rootfs_pool_chunk(struct rootfs_pool *p)
{
	struct rootfs_chunk *c = p->spare;

	if (c) {
		p->spare = c->next;
	} else {
		if (!(c = calloc(1, sizeof(*c))))
			return NULL;
		if (!(c->in = malloc(ROOTFS_GZIP_CHUNK)) || !(c->out = malloc(out_bound()))) {
			free(c->in);
			free(c);
			return NULL;
		}
	}
	c->next = NULL;
	c->len = 0;
	c->out_len = 0;
	c->sink = NULL;
	return c;
}

void rootfs_pool_release(struct rootfs_pool *p, struct rootfs_chunk *c)
{
	if (!c)
		return;
	c->next = p->spare;
	p->spare = c;
}

/* Writes the oldest submitted chunks to their sinks until at most keep
 * are in flight, compressing queued ones here when nothing is finished. */
static int drain(struct rootfs_pool *p, size_t keep, struct mb_err *err)
{
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	while (p->head && (p->head->state == C_DONE || p->inflight > keep)) {
		struct rootfs_chunk *c = p->head;
		if (c->state == C_DONE) {
			p->head = c->next;
			if (!p->head)
				p->tail = NULL;
			p->inflight--;
			pthread_mutex_unlock(&p->lock);
			if (ret == 0 && c->out_len == 0) {
				ret = mb_error(err, 0, "cannot compress layer: out of memory");
			} else if (ret == 0 && rootfs_sink_write(c->sink, c->out, c->out_len, err) < 0) {
				ret = -1;
			}
			pthread_mutex_lock(&p->lock);
			c->next = p->spare;
			p->spare = c;
			continue;
		}
		struct rootfs_chunk *mine = take(p);
		if (mine) {
			pthread_mutex_unlock(&p->lock);
			compress_chunk(p->comp[0], mine);
			pthread_mutex_lock(&p->lock);
			mine->state = C_DONE;
			continue;
		}
		pthread_cond_wait(&p->done, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int rootfs_pool_submit(struct rootfs_pool *p, struct rootfs_chunk *c,
                       struct rootfs_sink *s, int level, struct mb_err *err)
{
	if (level < 0 || level > MAX_LEVEL)
		level = ROOTFS_GZIP_LEVEL;
	/* Every thread's compressor for this level, made here (see above);
	 * the threads only read p->comp, after the lock below. */
	if (!p->comp[0][level]) {
		for (size_t i = 0; i <= p->nth; i++)
			if (!(p->comp[i][level] = libdeflate_alloc_compressor(level))) {
				rootfs_pool_release(p, c);
				return mb_error(err, 0, "cannot compress layer: out of memory");
			}
	}
	c->sink = s;
	c->level = level;
	c->state = C_QUEUED;
	c->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = c;
	else
		p->head = c;
	p->tail = c;
	if (!p->todo)
		p->todo = c;
	p->inflight++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	return drain(p, p->max_inflight - 1, err);
}

int rootfs_pool_flush(struct rootfs_pool *p, struct mb_err *err)
{
	return drain(p, 0, err);
}

void rootfs_pool_free(struct rootfs_pool *p)
{
	if (!p)
		return;
	/* Nothing may be left in flight (a failed write flushes first), so
	 * the threads only need to be woken and joined. */
	rootfs_pool_flush(p, NULL);
	pthread_mutex_lock(&p->lock);
	p->quit = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	while (p->spare) {
		struct rootfs_chunk *c = p->spare;
		p->spare = c->next;
		chunk_free(c);
	}
	for (size_t i = 0; i <= MAX_THREADS; i++)
		for (int lv = 0; lv <= MAX_LEVEL; lv++)
			libdeflate_free_compressor(p->comp[i][lv]);
	for (size_t i = 0; i < p->nth; i++)
		free(p->args[i]);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p);
}

/* rootfs layer: a tree -> a deterministic tar (libarchive, pax restricted:
 * plain ustar headers unless a name or size needs a pax record), streamed
 * into fixed-size gzip members (gzip.c) and on into a sink (spool.c).
 *
 * Nothing here holds a whole layer: the tar goes by in chunks of
 * ROOTFS_GZIP_CHUNK bytes, host files are read straight into the chunk being
 * filled, and a chunk is handed to the compressing pool as soon as it is
 * full.  Two things are only known at the end of a tar, and the first
 * chunks are held back until they are:
 *   - the gzip level depends on the tar's size (rootfs_gzip_level): held
 *     until the tar passes ROOTFS_GZIP_SMALL bytes or ends;
 *   - a layer cache hit depends on the tar's sha256: with a cache, small
 *     tars (<= ROOTFS_CACHE_MAX) are held whole, looked up, and compressed
 *     only on a miss.
 * So at most ~4 MiB of tar is ever held, whatever the layer's size. */
#include "rootfs_priv.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LAYERS_MAX 64
#define HOLD_MAX (ROOTFS_CACHE_MAX / ROOTFS_GZIP_CHUNK + 2)

/* One layer on its way from tree to sink. */
struct stream {
	struct rootfs_pool *pool;
	struct rootfs_sink *sink;
	struct rootfs_chunk *cur;         /* being filled */
	struct rootfs_chunk *held[HOLD_MAX];
	size_t nheld;
	bool holding;
	uint64_t hold_limit;
	int level;                        /* known once holding stops */
	uint64_t total;                   /* tar bytes so far */
	EVP_MD_CTX *tar_md;               /* diff_id */
	bool failed;                      /* err is filled */
	struct mb_err *err;
};

static int submit(struct stream *s, struct rootfs_chunk *c)
{
	if (rootfs_pool_submit(s->pool, c, s->sink, s->level, s->err) < 0) {
		s->failed = true;
		return -1;
	}
	return 0;
}

/* The level is known (the tar passed the limit): send what was held. */
static int release_held(struct stream *s, int level)
{
	s->holding = false;
	s->level = level;
	for (size_t i = 0; i < s->nheld; i++) {
		struct rootfs_chunk *c = s->held[i];
		s->held[i] = NULL;
		if (submit(s, c) < 0) {
			for (size_t k = i + 1; k < s->nheld; k++)
				rootfs_pool_release(s->pool, s->held[k]);
			s->nheld = 0;
			return -1;
		}
	}
	s->nheld = 0;
	return 0;
}

static int push_cur(struct stream *s)
{
	struct rootfs_chunk *c = s->cur;

	s->cur = NULL;
	if (s->holding) {
		s->held[s->nheld++] = c; /* total <= hold_limit: fewer than HOLD_MAX */
		return 0;
	}
	return submit(s, c);
}

/* Room in the chunk being filled (a new one when needed), or NULL. */
static unsigned char *room(struct stream *s, size_t *n)
{
	if (!s->cur && !(s->cur = rootfs_pool_chunk(s->pool))) {
		mb_error(s->err, 0, "cannot write layer: out of memory");
		s->failed = true;
		return NULL;
	}
	*n = ROOTFS_GZIP_CHUNK - s->cur->len;
	return s->cur->in + s->cur->len;
}

/* libarchive's write callback.  With bytes_per_block 0 libarchive does no
 * blocking of its own and hands file contents through as the pointers we
 * gave archive_write_data(): contents read straight into the chunk are
 * already where they belong (no copy). */
static la_ssize_t tar_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct stream *s = ctx;
	const unsigned char *b = buf;
	size_t left = n;

	while (left) {
		size_t space;
		unsigned char *p = room(s, &space);
		if (!p)
			goto fail;
		size_t k = left < space ? left : space;
		if (b != p)
			memcpy(p, b, k);
		if (EVP_DigestUpdate(s->tar_md, p, k) != 1) {
			mb_error(s->err, 0, "cannot hash layer: sha256 failed");
			s->failed = true;
			goto fail;
		}
		s->cur->len += k;
		s->total += k;
		b += k;
		left -= k;
		/* past the limit: big (the level of any tar over SMALL bytes) and
		 * not for the cache */
		if (s->holding && s->total > s->hold_limit && release_held(s, ROOTFS_GZIP_LEVEL) < 0)
			goto fail;
		if (s->cur->len == ROOTFS_GZIP_CHUNK && push_cur(s) < 0)
			goto fail;
	}
	return (la_ssize_t)n;
fail:
	archive_set_error(a, EIO, "layer stream failed");
	return -1;
}

static int file_error(struct stream *s, const char *host, const char *what, int fd)
{
	mb_error(s->err, 0, "cannot read `%s`: %s", host, what);
	s->failed = true;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The contents of a host file, read in chunks straight into the tar.  It
 * must be the file that was added, with the size it had (the tar header
 * already says so): a file that is replaced, grows or shrinks meanwhile
 * fails the layer, naming it, rather than give a tar that lies. */
static int stream_host_file(struct stream *s, struct archive *a, const struct rootfs_entry *e)
{
	char why[160];
	struct stat st;
	int fd;

	do
		fd = open(e->host, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return file_error(s, e->host, strerror(errno), -1);
	if (fstat(fd, &st) < 0)
		return file_error(s, e->host, strerror(errno), fd);
	if (!S_ISREG(st.st_mode) || st.st_dev != e->dev || st.st_ino != e->ino)
		return file_error(s, e->host, "it was replaced by another file while the image was "
		                  "made; make the image again", fd);
	if ((uint64_t)st.st_size != e->len)
		goto size_changed;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (uint64_t left = e->len; left;) {
		size_t space;
		unsigned char *p = room(s, &space);
		if (!p) {
			close(fd);
			return -1;
		}
		size_t want = left < space ? (size_t)left : space;
		ssize_t r = read(fd, p, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return file_error(s, e->host, strerror(errno), fd);
		if (r == 0)
			goto size_changed;
		la_ssize_t w = archive_write_data(a, p, (size_t)r);
		if (w != r) {
			if (!s->failed)
				mb_error(s->err, 0, "cannot write tar data for `%s`: %s", e->path,
				         archive_error_string(a));
			s->failed = true;
			close(fd);
			return -1;
		}
		left -= (uint64_t)r;
	}
	/* grown: a byte past the size it had */
	for (;;) {
		char one;
		ssize_t r = read(fd, &one, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r != 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size != e->len)
			goto size_changed;
		break;
	}
	close(fd);
	return 0;
size_changed:
	if (fstat(fd, &st) < 0)
		st.st_size = -1;
	snprintf(why, sizeof(why), "it changed size while the image was made (%llu bytes when "
	         "added, %lld now); make the image again when it no longer changes",
	         (unsigned long long)e->len, (long long)st.st_size);
	return file_error(s, e->host, why, fd);
}

static int write_entry(struct stream *s, struct archive *a, struct archive_entry *ae,
                       const struct rootfs_entry *e, int64_t mtime)
{
	archive_entry_clear(ae);
	archive_entry_set_pathname(ae, e->path + 1); /* no leading slash */
	archive_entry_set_uid(ae, e->uid);
	archive_entry_set_gid(ae, e->gid);
	archive_entry_set_mtime(ae, (time_t)mtime, 0);
	switch (e->kind) {
	case ROOTFS_DIR:
		archive_entry_set_filetype(ae, AE_IFDIR);
		archive_entry_set_perm(ae, e->mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID));
		archive_entry_set_size(ae, 0);
		break;
	case ROOTFS_FILE:
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, e->mode & 0777);
		archive_entry_set_size(ae, (la_int64_t)e->len);
		break;
	case ROOTFS_LINK:
		archive_entry_set_filetype(ae, AE_IFLNK);
		archive_entry_set_perm(ae, 0777);
		archive_entry_set_size(ae, 0);
		archive_entry_set_symlink(ae, e->target);
		break;
	}
	if (archive_write_header(a, ae) != ARCHIVE_OK) {
		if (!s->failed)
			mb_error(s->err, 0, "cannot write tar header for `%s`: %s", e->path,
			         archive_error_string(a));
		s->failed = true;
		return -1;
	}
	if (e->kind != ROOTFS_FILE)
		return 0;
	if (e->host)
		return stream_host_file(s, a, e);
	for (size_t off = 0; off < e->len;) {
		la_ssize_t w = archive_write_data(a, e->data + off, e->len - off);
		if (w <= 0) {
			if (!s->failed)
				mb_error(s->err, 0, "cannot write tar data for `%s`: %s", e->path,
				         archive_error_string(a));
			s->failed = true;
			return -1;
		}
		off += (size_t)w;
	}
	return 0;
}

/* The tar of t, through s.  Afterwards every chunk is submitted, or held
 * (s->holding: the tar is at most hold_limit bytes, level unknown). */
static int tar_stream(struct stream *s, const struct rootfs_tree *t, int64_t mtime)
{
	struct archive *a = NULL;
	struct archive_entry *ae = NULL;
	const struct rootfs_entry **v = NULL;
	int ret = -1;

	/* libarchive converts names and link targets through the current
	 * locale: under this thread's own C.UTF-8 the bytes are the same
	 * whatever locale the program runs in (and UTF-8 names work in "C"). */
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;
	v = rootfs_tree_sorted(t);
	a = archive_write_new();
	ae = archive_entry_new();
	if (!v || !a || !ae) {
		mb_error(s->err, 0, "cannot write layer: out of memory");
		goto out;
	}
	/* pax restricted: ustar unless a long name/link or large value needs
	 * an extended record; those records carry no times of their own and
	 * libarchive names them PaxHeader/NAME (no pid).  No blocking: the tar
	 * ends right after its two zero blocks (like Go's archive/tar), and
	 * file contents reach tar_write() unbuffered. */
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_open(a, s, NULL, tar_write, NULL) != ARCHIVE_OK) {
		mb_error(s->err, 0, "cannot start tar: %s", archive_error_string(a));
		goto out;
	}
	for (size_t i = 0; i < t->n; i++)
		if (write_entry(s, a, ae, v[i], mtime) < 0)
			goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		if (!s->failed)
			mb_error(s->err, 0, "cannot finish tar: %s", archive_error_string(a));
		goto out;
	}
	if (s->cur && s->cur->len && push_cur(s) < 0)
		goto out;
	ret = 0;
out:
	if (a)
		archive_write_free(a);
	archive_entry_free(ae);
	free(v);
	if (utf8) {
		uselocale(old);
		freelocale(utf8);
	}
	return ret;
}

/* The end of a held tar: a cache hit, or compress it now. *put is set when
 * the blob is to be stored in the cache once written. */
static int finish_held(struct stream *s, const char *cache_dir, const char *diff_id, bool *put)
{
	struct rootfs_seg seg[HOLD_MAX];
	struct rootfs_layer hit = { 0 };

	*put = false;
	if (!s->holding)
		return 0;
	if (cache_dir && rootfs_cache_wanted(s->total)) {
		size_t off = 0;
		for (size_t i = 0; i < s->nheld; i++) {
			seg[i] = (struct rootfs_seg){ s->held[i]->in, off, s->held[i]->len };
			off += s->held[i]->len;
		}
		struct rootfs_gzip_in in = { seg, s->nheld, s->total };
		if (rootfs_cache_get(cache_dir, diff_id, &in, &hit)) {
			int r = rootfs_sink_write(s->sink, hit.blob, hit.blob_len, s->err);
			free(hit.blob);
			for (size_t i = 0; i < s->nheld; i++)
				rootfs_pool_release(s->pool, s->held[i]);
			s->nheld = 0;
			s->holding = false;
			return r;
		}
		*put = true;
		s->sink->keep_mem = true; /* nothing written to it yet */
	}
	return release_held(s, rootfs_gzip_level(s->total));
}

/* The least a tar of t can be: a header per entry, contents in whole
 * blocks, the two end blocks (pax records only add).  Past a limit, the
 * level (or the cache's "too big") is known before the first byte. */
static uint64_t tar_min(const struct rootfs_tree *t)
{
	uint64_t n = 1024;

	for (size_t i = 0; i < t->n; i++)
		n += 512 + ((uint64_t)t->e[i].len + 511) / 512 * 512;
	return n;
}

int rootfs_layers_write_opts(const struct rootfs_tree *const *trees, size_t n,
                             const struct rootfs_write_opts *o,
                             struct rootfs_layer *out, struct mb_err *err)
{
	struct rootfs_sink sink[LAYERS_MAX];
	bool put[LAYERS_MAX] = { false };
	size_t nsink = 0;
	struct rootfs_pool *pool = NULL;
	int ret = -1;

	if (!trees || !out || !o || n == 0 || n > LAYERS_MAX)
		return mb_error(err, 0, "cannot write layers: between 1 and %d trees expected", LAYERS_MAX);
	memset(out, 0, n * sizeof(*out));
	if (o->mtime < 0 || o->mtime > 253402300799LL) { /* 9999-12-31 */
		return mb_error(err, 0, "cannot write layer: mtime %lld out of range (check SOURCE_DATE_EPOCH)",
		                (long long)o->mtime);
	}
	for (size_t k = 0; k < n; k++)
		if (!trees[k])
			return mb_error(err, 0, "cannot write layer: missing tree");
	if (!(pool = rootfs_pool_new()))
		return mb_error(err, 0, "cannot write layer: out of memory");
	for (size_t k = 0; k < n; k++) {
		struct stream s = {
			.pool = pool, .sink = &sink[k], .holding = true, .level = -1, .err = err,
			.hold_limit = o->cache_dir && ROOTFS_CACHE_MAX > ROOTFS_GZIP_SMALL
			              ? ROOTFS_CACHE_MAX : ROOTFS_GZIP_SMALL,
		};
		/* Surely too big to hold: compress from the first chunk on. */
		if (tar_min(trees[k]) > s.hold_limit) {
			s.holding = false;
			s.level = ROOTFS_GZIP_LEVEL;
		}
		if (rootfs_sink_init(&sink[k], o->spool_dir, o->spool_for, false, err) < 0) {
			rootfs_sink_free(&sink[k]);
			goto out;
		}
		nsink++;
		unsigned char md[32];
		unsigned int mdlen = 0;
		bool ok = (s.tar_md = EVP_MD_CTX_new()) &&
		          EVP_DigestInit_ex(s.tar_md, EVP_sha256(), NULL) == 1;
		if (!ok)
			mb_error(err, 0, "cannot hash layer: sha256 failed");
		ok = ok && tar_stream(&s, trees[k], o->mtime) == 0;
		if (ok && (EVP_DigestFinal_ex(s.tar_md, md, &mdlen) != 1 || mdlen != 32)) {
			mb_error(err, 0, "cannot hash layer: sha256 failed");
			ok = false;
		}
		if (ok) {
			rootfs_hex(md, out[k].diff_id);
			out[k].tar_len = s.total;
			ok = finish_held(&s, o->cache_dir, out[k].diff_id, &put[k]) == 0;
		}
		for (size_t i = 0; i < s.nheld; i++)
			rootfs_pool_release(pool, s.held[i]);
		rootfs_pool_release(pool, s.cur);
		EVP_MD_CTX_free(s.tar_md);
		if (!ok)
			goto out;
	}
	if (rootfs_pool_flush(pool, err) < 0)
		goto out;
	for (size_t k = 0; k < n; k++) {
		if (put[k]) {
			struct rootfs_layer l = { .blob = sink[k].mem, .blob_len = sink[k].mem_len,
			                          .tar_len = out[k].tar_len };
			memcpy(l.diff_id, out[k].diff_id, sizeof(l.diff_id));
			rootfs_cache_put(o->cache_dir, &l);
		}
		if (rootfs_sink_finish(&sink[k], &out[k], err) < 0)
			goto out;
	}
	ret = 0;
out:
	/* the sinks outlive every chunk that could still be written to them */
	rootfs_pool_flush(pool, NULL);
	for (size_t k = 0; k < nsink; k++)
		rootfs_sink_free(&sink[k]);
	rootfs_pool_free(pool);
	if (ret < 0)
		for (size_t k = 0; k < n; k++)
			rootfs_layer_free(&out[k]);
	return ret;
}

int rootfs_layers_write_cached(const struct rootfs_tree *const *trees, size_t n,
                               int64_t mtime, const char *cache_dir,
                               struct rootfs_layer *out, struct mb_err *err)
{
	struct rootfs_write_opts o = { .mtime = mtime, .cache_dir = cache_dir, .spool_dir = NULL };

	return rootfs_layers_write_opts(trees, n, &o, out, err);
}

int rootfs_layers_write(const struct rootfs_tree *const *trees, size_t n,
                        int64_t mtime, struct rootfs_layer *out, struct mb_err *err)
{
	return rootfs_layers_write_cached(trees, n, mtime, NULL, out, err);
}

int rootfs_layer_write(const struct rootfs_tree *t, int64_t mtime,
                       struct rootfs_layer *out, struct mb_err *err)
{
	if (!t || !out)
		return mb_error(err, 0, "cannot write layer: missing argument");
	return rootfs_layers_write(&t, 1, mtime, out, err);
}

void rootfs_layer_free(struct rootfs_layer *l)
{
	if (!l)
		return;
	free(l->blob);
	if (l->spooled)
		close(l->blob_fd);
	memset(l, 0, sizeof(*l));
}

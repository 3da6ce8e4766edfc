/* rootfs layer: a tree -> a deterministic tar (libarchive, pax restricted:
 * plain ustar headers unless a name or size needs a pax record) -> gzip. */
#include "rootfs_priv.h"

#include <archive.h>
#include <locale.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The tar of a layer, as a list of segments: headers and padding are
 * copied into own[], file contents are referenced where they already are
 * (the tree's buffers), so a big binary is never copied a second time. */
struct tarbuf {
	unsigned char *own;
	size_t own_len, own_cap;
	struct rootfs_seg *seg;   /* p == NULL: bytes at own + ownoff (fixed up at the end) */
	size_t nseg, seg_cap;
	size_t total;
	const unsigned char *ref; /* contents of the entry being written */
	size_t ref_len;
	bool nomem;
};

static struct rootfs_seg *seg_next(struct tarbuf *m)
{
	if (m->nseg == m->seg_cap) {
		size_t nc = m->seg_cap ? m->seg_cap * 2 : 64;
		struct rootfs_seg *ns = realloc(m->seg, nc * sizeof(*ns));
		if (!ns)
			return NULL;
		m->seg = ns;
		m->seg_cap = nc;
	}
	return &m->seg[m->nseg++];
}

/* libarchive's write callback.  With bytes_per_block 0 libarchive does no
 * blocking of its own and hands file contents through as the pointers we
 * gave archive_write_data(), which is what lets us reference them. */
static la_ssize_t tar_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct tarbuf *m = ctx;
	const unsigned char *b = buf;
	struct rootfs_seg *last = m->nseg ? &m->seg[m->nseg - 1] : NULL;

	if (n == 0)
		return 0;
	if (m->ref && b >= m->ref && n <= m->ref_len && (size_t)(b - m->ref) <= m->ref_len - n) {
		if (last && last->p && last->p + last->len == b) {
			last->len += n;
		} else {
			struct rootfs_seg *sg = seg_next(m);
			if (!sg)
				goto nomem;
			*sg = (struct rootfs_seg){ .p = b, .off = m->total, .len = n };
		}
	} else {
		if (m->own_len + n > m->own_cap) {
			size_t nc = m->own_cap ? m->own_cap : 65536;
			while (nc < m->own_len + n)
				nc *= 2;
			unsigned char *np = realloc(m->own, nc);
			if (!np)
				goto nomem;
			m->own = np;
			m->own_cap = nc;
		}
		memcpy(m->own + m->own_len, b, n);
		if (last && !last->p && last->ownoff + last->len == m->own_len) {
			last->len += n;
		} else {
			struct rootfs_seg *sg = seg_next(m);
			if (!sg)
				goto nomem;
			*sg = (struct rootfs_seg){ .p = NULL, .ownoff = m->own_len, .off = m->total, .len = n };
		}
		m->own_len += n;
	}
	m->total += n;
	return (la_ssize_t)n;
nomem:
	m->nomem = true;
	archive_set_error(a, ENOMEM, "out of memory");
	return -1;
}

static int write_entry(struct archive *a, struct archive_entry *ae, struct tarbuf *m,
                       const struct rootfs_entry *e, int64_t mtime, char *err)
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
		rootfs_seterr(err, "cannot write tar header for `%s`: %s", e->path, archive_error_string(a));
		return -1;
	}
	if (e->kind == ROOTFS_FILE) {
		size_t off = 0;
		m->ref = e->data;
		m->ref_len = e->len;
		while (off < e->len) {
			la_ssize_t w = archive_write_data(a, e->data + off, e->len - off);
			if (w <= 0) {
				rootfs_seterr(err, "cannot write tar data for `%s`: %s", e->path, archive_error_string(a));
				return -1;
			}
			off += (size_t)w;
		}
		m->ref = NULL;
		m->ref_len = 0;
	}
	return 0;
}

static void tarbuf_free(struct tarbuf *m)
{
	free(m->own);
	free(m->seg);
	memset(m, 0, sizeof(*m));
}

/* One tree -> its tar, as segments in m. */
static int tar_build(const struct rootfs_tree *t, int64_t mtime, struct tarbuf *m, char *err)
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
		rootfs_seterr(err, "cannot write layer: out of memory");
		goto out;
	}
	/* pax restricted: ustar unless a long name/link or large value needs
	 * an extended record; those records carry no times of their own and
	 * libarchive names them PaxHeader/NAME (no pid).  No blocking: the tar
	 * ends right after its two zero blocks (like Go's archive/tar), and
	 * file contents reach tar_write() unbuffered. */
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_open(a, m, NULL, tar_write, NULL) != ARCHIVE_OK) {
		rootfs_seterr(err, "cannot start tar: %s", archive_error_string(a));
		goto out;
	}
	for (size_t i = 0; i < t->n; i++)
		if (write_entry(a, ae, m, v[i], mtime, err) < 0)
			goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		rootfs_seterr(err, "cannot finish tar: %s", archive_error_string(a));
		goto out;
	}
	if (m->nomem) {
		rootfs_seterr(err, "cannot write layer: out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->nseg; i++)
		if (!m->seg[i].p)
			m->seg[i].p = m->own + m->seg[i].ownoff;
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

#define LAYERS_MAX 64

int rootfs_layers_write_cached(const struct rootfs_tree *const *trees, size_t n,
                               int64_t mtime, const char *cache_dir,
                               struct rootfs_layer *out, char *err)
{
	struct tarbuf m[LAYERS_MAX];
	struct rootfs_gzip_in in[LAYERS_MAX];
	struct rootfs_layer miss_out[LAYERS_MAX];
	size_t miss[LAYERS_MAX], nmiss = 0;
	int ret = -1;

	if (!trees || !out || n == 0 || n > LAYERS_MAX) {
		rootfs_seterr(err, "cannot write layers: between 1 and %d trees expected", LAYERS_MAX);
		return -1;
	}
	memset(out, 0, n * sizeof(*out));
	memset(m, 0, sizeof(m));
	memset(miss_out, 0, sizeof(miss_out));
	if (mtime < 0 || mtime > 253402300799LL) { /* 9999-12-31 */
		rootfs_seterr(err, "cannot write layer: mtime %lld out of range (check SOURCE_DATE_EPOCH)",
		       (long long)mtime);
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		if (!trees[k]) {
			rootfs_seterr(err, "cannot write layer: missing tree");
			goto out;
		}
		if (tar_build(trees[k], mtime, &m[k], err) < 0)
			goto out;
		in[k] = (struct rootfs_gzip_in){ m[k].seg, m[k].nseg, m[k].total };
		if (!rootfs_cache_get(cache_dir, &in[k], &out[k]))
			miss[nmiss++] = k;
	}
	if (nmiss) {
		struct rootfs_gzip_in min[LAYERS_MAX];
		for (size_t i = 0; i < nmiss; i++)
			min[i] = in[miss[i]];
		if (rootfs_gzip(min, nmiss, miss_out, err) < 0)
			goto out;
		for (size_t i = 0; i < nmiss; i++) {
			out[miss[i]] = miss_out[i];
			rootfs_cache_put(cache_dir, &out[miss[i]]);
		}
	}
	ret = 0;
out:
	if (ret < 0)
		for (size_t k = 0; k < n; k++)
			rootfs_layer_free(&out[k]);
	for (size_t k = 0; k < n; k++)
		tarbuf_free(&m[k]);
	return ret;
}

int rootfs_layers_write(const struct rootfs_tree *const *trees, size_t n,
                        int64_t mtime, struct rootfs_layer *out, char *err)
{
	return rootfs_layers_write_cached(trees, n, mtime, NULL, out, err);
}

int rootfs_layer_write(const struct rootfs_tree *t, int64_t mtime,
                       struct rootfs_layer *out, char *err)
{
	if (!t || !out) {
		rootfs_seterr(err, "cannot write layer: missing argument");
		return -1;
	}
	return rootfs_layers_write(&t, 1, mtime, out, err);
}

void rootfs_layer_free(struct rootfs_layer *l)
{
	if (!l)
		return;
	free(l->blob);
	memset(l, 0, sizeof(*l));
}

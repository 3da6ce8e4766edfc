/* rootfs tree: the set of entries of one layer, keyed by normalised
 * absolute path, with implicit parent directories. */
#include "rootfs_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_MAX_LEN 4096

struct rootfs_tree *rootfs_tree_new(void)
{
	return calloc(1, sizeof(struct rootfs_tree));
}

static void entry_free(struct rootfs_entry *e)
{
	free(e->path);
	free(e->data);
	free(e->target);
	free(e->host);
}

void rootfs_tree_free(struct rootfs_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		entry_free(&t->e[i]);
	free(t->e);
	free(t->slots);
	free(t);
}

size_t rootfs_tree_count(const struct rootfs_tree *t)
{
	return t ? t->n : 0;
}

/* Structurally valid UTF-8 (tar names go through pax as UTF-8). */
static bool utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
		if (n < 0 || (n == 1 && *p < 0xc2))
			return false;
		p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/* "/a//b/" -> "/a/b"; refuses relative paths, "." and ".." components
 * (a `..` in a destination is how a layer escapes its root on extraction). */
static int path_normalise(const char *in, char *out, struct mb_err *err)
{
	size_t o = 0;
	const char *p = in;

	if (!in || in[0] != '/')
		return mb_error(err, 0, "invalid image path `%s`: must be absolute (start with /)", in ? in : "(null)");
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - s);
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return mb_error(err, 0, "invalid image path `%s`: `.` and `..` components are not allowed", in);
		if (o + 1 + n + 1 > PATH_MAX_LEN)
			return mb_error(err, 0, "invalid image path `%.64s...`: longer than %d bytes", in, PATH_MAX_LEN - 1);
		out[o++] = '/';
		memcpy(out + o, s, n);
		o += n;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return 0;
}

static size_t hash_path(const char *s)
{
	size_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t *slot_find(const struct rootfs_tree *t, const char *path)
{
	if (!t->nslots)
		return NULL;
	size_t mask = t->nslots - 1;
	for (size_t i = hash_path(path) & mask;; i = (i + 1) & mask) {
		size_t *s = &t->slots[i];
		if (*s == 0 || strcmp(t->e[*s - 1].path, path) == 0)
			return s;
	}
}

static int slots_grow(struct rootfs_tree *t)
{
	size_t nn = t->nslots ? t->nslots * 2 : 64;
	size_t *ns = calloc(nn, sizeof(*ns));

	if (!ns)
		return -1;
	free(t->slots);
	t->slots = ns;
	t->nslots = nn;
	for (size_t i = 0; i < t->n; i++)
		*slot_find(t, t->e[i].path) = i + 1;
	return 0;
}

static struct rootfs_entry *tree_lookup(const struct rootfs_tree *t, const char *path)
{
	size_t *s = slot_find(t, path);

	return (s && *s) ? &t->e[*s - 1] : NULL;
}

/* Appends a new entry (path already normalised and absent). */
static struct rootfs_entry *tree_append(struct rootfs_tree *t, const char *path)
{
	if ((t->n + 1) * 2 > t->nslots && slots_grow(t) < 0)
		return NULL;
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 64;
		struct rootfs_entry *ne = realloc(t->e, nc * sizeof(*ne));
		if (!ne)
			return NULL;
		t->e = ne;
		t->cap = nc;
	}
	char *p = strdup(path);
	if (!p)
		return NULL;
	struct rootfs_entry *e = &t->e[t->n];
	memset(e, 0, sizeof(*e));
	e->path = p;
	*slot_find(t, path) = t->n + 1;
	t->n++;
	return e;
}

/* Makes sure every parent of path exists as a directory. */
static int ensure_parents(struct rootfs_tree *t, const char *path, const char *orig, struct mb_err *err)
{
	char buf[PATH_MAX_LEN];
	size_t len = strlen(path);

	memcpy(buf, path, len + 1);
	/* Walk down from the top so that parents are created before children. */
	for (size_t i = 1; i < len; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		struct rootfs_entry *e = tree_lookup(t, buf);
		if (e && e->kind != ROOTFS_DIR)
			return mb_error(err, 0, "cannot add `%s`: `%s` is already in the image and is not a directory",
			       orig, buf);
		if (!e) {
			e = tree_append(t, buf);
			if (!e)
				return mb_error(err, 0, "cannot add `%s`: out of memory", orig);
			e->kind = ROOTFS_DIR;
			e->mode = 0755;
			/* count it in its own parent */
			char *slash = strrchr(buf, '/');
			if (slash != buf) {
				*slash = '\0';
				struct rootfs_entry *pp = tree_lookup(t, buf);
				if (pp)
					pp->nchildren++;
				*slash = '/';
			}
		}
		buf[i] = '/';
	}
	return 0;
}

static void count_in_parent(struct rootfs_tree *t, const char *path)
{
	const char *slash = strrchr(path, '/');
	char buf[PATH_MAX_LEN];

	if (slash == path)
		return;
	memcpy(buf, path, (size_t)(slash - path));
	buf[slash - path] = '\0';
	struct rootfs_entry *pp = tree_lookup(t, buf);
	if (pp)
		pp->nchildren++;
}

int rootfs_tree_put(struct rootfs_tree *t, const char *path, enum rootfs_kind kind,
                    mode_t mode, uid_t uid, gid_t gid, unsigned char *data,
                    size_t len, char *target, struct mb_err *err)
{
	char norm[PATH_MAX_LEN];

	if (!t) {
		mb_error(err, 0, "cannot add `%s`: no tree", path ? path : "(null)");
		goto fail;
	}
	if (path_normalise(path, norm, err) < 0)
		goto fail;
	if (!utf8_ok(norm) || (target && !utf8_ok(target))) {
		mb_error(err, 0, "cannot add `%s`%s%s: %s is not valid UTF-8 (rename it)", norm,
		       target ? " -> " : "", target ? target : "",
		       utf8_ok(norm) ? "the link target" : "the name");
		goto fail;
	}
	if (strcmp(norm, "/") == 0) {
		if (kind == ROOTFS_DIR) /* the root itself is never an entry */
			return 0;
		mb_error(err, 0, "cannot add `/`: the image root can only be a directory");
		goto fail;
	}
	if (ensure_parents(t, norm, path, err) < 0)
		goto fail;
	/* setuid/setgid never go into an image; sticky only on directories. */
	mode &= 07777 & ~(mode_t)(S_ISUID | S_ISGID);
	if (kind != ROOTFS_DIR)
		mode &= ~(mode_t)S_ISVTX;

	struct rootfs_entry *e = tree_lookup(t, norm);
	if (e) {
		if (e->kind == ROOTFS_DIR && kind != ROOTFS_DIR && e->nchildren) {
			mb_error(err, 0, "cannot add `%s`: a directory with entries is already there", norm);
			goto fail;
		}
		free(e->data);
		free(e->target);
		free(e->host);
		e->data = NULL;
		e->target = NULL;
		e->host = NULL;
		e->len = 0;
	} else {
		e = tree_append(t, norm);
		if (!e) {
			mb_error(err, 0, "cannot add `%s`: out of memory", norm);
			goto fail;
		}
		count_in_parent(t, norm);
	}
	e->kind = kind;
	e->mode = mode;
	e->uid = uid;
	e->gid = gid;
	e->data = data;
	e->len = len;
	e->target = target;
	return 0;
fail:
	free(data);
	free(target);
	return -1;
}

int rootfs_add_dir(struct rootfs_tree *t, const char *path, mode_t mode,
                   uid_t uid, gid_t gid, struct mb_err *err)
{
	return rootfs_tree_put(t, path, ROOTFS_DIR, mode, uid, gid, NULL, 0, NULL, err);
}

int rootfs_add_data(struct rootfs_tree *t, const char *path, const void *data,
                    size_t len, mode_t mode, uid_t uid, gid_t gid, struct mb_err *err)
{
	unsigned char *copy = malloc(len ? len : 1);

	if (!copy)
		return mb_error(err, 0, "cannot add `%s`: out of memory", path ? path : "(null)");
	if (len)
		memcpy(copy, data, len);
	return rootfs_tree_put(t, path, ROOTFS_FILE, mode, uid, gid, copy, len, NULL, err);
}

int rootfs_add_buffer(struct rootfs_tree *t, const char *path, void *data,
                      size_t len, mode_t mode, uid_t uid, gid_t gid, struct mb_err *err)
{
	if (!data && len)
		return mb_error(err, 0, "cannot add `%s`: no data", path ? path : "(null)");
	return rootfs_tree_put(t, path, ROOTFS_FILE, mode, uid, gid, data, len, NULL, err);
}

int rootfs_read_fd(int fd, unsigned char **out, size_t *len)
{
	struct stat st;
	size_t cap, n = 0;
	unsigned char *buf;

	if (fstat(fd, &st) < 0)
		return -1;
	cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	buf = malloc(cap);
	if (!buf)
		return -1;
	for (;;) {
		if (n == cap) {
			unsigned char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				errno = ENOMEM;
				return -1;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = buf;
	*len = n;
	return 0;
}

int rootfs_tree_put_host(struct rootfs_tree *t, const char *path, mode_t mode, uid_t uid,
                         gid_t gid, const char *host, const struct stat *st, struct mb_err *err)
{
	char *h = strdup(host);

	if (!h)
		return mb_error(err, 0, "cannot add `%s`: out of memory", host);
	if (rootfs_tree_put(t, path, ROOTFS_FILE, mode, uid, gid, NULL, (size_t)st->st_size, NULL,
	                    err) < 0) {
		free(h);
		return -1;
	}
	/* the entry just put (path is valid: the put normalised it) */
	char norm[PATH_MAX_LEN];
	path_normalise(path, norm, NULL);
	struct rootfs_entry *e = tree_lookup(t, norm);
	e->host = h;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	return 0;
}

int rootfs_add_host_file(struct rootfs_tree *t, const char *path,
                         const char *host_path, mode_t mode, uid_t uid,
                         gid_t gid, struct mb_err *err)
{
	struct stat st;
	int fd;

	/* Opened (not only stat'ed) so that a file we may not read is refused
	 * now, with its name, rather than when the layer is written. */
	do
		fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); /* a fifo: refused, not waited on */
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return mb_error(err, errno, "cannot open `%s`", host_path);
	if (fstat(fd, &st) < 0) {
		mb_error(err, errno, "cannot stat `%s`", host_path);
		close(fd);
		return -1;
	}
	close(fd);
	if (!S_ISREG(st.st_mode))
		return mb_error(err, 0, "cannot add `%s`: %s", host_path,
		       S_ISDIR(st.st_mode) ? "is a directory (use a tree copy for directories)"
		                             : "not a regular file");
	if (mode == (mode_t)-1)
		mode = st.st_mode & 0755;
	return rootfs_tree_put_host(t, path, mode, uid, gid, host_path, &st, err);
}

int rootfs_add_symlink(struct rootfs_tree *t, const char *path, const char *target, struct mb_err *err)
{
	if (!target || !*target)
		return mb_error(err, 0, "cannot add symlink `%s`: empty target", path ? path : "(null)");
	char *tg = strdup(target);
	if (!tg)
		return mb_error(err, 0, "cannot add symlink `%s`: out of memory", path ? path : "(null)");
	return rootfs_tree_put(t, path, ROOTFS_LINK, 0777, 0, 0, NULL, 0, tg, err);
}

/* Tar order: component by component, so that "/a" and everything under it
 * come before "/a-b" and each directory precedes its children. */
static int path_cmp(const void *a, const void *b)
{
	const unsigned char *x = (const unsigned char *)(*(const struct rootfs_entry *const *)a)->path;
	const unsigned char *y = (const unsigned char *)(*(const struct rootfs_entry *const *)b)->path;

	for (;; x++, y++) {
		unsigned cx = *x == '/' ? 1 : *x, cy = *y == '/' ? 1 : *y;
		if (*x == '\0')
			cx = 0;
		if (*y == '\0')
			cy = 0;
		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (!cx)
			return 0;
	}
}

const struct rootfs_entry **rootfs_tree_sorted(const struct rootfs_tree *t)
{
	const struct rootfs_entry **v = malloc((t->n ? t->n : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		v[i] = &t->e[i];
	qsort(v, t->n, sizeof(*v), path_cmp);
	return v;
}

int rootfs_tree_stat(const struct rootfs_tree *t, const char *path, struct rootfs_stat *st)
{
	char norm[PATH_MAX_LEN];

	if (!t || path_normalise(path, norm, NULL) < 0)
		return -1;
	const struct rootfs_entry *e = tree_lookup(t, norm);
	if (!e)
		return -1;
	st->kind = e->kind == ROOTFS_DIR ? 'd' : e->kind == ROOTFS_LINK ? 'l' : 'f';
	st->mode = e->mode;
	st->uid = e->uid;
	st->gid = e->gid;
	return 0;
}

const char *rootfs_tree_path(const struct rootfs_tree *t, size_t i)
{
	return t && i < t->n ? t->e[i].path : NULL;
}

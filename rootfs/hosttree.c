/* rootfs host tree: copy a directory of the host into the image without
 * ever following a symlink (every step is an *at() call against the fd of
 * the directory being walked, with O_NOFOLLOW). */
#include "rootfs_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_MAX_DEPTH 128
#define WALK_PATH_LEN 4096

struct walk {
	struct rootfs_tree *t;
	uid_t uid;
	gid_t gid;
	const char *const *skip;
	bool drop_abs_links;
	struct mb_err *err;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The permission an entry gets in the image: 0755 for directories and for
 * files with any execute bit, 0644 for other files.  Normalised, not kept:
 * the host's bits depend on the umask the files were made under (a tree made
 * under umask 077 would give root-owned 0600 files the nonroot service cannot
 * read, and another image digest).  Never setuid/setgid/sticky. */
static mode_t host_perm(mode_t m)
{
	return S_ISDIR(m) || (m & 0111) ? 0755 : 0644;
}

static const char *kind_name(mode_t m)
{
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISFIFO(m))
		return "a fifo";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file, directory or symlink";
}

/* Does a relative link target, placed in directory img_dir of the image,
 * stay at or below the image root when resolved lexically? */
static bool link_stays_inside(const char *img_dir, const char *target)
{
	long depth = 0;

	for (const char *p = img_dir; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			depth++;
	for (const char *p = target; *p;) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - s);
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (n && !(n == 1 && s[0] == '.')) {
			depth++;
		}
	}
	return true;
}

static int join(char *out, const char *a, const char *b)
{
	size_t la = strlen(a);
	int n;

	if (la && a[la - 1] == '/')
		n = snprintf(out, WALK_PATH_LEN, "%s%s", a, b);
	else
		n = snprintf(out, WALK_PATH_LEN, "%s/%s", a, b);
	return (n < 0 || n >= WALK_PATH_LEN) ? -1 : 0;
}

/* dfd is owned by this call. */
static int walk_dir(struct walk *w, int dfd, const char *dest, const char *host, int depth)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = -1;
	DIR *d;

	if (depth > WALK_MAX_DEPTH) {
		mb_error(w->err, 0, "cannot add `%s`: directories nested deeper than %d", host, WALK_MAX_DEPTH);
		close(dfd);
		return -1;
	}
	d = fdopendir(dfd);
	if (!d) {
		mb_error(w->err, errno, "cannot read directory `%s`", host);
		close(dfd);
		return -1;
	}
	/* Sorted, so that the first error reported does not depend on the
	 * order the file system happens to return. */
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno) {
				mb_error(w->err, errno, "cannot read directory `%s`", host);
				goto out;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (depth == 0 && w->skip) {
			bool skip = false;
			for (const char *const *s = w->skip; *s; s++)
				if (strcmp(*s, de->d_name) == 0)
					skip = true;
			if (skip)
				continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			char **nn = realloc(names, nc * sizeof(*nn));
			if (!nn)
				goto nomem;
			names = nn;
			cap = nc;
		}
		if (!(names[n] = strdup(de->d_name)))
			goto nomem;
		n++;
	}
	qsort(names, n, sizeof(*names), name_cmp);

	for (size_t i = 0; i < n; i++) {
		char hp[WALK_PATH_LEN], ip[WALK_PATH_LEN];
		struct stat st;
		const char *nm = names[i];

		if (join(hp, host, nm) < 0 || join(ip, dest, nm) < 0) {
			mb_error(w->err, 0, "cannot add `%s/%s`: path too long", host, nm);
			goto out;
		}
		if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			mb_error(w->err, errno, "cannot stat `%s`", hp);
			goto out;
		}
		mode_t perm = host_perm(st.st_mode);
		if (S_ISDIR(st.st_mode)) {
			int cfd = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				mb_error(w->err, errno, "cannot open directory `%s`", hp);
				goto out;
			}
			if (rootfs_tree_put(w->t, ip, ROOTFS_DIR, perm, w->uid, w->gid, NULL, 0, NULL, w->err) < 0) {
				close(cfd);
				goto out;
			}
			if (walk_dir(w, cfd, ip, hp, depth + 1) < 0)
				goto out;
		} else if (S_ISREG(st.st_mode)) {
			/* read when the layer is written, checked to be this file */
			if (rootfs_tree_put_host(w->t, ip, perm, w->uid, w->gid, hp, &st, w->err) < 0)
				goto out;
		} else if (S_ISLNK(st.st_mode)) {
			char tg[WALK_PATH_LEN];
			ssize_t l = readlinkat(dirfd(d), nm, tg, sizeof(tg) - 1);
			if (l < 0) {
				mb_error(w->err, errno, "cannot read symlink `%s`", hp);
				goto out;
			}
			tg[l] = '\0';
			if (tg[0] == '/') {
				if (w->drop_abs_links)
					continue;
			} else if (!link_stays_inside(dest, tg)) {
				mb_error(w->err, 0, "cannot add symlink `%s` -> `%s`: its target leaves the image root "
				       "(use a target inside the image, or copy the file itself)", hp, tg);
				goto out;
			}
			char *copy = strdup(tg);
			if (!copy)
				goto nomem;
			if (rootfs_tree_put(w->t, ip, ROOTFS_LINK, 0777, 0, 0, NULL, 0, copy, w->err) < 0)
				goto out;
		} else {
			mb_error(w->err, 0, "cannot add `%s`: it is %s; only regular files, directories and "
			       "symlinks can go into an image", hp, kind_name(st.st_mode));
			goto out;
		}
	}
	ret = 0;
	goto out;
nomem:
	mb_error(w->err, 0, "cannot read directory `%s`: out of memory", host);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return ret;
}

int rootfs_walk_host(struct rootfs_tree *t, const char *dest, const char *host_dir,
                     uid_t uid, gid_t gid, const char *const *skip,
                     bool drop_abs_links, struct mb_err *err)
{
	struct walk w = { t, uid, gid, skip, drop_abs_links, err };
	struct stat st;
	int fd;

	if (!t || !dest || !host_dir)
		return mb_error(err, 0, "cannot add a host tree: missing argument");
	/* The top directory is named by the user: following a symlink there
	 * is what they asked for.  Nothing below it is ever followed. */
	fd = open(host_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOTDIR)
			mb_error(err, 0, "cannot add `%s`: not a directory", host_dir);
		else
			mb_error(err, errno, "cannot open directory `%s`", host_dir);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		mb_error(err, errno, "cannot stat `%s`", host_dir);
		close(fd);
		return -1;
	}
	if (rootfs_tree_put(t, dest, ROOTFS_DIR, host_perm(st.st_mode), uid, gid, NULL, 0, NULL, err) < 0) {
		close(fd);
		return -1;
	}
	return walk_dir(&w, fd, dest, host_dir, 0);
}

int rootfs_add_host_tree(struct rootfs_tree *t, const char *dest,
                         const char *host_dir, uid_t uid, gid_t gid, struct mb_err *err)
{
	return rootfs_walk_host(t, dest, host_dir, uid, gid, NULL, false, err);
}

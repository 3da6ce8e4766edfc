/* images temp: the temporary files and directories an image is written
 * under before its rename, and the removal of those a killed mkimage left.
 *
 * A temporary is named ".NAME.mkimage.tmp-XXXXXX" and its writer holds an
 * flock(2) on it from the moment it exists until it is renamed or removed.
 * SIGKILL (or a crash, or a power cut) releases the lock but leaves the
 * name, so the next run in that directory removes every temporary of that
 * pattern whose lock it can take: the writer is gone.  The lock, not a pid
 * in the name, tells a dead writer from a live one: a pid says nothing
 * about a writer in another pid namespace sharing the directory (a volume),
 * and pids are reused.  O_TMPFILE + linkat(2) would need no sweeping for a
 * file, but not for the layout directory, and not on every filesystem.
 * The names and their locks are made by rootfs_temp_make (rootfs/files.c,
 * the one maker for every host folder); the sweep is here. */
#include "images_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int img_remove_tree(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return unlinkat(dfd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *de;
	int ret = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) {
			if (img_remove_tree(dirfd(d), de->d_name) < 0)
				ret = -1;
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			ret = -1;
		}
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		ret = -1;
	return ret;
}

/* One candidate: ours by name, a regular file or a directory we own, its
 * lock free, and the name still on the inode we locked (a writer that
 * renamed it into place and exited frees the lock too, but the name is
 * then gone or another file's). */
static bool sweep_one(int dfd, const char *name)
{
	struct stat st, now;
	bool removed = false;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_uid != geteuid() ||
	    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
		return false;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
	                (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
	    fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && same_file(&st, &now)) {
		/* Removed while we hold the lock: a writer that made the same
		 * name meanwhile could not lock it, and tries another. */
		removed = S_ISDIR(st.st_mode) ? img_remove_tree(dfd, name) == 0
		                              : unlinkat(dfd, name, 0) == 0;
	}
	close(fd);
	return removed;
}

size_t img_temp_sweep(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return 0;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	/* Names first, removals after: unlinking while readdir runs may make
	 * it skip or repeat entries. */
	char (*names)[256] = NULL;
	size_t cap = 0, k = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!rootfs_temp_is_ours(de->d_name) || strlen(de->d_name) > 255)
			continue;
		if (k == cap) {
			size_t nc = cap ? cap * 2 : 8;
			void *nn = realloc(names, nc * sizeof(*names));
			if (!nn)
				break;
			names = nn;
			cap = nc;
		}
		snprintf(names[k++], sizeof(names[0]), "%s", de->d_name);
	}
	for (size_t i = 0; i < k; i++)
		n += sweep_one(dirfd(d), names[i]);
	free(names);
	closedir(d);
	return n;
}

int img_fsync_dir(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	int r = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

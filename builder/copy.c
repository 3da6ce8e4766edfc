/* Copying files and trees with code, not by running cp(1): the error names
 * the file that failed and why (cp's own message went to stderr and ours
 * said only "cannot copy"), nothing depends on which cp is on PATH, and no
 * process is started for a single file.
 *
 * Data is cloned where the filesystem can (FICLONE: btrfs, xfs — what
 * `cp --reflink=auto` does), else moved in the kernel (copy_file_range),
 * else read and written. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"

/* in's bytes into out (both open, out empty). */
static int copy_data(int in, int out)
{
	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
			return -1;
		break;
	}
	/* copy_file_range refused the pair before moving a byte: plain I/O
	 * (it moves all or fails on its first call for these errnos). */
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (rootfs_write_all(out, buf, (size_t)n) < 0)
			return -1;
	}
}

/* One regular file with its mode (and times when keep_times). */
static int copy_regular(const char *from, const char *to, mode_t mode, bool keep_times,
                        struct mb_err *err)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return mb_error(err, errno, "cannot copy `%s`", from);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
	if (out < 0) {
		mb_error(err, errno, "cannot copy `%s` to `%s`", from, to);
		close(in);
		return -1;
	}
	int rc = copy_data(in, out);
	int saved = errno;
	struct stat st;
	if (rc == 0 && keep_times && fstat(in, &st) == 0) {
		struct timespec t[2] = { st.st_atim, st.st_mtim };
		futimens(out, t);
	}
	/* the mode as given, not as the umask left it */
	if (rc == 0 && fchmod(out, mode & 07777) < 0) {
		rc = -1;
		saved = errno;
	}
	if (close(out) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	close(in);
	if (rc < 0) {
		mb_error(err, saved, "cannot copy `%s` to `%s`", from, to);
		unlink(to);
	}
	return rc;
}

int util_copy_file(const char *from, const char *to, struct mb_err *err)
{
	struct stat st;
	if (stat(from, &st) < 0)
		return mb_error(err, errno, "cannot copy `%s`", from);
	if (!S_ISREG(st.st_mode))
		return mb_error(err, 0, "cannot copy `%s`: not a regular file", from);
	return copy_regular(from, to, st.st_mode, false, err);
}

/* nftw has no user pointer: the walk's state, one walk at a time. */
static struct {
	const char *from, *to;
	size_t from_len;
	bool finish;             /* second pass: directories' modes and times */
	struct mb_err *err;
} walk;

static int copy_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char dst[PATH_MAX];
	if (util_pathf(dst, sizeof(dst), "%s%s", walk.to, path + walk.from_len) < 0) {
		mb_error(walk.err, 0, "path too long: `%s`", path);
		return 1;
	}
	int rc = 0;
	if (walk.finish != (flag == FTW_DP))
		return 0;
	if (flag == FTW_D) {
		/* writable by us while we fill it; its own mode in the second pass */
		if (mkdir(dst, 0700) < 0 && !(errno == EEXIST && ftw->level == 0))
			rc = -1;
	} else if (flag == FTW_DP) {
		struct timespec t[2] = { st->st_atim, st->st_mtim };
		if (chmod(dst, st->st_mode & 07777) < 0 ||
		    utimensat(AT_FDCWD, dst, t, AT_SYMLINK_NOFOLLOW) < 0)
			rc = -1;
	} else if (flag == FTW_SL) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		struct timespec t[2] = { st->st_atim, st->st_mtim };
		if (n < 0)
			rc = -1;
		else {
			target[n] = '\0';
			if (symlink(target, dst) < 0 ||
			    utimensat(AT_FDCWD, dst, t, AT_SYMLINK_NOFOLLOW) < 0)
				rc = -1;
		}
	} else if (flag == FTW_F && S_ISREG(st->st_mode)) {
		return copy_regular(path, dst, st->st_mode, true, walk.err) < 0 ? 1 : 0;
	} else if (flag == FTW_F) {
		/* a fifo or socket in the tree: made again, as cp -a does */
		if (mknod(dst, st->st_mode, st->st_rdev) < 0)
			rc = -1;
	} else {
		errno = flag == FTW_DNR ? EACCES : ENOENT;
		rc = -1;
	}
	if (rc < 0) {
		mb_error(walk.err, errno, "cannot copy `%s` to `%s`", path, dst);
		return 1;
	}
	return 0;
}

int util_copy_tree(const char *from, const char *to, struct mb_err *err)
{
	walk.from = from;
	walk.to = to;
	walk.from_len = strlen(from);
	walk.err = err;
	/* FTW_PHYS: links are copied as links, never followed out of the tree.
	 * Two passes: the entries, then (FTW_DEPTH, children first) each
	 * directory's mode and times, since a read-only directory could not be
	 * filled and filling one moves its mtime.  Hard links come out as
	 * separate files (a build reads them the same). */
	for (int pass = 0; pass < 2; pass++) {
		walk.finish = pass == 1;
		int r = nftw(from, copy_one, 32, FTW_PHYS | (pass ? FTW_DEPTH : 0));
		if (r < 0)
			return mb_error(err, errno, "cannot copy `%s`", from);
		if (r)
			return -1;
	}
	return 0;
}

/* Small file helpers written once for every host folder (the layer cache
 * and spool here, the image writers, the builder's caches and copies):
 * rootfs is the lowest of them, so it owns them. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rootfs.h"

int rootfs_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int rootfs_mkdir_p(const char *path, mode_t parents, mode_t leaf, struct mb_err *err)
{
	char buf[PATH_MAX];
	/* The walk below starts at buf + 1: past the end of an empty path. */
	if (!*path)
		return mb_error(err, 0, "cannot create a directory with an empty name");
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return mb_error(err, 0, "path too long: `%s`", path);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, saved == '\0' ? leaf : parents) < 0 && errno != EEXIST)
			return mb_error(err, errno, "cannot create directory `%.400s`", buf);
		if (saved == '\0')
			break;
		*p = saved;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return mb_error(err, 0, "`%s` is not a directory", path);
	return 0;
}

int rootfs_tmpdir(const char *prefix, char *buf, size_t len, struct mb_err *err)
{
	const char *td = getenv("TMPDIR");
	if (!td || !*td)
		td = "/tmp";
	if (snprintf(buf, len, "%s/%s.XXXXXX", td, prefix) >= (int)len) {
		mb_error(err, 0, "cannot create a temporary directory in `%.400s`: the path "
		         "is too long (set TMPDIR to a shorter one)", td);
		buf[0] = '\0';
		return -1;
	}
	if (!mkdtemp(buf)) {
		mb_error(err, errno, "cannot create a temporary directory `%.400s`", buf);
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

#define TMP_MARK ".mkimage.tmp-"
#define TMP_SUFLEN 6
static const char tmp_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

bool rootfs_temp_is_ours(const char *name)
{
	size_t n = strlen(name), m = strlen(TMP_MARK);

	if (n < 2 + m + TMP_SUFLEN || name[0] != '.')
		return false;
	const char *suf = name + n - TMP_SUFLEN;
	if (strncmp(suf - m, TMP_MARK, m) != 0)
		return false;
	return strspn(suf, tmp_alphabet) == TMP_SUFLEN;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int rootfs_temp_make(int dfd, const char *base, bool dir, char *tmp, size_t tmplen)
{
	for (int tries = 0; tries < 100; tries++) {
		unsigned char r[TMP_SUFLEN];
		char suf[TMP_SUFLEN + 1];
		if (getrandom(r, sizeof(r), 0) != sizeof(r))
			return -1;
		for (int i = 0; i < TMP_SUFLEN; i++)
			suf[i] = tmp_alphabet[r[i] % (sizeof(tmp_alphabet) - 1)];
		suf[TMP_SUFLEN] = '\0';
		if (snprintf(tmp, tmplen, ".%s" TMP_MARK "%s", base, suf) >= (int)tmplen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		int fd;
		if (dir) {
			if (mkdirat(dfd, tmp, 0777) < 0) {
				if (errno == EEXIST)
					continue;
				return -1;
			}
			fd = openat(dfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		} else {
			fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
			if (fd < 0 && errno == EEXIST)
				continue;
		}
		if (fd < 0)
			return -1;
		/* Between the create and the lock a sweeper may have taken the
		 * unlocked name for a dead writer's.  Then either it still holds
		 * the lock (we fail to take it) or it has removed the name (it no
		 * longer names our inode): try another name in both cases. */
		struct stat a, b;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &a) == 0 &&
		    fstatat(dfd, tmp, &b, AT_SYMLINK_NOFOLLOW) == 0 && same_file(&a, &b))
			return fd;
		close(fd);
	}
	errno = EEXIST;
	return -1;
}

/* rename(tmp, base), atomically.  Over an existing regular file, swap the
 * two and unlink the old one instead: ext4 (auto_da_alloc) starts a
 * synchronous writeback of the new file when a rename replaces another,
 * which costs more than writing the whole image; an exchange does not,
 * and base never stops being a complete file either way.
 *
 * Durability is the caller's part, in this order: fsync(2) the new file
 * before this rename, and the directory after it.  auto_da_alloc only
 * orders the data before a rename-over on ext4 (and not for a new name);
 * it makes neither the data nor the new directory entry survive a power
 * cut that comes right after mkimage said done.  With the data already
 * on disk, the writeback ext4 would start finds nothing left to write, so
 * the exchange now costs what the rename would; it stays because on a
 * kernel or filesystem without RENAME_EXCHANGE the plain rename below is
 * the same atomic replacement. */
int rootfs_replace_file(int dfd, const char *tmp, const char *base)
{
	struct stat st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
		if (renameat2(dfd, tmp, dfd, base, RENAME_EXCHANGE) == 0) {
			unlinkat(dfd, tmp, 0); /* the old image; a leftover only costs space */
			return 0;
		}
		if (errno != EINVAL && errno != ENOSYS)
			return -1;
	}
	return renameat(dfd, tmp, dfd, base);
}

/* rootfs_write_file: the directory and base name of path, dfd opened. */
static int open_dir_of(const char *path, int *dfd, char *base, size_t blen)
{
	char a[PATH_MAX], b[PATH_MAX];
	if (snprintf(a, sizeof(a), "%s", path) >= (int)sizeof(a)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(b, a, sizeof(b));
	if (snprintf(base, blen, "%s", basename(b)) >= (int)blen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	*dfd = open(dirname(a), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return *dfd < 0 ? -1 : 0;
}

int rootfs_write_file(const char *path, const void *data, size_t len, mode_t mode,
                      unsigned flags, struct mb_err *err)
{
	char base[NAME_MAX + 1], tmp[NAME_MAX + 32];
	int dfd, fd, e;

	if (open_dir_of(path, &dfd, base, sizeof(base)) < 0) {
		e = errno;
		mb_error(err, e, "cannot write `%.400s`", path);
		errno = e;
		return -1;
	}
	if ((fd = rootfs_temp_make(dfd, base, false, tmp, sizeof(tmp))) < 0) {
		e = errno;
		close(dfd);
		mb_error(err, e, "cannot write `%.400s`", path);
		errno = e;
		return -1;
	}
	bool durable = flags & ROOTFS_DURABLE;
	if (rootfs_write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0 ||
	    (durable && fsync(fd) < 0) || rootfs_replace_file(dfd, tmp, base) < 0) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		close(fd);
		close(dfd);
		mb_error(err, e, "cannot write `%.400s`", path);
		errno = e;
		return -1;
	}
	/* closed after the rename: the lock tells a sweeper we are alive */
	e = close(fd) < 0 ? errno : 0;
	if (!e && durable && fsync(dfd) < 0)
		e = errno;
	close(dfd);
	if (e) {
		mb_error(err, e, "cannot write `%.400s`", path);
		errno = e;
		return -1;
	}
	return 0;
}

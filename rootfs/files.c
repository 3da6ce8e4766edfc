/* Small file helpers written once for every host folder (the layer cache
 * and spool here, the image writers, the builder's caches and copies):
 * rootfs is the lowest of them, so it owns them. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

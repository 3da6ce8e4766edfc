/* images blob: how the bytes of a blob reach the output.  A blob is in
 * memory (the JSON documents) or spooled by rootfs in an unnamed file
 * beside the output (a layer): then a layout gets it by linkat(2), with
 * no copy, and an archive by copy_file_range(2), which copies in the
 * kernel (a reflink where the file system shares extents). */
#include "images_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* len bytes of from (from offset 0) at fd's offset. */
static int copy_spool(int fd, int from, uint64_t len)
{
	loff_t off = 0;
	bool kernel = true;
	char buf[65536];

	while ((uint64_t)off < len) {
		uint64_t left = len - (uint64_t)off;
		if (kernel) {
			ssize_t w = copy_file_range(from, &off, fd, NULL,
			                            left > (1u << 30) ? (1u << 30) : (size_t)left, 0);
			if (w > 0 || (w < 0 && errno == EINTR))
				continue;
			if (w == 0) {
				errno = EIO; /* the spool is shorter than its blob */
				return -1;
			}
			if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
				return -1;
			kernel = false; /* not between these two files: by hand */
		}
		ssize_t r = pread(from, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf), off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		if (rootfs_write_all(fd, buf, (size_t)r) < 0)
			return -1;
		off += r;
	}
	return 0;
}

int img_blob_write(int fd, const struct img_blob *b)
{
	if (b->spool)
		return copy_spool(fd, b->spool->blob_fd, b->len);
	return rootfs_write_all(fd, b->data, b->len);
}

int img_blob_link(int dirfd, const char *name, const struct img_blob *b)
{
	char proc[64];

	if (!b->spool || !b->spool->blob_linkable) {
		errno = EXDEV;
		return -1;
	}
	if (fsync(b->spool->blob_fd) < 0)
		return -1;
	/* Through /proc/self/fd: AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", b->spool->blob_fd);
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
}

ssize_t img_fill_take(struct img_fill *f, int fd, size_t n)
{
	uint64_t pos = f->pos;

	f->pos += n;
	if (!f->blob || pos + n <= f->from || pos >= f->from + f->blob->len)
		return 0;
	if (pos < f->from) { /* never: the header came in writes of its own */
		errno = EINVAL;
		return -1;
	}
	if (!f->copied) {
		if (copy_spool(fd, f->blob->spool->blob_fd, f->blob->len) < 0)
			return -1;
		f->copied = true;
	}
	uint64_t end = f->from + f->blob->len;
	return (ssize_t)(end - pos < n ? end - pos : n);
}

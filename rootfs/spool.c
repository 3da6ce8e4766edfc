/* rootfs spool: where a layer's blob goes while it is compressed.
 *
 * Either memory (the blob stays in the struct rootfs_layer, for callers
 * that want the bytes) or an unnamed file in a directory the caller names,
 * beside the output: O_TMPFILE, so that a crash or a kill leaves nothing
 * behind, and the writer of the image can link it into a layout or copy it
 * into an archive without reading it back.  The blob's sha256 is taken as
 * the bytes go by. */
#include "rootfs_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An unnamed file in dir; where O_TMPFILE is not supported, a named one
 * unlinked at once (it can then only be copied, not linked). */
static int spool_open(const char *dir, bool *linkable)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);

	*linkable = fd >= 0;
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	char name[64];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	fd = rootfs_temp_make(dfd, "minbase-spool", false, name, sizeof(name));
	int e = errno;
	if (fd >= 0)
		unlinkat(dfd, name, 0);
	close(dfd);
	errno = e;
	return fd;
}

int rootfs_sink_init(struct rootfs_sink *s, const char *spool_dir, const char *name,
                     bool keep_mem, struct mb_err *err)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->name = name ? name : spool_dir;
	s->keep_mem = keep_mem || !spool_dir;
	if (!(s->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
		return mb_error(err, 0, "cannot hash layer: sha256 failed");
	if (spool_dir) {
		s->fd = spool_open(spool_dir, &s->linkable);
		if (s->fd < 0)
			return mb_error(err, errno, "cannot write `%s`: cannot create a temporary file for a layer "
			                "in `%s`", s->name, spool_dir);
	}
	return 0;
}

int rootfs_sink_write(struct rootfs_sink *s, const unsigned char *p, size_t n, struct mb_err *err)
{
	if (EVP_DigestUpdate(s->md, p, n) != 1)
		return mb_error(err, 0, "cannot hash layer: sha256 failed");
	if (s->keep_mem) {
		if (s->mem_len + n > s->mem_cap) {
			size_t nc = s->mem_cap ? s->mem_cap : 65536;
			while (nc < s->mem_len + n)
				nc *= 2;
			unsigned char *nm = realloc(s->mem, nc);
			if (!nm)
				return mb_error(err, 0, "cannot write layer: out of memory");
			s->mem = nm;
			s->mem_cap = nc;
		}
		memcpy(s->mem + s->mem_len, p, n);
		s->mem_len += n;
	}
	if (s->fd >= 0 && rootfs_write_all(s->fd, p, n) < 0)
		return mb_error(err, errno, "cannot write `%s`: writing a layer beside it", s->name);
	s->blob_len += n;
	return 0;
}

int rootfs_sink_finish(struct rootfs_sink *s, struct rootfs_layer *out, struct mb_err *err)
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_DigestFinal_ex(s->md, md, &mdlen) != 1 || mdlen != 32)
		return mb_error(err, 0, "cannot hash layer: sha256 failed");
	rootfs_hex(md, out->digest);
	out->blob_len = (size_t)s->blob_len;
	if (s->fd >= 0) {
		out->spooled = true;
		out->blob_fd = s->fd;
		out->blob_linkable = s->linkable;
		s->fd = -1;
	} else {
		unsigned char *b = realloc(s->mem, s->mem_len ? s->mem_len : 1);
		out->blob = b ? b : s->mem;
		s->mem = NULL;
	}
	return 0;
}

void rootfs_sink_free(struct rootfs_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->mem);
	EVP_MD_CTX_free(s->md);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

/* images registry_src: the blobs of an image written before, read in
 * place.  A layout directory has them as files.  In an archive they are
 * tar members, and a push must read them without extracting them: a 1 GiB
 * layer is streamed from the archive itself, three at a time, so each one
 * is found by its offset.  libarchive reads entries in order but does not
 * say where in the file an entry's data starts; an uncompressed tar
 * (POSIX.1-2001 ustar/pax, or GNU) keeps every member's data contiguous
 * right after its 512-byte header blocks, so a walk of the headers gives
 * (offset, size) for each member.  Headers are checked (checksum, octal or
 * base-256 sizes, pax `path`/`size`, GNU long names); anything else is
 * refused rather than guessed. */
#include "registry_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t n = 0;
	while (n < len) {
		ssize_t r = pread(fd, (char *)buf + n, len - n, (off_t)(off + n));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		n += (size_t)r;
	}
	return 0;
}

/* An octal field (NUL/space terminated) or a base-256 one (high bit set). */
static int tar_num(const unsigned char *f, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (f[0] & 0x80) {
		for (size_t i = 1; i < len; i++) {
			if (v >> 56)
				return -1;
			v = (v << 8) | f[i];
		}
		*out = v;
		return 0;
	}
	size_t i = 0;
	while (i < len && f[i] == ' ')
		i++;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = v * 8 + (uint64_t)(f[i] - '0');
	}
	if (i < len && f[i] != '\0' && f[i] != ' ')
		return -1;
	*out = v;
	return 0;
}

static bool tar_sum_ok(const unsigned char *h)
{
	uint64_t want;
	unsigned long sum = 0;
	if (tar_num(h + 148, 8, &want) < 0)
		return false;
	for (int i = 0; i < 512; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return sum == want;
}

/* pax records "LEN key=value\n": path and size are the ones that matter. */
static void pax_parse(const char *d, size_t len, char **path, uint64_t *size, bool *has_size)
{
	size_t i = 0;
	while (i < len) {
		char *end;
		unsigned long rl = strtoul(d + i, &end, 10);
		if (end == d + i || *end != ' ' || rl == 0 || i + rl > len)
			return;
		const char *kv = end + 1, *rec_end = d + i + rl - 1; /* at the '\n' */
		const char *eq = memchr(kv, '=', (size_t)(rec_end - kv));
		if (eq) {
			size_t kl = (size_t)(eq - kv);
			if (kl == 4 && !memcmp(kv, "path", 4)) {
				free(*path);
				*path = strndup(eq + 1, (size_t)(rec_end - eq - 1));
			} else if (kl == 4 && !memcmp(kv, "size", 4)) {
				*size = strtoull(eq + 1, NULL, 10);
				*has_size = true;
			}
		}
		i += rl;
	}
}

static int walk_tar(struct reg_src *s, uint64_t fsize, struct mb_err *err)
{
	unsigned char h[512];
	uint64_t off = 0;
	char *next_path = NULL;
	uint64_t next_size = 0;
	bool has_size = false;
	size_t cap = 0;

	while (off + 512 <= fsize) {
		if (pread_full(s->fd, h, 512, off) < 0) {
			mb_error(err, errno, "cannot read `%s`", s->path);
			goto fail;
		}
		bool zero = true;
		for (int i = 0; i < 512 && zero; i++)
			zero = h[i] == 0;
		if (zero)
			break;
		if (!tar_sum_ok(h)) {
			mb_error(err, 0, "`%s` is not an image archive (a tar header at byte %llu is broken)",
			         s->path, (unsigned long long)off);
			goto fail;
		}
		uint64_t size;
		if (tar_num(h + 124, 12, &size) < 0)
			goto bad;
		if (has_size)
			size = next_size;
		uint64_t data = off + 512;
		if (data + size > fsize)
			goto bad;
		char type = (char)h[156];
		if (type == 'x' || type == 'L') {
			if (size > (1u << 20))
				goto bad;
			char *d = malloc(size + 1);
			if (!d || pread_full(s->fd, d, size, data) < 0) {
				free(d);
				goto bad;
			}
			d[size] = '\0';
			if (type == 'x') {
				pax_parse(d, size, &next_path, &next_size, &has_size);
				free(d);
			} else {
				free(next_path);
				next_path = d;
			}
		} else if (type == 'g') {
			/* global pax header: nothing we use */
		} else {
			if (type == '0' || type == '\0' || type == '7') {
				char name[256 + 1 + 155 + 1];
				const char *nm = next_path;
				if (!nm) {
					if (!memcmp(h + 257, "ustar", 5) && h[345])
						snprintf(name, sizeof(name), "%.155s/%.100s", (char *)h + 345, (char *)h);
					else
						snprintf(name, sizeof(name), "%.100s", (char *)h);
					nm = name;
				}
				while (nm[0] == '.' && nm[1] == '/')
					nm += 2;
				if (s->n == cap) {
					size_t nc = cap ? cap * 2 : 16;
					struct reg_member *nmv = realloc(s->m, nc * sizeof(*nmv));
					if (!nmv)
						goto nomem;
					s->m = nmv;
					cap = nc;
				}
				if (!(s->m[s->n].name = strdup(nm)))
					goto nomem;
				s->m[s->n].off = data;
				s->m[s->n].size = size;
				s->n++;
			}
			free(next_path);
			next_path = NULL;
			has_size = false;
		}
		off = data + ((size + 511) & ~(uint64_t)511);
	}
	free(next_path);
	return 0;
bad:
	mb_error(err, 0, "`%s` is not an image archive (a broken or truncated tar entry at byte %llu)",
	         s->path, (unsigned long long)off);
	goto fail;
nomem:
	mb_error(err, 0, "cannot read `%s`: out of memory", s->path);
fail:
	free(next_path);
	return -1;
}

int reg_src_open(const char *path, struct reg_src *s, struct mb_err *err)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->path = path;
	s->fd = s->dfd = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		mb_error(err, errno, "cannot open image `%s`", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		s->dfd = fd;
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return mb_error(err, 0, "cannot read image `%s`: not a regular file or a directory", path);
	}
	s->fd = fd;
	if (walk_tar(s, (uint64_t)st.st_size, err) < 0) {
		reg_src_close(s);
		return -1;
	}
	return 0;
}

void reg_src_close(struct reg_src *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->m[i].name);
	free(s->m);
	if (s->fd >= 0)
		close(s->fd);
	if (s->dfd >= 0)
		close(s->dfd);
	memset(s, 0, sizeof(*s));
	s->fd = s->dfd = -1;
}

/* The member called name: exactly one (a tar holding a name twice is
 * refused, as images/read.c does). */
static int find_member(struct reg_src *s, const char *name, struct reg_member **out, struct mb_err *err)
{
	size_t seen = 0;
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->m[i].name, name)) {
			*out = &s->m[i];
			seen++;
		}
	if (seen == 1)
		return 0;
	if (seen)
		mb_error(err, 0, "cannot read `%s` in `%s`: it is in the archive %zu times", name,
		         s->path, seen);
	else
		mb_error(err, 0, "cannot find `%s` in image archive `%s`", name, s->path);
	return -1;
}

static int open_file(struct reg_src *s, const char *name, int *fd, uint64_t *off,
                     uint64_t *size, struct mb_err *err)
{
	if (s->dfd < 0) {
		struct reg_member *m;
		if (find_member(s, name, &m, err) < 0)
			return -1;
		if ((*fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0)) < 0)
			return mb_error(err, errno, "cannot read `%s`", s->path);
		*off = m->off;
		*size = m->size;
		return 0;
	}
	struct stat st;
	*fd = openat(s->dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (*fd < 0 || fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		mb_error(err, 0, "cannot open `%s/%s`: %s", s->path, name,
		         *fd < 0 ? strerror(errno) : "not a regular file");
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -1;
	}
	*off = 0;
	*size = (uint64_t)st.st_size;
	return 0;
}

int reg_src_blob(struct reg_src *s, const char *digest, int *fd, uint64_t *off, uint64_t *size,
                 struct mb_err *err)
{
	char name[96];
	if (!reg_digest_ok(digest))
		return mb_error(err, 0, "invalid digest `%.80s` in `%s`", digest, s->path);
	snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
	return open_file(s, name, fd, off, size, err);
}

int reg_src_read(struct reg_src *s, const char *name, size_t max, char **data, size_t *len,
                 struct mb_err *err)
{
	int fd;
	uint64_t off, size;

	if (open_file(s, name, &fd, &off, &size, err) < 0)
		return -1;
	if (size > max) {
		close(fd);
		return mb_error(err, 0, "cannot read `%s` in `%s`: larger than %zu bytes", name, s->path, max);
	}
	*data = malloc(size + 1);
	if (!*data || pread_full(fd, *data, size, off) < 0) {
		mb_error(err, 0, "cannot read `%s` in `%s`: %s", name, s->path,
		         *data ? strerror(errno) : "out of memory");
		free(*data);
		*data = NULL;
		close(fd);
		return -1;
	}
	close(fd);
	(*data)[size] = '\0';
	*len = (size_t)size;
	return 0;
}

int reg_src_read_blob(struct reg_src *s, const char *digest, size_t max, char **data,
                      size_t *len, struct mb_err *err)
{
	char name[96], got[ROOTFS_DIGEST_LEN];
	if (!reg_digest_ok(digest))
		return mb_error(err, 0, "invalid digest `%.80s` in `%s`", digest, s->path);
	snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
	if (reg_src_read(s, name, max, data, len, err) < 0)
		return -1;
	if (img_sha256(*data, *len, got) < 0 || strcmp(got, digest)) {
		mb_error(err, 0, "blob %s in `%s` does not match its digest", digest, s->path);
		free(*data);
		*data = NULL;
		return -1;
	}
	return 0;
}

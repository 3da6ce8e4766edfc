/* libFuzzer target: the image reader (images/read.c).  The input is split
 * at "\n--\n" into index.json, a manifest, a config and a layer; the harness
 * stores them in a real tar (libarchive) as an OCI layout whose blobs are
 * named by their true digests: the words MANIFEST in index.json and CONFIG
 * and LAYER in the manifest are replaced by the digests of those parts, so
 * the fuzzer reaches the JSON checks instead of stopping at the first digest
 * mismatch (it cannot guess a sha256).  Inputs without the separators
 * are read as a whole archive, which covers the tar parsing itself. */
#include <archive.h>
#include <archive_entry.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../images/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void add(struct archive *a, const char *name, const void *buf, size_t len)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	if (archive_write_header(a, e) != ARCHIVE_OK || archive_write_data(a, buf, len) != (la_ssize_t)len)
		abort();
	archive_entry_free(e);
}

static void digest(const void *buf, size_t len, char out[72])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(buf, len, md);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static void add_blob(struct archive *a, const void *buf, size_t len)
{
	char d[72], name[128];
	digest(buf, len, d);
	snprintf(name, sizeof(name), "blobs/sha256/%s", d + 7);
	add(a, name, buf, len);
}

/* buf with every WORD replaced by the digest of (what, wlen); malloc'd. */
static uint8_t *subst(const uint8_t *buf, size_t len, const char *word, const uint8_t *what,
                      size_t wlen, size_t *out_len)
{
	char d[72];
	digest(what, wlen, d);
	size_t wl = strlen(word), cap = len + 1, n = 0;
	for (const uint8_t *q = buf; (q = memmem(q, len - (size_t)(q - buf), word, wl)); q += wl)
		cap += 71;
	uint8_t *o = malloc(cap);
	if (!o)
		abort();
	for (size_t i = 0; i < len;) {
		if (i + wl <= len && !memcmp(buf + i, word, wl)) {
			memcpy(o + n, d, 71);
			n += 71;
			i += wl;
		} else {
			o[n++] = buf[i++];
		}
	}
	*out_len = n;
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct mb_err err = {0};
	struct image_info info;

	if (fd < 0) {
		if ((fd = memfd_create("fuzz-image", 0)) < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		abort();
	const uint8_t *part[4];
	size_t plen[4], np = 0;
	const uint8_t *p = data, *end = data + size;
	while (np < 4) {
		const uint8_t *sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
		part[np] = p;
		plen[np] = sep ? (size_t)(sep - p) : (size_t)(end - p);
		np++;
		if (!sep)
			break;
		p = sep + 4;
	}
	if (np < 3) {
		if (write(fd, data, size) != (ssize_t)size)
			abort();
	} else {
		struct archive *a = archive_write_new();
		archive_write_set_format_pax_restricted(a);
		if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
			abort();
		size_t ml, ml2, il;
		static const uint8_t none[1];
		const uint8_t *layer = np > 3 ? part[3] : none;
		size_t layer_len = np > 3 ? plen[3] : 0;
		uint8_t *m1 = subst(part[1], plen[1], "CONFIG", part[2], plen[2], &ml);
		uint8_t *man = subst(m1, ml, "LAYER", layer, layer_len, &ml2);
		uint8_t *idx = subst(part[0], plen[0], "MANIFEST", man, ml2, &il);
		add(a, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
		add(a, "index.json", idx, il);
		add_blob(a, man, ml2);
		add_blob(a, part[2], plen[2]);
		if (np > 3)
			add_blob(a, layer, layer_len);
		free(m1);
		free(man);
		free(idx);
		archive_write_close(a);
		archive_write_free(a);
	}
	if (image_read(path, &info, &err) == 0)
		image_info_free(&info);
	else if (!err.msg[0])
		abort();
	return 0;
}

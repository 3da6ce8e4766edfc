/* Go build information read from a binary's bytes: the toolchain version,
 * the main module and every dependency module linked in, as `go version -m`
 * prints them.  The SBOM lists them.
 *
 * Format (Go's src/debug/buildinfo/buildinfo.go): a 32-byte header that
 * starts with "\xff Go buildinf:", then the pointer size (1 byte) and flags
 * (1 byte); since Go 1.18 flag 2 means the two strings follow the header
 * inline, each as a uvarint length and bytes: the Go version, then the module
 * information.  The module information is framed by two 16-byte sentinels
 * and holds tab-separated lines: "path P", "mod P V H", "dep P V H",
 * "=> P V H" (a replacement of the line before) and "build K=V".  Go 1.17 and
 * older stored pointers instead; such binaries are reported as unreadable
 * rather than guessed at.  The header is 16-byte aligned in the data; with
 * -ldflags=-s the section headers are gone, so the bytes are searched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"

#define BI_MAGIC "\xff Go buildinf:"
#define BI_MAGIC_LEN 14
#define BI_HEADER 32
#define BI_SENTINEL 16
#define BI_FLAG_INLINE 0x2

static int uvarint(const unsigned char *p, size_t len, uint64_t *v, size_t *used)
{
	uint64_t x = 0;
	for (size_t i = 0; i < len && i < 10; i++) {
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = x;
			*used = i + 1;
			return 0;
		}
	}
	return -1;
}

/* One inline string at *off; advances *off. */
static char *read_string(const unsigned char *buf, size_t len, size_t *off)
{
	uint64_t n;
	size_t used;
	if (*off > len || uvarint(buf + *off, len - *off, &n, &used) < 0)
		return NULL;
	*off += used;
	if (n > len - *off)
		return NULL;
	char *s = strndup((const char *)buf + *off, n);
	*off += n;
	return s;
}

static int add_module(struct go_buildinfo *bi, char **fields, size_t nf)
{
	struct go_module *nm = realloc(bi->deps, (bi->ndeps + 1) * sizeof(*nm));
	if (!nm)
		return -1;
	bi->deps = nm;
	struct go_module *m = &bi->deps[bi->ndeps];
	memset(m, 0, sizeof(*m));
	m->path = strdup(fields[1]);
	m->version = strdup(nf > 2 ? fields[2] : "");
	m->sum = strdup(nf > 3 ? fields[3] : "");
	bi->ndeps++;
	return m->path && m->version && m->sum ? 0 : -1;
}

static void module_clear(struct go_module *m)
{
	free(m->path);
	free(m->version);
	free(m->sum);
	memset(m, 0, sizeof(*m));
}

/* "=> P V H" replaces the module of the line before it: what is linked in is
 * the replacement, so that is what the SBOM names. */
static int replace_last(struct go_buildinfo *bi, char **fields, size_t nf, int last_was_main)
{
	struct go_module *m = last_was_main ? &bi->main : bi->ndeps ? &bi->deps[bi->ndeps - 1] : NULL;
	if (!m)
		return -1;
	module_clear(m);
	m->path = strdup(fields[1]);
	m->version = strdup(nf > 2 ? fields[2] : "");
	m->sum = strdup(nf > 3 ? fields[3] : "");
	return m->path && m->version && m->sum ? 0 : -1;
}

static int parse_modinfo(struct go_buildinfo *bi, char *mi, struct mb_err *err)
{
	int last_was_main = 0;
	for (char *save = NULL, *line = strtok_r(mi, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *fields[5] = { 0 };
		size_t nf = 0;
		for (char *s2 = NULL, *f = strtok_r(line, "\t", &s2); f && nf < 5;
		     f = strtok_r(NULL, "\t", &s2))
			fields[nf++] = f;
		if (nf < 2)
			continue;
		int r = 0;
		if (!strcmp(fields[0], "path")) {
			free(bi->main_path);
			r = (bi->main_path = strdup(fields[1])) ? 0 : -1;
		} else if (!strcmp(fields[0], "mod")) {
			module_clear(&bi->main);
			bi->main.path = strdup(fields[1]);
			bi->main.version = strdup(nf > 2 ? fields[2] : "");
			bi->main.sum = strdup(nf > 3 ? fields[3] : "");
			r = bi->main.path && bi->main.version && bi->main.sum ? 0 : -1;
			last_was_main = 1;
			continue;
		} else if (!strcmp(fields[0], "dep")) {
			r = add_module(bi, fields, nf);
		} else if (!strcmp(fields[0], "=>")) {
			r = replace_last(bi, fields, nf, last_was_main);
		}
		if (r < 0)
			return mb_error(err, 0, "malformed Go module information near `%s`", fields[0]);
		last_was_main = 0;
	}
	return 0;
}

static const unsigned char *find_header(const unsigned char *buf, size_t len)
{
	size_t off = 0;
	while (off + BI_HEADER <= len) {
		const unsigned char *p = memmem(buf + off, len - off, BI_MAGIC, BI_MAGIC_LEN);
		if (!p)
			return NULL;
		size_t at = (size_t)(p - buf);
		if (at % 16 == 0 && at + BI_HEADER <= len)
			return p;
		off = at + 1;
	}
	return NULL;
}

int go_buildinfo_read(const unsigned char *buf, size_t len, struct go_buildinfo *bi, struct mb_err *err)
{
	memset(bi, 0, sizeof(*bi));
	const unsigned char *h = find_header(buf, len);
	if (!h)
		return 0;
	if (!(h[BI_MAGIC_LEN + 1] & BI_FLAG_INLINE))
		return mb_error(err, 0, "Go build information in the pre-1.18 format is not supported");
	size_t off = (size_t)(h - buf) + BI_HEADER;
	char *mi = NULL;
	bi->go_version = read_string(buf, len, &off);
	if (bi->go_version)
		mi = read_string(buf, len, &off);
	if (!bi->go_version || !mi) {
		mb_error(err, 0, "truncated Go build information");
		go_buildinfo_free(bi);
		free(mi);
		return -1;
	}
	/* The module text sits between two 16-byte sentinels; empty when the
	 * binary was built outside module mode. */
	size_t ml = strlen(mi);
	int r = 0;
	if (ml >= 2 * BI_SENTINEL) {
		mi[ml - BI_SENTINEL] = '\0';
		r = parse_modinfo(bi, mi + BI_SENTINEL, err);
	}
	free(mi);
	if (r < 0) {
		go_buildinfo_free(bi);
		return -1;
	}
	return 1;
}

void go_buildinfo_free(struct go_buildinfo *bi)
{
	free(bi->go_version);
	free(bi->main_path);
	module_clear(&bi->main);
	for (size_t i = 0; i < bi->ndeps; i++)
		module_clear(&bi->deps[i]);
	free(bi->deps);
	memset(bi, 0, sizeof(*bi));
}

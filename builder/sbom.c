/* What goes into an image's SBOM: the image, the init with the static
 * libraries it was linked with, the CA bundle, tzdata and busybox when the
 * image has them, and the service with its Go toolchain and modules (read
 * from the binary's own build information) or the musl it was linked with.
 * images/sbom.c writes the SPDX document; this file only finds the facts.
 *
 * Versions of Debian packages (ca-certificates, tzdata, busybox-static,
 * musl) come from dpkg's status file, the record of what is installed; the
 * init names its own components in a marker string it carries (init/main.c,
 * "minbase-init components: ..."), so an init built elsewhere, or for another
 * architecture, is described by what it says of itself, not by this host. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "builder.h"
#include "../images/images.h"

#define DPKG_STATUS "/var/lib/dpkg/status"
#define INIT_MARKER "minbase-init components: "

/* Growable list of owned strings, so that packages can point into it. */
typedef struct sbom_strings pool_t;

static const char *pool_add(pool_t *p, char *s)
{
	if (!s)
		return NULL;
	char **ns = realloc(p->s, (p->n + 1) * sizeof(*ns));
	if (!ns) {
		free(s);
		return NULL;
	}
	p->s = ns;
	return p->s[p->n++] = s;
}

static const char *pool_printf(pool_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *pool_printf(pool_t *p, const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : pool_add(p, s);
}

static const char *sha256_hex(pool_t *p, const unsigned char *buf, size_t len)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char digest[ROOTFS_DIGEST_LEN];
	SHA256(buf, len, md);
	rootfs_hex(md, digest);
	return pool_add(p, strdup(digest + 7)); /* SPDX wants the bare hex */
}

/* The installed version of a Debian package (for arch, or any arch when
 * arch is NULL), from dpkg's status file; NULL when it is not installed. */
static char *dpkg_version(const char *pkg, const char *arch)
{
	FILE *f = fopen(DPKG_STATUS, "re");
	if (!f)
		return NULL;
	char *line = NULL, *ver = NULL, *found = NULL;
	size_t cap = 0;
	int match = 0, installed = 0, arch_ok = arch == NULL;
	for (;;) {
		ssize_t n = getline(&line, &cap, f);
		if (n <= 1) { /* end of a stanza (or of the file) */
			if (match && installed && arch_ok && ver && !found)
				found = strdup(ver);
			free(ver);
			ver = NULL;
			match = installed = 0;
			arch_ok = arch == NULL;
			if (n < 0)
				break;
			continue;
		}
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "Package: ", 9))
			match = !strcmp(line + 9, pkg);
		else if (!strncmp(line, "Status: ", 8))
			installed = strstr(line, " installed") != NULL;
		else if (!strncmp(line, "Architecture: ", 14) && arch)
			arch_ok = !strcmp(line + 14, arch) || !strcmp(line + 14, "all");
		else if (!strncmp(line, "Version: ", 9)) {
			free(ver);
			ver = strdup(line + 9);
		}
	}
	free(line);
	free(ver);
	fclose(f);
	return found;
}

/* "minbase-init components: musl 1.2.3-2, libcap 2.66, libseccomp 2.5.4"
 * in the init's bytes -> one package per component. */
static int add_init_components(struct sbom_build *b, const unsigned char *init, size_t len,
                               long parent)
{
	const unsigned char *m = memmem(init, len, INIT_MARKER, strlen(INIT_MARKER));
	if (!m)
		return 0;
	size_t off = (size_t)(m - init) + strlen(INIT_MARKER);
	const unsigned char *end = memchr(init + off, '\0', len - off);
	if (!end || end - (init + off) > 256)
		return 0;
	char *list = strndup((const char *)init + off, (size_t)(end - (init + off)));
	if (!list)
		return -1;
	int r = 0;
	for (char *save = NULL, *c = strtok_r(list, ",", &save); c && r == 0;
	     c = strtok_r(NULL, ",", &save)) {
		while (*c == ' ')
			c++;
		char *sp = strchr(c, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		const char *name = pool_add(&b->pool, strdup(c));
		const char *ver = pool_add(&b->pool, strdup(sp + 1));
		const char *lic = !strcmp(c, "musl") ? "MIT" :
		                  !strcmp(c, "libcap") ? "BSD-3-Clause OR GPL-2.0-only" :
		                  !strcmp(c, "libseccomp") ? "LGPL-2.1-only" : NULL;
		const char *purl = !strcmp(c, "musl") ?
			pool_printf(&b->pool, "pkg:generic/musl@%s", ver) :
			pool_printf(&b->pool, "pkg:deb/debian/%s@%s?arch=source", c, ver);
		r = sbom_add(b, name, ver, purl, lic, NULL, "static library linked into minbase-init",
		             parent);
	}
	free(list);
	return r;
}

const char *sbom_strdup(struct sbom_build *b, const char *s)
{
	return s ? pool_add(&b->pool, strdup(s)) : NULL;
}

int sbom_add(struct sbom_build *b, const char *name, const char *version, const char *purl,
             const char *license, const char *sha256, const char *comment, long parent)
{
	if (!name)
		return -1;
	struct sbom_package *np = realloc(b->pkgs, (b->n + 1) * sizeof(*np));
	if (!np)
		return -1;
	b->pkgs = np;
	np[b->n] = (struct sbom_package){
		.name = name, .version = version, .purl = purl, .license = license,
		.sha256 = sha256, .comment = comment, .parent = parent,
	};
	b->n++;
	return 0;
}

static int add_deb(struct sbom_build *b, const char *pkg, const char *license, const char *comment)
{
	const char *v = pool_add(&b->pool, dpkg_version(pkg, NULL));
	const char *purl = v ? pool_printf(&b->pool, "pkg:deb/debian/%s@%s", pkg, v) : NULL;
	return sbom_add(b, pkg, v, purl, license, NULL, comment, 0);
}

static int add_go(struct sbom_build *b, const struct go_buildinfo *gi, long svc)
{
	const char *gv = gi->go_version;
	const char *ver = pool_add(&b->pool, strdup(!strncmp(gv, "go", 2) ? gv + 2 : gv));
	if (sbom_add(b, "stdlib", ver, pool_printf(&b->pool, "pkg:golang/stdlib@%s", ver),
	             "BSD-3-Clause", NULL, "the Go toolchain's standard library", svc) < 0)
		return -1;
	/* The packages point into the pool, never into gi (freed after). */
	for (size_t i = 0; i < gi->ndeps; i++) {
		const struct go_module *m = &gi->deps[i];
		const char *purl = pool_printf(&b->pool, "pkg:golang/%s@%s", m->path, m->version);
		const char *c = *m->sum ? pool_printf(&b->pool, "go.sum %s", m->sum) : NULL;
		if (sbom_add(b, pool_add(&b->pool, strdup(m->path)),
		             pool_add(&b->pool, strdup(m->version)), purl, NULL, NULL, c, svc) < 0)
			return -1;
	}
	return 0;
}

int sbom_collect(const struct sbom_inputs *in, struct sbom_build *b, struct mb_err *err)
{
	memset(b, 0, sizeof(*b));
	/* The packages point into the pool only: the inputs may be gone
	 * before the document is written. */
	const char *img = in->image_name ? pool_add(&b->pool, strdup(in->image_name)) : NULL;
	const char *imgv = in->image_version ? pool_add(&b->pool, strdup(in->image_version)) : NULL;
	int r = sbom_add(b, img, imgv, NULL, NULL, NULL, NULL, -1);
	if (r == 0 && in->init) {
		long at = (long)b->n;
		r = sbom_add(b, "minbase-init", MINBASE_VERSION,
		             pool_printf(&b->pool, "pkg:generic/minbase-init@%s", MINBASE_VERSION),
		             NULL, sha256_hex(&b->pool, in->init, in->init_len),
		             "/usr/bin/minbase-init", 0);
		if (r == 0)
			r = add_init_components(b, in->init, in->init_len, at);
	}
	if (r == 0 && in->ca)
		r = add_deb(b, "ca-certificates", "MPL-2.0",
		            in->extra_ca ? "/etc/ssl/certs/ca-certificates.crt (with an added CA file)"
		                         : "/etc/ssl/certs/ca-certificates.crt");
	if (r == 0 && in->tzdata)
		r = add_deb(b, "tzdata", NULL, "/usr/share/zoneinfo");
	if (r == 0 && in->busybox)
		r = add_deb(b, "busybox-static", "GPL-2.0-only", "/busybox");
	if (r == 0 && in->app) {
		long at = (long)b->n;
		struct go_buildinfo gi;
		int go = go_buildinfo_read(in->app, in->app_len, &gi, err);
		if (go < 0) {
			sbom_build_free(b);
			return -1;
		}
		const char *ver = go && gi.main.version && *gi.main.version ?
			pool_add(&b->pool, strdup(gi.main.version)) : NULL;
		const char *purl = go && gi.main.path ?
			pool_printf(&b->pool, "pkg:golang/%s@%s", gi.main.path, ver ? ver : "(devel)") : NULL;
		r = sbom_add(b, pool_add(&b->pool, strdup(in->app_name ? in->app_name : "service")),
		             ver, purl, NULL, sha256_hex(&b->pool, in->app, in->app_len),
		             in->app_path ? pool_add(&b->pool, strdup(in->app_path)) : NULL, 0);
		if (r == 0 && go)
			r = add_go(b, &gi, at);
		else if (r == 0 && in->app_musl) {
			const char *mv = pool_add(&b->pool, dpkg_version("musl-dev", in->deb_arch));
			r = sbom_add(b, "musl", mv, mv ? pool_printf(&b->pool, "pkg:generic/musl@%s", mv) : NULL,
			             "MIT", NULL, "C library the service was statically linked with", at);
		}
		if (go)
			go_buildinfo_free(&gi);
	}
	if (r < 0) {
		sbom_build_free(b);
		mb_error(err, 0, "cannot list the SBOM's packages: out of memory");
	}
	return r;
}

void sbom_build_free(struct sbom_build *b)
{
	for (size_t i = 0; i < b->pool.n; i++)
		free(b->pool.s[i]);
	free(b->pool.s);
	free(b->pkgs);
	memset(b, 0, sizeof(*b));
}

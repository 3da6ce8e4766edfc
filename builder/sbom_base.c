/* The SBOM of an image built on a --base: what mkimage put in its own
 * layer (the service, its Go modules or musl, the init when the base has
 * none), and the base image itself as one package: its reference, the
 * digest of its manifest as the version, and a pkg:oci purl (the purl
 * spec's type for OCI images: name, digest, repository_url, tag, arch).
 *
 * When the base carries an SBOM of its own (a minbase base does; it is
 * found by the dev.minbase.sbom annotation of the layout or the pulled
 * image), its packages are copied in under the base package, with their
 * CONTAINS nesting, and the document is also referenced (SPDX 2.3
 * externalDocumentRefs, base package DESCRIBED_BY it).  Copied because the
 * consumers of an image SBOM (grype, trivy, dependency-track) read one
 * document and do not follow external references: a scan of this image's
 * SBOM must see the base's musl and CA bundle as `syft IMAGE` would, which
 * lists every layer.  Referenced too, so that the base's own document
 * (its namespace and SHA1) stays the source of those entries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "../images/images.h"

/* "host/path/name:tag" -> repository "host/path/name", as the purl spec
 * spells repository_url (Docker Hub names in full: docker.io/library/x). */
static char *repository(const char *ref, const char **tag)
{
	*tag = NULL;
	const char *at = strchr(ref, '@');
	size_t n = at ? (size_t)(at - ref) : strlen(ref);
	const char *slash = memrchr(ref, '/', n), *colon = memrchr(ref, ':', n);
	if (colon && (!slash || colon > slash)) {
		if (!at)
			*tag = colon + 1;
		n = (size_t)(colon - ref);
	}
	const char *first_end = memchr(ref, '/', n);
	bool host = first_end && (memchr(ref, '.', (size_t)(first_end - ref)) ||
	                          memchr(ref, ':', (size_t)(first_end - ref)) ||
	                          ((size_t)(first_end - ref) == 9 && !strncmp(ref, "localhost", 9)));
	char *out = NULL;
	if (asprintf(&out, "%s%.*s", host ? "" : first_end ? "docker.io/" : "docker.io/library/",
	             (int)n, ref) < 0)
		return NULL;
	return out;
}

/* The base image package: index of it in b. */
static long add_base_package(struct sbom_build *b, const struct image_base_facts *f,
                             const char *arch, bool copied)
{
	const char *ref = f->pulled ? f->spec : f->name;
	const char *tag = NULL;
	char *repo = ref ? repository(ref, &tag) : NULL;
	const char *last = repo ? strrchr(repo, '/') : NULL;
	const char *pname = last ? last + 1 : "base";
	const char *purl = NULL;
	if (f->manifest_digest) {
		char *p = NULL;
		/* the digest's ':' percent-encoded, as the purl spec's examples do */
		/* where it can be found: only a registry base has an address */
		const char *url = f->pulled ? repo : NULL;
		if (asprintf(&p, "pkg:oci/%s@sha256%%3A%s?arch=%s%s%s%s%s", pname, f->manifest_digest + 7,
		             arch, url ? "&repository_url=" : "", url ? url : "", tag ? "&tag=" : "",
		             tag ? tag : "") < 0)
			p = NULL;
		purl = sbom_strdup(b, p);
		free(p);
	}
	/* a file base has no reference worth naming but the one it carries */
	const char *name = sbom_strdup(b, ref ? ref : "base image");
	free(repo);
	long at = (long)b->n;
	if (!name || (f->manifest_digest && !purl) ||
	    sbom_add(b, name, sbom_strdup(b, f->manifest_digest), purl, NULL, NULL,
	             copied ? "the base image (--base); the packages it contains are copied from its "
	                      "own SBOM, DocumentRef-base"
	                    : "the base image (--base); it carries no SBOM of its own", 0) < 0)
		return -1;
	b->pkgs[at].purpose = "CONTAINER";
	return at;
}

/* The base's own packages under the base package (at). */
static int copy_base_packages(struct sbom_build *b, const struct sbom_list *l, long at)
{
	long *map = calloc(l->n ? l->n : 1, sizeof(*map));
	if (!map)
		return -1;
	for (size_t i = 0; i < l->n; i++)
		map[i] = -1;
	if (l->described >= 0)
		map[l->described] = at;
	int r = 0;
	for (size_t i = 0; i < l->n && r == 0; i++) {
		const struct sbom_package *p = &l->pkgs[i];
		if ((long)i == l->described || !p->name)
			continue;
		/* nested as in the base's document where the container came
		 * first (always so in ours), else directly under the base */
		long parent = p->parent >= 0 && map[p->parent] >= 0 ? map[p->parent] : at;
		long self = (long)b->n;
		r = sbom_add(b, sbom_strdup(b, p->name), sbom_strdup(b, p->version),
		             sbom_strdup(b, p->purl), sbom_strdup(b, p->license), sbom_strdup(b, p->sha256),
		             sbom_strdup(b, p->comment), parent);
		if (r == 0) {
			b->pkgs[self].supplier = sbom_strdup(b, p->supplier);
			map[i] = self;
		}
	}
	free(map);
	return r;
}

int mk_sbom_packages_base(const struct mk_opts *o, const struct image_base *base,
                          const unsigned char *init, size_t init_len, const unsigned char *app,
                          size_t app_len, const char *name, struct sbom_build *b, struct mb_err *err)
{
	if (mk_sbom_packages_with(o, init, init_len, app, app_len, name, false, false, b, err) < 0)
		return -1;
	if (!b->n)
		return 0; /* --sbom none */
	struct image_base_facts f;
	struct sbom_list l = { .described = -1 };
	struct mb_err why = {0};
	image_base_facts(base, &f);
	if (f.sbom_error || (f.sbom && image_sbom_parse(f.sbom, f.sbom_len, &l, &why) < 0)) {
		if (f.sbom_error)
			mb_error(err, 0, "--base: %s; build with --sbom none to leave the image without an "
			         "SBOM", f.sbom_error);
		else
			mb_error(err, 0, "--base `%s`: %s; build with --sbom none to leave the image without "
			         "an SBOM", f.spec, why.msg);
		sbom_build_free(b);
		return -1;
	}
	long at = add_base_package(b, &f, o->arch, f.sbom != NULL);
	int r = at < 0 ? -1 : 0;
	if (r == 0 && f.sbom) {
		r = copy_base_packages(b, &l, at);
		b->ext = (struct sbom_extdoc){ .ns = sbom_strdup(b, l.ns), .sha1 = sbom_strdup(b, l.sha1),
		                               .package = at };
		if (!b->ext.ns || !b->ext.sha1)
			r = -1;
	}
	image_sbom_list_free(&l);
	if (r < 0) {
		sbom_build_free(b);
		mb_error(err, 0, "cannot list the SBOM's packages: out of memory");
	}
	return r;
}

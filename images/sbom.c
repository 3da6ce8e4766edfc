/* SPDX 2.3 bill of materials of one image, as JSON (jansson).
 *
 * The caller (mkimage) lists what the image holds as packages: the image
 * itself first, then the packages in it, each naming the package that
 * CONTAINS it.  This file only writes the document; it knows nothing of how
 * the packages were found.
 *
 * Deterministic by construction, like the image: keys sorted, packages and
 * relationships in the caller's order, SPDXIDs numbered in that order, the
 * creation time from the caller (SOURCE_DATE_EPOCH), and the document
 * namespace derived from the image manifest's digest (SPDX 2.3 section 6.5
 * asks for a unique URI per document; the digest is unique per image and
 * the same for the same image). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "images_priv.h"

#define SPDX_NOASSERTION "NOASSERTION"

static json_t *str_or_noassert(const char *s)
{
	return json_string(s && *s ? s : SPDX_NOASSERTION);
}

static void spdx_id(char *buf, size_t len, size_t i)
{
	if (i == 0)
		snprintf(buf, len, "SPDXRef-Image");
	else
		snprintf(buf, len, "SPDXRef-Package-%zu", i);
}

/* Sets o[k] = v; a NULL v (a string that is not UTF-8, or no memory)
 * marks the document bad instead of silently leaving the field out. */
static void put(json_t *o, const char *k, json_t *v, int *bad)
{
	if (!v || json_object_set_new(o, k, v) < 0)
		*bad = 1;
}

static json_t *package_json(const struct sbom_package *p, size_t i, int *bad)
{
	char id[48];
	spdx_id(id, sizeof(id), i);
	json_t *j = json_object();
	put(j, "SPDXID", json_string(id), bad);
	put(j, "name", json_string(p->name), bad);
	put(j, "versionInfo", str_or_noassert(p->version), bad);
	put(j, "downloadLocation", str_or_noassert(p->download), bad);
	put(j, "filesAnalyzed", json_false(), bad);
	put(j, "licenseConcluded", json_string(SPDX_NOASSERTION), bad);
	put(j, "licenseDeclared", str_or_noassert(p->license), bad);
	put(j, "copyrightText", json_string(SPDX_NOASSERTION), bad);
	if (p->supplier)
		put(j, "supplier", json_string(p->supplier), bad);
	if (p->purpose)
		put(j, "primaryPackagePurpose", json_string(p->purpose), bad);
	if (p->comment)
		put(j, "comment", json_string(p->comment), bad);
	if (p->sha256) {
		json_t *c = json_object();
		put(c, "algorithm", json_string("SHA256"), bad);
		put(c, "checksumValue", json_string(p->sha256), bad);
		put(j, "checksums", json_pack("[o]", c), bad);
	}
	if (p->purl) {
		json_t *r = json_object();
		put(r, "referenceCategory", json_string("PACKAGE-MANAGER"), bad);
		put(r, "referenceType", json_string("purl"), bad);
		put(r, "referenceLocator", json_string(p->purl), bad);
		put(j, "externalRefs", json_pack("[o]", r), bad);
	}
	return j;
}

static json_t *relationship(const char *a, const char *type, const char *b)
{
	json_t *r = json_object();
	json_object_set_new(r, "spdxElementId", json_string(a));
	json_object_set_new(r, "relationshipType", json_string(type));
	json_object_set_new(r, "relatedSpdxElement", json_string(b));
	return r;
}

int image_sbom_spdx(const struct sbom_doc *d, char **out, struct mb_err *err)
{
	*out = NULL;
	if (d->npackages == 0 || !d->manifest_digest ||
	    strncmp(d->manifest_digest, "sha256:", 7) != 0)
		return mb_error(err, 0, "an SBOM needs the image package and its manifest digest");
	if (d->ext && (!d->ext->ns || !d->ext->sha1 || d->ext->package <= 0 ||
	               d->ext->package >= (long)d->npackages))
		return mb_error(err, 0, "the base's SBOM reference has no namespace, SHA1 or package");
	for (size_t i = 0; i < d->npackages; i++)
		if (!d->packages[i].name || d->packages[i].parent >= (long)i ||
		    (i > 0 && d->packages[i].parent < 0))
			return mb_error(err, 0, "SBOM package %zu has no name or no parent before it", i);

	char created[32], ns[256], id[48], pid[48];
	time_t t = (time_t)d->created;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return mb_error(err, 0, "SBOM creation time %lld is out of range", (long long)d->created);
	snprintf(ns, sizeof(ns), "urn:minbase:spdx:%s:%s", d->packages[0].name,
	         d->manifest_digest + 7);

	int bad = 0;
	json_t *doc = json_object(), *pkgs = json_array(), *rels = json_array();
	put(doc, "spdxVersion", json_string("SPDX-2.3"), &bad);
	put(doc, "dataLicense", json_string("CC0-1.0"), &bad);
	put(doc, "SPDXID", json_string("SPDXRef-DOCUMENT"), &bad);
	put(doc, "name", json_string(d->packages[0].name), &bad);
	put(doc, "documentNamespace", json_string(ns), &bad);
	json_object_set_new(doc, "creationInfo",
	                    json_pack("{s:s, s:[s]}", "created", created, "creators",
	                              "Tool: minbase-mkimage-" MINBASE_VERSION));
	put(doc, "documentDescribes", json_pack("[s]", "SPDXRef-Image"), &bad);
	json_array_append_new(rels, relationship("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"));
	if (d->ext) {
		/* the base image's own SBOM: by reference (its namespace and
		 * SHA1, the one algorithm SPDX 2.3 section 6.6 requires) */
		put(doc, "externalDocumentRefs",
		    json_pack("[{s:s, s:s, s:{s:s, s:s}}]", "externalDocumentId", "DocumentRef-base",
		              "spdxDocument", d->ext->ns, "checksum", "algorithm", "SHA1",
		              "checksumValue", d->ext->sha1), &bad);
	}
	for (size_t i = 0; i < d->npackages; i++) {
		json_t *pj = package_json(&d->packages[i], i, &bad);
		if (!pj || json_array_append_new(pkgs, pj) < 0)
			bad = 1;
		if (i == 0)
			continue;
		spdx_id(id, sizeof(id), i);
		spdx_id(pid, sizeof(pid), (size_t)d->packages[i].parent);
		json_array_append_new(rels, relationship(pid, "CONTAINS", id));
		if (d->ext && d->ext->package == (long)i)
			json_array_append_new(rels, relationship(id, "DESCRIBED_BY",
			                                         "DocumentRef-base:SPDXRef-DOCUMENT"));
	}
	put(doc, "packages", pkgs, &bad);
	put(doc, "relationships", rels, &bad);

	*out = bad ? NULL : json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(doc);
	if (!*out)
		return mb_error(err, 0, "cannot write the SBOM: a package field is not UTF-8 text (or out of memory)");
	return 0;
}

/* The OCI 1.1 artifact: config = the empty descriptor, one layer = the
 * SPDX document, subject = the image manifest (image-spec 1.1, "Guidelines
 * for Artifact Usage"; what oras and cosign write for registries without
 * artifact support). */
int img_sbom_build(const struct image_config *c, const char *manifest_digest,
                   size_t manifest_size, struct img_sbom *s, struct mb_err *err)
{
	memset(s, 0, sizeof(*s));
	if (!c->sbom)
		return 0;
	struct sbom_doc d = {
		.packages = c->sbom, .npackages = c->nsbom,
		.manifest_digest = manifest_digest, .created = c->created, .ext = c->sbom_ext,
	};
	if (image_sbom_spdx(&d, &s->doc, err) < 0)
		return -1;
	if (img_sha256(s->doc, strlen(s->doc), s->doc_digest) < 0)
		goto nomem;
	char created[32];
	time_t t = (time_t)c->created;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *m = json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:[{s:s, s:s, s:I, s:{s:s}}],"
	                      " s:{s:s, s:s, s:I}, s:{s:s}}",
	                      "schemaVersion", 2, "mediaType", IMG_MT_MANIFEST,
	                      "artifactType", IMAGE_SBOM_MEDIA_TYPE,
	                      "config", "mediaType", IMG_MT_EMPTY, "digest", IMG_EMPTY_DIGEST,
	                      "size", 2,
	                      "layers", "mediaType", IMAGE_SBOM_MEDIA_TYPE, "digest", s->doc_digest,
	                      "size", (json_int_t)strlen(s->doc), "annotations",
	                      "org.opencontainers.image.title", "sbom.spdx.json",
	                      "subject", "mediaType", IMG_MT_MANIFEST, "digest", manifest_digest,
	                      "size", (json_int_t)manifest_size,
	                      "annotations", "org.opencontainers.image.created", created);
	s->manifest = m ? json_dumps(m, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	json_decref(m);
	if (!s->manifest || img_sha256(s->manifest, strlen(s->manifest), s->manifest_digest) < 0)
		goto nomem;
	return 0;
nomem:
	img_sbom_free(s);
	return mb_error(err, 0, "cannot write the SBOM artifact: out of memory");
}

void img_sbom_free(struct img_sbom *s)
{
	free(s->doc);
	free(s->manifest);
	memset(s, 0, sizeof(*s));
}

/* ---- reading another image's SBOM (the base's) -------------------------- */

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static long id_index(json_t *pkgs, const char *id)
{
	json_t *p;
	size_t i;
	if (!id)
		return -1;
	json_array_foreach(pkgs, i, p)
		if (jstr(p, "SPDXID") && !strcmp(jstr(p, "SPDXID"), id))
			return (long)i;
	return -1;
}

int image_sbom_parse(const char *doc, size_t len, struct sbom_list *l, struct mb_err *err)
{
	memset(l, 0, sizeof(*l));
	l->described = -1;
	json_error_t je;
	json_t *j = json_loadb(doc, len, 0, &je), *pkgs = json_object_get(j, "packages");
	const char *ver = jstr(j, "spdxVersion");
	if (!json_is_object(j) || !ver || strncmp(ver, "SPDX-2.", 7) || !jstr(j, "documentNamespace") ||
	    !json_is_array(pkgs)) {
		mb_error(err, 0, "the base's SBOM is not an SPDX 2 JSON document%s%s",
		         j ? "" : ": ", j ? "" : je.text);
		json_decref(j);
		return -1;
	}
	l->json = j;
	l->ns = jstr(j, "documentNamespace");
	unsigned char md[SHA_DIGEST_LENGTH];
	SHA1((const unsigned char *)doc, len, md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(l->sha1 + 2 * i, 3, "%02x", md[i]);
	l->n = json_array_size(pkgs);
	if (l->n && !(l->pkgs = calloc(l->n, sizeof(*l->pkgs)))) {
		image_sbom_list_free(l);
		return mb_error(err, 0, "cannot read the base's SBOM: out of memory");
	}
	json_t *d = json_array_get(json_object_get(j, "documentDescribes"), 0), *r, *p;
	size_t i, k;
	l->described = id_index(pkgs, json_string_value(d));
	json_array_foreach(json_object_get(j, "relationships"), k, r)
		if (!strcmp(jstr(r, "relationshipType") ? jstr(r, "relationshipType") : "", "DESCRIBES") &&
		    !strcmp(jstr(r, "spdxElementId") ? jstr(r, "spdxElementId") : "", "SPDXRef-DOCUMENT") &&
		    l->described < 0)
			l->described = id_index(pkgs, jstr(r, "relatedSpdxElement"));
	json_array_foreach(pkgs, i, p) {
		struct sbom_package *q = &l->pkgs[i];
		q->name = jstr(p, "name");
		q->version = jstr(p, "versionInfo");
		q->license = jstr(p, "licenseDeclared");
		q->supplier = jstr(p, "supplier");
		q->comment = jstr(p, "comment");
		q->parent = -1;
		if (q->version && !strcmp(q->version, SPDX_NOASSERTION))
			q->version = NULL;
		if (q->license && !strcmp(q->license, SPDX_NOASSERTION))
			q->license = NULL;
		if (q->supplier && !strcmp(q->supplier, SPDX_NOASSERTION))
			q->supplier = NULL;
		json_t *c, *e;
		size_t m;
		json_array_foreach(json_object_get(p, "checksums"), m, c)
			if (jstr(c, "algorithm") && !strcmp(jstr(c, "algorithm"), "SHA256"))
				q->sha256 = jstr(c, "checksumValue");
		json_array_foreach(json_object_get(p, "externalRefs"), m, e)
			if (jstr(e, "referenceType") && !strcmp(jstr(e, "referenceType"), "purl"))
				q->purl = q->purl ? q->purl : jstr(e, "referenceLocator");
	}
	/* the containing package of each, from A CONTAINS B (and B CONTAINED_BY A) */
	json_array_foreach(json_object_get(j, "relationships"), k, r) {
		const char *t = jstr(r, "relationshipType");
		long a = id_index(pkgs, jstr(r, "spdxElementId"));
		long b = id_index(pkgs, jstr(r, "relatedSpdxElement"));
		if (!t || a < 0 || b < 0 || a == b)
			continue;
		if (!strcmp(t, "CONTAINED_BY")) {
			long x = a;
			a = b;
			b = x;
		} else if (strcmp(t, "CONTAINS")) {
			continue;
		}
		if (l->pkgs[b].parent < 0 && b != l->described)
			l->pkgs[b].parent = a;
	}
	return 0;
}

void image_sbom_list_free(struct sbom_list *l)
{
	free(l->pkgs);
	json_decref(l->json);
	memset(l, 0, sizeof(*l));
	l->described = -1;
}

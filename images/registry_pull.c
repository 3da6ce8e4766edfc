/* images registry_pull: an image from a registry to an OCI layout or to our
 * archive (the same tar that `mkimage --static` writes: OCI layout plus
 * docker's manifest.json, entries sorted, one mtime, so pulling an image we
 * pushed, under the same name, gives the same bytes).
 *
 * The manifest (at most 4 MiB) is checked against the digest of the
 * reference or the registry's Docker-Content-Digest; an index is resolved
 * to one platform; every blob is streamed to a file beside the output,
 * hashed on the way and refused unless it has its digest and size.
 * Everything is built under a temporary name and renamed at the end. */
#include "registry_priv.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ACCEPT IMG_MT_MANIFEST ", " IMG_MT_INDEX ", " REG_MT_DOCKER_MANIFEST ", " REG_MT_DOCKER_LIST

struct pull {
	int dfd;               /* the temporary layout directory */
	struct reg_blob *b;
	size_t nb;
	uint64_t bytes;
};

/* GET a manifest by tag or digest; checked, at most 4 MiB. */
static int get_manifest(struct reg *r, CURL *h, const char *at, const char *want_digest,
                        char **data, size_t *len, char **mt, char digest[ROOTFS_DIGEST_LEN],
                        struct mb_err *err)
{
	char path[600], what[300];
	struct reg_resp p = { 0 };
	struct reg_req q = { .method = "GET", .url = path, .accept = ACCEPT, .body_fd = -1,
	                     .out_fd = -1, .out_max = REG_MANIFEST_MAX, .idempotent = true };
	int ret = -1;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", r->ref.repo, at);
	/* a digest is repo@sha256:..., a tag repo:TAG (a tag may be shorter than "sha256:") */
	snprintf(what, sizeof(what), "GET manifest %s%s%s", r->ref.repo,
	         !strncmp(at, "sha256:", 7) ? "@" : ":", at);
	if (reg_do(r, h, &q, &p, err) < 0) {
		if (p.too_big)
			mb_error(err, 0, "registry %s: manifest %s:%s is larger than 4 MiB: refused",
			         r->ref.domain, r->ref.repo, at);
		goto out;
	}
	if (p.status != 200) {
		reg_http_error(r, what, &p, err);
		goto out;
	}
	if (img_sha256(p.body ? p.body : "", p.len, digest) < 0)
		goto out;
	const char *claimed = want_digest ? want_digest : p.digest;
	if (claimed && strcmp(claimed, digest)) {
		mb_error(err, 0, "registry %s: manifest %s:%s does not match its digest (%s%s, got %s)",
		         r->ref.domain, r->ref.repo, at, want_digest ? "" : "the registry says ",
		         claimed, digest);
		goto out;
	}
	json_error_t je;
	json_t *j = json_loadb(p.body ? p.body : "", p.len, 0, &je);
	const char *jm = json_string_value(json_object_get(j, "mediaType"));
	const char *ct = p.content_type;
	*mt = strdup(jm ? jm : ct ? ct : IMG_MT_MANIFEST);
	if (*mt)
		(*mt)[strcspn(*mt, ";")] = '\0';
	json_decref(j);
	if (!j) {
		mb_error(err, 0, "registry %s: manifest %s:%s is not JSON: %s", r->ref.domain,
		         r->ref.repo, at, je.text);
		free(*mt);
		*mt = NULL;
		goto out;
	}
	*data = p.body ? p.body : strdup("");
	*len = p.len;
	p.body = NULL;
	ret = 0;
out:
	reg_resp_free(&p);
	return ret;
}

static int get_blob(struct reg *r, CURL *h, void *ctx, size_t i, struct mb_err *err)
{
	struct pull *pl = ctx;
	struct reg_blob *b = &pl->b[i];
	char path[600], part[100], fin[100], got[ROOTFS_DIGEST_LEN], what[200];
	struct reg_resp p = { 0 };
	int ret = -1;

	snprintf(part, sizeof(part), "blobs/sha256/%s.part", b->digest + 7);
	snprintf(fin, sizeof(fin), "blobs/sha256/%s", b->digest + 7);
	int fd = openat(pl->dfd, part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return mb_error(err, errno, "cannot create `%s`", part);
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", r->ref.repo, b->digest);
	snprintf(what, sizeof(what), "GET blob %.19s", b->digest);
	struct reg_req q = { .method = "GET", .url = path, .body_fd = -1, .out_fd = fd,
	                     .out_max = b->size, .idempotent = true };
	if (reg_do(r, h, &q, &p, err) < 0) {
		if (p.too_big)
			mb_error(err, 0, "registry %s: blob %s is larger than its descriptor says (%llu bytes)",
			         r->ref.domain, b->digest, (unsigned long long)b->size);
		goto out;
	}
	if (p.status != 200) {
		reg_http_error(r, what, &p, err);
		goto out;
	}
	rootfs_hex(p.sha, got);
	if (p.written != b->size || strcmp(got, b->digest)) {
		mb_error(err, 0, "registry %s: blob %s does not match its digest or size (got %s, %llu "
		         "bytes)", r->ref.domain, b->digest, got, (unsigned long long)p.written);
		goto out;
	}
	if (renameat(pl->dfd, part, pl->dfd, fin) < 0) {
		mb_error(err, errno, "cannot rename `%s`", part);
		goto out;
	}
	pthread_mutex_lock(&r->mu);
	pl->bytes += b->size;
	pthread_mutex_unlock(&r->mu);
	struct image_remote_event ev = { .kind = IMAGE_EV_BLOB_DONE, .digest = b->digest,
	                                 .done = b->size, .total = b->size, .how = "downloaded" };
	reg_event(r, &ev);
	ret = 0;
out:
	close(fd);
	if (ret < 0)
		unlinkat(pl->dfd, part, 0);
	reg_resp_free(&p);
	return ret;
}

/* The SBOM artifact (IMAGE_SBOM_MEDIA_TYPE) whose subject is the manifest
 * mdig, found by the referrers API or tag (registry_referrers.c): *art is
 * NULL when there is none.  One that is listed but does not say it is an
 * SBOM of this manifest is refused. */
static int get_sbom(struct reg *r, CURL *h, const char *mdig, char **art, size_t *alen,
                    char adig[ROOTFS_DIGEST_LEN], struct mb_err *err)
{
	char *amt = NULL, got[ROOTFS_DIGEST_LEN];
	*art = NULL;
	int f = reg_referrers_find(r, h, mdig, IMAGE_SBOM_MEDIA_TYPE, adig, err);
	if (f <= 0)
		return f;
	if (get_manifest(r, h, adig, adig, art, alen, &amt, got, err) < 0)
		return -1;
	free(amt);
	json_error_t je;
	json_t *j = json_loadb(*art, *alen, 0, &je);
	const char *sub = json_string_value(json_object_get(json_object_get(j, "subject"), "digest"));
	const char *at = json_string_value(json_object_get(j, "artifactType"));
	int ok = sub && !strcmp(sub, mdig) && at && !strcmp(at, IMAGE_SBOM_MEDIA_TYPE);
	json_decref(j);
	if (!ok) {
		mb_error(err, 0, "registry %s: the SBOM %s listed as a referrer of %s:%s is not one of "
		         "its manifest %s", r->ref.domain, adig, r->ref.repo,
		         r->ref.tag ? r->ref.tag : "", mdig);
		free(*art);
		*art = NULL;
		return -1;
	}
	return 0;
}

/* The SBOM artifact's blobs (its empty config, the document) join the
 * image's, each once. */
static int add_blobs(struct reg *r, const char *art, size_t alen, const char *adig,
                     struct pull *pl, struct mb_err *err)
{
	struct reg_blob *ab = NULL;
	size_t na = 0;
	if (reg_manifest_blobs(art, alen, r->ref.domain, adig, IMG_MT_MANIFEST, &ab, &na, err) < 0)
		return -1;
	struct reg_blob *nb = realloc(pl->b, (pl->nb + na) * sizeof(*nb));
	if (!nb) {
		free(ab);
		return mb_error(err, 0, "out of memory");
	}
	pl->b = nb;
	for (size_t i = 0; i < na; i++) {
		bool dup = false;
		for (size_t k = 0; k < pl->nb && !dup; k++)
			dup = !strcmp(pl->b[k].digest, ab[i].digest);
		if (!dup)
			pl->b[pl->nb++] = ab[i];
	}
	free(ab);
	return 0;
}

int image_pull(const char *ref, const char *platform, enum image_format fmt, const char *out,
               const struct image_remote_opts *o, struct image_pull_result *res, struct mb_err *err)
{
	struct reg r;
	struct pull pl = { .dfd = -1 };
	struct reg_out w = { .dfd = -1, .pdfd = -1 };
	char *man = NULL, *mt = NULL, *full = NULL, *art = NULL;
	size_t mlen = 0, alen = 0;
	char mdig[ROOTFS_DIGEST_LEN], adig[ROOTFS_DIGEST_LEN];
	int ret = -1;
	bool opened = false;

	memset(res, 0, sizeof(*res));
	opened = true;
	if (reg_open(&r, ref, o, false, NULL, err) < 0)
		goto out;
	CURL *h = curl_easy_init();
	if (!h) {
		mb_error(err, 0, "cannot start libcurl");
		goto out;
	}
	int g = get_manifest(&r, h, r.ref.digest ? r.ref.digest : r.ref.tag, r.ref.digest, &man,
	                     &mlen, &mt, mdig, err);
	if (g == 0 && (!strcmp(mt, IMG_MT_INDEX) || !strcmp(mt, REG_MT_DOCKER_LIST))) {
		json_error_t je;
		json_t *idx = json_loadb(man, mlen, 0, &je);
		char child[ROOTFS_DIGEST_LEN];
		g = reg_pick_platform(idx, platform, child, err);
		json_decref(idx);
		free(man);
		free(mt);
		man = mt = NULL;
		if (g == 0)
			g = get_manifest(&r, h, child, child, &man, &mlen, &mt, mdig, err);
	}
	/* the image's SBOM, when a referrer lists one, comes with it */
	if (g == 0)
		g = get_sbom(&r, h, mdig, &art, &alen, adig, err);
	curl_easy_cleanup(h);
	if (g < 0)
		goto out;
	if (reg_manifest_blobs(man, mlen, r.ref.domain, mdig, mt, &pl.b, &pl.nb, err) < 0 ||
	    (art && add_blobs(&r, art, alen, adig, &pl, err) < 0))
		goto out;

	if (reg_out_begin(out, &w, err) < 0)
		goto out;
	pl.dfd = w.dfd;
	if (reg_parallel(&r, pl.nb, o && o->parallel ? o->parallel : 3, get_blob, &pl, err) < 0)
		goto out;
	if (art) {
		char an[100];
		snprintf(an, sizeof(an), "blobs/sha256/%s", adig + 7);
		if (reg_put_file(w.dfd, an, art, alen) < 0 && errno != EEXIST) {
			mb_error(err, errno, "cannot write `%s`", an);
			goto out;
		}
		snprintf(w.sbom, sizeof(w.sbom), "%s", adig);
	}

	if (asprintf(&full, "%s/%s:%s", r.ref.domain, r.ref.repo, r.ref.tag ? r.ref.tag : "latest") < 0) {
		full = NULL;
		goto nomem;
	}
	if (reg_out_finish(&w, fmt, mdig, mt, man, mlen, o ? o->pull_name : NULL, full, err) < 0)
		goto out;
	snprintf(res->digest, sizeof(res->digest), "%s", mdig);
	res->blobs = pl.nb;
	res->bytes = pl.bytes;
	ret = 0;
	goto out;
nomem:
	mb_error(err, 0, "cannot pull `%s`: out of memory", ref);
out:
	reg_out_abort(&w);
	if (opened)
		reg_close(&r);
	free(pl.b);
	free(man);
	free(mt);
	free(full);
	free(art);
	return ret;
}

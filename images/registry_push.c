/* images registry_push: an image written before (archive or layout) to a
 * registry, following the OCI distribution spec's push flow:
 *
 *   1. every blob (configs and layers, each once): HEAD, and skip it when
 *      the registry has it; else mount it from another repository of the
 *      same registry that our own record says holds it (POST ?mount=&from=,
 *      201), else upload it: POST a session, then one PUT ?digest= with the
 *      body, or for a blob above the chunk size PATCH chunks with
 *      Content-Range and an empty closing PUT.  Bodies are read from the
 *      file region, never loaded.  Up to three blobs at once.  A failed
 *      upload is started again from the POST while the deadline allows.
 *   2. the manifests last, children of an index first, the top one under
 *      the tag: a push that fails before leaves no tag, and a tag never
 *      names a manifest whose blobs are missing.
 * The manifest bytes are the ones in the image, so the digest pushed is the
 * digest of the tar. */
#include "registry_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_DEFAULT (16u << 20)
#define RECORD_FILE "registry-blobs"
#define RECORD_MAX (4u << 20)

struct pblob {
	char digest[ROOTFS_DIGEST_LEN];
	uint64_t size;
	char *mount_from;
	const char *how;
	uint64_t last_event;
};

struct pman {
	char digest[ROOTFS_DIGEST_LEN];
	char *mt;
	char *data;
	size_t len;
};

struct push {
	struct reg_src src;
	struct pblob *b;
	size_t nb;
	struct pman *m;
	size_t nm;
	const struct image_remote_opts *o;
	json_t *refs;            /* descriptors of referrers (SBOM...) of the top manifest */
	uint64_t chunk;
	uint64_t uploaded;
};

static void push_free(struct push *p)
{
	for (size_t i = 0; i < p->nb; i++)
		free(p->b[i].mount_from);
	for (size_t i = 0; i < p->nm; i++) {
		free(p->m[i].mt);
		free(p->m[i].data);
	}
	free(p->b);
	free(p->m);
	json_decref(p->refs);
	reg_src_close(&p->src);
}

/* ---- our record of pushed blobs (cross-repository mounts) --------------- */

static char *read_record(const char *cache_dir, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/" RECORD_FILE, cache_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *buf = NULL;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= RECORD_MAX &&
	    (buf = malloc((size_t)st.st_size + 1))) {
		ssize_t r = read(fd, buf, (size_t)st.st_size);
		if (r < 0) {
			free(buf);
			buf = NULL;
		} else {
			buf[r] = '\0';
			*len = (size_t)r;
		}
	}
	close(fd);
	return buf;
}

char *reg_mount_source(const char *cache_dir, const char *domain, const char *repo,
                       const char *digest)
{
	size_t len = 0;
	char *buf = cache_dir ? read_record(cache_dir, &len) : NULL, *found = NULL;
	if (!buf)
		return NULL;
	for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char d[300], rp[300], dg[80];
		if (sscanf(line, "%299s %299s %79s", d, rp, dg) == 3 && !strcmp(d, domain) &&
		    !strcmp(dg, digest) && strcmp(rp, repo)) {
			free(found);
			found = strdup(rp);
		}
	}
	free(buf);
	return found;
}

void reg_mount_record(const char *cache_dir, const char *domain, const char *repo,
                      char (*digests)[ROOTFS_DIGEST_LEN], size_t n)
{
	char path[4096], line[700];
	size_t len = 0;
	if (!cache_dir || strpbrk(domain, " \n") || strpbrk(repo, " \n"))
		return;
	char *old = read_record(cache_dir, &len);
	snprintf(path, sizeof(path), "%s/" RECORD_FILE, cache_dir);
	/* a record grown past its bound starts again: it is only a hint */
	int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
	struct stat st;
	if (stat(path, &st) == 0 && st.st_size > RECORD_MAX / 2)
		flags |= O_TRUNC;
	int fd = open(path, flags, 0600);
	if (fd >= 0) {
		for (size_t i = 0; i < n; i++) {
			int l = snprintf(line, sizeof(line), "%s %s %s\n", domain, repo, digests[i]);
			if (old && !(flags & O_TRUNC) && strstr(old, line))
				continue;
			if (write(fd, line, (size_t)l) != l)
				break;
		}
		close(fd);
	}
	free(old);
}

/* ---- what the image holds ----------------------------------------------- */

static int add_blob(struct push *p, const char *digest, json_int_t size, struct mb_err *err)
{
	if (!reg_digest_ok(digest) || size < 0)
		return mb_error(err, 0, "invalid blob descriptor in `%s`", p->src.path);
	for (size_t i = 0; i < p->nb; i++)
		if (!strcmp(p->b[i].digest, digest))
			return 0;
	struct pblob *nb = realloc(p->b, (p->nb + 1) * sizeof(*nb));
	if (!nb)
		return mb_error(err, 0, "out of memory");
	p->b = nb;
	memset(&nb[p->nb], 0, sizeof(*nb));
	snprintf(nb[p->nb].digest, ROOTFS_DIGEST_LEN, "%s", digest);
	nb[p->nb].size = (uint64_t)size;
	p->nb++;
	return 0;
}

static bool is_index(const char *mt)
{
	return mt && (!strcmp(mt, IMG_MT_INDEX) || !strcmp(mt, REG_MT_DOCKER_LIST));
}

/* The manifest at digest and everything it names; children first. */
static int add_manifest(struct push *p, const char *digest, const char *desc_mt, int depth,
                        struct mb_err *err)
{
	char *data = NULL;
	size_t len;
	json_error_t je;
	json_t *j = NULL;
	int ret = -1;

	if (depth > 2)
		return mb_error(err, 0, "`%s`: indexes nested too deep", p->src.path);
	for (size_t i = 0; i < p->nm; i++)
		if (!strcmp(p->m[i].digest, digest))
			return 0;
	if (reg_src_read_blob(&p->src, digest, REG_MANIFEST_MAX, &data, &len, err) < 0)
		return -1;
	if (!(j = json_loadb(data, len, 0, &je)) || !json_is_object(j)) {
		mb_error(err, 0, "invalid manifest %s in `%s`: %s", digest, p->src.path, j ? "not an object" : je.text);
		goto out;
	}
	const char *mt = json_string_value(json_object_get(j, "mediaType"));
	if (!mt)
		mt = desc_mt;
	if (!mt) {
		mb_error(err, 0, "manifest %s in `%s` has no media type", digest, p->src.path);
		goto out;
	}
	if (is_index(mt)) {
		size_t i;
		json_t *d;
		json_array_foreach(json_object_get(j, "manifests"), i, d) {
			const char *cd = json_string_value(json_object_get(d, "digest"));
			const char *cmt = json_string_value(json_object_get(d, "mediaType"));
			if (!cd || add_manifest(p, cd, cmt, depth + 1, err) < 0) {
				if (!cd)
					mb_error(err, 0, "invalid index %s in `%s`: a manifest without a digest",
					         digest, p->src.path);
				goto out;
			}
		}
	} else {
		json_t *c = json_object_get(j, "config"), *l;
		size_t i;
		if (!json_is_object(c) ||
		    add_blob(p, json_string_value(json_object_get(c, "digest")) ?: "",
		             json_integer_value(json_object_get(c, "size")), err) < 0)
			goto out;
		json_array_foreach(json_object_get(j, "layers"), i, l)
			if (add_blob(p, json_string_value(json_object_get(l, "digest")) ?: "",
			             json_integer_value(json_object_get(l, "size")), err) < 0)
				goto out;
	}
	struct pman *nm = realloc(p->m, (p->nm + 1) * sizeof(*nm));
	if (!nm)
		goto nomem;
	p->m = nm;
	snprintf(nm[p->nm].digest, ROOTFS_DIGEST_LEN, "%s", digest);
	if (!(nm[p->nm].mt = strdup(mt)))
		goto nomem;
	nm[p->nm].data = data;
	nm[p->nm].len = len;
	data = NULL;
	p->nm++;
	ret = 0;
	goto out;
nomem:
	mb_error(err, 0, "out of memory");
out:
	json_decref(j);
	free(data);
	return ret;
}

/* The SBOM artifacts minbase writes are not in index.json (a second entry
 * there makes `skopeo copy oci:DIR` ask for a reference) but named by an
 * annotation on the image's descriptor (images.h): their descriptors join
 * the index.json entries add_referrers looks through. */
static int add_annotated(struct push *p, json_t *desc, json_t *ms, struct mb_err *err)
{
	const char *d = json_string_value(json_object_get(json_object_get(desc, "annotations"),
	                                                  IMAGE_SBOM_ANNOTATION));
	char *data = NULL;
	size_t len;
	json_error_t je;
	if (!d)
		return 0;
	if (!reg_digest_ok(d) || reg_src_read_blob(&p->src, d, REG_MANIFEST_MAX, &data, &len, err) < 0) {
		mb_error(err, 0, "`%s`: the %s annotation names no manifest in the image", p->src.path,
		         IMAGE_SBOM_ANNOTATION);
		free(data);
		return -1;
	}
	json_t *j = json_loadb(data, len, 0, &je);
	free(data);
	json_t *nd = json_pack("{s:s, s:s, s:I}", "mediaType", IMG_MT_MANIFEST, "digest", d,
	                       "size", (json_int_t)len);
	json_t *at = json_object_get(j, "artifactType");
	if (nd && at)
		json_object_set(nd, "artifactType", at);
	json_decref(j);
	if (!nd || json_array_append_new(ms, nd) < 0)
		return mb_error(err, 0, "out of memory");
	return 0;
}

/* The subject of the manifest a descriptor names (an OCI 1.1 referrer,
 * such as our SBOM artifact), or NULL. */
static char *subject_of(struct push *p, json_t *d)
{
	const char *dg = json_string_value(json_object_get(d, "digest"));
	const char *mt = json_string_value(json_object_get(d, "mediaType"));
	char *data = NULL, *out = NULL;
	struct mb_err e = {0};
	size_t len;
	json_error_t je;

	if (!dg || is_index(mt) || reg_src_read_blob(&p->src, dg, REG_MANIFEST_MAX, &data, &len, &e) < 0)
		return NULL;
	json_t *j = json_loadb(data, len, 0, &je);
	const char *sd = json_string_value(json_object_get(json_object_get(j, "subject"), "digest"));
	if (sd)
		out = strdup(sd);
	json_decref(j);
	free(data);
	return out;
}

/* Referrers of the manifests picked (index.json entries whose subject is
 * one of them) go with them, pushed before the tag; the top manifest is
 * moved back to the end (the one pushed last, under the tag). */
static int add_referrers(struct push *p, json_t *ms, struct mb_err *err)
{
	size_t i, top = p->nm - 1;
	json_t *d;

	json_array_foreach(ms, i, d) {
		char *sd = subject_of(p, d);
		bool ours = false;
		for (size_t k = 0; sd && k <= top; k++)
			ours |= !strcmp(p->m[k].digest, sd);
		free(sd);
		if (!ours)
			continue;
		const char *dg = json_string_value(json_object_get(d, "digest"));
		if (add_manifest(p, dg, json_string_value(json_object_get(d, "mediaType")), 1, err) < 0)
			return -1;
		if (!p->refs && !(p->refs = json_array()))
			return -1;
		json_t *copy = json_pack("{s:s, s:s, s:I}", "mediaType",
		                         json_string_value(json_object_get(d, "mediaType")) ?: IMG_MT_MANIFEST,
		                         "digest", dg, "size", json_integer_value(json_object_get(d, "size")));
		json_t *at = json_object_get(d, "artifactType");
		if (at)
			json_object_set(copy, "artifactType", at);
		json_array_append_new(p->refs, copy);
	}
	struct pman t = p->m[top];
	memmove(&p->m[top], &p->m[top + 1], (p->nm - top - 1) * sizeof(t));
	p->m[p->nm - 1] = t;
	return 0;
}

/* The descriptor of index.json to push: the one named ref_name, or the
 * only one that is not a referrer of another. */
static int pick(struct push *p, const char *ref_name, struct mb_err *err)
{
	char *idx_s = NULL;
	size_t len;
	json_error_t je;
	int ret = -1;

	if (reg_src_read(&p->src, "index.json", REG_MANIFEST_MAX, &idx_s, &len, err) < 0)
		return mb_wrap(err, "`%s` is not an OCI image layout or archive", p->src.path);
	json_t *idx = json_loadb(idx_s, len, 0, &je), *ms = json_object_get(idx, "manifests"), *d;
	json_t *chosen = NULL, *only = NULL;
	size_t i, n = 0;
	char names[300] = "";
	json_array_foreach(ms, i, d) {
		char *sd = subject_of(p, d);
		bool referrer = sd != NULL;
		free(sd);
		if (referrer)
			continue;
		n++;
		only = d;
		json_t *ann = json_object_get(d, "annotations");
		const char *rn = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
		const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
		if (ref_name && ((rn && !strcmp(rn, ref_name)) || (full && !strcmp(full, ref_name))))
			chosen = d;
		size_t l = strlen(names);
		snprintf(names + l, sizeof(names) - l, "%s%s", l ? ", " : "", rn ? rn : "(unnamed)");
	}
	if (!ref_name && n == 1)
		chosen = only;
	if (!chosen) {
		if (!idx)
			mb_error(err, 0, "invalid index.json in `%s`: %s", p->src.path, je.text);
		else if (!n)
			mb_error(err, 0, "`%s` holds no image (index.json lists no manifest)", p->src.path);
		else if (ref_name)
			mb_error(err, 0, "`%s` has no reference `%s` (it has: %s)", p->src.path, ref_name, names);
		else
			mb_error(err, 0, "`%s` holds %zu images (%s): pick one with --ref NAME", p->src.path,
			         n, names);
		goto out;
	}
	const char *dg = json_string_value(json_object_get(chosen, "digest"));
	if (!dg) {
		mb_error(err, 0, "invalid index.json in `%s`: a manifest without a digest", p->src.path);
		goto out;
	}
	ret = add_manifest(p, dg, json_string_value(json_object_get(chosen, "mediaType")), 0, err);
	json_t *all = ret == 0 ? json_copy(ms) : NULL;
	if (ret == 0 && !all)
		ret = mb_error(err, 0, "out of memory");
	if (ret == 0)
		ret = add_annotated(p, chosen, all, err);
	/* of a multi-platform image: the SBOM of each platform's manifest */
	json_t *sub = NULL;
	if (ret == 0 && is_index(json_string_value(json_object_get(chosen, "mediaType")))) {
		char *ix = NULL;
		size_t il;
		json_error_t ie;
		if (reg_src_read_blob(&p->src, dg, REG_MANIFEST_MAX, &ix, &il, err) < 0)
			ret = -1;
		else if ((sub = json_loadb(ix, il, 0, &ie))) {
			json_t *cd;
			size_t k;
			json_array_foreach(json_object_get(sub, "manifests"), k, cd)
				if (ret == 0)
					ret = add_annotated(p, cd, all, err);
		}
		free(ix);
	}
	json_decref(sub);
	if (ret == 0)
		ret = add_referrers(p, all, err);
	json_decref(all);
out:
	json_decref(idx);
	free(idx_s);
	return ret;
}

/* ---- one blob ----------------------------------------------------------- */

struct blob_prog {
	struct reg *r;
	struct pblob *b;
	uint64_t base;
};

static void on_blob_progress(void *ctx, uint64_t now)
{
	struct blob_prog *bp = ctx;
	uint64_t done = bp->base + now;
	/* an event per MiB at most: the caller decides what to print */
	if (done - bp->b->last_event < (1u << 20) && done != bp->b->size)
		return;
	bp->b->last_event = done;
	struct image_remote_event ev = { .kind = IMAGE_EV_BLOB_PROGRESS, .digest = bp->b->digest,
	                                 .done = done, .total = bp->b->size };
	reg_event(bp->r, &ev);
}

/* location + ?digest= (or &digest=) */
static char *with_digest(CURL *h, const char *loc, const char *digest)
{
	char *enc = curl_easy_escape(h, digest, 0), *s = NULL;
	if (enc && asprintf(&s, "%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?", enc) < 0)
		s = NULL;
	curl_free(enc);
	return s;
}

/* The rest of an upload from byte *done: PATCH chunks, each at the Location
 * the last one gave (a blob above the chunk size, or one the registry holds
 * part of), then the PUT that closes it.  1 done, 0 interrupted (ask the
 * session where it is), -1 error. */
static int send_rest(struct reg *r, CURL *h, struct push *p, struct pblob *b, int fd,
                     uint64_t off, char **loc, uint64_t *done, struct mb_err *err)
{
	char what[160], range[64], *url = NULL;
	struct reg_resp s = { 0 };
	struct blob_prog bp = { r, b, 0 };
	struct reg_req q = { .body_fd = fd, .out_fd = -1, .progress = on_blob_progress,
	                     .progress_ctx = &bp, .content_type = "application/octet-stream" };
	int ret = -1;

	snprintf(what, sizeof(what), "upload of blob %.19s", b->digest);
	if (b->size > p->chunk || *done > 0) {
		while (*done < b->size) {
			uint64_t n = b->size - *done < p->chunk ? b->size - *done : p->chunk;
			snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)*done,
			         (unsigned long long)(*done + n - 1));
			q.method = "PATCH";
			q.url = *loc;
			q.content_range = range;
			q.body_off = off + *done;
			q.body_size = n;
			bp.base = *done;
			if (reg_do(r, h, &q, &s, err) < 0) {
				ret = r->cancel ? -1 : 0;
				goto out;
			}
			if (s.status != 202 || !s.location) {
				if (s.status == 429 || s.status >= 500 || s.status == 404 || s.status == 416)
					ret = 0;
				else
					reg_http_error(r, what, &s, err);
				goto out;
			}
			free(*loc);
			*loc = s.location;
			s.location = NULL;
			*done += n;
		}
		q.body_fd = -1;
		q.body_size = 0;
		q.content_range = NULL;
		q.progress = NULL;
	} else {
		q.body_off = off;
		q.body_size = b->size;
	}
	if (!(url = with_digest(h, *loc, b->digest))) {
		mb_error(err, 0, "out of memory");
		goto out;
	}
	q.method = "PUT";
	q.url = url;
	if (reg_do(r, h, &q, &s, err) < 0) {
		ret = r->cancel ? -1 : 0;
		goto out;
	}
	if (s.status == 201 || s.status == 204) {
		b->how = "uploaded";
		pthread_mutex_lock(&r->mu);
		p->uploaded += b->size;
		pthread_mutex_unlock(&r->mu);
		ret = 1;
	} else if (s.status == 429 || s.status >= 500 || s.status == 404) {
		ret = 0;
	} else {
		reg_http_error(r, what, &s, err);
	}
out:
	reg_resp_free(&s);
	free(url);
	return ret;
}

/* Where an interrupted upload session is (GET of its Location: 204 with
 * Range 0-N): 1 with *done and *loc updated, 0 when the session is gone
 * (start again), -1 error. */
static int upload_status(struct reg *r, CURL *h, const struct pblob *b, char **loc,
                         uint64_t *done, struct mb_err *err)
{
	struct reg_resp s = { 0 };
	struct reg_req q = { .method = "GET", .url = *loc, .body_fd = -1, .out_fd = -1,
	                     .idempotent = true };
	int ret = 0;

	if (reg_do(r, h, &q, &s, err) < 0) {
		ret = r->cancel ? -1 : 0;
		goto out;
	}
	if (s.status != 204 || s.range_end < -1 || (uint64_t)(s.range_end + 1) > b->size)
		goto out;
	/* distribution says "0-0" for an empty session as for one byte; we only
	 * ever stop at 0 or past a chunk, so 0-0 is nothing yet */
	*done = s.range_end <= 0 ? 0 : (uint64_t)(s.range_end + 1);
	if (s.location) {
		free(*loc);
		*loc = s.location;
		s.location = NULL;
	}
	ret = 1;
out:
	reg_resp_free(&s);
	return ret;
}

/* One upload session: 1 done, 0 retry from the start, -1 error.  A chunk
 * or the closing PUT that fails (5xx, a reset, a stall) is not the end of
 * the session: the registry is asked what it has and the upload goes on
 * from there, so that a registry failing every few requests still takes a
 * blob of many chunks. */
static int upload_once(struct reg *r, CURL *h, struct push *p, struct pblob *b, int fd,
                       uint64_t off, struct mb_err *err)
{
	char path[600], what[160];
	struct reg_resp s = { 0 };
	struct reg_req q = { .method = "POST", .url = path, .body_fd = -1, .out_fd = -1 };
	char *loc = NULL;
	int ret = -1;

	if (b->mount_from) {
		char *mf = curl_easy_escape(h, b->mount_from, 0), *dg = curl_easy_escape(h, b->digest, 0);
		snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/?mount=%s&from=%s", r->ref.repo,
		         dg ? dg : "", mf ? mf : "");
		curl_free(mf);
		curl_free(dg);
	} else {
		snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", r->ref.repo);
	}
	snprintf(what, sizeof(what), "upload of blob %.19s", b->digest);
	if (reg_do(r, h, &q, &s, err) < 0)
		return r->cancel ? -1 : 0;
	if (b->mount_from && s.status == 201) {
		b->how = "mounted";
		ret = 1;
		goto out;
	}
	if (s.status == 429 || s.status >= 500) {
		ret = 0;
		goto out;
	}
	if (s.status != 202 || !s.location) {
		reg_http_error(r, what, &s, err);
		goto out;
	}
	loc = s.location;
	s.location = NULL;
	uint64_t done = 0;
	for (int attempt = 0;; attempt++) {
		ret = send_rest(r, h, p, b, fd, off, &loc, &done, err);
		if (ret != 0 || !reg_backoff(r, attempt, 0))
			goto out;
		ret = upload_status(r, h, b, &loc, &done, err);
		if (ret <= 0)
			goto out;
		char m[96];
		snprintf(m, sizeof(m), "upload interrupted, going on at byte %llu",
		         (unsigned long long)done);
		struct image_remote_event ev = { .kind = IMAGE_EV_RETRY, .digest = b->digest, .msg = m };
		reg_event(r, &ev);
		err->msg[0] = '\0';
	}
out:
	reg_resp_free(&s);
	free(loc);
	return ret;
}

static int push_blob(struct reg *r, CURL *h, void *ctx, size_t i, struct mb_err *err)
{
	struct push *p = ctx;
	struct pblob *b = &p->b[i];
	char path[600], what[160];
	struct reg_resp s = { 0 };
	int fd = -1, ret = -1;
	uint64_t off, size;

	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", r->ref.repo, b->digest);
	snprintf(what, sizeof(what), "HEAD blob %.19s", b->digest);
	struct reg_req q = { .method = "HEAD", .url = path, .body_fd = -1, .out_fd = -1,
	                     .idempotent = true };
	if (reg_do(r, h, &q, &s, err) < 0)
		return -1;
	if (s.status == 200) {
		b->how = "exists";
		ret = 0;
		goto done;
	}
	if (s.status != 404) {
		reg_http_error(r, what, &s, err);
		goto out;
	}
	if (reg_src_blob(&p->src, b->digest, &fd, &off, &size, err) < 0)
		goto out;
	if (size != b->size) {
		mb_error(err, 0, "blob %s in `%s` is %llu bytes, its descriptor says %llu", b->digest,
		         p->src.path, (unsigned long long)size, (unsigned long long)b->size);
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		int u = upload_once(r, h, p, b, fd, off, err);
		if (u > 0)
			break;
		if (u < 0)
			goto out;
		/* a mount the registry turned into an upload is not tried again */
		free(b->mount_from);
		b->mount_from = NULL;
		if (!reg_backoff(r, attempt, 0)) {
			if (!err->msg[0])
				mb_error(err, 0, "the registry kept failing");
			mb_wrap(err, "registry %s: upload of blob %.19s failed %d times, until the retry "
			        "time ran out (--retry-time)", r->ref.domain, b->digest, attempt + 1);
			goto out;
		}
		struct image_remote_event ev = { .kind = IMAGE_EV_RETRY, .digest = b->digest,
		                                 .msg = "upload failed, starting it again" };
		reg_event(r, &ev);
		err->msg[0] = '\0';
	}
	ret = 0;
done: {
	struct image_remote_event ev = { .kind = IMAGE_EV_BLOB_DONE, .digest = b->digest,
	                                 .done = b->size, .total = b->size, .how = b->how };
	reg_event(r, &ev);
}
out:
	if (fd >= 0)
		close(fd);
	reg_resp_free(&s);
	return ret;
}

/* ---- manifests ---------------------------------------------------------- */

static int put_manifest(struct reg *r, struct pman *m, const char *ref, struct mb_err *err)
{
	char path[600], what[200];
	struct reg_resp s = { 0 };
	CURL *h = curl_easy_init();
	int ret = -1;

	if (!h)
		return mb_error(err, 0, "cannot start libcurl");
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", r->ref.repo, ref);
	snprintf(what, sizeof(what), "PUT manifest %s:%s", r->ref.repo, ref);
	/* a PUT of the same bytes to the same name is idempotent */
	struct reg_req q = { .method = "PUT", .url = path, .content_type = m->mt, .body = m->data,
	                     .body_len = m->len, .body_fd = -1, .out_fd = -1, .idempotent = true };
	if (reg_do(r, h, &q, &s, err) < 0)
		goto out;
	if (s.status != 201 && s.status != 200) {
		reg_http_error(r, what, &s, err);
		goto out;
	}
	if (s.digest && strcmp(s.digest, m->digest)) {
		mb_error(err, 0, "registry %s: stored manifest %s as %s: it changed the bytes", r->ref.domain,
		         m->digest, s.digest);
		goto out;
	}
	ret = 0;
out:
	reg_resp_free(&s);
	curl_easy_cleanup(h);
	return ret;
}

/* Does tag name digest already?  Any doubt (an error, no digest header)
 * is a no: then the full push runs. */
static bool tag_is(struct reg *r, const char *tag, const char *digest)
{
	char path[600];
	struct mb_err err = {0};
	struct reg_resp s = { 0 };
	CURL *h = curl_easy_init();
	bool yes = false;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", r->ref.repo, tag);
	struct reg_req q = { .method = "HEAD", .url = path, .body_fd = -1, .out_fd = -1,
	                     .accept = IMG_MT_MANIFEST ", " IMG_MT_INDEX ", " REG_MT_DOCKER_MANIFEST
	                               ", " REG_MT_DOCKER_LIST, .idempotent = true };
	if (h && reg_do(r, h, &q, &s, &err) == 0 && s.status == 200 && s.digest)
		yes = !strcmp(s.digest, digest);
	reg_resp_free(&s);
	if (h)
		curl_easy_cleanup(h);
	return yes;
}

struct tag_check {
	struct reg *r;
	const char *digest;
	pthread_t t;
	bool same;
};

static void *tag_thread(void *arg)
{
	struct tag_check *tc = arg;
	tc->same = tag_is(tc->r, tc->r->ref.tag, tc->digest);
	return NULL;
}

int image_push(const char *path, const char *ref_name, const char *ref,
               const struct image_remote_opts *o, struct image_push_result *res, struct mb_err *err)
{
	struct push p = { .o = o };
	struct reg r;
	struct reg_ref pr;
	char *extra = NULL;
	bool opened = false;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	if (reg_ref_parse(ref, &pr, err) < 0)
		return -1;
	p.chunk = o && o->chunk_size ? o->chunk_size : CHUNK_DEFAULT;
	if (reg_src_open(path, &p.src, err) < 0 || pick(&p, ref_name, err) < 0)
		goto out;
	/* Mount sources go into the token's scope up front (pull on each). */
	for (size_t i = 0; i < p.nb; i++) {
		p.b[i].mount_from = reg_mount_source(o ? o->cache_dir : NULL, pr.domain, pr.repo,
		                                     p.b[i].digest);
		if (p.b[i].mount_from) {
			char sc[400], *ne;
			snprintf(sc, sizeof(sc), "repository:%s:pull", p.b[i].mount_from);
			if (extra && strstr(extra, sc))
				continue;
			if (asprintf(&ne, "%s%s%s", extra ? extra : "", extra ? " " : "", sc) < 0)
				goto out;
			free(extra);
			extra = ne;
		}
	}
	opened = true;
	if (reg_open(&r, ref, o, true, extra, err) < 0)
		goto out;
	/* Beside the blobs, a HEAD of the tag: when every blob was there and
	 * the tag already names this very manifest (an unchanged re-push), the
	 * PUT, which makes the registry check every blob again, is not needed.
	 * In its own thread, so that it costs no round trip of its own. */
	struct tag_check tc = { .r = &r, .digest = p.m[p.nm - 1].digest };
	bool tc_started = r.ref.tag && pthread_create(&tc.t, NULL, tag_thread, &tc) == 0;
	int par = reg_parallel(&r, p.nb, o && o->parallel ? o->parallel : 3, push_blob, &p, err);
	if (tc_started)
		pthread_join(tc.t, NULL);
	if (par < 0)
		goto out;
	bool all_there = true;
	for (size_t i = 0; i < p.nb; i++)
		all_there &= p.b[i].how && !strcmp(p.b[i].how, "exists");
	if (all_there && tc.same)
		goto pushed;
	for (size_t i = 0; i < p.nm; i++) {
		bool top = i + 1 == p.nm;
		const char *at = top ? (r.ref.tag ? r.ref.tag : r.ref.digest) : p.m[i].digest;
		if (top && r.ref.digest && strcmp(r.ref.digest, p.m[i].digest)) {
			mb_error(err, 0, "cannot push to `%s`: the image's manifest is %s, not the digest "
			         "the reference names", ref, p.m[i].digest);
			goto out;
		}
		/* Referrers (the SBOM) are findable from their subject before the
		 * tag names it: through the referrers API where the registry has
		 * it, else the OCI 1.1 fallback tag sha256-<hex> that registries
		 * without it (distribution 2.8) are read by (registry_referrers.c,
		 * which keeps what that tag lists already). */
		for (size_t k = 0; top && k < json_array_size(p.refs); k++) {
			const char *rd = json_string_value(json_object_get(json_array_get(p.refs, k),
			                                                   "digest"));
			for (size_t m = 0; rd && m < p.nm; m++)
				if (!strcmp(p.m[m].digest, rd) &&
				    reg_referrers_attach(&r, rd, p.m[m].data, p.m[m].len, err) < 0)
					goto out;
		}
		if (put_manifest(&r, &p.m[i], at, err) < 0)
			goto out;
	}
pushed:
	snprintf(res->digest, sizeof(res->digest), "%s", p.m[p.nm - 1].digest);
	res->blobs = p.nb;
	char (*dg)[ROOTFS_DIGEST_LEN] = calloc(p.nb ? p.nb : 1, sizeof(*dg));
	for (size_t i = 0; i < p.nb; i++) {
		const char *how = p.b[i].how ? p.b[i].how : "";
		res->uploaded += !strcmp(how, "uploaded");
		res->present += !strcmp(how, "exists");
		res->mounted += !strcmp(how, "mounted");
		if (dg)
			memcpy(dg[i], p.b[i].digest, ROOTFS_DIGEST_LEN);
	}
	res->bytes_uploaded = p.uploaded;
	if (dg)
		reg_mount_record(o ? o->cache_dir : NULL, r.ref.domain, r.ref.repo, dg, p.nb);
	free(dg);
	ret = 0;
out:
	if (ret < 0 && err && !err->msg[0])
		mb_error(err, 0, "cannot push `%s`: out of memory", path);
	if (opened)
		reg_close(&r);
	reg_ref_free(&pr);
	free(extra);
	push_free(&p);
	return ret;
}

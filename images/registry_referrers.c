/* Referrers of a pushed image (the SBOM artifact), as the OCI distribution
 * spec 1.1 has a client make them findable:
 *
 *   - a registry with the referrers API (GET /v2/NAME/referrers/DIGEST
 *     answers with an image index) finds the artifact by its `subject`
 *     itself: nothing more to do;
 *   - one without it (distribution 2.8) gets the referrers tag schema: the
 *     tag `sha256-<hex of the subject>` names an image index listing the
 *     artifacts; we fetch what it lists already, add ours (once) and PUT it
 *     back, so that other tools' referrers stay listed.
 *
 * The artifact manifest itself is PUT by digest before this (registry_push.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "images_priv.h"
#include "registry_priv.h"

/* 200 with an image index: the registry has the referrers API. */
static bool has_referrers_api(struct reg *r, CURL *h, const char *subject)
{
	char path[600];
	struct mb_err err = {0};
	struct reg_resp s = { 0 };
	struct reg_req q = { .method = "GET", .url = path, .accept = IMG_MT_INDEX, .body_fd = -1,
	                     .out_fd = -1, .out_max = REG_MANIFEST_MAX, .idempotent = true };
	snprintf(path, sizeof(path), "/v2/%s/referrers/%s", r->ref.repo, subject);
	bool yes = reg_do(r, h, &q, &s, &err) == 0 && s.status == 200 && s.content_type &&
	           !strncmp(s.content_type, IMG_MT_INDEX, strlen(IMG_MT_INDEX));
	reg_resp_free(&s);
	return yes;
}

/* The index the referrers tag names now, or a new empty one. */
static json_t *tag_index(struct reg *r, CURL *h, const char *tag, struct mb_err *err)
{
	char path[600];
	struct reg_resp s = { 0 };
	struct reg_req q = { .method = "GET", .url = path, .accept = IMG_MT_INDEX, .body_fd = -1,
	                     .out_fd = -1, .out_max = REG_MANIFEST_MAX, .idempotent = true };
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", r->ref.repo, tag);
	if (reg_do(r, h, &q, &s, err) < 0)
		return NULL;
	json_t *j = NULL;
	if (s.status == 200) {
		json_error_t je;
		j = json_loadb(s.body ? s.body : "", s.len, 0, &je);
		if (!j || !json_is_array(json_object_get(j, "manifests"))) {
			mb_error(err, 0, "registry %s: the referrers tag %s:%s is not an image index; "
			         "delete it to let mkimage write it", r->ref.domain, r->ref.repo, tag);
			json_decref(j);
			reg_resp_free(&s);
			return NULL;
		}
	} else if (s.status == 404) {
		j = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", IMG_MT_INDEX,
		              "manifests");
	} else {
		reg_http_error(r, "GET referrers tag", &s, err);
	}
	reg_resp_free(&s);
	return j;
}

int reg_referrers_attach(struct reg *r, const char *digest, const char *artifact, size_t len,
                         struct mb_err *err)
{
	json_error_t je;
	json_t *a = json_loadb(artifact, len, 0, &je), *idx = NULL;
	char *body = NULL, tag[80], path[600];
	struct reg_resp s = { 0 };
	int ret = -1;
	CURL *h = curl_easy_init();

	const char *subject = json_string_value(json_object_get(json_object_get(a, "subject"),
	                                                        "digest"));
	const char *at = json_string_value(json_object_get(a, "artifactType"));
	if (!h || !reg_digest_ok(subject) || !at) {
		mb_error(err, 0, "artifact %s has no subject or artifactType", digest);
		goto out;
	}
	if (has_referrers_api(r, h, subject)) {
		ret = 0;
		goto out;
	}
	snprintf(tag, sizeof(tag), "sha256-%s", subject + 7);
	if (!(idx = tag_index(r, h, tag, err)))
		goto out;
	json_t *ms = json_object_get(idx, "manifests"), *d;
	size_t i;
	json_array_foreach(ms, i, d)
		if (!strcmp(json_string_value(json_object_get(d, "digest")) ?: "", digest)) {
			ret = 0; /* listed already */
			goto out;
		}
	json_t *desc = json_pack("{s:s, s:s, s:I, s:s}", "mediaType", IMG_MT_MANIFEST,
	                         "digest", digest, "size", (json_int_t)len, "artifactType", at);
	json_t *ann = json_object_get(a, "annotations");
	if (desc && json_is_object(ann))
		json_object_set(desc, "annotations", ann);
	if (!desc || json_array_append_new(ms, desc) < 0 ||
	    !(body = json_dumps(idx, JSON_SORT_KEYS | JSON_COMPACT))) {
		mb_error(err, 0, "out of memory");
		goto out;
	}
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", r->ref.repo, tag);
	struct reg_req q = { .method = "PUT", .url = path, .content_type = IMG_MT_INDEX,
	                     .body = body, .body_len = strlen(body), .body_fd = -1, .out_fd = -1,
	                     .idempotent = true };
	if (reg_do(r, h, &q, &s, err) < 0)
		goto out;
	if (s.status != 201 && s.status != 200) {
		reg_http_error(r, "PUT referrers tag", &s, err);
		goto out;
	}
	ret = 0;
out:
	reg_resp_free(&s);
	if (h)
		curl_easy_cleanup(h);
	json_decref(a);
	json_decref(idx);
	free(body);
	return ret;
}

/* The first of an index's manifests with that artifactType, 1 if found. */
static int pick_artifact(json_t *idx, const char *type, char out[ROOTFS_DIGEST_LEN])
{
	json_t *d;
	size_t i;
	json_array_foreach(json_object_get(idx, "manifests"), i, d) {
		const char *at = json_string_value(json_object_get(d, "artifactType"));
		const char *dg = json_string_value(json_object_get(d, "digest"));
		if (at && !strcmp(at, type) && reg_digest_ok(dg)) {
			snprintf(out, ROOTFS_DIGEST_LEN, "%s", dg);
			return 1;
		}
	}
	return 0;
}

int reg_referrers_find(struct reg *r, CURL *h, const char *subject, const char *type,
                       char out[ROOTFS_DIGEST_LEN], struct mb_err *err)
{
	char path[600];
	struct reg_resp s = { 0 };
	struct reg_req q = { .method = "GET", .url = path, .accept = IMG_MT_INDEX, .body_fd = -1,
	                     .out_fd = -1, .out_max = REG_MANIFEST_MAX, .idempotent = true };
	out[0] = '\0';
	/* the referrers API where the registry has it (an index, 200) */
	snprintf(path, sizeof(path), "/v2/%s/referrers/%s", r->ref.repo, subject);
	if (reg_do(r, h, &q, &s, err) < 0)
		return -1;
	if (s.status == 200 && s.content_type &&
	    !strncmp(s.content_type, IMG_MT_INDEX, strlen(IMG_MT_INDEX))) {
		json_error_t je;
		json_t *j = json_loadb(s.body ? s.body : "", s.len, 0, &je);
		int found = pick_artifact(j, type, out);
		json_decref(j);
		reg_resp_free(&s);
		return found;
	}
	reg_resp_free(&s);
	/* else the referrers tag schema; no tag, no referrers */
	char tag[80];
	snprintf(tag, sizeof(tag), "sha256-%s", subject + 7);
	json_t *idx = tag_index(r, h, tag, err);
	if (!idx)
		return -1;
	int found = pick_artifact(idx, type, out);
	json_decref(idx);
	return found;
}

/* images json: the OCI image config, manifest and index, and docker's
 * manifest.json, built with jansson (sorted keys, compact) so that the same
 * input always gives the same digests. */
#include "images_priv.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JSON_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

int img_sha256(const void *buf, size_t len, char out[ROOTFS_DIGEST_LEN])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -1;
	rootfs_hex(md, out);
	return 0;
}

/* distribution/reference: path components [a-z0-9]+ joined by . _ __ -;
 * an optional registry host[:port] first; tag [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
static bool name_ok(const char *n, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	size_t start = 0;
	const char *slash = memchr(n, '/', len);
	if (slash) {
		/* a first component with '.', ':' or "localhost" is a registry host */
		size_t hl = (size_t)(slash - n);
		bool host = (memchr(n, '.', hl) || memchr(n, ':', hl) || (hl == 9 && !memcmp(n, "localhost", 9)));
		if (host) {
			if (hl == 0)
				return false;
			for (size_t i = 0; i < hl; i++)
				if (!(n[i] >= 'a' && n[i] <= 'z') && !(n[i] >= 'A' && n[i] <= 'Z') &&
				    !(n[i] >= '0' && n[i] <= '9') && !strchr(".-:", n[i]))
					return false;
			start = hl + 1;
		}
	}
	if (start >= len)
		return false;
	char prev = '/';
	size_t run = 0; /* length of the separator run ending at prev */
	for (size_t i = start; i < len; i++) {
		char ch = n[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
		if (alnum) {
			prev = ch;
			run = 0;
			continue;
		}
		if (!strchr("._-/", ch))
			return false;
		/* separators only between alphanumerics: one `.` or `/`, one or two
		 * `_`, any number of `-` (the grammar's [_.]|__|[-]*) */
		if (prev == '/' || (prev != ch && strchr("._-/", prev)) || i + 1 == len)
			return false;
		if (ch == '/' && strchr("._-", prev))
			return false;
		run = prev == ch ? run + 1 : 1;
		if ((ch == '.' && run > 1) || (ch == '_' && run > 2))
			return false;
		prev = ch;
	}
	return true;
}

static bool tag_ok(const char *t)
{
	size_t len = strlen(t);

	if (len == 0 || len > 128 || t[0] == '.' || t[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = t[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '.' || ch == '-'))
			return false;
	}
	return true;
}

int img_parse_tag(const char *in, char **full, char **tag, struct mb_err *err)
{
	const char *slash, *colon;
	size_t nlen;

	*full = *tag = NULL;
	if (!in || !*in)
		return mb_error(err, 0, "invalid image tag: empty");
	if (strchr(in, '@'))
		return mb_error(err, 0, "invalid image tag `%s`: a digest reference (@sha256:...) cannot name an output; use NAME:TAG", in);
	slash = strrchr(in, '/');
	colon = strrchr(in, ':');
	if (colon && (!slash || colon > slash)) {
		nlen = (size_t)(colon - in);
		*tag = strdup(colon + 1);
	} else {
		nlen = strlen(in);
		*tag = strdup("latest");
	}
	if (!*tag)
		goto nomem;
	if (!name_ok(in, nlen)) {
		mb_error(err, 0, "invalid image name `%.*s`: use lowercase letters, digits and . _ - / "
		         "(e.g. registry:5000/team/app:1.0)", (int)nlen, in);
		goto fail;
	}
	if (!tag_ok(*tag)) {
		mb_error(err, 0, "invalid image tag `%s` in `%s`: up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -",
		         *tag, in);
		goto fail;
	}
	if (asprintf(full, "%.*s:%s", (int)nlen, in, *tag) < 0) {
		*full = NULL;
		goto nomem;
	}
	return 0;
nomem:
	mb_error(err, 0, "cannot parse image tag: out of memory");
fail:
	free(*tag);
	free(*full);
	*full = *tag = NULL;
	return -1;
}

int image_ref_check(const char *ref, struct mb_err *err)
{
	char *full, *tag;
	if (img_parse_tag(ref, &full, &tag, err) < 0)
		return -1;
	free(full);
	free(tag);
	return 0;
}

static json_t *strv(char **v)
{
	json_t *a = json_array();

	for (; a && v && *v; v++)
		if (json_array_append_new(a, json_string(*v)) < 0) {
			json_decref(a); /* not UTF-8 */
			return NULL;
		}
	return a;
}

/* "K=V" list -> object; a later key wins. */
static int kv_object(json_t *o, char **v, const char *what, struct mb_err *err)
{
	for (; v && *v; v++) {
		const char *eq = strchr(*v, '=');
		if (!eq || eq == *v)
			return mb_error(err, 0, "invalid %s `%s`: expected KEY=VALUE", what, *v);
		char *k = strndup(*v, (size_t)(eq - *v));
		json_t *s = json_string(eq + 1);
		if (!k || !s || json_object_set_new(o, k, s) < 0) {
			free(k);
			return mb_error(err, 0, "invalid %s `%s`: not valid UTF-8", what, *v);
		}
		free(k);
	}
	return 0;
}

static void rfc3339(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *descriptor(const char *mt, const char *digest, size_t size)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t)size);
}

/* json_object_set_new that reports a NULL value (invalid UTF-8). */
static int set(json_t *o, const char *k, json_t *v, struct mb_err *err)
{
	if (json_object_set_new(o, k, v) < 0)
		return mb_error(err, 0, "invalid %s in image config: not valid UTF-8", k);
	return 0;
}

static json_t *config_obj(const struct image_config *c, struct mb_err *err)
{
	json_t *cfg = json_object();

	if (!cfg)
		return NULL;
	if (c->user && *c->user)
		if (set(cfg, "User", json_string(c->user), err) < 0)
			goto fail;
	if (c->entrypoint)
		if (set(cfg, "Entrypoint", strv(c->entrypoint), err) < 0)
			goto fail;
	if (c->cmd)
		if (set(cfg, "Cmd", strv(c->cmd), err) < 0)
			goto fail;
	if (c->env) {
		for (char **e = c->env; *e; e++)
			if (!strchr(*e, '=') || **e == '=') {
				mb_error(err, 0, "invalid environment entry `%s`: expected KEY=VALUE", *e);
				goto fail;
			}
		if (set(cfg, "Env", strv(c->env), err) < 0)
			goto fail;
	}
	if (c->workdir && *c->workdir) {
		if (c->workdir[0] != '/') {
			mb_error(err, 0, "invalid working directory `%s`: must be absolute", c->workdir);
			goto fail;
		}
		if (set(cfg, "WorkingDir", json_string(c->workdir), err) < 0)
			goto fail;
	}
	if (c->ports && *c->ports) {
		json_t *p = json_object();
		for (char **v = c->ports; *v; v++) {
			char *end, key[64];
			unsigned long n = strtoul(*v, &end, 10);
			const char *proto = *end == '/' ? end + 1 : "tcp";
			if (end == *v || n == 0 || n > 65535 || (*end && *end != '/') ||
			    (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp"))) {
				mb_error(err, 0, "invalid port `%s`: expected PORT or PORT/tcp|udp|sctp (1-65535)", *v);
				json_decref(p);
				goto fail;
			}
			snprintf(key, sizeof(key), "%lu/%s", n, proto);
			json_object_set_new(p, key, json_object());
		}
		json_object_set_new(cfg, "ExposedPorts", p);
	}
	if (c->labels && *c->labels) {
		json_t *l = json_object();
		if (kv_object(l, c->labels, "label", err) < 0) {
			json_decref(l);
			goto fail;
		}
		json_object_set_new(cfg, "Labels", l);
	}
	if (c->health.test) {
		json_t *h = json_object();
		if (set(h, "Test", strv(c->health.test), err) < 0) {
			json_decref(h);
			goto fail;
		}
		/* durations in nanoseconds, as docker's image spec has them */
		if (c->health.interval_ns > 0)
			json_object_set_new(h, "Interval", json_integer(c->health.interval_ns));
		if (c->health.timeout_ns > 0)
			json_object_set_new(h, "Timeout", json_integer(c->health.timeout_ns));
		if (c->health.start_period_ns > 0)
			json_object_set_new(h, "StartPeriod", json_integer(c->health.start_period_ns));
		if (c->health.retries > 0)
			json_object_set_new(h, "Retries", json_integer(c->health.retries));
		json_object_set_new(cfg, "Healthcheck", h);
	}
	return cfg;
fail:
	json_decref(cfg);
	return NULL;
}

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_FLAGS) : NULL;

	json_decref(j);
	return s;
}

int img_docs_build(const struct image_config *c, const struct image_layer *layers,
                   size_t nlayers, struct img_docs *d, struct mb_err *err)
{
	char created[32], *full = NULL, *tag = NULL;
	json_t *cfgobj = NULL;
	int ret = -1;

	memset(d, 0, sizeof(*d));
	if (err)
		err->msg[0] = '\0';
	if (!c || !c->architecture || !*c->architecture || !c->os || !*c->os)
		return mb_error(err, 0, "cannot write image: architecture and os are required");
	if (nlayers && !layers)
		return mb_error(err, 0, "cannot write image: no layers given");
	for (size_t i = 0; i < nlayers; i++)
		if (!layers[i].layer || (!layers[i].layer->blob && !layers[i].layer->spooled))
			return mb_error(err, 0, "cannot write image: layer %zu has no blob", i + 1);
	if (c->created < 0 || c->created > 253402300799LL)
		return mb_error(err, 0, "cannot write image: creation time %lld out of range (check SOURCE_DATE_EPOCH)",
		                (long long)c->created);
	rfc3339(c->created, created);
	if (c->tag && img_parse_tag(c->tag, &full, &tag, err) < 0)
		return -1;

	/* config */
	if (!(cfgobj = config_obj(c, err)))
		goto fail;
	json_t *diff = json_array(), *hist = json_array();
	for (size_t i = 0; i < nlayers; i++) {
		json_array_append_new(diff, json_string(layers[i].layer->diff_id));
		json_t *h = json_pack("{s:s}", "created", created);
		if (layers[i].created_by && set(h, "created_by", json_string(layers[i].created_by), err) < 0) {
			json_decref(h);
			json_decref(diff);
			json_decref(hist);
			goto fail;
		}
		json_array_append_new(hist, h);
	}
	json_t *config = json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:o}, s:o}",
	                           "architecture", c->architecture, "os", c->os,
	                           "created", created, "config", cfgobj,
	                           "rootfs", "type", "layers", "diff_ids", diff,
	                           "history", hist);
	cfgobj = NULL;
	/* docker and containerd match an arm64 image by its variant too */
	if (config && c->variant)
		json_object_set_new(config, "variant", json_string(c->variant));
	if (!(d->config = dump(config)) || img_sha256(d->config, strlen(d->config), d->config_digest) < 0)
		goto nomem;

	/* manifest */
	json_t *lay = json_array();
	for (size_t i = 0; i < nlayers; i++)
		json_array_append_new(lay, descriptor(IMG_MT_LAYER, layers[i].layer->digest,
		                                      layers[i].layer->blob_len));
	json_t *ann = json_pack("{s:s}", "org.opencontainers.image.created", created);
	if (tag)
		json_object_set_new(ann, "org.opencontainers.image.ref.name", json_string(tag));
	if (kv_object(ann, c->annotations, "annotation", err) < 0) {
		json_decref(ann);
		json_decref(lay);
		goto fail;
	}
	json_t *man = json_pack("{s:i, s:s, s:o, s:o, s:o}", "schemaVersion", 2,
	                        "mediaType", IMG_MT_MANIFEST,
	                        "config", descriptor(IMG_MT_CONFIG, d->config_digest, strlen(d->config)),
	                        "layers", lay, "annotations", ann);
	if (!(d->manifest = dump(man)) ||
	    img_sha256(d->manifest, strlen(d->manifest), d->manifest_digest) < 0)
		goto nomem;

	/* index.json: the tag part in ref.name (what `oci:DIR:TAG` and umoci
	 * look up), the full name for containerd/docker 25+. */
	if (img_sbom_build(c, d->manifest_digest, strlen(d->manifest), &d->sbom, err) < 0)
		goto fail;
	json_t *desc = descriptor(IMG_MT_MANIFEST, d->manifest_digest, strlen(d->manifest));
	json_t *plat = json_pack("{s:s, s:s}", "architecture", c->architecture, "os", c->os);
	if (plat && c->variant)
		json_object_set_new(plat, "variant", json_string(c->variant));
	json_object_set_new(desc, "platform", plat);
	json_t *dann = json_object();
	if (tag) {
		json_object_set_new(dann, "org.opencontainers.image.ref.name", json_string(tag));
		json_object_set_new(dann, "io.containerd.image.name", json_string(full));
	}
	if (d->sbom.manifest)
		json_object_set_new(dann, IMAGE_SBOM_ANNOTATION, json_string(d->sbom.manifest_digest));
	if (json_object_size(dann))
		json_object_set_new(desc, "annotations", dann);
	else
		json_decref(dann);
	json_t *idx = json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", IMG_MT_INDEX,
	                        "manifests", desc);
	if (!(d->index = dump(idx)))
		goto nomem;

	/* docker's manifest.json: paths of the blobs inside the same tar */
	json_t *dl = json_array();
	for (size_t i = 0; i < nlayers; i++) {
		char p[128];
		snprintf(p, sizeof(p), "blobs/sha256/%s", layers[i].layer->digest + 7);
		json_array_append_new(dl, json_string(p));
	}
	char cp[128];
	snprintf(cp, sizeof(cp), "blobs/sha256/%s", d->config_digest + 7);
	json_t *tags = json_array();
	if (full)
		json_array_append_new(tags, json_string(full));
	json_t *dm = json_pack("[{s:s, s:o, s:o}]", "Config", cp, "RepoTags", tags, "Layers", dl);
	if (!(d->docker = dump(dm)))
		goto nomem;
	ret = 0;
	goto out;
nomem:
	if (err && !err->msg[0])
		mb_error(err, 0, "cannot build image json: out of memory or invalid UTF-8 in a string");
fail:
	img_docs_free(d);
out:
	json_decref(cfgobj);
	free(full);
	free(tag);
	return ret;
}

void img_docs_free(struct img_docs *d)
{
	free(d->config);
	free(d->manifest);
	free(d->index);
	free(d->docker);
	img_sbom_free(&d->sbom);
	memset(d, 0, sizeof(*d));
}

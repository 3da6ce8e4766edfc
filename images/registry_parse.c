/* images registry_parse: what a registry sends that we read as data, apart
 * from the HTTP layer so that tests/fuzz/fuzz_registry.c can feed it bytes:
 * an image manifest's blobs, an index's choice of platform, a token
 * service's answer.  (The WWW-Authenticate challenge is in auth.c, the error
 * JSON in reg_http_error.)  Nothing here trusts what it reads: digests are
 * checked for form, strings for what may go into a header. */
#include "registry_priv.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

int reg_manifest_blobs(const char *man, size_t len, const char *domain, const char *mdig,
                       const char *mt, struct reg_blob **out, size_t *nout, struct mb_err *err)
{
	json_error_t je;
	json_t *mj = json_loadb(man, len, 0, &je), *l;
	json_t *c = json_object_get(mj, "config"), *layers = json_object_get(mj, "layers");
	const char *cd = json_string_value(json_object_get(c, "digest"));
	struct reg_blob *b = NULL;
	size_t i, nb = 0;
	int ret = -1;

	*out = NULL;
	*nout = 0;
	if (!reg_digest_ok(cd) || !json_is_array(layers)) {
		mb_error(err, 0, "registry %s: manifest %s is not an image manifest (%s)", domain, mdig,
		         mt ? mt : "no media type");
		goto out;
	}
	b = calloc(json_array_size(layers) + 1, sizeof(*b));
	if (!b) {
		mb_error(err, 0, "registry %s: manifest %s: out of memory", domain, mdig);
		goto out;
	}
	snprintf(b[0].digest, ROOTFS_DIGEST_LEN, "%s", cd);
	b[0].size = (uint64_t)json_integer_value(json_object_get(c, "size"));
	nb = 1;
	json_array_foreach(layers, i, l) {
		const char *ld = json_string_value(json_object_get(l, "digest"));
		const char *lmt = json_string_value(json_object_get(l, "mediaType"));
		if (!reg_digest_ok(ld)) {
			mb_error(err, 0, "registry %s: manifest %s has a layer without a valid digest",
			         domain, mdig);
			goto out;
		}
		if (lmt && strstr(lmt, "foreign")) {
			mb_error(err, 0, "registry %s: layer %s is a foreign (non-distributable) layer: "
			         "not pulled", domain, ld);
			goto out;
		}
		bool dup = false;
		for (size_t k = 0; k < nb && !dup; k++)
			dup = !strcmp(b[k].digest, ld);
		if (dup)
			continue;
		snprintf(b[nb].digest, ROOTFS_DIGEST_LEN, "%s", ld);
		b[nb].size = (uint64_t)json_integer_value(json_object_get(l, "size"));
		nb++;
	}
	*out = b;
	*nout = nb;
	b = NULL;
	ret = 0;
out:
	free(b);
	json_decref(mj);
	return ret;
}

static const char *host_arch(void)
{
	struct utsname u;
	if (uname(&u) == 0 && !strcmp(u.machine, "aarch64"))
		return "arm64";
	return "amd64";
}

int reg_pick_platform(json_t *idx, const char *platform, char out[ROOTFS_DIGEST_LEN], struct mb_err *err)
{
	char os[32] = "linux", arch[32], var[32] = "";
	size_t i;
	json_t *d;
	char seen[300] = "";

	snprintf(arch, sizeof(arch), "%s", host_arch());
	if (platform && sscanf(platform, "%31[^/]/%31[^/]/%31s", os, arch, var) < 2)
		return mb_error(err, 0, "invalid --platform `%s`: use OS/ARCH[/VARIANT], e.g. linux/arm64", platform);
	json_array_foreach(json_object_get(idx, "manifests"), i, d) {
		json_t *pl = json_object_get(d, "platform");
		const char *po = json_string_value(json_object_get(pl, "os"));
		const char *pa = json_string_value(json_object_get(pl, "architecture"));
		const char *pv = json_string_value(json_object_get(pl, "variant"));
		const char *dg = json_string_value(json_object_get(d, "digest"));
		size_t l = strlen(seen);
		snprintf(seen + l, sizeof(seen) - l, "%s%s/%s%s%s", l ? ", " : "", po ? po : "?",
		         pa ? pa : "?", pv ? "/" : "", pv ? pv : "");
		if (po && pa && dg && !strcmp(po, os) && !strcmp(pa, arch) &&
		    (!var[0] || (pv && !strcmp(pv, var))) && reg_digest_ok(dg)) {
			snprintf(out, ROOTFS_DIGEST_LEN, "%s", dg);
			return 0;
		}
	}
	return mb_error(err, 0, "the index has no image for %s/%s%s%s (it has: %s); choose one with --platform",
	                os, arch, var[0] ? "/" : "", var, seen[0] ? seen : "none");
}

char *reg_token_parse(const char *body, size_t len)
{
	json_error_t je;
	json_t *j = json_loadb(body, len, 0, &je);
	const char *tok = json_string_value(json_object_get(j, "token"));
	char *out = NULL;

	if (!tok || !*tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	/* it goes into a header line: no line breaks, no NULs (jansson allows
	 * \u0000 in strings; json_string_value would cut there) */
	if (tok && *tok && !strpbrk(tok, "\r\n"))
		out = strdup(tok);
	json_decref(j);
	return out;
}

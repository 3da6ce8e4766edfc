/* images ref: registry references, normalised the way docker does it
 * (distribution/reference ParseNormalizedNamed): a first component with a
 * `.` or a `:`, or `localhost`, names the registry; otherwise the image is
 * on Docker Hub, whose one-word names live under `library/`.  The grammar
 * of NAME[:TAG] is img_parse_tag's, so that a reference we push to is one
 * the image writer would accept as a tag. */
#include "registry_priv.h"

#include <stdlib.h>
#include <string.h>

#define HUB_DOMAIN "docker.io"
#define HUB_HOST "registry-1.docker.io"
#define HUB_CRED_KEY "https://index.docker.io/v1/"

bool reg_digest_ok(const char *d)
{
	return d && !strncmp(d, "sha256:", 7) && strlen(d) == 71 &&
	       strspn(d + 7, "0123456789abcdef") == 64;
}

void reg_ref_free(struct reg_ref *r)
{
	free(r->domain);
	free(r->host);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	free(r->cred_key);
	memset(r, 0, sizeof(*r));
}

int reg_ref_parse(const char *s, struct reg_ref *r, struct mb_err *err)
{
	char *name = NULL, *full = NULL, *tag = NULL;

	memset(r, 0, sizeof(*r));
	if (!s || !*s)
		return mb_error(err, 0, "invalid image reference: empty (use REGISTRY/NAME[:TAG])");
	const char *at = strchr(s, '@');
	if (at) {
		if (!reg_digest_ok(at + 1))
			return mb_error(err, 0, "invalid image reference `%s`: the digest must be sha256: and 64 "
			                "lowercase hex digits", s);
		r->digest = strdup(at + 1);
	}
	name = strndup(s, at ? (size_t)(at - s) : strlen(s));
	if (!name || (at && !r->digest))
		goto nomem;
	/* A digest alone (NAME@sha256:...) has no tag: img_parse_tag would add
	 * `latest`, which a pull by digest must not send. */
	const char *slash = strrchr(name, '/'), *colon = strrchr(name, ':');
	bool has_tag = colon && (!slash || colon > slash);
	if (img_parse_tag(name, &full, &tag, err) < 0) {
		mb_wrap(err, "invalid image reference `%s`", s);
		goto fail;
	}
	size_t nlen = strlen(full) - strlen(tag) - 1;
	full[nlen] = '\0';
	const char *first_slash = strchr(full, '/');
	size_t hl = first_slash ? (size_t)(first_slash - full) : 0;
	bool domain = first_slash && (memchr(full, '.', hl) || memchr(full, ':', hl) ||
	                              (hl == 9 && !memcmp(full, "localhost", 9)));
	if (domain) {
		r->domain = strndup(full, hl);
		r->repo = strdup(first_slash + 1);
		/* docker keeps index.docker.io as an old spelling of the Hub */
		if (r->domain && !strcmp(r->domain, "index.docker.io")) {
			free(r->domain);
			r->domain = strdup(HUB_DOMAIN);
		}
	} else {
		r->domain = strdup(HUB_DOMAIN);
		if (first_slash)
			r->repo = strdup(full);
		else if (asprintf(&r->repo, "library/%s", full) < 0)
			r->repo = NULL;
	}
	if (!r->domain || !r->repo)
		goto nomem;
	bool hub = !strcmp(r->domain, HUB_DOMAIN);
	if (hub && !strchr(r->repo, '/')) {
		char *lib;
		if (asprintf(&lib, "library/%s", r->repo) < 0)
			goto nomem;
		free(r->repo);
		r->repo = lib;
	}
	r->host = strdup(hub ? HUB_HOST : r->domain);
	r->cred_key = strdup(hub ? HUB_CRED_KEY : r->domain);
	if (!r->host || !r->cred_key)
		goto nomem;
	if (has_tag || !r->digest) {
		r->tag = tag;
		tag = NULL;
	}
	free(name);
	free(full);
	free(tag);
	return 0;
nomem:
	mb_error(err, 0, "cannot parse image reference: out of memory");
fail:
	free(name);
	free(full);
	free(tag);
	reg_ref_free(r);
	return -1;
}

/* libFuzzer target: what a registry, a token service, a credential helper
 * and the credential files hand the registry client (images/registry*.c,
 * images/auth.c, images/ref.c).  The first byte picks the parser, the rest
 * is its input:
 *   0 a WWW-Authenticate challenge        5 a credential helper's answer
 *   1 an error body (reg_http_error)      6 a docker config.json
 *   2 an image index (platform choice)    7 a podman auth.json
 *   3 an image manifest (its blobs)       8 an image reference
 *   4 a token service's answer
 * The config files go through the real lookup (reg_creds_lookup) from a
 * file; PATH is an empty directory, so a credHelpers entry is looked for and
 * not found instead of running a program per input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../images/registry_priv.h"
#include "fuzz_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], cfg[96], authf[96];

static void setup_once(void)
{
	if (dir[0])
		return;
	fuzz_dir(dir, sizeof(dir), "fuzz_registry");
	snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
	snprintf(authf, sizeof(authf), "%s/auth.json", dir);
	setenv("PATH", dir, 1);
	setenv("HOME", dir, 1);
	unsetenv("XDG_RUNTIME_DIR");
}

static void lookup(const char *key)
{
	struct reg_creds c = { 0 };
	struct mb_err err = {0};
	reg_creds_lookup(key, &c, &err);
	reg_creds_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_err err = {0};

	if (size < 1)
		return 0;
	setup_once();
	unsigned mode = data[0] % 9;
	data++, size--;
	/* the C-string parsers get a NUL-terminated copy */
	char *s = fuzz_cstr(data, size);
	if (!s)
		return 0;

	switch (mode) {
	case 0: {
		struct reg_challenge ch = { 0 };
		reg_challenge_parse(s, &ch);
		reg_challenge_free(&ch);
		break;
	}
	case 1: {
		struct reg r = { 0 };
		struct reg_resp p = { 0 };
		r.ref.domain = "registry.example";
		r.ref.cred_key = "registry.example";
		p.status = size ? 400 + data[0] % 200 : 500;
		p.body = s;
		p.len = size;
		reg_http_error(&r, "GET manifest x", &p, &err);
		break;
	}
	case 2: {
		json_error_t je;
		json_t *j = json_loadb(s, size, 0, &je);
		char out[ROOTFS_DIGEST_LEN];
		reg_pick_platform(j, NULL, out, &err);
		reg_pick_platform(j, "linux/arm64/v8", out, &err);
		json_decref(j);
		break;
	}
	case 3: {
		struct reg_blob *b = NULL;
		size_t nb = 0;
		if (reg_manifest_blobs(s, size, "registry.example", "sha256:x", NULL, &b, &nb, &err) == 0)
			for (size_t i = 0; i < nb; i++)
				if (!reg_digest_ok(b[i].digest))
					abort(); /* only checked digests are ever fetched */
		free(b);
		break;
	}
	case 4: {
		char *t = reg_token_parse(s, size);
		if (t && (!*t || strpbrk(t, "\r\n")))
			abort(); /* it goes into a header line */
		free(t);
		break;
	}
	case 5: {
		struct reg_creds c = { 0 };
		reg_creds_helper_answer(s, size, "docker-credential-x", "registry.example", &c, &err);
		reg_creds_free(&c);
		break;
	}
	case 6:
		fuzz_put(cfg, data, size);
		setenv("DOCKER_CONFIG", dir, 1);
		unsetenv("REGISTRY_AUTH_FILE");
		lookup("registry.example");
		lookup("https://index.docker.io/v1/");
		break;
	case 7:
		fuzz_put(authf, data, size);
		unlink(cfg);
		setenv("REGISTRY_AUTH_FILE", authf, 1);
		lookup("registry.example");
		break;
	case 8: {
		struct reg_ref r = { 0 };
		if (reg_ref_parse(s, &r, &err) == 0)
			reg_ref_free(&r);
		break;
	}
	}
	free(s);
	return 0;
}

/* Unit tests for the registry client's pure parts: references normalised
 * as docker does (Docker Hub included, which no test can reach), the
 * WWW-Authenticate parser, the credential stores (config.json auths,
 * username/password, credHelpers through a helper script, podman's
 * auth.json), and the tar walker that finds blobs in our archive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../images/registry_priv.h"

static char tmpdir[256];

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_registry.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	unsetenv("DOCKER_CONFIG");
	unsetenv("REGISTRY_AUTH_FILE");
	return 0;
}

static void check_ref(const char *in, const char *domain, const char *host, const char *repo,
                      const char *tag, const char *digest, const char *key)
{
	struct reg_ref r;
	struct mb_err err = {0};
	assert_int_equal(reg_ref_parse(in, &r, &err), 0);
	assert_string_equal(r.domain, domain);
	assert_string_equal(r.host, host);
	assert_string_equal(r.repo, repo);
	if (tag)
		assert_string_equal(r.tag, tag);
	else
		assert_null(r.tag);
	if (digest)
		assert_string_equal(r.digest, digest);
	else
		assert_null(r.digest);
	assert_string_equal(r.cred_key, key);
	reg_ref_free(&r);
}

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HUB "https://index.docker.io/v1/"

static void test_refs(void **state)
{
	check_ref("nginx", "docker.io", "registry-1.docker.io", "library/nginx", "latest", NULL, HUB);
	check_ref("nginx:1.25", "docker.io", "registry-1.docker.io", "library/nginx", "1.25", NULL, HUB);
	check_ref("team/app", "docker.io", "registry-1.docker.io", "team/app", "latest", NULL, HUB);
	check_ref("docker.io/nginx", "docker.io", "registry-1.docker.io", "library/nginx", "latest", NULL, HUB);
	check_ref("index.docker.io/library/nginx:x", "docker.io", "registry-1.docker.io",
	          "library/nginx", "x", NULL, HUB);
	check_ref("localhost/app", "localhost", "localhost", "app", "latest", NULL, "localhost");
	check_ref("127.0.0.1:5000/a/b:v1", "127.0.0.1:5000", "127.0.0.1:5000", "a/b", "v1", NULL,
	          "127.0.0.1:5000");
	check_ref("ghcr.io/o/app@" D, "ghcr.io", "ghcr.io", "o/app", NULL, D, "ghcr.io");
	check_ref("ghcr.io/o/app:v2@" D, "ghcr.io", "ghcr.io", "o/app", "v2", D, "ghcr.io");

	struct reg_ref r;
	struct mb_err err = {0};
	assert_int_equal(reg_ref_parse("Bad/Name", &r, &err), -1);
	assert_non_null(strstr(err.msg, "invalid image reference"));
	assert_int_equal(reg_ref_parse("a/b@sha256:xyz", &r, &err), -1);
	assert_int_equal(reg_ref_parse("", &r, &err), -1);
}

static void test_challenge(void **state)
{
	struct reg_challenge ch = { 0 };
	reg_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
	                    "scope=\"repository:library/nginx:pull,push\",error=\"insufficient_scope\"", &ch);
	assert_string_equal(ch.scheme, "bearer");
	assert_string_equal(ch.realm, "https://auth.docker.io/token");
	assert_string_equal(ch.service, "registry.docker.io");
	assert_string_equal(ch.scope, "repository:library/nginx:pull,push");
	assert_string_equal(ch.error, "insufficient_scope");
	reg_challenge_parse("Basic realm=\"Registry Realm\"", &ch);
	assert_string_equal(ch.scheme, "basic");
	assert_string_equal(ch.realm, "Registry Realm");
	assert_null(ch.service);
	reg_challenge_parse(NULL, &ch);
	assert_string_equal(ch.scheme, "");
	reg_challenge_free(&ch);
	char *b = reg_basic("alice", "pw");
	assert_string_equal(b, "YWxpY2U6cHc=");
	free(b);
}

/* The parsers of registry answers (registry_parse.c, auth.c), as fuzzed by
 * tests/fuzz/fuzz_registry.c. */
static char *tok(const char *s)
{
	return reg_token_parse(s, strlen(s));
}

static void test_answers(void **state)
{
	struct mb_err err = {0};
	char *t = tok("{\"token\":\"abc\",\"access_token\":\"def\"}");
	assert_string_equal(t, "abc");
	free(t);
	t = tok("{\"token\":\"\",\"access_token\":\"def\"}");
	assert_string_equal(t, "def");
	free(t);
	/* a token that would split the header line is none */
	assert_null(tok("{\"token\":\"a\\r\\nX-Evil: 1\"}"));
	assert_null(tok("not json"));

	struct reg_blob *b;
	size_t nb;
	const char *m = "{\"config\":{\"digest\":\"" D "\",\"size\":3},\"layers\":["
	                "{\"digest\":\"" D "\",\"size\":3},{\"digest\":\"" D "\"}]}";
	assert_int_equal(reg_manifest_blobs(m, strlen(m), "r", "sha256:m", NULL, &b, &nb, &err), 0);
	assert_int_equal(nb, 1); /* the same blob once */
	assert_int_equal(b[0].size, 3);
	free(b);
	m = "{\"config\":{\"digest\":\"" D "\"},\"layers\":[{\"digest\":\"sha256:../x\"}]}";
	assert_int_equal(reg_manifest_blobs(m, strlen(m), "r", "sha256:m", NULL, &b, &nb, &err), -1);
	assert_non_null(strstr(err.msg, "without a valid digest"));
	assert_null(b);
	assert_int_equal(reg_manifest_blobs("[]", 2, "r", "sha256:m", NULL, &b, &nb, &err), -1);
	assert_non_null(strstr(err.msg, "not an image manifest (no media type)"));

	const char *ix = "{\"manifests\":[{\"digest\":\"" D "\",\"platform\":{\"os\":\"linux\","
	                 "\"architecture\":\"arm64\",\"variant\":\"v8\"}}]}";
	json_error_t je;
	json_t *j = json_loads(ix, 0, &je);
	char out[ROOTFS_DIGEST_LEN];
	assert_int_equal(reg_pick_platform(j, "linux/arm64", out, &err), 0);
	assert_string_equal(out, D);
	assert_int_equal(reg_pick_platform(j, "linux/s390x", out, &err), -1);
	assert_non_null(strstr(err.msg, "it has: linux/arm64/v8"));
	json_decref(j);

	struct reg_creds c = { 0 };
	const char *h = "{\"Username\":\"<token>\",\"Secret\":\"rt\"}";
	assert_int_equal(reg_creds_helper_answer(h, strlen(h), "docker-credential-x", "u", &c, &err), 0);
	assert_string_equal(c.identity_token, "rt");
	assert_null(c.user);
	reg_creds_free(&c);
	assert_int_equal(reg_creds_helper_answer("{}", 2, "docker-credential-x", "u", &c, &err), -1);
	assert_non_null(strstr(err.msg, "no JSON with a Secret"));
	reg_creds_free(&c);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void test_creds(void **state)
{
	char cfg[512], path[600];
	struct mb_err err = {0};
	struct reg_creds c;

	snprintf(cfg, sizeof(cfg), "%s/dc", tmpdir);
	mkdir(cfg, 0700);
	setenv("DOCKER_CONFIG", cfg, 1);
	unsetenv("REGISTRY_AUTH_FILE");
	snprintf(path, sizeof(path), "%s/config.json", cfg);
	/* auth (base64 user:pass), username/password, Hub key spelled as docker writes it */
	write_file(path, "{\"auths\":{\"https://r.example:5000\":{\"auth\":\"YWxpY2U6czNjcjN0\"},"
	           "\"other.example\":{\"username\":\"bob\",\"password\":\"pw2\"},"
	           "\"https://index.docker.io/v1/\":{\"auth\":\"aHViOmh1YnB3\"}}}", 0600);
	assert_int_equal(reg_creds_lookup("r.example:5000", &c, &err), 0);
	assert_string_equal(c.user, "alice");
	assert_string_equal(c.secret, "s3cr3t");
	assert_non_null(strstr(c.source, "config.json"));
	reg_creds_free(&c);
	assert_int_equal(reg_creds_lookup("other.example", &c, &err), 0);
	assert_string_equal(c.user, "bob");
	reg_creds_free(&c);
	assert_int_equal(reg_creds_lookup(HUB, &c, &err), 0);
	assert_string_equal(c.user, "hub");
	reg_creds_free(&c);
	assert_int_equal(reg_creds_lookup("nothing.example", &c, &err), 0);
	assert_null(c.user);

	/* a credential helper, found on PATH, gets the server on stdin */
	char bin[600], helper[700], old_path[4096], np[5000];
	snprintf(bin, sizeof(bin), "%s/bin", tmpdir);
	mkdir(bin, 0755);
	snprintf(helper, sizeof(helper), "%s/docker-credential-unit", bin);
	write_file(helper, "#!/bin/sh\nread u\n[ \"$u\" = h.example ] || { echo credentials not found; exit 1; }\n"
	           "echo '{\"ServerURL\":\"h.example\",\"Username\":\"<token>\",\"Secret\":\"refresh-tok\"}'\n", 0755);
	snprintf(old_path, sizeof(old_path), "%s", getenv("PATH"));
	snprintf(np, sizeof(np), "%s:%s", bin, old_path);
	setenv("PATH", np, 1);
	write_file(path, "{\"credHelpers\":{\"h.example\":\"unit\",\"n.example\":\"unit\"}}", 0600);
	assert_int_equal(reg_creds_lookup("h.example", &c, &err), 0);
	assert_null(c.user);
	assert_string_equal(c.identity_token, "refresh-tok");
	reg_creds_free(&c);
	assert_int_equal(reg_creds_lookup("n.example", &c, &err), 0); /* not found: anonymous */
	assert_null(c.user);
	write_file(path, "{\"credsStore\":\"missing-helper\"}", 0600);
	assert_int_equal(reg_creds_lookup("x.example", &c, &err), -1);
	assert_non_null(strstr(err.msg, "docker-credential-missing-helper"));
	setenv("PATH", old_path, 1);

	/* REGISTRY_AUTH_FILE (podman's auth.json) comes first */
	char af[600];
	snprintf(af, sizeof(af), "%s/auth.json", tmpdir);
	write_file(af, "{\"auths\":{\"x.example\":{\"auth\":\"cG9kOnBwdw==\"}}}", 0600);
	setenv("REGISTRY_AUTH_FILE", af, 1);
	assert_int_equal(reg_creds_lookup("x.example", &c, &err), 0);
	assert_string_equal(c.user, "pod");
	assert_string_equal(c.secret, "ppw");
	reg_creds_free(&c);
	/* a broken store is an error that names it, never its content */
	write_file(af, "{\"auths\":{\"x.example\":{\"auth\":\"!!!notbase64\"}}}", 0600);
	assert_int_equal(reg_creds_lookup("x.example", &c, &err), -1);
	assert_non_null(strstr(err.msg, "auth.json"));
	assert_null(strstr(err.msg, "notbase64"));
}

/* The tar walker finds every member of an archive written by image_write
 * at the offset libarchive's reader would give its data. */
static void test_src_archive(void **state)
{
	char out[600];
	struct mb_err err = {0};
	struct rootfs_tree *t = rootfs_tree_new();
	struct rootfs_layer l;
	assert_int_equal(rootfs_add_data(t, "/app/x", "hello", 5, 0755, 0, 0, &err), 0);
	assert_int_equal(rootfs_layer_write(t, 0, &l, &err), 0);
	rootfs_tree_free(t);
	struct image_config c = { .architecture = "amd64", .os = "linux", .tag = "u:1" };
	struct image_layer il = { &l, "x" };
	struct image_result res;
	snprintf(out, sizeof(out), "%s/img.tar", tmpdir);
	assert_int_equal(image_write(&c, &il, 1, IMAGE_FORMAT_ARCHIVE, out, &res, &err), 0);

	struct reg_src s;
	assert_int_equal(reg_src_open(out, &s, &err), 0);
	char *m;
	size_t len;
	assert_int_equal(reg_src_read_blob(&s, res.manifest_digest, 1 << 20, &m, &len, &err), 0);
	assert_non_null(strstr(m, l.digest));
	free(m);
	int fd;
	uint64_t off, size;
	assert_int_equal(reg_src_blob(&s, l.digest, &fd, &off, &size, &err), 0);
	assert_int_equal(size, l.blob_len);
	unsigned char *buf = malloc(size);
	assert_int_equal(pread(fd, buf, size, (off_t)off), (ssize_t)size);
	assert_memory_equal(buf, l.blob, size);
	free(buf);
	close(fd);
	assert_int_equal(reg_src_read(&s, "missing", 100, &m, &len, &err), -1);
	reg_src_close(&s);
	rootfs_layer_free(&l);

	/* not a tar */
	snprintf(out, sizeof(out), "%s/junk.tar", tmpdir);
	write_file(out, "this is not a tar archive, not even close; it is just some text.......", 0644);
	char big[2048];
	memset(big, 'x', sizeof(big));
	FILE *f = fopen(out, "a");
	fwrite(big, 1, sizeof(big), f);
	fclose(f);
	assert_int_equal(reg_src_open(out, &s, &err), -1);
	assert_non_null(strstr(err.msg, "not an image archive"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_answers),
		cmocka_unit_test_setup_teardown(test_creds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_src_archive, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for several platforms in one image: the --arch/--platform list
 * parser (builder/opts.c) and the image index writer (images/index.c),
 * read back with image_read_platform (images/read.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../builder/builder.h"
#include "../../images/images.h"

static void parses(const char *arch, const char *platform, const char *want)
{
	const char *out[MK_MAX_PLATFORMS];
	size_t n;
	char got[128] = "";
	struct mb_err err = {0};
	assert_int_equal(mk_platforms_parse(arch, platform, out, &n, &err), 0);
	for (size_t i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "", out[i]);
	assert_string_equal(got, want);
}

static void refuses(const char *arch, const char *platform, const char *word)
{
	const char *out[MK_MAX_PLATFORMS];
	size_t n;
	struct mb_err err = {0};
	assert_int_equal(mk_platforms_parse(arch, platform, out, &n, &err), -1);
	if (!strstr(err.msg, word))
		fail_msg("`%s` not in `%s`", word, err.msg);
}

static void test_platform_lists(void **state)
{
	parses(NULL, NULL, arch_host());
	parses("amd64", NULL, "amd64");
	parses("amd64,arm64", NULL, "amd64,arm64");
	parses("aarch64,x86_64", NULL, "arm64,amd64");  /* order kept, names normalised */
	parses(NULL, "linux/amd64,linux/arm64", "amd64,arm64");
	parses(NULL, "linux/arm64/v8", "arm64");
	refuses("amd64,mips", NULL, "mips");
	refuses("amd64,", NULL, "empty");
	refuses(",amd64", NULL, "empty");
	refuses("amd64,x86_64", NULL, "twice");
	refuses("amd64", "linux/amd64", "not both");
	refuses(NULL, "linux/arm64/v7", "--platform");
	refuses(NULL, "windows/amd64", "--platform");
	refuses(NULL, "linux/amd64/v8", "--platform");
	refuses(NULL, "linux/", "--platform");
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	refuses(longname, NULL, "--arch");
	assert_string_equal(mk_platform_arch("linux/arm64"), "arm64");
	assert_string_equal(mk_platform_arch("amd64"), "amd64");
	assert_null(mk_platform_arch("darwin/arm64"));
	assert_string_equal(arch_variant("arm64"), "v8");
	assert_null(arch_variant("amd64"));
}

/* ---- the index ------------------------------------------------------------ */

static char tmpdir[256];

static void layer_of(struct rootfs_layer *l, const char *content)
{
	struct mb_err err = {0};
	struct rootfs_tree *t = rootfs_tree_new();
	assert_non_null(t);
	assert_int_equal(rootfs_add_data(t, "/app/svc", content, strlen(content), 0755, 0, 0, &err), 0);
	assert_int_equal(rootfs_layer_write(t, 0, l, &err), 0);
	rootfs_tree_free(t);
}

/* One platform's image: a layer both platforms share and one of its own. */
static int add(struct image_set *s, const char *arch, struct image_result *r, struct mb_err *err)
{
	struct rootfs_layer shared, own;
	layer_of(&shared, "the same bytes on every platform");
	layer_of(&own, arch);
	struct image_config c = { .architecture = arch, .os = "linux", .user = "65532:65532",
	                          .tag = "team/app:1.0" };
	struct image_layer l[2] = { { &shared, "base" }, { &own, "service" } };
	int rc = image_set_add(s, &c, arch_variant(arch), l, 2, r, err);
	if (rc == 0) /* the set owns the blobs now: nothing left here */
		assert_true(shared.blob == NULL && own.blob == NULL);
	rootfs_layer_free(&shared);
	rootfs_layer_free(&own);
	return rc;
}

static void test_index_write_and_read(void **state)
{
	char out[512], cmd[1200];
	struct mb_err err = {0};
	struct image_result ra, rb, ri;
	strcpy(tmpdir, "/tmp/test_multiarch.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(out, sizeof(out), "%s/multi.tar", tmpdir);

	struct image_set *s = image_set_new();
	assert_non_null(s);
	assert_int_equal(add(s, "amd64", &ra, &err), 0);
	assert_int_equal(add(s, "arm64", &rb, &err), 0);
	/* a platform given twice */
	assert_int_equal(add(s, "arm64", &rb, &err), -1);
	assert_non_null(strstr(err.msg, "linux/arm64"));
	/* docker load's platform must be one of them; nothing is written */
	assert_int_equal(image_set_write(s, IMAGE_FORMAT_ARCHIVE, out, "s390x", &ri, &err), -1);
	assert_non_null(strstr(err.msg, "s390x"));
	assert_int_equal(access(out, F_OK), -1);
	assert_int_equal(image_set_write(s, IMAGE_FORMAT_ARCHIVE, out, "arm64", &ri, &err), 0);
	image_set_free(s);

	struct image_info info;
	assert_int_equal(image_read(out, &info, &err), 0);
	assert_string_equal(info.index_digest, ri.manifest_digest);
	assert_int_equal(info.nplatforms, 2);
	assert_string_equal(info.platforms[0], "linux/amd64");
	assert_string_equal(info.platforms[1], "linux/arm64/v8");
	assert_string_equal(info.platform_digests[0], ra.manifest_digest);
	assert_string_equal(info.manifest_digest, ra.manifest_digest); /* the first */
	assert_string_equal(info.image_name, "team/app:1.0");
	assert_int_equal(info.nlayers, 2);
	char base_a[ROOTFS_DIGEST_LEN], own_a[ROOTFS_DIGEST_LEN];
	snprintf(base_a, sizeof(base_a), "%s", info.layer_digests[0]);
	snprintf(own_a, sizeof(own_a), "%s", info.layer_digests[1]);
	image_info_free(&info);
	assert_int_equal(image_read_platform(out, "arm64", &info, &err), 0);
	assert_string_equal(info.manifest_digest, rb.manifest_digest);
	json_t *cfg = json_loads(info.config_json, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(cfg, "architecture")), "arm64");
	json_decref(cfg);
	assert_string_equal(info.layer_digests[0], base_a);
	assert_string_not_equal(info.layer_digests[1], own_a);
	image_info_free(&info);
	assert_int_equal(image_read_platform(out, "riscv64", &info, &err), -1);
	assert_non_null(strstr(err.msg, "riscv64"));
	/* the shared layer is stored once: 1 index + 2 configs + 2 manifests + 3 layers */
	snprintf(cmd, sizeof(cmd), "test $(tar tf '%s' | grep -c '^blobs/sha256/.') -eq 8", out);
	assert_int_equal(system(cmd), 0);
	/* manifest.json (docker load) names the arm64 config */
	snprintf(cmd, sizeof(cmd), "tar xOf '%s' manifest.json | grep -q '%s'", out,
	         rb.config_digest + 7);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
}

static void test_empty_set_refused(void **state)
{
	struct mb_err err = {0};
	struct image_set *s = image_set_new();
	assert_int_equal(image_set_write(s, IMAGE_FORMAT_ARCHIVE, "/tmp/never-written.tar", NULL,
	                                 NULL, &err), -1);
	assert_non_null(strstr(err.msg, "no image"));
	assert_int_equal(access("/tmp/never-written.tar", F_OK), -1);
	image_set_free(s);
	image_set_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_platform_lists),
		cmocka_unit_test(test_index_write_and_read),
		cmocka_unit_test(test_empty_set_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

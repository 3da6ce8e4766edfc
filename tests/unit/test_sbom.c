/* Unit tests of the SBOM pieces: Go build information read from bytes
 * (builder/goinfo.c), the package list (builder/sbom.c) and the SPDX writer
 * (images/sbom.c).  The integration tests check the same against real Go
 * binaries (`go version -m`) and the official SPDX 2.3 schema. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "../../builder/builder.h"
#include "../../images/images.h"

static struct mb_err err;

/* A Go 1.18+ inline build-information blob at a 16-aligned offset. */
static size_t make_blob(unsigned char *buf, size_t cap, size_t at, const char *ver, const char *mod)
{
	memset(buf, 'x', cap);
	unsigned char *h = buf + at;
	memcpy(h, "\xff Go buildinf:", 14);
	h[14] = 8;
	h[15] = 2;
	memset(h + 16, 0, 16);
	size_t off = at + 32;
	buf[off++] = (unsigned char)strlen(ver);
	memcpy(buf + off, ver, strlen(ver));
	off += strlen(ver);
	size_t ml = strlen(mod) + 32;
	buf[off++] = (unsigned char)(0x80 | (ml & 0x7f));
	buf[off++] = (unsigned char)(ml >> 7);
	memset(buf + off, 's', 16);
	memcpy(buf + off + 16, mod, strlen(mod));
	memset(buf + off + 16 + strlen(mod), 's', 16);
	return off + ml;
}

static const char MODINFO[] =
	"path\texample.com/svc/cmd/server\n"
	"mod\texample.com/svc\t(devel)\t\n"
	"dep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\n"
	"dep\texample.com/old\tv1.0.0\th1:old=\n"
	"=>\texample.com/new\tv1.2.0\th1:new=\n"
	"build\t-compiler=gc\n"
	"build\tCGO_ENABLED=0\n";

static void test_go_buildinfo(void **state)
{
	unsigned char buf[1024];
	struct go_buildinfo bi;
	/* a decoy magic off the 16-byte grid comes first and is passed over */
	size_t end = make_blob(buf, sizeof(buf), 96, "go1.23.5", MODINFO);
	memcpy(buf + 3, "\xff Go buildinf:", 14);
	assert_int_equal(go_buildinfo_read(buf, end, &bi, &err), 1);
	assert_string_equal(bi.go_version, "go1.23.5");
	assert_string_equal(bi.main_path, "example.com/svc/cmd/server");
	assert_string_equal(bi.main.path, "example.com/svc");
	assert_string_equal(bi.main.version, "(devel)");
	assert_int_equal(bi.ndeps, 2);
	assert_string_equal(bi.deps[0].path, "golang.org/x/text");
	assert_string_equal(bi.deps[0].version, "v0.14.0");
	assert_string_equal(bi.deps[1].path, "example.com/new");  /* the replacement */
	assert_string_equal(bi.deps[1].sum, "h1:new=");
	go_buildinfo_free(&bi);
}

static void test_go_buildinfo_absent_truncated_old(void **state)
{
	unsigned char buf[1024];
	struct go_buildinfo bi;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(go_buildinfo_read(buf, sizeof(buf), &bi, &err), 0);
	size_t end = make_blob(buf, sizeof(buf), 64, "go1.23.5", MODINFO);
	for (size_t cut = 64 + 33; cut < end; cut += 7)
		assert_int_equal(go_buildinfo_read(buf, cut, &bi, &err), -1);
	assert_non_null(strstr(err.msg, "truncated"));
	buf[64 + 15] = 0; /* pre-1.18: pointers, not inline strings */
	assert_int_equal(go_buildinfo_read(buf, end, &bi, &err), -1);
	assert_non_null(strstr(err.msg, "pre-1.18"));
}

static void test_go_buildinfo_random_input_never_crashes(void **state)
{
	unsigned char buf[512];
	struct go_buildinfo bi;
	srand(7);
	for (int round = 0; round < 20000; round++) {
		size_t end = make_blob(buf, sizeof(buf), 16 * (size_t)(rand() % 4), "go1.22.1", MODINFO);
		for (int k = 0; k < 4; k++)
			buf[(size_t)rand() % end] = (unsigned char)rand();
		if (go_buildinfo_read(buf, end, &bi, &err) == 1)
			go_buildinfo_free(&bi);
	}
}

static char *doc_for(const char *digest, int64_t created)
{
	struct sbom_package p[3] = {
		{ .name = "svc:1.0", .version = "1.0", .purpose = "CONTAINER", .parent = -1 },
		{ .name = "svc", .sha256 = "ab", .purl = "pkg:golang/example.com/svc@(devel)", .parent = 0 },
		{ .name = "stdlib", .version = "1.23.5", .license = "BSD-3-Clause", .parent = 1 },
	};
	struct sbom_doc d = { p, 3, digest, created, NULL };
	char *out = NULL;
	assert_int_equal(image_sbom_spdx(&d, &out, &err), 0);
	return out;
}

static void test_spdx_document(void **state)
{
	const char *dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char *a = doc_for(dg, 86400), *b = doc_for(dg, 86400);
	assert_string_equal(a, b);
	json_error_t je;
	json_t *j = json_loads(a, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "spdxVersion")), "SPDX-2.3");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "creationInfo"),
	                                                      "created")), "1970-01-02T00:00:00Z");
	assert_non_null(strstr(json_string_value(json_object_get(j, "documentNamespace")), dg + 7));
	json_t *rels = json_object_get(j, "relationships");
	assert_int_equal(json_array_size(rels), 3);
	json_t *last = json_array_get(rels, 2);
	assert_string_equal(json_string_value(json_object_get(last, "spdxElementId")), "SPDXRef-Package-1");
	assert_string_equal(json_string_value(json_object_get(last, "relationshipType")), "CONTAINS");
	json_t *svc = json_array_get(json_object_get(j, "packages"), 1);
	assert_string_equal(json_string_value(json_object_get(svc, "versionInfo")), "NOASSERTION");
	json_decref(j);
	free(a);
	free(b);
	/* another image, another namespace */
	a = doc_for("sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 86400);
	b = doc_for(dg, 86400);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

static void test_spdx_refuses_bad_input(void **state)
{
	struct sbom_package p[2] = {
		{ .name = "img", .parent = -1 },
		{ .name = "\xff\xfe not utf-8", .parent = 0 },
	};
	struct sbom_doc d = { p, 2, "sha256:00", 0, NULL };
	char *out = (char *)1;
	assert_int_equal(image_sbom_spdx(&d, &out, &err), -1);
	assert_null(out);
	assert_non_null(strstr(err.msg, "UTF-8"));
	p[1].name = "ok";
	p[1].parent = 1; /* a package cannot contain itself */
	assert_int_equal(image_sbom_spdx(&d, &out, &err), -1);
	d.manifest_digest = NULL;
	assert_int_equal(image_sbom_spdx(&d, &out, &err), -1);
}

/* Our own document read back (a --base's SBOM): the packages, their
 * nesting, the one described; with the base referenced by an extdoc. */
static void test_spdx_read_back_and_external_ref(void **state)
{
	const char *dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char *a = doc_for(dg, 0);
	struct sbom_list l;
	assert_int_equal(image_sbom_parse(a, strlen(a), &l, &err), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.described, 0);
	assert_string_equal(l.pkgs[1].name, "svc");
	assert_null(l.pkgs[1].version); /* NOASSERTION reads as none */
	assert_string_equal(l.pkgs[1].sha256, "ab");
	assert_string_equal(l.pkgs[1].purl, "pkg:golang/example.com/svc@(devel)");
	assert_int_equal(l.pkgs[1].parent, 0);
	assert_int_equal(l.pkgs[2].parent, 1);
	assert_string_equal(l.pkgs[2].license, "BSD-3-Clause");
	assert_int_equal(strlen(l.sha1), 40);
	assert_non_null(strstr(l.ns, dg + 7));

	/* a document referring to it */
	struct sbom_package p[2] = {
		{ .name = "on:1", .parent = -1 },
		{ .name = "base", .purpose = "CONTAINER", .parent = 0 },
	};
	struct sbom_extdoc x = { .ns = l.ns, .sha1 = l.sha1, .package = 1 };
	struct sbom_doc d = { p, 2, dg, 0, &x };
	char *out = NULL;
	assert_int_equal(image_sbom_spdx(&d, &out, &err), 0);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je), *e = json_array_get(json_object_get(j, "externalDocumentRefs"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "externalDocumentId")), "DocumentRef-base");
	assert_string_equal(json_string_value(json_object_get(e, "spdxDocument")), l.ns);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "checksum"), "checksumValue")),
	                    l.sha1);
	assert_non_null(strstr(out, "\"relatedSpdxElement\":\"DocumentRef-base:SPDXRef-DOCUMENT\","
	                            "\"relationshipType\":\"DESCRIBED_BY\",\"spdxElementId\":\"SPDXRef-Package-1\""));
	json_decref(j);
	free(out);
	x.package = 0; /* the image itself is not the base */
	assert_int_equal(image_sbom_spdx(&d, &out, &err), -1);
	image_sbom_list_free(&l);
	free(a);
}

/* Another tool's document: CONTAINED_BY, a cycle, a nameless package, and
 * what is not SPDX at all. */
static void test_spdx_read_foreign(void **state)
{
	const char *doc =
		"{\"spdxVersion\":\"SPDX-2.2\",\"documentNamespace\":\"https://x/1\","
		"\"packages\":[{\"SPDXID\":\"SPDXRef-a\",\"name\":\"a\"},"
		"{\"SPDXID\":\"SPDXRef-b\",\"name\":\"b\",\"versionInfo\":\"2\"},"
		"{\"SPDXID\":\"SPDXRef-c\"}],"
		"\"relationships\":[{\"spdxElementId\":\"SPDXRef-DOCUMENT\",\"relationshipType\":\"DESCRIBES\","
		"\"relatedSpdxElement\":\"SPDXRef-a\"},"
		"{\"spdxElementId\":\"SPDXRef-b\",\"relationshipType\":\"CONTAINED_BY\",\"relatedSpdxElement\":\"SPDXRef-a\"},"
		"{\"spdxElementId\":\"SPDXRef-b\",\"relationshipType\":\"CONTAINS\",\"relatedSpdxElement\":\"SPDXRef-a\"},"
		"{\"spdxElementId\":\"SPDXRef-c\",\"relationshipType\":\"CONTAINS\",\"relatedSpdxElement\":\"SPDXRef-c\"}]}";
	struct sbom_list l;
	assert_int_equal(image_sbom_parse(doc, strlen(doc), &l, &err), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.described, 0);
	assert_int_equal(l.pkgs[0].parent, -1); /* the described one stays on top */
	assert_int_equal(l.pkgs[1].parent, 0);
	assert_string_equal(l.pkgs[1].version, "2");
	assert_null(l.pkgs[2].name);
	assert_int_equal(l.pkgs[2].parent, -1);
	image_sbom_list_free(&l);
	const char *bad[] = { "", "[]", "{\"spdxVersion\":\"SPDX-3.0\"}", "{\"bomFormat\":\"CycloneDX\"}",
	                      "{\"spdxVersion\":\"SPDX-2.3\",\"documentNamespace\":\"x\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(image_sbom_parse(bad[i], strlen(bad[i]), &l, &err), -1);
		assert_non_null(strstr(err.msg, "not an SPDX 2 JSON document"));
		assert_null(l.json);
	}
}

static void test_collect_init_components_and_go(void **state)
{
	static const char init[] = "\x7f" "ELF...minbase-init components: musl 1.2.3-2, libcap 2.66, "
	                           "libseccomp 2.5.4\0rest";
	unsigned char app[1024];
	size_t alen = make_blob(app, sizeof(app), 32, "go1.23.5", MODINFO);
	struct sbom_inputs in = {
		.image_name = "svc:1.0", .image_version = "1.0",
		.init = (const unsigned char *)init, .init_len = sizeof(init),
		.app = app, .app_len = alen, .app_name = "server", .app_path = "/app/server",
	};
	struct sbom_build b;
	assert_int_equal(sbom_collect(&in, &b, &err), 0);
	/* image, init, musl, libcap, libseccomp, service, stdlib, 2 modules */
	assert_int_equal(b.n, 9);
	assert_string_equal(b.pkgs[2].name, "musl");
	assert_string_equal(b.pkgs[2].version, "1.2.3-2");
	assert_int_equal(b.pkgs[2].parent, 1);
	assert_string_equal(b.pkgs[4].name, "libseccomp");
	assert_string_equal(b.pkgs[5].name, "server");
	assert_int_equal(strlen(b.pkgs[5].sha256), 64);
	assert_string_equal(b.pkgs[6].purl, "pkg:golang/stdlib@1.23.5");
	assert_int_equal(b.pkgs[6].parent, 5);
	assert_string_equal(b.pkgs[8].purl, "pkg:golang/example.com/new@v1.2.0");
	/* the strings outlive the build information sbom_collect freed (found by
	 * fuzz_goinfo: a use after free under ASan) */
	assert_string_equal(b.pkgs[5].version, "(devel)");
	assert_string_equal(b.pkgs[8].name, "example.com/new");
	assert_string_equal(b.pkgs[8].version, "v1.2.0");
	sbom_build_free(&b);
	/* unreadable build information: an error, and nothing leaks (found by
	 * fuzz_goinfo; the ASan run of this test checks the leak) */
	in.app_len = 32 + 40;
	assert_int_equal(sbom_collect(&in, &b, &err), -1);
	assert_non_null(strstr(err.msg, "truncated"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_go_buildinfo),
		cmocka_unit_test(test_go_buildinfo_absent_truncated_old),
		cmocka_unit_test(test_go_buildinfo_random_input_never_crashes),
		cmocka_unit_test(test_spdx_document),
		cmocka_unit_test(test_spdx_refuses_bad_input),
		cmocka_unit_test(test_spdx_read_back_and_external_ref),
		cmocka_unit_test(test_spdx_read_foreign),
		cmocka_unit_test(test_collect_init_components_and_go),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

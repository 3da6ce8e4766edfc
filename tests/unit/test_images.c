/* Unit tests for images/: config/manifest/index JSON, the archive and
 * layout writers, the reader, and what is left behind on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../images/images.h"

static char tmpdir[256];
static struct rootfs_layer base, app;

static int setup(void **state)
{
	struct mb_err err = {0};
	strcpy(tmpdir, "/tmp/test_images.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	struct rootfs_tree *t = rootfs_tree_new();
	struct rootfs_skeleton_opts o = { 65532, 65532, "0.0.1", NULL, NULL, false };
	assert_int_equal(rootfs_add_skeleton(t, &o, &err), 0);
	assert_int_equal(rootfs_layer_write(t, 0, &base, &err), 0);
	rootfs_tree_free(t);
	t = rootfs_tree_new();
	assert_int_equal(rootfs_add_data(t, "/app/svc", "#!nothing\n", 10, 0755, 0, 0, &err), 0);
	assert_int_equal(rootfs_layer_write(t, 0, &app, &err), 0);
	rootfs_tree_free(t);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	rootfs_layer_free(&base);
	rootfs_layer_free(&app);
	return 0;
}

static char *ep[] = { "/usr/bin/minbase-init", "--", "/app/svc", NULL };
static char *cmd_[] = { "serve", NULL };
static char *env[] = { "PATH=/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", NULL };
static char *ports[] = { "8080/tcp", "53/udp", "9090", NULL };
static char *labels[] = { "org.example.team=core", NULL };
static char *htest[] = { "CMD", "/usr/bin/minbase-init", "health", NULL };
static char *annots[] = { "org.opencontainers.image.source=https://example.invalid/x", NULL };

static struct image_config cfg(const char *tag)
{
	struct image_config c = {
		.architecture = "amd64", .os = "linux", .user = "65532:65532",
		.entrypoint = ep, .cmd = cmd_, .env = env, .workdir = "/", .ports = ports,
		.labels = labels, .health = { htest, 30000000000LL, 5000000000LL, 0, 3 },
		.created = 1700000000, .tag = tag, .annotations = annots,
	};
	return c;
}

static size_t layers(struct image_layer *l)
{
	l[0] = (struct image_layer){ &base, "minbase skeleton" };
	l[1] = (struct image_layer){ &app, "COPY svc /app/svc" };
	return 2;
}

static void pin(char *out, const char *rel)
{
	snprintf(out, 512, "%s/%s", tmpdir, rel);
}

static bool leftovers(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	bool found = false;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".tmp-"))
			found = true;
	closedir(d);
	return found;
}

static unsigned char *slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	unsigned char *b = malloc(*len + 1);
	assert_int_equal(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

static void check_config(const char *json)
{
	json_error_t je;
	json_t *c = json_loads(json, 0, &je);
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "architecture")), "amd64");
	assert_string_equal(json_string_value(json_object_get(c, "os")), "linux");
	assert_string_equal(json_string_value(json_object_get(c, "created")), "2023-11-14T22:13:20Z");
	json_t *cc = json_object_get(c, "config");
	assert_string_equal(json_string_value(json_object_get(cc, "User")), "65532:65532");
	assert_string_equal(json_string_value(json_array_get(json_object_get(cc, "Entrypoint"), 2)), "/app/svc");
	assert_string_equal(json_string_value(json_array_get(json_object_get(cc, "Cmd"), 0)), "serve");
	assert_int_equal(json_array_size(json_object_get(cc, "Env")), 2);
	json_t *p = json_object_get(cc, "ExposedPorts");
	assert_non_null(json_object_get(p, "8080/tcp"));
	assert_non_null(json_object_get(p, "53/udp"));
	assert_non_null(json_object_get(p, "9090/tcp"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(cc, "Labels"), "org.example.team")), "core");
	json_t *h = json_object_get(cc, "Healthcheck");
	assert_int_equal(json_integer_value(json_object_get(h, "Interval")), 30000000000LL);
	assert_int_equal(json_integer_value(json_object_get(h, "Timeout")), 5000000000LL);
	assert_null(json_object_get(h, "StartPeriod"));
	assert_int_equal(json_integer_value(json_object_get(h, "Retries")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(h, "Test"), 2)), "health");
	json_t *r = json_object_get(c, "rootfs");
	assert_string_equal(json_string_value(json_object_get(r, "type")), "layers");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "diff_ids"), 0)), base.diff_id);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "diff_ids"), 1)), app.diff_id);
	json_t *hist = json_object_get(c, "history");
	assert_int_equal(json_array_size(hist), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(hist, 1), "created_by")), "COPY svc /app/svc");
	/* compact and sorted: re-dumping gives the same text */
	char *again = json_dumps(c, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(again, json);
	free(again);
	json_decref(c);
}

static void test_archive_roundtrip(void **state)
{
	char out[512];
	struct mb_err err = {0};
	struct image_layer l[2];
	struct image_result res;
	struct image_info info;
	struct image_config c = cfg("registry.local:5000/team/svc:1.2");

	pin(out, "img.tar");
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, &res, &err), 0);
	assert_int_equal(res.compressed, base.blob_len + app.blob_len);
	assert_int_equal(res.uncompressed, base.tar_len + app.tar_len);
	assert_false(leftovers());
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0666 & ~022 & 0777); /* umask applies, not 0600 */

	assert_int_equal(image_read(out, &info, &err), 0);
	assert_string_equal(info.manifest_digest, res.manifest_digest);
	assert_string_equal(info.ref_name, "1.2");
	assert_string_equal(info.image_name, "registry.local:5000/team/svc:1.2");
	assert_int_equal(info.nlayers, 2);
	assert_string_equal(info.layer_digests[0], base.digest);
	assert_string_equal(info.layer_digests[1], app.digest);
	assert_int_equal(info.layer_sizes[1], app.blob_len);
	check_config(info.config_json);
	assert_non_null(strstr(info.manifest_json, "\"org.opencontainers.image.ref.name\":\"1.2\""));
	assert_non_null(strstr(info.manifest_json, "\"org.opencontainers.image.created\":\"2023-11-14T22:13:20Z\""));
	assert_non_null(strstr(info.manifest_json, "org.opencontainers.image.source"));
	assert_non_null(strstr(info.manifest_json, "application/vnd.oci.image.layer.v1.tar+gzip"));
	image_info_free(&info);

	/* the tar: sorted members, numeric owners, docker's manifest.json */
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_filename(a, out, 10240), ARCHIVE_OK);
	char prev[512] = "";
	bool saw_manifest = false, saw_layout = false;
	while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(ae);
		assert_true(strcmp(prev, n) < 0);
		snprintf(prev, sizeof(prev), "%s", n);
		assert_int_equal(archive_entry_uid(ae), 0);
		assert_int_equal(archive_entry_mtime(ae), 1700000000);
		if (!strcmp(n, "manifest.json")) {
			char buf[4096] = { 0 };
			archive_read_data(a, buf, sizeof(buf) - 1);
			json_t *m = json_loads(buf, 0, NULL);
			assert_non_null(m);
			json_t *m0 = json_array_get(m, 0);
			assert_string_equal(json_string_value(json_array_get(json_object_get(m0, "RepoTags"), 0)),
			                    "registry.local:5000/team/svc:1.2");
			char want[256];
			snprintf(want, sizeof(want), "blobs/sha256/%s", res.config_digest + 7);
			assert_string_equal(json_string_value(json_object_get(m0, "Config")), want);
			snprintf(want, sizeof(want), "blobs/sha256/%s", app.digest + 7);
			assert_string_equal(json_string_value(json_array_get(json_object_get(m0, "Layers"), 1)), want);
			json_decref(m);
			saw_manifest = true;
		}
		if (!strcmp(n, "oci-layout")) {
			char buf[256] = { 0 };
			archive_read_data(a, buf, sizeof(buf) - 1);
			assert_string_equal(buf, "{\"imageLayoutVersion\":\"1.0.0\"}");
			saw_layout = true;
		}
	}
	archive_read_free(a);
	assert_true(saw_manifest && saw_layout);
}

static void test_deterministic_archive(void **state)
{
	char o1[512], o2[512];
	struct mb_err err = {0};
	struct image_layer l[2];
	struct image_config c = cfg("svc:1");
	size_t n1, n2;

	pin(o1, "a.tar");
	pin(o2, "sub");
	assert_int_equal(mkdir(o2, 0700), 0);
	pin(o2, "sub/b.tar");
	mode_t old = umask(077);
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, o1, NULL, &err), 0);
	umask(old);
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, o2, NULL, &err), 0);
	unsigned char *b1 = slurp(o1, &n1), *b2 = slurp(o2, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(b1, b2, n1);
	free(b1);
	free(b2);
	/* overwriting an existing archive is fine and gives the same bytes */
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, o1, NULL, &err), 0);
	b1 = slurp(o1, &n1);
	assert_int_equal(n1, n2);
	free(b1);
}

static void test_layout_dir(void **state)
{
	char out[512], p[1200];
	struct mb_err err = {0};
	struct image_layer l[2];
	struct image_result r1, r2;
	struct image_info info;
	struct image_config c = cfg("svc");

	pin(out, "layout");
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_OCI_DIR, out, &r1, &err), 0);
	snprintf(p, sizeof(p), "%s/oci-layout", out);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/manifest.json", out);
	assert_int_not_equal(access(p, F_OK), 0); /* docker's file only in the archive */
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", out, app.digest + 7);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(image_read(out, &info, &err), 0);
	assert_string_equal(info.ref_name, "latest");
	assert_string_equal(info.image_name, "svc:latest");
	assert_string_equal(info.manifest_digest, r1.manifest_digest);
	image_info_free(&info);

	/* replacing an earlier layout works and leaves nothing behind */
	c.cmd = NULL;
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_OCI_DIR, out, &r2, &err), 0);
	assert_string_not_equal(r1.manifest_digest, r2.manifest_digest);
	assert_int_equal(image_read(out, &info, &err), 0);
	assert_string_equal(info.manifest_digest, r2.manifest_digest);
	image_info_free(&info);
	assert_false(leftovers());

	/* a corrupted blob is noticed by the reader */
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", out, r2.config_digest + 7);
	FILE *f = fopen(p, "a");
	fputs(" ", f);
	fclose(f);
	assert_int_equal(image_read(out, &info, &err), -1);
	assert_non_null(strstr(err.msg, "does not match its digest"));
}

static void test_refusals(void **state)
{
	char out[512], p[1200];
	struct mb_err err = {0};
	struct image_layer l[2];
	struct image_config c = cfg("svc:1");

	/* missing output directory */
	pin(out, "missing/img.tar");
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "does not exist"));
	/* archive path that is a directory */
	pin(out, "adir");
	assert_int_equal(mkdir(out, 0755), 0);
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "is a directory"));
	/* a non-empty directory that is not a layout is never replaced */
	snprintf(p, sizeof(p), "%s/precious", out);
	FILE *f = fopen(p, "w");
	fclose(f);
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_OCI_DIR, out, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "not an OCI image layout"));
	assert_int_equal(access(p, F_OK), 0);
	/* a file where the layout should go */
	pin(out, "afile");
	f = fopen(out, "w");
	fclose(f);
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_OCI_DIR, out, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "not a directory"));
	/* bad tag, bad port, bad env: nothing written */
	pin(out, "bad.tar");
	c.tag = "Upper/Case:1";
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "Upper/Case"));
	c.tag = "svc@sha256:abc";
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err), -1);
	c.tag = "svc:bad tag";
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err), -1);
	/* the reference grammar's separators: one `.`, one or two `_`, any `-` */
	const char *badnames[] = { "a..b:1", "a___b:1", "team/a..b", "a._b:1", NULL };
	for (size_t i = 0; badnames[i]; i++) {
		c.tag = badnames[i];
		if (image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err) != -1)
			fail_msg("tag `%s` accepted", badnames[i]);
		assert_non_null(strstr(err.msg, "invalid image name"));
	}
	char okout[512];
	pin(okout, "ok.tar");
	const char *goodnames[] = { "a.b:1", "a__b:1", "a---b:1", "reg.io:5000/t_m/a-b.c:x", NULL };
	for (size_t i = 0; goodnames[i]; i++) {
		c.tag = goodnames[i];
		if (image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, okout, NULL, &err) != 0)
			fail_msg("tag `%s` refused: %s", goodnames[i], err.msg);
	}
	assert_int_equal(unlink(okout), 0);
	c.tag = "svc:1";
	char *badports[] = { "70000/tcp", NULL };
	c.ports = badports;
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "70000"));
	c.ports = NULL;
	char *badenv[] = { "NOEQUALS", NULL };
	c.env = badenv;
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "NOEQUALS"));
	c.env = NULL;
	char *badutf[] = { "\xff\xfe", NULL };
	c.cmd = badutf;
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "UTF-8"));
	assert_int_not_equal(access(out, F_OK), 0);
	assert_false(leftovers());
	/* reading something that is not an image */
	struct image_info info;
	pin(out, "afile");
	assert_int_equal(image_read(out, &info, &err), -1);
	pin(out, "nothing-here");
	assert_int_equal(image_read(out, &info, &err), -1);
	assert_non_null(strstr(err.msg, "nothing-here"));
}

/* A hostile layout: a fifo where a file should be (index.json, a blob) is
 * refused at once instead of blocking the reader forever; so is a fifo
 * given as the image itself.  alarm() turns a hang into a failure. */
static void test_read_fifo(void **state)
{
	char out[512], p[1200];
	struct mb_err err = {0};
	struct image_layer l[2];
	struct image_result r;
	struct image_info info;
	struct image_config c = cfg("svc");

	alarm(10);
	pin(out, "layout");
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_OCI_DIR, out, &r, &err), 0);
	/* the manifest blob */
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", out, r.manifest_digest + 7);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(image_read(out, &info, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	/* index.json */
	snprintf(p, sizeof(p), "%s/index.json", out);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(image_read(out, &info, &err), -1);
	/* the image path itself */
	pin(out, "fifo.tar");
	assert_int_equal(mkfifo(out, 0644), 0);
	assert_int_equal(image_read(out, &info, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file or a directory"));
	alarm(0);
}

/* A small archive of sparse entries claims far more data than it holds:
 * refused before the reader allocates what they claim (gigabytes for a
 * few megabytes of hostile archive). */
static void test_read_sparse_archive(void **state)
{
	char cmd[1400];
	struct mb_err err = {0};
	struct image_info info;

	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && mkdir sp && cd sp && truncate -s 4194303 f && printf x >> f && "
	         "for i in 1 2 3 4 5 6 7 8; do cp --sparse=always f blob$i; done && rm f && "
	         "tar --sparse --format=posix -cf ../sparse.tar blob*", tmpdir);
	if (system(cmd) != 0)
		skip();
	snprintf(cmd, sizeof(cmd), "%s/sparse.tar", tmpdir);
	assert_int_equal(image_read(cmd, &info, &err), -1);
	assert_non_null(strstr(err.msg, "more data than the archive"));
}

/* A member twice in an archive (here an index.json appended after the
 * real one) is refused: a reader that stops at the first copy and an
 * extractor that keeps the last would see two different images. */
static void test_read_duplicate_member(void **state)
{
	char out[512], cmd[1400];
	struct mb_err err = {0};
	struct image_layer l[2];
	struct image_info info;
	struct image_config c = cfg("svc");

	pin(out, "dup.tar");
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err), 0);
	assert_int_equal(image_read(out, &info, &err), 0);
	image_info_free(&info);
	snprintf(cmd, sizeof(cmd), "cd '%s' && mkdir other && cd other && "
	         "printf '{\"manifests\":[]}' > index.json && tar -rf ../dup.tar index.json", tmpdir);
	if (system(cmd) != 0)
		skip();
	assert_int_equal(image_read(out, &info, &err), -1);
	assert_non_null(strstr(err.msg, "2 times"));
}

/* Issue 8 item 4: a layout output joins a layout that is there.  The
 * index keeps other references in order, ours is replaced where it stood;
 * a stray file or a broken index.json is refused with nothing touched. */
static json_t *load_index(const char *out)
{
	char p[1200];
	json_error_t je;
	snprintf(p, sizeof(p), "%s/index.json", out);
	json_t *j = json_load_file(p, 0, &je);
	assert_non_null(j);
	return j;
}

static const char *ref_at(json_t *idx, size_t i)
{
	json_t *m = json_array_get(json_object_get(idx, "manifests"), i);
	return json_string_value(json_object_get(json_object_get(m, "annotations"),
	                                         "org.opencontainers.image.ref.name"));
}

static void test_layout_merge(void **state)
{
	char out[512], p[1200];
	struct mb_err err = {0};
	struct image_layer l[2];
	struct image_result r1, r2, r3;
	struct image_config c = cfg("svc:1");

	pin(out, "merged");
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_OCI_DIR, out, &r1, &err), 0);
	c.tag = "svc:2";
	c.cmd = NULL;
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_OCI_DIR, out, &r2, &err), 0);
	json_t *idx = load_index(out);
	assert_int_equal(json_array_size(json_object_get(idx, "manifests")), 2);
	assert_string_equal(ref_at(idx, 0), "1");
	assert_string_equal(ref_at(idx, 1), "2");
	json_decref(idx);
	/* svc:1 again, another image: replaced in place, svc:2 kept */
	c.tag = "svc:1";
	c.workdir = "/srv";
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_OCI_DIR, out, &r3, &err), 0);
	idx = load_index(out);
	assert_int_equal(json_array_size(json_object_get(idx, "manifests")), 2);
	assert_string_equal(ref_at(idx, 0), "1");
	assert_string_equal(ref_at(idx, 1), "2");
	json_t *m0 = json_array_get(json_object_get(idx, "manifests"), 0);
	json_t *m1 = json_array_get(json_object_get(idx, "manifests"), 1);
	assert_string_equal(json_string_value(json_object_get(m0, "digest")), r3.manifest_digest);
	assert_string_equal(json_string_value(json_object_get(m1, "digest")), r2.manifest_digest);
	json_decref(idx);
	/* the first image's blobs are still there (they are not ours to drop) */
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", out, r1.manifest_digest + 7);
	assert_int_equal(access(p, F_OK), 0);
	assert_false(leftovers());

	/* a stray file: refused, index.json unchanged */
	size_t before_len, after_len;
	snprintf(p, sizeof(p), "%s/index.json", out);
	unsigned char *before = slurp(p, &before_len);
	char stray[1200];
	snprintf(stray, sizeof(stray), "%s/notes.txt", out);
	FILE *f = fopen(stray, "w");
	fclose(f);
	c.tag = "svc:3";
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_OCI_DIR, out, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "not an OCI image layout"));
	assert_non_null(strstr(err.msg, "notes.txt"));
	unsigned char *after = slurp(p, &after_len);
	assert_int_equal(before_len, after_len);
	assert_memory_equal(before, after, before_len);
	free(after);
	unlink(stray);
	/* index.json that is not an index: refused */
	f = fopen(p, "w");
	fputs("{\"manifests\": {}}", f);
	fclose(f);
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_OCI_DIR, out, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "not an OCI image index"));
	f = fopen(p, "w");
	fwrite(before, 1, before_len, f);
	fclose(f);
	free(before);
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_OCI_DIR, out, NULL, &err), 0);
	idx = load_index(out);
	assert_int_equal(json_array_size(json_object_get(idx, "manifests")), 3);
	json_decref(idx);
}

/* Issue 8 item 6: temporaries of dead writers beside the output go, a
 * live writer's (it holds the lock) and look-alikes stay. */
static void test_stale_temporaries(void **state)
{
	char out[512], dead[600], live[600], other[600];
	struct mb_err err = {0};
	struct image_layer l[2];
	struct image_config c = cfg("svc:1");

	snprintf(dead, sizeof(dead), "%s/.x.tar.mkimage.tmp-abc123", tmpdir);
	snprintf(live, sizeof(live), "%s/.y.tar.mkimage.tmp-abc123", tmpdir);
	snprintf(other, sizeof(other), "%s/.x.tar.tmp-abc123", tmpdir);
	int fd = open(dead, O_WRONLY | O_CREAT, 0644);
	close(fd);
	fd = open(other, O_WRONLY | O_CREAT, 0644);
	close(fd);
	fd = open(live, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	/* flock is per open file: a second open (the sweeper's) cannot take it */
	pin(out, "x.tar");
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err), 0);
	assert_int_not_equal(access(dead, F_OK), 0);
	assert_int_equal(access(live, F_OK), 0);
	assert_int_equal(access(other, F_OK), 0);
	close(fd);
	assert_int_equal(image_write(&c, l, layers(l), IMAGE_FORMAT_ARCHIVE, out, NULL, &err), 0);
	assert_int_not_equal(access(live, F_OK), 0);
	unlink(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_archive_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deterministic_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_sparse_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_duplicate_member, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_temporaries, setup, teardown),
	};
	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for rootfs/: tree, host tree copy, skeleton, deterministic
 * tar layer and its gzip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <locale.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../rootfs/rootfs.h"

struct ent {
	char path[512];
	mode_t type, perm;
	int64_t uid, gid, mtime;
	bool named; /* a uname or gname was stored */
	char link[256];
	size_t size;
	unsigned char *data;
};

struct listing {
	struct ent e[4096];
	size_t n;
};

static char tmpdir[256];

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_rootfs.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void path_in(char *out, const char *rel)
{
	snprintf(out, 512, "%s/%s", tmpdir, rel);
}

static void write_file(const char *rel, const char *content, mode_t mode)
{
	char p[512];
	path_in(p, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
}

static void sha256_hex(const void *buf, size_t len, char out[72])
{
	unsigned char md[32];
	unsigned int l;
	assert_int_equal(EVP_Digest(buf, len, md, &l, EVP_sha256(), NULL), 1);
	strcpy(out, "sha256:");
	for (int i = 0; i < 32; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* Decompresses every gzip member of blob. */
static unsigned char *gunzip_all(const unsigned char *blob, size_t len, size_t *out_len, size_t *members)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	size_t cap = 1 << 20, n = 0, off = 0;
	unsigned char *out = malloc(cap);
	*members = 0;
	while (off < len) {
		size_t in_used = 0, got = 0;
		enum libdeflate_result r;
		for (;;) {
			r = libdeflate_gzip_decompress_ex(d, blob + off, len - off, out + n, cap - n, &in_used, &got);
			if (r != LIBDEFLATE_INSUFFICIENT_SPACE)
				break;
			cap *= 2;
			out = realloc(out, cap);
		}
		assert_int_equal(r, LIBDEFLATE_SUCCESS);
		off += in_used;
		n += got;
		(*members)++;
	}
	libdeflate_free_decompressor(d);
	*out_len = n;
	return out;
}

static void list_tar(const unsigned char *tar, size_t len, struct listing *l)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, tar, len), ARCHIVE_OK);
	l->n = 0;
	while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		struct ent *e = &l->e[l->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->path, sizeof(e->path), "%s", archive_entry_pathname(ae));
		e->type = archive_entry_filetype(ae);
		e->perm = archive_entry_perm(ae);
		e->uid = archive_entry_uid(ae);
		e->gid = archive_entry_gid(ae);
		e->mtime = archive_entry_mtime(ae);
		const char *un = archive_entry_uname(ae), *gn = archive_entry_gname(ae);
		e->named = (un && *un) || (gn && *gn);
		assert_false(archive_entry_atime_is_set(ae));
		assert_false(archive_entry_ctime_is_set(ae));
		if (archive_entry_symlink(ae))
			snprintf(e->link, sizeof(e->link), "%s", archive_entry_symlink(ae));
		e->size = (size_t)archive_entry_size(ae);
		if (e->type == AE_IFREG) {
			e->data = malloc(e->size + 1);
			assert_int_equal(archive_read_data(a, e->data, e->size), (ssize_t)e->size);
			e->data[e->size] = 0;
		}
	}
	archive_read_free(a);
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].data);
}

static const struct ent *find(const struct listing *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->e[i].path, path))
			return &l->e[i];
	return NULL;
}

static struct listing *layer_listing(const struct rootfs_layer *ly)
{
	size_t tl, members;
	unsigned char *tar = gunzip_all(ly->blob, ly->blob_len, &tl, &members);
	struct listing *l = calloc(1, sizeof(*l));
	assert_int_equal(tl, ly->tar_len);
	list_tar(tar, tl, l);
	free(tar);
	return l;
}

/* A small host tree with awkward modes and mtimes. */
static void make_host_tree(mode_t um, time_t mt)
{
	char p[512];
	mode_t old = umask(um);
	path_in(p, "src");
	mkdir(p, 0777);
	path_in(p, "src/sub");
	mkdir(p, 0777);
	write_file("src/a.txt", "alpha\n", 0664);
	write_file("src/sub/b.bin", "beta\n", 06775);
	write_file("src/z", "zeta\n", 0600);
	path_in(p, "src/sub/link");
	assert_int_equal(symlink("../a.txt", p), 0);
	umask(old);
	const char *files[] = { "src/a.txt", "src/sub/b.bin", "src/z", "src/sub", "src" };
	for (size_t i = 0; i < 5; i++) {
		struct timeval tv[2] = { { mt, 0 }, { mt, 0 } };
		path_in(p, files[i]);
		utimes(p, tv);
	}
}

static void test_determinism(void **state)
{
	char p[512];
	struct mb_err err = {0};
	struct rootfs_layer l1, l2;

	make_host_tree(022, 1000);
	struct rootfs_tree *t = rootfs_tree_new();
	path_in(p, "src");
	assert_int_equal(rootfs_add_host_tree(t, "/app", p, 0, 0, &err), 0);
	assert_int_equal(rootfs_layer_write(t, 42, &l1, &err), 0);
	rootfs_tree_free(t);

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/src'", tmpdir);
	assert_int_equal(system(cmd), 0);
	make_host_tree(077, 99999);
	/* same modes again (umask 077 would hide bits we set with chmod: restore) */
	write_file("src/a.txt", "alpha\n", 0664);
	write_file("src/sub/b.bin", "beta\n", 06775);
	path_in(p, "src");
	chmod(p, 0755);
	path_in(p, "src/sub");
	chmod(p, 0755);
	t = rootfs_tree_new();
	path_in(p, "src");
	assert_int_equal(rootfs_add_host_tree(t, "/app", p, 0, 0, &err), 0);
	assert_int_equal(rootfs_layer_write(t, 42, &l2, &err), 0);
	rootfs_tree_free(t);

	assert_int_equal(l1.blob_len, l2.blob_len);
	assert_memory_equal(l1.blob, l2.blob, l1.blob_len);
	assert_string_equal(l1.digest, l2.digest);
	assert_string_equal(l1.diff_id, l2.diff_id);
	rootfs_layer_free(&l1);
	rootfs_layer_free(&l2);
}

static void test_tar_contents(void **state)
{
	char p[512];
	struct mb_err err = {0};
	struct rootfs_layer ly;

	make_host_tree(022, 1000);
	struct rootfs_tree *t = rootfs_tree_new();
	path_in(p, "src");
	assert_int_equal(rootfs_add_host_tree(t, "/app", p, 65532, 65532, &err), 0);
	assert_int_equal(rootfs_add_data(t, "/a-b", "x", 1, 04755, 7, 8, &err), 0);
	assert_int_equal(rootfs_add_symlink(t, "/usr/bin/x", "/app/a.txt", &err), 0);
	assert_int_equal(rootfs_layer_write(t, 1234567, &ly, &err), 0);
	struct listing *l = layer_listing(&ly);

	const char *order[] = { "a-b", "app/", "app/a.txt", "app/sub/", "app/sub/b.bin", "app/sub/link",
	                        "app/z", "usr/", "usr/bin/", "usr/bin/x" };
	/* component-wise order would put "app" before "a-b"? No: 'a-b' vs 'app':
	 * '-' < 'p', so a-b first; what matters is parents before children. */
	assert_int_equal(l->n, 10);
	for (size_t i = 0; i < l->n; i++) {
		assert_string_equal(l->e[i].path, order[i]);
		assert_int_equal(l->e[i].mtime, 1234567);
		assert_false(l->e[i].named);
		assert_int_equal(l->e[i].perm & (S_ISUID | S_ISGID), 0);
	}
	const struct ent *e = find(l, "app/a.txt");
	assert_int_equal(e->perm, 0644); /* group write dropped */
	assert_int_equal(e->uid, 65532);
	assert_int_equal(e->gid, 65532);
	assert_string_equal((char *)e->data, "alpha\n");
	e = find(l, "app/sub/b.bin");
	assert_int_equal(e->perm, 0755); /* setuid/setgid/group write dropped */
	e = find(l, "app/z");
	assert_int_equal(e->perm, 0644); /* normalised: readable by the service */
	e = find(l, "app/sub/link");
	assert_int_equal(e->type, AE_IFLNK);
	assert_string_equal(e->link, "../a.txt");
	e = find(l, "a-b");
	assert_int_equal(e->perm, 0755);
	assert_int_equal(e->uid, 7);
	assert_int_equal(e->gid, 8);
	e = find(l, "usr/");
	assert_int_equal(e->type, AE_IFDIR);
	assert_int_equal(e->perm, 0755);
	assert_int_equal(e->uid, 0);
	listing_free(l);
	free(l);
	rootfs_layer_free(&ly);
	rootfs_tree_free(t);
}

static void test_gzip_and_digests(void **state)
{
	char hex[72];
	struct mb_err err = {0};
	struct rootfs_layer ly, ly2;
	size_t big = 3u << 20, tl, members;
	unsigned char *data = malloc(big);
	uint32_t x = 12345;

	/* compressible but not trivial, bigger than several gzip chunks */
	for (size_t i = 0; i < big; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)("abcdefgh"[(x >> 16) & 7]);
	}
	struct rootfs_tree *t = rootfs_tree_new();
	assert_int_equal(rootfs_add_data(t, "/big", data, big, 0644, 0, 0, &err), 0);
	assert_int_equal(rootfs_layer_write(t, 0, &ly, &err), 0);
	assert_int_equal(rootfs_layer_write(t, 0, &ly2, &err), 0);
	assert_memory_equal(ly.blob, ly2.blob, ly.blob_len);

	/* gzip header: magic, deflate, no flags (no FNAME), MTIME 0, OS fixed */
	const unsigned char *b = ly.blob;
	assert_int_equal(b[0], 0x1f);
	assert_int_equal(b[1], 0x8b);
	assert_int_equal(b[2], 8);
	assert_int_equal(b[3], 0);
	assert_int_equal(b[4] | b[5] | b[6] | b[7], 0);
	assert_int_equal(b[9], 0xff);

	sha256_hex(ly.blob, ly.blob_len, hex);
	assert_string_equal(hex, ly.digest);
	unsigned char *tar = gunzip_all(ly.blob, ly.blob_len, &tl, &members);
	assert_true(members > 1);
	assert_int_equal(tl, ly.tar_len);
	sha256_hex(tar, tl, hex);
	assert_string_equal(hex, ly.diff_id);
	struct listing *l = calloc(1, sizeof(*l));
	list_tar(tar, tl, l);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->e[0].size, big);
	assert_memory_equal(l->e[0].data, data, big);
	assert_true(ly.blob_len < big / 2);
	listing_free(l);
	free(l);
	free(tar);
	free(data);
	rootfs_layer_free(&ly);
	rootfs_layer_free(&ly2);
	rootfs_tree_free(t);
}

/* Many layers in one pool give exactly the bytes of one call each. */
static void test_layers_write_many(void **state)
{
	struct mb_err err = {0};
	struct rootfs_layer one[3], many[3];
	struct rootfs_tree *t[3];
	size_t big = 700000;
	unsigned char *data = malloc(big);

	for (size_t i = 0; i < big; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 9));
	for (int k = 0; k < 3; k++) {
		t[k] = rootfs_tree_new();
		assert_int_equal(rootfs_add_data(t[k], "/f", data, big / (size_t)(k + 1), 0644, 0, 0, &err), 0);
		assert_int_equal(rootfs_layer_write(t[k], 5, &one[k], &err), 0);
	}
	assert_int_equal(rootfs_layers_write((const struct rootfs_tree *const *)t, 3, 5, many, &err), 0);
	for (int k = 0; k < 3; k++) {
		assert_string_equal(one[k].digest, many[k].digest);
		assert_string_equal(one[k].diff_id, many[k].diff_id);
		assert_int_equal(one[k].blob_len, many[k].blob_len);
		assert_memory_equal(one[k].blob, many[k].blob, one[k].blob_len);
		assert_int_equal(one[k].tar_len, many[k].tar_len);
		rootfs_layer_free(&one[k]);
		rootfs_layer_free(&many[k]);
		rootfs_tree_free(t[k]);
	}
	assert_int_equal(rootfs_layers_write(NULL, 0, 0, many, &err), -1);
	free(data);
}

/* Files of awkward sizes around the gzip chunk size: the tar made of
 * referenced file contents and copied headers must still be exact. */
static void test_chunk_boundaries(void **state)
{
	char hex[72], path[64];
	struct mb_err err = {0};
	static const size_t sizes[] = { 262144 - 512, 1, 262144, 300001, 0, 511, 524288 + 7, 4096 };
	const size_t n = sizeof(sizes) / sizeof(sizes[0]);
	struct rootfs_layer ly;
	size_t tl, members;
	struct rootfs_tree *t = rootfs_tree_new();
	unsigned char *bufs[8];

	for (size_t k = 0; k < n; k++) {
		bufs[k] = malloc(sizes[k] + 1);
		for (size_t i = 0; i < sizes[k]; i++)
			bufs[k][i] = (unsigned char)(k * 31 + i * 13 + (i >> 11));
		snprintf(path, sizeof(path), "/d/f%zu", k);
		assert_int_equal(rootfs_add_data(t, path, bufs[k], sizes[k], 0644, 0, 0, &err), 0);
	}
	assert_int_equal(rootfs_layer_write(t, 0, &ly, &err), 0);
	unsigned char *tar = gunzip_all(ly.blob, ly.blob_len, &tl, &members);
	assert_int_equal(tl, ly.tar_len);
	sha256_hex(tar, tl, hex);
	assert_string_equal(hex, ly.diff_id);
	sha256_hex(ly.blob, ly.blob_len, hex);
	assert_string_equal(hex, ly.digest);
	struct listing *l = calloc(1, sizeof(*l));
	list_tar(tar, tl, l);
	assert_int_equal(l->n, n + 1);
	for (size_t k = 0; k < n; k++) {
		snprintf(path, sizeof(path), "d/f%zu", k);
		const struct ent *e = find(l, path);
		assert_non_null(e);
		assert_int_equal(e->size, sizes[k]);
		if (sizes[k])
			assert_memory_equal(e->data, bufs[k], sizes[k]);
		free(bufs[k]);
	}
	listing_free(l);
	free(l);
	free(tar);
	rootfs_layer_free(&ly);
	rootfs_tree_free(t);
}

/* Non-ASCII names give the same bytes whatever the process locale. */
static void test_locale_independent(void **state)
{
	char d1[72];
	struct mb_err err = {0};
	struct rootfs_layer ly;
	struct rootfs_tree *t = rootfs_tree_new();

	assert_int_equal(rootfs_add_data(t, "/app/caf\xc3\xa9.txt", "x", 1, 0644, 0, 0, &err), 0);
	assert_int_equal(rootfs_add_symlink(t, "/app/\xe2\x82\xac", "caf\xc3\xa9.txt", &err), 0);
	assert_int_equal(rootfs_layer_write(t, 0, &ly, &err), 0);
	strcpy(d1, ly.digest);
	rootfs_layer_free(&ly);
	if (setlocale(LC_ALL, "C.UTF-8")) {
		assert_int_equal(rootfs_layer_write(t, 0, &ly, &err), 0);
		assert_string_equal(d1, ly.digest);
		rootfs_layer_free(&ly);
		setlocale(LC_ALL, "C");
	}
	rootfs_tree_free(t);
}

/* A fifo named as a host file (an --add file, the init, --ca-file) is
 * refused at once, not waited on for a writer that never comes; alarm()
 * turns a hang into a failure. */
static void test_host_file_fifo(void **state)
{
	char fifo[512];
	struct mb_err err = {0};
	struct rootfs_tree *t = rootfs_tree_new();
	struct rootfs_skeleton_opts o = { 65532, 65532, "1", NULL, NULL, false };

	alarm(10);
	path_in(fifo, "fifo");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	assert_int_equal(rootfs_add_host_file(t, "/x", fifo, 0644, 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	o.extra_ca = fifo;
	assert_int_equal(rootfs_add_skeleton(t, &o, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	o.extra_ca = NULL;
	o.ca_bundle = fifo;
	assert_int_equal(rootfs_add_skeleton(t, &o, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	alarm(0);
	rootfs_tree_free(t);
}

/* Writes len bytes to the one entry of cache/layers. */
static void cache_plant(const char *cache, const unsigned char *p, size_t len)
{
	char cmd[700], path[1024] = "";
	snprintf(cmd, sizeof(cmd), "ls -d '%s'/layers/*", cache);
	FILE *ls = popen(cmd, "r");
	assert_non_null(ls);
	assert_non_null(fgets(path, sizeof(path), ls));
	pclose(ls);
	path[strcspn(path, "\n")] = '\0';
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A planted cache entry that decompresses to exactly the right tar but is
 * not what the compressor makes (a file name and an extra field in a member
 * header, or other member boundaries) must be a miss: it would otherwise
 * change the image's digest and carry its own bytes into the image. */
static void test_layer_cache_planted(void **state)
{
	char cache[512];
	struct mb_err err = {0};
	struct rootfs_layer a, c;
	struct rootfs_tree *t = rootfs_tree_new();
	const struct rootfs_tree *tt[1] = { t };

	assert_int_equal(rootfs_add_skeleton(t, NULL, &err), 0);
	path_in(cache, "cache");
	assert_int_equal(rootfs_layers_write(tt, 1, 0, &a, &err), 0);
	assert_int_equal(rootfs_layers_write_cached(tt, 1, 0, cache, &c, &err), 0);
	assert_memory_equal(a.blob, c.blob, a.blob_len);
	rootfs_layer_free(&c);

	/* 1: FLG.FEXTRA and FLG.FNAME set, with bytes of our own, in member 1 */
	static const char extra[] = "\x08\x00" "PLANTED!", name[] = "evil";
	size_t plen = a.blob_len + sizeof(extra) - 1 + sizeof(name);
	unsigned char *p = malloc(plen), *q = p;
	memcpy(q, a.blob, 10);
	q[3] = 0x04 | 0x08;
	q += 10;
	memcpy(q, extra, sizeof(extra) - 1);
	q += sizeof(extra) - 1;
	memcpy(q, name, sizeof(name));
	q += sizeof(name);
	memcpy(q, a.blob + 10, a.blob_len - 10);
	cache_plant(cache, p, plen);
	free(p);
	assert_int_equal(rootfs_layers_write_cached(tt, 1, 0, cache, &c, &err), 0);
	assert_string_equal(c.digest, a.digest);
	assert_memory_equal(a.blob, c.blob, a.blob_len);
	rootfs_layer_free(&c);

	/* 2: the same tar as two members split elsewhere, then an empty one */
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	unsigned char *tar = malloc(a.tar_len);
	size_t off = 0, got = 0;
	while (off < a.blob_len) {
		size_t used, n;
		assert_int_equal(libdeflate_gzip_decompress_ex(d, a.blob + off, a.blob_len - off, tar + got,
		                                               a.tar_len - got, &used, &n), LIBDEFLATE_SUCCESS);
		off += used;
		got += n;
	}
	assert_int_equal(got, a.tar_len);
	libdeflate_free_decompressor(d);
	struct libdeflate_compressor *z = libdeflate_alloc_compressor(6);
	size_t cap = 3 * libdeflate_gzip_compress_bound(z, a.tar_len) + 64, n1, n2, n3;
	p = malloc(cap);
	n1 = libdeflate_gzip_compress(z, tar, 1000, p, cap);
	n2 = libdeflate_gzip_compress(z, tar + 1000, a.tar_len - 1000, p + n1, cap - n1);
	n3 = libdeflate_gzip_compress(z, "", 0, p + n1 + n2, cap - n1 - n2);
	assert_true(n1 && n2 && n3);
	libdeflate_free_compressor(z);
	cache_plant(cache, p, n1 + n2 + n3);
	free(p);
	free(tar);
	assert_int_equal(rootfs_layers_write_cached(tt, 1, 0, cache, &c, &err), 0);
	assert_string_equal(c.digest, a.digest);
	assert_memory_equal(a.blob, c.blob, a.blob_len);
	rootfs_layer_free(&c);
	rootfs_layer_free(&a);
	rootfs_tree_free(t);
}

/* The layer cache: a miss stores, a hit gives the same bytes, a damaged
 * entry is ignored, an unusable cache never fails the write. */
static void test_layer_cache(void **state)
{
	char cache[512], cmd[1200];
	struct mb_err err = {0};
	struct rootfs_layer a[2], b[2], c[2];
	struct rootfs_tree *t[2] = { rootfs_tree_new(), rootfs_tree_new() };
	size_t big = 5u << 20;
	unsigned char *data = malloc(big);

	for (size_t i = 0; i < big; i++)
		data[i] = (unsigned char)((i * 2654435761u) >> 13);
	assert_int_equal(rootfs_add_skeleton(t[0], NULL, &err), 0);
	assert_int_equal(rootfs_add_data(t[1], "/app/big", data, big, 0755, 0, 0, &err), 0);
	path_in(cache, "cache/minbase");
	const struct rootfs_tree *const *tt = (const struct rootfs_tree *const *)t;

	assert_int_equal(rootfs_layers_write(tt, 2, 0, a, &err), 0);
	assert_int_equal(rootfs_layers_write_cached(tt, 2, 0, cache, b, &err), 0);
	/* exactly one entry: the small base, not the big layer */
	snprintf(cmd, sizeof(cmd), "test $(ls '%s/layers' | wc -l) -eq 1", cache);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rootfs_layers_write_cached(tt, 2, 0, cache, c, &err), 0);
	for (int k = 0; k < 2; k++) {
		assert_string_equal(a[k].digest, b[k].digest);
		assert_string_equal(a[k].digest, c[k].digest);
		assert_string_equal(a[k].diff_id, c[k].diff_id);
		assert_int_equal(a[k].blob_len, c[k].blob_len);
		assert_int_equal(a[k].tar_len, c[k].tar_len);
		assert_memory_equal(a[k].blob, c[k].blob, a[k].blob_len);
		rootfs_layer_free(&b[k]);
		rootfs_layer_free(&c[k]);
	}
	/* damage the entry: still the right bytes (recompressed) */
	snprintf(cmd, sizeof(cmd), "for f in '%s'/layers/*; do printf 'garbage' > \"$f\"; done", cache);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rootfs_layers_write_cached(tt, 2, 0, cache, c, &err), 0);
	assert_memory_equal(a[0].blob, c[0].blob, a[0].blob_len);
	rootfs_layer_free(&c[0]);
	rootfs_layer_free(&c[1]);
	snprintf(cmd, sizeof(cmd), "! grep -q garbage '%s'/layers/*", cache); /* repaired */
	assert_int_equal(system(cmd), 0);
	/* a cache path that cannot be a directory */
	path_in(cache, "cachefile");
	FILE *f = fopen(cache, "w");
	fclose(f);
	assert_int_equal(rootfs_layers_write_cached(tt, 2, 0, cache, c, &err), 0);
	assert_string_equal(a[0].digest, c[0].digest);
	for (int k = 0; k < 2; k++) {
		rootfs_layer_free(&a[k]);
		rootfs_layer_free(&c[k]);
		rootfs_tree_free(t[k]);
	}
	free(data);
}

static void test_empty_layer(void **state)
{
	struct mb_err err = {0};
	struct rootfs_layer ly;
	size_t tl, members;
	struct rootfs_tree *t = rootfs_tree_new();

	assert_int_equal(rootfs_layer_write(t, 0, &ly, &err), 0);
	unsigned char *tar = gunzip_all(ly.blob, ly.blob_len, &tl, &members);
	assert_int_equal(tl, 1024); /* two zero blocks */
	free(tar);
	rootfs_layer_free(&ly);
	assert_int_equal(rootfs_layer_write(t, -1, &ly, &err), -1);
	assert_non_null(strstr(err.msg, "SOURCE_DATE_EPOCH"));
	rootfs_tree_free(t);
}

static void test_skeleton(void **state)
{
	struct mb_err err = {0};
	struct rootfs_layer ly;
	struct rootfs_skeleton_opts o = { 65532, 65532, "9.8.7", NULL, NULL, false };
	struct rootfs_tree *t = rootfs_tree_new();

	assert_int_equal(rootfs_add_skeleton(t, &o, &err), 0);
	assert_int_equal(rootfs_layer_write(t, 0, &ly, &err), 0);
	struct listing *l = layer_listing(&ly);
	const struct ent *e = find(l, "etc/passwd");
	assert_non_null(e);
	assert_non_null(strstr((char *)e->data, "root:x:0:0:root:/root:/sbin/nologin\n"));
	assert_non_null(strstr((char *)e->data, "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"));
	assert_non_null(strstr((char *)e->data, "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"));
	e = find(l, "etc/group");
	for (const char *g = "root:x:0:\0tty:x:5:\0staff:x:50:\0nonroot:x:65532:\0nobody:x:65534:\0"; *g; g += strlen(g) + 1)
		assert_non_null(strstr((char *)e->data, g));
	assert_non_null(strstr((char *)find(l, "etc/nsswitch.conf")->data, "hosts:          files dns\n"));
	e = find(l, "etc/os-release");
	assert_non_null(strstr((char *)e->data, "ID=minbase\n"));
	assert_non_null(strstr((char *)e->data, "VERSION_ID=\"9.8.7\"\n"));
	e = find(l, "tmp/");
	assert_int_equal(e->perm, 01777);
	e = find(l, "home/nonroot/");
	assert_int_equal(e->perm, 0700);
	assert_int_equal(e->uid, 65532);
	assert_int_equal(e->gid, 65532);
	e = find(l, "root/");
	assert_int_equal(e->perm, 0700);
	assert_int_equal(e->uid, 0);
	e = find(l, "etc/ssl/certs/ca-certificates.crt");
	assert_non_null(e);
	FILE *f = fopen("/etc/ssl/certs/ca-certificates.crt", "r");
	assert_non_null(f);
	unsigned char *host = malloc(e->size + 1);
	assert_int_equal(fread(host, 1, e->size + 1, f), e->size);
	fclose(f);
	assert_memory_equal(host, e->data, e->size);
	free(host);
	for (size_t i = 0; i < l->n; i++) {
		assert_int_equal(l->e[i].perm & (S_ISUID | S_ISGID), 0);
		assert_null(strstr(l->e[i].path, "zoneinfo"));
		assert_null(strstr(l->e[i].path, "bin/sh"));
	}
	listing_free(l);
	free(l);
	rootfs_layer_free(&ly);
	rootfs_tree_free(t);

	/* a missing CA bundle is an error naming it */
	o.ca_bundle = "/nonexistent/ca.pem";
	t = rootfs_tree_new();
	assert_int_equal(rootfs_add_skeleton(t, &o, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/ca.pem"));
	rootfs_tree_free(t);
}

static void test_skeleton_tzdata(void **state)
{
	struct mb_err err = {0};
	struct rootfs_layer ly;
	struct rootfs_skeleton_opts o = { 0, 0, "1", NULL, NULL, true };
	struct rootfs_tree *t = rootfs_tree_new();

	if (access("/usr/share/zoneinfo/UTC", F_OK) != 0) {
		fprintf(stderr, "SKIP: tzdata is not installed (/usr/share/zoneinfo/UTC missing)\n");
		skip();
	}
	assert_int_equal(rootfs_add_skeleton(t, &o, &err), 0);
	assert_int_equal(rootfs_layer_write(t, 0, &ly, &err), 0);
	struct listing *l = layer_listing(&ly);
	assert_non_null(find(l, "usr/share/zoneinfo/"));
	assert_non_null(find(l, "usr/share/zoneinfo/Europe/"));
	bool some_link = false;
	for (size_t i = 0; i < l->n; i++) {
		assert_null(strstr(l->e[i].path, "zoneinfo/posix/"));
		assert_null(strstr(l->e[i].path, "zoneinfo/right/"));
		assert_string_not_equal(l->e[i].path, "usr/share/zoneinfo/localtime");
		if (l->e[i].type == AE_IFLNK) {
			some_link = true;
			assert_true(l->e[i].link[0] != '/');
		}
	}
	assert_true(some_link);
	/* default nonroot ids when 0 is given */
	assert_int_equal(find(l, "home/nonroot/")->uid, 65532);
	listing_free(l);
	free(l);
	rootfs_layer_free(&ly);
	rootfs_tree_free(t);
}

static void test_host_tree_refusals(void **state)
{
	char p[512], q[512];
	struct mb_err err = {0};
	struct rootfs_tree *t;

	path_in(p, "esc");
	mkdir(p, 0755);
	path_in(q, "esc/out");
	assert_int_equal(symlink("../../../../../../etc/passwd", q), 0);
	t = rootfs_tree_new();
	assert_int_equal(rootfs_add_host_tree(t, "/app", p, 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, "esc/out"));
	assert_non_null(strstr(err.msg, "leaves the image root"));
	rootfs_tree_free(t);

	/* a symlinked directory is kept as a link, never followed */
	path_in(p, "lnk");
	mkdir(p, 0755);
	path_in(q, "lnk/etc");
	assert_int_equal(symlink("/etc", q), 0);
	t = rootfs_tree_new();
	assert_int_equal(rootfs_add_host_tree(t, "/app", p, 0, 0, &err), 0);
	assert_int_equal(rootfs_tree_count(t), 2); /* /app, /app/etc */
	rootfs_tree_free(t);

	/* fifo refused with its path */
	path_in(p, "ff");
	mkdir(p, 0755);
	path_in(q, "ff/pipe");
	assert_int_equal(mkfifo(q, 0644), 0);
	t = rootfs_tree_new();
	assert_int_equal(rootfs_add_host_tree(t, "/app", p, 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, "ff/pipe"));
	assert_non_null(strstr(err.msg, "fifo"));
	rootfs_tree_free(t);

	/* `..` in a destination, relative destinations */
	t = rootfs_tree_new();
	path_in(p, "lnk");
	assert_int_equal(rootfs_add_host_tree(t, "/app/../../x", p, 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, ".."));
	assert_int_equal(rootfs_add_data(t, "etc/x", "a", 1, 0644, 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, "absolute"));
	assert_int_equal(rootfs_add_host_file(t, "/x", "/nonexistent/file", 0755, 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/file"));
	assert_int_equal(rootfs_add_host_file(t, "/x", "/etc", 0755, 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, "directory"));
	assert_int_equal(rootfs_add_host_tree(t, "/x", "/etc/passwd", 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, "not a directory"));
	rootfs_tree_free(t);
}

static void test_tree_rules(void **state)
{
	struct mb_err err = {0};
	struct rootfs_tree *t = rootfs_tree_new();

	assert_int_equal(rootfs_add_data(t, "//etc///passwd/", "a", 1, 0644, 0, 0, &err), 0);
	assert_int_equal(rootfs_tree_count(t), 2);
	assert_int_equal(rootfs_add_data(t, "/etc/passwd", "b", 1, 0644, 0, 0, &err), 0);
	assert_int_equal(rootfs_tree_count(t), 2); /* replaced */
	assert_int_equal(rootfs_add_data(t, "/etc/passwd/x", "b", 1, 0644, 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, "not a directory"));
	assert_int_equal(rootfs_add_data(t, "/etc", "b", 1, 0644, 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, "directory with entries"));
	assert_int_equal(rootfs_add_dir(t, "/etc", 0700, 0, 0, &err), 0); /* keeps children */
	assert_int_equal(rootfs_tree_count(t), 2);
	assert_int_equal(rootfs_add_dir(t, "/", 0755, 0, 0, &err), 0);
	assert_int_equal(rootfs_tree_count(t), 2);
	assert_int_equal(rootfs_add_symlink(t, "/bin", "usr/bin", &err), 0);
	char *owned = strdup("owned by the tree");
	assert_int_equal(rootfs_add_buffer(t, "/etc/owned", owned, strlen(owned), 0644, 0, 0, &err), 0);
	owned = strdup("freed on failure too");
	assert_int_equal(rootfs_add_buffer(t, "relative", owned, strlen(owned), 0644, 0, 0, &err), -1);
	assert_int_equal(rootfs_add_symlink(t, "/x", "", &err), -1);
	assert_int_equal(rootfs_add_data(t, "/bad\xff\xfe", "x", 1, 0644, 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, "UTF-8"));
	assert_int_equal(rootfs_add_symlink(t, "/lnk", "\xc0\xaf", &err), -1);
	assert_non_null(strstr(err.msg, "UTF-8"));
	rootfs_tree_free(t);
}

/* ---- the bytes of the former in-memory writer ----------------------------
 * Digests recorded from a real run of the in-memory writer (main at
 * 4905441, before the streaming writer; libdeflate 1.14, Debian 12): the
 * streaming writer must give exactly these bytes for the same trees.  The
 * trees are made here from generated content (no host file whose version
 * could vary), around every size that shapes the bytes: the gzip chunk
 * (256 KiB), the small-layer level threshold (tar of 512 KiB), pax records
 * (long names and link targets), empty files and empty trees. */
static uint64_t rng_state;

static void fill(unsigned char *p, size_t n, uint64_t seed, int kind)
{
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 7;
		rng_state ^= rng_state << 17;
		/* kind 0: random bytes; 1: text-like (compressible) */
		p[i] = kind ? (unsigned char)("the quick brown fox jumps over a lazy dog\n"[rng_state % 42])
		            : (unsigned char)(rng_state >> 24);
	}
}

static void golden_host_file(const char *rel, size_t n, uint64_t seed, int kind, mode_t mode)
{
	char p[512];
	unsigned char *b = malloc(n ? n : 1);
	fill(b, n, seed, kind);
	path_in(p, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(p, mode), 0);
	free(b);
}

#define GOLDEN_N 8
/* Builds golden tree k (host files under tmpdir/g). */
static struct rootfs_tree *golden_tree(int k)
{
	char p[512], q[512];
	struct mb_err err = {0};
	struct rootfs_tree *t = rootfs_tree_new();
	unsigned char *b;
	static const size_t sizes[] = { 0, 1, 511, 512, 513, 262144 - 512, 262144, 262145, 300001, 524288 + 7 };

	switch (k) {
	case 0: /* empty */
		break;
	case 1: { /* the base: skeleton with a fixed CA bundle */
		golden_host_file("ca.pem", 200000, 11, 1, 0644);
		path_in(p, "ca.pem");
		struct rootfs_skeleton_opts o = { 65532, 65532, "0.1.0", p, NULL, false };
		assert_int_equal(rootfs_add_skeleton(t, &o, &err), 0);
		golden_host_file("init", 120000, 12, 0, 0755);
		path_in(p, "init");
		assert_int_equal(rootfs_add_host_file(t, "/usr/bin/minbase-init", p, 0755, 0, 0, &err), 0);
		break;
	}
	case 2: /* tar exactly 512 KiB: the last size at the small level */
		b = malloc(522752);
		fill(b, 522752, 21, 1);
		assert_int_equal(rootfs_add_data(t, "/f", b, 522752, 0644, 0, 0, &err), 0);
		free(b);
		break;
	case 3: /* one block more: the big level */
		b = malloc(523264);
		fill(b, 523264, 21, 1);
		assert_int_equal(rootfs_add_data(t, "/f", b, 523264, 0644, 0, 0, &err), 0);
		free(b);
		break;
	case 4: /* a host tree: files around the chunk size, pax names, links */
		path_in(p, "g");
		mkdir(p, 0755);
		path_in(p, "g/sub");
		mkdir(p, 0700);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			snprintf(q, sizeof(q), "g/%sf%zu", i & 1 ? "sub/" : "", i);
			golden_host_file(q, sizes[i], 40 + i, (int)(i % 2), i % 3 ? 0644 : 0755);
		}
		snprintf(q, sizeof(q), "g/sub/%0150d", 7); /* a name that needs a pax record */
		golden_host_file(q, 1000, 50, 1, 0600);
		path_in(p, "g/sub/link");
		assert_int_equal(symlink("../f0", p), 0);
		memset(q, 'x', 200);
		q[200] = '\0';
		path_in(p, "g/longlink");
		assert_int_equal(symlink(q, p), 0);
		path_in(p, "g");
		assert_int_equal(rootfs_add_host_tree(t, "/app/data", p, 0, 0, &err), 0);
		assert_int_equal(rootfs_add_dir(t, "/var/lib/w", 0755, 65532, 65532, &err), 0);
		break;
	case 5: /* 3 MiB compressible + 2 MiB random, as host files */
		golden_host_file("text", 3u << 20, 60, 1, 0644);
		golden_host_file("rand", 2u << 20, 61, 0, 0755);
		path_in(p, "text");
		assert_int_equal(rootfs_add_host_file(t, "/app/text", p, 0644, 0, 0, &err), 0);
		path_in(p, "rand");
		assert_int_equal(rootfs_add_host_file(t, "/app/server", p, 0755, 0, 0, &err), 0);
		break;
	case 6: /* many small files in nested directories */
		for (int i = 0; i < 3000; i++) {
			char d[64];
			unsigned char c[64];
			snprintf(d, sizeof(d), "/srv/d%02d/e%d/file%04d.txt", i % 17, i % 5, i);
			size_t n = (size_t)(i % 61);
			fill(c, n, 70 + (uint64_t)i, 1);
			assert_int_equal(rootfs_add_data(t, d, c, n, 0644, 0, 0, &err), 0);
		}
		break;
	case 7: /* data added from memory and a buffer, a file replaced */
		b = malloc(700001);
		fill(b, 700001, 80, 0);
		assert_int_equal(rootfs_add_data(t, "/app/x", b, 700001, 0755, 0, 0, &err), 0);
		assert_int_equal(rootfs_add_buffer(t, "/app/x", b, 300000, 0755, 0, 0, &err), 0);
		assert_int_equal(rootfs_add_data(t, "/etc/minbase/seccomp.bpf", "\x20\0\0\0", 4, 0644, 0, 0, &err), 0);
		assert_int_equal(rootfs_add_symlink(t, "/bin", "usr/bin", &err), 0);
		break;
	}
	return t;
}

struct golden {
	const char *digest, *diff_id;
	size_t blob_len, tar_len;
};

static const struct golden golden[GOLDEN_N] = {
	{ "sha256:62539018952ddec37a4fcf8d77171cfbcd5b21fc3520f32028cd9cfdae546a31", "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef", 28, 1024 },
	{ "sha256:8cfe53511c537acce6be2d93441fbf1394e2f49234660c4c7373d94b7954a614", "sha256:5157d4b99211ecf86bf01d81ed18e0df650389b13e17f14888c8193ab1415a9b", 236166, 331264 },
	{ "sha256:e0c8d1ae3076f908186e92cceb3cdd3b2e0774e5f14bd8502f95b1f395e7d1b9", "sha256:e304cd6fa4428d9fc7399934f24ba1ca61e11037fa9ca7fa1e2e0ab2ca5cb173", 299823, 524288 },
	{ "sha256:7d76e3d9421dcd1cacbd3c77d15a7ef74c45b722c065013f3f072d06416d29aa", "sha256:a5691ace044c2d215d3cf41ad34cce0256ac3d1fe7ef8aa7513918968a640d0a", 300027, 524800 },
	{ "sha256:79015119c5900afea1563e821e1a9d0bf79ba6e0f943c51b9c332e70697127df", "sha256:f70c69d4007d272895435b9be74d590bba9c78032f3d311373ef7c7a81e62529", 1166516, 1627648 },
	{ "sha256:276b57f562087420f363658e2752562a4315c3d89dcb43c099853798861da8f8", "sha256:6109f1906ec81fd7deaf5f3b0be1e32a4d7bd9b07dffbf96b4d3445f11c7eeb6", 3916149, 5245440 },
	{ "sha256:b6f836f71fec002421f20548a11e6e57a2768e92d38893c96ce42cfc2924c111", "sha256:3f9a45add96ca2b909d771b4c602d335428d0387f2e3abe327b4ea5e82cd786c", 113729, 3100160 },
	{ "sha256:56d12f9f47d019e415289a5767ea9e6034c4055b569cc47da985c544bab9c59a", "sha256:d25aa74f811657fde731c28cf8a891b747661289494dda8c3c1aafafb3d3212d", 300545, 304640 },
};

static void test_golden_bytes(void **state)
{
	struct mb_err err = {0};
	bool print = getenv("GOLDEN_PRINT") != NULL;

	if (strcmp(LIBDEFLATE_VERSION_STRING, "1.14") != 0 && !print) {
		fprintf(stderr, "SKIP: the recorded bytes are libdeflate 1.14's (this is %s)\n",
		        LIBDEFLATE_VERSION_STRING);
		skip();
	}
	for (int k = 0; k < GOLDEN_N; k++) {
		struct rootfs_layer ly;
		struct rootfs_tree *t = golden_tree(k);
		assert_int_equal(rootfs_layer_write(t, 1000 * k, &ly, &err), 0);
		if (print)
			printf("\t{ \"%s\", \"%s\", %zu, %llu },\n", ly.digest, ly.diff_id, ly.blob_len,
			       (unsigned long long)ly.tar_len);
		else {
			assert_string_equal(ly.digest, golden[k].digest);
			assert_string_equal(ly.diff_id, golden[k].diff_id);
			assert_int_equal(ly.blob_len, golden[k].blob_len);
			assert_int_equal(ly.tar_len, golden[k].tar_len);
		}
		rootfs_layer_free(&ly);
		rootfs_tree_free(t);
	}
}

/* A host file is read when the layer is written: one that changed since it
 * was added (grown, shrunk, replaced) fails the write, naming it, instead
 * of giving a tar whose header and contents disagree. */
static void test_host_file_changed_after_add(void **state)
{
	char p[512], q[512];
	struct mb_err err = {0};
	struct rootfs_layer ly;

	path_in(p, "f");
	for (int k = 0; k < 4; k++) {
		golden_host_file("f", 300000, 90, 0, 0644);
		struct rootfs_tree *t = rootfs_tree_new();
		assert_int_equal(rootfs_add_host_file(t, "/data/f", p, 0644, 0, 0, &err), 0);
		if (k == 0) { /* grown */
			FILE *f = fopen(p, "a");
			fputc('x', f);
			fclose(f);
		} else if (k == 1) { /* shrunk */
			assert_int_equal(truncate(p, 1000), 0);
		} else if (k == 2) { /* replaced by another file of the same size */
			golden_host_file("g", 300000, 91, 0, 0644);
			path_in(q, "g");
			assert_int_equal(rename(q, p), 0);
		} else { /* a directory tree: a file in it grows */
			path_in(q, "tree");
			mkdir(q, 0755);
			golden_host_file("tree/inner", 5000, 92, 1, 0644);
			assert_int_equal(rootfs_add_host_tree(t, "/tree", q, 0, 0, &err), 0);
			path_in(q, "tree/inner");
			assert_int_equal(truncate(q, 6000), 0);
		}
		memset(&ly, 0, sizeof(ly));
		assert_int_equal(rootfs_layer_write(t, 0, &ly, &err), -1);
		assert_null(ly.blob);
		assert_non_null(strstr(err.msg, k == 3 ? q : p));
		assert_non_null(strstr(err.msg, k == 2 ? "replaced" : "changed size"));
		rootfs_tree_free(t);
	}
}

/* The same while the file is being read: another thread truncates or
 * appends to it once it sees the writer's descriptor on the file with
 * some bytes read (/proc/self/fdinfo), long before the end (the reader
 * cannot get more than the chunks in flight ahead of the compressors). */
struct changer {
	char path[512];
	bool grow;
	bool acted;
	off_t size;
};

static void *change_while_read(void *arg)
{
	struct changer *c = arg;
	struct timeval t0, now;

	gettimeofday(&t0, NULL);
	for (;;) {
		gettimeofday(&now, NULL);
		if (now.tv_sec - t0.tv_sec > 120)
			return NULL; /* never saw it open: acted stays false, the test fails */
		for (int fd = 3; fd < 64; fd++) {
			char lp[64], tg[512], info[128];
			snprintf(lp, sizeof(lp), "/proc/self/fd/%d", fd);
			ssize_t l = readlink(lp, tg, sizeof(tg) - 1);
			if (l <= 0)
				continue;
			tg[l] = '\0';
			if (strcmp(tg, c->path))
				continue;
			snprintf(lp, sizeof(lp), "/proc/self/fdinfo/%d", fd);
			FILE *f = fopen(lp, "r");
			long long pos = -1;
			if (f) {
				while (fgets(info, sizeof(info), f))
					if (sscanf(info, "pos: %lld", &pos) == 1)
						break;
				fclose(f);
			}
			if (pos <= 0 || pos > c->size / 4)
				continue;
			if (c->grow) {
				FILE *a = fopen(c->path, "a");
				fputs("more", a);
				fclose(a);
			} else {
				assert_int_equal(truncate(c->path, 4096), 0);
			}
			c->acted = true;
			return NULL;
		}
	}
}

static void test_host_file_changes_while_read(void **state)
{
	struct mb_err err = {0};
	struct rootfs_layer ly;

	for (int grow = 0; grow < 2; grow++) {
		struct changer c = { .grow = grow, .size = 48u << 20 };
		path_in(c.path, "big");
		golden_host_file("big", (size_t)c.size, 93, 0, 0644);
		struct rootfs_tree *t = rootfs_tree_new();
		assert_int_equal(rootfs_add_host_file(t, "/data/big", c.path, 0644, 0, 0, &err), 0);
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, change_while_read, &c), 0);
		int r = rootfs_layer_write(t, 0, &ly, &err);
		pthread_join(th, NULL);
		assert_true(c.acted);
		assert_int_equal(r, -1);
		assert_non_null(strstr(err.msg, c.path));
		assert_non_null(strstr(err.msg, "changed size"));
		rootfs_tree_free(t);
	}
}

/* Spooled: the blob is in an unnamed file of the spool directory (nothing
 * named is left there), with exactly the bytes of the in-memory blob. */
static void test_spooled_blob(void **state)
{
	char dir[512], cmd[600];
	struct mb_err err = {0};
	struct rootfs_layer mem[2], sp[2];
	struct rootfs_tree *t[2] = { golden_tree(1), golden_tree(5) };
	const struct rootfs_tree *const *tt = (const struct rootfs_tree *const *)t;

	path_in(dir, "spool");
	mkdir(dir, 0755);
	struct rootfs_write_opts o = { .mtime = 7, .spool_dir = dir };
	assert_int_equal(rootfs_layers_write(tt, 2, 7, mem, &err), 0);
	assert_int_equal(rootfs_layers_write_opts(tt, 2, &o, sp, &err), 0);
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", dir);
	assert_int_equal(system(cmd), 0);
	for (int k = 0; k < 2; k++) {
		assert_true(sp[k].spooled);
		assert_null(sp[k].blob);
		assert_string_equal(sp[k].digest, mem[k].digest);
		assert_string_equal(sp[k].diff_id, mem[k].diff_id);
		assert_int_equal(sp[k].blob_len, mem[k].blob_len);
		unsigned char *b = malloc(sp[k].blob_len);
		assert_int_equal(pread(sp[k].blob_fd, b, sp[k].blob_len, 0), (ssize_t)sp[k].blob_len);
		assert_memory_equal(b, mem[k].blob, mem[k].blob_len);
		free(b);
		rootfs_layer_free(&sp[k]);
		rootfs_layer_free(&mem[k]);
		rootfs_tree_free(t[k]);
	}
	/* a spool directory that is missing: an error naming it */
	path_in(dir, "no/such/dir");
	t[0] = golden_tree(0);
	o.spool_dir = dir;
	assert_int_equal(rootfs_layers_write_opts((const struct rootfs_tree *const *)t, 1, &o, sp, &err), -1);
	assert_non_null(strstr(err.msg, dir));
	rootfs_tree_free(t[0]);
}

/* The host side's error convention (error.h): each setter returns -1, an
 * errnum is appended as ": strerror" and kept, usage marks a command-line
 * error, mb_wrap keeps both, and a NULL error object is allowed. */
static void test_error_convention(void **state)
{
	(void)state;
	struct mb_err e = {0};
	char want[MB_ERRLEN];

	assert_int_equal(mb_error(&e, ENOENT, "cannot open `%s`", "x"), -1);
	snprintf(want, sizeof(want), "cannot open `x`: %s", strerror(ENOENT));
	assert_string_equal(e.msg, want);
	assert_int_equal(e.errnum, ENOENT);
	assert_false(e.usage);
	assert_int_equal(mb_wrap(&e, "cannot add `%s`", "/app"), -1);
	snprintf(want, sizeof(want), "cannot add `/app`: cannot open `x`: %s", strerror(ENOENT));
	assert_string_equal(e.msg, want);
	assert_int_equal(e.errnum, ENOENT);
	assert_int_equal(mb_error(&e, 0, "plain"), -1);
	assert_string_equal(e.msg, "plain");
	assert_int_equal(e.errnum, 0);
	assert_int_equal(mb_usage(&e, "unknown option `%s`", "--x"), -1);
	assert_string_equal(e.msg, "unknown option `--x`");
	assert_true(e.usage);
	assert_int_equal(mb_wrap(&e, "--tag"), -1);
	assert_true(e.usage);
	assert_string_equal(e.msg, "--tag: unknown option `--x`");
	/* a message that fills the buffer gets no errno text, and no overrun */
	memset(want, 'y', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	assert_int_equal(mb_error(&e, EIO, "%s", want), -1);
	assert_int_equal(strlen(e.msg), MB_ERRLEN - 1);
	/* no error object: the message is dropped, the answer is the same */
	assert_int_equal(mb_error(NULL, EIO, "x"), -1);
	assert_int_equal(mb_usage(NULL, "x"), -1);
	assert_int_equal(mb_wrap(NULL, "x"), -1);
}

/* ---- output files (rootfs_write_file; the test was test_policies') ---- */
static void test_write_file(void **s)
{
	(void)s;
	char dir[] = "/tmp/test_rootfs.XXXXXX", path[128];
	struct mb_err err = {0};

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out.bpf", dir);
	assert_int_equal(rootfs_write_file(path, "abc", 3, 0644, ROOTFS_DURABLE, &err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 3);
	unlink(path);
	snprintf(path, sizeof(path), "%s/missing/out.bpf", dir);
	assert_int_equal(rootfs_write_file(path, "abc", 3, 0644, ROOTFS_DURABLE, &err), -1);
	assert_non_null(strstr(err.msg, "cannot write"));
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 0);  /* nothing half-written left behind */
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_convention),
		cmocka_unit_test_setup_teardown(test_determinism, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tar_contents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_and_digests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layers_write_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunk_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locale_independent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_cache_planted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_file_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_layer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skeleton, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skeleton_tzdata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_tree_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_golden_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_file_changed_after_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_file_changes_while_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spooled_blob, setup, teardown),
		cmocka_unit_test(test_write_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

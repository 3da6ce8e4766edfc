/* `mkimage base`: the minbase base image for a Dockerfile's FROM, built by
 * the toolkit itself, and the shipped policies every base layer carries.
 *
 *   layer 1: the base layer of `mkimage --static` images of the same
 *            options, byte for byte (mk_build_base): skeleton, CA bundle,
 *            the init, /etc/minbase/policies/NAME.bpf for the image's
 *            architecture.  A host that pulls both stores it once.
 *   layer 2 (--debug): busybox (Debian's busybox-static) under /busybox
 *            with a link per applet, as distroless :debug has it; its own
 *            layer, so that layer 1 stays the shared blob.
 *
 * Config: User 65532:65532, Entrypoint [init, "--"] (a Dockerfile's CMD
 * names the service), the init's safe defaults in Env as --static images
 * have them (no capabilities, no-new-privs, MINBASE_USER so that a root
 * start still runs the service as 65532), WorkingDir /app. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"
#include "../images/images.h"
#include "../policies/policies.h"
#include "../rootfs/rootfs.h"

#define POLICY_DIR_IN_IMAGE "/etc/minbase/policies"
#define BUSYBOX_DIR "/busybox"
#define BASE_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

/* The policies policies/policies.mk ships (SHIPPED_POLICIES): the init's
 * MINBASE_POLICY=NAME finds them in every image that has the init. */
static const char *const shipped[] = { "default", "service", "strict", NULL };

int mk_base_add_policies(struct rootfs_tree *t, const char *arch, struct mb_err *err)
{
	const char *karch = arch_kernel_name(arch);
	if (rootfs_add_dir(t, "/etc/minbase", 0755, 0, 0, err) < 0 ||
	    rootfs_add_dir(t, POLICY_DIR_IN_IMAGE, 0755, 0, 0, err) < 0)
		return -1;
	for (size_t i = 0; shipped[i]; i++) {
		unsigned char *bpf = NULL;
		size_t len = 0;
		char path[128];
		struct mb_err perr = {0};
		/* the precompiled file when it is there, else compiled now: the
		 * shipped policies keep no capabilities, so the same bytes */
		if (policy_build_bpf(shipped[i], karch, NULL, &bpf, &len, &perr) < 0)
			return mb_error(err, 0, "cannot add the shipped policy `%s` for %s: %s", shipped[i], arch,
			                perr.msg);
		snprintf(path, sizeof(path), POLICY_DIR_IN_IMAGE "/%s.bpf", shipped[i]);
		if (rootfs_add_buffer(t, path, bpf, len, 0644, 0, 0, err) < 0)
			return -1;
	}
	return 0;
}

/* busybox for arch: $MINBASE_BUSYBOX_ARM64 (_AMD64) or $MINBASE_BUSYBOX, else
 * Debian's busybox-static at /bin/busybox; static and for arch. */
static int find_busybox(const char *arch, char *buf, size_t len, struct mb_err *err)
{
	char envname[40];
	snprintf(envname, sizeof(envname), "MINBASE_BUSYBOX_%s", !strcmp(arch, "arm64") ? "ARM64" :
	         "AMD64");
	const char *p = getenv(envname);
	if (!p || !*p)
		p = getenv("MINBASE_BUSYBOX");
	snprintf(buf, len, "%s", p && *p ? p : "/bin/busybox");
	struct mb_err why = {0};
	if (access(buf, R_OK) < 0)
		return mb_error(err, 0, "--debug needs busybox: cannot read `%s`: %s; install Debian's "
		                "busybox-static (`make deps`) or set %s", buf, strerror(errno), envname);
	if (elf_check_static(buf, arch, NULL, &why) < 0)
		return mb_error(err, 0, "--debug needs a static busybox for %s: %s; set %s to one", arch, why.msg,
		                envname);
	return 0;
}

/* The applets, from the host's busybox-static (`busybox --list`): the
 * package of another architecture is built from the same configuration. */
static int add_busybox(struct rootfs_tree *t, const char *arch, struct mb_err *err)
{
	char bb[PATH_MAX], line[128];
	if (find_busybox(arch, bb, sizeof(bb), err) < 0)
		return -1;
	if (rootfs_add_dir(t, BUSYBOX_DIR, 0755, 0, 0, err) < 0 ||
	    rootfs_add_host_file(t, BUSYBOX_DIR "/busybox", bb, 0755, 0, 0, err) < 0)
		return -1;
	const char *lister = !strcmp(arch, arch_host()) ? bb : "/bin/busybox";
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "'%s' --list", lister);
	FILE *f = strchr(lister, '\'') ? NULL : popen(cmd, "re");
	size_t n = 0;
	int r = 0;
	while (f && r == 0 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!*line || strchr(line, '/') || !strcmp(line, "busybox"))
			continue;
		char path[160];
		snprintf(path, sizeof(path), BUSYBOX_DIR "/%s", line);
		r = rootfs_add_symlink(t, path, "busybox", err);
		n++;
	}
	int st = f ? pclose(f) : -1;
	if (r == 0 && (st != 0 || n < 10))
		r = mb_error(err, 0, "cannot list busybox's applets with `%s --list` (exit %d); install "
		             "Debian's busybox-static on this host (`make deps`)", lister, st);
	return r;
}

static void usage(FILE *f)
{
	fputs("usage: mkimage base [-o OUT | --push REF] [--tag REF] [--debug] [--tzdata]\n"
	      "                    [--ca-file PEM] [--arch ARCH] [--format docker|oci]\n"
	      "                    [--sbom FILE|none] [--cache DIR] [-q]\n"
	      "  The minbase base image for FROM: skeleton, CA bundle, minbase-init, the shipped\n"
	      "  seccomp policies at /etc/minbase/policies/NAME.bpf (ENV MINBASE_POLICY=NAME),\n"
	      "  user 65532, entrypoint [minbase-init --].  --debug adds busybox under /busybox.\n"
	      "  Defaults: --tag minbase/static:latest (:debug with --debug), -o static.tar.\n", f);
}

enum { B_DEBUG = 500, B_TZ, B_CA, B_ARCH, B_FORMAT, B_SBOM, B_PUSH, B_CACHE };

static int parse(int argc, char **argv, struct mk_opts *o, bool *debug, struct mb_err *err)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "tag", required_argument, NULL, 't' },
		{ "push", required_argument, NULL, B_PUSH },
		{ "debug", no_argument, NULL, B_DEBUG },
		{ "tzdata", no_argument, NULL, B_TZ },
		{ "ca-file", required_argument, NULL, B_CA },
		{ "arch", required_argument, NULL, B_ARCH },
		{ "format", required_argument, NULL, B_FORMAT },
		{ "sbom", required_argument, NULL, B_SBOM },
		{ "cache", required_argument, NULL, B_CACHE },
		MK_REMOTE_LONGOPTS,
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:t:qh", lo, NULL)) != -1) {
		int rr = mk_remote_option(c, optarg, &o->remote);
		if (rr < 0)
			return mb_error(err, 0, "out of memory");
		if (rr)
			continue;
		switch (c) {
		case 'o': o->out = optarg; break;
		case 't': o->tag = optarg; break;
		case 'q': o->quiet = true; break;
		case 'h': return 1;
		case B_PUSH: o->push = optarg; break;
		case B_DEBUG: *debug = true; break;
		case B_TZ: o->tzdata = true; break;
		case B_CA: o->ca_file = optarg; break;
		case B_ARCH: o->arch = optarg; break;
		case B_FORMAT: o->format = optarg; break;
		case B_SBOM: o->sbom = optarg; break;
		case B_CACHE: o->cache_dir = optarg; break;
		case ':':
			return mb_usage(err, "option `%s` needs a value", argv[optind - 1]);
		default:
			return mb_usage(err, "unknown option `%s`", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return mb_usage(err, "unexpected argument `%s`: `mkimage base` takes only options", argv[optind]);
	/* --arch amd64,arm64: one image per platform under one image index */
	if (mk_platforms_parse(o->arch, NULL, o->plats, &o->nplats, err) < 0)
		return -1;
	o->arch = o->plats[0];
	if (o->nplats > 1 && o->sbom && strcmp(o->sbom, "none"))
		return mb_usage(err, "invalid --sbom `%s`: a multi-platform image holds one SBOM per "
		                "platform; --sbom FILE needs one --arch", o->sbom);
	struct mb_err why = {0};
	if (strcmp(o->format, "docker") && strcmp(o->format, "oci"))
		return mb_usage(err, "invalid --format `%s`: use docker (one tar) or oci (a layout "
		                "directory)", o->format);
	if (o->tag && image_ref_check(o->tag, &why) < 0)
		return mb_usage(err, "--tag: %s", why.msg);
	if (o->sbom && !*o->sbom)
		return mb_usage(err, "invalid --sbom ``: give a file name for the SPDX document, or `none`");
	if (o->ca_file && access(o->ca_file, R_OK) < 0)
		return mb_usage(err, "invalid --ca-file `%s`: %s", o->ca_file, strerror(errno));
	if (mk_remote_validate(&o->remote, err) < 0)
		return -1;
	return 0;
}

/* Writes the image at o->out; 0 or -1 with err. */
static int write_base(const struct mk_opts *o, bool debug, struct image_set *set,
                      struct mk_result *res, struct mb_err *err)
{
	int rc = -1;
	char cache[PATH_MAX];
	struct mb_err cerr = {0};
	struct rootfs_tree *base = rootfs_tree_new(), *dbg = rootfs_tree_new();
	struct rootfs_layer lo[2] = { 0 };
	struct sbom_build sb = { 0 };
	int64_t epoch;

	if (!base || !dbg) {
		mb_error(err, 0, "out of memory");
		goto out;
	}
	struct mk_init init = { 0 };
	/* the init read once: the SBOM's checksum is of the bytes that go in */
	if (mk_source_date_epoch(&epoch, err) < 0 || mk_init_load(o->arch, &init, err) < 0 ||
	    mk_sbom_packages_mem(o, init.bytes, init.len, NULL, 0, NULL, debug, &sb, err) < 0 ||
	    mk_build_base(o, &init.bytes, init.len, base, err) < 0 ||
	    (debug && add_busybox(dbg, o->arch, err) < 0)) {
		mk_init_free(&init);
		goto out;
	}
	const char *cdir = build_cache_dir(o->cache_dir, cache, sizeof(cache), &cerr) == 0 ? cache
	                                                                                 : NULL;
	const struct rootfs_tree *trees[2] = { base, dbg };
	size_t nl = debug ? 2 : 1;
	if (rootfs_layers_write_cached(trees, nl, epoch, cdir, lo, err) < 0)
		goto out;

	/* the Env of a --static image without options (compose.c) */
	char *ep[] = { "/usr/bin/minbase-init", "--", NULL };
	char *env[] = { debug ? BASE_PATH ":" BUSYBOX_DIR : BASE_PATH,
	                "SSL_CERT_FILE=" ROOTFS_CA_PATH, "MINBASE_USER=65532:65532",
	                "MINBASE_CAPS=", "MINBASE_NO_NEW_PRIVS=1", NULL };
	struct image_config c = {
		.architecture = o->arch, .os = "linux", .variant = arch_variant(o->arch),
		.user = "65532:65532", .entrypoint = ep,
		.env = env, .workdir = "/app", .created = epoch, .tag = o->tag,
	};
	c.sbom = sb.n ? sb.pkgs : NULL;
	c.nsbom = sb.n;
	struct image_layer layers[2] = {
		{ .layer = &lo[0], .created_by = "minbase base layer" },
		{ .layer = &lo[1], .created_by = "minbase: add busybox at " BUSYBOX_DIR },
	};
	struct image_result ir;
	if (set) {
		/* the layers' blobs become the set's */
		if (image_set_add(set, &c, arch_variant(o->arch), layers, nl, &ir, err) < 0)
			goto out;
		rc = 0;
		goto out;
	}
	enum image_format fmt = mk_image_format(o->format);
	sigset_t old;
	util_interrupts_hold(&old);
	int wr = image_write(&c, layers, nl, fmt, o->out, &ir, err);
	util_interrupts_release(&old);
	if (wr < 0 || mk_sbom_write_file(o, &sb, ir.manifest_digest, epoch, err) < 0)
		goto out;
	snprintf(res->manifest_digest, sizeof(res->manifest_digest), "%s", ir.manifest_digest);
	res->compressed = ir.compressed;
	res->uncompressed = ir.uncompressed;
	rc = 0;
out:
	sbom_build_free(&sb);
	rootfs_layer_free(&lo[0]);
	rootfs_layer_free(&lo[1]);
	rootfs_tree_free(base);
	rootfs_tree_free(dbg);
	return rc;
}

int cmd_base(int argc, char **argv)
{
	struct mk_opts o;
	char pushdir[PATH_MAX] = "", out[PATH_MAX + 16], sz[32];
	struct mb_err err = {0};
	bool debug = false;
	int rc = MK_EXIT_FAIL;

	mk_opts_init(&o);
	int r = parse(argc, argv, &o, &debug, &err);
	if (r == 1) {
		usage(stdout);
		rc = MK_EXIT_OK;
		goto done;
	}
	if (r < 0) {
		fprintf(stderr, "mkimage: %s\nmkimage: see `mkimage base --help`\n", err.msg);
		rc = err.usage ? MK_EXIT_USAGE : MK_EXIT_FAIL;
		goto done;
	}
	if (!o.tag)
		o.tag = debug ? "minbase/static:debug" : "minbase/static:latest";
	if (o.push && !o.out) {
		if (rootfs_tmpdir("mkimage-push", pushdir, sizeof(pushdir), &err) < 0) {
			fprintf(stderr, "mkimage: %s\n", err.msg);
			goto done;
		}
		snprintf(out, sizeof(out), "%s/image", pushdir);
		o.out = out;
		o.format = "oci";
	}
	if (!o.out)
		o.out = !strcmp(o.format, "oci") ? (debug ? "static-debug.oci" : "static.oci")
		                                 : (debug ? "static-debug.tar" : "static.tar");
	struct mk_result res = { 0 };
	struct image_set *set = o.nplats > 1 ? image_set_new() : NULL;
	int wr = o.nplats > 1 && !set ? -1 : 0;
	for (size_t i = 0; wr == 0 && i < o.nplats; i++) {
		o.arch = o.plats[i];
		wr = write_base(&o, debug, set, &res, &err);
	}
	if (wr == 0 && set) {
		struct image_result ir;
		const char *load = o.plats[0];
		for (size_t i = 0; i < o.nplats; i++)
			if (!strcmp(o.plats[i], arch_host()))
				load = o.plats[i];
		sigset_t old;
		util_interrupts_hold(&old); /* it was written unheld: see util_interrupts_hold */
		wr = image_set_write(set, mk_image_format(o.format), o.out, load, &ir, &err);
		util_interrupts_release(&old);
		snprintf(res.manifest_digest, sizeof(res.manifest_digest), "%s", ir.manifest_digest);
		res.compressed = ir.compressed;
	}
	image_set_free(set);
	if (wr < 0) {
		fprintf(stderr, "mkimage: %s\n", err.msg[0] ? err.msg : "out of memory");
		goto done;
	}
	if (!o.quiet)
		fprintf(stderr, "mkimage: done    %s -> %s\nmkimage:         digest %s, %s compressed\n",
		        o.tag, o.out, res.manifest_digest,
		        util_human_size(res.compressed, sz, sizeof(sz)));
	if (o.push && mk_push_built(&o, o.out, &err) < 0) {
		fprintf(stderr, "mkimage: cannot push to `%s`: %s\n", o.push, err.msg);
		goto done;
	}
	rc = MK_EXIT_OK;
done:
	if (pushdir[0])
		util_rm_rf(pushdir);
	mk_remote_free(&o.remote);
	return rc;
}

/* Image composition: the two layers and the config of a minbase image.
 *
 *   layer 1 "minbase base layer": the skeleton (passwd, group, certs, ...)
 *           and the init at /usr/bin/minbase-init.  It depends only on the
 *           minbase version, the CA/tzdata options and the init, so a
 *           rebuild of the service reuses its blob unchanged.
 *   layer 2 "minbase: add /app/NAME": the service, --add'ed files,
 *           --writable directories and the compiled seccomp policy.
 *
 * Config (init/README.md): User "65532:65532" (or "0:0" when capabilities
 * are kept) and MINBASE_USER, the user a root start drops to; Entrypoint
 * init -- /app/NAME, Cmd = args, Env PATH + SSL_CERT_FILE + MINBASE_* for
 * the init, WorkingDir /app (so
 * that relative paths to --add'ed assets work as they do next to the binary
 * in the seeds' images). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"
#include "../images/images.h"
#include "../policies/policies.h"
#include "../rootfs/rootfs.h"

#define INIT_PATH "/usr/bin/minbase-init"
#define DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"


/* Sets K=V, replacing an earlier K (the user's --env overrides ours). */
static int env_set(struct strv *s, const char *kv)
{
	size_t kl = strcspn(kv, "=");
	for (size_t i = 0; i < s->n; i++)
		if (!strncmp(s->v[i], kv, kl) && s->v[i][kl] == '=') {
			char *d = strdup(kv);
			if (!d)
				return -1;
			free(s->v[i]);
			s->v[i] = d;
			return 0;
		}
	return strv_add(s, kv);
}

/* Splits on spaces and tabs into s (for --entrypoint and --health-exec). */
static int split_words(struct strv *s, const char *str)
{
	const char *p = str;
	while (*p) {
		p += strspn(p, " \t");
		size_t l = strcspn(p, " \t");
		if (l == 0)
			break;
		char *w = strndup(p, l);
		if (!w || strv_add(s, w) < 0) {
			free(w);
			return -1;
		}
		free(w);
		p += l;
	}
	return 0;
}

static int parse_user(const char *u, uid_t *uid, gid_t *gid)
{
	unsigned long a, b;
	if (sscanf(u, "%lu:%lu", &a, &b) != 2)
		return -1;
	*uid = (uid_t)a;
	*gid = (gid_t)b;
	return 0;
}

/* The base layer, the same for `mkimage base` (cmd_base.c).  init: the
 * init's bytes, or NULL for --no-init; handed to the tree (and set to NULL)
 * once added; with it the shipped policies, for MINBASE_POLICY=NAME. */
int mk_build_base(const struct mk_opts *o, unsigned char **init, size_t init_len,
                  struct rootfs_tree *t, struct mb_err *err)
{
	struct rootfs_skeleton_opts so = {
		.uid = MB_NONROOT_UID, .gid = MB_NONROOT_GID, .version = MINBASE_VERSION,
		.ca_bundle = NULL, .extra_ca = o->ca_file, .tzdata = o->tzdata,
	};
	if (rootfs_add_skeleton(t, &so, err) < 0)
		return -1;
	if (*init) {
		unsigned char *b = *init;
		*init = NULL;
		if (rootfs_add_buffer(t, INIT_PATH, b, init_len, 0755, 0, 0, err) < 0)
			return -1;
		if (mk_base_add_policies(t, o->arch, err) < 0)
			return -1;
	}
	return 0;
}

/* A directory in either layer: the base below, or what the service layer
 * holds so far (/app, earlier --add's). */
static bool is_dir_in(const struct rootfs_tree *base, const struct rootfs_tree *t, const char *p)
{
	struct rootfs_stat st;
	return (rootfs_tree_stat(t, p, &st) == 0 && st.kind == 'd') ||
	       (rootfs_tree_stat(base, p, &st) == 0 && st.kind == 'd');
}

/* --add SRC:DST: DST absolute or relative to /app; a directory is copied
 * by rootfs_add_host_tree (which refuses escapes and special files).
 * Docker's COPY rules (checked against dockerd 20.10, classic builder and
 * BuildKit): a file goes into DST when DST ends with `/` or is a directory
 * already (`COPY f /tmp` makes /tmp/f), else it becomes DST; a directory's
 * contents go into DST. */
static int add_extra(struct rootfs_tree *t, const struct rootfs_tree *base, const char *spec,
                     struct mb_err *err)
{
	const char *colon = strrchr(spec, ':');
	char src[PATH_MAX], dst[PATH_MAX];
	/* A cut path would name another file on the host or in the image. */
	if (snprintf(src, sizeof(src), "%.*s", (int)(colon - spec), spec) >= (int)sizeof(src) ||
	    snprintf(dst, sizeof(dst), "%s%s", colon[1] == '/' ? "" : "/app/", colon + 1) >=
	    (int)sizeof(dst))
		return mb_error(err, 0, "cannot add `%.64s...`: path too long", spec);
	size_t l = strlen(dst);
	bool into = dst[l - 1] == '/';
	while (l > 1 && dst[l - 1] == '/')
		dst[--l] = '\0';
	struct stat st;
	if (lstat(src, &st) < 0)
		return mb_error(err, errno, "cannot add `%s`", src);
	if (S_ISDIR(st.st_mode))
		return rootfs_add_host_tree(t, dst, src, 0, 0, err);
	if (S_ISLNK(st.st_mode)) {
		/* A top-level symlink is resolved by the user's intent: add what
		 * it points at, as a regular file (never a link into the host). */
		if (stat(src, &st) < 0)
			return mb_error(err, errno, "cannot add `%s`", src);
		if (S_ISDIR(st.st_mode))
			return mb_error(err, 0, "cannot add `%s`: it is a symlink to a directory; give the "
			       "directory itself", src);
	}
	if (!S_ISREG(st.st_mode))
		return mb_error(err, 0, "cannot add `%s`: it is a %s; only files and directories can go "
		       "in an image", src, S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "device" :
		       S_ISSOCK(st.st_mode) ? "socket" : S_ISFIFO(st.st_mode) ? "fifo" :
		       "special file");
	if (into || is_dir_in(base, t, dst)) {
		const char *bn = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
		if (snprintf(dst + l, sizeof(dst) - l, "%s%s", l > 1 ? "/" : "", bn) >=
		    (int)(sizeof(dst) - l))
			return mb_error(err, 0, "cannot add `%.64s...`: path too long", spec);
	}
	mode_t mode = (st.st_mode & 0111) ? 0755 : 0644;
	return rootfs_add_host_file(t, dst, src, mode, 0, 0, err);
}

/* What an --add may not do to the image (exit 2, as a usage error):
 * overwrite a file mkimage writes and the config points at (owned[]), or
 * change the type of an entry of the base layer: a file or link in place
 * of a directory (/tmp, /etc: the layer would hide all that is in it), a
 * directory in place of a file.  Entries from first on are the ones this
 * --add made.  A directory it shares with the base keeps the base's mode
 * and owner, as with COPY into an existing directory (/tmp stays 1777). */
static int check_add(struct rootfs_tree *t, const struct rootfs_tree *base, size_t first,
                     const char *spec, const char *const *owned, struct mb_err *err)
{
	struct rootfs_stat a, b;
	for (size_t i = 0; owned[i]; i++)
		if (rootfs_tree_stat(t, owned[i], &a) == 0)
			return mb_usage(err, "invalid --add `%s`: it would overwrite `%s`, which mkimage writes "
			                "itself (%s); choose another destination", spec, owned[i],
			                !strcmp(owned[i], SECCOMP_PATH) ? "the compiled --policy" :
			                !strcmp(owned[i], INIT_PATH) ? "the init" : "the service");
	for (size_t i = first; i < rootfs_tree_count(t); i++) {
		const char *p = rootfs_tree_path(t, i);
		if (rootfs_tree_stat(base, p, &b) < 0 || rootfs_tree_stat(t, p, &a) < 0)
			continue;
		if ((a.kind == 'd') != (b.kind == 'd'))
			return mb_usage(err, "invalid --add `%s`: `%s` is a %s in the base image and would "
			                "become a %s; choose another destination%s", spec, p,
			                b.kind == 'd' ? "directory" : b.kind == 'l' ? "symlink" : "file",
			                a.kind == 'd' ? "directory" : a.kind == 'l' ? "symlink" : "file",
			                b.kind == 'd' ? " (or end it with `/` to add into the directory)" : "");
		if (a.kind == 'd' && (a.mode != b.mode || a.uid != b.uid || a.gid != b.gid) &&
		    rootfs_add_dir(t, p, b.mode, b.uid, b.gid, err) < 0)
			return -1;
	}
	return 0;
}

/* bin: the service's bytes, already checked; handed to the tree (and set
 * to NULL) once added. */
static int build_service(const struct mk_opts *o, unsigned char **bin, size_t bin_len,
                         const char *name,
                         const unsigned char *bpf, size_t bpf_len,
                         const struct rootfs_tree *base, struct rootfs_tree *t, struct mb_err *err)
{
	uid_t uid = MB_NONROOT_UID;
	gid_t gid = MB_NONROOT_GID;
	char p[PATH_MAX];
	parse_user(o->user, &uid, &gid);
	if (rootfs_add_dir(t, "/app", 0755, 0, 0, err) < 0)
		return -1;
	snprintf(p, sizeof(p), "/app/%s", name);
	/* The --add's go in before what mkimage writes, so that one landing
	 * on those paths is seen instead of silently replaced. */
	const char *owned[4];
	size_t no = 0;
	owned[no++] = p;
	if (!o->no_init)
		owned[no++] = INIT_PATH;
	if (bpf)
		owned[no++] = SECCOMP_PATH;
	owned[no] = NULL;
	for (size_t i = 0; i < o->nadds; i++) {
		size_t first = rootfs_tree_count(t);
		int r;
		if (add_extra(t, base, o->adds[i], err) < 0)
			return -1;
		if ((r = check_add(t, base, first, o->adds[i], owned, err)) < 0)
			return r;
	}
	unsigned char *b = *bin;
	*bin = NULL;
	if (rootfs_add_buffer(t, p, b, bin_len, 0755, 0, 0, err) < 0)
		return -1;
	for (size_t i = 0; i < o->nwritable; i++)
		if (rootfs_add_dir(t, o->writable[i], 0755, uid, gid, err) < 0)
			return -1;
	if (bpf && rootfs_add_data(t, SECCOMP_PATH, bpf, bpf_len, 0644, 0, 0, err) < 0)
		return -1;
	return 0;
}

static int build_config(const struct mk_opts *o, const char *name, const char *caps,
                        bool has_policy, struct strv *ep, struct strv *env,
                        struct strv *hc, struct image_config *c, struct mb_err *err)
{
	char app[PATH_MAX];
	snprintf(app, sizeof(app), "/app/%s", name);
	if (!o->no_init && (strv_add(ep, INIT_PATH) < 0 || strv_add(ep, "--") < 0))
		goto oom;
	if (o->entrypoint) {
		if (split_words(ep, o->entrypoint) < 0)
			goto oom;
	} else if (strv_add(ep, app) < 0) {
		goto oom;
	}

	if (strv_add(env, DEFAULT_PATH) < 0 || strv_add(env, "SSL_CERT_FILE=" ROOTFS_CA_PATH) < 0)
		goto oom;
	c->user = o->user;
	/* Keeping a capability needs a root start: the init drops to the
	 * user itself after setting the ambient set (init/README.md). */
	if (caps && *caps)
		c->user = "0:0";
	/* MINBASE_USER in every image with the init: a container started as
	 * root anyway (docker run -u 0, runAsUser: 0) still runs the service
	 * as the image's user; a nonroot start keeps its uid. */
	if ((!o->no_init || (caps && *caps)) && strv_addf(env, "MINBASE_USER=%s", o->user) < 0)
		goto oom;
	/* Secure by default: with the init, the service keeps only the
	 * capabilities asked for (none unless --caps or the policy names some),
	 * whatever the runtime grants, and runs with no-new-privileges.  Both
	 * are ENV, so an image built FROM this one can still override them. */
	if (!o->no_init &&
	    (strv_addf(env, "MINBASE_CAPS=%s", caps ? caps : "") < 0 ||
	     strv_add(env, "MINBASE_NO_NEW_PRIVS=1") < 0))
		goto oom;
	if (has_policy && strv_add(env, "MINBASE_SECCOMP=" SECCOMP_PATH) < 0)
		goto oom;
	const struct mk_health *h = &o->health;
	if (h->http || h->tcp || h->exec || h->grpc) {
		if ((h->http && strv_addf(env, "MINBASE_HEALTH_HTTP=%s", h->http) < 0) ||
		    (h->grpc && strv_addf(env, "MINBASE_HEALTH_GRPC=%s", h->grpc) < 0) ||
		    (h->grpc_service &&
		     strv_addf(env, "MINBASE_HEALTH_GRPC_SERVICE=%s", h->grpc_service) < 0) ||
		    (h->tcp && strv_addf(env, "MINBASE_HEALTH_TCP=%s", h->tcp) < 0) ||
		    (h->exec && strv_addf(env, "MINBASE_HEALTH_EXEC=%s", h->exec) < 0) ||
		    (h->interval && strv_addf(env, "MINBASE_HEALTH_INTERVAL=%s", h->interval) < 0) ||
		    (h->timeout && strv_addf(env, "MINBASE_HEALTH_TIMEOUT=%s", h->timeout) < 0) ||
		    (h->start_period &&
		     strv_addf(env, "MINBASE_HEALTH_START_PERIOD=%s", h->start_period) < 0) ||
		    (h->retries >= 0 && strv_addf(env, "MINBASE_HEALTH_RETRIES=%d", h->retries) < 0))
			goto oom;
		if (strv_add(hc, "CMD") < 0 || strv_add(hc, INIT_PATH) < 0 || strv_add(hc, "health") < 0)
			goto oom;
		c->health.test = hc->v;
		c->health.interval_ns = h->interval ? mk_parse_duration(h->interval) : 0;
		c->health.timeout_ns = h->timeout ? mk_parse_duration(h->timeout) : 0;
		c->health.start_period_ns = h->start_period ? mk_parse_duration(h->start_period) : 0;
		c->health.retries = h->retries >= 0 ? h->retries : 0;
	}
	for (size_t i = 0; i < o->nenv; i++)
		if (env_set(env, o->env[i]) < 0)
			goto oom;

	c->architecture = o->arch;
	c->os = "linux";
	c->variant = arch_variant(o->arch);
	c->entrypoint = ep->v;
	c->cmd = o->nargs ? o->args : NULL;
	c->env = env->v;
	c->workdir = o->workdir;
	c->ports = o->nports ? o->ports : NULL;
	c->labels = o->nlabels ? o->labels : NULL;
	c->tag = o->tag;
	c->annotations = NULL;
	return 0;
oom:
	return mb_error(err, 0, "out of memory");
}

/* With set, the image goes into that index instead of being written on
 * its own. */
int mk_compose(const struct mk_opts *o, struct mk_image_in *in, struct image_set *set,
               struct mk_result *res, struct mb_err *err)
{
	int rc = -1;
	char sz1[32], sz2[32];
	struct rootfs_tree *base = NULL, *svc = NULL;
	struct image_base *bimg = NULL;
	struct rootfs_layer l1 = { 0 }, l2 = { 0 };
	unsigned char *bpf = NULL;
	size_t bpf_len = 0;
	char *policy_caps = NULL;
	struct strv ep = { 0 }, env = { 0 }, hc = { 0 };
	struct sbom_build sb = { 0 };
	double t0;
	const char *name = in->name;
	int64_t epoch = in->epoch;

	/* The init, read and checked by the pipeline, is ours from here. */
	unsigned char *init_bin = NULL, *svc_bin = NULL;
	size_t init_len = 0, svc_len = 0;
	if (in->init) {
		init_bin = in->init->bytes;
		init_len = in->init->len;
		in->init->bytes = NULL;
	}
	/* The service read once: the checked bytes are the ones that go in. */
	if (mk_read_file(in->binary, &svc_bin, &svc_len, err) < 0 ||
	    elf_check_static_mem(in->binary, svc_bin, svc_len, o->arch, NULL, err) < 0) {
		free(init_bin);
		free(svc_bin);
		return -1;
	}
	/* The SBOM, of these very bytes (images/ attaches it under the
	 * manifest's digest); on a --base once the base is open, below. */
	if (!o->base && mk_sbom_packages_mem(o, init_bin, init_len, svc_bin, svc_len, name, false,
	                                     &sb, err) < 0) {
		free(init_bin);
		free(svc_bin);
		return -1;
	}

	const char *caps = o->caps_set ? o->caps : NULL;
	if (o->policy) {
		t0 = util_now();
		/* A policy may name its service's capabilities; --caps wins. */
		if (!o->caps_set) {
			if (policy_read_caps(o->policy, &policy_caps, err) < 0)
				goto out;
			caps = policy_caps;
		}
		if (policy_build_bpf(o->policy, arch_kernel_name(o->arch), caps, &bpf, &bpf_len,
		                     err) < 0)
			goto out;
		mk_say(o, "policy  %-28s %6zu instructions%s%s (%.2f s)", o->policy,
		         FILTER_FILE_INSNS(bpf_len), caps && *caps ? ", caps " : "", caps && *caps ? caps : "",
		         util_now() - t0);
	}

	/* --base: its layers replace our base layer; the init goes in ours
	 * unless the base has it */
	if (o->base && (mk_base_open(o, &bimg, err) < 0 ||
	                mk_sbom_packages_base(o, bimg, image_base_has_init(bimg) ? NULL : init_bin,
	                                      init_len, svc_bin, svc_len, name, &sb, err) < 0))
		goto out;
	t0 = util_now();
	if (!(base = rootfs_tree_new()) || !(svc = rootfs_tree_new())) {
		mb_error(err, 0, "out of memory");
		goto out;
	}
	if (!bimg && mk_build_base(o, &init_bin, init_len, base, err) < 0)
		goto out;
	/* With --base the tree below is empty here: the --add rules see only
	 * what mkimage writes, not the base image's own entries. */
	int sr = build_service(o, &svc_bin, svc_len, name, bpf, bpf_len, base, svc, err);
	if (sr < 0) {
		rc = sr;
		goto out;
	}
	if (bimg && init_bin && !image_base_has_init(bimg)) {
		unsigned char *b = init_bin;
		init_bin = NULL;
		if (rootfs_add_buffer(svc, INIT_PATH, b, init_len, 0755, 0, 0, err) < 0)
			goto out;
	}
	/* Both layers in one pool of compressing threads; the base layer,
	 * which rarely changes, comes from the layer cache when it can. */
	const struct rootfs_tree *trees[2] = { bimg ? svc : base, svc };
	struct rootfs_layer lo[2];
	/* The blobs are spooled beside the output (an OCI layout links them
	 * in, an archive copies them), never held in memory. */
	char spool[PATH_MAX];
	snprintf(spool, sizeof(spool), "%s", o->out);
	char *slash = strrchr(spool, '/');
	if (!slash)
		snprintf(spool, sizeof(spool), ".");
	else if (slash == spool)
		spool[1] = '\0';
	else
		*slash = '\0';
	struct rootfs_write_opts wo = { .mtime = epoch, .cache_dir = in->cache_dir, .spool_dir = spool,
	                                .spool_for = o->out };
	if (rootfs_layers_write_opts(trees, bimg ? 1 : 2, &wo, lo, err) < 0)
		goto out;
	if (bimg) {
		l2 = lo[0];
		mk_say(o, "base    %s: %zu layers%s", o->base, image_base_layers(bimg),
		         image_base_has_init(bimg) ? ", with its own minbase-init" : "");
	} else {
		l1 = lo[0], l2 = lo[1];
		mk_say(o, "layer 1 base: %zu entries, %s -> %s", rootfs_tree_count(base),
		         util_human_size(l1.tar_len, sz1, sizeof(sz1)),
		         util_human_size(l1.blob_len, sz2, sizeof(sz2)));
	}
	mk_say(o, "layer 2 /app/%s: %zu entries, %s -> %s (both %.2f s)", name,
	         rootfs_tree_count(svc), util_human_size(l2.tar_len, sz1, sizeof(sz1)),
	         util_human_size(l2.blob_len, sz2, sizeof(sz2)), util_now() - t0);

	struct image_config c = { 0 };
	c.created = epoch;
	if (build_config(o, name, caps, bpf != NULL, &ep, &env, &hc, &c, err) < 0)
		goto out;
	char created_by[PATH_MAX + 32];
	snprintf(created_by, sizeof(created_by), "minbase: add /app/%s", name);
	struct image_layer layers[2] = {
		{ .layer = &l1, .created_by = "minbase base layer" },
		{ .layer = &l2, .created_by = created_by },
	};
	struct image_result ir;
	c.sbom = sb.n ? sb.pkgs : NULL;
	c.nsbom = sb.n;
	c.sbom_ext = sb.ext.ns ? &sb.ext : NULL;
	if (set) {
		/* the layers' blobs become the set's: l1 and l2 are left empty */
		if (image_set_add(set, &c, arch_variant(o->arch), layers, 2, &ir, err) < 0)
			goto out;
		goto done;
	}
	t0 = util_now();
	enum image_format fmt = mk_image_format(o->format);
	sigset_t old;
	util_interrupts_hold(&old);
	int wr = bimg ? image_write_on_base(bimg, &c, layers + 1, 1, !strcmp(o->workdir, "/app"), fmt,
	                                    o->out, &ir, err)
	              : image_write(&c, layers, 2, fmt, o->out, &ir, err);
	util_interrupts_release(&old);
	if (wr < 0 || mk_sbom_write_file(o, &sb, ir.manifest_digest, epoch, err) < 0)
		goto out;
	struct stat ost;
	uint64_t written = ir.compressed;
	if (fmt == IMAGE_FORMAT_ARCHIVE && stat(o->out, &ost) == 0)
		written = (uint64_t)ost.st_size;
	mk_say(o, "write   %s (%s): %s (%.2f s)", o->out,
	         fmt == IMAGE_FORMAT_OCI_DIR ? "OCI layout" : "OCI + docker archive",
	         util_human_size(written, sz1, sizeof(sz1)), util_now() - t0);
done:
	snprintf(res->manifest_digest, sizeof(res->manifest_digest), "%s", ir.manifest_digest);
	res->compressed = ir.compressed;
	res->uncompressed = ir.uncompressed;
	rc = 0;
out:
	free(init_bin);
	free(svc_bin);
	strv_clear(&ep);
	strv_clear(&env);
	strv_clear(&hc);
	sbom_build_free(&sb);
	free(bpf);
	free(policy_caps);
	rootfs_layer_free(&l1);
	rootfs_layer_free(&l2);
	rootfs_tree_free(base);
	rootfs_tree_free(svc);
	image_base_close(bimg);
	return rc;
}

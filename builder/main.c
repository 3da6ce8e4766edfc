/* mkimage: turn a service (Go module, C sources or a static binary) into a
 * minimal, hardened container image, with no Docker daemon.
 *
 * main() only dispatches: `build`, `inspect`, `policy`, `help`, and the
 * image command (`--static APP ...`).  Each front end parses options into a
 * struct, calls the modules and prints; every error goes through mk_die()
 * with the `mkimage: ` prefix.  Exit codes: 0 ok, 1 failure, 2 usage. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"

/* builder/cmd_policy.c comes from the policies engineer; until it is
 * linked in, `mkimage policy` says so instead of failing the build. */
#pragma weak cmd_policy

static int usage_error(const struct mb_err *err, const char *cmd)
{
	fprintf(stderr, "mkimage: %s\n", err->msg);
	fprintf(stderr, "mkimage: see `mkimage %s--help`\n", cmd);
	return MK_EXIT_USAGE;
}


/* The default image name from the service name: lowercase, and separator
 * runs the reference grammar refuses ("..", "___", "._", a leading one)
 * turned into one `-`, so that `docker load` accepts the RepoTag. */
static char *tag_name(const char *s)
{
	size_t len = strlen(s), j = 0;
	char *d = malloc(len + 4);
	if (!d)
		return NULL;
	for (size_t i = 0; i < len;) {
		char ch = s[i];
		if (!strchr("._-", ch)) {
			d[j++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
			i++;
			continue;
		}
		size_t r = strspn(s + i, "._-");
		bool dashes = strspn(s + i, "-") == r;
		if (j > 0 && (r == 1 || dashes || (r == 2 && !strncmp(s + i, "__", 2)))) {
			memcpy(d + j, s + i, r);
			j += r;
		} else if (j > 0) {
			d[j++] = '-';
		}
		i += r;
	}
	while (j > 0 && strchr("._-", d[j - 1]))
		j--;
	if (j == 0)
		strcpy(d, "app");
	else
		d[j] = '\0';
	return d;
}

/* Removes a temporary build directory and what is in it (one binary). */
static void rm_tmpdir(const char *dir, const char *file)
{
	if (file)
		unlink(file);
	rmdir(dir);
}

/* The start that `mkimage --static` and `mkimage build` share: options,
 * help, validation, the target architecture, the kind of APP and the name
 * derived from it.  Returns -1 to go on, else the exit code to return (and
 * then o is already freed). */
static int start_command(int argc, char **argv, bool image, struct mk_opts *o,
                         enum app_kind *kind, char **name, struct mb_err *err)
{
	mk_opts_init(o);
	int r = mk_opts_parse(argc, argv, image, o, err);
	if (r == 1) {
		char *h[] = { "help", image ? "image" : "build", NULL };
		mk_opts_free(o);
		return cmd_help(2, h);
	}
	if (r == 0 && mk_opts_validate(o, err) < 0)
		r = -1;
	if (r < 0 && err->usage) {
		mk_opts_free(o);
		return usage_error(err, image ? "" : "build ");
	}
	if (r < 0) {
		mk_opts_free(o);
		return mk_die(MK_EXIT_FAIL, "%s", err->msg);
	}
	/* validated above: one platform or several (platforms.c) */
	mk_platforms_parse(o->arch, o->platform, o->plats, &o->nplats, err);
	o->arch = o->plats[0];
	int64_t epoch;
	if (build_detect(o->app, kind, err) < 0 || (image && mk_source_date_epoch(&epoch, err) < 0)) {
		mk_opts_free(o);
		return mk_die(MK_EXIT_FAIL, "%s", err->msg);
	}
	*name = build_app_name(o->app, *kind);
	return -1;
}

int cmd_image(int argc, char **argv)
{
	struct mk_opts o;
	char sz1[32], sz2[32];
	struct mb_err err = {0};
	int rc = MK_EXIT_FAIL;
	char *name = NULL, *tag = NULL, *out = NULL;
	char tmpdir[PATH_MAX] = "", binary[PATH_MAX] = "", pushdir[PATH_MAX] = "";
	enum app_kind kind;
	int r = start_command(argc, argv, true, &o, &kind, &name, &err);
	if (r >= 0)
		return r;
	/* --push without -o: the image goes to a temporary layout, pushed
	 * from there and removed */
	if (o.push && !o.out) {
		const char *td = getenv("TMPDIR");
		snprintf(pushdir, sizeof(pushdir), "%s/mkimage-push.XXXXXX", td && *td ? td : "/tmp");
		if (!mkdtemp(pushdir)) {
			rc = mk_die(MK_EXIT_FAIL, "cannot create a temporary directory `%s`: %s", pushdir,
			         strerror(errno));
			pushdir[0] = '\0';
			goto out;
		}
		if (asprintf(&out, "%s/image", pushdir) < 0)
			goto oom;
		o.out = out;
		o.format = "oci";
	}
	if (!o.out) {
		if (asprintf(&out, "%s%s", name, !strcmp(o.format, "oci") ? ".oci" : ".tar") < 0)
			goto oom;
		o.out = out;
	}
	if (!o.tag) {
		char *ln = tag_name(name);
		if (!ln || asprintf(&tag, "%s:latest", ln) < 0) {
			free(ln);
			goto oom;
		}
		free(ln);
		o.tag = tag;
	}
	if (image_check_output(o.out, &err) < 0) {
		rc = mk_die(MK_EXIT_FAIL, "%s", err.msg);
		goto out;
	}
	/* the SBOM names the musl a C service mkimage builds is linked with */
	o.app_musl = kind == APP_C_FILE || kind == APP_C_DIR || kind == APP_MAKEFILE;
	if (o.nplats > 1) {
		/* the index, with every platform's image, goes to the registry as
		 * the single-platform image does (--push was silently ignored) */
		rc = mk_image_platforms(&o, kind, name);
		if (rc == MK_EXIT_OK && o.push && mk_push_built(&o, o.out, &err) < 0)
			rc = mk_die(MK_EXIT_FAIL, "cannot push to `%s`: %s", o.push, err.msg);
		goto out;
	}

	/* The init is checked before a build that may take a while (without
	 * a build, mk_compose checks it on the bytes it reads for the image). */
	char init[PATH_MAX];
	if (!o.no_init && kind != APP_ELF && mk_find_init(o.arch, init, sizeof(init), &err) < 0) {
		rc = mk_die(MK_EXIT_FAIL, "%s", err.msg);
		goto out;
	}

	double t0 = util_now();
	if (kind == APP_ELF) {
		/* checked by mk_compose, on the bytes it puts in the image */
		snprintf(binary, sizeof(binary), "%s", o.app);
	} else {
		const char *td = getenv("TMPDIR");
		snprintf(tmpdir, sizeof(tmpdir), "%s/mkimage.XXXXXX", td && *td ? td : "/tmp");
		if (!mkdtemp(tmpdir)) {
			rc = mk_die(MK_EXIT_FAIL, "cannot create a temporary directory `%s`: %s", tmpdir,
			         strerror(errno));
			tmpdir[0] = '\0';
			goto out;
		}
		if ((size_t)snprintf(binary, sizeof(binary), "%s/%s", tmpdir, name) >= sizeof(binary)) {
			binary[0] = '\0';
			rc = mk_die(MK_EXIT_FAIL, "TMPDIR `%s` is too long for a build directory", tmpdir);
			goto out;
		}
		util_cleanup_push(tmpdir, binary);
		struct build_opts bo = { .app = o.app, .arch = o.arch, .cache_dir = o.cache_dir,
		                         .out = binary, .quiet = o.quiet, .bin = o.bin, .go = o.go,
		                         .ldflags = o.ldflags, .tags = o.tags };
		if (!o.quiet)
			fprintf(stderr, "mkimage: build   %s `%s` for linux/%s\n",
			        build_kind_name(kind), o.app, o.arch);
		if (build_app(&bo, NULL, &err) < 0) {
			free(bo.built_name);
			rc = mk_die(MK_EXIT_FAIL, "%s", err.msg);
			goto out;
		}
		/* A Makefile's program names the service (and the defaults). */
		if (bo.built_name && strcmp(bo.built_name, name) != 0) {
			free(name);
			name = bo.built_name;
			if (out) {
				free(out);
				if (asprintf(&out, "%s%s", name, !strcmp(o.format, "oci") ? ".oci" : ".tar") < 0) {
					out = NULL;
					goto oom;
				}
				o.out = out;
			}
			if (tag) {
				char *ln = tag_name(name);
				free(tag);
				if (!ln || asprintf(&tag, "%s:latest", ln) < 0) {
					free(ln);
					tag = NULL;
					goto oom;
				}
				free(ln);
				o.tag = tag;
			}
		} else {
			free(bo.built_name);
		}
	}
	struct stat st;
	if (!o.quiet && stat(binary, &st) == 0)
		fprintf(stderr, "mkimage: binary  %s: %s static linux/%s (%.2f s)\n", name,
		        util_human_size((uint64_t)st.st_size, sz1, sizeof(sz1)), o.arch,
		        util_now() - t0);

	struct mk_result res = { 0 };
	int cr = mk_compose(&o, binary, name, &res, &err);
	if (cr < 0) { /* usage: an option asks for what cannot be (a refused --add) */
		rc = mk_die(err.usage ? MK_EXIT_USAGE : MK_EXIT_FAIL, "%s", err.msg);
		goto out;
	}
	if (!o.quiet)
		fprintf(stderr, "mkimage: done    %s -> %s\n"
		        "mkimage:         digest %s, %s compressed, %s uncompressed\n",
		        o.tag, o.out, res.manifest_digest,
		        util_human_size(res.compressed, sz1, sizeof(sz1)),
		        util_human_size(res.uncompressed, sz2, sizeof(sz2)));
	if (o.push && mk_push_built(&o, o.out, &err) < 0) {
		rc = mk_die(MK_EXIT_FAIL, "cannot push to `%s`: %s", o.push, err.msg);
		goto out;
	}
	rc = MK_EXIT_OK;
	goto out;
oom:
	rc = mk_die(MK_EXIT_FAIL, "out of memory");
out:
	if (tmpdir[0])
		rm_tmpdir(tmpdir, binary);
	if (pushdir[0])
		util_rm_rf(pushdir);
	free(name);
	free(tag);
	free(out);
	mk_opts_free(&o);
	return rc;
}

int cmd_build(int argc, char **argv)
{
	struct mk_opts o;
	char sz[32];
	struct mb_err err = {0};
	char *name = NULL;
	int rc = MK_EXIT_FAIL;
	enum app_kind kind;
	int r = start_command(argc, argv, false, &o, &kind, &name, &err);
	if (r >= 0)
		return r;
	if (!o.out)
		o.out = name;
	if (image_check_output(o.out, &err) < 0) {
		rc = mk_die(MK_EXIT_FAIL, "%s", err.msg);
		goto out;
	}
	if (o.nplats > 1) {
		rc = mk_build_platforms(&o, kind, name);
		goto out;
	}
	double t0 = util_now();
	if (!o.quiet)
		fprintf(stderr, "mkimage: build   %s `%s` for linux/%s\n", build_kind_name(kind),
		        o.app, o.arch);
	struct build_opts bo = { .app = o.app, .arch = o.arch, .cache_dir = o.cache_dir,
	                         .out = o.out, .quiet = o.quiet, .bin = o.bin, .go = o.go,
	                         .ldflags = o.ldflags, .tags = o.tags };
	int br = build_app(&bo, NULL, &err);
	free(bo.built_name);
	if (br < 0) {
		rc = mk_die(MK_EXIT_FAIL, "%s", err.msg);
		goto out;
	}
	struct stat st;
	if (!o.quiet && stat(o.out, &st) == 0)
		fprintf(stderr, "mkimage: done    %s: %s static linux/%s (%.2f s)\n", o.out,
		        util_human_size((uint64_t)st.st_size, sz, sizeof(sz)), o.arch,
		        util_now() - t0);
	rc = MK_EXIT_OK;
out:
	free(name);
	mk_opts_free(&o);
	return rc;
}

static int dispatch(int argc, char **argv);

int main(int argc, char **argv)
{
	util_cleanup_on_signal();
	int rc = dispatch(argc, argv);
	/* Interrupted during a build: everything is cleaned up by now; die
	 * of the signal so that the caller sees what happened. */
	int sig = util_interrupted();
	if (sig) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	return rc;
}

static int dispatch(int argc, char **argv)
{
	if (argc < 2) {
		char *h[] = { "help", NULL };
		cmd_help(1, h);
		return MK_EXIT_USAGE;
	}
	const char *c = argv[1];
	if (!strcmp(c, "--version") || !strcmp(c, "-V")) {
		printf("mkimage %s (minbase)\n", MINBASE_VERSION);
		return MK_EXIT_OK;
	}
	if (!strcmp(c, "--help") || !strcmp(c, "-h")) {
		char *h[] = { "help", NULL };
		return cmd_help(1, h);
	}
	if (!strcmp(c, "help"))
		return cmd_help(argc - 1, argv + 1);
	if (!strcmp(c, "build"))
		return cmd_build(argc - 1, argv + 1);
	if (!strcmp(c, "inspect"))
		return cmd_inspect(argc - 1, argv + 1);
	if (!strcmp(c, "policy")) {
		if (!cmd_policy)
			return mk_die(MK_EXIT_FAIL, "`policy` is not built into this mkimage yet");
		return cmd_policy(argc - 1, argv + 1);
	}
	if (!strcmp(c, "base"))
		return cmd_base(argc - 1, argv + 1);
	if (!strcmp(c, "push"))
		return cmd_push(argc - 1, argv + 1);
	if (!strcmp(c, "pull"))
		return cmd_pull(argc - 1, argv + 1);
	if (c[0] != '-') {
		struct mb_err err = {0};
		mb_error(&err, 0, "unknown command `%s`: use `--static APP`, `build`, "
		         "`inspect`, `base`, `policy` or `help`", c);
		return usage_error(&err, "");
	}
	return cmd_image(argc, argv);
}

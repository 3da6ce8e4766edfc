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

static int usage_error(const struct mb_err *err, const char *cmd)
{
	fprintf(stderr, "mkimage: %s\n", err->msg);
	fprintf(stderr, "mkimage: see `mkimage %s--help`\n", cmd);
	return MK_EXIT_USAGE;
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
	if (build_detect(o->app, kind, err) < 0) {
		mk_opts_free(o);
		return mk_die(MK_EXIT_FAIL, "%s", err->msg);
	}
	*name = build_app_name(o->app, *kind);
	return -1;
}

/* mkimage --static APP: parse, call the pipeline (pipeline.c), print. */
int cmd_image(int argc, char **argv)
{
	struct mk_opts o;
	struct mk_result res;
	char sz1[32], sz2[32];
	struct mb_err err = {0};
	char *name = NULL;
	enum app_kind kind;
	int r = start_command(argc, argv, true, &o, &kind, &name, &err);
	if (r >= 0)
		return r;
	int rc = mk_image(&o, kind, name, &res, &err);
	if (rc < 0) {
		rc = mk_die(err.usage ? MK_EXIT_USAGE : MK_EXIT_FAIL, "%s", err.msg);
		goto out;
	}
	if (!o.quiet) {
		fprintf(stderr, "mkimage: done    %s -> %s", o.tag, o.out);
		for (size_t i = 0; o.nplats > 1 && i < o.nplats; i++)
			fprintf(stderr, "%s linux/%s", i ? "" : ":", o.plats[i]);
		fprintf(stderr, "\nmkimage:         %s %s, %s compressed, %s uncompressed\n",
		        o.nplats > 1 ? "index" : "digest", res.manifest_digest,
		        util_human_size(res.compressed, sz1, sizeof(sz1)),
		        util_human_size(res.uncompressed, sz2, sizeof(sz2)));
	}
	rc = MK_EXIT_OK;
	/* the index, with every platform's image, goes to the registry as the
	 * single-platform image does */
	if (o.push && mk_push_built(&o, o.out, &err) < 0)
		rc = mk_die(MK_EXIT_FAIL, "cannot push to `%s`: %s", o.push, err.msg);
out:
	mk_result_free(&res);
	free(name);
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
	if (!strcmp(c, "policy"))
		return cmd_policy(argc - 1, argv + 1);
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

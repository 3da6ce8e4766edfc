/* `mkimage push IMAGE REF` and the push after `mkimage --static APP --push
 * REF`: options into struct image_remote_opts, images/ does the rest.
 * Progress: on a terminal one line per blob (how, size, rate) and, for
 * large blobs, a line per few seconds; otherwise one summary line.  The
 * last line on stdout is always REF@DIGEST, for CI scripts. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder.h"
#include "../images/images.h"

struct progress {
	bool tty, quiet;
	double t0, last;
	unsigned retries;
};

static void on_event(void *ctx, const struct image_remote_event *ev)
{
	struct progress *p = ctx;
	char a[32], b[32];
	double now = util_now(), dt = now - p->t0;

	if (ev->kind == IMAGE_EV_RETRY) {
		p->retries++;
		if (!p->quiet)
			fprintf(stderr, "mkimage: retry   %s%s%s\n", ev->digest ? ev->digest + 7 : "",
			        ev->digest ? ": " : "", ev->msg ? ev->msg : "");
		return;
	}
	if (p->quiet || !p->tty)
		return;
	if (ev->kind == IMAGE_EV_BLOB_PROGRESS) {
		if (now - p->last < 2 || ev->done == ev->total)
			return;
		p->last = now;
		fprintf(stderr, "mkimage:         %.12s %s / %s (%s/s)\n", ev->digest + 7,
		        util_human_size(ev->done, a, sizeof(a)), util_human_size(ev->total, b, sizeof(b)),
		        util_human_size(dt > 0 ? (uint64_t)((double)ev->done / dt) : 0, b, sizeof(b)));
		return;
	}
	fprintf(stderr, "mkimage: blob    %.12s %-10s %s\n", ev->digest + 7, ev->how ? ev->how : "",
	        util_human_size(ev->total, a, sizeof(a)));
}

/* The options images/ takes, from ours; cache_dir keeps the record of
 * pushed blobs that cross-repository mounts use. */
static void remote_opts(const struct mk_remote *m, const char *cache_opt, struct progress *pg,
                        struct image_remote_opts *o, char *cache, size_t clen)
{
	struct mb_err cerr = {0};
	memset(o, 0, sizeof(*o));
	o->ca_file = m->ca;
	o->insecure = m->insecure;
	o->retry_time = m->retry_time ? (double)mk_parse_duration(m->retry_time) / 1e9 : 0;
	o->cache_dir = build_cache_dir(cache_opt, cache, clen, &cerr) == 0 ? cache : NULL;
	o->event = on_event;
	o->event_ctx = pg;
	/* tests and benchmarks: smaller PATCH chunks to exercise them */
	const char *cs = getenv("MINBASE_PUSH_CHUNK");
	if (cs && *cs)
		o->chunk_size = strtoull(cs, NULL, 10);
}

static int do_push(const char *path, const char *ref_name, const char *ref,
                   const struct mk_remote *m, const char *cache_opt, bool quiet, struct mb_err *err)
{
	struct progress pg = { .tty = isatty(2), .quiet = quiet, .t0 = util_now() };
	struct image_remote_opts o;
	struct image_push_result res;
	char cache[PATH_MAX], a[32];

	pg.last = pg.t0;
	remote_opts(m, cache_opt, &pg, &o, cache, sizeof(cache));
	if (image_push(path, ref_name, ref, &o, &res, err) < 0)
		return -1;
	if (!quiet)
		fprintf(stderr, "mkimage: pushed  %s: %zu blobs (%zu uploaded, %s; %zu already there; "
		        "%zu mounted) in %.2f s\n", ref, res.blobs, res.uploaded,
		        util_human_size(res.bytes_uploaded, a, sizeof(a)), res.present, res.mounted,
		        util_now() - pg.t0);
	printf("%s@%s\n", ref, res.digest);
	fflush(stdout);
	return 0;
}

int mk_push_built(const struct mk_opts *o, const char *path, struct mb_err *err)
{
	return do_push(path, NULL, o->push, &o->remote, o->cache_dir, o->quiet, err);
}

enum { P_REF = 256, P_CACHE };

int mk_remote_option(int c, const char *arg, struct mk_remote *m)
{
	switch (c) {
	case MK_RO_CA: m->ca = arg; return 1;
	case MK_RO_RETRY: m->retry_time = arg; return 1;
	case MK_RO_INSECURE:
		return strv_push(&m->insecure, &m->ninsecure, arg) < 0 ? -1 : 1;
	default:
		return 0;
	}
}

void mk_remote_free(struct mk_remote *m)
{
	strv_free(m->insecure);
}

int mk_remote_usage(const char *fmt, ...)
{
	va_list ap;
	fputs("mkimage: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nmkimage: see `mkimage help registry`\n", stderr);
	return MK_EXIT_USAGE;
}

int mk_remote_getopt(int argc, char **argv, const char *shortopts, const struct option *lo,
                     struct mk_remote *m, int *rc)
{
	int c, r;
	while ((c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		if ((r = mk_remote_option(c, optarg, m))) {
			if (r < 0) {
				fprintf(stderr, "mkimage: out of memory\n");
				*rc = MK_EXIT_FAIL;
				return MK_RO_STOP;
			}
			continue;
		}
		if (c == 'h') {
			char *h[] = { "help", "registry", NULL };
			*rc = cmd_help(2, h);
			return MK_RO_STOP;
		}
		if (c != ':' && c != '?')
			return c;
		*rc = mk_remote_usage("%s `%s`%s", c == ':' ? "option" : "unknown option",
		                      argv[optind - 1], c == ':' ? " needs a value" : "");
		return MK_RO_STOP;
	}
	return -1;
}

int cmd_push(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ref", required_argument, NULL, P_REF },
		MK_REMOTE_LONGOPTS,
		{ "cache", required_argument, NULL, P_CACHE },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mk_remote m = { 0 };
	const char *ref_name = NULL, *cache = NULL;
	bool quiet = false;
	struct mb_err err = {0};
	int c, rc = MK_EXIT_USAGE;

	opterr = 0;
	optind = 0;
	while ((c = mk_remote_getopt(argc, argv, ":qh", lo, &m, &rc)) >= 0) {
		switch (c) {
		case P_REF: ref_name = optarg; break;
		case P_CACHE: cache = optarg; break;
		case 'q': quiet = true; break;
		}
	}
	if (c == MK_RO_STOP)
		goto out;
	if (argc - optind != 2) {
		rc = mk_remote_usage("push takes IMAGE and REF: `mkimage push app.tar "
		                     "registry.example.com/app:1.0`");
		goto out;
	}
	if (mk_remote_validate(&m, &err) < 0) {
		rc = mk_remote_usage("%s", err.msg);
		goto out;
	}
	if (do_push(argv[optind], ref_name, argv[optind + 1], &m, cache, quiet, &err) < 0) {
		fprintf(stderr, "mkimage: cannot push `%s` to `%s`: %s\n", argv[optind],
		        argv[optind + 1], err.msg);
		rc = MK_EXIT_FAIL;
		goto out;
	}
	rc = MK_EXIT_OK;
out:
	mk_remote_free(&m);
	return rc;
}

/* --base: the base image, pulled with the same registry options as
 * --push (a file is read in place). */
int mk_base_open(const struct mk_opts *o, struct image_base **b, struct mb_err *err)
{
	struct progress pg = { .tty = isatty(2), .quiet = o->quiet, .t0 = util_now() };
	struct image_remote_opts ro;
	char cache[PATH_MAX];
	struct mb_err why = {0};

	remote_opts(&o->remote, o->cache_dir, &pg, &ro, cache, sizeof(cache));
	ro.event = NULL; /* the pull of a base is quiet but for errors */
	if (image_base_open(o->base, o->arch, &ro, b, &why) < 0)
		return mb_error(err, 0, "--base: %s", why.msg);
	return 0;
}

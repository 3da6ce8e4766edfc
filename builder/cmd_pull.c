/* `mkimage pull REF -o OUT`: an image from a registry into our archive (the
 * tar `mkimage --static` writes) or, with --format oci, a layout directory.
 * images/ checks every blob and manifest against its digest. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder.h"
#include "../images/images.h"

static void on_event(void *ctx, const struct image_remote_event *ev)
{
	bool *quiet = ctx;
	char a[32];
	if (*quiet)
		return;
	if (ev->kind == IMAGE_EV_RETRY)
		fprintf(stderr, "mkimage: retry   %s\n", ev->msg ? ev->msg : "");
	else if (ev->kind == IMAGE_EV_BLOB_DONE && isatty(2))
		fprintf(stderr, "mkimage: blob    %.12s %-10s %s\n", ev->digest + 7, ev->how,
		        util_human_size(ev->total, a, sizeof(a)));
}

int cmd_pull(int argc, char **argv)
{
	enum { L_FORMAT = 256, L_PLATFORM };
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "tag", required_argument, NULL, 't' },
		{ "format", required_argument, NULL, L_FORMAT },
		{ "platform", required_argument, NULL, L_PLATFORM },
		MK_REMOTE_LONGOPTS,
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mk_remote m = { 0 };
	const char *out = NULL, *format = "docker", *platform = NULL, *tag = NULL;
	bool quiet = false;
	char a[32];
	struct mb_err err = {0};
	int c, rc = MK_EXIT_USAGE;

	opterr = 0;
	optind = 0;
	while ((c = mk_remote_getopt(argc, argv, ":o:t:qh", lo, &m, &rc)) >= 0) {
		switch (c) {
		case 'o': out = optarg; break;
		case 't': tag = optarg; break;
		case L_FORMAT: format = optarg; break;
		case L_PLATFORM: platform = optarg; break;
		case 'q': quiet = true; break;
		}
	}
	if (c == MK_RO_STOP)
		goto out;
	if (argc - optind != 1 || !out) {
		rc = mk_remote_usage("pull takes REF and -o OUT: `mkimage pull "
		                     "registry.example.com/app:1.0 -o app.tar`");
		goto out;
	}
	if (strcmp(format, "docker") && strcmp(format, "oci")) {
		rc = mk_remote_usage("invalid --format `%s`: use docker or oci", format);
		goto out;
	}
	if (mk_remote_validate(&m, &err) < 0 || (tag && image_ref_check(tag, &err) < 0)) {
		rc = mk_remote_usage("%s", err.msg);
		goto out;
	}
	struct image_remote_opts o = {
		.ca_file = m.ca, .insecure = m.insecure, .pull_name = tag,
		.retry_time = m.retry_time ? (double)mk_parse_duration(m.retry_time) / 1e9 : 0,
		.event = on_event, .event_ctx = &quiet,
	};
	struct image_pull_result res;
	double t0 = util_now();
	if (image_pull(argv[optind], platform, mk_image_format(format), out, &o, &res, &err) < 0) {
		fprintf(stderr, "mkimage: cannot pull `%s`: %s\n", argv[optind], err.msg);
		rc = MK_EXIT_FAIL;
		goto out;
	}
	if (!quiet)
		fprintf(stderr, "mkimage: pulled  %s -> %s: %zu blobs, %s in %.2f s\n", argv[optind], out,
		        res.blobs, util_human_size(res.bytes, a, sizeof(a)), util_now() - t0);
	printf("%s@%s\n", argv[optind], res.digest);
	rc = MK_EXIT_OK;
out:
	mk_remote_free(&m);
	return rc;
}

/* `mkimage inspect IMAGE`: what is in an image (archive or OCI layout):
 * reference, digest, platform, user, entrypoint, cmd, env, ports, labels,
 * health check, security settings the init will apply, and the layers with
 * their sizes.  `--json` prints the config blob as stored. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "../images/images.h"

/* A string member of a config that may not hold one (the config is
 * input: printf must never see NULL for %s). */
static const char *str_or(json_t *v, const char *dflt)
{
	const char *s = json_string_value(v);
	return s ? s : dflt;
}

static void print_strarray(const char *label, json_t *a)
{
	if (!json_is_array(a) || json_array_size(a) == 0)
		return;
	printf("%-12s", label);
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		printf(" %s", json_is_string(v) ? json_string_value(v) : "?");
	putchar('\n');
}

static void print_keys(const char *label, json_t *o)
{
	if (!json_is_object(o) || json_object_size(o) == 0)
		return;
	printf("%-12s", label);
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
		printf(" %s", k);
	putchar('\n');
}

static const char *env_get(json_t *env, const char *key)
{
	size_t i, kl = strlen(key);
	json_t *v;
	json_array_foreach(env, i, v) {
		const char *s = json_string_value(v);
		if (s && !strncmp(s, key, kl) && s[kl] == '=')
			return s + kl + 1;
	}
	return NULL;
}

static void print_duration(const char *label, json_t *ns)
{
	if (!json_is_integer(ns) || json_integer_value(ns) <= 0)
		return;
	json_int_t v = json_integer_value(ns);
	if (v % 1000000000 == 0)
		printf("  %-11s %llds\n", label, (long long)(v / 1000000000));
	else
		printf("  %-11s %lldms\n", label, (long long)(v / 1000000));
}

static int print_image(const char *path, struct image_info *info, bool raw);

int cmd_inspect(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool raw = false;
	int c;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if (c == 'j')
			raw = true;
		else if (c == 'h') {
			char *h[] = { "help", "inspect", NULL };
			return cmd_help(2, h);
		} else {
			fprintf(stderr, "mkimage: unknown option `%s`\nmkimage: see `mkimage inspect "
			        "--help`\n", argv[optind - 1]);
			return MK_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "mkimage: %s\nmkimage: see `mkimage inspect --help`\n",
		        optind >= argc ? "no image given: `mkimage inspect IMAGE`"
		                       : "give one image to inspect");
		return MK_EXIT_USAGE;
	}
	const char *path = argv[optind];
	struct mb_err err = {0};
	struct image_info info;
	memset(&info, 0, sizeof(info));
	if (image_read(path, &info, &err) < 0) {
		fprintf(stderr, "mkimage: %s\n", err.msg);
		return MK_EXIT_FAIL;
	}
	if (info.nplatforms == 0) {
		int rc = print_image(path, &info, raw);
		image_info_free(&info);
		return rc;
	}
	/* A multi-platform image: the index, then every platform's image. */
	if (!raw) {
		printf("image        %s\n", path);
		if (info.image_name || info.ref_name)
			printf("reference    %s\n", info.image_name ? info.image_name : info.ref_name);
		printf("index        %s\n", info.index_digest);
		printf("platforms   ");
		for (size_t i = 0; i < info.nplatforms; i++)
			printf(" %s", info.platforms[i]);
		putchar('\n');
	}
	int rc = MK_EXIT_OK;
	for (size_t i = 0; i < info.nplatforms && rc == MK_EXIT_OK; i++) {
		/* "linux/arm64/v8" -> "arm64" */
		char arch[64];
		const char *a = strchr(info.platforms[i], '/');
		snprintf(arch, sizeof(arch), "%.*s", a ? (int)strcspn(a + 1, "/") : 0, a ? a + 1 : "");
		struct image_info pi;
		if (image_read_platform(path, arch, &pi, &err) < 0) {
			fprintf(stderr, "mkimage: %s\n", err.msg);
			rc = MK_EXIT_FAIL;
			break;
		}
		if (!raw)
			printf("\n--- %s\n", info.platforms[i]);
		rc = print_image(path, &pi, raw);
		image_info_free(&pi);
	}
	image_info_free(&info);
	return rc;
}


/* One image: its reference, digest, platform, config and layers (or, raw,
 * its config blob). */
static int print_image(const char *path, struct image_info *info, bool raw)
{
	if (raw) {
		fputs(info->config_json, stdout);
		putchar('\n');
		return MK_EXIT_OK;
	}
	json_error_t je;
	json_t *cfg = json_loads(info->config_json, 0, &je);
	if (!cfg) {
		fprintf(stderr, "mkimage: cannot parse the config of `%s`: %s\n", path, je.text);
		return MK_EXIT_FAIL;
	}
	json_t *cc = json_object_get(cfg, "config");
	json_t *env = json_object_get(cc, "Env");
	printf("image        %s\n", path);
	if (info->image_name || info->ref_name)
		printf("reference    %s\n", info->image_name ? info->image_name : info->ref_name);
	printf("digest       %s\n", info->manifest_digest);
	printf("platform     %s/%s\n", str_or(json_object_get(cfg, "os"), "?"),
	       str_or(json_object_get(cfg, "architecture"), "?"));
	if (json_is_string(json_object_get(cfg, "created")))
		printf("created      %s\n", json_string_value(json_object_get(cfg, "created")));
	const char *user = json_string_value(json_object_get(cc, "User"));
	const char *muser = env_get(env, "MINBASE_USER");
	if (muser && user && !strcmp(muser, user))
		muser = NULL; /* the same user for a root start: nothing to add */
	printf("user         %s%s%s%s\n", user && *user ? user : "(root: none set)",
	       muser ? " (the init drops to " : "", muser ? muser : "", muser ? ")" : "");
	print_strarray("entrypoint", json_object_get(cc, "Entrypoint"));
	print_strarray("cmd", json_object_get(cc, "Cmd"));
	if (json_is_string(json_object_get(cc, "WorkingDir")))
		printf("workdir      %s\n", json_string_value(json_object_get(cc, "WorkingDir")));
	print_strarray("env", env);
	print_keys("ports", json_object_get(cc, "ExposedPorts"));
	json_t *labels = json_object_get(cc, "Labels");
	if (json_is_object(labels) && json_object_size(labels)) {
		const char *k;
		json_t *v;
		printf("labels\n");
		json_object_foreach(labels, k, v)
			printf("  %s=%s\n", k, str_or(v, "?"));
	}
	json_t *hc = json_object_get(cc, "Healthcheck");
	if (json_is_object(hc)) {
		print_strarray("healthcheck", json_object_get(hc, "Test"));
		print_duration("interval", json_object_get(hc, "Interval"));
		print_duration("timeout", json_object_get(hc, "Timeout"));
		print_duration("start", json_object_get(hc, "StartPeriod"));
		if (json_integer_value(json_object_get(hc, "Retries")) > 0)
			printf("  %-11s %lld\n", "retries",
			       (long long)json_integer_value(json_object_get(hc, "Retries")));
		const char *probes[] = { "MINBASE_HEALTH_HTTP", "MINBASE_HEALTH_TCP",
		                         "MINBASE_HEALTH_EXEC", "MINBASE_HEALTH_GRPC",
		                         "MINBASE_HEALTH_GRPC_SERVICE" };
		for (size_t i = 0; i < 5; i++)
			if (env_get(env, probes[i]))
				printf("  %-11s %s\n", probes[i] + 15, env_get(env, probes[i]));
	} else {
		printf("healthcheck  none\n");
	}
	const char *sec = env_get(env, "MINBASE_SECCOMP");
	const char *caps = env_get(env, "MINBASE_CAPS");
	printf("seccomp      %s\n", sec ? sec : "none in the image (the runtime's default applies)");
	printf("capabilities %s\n", caps ? (*caps ? caps : "none") :
	       (user && strcmp(user, "0:0") && strcmp(user, "0") && *user ? "none (nonroot user)"
	                                                                  : "runtime default"));
	printf("layers       %zu\n", info->nlayers);
	json_t *hist = json_object_get(cfg, "history");
	uint64_t total = 0;
	for (size_t i = 0; i < info->nlayers; i++) {
		char sz[32];
		const char *by = json_string_value(json_object_get(json_array_get(hist, i),
		                                                   "created_by"));
		total += info->layer_sizes[i];
		printf("  %-10s %.19s...  %s\n", util_human_size(info->layer_sizes[i], sz, sizeof(sz)),
		       info->layer_digests[i], by ? by : "");
	}
	char tsz[32];
	printf("size         %s compressed\n", util_human_size(total, tsz, sizeof(tsz)));
	printf("sbom         %s\n", info->sbom_digest ? info->sbom_digest : "none");
	json_decref(cfg);
	return MK_EXIT_OK;
}

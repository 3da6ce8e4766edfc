/* Option parsing for `mkimage --static APP ...` and `mkimage build APP ...`:
 * getopt_long into struct mk_opts, then value checks.  Pure: no I/O beyond
 * reading argv, so it is unit-tested on its own (tests/unit/test_builder_opts.c). */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "../images/images.h"
#include "../init/init.h"     /* the init's value grammar (init/grammar.c) */


enum {
	O_STATIC = 's', O_OUT = 'o', O_TAG = 't', O_QUIET = 'q', O_HELP = 'h',
	O_ENV = 'e', O_USER = 'u', O_WORKDIR = 'w', O_LABEL = 'l', O_PORT = 'p',
	O_FORMAT = 256, O_ARCH, O_ENTRYPOINT, O_ADD, O_WRITABLE, O_CA, O_TZ,
	O_HHTTP, O_HTCP, O_HEXEC, O_HINT, O_HTIMEOUT, O_HSTART, O_HRETRIES,
	O_CAPS, O_POLICY, O_NOINIT, O_CACHE,
	O_PUSH, O_BASE, O_REGCA, O_INSECURE, O_RETRYTIME, O_HGRPC, O_HGRPCSVC,
	O_BIN, O_GO, O_LDFLAGS, O_TAGS,      /* build drivers (builder/build*.c) */
	O_PLATFORM, O_LOADPLAT,
	O_SBOM = 400,
};

static const struct option image_longopts[] = {
	{ "static", required_argument, NULL, O_STATIC },
	{ "output", required_argument, NULL, O_OUT },
	{ "tag", required_argument, NULL, O_TAG },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "arch", required_argument, NULL, O_ARCH },
	{ "platform", required_argument, NULL, O_PLATFORM },
	{ "load-platform", required_argument, NULL, O_LOADPLAT },
	{ "port", required_argument, NULL, O_PORT },
	{ "env", required_argument, NULL, O_ENV },
	{ "label", required_argument, NULL, O_LABEL },
	{ "user", required_argument, NULL, O_USER },
	{ "workdir", required_argument, NULL, O_WORKDIR },
	{ "entrypoint", required_argument, NULL, O_ENTRYPOINT },
	{ "add", required_argument, NULL, O_ADD },
	{ "writable", required_argument, NULL, O_WRITABLE },
	{ "ca-file", required_argument, NULL, O_CA },
	{ "tzdata", no_argument, NULL, O_TZ },
	{ "health-http", required_argument, NULL, O_HHTTP },
	{ "health-tcp", required_argument, NULL, O_HTCP },
	{ "health-exec", required_argument, NULL, O_HEXEC },
	{ "health-grpc", required_argument, NULL, O_HGRPC },
	{ "health-grpc-service", required_argument, NULL, O_HGRPCSVC },
	{ "health-interval", required_argument, NULL, O_HINT },
	{ "health-timeout", required_argument, NULL, O_HTIMEOUT },
	{ "health-start-period", required_argument, NULL, O_HSTART },
	{ "health-retries", required_argument, NULL, O_HRETRIES },
	{ "caps", required_argument, NULL, O_CAPS },
	{ "policy", required_argument, NULL, O_POLICY },
	{ "no-init", no_argument, NULL, O_NOINIT },
	{ "cache", required_argument, NULL, O_CACHE },
	{ "push", required_argument, NULL, O_PUSH },
	{ "base", required_argument, NULL, O_BASE },
	{ "registry-ca", required_argument, NULL, O_REGCA },
	{ "insecure-registry", required_argument, NULL, O_INSECURE },
	{ "retry-time", required_argument, NULL, O_RETRYTIME },
	{ "bin", required_argument, NULL, O_BIN },
	{ "go", required_argument, NULL, O_GO },
	{ "ldflags", required_argument, NULL, O_LDFLAGS },
	{ "tags", required_argument, NULL, O_TAGS },
	{ "sbom", required_argument, NULL, O_SBOM },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};
static const char image_shortopts[] = ":s:o:t:p:e:l:u:w:qh";

static const struct option build_longopts[] = {
	{ "output", required_argument, NULL, O_OUT },
	{ "arch", required_argument, NULL, O_ARCH },
	{ "platform", required_argument, NULL, O_PLATFORM },
	{ "cache", required_argument, NULL, O_CACHE },
	{ "bin", required_argument, NULL, O_BIN },
	{ "go", required_argument, NULL, O_GO },
	{ "ldflags", required_argument, NULL, O_LDFLAGS },
	{ "tags", required_argument, NULL, O_TAGS },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};
static const char build_shortopts[] = ":o:qh";

void mk_opts_init(struct mk_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->format = "docker";
	o->user = MB_NONROOT_USER;
	o->workdir = "/app";
	o->health.retries = -1;
}

void mk_opts_free(struct mk_opts *o)
{
	strv_free(o->ports);
	strv_free(o->env);
	strv_free(o->labels);
	strv_free(o->adds);
	strv_free(o->writable);
	strv_free(o->args);
	strv_free(o->remote.insecure);
	memset(o, 0, sizeof(*o));
}

/* Does option token a (as written on the command line) take the next word
 * as its value?  Used to find the `--` that starts the service's args. */
static bool takes_value(const char *a, const struct option *lo, const char *so)
{
	if (a[0] != '-' || a[1] == '\0')
		return false;
	if (a[1] == '-') {
		const char *name = a + 2;
		if (strchr(name, '='))
			return false;
		size_t len = strlen(name), hits = 0;
		const struct option *found = NULL;
		for (const struct option *p = lo; p->name; p++) {
			if (strcmp(p->name, name) == 0)
				return p->has_arg == required_argument;
			if (strncmp(p->name, name, len) == 0) {
				found = p;
				hits++;
			}
		}
		return hits == 1 && found->has_arg == required_argument;
	}
	/* A cluster of short options: the value is the next word only when
	 * the option that takes it ends the cluster. */
	for (const char *c = a + 1; *c; c++) {
		const char *p = strchr(so + 1, *c);
		if (p && p[1] == ':')
			return c[1] == '\0';
	}
	return false;
}

int mk_opts_parse(int argc, char **argv, bool image, struct mk_opts *o, struct mb_err *err)
{
	const struct option *lo = image ? image_longopts : build_longopts;
	const char *so = image ? image_shortopts : build_shortopts;

	/* Everything after the first `--` that is not an option's value goes
	 * to the service, untouched by getopt's permutation. */
	int sep = argc;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
		if (takes_value(argv[i], lo, so))
			i++;
	}
	if (sep < argc && !image)
		return mb_usage(err, "`mkimage build` takes no service arguments after `--`");
	for (int i = sep + 1; i < argc; i++)
		if (strv_push(&o->args, &o->nargs, argv[i]) < 0)
			goto oom;

	opterr = 0;
	optind = 0; /* 0: full re-initialisation of glibc's getopt */
	int c, r;
	while ((c = getopt_long(sep, argv, so, lo, NULL)) != -1) {
		r = 0;
		switch (c) {
		case O_STATIC: o->app = optarg; break;
		case O_OUT: o->out = optarg; break;
		case O_TAG: o->tag = optarg; break;
		case O_SBOM: o->sbom = optarg; break;
		case O_FORMAT: o->format = optarg; break;
		case O_ARCH: o->arch = optarg; break;
		case O_PLATFORM: o->platform = optarg; break;
		case O_LOADPLAT: o->load_platform = optarg; break;
		case O_PORT: r = strv_push(&o->ports, &o->nports, optarg); break;
		case O_ENV: r = strv_push(&o->env, &o->nenv, optarg); break;
		case O_LABEL: r = strv_push(&o->labels, &o->nlabels, optarg); break;
		case O_USER: o->user = optarg; break;
		case O_WORKDIR: o->workdir = optarg; break;
		case O_ENTRYPOINT: o->entrypoint = optarg; break;
		case O_ADD: r = strv_push(&o->adds, &o->nadds, optarg); break;
		case O_WRITABLE: r = strv_push(&o->writable, &o->nwritable, optarg); break;
		case O_CA: o->ca_file = optarg; break;
		case O_TZ: o->tzdata = true; break;
		case O_HHTTP: o->health.http = optarg; break;
		case O_HTCP: o->health.tcp = optarg; break;
		case O_HEXEC: o->health.exec = optarg; break;
		case O_HGRPC: o->health.grpc = optarg; break;
		case O_HGRPCSVC: o->health.grpc_service = optarg; break;
		case O_HINT: o->health.interval = optarg; break;
		case O_HTIMEOUT: o->health.timeout = optarg; break;
		case O_HSTART: o->health.start_period = optarg; break;
		case O_HRETRIES: {
			char ierr[INIT_ERRLEN];
			int64_t v;
			if (grammar_option("--health-retries", optarg, &v, ierr) < 0)
				return mb_usage(err, "--health-retries: %s", ierr);
			o->health.retries = (int)v;
			break;
		}
		case O_CAPS: o->caps = optarg; o->caps_set = true; break;
		case O_POLICY: o->policy = optarg; break;
		case O_NOINIT: o->no_init = true; break;
		case O_CACHE: o->cache_dir = optarg; break;
		case O_PUSH: o->push = optarg; break;
		case O_BASE: o->base = optarg; break;
		case O_REGCA: o->remote.ca = optarg; break;
		case O_INSECURE: r = strv_push(&o->remote.insecure, &o->remote.ninsecure, optarg); break;
		case O_RETRYTIME: o->remote.retry_time = optarg; break;
		case O_BIN: o->bin = optarg; break;
		case O_GO: o->go = optarg; break;
		case O_LDFLAGS: o->ldflags = optarg; break;
		case O_TAGS: o->tags = optarg; break;
		case O_QUIET: o->quiet = true; break;
		case O_HELP: return 1;
		case ':':
			if (optopt)
				return mb_usage(err, "option `-%c` needs a value", optopt);
			return mb_usage(err, "option `%s` needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return mb_usage(err, "unknown option `-%c`", optopt);
			return mb_usage(err, "unknown option `%s`", argv[optind - 1]);
		}
		if (r < 0)
			goto oom;
	}
	/* Positional words: `build APP`, or APP for the image when --static
	 * was not spelled out. */
	for (int i = optind; i < sep; i++) {
		if (!o->app) {
			o->app = argv[i];
			continue;
		}
		return mb_usage(err, "unexpected argument `%s`%s", argv[i],
		       image ? " (service arguments go after `--`)" : "");
	}
	if (!o->app)
		return mb_usage(err, image ? "no service given: `mkimage --static APP -o OUT.tar`"
		                        : "no app given: `mkimage build APP -o BINARY`");
	return 0;
oom:
	return mb_error(err, 0, "out of memory");
}

/* "amd64", "x86_64", "linux/amd64", "linux/arm64", "linux/arm64/v8" ->
 * the OCI arch name; NULL for anything else. */
const char *mk_platform_arch(const char *p)
{
	char buf[64];
	if (!p || strlen(p) >= sizeof(buf))
		return NULL;
	snprintf(buf, sizeof(buf), "%s", p);
	char *arch = buf, *slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (strcmp(buf, "linux"))
			return NULL;
		arch = slash + 1;
		char *v = strchr(arch, '/');
		if (v) {
			*v++ = '\0';
			/* arm64's one variant; amd64 has none we build */
			if (strcmp(arch, "arm64") || strcmp(v, "v8"))
				return NULL;
		}
	}
	return arch_normalize(arch);
}

const char *arch_variant(const char *oci_arch)
{
	return oci_arch && !strcmp(oci_arch, "arm64") ? "v8" : NULL;
}

int mk_platforms_parse(const char *arch, const char *platform, const char **out, size_t *n,
                       struct mb_err *err)
{
	*n = 0;
	if (arch && platform)
		return mb_usage(err, "give --arch or --platform, not both (--platform linux/amd64,linux/arm64 "
		                "is --arch amd64,arm64)");
	const char *list = platform ? platform : arch;
	const char *opt = platform ? "--platform" : "--arch";
	if (!list) {
		out[(*n)++] = arch_host();
		return 0;
	}
	for (const char *p = list;; p++) {
		size_t l = strcspn(p, ",");
		char item[64];
		snprintf(item, sizeof(item), "%.*s", (int)(l < sizeof(item) ? l : sizeof(item) - 1), p);
		const char *a = l < sizeof(item) ? (platform ? mk_platform_arch(item)
		                                             : arch_normalize(item)) : NULL;
		if (!a)
			return mb_usage(err, "invalid %s `%s`: %s`%s` is not a platform minbase builds; use %s",
			                opt, list, l ? "" : "an empty item ", item,
			                platform ? "linux/amd64, linux/arm64 or both, comma-separated"
			                         : "amd64 or arm64, or both: amd64,arm64");
		for (size_t i = 0; i < *n; i++)
			if (!strcmp(out[i], a))
				return mb_usage(err, "invalid %s `%s`: linux/%s is given twice", opt, list, a);
		if (*n == MK_MAX_PLATFORMS)
			return mb_usage(err, "invalid %s `%s`: too many platforms", opt, list);
		out[(*n)++] = a;
		p += l;
		if (!*p)
			break;
	}
	return 0;
}

/* The init's own duration grammar (init/grammar.c), in nanoseconds for the
 * image config's Healthcheck: what mkimage accepts is what the init reads. */
int64_t mk_parse_duration(const char *s)
{
	char err[INIT_ERRLEN];
	int64_t ms;
	if (!s || parse_duration_ms(s, &ms, err) < 0)
		return -1;
	return ms * 1000000;
}

/* "UID:GID", both decimal. */
static bool numeric_user(const char *u)
{
	const char *colon = strchr(u, ':');
	if (!colon || colon == u || !colon[1])
		return false;
	for (const char *p = u; *p; p++)
		if (p != colon && !isdigit((unsigned char)*p))
			return false;
	return strtoul(u, NULL, 10) <= 0x7fffffffUL && strtoul(colon + 1, NULL, 10) <= 0x7fffffffUL;
}

static bool valid_port(const char *p)
{
	char *end;
	long n = strtol(p, &end, 10);
	if (end == p || n < 1 || n > 65535)
		return false;
	return *end == '\0' || !strcmp(end, "/tcp") || !strcmp(end, "/udp") || !strcmp(end, "/sctp");
}

/* A path inside the image: absolute, no `..` component, no empty name. */
static bool valid_image_path(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *c = p; *c;) {
		while (*c == '/')
			c++;
		size_t l = strcspn(c, "/");
		if (l == 2 && c[0] == '.' && c[1] == '.')
			return false;
		c += l;
	}
	return true;
}

int mk_remote_validate(const struct mk_remote *r, struct mb_err *err)
{
	if (r->retry_time && mk_parse_duration(r->retry_time) < 0)
		return mb_usage(err, "invalid --retry-time `%s`: use a duration such as 2m, 30s or plain "
		                "seconds", r->retry_time);
	for (size_t i = 0; i < r->ninsecure; i++)
		if (!r->insecure[i][0] || strpbrk(r->insecure[i], " /@"))
			return mb_usage(err, "invalid --insecure-registry `%s`: give HOST or HOST:PORT",
			                r->insecure[i]);
	return 0;
}

int mk_opts_validate(const struct mk_opts *o, struct mb_err *err)
{
	if (mk_remote_validate(&o->remote, err) < 0)
		return -1;
	if ((o->remote.ca || o->remote.ninsecure || o->remote.retry_time) && !o->push && !o->base)
		return mb_usage(err, "--registry-ca, --insecure-registry and --retry-time go with --push "
		                "or --base");
	if (o->format && strcmp(o->format, "docker") && strcmp(o->format, "oci"))
		return mb_usage(err, "invalid --format `%s`: use `docker` (one tar for docker load and "
		                "OCI tools) or `oci` (an OCI layout directory)", o->format);
	const char *plats[MK_MAX_PLATFORMS];
	size_t nplats;
	if (mk_platforms_parse(o->arch, o->platform, plats, &nplats, err) < 0)
		return -1;
	if (o->load_platform) {
		const char *lp = mk_platform_arch(o->load_platform);
		bool found = false;
		for (size_t i = 0; lp && i < nplats; i++)
			found = found || !strcmp(plats[i], lp);
		if (!found)
			return mb_usage(err, "invalid --load-platform `%s`: name one of the platforms built "
			                "(e.g. linux/%s)", o->load_platform, plats[0]);
	}
	if (o->sbom && *o->sbom && strcmp(o->sbom, "none") && nplats > 1)
		return mb_usage(err, "invalid --sbom `%s`: a multi-platform image holds one SBOM per "
		                "platform (mkimage inspect lists them); --sbom FILE needs one --arch", o->sbom);
	if (o->sbom && !*o->sbom)
		return mb_usage(err, "invalid --sbom ``: give a file name for the SPDX document, or `none` "
		                "for no SBOM");
	struct mb_err why = {0};
	if (o->tag && image_ref_check(o->tag, &why) < 0) {
		/* checked here, before a build that may take a while */
		return mb_usage(err, "--tag: %s", why.msg);
	}
	if (o->user && !numeric_user(o->user))
		return mb_usage(err, "invalid --user `%s`: give numeric UID:GID (Kubernetes runAsNonRoot "
		       "rejects names), e.g. 65532:65532", o->user);
	for (size_t i = 0; i < o->nports; i++)
		if (!valid_port(o->ports[i]))
			return mb_usage(err, "invalid --port `%s`: use N, N/tcp or N/udp with N in 1..65535",
			       o->ports[i]);
	for (size_t i = 0; i < o->nenv; i++) {
		const char *eq = strchr(o->env[i], '=');
		if (!eq || eq == o->env[i])
			return mb_usage(err, "invalid --env `%s`: use KEY=VALUE", o->env[i]);
	}
	for (size_t i = 0; i < o->nlabels; i++) {
		const char *eq = strchr(o->labels[i], '=');
		if (!eq || eq == o->labels[i])
			return mb_usage(err, "invalid --label `%s`: use KEY=VALUE", o->labels[i]);
	}
	if (o->workdir && !valid_image_path(o->workdir))
		return mb_usage(err, "invalid --workdir `%s`: use an absolute path without `..`", o->workdir);
	for (size_t i = 0; i < o->nwritable; i++)
		if (!valid_image_path(o->writable[i]) || !strcmp(o->writable[i], "/"))
			return mb_usage(err, "invalid --writable `%s`: use an absolute directory path inside the "
			       "image, without `..`", o->writable[i]);
	for (size_t i = 0; i < o->nadds; i++) {
		const char *colon = strrchr(o->adds[i], ':');
		if (!colon || colon == o->adds[i] || !colon[1])
			return mb_usage(err, "invalid --add `%s`: use SRC:DST (DST absolute, or relative to /app)",
			       o->adds[i]);
		const char *dst = colon + 1;
		char buf[4096];
		snprintf(buf, sizeof(buf), "%s%s", dst[0] == '/' ? "" : "/app/", dst);
		if (!valid_image_path(buf))
			return mb_usage(err, "invalid --add `%s`: the destination `%s` must stay inside the "
			       "image (no `..`)", o->adds[i], dst);
	}
	/* Both are split on blanks: one made of blanks only would give an
	 * image with no program to start (or a probe with nothing to run). */
	if (o->entrypoint && !o->entrypoint[strspn(o->entrypoint, " \t")])
		return mb_usage(err, "invalid --entrypoint `%s`: give a program path", o->entrypoint);
	/* What becomes MINBASE_HEALTH_*: checked with the init's own rules. */
	const char *hvals[][2] = { { "--health-http", o->health.http },
	                           { "--health-tcp", o->health.tcp },
	                           { "--health-exec", o->health.exec },
	                           { "--health-interval", o->health.interval },
	                           { "--health-timeout", o->health.timeout },
	                           { "--health-start-period", o->health.start_period } };
	for (size_t i = 0; i < sizeof(hvals) / sizeof(hvals[0]); i++) {
		char ierr[INIT_ERRLEN];
		if (hvals[i][1] && grammar_option(hvals[i][0], hvals[i][1], NULL, ierr) < 0)
			return mb_usage(err, "%s: %s", hvals[i][0], ierr);
	}
	int nprobes = !!o->health.http + !!o->health.tcp + !!o->health.exec + !!o->health.grpc;
	if (nprobes > 1)
		return mb_usage(err, "give only one of --health-http, --health-tcp, --health-exec and "
		       "--health-grpc");
	if (!nprobes && (o->health.interval || o->health.timeout || o->health.start_period ||
	                 o->health.retries >= 0))
		return mb_usage(err, "health timing options need a probe: add --health-http, --health-tcp, "
		       "--health-exec or --health-grpc");
	if (o->health.grpc_service && !o->health.grpc)
		return mb_usage(err, "--health-grpc-service needs --health-grpc HOST:PORT");
	/* The init's own rules (init/grammar.c) */
	const char *grpc[][2] = { { "--health-grpc", o->health.grpc },
	                          { "--health-grpc-service", o->health.grpc_service } };
	for (size_t i = 0; i < 2; i++) {
		char ierr[INIT_ERRLEN];
		if (grpc[i][1] && grammar_option(grpc[i][0], grpc[i][1], NULL, ierr) < 0)
			return mb_usage(err, "%s: %s", grpc[i][0], ierr);
	}
	if (o->no_init) {
		const char *need = nprobes ? "health probes" : o->caps_set ? "--caps" :
		                   o->policy ? "--policy" : NULL;
		if (need)
			return mb_usage(err, "%s cannot work with --no-init: the init applies them "
			       "inside the container", need);
	}
	return mk_env_check(o, err);
}

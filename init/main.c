/* minbase-init: options and environment into struct init_cfg, then the
 * `health`/`probe` subcommands or supervision.  tini's command line and
 * TINI_* variables keep their meaning; every minbase option also has a
 * MINBASE_* environment form, and the command line wins over it. */
#include "init.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "minbase-init"
/* What the init was linked with, as one string mkimage finds in the binary
 * for the image's SBOM (builder/sbom.c): init/init.mk passes the versions
 * the sysroot was built from.  --version prints it, which also keeps it
 * through --gc-sections. */
#ifndef MINBASE_INIT_COMPONENTS
#define MINBASE_INIT_COMPONENTS "musl unknown, libcap unknown, libseccomp unknown"
#endif
static const char init_components[] = "minbase-init components: " MINBASE_INIT_COMPONENTS;

int init_verbosity = 1;

void init_log(int level, const char *fmt, ...)
{
	static const char *const tag[] = { "", "warning: ", "info: ", "debug: " };
	if (level > init_verbosity)
		return;
	char buf[1200];
	va_list ap;
	int n = snprintf(buf, sizeof buf, PROG ": %s", tag[level]);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line: lines from the init and its children stay whole. */
	dprintf(STDERR_FILENO, "%s\n", buf);
}

static void usage(FILE *f)
{
	fprintf(f,
	"usage: " PROG " [-s] [-p SIGNAL] [-v] [-w] [-g] [-e CODE]... [-l] [-h]\n"
	"       [--user U[:G]] [--caps LIST] [--seccomp FILE | --policy NAME] [--no-new-privs]\n"
	"       [--grace S]\n"
	"       [--health-http URL | --health-tcp HOST:PORT | --health-exec 'PROG ARGS' |\n"
	"        --health-grpc HOST:PORT [--health-grpc-service NAME]]\n"
	"       [--health-interval D] [--health-timeout D] [--health-start-period D]\n"
	"       [--health-retries N] [--on-unhealthy exit|none] [--health-file PATH]\n"
	"       [--] PROGRAM [ARGS]\n"
	"       " PROG " health [--health-file PATH] [--health-interval D] [--health-timeout D]\n"
	"              (print the health state; exit 0 when healthy)\n"
	"       " PROG " probe [PROBE] [--health-timeout D] [--user U] [--caps L]\n"
	"              [--seccomp FILE | --policy NAME] [--no-new-privs]\n"
	"              (run the configured probe once)\n"
	"       " PROG " --version\n\n"
	"  -s  register as a child subreaper (TINI_SUBREAPER)\n"
	"  -p  signal to receive when the parent dies\n"
	"  -v  more verbose (repeat; TINI_VERBOSITY=N)\n"
	"  -w  warn when reaping zombies\n"
	"  -g  send signals to the child's process group (TINI_KILL_PROCESS_GROUP)\n"
	"  -e  map exit code CODE to 0 (repeatable)\n"
	"  -l  show license\n"
	"Each minbase option has an environment form: MINBASE_USER, MINBASE_CAPS,\n"
	"MINBASE_SECCOMP, MINBASE_POLICY, MINBASE_NO_NEW_PRIVS, MINBASE_GRACE, MINBASE_HEALTH_HTTP,\n"
	"MINBASE_HEALTH_TCP, MINBASE_HEALTH_EXEC, MINBASE_HEALTH_GRPC(_SERVICE),\n"
	"MINBASE_HEALTH_INTERVAL,\n"
	"MINBASE_HEALTH_TIMEOUT, MINBASE_HEALTH_START_PERIOD, MINBASE_HEALTH_RETRIES,\n"
	"MINBASE_ON_UNHEALTHY, MINBASE_HEALTH_FILE.  See init/README.md.\n");
}

enum {
	OPT_VERSION = 256, OPT_USER, OPT_CAPS, OPT_SECCOMP, OPT_NNP, OPT_GRACE, OPT_HHTTP,
	OPT_HTCP, OPT_HEXEC, OPT_HINT, OPT_HTIMEOUT, OPT_HSTART, OPT_HRETRIES, OPT_UNHEALTHY,
	OPT_HFILE, OPT_POLICY, OPT_HGRPC, OPT_HGRPCSVC,
};

enum mode { MODE_RUN, MODE_HEALTH, MODE_PROBE };

/* Option values as strings, so that options and env go through one parser. */
struct raw {
	const char *user, *caps, *seccomp, *policy, *nnp, *grace, *http, *tcp, *exec, *interval,
	           *timeout, *start, *retries, *unhealthy, *file, *grpc, *grpc_service;
};

static const struct option longopts[] = {
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, 'h' },
	{ "user", required_argument, NULL, OPT_USER },
	{ "caps", required_argument, NULL, OPT_CAPS },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "no-new-privs", no_argument, NULL, OPT_NNP },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "health-http", required_argument, NULL, OPT_HHTTP },
	{ "health-tcp", required_argument, NULL, OPT_HTCP },
	{ "health-exec", required_argument, NULL, OPT_HEXEC },
	{ "health-interval", required_argument, NULL, OPT_HINT },
	{ "health-timeout", required_argument, NULL, OPT_HTIMEOUT },
	{ "health-start-period", required_argument, NULL, OPT_HSTART },
	{ "health-retries", required_argument, NULL, OPT_HRETRIES },
	{ "on-unhealthy", required_argument, NULL, OPT_UNHEALTHY },
	{ "health-file", required_argument, NULL, OPT_HFILE },
	{ "health-grpc", required_argument, NULL, OPT_HGRPC },
	{ "health-grpc-service", required_argument, NULL, OPT_HGRPCSVC },
	{ NULL, 0, NULL, 0 },
};

static const char *env_or(const char *opt, const char *name)
{
	if (opt)
		return opt;
	const char *v = getenv(name);
	return v;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* Values go through grammar.c, the rules mkimage checks at build time. */
static int duration(const char *v, const char *what, int64_t *ms)
{
	char err[INIT_ERRLEN];
	if (v && grammar_option(what, v, ms, err) < 0)
		return fail("%s: %s", what, err);
	return 0;
}

/* The probe timing and the state file: what `health` needs too (the
 * timing bounds how long a state may claim to hold). */
static int health_timing(struct health_cfg *h, const struct raw *r)
{
	const char *v;
	*h = (struct health_cfg){ .interval_ms = 30000, .timeout_ms = 30000, .retries = 3,
	                          .state_file = INIT_DEFAULT_HEALTH_FILE };
	if (duration(env_or(r->interval, "MINBASE_HEALTH_INTERVAL"), "--health-interval", &h->interval_ms) ||
	    duration(env_or(r->timeout, "MINBASE_HEALTH_TIMEOUT"), "--health-timeout", &h->timeout_ms))
		return -1;  /* both must be more than 0: grammar.c says so */
	if ((v = env_or(r->file, "MINBASE_HEALTH_FILE")) && *v)
		h->state_file = v;
	return 0;
}

/* The health part of the configuration (also what `probe` needs). */
static int health_config(struct health_cfg *h, const struct raw *r)
{
	/* A probe on the command line replaces the environment's, whatever
	 * its kind (the command line wins): only two given the same way
	 * conflict. */
	int cli = (r->http && *r->http) || (r->tcp && *r->tcp) || (r->exec && *r->exec) ||
	          (r->grpc && *r->grpc);
	const char *http = cli ? r->http : getenv("MINBASE_HEALTH_HTTP");
	const char *tcp = cli ? r->tcp : getenv("MINBASE_HEALTH_TCP");
	const char *ex = cli ? r->exec : getenv("MINBASE_HEALTH_EXEC");
	const char *grpc = cli ? r->grpc : getenv("MINBASE_HEALTH_GRPC");
	const char *v;
	char err[INIT_ERRLEN], host[256];
	int port;
	const char *path;

	if (health_timing(h, r) < 0)
		return -1;
	if (!!(http && *http) + !!(tcp && *tcp) + !!(ex && *ex) + !!(grpc && *grpc) > 1)
		return fail("choose one health probe: --health-http, --health-tcp, --health-exec "
		            "or --health-grpc");
	if (http && *http) {
		if (health_parse_url(http, host, sizeof host, &port, &path, err) < 0)
			return fail("--health-http: %s", err);
		h->kind = HEALTH_HTTP, h->target = http;
	} else if (tcp && *tcp) {
		if (health_parse_hostport(tcp, host, sizeof host, &port, err) < 0)
			return fail("--health-tcp: %s", err);
		h->kind = HEALTH_TCP, h->target = tcp;
	} else if (ex && *ex) {
		if (grammar_option("--health-exec", ex, NULL, err) < 0)
			return fail("--health-exec: %s", err);
		h->kind = HEALTH_EXEC, h->target = ex;
	} else if (grpc && *grpc) {
		if (health_parse_hostport(grpc, host, sizeof host, &port, err) < 0)
			return fail("--health-grpc: %s", err);
		h->kind = HEALTH_GRPC, h->target = grpc;
	}
	/* The service belongs to the gRPC probe: from the command line only
	 * with one; the environment's is ignored under another probe. */
	if (r->grpc_service && h->kind != HEALTH_GRPC)
		return fail("--health-grpc-service: needs a gRPC probe (--health-grpc HOST:PORT)");
	if (h->kind == HEALTH_GRPC &&
	    (h->grpc_service = env_or(r->grpc_service, "MINBASE_HEALTH_GRPC_SERVICE")) &&
	    grammar_option("--health-grpc-service", h->grpc_service, NULL, err) < 0)
		return fail("--health-grpc-service: %s", err);
	if (duration(env_or(r->start, "MINBASE_HEALTH_START_PERIOD"), "--health-start-period",
	             &h->start_period_ms))
		return -1;
	if ((v = env_or(r->retries, "MINBASE_HEALTH_RETRIES"))) {
		int64_t n;
		if (grammar_option("--health-retries", v, &n, err) < 0)
			return fail("--health-retries: %s", err);
		h->retries = (int)n;
	}
	if ((v = env_or(r->unhealthy, "MINBASE_ON_UNHEALTHY")) && *v) {
		if (grammar_option("--on-unhealthy", v, NULL, err) < 0)
			return fail("--on-unhealthy: %s", err);
		h->exit_on_unhealthy = !strcmp(v, "exit");
	}
	return 0;
}

static int flag_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v;
}

/* tini's parse_env() (src/tini.c, 0.19.0): TINI_SUBREAPER and
 * TINI_KILL_PROCESS_GROUP turn their feature on when set at all, even to ""
 * (getenv() != NULL), and TINI_VERBOSITY is atoi()'d after the options, so
 * it replaces the -v count: "" and "abc" are 0, "2x" is 2, and a negative
 * number, wrapped into tini's unsigned verbosity, is every level. */
static int tini_verbosity(const char *v)
{
	while (isspace((unsigned char)*v))
		v++;
	int neg = *v == '-';
	if (*v == '-' || *v == '+')
		v++;
	int n = 0;
	for (; isdigit((unsigned char)*v); v++)
		if (n < LOG_DEBUG)
			n = n * 10 + (*v - '0');
	return neg && n ? LOG_DEBUG : n > LOG_DEBUG ? LOG_DEBUG : n;
}

/* tini's -e: strtol() in base 10 with nothing after the number, 0..255;
 * so " 3" and "+3" are 3, and "" is 0 (strtol consumed nothing, and the
 * end pointer sits on the terminating NUL). */
static int tini_exit_code(const char *s, unsigned long *code)
{
	char *end;
	long v = strtol(s, &end, 10); /* overflow gives LONG_MAX/MIN: refused */
	if (*end || v < 0 || v > 255)
		return -1;
	*code = (unsigned long)v;
	return 0;
}

/* The hardening part of the configuration (also what an exec `probe`
 * needs); prints why and returns -1 when a step cannot be resolved. */
static int privs_config(struct privs_cfg *p, const struct raw *r)
{
	char err[INIT_ERRLEN];
	const char *v;
	int user_given = 0;

	if ((v = env_or(r->user, "MINBASE_USER")) && *v) {
		if (privs_resolve_user(p, "/", v, err) < 0)
			return fail("--user: %s", err);
		user_given = 1;
		/* MINBASE_USER is the image's user (mkimage writes it into every
		 * image): what a root start drops to, so that `docker run -u 0`
		 * or runAsUser: 0 does not leave the service root.  A container
		 * the runtime started as another uid (docker run -u 1000,
		 * OpenShift's arbitrary uids) keeps that uid, hardened as below:
		 * the init could not switch, and the runtime chose a uid with no
		 * more rights than the image's.  --user on the command line is an
		 * explicit request: applied, or the start fails. */
		if (!r->user && sys_geteuid() != 0) {
			p->change_user = 0;
			init_log(LOG_INFO, "keeping uid %u, as the runtime started the container "
			         "(MINBASE_USER=%s is for a root start)", (unsigned)sys_geteuid(), v);
		}
	}
	if ((v = env_or(r->caps, "MINBASE_CAPS")) && privs_parse_caps(p, v, err) < 0)
		return fail("--caps: %s", err);
	/* One filter, by file or by name; a filter given on the command line
	 * replaces the environment's, whatever its kind. */
	const char *file = getenv("MINBASE_SECCOMP"), *name = getenv("MINBASE_POLICY");
	if ((r->seccomp && *r->seccomp) || (r->policy && *r->policy))
		file = r->seccomp, name = r->policy;
	if (file && *file && name && *name)
		return fail("choose one filter: --seccomp FILE or --policy NAME (MINBASE_SECCOMP or "
		            "MINBASE_POLICY; an empty value unsets one)");
	if ((file && *file) || (name && *name)) {
		unsigned char *buf;
		const struct sock_filter *f;
		unsigned short n;
		if (file && *file ? filter_read_file(file, &buf, &f, &n, err)
		                  : filter_read_policy(INIT_POLICY_DIR, name, &buf, &f, &n, err))
			return fail("%s: %s", file && *file ? "--seccomp" : "--policy", err);
		p->filter = f, p->filter_len = n; /* buf lives as long as the init */
		if (filter_check_available(err) < 0)
			return fail("%s", err);
	}
	/* Dropping to a user keeps no capability unless --caps says so. */
	if (user_given || p->filter)
		p->drop_caps = 1;
	p->no_new_privs = p->drop_caps || user_given || p->filter ||
	                  r->nnp || flag_env("MINBASE_NO_NEW_PRIVS");
	return 0;
}

/* What a subcommand takes: `health` reads the state file (and the timing
 * that bounds how long a state may claim to hold), `probe` runs the probe
 * once with the service's hardening.  Any other option given to them is
 * refused, never ignored. */
static int takes(enum mode m, int c)
{
	if (m == MODE_RUN || c == 'h' || c == OPT_HTIMEOUT)
		return 1;
	if (m == MODE_HEALTH)
		return c == OPT_HFILE || c == OPT_HINT;
	switch (c) {
	case OPT_HHTTP: case OPT_HTCP: case OPT_HEXEC: case OPT_HGRPC: case OPT_HGRPCSVC:
	case OPT_USER: case OPT_CAPS:
	case OPT_SECCOMP: case OPT_POLICY: case OPT_NNP:
		return 1;
	}
	return 0;
}

/* `probe`: run the probe once, as the supervising init would. */
static int probe_cmd(const struct raw *r)
{
	struct health_cfg h;
	char err[INIT_ERRLEN];
	if (health_config(&h, r) < 0)
		return 1;
	if (h.kind == HEALTH_NONE)
		return fail("probe: no probe configured (--health-http, --health-tcp, "
		            "--health-exec or --health-grpc, or MINBASE_HEALTH_HTTP, _TCP, _EXEC "
		            "or _GRPC)"), 1;
	/* An exec probe runs with what the service runs with, as under the
	 * supervising init: its user, no capability, no-new-privs and its
	 * filter.  `probe` is started by the runtime with the config's user,
	 * root when the image keeps capabilities, so the drop is done here,
	 * and a step that fails stops the probe. */
	struct privs_cfg pc = { 0 };
	if (h.kind == HEALTH_EXEC) {
		if (privs_config(&pc, r) < 0)
			return 1;
		struct privs_cfg own = pc;
		own.keep = 0;
		own.filter = NULL; /* loaded in the probe child, last */
		if ((own.change_user || own.drop_caps || own.no_new_privs) &&
		    privs_apply(&own, err) < 0)
			return fail("probe: %s", err), 1;
	}
	char detail[500];
	int rc = health_probe_once(&h, &pc, detail, sizeof detail);
	printf("%s: %s\n", rc ? "unhealthy" : "healthy", detail);
	return rc;
}

int main(int argc, char **argv)
{
	static struct init_cfg cfg;
	struct raw r = { 0 };
	enum mode mode = MODE_RUN;
	char err[INIT_ERRLEN];
	const char *v;
	int c, idx;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf(PROG " version " MINBASE_VERSION "\n%s\n", init_components);
		return 0;
	}
	/* `health` and `probe` take their options after the word. */
	if (argc >= 2 && (!strcmp(argv[1], "health") || !strcmp(argv[1], "probe"))) {
		mode = argv[1][0] == 'h' ? MODE_HEALTH : MODE_PROBE;
		argc--, argv++;
	}
	cfg.grace_ms = -1;
	while ((idx = -1, c = getopt_long(argc, argv, "+hsp:vwge:l", longopts, &idx)) != -1) {
		if (c != '?' && !takes(mode, c)) {
			char name[40];
			if (idx >= 0)
				snprintf(name, sizeof name, "--%s", longopts[idx].name);
			else
				snprintf(name, sizeof name, "-%c", c);
			return fail("%s does not apply to `%s` (see `" PROG " -h`)", name, argv[0]), 1;
		}
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 's': cfg.subreaper = 1; break;
		case 'v': init_verbosity++; break;
		case 'w': cfg.warn_on_reap = 1; break;
		case 'g': cfg.kill_group = 1; break;
		case 'l':
			printf(PROG " is part of minbase; its command line follows tini "
			       "(MIT License, Copyright (c) 2015 Thomas Orozco).\n");
			return 0;
		case 'p':
			if (parse_signal(optarg, &cfg.pdeath_signal, err) < 0)
				return fail("-p: %s", err), 1;
			break;
		case 'e': {
			unsigned long n;
			if (tini_exit_code(optarg, &n) < 0)
				return fail("-e: invalid exit code `%s`: use 0..255", optarg), 1;
			cfg.expect[n] = 1;
			break;
		}
		case OPT_VERSION:
			printf(PROG " version " MINBASE_VERSION "\n%s\n", init_components);
			return 0;
		case OPT_USER: r.user = optarg; break;
		case OPT_CAPS: r.caps = optarg; break;
		case OPT_SECCOMP: r.seccomp = optarg; break;
		case OPT_POLICY: r.policy = optarg; break;
		case OPT_NNP: r.nnp = "1"; break;
		case OPT_GRACE: r.grace = optarg; break;
		case OPT_HHTTP: r.http = optarg; break;
		case OPT_HTCP: r.tcp = optarg; break;
		case OPT_HEXEC: r.exec = optarg; break;
		case OPT_HINT: r.interval = optarg; break;
		case OPT_HTIMEOUT: r.timeout = optarg; break;
		case OPT_HSTART: r.start = optarg; break;
		case OPT_HRETRIES: r.retries = optarg; break;
		case OPT_UNHEALTHY: r.unhealthy = optarg; break;
		case OPT_HFILE: r.file = optarg; break;
		case OPT_HGRPC: r.grpc = optarg; break;
		case OPT_HGRPCSVC: r.grpc_service = optarg; break;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (mode != MODE_RUN) {
		if (optind < argc)
			return fail("%s: unexpected argument `%s`", argv[0], argv[optind]), 1;
		if (mode == MODE_PROBE)
			return probe_cmd(&r);
		/* `health` needs only the state file and the timing: a
		 * HEALTHCHECK must not fail on the rest of the configuration. */
		struct health_cfg h;
		if (health_timing(&h, &r) < 0)
			return 1;
		return health_cmd(h.state_file, health_valid_s(&h));
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	cfg.argv = argv + optind;
	cfg.subreaper |= getenv("TINI_SUBREAPER") != NULL;
	cfg.kill_group |= getenv("TINI_KILL_PROCESS_GROUP") != NULL;
	if ((v = getenv("TINI_VERBOSITY")))
		init_verbosity = tini_verbosity(v);

	if (health_config(&cfg.health, &r) < 0)
		return 1;
	if ((v = env_or(r.grace, "MINBASE_GRACE")) && *v &&
	    duration(v, "--grace", &cfg.grace_ms) < 0)
		return 1;

	/* Hardening: every step is resolved here, before anything starts, so
	 * that a bad option stops the start with a message (fail closed). */
	if (privs_config(&cfg.privs, &r) < 0)
		return 1;
	return supervise_run(&cfg);
}

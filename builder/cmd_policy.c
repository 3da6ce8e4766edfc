/* `mkimage policy compile|check|export|learn`: the thin front end over
 * policies/.  Parses options, calls the library, prints.  Exit codes: 0 ok,
 * 1 failure, 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "builder.h"
#include "../policies/policies.h"

static const char policy_usage[] =
	"usage: mkimage policy compile POLICY -o OUT.bpf [--arch x86_64|aarch64] [--caps LIST]\n"
	"                                   [--linear] [--no-enosys]\n"
	"       mkimage policy check POLICY [--arch A] [--caps LIST] [--against REF]\n"
	"       mkimage policy export POLICY --format docker|oci [-o FILE] [--arch A] [--caps LIST]\n"
	"       mkimage policy learn -o OUT.json -- PROGRAM [ARGS...]\n"
	"\n"
	"POLICY is a shipped policy name (default, service, strict) or a path to a\n"
	"Docker/OCI seccomp JSON file.  --caps lists the capabilities the service\n"
	"keeps (comma-separated, CAP_ optional); Docker's includes/excludes are\n"
	"resolved against it (default: the policy's own minbase.caps).\n"
	"Exit status: 0 ok, 1 failure, 2 usage error.\n";

static int pol_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int pol_usage(const char *fmt, ...)
{
	va_list ap;
	char msg[MB_ERRLEN];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mk_die(MK_EXIT_USAGE, "%s", msg);
	fputs(policy_usage, stderr);
	return MK_EXIT_USAGE;
}

struct popts {
	const char *out, *arch, *caps, *format, *against;
	bool linear, no_enosys;
	const char *policy;
	char **rest;
	int n_rest;
};

enum { O_ARCH = 256, O_CAPS, O_LINEAR, O_NOENOSYS, O_FORMAT, O_AGAINST };

static int parse(int argc, char **argv, struct popts *o, bool want_policy, bool want_rest)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "arch", required_argument, NULL, O_ARCH },
		{ "caps", required_argument, NULL, O_CAPS },
		{ "linear", no_argument, NULL, O_LINEAR },
		{ "no-enosys", no_argument, NULL, O_NOENOSYS },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "against", required_argument, NULL, O_AGAINST },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 0;  /* glibc: 0 also resets its internal state */
	opterr = 0;
	/* "+": stop at the first non-option when a program follows. */
	while ((c = getopt_long(argc, argv, want_rest ? "+o:h" : "o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case O_ARCH: o->arch = optarg; break;
		case O_CAPS: o->caps = optarg; break;
		case O_LINEAR: o->linear = true; break;
		case O_NOENOSYS: o->no_enosys = true; break;
		case O_FORMAT: o->format = optarg; break;
		case O_AGAINST: o->against = optarg; break;
		case 'h': fputs(policy_usage, stdout); return 1;
		default:
			return pol_usage("policy %s: unknown option or missing value `%s`",
			                 argv[0], argv[optind - 1]), -1;
		}
	}
	if (want_policy) {
		if (optind >= argc)
			return pol_usage("policy %s: missing POLICY", argv[0]), -1;
		o->policy = argv[optind++];
	}
	if (want_rest) {
		o->rest = argv + optind;
		o->n_rest = argc - optind;
	} else if (optind < argc) {
		return pol_usage("policy %s: unexpected argument `%s`", argv[0], argv[optind]), -1;
	}
	return 0;
}

#define PARSE(want_policy, want_rest) do {                                  \
	int prc_ = parse(argc, argv, &o, want_policy, want_rest);           \
	if (prc_ == 1) return MK_EXIT_OK;                                    \
	if (prc_ < 0) return MK_EXIT_USAGE;                                  \
} while (0)

static int do_compile(int argc, char **argv)
{
	struct popts o;
	struct mb_err err = {0};
	struct policy *p;
	unsigned char *buf;
	size_t len;

	PARSE(true, false);
	if (!o.out)
		return pol_usage("policy compile: -o OUT.bpf is required");
	if (policy_load(o.policy, &p, &err) < 0)
		return mk_die(MK_EXIT_FAIL, "%s", err.msg);
	size_t left = 0;
	struct policy_compile_opts co = {
		.arch = o.arch, .caps = o.caps, .no_enosys = o.no_enosys,
		.optimize = o.linear ? POLICY_OPT_LINEAR : POLICY_OPT_TREE, .left_out = &left,
	};
	int rc = policy_compile(p, &co, &buf, &len, &err);
	policy_free(p);
	if (rc < 0)
		return mk_die(MK_EXIT_FAIL, "%s", err.msg);
	/* Not silent: say what a multi-architecture profile left out. */
	if (left)
		fprintf(stderr, "mkimage: note: %zu syscall name%s in `%s` exist%s only on other "
		        "architectures it covers and %s left out for %s (`mkimage policy check` "
		        "lists them)\n", left, left == 1 ? "" : "s", o.policy, left == 1 ? "s" : "",
		        left == 1 ? "is" : "are", o.arch ? o.arch : policy_host_arch());
	rc = rootfs_write_file(o.out, buf, len, 0644, ROOTFS_DURABLE, &err);
	free(buf);
	if (rc < 0)
		return mk_die(MK_EXIT_FAIL, "%s", err.msg);
	return MK_EXIT_OK;
}

static int do_check(int argc, char **argv)
{
	struct popts o;
	struct mb_err err = {0};
	struct policy *p, *ref = NULL;
	unsigned char *buf;
	size_t len;
	char *text;

	PARSE(true, false);
	if (policy_load(o.policy, &p, &err) < 0)
		return mk_die(MK_EXIT_FAIL, "%s", err.msg);
	struct policy_compile_opts co = { .arch = o.arch, .caps = o.caps };
	if (policy_compile(p, &co, &buf, &len, &err) < 0) {
		policy_free(p);
		return mk_die(MK_EXIT_FAIL, "%s", err.msg);
	}
	const char *against = o.against ? o.against : "default";
	if (policy_load(against, &ref, &err) < 0) {
		if (o.against) {
			policy_free(p);
			free(buf);
			return mk_die(MK_EXIT_FAIL, "%s", err.msg);
		}
		ref = NULL;  /* no shipped default here: summarise without it */
	}
	int rc = policy_summary(p, ref, o.arch, o.caps, &text, &err);
	policy_free(p);
	policy_free(ref);
	if (rc < 0) {
		free(buf);
		return mk_die(MK_EXIT_FAIL, "%s", err.msg);
	}
	fputs(text, stdout);
	printf("compiled: %zu BPF instructions (binary tree), %zu bytes; ok\n",
	       FILTER_FILE_INSNS(len), len);
	free(text);
	free(buf);
	return MK_EXIT_OK;
}

static int do_export(int argc, char **argv)
{
	struct popts o;
	struct mb_err err = {0};
	struct policy *p;
	char *json;

	PARSE(true, false);
	if (!o.format)
		return pol_usage("policy export: --format docker|oci is required");
	if (strcmp(o.format, "docker") && strcmp(o.format, "oci"))
		return pol_usage("policy export: unknown format `%s` (use docker or oci)", o.format);
	if (policy_load(o.policy, &p, &err) < 0)
		return mk_die(MK_EXIT_FAIL, "%s", err.msg);
	int rc = policy_export(p, o.format, o.arch, o.caps, &json, &err);
	policy_free(p);
	if (rc < 0)
		return mk_die(MK_EXIT_FAIL, "%s", err.msg);
	size_t n = strlen(json);
	json[n] = '\n';  /* the NUL slot: written as n + 1 bytes, never read as a string */
	if (o.out && strcmp(o.out, "-") != 0)
		rc = rootfs_write_file(o.out, json, n + 1, 0644, ROOTFS_DURABLE, &err);
	else
		rc = fwrite(json, 1, n + 1, stdout) == n + 1 ? 0 : -1;
	free(json);
	if (rc < 0)
		return mk_die(MK_EXIT_FAIL, "%s", o.out ? err.msg : "cannot write to stdout");
	return MK_EXIT_OK;
}

static int do_learn(int argc, char **argv)
{
	struct popts o;
	struct mb_err err = {0};
	struct policy_learn_result r;

	PARSE(false, true);
	if (!o.out)
		return pol_usage("policy learn: -o OUT.json is required");
	if (o.n_rest < 1)
		return pol_usage("policy learn: missing the PROGRAM to run (after --)");
	if (policy_learn(o.rest, &r, &err) < 0)
		return mk_die(MK_EXIT_FAIL, "%s", err.msg);
	size_t n = strlen(r.json);
	char *data = realloc(r.json, n + 2);
	if (!data) {
		free(r.json);
		return mk_die(MK_EXIT_FAIL, "out of memory");
	}
	data[n] = '\n';
	int rc = rootfs_write_file(o.out, data, n + 1, 0644, ROOTFS_DURABLE, &err);
	free(data);
	if (rc < 0)
		return mk_die(MK_EXIT_FAIL, "%s", err.msg);
	fprintf(stderr, "mkimage: learned %u syscalls from `%s` (%s %d) -> %s\n",
	        r.n_syscalls, o.rest[0],
	        WIFSIGNALED(r.status) ? "killed by signal" : "exit status",
	        WIFSIGNALED(r.status) ? WTERMSIG(r.status) : WEXITSTATUS(r.status), o.out);
	return MK_EXIT_OK;
}

int cmd_policy(int argc, char **argv)
{
	if (argc < 2)
		return pol_usage("policy: missing a command (compile, check, export, learn)");
	const char *c = argv[1];
	if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0 || strcmp(c, "help") == 0) {
		fputs(policy_usage, stdout);
		return MK_EXIT_OK;
	}
	if (strcmp(c, "compile") == 0)
		return do_compile(argc - 1, argv + 1);
	if (strcmp(c, "check") == 0)
		return do_check(argc - 1, argv + 1);
	if (strcmp(c, "export") == 0)
		return do_export(argc - 1, argv + 1);
	if (strcmp(c, "learn") == 0)
		return do_learn(argc - 1, argv + 1);
	return pol_usage("policy: unknown command `%s`", c);
}

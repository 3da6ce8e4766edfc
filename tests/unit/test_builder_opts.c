/* Unit tests of builder/opts.c: mkimage's option parsing and value checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../builder/builder.h"

static struct mb_err err;

/* A usage error: -1 with err.usage set (mkimage exits 2 on it). */
#define assert_usage(call) do { \
	assert_int_equal((call), -1); \
	assert_true(err.usage); \
} while (0)

/* Parses a NULL-terminated word list (argv[0] included). */
static int parse(struct mk_opts *o, bool image, ...)
{
	static char *argv[64];
	int argc = 0;
	va_list ap;
	va_start(ap, image);
	for (char *w; (w = va_arg(ap, char *)) != NULL && argc < 63;)
		argv[argc++] = w;
	va_end(ap);
	argv[argc] = NULL;
	mk_opts_init(o);
	err = (struct mb_err){ 0 };
	return mk_opts_parse(argc, argv, image, o, &err);
}

static void test_defaults_and_basic(void **s)
{
	(void)s;
	struct mk_opts o;
	assert_int_equal(parse(&o, true, "mkimage", "--static", "app", "-o", "out.tar", NULL), 0);
	assert_string_equal(o.app, "app");
	assert_string_equal(o.out, "out.tar");
	assert_string_equal(o.format, "docker");
	assert_string_equal(o.user, "65532:65532");
	assert_string_equal(o.workdir, "/app");
	assert_null(o.tag);
	assert_int_equal(o.nargs, 0);
	assert_false(o.no_init);
	assert_int_equal(o.health.retries, -1);
	assert_int_equal(mk_opts_validate(&o, &err), 0);
	mk_opts_free(&o);
}

static void test_repeatable_and_args(void **s)
{
	(void)s;
	struct mk_opts o;
	assert_int_equal(parse(&o, true, "mkimage", "-p", "8080/tcp", "--port=9090",
	                       "--static=svc", "-e", "A=1", "--env", "B=two words", "-t", "x/y:1",
	                       "--", "echo", "--static", "-o", NULL), 0);
	assert_string_equal(o.app, "svc");
	assert_int_equal(o.nports, 2);
	assert_string_equal(o.ports[1], "9090");
	assert_null(o.ports[2]);
	assert_int_equal(o.nenv, 2);
	assert_string_equal(o.env[1], "B=two words");
	/* everything after `--` belongs to the service, options included */
	assert_int_equal(o.nargs, 3);
	assert_string_equal(o.args[0], "echo");
	assert_string_equal(o.args[1], "--static");
	assert_string_equal(o.args[2], "-o");
	assert_null(o.out);
	assert_int_equal(mk_opts_validate(&o, &err), 0);
	mk_opts_free(&o);
}

static void test_double_dash_as_value(void **s)
{
	(void)s;
	struct mk_opts o;
	/* `--` given as an option's value is that value, not the separator */
	assert_int_equal(parse(&o, true, "mkimage", "--static", "a", "--label", "--", "--", "x",
	                       NULL), 0);
	assert_int_equal(o.nlabels, 1);
	assert_string_equal(o.labels[0], "--");
	assert_int_equal(o.nargs, 1);
	assert_string_equal(o.args[0], "x");
	mk_opts_free(&o);
	/* short option cluster ending in a value-taking option */
	assert_int_equal(parse(&o, true, "mkimage", "-qo", "--", "--static", "a", "--", "y", NULL), 0);
	assert_true(o.quiet);
	assert_string_equal(o.out, "--");
	assert_int_equal(o.nargs, 1);
	mk_opts_free(&o);
}

static void test_positional_app_and_extra(void **s)
{
	(void)s;
	struct mk_opts o;
	assert_int_equal(parse(&o, false, "build", "dir", "-o", "bin", "--arch", "arm64", NULL), 0);
	assert_string_equal(o.app, "dir");
	assert_string_equal(o.arch, "arm64");
	mk_opts_free(&o);
	assert_usage(parse(&o, false, "build", "a", "b", NULL));
	assert_non_null(strstr(err.msg, "unexpected argument `b`"));
	mk_opts_free(&o);
	assert_usage(parse(&o, false, "build", "a", "--", "x", NULL));
	mk_opts_free(&o);
	/* image options are not build options */
	assert_usage(parse(&o, false, "build", "a", "--port", "80", NULL));
	assert_non_null(strstr(err.msg, "unknown option `--port`"));
	mk_opts_free(&o);
}

static void test_usage_errors(void **s)
{
	(void)s;
	struct mk_opts o;
	assert_usage(parse(&o, true, "mkimage", "--static", NULL));
	assert_non_null(strstr(err.msg, "needs a value"));
	mk_opts_free(&o);
	assert_usage(parse(&o, true, "mkimage", "--frobnicate", NULL));
	assert_string_equal(err.msg, "unknown option `--frobnicate`");
	mk_opts_free(&o);
	assert_usage(parse(&o, true, "mkimage", "-Z", NULL));
	assert_string_equal(err.msg, "unknown option `-Z`");
	mk_opts_free(&o);
	assert_usage(parse(&o, true, "mkimage", "-o", "x", NULL));
	assert_non_null(strstr(err.msg, "no service given"));
	mk_opts_free(&o);
	assert_usage(parse(&o, true, "mkimage", "--static", "a", "--health-retries", "x", NULL));
	mk_opts_free(&o);
	assert_int_equal(parse(&o, true, "mkimage", "--static", "a", "--help", NULL), 1);
	mk_opts_free(&o);
}

static void expect_invalid(const char *opt, const char *val, const char *word)
{
	struct mk_opts o;
	assert_int_equal(parse(&o, true, "mkimage", "--static", "a", opt, val, NULL), 0);
	if (mk_opts_validate(&o, &err) != -1 || !err.usage)
		fail_msg("%s %s accepted", opt, val);
	if (!strstr(err.msg, word))
		fail_msg("%s %s: `%s` not in `%s`", opt, val, word, err.msg);
	mk_opts_free(&o);
}

static void expect_valid(const char *opt, const char *val)
{
	struct mk_opts o;
	assert_int_equal(parse(&o, true, "mkimage", "--static", "a", opt, val, NULL), 0);
	if (mk_opts_validate(&o, &err) != 0)
		fail_msg("%s %s refused: %s", opt, val, err.msg);
	mk_opts_free(&o);
}

static void test_validate_values(void **s)
{
	(void)s;
	expect_invalid("--format", "tarball", "--format");
	expect_invalid("--arch", "sparc", "amd64 or arm64");
	expect_invalid("--tag", "UPPER:1", "--tag");
	expect_invalid("--tag", "a:b:c!", "--tag");
	expect_invalid("--user", "nonroot", "numeric");
	expect_invalid("--user", "1000", "numeric");
	expect_invalid("--port", "0", "--port");
	expect_invalid("--port", "80/foo", "--port");
	expect_invalid("--env", "NOVALUE", "KEY=VALUE");
	expect_invalid("--env", "=x", "KEY=VALUE");
	expect_invalid("--label", "x", "KEY=VALUE");
	expect_invalid("--workdir", "relative", "absolute");
	expect_invalid("--workdir", "/a/../..", "absolute");
	expect_invalid("--writable", "data", "absolute");
	expect_invalid("--writable", "/", "absolute");
	expect_invalid("--add", "nocolon", "SRC:DST");
	expect_invalid("--add", "x:../etc", "inside the image");
	expect_invalid("--add", "x:/app/../../etc", "inside the image");
	expect_invalid("--health-interval", "10", "need a probe");
	expect_invalid("--health-http", "localhost:80", "http://");
	expect_invalid("--health-tcp", "nope", "HOST:PORT");
	expect_invalid("--entrypoint", "", "--entrypoint");
	expect_invalid("--entrypoint", " \t ", "--entrypoint");
	expect_invalid("--health-exec", "", "--health-exec");
	expect_invalid("--health-exec", "  ", "--health-exec");
	expect_valid("--entrypoint", " /app/x  serve ");
	expect_valid("--tag", "registry.local:5000/team/svc:1.2-rc.1");
	expect_valid("--tag", "svc");
	expect_valid("--user", "1000:1000");
	expect_valid("--port", "53/udp");
	expect_valid("--port", "8080");
	expect_valid("--add", "products:products");
	expect_valid("--add", "C:/dir/file:/etc/x");
	expect_valid("--writable", "/data");
	expect_valid("--env", "A=");
	expect_valid("--health-tcp", "127.0.0.1:8080");
	expect_valid("--caps", "");
}

static void test_health_and_init_combos(void **s)
{
	(void)s;
	struct mk_opts o;
	assert_int_equal(parse(&o, true, "mkimage", "--static", "a", "--health-http",
	                       "http://127.0.0.1:8080/health", "--health-interval", "1m30s",
	                       "--health-retries", "3", NULL), 0);
	assert_int_equal(mk_opts_validate(&o, &err), 0);
	assert_int_equal(o.health.retries, 3);
	mk_opts_free(&o);
	assert_int_equal(parse(&o, true, "mkimage", "--static", "a", "--health-tcp", "h:1",
	                       "--health-exec", "/app/a check", NULL), 0);
	assert_usage(mk_opts_validate(&o, &err));
	assert_non_null(strstr(err.msg, "only one"));
	mk_opts_free(&o);
	const char *needs_init[][2] = { { "--caps", "NET_BIND_SERVICE" }, { "--policy", "default" },
	                                { "--health-tcp", "h:1" } };
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(parse(&o, true, "mkimage", "--static", "a", "--no-init",
		                       needs_init[i][0], needs_init[i][1], NULL), 0);
		assert_usage(mk_opts_validate(&o, &err));
		assert_non_null(strstr(err.msg, "--no-init"));
		mk_opts_free(&o);
	}
}

static void test_durations(void **s)
{
	(void)s;
	assert_int_equal(mk_parse_duration("30s"), 30000000000LL);
	assert_int_equal(mk_parse_duration("30"), 30000000000LL);
	assert_int_equal(mk_parse_duration("500ms"), 500000000LL);
	assert_int_equal(mk_parse_duration("1m30s"), 90000000000LL);
	assert_int_equal(mk_parse_duration("2h"), 7200000000000LL);
	assert_int_equal(mk_parse_duration("0s"), 0);
	assert_int_equal(mk_parse_duration(""), -1);
	assert_int_equal(mk_parse_duration("s"), -1);
	assert_int_equal(mk_parse_duration("-5s"), -1);
	assert_int_equal(mk_parse_duration("5x"), -1);
	assert_int_equal(mk_parse_duration("1m30"), -1);
	assert_int_equal(mk_parse_duration("99999999999h"), -1);
	assert_int_equal(mk_parse_duration(NULL), -1);
	/* The init's grammar: fractions are seconds, as MINBASE_HEALTH_* reads them. */
	assert_int_equal(mk_parse_duration("1.5s"), 1500000000LL);
	assert_int_equal(mk_parse_duration("0.25"), 250000000LL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_basic),
		cmocka_unit_test(test_repeatable_and_args),
		cmocka_unit_test(test_double_dash_as_value),
		cmocka_unit_test(test_positional_app_and_extra),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_validate_values),
		cmocka_unit_test(test_health_and_init_combos),
		cmocka_unit_test(test_durations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
